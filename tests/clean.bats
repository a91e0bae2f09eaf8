#!/usr/bin/env bats
# agq-clean: finished tasks moved into SPOOL/archive/YYYY-MM.jsonl.gz, still
# read by agq-show and agq-stats; --dry-run; a crash between the archive
# append and the removal.

load helper

# finish_all: run every queued task with agq-sched --once and agq-run
# --once (no daemon, no timing).
finish_all() {
	local _
	for _ in $(seq 30); do
		agq-sched --once >/dev/null 2>&1
		agq-run --agent c1 --once >/dev/null 2>&1
		[ "$(count_in queue)" -eq 0 ] && [ "$(count_in active)" -eq 0 ] &&
		    [ "$(count_in defer)" -eq 0 ] && return 0
	done
	return 1
}

archive() { zcat "$AGQ_SPOOL"/archive/*.jsonl.gz; }

@test "clean moves done and dead tasks into the monthly archive; agq-show and agq-stats still see them" {
	a=$(agq-submit --title alpha -- sh -c 'echo out-a')
	b=$(agq-submit --max-attempts 1 -- false)
	c=$(agq-submit -- true)
	agq-hold -q "$c"
	finish_all
	is_state "$a" done
	is_state "$b" dead
	[ -d "$AGQ_SPOOL/out/$a" ]
	run agq-clean --older-than 0
	echo "$output"
	[ "$status" -eq 0 ]
	month=$(date -u +%Y-%m)
	[ -f "$AGQ_SPOOL/archive/$month.jsonl.gz" ]
	[[ "$output" == *"$a archive/$month.jsonl.gz"* ]]
	# gone from the spool: the file, its output, its claim
	is_state "$a" none
	is_state "$b" none
	[ ! -e "$AGQ_SPOOL/out/$a" ]
	[ ! -e "$AGQ_SPOOL/ids/$a" ]
	is_state "$c" hold
	# zcat | jq reads it: one line per task, the task and its result
	[ "$(archive | wc -l)" -eq 2 ]
	[ "$(archive | jq -r "select(.id == \"$a\") | .state")" = done ]
	[ "$(archive | jq -r "select(.id == \"$a\") | .task.title")" = alpha ]
	[ "$(archive | jq -r "select(.id == \"$a\") | .result.status")" = done ]
	[ "$(archive | jq -r "select(.id == \"$b\") | .state")" = dead ]
	# agq-show reads the archive
	run agq-show "$a"
	[ "$status" -eq 0 ]
	[[ "$output" == *"state:  archived (done)"* ]]
	[[ "$output" == *'"title": "alpha"'* ]]
	[[ "$output" == *'"ev":"done"'* ]]
	[ "$(agq-show --json "$b" | jq -r '"\(.state) \(.archived)"')" = "archived dead" ]
	# agq-wait knows how they ended: done 0, dead 1, never "no such task"
	run agq-wait --timeout 5 "$a"
	[ "$status" -eq 0 ]
	run agq-wait --timeout 5 "$a" "$b"
	[ "$status" -eq 1 ]
	[[ "$output" != *"no such task"* ]]
	run agq-wait --timeout 5 no-such-id
	[ "$status" -eq 66 ]
	# agq-stats counts them
	[ "$(agq-stats --json | jq .counts.archived)" -eq 2 ]
	[ "$(agq-stats --json | jq .events.done)" -eq 1 ]
	[[ "$(agq-stats)" == *"archived 2"* ]]
	# one clean event for the run
	[ "$(journal_count clean)" -eq 1 ]
	[ "$(agq-journal --ev clean | jq -c '[.count, .archived, .archives]')" = \
	    "[2,2,[\"archive/$month.jsonl.gz\"]]" ]
	# a second run finds nothing more
	run agq-clean --older-than 0
	[ "$status" -eq 0 ]
	[ "$(archive | wc -l)" -eq 2 ]
}

@test "agq-ls --archive lists the archived tasks after the spool's, --state archived only them; --json, -q, --lane, --state done|dead" {
	a=$(agq-submit --title alpha -- true)
	b=$(agq-submit --max-attempts 1 --priority high -- false)
	finish_all
	agq-clean -q --older-than 0
	c=$(agq-submit --title gamma -- true)
	d=$(agq-submit -- true)
	finish_all
	# without --archive: the spool alone
	[ "$(agq-ls -q | sort)" = "$(printf '%s\n' "$c" "$d" | sort)" ]
	run agq-ls --archive
	[ "$status" -eq 0 ]
	echo "$output"
	[ "${#lines[@]}" -eq 5 ]
	[[ "${lines[0]}" == ID* ]]
	# the spool's rows first, then the archive's, oldest first
	[[ "${lines[3]}" =~ ^$a\ +archived\ +normal\ +-\ +1\ +\[done\]\ alpha$ ]]
	[[ "${lines[4]}" =~ ^$b\ +archived\ +high\ .*\[dead\]\ false$ ]]
	[ "$(agq-ls --archive -q | tail -n 2)" = "$(printf '%s\n' "$a" "$b")" ]
	[ "$(agq-ls --state archived -q)" = "$(printf '%s\n' "$a" "$b")" ]
	[ "$(agq-ls --archive --state dead -q)" = "$b" ]
	[ "$(agq-ls --archive --state done -q | sort)" = "$(printf '%s\n' "$a" "$c" "$d" | sort)" ]
	[ "$(agq-ls --archive --lane high -q)" = "$b" ]
	[ -z "$(agq-ls --archive --state queue -q)" ]
	run agq-ls --state archived --json
	[ "$(jq -r 'select(.id == "'"$a"'") | [.state, .archived, .title, .lane, (.archived_at | length > 0)] | @tsv' <<< "$output")" = "$(printf 'archived\tdone\talpha\tnormal\ttrue')" ]
	[ "$(jq -r 'select(.id == "'"$b"'") | .archived' <<< "$output")" = dead ]
	# a task in both places (a crash in agq-clean) is listed once, from
	# the spool
	zcat "$AGQ_SPOOL"/archive/*.jsonl.gz | jq -c --arg d "$d" \
	    'select(.id == "'"$a"'") | .id = $d | .task.id = $d' | gzip >> "$AGQ_SPOOL/archive/$(date -u +%Y-%m).jsonl.gz"
	[ "$(agq-ls --archive -q | grep -c "$d")" -eq 1 ]
	[ "$(agq-ls --state archived -q | grep -c "$d")" -eq 1 ]
}

@test "clean --dry-run changes nothing" {
	a=$(agq-submit -- true)
	finish_all
	before=$(find "$AGQ_SPOOL" | sort)
	jbefore=$(wc -l < "$AGQ_SPOOL/journal")
	run agq-clean --older-than 0 --dry-run
	[ "$status" -eq 0 ]
	[[ "$output" == *"$a archive/"* ]]
	[ "$(find "$AGQ_SPOOL" | sort)" = "$before" ]
	[ "$(wc -l < "$AGQ_SPOOL/journal")" -eq "$jbefore" ]
	is_state "$a" done
	[ ! -e "$AGQ_SPOOL/archive" ]
}

@test "clean keeps tasks newer than --older-than (default: clean_after in agq.conf, else 30 days) and those of other states" {
	a=$(agq-submit -- true)
	d=$(agq-submit -- true)
	f=$(agq-submit --max-attempts 1 -- false)
	agq-cancel -q "$d"
	finish_all
	run agq-clean
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	is_state "$a" done
	run agq-clean --older-than 1h
	is_state "$a" done
	echo "clean_after = 0" >> "$AGQ_CONF"
	echo "clean_states = cancelled" >> "$AGQ_CONF"
	run agq-clean -q
	[ "$status" -eq 0 ]
	is_state "$a" done
	is_state "$f" dead
	is_state "$d" none
	[ "$(archive | jq -r .id)" = "$d" ]
	run agq-clean --state done,bogus
	[ "$status" -eq 64 ]
	run agq-clean --older-than soon
	[ "$status" -eq 64 ]
	echo "clean_states = done,nope" >> "$AGQ_CONF"
	run agq-clean
	[ "$status" -eq 78 ]
}

@test "a crash between the archive append and the removal leaves the task in both places; the next clean leaves exactly one copy" {
	a=$(agq-submit -- true)
	b=$(agq-submit -- true)
	finish_all
	AGQ_CLEAN_CRASH=after-archive run agq-clean --older-than 0
	[ "$status" -ne 0 ]
	# in both places, never in neither
	is_state "$a" done
	is_state "$b" done
	[ "$(archive | wc -l)" -eq 2 ]
	run agq-clean --older-than 0
	[ "$status" -eq 0 ]
	is_state "$a" none
	is_state "$b" none
	[ "$(archive | jq -r .id | sort | uniq -d)" = "" ]
	[ "$(archive | wc -l)" -eq 2 ]
	[ "$(agq-journal --ev clean | jq -c '[.count, .archived]')" = "[2,0]" ]
}

@test "an id submitted again after its first task was archived: the second is archived too, not dropped; agq-show shows the newer" {
	agq-submit -q --id again -- echo first
	finish_all
	agq-clean --older-than 0
	is_state again none
	agq-submit -q --id again --max-attempts 1 -- sh -c 'exit 3'
	finish_all
	is_state again dead
	run agq-clean --older-than 0
	[ "$status" -eq 0 ]
	is_state again none
	# both records, in the order they were archived
	[ "$(archive | jq -r 'select(.id == "again") | .state' | tr '\n' ' ')" = "done dead " ]
	[ "$(agq-show --json again | jq -r .state)" = archived ]
	agq-show --json again | jq -e '.task.cmd | tostring | contains("exit 3")'
	[ "$(cat "$AGQ_SPOOL"/archive/*.count)" = 2 ]
}

@test "a torn archive member (a writer killed mid-append) is cut off before the next append" {
	a=$(agq-submit -- true)
	finish_all
	agq-clean -q --older-than 0
	f=$(ls "$AGQ_SPOOL"/archive/*.jsonl.gz)
	size=$(stat -c %s "$f")
	b=$(agq-submit -- true)
	finish_all
	AGQ_CLEAN_CRASH=after-archive run agq-clean --older-than 0
	# the second member half written: zcat fails at its end
	truncate -s $((size + 20)) "$f"
	! zcat "$f" >/dev/null 2>&1
	is_state "$b" done
	run agq-clean --older-than 0
	[ "$status" -eq 0 ]
	zcat "$f" >/dev/null
	[ "$(archive | jq -r .id | tr '\n' ' ')" = "$a $b " ]
	[ "$(agq-show --json "$b" | jq -r .state)" = archived ]
}

@test "a second agq-clean while one runs exits 75" {
	exec 9>"$AGQ_SPOOL/.clean.lock"
	flock -n 9
	run agq-clean
	[ "$status" -eq 75 ]
	[[ "$output" == *"another agq-clean is running"* ]]
}
