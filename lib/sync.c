/* sync.c - agq-sync: the status block, the splice between its markers,
 * the diff, the atomic replace, the allow list and the git plumbing
 * (sync.h). */

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <dirent.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "util.h"
#include "sync.h"

/* ---- a growing string --------------------------------------------------- */

void
agq_sb_printf(struct agq_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int r = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n :
		    0, fmt, ap);
		va_end(ap);
		if (r < 0)
			return;
		if (b->s && b->n + (size_t)r < b->cap) {
			b->n += (size_t)r;
			return;
		}
		size_t cap = b->cap ? b->cap : 1024;
		while (cap <= b->n + (size_t)r)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns)
			agq_die(71, "out of memory");
		b->s = ns;
		b->cap = cap;
	}
}

void
agq_sb_md(struct agq_sbuf *b, const char *s, size_t max)
{
	if (!s)
		s = "";
	size_t n = 0;
	for (; *s && n < max; s++, n++) {
		if (*s == '|')
			agq_sb_printf(b, "\\|");
		else if (*s == '\n' || *s == '\r' || *s == '\t')
			agq_sb_printf(b, " ");
		else if (*s == '<')
			agq_sb_printf(b, "&lt;");
		else
			agq_sb_printf(b, "%c", *s);
	}
	if (*s)
		agq_sb_printf(b, "...");
}

#define JI(o, k) ((long long)json_integer_value(json_object_get((o), (k))))
#define JS(o, k) json_string_value(json_object_get((o), (k)))

static void
secs(struct agq_sbuf *b, const json_t *l, const char *k)
{
	json_t *v = json_object_get(l, k);
	if (json_is_number(v))
		agq_sb_printf(b, "%.1f s", json_number_value(v) / 1000.0);
	else
		agq_sb_printf(b, "-");
}

/* "p50 X, p90 Y, p99 Z" of the latency object L (secs). */
static void
percentiles(struct agq_sbuf *b, const json_t *l)
{
	static const char *const p[][2] = { { "p50", "p50_ms" },
	    { "p90", "p90_ms" }, { "p99", "p99_ms" } };
	for (int i = 0; i < 3; i++) {
		agq_sb_printf(b, "%s%s ", i ? ", " : "", p[i][0]);
		secs(b, l, p[i][1]);
	}
}

static void
recent_list(struct agq_sbuf *b, const json_t *arr, int failed)
{
	size_t i;
	json_t *r;
	json_array_foreach(arr, i, r) {
		agq_sb_printf(b, "- `%s` ", JS(r, "id") ? JS(r, "id") : "?");
		agq_sb_md(b, JS(r, "title") ? JS(r, "title") : "", 80);
		if (JS(r, "agent") && *JS(r, "agent"))
			agq_sb_printf(b, " (%s)", JS(r, "agent"));
		agq_sb_printf(b, ", %s", JS(r, "ts") ? JS(r, "ts") : "");
		if (failed) {
			agq_sb_printf(b, ": ");
			agq_sb_md(b, JS(r, "reason"), 120);
		}
		if (JS(r, "pr_url"))
			agq_sb_printf(b, " [PR](%s)", JS(r, "pr_url"));
		agq_sb_printf(b, "\n");
	}
}

char *
agq_sync_render(const json_t *snap, const json_t *stats)
{
	struct agq_sbuf b = { 0 };
	const json_t *c = json_object_get(snap, "counts");
	const json_t *ln = json_object_get(c, "queue_lanes");
	agq_sb_printf(&b, "_Written by agq-sync from the spool; edits between "
	    "these markers are replaced._\n\n");
	agq_sb_printf(&b, "| state | tasks |\n|---|---:|\n");
	agq_sb_printf(&b, "| queue | %lld (urgent %lld, high %lld, normal %lld, "
	    "low %lld) |\n", JI(c, "queue"), JI(ln, "urgent"), JI(ln, "high"),
	    JI(ln, "normal"), JI(ln, "low"));
	static const char *rows[] = { "active", "defer", "hold", "done",
	    "dead", "inbox", "corrupt", NULL };
	for (int i = 0; rows[i]; i++)
		agq_sb_printf(&b, "| %s | %lld |\n", rows[i], JI(c, rows[i]));
	const json_t *ag = json_object_get(snap, "agents");
	const json_t *h = json_object_get(snap, "health");
	agq_sb_printf(&b, "\n**Agents:** %lld connected of %lld.\n",
	    JI(h, "agents_alive"), JI(h, "agents_total"));
	if (json_array_size(ag)) {
		agq_sb_printf(&b, "\n| agent | state | slots | running | "
		    "capabilities |\n|---|---|---:|---|---|\n");
		size_t i, k;
		json_t *a, *v;
		json_array_foreach(ag, i, a) {
			agq_sb_printf(&b, "| %s | %s | %lld | ", JS(a, "name"),
			    JS(a, "state"), JI(a, "slots"));
			json_array_foreach(json_object_get(a, "running"), k, v)
				agq_sb_printf(&b, "%s`%s`", k ? " " : "",
				    json_string_value(v));
			agq_sb_printf(&b, " | ");
			json_array_foreach(json_object_get(a, "capabilities"),
			    k, v) {
				agq_sb_printf(&b, "%s", k ? ", " : "");
				agq_sb_md(&b, json_string_value(v), 40);
			}
			agq_sb_printf(&b, " |\n");
		}
	}
	if (stats) {
		const json_t *e = json_object_get(stats, "events");
		const json_t *lat = json_object_get(stats, "latency");
		const json_t *run = json_object_get(lat, "run");
		const json_t *wait = json_object_get(lat, "wait");
		agq_sb_printf(&b, "\n**Totals** (journal since %s): %lld submitted, "
		    "%lld done, %lld dead, %lld cancelled, %lld retries, %lld "
		    "reclaims.\n", JS(json_object_get(stats, "window"), "since"),
		    JI(e, "submitted"), JI(e, "done"), JI(e, "dead"),
		    JI(e, "cancelled"), JI(e, "retries"), JI(e, "reclaims"));
		agq_sb_printf(&b, "Run time ");
		percentiles(&b, run);
		agq_sb_printf(&b, "; wait ");
		percentiles(&b, wait);
		agq_sb_printf(&b, ".\n");
		size_t i;
		json_t *t;
		json_array_foreach(json_object_get(stats, "tokens"), i, t) {
			if (i == 0)
				agq_sb_printf(&b, "\n| backend | model | runs | "
				    "tokens in | tokens out | cost (USD) |\n"
				    "|---|---|---:|---:|---:|---:|\n");
			agq_sb_printf(&b, "| ");
			agq_sb_md(&b, JS(t, "backend"), 40);
			agq_sb_printf(&b, " | ");
			agq_sb_md(&b, JS(t, "model"), 40);
			agq_sb_printf(&b, " | %lld | %.0f | %.0f | %.4f |\n",
			    JI(t, "runs"), json_number_value(json_object_get(t,
			    "tokens_in")), json_number_value(json_object_get(t,
			    "tokens_out")), json_number_value(json_object_get(t,
			    "cost_usd")));
		}
	}
	const json_t *rec = json_object_get(snap, "recent");
	if (json_array_size(json_object_get(rec, "done"))) {
		agq_sb_printf(&b, "\n**Recent completions**\n\n");
		recent_list(&b, json_object_get(rec, "done"), 0);
	}
	if (json_array_size(json_object_get(rec, "failed"))) {
		agq_sb_printf(&b, "\n**Recent failures**\n\n");
		recent_list(&b, json_object_get(rec, "failed"), 1);
	}
	agq_sb_printf(&b, "\n**Health:** %s", JS(h, "status"));
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(h, "problems"), i, p) {
		agq_sb_printf(&b, "%s", i ? "; " : ": ");
		agq_sb_md(&b, json_string_value(p), 200);
	}
	agq_sb_printf(&b, ".\n");
	return b.s;
}

void
agq_sync_render_plan(struct agq_sbuf *b, const char *name, const json_t *rec)
{
	const json_t *doc = json_object_get(rec, "doc");
	agq_sb_printf(b, "\n**Plan ");
	agq_sb_md(b, name, 64);
	if (!doc || json_is_true(json_object_get(rec, "deleted"))) {
		agq_sb_printf(b, ":** none.\n");
		return;
	}
	const json_t *by = json_object_get(rec, "by");
	agq_sb_printf(b, "** (revision %lld, ", JI(rec, "rev"));
	agq_sb_md(b, json_string_value(json_object_get(by, "user")), 64);
	agq_sb_printf(b, ", %s):\n\n```json\n", JS(rec, "at") ? JS(rec, "at") :
	    "-");
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_ENCODE_ANY);
	for (char *p = s; p && *p; p++) {
		if (*p == '<')
			agq_sb_printf(b, "\\u003c");
		else
			agq_sb_printf(b, "%c", *p);
	}
	free(s);
	agq_sb_printf(b, "\n```\n");
}

/* ---- the markers --------------------------------------------------------- */

static size_t
occurrences(const char *s, size_t len, const char *m, const char **first)
{
	size_t n = 0, ml = strlen(m);
	*first = NULL;
	for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), m, ml));
	    p += ml) {
		if (!n)
			*first = p;
		n++;
	}
	return n;
}

char *
agq_sync_splice(const char *old, size_t len, const char *block,
                size_t *outlen, char *err, size_t size)
{
	const char *b, *e;
	size_t nb = occurrences(old, len, AGQ_SYNC_BEGIN, &b);
	size_t ne = occurrences(old, len, AGQ_SYNC_END, &e);
	if (nb != 1 || ne != 1) {
		if (nb == 0 || ne == 0)
			agq_errf(err, size, "no %s marker: the file needs one "
			    "line %s and, below it, one line %s", nb == 0 ?
			    "begin" : "end", AGQ_SYNC_BEGIN, AGQ_SYNC_END);
		else
			agq_errf(err, size, "%zu %s markers: each of %s and %s "
			    "must occur once", nb != 1 ? nb : ne, nb != 1 ?
			    "begin" : "end", AGQ_SYNC_BEGIN, AGQ_SYNC_END);
		return NULL;
	}
	if (e < b) {
		agq_errf(err, size, "the end marker comes before the begin "
		    "marker");
		return NULL;
	}
	/* keep the begin marker's whole line */
	const char *head_end = b + strlen(AGQ_SYNC_BEGIN);
	const char *nl = memchr(head_end, '\n', (size_t)(e - head_end));
	struct agq_sbuf o = { 0 };
	if (nl)
		head_end = nl + 1;
	agq_sb_printf(&o, "%.*s", (int)(head_end - old), old);
	if (!nl)
		agq_sb_printf(&o, "\n");
	/* the end marker keeps its line's indentation */
	const char *ls = e;
	while (ls > head_end && (ls[-1] == ' ' || ls[-1] == '\t'))
		ls--;
	agq_sb_printf(&o, "%s", block);
	if (*block && block[strlen(block) - 1] != '\n')
		agq_sb_printf(&o, "\n");
	agq_sb_printf(&o, "%.*s", (int)(old + len - ls), ls);
	*outlen = o.n;
	if (!o.s)
		o.s = agq_xstrdup("");
	return o.s;
}

/* ---- diff ---------------------------------------------------------------- */

static void
git_err(char *err, size_t size, const char *what)
{
	const git_error *g = git_error_last();
	agq_errf(err, size, "%s: %s", what, g && g->message ? g->message :
	    "libgit2 failed");
}

char *
agq_unified_diff(const char *path, const char *a, size_t alen,
                 const char *b, size_t blen, char *err, size_t size)
{
	if (alen == blen && !memcmp(a, b, alen))
		return agq_xstrdup("");
	git_patch *patch = NULL;
	git_diff_options opts;
	git_diff_options_init(&opts, GIT_DIFF_OPTIONS_VERSION);
	opts.context_lines = 3;
	while (*path == '/')
		path++;         /* "a/tmp/x.md", not "a//tmp/x.md" */
	if (git_patch_from_buffers(&patch, a, alen, path, b, blen, path,
	    &opts) < 0) {
		git_err(err, size, "cannot diff");
		return NULL;
	}
	git_buf buf = { 0 };
	char *out = NULL;
	if (git_patch_to_buf(&buf, patch) < 0)
		git_err(err, size, "cannot print the diff");
	else
		out = agq_xstrdup(buf.ptr ? buf.ptr : "");
	git_buf_dispose(&buf);
	git_patch_free(patch);
	return out;
}

/* ---- the atomic replace -------------------------------------------------- */

int
agq_replace_file(const char *path, const char *buf, size_t len)
{
	char *dcopy = agq_xstrdup(path), *bcopy = agq_xstrdup(path);
	char *dir = dirname(dcopy), *base = basename(bcopy);
	struct stat sb;
	int rc = -1, fd = -1, e = 0;
	char *tmp = NULL, *pat = NULL;
	if (stat(path, &sb) < 0)
		goto out;
	/* a crash earlier left these; the caller holds the sync lock.  Names
	 * are compared, not globbed: a '[' or '*' in BASE matches itself. */
	pat = agq_xasprintf(".%s.agq-sync.", base);
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *de;
		size_t pl = strlen(pat);
		while ((de = readdir(d)))
			if (!strncmp(de->d_name, pat, pl) &&
			    strlen(de->d_name) == pl + 6)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	tmp = agq_xasprintf("%s/.%s.agq-sync.XXXXXX", dir, base);
	fd = mkstemp(tmp);
	if (fd < 0)
		goto out;
	if (fchmod(fd, sb.st_mode & 07777) < 0 ||
	    agq_write_all(fd, buf, len) < 0 || fsync(fd) < 0)
		goto out;
	const char *crash = getenv("AGQ_SYNC_CRASH");
	if (crash && !strcmp(crash, "before-rename"))
		raise(SIGKILL);
	if (close(fd) < 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out;
	free(tmp);
	tmp = NULL;
	if (agq_fsync_dir(dir) < 0)
		goto out;
	rc = 0;
out:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(pat);
	free(dcopy);
	free(bcopy);
	errno = e;
	return rc;
}

/* ---- the allow list ------------------------------------------------------ */

int
agq_sync_allowed(const char *patterns, const char *abs)
{
	if (!patterns)
		return 0;
	char *copy = agq_xstrdup(patterns), *save = NULL;
	int ok = 0;
	for (char *p = strtok_r(copy, " \t", &save); p && !ok;
	    p = strtok_r(NULL, " \t", &save))
		ok = p[0] == '/' && fnmatch(p, abs, FNM_PATHNAME) == 0;
	free(copy);
	return ok;
}

/* ---- git ------------------------------------------------------------------ */

void
agq_git_init(void)
{
	git_libgit2_init();
}

void
agq_git_shutdown(void)
{
	git_libgit2_shutdown();
}

/* Open the repository whose work tree holds ABS; *REL gets ABS relative
 * to the work tree (borrowed from ABS). */
static git_repository *
open_repo(const char *abs, const char **rel, char *err, size_t size)
{
	git_repository *repo = NULL;
	char *d = agq_xstrdup(abs);
	int r = git_repository_open_ext(&repo, dirname(d), 0, NULL);
	free(d);
	if (r < 0) {
		git_err(err, size, "not in a git work tree");
		return NULL;
	}
	const char *wd = git_repository_workdir(repo);
	size_t wl = wd ? strlen(wd) : 0;
	if (!wd || strncmp(abs, wd, wl)) {
		agq_errf(err, size, "%s is not inside the work tree %s", abs,
		    wd ? wd : "(bare repository)");
		git_repository_free(repo);
		return NULL;
	}
	*rel = abs + wl;
	return repo;
}

int
agq_git_dirty(const char *abs, char *what, size_t wsize, char *err,
              size_t esize)
{
	const char *rel;
	git_repository *repo = open_repo(abs, &rel, err, esize);
	if (!repo)
		return -1;
	git_status_options o;
	git_status_options_init(&o, GIT_STATUS_OPTIONS_VERSION);
	o.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	o.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	git_status_list *list = NULL;
	if (git_status_list_new(&list, repo, &o) < 0) {
		git_err(err, esize, "cannot read the git status");
		git_repository_free(repo);
		return -1;
	}
	int dirty = 0;
	size_t n = git_status_list_entrycount(list);
	for (size_t i = 0; i < n && !dirty; i++) {
		const git_status_entry *s = git_status_byindex(list, i);
		if (s->status == GIT_STATUS_CURRENT ||
		    s->status == GIT_STATUS_WT_NEW ||
		    s->status == GIT_STATUS_IGNORED)
			continue;
		dirty = 1;
		const git_diff_delta *d = s->head_to_index ? s->head_to_index :
		    s->index_to_workdir;
		snprintf(what, wsize, "%s", d && d->new_file.path ?
		    d->new_file.path : "?");
	}
	git_status_list_free(list);
	git_repository_free(repo);
	return dirty;
}

int
agq_git_commit_file(const char *abs, const char *message, char *sha,
                    char *err, size_t size)
{
	const char *rel;
	git_repository *repo = open_repo(abs, &rel, err, size);
	if (!repo)
		return -1;
	int rc = -1;
	git_reference *head = NULL;
	git_commit *parent = NULL;
	git_tree *ptree = NULL, *tree = NULL;
	git_index *idx = NULL, *real = NULL;
	git_signature *sig = NULL;
	git_oid blob, tree_id, cid;
	struct stat sb;
	if (stat(abs, &sb) < 0) {
		agq_errf(err, size, "cannot stat %s: %s", abs, strerror(errno));
		goto out;
	}
	if (git_blob_create_from_disk(&blob, repo, abs) < 0) {
		git_err(err, size, "cannot store the file in git");
		goto out;
	}
	int hr = git_repository_head(&head, repo);
	if (hr == 0) {
		if (git_commit_lookup(&parent, repo, git_reference_target(head))
		    < 0 || git_commit_tree(&ptree, parent) < 0) {
			git_err(err, size, "cannot read HEAD");
			goto out;
		}
	} else if (hr != GIT_EUNBORNBRANCH && hr != GIT_ENOTFOUND) {
		git_err(err, size, "cannot read HEAD");
		goto out;
	}
	/* HEAD's tree with only this file changed: whatever else is staged
	 * in the repository's index stays out of the commit. */
	if (git_index_new(&idx) < 0 || (ptree && git_index_read_tree(idx,
	    ptree) < 0)) {
		git_err(err, size, "cannot build the commit's tree");
		goto out;
	}
	git_index_entry e;
	memset(&e, 0, sizeof e);
	e.mode = (sb.st_mode & 0111) ? GIT_FILEMODE_BLOB_EXECUTABLE :
	    GIT_FILEMODE_BLOB;
	e.id = blob;
	e.path = rel;
	e.file_size = (uint32_t)sb.st_size;
	if (git_index_add(idx, &e) < 0 ||
	    git_index_write_tree_to(&tree_id, idx, repo) < 0 ||
	    git_tree_lookup(&tree, repo, &tree_id) < 0) {
		git_err(err, size, "cannot build the commit's tree");
		goto out;
	}
	if (git_signature_default(&sig, repo) < 0 &&
	    git_signature_now(&sig, "agq-sync", "agq-sync@localhost") < 0) {
		git_err(err, size, "cannot make a signature");
		goto out;
	}
	const git_commit *parents[1] = { parent };
	if (git_commit_create(&cid, repo, "HEAD", sig, sig, NULL, message,
	    tree, parent ? 1 : 0, parents) < 0) {
		git_err(err, size, "cannot commit");
		goto out;
	}
	git_oid_tostr(sha, 41, &cid);
	/* the work tree's index follows, so git status stays clean */
	if (git_repository_index(&real, repo) < 0 ||
	    git_index_add_bypath(real, rel) < 0 || git_index_write(real) < 0) {
		git_err(err, size, "committed, but cannot update the index");
		goto out;
	}
	rc = 0;
out:
	git_index_free(real);
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(idx);
	git_tree_free(ptree);
	git_commit_free(parent);
	git_reference_free(head);
	git_repository_free(repo);
	return rc;
}
