/* Unit tests for the CLI lock file's command lines (backend.c):
 * agq_cli_argv (the {prompt}, {model}, {model_args} and {session_id}
 * placeholders, stdin_args, resume_args) and agq_cli_prompt_on_stdin
 * (prompt_via, the 64 KiB limit); agq-backend(7), The CLI lock file. */
#include "agq.h"
#include "backend.h"
#include "unit.h"

/* The command line A (taken; NULL: none), joined with spaces, is WANT. */
static int
joined_is(json_t *a, const char *want)
{
	char got[512] = "";
	size_t i, o = 0;
	json_t *v;
	json_array_foreach(a, i, v)
		o += (size_t)snprintf(got + o, sizeof got - o, "%s%s", i ? " " :
		    "", json_string_value(v));
	int ok = a && !strcmp(got, want);
	if (!ok)
		printf("# got \"%s\", want \"%s\"\n", got, want);
	json_decref(a);
	return ok;
}

/* agq_cli_argv of the lock entry ENTRY resuming SESSION, joined with
 * spaces, is WANT. */
static int
resume_is(const char *entry, const char *prompt, const char *model,
          const char *session, int on_stdin, const char *want)
{
	json_t *e = json_loads(entry, 0, NULL);
	json_t *a = e ? agq_cli_argv(e, prompt, model, session, on_stdin) :
	    NULL;
	json_decref(e);
	return joined_is(a, want);
}

/* The same, for a new session. */
static int
argv_is(const char *entry, const char *prompt, const char *model,
        int on_stdin, const char *want)
{
	return resume_is(entry, prompt, model, NULL, on_stdin, want);
}

static int
via(const char *entry, size_t len)
{
	json_t *e = json_loads(entry, 0, NULL);
	int r = agq_cli_prompt_on_stdin(e, len);
	json_decref(e);
	return r;
}

#define CLAUDE "{\"argv\": [\"claude\", \"-p\", \"{model_args}\", \"--\", " \
    "\"{prompt}\"], \"model_args\": [\"--model\", \"{model}\"], " \
    "\"resume_args\": [\"--resume\", \"{session_id}\"]}"
#define OLD "{\"argv\": [\"claude\", \"-p\", \"{prompt}\"], " \
    "\"model_args\": [\"--model\", \"{model}\"], " \
    "\"resume_args\": [\"--resume\", \"{session_id}\"]}"
#define CODEX "{\"argv\": [\"codex\", \"exec\", \"{model_args}\", \"--\", " \
    "\"{prompt}\"], \"model_args\": [\"-m\", \"{model}\"], " \
    "\"stdin_args\": [\"-\"], \"resume_args\": [\"resume\", " \
    "\"{session_id}\"]}"

/* agq_cli_argv_mcp of ENTRY (model M, no session), joined, is WANT. */
static int
mcp_is(const char *entry, const char *want)
{
	json_t *e = json_loads(entry, 0, NULL);
	struct agq_cli_mcp m = { "/o/mcp.json", "\"/b/agq-mcp\"",
	    "{AGQ_TASK_ID = \"t-1\"}" };
	json_t *a = agq_cli_argv_mcp(e, "hi", "m", NULL, 0, &m);
	json_decref(e);
	return joined_is(a, want);
}

int
main(void)
{
	CHECK(argv_is(CLAUDE, "-x", "sonnet", 0,
	    "claude -p --model sonnet -- -x"), "{model_args} before --");
	CHECK(argv_is(CLAUDE, "hi", NULL, 0, "claude -p -- hi"),
	    "{model_args} without a model is nothing");
	CHECK(argv_is(OLD, "hi", "opus", 0, "claude -p hi --model opus"),
	    "no placeholder: model flags last, as before");
	CHECK(argv_is(OLD, "hi", NULL, 0, "claude -p hi"),
	    "no placeholder, no model");
	CHECK(argv_is(CLAUDE, "big", "sonnet", 1, "claude -p --model sonnet --"),
	    "on stdin without stdin_args: {prompt} dropped");
	CHECK(argv_is(CODEX, "big", "o4", 1, "codex exec -m o4 -- -"),
	    "on stdin: stdin_args in place of {prompt}");
	CHECK(argv_is("{\"argv\": [\"t\", \"--model={model}\", \"{model}\"]}",
	    "p", "m", 0, "t --model={model} m"),
	    "only whole elements are placeholders");
	CHECK(resume_is(CLAUDE, "hi", "sonnet", "s-1", 0,
	    "claude -p --resume s-1 --model sonnet -- hi"),
	    "resume_args at {model_args}, before the model flags");
	CHECK(resume_is(CLAUDE, "hi", NULL, "s-1", 0,
	    "claude -p --resume s-1 -- hi"), "resume_args without a model");
	CHECK(resume_is(CODEX, "big", "o4", "t-9", 1,
	    "codex exec resume t-9 -m o4 -- -"),
	    "codex: the resume subcommand, then its options");
	CHECK(resume_is(OLD, "hi", "opus", "s-1", 0,
	    "claude -p hi --resume s-1 --model opus"),
	    "no placeholder: resume_args last, before the model flags");
	CHECK(resume_is("{\"argv\": [\"t\", \"{model_args}\", \"{session_id}\"]}",
	    "p", NULL, "s-1", 0, "t s-1"),
	    "no resume_args: nothing resumed; {session_id} anywhere");
	CHECK(via(CLAUDE, AGQ_CLI_ARGV_MAX) == 0, "64 KiB on argv");
	CHECK(via(CLAUDE, AGQ_CLI_ARGV_MAX + 1) == 1, "over 64 KiB on stdin");
	CHECK(via("{\"prompt_via\": \"stdin\"}", 1) == 1, "prompt_via stdin");
	CHECK(via("{\"prompt_via\": \"argv\"}", 10) == 0, "prompt_via argv");
	CHECK(via("{\"prompt_via\": \"file\"}", 10) == -1, "bad prompt_via");
	/* mcp_args after the model's, their placeholders filled inside
	 * elements; none without mcp */
	CHECK(mcp_is("{\"argv\": [\"claude\", \"-p\", \"{model_args}\", "
	    "\"--\", \"{prompt}\"], \"model_args\": [\"--model\", "
	    "\"{model}\"], \"mcp_args\": [\"--mcp-config\", \"{mcp_config}\"]}",
	    "claude -p --model m --mcp-config /o/mcp.json -- hi"),
	    "mcp_args: claude's --mcp-config FILE after the model's");
	CHECK(mcp_is("{\"argv\": [\"codex\", \"{model_args}\", \"{prompt}\"], "
	    "\"mcp_args\": [\"-c\", \"mcp_servers.agq.command={mcp_command}\", "
	    "\"-c\", \"mcp_servers.agq.env={mcp_env}\"]}",
	    "codex -c mcp_servers.agq.command=\"/b/agq-mcp\" -c "
	    "mcp_servers.agq.env={AGQ_TASK_ID = \"t-1\"} hi"),
	    "mcp_args: codex's -c KEY={mcp_command} filled inside");
	CHECK(argv_is("{\"argv\": [\"claude\", \"{model_args}\", "
	    "\"{prompt}\"], \"mcp_args\": [\"--mcp-config\", \"x\"]}", "hi",
	    NULL, 0, "claude hi"), "mcp_args: none for a task without mcp");
	DONE();
}
