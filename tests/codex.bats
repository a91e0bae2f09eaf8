#!/usr/bin/env bats
# The real codex CLI (@openai/codex from npm) driven by a real agq-run
# through agq's cli backend, against tests/fakeresponses.py, a loopback
# Responses API whose first answer is an apply_patch tool call adding
# hello.txt: with the shipped lock (-s workspace-write) a task with git
# comes back with the file committed on its branch, pushed to a bare origin
# and opened as a PR record; in codex's default read-only sandbox the
# refused write is a failed attempt whose reason names the refusal.

load helper

# real_codex: the real codex CLI ($AGQ_TEST_CODEX, else codex in PATH; the
# test is skipped without it), talking to tests/fakeresponses.py through a
# model provider of its own in $CODEX_HOME/config.toml (codex 0.171 reads
# neither OPENAI_BASE_URL nor a base URL on its command line for its
# built-in openai provider; a custom provider has no WebSocket transport
# to fall back from).  An empty $WORK/w, the agent's own directory (codex
# refuses to run outside a git work tree without --skip-git-repo-check:
# the task's worktree is one).  $WORK/origin.git: a bare origin whose main
# has a.txt.
real_codex() {
	local c=${AGQ_TEST_CODEX:-$(command -v codex)}
	[ -n "$c" ] && "$c" --version 2>/dev/null | grep -q "^codex-cli " ||
	    skip "the real codex CLI is not installed (npm install --prefix DIR @openai/codex; AGQ_TEST_CODEX=DIR/node_modules/.bin/codex)"
	mkdir -p "$WORK/fakebin" "$WORK/home/.codex" "$WORK/w"
	ln -sf "$c" "$WORK/fakebin/codex"
	fake_server fakeresponses.py r
	cat > "$WORK/home/.codex/config.toml" <<TOML
model_provider = "fake"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.fake]
name = "fake Responses API"
base_url = "http://127.0.0.1:$(cat "$WORK/rport")/v1"
wire_api = "responses"
env_key = "OPENAI_API_KEY"
TOML
	mkdir -p "$WORK/src" && echo a > "$WORK/src/a.txt"
	GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t \
	    GIT_COMMITTER_EMAIL=t@t git_origin
	export PATH="$WORK/fakebin:$PATH" HOME="$WORK/home" \
	    CODEX_HOME="$WORK/home/.codex" OPENAI_API_KEY=sk-fake-0123
	echo "cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" \
	    >> "$AGQ_CONF"
}

result() { jq -r "$2" "$AGQ_SPOOL/out/$1/result.json"; }

@test "a git prompt task for the real codex through agq-run: the shipped lock writes the file in the task's worktree; committed on its branch, pushed, a PR record; tokens recorded" {
	real_codex
	start_sched
	cd "$WORK/w"
	start_agent c1 --backend cli
	local id
	id=$(agq-submit --git "$WORK/origin.git" --title "Say hello" \
	    --backend cli --model codex/gpt-5.5 --max-attempts 1 \
	    --prompt "create hello.txt with a greeting" --verify "test -s hello.txt")
	wait_for 120 is_state "$id" done || {
		cat "$AGQ_SPOOL/out/$id/"* "$BATS_TEST_TMPDIR"/agent-c1.log
		false
	}
	local br=c1/say-hello
	[ "$(git -C "$WORK/origin.git" show "$br:hello.txt")" = "hello from codex" ]
	[ "$(git -C "$WORK/origin.git" show --name-only --format= "$br")" = hello.txt ]
	git -C "$WORK/origin.git" log -1 --format=%B "$br" | grep -qx "Agq-Task: $id"
	local prid
	prid=$(jq -r .attempts[-1].git.pr "$AGQ_SPOOL/done/$id.json")
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" .branch "$br"
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" .head \
	    "$(git -C "$WORK/origin.git" rev-parse "$br")"
	[ "$(result "$id" .status)" = done ]
	[ "$(result "$id" .model)" = codex/gpt-5.5 ]
	# two requests of 20 tokens in and 5 out, as codex sums them
	[ "$(result "$id" .tokens_in)" = 40 ] && [ "$(result "$id" .tokens_out)" = 10 ]
	[[ "$(result "$id" '.iterations[0].backend.session_id')" =~ ^[0-9a-f-]{36}$ ]]
	# codex worked in the task's worktree (its environment_context), and
	# the second request carried the patch tool's output
	jq -se 'map(select(.path == "/v1/responses")) | length == 2 and
	    (.[0].body.model == "gpt-5.5") and .[0].body.stream and
	    (.[0].headers.authorization == "Bearer sk-fake-0123") and
	    (.[0].body.input | tostring | test("<cwd>[^<]*\\.trees/")) and
	    (.[1].body.input | map(.type) | index("custom_tool_call_output"))' \
	    "$WORK/rreq"
	# the agent's own directory stayed as it was
	[ ! -e "$WORK/w/hello.txt" ]
}

@test "the real codex in its read-only sandbox (a lock without -s workspace-write): the refused write is a failed attempt whose reason names the refusal, not a commit" {
	real_codex
	jq '.codex.argv -= ["-s", "workspace-write"]' \
	    "${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" > "$WORK/lock.json"
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	start_sched
	start_agent c1 --backend cli
	local id
	id=$(agq-submit --git "$WORK/origin.git" --title "Say hello" \
	    --backend cli --model codex/gpt-5.5 --max-attempts 1 \
	    --prompt "create hello.txt with a greeting")
	wait_for 120 is_state "$id" dead || {
		cat "$AGQ_SPOOL/out/$id/"* "$BATS_TEST_TMPDIR"/agent-c1.log
		false
	}
	jq -e '.reason | contains("backend cli: codex was refused a tool use: patch rejected: writing is blocked by read-only sandbox")' \
	    "$AGQ_SPOOL/dead/$id.json"
	[ "$(result "$id" .agent_status)" = backend_error ]
	run agq-show "$id"
	[[ "$output" == *"patch rejected: writing is blocked by read-only sandbox"* ]]
	# nothing committed, pushed or opened
	! git -C "$WORK/origin.git" rev-parse -q --verify c1/say-hello
	[ -z "$(ls "$AGQ_SPOOL/prs/open" 2>/dev/null)" ]
}

@test "cli codex: error events before turn.completed are notices; a refusal codex only logs on standard error fails the call (stand-ins in codex 0.171's shapes)" {
	mkdir -p "$WORK/fakebin"
	echo "cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" >> "$AGQ_CONF"
	# the built-in provider falling back from WebSockets to HTTPS
	cat > "$WORK/fakebin/codex" <<'SH'
#!/bin/sh
cat <<'J'
{"type":"thread.started","thread_id":"01a24ce0-6916-7422-9ac9-fe370a6d4f03"}
{"type":"turn.started"}
{"type":"error","message":"Reconnecting... 1/5 (stream disconnected before completion: websocket closed)"}
{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Falling back from WebSockets to HTTPS transport."}}
{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"done"}}
{"type":"turn.completed","usage":{"input_tokens":40,"cached_input_tokens":0,"output_tokens":10}}
J
SH
	chmod +x "$WORK/fakebin/codex"
	export PATH="$WORK/fakebin:$PATH"
	BE="$AGQ_TEST_BIN/../libexec/agq"
	run sh -c 'echo "{\"prompt\": \"x\", \"model\": \"codex\"}" | "$1/cli"' _ "$BE"
	[ "$status" -eq 0 ]
	[ "$(jq -r .output <<<"$output")" = done ]
	# read-only: the patch rejected, only the model and standard error know
	cat > "$WORK/fakebin/codex" <<'SH'
#!/bin/sh
echo 'Reading additional input from stdin...' >&2
echo '2026-12-06T19:54:59.074932Z ERROR codex_core::tools::router: error=patch rejected: writing is blocked by read-only sandbox; rejected by user approval settings' >&2
echo '{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"I could not write hello.txt."}}'
echo '{"type":"turn.completed","usage":{"input_tokens":40,"output_tokens":10}}'
SH
	run sh -c 'echo "{\"prompt\": \"x\", \"model\": \"codex\"}" | "$1/cli" 2>/dev/null' _ "$BE"
	[ "$status" -eq 1 ]
	[ "$(jq -r .error <<<"$output")" = "codex was refused a tool use: patch rejected: writing is blocked by read-only sandbox; rejected by user approval settings; the CLI lock's -s (sandbox mode) must allow it" ]
	[ "$(jq -r .tokens_in <<<"$output")" = 40 ]
}
