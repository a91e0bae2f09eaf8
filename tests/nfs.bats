#!/usr/bin/env bats
# A spool on a network file system (issue 20, part nfs), tried on the local
# disk with spool_fs = remote forcing the remote paths: polling instead of
# inotify, the one journal writer (events/), and link(2)/rename(2) that
# report a failure after doing the work (the fault shim).

load helper

remote() { echo "spool_fs = remote" >> "$AGQ_CONF"; }
pending() { set -- "$AGQ_SPOOL"/events/new/*.json; [ -e "$1" ] && echo $# || echo 0; }

@test "a remote spool: agq-sched, agq-run and agq-wait poll, say so once, and a task runs end to end" {
	remote
	start_sched --poll 0.1
	start_agent a --poll 0.1
	id=$(agq-submit -- echo hello)
	run agq-wait --poll 0.1 --timeout 30 "$id"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'polling .* every 0.1 s, not watching it with inotify: the spool is remote' <<<"$output")" -eq 1 ]
	is_state "$id" done
	wait_for 20 test "$(journal_count poll)" -eq 2
	for log in sched.log agent-a.log; do
		[ "$(grep -c 'polling .* not watching it with inotify' "$BATS_TEST_TMPDIR/$log")" -eq 1 ]
	done
	grep '"ev":"poll"' "$AGQ_SPOOL/journal" | grep -q '"fs":"local","why":"the spool is remote'
	# --poll 0: inotify, nothing said
	run agq-wait --poll 0 --timeout 5 "$id"
	[ "$status" -eq 0 ] && [ -z "$output" ]
}

@test "a remote spool: events wait in events/new, agq-sched appends them in order, --verify says so and passes" {
	agq-submit -q --id local1 -- true
	[ ! -d "$AGQ_SPOOL/events" ]            # a local spool: as before
	[ "$(journal_count submit)" -eq 1 ]
	remote
	for i in 1 2 3; do agq-submit -q --id "r$i" -- true; done
	[ "$(pending)" -eq 3 ]
	[ "$(journal_count submit)" -eq 1 ]
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"events/new: 3 file(s) of events not yet appended"* ]]
	agq-sched --once
	[ "$(pending)" -eq 0 ]
	[ "$(grep '"ev":"submit"' "$AGQ_SPOOL/journal" | jq -r .id | tr '\n' ' ')" = "local1 r1 r2 r3 " ]
	grep '"id":"r2"' "$AGQ_SPOOL/journal" | grep -q '"src":"[0-9]\{16\}-.*\.json"'
	run agq-journal --verify
	[ "$status" -eq 0 ] && [[ "$output" == *"chain intact"* ]]
	[[ "$output" != *"not yet appended"* ]]
}

@test "a remote spool: a file appended before a crash kept it is not appended twice; a bad one goes to corrupt/" {
	remote
	agq-submit -q --id once -- true
	f=$(ls "$AGQ_SPOOL/events/new")
	cp "$AGQ_SPOOL/events/new/$f" "$BATS_TEST_TMPDIR/"
	agq-sched --once
	# the crash between the append and the unlink: the file is back
	cp "$BATS_TEST_TMPDIR/$f" "$AGQ_SPOOL/events/new/"
	echo 'not json' > "$AGQ_SPOOL/events/new/0000000000000000-x-1-000001.json"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"events/new/: 2 file(s) of events not appended"* ]]
	run agq-sched --once
	[[ "$output" == *"not a JSON array of events: moved to corrupt/"* ]]
	[ "$(pending)" -eq 0 ]
	[ -f "$AGQ_SPOOL/corrupt/events-0000000000000000-x-1-000001.json" ]
	[ "$(grep -c '"ev":"submit","id":"once"' "$AGQ_SPOOL/journal")" -eq 1 ]
	agq-journal --verify
	# agq-fsck --fix appends what no scheduler will
	agq-submit -q --id later -- true
	run agq-fsck --fix
	[[ "$output" == *"1 file(s) of events not appended"*"(fixed)"* ]]
	[ "$(pending)" -eq 0 ]
	[ "$(journal_count submit)" -eq 2 ]
}

@test "a remote spool: agq-journal --rotate asks agq-sched, the one writer, and waits; without one it says so (75), and the next one rotates" {
	remote
	agq-submit -q --id before -- true
	# no scheduler: asked, not done
	run agq-journal --rotate --timeout 1
	[ "$status" -eq 75 ]
	[[ "$output" == *"no agq-sched did within 1 s"* ]]
	[ -f "$AGQ_SPOOL/events/rotate" ]
	! ls "$AGQ_SPOOL"/journal.2* 2>/dev/null
	# asked again: one rotation
	agq-journal --rotate --timeout 0
	agq-sched --once
	[ ! -e "$AGQ_SPOOL/events/rotate" ]
	old=$(ls "$AGQ_SPOOL"/journal.2*)
	[ "$(echo "$old" | wc -l)" -eq 1 ]
	# the waiting events went first, into the old file
	grep -q '"ev":"submit","id":"before"' "$old"
	head -1 "$AGQ_SPOOL/journal" | jq -e --arg h "$(hostname)" \
	    '.ev == "rotate" and .prog == "agq-sched" and .asked_by.host == $h and .asked_by.uid == '"$(id -u)"
	# with a scheduler running: done while it waits, the old path printed
	start_sched --poll 0.1
	run agq-journal --rotate
	[ "$status" -eq 0 ]
	[ -f "$output" ] && [ "$output" != "$old" ]
	[ "$(head -1 "$AGQ_SPOOL/journal" | jq -r .from)" = "$(basename "$output")" ]
	agq-journal --verify
}

@test "link and rename that fail after doing it (NFS): tasks submitted, leased and done, each exactly once" {
	fault_shim
	flag="$BATS_TEST_TMPDIR/fail-link"
	touch "$flag"
	export AGQ_FAIL_LINK=$flag AGQ_FAIL_LINK_IN=/spool/ \
	    ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0
	for i in 1 2 3; do
		LD_PRELOAD=$shim agq-submit -q --id "t$i" -C "$WORK" -- sh -c "echo $i >> runs"
	done
	for round in 1 2 3 4 5 6; do
		[ $((round % 2)) -eq 0 ] && e=ENOENT || e=EIO
		LD_PRELOAD=$shim AGQ_FAIL_LINK_ERRNO=$e agq-sched --once
		LD_PRELOAD=$shim AGQ_FAIL_LINK_ERRNO=$e agq-run --agent a --slots 3 --once
		count_is done 3 && break
	done
	rm "$flag"
	count_is done 3
	[ "$(sort "$WORK/runs" | tr '\n' ' ')" = "1 2 3 " ]
	for i in 1 2 3; do
		[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/t$i.json")" -eq 1 ]
		[ "$(grep -c "\"ev\":\"done\",\"id\":\"t$i\"" "$AGQ_SPOOL/journal")" -eq 1 ]
	done
	[ "$(journal_count submit)" -eq 3 ]
	agq-journal --verify
	run agq-fsck
	[ "$status" -eq 0 ]
}

@test "no RENAME_NOREPLACE (NFS): a retried task's attempts each keep their output; tasks move and claim without replacing" {
	fault_shim
	export AGQ_NO_RENAME2=1 ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0
	LD_PRELOAD=$shim agq-submit -q --id nr-1 --max-attempts 2 --backoff 0 -- sh -c '
	    if [ -e "$AGQ_OUT/ran" ]; then echo second; exit 0; fi
	    touch "$AGQ_OUT/ran"; echo first; exit 3'
	for round in 1 2 3 4; do
		LD_PRELOAD=$shim agq-sched --once
		LD_PRELOAD=$shim agq-run --agent a --once 2>> "$BATS_TEST_TMPDIR/agent.log"
		count_is done 1 && break
	done
	count_is done 1
	! grep -q "cannot keep" "$BATS_TEST_TMPDIR/agent.log"
	[ "$(cat "$AGQ_SPOOL/out/nr-1/stdout.1")" = first ]
	[ "$(agq-cat --attempt 1 nr-1)" = first ]
	[ "$(agq-cat --attempt 2 nr-1)" = second ]
	run agq-fsck
	[ "$status" -eq 0 ]
}

@test "no RENAME_NOREPLACE (NFS): the agent's spare output directory becomes the task's out/ID (not a new one)" {
	fault_shim
	export AGQ_NO_RENAME2=1 ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0
	LD_PRELOAD=$shim start_agent a
	wait_for 20 test -d "$AGQ_SPOOL/out/.spare-a"
	ino=$(stat -c %i "$AGQ_SPOOL/out/.spare-a")
	id=$(agq-submit -- echo hello)
	LD_PRELOAD=$shim agq-sched --once
	wait_for 30 is_state "$id" done
	[ "$(stat -c %i "$AGQ_SPOOL/out/$id")" = "$ino" ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = hello ]
	# and a new spare made for the next task
	wait_for 20 test -d "$AGQ_SPOOL/out/.spare-a"
	[ "$(stat -c %i "$AGQ_SPOOL/out/.spare-a")" != "$ino" ]
}

@test "agq.conf spool_fs: auto, local or remote, else a clear error" {
	echo "spool_fs = sometimes" >> "$AGQ_CONF"
	run agq-ls
	[ "$status" -eq 78 ]
	[[ "$output" == *"spool_fs: not auto, local or remote: 'sometimes'"* ]]
}
