/*
 * agq-attempt - one attempt of an agent task (agq-run(8), "Agent tasks").
 *
 * agq-run's task process execs this program for a task with a prompt, a
 * backend or verify steps, with the task (JSON) on standard input and the
 * task's out/ID directory as its argument; the working directory and the
 * environment are the task's.  It runs the backend and verify loop of
 * lib/attempt.c and exits with its status.  Being a program of its own
 * keeps libgit2 (git_clean steps) and the backend code out of agq-run,
 * whose shepherd and task forks would otherwise copy their mappings for
 * every task, plain commands included.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "attempt.h"

static const char usage[] =
"usage: agq-attempt OUTDIR < TASK.json\n"
"Run one attempt of an agent task (backend calls, verify steps) in the\n"
"current directory, writing OUTDIR/agent.json.  Started by agq-run; see\n"
"agq-run(8), \"Agent tasks\".\n"
"Exit: the attempt's status (0 done, 2 verify failed, 75 throttled: a usage\n"
"or rate limit, agent.json has not_before; other: failed),\n"
"126 unreadable task or output directory, 64 usage error.\n";

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	agq_cli_help(argc, argv, usage);
	if (argc != 2)
		agq_cli_usage(usage);
	json_error_t je;
	json_t *t = json_loadf(stdin, 0, &je);
	if (!json_is_object(t)) {
		dprintf(2, "agq-attempt: cannot read the task on standard "
		    "input: %s (line %d)\n", t ? "not an object" : je.text,
		    je.line);
		json_decref(t);
		return 126;
	}
	/* the backend and the verify steps get what the task had: nothing */
	int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nfd < 0 || dup2(nfd, 0) < 0) {
		dprintf(2, "agq-attempt: cannot open: %s (/dev/null)\n",
		    strerror(errno));
		return 126;
	}
	close(nfd);
	int rc = agq_agent_attempt(t, argv[1]);
	json_decref(t);
	return rc;
}
