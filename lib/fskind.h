/*
 * fskind.h - fskind.c: what kind of file system a path is on, and link(2)
 * and rename(2) checked the way a network file system needs
 * (agq-spool(5), "Network file systems"; issue 20).
 *
 * The bottom of libagq with backends.c: libc only, so that util.c's
 * maildir delivery (agq_write_atomic) uses the checked calls too.
 */
#ifndef AGQ_FSKIND_H
#define AGQ_FSKIND_H

#include <sys/stat.h>

/* File system kinds, from statfs(2)'s f_type (linux/magic.h). */
enum {
	AGQ_FS_LOCAL,           /* anything below */
	AGQ_FS_NFS,             /* NFS_SUPER_MAGIC 0x6969 */
	AGQ_FS_SMB,             /* SMB 0x517B, CIFS 0xFF534D42, SMB2 0xFE534D42 */
	AGQ_FS_FUSE,            /* FUSE_SUPER_MAGIC 0x65735546 (sshfs, ...) */
	AGQ_FS_CEPH             /* CEPH_SUPER_MAGIC 0x00C36400 */
};

/* The AGQ_FS_* kind of statfs(2)'s f_type MAGIC: pure. */
int agq_fs_kind_magic(unsigned long magic);

/* The AGQ_FS_* kind of the file system PATH is on (statfs(2), following
 * a symlink), or -1 with statfs's errno. */
int agq_fs_kind(const char *path);

/* The name of kind K: "local", "nfs", "smb", "fuse", "ceph" ("?" out of
 * range).  A static string. */
const char *agq_fs_name(int k);

/* 1 if PATH is on a remote (network or FUSE) file system: a kind other
 * than AGQ_FS_LOCAL; 0 if local; -1 with errno when statfs(2) fails.
 * FUSE counts as remote: sshfs is the common one, and inotify(7) sees no
 * change its server makes.  agq.conf's spool_fs overrides it for the
 * spool (agq_spool_open; agq.conf(5)). */
int agq_fs_remote(const char *path);

/* link(2) OLD to NEW, counting a reported failure that did happen as
 * success: on NFS a retransmitted LINK whose first reply was lost answers
 * EEXIST (or EIO, ESTALE...) although the link is made.  On any error,
 * lstat(2) of both: NEW the same file (st_dev and st_ino) as OLD, and
 * OLD's st_nlink >= 2, is success (Postfix's sane_link(), maildir
 * deliveries).  A NEW that was already another name of OLD counts as made
 * too: the end state asked for.  0, or -1 with link(2)'s errno (EEXIST:
 * NEW is another file). */
int agq_link_checked(const char *old, const char *new);

/* Did a rename(2) of OLD to NEW happen, although it reported failure?
 * BEFORE is lstat(2) of OLD taken before the call.  1 when OLD is gone
 * (ENOENT) and NEW is the file BEFORE described (st_dev, st_ino); else 0. */
int agq_rename_happened(const struct stat *before, const char *old,
                        const char *new);

/* rename(2) OLD to NEW, checked: OLD is lstat(2)'d first; a reported
 * failure (on NFS ENOENT or ESTALE: a retransmitted RENAME whose first
 * reply was lost finds its source gone; EIO after a timeout) is success
 * when agq_rename_happened says the rename was done: OLD gone, NEW that
 * file.  0, or -1 with rename(2)'s errno. */
int agq_rename_checked(const char *old, const char *new);

/* agq_rename_checked with renameat(2)'s arguments: OLD relative to the
 * directory OFD, NEW to NFD (AT_FDCWD: the working directory). */
int agq_renameat_checked(int ofd, const char *old, int nfd, const char *new);

/* rename(2) OLD (relative to directory OFD) to NEW (to NFD) that never
 * replaces NEW: renameat2(2) with RENAME_NOREPLACE, checked as
 * agq_renameat_checked; where the file system lacks the flag (EINVAL or
 * ENOSYS: NFS, which rename(2)'s man page names, and some FUSE file
 * systems), link(2) then unlink(2) of OLD, the link checked as
 * agq_link_checked (so OLD must not be a directory: EPERM).  0, or -1
 * with errno (EEXIST: NEW exists). */
int agq_renameat_noreplace(int ofd, const char *old, int nfd, const char *new);

#endif
