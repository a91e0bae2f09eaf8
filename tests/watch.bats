#!/usr/bin/env bats
# agq-watch(1): the journal's changes as JSON lines with their object,
# --prefix, resumable with --since across rotated journals, following.

load helper
bats_require_minimum_version 1.5.0

# watching PID: agq-watch PID has its inotify descriptor, so it has taken
# the journal's last seq (it does that first) and waits for more.
watching() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q inotify; }
# lines_are FILE N: FILE has N lines (for wait_for: counted at each poll).
lines_are() { [ "$(wc -l < "$1")" -eq "$2" ]; }

@test "each event's object; --prefix filters on it; a text line per event" {
	agq-plan put p1 <<< '{}'
	agq-plan put p2 <<< '{}'
	agq-submit -q --id t1 true
	run agq-watch --since 0 --no-follow --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .object <<< "$output" | paste -sd' ')" = "plan/p1 plan/p2 task/t1" ]
	run agq-watch --since 0 -n --json --prefix plan/p1
	[ "${#lines[@]}" -eq 1 ]
	jq -e '.ev == "plan_put" and .plan == "p1" and .rev == 1 and .seq == 1' <<< "$output"
	run agq-watch --since 0 -n --prefix task/
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "3 "*" task/t1 submit"* ]]
}

@test "--since: a consumer that saves the last seq and restarts loses nothing and sees nothing twice, across a rotation" {
	out1=$BATS_TEST_TMPDIR/out1 out2=$BATS_TEST_TMPDIR/out2
	for n in 1 2 3; do agq-plan put "a$n" <<< '{}' > /dev/null; done
	agq-watch --since 0 --json --prefix plan/ > "$out1" &
	w=$!
	PIDS+=($w)
	wait_for 20 lines_are "$out1" 3
	kill "$w"
	wait "$w" || true
	last=$(tail -1 "$out1" | jq .seq)
	# the consumer is away: changes, a rotation, more changes
	agq-plan put b1 <<< '{}' > /dev/null
	agq-journal --rotate > /dev/null
	agq-plan put b2 <<< '{}' > /dev/null
	agq-journal --rotate > /dev/null
	agq-plan put b3 <<< '{}' > /dev/null
	[ "$(ls "$AGQ_SPOOL"/journal.* | grep -vc anchor)" -eq 2 ]
	agq-watch --since "$last" -n --json --prefix plan/ > "$out2"
	[ "$(jq -r .plan "$out2" | paste -sd' ')" = "b1 b2 b3" ]
	# together: every plan event once, in seq order
	cat "$out1" "$out2" | jq -r .seq > "$BATS_TEST_TMPDIR/got"
	cat "$AGQ_SPOOL"/journal.2* "$AGQ_SPOOL/journal" |
	    grep '"ev":"plan_put"' | jq -r .seq > "$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	[ "$(sort -u "$BATS_TEST_TMPDIR/got" | wc -l)" -eq 6 ]
	# from the middle of the first rotated file
	run agq-watch --since 2 -n --json --prefix plan/
	[ "$(jq -r .plan <<< "$output" | paste -sd' ')" = "a3 b1 b2 b3" ]
}

@test "a follower sees a plan_put written after it started, also past a rotation, and nothing from before" {
	out=$BATS_TEST_TMPDIR/out
	agq-plan put old <<< '{}'
	agq-watch --json > "$out" &
	PIDS+=($!)
	wait_for 20 watching $!
	agq-plan put new <<< '{"x":1}'
	wait_for 20 grep -q '"plan":"new"' "$out"
	agq-journal --rotate > /dev/null
	agq-plan patch --merge new <<< '{"y":2}'
	wait_for 20 grep -q '"ev":"plan_patch"' "$out"
	! grep -q '"plan":"old"' "$out"
	[ "$(jq -r .object "$out" | paste -sd' ')" = "plan/new plan/new" ]
}
