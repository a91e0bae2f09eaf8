/* agq-edit: a queued or held task edited in $EDITOR; the work is in lib/edit.c. */
#include "util.h"
#include "edit.h"

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	return agq_edit_main(argc, argv);
}
