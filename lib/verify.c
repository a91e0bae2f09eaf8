/* verify.c - verification steps: validation and running them
 * (agq-verify(1)). */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <git2.h>

#include "util.h"
#include "verify.h"

/* ---- running steps ------------------------------------------------------- */

#define TAIL_MAX 4096           /* bytes of output kept per step */

static void
tail_append(char *tail, size_t *n, const char *buf, size_t k)
{
	if (k >= TAIL_MAX) {
		memcpy(tail, buf + k - TAIL_MAX, TAIL_MAX);
		*n = TAIL_MAX;
		return;
	}
	if (*n + k > TAIL_MAX) {
		size_t drop = *n + k - TAIL_MAX;
		memmove(tail, tail + drop, *n - drop);
		*n -= drop;
	}
	memcpy(tail + *n, buf, k);
	*n += k;
}

/* Run CMD (string: /bin/sh -c; array: execvp) in DIR, output (stdout and
 * stderr together) tail into STEP, kill its process group after
 * TIMEOUT_S.  Sets status pass (exit 0) or fail; error when it could not
 * be started. */
static void
run_cmd(json_t *step, const json_t *cmd, const char *dir, double timeout_s)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		json_object_set_new(step, "status", json_string("error"));
		json_object_set_new(step, "reason", json_sprintf("cannot create "
		    "a pipe: %s", strerror(errno)));
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		json_object_set_new(step, "status", json_string("error"));
		json_object_set_new(step, "reason", json_sprintf("cannot fork: "
		    "%s", strerror(errno)));
		return;
	}
	if (pid == 0) {
		agq_child_stdio(p[1], p[1]);
		if (chdir(dir) < 0) {
			dprintf(2, "agq-verify: cannot change directory: %s (%s)\n",
			    strerror(errno), dir);
			_exit(126);
		}
		agq_exec_cmd(cmd);
	}
	setpgid(pid, pid);
	close(p[1]);
	char tail[TAIL_MAX];
	size_t tn = 0;
	int64_t deadline = agq_mono_us() + (int64_t)(timeout_s * 1e6);
	int64_t kill_at = 0;
	int timed_out = 0, open_ = 1;
	char buf[8192];
	while (open_) {
		int64_t now = agq_mono_us();
		if (!timed_out && now >= deadline) {
			timed_out = 1;
			kill(-pid, SIGTERM);
			kill_at = now + 2000000;
		}
		if (kill_at && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
		}
		int64_t until = timed_out ? (kill_at ? kill_at : now + 1000000) :
		    deadline;
		int ms = (int)((until - now) / 1000) + 1;
		struct pollfd pfd = { p[0], POLLIN, 0 };
		int r = poll(&pfd, 1, ms > 1000 ? 1000 : ms);
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		ssize_t k = read(p[0], buf, sizeof buf);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			open_ = 0;
		else
			tail_append(tail, &tn, buf, (size_t)k);
	}
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL);            /* whatever it left behind */
	json_object_set_new(step, "output", agq_json_text(tail, tn));
	if (WIFEXITED(st))
		json_object_set_new(step, "exit", json_integer(WEXITSTATUS(st)));
	if (timed_out) {
		json_object_set_new(step, "status", json_string("fail"));
		json_object_set_new(step, "reason", json_sprintf("timed out after "
		    "%g s", timeout_s));
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		json_object_set_new(step, "status", json_string("pass"));
	} else {
		json_object_set_new(step, "status", json_string("fail"));
		if (WIFEXITED(st))
			json_object_set_new(step, "reason", json_sprintf("exit %d",
			    WEXITSTATUS(st)));
		else
			json_object_set_new(step, "reason", json_sprintf("killed "
			    "by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0));
	}
}

static int
file_has(const char *dir, const char *name, const char *needle)
{
	char *p = agq_xasprintf("%s/%s", dir, name);
	size_t len;
	char *s = agq_read_file(p, 4u << 20, &len, NULL);
	free(p);
	if (!s)
		return 0;
	int r = !needle || strstr(s, needle) != NULL;
	free(s);
	return r;
}

/* A makefile target NAME: a line starting "NAME:" (not "NAME:="). */
static int
make_target(const char *dir, const char *name)
{
	static const char *files[] = { "GNUmakefile", "makefile", "Makefile",
	    NULL };
	for (int i = 0; files[i]; i++) {
		char *p = agq_xasprintf("%s/%s", dir, files[i]);
		size_t len;
		char *s = agq_read_file(p, 4u << 20, &len, NULL);
		free(p);
		if (!s)
			continue;
		size_t n = strlen(name);
		int found = 0;
		for (char *l = s; l && *l; l = strchr(l, '\n'), l = l ? l + 1 :
		    NULL) {
			if (!strncmp(l, name, n) && l[n] == ':' && l[n + 1] != '=') {
				found = 1;
				break;
			}
			/* "check test:" style lists */
			char *colon = strchr(l, ':');
			char *eol = strchr(l, '\n');
			if (colon && (!eol || colon < eol) && colon[1] != '=' &&
			    !isspace((unsigned char)*l) && *l != '#') {
				for (char *w = l; w < colon; ) {
					while (w < colon && (*w == ' ' || *w == '\t'))
						w++;
					char *e = w;
					while (e < colon && *e != ' ' && *e != '\t')
						e++;
					if ((size_t)(e - w) == n && !strncmp(w, name, n))
						found = 1;
					w = e;
				}
				if (found)
					break;
			}
		}
		free(s);
		return found;
	}
	return 0;
}

const char *
agq_verify_detect(const char *dir)
{
	if (make_target(dir, "check"))
		return "make check";
	if (make_target(dir, "test"))
		return "make test";
	char *p = agq_xasprintf("%s/package.json", dir);
	json_t *pkg = json_load_file(p, 0, NULL);
	free(p);
	int npm = json_is_string(json_object_get(json_object_get(pkg,
	    "scripts"), "test"));
	json_decref(pkg);
	if (npm)
		return "npm test";
	if (file_has(dir, "pytest.ini", NULL) ||
	    file_has(dir, "conftest.py", NULL) ||
	    file_has(dir, "pyproject.toml", "[tool.pytest") ||
	    file_has(dir, "setup.cfg", "[tool:pytest]") ||
	    file_has(dir, "tox.ini", "[pytest]"))
		return "pytest";
	if (file_has(dir, "Cargo.toml", NULL))
		return "cargo test";
	if (file_has(dir, "go.mod", NULL))
		return "go test ./...";
	return NULL;
}

static void
git_clean(json_t *step, const char *dir)
{
	git_repository *repo = NULL;
	git_status_list *list = NULL;
	if (git_repository_open_ext(&repo, dir, 0, NULL) < 0) {
		const git_error *e = git_error_last();
		json_object_set_new(step, "status", json_string("error"));
		json_object_set_new(step, "reason", json_sprintf("not a git "
		    "working tree: %s (%s)", e ? e->message : "?", dir));
		return;
	}
	git_status_options o;
	git_status_options_init(&o, GIT_STATUS_OPTIONS_VERSION);
	o.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	o.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED |
	    GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
	    GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&list, repo, &o) < 0) {
		const git_error *e = git_error_last();
		json_object_set_new(step, "status", json_string("error"));
		json_object_set_new(step, "reason", json_sprintf("cannot read the "
		    "status: %s (%s)", e ? e->message : "?", dir));
		git_repository_free(repo);
		return;
	}
	size_t n = git_status_list_entrycount(list);
	char tail[TAIL_MAX];
	size_t tn = 0;
	for (size_t i = 0; i < n; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d = e->index_to_workdir ? e->index_to_workdir
		    : e->head_to_index;
		const char *path = d ? (d->new_file.path ? d->new_file.path :
		    d->old_file.path) : "?";
		const char *what = e->status & GIT_STATUS_WT_NEW ? "untracked" :
		    e->status & (GIT_STATUS_INDEX_NEW | GIT_STATUS_INDEX_MODIFIED |
		    GIT_STATUS_INDEX_DELETED | GIT_STATUS_INDEX_RENAMED |
		    GIT_STATUS_INDEX_TYPECHANGE) ? "staged" : "modified";
		char line[600];
		int k = snprintf(line, sizeof line, "%s: %s\n", what, path);
		if (k > 0)
			tail_append(tail, &tn, line, (size_t)k < sizeof line ?
			    (size_t)k : sizeof line - 1);
	}
	json_object_set_new(step, "output", agq_json_text(tail, tn));
	if (n == 0) {
		json_object_set_new(step, "status", json_string("pass"));
	} else {
		json_object_set_new(step, "status", json_string("fail"));
		json_object_set_new(step, "reason", json_sprintf("%zu uncommitted "
		    "or untracked change%s", n, n == 1 ? "" : "s"));
	}
	git_status_list_free(list);
	git_repository_free(repo);
}

json_t *
agq_verify_run(const json_t *steps, const char *cwd, double timeout_s)
{
	json_t *out = json_array();
	int passed = 0, failed = 0;
	size_t i;
	json_t *s;
	git_libgit2_init();
	json_array_foreach(steps, i, s) {
		const char *type = json_string_value(json_object_get(s, "type"));
		json_t *r = json_pack("{s:i, s:s}", "index", (int)i, "type", type);
		json_t *name = json_object_get(s, "name");
		if (json_is_string(name))
			json_object_set(r, "name", name);
		const char *sc = json_string_value(json_object_get(s, "cwd"));
		char *dir = !sc ? agq_xstrdup(cwd) : sc[0] == '/' ?
		    agq_xstrdup(sc) : agq_xasprintf("%s/%s", cwd, sc);
		json_t *tv = json_object_get(s, "timeout");
		double to = json_is_number(tv) ? json_number_value(tv) : timeout_s;
		int64_t t0 = agq_mono_us();
		if (!strcmp(type, "file_exists")) {
			const char *path = json_string_value(json_object_get(s,
			    "path"));
			char *p = path[0] == '/' ? agq_xstrdup(path) :
			    agq_xasprintf("%s/%s", dir, path);
			struct stat st;
			json_object_set_new(r, "path", json_string(path));
			if (stat(p, &st) == 0) {
				json_object_set_new(r, "status", json_string("pass"));
			} else {
				json_object_set_new(r, "status", json_string("fail"));
				json_object_set_new(r, "reason", json_sprintf("%s (%s)",
				    strerror(errno), p));
			}
			free(p);
		} else if (!strcmp(type, "command_succeeds")) {
			json_object_set(r, "cmd", json_object_get(s, "cmd"));
			run_cmd(r, json_object_get(s, "cmd"), dir, to);
		} else if (!strcmp(type, "test_passes")) {
			json_t *cmd = json_object_get(s, "cmd");
			if (!cmd || (json_is_string(cmd) &&
			    !strcmp(json_string_value(cmd), "auto"))) {
				const char *d = agq_verify_detect(dir);
				if (!d) {
					json_object_set_new(r, "status",
					    json_string("skip"));
					json_object_set_new(r, "reason", json_string(
					    "no test suite detected (make check, make "
					    "test, npm test, pytest, cargo test, go "
					    "test)"));
				} else {
					json_t *dc = json_string(d);
					json_object_set(r, "cmd", dc);
					json_object_set_new(r, "detected", json_true());
					run_cmd(r, dc, dir, to);
					json_decref(dc);
				}
			} else {
				json_object_set(r, "cmd", cmd);
				run_cmd(r, cmd, dir, to);
			}
		} else {
			git_clean(r, dir);
		}
		free(dir);
		json_object_set_new(r, "duration_ms",
		    json_integer((agq_mono_us() - t0) / 1000));
		if (!strcmp(json_string_value(json_object_get(r, "status")),
		    "pass"))
			passed++;
		else
			failed++;
		json_array_append_new(out, r);
	}
	git_libgit2_shutdown();
	return json_pack("{s:s, s:i, s:i, s:o}", "status", failed ? "fail" :
	    "pass", "passed", passed, "failed", failed, "steps", out);
}

char *
agq_command_output(const json_t *cmd, double timeout_s, size_t max,
                   size_t *len, int *status)
{
	return agq_command_output_env(cmd, NULL, timeout_s, max, len, status);
}

char *
agq_command_output_env(const json_t *cmd, const json_t *env,
                       double timeout_s, size_t max, size_t *len,
                       int *status)
{
	int p[2];
	*len = 0;
	*status = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return NULL;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		errno = e;
		return NULL;
	}
	if (pid == 0) {
		agq_child_stdio(p[1], p[1]);
		if (agq_setenv_json(env) < 0)
			_exit(126);
		agq_exec_cmd(cmd);
	}
	setpgid(pid, pid);
	close(p[1]);
	char *buf = agq_xmalloc(max + 1);
	size_t n = 0;
	int64_t deadline = agq_mono_us() + (int64_t)(timeout_s * 1e6);
	int timed_out = 0;
	for (;;) {
		int64_t left = deadline - agq_mono_us();
		if (left <= 0) {
			timed_out = 1;
			kill(-pid, SIGKILL);
			break;
		}
		struct pollfd pfd = { p[0], POLLIN, 0 };
		int r = poll(&pfd, 1, (int)(left / 1000) + 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		if (r == 0)
			continue;
		char chunk[8192];
		ssize_t k = read(p[0], chunk, sizeof chunk);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		size_t take = (size_t)k < max - n ? (size_t)k : max - n;
		memcpy(buf + n, chunk, take);
		n += take;
	}
	close(p[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL);
	buf[n] = '\0';
	*len = n;
	*status = timed_out ? -2 : st;
	return buf;
}
