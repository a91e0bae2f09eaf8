/* watch.c - the journal followed across rotations; events' objects:
 * watch.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "util.h"
#include "spool.h"
#include "journal.h"
#include "wake.h"
#include "watch.h"

int
agq_watch_object(const json_t *ev, char *buf, size_t size)
{
	const char *name = json_string_value(json_object_get(ev, "ev"));
	const char *v;
	buf[0] = '\0';
	if ((v = json_string_value(json_object_get(ev, "plan"))))
		snprintf(buf, size, "plan/%s", v);
	else if (name && !strncmp(name, "mission_", 8) &&
	    (v = json_string_value(json_object_get(ev, "mission"))))
		snprintf(buf, size, "mission/%s", v);
	else if ((v = json_string_value(json_object_get(ev, "id"))))
		snprintf(buf, size, "task/%s", v);
	else if ((v = json_string_value(json_object_get(ev, "agent"))))
		snprintf(buf, size, "agent/%s", v);
	return buf[0] != '\0';
}

/* The "seq" of the first line of the journal file NAME, or -1. */
static int64_t
first_seq(const struct agq_spool *sp, const char *name)
{
	FILE *f = agq_journal_fopen(sp, name);
	if (!f)
		return -1;
	char *line = NULL;
	size_t cap = 0;
	int64_t seq = -1;
	if (getline(&line, &cap, f) > 0) {
		json_t *j = json_loads(line, 0, NULL);
		if (json_is_integer(json_object_get(j, "seq")))
			seq = json_integer_value(json_object_get(j, "seq"));
		json_decref(j);
	}
	free(line);
	fclose(f);
	return seq;
}

/* The journal file that holds seq AFTER + 1: the first whose next file
 * starts above it (a rotated file holds the seqs up to the next file's
 * first one), else the last one.  Opened into *F with its inode in *INO;
 * *F NULL when there is no journal yet.  0 or -1 with errno. */
static int
open_next(const struct agq_spool *sp, int64_t after, FILE **f, ino_t *ino)
{
	char **names;
	size_t n;
	*f = NULL;
	if (agq_journal_files(sp, &names, &n) < 0)
		return -1;
	size_t i = 0;
	for (; i + 1 < n; i++) {
		int64_t next = first_seq(sp, names[i + 1]);
		if (next < 0 || next > after + 1)
			break;
	}
	int rc = 0;
	if (n) {
		char *p = agq_spool_path(sp, "%s", names[i]);
		*f = fopen(p, "re");
		struct stat st;
		if (*f && fstat(fileno(*f), &st) == 0)
			*ino = st.st_ino;
		else if (!*f && errno != ENOENT)
			rc = -1;
		free(p);
	}
	agq_journal_files_free(names, n);
	return rc;
}

/* Has ROOT/journal been replaced (rotated) since INO was opened? */
static int
rotated(const struct agq_spool *sp, ino_t ino)
{
	char *p = agq_spool_path(sp, "journal");
	struct stat st;
	int r = stat(p, &st) == 0 && st.st_ino != ino;
	free(p);
	return r;
}

/* Read F from where it is to its end: each whole line with a seq above
 * *LAST to FN.  A torn last line is left to be read again.  1 when FN
 * stopped it, else 0. */
static int
drain(FILE *f, int64_t *last, agq_follow_fn fn, void *arg, char **line,
      size_t *cap)
{
	ssize_t n;
	while ((n = getline(line, cap, f)) > 0) {
		if ((*line)[n - 1] != '\n') {
			fseeko(f, -(off_t)n, SEEK_CUR);
			break;
		}
		json_t *ev = json_loadb(*line, (size_t)n - 1, 0, NULL);
		json_t *s = json_object_get(ev, "seq");
		int64_t seq = json_is_integer(s) ? json_integer_value(s) : -1;
		int stop = 0;
		if (seq > *last) {
			*last = seq;
			stop = fn(ev, seq, arg) < 0;
		}
		json_decref(ev);
		if (stop)
			return 1;
	}
	clearerr(f);
	return 0;
}

int
agq_journal_follow(const struct agq_spool *sp, int64_t since, int follow,
                   volatile sig_atomic_t *stop, agq_follow_fn fn, void *arg)
{
	int64_t last = since;
	if (since < 0) {
		char *p = agq_spool_path(sp, "journal");
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		free(p);
		struct agq_jtail t;
		last = 0;
		if (fd >= 0 && agq_journal_tail(fd, &t) == 0)
			last = t.seq;
		if (fd >= 0)
			close(fd);
	}
	if (follow) {
		static const struct agq_watch root[] = {
			{ "", IN_MODIFY | IN_CREATE | IN_MOVED_TO }, { NULL, 0 } };
		if (agq_watch_spool(sp, root) < 0)
			return -1;
	}
	FILE *f = NULL;
	ino_t ino = 0;
	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	for (;;) {
		if (!f && open_next(sp, last, &f, &ino) < 0) {
			rc = -1;
			break;
		}
		if (f) {
			if (drain(f, &last, fn, arg, &line, &cap)) {
				rc = -1;
				break;
			}
			/* at the end of a rotated file: read what was
			 * appended before the rename, then go on to the
			 * next file */
			if (rotated(sp, ino)) {
				if (drain(f, &last, fn, arg, &line, &cap)) {
					rc = -1;
					break;
				}
				fclose(f);
				f = NULL;
				continue;
			}
		}
		if (!follow || (stop && *stop))
			break;
		(void)inotifytools_next_event(1);
		if (stop && *stop)
			break;
	}
	free(line);
	if (f)
		fclose(f);
	if (follow)
		inotifytools_cleanup();
	return rc;
}
