/* Unit tests for lib/journal.c's batches (agq_jbatch): one append of
 * several events lands as consecutive lines with consecutive seq and a
 * whole chain, concurrent batches do not interleave, and a batch that
 * does not fit (a short write) is taken back whole. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

/* The lines of the file PATH as JSON objects in a JSON array (NULL when a
 * line does not parse or the file does not end with a newline). */
static json_t *
lines_of(const char *path)
{
	size_t len;
	char *s = agq_read_file(path, 1 << 24, &len, NULL);
	if (!s)
		return NULL;
	json_t *a = json_array();
	char *p = s, *end = s + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			json_decref(a);
			a = NULL;
			break;
		}
		json_t *o = json_loadb(p, (size_t)(nl - p), 0, NULL);
		if (!o) {
			json_decref(a);
			a = NULL;
			break;
		}
		json_array_append_new(a, o);
		p = nl + 1;
	}
	free(s);
	return a;
}

static const char *
ev_of(json_t *lines, size_t i)
{
	return json_string_value(json_object_get(json_array_get(lines, i),
	    "ev"));
}

static json_int_t
seq_of(json_t *lines, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(lines, i),
	    "seq"));
}

static off_t
size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

int
main(void)
{
	char dir[] = "/tmp/agq-unit-journal-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	struct agq_spool sp;
	char root[300], jpath[320], conf[320];
	snprintf(root, sizeof root, "%s/spool", dir);
	snprintf(jpath, sizeof jpath, "%s/journal", root);
	snprintf(conf, sizeof conf, "%s/agq.conf", dir);
	FILE *f = fopen(conf, "w");
	fclose(f);
	CHECK(agq_spool_open(&sp, root, conf) == 0, "open the spool");

	/* a single event, then a batch of three after it */
	CHECK(agq_journal(&sp, "one", "t0", NULL) == 0, "agq_journal");
	struct agq_jbatch b = { NULL };
	CHECK(agq_jbatch_write(&sp, &b) == 0 && size_of(jpath) > 0,
	    "an empty batch writes nothing");
	json_t *lines = lines_of(jpath);
	CHECK(json_array_size(lines) == 1, "still one line");
	json_decref(lines);
	agq_jbatch_add(&b, "route", "t1", json_pack("{s:s}", "agent", "a1"));
	agq_jbatch_add(&b, "assign", "t1", json_pack("{s:i}", "gen", 1));
	agq_jbatch_add(&b, "note", NULL, NULL);
	CHECK(agq_jbatch_write(&sp, &b) == 0 && b.events == NULL,
	    "batch of three written, the batch emptied");
	lines = lines_of(jpath);
	CHECK(json_array_size(lines) == 4, "four whole lines");
	CHECK(ev_of(lines, 1) && !strcmp(ev_of(lines, 1), "route") &&
	    ev_of(lines, 2) && !strcmp(ev_of(lines, 2), "assign") &&
	    ev_of(lines, 3) && !strcmp(ev_of(lines, 3), "note"),
	    "in the order added");
	CHECK(seq_of(lines, 0) == 1 && seq_of(lines, 1) == 2 &&
	    seq_of(lines, 2) == 3 && seq_of(lines, 3) == 4, "consecutive seq");
	json_t *o = json_array_get(lines, 1);
	CHECK(!strcmp(json_string_value(json_object_get(o, "agent")), "a1") &&
	    json_object_get(o, "ts") && json_object_get(o, "pid") &&
	    json_object_get(o, "host") && json_object_get(o, "prog") &&
	    !json_object_get(json_array_get(lines, 3), "id"),
	    "the common fields, extra fields, no id when NULL");
	json_decref(lines);
	struct agq_jverify v;
	CHECK(agq_journal_verify(jpath, &v) == 0 && v.lines == 4 &&
	    v.last_seq == 4 && !v.torn, "the chain verifies through the batch");

	/* concurrent writers: every batch stays in one piece */
	enum { KIDS = 4, ROUNDS = 25 };
	for (int k = 0; k < KIDS; k++) {
		pid_t pid = fork();
		if (pid == 0) {
			char id[16];
			snprintf(id, sizeof id, "k%d", k);
			int bad = 0;
			for (int r = 0; r < ROUNDS; r++) {
				struct agq_jbatch kb = { NULL };
				agq_jbatch_add(&kb, "finish", id, NULL);
				agq_jbatch_add(&kb, "done", id, NULL);
				bad |= agq_jbatch_write(&sp, &kb) < 0;
				bad |= agq_journal(&sp, "start", id, NULL) < 0;
			}
			_exit(bad);
		}
	}
	int ok = 1, st;
	for (int k = 0; k < KIDS; k++)
		ok &= wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	CHECK(ok, "concurrent writers wrote");
	lines = lines_of(jpath);
	size_t n = json_array_size(lines);
	CHECK(n == 4 + KIDS * ROUNDS * 3, "every line there");
	int whole = 1;
	for (size_t i = 4; i < n; i++) {
		if (strcmp(ev_of(lines, i), "finish"))
			continue;
		const char *id = json_string_value(json_object_get(
		    json_array_get(lines, i), "id"));
		whole &= i + 1 < n && !strcmp(ev_of(lines, i + 1), "done") &&
		    !strcmp(json_string_value(json_object_get(json_array_get(
		    lines, i + 1), "id")), id);
	}
	CHECK(whole, "each finish is followed by its own done");
	json_decref(lines);
	CHECK(agq_journal_verify(jpath, &v) == 0 && v.lines == (long)n &&
	    v.last_seq == (int64_t)n, "the chain verifies after them");

	/* a short write (the file may grow by 100 bytes only, as on a disk
	 * with 100 bytes left): the whole batch is taken back */
	off_t before = size_of(jpath);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		struct rlimit rl = { (rlim_t)before + 100, (rlim_t)before + 100 };
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(2);
		struct agq_jbatch kb = { NULL };
		agq_jbatch_add(&kb, "finish", "full", NULL);
		agq_jbatch_add(&kb, "done", "full", json_pack("{s:s}",
		    "reason", "exit 0 on a full disk"));
		int r = agq_jbatch_write(&sp, &kb);
		_exit(r == -1 && errno == ENOSPC ? 0 : 1);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0, "a batch that does not fit fails, ENOSPC");
	CHECK(size_of(jpath) == before, "and leaves nothing of itself");
	CHECK(agq_journal_verify(jpath, &v) == 0 && !v.torn &&
	    v.lines == (long)n, "the journal still ends with a whole line");
	CHECK(agq_journal(&sp, "after", NULL, NULL) == 0 &&
	    agq_journal_verify(jpath, &v) == 0 && v.last_seq == (int64_t)n + 1,
	    "the next append chains on");

	/* agq_jrev: lines backwards; one too long to parse is skipped
	 * unread, with its length and offset */
	char rpath[340];
	snprintf(rpath, sizeof rpath, "%s/rev", dir);
	f = fopen(rpath, "w");
	fputs("a\n", f);
	for (int i = 0; i < AGQ_JOURNAL_LINE_MAX + 10; i++)
		fputc('x', f);
	fputs("\n\nbc\n", f);
	fclose(f);
	int fd = open(rpath, O_RDONLY);
	struct agq_jrev rv;
	const char *line;
	size_t len;
	off_t at;
	agq_jrev_open(&rv, fd, size_of(rpath));
	CHECK(agq_jrev_prev(&rv, &line, &len, &at) == 1 && len == 2 &&
	    !memcmp(line, "bc", 2) && at == AGQ_JOURNAL_LINE_MAX + 14,
	    "jrev: the last line first");
	CHECK(agq_jrev_prev(&rv, &line, &len, &at) == 1 && len == 0 && line,
	    "jrev: an empty line");
	CHECK(agq_jrev_prev(&rv, &line, &len, &at) == 1 && !line &&
	    len == AGQ_JOURNAL_LINE_MAX + 10 && at == 2,
	    "jrev: a line too long is skipped, its length and offset given");
	CHECK(agq_jrev_prev(&rv, &line, &len, &at) == 1 && len == 1 &&
	    *line == 'a' && at == 0, "jrev: the first line");
	CHECK(agq_jrev_prev(&rv, &line, &len, &at) == 0, "jrev: then the "
	    "start of the file");
	agq_jrev_close(&rv);
	struct agq_jtail jt;
	CHECK(agq_journal_tail(fd, &jt) == 0 && jt.seq == 0 && jt.foreign == 4 &&
	    !jt.no_seq, "tail: no seq in a file of foreign lines: 0");
	close(fd);

	/* AGQ_JOURNAL_LOOKBACK lines without a seq: the writer refuses
	 * rather than start again at seq 1 */
	f = fopen(jpath, "a");
	for (int i = 0; i < AGQ_JOURNAL_LOOKBACK; i++)
		fputs("a note by hand\n", f);
	fclose(f);
	before = size_of(jpath);
	CHECK(agq_journal(&sp, "refused", NULL, NULL) == -1 &&
	    errno == EBADMSG && size_of(jpath) == before,
	    "64 lines without a seq: the append is refused (EBADMSG)");

	agq_spool_close(&sp);

	/* a remote spool: events delivered to events/new/, appended by the
	 * one writer in name order with "src", a re-append skipped */
	char rroot[300], rconf[320], rj[320], evdir[330];
	snprintf(rroot, sizeof rroot, "%s/rspool", dir);
	snprintf(rj, sizeof rj, "%s/journal", rroot);
	snprintf(evdir, sizeof evdir, "%s/events/new", rroot);
	snprintf(rconf, sizeof rconf, "%s/remote.conf", dir);
	f = fopen(rconf, "w");
	fputs("spool_fs = remote\n", f);
	fclose(f);
	CHECK(agq_spool_open(&sp, rroot, rconf) == 0 && sp.remote,
	    "spool_fs = remote: a remote spool");
	CHECK(agq_journal(&sp, "first", "r1", NULL) == 0 &&
	    agq_journal(&sp, "second", "r2", NULL) == 0 &&
	    size_of(rj) <= 0 && agq_journal_events_pending(&sp) == 2,
	    "not the writer: two files in events/new/, no journal");
	DIR *d = opendir(evdir);
	struct dirent *de;
	char first[256] = "";
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && (!*first ||
		    strcmp(de->d_name, first) < 0))
			snprintf(first, sizeof first, "%s", de->d_name);
	closedir(d);
	char fp[600], keep[600];
	snprintf(fp, sizeof fp, "%s/%s", evdir, first);
	snprintf(keep, sizeof keep, "%s/kept.json", dir);
	CHECK(link(fp, keep) == 0, "the first file kept aside");
	long nf = -1;
	agq_journal_writer(1);
	CHECK(agq_journal_events_append(&sp, &nf) == 0 && nf == 2 &&
	    agq_journal_events_pending(&sp) == 0, "both appended, unlinked");
	lines = lines_of(rj);
	CHECK(json_array_size(lines) == 2 &&
	    !strcmp(json_string_value(json_object_get(json_array_get(lines, 0),
	    "ev")), "first") && !strcmp(json_string_value(json_object_get(
	    json_array_get(lines, 0), "src")), first) &&
	    json_integer_value(json_object_get(json_array_get(lines, 1),
	    "seq")) == 2, "in name order, with src, one chain");
	json_decref(lines);
	CHECK(link(keep, fp) == 0 && agq_journal_events_append(&sp, &nf) == 0 &&
	    nf == 0 && agq_journal_events_pending(&sp) == 0 &&
	    (lines = lines_of(rj)) && json_array_size(lines) == 2,
	    "a file appended before a crash: unlinked, not appended again");
	json_decref(lines);
	CHECK(agq_journal(&sp, "direct", NULL, NULL) == 0 &&
	    (lines = lines_of(rj)) && json_array_size(lines) == 3,
	    "the writer appends its own events");
	json_decref(lines);
	agq_journal_writer(0);
	agq_spool_close(&sp);

	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	DONE();
}
