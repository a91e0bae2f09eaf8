/* Unit tests for lib/fskind.c: file system kinds, link(2) and rename(2)
 * checked for the false failures of a network file system. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fskind.h"
#include "unit.h"

static void
touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
}

int
main(void)
{
	/* statfs(2) f_type magics (linux/magic.h) */
	CHECK(agq_fs_kind_magic(0x6969) == AGQ_FS_NFS, "NFS_SUPER_MAGIC: nfs");
	CHECK(agq_fs_kind_magic(0x517B) == AGQ_FS_SMB &&
	    agq_fs_kind_magic(0xFF534D42UL) == AGQ_FS_SMB &&
	    agq_fs_kind_magic(0xFE534D42UL) == AGQ_FS_SMB,
	    "SMB, CIFS and SMB2 magics: smb");
	CHECK(agq_fs_kind_magic(0x65735546) == AGQ_FS_FUSE, "FUSE: fuse (sshfs)");
	CHECK(agq_fs_kind_magic(0x00C36400) == AGQ_FS_CEPH, "CEPH: ceph");
	CHECK(agq_fs_kind_magic(0xEF53) == AGQ_FS_LOCAL &&
	    agq_fs_kind_magic(0x01021994) == AGQ_FS_LOCAL &&
	    agq_fs_kind_magic(0x794c7630) == AGQ_FS_LOCAL,
	    "ext4, tmpfs, overlayfs: local");
	CHECK(!strcmp(agq_fs_name(AGQ_FS_NFS), "nfs") &&
	    !strcmp(agq_fs_name(AGQ_FS_LOCAL), "local") &&
	    !strcmp(agq_fs_name(AGQ_FS_CEPH), "ceph") &&
	    !strcmp(agq_fs_name(99), "?") && !strcmp(agq_fs_name(-1), "?"),
	    "names, and ? out of range");

	char root[] = "/tmp/test_fskind.XXXXXX";
	if (!mkdtemp(root))
		return 2;
	int k = agq_fs_kind(root);
	CHECK(k >= AGQ_FS_LOCAL && k <= AGQ_FS_CEPH, "the kind of a directory");
	CHECK(agq_fs_remote(root) == (k != AGQ_FS_LOCAL), "remote: not local");
	errno = 0;
	CHECK(agq_fs_kind("/nonexistent/x") < 0 && errno == ENOENT &&
	    agq_fs_remote("/nonexistent/x") < 0, "statfs's ENOENT");

	char a[64], b[64], c[64], d[64];
	snprintf(a, sizeof a, "%s/a", root);
	snprintf(b, sizeof b, "%s/b", root);
	snprintf(c, sizeof c, "%s/c", root);
	snprintf(d, sizeof d, "%s/d", root);
	touch(a);
	touch(c);
	struct stat sa, sb;
	CHECK(agq_link_checked(a, b) == 0 && stat(b, &sb) == 0 &&
	    stat(a, &sa) == 0 && sa.st_ino == sb.st_ino, "a link made");
	/* the retransmission: link(2) again answers EEXIST, but the name is
	 * the file's already (Postfix sane_link) */
	CHECK(agq_link_checked(a, b) == 0, "EEXIST of our own link: made");
	errno = 0;
	CHECK(agq_link_checked(c, b) < 0 && errno == EEXIST,
	    "EEXIST of another file: taken");
	errno = 0;
	CHECK(agq_link_checked(d, b) < 0 && errno == ENOENT,
	    "a missing source: ENOENT");

	/* rename: done, then reported failed (the state a retransmitted
	 * RENAME leaves): the source gone, the target the file */
	struct stat before;
	lstat(c, &before);
	CHECK(rename(c, d) == 0 && agq_rename_happened(&before, c, d) == 1,
	    "a rename that happened is recognized");
	CHECK(agq_rename_happened(&before, c, a) == 0,
	    "not when the target is another file");
	lstat(a, &before);
	CHECK(agq_rename_happened(&before, a, b) == 0,
	    "not while the source is still there");
	errno = 0;
	CHECK(agq_rename_checked(c, a) < 0 && errno == ENOENT,
	    "a real ENOENT stays a failure");
	CHECK(agq_rename_checked(d, c) == 0 && access(d, F_OK) < 0 &&
	    access(c, F_OK) == 0, "a plain rename");
	int dfd = open(root, O_RDONLY | O_DIRECTORY);
	CHECK(agq_renameat_checked(dfd, "c", dfd, "d") == 0 &&
	    access(d, F_OK) == 0, "renameat, relative to a directory");
	close(dfd);

	unlink(a);
	unlink(b);
	unlink(d);
	rmdir(root);
	DONE();
}
