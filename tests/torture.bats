#!/usr/bin/env bats
# Crash torture and a full disk (tests/torture/run, tests/torture/full-disk),
# in their short forms; `make torture` runs them longer.

load helper
bats_require_minimum_version 1.5.0

TOP=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}

@test "crash torture: kill -9 of agq-sched, agents and agq-submit at random; every invariant holds" {
	run "$TOP/tests/torture/run" --seconds "${AGQ_TORTURE_SECONDS:-8}" \
	    --tasks "${AGQ_TORTURE_TASKS:-250}" --drain 60
	grep '^torture:' <<< "$output" | sed 's/^/# /' >&3
	[ "$status" -eq 0 ]
	[[ "$output" == *"torture: all invariants hold"* ]]
	# it really killed and really acknowledged
	[[ "$output" =~ kills:\ agq-sched\ [1-9][0-9]*,\ agq-run\ [1-9][0-9]*, ]]
	[[ "$output" =~ acknowledged\ [1-9][0-9][0-9]+\ ids ]]
}

@test "a full disk: agq-submit fails with a clear error and exit 75; nothing acknowledged is lost" {
	run "$TOP/tests/torture/full-disk"
	grep '^full-disk:' <<< "$output" | sed 's/^/# /' >&3
	[ "$status" -eq 0 ]
	[[ "$output" == *"exit 75 after "*" acknowledged tasks"* ]]
	[[ "$output" == *"missing 0, damaged 0"* ]]
}

@test "a full disk: agq-sched and agq-run keep running, lose nothing, and carry on when there is room" {
	run "$TOP/tests/torture/full-disk-daemons"
	grep '^full-disk-daemons:' <<< "$output" | sed 's/^/# /' >&3
	[ "$status" -eq 0 ]
	[[ "$output" != *FAIL* ]]
	[[ "$output" == *"cannot promote: No space left on device"* ]]
	[[ "$output" == *"agq-run --once with a lease it cannot start: exit 75"* ]]
	[[ "$output" == *"at the end: 17 tasks in 17 files, 0 problems"* ]]
}
