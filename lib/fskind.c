/*
 * fskind.c - the file system a path is on, from statfs(2); link(2) and
 * rename(2) that tell a false failure from a real one (fskind.h).
 *
 * NFS can report a failure for an operation the server did: the client
 * retransmits a request whose reply was lost, and the server, having done
 * it already, answers EEXIST (link) or ENOENT (rename) (nfs(5),
 * "Transport methods"; Postfix's sane_link.c).  The checks here look at
 * the result instead of trusting the error.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fskind.h"

int
agq_fs_kind_magic(unsigned long magic)
{
	switch (magic & 0xffffffffUL) {
	case 0x6969UL:
		return AGQ_FS_NFS;
	case 0x517BUL:
	case 0xFF534D42UL:
	case 0xFE534D42UL:
		return AGQ_FS_SMB;
	case 0x65735546UL:
		return AGQ_FS_FUSE;
	case 0x00C36400UL:
		return AGQ_FS_CEPH;
	default:
		return AGQ_FS_LOCAL;
	}
}

int
agq_fs_kind(const char *path)
{
	struct statfs s;
	if (statfs(path, &s) < 0)
		return -1;
	return agq_fs_kind_magic((unsigned long)s.f_type);
}

const char *
agq_fs_name(int k)
{
	static const char *names[] = { "local", "nfs", "smb", "fuse", "ceph" };
	return k >= 0 && k < (int)(sizeof names / sizeof *names) ? names[k] :
	    "?";
}

int
agq_fs_remote(const char *path)
{
	int k = agq_fs_kind(path);
	return k < 0 ? -1 : k != AGQ_FS_LOCAL;
}

/* agq_link_checked with linkat(2)'s arguments: OLD relative to the
 * directory OFD, NEW to NFD (AT_FDCWD: the working directory). */
static int
link_checked_at(int ofd, const char *old, int nfd, const char *new)
{
	if (linkat(ofd, old, nfd, new, 0) == 0)
		return 0;
	int e = errno;
	struct stat so, sn;
	if (fstatat(ofd, old, &so, AT_SYMLINK_NOFOLLOW) == 0 &&
	    so.st_nlink >= 2 && fstatat(nfd, new, &sn, AT_SYMLINK_NOFOLLOW) ==
	    0 && so.st_dev == sn.st_dev && so.st_ino == sn.st_ino)
		return 0;
	errno = e;
	return -1;
}

int
agq_link_checked(const char *old, const char *new)
{
	return link_checked_at(AT_FDCWD, old, AT_FDCWD, new);
}

/* agq_rename_happened, OLD relative to directory OFD, NEW to NFD
 * (openat(2)'s rule: AT_FDCWD, or ignored for an absolute path). */
static int
happened_at(const struct stat *before, int ofd, const char *old, int nfd,
            const char *new)
{
	struct stat s;
	int e = errno;
	int r = fstatat(ofd, old, &s, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT && fstatat(nfd, new, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
	    s.st_dev == before->st_dev && s.st_ino == before->st_ino;
	errno = e;
	return r;
}

int
agq_rename_happened(const struct stat *before, const char *old,
                    const char *new)
{
	return happened_at(before, AT_FDCWD, old, AT_FDCWD, new);
}

int
agq_renameat_checked(int ofd, const char *old, int nfd, const char *new)
{
	struct stat before;
	int known = fstatat(ofd, old, &before, AT_SYMLINK_NOFOLLOW) == 0;
	if (renameat(ofd, old, nfd, new) == 0)
		return 0;
	if (known && happened_at(&before, ofd, old, nfd, new))
		return 0;
	return -1;
}

int
agq_renameat_noreplace(int ofd, const char *old, int nfd, const char *new)
{
	struct stat before;
	int known = fstatat(ofd, old, &before, AT_SYMLINK_NOFOLLOW) == 0;
	if (renameat2(ofd, old, nfd, new, RENAME_NOREPLACE) == 0)
		return 0;
	if (known && happened_at(&before, ofd, old, nfd, new))
		return 0;       /* NFS: done, though reported failed */
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link_checked_at(ofd, old, nfd, new) < 0)
		return -1;
	/* ENOENT: gone already (a retransmitted REMOVE on NFS) */
	return unlinkat(ofd, old, 0) < 0 && errno != ENOENT ? -1 : 0;
}

int
agq_rename_checked(const char *old, const char *new)
{
	return agq_renameat_checked(AT_FDCWD, old, AT_FDCWD, new);
}
