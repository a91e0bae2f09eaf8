#!/usr/bin/env bats
# Spool security: the permission model, the inbox as a drop box, secrets
# kept out of the journal and listings, output and cwd confinement, and
# race-free idempotent submits.

load helper
bats_require_minimum_version 1.5.0

# finished ID: the task is in done/ or dead/.
finished() {
	local s
	s=$(state_of "$1")
	[ "$s" = done ] || [ "$s" = dead ]
}

# run_to_end ID: run the scheduler and one agent until ID is finished.
run_to_end() {
	start_sched
	start_agent a1
	wait_for 30 finished "$1"
}

@test "directories are created with the modes of the permission model, whatever the umask" {
	for m in 000 077; do
		s="$BATS_TEST_TMPDIR/spool-$m"
		(umask $m && agq-submit -s "$s" --id t true)
		[ "$(stat -c %a "$s")" = 711 ]
		[ "$(stat -c %a "$s/inbox")" = 1730 ]
		for d in tmp queue queue/normal defer hold active done dead corrupt agents out ids; do
			[ "$(stat -c %a "$s/$d")" = 700 ] || { echo "$m $d"; false; }
		done
		[ "$(stat -c %a "$s/journal")" = 600 ]
		[ "$(stat -c %a "$s/.submit.lock")" = 600 ]
		run agq-fsck -s "$s"
		[ "$status" -eq 0 ]
	done
}

@test "inbox/ is a drop box: a group member can drop but not list, read or remove" {
	s=$(mktemp -d /tmp/agq-dropbox.XXXXXX)
	chmod 755 "$s"
	export AGQ_SPOOL=$s/spool
	agq-submit --id secret-task -e API_TOKEN=t0p true
	chgrp nogroup "$AGQ_SPOOL/inbox"
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	# drop: write under a dot name, rename into place
	as_nobody sh -c "printf '%s\n' '{\"id\":\"dropped\",\"cmd\":[\"true\"]}' > '$AGQ_SPOOL/inbox/.d' && mv '$AGQ_SPOOL/inbox/.d' '$AGQ_SPOOL/inbox/d'"
	[ -f "$AGQ_SPOOL/inbox/d" ]
	run as_nobody ls "$AGQ_SPOOL/inbox"
	[ "$status" -ne 0 ]
	run as_nobody cat "$AGQ_SPOOL/queue/normal/secret-task.json"
	[ "$status" -ne 0 ]
	run as_nobody ls "$AGQ_SPOOL"
	[ "$status" -ne 0 ]
	run as_nobody cat "$AGQ_SPOOL/journal"
	[ "$status" -ne 0 ]
	# a second dropper cannot remove the first one's drop (sticky bit);
	# root drops a file, nobody tries to remove it
	echo '{"cmd":["true"]}' > "$AGQ_SPOOL/inbox/.r" && mv "$AGQ_SPOOL/inbox/.r" "$AGQ_SPOOL/inbox/r"
	run as_nobody rm -f "$AGQ_SPOOL/inbox/r"
	[ -f "$AGQ_SPOOL/inbox/r" ]
	# the owner (here root) accepts the drop
	agq-sched --once
	[ "$(state_of dropped)" = queue ]
	rm -rf "$s"
}

@test "secrets are redacted in agq-show, agq-ls and the journal, never in what the task gets" {
	id=$(agq-submit --max-attempts 1 -e API_TOKEN=tok123 -e DB_PASSWORD=pw456 \
	    -e PLAIN=visible -- sh -c 'echo "$API_TOKEN $DB_PASSWORD $PLAIN $1"' sh \
	    'Authorization: Bearer abc789')
	run agq-show "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"API_TOKEN": "[redacted]"'* ]]
	[[ "$output" == *'"DB_PASSWORD": "[redacted]"'* ]]
	[[ "$output" == *'"PLAIN": "visible"'* ]]
	[[ "$output" == *'Bearer [redacted]'* ]]
	[[ "$output" != *tok123* && "$output" != *pw456* && "$output" != *abc789* ]]
	run agq-show --json "$id"
	[[ "$output" == *'"API_TOKEN":"[redacted]"'* && "$output" != *tok123* && "$output" != *abc789* ]]
	run agq-ls
	[[ "$output" != *abc789* ]]
	run_to_end "$id"
	[ "$(state_of "$id")" = done ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = "tok123 pw456 visible Authorization: Bearer abc789" ]
	! grep -q 'tok123\|pw456\|abc789' "$AGQ_SPOOL/journal"
	run agq-show "$id"
	[[ "$output" != *tok123* && "$output" != *abc789* ]]
}

@test "out/ID is never written through a symbolic link" {
	mkdir "$WORK/elsewhere"
	id=$(agq-submit --max-attempts 1 --id sym -- sh -c 'echo ran')
	ln -s "$WORK/elsewhere" "$AGQ_SPOOL/out/sym"
	start_sched
	start_agent a1
	wait_for 30 is_state sym dead
	grep -q "\"reason\": \"cannot open output directory $AGQ_SPOOL/out/sym: Not a directory\"" \
	    "$AGQ_SPOOL/dead/sym.json"
	[ "$(journal_count start)" -eq 0 ]
	[ -z "$(ls -A "$WORK/elsewhere")" ]
	[ -L "$AGQ_SPOOL/out/sym" ]
}

@test "an agent task that swaps out/ID for a symbolic link cannot make agq-run write through it" {
	mkdir "$WORK/elsewhere"
	# the command replaces its out/ID with a link; agent.json is written
	# after it (before and after the verify step)
	agq-submit <<JSON
{"id": "swap", "max_attempts": 1,
 "cmd": "mv \"\$AGQ_OUT\" \"\$AGQ_OUT.moved\" && ln -s '$WORK/elsewhere' \"\$AGQ_OUT\"",
 "verify": [{"type": "command_succeeds", "cmd": "true"}]}
JSON
	run_to_end swap
	[ -L "$AGQ_SPOOL/out/swap" ]
	[ -z "$(ls -A "$WORK/elsewhere")" ]
	# everything went to the directory the attempt opened at its start
	jq -e '.status == "done" and (.iterations | length) == 1' \
	    "$AGQ_SPOOL/out/swap.moved/agent.json"
}

@test "cwd_root: a task's cwd may not resolve outside it, not even through a symlink" {
	mkdir -p "$WORK/root/sub" "$WORK/outside"
	ln -s "$WORK/outside" "$WORK/root/link"
	echo "cwd_root = $WORK/root" >> "$AGQ_CONF"
	ok=$(agq-submit --max-attempts 1 -C "$WORK/root/sub" -- pwd)
	out=$(agq-submit --max-attempts 1 -C "$WORK/outside" -- pwd)
	lnk=$(agq-submit --max-attempts 1 -C "$WORK/root/link" -- pwd)
	# a drop without cwd runs in out/ID, which is allowed
	dflt=dropped
	printf '{"id":"dropped","cmd":["pwd"],"max_attempts":1}' > "$AGQ_SPOOL/inbox/.d"
	mv "$AGQ_SPOOL/inbox/.d" "$AGQ_SPOOL/inbox/d"
	start_sched
	start_agent a1
	for i in "$ok" "$out" "$lnk" "$dflt"; do
		wait_for 30 finished "$i"
	done
	[ "$(state_of "$ok")" = done ]
	[ "$(cat "$AGQ_SPOOL/out/$ok/stdout")" = "$WORK/root/sub" ]
	[ "$(state_of "$out")" = dead ]
	grep -q "cwd $WORK/outside escapes cwd_root $WORK/root" "$AGQ_SPOOL/out/$out/stderr"
	[ "$(state_of "$lnk")" = dead ]
	grep -q "cwd $WORK/outside escapes cwd_root" "$AGQ_SPOOL/out/$lnk/stderr"
	[ "$(state_of "$dflt")" = done ]
}

@test "cwd_root must be an absolute path" {
	echo "cwd_root = srv" >> "$AGQ_CONF"
	run agq-submit true
	[ "$status" -eq 78 ]
	[[ "$output" == *"cwd_root: not an absolute path: 'srv'"* ]]
}

@test "eight concurrent submits of one id enqueue it once" {
	for i in 1 2 3 4 5 6 7 8; do
		agq-submit --id same -- true > "$WORK/out.$i" 2> "$WORK/err.$i" &
	done
	wait
	[ "$(count_in queue)" -eq 1 ]
	[ "$(journal_count submit)" -eq 1 ]
	[ "$(cat "$WORK"/out.* | grep -cx same)" -eq 8 ]
	[ "$(cat "$WORK"/err.* | grep -c 'already submitted')" -eq 7 ]
}

@test "submits of an id race-free against the task moving between states" {
	agq-submit --id mover -- true
	( for i in $(seq 25); do agq-hold mover >/dev/null 2>&1; agq-release mover >/dev/null 2>&1; done ) &
	mv_pid=$!
	for i in $(seq 25); do agq-submit -q --id mover -- true 2>/dev/null; done
	wait "$mv_pid"
	n=$(find "$AGQ_SPOOL" -name mover.json -not -path '*/corrupt/*' | wc -l)
	[ "$n" -eq 1 ]
	[ "$(journal_count submit)" -eq 1 ]
	[ "$(stat -c %h "$AGQ_SPOOL/ids/mover")" -eq 2 ]
}

@test "a spool from before id claims: agq-sched claims every task at start; concurrent submits of existing ids enqueue nothing new" {
	for i in $(seq 20); do agq-submit -q --id "o$i" -- sleep 0.2; done
	# what a spool written before id claims looks like: no claims, no mark
	rm -f "$AGQ_SPOOL"/ids/* "$AGQ_SPOOL/ids/.index-v1"
	run --separate-stderr agq-submit --id new1 -- true
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"ids: no .index-v1: the id index may predate id claims"*"agq-fsck --rebuild-index"* ]]
	start_sched
	wait_for 30 test -e "$AGQ_SPOOL/ids/.index-v1"
	grep -q "id index rebuilt: 20 task(s) without a claim claimed" "$BATS_TEST_TMPDIR/sched.log"
	for i in $(seq 20); do [ "$(stat -c %h "$AGQ_SPOOL/ids/o$i")" -eq 2 ]; done
	# now submit every id again, four at a time, while an agent runs them
	start_agent a1 --slots 4
	subs=()
	for k in 1 2 3 4; do
		( for i in $(seq 20); do agq-submit -q --id "o$i" -- true; done ) \
		    2> "$WORK/err.$k" &
		subs+=($!)
	done
	wait "${subs[@]}"
	wait_for 60 sh -c "[ \$(ls '$AGQ_SPOOL/done' | grep -c '^o') -eq 20 ]"
	[ "$(journal_count submit)" -eq 21 ]
	for i in $(seq 20); do
		[ "$(find "$AGQ_SPOOL" -name "o$i.json" -not -path '*/corrupt/*' | wc -l)" -eq 1 ]
	done
	[ "$(cat "$WORK"/err.* | grep -c 'already submitted')" -eq 80 ]
	! grep -q 'no .index-v1' "$WORK"/err.*
}

@test "the id claim follows the task; an id whose task was removed by hand is free again" {
	agq-submit --id c1 -- true
	agq-hold c1
	run agq-submit --id c1 -- true
	[[ "$output" == *"already submitted (in hold/)"* ]]
	[ "$(stat -c %i "$AGQ_SPOOL/ids/c1")" = "$(stat -c %i "$AGQ_SPOOL/hold/c1.json")" ]
	rm "$AGQ_SPOOL/hold/c1.json"
	run agq-submit --id c1 -- true
	[ "$status" -eq 0 ]
	[ "$(state_of c1)" = queue ]
	[ "$(journal_count submit)" -eq 2 ]
}

# drop_as USER NAME JSON: drop JSON into inbox/NAME as a file owned by USER
# (written under a dot name, chowned, renamed into place), a minute old:
# a refused drop is quarantined at once, not looked at again once settled.
drop_as() {
	printf '%s\n' "$3" > "$AGQ_SPOOL/inbox/.$2"
	chown "$1" "$AGQ_SPOOL/inbox/.$2"
	touch -d '-1 min' "$AGQ_SPOOL/inbox/.$2"
	mv "$AGQ_SPOOL/inbox/.$2" "$AGQ_SPOOL/inbox/$2"
}

@test "a root agent runs a drop as the user who owns the file, with its HOME and without the agent's environment; not another user's agent task, and says why" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	home=$(getent passwd nobody | cut -d: -f6)
	mine=$(agq-submit --max-attempts 1 -- sh -c 'echo "uid=$(id -u) home=$HOME"')
	# the drop says it is root's: agq records the file's owner instead
	drop_as nobody d '{"id":"nob","max_attempts":1,"submitted_by":{"uid":0,"user":"root"},
	  "env":{"MINE":"kept"},
	  "cmd":["sh","-c","echo uid=$(id -u) home=$HOME user=$USER logname=$LOGNAME key=${ANTHROPIC_API_KEY-none} agentvar=${AGENT_VAR-none} mine=$MINE; touch made-here"]}'
	# an agent task of that user: not run by a root agent, the reason says why
	drop_as nobody p '{"id":"nobp","max_attempts":1,"cmd":"true","verify":[{"type":"command_succeeds","cmd":"true"}]}'
	start_sched
	ANTHROPIC_API_KEY=sk-test AGENT_VAR=leaked start_agent a1
	wait_for 30 finished nob
	wait_for 30 finished nobp
	wait_for 30 finished "$mine"
	jq_is "$AGQ_SPOOL/dead/nobp.json" .reason "exit 126: a root agent runs no agent task (prompt, backend, verify, git) of another user (nobody, uid $(id -u nobody)): run an agent as that user; out of attempts (1 of 1)"
	[ "$(state_of nob)" = done ]
	[ "$(cat "$AGQ_SPOOL/out/nob/stdout")" = "uid=$(id -u nobody) home=$home user=nobody logname=nobody key=none agentvar=none mine=kept" ]
	jq -e --argjson u "$(id -u nobody)" '.submitted_by == {"uid": $u, "user": "nobody"}' "$AGQ_SPOOL/done/nob.json"
	# its output directory is its own; what it made there too
	[ "$(stat -c %U "$AGQ_SPOOL/out/nob")" = nobody ]
	[ "$(stat -c %U "$AGQ_SPOOL/out/nob/made-here")" = nobody ]
	# root's own task stays root's
	[ "$(cat "$AGQ_SPOOL/out/$mine/stdout")" = "uid=0 home=$HOME" ]
	jq -e '.submitted_by.uid == 0' "$AGQ_SPOOL/done/$mine.json"
}

@test "a root agent runs a dropped task's notify hook as its owner, with its HOME and without the agent's keys" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	home=$(getent passwd nobody | cut -d: -f6)
	d=$(mktemp -d /tmp/agq-hook.XXXXXX)
	chown nobody "$d"
	agq-submit -q --id first -- true
	drop_as nobody h "{\"id\":\"nob-hook\",\"max_attempts\":1,\"cmd\":[\"true\"],
	  \"notify\":\"id -u > $d/uid; env > $d/env\"}"
	start_sched
	ANTHROPIC_API_KEY=sk-test AGENT_VAR=leaked start_agent a1
	wait_for 30 grep -q '"ev":"notify","id":"nob-hook"' "$AGQ_SPOOL/journal"
	[ "$(state_of nob-hook)" = done ]
	[ "$(cat "$d/uid")" = "$(id -u nobody)" ]
	[ "$(agq-journal --id nob-hook --ev notify | jq .uid)" = "$(id -u nobody)" ]
	grep -qx "HOME=$home" "$d/env"
	grep -qx USER=nobody "$d/env"
	grep -qx AGQ_TASK_ID=nob-hook "$d/env"
	[ -z "$(grep -e sk-test -e ANTHROPIC_API_KEY -e AGENT_VAR "$d/env")" ]
	rm -rf "$d"
}

@test "a drop by a uid without a user is quarantined with the reason" {
	agq-submit -q --id first -- true
	drop_as 54321 ghost '{"id":"ghost","cmd":["true"]}'
	agq-sched --once
	[ "$(state_of ghost)" = none ]
	grep -q 'dropped by uid 54321: no such user' "$AGQ_SPOOL/corrupt/ghost.why"
}

@test "inbox_trust: on a spool not owned by root, drops by other uids are quarantined unless the setting lets them in" {
	command -v setpriv >/dev/null || skip "no setpriv"
	s=$(mktemp -d /tmp/agq-trust.XXXXXX)
	chmod 755 "$s"
	export AGQ_SPOOL=$s/spool AGQ_CONF=$s/agq.conf
	cp "$BATS_TEST_TMPDIR/agq.conf" "$AGQ_CONF"
	chmod 644 "$AGQ_CONF"
	as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	mkdir "$AGQ_SPOOL"
	chown nobody "$AGQ_SPOOL"
	as_nobody agq-submit -q --id first -- true
	[ "$(stat -c %U "$AGQ_SPOOL")" = nobody ]
	# default (owner): daemon's drop is quarantined, the owner's accepted
	drop_as daemon x '{"id":"by-daemon","cmd":["true"]}'
	drop_as nobody y '{"id":"by-owner","cmd":["true"]}'
	as_nobody agq-sched --once
	[ "$(state_of by-daemon)" = none ]
	grep -q "dropped by uid $(id -u daemon) (daemon), which may not drop here (inbox_trust = owner)" \
	    "$AGQ_SPOOL/corrupt/x.why"
	[ "$(state_of by-owner)" = queue ]
	# group: a member of inbox/'s group may drop
	echo "inbox_trust = group" >> "$AGQ_CONF"
	drop_as daemon g1 '{"id":"g1","cmd":["true"]}'
	as_nobody agq-sched --once
	grep -q "inbox_trust = group" "$AGQ_SPOOL/corrupt/g1.why"
	chgrp daemon "$AGQ_SPOOL/inbox"
	drop_as daemon g2 '{"id":"g2","cmd":["true"]}'
	as_nobody agq-sched --once
	[ "$(state_of g2)" = queue ]
	# any: today's behaviour; the agent (the owner, not root) runs it
	echo "inbox_trust = any" >> "$AGQ_CONF"
	drop_as daemon z '{"id":"any","cmd":["id","-u"]}'
	# setpriv itself in the background (not the function): its pid is
	# the program's, for teardown to stop
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    agq-sched 2>>"$BATS_TEST_TMPDIR/sched.log" &
	PIDS+=($!)
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    agq-run --agent a1 2>>"$BATS_TEST_TMPDIR/agent.log" &
	PIDS+=($!)
	wait_for 30 is_state any done
	[ "$(cat "$AGQ_SPOOL/out/any/stdout")" = "$(id -u nobody)" ]
	jq -e --argjson u "$(id -u daemon)" '.submitted_by.uid == $u' "$AGQ_SPOOL/done/any.json"
	teardown
	PIDS=()
	rm -rf "$s"
}

@test "the agent's API keys and key files' contents are in no cmd task's or verify step's environment" {
	echo sk-filekey-98765 > "$WORK/anthropic.key"
	echo ghp-token-13579 > "$WORK/git.token"
	cat >> "$AGQ_CONF" <<CONF
anthropic_key_file = $WORK/anthropic.key
git_token_file = $WORK/git.token
CONF
	agq-submit --id plain --max-attempts 1 -e OPENAI_API_KEY=the-tasks-own -- env
	agq-submit <<'JSON'
{"id": "verified", "max_attempts": 1, "cmd": "env > \"$AGQ_OUT/cmd-env\"",
 "verify": [{"type": "command_succeeds", "cmd": "env > \"$AGQ_OUT/verify-env\""}]}
JSON
	start_sched
	ANTHROPIC_API_KEY=sk-test-env GEMINI_API_KEY=gm-key-24680 \
	    COPIED=sk-filekey-98765 TOKEN_TOO=x-ghp-token-13579 PLAIN_VAR=stays \
	    start_agent a1
	wait_for 30 finished plain
	wait_for 30 finished verified
	[ "$(state_of plain)" = done ]
	[ "$(state_of verified)" = done ]
	for f in "$AGQ_SPOOL/out/plain/stdout" "$AGQ_SPOOL/out/verified/cmd-env" \
	    "$AGQ_SPOOL/out/verified/verify-env"; do
		[ -z "$(grep -e sk-test-env -e gm-key -e sk-filekey -e ghp-token -e ANTHROPIC_API_KEY "$f")" ]
		grep -q '^PLAIN_VAR=stays$' "$f"
	done
	# the task's own env is the task's
	grep -q '^OPENAI_API_KEY=the-tasks-own$' "$AGQ_SPOOL/out/plain/stdout"
}
