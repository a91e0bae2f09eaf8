/* test_routine.c - lib/routine.c: the misfire decision with an injected
 * clock, jitter, slot names, and the fire pass on a spool: two processes
 * racing one slot, a crash between the claim and the submission. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "unit.h"
#include "util.h"
#include "spool.h"
#include "open.h"
#include "routine.h"

#define T0 ((int64_t)1798761600)        /* 2027-01-01T00:00:00Z */

static struct agq_rspec
every(int64_t s, int policy, int n)
{
	struct agq_rspec r;
	memset(&r, 0, sizeof r);
	r.name = "nightly";
	r.every_s = s;
	r.misfire = policy;
	r.catch_up = n;
	return r;
}

/* agq_routine_due's answer is N slots OUT... and SKIPPED from FIRST to
 * LAST. */
static void
due_is(const char *name, const struct agq_rspec *s, int64_t since,
       int64_t now, int n, const int64_t *want, int64_t skipped,
       int64_t first, int64_t last)
{
	int64_t out[128];
	struct agq_rmiss m;
	int got = agq_routine_due(s, since, now, out, 128, &m);
	int ok = got == n && m.skipped == skipped && (!skipped ||
	    (m.first == first && m.last == last));
	for (int i = 0; ok && i < n; i++)
		ok = out[i] == want[i];
	CHECK(ok, name);
	if (!ok) {
		printf("#   got %d:", got);
		for (int i = 0; i < got; i++)
			printf(" T0+%lld", (long long)(out[i] - T0));
		printf("; skipped %lld T0+%lld..T0+%lld\n", (long long)m.skipped,
		    (long long)(m.first - T0), (long long)(m.last - T0));
	}
}

static void
test_due(void)
{
	struct agq_rspec s = every(600, AGQ_MISFIRE_SKIP, 0);
	int64_t w[4];
	/* on time: within grace = min(60, 600 / 2) */
	w[0] = T0 + 600;
	due_is("on time fires", &s, T0, T0 + 600, 1, w, 0, 0, 0);
	due_is("60 s late is on time", &s, T0, T0 + 660, 1, w, 0, 0, 0);
	due_is("61 s late is a misfire: skip", &s, T0, T0 + 661, 0, w, 1,
	    T0 + 600, T0 + 600);
	due_is("not yet due", &s, T0, T0 + 599, 0, w, 0, 0, 0);
	/* down from T0 to T0+3610: six slots, the newest on time */
	w[0] = T0 + 3600;
	due_is("skip after a down period: the on-time slot", &s, T0,
	    T0 + 3610, 1, w, 5, T0 + 600, T0 + 3000);
	s = every(600, AGQ_MISFIRE_RUN_ONCE, 0);
	due_is("run-once with an on-time slot: it alone", &s, T0, T0 + 3610,
	    1, w, 5, T0 + 600, T0 + 3000);
	due_is("run-once, none on time: the newest missed", &s, T0,
	    T0 + 3700, 1, w, 5, T0 + 600, T0 + 3000);
	s = every(600, AGQ_MISFIRE_CATCH_UP, 2);
	w[0] = T0 + 2400; w[1] = T0 + 3000; w[2] = T0 + 3600;
	due_is("catch-up:2 and the on-time slot", &s, T0, T0 + 3610, 3, w, 3,
	    T0 + 600, T0 + 1800);
	w[0] = T0 + 3000; w[1] = T0 + 3600;
	due_is("catch-up:2, none on time", &s, T0, T0 + 3700, 2, w, 4,
	    T0 + 600, T0 + 2400);
	s = every(600, AGQ_MISFIRE_CATCH_UP, 100);
	w[0] = T0 + 600; w[1] = T0 + 1200;
	due_is("catch-up:100 with 2 missed: both, nothing skipped", &s, T0,
	    T0 + 1300, 2, w, 0, 0, 0);
	s = every(600, AGQ_MISFIRE_SKIP, 0);
	/* a clock stepped back before the last claimed slot */
	int64_t out[4];
	struct agq_rmiss m;
	CHECK(agq_routine_due(&s, T0 + 3600, T0 + 1000, out, 4, &m) == 0 &&
	    m.skipped == 0 && m.next_s == T0 + 4200,
	    "a clock stepped back fires nothing; next is after the last slot");
	/* down for a long time: counted without walking each slot */
	s = every(60, AGQ_MISFIRE_RUN_ONCE, 0);
	int64_t t = agq_mono_us();
	int n = agq_routine_due(&s, T0, T0 + 100000000, out, 4, &m);
	CHECK(n == 1 && out[0] == T0 + 100000000 - 100000000 % 60 &&
	    m.skipped == 100000000 / 60 - 1 && agq_mono_us() - t < 1000000,
	    "three years of minutes down: one fires, the rest counted");
	/* jitter: the same for a name and slot, below jitter_s */
	int64_t j1 = agq_routine_jitter("nightly", T0, 300);
	CHECK(j1 == agq_routine_jitter("nightly", T0, 300) && j1 >= 0 &&
	    j1 < 300, "jitter: the same every time, in [0, jitter)");
	int differ = 0;
	for (int i = 1; i < 20; i++)
		differ |= agq_routine_jitter("nightly", T0 + i * 600, 300) != j1;
	CHECK(differ, "jitter: slots differ");
	CHECK(agq_routine_jitter("nightly", T0, 0) == 0, "no jitter: 0");
	s = every(600, AGQ_MISFIRE_SKIP, 0);
	s.jitter_s = 300;
	int64_t j = agq_routine_jitter("nightly", T0 + 600, 300);
	w[0] = T0 + 600;
	due_is("jittered: not due before slot + jitter", &s, T0,
	    T0 + 600 + j - 1, 0, w, 0, 0, 0);
	due_is("jittered: due at slot + jitter", &s, T0, T0 + 600 + j, 1, w,
	    0, 0, 0);
	/* cron in a zone: 03:00 Berlin is 02:00Z in winter */
	struct agq_rspec c;
	memset(&c, 0, sizeof c);
	char err[200];
	c.name = "nightly";
	c.tz = "Europe/Berlin";
	c.misfire = AGQ_MISFIRE_CATCH_UP;
	c.catch_up = 5;
	CHECK(agq_cron_parse("0 3 * * *", &c.cron, err, sizeof err) == 0,
	    "cron parses");
	w[0] = T0 + 2 * 3600; w[1] = T0 + 86400 + 2 * 3600;
	due_is("cron catch-up: two missed nights", &c, T0, T0 + 2 * 86400, 2,
	    w, 0, 0, 0);
	/* slot names */
	char b[20];
	CHECK(!strcmp(agq_routine_slot_name(T0 + 3 * 3600 + 5, b),
	    "20270101T030005Z") && agq_routine_slot_parse(b) == T0 + 3 * 3600
	    + 5, "slot names: YYYYMMDDTHHMMSSZ and back");
	CHECK(agq_routine_slot_parse("now-1") == -1, "a now- slot is not one");
	int p, k;
	CHECK(agq_routine_misfire_parse("catch-up:100", &p, &k) == 0 &&
	    p == AGQ_MISFIRE_CATCH_UP && k == 100 &&
	    agq_routine_misfire_parse("catch-up:0", &p, &k) < 0 &&
	    agq_routine_misfire_parse("catch-up:101", &p, &k) < 0 &&
	    agq_routine_misfire_parse("sometimes", &p, &k) < 0,
	    "misfire policies");
	CHECK(agq_routine_name_valid("nightly-1.x") &&
	    !agq_routine_name_valid("Nightly") &&
	    !agq_routine_name_valid("-x") && !agq_routine_name_valid("") &&
	    !agq_routine_name_valid("a234567890123456789012345678901234567890"
	    "1"), "routine names");
}

/* Lines of the journal of SP with EV. */
static int
events(const struct agq_spool *sp, const char *ev)
{
	char *p = agq_spool_path(sp, "journal");
	size_t len;
	char *j = agq_read_file(p, 1 << 24, &len, NULL);
	free(p);
	char pat[64];
	snprintf(pat, sizeof pat, "\"ev\":\"%s\"", ev);
	int n = 0;
	for (char *q = j; q && (q = strstr(q, pat)); q++)
		n++;
	free(j);
	return n;
}

static int
exists(const struct agq_spool *sp, const char *rel)
{
	char *p = agq_spool_path(sp, "%s", rel);
	int r = access(p, F_OK) == 0;
	free(p);
	return r;
}

static void
test_spool(void)
{
	char dir[] = "/tmp/agq-test-routine-XXXXXX";
	if (!mkdtemp(dir))
		exit(2);
	char *root = agq_xasprintf("%s/spool", dir);
	struct agq_spool sp;
	if (agq_spool_open(&sp, root, NULL) < 0)
		exit(2);
	char since[40];
	agq_fmt_time(T0 * 1000000, since);
	json_t *r = json_pack("{s:s, s:i, s:s, s:{s:[s]}, s:s, s:i, s:{s:{s:i}}}",
	    "name", "race", "every_s", 600, "misfire", "skip", "task", "cmd",
	    "true", "since", since, "rev", 1, "created", "by", "uid",
	    (int)getuid());
	char err[300];
	CHECK(agq_routine_check(r, err, sizeof err) == 0, "a record checks");
	CHECK(agq_routine_write(&sp, r, 1) == 0, "written");
	CHECK(agq_routine_write(&sp, r, 1) < 0 && errno == EEXIST,
	    "written once (noreplace)");
	/* four processes race the slot T0+600 */
	int gate[2];
	if (pipe(gate) < 0)
		exit(2);
	pid_t kids[4];
	for (int i = 0; i < 4; i++) {
		if ((kids[i] = fork()) == 0) {
			char c;
			close(gate[1]);
			(void)read(gate[0], &c, 1);
			int64_t next;
			agq_routine_pass(&sp, T0 + 601, 0, &next);
			_exit(0);
		}
	}
	close(gate[0]);
	close(gate[1]);         /* all go */
	for (int i = 0; i < 4; i++)
		waitpid(kids[i], NULL, 0);
	json_t *cl = agq_routine_claims(&sp, "race", 0);
	CHECK(json_array_size(cl) == 1 && !strcmp(json_string_value(
	    json_object_get(json_array_get(cl, 0), "slot")),
	    "20270101T001000Z") && json_object_get(json_array_get(cl, 0),
	    "submitted"), "four racing passes: one claim, submitted");
	json_decref(cl);
	struct agq_loc loc;
	CHECK(agq_task_find(&sp, "r-race-20270101T001000Z", &loc) == 0,
	    "its task r-NAME-SLOT is queued");
	CHECK(events(&sp, "routine_fire") == 1 && events(&sp, "submit") == 1,
	    "one routine_fire, one submit");
	int64_t next = 0;
	CHECK(agq_routine_pass(&sp, T0 + 610, 1, &next) == 0 &&
	    next == T0 + 1200, "again: nothing; next due T0+1200");

	/* a crash between the claim and the submission */
	pid_t k = fork();
	if (k == 0) {
		setenv("AGQ_ROUTINE_CRASH", "after-claim", 1);
		agq_routine_pass(&sp, T0 + 1200, 0, &next);
		_exit(0);
	}
	int st;
	waitpid(k, &st, 0);
	CHECK(WIFSIGNALED(st) && exists(&sp,
	    "routines/race.slots/20270101T002000Z") &&
	    agq_task_find(&sp, "r-race-20270101T002000Z", &loc) < 0,
	    "killed after the claim: claimed, no task");
	CHECK(agq_routine_pass(&sp, T0 + 1210, 0, &next) == 0 &&
	    agq_task_find(&sp, "r-race-20270101T002000Z", &loc) < 0,
	    "a pass without recovery does not fire the claimed slot again");
	agq_routine_pass(&sp, T0 + 1210, 1, &next);
	CHECK(agq_task_find(&sp, "r-race-20270101T002000Z", &loc) == 0 &&
	    events(&sp, "submit") == 2, "recovery submits it");
	agq_routine_pass(&sp, T0 + 1210, 1, &next);
	CHECK(events(&sp, "submit") == 2, "once");

	/* skip after a down period: a skipped claim, journaled once */
	agq_routine_pass(&sp, T0 + 5000, 0, &next);
	agq_routine_pass(&sp, T0 + 5001, 1, &next);
	cl = agq_routine_claims(&sp, "race", 0);
	json_t *last = json_array_get(cl, json_array_size(cl) - 1);
	CHECK(events(&sp, "routine_misfire") == 1 && json_integer_value(
	    json_object_get(last, "skipped")) == 6 && !strcmp(json_string_value(
	    json_object_get(last, "slot")), "20270101T012000Z"),
	    "a misfire: the newest missed slot claimed as skipped, one event");
	json_decref(cl);
	int64_t lastslot;
	CHECK(agq_routine_last(&sp, "race", &lastslot) == 0 &&
	    lastslot == T0 + 4800, "the last slot");

	/* claims past AGQ_ROUTINE_KEEP + 100 pruned to the newest
	 * AGQ_ROUTINE_KEEP once a slot fires; the newest N read alone */
	json_t *kr = json_pack("{s:s, s:i, s:{s:[s]}, s:s, s:i}", "name", "keep",
	    "every_s", 60, "task", "cmd", "true", "since", since, "rev", 1);
	agq_routine_write(&sp, kr, 1);
	char *kd = agq_spool_path(&sp, "routines/keep.slots");
	char *ktmp = agq_spool_path(&sp, "tmp");
	agq_mkdirs(kd, 0700);
	for (int i = 1; i <= AGQ_ROUTINE_KEEP + 150; i++) {
		char sl[20];
		agq_routine_slot_name(T0 + 60 * i, sl);
		char *kp = agq_xasprintf("%s/%s", kd, sl);
		json_t *kc = json_pack("{s:s, s:s}", "slot", sl, "submitted", "x");
		agq_write_json(ktmp, kp, kc, 0, 0, 0);
		json_decref(kc);
		free(kp);
	}
	agq_routine_pass(&sp, T0 + 60 * (AGQ_ROUTINE_KEEP + 151) + 1, 0, &next);
	cl = agq_routine_claims(&sp, "keep", 0);
	char want[20];
	agq_routine_slot_name(T0 + 60 * (AGQ_ROUTINE_KEEP + 151), want);
	CHECK(json_array_size(cl) == AGQ_ROUTINE_KEEP && !strcmp(
	    json_string_value(json_object_get(json_array_get(cl,
	    AGQ_ROUTINE_KEEP - 1), "slot")), want), "claims pruned to the newest");
	json_decref(cl);
	cl = agq_routine_claims(&sp, "keep", 3);
	CHECK(json_array_size(cl) == 3 && !strcmp(json_string_value(
	    json_object_get(json_array_get(cl, 2), "slot")), want),
	    "the newest 3 claims alone");
	json_decref(cl);
	json_decref(kr);
	free(kd);
	free(ktmp);
	char *kf = agq_spool_path(&sp, "routines/keep.json");
	unlink(kf);
	free(kf);

	/* paused, pending approval: nothing */
	json_object_set_new(r, "paused", json_true());
	agq_routine_write(&sp, r, 0);
	CHECK(agq_routine_pass(&sp, T0 + 5400, 0, &next) == 0, "paused: none");
	json_object_set_new(r, "paused", json_false());
	json_object_set_new(r, "approval", json_string("pending"));
	agq_routine_write(&sp, r, 0);
	CHECK(agq_routine_pass(&sp, T0 + 5400, 0, &next) == 0,
	    "pending approval: none");
	json_decref(r);
	json_t *l = agq_routine_list(&sp);
	CHECK(json_array_size(l) == 1, "listed");
	json_decref(l);
	/* approval is needed for network backends and git */
	json_t *t = J("{\"cmd\": \"true\"}");
	CHECK(!agq_routine_needs_approval(t), "a shell command: no approval");
	json_decref(t);
	t = J("{\"prompt\": \"x\", \"backend\": \"claude\"}");
	CHECK(agq_routine_needs_approval(t), "claude: approval");
	json_decref(t);
	t = J("{\"cmd\": \"true\", \"git\": {\"repo\": \"/r\"}}");
	CHECK(agq_routine_needs_approval(t), "git: approval");
	json_decref(t);
	agq_spool_close(&sp);
	free(root);
	char *rm = agq_xasprintf("rm -rf %s", dir);
	if (system(rm) != 0)
		printf("# cannot remove %s\n", dir);
	free(rm);
}

int
main(void)
{
	test_due();
	test_spool();
	DONE();
}
