#!/usr/bin/env bats
# agq-routine and agq-sched's fire pass (issue 21): slots fired at most
# once, misfire policies, a clock stepped back, a crash between the claim
# and the submission, pauses, approval.  The clock is AGQ_ROUTINE_NOW, a
# documented test-only clock (agq-sched(8)), not libfaketime: no preload
# under the sanitizers, no package, the same time for every process of a
# test.  No daemon: each fire pass is agq-sched --once.

load helper

# fire TIME: one fire pass at TIME (RFC 3339 UTC).
fire() {
	AGQ_ROUTINE_NOW=$1 agq-sched --once
}

# tasks NAME: the routine's task ids in queue/, sorted.
tasks() {
	ls "$AGQ_SPOOL"/queue/normal | sed -n "s/^\(r-$1-.*\)\.json$/\1/p" |
	    sort
}

# events EV: how many EV events the journal has.
events() {
	grep -c "\"ev\":\"$1\"" "$AGQ_SPOOL/journal" || :
}

@test "add, ls, history, rm" {
	AGQ_ROUTINE_NOW=2026-12-07T09:30:00Z run agq-routine add hourly \
	    --every 1h -- echo hi
	[ "$status" -eq 0 ]
	[ -f "$AGQ_SPOOL/routines/hourly.json" ]
	run agq-routine ls
	[[ "${lines[0]}" == "NAME "*" STATE "*" NEXT "*" SCHEDULE" ]]
	[[ "${lines[1]}" == "hourly "*" active "*"2026-12-07T10:00:00Z"*"every 3600s"* ]]
	fire 2026-12-07T10:00:05Z
	[ "$(tasks hourly)" = r-hourly-20261207T100000Z ]
	run agq-routine history hourly
	[[ "${lines[0]}" == "SLOT "*" CLAIMED "*" STATE "*" TASK" ]]
	[[ "${lines[1]}" == "20261207T100000Z "*" queue "*r-hourly-20261207T100000Z* ]]
	run agq-routine ls --json
	[ "$(jq -r '.[0].last_state + " " + .[0].last_id + " " + .[0].next' \
	    <<<"$output")" = "queue r-hourly-20261207T100000Z 2026-12-07T11:00:00Z" ]
	run agq-routine history hourly --json
	[ "$(jq -r '.[0].slot + " " + .[0].state' <<<"$output")" = \
	    "20261207T100000Z queue" ]
	# the task is the routine's, with the cwd it was added in
	jq -e --arg d "$PWD" '.cmd == ["echo", "hi"] and .cwd == $d' \
	    "$AGQ_SPOOL/queue/normal/r-hourly-20261207T100000Z.json"
	run agq-routine add hourly --every 1h -- true
	[ "$status" -eq 73 ]
	run agq-routine rm hourly
	[ "$status" -eq 0 ]
	[ ! -e "$AGQ_SPOOL/routines/hourly.json" ]
	[ ! -e "$AGQ_SPOOL/routines/hourly.slots" ]
	[ -z "$(agq-routine ls)" ]
	run agq-routine history hourly
	[ "$status" -eq 69 ]
	[ "$(events routine_add) $(events routine_fire) $(events routine_rm)" \
	    = "1 1 1" ]
}

@test "--every fires exactly once per slot; edit and run-now" {
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add tick --every 10m \
	    -- true
	fire 2026-12-07T10:00:30Z       # the add's own slot: not after it
	[ -z "$(tasks tick)" ]
	fire 2026-12-07T10:10:01Z
	fire 2026-12-07T10:10:02Z
	fire 2026-12-07T10:15:00Z
	fire 2026-12-07T10:20:00Z
	[ "$(tasks tick | tr '\n' ' ')" = \
	    "r-tick-20261207T101000Z r-tick-20261207T102000Z " ]
	[ "$(events routine_fire)" -eq 2 ]
	AGQ_ROUTINE_NOW=2026-12-07T10:21:00Z agq-routine edit tick --every 1h
	jq -e '.rev == 2 and .every_s == 3600' "$AGQ_SPOOL/routines/tick.json"
	fire 2026-12-07T10:59:59Z
	fire 2026-12-07T11:00:00Z
	[ "$(tasks tick | wc -l)" -eq 3 ]
	id=$(agq-routine run-now tick)
	[[ "$id" == r-tick-now-* ]]
	[ -f "$AGQ_SPOOL/queue/normal/$id.json" ]
}

@test "two schedulers racing one slot: one claim, one task" {
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add race --every 10m \
	    -- true
	fire 2026-12-07T10:10:01Z & a=$!
	fire 2026-12-07T10:10:01Z & b=$!
	wait "$a" || :          # one may find the other's lock: 75
	wait "$b" || :
	fire 2026-12-07T10:10:02Z
	[ "$(tasks race)" = r-race-20261207T101000Z ]
	[ "$(ls "$AGQ_SPOOL/routines/race.slots" | wc -l)" -eq 1 ]
	[ "$(events routine_fire)" -eq 1 ]
}

@test "a crash between the claim and the submission: submitted at start, once" {
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add crash --every 10m \
	    -- true
	AGQ_ROUTINE_CRASH=after-claim run fire 2026-12-07T10:10:01Z
	[ "$status" -ne 0 ]
	[ -f "$AGQ_SPOOL/routines/crash.slots/20261207T101000Z" ]
	[ -z "$(tasks crash)" ]
	run fire 2026-12-07T10:10:02Z
	[ "$status" -eq 0 ]
	[[ "$output" == *"slot 20261207T101000Z was claimed but its task"* ]]
	[ "$(tasks crash)" = r-crash-20261207T101000Z ]
	fire 2026-12-07T10:10:03Z
	[ "$(tasks crash)" = r-crash-20261207T101000Z ]
	[ "$(grep -c '"ev":"submit","id":"r-crash-' "$AGQ_SPOOL/journal")" -eq 1 ]
}

@test "misfires after a down period: skip, run-once, catch-up:2" {
	for p in skip run-once catch-up:2; do
		AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add "${p%%:*}" \
		    --every 10m --misfire "$p" -- true
	done
	# down from 10:00 to 10:45: 10:10 to 10:40 missed (10:40 5 min late)
	fire 2026-12-07T10:45:00Z
	[ -z "$(tasks skip)" ]
	[ "$(tasks run-once)" = r-run-once-20261207T104000Z ]
	[ "$(tasks catch-up | tr '\n' ' ')" = \
	    "r-catch-up-20261207T103000Z r-catch-up-20261207T104000Z " ]
	grep '"ev":"routine_misfire"' "$AGQ_SPOOL/journal" > "$WORK/m"
	[ "$(wc -l < "$WORK/m")" -eq 3 ]
	jq -se 'map(select(.routine == "skip"))[0] | .skipped == 4 and
	    .first == "2026-12-07T10:10:00.000000Z" and
	    .last == "2026-12-07T10:40:00.000000Z"' "$WORK/m"
	jq -se 'map(select(.routine == "run-once"))[0] | .skipped == 3 and
	    .last == "2026-12-07T10:30:00.000000Z"' "$WORK/m"
	jq -se 'map(select(.routine == "catch-up"))[0] | .skipped == 2 and
	    .last == "2026-12-07T10:20:00.000000Z"' "$WORK/m"
	# journaled once; the next slot fires on time
	fire 2026-12-07T10:46:00Z
	fire 2026-12-07T10:50:10Z
	[ "$(events routine_misfire)" -eq 3 ]
	[ "$(tasks skip)" = r-skip-20261207T105000Z ]
	run agq-routine history skip
	[[ "$output" == *"misfire: 4 slot(s) skipped"* ]]
}

@test "a clock stepped backwards does not fire a slot again" {
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add step --every 10m \
	    -- true
	fire 2026-12-07T10:10:05Z
	fire 2026-12-07T10:00:05Z       # stepped back 10 minutes
	fire 2026-12-07T10:10:05Z       # and forward again
	fire 2026-12-07T10:10:30Z
	[ "$(tasks step)" = r-step-20261207T101000Z ]
	[ "$(events routine_fire)" -eq 1 ]
	fire 2026-12-07T10:20:01Z
	[ "$(tasks step | wc -l)" -eq 2 ]
}

@test "a paused routine does not fire; resumed, from its next slot" {
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add p --every 10m \
	    --misfire catch-up:5 -- true
	agq-routine pause p
	[[ "$(agq-routine ls | sed 1d)" == "p "*" paused "*" - "* ]]
	fire 2026-12-07T10:10:01Z
	fire 2026-12-07T10:20:01Z
	[ -z "$(tasks p)" ]
	AGQ_ROUTINE_NOW=2026-12-07T10:25:00Z agq-routine resume p
	fire 2026-12-07T10:25:01Z       # the paused slots are not misfires
	[ -z "$(tasks p)" ]
	fire 2026-12-07T10:30:01Z
	[ "$(tasks p)" = r-p-20261207T103000Z ]
	[ "$(events routine_pause) $(events routine_resume)" = "1 1" ]
}

@test "an agent's routine with a network backend waits for a person's approve" {
	echo '{"prompt": "triage the issues", "backend": "claude"}' > "$WORK/t"
	AGQ_TASK_ID=t1 AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z run agq-routine \
	    add triage --every 10m --task "$WORK/t"
	[ "$status" -eq 0 ]
	[[ "$output" == *"agq-routine approve triage"* ]]
	jq -e '.approval == "pending" and .created.by.task == "t1"' \
	    "$AGQ_SPOOL/routines/triage.json"
	# a shell command from an agent needs none
	AGQ_TASK_ID=t1 AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add local --every 10m -- true
	jq -e '.approval == "none"' "$AGQ_SPOOL/routines/local.json"
	fire 2026-12-07T10:10:01Z
	[ -z "$(tasks triage)" ]
	[ "$(tasks local)" = r-local-20261207T101000Z ]
	run agq-routine run-now triage
	[ "$status" -eq 77 ]
	AGQ_TASK_ID=t1 run agq-routine approve triage
	[ "$status" -eq 77 ]
	[[ "$output" == *"approve is a person's"* ]]
	AGQ_ROUTINE_NOW=2026-12-07T10:15:00Z agq-routine approve triage
	jq -e '.approval == "approved"' "$AGQ_SPOOL/routines/triage.json"
	fire 2026-12-07T10:20:01Z
	[ "$(tasks triage)" = r-triage-20261207T102000Z ]
	[ "$(events routine_approve)" -eq 1 ]
}

@test "bad schedules are refused with the field named" {
	run agq-routine add b --cron '0 25 * * *' -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"field hour: 25 is out of range 0-23"* ]]
	run agq-routine add b --cron '* * * * mon-xyz' -- true
	[[ "$output" == *"field day-of-week: 'xyz' is not a number or name"* ]]
	run agq-routine add b --cron '*/0 * * * *' -- true
	[[ "$output" == *"field minute: step"* ]]
	run agq-routine add b --cron '0 0 *' -- true
	[[ "$output" == *"field month: missing"* ]]
	run agq-routine add b --cron '0 0 30 2 *' -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"never comes"* ]]
	run agq-routine add b --cron @reboot -- true
	[ "$status" -eq 65 ]
	run agq-routine add b --cron '0 3 * * *' --tz Mars/Olympus -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"bad --tz 'Mars/Olympus'"* ]]
	run agq-routine add b --every 10m --misfire sometimes -- true
	[ "$status" -eq 65 ]
	run agq-routine add b --every 10m --jitter 600 -- true
	[[ "$output" == *"field jitter_s: 600 is not below every_s"* ]]
	echo '{"cmd": "true", "id": "x"}' > "$WORK/t"
	run agq-routine add b --every 10m --task "$WORK/t"
	[[ "$output" == *"field task.id"* ]]
	run agq-routine add B --every 10m -- true
	[ "$status" -eq 65 ]
	run agq-routine add b --every 10m --cron '* * * * *' -- true
	[ "$status" -eq 64 ]
	[ ! -e "$AGQ_SPOOL/routines/b.json" ]
	# a cron routine fires in its zone: 03:00 Berlin is 02:00Z in winter
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add n \
	    --cron '0 3 * * *' --tz Europe/Berlin -- true
	fire 2026-12-08T02:00:01Z
	[ "$(tasks n)" = r-n-20261208T020000Z ]
}

@test "a running agq-sched fires a routine added or edited without a restart" {
	echo 'rescan = 3600' >> "$AGQ_CONF"      # routines/ is watched
	AGQ_ROUTINE_NOW=2026-12-07T10:10:01Z start_sched
	wait_for 20 grep -q '"ev":"sched_up"' "$AGQ_SPOOL/journal"
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add live --every 10m \
	    -- true
	wait_for 20 test -f "$AGQ_SPOOL/queue/normal/r-live-20261207T101000Z.json"
	# an hourly routine has nothing due at 10:10; edited to every 10
	# minutes, its 10:10 slot is
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine add ed --every 1h \
	    -- true
	AGQ_ROUTINE_NOW=2026-12-07T10:00:00Z agq-routine edit ed --every 10m
	wait_for 20 test -f "$AGQ_SPOOL/queue/normal/r-ed-20261207T101000Z.json"
	[ "$(events routine_fire)" -eq 2 ]
}
