/* task.c - the task model: validation, defaults, accessors (agq-task(5)). */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "util.h"
#include "classify.h"
#include "task.h"

static const char *lanes[AGQ_NLANES] = { "urgent", "high", "normal", "low" };

const char *
agq_lane_name(int lane)
{
	return lane >= 0 && lane < AGQ_NLANES ? lanes[lane] : "?";
}

int
agq_lane_parse(const char *s)
{
	for (int i = 0; s && i < AGQ_NLANES; i++)
		if (!strcmp(s, lanes[i]))
			return i;
	return -1;
}

static int
string_array(const json_t *v, int allow_empty)
{
	size_t i;
	json_t *e;
	if (!json_is_array(v) || (!allow_empty && json_array_size(v) == 0))
		return 0;
	json_array_foreach(v, i, e)
		if (!json_is_string(e) || json_string_length(e) == 0)
			return 0;
	return 1;
}

static int
time_value(const json_t *v)
{
	int64_t us;
	if (json_is_string(v))
		return agq_parse_time(json_string_value(v), &us) == 0;
	if (json_is_number(v))
		return json_number_value(v) >= 0 && json_number_value(v) < 1e11;
	return 0;
}

int
agq_ref_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 200 || s[0] == '/' || s[0] == '-' ||
	    s[n - 1] == '/' || s[n - 1] == '.' || !strcmp(s, "@") ||
	    strstr(s, "..") || strstr(s, "//") || strstr(s, "@{") ||
	    strstr(s, "/.") || s[0] == '.' ||
	    (n >= 5 && !strcmp(s + n - 5, ".lock")) || strstr(s, ".lock/"))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f || strchr("~^:?*[\\", c))
			return 0;
	}
	return 1;
}

int
agq_origin_local(const char *origin)
{
	if (strstr(origin, "://"))
		return 0;
	const char *colon = strchr(origin, ':');
	const char *slash = strchr(origin, '/');
	return !colon || (slash && slash < colon);
}

/* Field "git" (agq-task(5), "Git tasks"): 0, else -1 with ERR. */
static int
validate_git(const json_t *t, char *err, size_t size)
{
	const json_t *g = json_object_get(t, "git"), *v;
	if (!g)
		return 0;
	if (!json_is_object(g))
		return agq_errf(err, size, "field git: not an object");
	const char *k;
	json_t *e;
	json_object_foreach((json_t *)g, k, e)
		if (strcmp(k, "repo") && strcmp(k, "base") && strcmp(k,
		    "branch") && strcmp(k, "pr") && strcmp(k, "draft"))
			return agq_errf(err, size, "field git.%s: unknown (git "
			    "has repo, base, branch, pr, draft)", k);
	v = json_object_get(g, "repo");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > 4096)
		return agq_errf(err, size, "field git.repo: not a non-empty "
		    "string (a path or URL of the origin)");
	for (const char *c = json_string_value(v); *c; c++)
		if ((unsigned char)*c < ' ' || *c == 0x7f)
			return agq_errf(err, size, "field git.repo: a control "
			    "character");
	static const char *const refs[] = { "base", "branch", NULL };
	for (int i = 0; refs[i]; i++)
		if ((v = json_object_get(g, refs[i])) && (!json_is_string(v) ||
		    !agq_ref_name_valid(json_string_value(v))))
			return agq_errf(err, size, "field git.%s: not a branch "
			    "name (git-check-ref-format(1))", refs[i]);
	static const char *const flags[] = { "pr", "draft", NULL };
	for (int i = 0; flags[i]; i++)
		if ((v = json_object_get(g, flags[i])) && !json_is_boolean(v))
			return agq_errf(err, size, "field git.%s: not true or "
			    "false", flags[i]);
	if ((v = json_object_get(t, "cwd")) && json_is_string(v) &&
	    (json_string_value(v)[0] == '/' || strstr(json_string_value(v),
	    "..")))
		return agq_errf(err, size, "field cwd: with git, a directory "
		    "inside the worktree (relative, no '..')");
	return 0;
}

/* Every top-level field of a task agq knows (agq-task(5)): the one list
 * agq_task_check_fields holds submitted tasks to.  A new field is added
 * here (and to agq-task(5)), or tasks carrying it are refused. */
static const char *const known_fields[] = {
	/* input fields */
	"id", "title", "cmd", "env", "cwd", "priority", "requires", "run_on",
	"max_attempts", "backoff", "timeout", "not_before", "meta", "notify",
	/* agent fields */
	"prompt", "model", "backend", "context", "edit", "success_criteria",
	"verify", "max_verify_attempts", "complexity",
	/* git tasks */
	"git", "setup", "cleanup",
	/* review and merge (issue 18) */
	"review", "merge", "merge_method", "approval",
	/* written by agq (a task taken from a spool and submitted again) */
	"route", "verify_report", "submitted_at", "attempts", "generation",
	"agent", "assigned_at", "next_attempt_at", "reason",
	"previous_attempts", "submitted_by",
	"kind", "parent", "round", "pr", "head", "avoid_agent",
	"review_feedback", "update_from_base", "approved", "approval_for",
	"verdict", "head_rounds",
	/* dependencies (issue 19): input, then written by agq */
	"after", "on_dep_fail", "blocked_on", "dep_failed",
	/* missions (issue 19: mission.c checks them) and agq-mcp's server */
	"mission", "role", "handoff", "mcp",
	/* missions (issue 19): written by agq */
	"handoff_out", "plan_feedback",
	/* quotas (issue 21): input, default set by agq at submit */
	"tenant",
	NULL
};

int
agq_task_field_known(const char *name)
{
	for (size_t i = 0; known_fields[i]; i++)
		if (!strcmp(name, known_fields[i]))
			return 1;
	return 0;
}

/* The optimal string alignment distance of A and B (Levenshtein's edits,
 * and swapping two adjacent characters, each counting 1: Damerau, 1964),
 * for strings of at most 64 bytes; 99 for longer ones. */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	if (n > 64 || m > 64)
		return 99;
	size_t d[65][65];
	for (size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			size_t c = a[i - 1] != b[j - 1];
			size_t v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + c < v)
				v = d[i - 1][j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

const char *
agq_task_field_nearest(const char *name)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t i = 0; known_fields[i]; i++) {
		size_t dd = edit_distance(name, known_fields[i]);
		if (dd < bd) {
			bd = dd;
			best = known_fields[i];
		}
	}
	return best;
}

void
agq_task_unlist(json_t *t)
{
	if (!json_object_get(t, "submitted_at"))
		return;
	const char *lane = json_string_value(json_object_get(t, "lane"));
	if (lane && !json_object_get(t, "priority") &&
	    agq_lane_parse(lane) >= 0)
		json_object_set_new(t, "priority", json_string(lane));
	json_object_del(t, "lane");
	json_object_del(t, "state");
}

int
agq_task_check_fields(const json_t *t, char *err, size_t size)
{
	const char *k;
	const json_t *v;
	/* review and merge tasks are agq's own (agq-sched queues them): a
	 * task taken from a spool (it has submitted_at) keeps them */
	static const char *const own[] = { "kind", "parent", NULL };
	for (int i = 0; own[i]; i++)
		if (json_object_get(t, own[i]) && !json_object_get(t,
		    "submitted_at"))
			return agq_errf(err, size, "field %s: written by agq "
			    "(review and merge tasks are queued by agq-sched, "
			    "agq-task(5))", own[i]);
	json_object_foreach((json_t *)t, k, v) {
		if (agq_task_field_known(k))
			continue;
		const char *near = agq_task_field_nearest(k);
		char shown[256];
		agq_human(shown, sizeof shown, k);
		if (near)
			return agq_errf(err, size, "field %s: unknown field (did "
			    "you mean %s?); your own data goes under meta",
			    shown, near);
		return agq_errf(err, size, "field %s: unknown field; your own "
		    "data goes under meta", shown);
	}
	return 0;
}

/* S (may be NULL) is one of the NULL-terminated WORDS: 1 or 0. */
static int
word_in(const char *s, const char *const *words)
{
	for (int i = 0; s && words[i]; i++)
		if (!strcmp(s, words[i]))
			return 1;
	return 0;
}

/* VAL is a string, one of WORDS: 1 or 0. */
static int
one_of(const json_t *val, const char *const *words)
{
	return word_in(json_string_value(val), words);
}

/* V is a whole number from LO to HI: 1 or 0. */
static int
whole_in(const json_t *v, json_int_t lo, json_int_t hi)
{
	return json_is_integer(v) && json_integer_value(v) >= lo &&
	    json_integer_value(v) <= hi;
}

/* Field "review" (agq-task(5), "Review and merge"): 0, else -1 with ERR. */
static int
validate_review(const json_t *rv, char *err, size_t size)
{
	const char *k;
	json_t *e;
	if (!json_is_object(rv))
		return agq_errf(err, size, "field review: not an object "
		    "({\"required\": N, \"max_rounds\": N, ...})");
	static const char *const keys[] = { "required", "cap", "max_rounds",
	    "cmd", "prompt", "backend", "model", "timeout", NULL };
	json_object_foreach((json_t *)rv, k, e)
		if (!word_in(k, keys))
			return agq_errf(err, size, "field review.%s: unknown "
			    "(review has required, cap, max_rounds, cmd, prompt, "
			    "backend, model, timeout)", k);
	if ((e = json_object_get(rv, "required")) && !whole_in(e, 1, 9))
		return agq_errf(err, size, "field review.required: not a whole "
		    "number from 1 to 9");
	if ((e = json_object_get(rv, "max_rounds")) && !whole_in(e, 1, 20))
		return agq_errf(err, size, "field review.max_rounds: not a "
		    "whole number from 1 to 20");
	if ((e = json_object_get(rv, "cap")) && (!json_is_string(e) ||
	    !agq_id_valid(json_string_value(e))))
		return agq_errf(err, size, "field review.cap: not a capability "
		    "name ([A-Za-z0-9._-]{1,64})");
	if ((e = json_object_get(rv, "cmd")) && !(json_is_string(e) &&
	    json_string_length(e) > 0) && !string_array(e, 0))
		return agq_errf(err, size, "field review.cmd: not a string or a "
		    "non-empty array of non-empty strings");
	static const char *const strs[] = { "prompt", "backend", "model",
	    NULL };
	for (int i = 0; strs[i]; i++)
		if ((e = json_object_get(rv, strs[i])) && (!json_is_string(e) ||
		    json_string_length(e) == 0))
			return agq_errf(err, size, "field review.%s: not a "
			    "non-empty string", strs[i]);
	if ((e = json_object_get(rv, "backend")) &&
	    !agq_backend_name_valid(json_string_value(e)))
		return agq_errf(err, size, "field review.backend: not a backend "
		    "name (agq-backend(7))");
	if (json_object_get(rv, "cmd") && (json_object_get(rv, "prompt") ||
	    json_object_get(rv, "backend") || json_object_get(rv, "model")))
		return agq_errf(err, size, "field review: a cmd or an agent "
		    "reviewer (prompt, backend, model), not both");
	if ((e = json_object_get(rv, "timeout")) && (!json_is_number(e) ||
	    !(json_number_value(e) > 0) || json_number_value(e) > 1e8))
		return agq_errf(err, size, "field review.timeout: not a positive "
		    "number of seconds");
	return 0;
}

/* V (a task's "after" or "blocked_on", field NAME) is an array of 1 to
 * AGQ_AFTER_MAX task ids, none twice and none SELF (the task's id, or
 * NULL): 0, else -1 with ERR naming the field and the id. */
static int
validate_id_list(const json_t *v, const char *name, const char *self,
                 char *err, size_t size)
{
	size_t i, j;
	json_t *e;
	if (!json_is_array(v) || json_array_size(v) < 1 ||
	    json_array_size(v) > AGQ_AFTER_MAX)
		return agq_errf(err, size, "field %s: not an array of 1 to %d "
		    "task ids", name, AGQ_AFTER_MAX);
	json_array_foreach(v, i, e) {
		const char *id = json_string_value(e);
		if (!id || !agq_id_valid(id))
			return agq_errf(err, size, "field %s[%zu]: not a task id "
			    "([A-Za-z0-9._-]{1,64})", name, i);
		if (self && !strcmp(id, self))
			return agq_errf(err, size, "field %s: %s is the task's "
			    "own id", name, id);
		for (j = 0; j < i; j++)
			if (!strcmp(id, json_string_value(json_array_get(v, j))))
				return agq_errf(err, size, "field %s: %s given "
				    "twice", name, id);
	}
	return 0;
}

/* The dependency fields (agq-task(5), "Dependencies"): after,
 * on_dep_fail, and blocked_on and dep_failed written by agq.  0, else -1
 * with ERR naming the field. */
static int
validate_deps(const json_t *t, char *err, size_t size)
{
	const json_t *v;
	const char *self = json_string_value(json_object_get(t, "id"));
	if ((v = json_object_get(t, "after")) &&
	    validate_id_list(v, "after", self, err, size) < 0)
		return -1;
	static const char *const odf[] = { "cancel", "run", "hold", NULL };
	if ((v = json_object_get(t, "on_dep_fail")) && !one_of(v, odf))
		return agq_errf(err, size, "field on_dep_fail: must be one of "
		    "cancel, run, hold");
	if ((v = json_object_get(t, "blocked_on")) && json_array_size(v) > 0 &&
	    validate_id_list(v, "blocked_on", self, err, size) < 0)
		return -1;
	if ((v = json_object_get(t, "dep_failed")) && (!json_is_object(v) ||
	    !json_is_string(json_object_get(v, "id")) ||
	    !json_is_string(json_object_get(v, "state"))))
		return agq_errf(err, size, "field dep_failed: not an object "
		    "{\"id\": ID, \"state\": S}");
	return 0;
}

/* V (field NAME) is a handoff: an object of "summary" (a string),
 * "files" and "questions" (arrays of strings), nothing else.  0, else -1
 * with ERR naming the field. */
static int
validate_handoff(const json_t *v, const char *name, char *err, size_t size)
{
	const char *k;
	json_t *e, *x;
	size_t i;
	if (!json_is_object(v))
		return agq_errf(err, size, "field %s: not an object {summary, "
		    "files, questions}", name);
	json_object_foreach((json_t *)v, k, e) {
		if (!strcmp(k, "summary")) {
			if (!json_is_string(e))
				return agq_errf(err, size, "field %s.summary: not "
				    "a string", name);
			continue;
		}
		if (strcmp(k, "files") && strcmp(k, "questions"))
			return agq_errf(err, size, "field %s.%s: unknown (summary, "
			    "files, questions)", name, k);
		if (!json_is_array(e))
			return agq_errf(err, size, "field %s.%s: not an array of "
			    "strings", name, k);
		json_array_foreach(e, i, x)
			if (!json_is_string(x))
				return agq_errf(err, size, "field %s.%s[%zu]: not a "
				    "string", name, k, i);
	}
	return 0;
}

/* The mission fields (agq-task(5), "Missions"): mission, role, handoff,
 * and handoff_out and plan_feedback written by agq.  Whether the mission
 * exists is the submitter's check (mission.h).  0, else -1 with ERR
 * naming the field. */
static int
validate_mission(const json_t *t, char *err, size_t size)
{
	const json_t *v;
	if ((v = json_object_get(t, "mission")) && (!json_is_string(v) ||
	    !agq_id_valid(json_string_value(v))))
		return agq_errf(err, size, "field mission: not a mission id "
		    "([A-Za-z0-9._-]{1,64})");
	static const char *const roles[] = { "plan", "implement", "review",
	    "test", NULL };
	if ((v = json_object_get(t, "role")) && !one_of(v, roles))
		return agq_errf(err, size, "field role: must be one of plan, "
		    "implement, review, test");
	if ((v = json_object_get(t, "handoff")) &&
	    validate_handoff(v, "handoff", err, size) < 0)
		return -1;
	if ((v = json_object_get(t, "handoff_out")) &&
	    validate_handoff(v, "handoff_out", err, size) < 0)
		return -1;
	if ((v = json_object_get(t, "plan_feedback")) && !json_is_string(v))
		return agq_errf(err, size, "field plan_feedback: not a string");
	return 0;
}

/* Is V agent names: one (a string), or an array of 1 to 16 (avoid_agent,
 * run_on: agq-task(5))? */
static int
agent_names(const json_t *v)
{
	if (json_is_string(v))
		return agq_id_valid(json_string_value(v));
	if (!json_is_array(v) || json_array_size(v) < 1 ||
	    json_array_size(v) > 16)
		return 0;
	size_t i;
	json_t *a;
	json_array_foreach(v, i, a)
		if (!json_is_string(a) || !agq_id_valid(json_string_value(a)))
			return 0;
	return 1;
}

/* The review and merge fields (agq-task(5), "Review and merge"), input
 * and written by agq: 0, else -1 with ERR naming the field. */
static int
validate_gates(const json_t *t, char *err, size_t size)
{
	const json_t *v, *git = json_object_get(t, "git");
	int pr = git && !json_is_false(json_object_get(git, "pr"));
	if ((v = json_object_get(t, "review")) &&
	    validate_review(v, err, size) < 0)
		return -1;
	static const char *const merges[] = { "on-approval", NULL };
	if ((v = json_object_get(t, "merge")) && !json_is_false(v) &&
	    !one_of(v, merges))
		return agq_errf(err, size, "field merge: not false or "
		    "\"on-approval\"");
	static const char *const methods[] = { "merge", "squash", "rebase",
	    NULL };
	if ((v = json_object_get(t, "merge_method")) && !one_of(v, methods))
		return agq_errf(err, size, "field merge_method: must be one of "
		    "merge, squash, rebase");
	static const char *const approvals[] = { "none", "before_push",
	    "before_merge", NULL };
	if ((v = json_object_get(t, "approval")) && !one_of(v, approvals))
		return agq_errf(err, size, "field approval: must be one of "
		    "none, before_push, before_merge");
	int merging = json_is_string(json_object_get(t, "merge"));
	const char *appr = json_string_value(json_object_get(t, "approval"));
	static const char *const gated[] = { "review", "merge_method",
	    "approval", "merge", NULL };
	for (int i = 0; gated[i]; i++) {
		v = json_object_get(t, gated[i]);
		if (!v || json_is_false(v) || (appr && !strcmp(gated[i],
		    "approval") && !strcmp(appr, "none")))
			continue;
		if (!git)
			return agq_errf(err, size, "field %s: needs git (a git "
			    "task: agq-task(5), \"Git tasks\")", gated[i]);
	}
	const char *id = json_string_value(json_object_get(t, "id"));
	if (id && strlen(id) > 56 && (json_object_get(t, "review") ||
	    merging || (appr && !strcmp(appr, "before_merge"))))
		return agq_errf(err, size, "field id: at most 56 bytes for a "
		    "task with review or merge (its review tasks are ID-rN-K)");
	if (!pr && (json_object_get(t, "review") || merging || (appr &&
	    !strcmp(appr, "before_merge"))))
		return agq_errf(err, size, "field %s: needs a pull request "
		    "(git.pr is false)", json_object_get(t, "review") ? "review" :
		    merging ? "merge" : "approval");
	/* written by agq: checked when a task brings them */
	static const char *const kinds[] = { "review", "merge", NULL };
	if ((v = json_object_get(t, "kind")) && !one_of(v, kinds))
		return agq_errf(err, size, "field kind: must be review or merge");
	if ((v = json_object_get(t, "parent")) && (!json_is_string(v) ||
	    !agq_id_valid(json_string_value(v))))
		return agq_errf(err, size, "field parent: not a task id "
		    "([A-Za-z0-9._-]{1,64})");
	static const char *const named[] = { "avoid_agent", "run_on" };
	for (size_t k = 0; k < sizeof named / sizeof *named; k++)
		if ((v = json_object_get(t, named[k])) && !agent_names(v))
			return agq_errf(err, size, "field %s: not an agent name "
			    "([A-Za-z0-9._-]{1,64}) or a list of 1 to 16 of them",
			    named[k]);
	if (json_object_get(t, "kind") && !json_object_get(t, "parent"))
		return agq_errf(err, size, "field parent: missing (a review or "
		    "merge task names its coder task)");
	if ((v = json_object_get(t, "round")) && !whole_in(v, 1, 1000))
		return agq_errf(err, size, "field round: not a whole number "
		    "from 1");
	if ((v = json_object_get(t, "pr")) && (!json_is_string(v) ||
	    strncmp(json_string_value(v), "pr-", 3) ||
	    !agq_id_valid(json_string_value(v))))
		return agq_errf(err, size, "field pr: not a PR record id "
		    "(pr-...)");
	if ((v = json_object_get(t, "head"))) {
		const char *h = json_string_value(v);
		size_t n = h ? strlen(h) : 0;
		if (n != 40 && n != 64)
			return agq_errf(err, size, "field head: not a commit "
			    "sha (40 or 64 hex digits)");
		for (size_t i = 0; i < n; i++)
			if (!strchr("0123456789abcdef", h[i]))
				return agq_errf(err, size, "field head: not a "
				    "commit sha (40 or 64 hex digits)");
	}
	if ((v = json_object_get(t, "head_rounds")) && !whole_in(v, 0, 1000))
		return agq_errf(err, size, "field head_rounds: not a whole "
		    "number from 0");
	if ((v = json_object_get(t, "review_feedback")) && !json_is_string(v))
		return agq_errf(err, size, "field review_feedback: not a string");
	if ((v = json_object_get(t, "update_from_base")) &&
	    !json_is_boolean(v))
		return agq_errf(err, size, "field update_from_base: not true or "
		    "false");
	static const char *const fors[] = { "push", "merge", NULL };
	if ((v = json_object_get(t, "approval_for")) && !one_of(v, fors))
		return agq_errf(err, size, "field approval_for: must be push or "
		    "merge");
	if ((v = json_object_get(t, "approved"))) {
		size_t i;
		json_t *e;
		if (!json_is_array(v))
			return agq_errf(err, size, "field approved: not an "
			    "array of push, merge");
		json_array_foreach(v, i, e)
			if (!one_of(e, fors))
				return agq_errf(err, size, "field approved: not "
				    "an array of push, merge");
	}
	if ((v = json_object_get(t, "verdict"))) {
		static const char *const verdicts[] = { "approve",
		    "request_changes", NULL };
		if (!json_is_object(v) || !one_of(json_object_get(v, "verdict"),
		    verdicts))
			return agq_errf(err, size, "field verdict: not an object "
			    "with verdict approve or request_changes");
		const json_t *c = json_object_get(v, "comments");
		size_t i;
		json_t *e;
		if (c && !json_is_array(c))
			return agq_errf(err, size, "field verdict.comments: not "
			    "an array of strings");
		json_array_foreach(c, i, e)
			if (!json_is_string(e))
				return agq_errf(err, size, "field "
				    "verdict.comments: not an array of strings");
	}
	return 0;
}

int
agq_task_validate(const json_t *t, char *err, size_t size)
{
	const json_t *v;
	if (!json_is_object(t))
		return agq_errf(err, size, "not a JSON object");
	if ((v = json_object_get(t, "id"))) {
		if (!json_is_string(v))
			return agq_errf(err, size, "field id: not a string");
		if (!agq_id_valid(json_string_value(v)))
			return agq_errf(err, size, "field id: must match "
			    "[A-Za-z0-9._-]{1,64} and not start with '.'");
	}
	if ((v = json_object_get(t, "title")) && !json_is_string(v))
		return agq_errf(err, size, "field title: not a string");
	v = json_object_get(t, "cmd");
	if (!v && !json_object_get(t, "prompt") && !json_object_get(t, "kind"))
		return agq_errf(err, size, "field cmd: missing (a task needs a cmd "
		    "or a prompt)");
	if (!v) {
		/* a prompt task: checked with the agent fields below */
	} else if (json_is_string(v)) {
		if (json_string_length(v) == 0)
			return agq_errf(err, size, "field cmd: empty string");
	} else if (!string_array(v, 0)) {
		return agq_errf(err, size, "field cmd: not a string or a non-empty "
		    "array of non-empty strings");
	}
	if ((v = json_object_get(t, "env"))) {
		const char *k;
		json_t *e;
		if (!json_is_object(v))
			return agq_errf(err, size, "field env: not an object");
		json_object_foreach((json_t *)v, k, e) {
			if (!*k || strchr(k, '='))
				return agq_errf(err, size, "field env: bad variable "
				    "name '%s'", k);
			if (!json_is_string(e))
				return agq_errf(err, size, "field env.%s: not a string", k);
		}
	}
	if ((v = json_object_get(t, "cwd")) &&
	    (!json_is_string(v) || json_string_length(v) == 0))
		return agq_errf(err, size, "field cwd: not a non-empty string");
	if ((v = json_object_get(t, "priority")) &&
	    (!json_is_string(v) || agq_lane_parse(json_string_value(v)) < 0))
		return agq_errf(err, size, "field priority: must be one of urgent, "
		    "high, normal, low");
	if ((v = json_object_get(t, "requires")) && !string_array(v, 1))
		return agq_errf(err, size, "field requires: not an array of "
		    "non-empty strings");
	if ((v = json_object_get(t, "max_attempts")) &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > 1000))
		return agq_errf(err, size, "field max_attempts: not a whole number "
		    "from 1 to 1000");
	if ((v = json_object_get(t, "backoff")) &&
	    (!json_is_number(v) || json_number_value(v) < 0 ||
	    json_number_value(v) > 86400))
		return agq_errf(err, size, "field backoff: not a number of seconds "
		    "from 0 to 86400");
	if ((v = json_object_get(t, "timeout")) &&
	    (!json_is_number(v) || !(json_number_value(v) > 0) ||
	    json_number_value(v) > 1e8))
		return agq_errf(err, size, "field timeout: not a positive number "
		    "of seconds");
	if ((v = json_object_get(t, "not_before")) && !time_value(v))
		return agq_errf(err, size, "field not_before: not an RFC 3339 time "
		    "or epoch seconds");
	if ((v = json_object_get(t, "meta")) && !json_is_object(v))
		return agq_errf(err, size, "field meta: not an object");
	static const char *const hooks[] = { "setup", "cleanup", "notify",
	    NULL };
	for (int i = 0; hooks[i]; i++)
		if ((v = json_object_get(t, hooks[i])) && !(json_is_string(v) &&
		    json_string_length(v) > 0) && !string_array(v, 0))
			return agq_errf(err, size, "field %s: not a command (a "
			    "non-empty string) or an array of them", hooks[i]);
	if (validate_git(t, err, size) < 0)
		return -1;
	if (validate_deps(t, err, size) < 0)
		return -1;
	if (validate_mission(t, err, size) < 0)
		return -1;
	if ((v = json_object_get(t, "tenant")) && (!json_is_string(v) ||
	    !agq_id_valid(json_string_value(v))))
		return agq_errf(err, size, "field tenant: not a name "
		    "([A-Za-z0-9._-]{1,64})");
	if (validate_gates(t, err, size) < 0)
		return -1;
	if (agq_task_validate_agent(t, err, size) < 0)
		return -1;
	/* agq's own fields, when a drop or an old file carries them */
	if ((v = json_object_get(t, "attempts")) && !json_is_array(v))
		return agq_errf(err, size, "field attempts: not an array");
	if ((v = json_object_get(t, "generation")) &&
	    (!json_is_integer(v) || json_integer_value(v) < 0))
		return agq_errf(err, size, "field generation: not a whole number");
	if ((v = json_object_get(t, "submitted_at")) && !time_value(v))
		return agq_errf(err, size, "field submitted_at: not a time");
	if ((v = json_object_get(t, "next_attempt_at")) && !time_value(v))
		return agq_errf(err, size, "field next_attempt_at: not a time");
	if ((v = json_object_get(t, "agent")) && !json_is_string(v) &&
	    !json_is_null(v))
		return agq_errf(err, size, "field agent: not a string");
	if ((v = json_object_get(t, "reason")) && !json_is_string(v) &&
	    !json_is_null(v))
		return agq_errf(err, size, "field reason: not a string");
	return 0;
}

json_t *
agq_task_parse(const char *buf, size_t len, char *err, size_t size)
{
	json_error_t je;
	json_t *t = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!t) {
		agq_errf(err, size, "invalid JSON at line %d column %d: %s",
		    je.line, je.column, je.text);
		return NULL;
	}
	if (agq_task_validate(t, err, size) < 0) {
		json_decref(t);
		return NULL;
	}
	return t;
}

void
agq_task_set_time(json_t *t, const char *key, int64_t us)
{
	char buf[32];
	json_object_set_new(t, key, json_string(agq_fmt_time(us, buf)));
}

void
agq_task_normalize(json_t *t, int64_t now_us)
{
	if (!json_object_get(t, "id")) {
		char id[65];
		agq_gen_id(id);
		json_object_set_new(t, "id", json_string(id));
	}
	if (!json_object_get(t, "priority"))
		json_object_set_new(t, "priority", json_string("normal"));
	if (!json_object_get(t, "max_attempts"))
		json_object_set_new(t, "max_attempts", json_integer(3));
	if (!json_object_get(t, "backoff"))
		json_object_set_new(t, "backoff", json_integer(10));
	int64_t us;
	json_t *nb = json_object_get(t, "not_before");
	if (nb && !json_is_null(nb)) {
		us = agq_task_time(t, "not_before", -1);
		if (us >= 0)
			agq_task_set_time(t, "not_before", us);
	}
	json_t *sa = json_object_get(t, "submitted_at");
	if (!sa || agq_task_time(t, "submitted_at", -1) < 0)
		agq_task_set_time(t, "submitted_at", now_us);
	if (!json_is_array(json_object_get(t, "attempts")))
		json_object_set_new(t, "attempts", json_array());
	if (!json_is_integer(json_object_get(t, "generation")))
		json_object_set_new(t, "generation", json_integer(0));
	/* an explicit tier wins; an inferred one is recomputed */
	json_object_set_new(t, "complexity", agq_classify(t));
}

const char *
agq_task_id(const json_t *t)
{
	return json_string_value(json_object_get(t, "id"));
}

int
agq_task_lane(const json_t *t)
{
	int l = agq_lane_parse(json_string_value(json_object_get(t, "priority")));
	return l < 0 ? AGQ_NORMAL : l;
}

const char *
agq_task_tenant(const json_t *t, char buf[32])
{
	const char *s = json_string_value(json_object_get(t, "tenant"));
	if (s && agq_id_valid(s))
		return s;
	const json_t *by = json_object_get(t, "submitted_by");
	s = json_string_value(json_object_get(by, "user"));
	if (s && agq_id_valid(s))
		return s;
	snprintf(buf, 32, "uid-%lld", agq_task_owner_uid(t));
	return buf;
}

int64_t
agq_task_int(const json_t *t, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(t, key);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return dflt;
}

int64_t
agq_task_time(const json_t *t, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(t, key);
	int64_t us;
	if (json_is_string(v) && agq_parse_time(json_string_value(v), &us) == 0)
		return us;
	if (json_is_number(v) && json_number_value(v) >= 0)
		return (int64_t)(json_number_value(v) * 1e6);
	return dflt;
}

int64_t
agq_backoff_draw_us(const json_t *t, int attempt, int64_t cap_s,
                    uint64_t rnd)
{
	json_t *v = json_object_get(t, "backoff");
	double base = json_is_number(v) ? json_number_value(v) : 10;
	if (base <= 0)
		return 0;
	if (attempt < 1)
		attempt = 1;
	double d = base * ldexp(1.0, attempt > 40 ? 40 : attempt - 1);
	if (d > (double)cap_s)
		d = (double)cap_s;
	int64_t full = (int64_t)(d * 1e6);
	int64_t half = full / 2;
	return half + (int64_t)(rnd % (uint64_t)(full - half + 1));
}

int64_t
agq_backoff_us(const json_t *t, int attempt, int64_t cap_s)
{
	return agq_backoff_draw_us(t, attempt, cap_s, agq_random());
}

int
agq_caps_match(const json_t *t, const json_t *caps)
{
	return agq_requires_met(json_object_get(t, "requires"), caps);
}

int
agq_requires_met(const json_t *requires, const json_t *caps)
{
	size_t i, j;
	json_t *r, *c;
	json_array_foreach(requires, i, r) {
		int found = 0;
		json_array_foreach(caps, j, c) {
			if (json_equal(r, c)) {
				found = 1;
				break;
			}
		}
		if (!found)
			return 0;
	}
	return 1;
}

char *
agq_task_dump(const json_t *t, size_t *len)
{
	char *s = json_dumps(t, JSON_INDENT(2));
	if (!s)
		agq_die(70, "cannot serialize a task (out of memory)");
	size_t n = strlen(s);
	char *out = agq_xmalloc(n + 2);
	memcpy(out, s, n);
	out[n] = '\n';
	out[n + 1] = '\0';
	free(s);
	*len = n + 1;
	return out;
}

int
agq_task_attempts_used(const json_t *t)
{
	size_t i, n = 0;
	json_t *a;
	json_array_foreach(json_object_get(t, "attempts"), i, a)
		if (!json_is_true(json_object_get(a, "handed_back")) &&
		    !json_is_true(json_object_get(a, "throttled")))
			n++;
	return (int)n;
}

json_t *
agq_task_last_attempt(const json_t *t)
{
	json_t *att = json_object_get(t, "attempts");
	size_t n = json_array_size(att);
	return n ? json_array_get(att, n - 1) : NULL;
}

int
agq_task_lease_started(const json_t *t)
{
	const json_t *last = agq_task_last_attempt(t);
	return last && agq_task_int(last, "generation", -1) ==
	    agq_task_int(t, "generation", 0) &&
	    !json_object_get(last, "finished");
}

void
agq_task_set_owner(json_t *t, uid_t uid, const char *user)
{
	json_t *o = json_pack("{s:I}", "uid", (json_int_t)uid);
	json_t *u = user ? json_string(user) : NULL;
	if (u)
		json_object_set_new(o, "user", u);
	json_object_set_new(t, "submitted_by", o);
}

long long
agq_task_owner_uid(const json_t *t)
{
	const json_t *u = json_object_get(json_object_get(t, "submitted_by"), "uid");
	if (!json_is_integer(u) || json_integer_value(u) < 0 ||
	    json_integer_value(u) >= (json_int_t)UINT32_MAX)
		return -1;
	return (long long)json_integer_value(u);
}

/* 1 if S (N bytes) is "-rN-K" or "-mN" (N, K decimal). */
static int
child_tail(const char *s, size_t n)
{
	if (n < 3 || s[0] != '-' || (s[1] != 'r' && s[1] != 'm'))
		return 0;
	size_t i = 2, d = 0;
	while (i < n && isdigit((unsigned char)s[i]))
		i++, d++;
	if (!d)
		return 0;
	if (s[1] == 'm')
		return i == n;
	if (i >= n || s[i++] != '-')
		return 0;
	for (d = 0; i < n && isdigit((unsigned char)s[i]); i++)
		d++;
	return d && i == n;
}

int
agq_task_child_of(const char *id, char buf[65])
{
	if (!agq_id_valid(id))
		return 0;
	/* "-mN" after the last '-', or "-rN-K" after the one before it */
	const char *m = strrchr(id, '-'), *r = m;
	while (r && r > id && *--r != '-')
		;
	const char *t = m && child_tail(m, strlen(m)) ? m : r && *r == '-' &&
	    child_tail(r, strlen(r)) ? r : NULL;
	size_t k = t ? (size_t)(t - id) : 0;
	if (!k || k > 64)
		return 0;
	char p[65];
	memcpy(p, id, k);
	p[k] = '\0';
	if (!agq_id_valid(p))
		return 0;
	memcpy(buf, p, k + 1);
	return t[1];
}
