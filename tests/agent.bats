#!/usr/bin/env bats
# agq-run: restart recovery, graceful stop, hand-back, heartbeats, output.

load helper

@test "an agent restarted after kill -9 recovers and reruns its lease" {
	start_sched --lease 30
	start_agent phoenix
	first=$AGENT_PID
	id=$(agq-submit -- sh -c "echo x >> '$WORK/runs'; sleep 1")
	# the task itself has started, and its start is recorded (the record
	# is made durable just after the task starts: agq-run(8))
	wait_for 20 test -s "$WORK/runs"
	kill9_restart phoenix "$first" "$id"
	# the lease was not reclaimed: the same agent finished it
	[ "$(journal_count reclaim)" -eq 0 ]
	grep -q "\"ev\":\"done\",\"id\":\"$id\",\"agent\":\"phoenix\"" "$AGQ_SPOOL/journal"
	run agq-show --json "$id"
	[[ "$output" == *'"error":"interrupted: its end was not recorded (the agent died, or the disk was full)"'* ]]
	[ "$(wc -l < "$WORK/runs")" -eq 2 ]
}

@test "a shepherd killed with SIGKILL: its running task is ended and recorded, and the next runs under a new one" {
	start_sched
	start_agent herder
	pid=$AGENT_PID
	id=$(agq-submit --max-attempts 1 -- sh -c "echo \$\$ > '$WORK/task.pid'; exec sleep 60")
	wait_for 20 test -s "$WORK/task.pid"
	wait_for 20 grep -q "\"ev\":\"start\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	# the agent's one child: its shepherd (the task is the shepherd's)
	shep=$(pgrep -P "$pid")
	[ -n "$shep" ]
	kill -9 "$shep"
	# the task is ended at once (not left running for its 60 s) and its
	# end recorded: killed, out of attempts
	wait_for 20 is_state "$id" dead
	wait_for 10 sh -c "! kill -0 $(cat "$WORK/task.pid")"
	run agq-show --json "$id"
	[[ "$output" == *'"signal":9'* ]]
	# the agent carries on: the next task runs, under a new shepherd
	kill -0 "$pid"
	id2=$(agq-submit -- true)
	run agq-wait --timeout 30 -q "$id2"
	[ "$status" -eq 0 ]
	is_state "$id2" done
	new=$(pgrep -P "$pid")
	[ -n "$new" ] && [ "$new" != "$shep" ]
}

@test "SIGTERM: the agent finishes its running task, then exits down" {
	start_sched
	start_agent calm
	pid=$AGENT_PID
	id=$(agq-submit -- sh -c "sleep 1; echo finished > '$WORK/mark'")
	wait_for 20 grep -q "\"ev\":\"start\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	kill -TERM "$pid"
	wait_for 30 sh -c "! kill -0 $pid"
	is_state "$id" done
	[ "$(cat "$WORK/mark")" = finished ]
	grep -q '"ev":"agent_down".*"agent":"calm"' "$AGQ_SPOOL/journal"
	grep -q '"state": "down"' "$AGQ_SPOOL/agents/calm.json"
	# no new work goes to a stopped agent
	id2=$(agq-submit -- true)
	sleep 1
	is_state "$id2" queue
}

@test "a second SIGTERM stops the running task and hands it back" {
	start_sched
	start_agent quitter
	pid=$AGENT_PID
	id=$(agq-submit -- sleep 60)
	wait_for 20 grep -q "\"ev\":\"start\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	kill -TERM "$pid"
	sleep 0.5
	kill -TERM "$pid"
	wait_for 30 sh -c "! kill -0 $pid"
	is_state "$id" queue
	grep -q "\"ev\":\"handback\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	# a handed-back attempt does not count against max_attempts
	run agq-show --json "$id"
	[[ "$output" == *'"handed_back":true'* ]]
	! pgrep -f 'sleep 60' >/dev/null || ! pgrep -f "$id" >/dev/null
}

@test "an agent's file shows its capabilities, slots and running tasks" {
	start_sched
	start_agent worker -c shell -c gpu --slots 2
	id=$(agq-submit -- sleep 3)
	wait_for 20 grep -q "\"$id\"" "$AGQ_SPOOL/agents/worker.json"
	run cat "$AGQ_SPOOL/agents/worker.json"
	[[ "$output" == *'"state": "busy"'* ]]
	[[ "$output" == *'"slots": 2'* ]]
	[[ "$output" == *'"gpu"'* ]]
	run agq-status
	[[ "$output" == *worker*busy*shell,gpu*"$id"* ]]
}

@test "an agent's file says busy while a task runs and idle once it ended, within a second, not a heartbeat later" {
	start_sched
	# a heartbeat every 30 s: the state must not wait for it
	start_agent slow --heartbeat 30
	wait_for 20 grep -q '"state": "idle"' "$AGQ_SPOOL/agents/slow.json"
	touch "$WORK/go"
	id=$(agq-submit -- sh -c "while [ -e '$WORK/go' ]; do sleep 0.1; done")
	wait_for 10 grep -q '"state": "busy"' "$AGQ_SPOOL/agents/slow.json"
	rm "$WORK/go"
	agq-wait --timeout 20 -q "$id"
	wait_for 10 grep -q '"state": "idle"' "$AGQ_SPOOL/agents/slow.json"
	run agq-status
	[[ "$output" == *slow*idle* ]]
}

@test "an agent whose heartbeat stops is marked offline and journaled down" {
	start_sched --lease 1.5
	start_agent sleepy
	pid=$AGENT_PID
	wait_for 20 grep -q '"agent_up"' "$AGQ_SPOOL/journal"
	kill -STOP "$pid"
	wait_for 30 grep -q '"ev":"agent_down".*"agent":"sleepy"' "$AGQ_SPOOL/journal"
	run agq-status --json
	[[ "$output" == *'"name":"sleepy","state":"offline"'* ]]
	kill -CONT "$pid"
	wait_for 20 sh -c "agq-status --json | grep -q '\"name\":\"sleepy\",\"state\":\"idle\"'"
}

@test "a task is killed with its whole process group on timeout" {
	start_sched
	start_agent a1
	id=$(agq-submit --timeout 1 --max-attempts 1 -- sh -c "sleep 30.5 & sleep 30.5; echo never")
	run agq-wait --timeout 60 "$id"
	[ "$status" -eq 1 ]
	is_state "$id" dead
	grep -q '"timed_out": true' "$AGQ_SPOOL/out/$id/result.json"
	grep -q "timed out" "$AGQ_SPOOL/dead/$id.json"
	# the backgrounded sleep of the task's group is gone too
	wait_for 10 sh -c '! pgrep -f "sleep 30[.]5" >/dev/null'
}

@test "a start record that cannot be made durable: the task is stopped, not counted, and started again once it can" {
	fault_shim
	flag="$BATS_TEST_TMPDIR/fail-fsync"
	touch "$flag"
	start_sched
	# fsync(2) of the agent's spare start record fails (EIO) while $flag
	# exists; the write before it succeeds, so the task is started first
	LD_PRELOAD=$shim AGQ_FAIL_FSYNC=$flag AGQ_FAIL_FSYNC_IN=/tmp/.spare- \
	    ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 start_agent shaky
	wait_for 20 test -f "$AGQ_SPOOL/tmp/.spare-shaky"
	agq-submit --id f1 -C "$WORK" -- sh -c 'echo run >> runs'
	wait_for 20 grep -q "cannot record the start: Input/output error" \
	    "$BATS_TEST_TMPDIR/agent-shaky.log"
	sleep 3
	# still leased, no attempt counted, no start journaled, no busy loop
	is_state f1 active
	[ "$(jq '.attempts // [] | length' "$AGQ_SPOOL/active/shaky/f1.json")" -eq 0 ]
	[ "$(journal_count start)" -eq 0 ]
	n=$(grep -c "cannot record the start" "$BATS_TEST_TMPDIR/agent-shaky.log")
	echo "errors in about 3 s: $n"
	[ "$n" -le 6 ]
	kill -0 "$AGENT_PID"
	rm "$flag"
	run agq-wait --timeout 30 -q f1
	[ "$status" -eq 0 ]
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/f1.json")" -eq 1 ]
	[ "$(journal_count start)" -eq 1 ]
}
