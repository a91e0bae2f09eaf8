#!/usr/bin/env bats
# A spool whose storage fails (issue 17, items 2 and 6): a full disk or a
# failing one spends no attempt and dead-letters nothing (agq-run(8), "A
# full disk"); a read-only spool is one exit status, 77, for every
# program that writes it (agq(7), "Exit status").

load helper

# shim: the LD_PRELOAD fault injector (tests/fault/failfsync.c).
shim() {
	local s=${AGQ_TEST_FAILFSYNC:-$AGQ_TOP/build/fault/failfsync.so}
	[ -f "$s" ] || { echo "no $s: run make check (or make $s)" >&2; return 1; }
	echo "$s"
}

# heartbeat_older NAME SECONDS: agents/NAME.json's "heartbeat" is older.
heartbeat_older() {
	jq -e --argjson s "$2" '(now - (.heartbeat | sub("\\.[0-9]+Z$"; "Z") |
	    fromdateiso8601)) > $s' "$AGQ_SPOOL/agents/$1.json" >/dev/null
}

@test "a full disk while a task runs: the agent is degraded, not dead; the task exits 0 and ends done once, one attempt, max_attempts 1" {
	so=$(shim)
	full="$BATS_TEST_TMPDIR/full"
	gate="$WORK/gate"
	# every write(2) of the agent (and its task) into the spool fails
	# with ENOSPC while $full exists
	LD_PRELOAD=$so AGQ_FAIL_WRITE=$full AGQ_FAIL_WRITE_IN="$AGQ_SPOOL/" \
	    ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 start_agent r1
	wait_for 20 test -f "$AGQ_SPOOL/agents/r1.json"
	agq-submit -q --id t1 --max-attempts 1 -- sh -c \
	    "while [ ! -e '$gate' ]; do sleep 0.05; done"
	agq-sched --once
	wait_for 20 jq_is "$AGQ_SPOOL/active/r1/t1.json" '.attempts | length' 1
	wait_for 20 test "$(journal_count start)" -eq 1
	touch "$full"
	# the agent file cannot be rewritten: its heartbeat ages past the
	# lease (3 s), but the agent touches the file
	wait_for 30 heartbeat_older r1 4
	[ $(($(date +%s) - $(stat -c %Y "$AGQ_SPOOL/agents/r1.json"))) -lt 3 ]
	agq-sched --once
	is_state t1 active
	run agq-status --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.agents[] | select(.name == "r1") | .state' <<< "$output")" = degraded ]
	run agq-status
	[[ "$output" == *r1*degraded* ]]
	# the task exits 0 on the full disk: its result is held, not lost
	touch "$gate"
	wait_for 20 grep -q "cannot record the result, held: No space left on device" \
	    "$BATS_TEST_TMPDIR/agent-r1.log"
	agq-sched --once
	is_state t1 active
	grep -q "agent r1 is degraded" "$BATS_TEST_TMPDIR/agent-r1.log"
	# room again: the result lands, the agent says why it was degraded
	# no more
	rm "$full"
	wait_for 30 is_state t1 done
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/t1.json")" -eq 1 ]
	[ "$(jq -r '.attempts[0].exit' "$AGQ_SPOOL/done/t1.json")" = 0 ]
	jq_is "$AGQ_SPOOL/out/t1/result.json" .status done
	[ "$(journal_count done)" -eq 1 ]
	[ "$(journal_count finish)" -eq 1 ]
	[ "$(journal_count start)" -eq 1 ]
	[ "$(journal_count reclaim)" -eq 0 ]
	! grep -q interrupted "$AGQ_SPOOL/done/t1.json"
	wait_for 20 grep -q "agent r1 is no longer degraded" "$BATS_TEST_TMPDIR/agent-r1.log"
	wait_for 20 jq_is "$AGQ_SPOOL/agents/r1.json" .state idle
	agq-journal --verify
}

@test "a result that cannot be made durable (EIO): held, the agent file says degraded and why; done once when it can" {
	so=$(shim)
	full="$BATS_TEST_TMPDIR/full"
	touch "$full"
	# fsync(2) fails with EIO for the task files' rewrites (tmp/1...),
	# not for the agent's spare start record (tmp/.spare-r2) nor for its
	# agent file (not fsynced): the task starts, its end cannot be
	# recorded
	LD_PRELOAD=$so AGQ_FAIL_FSYNC=$full AGQ_FAIL_FSYNC_IN="$AGQ_SPOOL/tmp/1" \
	    ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 start_agent r2
	wait_for 20 test -f "$AGQ_SPOOL/tmp/.spare-r2"
	agq-submit -q --id t2 --max-attempts 1 -- true
	agq-sched --once
	wait_for 20 grep -q "cannot record the result, held: Input/output error" \
	    "$BATS_TEST_TMPDIR/agent-r2.log"
	wait_for 20 jq_is "$AGQ_SPOOL/agents/r2.json" .state degraded
	jq -e '.reason | test("cannot record the result: Input/output error")' \
	    "$AGQ_SPOOL/agents/r2.json"
	jq -e '.since' "$AGQ_SPOOL/agents/r2.json"
	is_state t2 active
	[ "$(journal_count done)" -eq 0 ]
	# degraded: it takes no new lease (agq-sched assigns it nothing)
	agq-submit -q --id t2b -- true
	agq-sched --once
	is_state t2b queue
	rm "$full"
	wait_for 30 is_state t2 done
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/t2.json")" -eq 1 ]
	# the journal's done follows the move (agq-spool(5))
	wait_for 10 test "$(journal_count done)" -ge 1
	[ "$(journal_count done)" -eq 1 ]
	[ "$(journal_count start)" -eq 1 ]
	jq_is "$AGQ_SPOOL/out/t2/result.json" .status done
	wait_for 20 jq_is "$AGQ_SPOOL/agents/r2.json" .state idle
	jq -e 'has("since") | not' "$AGQ_SPOOL/agents/r2.json"
}

@test "an agent degraded and then silent: its lease is handed back, the attempt not counted, never dead" {
	gate="$WORK/gate"
	start_agent r3
	wait_for 20 test -f "$AGQ_SPOOL/agents/r3.json"
	agq-submit -q --id t3 --max-attempts 1 -- sh -c \
	    "while [ ! -e '$gate' ]; do sleep 0.05; done"
	agq-sched --once
	wait_for 20 jq_is "$AGQ_SPOOL/active/r3/t3.json" '.attempts | length' 1
	kill -KILL "$AGENT_PID"
	# its last word: degraded, long ago (heartbeat and mtime)
	jq '.state = "degraded" | .reason = "cannot write agent file: No space left on device" |
	    .since = "2026-01-01T00:00:00.000000Z" | .heartbeat = "2026-01-01T00:00:00.000000Z"' \
	    "$AGQ_SPOOL/agents/r3.json" > "$WORK/r3.json"
	mv "$WORK/r3.json" "$AGQ_SPOOL/agents/r3.json"
	touch -d '2026-01-01 00:00:00 UTC' "$AGQ_SPOOL/agents/r3.json"
	agq-sched --once
	run agq-status --json
	is_state t3 queue || is_state t3 active
	f=$(find "$AGQ_SPOOL/queue" "$AGQ_SPOOL/active" -name t3.json)
	[ "$(jq '.attempts[0].handed_back' "$f")" = true ]
	[ "$(jq '.generation' "$f")" -ge 2 ]
	grep '"ev":"reclaim"' "$AGQ_SPOOL/journal" | grep -q '"counted":false'
	[ "$(count_in dead)" -eq 0 ]
	grep -q 'the agent was degraded, attempt not counted' "$f" ||
	    grep -q 'attempt not counted' "$AGQ_SPOOL/journal"
}

@test "a read-only spool: every program that writes it exits 77 and names the path" {
	command -v unshare >/dev/null || skip "no unshare"
	unshare -m true 2>/dev/null || skip "cannot make a mount namespace"
	agq-submit -q --id q1 -- true
	agq-submit -q --id h1 -- true
	agq-hold -q h1
	agq-submit -q --id d1 -- true
	agq-cancel -q d1
	agq-run -a a1 --once
	echo "alert_queue_depth = 0" >> "$AGQ_CONF"    # an alert to keep
	cat > "$WORK/ro.sh" <<'EOF'
mount --bind -o ro "$AGQ_SPOOL" "$AGQ_SPOOL" || exit 9
while read -r cmd; do
	$cmd > /dev/null 2> "$WORK/err"
	echo "$? $cmd: $(head -1 "$WORK/err")"
done <<CMDS
agq-submit -- true
agq-sched --once
agq-run -a a1 --once
agq-run -a a9 --once
agq-cancel q1
agq-hold q1
agq-release h1
agq-retry d1
agq-fsck --fix
agq-journal --rotate
agq-registry add e1 http://127.0.0.1:9 --type ollama --no-check
agq-alert
CMDS
EOF
	run unshare -m env WORK="$WORK" bash "$WORK/ro.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<< "$output")" -eq 12 ]
	while read -r rc cmd; do
		[ "$rc" = 77 ] || { echo "exit $rc: $cmd"; false; }
		[[ "$cmd" == *"Read-only file system ($AGQ_SPOOL"* ]] ||
		    { echo "no path: $cmd"; false; }
	done <<< "$output"
}
