/* agq-clean: finished tasks moved into the archive; the work is in lib/clean.c. */
#include "util.h"
#include "clean.h"

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	return agq_clean_main(argc, argv);
}
