/* agq-dash - the dashboard: one self-contained HTML page (agq-dash(1)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "stats.h"
#include "dash.h"

static const char usage[] =
"usage: agq-dash [-s SPOOL] [-o FILE] [--since TIME] [--refresh SECONDS]\n"
"       agq-dash [-s SPOOL] --serve PORT [--since DURATION] [--refresh S]\n"
"Write the dashboard, one self-contained HTML page (no network fetches),\n"
"to FILE or standard output, or serve it on 127.0.0.1:PORT.\n"
"See agq-dash(1).\n"
"  -s, --spool DIR      spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -o, --output FILE    write FILE (tmp + fsync + rename) instead of stdout\n"
"      --since TIME     start of the charts' window (default 1h ago)\n"
"      --refresh S      the page reloads itself every S seconds (default:\n"
"                       dash_refresh in agq.conf, else 15; 0: never)\n"
"      --serve PORT     serve / (the page) and /status.json on\n"
"                       127.0.0.1:PORT until SIGINT or SIGTERM (0: any)\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "output", required_argument, NULL, 'o' },
		{ "since", required_argument, NULL, 'S' },
		{ "refresh", required_argument, NULL, 'r' },
		{ "serve", required_argument, NULL, 'p' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:o:",
	    .longopts = longopts };
	const char *out = NULL, *since = "1h";
	long refresh = -1, port = -1;
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'S': since = optarg; break;
		case 'r':
			refresh = (long)agq_cli_seconds("--refresh", optarg);
			break;
		case 'p': port = agq_cli_long("--serve", optarg, 0, 65535); break;
		}
	}
	if (port >= 0 && out)
		agq_cli_usage(usage);
	int64_t now = agq_now_us(), since_us;
	if (agq_parse_since(since, now, &since_us) < 0 || since_us >= now)
		agq_die(EX_USAGE, "--since: not a time or a duration before now: "
		    "'%s'", since);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	int rs = refresh >= 0 ? (int)refresh : agq_dash_refresh(&sp);
	if (port >= 0) {
		int rc = agq_dash_serve(&sp, (int)port, (double)(now - since_us) /
		    1e6, rs);
		agq_spool_close(&sp);
		return rc;
	}
	json_t *snap = agq_status_snapshot(&sp, now, 10);
	struct agq_stats_opts o = { since_us, now, 30, 0, 0 };
	json_t *st = agq_stats(&sp, &o);
	if (!st) {
		agq_spool_syserr(&sp, "cannot read the journal", "journal");
	}
	char *page = agq_dash_render(&sp, snap, st, rs);
	json_decref(snap);
	json_decref(st);
	int rc = 0;
	if (out) {
		if (agq_cli_write_file(out, page) < 0) {
			agq_syserr("cannot write the page", out);
			rc = agq_exit_code(errno);
		}
	} else {
		fputs(page, stdout);
		if (agq_flush_stdout() < 0)
			rc = EX_IOERR;
	}
	free(page);
	agq_spool_close(&sp);
	return rc;
}
