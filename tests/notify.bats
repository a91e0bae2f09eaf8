#!/usr/bin/env bats
# A task's notify hook (agq-task(5), "notify"; agq-submit --notify): run
# once when the task ends (done, dead, cancelled) by the program that
# made the last move, with the task's id, state, exit status, reason and
# title in its environment, detached and bounded; a `notify` event each.

load helper

# The hook: one line per run in $WORK/hooks.
hook() {
	echo "printf '%s|%s|%s|%s|%s\n' \"\$AGQ_TASK_ID\" \"\$AGQ_STATE\" \"\$AGQ_EXIT_STATUS\" \"\$AGQ_REASON\" \"\$AGQ_TITLE\" >> '$WORK/hooks'"
}

# hook_ran ID: a notify event of ID is in the journal.
hook_ran() { grep '"ev":"notify"' "$AGQ_SPOOL/journal" | grep -q "\"id\":\"$1\""; }
hook_lines() { grep -c "^$1|" "$WORK/hooks" || true; }

@test "notify: a done task runs its hook once with its id, state, exit status, reason and title; a notify event" {
	start_agent a1
	start_sched
	agq-submit --id n-done --title 'my job' --notify "$(hook)" -- true
	wait_for 30 hook_ran n-done
	[ "$(hook_lines n-done)" -eq 1 ]
	[ "$(grep '^n-done|' "$WORK/hooks")" = "n-done|done|0|exit 0 on a1|my job" ]
	grep '"ev":"notify"' "$AGQ_SPOOL/journal" | jq -e 'select(.id == "n-done") |
	    .state == "done" and .status == 0 and .timed_out == false'
	# the notify event comes after the done event
	grep -o '"ev":"[a-z]*","id":"n-done"' "$AGQ_SPOOL/journal" | tail -2 |
	    tr '\n' ' ' | grep -q '"ev":"done".*"ev":"notify"'
	agq-show n-done | grep -q '"notify":'
	sleep 1         # no second run
	[ "$(hook_lines n-done)" -eq 1 ]
}

@test "notify: a failing task dead out of attempts runs it once with its exit code; its hook's own failure is journaled and changes nothing" {
	start_agent a1
	start_sched
	agq-submit --id n-dead --max-attempts 2 --backoff 0 \
	    --notify "$(hook); echo hook-output; exit 5" -- sh -c 'exit 3'
	wait_for 60 hook_ran n-dead
	[ "$(hook_lines n-dead)" -eq 1 ]
	grep -q '^n-dead|dead|3|exit 3; out of attempts (2 of 2)|$' "$WORK/hooks"
	grep '"ev":"notify"' "$AGQ_SPOOL/journal" | jq -e 'select(.id == "n-dead") |
	    .state == "dead" and .status == 5'
	grep -qx hook-output "$AGQ_SPOOL/out/n-dead/notify.log"
	is_state n-dead dead
}

@test "notify: a task the scheduler dead-letters when its agent died runs it once (agq-sched)" {
	start_sched
	start_agent a1
	agq-submit --id n-reclaim --max-attempts 1 --notify "$(hook)" -- sleep 20
	wait_for 30 is_state n-reclaim active
	wait_for 30 jq_is "$(find "$AGQ_SPOOL/active" -name n-reclaim.json)" '.attempts | length' 1
	kill -KILL "$AGENT_PID"
	wait_for 60 hook_ran n-reclaim
	is_state n-reclaim dead
	[ "$(hook_lines n-reclaim)" -eq 1 ]
	grep '^n-reclaim|dead|' "$WORK/hooks"
	grep '"ev":"notify"' "$AGQ_SPOOL/journal" | jq -e 'select(.id == "n-reclaim") |
	    .prog == "agq-sched" and .state == "dead"'
}

@test "notify: agq-cancel runs it once with state cancelled, for a queued and a running task" {
	agq-submit --id n-cq --notify "$(hook)" -- true
	agq-cancel -m 'not needed' n-cq
	wait_for 30 hook_ran n-cq
	[ "$(hook_lines n-cq)" -eq 1 ]
	grep '^n-cq|cancelled||' "$WORK/hooks"
	grep '^n-cq|.*not needed' "$WORK/hooks"
	start_agent a1
	start_sched
	agq-submit --id n-ca --notify "$(hook)" -- sleep 30
	wait_for 30 is_state n-ca active
	agq-cancel n-ca
	wait_for 30 hook_ran n-ca
	sleep 1         # the runner that stops it does not run it again
	[ "$(hook_lines n-ca)" -eq 1 ]
	grep '^n-ca|cancelled|' "$WORK/hooks"
}

@test "notify: a hook that hangs is stopped after notify_timeout, and the queue goes on meanwhile" {
	echo "notify_timeout = 1" >> "$AGQ_CONF"
	start_agent a1
	start_sched
	agq-submit --id n-hang --notify 'echo started; exec sleep 300' -- true
	agq-submit --id n-next -- true
	wait_for 30 is_state n-next done
	wait_for 30 hook_ran n-hang
	grep '"ev":"notify"' "$AGQ_SPOOL/journal" | jq -e 'select(.id == "n-hang") |
	    .timed_out == true and .status == 143'
	grep -q 'ran longer than 1 s' "$AGQ_SPOOL/out/n-hang/notify.log"
}

@test "notify: agq-submit refuses an empty --notify; a bad notify field is refused" {
	run agq-submit --notify '' -- true
	[ "$status" -eq 64 ]
	run agq-submit <<< '{"cmd": "true", "notify": 5}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field notify: not a command"* ]]
	echo '{"cmd": "true", "notify": ["notify-send", "agq"]}' | agq-submit
}

@test "notify: the hook's environment has none of the agents' keys: a key variable, a key file's content" {
	echo sk-filekey-98765 > "$WORK/anthropic.key"
	echo "anthropic_key_file = $WORK/anthropic.key" >> "$AGQ_CONF"
	agq-submit --id n-keys --notify "env > '$WORK/hook-env'" -- true
	ANTHROPIC_API_KEY=sk-test COPIED=sk-filekey-98765 PLAIN_VAR=stays \
	    agq-cancel n-keys
	wait_for 30 hook_ran n-keys
	grep -qx PLAIN_VAR=stays "$WORK/hook-env"
	grep -qx AGQ_TASK_ID=n-keys "$WORK/hook-env"
	[ -z "$(grep -e sk-test -e sk-filekey -e ANTHROPIC_API_KEY "$WORK/hook-env")" ]
}

@test "notify: run by root, the hook of a task whose owner has no passwd entry is not run; its notify event says why" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	agq-submit --id n-ghost --notify "touch '$WORK/ran'" -- true
	f=$(find "$AGQ_SPOOL/queue" -name n-ghost.json)
	# its owner rewritten in place (the file keeps its inode, its id claim)
	jq '.submitted_by = {"uid": 54321}' "$f" > "$WORK/t"
	cat "$WORK/t" > "$f"
	agq-cancel n-ghost
	wait_for 30 hook_ran n-ghost
	grep '"ev":"notify"' "$AGQ_SPOOL/journal" | jq -e 'select(.id == "n-ghost") |
	    .status == 126 and (.error | contains("owner uid 54321: no such user"))'
	grep -q 'the notify hook is not run: owner uid 54321' "$AGQ_SPOOL/out/n-ghost/notify.log"
	[ ! -e "$WORK/ran" ]
}
