#!/usr/bin/env bats
# LeakSanitizer in the test build (make check): on in the daemons
# (agq-sched, agq-run, agq-dash), where a leak in a loop grows, and off in
# the one-shot programs, whose memory is returned at exit, unless
# AGQ_TEST_LEAKS=1 (tests/san/noleaks.c, tests/helper.bash).  The leak is
# tests/fault/leak.c, an LD_PRELOAD shim whose constructor loses 16 KiB in
# every process it is loaded into.

load helper

# leaky_env: skip unless the programs are the sanitizer build and the shim
# is built; else export LD_PRELOAD (the shim) and ASAN_OPTIONS (the shim
# before the sanitizer's runtime in the library list is allowed) for what
# the test starts next.
leaky_env() {
	grep -q __asan_init "$AGQ_TEST_BIN/agq-sched" 2>/dev/null ||
	    skip "not a sanitizer build ($AGQ_TEST_BIN)"
	local shim=${AGQ_TEST_LEAKSO:-$AGQ_TOP/build/fault/leak.so}
	[ -f "$shim" ] || skip "no $shim (make build/fault/leak.so)"
	export LD_PRELOAD=$shim ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0
}

# stopped PID LOG: PID, a daemon, stopped with SIGTERM, exited non-zero
# with LeakSanitizer's report in LOG.
stopped() {
	local st=0
	kill -TERM "$1"
	wait "$1" || st=$?
	echo "exit $st"
	[ "$st" -ne 0 ] && grep -q 'LeakSanitizer: detected memory leaks' "$2"
}

@test "a leak in agq-sched or agq-run fails it at exit; the one-shot programs its task starts, with the same environment, skip the check" {
	leaky_env
	start_sched
	start_agent a1
	agq-submit -q --id t1 -- sh -c "agq-ls > '$WORK/ls.out'"
	agq-wait --timeout 60 -q t1
	[ -s "$WORK/ls.out" ]
	stopped "$AGENT_PID" "$BATS_TEST_TMPDIR/agent-a1.log"
	stopped "$SCHED_PID" "$BATS_TEST_TMPDIR/sched.log"
}

@test "agq-dash checks for leaks; agq-ls, agq-submit and a backend do not, unless AGQ_TEST_LEAKS=1" {
	leaky_env
	run agq-dash -o "$WORK/dash.html"
	[ "$status" -ne 0 ]
	[[ $output = *"LeakSanitizer: detected memory leaks"* ]]
	run agq-submit -q -- true
	[ "$status" -eq 0 ]
	run agq-ls
	[ "$status" -eq 0 ]
	run "$(dirname "$AGQ_TEST_BIN")/libexec/agq/shell" --help
	[ "$status" -eq 0 ]
	[[ $output != *LeakSanitizer* ]]
	AGQ_TEST_LEAKS=1 run agq-ls
	[ "$status" -ne 0 ]
	[[ $output = *"LeakSanitizer: detected memory leaks"* ]]
}
