/*
 * journal.c - the append-only, hash-chained journal (agq-journal(5)).
 *
 * Every line carries "seq" (one more than the line before) and "prev" (the
 * SHA-256, in hex, of the line before, without its newline), so an edited,
 * inserted or removed line breaks the chain.  Appends take an flock(2) on
 * ROOT/.journal.lock, read the last line, and write the new ones (a batch
 * of one or more, agq_jbatch) with one write(2): with many concurrent
 * writers each line still chains to the one really before it, and a
 * batch lands whole, as consecutive lines.  Hashing is Nettle's (GnuTLS's
 * crypto library): it needs no initialisation, so a short-lived writer such
 * as agq-submit does not pay for OpenSSL's provider and configuration
 * set-up.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/sha2.h>

#include "util.h"
#include "redact.h"
#include "task.h"
#include "spool.h"
#include "journal.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

int
agq_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_SIZE];
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, buf);
	sha256_digest(&ctx, sizeof md, md);
	static const char hx[] = "0123456789abcdef";
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = '\0';
	return 0;
}

/* Offset of the last '\n' before offset END in FD, -1 when there is none,
 * -2 on a read error (errno). */
static off_t
last_nl_before(int fd, off_t end)
{
	char buf[4096];
	while (end > 0) {
		off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
		size_t n = (size_t)(end - start);
		ssize_t r = pread(fd, buf, n, start);
		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)n) {
			if (r >= 0)
				errno = EIO;
			return -2;
		}
		for (size_t i = n; i > 0; i--)
			if (buf[i - 1] == '\n')
				return start + (off_t)(i - 1);
		end = start;
	}
	return -1;
}

int
agq_journal_tail(int fd, struct agq_jtail *t)
{
	memset(t, 0, sizeof *t);
	strcpy(t->hash, ZERO_HASH);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	off_t size = st.st_size, good = size;
	if (size > 0) {
		char c;
		if (pread(fd, &c, 1, size - 1) != 1) {
			errno = EIO;
			return -1;
		}
		if (c != '\n') {
			off_t nl = last_nl_before(fd, size);
			if (nl == -2)
				return -1;
			good = nl + 1;
			t->torn_off = good;
			t->torn_len = (size_t)(size - good);
		}
	}
	t->good_len = good;
	/* The hash is the last line's; the seq the last one found, looking
	 * back past lines without one (not agq's: appended by hand) a
	 * little way, so the sequence goes on rather than restart at 1. */
	off_t end = good, seen = 0;
	for (int k = 0; end > 0 && k < 64 && seen < (1 << 20); k++) {
		off_t nl = last_nl_before(fd, end - 1);
		if (nl == -2)
			return -1;
		off_t start = nl + 1;
		size_t n = (size_t)(end - 1 - start);
		char *line = agq_xmalloc(n + 1);
		if (pread(fd, line, n, start) != (ssize_t)n) {
			free(line);
			errno = EIO;
			return -1;
		}
		if (k == 0)
			agq_sha256_hex(line, n, t->hash);
		json_t *o = json_loadb(line, n, 0, NULL);
		json_int_t seq = json_integer_value(json_object_get(o, "seq"));
		json_decref(o);
		free(line);
		if (seq > 0) {
			t->seq = (int64_t)seq;
			break;
		}
		t->foreign++;
		seen += (off_t)n + 1;
		end = start;
	}
	return 0;
}

int
agq_journal_cut_torn(const struct agq_spool *sp, int fd,
                     const struct agq_jtail *t, const char *path)
{
	if (!t->torn_len)
		return 0;
	char *buf = agq_xmalloc(t->torn_len);
	if (pread(fd, buf, t->torn_len, t->torn_off) != (ssize_t)t->torn_len) {
		free(buf);
		errno = EIO;
		return -1;
	}
	char name[256], *dst, *why;
	agq_unique_name(name, sizeof name);
	dst = agq_spool_path(sp, "corrupt/journal-torn.%s", name);
	int r = agq_write_atomic(sp->tmp, dst, buf, t->torn_len, 1, 1);
	free(buf);
	if (r == 0) {
		why = agq_xasprintf("torn journal tail: %zu bytes without a "
		    "newline at offset %lld of %s, cut off\n", t->torn_len,
		    (long long)t->torn_off, path);
		char *whyp = agq_xasprintf("%s.why", dst);
		r = agq_write_atomic(sp->tmp, whyp, why, strlen(why), 1, 0);
		free(whyp);
		free(why);
	}
	if (r == 0)
		while ((r = ftruncate(fd, t->good_len)) < 0 && errno == EINTR)
			;
	int e = errno;
	free(dst);
	errno = e;
	return r;
}

/* Open the journal for appending (created 0600 when missing: the spool
 * is traversable by drop-box users, agq-spool(5)). */
static int
journal_open(const struct agq_spool *sp)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/journal", sp->root);
	return open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
}

/* Chain the events of EVENTS (a JSON array of objects) to the last line
 * T describes: give each its "seq" and "prev" (the hash of the line
 * before it, for the first T's), and render them as lines, each ended by
 * a newline, one after the other in one malloc'd buffer of *LEN bytes.
 * LASTHASH, when not NULL, gets the hash of the last line.  NULL with
 * errno ENOMEM. */
static char *
chain_lines(json_t *events, const struct agq_jtail *t, size_t *len,
            char lasthash[65])
{
	char prev[65], *buf = NULL;
	size_t n = 0, cap = 0, i, last = json_array_size(events) - 1;
	int64_t seq = t->seq;
	json_t *o;
	memcpy(prev, t->hash, sizeof prev);
	json_array_foreach(events, i, o) {
		json_object_set_new(o, "seq", json_integer(++seq));
		json_object_set_new(o, "prev", json_string(prev));
		char *line = json_dumps(o, JSON_COMPACT);
		if (!line) {
			free(buf);
			errno = ENOMEM;
			return NULL;
		}
		size_t k = strlen(line);
		if (i < last)   /* the next line's "prev" */
			agq_sha256_hex(line, k, prev);
		else if (lasthash)
			agq_sha256_hex(line, k, lasthash);
		while (n + k + 1 > cap)
			buf = agq_grow(buf, &cap, cap, 1, 512);
		memcpy(buf + n, line, k);
		buf[n + k] = '\n';
		n += k + 1;
		free(line);
	}
	*len = n;
	return buf;
}

/* The journal's descriptors, kept open between one process's appends (a
 * scheduler or a runner appends thousands of times): the lock file (never
 * removed, agq-spool(5)) and the journal.  Under the lock the journal at
 * ROOT/journal is stat(2)ed: a different file (rotated, removed by hand)
 * is opened anew.  A child after fork(2) opens its own: sharing its
 * parent's open file description, its flock(2) would not exclude the
 * parent.  END, HASH and SEQ describe this process's last append: while
 * the journal still ends there, its last line is that one, and is not
 * read back.  Not for threads: in each of agq's programs one thread
 * appends (agq-dash, the one with threads, only reads). */
static struct {
	char root[PATH_MAX];
	pid_t pid;
	int lk, fd;
	dev_t dev;
	ino_t ino;
	off_t end;              /* size after our last append; -1: unknown */
	char hash[65];
	int64_t seq;
} jc = { .lk = -1, .fd = -1, .end = -1 };

static void
jc_close(void)
{
	if (jc.fd >= 0)
		close(jc.fd);
	if (jc.lk >= 0)
		close(jc.lk);
	jc.fd = jc.lk = -1;
	jc.end = -1;
	jc.root[0] = '\0';
}

void
agq_journal_forget(void)
{
	jc_close();
}

/* Take the journal lock and return the journal's fd (both in jc), the
 * journal's size to *SIZE; -1 with errno, nothing held. */
static int
jc_lock(const struct agq_spool *sp, off_t *size)
{
	pid_t me = getpid();
	if (jc.pid != me || strcmp(jc.root, sp->root)) {
		jc_close();
		if (snprintf(jc.root, sizeof jc.root, "%s", sp->root) >=
		    (int)sizeof jc.root) {
			jc.root[0] = '\0';
			errno = ENAMETOOLONG;
			return -1;
		}
		jc.pid = me;
	}
	if (jc.lk < 0) {                /* opened and locked */
		if ((jc.lk = agq_spool_flock(sp, "journal", 1)) < 0)
			return -1;
	} else {
		while (flock(jc.lk, LOCK_EX) < 0)
			if (errno != EINTR) {
				int e = errno;
				jc_close();
				errno = e;
				return -1;
			}
	}
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/journal", sp->root);
	struct stat st;
	if (jc.fd >= 0 && (stat(path, &st) < 0 || st.st_dev != jc.dev ||
	    st.st_ino != jc.ino)) {
		close(jc.fd);
		jc.fd = -1;
		jc.end = -1;
	}
	if (jc.fd < 0) {
		jc.fd = journal_open(sp);
		if (jc.fd < 0 || fstat(jc.fd, &st) < 0) {
			int e = errno;
			jc_close();
			errno = e;
			return -1;
		}
		jc.dev = st.st_dev;
		jc.ino = st.st_ino;
		jc.end = -1;
	}
	*size = st.st_size;
	return jc.fd;
}

static void
jc_unlock(void)
{
	if (jc.lk >= 0 && flock(jc.lk, LOCK_UN) < 0) {
		/* cannot happen on a valid fd; never keep a lock held */
		int e = errno;
		jc_close();
		errno = e;
	}
}

/* With the journal lock held (jc_lock): chain the events of EVENTS (a
 * JSON array, stolen) to the last line of FD, jc's journal, SIZE bytes
 * long, and append them with one write(2). */
static int
append_locked(const struct agq_spool *sp, int fd, off_t size, json_t *events)
{
	struct agq_jtail t;
	if (jc.end >= 0 && size == jc.end) {
		/* our own last append is still the end of the journal */
		memset(&t, 0, sizeof t);
		memcpy(t.hash, jc.hash, sizeof t.hash);
		t.seq = jc.seq;
		t.good_len = size;
	} else if (agq_journal_tail(fd, &t) < 0) {
		json_decref(events);
		return -1;
	}
	jc.end = -1;
	if (t.torn_len) {
		/* A writer died in the middle of a line (a crash or power cut):
		 * keep the torn bytes in corrupt/ and chain to the last whole
		 * line, so the tear does not end up inside the journal. */
		char *p = agq_spool_path(sp, "journal");
		if (agq_journal_cut_torn(sp, fd, &t, p) < 0) {
			free(p);
			json_decref(events);
			return -1;
		}
		agq_warn("%s: cut off a torn last line (%zu bytes, kept in "
		    "corrupt/)", p, t.torn_len);
		free(p);
	}
	if (t.foreign)
		agq_warn("%s/journal: its last %d line(s) are not journal "
		    "events (no \"seq\"): chained to them, seq going on from "
		    "%lld (agq-journal --verify reports them)", sp->root,
		    t.foreign, (long long)t.seq);
	size_t n, count = json_array_size(events);
	char lasthash[65];
	char *buf = chain_lines(events, &t, &n, lasthash);
	json_decref(events);
	if (!buf)
		return -1;
	ssize_t w;
	do
		w = write(fd, buf, n);
	while (w < 0 && errno == EINTR);
	int e = errno;
	free(buf);
	if (w >= 0 && (size_t)w == n) {
		jc.end = t.good_len + (off_t)n;
		memcpy(jc.hash, lasthash, sizeof jc.hash);
		jc.seq = t.seq + (int64_t)count;
	}
	if (w >= 0 && (size_t)w != n) {
		/* A short write (the disk filled): take the partial lines back
		 * so the journal keeps ending with a whole line, and a batch
		 * goes in whole or not at all. */
		if (ftruncate(fd, t.good_len) < 0) {
			/* left for agq-fsck / the next writer */
		}
		e = ENOSPC;
		w = -1;
	}
	errno = e;
	return w < 0 ? -1 : 0;
}

static json_t *
event_new(const char *ev, const char *id, json_t *extra)
{
	char ts[32];
	json_t *o = json_object();
	json_object_set_new(o, "ts", json_string(agq_fmt_time(agq_now_us(), ts)));
	json_object_set_new(o, "ev", json_string(ev));
	if (id)
		json_object_set_new(o, "id", json_string(id));
	if (extra) {
		json_object_update(o, extra);
		json_decref(extra);
	}
	json_object_set_new(o, "prog", json_string(agq_prog));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "host", json_string(agq_hostname()));
	agq_redact(o);          /* secrets never reach the journal */
	return o;
}

void
agq_jbatch_add(struct agq_jbatch *b, const char *ev, const char *id,
               json_t *extra)
{
	if (!b->events)
		b->events = json_array();
	json_array_append_new(b->events, event_new(ev, id, extra));
}

int
agq_jbatch_write(const struct agq_spool *sp, struct agq_jbatch *b)
{
	json_t *events = b->events;
	b->events = NULL;
	if (!json_array_size(events)) {
		json_decref(events);
		return 0;
	}
	off_t size;
	int fd = jc_lock(sp, &size);
	if (fd < 0) {
		int e = errno;
		json_decref(events);
		errno = e;
		return -1;
	}
	int r = append_locked(sp, fd, size, events);
	int e = errno;
	jc_unlock();
	errno = e;
	return r;
}

void
agq_jbatch_w(const struct agq_spool *sp, struct agq_jbatch *b)
{
	if (agq_jbatch_write(sp, b) < 0)
		agq_spool_syserr(sp, "cannot append to the journal", "journal");
}

int
agq_journal(const struct agq_spool *sp, const char *ev, const char *id,
            json_t *extra)
{
	struct agq_jbatch b = { NULL };
	agq_jbatch_add(&b, ev, id, extra);
	return agq_jbatch_write(sp, &b);
}

int
agq_journal_rotate(const struct agq_spool *sp, char **oldname)
{
	*oldname = NULL;
	int lk = agq_spool_flock(sp, "journal", 1);
	if (lk < 0)
		return -1;
	int fd = journal_open(sp);
	if (fd < 0) {
		int e = errno;
		close(lk);
		errno = e;
		return -1;
	}
	char ts[32], *from = agq_spool_path(sp, "journal");
	agq_fmt_time(agq_now_us(), ts);
	/* journal.20261122T101558.123456Z: sorts in rotation order */
	char stamp[32];
	size_t k = 0;
	for (const char *c = ts; *c && k < sizeof stamp - 1; c++)
		if (*c != '-' && *c != ':')
			stamp[k++] = *c;
	stamp[k] = '\0';
	char *name = agq_xasprintf("journal.%s", stamp);
	char *to = agq_spool_path(sp, "%s", name);
	int r = agq_rename_noreplace(from, to);
	int e = errno;
	free(from);
	free(to);
	if (r < 0) {
		close(fd);
		close(lk);
		free(name);
		errno = e;
		return -1;
	}
	/* FD still names the old file: the new one chains to its last line. */
	int nfd = journal_open(sp);
	if (nfd < 0) {
		e = errno;
		close(fd);
		close(lk);
		free(name);
		errno = e;
		return -1;
	}
	struct agq_jtail t;
	r = agq_journal_tail(fd, &t);
	if (r == 0 && t.torn_len)
		r = agq_journal_cut_torn(sp, fd, &t, name);
	if (r == 0) {
		struct agq_jbatch b = { NULL };
		agq_jbatch_add(&b, "rotate", NULL, json_pack("{s:s}", "from",
		    name));
		size_t n;
		char *line = chain_lines(b.events, &t, &n, NULL);
		json_decref(b.events);
		r = line ? agq_write_all(nfd, line, n) : -1;   /* ENOMEM */
		free(line);
	}
	e = errno;
	close(nfd);
	close(fd);
	close(lk);
	if (r < 0) {
		free(name);
		errno = e;
		return -1;
	}
	*oldname = name;
	return 0;
}

void
agq_journal_w(const struct agq_spool *sp, const char *ev, const char *id,
              json_t *extra)
{
	if (agq_journal(sp, ev, id, extra) < 0) {
		agq_spool_syserr(sp, "cannot append to the journal", "journal");
	}
}

static int
is_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return 0;
	return strspn(s, "0123456789abcdef") == 64;
}

int
agq_journal_verify(const char *path, struct agq_jverify *r)
{
	memset(r, 0, sizeof *r);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char *line = NULL, prevhash[65] = "";
	size_t cap = 0;
	ssize_t n;
	int64_t prevseq = 0;
	int rc = 0;
	off_t off = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		long no = ++r->lines;
		int nl = line[n - 1] == '\n';
		size_t len = (size_t)n - nl;
		if (!nl) {
			/* a torn last line: tolerated, reported */
			r->torn = 1;
			r->torn_off = off;
			r->torn_len = len;
			r->lines--;
			break;
		}
		off += n;
		json_error_t je;
		json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
		json_t *js = json_object_get(o, "seq");
		const char *prev = json_string_value(json_object_get(o, "prev"));
		if (!json_is_object(o)) {
			snprintf(r->why, sizeof r->why, "not a JSON object "
			    "(%s)", je.text);
		} else if (!json_is_integer(js) || json_integer_value(js) < 1) {
			snprintf(r->why, sizeof r->why, "no \"seq\" (a positive "
			    "integer)");
		} else if (!is_hex64(prev)) {
			snprintf(r->why, sizeof r->why, "no \"prev\" (a SHA-256 "
			    "in hex)");
		} else if (no > 1 && json_integer_value(js) != prevseq + 1) {
			int64_t s = json_integer_value(js);
			if (s > prevseq + 1)
				snprintf(r->why, sizeof r->why, "seq %lld follows "
				    "seq %lld: %lld line(s) removed before it",
				    (long long)s, (long long)prevseq,
				    (long long)(s - prevseq - 1));
			else
				snprintf(r->why, sizeof r->why, "seq %lld follows "
				    "seq %lld: not increasing (a line was changed "
				    "or inserted)", (long long)s,
				    (long long)prevseq);
		} else if (no > 1 && strcmp(prev, prevhash)) {
			/* seq is consecutive, so nothing was removed: the line
			 * before was changed. */
			no--;
			snprintf(r->why, sizeof r->why, "changed: its SHA-256 "
			    "is not the \"prev\" of line %ld", no + 1);
		} else if (no == 1) {
			r->first_seq = json_integer_value(js);
			snprintf(r->first_prev, sizeof r->first_prev, "%s", prev);
			const char *ev = json_string_value(json_object_get(o,
			    "ev"));
			const char *from = json_string_value(json_object_get(o,
			    "from"));
			if (ev && from && !strcmp(ev, "rotate"))
				snprintf(r->first_from, sizeof r->first_from,
				    "%s", from);
		}
		if (r->why[0]) {
			r->bad_line = no;
			json_decref(o);
			rc = 1;
			break;
		}
		prevseq = json_integer_value(js);
		json_decref(o);
		if (agq_sha256_hex(line, len, prevhash) < 0) {
			rc = -1;
			break;
		}
	}
	int e = errno;
	if (rc == 0 && ferror(f)) {
		rc = -1;
		e = EIO;
	}
	free(line);
	fclose(f);
	r->last_seq = prevseq;
	snprintf(r->last_hash, sizeof r->last_hash, "%s",
	    prevhash[0] ? prevhash : ZERO_HASH);
	errno = e;
	return rc;
}

int
agq_journal_match(const char *line, size_t len, const char *id,
                  int64_t since_us, const char *ev)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	int ok = 1;
	if (id) {
		const char *v = json_string_value(json_object_get(o, "id"));
		ok = v && !strcmp(v, id);
	}
	if (ok && ev) {
		const char *v = json_string_value(json_object_get(o, "ev"));
		ok = v && !strcmp(v, ev);
	}
	if (ok && since_us > 0)
		ok = agq_task_time(o, "ts", 0) >= since_us;
	json_decref(o);
	return ok;
}

int
agq_journal_rotated_name(const char *name)
{
	/* journal.20261122T101558.123456Z */
	static const char pat[] = "journal.DDDDDDDDTDDDDDD.DDDDDDZ";
	if (strlen(name) != sizeof pat - 1)
		return 0;
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == 'D' ? name[i] < '0' || name[i] > '9' :
		    name[i] != pat[i])
			return 0;
	return 1;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
agq_journal_files_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
agq_journal_files(const struct agq_spool *sp, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	DIR *d = opendir(sp->root);
	if (!d)
		return -1;
	char **v = NULL;
	size_t k = 0, cap = 0;
	int cur = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, "journal")) {
			cur = 1;
			continue;
		}
		if (!agq_journal_rotated_name(de->d_name))
			continue;
		if (k + 2 > cap) {
			cap = cap ? 2 * cap : 16;
			v = realloc(v, cap * sizeof *v);
			if (!v)
				agq_die(70, "out of memory");
		}
		v[k++] = agq_xstrdup(de->d_name);
		errno = 0;
	}
	int e = errno;
	closedir(d);
	if (e) {
		agq_journal_files_free(v, k);
		errno = e;
		return -1;
	}
	if (k)
		qsort(v, k, sizeof *v, cmp_names);
	if (cur) {
		if (k + 1 > cap) {
			v = realloc(v, (k + 1) * sizeof *v);
			if (!v)
				agq_die(70, "out of memory");
		}
		v[k++] = agq_xstrdup("journal");
	}
	*names = v;
	*n = k;
	return 0;
}

long
agq_journal_link_check(char **names, size_t n, size_t i,
                       const struct agq_jverify *r,
                       const struct agq_jverify *prev, const char *prevpath,
                       char *why, size_t size)
{
	why[0] = '\0';
	if (i == 0 || !prev || !r->lines)
		return 0;
	if (!r->first_from[0]) {
		snprintf(why, size, "seq %lld starts a chain of its own, not a "
		    "rotate event continuing %s", (long long)r->first_seq,
		    prevpath);
	} else if (strcmp(r->first_from, names[i - 1])) {
		int kept = 0;
		for (size_t k = 0; k < n; k++)
			kept |= !strcmp(names[k], r->first_from);
		snprintf(why, size, "chains to %s, which is %s: seq %lld "
		    "follows seq %lld of %s (%lld line(s) missing)",
		    r->first_from, kept ? "not the file before it" : "missing",
		    (long long)r->first_seq, (long long)prev->last_seq, prevpath,
		    (long long)(r->first_seq - prev->last_seq - 1));
	} else if (strcmp(r->first_prev, prev->last_hash)) {
		snprintf(why, size, "\"prev\" is not the SHA-256 of the last "
		    "line of %s", prevpath);
	} else if (r->first_seq != prev->last_seq + 1) {
		snprintf(why, size, "seq %lld follows seq %lld, the last of %s",
		    (long long)r->first_seq, (long long)prev->last_seq,
		    prevpath);
	}
	return why[0] ? 1 : 0;
}
