/*
 * notify.c - a task's notify hook, run detached and bounded when the task
 * ends (notify.h).  The process that carries out a task's last move calls
 * it once (lease.c: agq_lc_notify): the hook never holds up the queue,
 * and its failure never undoes the move.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "conf.h"
#include "task.h"
#include "spool.h"
#include "journal.h"
#include "out.h"
#include "runas.h"
#include "notify.h"

extern char **environ;

/* Wait up to S seconds for child PID; its wait status in *ST.  1 when it
 * ended, 0 when the time ran out. */
static int
wait_for(pid_t pid, double s, int *st)
{
	int64_t end = agq_mono_us() + (int64_t)(s * 1e6);
	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return 1;
		if (agq_mono_us() >= end)
			return 0;
		/* a child's end is not an event this process can block on
		 * without a handler of its own (it is the caller's copy) */
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

/* The hook's environment (notify.h), made this process's: agq_runas_env
 * for RA without the agents' keys (agq_conf_secrets of the spool's
 * configuration), and the AGQ_* variables. */
static void
set_env(const struct agq_spool *sp, const char *id, const json_t *t,
        const char *state, const struct agq_runas *ra)
{
	char **sec = agq_conf_secrets(&sp->conf);
	const char **v = agq_xmalloc(agq_runas_env_size() * sizeof *v);
	agq_runas_env(ra, sec, 0, v);
	agq_conf_secrets_free(sec);
	/* this process ends with the hook: V and what it points to stay */
	environ = (char **)v;
	const json_t *last = agq_task_last_attempt(t);
	json_t *code = json_object_get(last, "exit");
	json_int_t sig = json_integer_value(json_object_get(last, "signal"));
	char st[32] = "";
	if (sig > 0)
		snprintf(st, sizeof st, "%d", 128 + (int)sig);
	else if (json_is_integer(code))
		snprintf(st, sizeof st, "%lld", (long long)json_integer_value(code));
	const char *reason = json_string_value(json_object_get(t, "reason"));
	const char *title = json_string_value(json_object_get(t, "title"));
	char root[PATH_MAX];
	setenv("AGQ_TASK_ID", id, 1);
	setenv("AGQ_STATE", state, 1);
	setenv("AGQ_EXIT_STATUS", st, 1);
	setenv("AGQ_REASON", reason ? reason : "", 1);
	setenv("AGQ_TITLE", title ? title : "", 1);
	setenv("AGQ_SPOOL", realpath(sp->root, root) ? root : sp->root, 1);
}

/* out/ID/notify.log opened for appending (O_NOFOLLOW, under out/ID
 * opened without following a link), else /dev/null.  An fd or -1. */
static int
open_log(const struct agq_spool *sp, const char *id)
{
	int dfd = agq_out_open(sp, id, 1);
	int fd = dfd < 0 ? -1 : openat(dfd, "notify.log", O_WRONLY | O_CREAT |
	    O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (dfd >= 0)
		close(dfd);
	return fd >= 0 ? fd : open("/dev/null", O_WRONLY | O_CLOEXEC);
}

/* The watcher: start the hook, bound it, journal its end.  Never
 * returns. */
static _Noreturn void
watch(const struct agq_spool *sp, const char *id, const json_t *t,
      const char *state, const json_t *cmd)
{
	int log = open_log(sp, id);
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (log >= 0 && nul >= 0) {
		/* the watcher's own messages go to the log too */
		dup2(nul, 0);
		dup2(log, 1);
		dup2(log, 2);
	}
	/* as the task runs (agq-run(8) SECURITY): a root process runs the
	 * hook of another user's task as that user, or not at all */
	struct agq_runas ra;
	char why[600];
	if (agq_runas_get(agq_runas_spool_uid(sp->root), t, &ra, why,
	    sizeof why) < 0) {
		agq_warn("%s: the notify hook is not run: %s", id, why);
		agq_journal_w(sp, "notify", id, json_pack("{s:s, s:i, s:b, s:s}",
		    "state", state, "status", 126, "timed_out", 0, "error", why));
		_exit(0);
	}
	set_env(sp, id, t, state, &ra);
	pid_t pid = fork();
	if (pid == 0) {
		agq_child_stdio(log, log);
		if (chdir("/") < 0)
			_exit(126);
		if (ra.on) {
			if (agq_runas_become(ra.uid, ra.gid, ra.groups,
			    (size_t)ra.ngroups) < 0) {
				agq_syserr("cannot run the notify hook as its "
				    "task's user", ra.user);
				_exit(126);
			}
			prctl(PR_SET_PDEATHSIG, SIGKILL);
		}
		agq_exec_cmd(cmd);
	}
	int st = 0, timed_out = 0;
	if (pid < 0) {
		agq_syserr("cannot run the notify hook", NULL);
		st = 126 << 8;
	} else if (!wait_for(pid, sp->conf.notify_timeout_s, &st)) {
		timed_out = 1;
		agq_warn("%s: the notify hook ran longer than %g s: stopped",
		    id, sp->conf.notify_timeout_s);
		kill(-pid, SIGTERM);
		if (!wait_for(pid, sp->conf.kill_grace_s, &st)) {
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
		}
	}
	int status = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
	/* whom it ran as: its task's user, or this process's */
	agq_journal_w(sp, "notify", id, json_pack("{s:s, s:i, s:b, s:I}",
	    "state", state, "status", status, "timed_out", timed_out, "uid",
	    (json_int_t)(ra.on ? ra.uid : geteuid())));
	_exit(0);
}

int
agq_notify_run(const struct agq_spool *sp, const char *id, const json_t *t,
               const char *state)
{
	const json_t *cmd = json_object_get(t, "notify");
	if (!cmd)
		return 0;
	fflush(NULL);   /* nothing buffered is written twice by a child */
	pid_t pid = fork();
	if (pid < 0) {
		agq_syserr("cannot run the notify hook", id);
		return -1;
	}
	if (pid == 0) {
		/* none of the caller's descriptors (a task's lock above all)
		 * outlives this process; a session of its own, then the
		 * watcher, whose parent ends at once (no zombie, no wait) */
		close_range(3, ~0U, 0);
		setsid();
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		static const int sigs[] = { SIGCHLD, SIGPIPE, SIGTERM, SIGINT,
		    SIGHUP, SIGALRM, 0 };
		for (int i = 0; sigs[i]; i++)
			signal(sigs[i], SIG_DFL);
		pid_t w = fork();
		if (w == 0)
			watch(sp, id, t, state, cmd);
		_exit(w < 0 ? 1 : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return 0;
}
