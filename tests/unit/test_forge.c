/* Unit tests for lib/forge.c: OWNER/REPO from the origin URLs a forge
 * has (https, ssh, scp-style) and from the forge_repo setting, what is
 * refused, and the pull request's description from a task. */
#include <errno.h>
#include <string.h>

#include "agq.h"
#include "unit.h"

/* Origins and what they parse to: "OWNER/REPO", or NULL for EINVAL. */
static const struct {
	const char *origin;
	int bare;               /* as forge_repo */
	const char *want, *name;
} cases[] = {
	/* the origin URLs of GitHub and Gitea */
	{ "https://github.com/octo/hello.git", 0, "octo/hello", "https, .git" },
	{ "https://github.com/octo/hello", 0, "octo/hello", "https" },
	{ "https://github.com/octo/hello/", 0, "octo/hello", "trailing /" },
	{ "https://x-access-token@git.example.org:3000/team/app.git", 0,
	  "team/app", "https with user and port" },
	{ "http://127.0.0.1:3000/gitea/team/my.app.git", 0, "team/my.app",
	  "a Gitea under a sub-path: the last two" },
	{ "ssh://git@github.com/octo/hello.git", 0, "octo/hello", "ssh://" },
	{ "ssh://git@gitea.local:2222/o-1/r_2.git", 0, "o-1/r_2",
	  "ssh:// with a port" },
	{ "git@github.com:octo/hello.git", 0, "octo/hello", "scp-style" },
	{ "github.com:octo/hello", 0, "octo/hello", "scp-style, no user" },
	/* forge_repo */
	{ "octo/hello", 1, "octo/hello", "forge_repo OWNER/REPO" },
	{ "octo/hello", 0, NULL, "a relative path is no origin" },
	{ "a/b/c", 1, NULL, "forge_repo: three parts" },
	{ "hello", 1, NULL, "forge_repo: one part" },
	/* no forge behind it, or names that are not names */
	{ "/srv/git/octo/hello.git", 0, NULL, "a local path" },
	{ "./hello.git", 0, NULL, "a relative local path" },
	{ "file:///srv/git/octo/hello.git", 0, NULL, "file://" },
	{ "https://github.com/hello.git", 0, NULL, "one path component" },
	{ "https://github.com", 0, NULL, "no path" },
	{ "https://github.com/../hello", 0, NULL, ".." },
	{ "https://github.com/oc to/hello", 0, NULL, "a space" },
	{ "https://github.com/octo/he%2fllo", 0, NULL, "a %" },
	{ "https://github.com/octo/.git", 0, NULL, "an empty name" },
	{ "", 0, NULL, "empty" },
	{ NULL, 1, NULL, "NULL" },
};

/* Does ORIGIN parse (BARE as given) to WANT, or fail with EINVAL when
 * WANT is NULL? */
static int
parses(const char *origin, int bare, const char *want)
{
	char owner[101], repo[101], got[210];
	errno = 0;
	if (agq_forge_repo_parse(origin, bare, owner, repo) < 0)
		return !want && errno == EINVAL && !owner[0] && !repo[0];
	snprintf(got, sizeof got, "%s/%s", owner, repo);
	return want && !strcmp(got, want);
}

int
main(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK(parses(cases[i].origin, cases[i].bare, cases[i].want),
		    cases[i].name);
	char big[300];
	snprintf(big, sizeof big, "https://h/o/%0120d", 7);
	CHECK(parses(big, 0, NULL), "a name over 100 bytes");

	/* the description */
	json_t *t = json_pack("{s:s, s:[s, s], s:{s:b}, s:[{s:i, s:i, s:f},"
	    "{s:i, s:i, s:n, s:{s:s, s:i, s:i}}]}", "id", "t1",
	    "success_criteria", "tests pass", "no new warnings", "git", "draft",
	    1, "attempts", "tokens_in", 100, "tokens_out", 20, "cost_usd", 0.5,
	    "tokens_in", 50, "tokens_out", 5, "cost_usd", "verify", "status",
	    "pass", "passed", 2, "failed", 0);
	struct agq_pr_body b;
	agq_pr_body_from_task(&b, "t1", t);
	CHECK(b.tokens_in == 150 && b.tokens_out == 25, "tokens summed");
	CHECK(b.cost_usd > 0.49 && b.cost_usd < 0.51, "cost summed, null skipped");
	CHECK(b.draft == 1, "git.draft");
	CHECK(b.verify && !strcmp(b.verify,
	    "verification: pass (2 passed, 0 failed)"), "the last report");
	char *s = agq_pr_body_text(&b);
	CHECK(strstr(s, "task `t1`") != NULL, "text: the task id");
	CHECK(strstr(s, "### Success criteria\n\n- tests pass\n"
	    "- no new warnings\n") != NULL, "text: the criteria");
	CHECK(strstr(s, "verification: pass") != NULL, "text: verification");
	CHECK(strstr(s, "- tokens: 150 in, 25 out\n- cost: $0.5000\n") != NULL,
	    "text: tokens and cost");
	free(s);
	agq_pr_body_from_task(&b, NULL, NULL);
	CHECK(b.tokens_in == -1 && b.tokens_out == -1 && b.cost_usd < 0 &&
	    !b.criteria && !b.verify && !b.draft, "no task: all unknown");
	s = agq_pr_body_text(&b);
	CHECK(!strcmp(s, "Opened by agq.\n"), "text of nothing known");
	free(s);
	json_t *mt = json_pack("[{s:s, s:s}, {s:s}]", "id", "a", "title",
	    "first", "id", "b");
	b.task = "m-1";
	b.tasks = mt;
	s = agq_pr_body_text(&b);
	CHECK(strstr(s, "for mission `m-1`") && strstr(s, "### Tasks\n\n"
	    "- `a` first\n- `b`\n"), "a mission's PR: its tasks listed");
	free(s);
	json_decref(mt);
	json_decref(t);
	DONE();
}
