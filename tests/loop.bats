#!/usr/bin/env bats
# agq-run with agent tasks: a prompt task through its backend (against
# tests/fakeapi.py), verification after the backend, the self-verification
# loop (success on the second iteration, giving up after the budget),
# shell tasks re-run, backend errors as failed attempts, and keys kept out
# of the journal and out/.

load helper

KEY="sk-ant-test-KEY-9f8e7d6c5b4a"

setup_file() { fake_api_start; }
teardown_file() { fake_api_stop; }

run_agent() { fake_api_agent; }

result() { jq -r "$2" "$AGQ_SPOOL/out/$1/result.json"; }
requests_for() { grep -c "$1" "$FAKE_DIR/requests" || true; }

@test "a prompt task runs through its backend: output, tokens and cost in result.json and the finish event" {
	run_agent
	agq-submit <<<'{"id": "p1", "prompt": "say hello", "backend": "ollama", "model": "m-p1"}'
	wait_for 20 is_state p1 done
	[ "$(result p1 .status)" = done ]
	[ "$(result p1 .backend)" = ollama ] && [ "$(result p1 .model)" = m-p1 ]
	[ "$(result p1 .tokens_in)" = 26 ] && [ "$(result p1 .tokens_out)" = 290 ]
	[ "$(result p1 .cost_usd)" = 0 ]
	[ "$(result p1 '.iterations | length')" = 1 ]
	[ "$(cat "$AGQ_SPOOL/out/p1/output")" = "echo: say hello" ]
	grep '"ev":"finish"' "$AGQ_SPOOL/journal" | grep '"id":"p1"' |
	    jq -e '.tokens_in == 26 and .backend == "ollama" and .model == "m-p1"'
}

@test "verify fails once, the corrective prompt carries the failed step's output, the second iteration passes" {
	run_agent
	cat > "$WORK/t.json" <<JSON
{"id": "p2", "prompt": "make the marker", "backend": "ollama",
 "model": "m-p2", "cwd": "$WORK",
 "verify": [{"type": "file_exists", "path": "README"},
            {"type": "command_succeeds", "name": "marker",
             "cmd": "test -f marker || { touch marker; echo MARKER-MISSING; exit 1; }"}]}
JSON
	touch "$WORK/README"
	agq-submit < "$WORK/t.json"
	wait_for 30 is_state p2 done
	[ "$(result p2 '.iterations | length')" = 2 ]
	[ "$(result p2 '.iterations[0].status')" = verify_failed ]
	[ "$(result p2 '.iterations[0].verify.steps[0].status')" = pass ]
	[ "$(result p2 '.iterations[0].verify.steps[1].status')" = fail ]
	[ "$(result p2 '.iterations[1].status')" = done ]
	[ "$(result p2 '.verify.status')" = pass ]
	# tokens of both calls
	[ "$(result p2 .tokens_in)" = 52 ]
	[ "$(requests_for m-p2)" -eq 2 ]
	grep m-p2 "$FAKE_DIR/requests" | tail -1 | jq -e '.body.messages[0].content |
	    contains("did not pass verification") and contains("MARKER-MISSING")
	    and startswith("make the marker")'
	grep m-p2 "$FAKE_DIR/requests" | head -1 | jq -e '.body.messages[0].content |
	    contains("verification") | not'
}

@test "steps failing every iteration: dead with verify_failed and the full report, agq-retry sends it back" {
	run_agent
	agq-submit <<JSON
{"id": "p3", "prompt": "never enough", "backend": "ollama", "model": "m-p3",
 "cwd": "$WORK", "max_verify_attempts": 3, "max_attempts": 5,
 "verify": [{"type": "command_succeeds", "cmd": "echo still broken; exit 1"}]}
JSON
	wait_for 30 is_state p3 dead
	f="$AGQ_SPOOL/dead/p3.json"
	jq -e '.reason | startswith("verify_failed: 1 of 1 steps did not pass after 3 iterations")' "$f"
	jq -e '.verify_report.status == "fail" and
	    .verify_report.steps[0].output == "still broken\n"' "$f"
	jq -e '.attempts | length == 1' "$f"
	[ "$(result p3 '.iterations | length')" = 3 ]
	[ "$(result p3 '[.iterations[].status] | unique | .[0]')" = verify_failed ]
	[ "$(requests_for m-p3)" -eq 3 ]
	agq-retry p3
	wait_for 30 sh -c "[ \$(grep -c m-p3 '$FAKE_DIR/requests') -ge 6 ]"
	wait_for 30 is_state p3 dead
}

@test "a shell task with verify steps is simply re-run until its steps pass" {
	run_agent
	agq-submit <<JSON
{"id": "s1", "cmd": "echo run >> runs", "cwd": "$WORK",
 "verify": [{"type": "command_succeeds", "cmd": "[ \$(wc -l < runs) -ge 2 ]"}]}
JSON
	wait_for 30 is_state s1 done
	[ "$(wc -l < "$WORK/runs")" -eq 2 ]
	[ "$(result s1 '.iterations | length')" = 2 ]
	[ "$(result s1 .backend)" = null ]
	[ "$(result s1 .error)" = null ]
}

@test "a backend error is a failed attempt, retried with backoff, then dead with the error as reason" {
	run_agent
	agq-submit <<<'{"id": "e1", "prompt": "x", "backend": "ollama", "model": "http500", "max_attempts": 2, "backoff": 0}'
	wait_for 30 is_state e1 dead
	jq -e '.reason | contains("backend ollama: HTTP 500: model runner has crashed")' \
	    "$AGQ_SPOOL/dead/e1.json"
	jq -e '.attempts | length == 2' "$AGQ_SPOOL/dead/e1.json"
	[ "$(journal_count retry)" -eq 1 ]
	[ "$(result e1 .agent_status)" = backend_error ]
}

@test "an API key given to the agent never appears in the journal, the task files or out/" {
	export ANTHROPIC_API_KEY=$KEY
	run_agent
	agq-submit <<<'{"id": "k1", "prompt": "secret work", "backend": "anthropic", "model": "claude-sonnet-4-5"}'
	agq-submit <<<'{"id": "k2", "prompt": "failing", "backend": "anthropic", "model": "http500", "max_attempts": 1}'
	wait_for 30 is_state k1 done
	wait_for 30 is_state k2 dead
	grep -q "$KEY" "$FAKE_DIR/requests"       # it was sent ...
	! grep -rq "$KEY" "$AGQ_SPOOL"              # ... and never stored
	jq -e '.cost_usd > 0.0138 and .tokens_out == 503' "$AGQ_SPOOL/out/k1/result.json"
}

@test "an agent CLI's refused write is a failed attempt whose reason names the tool; its session_id is kept in the iteration" {
	mkdir -p "$WORK/fakebin"
	# claude 2.1's answer when Write was refused: exit 0, is_error false
	cat > "$WORK/fakebin/claude" <<'SH'
#!/bin/sh
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"I need permission to write.","session_id":"sess-r1","total_cost_usd":0.001,"usage":{"input_tokens":3,"output_tokens":4},"permission_denials":[{"tool_name":"Write","tool_use_id":"toolu_1","tool_input":{"file_path":"/w/a.txt","content":"x"}}]}'
SH
	chmod +x "$WORK/fakebin/claude"
	export PATH="$WORK/fakebin:$PATH"
	echo "cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" >> "$AGQ_CONF"
	run_agent
	agq-submit <<<'{"id": "r1", "prompt": "write a.txt", "backend": "cli", "model": "claude", "max_attempts": 1}'
	wait_for 20 is_state r1 dead
	jq -e '.reason | contains("backend cli: claude was refused 1 tool use: Write (/w/a.txt)")' \
	    "$AGQ_SPOOL/dead/r1.json"
	[ "$(result r1 .agent_status)" = backend_error ]
	[ "$(result r1 '.iterations[0].backend.session_id')" = sess-r1 ]
}

@test "a retry resumes the agent CLI's session: the attempt record keeps session_id, the next attempt and the next verify iteration run with --resume" {
	mkdir -p "$WORK/fakebin"
	# a claude that appends its arguments to calls: the first call fails,
	# every call answers with the session it was given (or sess-1)
	cat > "$WORK/fakebin/claude" <<'SH'
#!/bin/sh
echo "$*" | tr '\n' ' ' >> "$WORK/calls"
echo >> "$WORK/calls"
sid=sess-1
while [ $# -gt 0 ]; do [ "$1" = --resume ] && sid=$2; shift; done
if [ "$(wc -l < "$WORK/calls")" -eq 1 ]; then
	echo "{\"type\":\"result\",\"subtype\":\"error_during_execution\",\"is_error\":true,\"result\":\"overloaded\",\"session_id\":\"$sid\"}"
	exit 1
fi
echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"ok\",\"session_id\":\"$sid\",\"permission_denials\":[]}"
SH
	chmod +x "$WORK/fakebin/claude"
	export PATH="$WORK/fakebin:$PATH" WORK
	echo "cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" >> "$AGQ_CONF"
	run_agent
	# attempt 1 fails; attempt 2's first iteration fails its step (no
	# file yet, made by the step), its second passes
	agq-submit <<JSON
{"id": "s1", "prompt": "fix it", "backend": "cli", "model": "claude/sonnet",
 "max_attempts": 2, "backoff": 0, "max_verify_attempts": 2,
 "verify": [{"type": "command_succeeds", "cmd": "test -e $WORK/once || { touch $WORK/once; exit 1; }"}]}
JSON
	wait_for 30 is_state s1 done
	cat "$WORK/calls"
	[ "$(wc -l < "$WORK/calls")" -eq 3 ]
	[ "$(sed -n 1p "$WORK/calls")" = "-p --output-format json --permission-mode acceptEdits --model sonnet -- fix it " ]
	[ "$(sed -n 2p "$WORK/calls")" = "-p --output-format json --permission-mode acceptEdits --resume sess-1 --model sonnet -- fix it " ]
	sed -n 3p "$WORK/calls" | grep -q -- "--resume sess-1 --model sonnet -- fix it .*did not pass verification"
	jq -e '.attempts | length == 2 and .[0].session_id == "sess-1" and
	    .[1].session_id == "sess-1"' "$AGQ_SPOOL/done/s1.json"
	[ "$(result s1 .iterations[1].backend.session_id)" = sess-1 ]
	jq -e '.resume_session == "sess-1"' "$AGQ_SPOOL/out/s1/backend-input.json"
}
