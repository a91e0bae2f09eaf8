/*
 * open.c - opening and closing a spool: resolve its directory (-s, then
 * $AGQ_SPOOL, then agq.conf's "spool", then the compiled-in default), load
 * the configuration, create what is missing with the modes of
 * agq_spool_modes (agq-spool(5), Permissions); on close, forget the
 * journal's cached descriptors.  Above spool.c and journal.c, so neither
 * calls the other to open or close.
 */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "util.h"
#include "paths.h"
#include "fskind.h"
#include "conf.h"
#include "spool.h"
#include "journal.h"
#include "open.h"

int
agq_spool_open(struct agq_spool *sp, const char *arg, const char *conf)
{
	return agq_spool_open_flags(sp, arg, conf, 0);
}

int
agq_spool_open_flags(struct agq_spool *sp, const char *arg, const char *conf,
                     int flags)
{
	memset(sp, 0, sizeof *sp);
	if (agq_conf_load(&sp->conf, conf) < 0) {
		errno = EINVAL;
		return -1;
	}
	const char *root = arg;
	if (!root || !*root)
		root = getenv("AGQ_SPOOL");
	if (!root || !*root)
		root = sp->conf.spool;
	if (!root || !*root)
		root = agq_default_spool;
	struct stat st;
	int lr = lstat(root, &st);
	int isnew = lr < 0 && errno == ENOENT;
	if (isnew && (flags & AGQ_OPEN_NOCREATE)) {
		agq_syserr("no spool", root);
		return -1;
	}
	int isdir = lr == 0 && S_ISDIR(st.st_mode);     /* nothing to make */
	if ((!isdir && agq_mkdirs(root, 0755) < 0) || (isnew && chmod(root,
	    agq_spool_modes[0].mode) < 0)) {
		agq_syserr("cannot create spool directory", root);
		return -1;
	}
	char real[PATH_MAX];
	if (!realpath(root, real)) {
		agq_syserr("cannot resolve spool directory", root);
		return -1;
	}
	sp->root = agq_xstrdup(real);
	sp->tmp = agq_spool_path(sp, "tmp");
	sp->fs = agq_fs_kind(sp->root);
	if (sp->fs < 0)
		sp->fs = AGQ_FS_LOCAL;
	sp->remote = sp->conf.spool_fs == AGQ_SPOOL_FS_REMOTE ||
	    (sp->conf.spool_fs == AGQ_SPOOL_FS_AUTO && sp->fs != AGQ_FS_LOCAL);
	if (flags & AGQ_OPEN_NOCREATE)
		return 0;
	/* a remote spool's events on their way to the journal (journal.c) */
	static const char *evdirs[] = { "events", "events/tmp", "events/new" };
	for (size_t i = 0; sp->remote && i < 3; i++) {
		char *d = agq_spool_path(sp, "%s", evdirs[i]);
		int r = agq_mkdir_mode(d, 0700);
		if (r < 0 && errno != EEXIST) {
			agq_syserr("cannot create spool directory", d);
			free(d);
			return -1;
		}
		free(d);
	}
	int fresh = 0;
	for (int i = 1; agq_spool_modes[i].name; i++) {
		char *d = agq_spool_path(sp, "%s", agq_spool_modes[i].name);
		int r = agq_mkdir_mode(d, agq_spool_modes[i].mode);
		if (r < 0 && errno != EEXIST) {
			agq_syserr("cannot create spool directory", d);
			free(d);
			return -1;
		}
		/* This process made queue/: no task from before id claims can
		 * be in the spool, so its id index is complete from the start
		 * (agq-spool(5), ids/). */
		if (r == 0 && !strcmp(agq_spool_modes[i].name, "queue"))
			fresh = 1;
		free(d);
	}
	if (fresh && agq_id_index_mark(sp) < 0) {
		agq_spool_syserr(sp, "cannot create", "ids/%s",
		    AGQ_ID_INDEX_MARK);
		return -1;
	}
	return 0;
}

void
agq_spool_open_or_exit(struct agq_spool *sp, const char *arg)
{
	if (agq_spool_open(sp, arg, NULL) < 0)
		exit(errno == EINVAL ? EX_CONFIG : agq_exit_code(errno));
}

void
agq_spool_close(struct agq_spool *sp)
{
	agq_journal_forget();
	free(sp->root);
	free(sp->tmp);
	agq_conf_free(&sp->conf);
	memset(sp, 0, sizeof *sp);
}

int
agq_spool_fail(struct agq_spool *sp, const char *what, const char *rel)
{
	int e = agq_spool_syserr(sp, what, "%s", rel);
	agq_spool_close(sp);
	return e;
}
