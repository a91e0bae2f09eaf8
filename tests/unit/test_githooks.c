/* Unit tests for lib/githooks.c on real repositories made with git(1) in
 * a temp dir (git(1) only sets up): where hooks go (core.hooksPath
 * relative, absolute, "~/", a bare repository), the scripts' quoting,
 * a hook agq did not write refused with nothing written, and the branch's
 * task. */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

static char dir[] = "/tmp/agq-unit-githooks-XXXXXX";

/* git -C DIR/SUB ARGS..., quietly: 0 when it succeeded. */
static int
git(const char *sub, const char *args)
{
	char *cmd = agq_xasprintf("git -C '%s/%s' %s >/dev/null 2>&1", dir, sub,
	    args);
	int r = system(cmd);
	free(cmd);
	return r;
}

/* DIR/REL, in a static buffer. */
static const char *
at(const char *rel)
{
	static char p[4][4096];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, rel);
	return p[k];
}

/* Does the file PATH hold the text S? */
static int
holds(const char *path, const char *s)
{
	size_t len;
	char *b = agq_read_file(path, 1 << 20, &len, NULL);
	int yes = b && strstr(b, s);
	free(b);
	return yes;
}

/* agq_githooks_dir of DIR/REL equals WANT (DIR/WANT when it is relative). */
static int
hooks_at(const char *rel, const char *want)
{
	char err[512], *h = NULL;
	int ok = agq_githooks_dir(at(rel), &h, err, sizeof err) == 0 &&
	    !strcmp(h, want[0] == '/' ? want : at(want));
	if (!ok)
		printf("# %s: got %s (%s)\n", rel, h ? h : "-", h ? "" : err);
	free(h);
	return ok;
}

int
main(void)
{
	if (!mkdtemp(dir) || system("git --version >/dev/null 2>&1")) {
		printf("1..0 # SKIP no temp dir or no git\n");
		return 0;
	}
	char err[1024];
	mkdir(at("r"), 0755);
	CHECK(git("r", "init -q -b main") == 0 && mkdir(at("r/sub"), 0755) == 0,
	    "a repository");
	CHECK(hooks_at("r/sub", "r/.git/hooks"),
	    "no core.hooksPath: .git/hooks, found from a subdirectory");
	git("r", "config core.hooksPath hk");
	CHECK(hooks_at("r/sub", "r/hk"),
	    "relative core.hooksPath: from the top of the work tree");
	git("r", "config core.hooksPath /srv/hooks");
	CHECK(hooks_at("r", "/srv/hooks"), "absolute core.hooksPath");
	git("r", "config core.hooksPath '~/agq-hooks'");
	char *home = agq_xasprintf("%s/agq-hooks", getenv("HOME"));
	CHECK(hooks_at("r", home), "core.hooksPath ~/: the home directory");
	free(home);
	mkdir(at("b.git"), 0755);
	git("b.git", "init -q --bare");
	git("b.git", "config core.hooksPath hk");
	CHECK(hooks_at("b.git", "b.git/hk"),
	    "a bare repository: relative to the repository");
	char *h = NULL;
	CHECK(agq_githooks_dir(at("none"), &h, err, sizeof err) < 0 &&
	    strstr(err, "not a git repository"), "no repository: an error");

	/* install: the spool and bin paths quoted for sh(1) */
	git("r", "config core.hooksPath hk");
	json_t *rep = NULL;
	const char *spool = "/tmp/it's a spool";
	int r = agq_githooks_install(at("r"), "/opt/agq bin", spool, 0, &rep,
	    err, sizeof err);
	CHECK(r == 0 && json_array_size(rep) == 2, "installed");
	CHECK(rep && !strcmp(json_string_value(json_object_get(json_array_get(
	    rep, 0), "state")), "installed"), "the report says installed");
	json_decref(rep);
	struct stat st;
	CHECK(stat(at("r/hk/pre-push"), &st) == 0 && (st.st_mode & 0777) ==
	    0755, "pre-push, mode 0755 whatever the umask");
	CHECK(holds(at("r/hk/pre-push"), "\nspool='/tmp/it'\\''s a spool'\n") &&
	    holds(at("r/hk/pre-push"), "\nagq_verify='/opt/agq bin/agq-verify'\n"),
	    "paths single-quoted, a quote as '\\''");
	CHECK(holds(at("r/hk/pre-push"), "\n" AGQ_HOOK_MARK "\n"), "the marker");
	char *cmd = agq_xasprintf("sh -n '%s' && sh -n '%s'", at("r/hk/pre-push"),
	    at("r/hk/post-commit.sample"));
	CHECK(system(cmd) == 0, "both parse as sh scripts");
	free(cmd);
	CHECK(access(at("r/hk/post-commit"), F_OK) < 0,
	    "no post-commit without SUBMIT");
	r = agq_githooks_install(at("r"), "/opt/agq", "/s", 1, &rep, err,
	    sizeof err);
	CHECK(r == 0 && !strcmp(json_string_value(json_object_get(
	    json_array_get(rep, 1), "state")), "installed") &&
	    !strcmp(json_string_value(json_object_get(json_array_get(rep, 0),
	    "state")), "replaced"), "again: its own hook replaced");
	json_decref(rep);
	CHECK(holds(at("r/hk/pre-push"), "\nspool='/s'\n"), "rewritten");

	/* a hook agq did not write: refused, nothing written */
	FILE *f = fopen(at("r/hk/pre-push"), "w");
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	r = agq_githooks_install(at("r"), "/x", "/t", 1, &rep, err, sizeof err);
	CHECK(r == 1 && strstr(err, "pre-push exists and agq did not write it"),
	    "a hook not agq's: refused");
	CHECK(rep && !strcmp(json_string_value(json_object_get(json_array_get(
	    rep, 0), "state")), "refused"), "the report says refused");
	json_decref(rep);
	CHECK(holds(at("r/hk/pre-push"), "exit 0") &&
	    holds(at("r/hk/post-commit"), "\nspool='/s'\n"),
	    "nothing written, not even the other hook");

	/* the branch's task */
	char id[72];
	git("r", "config branch.a/fix.agqtask t-1");
	CHECK(agq_githooks_branch_task(at("r/sub"), "a/fix", id, err,
	    sizeof err) == 1 && !strcmp(id, "t-1"), "a task's branch");
	CHECK(agq_githooks_branch_task(at("r"), "main", id, err, sizeof err) ==
	    0, "another branch: none");
	git("r", "config branch.bad.agqtask ../x");
	CHECK(agq_githooks_branch_task(at("r"), "bad", id, err, sizeof err) <
	    0 && strstr(err, "not a task id"), "a bad id: an error");
	cmd = agq_xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		printf("# cannot remove %s\n", dir);
	free(cmd);
	agq_git_lib_done();
	DONE();
}
