/*
 * notify.h - notify.c: a task's notify hook (agq-task(5), "notify"), run
 * when the task ends: done, dead or cancelled.
 *
 * Uses util, conf, task, runas, spool, journal and out.
 */
#ifndef AGQ_NOTIFY_H
#define AGQ_NOTIFY_H

#include <jansson.h>
#include "spool.h"

/* Run the notify hook of task T (its "notify" field, a command as "cmd"
 * is: a string for /bin/sh -c or an argv array; nothing when T has none)
 * for task ID, which has just ended in STATE ("done", "dead" or
 * "cancelled"), and return at once: the hook runs detached (two fork(2)s,
 * a session of its own, so the caller neither waits for it nor gets a
 * zombie), with standard input /dev/null and standard output and error
 * appended to out/ID/notify.log (opened through agq_out_open, never
 * through a symbolic link; /dev/null when it cannot be), in the directory
 * "/".  It runs as the task does (agq_runas_get: in a process whose
 * effective uid is root, as the task's owner, with that user's groups and
 * the clean environment of agq_runas_env; agq-run(8) SECURITY), and
 * never with the agents' keys in its environment (agq_env_is_key with
 * agq_conf_secrets of the spool's configuration); in its environment
 * also AGQ_TASK_ID, AGQ_STATE, AGQ_EXIT_STATUS (the last attempt's exit
 * code, 128+N when killed by signal N, empty when it has none), AGQ_REASON (the task's "reason"), AGQ_TITLE (its "title" or
 * empty) and AGQ_SPOOL (the spool, an absolute path).  A process watching
 * it (as the caller's uid: it opened notify.log, and journals) kills its
 * process group when it runs longer than notify_timeout (agq.conf;
 * SIGTERM, then SIGKILL after kill_grace), and journals a
 * `notify` event {state, status: the hook's exit status, 128+N when
 * killed by signal N, timed_out} when it ends (agq-journal(5)).  When
 * the owner has no passwd entry the hook is not run: the event has
 * status 126 and "error" saying why.
 * The task's own move is done and journaled before: a hook that fails,
 * hangs or cannot start changes nothing of it.
 * 0 when the hook was started (or T has none), -1 with errno of fork(2)
 * (reported: "cannot run the notify hook"). */
int agq_notify_run(const struct agq_spool *sp, const char *id,
                   const json_t *t, const char *state);

#endif
