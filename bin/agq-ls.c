/* agq-ls - list tasks (agq-ls(1)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "redact.h"
#include "cli.h"
#include "task.h"
#include "spool.h"
#include "open.h"
#include "archive.h"

static const char usage[] =
"usage: agq-ls [-s SPOOL] [--state S] [--lane L] [--agent A] [--archive]\n"
"              [--json | -q]\n"
"       agq-ls [-s SPOOL] --tree\n"
"List tasks, oldest first within each state.  See agq-ls(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --state S     only blocked, queue, defer, hold, active, review,\n"
"                    approval, done, dead or archived (repeated, or\n"
"                    S,S...: any of them); or alone inbox or corrupt\n"
"                    (raw files, unparsable ones by name)\n"
"      --archive     the tasks agq-clean archived too (SPOOL/archive/)\n"
"      --lane L      only tasks of lane urgent, high, normal or low\n"
"                    (repeated, or L,L...: any of them)\n"
"      --agent A     only tasks leased to agent A (active)\n"
"      --json        one JSON object per line: the task plus state, lane\n"
"  -q, --quiet       ids only, one per line (for agq-cancel and friends)\n"
"      --tree        the dependency graph (after): each task under its\n"
"                    parents, \"(see above)\" after its first place\n";

/* One listed task, kept small: the task's tree is freed as soon as its
 * row is made, so 100,000 queued tasks cost their rows, not their trees. */
struct row { int state; int64_t key; char *id; char *line;
             char *after; /* --tree: its "after", ids and spaces */ };
struct rows { struct row *v; size_t n, cap; };
/* The rows are made by agq_each_task_par's workers, each into its own
 * vector w[WORKER], merged before sorting. */
/* LANES: a bit (1 << lane) for each lane listed; 0: every lane. */
struct ctx { unsigned lanes; int json, quiet, cols, tree; const char *agent;
             struct rows w[8]; };

/* The state of an archived task's row (agq-clean(8)): after dead. */
#define ST_ARCHIVED (-2)

static void describe(const json_t *t, char *buf, size_t size);

/* --state's bit for archived (the states' bits are 1 << AGQ_ST_*). */
#define ARCHIVED_BIT (1u << AGQ_NSTATES)

/* agq_cli_words' FN for --state: state W's bit added to *ARG (unsigned
 * bits); exits 64 on an unknown one. */
static void
state_word(const char *w, void *arg)
{
	int s = strcmp(w, "archived") ? agq_state_parse(w) : -2;
	if (s == -1 || !strcmp(w, "inbox") || !strcmp(w, "corrupt"))
		agq_die(EX_USAGE, "--state: unknown state '%s' (blocked, queue, "
		    "defer, hold, active, review, approval, done, dead, "
		    "archived; alone: inbox, corrupt)", w);
	*(unsigned *)arg |= s == -2 ? ARCHIVED_BIT : 1u << s;
}

/* agq_cli_words' FN for --lane: lane W's bit added to *ARG; exits 64 on
 * an unknown one. */
static void
lane_word(const char *w, void *arg)
{
	int l = agq_lane_parse(w);
	if (l < 0)
		agq_die(EX_USAGE, "--lane: unknown lane '%s' (urgent, high, "
		    "normal or low)", w);
	*(unsigned *)arg |= 1u << l;
}
static void waiting_for(int state, const json_t *t, char *buf, size_t size);

/* One line of the table: ID, STATE, LANE, AGENT and TRIES, then WHAT (the
 * task's title or command), each shown for a person (agq_human); on a
 * terminal of COLS columns (not 0) WHAT is cut to what is left of the
 * line, at least 16 columns (agq(7), Terminal output).  Malloc'd; safe
 * in agq_each_task_par's workers (no static buffer). */
static char *
row_text(const char *id, const char *state, const char *lane,
         const char *agent, const char *tries, const char *what, int cols)
{
	char shown[800], hid[260], hag[260];
	agq_human(shown, sizeof shown, what);
	if (cols)
		agq_text_cut(shown, cols > 81 + 16 ? (size_t)cols - 81 : 16);
	return agq_xasprintf("%-46s %-8s %-6s %-10s %5s  %s", agq_human(hid,
	    sizeof hid, id), state, lane, agq_human(hag, sizeof hag, agent),
	    tries, shown);
}

/* The row's printed form: the compact JSON (--json), or the table line;
 * NULL for --quiet, which prints the id alone. */
static char *
row_line(const struct ctx *c, const struct agq_loc *loc, json_t *t)
{
	if (c->quiet)
		return NULL;
	if (c->json) {
		agq_redact(t);          /* what is shown, never what runs */
		json_object_set_new(t, "state", json_string(
		    agq_state_name(loc->state)));
		if (loc->state == AGQ_ST_ACTIVE)
			json_object_set_new(t, "agent", json_string(
			    loc->agent));
		json_object_set_new(t, "lane", json_string(
		    agq_lane_name(agq_task_lane(t))));
		/* json_dumpb(3) into our own buffer: nothing of the arena
		 * outlives the task's tree */
		size_t n = json_dumpb(t, NULL, 0, JSON_COMPACT);
		char *s = agq_xmalloc(n + 1);
		if (!n || json_dumpb(t, s, n, JSON_COMPACT) != n)
			agq_die(EX_OSERR, "cannot write task %s as JSON",
			    agq_task_id(t));
		s[n] = '\0';
		return s;
	}
	char what[200], tries[32];
	describe(t, what, sizeof what);
	waiting_for(loc->state, t, what, sizeof what);
	char *red = agq_redact_bearer(what);
	if (c->tree) {          /* a node of the tree: ID, STATE, WHAT */
		char hid[260], shown[800];
		agq_human(shown, sizeof shown, red ? red : what);
		char *s = agq_xasprintf("%s  %s  %s", agq_human(hid, sizeof hid,
		    agq_task_id(t)), agq_state_name(loc->state), shown);
		free(red);
		return s;
	}
	snprintf(tries, sizeof tries, "%zu", json_array_size(
	    json_object_get(t, "attempts")));
	char *s = row_text(agq_task_id(t), agq_state_name(loc->state),
	    agq_lane_name(agq_task_lane(t)), loc->state == AGQ_ST_ACTIVE ?
	    loc->agent : "-", tries, red ? red : what, c->cols);
	free(red);
	return s;
}

static void
collect(const struct agq_loc *loc, const char *id, void *arg, int worker)
{
	struct ctx *c = arg;
	struct rows *w = &c->w[worker];
	if (c->agent && (loc->state != AGQ_ST_ACTIVE || strcmp(loc->agent,
	    c->agent)))
		return;
	agq_json_arena_enter();         /* t's tree: gone by the leave */
	json_t *t = agq_task_read_loc(loc);
	if (!t) {
		if (errno != ENOENT)
			agq_syserr("cannot read task", loc->path);
		agq_json_arena_leave();
		return;
	}
	if (!json_is_string(json_object_get(t, "id")))
		json_object_set_new(t, "id", json_string(id));
	if (c->lanes && !(c->lanes & 1u << agq_task_lane(t))) {
		json_decref(t);
		agq_json_arena_leave();
		return;
	}
	w->v = agq_grow(w->v, &w->cap, w->n, sizeof *w->v, 1024);
	struct row *r = &w->v[w->n++];
	r->state = loc->state;
	r->key = agq_task_time(t, "submitted_at", 0);
	r->id = agq_xstrdup(agq_task_id(t));
	r->line = row_line(c, loc, t);
	r->after = NULL;
	if (c->tree && json_array_size(json_object_get(t, "after"))) {
		size_t i, n = 0;
		json_t *e;
		const json_t *after = json_object_get(t, "after");
		r->after = agq_xmalloc(json_array_size(after) * 66 + 1);
		json_array_foreach(after, i, e)
			n += (size_t)sprintf(r->after + n, "%s%s", i ? " " : "",
			    json_string_value(e));
	}
	json_decref(t);
	agq_json_arena_leave();
}

/* The order states are listed in: a task's way, blocked/ first, review/
 * and approval/ (after active/) before done/ and dead/. */
static int
state_order(int s)
{
	return s == ST_ARCHIVED ? AGQ_NSTATES * 4 : s == AGQ_ST_BLOCKED ? -1 :
	    s == AGQ_ST_REVIEW ? AGQ_ST_ACTIVE * 4 + 1 :
	    s == AGQ_ST_APPROVAL ? AGQ_ST_ACTIVE * 4 + 2 : s * 4;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->state != y->state)
		return state_order(x->state) - state_order(y->state);
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* --tree's order: submission time, then id, whatever the state. */
static int
key_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* What the TASK column shows: the title, else the command, else the
 * prompt's first line; into BUF (SIZE bytes), cut to fit. */
static void
describe(const json_t *t, char *buf, size_t size)
{
	const char *title = json_string_value(json_object_get(t, "title"));
	json_t *cmd = json_object_get(t, "cmd");
	const char *prompt = json_string_value(json_object_get(t, "prompt"));
	if (title) {
		snprintf(buf, size, "%s", title);
	} else if (json_is_string(cmd)) {
		snprintf(buf, size, "%s", json_string_value(cmd));
	} else if (!cmd && prompt) {
		/* a prompt task: its prompt's first line */
		snprintf(buf, size, "%.*s", (int)strcspn(prompt, "\n"), prompt);
	} else {
		size_t i, n = 0;
		json_t *a;
		buf[0] = '\0';
		json_array_foreach(cmd, i, a) {
			int w = snprintf(buf + n, size - n, "%s%s", i ? " " : "",
			    json_string_value(a));
			if (w < 0 || (size_t)w >= size - n)
				break;
			n += (size_t)w;
		}
	}
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
}

/* What a task in blocked/, review/ or approval/ waits for, put before its
 * TASK column text in BUF (SIZE bytes, cut to fit): "[after P, Q] " (its
 * `blocked_on`, the parents not ended), "[round N] " (its `round`,
 * the round under review) or "[approve FOR] " (its `approval_for`, push
 * or merge), agq-spool(5).  Other states: BUF unchanged. */
static void
waiting_for(int state, const json_t *t, char *buf, size_t size)
{
	char pre[120];
	if (state == AGQ_ST_BLOCKED) {
		/* the parents it still waits for: "[after P, Q] " */
		size_t n = (size_t)snprintf(pre, sizeof pre, "[after ");
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(t, "blocked_on"), i, e)
			if (n < sizeof pre)
				n += (size_t)snprintf(pre + n, sizeof pre - n,
				    "%s%s", i ? ", " : "", json_string_value(e));
		if (n + 3 > sizeof pre)
			snprintf(pre + sizeof pre - 6, 6, "...] ");
		else
			snprintf(pre + n, sizeof pre - n, "] ");
	} else if (state == AGQ_ST_REVIEW)
		snprintf(pre, sizeof pre, "[round %lld] ", (long long)
		    json_integer_value(json_object_get(t, "round")));
	else if (state == AGQ_ST_APPROVAL)
		snprintf(pre, sizeof pre, "[approve %.20s] ", json_string_value(
		    json_object_get(t, "approval_for")) ? json_string_value(
		    json_object_get(t, "approval_for")) : "?");
	else
		return;
	size_t n = strlen(pre), len = strlen(buf);
	if (n >= size)
		return;
	if (len > size - n - 1)
		len = size - n - 1;
	memmove(buf + n, buf, len);
	buf[n + len] = '\0';
	memcpy(buf, pre, n);
}

/* The files of inbox/ or corrupt/ (DIR), raw drops agq has not accepted
 * (agq-spool(5)): each read as a task where it can be, else shown by its
 * file name and why not.  corrupt/'s NAME.why notes are not listed. */
struct raw { const struct agq_spool *sp; const char *dir; json_t *rows; };

static int
raw_one(const char *name, void *arg)
{
	struct raw *r = arg;
	size_t n = strlen(name);
	if (!strcmp(r->dir, "corrupt") && n > 4 && !strcmp(name + n - 4, ".why"))
		return 0;
	char *path = agq_spool_path(r->sp, "%s/%s", r->dir, name);
	json_t *t = agq_json_read_object(path, r->sp->conf.max_task_bytes);
	json_t *row = json_is_object(t) ? t : json_object();
	if (!t)
		json_object_set_new(row, "error", json_string(errno == EBADMSG ?
		    "not a JSON object" : strerror(errno)));
	else
		agq_redact(row);
	json_object_set_new(row, "file", agq_json_text(name, n));
	json_object_set_new(row, "state", json_string(r->dir));
	json_array_append_new(r->rows, row);
	free(path);
	return 0;
}

static int
file_cmp(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	return strcmp(json_string_value(json_object_get(x, "file")),
	    json_string_value(json_object_get(y, "file")));
}

/* agq-ls --state inbox|corrupt: the rows of DIR, by file name, as the
 * other states' (the id, or the file name when the drop has none; the
 * TASK column says why a file is not a task). */
static void
list_raw(const struct agq_spool *sp, const char *dir, const struct ctx *c)
{
	struct raw r = { sp, dir, json_array() };
	char *d = agq_spool_path(sp, "%s", dir);
	if (agq_dir_each(d, raw_one, &r) < 0 && errno != ENOENT)
		agq_syserr("cannot list", d);
	free(d);
	size_t n = json_array_size(r.rows);
	json_t **v = agq_xmalloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(r.rows, i);
	qsort(v, n, sizeof *v, file_cmp);
	if (!c->json && !c->quiet && n)
		printf("%-46s %-8s %-6s %-10s %5s  %s\n", "ID", "STATE", "LANE",
		    "AGENT", "TRIES", "TASK");
	for (size_t i = 0; i < n; i++) {
		json_t *t = v[i];
		const char *id = json_string_value(json_object_get(t, "id"));
		const char *file = json_string_value(json_object_get(t, "file"));
		const char *err = json_string_value(json_object_get(t, "error"));
		if (c->json) {
			agq_print_json(t, JSON_COMPACT);
		} else if (c->quiet) {
			if (id)
				printf("%s\n", agq_shown(id));
		} else {
			char what[200];
			if (err)
				snprintf(what, sizeof what, "(%s: %s)", file, err);
			else
				describe(t, what, sizeof what);
			char *line = row_text(id ? id : file, dir, err ? "-" :
			    agq_lane_name(agq_task_lane(t)), "-", "-", what,
			    c->cols);
			puts(line);
			free(line);
		}
	}
	free(v);
	json_decref(r.rows);
}

/* agq-ls --archive: the records of archive/ (agq_archive_each) as rows
 * after the spool's, state "archived"; a task also in the spool (a
 * crash in agq-clean between its append and its removal) and a record
 * of an id seen already are left out.  ONLY_END: AGQ_ST_DONE or
 * AGQ_ST_DEAD to take only the tasks that ended so, else -1. */
struct arc { struct ctx *c; struct rows *all; json_t *seen; int only_end; };

static int
arc_one(const char *line, size_t len, const char *id, void *arg)
{
	struct arc *A = arg;
	struct ctx *c = A->c;
	if (json_object_get(A->seen, id))
		return 0;
	json_t *rec = json_loadb(line, len, 0, NULL);
	json_t *t = json_object_get(rec, "task");
	const char *end = json_string_value(json_object_get(rec, "state"));
	if (!json_is_object(t) || !end || (c->lanes &&
	    !(c->lanes & 1u << agq_task_lane(t))) || (A->only_end >= 0 &&
	    agq_state_parse(end) != A->only_end)) {
		json_decref(rec);
		return 0;
	}
	json_object_set_new(A->seen, id, json_true());
	A->all->v = agq_grow(A->all->v, &A->all->cap, A->all->n,
	    sizeof *A->all->v, 1024);
	struct row *r = &A->all->v[A->all->n++];
	r->state = ST_ARCHIVED;
	r->key = agq_task_time(t, "submitted_at", 0);
	r->id = agq_xstrdup(id);
	r->line = NULL;
	r->after = NULL;
	if (c->json) {
		agq_redact(t);
		json_object_set_new(t, "state", json_string("archived"));
		json_object_set_new(t, "archived", json_string(end));
		json_object_set(t, "archived_at", json_object_get(rec,
		    "archived_at"));
		json_object_set_new(t, "lane", json_string(
		    agq_lane_name(agq_task_lane(t))));
		r->line = json_dumps(t, JSON_COMPACT);
	} else if (!c->quiet) {
		char desc[200], what[240], tries[32];
		describe(t, desc, sizeof desc);
		/* how it ended first, as waiting_for's prefixes */
		snprintf(what, sizeof what, "[%.20s] %s", end, desc);
		char *red = agq_redact_bearer(what);
		snprintf(tries, sizeof tries, "%zu", json_array_size(
		    json_object_get(t, "attempts")));
		r->line = row_text(id, "archived", agq_lane_name(
		    agq_task_lane(t)), "-", tries, red ? red : what, c->cols);
		free(red);
	}
	json_decref(rec);
	return 0;
}

/* agq-ls --tree: the rows ALL (N, in submission order) that are in the
 * dependency graph (with "after", or named in one) drawn as an ASCII
 * tree, each task under each of its parents listed here: its subtree at
 * its first place, "(see above)" at the others.  A task whose parents
 * are all gone from the spool (archived) is a root.  Deeper than
 * TREE_INDENT levels the indentation stops growing and the line says its
 * depth.  No recursion: a chain of any length. */
#define TREE_INDENT 32
static void
print_tree(struct row *all, size_t n)
{
	json_t *index = json_object();  /* id -> row */
	for (size_t i = 0; i < n; i++)
		json_object_set_new(index, all[i].id, json_integer((json_int_t)i));
	json_t **kids = agq_xmalloc((n + 1) * sizeof *kids);
	unsigned char *haspar = agq_xmalloc(n + 1), *shown = agq_xmalloc(n + 1);
	memset(haspar, 0, n + 1);
	memset(shown, 0, n + 1);
	for (size_t i = 0; i < n; i++)
		kids[i] = NULL;
	for (size_t i = 0; i < n; i++) {
		char *a = all[i].after;
		while (a && *a) {
			size_t len = strcspn(a, " ");
			char id[65];
			snprintf(id, sizeof id, "%.*s", (int)len, a);
			a += len + (a[len] == ' ');
			json_t *p = json_object_get(index, id);
			if (!p)
				continue;
			size_t pi = (size_t)json_integer_value(p);
			haspar[i] = 1;
			if (!kids[pi])
				kids[pi] = json_array();
			json_array_append_new(kids[pi], json_integer(
			    (json_int_t)i));
		}
	}
	/* the walk: a stack of (row, next child); last[d]: is the node at
	 * depth d its parent's last child */
	size_t cap = 64, top;
	size_t *node = agq_xmalloc(cap * sizeof *node);
	size_t *next = agq_xmalloc(cap * sizeof *next);
	unsigned char *last = agq_xmalloc(cap);
	for (size_t r = 0; r < n; r++) {
		if (haspar[r] || !kids[r])
			continue;       /* not a root, or not in the graph */
		top = 0;
		node[0] = r;
		next[0] = 0;
		last[0] = 1;
		shown[r] = 1;
		puts(all[r].line);
		top = 1;
		while (top > 0) {
			size_t v = node[top - 1];
			if (!kids[v] || next[top - 1] >= json_array_size(kids[v])) {
				top--;
				continue;
			}
			size_t k = next[top - 1]++;
			size_t c = (size_t)json_integer_value(json_array_get(
			    kids[v], k));
			int is_last = k + 1 == json_array_size(kids[v]);
			/* the prefix: one column per ancestor below the root */
			size_t d = top;         /* depth of c */
			for (size_t j = 1; j < d && j <= TREE_INDENT; j++)
				fputs(last[j] ? "    " : "|   ", stdout);
			if (d > TREE_INDENT + 1)
				printf("(depth %zu) ", d);
			fputs(is_last ? "`-- " : "|-- ", stdout);
			if (shown[c]) {
				printf("%s (see above)\n", all[c].line);
				continue;
			}
			shown[c] = 1;
			puts(all[c].line);
			if (top == cap) {
				cap *= 2;
				node = realloc(node, cap * sizeof *node);
				next = realloc(next, cap * sizeof *next);
				last = realloc(last, cap);
				if (!node || !next || !last)
					agq_die(EX_OSERR, "out of memory");
			}
			node[top] = c;
			next[top] = 0;
			last[top] = (unsigned char)is_last;
			top++;
		}
	}
	for (size_t i = 0; i < n; i++)
		json_decref(kids[i]);
	free(kids);
	free(node);
	free(next);
	free(last);
	free(haspar);
	free(shown);
	json_decref(index);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "state", required_argument, NULL, 'S' },
		{ "lane", required_argument, NULL, 'L' },
		{ "agent", required_argument, NULL, 'A' },
		{ "archive", no_argument, NULL, 'R' },
		{ "tree", no_argument, NULL, 'T' },
		AGQ_OPT_JSON, AGQ_OPT_QUIET, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:q",
	    .longopts = longopts };
	/* STATES: a bit (1 << state) for each state listed, ARCHIVED_BIT
	 * for archived; 0: every state */
	unsigned states = 0;
	int c, archive = 0;
	const char *raw = NULL;         /* --state inbox or corrupt */
	struct ctx cx = { .lanes = 0 };
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'S':
			if (!strcmp(optarg, "inbox") || !strcmp(optarg,
			    "corrupt")) {
				if (raw || states)
					agq_die(EX_USAGE, "--state %s: alone, "
					    "not with another state", optarg);
				raw = optarg;
			} else {
				if (raw)
					agq_die(EX_USAGE, "--state %s: alone, "
					    "not with another state", raw);
				agq_cli_words("--state", optarg, state_word,
				    &states);
			}
			break;
		case 'R': archive = 1; break;
		case 'L':
			agq_cli_words("--lane", optarg, lane_word,
			    &cx.lanes);
			break;
		case 'A': cx.agent = optarg; break;
		case 'T': cx.tree = 1; break;
		}
	}
	cx.json = cl.json;
	cx.quiet = cl.quiet;
	if (cx.tree && (cx.json || cx.quiet || states || archive || raw ||
	    cx.agent || cx.lanes))
		agq_die(EX_USAGE, "--tree: with no other option but -s");
	cx.cols = agq_term_cols(1);
	agq_json_arena_init();          /* collect's task trees */
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	if (raw) {
		list_raw(&sp, raw, &cx);
		agq_spool_close(&sp);
		return agq_cli_done(0);
	}
	if (cx.agent && !states)
		states = 1u << AGQ_ST_ACTIVE;
	if (states & ARCHIVED_BIT)
		archive = 1;
	if (!states && agq_each_task_par(&sp, -1, collect, &cx) < 0)
		agq_syserr("cannot list tasks", sp.root);
	for (int s = 0; s < AGQ_NSTATES; s++)
		if (states & 1u << s && agq_each_task_par(&sp, s, collect,
		    &cx) < 0)
			agq_syserr("cannot list tasks", sp.root);
	struct rows all = cx.w[0];
	for (int w = 1; w < 8; w++) {
		for (size_t i = 0; i < cx.w[w].n; i++) {
			all.v = agq_grow(all.v, &all.cap, all.n, sizeof *all.v,
			    1024);
			all.v[all.n++] = cx.w[w].v[i];
		}
		free(cx.w[w].v);
	}
	/* archived tasks: finished, never leased; not for other states */
	unsigned ended = 1u << AGQ_ST_DONE | 1u << AGQ_ST_DEAD;
	if (archive && !cx.agent && (!states || states & (ARCHIVED_BIT |
	    ended))) {
		/* archived tasks of the end asked for: done or dead, or any */
		int only = !states || states & ARCHIVED_BIT || (states & ended) ==
		    ended ? -1 : states & 1u << AGQ_ST_DONE ? AGQ_ST_DONE :
		    AGQ_ST_DEAD;
		struct arc A = { &cx, &all, json_object(), only };
		for (size_t i = 0; i < all.n; i++)
			json_object_set_new(A.seen, all.v[i].id, json_true());
		if (agq_archive_each(&sp, arc_one, &A) < 0) {
			char *d = agq_spool_path(&sp, AGQ_ARCHIVE_DIR);
			agq_syserr("cannot list", d);
			free(d);
		}
		json_decref(A.seen);
	}
	if (all.n)      /* qsort(3) of a NULL array is undefined */
		qsort(all.v, all.n, sizeof *all.v, cx.tree ? key_cmp : row_cmp);
	if (cx.tree) {
		print_tree(all.v, all.n);
		for (size_t i = 0; i < all.n; i++) {
			free(all.v[i].line);
			free(all.v[i].id);
			free(all.v[i].after);
		}
		all.n = 0;
	}
	if (!cx.json && !cx.quiet && all.n)
		printf("%-46s %-8s %-6s %-10s %5s  %s\n", "ID", "STATE", "LANE",
		    "AGENT", "TRIES", "TASK");
	for (size_t i = 0; i < all.n; i++) {
		puts(all.v[i].line ? all.v[i].line : agq_shown(all.v[i].id));
		free(all.v[i].line);
		free(all.v[i].id);
		free(all.v[i].after);
	}
	free(all.v);
	agq_spool_close(&sp);
	return agq_cli_done(0);
}
