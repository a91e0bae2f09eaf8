/*
 * merge.c - a reviewed pull request merged into its base: the merge task
 * (libgit2 or the forge's API), the record and its event, the PR state
 * polled from the forge, the coder's conflict iteration (merge.h;
 * agq-task(5) "Merge tasks"; agq-journal(5) merge, pr_close).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <git2.h>

#include "util.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "steps.h"
#include "verify.h"
#include "git.h"
#include "prrec.h"
#include "forge.h"
#include "merge.h"

#define MERGE_WALK_MAX 1000     /* commits of base searched for the trailer */
#define MERGE_REDO_MAX 3        /* merges redone in one attempt, base moved */

static const char *
jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---- the record ------------------------------------------------------- */

int
agq_merge_record(const struct agq_spool *sp, json_t *rec, const char *sha,
                 const char *method, const char *by, const char *task,
                 const char *source)
{
	const char *st = jstr(rec, "state");
	if (st && !strcmp(st, "merged"))
		return 0;
	char at[32];
	agq_fmt_time(agq_now_us(), at);
	/* s? packs a NULL string as null, s* leaves the key out */
	json_object_set_new(rec, "merged", json_pack("{s:s, s:s?, s:s, s:s}",
	    "sha", sha, "method", method, "at", at, "by", by));
	if (agq_pr_save(sp, rec) < 0)
		return -1;
	json_t *ev = json_pack("{s:s?, s:s, s:s?, s:s, s:s?, s:s*}", "task",
	    task, "pr", jstr(rec, "id"), "method", method, "sha", sha, "base",
	    jstr(rec, "base"), "source", source);
	agq_journal(sp, "merge", jstr(rec, "task"), ev);
	if (agq_pr_move(sp, jstr(rec, "id"), "merged") < 0)
		return -1;
	json_object_set_new(rec, "state", json_string("merged"));
	return 0;
}

/* ---- libgit2 ---------------------------------------------------------- */

/* ERR = "WHAT: libgit2's message"; -1. */
static int
gerr(char *err, size_t size, const char *what)
{
	const git_error *e = git_error_last();
	return agq_errf(err, size, "%s: %s", what, e && e->message ?
	    e->message : "unknown error");
}

/* Does MSG carry the trailer line LINE ("Agq-PR: PRID")? */
static int
has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = msg; p && *p; p = strchr(p, '\n'), p = p ? p + 1 :
	    NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0' ||
		    p[n] == '\r'))
			return 1;
	return 0;
}

/* The commit of TIP's history (its first MERGE_WALK_MAX) whose message
 * has the trailer "Agq-PR: PRID", into SHA: 1, or 0 none, -1 with ERR. */
static int
find_merged(git_repository *repo, const git_oid *tip, const char *prid,
            char sha[41], char *err, size_t size)
{
	git_revwalk *w = NULL;
	if (git_revwalk_new(&w, repo) < 0 || git_revwalk_push(w, tip) < 0) {
		git_revwalk_free(w);
		return gerr(err, size, "cannot walk the base");
	}
	char *line = agq_xasprintf("Agq-PR: %s", prid);
	git_oid oid;
	int found = 0;
	for (int n = 0; !found && n < MERGE_WALK_MAX &&
	    git_revwalk_next(&oid, w) == 0; n++) {
		git_commit *c = NULL;
		if (git_commit_lookup(&c, repo, &oid) < 0)
			break;
		if (has_line(git_commit_message(c), line)) {
			git_oid_tostr(sha, 41, &oid);
			found = 1;
		}
		git_commit_free(c);
	}
	free(line);
	git_revwalk_free(w);
	return found;
}

/* IDX's conflicted paths as "conflict: A, B" into ERR (and, when LIST is
 * not NULL, each appended to it).  1 when there is one, else 0. */
static int
conflicts(git_index *idx, json_t *list, char *err, size_t size)
{
	if (!git_index_has_conflicts(idx))
		return 0;
	git_index_conflict_iterator *it = NULL;
	const git_index_entry *a, *o, *t;
	size_t n = (size_t)snprintf(err, size, "conflict: ");
	int k = 0;
	if (git_index_conflict_iterator_new(&it, idx) == 0)
		while (git_index_conflict_next(&a, &o, &t, it) == 0) {
			const char *p = o ? o->path : t ? t->path : a->path;
			if (list)
				json_array_append_new(list, json_string(p));
			if (n < size)
				n += (size_t)snprintf(err + n, size - n, "%s%s",
				    k++ ? ", " : "", p);
		}
	git_index_conflict_iterator_free(it);
	return 1;
}

/* MSG with the trailers of PARENT and PRID it lacks appended: in its
 * trailer block when its last line is one ("Key: value"), else after a
 * blank line.  malloc'd. */
static char *
with_trailers(const char *msg, const char *parent, const char *prid)
{
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' ||
	    msg[n - 1] == ' '))
		n--;
	size_t ls = n;
	while (ls > 0 && msg[ls - 1] != '\n')
		ls--;
	size_t key = strspn(msg + ls, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk"
	    "lmnopqrstuvwxyz0123456789-");
	int block = key > 0 && ls + key + 1 < n && msg[ls + key] == ':' &&
	    msg[ls + key + 1] == ' ' && ls > 0;
	char *tt = agq_xasprintf("Agq-Task: %s", parent);
	char *tp = agq_xasprintf("Agq-PR: %s", prid);
	char *body = agq_xasprintf("%.*s", (int)n, msg);
	int had = has_line(body, tt);
	char *out = agq_xasprintf("%s%s%s%s%s\n", body, block ? "\n" :
	    "\n\n", had ? "" : tt, had ? "" : "\n", tp);
	free(tt);
	free(tp);
	free(body);
	return out;
}

/* One merge's inputs and libgit2 objects. */
struct mg {
	const struct agq_spool *sp;
	const char *id, *parent, *prid, *head, *base, *method;
	json_t *rec;
	char *clone;
	git_repository *repo;
	git_commit *basec, *headc;
	git_signature *sig;
	char sha[41];           /* the result */
};

/* The commit named by the reference NAME of M's clone into *C: 0, or -1
 * with ERR. */
static int
ref_commit(struct mg *m, const char *name, git_commit **c, char *err,
           size_t size)
{
	git_oid oid;
	if (git_reference_name_to_id(&oid, m->repo, name) < 0 ||
	    git_commit_lookup(c, m->repo, &oid) < 0)
		return gerr(err, size, name);
	return 0;
}

/* Create the commit of tree TID with PARENTS (N), AUTHOR (NULL: M's
 * signature) and MSG into OUT.  0, or -1 with ERR. */
static int
commit_tree(struct mg *m, const git_oid *tid, const git_signature *author,
            const char *msg, size_t n, const git_commit **parents,
            git_oid *out, char *err, size_t size)
{
	git_tree *tree = NULL;
	int r = git_tree_lookup(&tree, m->repo, tid);
	if (r == 0)
		r = git_commit_create(out, m->repo, NULL, author ? author : m->sig,
		    m->sig, NULL, msg, tree, n, parents);
	git_tree_free(tree);
	return r < 0 ? gerr(err, size, "cannot commit the merge") : 0;
}

/* The tree of IDX written to M's clone into TID: 0, or 1 conflicts (ERR
 * "conflict: ..."), -1 with ERR. */
static int
index_tree(struct mg *m, git_index *idx, git_oid *tid, char *err,
           size_t size)
{
	if (conflicts(idx, NULL, err, size))
		return 1;
	return git_index_write_tree_to(tid, idx, m->repo) < 0 ?
	    gerr(err, size, "cannot write the merged tree") : 0;
}

/* Is commit OID of M's branch a merge of the base into it (the conflict
 * iteration's, agq_merge_update_from_base): a merge commit one of whose
 * parents is in the base's history?  That parent's number (1-based, a
 * cherry-pick's mainline), else 0. */
static size_t
base_merge(struct mg *m, const git_oid *oid)
{
	git_commit *c = NULL;
	size_t k = 0;
	if (git_commit_lookup(&c, m->repo, oid) < 0)
		return 0;
	for (unsigned j = 0; k == 0 && git_commit_parentcount(c) > 1 &&
	    j < git_commit_parentcount(c); j++) {
		const git_oid *p = git_commit_parent_id(c, j);
		if (git_oid_equal(p, git_commit_id(m->basec)) ||
		    git_graph_descendant_of(m->repo, git_commit_id(m->basec),
		    p) == 1)
			k = j + 1;
	}
	git_commit_free(c);
	return k;
}

/* The message of the one commit a rebase makes of merge commit MERGE
 * and the N commits of the branch before it (FIRST the oldest, NULL when
 * N is 0): the oldest's message, then a paragraph saying what was
 * folded; *AUTHOR gets that commit (NULL: MERGE's author is used).
 * malloc'd. */
static char *
fold_message(struct mg *m, git_commit *merge, const git_oid *first,
             size_t n, git_commit **author)
{
	*author = NULL;
	if (first && git_commit_lookup(author, m->repo, first) < 0)
		*author = NULL;
	const char *msg = git_commit_message(*author ? *author : merge);
	size_t len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	/* the paragraph goes before a trailer block ("Key: value" lines
	 * after a blank line, as agq's Agq-Task), which stays last */
	size_t cut = len;
	for (size_t i = len; i > 1; i--)
		if (msg[i - 1] == '\n' && msg[i - 2] == '\n') {
			int trailers = 1;
			for (const char *l = msg + i; l < msg + len && trailers;
			    l = strchr(l, '\n') ? strchr(l, '\n') + 1 : msg + len) {
				size_t k = strspn(l, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789-");
				trailers = k > 0 && l[k] == ':' && l[k + 1] == ' ';
			}
			if (trailers)
				cut = i - 2;
			break;
		}
	char sha[41];
	git_oid_tostr(sha, sizeof sha, git_commit_id(merge));
	return agq_xasprintf("%.*s\n\nRebased by agq: the branch's %zu "
	    "commit%s up to %.12s, its merge of %s, made one commit on %s.%s"
	    "%.*s\n", (int)cut, msg, n + 1, n ? "s" : "", sha, m->base, m->base,
	    cut < len ? "\n\n" : "", (int)(len - (cut < len ? cut + 2 : len)),
	    msg + (cut < len ? cut + 2 : len));
}

/* Merge M by its method into M->sha.  0, 1 conflicts (ERR), -1 (ERR). */
static int
merge_commits(struct mg *m, char *err, size_t size)
{
	git_merge_options mo;
	git_merge_options_init(&mo, GIT_MERGE_OPTIONS_VERSION);
	git_index *idx = NULL;
	git_oid tid, cid;
	const char *title = jstr(m->rec, "title");
	int rc;
	if (strcmp(m->method, "rebase")) {
		if (git_merge_commits(&idx, m->repo, m->basec, m->headc, &mo) < 0)
			return gerr(err, size, "cannot merge");
		rc = index_tree(m, idx, &tid, err, size);
		git_index_free(idx);
		if (rc)
			return rc;
		int squash = !strcmp(m->method, "squash");
		char *subj = squash ? agq_xasprintf("%s (%s)", title ? title :
		    m->prid, m->prid) : agq_xasprintf("Merge %s: %s", m->prid,
		    title ? title : jstr(m->rec, "branch"));
		subj[strcspn(subj, "\r\n")] = '\0';
		char *msg = with_trailers(subj, m->parent, m->prid);
		const git_commit *parents[2] = { m->basec, m->headc };
		rc = commit_tree(m, &tid, squash ? git_commit_author(m->headc) :
		    NULL, msg, squash ? 1 : 2, parents, &cid, err, size);
		free(msg);
		free(subj);
		if (rc == 0)
			git_oid_tostr(m->sha, 41, &cid);
		return rc;
	}
	/* rebase: the branch's own commits, oldest first, onto base */
	git_revwalk *w = NULL;
	if (git_revwalk_new(&w, m->repo) < 0 ||
	    git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(w, git_commit_id(m->headc)) < 0 ||
	    git_revwalk_hide(w, git_commit_id(m->basec)) < 0) {
		git_revwalk_free(w);
		return gerr(err, size, "cannot list the branch's commits");
	}
	git_oid *list = NULL, oid;
	size_t n = 0, cap = 0;
	while (git_revwalk_next(&oid, w) == 0) {
		list = agq_grow(list, &cap, n, sizeof *list, 16);
		list[n++] = oid;
	}
	git_revwalk_free(w);
	/* the branch's last merge of the base (the conflict iteration's):
	 * what it and the commits before it did, conflicts resolved, is one
	 * commit on the base (fold) */
	size_t fold = n, mainline = 0, nfolded = 0;
	for (size_t i = n; i-- > 0;)
		if ((mainline = base_merge(m, &list[i]))) {
			fold = i;
			break;
		}
	git_oid first;
	memset(&first, 0, sizeof first);
	git_commit *onto = NULL;
	git_commit_dup(&onto, m->basec);
	rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (fold < n && i != fold && git_graph_descendant_of(m->repo,
		    &list[fold], &list[i]) == 1) {
			if (nfolded++ == 0)
				first = list[i];
			continue;       /* in the fold */
		}
		git_commit *c = NULL;
		if (git_commit_lookup(&c, m->repo, &list[i]) < 0) {
			rc = gerr(err, size, "cannot read a commit");
			break;
		}
		if (git_cherrypick_commit(&idx, m->repo, c, onto, i == fold ?
		    (unsigned)mainline : git_commit_parentcount(c) > 1 ? 1 : 0,
		    &mo) < 0)
			rc = gerr(err, size, "cannot cherry-pick");
		else
			rc = index_tree(m, idx, &tid, err, size);
		git_index_free(idx);
		idx = NULL;
		git_commit *author = NULL;
		char *body = i == fold ? fold_message(m, c, nfolded ? &first :
		    NULL, nfolded, &author) : agq_xstrdup(git_commit_message(c));
		char *msg = i + 1 == n ? with_trailers(body, m->parent,
		    m->prid) : agq_xstrdup(body);
		free(body);
		const git_commit *parents[1] = { onto };
		if (rc == 0)
			rc = commit_tree(m, &tid, git_commit_author(author ?
			    author : c), msg, 1, parents, &cid, err, size);
		git_commit_free(author);
		free(msg);
		git_commit_free(c);
		if (rc == 0) {
			git_commit_free(onto);
			onto = NULL;
			if (git_commit_lookup(&onto, m->repo, &cid) < 0)
				rc = gerr(err, size, "cannot read the new commit");
		}
	}
	if (rc == 0 && onto)
		git_oid_tostr(m->sha, 41, git_commit_id(onto));
	git_commit_free(onto);
	free(list);
	return rc;
}

/* STEPS run in a worktree of REPO (the origin) detached at M->sha, the
 * merge task's (agq_git_detached: W/KEY.trees/ID, its HEAD the merge
 * result, so a step's git(1) sees a repository), removed after: the
 * report (new reference), or NULL with ERR when it could not be made. */
static json_t *
verify_result(struct mg *m, const json_t *steps, const char *repo,
              char *err, size_t size)
{
	struct agq_worktree wt;
	if (agq_git_detached(m->sp, repo, m->sha, m->id, &wt, err, size) < 0)
		return NULL;
	json_t *rep = agq_verify_run(steps, wt.path, 120);
	char e2[512];
	if (agq_git_remove(wt.path, 1, e2, sizeof e2) < 0)
		agq_warn("%s: cannot remove the merge's worktree: %s (%s)",
		    m->id, e2, wt.path);
	return rep;
}

/* "N of M steps failed: LABEL, LABEL" of the report REP into BUF. */
static void
verify_summary(const json_t *rep, char *buf, size_t size)
{
	json_t *steps = json_object_get(rep, "steps"), *s;
	size_t n = (size_t)snprintf(buf, size, "%lld of %zu steps failed",
	    json_integer_value(json_object_get(rep, "failed")),
	    json_array_size(steps));
	size_t i;
	int k = 0;
	json_array_foreach(steps, i, s) {
		const char *st = jstr(s, "status");
		if (!st || !strcmp(st, "pass") || n >= size)
			continue;
		char *what = agq_verify_step_label(s);
		n += (size_t)snprintf(buf + n, size - n, "%s%s", k++ ? ", " :
		    ": ", what);
		free(what);
	}
}

/* ---- the merge task --------------------------------------------------- */

/* AG's failure: status "merge_failed", error ERR, "no_retry" when FINAL.
 * Returns the exit status. */
static int
failed(json_t *ag, const char *err, int final)
{
	json_object_set_new(ag, "status", json_string("merge_failed"));
	json_object_set_new(ag, "error", json_string(err));
	if (final)
		json_object_set_new(ag, "no_retry", json_true());
	dprintf(2, "agq-run: %s\n", err);
	return final ? AGQ_MERGE_FINAL : 1;
}

/* Record M's outcome SHA (ALREADY: found, not made) in AG and the PR
 * record.  The exit status. */
static int
merged(struct mg *m, const char *sha, const char *by, int already,
       json_t *ag)
{
	if (agq_merge_record(m->sp, m->rec, sha, m->method, by, m->id,
	    NULL) < 0) {
		char e[600];
		snprintf(e, sizeof e, "cannot record the merge: %s (prs/%s)",
		    strerror(errno), m->prid);
		return failed(ag, e, 0);
	}
	json_object_set_new(ag, "status", json_string("done"));
	json_object_del(ag, "error");
	json_object_set_new(ag, "merge", json_pack("{s:s, s:s, s:s, s:s, s:b}",
	    "pr", m->prid, "sha", sha, "method", m->method, "base", m->base,
	    "already", already));
	return 0;
}

/* M's clone of REPO fetched (agq_git_sync_origin) and opened, what an
 * earlier try held freed first (its commits are objects of the old
 * repository).  0, or -1 with ERR (SIZE bytes). */
static int
clone_fresh(struct mg *m, const char *repo, char *err, size_t size)
{
	free(m->clone);
	m->clone = NULL;
	git_commit_free(m->basec);
	git_commit_free(m->headc);
	m->basec = m->headc = NULL;
	git_repository_free(m->repo);
	m->repo = NULL;
	if (agq_git_sync_origin(m->sp, repo, &m->clone, err, size) < 0)
		return -1;
	if (git_repository_open_bare(&m->repo, m->clone) < 0) {
		char *what = agq_xasprintf("cannot open the clone %s", m->clone);
		gerr(err, size, what);
		free(what);
		return -1;
	}
	return 0;
}

/* Has the PR's branch moved past M->head in M's clone (open, fetched)?
 * 1 with ERR (SIZE bytes) "head moved: BRANCH is at SHA, not HEAD" and
 * WHY after it (SHA "none": the branch is gone), which review.c reads
 * to start a new round at SHA; 0 it is at the head. */
static int
head_moved(struct mg *m, char *err, size_t size, const char *why)
{
	char *href = agq_xasprintf("refs/remotes/origin/%s", jstr(m->rec,
	    "branch"));
	char at[41] = "none";
	git_oid tip;
	if (git_reference_name_to_id(&tip, m->repo, href) == 0)
		git_oid_tostr(at, sizeof at, &tip);
	free(href);
	if (!strcmp(at, m->head))
		return 0;
	agq_errf(err, size, "head moved: %s is at %s, not %s%s", jstr(m->rec,
	    "branch"), at, m->head, why);
	return 1;
}

#define MERGE_READY (-2)      /* merge_try, DRY: merged and verified */
static int merge_try(struct mg *m, const json_t *t, const char *by,
                     json_t *ag, int *moved, char *err, size_t size, int dry);

/* Through the forge: already merged there, or merged now, T's verify
 * steps (when it has any) first passing on the head merged with the
 * current base in the origin's clone (merge_try, DRY).  The exit status,
 * or -1 when the forge is not to be used (no number). */
static int
forge_merge(struct mg *m, const json_t *t, const char *by, json_t *ag)
{
	char err[1024], sha[41];
	json_t *pr = NULL;
	int r = agq_forge_pr_get(m->sp, m->rec, &pr, NULL, err, sizeof err);
	if (r == AGQ_FORGE_OK && json_is_true(json_object_get(pr, "merged")) &&
	    jstr(pr, "merge_commit_sha")) {
		snprintf(sha, sizeof sha, "%s", jstr(pr, "merge_commit_sha"));
		json_decref(pr);
		return merged(m, sha, by, 1, ag);
	}
	json_decref(pr);
	if (r != AGQ_FORGE_OK)
		return failed(ag, err, 0);
	if (json_array_size(json_object_get(t, "verify"))) {
		/* the verify steps pass on the head merged with the current
		 * base before the forge is asked to merge (issue 18): made and
		 * verified in the origin's clone, nothing pushed; a conflict
		 * or a moved head is found here as on the local path */
		int moved;
		if (clone_fresh(m, jstr(json_object_get(t, "git"), "repo"), err,
		    sizeof err) < 0)
			return failed(ag, err, 0);
		r = merge_try(m, t, by, ag, &moved, err, sizeof err, 1);
		if (r != MERGE_READY)
			return r;
	}
	const char *title = jstr(m->rec, "title");
	char *subj = agq_xasprintf("%s (%s)", title ? title : m->prid, m->prid);
	subj[strcspn(subj, "\r\n")] = '\0';
	char *msg = with_trailers("", m->parent, m->prid);
	r = agq_forge_merge(m->sp, m->rec, m->method, m->head, subj, msg + 2,
	    sha, err, sizeof err);
	free(subj);
	free(msg);
	if (r == AGQ_FORGE_OK)
		return merged(m, sha, by, 0, ag);
	if (r == AGQ_FORGE_MOVED) {
		/* where the branch is now, as the local path says it, so the
		 * scheduler starts a new round at it (with verify steps the
		 * head was checked above, but it may move after); the forge's
		 * words kept when the clone shows no move */
		char why[1024], e1[901], e2[512];
		/* the forge's words, cut before a character */
		agq_errf(e1, sizeof e1, "%s", strncmp(err, "head moved: ", 12) ?
		    err : err + 12);
		snprintf(why, sizeof why, " (%s)", e1);
		if (clone_fresh(m, jstr(json_object_get(t, "git"), "repo"), e2,
		    sizeof e2) < 0)
			agq_warn("%s: cannot see where %s moved: %s", m->id,
			    jstr(m->rec, "branch"), e2);
		else
			head_moved(m, err, sizeof err, why);
	}
	return failed(ag, err, r == AGQ_FORGE_CONFLICT || r == AGQ_FORGE_MOVED);
}

/* One try of M's merge in its clone (open, fetched): found merged
 * already, or merged, verified and pushed.  The exit status; *MOVED set
 * to 1 (and nothing recorded) when the origin refused the push (ERR, SIZE
 * bytes, its reason), for the caller to look whether base moved.  DRY:
 * merged and verified only, MERGE_READY returned where it would push (the
 * forge merges). */
static int
merge_try(struct mg *m, const json_t *t, const char *by, json_t *ag,
          int *moved, char *err, size_t size, int dry)
{
	char sha[41];
	const char *repo = jstr(json_object_get(t, "git"), "repo");
	char *bref = agq_xasprintf("refs/remotes/origin/%s", m->base);
	int rc = -1;
	git_oid hoid;
	*moved = 0;
	if (ref_commit(m, bref, &m->basec, err, size) < 0) {
		rc = failed(ag, err, 0);
		goto out;
	}
	int f = find_merged(m->repo, git_commit_id(m->basec), m->prid, sha, err,
	    size);
	if (f != 0) {
		rc = f > 0 ? merged(m, sha, by, 1, ag) : failed(ag, err, 0);
		goto out;
	}
	if (head_moved(m, err, size, "") || git_oid_fromstr(&hoid, m->head) <
	    0) {
		rc = failed(ag, err, 1);
		goto out;
	}
	if (git_commit_lookup(&m->headc, m->repo, &hoid) < 0) {
		rc = failed(ag, (gerr(err, size, "cannot read the head"), err), 0);
		goto out;
	}
	if (git_graph_descendant_of(m->repo, git_commit_id(m->basec), &hoid) ==
	    1) {
		/* the branch is in base already: nothing to merge */
		rc = merged(m, git_oid_tostr_s(git_commit_id(m->basec)), by, 1,
		    ag);
		goto out;
	}
	if (!m->sig && agq_git_signature(m->sp, &m->sig) < 0) {
		rc = failed(ag, "bad git_author_name or git_author_email", 0);
		goto out;
	}
	int r = merge_commits(m, err, size);
	if (r) {
		rc = failed(ag, err, r > 0);
		goto out;
	}
	json_t *steps = json_object_get(t, "verify");
	if (json_array_size(steps)) {
		json_t *rep = verify_result(m, steps, repo, err, size);
		if (!rep) {
			rc = failed(ag, err, 0);
			goto out;
		}
		json_object_set_new(ag, "verify", rep);
		if (strcmp(jstr(rep, "status"), "pass")) {
			char sum[1024];
			verify_summary(rep, sum, sizeof sum);
			agq_errf(err, size, "verify failed on the merge: %s", sum);
			rc = failed(ag, err, 1);
			goto out;
		}
	}
	if (dry) {
		rc = MERGE_READY;
		goto out;
	}
	r = agq_git_push_commit(m->sp, m->clone, m->sha, m->base, err, size);
	if (r == 1) {
		*moved = 1;
		goto out;
	}
	if (r != 0) {
		char *e2 = agq_xasprintf("cannot push the merge to %s: %s",
		    m->base, err);
		rc = failed(ag, e2, 0);
		free(e2);
		goto out;
	}
	agq_journal(m->sp, "push", m->id, json_pack("{s:s, s:s, s:s, s:s, "
	    "s:s}", "agent", by, "repo", repo, "branch", m->base, "sha", m->sha,
	    "parent", m->parent));
	rc = merged(m, m->sha, by, 0, ag);
out:
	free(bref);
	return rc;
}

/* M merged in the origin's clone (merge_try), redone, at most
 * MERGE_REDO_MAX times, when the push was refused and a fetch shows base
 * moved meanwhile (another merge won the race): merged onto the new
 * base, verified again, pushed again, each redo journaled (`merge_redo`
 * {parent, pr, base, tried, moved_to, sha, redo, reason}).  Never
 * forced.  The exit status. */
static int
merge_local(struct mg *m, const json_t *t, const char *by, json_t *ag)
{
	char err[2048], refused[2048] = "", tried[41] = "";
	const char *repo = jstr(json_object_get(t, "git"), "repo");
	for (int redo = 0;; redo++) {
		if (clone_fresh(m, repo, err, sizeof err) < 0)
			return failed(ag, err, 0);
		if (redo > 0) {
			/* the push was refused: did base move? */
			char now[41] = "";
			git_oid oid;
			char *bref = agq_xasprintf("refs/remotes/origin/%s",
			    m->base);
			if (git_reference_name_to_id(&oid, m->repo, bref) == 0)
				git_oid_tostr(now, sizeof now, &oid);
			free(bref);
			int moved = now[0] && strcmp(now, tried);
			if (!moved || redo > MERGE_REDO_MAX) {
				int n = snprintf(err, sizeof err, "cannot push the "
				    "merge to %s: %.1500s", m->base, refused);
				if (moved)
					snprintf(err + n, sizeof err - (size_t)n,
					    " (base moved again after %d redos)",
					    MERGE_REDO_MAX);
				return failed(ag, err, 0);
			}
			agq_journal(m->sp, "merge_redo", m->id, json_pack("{s:s, "
			    "s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "parent",
			    m->parent, "pr", m->prid, "base", m->base, "tried",
			    tried, "moved_to", now, "sha", m->sha, "redo", redo,
			    "reason", refused));
			dprintf(2, "agq-run: %s: the push of the merge was "
			    "refused, %s moved to %.12s: merging again (%d of "
			    "%d)\n", m->id, m->base, now, redo, MERGE_REDO_MAX);
		}
		int moved;
		int rc = merge_try(m, t, by, ag, &moved, err, sizeof err, 0);
		if (!moved)
			return rc;
		git_oid_tostr(tried, sizeof tried, git_commit_id(m->basec));
		snprintf(refused, sizeof refused, "%s", err);
	}
}

int
agq_merge_run(const struct agq_spool *sp, const json_t *t,
              const char *agent, json_t *ag)
{
	agq_git_lib_init();
	struct mg m = { .sp = sp };
	m.id = agq_task_id(t);
	m.parent = jstr(t, "parent");
	m.prid = jstr(t, "pr");
	m.head = jstr(t, "head");
	m.base = jstr(json_object_get(t, "git"), "base");
	m.method = jstr(t, "merge_method");
	if (!m.base)
		m.base = "main";
	if (!m.method)
		m.method = "merge";
	const char *by = agent && *agent ? agent : "agq";
	char err[600];
	int rc;
	if (!m.parent || !m.prid || !m.head || strlen(m.head) != 40 ||
	    !jstr(json_object_get(t, "git"), "repo") || (strcmp(m.method,
	    "merge") && strcmp(m.method, "squash") && strcmp(m.method,
	    "rebase"))) {
		rc = failed(ag, "not a merge task: parent, pr, head (a sha), "
		    "git.repo and merge_method (merge, squash, rebase) are "
		    "needed", 1);
		return rc;
	}
	m.rec = agq_pr_find(sp, m.prid);
	if (!m.rec || strcmp(jstr(m.rec, "id"), m.prid)) {
		snprintf(err, sizeof err, "no PR record %s", m.prid);
		json_decref(m.rec);
		return failed(ag, err, 1);
	}
	const json_t *md = json_object_get(m.rec, "merged");
	if (!strcmp(jstr(m.rec, "state"), "merged") && jstr(md, "sha"))
		rc = merged(&m, jstr(md, "sha"), by, 1, ag);
	else if (strcmp(jstr(m.rec, "state"), "open"))
		rc = (snprintf(err, sizeof err, "the pull request is %s (%s)",
		    jstr(m.rec, "state"), m.prid), failed(ag, err, 1));
	else if (*agq_backend_setting(&sp->conf, "forge", "") &&
	    json_is_integer(json_object_get(m.rec, "number")))
		rc = forge_merge(&m, t, by, ag);
	else
		rc = merge_local(&m, t, by, ag);
	git_signature_free(m.sig);
	git_commit_free(m.basec);
	git_commit_free(m.headc);
	git_repository_free(m.repo);
	free(m.clone);
	json_decref(m.rec);
	return rc;
}

/* ---- PR state from the forge ------------------------------------------ */

int
agq_merge_poll(const struct agq_spool *sp, json_t **out)
{
	*out = json_array();
	if (!*agq_backend_setting(&sp->conf, "forge", ""))
		return EX_CONFIG;
	json_t *recs = agq_pr_list(sp, "open"), *rec;
	if (!recs)
		return EX_IOERR;
	int rc = 0;
	size_t i;
	json_array_foreach(recs, i, rec) {
		if (!json_is_integer(json_object_get(rec, "number")))
			continue;
		char err[1024] = "";
		char *etag = NULL;
		json_t *pr = NULL;
		int r = agq_forge_pr_get(sp, rec, &pr, &etag, err, sizeof err);
		const char *state = "unchanged", *sha = NULL;
		if (r == AGQ_FORGE_OK && pr) {
			sha = jstr(pr, "merge_commit_sha");
			const char *st = jstr(pr, "state");
			if (etag)
				json_object_set_new(rec, "etag", json_string(etag));
			else
				json_object_del(rec, "etag");
			if (json_is_true(json_object_get(pr, "merged")) && sha) {
				state = "merged";
				if (agq_merge_record(sp, rec, sha, NULL, "forge", NULL,
				    "forge") < 0)
					snprintf(err, sizeof err, "cannot record the "
					    "merge: %s", strerror(errno));
			} else if (st && !strcmp(st, "closed")) {
				state = "closed";
				sha = NULL;
				/* who closed it: agq-sched ends its task for
				 * this one (review.c), not for agq-pr close's */
				char at[32];
				agq_fmt_time(agq_now_us(), at);
				json_object_set_new(rec, "closed", json_pack(
				    "{s:s, s:s}", "by", "forge", "at", at));
				if (agq_pr_save(sp, rec) < 0 ||
				    agq_pr_move(sp, jstr(rec, "id"), "closed") < 0)
					snprintf(err, sizeof err, "cannot move the "
					    "record: %s", strerror(errno));
				else
					agq_journal(sp, "pr_close", jstr(rec, "task"),
					    json_pack("{s:s, s:s}", "pr", jstr(rec,
					    "id"), "source", "forge"));
			} else {
				state = "open";
				sha = NULL;
				if (agq_pr_save(sp, rec) < 0)
					snprintf(err, sizeof err, "cannot rewrite the "
					    "record: %s", strerror(errno));
			}
		} else if (r != AGQ_FORGE_OK) {
			state = "error";
			int code = r == AGQ_FORGE_RETRY ? EX_TEMPFAIL : 1;
			if (rc != 1)
				rc = code;
		}
		if (err[0] && r == AGQ_FORGE_OK && rc == 0)
			rc = EX_IOERR;
		json_array_append_new(*out, json_pack("{s:s, s:s?, s:O, s:s, "
		    "s:s?, s:s*}", "pr", jstr(rec, "id"), "task", jstr(rec,
		    "task"), "number", json_object_get(rec, "number"), "state",
		    state, "sha", sha, "error", err[0] ? err : NULL));
		free(etag);
		json_decref(pr);
	}
	json_decref(recs);
	return rc;
}

/* ---- the conflict iteration ------------------------------------------- */

int
agq_merge_update_from_base(const struct agq_spool *sp, const char *path,
                           const char *base, const char *id,
                           json_t **list, char *err, size_t size)
{
	agq_git_lib_init();
	*list = json_array();
	git_repository *repo = NULL;
	git_annotated_commit *ac = NULL;
	git_index *idx = NULL;
	git_reference *head = NULL;
	int rc = -1;
	char *bref = agq_xasprintf("refs/remotes/origin/%s", base);
	if (git_repository_open(&repo, path) < 0) {
		gerr(err, size, "not a git work tree");
		goto out;
	}
	if (git_repository_state(repo) != GIT_REPOSITORY_STATE_MERGE) {
		git_oid oid;
		git_merge_analysis_t an;
		git_merge_preference_t pref;
		const git_annotated_commit *acs[1];
		if (git_reference_name_to_id(&oid, repo, bref) < 0 ||
		    git_annotated_commit_lookup(&ac, repo, &oid) < 0) {
			gerr(err, size, bref);
			goto out;
		}
		acs[0] = ac;
		if (git_merge_analysis(&an, &pref, repo, acs, 1) < 0) {
			gerr(err, size, "cannot merge the base");
			goto out;
		}
		if (an & GIT_MERGE_ANALYSIS_UP_TO_DATE) {
			rc = 0;
			goto out;
		}
		git_merge_options mo;
		git_merge_options_init(&mo, GIT_MERGE_OPTIONS_VERSION);
		git_checkout_options co;
		git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
		co.checkout_strategy = GIT_CHECKOUT_SAFE |
		    GIT_CHECKOUT_ALLOW_CONFLICTS;
		if (git_merge(repo, acs, 1, &mo, &co) < 0) {
			gerr(err, size, "cannot merge the base");
			goto out;
		}
	}
	char buf[4096];
	if (git_repository_index(&idx, repo) < 0) {
		gerr(err, size, "cannot read the index");
		goto out;
	}
	if (conflicts(idx, *list, buf, sizeof buf)) {
		rc = 1;
		goto out;
	}
	char *title = NULL, sha[41];
	if (git_repository_head(&head, repo) == 0)
		title = agq_xasprintf("Merge %s into %s", base,
		    git_reference_shorthand(head));
	rc = agq_git_commit(sp, path, title ? title : "Merge the base", NULL,
	    id, sha, err, size) < 0 ? -1 : 0;
	free(title);
out:
	free(bref);
	git_reference_free(head);
	git_index_free(idx);
	git_annotated_commit_free(ac);
	git_repository_free(repo);
	return rc;
}
