/* agq-journal - read or follow the journal (agq-journal(1)). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "journal.h"
#include "open.h"
#include "wake.h"

static const char usage[] =
"usage: agq-journal [-s SPOOL] [--id ID] [--ev EV] [--since TIME] [--follow]\n"
"       agq-journal [-s SPOOL] [--file FILE] --verify\n"
"       agq-journal [-s SPOOL] --rotate [--timeout S]\n"
"Print journal events (JSON lines), oldest first; check the journal's hash\n"
"chain; or rotate it.  See agq-journal(1) and agq-journal(5).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --file FILE   read FILE (e.g. a rotated journal) instead\n"
"      --verify      walk the hash chain across every journal file, from\n"
"                    the oldest rotated one kept (only FILE with --file);\n"
"                    report the first break with its file and line\n"
"      --rotate      move the journal to journal.TIME and start a new one\n"
"                    chained to it; prints the old file's path (a remote\n"
"                    spool's: asks agq-sched to, and waits for it)\n"
"      --timeout S   --rotate on a remote spool: wait at most S seconds\n"
"                    (default 60; 0: ask, do not wait)\n"
"      --id ID       only events about task ID (repeated, or ID,ID...:\n"
"                    about any of them)\n"
"      --ev EV       only events named EV (submit, assign, done, ...;\n"
"                    repeated, or EV,EV...: any of them)\n"
"      --since TIME  only events at or after TIME (RFC 3339, epoch seconds,\n"
"                    or a duration ago such as 10m)\n"
"  -f, --follow      keep printing new events as they are appended\n"
"Exit: 0 ok, 65 the journal has damaged lines (reported on stderr and\n"
"skipped), 66 no journal yet (without --follow); --verify: 0 intact (a torn\n"
"last line is reported and tolerated), 1 the chain is broken.\n";

/* The last line of --verify: what was checked, the hash chain alone or
 * the keyed chain (KEY, with MACS lines' MACs checked and UNKEYED lines
 * from before the key), and how the tail was (TAIL). */
static void
print_checked(const char *where, const struct agq_jkey *key, long macs,
              long unkeyed, const char *tail)
{
	if (!key)
		printf("%s: checked the chain alone (SHA-256; no "
		    "journal_key_file), %s\n", where, tail);
	else if (unkeyed)
		printf("%s: checked the keyed chain (HMAC-SHA256): %ld lines' "
		    "MACs, and %ld line(s) from before the key by the chain "
		    "alone; %s\n", where, macs, unkeyed, tail);
	else
		printf("%s: checked the keyed chain (HMAC-SHA256): %ld lines' "
		    "MACs; %s\n", where, macs, tail);
}

/* The `cut` events of R (PATH's): a writer found lines lost from the
 * journal's end, behind its anchor (agq-journal(5), "Anchor"). */
static void
warn_cuts(const char *path, const struct agq_jverify *r)
{
	if (r->cuts)
		agq_warn("%s:%ld: a cut event: the lines before it had lost "
		    "their end (a crash, or cut) when it was written; %ld in "
		    "this file", path, r->cut_line, r->cuts);
}

/* --verify --file PATH: walk the chain of PATH; when its first line is a
 * rotate event, check that it chains to the last line of the file it
 * names. */
static int
verify(const char *path, const struct agq_jkey *key)
{
	struct agq_jverify r;
	int rc = agq_journal_verify_key(path, key, &r);
	if (rc >= 0)
		warn_cuts(path, &r);
	if (rc < 0) {
		agq_syserr("cannot read", path);
		return agq_exit_code(errno);
	}
	if (rc == 1) {
		agq_warn("%s:%ld: chain broken: %s", path, r.bad_line, r.why);
		printf("%s: chain broken at line %ld\n", path, r.bad_line);
		return agq_flush_stdout() < 0 ? EX_IOERR : 1;
	}
	if (r.first_from[0] && !strchr(r.first_from, '/')) {
		char *dir = agq_xstrdup(path), *sl = strrchr(dir, '/');
		char *old = sl ? (*sl = '\0', agq_xasprintf("%s/%s", dir,
		    r.first_from)) : agq_xstrdup(r.first_from);
		free(dir);
		int fd = open(old, O_RDONLY | O_CLOEXEC);
		struct agq_jtail t;
		if (fd < 0) {
			agq_warn("%s:1: chains to %s, which is not there; not "
			    "checked", path, old);
		} else if (agq_journal_tail(fd, &t) < 0) {
			agq_syserr("cannot read", old);
		} else if (strcmp(t.hash, r.first_prev)) {
			agq_warn("%s:1: chain broken: \"prev\" is not the "
			    "SHA-256 of the last line of %s", path, old);
			printf("%s: chain broken at line 1\n", path);
			close(fd);
			free(old);
			return agq_flush_stdout() < 0 ? EX_IOERR : 1;
		}
		if (fd >= 0)
			close(fd);
		free(old);
	}
	if (r.torn)
		agq_warn("%s:%ld: torn last line (%zu bytes at offset %lld, no "
		    "newline): tolerated; agq-fsck --fix cuts it off", path,
		    r.lines + 1, r.torn_len, (long long)r.torn_off);
	printf("%s: %ld lines, chain intact%s\n", path, r.lines,
	    r.torn ? ", torn last line" : "");
	print_checked(path, key, r.macs, r.unkeyed, "its tail not checked "
	    "(--file)");
	return agq_flush_stdout() < 0 ? EX_IOERR : 0;
}

/* --verify without --file: the whole chain, from the oldest rotated
 * journal kept to the current one.  Each file's own chain is walked, and
 * each file's line 1 must be the rotate event naming the file before it,
 * continuing its seq and chained to its last line's hash. */
static int
verify_chain(const struct agq_spool *sp, const struct agq_jkey *key)
{
	char **names;
	size_t n;
	if (agq_journal_files(sp, &names, &n) < 0) {
		agq_syserr("cannot list the journals in", sp->root);
		return agq_exit_code(errno);
	}
	if (n == 0) {
		char *p = agq_spool_path(sp, "journal");
		errno = ENOENT;
		agq_syserr("cannot read", p);
		free(p);
		return EX_NOINPUT;
	}
	struct agq_jverify prev, r;
	char *prevpath = NULL;
	long total = 0, macs = 0, unkeyed = 0;
	int64_t first = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *path = agq_spool_path(sp, "%s", names[i]);
		if (agq_journal_verify_key(path, key, &r) < 0) {
			agq_syserr("cannot read", path);
			rc = agq_exit_code(errno);
			free(path);
			break;
		}
		macs += r.macs;
		unkeyed += r.unkeyed;
		warn_cuts(path, &r);
		char why[1024] = "";
		long bad = r.bad_line;
		if (r.why[0])
			snprintf(why, sizeof why, "%s", r.why);
		else
			bad = agq_journal_link_check(names, n, i, &r,
			    i ? &prev : NULL, prevpath, why, sizeof why);
		if (!why[0] && r.lines && i == 0 && r.first_from[0]) {
			agq_warn("%s:1: chains to %s, which is not kept (older "
			    "rotations removed): the chain is checked from "
			    "here", path, r.first_from);
		}
		if (why[0]) {
			agq_warn("%s:%ld: chain broken: %s", path, bad, why);
			printf("%s: chain broken at line %ld\n", path, bad);
			rc = 1;
		} else {
			if (r.torn)
				agq_warn("%s:%ld: torn last line (%zu bytes at "
				    "offset %lld, no newline): tolerated%s", path,
				    r.lines + 1, r.torn_len,
				    (long long)r.torn_off, i + 1 == n ?
				    "; agq-fsck --fix cuts it off" : "");
			printf("%s: %ld lines, chain intact%s\n", path,
			    r.lines, r.torn ? ", torn last line" : "");
			if (r.lines && !first)
				first = r.first_seq;
			total += r.lines;
		}
		free(prevpath);
		prevpath = path;
		prev = r;
	}
	if (rc == 0 && n > 1)
		printf("%s: %zu journal files, %ld lines, seq %lld to %lld, "
		    "chain intact\n", sp->root, n, total, (long long)first,
		    (long long)prev.last_seq);
	char tail[512] = "its tail not checked (no current journal)";
	if (rc == 0 && !strcmp(names[n - 1], "journal") &&
	    agq_journal_anchor_check(sp, key, &prev, tail, sizeof tail)) {
		agq_warn("%s:%ld: chain broken: %s", prevpath, prev.lines, tail);
		printf("%s: chain broken at its end (line %ld)\n", prevpath,
		    prev.lines);
		rc = 1;
	}
	if (rc == 0)
		print_checked(sp->root, key, macs, unkeyed, tail);
	free(prevpath);
	agq_journal_files_free(names, n);
	if (agq_flush_stdout() < 0)
		return EX_IOERR;
	return rc;
}

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

/* How long agq-journal --rotate waits for agq-sched to rotate a remote
 * spool's journal by default, in seconds (--timeout). */
#define ROTATE_WAIT_S 60

/* --rotate on a remote spool: asked of agq-sched, the one writer
 * (agq_journal_rotate_ask), and waited for (polled every 100 ms, at most
 * WAIT_US microseconds; 0: not at all): the old file's path printed from
 * the new journal's first line, its rotate event.  An exit code. */
static int
rotate_asked(struct agq_spool *sp, int64_t wait_us)
{
	char *ask = agq_spool_path(sp, AGQ_ROTATE_ASK);
	int r = EX_TEMPFAIL;
	if (agq_journal_rotate_ask(sp) < 0) {
		agq_syserr("cannot ask agq-sched to rotate the journal", ask);
		r = agq_exit_code(errno);
		free(ask);
		return r;
	}
	if (wait_us == 0) {
		free(ask);
		return 0;
	}
	int64_t end = agq_mono_us() + wait_us;
	struct stat st;
	while (stat(ask, &st) == 0 && agq_mono_us() < end) {
		struct timespec ts = { 0, 100000000 };
		nanosleep(&ts, NULL);
	}
	if (stat(ask, &st) == 0) {
		agq_warn("asked agq-sched to rotate the journal (the spool is "
		    "remote: it is the one writer), and no agq-sched did within "
		    "%g s; it will at its next look at the spool (%s)",
		    (double)wait_us / 1e6, ask);
		free(ask);
		return EX_TEMPFAIL;
	}
	free(ask);
	char *p = agq_spool_path(sp, "journal");
	json_t *ev = agq_journal_rotate_head(p);
	const char *from = json_string_value(json_object_get(ev, "from"));
	if (from && agq_journal_rotated_name(from)) {
		printf("%s/%s\n", sp->root, from);
		r = agq_flush_stdout() < 0 ? EX_IOERR : 0;
	} else {
		agq_warn("agq-sched took the request, but the journal's first "
		    "line is not its rotate event (%s)", p);
		r = EX_SOFTWARE;
	}
	json_decref(ev);
	free(p);
	return r;
}

/* agq_cli_words' FN: W a key of the set ARG (a JSON object). */
static void
set_word(const char *w, void *arg)
{
	json_object_set_new(arg, w, json_true());
}

/* SET (a JSON object, or NULL: a new one) with the words of WORDS, OPT's
 * argument ("done" or "done,dead"), as keys (agq_cli_words). */
static json_t *
word_set(json_t *set, const char *words, const char *opt)
{
	if (!set)
		set = json_object();
	agq_cli_words(opt, words, set_word, set);
	return set;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "id", required_argument, NULL, 'i' },
		{ "ev", required_argument, NULL, 'e' },
		{ "since", required_argument, NULL, 'S' },
		{ "follow", no_argument, NULL, 'f' },
		{ "file", required_argument, NULL, 'F' },
		{ "verify", no_argument, NULL, 'V' },
		{ "rotate", no_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 'T' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:f",
	    .longopts = longopts };
	json_t *ids = NULL, *evs = NULL;      /* sets: NULL any */
	const char *file = NULL;
	int do_verify = 0, do_rotate = 0;
	int64_t since = 0, wait_us = (int64_t)ROTATE_WAIT_S * 1000000;
	int follow = 0, c, timeout = 0;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'i': ids = word_set(ids, optarg, "--id"); break;
		case 'e': evs = word_set(evs, optarg, "--ev"); break;
		case 'S': {
			int64_t us;
			if (agq_parse_time(optarg, &us) == 0 && strchr(optarg, '-'))
				since = us;
			else if (agq_parse_duration(optarg, &us) == 0 &&
			    strspn(optarg, "0123456789.") != strlen(optarg))
				since = agq_now_us() - us;
			else if (agq_parse_time(optarg, &us) == 0)
				since = us;
			else
				agq_die(EX_USAGE, "--since: not a time or a "
				    "duration: '%s'", optarg);
			break;
		}
		case 'f': follow = 1; break;
		case 'F': file = optarg; break;
		case 'V': do_verify = 1; break;
		case 'R': do_rotate = 1; break;
		case 'T':
			if (agq_parse_duration(optarg, &wait_us) < 0)
				agq_die(EX_USAGE, "--timeout: not a duration: '%s' "
				    "(seconds, or 30s, 2m)", optarg);
			timeout = 1;
			break;
		}
	}
	if (do_verify + do_rotate + follow > 1 || (do_rotate && file) ||
	    (timeout && !do_rotate))
		agq_cli_usage(usage);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	if (do_rotate && sp.remote) {
		int r = rotate_asked(&sp, wait_us);
		agq_spool_close(&sp);
		return r;
	}
	if (do_rotate) {
		char *old;
		int r = 0;
		if (agq_journal_rotate(&sp, &old) < 0) {
			char *p = agq_spool_path(&sp, "journal");
			agq_syserr("cannot rotate", p);
			r = agq_exit_code(errno);
			free(p);
		} else {
			printf("%s/%s\n", sp.root, old);
			free(old);
			if (agq_flush_stdout() < 0)
				r = EX_IOERR;
		}
		agq_spool_close(&sp);
		return r;
	}
	if (do_verify) {
		struct agq_jkey key;
		char why[512];
		int ks = agq_journal_key(&sp, &key, why, sizeof why);
		if (ks < 0)
			agq_warn("journal_key_file not usable: %s; checking the "
			    "chain alone", why);
		char *path = file ? agq_xstrdup(file) : NULL;
		int r = path ? verify(path, ks > 0 ? &key : NULL) :
		    verify_chain(&sp, ks > 0 ? &key : NULL);
		explicit_bzero(&key, sizeof key);
		long pending = path ? 0 : agq_journal_events_pending(&sp);
		if (pending > 0)        /* a remote spool: not in the chain yet */
			printf("%s/events/new: %ld file(s) of events not yet "
			    "appended (agq-sched appends them), not checked\n",
			    sp.root, pending);
		free(path);
		agq_spool_close(&sp);
		return r;
	}
	char *path = file ? agq_xstrdup(file) : agq_spool_path(&sp, "journal");
	FILE *f = NULL;
	if (follow) {
		agq_signals_catch(on_signal, SA_RESTART, SIGTERM, SIGINT, 0);
		static const struct agq_watch root[] = {
			{ "", IN_MODIFY | IN_CREATE | IN_MOVED_TO }, { NULL, 0 } };
		if (agq_watch_spool(&sp, root) < 0) {
			free(path);
			agq_spool_close(&sp);
			return EX_OSERR;
		}
	}
	int bad = 0, lineno = 0, rc = 0;
	char *line = NULL;
	size_t cap = 0;
	for (;;) {
		if (!f) {
			f = fopen(path, "re");
			if (!f && errno != ENOENT) {
				agq_syserr("cannot open", path);
				rc = agq_exit_code(errno);
				break;
			}
			if (!f && !follow) {
				agq_syserr("cannot open", path);
				rc = EX_NOINPUT;
				break;
			}
		}
		if (f) {
			ssize_t n;
			while ((n = getline(&line, &cap, f)) > 0) {
				if (line[n - 1] != '\n') {
					/* an incomplete last line: wait for
					 * the rest when following */
					if (follow) {
						fseeko(f, -(off_t)n, SEEK_CUR);
						break;
					}
				}
				lineno++;
				size_t len = (size_t)n - (line[n - 1] == '\n');
				int m = agq_journal_match(line, len, ids, since,
				    evs);
				if (m < 0) {
					agq_warn("%s:%d: not a JSON object; skipped",
					    path, lineno);
					bad = 1;
				} else if (m) {
					/* bidi and C1 characters as JSON
					 * escapes: agq(7), Terminal output */
					size_t sl;
					char *sh = agq_json_shown(line, len, &sl);
					fwrite(sh, 1, sl, stdout);
					putchar('\n');
					free(sh);
				}
			}
			clearerr(f);
			if (agq_flush_stdout() < 0) {
				rc = EX_IOERR;
				break;
			}
			/* rotated (agq-journal --rotate renamed it and a
			 * writer started a new one): this file was read to
			 * its end, go on in the new one from its start */
			struct stat now, held;
			if (follow && stat(path, &now) == 0 &&
			    fstat(fileno(f), &held) == 0 &&
			    (now.st_ino != held.st_ino ||
			    now.st_dev != held.st_dev)) {
				fclose(f);
				f = NULL;
				lineno = 0;
				continue;
			}
		}
		if (!follow || stop)
			break;
		(void)inotifytools_next_event(1);
		if (stop)
			break;
	}
	free(line);
	if (f)
		fclose(f);
	free(path);
	agq_spool_close(&sp);
	if (follow)
		inotifytools_cleanup();
	return rc ? rc : bad ? EX_DATAERR : 0;
}
