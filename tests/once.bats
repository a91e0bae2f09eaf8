#!/usr/bin/env bats
# Cron-like use with no daemon: agq-sched --once and agq-run --once in a
# loop finish the queue and leave nothing running.

load helper

# our_procs: agq processes (and their forks) working on this test's spool.
our_procs() {
	local p
	for p in $(pgrep '^agq'); do
		tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null |
		    grep -qxF "AGQ_SPOOL=$AGQ_SPOOL" && echo "$p"
	done
	return 0
}

@test "cron loop: sched --once; run --once until all 5 tasks are done" {
	for i in 1 2 3 4 5; do
		agq-submit -q -- sh -c "echo $i >> '$WORK/out'"
	done
	ok=0
	for round in $(seq 1 40); do
		run agq-sched --once
		[ "$status" -eq 0 ]
		run agq-run --agent cron --once
		[ "$status" -eq 0 ]
		if [ "$(agq-ls --state done -q | wc -l)" -eq 5 ]; then
			ok=1
			break
		fi
	done
	echo "rounds: $round"
	[ "$ok" -eq 1 ]
	run agq-wait --timeout 5 -q
	[ "$status" -eq 0 ]
	[ "$(count_in done)" -eq 5 ]
	[ "$(count_in queue)" -eq 0 ]
	[ "$(count_in active)" -eq 0 ]
	[ "$(sort -n "$WORK/out" | tr '\n' ' ')" = "1 2 3 4 5 " ]
	[ "$(journal_count done)" -eq 5 ]
	# every task was run by the cron agent
	[ "$(agq-journal --ev done | jq -r .agent | sort -u)" = cron ]
	# nothing is left running
	[ -z "$(our_procs)" ]
	# the agent stays registered, idle
	[ -f "$AGQ_SPOOL/agents/cron.json" ]
	[ "$(jq -r .state "$AGQ_SPOOL/agents/cron.json")" = idle ]
	[ "$(jq -r .name "$AGQ_SPOOL/agents/cron.json")" = cron ]
	# --once runs journal agent_up only while the agent is not known alive
	[ "$(journal_count agent_down)" -eq 0 ]
}

@test "the README's cron line, run as it is written, runs a task on a new spool" {
	readme=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/README.md
	line=$(grep -m1 '^\* \* \* \* \* ' "$readme")
	[ -n "$line" ]
	cmd=${line#\* \* \* \* \* }
	echo "cron runs: $cmd"
	id=$(agq-submit -- sh -c "echo ran > '$WORK/out'")
	# the first minute's run, then the next minute's
	sh -c "$cmd"
	is_state "$id" done
	[ "$(cat "$WORK/out")" = ran ]
	id2=$(agq-submit -- true)
	sh -c "$cmd"
	is_state "$id2" done
}

@test "agq-run --once with nothing leased registers the agent and exits at once" {
	# alive for the next pass however slow this machine is right now
	echo "lease = 60" >> "$AGQ_CONF"
	run agq-run --agent lazy --once
	[ "$status" -eq 0 ]
	[ "$(jq -r .state "$AGQ_SPOOL/agents/lazy.json")" = idle ]
	[ -z "$(our_procs)" ]
	# the next scheduler pass sees it alive and leases it work
	id=$(agq-submit -- true)
	run agq-sched --once
	[ "$status" -eq 0 ]
	is_state "$id" active
	[ -f "$AGQ_SPOOL/active/lazy/$id.json" ]
	run agq-run --agent lazy --once
	[ "$status" -eq 0 ]
	is_state "$id" done
}
