/*
 * attempt.c - one attempt of an agent task (agq-task(5), agq-run(8)):
 * run the backend (or the cmd), then the verify steps, and while steps
 * fail and iterations remain, run the backend again with a corrective
 * prompt (the cmd simply again).  Runs in the task process that agq-run's
 * shepherd forks, in the task's directory, with standard output and
 * error on out/ID/stdout and out/ID/stderr.  Every iteration is written
 * to out/ID/agent.json, which agq-run reads when the attempt ends.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "backends.h"
#include "redact.h"
#include "conf.h"
#include "steps.h"
#include "classify.h"
#include "task.h"
#include "out.h"
#include "verify.h"
#include "spool.h"
#include "open.h"
#include "taskgit.h"
#include "merge.h"
#include "patch.h"
#include "reviewer.h"
#include "attempt.h"

#define FEEDBACK_TAIL 2000      /* bytes of a failed step's output quoted */

extern char **environ;

/* The environment as it came, split by keys_out: KEPT (environ from then
 * on) and KEYENV, the agent's keys, which only a backend gets. */
static char **kept, **keyenv;

/* Take the agent's keys out of environ (agq_env_is_key: the variables of
 * API keys, and values holding a key or token file's content,
 * agq_conf_secrets of $AGQ_CONF), into KEYENV: the task's cmd, its verify
 * steps, setup and cleanup commands and git's hooks run without them;
 * call_backend hands them to the backend (agq-run(8), SECURITY). */
static void
keys_out(void)
{
	struct agq_conf conf;
	memset(&conf, 0, sizeof conf);
	char **sec = agq_conf_load(&conf, NULL) == 0 ?
	    agq_conf_secrets(&conf) : NULL;
	size_t n = 0, k = 0, m = 0;
	while (environ[n])
		n++;
	kept = agq_xmalloc((n + 1) * sizeof *kept);
	keyenv = agq_xmalloc((n + 1) * sizeof *keyenv);
	for (size_t i = 0; i < n; i++) {
		if (agq_env_is_key(environ[i], sec))
			keyenv[m++] = environ[i];
		else
			kept[k++] = environ[i];
	}
	kept[k] = keyenv[m] = NULL;
	environ = kept;
	agq_conf_secrets_free(sec);
	agq_conf_free(&conf);
}

/* The environment of backend NAME: environ, and the keys (KEYENV) but
 * for a backend that runs the task's own cmd (shell).  malloc'd array,
 * borrowed strings. */
static char **
backend_env(const char *name)
{
	const struct agq_backend_def *d = agq_backend_def(name);
	int give = keyenv && !(d && d->kind == AGQ_BACKEND_PROCESS);
	size_t n = 0, m = 0;
	while (environ[n])
		n++;
	while (give && keyenv[m])
		m++;
	char **env = agq_xmalloc((n + m + 1) * sizeof *env);
	memcpy(env, environ, n * sizeof *env);
	if (m)
		memcpy(env + n, keyenv, m * sizeof *env);
	env[n + m] = NULL;
	return env;
}

/* Write TEXT and a newline to the file NAME of the output directory open
 * as DFD (OUTDIR, for messages), replaced atomically. */
static void
put_text(int dfd, const char *outdir, const char *name, const char *text)
{
	char *buf = agq_xasprintf("%s\n", text);
	if (agq_write_at(dfd, name, buf, strlen(buf)) < 0)
		dprintf(2, "agq-run: cannot write %s/%s: %s\n", outdir, name,
		    strerror(errno));
	free(buf);
}

/* Write the progress so far to agent.json in the output directory open
 * as DFD (OUTDIR, for messages), replaced atomically. */
static void
save(int dfd, const char *outdir, json_t *ag)
{
	char *s = json_dumps(ag, JSON_INDENT(2));
	if (s)
		put_text(dfd, outdir, "agent.json", s);
	free(s);
}

/* Run backend NAME with INPUT on standard input; its result object (or an
 * error object when it wrote none).  Its input and result files are in
 * the output directory open as DFD (OUTDIR, for messages). */
static json_t *
call_backend(const char *name, const json_t *input, int dfd,
             const char *outdir)
{
	char *in = agq_xasprintf("%s/backend-input.json", outdir);
	char *exe = agq_backend_path(name);
	json_t *res = NULL;
	char err[600] = "";
	char *js = json_dumps(input, JSON_INDENT(2));
	if (!js || agq_write_at(dfd, "backend-input.json", js,
	    strlen(js)) < 0) {
		snprintf(err, sizeof err, "cannot write the backend input: %s "
		    "(%s)", strerror(errno), in);
		free(js);
		goto out;
	}
	free(js);
	if (access(exe, X_OK) < 0) {
		snprintf(err, sizeof err, "no backend '%s': %s (%s)", name,
		    strerror(errno), exe);
		goto out;
	}
	fflush(NULL);
	char **env = backend_env(name);
	pid_t pid = fork();
	if (pid < 0) {
		free(env);
		snprintf(err, sizeof err, "cannot fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		environ = env;
		int ifd = openat(dfd, "backend-input.json", O_RDONLY |
		    O_NOFOLLOW | O_CLOEXEC);
		int ofd = openat(dfd, "backend-result.json", O_WRONLY | O_CREAT |
		    O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (ifd < 0 || ofd < 0 || dup2(ifd, 0) < 0 || dup2(ofd, 1) < 0)
			_exit(126);
		execl(exe, name, (char *)NULL);
		dprintf(2, "agq-run: cannot run the backend: %s (%s)\n",
		    strerror(errno), exe);
		_exit(127);
	}
	free(env);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, sizeof err, "cannot wait: %s",
			    strerror(errno));
			goto out;
		}
	int rfd = openat(dfd, "backend-result.json", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (rfd >= 0) {
		res = json_loadfd(rfd, 0, NULL);
		close(rfd);
	}
	if (!json_is_object(res) || !json_is_string(json_object_get(res,
	    "status"))) {
		json_decref(res);
		res = NULL;
		if (WIFEXITED(st))
			snprintf(err, sizeof err, "backend '%s' wrote no result "
			    "(exit %d)", name, WEXITSTATUS(st));
		else
			snprintf(err, sizeof err, "backend '%s' wrote no result "
			    "(killed by signal %d)", name, WIFSIGNALED(st) ?
			    WTERMSIG(st) : 0);
	}
out:
	if (!res)
		res = json_pack("{s:s, s:s, s:s}", "backend", name, "status",
		    "error", "error", err);
	free(in);
	free(exe);
	return res;
}

/* Run the task's cmd as a child (standard output and error shared);
 * returns its wait status or -1. */
static int
run_cmd(const json_t *cmd)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		agq_exec_cmd(cmd);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return st;
}

char *
agq_verify_feedback(const json_t *report, int iteration, int max)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	fprintf(f, "Attempt %d of %d did not pass verification. These checks "
	    "failed:", iteration, max);
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(report, "steps"), i, r) {
		const char *st = json_string_value(json_object_get(r, "status"));
		if (!st || !strcmp(st, "pass"))
			continue;
		char *what = agq_verify_step_label(r);
		const char *reason = json_string_value(json_object_get(r,
		    "reason"));
		const char *out = json_string_value(json_object_get(r, "output"));
		size_t ol = out ? strlen(out) : 0;
		const char *tail = ol > FEEDBACK_TAIL ? out + ol - FEEDBACK_TAIL :
		    out;
		fprintf(f, "\n- %s %s: %s%s%s%s",
		    json_string_value(json_object_get(r, "type")), what, st,
		    reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
		if (tail && *tail)
			fprintf(f, "\n  output:\n%s", tail);
		free(what);
	}
	fputs("\nFix these problems so that every check passes.", f);
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	return s;
}

/* The summary of a backend result kept per iteration (output left out:
 * it is in out/ID/output). */
static json_t *
summary(const json_t *res)
{
	static const char *keys[] = { "backend", "status", "model",
	    "tokens_in", "tokens_out", "cost_usd", "endpoint", "duration_ms",
	    "error", "session_id", NULL };
	json_t *o = json_object();
	for (int i = 0; keys[i]; i++) {
		json_t *v = json_object_get(res, keys[i]);
		if (v)
			json_object_set(o, keys[i], v);
	}
	return o;
}

/* The agent CLI session an iteration of backend BACKEND with MODEL
 * ("TOOL" or "TOOL/MODEL") resumes (borrowed, NULL for none): the one
 * the attempt's last iteration left in AG, else the one of the last
 * attempt record of T that has one (agq-run copies it there), in
 * "attempts", else in "previous_attempts" (a review round's, moved there
 * by agq_lc_apply's reset_attempts, or a retried dead task's), when that
 * attempt ran the same backend and CLI (agq-backend(7), Resuming). */
static const json_t *
resume_of(const json_t *t, const json_t *ag, const char *backend,
          const char *model)
{
	json_t *sid = json_object_get(ag, "session_id");
	if (json_is_string(sid))
		return sid;
	static const char *const hist[] = { "attempts", "previous_attempts" };
	for (int h = 0; h < 2; h++) {
		json_t *att = json_object_get(t, hist[h]);
		for (size_t i = json_array_size(att); i-- > 0;) {
			json_t *a = json_array_get(att, i);
			sid = json_object_get(a, "session_id");
			if (!json_is_string(sid))
				continue;
			const char *b = json_string_value(json_object_get(a,
			    "backend"));
			const char *m = json_string_value(json_object_get(a,
			    "model"));
			size_t n = model ? strcspn(model, "/") : 0;
			if (!b || strcmp(b, backend) || !m || !model ||
			    strncmp(m, model, n) || (m[n] && m[n] != '/'))
				return NULL;
			return sid;
		}
	}
	return NULL;
}

static void
add_num(json_t *ag, const char *key, const json_t *v, int real)
{
	if (!json_is_number(v))
		return;
	json_t *cur = json_object_get(ag, key);
	double d = json_number_value(cur) + json_number_value(v);
	json_object_set_new(ag, key, real ? json_real(d) :
	    json_integer((json_int_t)d));
}

/* One call of backend BACKEND for task T: T with its route's model
 * and endpoint (never one the task names itself), FEEDBACK (may be NULL)
 * as "verify_feedback" and the session to resume (resume_of); the result
 * (new reference) summarized in IT's "backend", its tokens and cost added
 * to AG, its model, endpoint and session kept there, its answer written
 * to OUTDIR/output (the directory open as DFD). */
static json_t *
backend_call(const json_t *t, const char *backend, const char *feedback,
             int dfd, const char *outdir, json_t *ag, json_t *it)
{
	json_t *input = json_deep_copy(t);
	json_t *route = json_object_get(t, "route");
	json_t *rm = json_object_get(route, "model");
	if (!json_object_get(t, "model") && json_is_string(rm))
		json_object_set(input, "model", rm);
	json_t *rep = json_object_get(route, "endpoint");
	/* the route's endpoint only, never one the task
	 * names itself: the key would go to its URL */
	json_object_del(input, "endpoint");
	if (json_is_string(json_object_get(rep, "url")))
		json_object_set(input, "endpoint", rep);
	if (feedback)
		json_object_set_new(input, "verify_feedback",
		    json_string(feedback));
	/* the handoffs of its parents agq-run wrote to $AGQ_HANDOFF
	 * (agq-task(5), handoff), for the prompt */
	const char *hp = getenv("AGQ_HANDOFF");
	json_t *ho = hp ? json_load_file(hp, 0, NULL) : NULL;
	json_object_del(input, "handoff_from");         /* ours only */
	if (json_is_array(json_object_get(ho, "from")))
		json_object_set(input, "handoff_from", json_object_get(ho,
		    "from"));
	json_decref(ho);
	const json_t *sid = resume_of(t, ag, backend,
	    json_string_value(json_object_get(input, "model")));
	json_object_del(input, "resume_session");  /* ours only */
	if (sid)
		json_object_set(input, "resume_session", (json_t *)sid);
	json_t *res = call_backend(backend, input, dfd, outdir);
	json_decref(input);
	json_object_set_new(it, "backend", summary(res));
	add_num(ag, "tokens_in", json_object_get(res, "tokens_in"), 0);
	add_num(ag, "tokens_out", json_object_get(res, "tokens_out"), 0);
	add_num(ag, "cost_usd", json_object_get(res, "cost_usd"), 1);
	static const char *keep[] = { "model", "endpoint", "session_id", NULL };
	for (int i = 0; keep[i]; i++) {
		json_t *v = json_object_get(res, keep[i]);
		if (json_is_string(v))
			json_object_set(ag, keep[i], v);
	}
	const char *text = json_string_value(json_object_get(res, "output"));
	if (text)
		put_text(dfd, outdir, "output", text);
	return res;
}

/* The backend's result RES was not "ok": AG's and IT's status
 * ("throttled" for a usage or rate limit, parked: agq-run(8); else
 * "backend_error") and error; the attempt's exit status. */
static int
backend_failed(const json_t *res, const char *backend, json_t *ag,
               json_t *it)
{
	const char *e = json_string_value(json_object_get(res, "error"));
	int thr = !strcmp(json_string_value(json_object_get(res, "status")),
	    "throttled");
	const char *st = thr ? "throttled" : "backend_error";
	json_object_set_new(it, "status", json_string(st));
	json_object_set_new(ag, "status", json_string(st));
	json_object_set_new(ag, "error", json_sprintf("backend %s: %s",
	    backend, e ? e : "failed"));
	dprintf(2, "agq-run: backend %s: %s\n", backend, e ? e : "failed");
	for (int i = 0; thr && i < 2; i++)
		json_object_set(ag, i ? "account" : "not_before",
		    json_object_get(res, i ? "account" : "not_before"));
	return thr ? AGQ_ATTEMPT_THROTTLED : 1;
}

/* Run each shell command of task T's field NAME ("setup" or "cleanup": a
 * string, or an array of strings; each run by /bin/sh -c in the current
 * directory, output on the task's).  0 when all exit 0 (or there are
 * none); else the failing one's exit status (128 + signal), the others
 * not run, its reason in ERR. */
static int
run_hooks(const json_t *t, const char *name, char *err, size_t size)
{
	json_t *v = json_object_get(t, name);
	json_t *list = json_is_string(v) ? json_pack("[O]", v) :
	    json_incref(v);
	size_t i;
	json_t *c;
	int code = 0;
	json_array_foreach(list, i, c) {
		int st = run_cmd(c);
		code = st < 0 ? 126 : WIFEXITED(st) ? WEXITSTATUS(st) :
		    128 + WTERMSIG(st);
		if (code) {
			agq_errf(err, size, "%s command %zu (%s) exited with "
			    "status %d", name, i + 1, json_string_value(c), code);
			break;
		}
	}
	json_decref(list);
	return code;
}

/* Task T's cleanup commands, after its setup (whether that passed) and
 * its iterations: a failing one is noted in AG ("cleanup_error") and on
 * standard error, and changes nothing else. */
static void
cleanup(const json_t *t, json_t *ag)
{
	char err[600];
	if (run_hooks(t, "cleanup", err, sizeof err)) {
		json_object_set_new(ag, "cleanup_error", json_string(err));
		dprintf(2, "agq-run: %s\n", err);
	}
}

/* The iterations of the attempt: backend (or cmd), then verify steps, in
 * CWD; AG is the attempt's record, saved through DFD (OUTDIR).  Returns
 * agq_agent_attempt's status. */
static int
iterate(const json_t *t, const char *outdir, int dfd, const char *cwd,
        json_t *ag)
{
	const char *backend = agq_task_backend(t);
	json_t *steps = json_object_get(t, "verify");
	int max = (int)agq_task_int(t, "max_verify_attempts", 2);
	if (!json_array_size(steps) && !agq_task_edits_by_patch(t, backend))
		max = 1;
	json_t *its = json_object_get(ag, "iterations");
	char *feedback = NULL;
	int rc = 2;
	for (int k = 1; k <= max; k++) {
		json_t *it = json_pack("{s:i}", "iteration", k);
		json_array_append_new(its, it);
		if (backend) {
			json_t *res = backend_call(t, backend, feedback, dfd, outdir,
			    ag, it);
			const char *text = json_string_value(json_object_get(res,
			    "output"));
			int ok = !strcmp(json_string_value(json_object_get(res,
			    "status")), "ok");
			if (!ok) {
				rc = backend_failed(res, backend, ag, it);
				json_decref(res);
				break;
			}
			/* the answer's diff applied to the tree, or a failed
			 * iteration (patch.c) */
			if (agq_task_edits_by_patch(t, backend) && agq_patch_step(
			    text, cwd, dfd, k, max, it, ag, &feedback)) {
				json_decref(res);
				rc = 2;
				continue;
			}
			json_decref(res);
		} else {
			int st = run_cmd(json_object_get(t, "cmd"));
			int code = st < 0 ? 126 : WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
			json_object_set_new(it, "exit", json_integer(code));
			if (code) {
				json_object_set_new(it, "status",
				    json_string("cmd_failed"));
				json_object_set_new(ag, "status",
				    json_string("cmd_failed"));
				json_object_set_new(ag, "error", json_sprintf("the "
				    "command exited with status %d", code));
				rc = code;
				break;
			}
		}
		if (!json_array_size(steps)) {
			json_object_set_new(it, "status", json_string("done"));
			json_object_set_new(ag, "status", json_string("done"));
			rc = 0;
			break;
		}
		save(dfd, outdir, ag);
		json_t *rep = agq_verify_run(steps, cwd, 120);
		int pass = !strcmp(json_string_value(json_object_get(rep,
		    "status")), "pass");
		json_object_set_new(it, "verify", rep);
		json_object_set(ag, "verify", rep);
		if (pass) {
			json_object_set_new(it, "status", json_string("done"));
			json_object_set_new(ag, "status", json_string("done"));
			json_object_del(ag, "error");
			rc = 0;
			break;
		}
		json_object_set_new(it, "status", json_string("verify_failed"));
		free(feedback);
		feedback = agq_verify_feedback(rep, k, max);
		json_object_set_new(ag, "status", json_string("verify_failed"));
		json_object_set_new(ag, "error", json_sprintf("verify_failed: %d "
		    "of %d steps did not pass after %d iteration%s",
		    (int)json_integer_value(json_object_get(rep, "failed")),
		    (int)json_array_size(steps), k, k == 1 ? "" : "s"));
		rc = 2;
	}
	free(feedback);
	return rc;
}

/* The commit message's body: the verification summary of AG's last
 * report, or NULL without steps.  malloc'd. */
static char *
commit_body(const json_t *ag)
{
	const json_t *rep = json_object_get(ag, "verify");
	if (!rep)
		return NULL;
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	fprintf(f, "Verification: %s (%lld passed, %lld failed)",
	    json_string_value(json_object_get(rep, "status")),
	    json_integer_value(json_object_get(rep, "passed")),
	    json_integer_value(json_object_get(rep, "failed")));
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(rep, "steps"), i, r) {
		char *what = agq_verify_step_label(r);
		fprintf(f, "\n- %s %s: %s",
		    json_string_value(json_object_get(r, "type")), what,
		    json_string_value(json_object_get(r, "status")));
		free(what);
	}
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	return s;
}

/* Task T as the PR's description should see it (a new reference): its
 * last attempt, the one running, with this attempt's tokens, cost and
 * verification report from AG (the runner records them only when the
 * attempt ends). */
static json_t *
task_now(const json_t *t, const json_t *ag)
{
	json_t *tt = json_deep_copy(t);
	json_t *atts = json_object_get(tt, "attempts");
	if (!json_is_array(atts)) {
		atts = json_array();
		json_object_set_new(tt, "attempts", atts);
	}
	json_t *last = json_array_get(atts, json_array_size(atts) - 1);
	if (!json_is_object(last)) {
		last = json_object();
		json_array_append_new(atts, last);
	}
	static const char *const keys[] = { "tokens_in", "tokens_out",
	    "cost_usd", "verify", NULL };
	for (int i = 0; keys[i]; i++) {
		json_t *v = json_object_get(ag, keys[i]);
		if (v && !json_is_null(v))
			json_object_set(last, keys[i], v);
	}
	return tt;
}

/* The attempt failed at git step or hook WHAT: AG's status and error. */
static int
fail(json_t *ag, const char *status, const char *error, int rc)
{
	json_object_set_new(ag, "status", json_string(status));
	json_object_set_new(ag, "error", json_string(error));
	dprintf(2, "agq-run: %s\n", error);
	return rc;
}

/* 1 if T's array field KEY holds the string WORD. */
static int
has_word(const json_t *t, const char *key, const char *word)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(t, key), i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), word))
			return 1;
	return 0;
}

/* T's "approval" is WHAT (agq-task(5)): 1 or 0. */
static int
approval_is(const json_t *t, const char *what)
{
	const char *a = json_string_value(json_object_get(t, "approval"));
	return a && !strcmp(a, what);
}

/* Task T, approved to push ("push" in approved), finds in the worktree
 * at PATH the commit it stopped at (T's head, the branch's tip, nothing
 * changed since): 1, the attempt goes straight to the push; else 0. */
static int
approved_commit(const json_t *t, const char *path)
{
	const char *head = json_string_value(json_object_get(t, "head"));
	if (!approval_is(t, "before_push") || !has_word(t, "approved", "push") ||
	    !head)
		return 0;
	char e[256];
	json_t *st = agq_git_status(path, e, sizeof e);
	const char *tip = json_string_value(json_object_get(st, "head"));
	int yes = tip && !strcmp(tip, head) && json_integer_value(
	    json_object_get(st, "uncommitted")) == 0 && json_integer_value(
	    json_object_get(st, "ahead")) > 0;
	json_decref(st);
	return yes;
}

/* The gate of T's attempt that committed (G->sha) and, unless it waits
 * for approval to push, pushed and opened its PR: AG's status and "gate"
 * for agq-run (AGQ_LC_GATE_REVIEW, AGQ_LC_GATE_APPROVAL, lifecycle.h), or
 * nothing (done).  agq-task(5), "Review and merge". */
static void
gate(const json_t *t, const struct agq_taskgit *g, int pushed, json_t *ag)
{
	const char *pr = json_string_value(json_object_get(g->rec, "id"));
	if (!pushed) {
		json_object_set_new(ag, "status", json_string("approval"));
		json_object_set_new(ag, "gate", json_pack("{s:s, s:s}", "for",
		    "push", "head", g->sha));
		return;
	}
	const json_t *merge = json_object_get(t, "merge");
	if (!pr || !(json_object_get(t, "review") || json_is_string(merge) ||
	    approval_is(t, "before_merge")))
		return;
	json_object_set_new(ag, "status", json_string("review"));
	json_object_set_new(ag, "gate", json_pack("{s:I, s:s, s:s}", "round",
	    (json_int_t)agq_task_int(t, "round", 1), "pr", pr, "head",
	    g->sha));
}

/* The conflict iteration (update_from_base, merge.c): the base merged
 * into the worktree G before the task runs.  A new task T with the
 * conflicted paths appended to its review_feedback (and in
 * $AGQ_REVIEW_FEEDBACK) when there are some, else NULL (T as it is); on
 * failure NULL with ERR, and *RC 1. */
static json_t *
update_from_base(const struct agq_spool *sp, const json_t *t,
                 const struct agq_taskgit *g, int *rc, char *err,
                 size_t size)
{
	json_t *list = NULL, *tt = NULL;
	int r = agq_merge_update_from_base(sp, g->wt.path, g->wt.base, g->id,
	    &list, err, size);
	*rc = r < 0;
	if (r == 1) {
		const char *fb = json_string_value(json_object_get(t,
		    "review_feedback"));
		char *s = NULL;
		size_t len = 0, i;
		FILE *f = open_memstream(&s, &len);
		if (!f)
			agq_die(EX_OSERR, "out of memory");
		json_t *p;
		fprintf(f, "%s%sMerging %s into this branch conflicts in these "
		    "files (conflict markers are in them): resolve every "
		    "conflict, keeping both sides' intent:", fb ? fb : "",
		    fb ? "\n\n" : "", g->wt.base);
		json_array_foreach(list, i, p)
			fprintf(f, "\n- %s", json_string_value(p));
		if (fclose(f) != 0 || !s)
			agq_die(EX_OSERR, "out of memory");
		tt = json_deep_copy(t);
		json_object_set_new(tt, "review_feedback", json_string(s));
		setenv("AGQ_REVIEW_FEEDBACK", s, 1);
		free(s);
	}
	json_decref(list);
	return tt;
}

/* Task T's git chain around the iterations (taskgit.c): the worktree,
 * setup, the iterations there, then commit, push and PR, cleanup, and the
 * worktree removed once pushed.  AGENT runs it; AG is the record.  With
 * approval before_push, the chain stops after the commit until a person
 * approves, and the attempt after that finds the commit and pushes
 * without running anything (approved_commit); with review, merge or
 * approval before_merge, the task stops at review/ (gate). */
static int
attempt_git(const json_t *t, const char *outdir, int dfd, json_t *ag)
{
	struct agq_spool sp;
	struct agq_taskgit g;
	char err[PATH_MAX + 1536];
	json_t *tu = NULL;
	memset(&g, 0, sizeof g);
	if (agq_spool_open(&sp, getenv("AGQ_SPOOL"), NULL) < 0)
		return fail(ag, "git_failed", "cannot open the spool", 1);
	const char *agent = getenv("AGQ_AGENT");
	int rc;
	if (agq_taskgit_begin(&sp, t, agent, &g, err, sizeof err) < 0) {
		rc = fail(ag, "git_failed", err, 1);
		goto out;
	}
	json_object_set_new(ag, "git", agq_taskgit_info(&g));
	if (chdir(g.dir) < 0) {
		snprintf(err, sizeof err, "cannot enter the worktree: %s (%s)",
		    strerror(errno), g.dir);
		rc = fail(ag, "git_failed", err, 1);
		goto end;
	}
	setenv("AGQ_WORKTREE", g.wt.path, 1);
	setenv("AGQ_BRANCH", g.wt.branch, 1);
	int approved = approved_commit(t, g.wt.path);
	int hold = approval_is(t, "before_push") && !has_word(t, "approved",
	    "push");
	if (!approved && json_is_true(json_object_get(t, "update_from_base"))) {
		tu = update_from_base(&sp, t, &g, &rc, err, sizeof err);
		if (rc) {
			fail(ag, "git_failed", err, 1);
			goto end;
		}
		if (tu)
			t = tu;
	}
	if (approved) {
		/* the commit a person approved: pushed as it is */
		json_object_set_new(ag, "status", json_string("done"));
		json_object_set_new(ag, "approved_commit", json_true());
		rc = 0;
	} else if ((rc = run_hooks(t, "setup", err, sizeof err))) {
		fail(ag, "setup_failed", err, rc);
	} else {
		save(dfd, outdir, ag);
		rc = iterate(t, outdir, dfd, g.dir, ag);
	}
	if (rc == 0) {
		char title[512];
		agq_taskgit_title(t, title, sizeof title);
		char *body = commit_body(ag);
		json_t *tt = task_now(t, ag);
		int r = hold ? agq_taskgit_commit(&sp, &g, title, body, err,
		    sizeof err) : agq_taskgit_finish(&sp, tt, &g, title, body,
		    err, sizeof err);
		json_decref(tt);
		free(body);
		if (r != AGQ_TG_OK)
			rc = fail(ag, r == AGQ_TG_NOCHANGE ? "no_changes" :
			    r == AGQ_TG_REJECTED ? "push_rejected" : "git_failed",
			    err, 1);
		else
			gate(t, &g, !hold, ag);
		json_object_set_new(ag, "git", agq_taskgit_info(&g));
	}
	if (approved)
		goto end;       /* no setup ran: no cleanup */
	cleanup(t, ag);
end:
	json_decref(tu);
	if (chdir("/") < 0)
		(void)0;        /* the worktree may go: leave it */
	if (agq_taskgit_end(&g, rc == 0, err, sizeof err) < 0)
		dprintf(2, "agq-run: cannot end the worktree: %s\n", err);
out:
	agq_taskgit_free(&g);
	agq_spool_close(&sp);
	return rc;
}

/* Where a review task's backend call (review_call) records. */
struct review_ctx {
	int dfd;
	const char *outdir;
	json_t *ag;
};

/* The agq_review_call of reviewer.c: one backend call (backend_call) of
 * the agent reviewer's INPUT, an iteration of the attempt's record. */
static json_t *
review_call(const json_t *input, void *arg, int *rc)
{
	struct review_ctx *c = arg;
	const char *backend = agq_task_backend(input);
	json_t *it = json_pack("{s:i}", "iteration", 1);
	json_array_append_new(json_object_get(c->ag, "iterations"), it);
	if (!backend) {
		*rc = fail(c->ag, "backend_error", "the reviewer has no backend",
		    1);
		return NULL;
	}
	json_t *res = backend_call(input, backend, NULL, c->dfd, c->outdir,
	    c->ag, it);
	if (strcmp(json_string_value(json_object_get(res, "status")), "ok")) {
		*rc = backend_failed(res, backend, c->ag, it);
		json_decref(res);
		return NULL;
	}
	json_object_set_new(it, "status", json_string("done"));
	return res;
}

/* Merge task T (merge.c), run by $AGQ_AGENT; its verify steps run in a
 * worktree of the origin (merge.c).  AG is the record. */
static int
attempt_merge(const json_t *t, json_t *ag)
{
	struct agq_spool sp;
	if (agq_spool_open(&sp, getenv("AGQ_SPOOL"), NULL) < 0)
		return fail(ag, "merge_failed", "cannot open the spool", 1);
	int rc = agq_merge_run(&sp, t, getenv("AGQ_AGENT"), ag);
	agq_spool_close(&sp);
	return rc;
}

int
agq_agent_attempt(const json_t *t, const char *outdir)
{
	keys_out();
	const char *backend = agq_task_backend(t);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd)) {
		dprintf(2, "agq-run: cannot get the working directory: %s\n",
		    strerror(errno));
		return 126;
	}
	/* Every file of the attempt is written through this handle: a task
	 * or backend that swaps out/ID for a symbolic link meanwhile cannot
	 * make agq-run write elsewhere. */
	int dfd = agq_out_open_path(outdir);
	if (dfd < 0) {
		dprintf(2, "agq-run: cannot open output directory: %s (%s)\n",
		    strerror(errno), outdir);
		return 126;
	}
	json_t *ag = json_pack("{s:s, s:i, s:i, s:n, s:[]}", "status",
	    "running", "tokens_in", 0, "tokens_out", 0, "cost_usd",
	    "iterations");
	if (backend)
		json_object_set_new(ag, "backend", json_string(backend));
	int rc;
	/* a review round's comments, for a cmd as for a backend */
	const char *rf = json_string_value(json_object_get(t,
	    "review_feedback"));
	if (rf)
		setenv("AGQ_REVIEW_FEEDBACK", rf, 1);
	const char *kind = json_string_value(json_object_get(t, "kind"));
	if (kind && !strcmp(kind, "review")) {
		struct review_ctx rctx = { dfd, outdir, ag };
		rc = agq_review_attempt(t, getenv("AGQ_AGENT"), ag, review_call,
		    &rctx);
	} else if (kind && !strcmp(kind, "merge")) {
		rc = attempt_merge(t, ag);
	} else if (json_object_get(t, "git")) {
		rc = attempt_git(t, outdir, dfd, ag);
	} else {
		char err[600];
		rc = run_hooks(t, "setup", err, sizeof err);
		if (rc)
			fail(ag, "setup_failed", err, rc);
		else
			rc = iterate(t, outdir, dfd, cwd, ag);
		cleanup(t, ag);
	}
	save(dfd, outdir, ag);
	json_decref(ag);
	close(dfd);
	return rc;
}
