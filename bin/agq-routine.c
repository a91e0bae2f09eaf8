/* agq-routine - recurring tasks fired by agq-sched (agq-routine(1)). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "cron.h"
#include "spool.h"
#include "open.h"
#include "journal.h"
#include "task.h"
#include "plan.h"
#include "routine.h"

static const char usage[] =
"usage: agq-routine [-s SPOOL] add NAME (--every DURATION | --cron SPEC\n"
"                   [--tz ZONE]) [--misfire POLICY] [--jitter S]\n"
"                   (-- CMD [ARG]... | --task FILE)\n"
"       agq-routine [-s SPOOL] edit NAME [add's options] [-- CMD [ARG]...]\n"
"       agq-routine [-s SPOOL] pause|resume|run-now|rm|approve NAME\n"
"       agq-routine [-s SPOOL] ls [--json]\n"
"       agq-routine [-s SPOOL] history NAME [--json]\n"
"Recurring tasks: agq-sched submits the routine's task once per slot of\n"
"its schedule, as r-NAME-SLOT.  See agq-routine(1).\n"
"  -s, --spool DIR      spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --every DURATION every so long (90, 10m, 1h, 1d), slots at\n"
"                       multiples of it since the Unix epoch (UTC)\n"
"      --cron SPEC      a crontab(5) time: 'M H DoM Mon DoW' or @daily...\n"
"      --tz ZONE        the zone of --cron (default: the local zone)\n"
"      --misfire POLICY slots missed while no scheduler ran: skip (the\n"
"                       default), run-once, catch-up:N (N 1 to 100)\n"
"      --jitter S       each slot fires up to S seconds late (a hash of\n"
"                       name and slot: the same on every host)\n"
"      --task FILE      the task as JSON (any agq-task(5) task, no id;\n"
"                       - for standard input)\n"
"      --json           ls, history: JSON\n"
"Exit: 0 ok, 64 usage, 65 bad input (names the field), 69 no such\n"
"routine, 73 add: the routine exists, 74 an I/O error, 77 approve or\n"
"run-now refused (from inside a task; pending approval).\n";

/* The command line's options. */
struct opts {
	const char *every, *cron, *tz, *misfire, *jitter, *task;
	char **cmd;             /* CMD [ARG]..., NULL-terminated, or NULL */
};

/* RFC 3339 UTC without fraction of S (seconds) into BUF (>= 24). */
static char *
iso(int64_t s, char *buf)
{
	time_t t = (time_t)s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static _Noreturn void
bad(const char *name, const char *err)
{
	agq_die(EX_DATAERR, "routine %s: %s", agq_shown(name), err);
}

/* The task of O: --task FILE's object or {cmd: CMD}, with cwd here when
 * it has none (and no git), as agq-submit does.  New reference. */
static json_t *
task_of(const char *name, const struct opts *o)
{
	json_t *t;
	if (o->task) {
		size_t len;
		char *buf = agq_cli_read_file("the task", o->task, 1 << 20, &len);
		json_error_t e;
		t = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
		free(buf);
		if (!json_is_object(t))
			agq_die(EX_DATAERR, "routine %s: --task %s: %s", agq_shown(
			    name), agq_shown(o->task), t ? "not a JSON object" :
			    e.text);
	} else {
		t = json_object();
		json_t *cmd = json_array();
		for (char **a = o->cmd; *a; a++)
			json_array_append_new(cmd, json_string(*a));
		json_object_set_new(t, "cmd", cmd);
	}
	char cwd[PATH_MAX];
	if (!json_object_get(t, "cwd") && !json_object_get(t, "git") &&
	    getcwd(cwd, sizeof cwd))
		json_object_set_new(t, "cwd", json_string(cwd));
	return t;
}

/* Apply the schedule options of O to the record R. */
static void
apply(json_t *r, const char *name, const struct opts *o)
{
	char err[300];
	if (o->every) {
		int64_t us;
		if (agq_parse_duration(o->every, &us) < 0 || us < 1000000 ||
		    us % 1000000)
			agq_die(EX_DATAERR, "routine %s: bad --every '%s': a whole "
			    "number of seconds, at least 1 (90, 10m, 1h, 1d)",
			    agq_shown(name), agq_shown(o->every));
		json_object_set_new(r, "every_s", json_integer(us / 1000000));
		json_object_del(r, "cron");
		json_object_del(r, "tz");
	}
	if (o->cron) {
		struct agq_cron c;
		if (agq_cron_parse(o->cron, &c, err, sizeof err) < 0)
			agq_die(EX_DATAERR, "routine %s: bad --cron '%s': %s",
			    agq_shown(name), agq_shown(o->cron), err);
		json_object_set_new(r, "cron", json_string(o->cron));
		json_object_del(r, "every_s");
	}
	if (o->tz) {
		if (!json_object_get(r, "cron"))
			agq_die(EX_USAGE, "--tz goes with --cron");
		if (!agq_cron_tz_valid(o->tz))
			agq_die(EX_DATAERR, "routine %s: bad --tz '%s': not a time "
			    "zone (an IANA name such as Europe/Berlin, tz(5))",
			    agq_shown(name), agq_shown(o->tz));
		json_object_set_new(r, "tz", json_string(o->tz));
	} else if (json_object_get(r, "cron") && !json_object_get(r, "tz")) {
		json_object_set_new(r, "tz", json_string(agq_cron_tz_local()));
	}
	if (o->misfire) {
		int p, n;
		if (agq_routine_misfire_parse(o->misfire, &p, &n) < 0)
			agq_die(EX_DATAERR, "routine %s: bad --misfire '%s': skip, "
			    "run-once or catch-up:N (N 1 to 100)", agq_shown(name),
			    agq_shown(o->misfire));
		json_object_set_new(r, "misfire", json_string(o->misfire));
	}
	if (o->jitter)
		json_object_set_new(r, "jitter_s", json_integer((json_int_t)
		    agq_cli_seconds("--jitter", o->jitter)));
	if (o->task || o->cmd)
		json_object_set_new(r, "task", task_of(name, o));
}

/* R checked (agq_routine_check) and its schedule found to come, or exit
 * 65 naming the field. */
static void
check(const json_t *r, const char *name)
{
	char err[400];
	struct agq_rspec s;
	int64_t next;
	if (agq_routine_check(r, err, sizeof err) < 0)
		bad(name, err);
	(void)agq_routine_spec(r, &s, err, sizeof err);
	if (agq_routine_next_slot(&s, agq_routine_now(), &next) < 0)
		bad(name, "field cron: the schedule never comes (28 years "
		    "looked at)");
}

/* The approval a record made or edited now needs: "pending" when from
 * inside a task (AGQ_TASK_ID, an agent) and its task needs one, else
 * what it had ("none" for a new one). */
static void
approval(json_t *r, const json_t *by)
{
	if (json_object_get(by, "task") && agq_routine_needs_approval(
	    json_object_get(r, "task")))
		json_object_set_new(r, "approval", json_string("pending"));
	else if (!json_object_get(r, "approval"))
		json_object_set_new(r, "approval", json_string("none"));
}

static const char *
jstr(const json_t *o, const char *k)
{
	const char *s = agq_shown_get(o, k);
	return s ? s : "-";
}

/* "every 3600s" or "cron '0 3 * * *' Europe/Berlin" of R into BUF. */
static const char *
schedule(const json_t *r, char *buf, size_t size)
{
	if (json_object_get(r, "every_s"))
		snprintf(buf, size, "every %llds", (long long)json_integer_value(
		    json_object_get(r, "every_s")));
	else
		snprintf(buf, size, "cron '%s' %s", jstr(r, "cron"), jstr(r,
		    "tz"));
	return buf;
}

/* The state name of task ID: its state directory, "gone" when it is in
 * none (archived, removed). */
static const char *
task_state(const struct agq_spool *sp, const char *id)
{
	struct agq_loc loc;
	if (!id)
		return "-";
	if (agq_task_find(sp, id, &loc) < 0)
		return "gone";
	return agq_state_name(loc.state);
}

/* ls's entry of record R: {name, schedule fields, misfire, jitter_s,
 * paused, approval, next, last_slot, last_id, last_state}.  New. */
static json_t *
ls_entry(const struct agq_spool *sp, const json_t *r)
{
	json_t *e = json_deep_copy(r);
	json_object_del(e, "task");
	if (json_object_get(r, "error"))
		return e;
	const char *name = json_string_value(json_object_get(r, "name"));
	struct agq_rspec s;
	char err[300], b[40];
	int64_t last = 0, since_us = 0, next;
	int idle = json_is_true(json_object_get(r, "paused")) ||
	    !strcmp(jstr(r, "approval"), "pending");
	if (!idle && agq_routine_spec(r, &s, err, sizeof err) == 0) {
		(void)agq_routine_last(sp, name, &last);
		const char *since = json_string_value(json_object_get(r, "since"));
		if (since && agq_parse_time(since, &since_us) == 0 &&
		    since_us / 1000000 > last)
			last = since_us / 1000000;
		if (agq_routine_next_slot(&s, last, &next) == 0)
			json_object_set_new(e, "next", json_string(iso(next +
			    agq_routine_jitter(name, next, s.jitter_s), b)));
	}
	json_t *cl = agq_routine_claims(sp, name, 256), *c, *newest = NULL;
	size_t i;
	json_array_foreach(cl, i, c) {
		const char *f = json_string_value(json_object_get(c, "fired_at"));
		const char *nf = json_string_value(json_object_get(newest,
		    "fired_at"));
		if (f && (!nf || strcmp(f, nf) >= 0))
			newest = c;
	}
	if (newest) {
		json_object_set(e, "last_slot", json_object_get(newest, "slot"));
		const char *id = json_string_value(json_object_get(newest, "id"));
		if (id) {
			json_object_set_new(e, "last_id", json_string(id));
			json_object_set_new(e, "last_state", json_string(
			    task_state(sp, id)));
		} else {
			json_object_set_new(e, "last_state", json_string(
			    "skipped"));
		}
	}
	json_decref(cl);
	return e;
}

static int
cmd_ls(const struct agq_spool *sp, int json)
{
	json_t *l = agq_routine_list(sp), *r, *out = json_array();
	size_t i;
	if (!l) {
		agq_spool_syserr(sp, "cannot list", "routines");
		return agq_exit_code(errno);
	}
	json_array_foreach(l, i, r)
		json_array_append_new(out, ls_entry(sp, r));
	if (json) {
		agq_print_json(out, JSON_INDENT(2));
	} else {
		json_t *e;
		if (json_array_size(out))
			printf("%-20s %-8s %-21s %-17s %-8s %s\n", "NAME", "STATE",
			    "NEXT", "LAST_SLOT", "LAST", "SCHEDULE");
		json_array_foreach(out, i, e) {
			char b[300];
			const char *st = json_object_get(e, "error") ? "unreadable" :
			    json_is_true(json_object_get(e, "paused")) ? "paused" :
			    !strcmp(jstr(e, "approval"), "pending") ? "pending" :
			    "active";
			printf("%-20s %-8s %-21s %-17s %-8s %s\n", jstr(e, "name"),
			    st, jstr(e, "next"), jstr(e, "last_slot"), jstr(e,
			    "last_state"), json_object_get(e, "error") ? jstr(e,
			    "error") : schedule(e, b, sizeof b));
		}
	}
	json_decref(l);
	json_decref(out);
	return 0;
}

static int
cmd_history(const struct agq_spool *sp, const char *name, int json)
{
	json_t *cl = agq_routine_claims(sp, name, 0), *c;
	size_t i;
	json_array_foreach(cl, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));
		json_object_set_new(c, "state", json_string(id ? task_state(sp,
		    id) : "skipped"));
	}
	if (json) {
		agq_print_json(cl, JSON_INDENT(2));
	} else {
		if (json_array_size(cl))
			printf("%-21s %-27s %-8s %s\n", "SLOT", "CLAIMED", "STATE",
			    "TASK");
		json_array_foreach(cl, i, c) {
			char b[200] = "";
			json_t *mf = json_object_get(c, "misfire");
			if (json_object_get(c, "skipped"))
				snprintf(b, sizeof b, "  misfire: %lld slot(s) "
				    "skipped", (long long)json_integer_value(
				    json_object_get(c, "skipped")));
			else if (mf)
				snprintf(b, sizeof b, "  after a misfire: %lld "
				    "slot(s) skipped", (long long)
				    json_integer_value(json_object_get(mf,
				    "skipped")));
			printf("%-21s %-27s %-8s %s%s\n", jstr(c, "slot"), jstr(c,
			    "fired_at"), jstr(c, "state"), jstr(c, "id"), b);
		}
	}
	json_decref(cl);
	return 0;
}

/* Remove routine NAME: its record, then its claims. */
static int
cmd_rm(const struct agq_spool *sp, const char *name)
{
	char *p = agq_spool_path(sp, "routines/%s.json", name);
	int rc = unlink(p);
	int e = errno;
	free(p);
	if (rc < 0) {
		errno = e;
		agq_spool_syserr(sp, "cannot remove", "routines/%s.json", name);
		return agq_exit_code(e);
	}
	json_t *cl = agq_routine_claims(sp, name, 0), *c;
	size_t i;
	json_array_foreach(cl, i, c) {
		p = agq_spool_path(sp, "routines/%s.slots/%s", name,
		    json_string_value(json_object_get(c, "slot")));
		(void)unlink(p);
		free(p);
	}
	json_decref(cl);
	p = agq_spool_path(sp, "routines/%s.slots", name);
	(void)rmdir(p);
	free(p);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_JSON,
		{ "every", required_argument, NULL, 'e' },
		{ "cron", required_argument, NULL, 'c' },
		{ "tz", required_argument, NULL, 'z' },
		{ "misfire", required_argument, NULL, 'm' },
		{ "jitter", required_argument, NULL, 'J' },
		{ "task", required_argument, NULL, 't' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	struct opts o = { NULL };
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'e': o.every = optarg; break;
		case 'c': o.cron = optarg; break;
		case 'z': o.tz = optarg; break;
		case 'm': o.misfire = optarg; break;
		case 'J': o.jitter = optarg; break;
		case 't': o.task = optarg; break;
		}
	}
	const char *cmd = argv[optind], *name = argv[optind + 1];
	int nargs = argc - optind;
	int is_add = !strcmp(cmd, "add"), is_edit = !strcmp(cmd, "edit");
	int is_ls = !strcmp(cmd, "ls"), is_hist = !strcmp(cmd, "history");
	int simple = !strcmp(cmd, "pause") || !strcmp(cmd, "resume") ||
	    !strcmp(cmd, "run-now") || !strcmp(cmd, "rm") ||
	    !strcmp(cmd, "approve");
	int opts = o.every || o.cron || o.tz || o.misfire || o.jitter || o.task;
	if (nargs > 2 && (is_add || is_edit))
		o.cmd = argv + optind + 2;
	if ((!is_add && !is_edit && !is_ls && !is_hist && !simple) ||
	    (is_ls ? nargs != 1 : (is_add || is_edit) ? nargs < 2 : nargs != 2)
	    || (opts && !is_add && !is_edit) || (cl.json && !is_ls && !is_hist))
		agq_cli_usage(usage);
	if (is_add && (!o.every == !o.cron))
		agq_die(EX_USAGE, "add: one of --every and --cron");
	if (is_edit && o.every && o.cron)
		agq_die(EX_USAGE, "edit: --every or --cron, not both");
	if (is_add && !o.task == !o.cmd)
		agq_die(EX_USAGE, "add: the task: -- CMD [ARG]... or --task FILE");
	if (o.task && o.cmd)
		agq_die(EX_USAGE, "-- CMD or --task FILE, not both");
	if (name && !agq_routine_name_valid(name))
		agq_die(EX_DATAERR, "bad routine name '%s': [a-z0-9][a-z0-9._-], "
		    "at most 40", agq_shown(name));

	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int rc = 0;
	json_t *by = agq_plan_who(), *r = NULL;
	char at[40], err[300];
	agq_fmt_time(agq_routine_now() * 1000000, at);
	if (is_ls) {
		rc = cmd_ls(&sp, cl.json);
		goto out;
	}
	if (!is_add) {
		r = agq_routine_read(&sp, name);
		if (!r && errno == ENOENT) {
			agq_warn("no routine %s", name);
			rc = EX_UNAVAILABLE;
			goto out;
		}
		if (!r) {
			rc = errno == EBADMSG ? EX_DATAERR : agq_exit_code(errno);
			agq_spool_syserr(&sp, "cannot read", "routines/%s.json",
			    name);
			goto out;
		}
	}
	if (is_hist) {
		rc = cmd_history(&sp, name, cl.json);
		goto out;
	}
	if (is_add) {
		r = json_pack("{s:s}", "name", name);
		apply(r, name, &o);
		if (!json_object_get(r, "misfire"))
			json_object_set_new(r, "misfire", json_string("skip"));
		if (!json_object_get(r, "jitter_s"))
			json_object_set_new(r, "jitter_s", json_integer(0));
		json_object_set_new(r, "paused", json_false());
		approval(r, by);
		json_object_set_new(r, "since", json_string(at));
		json_object_set_new(r, "created", json_pack("{s:s, s:O}", "at",
		    at, "by", by));
		json_object_set_new(r, "rev", json_integer(1));
		check(r, name);
		if (agq_routine_write(&sp, r, 1) < 0) {
			if (errno == EEXIST) {
				agq_warn("routine %s exists (agq-routine edit, or rm "
				    "first)", name);
				rc = EX_CANTCREAT;
			} else {
				rc = agq_exit_code(errno);
				agq_spool_syserr(&sp, "cannot write",
				    "routines/%s.json", name);
			}
			goto out;
		}
		agq_routine_journal(&sp, "routine_add", name, by, json_pack(
		    "{s:O, s:I}", "approval", json_object_get(r, "approval"),
		    "rev", (json_int_t)1));
	} else if (is_edit) {
		apply(r, name, &o);
		json_int_t rev = json_integer_value(json_object_get(r, "rev")) + 1;
		json_object_set_new(r, "rev", json_integer(rev));
		json_object_set_new(r, "since", json_string(at));
		approval(r, by);
		check(r, name);
		if (agq_routine_write(&sp, r, 0) < 0) {
			rc = agq_exit_code(errno);
			agq_spool_syserr(&sp, "cannot write", "routines/%s.json",
			    name);
			goto out;
		}
		agq_routine_journal(&sp, "routine_edit", name, by, json_pack(
		    "{s:O, s:I}", "approval", json_object_get(r, "approval"),
		    "rev", rev));
	} else if (!strcmp(cmd, "run-now")) {
		if (!strcmp(jstr(r, "approval"), "pending")) {
			agq_warn("routine %s waits for approval (agq-routine "
			    "approve %s, by a person)", name, name);
			rc = EX_NOPERM;
			goto out;
		}
		if (agq_routine_check(r, err, sizeof err) < 0)
			bad(name, err);
		char slot[32], id[65];
		snprintf(slot, sizeof slot, "now-%lld", (long long)agq_now_us());
		int f = agq_routine_fire(&sp, r, slot, NULL, id);
		if (f != 0) {
			rc = f > 0 ? EX_TEMPFAIL : agq_exit_code(errno);
			goto out;
		}
		printf("%s\n", id);
		if (agq_flush_stdout() < 0)
			rc = EX_IOERR;
		goto out;
	} else if (!strcmp(cmd, "rm")) {
		rc = cmd_rm(&sp, name);
		if (!rc)
			agq_routine_journal(&sp, "routine_rm", name, by, NULL);
		goto out;
	} else {
		/* pause, resume, approve */
		const char *ev = !strcmp(cmd, "pause") ? "routine_pause" :
		    !strcmp(cmd, "resume") ? "routine_resume" : "routine_approve";
		if (!strcmp(cmd, "approve")) {
			if (json_object_get(by, "task")) {
				agq_warn("routine %s: approve is a person's, not a "
				    "task's (AGQ_TASK_ID is set)", name);
				rc = EX_NOPERM;
				goto out;
			}
			if (strcmp(jstr(r, "approval"), "pending")) {
				agq_warn("routine %s does not wait for approval",
				    name);
				goto out;
			}
			json_object_set_new(r, "approval", json_string("approved"));
		} else {
			json_object_set_new(r, "paused", json_boolean(!strcmp(cmd,
			    "pause")));
		}
		if (strcmp(cmd, "pause"))
			json_object_set_new(r, "since", json_string(at));
		if (agq_routine_write(&sp, r, 0) < 0) {
			rc = agq_exit_code(errno);
			agq_spool_syserr(&sp, "cannot write", "routines/%s.json",
			    name);
			goto out;
		}
		agq_routine_journal(&sp, ev, name, by, NULL);
		goto out;
	}
	if (!strcmp(jstr(r, "approval"), "pending"))
		agq_warn("routine %s: made from inside task %s and its task uses "
		    "a network backend or git: it fires once a person runs "
		    "agq-routine approve %s", name, jstr(by, "task"), name);
out:
	json_decref(r);
	json_decref(by);
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
