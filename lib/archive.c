/*
 * archive.c - the archive of finished tasks (archive.h): monthly gzip
 * files of JSON lines, appended one gzip member at a time (RFC 1952,
 * section 2.2: a gzip file is a series of members), through zlib.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util.h"
#include "spool.h"
#include "archive.h"

/* The largest archive file read back: a month of tasks. */
#define ARCHIVE_MAX ((size_t)1 << 30)

char *
agq_archive_name(int64_t us, char *buf)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(buf, 32, "%Y-%m.jsonl.gz", &tm);
	return buf;
}

int
agq_archive_name_valid(const char *name)
{
	/* YYYY-MM.jsonl.gz */
	if (strlen(name) != 16 || strcmp(name + 7, ".jsonl.gz") ||
	    name[4] != '-')
		return 0;
	for (int i = 0; i < 7; i++)
		if (i != 4 && (name[i] < '0' || name[i] > '9'))
			return 0;
	return 1;
}

static int
newest_first(const void *a, const void *b)
{
	return strcmp(*(char *const *)b, *(char *const *)a);
}

int
agq_archive_files(const struct agq_spool *sp, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	char *dir = agq_spool_path(sp, AGQ_ARCHIVE_DIR);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!agq_archive_name_valid(de->d_name))
			continue;
		*names = agq_grow(*names, &cap, *n, sizeof **names, 16);
		(*names)[(*n)++] = agq_xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof **names, newest_first);
	return 0;
}

static void
files_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
agq_archive_read_fd(int fd, char **text, size_t *text_len, off_t *good)
{
	size_t len;
	unsigned char *buf = (unsigned char *)agq_read_fd(fd, ARCHIVE_MAX,
	    &len);
	if (!buf)
		return -1;
	size_t cap = 0, n = 0;
	char *out = NULL;
	unsigned char chunk[65536];
	size_t done = 0;        /* input consumed by the whole members */
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	/* member by member: a torn last one is left out whole */
	while (done < len) {
		size_t mark = n;
		inflateReset(&z);
		z.next_in = buf + done;
		z.avail_in = (uInt)(len - done > UINT32_MAX ? UINT32_MAX :
		    len - done);
		int r;
		do {
			z.next_out = chunk;
			z.avail_out = sizeof chunk;
			r = inflate(&z, Z_NO_FLUSH);
			size_t got = sizeof chunk - z.avail_out;
			if (text && got) {
				while (n + got + 1 > cap)
					out = agq_grow(out, &cap, cap, 1, 65536);
				memcpy(out + n, chunk, got);
			}
			n += got;
		} while (r == Z_OK);
		if (r != Z_STREAM_END) {
			n = mark;       /* torn or damaged: not counted */
			break;
		}
		done = (size_t)(z.next_in - buf);
	}
	inflateEnd(&z);
	free(buf);
	if (good)
		*good = (off_t)done;
	if (text) {
		if (!out)
			out = agq_xmalloc(1);
		out[n] = '\0';
		*text = out;
	}
	if (text_len)
		*text_len = n;
	return 0;
}

int
agq_archive_append(const struct agq_spool *sp, const char *name,
                   const char *lines, size_t len, off_t *goodp)
{
	off_t good = *goodp;
	char *dir = agq_spool_path(sp, AGQ_ARCHIVE_DIR);
	char *path = agq_xasprintf("%s/%s", dir, name);
	int rc = -1, e = 0, fd = -1, created = 0;
	off_t start = -1;
	if (agq_mkdir_mode(dir, 0700) == 0)
		created = 1;
	else if (errno != EEXIST)
		goto out;
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto out;
	}
	if (good < 0 && agq_archive_read_fd(fd, NULL, NULL, &good) < 0)
		goto out;
	/* a torn member after GOOD would hide every member after it */
	if (good < st.st_size && ftruncate(fd, good) < 0)
		goto out;
	start = good;
	int zfd = dup(fd);
	gzFile gz = zfd < 0 ? NULL : gzdopen(zfd, "ab");
	if (!gz) {
		if (zfd >= 0)
			close(zfd);
		errno = ENOMEM;
		goto out;
	}
	size_t off = 0;
	int bad = 0;
	while (off < len && !bad) {
		unsigned part = len - off > (1u << 30) ? 1u << 30 :
		    (unsigned)(len - off);
		int w = gzwrite(gz, lines + off, part);
		if (w <= 0)
			bad = 1;
		else
			off += (size_t)w;
	}
	int ze = errno;
	if (gzclose(gz) != Z_OK || bad) {
		errno = ze ? ze : EIO;
		goto out;
	}
	if (fsync(fd) < 0 || (created && agq_fsync_dir(dir) < 0) ||
	    fstat(fd, &st) < 0)
		goto out;
	*goodp = st.st_size;
	rc = 0;
out:
	e = errno;
	if (rc < 0 && fd >= 0 && start >= 0)
		(void)ftruncate(fd, start);     /* appended nothing */
	if (fd >= 0)
		close(fd);
	free(path);
	free(dir);
	errno = e;
	return rc;
}

/* The text of archive file NAME (agq_archive_read_fd), or NULL. */
static char *
read_text(const struct agq_spool *sp, const char *name, size_t *len)
{
	char *path = agq_spool_path(sp, "%s/%s", AGQ_ARCHIVE_DIR, name);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(path);
	char *text = NULL;
	if (fd < 0)
		return NULL;
	if (agq_archive_read_fd(fd, &text, len, NULL) < 0)
		text = NULL;
	close(fd);
	return text;
}

int
agq_archive_each(const struct agq_spool *sp,
                 int (*fn)(const char *line, size_t len, const char *id,
                           void *arg), void *arg)
{
	char **names;
	size_t n;
	if (agq_archive_files(sp, &names, &n) < 0)
		return -1;
	int r = 0;
	for (size_t i = 0; i < n && !r; i++) {
		size_t len;
		char *text = read_text(sp, names[i], &len);
		for (char *p = text, *end = text + (text ? len : 0); p && p < end &&
		    !r;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
			char id[65];           /* at most 64 bytes: agq_id_valid */
			const char *q = ll > 7 && !strncmp(p, "{\"id\":\"", 7) ?
			    memchr(p + 7, '"', ll - 7) : NULL;
			if (q && (size_t)(q - p - 7) <= 64) {
				snprintf(id, sizeof id, "%.*s", (int)(q - p - 7),
				    p + 7);
				r = fn(p, ll, id, arg);
			}
			p = nl ? nl + 1 : end;
		}
		free(text);
	}
	files_free(names, n);
	return r;
}

json_t *
agq_archive_find(const struct agq_spool *sp, const char *id, char **file)
{
	char **names;
	size_t n;
	if (agq_archive_files(sp, &names, &n) < 0)
		return NULL;
	/* the line begins {"id":"ID", (agq-clean writes it so, compact) */
	char *key = agq_xasprintf("{\"id\":\"%s\",", id);
	json_t *found = NULL;
	for (size_t i = 0; i < n && !found; i++) {
		size_t len;
		char *text = read_text(sp, names[i], &len);
		if (!text)
			continue;
		const char *hit = NULL;
		for (const char *p = text; (p = strstr(p, key)); p++)
			if (p == text || p[-1] == '\n')
				hit = p;        /* the newest: the last */
		if (hit) {
			const char *nl = strchr(hit, '\n');
			found = json_loadb(hit, nl ? (size_t)(nl - hit) :
			    strlen(hit), 0, NULL);
			if (found && file)
				*file = agq_xstrdup(names[i]);
		}
		free(text);
	}
	free(key);
	files_free(names, n);
	if (!found)
		errno = ENOENT;
	return found;
}

int
agq_archive_set_count(const struct agq_spool *sp, const char *name, long n)
{
	char *path = agq_spool_path(sp, "%s/%s.count", AGQ_ARCHIVE_DIR, name);
	char buf[32];
	int len = snprintf(buf, sizeof buf, "%ld\n", n);
	int rc = agq_write_atomic(sp->tmp, path, buf, (size_t)len, 0, 0);
	free(path);
	return rc;
}

/* The count of archive NAME from NAME.count when that is not older than
 * NAME, else -1. */
static long
count_hint(const struct agq_spool *sp, const char *name)
{
	char *a = agq_spool_path(sp, "%s/%s", AGQ_ARCHIVE_DIR, name);
	char *c = agq_xasprintf("%s.count", a);
	struct stat sa, sc;
	long n = -1;
	size_t len;
	char *buf = NULL;
	if (stat(a, &sa) == 0 && lstat(c, &sc) == 0 &&
	    (sc.st_mtim.tv_sec > sa.st_mtim.tv_sec ||
	    (sc.st_mtim.tv_sec == sa.st_mtim.tv_sec &&
	    sc.st_mtim.tv_nsec >= sa.st_mtim.tv_nsec)) &&
	    (buf = agq_read_file(c, 32, &len, NULL))) {
		char *end;
		n = strtol(buf, &end, 10);
		if (end == buf || *end != '\n' || n < 0)
			n = -1;
	}
	free(buf);
	free(c);
	free(a);
	return n;
}

long
agq_archive_count(const struct agq_spool *sp)
{
	char **names;
	size_t n;
	if (agq_archive_files(sp, &names, &n) < 0)
		return -1;
	long count = 0;
	for (size_t i = 0; i < n; i++) {
		long hint = count_hint(sp, names[i]);
		if (hint >= 0) {
			count += hint;
			continue;
		}
		size_t len;
		char *text = read_text(sp, names[i], &len);
		for (size_t k = 0; text && k < len; k++)
			count += text[k] == '\n';
		free(text);
	}
	files_free(names, n);
	return count;
}
