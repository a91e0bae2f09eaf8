/*
 * redact.c - keep secrets out of what agq shows and records.
 *
 * What a task receives (its environment and argv, agq-run(8)) is never
 * changed; what agq writes about it for people (the journal, agq-show,
 * agq-ls) is redacted: the values of environment variables whose names
 * look secret, and bearer tokens anywhere in a string.
 */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "backends.h"
#include "redact.h"

#define REDACTED "[redacted]"

int
agq_secret_name(const char *name)
{
	static const char *words[] = { "TOKEN", "KEY", "SECRET", "PASSWORD",
	    NULL };
	for (int i = 0; words[i]; i++)
		if (strcasestr(name, words[i]))
			return 1;
	return 0;
}

int
agq_env_is_key(const char *e, char *const *secrets)
{
	const char *eq = strchr(e, '=');
	if (!eq)
		return 0;
	char name[256];
	size_t k = (size_t)(eq - e);
	if (k < sizeof name) {
		memcpy(name, e, k);
		name[k] = '\0';
		if (agq_backend_key_env(name))
			return 1;
	}
	for (size_t i = 0; secrets && secrets[i]; i++)
		if (strlen(secrets[i]) >= 8 && strstr(eq + 1, secrets[i]))
			return 1;
	return 0;
}

/* RFC 6750 section 2.1 b64token characters. */
static int
tokchar(int c)
{
	return isalnum(c) || strchr("-._~+/=", c);
}

char *
agq_redact_bearer(const char *s)
{
	const char *p = strcasestr(s, "bearer");
	if (!p)
		return NULL;
	size_t n = strlen(s);
	/* each token replaced took at least 8 bytes ("bearer", a blank, a
	 * character) and adds at most sizeof REDACTED */
	char *out = agq_xmalloc(2 * n + sizeof REDACTED + 1);
	size_t o = 0;
	int changed = 0;
	while ((p = strcasestr(s, "bearer"))) {
		const char *q = p + 6;
		size_t sp = strspn(q, " \t");
		size_t tl = 0;
		while (q[sp + tl] && tokchar((unsigned char)q[sp + tl]))
			tl++;
		if (sp == 0 || tl == 0) {
			memcpy(out + o, s, (size_t)(q - s));
			o += (size_t)(q - s);
			s = q;
			continue;
		}
		memcpy(out + o, s, (size_t)(q + sp - s));
		o += (size_t)(q + sp - s);
		memcpy(out + o, REDACTED, sizeof REDACTED - 1);
		o += sizeof REDACTED - 1;
		s = q + sp + tl;
		changed = 1;
	}
	strcpy(out + o, s);
	if (!changed) {
		free(out);
		return NULL;
	}
	return out;
}

void
agq_redact(json_t *v)
{
	if (json_is_string(v)) {
		char *r = agq_redact_bearer(json_string_value(v));
		if (r) {
			json_string_set(v, r);
			free(r);
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x)
			agq_redact(x);
	} else if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x) {
			if (!strcmp(k, "env") && json_is_object(x)) {
				const char *name;
				json_t *val;
				json_object_foreach(x, name, val) {
					if (agq_secret_name(name) &&
					    json_is_string(val))
						json_string_set(val, REDACTED);
					else
						agq_redact(val);
				}
			} else {
				agq_redact(x);
			}
		}
	}
}
