/* git.c - a task's git work through libgit2: the clone per origin, a
 * worktree and a branch per task, commit, push, apply, status, removal
 * and gc, and the spool's PR records (git.h). */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <git2.h>

#include "util.h"
#include "conf.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "git.h"

#define WT_MAX_SUFFIX 1000      /* SLUG-2 ... SLUG-999, then EEXIST */

void
agq_git_lib_init(void)
{
	git_libgit2_init();
}

void
agq_git_lib_done(void)
{
	git_libgit2_shutdown();
}

/* ERR = "WHAT: libgit2's last message"; returns -1. */
static int
gerr(char *err, size_t size, const char *what)
{
	const git_error *g = git_error_last();
	return agq_errf(err, size, "%s: %s", what, g && g->message ?
	    g->message : "libgit2 failed");
}

char *
agq_git_workspace(const struct agq_spool *sp)
{
	const char *w = agq_backend_setting(&sp->conf, "workspace_root", NULL);
	return w ? agq_xstrdup(w) : agq_xasprintf("%s.work", sp->root);
}

char *
agq_git_slug(const char *text, char *out)
{
	size_t n = 0;
	int dash = 0;
	for (const char *p = text ? text : ""; *p && n < 48; p++) {
		unsigned char c = (unsigned char)*p;
		if (isascii(c) && isalnum(c)) {
			if (dash && n > 0 && n < 47)
				out[n++] = '-';
			dash = 0;
			out[n++] = (char)tolower(c);
		} else {
			dash = 1;
		}
	}
	out[n] = '\0';
	if (!n)
		strcpy(out, "task");
	return out;
}

/* ---- the clone of an origin ------------------------------------------- */

/* ORIGIN as fetched: a local path made absolute (URLs and scp-style
 * host:path as they are).  malloc'd. */
static char *
origin_url(const char *origin)
{
	if (agq_origin_local(origin)) {
		char *abs = realpath(origin, NULL);
		if (abs)
			return abs;
	}
	return agq_xstrdup(origin);
}

/* The clone's name KEY for URL: its last component, cleaned, and 12 hex
 * digits of the SHA-256 of URL.  Into OUT (>= 64 bytes). */
static void
clone_key(const char *url, char *out)
{
	size_t len = strlen(url);
	while (len > 1 && url[len - 1] == '/')
		len--;
	if (len > 4 && !strncmp(url + len - 4, ".git", 4))
		len -= 4;
	size_t b = len;
	while (b > 0 && url[b - 1] != '/' && url[b - 1] != ':')
		b--;
	size_t n = 0;
	for (size_t i = b; i < len && n < 40; i++) {
		unsigned char c = (unsigned char)url[i];
		int keep = isascii(c) && (isalnum(c) || c == '-' || c == '_' ||
		    (c == '.' && n > 0));
		out[n++] = keep ? (char)c : '-';
	}
	if (!n)
		out[n++] = 'r';
	char hex[65];
	agq_sha256_hex(url, strlen(url), hex);
	snprintf(out + n, 64 - n, "-%.12s", hex);
}

/* What the remote callbacks need: settings, tries, a push's rejection. */
struct cbdata {
	const struct agq_spool *sp;
	int tries;
	char reason[512];
};

/* HOST[:PORT] of URL (scheme://[user@]host[:port]/...) into OUT (256
 * bytes), lower-cased; "" when URL has no "://". */
static void
url_hostport(const char *url, char out[256])
{
	out[0] = '\0';
	const char *p = strstr(url, "://");
	if (!p)
		return;
	p += 3;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	if (n > 255)
		n = 255;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)p[i]);
	out[n] = '\0';
}

/* May the token of git_token_file go to URL?  Only to a host listed in
 * git_token_hosts (words HOST or HOST:PORT), over https, or over http
 * when listed explicitly; without that setting, to the forge's host
 * (github: github.com; gitea: forge_url's host[:port]) over https.  A
 * task names its own origin, so the operator's token must not follow
 * it anywhere (git-credential(7) keys credentials by host the same way).
 * 1 yes; 0 no, with WHO (256 bytes) the host asked for. */
static int
token_allowed(const struct agq_spool *sp, const char *url, char who[256])
{
	url_hostport(url, who);
	const char *list = agq_backend_setting(&sp->conf, "git_token_hosts",
	    NULL);
	char dflt[256] = "";
	if (!list) {
		const char *forge = agq_backend_setting(&sp->conf, "forge", "");
		const char *fu = agq_backend_setting(&sp->conf, "forge_url", "");
		if (!strcmp(forge, "github"))
			snprintf(dflt, sizeof dflt, "github.com");
		else if (*forge && *fu)
			url_hostport(fu, dflt);
		list = dflt;
		if (strncmp(url, "https://", 8))
			return 0;
	} else if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) {
		return 0;
	}
	char host[256];
	snprintf(host, sizeof host, "%s", who);
	host[strcspn(host, ":")] = '\0';
	const char *p = list;
	while (*p) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, " \t,");
		if (n && ((strlen(who) == n && !strncasecmp(p, who, n)) ||
		    (strlen(host) == n && !strncasecmp(p, host, n))))
			return 1;
		p += n;
	}
	return 0;
}

/* git_credential_acquire_cb: ssh key file or agent, a token file. */
static int
cred_cb(git_credential **out, const char *url, const char *user,
        unsigned int allowed, void *payload)
{
	struct cbdata *d = payload;
	if (d->tries++ >= 3) {
		git_error_set_str(GIT_ERROR_NET, "authentication failed "
		    "(git_ssh_key, ssh-agent, git_token_file)");
		return GIT_EAUTH;
	}
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		const char *key = agq_backend_setting(&d->sp->conf,
		    "git_ssh_key", NULL);
		const char *u = user && *user ? user : "git";
		if (!key)
			return git_credential_ssh_key_from_agent(out, u);
		char *pub = agq_xasprintf("%s.pub", key);
		int r = git_credential_ssh_key_new(out, u,
		    access(pub, R_OK) == 0 ? pub : NULL, key, NULL);
		free(pub);
		return r;
	}
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		const char *tf = agq_backend_setting(&d->sp->conf,
		    "git_token_file", NULL);
		if (!tf)
			return GIT_PASSTHROUGH;
		char who[256];
		if (!token_allowed(d->sp, url, who)) {
			char *m = agq_xasprintf("git_token_file is not sent to "
			    "%s (not in git_token_hosts, or not https)", who);
			git_error_set_str(GIT_ERROR_NET, m);
			free(m);
			return GIT_EAUTH;
		}
		char *tok = agq_read_file(tf, 64 * 1024, NULL, NULL);
		if (!tok) {
			git_error_set_str(GIT_ERROR_OS, "cannot read "
			    "git_token_file");
			return -1;
		}
		tok[strcspn(tok, "\r\n")] = '\0';
		int r = git_credential_userpass_plaintext_new(out,
		    user && *user ? user : "x-access-token", tok);
		free(tok);
		return r;
	}
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user && *user ? user :
		    "git");
	return GIT_PASSTHROUGH;
}

/* git_push_update_reference_cb: the remote's per-reference status. */
static int
push_ref_cb(const char *refname, const char *status, void *payload)
{
	struct cbdata *d = payload;
	if (status && !d->reason[0])
		snprintf(d->reason, sizeof d->reason, "%s: %s", refname, status);
	return 0;
}

/* KEY of REPO's configuration, malloc'd, or NULL. */
static char *
conf_get(git_repository *repo, const char *key)
{
	git_config *cfg = NULL, *snap = NULL;
	char *v = NULL;
	const char *s;
	if (git_repository_config(&cfg, repo) == 0 &&
	    git_config_snapshot(&snap, cfg) == 0 &&
	    git_config_get_string(&s, snap, key) == 0)
		v = agq_xstrdup(s);
	git_config_free(snap);
	git_config_free(cfg);
	return v;
}

static int
conf_set(git_repository *repo, const char *key, const char *val)
{
	git_config *cfg = NULL;
	int r = git_repository_config(&cfg, repo);
	if (r == 0)
		r = git_config_set_string(cfg, key, val);
	git_config_free(cfg);
	return r;
}

/* The fetch refspec of the clones' remote origin. */
static char fetch_spec[] = "+refs/heads/*:refs/remotes/origin/*";

/* REPO's remote origin as an anonymous remote of its URL, or -1 with
 * ERR.  Not git_remote_lookup, and url.*.insteadOf not applied: libgit2
 * 1.5's git_regexp_match leaks pcre2 match data on every config key the
 * lookup's and the rewrite's patterns do not match. */
static int
origin_remote(git_repository *repo, git_remote **remote, char *err,
              size_t size)
{
	char *url = conf_get(repo, "remote.origin.url");
	*remote = NULL;
	if (!url) {
		agq_errf(err, size, "no remote origin");
		return -1;
	}
	git_remote_create_options o;
	git_remote_create_options_init(&o, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	o.repository = repo;
	o.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF;
	int r = git_remote_create_with_opts(remote, url, &o);
	free(url);
	return r < 0 ? gerr(err, size, "no remote origin") : 0;
}

/* One origin's clone, held under its lock. */
struct clone {
	char *url;              /* the origin, as fetched */
	char *path;             /* W/KEY.git */
	char *trees;            /* W/KEY.trees */
	int lockfd;
	git_repository *repo;
};

static void
clone_close(struct clone *c)
{
	git_repository_free(c->repo);
	if (c->lockfd >= 0)
		close(c->lockfd);   /* releases the flock */
	free(c->url);
	free(c->path);
	free(c->trees);
	memset(c, 0, sizeof *c);
	c->lockfd = -1;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 &&
	    errno != ENOENT ? -1 : 0;
}

/* Lock ORIGIN's clone (making it on first use) and fetch into it.  0, or
 * -1 with ERR and C closed. */
static int
clone_open(const struct agq_spool *sp, const char *origin, struct clone *c,
           char *err, size_t size)
{
	memset(c, 0, sizeof *c);
	c->lockfd = -1;
	agq_git_lib_init();
	char key[64];
	c->url = origin_url(origin);
	clone_key(c->url, key);
	char *ws = agq_git_workspace(sp);
	c->path = agq_xasprintf("%s/%s.git", ws, key);
	c->trees = agq_xasprintf("%s/%s.trees", ws, key);
	char *lock = agq_xasprintf("%s/%s.lock", ws, key);
	int rc = -1;
	if (agq_mkdirs(ws, 0700) < 0) {
		agq_errf(err, size, "cannot make the workspace: %s (%s)",
		    strerror(errno), ws);
		goto out;
	}
	/* The lock file holds the time (us) the last good fetch began: one
	 * that began after this call did is as new as ours would be, so
	 * tasks starting together on one origin fetch once, not in turn. */
	int64_t asked = agq_now_us();
	c->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->lockfd < 0 || flock(c->lockfd, LOCK_EX) < 0) {
		agq_errf(err, size, "cannot lock the clone: %s (%s)",
		    strerror(errno), lock);
		goto out;
	}
	git_remote *remote = NULL;
	int made = 0;
	if (git_repository_open_bare(&c->repo, c->path) < 0) {
		made = 1;
		/* first use: a bare repository made aside, then renamed in */
		char *tmp = agq_xasprintf("%s.new%ld", c->path, (long)getpid());
		git_repository *r = NULL;
		if (git_repository_init(&r, tmp, 1) < 0 ||
		    conf_set(r, "remote.origin.url", c->url) < 0 ||
		    conf_set(r, "remote.origin.fetch", fetch_spec) < 0) {
			gerr(err, size, "cannot make the clone");
			git_repository_free(r);
			free(tmp);
			goto out;
		}
		git_repository_free(r);
		if (rename(tmp, c->path) < 0 ||
		    git_repository_open_bare(&c->repo, c->path) < 0) {
			agq_errf(err, size, "cannot make the clone: %s (%s)",
			    strerror(errno), c->path);
			free(tmp);
			goto out;
		}
		free(tmp);
	}
	char last[32] = "";
	long long at = !made && pread(c->lockfd, last, sizeof last - 1, 0) > 0 ?
	    strtoll(last, NULL, 10) : 0;
	if (at >= asked && at <= agq_now_us()) {
		rc = 0;         /* fetched since we asked (a clock stepped
		                 * back meanwhile: fetch) */
		goto out;
	}
	int64_t began = agq_now_us();
	if (origin_remote(c->repo, &remote, err, size) < 0)
		goto out;
	char *specv[] = { fetch_spec };
	git_strarray specs = { specv, 1 };
	struct cbdata d = { .sp = sp };
	git_fetch_options fo;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks.credentials = cred_cb;
	fo.callbacks.payload = &d;
	fo.prune = GIT_FETCH_PRUNE;
	if (git_remote_fetch(remote, &specs, &fo, "agq: fetch") < 0) {
		char what[600];
		snprintf(what, sizeof what, "cannot fetch %s", c->url);
		gerr(err, size, what);
		if (made) {     /* a wrong origin leaves no empty clone */
			git_repository_free(c->repo);
			c->repo = NULL;
			nftw(c->path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		}
	} else {
		rc = 0;
		int n = snprintf(last, sizeof last, "%lld\n", (long long)began);
		/* only an optimisation: on failure, empty: fetch next time */
		if ((pwrite(c->lockfd, last, (size_t)n, 0) != n ||
		    ftruncate(c->lockfd, n) < 0) && ftruncate(c->lockfd, 0) < 0)
			agq_syserr("cannot note the fetch", lock);
	}
	git_remote_free(remote);
out:
	free(lock);
	free(ws);
	if (rc < 0)
		clone_close(c);
	return rc;
}

int
agq_git_sync_origin(const struct agq_spool *sp, const char *origin,
                    char **clone, char *err, size_t size)
{
	struct clone c;
	if (clone_open(sp, origin, &c, err, size) < 0)
		return -1;
	*clone = c.path;
	c.path = NULL;
	clone_close(&c);
	return 0;
}

/* ---- a task's worktree ------------------------------------------------ */

/* branch.NAME.KEY of REPO's config, malloc'd, or NULL. */
static char *
branch_conf(git_repository *repo, const char *name, const char *key)
{
	char *k = agq_xasprintf("branch.%s.%s", name, key);
	char *v = conf_get(repo, k);
	free(k);
	return v;
}

static int
branch_conf_set(git_repository *repo, const char *name, const char *key,
                const char *val)
{
	char *k = agq_xasprintf("branch.%s.%s", name, key);
	int r = conf_set(repo, k, val);
	free(k);
	return r;
}

/* Does the reference "PREFIX/NAME" exist in REPO?  Its id to OID. */
static int
ref_exists(git_repository *repo, const char *prefix, const char *name,
           git_oid *oid)
{
	char *r = agq_xasprintf("%s/%s", prefix, name);
	git_oid o;
	int e = git_reference_name_to_id(oid ? oid : &o, repo, r) == 0;
	free(r);
	return e;
}

/* Choose the branch of task ID in C: 0 new (make it from BASE), 1 the
 * task's own (reuse), 2 (RESUME and BRANCH only) the origin's BRANCH, not
 * here or not the task's here: make it from the origin's tip; -1 with
 * ERR.  Into OUT (256 bytes). */
static int
choose_branch(struct clone *c, const char *agent, const char *slugtext,
              const char *branch, const char *id, int resume, char *out,
              char *err, size_t size)
{
	char slug[49];
	agq_git_slug(slugtext, slug);
	for (int n = 1; n < WT_MAX_SUFFIX; n++) {
		if (branch) {
			snprintf(out, 256, "%s", branch);
		} else if (n == 1) {
			snprintf(out, 256, "%s/%s", agent ? agent : "agq", slug);
		} else {
			char suf[8];
			int k = snprintf(suf, sizeof suf, "-%d", n);
			snprintf(out, 256, "%s/%.*s%s", agent ? agent : "agq",
			    48 - k, slug, suf);
		}
		char *full = agq_xasprintf("refs/heads/%s", out);
		int valid = 0;
		git_reference_name_is_valid(&valid, full);
		free(full);
		if (!valid) {
			agq_errf(err, size, "not a valid branch name: %s", out);
			return -1;
		}
		char *owner = branch_conf(c->repo, out, "agqtask");
		int own = owner && !strcmp(owner, id);
		int local = ref_exists(c->repo, "refs/heads", out, NULL);
		int remote = ref_exists(c->repo, "refs/remotes/origin", out,
		    NULL);
		if (own && local) {
			free(owner);
			return 1;
		}
		if (resume) {
			free(owner);
			if (remote)
				return 2;
			agq_errf(err, size, "the pull request's branch %s is on "
			    "neither the origin nor here", out);
			errno = ENOENT;
			return -1;
		}
		if (!owner && !local && !remote)
			return 0;
		if (branch) {
			agq_errf(err, size, "branch %s belongs to %s%s", out,
			    owner ? "task " : "", owner ? owner :
			    "another task or person");
			free(owner);
			errno = EEXIST;
			return -1;
		}
		free(owner);
	}
	agq_errf(err, size, "no free branch name for %s/%s", agent ? agent :
	    "agq", slug);
	errno = EEXIST;
	return -1;
}

/* Fill WT's head and branch from the work tree at WT->path. */
static int
wt_fill(struct agq_worktree *wt, char *err, size_t size)
{
	git_repository *r = NULL;
	git_reference *head = NULL;
	if (git_repository_open(&r, wt->path) < 0 ||
	    git_repository_head(&head, r) < 0) {
		git_repository_free(r);
		return gerr(err, size, "cannot read the worktree's HEAD");
	}
	if (git_reference_is_branch(head))
		snprintf(wt->branch, sizeof wt->branch, "%s",
		    git_reference_shorthand(head));
	git_oid_tostr(wt->head, sizeof wt->head, git_reference_target(head));
	char *b = branch_conf(r, wt->branch, "agqbase");
	if (b)
		snprintf(wt->base, sizeof wt->base, "%s", b);
	free(b);
	git_reference_free(head);
	git_repository_free(r);
	return 0;
}

/* (Re)lock WT for task ID. */
static int
wt_lock(git_worktree *wt, const char *id, char *err, size_t size)
{
	char *why = agq_xasprintf("agq task %s", id);
	git_worktree_unlock(wt);
	int r = git_worktree_lock(wt, why);
	free(why);
	return r < 0 ? gerr(err, size, "cannot lock the worktree") : 0;
}

/* Add worktree ID of C's clone at PATH on the branch REF into *W: the
 * worktrees' directory made, then C's lock let go (the branch is the
 * task's now: the checkout, most of the time taken here, needs the lock
 * no more, and other tasks of this origin start meanwhile; gc never takes
 * a worktree whose task is active, locked or not).  0, or -1 with ERR. */
static int
wt_add(struct clone *c, const char *id, const char *path, git_reference *ref,
       git_worktree **w, char *err, size_t size)
{
	if (agq_mkdirs(c->trees, 0700) < 0) {
		agq_errf(err, size, "cannot make the worktrees' directory: "
		    "%s (%s)", strerror(errno), c->trees);
		return -1;
	}
	close(c->lockfd);
	c->lockfd = -1;
	git_worktree_add_options ao;
	git_worktree_add_options_init(&ao, GIT_WORKTREE_ADD_OPTIONS_VERSION);
	ao.ref = ref;
	if (git_worktree_add(w, c->repo, id, path, &ao) < 0)
		return gerr(err, size, "cannot add the worktree");
	return 0;
}

static int
start_task(const struct agq_spool *sp, const char *origin, const char *base,
           const char *agent, const char *slugtext, const char *branch,
           int resume, const char *id, struct agq_worktree *wt, char *err,
           size_t size)
{
	memset(wt, 0, sizeof *wt);
	if (!agq_id_valid(id)) {
		agq_errf(err, size, "not a valid task id: %s", id);
		errno = EINVAL;
		return -1;
	}
	if (!base)
		base = "main";
	struct clone c;
	if (clone_open(sp, origin, &c, err, size) < 0)
		return -1;
	int rc = -1, r;
	git_worktree *w = NULL;
	git_reference *ref = NULL;
	git_commit *tip = NULL;
	snprintf(wt->path, sizeof wt->path, "%s/%s", c.trees, id);
	snprintf(wt->base, sizeof wt->base, "%s", base);
	if (git_worktree_lookup(&w, c.repo, id) == 0) {
		if (git_worktree_validate(w) == 0) {
			/* the task's tree, from an attempt before */
			if (wt_lock(w, id, err, size) < 0 ||
			    wt_fill(wt, err, size) < 0)
				goto out;
			wt->reused = 1;
			rc = 0;
			goto out;
		}
		git_worktree_prune_options po;
		git_worktree_prune_options_init(&po,
		    GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
		po.flags = GIT_WORKTREE_PRUNE_LOCKED;
		if (git_worktree_prune(w, &po) < 0) {
			gerr(err, size, "cannot prune a stale worktree");
			goto out;
		}
		git_worktree_free(w);
		w = NULL;
	}
	if ((r = choose_branch(&c, agent, slugtext, branch, id, resume,
	    wt->branch, err, size)) < 0)
		goto out;
	git_oid roid, loid;
	if (r == 1 && resume && ref_exists(c.repo, "refs/remotes/origin",
	    wt->branch, &roid) && ref_exists(c.repo, "refs/heads", wt->branch,
	    &loid) && !git_oid_equal(&roid, &loid) &&
	    git_graph_descendant_of(c.repo, &roid, &loid) == 1)
		r = 2;  /* pushed from elsewhere since: the origin's is newer */
	if (r == 2) {
		/* the pull request's branch as the origin has it */
		if (!ref_exists(c.repo, "refs/remotes/origin", wt->branch,
		    &roid) || git_commit_lookup(&tip, c.repo, &roid) < 0 ||
		    git_branch_create(&ref, c.repo, wt->branch, tip, 1) < 0 ||
		    branch_conf_set(c.repo, wt->branch, "agqtask", id) < 0 ||
		    branch_conf_set(c.repo, wt->branch, "agqbase", base) < 0) {
			gerr(err, size, "cannot take the branch from the origin");
			goto out;
		}
		wt->reused = 1;
	} else if (r == 0) {
		git_oid oid;
		if (!ref_exists(c.repo, "refs/remotes/origin", base, &oid)) {
			agq_errf(err, size, "no base branch %s on %s", base,
			    c.url);
			errno = ENOENT;
			goto out;
		}
		if (git_commit_lookup(&tip, c.repo, &oid) < 0 ||
		    git_branch_create(&ref, c.repo, wt->branch, tip, 0) < 0 ||
		    branch_conf_set(c.repo, wt->branch, "agqtask", id) < 0 ||
		    branch_conf_set(c.repo, wt->branch, "agqbase", base) < 0) {
			gerr(err, size, "cannot make the branch");
			goto out;
		}
	} else {
		wt->reused = 1;
		if (git_branch_lookup(&ref, c.repo, wt->branch,
		    GIT_BRANCH_LOCAL) < 0) {
			gerr(err, size, "cannot read the branch");
			goto out;
		}
	}
	if (wt_add(&c, id, wt->path, ref, &w, err, size) < 0)
		goto out;
	if (wt_lock(w, id, err, size) < 0 || wt_fill(wt, err, size) < 0)
		goto out;
	rc = 0;
out:
	git_commit_free(tip);
	git_reference_free(ref);
	git_worktree_free(w);
	clone_close(&c);
	return rc;
}

int
agq_git_start_task(const struct agq_spool *sp, const char *origin,
                   const char *base, const char *agent,
                   const char *slugtext, const char *branch,
                   const char *id, struct agq_worktree *wt, char *err,
                   size_t size)
{
	return start_task(sp, origin, base, agent, slugtext, branch, 0, id, wt,
	    err, size);
}

int
agq_git_resume_task(const struct agq_spool *sp, const char *origin,
                    const char *base, const char *branch, const char *id,
                    struct agq_worktree *wt, char *err, size_t size)
{
	return start_task(sp, origin, base, NULL, NULL, branch, 1, id, wt, err,
	    size);
}

static int wt_prune(git_worktree *wt, char *err, size_t size);

int
agq_git_detached(const struct agq_spool *sp, const char *origin,
                 const char *sha, const char *id, struct agq_worktree *wt,
                 char *err, size_t size)
{
	memset(wt, 0, sizeof *wt);
	git_oid oid;
	if (!agq_id_valid(id) || !sha || strlen(sha) != 40 ||
	    git_oid_fromstr(&oid, sha) < 0) {
		agq_errf(err, size, "not a valid task id and commit: %s %s", id,
		    sha ? sha : "(none)");
		errno = EINVAL;
		return -1;
	}
	struct clone c;
	if (clone_open(sp, origin, &c, err, size) < 0)
		return -1;
	int rc = -1;
	git_worktree *w = NULL;
	git_reference *ref = NULL;
	git_commit *tip = NULL;
	git_repository *wr = NULL;
	char *tmp = agq_xasprintf("agq-detached/%s", id);
	snprintf(wt->path, sizeof wt->path, "%s/%s", c.trees, id);
	if (git_commit_lookup(&tip, c.repo, &oid) < 0) {
		agq_errf(err, size, "commit %s is not on %s", sha, c.url);
		errno = ENOENT;
		goto out;
	}
	/* what a crashed attempt of ID left: made again */
	if (git_worktree_lookup(&w, c.repo, id) == 0) {
		if (wt_prune(w, err, size) < 0)
			goto out;
		git_worktree_free(w);
		w = NULL;
	}
	if (git_branch_create(&ref, c.repo, tmp, tip, 1) < 0) {
		gerr(err, size, "cannot make the worktree's branch");
		goto out;
	}
	if (wt_add(&c, id, wt->path, ref, &w, err, size) < 0)
		goto out;
	if (git_repository_open_from_worktree(&wr, w) < 0 ||
	    git_repository_set_head_detached(wr, &oid) < 0 ||
	    git_reference_delete(ref) < 0) {
		gerr(err, size, "cannot detach the worktree");
		goto out;
	}
	if (wt_lock(w, id, err, size) < 0)
		goto out;
	snprintf(wt->head, sizeof wt->head, "%s", sha);
	rc = 0;
out:
	git_repository_free(wr);
	git_commit_free(tip);
	git_reference_free(ref);
	git_worktree_free(w);
	clone_close(&c);
	free(tmp);
	return rc;
}

/* Open the repository of the work tree PATH into *REPO.  0, or -1 with
 * ERR. */
static int
tree_open(const char *path, git_repository **repo, char *err, size_t size)
{
	agq_git_lib_init();
	*repo = NULL;
	return git_repository_open(repo, path) < 0 ?
	    gerr(err, size, "not a git work tree") : 0;
}

int
agq_git_here(const char *dir, char **origin, char **base, char *err,
             size_t size)
{
	agq_git_lib_init();
	*origin = *base = NULL;
	git_repository *repo = NULL;
	git_reference *head = NULL;
	int rc = -1;
	if (git_repository_open_ext(&repo, dir, 0, NULL) < 0) {
		gerr(err, size, "not a git repository");
		goto out;
	}
	if (git_repository_head(&head, repo) < 0 ||
	    !git_reference_is_branch(head)) {
		agq_errf(err, size, "HEAD is not on a branch (%s)", dir);
		goto out;
	}
	const char *b = git_reference_shorthand(head);
	char *key = agq_xasprintf("branch.%s.remote", b);
	char *remote = conf_get(repo, key);
	free(key);
	key = agq_xasprintf("branch.%s.merge", b);
	char *merge = conf_get(repo, key);
	free(key);
	if (remote && !strcmp(remote, "origin") && merge &&
	    !strncmp(merge, "refs/heads/", 11))
		*base = agq_xstrdup(merge + 11);
	else
		*base = agq_xstrdup(b);
	free(remote);
	free(merge);
	*origin = conf_get(repo, "remote.origin.url");
	if (!*origin) {
		const char *p = git_repository_is_bare(repo) ?
		    git_repository_path(repo) : git_repository_workdir(repo);
		*origin = agq_xstrdup(p);
		size_t n = strlen(*origin);
		if (n > 1 && (*origin)[n - 1] == '/')
			(*origin)[n - 1] = '\0';
	}
	rc = 0;
out:
	git_reference_free(head);
	git_repository_free(repo);
	return rc;
}

/* Open the worktree at PATH and its git_worktree (NULL when PATH is the
 * main work tree).  0, or -1 with ERR. */
static int
wt_open(const char *path, git_repository **repo, git_worktree **wt,
        char *err, size_t size)
{
	*wt = NULL;
	if (tree_open(path, repo, err, size) < 0)
		return -1;
	if (git_repository_is_worktree(*repo) &&
	    git_worktree_open_from_repository(wt, *repo) < 0) {
		git_repository_free(*repo);
		*repo = NULL;
		return gerr(err, size, "cannot open the worktree");
	}
	return 0;
}

int
agq_git_unlock(const char *path, char *err, size_t size)
{
	git_repository *repo;
	git_worktree *wt;
	if (wt_open(path, &repo, &wt, err, size) < 0)
		return -1;
	int r = wt ? git_worktree_unlock(wt) : 0;
	git_worktree_free(wt);
	git_repository_free(repo);
	return r < 0 ? gerr(err, size, "cannot unlock the worktree") : 0;
}

/* ---- commit, push, apply ---------------------------------------------- */

int
agq_git_signature(const struct agq_spool *sp, struct git_signature **sig)
{
	const char *name = agq_backend_setting(&sp->conf, "git_author_name",
	    "agq");
	const char *em = agq_backend_setting(&sp->conf, "git_author_email",
	    NULL);
	char *email = em ? agq_xstrdup(em) : agq_xasprintf("agq@%s",
	    agq_hostname());
	int r = git_signature_now(sig, name, email);
	free(email);
	return r < 0 ? -1 : 0;
}

int
agq_git_commit(const struct agq_spool *sp, const char *path,
               const char *title, const char *body, const char *id,
               char sha[41], char *err, size_t size)
{
	git_repository *repo = NULL;
	git_index *idx = NULL;
	git_commit *parent = NULL, *merged = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid tid, cid;
	char *msg = NULL;
	int rc = -1;
	if (tree_open(path, &repo, err, size) < 0)
		goto out;
	if (git_repository_index(&idx, repo) < 0 ||
	    git_index_add_all(idx, NULL, GIT_INDEX_ADD_DEFAULT, NULL,
	    NULL) < 0 || git_index_update_all(idx, NULL, NULL, NULL) < 0 ||
	    git_index_write(idx) < 0 || git_index_write_tree(&tid, idx) < 0) {
		gerr(err, size, "cannot stage the changes");
		goto out;
	}
	git_object *h = NULL;
	if (git_revparse_single(&h, repo, "HEAD^{commit}") == 0)
		parent = (git_commit *)h;
	/* a merge in progress (MERGE_HEAD, the conflict iteration's
	 * agq_merge_update_from_base): its commit has two parents */
	git_oid mh;
	if (parent && git_reference_name_to_id(&mh, repo, "MERGE_HEAD") == 0 &&
	    git_commit_lookup(&merged, repo, &mh) < 0) {
		gerr(err, size, "cannot read MERGE_HEAD");
		goto out;
	}
	if (parent && !merged && git_oid_equal(&tid,
	    git_commit_tree_id(parent))) {
		rc = 1;
		goto out;
	}
	if (git_tree_lookup(&tree, repo, &tid) < 0) {
		gerr(err, size, "cannot read the tree");
		goto out;
	}
	if (agq_git_signature(sp, &sig) < 0) {
		gerr(err, size, "bad git_author_name or git_author_email");
		goto out;
	}
	const char *t = title && *title ? title : "agq task";
	msg = agq_xasprintf("%.*s\n\n%s%sAgq-Task: %s\n",
	    (int)strcspn(t, "\r\n"), t, body && *body ? body : "",
	    !body || !*body ? "" : body[strlen(body) - 1] == '\n' ? "\n" :
	    "\n\n", id);
	const git_commit *parents[2] = { parent, merged };
	if (git_commit_create(&cid, repo, "HEAD", sig, sig, NULL, msg, tree,
	    parent ? merged ? 2 : 1 : 0, parents) < 0) {
		gerr(err, size, "cannot commit");
		goto out;
	}
	if (merged && git_repository_state_cleanup(repo) < 0) {
		gerr(err, size, "cannot end the merge");
		goto out;
	}
	git_oid_tostr(sha, 41, &cid);
	rc = 0;
out:
	free(msg);
	git_commit_free(merged);
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(parent);
	git_index_free(idx);
	git_repository_free(repo);
	return rc;
}

/* The lock W/KEY.lock of the clone W/KEY.git that REPO (a worktree's
 * repository) belongs to, taken (flock, exclusive): its descriptor, to
 * close; -1 when REPO is not in such a clone or it cannot be had. */
static int
clone_lock_of(git_repository *repo)
{
	const char *cd = git_repository_commondir(repo);
	size_t n = cd ? strlen(cd) : 0;
	while (n > 1 && cd[n - 1] == '/')
		n--;
	if (n < 5 || strncmp(cd + n - 4, ".git", 4))
		return -1;
	char *lock = agq_xasprintf("%.*s.lock", (int)(n - 4), cd);
	int fd = open(lock, O_RDWR | O_CLOEXEC);
	free(lock);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Set REPO's refs/remotes/origin/BRANCH to OID, which an anonymous
 * remote's push leaves alone (agq_git_remove checks it), under the
 * clone's lock: a fetch (of another task's start) that listed the
 * origin's branches before this push would prune it.  0, or -1 with ERR. */
static int
track_set(git_repository *repo, const char *branch, const git_oid *oid,
          char *err, size_t size)
{
	int lk = clone_lock_of(repo);
	char *track = agq_xasprintf("refs/remotes/origin/%s", branch);
	git_reference *t = NULL;
	int rc = git_reference_create(&t, repo, track, oid, 1, "agq: push") <
	    0 ? gerr(err, size, "cannot update the remote-tracking branch") : 0;
	git_reference_free(t);
	free(track);
	if (lk >= 0)
		close(lk);
	return rc;
}

/* Push SPEC (never forced) from REPO to its origin; on success set
 * refs/remotes/origin/BRANCH to OID (track_set) unless BRANCH is NULL.
 * agq_git_push's return values. */
static int
push_spec(const struct agq_spool *sp, git_repository *repo,
          const char *spec, const char *branch, const git_oid *oid,
          char *err, size_t size)
{
	git_remote *remote = NULL;
	if (origin_remote(repo, &remote, err, size) < 0)
		return -1;
	char *sv[] = { (char *)spec };
	git_strarray specs = { sv, 1 };
	struct cbdata d = { .sp = sp };
	git_push_options po;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks.credentials = cred_cb;
	po.callbacks.push_update_reference = push_ref_cb;
	po.callbacks.payload = &d;
	int rc = -1, r = git_remote_push(remote, &specs, &po);
	if (r == GIT_ENONFASTFORWARD) {
		gerr(err, size, "push rejected");
		rc = 1;
	} else if (r < 0) {
		gerr(err, size, "cannot push");
	} else if (d.reason[0]) {
		agq_errf(err, size, "push rejected: %s", d.reason);
		rc = 1;
	} else {
		rc = branch ? track_set(repo, branch, oid, err, size) : 0;
	}
	git_remote_free(remote);
	return rc;
}

/* Push commit OID, under REPO's reference REF, to refs/heads/BRANCH of
 * the origin at PATH, a repository on this file system.  libgit2's local
 * transport moves the origin's reference without comparing it again
 * after the push's negotiation, so two pushes at once both succeed and
 * the second overwrites the first (seen: two merges into main, one
 * lost).  So: the commit goes over under REF of the origin's own, then
 * the branch moves with git_reference_create_matching(3), from the value
 * OID descends from and only if it still is that value, under the
 * origin's reference lock (as git-receive-pack(1) checks a push's old
 * value), and REF is removed.  agq_git_push's return values. */
static int
push_local(const struct agq_spool *sp, git_repository *repo,
           const char *path, const char *ref, const char *branch,
           const git_oid *oid, char *err, size_t size)
{
	char *spec = agq_xasprintf("%s:%s", ref, ref);
	int rc = push_spec(sp, repo, spec, NULL, oid, err, size);
	free(spec);
	if (rc)
		return rc;
	git_repository *o = NULL;
	git_reference *nr = NULL, *tr = NULL;
	char *bref = agq_xasprintf("refs/heads/%s", branch);
	char hex[41], ohex[41];
	git_oid_tostr(hex, sizeof hex, oid);
	git_oid old;
	rc = -1;
	if (git_repository_open_bare(&o, path) < 0) {
		char *what = agq_xasprintf("cannot open the origin %s", path);
		gerr(err, size, what);
		free(what);
		goto out;
	}
	int behind = 0, r = GIT_ELOCKED;
	/* another writer holding the reference's lock: tried again for
	 * about 100 ms, as git(1)'s core.filesRefLockTimeout default */
	for (int tries = 0; r == GIT_ELOCKED && tries < 10; tries++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		if (tries)
			nanosleep(&ts, NULL);
		int have = git_reference_name_to_id(&old, o, bref) == 0;
		if ((behind = have && !git_oid_equal(&old, oid) &&
		    git_graph_descendant_of(o, oid, &old) != 1))
			break;
		r = have ? git_reference_create_matching(&nr, o, bref, oid, 1,
		    &old, "agq: push") : git_reference_create(&nr, o, bref, oid,
		    0, "agq: push");
	}
	if (behind) {
		agq_errf(err, size, "push rejected: %s is at %s, which %.12s does "
		    "not descend from", branch, git_oid_tostr(ohex, sizeof ohex,
		    &old), hex);
		rc = 1;
	} else if (r == GIT_EMODIFIED || r == GIT_EEXISTS || r == GIT_ELOCKED) {
		agq_errf(err, size, "push rejected: %s moved while %.12s was "
		    "pushed%s", branch, hex, r == GIT_ELOCKED ? " (its lock held "
		    "for 100 ms)" : "");
		rc = 1;
	} else if (r < 0) {
		char *what = agq_xasprintf("cannot move %s of the origin %s",
		    bref, path);
		gerr(err, size, what);
		free(what);
	} else {
		rc = track_set(repo, branch, oid, err, size);
	}
	if (git_reference_lookup(&tr, o, ref) == 0)
		git_reference_delete(tr);
out:
	git_reference_free(tr);
	git_reference_free(nr);
	git_repository_free(o);
	free(bref);
	return rc;
}

int
agq_git_push(const struct agq_spool *sp, const char *path, char *err,
             size_t size)
{
	git_repository *repo = NULL;
	git_reference *head = NULL;
	char *spec = NULL;
	int rc = -1;
	if (tree_open(path, &repo, err, size) < 0)
		goto out;
	if (git_repository_head(&head, repo) < 0 ||
	    !git_reference_is_branch(head)) {
		agq_errf(err, size, "HEAD is not a branch (%s)", path);
		goto out;
	}
	const char *rn = git_reference_name(head);
	spec = agq_xasprintf("%s:%s", rn, rn);
	rc = push_spec(sp, repo, spec, git_reference_shorthand(head),
	    git_reference_target(head), err, size);
out:
	free(spec);
	git_reference_free(head);
	git_repository_free(repo);
	return rc;
}

int
agq_git_push_commit(const struct agq_spool *sp, const char *clone,
                    const char *sha, const char *branch, char *err,
                    size_t size)
{
	git_repository *repo = NULL;
	git_reference *tmp = NULL;
	git_oid oid;
	agq_git_lib_init();
	if (git_oid_fromstr(&oid, sha) < 0)
		return gerr(err, size, "not a commit id");
	if (git_repository_open_bare(&repo, clone) < 0)
		return gerr(err, size, "cannot open the clone");
	/* a push's source is a reference (libgit2): one of its own */
	char *ref = agq_xasprintf("refs/agq/push/%s", sha);
	char *spec = agq_xasprintf("%s:refs/heads/%s", ref, branch);
	char *url = conf_get(repo, "remote.origin.url");
	int rc = git_reference_create(&tmp, repo, ref, &oid, 1, "agq: push") < 0 ?
	    gerr(err, size, "cannot make the reference to push") :
	    url && agq_origin_local(url) ? push_local(sp, repo, url, ref, branch,
	    &oid, err, size) : push_spec(sp, repo, spec, branch, &oid, err,
	    size);
	free(url);
	if (tmp)
		git_reference_delete(tmp);
	git_reference_free(tmp);
	free(spec);
	free(ref);
	git_repository_free(repo);
	return rc;
}

int
agq_git_remote_tip(const char *clone, const char *branch, char sha[41])
{
	git_repository *repo = NULL;
	git_oid oid;
	agq_git_lib_init();
	sha[0] = '\0';
	if (git_repository_open_bare(&repo, clone) < 0)
		return -1;
	int r = ref_exists(repo, "refs/remotes/origin", branch, &oid);
	if (r)
		git_oid_tostr(sha, 41, &oid);
	git_repository_free(repo);
	return r;
}

/* Replay C on ONTO in REPO (git_cherrypick_commit(3)): the new commit's
 * id into OUT, C's author and message kept, the committer SIG; C's change
 * already in ONTO (the same tree): OUT = ONTO.  0, 1 a conflict, -1. */
static int
replay_one(git_repository *repo, git_commit *c, git_commit *onto,
           const git_signature *sig, git_oid *out)
{
	git_index *idx = NULL;
	git_tree *tree = NULL;
	git_oid tid;
	int rc = -1;
	if (git_cherrypick_commit(&idx, repo, c, onto, 0, NULL) < 0)
		return -1;
	if (git_index_has_conflicts(idx)) {
		rc = 1;
		goto out;
	}
	if (git_index_write_tree_to(&tid, idx, repo) < 0)
		goto out;
	if (git_oid_equal(&tid, git_commit_tree_id(onto))) {
		git_oid_cpy(out, git_commit_id(onto));
		rc = 0;
		goto out;
	}
	const git_commit *parents[] = { onto };
	if (git_tree_lookup(&tree, repo, &tid) < 0 ||
	    git_commit_create(out, repo, NULL, git_commit_author(c), sig,
	    git_commit_message_encoding(c), git_commit_message(c), tree, 1,
	    parents) < 0)
		goto out;
	rc = 0;
out:
	git_tree_free(tree);
	git_index_free(idx);
	return rc;
}

int
agq_git_replay(const struct agq_spool *sp, const char *clone,
               const char *sha, const char *onto, char out[41], char *err,
               size_t size)
{
	git_repository *repo = NULL;
	git_revwalk *walk = NULL;
	git_signature *sig = NULL;
	git_commit *c = NULL, *tip = NULL;
	git_oid oid, top;
	int rc = -1;
	agq_git_lib_init();
	if (git_oid_fromstr(&oid, sha) < 0 || git_oid_fromstr(&top, onto) < 0) {
		agq_errf(err, size, "not a commit id: %s", sha);
		errno = EINVAL;
		return -1;
	}
	if (git_repository_open_bare(&repo, clone) < 0)
		return gerr(err, size, "cannot open the clone");
	if (agq_git_signature(sp, &sig) < 0) {
		gerr(err, size, "cannot make the signature");
		goto out;
	}
	if (git_revwalk_new(&walk, repo) < 0 ||
	    git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL |
	    GIT_SORT_REVERSE) < 0 || git_revwalk_push(walk, &oid) < 0 ||
	    git_revwalk_hide(walk, &top) < 0) {
		gerr(err, size, "cannot walk the commits to replay");
		goto out;
	}
	git_oid next;
	while (git_revwalk_next(&next, walk) == 0) {
		if (git_commit_lookup(&c, repo, &next) < 0 ||
		    git_commit_lookup(&tip, repo, &top) < 0) {
			gerr(err, size, "cannot read a commit to replay");
			goto out;
		}
		if (git_commit_parentcount(c) > 1) {
			agq_errf(err, size, "cannot replay the merge commit %s",
			    git_oid_tostr_s(&next));
			goto out;
		}
		int r = replay_one(repo, c, tip, sig, &top);
		if (r != 0) {
			if (r > 0)
				agq_errf(err, size, "commit %.12s conflicts with "
				    "%.12s", git_oid_tostr_s(&next), onto);
			else
				gerr(err, size, "cannot replay a commit");
			rc = r > 0 ? 1 : -1;
			goto out;
		}
		git_commit_free(c);
		git_commit_free(tip);
		c = tip = NULL;
	}
	git_oid_tostr(out, 41, &top);
	rc = 0;
out:
	git_commit_free(c);
	git_commit_free(tip);
	git_revwalk_free(walk);
	git_signature_free(sig);
	git_repository_free(repo);
	return rc;
}

int
agq_git_apply(const char *path, const char *patch, size_t len, char *err,
              size_t size)
{
	git_repository *repo = NULL;
	git_diff *diff = NULL;
	int rc = -1;
	if (tree_open(path, &repo, err, size) < 0)
		goto out;
	if (git_diff_from_buffer(&diff, patch, len) < 0) {
		gerr(err, size, "not a patch");
		rc = 1;
		goto out;
	}
	if (git_diff_num_deltas(diff) == 0) {
		agq_errf(err, size, "not a patch: no file in it");
		rc = 1;
		goto out;
	}
	if (git_apply(repo, diff, GIT_APPLY_LOCATION_WORKDIR, NULL) < 0) {
		gerr(err, size, "patch does not apply");
		rc = 1;
		goto out;
	}
	rc = 0;
out:
	git_diff_free(diff);
	git_repository_free(repo);
	return rc;
}

/* ---- status, remove, gc ----------------------------------------------- */

/* A string or JSON null. */
static json_t *
str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

json_t *
agq_git_status(const char *path, char *err, size_t size)
{
	git_repository *repo;
	git_worktree *wt;
	if (wt_open(path, &repo, &wt, err, size) < 0)
		return NULL;
	json_t *o = json_object();
	git_reference *head = NULL;
	git_commit *hc = NULL;
	git_tree *btree = NULL;
	git_diff *diff = NULL;
	git_diff_stats *st = NULL;
	git_status_list *sl = NULL;
	char *task = NULL, *base = NULL;
	const char *br = NULL;
	char hex[41] = "";
	const char *wd = git_repository_workdir(repo);
	size_t wl = wd ? strlen(wd) : 0;
	json_object_set_new(o, "path", wd ? json_stringn(wd, wl > 1 &&
	    wd[wl - 1] == '/' ? wl - 1 : wl) : json_string(path));
	if (git_repository_head(&head, repo) == 0) {
		if (git_reference_is_branch(head))
			br = git_reference_shorthand(head);
		git_oid_tostr(hex, sizeof hex, git_reference_target(head));
		git_commit_lookup(&hc, repo, git_reference_target(head));
	}
	if (br) {
		task = branch_conf(repo, br, "agqtask");
		base = branch_conf(repo, br, "agqbase");
	}
	json_object_set_new(o, "branch", str_or_null(br));
	json_object_set_new(o, "task", str_or_null(task));
	json_object_set_new(o, "base", str_or_null(base));
	json_object_set_new(o, "head", str_or_null(hex));
	char *url = conf_get(repo, "remote.origin.url");
	json_object_set_new(o, "origin", str_or_null(url));
	free(url);
	git_oid boid, mb;
	int have_base = base && ref_exists(repo, "refs/remotes/origin", base,
	    &boid) && hc;
	size_t ahead, behind;
	if (have_base && git_graph_ahead_behind(&ahead, &behind, repo,
	    git_commit_id(hc), &boid) == 0) {
		json_object_set_new(o, "ahead", json_integer((json_int_t)ahead));
		json_object_set_new(o, "behind",
		    json_integer((json_int_t)behind));
	} else {
		json_object_set_new(o, "ahead", json_null());
		json_object_set_new(o, "behind", json_null());
	}
	git_commit *bc = NULL;
	if (have_base && git_merge_base(&mb, repo, git_commit_id(hc),
	    &boid) == 0 && git_commit_lookup(&bc, repo, &mb) == 0) {
		git_commit_tree(&btree, bc);
		git_commit_free(bc);
	} else if (hc) {
		git_commit_tree(&btree, hc);
	}
	size_t files = 0, ins = 0, del = 0;
	if (git_diff_tree_to_workdir_with_index(&diff, repo, btree,
	    NULL) == 0 && git_diff_get_stats(&st, diff) == 0) {
		files = git_diff_stats_files_changed(st);
		ins = git_diff_stats_insertions(st);
		del = git_diff_stats_deletions(st);
	}
	json_object_set_new(o, "files", json_integer((json_int_t)files));
	json_object_set_new(o, "insertions", json_integer((json_int_t)ins));
	json_object_set_new(o, "deletions", json_integer((json_int_t)del));
	git_status_options so;
	git_status_options_init(&so, GIT_STATUS_OPTIONS_VERSION);
	so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED |
	    GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
	size_t unc = 0;
	if (git_status_list_new(&sl, repo, &so) == 0)
		unc = git_status_list_entrycount(sl);
	json_object_set_new(o, "uncommitted", json_integer((json_int_t)unc));
	json_object_set_new(o, "locked", json_boolean(wt &&
	    git_worktree_is_locked(NULL, wt) > 0));
	git_status_list_free(sl);
	git_diff_stats_free(st);
	git_diff_free(diff);
	git_tree_free(btree);
	git_commit_free(hc);
	git_reference_free(head);
	free(task);
	free(base);
	git_worktree_free(wt);
	git_repository_free(repo);
	return o;
}

/* Remove worktree WT: its directory and administrative files. */
static int
wt_prune(git_worktree *wt, char *err, size_t size)
{
	git_worktree_prune_options po;
	git_worktree_prune_options_init(&po, GIT_WORKTREE_PRUNE_OPTIONS_VERSION);
	po.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED |
	    GIT_WORKTREE_PRUNE_WORKING_TREE;
	return git_worktree_prune(wt, &po) < 0 ?
	    gerr(err, size, "cannot remove the worktree") : 0;
}

int
agq_git_remove(const char *path, int force, char *err, size_t size)
{
	git_repository *repo;
	git_worktree *wt;
	if (wt_open(path, &repo, &wt, err, size) < 0)
		return -1;
	int rc = -1;
	git_reference *head = NULL;
	git_buf why = { 0 };
	if (!wt) {
		agq_errf(err, size, "not an agq worktree (%s)", path);
		errno = EINVAL;
		goto out;
	}
	if (!force && git_worktree_is_locked(&why, wt) > 0) {
		agq_errf(err, size, "worktree locked: %s (%s)", why.ptr ?
		    why.ptr : "", path);
		errno = EBUSY;
		goto out;
	}
	if (!force) {
		git_oid up;
		if (git_repository_head(&head, repo) < 0 ||
		    !git_reference_is_branch(head) ||
		    !ref_exists(repo, "refs/remotes/origin",
		    git_reference_shorthand(head), &up) ||
		    !git_oid_equal(&up, git_reference_target(head))) {
			agq_errf(err, size, "branch %s not pushed (%s)", head ?
			    git_reference_shorthand(head) : "?", path);
			errno = EBUSY;
			goto out;
		}
	}
	rc = wt_prune(wt, err, size);
out:
	git_buf_dispose(&why);
	git_reference_free(head);
	git_worktree_free(wt);
	git_repository_free(repo);
	return rc;
}

/* gc of one clone at PATH: append its worktrees to ARR. */
static void
gc_clone(const struct agq_spool *sp, const char *path, int remove,
         json_t *arr)
{
	git_repository *repo = NULL;
	git_strarray names = { 0 };
	if (git_repository_open_bare(&repo, path) < 0 ||
	    git_worktree_list(&names, repo) < 0) {
		git_repository_free(repo);
		return;
	}
	size_t stay = 0;        /* worktrees that are not orphans, or that
	                         * could not be removed */
	for (size_t i = 0; i < names.count; i++) {
		git_worktree *wt = NULL;
		if (git_worktree_lookup(&wt, repo, names.strings[i]) < 0)
			continue;
		const char *id = names.strings[i];
		json_t *o = json_object();
		json_object_set_new(o, "path", json_string(git_worktree_path(wt)));
		json_object_set_new(o, "clone", json_string(path));
		json_object_set_new(o, "task", json_string(id));
		git_repository *wr = NULL;
		git_reference *head = NULL;
		const char *br = NULL;
		if (git_worktree_validate(wt) == 0 &&
		    git_repository_open_from_worktree(&wr, wt) == 0 &&
		    git_repository_head(&head, wr) == 0 &&
		    git_reference_is_branch(head))
			br = git_reference_shorthand(head);
		json_object_set_new(o, "branch", str_or_null(br));
		git_reference_free(head);
		git_repository_free(wr);
		int locked = git_worktree_is_locked(NULL, wt) > 0;
		json_object_set_new(o, "locked", json_boolean(locked));
		struct agq_loc loc;
		int st = agq_id_valid(id) && agq_task_find(sp, id, &loc) == 0 ?
		    loc.state : AGQ_ST_NONE;
		json_object_set_new(o, "state", st == AGQ_ST_NONE ? json_null() :
		    json_string(agq_state_name(st)));
		int orphan = st == AGQ_ST_DONE || st == AGQ_ST_DEAD ||
		    (st == AGQ_ST_NONE && !locked);
		json_object_set_new(o, "orphan", json_boolean(orphan));
		if (!orphan)
			stay++;
		if (orphan && remove) {
			char err[512];
			if (wt_prune(wt, err, sizeof err) < 0) {
				json_object_set_new(o, "error", json_string(err));
				stay++;
			} else {
				json_object_set_new(o, "removed", json_true());
			}
		}
		json_array_append_new(arr, o);
		git_worktree_free(wt);
	}
	git_strarray_dispose(&names);
	/* A clone of a local origin that is gone, with no worktree left (on
	 * a dry run: none that would stay): nothing can be fetched into it
	 * or pushed from it again. */
	char *url = conf_get(repo, "remote.origin.url");
	struct stat st;
	int gone = url && url[0] == '/' && stay == 0 && stat(url, &st) < 0 &&
	    errno == ENOENT;
	git_repository_free(repo);
	if (gone) {
		json_t *o = json_pack("{s:s, s:s, s:n, s:n, s:b, s:n, s:b, s:s}",
		    "path", path, "clone", path, "task", "branch", "locked", 0,
		    "state", "orphan", 1, "origin", url);
		if (remove) {
			char *trees = agq_xasprintf("%.*s.trees",
			    (int)(strlen(path) - 4), path);
			if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 ||
			    (nftw(trees, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
			    errno != ENOENT))
				json_object_set_new(o, "error", json_sprintf(
				    "cannot remove the clone: %s", strerror(errno)));
			else
				json_object_set_new(o, "removed", json_true());
			free(trees);
		}
		json_array_append_new(arr, o);
	}
	free(url);
}

json_t *
agq_git_gc(const struct agq_spool *sp, int remove, char *err, size_t size)
{
	agq_git_lib_init();
	char *ws = agq_git_workspace(sp);
	json_t *arr = json_array();
	DIR *d = opendir(ws);
	if (!d) {
		if (errno != ENOENT) {
			agq_errf(err, size, "cannot read the workspace: %s (%s)",
			    strerror(errno), ws);
			json_decref(arr);
			arr = NULL;
		}
		free(ws);
		return arr;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (e->d_name[0] == '.' || n < 5 ||
		    strcmp(e->d_name + n - 4, ".git"))
			continue;
		char *p = agq_xasprintf("%s/%s", ws, e->d_name);
		char *lock = agq_xasprintf("%.*s.lock", (int)(strlen(p) - 4), p);
		int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0 && flock(fd, LOCK_EX) == 0)
			gc_clone(sp, p, remove, arr);
		if (fd >= 0)
			close(fd);
		free(lock);
		free(p);
	}
	closedir(d);
	free(ws);
	return arr;
}
