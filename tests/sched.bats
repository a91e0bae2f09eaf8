#!/usr/bin/env bats
# The scheduler and the runner together: lane priority, FIFO, capabilities,
# retries and dead-lettering, not_before, timeouts, output capture, and
# one scheduler per spool.

load helper

# ev_field ID EV FIELD: FIELD of the first EV journal event of task ID.
ev_field() {
	agq-journal --id "$1" --ev "$2" | head -1 | jq -r ".$3"
}

@test "one agent with one slot runs the lanes in order: urgent, high, normal, low" {
	for lane in low normal high urgent; do
		agq-submit -q -p $lane -- sh -c "echo $lane >> '$WORK/order'"
	done
	start_sched
	start_agent solo --slots 1
	run agq-wait --timeout 60 -q
	[ "$status" -eq 0 ]
	[ "$(tr '\n' ' ' < "$WORK/order")" = "urgent high normal low " ]
	[ "$(count_in done)" -eq 4 ]
}

@test "FIFO within a lane: 5 normal tasks run in submission order" {
	for i in 1 2 3 4 5; do
		agq-submit -q -- sh -c "echo $i >> '$WORK/order'"
	done
	start_sched
	start_agent solo
	run agq-wait --timeout 60 -q
	[ "$status" -eq 0 ]
	[ "$(tr '\n' ' ' < "$WORK/order")" = "1 2 3 4 5 " ]
}

@test "a task requiring a capability waits for an agent that has it" {
	gpu=$(agq-submit -c gpu -- sh -c "echo gpu > '$WORK/gpu'")
	start_sched
	start_agent plain
	# the plain agent is working: it runs a plain task ...
	plain=$(agq-submit -- true)
	run agq-wait --timeout 30 -q "$plain"
	[ "$status" -eq 0 ]
	grep -q "\"ev\":\"done\",\"id\":\"$plain\".*\"agent\":\"plain\"" "$AGQ_SPOOL/journal"
	# ... but not the gpu task, however long we look
	sleep 1
	is_state "$gpu" queue
	[ ! -e "$WORK/gpu" ]
	[ "$(agq-journal --id "$gpu" --ev assign | wc -l)" -eq 0 ]
	start_agent gpu1 -c gpu -c cuda
	run agq-wait --timeout 30 -q "$gpu"
	[ "$status" -eq 0 ]
	[ "$(cat "$WORK/gpu")" = gpu ]
	[ "$(ev_field "$gpu" assign agent)" = gpu1 ]
	[ "$(ev_field "$gpu" done agent)" = gpu1 ]
}

@test "a failing task is retried with backoff, then dead-lettered after max attempts" {
	id=$(agq-submit --max-attempts 3 --backoff 0.2 -- false)
	start_sched
	start_agent a1
	wait_for 60 is_state "$id" dead
	f="$AGQ_SPOOL/dead/$id.json"
	[ "$(jq '.attempts | length' "$f")" -eq 3 ]
	[ "$(jq '[.attempts[].exit] | unique' -c "$f")" = "[1]" ]
	[ "$(agq-journal --id "$id" --ev retry | wc -l)" -eq 2 ]
	[ "$(agq-journal --id "$id" --ev dead | wc -l)" -eq 1 ]
	[ "$(agq-journal --id "$id" --ev start | wc -l)" -eq 3 ]
	[[ "$(jq -r .reason "$f")" == *attempts* ]]
	[[ "$(ev_field "$id" dead reason)" == *"out of attempts (3 of 3)"* ]]
	# a retry is deferred to its next_attempt_at
	[ -n "$(ev_field "$id" retry next_attempt_at)" ]
	run agq-wait --timeout 5 -q "$id"
	[ "$status" -eq 1 ]
}

@test "a task that fails once and then succeeds ends done after 2 attempts" {
	id=$(agq-submit --backoff 0.2 -- sh -c \
	    "if [ -e '$WORK/marker' ]; then echo second; else touch '$WORK/marker'; exit 3; fi")
	start_sched
	start_agent a1
	run agq-wait --timeout 60 -q "$id"
	[ "$status" -eq 0 ]
	f="$AGQ_SPOOL/done/$id.json"
	[ "$(jq '.attempts | length' "$f")" -eq 2 ]
	[ "$(jq '.attempts[0].exit' "$f")" -eq 3 ]
	[ "$(jq '.attempts[1].exit' "$f")" -eq 0 ]
	[ "$(agq-journal --id "$id" --ev retry | wc -l)" -eq 1 ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = second ]
}

@test "not_before: a --delay 2 task waits in defer/, then runs after not_before" {
	start_sched
	start_agent a1
	wait_for 20 grep -q '"agent_up"' "$AGQ_SPOOL/journal"
	id=$(agq-submit --delay 2 -- true)
	is_state "$id" defer
	nb=$(jq -r .not_before "$AGQ_SPOOL/defer/$id.json")
	run agq-wait --timeout 60 -q "$id"
	[ "$status" -eq 0 ]
	started=$(ev_field "$id" start ts)
	echo "not_before $nb, started $started"
	# same RFC 3339 UTC format with microseconds: they compare as text
	[[ "$started" > "$nb" ]]
	[ "$(agq-journal --id "$id" --ev promote | wc -l)" -eq 1 ]
}

@test "a task over its timeout is killed; with --max-attempts 1 it is dead" {
	id=$(agq-submit --timeout 1 --max-attempts 1 -- sleep 30)
	start_sched
	start_agent a1
	wait_for 30 is_state "$id" dead
	r="$AGQ_SPOOL/out/$id/result.json"
	wait_for 10 test -f "$r"
	[ "$(jq -r .timed_out "$r")" = true ]
	[ "$(jq -r .status "$r")" = dead ]
	[ "$(jq -r '.attempts[0].timed_out' "$AGQ_SPOOL/dead/$id.json")" = true ]
	[[ "$(jq -r .reason "$AGQ_SPOOL/dead/$id.json")" == *"timed out"* ]]
	[ "$(ev_field "$id" finish timed_out)" = true ]
}

@test "out/ID/ holds the task's stdout, stderr and result.json" {
	id=$(agq-submit -- sh -c 'echo to-out; echo to-err >&2; echo more')
	start_sched
	start_agent a1
	run agq-wait --timeout 60 -q "$id"
	[ "$status" -eq 0 ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = "$(printf 'to-out\nmore')" ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stderr")" = to-err ]
	r="$AGQ_SPOOL/out/$id/result.json"
	[ "$(jq -r .status "$r")" = done ]
	[ "$(jq -r .exit "$r")" = 0 ]
	[ "$(jq -r .id "$r")" = "$id" ]
	[ "$(jq -r .agent "$r")" = a1 ]
}

@test "the task runs in its cwd with its env and AGQ_TASK_ID" {
	mkdir "$WORK/dir"
	id=$(cd "$WORK/dir" && agq-submit -e GREETING=hello -- sh -c 'echo "$PWD $GREETING $AGQ_TASK_ID"')
	start_sched
	start_agent a1
	run agq-wait --timeout 60 -q "$id"
	[ "$status" -eq 0 ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = "$(cd "$WORK/dir" && pwd -P) hello $id" ]
}

@test "a task that cannot run: exit 127 when not found, 126 when not executable, why in out/ID/stderr and its reason" {
	nf=$(agq-submit --max-attempts 1 -- nosuchprog-agq)
	nx=$(agq-submit --max-attempts 1 -- "$WORK")
	# a long path of two-byte characters: its reason cut to fit, never
	# inside a character (JSON needs UTF-8)
	long=/$(printf '\303\251%.0s' $(seq 1 120))
	nl=$(agq-submit --max-attempts 1 -- "$long")
	# one that runs: a process group of its own, no signal blocked or
	# ignored (the agent's own are not inherited)
	ok=$(agq-submit --max-attempts 1 -- sh -c 'echo "$(cut -d" " -f5 /proc/$$/stat) $$"; exec grep -E "^Sig(Blk|Ign)" /proc/self/status')
	start_sched
	start_agent a1
	wait_for 30 is_state "$nf" dead
	wait_for 30 is_state "$nx" dead
	wait_for 30 is_state "$ok" done
	[ "$(jq -r .exit "$AGQ_SPOOL/out/$nf/result.json")" = 127 ]
	[ "$(cat "$AGQ_SPOOL/out/$nf/stderr")" = "agq-run: cannot run: No such file or directory (nosuchprog-agq)" ]
	[ "$(jq -r .exit "$AGQ_SPOOL/out/$nx/result.json")" = 126 ]
	[ "$(cat "$AGQ_SPOOL/out/$nx/stderr")" = "agq-run: cannot run: Permission denied ($WORK)" ]
	# the reason says why, not only the exit status
	jq_is "$AGQ_SPOOL/dead/$nf.json" .reason "exit 127: cannot run: No such file or directory (nosuchprog-agq); out of attempts (1 of 1)"
	jq_is "$AGQ_SPOOL/out/$nx/result.json" .reason "exit 126: cannot run: Permission denied ($WORK); out of attempts (1 of 1)"
	wait_for 30 is_state "$nl" dead
	[[ "$(jq -r .reason "$AGQ_SPOOL/dead/$nl.json")" == "exit 127: cannot run: No such file or directory (/éé"*"; out of attempts (1 of 1)" ]]
	[[ "$(jq -r .reason "$AGQ_SPOOL/out/$nl/result.json")" == "exit 127: cannot run: "* ]]
	read -r pgrp pid < "$AGQ_SPOOL/out/$ok/stdout"
	[ "$pgrp" = "$pid" ]
	cat "$AGQ_SPOOL/out/$ok/stdout"
	# signals 32 and 33 are glibc's own: it lets nobody change them
	local blk ign
	blk=$(sed -n 's/^SigBlk:\t//p' "$AGQ_SPOOL/out/$ok/stdout")
	ign=$(sed -n 's/^SigIgn:\t//p' "$AGQ_SPOOL/out/$ok/stdout")
	[ $((16#$blk & ~0x180000000)) -eq 0 ]
	[ $((16#$ign & ~0x180000000)) -eq 0 ]
}

@test "a second agq-sched on the same spool exits 75" {
	start_sched
	wait_for 20 grep -q '"sched_up"' "$AGQ_SPOOL/journal"
	run agq-sched
	[ "$status" -eq 75 ]
	[[ "$output" == *"another agq-sched"* ]]
	run agq-sched --once
	[ "$status" -eq 75 ]
	# the first one is still scheduling
	kill -0 "$SCHED_PID"
	id=$(agq-submit -- true)
	start_agent a1
	run agq-wait --timeout 30 -q "$id"
	[ "$status" -eq 0 ]
}
