/* remote.c - the protocol of an agent reaching its spool over ssh, pure
 * (remote.h; agq-remote(8)). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <nettle/base64.h>

#include "util.h"
#include "remote.h"

/* Each op's fields: "NAME:T" words, T one of I (integer), N (number), S
 * (string), B (boolean), J (object), A (array of non-empty strings), T (a task id or
 * agent name, agq_id_valid), O (an output file's name), W (a wait, 0..60
 * s); a trailing '?' makes the field optional. */
static const struct {
	const char *name, *fields;
} ops[AGQ_R_NOPS] = {
	[AGQ_R_HELLO] = { "hello", "version:I" },
	[AGQ_R_REGISTER] = { "register", "agent:T caps:A slots:I host:S "
	    "backends:A? endpoints:A? models:A? prefetch:I? resources:J? "
	    "cap_token:S?" },
	[AGQ_R_HEARTBEAT] = { "heartbeat", "running:A state:S? resources:J?" },
	[AGQ_R_NEXT] = { "next", "wait:W running:A" },
	[AGQ_R_START] = { "start", "task_id:T" },
	[AGQ_R_OUTPUT] = { "output", "task_id:T generation:I name:O offset:I "
	    "data:S" },
	[AGQ_R_RESULT] = { "result", "task_id:T generation:I exit:I? signal:I? "
	    "timed_out:B handback:B? why:S?" },
	[AGQ_R_BYE] = { "bye", "" },
};

const char *
agq_remote_op_name(int op)
{
	return op >= 0 && op < AGQ_R_NOPS ? ops[op].name : NULL;
}

/* 1 when V has type T (a letter of the table above). */
static int
field_ok(const json_t *v, char t)
{
	size_t i;
	json_t *e;
	switch (t) {
	case 'I': return json_is_integer(v);
	case 'N': return json_is_number(v);
	case 'S': return json_is_string(v);
	case 'B': return json_is_boolean(v);
	case 'J': return json_is_object(v);
	case 'T': return json_is_string(v) &&
	    agq_id_valid(json_string_value(v));
	case 'W': return json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) <= 60;
	case 'O': {
		const char *s = json_string_value(v);
		return s && (!strcmp(s, "stdout") || !strcmp(s, "stderr") ||
		    !strcmp(s, "agent.json"));
	}
	case 'A':
		if (!json_is_array(v))
			return 0;
		json_array_foreach(v, i, e)
			if (!json_is_string(e) || !*json_string_value(e))
				return 0;
		return 1;
	}
	return 0;
}

static const char *const tnames[] = { "I", "an integer", "N", "a number",
    "S", "a string", "B", "a boolean", "J", "an object", "A", "an array of non-empty strings",
    "T", "a name of [A-Za-z0-9._-]{1,64}", "W", "a number of seconds, 0 to 60",
    "O", "stdout, stderr or agent.json", NULL };

static const char *
tname(char t)
{
	for (int i = 0; tnames[i]; i += 2)
		if (tnames[i][0] == t)
			return tnames[i + 1];
	return "?";
}

int
agq_remote_check(const json_t *req, json_int_t *id, const char **code,
                 char *err, size_t size)
{
	*id = -1;
	*code = "invalid";
	if (!json_is_object(req)) {
		agq_errf(err, size, "a request is a JSON object");
		return -1;
	}
	json_t *iv = json_object_get(req, "id");
	if (!json_is_integer(iv) || json_integer_value(iv) < 0) {
		agq_errf(err, size, "field id: an integer >= 0 is required");
		return -1;
	}
	*id = json_integer_value(iv);
	const char *op = json_string_value(json_object_get(req, "op"));
	if (!op) {
		agq_errf(err, size, "field op: a string is required");
		return -1;
	}
	int k;
	for (k = 0; k < AGQ_R_NOPS; k++)
		if (!strcmp(ops[k].name, op))
			break;
	if (k == AGQ_R_NOPS) {
		*code = "unknown_op";
		agq_errf(err, size, "op '%.64s': no such op", op);
		return -1;
	}
	for (const char *f = ops[k].fields; *f; ) {
		const char *c = strchr(f, ':');
		char name[32];
		snprintf(name, sizeof name, "%.*s", (int)(c - f), f);
		char t = c[1];
		int opt = c[2] == '?';
		f = c + 2 + opt;
		f += *f == ' ';
		json_t *v = json_object_get(req, name);
		if (!v && opt)
			continue;
		if (!v || !field_ok(v, t)) {
			agq_errf(err, size, "%s: field %s: %s %s", op, name,
			    tname(t), v ? "is required here" : "is missing");
			return -1;
		}
	}
	return k;
}

/* LINE: J dumped compactly and a newline; J released. */
static char *
line_of(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		agq_die(70, "out of memory");
	char *l = agq_xasprintf("%s\n", s);
	free(s);
	return l;
}

char *
agq_remote_request(json_int_t id, int op, json_t *fields)
{
	json_t *j = fields ? fields : json_object();
	json_object_set_new(j, "id", json_integer(id));
	json_object_set_new(j, "op", json_string(agq_remote_op_name(op)));
	return line_of(j);
}

static json_t *
id_of(json_int_t id)
{
	return id < 0 ? json_null() : json_integer(id);
}

char *
agq_remote_reply(json_int_t id, json_t *result)
{
	return line_of(json_pack("{s:o, s:o}", "id", id_of(id), "result",
	    result ? result : json_object()));
}

char *
agq_remote_error(json_int_t id, const char *code, const char *msg)
{
	return line_of(json_pack("{s:o, s:{s:s, s:s}}", "id", id_of(id),
	    "error", "code", code, "message", msg));
}

int
agq_remote_answer(const char *line, size_t len, json_int_t *id,
                  json_t **result, char *code, size_t csize, char *msg,
                  size_t size)
{
	*result = NULL;
	*id = -1;
	code[0] = msg[0] = '\0';
	json_error_t je;
	json_t *j = json_loadb(line, len, 0, &je);
	json_t *iv = json_object_get(j, "id");
	json_t *r = json_object_get(j, "result");
	json_t *e = json_object_get(j, "error");
	if (!json_is_object(j) || !(json_is_integer(iv) || json_is_null(iv)) ||
	    !(json_is_object(r) || json_is_object(e))) {
		snprintf(msg, size, "not an answer: %s", j ? "fields id and "
		    "result or error are required" : je.text);
		json_decref(j);
		return -1;
	}
	*id = json_is_integer(iv) ? json_integer_value(iv) : -1;
	if (json_is_object(r)) {
		*result = json_incref(r);
	} else {
		const char *c = json_string_value(json_object_get(e, "code"));
		const char *m = json_string_value(json_object_get(e,
		    "message"));
		snprintf(code, csize, "%s", c ? c : "unknown");
		snprintf(msg, size, "%s", m ? m : "");
	}
	json_decref(j);
	return 0;
}

json_t *
agq_remote_b64(const void *buf, size_t len)
{
	char *s = agq_xmalloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
	base64_encode_raw(s, len, buf);
	s[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
	json_t *j = json_stringn(s, BASE64_ENCODE_RAW_LENGTH(len));
	free(s);
	return j;
}

void *
agq_remote_unb64(const char *s, size_t *len)
{
	size_t n = strlen(s);
	uint8_t *out = agq_xmalloc(BASE64_DECODE_LENGTH(n) + 1);
	struct base64_decode_ctx ctx;
	base64_decode_init(&ctx);
	size_t got = BASE64_DECODE_LENGTH(n) + 1;
	if (n % 4 || !base64_decode_update(&ctx, &got, out, n, s) ||
	    !base64_decode_final(&ctx)) {
		free(out);
		errno = EINVAL;
		return NULL;
	}
	*len = got;
	return out;
}

ssize_t
agq_rbuf_read(struct agq_rbuf *b, int fd)
{
	if (b->cap - b->len < 65536) {
		b->cap = b->cap ? b->cap * 2 : 65536 * 2;
		b->buf = realloc(b->buf, b->cap);
		if (!b->buf)
			agq_die(70, "out of memory");
	}
	ssize_t n = read(fd, b->buf + b->len, b->cap - b->len);
	if (n > 0)
		b->len += (size_t)n;
	return n;
}

char *
agq_rbuf_line(struct agq_rbuf *b, size_t *len, int *over)
{
	*over = 0;
	for (;;) {
		char *nl = b->len ? memchr(b->buf, '\n', b->len) : NULL;
		if (!nl) {
			if (b->len > AGQ_REMOTE_MAX_LINE) {
				b->skip = 1;    /* dropped up to its newline */
				b->len = 0;
			}
			return NULL;
		}
		size_t n = (size_t)(nl - b->buf);
		char *l = NULL;
		if (!b->skip && n <= AGQ_REMOTE_MAX_LINE) {
			l = agq_xmalloc(n + 1);
			memcpy(l, b->buf, n);
			l[n] = '\0';
			*len = n;
		}
		int skipped = b->skip || n > AGQ_REMOTE_MAX_LINE;
		b->skip = 0;
		memmove(b->buf, nl + 1, b->len - n - 1);
		b->len -= n + 1;
		if (l)
			return l;
		if (skipped) {
			*over = 1;
			*len = 0;
			return agq_xstrdup("");
		}
	}
}

void
agq_rbuf_free(struct agq_rbuf *b)
{
	free(b->buf);
	*b = (struct agq_rbuf){ NULL, 0, 0, 0 };
}

/* 1 when S (N bytes) is of the characters of SET and not empty. */
static int
only(const char *s, size_t n, const char *set)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return 0;
	return 1;
}

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

int
agq_remote_url_parse(const char *url, struct agq_remote_url *u, char *err,
                     size_t size)
{
	memset(u, 0, sizeof *u);
	if (strncmp(url, "ssh://", 6)) {
		agq_errf(err, size, "'%s': not an ssh://[USER@]HOST[:PORT]/PATH "
		    "URL", url);
		return -1;
	}
	const char *a = url + 6, *slash = strchr(a, '/');
	if (!slash) {
		agq_errf(err, size, "'%s': no /PATH to the spool", url);
		return -1;
	}
	const char *at = memchr(a, '@', (size_t)(slash - a));
	if (at) {
		if (!only(a, (size_t)(at - a), ALNUM "._-") || *a == '-' ||
		    at - a > 64) {
			agq_errf(err, size, "'%s': a bad user name", url);
			return -1;
		}
		snprintf(u->user, sizeof u->user, "%.*s", (int)(at - a), a);
		a = at + 1;
	}
	const char *hend, *colon;
	if (*a == '[') {
		hend = memchr(a, ']', (size_t)(slash - a));
		if (!hend || !only(a + 1, (size_t)(hend - a - 1), ALNUM ":.")) {
			agq_errf(err, size, "'%s': a bad [IPv6] host", url);
			return -1;
		}
		snprintf(u->host, sizeof u->host, "%.*s", (int)(hend - a - 1),
		    a + 1);
		colon = hend + 1 < slash && hend[1] == ':' ? hend + 1 : NULL;
		if (hend + 1 != slash && !colon) {
			agq_errf(err, size, "'%s': a bad host", url);
			return -1;
		}
	} else {
		colon = memchr(a, ':', (size_t)(slash - a));
		hend = colon ? colon : slash;
		if (!only(a, (size_t)(hend - a), ALNUM ".-") || *a == '-' ||
		    hend - a > 253) {
			agq_errf(err, size, "'%s': a bad host name", url);
			return -1;
		}
		snprintf(u->host, sizeof u->host, "%.*s", (int)(hend - a), a);
	}
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (end != slash || colon + 1 == slash || p < 1 || p > 65535) {
			agq_errf(err, size, "'%s': a bad port", url);
			return -1;
		}
		u->port = (int)p;
	}
	size_t pl = strlen(slash);
	if (pl >= sizeof u->path || !only(slash, pl, ALNUM "._/+,=@%~-")) {
		agq_errf(err, size, "'%s': the path may hold only "
		    "[A-Za-z0-9._/+,=@%%~-] (a remote shell reads it)", url);
		return -1;
	}
	memcpy(u->path, slash, pl + 1);
	return 0;
}

char **
agq_remote_ssh_argv(const struct agq_remote_url *u, const char *ssh,
                    int alive_s, char *portbuf, char *alivebuf)
{
	char **v = agq_xmalloc(20 * sizeof *v);
	int n = 0;
	snprintf(alivebuf, 32, "ServerAliveInterval=%d", alive_s > 0 ?
	    alive_s : 1);
	v[n++] = (char *)ssh;
	v[n++] = "-T";
	v[n++] = "-o";
	v[n++] = "BatchMode=yes";
	v[n++] = "-o";
	v[n++] = alivebuf;
	v[n++] = "-o";
	v[n++] = "ServerAliveCountMax=2";
	if (u->port) {
		snprintf(portbuf, 8, "%d", u->port);
		v[n++] = "-p";
		v[n++] = portbuf;
	}
	if (u->user[0]) {
		v[n++] = "-l";
		v[n++] = (char *)u->user;
	}
	v[n++] = "--";
	v[n++] = (char *)u->host;
	v[n++] = "agq-remote";
	v[n++] = (char *)u->path;
	v[n] = NULL;
	return v;
}
