/* githooks.c - the git hooks agq installs into a repository
 * (githooks.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "util.h"
#include "git.h"
#include "githooks.h"

/* ERR = "WHAT: libgit2's last message (DIR)"; returns -1. */
static int
gerr(char *err, size_t size, const char *what, const char *dir)
{
	const git_error *g = git_error_last();
	agq_errf(err, size, "%s: %s (%s)", what, g && g->message ? g->message :
	    "libgit2 failed", dir);
	return -1;
}

/* The value of configuration KEY of the repository at or above DIR
 * (found as git_repository_open_ext(3) finds it, libgit2 initialized)
 * into B: as a path, "~/" expanded (git_config_get_path(3)), when PATH.
 * 1 set, 0 not set, -1 with ERR.  When KEEP is not NULL and it did not
 * fail, the repository stays open in *KEEP (git_repository_free). */
static int
conf_value(const char *dir, const char *key, int path, git_buf *b,
           git_repository **keep, char *err, size_t size)
{
	git_repository *r;
	git_config *cfg;
	agq_git_lib_init();
	if (git_repository_open_ext(&r, dir, 0, NULL) < 0)
		return gerr(err, size, "not a git repository", dir);
	int rc = -1;
	if (git_repository_config_snapshot(&cfg, r) < 0) {
		gerr(err, size, "cannot read the configuration", dir);
	} else {
		int f = path ? git_config_get_path(b, cfg, key) :
		    git_config_get_string_buf(b, cfg, key);
		rc = f == 0 ? 1 : f == GIT_ENOTFOUND ? 0 : gerr(err, size,
		    "cannot read the configuration", dir);
		git_config_free(cfg);
	}
	if (keep && rc >= 0)
		*keep = r;
	else
		git_repository_free(r);
	return rc;
}

/* S without one trailing '/' (but "/" as it is), malloc'd. */
static char *
no_slash(const char *s)
{
	size_t l = strlen(s);
	return agq_xasprintf("%.*s", (int)(l > 1 && s[l - 1] == '/' ? l - 1 :
	    l), s);
}

int
agq_githooks_dir(const char *dir, char **hooks, char *err, size_t size)
{
	git_repository *r;
	git_buf b = { 0 };
	int found = conf_value(dir, "core.hooksPath", 1, &b, &r, err, size);
	if (found < 0) {
		git_buf_dispose(&b);
		return -1;
	}
	int rc = 0;
	if (found && b.ptr[0] == '/') {
		*hooks = agq_xstrdup(b.ptr);
	} else if (found) {
		/* where git(1) runs hooks: the work tree's top, else the
		 * repository (a bare one) */
		char *top = no_slash(git_repository_workdir(r) ?
		    git_repository_workdir(r) : git_repository_path(r));
		*hooks = agq_xasprintf("%s/%s", top, b.ptr);
		free(top);
	} else if (git_repository_item_path(&b, r,
	    GIT_REPOSITORY_ITEM_HOOKS) < 0) {
		rc = gerr(err, size, "cannot find the hooks directory", dir);
	} else {
		*hooks = no_slash(b.ptr);
	}
	git_buf_dispose(&b);
	git_repository_free(r);
	return rc;
}

/* S single-quoted for sh(1): every ' as '\''.  malloc'd. */
static char *
shq(const char *s)
{
	char *q = agq_xmalloc(4 * strlen(s) + 3), *p = q;
	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/* The pre-push hook: git(1) gives it lines "LOCALREF LOCALSHA REMOTEREF
 * REMOTESHA" on standard input (githooks(5), pre-push); a deletion has
 * an all-zero LOCALSHA.  agq-git branch-task prints "ID<TAB>FILE" for
 * an agq task's branch that has verify steps, nothing for any other. */
static const char pre_push[] =
"#!/bin/sh\n"
AGQ_HOOK_MARK "\n"
"# pre-push: pushing the branch of an agq task (branch.BRANCH.agqtask)\n"
"# runs agq-verify on that task's verify steps, here, and a failing step\n"
"# refuses the push.  git push --no-verify skips it.\n"
"spool=%s\n"
"agq_git=%s\n"
"agq_verify=%s\n"
"while read -r lref lsha rref rsha; do\n"
"\tcase $lsha in *[!0]*) ;; *) continue ;; esac\n"
"\tcase $lref in refs/heads/*) ;; *) continue ;; esac\n"
"\tbranch=${lref#refs/heads/}\n"
"\ttask=$(\"$agq_git\" -s \"$spool\" branch-task \"$branch\") || exit 1\n"
"\t[ -n \"$task\" ] || continue\n"
"\tid=${task%%%%\t*}\n"
"\tfile=${task#*\t}\n"
"\techo \"agq pre-push: verifying task $id before pushing $branch\" >&2\n"
"\tif ! \"$agq_verify\" --steps \"$file\" </dev/null >&2; then\n"
"\t\techo \"agq pre-push: task $id: verification failed, not pushing $branch\" >&2\n"
"\t\texit 1\n"
"\tfi\n"
"done\n"
"exit 0\n";

/* The post-commit hook: a task for each commit made here. */
static const char post_commit[] =
"#!/bin/sh\n"
AGQ_HOOK_MARK "\n"
"# post-commit: each commit made here submits an agq task that runs CMD\n"
"# in this work tree (agq-submit(1)); set AGQ_HOOK_CMD or edit cmd below.\n"
"# As post-commit.sample it does nothing: rename it to post-commit, or\n"
"# install it with agq-git install-hooks --submit-sample.\n"
"spool=%s\n"
"agq_submit=%s\n"
"cmd=${AGQ_HOOK_CMD:-'make check'}\n"
"commit=$(git rev-parse --short HEAD 2>/dev/null)\n"
"\"$agq_submit\" -s \"$spool\" -q --title \"post-commit ${commit:-HEAD}: $cmd\" \\\n"
"    -C \"$PWD\" -- /bin/sh -c \"$cmd\" </dev/null\n";

/* Write BUF into DIR/NAME: a temporary file of mode 0755 beside it,
 * written, fsync'd, renamed over it.  0, or -1 with errno. */
static int
write_hook(const char *dir, const char *name, const char *buf)
{
	char *tmp = agq_xasprintf("%s/.%s.agq-%ld", dir, name, (long)getpid());
	char *dst = agq_xasprintf("%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0755);
	int rc = -1, e = 0;
	if (fd >= 0 && agq_write_all(fd, buf, strlen(buf)) == 0 &&
	    fchmod(fd, 0755) == 0 && fsync(fd) == 0) {
		if (close(fd) == 0 && rename(tmp, dst) == 0)
			rc = 0;
		fd = -1;
	}
	e = errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	else
		agq_fsync_dir(dir);
	free(tmp);
	free(dst);
	errno = e;
	return rc;
}

/* Is the file at PATH agq's hook?  1 yes, 0 it is missing, -1 it exists
 * and is not (or cannot be read, or is a symbolic link: ELOOP). */
static int
ours(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	size_t len;
	char *s = agq_read_file(path, 1 << 20, &len, NULL);
	int r = s && strstr(s, "\n" AGQ_HOOK_MARK "\n") ? 1 : -1;
	free(s);
	return r;
}

int
agq_githooks_install(const char *dir, const char *bindir, const char *spool,
                     int submit, json_t **report, char *err, size_t size)
{
	*report = NULL;
	char *hooks;
	if (agq_githooks_dir(dir, &hooks, err, size) < 0)
		return -1;
	if (agq_mkdirs(hooks, 0755) < 0) {
		agq_errf(err, size, "cannot make the hooks directory: %s (%s)",
		    strerror(errno), hooks);
		free(hooks);
		return -1;
	}
	char *qspool = shq(spool);
	char *git = agq_xasprintf("%s/agq-git", bindir);
	char *verify = agq_xasprintf("%s/agq-verify", bindir);
	char *submit_p = agq_xasprintf("%s/agq-submit", bindir);
	char *qgit = shq(git), *qverify = shq(verify), *qsubmit = shq(submit_p);
	struct { const char *name; char *text; } h[2] = {
		{ "pre-push", agq_xasprintf(pre_push, qspool, qgit, qverify) },
		{ submit ? "post-commit" : "post-commit.sample",
		  agq_xasprintf(post_commit, qspool, qsubmit) },
	};
	json_t *rep = json_array();
	int rc = 0;
	for (int i = 0; i < 2; i++) {
		char *p = agq_xasprintf("%s/%s", hooks, h[i].name);
		int o = ours(p);
		if (o < 0 && rc == 0) {
			agq_errf(err, size, "%s exists and agq did not write it "
			    "(%s)", h[i].name, p);
			rc = 1;
		}
		json_array_append_new(rep, json_pack("{s:s, s:s, s:s}", "hook",
		    h[i].name, "path", p, "state", o < 0 ? "refused" : o ?
		    "replaced" : "installed"));
		free(p);
	}
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (write_hook(hooks, h[i].name, h[i].text) < 0) {
			agq_errf(err, size, "cannot write the hook: %s (%s/%s)",
			    strerror(errno), hooks, h[i].name);
			rc = -1;
		}
	}
	for (int i = 0; i < 2; i++)
		free(h[i].text);
	free(qgit);
	free(qverify);
	free(qsubmit);
	free(git);
	free(verify);
	free(submit_p);
	free(qspool);
	free(hooks);
	if (rc < 0)
		json_decref(rep);
	else
		*report = rep;
	return rc;
}

int
agq_githooks_branch_task(const char *dir, const char *branch, char *id,
                         char *err, size_t size)
{
	git_buf b = { 0 };
	char *key = agq_xasprintf("branch.%s.agqtask", branch);
	int rc = conf_value(dir, key, 0, &b, NULL, err, size);
	if (rc == 1 && !agq_id_valid(b.ptr))
		rc = agq_errf(err, size, "%s is not a task id: '%s' (%s)", key,
		    b.ptr, dir);
	else if (rc == 1)
		snprintf(id, 65, "%s", b.ptr);
	free(key);
	git_buf_dispose(&b);
	return rc;
}
