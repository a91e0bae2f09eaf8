#!/usr/bin/env bats
# Usage and rate limits (agq-backend(7), "Usage and rate limits"): a 429
# from tests/fakeapi.py with Retry-After, and a stand-in claude printing
# its limit message, park the task until the reset without spending an
# attempt (a `throttle` event), pause the backend's account in
# SPOOL/throttle/, and agq-sched leases no other task of that account
# until then; both tasks complete after it.

load helper

KEY="sk-ant-test-KEY-throttle-0001"

setup_file() { fake_api_start; }
teardown_file() { fake_api_stop; }

ev() { grep "\"ev\":\"$1\"" "$AGQ_SPOOL/journal" | grep "\"id\":\"$2\""; }
task_of() { cat "$AGQ_SPOOL"/*/"$1".json "$AGQ_SPOOL"/queue/*/"$1".json 2>/dev/null; }

@test "HTTP 429 with Retry-After: parked with not_before, no attempt spent, the account paused for a second task, then both done" {
	port=$(cat "$FAKE_DIR/port")
	cat >> "$AGQ_CONF" <<CONF
anthropic_url = http://127.0.0.1:$port
backend_timeout = 5
CONF
	export ANTHROPIC_API_KEY=$KEY
	start_sched
	start_agent a1
	agq-submit <<<'{"id": "r1", "prompt": "one", "backend": "anthropic", "model": "ratelimit-12-r1", "max_attempts": 1}'
	wait_for 20 ev throttle r1
	ev throttle r1 | jq -e --arg p "anthropic@http://127.0.0.1:$port#" \
	    '.backend == "anthropic" and (.account | startswith($p)) and
	     (.account | test("#[0-9a-f]{8}$")) and (.until | test("Z$")) and
	     (.reason | contains("HTTP 429")) and .agent == "a1"'
	! grep -rq "$KEY" "$AGQ_SPOOL"
	wait_for 10 is_state r1 defer
	jq -e '.not_before != null and (.next_attempt_at == null) and
	    (.attempts | length) == 1 and .attempts[0].throttled == true' \
	    "$AGQ_SPOOL/defer/r1.json"
	jq -e '.status == "throttled" and .agent_status == "throttled" and
	    .not_before != null' "$AGQ_SPOOL/out/r1/result.json"
	# the account is paused: one file, shown by agq-status
	ls "$AGQ_SPOOL"/throttle/anthropic-*.json
	agq-status | grep -q "^paused   anthropic until .*rate limit"
	agq-status --json | jq -e '.paused[0].backend == "anthropic"'
	# a second task for the same account waits, with the reason
	agq-submit <<<'{"id": "r2", "prompt": "two", "backend": "anthropic", "model": "m-r2"}'
	wait_for 10 ev wait r2
	ev wait r2 | head -1 | jq -e '.reason | test("^backend anthropic paused until .*: ")'
	is_state r2 queue
	! grep -q m-r2 "$FAKE_DIR/requests"
	agq-show r1 | grep -q '^limit:  backend anthropic until '
	# after the reset both run: done, one attempt spent by r1 of its 1
	wait_for 30 is_state r1 done
	wait_for 30 is_state r2 done
	jq -e '(.attempts | length) == 2' "$AGQ_SPOOL/done/r1.json"
	[ "$(grep -c ratelimit-12-r1 "$FAKE_DIR/requests")" -eq 2 ]
	# r2 was not called before the pause ended
	until=$(ev throttle r1 | jq -r .until)
	started=$(ev start r2 | jq -r .ts)
	[[ "$started" > "$until" ]]
}

@test "a CLI's limit message (claude: usage limit reached|EPOCH): parked until then, the CLI account paused" {
	mkdir -p "$WORK/fakebin" "$WORK/claude-home"
	cat > "$WORK/lock.json" <<'J'
{"claude": {"argv": ["claude", "-p", "--output-format", "json", "--", "{prompt}"],
  "format": "claude-json"}}
J
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	reset=$(( $(date +%s) + 12 ))
	# claude -p's result on a usage limit: is_error, the message, exit 1;
	# the first call only
	cat > "$WORK/fakebin/claude" <<SH
#!/bin/sh
if [ ! -e "$WORK/limited" ]; then
	touch "$WORK/limited"
	printf '%s\n' '{"type":"result","subtype":"success","is_error":true,"result":"Claude AI usage limit reached|$reset","session_id":"s-1","usage":{"input_tokens":0,"output_tokens":0}}'
	exit 1
fi
printf '%s\n' '{"type":"result","subtype":"success","is_error":false,"result":"ok","session_id":"s-2","usage":{"input_tokens":1,"output_tokens":1}}'
SH
	chmod +x "$WORK/fakebin/claude"
	export PATH="$WORK/fakebin:$PATH" CLAUDE_CONFIG_DIR="$WORK/claude-home"
	start_sched
	start_agent a1
	agq-submit <<<'{"id": "c1", "prompt": "one", "backend": "cli", "model": "claude", "max_attempts": 1}'
	wait_for 20 ev throttle c1
	want=$(date -u -d "@$reset" +%Y-%m-%dT%H:%M:%S.000000Z)
	ev throttle c1 | jq -e --arg a "claude@$WORK/claude-home" --arg u "$want" \
	    '.backend == "cli" and .account == $a and .until == $u and
	     (.reason | contains("usage limit reached"))'
	agq-submit <<<'{"id": "c2", "prompt": "two", "backend": "cli", "model": "claude"}'
	wait_for 10 ev wait c2
	ev wait c2 | head -1 | jq -e --arg u "$want" '.reason | startswith("backend cli paused until " + $u)'
	wait_for 30 is_state c1 done
	wait_for 30 is_state c2 done
	started=$(ev start c2 | jq -r .ts)
	[[ "$started" > "$want" ]]
}
