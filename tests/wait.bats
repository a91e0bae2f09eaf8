#!/usr/bin/env bats
# Tasks no agent can take (agq-sched(8), "Tasks no agent can take"): a
# `wait` event naming why, once per task and reason; agq-show shows it;
# agq-status is not ok once such a task has waited longer than route_wait,
# and ok again when an agent that can take it runs it.

load helper

setup_file() { fake_api_start; }
teardown_file() { fake_api_stop; }

url() { echo "http://127.0.0.1:$(cat "$FAKE_DIR/port")$1"; }

wait_of() {
	grep '"ev":"wait"' "$AGQ_SPOOL/journal" | jq -c "select(.id == \"$1\")"
}

waits_of() { wait_of "$1" | wc -l; }

# has_wait ID [N]: ID has at least N (1) wait events (read anew each call).
has_wait() { [ "$(waits_of "$1")" -ge "${2:-1}" ]; }

health() { agq-status --json | jq -r '.health.status'; }

@test "-c tpu with no agent having tpu: one wait event naming tpu; agq-show and agq-status say so; ok again once an agent with tpu runs it" {
	echo "route_wait = 1" >> "$AGQ_CONF"
	start_agent plain -c cpu
	wait_for 10 test -f "$AGQ_SPOOL/agents/plain.json"
	start_sched
	agq-submit --id tp1 -c tpu -- echo on-tpu
	agq-submit --id ok1 -- echo anywhere
	wait_for 20 is_state ok1 done
	wait_for 20 has_wait tp1
	wait_of tp1 | jq -e '.routable == false and
	    .reason == "no agent has capability tpu" and (.since | length > 0)'
	run agq-show tp1
	[ "$status" -eq 0 ]
	[[ "$output" == *"waits:  no agent has capability tpu (since "* ]]
	# never once per pass: still one event a few passes later
	sleep 2.5
	[ "$(waits_of tp1)" -eq 1 ]
	[ -z "$(wait_of ok1)" ]
	is_state tp1 queue
	[ "$(health)" = warn ]
	agq-status --json | jq -e '.health.unroutable | length == 1 and
	    .[0].id == "tp1" and .[0].reason == "no agent has capability tpu"
	    and .[0].waited_s > 1'
	agq-status | grep -q "^health   warn:.*tp1: no agent has capability tpu"
	# an agent with tpu arrives and runs it: health is ok again
	start_agent tpu1 -c tpu
	wait_for 20 is_state tp1 done
	[ "$(waits_of tp1)" -eq 1 ]
	[ "$(health)" = ok ]
	agq-status --json | jq -e '.health.unroutable == []'
}

@test "a backend nobody runs: the wait event says so, and a new reason is journaled when it changes" {
	start_agent sh1 --backend shell
	wait_for 10 test -f "$AGQ_SPOOL/agents/sh1.json"
	start_sched
	agq-submit <<<'{"id": "b1", "prompt": "x", "backend": "cli", "model": "claude"}'
	wait_for 20 has_wait b1
	wait_of b1 | jq -e '.reason == "no agent runs backend cli"'
	# an agent that runs cli but lacks the model: another reason, once
	start_agent cl1 --backend cli --model other
	wait_for 20 has_wait b1 2
	wait_of b1 | tail -1 | jq -e '.reason | startswith("no agent can run it") and
	    contains("sh1: does not run backend cli") and
	    contains("cl1: does not offer model claude")'
	sleep 2
	[ "$(waits_of b1)" -eq 2 ]
	is_state b1 queue
	# the since of the first event is kept
	[ "$(wait_of b1 | jq -r .since | sort -u | wc -l)" -eq 1 ]
}

@test "a model no agent has, and an unhealthy endpoint" {
	agq-registry add bad "$(url /down)" --type ollama || true
	agq-registry check bad || true
	agq-registry check bad || true
	[ "$(jq -r .health "$AGQ_SPOOL/endpoints/bad.json")" = unhealthy ]
	start_agent m1 --backend ollama --model small
	start_agent e1 --backend ollama --endpoint bad
	wait_for 10 test -f "$AGQ_SPOOL/agents/m1.json"
	wait_for 10 test -f "$AGQ_SPOOL/agents/e1.json"
	start_sched
	agq-submit <<<'{"id": "m9", "prompt": "summarize", "backend": "ollama", "model": "huge"}'
	wait_for 20 has_wait m9
	wait_of m9 | jq -e '.reason | contains("m1: does not offer model huge")
	    and contains("e1: endpoint bad is unhealthy")'
}

@test "a routable task waiting for a busy agent journals no wait event" {
	start_agent one
	wait_for 10 test -f "$AGQ_SPOOL/agents/one.json"
	start_sched
	agq-submit --id s1 -- sleep 2
	agq-submit --id s2 -- true
	wait_for 20 is_state s2 done
	[ "$(journal_count wait)" -eq 0 ]
	[ "$(health)" = ok ]
}
