/* agq-cancel, agq-hold, agq-release, agq-retry: built from this one main
 * with AGQ_CTL_OP set by the Makefile; the work is in lib/ctl.c. */
#include "util.h"
#include "ctl.h"

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	return agq_ctl_main(argc, argv, AGQ_CTL_OP);
}
