/*
 * out.c - write task output only where it belongs: out/ID, opened without
 * following a symbolic link at any step, so a task that swaps its output
 * directory for a link cannot make agq write elsewhere.
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

#include "fskind.h"
#include "util.h"
#include "spool.h"
#include "out.h"

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
	if (spare && agq_renameat_noreplace(ofd, spare, ofd, id) == 0)
		create = 0;
	/* no RENAME_NOREPLACE (NFS), and a directory has no link to check
	 * with: a plain rename(2) of a directory replaces only an empty one
	 * (a non-empty out/ID, an earlier attempt's, fails it: ENOTEMPTY),
	 * so nothing is lost either way */
	else if (spare && (errno == EINVAL || errno == EPERM) &&
	    renameat(ofd, spare, ofd, id) == 0)
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

/* the output files of an attempt, made empty in a spare directory */
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

/* Write BUF (LEN bytes) to the new file TMP (relative to directory TDFD,
 * or a path with AT_FDCWD), then renameat(2) it to NAME in directory DFD;
 * on failure TMP is removed.  0, or -1 with errno set. */
static int
write_rename(int tdfd, const char *tmp, int dfd, const char *name,
             const char *buf, size_t len)
{
	int fd = openat(tdfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int r = agq_write_all(fd, buf, len);
	if (close(fd) < 0)
		r = -1;
	if (r == 0)
		r = agq_renameat_checked(tdfd, tmp, dfd, name);
	if (r < 0) {
		int e = errno;
		unlinkat(tdfd, tmp, 0);
		errno = e;
	}
	return r;
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
	int r = write_rename(AT_FDCWD, tmp, dfd, name, buf, len);
	int e = errno;
	close(dfd);
	errno = e;
	return r;
}

char *
agq_out_read(const struct agq_spool *sp, const char *id, const char *name,
             size_t max, size_t *len)
{
	int dfd = agq_out_open(sp, id, 0);
	if (dfd < 0)
		return NULL;
	char *s = agq_read_file_at(dfd, name, max, len, NULL);
	int e = errno;
	close(dfd);
	errno = e;
	return s;
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
	return write_rename(dfd, tmp, dfd, name, buf, len);
}

/* ---- each attempt's output ---------------------------------------------- */

int
agq_out_attempts(const json_t *t)
{
	return (int)(json_array_size(json_object_get(t, "previous_attempts")) +
	    json_array_size(json_object_get(t, "attempts")));
}

int
agq_out_keep(int dfd, int n)
{
	int r = 0, e = 0;
	for (int i = 0; spare_files[i]; i++) {
		char kept[32];
		snprintf(kept, sizeof kept, "%s.%d", spare_files[i], n);
		if (agq_renameat_noreplace(dfd, spare_files[i], dfd, kept) < 0 &&
		    errno != ENOENT && errno != EEXIST && r == 0) {
			r = -1;
			e = errno;
		}
	}
	errno = e;
	return r;
}

int
agq_out_open_stream(const struct agq_spool *sp, const char *id,
                    const json_t *t, const char *stream, int n)
{
	if (strcmp(stream, "stdout") && strcmp(stream, "stderr")) {
		errno = EINVAL;
		return -1;
	}
	int dfd = agq_out_open(sp, id, 0);
	if (dfd < 0)
		return -1;
	int fd = -1;
	if (n > 0) {
		char kept[32];
		snprintf(kept, sizeof kept, "%s.%d", stream, n);
		fd = openat(dfd, kept, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && (errno != ENOENT || n != agq_out_attempts(t)))
			goto out;
	}
	if (fd < 0)
		fd = openat(dfd, stream, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
out:;
	int e = errno;
	close(dfd);
	errno = e;
	return fd;
}
