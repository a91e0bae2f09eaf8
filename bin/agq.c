/* agq - the front end: `agq CMD ARGS...` runs agq-CMD (agq(1)). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "paths.h"

static const struct { const char *name, *what; } cmds[] = {
	{ "submit",  "submit tasks (argv, one JSON object, or JSON lines)" },
	{ "sched",   "the scheduler: accept, promote, reclaim, assign" },
	{ "run",     "an agent runner: run the tasks leased to it" },
	{ "ls",      "list tasks" },
	{ "show",    "print one task and its journal events" },
	{ "status",  "counts per state and lane, and the agents" },
	{ "wait",    "wait until tasks are done or dead" },
	{ "cat",     "print or follow a task's output" },
	{ "cancel",  "cancel tasks (to dead/)" },
	{ "hold",    "park tasks in hold/" },
	{ "release", "release held tasks" },
	{ "retry",   "send dead or done tasks back to the queue" },
	{ "edit",    "edit a queued or held task in $EDITOR" },
	{ "prio",    "move a queued or held task to another lane" },
	{ "clean",   "archive finished tasks (monthly, gzip)" },
	{ "journal", "read, follow, verify or rotate the journal" },
	{ "stats",   "throughput, latency percentiles, utilization, cost" },
	{ "sync",    "write the status block into a project's docs" },
	{ "dash",    "the dashboard: one self-contained HTML page" },
	{ "alert",   "evaluate the alert rules once (for cron)" },
	{ "classify", "print the complexity tier a task would get" },
	{ "verify",  "run verification steps (file, command, tests, git)" },
	{ "registry", "the model endpoints and their health" },
	{ "doctor",  "check backends, CLIs, keys and endpoints" },
	{ "git",     "a task's worktree and branch, commit, push, PR record" },
	{ "pr",      "list and show the pull request records" },
	{ "fsck",    "check a spool, and repair it with --fix" },
	{ "mcp",     "the MCP server agents plan through (stdio)" },
	{ "demo",    "run the main job on the default spool" },
	{ "plan",    "shared JSON plan documents with revisions" },
	{ "watch",   "a JSON line per change to tasks, plans, missions" },
	{ "mission", "missions: sets of tasks with a goal, their state" },
	{ "agent",   "agents as services: tokens, units, add, ls, rm" },
	{ "routine", "recurring tasks: every so long or a cron schedule" },
	{ "remote",  "serve an agent that reaches this spool over ssh" },
	{ "pause",   "assign nothing of a lane, tenant, backend, or at all" },
	{ "resume",  "end a pause" },
	{ NULL, NULL }
};

static const char usage[] =
"usage: agq [-s SPOOL] [--version] [--help] CMD [ARG]...\n"
"       agq help [CMD]\n"
"Runs agq-CMD, found beside agq, in the compiled-in bin and libexec\n"
"directories, then in $PATH.  See agq(1) and agq(7).\n"
"  -s, --spool DIR   the spool of CMD (sets AGQ_SPOOL for it)\n"
"      --version     print agq's version\n";

static void
list(FILE *f)
{
	fputs(usage, f);
	fputs("\ncommands:\n", f);
	for (int i = 0; cmds[i].name; i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
}

/* exec agq-CMD from DIR if it is there and executable. */
static void
try_exec(const char *dir, const char *prog, char **argv)
{
	char path[PATH_MAX];
	if (!dir || !*dir)
		return;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, prog) >= sizeof path)
		return;
	if (access(path, X_OK) == 0) {
		argv[0] = path;
		execv(path, argv);
		agq_syserr("cannot run", path);
		exit(EX_OSERR);
	}
}

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	/* -s DIR, -sDIR, --spool DIR, --spool=DIR before CMD: the spool of
	 * every command, given as the AGQ_SPOOL they all read (agq(7)) */
	while (argc >= 2 && (!strncmp(argv[1], "-s", 2) ||
	    !strncmp(argv[1], "--spool", 7))) {
		const char *o = argv[1], *dir = NULL;
		int used = 1;
		if (!strcmp(o, "-s") || !strcmp(o, "--spool")) {
			dir = argc >= 3 ? argv[2] : NULL;
			used = 2;
		} else if (o[1] == 's') {
			dir = o + 2;
		} else if (o[7] == '=') {
			dir = o + 8;
		} else {
			break;          /* --spoolx: not ours */
		}
		if (!dir || !*dir) {
			agq_warn("%s: a spool directory is needed", o);
			fputs(usage, stderr);
			return EX_USAGE;
		}
		if (setenv("AGQ_SPOOL", dir, 1) < 0) {
			agq_syserr("cannot set AGQ_SPOOL", dir);
			return EX_OSERR;
		}
		argv[used] = argv[0];
		argv += used;
		argc -= used;
	}
	if (argc < 2) {
		list(stderr);
		return EX_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		list(stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("agq %s\n", AGQ_VERSION);
		return 0;
	}
	char *sub[3] = { NULL, NULL, NULL };
	if (!strcmp(cmd, "help")) {
		if (argc < 3) {
			list(stdout);
			return 0;
		}
		cmd = argv[2];
		sub[1] = "--help";
		argv = sub;
		argc = 2;
	} else {
		argv = argv + 1;
	}
	if (!*cmd || strchr(cmd, '/') || cmd[0] == '-') {
		agq_warn("'%s' is not an agq command; see 'agq help'", cmd);
		return EX_USAGE;
	}
	char prog[128];
	if ((size_t)snprintf(prog, sizeof prog, "agq-%s", cmd) >= sizeof prog) {
		agq_warn("'%s' is not an agq command; see 'agq help'", cmd);
		return EX_USAGE;
	}
	char *self = agq_exe_dir();
	if (self)
		try_exec(self, prog, argv);
	free(self);
	try_exec(agq_bindir, prog, argv);
	try_exec(agq_libexecdir, prog, argv);
	argv[0] = prog;
	execvp(prog, argv);
	if (errno == ENOENT) {
		agq_warn("'%s' is not an agq command; see 'agq help'", cmd);
		return EX_USAGE;
	}
	agq_syserr("cannot run", prog);
	return EX_OSERR;
}
