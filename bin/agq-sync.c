/* agq-sync - keep a status block in a project's docs true (agq-sync(1)). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "journal.h"
#include "open.h"
#include "stats.h"
#include "plan.h"
#include "sync.h"
#include "dash.h"

static const char usage[] =
"usage: agq-sync [-s SPOOL] [-v] [--commit [--git-commit]] [--since TIME]\n"
"                [--json FILE] [--html FILE] [--plan NAME]... [TARGET.md...]\n"
"Render the spool's status into each TARGET between the lines\n"
"<!-- agq:status:begin --> and <!-- agq:status:end -->.  Without --commit\n"
"nothing is written: a unified diff of each target is printed.\n"
"See agq-sync(1).\n"
"  -s, --spool DIR    spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --commit       write the targets (tmp + fsync + rename), only those\n"
"                     allowed by sync_allow in agq.conf, only if changed\n"
"      --git-commit   also commit each changed target with libgit2\n"
"      --json FILE    with --commit, write the JSON snapshot to FILE\n"
"      --html FILE    with --commit, write the dashboard page to FILE\n"
"      --since TIME   start of the totals' window (default: the journal)\n"
"      --plan NAME    add plan NAME's newest document (agq-plan(1)) to the\n"
"                     block and the JSON snapshot; repeatable\n"
"  -v, --verbose      say what was done also when nothing changed\n"
"Default TARGET: the sync_target setting.  Exit: 0 ok, 1 markers missing\n"
"or duplicated, 77 a target refused (not allowed, git tree not clean).\n";

struct ctx {
	struct agq_spool *sp;
	int commit, git, verbose;
	json_t *snap, *stats;
	char *block;
	json_t *results;
	int rc;
};

static void
fail(struct ctx *C, int code)
{
	if (!C->rc)
		C->rc = code;
}

static void
one(struct ctx *C, const char *target)
{
	char abs[PATH_MAX], err[1024];
	json_t *r = json_pack("{s:s}", "path", target);
	json_array_append_new(C->results, r);
	if (!realpath(target, abs)) {
		agq_syserr("cannot open the target", target);
		json_object_set_new(r, "error", json_string(strerror(errno)));
		fail(C, agq_exit_code(errno));
		return;
	}
	json_object_set_new(r, "path", json_string(abs));
	size_t len, nlen;
	char *old = agq_read_file(abs, 16u << 20, &len, NULL);
	if (!old) {
		agq_syserr("cannot read the target", target);
		json_object_set_new(r, "error", json_string(strerror(errno)));
		fail(C, agq_exit_code(errno));
		return;
	}
	char *neu = agq_sync_splice(old, len, C->block, &nlen, err, sizeof err);
	if (!neu) {
		agq_warn("%s: %s", target, err);
		json_object_set_new(r, "error", json_string(err));
		free(old);
		fail(C, 1);
		return;
	}
	int changed = nlen != len || memcmp(old, neu, len);
	json_object_set_new(r, "changed", json_boolean(changed));
	if (!C->commit) {
		char *d = agq_unified_diff(target, old, len, neu, nlen, err,
		    sizeof err);
		if (!d) {
			agq_warn("%s: %s", target, err);
			fail(C, EX_SOFTWARE);
		} else {
			fputs(d, stdout);
			if (!changed && C->verbose)
				agq_warn("%s: unchanged", target);
		}
		free(d);
		goto out;
	}
	const char *allow = agq_obs_get(C->sp, "sync_allow", NULL);
	if (!agq_sync_allowed(allow, abs)) {
		snprintf(err, sizeof err, "not an allowed target (sync_allow "
		    "in the configuration: %s)", allow && *allow ? allow :
		    "empty");
		agq_warn("refusing %s: %s", abs, err);
		json_object_set_new(r, "error", json_string(err));
		fail(C, EX_NOPERM);
		goto out;
	}
	if (agq_obs_bool(C->sp, "sync_require_clean")) {
		char what[512], gerr[512];
		int d = agq_git_dirty(abs, what, sizeof what, gerr, sizeof gerr);
		if (d != 0) {
			if (d > 0)
				snprintf(err, sizeof err, "the git work tree is "
				    "not clean (%s has changes) and "
				    "sync_require_clean is set", what);
			else
				snprintf(err, sizeof err, "sync_require_clean "
				    "is set: %s", gerr);
			agq_warn("refusing %s: %s", abs, err);
			json_object_set_new(r, "error", json_string(err));
			fail(C, EX_NOPERM);
			goto out;
		}
	}
	if (!changed) {
		if (C->verbose)
			agq_warn("%s: unchanged", target);
		goto out;
	}
	if (agq_replace_file(abs, neu, nlen) < 0) {
		agq_syserr("cannot write the target", abs);
		json_object_set_new(r, "error", json_string(strerror(errno)));
		fail(C, agq_exit_code(errno));
		goto out;
	}
	json_object_set_new(r, "written", json_true());
	printf("updated %s\n", target);
	if (C->git) {
		const json_t *c = json_object_get(C->snap, "counts");
		const json_t *h = json_object_get(C->snap, "health");
		char *msg = agq_xasprintf("agq-sync: queue %lld, active %lld, "
		    "done %lld, dead %lld, agents %lld of %lld\n",
		    (long long)json_integer_value(json_object_get(c, "queue")),
		    (long long)json_integer_value(json_object_get(c, "active")),
		    (long long)json_integer_value(json_object_get(c, "done")),
		    (long long)json_integer_value(json_object_get(c, "dead")),
		    (long long)json_integer_value(json_object_get(h,
		    "agents_alive")),
		    (long long)json_integer_value(json_object_get(h,
		    "agents_total")));
		char sha[41];
		if (agq_git_commit_file(abs, msg, sha, err, sizeof err) < 0) {
			agq_warn("%s: %s", abs, err);
			json_object_set_new(r, "error", json_string(err));
			fail(C, EX_SOFTWARE);
		} else {
			json_object_set_new(r, "git_commit", json_string(sha));
			printf("committed %s as %.12s\n", target, sha);
		}
		free(msg);
	}
out:
	free(old);
	free(neu);
}

/* --plan: each plan of NAMES (a JSON array of strings) after the status
 * block, and in the snapshot as "plans": {NAME: revision record or
 * null}.  A plan that cannot be read is said so in the block. */
static void
add_plans(struct ctx *C, const json_t *names)
{
	struct agq_sbuf b = { 0 };
	json_t *snap = json_object();
	size_t i;
	json_t *n;
	agq_sb_printf(&b, "%s", C->block);
	json_array_foreach(names, i, n) {
		const char *name = json_string_value(n);
		long rev;
		json_t *rec = NULL;
		if (agq_plan_head(C->sp, name, &rev, NULL) < 0 || (rev &&
		    !(rec = agq_plan_record(C->sp, name, rev)))) {
			agq_spool_syserr(C->sp, "cannot read the plan",
			    "plans/%s", name);
			fail(C, agq_exit_code(errno));
		}
		agq_sync_render_plan(&b, name, rec);
		json_object_set_new(snap, name, rec ? rec : json_null());
	}
	json_object_set_new(C->snap, "plans", snap);
	free(C->block);
	C->block = b.s;
}

/* Write an output file (JSON snapshot, HTML page) with --commit. */
static void
output(struct ctx *C, const char *what, const char *path, const char *buf)
{
	if (!C->commit) {
		if (C->verbose)
			agq_warn("would write the %s to %s (no --commit)", what,
			    path);
		return;
	}
	if (agq_cli_write_file(path, buf) < 0) {
		agq_syserr("cannot write the output", path);
		fail(C, agq_exit_code(errno));
	} else if (C->verbose) {
		agq_warn("wrote the %s to %s", what, path);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "commit", no_argument, NULL, 'c' },
		{ "git-commit", no_argument, NULL, 'g' },
		{ "json", required_argument, NULL, 'J' },       /* a FILE */
		{ "html", required_argument, NULL, 'H' },
		{ "since", required_argument, NULL, 'S' },
		{ "plan", required_argument, NULL, 'P' },
		AGQ_OPT_VERBOSE, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:v",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	const char *json = NULL, *html = NULL, *since = NULL;
	struct ctx C = { 0 };
	int c;
	json_t *plans = json_array();
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'c': C.commit = 1; break;
		case 'g': C.git = 1; break;
		case 'J': json = optarg; break;
		case 'H': html = optarg; break;
		case 'S': since = optarg; break;
		case 'P':
			if (!agq_plan_name_valid(optarg))
				agq_die(EX_USAGE, "--plan: not a plan name: '%s'",
				    agq_shown(optarg));
			json_array_append_new(plans, json_string(optarg));
			break;
		}
	}
	C.verbose = cl.verbose;
	if (C.git && !C.commit)
		agq_die(EX_USAGE, "--git-commit needs --commit");
	struct agq_stats_opts so = { 0, agq_now_us(), 30, 10, 0 };
	if (since && agq_parse_since(since, so.now_us, &so.since_us) < 0)
		agq_die(EX_USAGE, "--since: not a time or a duration: '%s'",
		    since);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	C.sp = &sp;
	const char *dflt = agq_obs_get(&sp, "sync_target", NULL);
	if (optind == argc && !(dflt && *dflt) && !json && !html) {
		agq_spool_close(&sp);
		agq_die(EX_USAGE, "nothing to sync: name a TARGET, set "
		    "sync_target, or give --json or --html");
	}
	int lock = agq_spool_flock(&sp, "sync", 1);
	if (lock < 0) {
		return agq_spool_fail(&sp, "cannot take the sync lock",
		    ".sync.lock");
	}
	C.snap = agq_status_snapshot(&sp, so.now_us, 5);
	C.stats = agq_stats(&sp, &so);
	if (!C.stats) {
		agq_spool_syserr(&sp, "cannot read the journal", "journal");
	}
	C.block = agq_sync_render(C.snap, C.stats);
	if (json_array_size(plans))
		add_plans(&C, plans);
	json_decref(plans);
	C.results = json_array();
	agq_git_init();
	if (optind == argc && dflt && *dflt)
		one(&C, dflt);
	for (int i = optind; i < argc; i++)
		one(&C, argv[i]);
	if (json) {
		json_t *o = json_deep_copy(C.snap);
		if (C.stats)
			json_object_set(o, "stats", C.stats);
		char *s = json_dumps(o, JSON_INDENT(1) | JSON_REAL_PRECISION(12));
		char *buf = agq_xasprintf("%s\n", s ? s : "{}");
		output(&C, "JSON snapshot", json, buf);
		free(buf);
		free(s);
		json_decref(o);
	}
	if (html) {
		char *page = agq_dash_render(&sp, C.snap, C.stats,
		    agq_dash_refresh(&sp));
		output(&C, "dashboard", html, page);
		free(page);
	}
	agq_git_shutdown();
	json_t *ev = json_pack("{s:s, s:O}", "mode", C.commit ? "commit" :
	    "dry-run", "targets", C.results);
	if (json)
		json_object_set_new(ev, "json", json_string(json));
	if (html)
		json_object_set_new(ev, "html", json_string(html));
	agq_journal_w(&sp, "sync", NULL, ev);
	json_decref(C.results);
	json_decref(C.snap);
	json_decref(C.stats);
	free(C.block);
	close(lock);
	agq_spool_close(&sp);
	if (agq_flush_stdout() < 0 && !C.rc)
		C.rc = EX_IOERR;
	return C.rc;
}
