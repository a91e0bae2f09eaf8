/* agent.c - agent registrations: agents/NAME.json (agq-spool(5)). */

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "fskind.h"
#include "util.h"
#include "task.h"
#include "spool.h"
#include "agent.h"

static int64_t
mtime_us(const struct stat *sb)
{
	return (int64_t)sb->st_mtim.tv_sec * 1000000 +
	    sb->st_mtim.tv_nsec / 1000;
}

json_t *
agq_registration_read(const struct agq_spool *sp, const char *dir,
                      const char *name)
{
	if (!agq_agent_name_valid(name)) {
		errno = EINVAL;
		return NULL;
	}
	char *p = agq_spool_path(sp, "%s/%s.json", dir, name);
	json_t *o = agq_json_read_object(p, 1024 * 1024);
	int e = errno;
	free(p);
	errno = e;
	return o;
}

json_t *
agq_agent_read(const struct agq_spool *sp, const char *name)
{
	return agq_registration_read(sp, "agents", name);
}

int
agq_agent_write(const struct agq_spool *sp, json_t *agent)
{
	const char *name = json_string_value(json_object_get(agent, "name"));
	if (!name || !agq_agent_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char *p = agq_spool_path(sp, "agents/%s.json", name);
	int r = agq_write_json(sp->tmp, p, agent, JSON_INDENT(2), 0, 0);
	int e = errno;
	free(p);
	errno = e;
	return r;
}

double
agq_agent_lease_s(const json_t *agent, double lease_s)
{
	double hb = json_number_value(json_object_get(agent, "heartbeat_s"));
	return hb > 0 && AGQ_LEASE_BEATS * hb > lease_s ?
	    AGQ_LEASE_BEATS * hb : lease_s;
}

int
agq_agent_alive(const json_t *agent, int64_t now_us, double lease_s)
{
	lease_s = agq_agent_lease_s(agent, lease_s);
	const char *st = json_string_value(json_object_get(agent, "state"));
	if (st && !strcmp(st, "down"))
		return 0;
	int64_t hb = agq_task_time(agent, "heartbeat", -1);
	if (hb < 0)
		return 0;
	return now_us - hb < (int64_t)(lease_s * 1e6);
}

int64_t
agq_agent_mtime_us(const struct agq_spool *sp, const char *name)
{
	if (!name || !agq_agent_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char *p = agq_spool_path(sp, "agents/%s.json", name);
	struct stat sb;
	int r = stat(p, &sb);
	int e = errno;
	free(p);
	errno = e;
	return r < 0 ? -1 : mtime_us(&sb);
}

int64_t
agq_agent_beat_us(const struct agq_spool *sp, const json_t *a)
{
	return agq_agent_mtime_us(sp, json_string_value(json_object_get(a,
	    "name")));
}

int
agq_agent_live(const json_t *a, int64_t beat_us, int64_t now_us,
               double lease_s)
{
	lease_s = agq_agent_lease_s(a, lease_s);        /* the effective one */
	const char *st = json_string_value(json_object_get(a, "state"));
	if (st && !strcmp(st, "down"))
		return 0;
	/* A whole-second mtime may be one the file system truncated: sshfs
	 * sets times through SFTP v3 SETSTAT, whole seconds only
	 * (draft-ietf-secsh-filexfer-02, 5: ATTR_ACMODTIME), so a heartbeat
	 * at 12.9 s reads 12.0 s and a lease of 3 s ran out 0.9 s early
	 * (tests/hosts.bats).  Taken as the end of its second: never early,
	 * at most 1 s late. */
	if (beat_us >= 0 && beat_us % 1000000 == 0)
		beat_us += 999999;
	return beat_us >= 0 && now_us - beat_us < (int64_t)(lease_s * 1e6);
}

int
agq_agent_touched_only(const json_t *a, int64_t beat_us, double lease_s)
{
	int64_t hb = agq_task_time(a, "heartbeat", -1);
	return beat_us >= 0 && (hb < 0 || beat_us - hb >=
	    (int64_t)(agq_agent_lease_s(a, lease_s) * 1e6));
}

int
agq_agent_alive_touched(const struct agq_spool *sp, const json_t *a,
                        int64_t now_us, double lease_s)
{
	return agq_agent_live(a, agq_agent_beat_us(sp, a), now_us, lease_s);
}

int
agq_agent_degraded(const struct agq_spool *sp, const json_t *a,
                   int64_t now_us, double lease_s)
{
	const char *st = json_string_value(json_object_get(a, "state"));
	int64_t beat = agq_agent_beat_us(sp, a);
	if (!agq_agent_live(a, beat, now_us, lease_s))
		return 0;
	return (st && !strcmp(st, "degraded")) ||
	    agq_agent_touched_only(a, beat, lease_s);
}

int
agq_agent_touch(const struct agq_spool *sp, const char *name)
{
	char *p = agq_spool_path(sp, "agents/%s.json", name);
	int r = utimensat(AT_FDCWD, p, NULL, AT_SYMLINK_NOFOLLOW);
	int e = errno;
	free(p);
	errno = e;
	return r;
}

int
agq_agent_load(const struct agq_spool *sp, const char *name)
{
	char *p = agq_spool_path(sp, "active/%s", name);
	DIR *d = opendir(p);
	free(p);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l > 5 &&
		    !strcmp(de->d_name + l - 5, ".json"))
			n++;
	}
	closedir(d);
	return n;
}

int
agq_clock_probe(const struct agq_spool *sp, int64_t *now_us)
{
	char *p = agq_spool_path(sp, ".clock-probe");
	int r = utimensat(AT_FDCWD, p, NULL, AT_SYMLINK_NOFOLLOW);
	if (r < 0 && errno == ENOENT) {
		int fd = open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0644);
		if (fd >= 0)
			close(fd);
		r = fd < 0 ? -1 : utimensat(AT_FDCWD, p, NULL,
		    AT_SYMLINK_NOFOLLOW);
	}
	struct stat sb;
	if (r == 0)
		r = lstat(p, &sb);
	int e = errno;
	free(p);
	errno = e;
	if (r == 0)
		*now_us = mtime_us(&sb);
	return r;
}

int64_t
agq_server_now_us(const struct agq_spool *sp)
{
	int64_t now;
	return agq_clock_probe(sp, &now) == 0 ? now : agq_now_us();
}

int
agq_agent_is_self(const json_t *a, int same_kernel)
{
	const char *h = json_string_value(json_object_get(a, "host"));
	const char *b = json_string_value(json_object_get(a, "boot_id"));
	return h && b && !strcmp(h, agq_hostname()) &&
	    !strcmp(b, agq_boot_id()) && (same_kernel ||
	    agq_task_int(a, "pid", 0) == (json_int_t)getpid());
}

/* link(2) OLD to NEW, checked: a false failure on NFS counts as made
 * (fskind.h agq_link_checked). */
static int
claim_link(const char *old, const char *new)
{
	return agq_link_checked(old, new);
}

/* The file at DST, seen as inode INO, moved out of the way into tmp/:
 * 0 when the one moved was INO (then removed); 1 when DST was gone or
 * had been replaced meanwhile (a newer file put back); -1 with errno. */
static int
move_away(const struct agq_spool *sp, const char *dst, ino_t ino,
          const char *name)
{
	char u[300];
	agq_unique_name(u, sizeof u);
	char *away = agq_spool_path(sp, "tmp/.agent-%s.%s", name, u);
	int rc = agq_rename_checked(dst, away);
	if (rc < 0) {
		rc = errno == ENOENT ? 1 : -1;
	} else {
		struct stat sb;
		if (lstat(away, &sb) == 0 && sb.st_ino != ino) {
			(void)claim_link(away, dst);    /* a newer one: back */
			rc = 1;
		}
		(void)unlink(away);
	}
	int e = errno;
	free(away);
	errno = e;
	return rc;
}

int
agq_agent_claim(const struct agq_spool *sp, json_t *a, int64_t now_us,
                double lease_s, struct agq_agent_claimed *out)
{
	memset(out, 0, sizeof *out);
	const char *name = json_string_value(json_object_get(a, "name"));
	if (!name || !agq_agent_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	char u[300];
	agq_unique_name(u, sizeof u);
	char *tmp = agq_spool_path(sp, "tmp/.claim-%s.%s", name, u);
	char *dst = agq_spool_path(sp, "agents/%s.json", name);
	/* not fsynced, as every agent file (agq_agent_write): one lost in
	 * a crash is claimed again when the agent starts again */
	int rc = agq_write_json(sp->tmp, tmp, a, JSON_INDENT(2), 0, 1);
	for (int tries = 0; rc == 0; tries++) {
		if (claim_link(tmp, dst) == 0)
			break;
		struct stat sb;
		if (errno != EEXIST || tries == 8) {
			rc = -1;        /* 8: a name fought over; EEXIST */
			break;
		}
		if (lstat(dst, &sb) < 0) {
			if (errno != ENOENT)
				rc = -1;
			continue;       /* ENOENT: moved away meanwhile */
		}
		json_t *old = agq_agent_read(sp, name);
		int alive = old && agq_agent_live(old, mtime_us(&sb), now_us,
		    lease_s);
		int mine = old && agq_agent_is_self(old, 1);
		if (alive && !mine) {
			json_decref(out->old);
			out->old = old;
			errno = EEXIST;
			rc = -1;
			break;
		}
		int m = move_away(sp, dst, sb.st_ino, name);
		if (m == 0) {
			json_decref(out->old);
			out->old = old;
			out->old_alive = alive;
			out->other = old && !mine;
		} else {
			json_decref(old);
		}
		if (m < 0)
			rc = -1;
	}
	int e = errno;
	(void)unlink(tmp);
	free(tmp);
	free(dst);
	errno = e;
	return rc;
}
