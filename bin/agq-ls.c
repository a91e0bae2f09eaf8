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

static const char usage[] =
"usage: agq-ls [-s SPOOL] [--state S] [--lane L] [--agent A] [--json | -q]\n"
"List tasks, oldest first within each state.  See agq-ls(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --state S     only queue, defer, hold, active, done or dead\n"
"      --lane L      only tasks of lane urgent, high, normal or low\n"
"      --agent A     only tasks leased to agent A (active)\n"
"      --json        one JSON object per line: the task plus state, lane\n"
"  -q, --quiet       ids only, one per line (for agq-cancel and friends)\n";

struct row { int state; int64_t key; json_t *t; };
struct ctx { int lane; const char *agent; struct row *v; size_t n, cap; };

static int
collect(const struct agq_loc *loc, const char *id, void *arg)
{
	struct ctx *c = arg;
	if (c->agent && (loc->state != AGQ_ST_ACTIVE || strcmp(loc->agent,
	    c->agent)))
		return 0;
	json_t *t = agq_task_read(loc->path);
	if (!t) {
		if (errno != ENOENT)
			agq_syserr("cannot read task", loc->path);
		return 0;
	}
	agq_redact(t);          /* what is shown, never what runs */
	if (!json_object_get(t, "id"))
		json_object_set_new(t, "id", json_string(id));
	if (c->lane >= 0 && agq_task_lane(t) != c->lane) {
		json_decref(t);
		return 0;
	}
	json_object_set_new(t, "state", json_string(agq_state_name(loc->state)));
	if (loc->state == AGQ_ST_ACTIVE)
		json_object_set_new(t, "agent", json_string(loc->agent));
	c->v = agq_grow(c->v, &c->cap, c->n, sizeof *c->v, 64);
	c->v[c->n].state = loc->state;
	c->v[c->n].key = agq_task_time(t, "submitted_at", 0);
	c->v[c->n++].t = t;
	return 0;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->state != y->state)
		return x->state - y->state;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return strcmp(agq_task_id(x->t), agq_task_id(y->t));
}

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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "state", required_argument, NULL, 'S' },
		{ "lane", required_argument, NULL, 'L' },
		{ "agent", required_argument, NULL, 'A' },
		AGQ_OPT_JSON, AGQ_OPT_QUIET, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:q",
	    .longopts = longopts };
	int state = -1, c;
	struct ctx cx = { -1, NULL, NULL, 0, 0 };
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'S':
			if ((state = agq_state_parse(optarg)) < 0)
				agq_die(EX_USAGE, "--state: unknown state '%s' "
				    "(queue, defer, hold, active, done, dead)",
				    optarg);
			break;
		case 'L':
			if ((cx.lane = agq_lane_parse(optarg)) < 0)
				agq_die(EX_USAGE, "--lane: unknown lane '%s' "
				    "(urgent, high, normal, low)", optarg);
			break;
		case 'A': cx.agent = optarg; break;
		}
	}
	int json = cl.json, quiet = cl.quiet;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	if (cx.agent && state < 0)
		state = AGQ_ST_ACTIVE;
	if (agq_each_task(&sp, state, collect, &cx) < 0)
		agq_syserr("cannot list tasks", sp.root);
	if (cx.n)       /* qsort(3) of a NULL array is undefined */
		qsort(cx.v, cx.n, sizeof *cx.v, row_cmp);
	if (!json && !quiet && cx.n)
		printf("%-46s %-6s %-6s %-10s %5s  %s\n", "ID", "STATE", "LANE",
		    "AGENT", "TRIES", "TASK");
	for (size_t i = 0; i < cx.n; i++) {
		json_t *t = cx.v[i].t;
		if (quiet) {
			printf("%s\n", agq_task_id(t));
		} else if (json) {
			json_object_set_new(t, "lane", json_string(
			    agq_lane_name(agq_task_lane(t))));
			agq_print_json(t, JSON_COMPACT);
		} else {
			char what[200];
			describe(t, what, sizeof what);
			const char *ag = json_string_value(json_object_get(t,
			    "agent"));
			printf("%-46s %-6s %-6s %-10s %5zu  %s\n", agq_task_id(t),
			    agq_state_name(cx.v[i].state),
			    agq_lane_name(agq_task_lane(t)), ag ? ag : "-",
			    json_array_size(json_object_get(t, "attempts")), what);
		}
		json_decref(t);
	}
	free(cx.v);
	agq_spool_close(&sp);
	return agq_cli_done(0);
}
