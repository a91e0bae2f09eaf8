/* agq-remote - one remote agent's spool operations over ssh, on standard
 * input and output (agq-remote(8)); the protocol is lib/remote.c's, the
 * work lib/runner.c's (agq_remote_agent_*). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "util.h"
#include "cli.h"
#include "spool.h"
#include "open.h"
#include "task.h"
#include "remote.h"
#include "runner.h"

static const char usage[] =
"usage: agq-remote [-s SPOOL] [-a NAME] [SPOOL]\n"
"Serve one agent that reaches this spool over ssh (agq-run --via): JSON\n"
"lines on standard input and output.  Made to be ssh's forced command,\n"
"command=\"agq-remote /srv/spool\" in authorized_keys; it runs no shell\n"
"and ignores SSH_ORIGINAL_COMMAND but for logging it.  See agq-remote(8).\n"
"  -s, --spool DIR   spool directory (default: the operand, $AGQ_SPOOL or\n"
"                    built-in)\n"
"  -a, --agent NAME  the only agent name this key may register\n"
"Exit: 0 at the end of the input or after bye, 74 standard output failed,\n"
"75 the agent is already connected, 64 usage error.\n";

struct srv {
	struct agq_spool sp;
	struct runner *R;
	struct agq_run_opts o;
	json_t *reg;            /* the register request: O borrows from it */
	const char *only;       /* --agent: the one name allowed */
	int hello;
	int bye;
};

/* The answer to request REQ (checked: op OP, id ID): a line, malloc'd. */
static char *
serve(struct srv *S, const json_t *req, int op, json_int_t id)
{
	char msg[600];
	const char *why = NULL;
	if (op == AGQ_R_HELLO) {
		json_int_t v = json_integer_value(json_object_get(req,
		    "version"));
		if (v != AGQ_REMOTE_VERSION) {
			snprintf(msg, sizeof msg, "protocol version %lld: this "
			    "agq-remote speaks %d", (long long)v,
			    AGQ_REMOTE_VERSION);
			return agq_remote_error(id, "version", msg);
		}
		S->hello = 1;
		return agq_remote_reply(id, json_pack("{s:i, s:s}", "version",
		    AGQ_REMOTE_VERSION, "agq", AGQ_VERSION));
	}
	if (op == AGQ_R_BYE) {
		S->bye = 1;
		return agq_remote_reply(id, NULL);
	}
	if (!S->hello)
		return agq_remote_error(id, "order", "hello first");
	if (op == AGQ_R_REGISTER) {
		if (S->R)
			return agq_remote_error(id, "order", "registered already");
		const char *agent = json_string_value(json_object_get(req,
		    "agent"));
		json_int_t slots = json_integer_value(json_object_get(req,
		    "slots"));
		if (!agq_agent_name_valid(agent) || slots < 1 || slots > 1024)
			return agq_remote_error(id, "invalid", "register: an "
			    "agent name of [A-Za-z0-9._-]{1,64} and slots 1 to "
			    "1024 are required");
		if (S->only && strcmp(agent, S->only)) {
			snprintf(msg, sizeof msg, "agent %s: this key may register "
			    "only %s", agent, S->only);
			syslog(LOG_WARNING, "%s", msg);
			return agq_remote_error(id, "denied", msg);
		}
		S->reg = json_deep_copy(req);
		memset(&S->o, 0, sizeof S->o);
		S->o.agent = json_string_value(json_object_get(S->reg, "agent"));
		S->o.caps = json_object_get(S->reg, "caps");
		S->o.slots = (int)slots;
		S->o.prefetch = (int)json_integer_value(json_object_get(S->reg,
		    "prefetch"));
		S->o.heartbeat_s = S->sp.conf.heartbeat_s;
		S->o.backends = json_object_get(S->reg, "backends");
		S->o.endpoints = json_object_get(S->reg, "endpoints");
		S->o.models = json_object_get(S->reg, "models");
		S->o.cap_token = json_string_value(json_object_get(S->reg,
		    "cap_token"));
		int rc;
		S->R = agq_remote_agent_open(&S->sp, &S->o, json_string_value(
		    json_object_get(S->reg, "host")), json_object_get(S->reg,
		    "resources"), &rc);
		if (!S->R) {
			json_decref(S->reg);
			S->reg = NULL;
			snprintf(msg, sizeof msg, "agent %s: %s", agent, rc ==
			    EX_TEMPFAIL ? "already connected or running on this "
			    "spool" : "cannot register (see agq-remote's stderr)");
			return agq_remote_error(id, rc == EX_TEMPFAIL ? "busy" :
			    "io", msg);
		}
		syslog(LOG_INFO, "agent %s registered from %s", agent,
		    json_string_value(json_object_get(req, "host")));
		return agq_remote_reply(id, json_pack("{s:f, s:f}", "lease_s",
		    S->sp.conf.lease_s, "heartbeat_s", S->sp.conf.heartbeat_s));
	}
	if (!S->R)
		return agq_remote_error(id, "order", "register first");
	const char *taskid = json_string_value(json_object_get(req,
	    "task_id"));
	json_int_t gen = json_integer_value(json_object_get(req, "generation"));
	switch (op) {
	case AGQ_R_HEARTBEAT: {
		const char *st = json_string_value(json_object_get(req,
		    "state"));
		json_t *gone = agq_remote_agent_beat(S->R, json_object_get(req,
		    "running"), st && !strcmp(st, "draining"),
		    json_object_get(req, "resources"));
		if (!gone) {
			S->bye = 1;     /* no agent here any more: the end */
			return agq_remote_error(id, "replaced", "another agent "
			    "took this agent's name while it was judged dead");
		}
		return agq_remote_reply(id, json_pack("{s:o}", "gone", gone));
	}
	case AGQ_R_NEXT: {
		char lease[65];
		if (!agq_remote_agent_next(S->R, json_object_get(req, "running"),
		    json_number_value(json_object_get(req, "wait")), lease))
			return agq_remote_reply(id, json_pack("{s:n}", "lease"));
		char *p = agq_spool_path(&S->sp, "active/%s/%s.json", S->o.agent,
		    lease);
		json_t *t = agq_task_read(p);
		free(p);
		return agq_remote_reply(id, json_pack("{s:{s:s, s:o, s:I}}",
		    "lease", "id", lease, "task", t ? t : json_null(),
		    "generation", agq_task_int(t, "generation", 0)));
	}
	case AGQ_R_START: {
		json_t *t;
		json_int_t g;
		int attempt;
		char cause[256];
		if (agq_remote_agent_start(S->R, taskid, &t, &g, &attempt,
		    cause, sizeof cause) < 0) {
			snprintf(msg, sizeof msg, "%s: not started: %s", taskid,
			    cause);
			return agq_remote_error(id, "not_started", msg);
		}
		return agq_remote_reply(id, json_pack("{s:o, s:I, s:i}", "task",
		    t, "generation", g, "attempt", attempt));
	}
	case AGQ_R_OUTPUT: {
		size_t len;
		json_int_t off = json_integer_value(json_object_get(req,
		    "offset"));
		void *buf = agq_remote_unb64(json_string_value(json_object_get(
		    req, "data")), &len);
		if (!buf || off < 0)
			return agq_remote_error(id, "invalid", buf ? "output: "
			    "field offset: must be >= 0" : "output: field data: "
			    "not base64 (RFC 4648)");
		int r = agq_remote_agent_output(S->R, taskid, gen,
		    json_string_value(json_object_get(req, "name")), off, buf,
		    len, &why);
		free(buf);
		if (r) {
			snprintf(msg, sizeof msg, "%s: %s", taskid, why);
			return agq_remote_error(id, r > 0 ? "stale" : "io", msg);
		}
		return agq_remote_reply(id, NULL);
	}
	case AGQ_R_RESULT: {
		json_t *ev = json_object_get(req, "exit");
		json_t *sv = json_object_get(req, "signal");
		json_int_t code = json_integer_value(ev);
		json_int_t sig = json_integer_value(sv);
		if (!ev == !sv || (ev && (code < 0 || code > 255)) ||
		    (sv && (sig < 1 || sig > 127)))
			return agq_remote_error(id, "invalid", "result: one of "
			    "exit (0 to 255) and signal (1 to 127) is required");
		int st = ev ? (int)code << 8 : (int)sig;
		int r = agq_remote_agent_result(S->R, taskid, gen, st,
		    json_is_true(json_object_get(req, "timed_out")),
		    json_is_true(json_object_get(req, "handback")),
		    json_string_value(json_object_get(req, "why")), &why);
		if (r) {
			snprintf(msg, sizeof msg, "%s (generation %lld): %s",
			    taskid, (long long)gen, why);
			return agq_remote_error(id, r > 0 ? "stale" : "held", msg);
		}
		return agq_remote_reply(id, json_pack("{s:b}", "recorded", 1));
	}
	}
	return agq_remote_error(id, "unknown_op", "no such op");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		AGQ_OPT_SPOOL,
		{ "agent", required_argument, NULL, 'a' },
		AGQ_OPT_END
	};
	struct agq_cli cl = { .usage = usage, .shortopts = "s:a:",
	    .longopts = longopts, .operands = AGQ_CLI_ANY };
	const char *only = NULL;
	int c;
	while ((c = agq_cli_next(&cl, argc, argv)) != -1)
		if (c == 'a')
			only = optarg;
	if (only && !agq_agent_name_valid(only))
		agq_die(EX_USAGE, "--agent: '%s' must match "
		    "[A-Za-z0-9._-]{1,64}", only);
	if (argc - optind > 1 || (cl.spool && optind < argc))
		agq_cli_usage(usage);
	openlog("agq-remote", LOG_PID, LOG_AUTH);
	const char *orig = getenv("SSH_ORIGINAL_COMMAND");
	if (orig)       /* the client's own command, never run: logged */
		syslog(LOG_INFO, "forced command; the client asked for: %.200s",
		    orig);
	struct srv S;
	memset(&S, 0, sizeof S);
	S.only = only;
	agq_spool_open_or_exit(&S.sp, cl.spool ? cl.spool : argv[optind]);
	signal(SIGPIPE, SIG_IGN);
	struct agq_rbuf rb = { NULL, 0, 0, 0 };
	int rc = 0;
	while (!S.bye && !rc) {
		size_t len;
		int over;
		char *line = agq_rbuf_line(&rb, &len, &over);
		if (!line) {
			ssize_t n = agq_rbuf_read(&rb, 0);
			if (n == 0 || (n < 0 && errno != EINTR))
				break;  /* the connection is gone */
			continue;
		}
		char *answer;
		json_error_t je;
		json_t *req = over ? NULL : json_loadb(line, len, 0, &je);
		if (!req) {
			char m[300];
			snprintf(m, sizeof m, "not JSON: %s", over ? "a line over "
			    "1 MiB" : je.text);
			answer = agq_remote_error(-1, "parse", m);
		} else {
			json_int_t id;
			const char *code;
			char err[300];
			int op = agq_remote_check(req, &id, &code, err,
			    sizeof err);
			answer = op < 0 ? agq_remote_error(id, code, err) :
			    serve(&S, req, op, id);
		}
		json_decref(req);
		free(line);
		if (agq_write_all(1, answer, strlen(answer)) < 0)
			rc = EX_IOERR;
		free(answer);
	}
	agq_remote_agent_close(S.R, S.bye);
	json_decref(S.reg);
	agq_rbuf_free(&rb);
	agq_spool_close(&S.sp);
	closelog();
	return rc;
}
