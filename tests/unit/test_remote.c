/* test_remote.c - lib/remote.c: the ssh agent protocol, pure. */
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "unit.h"
#include "util.h"
#include "remote.h"

/* agq_remote_check of TEXT: the op, or -1 with CODE and ERR. */
static int
chk(const char *text, json_int_t *id, const char **code, char *err)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
	int op = agq_remote_check(j, id, code, err, 300);
	json_decref(j);
	return op;
}

int
main(void)
{
	json_int_t id;
	const char *code;
	char err[300];

	/* requests checked */
	CHECK(chk("{\"id\":1,\"op\":\"hello\",\"version\":1}", &id, &code,
	    err) == AGQ_R_HELLO && id == 1, "hello");
	CHECK(chk("{\"id\":2,\"op\":\"register\",\"agent\":\"a\",\"caps\":"
	    "[\"x\"],\"slots\":2,\"host\":\"h\"}", &id, &code, err) ==
	    AGQ_R_REGISTER, "register");
	CHECK(chk("{\"id\":3,\"op\":\"next\",\"wait\":61,\"running\":[]}", &id,
	    &code, err) < 0 && !strcmp(code, "invalid") && strstr(err, "wait") &&
	    id == 3, "a wait over 60 s is invalid, named");
	CHECK(chk("{\"id\":4,\"op\":\"output\",\"task_id\":\"t\",\"generation\""
	    ":1,\"name\":\"../etc/passwd\",\"offset\":0,\"data\":\"\"}", &id,
	    &code, err) < 0 && strstr(err, "name"), "an output name outside "
	    "the list is refused");
	CHECK(chk("{\"id\":5,\"op\":\"start\",\"task_id\":\"a/b\"}", &id, &code,
	    err) < 0 && strstr(err, "task_id"), "a task id with a slash");
	CHECK(chk("{\"id\":6,\"op\":\"result\",\"task_id\":\"t\",\"generation\""
	    ":2,\"timed_out\":false,\"exit\":0}", &id, &code, err) ==
	    AGQ_R_RESULT, "result");
	CHECK(chk("{\"id\":7,\"op\":\"fly\"}", &id, &code, err) < 0 &&
	    !strcmp(code, "unknown_op"), "an unknown op");
	CHECK(chk("[1]", &id, &code, err) < 0 && id == -1, "not an object");
	CHECK(chk("{\"id\":-1,\"op\":\"bye\"}", &id, &code, err) < 0,
	    "a negative id");
	CHECK(chk("{\"id\":8,\"op\":\"heartbeat\",\"running\":[\"\"]}", &id,
	    &code, err) < 0, "an empty string in running");
	CHECK(chk("{\"id\":8,\"op\":\"heartbeat\",\"running\":[],"
	    "\"resources\":{\"cpus\":2}}", &id, &code, err) == AGQ_R_HEARTBEAT &&
	    chk("{\"id\":8,\"op\":\"heartbeat\",\"running\":[],"
	    "\"resources\":[]}", &id, &code, err) < 0 && strstr(err,
	    "resources: an object"), "resources: an object");

	/* lines both ways */
	char *l = agq_remote_request(9, AGQ_R_BYE, NULL);
	CHECK(!strcmp(l, "{\"id\":9,\"op\":\"bye\"}\n"), "a request line");
	free(l);
	json_t *r;
	char c[64], m[300];
	l = agq_remote_reply(9, json_pack("{s:i}", "x", 1));
	CHECK(agq_remote_answer(l, strlen(l) - 1, &id, &r, c, sizeof c, m,
	    sizeof m) == 0 && id == 9 && json_integer_value(json_object_get(r,
	    "x")) == 1, "a result, read back");
	json_decref(r);
	free(l);
	l = agq_remote_error(-1, "parse", "not JSON");
	CHECK(agq_remote_answer(l, strlen(l) - 1, &id, &r, c, sizeof c, m,
	    sizeof m) == 0 && id == -1 && !r && !strcmp(c, "parse") &&
	    !strcmp(m, "not JSON"), "an error, id null, read back");
	free(l);
	CHECK(agq_remote_answer("{\"id\":1}", 8, &id, &r, c, sizeof c, m,
	    sizeof m) < 0, "neither result nor error: not an answer");
	CHECK(agq_remote_answer("nope", 4, &id, &r, c, sizeof c, m,
	    sizeof m) < 0, "not JSON: not an answer");

	/* base64 (RFC 4648 section 10's vectors) */
	json_t *b = agq_remote_b64("foobar", 6);
	CHECK(!strcmp(json_string_value(b), "Zm9vYmFy"), "base64 foobar");
	json_decref(b);
	b = agq_remote_b64("fo", 2);
	CHECK(!strcmp(json_string_value(b), "Zm8="), "base64 padded");
	json_decref(b);
	size_t n;
	char *d = agq_remote_unb64("Zm8=", &n);
	CHECK(d && n == 2 && !memcmp(d, "fo", 2), "unbase64");
	free(d);
	d = agq_remote_unb64("", &n);
	CHECK(d && n == 0, "unbase64 of nothing");
	free(d);
	CHECK(!agq_remote_unb64("Zm8", &n) && !agq_remote_unb64("Zm!=", &n),
	    "bad base64 refused");

	/* the line buffer: lines cut, an over-long one skipped */
	int p[2];
	if (pipe(p) < 0)
		return 2;
	struct agq_rbuf rb = { NULL, 0, 0, 0 };
	(void)!write(p[1], "a\nbc", 4);
	agq_rbuf_read(&rb, p[0]);
	int over;
	l = agq_rbuf_line(&rb, &n, &over);
	CHECK(l && !strcmp(l, "a") && n == 1 && !over, "a line");
	free(l);
	CHECK(!agq_rbuf_line(&rb, &n, &over), "no whole line yet");
	(void)!write(p[1], "\n", 1);
	agq_rbuf_read(&rb, p[0]);
	l = agq_rbuf_line(&rb, &n, &over);
	CHECK(l && !strcmp(l, "bc"), "the rest of the line");
	free(l);
	static char big[60000];
	memset(big, 'x', sizeof big);
	for (int i = 0; i < 20; i++) {  /* 1.2 MB without a newline */
		(void)!write(p[1], big, sizeof big);
		agq_rbuf_read(&rb, p[0]);
		CHECK(!agq_rbuf_line(&rb, &n, &over), "no line in a long one");
	}
	CHECK(rb.len <= AGQ_REMOTE_MAX_LINE + 65536 * 2, "the buffer does not "
	    "grow past the limit");
	(void)!write(p[1], "\nok\n", 4);
	agq_rbuf_read(&rb, p[0]);
	l = agq_rbuf_line(&rb, &n, &over);
	CHECK(l && over && !*l, "a line over 1 MiB: given as skipped");
	free(l);
	l = agq_rbuf_line(&rb, &n, &over);
	CHECK(l && !strcmp(l, "ok") && !over, "and the next line read");
	free(l);
	agq_rbuf_free(&rb);
	close(p[0]);
	close(p[1]);

	/* URLs */
	struct agq_remote_url u;
	CHECK(agq_remote_url_parse("ssh://agq@spool.example:2222/srv/spool", &u,
	    err, sizeof err) == 0 && !strcmp(u.user, "agq") &&
	    !strcmp(u.host, "spool.example") && u.port == 2222 &&
	    !strcmp(u.path, "/srv/spool"), "user, host, port, path");
	CHECK(agq_remote_url_parse("ssh://[::1]/s", &u, err, sizeof err) == 0 &&
	    !strcmp(u.host, "::1") && !u.port && !u.user[0], "an IPv6 host");
	CHECK(agq_remote_url_parse("ssh://-oProxyCommand=x/s", &u, err,
	    sizeof err) < 0, "a host that would be an ssh option");
	CHECK(agq_remote_url_parse("ssh://h/s;rm -rf ~", &u, err,
	    sizeof err) < 0, "a path a shell would read");
	CHECK(agq_remote_url_parse("ssh://h:0/s", &u, err, sizeof err) < 0 &&
	    agq_remote_url_parse("ssh://h", &u, err, sizeof err) < 0 &&
	    agq_remote_url_parse("http://h/s", &u, err, sizeof err) < 0,
	    "port 0, no path, not ssh://");
	char port[8], alive[32];
	agq_remote_url_parse("ssh://u@h:22/s", &u, err, sizeof err);
	char **v = agq_remote_ssh_argv(&u, "ssh", 3, port, alive);
	char line[400] = "";
	for (int i = 0; v[i]; i++) {
		strcat(line, v[i]);
		strcat(line, " ");
	}
	CHECK(!strcmp(line, "ssh -T -o BatchMode=yes -o ServerAliveInterval=3 "
	    "-o ServerAliveCountMax=2 -p 22 -l u -- h agq-remote /s "),
	    "ssh's argv");
	free(v);
	DONE();
}
