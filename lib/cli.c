/* cli.c - option helpers shared by the programs' mains. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sysexits.h>
#include <unistd.h>

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

int
agq_cli_next(struct agq_cli *cl, int argc, char **argv)
{
	int inorder = cl->shortopts[0] == '+';
	if (!cl->started) {
		cl->started = 1;
		agq_setprog(argv[0]);
		if (!inorder)
			agq_cli_help(argc, argv, cl->usage);
	}
	int c;
	while ((c = getopt_long(argc, argv, cl->shortopts, cl->longopts,
	    NULL)) != -1) {
		switch (c) {
		case 's': cl->spool = optarg; break;
		case 'j': cl->json = 1; break;
		case 'v': cl->verbose = 1; break;
		case 'q': cl->quiet = 1; break;
		case 'h':
		case 'V':
			if (!inorder)
				return c;
			if (c == 'h')
				fputs(cl->usage, stdout);
			else
				printf("%s %s\n", agq_prog, AGQ_VERSION);
			exit(0);
		case '?':
			agq_cli_usage(cl->usage);
		default:
			return c;
		}
	}
	if ((cl->operands == AGQ_CLI_NONE && optind < argc) ||
	    (cl->operands == AGQ_CLI_SOME && optind >= argc))
		agq_cli_usage(cl->usage);
	return -1;
}

int
agq_cli_parse(struct agq_cli *cl, int argc, char **argv)
{
	if (agq_cli_next(cl, argc, argv) != -1)
		agq_cli_usage(cl->usage);
	return optind;
}

void
agq_cli_words(const char *opt, const char *list,
              void (*fn)(const char *word, void *arg), void *arg)
{
	char *dup = agq_xstrdup(list), *save = NULL;
	int n = 0;
	for (char *w = strtok_r(dup, ",", &save); w; w = strtok_r(NULL, ",",
	    &save), n++)
		fn(w, arg);
	free(dup);
	if (!n)
		agq_die(EX_USAGE, "%s: nothing in '%s'", opt, list);
}

int
agq_cli_done(int rc)
{
	if (agq_flush_stdout() < 0)
		return EX_IOERR;
	return rc;
}

char *
agq_cli_read_file(const char *what, const char *path, size_t max,
                  size_t *len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	char *buf = fd < 0 ? NULL : agq_read_fd(fd, max, len);
	if (!buf) {
		char *w = agq_xasprintf("cannot read %s", what);
		agq_syserr(w, path);
		exit(EX_NOINPUT);
	}
	if (fd > 0)
		close(fd);
	return buf;
}

int
agq_cli_write_file(const char *path, const char *buf)
{
	char *dir = agq_xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	else
		strcpy(dir, ".");
	int r = agq_write_atomic(dir, path, buf, strlen(buf), 1, 0);
	int e = errno;
	free(dir);
	errno = e;
	return r;
}

int
agq_term_cols(int fd)
{
	if (!isatty(fd))
		return 0;
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	char *end;
	long v = c ? strtol(c, &end, 10) : 0;
	if (c && *c && !*end && v > 0 && v < 10000)
		return (int)v;
	return 80;
}

const char *
agq_shown(const char *s)
{
	static char ring[8][1024];
	static unsigned next;
	return s ? agq_human(ring[next++ % 8], sizeof ring[0], s) : NULL;
}

const char *
agq_shown_get(const json_t *o, const char *k)
{
	return agq_shown(json_string_value(json_object_get(o, k)));
}
