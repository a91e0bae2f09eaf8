#!/usr/bin/env bats
# agq(7) TERMINAL OUTPUT: what people read shows control characters as
# escapes (a title cannot retitle the terminal, clear the screen or fake a
# row), --json carries the exact text, and a terminal gets titles cut to
# its width.

load helper
bats_require_minimum_version 1.5.0

# clean: standard input has no C0 control but tab and newline, no DEL, and
# no 0x9b byte (CSI as C1, alone or inside U+009B's UTF-8).
clean() {
	! LC_ALL=C grep -qaP '[\x00-\x08\x0b-\x1f\x7f\x9b]'
}

@test "terminal: a title of escapes shows as escapes in ls, show, status, stats and messages; --json keeps it exact" {
	t=$(printf '\e]0;pwned\a\e[2J\r\xc2\x9bfake')
	id=$(agq-submit --title "$t" -- true)
	# a finish event whose backend and model are escapes (agq-stats)
	printf '{"ts":"%s","ev":"finish","id":"%s","backend":"b\\u001b[2J","model":"m\\u009b\\u0007","tokens_in":1,"prog":"test","pid":1,"host":"h"}\n' \
	    "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)" "$id" >> "$AGQ_SPOOL/journal"
	agq-ls | clean
	agq-ls | grep -qF '\x1b]0;pwned\x07\x1b[2J\x0d\u009bfake'
	agq-ls -q | clean
	agq-ls --state queue | clean
	agq-show "$id" | clean
	agq-show "$id" | grep -qF '\u009bfake'
	agq-status | clean
	agq-stats --since 1h | clean
	agq-stats --since 1h | grep -qF 'b\x1b[2J'
	# --json: the exact title, escaped by JSON only
	[ "$(agq-ls --json | jq -r .title)" = "$t" ]
	[ "$(agq-show --json "$id" | jq -r .task.title)" = "$t" ]
	# messages on standard error: an id, a path
	run -66 agq-show "x$t"
	printf '%s' "$output" | clean
	[[ "$output" == *'no such task'* ]]
	run -64 agq-wait "x$t"
	printf '%s' "$output" | clean
	run -64 agq-ls --state "$t"
	printf '%s' "$output" | clean
	[[ "$output" == *'\x1b'* ]]
	# a spool whose path has escapes
	export AGQ_SPOOL="$BATS_TEST_TMPDIR/sp$t"
	mkdir -p "$AGQ_SPOOL"
	agq-status | clean
	agq-status | grep -qF 'sp\x1b]0;pwned'
}

@test "terminal: on a terminal a title is cut to the width with ..., in a pipe it is whole" {
	command -v script >/dev/null || skip "no script(1)"
	long=$(printf 'word%.0s ' $(seq 60))
	agq-submit -q --title "$long" -- true
	run script -qec "stty cols 100; agq-ls" /dev/null
	[ "$status" -eq 0 ]
	row=$(printf '%s\n' "$output" | tr -d '\r' | grep 'queue')
	[ "${#row}" -eq 100 ]
	[[ "$row" == *'...' ]]
	# a pipe gets the whole title (describe keeps at most 199 bytes)
	agq-ls | grep -qF "$(printf 'word%.0s ' $(seq 30))"
}

@test "terminal: a title with bidi overrides (U+202E, U+2066) shows them as escapes in ls, show, status, journal; --json keeps it exact" {
	# Trojan Source (CVE-2021-42574): RLO would print the rest reversed
	t=$(printf 'fix \xe2\x80\xaeevil\xe2\x81\xa6 tail\xc2\x9b')
	id=$(agq-submit --title "$t" -- true)
	bidi() {  # no RLO, LRI, PDI, RLM or C1 CSI bytes on standard input
		! LC_ALL=C grep -qaP '\xe2\x80[\xae\xaa-\xad\x8e\x8f]|\xe2\x81[\xa6-\xa9]|\xc2\x9b'
	}
	agq-ls | bidi
	agq-ls | grep -qF 'fix \u202eevil\u2066 tail\u009b'
	agq-ls --state queue | bidi
	agq-show "$id" | bidi
	agq-show "$id" | grep -qF '\u202eevil'
	agq-status | bidi
	# agq-journal: an event whose reason holds them (as jansson writes
	# it: UTF-8 as is), printed with JSON escapes, the same to jq
	printf '{"ts":"%s","ev":"hold","id":"%s","reason":"%s","prog":"test","pid":1,"host":"h"}\n' \
	    "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)" "$id" "$t" >> "$AGQ_SPOOL/journal"
	LC_ALL=C grep -qaF "$t" "$AGQ_SPOOL/journal"
	agq-journal --id "$id" | bidi
	agq-journal --id "$id" --ev hold | grep -qF '"reason":"fix \u202eevil\u2066 tail\u009b"'
	[ "$(agq-journal --id "$id" --ev hold | jq -r .reason)" = "$t" ]
	agq-journal --id "$id" --ev submit | cmp - <(grep '"ev":"submit"' "$AGQ_SPOOL/journal")
	agq-show "$id" | grep -qF 'fix \u202eevil'
	# --json: the exact title
	[ "$(agq-ls --json | jq -r .title)" = "$t" ]
	[ "$(agq-show --json "$id" | jq -r .task.title)" = "$t" ]
	# a message on standard error
	run -66 agq-show "x$t"
	printf '%s' "$output" | bidi
}
