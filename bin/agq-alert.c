/* agq-alert - evaluate the alert rules of agq.conf once (agq-alert(1)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "alert.h"

static const char usage[] =
"usage: agq-alert [-s SPOOL] [-v] [--json] [--hook-timeout SECONDS]\n"
"Evaluate the alert rules of agq.conf (alert_queue_depth,\n"
"alert_agent_offline, alert_dead_letters, alert_endpoint,\n"
"alert_no_progress) once; for each alert that starts or clears, journal an\n"
"alert event, run alert_hook with the alert as JSON on its standard input\n"
"and print one line.  Meant for cron.  See agq-alert(1).\n"
"  -s, --spool DIR          spool directory (default: $AGQ_SPOOL or built-in)\n"
"  -v, --verbose            also list the alerts still firing\n"
"      --json               print the result as one JSON object\n"
"      --hook-timeout S     kill a hook still running after S seconds (30)\n"
"Exit: 0 evaluated, 1 a hook failed (reported on stderr).\n";

static void
lines(const char *tag, json_t *arr)
{
	size_t i;
	json_t *a;
	json_array_foreach(arr, i, a)
		printf("%s %s: %s\n", tag, json_string_value(json_object_get(a,
		    "alert")), json_string_value(json_object_get(a,
		    "message")));
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL, AGQ_OPT_VERBOSE, AGQ_OPT_JSON,
		{ "hook-timeout", required_argument, NULL, 't' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:v",
	    .longopts = longopts };
	double timeout = 30;
	while (agq_cli_next(&cl, argc, argv) != -1)     /* 't' */
		timeout = agq_cli_seconds("--hook-timeout", optarg);
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	json_t *r = agq_alert_run(&sp, agq_now_us(), timeout);
	if (!r) {
		return agq_spool_fail(&sp, "cannot keep the alert state",
		    "alerts.json");
	}
	if (cl.json) {
		agq_print_json(r, JSON_COMPACT | JSON_REAL_PRECISION(12));
	} else {
		lines("ALERT", json_object_get(r, "started"));
		lines("CLEARED", json_object_get(r, "cleared"));
		if (cl.verbose) {
			json_t *started = json_object_get(r, "started");
			size_t i, k;
			json_t *a, *b;
			json_array_foreach(json_object_get(r, "active"), i, a) {
				int fresh = 0;
				json_array_foreach(started, k, b)
					fresh |= json_equal(json_object_get(a,
					    "alert"), json_object_get(b, "alert"));
				if (!fresh)
					printf("FIRING %s: %s (since %s)\n",
					    json_string_value(json_object_get(a,
					    "alert")), json_string_value(
					    json_object_get(a, "message")),
					    json_string_value(json_object_get(a,
					    "since")));
			}
		}
	}
	int rc = json_array_size(json_object_get(r, "errors")) ? 1 : 0;
	json_decref(r);
	agq_spool_close(&sp);
	return agq_cli_done(rc);
}
