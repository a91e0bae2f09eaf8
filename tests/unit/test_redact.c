/* Unit tests for lib/redact.c and the journal's redaction. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

static int
redacts(const char *in, const char *want)
{
	char *r = agq_redact_bearer(in);
	int ok = want ? r && !strcmp(r, want) : r == NULL;
	if (!ok)
		printf("#   '%s' -> '%s'\n", in, r ? r : "(null)");
	free(r);
	return ok;
}

int
main(void)
{
	agq_setprog("test_redact");
	CHECK(agq_secret_name("GITHUB_TOKEN") && agq_secret_name("api_key") &&
	    agq_secret_name("AWS_SECRET_ACCESS_KEY") &&
	    agq_secret_name("PgPassword"), "secret names, any case");
	CHECK(!agq_secret_name("PATH") && !agq_secret_name("HOME") &&
	    !agq_secret_name("TOKE"), "ordinary names");
	CHECK(redacts("curl -H 'Authorization: Bearer abc.DEF-123_~+/=' x",
	    "curl -H 'Authorization: Bearer [redacted]' x"), "bearer header");
	CHECK(redacts("bearer  t1 and BEARER\tt2",
	    "bearer  [redacted] and BEARER\t[redacted]"), "two tokens, any case");
	CHECK(redacts("Bearer x", "Bearer [redacted]"), "a one-letter token");
	CHECK(redacts("the bearer of bad news", "the bearer [redacted] bad news"),
	    "the word itself is taken as a scheme (errs on the safe side)");
	CHECK(redacts("Bearer", NULL) && redacts("Bearer: x", NULL) &&
	    redacts("no secret here", NULL), "nothing to redact");

	json_t *t = json_pack("{s:[s,s,s], s:{s:s, s:s, s:i}, s:s, s:i}",
	    "cmd", "curl", "-H", "Authorization: Bearer s3cr3t", "env",
	    "API_TOKEN", "t0k", "LANG", "C", "DB_PASSWORD_N", 5,
	    "title", "x", "max_tokens", 10);
	agq_redact(t);
	char *s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK(s && !strcmp(s, "{\"cmd\":[\"curl\",\"-H\",\"Authorization: "
	    "Bearer [redacted]\"],\"env\":{\"API_TOKEN\":\"[redacted]\","
	    "\"DB_PASSWORD_N\":5,\"LANG\":\"C\"},\"max_tokens\":10,"
	    "\"title\":\"x\"}"), "task redacted: env by name, cmd by bearer");
	if (s)
		printf("#   %s\n", s);
	free(s);
	json_decref(t);

	/* the agent's keys, kept out of tasks' environment: by name (the
	 * backends' table and the agent CLIs'), and by a key file's value
	 * anywhere in a value, not a short one */
	char *sec[] = { "sk-file-123456", "short", NULL };
	CHECK(agq_backend_key_env("ANTHROPIC_API_KEY") &&
	    agq_backend_key_env("OPENAI_API_KEY") &&
	    agq_backend_key_env("GEMINI_API_KEY") &&
	    !agq_backend_key_env("ANTHROPIC_BASE_URL") &&
	    !agq_backend_key_env("PATH"), "agq_backend_key_env: the names");
	CHECK(agq_env_is_key("ANTHROPIC_API_KEY=x", NULL) &&
	    agq_env_is_key("GEMINI_API_KEY=", sec) &&
	    agq_env_is_key("COPY=Bearer sk-file-123456", sec) &&
	    !agq_env_is_key("SHORT=short", sec) &&
	    !agq_env_is_key("PATH=/bin", sec) &&
	    !agq_env_is_key("NOEQUALS", sec), "agq_env_is_key");

	/* the journal redacts what it is given */
	char dir[] = "/tmp/agq-redact-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "tmp dir");
	struct agq_spool sp;
	CHECK(agq_spool_open(&sp, dir, "/dev/null") == 0, "spool open");
	CHECK(agq_journal(&sp, "test", "t1", json_pack("{s:{s:s}, s:s}", "env",
	    "MY_SECRET", "hunter2", "cmd", "wget --header='Authorization: "
	    "Bearer hunter3'")) == 0, "journal event with secrets");
	char *p = agq_spool_path(&sp, "journal");
	size_t len;
	char *buf = agq_read_file(p, 1 << 20, &len, NULL);
	CHECK(buf && !strstr(buf, "hunter") &&
	    strstr(buf, "\"MY_SECRET\":\"[redacted]\"") &&
	    strstr(buf, "Bearer [redacted]'"), "journal line redacted");
	free(buf);
	free(p);
	agq_spool_close(&sp);
	char cmd[100];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	DONE();
}
