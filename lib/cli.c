/* cli.c - option helpers shared by the programs' mains. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"

void
agq_cli_usage(const char *usage)
{
	fputs(usage, stderr);
	exit(EX_USAGE);
}

void
agq_cli_help(int argc, char **argv, const char *usage)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			exit(0);
		}
		if (!strcmp(argv[i], "--version")) {
			printf("%s %s\n", agq_prog, AGQ_VERSION);
			exit(0);
		}
	}
}

double
agq_cli_seconds(const char *opt, const char *val)
{
	int64_t us;
	if (agq_parse_duration(val, &us) < 0)
		agq_die(EX_USAGE, "%s: not a number of seconds: '%s'", opt, val);
	return (double)us / 1e6;
}

long
agq_cli_long(const char *opt, const char *val, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(val, &end, 10);
	if (errno || end == val || *end || v < min || v > max)
		agq_die(EX_USAGE, "%s: expected a whole number from %ld to %ld: "
		    "'%s'", opt, min, max, val);
	return v;
}

int
agq_flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		agq_syserr("cannot write", "standard output");
		return -1;
	}
	return 0;
}

void
agq_print_json(const json_t *o, size_t flags)
{
	if (json_dumpf(o, stdout, flags) == 0)
		putchar('\n');
}
