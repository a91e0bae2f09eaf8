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

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "fskind.h"
#include "util.h"
#include "redact.h"
#include "task.h"
#include "spool.h"
#include "journal.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* The 32 bytes of a SHA-256 digest MD as 64 lowercase hex digits and a
 * NUL in OUT. */
static void
digest_hex(const uint8_t md[SHA256_DIGEST_SIZE], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (unsigned i = 0; i < SHA256_DIGEST_SIZE; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[64] = '\0';
}

int
agq_sha256_hex(const void *buf, size_t len, char out[65])
{
	uint8_t md[SHA256_DIGEST_SIZE];
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	sha256_update(&ctx, len, buf);
	sha256_digest(&ctx, sizeof md, md);
	digest_hex(md, out);
	return 0;
}

/* ---- the keyed journal: a "mac" as the last field of a line ----------- */

/* ,"mac":"<64 hex>"} ends a keyed line or anchor */
#define MAC_HEAD ",\"mac\":\""
enum { MAC_TAIL = sizeof MAC_HEAD - 1 + 64 + 2 };

/* HMAC-SHA256 (RFC 2104) with K of the LEN bytes of BODY, a JSON object's
 * text without its closing brace, followed by "}": the MAC of the line
 * as it was before its "mac" was added.  In hex into OUT. */
static void
mac_hex(const struct agq_jkey *k, const char *body, size_t len, char out[65])
{
	struct hmac_sha256_ctx c;
	uint8_t md[SHA256_DIGEST_SIZE];
	hmac_sha256_set_key(&c, k->len, k->key);
	hmac_sha256_update(&c, len, (const uint8_t *)body);
	hmac_sha256_update(&c, 1, (const uint8_t *)"}");
	hmac_sha256_digest(&c, sizeof md, md);
	digest_hex(md, out);
}

/* S, a JSON object's text of LEN bytes (malloc'd, consumed), with a
 * "mac" by K added as its last field: a new malloc'd string, its length
 * in *LEN. */
static char *
with_mac(const struct agq_jkey *k, char *s, size_t *len)
{
	char mac[65];
	mac_hex(k, s, *len - 1, mac);
	char *line = agq_xasprintf("%.*s" MAC_HEAD "%s\"}", (int)(*len - 1), s,
	    mac);
	free(s);
	*len = strlen(line);
	return line;
}

/* Does LINE (LEN bytes) end with a "mac" as with_mac adds it, and is it
 * right for K?  1 right, 0 wrong or not in that form. */
static int
mac_ok(const struct agq_jkey *k, const char *line, size_t len)
{
	if (len < MAC_TAIL + 1)
		return 0;
	size_t body = len - MAC_TAIL;
	const char *m = line + body + sizeof MAC_HEAD - 1;
	if (memcmp(line + body, MAC_HEAD, sizeof MAC_HEAD - 1) ||
	    memcmp(line + len - 2, "\"}", 2))
		return 0;
	char want[65];
	mac_hex(k, line, body, want);
	return !memcmp(want, m, 64);
}

int
agq_journal_key(const struct agq_spool *sp, struct agq_jkey *k, char *why,
                size_t size)
{
	memset(k, 0, sizeof *k);
	why[0] = '\0';
	const char *p = sp->conf.journal_key_file;
	if (!p)
		return 0;
	size_t len;
	int fd;
	char *buf = agq_read_file(p, 64 * 1024, &len, &fd);
	if (!buf)
		return agq_errf(why, size, "cannot read %s: %s", p,
		    strerror(errno));
	struct stat st;
	int r = fstat(fd, &st);
	close(fd);
	size_t n = strcspn(buf, "\n");
	if (r < 0)
		agq_errf(why, size, "cannot stat %s: %s", p, strerror(errno));
	else if (st.st_mode & 077)
		agq_errf(why, size, "%s: mode %04o: group or others have access "
		    "to it (chmod 600 it)", p, (unsigned)(st.st_mode & 07777));
	else if (st.st_uid != geteuid() && st.st_uid != 0)
		agq_errf(why, size, "%s: owned by uid %u, not by this user",
		    p, (unsigned)st.st_uid);
	else if (n == 0 || n > sizeof k->key)
		agq_errf(why, size, "%s: its first line is %s", p, n ? "longer "
		    "than 256 bytes" : "empty");
	else {
		memcpy(k->key, buf, n);
		k->len = n;
	}
	explicit_bzero(buf, len);
	free(buf);
	return k->len ? 1 : -1;
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

enum { JBLK = 1 << 16 };        /* bytes read at a time */

void
agq_jrev_open(struct agq_jrev *r, int fd, off_t end)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
	r->pos = r->wstart = end;
}

void
agq_jrev_close(struct agq_jrev *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* pread(2) exactly N bytes at OFF into BUF: 0, or -1 with errno (EIO for
 * a short read: the file shrank). */
static int
pread_all(int fd, void *buf, size_t n, off_t off)
{
	ssize_t k;
	while ((k = pread(fd, buf, n, off)) < 0 && errno == EINTR)
		;
	if (k == (ssize_t)n)
		return 0;
	if (k >= 0)
		errno = EIO;
	return -1;
}

int
agq_jrev_prev(struct agq_jrev *r, const char **line, size_t *len, off_t *off)
{
	if (r->pos <= 0)
		return 0;
	off_t e = r->pos - 1;           /* the newline ending the line */
	if (r->wstart > e)              /* nothing buffered before it */
		r->wstart = e;
	for (;;) {
		/* look for the newline before E in [wstart, e) */
		size_t have = (size_t)(e - r->wstart);
		char *nl = NULL;
		for (size_t i = have; i > 0; i--)
			if (r->buf[i - 1] == '\n') {
				nl = r->buf + i - 1;
				break;
			}
		off_t s = nl ? r->wstart + (nl - r->buf) + 1 : 0;
		if (nl || r->wstart == 0) {
			*len = (size_t)(e - s);
			*line = *len > AGQ_JOURNAL_LINE_MAX ? NULL : !r->buf ?
			    "" : r->buf + (s - r->wstart);
			if (off)
				*off = s;
			r->pos = s;
			return 1;
		}
		if (have > AGQ_JOURNAL_LINE_MAX)
			break;          /* too long: skip it unread */
		/* read the block before wstart, keeping [wstart, e) */
		size_t want = r->wstart > JBLK ? JBLK : (size_t)r->wstart;
		if (have + want > r->cap) {
			r->cap = have + want;
			char *nb = realloc(r->buf, r->cap);
			if (!nb)
				agq_die(70, "out of memory");
			r->buf = nb;
		}
		memmove(r->buf + want, r->buf, have);
		if (pread_all(r->fd, r->buf, want, r->wstart - (off_t)want) < 0)
			return -1;
		r->wstart -= (off_t)want;
	}
	/* A line longer than agq writes: find its start a block at a time,
	 * keeping nothing. */
	off_t s = r->wstart;
	char blk[4096];
	while (s > 0) {
		off_t b = s > (off_t)sizeof blk ? s - (off_t)sizeof blk : 0;
		size_t n = (size_t)(s - b);
		if (pread_all(r->fd, blk, n, b) < 0)
			return -1;
		size_t i = n;
		while (i > 0 && blk[i - 1] != '\n')
			i--;
		if (i > 0) {
			s = b + (off_t)i;
			break;
		}
		s = b;
	}
	*len = (size_t)(e - s);
	*line = NULL;
	if (off)
		*off = s;
	r->pos = r->wstart = s;
	return 1;
}

/* SHA-256 in hex of the LEN bytes of FD at OFF, read a block at a time. */
static int
sha256_range_hex(int fd, off_t off, size_t len, char out[65])
{
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];
	char *blk = agq_xmalloc(JBLK);
	sha256_init(&ctx);
	while (len > 0) {
		size_t n = len > JBLK ? JBLK : len;
		if (pread_all(fd, blk, n, off) < 0) {
			free(blk);
			return -1;
		}
		sha256_update(&ctx, n, (const uint8_t *)blk);
		off += (off_t)n;
		len -= n;
	}
	free(blk);
	sha256_digest(&ctx, sizeof md, md);
	digest_hex(md, out);
	return 0;
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
	 * little way, so the sequence goes on rather than restart at 1.
	 * A line too long to be agq's is hashed in blocks, never parsed. */
	struct agq_jrev rv;
	agq_jrev_open(&rv, fd, good);
	const char *line;
	size_t n;
	off_t at;
	int k, rc = 0;
	for (k = 0; k < AGQ_JOURNAL_LOOKBACK; k++) {
		if ((rc = agq_jrev_prev(&rv, &line, &n, &at)) <= 0)
			break;
		if (k == 0 && (line ? agq_sha256_hex(line, n, t->hash) :
		    sha256_range_hex(fd, at, n, t->hash)) < 0) {
			rc = -1;
			break;
		}
		json_t *o = line ? json_loadb(line, n, 0, NULL) : NULL;
		json_int_t seq = json_integer_value(json_object_get(o, "seq"));
		json_decref(o);
		if (seq > 0) {
			t->seq = (int64_t)seq;
			break;
		}
		t->foreign++;
	}
	/* 64 lines without a seq and more before them: unknown */
	if (rc >= 0 && k == AGQ_JOURNAL_LOOKBACK && rv.pos > 0)
		t->no_seq = 1;
	int e = errno;
	agq_jrev_close(&rv);
	errno = e;
	return rc < 0 ? -1 : 0;
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
 * before it, for the first T's), and, with KEY (NULL: none), its "mac",
 * and render them as lines, each ended by a newline, one after the other
 * in one malloc'd buffer of *LEN bytes.  LASTHASH, when not NULL, gets
 * the hash of the last line.  NULL with errno ENOMEM. */
static char *
chain_lines(json_t *events, const struct agq_jtail *t,
            const struct agq_jkey *key, size_t *len, char lasthash[65])
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
		if (key)
			line = with_mac(key, line, &k);
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
	int keyst;              /* agq_journal_key's answer; 2: not asked */
	struct agq_jkey key;
} jc = { .lk = -1, .fd = -1, .end = -1, .keyst = 2 };

/* With the journal lock held: replace ROOT/journal.anchor with SEQ and
 * HASH, the journal's last line's, and a "mac" by KEY (NULL: none),
 * through ROOT/.journal.anchor.tmp and rename(2); not fsynced (the
 * journal is not either: agq-journal(5), "Anchor").  0 or -1. */
static int
anchor_write(const struct agq_spool *sp, int64_t seq, const char *hash,
             const struct agq_jkey *key)
{
	char *body = agq_xasprintf("{\"seq\":%lld,\"hash\":\"%s\"}",
	    (long long)seq, hash);
	size_t n = strlen(body);
	if (key)
		body = with_mac(key, body, &n);
	body[n] = '\n';      /* over the NUL: written without it */
	char tmp[PATH_MAX], dst[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s/.journal.anchor.tmp", sp->root);
	snprintf(dst, sizeof dst, "%s/journal.anchor", sp->root);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	int r = fd < 0 ? -1 : agq_write_all(fd, body, n + 1);
	int e = errno;
	if (fd >= 0 && close(fd) < 0 && r == 0) {
		r = -1;
		e = errno;
	}
	if (r == 0 && agq_rename_checked(tmp, dst) < 0) {
		r = -1;
		e = errno;
	}
	free(body);
	errno = e;
	return r;
}

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
	explicit_bzero(&jc.key, sizeof jc.key);
	jc.keyst = 2;
}

/* The key for the lines this process appends (jc.key), loaded once; a key
 * configured but not usable is warned about once and lines go out
 * without a "mac" (agq-journal --verify then reports them).  NULL: none. */
static const struct agq_jkey *
jc_key(const struct agq_spool *sp)
{
	if (jc.keyst == 2) {
		char why[512];
		jc.keyst = agq_journal_key(sp, &jc.key, why, sizeof why);
		if (jc.keyst < 0)
			agq_warn("journal_key_file not used: %s; appending "
			    "to the journal without a MAC", why);
	}
	return jc.keyst == 1 ? &jc.key : NULL;
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
static json_t *event_new(const char *ev, const char *id, json_t *extra);

/* The journal's end T against its anchor: when the anchor is ahead (a
 * larger seq, or the same seq with another hash), lines were lost from
 * the end (a crash, or cut): a `cut` event recording it, with a warning,
 * else NULL.  agq-journal(5), "Anchor". */
static json_t *
cut_event(const struct agq_spool *sp, const struct agq_jtail *t)
{
	struct agq_janchor a;
	if (agq_journal_anchor_read(sp, NULL, &a) != 1 || a.seq < t->seq ||
	    (a.seq == t->seq && (t->foreign || !strcmp(a.hash, t->hash))))
		return NULL;
	agq_warn("%s/journal: ends at seq %lld, but journal.anchor records "
	    "seq %lld: lines were lost from its end (a crash, or cut); "
	    "journaling a cut event", sp->root, (long long)t->seq,
	    (long long)a.seq);
	char *why = agq_xasprintf("the journal ended at seq %lld, but its "
	    "anchor recorded seq %lld", (long long)t->seq, (long long)a.seq);
	json_t *x = json_pack("{s:I, s:I, s:s, s:s}", "journal_seq",
	    (json_int_t)t->seq, "anchor_seq", (json_int_t)a.seq,
	    "anchor_hash", a.hash, "reason", why);
	free(why);
	return event_new("cut", NULL, x);
}

static int
append_locked(const struct agq_spool *sp, int fd, off_t size, json_t *events)
{
	struct agq_jtail t;
	int own = jc.end >= 0 && size == jc.end;
	if (own) {
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
	if (t.no_seq) {
		/* Going on at seq 1 would reuse a seq: refuse, loudly. */
		agq_warn("%s/journal: its last %d lines have no \"seq\" (not "
		    "journal events): not appending, so as not to reuse a seq; "
		    "move them out of the journal (agq-journal(5))", sp->root,
		    AGQ_JOURNAL_LOOKBACK);
		json_decref(events);
		errno = EBADMSG;
		return -1;
	}
	json_t *cut = own ? NULL : cut_event(sp, &t);
	if (cut)
		json_array_insert_new(events, 0, cut);
	if (!json_array_size(events)) {
		json_decref(events);
		return 0;
	}
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
	const struct agq_jkey *key = jc_key(sp);
	char *buf = chain_lines(events, &t, key, &n, lasthash);
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
		if (anchor_write(sp, jc.seq, lasthash, key) < 0)
			agq_spool_syserr(sp, "cannot update the journal's "
			    "anchor", "journal.anchor");
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

/* ---- one writer on a remote spool: events/ (agq-journal(5)) ---------- */

static pid_t journal_writer;    /* agq_journal_writer: this process appends
                                 * (not a child forked from it) */

void
agq_journal_writer(int on)
{
	journal_writer = on ? getpid() : 0;
}

/* BUF (a NUL-terminated text) delivered as DST (a path in SP's events/,
 * freed here), maildir-style through events/tmp/, fsynced; an existing
 * DST replaced unless NOREPLACE.  0 or -1 with errno. */
static int
events_put(const struct agq_spool *sp, char *dst, const char *buf,
           int noreplace)
{
	char *tmpdir = agq_spool_path(sp, "events/tmp");
	int r = agq_write_atomic(tmpdir, dst, buf, strlen(buf), 1, noreplace);
	int e = errno;
	free(tmpdir);
	free(dst);
	errno = e;
	return r;
}

/* EVENTS (a JSON array, stolen) delivered as one file of SP's
 * events/new/: TIME-HOST-PID-N.json, TIME the microseconds since the
 * epoch in 16 digits, HOST with every byte but [A-Za-z0-9.] made '_', N
 * this process's count in 6 digits, so that names sort in the order they
 * were written (on one host; across hosts, by their clocks).  Maildir
 * delivery: events/tmp/, fsync, link, fsync of events/new/. */
static int
events_deliver(const struct agq_spool *sp, json_t *events)
{
	static unsigned count;
	char host[65];
	snprintf(host, sizeof host, "%s", agq_hostname());
	for (char *c = host; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '.')
			*c = '_';
	char *buf = json_dumps(events, JSON_COMPACT);
	json_decref(events);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	int r = events_put(sp, agq_spool_path(sp, "events/new/%016lld-%s-%ld-"
	    "%06u.json", (long long)agq_now_us(), host, (long)getpid(),
	    ++count % 1000000), buf, 1);
	int e = errno;
	free(buf);
	errno = e;
	return r;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The "src" of the last AGQ_JOURNAL_LOOKBACK lines of FD (the journal,
 * SIZE bytes up to its last newline) into SRCS (name -> true): the files
 * of events/new/ appended already. */
static void
srcs_recent(int fd, off_t size, json_t *srcs)
{
	struct agq_jrev r;
	agq_jrev_open(&r, fd, size);
	const char *line;
	size_t len;
	for (int i = 0; i < AGQ_JOURNAL_LOOKBACK &&
	    agq_jrev_prev(&r, &line, &len, NULL) == 1; i++) {
		if (!line || !memmem(line, len, "\"src\"", 5))
			continue;
		json_t *o = json_loadb(line, len, 0, NULL);
		const char *src = json_string_value(json_object_get(o, "src"));
		if (src)
			json_object_set_new(srcs, src, json_true());
		json_decref(o);
	}
	agq_jrev_close(&r);
}

/* The names of events/new/, for agq_dir_each. */
struct evnames { char **v; size_t n, cap; };

static int
evname_add(const char *name, void *arg)
{
	struct evnames *l = arg;
	l->v = agq_grow(l->v, &l->cap, l->n, sizeof *l->v, 64);
	l->v[l->n++] = agq_xstrdup(name);
	return 0;
}

int
agq_journal_events_append(const struct agq_spool *sp, long *n)
{
	*n = 0;
	char *dir = agq_spool_path(sp, "events/new");
	struct evnames l = { NULL, 0, 0 };
	if (agq_dir_each(dir, evname_add, &l) < 0) {
		int e = errno;
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i]);
		free(l.v);
		free(dir);
		errno = e;
		return e == ENOENT ? 0 : -1;
	}
	char **names = l.v;
	size_t nn = l.n;
	int rc = 0, e = 0;
	off_t size;
	int fd = nn ? jc_lock(sp, &size) : -1;
	if (nn && fd < 0) {
		e = errno;
		rc = -1;
	}
	if (nn)
		qsort(names, nn, sizeof *names, name_cmp);
	json_t *srcs = json_object();
	if (fd >= 0) {
		struct agq_jtail t;
		if (agq_journal_tail(fd, &t) == 0)
			srcs_recent(fd, t.good_len, srcs);
	}
	for (size_t i = 0; i < nn && rc == 0; i++) {
		char *p = agq_xasprintf("%s/%s", dir, names[i]);
		json_t *events = NULL;
		if (!json_object_get(srcs, names[i])) {
			size_t len;
			char *buf = agq_read_file(p, 64 << 20, &len, NULL);
			events = buf ? json_loadb(buf, len, 0, NULL) : NULL;
			free(buf);
			if (!json_is_array(events)) {
				/* not ours, or cut: kept in corrupt/ */
				agq_warn("%s: not a JSON array of events: moved "
				    "to corrupt/", p);
				char *to = agq_spool_path(sp, "corrupt/events-%s",
				    names[i]);
				(void)agq_rename_checked(p, to);
				free(to);
				json_decref(events);
				free(p);
				continue;
			}
			size_t k;
			json_t *ev;
			json_array_foreach(events, k, ev)
				if (json_is_object(ev))
					json_object_set_new(ev, "src",
					    json_string(names[i]));
			struct stat st;
			if (fstat(fd, &st) < 0 ||
			    append_locked(sp, fd, st.st_size, events) < 0) {
				e = errno;
				rc = -1;
				free(p);
				break;
			}
			(*n)++;
		}
		/* appended now, or before a crash: its src is in the journal */
		if (unlink(p) < 0 && errno != ENOENT && rc == 0) {
			e = errno;
			rc = -1;
		}
		free(p);
	}
	if (fd >= 0)
		jc_unlock();
	json_decref(srcs);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(dir);
	errno = e;
	return rc;
}

static int
evname_count(const char *name, void *arg)
{
	(void)name;
	++*(long *)arg;
	return 0;
}

long
agq_journal_events_pending(const struct agq_spool *sp)
{
	char *dir = agq_spool_path(sp, "events/new");
	long n = 0;
	int r = agq_dir_each(dir, evname_count, &n);
	free(dir);
	return r < 0 ? (errno == ENOENT ? 0 : -1) : n;
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
	if (sp->remote && journal_writer != getpid())
		return events_deliver(sp, events);
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

/* agq_journal_rotate, the rotate event given EXTRA's fields (borrowed; may
 * be NULL). */
static int
rotate_with(const struct agq_spool *sp, char **oldname, const json_t *extra)
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
	if (r == 0 && t.no_seq) {       /* never reuse a seq */
		r = -1;
		errno = EBADMSG;
	}
	if (r == 0 && t.torn_len)
		r = agq_journal_cut_torn(sp, fd, &t, name);
	if (r == 0) {
		struct agq_jbatch b = { NULL };
		json_t *ev = json_pack("{s:s}", "from", name);
		if (extra)
			json_object_update(ev, (json_t *)extra);
		agq_jbatch_add(&b, "rotate", NULL, ev);
		size_t n;
		char lasthash[65], why[512];
		struct agq_jkey key;
		int ks = agq_journal_key(sp, &key, why, sizeof why);
		if (ks < 0)
			agq_warn("journal_key_file not used: %s", why);
		char *line = chain_lines(b.events, &t, ks > 0 ? &key : NULL,
		    &n, lasthash);
		json_decref(b.events);
		r = line ? agq_write_all(nfd, line, n) : -1;   /* ENOMEM */
		free(line);
		if (r == 0 && anchor_write(sp, t.seq + 1, lasthash, ks > 0 ?
		    &key : NULL) < 0)
			agq_spool_syserr(sp, "cannot update the journal's "
			    "anchor", "journal.anchor");
		explicit_bzero(&key, sizeof key);
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
	return agq_journal_verify_key(path, NULL, r);
}

int
agq_journal_verify_key(const char *path, const struct agq_jkey *key,
                       struct agq_jverify *r)
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
		} else if (key && json_object_get(o, "mac")) {
			if (!mac_ok(key, line, len))
				snprintf(r->why, sizeof r->why, "wrong \"mac\": "
				    "not written with the journal's key, or "
				    "changed since");
			else
				r->macs++;
		} else if (key && r->macs) {
			snprintf(r->why, sizeof r->why, "no \"mac\" after "
			    "%ld keyed line(s): written without the key", r->macs);
		} else if (key) {
			r->unkeyed++;
		}
		const char *evn = json_string_value(json_object_get(o, "ev"));
		if (!r->why[0] && evn && !strcmp(evn, "cut")) {
			r->cuts++;
			r->cut_line = no;
		}
		if (!r->why[0] && no == 1) {
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
agq_journal_anchor_read(const struct agq_spool *sp, const struct agq_jkey *key,
                        struct agq_janchor *a)
{
	memset(a, 0, sizeof *a);
	a->mac = -1;
	char *p = agq_spool_path(sp, "journal.anchor");
	size_t len;
	char *buf = agq_read_file(p, 4096, &len, NULL);
	int e = errno;
	free(p);
	if (!buf) {
		errno = e;
		return e == ENOENT ? 0 : -1;
	}
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	json_t *o = json_loadb(buf, len, 0, NULL);
	json_t *js = json_object_get(o, "seq");
	const char *h = json_string_value(json_object_get(o, "hash"));
	int ok = json_is_integer(js) && json_integer_value(js) > 0 &&
	    is_hex64(h);
	if (ok) {
		a->seq = json_integer_value(js);
		memcpy(a->hash, h, 65);
		if (json_object_get(o, "mac"))
			a->mac = key && mac_ok(key, buf, len);
	}
	json_decref(o);
	free(buf);
	errno = EBADMSG;
	return ok ? 1 : -1;
}

int
agq_journal_anchor_check(const struct agq_spool *sp,
                         const struct agq_jkey *key,
                         const struct agq_jverify *r, char *why, size_t size)
{
	struct agq_janchor a;
	int got = agq_journal_anchor_read(sp, key, &a);
	if (got < 0) {
		agq_errf(why, size, "journal.anchor: %s", errno ==
		    EBADMSG ? "not an anchor ({\"seq\":N,\"hash\":H})" :
		    strerror(errno));
		return 1;
	}
	if (got == 0) {
		if (key && r->macs) {
			agq_errf(why, size, "a keyed journal without its "
			    "journal.anchor: its end may have been cut");
			return 1;
		}
		agq_errf(why, size, "no journal.anchor: the tail is not "
		    "checked");
		return 0;
	}
	if (key && r->macs && a.mac != 1) {
		agq_errf(why, size, "journal.anchor: %s", a.mac < 0 ?
		    "no \"mac\" in the anchor of a keyed journal" : "wrong "
		    "\"mac\": not written with the journal's key");
		return 1;
	}
	if (a.seq > r->last_seq) {
		agq_errf(why, size, "ends at seq %lld, but journal.anchor "
		    "records seq %lld: %lld line(s) cut from its end",
		    (long long)r->last_seq, (long long)a.seq,
		    (long long)(a.seq - r->last_seq));
		return 1;
	}
	if (a.seq == r->last_seq && strcmp(a.hash, r->last_hash)) {
		agq_errf(why, size, "its last line (seq %lld) is not the "
		    "one journal.anchor records: changed or replaced",
		    (long long)a.seq);
		return 1;
	}
	agq_errf(why, size, "the tail against journal.anchor (seq %lld%s)",
	    (long long)a.seq, a.seq < r->last_seq ? ", behind the journal: "
	    "its last update was lost, or lines were written by an older "
	    "agq" : "");
	return 0;
}

int
agq_journal_record_cut(const struct agq_spool *sp)
{
	off_t size;
	int fd = jc_lock(sp, &size);
	if (fd < 0)
		return -1;
	jc.end = -1;            /* read the end: it is what is checked */
	int r = append_locked(sp, fd, size, json_array());
	int e = errno;
	jc_unlock();
	errno = e;
	return r;
}

int
agq_journal_match(const char *line, size_t len, const json_t *ids,
                  int64_t since_us, const json_t *evs)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	int ok = 1;
	if (ids) {
		const char *v = json_string_value(json_object_get(o, "id"));
		ok = v && json_object_get(ids, v);
	}
	if (ok && evs) {
		const char *v = json_string_value(json_object_get(o, "ev"));
		ok = v && json_object_get(evs, v);
	}
	if (ok && since_us > 0)
		ok = agq_task_time(o, "ts", 0) >= since_us;
	json_decref(o);
	return ok;
}

int
agq_journal_rotate(const struct agq_spool *sp, char **oldname)
{
	return rotate_with(sp, oldname, NULL);
}

int
agq_journal_rotate_ask(const struct agq_spool *sp)
{
	json_t *who = json_pack("{s:s, s:I, s:I}", "host", agq_hostname(),
	    "pid", (json_int_t)getpid(), "uid", (json_int_t)getuid());
	char *buf = json_dumps(who, JSON_COMPACT);
	json_decref(who);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	/* replacing an earlier request: one rotation for both */
	int r = events_put(sp, agq_spool_path(sp, AGQ_ROTATE_ASK), buf, 0);
	int e = errno;
	free(buf);
	errno = e;
	return r;
}

int
agq_journal_rotate_asked(const struct agq_spool *sp, char **oldname)
{
	*oldname = NULL;
	char *p = agq_spool_path(sp, AGQ_ROTATE_ASK);
	json_t *who = agq_json_read_object(p, 64 * 1024);
	if (!who && errno == ENOENT) {
		free(p);
		return 0;
	}
	/* an unreadable request is still a request: asked by nobody known */
	json_t *extra = json_pack("{s:o}", "asked_by", who ? who :
	    json_null());
	int r = rotate_with(sp, oldname, extra);
	int e = errno;
	json_decref(extra);
	if (r == 0 && unlink(p) < 0 && errno != ENOENT)
		agq_syserr("cannot remove the request", p);
	free(p);
	errno = e;
	return r < 0 ? -1 : 1;
}

json_t *
agq_journal_rotate_head(const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = f ? getline(&line, &cap, f) : -1;
	json_t *o = n > 0 ? json_loadb(line, (size_t)n, 0, NULL) : NULL;
	free(line);
	if (f)
		fclose(f);
	const char *ev = json_string_value(json_object_get(o, "ev"));
	if (!ev || strcmp(ev, "rotate") || !json_is_string(json_object_get(o,
	    "from"))) {
		json_decref(o);
		return NULL;
	}
	return o;
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
		agq_errf(why, size, "seq %lld starts a chain of its own, not a "
		    "rotate event continuing %s", (long long)r->first_seq,
		    prevpath);
	} else if (strcmp(r->first_from, names[i - 1])) {
		int kept = 0;
		for (size_t k = 0; k < n; k++)
			kept |= !strcmp(names[k], r->first_from);
		agq_errf(why, size, "chains to %s, which is %s: seq %lld "
		    "follows seq %lld of %s (%lld line(s) missing)",
		    r->first_from, kept ? "not the file before it" : "missing",
		    (long long)r->first_seq, (long long)prev->last_seq, prevpath,
		    (long long)(r->first_seq - prev->last_seq - 1));
	} else if (strcmp(r->first_prev, prev->last_hash)) {
		agq_errf(why, size, "\"prev\" is not the SHA-256 of the last "
		    "line of %s", prevpath);
	} else if (r->first_seq != prev->last_seq + 1) {
		agq_errf(why, size, "seq %lld follows seq %lld, the last of %s",
		    (long long)r->first_seq, (long long)prev->last_seq,
		    prevpath);
	}
	return why[0] ? 1 : 0;
}

FILE *
agq_journal_fopen(const struct agq_spool *sp, const char *name)
{
	char *p = agq_spool_path(sp, "%s", name);
	FILE *f = fopen(p, "re");
	int e = errno;
	free(p);
	errno = e;
	return f;
}
