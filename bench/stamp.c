/* stamp - write CLOCK_REALTIME in microseconds to FILE and exit: the first
 * thing a latency benchmark task does, so "started and ran" is measured
 * without a shell or date(1) in the way. */
#include <stdio.h>
#include <time.h>

int
main(int argc, char **argv)
{
	struct timespec ts;
	if (argc != 2)
		return 64;
	clock_gettime(CLOCK_REALTIME, &ts);
	FILE *f = fopen(argv[1], "w");
	if (!f)
		return 73;
	fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	return fclose(f) == 0 ? 0 : 74;
}
