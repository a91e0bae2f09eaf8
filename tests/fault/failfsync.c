/*
 * failfsync.c - an LD_PRELOAD shim for tests: fsync(2) and fdatasync(2)
 * fail with EIO while the file named by $AGQ_FAIL_FSYNC exists, for
 * descriptors whose path contains $AGQ_FAIL_FSYNC_IN (default: every
 * path).  Lets a test reach the error paths after a write succeeded,
 * which a full disk cannot.
 *
 * Likewise write(2), pwrite(2) and writev(2) fail with $AGQ_FAIL_WRITE_ERRNO
 * (ENOSPC, the default, EDQUOT, EIO or EROFS) while the file named by
 * $AGQ_FAIL_WRITE exists, for descriptors whose path contains
 * $AGQ_FAIL_WRITE_IN: a disk that is full (or failing) for as long as the
 * test says, then has room again, flipped by a file and not by time.
 * And link(2), linkat(2), rename(2), renameat(2) and renameat2(2), while
 * the file named by $AGQ_FAIL_LINK exists, for a path (old or new) that
 * contains $AGQ_FAIL_LINK_IN (default: every path), are DONE and then
 * reported failed with $AGQ_FAIL_LINK_ERRNO (EIO, the default, ENOENT,
 * EEXIST or ESTALE): the false failures of NFS, where the reply to a
 * request the server carried out is lost and its retransmission fails
 * (agq-spool(5), "Network file systems").
 * And renameat2(2) with a flag (RENAME_NOREPLACE) fails with EINVAL,
 * doing nothing, when $AGQ_NO_RENAME2 is 1: NFS lacks the flags.
 * Built by `make check` into build/fault/failfsync.so; not part of agq.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Is FD to fail: the file named by $FLAGVAR exists and FD's path
 * contains $FLAGVAR_IN (when set and not empty)? */
static int
failing_as(int fd, const char *flagvar, const char *invar)
{
	const char *flag = getenv(flagvar);
	if (!flag || access(flag, F_OK) < 0)
		return 0;
	const char *in = getenv(invar);
	if (!in || !*in)
		return 1;
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n < 0)
		return 0;
	path[n] = '\0';
	return strstr(path, in) != NULL;
}

static int
failing(int fd)
{
	return failing_as(fd, "AGQ_FAIL_FSYNC", "AGQ_FAIL_FSYNC_IN");
}

/* Does a write to FD fail?  Sets errno to $AGQ_FAIL_WRITE_ERRNO when so. */
static int
write_fails(int fd)
{
	int e = errno;
	if (!failing_as(fd, "AGQ_FAIL_WRITE", "AGQ_FAIL_WRITE_IN")) {
		errno = e;
		return 0;
	}
	const char *n = getenv("AGQ_FAIL_WRITE_ERRNO");
	errno = !n || !strcmp(n, "ENOSPC") ? ENOSPC : !strcmp(n, "EDQUOT") ?
	    EDQUOT : !strcmp(n, "EROFS") ? EROFS : EIO;
	return 1;
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
		    "write");
	return write_fails(fd) ? -1 : real(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(
		    RTLD_NEXT, "pwrite");
	return write_fails(fd) ? -1 : real(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	if (!real)
		real = (ssize_t (*)(int, const struct iovec *, int))dlsym(
		    RTLD_NEXT, "writev");
	return write_fails(fd) ? -1 : real(fd, iov, n);
}

int
fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (failing(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int
fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (failing(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

/* After a link or rename of OLD to NEW that returned R: is it to be
 * reported failed?  Then errno is $AGQ_FAIL_LINK_ERRNO. */
static int
link_fails(int r, const char *old, const char *new)
{
	int e = errno;
	const char *flag = getenv("AGQ_FAIL_LINK");
	const char *in = getenv("AGQ_FAIL_LINK_IN");
	if (r < 0 || !flag || access(flag, F_OK) < 0 || (in && *in &&
	    !strstr(old, in) && !strstr(new, in))) {
		errno = e;
		return 0;
	}
	const char *n = getenv("AGQ_FAIL_LINK_ERRNO");
	errno = !n || !strcmp(n, "EIO") ? EIO : !strcmp(n, "ENOENT") ? ENOENT :
	    !strcmp(n, "EEXIST") ? EEXIST : ESTALE;
	return 1;
}

#define REAL(name) \
	static __typeof__(&name) real; \
	if (!real) \
		real = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

int
link(const char *old, const char *new)
{
	REAL(link);
	int r = real(old, new);
	return link_fails(r, old, new) ? -1 : r;
}

int
linkat(int od, const char *old, int nd, const char *new, int flags)
{
	REAL(linkat);
	int r = real(od, old, nd, new, flags);
	return link_fails(r, old, new) ? -1 : r;
}

int
rename(const char *old, const char *new)
{
	REAL(rename);
	int r = real(old, new);
	return link_fails(r, old, new) ? -1 : r;
}

int
renameat(int od, const char *old, int nd, const char *new)
{
	REAL(renameat);
	int r = real(od, old, nd, new);
	return link_fails(r, old, new) ? -1 : r;
}

int
renameat2(int od, const char *old, int nd, const char *new, unsigned flags)
{
	REAL(renameat2);
	const char *no = getenv("AGQ_NO_RENAME2");
	if (flags && no && !strcmp(no, "1")) {
		errno = EINVAL;
		return -1;
	}
	int r = real(od, old, nd, new, flags);
	return link_fails(r, old, new) ? -1 : r;
}
