/* agq-journal - read or follow the journal (agq-journal(1)). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>
#include <inotifytools/inotifytools.h>
#include <inotifytools/inotify.h>

#include "agq.h"

static const char usage[] =
"usage: agq-journal [-s SPOOL] [--id ID] [--ev EV] [--since TIME] [--follow]\n"
"Print journal events (JSON lines), oldest first.  See agq-journal(1) and\n"
"agq-journal(5).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --id ID       only events about task ID\n"
"      --ev EV       only events named EV (submit, assign, done, ...)\n"
"      --since TIME  only events at or after TIME (RFC 3339, epoch seconds,\n"
"                    or a duration ago such as 10m)\n"
"  -f, --follow      keep printing new events as they are appended\n"
"Exit: 0 ok, 65 the journal has damaged lines (reported on stderr and\n"
"skipped), 66 no journal yet (without --follow).\n";

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	agq_cli_help(argc, argv, usage);
	static const struct option longopts[] = {
		{ "spool", required_argument, NULL, 's' },
		{ "id", required_argument, NULL, 'i' },
		{ "ev", required_argument, NULL, 'e' },
		{ "since", required_argument, NULL, 'S' },
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 }
	};
	const char *spool = NULL, *id = NULL, *ev = NULL;
	int64_t since = 0;
	int follow = 0, c;
	while ((c = getopt_long(argc, argv, "s:f", longopts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'i': id = optarg; break;
		case 'e': ev = optarg; break;
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
		default:
			fputs(usage, stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fputs(usage, stderr);
		return EX_USAGE;
	}
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, spool);
	char *path = agq_spool_path(&sp, "journal");
	FILE *f = NULL;
	if (follow) {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		if (!inotifytools_initialize() ||
		    !inotifytools_watch_file(sp.root, IN_MODIFY | IN_CREATE |
		    IN_MOVED_TO)) {
			errno = inotifytools_error();
			agq_syserr("cannot watch", sp.root);
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
				int m = agq_journal_match(line, len, id, since, ev);
				if (m < 0) {
					agq_warn("%s:%d: not a JSON object; skipped",
					    path, lineno);
					bad = 1;
				} else if (m) {
					fwrite(line, 1, len, stdout);
					putchar('\n');
				}
			}
			clearerr(f);
			if (agq_flush_stdout() < 0) {
				rc = EX_IOERR;
				break;
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
