/*
 * throttle.h - throttle.c: usage and rate limits (agq-backend(7),
 * "Usage and rate limits"; agq-spool(5), "throttle/").
 *
 * When a backend answers that a usage or rate limit is reached, the task
 * is parked until the limit resets and the backend is paused for every
 * agent on the same account.  This module reads the reset time out of an
 * HTTP answer's headers or a CLI's message, names the account, and keeps
 * the pauses: one file SPOOL/throttle/KEY.json per account,
 * {backend, account, until, reason, since}.  Uses util, conf, backends,
 * spool (struct agq_spool) and journal (agq_sha256_hex).
 */
#ifndef AGQ_THROTTLE_H
#define AGQ_THROTTLE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "conf.h"
#include "spool.h"

/* The pause when a limit names no reset time: 60 seconds. */
#define AGQ_THROTTLE_DEFAULT_S 60

/* A Retry-After value V (RFC 9110 section 10.2.3): delay-seconds
 * (1*DIGIT) or an HTTP-date (RFC 9110 section 5.6.7: IMF-fixdate
 * "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete rfc850-date and
 * asctime-date forms).  *UNTIL_US = NOW_US + the delay, or the date (us
 * since the epoch).  0, or -1 (EINVAL) when V is neither. */
int agq_throttle_retry_after(const char *v, int64_t now_us,
                             int64_t *until_us);

/* A duration V as one or more NUMBER UNIT pairs, spaces allowed between
 * them, units d, h, m, s, ms, us (or µs): OpenAI's x-ratelimit-reset-*
 * headers ("6m0s", "1s", "20ms", "1h2m3.5s", Go's time.Duration
 * String()) and claude's "resets in 2h 5m".  *US in microseconds.  0, or
 * -1 (EINVAL). */
int agq_throttle_duration(const char *v, int64_t *us);

/* The reset time told by one HTTP response header NAME (case-insensitive)
 * with value VALUE received at NOW_US: Retry-After (agq_throttle_retry_after),
 * Anthropic's anthropic-ratelimit-*-reset (RFC 3339, agq_parse_time) and
 * OpenAI's x-ratelimit-reset-* (agq_throttle_duration after NOW_US).
 * Returns 2 for Retry-After, 1 for a reset header, with *UNTIL_US set; 0
 * for another header or a value that does not parse. */
int agq_throttle_header(const char *name, const char *value, int64_t now_us,
                        int64_t *until_us);

/* Is TEXT (a CLI's verdict, error event or last line of standard error)
 * a usage or rate limit message of an agent CLI?  The messages are those
 * of the CLIs pinned in etc/cli-lock.json (claude-code 2.1, codex 0.171):
 * claude's "You've hit your session limit · resets 3pm (Europe/Paris)"
 * (also "weekly", "usage", ... limit; "resets Dec 7, 3pm (TZ)"; "resets
 * in 2h 5m"), the older "Claude AI usage limit reached|EPOCH", "usage
 * limit reached", "rate_limit_error"; codex's "You’ve hit your usage
 * limit. ... Try again at 3:15 PM." (local time, or "Dec 7th, 2026 3:15
 * PM"), "try again in N s", "rate limit exceeded", "429 Too Many
 * Requests".  Returns 1 with *UNTIL_US the reset time (after NOW_US:
 * a clock time that has passed today is tomorrow's), or NOW_US +
 * AGQ_THROTTLE_DEFAULT_S when TEXT names none; 0 when TEXT is no limit
 * message.  A time zone in parentheses is read through TZ and tzset(3)
 * (the process's TZ is put back). */
int agq_throttle_text(const char *text, int64_t now_us, int64_t *until_us);

/* The account of an HTTP backend BACKEND at base URL BASE with API key
 * KEY (NULL: none): "BACKEND@BASE#H" where H is the first 8 hex digits of
 * SHA-256(KEY), never the key; "BACKEND@BASE" without a key.  malloc'd. */
char *agq_throttle_http_account(const char *backend, const char *base,
                                const char *key);

/* The account of agent CLI TOOL ("claude", "codex", "gemini", an entry of
 * the CLI lock): "TOOL@DIR", DIR its configuration directory, where its
 * login lives: $CLAUDE_CONFIG_DIR else $HOME/.claude, $CODEX_HOME else
 * $HOME/.codex, $HOME/.gemini, else $HOME.  malloc'd. */
char *agq_throttle_cli_account(const char *tool);

/* The account a task of BACKEND with MODEL (a cli backend's "TOOL" or
 * "TOOL/MODEL"; may be NULL) calling endpoint EP_URL (its route's; NULL:
 * agq_backend_base's choice) would use here, with CONF's keys: the two
 * above.  NULL for a backend that is never throttled (shell, one not
 * built in) or a cli backend without a model.  malloc'd. */
char *agq_throttle_account(const struct agq_conf *conf, const char *backend,
                           const char *model, const char *ep_url);

/* Pause ACCOUNT of BACKEND until UNTIL_US because of REASON: write
 * SPOOL/throttle/KEY.json (agq_write_json, atomic; KEY is BACKEND, "-"
 * and 16 hex digits of SHA-256(ACCOUNT)) as {backend, account, until
 * (RFC 3339), reason, since (NOW_US)}, unless it holds a later until
 * already.  0, or -1 with errno. */
int agq_throttle_pause(const struct agq_spool *sp, const char *backend,
                       const char *account, int64_t until_us,
                       const char *reason, int64_t now_us);

/* The pauses in force at NOW_US: a new array of the objects of
 * SPOOL/throttle/ whose until is after NOW_US (sorted by until; files
 * past their until, unreadable or not of this shape are left out, and
 * the expired ones removed when REMOVE).  An empty array when there are
 * none or the directory cannot be read. */
json_t *agq_throttle_list(const struct agq_spool *sp, int64_t now_us,
                          int remove);

/* In PAUSES (agq_throttle_list), the pause of ACCOUNT (NULL: none):
 * borrowed, or NULL.  With WHY not NULL, the wait reason of a task that
 * waits for it into WHY (SIZE bytes): "backend B paused until T:
 * REASON". */
const json_t *agq_throttle_find(const json_t *pauses, const char *account,
                                char *why, size_t size);

#endif
