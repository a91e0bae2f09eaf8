/*
 * redact.h - redact.c: secrets kept out of sight.
 *
 * What agq shows or journals never carries a secret: environment values
 * of secret-looking names and bearer tokens are redacted.  Uses util only.
 */
#ifndef AGQ_REDACT_H
#define AGQ_REDACT_H

#include <jansson.h>

/* 1 if NAME (an environment variable's name) looks secret: it contains
 * TOKEN, KEY, SECRET or PASSWORD, in any case (agq-task(5)). */
int agq_secret_name(const char *name);

/* S with every bearer token (RFC 6750: "Bearer", blanks, then b64token
 * characters; "bearer" in any case) replaced by "[redacted]", malloc'd;
 * NULL when S has none. */
char *agq_redact_bearer(const char *s);

/* 1 if the environment entry E ("NAME=value") carries one of the agent's
 * keys: NAME holds an API key (agq_backend_key_env), or the value holds
 * one of SECRETS (a NULL-terminated array, agq_conf_secrets; NULL: none;
 * a secret of fewer than 8 bytes is not looked for, so that a short or
 * empty key file strips nothing by accident).  Else 0.  What agq-run and
 * agq-attempt leave out of the environment of cmd tasks and verify steps
 * (agq-run(8), SECURITY). */
int agq_env_is_key(const char *e, char *const *secrets);

/* Redact the JSON value V in place, for showing or journaling, never for
 * running: in every object member "env" (an object) the string values of
 * secret names (agq_secret_name) become "[redacted]", and bearer tokens in
 * every string are redacted.  Call it on a copy a task will not get. */
void agq_redact(json_t *v);

#endif
