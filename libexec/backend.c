/* The backend executables libexec/agq/NAME (agq-backend(7)): one thin
 * main, built once per backend with -DAGQ_BACKEND='"NAME"'. */
#include "backend.h"

int
main(int argc, char **argv)
{
	return agq_backend_main(argc, argv, AGQ_BACKEND);
}
