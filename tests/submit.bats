#!/usr/bin/env bats
# agq-submit: argv and standard-input submission, lanes, ids, bad input,
# duplicates, delays, unknown fields and the journal.

load helper
bats_require_minimum_version 1.5.0

# task_file ID: the path of ID's task file in whatever state it is.
task_file() {
	find "$AGQ_SPOOL/queue" "$AGQ_SPOOL/defer" -name "$1.json" | head -1
}

@test "argv submit prints an id whose file is in queue/normal with cmd, cwd, submitted_at" {
	cd "$WORK"
	run agq-submit -- echo "hello world" two
	[ "$status" -eq 0 ]
	id=$output
	[ -n "$id" ]
	f="$AGQ_SPOOL/queue/normal/$id.json"
	[ -f "$f" ]
	[ "$(jq -r .id "$f")" = "$id" ]
	[ "$(jq -c .cmd "$f")" = '["echo","hello world","two"]' ]
	[ "$(jq -r .cwd "$f")" = "$(pwd -P)" ]
	[ "$(jq -r .priority "$f")" = normal ]
	jq -e '.submitted_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' "$f"
	[ "$(count_in queue)" -eq 1 ]
}

@test "-p LANE puts the task in queue/LANE; an unknown lane is a usage error" {
	for lane in urgent high normal low; do
		id=$(agq-submit -p "$lane" -- true)
		[ -f "$AGQ_SPOOL/queue/$lane/$id.json" ]
		[ "$(jq -r .priority "$AGQ_SPOOL/queue/$lane/$id.json")" = "$lane" ]
	done
	[ "$(count_in queue)" -eq 4 ]
	run agq-submit -p extreme -- true
	[ "$status" -eq 64 ]
	[ "$(count_in queue)" -eq 4 ]
}

@test "--id sets the id; an invalid --id exits 64 and submits nothing" {
	run agq-submit --id build-42.a_b -- true
	[ "$status" -eq 0 ]
	[ "$output" = build-42.a_b ]
	is_state build-42.a_b queue
	for bad in 'a/b' '..' '.hidden' 'sp ace' "$(printf 'x%.0s' $(seq 65))"; do
		run agq-submit --id "$bad" -- true
		echo "id '$bad' -> $status"
		[ "$status" -eq 64 ]
	done
	[ "$(count_in queue)" -eq 1 ]
	[ -z "$(ls "$AGQ_SPOOL/tmp")" ]
}

@test "stdin: one pretty-printed JSON object is one task" {
	run agq-submit <<'JSON'
{
  "title": "pretty",
  "cmd": [
    "sh",
    "-c",
    "echo hi"
  ],
  "priority": "high",
  "max_attempts": 5
}
JSON
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	id=${lines[0]}
	f="$AGQ_SPOOL/queue/high/$id.json"
	[ -f "$f" ]
	[ "$(jq -r .title "$f")" = pretty ]
	[ "$(jq -r .max_attempts "$f")" = 5 ]
	[ "$(jq -c .cmd "$f")" = '["sh","-c","echo hi"]' ]
	[ "$(count_in queue)" -eq 1 ]
}

@test "stdin: JSON lines give one id per task, in input order" {
	run agq-submit <<'JSON'
{"id": "first", "cmd": "true"}

{"id": "second", "cmd": ["true"], "priority": "low"}
{"id": "third", "cmd": "echo 3"}
JSON
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[ "${lines[0]}" = first ]
	[ "${lines[1]}" = second ]
	[ "${lines[2]}" = third ]
	is_state first queue
	[ -f "$AGQ_SPOOL/queue/low/second.json" ]
	is_state third queue
	[ "$(count_in queue)" -eq 3 ]
}

@test "stdin: generated ids of JSON lines are printed in order and sort in order" {
	run agq-submit <<'JSON'
{"cmd": "echo a", "title": "a"}
{"cmd": "echo b", "title": "b"}
{"cmd": "echo c", "title": "c"}
JSON
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	for i in 0 1 2; do
		want=$(printf 'a\nb\nc' | sed -n "$((i + 1))p")
		[ "$(jq -r .title "$(task_file "${lines[$i]}")")" = "$want" ]
	done
	[ "$(printf '%s\n' "${lines[@]}" | sort)" = "$(printf '%s\n' "${lines[@]}")" ]
}

@test "stdin: an invalid JSON line exits 65 naming the line; the other lines are enqueued" {
	run agq-submit <<'JSON'
{"id": "good1", "cmd": "true"}
{"id": "broken", "cmd": "true"
{"id": "good2", "cmd": "true"}
JSON
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"line 2"* ]]
	[[ "$output" == *"invalid JSON"* ]]
	is_state good1 queue
	is_state good2 queue
	is_state broken none
	[ "$(count_in queue)" -eq 2 ]
}

@test "stdin: a wrong field type exits 65 naming the line and the field; others enqueued" {
	run agq-submit <<'JSON'
{"id": "ok1", "cmd": "true"}
{"id": "ok2", "cmd": "true"}
{"id": "typo", "cmd": "true", "max_attempts": "x"}
{"id": "ok3", "cmd": "true"}
JSON
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"line 3"* ]]
	[[ "$output" == *"max_attempts"* ]]
	for id in ok1 ok2 ok3; do is_state $id queue; done
	is_state typo none
	[ "$(count_in queue)" -eq 3 ]
	[ "$(journal_count submit)" -eq 3 ]
}

@test "a second submit of the same --id is not enqueued twice" {
	run agq-submit --id once -- echo first
	[ "$status" -eq 0 ]
	run agq-submit --id once -- echo second
	[ "$status" -eq 0 ]
	[[ "$output" == *once* ]]
	run --separate-stderr agq-submit --id once -- echo third
	[ "$status" -eq 0 ]
	[ "$output" = once ]
	[[ "$stderr" == *"already submitted"* ]]
	[ "$(find "$AGQ_SPOOL" -name once.json | wc -l)" -eq 1 ]
	# the first submission is the one kept
	[ "$(jq -c .cmd "$AGQ_SPOOL/queue/normal/once.json")" = '["echo","first"]' ]
	[ "$(journal_count submit)" -eq 1 ]
}

@test "a duplicate id in JSON lines is reported and enqueued once" {
	run --separate-stderr agq-submit <<'JSON'
{"id": "dup", "cmd": "echo 1"}
{"id": "dup", "cmd": "echo 2"}
JSON
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"dup"*"already submitted"* ]]
	[ "$(find "$AGQ_SPOOL" -name dup.json | wc -l)" -eq 1 ]
	[ "$(jq -r .cmd "$AGQ_SPOOL/queue/normal/dup.json")" = "echo 1" ]
}

@test "--delay puts the task in defer/ with next_attempt_at in the future" {
	now=$(date +%s)
	id=$(agq-submit --delay 1h -- true)
	is_state "$id" defer
	f="$AGQ_SPOOL/defer/$id.json"
	nb=$(jq -r '.not_before | sub("\\.[0-9]+Z$"; "Z") | fromdate' "$f")
	na=$(jq -r '.next_attempt_at | sub("\\.[0-9]+Z$"; "Z") | fromdate' "$f")
	[ "$nb" -ge $((now + 3500)) ] && [ "$nb" -le $((now + 3700)) ]
	[ "$na" = "$nb" ]
	[ "$(count_in queue)" -eq 0 ]
}

@test "--not-before (RFC 3339 or epoch seconds) in the future defers; in the past queues" {
	id=$(agq-submit --not-before 2999-01-01T00:00:00Z -- true)
	is_state "$id" defer
	[ "$(jq -r .next_attempt_at "$AGQ_SPOOL/defer/$id.json")" = 2999-01-01T00:00:00.000000Z ]
	later=$(( $(date +%s) + 86400 ))
	id2=$(agq-submit --not-before "$later" -- true)
	is_state "$id2" defer
	[ "$(jq -r '.next_attempt_at | sub("\\.[0-9]+Z$"; "Z") | fromdate' \
	    "$AGQ_SPOOL/defer/$id2.json")" = "$later" ]
	id3=$(agq-submit --not-before 2000-01-01T00:00:00Z -- true)
	is_state "$id3" queue
	run agq-submit --not-before tomorrow -- true
	[ "$status" -eq 64 ]
	run agq-submit --delay 5 --not-before 2999-01-01T00:00:00Z -- true
	[ "$status" -eq 64 ]
}

@test "unknown fields are kept in the task file" {
	id=$(echo '{"cmd": "true", "x_custom": {"a": [1, 2]}, "owner": "ci"}' | agq-submit)
	f=$(task_file "$id")
	[ "$(jq -c .x_custom "$f")" = '{"a":[1,2]}' ]
	[ "$(jq -r .owner "$f")" = ci ]
}

@test "empty standard input exits 65 and submits nothing" {
	run agq-submit < /dev/null
	[ "$status" -eq 65 ]
	[[ "$output" == *empty* ]]
	run agq-submit <<< $'\n   \n'
	[ "$status" -eq 65 ]
	run bash -c ': | agq-submit'
	[ "$status" -eq 65 ]
	[ "$(count_in queue)" -eq 0 ]
}

@test "command-line options fill fields a stdin task does not set" {
	id=$(echo '{"cmd": "true", "priority": "low"}' | agq-submit -p urgent -c gpu --max-attempts 7 --title T)
	f="$AGQ_SPOOL/queue/low/$id.json"
	[ -f "$f" ]
	[ "$(jq -r .max_attempts "$f")" = 7 ]
	[ "$(jq -c .requires "$f")" = '["gpu"]' ]
	[ "$(jq -r .title "$f")" = T ]
}

@test "every submit appends a submit journal line with its id" {
	a=$(agq-submit -- true)
	b=$(agq-submit -p high -- true)
	c=$(agq-submit --delay 1h -- true)
	printf '{"cmd":"true"}\n{"cmd":"true"}\n' | agq-submit -q
	[ "$(journal_count submit)" -eq 5 ]
	for id in "$a" "$b" "$c"; do
		[ "$(agq-journal --id "$id" --ev submit | wc -l)" -eq 1 ]
	done
	[ "$(agq-journal --id "$b" --ev submit | jq -r .lane)" = high ]
	[ "$(agq-journal --id "$c" --ev submit | jq -r .state)" = defer ]
}

@test "the id's claim in ids/ is fsynced, after the queue directory, before the id is printed" {
	command -v strace >/dev/null || skip "strace is not installed"
	agq-submit -q -- true           # the spool exists before the trace
	# (LeakSanitizer cannot run under ptrace)
	ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=openat,fsync,write \
	    -o "$WORK/trace" agq-submit --id durable -- true
	# "openat(..., DIR, ...O_DIRECTORY) = FD" then "fsync(FD)": the
	# order in which directories were fsynced, and when the id was printed
	awk '/O_DIRECTORY/ && / = [0-9]+$/ { n = split($0, a, "\""); d = a[2]; fd = $NF }
	     /^[0-9]+ +fsync\(/ && $0 ~ "fsync\\(" fd "\\)" { print "fsync " d }
	     /write\(1, "durable\\n"/ { print "printed" }' "$WORK/trace" > "$WORK/order"
	cat "$WORK/order"
	diff - "$WORK/order" <<ORDER
fsync $AGQ_SPOOL/queue/normal
fsync $AGQ_SPOOL/ids
printed
ORDER
}
