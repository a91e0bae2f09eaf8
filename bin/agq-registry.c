/* agq-registry - the model endpoints known to a spool (agq-registry(1)). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <curl/curl.h>

#include "backends.h"
#include "util.h"
#include "cli.h"
#include "spool.h"
#include "journal.h"
#include "open.h"
#include "registry.h"
#include "regcheck.h"

static const char usage[] =
"usage: agq-registry [-s SPOOL] add NAME URL --type ollama|openai|anthropic\n"
"       agq-registry [-s SPOOL] ls [--json]\n"
"       agq-registry [-s SPOOL] rm NAME\n"
"       agq-registry [-s SPOOL] check [NAME...]\n"
"Keep the model endpoints of a spool and their health.  See\n"
"agq-registry(1).\n"
"  -s, --spool DIR   spool directory (default: $AGQ_SPOOL or built-in)\n"
"      --type TYPE   the API the endpoint speaks (add)\n"
"      --no-check    do not check a new endpoint at once (add)\n"
"      --json        one JSON array of the endpoints (ls)\n"
"Exit: 0 ok (check: every endpoint healthy), 1 check: an endpoint is not\n"
"healthy, 64 usage, 65 bad name or URL, 66 no such endpoint, 73 NAME is\n"
"already registered.\n";

static void
print_list(const json_t *all, int json)
{
	if (json) {
		json_t *arr = json_array();
		const char *k;
		json_t *e;
		json_object_foreach((json_t *)all, k, e)
			json_array_append(arr, e);
		agq_print_json(arr, JSON_INDENT(2));
		json_decref(arr);
		return;
	}
	printf("%-16s %-9s %-9s %-6s %-6s %s\n", "NAME", "TYPE", "HEALTH",
	    "MODELS", "WARM", "URL");
	const char *k;
	json_t *e;
	json_object_foreach((json_t *)all, k, e) {
		printf("%-16s %-9s %-9s %-6zu %-6zu %s\n", k,
		    json_string_value(json_object_get(e, "type")),
		    json_string_value(json_object_get(e, "health")),
		    json_array_size(json_object_get(e, "models")),
		    json_array_size(json_object_get(e, "warm")),
		    json_string_value(json_object_get(e, "url")));
	}
}

static int
check_one(struct agq_spool *sp, const char *name)
{
	int r = agq_registry_check(sp, name);
	if (r < 0) {
		if (errno == ENOENT) {
			agq_warn("no endpoint %s", name);
			return EX_NOINPUT;
		}
		agq_syserr("cannot check endpoint", name);
		return agq_exit_code(errno);
	}
	json_t *e = agq_endpoint_read(sp, name);
	const char *err = json_string_value(json_object_get(e, "error"));
	printf("%s\t%s%s%s\n", name, json_string_value(json_object_get(e,
	    "health")), err ? "\t" : "", err ? err : "");
	json_decref(e);
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "type", required_argument, NULL, 't' },
		AGQ_OPT_JSON,
		{ "no-check", no_argument, NULL, 'n' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:",
	    .longopts = longopts, .operands = AGQ_CLI_SOME };
	const char *type = NULL;
	int nocheck = 0, c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1) {
		switch (c) {
		case 't': type = optarg; break;
		case 'n': nocheck = 1; break;
		}
	}
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	char **args = argv + optind;
	if (!((!strcmp(cmd, "add") && nargs == 2 && type) ||
	    (!strcmp(cmd, "ls") && nargs == 0) ||
	    (!strcmp(cmd, "rm") && nargs == 1) || !strcmp(cmd, "check")))
		agq_cli_usage(usage);
	if (!strcmp(cmd, "add")) {
		if (!agq_agent_name_valid(args[0]))
			agq_die(EX_DATAERR, "bad endpoint name '%s': must match "
			    "[A-Za-z0-9._-]{1,64}", args[0]);
		if (strncmp(args[1], "http://", 7) && strncmp(args[1],
		    "https://", 8))
			agq_die(EX_DATAERR, "bad URL '%s': must start with "
			    "http:// or https://", args[1]);
		char names[256];
		if (!agq_endpoint_type_valid(type))
			agq_die(EX_USAGE, "--type: must be %s", agq_backend_names(
			    -1, AGQ_BACKEND_ENDPOINT, names, sizeof names));
	}
	struct agq_spool sp;
	agq_spool_open_or_exit(&sp, cl.spool);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		agq_die(EX_SOFTWARE, "cannot initialize libcurl");
	int rc = 0;
	if (!strcmp(cmd, "add")) {
		int lock = agq_spool_flock(&sp, "registry", 1);
		json_t *old = lock < 0 ? NULL : agq_endpoint_read(&sp, args[0]);
		if (lock < 0) {
			agq_syserr("cannot lock the registry", sp.root);
			rc = agq_exit_code(errno);
		} else if (old) {
			agq_warn("endpoint %s is already registered (%s)", args[0],
			    json_string_value(json_object_get(old, "url")));
			rc = EX_CANTCREAT;
		} else {
			char t[32];
			json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:n, "
			    "s:[], s:[], s:n}", "name", args[0], "url", args[1],
			    "type", type, "added_at", agq_fmt_time(agq_now_us(), t),
			    "health", "unknown", "fails", 0, "checked_at",
			    "models", "warm", "error");
			if (agq_endpoint_write(&sp, e) < 0) {
				agq_syserr("cannot write endpoint", args[0]);
				rc = agq_exit_code(errno);
			} else {
				agq_journal_w(&sp, "endpoint_add", NULL, json_pack(
				    "{s:s, s:s, s:s}", "endpoint", args[0], "url",
				    args[1], "type", type));
			}
			json_decref(e);
		}
		json_decref(old);
		if (lock >= 0)
			close(lock);
		if (rc == 0 && !nocheck && check_one(&sp, args[0]) < 0)
			rc = EX_SOFTWARE;
	} else if (!strcmp(cmd, "ls")) {
		json_t *all = agq_registry_load(&sp);
		print_list(all, cl.json);
		json_decref(all);
	} else if (!strcmp(cmd, "rm")) {
		int lock = agq_spool_flock(&sp, "registry", 1);
		char *p = agq_spool_path(&sp, "endpoints/%s.json", args[0]);
		if (!agq_agent_name_valid(args[0]) || lock < 0 || unlink(p) < 0) {
			if (errno == ENOENT || !agq_agent_name_valid(args[0])) {
				agq_warn("no endpoint %s", args[0]);
				rc = EX_NOINPUT;
			} else {
				agq_syserr("cannot remove endpoint", p);
				rc = agq_exit_code(errno);
			}
		} else {
			agq_journal_w(&sp, "endpoint_rm", NULL, json_pack("{s:s}",
			    "endpoint", args[0]));
		}
		free(p);
		if (lock >= 0)
			close(lock);
	} else {
		json_t *names = json_array();
		if (nargs) {
			for (int i = 0; i < nargs; i++)
				json_array_append_new(names, json_string(args[i]));
		} else {
			json_t *all = agq_registry_load(&sp);
			const char *k;
			json_t *e;
			json_object_foreach(all, k, e)
				json_array_append_new(names, json_string(k));
			json_decref(all);
		}
		size_t i;
		json_t *n;
		json_array_foreach(names, i, n) {
			int r = check_one(&sp, json_string_value(n));
			if (r > rc)
				rc = r;
		}
		json_decref(names);
	}
	curl_global_cleanup();
	agq_spool_close(&sp);
	if (agq_flush_stdout() < 0 && rc == 0)
		rc = EX_IOERR;
	return rc;
}
