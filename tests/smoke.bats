#!/usr/bin/env bats
# The smoke scenarios of the main job, driven only through the commands.

load helper

@test "10 tasks across 2 agents: 10/10 done, none twice" {
	for i in $(seq 1 10); do
		agq-submit -q -- sh -c "echo $i >> '$WORK/out'"
	done
	start_sched
	start_agent a1
	start_agent a2
	run agq-wait --timeout 60 -q
	[ "$status" -eq 0 ]
	[ "$(count_in done)" -eq 10 ]
	[ "$(sort -n "$WORK/out" | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 " ]
	[ "$(journal_count done)" -eq 10 ]
	# both agents worked
	grep -q '"ev":"start".*"agent":"a1"' "$AGQ_SPOOL/journal"
	grep -q '"ev":"start".*"agent":"a2"' "$AGQ_SPOOL/journal"
}

@test "kill -9 of an agent mid-task: reclaimed, completes once on the other" {
	start_sched --lease 2
	start_agent victim
	victim=$AGENT_PID
	wait_for 10 grep -q '"agent_up"' "$AGQ_SPOOL/journal"
	id=$(agq-submit -- sh -c "echo run >> '$WORK/runs'; sleep 2; echo fin >> '$WORK/fins'")
	wait_for 20 grep -q "\"ev\":\"start\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	kill -9 "$victim"
	start_agent rescuer
	run agq-wait --timeout 60 "$id"
	[ "$status" -eq 0 ]
	# the first run died with its agent: it never finished
	[ "$(grep -c fin "$WORK/fins")" -eq 1 ]
	[ "$(grep -c run "$WORK/runs")" -eq 2 ]
	[ "$(journal_count done)" -eq 1 ]
	[ "$(journal_count reclaim)" -eq 1 ]
	grep -q '"ev":"done".*"agent":"rescuer"' "$AGQ_SPOOL/journal"
	is_state "$id" done
	# the killed agent's task process did not survive it
	sleep 2.5
	[ "$(grep -c fin "$WORK/fins")" -eq 1 ]
}

@test "4 agents, 20 tasks over all four lanes: each runs 5±2, every lane finishes" {
	for lane in urgent high normal low; do
		for i in 1 2 3 4 5; do
			agq-submit -q -p $lane -- sh -c "sleep 0.2; echo $lane >> '$WORK/lanes'"
		done
	done
	start_sched
	for a in a1 a2 a3 a4; do start_agent $a; done
	run agq-wait --timeout 90 -q
	[ "$status" -eq 0 ]
	[ "$(count_in done)" -eq 20 ]
	for lane in urgent high normal low; do
		[ "$(grep -c $lane "$WORK/lanes")" -eq 5 ]
	done
	for a in a1 a2 a3 a4; do
		n=$(grep -c "\"ev\":\"done\".*\"agent\":\"$a\"" "$AGQ_SPOOL/journal")
		echo "$a ran $n"
		[ "$n" -ge 3 ] && [ "$n" -le 7 ]
	done
}
