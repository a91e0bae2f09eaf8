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

/* The options most programs share, as entries of a getopt_long(3) table
 * (the program includes <getopt.h>); agq_cli_next consumes the keys they
 * return ('s', 'j', 'v', 'q', and 'h', 'V' for a '+' table that has
 * --help and --version itself). */
#define AGQ_OPT_SPOOL   { "spool", required_argument, NULL, 's' }
#define AGQ_OPT_JSON    { "json", no_argument, NULL, 'j' }
#define AGQ_OPT_VERBOSE { "verbose", no_argument, NULL, 'v' }
#define AGQ_OPT_QUIET   { "quiet", no_argument, NULL, 'q' }
#define AGQ_OPT_END     { NULL, 0, NULL, 0 }

/* What a program's command line may have after its options. */
enum {
	AGQ_CLI_NONE = 0,       /* no operand (the default) */
	AGQ_CLI_SOME,           /* one or more */
	AGQ_CLI_ANY             /* any number, checked by the program */
};

/* One program's option parsing: the getopt_long(3) loop, -h/--help,
 * --version, the shared options and the usage errors, written once.
 * Set the first four fields (designated initializers; the rest zero). */
struct agq_cli {
	const char *usage;      /* the complete usage text (borrowed) */
	const char *shortopts;  /* getopt(3) letters, e.g. "s:v"; a leading
	                         * '+' stops at the first operand, and then
	                         * only -h/--help and --version in the table
	                         * (keys 'h', 'V') print help and version */
	const struct option *longopts;  /* ended by AGQ_OPT_END; NULL: none */
	int operands;           /* AGQ_CLI_NONE, _SOME or _ANY */
	/* filled in by agq_cli_next from the shared options */
	const char *spool;      /* -s, --spool DIR (borrowed from argv), or
	                         * NULL: agq_spool_open picks the default */
	int json;               /* --json given */
	int verbose;            /* -v, --verbose given */
	int quiet;              /* -q, --quiet given */
	int started;            /* internal: agq_cli_next has run */
};

/* The next option of ARGV that is the program's own: getopt_long(3) with
 * CL's tables, returning the key (a letter of shortopts or a table's val)
 * with its argument in optarg.  The first call sets agq_prog
 * (agq_setprog) and, unless shortopts starts with '+', answers --help and
 * --version anywhere before "--" (agq_cli_help).  The shared keys are
 * stored in CL and not returned ('h' and 'V' are shared only with a
 * leading '+'; otherwise they are the program's own).  An unknown option
 * or a missing argument (getopt's message on stderr) exits EX_USAGE (64,
 * sysexits(3)) with the usage text (agq_cli_usage).  At the end, checks
 * the count of operands against CL->operands (else the same usage exit)
 * and returns -1: argv[optind] is then the first operand.  A key
 * returned is always one of the program's table, so its switch needs no
 * default case. */
int agq_cli_next(struct agq_cli *cl, int argc, char **argv);

/* agq_cli_next for a program with only shared options: parse all of ARGV
 * (a key of its own is a usage error).  Returns optind. */
int agq_cli_parse(struct agq_cli *cl, int argc, char **argv);

/* The end of a program's main, after it closed what it opened:
 * agq_flush_stdout.  Returns EX_IOERR (74, sysexits(3)) when standard
 * output could not be written (reported), else RC. */
int agq_cli_done(int rc);

/* The words of LIST, an option's argument of words separated by commas
 * ("done,dead": a repeatable option's values may come either way, as
 * ps(1)'s -o does), each passed to FN(WORD, ARG), empty ones skipped;
 * exits EX_USAGE (64) with "OPT: nothing in 'LIST'" when there is none.
 * FN may exit on a word it does not know. */
void agq_cli_words(const char *opt, const char *list,
                   void (*fn)(const char *word, void *arg), void *arg);

/* Write BUF (a NUL-terminated text) to PATH, a file a program was asked
 * to write (-o FILE, --html FILE): through a temporary file in PATH's
 * directory, fsync(2), rename(2) (agq_write_atomic with sync).  0, or -1
 * with errno set; the caller reports. */
int agq_cli_write_file(const char *path, const char *buf);
/* The whole file PATH a program was given to read (--prompt-file,
 * --plan; "-": standard input), at most MAX bytes: NUL-terminated,
 * malloc'd, its length in *LEN.  When it cannot be read, exits
 * EX_NOINPUT (66) with "cannot read WHAT: WHY (PATH)". */
char *agq_cli_read_file(const char *what, const char *path, size_t max,
                        size_t *len);

/* The string S shown for a person (agq_human: control characters as
 * escapes), for printf(3) in a human-readable output; NULL stays NULL.
 * Borrowed: one of 8 static buffers of 1 KiB used in turn (longer text
 * is cut), so up to 8 in one printf call.  Not thread-safe. */
const char *agq_shown(const char *s);

/* agq_shown of member K of the JSON object O when that is a string, else
 * NULL (O NULL or not an object too).  Borrowed, as agq_shown's. */
const char *agq_shown_get(const json_t *o, const char *k);

/* The width in columns of the terminal on FD, for cutting titles to it
 * (agq(7) TERMINAL OUTPUT): 0 when FD is not a terminal (isatty(3): a
 * pipe or a file gets whole lines); else its window size (TIOCGWINSZ,
 * tty_ioctl(4)), else $COLUMNS when a number, else 80. */
int agq_term_cols(int fd);

#endif
