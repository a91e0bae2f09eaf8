/* Unit tests for lib/cli.c (the programs' shared option loop and ending)
 * and the JSON object files read by agq_json_read_object (util.c) and
 * agq_registration_read (agent.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

static const char usage[] = "usage: agq-test [-s SPOOL] [--json]\n";

static const struct option longopts[] = {
	AGQ_OPT_SPOOL, AGQ_OPT_JSON, AGQ_OPT_VERBOSE, AGQ_OPT_QUIET,
	{ "limit", required_argument, NULL, 'l' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	AGQ_OPT_END
};

/* Parse ARGV (NULL-ended) from the start; the keys of the program's own
 * options go into KEYS (a string), their arguments are joined in ARGS. */
static void
parse(struct agq_cli *cl, char **argv, char *keys, char *args)
{
	int argc = 0, c;
	while (argv[argc])
		argc++;
	optind = 0;             /* glibc: start a new scan */
	keys[0] = args[0] = '\0';
	while ((c = agq_cli_next(cl, argc, argv)) != -1) {
		size_t n = strlen(keys);
		keys[n] = (char)c;
		keys[n + 1] = '\0';
		strcat(args, optarg ? optarg : "-");
	}
}

/* The exit status of agq_cli_next on ARGV in a child (its output goes to
 * /dev/null), or -1 when it returned. */
static int
child_exit(const char *shortopts, int operands, char **argv)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		struct agq_cli cl = { .usage = usage, .shortopts = shortopts,
		    .longopts = longopts, .operands = operands };
		int argc = 0;
		while (argv[argc])
			argc++;
		optind = 0;
		while (agq_cli_next(&cl, argc, argv) != -1)
			;
		_exit(200);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -2;
	return WEXITSTATUS(st) == 200 ? -1 : WEXITSTATUS(st);
}

int
main(void)
{
	char keys[32], args[256];

	/* the shared options are consumed, the program's own returned */
	char *a1[] = { "/x/agq-test", "-s", "/sp", "--json", "-v", "--limit",
	    "5", "-q", NULL };
	struct agq_cli cl = { .usage = usage, .shortopts = "s:vq",
	    .longopts = longopts };
	parse(&cl, a1, keys, args);
	CHECK(cl.spool && !strcmp(cl.spool, "/sp") && cl.json && cl.verbose &&
	    cl.quiet, "shared options stored");
	CHECK(!strcmp(keys, "l") && !strcmp(args, "5"), "own option returned");
	CHECK(!strcmp(agq_prog, "agq-test"), "program name set");

	/* long forms, an abbreviation, and permuted operands */
	char *a2[] = { "agq-test", "x", "--spool=/b", "--li", "7", "y", NULL };
	struct agq_cli c2 = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	parse(&c2, a2, keys, args);
	CHECK(!strcmp(c2.spool, "/b") && !c2.json && !strcmp(keys, "l") &&
	    !strcmp(args, "7"), "long forms and abbreviation");
	CHECK(optind == 4 && !strcmp(a2[optind], "x") &&
	    !strcmp(a2[optind + 1], "y"), "operands after the options");

	/* '+': stops at the first operand; its options after it are left */
	char *a3[] = { "agq-test", "-q", "cmd", "--help", NULL };
	struct agq_cli c3 = { .usage = usage, .shortopts = "+s:qh",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	parse(&c3, a3, keys, args);
	CHECK(c3.quiet && !keys[0] && optind == 2, "'+' stops at CMD");

	/* no own options in the table: none returned */
	char *a4[] = { "agq-test", NULL };
	struct agq_cli c4 = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts };
	optind = 0;
	CHECK(agq_cli_parse(&c4, 1, a4) == 1 && !c4.spool && !c4.json,
	    "agq_cli_parse with nothing given");

	/* usage errors, help and version exit */
	char *e1[] = { "agq-test", "--bogus", NULL };
	CHECK(child_exit("s:", AGQ_CLI_ANY, e1) == EX_USAGE, "unknown option: 64");
	char *e2[] = { "agq-test", "-s", NULL };
	CHECK(child_exit("s:", AGQ_CLI_ANY, e2) == EX_USAGE,
	    "missing argument: 64");
	char *e3[] = { "agq-test", "x", NULL };
	CHECK(child_exit("s:", AGQ_CLI_NONE, e3) == EX_USAGE,
	    "an operand where none is taken: 64");
	char *e4[] = { "agq-test", "-s", "/x", NULL };
	CHECK(child_exit("s:", AGQ_CLI_SOME, e4) == EX_USAGE,
	    "no operand where one is needed: 64");
	CHECK(child_exit("s:", AGQ_CLI_ANY, e4) == -1, "any operands: none");
	char *e5[] = { "agq-test", "x", "--help", NULL };
	CHECK(child_exit("s:", AGQ_CLI_ANY, e5) == 0, "--help anywhere: 0");
	char *e6[] = { "agq-test", "--", "--help", NULL };
	CHECK(child_exit("s:", AGQ_CLI_ANY, e6) == -1, "--help after --: none");
	char *e7[] = { "agq-test", "-h", NULL };
	CHECK(child_exit("+s:h", AGQ_CLI_ANY, e7) == 0, "'+': -h exits 0");
	char *e8[] = { "agq-test", "--version", NULL };
	CHECK(child_exit("+s:h", AGQ_CLI_ANY, e8) == 0, "'+': --version exits 0");

	/* agq_cli_done: RC, or EX_IOERR when stdout cannot be written */
	CHECK(agq_cli_done(3) == 3, "agq_cli_done passes RC on");

	/* agq_cli_write_file: in PATH's directory, the whole text */
	char dir[] = "/tmp/agq-unit-cli-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char path[400];
	snprintf(path, sizeof path, "%s/page.html", dir);
	CHECK(agq_cli_write_file(path, "<p>x</p>\n") == 0, "write a file");
	size_t len;
	char *got = agq_read_file(path, 1024, &len, NULL);
	CHECK(got && len == 9 && !memcmp(got, "<p>x</p>\n", 9), "written whole");
	free(got);
	snprintf(path, sizeof path, "%s/no/page.html", dir);
	CHECK(agq_cli_write_file(path, "x") < 0 && errno == ENOENT,
	    "no directory: ENOENT");

	/* agq_json_read_object */
	snprintf(path, sizeof path, "%s/o.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"a\": 1}\n", f);
	fclose(f);
	json_t *o = agq_json_read_object(path, 1024);
	CHECK(json_is_object(o) && json_integer_value(json_object_get(o, "a"))
	    == 1, "an object read");
	json_decref(o);
	CHECK(!agq_json_read_object(path, 4) && errno == EFBIG, "over MAX: EFBIG");
	f = fopen(path, "w");
	fputs("[1]\n", f);
	fclose(f);
	CHECK(!agq_json_read_object(path, 1024) && errno == EBADMSG,
	    "not an object: EBADMSG");
	CHECK(!agq_json_read_object(dir, 1024) && errno == EINVAL,
	    "a directory: EINVAL");
	snprintf(path, sizeof path, "%s/none.json", dir);
	CHECK(!agq_json_read_object(path, 1024) && errno == ENOENT,
	    "missing: ENOENT");

	/* agq_registration_read */
	struct agq_spool sp;
	char root[300], conf[300];
	snprintf(root, sizeof root, "%s/spool", dir);
	snprintf(conf, sizeof conf, "%s/agq.conf", dir);
	f = fopen(conf, "w");
	fclose(f);
	CHECK(agq_spool_open(&sp, root, conf) == 0, "spool");
	snprintf(path, sizeof path, "%s/agents/a1.json", root);
	f = fopen(path, "w");
	fputs("{\"name\": \"a1\"}", f);
	fclose(f);
	o = agq_registration_read(&sp, "agents", "a1");
	CHECK(o && !strcmp(json_string_value(json_object_get(o, "name")),
	    "a1"), "a named registration read");
	json_decref(o);
	CHECK(!agq_registration_read(&sp, "agents", "../a1") && errno == EINVAL,
	    "a bad name: EINVAL");
	CHECK(!agq_registration_read(&sp, "agents", "a2") && errno == ENOENT,
	    "no such name: ENOENT");
	agq_spool_close(&sp);

	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	DONE();
}
