/* Unit tests for lib/patch.c: the diff taken out of models' answers in the
 * shapes they come in (one ```diff block with prose around it, ```patch,
 * several blocks, an untagged block, a bare diff with prose after it, CR
 * LF line ends, no final newline, a fence inside a Markdown file's
 * context), what is not a diff, trimming and counting files, hunk
 * headers repaired (counts, starts, "@@ @@", empty lines), and
 * agq_patch_step on a real work tree made with git(1): applied, not
 * applying (the iteration's record, patch-K.diff, the feedback), from a
 * directory below the top. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

#define DIFF "diff --git a/hello.txt b/hello.txt\n" \
	"--- a/hello.txt\n" \
	"+++ b/hello.txt\n" \
	"@@ -1 +1 @@\n" \
	"-hello\n" \
	"+hello, patched\n"

#define DIFF2 "diff --git a/two.txt b/two.txt\n" \
	"--- a/two.txt\n" \
	"+++ b/two.txt\n" \
	"@@ -1,2 +1,2 @@\n" \
	" one\n" \
	"-two\n" \
	"+2\n"

static char dir[] = "/tmp/agq-unit-patch-XXXXXX";

/* agq_patch_extract of TEXT is WANT (NULL: none, errno ENOENT). */
static int
extracts(const char *text, const char *want)
{
	size_t n = 0;
	errno = 0;
	char *s = agq_patch_extract(text, &n);
	int ok = want ? s && n == strlen(s) && !strcmp(s, want) :
	    !s && errno == ENOENT;
	if (!ok)
		printf("# got [%s]\n", s ? s : "(null)");
	free(s);
	return ok;
}

/* agq_patch_repair of P under TOP is WANT, with FIXED hunks rewritten;
 * P's lines without "--- " are taken as hunks of f.txt. */
static int
repairs(const char *top, const char *p, const char *want, int fixed)
{
	char *in = strncmp(p, "--- ", 4) ? agq_xasprintf("--- a/f.txt\n"
	    "+++ b/f.txt\n%s", p) : agq_xstrdup(p);
	char *w = strncmp(p, "--- ", 4) ? agq_xasprintf("--- a/f.txt\n"
	    "+++ b/f.txt\n%s", want) : agq_xstrdup(want);
	size_t n;
	int f = -1;
	char *s = agq_patch_repair(top, in, strlen(in), &n, &f);
	int ok = n == strlen(s) && !strcmp(s, w) && f == fixed;
	if (!ok)
		printf("# got (%d fixed) [%s]\n", f, s);
	free(s);
	free(in);
	free(w);
	return ok;
}

/* The file DIR/NAME is TEXT (file_is) or holds it (file_has). */
static int
file_check(const char *d, const char *name, const char *text, int whole)
{
	char *path = agq_xasprintf("%s/%s", d, name);
	size_t n;
	char *s = agq_read_file(path, 1 << 20, &n, NULL);
	int ok = s && (whole ? !strcmp(s, text) : strstr(s, text) != NULL);
	free(s);
	free(path);
	return ok;
}
#define file_is(d, name, text) file_check(d, name, text, 1)
#define file_has(d, name, text) file_check(d, name, text, 0)

/* The attempt's state for agq_patch_step: its output directory, record,
 * feedback, and the last iteration's object. */
static int dfd;
static json_t *ag, *it;
static char *fb;

/* agq_patch_step of ANSWER in D as iteration K of MAX, into a new IT. */
static int
step(const char *answer, const char *d, int k, int max)
{
	json_decref(it);
	it = json_object();
	return agq_patch_step(answer, d, dfd, k, max, it, ag, &fb);
}

int
main(void)
{
	/* ---- extraction ---- */
	CHECK(extracts("Here is the change:\n\n```diff\n" DIFF "```\n\nThis "
	    "makes the greeting longer.\n", DIFF),
	    "one ```diff block with prose before and after: the block");
	CHECK(extracts("```patch\n" DIFF "```", DIFF),
	    "a ```patch block, the closing fence without a newline");
	CHECK(extracts("```Diff title=x\n" DIFF "```\n", DIFF),
	    "the info string's first word, any case");
	CHECK(extracts("First file:\n```diff\n" DIFF "```\nSecond:\n```diff\n"
	    DIFF2 "```\n", DIFF DIFF2),
	    "several ```diff blocks: all of them, joined in order");
	CHECK(extracts("```python\nprint(1)\n```\n```diff\n" DIFF "```\n",
	    DIFF), "a block of another language is not taken");
	CHECK(extracts("```\n" DIFF "```\n", DIFF),
	    "no tagged block: an untagged block that starts a diff");
	CHECK(extracts("```\nsome code\n```\n", NULL),
	    "an untagged block that is no diff: none");
	CHECK(extracts("~~~~diff\n" DIFF "~~~~\n", DIFF), "a ~~~ fence");
	CHECK(extracts("```diff\n" DIFF, DIFF),
	    "a block left open runs to the end");
	CHECK(extracts("```diff\n" DIFF "  ```\n trailing\n```\n",
	    DIFF "  ```\n trailing\n"),
	    "an indented fence inside the block does not close it");
	CHECK(extracts("```diff\r\n" "diff --git a/hello.txt b/hello.txt\r\n"
	    "--- a/hello.txt\r\n+++ b/hello.txt\r\n@@ -1 +1 @@\r\n-hello\r\n"
	    "+hello, patched\r\n```\r\n", DIFF),
	    "CR LF line ends throughout: the CRs dropped");
	CHECK(extracts("```diff\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\r\n+b\r\n"
	    "```\n", "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\r\n+b\r\n"),
	    "CRs of some lines only (a CR LF file's lines): kept");
	CHECK(extracts(DIFF, DIFF), "a bare answer: the diff");
	CHECK(extracts("diff --git a/hello.txt b/hello.txt\n--- a/hello.txt\n"
	    "+++ b/hello.txt\n@@ -1 +1 @@\n-hello\n+hello, patched", DIFF),
	    "no final newline: one added");
	CHECK(extracts("\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
	    "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"),
	    "a bare diff -u answer starting with ---");
	CHECK(extracts("Sure, here it is.\n" DIFF "\nI changed one line; run "
	    "the tests.\n", DIFF "\n"),
	    "prose, a bare diff, prose: the diff from its diff --git line to "
	    "its last counted line");
	CHECK(extracts("I think\n--- a/x\n+++ b/x\n", NULL),
	    "--- after prose is not the start of a bare diff");
	CHECK(extracts("I cannot do that.", NULL), "prose only: none");
	CHECK(extracts("", NULL) && extracts(NULL, NULL), "empty and NULL: none");
	CHECK(extracts("```diff\n\n```\n", NULL), "an empty block: none");

	/* ---- trim, files ---- */
	const char *t = DIFF "\\ No newline at end of file\n" DIFF2 "thanks\n";
	CHECK(agq_patch_trim(t, strlen(t)) == strlen(t) - strlen("thanks\n"),
	    "trim: headers, hunks and \\ lines kept, the prose after cut");
	const char *h = "diff --git a/x b/x\n@@ -1,3 +1,3 @@\n a\n"
	    "-b\n+c\n";
	CHECK(agq_patch_trim(h, strlen(h)) == strlen(h),
	    "trim: a hunk shorter than its counts is kept whole");
	const char *e = "@@ -1,2 +1,2 @@\n\n-x\n+y\nbye\n";
	CHECK(agq_patch_trim(e, strlen(e)) == strlen(e) - 4,
	    "trim: an empty line in a hunk is a context line");
	CHECK(agq_patch_files(DIFF DIFF2, strlen(DIFF DIFF2)) == 2,
	    "files: the diff --git lines");
	const char *u = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- a/y\n"
	    "+++ b/y\n";
	CHECK(agq_patch_files(u, strlen(u)) == 2, "files: --- +++ pairs");

	/* ---- agq_patch_step on a real work tree ---- */
	if (!mkdtemp(dir))
		return 1;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "cd %s && git init -q tree && cd tree && "
	    "printf 'hello\\n' > hello.txt && printf 'one\\ntwo\\n' > two.txt "
	    "&& seq 1 20 > f.txt && printf 'a\\n\\nb\\n' > g.txt "
	    "&& git add . && git -c user.name=t -c user.email=t@t commit -qm "
	    "init && mkdir ../out", dir);
	CHECK(system(cmd) == 0, "a work tree made with git(1)");
	char tree[256], outd[256], p[300];
	snprintf(tree, sizeof tree, "%s/tree", dir);
	snprintf(outd, sizeof outd, "%s/out", dir);

	/* ---- hunk headers repaired against the files ---- */
	CHECK(repairs(tree, "@@ -10,4 +10,4 @@\n 10\n-11\n+eleven\n 12\n",
	    "@@ -10,3 +10,3 @@\n 10\n-11\n+eleven\n 12\n", 1),
	    "repair: counts made those of the hunk's lines");
	CHECK(repairs(tree, "@@ -7,3 +7,3 @@ ctx\n 10\n-11\n+eleven\n 12\n",
	    "@@ -10,3 +10,3 @@ ctx\n 10\n-11\n+eleven\n 12\n", 1),
	    "repair: the start where the lines are, the section text kept");
	CHECK(repairs(tree, "@@ @@\n 10\n-11\n+eleven\n 12\n",
	    "@@ -10,3 +10,3 @@\n 10\n-11\n+eleven\n 12\n", 1),
	    "repair: @@ @@ given its numbers");
	CHECK(repairs(tree, "@@ -2,1 +2,2 @@\n 2\n+2a\n@@ -1,1 +1,1 @@\n-15\n"
	    "+fifteen\n", "@@ -2,1 +2,2 @@\n 2\n+2a\n@@ -15,1 +16,1 @@\n"
	    "-15\n+fifteen\n", 1),
	    "repair: a later hunk's new start moved by the lines added before");
	CHECK(repairs(tree, "@@ -5,1 +5,1 @@\n-1\n+one\n",
	    "@@ -1,1 +1,1 @@\n-1\n+one\n", 1) &&
	    repairs(tree, "@@ -11,1 +11,1 @@\n-1\n+one\n",
	    "@@ -1,1 +1,1 @@\n-1\n+one\n", 1),
	    "repair: the nearest place is taken (\"1\" is line 1 only)");
	CHECK(repairs(tree, "--- a/g.txt\n+++ b/g.txt\n@@ -1,2 +1,2 @@\n a\n"
	    "\n-b\n+B\n", "--- a/g.txt\n+++ b/g.txt\n@@ -1,3 +1,3 @@\n a\n"
	    " \n-b\n+B\n", 1), "repair: an empty line is an empty context line");
	CHECK(repairs(tree, "@@ -10,3 +10,3 @@\n 10\n-11\n+eleven\n 12\n\n\n"
	    "diff --git a/x b/x\n", "@@ -10,3 +10,3 @@\n 10\n-11\n+eleven\n"
	    " 12\ndiff --git a/x b/x\n", 0),
	    "repair: empty lines after a hunk beyond its counts dropped");
	CHECK(repairs(tree, "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,5 @@\n"
	    "+x\n+y\n", "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n"
	    "+x\n+y\n", 1), "repair: a new file's count");
	CHECK(repairs(tree, "--- a/g.txt\n+++ /dev/null\n@@ -1,3 +1,3 @@\n-a\n"
	    "-\n-b\n", "--- a/g.txt\n+++ /dev/null\n@@ -1,3 +0,0 @@\n-a\n"
	    "-\n-b\n", 1), "repair: a deleted file's empty new range");
	CHECK(repairs(tree, "@@ -3,2 +3,2 @@\n-nowhere\n+x\n",
	    "@@ -3,1 +3,1 @@\n-nowhere\n+x\n", 1),
	    "repair: lines found nowhere: the start as given");
	CHECK(repairs(tree, "--- a/../tree/f.txt\n+++ b/../tree/f.txt\n"
	    "@@ -7,3 +7,3 @@\n 10\n-11\n+eleven\n 12\n", "--- a/../tree/f.txt\n"
	    "+++ b/../tree/f.txt\n@@ -7,3 +7,3 @@\n 10\n-11\n+eleven\n 12\n", 0),
	    "repair: a path with .. is not read (git_apply refuses it)");
	CHECK(repairs(tree, DIFF DIFF2, DIFF DIFF2, 0),
	    "repair: a right diff is left as it is");
	dfd = open(outd, O_RDONLY | O_DIRECTORY);
	ag = json_object();
	fb = agq_xstrdup("old feedback");
	int r = step("Here:\n```diff\n" DIFF "```\n", tree, 1, 2);
	CHECK(r == 0 && file_is(tree, "hello.txt", "hello, patched\n"),
	    "step: the diff applied to the tree");
	json_t *pr = json_object_get(it, "patch");
	CHECK(json_integer_value(json_object_get(pr, "files")) == 1 &&
	    json_integer_value(json_object_get(pr, "repaired")) == 0 &&
	    json_is_true(json_object_get(pr, "applied")) &&
	    json_is_null(json_object_get(pr, "error")) &&
	    !json_object_get(it, "status") && !strcmp(fb, "old feedback"),
	    "step: patch {files 1, repaired 0, applied true, error null}, no "
	    "status");
	CHECK(file_is(outd, "patch-1.diff", DIFF), "step: out/ID/patch-1.diff");

	r = step("```diff\ndiff --git a/f.txt b/f.txt\n--- a/f.txt\n"
	    "+++ b/f.txt\n@@ -7,4 +7,4 @@\n 10\n-11\n+eleven\n 12\n```\n", tree,
	    5, 5);
	pr = json_object_get(it, "patch");
	CHECK(r == 0 && json_integer_value(json_object_get(pr, "repaired")) == 1
	    && file_has(tree, "f.txt", "\n10\neleven\n12\n"),
	    "step: a hunk with a wrong start and counts repaired and applied");
	CHECK(file_has(outd, "patch-5.diff", "@@ -10,3 +10,3 @@\n"),
	    "step: patch-K.diff is the diff applied, repaired");

	r = step("```diff\n" DIFF "```\n", tree, 2, 3);
	pr = json_object_get(it, "patch");
	const char *pe = json_string_value(json_object_get(pr, "error"));
	const char *ae = json_string_value(json_object_get(ag, "error"));
	CHECK(r == 1 && json_is_false(json_object_get(pr, "applied")) && pe &&
	    strstr(pe, "does not apply"), "step: applied twice: does not apply");
	CHECK(!strcmp(json_string_value(json_object_get(it, "status")),
	    "patch_failed") && !strcmp(json_string_value(json_object_get(ag,
	    "status")), "patch_failed") && ae && !strncmp(ae, "patch_failed: ",
	    14) && strstr(ae, "(iteration 2 of 3)"),
	    "step: patch_failed in the iteration and the attempt");
	CHECK(fb && strstr(fb, "Attempt 2 of 3") && strstr(fb, pe) &&
	    strstr(fb, "```diff"), "step: the feedback names the reason");
	CHECK(file_is(tree, "hello.txt", "hello, patched\n"),
	    "step: a patch that does not apply changes nothing");

	r = step("I would rather not.", tree, 3, 3);
	pr = json_object_get(it, "patch");
	CHECK(r == 1 && json_integer_value(json_object_get(pr, "files")) == 0 &&
	    !strcmp(json_string_value(json_object_get(pr, "error")),
	    AGQ_PATCH_NONE) && strstr(fb, AGQ_PATCH_NONE),
	    "step: no diff: patch_failed, the answer has no diff block");
	snprintf(p, sizeof p, "%s/patch-3.diff", outd);
	CHECK(access(p, F_OK) < 0, "step: no diff, no patch-3.diff");

	snprintf(p, sizeof p, "%s/sub", tree);
	mkdir(p, 0755);
	r = step("```diff\n" DIFF2 "```\n", p, 4, 4);
	CHECK(r == 0 && file_is(tree, "two.txt", "one\n2\n"),
	    "step: run in a directory below the top: the diff's paths are "
	    "the top's");

	r = step("```diff\n" DIFF2 "```\n", outd, 1, 1);
	pe = json_string_value(json_object_get(json_object_get(it, "patch"),
	    "error"));
	CHECK(r == 1 && pe && strstr(pe, "not a git work tree"),
	    "step: not a git work tree: patch_failed with the reason");
	json_decref(it);
	json_decref(ag);
	free(fb);
	close(dfd);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	DONE();
}
