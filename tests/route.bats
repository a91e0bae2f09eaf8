#!/usr/bin/env bats
# Routing in agq-sched with two registered endpoints (tests/fakeapi.py):
# warm models preferred, then the less loaded host, unhealthy endpoints
# skipped, a tier falling back after the wait; one `route` event each.

load helper

setup_file() { fake_api_start; }
teardown_file() { fake_api_stop; }

url() { echo "http://127.0.0.1:$(cat "$FAKE_DIR/port")$1"; }

# agent NAME LOAD ARGS...: an agent whose host reports load LOAD on 1 CPU.
agent() {
	local name=$1 load=$2
	shift 2
	echo "$load 0.00 0.00 1/100 1" > "$WORK/load-$name"
	AGQ_LOADAVG_FILE="$WORK/load-$name" start_agent "$name" "$@"
}

agents_up() {
	for a in "$@"; do
		wait_for 10 test -f "$AGQ_SPOOL/agents/$a.json"
	done
}

route_of() {
	grep '"ev":"route"' "$AGQ_SPOOL/journal" | jq -c "select(.id == \"$1\")"
}

@test "a warm model wins over a less loaded host; the task runs on the chosen endpoint" {
	agq-registry add warm "$(url)" --type ollama
	agq-registry add cold "$(url /cold)" --type ollama
	agent a1 0.90 --backend ollama --endpoint warm
	agent a2 0.05 --backend ollama --endpoint cold
	agents_up a1 a2
	start_sched
	agq-submit <<<'{"id": "t1", "prompt": "summarize the notes", "model": "llama3.1:8b"}'
	wait_for 20 is_state t1 done
	route_of t1 | jq -e '.agent == "a1" and .endpoint == "warm" and
	    .tier == "standard" and .backend == "ollama" and
	    .model == "llama3.1:8b" and (.reason | contains("(warm)"))'
	[ "$(journal_count route)" -eq 1 ]
	jq -e '.route.endpoint.name == "warm"' "$AGQ_SPOOL/done/t1.json"
	# the backend called the warm endpoint's URL
	grep '"path": "/api/chat"' "$FAKE_DIR/requests" | tail -1 |
	    jq -e '.body.model == "llama3.1:8b"'
}

@test "between warm endpoints the less loaded host wins" {
	agq-registry add e1 "$(url)" --type ollama
	agq-registry add e2 "$(url)" --type ollama
	agent a1 3.50 --backend ollama --endpoint e1
	agent a2 0.20 --backend ollama --endpoint e2
	agents_up a1 a2
	start_sched
	agq-submit <<<'{"id": "t2", "prompt": "summarize", "model": "llama3.1:8b"}'
	wait_for 20 is_state t2 done
	route_of t2 | jq -e '.agent == "a2" and .endpoint == "e2"'
}

@test "an unhealthy endpoint is skipped, and says so among the rejected" {
	agq-registry add good "$(url)" --type ollama
	agq-registry add bad "$(url /down)" --type ollama || true
	agq-registry check bad || true
	[ "$(jq -r .health "$AGQ_SPOOL/endpoints/bad.json")" = unhealthy ]
	agent a1 2.00 --backend ollama --endpoint good
	agent a2 0.01 --backend ollama --endpoint bad
	agents_up a1 a2
	start_sched
	agq-submit <<<'{"id": "t3", "prompt": "summarize", "model": "llama3.1:8b"}'
	wait_for 20 is_state t3 done
	route_of t3 | jq -e '.agent == "a1" and (.rejected | map(select(.agent ==
	    "a2" and (.why | contains("endpoint bad is unhealthy")))) | length == 1)'
}

@test "with no executor for its tier, a task falls back one tier after route_wait" {
	echo "route_wait = 1" >> "$AGQ_CONF"
	agq-registry add e1 "$(url)" --type ollama
	agent a1 0.1 --backend ollama --endpoint e1
	agents_up a1
	start_sched
	agq-submit <<<'{"id": "t4", "prompt": "refactor the parser module", "model": "llama3.1:8b"}'
	wait_for 20 is_state t4 done
	route_of t4 | jq -e '.tier == "standard" and .fallback_from == "complex"
	    and .agent == "a1" and (.rejected[0].why | startswith("no complex backend"))'
	# a prompt task never falls to trivial: with only a shell agent free
	# (the ollama endpoint lacks the model) it stays queued
	agent s1 0.1 --backend shell
	agents_up s1
	agq-submit <<<'{"id": "t5", "prompt": "summarize", "model": "absent-model"}'
	sleep 2
	is_state t5 queue
	[ -z "$(route_of t5)" ]
}

@test "a plain command task on a plain agent: one route event, trivial tier, shell" {
	start_agent plain
	agents_up plain
	start_sched
	agq-submit --id c1 -- true
	wait_for 20 is_state c1 done
	[ "$(journal_count route)" -eq 1 ]
	route_of c1 | jq -e '.agent == "plain" and .backend == "shell" and
	    .tier == "trivial"'
}

@test "run_on (agq-submit --run-on): a task runs only on the agents it names; with none of them alive it waits, saying so; a bad name is refused" {
	start_agent a1
	agents_up a1
	start_sched
	agq-submit -q --id pinned --run-on a2 -- sh -c 'echo "$AGQ_AGENT"'
	agq-submit -q --id either --run-on a1 --run-on a2 -- true
	wait_for 20 is_state either done
	wait_for 20 grep -q '"ev":"wait","id":"pinned".*no alive agent is one it runs on (run_on: a2)' "$AGQ_SPOOL/journal"
	is_state pinned queue
	jq_is "$AGQ_SPOOL/queue/normal/pinned.json" .run_on a2
	jq_is "$AGQ_SPOOL/done/either.json" '.run_on | join(",")' a1,a2
	start_agent a2
	wait_for 20 is_state pinned done
	jq_is "$AGQ_SPOOL/done/pinned.json" '.attempts[-1].agent' a2
	[ "$(cat "$AGQ_SPOOL/out/pinned/stdout")" = a2 ]
	run agq-submit --run-on 'no/such' -- true
	[ "$status" -eq 64 ]
	[[ "$output" == *"--run-on: 'no/such' is not an agent name"* ]]
	run agq-submit <<<'{"cmd": "true", "run_on": 5}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field run_on: not an agent name"* ]]
}

@test "a backend named by the task needs an agent that runs it" {
	agent sh1 0.1 --backend shell
	agents_up sh1
	start_sched
	agq-submit <<<'{"id": "c2", "cmd": "echo hi", "backend": "shell"}'
	agq-submit <<<'{"id": "c3", "prompt": "x", "backend": "cli", "model": "claude"}'
	wait_for 20 is_state c2 done
	route_of c2 | jq -e '.agent == "sh1" and .backend == "shell" and
	    .tier == "trivial"'
	sleep 1
	is_state c3 queue
	[ -z "$(route_of c3)" ]
}

@test "a registered anthropic endpoint named with --endpoint is the URL called, and shown in the route" {
	agq-registry add claude-proxy "$(url)" --type anthropic
	ANTHROPIC_API_KEY=sk-test-0123 agent an1 0.1 --backend anthropic --endpoint claude-proxy
	agents_up an1
	start_sched
	agq-submit <<<'{"id": "an1", "prompt": "refactor the parser module", "backend": "anthropic", "model": "claude-sonnet-4-5"}'
	wait_for 20 is_state an1 done
	route_of an1 | jq -e '.backend == "anthropic" and .endpoint == "claude-proxy"'
	jq -e --arg u "$(url)" '.route.endpoint.name == "claude-proxy" and
	    .route.endpoint.url == $u' "$AGQ_SPOOL/done/an1.json"
	grep '"path": "/v1/messages"' "$FAKE_DIR/requests" | tail -1 |
	    jq -e '.body.model == "claude-sonnet-4-5" and
	    .headers["x-api-key"] == "sk-test-0123"'
}

@test "an agent declaring no backend calls its registered endpoint of the task's backend type" {
	agq-registry add oproxy "$(url)" --type openai
	agent any1 0.1 --endpoint oproxy
	agents_up any1
	start_sched
	agq-submit <<<'{"id": "op1", "prompt": "summarize", "backend": "openai", "model": "gpt-x"}'
	wait_for 20 is_state op1 done
	route_of op1 | jq -e '.endpoint == "oproxy"'
	grep '"path": "/v1/chat/completions"' "$FAKE_DIR/requests" | tail -1 |
	    jq -e '.body.model == "gpt-x"'
}

@test "an endpoint a task names itself is never called: the key goes only where the agent's set-up says" {
	# no registered endpoint: the agent's ANTHROPIC_BASE_URL is the URL
	ANTHROPIC_BASE_URL=$(url) ANTHROPIC_API_KEY=sk-test-0123 agent an2 0.1 --backend anthropic
	agents_up an2
	# a task naming its own endpoint URL (port 9: nothing listens there)
	# is refused at submit (an unknown field, agq-task(5))...
	run agq-submit <<<'{"id": "an3", "prompt": "x", "backend": "anthropic", "model": "m-an3", "endpoint": {"name": "mine", "url": "http://127.0.0.1:9"}}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field endpoint: unknown field"* ]]
	# ...and one already in the spool with it (an older agq's, or written
	# in place) still never reaches it
	agq-submit <<<'{"id": "an3", "prompt": "x", "backend": "anthropic", "model": "m-an3"}'
	f="$AGQ_SPOOL/queue/normal/an3.json"
	jq '.endpoint = {"name": "mine", "url": "http://127.0.0.1:9"}' "$f" > "$AGQ_SPOOL/tmp/an3"
	mv "$AGQ_SPOOL/tmp/an3" "$f"
	start_sched
	wait_for 20 is_state an3 done
	grep '"path": "/v1/messages"' "$FAKE_DIR/requests" | tail -1 |
	    jq -e '.body.model == "m-an3"'
}
