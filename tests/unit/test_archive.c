/* Unit tests for lib/archive.c: monthly gzip archive files of JSON lines,
 * appended a member at a time, a torn member cut off. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

static off_t
size_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The text of the archive file PATH, malloc'd, and its whole end. */
static char *
text_of(const char *path, off_t *good)
{
	int fd = open(path, O_RDONLY);
	char *t = NULL;
	size_t len;
	if (fd < 0 || agq_archive_read_fd(fd, &t, &len, good) < 0)
		t = NULL;
	if (fd >= 0)
		close(fd);
	return t;
}

/* agq_archive_each: append ID and a space to ARG; 7 when ARG started
 * with "stop:". */
static int
each_id(const char *line, size_t len, const char *id, void *arg)
{
	char *seen = arg;
	if (len < 8 || line[len - 1] != '}')
		return -2;
	strcat(seen, id);
	strcat(seen, " ");
	return strncmp(seen, "stop:", 5) ? 0 : 7;
}

int
main(void)
{
	agq_setprog("test_archive");
	char buf[32];
	/* 2026-12-06T22:00:00Z */
	CHECK(!strcmp(agq_archive_name(1796594400LL * 1000000, buf),
	    "2026-12.jsonl.gz"), "the month's file name, UTC");
	CHECK(agq_archive_name_valid("2026-12.jsonl.gz") &&
	    !agq_archive_name_valid("2026-1.jsonl.gz") &&
	    !agq_archive_name_valid("2026x12.jsonl.gz") &&
	    !agq_archive_name_valid(".2026-12.jsonl.gz") &&
	    !agq_archive_name_valid("2026-12.jsonl"), "archive names");

	char dir[] = "/tmp/agq-unit-archive-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char root[300], conf[300], path[400];
	snprintf(root, sizeof root, "%s/spool", dir);
	snprintf(conf, sizeof conf, "%s/agq.conf", dir);
	fclose(fopen(conf, "w"));
	struct agq_spool sp;
	CHECK(agq_spool_open(&sp, root, conf) == 0, "spool");
	snprintf(path, sizeof path, "%s/archive/2026-12.jsonl.gz", root);

	char **names;
	size_t n;
	CHECK(agq_archive_files(&sp, &names, &n) == 0 && n == 0,
	    "no archive/ yet: no files");
	CHECK(agq_archive_count(&sp) == 0, "none counted");
	errno = 0;
	CHECK(!agq_archive_find(&sp, "a", NULL) && errno == ENOENT,
	    "not archived: ENOENT");

	off_t good = -1;
	const char *l1 = "{\"id\":\"a\",\"state\":\"done\",\"task\":{\"x\":1}}\n";
	CHECK(agq_archive_append(&sp, "2026-12.jsonl.gz", l1, strlen(l1),
	    &good) == 0 && good == size_of(path), "first member appended");
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "the file is 0600");
	off_t one = good;
	const char *l2 = "{\"id\":\"b\",\"state\":\"dead\",\"task\":{}}\n"
	    "{\"id\":\"a\",\"state\":\"done\",\"task\":{\"x\":2}}\n";
	CHECK(agq_archive_append(&sp, "2026-12.jsonl.gz", l2, strlen(l2),
	    &good) == 0 && good > one, "second member appended");
	off_t g;
	char *t = text_of(path, &g);
	CHECK(t && g == good && strlen(t) == strlen(l1) + strlen(l2) &&
	    !strncmp(t, l1, strlen(l1)), "both members read as one stream");
	free(t);
	CHECK(agq_archive_count(&sp) == 3, "three lines counted");
	char *file = NULL;
	json_t *r = agq_archive_find(&sp, "a", &file);
	CHECK(r && json_integer_value(json_object_get(json_object_get(r,
	    "task"), "x")) == 2 && file && !strcmp(file, "2026-12.jsonl.gz"),
	    "find: the newest line of the id, and its file");
	json_decref(r);
	free(file);

	/* a member cut short: read up to the last whole one, cut off by
	 * the next append (which finds the end itself when given -1) */
	CHECK(truncate(path, good) == 0, "back to the whole members");
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "\x1f\x8b\x08\x00garbage", 11) == 11,
	    "a torn member written");
	close(fd);
	t = text_of(path, &g);
	CHECK(t && g == good && agq_archive_count(&sp) == 3,
	    "a torn member is not read");
	free(t);
	off_t again = -1;
	const char *l3 = "{\"id\":\"c\",\"state\":\"done\",\"task\":{}}\n";
	CHECK(agq_archive_append(&sp, "2026-12.jsonl.gz", l3, strlen(l3),
	    &again) == 0, "appended after a torn member");
	t = text_of(path, &g);
	CHECK(t && g == size_of(path) && strstr(t, "\"c\"") &&
	    agq_archive_count(&sp) == 4, "the torn member was cut off");
	free(t);

	const char *l4 = "{\"id\":\"d\",\"state\":\"done\",\"task\":{}}\n";
	good = -1;
	CHECK(agq_archive_append(&sp, "2027-01.jsonl.gz", l4, strlen(l4),
	    &good) == 0, "another month");
	CHECK(agq_archive_files(&sp, &names, &n) == 0 && n == 2 &&
	    !strcmp(names[0], "2027-01.jsonl.gz"), "newest month first");
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	char seen[64] = "";
	CHECK(agq_archive_each(&sp, each_id, seen) == 0 &&
	    !strcmp(seen, "d a b a c "), "each: newest month first, each "
	    "file's records in order, with their ids");
	seen[0] = '\0';
	CHECK(agq_archive_each(&sp, each_id, seen) == 0, "each again");
	strcpy(seen, "stop:");
	CHECK(agq_archive_each(&sp, each_id, seen) == 7 &&
	    !strcmp(seen, "stop:d "), "each: stops at FN's non-zero");
	agq_spool_close(&sp);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "cleaned up");
	DONE();
}
