/* agq-prio: a queued or held task moved to another lane; the work is in lib/edit.c. */
#include "util.h"
#include "edit.h"

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	return agq_prio_main(argc, argv);
}
