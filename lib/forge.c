/* forge.c - a task's pull request on GitHub or Gitea/Forgejo through
 * their REST APIs, with libcurl (forge.h). */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <curl/curl.h>

#include "util.h"
#include "conf.h"
#include "spool.h"
#include "backend.h"
#include "git.h"
#include "prrec.h"
#include "forge.h"

#define FORGE_TIMEOUT_S  30     /* a request in all */
#define FORGE_CONNECT_S  10
#define FORGE_MAX_BODY   (16L << 20)
#define GITEA_PAGE       50     /* Gitea's largest page (MAX_RESPONSE_ITEMS) */
#define GITEA_MAX_PAGES  200

/* ---- owner/repo --------------------------------------------------------- */

/* Is [S, S+N) one owner or repository name: [A-Za-z0-9._-]{1,100}, not
 * "." or ".."? */
static int
name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 100 || (s[0] == '.' && (n == 1 ||
	    (n == 2 && s[1] == '.'))))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isascii(c) && (isalnum(c) || c == '.' || c == '_' ||
		    c == '-')))
			return 0;
	}
	return 1;
}

int
agq_forge_repo_parse(const char *origin, int bare, char owner[101],
                     char repo[101])
{
	owner[0] = repo[0] = '\0';
	if (!origin || !*origin || !strncmp(origin, "file:", 5) ||
	    origin[0] == '/' || origin[0] == '.') {
		errno = EINVAL;
		return -1;
	}
	const char *path, *scheme = strstr(origin, "://");
	const char *colon = strchr(origin, ':'), *slash = strchr(origin, '/');
	if (scheme) {
		/* scheme://[user@]host[:port]/path */
		path = strchr(scheme + 3, '/');
	} else if (colon && (!slash || colon < slash)) {
		path = colon + 1;       /* scp-style [user@]host:path */
	} else if (bare) {
		path = origin;          /* OWNER/REPO */
	} else {
		path = NULL;            /* a relative local path */
	}
	if (!path) {
		errno = EINVAL;
		return -1;
	}
	size_t end = strlen(path);
	while (end > 0 && path[end - 1] == '/')
		end--;
	if (end > 4 && !strncmp(path + end - 4, ".git", 4))
		end -= 4;
	size_t rb = end;
	while (rb > 0 && path[rb - 1] != '/')
		rb--;
	if (rb == 0) {
		errno = EINVAL;
		return -1;
	}
	size_t ob = rb - 1;
	while (ob > 0 && path[ob - 1] != '/')
		ob--;
	/* "OWNER/REPO" as forge_repo is exactly two components */
	if ((bare && !scheme && path == origin && ob != 0) ||
	    !name_ok(path + ob, rb - 1 - ob) || !name_ok(path + rb, end - rb)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(owner, 101, "%.*s", (int)(rb - 1 - ob), path + ob);
	snprintf(repo, 101, "%.*s", (int)(end - rb), path + rb);
	return 0;
}

/* ---- the description ---------------------------------------------------- */

void
agq_pr_body_from_task(struct agq_pr_body *b, const char *id, const json_t *t)
{
	memset(b, 0, sizeof *b);
	b->task = id;
	b->tokens_in = b->tokens_out = -1;
	b->cost_usd = -1;
	const json_t *crit = json_object_get(t, "success_criteria");
	b->criteria = json_is_array(crit) ? crit : NULL;
	b->draft = json_is_true(json_object_get(json_object_get(t, "git"),
	    "draft"));
	json_t *atts = json_object_get(t, "attempts"), *a;
	size_t i;
	json_array_foreach(atts, i, a) {
		json_t *ti = json_object_get(a, "tokens_in");
		json_t *to = json_object_get(a, "tokens_out");
		json_t *c = json_object_get(a, "cost_usd");
		if (json_is_integer(ti))
			b->tokens_in = (b->tokens_in < 0 ? 0 : b->tokens_in) +
			    json_integer_value(ti);
		if (json_is_integer(to))
			b->tokens_out = (b->tokens_out < 0 ? 0 : b->tokens_out) +
			    json_integer_value(to);
		if (json_is_number(c))
			b->cost_usd = (b->cost_usd < 0 ? 0 : b->cost_usd) +
			    json_number_value(c);
	}
	json_t *v = json_object_get(json_array_get(atts,
	    json_array_size(atts) - 1), "verify");
	const char *st = json_string_value(json_object_get(v, "status"));
	if (st) {
		snprintf(b->vbuf, sizeof b->vbuf, "verification: %.40s (%lld "
		    "passed, %lld failed)", st, (long long)json_integer_value(
		    json_object_get(v, "passed")), (long long)json_integer_value(
		    json_object_get(v, "failed")));
		b->verify = b->vbuf;
	}
}

char *
agq_pr_body_text(const struct agq_pr_body *b)
{
	char *s = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&s, &len);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	fputs("Opened by agq", f);
	if (b->task)
		fprintf(f, " for %s `%s`", b->tasks ? "mission" : "task",
		    b->task);
	fputs(".\n", f);
	if (json_array_size(b->criteria)) {
		fputs("\n### Success criteria\n\n", f);
		size_t i;
		json_t *c;
		json_array_foreach(b->criteria, i, c)
			if (json_is_string(c))
				fprintf(f, "- %s\n", json_string_value(c));
	}
	if (json_array_size(b->tasks)) {
		fputs("\n### Tasks\n\n", f);
		size_t i;
		json_t *c;
		json_array_foreach(b->tasks, i, c) {
			const char *ti = json_string_value(json_object_get(c,
			    "title"));
			fprintf(f, "- `%s`%s%s\n", json_string_value(
			    json_object_get(c, "id")), ti ? " " : "", ti ? ti :
			    "");
		}
	}
	if (b->verify && *b->verify)
		fprintf(f, "\n### Verification\n\n%s\n", b->verify);
	if (b->tokens_in >= 0 || b->tokens_out >= 0 || b->cost_usd >= 0) {
		fputs("\n### Usage\n\n", f);
		if (b->tokens_in >= 0 || b->tokens_out >= 0)
			fprintf(f, "- tokens: %lld in, %lld out\n",
			    (long long)(b->tokens_in < 0 ? 0 : b->tokens_in),
			    (long long)(b->tokens_out < 0 ? 0 : b->tokens_out));
		if (b->cost_usd >= 0)
			fprintf(f, "- cost: $%.4f\n", b->cost_usd);
	}
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	return s;
}

/* ---- HTTP ---------------------------------------------------------------- */

/* The forge's settings for one PR. */
struct forge {
	const char *kind;       /* "github" or "gitea" */
	char *api;              /* {forge_url}/repos/OWNER/REPO or
	                         * {forge_url}/api/v1/repos/OWNER/REPO */
	char owner[101], repo[101];
	struct curl_slist *hdrs;/* Authorization and the API's headers:
	                         * explicit_bzero'd before they are freed */
};

static void
forge_free(struct forge *f)
{
	for (struct curl_slist *h = f->hdrs; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(f->hdrs);
	free(f->api);
}

/* One request METHOD of URL with F's headers and the JSON BODY (NULL:
 * none).  0 when the forge answered (any status): *STATUS and *OUT its
 * body parsed (an object or an array, NULL when not JSON); -1 with ERR
 * when it did not (cannot connect, timed out, cut short). */
static int request_etag(const struct forge *f, const char *method,
                        const char *url, const char *body,
                        const char *if_none, char **etag, long *status,
                        json_t **out, char *err, size_t size);

static int
request(const struct forge *f, const char *method, const char *url,
        const char *body, long *status, json_t **out, char *err,
        size_t size)
{
	return request_etag(f, method, url, body, NULL, NULL, status, out, err,
	    size);
}

/* request, sending "If-None-Match: IF_NONE" when IF_NONE is not NULL
 * (RFC 9110 section 13.1.2) and, when ETAG is not NULL, storing the
 * answer's ETag header there (malloc'd, NULL without one). */
static int
request_etag(const struct forge *f, const char *method, const char *url,
             const char *body, const char *if_none, char **etag,
             long *status, json_t **out, char *err, size_t size)
{
	if (etag)
		*etag = NULL;
	*status = 0;
	*out = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	CURL *c = mem ? curl_easy_init() : NULL;
	if (!c) {
		if (mem)
			fclose(mem);
		free(buf);
		return agq_errf(err, size, "cannot start libcurl (%s)", url);
	}
	struct curl_slist *h = NULL;
	for (struct curl_slist *i = f->hdrs; i; i = i->next)
		h = curl_slist_append(h, i->data);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (if_none) {
		char *inm = agq_xasprintf("If-None-Match: %s", if_none);
		h = curl_slist_append(h, inm);
		free(inm);
	}
	char ebuf[CURL_ERROR_SIZE] = "";
	agq_curl_request(c, method, url, h, ebuf, body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);   /* fwrite(3) to it */
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)FORGE_TIMEOUT_S);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)FORGE_CONNECT_S);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, FORGE_MAX_BODY);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	struct curl_header *eh;
	if (etag && rc == CURLE_OK && curl_easy_header(c, "ETag", 0,
	    CURLH_HEADER, -1, &eh) == CURLHE_OK && eh->value && *eh->value)
		*etag = agq_xstrdup(eh->value);
	curl_easy_cleanup(c);
	for (struct curl_slist *i = h; i; i = i->next)
		explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(h);
	int bad = fclose(mem) != 0;
	if (rc != CURLE_OK) {
		free(buf);
		return agq_errf(err, size, "cannot reach %s: %s (%s)", f->kind,
		    ebuf[0] ? ebuf : curl_easy_strerror(rc), url);
	}
	if (bad) {
		free(buf);
		return agq_errf(err, size, "out of memory (%s)", url);
	}
	*out = json_loadb(buf, len, 0, NULL);
	free(buf);
	return 0;
}

/* The forge's message in its error body J: GitHub's "message" and the
 * first of "errors"[].message (which says "A pull request already
 * exists for ..."), Gitea's "message".  Into MSG (SIZE bytes). */
static void
answer_message(const json_t *j, char *msg, size_t size)
{
	const char *m = json_string_value(json_object_get(j, "message"));
	const char *d = json_string_value(json_object_get(json_array_get(
	    json_object_get(j, "errors"), 0), "message"));
	snprintf(msg, size, "%s%s%s", m ? m : d ? "" : "no message",
	    m && d ? ": " : "", d ? d : "");
	for (char *p = msg; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = ' ';
}

/* ERR = "KIND answered STATUS: MESSAGE[HINT] (URL)"; the rc for STATUS:
 * RETRY for 5xx and 429, FAIL for the rest. */
static int
answer_err(const struct forge *f, long status, const json_t *j,
           const char *hint, const char *url, char *err, size_t size)
{
	char msg[400];
	answer_message(j, msg, sizeof msg);
	agq_errf(err, size, "%s answered %ld: %s%s (%s)", f->kind, status, msg,
	    hint, url);
	return status >= 500 || status == 429 ? AGQ_FORGE_RETRY :
	    AGQ_FORGE_FAIL;
}

/* Copy PR J's number and html_url into REC; 0, or -1 when J has them not. */
static int
take_pr(json_t *rec, const json_t *j)
{
	json_t *num = json_object_get(j, "number");
	json_t *url = json_object_get(j, "html_url");
	if (!json_is_integer(num) || !json_is_string(url))
		return -1;
	json_object_set(rec, "url", url);
	json_object_set(rec, "number", num);
	return 0;
}

/* The PR of BRANCH in F's repository, into REC: the first open one
 * listed, else the first closed or merged one (a forge refuses a second
 * open PR for a head, not one after a closed one).  AGQ_FORGE_OK found;
 * AGQ_FORGE_FAIL with ERR untouched when there is none (the caller says
 * why it looked); another rc with ERR. */
static int
find_existing(const struct forge *f, json_t *rec, const char *branch,
              char *err, size_t size)
{
	int github = !strcmp(f->kind, "github"), rc = AGQ_FORGE_FAIL, more = 1;
	json_t *other = NULL;    /* a closed one, while no open one is seen */
	char *esc = curl_easy_escape(NULL, branch, 0);
	char *eown = curl_easy_escape(NULL, f->owner, 0);
	for (int page = 1; more && page <= GITEA_MAX_PAGES; page++) {
		char *url = github ? agq_xasprintf("%s/pulls?head=%s%%3A%s&"
		    "state=all", f->api, eown, esc) :
		    agq_xasprintf("%s/pulls?state=all&limit=%d&page=%d", f->api,
		    GITEA_PAGE, page);
		long status;
		json_t *j, *e;
		more = 0;
		if (request(f, "GET", url, NULL, &status, &j, err, size) < 0) {
			rc = AGQ_FORGE_RETRY;
		} else if (status != 200) {
			rc = answer_err(f, status, j, "", url, err, size);
		} else if (!json_is_array(j)) {
			agq_errf(err, size, "%s answered 200 without a list (%s)",
			    f->kind, url);
		} else {
			size_t i;
			json_array_foreach(j, i, e) {
				const char *ref = json_string_value(json_object_get(
				    json_object_get(e, "head"), "ref"));
				const char *st = json_string_value(
				    json_object_get(e, "state"));
				if (!github && (!ref || strcmp(ref, branch)))
					continue;
				if (st && !strcmp(st, "open") &&
				    take_pr(rec, e) == 0) {
					rc = AGQ_FORGE_OK;
					break;
				}
				if (!other)
					other = json_incref(e);
			}
			more = rc != AGQ_FORGE_OK && !github &&
			    json_array_size(j) > 0;
		}
		json_decref(j);
		free(url);
	}
	if (rc == AGQ_FORGE_FAIL && !err[0] && other && take_pr(rec, other) == 0)
		rc = AGQ_FORGE_OK;
	json_decref(other);
	curl_free(esc);
	curl_free(eown);
	return rc;
}

/* The first line of the file PATH, the token; malloc'd, or NULL with
 * ERR. */
static char *
read_token(const char *path, char *err, size_t size)
{
	if (!path) {
		agq_errf(err, size, "forge_token_file is not set (agq.conf)");
		return NULL;
	}
	char *t = agq_read_file(path, 65536, NULL, NULL);
	if (!t) {
		agq_errf(err, size, "cannot read forge_token_file: %s (%s)",
		    strerror(errno), path);
		return NULL;
	}
	size_t n = strcspn(t, "\r\n");
	if (n == 0) {
		free(t);
		agq_errf(err, size, "forge_token_file is empty (%s)", path);
		return NULL;
	}
	explicit_bzero(t + n, strlen(t + n));
	return t;
}

/* Set F up for REC from SP's settings: 0, or AGQ_FORGE_OFF, or
 * AGQ_FORGE_FAIL with ERR. */
static int
forge_setup(const struct agq_spool *sp, const json_t *rec, struct forge *f,
            char *err, size_t size)
{
	memset(f, 0, sizeof *f);
	const struct agq_conf *cf = &sp->conf;
	const char *kind = agq_backend_setting(cf, "forge", "");
	if (!*kind)
		return AGQ_FORGE_OFF;
	if (strcmp(kind, "github") && strcmp(kind, "gitea"))
		return agq_errf(err, size, "forge: not github or gitea: '%s' "
		    "(agq.conf)", kind), AGQ_FORGE_FAIL;
	int github = !strcmp(kind, "github");
	f->kind = github ? "github" : "gitea";
	const char *base = agq_backend_setting(cf, "forge_url", github ?
	    "https://api.github.com" : NULL);
	if (!base)
		return agq_errf(err, size, "forge_url is not set: gitea needs "
		    "it (agq.conf)"), AGQ_FORGE_FAIL;
	const char *fr = agq_backend_setting(cf, "forge_repo", NULL);
	const char *origin = json_string_value(json_object_get(rec, "repo"));
	if (fr ? agq_forge_repo_parse(fr, 1, f->owner, f->repo) < 0 :
	    agq_forge_repo_parse(origin, 0, f->owner, f->repo) < 0)
		return agq_errf(err, size, fr ? "forge_repo: not OWNER/REPO: "
		    "'%s' (agq.conf)" : "cannot tell OWNER/REPO from the origin "
		    "'%s': set forge_repo (agq.conf)", fr ? fr : origin ? origin :
		    ""), AGQ_FORGE_FAIL;
	char *tok = read_token(agq_backend_setting(cf, "forge_token_file",
	    NULL), err, size);
	if (!tok)
		return AGQ_FORGE_FAIL;
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	f->api = agq_xasprintf("%.*s%s/repos/%s/%s", (int)bl, base, github ?
	    "" : "/api/v1", f->owner, f->repo);
	char *auth = agq_xasprintf("Authorization: %s %s", github ? "Bearer" :
	    "token", tok);
	f->hdrs = curl_slist_append(f->hdrs, auth);
	explicit_bzero(auth, strlen(auth));
	explicit_bzero(tok, strlen(tok));
	free(auth);
	free(tok);
	if (github) {
		f->hdrs = curl_slist_append(f->hdrs,
		    "Accept: application/vnd.github+json");
		f->hdrs = curl_slist_append(f->hdrs,
		    "X-GitHub-Api-Version: 2022-11-28");
	} else {
		f->hdrs = curl_slist_append(f->hdrs, "Accept: application/json");
	}
	return 0;
}

int
agq_forge_open(const struct agq_spool *sp, json_t *rec,
               const struct agq_pr_body *b, char *err, size_t size)
{
	struct forge f;
	if (size)
		err[0] = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return agq_errf(err, size, "cannot start libcurl"),
		    AGQ_FORGE_FAIL;
	int rc = forge_setup(sp, rec, &f, err, size);
	if (rc != 0 || json_is_integer(json_object_get(rec, "number"))) {
		forge_free(&f);         /* off, set up wrongly, opened before */
		curl_global_cleanup();
		return rc;
	}
	const char *branch = json_string_value(json_object_get(rec, "branch"));
	const char *base = json_string_value(json_object_get(rec, "base"));
	const char *title = json_string_value(json_object_get(rec, "title"));
	char *text = agq_pr_body_text(b);
	json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "title", title ? title :
	    branch ? branch : "", "head", branch ? branch : "", "base", base ?
	    base : "", "body", text);
	if (!strcmp(f.kind, "github"))
		json_object_set_new(req, "draft", json_boolean(b->draft));
	char *body = json_dumps(req, JSON_COMPACT);
	char *url = agq_xasprintf("%s/pulls", f.api);
	long status;
	json_t *j = NULL;
	if (!branch || !base) {
		agq_errf(err, size, "the PR record has no branch or base");
		rc = AGQ_FORGE_FAIL;
	} else if (request(&f, "POST", url, body, &status, &j, err, size) < 0) {
		rc = AGQ_FORGE_RETRY;
	} else if (status == 201 || status == 200) {
		rc = take_pr(rec, j) == 0 ? AGQ_FORGE_OK : (agq_errf(err, size,
		    "%s answered %ld without number and html_url (%s)", f.kind,
		    status, url), AGQ_FORGE_FAIL);
	} else if (status == (!strcmp(f.kind, "github") ? 422 : 409)) {
		/* the branch has one already (or the request was invalid) */
		rc = find_existing(&f, rec, branch, err, size);
		if (rc == AGQ_FORGE_FAIL && !err[0])
			rc = answer_err(&f, status, j, "", url, err, size);
	} else {
		rc = answer_err(&f, status, j, status == 401 || status == 403 ?
		    ": check forge_token_file" : status == 404 ?
		    ": check forge_url and forge_repo" : "", url, err, size);
	}
	if (rc == AGQ_FORGE_OK && agq_pr_save(sp, rec) < 0) {
		agq_errf(err, size, "cannot rewrite the PR record: %s",
		    strerror(errno));
		rc = AGQ_FORGE_FAIL;
	}
	json_decref(j);
	json_decref(req);
	free(url);
	free(body);
	free(text);
	forge_free(&f);
	curl_global_cleanup();
	return rc;
}

/* Does the forge's refusal J say one cannot review one's own pull
 * request?  GitHub: 422 {"errors": ["Review Can not approve your own pull
 * request"]} (or "request changes on"); Gitea: 422 "approve your own pull
 * is not allowed".  1 or 0. */
static int
own_pull(const json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int yes = s && strcasestr(s, "your own pull");
	free(s);
	return yes;
}

int
agq_forge_review(const struct agq_spool *sp, const json_t *rec,
                 const char *head, int approve, const char *body,
                 char event[16], char *err, size_t size)
{
	struct forge f;
	if (size)
		err[0] = '\0';
	event[0] = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return agq_errf(err, size, "cannot start libcurl"),
		    AGQ_FORGE_FAIL;
	int rc = forge_setup(sp, rec, &f, err, size);
	json_t *num = json_object_get(rec, "number");
	if (rc == 0 && !json_is_integer(num)) {
		agq_errf(err, size, "the PR record %s has no number on the "
		    "forge", json_string_value(json_object_get(rec, "id")));
		rc = AGQ_FORGE_FAIL;
	}
	if (rc != 0) {
		forge_free(&f);
		curl_global_cleanup();
		return rc;
	}
	int github = !strcmp(f.kind, "github");
	char *url = agq_xasprintf("%s/pulls/%lld/reviews", f.api,
	    (long long)json_integer_value(num));
	const char *ev = approve ? (github ? "APPROVE" : "APPROVED") :
	    "REQUEST_CHANGES";
	for (int round = 0; round < 2; round++) {
		json_t *req = json_pack("{s:s, s:s, s:s}", "commit_id", head ?
		    head : "", "body", body ? body : "", "event", ev);
		char *js = json_dumps(req, JSON_COMPACT);
		json_decref(req);
		long status;
		json_t *j = NULL;
		if (request(&f, "POST", url, js, &status, &j, err, size) < 0)
			rc = AGQ_FORGE_RETRY;
		else if (status == 200 || status == 201)
			rc = AGQ_FORGE_OK;
		else
			rc = answer_err(&f, status, j, "", url, err, size);
		/* one's own PR: the verdict as a comment (its body says it) */
		int again = round == 0 && status == 422 && own_pull(j);
		json_decref(j);
		free(js);
		if (rc == AGQ_FORGE_OK)
			snprintf(event, 16, "%s", ev);
		if (!again)
			break;
		ev = "COMMENT";
		err[0] = '\0';
	}
	free(url);
	forge_free(&f);
	curl_global_cleanup();
	return rc;
}

int
agq_forge_open_task(const struct agq_spool *sp, json_t *rec,
                    const char *verify)
{
	char err[1024];
	const char *id = json_string_value(json_object_get(rec, "task"));
	struct agq_loc loc;
	json_t *t = id && agq_id_valid(id) ? agq_task_find_settled(sp, id, &loc,
	    AGQ_SETTLE_VIEW_MS) : NULL;
	struct agq_pr_body b;
	agq_pr_body_from_task(&b, id, t);
	if (verify)
		b.verify = verify;
	int rc = agq_forge_open(sp, rec, &b, err, sizeof err);
	json_decref(t);
	if (rc == AGQ_FORGE_RETRY)
		agq_warn("cannot open the pull request now (try again: agq-pr "
		    "open %s): %s", json_string_value(json_object_get(rec, "id")),
		    err);
	else if (rc == AGQ_FORGE_FAIL)
		agq_warn("cannot open the pull request: %s", err);
	return rc == AGQ_FORGE_RETRY ? EX_TEMPFAIL : rc == AGQ_FORGE_FAIL;
}

int
agq_forge_close(const struct agq_spool *sp, const json_t *rec, char *err,
                size_t size)
{
	struct forge f;
	if (size)
		err[0] = '\0';
	if (!json_is_integer(json_object_get(rec, "number"))) {
		const char *kind = agq_backend_setting(&sp->conf, "forge", "");
		return *kind ? AGQ_FORGE_OK : AGQ_FORGE_OFF;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return agq_errf(err, size, "cannot start libcurl"),
		    AGQ_FORGE_FAIL;
	int rc = forge_setup(sp, rec, &f, err, size);
	if (rc != 0) {
		forge_free(&f);
		curl_global_cleanup();
		return rc;
	}
	char *url = agq_xasprintf("%s/pulls/%lld", f.api, (long long)
	    json_integer_value(json_object_get(rec, "number")));
	long status;
	json_t *j = NULL;
	if (request(&f, "PATCH", url, "{\"state\":\"closed\"}", &status, &j,
	    err, size) < 0)
		rc = AGQ_FORGE_RETRY;
	else if (status == 200 || status == 201)
		rc = AGQ_FORGE_OK;
	else
		rc = answer_err(&f, status, j, status == 401 || status == 403 ?
		    ": check forge_token_file" : "", url, err, size);
	json_decref(j);
	free(url);
	forge_free(&f);
	curl_global_cleanup();
	return rc;
}

/* ---- a PR's state, and its merge (issue 18) ---------------------------- */

/* F set up for REC (forge_setup) and REC's number into *NUM: 0, or
 * AGQ_FORGE_OFF, or AGQ_FORGE_FAIL with ERR; curl started on 0 only. */
static int
forge_pr_setup(const struct agq_spool *sp, const json_t *rec,
               struct forge *f, json_int_t *num, char *err, size_t size)
{
	if (size)
		err[0] = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return agq_errf(err, size, "cannot start libcurl"),
		    AGQ_FORGE_FAIL;
	int rc = forge_setup(sp, rec, f, err, size);
	json_t *n = json_object_get(rec, "number");
	if (rc == 0 && !json_is_integer(n))
		rc = (agq_errf(err, size, "the PR record %s has no number on "
		    "the forge", json_string_value(json_object_get(rec, "id"))),
		    AGQ_FORGE_FAIL);
	if (rc != 0) {
		forge_free(f);
		curl_global_cleanup();
		return rc;
	}
	*num = json_integer_value(n);
	return 0;
}

static void
forge_pr_done(struct forge *f)
{
	forge_free(f);
	curl_global_cleanup();
}

/* GET F's pull request NUM, with IF_NONE (or NULL) and ETAG as
 * request_etag's: OK with *PR (NULL on 304), or another rc with ERR. */
static int
pr_get(const struct forge *f, json_int_t num, const char *if_none,
       json_t **pr, char **etag, char *err, size_t size)
{
	char *url = agq_xasprintf("%s/pulls/%lld", f->api, (long long)num);
	long status;
	json_t *j = NULL;
	int rc = AGQ_FORGE_OK;
	*pr = NULL;
	if (request_etag(f, "GET", url, NULL, if_none, etag, &status, &j, err,
	    size) < 0)
		rc = AGQ_FORGE_RETRY;
	else if (status == 304 && if_none)
		rc = AGQ_FORGE_OK;
	else if (status != 200)
		rc = answer_err(f, status, j, "", url, err, size);
	else if (!json_is_object(j))
		rc = (agq_errf(err, size, "%s answered 200 without a pull request "
		    "(%s)", f->kind, url), AGQ_FORGE_FAIL);
	else
		*pr = json_incref(j);
	json_decref(j);
	free(url);
	if (rc != AGQ_FORGE_OK && etag) {
		free(*etag);
		*etag = NULL;
	}
	return rc;
}

int
agq_forge_pr_get(const struct agq_spool *sp, const json_t *rec, json_t **pr,
                 char **etag, char *err, size_t size)
{
	struct forge f;
	json_int_t num;
	*pr = NULL;
	if (etag)
		*etag = NULL;
	int rc = forge_pr_setup(sp, rec, &f, &num, err, size);
	if (rc != 0)
		return rc;
	rc = pr_get(&f, num, json_string_value(json_object_get(rec, "etag")),
	    pr, etag, err, size);
	forge_pr_done(&f);
	return rc;
}

int
agq_forge_merge(const struct agq_spool *sp, const json_t *rec,
                const char *method, const char *head, const char *title,
                const char *message, char sha[41], char *err, size_t size)
{
	struct forge f;
	json_int_t num;
	sha[0] = '\0';
	int rc = forge_pr_setup(sp, rec, &f, &num, err, size);
	if (rc != 0)
		return rc;
	int github = !strcmp(f.kind, "github");
	json_t *req = github ? json_pack("{s:s, s:s, s:s, s:s}", "merge_method",
	    method, "sha", head, "commit_title", title, "commit_message",
	    message) : json_pack("{s:s, s:s, s:s, s:s}", "Do", method,
	    "head_commit_id", head, "MergeTitleField", title,
	    "MergeMessageField", message);
	char *body = json_dumps(req, JSON_COMPACT);
	char *url = agq_xasprintf("%s/pulls/%lld/merge", f.api, (long long)num);
	long status;
	json_t *j = NULL, *pr = NULL;
	char msg[400];
	if (!body) {
		rc = (agq_errf(err, size, "out of memory"), AGQ_FORGE_FAIL);
	} else if (request(&f, github ? "PUT" : "POST", url, body, &status, &j,
	    err, size) < 0) {
		rc = AGQ_FORGE_RETRY;
	} else if (status == 200) {
		const char *s = json_string_value(json_object_get(j, "sha"));
		/* Gitea answers 200 with no body: the PR says its merge
		 * commit */
		if (!s && (rc = pr_get(&f, num, NULL, &pr, NULL, err,
		    size)) == AGQ_FORGE_OK)
			s = json_string_value(json_object_get(pr,
			    "merge_commit_sha"));
		if (rc == AGQ_FORGE_OK && (!s || strlen(s) != 40))
			rc = (agq_errf(err, size, "%s answered 200 without the "
			    "merge commit's sha (%s)", f.kind, url), AGQ_FORGE_FAIL);
		else if (rc == AGQ_FORGE_OK)
			snprintf(sha, 41, "%s", s);
	} else if (status == 405) {
		answer_message(j, msg, sizeof msg);
		agq_errf(err, size, "conflict: not mergeable: %s", msg);
		rc = AGQ_FORGE_CONFLICT;
	} else if (status == 409) {
		answer_message(j, msg, sizeof msg);
		agq_errf(err, size, "head moved: %s answered 409: %s", f.kind,
		    msg);
		rc = AGQ_FORGE_MOVED;
	} else {
		rc = answer_err(&f, status, j, "", url, err, size);
	}
	json_decref(pr);
	json_decref(j);
	json_decref(req);
	free(body);
	free(url);
	forge_pr_done(&f);
	return rc;
}
