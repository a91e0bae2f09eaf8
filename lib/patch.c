/*
 * patch.c - a model's answer as a patch to its task's tree (issue 16;
 * agq-backend(7), Editing through patches): the diff taken out of the
 * answer, applied with libgit2 (git.c), saved as out/ID/patch-K.diff, and
 * the reason it failed as the next iteration's corrective text.
 */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <git2.h>

#include "util.h"
#include "out.h"
#include "git.h"
#include "patch.h"

/* One line of a text: [s, s + len), the newline not counted; NEXT is
 * where the following line starts. */
struct line {
	const char *s;
	size_t len;
	const char *next;
};

/* The line starting at P (before END); 0 at the end. */
static int
line_at(const char *p, const char *end, struct line *l)
{
	if (p >= end)
		return 0;
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	l->s = p;
	l->len = (size_t)((nl ? nl : end) - p);
	l->next = nl ? nl + 1 : end;
	return 1;
}

static int
starts(const struct line *l, const char *prefix)
{
	size_t n = strlen(prefix);
	return l->len >= n && !memcmp(l->s, prefix, n);
}

/* Nothing but blanks (and a CR) from S for N bytes. */
static int
blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)s[i]))
			return 0;
	return 1;
}

/* A fence opening at L (CommonMark: up to three spaces, then three or
 * more ` or ~): its character and length in *CH and *N, and whether its
 * info string's first word is diff or patch in *TAGGED.  1 if it is one. */
static int
fence_open(const struct line *l, char *ch, size_t *n, int *tagged)
{
	size_t i = 0;
	while (i < 3 && i < l->len && l->s[i] == ' ')
		i++;
	if (i >= l->len || (l->s[i] != '`' && l->s[i] != '~'))
		return 0;
	*ch = l->s[i];
	size_t k = i;
	while (k < l->len && l->s[k] == *ch)
		k++;
	if (k - i < 3)
		return 0;
	*n = k - i;
	while (k < l->len && (l->s[k] == ' ' || l->s[k] == '\t'))
		k++;
	size_t w = k;
	while (w < l->len && !isspace((unsigned char)l->s[w]) && l->s[w] != '{')
		w++;
	*tagged = (w - k == 4 && !strncasecmp(l->s + k, "diff", 4)) ||
	    (w - k == 5 && !strncasecmp(l->s + k, "patch", 5));
	return 1;
}

/* L closes a fence of N characters CH: at least N of them at the line's
 * very start, then only blanks. */
static int
fence_close(const struct line *l, char ch, size_t n)
{
	size_t k = 0;
	while (k < l->len && l->s[k] == ch)
		k++;
	return k >= n && blank(l->s + k, l->len - k);
}

/* The start of a diff: "diff --git " or "--- ". */
static int
diff_start(const struct line *l)
{
	return starts(l, "diff --git ") || starts(l, "--- ");
}

/* Parse the hunk header L ("@@ -A[,B] +C[,D] @@"): A, B, C, D into H (B
 * and D 1 when left out) and where the text after the second "@@" starts
 * into *REST.  1 if it is one. */
static int
hunk_header(const struct line *l, long h[4], size_t *rest)
{
	if (!starts(l, "@@ -"))
		return 0;
	char buf[128];
	size_t n = l->len < sizeof buf - 1 ? l->len : sizeof buf - 1;
	memcpy(buf, l->s, n);
	buf[n] = '\0';
	char *e;
	h[1] = h[3] = 1;
	h[0] = strtol(buf + 4, &e, 10);
	if (*e == ',')
		h[1] = strtol(e + 1, &e, 10);
	if (strncmp(e, " +", 2))
		return 0;
	h[2] = strtol(e + 2, &e, 10);
	if (*e == ',')
		h[3] = strtol(e + 1, &e, 10);
	if (strncmp(e, " @@", 3) || h[0] < 0 || h[1] < 0 || h[2] < 0 ||
	    h[3] < 0)
		return 0;
	if (rest)
		*rest = (size_t)(e + 3 - buf);
	return 1;
}

/* The header lines of git's diff format (git-diff(1), GENERATING PATCH
 * TEXT WITH -P: "extended header lines"), and the others a diff has
 * outside its hunks. */
static const char *const headers[] = {
	"diff --git ", "diff -", "index ", "--- ", "+++ ", "old mode ",
	"new mode ", "deleted file mode ", "new file mode ", "copy from ",
	"copy to ", "rename from ", "rename to ", "similarity index ",
	"dissimilarity index ", "Binary files ", "GIT binary patch", "\\ ",
	NULL
};

size_t
agq_patch_trim(const char *p, size_t n)
{
	const char *end = p + n;
	struct line l;
	long old = 0, new = 0, h[4];
	for (const char *q = p; line_at(q, end, &l); q = l.next) {
		if (old > 0 || new > 0) {
			char c = l.len ? l.s[0] : ' ';
			if (c == ' ' || c == '\r') {
				old--;
				new--;
				continue;
			}
			if (c == '-') {
				old--;
				continue;
			}
			if (c == '+') {
				new--;
				continue;
			}
			if (c == '\\')
				continue;
			old = new = 0;  /* a hunk shorter than it said */
		}
		if (hunk_header(&l, h, NULL)) {
			old = h[1];
			new = h[3];
			continue;
		}
		if (blank(l.s, l.len))
			continue;
		int known = 0;
		for (int i = 0; headers[i] && !known; i++)
			known = starts(&l, headers[i]);
		if (!known)
			return (size_t)(q - p);
	}
	return n;
}

int
agq_patch_files(const char *p, size_t n)
{
	const char *end = p + n;
	struct line l;
	int git = 0, plain = 0, minus = 0;
	for (const char *q = p; line_at(q, end, &l); q = l.next) {
		git += starts(&l, "diff --git ");
		plain += minus && starts(&l, "+++ ");
		minus = starts(&l, "--- ");
	}
	return git ? git : plain;
}

/* The blocks of TEXT (up to END) joined, as a new string of *N bytes:
 * the tagged ones (```diff, ```patch) when TAGGED, else the others whose
 * first line starts a diff. */
static char *
blocks(const char *text, const char *end, int tagged, size_t *n)
{
	char *s = NULL;
	FILE *f = open_memstream(&s, n);
	if (!f)
		agq_die(EX_OSERR, "out of memory");
	struct line l;
	const char *q = text;
	while (line_at(q, end, &l)) {
		char ch;
		size_t fn;
		int tag;
		q = l.next;
		if (!fence_open(&l, &ch, &fn, &tag))
			continue;
		int take = -1;          /* undecided for an untagged block */
		if (tag || tagged)
			take = tag && tagged;
		while (line_at(q, end, &l)) {
			q = l.next;
			if (fence_close(&l, ch, fn))
				break;
			if (take < 0)
				take = diff_start(&l);
			if (take)
				fwrite(l.s, 1, (size_t)(l.next - l.s), f);
		}
	}
	if (fclose(f) != 0 || !s)
		agq_die(EX_OSERR, "out of memory");
	return s;
}

/* The bare diff of TEXT (up to END): from its first "diff --git " line,
 * or all of it when it opens with "--- ", cut after the diff
 * (agq_patch_trim); a new string of *N bytes, empty when there is none. */
static char *
bare(const char *text, const char *end, size_t *n)
{
	struct line l;
	int first = 1;
	for (const char *q = text; line_at(q, end, &l); q = l.next) {
		if (starts(&l, "diff --git ") || (first && starts(&l, "--- "))) {
			*n = agq_patch_trim(l.s, (size_t)(end - l.s));
			char *s = agq_xmalloc(*n + 1);
			memcpy(s, l.s, *n);
			s[*n] = '\0';
			return s;
		}
		if (!blank(l.s, l.len))
			first = 0;
	}
	*n = 0;
	return agq_xstrdup("");
}

char *
agq_patch_extract(const char *text, size_t *len)
{
	if (!text)
		text = "";
	const char *end = text + strlen(text);
	size_t n;
	char *s = blocks(text, end, 1, &n);
	if (blank(s, n)) {
		free(s);
		s = blocks(text, end, 0, &n);
	}
	if (blank(s, n)) {
		free(s);
		s = bare(text, end, &n);
	}
	/* the answer's CR LF line ends, when all of them are */
	const char *nl = strchr(text, '\n');
	int crlf = nl != NULL;
	for (; nl && crlf; nl = strchr(nl + 1, '\n'))
		crlf = nl > text && nl[-1] == '\r';
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		if (!(crlf && s[i] == '\r' && (i + 1 == n || s[i + 1] == '\n')))
			s[o++] = s[i];
	n = o;
	s[n] = '\0';
	if (blank(s, n)) {
		free(s);
		errno = ENOENT;
		return NULL;
	}
	if (s[n - 1] != '\n') {
		char *t = agq_xasprintf("%s\n", s);
		free(s);
		s = t;
		n++;
	}
	if (len)
		*len = n;
	return s;
}

/* ---- repairing hunks ---------------------------------------------------- */

/* The lines of a file, split at '\n' (without it). */
struct flines {
	char *buf;
	struct line *v;
	size_t n;
};

/* Read TOP/PATH (PLEN bytes) into F; 0, or -1 (an absolute path or one
 * with a ".." component, no such file, or not readable: F is empty,
 * nothing will be found in it). */
static int
flines_read(const char *top, const char *path, size_t plen,
            struct flines *f)
{
	memset(f, 0, sizeof *f);
	if (!plen || path[0] == '/')
		return -1;
	for (size_t i = 0; i + 1 < plen; i++)
		if (path[i] == '.' && path[i + 1] == '.' && (i == 0 ||
		    path[i - 1] == '/') && (i + 2 == plen || path[i + 2] == '/'))
			return -1;
	char *full = agq_xasprintf("%s/%.*s", top, (int)plen, path);
	size_t n;
	f->buf = agq_read_file(full, 16u << 20, &n, NULL);
	free(full);
	if (!f->buf)
		return -1;
	size_t cap = 0;
	struct line l;
	for (const char *q = f->buf; line_at(q, f->buf + n, &l); q = l.next) {
		f->v = agq_grow(f->v, &cap, f->n, sizeof *f->v, 64);
		f->v[f->n++] = l;
	}
	return 0;
}

static void
flines_free(struct flines *f)
{
	free(f->buf);
	free(f->v);
	memset(f, 0, sizeof *f);
}

/* A hunk's body line: its kind (' ', '-', '+', '\\') and text; EMPTY
 * when it was an empty line, taken as an empty context line (a model
 * that trims trailing blanks drops the space). */
struct hline {
	char kind;
	int empty;
	const char *s;
	size_t len;
};

/* Where the hunk's old lines (context and removed, OLD of them, in H)
 * are in F, at or after line FROM (0-based): the match nearest to WANT
 * (0-based, or -1: the first).  -1 when nowhere. */
static long
locate(const struct flines *f, const struct hline *h, size_t nh, long old,
       long from, long want)
{
	long best = -1;
	for (long p = from; p + old <= (long)f->n; p++) {
		long i = p;
		size_t k;
		for (k = 0; k < nh; k++) {
			if (h[k].kind != ' ' && h[k].kind != '-')
				continue;
			if (f->v[i].len != h[k].len || memcmp(f->v[i].s, h[k].s,
			    h[k].len))
				break;
			i++;
		}
		if (k < nh)
			continue;
		if (want < 0)
			return p;
		if (best < 0 || labs(p - want) < labs(best - want))
			best = p;
		else
			break;          /* further away from now on */
	}
	return best;
}

/* The path of a "--- a/PATH" or "--- PATH" line L (tab and what follows
 * cut) into *P and *N; 0 for /dev/null. */
static int
old_path(const struct line *l, const char **p, size_t *n)
{
	const char *s = l->s + 4, *e = l->s + l->len;
	const char *tab = memchr(s, '\t', (size_t)(e - s));
	if (tab)
		e = tab;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	if (e - s == 9 && !memcmp(s, "/dev/null", 9))
		return 0;
	if (e - s > 2 && s[0] == 'a' && s[1] == '/')
		s += 2;
	*p = s;
	*n = (size_t)(e - s);
	return 1;
}

char *
agq_patch_repair(const char *top, const char *p, size_t n, size_t *len,
                 int *fixed)
{
	const char *end = p + n;
	char *out = NULL;
	size_t on = 0;
	FILE *o = open_memstream(&out, &on);
	if (!o)
		agq_die(EX_OSERR, "out of memory");
	struct flines f = { 0 };
	int have = 0;                   /* a file's lines are in F */
	long from = 0, delta = 0;       /* in the current file */
	struct hline *hl = NULL;
	size_t cap = 0;
	*fixed = 0;
	struct line l;
	const char *q = p;
	while (line_at(q, end, &l)) {
		struct line nx;
		if (starts(&l, "--- ") && line_at(l.next, end, &nx) &&
		    starts(&nx, "+++ ")) {
			const char *path;
			size_t pl;
			flines_free(&f);
			have = old_path(&l, &path, &pl) &&
			    flines_read(top, path, pl, &f) == 0;
			from = delta = 0;
		}
		long h[4] = { -1, -1, -1, -1 };
		size_t rest = l.len;
		int hdr = hunk_header(&l, h, &rest);
		if (!hdr && starts(&l, "@@")) {
			/* "@@ @@", "@@ -1 @@": no counts to trust */
			const char *s2 = l.len > 2 ? memmem(l.s + 2, l.len - 2,
			    "@@", 2) : NULL;
			rest = s2 ? (size_t)(s2 + 2 - l.s) : l.len;
			hdr = 1;
		}
		if (!hdr) {
			fwrite(l.s, 1, (size_t)(l.next - l.s), o);
			q = l.next;
			continue;
		}
		/* the body: up to the next header line */
		size_t nh = 0;
		long old = 0, new = 0;
		q = l.next;
		struct line b;
		while (line_at(q, end, &b)) {
			char c = b.len && b.s[0] != '\r' ? b.s[0] : ' ';
			if (c != ' ' && c != '-' && c != '+' && c != '\\')
				break;
			if (starts(&b, "--- ") && line_at(b.next, end, &nx) &&
			    starts(&nx, "+++ "))
				break;
			if (nh == cap)
				hl = agq_grow(hl, &cap, nh, sizeof *hl, 16);
			hl[nh].kind = c;
			hl[nh].empty = !b.len || b.s[0] == '\r';
			hl[nh].s = hl[nh].empty ? b.s : b.s + 1;
			hl[nh].len = hl[nh].empty ? 0 : b.len - 1;
			if (c == '\\')
				hl[nh].s = b.s, hl[nh].len = b.len;
			old += c == ' ' || c == '-';
			new += c == ' ' || c == '+';
			nh++;
			q = b.next;
		}
		/* empty lines after the hunk (between diffs) are not its
		 * context, unless its counts want them */
		while (nh && hl[nh - 1].empty && (h[1] < 0 || old > h[1])) {
			nh--;
			old--;
			new--;
		}
		long a, c2;
		if (old > 0) {
			long at = have ? locate(&f, hl, nh, old, from, h[0] > 0 ?
			    h[0] - 1 : -1) : -1;
			a = at >= 0 ? at + 1 : h[0] > 0 ? h[0] : 1;
			if (at >= 0)
				from = at + old;
		} else {
			a = h[0] >= 0 ? h[0] : 0;
		}
		/* git's new start: the old one moved by the hunks before;
		 * an empty range starts at the line before it */
		c2 = a + delta + (old == 0) - (new == 0);
		delta += new - old;
		if (a != h[0] || old != h[1] || c2 != h[2] || new != h[3]) {
			(*fixed)++;
			fprintf(o, "@@ -%ld,%ld +%ld,%ld @@", a, old, c2, new);
		} else {
			rest = 0;       /* the header as it was */
		}
		fwrite(l.s + rest, 1, (size_t)(l.next - l.s) - rest, o);
		if (l.next == l.s + l.len)
			fputc('\n', o);
		for (size_t k = 0; k < nh; k++) {
			if (hl[k].kind == '\\')
				fprintf(o, "%.*s\n", (int)hl[k].len, hl[k].s);
			else
				fprintf(o, "%c%.*s\n", hl[k].kind, (int)hl[k].len,
				    hl[k].s);
		}
	}
	free(hl);
	flines_free(&f);
	if (fclose(o) != 0 || !out)
		agq_die(EX_OSERR, "out of memory");
	*len = on;
	return out;
}

/* The top of the git work tree holding DIR (libgit2 searches upwards, as
 * git(1) does), the directory the diff's paths are relative to; malloc'd,
 * or NULL with ERR. */
static char *
work_top(const char *dir, char *err, size_t size)
{
	git_repository *repo = NULL;
	agq_git_lib_init();
	const char *wd;
	if (git_repository_open_ext(&repo, dir, 0, NULL) < 0 ||
	    !(wd = git_repository_workdir(repo))) {
		const git_error *e = git_error_last();
		agq_errf(err, size, "not a git work tree: %s", e && e->message ?
		    e->message : "a bare repository");
		git_repository_free(repo);
		return NULL;
	}
	char *top = agq_xstrdup(wd);
	git_repository_free(repo);
	return top;
}

int
agq_patch_step(const char *answer, const char *dir, int dfd, int k,
               int max, json_t *it, json_t *ag, char **feedback)
{
	size_t n = 0;
	char *diff = agq_patch_extract(answer, &n);
	char err[1024] = "";
	int rc = 1, fixed = 0;
	if (!diff) {
		snprintf(err, sizeof err, "%s", AGQ_PATCH_NONE);
	} else {
		char *top = work_top(dir, err, sizeof err);
		if (top) {
			size_t rn;
			char *r = agq_patch_repair(top, diff, n, &rn, &fixed);
			free(diff);
			diff = r;
			n = rn;
		}
		char name[32];
		snprintf(name, sizeof name, "patch-%d.diff", k);
		if (agq_write_at(dfd, name, diff, n) < 0)
			dprintf(2, "agq-run: cannot write %s: %s\n", name,
			    strerror(errno));
		rc = top && agq_git_apply(top, diff, n, err, sizeof err) == 0 ?
		    0 : 1;
		free(top);
	}
	json_object_set_new(it, "patch", json_pack("{s:i, s:i, s:b, s:s?}",
	    "files", diff ? agq_patch_files(diff, n) : 0, "repaired", fixed,
	    "applied", rc == 0, "error", rc ? err : NULL));
	free(diff);
	if (rc == 0)
		return 0;
	json_object_set_new(it, "status", json_string("patch_failed"));
	json_object_set_new(ag, "status", json_string("patch_failed"));
	json_object_set_new(ag, "error", json_sprintf("patch_failed: %s "
	    "(iteration %d of %d)", err, k, max));
	dprintf(2, "agq-run: patch_failed: %s (%s)\n", err, dir);
	free(*feedback);
	*feedback = agq_xasprintf("Attempt %d of %d: your answer could not be "
	    "applied, nothing of it was: %s.\nAnswer again with one ```diff "
	    "block in the format of git diff, made against the files as they "
	    "are now.", k, max, err);
	return 1;
}
