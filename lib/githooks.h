/*
 * githooks.h - githooks.c: the git hooks agq installs into a repository
 * (agq-git install-hooks, agq-git(1); issue 16): a pre-push hook that
 * runs agq-verify(1) on the verify steps of the agq task whose branch is
 * pushed and refuses the push when they fail, and a post-commit hook
 * that submits a task with agq-submit(1), installed as a sample unless
 * asked for; and the branch-to-task lookup the pre-push hook makes.
 * Through libgit2; never runs git(1).  Uses util and the branch
 * configuration git.c writes (branch.BRANCH.agqtask, git.h).
 * Conventions are those of util.h; functions taking ERR (SIZE bytes)
 * fill it with one line saying what failed and why when they fail.
 *
 * The hooks are small sh(1) scripts (githooks(5)) calling agq's programs
 * by absolute path, with the spool's path written in.  Each carries the
 * line AGQ_HOOK_MARK as its second line: a hook file without it is not
 * agq's and is never overwritten.
 */
#ifndef AGQ_GITHOOKS_H
#define AGQ_GITHOOKS_H

#include <stddef.h>
#include <jansson.h>

#define AGQ_HOOK_MARK "# agq-hook: written by agq-git install-hooks " \
                      "(agq-git(1)), which may rewrite it"

/* The hooks directory of the repository at or above DIR (found as
 * git_repository_open_ext(3) finds it, searching up): the configuration
 * value core.hooksPath when set, "~/" expanded (git_config_get_path(3)),
 * a relative one taken from the top of DIR's work tree, or from the
 * repository itself when it is bare, as git(1) runs hooks there
 * (githooks(5), git-config(1) core.hooksPath); else the hooks/
 * directory of the repository's common directory
 * (git_repository_item_path(3), GIT_REPOSITORY_ITEM_HOOKS), which a
 * linked worktree shares.  malloc'd into *HOOKS.  0, or -1 with ERR. */
int agq_githooks_dir(const char *dir, char **hooks, char *err, size_t size);

/* Install the hooks into agq_githooks_dir(DIR) (created when missing):
 * pre-push, and post-commit when SUBMIT, else post-commit.sample.  They
 * call the programs of BINDIR (an absolute path: agq-git, agq-verify,
 * agq-submit) on the spool SPOOL (absolute).  A hook file that exists
 * without AGQ_HOOK_MARK (not agq's, or a symbolic link) is refused:
 * then nothing at all is written.  Each file is written whole under a
 * temporary name, mode 0755, fsync(2)ed and renamed into place.
 * *REPORT gets a new array of {"hook" (its file name), "path", "state":
 * "installed" (new), "replaced" (agq's own, rewritten) or "refused"},
 * also on refusal.  0 written; 1 refused, with ERR naming the first
 * refused file; -1 with ERR for any other failure (*REPORT NULL). */
int agq_githooks_install(const char *dir, const char *bindir,
                         const char *spool, int submit, json_t **report,
                         char *err, size_t size);

/* The task owning BRANCH (a branch name, "agq/fix-x", not a ref) of the
 * repository at or above DIR: its configuration value
 * branch.BRANCH.agqtask (git.h), a valid task id (agq_id_valid), into
 * ID (>= 65 bytes).  1 found; 0 the branch is not an agq task's; -1 with
 * ERR (no repository, an unreadable configuration). */
int agq_githooks_branch_task(const char *dir, const char *branch,
                             char *id, char *err, size_t size);

#endif
