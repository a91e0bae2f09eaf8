/* Unit tests for lib/runas.c: whom a task's processes run as (the rule of
 * agq-run(8) SECURITY), their environment, the credential change. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

/* 1 if the NULL-terminated V holds the entry E. */
static int
has(const char **v, const char *e)
{
	for (; *v; v++)
		if (!strcmp(*v, e))
			return 1;
	return 0;
}

/* A task owned by UID (-1: none). */
static json_t *
task_of(long long uid)
{
	json_t *t = json_pack("{s:s, s:s}", "id", "t1", "cmd", "true");
	if (uid >= 0)
		agq_task_set_owner(t, (uid_t)uid, NULL);
	return t;
}

/* In a child: become PW's user with agq_runas_become; its exit status
 * says what came of it (0: every id and the groups as asked). */
static int
become_in_child(const struct passwd *pw)
{
	pid_t pid = fork();
	if (pid == 0) {
		gid_t g = pw->pw_gid;
		if (agq_runas_become(pw->pw_uid, pw->pw_gid, &g, 1) < 0)
			_exit(errno == EPERM ? 2 : 3);
		uid_t r, e, s;
		gid_t gr, ge, gs, list[4];
		int n = getgroups(4, list);
		_exit(getresuid(&r, &e, &s) == 0 && r == pw->pw_uid &&
		    e == pw->pw_uid && s == pw->pw_uid &&
		    getresgid(&gr, &ge, &gs) == 0 && gr == pw->pw_gid &&
		    ge == pw->pw_gid && gs == pw->pw_gid && n == 1 &&
		    list[0] == pw->pw_gid ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int
main(void)
{
	agq_setprog("test_runas");
	CHECK(agq_runas_spool_uid("/") == 0 &&
	    agq_runas_spool_uid("/nonexistent/agq") == 0,
	    "spool owner: root's, and root's when it cannot be read");

	/* the environment: the caller's without the agents' keys */
	setenv("ANTHROPIC_API_KEY", "sk-unit", 1);
	setenv("COPIED", "x-sk-filekey-98765", 1);
	setenv("PLAIN_VAR", "stays", 1);
	char *sec[] = { "sk-filekey-98765", NULL };
	struct agq_runas ra;
	memset(&ra, 0, sizeof ra);
	const char **v = malloc(agq_runas_env_size() * sizeof *v);
	size_t n = agq_runas_env(&ra, sec, 0, v);
	CHECK(v[n] == NULL && has(v, "PLAIN_VAR=stays") &&
	    !has(v, "ANTHROPIC_API_KEY=sk-unit") &&
	    !has(v, "COPIED=x-sk-filekey-98765"),
	    "as the caller: its environment without the keys");
	n = agq_runas_env(&ra, sec, 1, v);
	CHECK(has(v, "ANTHROPIC_API_KEY=sk-unit") && has(v, "PLAIN_VAR=stays"),
	    "as the caller, KEYS: with them (agq-attempt)");

	char why[256] = "";
	json_t *t = task_of(-1);
	CHECK(agq_runas_get(0, t, &ra, why, sizeof why) == 0 && !ra.on,
	    "a task without an owner runs as the caller");
	agq_runas_free(&ra);
	json_decref(t);

	const struct passwd *pw = getpwnam("nobody");
	if (geteuid() != 0 || !pw) {
		t = task_of(12345);
		CHECK(agq_runas_get(0, t, &ra, why, sizeof why) == 0 && !ra.on,
		    "not root: every task runs as the caller");
		agq_runas_free(&ra);
		json_decref(t);
		if (pw)
			CHECK(become_in_child(pw) == 2,
			    "not root: no credential change (EPERM)");
		free(v);
		DONE();
	}
	struct passwd nob = *pw;
	char *home = agq_xstrdup(pw->pw_dir), *e;

	t = task_of(nob.pw_uid);
	CHECK(agq_runas_get(0, t, &ra, why, sizeof why) == 0 && ra.on &&
	    ra.uid == nob.pw_uid && ra.gid == nob.pw_gid &&
	    !strcmp(ra.user, "nobody") && ra.ngroups >= 1,
	    "root, a root spool: the task's owner");
	n = agq_runas_env(&ra, sec, 1, v);
	e = agq_xasprintf("HOME=%s", home);
	CHECK(n == 5 && has(v, "PATH=" AGQ_RUNAS_PATH) && has(v, e) &&
	    has(v, "USER=nobody") && has(v, "LOGNAME=nobody") &&
	    !has(v, "PLAIN_VAR=stays") && !has(v, "ANTHROPIC_API_KEY=sk-unit"),
	    "another user's environment: clean, from its passwd entry, even "
	    "with KEYS");
	free(e);
	agq_runas_free(&ra);
	json_decref(t);

	t = task_of(0);
	CHECK(agq_runas_get(nob.pw_uid, t, &ra, why, sizeof why) == 0 &&
	    ra.on && ra.uid == nob.pw_uid,
	    "root, a spool of another user: its owner, whatever the task says");
	agq_runas_free(&ra);
	CHECK(agq_runas_get(0, t, &ra, why, sizeof why) == 0 && !ra.on,
	    "root's own task stays root's");
	agq_runas_free(&ra);
	json_decref(t);

	if (!getpwuid(54321)) {
		t = task_of(54321);
		CHECK(agq_runas_get(0, t, &ra, why, sizeof why) < 0 && !ra.on &&
		    strstr(why, "owner uid 54321: no such user (getpwuid)"),
		    "an owner with no passwd entry: refused, saying why");
		agq_runas_free(&ra);
		json_decref(t);
	}

	CHECK(become_in_child(&nob) == 0,
	    "become: user, group and groups, real, effective and saved");
	free(home);
	free(v);
	DONE();
}
