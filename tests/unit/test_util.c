/* Unit tests for lib/util.c: time, durations, ids, atomic writes. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agq.h"
#include "unit.h"

int
main(void)
{
	int64_t us;
	char buf[64];
	char hex[65];

	/* FIPS 180-4 examples: the journal chain depends on these digests */
	CHECK(agq_sha256_hex("abc", 3, hex) == 0 && !strcmp(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
	    "SHA-256 of \"abc\"");
	CHECK(agq_sha256_hex("", 0, hex) == 0 && !strcmp(hex,
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
	    "SHA-256 of the empty string");

	CHECK(agq_parse_time("2026-11-21T23:44:27Z", &us) == 0 &&
	    us == 1795304667LL * 1000000, "RFC 3339 with Z");
	CHECK(agq_parse_time("2026-11-21T23:44:27.5Z", &us) == 0 &&
	    us == 1795304667LL * 1000000 + 500000, "RFC 3339 fraction");
	CHECK(agq_parse_time("2026-11-22T01:44:27+02:00", &us) == 0 &&
	    us == 1795304667LL * 1000000, "RFC 3339 offset");
	CHECK(agq_parse_time("2026-11-21 23:44:27z", &us) == 0,
	    "RFC 3339 space and lower-case z");
	CHECK(agq_parse_time("1795304667", &us) == 0 &&
	    us == 1795304667LL * 1000000, "epoch seconds");
	CHECK(agq_parse_time("1795304667.25", &us) == 0 &&
	    us == 1795304667LL * 1000000 + 250000, "epoch fraction");
	CHECK(agq_parse_time("2026-11-21T23:44:27", &us) < 0 && errno == EINVAL,
	    "RFC 3339 needs an offset");
	CHECK(agq_parse_time("tomorrow", &us) < 0, "garbage time rejected");
	CHECK(agq_parse_time("", &us) < 0, "empty time rejected");
	CHECK(agq_parse_time("2026-13-01T00:00:00Z", &us) < 0,
	    "month 13 rejected");
	CHECK(strcmp(agq_fmt_time(1795304667LL * 1000000 + 42, buf),
	    "2026-11-21T23:44:27.000042Z") == 0, "format RFC 3339 micro");
	CHECK(agq_parse_time(agq_fmt_time(123456789012345LL, buf), &us) == 0 &&
	    us == 123456789012345LL, "format and parse round trip");

	CHECK(agq_parse_duration("90", &us) == 0 && us == 90000000, "duration s");
	CHECK(agq_parse_duration("1.5", &us) == 0 && us == 1500000,
	    "duration fraction");
	CHECK(agq_parse_duration("10m", &us) == 0 && us == 600000000LL,
	    "duration minutes");
	CHECK(agq_parse_duration("2h", &us) == 0 && us == 7200000000LL,
	    "duration hours");
	CHECK(agq_parse_duration("-1", &us) < 0, "negative duration rejected");
	CHECK(agq_parse_duration("5x", &us) < 0, "bad unit rejected");
	CHECK(agq_parse_duration("5mm", &us) < 0, "trailing junk rejected");

	CHECK(agq_id_valid("abc-DEF_0.9"), "valid id");
	CHECK(!agq_id_valid(""), "empty id");
	CHECK(!agq_id_valid("."), "dot id");
	CHECK(!agq_id_valid(".."), "dot-dot id");
	CHECK(!agq_id_valid(".hidden"), "leading dot id");
	CHECK(!agq_id_valid("a/b"), "slash in id");
	CHECK(!agq_id_valid("a b"), "space in id");
	CHECK(!agq_id_valid("a\nb"), "newline in id");
	CHECK(!agq_id_valid("caf\xc3\xa9"), "non-ASCII id");
	char long_id[80];
	memset(long_id, 'x', 65);
	long_id[65] = '\0';
	CHECK(!agq_id_valid(long_id), "65-byte id rejected");
	long_id[64] = '\0';
	CHECK(agq_id_valid(long_id), "64-byte id accepted");

	char a[65], b[65];
	agq_gen_id(a);
	agq_gen_id(b);
	CHECK(agq_id_valid(a) && agq_id_valid(b), "generated ids are valid");
	CHECK(strcmp(a, b) < 0, "generated ids sort in order");
	int sorted = 1;
	for (int i = 0; i < 2000; i++) {
		memcpy(a, b, sizeof a);
		agq_gen_id(b);
		if (strcmp(a, b) >= 0)
			sorted = 0;
	}
	CHECK(sorted, "2000 generated ids strictly increasing");

	agq_unique_name(a, sizeof a);
	agq_unique_name(b, sizeof b);
	CHECK(strcmp(a, b) != 0 && !strchr(a, '/'), "unique names differ");

	char dir[] = "/tmp/agq-unit-XXXXXX";
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	char tmp[128], dst[128], sub[128];
	snprintf(tmp, sizeof tmp, "%s", dir);
	snprintf(dst, sizeof dst, "%s/file", dir);
	CHECK(agq_write_atomic(tmp, dst, "hello\n", 6, 1, 0) == 0,
	    "atomic write");
	size_t len;
	char *got = agq_read_file(dst, 100, &len, NULL);
	CHECK(got && len == 6 && !strcmp(got, "hello\n"), "read back");
	free(got);
	CHECK(agq_write_atomic(tmp, dst, "x", 1, 1, 1) < 0 && errno == EEXIST,
	    "noreplace refuses an existing file");
	got = agq_read_file(dst, 100, &len, NULL);
	CHECK(got && !strcmp(got, "hello\n"), "existing file untouched");
	free(got);
	CHECK(agq_read_file(dst, 3, &len, NULL) == NULL && errno == EFBIG,
	    "read limit gives EFBIG");
	snprintf(sub, sizeof sub, "%s/link", dir);
	CHECK(symlink(dst, sub) == 0, "symlink made");
	CHECK(agq_read_file(sub, 100, &len, NULL) == NULL && errno == ELOOP,
	    "read_file does not follow symlinks");
	snprintf(sub, sizeof sub, "%s/fifo", dir);
	CHECK(mkfifo(sub, 0600) == 0, "fifo made");
	CHECK(agq_read_file(sub, 100, &len, NULL) == NULL && errno == EINVAL,
	    "read_file refuses a FIFO without blocking");
	snprintf(sub, sizeof sub, "%s/a/b/c", dir);
	CHECK(agq_mkdirs(sub, 0755) == 0 && agq_mkdirs(sub, 0755) == 0,
	    "mkdirs twice");
	CHECK(agq_mkdirs(dst, 0755) < 0 && errno == ENOTDIR,
	    "mkdirs over a file is ENOTDIR");
	CHECK(agq_fsync_dir(dir) == 0, "fsync dir");

	/* A child of a process started with stdin and stdout closed: its
	 * pipe is fds 0 and 1, and agq_child_stdio must still give the
	 * command that pipe as its stdout (a dup2 onto the same fd would
	 * keep FD_CLOEXEC, and the command would have no stdout). */
	pid_t c = fork();
	if (c == 0) {
		close(0);
		close(1);
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0 || p[0] != 0 || p[1] != 1)
			_exit(2);
		pid_t g = fork();
		if (g == 0) {
			agq_child_stdio(p[1], p[1]);
			execlp("sh", "sh", "-c", "echo out-ok", (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		char line[32] = "";
		ssize_t n = read(p[0], line, sizeof line - 1);
		int st;
		waitpid(g, &st, 0);
		_exit(n == 7 && !memcmp(line, "out-ok\n", 7) ? 0 : 1);
	}
	int cst = -1;
	CHECK(c > 0 && waitpid(c, &cst, 0) == c && WIFEXITED(cst) &&
	    WEXITSTATUS(cst) == 0, "child_stdio with stdin and stdout closed "
	    "gives the command its pipe");
	CHECK(agq_fd_above_stdio(-1) == -1 && agq_fd_above_stdio(7) == 7,
	    "fd_above_stdio leaves -1 and fds above 2");
	int low = agq_fd_above_stdio(0);
	CHECK(low > 2 && (fcntl(low, F_GETFD) & FD_CLOEXEC), "fd_above_stdio "
	    "copies 0 above 2, close-on-exec");
	close(low);
	/* agq(7) TERMINAL OUTPUT: controls as escapes, the rest kept */
	char hb[256];
	CHECK(!strcmp(agq_human(hb, sizeof hb, "\x1b]0;pwned\a\x1b[2J\r"
	    "\xc2\x9b" "fake \x9b\x7f\t\n\xc3\xa9\xe6\x97\xa5"),
	    "\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\u009bfake \\x9b\\x7f\\x09"
	    "\\x0a\xc3\xa9\xe6\x97\xa5"), "human: C0, DEL, C1 and a lone "
	    "byte escaped, UTF-8 kept");
	CHECK(!strcmp(agq_human(hb, sizeof hb, "\xc0\xaf\xed\xa0\x80\xf4"
	    "\x90\x80\x80\xe6\x97"), "\\xc0\\xaf\\xed\\xa0\\x80\\xf4"
	    "\\x90\\x80\\x80\\xe6\\x97"), "human: overlong, surrogate, past "
	    "U+10FFFF and cut sequences are bytes");
	CHECK(!strcmp(agq_human_n(hb, sizeof hb, "a\nb", 3, AGQ_HUMAN_NL),
	    "a\nb") && !strcmp(agq_human(hb, sizeof hb, NULL), "-"),
	    "human: AGQ_HUMAN_NL keeps newlines; NULL is -");
	CHECK(!strcmp(agq_human(hb, 6, "ab\x1b" "cd"), "ab"),
	    "human: an escape that does not fit is left out whole");
	/* Trojan Source: RLO, LRI, PDI, RLM and U+2028 shown as escapes;
	 * U+2010 (a hyphen) and U+2070 next to them kept */
	CHECK(!strcmp(agq_human(hb, sizeof hb, "a\xe2\x80\xae" "b\xe2\x81"
	    "\xa6\xe2\x81\xa9\xe2\x80\x8f\xe2\x80\xa8\xd8\x9c\xe2\x80\x90"
	    "\xe2\x81\xb0"), "a\\u202eb\\u2066\\u2069\\u200f\\u2028\\u061c"
	    "\xe2\x80\x90\xe2\x81\xb0"), "human: bidi formatting characters "
	    "and U+2028 escaped, their neighbours kept");
	size_t jl;
	const char *jin = "{\"t\":\t\"\xe2\x80\xae\xc2\x9b\x7f\xc3\xa9\x1b"
	    "\xff\"}";
	char *js = agq_json_shown(jin, strlen(jin), &jl);
	CHECK(!strcmp(js, "{\"t\":\t\"\\u202e\\u009b\\u007f\xc3\xa9"
	    "\\u001b\\ufffd\"}") && jl == strlen(js), "json_shown: JSON "
	    "escapes for bidi, C1, DEL, C0; tab (blank between tokens) and "
	    "UTF-8 kept; a bad byte U+FFFD");
	json_t *jv = json_loads(js, 0, NULL);
	CHECK(jv && !strcmp(json_string_value(json_object_get(jv, "t")),
	    "\xe2\x80\xae\xc2\x9b\x7f\xc3\xa9\x1b\xef\xbf\xbd"),
	    "json_shown: the same value for a JSON reader");
	json_decref(jv);
	free(js);
	char *hd = agq_human_dup("\x1b\x1b", 2, 0);
	CHECK(!strcmp(hd, "\\x1b\\x1b"), "human_dup: any length");
	free(hd);
	CHECK(agq_text_cols("abc") == 3 && agq_text_cols("\xe6\x97\xa5"
	    "\xe6\x9c\xac") == 4 && agq_text_cols("e\xcc\x81") == 1,
	    "text_cols: wide 2, combining 0");
	strcpy(hb, "abcdefghij");
	CHECK(!strcmp(agq_text_cut(hb, 10), "abcdefghij") &&
	    !strcmp(agq_text_cut(hb, 8), "abcde..."), "text_cut: fits, or "
	    "ends in ... within the columns");
	strcpy(hb, "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5");
	CHECK(!strcmp(agq_text_cut(hb, 6), "\xe6\x97\xa5..."),
	    "text_cut: never inside a character");
	/* the jansson arena: objects made before, inside and after it;
	 * those made inside freed (at no cost) before the leave, their
	 * memory used again by the next enter; the others freed by free(3) */
	json_t *before = json_pack("{s:s}", "a", "made before the arena");
	agq_json_arena_init();
	json_t *outer = json_pack("{s:[i,i]}", "b", 1, 2);
	CHECK(agq_json_arena_enter() == 0, "arena: enter");
	json_t *in = json_loads("{\"x\": [1, 2, {\"y\": \"z\"}]}", 0, NULL);
	const void *first = in;
	char *big = calloc(1, 2u << 20);        /* past the arena: malloc */
	memset(big, 'a', (2u << 20) - 1);
	json_object_set_new(in, "huge", json_string(big));
	free(big);
	CHECK(json_array_size(json_object_get(in, "x")) == 3 &&
	    strlen(json_string_value(json_object_get(in, "huge"))) ==
	    (2u << 20) - 1, "arena: objects inside it, one larger than it");
	json_object_set_new(before, "moved", json_incref(outer));
	json_decref(in);
	agq_json_arena_leave();
	CHECK(agq_json_arena_enter() == 0, "arena: enter again");
	json_t *again = json_loads("{\"x\": 1}", 0, NULL);
	CHECK(again == first, "arena: the next enter uses its memory again");
	json_decref(again);
	agq_json_arena_leave();
	CHECK(json_integer_value(json_array_get(json_object_get(json_object_get(
	    before, "moved"), "b"), 1)) == 2, "arena: objects from outside "
	    "it untouched");
	json_decref(outer);
	json_decref(before);

	/* agq_child_due: a periodic child reaped, then due again */
	int cp[2];
	CHECK(pipe(cp) == 0, "pipe");
	pid_t kid = fork();
	if (kid == 0) {
		char one;
		close(cp[1]);
		_exit(read(cp[0], &one, 1) < 0);
	}
	close(cp[0]);
	pid_t child = kid;
	int64_t last = 0;
	CHECK(agq_child_due(&child, &last, 1000000) == 0 && child == kid &&
	    last == 0, "child_due: not while the child runs");
	close(cp[1]);
	int due = 0;
	for (int i = 0; i < 500 && !due; i++)
		if (!(due = agq_child_due(&child, &last, 1000000)))
			usleep(10000);
	CHECK(due && child == 0 && last > 0, "child_due: once it ended, "
	    "reaped, and the time kept");
	CHECK(agq_child_due(&child, &last, 60000000) == 0, "child_due: not "
	    "again within the period");
	CHECK(agq_child_due(&child, &last, 0) == 1, "child_due: again once "
	    "the period passed");
	/* a UTF-8 text cut inside a character: the character goes */
	char u1[] = "r\xc3\xa9sum\xc3", u2[] = "ok \xe2\x82\xac",
	    u3[] = "x\xf0\x9f\x98", u4[] = "plain", u5[] = "\xa9\xa9",
	    u6[] = "";
	agq_utf8_trim(u1);
	agq_utf8_trim(u2);
	agq_utf8_trim(u3);
	agq_utf8_trim(u4);
	agq_utf8_trim(u5);
	agq_utf8_trim(u6);
	CHECK(!strcmp(u1, "r\xc3\xa9sum") && !strcmp(u2, "ok \xe2\x82\xac") &&
	    !strcmp(u3, "x") && !strcmp(u4, "plain") &&
	    !strcmp(u5, "\xa9\xa9") && !strcmp(u6, ""), "utf8_trim: a cut "
	    "character removed, whole ones and other bytes kept");
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	DONE();
}
