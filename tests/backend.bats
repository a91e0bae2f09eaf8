#!/usr/bin/env bats
# The backends of agq-backend(7) against tests/fakeapi.py, a local server
# answering in each API's real format, and with errors, timeouts,
# truncated and non-JSON bodies; the shell and cli backends with stand-in
# programs.

load helper

BE="$AGQ_TEST_BIN/../libexec/agq"
KEY="sk-test-SECRET-0123456789"

setup_file() { fake_api_start; }
teardown_file() { fake_api_stop; }

# conf: point every HTTP backend at the fake server; 1 s timeout.
conf() {
	local port
	port=$(cat "$FAKE_DIR/port")
	cat >> "$AGQ_CONF" <<CONF
ollama_url = http://127.0.0.1:$port
openai_url = http://127.0.0.1:$port/
anthropic_url = http://127.0.0.1:$port
backend_timeout = 1
prices = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/prices.json
cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json
CONF
	unset OPENAI_API_KEY ANTHROPIC_API_KEY
}

# call BACKEND MODEL [PROMPT]: run a backend, result in $WORK/res.json.
call() {
	printf '{"prompt": "%s", "model": "%s"}' "${3:-hello}" "$2" |
	    "$BE/$1" > "$WORK/res.json" 2> "$WORK/err"
}

field() { jq -r ".$1" "$WORK/res.json"; }

@test "ollama: POST /api/chat, non-streaming; tokens from prompt_eval_count and eval_count" {
	conf
	run call ollama llama3.1:8b "say hi"
	[ "$status" -eq 0 ]
	[ "$(field status)" = ok ]
	[ "$(field output)" = "echo: say hi" ]
	[ "$(field tokens_in)" = 26 ] && [ "$(field tokens_out)" = 290 ]
	[ "$(field cost_usd)" = 0 ]
	[ "$(field backend)" = ollama ] && [ "$(field model)" = llama3.1:8b ]
	[ "$(field error)" = null ]
	[[ "$(field endpoint)" == http://127.0.0.1:* ]]
	tail -1 "$FAKE_DIR/requests" | jq -e '.path == "/api/chat" and
	    .body.stream == false and .body.messages[0].role == "user"'
}

@test "openai: POST /v1/chat/completions with a bearer key; usage and price" {
	conf
	OPENAI_API_KEY=$KEY run call openai gpt-4o-mini
	[ "$status" -eq 0 ]
	[ "$(field output)" = "echo: hello" ]
	[ "$(field tokens_in)" = 9 ] && [ "$(field tokens_out)" = 12 ]
	# (9 * 0.15 + 12 * 0.60) / 1e6
	jq -e '.cost_usd > 0.0000085 and .cost_usd < 0.0000086' "$WORK/res.json"
	tail -1 "$FAKE_DIR/requests" | jq -e --arg k "Bearer $KEY" \
	    '.path == "/v1/chat/completions" and .headers.Authorization == $k'
	! grep -q "$KEY" "$WORK/res.json" "$WORK/err"
}

@test "openai without a key (a local server) sends no Authorization; unpriced model costs null" {
	conf
	run call openai local-model
	[ "$status" -eq 0 ]
	[ "$(field cost_usd)" = null ]
	tail -1 "$FAKE_DIR/requests" | jq -e '.headers.Authorization == null'
}

@test "anthropic: /v1/messages with x-api-key from the file named in agq.conf and anthropic-version" {
	conf
	printf '%s\n' "$KEY" > "$WORK/key"
	echo "anthropic_key_file = $WORK/key" >> "$AGQ_CONF"
	run call anthropic claude-sonnet-4-5
	[ "$status" -eq 0 ]
	[ "$(field output)" = "echo: hello" ]
	[ "$(field tokens_in)" = 2095 ] && [ "$(field tokens_out)" = 503 ]
	# (2095 * 3 + 503 * 15) / 1e6
	jq -e '.cost_usd > 0.013829 and .cost_usd < 0.013831' "$WORK/res.json"
	tail -1 "$FAKE_DIR/requests" | jq -e --arg k "$KEY" '.path ==
	    "/v1/messages" and .headers["x-api-key"] == $k and
	    .headers["anthropic-version"] == "2023-06-01" and
	    .body.max_tokens > 0'
	! grep -q "$KEY" "$WORK/res.json" "$WORK/err"
}

@test "anthropic without a key fails before any request, saying where a key comes from" {
	conf
	n=$(wc -l < "$FAKE_DIR/requests")
	run call anthropic claude-sonnet-4-5
	[ "$status" -eq 1 ]
	[ "$(field status)" = error ]
	[[ "$(field error)" == *"no API key"*ANTHROPIC_API_KEY*anthropic_key_file* ]]
	[ "$(wc -l < "$FAKE_DIR/requests")" -eq "$n" ]
}

@test "HTTP errors, non-JSON, truncated and wrongly shaped bodies give a clear error and exit 1" {
	conf
	export ANTHROPIC_API_KEY=$KEY OPENAI_API_KEY=$KEY
	for b in ollama openai anthropic; do
		run call "$b" http500
		[ "$status" -eq 1 ]
		[[ "$(field error)" == "HTTP 500: "* ]]
		run call "$b" garbage
		[ "$status" -eq 1 ]
		[[ "$(field error)" == *"not JSON"*"Bad Gateway"* ]]
		run call "$b" truncated
		[ "$status" -eq 1 ]
		[[ "$(field error)" == "truncated response"* ]]
		run call "$b" badshape
		[ "$status" -eq 1 ]
		[[ "$(field error)" == *"no message text"* ]]
		[ "$(field status)" = error ] && [ "$(field backend)" = "$b" ]
		! grep -q "$KEY" "$WORK/res.json" "$WORK/err"
	done
	grep -q "^agq-anthropic: response has no message text" "$WORK/err"
}

@test "a timeout and a refused connection fail the call with what happened" {
	conf
	run call ollama timeout
	[ "$status" -eq 1 ]
	[[ "$(field error)" == "timed out after 1 s"* ]]
	echo "ollama_url = http://127.0.0.1:1" >> "$AGQ_CONF"
	run call ollama llama3
	[ "$status" -eq 1 ]
	[[ "$(field error)" == "cannot connect"*"127.0.0.1:1/api/chat)" ]]
}

@test "no model anywhere, or a bad task on stdin, is an error result" {
	conf
	printf '{"prompt": "x"}' | "$BE/ollama" > "$WORK/res.json" || rc=$?
	[ "${rc:-0}" -eq 1 ]
	[[ "$(field error)" == "no model"* ]]
	rc=0
	printf '{"title": "neither"}' | "$BE/ollama" > "$WORK/res.json" || rc=$?
	[ "$rc" -eq 65 ]
	[[ "$(field error)" == *"field cmd: missing"* ]]
}

@test "shell: runs cmd, zero tokens, model none; a failing command is an error" {
	conf
	printf '{"cmd": "echo out; echo err >&2"}' | "$BE/shell" > "$WORK/res.json"
	[ "$(field status)" = ok ] && [ "$(field output)" = out ]
	[ "$(field model)" = none ] && [ "$(field tokens_in)" = 0 ]
	[ "$(field cost_usd)" = 0 ]
	rc=0
	printf '{"cmd": ["sh", "-c", "exit 3"]}' | "$BE/shell" > "$WORK/res.json" || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(field error)" = "the command exited with status 3" ]
}

@test "cli: claude -p --output-format json, codex exec --json and gemini --output-format json (the prompt on stdin) as pinned in cli-lock.json" {
	conf
	mkdir -p "$WORK/fakebin"
	cat > "$WORK/fakebin/claude" <<'SH'
#!/bin/sh
echo "$@" > "$AGQ_ARGS"
printf '{"type":"result","subtype":"success","is_error":false,"result":"done it","total_cost_usd":0.042,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"output_tokens":7}}\n'
SH
	cat > "$WORK/fakebin/codex" <<'SH'
#!/bin/sh
echo "$@" > "$AGQ_ARGS"
echo '{"type":"thread.started","thread_id":"t1"}'
echo '{"type":"item.completed","item":{"id":"i1","type":"agent_message","text":"patched"}}'
echo '{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":0,"output_tokens":20}}'
SH
	# gemini 0.61 -o json: response, stats.models.M.tokens, session_id
	cat > "$WORK/fakebin/gemini" <<'SH'
#!/bin/sh
echo "$@" > "$AGQ_ARGS"
cat > "$AGQ_ARGS.in"
echo "${GEMINI_CLI_NO_RELAUNCH-unset}" > "$AGQ_ARGS.env"
printf '{"session_id":"g-1","response":"edited","stats":{"models":{"gemini-2.5-pro":{"api":{"totalRequests":2},"tokens":{"input":30,"prompt":40,"candidates":9,"total":52,"cached":10,"thoughts":3,"tool":0}}},"tools":{"totalCalls":1}}}\n'
SH
	chmod +x "$WORK/fakebin"/*
	export PATH="$WORK/fakebin:$PATH" AGQ_ARGS="$WORK/args"
	run call cli claude/sonnet "fix it"
	[ "$status" -eq 0 ]
	[ "$(field output)" = "done it" ] && [ "$(field tokens_in)" = 15 ]
	[ "$(field tokens_out)" = 7 ] && [ "$(field cost_usd)" = 0.042 ]
	[ "$(cat "$WORK/args")" = "-p --output-format json --permission-mode acceptEdits --model sonnet -- fix it" ]
	run call cli codex
	[ "$status" -eq 0 ]
	[ "$(field output)" = patched ] && [ "$(field tokens_in)" = 100 ]
	[ "$(cat "$WORK/args")" = "exec --json -s workspace-write -- hello" ]
	run call cli gemini/gemini-2.5-pro "-rf fix"
	[ "$status" -eq 0 ]
	[ "$(field output)" = edited ] && [ "$(field session_id)" = g-1 ]
	[ "$(field tokens_in)" = 40 ] && [ "$(field tokens_out)" = 12 ]
	[ "$(cat "$WORK/args")" = "--skip-trust --approval-mode auto_edit --output-format json -m gemini-2.5-pro" ]
	[ "$(cat "$WORK/args.in")" = "-rf fix" ]
	# the lock's env: gemini told not to start itself a second time
	[ "$(cat "$WORK/args.env")" = true ]
	# its error object, exit 41 (FATAL_AUTHENTICATION_ERROR)
	printf '#!/bin/sh\necho "{\\"session_id\\":\\"g-2\\",\\"error\\":{\\"type\\":\\"Error\\",\\"message\\":\\"Invalid auth method selected.\\",\\"code\\":41}}"; exit 41\n' > "$WORK/fakebin/gemini"
	run call cli gemini
	[ "$status" -eq 1 ]
	[ "$(field error)" = "gemini exited with status 41: gemini reported an error (Error): Invalid auth method selected." ]
	printf '#!/bin/sh\necho "{\\"is_error\\":true,\\"result\\":\\"quota\\"}"; exit 1\n' > "$WORK/fakebin/claude"
	run call cli claude
	[ "$status" -eq 1 ]
	[ "$(field error)" = "claude exited with status 1" ]
	run call cli nosuchtool
	[ "$status" -eq 1 ]
	[[ "$(field error)" == *"no CLI 'nosuchtool'"* ]]
}

@test "every backend answers --help" {
	for b in shell ollama openai anthropic cli; do
		run "$BE/$b" --help
		[ "$status" -eq 0 ]
		[[ "$output" == usage:* ]]
	done
}

@test "the Makefile builds one executable per row of the table of backends" {
	# BACKENDS is read from lib/backends.c; the compiled table is what
	# agq-doctor checks: a row the Makefile misses, or a stray name, fails
	local top=${AGQ_TOP:-$BATS_TEST_DIRNAME/..} made table b
	made=$(make -s --no-print-directory -C "$top" print-BACKENDS)
	# the backends' rows only: no CLI of the lock is started (node's
	# take seconds each; doctor.bats checks them)
	jq 'map_values(if type == "object" and (.argv | type) == "array"
	    then .argv[0] = "agq-no-such-cli" else . end)' \
	    "$top/etc/cli-lock.json" > "$WORK/lock.json"
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	table=$(agq-doctor --json | jq -r '[.checks[].check |
	    select(startswith("backend ")) | ltrimstr("backend ")] | join(" ")')
	echo "Makefile: $made"
	echo "table:    $table"
	[ -n "$table" ] && [ "$made" = "$table" ]
	for b in $table; do [ -x "$BE/$b" ]; done
}

# base_conf: like conf, without the HTTP backends' *_url settings.
base_conf() {
	conf
	sed -i '/_url = /d' "$AGQ_CONF"
}

@test "ANTHROPIC_BASE_URL and OPENAI_BASE_URL are honoured as the vendors' SDKs read them (OpenAI's with its /v1)" {
	base_conf
	local port
	port=$(cat "$FAKE_DIR/port")
	export ANTHROPIC_API_KEY=$KEY
	ANTHROPIC_BASE_URL=http://127.0.0.1:$port run call anthropic claude-sonnet-4-5
	[ "$status" -eq 0 ]
	[ "$(field output)" = "echo: hello" ]
	[ "$(field endpoint)" = "http://127.0.0.1:$port" ]
	tail -1 "$FAKE_DIR/requests" | jq -e '.path == "/v1/messages"'
	OPENAI_BASE_URL=http://127.0.0.1:$port/v1/ run call openai gpt-4o-mini
	[ "$status" -eq 0 ]
	[ "$(field output)" = "echo: hello" ]
	[ "$(field endpoint)" = "http://127.0.0.1:$port" ]
	tail -1 "$FAKE_DIR/requests" | jq -e '.path == "/v1/chat/completions"'
}

@test "agq.conf's *_url beats the environment; a task's own env never sets the base URL" {
	conf
	local port
	port=$(cat "$FAKE_DIR/port")
	export ANTHROPIC_API_KEY=$KEY
	# the environment points nowhere; agq.conf's anthropic_url wins
	ANTHROPIC_BASE_URL=http://127.0.0.1:9/nowhere run call anthropic claude-sonnet-4-5
	[ "$status" -eq 0 ]
	[ "$(field endpoint)" = "http://127.0.0.1:$port" ]
	# without agq.conf's, a task's env naming a URL is ignored: the
	# operator's environment only (a key must not go where a task says)
	sed -i '/_url = /d' "$AGQ_CONF"
	printf '{"prompt": "hello", "model": "m", "env": {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}}' |
	    ANTHROPIC_BASE_URL=http://127.0.0.1:$port "$BE/anthropic" > "$WORK/res.json" 2> "$WORK/err" || true
	[ "$(field endpoint)" = "https://api.anthropic.com" ]
}

# lock JSON: a CLI lock file of the test's own, named in agq.conf (after
# conf, whose cli_lock it overrides); stand-ins go in $WORK/fakebin.
lock() {
	printf '%s\n' "$1" > "$WORK/lock.json"
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	mkdir -p "$WORK/fakebin"
	export PATH="$WORK/fakebin:$PATH" AGQ_ARGS="$WORK/args"
}

# stand_in NAME BODY: a stand-in CLI that writes its arguments one per
# line to $AGQ_ARGS and the bytes of its standard input to $AGQ_ARGS.in,
# then runs BODY (sh).
stand_in() {
	{
		printf '#!/bin/sh\nprintf "%%s\\n" "$@" > "$AGQ_ARGS"\n'
		printf 'wc -c > "$AGQ_ARGS.in"\n%s\n' "$2"
	} > "$WORK/fakebin/$1"
	chmod +x "$WORK/fakebin/$1"
}

CLAUDE_OK="printf '%s\n' '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"ok\",\"session_id\":\"s-1\",\"permission_denials\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}'"

@test "cli: {model_args} puts the model flags where the lock says, before \"--\"; a prompt starting with - stays the prompt" {
	conf
	lock '{"claude": {"argv": ["claude", "-p", "--output-format", "json",
	    "--permission-mode", "acceptEdits", "{model_args}", "--", "{prompt}"],
	    "model_args": ["--model", "{model}"], "format": "claude-json"}}'
	stand_in claude "$CLAUDE_OK"
	run call cli claude/sonnet "-rf everything"
	[ "$status" -eq 0 ]
	[ "$(paste -sd' ' "$WORK/args")" = "-p --output-format json --permission-mode acceptEdits --model sonnet -- -rf everything" ]
	[ "$(cat "$WORK/args.in")" -eq 0 ]
	[ "$(field session_id)" = s-1 ]
	# no model: the placeholder stands for nothing
	run call cli claude "hi"
	[ "$status" -eq 0 ]
	[ "$(paste -sd' ' "$WORK/args")" = "-p --output-format json --permission-mode acceptEdits -- hi" ]
}

@test "cli: a prompt over 64 KiB goes on standard input (stdin_args in place of {prompt}); prompt_via stdin always" {
	conf
	lock '{"codex": {"argv": ["codex", "exec", "--json", "{model_args}", "--", "{prompt}"],
	    "model_args": ["-m", "{model}"], "stdin_args": ["-"], "format": "codex-jsonl"},
	  "claude": {"argv": ["claude", "-p", "--output-format", "json", "--", "{prompt}"],
	    "format": "claude-json", "prompt_via": "stdin"},
	  "odd": {"argv": ["odd", "{prompt}"], "format": "text", "prompt_via": "pipe"}}'
	stand_in codex "echo '{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\",\"text\":\"read\"}}'"
	stand_in claude "$CLAUDE_OK"
	big=$(head -c 70000 /dev/zero | tr '\0' x)
	run call cli codex/o4 "$big"
	[ "$status" -eq 0 ]
	[ "$(field output)" = read ]
	[ "$(paste -sd' ' "$WORK/args")" = "exec --json -m o4 -- -" ]
	[ "$(cat "$WORK/args.in")" -ge 70000 ]
	# 64 KiB exactly stays on the command line
	run call cli codex/o4 "$(head -c 65536 /dev/zero | tr '\0' y)"
	[ "$status" -eq 0 ]
	[ "$(wc -l < "$WORK/args")" -eq 5 ] && [ "$(cat "$WORK/args.in")" -eq 0 ]
	run call cli claude "small"
	[ "$status" -eq 0 ]
	[ "$(paste -sd' ' "$WORK/args")" = "-p --output-format json --" ]
	[ "$(cat "$WORK/args.in")" -eq 5 ]
	run call cli odd "x"
	[ "$status" -eq 1 ]
	[[ "$(field error)" == *"bad prompt_via for 'odd'"* ]]
}

@test "cli: claude's own verdict: a refused write (permission_denials) fails naming the tool; is_error and subtype; session_id kept" {
	conf
	lock '{"claude": {"argv": ["claude", "-p", "--output-format", "json", "--", "{prompt}"],
	    "format": "claude-json"}}'
	# the shape of claude 2.1 -p --output-format json when Write is refused
	stand_in claude "cat <<'J'
{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":5120,\"duration_api_ms\":4980,\"num_turns\":3,\"result\":\"I need permission to write hello.txt.\",\"session_id\":\"7f0c9a52-1d2e-4b8a-9c3f-0a1b2c3d4e5f\",\"total_cost_usd\":0.0123,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":40},\"modelUsage\":{},\"permission_denials\":[{\"tool_name\":\"Write\",\"tool_use_id\":\"toolu_01A\",\"tool_input\":{\"file_path\":\"/w/hello.txt\",\"content\":\"hi\"}},{\"tool_name\":\"Bash\",\"tool_use_id\":\"toolu_01B\",\"tool_input\":{\"command\":\"make test\"}}],\"uuid\":\"u-1\"}
J"
	run call cli claude "write hello.txt"
	[ "$status" -eq 1 ]
	[ "$(field status)" = error ]
	[[ "$(field error)" == "claude was refused 2 tool uses: Write (/w/hello.txt), Bash (make test);"*"--permission-mode or --allowedTools"* ]]
	[ "$(field session_id)" = 7f0c9a52-1d2e-4b8a-9c3f-0a1b2c3d4e5f ]
	[ "$(field cost_usd)" = 0.0123 ] && [ "$(field tokens_out)" = 40 ]
	stand_in claude "echo '{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":false,\"result\":\"stopped\",\"session_id\":\"s-2\",\"permission_denials\":[]}'"
	run call cli claude "x"
	[ "$status" -eq 1 ]
	[ "$(field error)" = "claude ended with error_max_turns: stopped" ]
	# is_error, and claude exiting 1 with a line on standard error
	stand_in claude "echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"API Error: 401 invalid x-api-key\",\"session_id\":\"s-3\"}'; echo 'first line' >&2; echo 'Error: authentication failed' >&2; exit 1"
	run call cli claude "x"
	[ "$status" -eq 1 ]
	[ "$(field error)" = "claude exited with status 1: claude reported an error (success): API Error: 401 invalid x-api-key; stderr: Error: authentication failed" ]
	[ "$(field session_id)" = s-3 ]
	# standard error still reaches the backend's own (out/ID/stderr)
	grep -q "^first line$" "$WORK/err"
}

@test "cli: a task's resume_session goes in as the lock's resume_args at {model_args}; a session the CLI no longer knows is run again without it" {
	conf
	lock '{"claude": {"argv": ["claude", "-p", "--output-format", "json", "{model_args}", "--", "{prompt}"],
	    "model_args": ["--model", "{model}"], "resume_args": ["--resume", "{session_id}"],
	    "resume_missing": "No conversation found with session ID", "format": "claude-json"},
	  "codex": {"argv": ["codex", "exec", "--json", "{model_args}", "--", "{prompt}"],
	    "model_args": ["-m", "{model}"], "resume_args": ["resume", "{session_id}"],
	    "format": "codex-jsonl"},
	  "plain": {"argv": ["plain", "{prompt}"], "format": "text"}}'
	stand_in claude "$CLAUDE_OK"
	printf '{"prompt": "go on", "model": "claude/sonnet", "resume_session": "s-0"}' |
	    "$BE/cli" > "$WORK/res.json"
	[ "$(paste -sd' ' "$WORK/args")" = "-p --output-format json --resume s-0 --model sonnet -- go on" ]
	[ "$(field session_id)" = s-1 ]
	stand_in codex "echo '{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\",\"text\":\"ok\"}}'"
	printf '{"prompt": "go on", "model": "codex", "resume_session": "t-0"}' |
	    "$BE/cli" > "$WORK/res.json"
	[ "$(paste -sd' ' "$WORK/args")" = "exec --json resume t-0 -- go on" ]
	# a lock entry without resume_args resumes nothing
	stand_in plain "echo text"
	printf '{"prompt": "go on", "model": "plain", "resume_session": "p-0"}' |
	    "$BE/cli" > "$WORK/res.json"
	[ "$(paste -sd' ' "$WORK/args")" = "go on" ]
	# claude 2.1 with a session it does not know: exit 1, nothing on
	# stdout; then the call again, without --resume, and one line about it
	stand_in claude 'case "$*" in *--resume*) cp "$AGQ_ARGS" "$AGQ_ARGS.first"
	    echo "No conversation found with session ID: $5" >&2; exit 1;; esac
	'"$CLAUDE_OK"
	rc=0
	printf '{"prompt": "go on", "model": "claude", "resume_session": "gone-1"}' |
	    "$BE/cli" > "$WORK/res.json" 2> "$WORK/err" || rc=$?
	[ "$rc" -eq 0 ] && [ "$(field status)" = ok ]
	[ "$(paste -sd' ' "$WORK/args.first")" = "-p --output-format json --resume gone-1 -- go on" ]
	[ "$(paste -sd' ' "$WORK/args")" = "-p --output-format json -- go on" ]
	[ "$(field session_id)" = s-1 ]
	grep -q "^agq-cli: claude no longer knows session gone-1: running it again without resuming it$" "$WORK/err"
	# any other failure of a resumed call is the call's
	stand_in claude 'echo "Error: overloaded" >&2; exit 1'
	rc=0
	printf '{"prompt": "go on", "model": "claude", "resume_session": "s-0"}' |
	    "$BE/cli" > "$WORK/res.json" 2> "$WORK/err" || rc=$?
	[ "$rc" -eq 1 ]
	[ "$(field error)" = "claude exited with status 1: Error: overloaded" ]
	! grep -q "no longer knows" "$WORK/err"
}

@test "cli: codex's error events and the last line of its standard error become the error; thread_id kept as session_id" {
	conf
	lock '{"codex": {"argv": ["codex", "exec", "--json", "-s", "workspace-write", "--", "{prompt}"],
	    "format": "codex-jsonl"}}'
	# codex 0.17x outside a git repository: nothing on stdout, exit 1
	stand_in codex "echo 'Not inside a trusted directory and --skip-git-repo-check was not specified.' >&2; exit 1"
	run call cli codex "fix"
	[ "$status" -eq 1 ]
	[ "$(field error)" = "codex exited with status 1: Not inside a trusted directory and --skip-git-repo-check was not specified." ]
	[ "$(paste -sd' ' "$WORK/args")" = "exec --json -s workspace-write -- fix" ]
	stand_in codex "cat <<'J'
{\"type\":\"thread.started\",\"thread_id\":\"0199a213-81c0-7800-8aa1-bbab2a035a53\"}
{\"type\":\"turn.started\"}
{\"type\":\"error\",\"message\":\"stream error: exceeded retry limit, last status: 429 Too Many Requests\"}
{\"type\":\"turn.failed\",\"error\":{\"message\":\"exceeded retry limit, last status: 429 Too Many Requests\"}}
J
exit 1"
	run call cli codex "fix"
	[ "$status" -eq 75 ]    # a rate limit: throttled (agq-backend(7))
	[ "$(field status)" = throttled ]
	[ "$(field error)" = "codex exited with status 1: codex: exceeded retry limit, last status: 429 Too Many Requests" ]
	[ "$(field session_id)" = 0199a213-81c0-7800-8aa1-bbab2a035a53 ]
	# an error event with exit 0 still fails the call
	stand_in codex "echo '{\"type\":\"error\",\"message\":\"sandbox denied the write\"}'"
	run call cli codex "fix"
	[ "$status" -eq 1 ]
	[ "$(field error)" = "codex: sandbox denied the write" ]
}

# (Each start of the real claude costs about a CPU-second: a call with a
# session it does not know is also the call that writes the file, and a
# resumed session, the earlier turns sent again, is asserted once, by the
# git prompt task's second verify iteration below, and again by
# tests/demo.bats' round 2.)
@test "cli with the real claude CLI against a loopback Messages API: the shipped lock writes the file; a session it does not know is run anew; without a permission mode the refused write fails the call" {
	conf
	real_claude
	cd "$WORK/w"
	# a session id claude never saw: "No conversation found", then anew
	printf '{"prompt": "create hello.txt. cwd: %s", "model": "claude/claude-sonnet-4-5", "resume_session": "%s"}' \
	    "$WORK/w" 0b5e7a7e-0000-4000-8000-000000000001 |
	    "$BE/cli" > "$WORK/res.json" 2> "$WORK/err"
	cat "$WORK/res.json" "$WORK/err"
	[ "$(field status)" = ok ]
	grep -q "No conversation found with session ID" "$WORK/err"
	grep -q "agq-cli: claude no longer knows session 0b5e7a7e-0000-4000-8000-000000000001: running it again without resuming it" "$WORK/err"
	[ "$(cat "$WORK/w/hello.txt")" = "hello from claude" ]
	[ "$(field output)" = "wrote it" ]
	sid=$(field session_id)
	[ -n "$sid" ] && [ "$sid" != null ] &&
	    [ "$sid" != 0b5e7a7e-0000-4000-8000-000000000001 ]
	jq -se 'map(select(.path | startswith("/v1/messages"))) | length >= 2 and
	    (.[0].body.model == "claude-sonnet-4-5") and .[0].body.stream' \
	    "$WORK/mreq"
	rm "$WORK/w/hello.txt"
	# the lock before this issue: no permission mode
	lock '{"claude": {"argv": ["claude", "-p", "{prompt}", "--output-format", "json"],
	    "model_args": ["--model", "{model}"], "format": "claude-json"}}'
	run call cli claude/claude-sonnet-4-5 "create hello.txt. cwd: $WORK/w"
	cat "$WORK/res.json"
	[ "$status" -eq 1 ]
	[[ "$(field error)" == "claude was refused 1 tool use: Write ($WORK/w/hello.txt); "* ]]
	[ ! -e "$WORK/w/hello.txt" ]
}

# claude_agent: $WORK/origin.git, a bare origin of one commit, and agent
# c1 running the cli backend, for git prompt tasks.
claude_agent() {
	git init -q -b main "$WORK/src"
	echo a > "$WORK/src/a.txt"
	git -C "$WORK/src" add . &&
	    git -C "$WORK/src" -c user.name=t -c user.email=t@t commit -qm init
	git clone -q --bare "$WORK/src" "$WORK/origin.git"
	start_sched
	start_agent c1 --backend cli
}

@test "HTTP 429: status throttled, not_before from Retry-After, the account (a hash of the key, never the key), exit 75" {
	conf
	port=$(cat "$FAKE_DIR/port")
	for b in ollama openai anthropic; do
		now=$(date +%s)
		ANTHROPIC_API_KEY=$KEY OPENAI_API_KEY=$KEY run call "$b" "ratelimit-90-$b"
		[ "$status" -eq 75 ]
		[ "$(field status)" = throttled ]
		[[ "$(field error)" == "HTTP 429: "* ]]
		nb=$(date -d "$(field not_before)" +%s)
		[ "$nb" -ge $((now + 89)) ] && [ "$nb" -le $((now + 92)) ]
		case $b in
		ollama) [ "$(field account)" = "ollama@http://127.0.0.1:$port" ] ;;
		openai) [[ "$(field account)" =~ ^openai@http://127.0.0.1:$port/#[0-9a-f]{8}$ ]] ;;
		*) [[ "$(field account)" =~ ^anthropic@http://127.0.0.1:$port#[0-9a-f]{8}$ ]] ;;
		esac
		! grep -q "$KEY" "$WORK/res.json"
	done
}

@test "cli: codex's usage limit error event is throttled until its \"try again in\"" {
	conf
	lock '{"codex": {"argv": ["codex", "exec", "--json", "--", "{prompt}"],
	    "format": "codex-jsonl"}}'
	stand_in codex "echo '{\"type\":\"error\",\"message\":\"You\\u2019ve hit your usage limit. Please try again in 120s.\"}'; exit 1"
	now=$(date +%s)
	CODEX_HOME=/x/codex run call cli codex "hi"
	[ "$status" -eq 75 ]
	[ "$(field status)" = throttled ]
	[ "$(field account)" = "codex@/x/codex" ]
	nb=$(date -d "$(field not_before)" +%s)
	[ "$nb" -ge $((now + 119)) ] && [ "$nb" -le $((now + 122)) ]
}

@test "a git prompt task run by agq-run with the real claude CLI: the file it writes is committed on the task's branch and opened as a PR record; its second verify iteration runs claude --resume with the first one's session, and the attempt record keeps it" {
	conf
	real_claude
	command -v git >/dev/null || skip "no git"
	claude_agent
	# the step fails once, then passes
	local id
	id=$(agq-submit --git "$WORK/origin.git" --title "Say hello again" \
	    --backend cli --model claude/claude-sonnet-4-5 \
	    --prompt "create hello.txt with a greeting" \
	    --verify "test -e $WORK/once || { touch $WORK/once; exit 1; }")
	wait_for 120 is_state "$id" done
	local t="$AGQ_SPOOL/done/$id.json"
	jq -e '.attempts | length == 1 and (.[0].session_id | type == "string")' "$t"
	jq -e --slurpfile t "$t" '.resume_session == $t[0].attempts[0].session_id' \
	    "$AGQ_SPOOL/out/$id/backend-input.json"
	[ "$(jq -r '.iterations[1].backend.session_id' "$AGQ_SPOOL/out/$id/result.json")" = \
	    "$(jq -r '.attempts[0].session_id' "$t")" ]
	# the second iteration's request carried the first one's turns: the
	# prompt twice
	jq -se 'map(select(.path | startswith("/v1/messages")) |
	    [.body.messages | tostring | scan("create hello.txt with a greeting")] |
	    length) | max == 2' "$WORK/mreq"
	[ "$(git -C "$WORK/origin.git" show c1/say-hello-again:hello.txt)" = "hello from claude" ]
	[ "$(git -C "$WORK/origin.git" show --name-only --format= c1/say-hello-again)" = hello.txt ]
	local prid
	prid=$(jq -r .attempts[-1].git.pr "$t")
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" .branch c1/say-hello-again
	# claude worked in the worktree, not in the agent's directory
	jq -se 'map(select(.path | startswith("/v1/messages")) | .body.system |
	    if type == "array" then map(.text) | join("\n") else . end |
	    select(test("Primary working directory: .*\\.trees/")) ) | length >= 1' \
	    "$WORK/mreq"
}

# real_gemini: the real gemini CLI (@google/gemini-cli from npm):
# $AGQ_TEST_GEMINI, else gemini in PATH; the test is skipped without it.
# It talks to tests/fakegemini.py, a loopback Gemini API whose first
# answer is a write_file call of hello.txt in the prompt's "cwd: DIR".
# gemini 0.61 takes GOOGLE_GEMINI_BASE_URL alone for its "gateway" auth,
# which its non-interactive mode then refuses ("Invalid auth method
# selected."): the API key auth is selected in its settings instead.
real_gemini() {
	real_cli gemini "${AGQ_TEST_GEMINI:-$(command -v gemini)}" '^0\.' \
	    @google/gemini-cli
	mkdir -p "$WORK/home/.gemini"
	echo '{"security": {"auth": {"selectedType": "gemini-api-key"}}}' \
	    > "$WORK/home/.gemini/settings.json"
	loopback fakegemini.py gport greq
	export PATH="$WORK/fakebin:$PATH" HOME="$WORK/home" \
	    GOOGLE_GEMINI_BASE_URL="http://127.0.0.1:$(cat "$WORK/gport")" \
	    GEMINI_API_KEY=fake-gemini-key-0123
	unset CI GITHUB_ACTIONS
}

# (Each start of the real gemini costs 2 to 3 CPU-seconds: the call with
# a session it does not know is also the one that writes the file.)
@test "cli with the real gemini CLI against a loopback Gemini API: the shipped lock writes the file (prompt on stdin, JSON parsed); a retry resumes its session; a session it does not know is run anew; without --skip-trust it refuses to run" {
	conf
	real_gemini
	cd "$WORK/w"
	# a session it does not know: run anew, saying so
	printf '{"prompt": "-create hello.txt. cwd: %s", "model": "gemini/gemini-2.5-flash", "resume_session": "%s"}' \
	    "$WORK/w" 0b5e7a7e-0000-4000-8000-000000000002 |
	    "$BE/cli" > "$WORK/res.json" 2> "$WORK/err"
	cat "$WORK/res.json" "$WORK/err"
	[ "$(field status)" = ok ]
	grep -q "agq-cli: gemini no longer knows session 0b5e7a7e-0000-4000-8000-000000000002" "$WORK/err"
	[ "$(cat "$WORK/w/hello.txt")" = "hello from gemini" ]
	[ "$(field output)" = "wrote it" ]
	[ "$(field tokens_in)" = 42 ] && [ "$(field tokens_out)" = 14 ]
	sid=$(field session_id)
	[ -n "$sid" ] && [ "$sid" != null ] &&
	    [ "$sid" != 0b5e7a7e-0000-4000-8000-000000000002 ]
	jq -se 'map(select(.path | contains(":streamGenerateContent"))) |
	    length == 2 and (.[0].path | startswith("/v1beta/models/gemini-2.5-flash:")) and
	    (.[0].headers["x-goog-api-key"] == "fake-gemini-key-0123") and
	    (.[1].body.contents | tostring | contains("functionResponse"))' \
	    "$WORK/greq"
	# the next attempt resumes the session: its turns are sent again
	n=$(wc -l < "$WORK/greq")
	printf '{"prompt": "now say done", "model": "gemini/gemini-2.5-flash", "resume_session": "%s"}' "$sid" |
	    "$BE/cli" > "$WORK/res.json" 2> "$WORK/err"
	cat "$WORK/res.json" "$WORK/err"
	[ "$(field status)" = ok ] && [ "$(field session_id)" = "$sid" ]
	! grep -q "no longer knows" "$WORK/err"
	tail -n +"$((n + 1))" "$WORK/greq" | jq -se '.[0].body.contents |
	    tostring | contains("create hello.txt") and contains("now say done")'
	# a worktree is a folder gemini has never trusted: without
	# --skip-trust, auto_edit would be "default" and headless gemini exits
	jq '.gemini.argv -= ["--skip-trust"]' \
	    "${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" > "$WORK/lock.json"
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	rm "$WORK/w/hello.txt"
	run call cli gemini "create hello.txt. cwd: $WORK/w"
	cat "$WORK/res.json"
	[ "$status" -eq 1 ]
	[[ "$(field error)" == "gemini exited with status 55: "*"not running in a trusted directory"* ]]
	[ ! -e "$WORK/w/hello.txt" ]
}
