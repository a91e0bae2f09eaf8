/* agq-run - the agent runner (agq-run(8)); the work is in lib/runner.c. */
#include <errno.h>
#include <stdlib.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "classify.h"
#include "spool.h"
#include "open.h"
#include "runner.h"
#include "captoken.h"
#include "via.h"

static const char usage[] =
"usage: agq-run [-s SPOOL] --agent NAME [-c CAP]... [--slots N]\n"
"               [--prefetch N] [--heartbeat S] [--once] [--backend B]... [--endpoint NAME]...\n"
"               [--model M]... [--cap-token FILE] [--poll S]\n"
"               [--via ssh://[USER@]HOST[:PORT]/PATH [--ssh CMD] [--work DIR]]\n"
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
"      --via URL       reach the spool over ssh (agq-remote(8) on its host);\n"
"                      the tasks run here (agq-run(8), REMOTE)\n"
"      --ssh CMD       the ssh program for --via (default: $AGQ_SSH, ssh)\n"
"      --work DIR      --via's local work directory (default:\n"
"                      $XDG_CACHE_HOME/agq/via/NAME, ~/.cache/...)\n"
"      --cap-token FILE the token of its capabilities (agq-agent token),\n"
"                      needed for those agq.conf's token_caps names\n"
"      --poll S        look at the spool every S seconds instead of watching\n"
"                      it with inotify (default: 1 on a remote spool; 0: never)\n"
"Environment (a systemd unit's settings, agq-agent(1)): AGQ_AGENT_CAPS,\n"
"capabilities separated by commas; AGQ_CAP_TOKEN, a --cap-token FILE.\n"
"SIGTERM: stop taking work, finish running tasks, exit; a second SIGTERM\n"
"stops the running tasks and hands them back.  Exit: 0 ok, 75 an agent\n"
"of that name is already running, 64 usage error, 69 --via --once could\n"
"not connect.\n";

/* What a systemd unit's settings pass (agq-agent(1)): AGQ_AGENT_CAPS
 * (capabilities separated by commas) added to CAPS, and AGQ_CAP_TOKEN (a
 * token file) unless --cap-token gave FILE; both taken out of the
 * environment, so the tasks do not inherit them.  Returns the token read
 * from the file (its first line: 64 hex digits), malloc'd, or NULL when
 * there is no file; exits EX_NOINPUT when it cannot be read and
 * EX_DATAERR when it holds no token. */
static char *
unit_settings(json_t *caps, const char *file)
{
	const char *env = getenv("AGQ_AGENT_CAPS");
	if (env) {
		char *list = agq_xstrdup(env), *save = NULL;
		for (char *w = strtok_r(list, ", ", &save); w;
		    w = strtok_r(NULL, ", ", &save))
			json_array_append_new(caps, json_string(w));
		free(list);
		unsetenv("AGQ_AGENT_CAPS");
	}
	char *envfile = getenv("AGQ_CAP_TOKEN") ? agq_xstrdup(getenv(
	    "AGQ_CAP_TOKEN")) : NULL;
	unsetenv("AGQ_CAP_TOKEN");
	if (!file)
		file = envfile && *envfile ? envfile : NULL;
	char *tok = NULL;
	if (file) {
		size_t n;
		tok = agq_read_file(file, 4096, &n, NULL);
		if (!tok)
			agq_die(agq_exit_code(errno), "cannot read the cap token: "
			    "%s (%s)", strerror(errno), file);
		tok[strcspn(tok, "\r\n")] = '\0';
		if (strlen(tok) != AGQ_CAPTOKEN_LEN ||
		    strspn(tok, "0123456789abcdef") != AGQ_CAPTOKEN_LEN)
			agq_die(EX_DATAERR, "--cap-token: not a token (64 hex "
			    "digits from agq-agent token) (%s)", file);
	}
	free(envfile);
	return tok;
}

/* --via's local work directory: WORK, else $XDG_CACHE_HOME/agq/via/AGENT,
 * else ~/.cache/agq/via/AGENT, its parents made (0700); malloc'd. */
static char *
via_work(const char *work, const char *agent)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *parent = work ? NULL : x && *x == '/' ? agq_xasprintf(
	    "%s/agq/via", x) : agq_xasprintf("%s/.cache/agq/via", home && *home ?
	    home : "/tmp");
	if (parent && agq_mkdirs(parent, 0700) < 0) {
		agq_syserr("cannot create directory", parent);
		exit(agq_exit_code(errno));
	}
	char *w = work ? agq_xstrdup(work) : agq_xasprintf("%s/%s", parent,
	    agent);
	free(parent);
	return w;
}

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
		{ "cap-token", required_argument, NULL, 'T' },
		{ "poll", required_argument, NULL, 'W' },
		{ "via", required_argument, NULL, 'V' },
		{ "ssh", required_argument, NULL, 'S' },
		{ "work", required_argument, NULL, 'K' },
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
	const char *token_file = NULL;
	o.poll_s = -1;
	const char *work = NULL;
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
		case 'W': o.poll_s = agq_cli_seconds("--poll", optarg); break;
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
		case 'T': token_file = optarg; break;
		case 'V': o.via = optarg; break;
		case 'S': o.ssh = optarg; break;
		case 'K': work = optarg; break;
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
	char *token = unit_settings(o.caps, token_file);
	o.cap_token = token;
	if ((o.ssh || work) && !o.via)
		agq_die(EX_USAGE, "--ssh and --work go with --via");
	if (o.via && cl.spool)
		agq_die(EX_USAGE, "--via and -s: the spool is the one over ssh");
	struct agq_spool sp;
	int rc;
	if (o.via) {
		if (!o.ssh)
			o.ssh = getenv("AGQ_SSH");
		char *w = via_work(work, o.agent);
		agq_spool_open_or_exit(&sp, w);
		free(w);
		rc = agq_via_runner(&sp, &o);
	} else {
		agq_spool_open_or_exit(&sp, cl.spool);
		if (o.heartbeat_s < 0)
			o.heartbeat_s = sp.conf.heartbeat_s;
		rc = agq_runner(&sp, &o);
	}
	json_decref(o.caps);
	json_decref(o.backends);
	json_decref(o.endpoints);
	json_decref(o.models);
	free(token);
	agq_spool_close(&sp);
	return rc;
}
