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

@test "cli: claude -p --output-format json, codex exec --json and gemini -p as pinned in cli-lock.json" {
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
	printf '#!/bin/sh\necho "$@" > "$AGQ_ARGS"\necho plain answer\n' > "$WORK/fakebin/gemini"
	chmod +x "$WORK/fakebin"/*
	export PATH="$WORK/fakebin:$PATH" AGQ_ARGS="$WORK/args"
	run call cli claude/sonnet "fix it"
	[ "$status" -eq 0 ]
	[ "$(field output)" = "done it" ] && [ "$(field tokens_in)" = 15 ]
	[ "$(field tokens_out)" = 7 ] && [ "$(field cost_usd)" = 0.042 ]
	[ "$(cat "$WORK/args")" = "-p fix it --output-format json --model sonnet" ]
	run call cli codex
	[ "$status" -eq 0 ]
	[ "$(field output)" = patched ] && [ "$(field tokens_in)" = 100 ]
	[ "$(cat "$WORK/args")" = "exec --json hello" ]
	run call cli gemini
	[ "$status" -eq 0 ]
	[ "$(field output)" = "plain answer" ]
	[ "$(cat "$WORK/args")" = "-p hello" ]
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
