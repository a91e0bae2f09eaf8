/* util.c - messages, memory, files, time and names for every agq program. */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "fskind.h"
#include "util.h"

const char *agq_prog = "agq";

void
agq_setprog(const char *argv0)
{
	const char *s = strrchr(argv0, '/');
	agq_prog = s ? s + 1 : argv0;
}

/* "agq-PROG: MSG\n" on stderr, MSG cut at 8 KiB and its control
 * characters shown as escapes (agq_human: a title or a path in a message
 * is text, never terminal commands): agq_warn and agq_die. */
static void __attribute__((format(printf, 1, 0)))
vwarn(const char *fmt, va_list ap)
{
	char buf[8192], shown[16384];
	vsnprintf(buf, sizeof buf, fmt, ap);
	fprintf(stderr, "%s: %s\n", agq_prog, agq_human(shown, sizeof shown,
	    buf));
}

void
agq_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void
agq_syserr(const char *what, const char *path)
{
	int e = errno;
	char w[1024], p[PATH_MAX * 2];
	agq_human(w, sizeof w, what);
	if (path)
		fprintf(stderr, "%s: %s: %s (%s)\n", agq_prog, w, strerror(e),
		    agq_human(p, sizeof p, path));
	else
		fprintf(stderr, "%s: %s: %s\n", agq_prog, w, strerror(e));
	errno = e;
}

void
agq_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(code);
}

int
agq_exit_code(int err)
{
	switch (err) {
	case ENOSPC: case EDQUOT: case EAGAIN: case EINTR:
		return EX_TEMPFAIL;
	case EACCES: case EPERM: case EROFS:
		return EX_NOPERM;
	case ENOENT:
		return EX_NOINPUT;
	case ENOMEM:
		return EX_OSERR;
	default:
		return EX_IOERR;
	}
}

int
agq_errno_infra(int err)
{
	return err == ENOSPC || err == EDQUOT || err == EROFS || err == EIO;
}

void *
agq_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		agq_die(EX_OSERR, "out of memory");
	return p;
}

void *
agq_grow(void *v, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return v;
	size_t nc = *cap ? *cap * 2 : first;
	if (nc < *cap || (size && nc > SIZE_MAX / size))
		agq_die(EX_OSERR, "out of memory");
	void *nv = realloc(v, nc * size);
	if (!nv)
		agq_die(EX_OSERR, "out of memory");
	*cap = nc;
	return nv;
}

json_t *
agq_json_array_sorted(json_t **v, size_t n,
                      int (*cmp)(const void *, const void *))
{
	if (n)
		qsort(v, n, sizeof *v, cmp);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
	return arr;
}

char *
agq_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		agq_die(EX_OSERR, "out of memory");
	return p;
}

char *
agq_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	int r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		agq_die(EX_OSERR, "out of memory");
	return p;
}

int
agq_mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) < 0) {
				int e = errno;
				if (e != EEXIST)
					return -1;
				if (stat(buf, &st) < 0)
					return -1;
				if (!S_ISDIR(st.st_mode)) {
					errno = ENOTDIR;
					return -1;
				}
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

int
agq_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fsync(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return close(fd);
}

/* agq_read_fd, sized by HINT bytes (the file's st_size, or 0 unknown);
 * REGULAR: FD is a regular file, whose short read is its end (read(2):
 * a read returns fewer bytes than asked only at end of file, or on a
 * signal, which the loop below retries), saving the read that returns 0. */
static char *
read_fd_sized(int fd, size_t max, size_t *len, size_t hint, int regular)
{
	size_t cap = hint + 1 > 4096 && hint < max ? hint + 1 : 4096, n = 0;
	char *buf = agq_xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
		}
		ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);
		if (r < 0 && errno == ESPIPE)   /* a pipe: read it in order */
			r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (regular && n < cap)
			break;
	}
	if (n > max) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

char *
agq_read_fd(int fd, size_t max, size_t *len)
{
	return read_fd_sized(fd, max, len, 0, 0);
}

char *
agq_read_file_at(int dfd, const char *path, size_t max, size_t *len,
                 int *fd_out)
{
	int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	struct stat st;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	char *buf = read_fd_sized(fd, max, len, (size_t)st.st_size, 1);
	if (!buf)
		goto fail;
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return buf;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return NULL;
}

char *
agq_read_file(const char *path, size_t max, size_t *len, int *fd_out)
{
	return agq_read_file_at(AT_FDCWD, path, max, len, fd_out);
}

/* agq_json_arena_*: each thread's arena, and every arena's range so that a
 * free(3) from any thread knows memory of one (a no-op) from malloc's. */
#define ARENA_SIZE ((size_t)1 << 20)
#define ARENA_MAX 16
static char *arena_base[ARENA_MAX];
static atomic_int arena_n;
static _Thread_local struct { char *base; size_t used; int on; } arena;

static void *
arena_malloc(size_t n)
{
	if (arena.on) {
		size_t k = (n + 15) & ~(size_t)15;
		if (k >= n && k <= ARENA_SIZE - arena.used) {
			void *p = arena.base + arena.used;
			arena.used += k;
			return p;
		}
	}
	return malloc(n);
}

static void
arena_free(void *p)
{
	int n = atomic_load(&arena_n);
	for (int i = 0; i < n && p; i++)
		if ((char *)p >= arena_base[i] && (char *)p < arena_base[i] +
		    ARENA_SIZE)
			return;
	free(p);
}

void
agq_json_arena_init(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

int
agq_json_arena_enter(void)
{
	if (!arena.base) {
		int i = atomic_fetch_add(&arena_n, 0);
		if (i >= ARENA_MAX)
			return -1;
		void *m = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return -1;
		/* a slot of its own; its memory reaches another thread
		 * (to be freed there) only after a join or a lock */
		i = atomic_fetch_add(&arena_n, 1);
		if (i >= ARENA_MAX) {
			atomic_fetch_sub(&arena_n, 1);
			munmap(m, ARENA_SIZE);
			return -1;
		}
		arena_base[i] = m;
		arena.base = m;
	}
	arena.used = 0;
	arena.on = 1;
	return 0;
}

void
agq_json_arena_leave(void)
{
	arena.on = 0;
	arena.used = 0;
}

/* json_loadb of BUF (LEN bytes) as one object, or NULL with EBADMSG. */
static json_t *
object_of(const char *buf, size_t len)
{
	json_t *o = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		errno = EBADMSG;
		return NULL;
	}
	return o;
}

json_t *
agq_json_read_object_at(int dfd, const char *path, size_t max)
{
	/* Most of these files are under a few KiB, and a listing reads
	 * 100,000 of them: one pread(2) into the stack, whose short read of
	 * a regular file is its end, so no fstat(2) and no malloc.  Anything
	 * else (empty, a full buffer, a directory, a pipe, a device) goes the
	 * long way, which checks what the file is. */
	char small[16384];
	int sfd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (sfd < 0)
		return NULL;
	ssize_t r;
	do
		r = pread(sfd, small, sizeof small, 0);
	while (r < 0 && errno == EINTR);
	close(sfd);
	if (r > 0 && (size_t)r < sizeof small && (size_t)r <= max)
		return object_of(small, (size_t)r);
	size_t len;
	char *buf = agq_read_file_at(dfd, path, max, &len, NULL);
	if (!buf)
		return NULL;
	json_t *o = object_of(buf, len);
	free(buf);
	return o;
}

json_t *
agq_json_read_object(const char *path, size_t max)
{
	return agq_json_read_object_at(AT_FDCWD, path, max);
}

int
agq_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int
agq_write_atomic(const char *tmpdir, const char *dst, const char *buf,
                 size_t len, int sync, int noreplace)
{
	char name[256], tmp[PATH_MAX];
	agq_unique_name(name, sizeof name);
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s", tmpdir, name) >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	if (fd < 0)
		return -1;
	int e;
	if (agq_write_all(fd, buf, len) < 0)
		goto fail;
	if (sync && fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (noreplace) {
		if (agq_link_checked(tmp, dst) < 0)
			goto fail;
		if (unlink(tmp) < 0)
			goto fail_linked;
	} else if (agq_rename_checked(tmp, dst) < 0) {
		goto fail;
	}
	if (sync) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s", dst);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		else
			strcpy(dir, ".");
		if (agq_fsync_dir(dir) < 0)
			return -1;
	}
	return 0;
fail_linked:
	/* dst is delivered; only the tmp name lingers.  Not an error for the
	 * caller's data: a stale tmp/ file, removed by the 36-hour rule. */
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

int
agq_write_json(const char *tmpdir, const char *dst, const json_t *v,
               size_t flags, int sync, int noreplace)
{
	char *s = json_dumps(v, flags);
	if (!s) {
		errno = ENOMEM;
		return -1;
	}
	char *buf = agq_xasprintf("%s\n", s);
	free(s);
	int r = agq_write_atomic(tmpdir, dst, buf, strlen(buf), sync, noreplace);
	int e = errno;
	free(buf);
	errno = e;
	return r;
}

int64_t
agq_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
agq_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *
agq_fmt_time(int64_t us, char *buf)
{
	time_t s = (time_t)(us / 1000000);
	long frac = (long)(us % 1000000);
	if (frac < 0) {
		frac += 1000000;
		s--;
	}
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%06ldZ", frac);
	return buf;
}

int
agq_parse_time(const char *s, int64_t *us)
{
	const char *p = s;
	if (!s || !*s)
		goto bad;
	/* epoch seconds, optionally with a fraction */
	if (isdigit((unsigned char)*p)) {
		const char *q = p;
		while (isdigit((unsigned char)*q))
			q++;
		if (*q == '\0' || *q == '.') {
			char *end;
			errno = 0;
			double d = strtod(p, &end);
			if (errno || *end || d < 0 || d > 1e11)
				goto bad;
			*us = (int64_t)(d * 1e6 + 0.5);
			return 0;
		}
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *r = strptime(p, "%Y-%m-%d", &tm);
	if (!r || (*r != 'T' && *r != 't' && *r != ' '))
		goto bad;
	r = strptime(r + 1, "%H:%M:%S", &tm);
	if (!r)
		goto bad;
	long frac = 0;
	if (*r == '.') {
		int digits = 0;
		r++;
		if (!isdigit((unsigned char)*r))
			goto bad;
		while (isdigit((unsigned char)*r)) {
			if (digits < 6) {
				frac = frac * 10 + (*r - '0');
				digits++;
			}
			r++;
		}
		while (digits++ < 6)
			frac *= 10;
	}
	long off = 0;
	if (*r == 'Z' || *r == 'z') {
		r++;
	} else if (*r == '+' || *r == '-') {
		int sign = *r == '-' ? -1 : 1;
		if (!isdigit((unsigned char)r[1]) || !isdigit((unsigned char)r[2]) ||
		    r[3] != ':' || !isdigit((unsigned char)r[4]) ||
		    !isdigit((unsigned char)r[5]))
			goto bad;
		off = sign * (((r[1] - '0') * 10 + (r[2] - '0')) * 3600 +
		    ((r[4] - '0') * 10 + (r[5] - '0')) * 60);
		r += 6;
	} else {
		goto bad;
	}
	if (*r)
		goto bad;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		goto bad;
	*us = ((int64_t)t - off) * 1000000 + frac;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int
agq_parse_duration(const char *s, int64_t *us)
{
	char *end;
	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
		goto bad;
	errno = 0;
	double d = strtod(s, &end);
	if (errno || d < 0)
		goto bad;
	double mul = 1;
	if (*end) {
		switch (*end) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: goto bad;
		}
		if (end[1])
			goto bad;
	}
	d *= mul;
	if (d > 1e10)
		goto bad;
	*us = (int64_t)(d * 1e6 + 0.5);
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

void
agq_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

const char *
agq_hostname(void)
{
	static char host[256];
	if (!host[0]) {
		if (gethostname(host, sizeof host - 1) < 0 || !host[0])
			strcpy(host, "localhost");
	}
	return host;
}

const char *
agq_boot_id(void)
{
	static char id[64];
	static int done;
	if (!done) {
		done = 1;
		int fd = open("/proc/sys/kernel/random/boot_id",
		    O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, id, sizeof id - 1);
		id[n > 0 ? n : 0] = '\0';
		id[strcspn(id, "\n")] = '\0';
		if (fd >= 0)
			close(fd);
	}
	return id;
}

uint64_t
agq_random(void)
{
	uint64_t v;
	if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
		v = (uint64_t)agq_now_us() ^ ((uint64_t)getpid() << 32);
	return v;
}

void
agq_unique_name(char *buf, size_t size)
{
	static unsigned long counter;
	char host[256];
	const char *h = agq_hostname();
	size_t j = 0;
	for (size_t i = 0; h[i] && j + 5 < sizeof host; i++) {
		if (h[i] == '/')
			j += (size_t)snprintf(host + j, sizeof host - j, "\\057");
		else if (h[i] == ':')
			j += (size_t)snprintf(host + j, sizeof host - j, "\\072");
		else
			host[j++] = h[i];
	}
	host[j] = '\0';
	int64_t now = agq_now_us();
	snprintf(buf, size, "%lld.M%06lldP%ldQ%lu.%s",
	    (long long)(now / 1000000), (long long)(now % 1000000),
	    (long)getpid(), ++counter, host);
}

void
agq_gen_id(char *buf)
{
	static unsigned long counter;
	static int64_t last;
	int64_t now = agq_now_us();
	/* Keep one process's ids increasing even if the clock steps back. */
	if (now <= last)
		now = last + 1;
	last = now;
	uint32_t hash = 2166136261u;  /* FNV-1a of the host name */
	for (const char *p = agq_hostname(); *p; p++)
		hash = (hash ^ (unsigned char)*p) * 16777619u;
	time_t s = (time_t)(now / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char date[16];
	if (strftime(date, sizeof date, "%Y%m%d-%H%M%S", &tm) != 15)
		memcpy(date, "00000000-000000", 16);
	snprintf(buf, 65, "%.15s.%06d-%06u-%08x-%u", date,
	    (int)(now % 1000000), (unsigned)(++counter % 1000000), hash,
	    (unsigned)getpid() % 10000000u);
}

int
agq_id_valid(const char *s)
{
	size_t n = 0;
	if (!s || !*s || s[0] == '.')
		return 0;
	for (const char *p = s; *p; p++, n++) {
		if (n >= 64)
			return 0;
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '_' ||
		    *p == '-'))
			return 0;
		if ((unsigned char)*p > 127)
			return 0;
	}
	return 1;
}

int
agq_errf(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	if (size)
		agq_utf8_trim(err);
	return -1;
}

void
agq_utf8_trim(char *s)
{
	size_t n = strlen(s), i = n;
	/* back over at most 3 continuation bytes to the last lead byte */
	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 :
	    1;
	if (n - (i - 1) < want)
		s[i - 1] = '\0';
}

json_t *
agq_json_text(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	/* not UTF-8 (or cut inside a character): replace non-ASCII */
	char *c = agq_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)s[i] < 0x80 && s[i] ? s[i] : '?';
	j = json_stringn(c, n);
	free(c);
	return j;
}

int
agq_fd_above_stdio(int fd)
{
	return fd > 2 || fd < 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

void
agq_child_stdio(int out, int err)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/* OUT and ERR above 2 first: no dup2 below then replaces one before
	 * it is used, or is a dup2 onto itself, which keeps FD_CLOEXEC */
	out = agq_fd_above_stdio(out);
	err = agq_fd_above_stdio(err);
	int nfd = open("/dev/null", O_RDONLY);  /* if it is 0, it stays */
	if (out < 0 || err < 0 || nfd < 0 || dup2(nfd, 0) < 0 ||
	    dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	if (nfd > 2)
		close(nfd);
}

int
agq_cmd_init(struct agq_cmd *c, const json_t *cmd)
{
	memset(c, 0, sizeof *c);
	size_t n = json_is_string(cmd) ? 3 : json_array_size(cmd);
	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	c->argv = calloc(n + 1, sizeof *c->argv);
	if (!c->argv)
		return -1;
	if (json_is_string(cmd)) {
		c->argv[0] = "sh";
		c->argv[1] = "-c";
		c->argv[2] = (char *)json_string_value(cmd);
		c->file = "/bin/sh";
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		c->argv[i] = (char *)json_string_value(json_array_get(cmd, i));
		if (!c->argv[i]) {
			free(c->argv);
			c->argv = NULL;
			errno = EINVAL;
			return -1;
		}
	}
	c->file = c->argv[0];
	c->search = 1;
	return 0;
}

int
agq_cmd_exec(const struct agq_cmd *c)
{
	if (c->search)
		execvp(c->file, c->argv);
	else
		execv(c->file, c->argv);
	/* errno is execvp's or execv's: nothing below changes it */
	return !c->search || errno == ENOENT ? 127 : 126;
}

void
agq_exec_cmd(const json_t *cmd)
{
	struct agq_cmd c;
	if (agq_cmd_init(&c, cmd) < 0)
		_exit(126);
	int st = agq_cmd_exec(&c);
	dprintf(2, "%s: cannot run: %s (%s)\n", agq_prog, strerror(errno),
	    c.file);
	_exit(st);
}

char *
agq_exe_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash) {
		errno = ENOENT;
		return NULL;
	}
	*slash = '\0';
	return agq_xstrdup(exe);
}

char *
agq_exe_path(const char *rel)
{
	char *dir = agq_exe_dir();
	if (!dir)
		return NULL;
	char *p = agq_xasprintf("%s/%s", dir, rel);
	free(dir);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return NULL;
}

/* ---- cwd_root ------------------------------------------------------------ */

int
agq_cwd_check(const char *root, char *why, size_t size)
{
	if (!root || !strcmp(root, "/"))
		return 0;
	char cwd[PATH_MAX], real[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd)) {
		agq_errf(why, size, "cannot get the working directory: %s",
		    strerror(errno));
		return -1;
	}
	if (!realpath(root, real)) {
		agq_errf(why, size, "cannot resolve cwd_root: %s (%s)",
		    strerror(errno), root);
		return -1;
	}
	size_t n = strlen(real);
	if (!strcmp(real, "/") || (!strncmp(cwd, real, n) &&
	    (cwd[n] == '\0' || cwd[n] == '/')))
		return 0;
	agq_errf(why, size, "cwd %s escapes cwd_root %s", cwd, real);
	errno = EACCES;
	return -1;
}

/* The code point of the valid UTF-8 sequence at S (N bytes left) into
 * *CP, and its length 1-4; 0 when S starts no valid sequence (RFC 3629
 * section 4: overlong forms, surrogates and values past U+10FFFF are
 * invalid). */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t len = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 &&
	    s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
	if (!len || len > n)
		return 0;
	uint32_t c = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	static const uint32_t least[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (c < least[len] || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	*cp = c;
	return len;
}

/* Does code point CP reorder or break a terminal line though it is not a
 * control character: the bidirectional formatting characters of Unicode
 * UAX #9 (ALM U+061C, LRM U+200E, RLM U+200F, LRE..RLO U+202A-U+202E,
 * LRI..PDI U+2066-U+2069: Trojan Source, CVE-2021-42574) and the line
 * and paragraph separators U+2028, U+2029? */
static int
reorders(uint32_t cp)
{
	return cp == 0x61c || cp == 0x200e || cp == 0x200f || cp == 0x2028 ||
	    cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

char *
agq_human_n(char *buf, size_t size, const char *s, size_t n, int flags)
{
	size_t o = 0;
	if (!s) {
		s = "-";
		n = 1;
	}
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		size_t len = utf8_next(u + i, n - i, &cp);
		char esc[8];
		const char *piece = (const char *)u + i;
		size_t plen = len;
		if (!len) {             /* a byte of no valid character */
			snprintf(esc, sizeof esc, "\\x%02x", u[i]);
			piece = esc;
			plen = 4;
			len = 1;
		} else if ((cp < 0x20 && !(cp == '\n' && flags & AGQ_HUMAN_NL)) ||
		    cp == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
			piece = esc;
			plen = 4;
		} else if ((cp >= 0x80 && cp <= 0x9f) || reorders(cp)) {
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
			piece = esc;
			plen = 6;
		}
		if (o + plen >= size)
			break;
		memcpy(buf + o, piece, plen);
		o += plen;
		i += len;
	}
	buf[o] = '\0';
	return buf;
}

char *
agq_json_shown(const char *s, size_t n, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	char *out = agq_xmalloc(n * 6 + 1);     /* "\u0080" for 1 byte */
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		size_t len = utf8_next(u + i, n - i, &cp);
		if (!len) {
			o += (size_t)sprintf(out + o, "\\ufffd");
			i++;
			continue;
		}
		if ((cp < 0x20 && cp != '\t') || cp == 0x7f || (cp >= 0x80 &&
		    cp <= 0x9f) || reorders(cp))
			o += (size_t)sprintf(out + o, "\\u%04x", (unsigned)cp);
		else {
			memcpy(out + o, u + i, len);
			o += len;
		}
		i += len;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return out;
}

int
agq_setenv_json(const json_t *env)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)env, k, v)
		if (json_is_string(v) && setenv(k, json_string_value(v), 1) < 0)
			return -1;
	return 0;
}

char *
agq_human(char *buf, size_t size, const char *s)
{
	return agq_human_n(buf, size, s, s ? strlen(s) : 0, 0);
}

/* Columns of code point CP on a terminal: agq_text_cols. */
static int
cp_cols(uint32_t cp)
{
	/* combining marks (Mn blocks) and zero-width characters */
	if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
	    (cp >= 0xfe20 && cp <= 0xfe2f))
		return 0;
	/* East Asian wide and fullwidth (UAX #11): Hangul Jamo, CJK, Hangul
	 * syllables, compatibility ideographs, fullwidth forms, emoji, the
	 * supplementary ideographic planes */
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf &&
	    cp != 0x303f) || (cp >= 0xac00 && cp <= 0xd7a3) ||
	    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
	    (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) ||
	    (cp >= 0x1f300 && cp <= 0x1f64f) || (cp >= 0x1f900 &&
	    cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* agq_text_cols of S up to where it passes COLS columns: that byte
 * offset in *CUT (strlen(S) when it never does).  Returns the columns of
 * the whole of S. */
static size_t
text_cols_at(const char *s, size_t cols, size_t *cut)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), w = 0;
	*cut = n;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_next(u + i, n - i, &cp);
		int c = len ? cp_cols(cp) : 1;
		if (w + (size_t)c > cols && *cut == n)
			*cut = i;
		w += (size_t)c;
		i += len ? len : 1;
	}
	return w;
}

size_t
agq_text_cols(const char *s)
{
	size_t cut;
	return text_cols_at(s, SIZE_MAX, &cut);
}

char *
agq_text_cut(char *s, size_t cols)
{
	size_t cut;
	if (text_cols_at(s, cols, &cut) <= cols)
		return s;
	if (cols < 4) {
		s[cut] = '\0';
		return s;
	}
	text_cols_at(s, cols - 3, &cut);
	memcpy(s + cut, "...", 4);
	return s;
}

char *
agq_human_dup(const char *s, size_t n, int flags)
{
	size_t size = (s ? n : 1) * 6 + 1;      /* "\u009b" for 2 bytes */
	return agq_human_n(agq_xmalloc(size), size, s, n, flags);
}

int
agq_child_due(pid_t *child, int64_t *last, int64_t period_us)
{
	if (*child > 0) {
		if (waitpid(*child, NULL, WNOHANG) == 0)
			return 0;       /* still running */
		*child = 0;
	}
	int64_t now = agq_mono_us();
	if (*last && now - *last < period_us)
		return 0;
	*last = now;
	return 1;
}

int
agq_id_of_json(const char *name, char id[65])
{
	size_t n = strlen(name);
	if (n <= 5 || n - 5 > 64 || strcmp(name + n - 5, ".json"))
		return 0;
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	return agq_id_valid(id);
}

char *
agq_tz_push(const char *zone)
{
	const char *o = getenv("TZ");
	char *old = o ? agq_xstrdup(o) : NULL;
	setenv("TZ", zone && *zone ? zone : "UTC", 1);
	tzset();
	return old;
}

void
agq_tz_pop(char *old)
{
	if (old)
		setenv("TZ", old, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old);
}
