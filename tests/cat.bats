#!/usr/bin/env bats
# agq-cat(1): a task's output, of any attempt, printed or followed while
# the task runs; every attempt's output kept (agq-spool(5), out/ID).

load helper

@test "agq-cat prints a done task's stdout, --stderr its stderr; a prefix of the id does too" {
	start_agent a1
	start_sched
	agq-submit --id cat-done-1 -- sh -c 'echo out1; echo err1 >&2; echo out2'
	wait_for 30 is_state cat-done-1 done
	run agq-cat cat-done-1
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'out1\nout2')" ]
	run agq-cat --stderr cat-done-1
	[ "$status" -eq 0 ]
	[ "$output" = err1 ]
	run agq-cat -e cat-done
	[ "$status" -eq 0 ]
	[ "$output" = err1 ]
	run agq cat cat-done-1
	[ "$output" = "$(printf 'out1\nout2')" ]
}

@test "agq-cat: an unknown id is 66, an ambiguous prefix 64, a queued task has no output yet" {
	run agq-cat nosuch
	[ "$status" -eq 66 ]
	[[ "$output" == *"nosuch: no such task"* ]]
	agq-submit --id amb-1 -- true
	agq-submit --id amb-2 -- true
	run agq-cat amb-
	[ "$status" -eq 64 ]
	[[ "$output" == *"more than one task"* ]]
	run agq-cat amb-1
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run agq-cat --attempt 1 amb-1
	[ "$status" -eq 66 ]
	run agq-cat -f --attempt 1 amb-1
	[ "$status" -eq 64 ]
	run agq-cat --help
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]]
}

@test "agq-cat -f waits for the task to start, prints its lines as they come, and exits 0 when it is done" {
	start_sched
	agq-submit --id fol-1 -- sh -c 'echo one; while [ ! -e "$AGQ_OUT/go" ]; do sleep 0.1; done; echo two'
	agq-cat -f fol-1 > "$BATS_TEST_TMPDIR/followed" 2>&1 &
	local cat_pid=$!
	PIDS+=($cat_pid)
	sleep 0.5               # not started yet: agq-cat waits for it
	start_agent a1
	# "one" is printed while the task still runs (it waits for go)
	wait_for 30 grep -qx one "$BATS_TEST_TMPDIR/followed"
	is_state fol-1 active
	! grep -q two "$BATS_TEST_TMPDIR/followed"
	touch "$AGQ_SPOOL/out/fol-1/go"
	wait "$cat_pid"
	local rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/followed")" = "$(printf 'one\ntwo')" ]
}

@test "agq-cat -f of a failing task exits with its exit status" {
	start_agent a1
	start_sched
	agq-submit --id fail-1 --max-attempts 1 -- sh -c 'echo before; sleep 0.5; echo after; exit 7'
	run agq-cat -f fail-1
	[ "$status" -eq 7 ]
	[ "$output" = "$(printf 'before\nafter')" ]
	is_state fail-1 dead
	run agq-cat -f fail-1   # already dead: the same
	[ "$status" -eq 7 ]
}

@test "agq-cat --attempt: each attempt of a retried task keeps its own output" {
	start_agent a1
	start_sched
	agq-submit --id retry-1 --max-attempts 2 --backoff 0 -- sh -c '
	    if [ -e "$AGQ_OUT/ran" ]; then echo second; echo e2 >&2; exit 0; fi
	    touch "$AGQ_OUT/ran"; echo first; echo e1 >&2; exit 3'
	wait_for 60 is_state retry-1 done
	run agq-cat --attempt 1 retry-1
	[ "$status" -eq 0 ]
	[ "$output" = first ]
	run agq-cat --attempt 2 retry-1
	[ "$status" -eq 0 ]
	[ "$output" = second ]
	run agq-cat -e -a 1 retry-1
	[ "$output" = e1 ]
	run agq-cat retry-1     # the newest attempt's, under the old names
	[ "$output" = second ]
	[ "$(cat "$AGQ_SPOOL/out/retry-1/stdout")" = second ]
	[ "$(cat "$AGQ_SPOOL/out/retry-1/stdout.1")" = first ]
	run agq-cat --attempt 3 retry-1
	[ "$status" -eq 66 ]
	[[ "$output" == *"no attempt 3"* ]]
}
