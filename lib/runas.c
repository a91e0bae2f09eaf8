/*
 * runas.c - whom a task's processes run as (runas.h): the run-as rule of
 * agq-run(8) SECURITY, its clean environment, and the credential change,
 * shared by the runner and its shepherd (the task) and notify.c (the
 * task's notify hook).
 */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"
#include "redact.h"
#include "task.h"
#include "runas.h"

extern char **environ;

uid_t
agq_runas_spool_uid(const char *root)
{
	struct stat st;
	return stat(root, &st) == 0 ? st.st_uid : 0;
}

void
agq_runas_free(struct agq_runas *ra)
{
	free(ra->groups);
	free(ra->user);
	free(ra->home);
	free(ra->shell);
	for (int i = 0; ra->env[i]; i++)
		free(ra->env[i]);
	memset(ra, 0, sizeof *ra);
}

int
agq_runas_get(uid_t spool_uid, const json_t *t, struct agq_runas *ra,
              char *why, size_t size)
{
	memset(ra, 0, sizeof *ra);
	if (geteuid() != 0)
		return 0;
	long long uid = spool_uid ? (long long)spool_uid :
	    agq_task_owner_uid(t);
	if (uid <= 0)
		return 0;
	errno = 0;
	const struct passwd *pw = getpwuid((uid_t)uid);
	if (!pw)
		return agq_errf(why, size, "owner uid %lld: %s (getpwuid)", uid,
		    errno ? strerror(errno) : "no such user");
	ra->on = 1;
	ra->uid = pw->pw_uid;
	ra->gid = pw->pw_gid;
	ra->user = agq_xstrdup(pw->pw_name);
	ra->home = agq_xstrdup(pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
	ra->shell = agq_xstrdup(pw->pw_shell && *pw->pw_shell ? pw->pw_shell :
	    "/bin/sh");
	ra->env[0] = agq_xasprintf("PATH=%s", AGQ_RUNAS_PATH);
	ra->env[1] = agq_xasprintf("HOME=%s", ra->home);
	ra->env[2] = agq_xasprintf("USER=%s", ra->user);
	ra->env[3] = agq_xasprintf("LOGNAME=%s", ra->user);
	ra->env[4] = agq_xasprintf("SHELL=%s", ra->shell);
	int n = 0;
	(void)getgrouplist(ra->user, ra->gid, NULL, &n);
	ra->groups = agq_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *ra->groups);
	ra->ngroups = n;
	if (n > 0 && getgrouplist(ra->user, ra->gid, ra->groups,
	    &ra->ngroups) < 0) {
		agq_errf(why, size, "owner %s (uid %lld): cannot read its groups "
		    "(getgrouplist)", ra->user, uid);
		agq_runas_free(ra);
		return -1;
	}
	return 0;
}

size_t
agq_runas_env_size(void)
{
	size_t n = 0;
	while (environ[n])
		n++;
	return n + sizeof ((struct agq_runas *)0)->env /
	    sizeof ((struct agq_runas *)0)->env[0];
}

size_t
agq_runas_env(const struct agq_runas *ra, char *const *secrets, int keys,
              const char **v)
{
	size_t n = 0;
	if (ra->on) {
		while (ra->env[n]) {
			v[n] = ra->env[n];
			n++;
		}
	} else {
		for (size_t i = 0; environ[i]; i++)
			if (keys || !agq_env_is_key(environ[i], secrets))
				v[n++] = environ[i];
	}
	v[n] = NULL;
	return n;
}

int
agq_runas_become(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups)
{
	if (syscall(SYS_setgroups, ngroups, groups) < 0 ||
	    syscall(SYS_setresgid, gid, gid, gid) < 0 ||
	    syscall(SYS_setresuid, uid, uid, uid) < 0)
		return -1;
	return 0;
}
