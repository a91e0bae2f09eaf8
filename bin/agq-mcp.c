/* agq-mcp - agq's shared state as an MCP server on stdio (agq-mcp(1)). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "mcp.h"
#include "mcptools.h"

static const char usage[] =
"usage: agq-mcp [-s SPOOL]\n"
"A Model Context Protocol server on standard input and output (JSON-RPC\n"
"2.0, one message a line) whose tools submit subtasks, show and wait for\n"
"tasks, read and change plan documents and show missions.  Run by an\n"
"agent CLI for a task with \"mcp\": true (agq-run(8)); $AGQ_TASK_ID names\n"
"the calling task.  See agq-mcp(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"Exit: 0 at the end of the input, 74 standard output failed, 64 usage\n"
"error, 78 a bad $AGQ_TASK_ID or configuration.\n";

/* The longest message read: a longer line is answered -32600 and
 * skipped. */
#define MAX_LINE ((size_t)8 << 20)

/* Write LINE (NUL-terminated) and a newline to standard output and flush
 * it: the client reads one message a line. */
static int
answer(char *line)
{
	int rc = 0;
	if (line && (fputs(line, stdout) < 0 || putchar('\n') < 0 ||
	    fflush(stdout) < 0))
		rc = -1;
	free(line);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts };
	while (agq_cli_next(&cl, argc, argv) != -1)
		;
	const char *task = getenv("AGQ_TASK_ID");
	if (task && !*task)
		task = NULL;
	if (task && !agq_id_valid(task))
		agq_die(EX_CONFIG, "AGQ_TASK_ID: not a task id "
		    "([A-Za-z0-9._-]{1,64}): '%s'", task);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	/* the sibling programs (agq-plan, agq-mission) use this spool */
	setenv("AGQ_SPOOL", sp.root, 1);
	signal(SIGPIPE, SIG_IGN);
	struct agq_mcp_ctx ctx = { &sp, task, sp.conf.mcp_max_subtasks };
	struct agq_mcp m = { .tools = agq_mcp_tools, .ntools = agq_mcp_ntools,
	    .ctx = &ctx, .name = "agq", .version = AGQ_VERSION };
	char *buf = agq_xmalloc(4096);
	size_t cap = 4096, n = 0;
	int c, over = 0, rc = 0;
	while (!rc && (c = getchar()) != EOF) {
		if (c != '\n') {
			if (n >= MAX_LINE) {
				over = 1;
				continue;
			}
			buf = agq_grow(buf, &cap, n, 1, 4096);
			buf[n++] = (char)c;
			continue;
		}
		if (over) {
			rc = answer(agq_xasprintf("{\"jsonrpc\":\"2.0\",\"id\":null,"
			    "\"error\":{\"code\":%d,\"message\":\"a message over "
			    "%zu bytes\"}}", AGQ_MCP_INVALID_REQUEST, MAX_LINE));
		} else if (n > 0 && !(n == 1 && buf[0] == '\r')) {
			rc = answer(agq_mcp_line(&m, buf, n));
		}
		n = 0;
		over = 0;
	}
	if (!rc && n > 0 && !over)      /* a last line without its newline */
		rc = answer(agq_mcp_line(&m, buf, n));
	free(buf);
	agq_spool_close(&sp);
	if (rc) {
		agq_syserr("cannot write", "standard output");
		return EX_IOERR;
	}
	return 0;
}
