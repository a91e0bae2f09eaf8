#!/usr/bin/env bats
# The operator commands: agq-hold, agq-release, agq-cancel, agq-retry.

load helper

ev_count() {  # ev_count ID EV
	agq-journal --id "$1" --ev "$2" | wc -l
}

alive() { kill -0 "$1" 2>/dev/null; }

# run_once_until_done ID: agq-sched --once and agq-run --once (no daemon)
# until task ID is in done/.
run_once_until_done() {
	local _
	for _ in 1 2 3 4; do
		agq-sched --once >/dev/null 2>&1
		agq-run --agent a1 --once >/dev/null 2>&1
		is_state "$1" done && return 0
	done
	return 1
}
gone() { ! kill -0 "$1" 2>/dev/null; }

@test "hold keeps a queued task from running; release sends it back and it completes" {
	id=$(agq-submit -- sh -c "echo ran >> '$WORK/held'")
	run agq-hold -m "not yet" "$id"
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	is_state "$id" hold
	[[ "$(jq -r .reason "$AGQ_SPOOL/hold/$id.json")" == *"held by"*"not yet"* ]]
	start_sched
	start_agent a1
	# the agent works: another task runs while the held one stays put
	other=$(agq-submit -- true)
	run agq-wait --timeout 30 -q "$other"
	[ "$status" -eq 0 ]
	sleep 1
	is_state "$id" hold
	[ ! -e "$WORK/held" ]
	[ "$(ev_count "$id" assign)" -eq 0 ]
	run agq-release "$id"
	[ "$status" -eq 0 ]
	run agq-wait --timeout 30 -q "$id"
	[ "$status" -eq 0 ]
	[ "$(cat "$WORK/held")" = ran ]
	[ "$(ev_count "$id" hold)" -eq 1 ]
	[ "$(ev_count "$id" release)" -eq 1 ]
	[ "$(agq-journal --id "$id" --ev release | jq -r .to)" = queue ]
}

@test "hold of a deferred task; release keeps it deferred while not_before is ahead" {
	id=$(agq-submit --delay 1h -- true)
	agq-hold -q "$id"
	is_state "$id" hold
	[ "$(agq-journal --id "$id" --ev hold | jq -r .from)" = defer ]
	agq-release -q "$id"
	is_state "$id" defer
}

@test "cancel of a queued task moves it to dead/ with a 'cancelled' reason" {
	id=$(agq-submit -- true)
	run agq-cancel -m "wrong input" "$id"
	[ "$status" -eq 0 ]
	is_state "$id" dead
	reason=$(jq -r .reason "$AGQ_SPOOL/dead/$id.json")
	[[ "$reason" == *cancelled* ]]
	[[ "$reason" == *"wrong input"* ]]
	[ "$(ev_count "$id" cancel)" -eq 1 ]
	[ "$(agq-journal --id "$id" --ev cancel | jq -r .from)" = queue ]
	# nothing runs it later
	start_sched
	start_agent a1
	wait_for 20 grep -q '"agent_up"' "$AGQ_SPOOL/journal"
	sleep 1
	is_state "$id" dead
	[ "$(ev_count "$id" start)" -eq 0 ]
}

@test "cancel of a running task kills it, and the runner's completion is refused (stale)" {
	start_sched
	start_agent a1
	id=$(agq-submit -- sh -c 'echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 30' sh "$WORK/pid")
	wait_for 30 test -s "$WORK/pid"
	pid=$(cat "$WORK/pid")
	alive "$pid"
	is_state "$id" active
	run agq-cancel "$id"
	[ "$status" -eq 0 ]
	is_state "$id" dead
	[[ "$(jq -r .reason "$AGQ_SPOOL/dead/$id.json")" == *cancelled* ]]
	wait_for 30 gone "$pid"
	wait_for 30 grep -q "\"ev\":\"stale\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	[ "$(agq-journal --id "$id" --ev cancel | jq -r .from)" = active ]
	# the refused completion did not move it anywhere
	is_state "$id" dead
	[ "$(ev_count "$id" done)" -eq 0 ]
	[ "$(ev_count "$id" retry)" -eq 0 ]
	# the agent is free again and takes the next task
	next=$(agq-submit -- true)
	run agq-wait --timeout 30 -q "$next"
	[ "$status" -eq 0 ]
}

# retried ID EXIT: agq-retry ID prints ID and puts it back in queue/normal/
# ($f) with no attempt, its one earlier attempt (that exited EXIT) kept in
# previous_attempts.
retried() {
	run agq-retry "$1"
	[ "$status" -eq 0 ]
	[ "$output" = "$1" ]
	is_state "$1" queue
	f="$AGQ_SPOOL/queue/normal/$1.json"
	[ "$(jq '.attempts | length' "$f")" -eq 0 ]
	[ "$(jq '.previous_attempts | length' "$f")" -eq 1 ]
	[ "$(jq '.previous_attempts[0].exit' "$f")" -eq "$2" ]
}

@test "retry of a dead task resets attempts, keeps previous_attempts, and it then succeeds" {
	id=$(agq-submit --max-attempts 1 -- sh -c "test -e '$WORK/ok'")
	start_sched
	start_agent a1
	agent=$AGENT_PID
	wait_for 30 is_state "$id" dead
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/dead/$id.json")" -eq 1 ]
	# stop the agent so the retried task stays in the queue for a look
	kill -TERM "$agent"
	wait_for 20 gone "$agent"
	retried "$id" 1
	[ "$(ev_count "$id" retry)" -eq 1 ]
	[ "$(agq-journal --id "$id" --ev retry | jq -r .from)" = dead ]
	touch "$WORK/ok"
	start_agent a1
	run agq-wait --timeout 30 -q "$id"
	[ "$status" -eq 0 ]
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/$id.json")" -eq 1 ]
	[ "$(jq '.previous_attempts | length' "$AGQ_SPOOL/done/$id.json")" -eq 1 ]
}

@test "retry of a done task runs it again: a new attempt, the history kept (pueue restart)" {
	id=$(agq-submit -- sh -c "echo run >> '$WORK/runs'")
	run_once_until_done "$id"
	retried "$id" 0
	[[ "$(jq -r .reason "$f")" == "retried by "*"(attempts reset)" ]]
	[ "$(agq-journal --id "$id" --ev retry | jq -r '"\(.from)>\(.to)"')" = "done>queue" ]
	run_once_until_done "$id"
	[ "$(wc -l < "$WORK/runs")" -eq 2 ]
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/$id.json")" -eq 1 ]
	[ "$(jq '.previous_attempts | length' "$AGQ_SPOOL/done/$id.json")" -eq 1 ]
	[ "$(agq-journal --id "$id" --ev done | wc -l)" -eq 2 ]
}

@test "ops on unknown ids exit 66" {
	for op in agq-cancel agq-hold agq-release agq-retry; do
		run $op no-such-task
		echo "$op: $status $output"
		[ "$status" -eq 66 ]
		[[ "$output" == *"no such task"* ]]
	done
	# an invalid id is no task either
	run agq-cancel 'bad/id'
	[ "$status" -eq 66 ]
}

@test "ops in the wrong state exit 1 and change nothing" {
	q=$(agq-submit -- true)
	d=$(agq-submit -- true)
	agq-cancel -q "$d"
	run agq-release "$q"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot release"* ]]
	run agq-retry "$q"
	[ "$status" -eq 1 ]
	run agq-hold "$d"
	[ "$status" -eq 1 ]
	run agq-cancel "$d"
	[ "$status" -eq 1 ]
	is_state "$q" queue
	is_state "$d" dead
	# a done task can be neither held nor cancelled nor released
	start_sched
	start_agent a1
	run agq-wait --timeout 30 -q "$q"
	[ "$status" -eq 0 ]
	for op in agq-hold agq-cancel agq-release; do
		run $op "$q"
		echo "$op: $status $output"
		[ "$status" -eq 1 ]
	done
	is_state "$q" done
	[ "$(journal_count hold)" -eq 0 ]
	[ "$(journal_count release)" -eq 0 ]
}

@test "a mix of ids: each is handled, the exit status is the worst" {
	a=$(agq-submit -- true)
	b=$(agq-submit -- true)
	run agq-hold "$a" nope "$b"
	[ "$status" -eq 66 ]
	is_state "$a" hold
	is_state "$b" hold
}

@test "ids are read from standard input: agq-ls --state dead -q | agq-retry" {
	ids=()
	for i in 1 2 3; do ids+=("$(agq-submit -- true)"); done
	keep=$(agq-submit -- true)
	printf '%s\n' "${ids[@]}" | agq-cancel -q
	for id in "${ids[@]}"; do is_state "$id" dead; done
	run bash -c 'agq-ls --state dead -q | agq-retry'
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	for id in "${ids[@]}"; do is_state "$id" queue; done
	is_state "$keep" queue
	[ "$(journal_count cancel)" -eq 3 ]
	[ "$(journal_count retry)" -eq 3 ]
}

@test "each op journals its event with from, to and by" {
	id=$(agq-submit -- true)
	agq-hold -q "$id"
	agq-release -q "$id"
	agq-cancel -q "$id"
	agq-retry -q "$id"
	run agq-journal --id "$id"
	[ "$status" -eq 0 ]
	evs=$(printf '%s\n' "$output" | jq -r .ev | tr '\n' ' ')
	[ "$evs" = "submit hold release cancel retry " ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.ev != "submit") | "\(.from)>\(.to)"' | tr '\n' ' ')" = \
	    "queue>hold hold>queue queue>dead dead>queue " ]
	[ -z "$(printf '%s\n' "$output" | jq -r 'select(.ev != "submit") | select(.by == null)')" ]
}
