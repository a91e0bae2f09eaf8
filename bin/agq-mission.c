/* agq-mission - missions: named sets of tasks with a goal (agq-mission(1)). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "task.h"
#include "spool.h"
#include "open.h"
#include "mission.h"
#include "submit.h"
#include "taskgit.h"

static const char usage[] =
"usage: agq-mission [-s SPOOL] new TITLE [--goal T] [--accept T]...\n"
"                   [--plan FILE] [--pr mission|task]\n"
"       agq-mission [-s SPOOL] ls [--json]\n"
"       agq-mission [-s SPOOL] show MISSION [--json]\n"
"       agq-mission [-s SPOOL] close MISSION\n"
"       agq-mission [-s SPOOL] pr MISSION\n"
"Missions: named sets of tasks with a goal and acceptance criteria, their\n"
"state derived from their tasks' (open, blocked, failed, done).  new\n"
"prints the new mission's id; pr opens the one PR of a done mission whose\n"
"tasks share a branch (show does too).  See agq-mission(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --goal T      new: the mission's goal\n"
"      --accept T    new: an acceptance criterion (repeatable)\n"
"      --plan FILE   new: a JSON array of tasks submitted into the mission\n"
"                    (\"-\": standard input; after may hold indexes)\n"
"      --pr UNIT     new: mission: its git tasks commit on one branch and\n"
"                    one PR is opened when it is done; task (default): a PR\n"
"                    per task\n"
"      --json        ls: one JSON array; show: one object\n"
"Exit: 0 ok, 1 close of a mission closed already, 64 usage, 65 an\n"
"invalid title or plan (nothing created), 66 no such mission or plan\n"
"file, 69 pr: the PR cannot be opened (not done: 1), 75 temporary failure\n"
"(a full disk).\n";

/* The plan in file PATH ("-": standard input), parsed; exits 66 when it
 * cannot be read, 65 when it is not JSON. */
static json_t *
read_plan(const char *path)
{
	size_t len;
	char *buf = agq_cli_read_file("the plan", path, (size_t)1 << 30, &len);
	json_error_t je;
	json_t *plan = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!plan)
		agq_die(EX_DATAERR, "the plan: not JSON: %s at line %d (%s)",
		    je.text, je.line, path);
	return plan;
}

/* new: the mission M, with the tasks of PLAN (may be NULL) checked
 * before it is made and submitted into it after. */
static int
cmd_new(struct agq_spool *sp, json_t *m, json_t *plan)
{
	char id[65] = "", err[2048], gen[65];
	agq_gen_id(gen);
	snprintf(id, sizeof id, "m-%.61s", gen);
	char cwd[PATH_MAX];
	json_t *inherit = getcwd(cwd, sizeof cwd) ? json_pack("{s:s}", "cwd",
	    cwd) : NULL;
	struct agq_submit_plan_opts o = { .mission = id, .inherit = inherit,
	    .uid = getuid(), .source = "mission", .dry = 1 };
	int rc = 0;
	if (plan && agq_submit_plan(sp, plan, &o, NULL, err, sizeof err) != 0) {
		agq_warn("--plan: %s (nothing created)", err);
		rc = EX_DATAERR;
		goto out;
	}
	int r = agq_mission_create(sp, m, id, err, sizeof err);
	if (r > 0) {
		agq_warn("%s", err);
		rc = EX_DATAERR;
		goto out;
	}
	if (r < 0) {
		rc = agq_spool_syserr(sp, "cannot create the mission",
		    "missions/%s.json", id);
		goto out;
	}
	o.dry = 0;
	if (plan && (r = agq_submit_plan(sp, plan, &o, NULL, err,
	    sizeof err)) != 0) {
		int e = errno;
		agq_warn("--plan: %s (mission %s made)", err, id);
		rc = r > 0 ? EX_DATAERR : agq_exit_code(e);
	}
	printf("%s\n", id);
out:
	json_decref(inherit);
	return rc;
}

/* The summary of mission ID for ls: its record with "state", "tasks"
 * (total) and "done"; NULL with errno. */
static json_t *
summary(struct agq_spool *sp, const char *id, json_t **tasks)
{
	json_t *m = agq_mission_read(sp, id);
	if (!m)
		return NULL;
	struct agq_mission_counts c;
	json_t *t = agq_mission_tasks(sp, id, &c);
	if (!t) {
		int e = errno;
		json_decref(m);
		errno = e;
		return NULL;
	}
	json_object_set_new(m, "state", json_string(agq_mission_state_name(
	    agq_mission_state(&c))));
	json_object_set_new(m, "total", json_integer((json_int_t)
	    json_array_size(t)));
	json_object_set_new(m, "done", json_integer((json_int_t)
	    c.n[AGQ_ST_DONE]));
	if (tasks)
		*tasks = t;
	else
		json_decref(t);
	return m;
}

static int
cmd_ls(struct agq_spool *sp, int json)
{
	json_t *ids = agq_mission_ids(sp);
	if (!ids)
		return agq_spool_syserr(sp, "cannot list", "missions");
	json_t *all = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		json_t *m = summary(sp, json_string_value(v), NULL);
		if (m)
			json_array_append_new(all, m);
		else if (errno != ENOENT)
			agq_spool_syserr(sp, "cannot read", "missions/%s.json",
			    json_string_value(v));
	}
	if (json) {
		agq_print_json(all, JSON_COMPACT);
	} else {
		int cols = agq_term_cols(1);
		json_array_foreach(all, i, v) {
			char line[1024];
			snprintf(line, sizeof line, "%-28s %-7s %3lld/%-3lld %s%s",
			    json_string_value(json_object_get(v, "id")),
			    json_string_value(json_object_get(v, "state")),
			    json_integer_value(json_object_get(v, "done")),
			    json_integer_value(json_object_get(v, "total")),
			    json_object_get(v, "closed") ? "(closed) " : "",
			    agq_shown_get(v, "title"));
			if (cols > 0 && cols < (int)sizeof line)
				line[cols] = '\0';
			printf("%s\n", line);
		}
	}
	json_decref(all);
	json_decref(ids);
	return 0;
}

/* A progress bar of DONE of TOTAL, WIDTH cells, on standard output. */
static void
bar(json_int_t done, json_int_t total, int width)
{
	int fill = total > 0 ? (int)(done * width / total) : 0;
	putchar('[');
	for (int i = 0; i < width; i++)
		putchar(i < fill ? '#' : '.');
	printf("] %lld/%lld done\n", (long long)done, (long long)total);
}

/* The mission's one PR opened when it is done and has none (a crash
 * after the last push): agq_taskgit_mission_pr.  0, 1 nothing to do, -1
 * (a warning printed). */
static int
mission_pr(struct agq_spool *sp, const char *id)
{
	char err[2048];
	int r = agq_taskgit_mission_pr(sp, id, getenv("AGQ_AGENT"), err,
	    sizeof err);
	if (r < 0)
		agq_warn("mission %s: %s", id, err);
	return r;
}

static int
cmd_show(struct agq_spool *sp, const char *id, int json)
{
	json_t *tasks;
	(void)mission_pr(sp, id);
	json_t *m = summary(sp, id, &tasks);
	if (!m) {
		if (errno == ENOENT || errno == EINVAL) {
			agq_warn("no mission %s", id);
			return EX_NOINPUT;
		}
		return agq_spool_syserr(sp, "cannot read", "missions/%s.json",
		    id);
	}
	json_object_set_new(m, "tasks", tasks);
	if (json) {
		agq_print_json(m, JSON_COMPACT);
		json_decref(m);
		return 0;
	}
	printf("mission:    %s\n", agq_shown_get(m, "id"));
	printf("title:      %s\n", agq_shown_get(m, "title"));
	if (json_object_get(m, "goal"))
		printf("goal:       %s\n", agq_shown_get(m, "goal"));
	size_t i;
	json_t *v, *e;
	json_array_foreach(json_object_get(m, "acceptance"), i, v)
		printf("accept:     %s\n", agq_shown(json_string_value(v)));
	printf("state:      %s%s\n", agq_shown_get(m, "state"),
	    json_object_get(m, "closed") ? " (closed)" : "");
	json_int_t done = json_integer_value(json_object_get(m, "done"));
	json_int_t total = json_integer_value(json_object_get(m, "total"));
	if (isatty(1)) {
		printf("progress:   ");
		bar(done, total, 30);
	} else {
		printf("progress:   %lld/%lld done\n", (long long)done,
		    (long long)total);
	}
	int w = 32;             /* the id column: as wide as the longest */
	json_array_foreach(tasks, i, v) {
		const char *tid = agq_shown_get(v, "id");
		size_t l = tid ? strlen(tid) : 0;
		if (l > (size_t)w && l < 200)
			w = (int)l;
	}
	json_array_foreach(tasks, i, v) {
		printf("  %-*s %-8s %-9s %s", w, agq_shown_get(v, "id"),
		    agq_shown_get(v, "state"), json_object_get(v, "role") ?
		    agq_shown_get(v, "role") : "-", json_object_get(v, "title") ?
		    agq_shown_get(v, "title") : "");
		size_t k;
		json_array_foreach(json_object_get(v, "after"), k, e)
			printf("%s%s", k ? ", " : " (after ",
			    agq_shown(json_string_value(e)));
		printf("%s\n", json_array_size(json_object_get(v, "after")) ?
		    ")" : "");
	}
	json_decref(m);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "goal", required_argument, NULL, 'g' },
		{ "accept", required_argument, NULL, 'a' },
		{ "plan", required_argument, NULL, 'P' },
		{ "pr", required_argument, NULL, 'u' },
		AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	json_t *m = json_object(), *acc = NULL;
	const char *planfile = NULL;
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		json_t *s = json_string(optarg);
		if (!s)
			agq_die(EX_USAGE, "%s: not UTF-8 text", c == 'g' ?
			    "--goal" : c == 'a' ? "--accept" : c == 'u' ? "--pr" :
			    "--plan");
		if (c == 'g') {
			json_object_set_new(m, "goal", s);
		} else if (c == 'a') {
			if (!acc)
				acc = json_array();
			json_array_append_new(acc, s);
		} else if (c == 'u') {
			if (strcmp(optarg, "mission") && strcmp(optarg, "task"))
				agq_die(EX_USAGE, "--pr: mission or task, not %s",
				    optarg);
			json_object_set_new(m, "pr_unit", s);
		} else {
			planfile = optarg;      /* 'P' */
			json_decref(s);
		}
	}
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	int isnew = !strcmp(cmd, "new");
	if (!((isnew && nargs == 1) || (!strcmp(cmd, "ls") && nargs == 0) ||
	    (!strcmp(cmd, "show") && nargs == 1) ||
	    (!strcmp(cmd, "close") && nargs == 1) ||
	    (!strcmp(cmd, "pr") && nargs == 1)))
		agq_cli_usage(usage);
	if (!isnew && (planfile || acc || json_object_get(m, "goal") ||
	    json_object_get(m, "pr_unit")))
		agq_die(EX_USAGE, "--goal, --accept, --plan and --pr go with new");
	if (cl.json && strcmp(cmd, "ls") && strcmp(cmd, "show"))
		agq_die(EX_USAGE, "--json goes with ls and show");
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int rc = 0;
	if (isnew) {
		json_t *title = json_string(argv[optind]);
		if (!title)
			agq_die(EX_USAGE, "TITLE: not UTF-8 text");
		json_object_set_new(m, "title", title);
		if (acc)
			json_object_set(m, "acceptance", acc);
		json_t *plan = planfile ? read_plan(planfile) : NULL;
		rc = cmd_new(&sp, m, plan);
		json_decref(plan);
	} else if (!strcmp(cmd, "ls")) {
		rc = cmd_ls(&sp, cl.json);
	} else if (!strcmp(cmd, "show")) {
		rc = cmd_show(&sp, argv[optind], cl.json);
	} else if (!strcmp(cmd, "pr")) {
		int r = mission_pr(&sp, argv[optind]);
		rc = r < 0 ? EX_UNAVAILABLE : r;
	} else {
		int r = agq_mission_close(&sp, argv[optind]);
		if (r > 0) {
			agq_warn("%s: closed already", argv[optind]);
			rc = 1;
		} else if (r < 0 && (errno == ENOENT || errno == EINVAL)) {
			agq_warn("no mission %s", argv[optind]);
			rc = EX_NOINPUT;
		} else if (r < 0) {
			rc = agq_spool_syserr(&sp, "cannot close the mission",
			    "missions/%s.json", argv[optind]);
		}
	}
	json_decref(m);
	json_decref(acc);
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
