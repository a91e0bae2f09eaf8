/*
 * fuzz_input.c - libFuzzer harness for agq's other inputs.
 *
 * The first byte picks the input, the rest is its content:
 *   0  the configuration file (agq_conf_load, agq.conf(5) in agq(7))
 *   1  an agent file (agents/NAME.json: liveness, capabilities against a
 *      task's requires, as agq-sched reads it)
 *   2  a journal (agq_journal_verify walks the hash chain; each line
 *      through agq_journal_match, as agq-journal and agq-show read it)
 *   3  a time or a duration as given on a command line or in a task
 *      (agq_parse_time, agq_parse_duration)
 * Files are memfds named through /proc/self/fd, so nothing touches the
 * disk.  Warnings the code prints for bad input are sent to /dev/null
 * while it runs (a crash still ends the run and leaves its input).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int devnull = -1, saved = -1;

static void
quiet(int on)
{
	if (devnull < 0) {
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		saved = dup(2);
	}
	fflush(stderr);
	dup2(on ? devnull : saved, 2);
}

/* A memfd holding BUF; its /proc path into PATH.  The fd, or -1. */
static int
memfile(const uint8_t *buf, size_t len, char *path, size_t size)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (len && write(fd, buf, len) != (ssize_t)len)
		abort();
	snprintf(path, size, "/proc/self/fd/%d", fd);
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	agq_prog = "fuzz_input";
	int which = data[0] % 4;
	data++;
	size--;
	char path[64];
	if (which == 0) {
		int fd = memfile(data, size, path, sizeof path);
		struct agq_conf c;
		memset(&c, 0, sizeof c);
		quiet(1);
		int r = agq_conf_load(&c, path);
		quiet(0);
		if (r == 0 && (c.lease_s < 0 || c.max_task_bytes == 0))
			abort();
		/* a second load over the first frees what it replaces */
		quiet(1);
		agq_conf_load(&c, "/dev/null");
		quiet(0);
		free(c.spool);
		free(c.cwd_root);
		close(fd);
	} else if (which == 1) {
		json_t *a = json_loadb((const char *)data, size,
		    JSON_REJECT_DUPLICATES, NULL);
		json_t *t = json_pack("{s:[s,s]}", "requires", "gpu", "x");
		(void)agq_agent_alive(a, agq_now_us(), 15);
		(void)agq_agent_name_valid(json_string_value(json_object_get(a,
		    "name")));
		(void)agq_caps_match(t, json_object_get(a, "capabilities"));
		json_decref(t);
		json_decref(a);
	} else if (which == 2) {
		int fd = memfile(data, size, path, sizeof path);
		struct agq_jverify r;
		int rc = agq_journal_verify(path, &r);
		if (rc == 1 && (r.bad_line < 1 || !r.why[0]))
			abort();        /* a break always has a line and a why */
		if (rc == 0 && r.bad_line)
			abort();
		const char *p = (const char *)data, *end = p + size;
		json_t *ids = json_pack("{s:b}", "x", 1);
		json_t *evs = json_pack("{s:b, s:b}", "done", 1, "dead", 1);
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			(void)agq_journal_match(p, n, ids, 1, evs);
			p += n + 1;
		}
		json_decref(ids);
		json_decref(evs);
		close(fd);
	} else {
		char *s = strndup((const char *)data, size);
		int64_t us;
		(void)agq_parse_time(s, &us);
		(void)agq_parse_duration(s, &us);
		free(s);
	}
	return 0;
}
