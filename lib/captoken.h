/*
 * captoken.h - captoken.c: capability tokens (agq-agent(1) token).
 *
 * A capability named in agq.conf's token_caps counts for an agent only
 * when its agent file carries a token that the spool's key signed for
 * its name and capabilities, so that a process cannot claim `deploy` by
 * writing it into agents/NAME.json.  The token is
 *
 *     HMAC-SHA256(KEY, "agq-cap-v1" NUL NAME NUL CAPS)
 *
 * in lower-case hex (RFC 2104 HMAC, FIPS 180-4 SHA-256; Nettle), where
 * CAPS is the agent's whole capability list, sorted (strcmp(3)), without
 * duplicates, joined by ','; KEY is the first line of SPOOL/.capkey (64
 * hex digits from getrandom(2), written mode 0600 by its first user and
 * refused when its group or others may read it).  Uses util, conf and
 * spool.  agq-agent(1), agq-sched(8), agq-spool(5).
 */
#ifndef AGQ_CAPTOKEN_H
#define AGQ_CAPTOKEN_H

#include <stddef.h>
#include <jansson.h>
#include "spool.h"

/* The key file's name under the spool root. */
#define AGQ_CAPKEY ".capkey"
/* Length of a token in hex digits (SHA-256: 32 bytes). */
#define AGQ_CAPTOKEN_LEN 64

/* The spool's key: the first line of SP's .capkey (without its newline),
 * malloc'd (free with agq_free_secret), its length in *LEN.  The file is
 * opened without following a symbolic link and must be a regular file
 * whose mode grants nothing to group or others (st_mode & 077 == 0):
 * else NULL with EPERM.  When it does not exist and CREATE is set, it is
 * made: 32 random bytes in hex and a newline, written mode 0600 to a new
 * file in tmp/, fsync'd, link(2)ed in (EEXIST: another made it first, and
 * that one is read).  NULL with errno (ENOENT: no key and not CREATE;
 * EBADMSG: an empty first line) and WHY (SIZE bytes) saying what failed,
 * naming the file. */
char *agq_captoken_key(const struct agq_spool *sp, int create, size_t *len,
                       char *why, size_t size);

/* The token of agent NAME with the capabilities CAPS (a JSON array of
 * non-empty strings, in any order, possibly repeated) under KEY (KEYLEN
 * bytes) into OUT (AGQ_CAPTOKEN_LEN + 1 bytes, NUL-terminated hex).  0,
 * or -1 with EINVAL when CAPS is not an array of non-empty strings
 * without ',' (the separator). */
int agq_captoken_make(const char *key, size_t keylen, const char *name,
                      const json_t *caps, char *out);

/* 1 if TOKEN (a string, or NULL) is agq_captoken_make's token of NAME and
 * CAPS under KEY, compared in constant time (every byte, whatever the
 * first difference); else 0. */
int agq_captoken_verify(const char *key, size_t keylen, const char *name,
                        const json_t *caps, const char *token);

/* The capabilities of agent file AGENT (agents/NAME.json, a JSON object
 * with "name", "capabilities" and maybe "cap_token") that need a token
 * (those of SP's conf.token_caps it claims), checked: returns 0 when it
 * claims none and 2 when its cap_token verifies (agq_captoken_verify of
 * its name and whole capability list under SP's key, not created here),
 * AGENT unchanged.  Otherwise returns 1: AGENT's "capabilities" is
 * replaced by a new array without those, *REFUSED (when not NULL) set to
 * a new array of them (json_decref), and WHY (SIZE bytes) says why ("no
 * cap_token", "cap_token does not verify for agent NAME and
 * capabilities C,D", or the key's failure).  What agq-sched does with
 * every agent file it reads, and agq-doctor reports. */
int agq_captoken_filter(const struct agq_spool *sp, json_t *agent,
                        json_t **refused, char *why, size_t size);

#endif
