/* test_deps.c - deps.c: the decision over a task's parents, branch by
 * branch; the batch's order and its cycles; the edges and a parent's
 * state read from a spool. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "unit.h"
#include "util.h"
#include "spool.h"
#include "open.h"
#include "task.h"
#include "deps.h"

/* The parents' states of a test: an object id -> [pstate, reason]. */
static int
fake_state(const char *id, char *reason, size_t size, void *arg)
{
	json_t *e = json_object_get(arg, id);
	if (!e) {
		errno = EIO;
		return -1;
	}
	snprintf(reason, size, "%s", json_string_value(json_array_get(e, 1)) ?
	    json_string_value(json_array_get(e, 1)) : "");
	return (int)json_integer_value(json_array_get(e, 0));
}

/* The decision over TASK (JSON text) with the parents' states STATES
 * (JSON text, id -> [pstate, reason]). */
static struct agq_dep
decide(const char *task, const char *states)
{
	json_t *t = J(task), *s = J(states);
	struct agq_dep d;
	if (agq_dep_decide(t, fake_state, s, &d) < 0)
		d.decision = -1;
	json_decref(t);
	json_decref(s);
	return d;
}

static void
test_decide(void)
{
	/* pstates: 0 pending, 1 done, 2 dead, 3 cancelled, 4 gone */
	struct agq_dep d = decide("{\"id\":\"c\"}", "{}");
	CHECK(d.decision == AGQ_DEP_RELEASE, "no after: release");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\",\"b\"]}", "{\"a\":[1],\"b\":[1]}");
	CHECK(d.decision == AGQ_DEP_RELEASE && !d.blocked_on &&
	    !strcmp(d.reason, "parents done"), "all done: release");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\",\"b\",\"c\"]}",
	    "{\"a\":[1],\"b\":[0],\"c\":[0]}");
	CHECK(d.decision == AGQ_DEP_WAIT && json_array_size(d.blocked_on) == 2 &&
	    !strcmp(json_string_value(json_array_get(d.blocked_on, 0)), "b") &&
	    !strcmp(d.reason, "waiting for parents b, c"),
	    "some pending: wait, blocked_on the pending ones in order");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\",\"b\"]}",
	    "{\"a\":[0],\"b\":[2,\"exit 1\"]}");
	CHECK(d.decision == AGQ_DEP_CANCEL && !strcmp(d.parent, "b") &&
	    d.pstate == AGQ_DEP_DEAD &&
	    !strcmp(d.reason, "parent b ended dead: exit 1"),
	    "a parent dead, default: cancel at once, the parent named");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\"],\"on_dep_fail\":\"cancel\"}",
	    "{\"a\":[3,\"cancelled by ann\"]}");
	CHECK(d.decision == AGQ_DEP_CANCEL && d.pstate == AGQ_DEP_CANCELLED &&
	    !strcmp(d.reason, "parent a ended cancelled: cancelled by ann"),
	    "a parent cancelled: cancel, state cancelled");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\",\"b\"],\"on_dep_fail\":\"hold\"}",
	    "{\"a\":[2,\"boom\"],\"b\":[0]}");
	CHECK(d.decision == AGQ_DEP_HOLD && !strcmp(d.parent, "a") &&
	    !strcmp(d.reason, "held: parent a ended dead: boom"),
	    "hold: hold at once, the parent named");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\",\"b\"],\"on_dep_fail\":\"run\"}",
	    "{\"a\":[2,\"boom\"],\"b\":[0]}");
	CHECK(d.decision == AGQ_DEP_WAIT && json_array_size(d.blocked_on) == 1 &&
	    !d.parent[0], "run, a parent dead, another pending: wait for it");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\",\"b\"],\"on_dep_fail\":\"run\"}",
	    "{\"a\":[2,\"boom\"],\"b\":[1]}");
	CHECK(d.decision == AGQ_DEP_RUN && !strcmp(d.parent, "a") &&
	    !strcmp(d.reason, "parent a ended dead: boom; run anyway "
	    "(on_dep_fail run)"), "run, all ended, one dead: run");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\"]}", "{\"a\":[4]}");
	CHECK(d.decision == AGQ_DEP_CANCEL && d.pstate == AGQ_DEP_GONE &&
	    strstr(d.reason, "parent a is gone"),
	    "a parent gone: failed, never waited for");
	agq_dep_free(&d);
	d = decide("{\"after\":[\"a\"]}", "{}");
	CHECK(d.decision == -1 && errno == EIO, "the state function's error");
	CHECK(!strcmp(agq_dep_decision_name(AGQ_DEP_RUN), "run") &&
	    !strcmp(agq_dep_pstate_name(AGQ_DEP_GONE), "gone"), "names");
}

/* The order of the batch TEXT (a JSON array of tasks) as ids, "a b c", or
 * the error. */
static void
order(const char *text, char *out, size_t size)
{
	json_t *a = J(text);
	size_t n = json_array_size(a), ord[16], bad = 99, len = 0;
	json_t *v[16];
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(a, i);
	char err[300];
	if (agq_dep_batch_order(v, n, ord, &bad, err, sizeof err) < 0) {
		snprintf(out, size, "%s (at %zu)", err, bad);
	} else {
		out[0] = '\0';
		for (size_t i = 0; i < n; i++)
			len += (size_t)snprintf(out + len, size - len, "%s%s",
			    i ? " " : "", json_string_value(json_object_get(
			    v[ord[i]], "id")));
	}
	json_decref(a);
}

static void
test_batch(void)
{
	char o[400];
	order("[{\"id\":\"a\"},{\"id\":\"b\"}]", o, sizeof o);
	CHECK(!strcmp(o, "a b"), "no edges: batch order");
	order("[{\"id\":\"c\",\"after\":[\"b\"]},{\"id\":\"b\",\"after\":"
	    "[\"a\"]},{\"id\":\"a\"}]", o, sizeof o);
	CHECK(!strcmp(o, "a b c"), "later ids first: parents before");
	order("[{\"id\":\"d\",\"after\":[\"b\",\"c\"]},{\"id\":\"b\",\"after\":"
	    "[\"a\"]},{\"id\":\"c\",\"after\":[\"a\"]},{\"id\":\"a\"}]", o,
	    sizeof o);
	CHECK(!strcmp(o, "a b c d"), "a diamond");
	order("[{\"id\":\"x\",\"after\":[\"elsewhere\"]}]", o, sizeof o);
	CHECK(!strcmp(o, "x"), "a parent outside the batch: not an edge here");
	order("[{\"id\":\"a\",\"after\":[\"c\"]},{\"id\":\"b\",\"after\":"
	    "[\"a\"]},{\"id\":\"c\",\"after\":[\"b\"]}]", o, sizeof o);
	CHECK(!strcmp(o, "field after: a cycle in the batch: a -> c -> b -> a "
	    "(at 0)"), "a cycle of three named");
	order("[{\"id\":\"z\"},{\"id\":\"a\",\"after\":[\"b\"]},{\"id\":\"b\","
	    "\"after\":[\"a\"]}]", o, sizeof o);
	CHECK(!strncmp(o, "field after: a cycle in the batch: a -> b -> a", 45),
	    "a cycle of two after a good task");
	/* a chain of 100,000 (no recursion) */
	size_t n = 100000;
	json_t **v = malloc(n * sizeof *v);
	size_t *ord = malloc(n * sizeof *ord), bad;
	char id[32], pid[32], err[200];
	for (size_t i = 0; i < n; i++) {
		snprintf(id, sizeof id, "t%zu", i);
		snprintf(pid, sizeof pid, "t%zu", i + 1);
		v[i] = i + 1 < n ? json_pack("{s:s, s:[s]}", "id", id, "after",
		    pid) : json_pack("{s:s}", "id", id);
	}
	int r = agq_dep_batch_order(v, n, ord, &bad, err, sizeof err);
	CHECK(r == 0 && ord[0] == n - 1 && ord[n - 1] == 0,
	    "a chain of 100,000 given child first: ordered parents first");
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
	free(v);
	free(ord);
}

static int
count_kid(const char *c, void *arg)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static void
test_spool(void)
{
	char dir[] = "/tmp/test_deps.XXXXXX";
	if (!mkdtemp(dir))
		exit(2);
	struct agq_spool sp;
	char root[64];
	snprintf(root, sizeof root, "%s/sp", dir);
	if (agq_spool_open(&sp, root, "/dev/null") < 0) {
		printf("cannot open a spool in %s\n", root);
		exit(2);
	}
	char reason[100];
	CHECK(agq_dep_parent_state("nope", reason, sizeof reason, &sp) ==
	    AGQ_DEP_GONE, "nowhere: gone");
	json_t *p = J("{\"id\":\"p\",\"cmd\":\"true\"}");
	agq_task_normalize(p, 1000000);
	int where;
	agq_deliver(&sp, p, 0, &where);
	CHECK(agq_dep_parent_state("p", reason, sizeof reason, &sp) ==
	    AGQ_DEP_PENDING, "queued: pending");
	json_t *c = J("{\"id\":\"c\",\"cmd\":\"true\",\"after\":[\"p\"]}");
	agq_task_normalize(c, 1000000);
	struct agq_dep d;
	char err[200];
	CHECK(agq_dep_prepare(&sp, c, &d, 1, err, sizeof err) == 0 &&
	    d.decision == AGQ_DEP_WAIT && json_array_size(json_object_get(c,
	    "blocked_on")) == 1, "prepare: waits, blocked_on set");
	agq_dep_free(&d);
	struct stat st;
	char path[200];
	snprintf(path, sizeof path, "%s/deps/p/c", root);
	CHECK(stat(path, &st) == 0, "the edge deps/p/c written");
	agq_deliver(&sp, c, 0, &where);
	CHECK(where == AGQ_ST_BLOCKED, "delivered into blocked/");
	int kids = 0;
	agq_dep_children(&sp, "p", count_kid, &kids);
	CHECK(kids == 1, "p's dependents: c");
	CHECK(agq_dep_settle(&sp, "c", NULL) == AGQ_DEP_WAIT,
	    "settled while p is queued: waits");
	snprintf(path, sizeof path, "%s/deps/p/c", root);
	unlink(path);
	CHECK(agq_dep_settle(&sp, "c", NULL) == AGQ_DEP_WAIT &&
	    stat(path, &st) == 0, "an edge lost in a crash: written again");
	/* p done, by hand */
	char from[200], to[200];
	snprintf(from, sizeof from, "%s/queue/normal/p.json", root);
	snprintf(to, sizeof to, "%s/done/p.json", root);
	CHECK(rename(from, to) == 0 && agq_dep_parent_state("p", reason,
	    sizeof reason, &sp) == AGQ_DEP_DONE, "in done/: done");
	CHECK(agq_dep_settle(&sp, "c", "p") == AGQ_DEP_RELEASE,
	    "settled once p is done: released");
	snprintf(path, sizeof path, "%s/queue/normal/c.json", root);
	json_t *t = agq_task_read(path);
	CHECK(t && !json_object_get(t, "blocked_on") && !strcmp(
	    json_string_value(json_object_get(t, "reason")), "parents done"),
	    "c in its lane, blocked_on gone");
	json_decref(t);
	snprintf(path, sizeof path, "%s/deps/p", root);
	CHECK(stat(path, &st) < 0 && errno == ENOENT,
	    "its edge and the empty deps/p/ removed");
	CHECK(agq_dep_settle(&sp, "c", "p") == -2, "c not blocked: -2");
	/* a dead parent, and a child submitted after it ended */
	snprintf(from, sizeof from, "%s/done/p.json", root);
	snprintf(to, sizeof to, "%s/dead/p.json", root);
	t = agq_task_read(from);
	json_object_set_new(t, "reason", json_string("exit 3"));
	char *s = json_dumps(t, 0);
	FILE *f = fopen(to, "w");
	fputs(s, f);
	fclose(f);
	free(s);
	json_decref(t);
	unlink(from);
	json_t *k = J("{\"id\":\"k\",\"cmd\":\"true\",\"after\":[\"p\"],"
	    "\"on_dep_fail\":\"hold\"}");
	agq_task_normalize(k, 1000000);
	CHECK(agq_dep_prepare(&sp, k, &d, 0, err, sizeof err) == 0 &&
	    d.decision == AGQ_DEP_HOLD, "a parent already dead: hold");
	agq_dep_free(&d);
	agq_deliver(&sp, k, 0, &where);
	CHECK(where == AGQ_ST_HOLD && !strcmp(json_string_value(json_object_get(
	    json_object_get(k, "dep_failed"), "state")), "dead"),
	    "delivered into hold/, dep_failed says so");
	json_t *u = J("{\"id\":\"u\",\"cmd\":\"true\",\"after\":[\"zz\"]}");
	CHECK(agq_dep_prepare(&sp, u, &d, 1, err, sizeof err) == 1 &&
	    strstr(err, "field after: zz: no such task"),
	    "an unknown parent: refused, the field named");
	json_decref(p);
	json_decref(c);
	json_decref(k);
	json_decref(u);
	agq_spool_close(&sp);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		exit(2);
}

int
main(void)
{
	test_decide();
	test_batch();
	test_spool();
	DONE();
}
