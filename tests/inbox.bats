#!/usr/bin/env bats
# Inbox drops: files renamed into inbox/ are accepted by agq-sched, and
# anything that is not a valid task is quarantined in corrupt/ with a
# NAME.why, a reject event, and no crash.

load helper

CORPUS=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/tests/corpora/JSONTestSuite/test_parsing

spool_dirs() { mkdir -p "$AGQ_SPOOL/tmp" "$AGQ_SPOOL/inbox"; }

# drop NAME CONTENT: write CONTENT in tmp/, then rename it to inbox/NAME;
# written a minute ago, so that a bad drop is judged at once (a young one
# may still be being written: agq-spool(5), Inbox drops).
drop() {
	spool_dirs
	printf '%s' "$2" > "$AGQ_SPOOL/tmp/drop.$$.$1"
	touch -m -d '-1 minute' "$AGQ_SPOOL/tmp/drop.$$.$1"
	mv "$AGQ_SPOOL/tmp/drop.$$.$1" "$AGQ_SPOOL/inbox/$1"
}

# rejected NAME TEXT: inbox/NAME is quarantined, its .why contains TEXT,
# and a reject event names it.
rejected() {
	local name=$1 text=$2
	[ ! -e "$AGQ_SPOOL/inbox/$name" ] && [ ! -L "$AGQ_SPOOL/inbox/$name" ] || {
		echo "inbox/$name is still there"; return 1; }
	[ -e "$AGQ_SPOOL/corrupt/$name" ] || [ -L "$AGQ_SPOOL/corrupt/$name" ] || {
		echo "corrupt/$name is missing"; return 1; }
	[ -f "$AGQ_SPOOL/corrupt/$name.why" ] || {
		echo "corrupt/$name.why is missing"; return 1; }
	echo "why: $(cat "$AGQ_SPOOL/corrupt/$name.why")"
	grep -qF -- "$text" "$AGQ_SPOOL/corrupt/$name.why" || return 1
	agq-journal --ev reject | jq -s -e --arg n "$name" 'any(.[]; .file == $n or (.file | endswith("/inbox/" + $n)))' >/dev/null || {
		echo "no reject event for $name"; return 1; }
}

# once: one scheduler pass, which must succeed.
once() {
	run agq-sched --once
	echo "agq-sched --once: $status $output"
	[ "$status" -eq 0 ]
}

@test "a valid drop is accepted by the running scheduler, with defaults filled" {
	start_sched
	wait_for 20 grep -q '"sched_up"' "$AGQ_SPOOL/journal"
	drop t1.json '{"id": "dropped-1", "cmd": ["echo", "hi"], "meta": {"x_extra": 7}}'
	wait_for 30 is_state dropped-1 queue
	f="$AGQ_SPOOL/queue/normal/dropped-1.json"
	wait_for 10 grep -q '"ev":"accept","id":"dropped-1"' "$AGQ_SPOOL/journal"
	[ "$(jq -r .priority "$f")" = normal ]
	[ "$(jq -r .max_attempts "$f")" = 3 ]
	[ "$(jq -r .backoff "$f")" = 10 ]
	[ "$(jq -r .generation "$f")" = 0 ]
	[ "$(jq -c .attempts "$f")" = '[]' ]
	[ "$(jq -r .meta.x_extra "$f")" = 7 ]
	jq -e '.submitted_at | test("Z$")' "$f"
	[ -z "$(ls -A "$AGQ_SPOOL/inbox")" ]
	[ "$(agq-journal --id dropped-1 --ev accept | jq -r .file | sed 's,.*/,,')" = t1.json ]
	# and it runs like any other task
	start_agent a1
	run agq-wait --timeout 30 -q dropped-1
	[ "$status" -eq 0 ]
	[ "$(cat "$AGQ_SPOOL/out/dropped-1/stdout")" = hi ]
}

@test "a drop without an id gets a generated one" {
	start_sched
	wait_for 20 grep -q '"sched_up"' "$AGQ_SPOOL/journal"
	drop noid '{"cmd": "true", "priority": "high"}'
	wait_for 30 count_is queue 1
	id=$(agq-ls -q)
	[[ "$id" =~ ^[A-Za-z0-9._-]{1,64}$ ]]
	[ -f "$AGQ_SPOOL/queue/high/$id.json" ]
	[ "$(jq -r .id "$AGQ_SPOOL/queue/high/$id.json")" = "$id" ]
	wait_for 10 grep -q "\"ev\":\"accept\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
}

@test "agq-sched --once accepts drops without a daemon; not_before defers" {
	drop a '{"id": "once-a", "cmd": "true"}'
	drop b '{"cmd": "true", "priority": "low"}'
	drop c '{"id": "later", "cmd": "true", "not_before": "2999-01-01T00:00:00Z"}'
	once
	is_state once-a queue
	[ "$(agq-ls -q --lane low | wc -l)" -eq 1 ]
	is_state later defer
	[ "$(jq -r .next_attempt_at "$AGQ_SPOOL/defer/later.json")" = 2999-01-01T00:00:00.000000Z ]
	[ "$(journal_count accept)" -eq 3 ]
	[ -z "$(ls -A "$AGQ_SPOOL/inbox")" ]
	[ "$(count_in corrupt)" -eq 0 ]
}

@test "the running scheduler quarantines a bad drop and keeps going" {
	start_sched
	wait_for 20 grep -q '"sched_up"' "$AGQ_SPOOL/journal"
	drop bad.json '{"cmd": '
	# the reject event is the quarantine's last step (.why comes first)
	wait_for 30 sh -c 'agq-journal --ev reject | grep -q bad.json'
	rejected bad.json "invalid JSON"
	kill -0 "$SCHED_PID"
	drop good.json '{"id": "after-bad", "cmd": "true"}'
	wait_for 30 is_state after-bad queue
}

@test "invalid JSON is quarantined" {
	drop broken.json '{"id": "x", "cmd": ["true"],}'
	once
	rejected broken.json "invalid JSON"
	[ "$(count_in queue)" -eq 0 ]
}

@test "a JSON array is quarantined" {
	drop array.json '[{"cmd": "true"}]'
	once
	rejected array.json "not a JSON object"
}

@test "a task without cmd is quarantined" {
	drop nocmd.json '{"id": "nocmd", "title": "no command"}'
	once
	rejected nocmd.json "field cmd: missing"
	is_state nocmd none
}

@test "a bad priority is quarantined" {
	drop prio.json '{"cmd": "true", "priority": "asap"}'
	once
	rejected prio.json "field priority"
	[ "$(count_in queue)" -eq 0 ]
}

@test "a misspelled field is quarantined naming the nearest known one; a task already queued with one keeps working" {
	drop typo.json '{"id": "typo", "cmd": "true", "max_atempts": 2}'
	once
	rejected typo.json "field max_atempts: unknown field (did you mean max_attempts?)"
	is_state typo none
	# the check is at intake: a task file in queue/ with a field agq does
	# not know (written before the rule, or by a later agq) still runs
	mkdir -p "$AGQ_SPOOL/queue/normal"
	echo '{"id": "old", "cmd": "true", "owner": "ci", "submitted_at": "2026-01-01T00:00:00Z", "attempts": [], "generation": 0}' > "$AGQ_SPOOL/queue/normal/old.json"
	for round in $(seq 1 20); do
		agq-sched --once && agq-run --once --agent a1
		is_state old done && break
	done
	is_state old done
	[ "$(count_in corrupt)" -eq 1 ]
	[ "$(jq -r .owner "$AGQ_SPOOL/done/old.json")" = ci ]
}

@test "agq-ls --state inbox and corrupt list the raw files: readable ones as tasks, others by file name" {
	drop good.json '{"id": "waiting", "cmd": "true", "title": "in the box"}'
	drop bad.json '{"cmd": '
	run agq-ls --state inbox
	[ "$status" -eq 0 ]
	echo "$output"
	printf '%s\n' "$output" | grep -Eq '^waiting +inbox +normal +- +- +in the box$'
	printf '%s\n' "$output" | grep -Eq '^bad\.json +inbox +- +- +- +\(bad\.json: not a JSON object\)$'
	[ "$(agq-ls --state inbox -q)" = waiting ]
	[ "$(agq-ls --state inbox --json | jq -r 'select(.file == "good.json") | .title')" = "in the box" ]
	[ "$(agq-ls --state inbox --json | jq -r 'select(.file == "bad.json") | .error')" = "not a JSON object" ]
	once
	rejected bad.json "invalid JSON"
	run agq-ls --state corrupt
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -Eq '^bad\.json +corrupt '
	[ "$(printf '%s\n' "$output" | grep -c why)" -eq 0 ]
	[ -z "$(agq-ls --state inbox)" ]
}

@test "a file still being written straight into inbox/ is not quarantined half-written: judged once closed and settled" {
	spool_dirs
	# --once: a young file that does not parse stays in inbox/
	exec 8>"$AGQ_SPOOL/inbox/slow.json"
	printf '{"id": "slow", "cmd": ' >&8
	once
	[ -f "$AGQ_SPOOL/inbox/slow.json" ]
	[ ! -e "$AGQ_SPOOL/corrupt/slow.json" ]
	# a running scheduler: another drop makes it look at inbox/ while
	# slow.json is still open and young; then the writer finishes
	start_sched
	wait_for 20 grep -q '"sched_up"' "$AGQ_SPOOL/journal"
	touch "$AGQ_SPOOL/inbox/slow.json"
	drop other.json '{"id": "other", "cmd": "true"}'
	wait_for 30 is_state other queue
	[ -f "$AGQ_SPOOL/inbox/slow.json" ]
	[ ! -e "$AGQ_SPOOL/corrupt/slow.json" ]
	printf '"true"}' >&8
	exec 8>&-
	wait_for 30 is_state slow queue
	[ "$(count_in corrupt)" -eq 0 ]
	# a bad file left half-written is quarantined once it is 5 s old
	printf '{"cmd": ' > "$AGQ_SPOOL/inbox/torn.json"
	wait_for 30 test -f "$AGQ_SPOOL/corrupt/torn.json"
	grep -q 'invalid JSON' "$AGQ_SPOOL/corrupt/torn.json.why"
}

@test "an id with '/' or '..' is quarantined and nothing is written outside the spool" {
	drop slash.json '{"id": "../../escape", "cmd": "true"}'
	drop dots.json '{"id": "..", "cmd": "true"}'
	drop sub.json '{"id": "a/b", "cmd": "true"}'
	once
	rejected slash.json "field id"
	rejected dots.json "field id"
	rejected sub.json "field id"
	[ ! -e "$BATS_TEST_TMPDIR/escape.json" ]
	[ ! -e "$AGQ_SPOOL/escape.json" ]
	[ "$(count_in queue)" -eq 0 ]
}

@test "a symlink is quarantined without following it; its target is untouched" {
	spool_dirs
	printf '{"id": "via-link", "cmd": "true"}' > "$WORK/target.json"
	cp "$WORK/target.json" "$WORK/target.orig"
	ln -s "$WORK/target.json" "$AGQ_SPOOL/inbox/link.json"
	once
	rejected link.json "symbolic link"
	[ -L "$AGQ_SPOOL/corrupt/link.json" ]
	cmp "$WORK/target.json" "$WORK/target.orig"
	is_state via-link none
}

@test "a FIFO is quarantined without blocking the scheduler" {
	spool_dirs
	mkfifo "$AGQ_SPOOL/inbox/fifo"
	run timeout 30 agq-sched --once
	[ "$status" -eq 0 ]
	rejected fifo "FIFO"
	[ -p "$AGQ_SPOOL/corrupt/fifo" ]
}

@test "a directory is quarantined" {
	spool_dirs
	mkdir "$AGQ_SPOOL/inbox/dir.json"
	echo '{"cmd": "true"}' > "$AGQ_SPOOL/inbox/dir.json/inner.json"
	once
	rejected dir.json "directory"
	[ -d "$AGQ_SPOOL/corrupt/dir.json" ]
	[ "$(count_in queue)" -eq 0 ]
}

@test "a hard link is quarantined" {
	spool_dirs
	printf '{"id": "linked", "cmd": "true"}' > "$AGQ_SPOOL/tmp/hl"
	ln "$AGQ_SPOOL/tmp/hl" "$AGQ_SPOOL/inbox/hl.json"
	once
	rejected hl.json "hard link"
	is_state linked none
}

@test "a drop over max_task_bytes is quarantined" {
	echo "max_task_bytes = 100" >> "$AGQ_CONF"
	drop small.json '{"id": "small", "cmd": "true"}'
	drop big.json "{\"id\": \"big\", \"cmd\": \"true\", \"title\": \"$(printf 'x%.0s' $(seq 150))\"}"
	once
	rejected big.json "too large"
	is_state big none
	is_state small queue
}

@test "a duplicate id of an existing task is quarantined; the task is untouched" {
	id=$(agq-submit --id taken -- echo original)
	cp "$AGQ_SPOOL/queue/normal/taken.json" "$WORK/before"
	drop dup.json '{"id": "taken", "cmd": ["echo", "impostor"]}'
	once
	rejected dup.json "duplicate id"
	cmp "$AGQ_SPOOL/queue/normal/taken.json" "$WORK/before"
	# a done task's id is taken too
	agq-cancel -q taken
	drop dup2.json '{"id": "taken", "cmd": "true"}'
	once
	rejected dup2.json "already in dead/"
}

@test "every JSONTestSuite n_* file dropped in inbox/ ends in corrupt/ with a .why" {
	spool_dirs
	n=0
	for f in "$CORPUS"/n_*.json; do
		n=$((n + 1))
		cp "$f" "$AGQ_SPOOL/tmp/jts-$n-${f##*/}"
	done
	# written in tmp/ a minute ago, then renamed into inbox/
	touch -m -d '-1 minute' "$AGQ_SPOOL"/tmp/jts-*
	mv "$AGQ_SPOOL"/tmp/jts-* "$AGQ_SPOOL/inbox/"
	echo "dropped $n files"
	[ "$n" -gt 100 ]
	run agq-sched --once
	echo "agq-sched --once exited $status"
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$AGQ_SPOOL/inbox")" ]
	[ "$(count_in queue)" -eq 0 ]
	[ "$(count_in defer)" -eq 0 ]
	missing=0
	for i in $(seq 1 $n); do
		set -- "$AGQ_SPOOL"/corrupt/jts-$i-*
		[ -f "$1" ] && [ -f "$1.why" ] && [ -s "$1.why" ] && continue
		echo "not quarantined with a .why: jts-$i ($1)"
		missing=$((missing + 1))
	done
	[ "$missing" -eq 0 ]
	[ "$(find "$AGQ_SPOOL/corrupt" -name '*.why' | wc -l)" -eq "$n" ]
	[ "$(journal_count reject)" -eq "$n" ]
	[ "$(journal_count accept)" -eq 0 ]
}
