/*
 * runas.h - runas.c: whom a task's processes run as.  A root agent runs
 * a task, and whoever ends a task runs its notify hook, as the task's
 * owner (agq-run(8) and agq(7), SECURITY): the one rule, the clean
 * environment that goes with it, and the credential change itself.
 *
 * Uses util, redact and task.
 */
#ifndef AGQ_RUNAS_H
#define AGQ_RUNAS_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

/* The PATH of a process run as another user, cron's and at(1)'s kind. */
#define AGQ_RUNAS_PATH "/usr/local/bin:/usr/bin:/bin"

/* Whom a task runs as (agq_runas_get); everything in it is malloc'd and
 * freed by agq_runas_free. */
struct agq_runas {
	int on;                 /* 0: as the calling process, in its
	                         * environment; the rest empty */
	uid_t uid;
	gid_t gid;
	gid_t *groups;          /* its supplementary groups (getgrouplist) */
	int ngroups;
	char *user, *home, *shell;      /* from its passwd entry */
	char *env[6];           /* its clean environment, "NAME=value":
	                         * PATH (AGQ_RUNAS_PATH), HOME, USER, LOGNAME,
	                         * SHELL; NULL-terminated */
};

/* The owner of the spool directory ROOT (stat(2)), or 0 (root's) when it
 * cannot be read: the argument SPOOL_UID of agq_runas_get. */
uid_t agq_runas_spool_uid(const char *root);

/* Whom task T runs as, into RA (agq_runas_free it, whatever this
 * returns).  Only a process whose effective uid is root changes user: to
 * T's owner (agq_task_owner_uid; none: root) when root owns the spool
 * (SPOOL_UID 0), else to the spool's owner SPOOL_UID (who could have
 * written any owner into the file); root stays root (RA->on 0).  The
 * rule of agq-run(8) SECURITY, for the task and for its notify hook.
 * 0; or -1 with WHY (SIZE bytes; "owner uid N: no such user (getpwuid)")
 * when that uid has no passwd entry (getpwuid(3)) or its groups cannot
 * be read (getgrouplist(3)): then nothing may run for the task. */
int agq_runas_get(uid_t spool_uid, const json_t *t, struct agq_runas *ra,
                  char *why, size_t size);

void agq_runas_free(struct agq_runas *ra);

/* The environment a process of RA starts from, into V (room for
 * agq_runas_env_size() pointers; NULL-terminated; the strings borrowed
 * from RA or environ): for RA->on, RA->env alone, none of the caller's;
 * else environ without the agent's keys (agq_env_is_key with SECRETS,
 * agq_conf_secrets; agq-run(8) SECURITY), or with them when KEYS (the
 * agent's own agq-attempt).  The number of entries set. */
size_t agq_runas_env(const struct agq_runas *ra, char *const *secrets,
                     int keys, const char **v);

/* Room for agq_runas_env, in pointers: the entries of environ, RA->env's
 * and the NULL. */
size_t agq_runas_env_size(void);

/* Become UID for good, as login(1) and cron do: the supplementary groups
 * GROUPS (NGROUPS of them), the group GID and the user UID, real,
 * effective and saved, set with the raw system calls, groups first, the
 * user last (setgroups(2), setresgid(2), setresuid(2)).  Safe in a
 * vfork(2) child: no libc bookkeeping, no memory.  A change of
 * credentials clears PR_SET_PDEATHSIG (prctl(2)): set it again after.
 * 0; or -1 with errno of the call that failed (the process may then
 * hold the new groups: it must not run anything). */
int agq_runas_become(uid_t uid, gid_t gid, const gid_t *groups,
                     size_t ngroups);

#endif
