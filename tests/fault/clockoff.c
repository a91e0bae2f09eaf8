/*
 * clockoff.c - an LD_PRELOAD shim for tests: this host's clock
 * (clock_gettime(2) CLOCK_REALTIME, gettimeofday(2), time(2)) runs
 * $AGQ_CLOCK_OFFSET seconds (a number, may be negative) off the kernel's,
 * while file times the kernel sets (utimensat(2) with no times, a write)
 * stay the kernel's: a host whose clock is skewed from its file server's,
 * on one machine.  Built by `make check` into build/fault/clockoff.so;
 * not part of agq.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long
offset_ns(void)
{
	const char *s = getenv("AGQ_CLOCK_OFFSET");
	return s ? (long long)(strtod(s, NULL) * 1e9) : 0;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);
	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
		    "clock_gettime");
	int r = real(id, ts);
	if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
		long long ns = (long long)ts->tv_sec * 1000000000LL +
		    ts->tv_nsec + offset_ns();
		ts->tv_sec = (time_t)(ns / 1000000000LL);
		ts->tv_nsec = (long)(ns % 1000000000LL);
	}
	return r;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;
	(void)tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (t)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
