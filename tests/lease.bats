#!/usr/bin/env bats
# Leases against heartbeats (agq-sched(8), "Leases and heartbeats") and the
# generation as a fencing token (agq-run(8), "Fencing").

load helper

# lease_conf LEASE HEARTBEAT: agq.conf's lease and heartbeat settings.
lease_conf() {
	sed -i -e "s/^lease = .*/lease = $1/" -e "s/^heartbeat = .*/heartbeat = $2/" \
	    "$AGQ_CONF"
}

# ts_us EVENT ID [N]: the time (us) of the Nth (default 1) journal event
# EVENT of task ID.
ts_us() {
	local ts
	ts=$(jq -r --arg ev "$1" --arg id "$2" \
	    'select(.ev == $ev and .id == $id) | .ts' "$AGQ_SPOOL/journal" |
	    sed -n "${3:-1}p")
	date -d "$ts" +%s%6N
}

@test "lease 2 s, heartbeat 5 s: a healthy 7 s task is done once, its agent alive all along, the lease raised with one warning" {
	lease_conf 2 5
	start_sched --lease 2
	start_agent a1
	id=$(agq-submit -- sh -c "echo run >> '$WORK/runs'; sleep 7")
	wait_for 30 test -s "$WORK/runs"
	# agq-status, while the heartbeat is older than the lease given but
	# younger than 3 heartbeats: the agent is alive and busy
	wait_for 30 sh -c "agq-status --json | jq -e '.agents[] |
	    select(.name == \"a1\" and .heartbeat_age_s > 2.5) |
	    .state == \"busy\"'"
	run agq-wait --timeout 60 -q "$id"
	[ "$status" -eq 0 ]
	[ "$(wc -l < "$WORK/runs")" -eq 1 ]
	run agq-show --json "$id"
	[ "$(jq '.task.attempts | length' <<< "$output")" -eq 1 ]
	[ "$(journal_count reclaim)" -eq 0 ]
	[ "$(journal_count agent_down)" -eq 0 ]
	# the warning: once for the agent, with both numbers, not once per pass
	[ "$(journal_count warn)" -eq 1 ]
	jq -es 'map(select(.ev == "warn"))[0] | .agent == "a1" and
	    .setting == "lease" and .lease_s == 2 and .heartbeat_s == 5 and
	    .effective_s == 15' "$AGQ_SPOOL/journal"
	grep -q "lease 2 s is shorter than 3 heartbeats of agent a1" \
	    "$BATS_TEST_TMPDIR/sched.log"
}

@test "agq-doctor reports a lease under 3 heartbeats, in agq.conf and for each agent" {
	echo '{}' > "$WORK/lock.json"   # no CLI to try: this is about leases
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	lease_conf 2 5
	run agq-doctor
	echo "$output"
	[[ "$output" == *"warn  lease "*"lease 2 s is shorter than 3 heartbeats (heartbeat 5 s): agq-sched uses 15 s"* ]]
	lease_conf 3 0.3
	run agq-doctor
	[[ "$output" == *"ok    lease "*"lease 3 s, at least 3 heartbeats (heartbeat 0.3 s)"* ]]
	# an agent whose own heartbeat the lease does not cover
	start_agent slow --heartbeat 4
	wait_for 20 test -s "$AGQ_SPOOL/agents/slow.json"
	run agq-doctor --json
	jq -e '.checks[] | select(.check == "lease slow") | .status == "warn"
	    and (.detail | contains("heartbeat_s 4): agq-sched uses 12 s"))' \
	    <<< "$output"
}

@test "a task reclaimed while it ran is not leased to the same agent before its heartbeat and kill_grace have passed" {
	# heartbeat 0.3 s and kill_grace 1 s (helper.bash): held 1.3 s
	start_sched
	start_agent a1
	pid=$AGENT_PID
	id=$(agq-submit -- sh -c "if [ -e '$WORK/first' ]; then exit 0; fi
	    touch '$WORK/first'; trap '' TERM; sleep 60")
	wait_for 30 grep -q "\"ev\":\"start\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	# the agent stops beating: its lease is reclaimed while it runs
	kill -STOP "$pid"
	wait_for 30 grep -q "\"ev\":\"reclaim\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	kill -CONT "$pid"
	run agq-wait --timeout 60 -q "$id"
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.ev == "assign") | .agent' "$AGQ_SPOOL/journal" |
	    sort -u)" = a1 ]
	run agq-show --json "$id"
	[ "$(jq '.task.attempts[0].reclaimed' <<< "$output")" = true ]
	# the reclaim's time is the reclaimed attempt's end
	reclaimed=$(date -d "$(jq -r '.task.attempts[0].finished' <<< "$output")" +%s%6N)
	again=$(ts_us assign "$id" 2)
	echo "leased again $(( (again - reclaimed) / 1000 )) ms after the reclaim"
	[ $((again - reclaimed)) -ge 1300000 ]
}

@test "fencing: an agent restarted after kill -9 runs its lease again under a larger AGQ_GENERATION, and the old one is refused" {
	start_sched --lease 30
	start_agent phoenix
	first=$AGENT_PID
	id=$(agq-submit -- sh -c "echo \$AGQ_GENERATION >> '$WORK/gens'
	    [ \$(wc -l < '$WORK/gens') -gt 1 ] || sleep 60")
	wait_for 20 test -s "$WORK/gens"
	kill9_restart phoenix "$first" "$id"
	[ "$(wc -l < "$WORK/gens")" -eq 2 ]
	g1=$(sed -n 1p "$WORK/gens")
	g2=$(sed -n 2p "$WORK/gens")
	[ "$g2" -gt "$g1" ]
	# the bump is journaled between the interrupted finish and the start
	jq -es --argjson g1 "$g1" --argjson g2 "$g2" 'map(select(.ev ==
	    "restart"))[0] | .agent == "phoenix" and .from_gen == $g1 and
	    .gen == $g2' "$AGQ_SPOOL/journal"
	[ "$(jq -r --arg id "$id" 'select(.id == $id) | .ev |
	    select(IN("start", "finish", "restart", "done"))' \
	    "$AGQ_SPOOL/journal" | tr '\n' ' ')" = \
	    "start finish restart start finish done " ]
	# recorded under the new generation: the old one's result is refused
	[ "$(jq .generation "$AGQ_SPOOL/out/$id/result.json")" -eq "$g2" ]
	run agq-show --json "$id"
	[ "$(jq -r '[.task.attempts[].generation] | join(" ")' <<< "$output")" = "$g1 $g2" ]
	[ "$(jq .task.generation <<< "$output")" -eq "$g2" ]
}
