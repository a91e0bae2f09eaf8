/*
 * secure.c - keep secrets out of what agq shows and records, and write
 * task output only where it belongs.
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

#include "agq.h"

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

/* ---- out/ID: never through a symbolic link ------------------------------ */

/* out/, opened with O_NOFOLLOW, for task ID (checked when not NULL:
 * EINVAL).  The fd, or -1. */
static int
out_dir(const struct agq_spool *sp, const char *id)
{
	if (id && !agq_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	char *p = agq_spool_path(sp, "out");
	int ofd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	free(p);
	errno = e;
	return ofd;
}

int
agq_out_open(const struct agq_spool *sp, const char *id, int create)
{
	return agq_out_open_spare(sp, id, create, NULL);
}

int
agq_out_open_spare(const struct agq_spool *sp, const char *id, int create,
                   const char *spare)
{
	int ofd = out_dir(sp, id);
	if (ofd < 0)
		return -1;
	/* EEXIST: an earlier attempt's out/ID, kept; the spare stays */
	if (spare && renameat2(ofd, spare, ofd, id, RENAME_NOREPLACE) == 0)
		create = 0;
	if (create && mkdirat(ofd, id, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		close(ofd);
		errno = e;
		return -1;
	}
	int dfd = openat(ofd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	int e = errno;
	close(ofd);
	errno = e == ELOOP ? ENOTDIR : e;
	return dfd;
}

static const char *const spare_files[] = { "stdout", "stderr", NULL };

int
agq_out_spare(const struct agq_spool *sp, const char *spare)
{
	int ofd = out_dir(sp, NULL);
	if (ofd < 0)
		return -1;
	int r = -1;
	if (mkdirat(ofd, spare, 0700) < 0 && errno != EEXIST)
		goto out;
	int dfd = openat(ofd, spare, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd < 0)
		goto out;
	r = 0;
	for (int i = 0; spare_files[i] && r == 0; i++) {
		int fd = openat(dfd, spare_files[i], O_WRONLY | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			r = -1;
		else
			close(fd);
	}
	close(dfd);
out:;
	int e = errno;
	close(ofd);
	errno = e;
	return r;
}

void
agq_out_spare_remove(const struct agq_spool *sp, const char *spare)
{
	int ofd = out_dir(sp, NULL);
	if (ofd < 0)
		return;
	int dfd = openat(ofd, spare, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd >= 0) {
		for (int i = 0; spare_files[i]; i++)
			(void)unlinkat(dfd, spare_files[i], 0);
		close(dfd);
		(void)unlinkat(ofd, spare, AT_REMOVEDIR);
	}
	close(ofd);
}

int
agq_out_write(const struct agq_spool *sp, const char *id, const char *name,
              const char *buf, size_t len)
{
	int dfd = agq_out_open(sp, id, 1);
	if (dfd < 0)
		return -1;
	char uniq[256], tmp[PATH_MAX];
	agq_unique_name(uniq, sizeof uniq);
	snprintf(tmp, sizeof tmp, "%s/%s", sp->tmp, uniq);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	int r = -1;
	if (fd >= 0) {
		r = agq_write_all(fd, buf, len);
		if (close(fd) < 0)
			r = -1;
		if (r == 0)
			r = renameat(AT_FDCWD, tmp, dfd, name);
		if (r < 0) {
			int e = errno;
			unlink(tmp);
			errno = e;
		}
	}
	int e = errno;
	close(dfd);
	errno = e;
	return r;
}

int
agq_out_open_path(const char *outdir)
{
	const char *sl = strrchr(outdir, '/');
	if (!sl || sl == outdir || !agq_id_valid(sl + 1)) {
		errno = EINVAL;
		return -1;
	}
	char *parent = agq_xasprintf("%.*s", (int)(sl - outdir), outdir);
	int ofd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(parent);
	if (ofd < 0)
		return -1;
	int dfd = openat(ofd, sl + 1, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	int e = errno;
	close(ofd);
	errno = e == ELOOP ? ENOTDIR : e;
	return dfd;
}

int
agq_write_at(int dfd, const char *name, const char *buf, size_t len)
{
	char uniq[256], tmp[320];
	agq_unique_name(uniq, sizeof uniq);
	snprintf(tmp, sizeof tmp, ".%.40s.%s", name, uniq);
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int r = agq_write_all(fd, buf, len);
	if (close(fd) < 0)
		r = -1;
	if (r == 0)
		r = renameat(dfd, tmp, dfd, name);
	if (r < 0) {
		int e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
	}
	return r;
}

/* ---- cwd_root ------------------------------------------------------------ */

int
agq_cwd_check(const char *root, char *why, size_t size)
{
	if (!root || !strcmp(root, "/"))
		return 0;
	char cwd[PATH_MAX], real[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd)) {
		snprintf(why, size, "cannot get the working directory: %s",
		    strerror(errno));
		return -1;
	}
	if (!realpath(root, real)) {
		snprintf(why, size, "cannot resolve cwd_root: %s (%s)",
		    strerror(errno), root);
		return -1;
	}
	size_t n = strlen(real);
	if (!strcmp(real, "/") || (!strncmp(cwd, real, n) &&
	    (cwd[n] == '\0' || cwd[n] == '/')))
		return 0;
	snprintf(why, size, "cwd %s escapes cwd_root %s", cwd, real);
	errno = EACCES;
	return -1;
}
