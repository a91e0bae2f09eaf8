/* agq-git - a task's worktree and branch, by hand or from hooks
 * (agq-git(1)). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "paths.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "git.h"
#include "githooks.h"
#include "forge.h"
#include "taskgit.h"
#include "paths.h"

static const char usage[] =
"usage: agq-git [-s SPOOL] start-task --slug TEXT --repo ORIGIN [--base B]\n"
"               [--agent A] [--branch NAME] [--task ID] [--json]\n"
"       agq-git [-s SPOOL] start-task ID [--agent A] [--json]\n"
"       agq-git [-s SPOOL] status [DIR] [--json]\n"
"       agq-git [-s SPOOL] finish [DIR] [--title T] [--summary TEXT] [--json]\n"
"       agq-git [-s SPOOL] apply [DIR] PATCH\n"
"       agq-git [-s SPOOL] rm DIR [--force]\n"
"       agq-git [-s SPOOL] gc [--dry-run] [--json]\n"
"       agq-git [-s SPOOL] submit [--repo DIR] [--base B] [AGQ-SUBMIT ARGS]\n"
"       agq-git [-s SPOOL] install-hooks [--repo DIR] [--submit-sample] [--json]\n"
"       agq-git [-s SPOOL] branch-task BRANCH [--repo DIR]\n"
"A task's git worktree and branch under the workspace root, its commit,\n"
"push and PR record, through libgit2.  See agq-git(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --slug TEXT   the title or prompt the branch is named after\n"
"      --repo ORIGIN the origin: a path, file://, ssh:// or scp-style, https://\n"
"                    (install-hooks, branch-task: the repository, default .)\n"
"      --base B      the origin's branch to start from (default: main)\n"
"      --agent A     the branch's first part, A/SLUG (default: agq)\n"
"      --branch NAME the branch, instead of A/SLUG\n"
"      --task ID     the task the worktree is for (default: a new id)\n"
"      --title T     the commit's subject (finish; default: the branch)\n"
"      --summary TEXT the commit message's body (finish)\n"
"      --force       remove even when locked or not pushed (rm)\n"
"      --dry-run     list the orphans, remove nothing (gc)\n"
"      --submit-sample install post-commit, not post-commit.sample\n"
"      --json        print JSON\n"
"finish also opens the PR on the forge of agq.conf (forge), when one is set.\n"
"submit runs agq-submit --git ORIGIN#BASE with the other arguments, ORIGIN\n"
"and BASE those of the repository at or above DIR (default: here): its\n"
"remote origin (else itself) and the branch it is on (or its upstream).\n"
"Exit: 0 ok, 1 git failed (finish: no changes, or the push rejected; the\n"
"forge refused the PR; install-hooks: a hook agq did not write is in the\n"
"way), 64 usage, 66 DIR is not a git work tree (branch-task: or the\n"
"branch's task is not in the spool), 75 the forge could not be reached\n"
"or failed (5xx): agq-pr open PRID retries.\n";

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int
start_task(struct agq_spool *sp, const char *slug, const char *repo,
           const char *base, const char *agent, const char *branch,
           const char *task, int json)
{
	char id[72], err[1024];
	if (task)
		snprintf(id, sizeof id, "%s", task);
	else
		agq_gen_id(id);
	struct agq_worktree wt;
	if (agq_git_start_task(sp, repo, base, agent, slug, branch, id, &wt,
	    err, sizeof err) < 0) {
		agq_warn("cannot start the task: %s (%s)", err, repo);
		return 1;
	}
	if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "path",
		    wt.path, "branch", wt.branch, "base", wt.base, "head",
		    wt.head, "task", id, "reused", wt.reused);
		agq_print_json(o, JSON_COMPACT);
		json_decref(o);
	} else {
		printf("%s\t%s\n", wt.path, wt.branch);
	}
	return 0;
}

/* start-task ID: the worktree of task ID of the spool, from its git field
 * (agq_taskgit_begin, journaled), for AGENT ("agq" when NULL). */
static int
start_spool_task(struct agq_spool *sp, const char *id, const char *agent,
                 int json)
{
	struct agq_loc loc;
	json_t *t = NULL;
	if (!agq_id_valid(id) || agq_task_find(sp, id, &loc) < 0 ||
	    !(t = agq_task_read(loc.path))) {
		agq_warn("cannot start the task: no task %s in the spool", id);
		return EX_NOINPUT;
	}
	if (!json_is_object(json_object_get(t, "git"))) {
		agq_warn("cannot start the task: task %s has no git field", id);
		json_decref(t);
		return EX_DATAERR;
	}
	struct agq_taskgit g;
	char err[PATH_MAX + 1024];
	int rc = 0;
	if (agq_taskgit_begin(sp, t, agent, &g, err, sizeof err) < 0) {
		agq_warn("cannot start the task: %s", err);
		rc = 1;
	} else if (json) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:s}",
		    "path", g.wt.path, "branch", g.wt.branch, "base", g.wt.base,
		    "head", g.wt.head, "task", id, "reused", g.wt.reused, "dir",
		    g.dir);
		agq_print_json(o, JSON_COMPACT);
		json_decref(o);
	} else {
		printf("%s\t%s\n", g.dir, g.wt.branch);
	}
	agq_taskgit_free(&g);
	json_decref(t);
	return rc;
}

static json_t *
status_or_exit(const char *dir)
{
	char err[1024];
	json_t *st = agq_git_status(dir, err, sizeof err);
	if (!st)
		agq_die(EX_NOINPUT, "cannot read the status: %s (%s)", err, dir);
	return st;
}

static int
status(const char *dir, int json)
{
	json_t *st = status_or_exit(dir);
	if (json) {
		agq_print_json(st, JSON_COMPACT);
	} else {
		const char *base = jstr(st, "base");
		printf("path        %s\n", jstr(st, "path"));
		printf("branch      %s\n", jstr(st, "branch") ?
		    jstr(st, "branch") : "(detached)");
		printf("task        %s\n", jstr(st, "task") ? jstr(st, "task") :
		    "-");
		printf("head        %s\n", jstr(st, "head") ? jstr(st, "head") :
		    "-");
		if (json_is_integer(json_object_get(st, "ahead")))
			printf("base        origin/%s: %lld ahead, %lld behind\n",
			    base, json_integer_value(json_object_get(st,
			    "ahead")), json_integer_value(json_object_get(st,
			    "behind")));
		else
			printf("base        %s\n", base ? base : "-");
		printf("changes     %lld files, +%lld -%lld\n",
		    json_integer_value(json_object_get(st, "files")),
		    json_integer_value(json_object_get(st, "insertions")),
		    json_integer_value(json_object_get(st, "deletions")));
		printf("uncommitted %lld\n", json_integer_value(json_object_get(st,
		    "uncommitted")));
		printf("locked      %s\n", json_is_true(json_object_get(st,
		    "locked")) ? "yes" : "no");
	}
	json_decref(st);
	return 0;
}

/* Commit, push and open the PR record of the worktree DIR, then the PR
 * on the forge when one is configured: the chain an attempt runs
 * (taskgit.c), journaled the same way, with agent "agq-git". */
static int
finish(struct agq_spool *sp, const char *dir, const char *title,
       const char *summary, int json)
{
	json_t *st = status_or_exit(dir);
	const char *task = jstr(st, "task"), *branch = jstr(st, "branch");
	char err[2048];
	int rc = 1;
	if (!task || !branch) {
		agq_warn("cannot finish: not an agq worktree (%s)", dir);
		json_decref(st);
		return 1;
	}
	struct agq_taskgit g = { .repo = jstr(st, "origin") ?
	    jstr(st, "origin") : "", .base = jstr(st, "base") ?
	    jstr(st, "base") : "", .pr = 1 };
	snprintf(g.id, sizeof g.id, "%s", task);
	snprintf(g.agent, sizeof g.agent, "agq-git");
	snprintf(g.wt.path, sizeof g.wt.path, "%s", jstr(st, "path"));
	snprintf(g.wt.branch, sizeof g.wt.branch, "%s", branch);
	snprintf(g.wt.base, sizeof g.wt.base, "%s", g.base);
	json_t *t = NULL;
	struct agq_loc loc;
	if (agq_task_find(sp, task, &loc) == 0)
		t = agq_task_read(loc.path);
	int r = agq_taskgit_finish(sp, t, &g, title ? title : branch,
	    summary, err, sizeof err);
	static const char now[] = "cannot open the pull request now: ";
	if (r == AGQ_TG_NOCHANGE) {
		agq_warn("cannot finish: no changes (%s)", g.wt.path);
	} else if (r != AGQ_TG_OK && g.retry && !strncmp(err, now,
	    sizeof now - 1)) {
		agq_warn("cannot open the pull request now (try again: agq-pr "
		    "open %s): %s", jstr(g.rec, "id"), err + sizeof now - 1);
		rc = EX_TEMPFAIL;
	} else if (r != AGQ_TG_OK && g.rec) {
		agq_warn("%s", err);    /* the forge: its URL is in ERR */
	} else if (r != AGQ_TG_OK) {
		agq_warn("%s (%s)", err, g.wt.path);
	} else if (json) {
		rc = 0;
		agq_print_json(g.rec, JSON_COMPACT);
	} else {
		rc = 0;
		printf("%s\t%s\t%s%s%s\n", jstr(g.rec, "id"), branch, g.sha,
		    jstr(g.rec, "url") ? "\t" : "", jstr(g.rec, "url") ?
		    jstr(g.rec, "url") : "");
	}
	agq_taskgit_free(&g);
	json_decref(t);
	json_decref(st);
	return rc;
}

static int
apply(const char *dir, const char *file)
{
	size_t len;
	char err[1024];
	char *patch = agq_read_file(file, 64 * 1024 * 1024, &len, NULL);
	if (!patch) {
		agq_syserr("cannot read the patch", file);
		return agq_exit_code(errno);
	}
	int r = agq_git_apply(dir, patch, len, err, sizeof err);
	free(patch);
	if (r != 0)
		agq_warn("cannot apply %s: %s (%s)", file, err, dir);
	return r ? 1 : 0;
}

static int
gc(struct agq_spool *sp, int dry, int json)
{
	char err[1024];
	json_t *all = agq_git_gc(sp, !dry, err, sizeof err);
	if (!all) {
		agq_warn("cannot gc: %s", err);
		return 1;
	}
	int rc = 0;
	size_t i;
	json_t *e;
	if (json)
		agq_print_json(all, JSON_COMPACT);
	json_array_foreach(all, i, e) {
		if (!json_is_true(json_object_get(e, "orphan")))
			continue;
		if (jstr(e, "error")) {
			agq_warn("cannot remove %s: %s", jstr(e, "path"),
			    jstr(e, "error"));
			rc = 1;
		} else if (!json && jstr(e, "origin")) {
			printf("%s %s\tclone of %s (gone)\n", dry ?
			    "would remove" : "removed", jstr(e, "path"),
			    jstr(e, "origin"));
		} else if (!json) {
			printf("%s %s\t%s\t%s\n", dry ? "would remove" :
			    "removed", jstr(e, "path"), jstr(e, "task"),
			    jstr(e, "state") ? jstr(e, "state") : "no task");
		}
	}
	json_decref(all);
	return rc;
}

/* agq-git [-s SPOOL] submit [--repo DIR] [--base B] ARGS...: exec
 * agq-submit [-s SPOOL] --git ORIGIN#BASE ARGS... (ARGV from "submit"
 * on; SPOOL may be NULL).  Returns only on failure, an exit status. */
static int
submit(const char *spool, int argc, char **argv)
{
	const char *dir = ".", *base = NULL;
	int i = 1;
	for (; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--repo"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "--base"))
			base = argv[i + 1];
		else
			break;
	}
	char *origin, *here, err[1024];
	if (agq_git_here(dir, &origin, &here, err, sizeof err) < 0) {
		agq_warn("cannot submit: %s", err);
		return EX_NOINPUT;
	}
	char *git = agq_xasprintf("%s#%s", origin, base ? base : here);
	char **av = agq_xmalloc((size_t)(argc + 6) * sizeof *av);
	int n = 0;
	av[n++] = "agq-submit";
	if (spool) {
		av[n++] = "-s";
		av[n++] = (char *)spool;
	}
	av[n++] = "--git";
	av[n++] = git;
	for (; i < argc; i++)
		av[n++] = argv[i];
	av[n] = NULL;
	char *prog = agq_exe_path("agq-submit");
	if (!prog)
		prog = agq_xasprintf("%s/agq-submit", agq_bindir);
	execv(prog, av);
	agq_syserr("cannot run agq-submit", prog);
	return errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR;
}

/* Install agq's hooks into the repository at DIR (agq-git(1)). */
static int
install_hooks(struct agq_spool *sp, const char *dir, int sample_on,
              int json)
{
	char spool[PATH_MAX], err[1024];
	char *bindir = agq_exe_dir();
	if (!realpath(sp->root, spool))
		snprintf(spool, sizeof spool, "%s", sp->root);
	json_t *rep;
	int r = agq_githooks_install(dir, bindir ? bindir : agq_bindir, spool,
	    sample_on, &rep, err, sizeof err);
	free(bindir);
	if (r < 0) {
		agq_warn("cannot install the hooks: %s", err);
		return EX_NOINPUT;
	}
	if (r > 0)
		agq_warn("cannot install the hooks: %s: nothing written", err);
	else if (json)
		agq_print_json(rep, JSON_COMPACT);
	size_t i;
	json_t *e;
	json_array_foreach(rep, i, e)
		if (r == 0 && !json)
			printf("%s %s\n", jstr(e, "state"), jstr(e, "path"));
	json_decref(rep);
	return r;
}

/* For the pre-push hook: "ID<TAB>FILE" when BRANCH of the repository at
 * DIR is a task's whose file has verify steps; nothing for any other. */
static int
branch_task(struct agq_spool *sp, const char *dir, const char *branch)
{
	char id[72], err[1024];
	int r = agq_githooks_branch_task(dir, branch, id, err, sizeof err);
	if (r < 0) {
		agq_warn("cannot find the branch's task: %s", err);
		return EX_NOINPUT;
	}
	if (r == 0)
		return 0;
	struct agq_loc loc;
	json_t *t = NULL;
	for (int tries = 0; tries < 5 && !t; tries++) {
		if (agq_task_find(sp, id, &loc) < 0)
			break;
		t = agq_task_read(loc.path);    /* ENOENT: it moved */
	}
	if (!t) {
		agq_warn("task %s of branch %s is not in the spool (%s)", id,
		    branch, sp->root);
		return EX_NOINPUT;
	}
	if (json_array_size(json_object_get(t, "verify")))
		printf("%s\t%s\n", id, loc.path);
	json_decref(t);
	return 0;
}

int
main(int argc, char **argv)
{
	/* submit passes its arguments on to agq-submit unparsed */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "submit")) {
			agq_setprog(argv[0]);
			const char *spool = NULL;
			if (i == 3 && (!strcmp(argv[1], "-s") ||
			    !strcmp(argv[1], "--spool")))
				spool = argv[2];
			else if (i == 2 && !strncmp(argv[1], "--spool=", 8))
				spool = argv[1] + 8;
			else if (i != 1)
				break;
			return submit(spool, argc - i, argv + i);
		}
		if (argv[i][0] != '-' && (i == 1 || (strcmp(argv[i - 1], "-s")
		    && strcmp(argv[i - 1], "--spool"))))
			break;
	}
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "slug", required_argument, NULL, 'S' },
		{ "repo", required_argument, NULL, 'r' },
		{ "base", required_argument, NULL, 'b' },
		{ "agent", required_argument, NULL, 'a' },
		{ "branch", required_argument, NULL, 'B' },
		{ "task", required_argument, NULL, 't' },
		{ "title", required_argument, NULL, 'T' },
		{ "summary", required_argument, NULL, 'm' },
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "submit-sample", no_argument, NULL, 'P' },
		AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	const char *slug = NULL, *repo = NULL, *base = NULL,
	    *agent = NULL, *branch = NULL, *task = NULL, *title = NULL,
	    *summary = NULL;
	int dry = 0, force = 0, sample_on = 0, c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'S': slug = optarg; break;
		case 'r': repo = optarg; break;
		case 'b': base = optarg; break;
		case 'a': agent = optarg; break;
		case 'B': branch = optarg; break;
		case 't': task = optarg; break;
		case 'T': title = optarg; break;
		case 'm': summary = optarg; break;
		case 'f': force = 1; break;
		case 'n': dry = 1; break;
		case 'P': sample_on = 1; break;
		}
	}
	int json = cl.json;
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	char **args = argv + optind;
	const char *dir = nargs > 0 ? args[0] : ".";
	if (!((!strcmp(cmd, "start-task") && nargs == 0 && slug && repo) ||
	    (!strcmp(cmd, "start-task") && nargs == 1 && !slug && !repo &&
	    !base && !branch && !task) ||
	    (!strcmp(cmd, "status") && nargs <= 1) ||
	    (!strcmp(cmd, "finish") && nargs <= 1) ||
	    (!strcmp(cmd, "apply") && (nargs == 1 || nargs == 2)) ||
	    (!strcmp(cmd, "rm") && nargs == 1) ||
	    (!strcmp(cmd, "gc") && nargs == 0) ||
	    (!strcmp(cmd, "install-hooks") && nargs == 0) ||
	    (!strcmp(cmd, "branch-task") && nargs == 1)))
		agq_cli_usage(usage);
	if (task && !agq_id_valid(task))
		agq_die(EX_USAGE, "--task: not a valid task id: '%s'", task);
	agq_git_lib_init();
	int rc;
	if (!strcmp(cmd, "status")) {
		rc = status(dir, json);
	} else if (!strcmp(cmd, "apply")) {
		rc = apply(nargs == 2 ? args[0] : ".", args[nargs - 1]);
	} else if (!strcmp(cmd, "rm")) {
		char err[1024];
		rc = agq_git_remove(dir, force, err, sizeof err) < 0;
		if (rc)
			agq_warn("cannot remove the worktree: %s", err);
	} else {
		struct agq_spool sp;
		agq_spool_open_or_exit(&sp, cl.spool);
		if (!strcmp(cmd, "start-task") && nargs == 1)
			rc = start_spool_task(&sp, args[0], agent, json);
		else if (!strcmp(cmd, "start-task"))
			rc = start_task(&sp, slug, repo, base, agent, branch,
			    task, json);
		else if (!strcmp(cmd, "finish"))
			rc = finish(&sp, dir, title, summary, json);
		else if (!strcmp(cmd, "install-hooks"))
			rc = install_hooks(&sp, repo ? repo : ".", sample_on,
			    json);
		else if (!strcmp(cmd, "branch-task"))
			rc = branch_task(&sp, repo ? repo : ".", args[0]);
		else
			rc = gc(&sp, dry, json);
		agq_spool_close(&sp);
	}
	agq_git_lib_done();
	if (agq_flush_stdout() < 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}
