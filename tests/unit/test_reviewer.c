/* Unit tests for lib/reviewer.c: the verdict taken out of a reviewer's
 * answer (a bare object, a ```json block with prose around it, blanks,
 * other members ignored, comments absent) and what is refused with its
 * reason (prose, no verdict, a verdict of another word, comments not
 * strings, an empty answer); the agent reviewer's prompt (the parent's
 * title, prompt, criteria and report, the diff in a fence longer than
 * its backticks, a default prompt, a parent not found); and the diff
 * base...head of a real repository made with git(1), cut with a note. */
#include <stdarg.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

/* agq_review_parse of TEXT gives VERDICT and COMMENTS (joined by '|'),
 * or, VERDICT NULL, fails with WHY (a prefix). */
static int
parses(const char *text, const char *verdict, const char *comments,
       const char *why)
{
	char err[512] = "";
	json_t *v = agq_review_parse(text, err, sizeof err);
	int ok;
	if (!verdict) {
		ok = !v && !strncmp(err, why, strlen(why));
	} else {
		char got[512] = "";
		size_t i, n = 0;
		json_t *c;
		json_array_foreach(json_object_get(v, "comments"), i, c)
			n += (size_t)snprintf(got + n, sizeof got - n, "%s%s",
			    i ? "|" : "", json_string_value(c));
		ok = v && !strcmp(json_string_value(json_object_get(v,
		    "verdict")), verdict) && !strcmp(got, comments) &&
		    json_object_size(v) == 2;
	}
	if (!ok)
		printf("# got %s [%s]\n", v ? json_string_value(json_object_get(v,
		    "verdict")) : "(null)", err);
	json_decref(v);
	return ok;
}

static void
test_parse(void)
{
	CHECK(parses("{\"verdict\": \"approve\", \"comments\": [\"ok\"]}",
	    "approve", "ok", NULL), "a bare verdict");
	CHECK(parses("\n  {\"verdict\": \"request_changes\", \"comments\": "
	    "[\"a\", \"b\"], \"summary\": \"x\"}\n\n", "request_changes", "a|b",
	    NULL), "blanks around it, another member ignored");
	CHECK(parses("{\"verdict\": \"approve\"}", "approve", "", NULL),
	    "comments absent: none");
	CHECK(parses("Here it is:\n\n```json\n{\"verdict\": \"request_changes\","
	    " \"comments\": [\"add a test\"]}\n```\nDone.", "request_changes",
	    "add a test", NULL), "in a ```json block with prose around it");
	CHECK(parses("```JSON\r\n{\"verdict\": \"approve\", \"comments\": []}\n"
	    "```", "approve", "", NULL), "```JSON, CR LF");
	CHECK(parses("```diff\n-a\n+b\n```\n```json\n{\"verdict\": \"approve\"}"
	    "\n```\n", "approve", "", NULL), "the json block after another");
	CHECK(parses("LGTM, ship it!", NULL, NULL, "no JSON object in the "
	    "answer, nor in a ```json block (it begins \"LGTM, ship it!\")"),
	    "prose: no JSON object");
	CHECK(parses("", NULL, NULL, "an empty answer"), "empty");
	CHECK(parses(NULL, NULL, NULL, "an empty answer"), "NULL");
	CHECK(parses("[\"approve\"]", NULL, NULL, "no JSON object"),
	    "an array is not a verdict");
	CHECK(parses("{\"comments\": []}", NULL, NULL, "no \"verdict\" member"),
	    "no verdict member");
	CHECK(parses("{\"verdict\": \"maybe\"}", NULL, NULL, "verdict \"maybe\" "
	    "is not approve or request_changes"), "another word");
	CHECK(parses("{\"verdict\": true}", NULL, NULL, "verdict \"(not a "
	    "string)\""), "not a string");
	CHECK(parses("{\"verdict\": \"approve\", \"comments\": \"fine\"}", NULL,
	    NULL, "comments is not an array of strings"), "comments a string");
	CHECK(parses("{\"verdict\": \"approve\", \"comments\": [1]}", NULL, NULL,
	    "comments is not an array of strings"), "comments not strings");
	CHECK(parses("```json\n{\"verdict\": \"approve\",}\n```", NULL, NULL,
	    "no JSON object"), "a broken object in the block");
	CHECK(parses("{\"verdict\": \"approve\", \"verdict\": \"request_changes\""
	    "}", NULL, NULL, "no JSON object"), "duplicate keys refused");
}

static void
test_prompt(void)
{
	json_t *t = json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", "p-r1-1",
	    "parent", "p", "head", "0123456789012345678901234567890123456789",
	    "git", "base", "dev");
	json_t *p = json_pack("{s:s, s:s, s:[s, s], s:{s:s, s:i, s:i, s:[{s:s, "
	    "s:s, s:s}]}}", "title", "Add b", "prompt", "add b.txt",
	    "success_criteria", "b exists", "tests pass", "verify_report",
	    "status", "fail", "passed", 0, "failed", 1, "steps", "type", "cmd",
	    "cmd", "make test", "status", "fail");
	const char *diff = "diff --git a/r.md b/r.md\n+````\n";
	char *s = agq_review_prompt(t, p, diff);
	CHECK(!strncmp(s, "Review this change:", 19), "a default prompt");
	CHECK(strstr(s, "## The task the change was made for (p)\n\nTitle: "
	    "Add b\n\nPrompt:\nadd b.txt\n\nSuccess criteria:\n- b exists\n- "
	    "tests pass\n\nVerification report: fail (0 passed, 1 failed)\n- "
	    "cmd \"make test\": fail"), "the parent's title, prompt, criteria, "
	    "report");
	CHECK(strstr(s, "## The change (git diff dev...0123456789012345678901234"
	    "567890123456789)\n\n`````diff\ndiff --git a/r.md b/r.md\n+````\n"
	    "`````\n"), "the diff in a fence longer than its backticks");
	CHECK(strstr(s, "{\"verdict\": \"approve\" or \"request_changes\", "
	    "\"comments\": [\"...\"]}"), "the answer's contract");
	free(s);
	json_object_set_new(t, "prompt", json_string("Be strict."));
	json_object_del(p, "verify_report");
	json_object_set_new(p, "attempts", json_pack("[{s:{s:s, s:i, s:i}}]",
	    "verify", "status", "pass", "passed", 2, "failed", 0));
	s = agq_review_prompt(t, p, NULL);
	CHECK(!strncmp(s, "Be strict.\n\n## The task", 23), "the task's prompt");
	CHECK(strstr(s, "Verification report: pass (2 passed, 0 failed)"),
	    "the last attempt's report without verify_report");
	CHECK(strstr(s, "```diff\n```"), "no diff: an empty fence");
	free(s);
	s = agq_review_prompt(t, NULL, "x\n");
	CHECK(strstr(s, "(p)\n\n(not found in the spool)"), "no parent");
	free(s);
	json_decref(t);
	json_decref(p);
}

static char dir[] = "/tmp/agq-unit-reviewer-XXXXXX";

static int
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void
test_diff(void)
{
	if (!mkdtemp(dir) || sh("cd %s && git init -q -b main . && "
	    "printf 'one\\n' > a.txt && git add . && git -c user.name=t -c "
	    "user.email=t@t commit -qm a && git update-ref refs/remotes/origin/"
	    "main HEAD && git checkout -qb topic && printf 'two\\n' >> a.txt && "
	    "seq 1 2000 > big.txt && git add . && git -c user.name=t -c "
	    "user.email=t@t commit -qm b && git checkout -q main && printf "
	    "'base moved\\n' > c.txt && git add . && git -c user.name=t -c "
	    "user.email=t@t commit -qm c && git update-ref refs/remotes/origin/"
	    "main HEAD", dir) != 0) {
		CHECK(0, "a repository made with git(1)");
		return;
	}
	char head[64] = "", err[512] = "";
	char *p = agq_xasprintf("%s/.git/refs/heads/topic", dir);
	FILE *f = fopen(p, "r");
	if (f && fgets(head, sizeof head, f))
		head[strcspn(head, "\n")] = '\0';
	if (f)
		fclose(f);
	free(p);
	char *d = agq_review_diff(dir, "main", head, 1 << 20, err, sizeof err);
	CHECK(d && strstr(d, "diff --git a/a.txt b/a.txt\n") &&
	    strstr(d, " one\n+two\n") && strstr(d, "+2000\n"),
	    "the diff of the branch from the merge base");
	CHECK(d && !strstr(d, "c.txt"), "base...head: the base's own commit "
	    "is not in it");
	size_t full = d ? strlen(d) : 0;
	free(d);
	d = agq_review_diff(dir, "main", head, 1000, err, sizeof err);
	char note[128];
	snprintf(note, sizeof note, "[diff cut: ");
	CHECK(d && strlen(d) < 1100 && strstr(d, note) && d[strstr(d, note) -
	    d - 1] == '\n', "cut at a line's end with a note");
	if (d) {
		char want[64];
		snprintf(want, sizeof want, " of %zu bytes shown]\n", full);
		CHECK(strstr(d, want) != NULL, "the note says how much of it");
	}
	free(d);
	d = agq_review_diff(dir, "nope", head, 1000, err, sizeof err);
	CHECK(!d && !strncmp(err, "cannot read the base branch", 27),
	    "no base branch: an error");
	d = agq_review_diff(dir, "main", "0123456789012345678901234567890123456789",
	    1000, err, sizeof err);
	CHECK(!d && !strncmp(err, "cannot read the commit under review", 35),
	    "no such head: an error");
	sh("rm -rf %s", dir);
}

int
main(void)
{
	test_parse();
	test_prompt();
	test_diff();
	DONE();
}
