/* agq-submit - submit tasks to the spool (agq-submit(1)). */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "classify.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "open.h"
#include "deps.h"
#include "submit.h"

static const char usage[] =
"usage: agq-submit [-s SPOOL] [-p LANE] [-c CAP]... [--id ID] [--title T]\n"
"                  [--max-attempts N] [--backoff S] [--timeout S]\n"
"                  [--delay S | --not-before TIME] [-e NAME=VALUE]...\n"
"                  [-C DIR] [--notify CMD] [--after ID]...\n"
"                  [--on-dep-fail cancel|run|hold] [--mission MISSION]\n"
"                  [--role R] [--tenant T] [--run-on AGENT]... [--hold]\n"
"                  [--] CMD\n"
"                  [ARG]...\n"
"       agq-submit [options] --prompt TEXT | --prompt-file FILE\n"
"                  [--backend B] [--model M] [--verify CMD]...\n"
"                  [--criteria TEXT]... [[--] CMD [ARG]...]\n"
"       agq-submit [options] --git ORIGIN[#BASE] [--branch NAME] [--no-pr]\n"
"                  [--draft] [--setup CMD]... [--cleanup CMD]... ...\n"
"       agq-submit [options] < TASKS.json      (one object, or JSON lines)\n"
"Submit a task and print its id once it is durable (file and directory\n"
"fsynced).  See agq-submit(1) and agq-task(5).\n"
"  -s, --spool DIR      spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -p, --priority LANE  urgent, high, normal (default) or low\n"
"  -c, --cap CAP        a capability the agent must have (repeatable)\n"
"      --run-on AGENT   run only on agent AGENT (repeatable: on one of\n"
"                       them); agq-task(5), run_on\n"
"      --id ID          task id ([A-Za-z0-9._-]{1,64}); default: generated\n"
"      --title T        a title for listings\n"
"      --max-attempts N attempts before dead/ (default 3)\n"
"      --backoff S      retry backoff base in seconds (default 10)\n"
"      --timeout S      kill the task after S seconds\n"
"      --delay S        do not start before S seconds from now\n"
"      --not-before T   do not start before T (RFC 3339 or epoch seconds)\n"
"  -e, --env NAME=VAL   set an environment variable (repeatable)\n"
"  -C, --cwd DIR        working directory (default: the current one; with\n"
"                       --git, a directory inside the worktree)\n"
"      --notify CMD     run CMD (/bin/sh -c) when the task is done, dead or\n"
"                       cancelled: agq-task(5), \"notify\"\n"
"      --after ID       run only once task ID is done (repeatable): the\n"
"                       task waits in blocked/; agq-task(5), \"after\"\n"
"      --on-dep-fail A  when a parent ends dead or cancelled: cancel\n"
"                       (default), run or hold; agq-task(5)\n"
"      --mission MISSION the task is part of MISSION (agq-mission(1))\n"
"      --role R         plan, implement, review or test: agq-task(5), role\n"
"      --tenant T       whose quota the task counts in (agq.conf(5) limits;\n"
"                       default: your user name)\n"
"      --hold           submit it held (hold/): it runs once agq-release\n"
"                       lets it go; not with --after\n"
"  -q, --quiet          do not print ids\n"
"Prompt tasks (agq-task(5), agent fields):\n"
"      --prompt TEXT    what to ask the model; no CMD needed\n"
"      --prompt-file F  the prompt read from file F (\"-\": standard input)\n"
"      --backend B      the backend to run it with (agq-backend(7))\n"
"      --model M        the model to use\n"
"      --verify CMD     a command_succeeds step, CMD run by /bin/sh -c\n"
"                       (repeatable)\n"
"      --criteria TEXT  a success criterion (repeatable)\n"
"Git tasks (agq-task(5), \"Git tasks\"): run in a worktree of their own,\n"
"then committed, pushed and opened as a pull request:\n"
"      --git ORIGIN[#BASE] the repository (path or URL) and base branch\n"
"                       (default main); a local path is made absolute\n"
"      --branch NAME    the branch (default AGENT/SLUG of the title)\n"
"      --no-pr          push the branch, open no pull request\n"
"      --draft          open the pull request as a draft\n"
"      --setup CMD      run by /bin/sh -c in the worktree first (repeatable)\n"
"      --cleanup CMD    run by /bin/sh -c after the task (repeatable)\n"
"With no CMD and no prompt, tasks are read from standard input; options\n"
"fill in the fields a task does not set.  Exit: 0 ok (also when an id\n"
"existed already), 65 invalid input (other lines are still submitted),\n"
"75 temporary failure (e.g. disk full), 64 usage error, 66 a prompt\n"
"file that cannot be read.\n";

struct opts {
	json_t *defaults;       /* fields from the command line */
	json_t *here;           /* the current directory: the cwd of a task
	                         * without cwd and without git */
	int quiet;
	int hold;               /* --hold: AGQ_DELIVER_HOLD, else 0 */
};

static int
bad_input(const char *where, const char *err)
{
	agq_warn("%s: %s", where, err);
	return EX_DATAERR;
}

/* The value V (a new reference, or NULL: not UTF-8 text) of option FLAG,
 * checked as the task field FIELD by the validator of a task's JSON
 * (agq_task_validate_agent, agq-task(5)); when it is not valid, exit
 * with CODE (sysexits(3)) and a message naming the flag and the field.
 * Returns V, still the caller's. */
static json_t *
flag_value(const char *flag, const char *field, json_t *v, int code)
{
	char err[600];
	if (!v)
		agq_die(code, "%s: not UTF-8 text", flag);
	json_t *one = json_pack("{s:O}", field, v);
	if (agq_task_validate_agent(one, err, sizeof err) < 0)
		agq_die(code, "%s: %s", flag, err);
	json_decref(one);
	return v;
}

/* S, the value of command-line FLAG, as a new JSON string; exits
 * EX_USAGE naming FLAG when S is not UTF-8 (JSON text is, RFC 8259
 * section 8.1), instead of losing the value. */
static json_t *
utf8_arg(const char *flag, const char *s)
{
	json_t *v = json_string(s);
	if (!v)
		agq_die(EX_USAGE, "%s: not UTF-8 text: '%s'", flag, s);
	return v;
}

/* The prompt in file PATH ("-": standard input), a new JSON string.
 * Exits EX_NOINPUT (66) when it cannot be read, EX_DATAERR (65) when it
 * is not UTF-8 text without NUL bytes or is empty. */
static json_t *
prompt_file(const char *path)
{
	size_t len;
	char *buf = agq_cli_read_file("the prompt file", path, (size_t)1 << 30,
	    &len);
	json_t *v = memchr(buf, '\0', len) ? NULL : json_stringn(buf, len);
	free(buf);
	if (!v)
		agq_die(EX_DATAERR, "--prompt-file: not UTF-8 text without NUL "
		    "bytes (%s)", path);
	return flag_value("--prompt-file", "prompt", v, EX_DATAERR);
}

/* Fill in task T what the command line gives and T does not set (O's
 * defaults; the current directory as its cwd unless it has git), and make
 * a local git.repo an absolute path, as it is seen from here.  0, or -1
 * with ERR: the repository does not exist. */
static int
apply_defaults(json_t *t, const struct opts *o, char *err, size_t size)
{
	const char *k;
	json_t *v;
	agq_task_unlist(t);     /* a line of agq-ls --json */
	json_object_foreach(o->defaults, k, v)
		if (!json_object_get(t, k))
			json_object_set(t, k, v);
	if (o->hold && json_array_size(json_object_get(t, "after")))
		return agq_errf(err, size, "--hold: not for a task with after "
		    "(it waits in blocked/ for its parents; agq-hold it once it "
		    "is queued)");
	json_t *git = json_object_get(t, "git");
	if (!git && o->here && !json_object_get(t, "cwd"))
		json_object_set(t, "cwd", o->here);
	const char *repo = json_string_value(json_object_get(git, "repo"));
	if (!repo || !*repo || !agq_origin_local(repo))
		return 0;
	char real[PATH_MAX];
	if (!realpath(repo, real))
		return agq_errf(err, size, "field git.repo: %s (%s)",
		    strerror(errno), repo);
	if (strcmp(real, repo))
		json_object_set_new(git, "repo", json_string(real));
	return 0;
}

/* Deliver one valid normalized task (FLAGS for agq_deliver) through
 * agq_submit_deliver (submit.h: parents decided, edges written, the
 * submit event journaled; WHERE_IN names the input, a parent unknown
 * refused with 65).  Returns 0 ok/duplicate, else an exit code. */
static int
submit_one(struct agq_spool *sp, json_t *t, int flags, const char *source,
           const char *where_in, json_t *pending)
{
	int where = -1;
	char err[300];
	int r = agq_submit_deliver(sp, t, flags, source, &where, err,
	    sizeof err);
	if (r == 2)
		return bad_input(where_in, err);
	if (r < 0)
		return agq_exit_code(errno);
	const char *id = agq_task_id(t);
	if (r == 1)
		agq_warn("%s: already submitted (in %s/); not enqueued again",
		    id, agq_state_name(where));
	json_array_append_new(pending, json_string(id));
	return 0;
}

/* Make the delivered batch durable, then acknowledge it. */
static int
flush(struct agq_spool *sp, json_t *pending, int quiet)
{
	if (json_array_size(pending) == 0)
		return 0;
	int fd = open(sp->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || syncfs(fd) < 0) {
		agq_syserr("cannot sync the spool", sp->root);
		if (fd >= 0)
			close(fd);
		return agq_exit_code(errno);
	}
	close(fd);
	size_t i;
	json_t *v;
	if (!quiet) {
		json_array_foreach(pending, i, v)
			printf("%s\n", json_string_value(v));
		if (agq_flush_stdout() < 0)
			return EX_IOERR;
	}
	json_array_clear(pending);
	return 0;
}

/* JSON lines in BUF (LEN bytes) read from *P on: the next task line's
 * task, parsed, with O's defaults and valid, its place ("standard input
 * line N") in WHERE (64 bytes); NULL at the end.  An invalid line is
 * reported and skipped (*BAD the exit code); *NONBLANK counts the lines
 * that were not blank. */
static json_t *
next_line(struct agq_spool *sp, struct opts *o, char **p, char *end,
          int *lineno, int *nonblank, int *bad, char *where)
{
	char err[600];
	while (*p < end) {
		char *nl = memchr(*p, '\n', (size_t)(end - *p));
		size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
		(*lineno)++;
		char *line = *p;
		*p += n + (nl ? 1 : 0);
		size_t k = 0;
		while (k < n && (line[k] == ' ' || line[k] == '\t' ||
		    line[k] == '\r'))
			k++;
		if (k == n)
			continue;
		(*nonblank)++;
		snprintf(where, 64, "standard input line %d", *lineno);
		json_t *t = NULL;
		if (n > sp->conf.max_task_bytes)
			snprintf(err, sizeof err, "task is %zu bytes, over "
			    "max_task_bytes (%zu)", n, sp->conf.max_task_bytes);
		else
			t = agq_task_parse(line, n, err, sizeof err);
		if (t) {
			if (apply_defaults(t, o, err, sizeof err) < 0 ||
			    agq_submit_valid(t, err, sizeof err) < 0) {
				json_decref(t);
				t = NULL;
			}
		}
		if (t)
			return t;
		*bad = bad_input(where, err);
	}
	return NULL;
}

/* Submit task T (normalized with FLAGS) of JSON lines, acknowledged in
 * groups of 4096 (flush).  0, or the exit code that stops the batch. */
static int
line_submit(struct agq_spool *sp, struct opts *o, json_t *t, int flags,
            const char *where, json_t *pending)
{
	int r = submit_one(sp, t, flags, "stdin", where, pending);
	if (r == EX_DATAERR)    /* this task refused (a parent unknown) */
		return r;
	if (r) {
		/* acknowledge what was delivered before the failure */
		flush(sp, pending, o->quiet);
		return r;
	}
	if (json_array_size(pending) >= 4096)
		return flush(sp, pending, o->quiet);
	return 0;
}

/* JSON lines without "after": one task per line, each delivered as it is
 * read; durable in groups. */
static int
lines_stream(struct agq_spool *sp, struct opts *o, char *buf, size_t len,
             json_t *pending)
{
	char *p = buf, *end = buf + len, where[64];
	int lineno = 0, bad = 0, nonblank = 0, rc = 0;
	json_t *t;
	while ((t = next_line(sp, o, &p, end, &lineno, &nonblank, &bad,
	    where))) {
		rc = line_submit(sp, o, t, agq_submit_normalize(t, 0) | o->hold,
		    where, pending);
		json_decref(t);
		if (rc == EX_DATAERR) {
			bad = rc;
			rc = 0;
		}
		if (rc)
			break;
	}
	if (!rc)
		rc = flush(sp, pending, o->quiet);
	if (!rc && nonblank == 0)
		rc = bad_input("standard input", "no task (empty input)");
	return rc ? rc : bad;
}

/* JSON lines of which some have "after", which may name the "id" of
 * another line, earlier or later (agq-submit(1), "Dependencies"): every
 * line read and checked first, the batch's graph walked (a cycle refuses
 * the whole batch: nothing delivered), then the tasks delivered parents
 * first, otherwise in input order. */
static int
lines_graph(struct agq_spool *sp, struct opts *o, char *buf, size_t len,
            json_t *pending)
{
	char *p = buf, *end = buf + len, where[64];
	int lineno = 0, bad = 0, nonblank = 0, rc = 0;
	json_t **v = NULL, *t;
	int *flags = NULL, *lines = NULL;
	size_t n = 0, cap = 0, fcap = 0, lcap = 0;
	while ((t = next_line(sp, o, &p, end, &lineno, &nonblank, &bad,
	    where))) {
		v = agq_grow(v, &cap, n, sizeof *v, 256);
		flags = agq_grow(flags, &fcap, n, sizeof *flags, 256);
		lines = agq_grow(lines, &lcap, n, sizeof *lines, 256);
		flags[n] = agq_submit_normalize(t, 0) | o->hold;
		lines[n] = lineno;
		v[n++] = t;
	}
	size_t *order = agq_xmalloc((n + 1) * sizeof *order), cyc;
	char err[2048];
	if (agq_dep_batch_order(v, n, order, &cyc, err, sizeof err) < 0) {
		snprintf(where, sizeof where, "standard input line %d",
		    lines[cyc]);
		rc = bad_input(where, err);
		agq_warn("nothing submitted: the batch's graph has a cycle");
	}
	for (size_t i = 0; i < n && !rc; i++) {
		snprintf(where, sizeof where, "standard input line %d",
		    lines[order[i]]);
		rc = line_submit(sp, o, v[order[i]], flags[order[i]], where,
		    pending);
		if (rc == EX_DATAERR) {         /* this task refused only */
			bad = rc;
			rc = 0;
		}
	}
	if (!rc)
		rc = flush(sp, pending, o->quiet);
	if (!rc && nonblank == 0)
		rc = bad_input("standard input", "no task (empty input)");
	free(order);
	while (n > 0)
		json_decref(v[--n]);
	free(v);
	free(flags);
	free(lines);
	return rc ? rc : bad;
}

static int
from_stdin(struct agq_spool *sp, struct opts *o)
{
	size_t len;
	char *buf = agq_read_fd(0, (size_t)1 << 34, &len);
	int rc = 0;
	if (!buf) {
		agq_syserr("cannot read", "standard input");
		return EX_IOERR;
	}
	json_t *pending = json_array();
	char err[600];
	/* One JSON object (possibly over many lines)? */
	json_t *one = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(one)) {
		if (len > sp->conf.max_task_bytes) {
			snprintf(err, sizeof err, "task is %zu bytes, over "
			    "max_task_bytes (%zu)", len, sp->conf.max_task_bytes);
			rc = bad_input("standard input", err);
		} else if (apply_defaults(one, o, err, sizeof err) < 0 ||
		    agq_submit_valid(one, err, sizeof err) < 0) {
			rc = bad_input("standard input", err);
		} else {
			rc = submit_one(sp, one, agq_submit_normalize(one, 1) |
			    o->hold,
			    "stdin", "standard input", pending);
			if (!rc && !o->quiet)
				printf("%s\n", json_string_value(
				    json_array_get(pending, 0)));
		}
		json_decref(one);
		json_decref(pending);
		free(buf);
		return rc;
	}
	json_decref(one);
	if (memmem(buf, len, "\"after\"", 7))
		rc = lines_graph(sp, o, buf, len, pending);
	else
		rc = lines_stream(sp, o, buf, len, pending);
	json_decref(pending);
	free(buf);
	return rc;
}

int
main(int argc, char **argv)
{
	/* --help and --version only before CMD: `agq-submit make --help`
	 * submits "make --help" (the '+' of the short options). */
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		AGQ_OPT_SPOOL,
		{ "priority", required_argument, NULL, 'p' },
		{ "cap", required_argument, NULL, 'c' },
		{ "id", required_argument, NULL, 'I' },
		{ "title", required_argument, NULL, 'T' },
		{ "max-attempts", required_argument, NULL, 'M' },
		{ "backoff", required_argument, NULL, 'B' },
		{ "timeout", required_argument, NULL, 't' },
		{ "delay", required_argument, NULL, 'D' },
		{ "not-before", required_argument, NULL, 'N' },
		{ "env", required_argument, NULL, 'e' },
		{ "cwd", required_argument, NULL, 'C' },
		{ "prompt", required_argument, NULL, 'P' },
		{ "prompt-file", required_argument, NULL, 'F' },
		{ "backend", required_argument, NULL, 'K' },
		{ "model", required_argument, NULL, 'm' },
		{ "verify", required_argument, NULL, 'Y' },
		{ "criteria", required_argument, NULL, 'R' },
		{ "git", required_argument, NULL, 'G' },
		{ "branch", required_argument, NULL, 'b' },
		{ "no-pr", no_argument, NULL, 'n' },
		{ "draft", no_argument, NULL, 'd' },
		{ "setup", required_argument, NULL, 'S' },
		{ "cleanup", required_argument, NULL, 'L' },
		{ "notify", required_argument, NULL, 'O' },
		{ "after", required_argument, NULL, 'A' },
		{ "on-dep-fail", required_argument, NULL, 'X' },
		{ "mission", required_argument, NULL, 'W' },
		{ "role", required_argument, NULL, 'r' },
		{ "tenant", required_argument, NULL, 'U' },
		{ "run-on", required_argument, NULL, 'o' },
		{ "hold", no_argument, NULL, 'H' },
		AGQ_OPT_QUIET, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "+s:p:c:e:C:qh",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	struct opts o = { json_object(), NULL, 0, 0 };
	json_t *caps = NULL, *env = NULL, *prompt = NULL, *verify = NULL,
	    *criteria = NULL, *git = NULL, *branch = NULL, *setup = NULL,
	    *cleanup = NULL, *after = NULL, *run_on = NULL;
	int c, have_delay = 0, nopr = 0, draft = 0;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'p':
			if (agq_lane_parse(optarg) < 0)
				agq_die(EX_USAGE, "-p: unknown lane '%s' (urgent, "
				    "high, normal, low)", optarg);
			json_object_set_new(o.defaults, "priority",
			    json_string(optarg));
			break;
		case 'c':
			if (!*optarg)
				agq_die(EX_USAGE, "-c: empty capability");
			if (!caps)
				caps = json_array();
			json_array_append_new(caps, utf8_arg("-c", optarg));
			break;
		case 'I':
			if (!agq_id_valid(optarg))
				agq_die(EX_USAGE, "--id: '%s' must match "
				    "[A-Za-z0-9._-]{1,64}", optarg);
			json_object_set_new(o.defaults, "id", json_string(optarg));
			break;
		case 'T':
			json_object_set_new(o.defaults, "title",
			    utf8_arg("--title", optarg));
			break;
		case 'M':
			json_object_set_new(o.defaults, "max_attempts",
			    json_integer(agq_cli_long("--max-attempts", optarg,
			    1, 1000)));
			break;
		case 'B':
			json_object_set_new(o.defaults, "backoff",
			    json_real(agq_cli_seconds("--backoff", optarg)));
			break;
		case 't': {
			double s = agq_cli_seconds("--timeout", optarg);
			if (s <= 0)
				agq_die(EX_USAGE, "--timeout: must be more than 0");
			json_object_set_new(o.defaults, "timeout", json_real(s));
			break;
		}
		case 'D': {
			if (have_delay++)
				agq_die(EX_USAGE, "--delay and --not-before "
				    "exclude each other");
			double s = agq_cli_seconds("--delay", optarg);
			char ts[32];
			json_object_set_new(o.defaults, "not_before", json_string(
			    agq_fmt_time(agq_now_us() + (int64_t)(s * 1e6), ts)));
			break;
		}
		case 'N': {
			if (have_delay++)
				agq_die(EX_USAGE, "--delay and --not-before "
				    "exclude each other");
			int64_t us;
			char ts[32];
			if (agq_parse_time(optarg, &us) < 0)
				agq_die(EX_USAGE, "--not-before: not an RFC 3339 "
				    "time or epoch seconds: '%s'", optarg);
			json_object_set_new(o.defaults, "not_before",
			    json_string(agq_fmt_time(us, ts)));
			break;
		}
		case 'e': {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				agq_die(EX_USAGE, "-e: expected NAME=VALUE: '%s'",
				    optarg);
			if (!env)
				env = json_object();
			*eq = '\0';
			json_decref(utf8_arg("-e", optarg));     /* the name */
			json_object_set_new(env, optarg, utf8_arg("-e", eq + 1));
			break;
		}
		case 'C':
			json_object_set_new(o.defaults, "cwd",
			    utf8_arg("-C", optarg));
			break;
		case 'P':
		case 'F':
			if (prompt)
				agq_die(EX_USAGE, "--prompt, --prompt-file: only "
				    "one of them, once");
			prompt = c == 'P' ? flag_value("--prompt", "prompt",
			    json_string(optarg), EX_USAGE) : prompt_file(optarg);
			break;
		case 'K':
			json_object_set_new(o.defaults, "backend", flag_value(
			    "--backend", "backend", json_string(optarg),
			    EX_USAGE));
			break;
		case 'm':
			json_object_set_new(o.defaults, "model", flag_value(
			    "--model", "model", json_string(optarg), EX_USAGE));
			break;
		case 'Y': {
			/* one step, checked as a verify array of its own */
			json_t *one = json_pack("[{s:s, s:s}]", "type",
			    "command_succeeds", "cmd", optarg);
			flag_value("--verify", "verify", one, EX_USAGE);
			if (!verify)
				verify = json_array();
			json_array_extend(verify, one);
			json_decref(one);
			break;
		}
		case 'G': {
			if (git)
				agq_die(EX_USAGE, "--git: only once");
			char *hash = strrchr(optarg, '#');
			if (hash)
				*hash++ = '\0';
			if (!*optarg)
				agq_die(EX_USAGE, "--git: no origin");
			if (hash && !agq_ref_name_valid(hash))
				agq_die(EX_USAGE, "--git: not a branch name "
				    "(git-check-ref-format(1)): '%s'", hash);
			git = json_pack("{s:s}", "repo", optarg);
			if (hash)
				json_object_set_new(git, "base", json_string(hash));
			break;
		}
		case 'b':
			json_decref(branch);
			branch = json_string(optarg);
			if (!agq_ref_name_valid(optarg))
				agq_die(EX_USAGE, "--branch: not a branch name "
				    "(git-check-ref-format(1)): '%s'", optarg);
			break;
		case 'n':
			nopr = 1;
			break;
		case 'd':
			draft = 1;
			break;
		case 'S':
		case 'L': {
			json_t **l = c == 'S' ? &setup : &cleanup;
			if (!*optarg)
				agq_die(EX_USAGE, "--%s: empty command", c == 'S' ?
				    "setup" : "cleanup");
			if (!*l)
				*l = json_array();
			json_array_append_new(*l, json_string(optarg));
			break;
		}
		case 'O':
			if (!*optarg)
				agq_die(EX_USAGE, "--notify: empty command");
			json_object_set_new(o.defaults, "notify",
			    json_string(optarg));
			break;
		case 'A':
			if (!agq_id_valid(optarg))
				agq_die(EX_USAGE, "--after: '%s' is not a task id "
				    "([A-Za-z0-9._-]{1,64})", optarg);
			if (!after)
				after = json_array();
			json_array_append_new(after, json_string(optarg));
			break;
		case 'H':
			o.hold = AGQ_DELIVER_HOLD;
			break;
		case 'o':
			if (!agq_id_valid(optarg))
				agq_die(EX_USAGE, "--run-on: '%s' is not an agent "
				    "name ([A-Za-z0-9._-]{1,64})", optarg);
			if (!run_on)
				run_on = json_array();
			if (json_array_size(run_on) == 16)
				agq_die(EX_USAGE, "--run-on: at most 16 agents");
			json_array_append_new(run_on, json_string(optarg));
			break;
		case 'X':
			if (strcmp(optarg, "cancel") && strcmp(optarg, "run") &&
			    strcmp(optarg, "hold"))
				agq_die(EX_USAGE, "--on-dep-fail: '%s' is not one "
				    "of cancel, run, hold", optarg);
			json_object_set_new(o.defaults, "on_dep_fail",
			    json_string(optarg));
			break;
		case 'W':
		case 'U':
		case 'r': {
			/* checked as the field of a task that has a cmd */
			const char *f = c == 'W' ? "mission" : c == 'U' ?
			    "tenant" : "role";
			json_t *v = utf8_arg(c == 'W' ? "--mission" : c == 'U' ?
			    "--tenant" : "--role", optarg);
			json_t *one = json_pack("{s:s, s:O}", "cmd", "true", f, v);
			char err[600];
			if (agq_task_validate(one, err, sizeof err) < 0)
				agq_die(EX_USAGE, "--%s: %s", f, err);
			json_object_set_new(o.defaults, f, v);
			json_decref(one);
			break;
		}
		case 'R': {
			json_t *one = json_pack("[s]", optarg);
			flag_value("--criteria", "success_criteria", one,
			    EX_USAGE);
			if (!criteria)
				criteria = json_array();
			json_array_extend(criteria, one);
			json_decref(one);
			break;
		}
		}
	}
	o.quiet = cl.quiet;
	if (caps)
		json_object_set_new(o.defaults, "requires", caps);
	if (env)
		json_object_set_new(o.defaults, "env", env);
	if (verify)
		json_object_set_new(o.defaults, "verify", verify);
	if (criteria)
		json_object_set_new(o.defaults, "success_criteria", criteria);
	if (after)
		json_object_set_new(o.defaults, "after", after);
	if (run_on)     /* one name as a string, as agq-task(5) shows it */
		json_object_set_new(o.defaults, "run_on", json_array_size(
		    run_on) == 1 ? json_incref(json_array_get(run_on, 0)) :
		    json_incref(run_on));
	json_decref(run_on);
	if (git) {
		if (branch)
			json_object_set_new(git, "branch", branch);
		if (nopr)
			json_object_set_new(git, "pr", json_false());
		if (draft)
			json_object_set_new(git, "draft", json_true());
		json_object_set_new(o.defaults, "git", git);
	} else if (branch || nopr || draft) {
		agq_die(EX_USAGE, "--branch, --no-pr and --draft go with --git");
	}
	if (setup)
		json_object_set_new(o.defaults, "setup", setup);
	if (cleanup)
		json_object_set_new(o.defaults, "cleanup", cleanup);
	char cwd[PATH_MAX];
	if (!json_object_get(o.defaults, "cwd") && getcwd(cwd, sizeof cwd))
		o.here = json_string(cwd);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int rc;
	if (optind < argc || prompt) {
		/* one task from the command line: a CMD, a prompt, or both */
		json_t *t = json_object();
		if (optind < argc) {
			json_t *cmd = json_array();
			for (int i = optind; i < argc; i++)
				json_array_append_new(cmd, utf8_arg("the command",
				    argv[i]));
			json_object_set_new(t, "cmd", cmd);
		}
		if (prompt)
			json_object_set(t, "prompt", prompt);
		char err[PATH_MAX + 600];
		int bad = apply_defaults(t, &o, err, sizeof err);
		size_t size = json_dumpb(t, NULL, 0, JSON_COMPACT);
		if (bad < 0) {
			rc = bad_input("command line", err);
		} else if (size > sp.conf.max_task_bytes) {
			snprintf(err, sizeof err, "task is %zu bytes, over "
			    "max_task_bytes (%zu)", size, sp.conf.max_task_bytes);
			rc = bad_input("command line", err);
		} else if (agq_submit_valid(t, err, sizeof err) < 0) {
			rc = bad_input("command line", err);
		} else {
			json_t *pending = json_array();
			rc = submit_one(&sp, t, agq_submit_normalize(t, 1) |
			    o.hold, "argv", "command line", pending);
			if (!rc && !o.quiet) {
				printf("%s\n", agq_task_id(t));
				if (agq_flush_stdout() < 0)
					rc = EX_IOERR;
			}
			json_decref(pending);
		}
		json_decref(t);
	} else {
		rc = from_stdin(&sp, &o);
	}
	json_decref(o.defaults);
	json_decref(o.here);
	json_decref(prompt);
	agq_spool_close(&sp);
	return rc;
}
