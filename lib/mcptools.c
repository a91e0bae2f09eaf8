/* mcptools.c - agq-mcp(1)'s tools (mcptools.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "util.h"
#include "paths.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "wake.h"
#include "archive.h"
#include "submit.h"
#include "mcp.h"
#include "plan.h"
#include "mcptools.h"

extern char **environ;

/* Journal the call of TOOL by the calling task: `mcp_call` {tool, ok,
 * subtask (SUB, may be NULL), error (ERR when RC < 0)}; returns RC. */
static int
logged(const struct agq_mcp_ctx *c, const char *tool, int rc,
       const char *sub, const char *err)
{
	json_t *x = json_pack("{s:s, s:b}", "tool", tool, "ok", rc == 0);
	if (sub)
		json_object_set_new(x, "subtask", json_string(sub));
	if (rc < 0)
		json_object_set_new(x, "error", json_string(err));
	agq_journal_w(c->sp, "mcp_call", c->task, x);
	return rc;
}

void
agq_mcp_subtask_id(const char *parent, int n, char *id)
{
	char suffix[16];
	int k = snprintf(suffix, sizeof suffix, "-s%d", n);
	int room = 64 - k;
	snprintf(id, 65, "%.*s%s", room, parent, suffix);
}

/* The task ID's file read (a new reference) and its state in *STATE
 * (AGQ_ST_*, or for an archived one AGQ_ST_DONE / AGQ_ST_DEAD); NULL
 * with errno ENOENT when there is no such task. */
static json_t *
task_get(const struct agq_spool *sp, const char *id, int *state)
{
	struct agq_loc loc;
	json_t *t = agq_task_find_settled(sp, id, &loc, AGQ_SETTLE_VIEW_MS);
	if (t) {
		*state = loc.state;
		return t;
	}
	json_t *rec = agq_archive_find(sp, id, NULL);
	if (!rec) {
		errno = ENOENT;
		return NULL;
	}
	const char *st = json_string_value(json_object_get(rec, "state"));
	*state = st && !strcmp(st, "done") ? AGQ_ST_DONE : AGQ_ST_DEAD;
	return rec;
}

/* ---- agq_submit ------------------------------------------------------ */

/* The subtask of ARGS as a task object (a new reference): its fields,
 * a "verify" string taken as a command_succeeds step, and what it
 * inherits from the calling task CALLER (may be NULL): git's repo and
 * base, mission; without git, the caller's cwd (else agq-mcp's). */
static json_t *
subtask(const json_t *args, const json_t *caller)
{
	json_t *t = json_deep_copy(args);
	json_t *v = json_object_get(t, "verify");
	size_t i;
	json_t *s;
	json_array_foreach(v, i, s)
		if (json_is_string(s))
			json_array_set_new(v, i, json_pack("{s:s, s:O}", "type",
			    "command_succeeds", "cmd", s));
	json_t *git = json_object_get(caller, "git");
	if (json_is_object(git)) {
		json_t *g = json_object();
		json_t *r = json_object_get(git, "repo"),
		    *b = json_object_get(git, "base");
		if (r)
			json_object_set(g, "repo", r);
		if (b)
			json_object_set(g, "base", b);
		json_object_set_new(t, "git", g);
	} else {
		json_t *cwd = json_object_get(caller, "cwd");
		char here[PATH_MAX];
		if (cwd)
			json_object_set(t, "cwd", cwd);
		else if (getcwd(here, sizeof here))
			json_object_set_new(t, "cwd", json_string(here));
	}
	json_t *mission = json_object_get(caller, "mission");
	if (mission && !json_object_get(t, "mission"))
		json_object_set(t, "mission", mission);
	return t;
}

/* Deliver T (valid, with its parent set) as the calling task's next
 * subtask: the first derived id not taken, 1..C->max.  0 with ID set;
 * 1 the budget is spent; 2 refused (ERR); -1 failed (ERR). */
static int
submit_derived(const struct agq_mcp_ctx *c, json_t *t, char *id,
               char *err, size_t size)
{
	struct agq_loc loc;
	for (int n = 1; n <= c->max; n++) {
		agq_mcp_subtask_id(c->task, n, id);
		if (agq_task_find(c->sp, id, &loc) == 0)
			continue;
		json_t *one = json_deep_copy(t);
		json_object_set_new(one, "id", json_string(id));
		int where;
		int r = agq_submit_deliver(c->sp, one, agq_submit_normalize(one,
		    1), "mcp", &where, err, size);
		json_decref(one);
		if (r != 1)     /* 1: taken meanwhile (a race): the next n */
			return r;
	}
	return 1;
}

static int
t_submit(void *ctx, const json_t *args, json_t **res, char *err,
         size_t size)
{
	const struct agq_mcp_ctx *c = ctx;
	json_t *caller = NULL;
	int st;
	if (c->task && !(caller = task_get(c->sp, c->task, &st))) {
		agq_errf(err, size, "the calling task %s ($AGQ_TASK_ID): %s",
		    c->task, strerror(errno));
		return logged(c, "agq_submit", -1, NULL, err);
	}
	if (!json_object_get(args, "prompt") && !json_object_get(args, "cmd")) {
		json_decref(caller);
		agq_errf(err, size, "field prompt: missing (or cmd): what the "
		    "subtask is to do");
		return logged(c, "agq_submit", -1, NULL, err);
	}
	json_t *t = subtask(args, caller);
	json_decref(caller);
	char id[65] = "";
	int rc = -1;
	if (agq_submit_valid(t, err, size) < 0)
		goto out;
	if (!c->task) {         /* a person's: no parent, no budget */
		int where;
		rc = agq_submit_deliver(c->sp, t, agq_submit_normalize(t, 1),
		    "mcp", &where, err, size);
		snprintf(id, sizeof id, "%s", agq_task_id(t));
	} else {
		json_object_set_new(t, "parent", json_string(c->task));
		rc = submit_derived(c, t, id, err, size);
		if (rc == 1)
			agq_errf(err, size, "budget: task %s has submitted its "
			    "%d subtasks (agq.conf mcp_max_subtasks); no more",
			    c->task, c->max);
	}
	rc = rc == 0 ? 0 : -1;
	if (rc == 0) {
		int where;
		json_t *now = task_get(c->sp, id, &where);
		*res = json_pack("{s:s, s:s}", "id", id, "state",
		    now ? agq_state_name(where) : "submitted");
		json_decref(now);
	}
out:
	json_decref(t);
	return logged(c, "agq_submit", rc, rc == 0 ? id : NULL, err);
}

/* ---- agq_show, agq_wait ---------------------------------------------- */

static int
t_show(void *ctx, const json_t *args, json_t **res, char *err, size_t size)
{
	const struct agq_mcp_ctx *c = ctx;
	const char *id = json_string_value(json_object_get(args, "id"));
	int st, rc = 0;
	json_t *t = agq_id_valid(id) ? task_get(c->sp, id, &st) : NULL;
	if (!agq_id_valid(id))
		rc = agq_errf(err, size, "field id: not a task id "
		    "([A-Za-z0-9._-]{1,64})");
	else if (!t)
		rc = agq_errf(err, size, "field id: no task %s", id);
	else
		*res = json_pack("{s:s, s:s, s:o}", "id", id, "state",
		    agq_state_name(st), "task", t);
	return logged(c, "agq_show", rc, NULL, err);
}

static int
ended(int st)
{
	return st == AGQ_ST_DONE || st == AGQ_ST_DEAD;
}

/* The states of IDS into STATES (id -> state name); how many ended, or
 * -1 with ERR naming the first id that is no task. */
static int
look(const struct agq_mcp_ctx *c, const json_t *ids, json_t *states,
     char *err, size_t size)
{
	size_t i, n = 0;
	json_t *v;
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);
		int st;
		json_t *t = agq_id_valid(id) ? task_get(c->sp, id, &st) : NULL;
		if (!t)
			return agq_errf(err, size, "field ids[%zu]: no task %s",
			    i, agq_id_valid(id) ? id : "(not a task id)");
		json_decref(t);
		json_object_set_new(states, id, json_string(agq_state_name(st)));
		n += ended(st);
	}
	return (int)n;
}

static int
t_wait(void *ctx, const json_t *args, json_t **res, char *err, size_t size)
{
	const struct agq_mcp_ctx *c = ctx;
	json_t *ids = json_object_get(args, "ids");
	json_t *to = json_object_get(args, "timeout_s");
	double timeout = to ? json_number_value(to) : 60;
	static const struct agq_watch watched[] = {
		{ "done", IN_MOVED_TO | IN_CREATE },
		{ "dead", IN_MOVED_TO | IN_CREATE },
		{ NULL, 0 } };
	int watching = agq_watch_spool(c->sp, watched) == 0;
	int64_t start = agq_mono_us();
	json_t *states = json_object();
	int n, rc = 0;
	/* looked up at start, then at each event in done/ or dead/ and
	 * at least once a second (an event may be missed) */
	while ((n = look(c, ids, states, err, size)) >= 0 &&
	    (size_t)n < json_array_size(ids) &&
	    agq_mono_us() - start < (int64_t)(timeout * 1e6)) {
		if (watching)
			inotifytools_next_event(1);
		else
			sleep(1);
	}
	if (watching)
		inotifytools_cleanup();
	if (n < 0) {
		rc = -1;
		json_decref(states);
	} else {
		*res = json_pack("{s:b, s:o}", "all_ended",
		    (size_t)n == json_array_size(ids), "states", states);
	}
	return logged(c, "agq_wait", rc, NULL, err);
}

/* ---- plans (plan.h), and the sibling program agq-mission ------------- */

/* PROG as agq(1) finds a command: beside this program, in the compiled-in
 * bin directory, else by name in $PATH.  malloc'd. */
static char *
sibling(const char *prog)
{
	char *p = agq_exe_path(prog);
	if (p)
		return p;
	p = agq_xasprintf("%s/%s", agq_bindir, prog);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return agq_xstrdup(prog);
}

/* Run ARGV (ARGV[0] a sibling's name) with IN (may be NULL) on its
 * standard input; its standard output into *OUT and the last line of
 * its standard error into LAST (SIZE bytes), malloc'd.  Its exit status
 * (0..255, 127: it could not be run), or -1 with ERR. */
static int
run_sibling(char **argv, const char *in, char **out, char *last,
            size_t size, char *err, size_t esize)
{
	FILE *fi = tmpfile(), *fo = tmpfile(), *fe = tmpfile();
	int rc = -1;
	*out = NULL;
	last[0] = '\0';
	if (!fi || !fo || !fe || (in && fputs(in, fi) < 0) || fflush(fi) ||
	    lseek(fileno(fi), 0, SEEK_SET) < 0) {
		agq_errf(err, esize, "cannot make a temporary file: %s",
		    strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fileno(fi), 0);
	posix_spawn_file_actions_adddup2(&fa, fileno(fo), 1);
	posix_spawn_file_actions_adddup2(&fa, fileno(fe), 2);
	char *path = sibling(argv[0]);
	pid_t pid;
	int e = strchr(path, '/') ? posix_spawn(&pid, path, &fa, NULL, argv,
	    environ) : posix_spawnp(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (e) {
		agq_errf(err, esize, "cannot run %s: %s", path, strerror(e));
		free(path);
		goto out;
	}
	free(path);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	size_t len;
	*out = agq_read_fd(fileno(fo), (size_t)64 << 20, &len);
	char *e2 = agq_read_fd(fileno(fe), (size_t)1 << 20, &len);
	if (e2) {
		while (len > 0 && e2[len - 1] == '\n')
			e2[--len] = '\0';
		char *nl = strrchr(e2, '\n');
		snprintf(last, size, "%s", nl ? nl + 1 : e2);
		free(e2);
	}
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
out:
	if (fi)
		fclose(fi);
	if (fo)
		fclose(fo);
	if (fe)
		fclose(fe);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* The output OUT of a sibling as JSON: parsed when it is JSON, else the
 * text (a new reference). */
static json_t *
as_json(const char *out)
{
	json_t *j = json_loads(out ? out : "", JSON_DECODE_ANY, NULL);
	return j ? j : json_string(out ? out : "");
}

/* The answer of plan operation TOOL on plan NAME whose library call
 * (plan.h) returned R with revision REV: 0 -> *RES {plan: NAME, result:
 * REV}; AGQ_PLAN_CONFLICT -> "conflict: expected IF_REV, current REV";
 * AGQ_PLAN_ABSENT -> no such plan; AGQ_PLAN_BADPATCH -> WHY; -1 -> the
 * errno.  Journaled (mcp_call). */
static int
plan_answer(const struct agq_mcp_ctx *c, const char *tool, int r,
            const char *name, long if_rev, long rev, const char *why,
            json_t **res, char *err, size_t size)
{
	int rc = 0;
	if (r == 0)
		*res = json_pack("{s:s, s:I}", "plan", name, "result",
		    (json_int_t)rev);
	else if (r == AGQ_PLAN_CONFLICT)
		rc = agq_errf(err, size, "conflict: expected %ld, current %ld: "
		    "read the plan again (agq_plan_get) and retry", if_rev, rev);
	else if (r == AGQ_PLAN_ABSENT)
		rc = agq_errf(err, size, "field name: no plan %s", name);
	else if (r == AGQ_PLAN_BADPATCH)
		rc = agq_errf(err, size, "field patch: %s", why);
	else
		rc = agq_errf(err, size, "plan %s: %s", name, strerror(errno));
	return logged(c, tool, rc, NULL, err);
}

static int
plan_name(const json_t *args, char *err, size_t size)
{
	if (agq_plan_name_valid(json_string_value(json_object_get(args, "name"))))
		return 0;
	return agq_errf(err, size, "field name: not a plan name "
	    "([A-Za-z0-9._-]{1,64})");
}

static int
t_plan_get(void *ctx, const json_t *args, json_t **res, char *err,
           size_t size)
{
	const struct agq_mcp_ctx *c = ctx;
	if (plan_name(args, err, size) < 0)
		return logged(c, "agq_plan_get", -1, NULL, err);
	const char *name = json_string_value(json_object_get(args, "name"));
	json_t *doc = NULL;
	long rev = 0;
	int r = agq_plan_get(c->sp, name, 0, &doc, &rev);
	if (r != 0)
		return plan_answer(c, "agq_plan_get", r, name, 0, rev, "", res,
		    err, size);
	*res = json_pack("{s:s, s:I, s:o}", "plan", name, "rev",
	    (json_int_t)rev, "doc", doc);
	return logged(c, "agq_plan_get", 0, NULL, err);
}

/* agq_plan_put and agq_plan_patch (plan.h) of plan "name" in ARGS with
 * BODY, a document or (PATCH) a patch, MERGE an RFC 7396 one, on the
 * condition "if_rev" when given. */
static int
plan_write(const struct agq_mcp_ctx *c, const char *tool, int patch,
           const json_t *args, const json_t *body, int merge, json_t **res,
           char *err, size_t size)
{
	if (plan_name(args, err, size) < 0)
		return logged(c, tool, -1, NULL, err);
	const char *name = json_string_value(json_object_get(args, "name"));
	json_t *ir = json_object_get(args, "if_rev");
	long if_rev = ir ? (long)json_integer_value(ir) : -1, rev = 0;
	char why[512] = "";
	int r = patch ? agq_plan_patch(c->sp, name, body, merge, if_rev, &rev,
	    why, sizeof why) : agq_plan_put(c->sp, name, body, if_rev, &rev);
	return plan_answer(c, tool, r, name, if_rev, rev, why, res, err,
	    size);
}

static int
t_plan_put(void *ctx, const json_t *args, json_t **res, char *err,
           size_t size)
{
	return plan_write(ctx, "agq_plan_put", 0, args, json_object_get(args,
	    "doc"), 0, res, err, size);
}

static int
t_plan_patch(void *ctx, const json_t *args, json_t **res, char *err,
             size_t size)
{
	/* an array is an RFC 6902 JSON Patch, an object an RFC 7396 merge
	 * patch */
	json_t *p = json_object_get(args, "patch");
	return plan_write(ctx, "agq_plan_patch", 1, args, p,
	    json_is_object(p), res, err, size);
}

static int
t_mission_show(void *ctx, const json_t *args, json_t **res, char *err,
               size_t size)
{
	const struct agq_mcp_ctx *c = ctx;
	const char *id = json_string_value(json_object_get(args, "id"));
	json_t *caller = NULL;
	int st;
	if (!id && c->task && (caller = task_get(c->sp, c->task, &st)))
		id = json_string_value(json_object_get(caller, "mission"));
	int rc = 0;
	if (!agq_id_valid(id)) {
		rc = agq_errf(err, size, "field id: %s", id ? "not a mission id "
		    "([A-Za-z0-9._-]{1,64})" : "missing (the calling task has "
		    "no mission)");
	} else {
		char *argv[] = { "agq-mission", "show", (char *)id, "--json",
		    NULL };
		char *out, last[512];
		int r = run_sibling(argv, NULL, &out, last, sizeof last, err,
		    size);
		if (r == 0)
			*res = json_pack("{s:s, s:o}", "id", id, "mission",
			    as_json(out));
		else if (r == 69 || r == 66)
			rc = agq_errf(err, size, "field id: no mission %s", id);
		else if (r > 0)
			rc = agq_errf(err, size, "agq-mission exited with status "
			    "%d%s%s", r, last[0] ? ": " : "", last);
		else
			rc = -1;
		free(out);
	}
	json_decref(caller);
	return logged(c, "agq_mission_show", rc, NULL, err);
}

/* ---- the table ------------------------------------------------------- */

#define ID_SCHEMA "{\"type\": \"string\", \"minLength\": 1, " \
	"\"maxLength\": 64, \"description\": \"a task id ([A-Za-z0-9._-])\"}"

const struct agq_mcp_tool agq_mcp_tools[] = {
	{ "agq_submit", "Submit a subtask to agq's queue: a prompt for an "
	  "agent or a command. It inherits your task's git origin and base "
	  "and its mission, and names your task as its parent. Returns its "
	  "id and state. Your task may submit at most mcp_max_subtasks "
	  "(agq.conf, default 20).",
	  "{\"type\": \"object\", \"properties\": {"
	  "\"title\": {\"type\": \"string\", \"minLength\": 1, "
	  "\"maxLength\": 200, \"description\": \"a title for listings\"},"
	  "\"prompt\": {\"type\": \"string\", \"minLength\": 1, "
	  "\"description\": \"what to ask the agent\"},"
	  "\"cmd\": {\"type\": [\"string\", \"array\"], \"items\": "
	  "{\"type\": \"string\"}, \"description\": \"a command: a string "
	  "for /bin/sh -c, or an argv\"},"
	  "\"after\": {\"type\": \"array\", \"items\": " ID_SCHEMA ", "
	  "\"minItems\": 1, \"maxItems\": 64, \"description\": \"run only "
	  "once these tasks are done\"},"
	  "\"verify\": {\"type\": \"array\", \"items\": {\"type\": "
	  "[\"string\", \"object\"]}, \"description\": \"checks of the "
	  "result: a shell command that must succeed, or a step object of "
	  "agq-task(5)\"},"
	  "\"role\": {\"type\": \"string\", \"enum\": [\"plan\", "
	  "\"implement\", \"review\", \"test\"]},"
	  "\"handoff\": {\"type\": \"object\", \"description\": \"what "
	  "you leave the subtask: summary, files, questions\"},"
	  "\"mission\": " ID_SCHEMA "},"
	  "\"required\": [\"title\"], \"additionalProperties\": false}",
	  t_submit },
	{ "agq_show", "Show one agq task: its state and its fields.",
	  "{\"type\": \"object\", \"properties\": {\"id\": " ID_SCHEMA "}, "
	  "\"required\": [\"id\"], \"additionalProperties\": false}", t_show },
	{ "agq_wait", "Wait until every task of ids has ended (done or dead), "
	  "or timeout_s seconds (default 60, at most 600) have passed; "
	  "returns each task's state and whether all ended.",
	  "{\"type\": \"object\", \"properties\": {\"ids\": {\"type\": "
	  "\"array\", \"items\": " ID_SCHEMA ", \"minItems\": 1, "
	  "\"maxItems\": 64}, \"timeout_s\": {\"type\": \"number\", "
	  "\"minimum\": 0, \"maximum\": 600}}, \"required\": [\"ids\"], "
	  "\"additionalProperties\": false}", t_wait },
	{ "agq_plan_get", "Read the plan document NAME and its revision "
	  "(rev: give it as if_rev to change the document).",
	  "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": "
	  "\"string\", \"minLength\": 1, \"maxLength\": 64}}, "
	  "\"required\": [\"name\"], \"additionalProperties\": false}",
	  t_plan_get },
	{ "agq_plan_put", "Replace the plan document NAME with doc; with "
	  "if_rev, only if its revision is still if_rev (compare-and-swap: "
	  "a conflict otherwise).",
	  "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": "
	  "\"string\", \"minLength\": 1, \"maxLength\": 64}, \"doc\": "
	  "{\"type\": \"object\"}, \"if_rev\": {\"type\": \"integer\", "
	  "\"minimum\": 0}}, \"required\": [\"name\", \"doc\"], "
	  "\"additionalProperties\": false}", t_plan_put },
	{ "agq_plan_patch", "Change the plan document NAME with patch: an "
	  "array is an RFC 6902 JSON Patch, an object an RFC 7396 merge "
	  "patch; with if_rev, only if its revision is still if_rev.",
	  "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": "
	  "\"string\", \"minLength\": 1, \"maxLength\": 64}, \"patch\": "
	  "{\"type\": [\"array\", \"object\"]}, \"if_rev\": {\"type\": "
	  "\"integer\", \"minimum\": 0}}, \"required\": [\"name\", "
	  "\"patch\"], \"additionalProperties\": false}", t_plan_patch },
	{ "agq_mission_show", "Show a mission: its goal, its tasks and their "
	  "states (default: your task's mission).",
	  "{\"type\": \"object\", \"properties\": {\"id\": " ID_SCHEMA "}, "
	  "\"additionalProperties\": false}", t_mission_show },
};

const size_t agq_mcp_ntools = sizeof agq_mcp_tools / sizeof *agq_mcp_tools;
