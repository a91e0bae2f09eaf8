/* agq-stats - queue depth, throughput, latency percentiles, utilization,
 * retries, dead letters, reclaims, tokens and cost (agq-stats(1)). */
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

static const char usage[] =
"usage: agq-stats [-s SPOOL] [--since TIME] [--until TIME] [--json]\n"
"                 [--buckets N] [--rotated]\n"
"Print the numbers of a spool from its task files and its journal: tasks\n"
"per state and lane, events, throughput, wait and run latency percentiles,\n"
"agent utilization, tokens and cost per backend and model, pull requests\n"
"opened, merged and closed, their review rounds, time to merge and cost.\n"
"See agq-stats(1).\n"
"  -s, --spool DIR    spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --since TIME   window start: RFC 3339, epoch seconds, or a duration\n"
"                     ago such as 1h (default: the journal's first event)\n"
"      --until TIME   window end, same forms (default: now)\n"
"      --json         one JSON object\n"
"      --buckets N    points in the JSON time series (default 30, 0: none)\n"
"      --rotated      read the rotated journals (journal.TIME) too, oldest\n"
"                     first, then the journal\n"
"Exit: 0 ok, 65 the journal has damaged lines (counted and skipped).\n";

static const char *
num(char *buf, size_t n, json_t *v)
{
	if (json_is_null(v) || !v)
		snprintf(buf, n, "-");
	else
		snprintf(buf, n, "%.3f", json_number_value(v) / 1000.0);
	return buf;
}

/* The cost in US dollars V (a number, or null when no run said its
 * cost) into BUF of N bytes: "%.4f" and UNIT, or "unknown" (never 0.0000
 * for a cost nobody reported).  Returns BUF. */
static const char *
usd(char *buf, size_t n, const json_t *v, const char *unit)
{
	if (json_is_number(v))
		snprintf(buf, n, "%.4f%s", json_number_value(v), unit);
	else
		snprintf(buf, n, "unknown");
	return buf;
}

static void
lat(const char *name, json_t *l)
{
	char a[32], b[32], c[32], d[32], e[32];
	json_int_t n = json_integer_value(json_object_get(l, "n"));
	if (!n) {
		printf("%-5s n 0\n", name);
		return;
	}
	printf("%-5s n %lld  p50 %ss  p90 %ss  p99 %ss  max %ss  mean %ss\n",
	    name, (long long)n, num(a, sizeof a, json_object_get(l, "p50_ms")),
	    num(b, sizeof b, json_object_get(l, "p90_ms")),
	    num(c, sizeof c, json_object_get(l, "p99_ms")),
	    num(d, sizeof d, json_object_get(l, "max_ms")),
	    num(e, sizeof e, json_object_get(l, "mean_ms")));
}

static void
text(json_t *s)
{
	json_t *w = json_object_get(s, "window");
	json_t *c = json_object_get(s, "counts");
	json_t *lanes = json_object_get(c, "queue_lanes");
	json_t *ev = json_object_get(s, "events");
#define I(o, k) ((long long)json_integer_value(json_object_get((o), (k))))
	printf("window  %s .. %s (%.0f s)\n", agq_shown_get(w, "since"),
	    agq_shown_get(w, "until"),
	    json_number_value(json_object_get(w, "seconds")));
	printf("queue   %lld  (urgent %lld, high %lld, normal %lld, low %lld)\n",
	    I(c, "queue"), I(lanes, "urgent"), I(lanes, "high"),
	    I(lanes, "normal"), I(lanes, "low"));
	printf("tasks   inbox %lld, defer %lld, hold %lld, active %lld, "
	    "done %lld, dead %lld, corrupt %lld, archived %lld\n",
	    I(c, "inbox"), I(c, "defer"), I(c, "hold"), I(c, "active"),
	    I(c, "done"), I(c, "dead"), I(c, "corrupt"), I(c, "archived"));
	printf("events  submitted %lld, started %lld, done %lld, dead %lld, "
	    "cancelled %lld\n", I(ev, "submitted"), I(ev, "started"),
	    I(ev, "done"), I(ev, "dead"), I(ev, "cancelled"));
	printf("        retries %lld, reclaims %lld, handbacks %lld, "
	    "rejects %lld\n", I(ev, "retries"), I(ev, "reclaims"),
	    I(ev, "handbacks"), I(ev, "rejects"));
	printf("throughput %.3f done/min\n", json_number_value(
	    json_object_get(s, "throughput_per_min")));
	json_t *l = json_object_get(s, "latency");
	lat("wait", json_object_get(l, "wait"));
	lat("run", json_object_get(l, "run"));
	size_t i;
	json_t *a;
	char cost[64], all[64];
	json_t *ag = json_object_get(s, "agents");
	if (json_array_size(ag))
		printf("\n%-16s %5s %10s %6s %6s %6s\n", "AGENT", "SLOTS",
		    "BUSY_S", "UTIL%", "DONE", "FAILED");
	json_array_foreach(ag, i, a)
		printf("%-16s %5lld %10.1f %6.1f %6lld %6lld\n",
		    agq_shown_get(a, "name"),
		    I(a, "slots"), json_number_value(json_object_get(a,
		    "busy_s")), 100 * json_number_value(json_object_get(a,
		    "utilization")), I(a, "done"), I(a, "failed"));
	json_t *tk = json_object_get(s, "tokens");
	if (json_array_size(tk))
		printf("\n%-14s %-20s %6s %12s %12s %10s\n", "BACKEND", "MODEL",
		    "RUNS", "TOKENS_IN", "TOKENS_OUT", "COST_USD");
	json_array_foreach(tk, i, a)
		printf("%-14s %-20s %6lld %12.0f %12.0f %10s\n",
		    agq_shown_get(a, "backend"), agq_shown_get(a, "model"),
		    I(a, "runs"), json_number_value(json_object_get(a,
		    "tokens_in")), json_number_value(json_object_get(a,
		    "tokens_out")), usd(cost, sizeof cost, json_object_get(a,
		    "cost_usd"), ""));
	json_t *pr = json_object_get(s, "prs"), *bs = json_object_get(pr,
	    "by_state"), *per = json_object_get(pr, "per_pr");
	if (I(pr, "opened") || I(bs, "open") || I(bs, "merged") ||
	    I(bs, "closed"))
		printf("\nprs     opened %lld; records: open %lld, merged %lld, "
		    "closed %lld\n", I(pr, "opened"), I(bs, "open"),
		    I(bs, "merged"), I(bs, "closed"));
	if (json_is_object(per))
		printf("per PR  cost %s, tokens in %.0f, out %.0f "
		    "(%lld tasks, %s in all)\n", usd(cost, sizeof cost,
		    json_object_get(per, "cost_usd"), " USD"),
		    json_number_value(json_object_get(per, "tokens_in")),
		    json_number_value(json_object_get(per, "tokens_out")),
		    I(pr, "tasks"), usd(all, sizeof all, json_object_get(pr,
		    "cost_usd"), " USD"));
	json_t *rr = json_object_get(pr, "review_rounds"),
	    *tm = json_object_get(pr, "time_to_merge"),
	    *mg = json_object_get(pr, "merges");
	if (I(pr, "merged") || I(pr, "closed") || I(rr, "prs")) {
		char p50[32], p99[32];
		printf("merged  %lld, closed %lld in the window; submit to merge "
		    "n %lld  p50 %ss  p99 %ss\n", I(pr, "merged"),
		    I(pr, "closed"), I(tm, "n"), num(p50, sizeof p50,
		    json_object_get(tm, "p50_ms")), num(p99, sizeof p99,
		    json_object_get(tm, "p99_ms")));
		printf("rounds  per reviewed PR: mean %.3f, max %lld (%lld PRs)\n",
		    json_number_value(json_object_get(rr, "mean")), I(rr, "max"),
		    I(rr, "prs"));
		printf("per merged PR  cost %s (the coder's and its reviews'; %s "
		    "in all)\n", usd(cost, sizeof cost, json_object_get(mg,
		    "cost_per_pr_usd"), " USD"), usd(all, sizeof all,
		    json_object_get(mg, "cost_usd"), " USD"));
	}
	json_t *j = json_object_get(s, "journal");
	if (I(j, "damaged"))
		printf("\njournal: %lld damaged line(s) skipped\n",
		    I(j, "damaged"));
#undef I
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		AGQ_OPT_JSON,
		{ "buckets", required_argument, NULL, 'b' },
		{ "rotated", no_argument, NULL, 'r' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts };
	const char *since = NULL;
	int c;
	struct agq_stats_opts o = { 0, agq_now_us(), 30, 10, 0 };
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 'S': since = optarg; break;
		case 'U':
			if (agq_parse_since(optarg, agq_now_us(), &o.now_us) < 0)
				agq_die(EX_USAGE, "--until: not a time or a "
				    "duration: '%s'", optarg);
			break;
		case 'r': o.rotated = 1; break;
		case 'b':
			o.buckets = (int)agq_cli_long("--buckets", optarg, 0,
			    10000);
			break;
		}
	}
	if (since && agq_parse_since(since, o.now_us, &o.since_us) < 0)
		agq_die(EX_USAGE, "--since: not a time or a duration: '%s'",
		    since);
	if (since && o.since_us >= o.now_us)
		agq_die(EX_USAGE, "--since: not before the window's end");
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	json_t *s = agq_stats(&sp, &o);
	if (!s) {
		return agq_spool_fail(&sp, "cannot read the journal", "journal");
	}
	if (cl.json) {
		agq_print_json(s, JSON_COMPACT | JSON_REAL_PRECISION(12));
	} else {
		text(s);
	}
	json_int_t damaged = json_integer_value(json_object_get(
	    json_object_get(s, "journal"), "damaged"));
	if (damaged)
		agq_warn("%lld damaged journal line(s) skipped",
		    (long long)damaged);
	json_decref(s);
	agq_spool_close(&sp);
	return agq_cli_done(damaged ? EX_DATAERR : 0);
}
