/* Unit tests for lib/patch.c: the diff taken out of models' answers in the
 * shapes they come in (one ```diff block with prose around it, ```patch,
 * several blocks, an untagged block, a bare diff with prose after it, CR
 * LF line ends, no final newline, a fence inside a Markdown file's
 * context), what is not a diff, trimming and counting files, and
 * agq_patch_step on a real work tree made with git(1): applied, not
 * applying (the iteration's record, patch-K.diff, the feedback). */
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

static char *
slurp(const char *path)
{
	size_t n;
	return agq_read_file(path, 1 << 20, &n, NULL);
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
	    "&& git add . && git -c user.name=t -c user.email=t@t commit -qm "
	    "init && mkdir ../out", dir);
	CHECK(system(cmd) == 0, "a work tree made with git(1)");
	char tree[256], outd[256], p[300];
	snprintf(tree, sizeof tree, "%s/tree", dir);
	snprintf(outd, sizeof outd, "%s/out", dir);
	int dfd = open(outd, O_RDONLY | O_DIRECTORY);
	json_t *ag = json_object(), *it = json_object();
	char *fb = agq_xstrdup("old feedback");
	int r = agq_patch_step("Here:\n```diff\n" DIFF "```\n", tree, dfd, 1,
	    2, it, ag, &fb);
	snprintf(p, sizeof p, "%s/hello.txt", tree);
	char *got = slurp(p);
	CHECK(r == 0 && got && !strcmp(got, "hello, patched\n"),
	    "step: the diff applied to the tree");
	free(got);
	json_t *pr = json_object_get(it, "patch");
	CHECK(json_integer_value(json_object_get(pr, "files")) == 1 &&
	    json_is_true(json_object_get(pr, "applied")) &&
	    json_is_null(json_object_get(pr, "error")) &&
	    !json_object_get(it, "status") && !strcmp(fb, "old feedback"),
	    "step: patch {files 1, applied true, error null}, no status");
	snprintf(p, sizeof p, "%s/patch-1.diff", outd);
	got = slurp(p);
	CHECK(got && !strcmp(got, DIFF), "step: out/ID/patch-1.diff");
	free(got);

	json_decref(it);
	it = json_object();
	r = agq_patch_step("```diff\n" DIFF "```\n", tree, dfd, 2, 3, it, ag,
	    &fb);
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
	snprintf(p, sizeof p, "%s/hello.txt", tree);
	got = slurp(p);
	CHECK(got && !strcmp(got, "hello, patched\n"),
	    "step: a patch that does not apply changes nothing");
	free(got);

	json_decref(it);
	it = json_object();
	r = agq_patch_step("I would rather not.", tree, dfd, 3, 3, it, ag, &fb);
	pr = json_object_get(it, "patch");
	CHECK(r == 1 && json_integer_value(json_object_get(pr, "files")) == 0 &&
	    !strcmp(json_string_value(json_object_get(pr, "error")),
	    AGQ_PATCH_NONE) && strstr(fb, AGQ_PATCH_NONE),
	    "step: no diff: patch_failed, the answer has no diff block");
	snprintf(p, sizeof p, "%s/patch-3.diff", outd);
	CHECK(access(p, F_OK) < 0, "step: no diff, no patch-3.diff");

	json_decref(it);
	it = json_object();
	snprintf(p, sizeof p, "%s/sub", tree);
	mkdir(p, 0755);
	r = agq_patch_step("```diff\n" DIFF2 "```\n", p, dfd, 4, 4, it, ag,
	    &fb);
	snprintf(p, sizeof p, "%s/two.txt", tree);
	got = slurp(p);
	CHECK(r == 0 && got && !strcmp(got, "one\n2\n"),
	    "step: run in a directory below the top: the diff's paths are "
	    "the top's");
	free(got);

	json_decref(it);
	it = json_object();
	r = agq_patch_step("```diff\n" DIFF2 "```\n", outd, dfd, 1, 1, it, ag,
	    &fb);
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
