/*
 * failfsync.c - an LD_PRELOAD shim for tests: fsync(2) and fdatasync(2)
 * fail with EIO while the file named by $AGQ_FAIL_FSYNC exists, for
 * descriptors whose path contains $AGQ_FAIL_FSYNC_IN (default: every
 * path).  Lets a test reach the error paths after a write succeeded,
 * which a full disk cannot.  Built by `make check` into
 * build/fault/failfsync.so; not part of agq.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
failing(int fd)
{
	const char *flag = getenv("AGQ_FAIL_FSYNC");
	if (!flag || access(flag, F_OK) < 0)
		return 0;
	const char *in = getenv("AGQ_FAIL_FSYNC_IN");
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
