/*
 * reject.c - a file that is not a valid task is quarantined (moved to
 * corrupt/ with a note, never deleted: agq-spool(5), Quarantine of task
 * files), and the move is said on stderr and in the journal.  Above
 * spool.c and journal.c.
 */

#include <errno.h>

#include "util.h"
#include "spool.h"
#include "journal.h"
#include "reject.h"

int
agq_reject(const struct agq_spool *sp, const char *path, const char *name,
           const char *id, const char *why)
{
	if (agq_quarantine(sp, path, name, why) < 0) {
		int e = errno;
		agq_syserr("cannot quarantine", path);
		errno = e;
		return -1;
	}
	agq_warn("quarantined %s: %s", path, why);
	json_t *ev = json_pack("{s:s, s:s}", "file", path, "reason", why);
	agq_journal_w(sp, "reject", id, ev);
	return 0;
}
