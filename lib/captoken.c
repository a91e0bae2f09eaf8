/* captoken.c - capability tokens: the spool's key, HMAC-SHA256, verify
 * (captoken.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>

#include "fskind.h"
#include "util.h"
#include "conf.h"
#include "spool.h"
#include "captoken.h"

#define TAG "agq-cap-v1"

/* Write a new key to TMP (mode 0600), fsync it and link it in as PATH.
 * 0, or -1 with errno (EEXIST: PATH exists: read that one). */
static int
make_key(const char *tmp, const char *path)
{
	unsigned char r[32];
	char line[sizeof r * 2 + 2];
	size_t got = 0;
	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(line + 2 * i, 3, "%02x", r[i]);
	line[2 * sizeof r] = '\n';
	explicit_bzero(r, sizeof r);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	int rc = -1, e = 0;
	if (fd < 0) {
		e = errno;
	} else {
		if (fchmod(fd, 0600) == 0 &&
		    agq_write_all(fd, line, sizeof line - 1) == 0 &&
		    fsync(fd) == 0 && agq_link_checked(tmp, path) == 0)
			rc = 0;
		e = errno;
		close(fd);
		unlink(tmp);
	}
	explicit_bzero(line, sizeof line);
	errno = e;
	return rc;
}

char *
agq_captoken_key(const struct agq_spool *sp, int create, size_t *len,
                 char *why, size_t size)
{
	char *path = agq_spool_path(sp, AGQ_CAPKEY);
	char *key = NULL;
	for (int tries = 0; tries < 2 && !key; tries++) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create && !tries) {
			char tn[300], *tmp;
			agq_unique_name(tn, sizeof tn);
			tmp = agq_spool_path(sp, "tmp/%s", tn);
			int r = make_key(tmp, path);
			free(tmp);
			if (r < 0 && errno != EEXIST) {
				agq_errf(why, size, "cannot create the key: %s "
				    "(%s)", strerror(errno), path);
				break;
			}
			continue;
		}
		if (fd < 0) {
			agq_errf(why, size, "cannot open the key: %s (%s)",
			    strerror(errno), path);
			break;
		}
		struct stat st;
		int e = 0;
		if (fstat(fd, &st) < 0) {
			e = errno;
		} else if (!S_ISREG(st.st_mode)) {
			e = EINVAL;
		} else if (st.st_mode & 077) {
			agq_errf(why, size, "the key may be read by its group "
			    "or others (mode %04o; chmod 600): refused (%s)",
			    (unsigned)(st.st_mode & 07777), path);
			close(fd);
			errno = EPERM;
			break;
		}
		size_t n = 0;
		char *buf = e ? NULL : agq_read_fd(fd, 4096, &n);
		if (!buf && !e)
			e = errno;
		close(fd);
		if (e) {
			agq_errf(why, size, "cannot read the key: %s (%s)",
			    strerror(e), path);
			errno = e;
			break;
		}
		n = strcspn(buf, "\n");
		buf[n] = '\0';
		if (!n) {
			agq_free_secret(buf);
			agq_errf(why, size, "the key's first line is empty (%s)",
			    path);
			errno = EBADMSG;
			break;
		}
		key = buf;
		*len = n;
	}
	free(path);
	return key;
}

/* "agq-cap-v1" NUL NAME NUL CAPS (sorted, unique, ','-joined) fed to C.
 * 0, or -1 EINVAL (CAPS not an array of non-empty strings without ','). */
static int
feed(struct hmac_sha256_ctx *c, const char *name, const json_t *caps)
{
	size_t n = json_array_size(caps), i, k = 0;
	if (!json_is_array(caps))
		goto bad;
	const char **v = agq_xmalloc((n ? n : 1) * sizeof *v);
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(caps, i));
		if (!s || !*s || strchr(s, ',')) {
			free(v);
			goto bad;
		}
		size_t j = k;
		while (j > 0 && strcmp(v[j - 1], s) > 0) {
			v[j] = v[j - 1];
			j--;
		}
		if (j > 0 && !strcmp(v[j - 1], s)) {    /* a repeat: undo */
			memmove(&v[j], &v[j + 1], (k - j) * sizeof *v);
			continue;
		}
		v[j] = s;
		k++;
	}
	hmac_sha256_update(c, sizeof TAG, (const uint8_t *)TAG);
	hmac_sha256_update(c, strlen(name) + 1, (const uint8_t *)name);
	for (i = 0; i < k; i++) {
		if (i)
			hmac_sha256_update(c, 1, (const uint8_t *)",");
		hmac_sha256_update(c, strlen(v[i]), (const uint8_t *)v[i]);
	}
	free(v);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int
agq_captoken_make(const char *key, size_t keylen, const char *name,
                  const json_t *caps, char *out)
{
	struct hmac_sha256_ctx c;
	uint8_t md[SHA256_DIGEST_SIZE];
	hmac_sha256_set_key(&c, keylen, (const uint8_t *)key);
	if (feed(&c, name, caps) < 0)
		return -1;
	hmac_sha256_digest(&c, sizeof md, md);
	for (size_t i = 0; i < sizeof md; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	explicit_bzero(&c, sizeof c);
	return 0;
}

int
agq_captoken_verify(const char *key, size_t keylen, const char *name,
                    const json_t *caps, const char *token)
{
	char want[AGQ_CAPTOKEN_LEN + 1];
	if (!token || strlen(token) != AGQ_CAPTOKEN_LEN ||
	    agq_captoken_make(key, keylen, name, caps, want) < 0)
		return 0;
	unsigned char diff = 0;
	for (size_t i = 0; i < AGQ_CAPTOKEN_LEN; i++)
		diff |= (unsigned char)(want[i] ^ token[i]);
	return diff == 0;
}

int
agq_captoken_filter(const struct agq_spool *sp, json_t *agent,
                    json_t **refused, char *why, size_t size)
{
	const json_t *tc = sp->conf.token_caps;
	if (!json_array_size(tc))
		return 0;
	json_t *caps = json_object_get(agent, "capabilities");
	json_t *keep = json_array(), *drop = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(caps, i, c) {
		int need = 0;
		size_t j;
		json_t *t;
		json_array_foreach(tc, j, t)
			need |= json_equal(c, t);
		json_array_append(need ? drop : keep, c);
	}
	int rc = 0;
	if (json_array_size(drop)) {
		const char *name = json_string_value(json_object_get(agent,
		    "name"));
		const char *tok = json_string_value(json_object_get(agent,
		    "cap_token"));
		size_t kl = 0;
		char *key = NULL;
		if (!name)
			agq_errf(why, size, "no name");
		else if (!tok)
			agq_errf(why, size, "no cap_token");
		else if ((key = agq_captoken_key(sp, 0, &kl, why, size)) &&
		    !agq_captoken_verify(key, kl, name, caps, tok)) {
			char list[512] = "";
			json_array_foreach(caps, i, c)
				snprintf(list + strlen(list), sizeof list -
				    strlen(list), "%s%s", i ? "," : "",
				    json_string_value(c));
			agq_errf(why, size, "cap_token does not verify for "
			    "agent %s and capabilities %s", name, list);
			agq_free_secret(key);
			key = NULL;
		} else if (key) {
			agq_free_secret(key);
			rc = 2;
			goto out;
		}
		rc = 1;
		json_object_set(agent, "capabilities", keep);
		if (refused)
			*refused = json_incref(drop);
	}
out:
	json_decref(keep);
	json_decref(drop);
	return rc;
}
