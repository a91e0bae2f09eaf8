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

@test "a misspelled or unknown field is refused naming it and the nearest known one; meta is free" {
	run -65 agq-submit <<< '{"cmd": "true", "max_atempts": 2}'
	[[ "$output" == *'field max_atempts: unknown field (did you mean max_attempts?)'* ]]
	run -65 agq-submit <<< '{"cmd": "true", "priorty": "high"}'
	[[ "$output" == *'field priorty: unknown field (did you mean priority?)'* ]]
	run -65 agq-submit <<< '{"cmd": "true", "depends": ["a"]}'
	[[ "$output" == *'field depends: unknown field; your own data goes under meta'* ]]
	# JSON lines: the bad line named, the others enqueued
	run -65 agq-submit <<< $'{"cmd": "true"}\n{"cmd": "true", "tilte": "x"}'
	[[ "$output" == *'line 2: field tilte: unknown field (did you mean title?)'* ]]
	[ "$(count_in queue)" -eq 1 ]
	id=$(echo '{"cmd": "true", "meta": {"depends": ["a"], "owner": "ci"}}' | agq-submit)
	f=$(task_file "$id")
	[ "$(jq -c .meta "$f")" = '{"depends":["a"],"owner":"ci"}' ]
	# a task taken from a spool, with the fields agq wrote, goes in again
	agq-show --json "$id" | jq '.task | .id = "again"' | agq-submit
	[ -f "$(task_file again)" ]
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

@test "--hold: submitted into hold/, no agent takes it until agq-release; a deferred one released to defer/; refused with after" {
	a=$(agq-submit --hold -- echo hi)
	b=$(agq-submit --hold --delay 1h -- true)
	is_state "$a" hold && is_state "$b" hold
	jq_is "$AGQ_SPOOL/hold/$a.json" .reason "held at submit"
	[ "$(grep "\"ev\":\"submit\",\"id\":\"$a\"" "$AGQ_SPOOL/journal" | jq -r .state)" = hold ]
	start_sched
	start_agent a1
	# a task submitted after it runs; it stays held
	c=$(agq-submit -- true)
	wait_for 30 is_state "$c" done
	is_state "$a" hold
	agq-release -q "$a" "$b"
	wait_for 30 is_state "$a" done
	is_state "$b" defer
	# with after: refused, the other lines still submitted
	run agq-submit --hold --after "$a" -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"--hold: not for a task with after"* ]]
	run agq-submit --hold <<<$'{"id":"h1","cmd":"true"}\n{"id":"h2","cmd":"true","after":["h1"]}'
	[ "$status" -eq 65 ]
	is_state h1 hold
	[ ! -e "$AGQ_SPOOL/blocked/h2.json" ]
	agq-fsck
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

@test "the submit event is journaled before the task can be seen, so no scheduler's route or assign comes first" {
	agq-submit -q -- true
	# hold the journal's lock: agq-submit waits for it with nothing
	# delivered yet (before: the task was in queue/ while it waited)
	exec 9>"$AGQ_SPOOL/.journal.lock"
	flock 9
	agq-submit -q --id first-seen -- true &
	pid=$!
	waited=0 seen=0
	wait_for 30 grep -Eq "^[0-9]+: -> FLOCK +ADVISORY +WRITE +$pid " /proc/locks && waited=1
	[ -e "$AGQ_SPOOL/queue/normal/first-seen.json" ] || [ -e "$AGQ_SPOOL/ids/first-seen" ] && seen=1
	flock -u 9
	exec 9>&-
	wait "$pid"
	[ "$waited" = 1 ]
	[ "$seen" = 0 ]
	[ -f "$AGQ_SPOOL/queue/normal/first-seen.json" ]
	[ "$(agq-journal --id first-seen | head -1 | jq -r .ev)" = submit ]
	# with a scheduler and an agent running, each task's first event is
	# its submit
	start_sched
	start_agent a1
	for i in $(seq 1 10); do agq-submit -q --id "t$i" -- true; done
	run agq-wait --timeout 60 -q
	[ "$status" -eq 0 ]
	for i in $(seq 1 10); do
		[ "$(agq-journal --id "t$i" | head -1 | jq -r .ev)" = submit ]
	done
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

# ---- prompt tasks from flags (agq-task(5), Agent fields) ----------------

@test "prompt flags: each lands in the task file as agq-task(5) says; no CMD needed" {
	run --separate-stderr agq-submit --prompt $'Fix the typo\nin README.md' \
	    --backend ollama --model llama3.1:8b --title "typo fix" \
	    --verify 'make test' --verify 'grep -q x "$f" && true' \
	    --criteria 'the tests pass' --criteria 'no new warnings'
	[ "$status" -eq 0 ]
	f=$(task_file "$output")
	[ -f "$f" ]
	jq_is "$f" .prompt $'Fix the typo\nin README.md'
	jq_is "$f" .backend ollama
	jq_is "$f" .model llama3.1:8b
	jq_is "$f" .title "typo fix"
	jq -e 'has("cmd") | not' "$f"
	[ "$(jq -c .verify "$f")" = '[{"type":"command_succeeds","cmd":"make test"},{"type":"command_succeeds","cmd":"grep -q x \"$f\" && true"}]' ]
	[ "$(jq -c .success_criteria "$f")" = '["the tests pass","no new warnings"]' ]
	[ "$(count_in queue)" -eq 1 ]
}

@test "prompt flags: --prompt-file reads FILE, or standard input for -, byte for byte" {
	printf 'line one\n\tline two\n' > "$WORK/prompt.txt"
	id=$(agq-submit --prompt-file "$WORK/prompt.txt")
	[ "$(jq -r .prompt "$(task_file "$id")")" = "$(cat "$WORK/prompt.txt")" ]
	jq -e '.prompt | endswith("two\n")' "$(task_file "$id")"
	id=$(printf 'from stdin' | agq-submit --prompt-file - --backend cli)
	jq_is "$(task_file "$id")" .prompt 'from stdin'
	jq_is "$(task_file "$id")" .backend cli
	[ "$(count_in queue)" -eq 2 ]
}

@test "prompt flags: an unreadable prompt file exits 66 naming the path; bad text exits 65" {
	run --separate-stderr agq-submit --prompt-file "$WORK/missing.txt"
	[ "$status" -eq 66 ]
	[[ "$stderr" == *"agq-submit: cannot read the prompt file: "*"($WORK/missing.txt)"* ]]
	run --separate-stderr agq-submit --prompt-file "$WORK"
	[ "$status" -eq 66 ]
	[[ "$stderr" == *"($WORK)"* ]]
	: > "$WORK/empty.txt"
	run --separate-stderr agq-submit --prompt-file "$WORK/empty.txt"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"--prompt-file: field prompt: not a non-empty string"* ]]
	printf 'a\0b' > "$WORK/nul.txt"
	run --separate-stderr agq-submit --prompt-file "$WORK/nul.txt"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"--prompt-file: not UTF-8 text without NUL bytes ($WORK/nul.txt)"* ]]
	[ "$(count_in queue)" -eq 0 ]
}

@test "prompt flags: bad values are usage errors naming the flag, found by the task validator" {
	run --separate-stderr agq-submit --prompt fix --backend 'Not A Name'
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"agq-submit: --backend: field backend: not a backend name"* ]]
	run --separate-stderr agq-submit --prompt ''
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--prompt: field prompt: not a non-empty string"* ]]
	run --separate-stderr agq-submit --prompt fix --model ''
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--model: field model: not a non-empty string"* ]]
	run --separate-stderr agq-submit --prompt fix --verify ''
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--verify: field verify[0].cmd: "* ]]
	run --separate-stderr agq-submit --prompt fix --criteria ''
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--criteria: field success_criteria: "* ]]
	run --separate-stderr agq-submit --prompt fix --prompt-file "$BATS_TEST_FILENAME"
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--prompt, --prompt-file: only one of them, once"* ]]
	run --separate-stderr agq-submit --prompt fix --prompt again
	[ "$status" -eq 64 ]
	# the same field from JSON on standard input: the validator's message
	run --separate-stderr agq-submit <<<'{"prompt": "fix", "backend": "Not A Name"}'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"standard input: field backend: not a backend name"* ]]
	[ "$(count_in queue)" -eq 0 ]
}

@test "prompt flags: with --prompt the command line is the task and a stdin batch is not read; the other agent flags fill in stdin tasks" {
	printf '%s\n' '{"cmd": "true"}' '{"cmd": "false"}' > "$WORK/batch.jsonl"
	run --separate-stderr agq-submit --prompt 'one task' < "$WORK/batch.jsonl"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	jq_is "$(task_file "${lines[0]}")" .prompt 'one task'
	[ "$(count_in queue)" -eq 1 ]
	# --prompt-file - takes standard input as the prompt, not as tasks
	id=$(agq-submit --prompt-file - < "$WORK/batch.jsonl")
	jq_is "$(task_file "$id")" .prompt "$(cat "$WORK/batch.jsonl")"
	jq -e 'has("cmd") | not' "$(task_file "$id")"
	# without a prompt flag: --backend, --model, --verify, --criteria are
	# defaults of the tasks read, used only where a task has no such field
	run agq-submit --backend ollama --model m1 --verify 'make check' \
	    --criteria 'it builds' <<'JSON'
{"prompt": "a"}
{"prompt": "b", "backend": "openai", "model": "m2", "verify": [], "success_criteria": ["own"]}
JSON
	[ "$status" -eq 0 ]
	a=$(task_file "${lines[0]}") b=$(task_file "${lines[1]}")
	jq_is "$a" .backend ollama
	jq_is "$a" .model m1
	jq_is "$a" '.verify[0].cmd' 'make check'
	jq_is "$a" '.success_criteria[0]' 'it builds'
	jq_is "$b" .backend openai
	jq_is "$b" .model m2
	jq_is "$b" '.verify | length' 0
	jq_is "$b" '.success_criteria[0]' own
	[ "$(count_in queue)" -eq 4 ]
}

@test "prompt flags: a prompt and a CMD make one agent task with both; the CMD runs only on the shell backend (agq-task(5))" {
	id=$(agq-submit --prompt 'fix a typo' -- echo hi)
	f=$(task_file "$id")
	jq_is "$f" .prompt 'fix a typo'
	[ "$(jq -c .cmd "$f")" = '["echo","hi"]' ]
	# a small change with a cmd is trivial: the shell backend, which runs cmd
	jq_is "$f" .complexity.tier trivial
	id=$(agq-submit --prompt 'add a feature' -- echo hi)
	jq_is "$(task_file "$id")" .complexity.tier standard
	# a prompt task without a cmd is never trivial
	id=$(agq-submit --prompt 'fix a typo')
	jq_is "$(task_file "$id")" .complexity.tier standard
}

@test "agq ls shows a prompt task's first line of prompt when it has no title; cmd tasks unchanged" {
	agq-submit -q --id p1 --prompt $'Fix the flaky test\nin tests/net.bats\n'
	agq-submit -q --id p2 --prompt $'second\nline' --title 'a title'
	agq-submit -q --id p3 --prompt 'a prompt' -- make check
	agq-submit -q --id c1 -- echo 'a  b'
	agq-submit -q --id c2 <<<'{"cmd": "make\ttest"}'
	run agq ls
	[ "$status" -eq 0 ]
	echo "$output"
	[[ "$(grep ' p1 \|^p1 ' <<<"$output")" == *" Fix the flaky test" ]]
	[[ "$(grep '^p2 ' <<<"$output")" == *" a title" ]]
	[[ "$(grep '^p3 ' <<<"$output")" == *" make check" ]]
	[[ "$(grep '^c1 ' <<<"$output")" == *" echo a  b" ]]
	[[ "$(grep '^c2 ' <<<"$output")" == *" make test" ]]
}

@test "prompt flags end to end: a prompt task with a CMD on --backend shell runs the CMD, and its --verify step passes" {
	start_agent sh1 --backend shell
	wait_for 10 test -f "$AGQ_SPOOL/agents/sh1.json"
	start_sched
	agq-submit -q --id e2e --prompt 'fix a typo' --backend shell \
	    --verify "test -f '$WORK/made'" --criteria 'the file is made' \
	    -- touch "$WORK/made"
	wait_for 20 is_state e2e done
	r="$AGQ_SPOOL/out/e2e/result.json"
	jq_is "$r" .backend shell
	jq_is "$r" .agent_status done
	jq -e '.verify.status == "pass" and .verify.steps[0].type ==
	    "command_succeeds" and .verify.steps[0].status == "pass"' "$r"
	[ -f "$WORK/made" ]
}

@test "prompt flags: a command-line task over max_task_bytes (a long prompt file) exits 65 and submits nothing" {
	echo "max_task_bytes = 2000" >> "$AGQ_CONF"
	head -c 3000 /dev/zero | tr '\0' x > "$WORK/long.txt"
	run --separate-stderr agq-submit --prompt-file "$WORK/long.txt"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"command line: task is "*" bytes, over max_task_bytes (2000)"* ]]
	[ "$(count_in queue)" -eq 0 ]
	head -c 1000 /dev/zero | tr '\0' x > "$WORK/short.txt"
	run agq-submit --prompt-file "$WORK/short.txt"
	[ "$status" -eq 0 ]
	[ "$(count_in queue)" -eq 1 ]
}

@test "a title, command word, cwd, capability or env value that is not UTF-8 is refused naming the flag, never dropped" {
	run agq-submit --title $'bad \xff title' -- true
	[ "$status" -eq 64 ]
	[[ "$output" == *"--title: not UTF-8 text: 'bad \xff title'"* ]]
	run agq-submit -- printf $'\xfe'
	[ "$status" -eq 64 ]
	[[ "$output" == *"the command: not UTF-8 text"* ]]
	for a in -C -c; do
		run agq-submit "$a" $'x\xff' -- true
		[ "$status" -eq 64 ]
		[[ "$output" == *"$a: not UTF-8 text"* ]]
	done
	run agq-submit -e $'V=\xff' -- true
	[ "$status" -eq 64 ]
	[ "$(count_in queue)" -eq 0 ]
	# valid UTF-8 is kept as given
	id=$(agq-submit --title 'héllo ✓' -- true)
	[ "$(jq -r .title "$AGQ_SPOOL/queue/normal/$id.json")" = 'héllo ✓' ]
}
