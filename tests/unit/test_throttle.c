/* Unit tests for lib/throttle.c: the reset times of usage and rate limits
 * (Retry-After in both forms of RFC 9110 10.2.3, the vendors' reset
 * headers, OpenAI's durations, the CLIs' "resets at" messages), accounts
 * and the pauses in SPOOL/throttle/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

#define S 1000000LL
#define NOW 1800000000000000LL          /* 2027-01-15T08:00:00Z, in us */

static int64_t
text_at(const char *text)
{
	int64_t u = -1;
	if (agq_throttle_text(text, NOW, &u) != 1)
		return -2;
	return u;
}

int
main(void)
{
	int64_t u, d;

	/* Retry-After: delay-seconds and the three HTTP-date forms */
	CHECK(agq_throttle_retry_after("120", NOW, &u) == 0 && u == NOW +
	    120 * S, "Retry-After: 120");
	CHECK(agq_throttle_retry_after("Fri, 15 Jan 2027 08:30:00 GMT", NOW,
	    &u) == 0 && u == NOW + 1800 * S, "Retry-After: IMF-fixdate");
	CHECK(agq_throttle_retry_after("Friday, 15-Jan-27 08:30:00 GMT", NOW,
	    &u) == 0 && u == NOW + 1800 * S, "Retry-After: rfc850-date");
	CHECK(agq_throttle_retry_after("Fri Jan 15 08:30:00 2027", NOW,
	    &u) == 0 && u == NOW + 1800 * S, "Retry-After: asctime-date");
	CHECK(agq_throttle_retry_after("-5", NOW, &u) < 0 &&
	    agq_throttle_retry_after("12abc", NOW, &u) < 0 &&
	    agq_throttle_retry_after("soon", NOW, &u) < 0, "Retry-After: bad");

	/* durations: OpenAI's x-ratelimit-reset-*, claude's "resets in" */
	CHECK(agq_throttle_duration("6m0s", &d) == 0 && d == 360 * S, "6m0s");
	CHECK(agq_throttle_duration("1s", &d) == 0 && d == S, "1s");
	CHECK(agq_throttle_duration("20ms", &d) == 0 && d == 20000, "20ms");
	CHECK(agq_throttle_duration("1h2m3.5s", &d) == 0 && d == 3723500000LL,
	    "1h2m3.5s");
	CHECK(agq_throttle_duration("2h 5m", &d) == 0 && d == 7500 * S,
	    "2h 5m");
	CHECK(agq_throttle_duration("", &d) < 0 && agq_throttle_duration("5",
	    &d) < 0 && agq_throttle_duration("5x", &d) < 0, "bad durations");

	/* headers */
	CHECK(agq_throttle_header("Retry-After", "30", NOW, &u) == 2 &&
	    u == NOW + 30 * S, "header Retry-After");
	CHECK(agq_throttle_header("anthropic-ratelimit-tokens-reset",
	    "2027-01-15T08:01:00Z", NOW, &u) == 1 && u == NOW + 60 * S,
	    "header anthropic-ratelimit-tokens-reset (RFC 3339)");
	CHECK(agq_throttle_header("x-ratelimit-reset-requests", "6m0s", NOW,
	    &u) == 1 && u == NOW + 360 * S, "header x-ratelimit-reset-requests");
	CHECK(agq_throttle_header("content-type", "x", NOW, &u) == 0 &&
	    agq_throttle_header("anthropic-ratelimit-tokens-limit", "5", NOW,
	    &u) == 0, "other headers");

	/* the CLIs' messages; the process's zone is UTC */
	setenv("TZ", "UTC", 1);
	CHECK(text_at("You've hit your session limit \xc2\xb7 resets 3pm "
	    "(Europe/Paris)") == NOW + 6 * 3600 * S,
	    "claude: resets 3pm (Europe/Paris) is 14:00Z");
	CHECK(text_at("You've hit your session limit \xc2\xb7 resets 7am "
	    "(Europe/Paris)") == NOW + 22 * 3600 * S,
	    "claude: 7am Paris has passed: tomorrow's");
	CHECK(text_at("You've hit your weekly limit \xc2\xb7 resets Jan 20, "
	    "3:30pm (UTC)") == NOW + (5 * 86400 + 7 * 3600 + 1800) * S,
	    "claude: resets Jan 20, 3:30pm (UTC)");
	CHECK(text_at("claude reported an error (success): You've hit your "
	    "usage limit \xc2\xb7 resets in 2h 5m") == NOW + 7500 * S,
	    "claude: resets in 2h 5m");
	CHECK(text_at("Claude AI usage limit reached|1800003600") ==
	    NOW + 3600 * S, "claude: usage limit reached|EPOCH");
	CHECK(text_at("codex: You\xe2\x80\x99ve hit your usage limit. Visit "
	    "https://chatgpt.com/settings/usage to purchase more credits or try "
	    "again at 3:15 PM.") == NOW + (7 * 3600 + 900) * S,
	    "codex: try again at 3:15 PM (local)");
	CHECK(text_at("codex: You\xe2\x80\x99ve hit your usage limit. Try again "
	    "at Jan 16th, 2027 8:00 AM.") == NOW + 86400 * S,
	    "codex: try again at Jan 16th, 2027 8:00 AM");
	CHECK(text_at("codex: Rate limit reached for gpt-5. Please try again "
	    "in 20s.") == NOW + 20 * S, "codex: try again in 20s");
	CHECK(text_at("codex: exceeded retry limit, last status: 429 Too Many "
	    "Requests") == NOW + AGQ_THROTTLE_DEFAULT_S * S,
	    "codex: 429 without a time: the default");
	CHECK(text_at("claude reported an error (error_max_turns): Reached "
	    "max turns (3)") == -2 && text_at("exit 1") == -2,
	    "not a limit message");
	CHECK(getenv("TZ") && !strcmp(getenv("TZ"), "UTC"), "TZ put back");

	/* accounts: never the key */
	char *a = agq_throttle_http_account("anthropic",
	    "https://api.anthropic.com", "sk-secret");
	CHECK(!strncmp(a, "anthropic@https://api.anthropic.com#", 36) &&
	    strlen(a) == 44 && !strstr(a, "secret"), "http account");
	free(a);
	a = agq_throttle_http_account("ollama", "http://h:11434", NULL);
	CHECK(!strcmp(a, "ollama@http://h:11434"), "http account, no key");
	free(a);
	setenv("CLAUDE_CONFIG_DIR", "/cfg/claude", 1);
	a = agq_throttle_cli_account("claude");
	CHECK(!strcmp(a, "claude@/cfg/claude"), "cli account");
	free(a);

	/* pauses */
	char dir[] = "/tmp/agq-throttle-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	struct agq_spool sp = { .root = dir };
	sp.tmp = agq_xasprintf("%s/tmp", dir);
	agq_mkdirs(sp.tmp, 0755);
	CHECK(agq_throttle_pause(&sp, "anthropic", "acct-a", NOW + 60 * S,
	    "rate limited", NOW) == 0 && agq_throttle_pause(&sp, "anthropic",
	    "acct-a", NOW + 30 * S, "sooner", NOW) == 0 &&
	    agq_throttle_pause(&sp, "claude", "acct-b", NOW + 10 * S, "limit",
	    NOW) == 0, "pauses written");
	json_t *l = agq_throttle_list(&sp, NOW, 0);
	char why[256];
	CHECK(json_array_size(l) == 2 && !strcmp(json_string_value(
	    json_object_get(json_array_get(l, 0), "account")), "acct-b"),
	    "listed by until");
	CHECK(agq_throttle_find(l, "acct-a", why, sizeof why) && !strcmp(why,
	    "backend anthropic paused until 2027-01-15T08:01:00.000000Z: rate "
	    "limited") && !agq_throttle_find(l, "acct-c", NULL, 0),
	    "a later pause is kept; the wait reason");
	json_decref(l);
	l = agq_throttle_list(&sp, NOW + 20 * S, 1);
	CHECK(json_array_size(l) == 1, "an expired pause is left out");
	json_decref(l);
	l = agq_throttle_list(&sp, NOW + 90 * S, 1);
	CHECK(json_array_size(l) == 0, "all expired");
	json_decref(l);
	char *cmd = agq_xasprintf("rm -rf %s", dir);
	if (system(cmd) != 0)
		perror("rm");
	free(cmd);
	free(sp.tmp);
	DONE();
}
