/*
 * cli.h - cli.c: option parsing and output shared by the programs.
 *
 * Used by the programs' mains in bin/ and libexec/.  Uses util only.
 */
#ifndef AGQ_CLI_H
#define AGQ_CLI_H

#include <stddef.h>
#include <jansson.h>

/* If ARGV has "--help" or "-h" anywhere before "--", print USAGE (a
 * complete usage text) on stdout and exit 0.  "--version" prints the
 * version and exits 0. */
void agq_cli_help(int argc, char **argv, const char *usage);

/* A usage error: USAGE on standard error, exit EX_USAGE (64). */
_Noreturn void agq_cli_usage(const char *usage);

/* Parse a non-negative number of seconds (agq_parse_duration) for option
 * OPT or exit EX_USAGE with a message naming it. */
double agq_cli_seconds(const char *opt, const char *val);
/* Parse a positive integer for option OPT or exit EX_USAGE. */
long agq_cli_long(const char *opt, const char *val, long min, long max);

/* Print O on standard output as JSON (json_dumpf(3) with jansson FLAGS,
 * e.g. JSON_COMPACT) and a newline; write errors show at the next
 * agq_flush_stdout. */
void agq_print_json(const json_t *o, size_t flags);

/* fflush(stdout) and check for a write error (a full disk, a closed
 * pipe); reports "cannot write: WHY (standard output)".  0 or -1. */
int agq_flush_stdout(void);

#endif
