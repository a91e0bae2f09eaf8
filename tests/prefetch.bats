#!/usr/bin/env bats
# agq-run --prefetch: leases taken beyond the slots, started as soon as a
# slot frees, and taken back for an agent that comes free (agq-sched(8)).

load helper

ev_field() {
	agq-journal --id "$1" --ev "$2" | head -1 | jq -r ".$3"
}

# a task that says it started, then waits for $WORK/go
blocker() {
	agq-submit -- sh -c "touch '$WORK/$1'; while [ ! -e '$WORK/go' ]; do sleep 0.05; done"
}

leased_to() { [ -e "$AGQ_SPOOL/active/$2/$1.json" ]; }

# agent a1 (--prefetch 1) runs blocker t1 ($t1) and holds $t2 prefetched
prefetched_behind_blocker() {
	start_sched
	start_agent a1 --prefetch 1
	t1=$(blocker t1)
	wait_for 30 test -e "$WORK/t1"
	t2=$(agq-submit -- touch "$WORK/t2")
	wait_for 30 leased_to "$t2" a1
}

@test "without --prefetch a busy agent takes no lease beyond its slot" {
	start_sched
	start_agent a1
	t1=$(blocker t1)
	wait_for 30 test -e "$WORK/t1"
	t2=$(agq-submit -- touch "$WORK/t2")
	sleep 1
	is_state "$t2" queue
	touch "$WORK/go"
	run agq-wait --timeout 30 -q "$t1" "$t2"
	[ "$status" -eq 0 ]
}

@test "with --prefetch 1 a busy agent holds one more lease, unstarted, and starts it when its task ends" {
	start_sched
	start_agent a1 --prefetch 1
	wait_for 30 jq_is "$AGQ_SPOOL/agents/a1.json" .prefetch 1
	t1=$(blocker t1)
	wait_for 30 test -e "$WORK/t1"
	t2=$(agq-submit -- touch "$WORK/t2")
	t3=$(agq-submit -- touch "$WORK/t3")
	wait_for 30 leased_to "$t2" a1
	# one prefetched lease, not started; the next task stays queued
	sleep 1
	[ ! -e "$WORK/t2" ]
	[ "$(agq-journal --id "$t2" --ev start | wc -l)" -eq 0 ]
	is_state "$t3" queue
	[[ "$(ev_field "$t2" assign reason)" == *"prefetched"* ]]
	touch "$WORK/go"
	run agq-wait --timeout 30 -q "$t1" "$t2" "$t3"
	[ "$status" -eq 0 ]
	[ "$(ev_field "$t2" done agent)" = a1 ]
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/$t2.json")" -eq 1 ]
}

@test "a prefetched lease is taken back for an agent that comes free, and runs there" {
	prefetched_behind_blocker
	start_agent a2
	# t2 runs on a2 while t1 still holds a1's slot
	wait_for 30 test -e "$WORK/t2"
	run agq-wait --timeout 30 -q "$t2"
	[ "$status" -eq 0 ]
	[ "$(ev_field "$t2" done agent)" = a2 ]
	[[ "$(ev_field "$t2" reclaim reason)" == *"prefetched and not started; agent a2 is idle"* ]]
	# taking back is no attempt
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/$t2.json")" -eq 1 ]
	is_state "$t1" active
	touch "$WORK/go"
	run agq-wait --timeout 30 -q "$t1"
	[ "$status" -eq 0 ]
}

@test "a prefetched lease waits past assign_timeout while its agent is busy" {
	sed -i 's/^assign_timeout = .*/assign_timeout = 1/' "$AGQ_CONF"
	prefetched_behind_blocker
	# three reclaim checks (every second) past its assign_timeout
	sleep 3
	leased_to "$t2" a1
	[ "$(agq-journal --id "$t2" --ev reclaim | wc -l)" -eq 0 ]
	touch "$WORK/go"
	run agq-wait --timeout 30 -q "$t1" "$t2"
	[ "$status" -eq 0 ]
}

@test "agq-run --prefetch rejects a negative or non-numeric count" {
	run agq-run --agent a1 --prefetch -1
	[ "$status" -eq 64 ]
	[[ "$output" == *"--prefetch"* ]]
	run agq-run --agent a1 --prefetch x
	[ "$status" -eq 64 ]
}

# coalesced ID: its start and finish went out in one append (the task had
# ended before its start record was committed: agq-run(8))
coalesced() {
	jq -rs 'range(1; length) as $i | select(.[$i-1].ev == "start" and
	    .[$i].ev == "finish" and .[$i-1].id == .[$i].id and
	    .[$i-1].seq + 1 == .[$i].seq) | .[$i].id' "$AGQ_SPOOL/journal"
}

@test "short tasks behind one another: each gets one attempt and one start, also when its start record was never committed" {
	start_sched
	start_agent a1 --prefetch 1
	ids=$(for i in $(seq 20); do echo '{"cmd":["true"]}'; done | agq-submit)
	run agq-wait --timeout 60 -q $ids
	[ "$status" -eq 0 ]
	for id in $ids; do
		f=$AGQ_SPOOL/done/$id.json
		[ "$(jq '.attempts | length' "$f")" -eq 1 ]
		[ "$(jq -r '.attempts[0] | (.started != null and .finished != null and .exit == 0)' "$f")" = true ]
		[ "$(agq-journal --id "$id" --ev start | wc -l)" -eq 1 ]
		[ "$(agq-journal --id "$id" --ev finish | wc -l)" -eq 1 ]
	done
	# with --prefetch 1 the next `true` mostly ends while the last one's
	# result is recorded: its final record alone, start and finish in one
	# append
	[ "$(coalesced | wc -l)" -ge 1 ]
	# the spare start record file stays for the next start
	wait_for 30 test -e "$AGQ_SPOOL/tmp/.spare-a1"
	run agq-journal --verify
	[ "$status" -eq 0 ]
}
