/* agq-status - counts per state and lane, and each agent (agq-status(1)). */
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
#include "qstate.h"

static const char usage[] =
"usage: agq-status [-s SPOOL] [--json] [--recent N]\n"
"Print how many tasks are in each state and lane, and each agent with its\n"
"state (idle, busy, draining, degraded, offline, down) and running tasks.\n"
"See agq-status(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --json        one JSON object: counts, agents, recent completions\n"
"                    and failures, health, paused backends\n"
"      --recent N    completions and failures in the JSON (default 10)\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_JSON,
		{ "recent", required_argument, NULL, 'r' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts };
	int recent = 10;
	while (agq_cli_next(&cl, argc, argv) != -1)     /* 'r' */
		recent = (int)agq_cli_long("--recent", optarg, 0, 1000);
	int json = cl.json;
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	/* the table shows no recent tasks: read none */
	json_t *snap = agq_status_snapshot(&sp, agq_now_us(), json ? recent : 0);
	json_t *st = json_incref(json_object_get(snap, "counts"));
	json_t *lanes = json_object_get(st, "queue_lanes");
	long queued = (long)json_integer_value(json_object_get(st, "queue"));
	json_t *agents = json_object_get(snap, "agents");
	/* the pauses of agq-pause(1): what agq-sched assigns none of */
	json_object_set_new(snap, "pauses", agq_pause_list(&sp));
	if (json) {
		agq_print_json(snap, JSON_COMPACT | JSON_REAL_PRECISION(12));
	} else {
		printf("spool %s\n", agq_shown(sp.root));
		printf("%-8s %6s\n", "STATE", "TASKS");
		printf("%-8s %6lld   urgent %lld, high %lld, normal %lld, low "
		    "%lld\n", "queue", (long long)queued,
		    json_integer_value(json_object_get(lanes, "urgent")),
		    json_integer_value(json_object_get(lanes, "high")),
		    json_integer_value(json_object_get(lanes, "normal")),
		    json_integer_value(json_object_get(lanes, "low")));
		static const char *rows[] = { "inbox", "blocked", "defer",
		    "hold", "active", "review", "approval", "done", "dead",
		    "corrupt", NULL };
		for (int i = 0; rows[i]; i++)
			printf("%-8s %6lld\n", rows[i], json_integer_value(
			    json_object_get(st, rows[i])));
		size_t i;
		json_t *a;
		json_t *h = json_object_get(snap, "health");
		printf("health   %s", agq_shown_get(h, "status"));
		json_array_foreach(json_object_get(h, "problems"), i, a)
			printf("%s %s", i ? ";" : ":", agq_shown(
			    json_string_value(a)));
		printf("\n");
		/* backends paused by a usage or rate limit (agq-backend(7)) */
		json_array_foreach(json_object_get(snap, "paused"), i, a)
			printf("paused   %s until %s: %s (%s)\n",
			    agq_shown_get(a, "backend"), agq_shown_get(a,
			    "until"), agq_shown_get(a, "reason"),
			    agq_shown_get(a, "account"));
		json_array_foreach(json_object_get(snap, "pauses"), i, a) {
			const char *k = json_string_value(json_object_get(a,
			    "kind"));
			printf("paused   %s%s%s since %s%s%s\n", !strcmp(k, "all") ?
			    "the whole spool" : k, strcmp(k, "all") ? " " : "",
			    strcmp(k, "all") ? agq_shown_get(a, "name") : "",
			    agq_shown_get(a, "since"), json_is_string(
			    json_object_get(a, "note")) ? ": " : "",
			    json_is_string(json_object_get(a, "note")) ?
			    agq_shown_get(a, "note") : "");
		}
		if (json_array_size(agents))
			printf("\n%-16s %-9s %5s %8s  %-12s %-24s %s\n",
			    "AGENT", "STATE", "SLOTS", "BEAT", "HOST",
			    "CAPABILITIES", "RUNNING");
		json_array_foreach(agents, i, a) {
			char caps[256] = "", run[512] = "";
			size_t k, n = 0;
			json_t *v;
			json_array_foreach(json_object_get(a, "capabilities"),
			    k, v)
				n += (size_t)snprintf(caps + n, n < sizeof caps ?
				    sizeof caps - n : 0, "%s%s", k ? "," : "",
				    json_string_value(v));
			/* and the backends it runs (routing) */
			json_array_foreach(json_object_get(a, "backends"), k, v)
				if (n < sizeof caps)
					n += (size_t)snprintf(caps + n, sizeof caps - n,
					    "%sbackend:%s", n ? "," : "",
					    json_string_value(v));
			n = 0;
			json_array_foreach(json_object_get(a, "running"), k, v)
				n += (size_t)snprintf(run + n, n < sizeof run ?
				    sizeof run - n : 0, "%s%s", k ? " " : "",
				    json_string_value(v));
			char beat[32];
			snprintf(beat, sizeof beat, "%.0fs ago", json_real_value(
			    json_object_get(a, "heartbeat_age_s")));
			const char *host = agq_shown_get(a, "host");
			printf("%-16s %-9s %5lld %8s  %-12s %-24s %s\n",
			    agq_shown_get(a, "name"), agq_shown_get(a, "state"),
			    json_integer_value(json_object_get(a, "slots")),
			    beat, host ? host : "-",
			    agq_shown(caps[0] ? caps : "-"),
			    agq_shown(run[0] ? run : "-"));
		}
	}
	json_decref(st);
	json_decref(snap);
	agq_spool_close(&sp);
	return agq_cli_done(0);
}
