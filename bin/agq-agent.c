/* agq-agent - agents as services: capability tokens, systemd units, the
 * agents known (agq-agent(1)). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "conf.h"
#include "paths.h"
#include "spool.h"
#include "open.h"
#include "journal.h"
#include "agent.h"
#include "captoken.h"
#include "submit.h"

/* etc/systemd/agq-run@.service as built (the Makefile's gen rule) */
static const char unit_tmpl[] =
#include "unit_tmpl.h"
;

static const char usage[] =
"usage: agq-agent [-s SPOOL] token NAME --cap CAP...\n"
"       agq-agent [-s SPOOL] add [NAME] [--cap CAP]... [--system]\n"
"                 [--no-start] [--timeout S]\n"
"       agq-agent [-s SPOOL] ls [--json]\n"
"       agq-agent [-s SPOOL] rm NAME [--system] [--timeout S]\n"
"Agents as services.  token prints the capability token of agent NAME\n"
"with the capabilities CAP (all of them, as agq-run -c gives them); add\n"
"writes an agent's settings, installs and starts its systemd unit\n"
"agq-run@NAME and waits for a verification task run on it; ls lists the\n"
"agents known; rm drains an agent, then stops and removes its unit.\n"
"See agq-agent(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -c, --cap CAP     token, add: a capability (repeatable)\n"
"      --system      add, rm: a system unit (default: the user's)\n"
"      --no-start    add: install and enable the unit, start nothing\n"
"  -t, --timeout S   add: wait this long for the verification (default\n"
"                    120); rm: for the agent's tasks (default: no limit)\n"
"      --json        ls: one JSON array\n"
"Exit: 0 ok, 1 the verification task failed, 64 usage, 65 a bad name or\n"
"capability, 66 no such agent, 69 systemctl failed, 73 the agent exists,\n"
"75 timed out, 77 token or add from inside a task, or the key refused.\n";

struct opts {
	json_t *caps;           /* --cap, in order */
	int system, no_start, json;
	double timeout_s;       /* -1: the subcommand's default */
	struct agq_spool sp;
};

/* ---- where things go --------------------------------------------------- */

/* The directory of agents' settings: ETC/agents (beside agq.conf) for
 * system units, else $XDG_CONFIG_HOME/agq/agents (~/.config/...).
 * malloc'd. */
static char *
settings_dir(int sys)
{
	if (sys)
		return agq_etc_path("agents");
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (x && *x == '/')
		return agq_xasprintf("%s/agq/agents", x);
	if (!home || *home != '/')
		agq_die(EX_CONFIG, "neither XDG_CONFIG_HOME nor HOME is an "
		    "absolute path: no place for a user unit's settings");
	return agq_xasprintf("%s/.config/agq/agents", home);
}

/* The unit directory: $AGQ_UNIT_DIR when set (packagers, tests), else
 * /etc/systemd/system or the user's $XDG_CONFIG_HOME/systemd/user
 * (systemd.unit(5), "Unit File Load Path").  malloc'd. */
static char *
unit_dir(int sys)
{
	const char *e = getenv("AGQ_UNIT_DIR");
	if (e && *e)
		return agq_xstrdup(e);
	if (sys)
		return agq_xstrdup("/etc/systemd/system");
	const char *x = getenv("XDG_CONFIG_HOME");
	if (x && *x == '/')
		return agq_xasprintf("%s/systemd/user", x);
	return agq_xasprintf("%s/.config/systemd/user", getenv("HOME"));
}

/* Run ARGV (argv[0] looked up in PATH) and wait: its exit status, or -1
 * when it could not be run or was killed (said on stderr). */
static int
run(char *const argv[])
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		agq_syserr("cannot fork", argv[0]);
		return -1;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		agq_syserr("cannot run", argv[0]);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Why the user's service manager may be out of reach, for the message
 * of a failed systemctl --user: "" when nothing is known. */
static char no_manager[256];

/* Is systemd the service manager (PID 1)?  sd_booted(3)'s test, the
 * directory /run/systemd/system, without linking libsystemd. */
static int
sd_booted(void)
{
	struct stat st;
	return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* Before systemctl --user: the user's manager is reached through
 * $XDG_RUNTIME_DIR/systemd/private or its bus (systemctl(1)), and a shell
 * of su(1), runuser(1) or sudo(8) has no XDG_RUNTIME_DIR.  Unset or
 * empty, it is set to /run/user/UID when that directory is this user's
 * (pam_systemd(8) makes it while the user has a session, or from boot
 * with loginctl enable-linger); else no_manager says why. */
static void
user_manager(void)
{
	const char *x = getenv("XDG_RUNTIME_DIR");
	if (x && *x)
		return;
	char dir[64];
	struct stat st;
	snprintf(dir, sizeof dir, "/run/user/%u", (unsigned)getuid());
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == getuid())
		setenv("XDG_RUNTIME_DIR", dir, 1);
	else
		snprintf(no_manager, sizeof no_manager, ": no user service "
		    "manager to reach: XDG_RUNTIME_DIR is not set and %s is "
		    "not this user's (log in, or loginctl enable-linger; or "
		    "--system)", dir);
}

/* systemctl [--user] VERB [ARG] [agq-run@NAME.service] (NAME NULL: no
 * unit).  0, or -1 when it failed (said on stderr). */
static int
systemctl(int sys, const char *verb, const char *arg, const char *name)
{
	char unit[128] = "";
	if (!sys)
		user_manager();
	if (name)
		snprintf(unit, sizeof unit, "agq-run@%s.service", name);
	const char *v[8];
	int n = 0;
	v[n++] = "systemctl";
	if (!sys)
		v[n++] = "--user";
	v[n++] = verb;
	if (arg)
		v[n++] = arg;
	if (name)
		v[n++] = unit;
	v[n] = NULL;
	int rc = run((char *const *)v);
	if (rc == 0)
		return 0;
	agq_warn("systemctl%s %s%s%s%s%s: failed (exit %d)", sys ? "" :
	    " --user", verb, arg ? " " : "", arg ? arg : "", name ? " " : "",
	    unit, rc);
	return -1;
}

/* The strings of CAPS joined by ',' into BUF (SIZE bytes; cut). */
static char *
join(const json_t *caps, char *buf, size_t size)
{
	size_t i;
	json_t *c;
	buf[0] = '\0';
	json_array_foreach(caps, i, c)
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s",
		    i ? "," : "", json_string_value(c));
	return buf;
}

/* ---- token ------------------------------------------------------------- */

/* Refuse in a task: the key is the spool owner's, not its agents'. */
static void
not_in_task(const char *what)
{
	if (getenv("AGQ_TASK_ID"))
		agq_die(EX_NOPERM, "%s: refused inside a task (AGQ_TASK_ID is "
		    "set): the capability key is the spool owner's", what);
}

/* The token of NAME and CAPS into OUT (AGQ_CAPTOKEN_LEN + 1), the key
 * made when there is none; exits on failure. */
static void
make_token(struct opts *o, const char *name, const json_t *caps, char *out)
{
	char why[600];
	size_t kl;
	char *key = agq_captoken_key(&o->sp, 1, &kl, why, sizeof why);
	if (!key)
		agq_die(errno == EPERM ? EX_NOPERM : agq_exit_code(errno), "%s",
		    why);
	int r = agq_captoken_make(key, kl, name, caps, out);
	agq_free_secret(key);
	if (r < 0)
		agq_die(EX_DATAERR, "--cap: a capability with ',' cannot be "
		    "signed");
	agq_journal_w(&o->sp, "cap_token", NULL, json_pack("{s:s, s:O}",
	    "agent", name, "capabilities", caps));
}

static int
cmd_token(struct opts *o, const char *name)
{
	not_in_task("token");
	if (!json_array_size(o->caps))
		agq_die(EX_USAGE, "token: at least one --cap");
	char tok[AGQ_CAPTOKEN_LEN + 1];
	make_token(o, name, o->caps, tok);
	printf("%s\n", tok);
	return 0;
}

/* ---- add --------------------------------------------------------------- */

/* Does the list CAPS hold a capability of agq.conf's token_caps? */
static int
needs_token(const struct agq_spool *sp, const json_t *caps)
{
	size_t i, j;
	json_t *c, *t;
	json_array_foreach(caps, i, c)
		json_array_foreach(sp->conf.token_caps, j, t)
			if (json_equal(c, t))
				return 1;
	return 0;
}

/* The template with @BINDIR@, @SYSCONFDIR@ and @WANTEDBY@ replaced, as
 * make install replaces them (Makefile UNIT_SED): a system unit (SYSTEM)
 * is wanted by multi-user.target, a user unit by default.target;
 * malloc'd. */
static char *
unit_text(int system)
{
	char *etc = agq_etc_path("x");
	etc[strlen(etc) - 2] = '\0';
	const char *keys[] = { "@BINDIR@", "@SYSCONFDIR@", "@WANTEDBY@" };
	const char *vals[] = { agq_bindir, etc, system ? "multi-user.target" :
	    "default.target" };
	size_t cap = sizeof unit_tmpl + 4096, n = 0;
	char *out = agq_xmalloc(cap);
	for (const char *s = unit_tmpl; *s; ) {
		size_t k;
		for (k = 0; k < 3 && strncmp(s, keys[k], strlen(keys[k])); k++)
			;
		const char *add = k < 3 ? vals[k] : s;
		size_t len = k < 3 ? strlen(vals[k]) : 1;
		if (n + len + 1 > cap)
			out = realloc(out, cap = 2 * cap + len);
		if (!out)
			agq_die(EX_OSERR, "out of memory");
		memcpy(out + n, add, len);
		n += len;
		s += k < 3 ? strlen(keys[k]) : 1;
	}
	out[n] = '\0';
	free(etc);
	return out;
}

/* Write TEXT to PATH (tmp file beside it, fsync, rename) with MODE. */
static void
write_file(const char *path, const char *text, mode_t mode)
{
	char *dir = agq_xstrdup(path);
	*strrchr(dir, '/') = '\0';
	if (agq_mkdirs(dir, 0755) < 0) {
		agq_syserr("cannot create directory", dir);
		exit(agq_exit_code(errno));
	}
	free(dir);
	mode_t old = umask(~mode & 0777);
	int r = agq_cli_write_file(path, text);
	umask(old);
	if (r < 0 || chmod(path, mode) < 0) {
		agq_syserr("cannot write", path);
		exit(agq_exit_code(errno));
	}
}

/* A name for an agent given none: HOST-XXXX (the host name's first label,
 * cut to 32 characters of [A-Za-z0-9_-], and 4 random hex digits). */
static void
gen_name(char *buf, size_t size)
{
	char host[33];
	size_t i;
	const char *h = agq_hostname();
	for (i = 0; i < sizeof host - 1 && h[i] && h[i] != '.'; i++)
		host[i] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
		    "VWXYZ0123456789_-", h[i]) ? h[i] : '-';
	host[i] = '\0';
	snprintf(buf, size, "%s-%04x", i ? host : "agent",
	    (unsigned)(agq_random() & 0xffff));
}

/* The verification task pinned to NAME (run_on NAME, and its capability
 * agent:NAME), submitted: its id into ID (65 bytes); exits on failure. */
static void
submit_check(struct opts *o, const char *name, char *id)
{
	char title[128], cap[80];
	snprintf(title, sizeof title, "agq-agent add %s: verification", name);
	snprintf(cap, sizeof cap, "agent:%s", name);
	json_t *t = json_pack("{s:s, s:s, s:[s], s:s, s:s, s:i, s:i, s:s}",
	    "cmd", "echo \"agent $AGQ_AGENT on $(uname -n) ran task "
	    "$AGQ_TASK_ID\"", "title", title, "requires", cap, "run_on", name,
	    "priority", "high", "max_attempts", 1, "timeout", 60, "cwd", "/");
	char err[512];
	int where;
	if (agq_submit_valid(t, err, sizeof err) < 0 ||
	    agq_submit_deliver(&o->sp, t, agq_submit_normalize(t, 1), "argv",
	    &where, err, sizeof err) != 0)
		agq_die(EX_TEMPFAIL, "cannot submit the verification task: %s",
		    err);
	snprintf(id, 65, "%s", json_string_value(json_object_get(t, "id")));
	json_decref(t);
}

/* Wait for task ID with agq-wait (beside this program, else in PATH);
 * print its result.  0 done, 1 dead, EX_TEMPFAIL timed out. */
static int
wait_check(struct opts *o, const char *name, const char *id)
{
	char *w = agq_exe_path("agq-wait");
	char t[32];
	snprintf(t, sizeof t, "%g", o->timeout_s < 0 ? 120 : o->timeout_s);
	char *const argv[] = { w ? w : "agq-wait", "-s", o->sp.root, "-q",
	    "--timeout", t, (char *)id, NULL };
	int rc = run(argv);
	free(w);
	if (rc == 75) {
		agq_warn("%s: the verification task %s did not end within %s s "
		    "(is agq-sched running? agq-show %s)", name, id, t, id);
		return EX_TEMPFAIL;
	}
	/* under its lock: the move to done/ comes before the final record */
	struct agq_locked l;
	json_t *task = NULL;
	int state = -1;
	if (agq_task_lock(&o->sp, id, NULL, &l) == 0) {
		task = json_incref(l.task);
		state = l.loc.state;
		agq_task_unlock(&l);
	}
	const char *reason = json_string_value(json_object_get(task,
	    "reason"));
	char *op = agq_spool_path(&o->sp, "out/%s/stdout", id);
	size_t n = 0;
	char *out = agq_read_file(op, 4096, &n, NULL);
	free(op);
	int done = rc == 0 && task && state == AGQ_ST_DONE;
	printf("%s: verification task %s %s: %s\n", name, id, done ? "done" :
	    "failed", agq_shown(reason ? reason : "?"));
	if (out && n) {
		char *h = agq_human_dup(out, n, AGQ_HUMAN_NL);
		printf("%s", h);
		free(h);
	}
	free(out);
	json_decref(task);
	return done ? 0 : 1;
}

static int
cmd_add(struct opts *o, const char *given)
{
	not_in_task("add");
	char name[72];
	if (given)
		snprintf(name, sizeof name, "%s", given);
	else
		gen_name(name, sizeof name);
	char *sdir = settings_dir(o->system);
	char *conf = agq_xasprintf("%s/%s.conf", sdir, name);
	char *tokf = agq_xasprintf("%s/%s.token", sdir, name);
	json_t *a = agq_agent_read(&o->sp, name);
	int alive = a && agq_agent_alive(a, agq_now_us(), o->sp.conf.lease_s);
	json_decref(a);
	if (access(conf, F_OK) == 0 || alive)
		agq_die(EX_CANTCREAT, "agent %s exists already (%s)", name,
		    alive ? "its agent file is alive" : conf);
	json_t *caps = json_deep_copy(o->caps);
	char pin[80];
	snprintf(pin, sizeof pin, "agent:%s", name);
	json_array_append_new(caps, json_string(pin));
	char tok[AGQ_CAPTOKEN_LEN + 1] = "";
	if (needs_token(&o->sp, caps)) {
		make_token(o, name, caps, tok);
		char *line = agq_xasprintf("%s\n", tok);
		write_file(tokf, line, 0600);
		free(line);
	}
	char *root = realpath(o->sp.root, NULL);
	const char *cf = getenv("AGQ_CONF");
	char list[2048];
	join(caps, list, sizeof list);
	char *text = agq_xasprintf("# agq-agent add: the settings of agent %s "
	    "(agq-agent(1)),\n# read by agq-run@%s.service (EnvironmentFile=, "
	    "systemd.exec(5))\nAGQ_SPOOL=%s\n%s%s%sAGQ_AGENT_CAPS=%s\n%s%s%s",
	    name, name, root ? root : o->sp.root, cf && *cf == '/' ?
	    "AGQ_CONF=" : "", cf && *cf == '/' ? cf : "", cf && *cf == '/' ?
	    "\n" : "", list, *tok ? "AGQ_CAP_TOKEN=" : "", *tok ? tokf : "",
	    *tok ? "\n" : "");
	free(root);
	write_file(conf, text, 0644);
	free(text);
	char *udir = unit_dir(o->system);
	char *upath = agq_xasprintf("%s/agq-run@.service", udir);
	char *unit = unit_text(o->system);
	size_t ulen;
	char *have = agq_read_file(upath, 1 << 20, &ulen, NULL);
	if (!have || strcmp(have, unit))
		write_file(upath, unit, 0644);
	free(have);
	free(unit);
	if (systemctl(o->system, "daemon-reload", NULL, NULL) < 0 ||
	    systemctl(o->system, "enable", o->no_start ? NULL : "--now",
	    name) < 0) {
		/* not half-installed: the settings go (the template stays,
		 * it may serve other agents) */
		(void)unlink(conf);
		(void)unlink(tokf);
		agq_die(EX_UNAVAILABLE, "%s: not added%s", name,
		    *no_manager && sd_booted() ? no_manager :
		    " (is systemd the service manager here?)");
	}
	agq_journal_w(&o->sp, "agent_add", NULL, json_pack("{s:s, s:O, s:s, "
	    "s:s, s:b}", "agent", name, "capabilities", caps, "unit", o->system
	    ? "system" : "user", "settings", conf, "token", *tok != 0));
	int rc = 0;
	if (o->no_start) {
		printf("%s: installed and enabled, not started (%s)\n", name,
		    conf);
	} else {
		char id[65];
		submit_check(o, name, id);
		rc = wait_check(o, name, id);
	}
	json_decref(caps);
	free(udir);
	free(upath);
	free(sdir);
	free(conf);
	free(tokf);
	return rc;
}

/* ---- ls ---------------------------------------------------------------- */

struct known { struct opts *o; json_t *by; };

/* An entry of agents/ or a settings directory: NAME.json or NAME.conf. */
static int
known_one(const char *fname, void *arg, const char *ext, const char *unit)
{
	struct known *k = arg;
	size_t n = strlen(fname), e = strlen(ext);
	if (n <= e || strcmp(fname + n - e, ext) || n - e > 64)
		return 0;
	char name[65];
	snprintf(name, sizeof name, "%.*s", (int)(n - e), fname);
	if (!agq_agent_name_valid(name))
		return 0;
	json_t *r = json_object_get(k->by, name);
	if (!r) {
		r = json_pack("{s:s, s:n}", "name", name, "unit");
		json_object_set_new(k->by, name, r);
	}
	if (unit)
		json_object_set_new(r, "unit", json_string(unit));
	return 0;
}

static int
known_agent(const char *f, void *arg) { return known_one(f, arg, ".json", NULL); }
static int
known_user(const char *f, void *arg) { return known_one(f, arg, ".conf", "user"); }
static int
known_system(const char *f, void *arg)
{
	return known_one(f, arg, ".conf", "system");
}

/* Record R of agent NAME completed from its agent file: state, alive,
 * capabilities, load, token ("ok", "refused", "none": none needed). */
static void
describe(struct opts *o, const char *name, json_t *r)
{
	json_t *a = agq_agent_read(&o->sp, name);
	int alive = a && agq_agent_alive(a, agq_now_us(), o->sp.conf.lease_s);
	const char *st = a ? json_string_value(json_object_get(a, "state")) :
	    NULL;
	json_object_set_new(r, "state", json_string(!a ? "unregistered" :
	    !alive ? "down" : st ? st : "?"));
	json_object_set_new(r, "alive", json_boolean(alive));
	json_t *caps = json_object_get(a, "capabilities");
	json_object_set_new(r, "capabilities", caps ? json_incref(caps) :
	    json_array());
	json_object_set_new(r, "running", json_integer(a ?
	    agq_agent_load(&o->sp, name) : 0));
	char why[600];
	if (!a || !needs_token(&o->sp, caps)) {
		json_object_set_new(r, "token", json_string("none"));
	} else if (agq_captoken_filter(&o->sp, a, NULL, why, sizeof why) == 1) {
		json_object_set_new(r, "token", json_string("refused"));
		json_object_set_new(r, "token_error", json_string(why));
	} else {
		json_object_set_new(r, "token", json_string("ok"));
	}
	json_decref(a);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a,
	    "name")), json_string_value(json_object_get(*(json_t *const *)b,
	    "name")));
}

static int
cmd_ls(struct opts *o)
{
	struct known k = { o, json_object() };
	char *d = agq_spool_path(&o->sp, "agents");
	(void)agq_dir_each(d, known_agent, &k);
	free(d);
	d = settings_dir(1);
	(void)agq_dir_each(d, known_system, &k);
	free(d);
	if (getenv("HOME") || getenv("XDG_CONFIG_HOME")) {
		d = settings_dir(0);
		(void)agq_dir_each(d, known_user, &k);
		free(d);
	}
	size_t n = json_object_size(k.by), i = 0;
	json_t **v = agq_xmalloc((n ? n : 1) * sizeof *v);
	const char *name;
	json_t *r;
	json_object_foreach(k.by, name, r) {
		describe(o, name, r);
		v[i++] = json_incref(r);
	}
	json_t *all = agq_json_array_sorted(v, n, by_name);
	if (o->json) {
		agq_print_json(all, JSON_COMPACT);
	} else {
		printf("%-24s %-12s %-7s %-8s %s\n", "NAME", "STATE", "UNIT",
		    "TOKEN", "CAPABILITIES");
		json_array_foreach(all, i, r) {
			char list[1024];
			join(json_object_get(r, "capabilities"), list,
			    sizeof list);
			const char *u = json_string_value(json_object_get(r,
			    "unit"));
			printf("%-24s %-12s %-7s %-8s %s\n", agq_shown_get(r,
			    "name"), agq_shown_get(r, "state"), u ? u : "-",
			    agq_shown_get(r, "token"), agq_shown(list));
		}
	}
	json_decref(all);
	json_decref(k.by);
	return 0;
}

/* ---- rm ---------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_int(int s) { (void)s; interrupted = 1; }

/* Drain agent NAME: SIGTERM to its agq-run (agq-run(8), Stopping: no new
 * work, its unstarted leases handed back, its running tasks finish),
 * then wait until it is down and active/NAME/ is empty.  0, or
 * EX_TEMPFAIL when the timeout passed first. */
static int
drain(struct opts *o, const char *name)
{
	json_t *a = agq_agent_read(&o->sp, name);
	int alive = a && agq_agent_alive(a, agq_now_us(), o->sp.conf.lease_s);
	const char *host = json_string_value(json_object_get(a, "host"));
	pid_t pid = (pid_t)json_integer_value(json_object_get(a, "pid"));
	if (alive && host && strcmp(host, agq_hostname()))
		agq_die(EX_UNAVAILABLE, "agent %s runs on host %s, not here: "
		    "run agq-agent rm there", name, host);
	if (alive && pid > 1 && kill(pid, SIGTERM) < 0 && errno != ESRCH)
		agq_syserr("cannot signal the agent", name);
	json_decref(a);
	signal(SIGINT, on_int);
	int64_t until = o->timeout_s < 0 ? INT64_MAX : agq_mono_us() +
	    (int64_t)(o->timeout_s * 1e6);
	int said = 0;
	for (;;) {
		a = agq_agent_read(&o->sp, name);
		alive = a && agq_agent_alive(a, agq_now_us(),
		    o->sp.conf.lease_s);
		json_decref(a);
		int load = agq_agent_load(&o->sp, name);
		if (!alive && load <= 0)
			return 0;
		if (!said && load > 0) {
			said = 1;
			fprintf(stderr, "agq-agent: %s: draining: waiting for "
			    "its %d task%s\n", name, load, load == 1 ? "" : "s");
		}
		if (interrupted || agq_mono_us() >= until) {
			agq_warn("%s: still running %d task%s: the unit is left "
			    "in place", name, load, load == 1 ? "" : "s");
			return EX_TEMPFAIL;
		}
		usleep(200000);
	}
}

static int
cmd_rm(struct opts *o, const char *name, int sys_given)
{
	not_in_task("rm");
	int sys = o->system;
	char *sdir = settings_dir(sys);
	char *conf = agq_xasprintf("%s/%s.conf", sdir, name);
	if (access(conf, F_OK) < 0 && !sys_given) {
		free(sdir);
		free(conf);
		sys = 1;
		sdir = settings_dir(sys);
		conf = agq_xasprintf("%s/%s.conf", sdir, name);
	}
	if (access(conf, F_OK) < 0)
		agq_die(EX_NOINPUT, "no agent %s installed by agq-agent add (%s)",
		    name, conf);
	int rc = drain(o, name);
	if (rc)
		goto out;
	if (systemctl(sys, "disable", "--now", name) < 0)
		agq_die(EX_UNAVAILABLE, "%s: drained, but its unit is left in "
		    "place%s", name, sd_booted() ? no_manager : "");
	char *tokf = agq_xasprintf("%s/%s.token", sdir, name);
	if (unlink(conf) < 0 || (unlink(tokf) < 0 && errno != ENOENT))
		agq_syserr("cannot remove the settings", conf);
	free(tokf);
	char *ap = agq_spool_path(&o->sp, "agents/%s.json", name);
	(void)unlink(ap);
	free(ap);
	ap = agq_spool_path(&o->sp, "agents/.%s.cap_refused", name);
	(void)unlink(ap);
	free(ap);
	/* the template goes with the last agent of its directory */
	struct known k = { o, json_object() };
	(void)agq_dir_each(sdir, known_user, &k);
	if (!json_object_size(k.by)) {
		char *udir = unit_dir(sys);
		char *upath = agq_xasprintf("%s/agq-run@.service", udir);
		if (unlink(upath) < 0 && errno != ENOENT)
			agq_syserr("cannot remove the unit", upath);
		free(upath);
		free(udir);
	}
	json_decref(k.by);
	(void)systemctl(sys, "daemon-reload", NULL, NULL);
	agq_journal_w(&o->sp, "agent_rm", NULL, json_pack("{s:s, s:s}",
	    "agent", name, "unit", sys ? "system" : "user"));
	printf("%s: drained, stopped and removed\n", name);
out:
	free(sdir);
	free(conf);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "cap", required_argument, NULL, 'c' },
		{ "system", no_argument, NULL, 'S' },
		{ "no-start", no_argument, NULL, 'N' },
		{ "timeout", required_argument, NULL, 't' },
		AGQ_OPT_JSON, AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:c:t:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	struct opts o;
	memset(&o, 0, sizeof o);
	o.caps = json_array();
	o.timeout_s = -1;
	int c, sys_given = 0, start_given = 0;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'c':
			if (!*optarg || strpbrk(optarg, ", \t\n") ||
			    json_array_append_new(o.caps, json_string(optarg)))
				agq_die(EX_DATAERR, "--cap: '%s' is not a "
				    "capability (one word of UTF-8, no ',')",
				    agq_shown(optarg));
			break;
		case 'S': o.system = sys_given = 1; break;
		case 'N': o.no_start = start_given = 1; break;
		case 't':
			o.timeout_s = agq_cli_seconds("--timeout", optarg);
			break;
		}
	}
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	const char *name = nargs ? argv[optind] : NULL;
	int istoken = !strcmp(cmd, "token"), isadd = !strcmp(cmd, "add"),
	    isls = !strcmp(cmd, "ls"), isrm = !strcmp(cmd, "rm");
	if (!((istoken && nargs == 1) || (isadd && nargs <= 1) ||
	    (isls && nargs == 0) || (isrm && nargs == 1)))
		agq_cli_usage(usage);
	if ((json_array_size(o.caps) && !istoken && !isadd) ||
	    (sys_given && !isadd && !isrm) || (start_given && !isadd) ||
	    (o.timeout_s >= 0 && !isadd && !isrm) || (cl.json && !isls))
		agq_die(EX_USAGE, "an option that does not go with %s (see "
		    "--help)", cmd);
	if (name && !agq_agent_name_valid(name))
		agq_die(EX_DATAERR, "NAME: '%s' must match "
		    "[A-Za-z0-9._-]{1,64}", name);
	o.json = cl.json;
	agq_spool_open_or_exit(&o.sp, cl.spool);
	int rc = istoken ? cmd_token(&o, name) : isadd ? cmd_add(&o, name) :
	    isls ? cmd_ls(&o) : cmd_rm(&o, name, sys_given);
	json_decref(o.caps);
	agq_spool_close(&o.sp);
	return agq_cli_done(rc);
}
