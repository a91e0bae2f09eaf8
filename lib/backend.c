/*
 * backend.c - the backends of agq-backend(7): one executable per backend
 * in libexec/agq/ reads a task on standard input and writes a result on
 * standard output.  The HTTP backends (ollama, openai, anthropic) use
 * libcurl; shell and cli run a program.  Keys come from the environment
 * or from files named in agq.conf, never from the task, and never appear
 * in a result or an error message.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>
#include <curl/curl.h>
#include <git2.h>

#include "backends.h"
#include "util.h"
#include "paths.h"
#include "cli.h"
#include "conf.h"
#include "task.h"
#include "classify.h"
#include "throttle.h"
#include "backend.h"

#define MAX_BODY   (16u << 20)  /* largest HTTP response read */
#define MAX_OUTPUT (1u << 20)   /* output kept from a program (its tail) */

/* Up to MAX bytes of S (N bytes) as printable one-line text. */
static void
snippet(char *dst, size_t size, const char *s, size_t n, size_t max)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < max && o + 2 < size; i++)
		dst[o++] = isprint((unsigned char)s[i]) ? s[i] : ' ';
	if (n > max && o + 4 < size) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* ---- the prompt ---------------------------------------------------------- */

/* A handoff H (agq-task(5): summary, files, questions) under the
 * heading WHAT, into the prompt F; nothing when H is not an object. */
static void
prompt_handoff(FILE *f, const char *what, const json_t *h)
{
	if (!json_is_object(h))
		return;
	size_t i;
	json_t *v;
	fprintf(f, "\n\n%s:", what);
	const char *sum = json_string_value(json_object_get(h, "summary"));
	if (sum)
		fprintf(f, "\n%s", sum);
	if (json_array_size(json_object_get(h, "files")))
		fputs("\nFiles touched:", f);
	json_array_foreach(json_object_get(h, "files"), i, v)
		fprintf(f, "\n- %s", json_string_value(v));
	if (json_array_size(json_object_get(h, "questions")))
		fputs("\nOpen questions:", f);
	json_array_foreach(json_object_get(h, "questions"), i, v)
		fprintf(f, "\n- %s", json_string_value(v));
}

char *
agq_backend_prompt(const json_t *t)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	const char *p = json_string_value(json_object_get(t, "prompt"));
	fputs(p ? p : "", f);
	json_t *ctx = json_object_get(t, "context");
	const char *repo = json_string_value(json_object_get(ctx, "repo"));
	const char *branch = json_string_value(json_object_get(ctx, "branch"));
	json_t *files = json_object_get(ctx, "files");
	size_t i;
	json_t *v;
	if (repo || branch || json_array_size(files)) {
		fputs("\n\nContext:", f);
		if (repo)
			fprintf(f, "\n- repository: %s", repo);
		if (branch)
			fprintf(f, "\n- branch: %s", branch);
		if (json_array_size(files))
			fputs("\n- files:", f);
		json_array_foreach(files, i, v)
			fprintf(f, "\n  - %s", json_string_value(v));
	}
	json_t *crit = json_object_get(t, "success_criteria");
	if (json_array_size(crit)) {
		fputs("\n\nSuccess criteria:", f);
		json_array_foreach(crit, i, v)
			fprintf(f, "\n- %s", json_string_value(v));
	}
	const char *fb = json_string_value(json_object_get(t,
	    "verify_feedback"));
	if (fb)
		fprintf(f, "\n\n%s", fb);
	/* a review round's comments (agq-task(5), review_feedback) */
	const char *rf = json_string_value(json_object_get(t,
	    "review_feedback"));
	if (rf)
		fprintf(f, "\n\nThe reviewers of your pull request asked for "
		    "changes:\n%s", rf);
	/* handoffs: the task's own, its parents' (agq-task(5), handoff) */
	prompt_handoff(f, "Handoff to this task", json_object_get(t,
	    "handoff"));
	json_array_foreach(json_object_get(t, "handoff_from"), i, v) {
		char *what = agq_xasprintf("Handoff from task %s%s%s%s",
		    json_string_value(json_object_get(v, "id")),
		    json_object_get(v, "title") ? " (" : "",
		    json_object_get(v, "title") ? json_string_value(
		    json_object_get(v, "title")) : "", json_object_get(v,
		    "title") ? ")" : "");
		prompt_handoff(f, what, json_object_get(v, "handoff"));
		free(what);
	}
	/* a refused plan's reason (agq-task(5), role "plan") */
	const char *pf = json_string_value(json_object_get(t,
	    "plan_feedback"));
	if (pf)
		fprintf(f, "\n\n%s", pf);
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	return s;
}

/* ---- editing through patches (agq-backend(7)) ----------------------------- */

#define PATCH_PATHS      2000           /* paths listed at most */
#define PATCH_FILE_MAX   (64u << 10)    /* bytes of one named file shown */
#define PATCH_FILES_MAX  (256u << 10)   /* bytes of all of them */

/* Print the file at PATH (relative to the work tree WD, a tracked regular
 * file) in a fence longer than any run of backticks in it; *BUDGET bytes
 * are left for all the files. */
static void
patch_show_file(FILE *f, const char *wd, const char *path, size_t *budget)
{
	char *full = agq_xasprintf("%s%s", wd, path);
	size_t n;
	char *s = agq_read_file(full, PATCH_FILE_MAX, &n, NULL);
	if (!s)
		fprintf(f, "\n%s: (not shown: %s)\n", path, errno == EFBIG ?
		    "larger than 64 KiB" : strerror(errno));
	else if (memchr(s, '\0', n))
		fprintf(f, "\n%s: (not shown: a binary file)\n", path);
	else if (n > *budget)
		fprintf(f, "\n%s: (not shown: the files shown reach 256 KiB)\n",
		    path);
	else {
		size_t run = 0, best = 2;
		for (size_t i = 0; i < n; i++) {
			run = s[i] == '`' ? run + 1 : 0;
			if (run > best)
				best = run;
		}
		fprintf(f, "\n%s:\n%.*s\n%s%s%.*s\n", path, (int)best + 1,
		    "````````````````````````````````", s, n && s[n - 1] != '\n' ?
		    "\n" : "", (int)best + 1, "````````````````````````````````");
		*budget -= n;
	}
	free(s);
	free(full);
}

char *
agq_backend_patch_prompt(const json_t *t, const char *dir, char *err,
                         size_t size)
{
	git_repository *repo = NULL;
	git_index *idx = NULL;
	git_libgit2_init();
	if (git_repository_open_ext(&repo, dir, 0, NULL) < 0 ||
	    git_repository_index(&idx, repo) < 0 ||
	    !git_repository_workdir(repo)) {
		const git_error *e = git_error_last();
		agq_errf(err, size, "cannot edit through patches: not in a git "
		    "work tree: %s (%s)", e && e->message ? e->message :
		    "a bare repository", dir);
		git_repository_free(repo);
		return NULL;
	}
	const char *wd = git_repository_workdir(repo);
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	size_t n = git_index_entrycount(idx);
	fputs("\n\nEditing through patches:\nagq applies your answer to the "
	    "repository's work tree as a patch, all of it or nothing. Answer "
	    "with exactly one fenced block opened by ```diff that holds a "
	    "unified diff in the format of `git diff` (git-diff(1), "
	    "\"Generating patch text with -p\"):\n"
	    "- for each file \"diff --git a/PATH b/PATH\", \"--- a/PATH\" and "
	    "\"+++ b/PATH\", PATH relative to the repository's top directory "
	    "(a new file: \"new file mode 100644\" and \"--- /dev/null\"; a "
	    "deleted one: \"deleted file mode 100644\" and \"+++ /dev/null\");"
	    "\n- then its hunks, \"@@ -START,COUNT +START,COUNT @@\" with "
	    "counts that match, whose context (\" \") and removed (\"-\") lines "
	    "are the file's lines exactly as they are now.\n"
	    "Nothing outside the block is needed.\n", f);
	fprintf(f, "\nFiles of the repository (%zu):\n", n);
	for (size_t i = 0; i < n && i < PATCH_PATHS; i++)
		fprintf(f, "%s\n", git_index_get_byindex(idx, i)->path);
	if (n > PATCH_PATHS)
		fprintf(f, "(and %zu more)\n", n - PATCH_PATHS);
	json_t *files = json_object_get(json_object_get(t, "context"),
	    "files");
	size_t i, budget = PATCH_FILES_MAX;
	json_t *v;
	if (json_array_size(files))
		fputs("\nThe files the task names, as they are now:\n", f);
	json_array_foreach(files, i, v) {
		const char *p = json_string_value(v);
		const git_index_entry *e = p ? git_index_get_bypath(idx, p, 0) :
		    NULL;
		if (!e || (e->mode != GIT_FILEMODE_BLOB &&
		    e->mode != GIT_FILEMODE_BLOB_EXECUTABLE))
			fprintf(f, "\n%s: (not a file of the repository)\n", p);
		else
			patch_show_file(f, wd, p, &budget);
	}
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	git_index_free(idx);
	git_repository_free(repo);
	return s;
}

/* ---- prices -------------------------------------------------------------- */

int
agq_price(const struct agq_conf *conf, const char *backend,
          const char *model, int64_t tin, int64_t tout, double *cost)
{
	char *dflt = agq_etc_path("prices.json");
	const char *path = agq_backend_setting(conf, "prices", dflt);
	json_t *p = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	free(dflt);
	json_t *e = model ? json_object_get(json_object_get(p, "models"),
	    model) : NULL;
	if (!json_is_object(e))
		e = json_object_get(json_object_get(p, "backends"), backend);
	json_t *pin = json_object_get(e, "in"), *pout = json_object_get(e,
	    "out");
	int rc = -1;
	if (json_is_number(pin) && json_is_number(pout)) {
		*cost = ((double)tin * json_number_value(pin) +
		    (double)tout * json_number_value(pout)) / 1e6;
		rc = 0;
	}
	json_decref(p);
	return rc;
}

/* ---- HTTP ---------------------------------------------------------------- */

struct body { char *p; size_t n; int over; };

static size_t
on_data(char *ptr, size_t sz, size_t nm, void *u)
{
	struct body *b = u;
	size_t add = sz * nm;
	if (b->n + add > MAX_BODY) {
		b->over = 1;
		return 0;
	}
	char *np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, ptr, add);
	b->n += add;
	b->p[b->n] = '\0';
	return add;
}

/* The error message of an API's error body: {"error": "..."} (ollama),
 * {"error": {"message": "..."}} (openai, anthropic); borrowed or NULL. */
static const char *
api_error(const json_t *j)
{
	json_t *e = json_object_get(j, "error");
	if (json_is_string(e))
		return json_string_value(e);
	return json_string_value(json_object_get(e, "message"));
}

void
agq_curl_request(void *curl, const char *method, const char *url,
                 struct curl_slist *headers, char *ebuf, const char *body)
{
	CURL *c = curl;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "agq/" AGQ_VERSION);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (strcmp(method, body ? "POST" : "GET"))
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

/* The reset time of a limit, read from the response headers (curl's
 * CURLOPT_HEADERFUNCTION): a Retry-After wins over the rate limit reset
 * headers, of which the latest is kept (agq_throttle_header). */
struct limit { int64_t now_us, until_us; int prio; };

static size_t
on_header(char *buf, size_t sz, size_t nm, void *u)
{
	struct limit *l = u;
	size_t n = sz * nm;
	char line[512];
	snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n :
	    sizeof line - 1), buf);
	line[strcspn(line, "\r\n")] = '\0';
	char *colon = strchr(line, ':');
	if (!colon)
		return n;
	*colon = '\0';
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	int64_t t;
	int k = agq_throttle_header(line, v, l->now_us, &t);
	if (k > l->prio || (k && k == l->prio && t > l->until_us)) {
		l->prio = k;
		l->until_us = t;
	}
	return n;
}

/* agq_http_json, and when LIM is not NULL the limit's reset time read
 * from the response headers into it. */
static int
http_json(const char *method, const char *url, const char *const *headers,
          const char *body, double timeout_s, long *status, json_t **out,
          char *err, size_t size, struct limit *lim)
{
	*out = NULL;
	*status = 0;
	CURL *c = curl_easy_init();
	if (!c) {
		agq_errf(err, size, "cannot start libcurl");
		return -1;
	}
	struct curl_slist *h = NULL;
	for (int i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json");
	char ebuf[CURL_ERROR_SIZE] = "";
	struct body b = { NULL, 0, 0 };
	agq_curl_request(c, method, url, h, ebuf, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (lim) {
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, lim);
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(timeout_s < 10 ? timeout_s * 1000 : 10000));
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	int ret = -1;
	char snip[240];
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		agq_errf(err, size, "timed out after %g s (%s)", timeout_s, url);
	} else if (rc == CURLE_COULDNT_CONNECT) {
		agq_errf(err, size, "cannot connect: %s (%s)", ebuf[0] ? ebuf :
		    curl_easy_strerror(rc), url);
	} else if (rc == CURLE_WRITE_ERROR && b.over) {
		agq_errf(err, size, "response larger than %u bytes (%s)",
		    MAX_BODY, url);
	} else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
	    rc == CURLE_GOT_NOTHING) {
		agq_errf(err, size, "truncated response: %s (%s)", ebuf[0] ? ebuf :
		    curl_easy_strerror(rc), url);
	} else if (rc != CURLE_OK) {
		agq_errf(err, size, "request failed: %s (%s)", ebuf[0] ? ebuf :
		    curl_easy_strerror(rc), url);
	} else {
		json_error_t je;
		json_t *j = b.p ? json_loadb(b.p, b.n, 0, &je) : NULL;
		if (*status >= 400) {
			const char *m = api_error(j);
			snippet(snip, sizeof snip, m ? m : b.p ? b.p : "",
			    m ? strlen(m) : b.n, 200);
			agq_errf(err, size, "HTTP %ld: %s (%s)", *status,
			    snip[0] ? snip : "empty body", url);
			json_decref(j);
		} else if (!json_is_object(j)) {
			snippet(snip, sizeof snip, b.p ? b.p : "", b.n, 80);
			if (j)
				agq_errf(err, size, "response is not a JSON object: "
				    "%s (%s)", snip, url);
			else if (b.n == 0)
				agq_errf(err, size, "empty response (HTTP %ld) (%s)",
				    *status, url);
			else
				agq_errf(err, size, "response is not JSON (%s at "
				    "byte %d): %s (%s)", je.text, je.position,
				    snip, url);
			json_decref(j);
		} else {
			*out = j;
			ret = 0;
		}
	}
	free(b.p);
	return ret;
}

int
agq_http_json(const char *method, const char *url, const char *const *headers,
              const char *body, double timeout_s, long *status, json_t **out,
              char *err, size_t size)
{
	return http_json(method, url, headers, body, timeout_s, status, out,
	    err, size, NULL);
}

/* ---- running a program ----------------------------------------------------- */

/* Keep the last non-empty line of a stream read in pieces: CUR collects
 * the line being read, LAST the last one ended (each at most
 * sizeof - 1 bytes, the rest of a longer line dropped).  SEEN is set when
 * a line contains WATCH (not NULL).  With WANT set, HIT keeps the first
 * line ended that contains WANT ("" when none). */
struct lastline {
	char cur[512], last[512], hit[512];
	size_t n;
	const char *watch, *want;
	int seen;
};

static void
lastline_add(struct lastline *l, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' || s[i] == '\r') {
			if (l->n) {
				memcpy(l->last, l->cur, l->n);
				l->last[l->n] = '\0';
				if (l->watch && strstr(l->last, l->watch))
					l->seen = 1;
				if (l->want && !l->hit[0] &&
				    strstr(l->last, l->want))
					memcpy(l->hit, l->last, l->n + 1);
			}
			l->n = 0;
		} else if (l->n + 1 < sizeof l->cur) {
			l->cur[l->n++] = isprint((unsigned char)s[i]) ? s[i] : ' ';
		}
	}
}

/* Append K bytes of CHUNK to BUF (N bytes so far), keeping the last
 * MAX_OUTPUT bytes. */
static void
keep_tail(char *buf, size_t *n, const char *chunk, size_t k)
{
	if (*n + k > MAX_OUTPUT) {
		/* k <= 65536 < MAX_OUTPUT, so drop <= n */
		size_t drop = *n + k - MAX_OUTPUT;
		memmove(buf, buf + drop, *n - drop);
		*n -= drop;
	}
	memcpy(buf + *n, chunk, k);
	*n += k;
}

/* Run ARGV (argv[0] looked up in PATH) with the variables of ENV (a
 * JSON object of strings, or NULL; other values are skipped) set in its
 * environment, standard input IN_FD (-1:
 * /dev/null), its standard output captured (the last MAX_OUTPUT bytes
 * kept, malloc'd in *OUT).  With ERRLINE NULL its standard error is
 * ours; otherwise it is copied to ours as it comes and read into
 * ERRLINE (its WATCH and WANT set by the caller): its last non-empty
 * line (printable, at most 511 bytes, "" when none) is left in
 * ERRLINE->last, the first with WANT in ERRLINE->hit.  Returns the wait
 * status, or -1 with ERR set when it
 * could not be started. */
static int
run_capture(char *const argv[], const json_t *env, int in_fd,
            struct lastline *errline, char **out, size_t *outlen, char *err,
            size_t size)
{
	int p[2], e[2] = { -1, -1 };
	*out = NULL;
	*outlen = 0;
	if (errline) {
		errline->n = 0;
		errline->last[0] = errline->hit[0] = '\0';
		errline->seen = 0;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		agq_errf(err, size, "cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	if (errline && pipe2(e, O_CLOEXEC) < 0) {
		agq_errf(err, size, "cannot create a pipe: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		agq_errf(err, size, "cannot fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		if (errline) {
			close(e[0]);
			close(e[1]);
		}
		return -1;
	}
	if (pid == 0) {
		/* the pipes above 2 first (agq_fd_above_stdio); the input
		 * stays if it is 0 */
		int w = agq_fd_above_stdio(p[1]);
		int ew = errline ? agq_fd_above_stdio(e[1]) : 2;
		int nfd = in_fd >= 0 ? agq_fd_above_stdio(in_fd) :
		    open("/dev/null", O_RDONLY);
		if (w < 0 || ew < 0 || nfd < 0 || dup2(nfd, 0) < 0 ||
		    dup2(w, 1) < 0 || dup2(ew, 2) < 0)
			_exit(126);
		if (agq_setenv_json(env) < 0)
			_exit(126);
		execvp(argv[0], argv);
		dprintf(2, "agq: cannot run: %s (%s)\n", strerror(errno),
		    argv[0]);
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(p[1]);
	if (errline)
		close(e[1]);
	char *buf = agq_xmalloc(MAX_OUTPUT + 1);
	size_t n = 0;
	char chunk[65536];
	struct pollfd fds[2] = { { p[0], POLLIN, 0 }, { e[0], POLLIN, 0 } };
	int open_fds = errline ? 2 : 1;
	while (open_fds > 0) {
		if (poll(fds, errline ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < (errline ? 2 : 1); i++) {
			if (fds[i].fd < 0 || !fds[i].revents)
				continue;
			ssize_t r = read(fds[i].fd, chunk, sizeof chunk);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			} else if (i == 0) {
				keep_tail(buf, &n, chunk, (size_t)r);
			} else {
				agq_write_all(2, chunk, (size_t)r);
				lastline_add(errline, chunk, (size_t)r);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0 && (i == 0 || errline))
			close(fds[i].fd);
	buf[n] = '\0';
	if (errline)
		lastline_add(errline, "\n", 1);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			agq_errf(err, size, "cannot wait: %s", strerror(errno));
			free(buf);
			return -1;
		}
	*out = buf;
	*outlen = n;
	return st;
}

static void
describe_status(char *err, size_t size, const char *what, int st)
{
	if (WIFEXITED(st))
		agq_errf(err, size, "%s exited with status %d", what,
		    WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		agq_errf(err, size, "%s was killed by signal %d", what, WTERMSIG(st));
	else
		agq_errf(err, size, "%s ended with wait status %d", what, st);
}

/* A JSON string from N bytes that may not be valid UTF-8. */
/* ---- the backends -------------------------------------------------------- */

struct call {
	const struct agq_conf *conf;
	const json_t *task;
	json_t *res;            /* the result being built */
	char err[1024];
	int verdict;            /* err is the CLI's own verdict, in its
	                         * documented output shape */
	int64_t until_us;       /* a usage or rate limit met: when it resets
	                         * (result status "throttled"), else 0 */
	char *account;          /* its account (agq_throttle_*_account) */
};

/* The call C met a usage or rate limit of ACCOUNT (consumed) resetting at
 * UNTIL_US (at least a second from now: a reset already past). */
static void
throttled(struct call *c, char *account, int64_t until_us)
{
	int64_t now = agq_now_us();
	c->until_us = until_us > now + 1000000 ? until_us : now + 1000000;
	free(c->account);
	c->account = account;
}

static double
timeout_s(const struct call *c)
{
	const char *v = agq_backend_setting(c->conf, "backend_timeout", NULL);
	int64_t us;
	if (v && agq_parse_duration(v, &us) == 0 && us > 0)
		return (double)us / 1e6;
	return 600;
}

static const char *
model_of(struct call *c, const struct agq_backend_def *d)
{
	const char *m = json_string_value(json_object_get(c->task, "model"));
	if (m)
		return m;
	return agq_backend_setting(c->conf, d->model_setting, NULL);
}

/* "BASE" + "PATH" without a doubled slash; malloc'd. */
static char *
join_url(const char *base, const char *path)
{
	size_t n = strlen(base);
	while (n && base[n - 1] == '/')
		n--;
	return agq_xasprintf("%.*s%s", (int)n, base, path);
}

/* The base URL of backend D for this call, malloc'd: agq_backend_base
 * with the task's endpoint (its route) and its "env". */
static char *
endpoint_base(struct call *c, const struct agq_backend_def *d)
{
	json_t *ep = json_object_get(c->task, "endpoint");
	return agq_backend_base(c->conf, d, json_string_value(
	    json_object_get(ep, "url")), json_object_get(c->task, "env"));
}

static void
set_tokens(struct call *c, const char *backend, json_int_t tin,
           json_int_t tout)
{
	json_object_set_new(c->res, "tokens_in", json_integer(tin));
	json_object_set_new(c->res, "tokens_out", json_integer(tout));
	double cost;
	const char *model = json_string_value(json_object_get(c->res, "model"));
	if (agq_price(c->conf, backend, model, tin, tout, &cost) == 0)
		json_object_set_new(c->res, "cost_usd", json_real(cost));
	else
		json_object_set_new(c->res, "cost_usd", json_null());
}

static json_int_t
int_at(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) && json_integer_value(v) >= 0 ?
	    json_integer_value(v) : 0;
}

/* An HTTP backend, D a row of the table of backends (backends.h): one
 * request in the wire protocol of D->proto. */
static int
be_http(struct call *c, const struct agq_backend_def *d)
{
	const char *backend = d->name;
	char *base = endpoint_base(c, d);
	char *url = join_url(base, d->chat_path);
	json_object_set_new(c->res, "endpoint", json_string(base));
	const char *model = model_of(c, d);
	if (!model) {
		agq_errf(c->err, sizeof c->err, "no model: set \"model\" in the "
		    "task or %s in agq.conf", d->model_setting);
		free(url);
		free(base);
		return -1;
	}
	json_object_set_new(c->res, "model", json_string(model));
	char *prompt = agq_backend_prompt(c->task);
	if (agq_task_edits_by_patch(c->task, backend)) {
		char *sec = agq_backend_patch_prompt(c->task, ".", c->err,
		    sizeof c->err);
		if (!sec) {
			free(prompt);
			free(url);
			return -1;
		}
		char *both = agq_xasprintf("%s%s", prompt, sec);
		free(prompt);
		free(sec);
		prompt = both;
	}
	char *key = NULL;
	const char *hdrs[4] = { NULL };
	char *h0 = NULL, *h1 = NULL;
	if (d->key_env) {
		/* without AGQ_BACKEND_KEY_REQUIRED, a missing key is no error:
		 * local servers (vLLM, llama.cpp, LM Studio) need none */
		int need = (d->flags & AGQ_BACKEND_KEY_REQUIRED) != 0;
		char ignore[256];
		key = agq_backend_key(c->conf, d, need ? c->err : ignore,
		    need ? sizeof c->err : sizeof ignore);
		if (!key && need) {
			free(url);
			free(prompt);
			free(base);
			return -1;
		}
	}
	char *account = agq_throttle_http_account(backend, base, key);
	free(base);
	if (d->proto == AGQ_PROTO_ANTHROPIC) {
		h0 = agq_xasprintf("x-api-key: %s", key);
		h1 = agq_xasprintf("%s: %s", d->version_header,
		    agq_backend_setting(c->conf, d->version_setting,
		    d->version_default));
		hdrs[0] = h0;
		hdrs[1] = h1;
	} else if (d->proto == AGQ_PROTO_OPENAI && key) {
		h0 = agq_xasprintf("Authorization: Bearer %s", key);
		hdrs[0] = h0;
	}
	json_t *req = json_pack("{s:s, s:[{s:s, s:s}]}", "model", model,
	    "messages", "role", "user", "content", prompt);
	free(prompt);
	if (d->proto == AGQ_PROTO_OLLAMA)
		json_object_set_new(req, "stream", json_false());
	if (d->proto == AGQ_PROTO_ANTHROPIC) {
		const char *mt = agq_backend_setting(c->conf, "max_tokens",
		    "4096");
		json_object_set_new(req, "max_tokens", json_integer(atoll(mt) > 0
		    ? atoll(mt) : 4096));
	}
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	long status;
	json_t *r;
	struct limit lim = { agq_now_us(), 0, 0 };
	int rc = http_json("POST", url, hdrs, body, timeout_s(c), &status,
	    &r, c->err, sizeof c->err, &lim);
	free(body);
	free(url);
	agq_free_secret(h0);
	free(h1);
	agq_free_secret(key);
	if (rc < 0 && status == 429)   /* Too Many Requests (RFC 6585 4) */
		throttled(c, account, lim.prio ? lim.until_us : lim.now_us +
		    AGQ_THROTTLE_DEFAULT_S * 1000000LL);
	else
		free(account);
	if (rc < 0)
		return -1;
	const char *text = NULL;
	json_t *rm = json_object_get(r, "model");
	if (json_is_string(rm))
		json_object_set(c->res, "model", rm);
	if (d->proto == AGQ_PROTO_OLLAMA) {
		text = json_string_value(json_object_get(json_object_get(r,
		    "message"), "content"));
		set_tokens(c, backend, int_at(r, "prompt_eval_count"),
		    int_at(r, "eval_count"));
	} else if (d->proto == AGQ_PROTO_OPENAI) {
		text = json_string_value(json_object_get(json_object_get(
		    json_array_get(json_object_get(r, "choices"), 0), "message"),
		    "content"));
		json_t *u = json_object_get(r, "usage");
		set_tokens(c, backend, int_at(u, "prompt_tokens"),
		    int_at(u, "completion_tokens"));
	} else {
		/* concatenate the text blocks of "content" */
		json_t *content = json_object_get(r, "content");
		size_t i;
		json_t *blk;
		char *acc = NULL;
		json_array_foreach(content, i, blk) {
			const char *t = json_string_value(json_object_get(blk,
			    "text"));
			if (!t)
				continue;
			char *n = agq_xasprintf("%s%s", acc ? acc : "", t);
			free(acc);
			acc = n;
		}
		json_t *u = json_object_get(r, "usage");
		set_tokens(c, backend, int_at(u, "input_tokens"),
		    int_at(u, "output_tokens"));
		if (acc) {
			json_object_set_new(c->res, "output", json_string(acc));
			free(acc);
			text = "";
		}
		const char *stop = json_string_value(json_object_get(r,
		    "stop_reason"));
		if (stop)
			json_object_set_new(c->res, "stop_reason",
			    json_string(stop));
	}
	if (!text) {
		agq_errf(c->err, sizeof c->err, "response has no message text: not "
		    "in the %s format", backend);
		json_decref(r);
		return -1;
	}
	if (d->proto != AGQ_PROTO_ANTHROPIC)
		json_object_set_new(c->res, "output", json_string(text));
	json_decref(r);
	return 0;
}

/* A backend that runs the task's cmd (AGQ_BACKEND_PROCESS: shell). */
static int
be_shell(struct call *c, const struct agq_backend_def *d)
{
	json_t *cmd = json_object_get(c->task, "cmd");
	json_object_set_new(c->res, "model", json_string("none"));
	set_tokens(c, d->name, 0, 0);
	json_object_set_new(c->res, "cost_usd", json_real(0));
	if (!cmd) {
		agq_errf(c->err, sizeof c->err, "the %s backend needs a cmd",
		    d->name);
		return -1;
	}
	size_t n = json_is_string(cmd) ? 3 : json_array_size(cmd);
	char **argv = agq_xmalloc((n + 1) * sizeof *argv);
	if (json_is_string(cmd)) {
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = (char *)json_string_value(cmd);
	} else {
		for (size_t i = 0; i < n; i++)
			argv[i] = (char *)json_string_value(json_array_get(cmd, i));
	}
	argv[n] = NULL;
	char *out;
	size_t len;
	int st = run_capture(argv, NULL, -1, NULL, &out, &len, c->err,
	    sizeof c->err);
	free(argv);
	if (st < 0)
		return -1;
	json_object_set_new(c->res, "output", agq_json_text(out, len));
	free(out);
	json_object_set_new(c->res, "exit", json_integer(WIFEXITED(st) ?
	    WEXITSTATUS(st) : -1));
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		describe_status(c->err, sizeof c->err, "the command", st);
		return -1;
	}
	return 0;
}

/* What fills a lock-file argv template's placeholders: MCP (NULL: the
 * task has no "mcp": true) fills those of "mcp_args" and "mcp_env". */
struct cli_fill {
	const char *prompt, *model, *session;
	const struct agq_cli_mcp *mcp;
};

/* TMPL with "{prompt}", "{model}" or "{session_id}" replaced; with F's
 * mcp, each "{mcp_config}", "{mcp_command}" and "{mcp_env}" in it too. */
static char *
fill(const char *tmpl, const struct cli_fill *f)
{
	if (!strcmp(tmpl, "{prompt}"))
		return agq_xstrdup(f->prompt);
	if (!strcmp(tmpl, "{model}"))
		return agq_xstrdup(f->model ? f->model : "");
	if (!strcmp(tmpl, "{session_id}"))
		return agq_xstrdup(f->session ? f->session : "");
	char *s = agq_xstrdup(tmpl);
	if (!f->mcp)
		return s;
	const char *names[] = { "{mcp_config}", "{mcp_command}", "{mcp_env}" };
	const char *vals[] = { f->mcp->config, f->mcp->command, f->mcp->env };
	for (int i = 0; i < 3; i++) {
		char *at;
		size_t from = 0;
		while ((at = strstr(s + from, names[i]))) {
			size_t pre = (size_t)(at - s);
			char *n = agq_xasprintf("%.*s%s%s", (int)pre, s, vals[i],
			    at + strlen(names[i]));
			free(s);
			s = n;
			from = pre + strlen(vals[i]);
		}
	}
	return s;
}

int
agq_cli_prompt_on_stdin(const json_t *e, size_t prompt_len)
{
	const char *via = json_string_value(json_object_get(e, "prompt_via"));
	if (via && !strcmp(via, "stdin"))
		return 1;
	if (via && strcmp(via, "argv"))
		return -1;
	return prompt_len > AGQ_CLI_ARGV_MAX;
}

/* Append to A the strings of template array T, filled. */
static void
append_filled(json_t *a, const json_t *t, const struct cli_fill *f)
{
	size_t i;
	json_t *v;
	json_array_foreach(t, i, v) {
		char *s = fill(json_string_value(v) ? json_string_value(v) : "",
		    f);
		json_array_append_new(a, json_string(s));
		free(s);
	}
}

json_t *
agq_cli_argv_mcp(const json_t *e, const char *prompt, const char *model,
                 const char *session, int on_stdin,
                 const struct agq_cli_mcp *mcp)
{
	const struct cli_fill f = { prompt, model, session, mcp };
	json_t *xargs = mcp ? json_object_get(e, "mcp_args") : NULL;
	json_t *a = json_array();
	json_t *rargs = session ? json_object_get(e, "resume_args") : NULL;
	json_t *margs = model ? json_object_get(e, "model_args") : NULL;
	int placed = 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(e, "argv"), i, v) {
		const char *s = json_string_value(v);
		if (s && !strcmp(s, "{model_args}")) {
			append_filled(a, rargs, &f);
			append_filled(a, margs, &f);
			append_filled(a, xargs, &f);
			placed = 1;
		} else if (s && !strcmp(s, "{prompt}") && on_stdin) {
			append_filled(a, json_object_get(e, "stdin_args"), &f);
		} else {
			char *w = fill(s ? s : "", &f);
			json_array_append_new(a, json_string(w));
			free(w);
		}
	}
	if (!placed) {          /* no placeholder: after the rest, as before */
		append_filled(a, rargs, &f);
		append_filled(a, margs, &f);
		append_filled(a, xargs, &f);
	}
	return a;
}

json_t *
agq_cli_argv(const json_t *e, const char *prompt, const char *model,
             const char *session, int on_stdin)
{
	return agq_cli_argv_mcp(e, prompt, model, session, on_stdin, NULL);
}

/* S as a TOML basic string, quotes included (TOML 1.0 "String": its
 * escapes are JSON's), malloc'd. */
static char *
toml_string(const char *s)
{
	json_t *j = json_string(s);
	char *r = j ? json_dumps(j, JSON_ENCODE_ANY) : agq_xstrdup("\"\"");
	json_decref(j);
	return r;
}

int
agq_cli_mcp_prepare(const json_t *e, const char *tool, const json_t *task,
                    const char *dir, struct agq_cli_mcp *m, char *err,
                    size_t size)
{
	*m = (struct agq_cli_mcp){ NULL, NULL, NULL };
	const char *id = json_string_value(json_object_get(task, "id"));
	if (!id)
		id = getenv("AGQ_TASK_ID");
	if (!dir || !*dir)
		return agq_errf(err, size, "mcp: no directory for the MCP "
		    "configuration ($AGQ_OUT: the task's out/ID, set by "
		    "agq-run)");
	char *cmd = agq_exe_path("../../bin/agq-mcp");
	if (!cmd)
		cmd = agq_xasprintf("%s/agq-mcp", agq_bindir);
	json_t *env = json_object();
	static const char *const pass[] = { "AGQ_SPOOL", "AGQ_CONF", NULL };
	if (id)
		json_object_set_new(env, "AGQ_TASK_ID", json_string(id));
	for (int i = 0; pass[i]; i++)
		if (getenv(pass[i]) && json_string(getenv(pass[i])))
			json_object_set_new(env, pass[i],
			    json_string(getenv(pass[i])));
	json_t *srv = json_pack("{s:s, s:[], s:O}", "command", cmd, "args",
	    "env", env);
	json_object_update(srv, json_object_get(e, "mcp_server"));
	json_t *conf = json_pack("{s:{s:o}}", "mcpServers", "agq", srv);
	char *text = json_dumps(conf, JSON_INDENT(2));
	json_decref(conf);
	m->config = agq_xasprintf("%s/mcp-%s.json", dir, tool);
	int rc = agq_write_atomic(dir, m->config, text, strlen(text), 1, 0);
	free(text);
	if (rc < 0) {
		agq_errf(err, size, "mcp: cannot write the MCP configuration: "
		    "%s (%s)", strerror(errno), m->config);
	} else {
		m->command = toml_string(cmd);
		/* {NAME = "value", ...}: TOML 1.0 "Inline Table" */
		char *tbl = agq_xstrdup("{");
		const char *k;
		json_t *v;
		json_object_foreach(env, k, v) {
			char *q = toml_string(json_string_value(v));
			char *n = agq_xasprintf("%s%s%s = %s", tbl, tbl[1] ? ", " :
			    "", k, q);
			free(q);
			free(tbl);
			tbl = n;
		}
		m->env = agq_xasprintf("%s}", tbl);
		free(tbl);
	}
	json_decref(env);
	free(cmd);
	if (rc < 0)
		agq_cli_mcp_free(m);
	return rc;
}

void
agq_cli_mcp_free(struct agq_cli_mcp *m)
{
	free(m->config);
	free(m->command);
	free(m->env);
	*m = (struct agq_cli_mcp){ NULL, NULL, NULL };
}

json_t *
agq_cli_lock_load(const struct agq_conf *conf, char *err, size_t size)
{
	char *dflt = agq_etc_path("cli-lock.json");
	const char *path = agq_backend_setting(conf, "cli_lock", dflt);
	json_error_t je;
	json_t *lock = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(lock)) {
		agq_errf(err, size, "cannot load the CLI lock file: %s (%s)",
		    lock ? "not an object" : je.text, path);
		json_decref(lock);
		lock = NULL;
	}
	free(dflt);
	return lock;
}

/* The reason of a claude run whose tool uses were refused: DEN is its
 * permission_denials, [{"tool_name", "tool_use_id", "tool_input"}]. */
static void
denials(struct call *c, const json_t *den)
{
	char what[600] = "";
	size_t i, o = 0;
	json_t *d;
	json_array_foreach(den, i, d) {
		const char *tool = json_string_value(json_object_get(d,
		    "tool_name"));
		json_t *in = json_object_get(d, "tool_input");
		const char *arg = NULL;
		static const char *keys[] = { "file_path", "notebook_path",
		    "path", "command", "url", "pattern", NULL };
		for (int k = 0; keys[k] && !arg; k++)
			arg = json_string_value(json_object_get(in, keys[k]));
		char one[200];
		snprintf(one, sizeof one, "%s%s%.120s%s", tool ? tool : "a tool",
		    arg ? " (" : "", arg ? arg : "", arg ? ")" : "");
		if (o < sizeof what)
			o += (size_t)snprintf(what + o, sizeof what - o, "%s%s",
			    i ? ", " : "", one);
	}
	agq_errf(c->err, sizeof c->err, "claude was refused %zu tool use%s: "
	    "%s; the CLI lock's --permission-mode or --allowedTools must allow "
	    "%s", json_array_size(den), json_array_size(den) == 1 ? "" : "s",
	    what, json_array_size(den) == 1 ? "it" : "them");
}

/* The output OUT (LEN bytes) of CLI TOOL as one JSON object, or NULL
 * with c->err saying it is not one. */
static json_t *
cli_json(struct call *c, const char *tool, const char *out, size_t len)
{
	json_t *r = json_loadb(out, len, 0, NULL);
	if (!json_is_object(r)) {
		char snip[120];
		snippet(snip, sizeof snip, out, len, 80);
		agq_errf(c->err, sizeof c->err, "%s output is not a JSON object: "
		    "%s", tool, snip);
		json_decref(r);
		return NULL;
	}
	return r;
}

/* gemini -o json's output R (gemini-cli 0.61, its JsonFormatter):
 * {"session_id", "response", "stats": {"models": {NAME: {"tokens":
 * {"prompt", "candidates", "thoughts", "cached", ...}}}, "tools", ...},
 * "error": {"type", "message", "code"}}; into c->res. */
static int
gemini_parse(struct call *c, const json_t *r)
{
	json_t *sid = json_object_get(r, "session_id");
	if (json_is_string(sid))
		json_object_set(c->res, "session_id", sid);
	json_int_t tin = 0, tout = 0;
	const char *name;
	json_t *m;
	json_object_foreach(json_object_get(json_object_get(r, "stats"),
	    "models"), name, m) {
		json_t *tok = json_object_get(m, "tokens");
		tin += int_at(tok, "prompt");   /* cached ones included */
		tout += int_at(tok, "candidates") + int_at(tok, "thoughts");
	}
	json_object_set_new(c->res, "tokens_in", json_integer(tin));
	json_object_set_new(c->res, "tokens_out", json_integer(tout));
	const char *text = json_string_value(json_object_get(r, "response"));
	json_object_set_new(c->res, "output", json_string(text ? text : ""));
	json_t *e = json_object_get(r, "error");
	if (json_is_object(e)) {
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *msg = json_string_value(json_object_get(e,
		    "message"));
		agq_errf(c->err, sizeof c->err, "gemini reported an error%s%s%s: "
		    "%s", type ? " (" : "", type ? type : "", type ? ")" : "",
		    msg ? msg : "no message");
		c->verdict = 1;
		return -1;
	}
	if (!text) {
		agq_errf(c->err, sizeof c->err, "gemini: no response in the "
		    "output");
		return -1;
	}
	return 0;
}

/* What marks a line of the standard error of a CLI in FORMAT as a refused
 * tool use, or NULL.  codex 0.17x exits 0 with no event in its --json
 * output when its sandbox or approval policy refuses a tool call: the
 * model only reads the refusal as the tool's output, and codex logs it on
 * standard error ("ERROR codex_core::tools::router: error=patch
 * rejected: writing is blocked by read-only sandbox; rejected by user
 * approval settings", "exec command rejected by user"). */
static const char *
refusal_mark(const char *format)
{
	return !strcmp(format, "codex-jsonl") ? "rejected by user" : NULL;
}

/* Parse the output of a CLI in FORMAT into c->res; REFUSED is the first
 * line of its standard error with refusal_mark(FORMAT) ("" when none). */
static int
cli_parse(struct call *c, const char *format, const char *out, size_t len,
          const char *refused)
{
	if (!strcmp(format, "text")) {
		json_object_set_new(c->res, "output", agq_json_text(out, len));
		return 0;
	}
	if (!strcmp(format, "gemini-json")) {
		json_t *r = cli_json(c, "gemini", out, len);
		int rc = r ? gemini_parse(c, r) : -1;
		json_decref(r);
		return rc;
	}
	if (!strcmp(format, "claude-json")) {
		json_t *r = cli_json(c, "claude", out, len);
		if (!r)
			return -1;
		const char *text = json_string_value(json_object_get(r,
		    "result"));
		/* the final message of claude -p --output-format json is
		 * {"type": "result", "subtype": "success"|"error_...",
		 * "is_error", "result", "session_id", "permission_denials",
		 * "usage", "total_cost_usd"} */
		const char *type = json_string_value(json_object_get(r, "type"));
		int typed = type && !strcmp(type, "result");
		const char *sub = json_string_value(json_object_get(r,
		    "subtype"));
		json_t *sid = json_object_get(r, "session_id");
		if (json_is_string(sid))
			json_object_set(c->res, "session_id", sid);
		json_t *u = json_object_get(r, "usage");
		json_object_set_new(c->res, "tokens_in", json_integer(
		    int_at(u, "input_tokens") +
		    int_at(u, "cache_creation_input_tokens") +
		    int_at(u, "cache_read_input_tokens")));
		json_object_set_new(c->res, "tokens_out", json_integer(
		    int_at(u, "output_tokens")));
		json_t *cost = json_object_get(r, "total_cost_usd");
		json_object_set_new(c->res, "cost_usd", json_is_number(cost) ?
		    json_real(json_number_value(cost)) : json_null());
		json_object_set_new(c->res, "output", json_string(text ? text :
		    ""));
		json_t *den = json_object_get(r, "permission_denials");
		int bad = 1;
		if (json_is_true(json_object_get(r, "is_error")) || !text) {
			if (typed && sub)
				agq_errf(c->err, sizeof c->err, "claude reported an "
				    "error (%s): %s", sub, text ? text : "no result");
			else
				agq_errf(c->err, sizeof c->err, "claude reported an "
				    "error: %s", text ? text : sub ? sub :
				    "no result");
		} else if (json_array_size(den)) {
			denials(c, den);
		} else if (typed && sub && strcmp(sub, "success")) {
			agq_errf(c->err, sizeof c->err, "claude ended with %s: %s",
			    sub, text);
		} else {
			bad = 0;
		}
		c->verdict = bad && typed;
		json_decref(r);
		return bad ? -1 : 0;
	}
	if (!strcmp(format, "codex-jsonl")) {
		/* one event per line: the last agent_message is the output,
		 * turn.completed carries usage, turn.failed / error fail */
		char *copy = agq_xmalloc(len + 1);
		memcpy(copy, out, len);
		copy[len] = '\0';
		char *save = NULL, *line;
		json_int_t tin = 0, tout = 0;
		char *text = NULL, *fail = NULL;
		for (line = strtok_r(copy, "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save)) {
			json_t *ev = json_loads(line, 0, NULL);
			const char *type = json_string_value(json_object_get(ev,
			    "type"));
			json_t *item = json_object_get(ev, "item");
			if (!type) {
			} else if (!strcmp(type, "thread.started") &&
			    json_is_string(json_object_get(ev, "thread_id"))) {
				json_object_set(c->res, "session_id",
				    json_object_get(ev, "thread_id"));
			} else if (!strcmp(type, "item.completed") &&
			    json_string_value(json_object_get(item, "type")) &&
			    !strcmp(json_string_value(json_object_get(item,
			    "type")), "agent_message")) {
				free(text);
				const char *t = json_string_value(
				    json_object_get(item, "text"));
				text = agq_xstrdup(t ? t : "");
			} else if (!strcmp(type, "turn.completed")) {
				/* an error event before it was a notice the
				 * turn got over ("Reconnecting... 1/5") */
				json_t *u = json_object_get(ev, "usage");
				tin += int_at(u, "input_tokens");
				tout += int_at(u, "output_tokens");
				free(fail);
				fail = NULL;
			} else if (!strcmp(type, "turn.failed") ||
			    !strcmp(type, "error")) {
				const char *m = json_string_value(json_object_get(
				    json_object_get(ev, "error"), "message"));
				if (!m)
					m = json_string_value(json_object_get(ev,
					    "message"));
				free(fail);
				fail = agq_xstrdup(m ? m : type);
			}
			json_decref(ev);
		}
		free(copy);
		json_object_set_new(c->res, "tokens_in", json_integer(tin));
		json_object_set_new(c->res, "tokens_out", json_integer(tout));
		json_object_set_new(c->res, "output", json_string(text ? text :
		    ""));
		int rc = 0;
		const char *why = refused ? strstr(refused, "error=") : NULL;
		why = why ? why + 6 : refused;
		c->verdict = fail != NULL || (why && why[0]);
		if (fail || !text) {
			agq_errf(c->err, sizeof c->err, "codex: %s", fail ? fail :
			    "no agent message in the output");
			rc = -1;
		} else if (why && why[0]) {
			agq_errf(c->err, sizeof c->err, "codex was refused a tool "
			    "use: %s; the CLI lock's -s (sandbox mode) must allow "
			    "it", why);
			rc = -1;
		}
		free(text);
		free(fail);
		return rc;
	}
	agq_errf(c->err, sizeof c->err, "unknown output format '%s' in the CLI "
	    "lock file", format);
	return -1;
}

/* One run of CLI TOOL (lock entry E, output FORMAT) for PROMPT and
 * SUBMODEL (may be NULL), resuming SESSION (NULL: a new session), the
 * prompt on standard input when ON_STDIN; into c->res and c->err.
 * *STALE is set when the run failed and its standard error said the CLI
 * no longer knows SESSION (E's "resume_missing"). */
static int
cli_once(struct call *c, const json_t *e, const char *tool,
         const char *format, const char *prompt, const char *submodel,
         const char *session, int on_stdin, const struct agq_cli_mcp *mcp,
         int *stale)
{
	int in_fd = -1;
	FILE *tf = NULL;
	*stale = 0;
	if (on_stdin) {         /* an unlinked file: no pipe to keep fed */
		tf = tmpfile();
		size_t pl = strlen(prompt);
		if (!tf || fwrite(prompt, 1, pl, tf) != pl || fflush(tf) != 0 ||
		    lseek(fileno(tf), 0, SEEK_SET) < 0 ||
		    fcntl(fileno(tf), F_SETFD, FD_CLOEXEC) < 0) {
			agq_errf(c->err, sizeof c->err, "cannot write the prompt "
			    "to a temporary file: %s", strerror(errno));
			if (tf)
				fclose(tf);
			return -1;
		}
		in_fd = fileno(tf);
	}
	json_t *ja = agq_cli_argv_mcp(e, prompt, submodel, session, on_stdin,
	    mcp);
	/* the lock's env, and with mcp its "mcp_env", filled */
	json_t *env = json_deep_copy(json_object_get(e, "env"));
	const char *name;
	json_t *v;
	const struct cli_fill f = { prompt, submodel, session, mcp };
	json_object_foreach(mcp ? json_object_get(e, "mcp_env") : NULL, name,
	    v) {
		char *w = fill(json_string_value(v) ? json_string_value(v) : "",
		    &f);
		if (!env)
			env = json_object();
		json_object_set_new(env, name, json_string(w));
		free(w);
	}
	size_t k = json_array_size(ja), i;
	char **argv = agq_xmalloc((k + 1) * sizeof *argv);
	for (i = 0; i < k; i++)
		argv[i] = (char *)json_string_value(json_array_get(ja, i));
	argv[k] = NULL;
	char *out;
	size_t len;
	struct lastline el = { .watch = session ? json_string_value(
	    json_object_get(e, "resume_missing")) : NULL,
	    .want = refusal_mark(format) };
	int st = run_capture(argv, env, in_fd, &el, &out, &len, c->err,
	    sizeof c->err);
	free(argv);
	json_decref(ja);
	json_decref(env);
	if (tf)
		fclose(tf);
	if (st < 0)
		return -1;
	c->verdict = 0;
	int rc = cli_parse(c, format, out, len, el.hit);
	free(out);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		/* the exit status, then the CLI's own verdict and the last
		 * line it wrote on standard error */
		char verdict[sizeof c->err];
		snprintf(verdict, sizeof verdict, "%s", c->verdict ? c->err : "");
		describe_status(c->err, sizeof c->err, tool, st);
		size_t o = strlen(c->err);
		if (verdict[0])
			snprintf(c->err + o, sizeof c->err - o, ": %s", verdict);
		o = strlen(c->err);
		if (el.last[0])
			snprintf(c->err + o, sizeof c->err - o, "%s%s",
			    verdict[0] ? "; stderr: " : ": ", el.last);
		rc = -1;
	}
	*stale = rc < 0 && el.seen;
	return rc;
}

/* A backend that runs an agent CLI (AGQ_BACKEND_CLI: cli). */
static int
be_cli(struct call *c, const struct agq_backend_def *d)
{
	/* model "TOOL" or "TOOL/MODEL": TOOL is an entry of cli-lock.json */
	const char *m = json_string_value(json_object_get(c->task, "model"));
	if (!m) {
		agq_errf(c->err, sizeof c->err, "no model: the %s backend needs "
		    "\"model\": \"claude\", \"codex\", \"gemini\" or TOOL/MODEL",
		    d->name);
		return -1;
	}
	json_object_set_new(c->res, "model", json_string(m));
	char tool[64];
	const char *slash = strchr(m, '/');
	snprintf(tool, sizeof tool, "%.*s", slash ? (int)(slash - m) :
	    (int)strlen(m), m);
	const char *submodel = slash ? slash + 1 : NULL;
	json_t *lock = agq_cli_lock_load(c->conf, c->err, sizeof c->err);
	if (!lock)
		return -1;
	json_t *e = json_object_get(lock, tool);
	json_t *targv = json_object_get(e, "argv");
	const char *format = json_string_value(json_object_get(e, "format"));
	if (!json_array_size(targv) || !format) {
		agq_errf(c->err, sizeof c->err, "no CLI '%s' (with argv and format) "
		    "in the CLI lock file", tool);
		json_decref(lock);
		return -1;
	}
	json_object_set_new(c->res, "endpoint", json_string(tool));
	char *prompt = agq_backend_prompt(c->task);
	int on_stdin = agq_cli_prompt_on_stdin(e, strlen(prompt));
	if (on_stdin < 0) {
		agq_errf(c->err, sizeof c->err, "bad prompt_via for '%s' in the "
		    "CLI lock file: \"argv\" or \"stdin\"", tool);
		free(prompt);
		json_decref(lock);
		return -1;
	}
	/* the session of the task's last attempt (agq-run copies it into
	 * the attempt record), when the lock says how to resume one */
	const char *session = json_array_size(json_object_get(e,
	    "resume_args")) ? json_string_value(json_object_get(c->task,
	    "resume_session")) : NULL;
	/* agq-mcp(1) in the CLI's configuration: a task with "mcp": true */
	struct agq_cli_mcp mcp = { NULL, NULL, NULL };
	if (json_is_true(json_object_get(c->task, "mcp")) &&
	    agq_cli_mcp_prepare(e, tool, c->task, getenv("AGQ_OUT"), &mcp,
	    c->err, sizeof c->err) < 0) {
		free(prompt);
		json_decref(lock);
		return -1;
	}
	const struct agq_cli_mcp *mp = mcp.config ? &mcp : NULL;
	int stale;
	int rc = cli_once(c, e, tool, format, prompt, submodel, session,
	    on_stdin, mp, &stale);
	if (stale) {            /* not a failure of the task: start anew */
		agq_warn("%s no longer knows session %s: running it again "
		    "without resuming it", tool, session);
		json_object_del(c->res, "session_id");
		rc = cli_once(c, e, tool, format, prompt, submodel, NULL,
		    on_stdin, mp, &stale);
	}
	agq_cli_mcp_free(&mcp);
	free(prompt);
	int64_t until;
	const char *said = json_string_value(json_object_get(c->res,
	    "output"));
	if (rc < 0 && (agq_throttle_text(c->err, agq_now_us(), &until) ||
	    (said && agq_throttle_text(said, agq_now_us(), &until))))
		throttled(c, agq_throttle_cli_account(tool), until);
	if (json_is_null(json_object_get(c->res, "cost_usd"))) {
		double cost;
		if (agq_price(c->conf, d->name, m, int_at(c->res, "tokens_in"),
		    int_at(c->res, "tokens_out"), &cost) == 0)
			json_object_set_new(c->res, "cost_usd", json_real(cost));
	}
	json_decref(lock);
	return rc;
}

json_t *
agq_backend_run(const char *name, const json_t *task,
                const struct agq_conf *conf)
{
	struct call c = { .conf = conf, .task = task };
	c.res = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:n, s:n, s:i, "
	    "s:n}", "backend", name, "status", "error", "output", "", "model",
	    "none", "tokens_in", 0, "tokens_out", 0, "cost_usd", "endpoint",
	    "duration_ms", 0, "error");
	int64_t t0 = agq_mono_us();
	int rc;
	const struct agq_backend_def *d = agq_backend_def(name);
	if (d && d->kind == AGQ_BACKEND_PROCESS)
		rc = be_shell(&c, d);
	else if (d && d->kind == AGQ_BACKEND_HTTP)
		rc = be_http(&c, d);
	else if (d && d->kind == AGQ_BACKEND_CLI)
		rc = be_cli(&c, d);
	else {
		agq_errf(c.err, sizeof c.err, "unknown backend '%s'", name);
		rc = -1;
	}
	json_object_set_new(c.res, "duration_ms",
	    json_integer((agq_mono_us() - t0) / 1000));
	json_object_set_new(c.res, "status", json_string(rc == 0 ? "ok" :
	    c.until_us ? "throttled" : "error"));
	if (rc < 0)
		json_object_set_new(c.res, "error", json_string(c.err));
	if (rc < 0 && c.until_us) {
		char t[32];
		json_object_set_new(c.res, "not_before", json_string(
		    agq_fmt_time(c.until_us, t)));
		json_object_set_new(c.res, "account", json_string(c.account));
	}
	free(c.account);
	return c.res;
}

int
agq_backend_main(int argc, char **argv, const char *name)
{
	static char prog[64];
	snprintf(prog, sizeof prog, "agq-%s", name);
	agq_setprog(prog);
	char usage[640];
	snprintf(usage, sizeof usage, "usage: %s < TASK.json > RESULT.json\n"
	    "The %s backend of agq: reads a task on standard input, writes a "
	    "result on\nstandard output.  See agq-backend(7).\n"
	    "Exit: 0 ok, 1 the call failed (see \"error\"), 65 bad task, "
	    "75 a usage or\nrate limit (status \"throttled\", see "
	    "\"not_before\"), 78 bad configuration.\n", argv[0], name);
	agq_cli_help(argc, argv, usage);
	if (argc > 1)
		agq_cli_usage(usage);
	signal(SIGPIPE, SIG_IGN);
	struct agq_conf conf;
	memset(&conf, 0, sizeof conf);
	if (agq_conf_load(&conf, NULL) < 0)
		return EX_CONFIG;
	size_t len;
	char *buf = agq_read_fd(0, 16u << 20, &len);
	int rc;
	json_t *res;
	char err[512];
	json_t *task = buf ? agq_task_parse(buf, len, err, sizeof err) : NULL;
	if (!buf)
		snprintf(err, sizeof err, "cannot read the task: %s",
		    strerror(errno));
	free(buf);
	if (!task) {
		res = json_pack("{s:s, s:s, s:s}", "backend", name, "status",
		    "error", "error", err);
		rc = EX_DATAERR;
	} else {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			agq_die(EX_SOFTWARE, "cannot initialize libcurl");
		res = agq_backend_run(name, task, &conf);
		curl_global_cleanup();
		const char *st = json_string_value(json_object_get(res,
		    "status"));
		rc = !strcmp(st, "ok") ? 0 : !strcmp(st, "throttled") ?
		    EX_TEMPFAIL : 1;
	}
	char *s = json_dumps(res, JSON_INDENT(2));
	if (s)
		printf("%s\n", s);
	free(s);
	if (rc == 1 || rc == EX_TEMPFAIL)
		agq_warn("%s", json_string_value(json_object_get(res, "error")));
	json_decref(res);
	json_decref(task);
	free(conf.spool);
	json_decref(conf.backend);
	json_decref(conf.obs);
	if (agq_flush_stdout() < 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}
