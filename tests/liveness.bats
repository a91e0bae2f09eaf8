#!/usr/bin/env bats
# Liveness across hosts (issue 20): heartbeats are agent files' mtimes,
# judged by the file server's clock (.clock-probe); an agent name is
# claimed by link(2) across hosts.  Two "hosts" are two UTS namespaces (unshare --uts, as root),
# one kernel: the same boot id, different host names.  No daemon but the
# one agent that is replaced; agq-sched and agq-run in --once passes.

load helper

# on HOST CMD...: run CMD with host name HOST (a UTS namespace of its own).
on() {
	local h=$1
	shift
	unshare --uts sh -c 'hostname "$0" && exec "$@"' "$h" "$@"
}

needs_uts() {
	unshare --uts true 2>/dev/null || skip "unshare --uts needs root"
}

# a long lease: a fresh agent file stays alive through a slow test
long_lease() { printf 'lease = 60\n' >> "$AGQ_CONF"; }

@test "one name across hosts: refused while the first is alive, shown with its host; a stale one is replaced, journaled agent_replaced" {
	needs_uts
	long_lease
	on h1 agq-run --once --agent a1
	jq -e '.host == "h1" and (.boot_id | length) == 36 and .pid > 0' \
	    "$AGQ_SPOOL/agents/a1.json"
	old_pid=$(jq -r .pid "$AGQ_SPOOL/agents/a1.json")
	run on h2 agq-run --once --agent a1
	[ "$status" -eq 75 ]
	[[ "$output" == *"agent a1 is already running on host h1 (pid $old_pid)"* ]]
	jq -e '.host == "h1"' "$AGQ_SPOOL/agents/a1.json"
	run agq-status --json
	jq -e '.agents[0] | .name == "a1" and .host == "h1" and .state == "idle"
	    and (.boot_id | length) == 36' <<< "$output"
	run agq-status
	printf '%s\n' "$output" | grep -Eq '^a1 +idle +1 +[0-9]+s ago +h1 '
	# h1's heartbeat two minutes old (its JSON says now): h2 takes the name
	touch -d '2 minutes ago' "$AGQ_SPOOL/agents/a1.json"
	on h2 agq-run --once --agent a1
	jq -e '.host == "h2"' "$AGQ_SPOOL/agents/a1.json"
	[ "$(journal_count agent_replaced)" -eq 1 ]
	jq -es --argjson p "$old_pid" 'map(select(.ev == "agent_replaced"))[0] |
	    .agent == "a1" and .old_host == "h1" and .old_pid == $p and
	    .host == "h2" and (.reason | test("older than its lease"))' \
	    "$AGQ_SPOOL/journal"
	# the same host again: its own earlier run, replaced without an event
	on h2 agq-run --once --agent a1
	[ "$(journal_count agent_replaced)" -eq 1 ]
	ls "$AGQ_SPOOL/tmp" | { ! grep -q 'agent-\|claim-'; }
}

@test "an agent whose name another host took while it was judged dead stops at its next heartbeat, exit 75, writing nothing" {
	needs_uts
	# unshare and sh exec: $! is agq-run itself
	unshare --uts sh -c 'hostname h1 && exec agq-run --agent a1 \
	    --heartbeat 0.2' 2>"$WORK/h1.log" &
	pid=$!
	PIDS+=($pid)
	wait_for 20 jq -e '.host == "h1"' "$AGQ_SPOOL/agents/a1.json"
	# host h2 claimed the name meanwhile (its flock, on another kernel,
	# does not exclude h1's: here the file is written as its claim would)
	kill -STOP "$pid"
	jq '.host = "h2" | .pid = 3' "$AGQ_SPOOL/agents/a1.json" > "$WORK/a1.json"
	mv "$WORK/a1.json" "$AGQ_SPOOL/agents/a1.json"
	kill -CONT "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 75 ]
	grep -q "agent a1 was replaced by host h2 (pid 3)" "$WORK/h1.log"
	jq -e '.host == "h2" and .pid == 3 and .state == "idle"' \
	    "$AGQ_SPOOL/agents/a1.json"
	[ "$(journal_count agent_down)" -eq 0 ]
}

@test "heartbeat age is the agent file's mtime: set into the past, its lease is reclaimed although its JSON heartbeat is fresh" {
	long_lease
	agq-run --once --agent a1
	id=$(agq-submit -- true)
	agq-sched --once
	is_state "$id" active
	# fresh by both: a second pass leaves it
	agq-sched --once
	is_state "$id" active
	hb=$(jq -r .heartbeat "$AGQ_SPOOL/agents/a1.json")
	touch -d '2 minutes ago' "$AGQ_SPOOL/agents/a1.json"
	agq-sched --once
	is_state "$id" queue
	[ "$(jq -r .heartbeat "$AGQ_SPOOL/agents/a1.json")" = "$hb" ]
	jq -es 'map(select(.ev == "reclaim"))[0].reason |
	    test("heartbeat older than 60 s")' "$AGQ_SPOOL/journal"
	# marked offline, its mtime kept: still two minutes old
	jq -e '.state == "offline"' "$AGQ_SPOOL/agents/a1.json"
	[ $(($(date +%s) - $(stat -c %Y "$AGQ_SPOOL/agents/a1.json"))) -ge 100 ]
	[ -e "$AGQ_SPOOL/.clock-probe" ]
}
