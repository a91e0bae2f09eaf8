/*
 * reviewer.c - one attempt of a review task (reviewer.h, agq-task(5)
 * "Review tasks"): a worktree detached at the commit under review, the
 * reviewer cmd or agent run there, the verdict recorded and posted as a
 * pull request review.  Runs in agq-attempt (attempt.c dispatches to it),
 * in the task process agq-run's shepherd forks: as the task's user, with
 * the environment a task's cmd gets (the agent's keys only for the
 * backend, which attempt.c calls).
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/wait.h>
#include <unistd.h>
#include <git2.h>

#include "util.h"
#include "conf.h"
#include "task.h"
#include "spool.h"
#include "open.h"
#include "steps.h"
#include "git.h"
#include "prrec.h"
#include "forge.h"
#include "reviewer.h"

static const char *
jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* ---- the verdict in an answer ------------------------------------------ */

/* The first ```json fenced block of TEXT: its content, malloc'd, or NULL. */
static char *
json_fence(const char *text)
{
	for (const char *p = text; (p = strstr(p, "```")); p += 3) {
		if (p != text && p[-1] != '\n')
			continue;
		const char *q = p + 3;
		while (*q == ' ')
			q++;
		if (strncasecmp(q, "json", 4) || (q[4] != '\n' &&
		    q[4] != '\r' && q[4] != ' '))
			continue;
		q = strchr(q, '\n');
		if (!q)
			return NULL;
		q++;
		const char *end = q;
		while ((end = strstr(end, "```")) && end != q && end[-1] != '\n')
			end += 3;
		if (!end)
			return NULL;
		return agq_xasprintf("%.*s", (int)(end - q), q);
	}
	return NULL;
}

json_t *
agq_review_parse(const char *text, char *why, size_t size)
{
	if (!text || !*text)
		return agq_errf(why, size, "an empty answer"), NULL;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		char *f = json_fence(text);
		j = f ? json_loads(f, JSON_REJECT_DUPLICATES, NULL) : NULL;
		free(f);
	}
	if (!json_is_object(j)) {
		json_decref(j);
		char shown[64];
		agq_human(shown, sizeof shown, text);
		return agq_errf(why, size, "no JSON object in the answer, nor "
		    "in a ```json block (it begins \"%.40s\")", shown), NULL;
	}
	const json_t *v = json_object_get(j, "verdict");
	const json_t *c = json_object_get(j, "comments");
	const char *vs = json_string_value(v);
	json_t *out = NULL;
	size_t i;
	json_t *e;
	int strs = 1;
	json_array_foreach(c, i, e)
		strs &= json_is_string(e);
	if (!v) {
		agq_errf(why, size, "no \"verdict\" member");
	} else if (!vs || (strcmp(vs, "approve") &&
	    strcmp(vs, "request_changes"))) {
		char shown[64];
		agq_human(shown, sizeof shown, vs ? vs : "(not a string)");
		agq_errf(why, size, "verdict \"%.40s\" is not approve or "
		    "request_changes", shown);
	} else if (c && (!json_is_array(c) || !strs)) {
		agq_errf(why, size, "comments is not an array of strings");
	} else {
		out = json_pack("{s:s, s:O}", "verdict", vs, "comments", c ?
		    (json_t *)c : json_array());
		if (!c)         /* the json_array() above: O took a reference */
			json_decref(json_object_get(out, "comments"));
	}
	json_decref(j);
	return out;
}

/* ---- the agent reviewer's prompt ---------------------------------------- */

/* The longest run of backticks in S. */
static size_t
ticks(const char *s)
{
	size_t best = 0, run = 0;
	for (; s && *s; s++) {
		run = *s == '`' ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

/* The coder task P's verification report into F: its verify_report, else
 * its last attempt's verify: the status and each step. */
static void
put_report(FILE *f, const json_t *p)
{
	const json_t *rep = json_object_get(p, "verify_report");
	if (!json_is_object(rep))
		rep = json_object_get(agq_task_last_attempt(p), "verify");
	if (!json_is_object(rep)) {
		fputs("\n\nVerification report: none", f);
		return;
	}
	fprintf(f, "\n\nVerification report: %s (%lld passed, %lld failed)",
	    jstr(rep, "status") ? jstr(rep, "status") : "unknown",
	    (long long)json_integer_value(json_object_get(rep, "passed")),
	    (long long)json_integer_value(json_object_get(rep, "failed")));
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(rep, "steps"), i, r) {
		char *what = agq_verify_step_label(r);
		fprintf(f, "\n- %s %s: %s", jstr(r, "type") ? jstr(r, "type") :
		    "step", what, jstr(r, "status") ? jstr(r, "status") : "?");
		free(what);
	}
}

char *
agq_review_prompt(const json_t *t, const json_t *parent, const char *diff)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	const char *p = jstr(t, "prompt");
	fputs(p && *p ? p : "Review this change: does it do what the task "
	    "asked, meet its success criteria, and is it correct, safe and "
	    "maintainable?", f);
	fprintf(f, "\n\n## The task the change was made for (%s)",
	    jstr(t, "parent") ? jstr(t, "parent") : "unknown");
	if (!parent) {
		fputs("\n\n(not found in the spool)", f);
	} else {
		if (jstr(parent, "title"))
			fprintf(f, "\n\nTitle: %s", jstr(parent, "title"));
		if (jstr(parent, "prompt"))
			fprintf(f, "\n\nPrompt:\n%s", jstr(parent, "prompt"));
		const json_t *crit = json_object_get(parent, "success_criteria");
		if (json_array_size(crit)) {
			fputs("\n\nSuccess criteria:", f);
			size_t i;
			json_t *c;
			json_array_foreach(crit, i, c)
				fprintf(f, "\n- %s", json_string_value(c) ?
				    json_string_value(c) : "");
		}
		put_report(f, parent);
	}
	const json_t *g = json_object_get(t, "git");
	fprintf(f, "\n\n## The change (git diff %s...%s)\n\n",
	    jstr(g, "base") ? jstr(g, "base") : "main",
	    jstr(t, "head") ? jstr(t, "head") : "HEAD");
	size_t n = ticks(diff) + 1;
	if (n < 3)
		n = 3;
	fprintf(f, "%.*sdiff\n%s%s%.*s", (int)n, "``````````````````````````"
	    "``````````````````````````````````````", diff ? diff : "",
	    diff && *diff && diff[strlen(diff) - 1] != '\n' ? "\n" : "",
	    (int)n, "````````````````````````````````````````````````````````"
	    "````````");
	fputs("\n\n## Your answer\n\nAnswer with one JSON object and nothing "
	    "else:\n{\"verdict\": \"approve\" or \"request_changes\", "
	    "\"comments\": [\"...\"]}\napprove when the change is ready to "
	    "merge; request_changes when it is not, each comment saying one "
	    "thing that must change.", f);
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	return s;
}

/* ---- the diff ------------------------------------------------------------ */

static char *
git_fail(char *err, size_t size, const char *what)
{
	const git_error *e = git_error_last();
	agq_errf(err, size, "%s: %s", what, e && e->message ? e->message :
	    "unknown error");
	return NULL;
}

char *
agq_review_diff(const char *path, const char *base, const char *head,
                size_t max, char *err, size_t size)
{
	agq_git_lib_init();
	git_repository *repo = NULL;
	git_commit *hc = NULL, *bc = NULL;
	git_tree *ht = NULL, *bt = NULL;
	git_diff *diff = NULL;
	git_buf buf = { 0 };
	char *out = NULL;
	char *ref = agq_xasprintf("refs/remotes/origin/%s", base);
	git_oid hoid, boid, mb;
	if (git_repository_open(&repo, path) < 0)
		git_fail(err, size, "cannot open the worktree");
	else if (git_oid_fromstr(&hoid, head) < 0 ||
	    git_commit_lookup(&hc, repo, &hoid) < 0)
		git_fail(err, size, "cannot read the commit under review");
	else if (git_reference_name_to_id(&boid, repo, ref) < 0)
		git_fail(err, size, "cannot read the base branch");
	else if (git_merge_base(&mb, repo, &boid, &hoid) < 0 ||
	    git_commit_lookup(&bc, repo, &mb) < 0)
		git_fail(err, size, "no merge base of the base and the head");
	else if (git_commit_tree(&ht, hc) < 0 || git_commit_tree(&bt, bc) < 0 ||
	    git_diff_tree_to_tree(&diff, repo, bt, ht, NULL) < 0 ||
	    git_diff_to_buf(&buf, diff, GIT_DIFF_FORMAT_PATCH) < 0)
		git_fail(err, size, "cannot make the diff");
	else if (buf.size <= max)
		out = agq_xasprintf("%.*s", (int)buf.size, buf.ptr ? buf.ptr : "");
	else {
		size_t n = max;
		while (n > 0 && buf.ptr[n - 1] != '\n')
			n--;
		out = agq_xasprintf("%.*s[diff cut: %zu of %zu bytes shown]\n",
		    (int)n, buf.ptr, n, buf.size);
	}
	git_buf_dispose(&buf);
	git_diff_free(diff);
	git_tree_free(ht);
	git_tree_free(bt);
	git_commit_free(hc);
	git_commit_free(bc);
	git_repository_free(repo);
	free(ref);
	return out;
}

/* ---- the attempt ---------------------------------------------------------- */

/* The attempt failed: AG's status STATUS and error (printf FMT), on
 * standard error too.  Returns 1, the attempt's status. */
static int
failf(json_t *ag, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
failf(json_t *ag, const char *status, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_object_set_new(ag, "status", json_string(status));
	json_object_set_new(ag, "error", json_string(msg));
	dprintf(2, "agq-run: %s\n", msg);
	return 1;
}

/* Run the reviewer command CMD in the current directory, its standard
 * output read into *OUT (malloc'd, at most AGQ_REVIEW_OUT_MAX bytes kept,
 * then a note; *LEN its length).  The wait status, or -1 with errno. */
static int
run_reviewer(const json_t *cmd, char **out, size_t *len)
{
	int pfd[2];
	*out = NULL;
	*len = 0;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		/* in the attempt's process group, killed with it (a timeout);
		 * standard input is agq-attempt's /dev/null */
		if (dup2(pfd[1], 1) < 0)
			_exit(126);
		agq_exec_cmd(cmd);
	}
	close(pfd[1]);
	char *buf = agq_xmalloc(AGQ_REVIEW_OUT_MAX + 1);
	size_t n = 0, dropped = 0;
	char tmp[8192];
	for (;;) {
		ssize_t r = n < AGQ_REVIEW_OUT_MAX ? read(pfd[0], buf + n,
		    AGQ_REVIEW_OUT_MAX - n) : read(pfd[0], tmp, sizeof tmp);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (n < AGQ_REVIEW_OUT_MAX)
			n += (size_t)r;
		else
			dropped += (size_t)r;
	}
	close(pfd[0]);
	buf[n] = '\0';
	if (dropped) {
		while (n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0x80)
			n--;            /* not inside a character */
		buf[n] = '\0';
		*out = agq_xasprintf("%s\n[output cut: %zu more bytes not kept]",
		    buf, dropped);
		free(buf);
	} else {
		*out = buf;
	}
	*len = strlen(*out);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

/* The verdict of the reviewer command of T, in the current directory,
 * into *V ({verdict, comments}); 0, or the attempt's status with AG's
 * error. */
static int
review_cmd(const json_t *t, json_t *ag, json_t **v)
{
	char *text;
	size_t len;
	int st = run_reviewer(json_object_get(t, "cmd"), &text, &len);
	int code = st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	json_object_set_new(ag, "iterations", json_pack("[{s:i, s:i}]",
	    "iteration", 1, "exit", st >= 0 && WIFSIGNALED(st) ?
	    128 + WTERMSIG(st) : code));
	int rc = 0;
	if (st < 0)
		rc = failf(ag, "review_failed", "cannot run the reviewer "
		    "command: %s", strerror(errno));
	else if (WIFSIGNALED(st))
		rc = failf(ag, "review_failed", "the reviewer command was killed "
		    "by signal %d (%s): no verdict", WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	else if (code == 126 || code == 127)
		rc = failf(ag, "review_failed", "the reviewer command could not "
		    "run (exit %d): no verdict", code);
	if (rc) {
		free(text);
		return rc;
	}
	/* the comment: its output, blanks around it dropped */
	char *c = text;
	while (isspace((unsigned char)*c))
		c++;
	size_t n = strlen(c);
	while (n > 0 && isspace((unsigned char)c[n - 1]))
		n--;
	json_t *comments = json_array();
	if (n)
		json_array_append_new(comments, agq_json_text(c, n));
	else if (code)
		json_array_append_new(comments, json_sprintf("the reviewer "
		    "command exited with status %d", code));
	*v = json_pack("{s:s, s:o}", "verdict", code ? "request_changes" :
	    "approve", "comments", comments);
	free(text);
	return 0;
}

/* The verdict of T's agent reviewer, run through CALL (ARG) in the
 * worktree at DIR of spool SP, into *V; 0, or the attempt's status. */
static int
review_agent(const struct agq_spool *sp, const json_t *t, const char *dir,
             json_t *ag, agq_review_call *call, void *arg, json_t **v)
{
	const json_t *g = json_object_get(t, "git");
	const char *base = jstr(g, "base") ? jstr(g, "base") : "main";
	char err[1024];
	char *diff = agq_review_diff(dir, base, jstr(t, "head"),
	    AGQ_REVIEW_DIFF_MAX, err, sizeof err);
	if (!diff)
		return failf(ag, "review_failed", "cannot make the diff to "
		    "review: %s", err);
	const char *pid = jstr(t, "parent");
	struct agq_loc loc;
	json_t *parent = pid && agq_id_valid(pid) ? agq_task_find_settled(sp,
	    pid, &loc, AGQ_SETTLE_VIEW_MS) : NULL;
	json_t *input = json_deep_copy(t);
	/* a diff of a file that is not UTF-8: its bytes shown as '?' */
	char *text = agq_review_prompt(t, parent, diff);
	json_object_set_new(input, "prompt", agq_json_text(text, strlen(text)));
	free(text);
	free(diff);
	json_decref(parent);
	/* the answer is a verdict, not an edit: no patch contract */
	json_object_del(input, "git");
	json_object_del(input, "context");
	json_object_del(input, "success_criteria");
	json_object_del(input, "edit");
	int rc = 0;
	json_t *res = call(input, arg, &rc);
	json_decref(input);
	if (!res)
		return rc ? rc : 1;
	char why[512];
	*v = agq_review_parse(jstr(res, "output"), why, sizeof why);
	json_decref(res);
	if (!*v)
		return failf(ag, "no_verdict", "reviewer answered no verdict: %s",
		    why);
	return 0;
}

/* Markdown for the forge: the verdict V of review task T. */
static char *
review_body(const json_t *t, const json_t *v)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	int ok = !strcmp(jstr(v, "verdict"), "approve");
	fprintf(f, "**agq review: %s** (round %lld, review task `%s`)\n",
	    ok ? "approved" : "changes requested",
	    (long long)json_integer_value(json_object_get(t, "round")),
	    agq_task_id(t));
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(v, "comments"), i, c)
		fprintf(f, "\n%s\n", json_string_value(c));
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	return s;
}

/* Post verdict V of T on the forge of SP, noted in AG. */
static void
post(const struct agq_spool *sp, const json_t *t, const json_t *v,
     json_t *ag)
{
	const char *prid = jstr(t, "pr");
	json_t *rec = prid ? agq_pr_find(sp, prid) : NULL;
	char err[1024] = "", event[16] = "";
	int rc;
	if (!*agq_backend_setting(&sp->conf, "forge", "")) {
		json_decref(rec);
		return;         /* no forge: nothing to post on */
	}
	if (!rec) {
		rc = AGQ_FORGE_FAIL;
		snprintf(err, sizeof err, "no PR record %s", prid ? prid :
		    "(the task names none)");
	} else {
		char *body = review_body(t, v);
		rc = agq_forge_review(sp, rec, jstr(t, "head"),
		    !strcmp(jstr(v, "verdict"), "approve"), body, event, err,
		    sizeof err);
		free(body);
	}
	json_decref(rec);
	if (rc == AGQ_FORGE_OFF)
		return;
	if (rc == AGQ_FORGE_OK) {
		json_object_set_new(ag, "forge_review", json_string(event));
	} else {
		json_object_set_new(ag, "forge_error", json_string(err));
		dprintf(2, "agq-run: cannot post the review: %s\n", err);
	}
}

/* Set the review's variables of T's cmd: AGQ_PR, AGQ_PARENT, AGQ_HEAD,
 * AGQ_BASE, AGQ_ROUND, AGQ_WORKTREE. */
static void
review_env(const json_t *t, const char *dir)
{
	static const char *const v[][2] = { { "AGQ_PR", "pr" },
	    { "AGQ_PARENT", "parent" }, { "AGQ_HEAD", "head" } };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		setenv(v[i][0], jstr(t, v[i][1]) ? jstr(t, v[i][1]) : "", 1);
	const char *base = jstr(json_object_get(t, "git"), "base");
	setenv("AGQ_BASE", base ? base : "main", 1);
	char r[32];
	snprintf(r, sizeof r, "%lld",
	    (long long)json_integer_value(json_object_get(t, "round")));
	setenv("AGQ_ROUND", r, 1);
	setenv("AGQ_WORKTREE", dir, 1);
}

int
agq_review_attempt(const json_t *t, const char *agent, json_t *ag,
                   agq_review_call *call, void *arg)
{
	const json_t *g = json_object_get(t, "git");
	const char *repo = jstr(g, "repo"), *head = jstr(t, "head");
	const char *id = agq_task_id(t);
	if (!repo || !head || !id)
		return failf(ag, "review_failed", "a review task needs git.repo "
		    "and head");
	struct agq_spool sp;
	if (agq_spool_open(&sp, getenv("AGQ_SPOOL"), NULL) < 0)
		return failf(ag, "review_failed", "cannot open the spool: %s",
		    strerror(errno));
	struct agq_worktree wt;
	char err[PATH_MAX + 1024];
	int rc;
	json_t *v = NULL;
	if (agq_git_detached(&sp, repo, head, id, &wt, err, sizeof err) < 0) {
		rc = failf(ag, "git_failed", "%s", err);
		goto out;
	}
	json_object_set_new(ag, "git", json_pack("{s:s, s:s, s:s}", "repo",
	    repo, "head", head, "worktree", wt.path));
	if (chdir(wt.path) < 0) {
		rc = failf(ag, "git_failed", "cannot enter the worktree: %s (%s)",
		    strerror(errno), wt.path);
	} else {
		review_env(t, wt.path);
		rc = json_object_get(t, "cmd") ? review_cmd(t, ag, &v) :
		    review_agent(&sp, t, wt.path, ag, call, arg, &v);
	}
	if (chdir("/") < 0)
		(void)0;        /* the worktree goes: leave it */
	if (agq_git_remove(wt.path, 1, err, sizeof err) < 0)
		dprintf(2, "agq-run: cannot remove the worktree: %s\n", err);
	if (rc == 0) {
		json_object_set_new(v, "head", json_string(head));
		json_object_set(ag, "verdict", v);
		json_object_set_new(ag, "status", json_string("done"));
		json_object_del(ag, "error");
		post(&sp, t, v, ag);
		dprintf(2, "agq-run: review %s by %s: %s\n", id, agent ? agent :
		    "agq", jstr(v, "verdict"));
	}
out:
	json_decref(v);
	agq_spool_close(&sp);
	return rc;
}
