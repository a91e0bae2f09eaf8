/* agq-show - print one task and its journal events (agq-show(1)). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <sys/stat.h>

#include "util.h"
#include "redact.h"
#include "cli.h"
#include "task.h"
#include "spool.h"
#include "jrecon.h"
#include "journal.h"
#include "open.h"
#include "git.h"
#include "prrec.h"
#include "archive.h"
#include "prview.h"
#include "deps.h"
#include "out.h"

static const char usage[] =
"usage: agq-show [-s SPOOL] [--json] ID...\n"
"Print each task: where it is, its file, and its journal events; a task\n"
"agq-clean archived is read from SPOOL/archive/.\n"
"See agq-show(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --json        one JSON object per task: {state, lane, agent, path,\n"
"                    task, events, git, chain, parent}\n"
"Exit: 0 ok, 65 a task file is not JSON, 66 a task does not exist.\n";

struct ev_arg { const char *id; json_t *a, *kids; };

/* One event of the journal (agq_journal_grep): kept, redacted, when its
 * "id" is the task's; the id of a `submit` or `accept` whose "after"
 * names the task noted in E->kids (its dependents). */
static int
event_one(json_t *o, void *arg)
{
	struct ev_arg *E = arg;
	const char *id = json_string_value(json_object_get(o, "id"));
	if (id && !strcmp(id, E->id)) {
		agq_redact(o);  /* lines older than redaction */
		json_array_append(E->a, o);
	}
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(o, "after"), i, e)
		if (id && json_is_string(e) && !strcmp(json_string_value(e),
		    E->id))
			json_object_set_new(E->kids, id, json_true());
	return 0;
}

/* The journal events about task ID, oldest first: a new array; the ids
 * of its dependents found there added to KIDS (an object, id -> true). */
static json_t *
events(struct agq_spool *sp, const char *id, json_t *kids)
{
	struct ev_arg E = { id, json_array(), kids };
	agq_journal_grep(sp, id, event_one, &E);
	return E.a;
}

static int
kid_one(const char *c, void *arg)
{
	json_object_set_new(arg, c, json_true());
	return 0;
}

/* The state of task ID for the after and dependents lines: its state
 * directory's name, "archived (done)" when agq-clean took it, "gone"
 * when it is nowhere.  Static or borrowed from BUF (SIZE bytes). */
static const char *
state_of(struct agq_spool *sp, const char *id, char *buf, size_t size)
{
	struct agq_loc loc;
	if (agq_task_find(sp, id, &loc) == 0)
		return agq_state_name(loc.state);
	json_t *rec = agq_archive_find(sp, id, NULL);
	if (!rec)
		return "gone";
	snprintf(buf, size, "archived (%s)", json_string_value(
	    json_object_get(rec, "state")) ? json_string_value(
	    json_object_get(rec, "state")) : "?");
	json_decref(rec);
	return buf;
}

/* The graph around the task T (ID): its parents (its "after") and its
 * dependents (KIDS: from the journal and deps/ID/), each {id, state},
 * as two new arrays in *AFTER and *DEPS. */
static void
graph(struct agq_spool *sp, const char *id, const json_t *t, json_t *kids,
      json_t **after, json_t **deps)
{
	char buf[64];
	size_t i;
	json_t *e;
	const char *k;
	agq_dep_children(sp, id, kid_one, kids);
	*after = json_array();
	*deps = json_array();
	json_array_foreach(json_object_get(t, "after"), i, e)
		json_array_append_new(*after, json_pack("{s:O, s:s}", "id", e,
		    "state", state_of(sp, json_string_value(e), buf,
		    sizeof buf)));
	json_object_foreach(kids, k, e)
		json_array_append_new(*deps, json_pack("{s:s, s:s}", "id", k,
		    "state", state_of(sp, k, buf, sizeof buf)));
}

/* "LABEL: ID (STATE), ..." for the array L of graph(), when not empty. */
static void
print_graph(const char *label, const json_t *l)
{
	size_t i;
	json_t *e;
	if (!json_array_size(l))
		return;
	printf("%s", label);
	json_array_foreach(l, i, e)
		printf("%s%s (%s)", i ? ", " : "", agq_shown(json_string_value(
		    json_object_get(e, "id"))), json_string_value(
		    json_object_get(e, "state")));
	printf("\n");
}

/* Why no agent can take a queued task: the reason of its newest `wait`
 * event in EV (events()) when that says so (agq-sched(8)), with its
 * "since"; else NULL.  Borrowed from EV, or a static buffer. */
static const char *
wait_reason(const json_t *ev)
{
	static char buf[1200];
	for (size_t k = json_array_size(ev); k-- > 0;) {
		const json_t *e = json_array_get(ev, k);
		const char *name = json_string_value(json_object_get(e, "ev"));
		if (!name || strcmp(name, "wait"))
			continue;
		if (json_is_true(json_object_get(e, "routable")))
			return NULL;
		const char *r = json_string_value(json_object_get(e, "reason"));
		const char *t = json_string_value(json_object_get(e, "since"));
		snprintf(buf, sizeof buf, "%s (since %s)", r ? r : "?",
		    t ? t : "?");
		return buf;
	}
	return NULL;
}

/* The newest `throttle` event of EV (events()): the usage or rate limit
 * a deferred task waits out, or NULL.  Borrowed. */
static const json_t *
last_throttle(const json_t *ev)
{
	for (size_t k = json_array_size(ev); k-- > 0;) {
		const json_t *e = json_array_get(ev, k);
		const char *name = json_string_value(json_object_get(e, "ev"));
		if (name && !strcmp(name, "throttle") &&
		    !json_object_get(e, "limit"))
			return e;
	}
	return NULL;
}

/* The limit that holds a queued task (agq-sched(8), "Limits"): the
 * newest `throttle` event with "limit" of EV (events()) after its last
 * state change.  Borrowed, or NULL. */
static const json_t *
held_by(const json_t *ev)
{
	for (size_t k = json_array_size(ev); k-- > 0;) {
		const json_t *e = json_array_get(ev, k);
		const char *name = json_string_value(json_object_get(e, "ev"));
		if (name && !strcmp(name, "throttle") &&
		    json_object_get(e, "limit"))
			return e;
		if (agq_jrecon_ev_state(e) != AGQ_ST_NONE)
			return NULL;
	}
	return NULL;
}

/* A new object with the members KEYS (NULL-terminated) of event E that
 * it has, and its "ts". */
static json_t *
pick(const json_t *e, const char *const *keys)
{
	json_t *o = json_object();
	json_object_set(o, "ts", json_object_get(e, "ts"));
	for (; *keys; keys++)
		if (json_object_get(e, *keys))
			json_object_set(o, *keys, json_object_get(e, *keys));
	return o;
}

/* The task's way from its worktree to its pull request (issue 16), from
 * its journal events EV (worktree, commit, push, pr_open: agq-journal(5))
 * and its PR record (prs/, agq_pr_find of the pr_open event's PR id, else
 * of the task ID): {"worktrees", "commits", "pushes" (arrays of the
 * events' own fields and ts, oldest first), "pr_open" (the event or
 * null), "pr" (the record with its state, or null)}.  NULL when the task
 * has no git event.  New reference. */
static json_t *
git_chain(const struct agq_spool *sp, const char *id, const json_t *ev)
{
	static const char *const wt_keys[] = { "repo", "branch", "base",
	    "head", "path", "reused", "agent", NULL };
	static const char *const commit_keys[] = { "repo", "branch", "sha",
	    "files", "insertions", "deletions", "agent", NULL };
	static const char *const pr_keys[] = { "repo", "branch", "sha", "pr",
	    "url", "number", "agent", NULL };
	json_t *wts = json_array(), *commits = json_array(),
	    *pushes = json_array(), *pr_open = NULL;
	size_t k;
	json_t *e;
	json_array_foreach(ev, k, e) {
		const char *name = json_string_value(json_object_get(e, "ev"));
		if (!name)
			continue;
		if (!strcmp(name, "worktree"))
			json_array_append_new(wts, pick(e, wt_keys));
		else if (!strcmp(name, "commit"))
			json_array_append_new(commits, pick(e, commit_keys));
		else if (!strcmp(name, "push"))
			json_array_append_new(pushes, pick(e, commit_keys));
		else if (!strcmp(name, "pr_open") && !pr_open)
			pr_open = pick(e, pr_keys);
	}
	if (!pr_open && !json_array_size(wts) && !json_array_size(commits) &&
	    !json_array_size(pushes)) {
		json_decref(wts);
		json_decref(commits);
		json_decref(pushes);
		return NULL;
	}
	const char *prid = json_string_value(json_object_get(pr_open, "pr"));
	json_t *pr = prid ? agq_pr_find(sp, prid) : NULL;
	if (!pr)
		pr = agq_pr_find(sp, id);
	return json_pack("{s:o, s:o, s:o, s:o*, s:o*}", "worktrees", wts,
	    "commits", commits, "pushes", pushes, "pr_open", pr_open ? pr_open :
	    json_null(), "pr", pr ? pr : json_null());
}

#define JS(o, k) agq_shown_get((o), (k))
#define JS_RAW(o, k) json_string_value(json_object_get((o), (k)))
#define JI(o, k) ((long long)json_integer_value(json_object_get((o), (k))))

/* The lines of git_chain G, under a "git:" label. */
static void
print_chain(const json_t *g)
{
	const char *label = "git:    ";
	size_t k;
	json_t *e;
	json_array_foreach(json_object_get(g, "worktrees"), k, e) {
		/* a reused branch's head is its own tip, not the base's */
		const char *path = JS(e, "path"), *br = JS(e, "branch"),
		    *base = JS(e, "base"), *head = JS(e, "head");
		if (json_is_true(json_object_get(e, "reused")))
			printf("%sworktree %s (branch %s at %.7s, reused)\n",
			    label, path ? path : "?", br ? br : "?", head ?
			    head : "?");
		else
			printf("%sworktree %s (branch %s from %s@%.7s)\n", label,
			    path ? path : "?", br ? br : "?", base ? base : "?",
			    head ? head : "?");
		label = "        ";
	}
	json_array_foreach(json_object_get(g, "commits"), k, e) {
		printf("%scommit   %.7s: %lld file%s, +%lld -%lld\n", label,
		    JS(e, "sha") ? JS(e, "sha") : "?", JI(e, "files"),
		    JI(e, "files") == 1 ? "" : "s", JI(e, "insertions"),
		    JI(e, "deletions"));
		label = "        ";
	}
	json_array_foreach(json_object_get(g, "pushes"), k, e) {
		printf("%spush     %s at %.7s to %s\n", label, JS(e, "branch") ?
		    JS(e, "branch") : "?", JS(e, "sha") ? JS(e, "sha") : "?",
		    JS(e, "repo") ? JS(e, "repo") : "?");
		label = "        ";
	}
	const json_t *pr = json_object_get(g, "pr");
	const json_t *po = json_object_get(g, "pr_open");
	if (json_is_object(pr))
		printf("%spr       %s %s, %s\n", label, JS(pr, "id"),
		    JS(pr, "state") ? JS(pr, "state") : "open", JS(pr, "url") ?
		    JS(pr, "url") : "no forge");
	else if (json_is_object(po))
		printf("%spr       %s (no record)\n", label, JS(po, "pr") ?
		    JS(po, "pr") : "?");
}

/* Does CHAIN (agq_chain) go further than a task's plain run: a PR, a
 * review, an approval, a merge? */
static int
chain_worth(const json_t *chain)
{
	static const char *const ev[] = { "pr_open", "review_wait",
	    "approval_wait", "review_start", "review", "approve", "deny",
	    "merge", "pr_close", NULL };
	size_t k;
	json_t *e;
	json_array_foreach(chain, k, e)
		for (int i = 0; ev[i]; i++)
			if (!strcmp(JS(e, "ev") ? JS(e, "ev") : "", ev[i]))
				return 1;
	return 0;
}

#define OR(s) ((s) ? (s) : "?")

/* The chain's element E as one line for a person, after its time; ROOT
 * the coder task (a child's own events are named by its id). */
static void
print_link(const json_t *e, const char *root)
{
	const char *ev = JS(e, "ev"), *id = JS(e, "id");
	long long round = JI(e, "round");
	printf("        %s  ", OR(JS(e, "at")));
	if (id && strcmp(JS_RAW(e, "id"), root))
		printf("%s: ", id);
	if (!strcmp(ev, "submit") || !strcmp(ev, "accept"))
		printf("submitted%s%s\n", JS(e, "user") ? " by " : "",
		    JS(e, "user") ? JS(e, "user") : "");
	else if (!strcmp(ev, "start"))
		printf("attempt %lld started on %s\n", JI(e, "attempt") ?
		    JI(e, "attempt") : 1, OR(JS(e, "agent")));
	else if (!strcmp(ev, "finish"))
		printf("finished on %s: exit %lld, %.1f s\n", OR(JS(e, "agent")),
		    JI(e, "exit"), (double)JI(e, "duration_ms") / 1000);
	else if (!strcmp(ev, "commit"))
		printf("commit %.7s: %lld file%s\n", OR(JS(e, "sha")),
		    JI(e, "files"), JI(e, "files") == 1 ? "" : "s");
	else if (!strcmp(ev, "push"))
		printf("pushed %s at %.7s\n", OR(JS(e, "branch")),
		    OR(JS(e, "sha")));
	else if (!strcmp(ev, "pr_open") && json_is_integer(json_object_get(e,
	    "number")))
		printf("pull request %s #%lld %s\n", OR(JS(e, "pr")),
		    JI(e, "number"), OR(JS(e, "url")));
	else if (!strcmp(ev, "pr_open"))
		printf("pull request %s (no forge)\n", OR(JS(e, "pr")));
	else if (!strcmp(ev, "review_wait"))
		printf("round %lld: under review at %.7s\n", round,
		    OR(JS(e, "head")));
	else if (!strcmp(ev, "review_start"))
		printf("round %lld: review tasks submitted\n", round);
	else if (!strcmp(ev, "review"))
		printf("round %lld: %s by %s%s%s%s\n", round, OR(JS(e, "verdict")),
		    JS(e, "user") ? "user " : "", JS(e, "user") ? JS(e, "user") :
		    OR(JS(e, "agent")), *OR(JS(e, "comment")) ? ": " : "",
		    JS(e, "comment") ? JS(e, "comment") : "");
	else if (!strcmp(ev, "feedback")) {
		printf("round %lld: changes fed back to the coder, from", round);
		size_t k;
		json_t *w;
		json_array_foreach(json_object_get(e, "from"), k, w)
			printf("%s %s", k ? "," : "", agq_shown(
			    json_string_value(w)));
		json_array_foreach(json_object_get(e, "comments"), k, w)
			printf("%s%s", k ? " | " : ": ", agq_shown(
			    json_string_value(w)));
		printf("\n");
	} else if (!strcmp(ev, "approval_wait"))
		printf("waiting for a person to approve the %s\n",
		    OR(JS(e, "for")));
	else if (!strcmp(ev, "approve") || !strcmp(ev, "deny"))
		printf("%s%s%s by %s (uid %lld)%s%s\n", !strcmp(ev, "deny") ?
		    "denied" : "approved", JS(e, "for") ? " " : "",
		    JS(e, "for") ? JS(e, "for") : "", OR(JS(e, "user")),
		    JI(e, "uid"), JS(e, "text") ? ": " : "", JS(e, "text") ?
		    JS(e, "text") : "");
	else if (!strcmp(ev, "merge"))
		printf("merged (%s) as %.7s into %s%s%s\n", OR(JS(e, "method")),
		    OR(JS(e, "sha")), OR(JS(e, "base")), JS(e, "task") ?
		    " by " : "", JS(e, "task") ? JS(e, "task") : "");
	else if (!strcmp(ev, "merge_redo"))
		printf("push refused, %s moved to %.7s: merged again (redo "
		    "%lld)\n", OR(JS(e, "base")), OR(JS(e, "moved_to")),
		    JI(e, "redo"));
	else if (!strcmp(ev, "pr_close"))
		printf("pull request %s closed %s%s\n", OR(JS(e, "pr")),
		    JS(e, "user") ? "by " : "on the forge", JS(e, "user") ?
		    JS(e, "user") : "");
	else if (!strcmp(ev, "dead") && JS(e, "pr_state"))
		printf("dead: %s; pull request %s %s\n", OR(JS(e, "reason")),
		    OR(JS(e, "pr")), !strcmp(JS_RAW(e, "pr_state"), "open") ?
		    "left open" : JS(e, "pr_state"));
	else if (!strcmp(ev, "dead"))
		printf("dead: %s\n", OR(JS(e, "reason")));
	else
		printf("%s\n", ev);
}

/* LABEL, then the text S shown for a person (agq_human_dup with FLAGS),
 * then a newline. */
static void
show_text(const char *label, const char *s, int flags)
{
	char *h = agq_human_dup(s, strlen(s), flags);
	printf("%s%s\n", label, h);
	free(h);
}

/* How much of a failed attempt's stderr agq-show prints: its last lines,
 * from its last bytes. */
#define TAIL_LINES 5
#define TAIL_BYTES 2048

/* The end of out/ID/stderr (read through the checked handle, never
 * following a link) after "stderr:", when T's last attempt failed (an
 * exit other than 0, a signal or a timeout) and it is not running: the
 * first place a person looks for why. */
static void
print_stderr_tail(const struct agq_spool *sp, const char *id, const json_t *t,
                  int state)
{
	const json_t *a = agq_task_last_attempt(t);
	json_int_t code = json_integer_value(json_object_get(a, "exit"));
	if (!a || state == AGQ_ST_ACTIVE || !json_object_get(a, "finished") ||
	    (code == 0 && !json_object_get(a, "signal") &&
	    !json_is_true(json_object_get(a, "timed_out"))))
		return;
	int dfd = agq_out_open(sp, id, 0);
	int fd = dfd < 0 ? -1 : openat(dfd, "stderr", O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char buf[TAIL_BYTES + 1];
	ssize_t n = -1;
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = pread(fd, buf, TAIL_BYTES, st.st_size > TAIL_BYTES ?
		    st.st_size - TAIL_BYTES : 0);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* the start of the last TAIL_LINES lines (a cut first line: its end) */
	char *from = buf;
	int lines = 0;
	for (char *p = buf + n; p > buf && lines < TAIL_LINES; p--)
		if (p[-1] == '\n' && ++lines == TAIL_LINES)
			from = p;
	if (lines < TAIL_LINES && st.st_size > TAIL_BYTES) {
		char *nl = strchr(buf, '\n');
		from = nl ? nl + 1 : buf;
	}
	printf("stderr: its last lines (agq cat -e ID: all %lld bytes)\n",
	    (long long)st.st_size);
	char *save = NULL;
	for (char *l = strtok_r(from, "\n", &save); l; l = strtok_r(NULL,
	    "\n", &save)) {
		char *red = agq_redact_bearer(l);
		show_text("  ", red ? red : l, 0);
		free(red);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	agq_cli_parse(&cl, argc, argv);
	int rc = 0;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	for (int i = optind; i < argc; i++) {
		const char *id = argv[i];
		struct agq_loc loc;
		json_t *t = NULL, *arc = NULL;
		char *arcfile = NULL;
		t = agq_task_find_settled(&sp, id, &loc, AGQ_SETTLE_VIEW_MS);
		if (!t && errno != ENOENT) {    /* there, but not readable */
			int e = errno;
			agq_warn("%s: cannot read the task: %s (%s)", id,
			    e == EBADMSG ? "not a JSON object (agq-fsck --fix "
			    "quarantines it)" : strerror(e), loc.path);
			rc = e == EBADMSG ? EX_DATAERR : agq_exit_code(e);
			continue;
		}
		if (!t && agq_id_valid(id) &&
		    (arc = agq_archive_find(&sp, id, &arcfile))) {
			/* archived by agq-clean(8): its record */
			t = json_incref(json_object_get(arc, "task"));
			loc.state = AGQ_ST_NONE;
			snprintf(loc.path, sizeof loc.path, "%s/%s/%s", sp.root,
			    AGQ_ARCHIVE_DIR, arcfile);
		}
		if (!json_is_object(t)) {
			json_decref(t);
			json_decref(arc);
			free(arcfile);
			t = NULL;
			agq_warn("%s: no such task", id);
			rc = EX_NOINPUT;
			continue;
		}
		agq_redact(t);  /* what is shown, never what the task gets */
		json_t *kids = json_object(), *after, *deps;
		json_t *ev = events(&sp, id, kids);
		graph(&sp, id, t, kids, &after, &deps);
		json_decref(kids);
		json_t *git = git_chain(&sp, id, ev);
		char root[65];
		agq_chain_root(t, id, root);
		json_t *chain = agq_chain(&sp, root);
		if (cl.json) {
			json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}",
			    "id", id, "state", arc ? "archived" :
			    agq_state_name(loc.state), "path", loc.path, "task",
			    t, "events", ev);
			if (arc) {
				json_object_set(o, "archived",
				    json_object_get(arc, "state"));
				json_object_set(o, "result",
				    json_object_get(arc, "result"));
			}
			json_object_set_new(o, "lane", json_string(
			    agq_lane_name(agq_task_lane(t))));
			if (loc.state == AGQ_ST_ACTIVE)
				json_object_set_new(o, "agent",
				    json_string(loc.agent));
			if (git)
				json_object_set_new(o, "git", git);
			json_object_set_new(o, "chain", chain);
			json_object_set_new(o, "after", after);
			json_object_set_new(o, "dependents", deps);
			if (strcmp(root, id))
				json_object_set_new(o, "parent", json_string(root));
			const json_t *hb = loc.state == AGQ_ST_QUEUE && !arc ?
			    held_by(ev) : NULL;
			if (hb)
				json_object_set_new(o, "held_by", json_pack(
				    "{s:O, s:O*}", "limit", json_object_get(hb,
				    "limit"), "reason", json_object_get(hb,
				    "reason")));
			agq_print_json(o, JSON_COMPACT);
			json_decref(o);
			json_decref(arc);
			free(arcfile);
			continue;
		}
		printf("id:     %s\n", agq_shown(id));
		if (arc)
			printf("state:  archived (%s)", agq_shown(json_string_value(
			    json_object_get(arc, "state"))));
		else
			printf("state:  %s", agq_state_name(loc.state));
		if (loc.state == AGQ_ST_QUEUE)
			printf(" (lane %s)", agq_lane_name(loc.lane));
		if (loc.state == AGQ_ST_ACTIVE)
			printf(" (agent %s)", agq_shown(loc.agent));
		printf("\nfile:   %s\n", agq_shown(loc.path));
		const char *reason = json_string_value(json_object_get(t,
		    "reason"));
		if (reason)
			printf("reason: %s\n", agq_shown(reason));
		const char *waits = loc.state == AGQ_ST_QUEUE ?
		    wait_reason(ev) : NULL;
		if (waits)
			printf("waits:  %s\n", agq_shown(waits));
		const json_t *hb = loc.state == AGQ_ST_QUEUE && !arc ?
		    held_by(ev) : NULL;
		if (hb)
			printf("held by limit %s (%s)\n", JS(hb, "limit") ?
			    JS(hb, "limit") : "?", JS(hb, "reason") ? JS(hb,
			    "reason") : "?");
		print_graph("after:  ", after);
		print_graph("dependents: ", deps);
		json_decref(after);
		json_decref(deps);
		const json_t *th = loc.state == AGQ_ST_DEFER ?
		    last_throttle(ev) : NULL;
		if (th) {
			const char *f[3] = { "backend", "until", "reason" };
			for (int k = 0; k < 3; k++)
				f[k] = JS(th, f[k]);
			printf("limit:  backend %s until %s: %s\n", f[0] ? f[0] :
			    "?", f[1] ? f[1] : "?", f[2] ? f[2] : "?");
		}
		char *out = agq_spool_path(&sp, "out/%s", id);
		const char *rst = json_string_value(json_object_get(
		    json_object_get(arc, "result"), "status"));
		if (arc)        /* out/ID went; its result.json is kept */
			printf("output: removed by agq-clean; result %s\n",
			    rst ? agq_shown(rst) : "unknown");
		else
			printf("output: %s\n", agq_shown(out));
		free(out);
		if (!arc)
			print_stderr_tail(&sp, id, t, loc.state);
		if (git)
			print_chain(git);
		json_decref(git);
		if (strcmp(root, id) || chain_worth(chain)) {
			printf("chain:  %s%s\n", agq_shown(root), strcmp(root,
			    id) ? " (the parent)" : "");
			size_t k;
			json_t *e;
			json_array_foreach(chain, k, e)
				print_link(e, root);
		}
		json_decref(chain);
		/* jansson escapes C0 controls, not DEL nor C1 ones */
		char *s = json_dumps(t, JSON_INDENT(2));
		if (s)
			show_text("task:\n", s, AGQ_HUMAN_NL);
		free(s);
		printf("events:\n");
		size_t k;
		json_t *e;
		json_array_foreach(ev, k, e) {
			s = json_dumps(e, JSON_COMPACT);
			if (s)
				show_text("  ", s, 0);
			free(s);
		}
		if (i + 1 < argc)
			printf("\n");
		json_decref(t);
		json_decref(ev);
		json_decref(arc);
		free(arcfile);
	}
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
