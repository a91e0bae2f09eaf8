/*
 * agq.h - libagq, the shared code of every agq program: an umbrella that
 * only includes the headers of its modules, lowest layer first.  A file of
 * lib/ includes the headers of what it uses instead; a program may include
 * this.  lib/README maps the layers, one line per file; util.h states the
 * conventions (times, return values, who frees what).
 */
#ifndef AGQ_H
#define AGQ_H

/* base: no other module */
#include "backends.h"
#include "fskind.h"
#include "util.h"
#include "curlload.h"
#include "paths.h"
#include "redact.h"
#include "cli.h"
#include "quota.h"
#include "conf.h"
#include "steps.h"
/* the task model and the spool protocol */
#include "classify.h"
#include "task.h"
#include "runas.h"
#include "spool.h"
#include "journal.h"
#include "prrec.h"
#include "jrecon.h"
#include "open.h"
#include "reject.h"
#include "agent.h"
#include "captoken.h"
#include "out.h"
#include "notify.h"
#include "wake.h"
/* running agent tasks */
#include "backend.h"
#include "verify.h"
#include "attempt.h"
#include "resources.h"
#include "registry.h"
#include "regcheck.h"
#include "route.h"
#include "doctor.h"
/* the programs' engines */
#include "fsck.h"
#include "sched.h"
#include "shepherd.h"
#include "runner.h"
#include "ctl.h"
/* reports */
#include "stats.h"
#include "prview.h"
#include "sync.h"
#include "dash.h"
#include "alert.h"
#include "git.h"
#include "lifecycle.h"
#include "lease.h"
#include "review.h"
#include "throttle.h"
#include "qstate.h"
#include "forge.h"
#include "taskgit.h"
#include "reviewer.h"
#include "merge.h"
#include "patch.h"
#include "githooks.h"
#include "archive.h"
#include "deps.h"
#include "mission.h"
#include "edit.h"
#include "clean.h"
#include "jsonpatch.h"
#include "plan.h"
#include "watch.h"
#include "submit.h"
#include "mcp.h"
#include "mcptools.h"
#include "cron.h"
#include "routine.h"
#include "remote.h"
#include "via.h"

#endif
