/* agq-fsck - check and repair a spool (agq-fsck(8)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "fsck.h"

static const char usage[] =
"usage: agq-fsck [-s SPOOL] [--fix | --rebuild-index] [--tmp-age DURATION]\n"
"Check a spool: missing directories, permissions, files that are not\n"
"tasks, tasks in two states, leases of dead agents, id claims, the\n"
"dependency edges (deps/), plan revisions (plans/), the missions'\n"
"task index, stale tmp/ files and the journal.  One line per problem,\n"
"then a summary line.  See agq-fsck(8).\n"
"  -s, --spool DIR       spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --fix             repair what is found (stop agq-sched first)\n"
"      --rebuild-index   repair only the id claims in ids/\n"
"      --tmp-age D       tmp/ files untouched for D are stale (default 36h)\n"
"Exit: 0 clean, 1 problems found (fixed or not), 75 agq-sched is running\n"
"(with --fix), 66 no spool.\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "fix", no_argument, NULL, 'f' },
		{ "tmp-age", required_argument, NULL, 't' },
		{ "rebuild-index", no_argument, NULL, 'r' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts };
	struct agq_fsck_opts o = { 0, (int64_t)36 * 3600 * 1000000, 0 };
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'f': o.fix = 1; break;
		case 'r': o.rebuild_index = 1; break;
		case 't':
			o.tmp_age_us = (int64_t)(agq_cli_seconds("--tmp-age",
			    optarg) * 1e6);
			break;
		}
	}
	struct agq_spool sp;
	if (agq_spool_open_flags(&sp, cl.spool, NULL, AGQ_OPEN_NOCREATE) < 0)
		return errno == EINVAL ? EX_CONFIG : agq_exit_code(errno);
	int lk = -1;
	if (o.fix || o.rebuild_index) {
		/* Repairs move tasks without the scheduler's knowledge: hold
		 * its lock so none runs meanwhile. */
		lk = agq_spool_flock(&sp, "sched", 0);
		if (lk < 0) {
			int e = errno;
			if (e == EWOULDBLOCK)
				agq_warn("agq-sched is running on %s; stop it "
				    "before agq-fsck --fix", sp.root);
			else
				agq_spool_syserr(&sp, "cannot lock",
				    ".sched.lock");
			agq_spool_close(&sp);
			/* a read-only spool is 77 (agq(7), Exit status) */
			return e == EWOULDBLOCK ? EX_TEMPFAIL :
			    agq_exit_code(e);
		}
	}
	struct agq_fsck_counts n;
	int rc = agq_fsck(&sp, &o, &n);
	printf("agq-fsck: %s: %ld tasks, %ld problems (%ld missing "
	    "directories, %ld permissions, %ld not tasks, %ld duplicates, "
	    "%ld dead-agent leases, %ld claims, %ld edges, %ld stale tmp, "
	    "%ld plans, %ld mission entries, %ld journal), %ld fixed\n",
	    sp.root, n.tasks, n.problems, n.dirs, n.modes, n.strays,
	    n.duplicates, n.leases, n.claims, n.edges, n.tmp, n.plans,
	    n.missions, n.journal, n.fixed);
	if (lk >= 0)
		close(lk);
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
