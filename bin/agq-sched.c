/* agq-sched - the scheduler (agq-sched(8)); the work is in lib/sched.c. */
#include <errno.h>
#include <getopt.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "sched.h"

static const char usage[] =
"usage: agq-sched [-s SPOOL] [--once] [--lease S] [--poll S] [-v]\n"
"Accept inbox drops, promote due deferred tasks, reclaim the leases of dead\n"
"agents, and assign queued tasks to agents.  One scheduler per spool.\n"
"See agq-sched(8).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --once        do one pass and exit (for cron)\n"
"      --lease S     an agent whose heartbeat is older than S seconds is\n"
"                    dead and its tasks are reclaimed (default 15)\n"
"      --poll S      look at the spool every S seconds instead of watching\n"
"                    it with inotify (default: 1 on a remote spool; 0: never)\n"
"  -v, --verbose     say what it does on standard error\n"
"Exit: 0 ok, 75 another scheduler holds the spool, 78 bad configuration.\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "once", no_argument, NULL, 'o' },
		{ "lease", required_argument, NULL, 'l' },
		{ "poll", required_argument, NULL, 'P' },
		AGQ_OPT_VERBOSE, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:v",
	    .longopts = longopts };
	struct agq_sched_opts o = { 0, -1, 0, -1 };
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'o': o.once = 1; break;
		case 'P': o.poll_s = agq_cli_seconds("--poll", optarg); break;
		case 'l':
			o.lease_s = agq_cli_seconds("--lease", optarg);
			if (o.lease_s <= 0)
				agq_die(EX_USAGE, "--lease: must be more than 0");
			break;
		}
	}
	o.verbose = cl.verbose;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	if (o.lease_s < 0)
		o.lease_s = sp.conf.lease_s;
	int rc = agq_sched(&sp, &o);
	agq_spool_close(&sp);
	return rc;
}
