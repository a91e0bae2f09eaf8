/* journal.c - the append-only journal (agq-journal(5)). */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agq.h"

int
agq_journal(const struct agq_spool *sp, const char *ev, const char *id,
            json_t *extra)
{
	char ts[32];
	json_t *o = json_object();
	json_object_set_new(o, "ts", json_string(agq_fmt_time(agq_now_us(), ts)));
	json_object_set_new(o, "ev", json_string(ev));
	if (id)
		json_object_set_new(o, "id", json_string(id));
	if (extra) {
		json_object_update(o, extra);
		json_decref(extra);
	}
	json_object_set_new(o, "prog", json_string(agq_prog));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "host", json_string(agq_hostname()));
	char *line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!line) {
		errno = ENOMEM;
		return -1;
	}
	size_t n = strlen(line);
	char *buf = realloc(line, n + 2);
	if (!buf) {
		free(line);
		errno = ENOMEM;
		return -1;
	}
	buf[n++] = '\n';
	char path[4096];
	snprintf(path, sizeof path, "%s/journal", sp->root);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0) {
		int e = errno;
		free(buf);
		errno = e;
		return -1;
	}
	/* One write(2) of the whole line: O_APPEND makes it atomic against
	 * other appenders on a local file system. */
	ssize_t w;
	do
		w = write(fd, buf, n);
	while (w < 0 && errno == EINTR);
	int e = errno;
	free(buf);
	close(fd);
	if (w < 0) {
		errno = e;
		return -1;
	}
	if ((size_t)w != n) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

void
agq_journal_w(const struct agq_spool *sp, const char *ev, const char *id,
              json_t *extra)
{
	if (agq_journal(sp, ev, id, extra) < 0) {
		char *p = agq_spool_path(sp, "journal");
		agq_syserr("cannot append to the journal", p);
		free(p);
	}
}

int
agq_journal_match(const char *line, size_t len, const char *id,
                  int64_t since_us, const char *ev)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	int ok = 1;
	if (id) {
		const char *v = json_string_value(json_object_get(o, "id"));
		ok = v && !strcmp(v, id);
	}
	if (ok && ev) {
		const char *v = json_string_value(json_object_get(o, "ev"));
		ok = v && !strcmp(v, ev);
	}
	if (ok && since_us > 0)
		ok = agq_task_time(o, "ts", 0) >= since_us;
	json_decref(o);
	return ok;
}
