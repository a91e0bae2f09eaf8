/* agq-status - counts per state and lane, and each agent (agq-status(1)). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "agq.h"

static const char usage[] =
"usage: agq-status [-s SPOOL] [--json]\n"
"Print how many tasks are in each state and lane, and each agent with its\n"
"state (idle, busy, draining, offline, down) and running tasks.\n"
"See agq-status(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --json        one JSON object\n";

/* Entries of DIR ending in SUFFIX (NULL: any), dot names skipped. */
static long
count(struct agq_spool *sp, const char *rel, const char *suffix)
{
	char *p = agq_spool_path(sp, "%s", rel);
	DIR *d = opendir(p);
	free(p);
	if (!d)
		return 0;
	long n = 0;
	struct dirent *de;
	size_t sl = suffix ? strlen(suffix) : 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		size_t l = strlen(de->d_name);
		if (suffix && (l < sl || strcmp(de->d_name + l - sl, suffix)))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

struct agents { struct agq_spool *sp; json_t *list; };

static int
agent_one(const char *fname, void *arg)
{
	struct agents *A = arg;
	size_t n = strlen(fname);
	if (n <= 5 || strcmp(fname + n - 5, ".json"))
		return 0;
	char name[80];
	snprintf(name, sizeof name, "%.*s", (int)(n - 5), fname);
	json_t *a = agq_agent_read(A->sp, name);
	if (!a)
		return 0;
	int64_t now = agq_now_us();
	const char *st = json_string_value(json_object_get(a, "state"));
	int alive = agq_agent_alive(a, now, A->sp->conf.lease_s);
	const char *shown = !alive ? (st && !strcmp(st, "down") ? "down" :
	    "offline") : st ? st : "idle";
	int64_t hb = agq_task_time(a, "heartbeat", 0);
	json_t *running = json_array();
	char *d = agq_spool_path(A->sp, "active/%s", name);
	DIR *dir = opendir(d);
	free(d);
	if (dir) {
		struct dirent *de;
		while ((de = readdir(dir))) {
			size_t l = strlen(de->d_name);
			if (de->d_name[0] != '.' && l > 5 &&
			    !strcmp(de->d_name + l - 5, ".json"))
				json_array_append_new(running, json_stringn(
				    de->d_name, l - 5));
		}
		closedir(dir);
	}
	json_t *caps = json_object_get(a, "capabilities");
	json_array_append_new(A->list, json_pack("{s:s, s:s, s:I, s:o, "
	    "s:O, s:f, s:s?, s:I}", "name", name, "state", shown,
	    "slots", agq_task_int(a, "slots", 1), "running", running,
	    "capabilities", caps ? caps : json_array(),
	    "heartbeat_age_s", hb ? (double)(now - hb) / 1e6 : -1.0,
	    "host", json_string_value(json_object_get(a, "host")),
	    "pid", agq_task_int(a, "pid", 0)));
	json_decref(a);
	return 0;
}

int
main(int argc, char **argv)
{
	agq_setprog(argv[0]);
	agq_cli_help(argc, argv, usage);
	static const struct option longopts[] = {
		{ "spool", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const char *spool = NULL;
	int json = 0, c;
	while ((c = getopt_long(argc, argv, "s:", longopts, NULL)) != -1) {
		switch (c) {
		case 's': spool = optarg; break;
		case 'j': json = 1; break;
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
	json_t *lanes = json_object();
	long queued = 0;
	for (int l = 0; l < AGQ_NLANES; l++) {
		char rel[32];
		snprintf(rel, sizeof rel, "queue/%s", agq_lane_name(l));
		long n = count(&sp, rel, ".json");
		queued += n;
		json_object_set_new(lanes, agq_lane_name(l), json_integer(n));
	}
	struct agents A = { &sp, json_array() };
	char *ad = agq_spool_path(&sp, "agents");
	agq_dir_each(ad, agent_one, &A);
	free(ad);
	long active = 0;
	char *actdir = agq_spool_path(&sp, "active");
	DIR *d = opendir(actdir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char rel[128];
			snprintf(rel, sizeof rel, "active/%.64s", de->d_name);
			active += count(&sp, rel, ".json");
		}
		closedir(d);
	}
	free(actdir);
	long corrupt = count(&sp, "corrupt", NULL) - count(&sp, "corrupt",
	    ".why");
	json_t *st = json_pack("{s:i, s:o, s:i, s:i, s:i, s:i, s:i, s:i, "
	    "s:i}", "inbox", (int)count(&sp, "inbox", NULL),
	    "queue_lanes", lanes, "queue", (int)queued,
	    "defer", (int)count(&sp, "defer", ".json"),
	    "hold", (int)count(&sp, "hold", ".json"), "active", (int)active,
	    "done", (int)count(&sp, "done", ".json"),
	    "dead", (int)count(&sp, "dead", ".json"), "corrupt", (int)corrupt);
	if (json) {
		json_t *o = json_pack("{s:s, s:O, s:O}", "spool", sp.root,
		    "counts", st, "agents", A.list);
		char *s = json_dumps(o, JSON_COMPACT);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		printf("spool %s\n", sp.root);
		printf("%-8s %6s\n", "STATE", "TASKS");
		printf("%-8s %6lld   urgent %lld, high %lld, normal %lld, low "
		    "%lld\n", "queue", (long long)queued,
		    json_integer_value(json_object_get(lanes, "urgent")),
		    json_integer_value(json_object_get(lanes, "high")),
		    json_integer_value(json_object_get(lanes, "normal")),
		    json_integer_value(json_object_get(lanes, "low")));
		static const char *rows[] = { "inbox", "defer", "hold",
		    "active", "done", "dead", "corrupt", NULL };
		for (int i = 0; rows[i]; i++)
			printf("%-8s %6lld\n", rows[i], json_integer_value(
			    json_object_get(st, rows[i])));
		size_t i;
		json_t *a;
		if (json_array_size(A.list))
			printf("\n%-16s %-9s %5s %8s  %-24s %s\n", "AGENT",
			    "STATE", "SLOTS", "BEAT", "CAPABILITIES", "RUNNING");
		json_array_foreach(A.list, i, a) {
			char caps[256] = "", run[512] = "";
			size_t k, n = 0;
			json_t *v;
			json_array_foreach(json_object_get(a, "capabilities"),
			    k, v)
				n += (size_t)snprintf(caps + n, n < sizeof caps ?
				    sizeof caps - n : 0, "%s%s", k ? "," : "",
				    json_string_value(v));
			n = 0;
			json_array_foreach(json_object_get(a, "running"), k, v)
				n += (size_t)snprintf(run + n, n < sizeof run ?
				    sizeof run - n : 0, "%s%s", k ? " " : "",
				    json_string_value(v));
			char beat[32];
			snprintf(beat, sizeof beat, "%.0fs ago", json_real_value(
			    json_object_get(a, "heartbeat_age_s")));
			printf("%-16s %-9s %5lld %8s  %-24s %s\n",
			    json_string_value(json_object_get(a, "name")),
			    json_string_value(json_object_get(a, "state")),
			    json_integer_value(json_object_get(a, "slots")),
			    beat, caps[0] ? caps : "-", run[0] ? run : "-");
		}
	}
	json_decref(st);
	json_decref(A.list);
	agq_spool_close(&sp);
	if (agq_flush_stdout() < 0)
		return EX_IOERR;
	return 0;
}
