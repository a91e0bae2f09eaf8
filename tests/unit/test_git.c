/* Unit tests for lib/git.c on real repositories: a bare origin made with
 * git(1) in a temp dir (git(1) only sets up and inspects here), then the
 * clone and fetch, worktrees and branches, commit, push, a rejected push,
 * patches, status, removal, gc and the PR records. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

static char dir[] = "/tmp/agq-unit-git-XXXXXX";

/* Run the shell command FMT (printf-style) in DIR with a fixed identity;
 * its exit status. */
__attribute__((format(printf, 1, 2))) static int
sh(const char *fmt, ...)
{
	char cmd[8192], full[9000];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(full, sizeof full, "cd %s && export GIT_AUTHOR_NAME=t "
	    "GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t "
	    "&& { %s; } >/dev/null 2>&1", dir, cmd);
	return system(full);
}

/* The first line of the output of shell command FMT, in a static buffer. */
__attribute__((format(printf, 1, 2))) static const char *
out(const char *fmt, ...)
{
	static char line[4096];
	char cmd[8192], full[9000];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(full, sizeof full, "cd %s && { %s; } 2>/dev/null", dir, cmd);
	line[0] = '\0';
	FILE *p = popen(full, "r");
	if (p) {
		if (!fgets(line, sizeof line, p))
			line[0] = '\0';
		pclose(p);
	}
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

int
main(void)
{
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	CHECK(sh("git init -q -b main src && cd src && printf 'one\\ntwo\\n"
	    "three\\n' > a.txt && printf 'build/\\n' > .gitignore && "
	    "git add . && git commit -qm init && cd .. && "
	    "git clone -q --bare src origin.git") == 0, "a bare origin");
	char conf[512], root[512], origin[512], ws[512];
	snprintf(conf, sizeof conf, "%s/agq.conf", dir);
	snprintf(root, sizeof root, "%s/spool", dir);
	snprintf(origin, sizeof origin, "%s/origin.git", dir);
	snprintf(ws, sizeof ws, "%s/ws", dir);
	char text[2048];
	snprintf(text, sizeof text, "workspace_root = %s\ngit_author_name = "
	    "Agq Bot\ngit_author_email = bot@example.org\n", ws);
	put(conf, text);
	struct agq_spool sp;
	CHECK(agq_spool_open(&sp, root, conf) == 0, "spool opened");
	struct stat st;
	char p[8300];
	snprintf(p, sizeof p, "%s/prs/merged", root);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700,
	    "prs/merged made, mode 0700");
	char *w = agq_git_workspace(&sp);
	CHECK(!strcmp(w, ws), "workspace_root from agq.conf");
	free(w);

	char slug[49];
	CHECK(!strcmp(agq_git_slug("Fix the  typo in README.md!", slug),
	    "fix-the-typo-in-readme-md"), "slug");
	CHECK(!strcmp(agq_git_slug("??", slug), "task"), "empty slug");
	CHECK(strlen(agq_git_slug("a very long title that goes on and on "
	    "and on beyond forty-eight", slug)) <= 48 &&
	    slug[strlen(slug) - 1] != '-', "slug at most 48, no '-' at the end");

	/* clone and worktree: a new branch from origin/main */
	char err[1024], sha[41];
	struct agq_worktree a, b, a2;
	char *clone = NULL;
	CHECK(agq_git_sync_origin(&sp, origin, &clone, err, sizeof err) == 0,
	    "clone on first use");
	CHECK(clone && !strncmp(clone, ws, strlen(ws)), "clone under the "
	    "workspace");
	/* the origin moves on: the next lease's base is the newest */
	CHECK(sh("cd src && echo four >> a.txt && git commit -qam second && "
	    "git push -q ../origin.git main") == 0, "origin advanced");
	char tip[64];
	snprintf(tip, sizeof tip, "%s", out("git -C origin.git rev-parse main"));
	CHECK(agq_git_start_task(&sp, origin, "main", "claude", "Fix the typo",
	    NULL, "t1", &a, err, sizeof err) == 0, "start task t1");
	CHECK(!strcmp(a.branch, "claude/fix-the-typo") && !a.reused,
	    "t1: branch AGENT/SLUG, new");
	CHECK(!strcmp(a.head, tip), "t1 starts at origin/main's newest tip "
	    "(fetched)");
	snprintf(p, sizeof p, "%s/a.txt", a.path);
	CHECK(access(p, F_OK) == 0, "t1's worktree checked out");
	CHECK(!strcmp(out("git -C %s worktree list --porcelain | grep -c "
	    "locked", clone), "1"), "t1's worktree locked");
	CHECK(agq_git_start_task(&sp, origin, "main", "claude", "Fix the typo",
	    NULL, "t2", &b, err, sizeof err) == 0 &&
	    !strcmp(b.branch, "claude/fix-the-typo-2") && strcmp(a.path,
	    b.path), "t2: same slug, suffix -2, its own tree");
	CHECK(agq_git_start_task(&sp, origin, "main", "claude", "x", "claude/"
	    "fix-the-typo", "t3", &a2, err, sizeof err) < 0 && strstr(err,
	    "belongs to task t1"), "an explicit branch of another task: "
	    "refused");
	CHECK(agq_git_start_task(&sp, origin, "dev", "claude", "y", NULL, "t4",
	    &a2, err, sizeof err) < 0 && strstr(err, "no base branch dev"),
	    "a missing base: said");
	CHECK(agq_git_start_task(&sp, "/nonexistent/repo", "main", NULL, "y",
	    NULL, "t5", &a2, err, sizeof err) < 0 && strstr(err,
	    "cannot fetch"), "a missing repository: said");
	CHECK(!strcmp(out("ls %s | grep -c '^repo-.*git$'", ws), "0"),
	    "and no empty clone left of it");

	/* commit: nothing changed, then changes with an ignored file */
	CHECK(agq_git_commit(&sp, a.path, "Fix the typo", NULL, "t1", sha, err,
	    sizeof err) == 1, "no change: 1, nothing committed");
	snprintf(p, sizeof p, "%s/a.txt", a.path);
	put(p, "one\ntwo\nthree\nfour\nfive\n");
	snprintf(p, sizeof p, "%s/new.txt", a.path);
	put(p, "new\n");
	snprintf(p, sizeof p, "%s/build", a.path);
	mkdir(p, 0700);
	snprintf(p, sizeof p, "%s/build/obj", a.path);
	put(p, "ignored\n");
	json_t *s = agq_git_status(a.path, err, sizeof err);
	CHECK(s && json_integer_value(json_object_get(s, "uncommitted")) == 2 &&
	    json_integer_value(json_object_get(s, "ahead")) == 0 &&
	    !strcmp(json_string_value(json_object_get(s, "task")), "t1") &&
	    json_is_true(json_object_get(s, "locked")), "status before commit");
	json_decref(s);
	CHECK(agq_git_commit(&sp, a.path, "Fix the typo\nsecond line",
	    "verify: 1 step passed", "t1", sha, err, sizeof err) == 0,
	    "commit");
	CHECK(!strcmp(out("git -C %s log -1 --format=%%H", a.path), sha),
	    "the branch is at the commit");
	CHECK(!strcmp(out("git -C %s log -1 --format='%%an <%%ae> %%cn'",
	    a.path), "Agq Bot <bot@example.org> Agq Bot"),
	    "author and committer from agq.conf");
	CHECK(!strcmp(out("git -C %s log -1 --format=%%s", a.path),
	    "Fix the typo"), "subject: the title's first line");
	CHECK(!strcmp(out("git -C %s log -1 --format='%%(trailers:key=Agq-Task,"
	    "valueonly)'", a.path), "t1"), "trailer Agq-Task: t1");
	CHECK(!strcmp(out("git -C %s show --name-only --format= HEAD | tr '\\n' "
	    "' '", a.path), "a.txt new.txt "), ".gitignore'd build/ not "
	    "committed");
	s = agq_git_status(a.path, err, sizeof err);
	CHECK(s && json_integer_value(json_object_get(s, "ahead")) == 1 &&
	    json_integer_value(json_object_get(s, "uncommitted")) == 0 &&
	    json_integer_value(json_object_get(s, "files")) == 2,
	    "status after commit: 1 ahead, 2 files, clean");
	json_decref(s);

	/* push, and the origin has the branch at that sha */
	CHECK(agq_git_remove(a.path, 0, err, sizeof err) < 0 &&
	    errno == EBUSY, "a locked tree is not removed");
	CHECK(agq_git_push(&sp, a.path, err, sizeof err) == 0, "push");
	CHECK(!strcmp(out("git -C origin.git rev-parse claude/fix-the-typo"),
	    sha), "the origin has the branch at the commit");

	/* a retry reuses the tree and the branch with its commits */
	CHECK(agq_git_start_task(&sp, origin, "main", "claude", "Fix the typo",
	    NULL, "t1", &a2, err, sizeof err) == 0 && a2.reused &&
	    !strcmp(a2.path, a.path) && !strcmp(a2.head, sha),
	    "retry: same tree, branch and commits");

	/* rejected: someone else moved the branch on the origin */
	CHECK(sh("git clone -q origin.git other && cd other && git checkout "
	    "-q claude/fix-the-typo && echo other > o.txt && git add o.txt && "
	    "git commit -qm other && git push -q origin claude/fix-the-typo")
	    == 0, "the origin's branch moved by another clone");
	snprintf(p, sizeof p, "%s/b.txt", a.path);
	put(p, "b\n");
	CHECK(agq_git_commit(&sp, a.path, "More", NULL, "t1", sha, err,
	    sizeof err) == 0, "a second commit");
	int r = agq_git_push(&sp, a.path, err, sizeof err);
	printf("# %s\n", err);
	CHECK(r == 1 && strstr(err, "rejected") && (strstr(err,
	    "fast") || strstr(err, "not present locally")), "non-fast-forward push: 1 "
	    "with the reason");
	/* a commit pushed by id (a merge task's result), never forced */
	char *cl = NULL;
	CHECK(agq_git_sync_origin(&sp, origin, &cl, err, sizeof err) == 0,
	    "the clone, fetched");
	CHECK(agq_git_push_commit(&sp, cl, sha, "claude/fix-the-typo", err,
	    sizeof err) == 1 && strstr(err, "rejected"), "push_commit: not "
	    "onto a branch it does not descend from (1)");
	CHECK(agq_git_push_commit(&sp, cl, sha, "merged-here", err,
	    sizeof err) == 0 && !strcmp(out("git -C origin.git rev-parse "
	    "merged-here"), sha) && !strcmp(out("git -C %s rev-parse "
	    "refs/remotes/origin/merged-here", cl), sha) && strcmp(out("git "
	    "-C %s for-each-ref refs/agq", cl), "") == 0, "push_commit: a new "
	    "branch at the commit, tracked, no reference of its own left");
	free(cl);

	/* a later review round continues its pull request's branch, run by
	 * another agent or on another host (agq_git_resume_task) */
	struct agq_worktree r1, r2;
	char s6[41];
	CHECK(agq_git_start_task(&sp, origin, "main", "a2", "Resume me", NULL,
	    "t6", &r1, err, sizeof err) == 0 && !strcmp(r1.branch,
	    "a2/resume-me"), "t6 on a2");
	snprintf(p, sizeof p, "%s/r.txt", r1.path);
	put(p, "r\n");
	CHECK(agq_git_commit(&sp, r1.path, "R", NULL, "t6", s6, err,
	    sizeof err) == 0 && agq_git_push(&sp, r1.path, err, sizeof err) ==
	    0, "t6 committed and pushed");
	CHECK(agq_git_unlock(r1.path, err, sizeof err) == 0 &&
	    agq_git_remove(r1.path, 0, err, sizeof err) == 0, "round 1 over: "
	    "its worktree removed");
	CHECK(agq_git_resume_task(&sp, origin, "main", "a2/resume-me", "t6",
	    &r2, err, sizeof err) == 0 && r2.reused && !strcmp(r2.branch,
	    "a2/resume-me") && !strcmp(r2.head, s6), "round 2 on another "
	    "agent: the same branch at its commit, not a new one");
	CHECK(agq_git_unlock(r2.path, err, sizeof err) == 0 &&
	    agq_git_remove(r2.path, 0, err, sizeof err) == 0, "round 2 over");
	/* pushed from another host meanwhile: the origin's newer tip */
	CHECK(sh("cd other && git fetch -q origin && git checkout -q -B "
	    "rm a2/resume-me origin/a2/resume-me 2>/dev/null || git checkout "
	    "-q -b rm origin/a2/resume-me; echo x > x.txt && git add x.txt && "
	    "git commit -qm x && git push -q origin rm:a2/resume-me") == 0,
	    "the branch moved on from another host");
	char tip6[64];
	snprintf(tip6, sizeof tip6, "%s", out("git -C origin.git rev-parse "
	    "a2/resume-me"));
	CHECK(agq_git_resume_task(&sp, origin, "main", "a2/resume-me", "t6",
	    &r2, err, sizeof err) == 0 && !strcmp(r2.head, tip6),
	    "round 3: at the origin's newer tip");
	CHECK(agq_git_unlock(r2.path, err, sizeof err) == 0 &&
	    agq_git_remove(r2.path, 0, err, sizeof err) == 0, "round 3 over");
	/* a host that never had the branch: made from the origin's */
	CHECK(sh("git -C %s branch -D a2/resume-me >/dev/null", clone) == 0,
	    "the local branch gone");
	CHECK(agq_git_resume_task(&sp, origin, "main", "a2/resume-me", "t6",
	    &r2, err, sizeof err) == 0 && !strcmp(r2.head, tip6) &&
	    !strcmp(out("git -C %s config branch.a2/resume-me.agqtask", clone),
	    "t6"), "another host: the branch from the origin's, the task's");
	CHECK(agq_git_unlock(r2.path, err, sizeof err) == 0 &&
	    agq_git_remove(r2.path, 0, err, sizeof err) == 0, "and over");
	errno = 0;
	CHECK(agq_git_resume_task(&sp, origin, "main", "a2/gone", "t7", &r2,
	    err, sizeof err) < 0 && errno == ENOENT && strstr(err,
	    "a2/gone is on neither"), "a branch on neither side: ENOENT, "
	    "never a new branch from the base");

	/* two pushes onto one local origin's main at once (two merge
	 * tasks): exactly one wins, the other is refused; none is lost
	 * (libgit2's local transport alone let both "succeed") */
	int wins = 0, refused = 0, lost = 0;
	for (int round = 0; round < 6; round++) {
		char c1[64], c2[64];
		CHECK(sh("cd other && git fetch -q origin && git checkout -q -B "
		    "race origin/main && echo %d > r1.txt && git add r1.txt && "
		    "git commit -qm r1 && git push -q origin HEAD:refs/heads/"
		    "race1-%d && git checkout -q -B race origin/main && echo %d > "
		    "r2.txt && git add r2.txt && git commit -qm r2 && git push -q "
		    "origin HEAD:refs/heads/race2-%d", round, round, round,
		    round) == 0, "two commits on main's tip");
		snprintf(c1, sizeof c1, "%s", out("git -C origin.git rev-parse "
		    "race1-%d", round));
		snprintf(c2, sizeof c2, "%s", out("git -C origin.git rev-parse "
		    "race2-%d", round));
		char *cl2 = NULL;
		CHECK(agq_git_sync_origin(&sp, origin, &cl2, err, sizeof err) ==
		    0, "fetched");
		pid_t kid[2];
		const char *shas[2] = { c1, c2 };
		for (int k = 0; k < 2; k++) {
			if ((kid[k] = fork()) == 0) {
				char e2[1024];
				int prc = agq_git_push_commit(&sp, cl2, shas[k], "main",
				    e2, sizeof e2);
				_exit(prc & 0xff);
			}
		}
		int won = -1;
		for (int k = 0; k < 2; k++) {
			int wst;
			waitpid(kid[k], &wst, 0);
			int rc = WIFEXITED(wst) ? WEXITSTATUS(wst) : 99;
			if (rc == 0) {
				wins++;
				won = k;
			} else if (rc == 1) {
				refused++;
			}
		}
		if (won < 0 || strcmp(out("git -C origin.git rev-parse main"),
		    shas[won]))
			lost++;
		free(cl2);
	}
	printf("# wins %d refused %d lost %d\n", wins, refused, lost);
	CHECK(wins == 6 && refused == 6 && lost == 0, "6 races: one push "
	    "won each, the other was refused, main is the winner's");
	CHECK(!strcmp(out("git -C origin.git for-each-ref refs/agq | wc -l"),
	    "0"), "no reference of agq's left in the origin");

	/* patches */
	snprintf(p, sizeof p, "%s/a.txt", b.path);
	const char *good = "diff --git a/a.txt b/a.txt\n--- a/a.txt\n"
	    "+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n";
	CHECK(agq_git_apply(b.path, good, strlen(good), err, sizeof err) == 0,
	    "a patch applies");
	CHECK(!strcmp(out("sed -n 2p %s", p), "TWO"), "and changed the file");
	const char *bad = "diff --git a/a.txt b/a.txt\n--- a/a.txt\n"
	    "+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-zwei\n+ZWEI\n three\n";
	r = agq_git_apply(b.path, bad, strlen(bad), err, sizeof err);
	printf("# %s\n", err);
	CHECK(r == 1 && strstr(err, "does not apply") && strlen(err) >
	    strlen("patch does not apply: "), "a patch that does not apply: 1 "
	    "with libgit2's reason");
	CHECK(agq_git_apply(b.path, "hello\n", 6, err, sizeof err) == 1,
	    "not a patch: 1");

	/* gc: t2 has no task but is locked; unlocked, it is an orphan */
	json_t *g = agq_git_gc(&sp, 0, err, sizeof err);
	CHECK(g && json_array_size(g) == 2, "gc lists 2 worktrees");
	size_t i, orphans = 0;
	json_t *e;
	json_array_foreach(g, i, e)
		orphans += json_is_true(json_object_get(e, "orphan"));
	CHECK(orphans == 0, "locked trees without tasks are not orphans");
	json_decref(g);
	CHECK(agq_git_unlock(b.path, err, sizeof err) == 0, "unlock t2");
	g = agq_git_gc(&sp, 1, err, sizeof err);
	orphans = 0;
	json_array_foreach(g, i, e)
		orphans += json_is_true(json_object_get(e, "removed"));
	json_decref(g);
	CHECK(orphans == 1 && access(b.path, F_OK) < 0 && access(a.path,
	    F_OK) == 0, "gc removed t2's tree only");
	CHECK(!strcmp(out("git -C %s rev-parse --verify -q "
	    "claude/fix-the-typo-2 >/dev/null && echo kept", clone), "kept"),
	    "its branch kept");
	CHECK(agq_git_remove(a.path, 1, err, sizeof err) == 0 &&
	    access(a.path, F_OK) < 0, "remove --force");
	CHECK(!strcmp(out("git -C %s fsck --no-dangling >/dev/null 2>&1 && echo ok",
	    clone), "ok"), "the clone is sound");

	/* PR records */
	json_t *pr, *pr2;
	CHECK(agq_pr_open(&sp, "t1", origin, "main", "claude/fix-the-typo",
	    sha, "Fix the typo", &pr) == 0, "open a PR record");
	const char *prid = json_string_value(json_object_get(pr, "id"));
	snprintf(p, sizeof p, "%s/prs/open/%s.json", root, prid);
	CHECK(access(p, F_OK) == 0, "prs/open/PRID.json");
	CHECK(json_is_null(json_object_get(pr, "url")) &&
	    json_is_null(json_object_get(pr, "number")) &&
	    json_is_string(json_object_get(pr, "created_at")), "url and "
	    "number null without a forge");
	CHECK(agq_pr_open(&sp, "t1", origin, "main", "claude/fix-the-typo",
	    "0000", "again", &pr2) == 1 && json_equal(json_object_get(pr,
	    "id"), json_object_get(pr2, "id")) && !strcmp(json_string_value(
	    json_object_get(pr2, "head")), sha), "a second open returns the "
	    "first record");
	json_decref(pr2);
	CHECK(agq_pr_move(&sp, prid, "merged") == 0 && access(p, F_OK) < 0,
	    "moved to merged");
	CHECK(agq_pr_open(&sp, "t1", origin, "main", "claude/fix-the-typo",
	    sha, "x", &pr2) == 1 && !strcmp(json_string_value(json_object_get(
	    pr2, "state")), "merged"), "idempotent in any state");
	json_decref(pr2);
	pr2 = agq_pr_find(&sp, "t1");
	CHECK(pr2 && json_equal(json_object_get(pr, "id"), json_object_get(pr2,
	    "id")), "found by task id");
	json_decref(pr2);
	g = agq_pr_list(&sp, "open");
	CHECK(g && json_array_size(g) == 0, "none open");
	json_decref(g);
	g = agq_pr_list(&sp, NULL);
	CHECK(g && json_array_size(g) == 1, "one in all");
	json_decref(g);
	CHECK(agq_pr_move(&sp, "pr-none", "closed") < 0 && errno == ENOENT,
	    "moving no record: ENOENT");
	json_decref(pr);

	/* a mission's branch: the tip on the origin, commits replayed */
	CHECK(sh("cd src && git checkout -qb m main && echo x > x.txt && "
	    "git add x.txt && git commit -qm x && git checkout -qb n main && "
	    "echo y > y.txt && git add y.txt && git commit -qm y && "
	    "git checkout -qb c main && echo other > x.txt && git add x.txt && "
	    "git commit -qm c && git push -q ../origin.git m n c") == 0,
	    "branches m, n and c on the origin");
	free(clone);
	clone = NULL;
	CHECK(agq_git_sync_origin(&sp, origin, &clone, err, sizeof err) == 0,
	    "fetched");
	char tm[41], tn[41], tc[41], rs[41];
	CHECK(agq_git_remote_tip(clone, "m", tm) == 1 && !strcmp(tm,
	    out("git -C origin.git rev-parse m")), "remote tip of m");
	CHECK(agq_git_remote_tip(clone, "none", tn) == 0 && !tn[0],
	    "no such branch: 0");
	CHECK(agq_git_remote_tip(clone, "n", tn) == 1 &&
	    agq_git_remote_tip(clone, "c", tc) == 1, "tips of n and c");
	CHECK(agq_git_replay(&sp, clone, tn, tm, rs, err, sizeof err) == 0,
	    "n replayed on m");
	CHECK(strcmp(rs, tn) && !strcmp(out("git -C %s rev-parse %s^", clone,
	    rs), tm), "a new commit whose parent is m's tip");
	CHECK(!strcmp(out("git -C %s log -1 --format='%%an %%s' %s", clone,
	    rs), "t y") && !strcmp(out("git -C %s log -1 --format=%%cn %s",
	    clone, rs), "Agq Bot") && !strcmp(out("git -C %s show %s:x.txt",
	    clone, rs), "x"), "its author and message kept, committed by agq, "
	    "both changes in it");
	char again[41];
	CHECK(agq_git_replay(&sp, clone, tm, rs, again, err, sizeof err) == 0 &&
	    !strcmp(again, rs), "nothing left to replay: the tip itself");
	CHECK(agq_git_replay(&sp, clone, tc, tm, again, err, sizeof err) == 1 &&
	    strstr(err, "conflicts with"), "a conflicting change: 1, said");
	CHECK(agq_git_push_commit(&sp, clone, rs, "m", err, sizeof err) == 0 &&
	    !strcmp(out("git -C origin.git rev-parse m"), rs),
	    "the replayed commit fast-forwards m");
	CHECK(agq_git_push_commit(&sp, clone, tn, "m", err, sizeof err) == 1,
	    "the unreplayed commit is refused (no force)");

	free(clone);
	agq_spool_close(&sp);
	agq_git_lib_done();
	char rm[600];
	snprintf(rm, sizeof rm, "rm -rf %s", dir);
	if (!unit_failed && !getenv("KEEP"))
		CHECK(system(rm) == 0, "cleanup");
	DONE();
}
