#!/usr/bin/env bats
# Liveness across hosts (issue 20): heartbeats are agent files' mtimes,
# judged by the file server's clock (.clock-probe); an agent name is
# claimed by link(2) across hosts; agq-doctor's clock skew and mount
# checks.  Two "hosts" are two UTS namespaces (unshare --uts, as root),
# one kernel: the same boot id, different host names.  No daemon but the
# one agent that is replaced; agq-sched and agq-run in --once passes.

load helper

# on HOST CMD...: run CMD with host name HOST (a UTS namespace of its own).
on() {
	local h=$1
	shift
	unshare --uts sh -c 'hostname "$0" && exec "$@"' "$h" "$@"
}

needs_uts() {
	unshare --uts true 2>/dev/null || skip "unshare --uts needs root"
}

# a long lease: a fresh agent file stays alive through a slow test
long_lease() { printf 'lease = 60\n' >> "$AGQ_CONF"; }

@test "one name across hosts: refused while the first is alive, shown with its host; a stale one is replaced, journaled agent_replaced" {
	needs_uts
	long_lease
	on h1 agq-run --once --agent a1
	jq -e '.host == "h1" and (.boot_id | length) == 36 and .pid > 0' \
	    "$AGQ_SPOOL/agents/a1.json"
	old_pid=$(jq -r .pid "$AGQ_SPOOL/agents/a1.json")
	run on h2 agq-run --once --agent a1
	[ "$status" -eq 75 ]
	[[ "$output" == *"agent a1 is already running on host h1 (pid $old_pid)"* ]]
	jq -e '.host == "h1"' "$AGQ_SPOOL/agents/a1.json"
	run agq-status --json
	jq -e '.agents[0] | .name == "a1" and .host == "h1" and .state == "idle"
	    and (.boot_id | length) == 36' <<< "$output"
	run agq-status
	printf '%s\n' "$output" | grep -Eq '^a1 +idle +1 +[0-9]+s ago +h1 '
	# h1's heartbeat two minutes old (its JSON says now): h2 takes the name
	touch -d '2 minutes ago' "$AGQ_SPOOL/agents/a1.json"
	on h2 agq-run --once --agent a1
	jq -e '.host == "h2"' "$AGQ_SPOOL/agents/a1.json"
	[ "$(journal_count agent_replaced)" -eq 1 ]
	jq -es --argjson p "$old_pid" 'map(select(.ev == "agent_replaced"))[0] |
	    .agent == "a1" and .old_host == "h1" and .old_pid == $p and
	    .host == "h2" and (.reason | test("older than its lease"))' \
	    "$AGQ_SPOOL/journal"
	# the same host again: its own earlier run, replaced without an event
	on h2 agq-run --once --agent a1
	[ "$(journal_count agent_replaced)" -eq 1 ]
	ls "$AGQ_SPOOL/tmp" | { ! grep -q 'agent-\|claim-'; }
}

@test "a full disk at the claim: the agent starts on its local lock, degraded, instead of exiting" {
	so=${AGQ_TEST_FAILFSYNC:-$AGQ_TOP/build/fault/failfsync.so}
	[ -e "$so" ] || skip "make build/fault/failfsync.so"
	touch "$WORK/full"
	mkdir -p "$AGQ_SPOOL"
	agq-sched --once        # the spool made: only tmp/ is full
	LD_PRELOAD=$so AGQ_FAIL_WRITE=$WORK/full \
	    AGQ_FAIL_WRITE_IN="$AGQ_SPOOL/tmp/" \
	    ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 \
	    run agq-run --once --agent a1
	[ "$status" -eq 0 ]
	[[ "$output" == *"cannot claim the agent's name: No space left on device"* ]]
	[[ "$output" == *"agent a1 is degraded"* ]]
}

@test "an agent whose name another host took while it was judged dead stops at its next heartbeat, exit 75, writing nothing" {
	needs_uts
	# unshare and sh exec: $! is agq-run itself
	unshare --uts sh -c 'hostname h1 && exec agq-run --agent a1 \
	    --heartbeat 0.2' 2>"$WORK/h1.log" &
	pid=$!
	PIDS+=($pid)
	wait_for 20 jq -e '.host == "h1"' "$AGQ_SPOOL/agents/a1.json"
	# host h2 claimed the name meanwhile (its flock, on another kernel,
	# does not exclude h1's: here the file is written as its claim would)
	kill -STOP "$pid"
	jq '.host = "h2" | .pid = 3' "$AGQ_SPOOL/agents/a1.json" > "$WORK/a1.json"
	mv "$WORK/a1.json" "$AGQ_SPOOL/agents/a1.json"
	kill -CONT "$pid"
	st=0
	wait "$pid" || st=$?
	[ "$st" -eq 75 ]
	grep -q "agent a1 was replaced by host h2 (pid 3)" "$WORK/h1.log"
	jq -e '.host == "h2" and .pid == 3 and .state == "idle"' \
	    "$AGQ_SPOOL/agents/a1.json"
	[ "$(journal_count agent_down)" -eq 0 ]
}

@test "heartbeat age is the agent file's mtime: set into the past, its lease is reclaimed although its JSON heartbeat is fresh" {
	long_lease
	agq-run --once --agent a1
	id=$(agq-submit -- true)
	agq-sched --once
	is_state "$id" active
	# fresh by both: a second pass leaves it
	agq-sched --once
	is_state "$id" active
	hb=$(jq -r .heartbeat "$AGQ_SPOOL/agents/a1.json")
	touch -d '2 minutes ago' "$AGQ_SPOOL/agents/a1.json"
	agq-sched --once
	is_state "$id" queue
	[ "$(jq -r .heartbeat "$AGQ_SPOOL/agents/a1.json")" = "$hb" ]
	jq -es 'map(select(.ev == "reclaim"))[0].reason |
	    test("heartbeat older than 60 s")' "$AGQ_SPOOL/journal"
	# marked offline, its mtime kept: still two minutes old
	jq -e '.state == "offline"' "$AGQ_SPOOL/agents/a1.json"
	[ $(($(date +%s) - $(stat -c %Y "$AGQ_SPOOL/agents/a1.json"))) -ge 100 ]
	[ -e "$AGQ_SPOOL/.clock-probe" ]
}

@test "a scheduler whose clock runs 10 minutes ahead judges heartbeats by the server's: a live agent keeps its lease" {
	shim=$AGQ_TOP/build/fault/clockoff.so
	[ -e "$shim" ] || skip "make build/fault/clockoff.so"
	long_lease
	agq-run --once --agent a1
	id=$(agq-submit -- true)
	LD_PRELOAD=$shim AGQ_CLOCK_OFFSET=600 agq-sched --once
	is_state "$id" active
	LD_PRELOAD=$shim AGQ_CLOCK_OFFSET=600 agq-sched --once
	is_state "$id" active
	[ "$(journal_count reclaim)" -eq 0 ] || { cat "$AGQ_SPOOL/journal"; false; }
}

# doctor [VAR=VALUE]...: agq-doctor --json in that environment, with no
# CLI to run (an empty lock): the spool's checks only
doctor() {
	echo '{}' > "$WORK/lock.json"
	grep -q '^cli_lock' "$AGQ_CONF" ||
	    echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	env "$@" agq-doctor --json
}

@test "agq-doctor: the skew to the file server's clock, failed over clock_skew_max" {
	shim=$AGQ_TOP/build/fault/clockoff.so
	[ -e "$shim" ] || skip "make build/fault/clockoff.so"
	run doctor
	jq -e '.checks[] | select(.check == "clock") | .status == "ok" and
	    (.detail | test("clock_skew_max 2 s"))' <<< "$output"
	# this host 10 s behind: the probe's mtime is 10 s ahead
	run doctor LD_PRELOAD="$shim" AGQ_CLOCK_OFFSET=-10
	[ "$status" -eq 1 ]
	jq -e '.checks[] | select(.check == "clock") | .status == "fail" and
	    (.detail | test("is \\+(9|10)\\.[0-9]+ s off"))' <<< "$output"
	echo "clock_skew_max = 15" >> "$AGQ_CONF"
	run doctor LD_PRELOAD="$shim" AGQ_CLOCK_OFFSET=-10
	jq -e '.checks[] | select(.check == "clock") | .status == "ok"' <<< "$output"
}

@test "agq-doctor: the spool's mount against the recommended set, each finding named; nothing on a local file system" {
	sp=$(cd "$AGQ_SPOOL" && pwd -P)
	mi=$WORK/mountinfo
	line() {        # line TYPE SUPER-OPTIONS: the spool's mount, over /
		printf '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n'
		printf '90 22 0:52 / %s rw,relatime shared:7 - %s srv:/export %s\n' \
		    "$sp" "$1" "$2"
	}
	line nfs4 rw,vers=4.2,acregmin=60,acregmax=60,acdirmin=60,acdirmax=60,hard,local_lock=none > "$mi"
	run doctor AGQ_MOUNTINFO="$mi"
	jq -e '[.checks[] | select(.check | startswith("mount"))] |
	    map(.check) == ["mount lookupcache", "mount actimeo"]' <<< "$output"
	jq -e '.checks[] | select(.check == "mount actimeo") | .status == "warn"
	    and (.detail | test("cached up to 60 s.*look dead.*actimeo=1 or noac"))' <<< "$output"
	# a recorded NFSv3 line: nolock and soft too
	line nfs rw,vers=3,actimeo=60,soft,nolock > "$mi"
	run doctor AGQ_MOUNTINFO="$mi"
	[ "$status" -eq 1 ]
	jq -e '[.checks[] | select(.check | startswith("mount")) | .check] ==
	    ["mount version", "mount lookupcache", "mount actimeo", "mount lock",
	    "mount hard"]' <<< "$output"
	jq -e '.checks[] | select(.check == "mount lock") | .status == "fail" and
	    (.detail | test("nolock.*does not exclude another host"))' <<< "$output"
	# the recommended set: one ok line
	line nfs4 rw,vers=4.1,actimeo=1,lookupcache=pos,hard,local_lock=none > "$mi"
	run doctor AGQ_MOUNTINFO="$mi"
	jq -e '[.checks[] | select(.check | startswith("mount"))] | length == 1
	    and .[0].status == "ok"' <<< "$output"
	# a local file system: nothing said
	line ext4 rw > "$mi"
	run doctor AGQ_MOUNTINFO="$mi"
	jq -e '[.checks[] | select(.check | startswith("mount"))] | length == 0' <<< "$output"
}
