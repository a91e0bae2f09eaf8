#!/usr/bin/env bats
# The command-line surface: --help, man pages, the agq front end, the
# listing and reading commands, agq-wait's exit codes and configuration
# errors.

load helper
bats_require_minimum_version 1.5.0

PROGS="agq agq-submit agq-sched agq-run agq-ls agq-show agq-status agq-cancel
agq-hold agq-release agq-retry agq-wait agq-journal agq-fsck agq-classify agq-stats agq-verify agq-sync agq-dash agq-alert agq-registry agq-doctor agq-git agq-pr
agq-cat agq-edit agq-prio agq-clean agq-mcp agq-agent"
TOP=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}

# parse_lines: every line of stdin is a JSON value.
parse_lines() {
	if command -v jq >/dev/null; then
		jq -e -c . >/dev/null
	else
		python3 -c 'import json, sys
for line in sys.stdin: json.loads(line)'
	fi
}

@test "every program answers --help with exit 0 and a usage: line" {
	for p in $PROGS; do
		run "$p" --help
		echo "$p --help: $status"
		[ "$status" -eq 0 ]
		printf '%s\n' "$output" | grep -q "^usage: $p"
	done
}

@test "every program has a man page, and every man page passes mandoc -Tlint -Wwarning" {
	command -v mandoc
	for p in $PROGS; do
		set -- "$TOP"/man/"$p".[1-8]
		echo "man page of $p: $1"
		[ -f "$1" ]
	done
	# warnings too (section order, Xr order, macros): make lint-man
	for m in "$TOP"/man/*.[1-8]; do
		mandoc -Tlint -Wwarning "$m"
	done
}

@test "the README's program table names every program" {
	for p in $PROGS agq-cancel agq-hold agq-release agq-retry; do
		grep -q "^| .*\`$p\`" "$TOP/README.md" || { echo "README lacks $p"; false; }
	done
}

@test "agq help and agq --help list the commands" {
	run agq help
	[ "$status" -eq 0 ]
	for c in submit sched run ls show status wait cancel hold release retry journal; do
		printf '%s\n' "$output" | grep -Eq "^  $c +[a-z]"
	done
	run agq --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: agq"* ]]
	[[ "$output" == *"submit"* ]]
	run agq help ls
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: agq-ls"* ]]
	run agq
	[ "$status" -eq 64 ]
}

@test "agq CMD runs agq-CMD; an unknown command exits 64" {
	run --separate-stderr agq submit -- true
	[ "$status" -eq 0 ]
	id=$output
	is_state "$id" queue
	run agq ls -q
	[ "$output" = "$id" ]
	run agq nosuchcmd
	[ "$status" -eq 64 ]
	[[ "$output" == *"not an agq command"* ]]
	run agq ../bin/agq-ls
	[ "$status" -eq 64 ]
}

@test "agq -s DIR CMD runs CMD on the spool DIR, in each spelling; the command's own -s wins" {
	other="$BATS_TEST_TMPDIR/other"
	id=$(agq -s "$other" submit -- true)
	[ -f "$other/queue/normal/$id.json" ]
	[ "$(agq -s "$other" ls -q)" = "$id" ]
	[ "$(agq --spool "$other" ls -q)" = "$id" ]
	[ "$(agq --spool="$other" ls -q)" = "$id" ]
	[ "$(agq -s"$other" ls -q)" = "$id" ]
	[ -z "$(agq ls -q)" ]
	[ -z "$(agq -s "$other" ls -s "$AGQ_SPOOL" -q)" ]
	run -64 agq -s
	[[ "$output" == *'-s: a spool directory is needed'* ]]
}

@test "agq --version prints a version" {
	run agq --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^agq\ [0-9]+\.[0-9]+\.[0-9]+ ]]
	run agq-ls --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ [0-9]+\.[0-9]+\.[0-9]+ ]]
}

@test "agq-ls: table, --json, --state, --lane and -q" {
	run agq-ls
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	a=$(agq-submit --title "first task" -- true)
	b=$(agq-submit -p high -- echo two)
	c=$(agq-submit -p low -- true)
	agq-hold -q "$c"
	run agq-ls
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[0]}" =~ ^ID\ +STATE\ +LANE\ +AGENT\ +TRIES\ +TASK ]]
	printf '%s\n' "$output" | grep -E "^$a +queue +normal .*first task$"
	printf '%s\n' "$output" | grep -E "^$b +queue +high .*echo two$"
	printf '%s\n' "$output" | grep -E "^$c +hold +low "
	run agq-ls --json
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	printf '%s\n' "$output" | parse_lines
	[ "$(printf '%s\n' "$output" | jq -r "select(.id == \"$c\") | .state")" = hold ]
	[ "$(printf '%s\n' "$output" | jq -r "select(.id == \"$b\") | .lane")" = high ]
	run agq-ls -q --state queue
	[ "$(printf '%s\n' "$output" | sort)" = "$(printf '%s\n' "$a" "$b" | sort)" ]
	run agq-ls -q --state hold
	[ "$output" = "$c" ]
	# states and lanes: repeated, or lists with commas, any of them
	run agq-ls -q --state queue --state hold
	[ "$(printf '%s\n' "$output" | sort)" = "$(printf '%s\n' "$a" "$b" "$c" | sort)" ]
	run agq-ls -q --state hold,queue --lane high,low
	[ "$(printf '%s\n' "$output" | sort)" = "$(printf '%s\n' "$b" "$c" | sort)" ]
	run agq-ls --state inbox --state queue
	[ "$status" -eq 64 ]
	run agq-ls --state queue,nowhere
	[ "$status" -eq 64 ]
	run agq-ls -q --lane high
	[ "$output" = "$b" ]
	run agq-ls -q --state done
	[ -z "$output" ]
	run agq-ls --state nowhere
	[ "$status" -eq 64 ]
	run agq-ls --lane nowhere
	[ "$status" -eq 64 ]
}

@test "agq-ls --json | agq-submit: a listing's lines are tasks again, on another spool with their ids and lanes" {
	a=$(agq-submit --title "first task" -- true)
	b=$(agq-submit -p high -- echo two)
	agq-hold -q "$b"
	other=$BATS_TEST_TMPDIR/other
	run bash -c 'agq-ls --json | agq-submit -s "$1"' _ "$other"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | sort)" = "$(printf '%s\n' "$a" "$b" | sort)" ]
	# the held task queued in its lane; state and lane are not kept
	jq -e '.title == "first task" and (has("state") or has("lane") | not)' \
	    "$other/queue/normal/$a.json"
	jq -e '.priority == "high" and (has("state") | not)' \
	    "$other/queue/high/$b.json"
	# a task of one's own naming a state is still refused
	run agq-submit <<<'{"cmd": ["true"], "state": "queue"}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field state: unknown field"* ]]
	# a listing's line dropped into another spool's inbox is taken too
	third=$BATS_TEST_TMPDIR/third
	agq-sched -s "$third" --once
	agq-ls --json --lane high > "$third/tmp/drop"
	mv "$third/tmp/drop" "$third/inbox/drop.json"
	agq-sched -s "$third" --once
	jq -e '.priority == "high" and (has("state") | not)' "$third/queue/high/$b.json"
}

@test "agq-show prints the state, reason and events; 66 for an unknown id, 65 for a task file that is not JSON" {
	id=$(agq-submit -- true)
	agq-hold -q -m "for show" "$id"
	run agq-show "$id"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -q "^id: *$id$"
	printf '%s\n' "$output" | grep -q "^state: *hold"
	printf '%s\n' "$output" | grep -q "^reason: .*for show"
	printf '%s\n' "$output" | grep -q '"ev":"submit"'
	printf '%s\n' "$output" | grep -q '"ev":"hold"'
	run agq-show --json "$id"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .state)" = hold ]
	[ "$(printf '%s\n' "$output" | jq -r '[.events[].ev] | join(" ")')" = "submit hold" ]
	run agq-show no-such-task
	[ "$status" -eq 66 ]
	[[ "$output" == *"no such task"* ]]
	run agq-show "$id" no-such-task
	[ "$status" -eq 66 ]
	[[ "$output" == *"state:"* ]]
	# a task file that is not JSON: said so, not "no such task"
	echo 'not json' > "$AGQ_SPOOL/queue/normal/bad1.json"
	run agq-show bad1
	[ "$status" -eq 65 ]
	[[ "$output" == *"bad1: cannot read the task: not a JSON object"*"($AGQ_SPOOL/queue/normal/bad1.json)"* ]]
}

@test "agq-show: a failed attempt's last lines of standard error (bearer tokens redacted); none for a task that succeeded" {
	bad=$(agq-submit --max-attempts 1 -- sh -c 'for i in $(seq 1 300); do
	    echo "line $i" >&2; done; echo "Authorization: Bearer abcdefghijklmnop" >&2; exit 3')
	good=$(agq-submit -- sh -c 'echo fine >&2')
	start_sched
	start_agent a1
	wait_for 30 is_state "$bad" dead
	wait_for 30 is_state "$good" done
	run agq-show "$bad"
	[ "$status" -eq 0 ]
	tail=$(printf '%s\n' "$output" | sed -n '/^stderr:/,/^task:/p')
	[[ "$tail" == "stderr: its last lines (agq cat -e ID: all "*" bytes)"* ]]
	[ "$(printf '%s\n' "$tail" | sed -n '2,6p')" = "$(printf '  %s\n' "line 297" "line 298" "line 299" "line 300" "Authorization: Bearer [redacted]")" ]
	[ "$(printf '%s\n' "$tail" | wc -l)" -eq 7 ]
	run agq-show "$good"
	[ "$status" -eq 0 ]
	[[ "$output" != *"stderr:"* ]]
}

@test "agq-status --json parses and its counts match the spool" {
	# idle1 must still be alive when agq-status looks, however slow this
	# machine is between the two: a lease longer than the test
	echo "lease = 60" >> "$AGQ_CONF"
	agq-submit -q -- true
	agq-submit -q -p high -- true
	agq-submit -q -p high -- true
	agq-submit -q --delay 1h -- true
	h=$(agq-submit -- true)
	agq-hold -q "$h"
	d=$(agq-submit -p low -- true)
	agq-cancel -q "$d"
	mkdir -p "$AGQ_SPOOL/inbox"
	# a finished drop (not written in the last seconds: agq-spool(5))
	echo '[1]' > "$AGQ_SPOOL/tmp/x" && touch -m -d '-1 minute' "$AGQ_SPOOL/tmp/x" &&
	    mv "$AGQ_SPOOL/tmp/x" "$AGQ_SPOOL/inbox/x"
	agq-run --agent idle1 --once
	run agq-status --json
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | parse_lines
	j=$output
	c() { printf '%s\n' "$j" | jq -r ".counts.$1"; }
	[ "$(c queue)" -eq "$(count_in queue)" ] && [ "$(c queue)" -eq 3 ]
	[ "$(c queue_lanes.high)" -eq 2 ]
	[ "$(c queue_lanes.normal)" -eq 1 ]
	[ "$(c queue_lanes.low)" -eq 0 ]
	[ "$(c defer)" -eq "$(count_in defer)" ] && [ "$(c defer)" -eq 1 ]
	[ "$(c hold)" -eq 1 ]
	[ "$(c dead)" -eq 1 ]
	[ "$(c done)" -eq 0 ]
	[ "$(c active)" -eq 0 ]
	[ "$(c inbox)" -eq 1 ]
	[ "$(printf '%s\n' "$j" | jq -r '.agents[] | select(.name == "idle1") | .state')" = idle ]
	[ "$(printf '%s\n' "$j" | jq -r .spool)" = "$(cd "$AGQ_SPOOL" && pwd -P)" ]
	run agq-status
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -Eq '^queue +3 +urgent 0, high 2, normal 1, low 0$'
	printf '%s\n' "$output" | grep -Eq '^hold +1$'
	printf '%s\n' "$output" | grep -Eq '^idle1 +idle '
	# after one scheduler pass the drop is counted as corrupt
	agq-sched --once
	run agq-status --json
	[ "$(printf '%s\n' "$output" | jq -r .counts.corrupt)" -eq 1 ]
	[ "$(printf '%s\n' "$output" | jq -r .counts.inbox)" -eq 0 ]
	# and the queued task it leased to idle1 is counted as active
	[ "$(printf '%s\n' "$output" | jq -r .counts.active)" -eq "$(count_in active)" ]
	[ "$(printf '%s\n' "$output" | jq -r .counts.queue)" -eq "$(count_in queue)" ]
	[ "$(printf '%s\n' "$output" | jq -r '.agents[] | select(.name == "idle1") | .running | length')" -eq 1 ]
}

@test "agq-journal: --id and --ev filter (one or several); --since in the future prints nothing" {
	a=$(agq-submit -- true)
	b=$(agq-submit -- true)
	agq-hold -q "$a"
	agq-cancel -q "$b"
	run agq-journal
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	printf '%s\n' "$output" | parse_lines
	run agq-journal --id "$a"
	[ "$(printf '%s\n' "$output" | jq -r .ev | tr '\n' ' ')" = "submit hold " ]
	[ "$(printf '%s\n' "$output" | jq -r .id | sort -u)" = "$a" ]
	run agq-journal --ev submit
	[ "${#lines[@]}" -eq 2 ]
	[ "$(printf '%s\n' "$output" | jq -r .ev | sort -u)" = submit ]
	run agq-journal --ev cancel --id "$b"
	[ "${#lines[@]}" -eq 1 ]
	run agq-journal --ev cancel --id "$a"
	[ -z "$output" ]
	# several: repeated, or lists with commas, any of them
	run agq-journal --ev hold --ev cancel
	[ "$(printf '%s\n' "$output" | jq -r .ev | tr '\n' ' ')" = "hold cancel " ]
	run agq-journal --ev hold,cancel,submit --id "$a,$b"
	[ "${#lines[@]}" -eq 4 ]
	run agq-journal --ev ,
	[ "$status" -eq 64 ]
	run agq-journal --since 2999-01-01T00:00:00Z
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run agq-journal --since "$(( $(date +%s) + 3600 ))"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run agq-journal --since 1h
	[ "${#lines[@]}" -eq 4 ]
	run agq-journal --since yesterday-ish
	[ "$status" -eq 64 ]
}

@test "agq-journal exits 66 with no journal and 65 on a damaged line" {
	run agq-journal
	[ "$status" -eq 66 ]
	agq-submit -q -- true
	echo 'not json' >> "$AGQ_SPOOL/journal"
	agq-submit -q -- true
	run --separate-stderr agq-journal
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 2 ]
	[[ "$stderr" == *":2:"* ]]
}

@test "agq-wait exits 1 when a waited task is dead (and says why), 66 for an unknown id, 75 on timeout" {
	id=$(agq-submit -- true)
	run agq-wait --timeout 0.5 -q "$id"
	[ "$status" -eq 75 ]
	agq-cancel -q -m "not needed" "$id"
	run agq-wait --timeout 10 "$id"
	[ "$status" -eq 1 ]
	# how many, then each dead one with its reason
	[ "${lines[0]}" = "agq-wait: 1 of 1 tasks are dead (agq ls --state dead)" ]
	[[ "${lines[1]}" == "agq-wait: $id: cancelled by "*"not needed"* ]]
	run agq-wait --timeout 10 -q "$id"
	[ "$status" -eq 1 ] && [ -z "$output" ]
	run agq-wait --timeout 10 -q no-such-task
	[ "$status" -eq 66 ]
	run agq-wait --timeout 10 "$id" no-such-task
	[ "$status" -eq 66 ]
	[[ "$output" == *"no-such-task: no such task"* ]]
	run agq-wait -q 'bad/id'
	[ "$status" -eq 64 ]
}

@test "a bad configuration line makes commands exit 78 naming the file and line" {
	echo "lease = soon" >> "$AGQ_CONF"
	line=$(wc -l < "$AGQ_CONF")
	for cmd in "agq-submit -- true" "agq-ls" "agq-status" "agq-sched --once" \
	    "agq-run --agent a --once" "agq-cancel x" "agq-wait --timeout 1" \
	    "agq-journal" "agq-show x" "agq ls"; do
		run $cmd
		echo "$cmd: $status $output"
		[ "$status" -eq 78 ]
		[[ "$output" == *"$AGQ_CONF:$line:"* ]]
	done
	[ "$(count_in queue)" -eq 0 ]
	# an unknown key and a line without '=' too
	printf 'lease = 3\nflavour = mint\n' > "$AGQ_CONF"
	run agq-ls
	[ "$status" -eq 78 ]
	[[ "$output" == *"$AGQ_CONF:2:"*"flavour"* ]]
	printf '# comment\n\njust words\n' > "$AGQ_CONF"
	run agq-ls
	[ "$status" -eq 78 ]
	[[ "$output" == *"$AGQ_CONF:3:"* ]]
}
