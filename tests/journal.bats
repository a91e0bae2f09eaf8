#!/usr/bin/env bats
# The journal's hash chain (agq-journal(5)): seq and prev on every line,
# concurrent appenders, agq-journal --verify and --rotate.

load helper
bats_require_minimum_version 1.5.0

# submit_lines K N: agq-submit N tasks w$K-1 .. w$K-N as JSON lines.
submit_lines() {
	seq "$2" | sed "s/.*/{\"id\":\"w$1-&\",\"cmd\":[\"true\"]}/" |
	    agq-submit -q
}

# ten events in the journal
ten_events() {
	submit_lines 0 10
	[ "$(wc -l < "$AGQ_SPOOL/journal")" -eq 10 ]
}

@test "concurrent writers (4 processes x 200 events) keep one valid chain" {
	for k in 1 2 3 4; do submit_lines "$k" 200 & done
	wait
	j=$AGQ_SPOOL/journal
	[ "$(wc -l < "$j")" -eq 800 ]
	# every seq from 1 to 800 exactly once, in file order
	diff <(grep -o '"seq":[0-9]*' "$j" | cut -d: -f2) <(seq 800)
	# the writers really interleaved
	[ "$(grep -o '"pid":[0-9]*' "$j" | uniq | wc -l)" -gt 4 ]
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"800 lines, chain intact"* ]]
}

@test "--verify: every line chains to the one before by its SHA-256" {
	ten_events
	j=$AGQ_SPOOL/journal
	head -1 "$j" | grep -q '"seq":1,"prev":"0\{64\}"}$'
	for n in 2 5 10; do
		want=$(sed -n "$((n - 1))p" "$j" | tr -d '\n' | sha256sum | cut -c1-64)
		sed -n "${n}p" "$j" | grep -q "\"seq\":$n,\"prev\":\"$want\"}\$"
	done
}

@test "--verify: an edited middle line is reported with its line number" {
	ten_events
	sed -i '5s/"lane":"normal"/"lane":"urgent"/' "$AGQ_SPOOL/journal"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal:5: chain broken: changed"* ]]
	[[ "$output" == *"chain broken at line 5"* ]]
}

@test "--verify: a deleted middle line is reported with its line number" {
	ten_events
	sed -i '4d' "$AGQ_SPOOL/journal"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal:4: chain broken: seq 5 follows seq 3: 1 line(s) removed"* ]]
}

@test "--verify: a line that is not JSON in the middle breaks the chain" {
	ten_events
	sed -i '7s/^{/x/' "$AGQ_SPOOL/journal"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal:7: chain broken: not a JSON object"* ]]
}

@test "a torn last line is tolerated by --verify and cut off into corrupt/ by the next writer" {
	ten_events
	printf '{"ts":"2026-11-' >> "$AGQ_SPOOL/journal"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"journal:11: torn last line (15 bytes at offset"* ]]
	[[ "$output" == *"10 lines, chain intact, torn last line"* ]]
	run agq-submit --id after-tear true
	[ "$status" -eq 0 ]
	[[ "$output" == *"cut off a torn last line (15 bytes"* ]]
	[ "$(cat "$AGQ_SPOOL"/corrupt/journal-torn.*[^y])" = '{"ts":"2026-11-' ]
	grep -q 'torn journal tail: 15 bytes' "$AGQ_SPOOL"/corrupt/journal-torn.*.why
	run agq-journal --verify
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -qx '.*/journal: 11 lines, chain intact'
	tail -1 "$AGQ_SPOOL/journal" | grep -q '"id":"after-tear".*"seq":11,'
}

@test "--rotate: the new journal's first line chains to the old one's last" {
	ten_events
	run agq-journal --rotate
	[ "$status" -eq 0 ]
	old=$output
	[[ "$old" == "$AGQ_SPOOL"/journal.20*Z ]]
	[ "$(wc -l < "$old")" -eq 10 ]
	agq-submit --id after-rotate true
	j=$AGQ_SPOOL/journal
	[ "$(wc -l < "$j")" -eq 2 ]
	want=$(tail -1 "$old" | tr -d '\n' | sha256sum | cut -c1-64)
	head -1 "$j" | grep -q "\"ev\":\"rotate\",\"from\":\"${old##*/}\".*\"seq\":11,\"prev\":\"$want\"}"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"2 lines, chain intact"* ]]
	run agq-journal --verify --file "$old"
	[ "$status" -eq 0 ]
	# the old file's last line edited: the new file's line 1 no longer chains
	sed -i '10s/"lane":"normal"/"lane":"low"/' "$old"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal:1: chain broken"*"last line of $old"* ]]
}

# rotated_three: 5 events, rotate, 5 more, rotate, 5 more, rotate, 1 more;
# the rotated files oldest first in $R1 $R2 $R3.
rotated_three() {
	for k in 1 2 3; do
		submit_lines "r$k" 5
		run agq-journal --rotate
		[ "$status" -eq 0 ]
		eval "R$k=\$output"
	done
	agq-submit -q --id last -- true
	[ "$R1" \< "$R2" ] && [ "$R2" \< "$R3" ]
}

@test "--verify walks the chain through every rotated journal, oldest first" {
	rotated_three
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$R1: 5 lines, chain intact" ]
	[ "${lines[1]}" = "$R2: 6 lines, chain intact" ]
	[ "${lines[2]}" = "$R3: 6 lines, chain intact" ]
	[ "${lines[3]}" = "$AGQ_SPOOL/journal: 2 lines, chain intact" ]
	[ "${lines[4]}" = "$AGQ_SPOOL: 4 journal files, 19 lines, seq 1 to 19, chain intact" ]
}

@test "--verify: an edited line in a middle rotated journal is reported with its file and line" {
	rotated_three
	sed -i '3s/"lane":"normal"/"lane":"urgent"/' "$R2"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"$R2:3: chain broken: changed"* ]]
	[[ "$output" == *"$R2: chain broken at line 3"* ]]
	# the files after the break are not reported intact
	[[ "$output" != *"$R3: "* ]]
}

@test "--verify: a removed middle rotated journal is reported as a gap in the chain" {
	rotated_three
	rm "$R2"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"$R3:1: chain broken: chains to ${R2##*/}, which is missing: seq 12 follows seq 5 of $R1 (6 line(s) missing)"* ]]
	[[ "$output" == *"$R3: chain broken at line 1"* ]]
}

@test "--verify: removing the oldest rotated journals (retention) keeps the rest verifiable" {
	rotated_three
	rm "$R1"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"$R2:1: chains to ${R1##*/}, which is not kept"* ]]
	[[ "$output" == *"$AGQ_SPOOL: 3 journal files, 14 lines, seq 6 to 19, chain intact"* ]]
	# --file still checks one file alone
	run agq-journal --verify --file "$R3"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$R3: 6 lines, chain intact"* ]]
}

@test "a running scheduler and agent append to the new journal after a rotation, and to one moved away by hand" {
	start_sched
	start_agent a1
	agq-submit -q --id before true
	wait_for 30 is_state before done
	wait_for 30 grep -q '"ev":"done","id":"before"' "$AGQ_SPOOL/journal"
	run agq-journal --rotate
	[ "$status" -eq 0 ]
	old=$output
	agq-submit -q --id after true
	wait_for 30 is_state after done
	wait_for 30 grep -q '"ev":"done","id":"after"' "$AGQ_SPOOL/journal"
	j=$AGQ_SPOOL/journal
	# the long-running writers followed the rename: every line about
	# "after" (the scheduler's route and assign, the agent's start and
	# finish) is in the new journal, none in the old one
	for ev in submit route assign start finish done; do
		grep -q "\"ev\":\"$ev\",\"id\":\"after\"" "$j"
	done
	! grep -q '"id":"after"' "$old"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"chain intact"* ]]
	# a journal moved away by hand: the next lines start a new one
	mv "$j" "$BATS_TEST_TMPDIR/moved"
	agq-submit -q --id third true
	wait_for 30 is_state third done
	wait_for 30 grep -q '"ev":"done","id":"third"' "$j"
	grep -q '"ev":"start","id":"third"' "$j"
	! grep -q '"id":"third"' "$BATS_TEST_TMPDIR/moved"
}

@test "a line appended by hand: the next event chains to it, its seq goes on from the last event's, with a warning" {
	ten_events
	j=$AGQ_SPOOL/journal
	echo 'deployed v2 here' >> "$j"
	run agq-submit --id after-note true
	[ "$status" -eq 0 ]
	[[ "$output" == *"journal: its last 1 line(s) are not journal events"*"seq going on from 10"* ]]
	want=$(sed -n 11p "$j" | tr -d '\n' | sha256sum | cut -c1-64)
	tail -1 "$j" | grep -q "\"id\":\"after-note\".*\"seq\":11,\"prev\":\"$want\"}"
	# --verify still reports the foreign line
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal:11: chain broken: not a JSON object"* ]]
}

@test "a 20 MB last line without seq: the next writer skips it unparsed, goes on with the next seq, in bounded memory" {
	ten_events
	j=$AGQ_SPOOL/journal
	{ head -c 20000000 /dev/zero | tr '\0' x; echo; } >> "$j"
	# not under a sanitizer, whose shadow memory needs terabytes of
	# address space: there, 24 MB of it is not enough for the line
	if grep -q __asan_init "$(command -v agq-submit)"; then
		run agq-submit --id after-long true
	else
		run bash -c 'ulimit -v 24000 && exec agq-submit --id after-long true'
	fi
	[ "$status" -eq 0 ]
	[[ "$output" == *"its last 1 line(s) are not journal events"*"seq going on from 10"* ]]
	tail -1 "$j" | grep -q '"id":"after-long".*"seq":11,'
	want=$(sed -n 11p "$j" | tr -d '\n' | sha256sum | cut -c1-64)
	tail -1 "$j" | grep -q "\"prev\":\"$want\"}"
	# no seq twice
	[ -z "$(grep -o '"seq":[0-9]*,"prev"' "$j" | sort | uniq -d)" ]
}

@test "64 lines without seq at the end: the writer refuses rather than reuse a seq" {
	ten_events
	j=$AGQ_SPOOL/journal
	for i in $(seq 64); do echo "note $i"; done >> "$j"
	run agq-submit --id refused true
	[[ "$output" == *"its last 64 lines have no \"seq\""*"not appending, so as not to reuse a seq"* ]]
	! grep -q '"id":"refused"' "$j"
}

@test "--verify: lines cut from the journal's end are reported against journal.anchor; an anchor behind is fine" {
	ten_events
	j=$AGQ_SPOOL/journal
	grep -q '^{"seq":10,"hash":"[0-9a-f]\{64\}"}$' "$AGQ_SPOOL/journal.anchor"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"the tail against journal.anchor (seq 10)"* ]]
	cp "$j" "$BATS_TEST_TMPDIR/whole"
	head -n 7 "$BATS_TEST_TMPDIR/whole" > "$j"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal:7: chain broken: ends at seq 7, but journal.anchor records seq 10: 3 line(s) cut from its end"* ]]
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal: journal:7: chain broken: ends at seq 7, but journal.anchor records seq 10"* ]]
	# the last line replaced
	{ head -n 9 "$BATS_TEST_TMPDIR/whole"; tail -1 "$BATS_TEST_TMPDIR/whole" |
	    sed 's/"lane":"normal"/"lane":"low"/'; } > "$j"
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"its last line (seq 10) is not the one journal.anchor records"* ]]
	# an anchor behind the journal (its update lost in a crash): fine
	cp "$BATS_TEST_TMPDIR/whole" "$j"
	h=$(sed -n 8p "$j" | tr -d '\n' | sha256sum | cut -c1-64)
	echo "{\"seq\":8,\"hash\":\"$h\"}" > "$AGQ_SPOOL/journal.anchor"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"journal.anchor (seq 8, behind the journal"* ]]
	# rotation keeps it right
	run agq-journal --rotate
	agq-submit -q --id after-rotate true
	grep -q '^{"seq":12,' "$AGQ_SPOOL/journal.anchor"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"the tail against journal.anchor (seq 12)"* ]]
}

@test "a cut journal: the next writer journals a cut event before its own, and --verify reports it" {
	ten_events
	j=$AGQ_SPOOL/journal
	head -n 6 "$j" > "$BATS_TEST_TMPDIR/cut" && cat "$BATS_TEST_TMPDIR/cut" > "$j"
	run agq-submit --id after-cut true
	[ "$status" -eq 0 ]
	[[ "$output" == *"ends at seq 6, but journal.anchor records seq 10: lines were lost"* ]]
	sed -n 7p "$j" | grep -q '"ev":"cut","journal_seq":6,"anchor_seq":10,'
	sed -n 8p "$j" | grep -q '"id":"after-cut".*"seq":8,'
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"journal:7: a cut event: the lines before it had lost their end"* ]]
}

# keyed: a key for the spool owner only in agq.conf's journal_key_file
keyed() {
	head -c 32 /dev/urandom | base64 > "$BATS_TEST_TMPDIR/jkey"
	chmod 600 "$BATS_TEST_TMPDIR/jkey"
	echo "journal_key_file = $BATS_TEST_TMPDIR/jkey" >> "$AGQ_CONF"
}

@test "a keyed journal: every line carries an HMAC-SHA256, --verify checks the keyed chain and fails on a wrong MAC" {
	run agq-journal --verify
	ten_events
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"checked the chain alone (SHA-256; no journal_key_file)"* ]]
	keyed
	agq-submit -q --id k1 true
	agq-submit -q --id k2 true
	j=$AGQ_SPOOL/journal
	tail -1 "$j" | grep -q '"seq":12,"prev":"[0-9a-f]\{64\}","mac":"[0-9a-f]\{64\}"}$'
	grep -q '"mac":"[0-9a-f]\{64\}"}$' "$AGQ_SPOOL/journal.anchor"
	run agq-journal --verify
	[ "$status" -eq 0 ]
	[[ "$output" == *"checked the keyed chain (HMAC-SHA256): 2 lines' MACs, and 10 line(s) from before the key by the chain alone"* ]]
	# a line rewritten with its chain recomputed passes the chain alone,
	# not the keyed chain: without the key its MAC cannot be made
	python3 - "$j" <<'PY'
import hashlib, sys
p = sys.argv[1]
lines = open(p, 'rb').read().split(b'\n')[:-1]
lines[10] = lines[10].replace(b'"id":"k1"', b'"id":"kX"')
for i in range(11, len(lines)):
    h = hashlib.sha256(lines[i - 1]).hexdigest().encode()
    k = lines[i].index(b'"prev":"') + 8
    lines[i] = lines[i][:k] + h + lines[i][k + 64:]
open(p, 'wb').write(b'\n'.join(lines) + b'\n')
PY
	run agq-journal --verify
	[ "$status" -eq 1 ]
	[[ "$output" == *"journal:11: chain broken: wrong \"mac\": not written with the journal's key"* ]]
	# a key others can read is not used
	chmod 644 "$BATS_TEST_TMPDIR/jkey"
	run agq-journal --verify
	[[ "$output" == *"journal_key_file not usable:"*"mode 0644: group or others have access to it"*"checking the chain alone"* ]]
}

@test "agq-journal --follow prints new events, and goes on in the new journal after a rotation" {
	agq-submit --id before -- true
	agq-journal --follow > "$BATS_TEST_TMPDIR/follow" &
	pid=$!
	wait_for 20 grep -q '"id":"before"' "$BATS_TEST_TMPDIR/follow"
	agq-submit --id a1 -- true
	wait_for 20 grep -q '"id":"a1"' "$BATS_TEST_TMPDIR/follow"
	agq-journal --rotate
	agq-submit --id b1 -- true
	wait_for 20 grep -q '"id":"b1"' "$BATS_TEST_TMPDIR/follow"
	kill "$pid"
	wait "$pid" || true
	# each event once: the submits of before, a1 and b1, and the rotate
	[ "$(grep -c '"ev":"submit"' "$BATS_TEST_TMPDIR/follow")" -eq 3 ]
	[ "$(grep -c '"ev":"rotate"' "$BATS_TEST_TMPDIR/follow")" -eq 1 ]
}
