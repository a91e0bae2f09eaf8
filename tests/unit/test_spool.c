/* Unit tests for lib/spool.c, journal.c and config.c: delivery, find,
 * the per-task lock, move-then-rewrite, quarantine, configuration. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

/* agq_each_task_par's check: what each worker saw, and a count per task
 * id of the form "par-N". */
struct par_seen { int per_worker[8]; int hits[2000]; int bad; };

static void
par_count(const struct agq_loc *loc, const char *id, void *arg, int worker)
{
	struct par_seen *S = arg;
	if (worker < 0 || worker >= 8 || loc->dirfd < 0) {
		__atomic_add_fetch(&S->bad, 1, __ATOMIC_RELAXED);
		return;
	}
	json_t *t = agq_task_read_loc(loc);
	int n;
	S->per_worker[worker]++;
	if (strncmp(id, "par-", 4)) {           /* the tests' other tasks */
		json_decref(t);
		return;
	}
	if (!t || sscanf(id, "par-%d", &n) != 1 || n < 0 || n >= 2000 ||
	    strcmp(json_string_value(json_object_get(t, "id")), id))
		__atomic_add_fetch(&S->bad, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&S->hits[n], 1, __ATOMIC_RELAXED);
	json_decref(t);
}

static int
par_total(const struct agq_loc *loc, const char *id, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int
exists(const char *root, const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", root, rel);
	return stat(p, &st) == 0;
}

/* A writer between a transition's two steps, forked: task ID locked,
 * moved to STATE, a byte written to FD, 300 ms, its reason set to REASON
 * and rewritten, 100 ms more under the lock.  Its pid; it exits 0 when
 * every step worked. */
static pid_t
slow_writer(const struct agq_spool *sp, const char *id, int state,
            const char *reason, int fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	struct agq_locked w;
	if (agq_task_lock(sp, id, NULL, &w) < 0 ||
	    agq_task_move(sp, &w, state, -1, NULL) < 0 || write(fd, "m", 1) != 1)
		_exit(1);
	usleep(300000);
	json_object_set_new(w.task, "reason", json_string(reason));
	if (agq_task_rewrite(sp, &w) < 0)
		_exit(1);
	usleep(100000);
	agq_task_unlock(&w);
	_exit(0);
}

int
main(void)
{
	char dir[] = "/tmp/agq-unit-spool-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char conf[256];
	snprintf(conf, sizeof conf, "%s/agq.conf", dir);
	FILE *f = fopen(conf, "w");
	fputs("# test\nlease = 7\nheartbeat=2s\n\nmax_task_bytes = 2048\n", f);
	fclose(f);
	struct agq_spool sp;
	char root[300];
	snprintf(root, sizeof root, "%s/spool", dir);
	CHECK(agq_spool_open(&sp, root, conf) == 0, "open creates the spool");
	CHECK(exists(root, "queue/urgent") && exists(root, "active") &&
	    exists(root, "corrupt") && exists(root, "tmp"), "directories made");
	CHECK(sp.conf.lease_s == 7 && sp.conf.heartbeat_s == 2 &&
	    sp.conf.max_task_bytes == 2048, "configuration read");

	char err[256];
	const char *j1 = "{\"id\":\"t1\",\"cmd\":\"true\",\"priority\":\"high\"}";
	json_t *t = agq_task_parse(j1, strlen(j1), err, sizeof err);
	CHECK(t != NULL, "parse");
	agq_task_normalize(t, agq_now_us());
	int where = -1;
	CHECK(agq_deliver(&sp, t, AGQ_DELIVER_SYNC, &where) == 0 &&
	    where == AGQ_ST_QUEUE, "deliver to queue");
	CHECK(exists(root, "queue/high/t1.json"), "file in queue/high");
	CHECK(agq_deliver(&sp, t, AGQ_DELIVER_SYNC, &where) == 1 &&
	    where == AGQ_ST_QUEUE, "second delivery is a duplicate");
	json_decref(t);

	/* a generated id: delivered without the look-up; the same name in
	 * the same directory is still refused by link(2) */
	const char *j0 = "{\"cmd\":\"true\"}";
	t = agq_task_parse(j0, strlen(j0), err, sizeof err);
	agq_task_normalize(t, agq_now_us());
	CHECK(agq_deliver(&sp, t, AGQ_DELIVER_NEW_ID, &where) == 0 &&
	    where == AGQ_ST_QUEUE, "deliver a new generated id");
	CHECK(agq_deliver(&sp, t, AGQ_DELIVER_NEW_ID, &where) == 1 &&
	    where == AGQ_ST_QUEUE, "a new id taken in its directory is refused");
	char claim[400];
	snprintf(claim, sizeof claim, "ids/%s", agq_task_id(t));
	CHECK(exists(root, claim), "a new generated id is claimed");
	json_decref(t);

	const char *j2 = "{\"id\":\"later\",\"cmd\":\"true\","
	    "\"not_before\":\"2099-01-01T00:00:00Z\"}";
	t = agq_task_parse(j2, strlen(j2), err, sizeof err);
	agq_task_normalize(t, agq_now_us());
	CHECK(agq_deliver(&sp, t, 0, &where) == 0 && where == AGQ_ST_DEFER &&
	    exists(root, "defer/later.json"), "future not_before goes to defer");
	json_decref(t);

	struct agq_loc loc;
	CHECK(agq_task_find(&sp, "t1", &loc) == 0 && loc.state == AGQ_ST_QUEUE &&
	    loc.lane == AGQ_HIGH, "find in queue");
	CHECK(agq_task_find(&sp, "nope", &loc) < 0 && errno == ENOENT,
	    "find unknown is ENOENT");
	CHECK(agq_task_find(&sp, "../x", &loc) < 0, "find rejects bad ids");

	struct agq_locked l;
	CHECK(agq_task_lock(&sp, "t1", NULL, &l) == 0 && l.task, "lock");
	/* another process cannot take the lock meanwhile */
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(l.loc.path, O_RDONLY);
		_exit(flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1, "lock excludes others");
	json_object_set_new(l.task, "generation", json_integer(1));
	CHECK(agq_task_transition(&sp, &l, AGQ_ST_ACTIVE, -1, "a1", "leased") == 0,
	    "move to active and rewrite");
	CHECK(!exists(root, "queue/high/t1.json") &&
	    exists(root, "active/a1/t1.json"), "exactly one copy, in active/a1");
	pid = fork();
	if (pid == 0) {
		int fd = open(l.loc.path, O_RDONLY);
		_exit(flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1,
	    "the rewritten file is still locked");
	agq_task_unlock(&l);
	char path[4096];
	snprintf(path, sizeof path, "%s/active/a1/t1.json", root);
	json_t *back = agq_task_read(path);
	CHECK(back && agq_task_int(back, "generation", 0) == 1 &&
	    !strcmp(json_string_value(json_object_get(back, "agent")), "a1") &&
	    !strcmp(json_string_value(json_object_get(back, "reason")),
	    "leased"), "rewrite landed");
	json_decref(back);
	CHECK(agq_agent_load(&sp, "a1") == 1, "agent load counts leases");

	/* A reader between a transition's move and its new content (a merge
	 * task just moved to dead/, its reason not yet written): the plain
	 * read sees the old content in the new directory, the settled read
	 * waits for the writer and sees the new; a writer that keeps the
	 * lock delays it only WAIT_MS. */
	const char *j9 = "{\"id\":\"t9\",\"cmd\":\"true\"}";
	t = agq_task_parse(j9, strlen(j9), err, sizeof err);
	agq_task_normalize(t, agq_now_us());
	json_object_set_new(t, "reason", json_string("running"));
	CHECK(agq_deliver(&sp, t, AGQ_DELIVER_SYNC, &where) == 0, "deliver t9");
	json_decref(t);
	int mv[2];
	CHECK(pipe(mv) == 0, "pipe");
	pid = slow_writer(&sp, "t9", AGQ_ST_DEAD, "exit 3", mv[1]);
	char c9;
	CHECK(read(mv[0], &c9, 1) == 1, "the writer moved t9 to dead/");
	snprintf(path, sizeof path, "%s/dead/t9.json", root);
	back = agq_task_read(path);
	CHECK(back && !strcmp(json_string_value(json_object_get(back,
	    "reason")), "running"), "a plain read between the move and the "
	    "new content sees the old content");
	json_decref(back);
	back = agq_task_read_settled(path, 5000);
	CHECK(back && !strcmp(json_string_value(json_object_get(back,
	    "reason")), "exit 3"), "the settled read sees the new content");
	json_decref(back);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer ended well");
	/* the same through agq_task_find_settled (agq-show's look-up): the
	 * task found in its new directory, with its new content */
	pid = slow_writer(&sp, "t9", AGQ_ST_DONE, "exit 0", mv[1]);
	CHECK(read(mv[0], &c9, 1) == 1, "the writer moved t9 to done/");
	struct agq_loc found;
	back = agq_task_find_settled(&sp, "t9", &found, 5000);
	CHECK(back && found.state == AGQ_ST_DONE && !strcmp(json_string_value(
	    json_object_get(back, "reason")), "exit 0"), "found settled: in "
	    "done/ with its new content");
	json_decref(back);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the writer ended well");
	CHECK(!agq_task_find_settled(&sp, "t-none", &found, 50) &&
	    errno == ENOENT, "no such task: ENOENT");
	close(mv[0]);
	close(mv[1]);
	snprintf(path, sizeof path, "%s/done/t9.json", root);
	CHECK(agq_task_lock(&sp, "t9", NULL, &l) == 0, "t9 held by a writer");
	int64_t t0 = agq_now_us();
	back = agq_task_read_settled(path, 50);
	int64_t waited = agq_now_us() - t0;
	CHECK(back && waited >= 50000 && waited < 3000000, "a writer that "
	    "keeps the lock: read without it after the wait");
	json_decref(back);
	agq_task_unlock(&l);
	snprintf(path, sizeof path, "%s/nope.json", root);
	CHECK(!agq_task_read_settled(path, 50) && errno == ENOENT,
	    "a missing file: ENOENT");

	/* a move onto an existing task file is refused */
	CHECK(agq_task_lock(&sp, "t1", NULL, &l) == 0, "lock again");
	char other[4096];
	snprintf(other, sizeof other, "%s/done/t1.json", root);
	f = fopen(other, "w");
	fputs("{}", f);
	fclose(f);
	CHECK(agq_task_move(&sp, &l, AGQ_ST_DONE, -1, NULL) < 0 &&
	    errno == EEXIST, "move never replaces");
	agq_task_unlock(&l);
	unlink(other);

	/* quarantine keeps the file and writes a reason */
	char bad[4096];
	snprintf(bad, sizeof bad, "%s/inbox/junk", root);
	f = fopen(bad, "w");
	fputs("not json", f);
	fclose(f);
	CHECK(agq_quarantine(&sp, bad, "junk", "invalid JSON") == 0 &&
	    exists(root, "corrupt/junk") && exists(root, "corrupt/junk.why") &&
	    !exists(root, "inbox/junk"), "quarantine moves and explains");
	f = fopen(bad, "w");
	fputs("again", f);
	fclose(f);
	CHECK(agq_quarantine(&sp, bad, "junk", "again") == 0 &&
	    exists(root, "corrupt/junk.1") && exists(root, "corrupt/junk.1.why"),
	    "a second quarantine of a name does not overwrite");

	CHECK(agq_journal(&sp, "test", "t1", json_pack("{s:i}", "n", 1)) == 0,
	    "journal append");
	snprintf(other, sizeof other, "%s/journal", root);
	size_t len;
	char *j = agq_read_file(other, 1 << 20, &len, NULL);
	json_t *t1 = json_pack("{s:b}", "t1", 1);
	json_t *t2 = json_pack("{s:b, s:b}", "t2", 1, "t3", 1);
	json_t *evs = json_pack("{s:b, s:b}", "done", 1, "test", 1);
	CHECK(j && len > 0 && j[len - 1] == '\n' &&
	    agq_journal_match(j, len - 1, t1, 0, evs) == 1 &&
	    agq_journal_match(j, len - 1, t2, 0, NULL) == 0 &&
	    agq_journal_match(j, len - 1, NULL, 0, t2) == 0 &&
	    agq_journal_match("{torn", 5, NULL, 0, NULL) == -1, "journal line");
	json_decref(t1);
	json_decref(t2);
	json_decref(evs);
	free(j);

	int fd = agq_spool_flock(&sp, "sched", 0);
	CHECK(fd >= 0, "sched lock taken");
	pid = fork();
	if (pid == 0) {
		struct agq_spool sp2;
		agq_spool_open(&sp2, root, conf);
		_exit(agq_spool_flock(&sp2, "sched", 0) < 0 &&
		    errno == EWOULDBLOCK ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "sched lock is exclusive");
	close(fd);

	/* agq_each_task_par: 1,500 tasks over the lanes, each read once by
	 * one worker, through its directory's descriptor */
	static const char *lanes[] = { "urgent", "high", "normal", "low" };
	for (int i = 0; i < 1500; i++) {
		char doc[120];
		snprintf(doc, sizeof doc, "{\"id\":\"par-%d\",\"cmd\":\"true\","
		    "\"priority\":\"%s\"}", i, lanes[i % 4]);
		t = agq_task_parse(doc, strlen(doc), err, sizeof err);
		agq_task_normalize(t, agq_now_us());
		agq_deliver(&sp, t, 0, &where);
		json_decref(t);
	}
	static struct par_seen S;
	int total = 0;
	CHECK(agq_each_task_par(&sp, AGQ_ST_QUEUE, par_count, &S) == 0,
	    "each_task_par over the queue");
	agq_each_task(&sp, AGQ_ST_QUEUE, par_total, &total);
	int once = 1, sum = 0, workers = 0;
	for (int i = 0; i < 1500; i++)
		once &= S.hits[i] == 1;
	for (int w = 0; w < 8; w++) {
		sum += S.per_worker[w];
		workers += S.per_worker[w] > 0;
	}
	CHECK(once && !S.bad, "each task read once, by its id, dirfd open");
	CHECK(sum == total, "the workers saw what agq_each_task sees");
	CHECK(workers == (agq_each_task_workers() < 6 ?
	    agq_each_task_workers() : 6), "one worker per CPU (256 files each "
	    "at least)");
	agq_spool_close(&sp);

	/* configuration errors name the file and line */
	f = fopen(conf, "w");
	fputs("lease = 5\nleese = 3\n", f);
	fclose(f);
	struct agq_conf c;
	memset(&c, 0, sizeof c);
	fflush(stdout);
	int saved = dup(2);
	int devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, 2);
	int r1 = agq_conf_load(&c, conf);
	f = fopen(conf, "w");
	fputs("lease = soon\n", f);
	fclose(f);
	int r2 = agq_conf_load(&c, conf);
	int r3 = agq_conf_load(&c, "/nonexistent/agq.conf");
	dup2(saved, 2);
	close(devnull);
	close(saved);
	CHECK(r1 < 0, "unknown setting rejected");
	CHECK(r2 < 0, "bad number rejected");
	CHECK(r3 < 0, "a named missing file is an error");
	free(c.spool);

	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	DONE();
}
