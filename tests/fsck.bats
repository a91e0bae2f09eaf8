#!/usr/bin/env bats
# agq-fsck: each broken state is built by hand, reported, and repaired
# with --fix.

load helper
bats_require_minimum_version 1.5.0

summary() { printf '%s\n' "$output" | tail -1; }

@test "a clean spool: exit 0 and a summary line of zero problems" {
	agq-submit --id a true
	run agq-fsck
	[ "$status" -eq 0 ]
	[[ "$(summary)" == "agq-fsck: $AGQ_SPOOL: 1 tasks, 0 problems ("*"), 0 fixed" ]]
}

@test "a task in two states: done/ wins and the other copy is quarantined" {
	agq-submit --id a true
	cp "$AGQ_SPOOL/queue/normal/a.json" "$AGQ_SPOOL/done/a.json"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"duplicate: a: in queue/normal/ (generation 0) and done/ (generation 0): keeping done/"* ]]
	[[ "$(summary)" == *"1 problems ("*"1 duplicates"*"0 fixed" ]]
	[ -f "$AGQ_SPOOL/queue/normal/a.json" ]
	run agq-fsck --fix
	[ "$status" -eq 1 ]
	[[ "$(summary)" == *"1 fixed" ]]
	[ ! -e "$AGQ_SPOOL/queue/normal/a.json" ]
	[ -f "$AGQ_SPOOL/done/a.json" ]
	grep -q 'duplicate: a is also in done/' "$AGQ_SPOOL/corrupt/a.json.why"
	journal_count reject | grep -qx 1
	run agq-fsck
	[ "$status" -eq 0 ]
}

@test "a task in two states: the higher generation wins outside done/" {
	agq-submit --id b true
	sed 's/"generation": 0/"generation": 2/' "$AGQ_SPOOL/queue/normal/b.json" \
	    > "$AGQ_SPOOL/hold/b.json"
	cp "$AGQ_SPOOL/queue/normal/b.json" "$AGQ_SPOOL/dead/b.json"
	run agq-fsck --fix
	[ "$status" -eq 1 ]
	[[ "$output" == *"duplicate: b: in queue/normal/ (generation 0) and hold/ (generation 2): keeping hold/ (fixed)"* ]]
	[[ "$output" == *"duplicate: b: in dead/ (generation 0) and hold/ (generation 2): keeping hold/ (fixed)"* ]]
	[ "$(state_of b)" = hold ]
	[ "$(ls "$AGQ_SPOOL"/corrupt/b.json* | wc -l)" -eq 4 ]
}

@test "the lease of a dead agent goes back to the queue, with a new generation" {
	agq-submit --id c true
	mkdir -m 700 "$AGQ_SPOOL/active/ghost"
	mv "$AGQ_SPOOL/queue/normal/c.json" "$AGQ_SPOOL/active/ghost/c.json"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"lease: c: leased to ghost, whose agent file is missing"* ]]
	run agq-fsck --fix
	[[ "$output" == *"moved back to the queue (fixed)"* ]]
	[ "$(state_of c)" = queue ]
	grep -q '"generation": 1' "$AGQ_SPOOL/queue/normal/c.json"
	grep -q '"ev":"reclaim","id":"c"' "$AGQ_SPOOL/journal"
}

@test "stale tmp/ files (older than 36 h), a left claim of an agent's name too, are reported and moved to corrupt/" {
	agq-submit --id z true
	echo half > "$AGQ_SPOOL/tmp/1.M1P1Q1.host"
	touch -d '37 hours ago' "$AGQ_SPOOL/tmp/1.M1P1Q1.host"
	echo fresh > "$AGQ_SPOOL/tmp/2.M1P1Q1.host"
	run agq-fsck --fix
	[ "$status" -eq 1 ]
	[[ "$output" == *"stale tmp: tmp/1.M1P1Q1.host: untouched for 37.0 h (fixed)"* ]]
	[[ "$output" != *"2.M1P1Q1"* ]]
	[ "$(cat "$AGQ_SPOOL/corrupt/tmp-1.M1P1Q1.host")" = half ]
	[ -f "$AGQ_SPOOL/tmp/2.M1P1Q1.host" ]
	run agq-fsck --tmp-age 0
	[[ "$output" == *"stale tmp: tmp/2.M1P1Q1.host"* ]]
	# an agent's claim of its name left by a kill (a dot name) too; an
	# agent's spare start record is not a leftover
	echo '{}' > "$AGQ_SPOOL/tmp/.claim-a3.1.M1P1Q1.host"
	touch -d '37 hours ago' "$AGQ_SPOOL/tmp/.claim-a3.1.M1P1Q1.host"
	echo '{}' > "$AGQ_SPOOL/tmp/.spare-a3"
	touch -d '37 hours ago' "$AGQ_SPOOL/tmp/.spare-a3"
	run agq-fsck --fix
	[[ "$output" == *"stale tmp: tmp/.claim-a3.1.M1P1Q1.host: untouched for 37.0 h (fixed)"* ]]
	[[ "$output" != *".spare-a3"* ]]
	[ -f "$AGQ_SPOOL/corrupt/tmp-.claim-a3.1.M1P1Q1.host" ]
	[ -f "$AGQ_SPOOL/tmp/.spare-a3" ]
}

@test "files that are not tasks in state directories are quarantined with a reason" {
	agq-submit --id d true
	echo junk > "$AGQ_SPOOL/defer/x.json"
	echo note > "$AGQ_SPOOL/done/README"
	sed 's/"id": "d"/"id": "e"/' "$AGQ_SPOOL/queue/normal/d.json" > "$AGQ_SPOOL/dead/f.json"
	mkdir "$AGQ_SPOOL/queue/bulk"
	ln -s /etc/passwd "$AGQ_SPOOL/hold/g.json"
	run agq-fsck --fix
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a task: defer/x.json: invalid JSON"*"(fixed)"* ]]
	[[ "$output" == *"not a task: done/README: not named ID.json (fixed)"* ]]
	[[ "$output" == *"not a task: dead/f.json: its id is e, not f (fixed)"* ]]
	[[ "$output" == *"not a task: queue/bulk: not a lane directory (fixed)"* ]]
	[[ "$output" == *"not a task: hold/g.json: not a regular file (fixed)"* ]]
	[[ "$(summary)" == *"5 problems"*"5 not tasks"*"5 fixed" ]]
	[ -L "$AGQ_SPOOL/corrupt/g.json" ]
	grep -q 'not named ID.json' "$AGQ_SPOOL/corrupt/README.why"
	[ "$(state_of d)" = queue ]
}

@test "wrong permissions and missing directories are reported and repaired" {
	agq-submit --id h true
	chmod 755 "$AGQ_SPOOL/done"
	chmod 1777 "$AGQ_SPOOL/inbox"
	chmod 644 "$AGQ_SPOOL/journal"
	rmdir "$AGQ_SPOOL/hold"
	touch "$AGQ_SPOOL/defer.tmp"
	rmdir "$AGQ_SPOOL/defer" && mv "$AGQ_SPOOL/defer.tmp" "$AGQ_SPOOL/defer"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"permissions: done: mode 0755, the model wants 0700"* ]]
	[[ "$output" == *"permissions: inbox: mode 1777, the model wants 1733"* ]]
	[[ "$output" == *"permissions: journal: mode 0644, the model wants 0600"* ]]
	[[ "$output" == *"directory: hold/: missing"* ]]
	[[ "$output" == *"directory: defer/: not a directory"* ]]
	[ ! -d "$AGQ_SPOOL/hold" ]
	run agq-fsck --fix
	[[ "$(summary)" == *"5 problems (2 missing directories, 3 permissions"*"5 fixed" ]]
	[ "$(stat -c %a "$AGQ_SPOOL/done")" = 700 ]
	[ "$(stat -c %a "$AGQ_SPOOL/inbox")" = 1733 ]
	[ "$(stat -c %a "$AGQ_SPOOL/journal")" = 600 ]
	[ -d "$AGQ_SPOOL/hold" ] && [ "$(stat -c %a "$AGQ_SPOOL/hold")" = 700 ]
	[ -d "$AGQ_SPOOL/defer" ] && [ -f "$AGQ_SPOOL/corrupt/dir-defer" ]
	run agq-fsck
	[ "$status" -eq 0 ]
}

@test "a torn journal tail is cut to the last full line, the torn bytes kept in corrupt/" {
	agq-submit --id i true
	agq-submit --id j true
	printf '{"ts":"2026' >> "$AGQ_SPOOL/journal"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal: journal:3: torn last line (11 bytes at offset"* ]]
	run agq-fsck --fix
	[[ "$output" == *"cut off, kept in corrupt/journal-torn.* (fixed)"* ]]
	[ "$(tail -c 1 "$AGQ_SPOOL/journal" | od -An -c | tr -d ' ')" = '\n' ]
	[ "$(wc -l < "$AGQ_SPOOL/journal")" -eq 2 ]
	[ "$(cat "$AGQ_SPOOL"/corrupt/journal-torn.*[^y])" = '{"ts":"2026' ]
	run agq-journal --verify
	[ "$status" -eq 0 ]
}

@test "a broken journal chain is reported (not repairable)" {
	for k in 1 2 3; do agq-submit --id "k$k" true; done
	sed -i '2d' "$AGQ_SPOOL/journal"
	run agq-fsck --fix
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal: journal:2: chain broken: seq 3 follows seq 1"* ]]
	[[ "$(summary)" == *"1 journal), 0 fixed" ]]
}

@test "rotated journals: an edited or a missing one breaks the chain, reported by file" {
	for k in 1 2 3; do
		agq-submit --id "r$k" true
		agq-submit --id "s$k" true
		agq-journal --rotate > /dev/null
	done
	agq-submit --id r4 true
	run agq-fsck
	[ "$status" -eq 0 ]
	mid=$(cd "$AGQ_SPOOL" && ls journal.* | sed -n 2p)
	sed -i '2s/"ev":"submit"/"ev":"subm1t"/' "$AGQ_SPOOL/$mid"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal: $mid:2: chain broken"* ]]
	[[ "$(summary)" == *"1 journal), 0 fixed" ]]
	rm "$AGQ_SPOOL/$mid"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"chains to $mid, which is missing"* ]]
	[[ "$(summary)" == *"1 journal), 0 fixed" ]]
}

@test "--fix refuses to run beside a running agq-sched (exit 75)" {
	start_sched
	wait_for 20 test -s "$AGQ_SPOOL/journal"
	run agq-fsck --fix
	[ "$status" -eq 75 ]
	[[ "$output" == *"agq-sched is running"* ]]
}

@test "id claims: missing ones are made (--rebuild-index), stale ones reported and moved aside" {
	agq-submit --id m1 true
	agq-submit --id m2 true
	agq-submit --id m3 true
	rm "$AGQ_SPOOL/ids/m1"                  # a task from before claims
	rm "$AGQ_SPOOL/queue/normal/m2.json"    # pruned by hand: stale claim
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"claim: ids/m1: missing"* ]]
	[[ "$output" == *"claim: ids/m2: stale: no task has this id any more"* ]]
	[[ "$(summary)" == *"2 claims"* ]]
	run agq-fsck --rebuild-index
	[[ "$output" == *"claim: ids/m1: missing (fixed)"* ]]
	[ "$(stat -c %i "$AGQ_SPOOL/ids/m1")" = "$(stat -c %i "$AGQ_SPOOL/queue/normal/m1.json")" ]
	run agq-fsck --fix
	[[ "$output" == *"claim: ids/m2: stale: no task has this id any more (fixed)"* ]]
	[ -f "$AGQ_SPOOL/corrupt/claim-m2" ] && [ ! -e "$AGQ_SPOOL/ids/m2" ]
	run agq-fsck
	[ "$status" -eq 0 ]
	# the id is free again, and a duplicate's fix moves the claim to the copy kept
	agq-submit --id m2 true
	cp "$AGQ_SPOOL/queue/normal/m3.json" "$AGQ_SPOOL/done/m3.json"
	run agq-fsck --fix
	[[ "$(summary)" == *"1 problems ("*"1 duplicates"* ]]
	[ "$(stat -c %i "$AGQ_SPOOL/ids/m3")" = "$(stat -c %i "$AGQ_SPOOL/done/m3.json")" ]
	run agq-fsck
	[ "$status" -eq 0 ]
}

@test "a spool without the id index mark: reported; --rebuild-index claims every task and makes it" {
	agq-submit --id i1 true
	agq-submit --id i2 true
	[ -f "$AGQ_SPOOL/ids/.index-v1" ]       # a new spool has it
	rm "$AGQ_SPOOL/ids/i1" "$AGQ_SPOOL/ids/.index-v1"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"claim: ids/.index-v1: missing: the id index may predate id claims"* ]]
	[[ "$(summary)" == *"2 problems ("*"2 claims"* ]]
	run agq-fsck --rebuild-index
	[[ "$output" == *"claim: ids/i1: missing (fixed)"* ]]
	[[ "$output" == *"claim: ids/.index-v1: missing: the id index may predate id claims (fixed)"* ]]
	[ -f "$AGQ_SPOOL/ids/.index-v1" ]
	[ "$(stat -c %h "$AGQ_SPOOL/ids/i1")" -eq 2 ]
	run agq-fsck
	[ "$status" -eq 0 ]
	# and agq-submit no longer warns
	run --separate-stderr agq-submit --id i3 true
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "a move without its event (killed between the rename and the journal append): reported, reconstructed by --fix, counted by agq-stats" {
	agq-run --agent w --once
	agq-submit -q --id x true
	agq-sched --once
	[ -f "$AGQ_SPOOL/active/w/x.json" ]
	# agq-run killed -9 after its rename to done/, before its done event
	mv "$AGQ_SPOOL/active/w/x.json" "$AGQ_SPOOL/done/x.json"
	run agq-stats
	[[ "$output" == *"events  submitted 1, started 0, done 0,"* ]]
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal: x: in done/, but its last state event in the journal says active: the event of that move is missing"* ]]
	[[ "$(summary)" == *"1 problems ("*"1 journal), 0 fixed" ]]
	[ "$(journal_count done)" -eq 0 ]
	run agq-fsck --fix
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal: x: in done/"*"a reconstructed done event appended (fixed)"* ]]
	tail -1 "$AGQ_SPOOL/journal" | grep -q '"ev":"done","id":"x","reconstructed":true,"from":"active","to":"done",'
	run agq-stats
	[[ "$output" == *"events  submitted 1, started 0, done 1,"* ]]
	run agq-fsck
	[ "$status" -eq 0 ]
	run agq-journal --verify
	[ "$status" -eq 0 ]
}

@test "agq-sched appends the missing events of moves made since the journal's last event when it starts" {
	agq-submit -q --id y true
	agq-submit -q --id z true
	mv "$AGQ_SPOOL/queue/normal/y.json" "$AGQ_SPOOL/hold/y.json"
	run agq-sched --once
	[ "$status" -eq 0 ]
	[[ "$output" == *"y: in hold/ with no event for that move in the journal"*"reconstructed"* ]]
	grep -q '"ev":"hold","id":"y","reconstructed":true,"from":"queue","to":"hold",' "$AGQ_SPOOL/journal"
	[ "$(grep -c '"reconstructed"' "$AGQ_SPOOL/journal")" -eq 1 ]
	run agq-fsck
	[ "$status" -eq 0 ]
	# the next start finds nothing more
	run agq-sched --once
	[ "$(grep -c '"reconstructed"' "$AGQ_SPOOL/journal")" -eq 1 ]
}
