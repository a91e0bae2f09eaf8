/* agq-watch - a line per change to tasks, plans, missions and agents,
 * from the journal, resumable by seq (agq-watch(1)). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "wake.h"
#include "watch.h"

static const char usage[] =
"usage: agq-watch [-s SPOOL] [--prefix P] [--since SEQ] [--no-follow] [--json]\n"
"Print a line for every change to a task, plan, mission or agent as the\n"
"journal records it, and keep following it.  Each event's object is\n"
"task/ID, plan/NAME, mission/ID or agent/NAME.  See agq-watch(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -p, --prefix P    only objects starting with P (plan/, task/ID, ...)\n"
"      --since SEQ   start after journal seq SEQ (0: every event kept),\n"
"                    across rotated journals; default: from now on\n"
"  -n, --no-follow   stop at the journal's end\n"
"      --json        the journal event, with \"object\", as a JSON line\n"
"Exit: 0 ok (stopped by SIGINT or SIGTERM, or at the end), 64 usage,\n"
"74 standard output failed, 66 the journal cannot be read.\n";

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

struct opts {
	const char *prefix;
	int json;
	int64_t since;
	int gap_checked;
};

/* Members not shown in a text line: the hash chain and the writer. */
static int
hidden(const char *k)
{
	static const char *const h[] = { "ts", "ev", "id", "seq", "prev",
	    "prog", "pid", "host", "mac", "plan", NULL };
	for (int i = 0; h[i]; i++)
		if (!strcmp(k, h[i]))
			return 1;
	return 0;
}

static int
print_event(json_t *ev, int64_t seq, void *arg)
{
	struct opts *o = arg;
	char obj[512];
	if (!o->gap_checked && o->since >= 0) {
		o->gap_checked = 1;
		if (seq > o->since + 1)
			agq_warn("seq %lld to %lld are not in the journals kept "
			    "(rotated away): starting at %lld",
			    (long long)o->since + 1, (long long)seq - 1,
			    (long long)seq);
	}
	if (!agq_watch_object(ev, obj, sizeof obj) ||
	    (o->prefix && strncmp(obj, o->prefix, strlen(o->prefix))))
		return 0;
	if (o->json) {
		json_object_set_new(ev, "object", json_string(obj));
		char *s = json_dumps(ev, JSON_COMPACT);
		if (!s)
			return 0;
		size_t sl;
		/* controls and bidi characters escaped: agq(7) */
		char *sh = agq_json_shown(s, strlen(s), &sl);
		fwrite(sh, 1, sl, stdout);
		putchar('\n');
		free(sh);
		free(s);
	} else {
		printf("%lld %s %s %s", (long long)seq,
		    agq_shown_get(ev, "ts") ? agq_shown_get(ev, "ts") : "-",
		    agq_shown(obj), agq_shown_get(ev, "ev") ?
		    agq_shown_get(ev, "ev") : "-");
		const char *k;
		json_t *v;
		json_object_foreach(ev, k, v) {
			if (hidden(k) || json_is_object(v) || json_is_array(v))
				continue;
			char *s = json_dumps(v, JSON_ENCODE_ANY);
			printf(" %s=%s", agq_shown(k), agq_shown(
			    json_is_string(v) ? json_string_value(v) : s));
			free(s);
		}
		putchar('\n');
	}
	/* a line at a time: a follower reads it at once */
	return agq_flush_stdout();
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_JSON,
		{ "prefix", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 'S' },
		{ "no-follow", no_argument, NULL, 'n' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:p:n",
	    .longopts = longopts };
	struct opts o = { .since = -1 };
	int follow = 1, c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'p': o.prefix = optarg; break;
		case 'S': o.since = agq_cli_long("--since", optarg, 0,
		    LONG_MAX); break;
		case 'n': follow = 0; break;
		}
	}
	o.json = cl.json;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	agq_signals_catch(on_signal, SA_RESTART, SIGTERM, SIGINT, 0);
	int rc = 0;
	if (agq_journal_follow(&sp, o.since, follow, &stop, print_event,
	    &o) < 0) {
		if (ferror(stdout))
			rc = EX_IOERR;
		else
			rc = agq_spool_syserr(&sp, "cannot follow", "journal");
	}
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
