/* doctor.c - agq-doctor(8): is this installation able to run agent
 * tasks?  Configuration, spool, backends, price table, CLI lock file,
 * agent CLIs (found, version, pinned flags accepted where they stand on
 * the command line), keys, endpoints. */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends.h"
#include "util.h"
#include "conf.h"
#include "classify.h"
#include "spool.h"
#include "open.h"
#include "backend.h"
#include "verify.h"
#include "registry.h"
#include "agent.h"
#include "captoken.h"
#include "doctor.h"

/* How long a CLI's --version or --help may take (seconds): a node CLI
 * such as gemini takes 1-3 s of CPU to start, many times that on a
 * loaded machine, and a slow answer is not a broken CLI. */
#define CLI_TIMEOUT_S 30

static void
add(json_t *checks, const char *status, const char *name, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
add(json_t *checks, const char *status, const char *name, const char *fmt,
    ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_array_append_new(checks, json_pack("{s:s, s:s, s:s}", "check",
	    name, "status", status, "detail", buf));
}

static char *
in_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		return NULL;
	char *copy = agq_xstrdup(path), *save = NULL, *found = NULL;
	for (char *d = strtok_r(copy, ":", &save); d && !found;
	    d = strtok_r(NULL, ":", &save)) {
		char *p = agq_xasprintf("%s/%s", *d ? d : ".", prog);
		if (access(p, X_OK) == 0)
			found = p;
		else
			free(p);
	}
	free(copy);
	return found;
}

/* FLAG appears in TEXT as a whole option word. */
static int
has_flag(const char *text, const char *flag)
{
	size_t n = strlen(flag);
	for (const char *p = strstr(text, flag); p; p = strstr(p + 1, flag)) {
		char before = p == text ? ' ' : p[-1];
		char after = p[n];
		if ((before == ' ' || before == '\t' || before == '\n' ||
		    before == ',' || before == '[' || before == '|' ||
		    before == '(') && !(after == '-' || after == '_' ||
		    (after >= 'a' && after <= 'z') || (after >= 'A' &&
		    after <= 'Z') || (after >= '0' && after <= '9')))
			return 1;
	}
	return 0;
}

static json_t *
argv_of(const char *prog, const json_t *args)
{
	json_t *a = json_pack("[s]", prog);
	size_t i;
	json_t *v;
	json_array_foreach(args, i, v)
		json_array_append(a, v);
	return a;
}

/* Append WORD to the space-separated list BUF (SIZE bytes) unless it is
 * there already. */
static void
list_add(char *buf, size_t size, const char *word)
{
	size_t n = strlen(word), m = strlen(buf);
	for (const char *p = strstr(buf, word); p; p = strstr(p + 1, word))
		if ((p == buf || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return;
	snprintf(buf + m, size - m, "%s%s", m ? " " : "", word);
}

/* Check lock entry E's flags where they stand: its command line as
 * agq-cli would build it (agq_cli_argv_mcp, a no-op prompt, a model, a
 * session to resume and agq-mcp, so that resume_args and mcp_args stand
 * where they go) is
 * scanned up to "--"; each option word there (up to a '=') that HELP (the
 * output of its help_args, NULL when it could not run) does not name
 * goes to MISSING, and each of E's "flags" that is not among those
 * option words (after "--", where it is read as an argument, or not on
 * the command line at all) to MISPLACED. */
static void
pinned_flags(const json_t *e, const char *help, char *missing, size_t msize,
             char *misplaced, size_t psize)
{
	/* with mcp_args too, as for a task with "mcp": true */
	struct agq_cli_mcp mcp = { "CONFIG", "\"COMMAND\"", "{}" };
	json_t *argv = agq_cli_argv_mcp(e, "hello", "MODEL", "SESSION", 0,
	    &mcp);
	json_t *opts = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(argv, i, v) {
		const char *w = json_string_value(v);
		if (i == 0 || w[0] != '-' || !w[1])
			continue;
		if (!strcmp(w, "--"))
			break;
		char word[128];
		snprintf(word, sizeof word, "%.*s", (int)strcspn(w, "="), w);
		json_array_append_new(opts, json_string(word));
		if (help && !has_flag(help, word))
			list_add(missing, msize, word);
	}
	json_array_foreach(json_object_get(e, "flags"), i, v) {
		const char *fl = json_string_value(v);
		if (!fl)
			continue;
		if (help && !has_flag(help, fl))
			list_add(missing, msize, fl);
		size_t j;
		json_t *o;
		int found = 0;
		json_array_foreach(opts, j, o)
			found |= !strcmp(json_string_value(o), fl);
		if (!found)
			list_add(misplaced, psize, fl);
	}
	json_decref(opts);
	json_decref(argv);
}

static void
check_cli(json_t *checks, const char *tool, const json_t *e)
{
	json_t *argv0 = json_array_get(json_object_get(e, "argv"), 0);
	const char *prog = json_string_value(argv0);
	char name[96];
	snprintf(name, sizeof name, "cli %s", tool);
	if (!prog) {
		add(checks, "fail", name, "no argv in the CLI lock file");
		return;
	}
	char *path = in_path(prog);
	if (!path) {
		add(checks, "warn", name, "%s not found in PATH", prog);
		return;
	}
	size_t len;
	int st;
	json_t *va = argv_of(path, json_object_get(e, "version_args"));
	/* with the entry's env, as a real call runs it (gemini's
	 * GEMINI_CLI_NO_RELAUNCH: else it starts itself twice) */
	const json_t *env = json_object_get(e, "env");
	char *out = agq_command_output_env(va, env, CLI_TIMEOUT_S, 4096, &len,
	    &st);
	json_decref(va);
	char version[200] = "unknown version";
	if (out && st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		size_t k = strcspn(out, "\n");
		snprintf(version, sizeof version, "%.*s", (int)(k < 150 ? k :
		    150), out);
	}
	free(out);
	json_t *hargs = json_object_get(e, "help_args");
	json_t *tmp = hargs ? NULL : json_pack("[s]", "--help");
	json_t *ha = argv_of(path, hargs ? hargs : tmp);
	json_decref(tmp);
	out = agq_command_output_env(ha, env, CLI_TIMEOUT_S, 1 << 20, &len,
	    &st);
	int herr = errno;
	json_decref(ha);
	char missing[300] = "", misplaced[300] = "";
	pinned_flags(e, out, missing, sizeof missing, misplaced,
	    sizeof misplaced);
	if (!out)
		add(checks, "fail", name, "%s (%s): cannot run it for --help: "
		    "%s", path, version, strerror(herr));
	else if (missing[0] || misplaced[0])
		add(checks, "fail", name, "%s (%s): %s%s%s%s%s", path, version,
		    missing[0] ? "pinned flags not accepted (not in its help): " :
		    "", missing, missing[0] && misplaced[0] ? "; " : "",
		    misplaced[0] ? "pinned flags not where options are read "
		    "(after \"--\" or not on the command line): " : "",
		    misplaced);
	else
		add(checks, "ok", name, "%s (%s): pinned flags accepted", path,
		    version);
	free(out);
	free(path);
}

/* The API key of backend D: from its variable, else its key file. */
static void
check_key(json_t *checks, const struct agq_conf *conf,
          const struct agq_backend_def *d)
{
	char name[64];
	snprintf(name, sizeof name, "key %s", d->name);
	const char *env = getenv(d->key_env);
	const char *file = agq_backend_setting(conf, d->key_setting, NULL);
	if (env && *env)
		add(checks, "ok", name, "from $%s", d->key_env);
	else if (file && access(file, R_OK) == 0)
		add(checks, "ok", name, "from %s", file);
	else if (file)
		add(checks, "fail", name, "cannot read %s: %s", file,
		    strerror(errno));
	else
		add(checks, "warn", name, "none: set $%s or %s", d->key_env,
		    d->key_setting);
}

/* The lease against the heartbeats (agq-sched(8), "Leases and
 * heartbeats"): warn when agq.conf's lease is under AGQ_LEASE_BEATS of
 * its heartbeat, or of a registered agent's own heartbeat_s; agq-sched
 * raises the lease of such an agent (agq_agent_lease_s), so nothing
 * fails, but the setting is not what applies. */
struct lease_check { const struct agq_spool *sp; json_t *checks; };

/* Is FNAME an agent file, NAME.json?  1 with NAME (65 bytes) set. */
static int
agent_file(const char *fname, char *name)
{
	size_t n = strlen(fname);
	if (n <= 5 || n - 5 > 64 || strcmp(fname + n - 5, ".json"))
		return 0;
	snprintf(name, 65, "%.*s", (int)(n - 5), fname);
	return 1;
}

static int
lease_agent(const char *fname, void *arg)
{
	struct lease_check *lc = arg;
	char name[65];
	if (!agent_file(fname, name))
		return 0;
	json_t *a = agq_agent_read(lc->sp, name);
	double lease = lc->sp->conf.lease_s, eff = agq_agent_lease_s(a, lease);
	if (a && eff > lease) {
		char check[96];
		snprintf(check, sizeof check, "lease %s", name);
		add(lc->checks, "warn", check, "lease %g s is shorter than %d "
		    "heartbeats of agent %s (heartbeat_s %g): agq-sched uses "
		    "%g s", lease, AGQ_LEASE_BEATS, name, json_number_value(
		    json_object_get(a, "heartbeat_s")), eff);
	}
	json_decref(a);
	return 0;
}

static void
check_lease(json_t *checks, const struct agq_spool *sp)
{
	double lease = sp->conf.lease_s, hb = sp->conf.heartbeat_s;
	if (lease < AGQ_LEASE_BEATS * hb)
		add(checks, "warn", "lease", "lease %g s is shorter than %d "
		    "heartbeats (heartbeat %g s): agq-sched uses %g s for "
		    "agents on that heartbeat", lease, AGQ_LEASE_BEATS, hb,
		    AGQ_LEASE_BEATS * hb);
	else
		add(checks, "ok", "lease", "lease %g s, at least %d heartbeats "
		    "(heartbeat %g s)", lease, AGQ_LEASE_BEATS, hb);
	struct lease_check lc = { sp, checks };
	char *d = agq_spool_path(sp, "agents");
	(void)agq_dir_each(d, lease_agent, &lc);
	free(d);
}

/* Capability tokens (agq-agent(1), captoken.h): the key file's mode
 * (fail when its group or others may read it: agq-sched then verifies
 * no token), and each agent claiming a capability of token_caps whose
 * token does not verify (warn: the scheduler does not count it). */
static int
token_agent(const char *fname, void *arg)
{
	struct lease_check *lc = arg;
	char name[65], why[600], check[96];
	if (!agent_file(fname, name))
		return 0;
	json_t *a = agq_agent_read(lc->sp, name);
	if (a && agq_captoken_filter(lc->sp, a, NULL, why, sizeof why) == 1) {
		snprintf(check, sizeof check, "cap token %s", name);
		add(lc->checks, "warn", check, "agent %s: its token capabilities "
		    "do not count: %s", name, why);
	}
	json_decref(a);
	return 0;
}

static void
check_captoken(json_t *checks, const struct agq_spool *sp)
{
	char *p = agq_spool_path(sp, AGQ_CAPKEY);
	struct stat st;
	if (lstat(p, &st) < 0)
		add(checks, json_array_size(sp->conf.token_caps) ? "warn" : "ok",
		    "cap key", "%s: none yet (agq-agent token makes it)", p);
	else if (!S_ISREG(st.st_mode) || (st.st_mode & 077))
		add(checks, "fail", "cap key", "%s: mode %04o, not a file only "
		    "its owner may read (chmod 600): no token verifies", p,
		    (unsigned)(st.st_mode & 07777));
	else
		add(checks, "ok", "cap key", "%s: mode %04o", p,
		    (unsigned)(st.st_mode & 07777));
	free(p);
	struct lease_check lc = { sp, checks };
	char *d = agq_spool_path(sp, "agents");
	(void)agq_dir_each(d, token_agent, &lc);
	free(d);
}

/* The skew between this host's clock and the spool's file server's: the
 * mtime the server gave .clock-probe minus this host's time around the
 * touch (agq_clock_probe), against agq.conf clock_skew_max.  Liveness
 * never compares the two clocks (agq_agent_live), but the agent's own
 * "heartbeat" field, the journal's times and a task's deadlines do. */
static void
check_clock(json_t *checks, const struct agq_spool *sp)
{
	int64_t probe, t0 = agq_now_us();
	if (agq_clock_probe(sp, &probe) < 0) {
		add(checks, "warn", "clock", "cannot touch %s/.clock-probe: %s: "
		    "the skew to the file server's clock is not known", sp->root,
		    strerror(errno));
		return;
	}
	int64_t t1 = agq_now_us();
	double skew = probe < t0 ? (double)(probe - t0) / 1e6 : probe > t1 ?
	    (double)(probe - t1) / 1e6 : 0.0;
	double max = sp->conf.clock_skew_max_s;
	if (skew > max || -skew > max)
		add(checks, "fail", "clock", "the spool's file server's clock is "
		    "%+.3f s off this host's (.clock-probe mtime - now), more "
		    "than clock_skew_max %g s: set both by NTP", skew, max);
	else
		add(checks, "ok", "clock", "the spool's file server's clock is "
		    "%+.3f s off this host's (clock_skew_max %g s)", skew, max);
}

/* The mount a path is on, from a mountinfo file (proc(5)). */
struct mount {
	char point[PATH_MAX];   /* its mount point, unescaped */
	char type[64];          /* "nfs4", "fuse.sshfs", "ext4"... */
	char source[256];
	char opts[4096];        /* its mount options, then its super block's,
	                         * comma-separated */
};

/* S with mountinfo's octal escapes (\040 for a space) undone, in place. */
static void
unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Is the mount point MP (no trailing '/' but for "/") at or above PATH? */
static size_t
covers(const char *mp, const char *path)
{
	size_t n = strlen(mp);
	if (!strcmp(mp, "/"))
		return 1;
	return !strncmp(mp, path, n) && (path[n] == '/' || !path[n]) ? n : 0;
}

/* The mount PATH (absolute, resolved) is on, read from the mountinfo file
 * FILE (proc(5): ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] -
 * TYPE SOURCE SUPER-OPTIONS): the longest mount point above it, the last
 * of equals (mounted over).  0, or -1 with errno (of fopen; ENOENT no
 * line covers it). */
static int
mount_of(const char *file, const char *path, struct mount *m)
{
	FILE *f = fopen(file, "re");
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0, best = 0;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *fld[64];
		int n = 0;
		for (char *t = strtok_r(line, " \n", &save); t && n < 64;
		    t = strtok_r(NULL, " \n", &save))
			fld[n++] = t;
		int dash = 6;
		while (dash < n && strcmp(fld[dash], "-"))
			dash++;
		if (n < 6 || dash + 2 >= n)
			continue;
		unescape(fld[4]);
		size_t c = covers(fld[4], path);
		if (!c || c < best)
			continue;
		best = c;
		snprintf(m->point, sizeof m->point, "%s", fld[4]);
		snprintf(m->type, sizeof m->type, "%s", fld[dash + 1]);
		snprintf(m->source, sizeof m->source, "%s", fld[dash + 2]);
		snprintf(m->opts, sizeof m->opts, "%s%s%s", fld[5],
		    dash + 3 < n ? "," : "", dash + 3 < n ? fld[dash + 3] : "");
	}
	free(line);
	fclose(f);
	if (!best)
		errno = ENOENT;
	return best ? 0 : -1;
}

/* The value of option KEY ("vers") in the comma-separated OPTS: a pointer
 * to it (up to the next ',') or to "" for a bare KEY; NULL when absent. */
static const char *
opt_get(const char *opts, const char *key)
{
	size_t n = strlen(key);
	for (const char *p = opts; p && *p; p = strchr(p, ',') ?
	    strchr(p, ',') + 1 : NULL) {
		if (!strncmp(p, key, n) && (p[n] == '=' || p[n] == ',' ||
		    !p[n]))
			return p[n] == '=' ? p + n + 1 : "";
	}
	return NULL;
}

/* The NFS mount M against agq-doctor(8)'s recommended set: one check
 * each, with its reason. */
static void
check_nfs(json_t *checks, const struct mount *m)
{
	int found = 0;
	const char *v = opt_get(m->opts, "vers");
	double vers = v ? strtod(v, NULL) : !strcmp(m->type, "nfs4") ? 4 : 3;
	if (vers < 4.1 - 1e-9) {
		found++;
		add(checks, "warn", "mount version", "NFS version %g (%s): use "
		    "4.1 or later: without a session's reply cache (RFC 8881, "
		    "2.10.6) a retransmitted link(2) or rename(2) can report a "
		    "failure after it succeeded", vers, m->point);
	}
	const char *lc = opt_get(m->opts, "lookupcache");
	if (!lc || !(!strncmp(lc, "none", 4) || !strncmp(lc, "pos", 3))) {
		found++;
		add(checks, "warn", "mount lookupcache", "lookupcache=all (the "
		    "default) on %s: a name not found is cached, so a task or "
		    "agent file another host just made can stay unseen for as "
		    "long as the directory's attributes; use lookupcache=positive "
		    "or none", m->point);
	}
	double ac = -1;         /* none given: the defaults, up to 60 s */
	static const char *const acs[] = { "actimeo", "acregmin", "acregmax",
	    "acdirmin", "acdirmax", NULL };
	for (int i = 0; acs[i]; i++) {
		const char *a = opt_get(m->opts, acs[i]);
		if (a && strtod(a, NULL) > ac)
			ac = strtod(a, NULL);
	}
	if (!opt_get(m->opts, "noac") && (ac > 1 || ac < 0)) {
		found++;
		add(checks, "warn", "mount actimeo", "attributes cached up to "
		    "%g s on %s: an agent file's mtime (its heartbeat) or a "
		    "directory another host changed is seen that late, and an "
		    "agent can look dead to agq-sched; use actimeo=1 or noac",
		    ac < 0 ? 60 : ac, m->point);
	}
	const char *ll = opt_get(m->opts, "local_lock");
	if (opt_get(m->opts, "nolock") || (ll && (!strncmp(ll, "flock", 5) ||
	    !strncmp(ll, "all", 3)))) {
		found++;
		add(checks, "fail", "mount lock", "locks are local to this host "
		    "on %s (%s): flock(2) on a task file does not exclude "
		    "another host, which can lock and move the same task; mount "
		    "with lock (and local_lock=none)", m->point,
		    opt_get(m->opts, "nolock") ? "nolock" : "local_lock");
	}
	if (opt_get(m->opts, "soft") || opt_get(m->opts, "softerr")) {
		found++;
		add(checks, "warn", "mount hard", "a soft mount on %s: a call "
		    "the server does not answer in time fails (EIO, ETIMEDOUT) "
		    "instead of waiting, so a move can fail halfway and a "
		    "heartbeat be missed; use hard", m->point);
	}
	if (!found)
		add(checks, "ok", "mount", "%s %s on %s: the recommended set "
		    "(NFS 4.1+, lookupcache, actimeo, lock, hard)", m->type,
		    m->source, m->point);
}

/* The spool's mount (the mountinfo file $AGQ_MOUNTINFO, a test hook, or
 * /proc/self/mountinfo) against the recommended set for a network file
 * system (agq-doctor(8), "The spool's mount"); nothing on a local one. */
static void
check_mount(json_t *checks, const struct agq_spool *sp)
{
	const char *file = getenv("AGQ_MOUNTINFO");
	if (!file || !*file)
		file = "/proc/self/mountinfo";
	char root[PATH_MAX];
	if (!realpath(sp->root, root))
		snprintf(root, sizeof root, "%s", sp->root);
	struct mount m;
	if (mount_of(file, root, &m) < 0) {
		add(checks, "warn", "mount", "cannot tell the mount of %s from "
		    "%s: %s", root, file, strerror(errno));
		return;
	}
	if (!strcmp(m.type, "nfs") || !strcmp(m.type, "nfs4"))
		check_nfs(checks, &m);
	else if (!strcmp(m.type, "fuse") || !strncmp(m.type, "fuse.", 5))
		add(checks, "warn", "mount", "%s %s on %s: a FUSE file system "
		    "(sshfs): flock(2) locks are local to each host and "
		    "attributes are cached (sshfs cache_timeout, 20 s): prefer "
		    "NFS 4.1+, or agq-run --via ssh", m.type, m.source, m.point);
	else if (!strcmp(m.type, "cifs") || !strncmp(m.type, "smb", 3) ||
	    !strcmp(m.type, "ceph"))
		add(checks, "ok", "mount", "%s %s on %s: a network file system "
		    "whose options agq-doctor does not check", m.type, m.source,
		    m.point);
}

json_t *
agq_doctor(const char *spool_arg)
{
	json_t *checks = json_array();
	struct agq_spool sp;
	int have_spool = 0;
	if (agq_spool_open(&sp, spool_arg, NULL) < 0) {
		add(checks, "fail", "spool", "cannot open the spool or its "
		    "configuration: %s", strerror(errno));
	} else {
		have_spool = 1;
		add(checks, "ok", "spool", "%s", sp.root);
	}
	const struct agq_backend_def *d;
	for (size_t i = 0; (d = agq_backend_at(i)); i++) {
		char *p = agq_backend_path(d->name);
		char name[64];
		snprintf(name, sizeof name, "backend %s", d->name);
		if (access(p, X_OK) == 0)
			add(checks, "ok", name, "%s", p);
		else
			add(checks, "fail", name, "%s: %s", p, strerror(errno));
		free(p);
	}
	struct agq_conf empty;
	memset(&empty, 0, sizeof empty);
	const struct agq_conf *conf = have_spool ? &sp.conf : &empty;
	char *dflt = agq_etc_path("prices.json");
	const char *pp = agq_backend_setting(conf, "prices", dflt);
	json_error_t je;
	json_t *prices = json_load_file(pp, 0, &je);
	if (json_is_object(json_object_get(prices, "models")))
		add(checks, "ok", "prices", "%s: %zu models", pp,
		    json_object_size(json_object_get(prices, "models")));
	else
		add(checks, "fail", "prices", "%s: %s", pp, prices ?
		    "no \"models\" object" : je.text);
	json_decref(prices);
	free(dflt);
	char err[512];
	json_t *lock = agq_cli_lock_load(conf, err, sizeof err);
	if (!lock) {
		add(checks, "fail", "cli lock", "%s", err);
	} else {
		add(checks, "ok", "cli lock", "%zu CLIs pinned",
		    json_object_size(lock));
		const char *k;
		json_t *e;
		json_object_foreach(lock, k, e)
			check_cli(checks, k, e);
	}
	json_decref(lock);
	/* the API keys: complex tier first (anthropic, then openai), the
	 * report's order since before the table of backends */
	for (int tier = 2; tier >= 0; tier--)
		for (size_t i = 0; (d = agq_backend_at(i)); i++)
			if (d->tier == tier && d->key_env)
				check_key(checks, conf, d);
	if (have_spool) {
		check_lease(checks, &sp);
		check_captoken(checks, &sp);
		check_clock(checks, &sp);
		check_mount(checks, &sp);
		json_t *reg = agq_registry_load(&sp);
		const char *k;
		json_t *e;
		json_object_foreach(reg, k, e) {
			char name[96];
			snprintf(name, sizeof name, "endpoint %s", k);
			const char *h = json_string_value(json_object_get(e,
			    "health"));
			const char *er = json_string_value(json_object_get(e,
			    "error"));
			add(checks, h && !strcmp(h, "healthy") ? "ok" : h &&
			    !strcmp(h, "unhealthy") ? "fail" : "warn", name,
			    "%s %s%s%s", json_string_value(json_object_get(e,
			    "url")), h ? h : "unknown", er ? ": " : "", er ? er :
			    "");
		}
		json_decref(reg);
		agq_spool_close(&sp);
	}
	size_t i;
	json_t *c;
	int fails = 0;
	json_array_foreach(checks, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "status")),
		    "fail"))
			fails++;
	return json_pack("{s:s, s:i, s:o}", "status", fails ? "fail" : "ok",
	    "failed", fails, "checks", checks);
}
