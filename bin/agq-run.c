/* agq-run - the agent runner (agq-run(8)); the work is in lib/runner.c. */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "classify.h"
#include "spool.h"
#include "open.h"
#include "runner.h"

static const char usage[] =
"usage: agq-run [-s SPOOL] --agent NAME [-c CAP]... [--slots N]\n"
"               [--prefetch N] [--heartbeat S] [--once] [--backend B]... [--endpoint NAME]...\n"
"               [--model M]...\n"
"Register agent NAME, heartbeat, and run the tasks leased to it.\n"
"See agq-run(8).\n"
"  -s, --spool DIR     spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -a, --agent NAME    the agent's name ([A-Za-z0-9._-]{1,64})\n"
"  -c, --cap CAP       a capability this agent has (repeatable)\n"
"  -n, --slots N       tasks run at once (default 1)\n"
"      --prefetch N    leases held beyond the slots, to start as soon as\n"
"                      a slot frees (default 0; plain tasks only)\n"
"      --heartbeat S   seconds between heartbeats (default 5)\n"
"      --once          run what is leased now, then exit (for cron)\n"
"      --backend B     a backend this agent runs (repeatable; default: any)\n"
"      --endpoint NAME a registered endpoint it calls (repeatable)\n"
"      --model M       a model it can run (repeatable)\n"
"SIGTERM: stop taking work, finish running tasks, exit; a second SIGTERM\n"
"stops the running tasks and hands them back.  Exit: 0 ok, 75 an agent\n"
"of that name is already running, 64 usage error.\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "agent", required_argument, NULL, 'a' },
		{ "cap", required_argument, NULL, 'c' },
		{ "slots", required_argument, NULL, 'n' },
		{ "prefetch", required_argument, NULL, 'P' },
		{ "heartbeat", required_argument, NULL, 'H' },
		{ "once", no_argument, NULL, 'o' },
		{ "backend", required_argument, NULL, 'B' },
		{ "endpoint", required_argument, NULL, 'E' },
		{ "model", required_argument, NULL, 'M' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:a:c:n:",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	struct agq_run_opts o;
	memset(&o, 0, sizeof o);
	o.caps = json_array();
	o.backends = json_array();
	o.endpoints = json_array();
	o.models = json_array();
	o.slots = 1;
	o.heartbeat_s = -1;
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'a': o.agent = optarg; break;
		case 'c':
			if (!*optarg)
				agq_die(EX_USAGE, "-c: empty capability");
			json_array_append_new(o.caps, json_string(optarg));
			break;
		case 'n':
			o.slots = (int)agq_cli_long("--slots", optarg, 1, 1024);
			break;
		case 'P':
			o.prefetch = (int)agq_cli_long("--prefetch", optarg, 0,
			    1024);
			break;
		case 'H':
			o.heartbeat_s = agq_cli_seconds("--heartbeat", optarg);
			if (o.heartbeat_s <= 0)
				agq_die(EX_USAGE, "--heartbeat: must be more "
				    "than 0");
			break;
		case 'o': o.once = 1; break;
		case 'B':
			if (!agq_backend_name_valid(optarg))
				agq_die(EX_USAGE, "--backend: '%s' is not a backend "
				    "name", optarg);
			json_array_append_new(o.backends, json_string(optarg));
			break;
		case 'E':
			if (!agq_agent_name_valid(optarg))
				agq_die(EX_USAGE, "--endpoint: '%s' is not an "
				    "endpoint name", optarg);
			json_array_append_new(o.endpoints, json_string(optarg));
			break;
		case 'M':
			if (!*optarg)
				agq_die(EX_USAGE, "--model: empty model");
			json_array_append_new(o.models, json_string(optarg));
			break;
		}
	}
	if (optind < argc || !o.agent) {
		if (!o.agent)
			agq_warn("--agent NAME is required");
		agq_cli_usage(usage);
	}
	if (!agq_agent_name_valid(o.agent))
		agq_die(EX_USAGE, "--agent: '%s' must match [A-Za-z0-9._-]{1,64}",
		    o.agent);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	if (o.heartbeat_s < 0)
		o.heartbeat_s = sp.conf.heartbeat_s;
	int rc = agq_runner(&sp, &o);
	json_decref(o.caps);
	json_decref(o.backends);
	json_decref(o.endpoints);
	json_decref(o.models);
	agq_spool_close(&sp);
	return rc;
}
