#!/usr/bin/env bats
# agq-run --via ssh://HOST/PATH and agq-remote(8) (issue 20): an sshd of the
# test's own on 127.0.0.1 (its host key, an authorized_keys whose forced
# command is agq-remote), the agent's tasks run through the connection,
# the connection cut mid-task, and the late result fenced.

load helper

# start_sshd: sshd -D -e on a free port of 127.0.0.1, keys and config in
# $BATS_TEST_TMPDIR/ssh; AGQ_SSH a wrapper giving ssh(1) the test's
# ssh_config; VIA the agent's URL.
start_sshd() {
	[ "$(id -u)" = 0 ] || skip "sshd needs root here (CI is root)"
	[ -x /usr/sbin/sshd ] || skip "no sshd (openssh-server)"
	command -v ssh >/dev/null || skip "no ssh (openssh-client)"
	local d=$BATS_TEST_TMPDIR/ssh
	mkdir -p "$d" /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$d/host" </dev/null
	ssh-keygen -q -t ed25519 -N '' -f "$d/user" </dev/null
	# the forced command: whatever the client asks, agq-remote on this
	# spool, with the test's configuration and sanitizer options (and
	# $REMOTE_ENV: VAR=VALUE words)
	printf 'command="env AGQ_CONF=%s ASAN_OPTIONS=%s %s %s/agq-remote %s",restrict %s\n' \
	    "$AGQ_CONF" "$ASAN_OPTIONS" "${REMOTE_ENV:-}" "$(dirname "$(type -P agq-remote)")" \
	    "$AGQ_SPOOL" "$(cat "$d/user.pub")" > "$d/authorized_keys"
	SSH_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat > "$d/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SSH_PORT
HostKey $d/host
AuthorizedKeysFile $d/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
EOF
	cat > "$d/ssh_config" <<EOF
Host *
	IdentityFile $d/user
	IdentitiesOnly yes
	UserKnownHostsFile /dev/null
	StrictHostKeyChecking no
	LogLevel ERROR
EOF
	printf '#!/bin/sh\nexec ssh -F %s "$@"\n' "$d/ssh_config" > "$d/ssh"
	chmod +x "$d/ssh"
	export AGQ_SSH=$d/ssh
	VIA=ssh://root@127.0.0.1:$SSH_PORT$AGQ_SPOOL
	sshd_up
}

# sshd_up: the listener (again), waited for.
sshd_up() {
	local d=$BATS_TEST_TMPDIR/ssh
	: > "$d/log"
	/usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$d/log" &
	SSHD_PID=$!
	PIDS+=($!)
	wait_for 20 grep -q "Server listening" "$d/log"
}

@test "ssh: a task runs through agq-run --via, its output and result in the spool; one that cannot run says why" {
	start_sshd
	id=$(agq-submit -c x --max-attempts 1 -- sh -c 'echo out; echo err >&2; exit 3')
	nf=$(agq-submit -c x --max-attempts 1 -- nosuchprog-agq)
	# the agent's host load (its own loadavg), not the spool host's
	echo "42.00 1.00 1.00 1/1 1" > "$WORK/loadavg"
	AGQ_LOADAVG_FILE=$WORK/loadavg start_agent r1 -c x --via "$VIA" \
	    --work "$BATS_TEST_TMPDIR/w"
	wait_for 30 jq_is "$AGQ_SPOOL/agents/r1.json" .via ssh
	jq -e '.resources.load1 == 42 and .agent_host == "'"$(hostname)"'"' \
	    "$AGQ_SPOOL/agents/r1.json"
	agq-sched --once
	wait_for 30 is_state "$id" dead
	# a command the agent's host does not have: why, in its reason too
	nf_dead() { agq-sched --once; is_state "$nf" dead; }
	wait_for 30 nf_dead
	jq_is "$AGQ_SPOOL/dead/$nf.json" .reason "exit 127: cannot run: No such file or directory (nosuchprog-agq); out of attempts (1 of 1)"
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = out ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stderr")" = err ]
	jq -e '.exit == 3 and .agent == "r1"' "$AGQ_SPOOL/out/$id/result.json"
	grep -q '"ev":"start".*"prog":"agq-remote"' "$AGQ_SPOOL/journal"
	# its work directory is left empty
	[ -z "$(ls "$BATS_TEST_TMPDIR/w/out")" ]
}

@test "ssh: the connection cut mid-task: reconnected, the lease reclaimed meanwhile, the late result fenced, the task done once" {
	start_sshd
	mkfifo "$WORK/fifo"
	id=$(agq-submit -c x -- sh -c "if [ -e $WORK/once ]; then echo second
	    else touch $WORK/once; echo first; cat $WORK/fifo; fi")
	start_agent r1 -c x --via "$VIA" --work "$BATS_TEST_TMPDIR/w"
	wait_for 30 jq_is "$AGQ_SPOOL/agents/r1.json" .via ssh
	agq-sched --once
	# its output reaches the spool while it runs
	wait_for 30 grep -q first "$AGQ_SPOOL/out/$id/stdout"
	# cut off: the connection's sshd (the listener's child) killed, and
	# no listener to reconnect to
	local kids
	kids=$(cat "/proc/$SSHD_PID/task/$SSHD_PID/children")
	[ -n "$kids" ]
	kill -TERM "$SSHD_PID"
	wait "$SSHD_PID" || :
	kill -KILL $kids
	# its heartbeat ages past the lease: reclaimed, back to the queue
	reclaimed() { agq-sched --once; is_state "$id" queue; }
	wait_for 30 reclaimed
	sshd_up
	registered_again() {
		[ "$(grep -c 'registered on' "$BATS_TEST_TMPDIR/agent-r1.log")" = 2 ]
	}
	wait_for 60 registered_again
	echo go 1<>"$WORK/fifo"         # the first run ends (if not stopped): late
	wait_for 30 grep -q "\"ev\":\"stale\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	# the journal's done follows the move into done/ (agq-spool(5))
	done_again() { agq-sched --once; is_state "$id" done &&
	    grep -q "\"ev\":\"done\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"; }
	wait_for 30 done_again
	[ "$(grep -c "\"ev\":\"done\",\"id\":\"$id\"" "$AGQ_SPOOL/journal")" = 1 ]
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = second ]
	agq-journal --verify
}

@test "ssh: a lease the spool cannot start (its disk failing) is asked for again after 1 s, 2, 4...: not in a loop; started once the disk is back" {
	fault_shim
	flag=$BATS_TEST_TMPDIR/fail-fsync
	REMOTE_ENV="LD_PRELOAD=$shim AGQ_FAIL_FSYNC=$flag AGQ_FAIL_FSYNC_IN=$AGQ_SPOOL/tmp/ ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0"
	start_sshd
	id=$(agq-submit -c x -- echo started)
	touch "$flag"
	start_agent r1 -c x --via "$VIA" --work "$BATS_TEST_TMPDIR/w"
	wait_for 30 jq_is "$AGQ_SPOOL/agents/r1.json" .via ssh
	agq-sched --once
	log=$BATS_TEST_TMPDIR/agent-r1.log
	wait_for 60 grep -q "cannot start $id: .*(asked again in 4 s)" "$log"
	# the cause, as the spool's side saw it
	grep -q "cannot start $id: $id: not started: the spool cannot record the start: Input/output error (asked again in 1 s)" "$log"
	rm "$flag"
	# each failed start waited twice as long as the one before
	[ "$(grep -o "cannot start $id: .*(asked again in [0-9]* s)" "$log" |
	    sed 's/.*again in \([0-9]*\) s)/\1/' | head -3 | tr '\n' ' ')" = "1 2 4 " ]
	done_now() { agq-sched --once; is_state "$id" done; }
	wait_for 60 done_now
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = started ]
}

@test "ssh: --cap-token goes with the registration: a token capability's task runs on the remote agent, verified by agq-sched" {
	start_sshd
	echo 'token_caps = deploy' >> "$AGQ_CONF"
	agq-agent token r1 --cap deploy > "$WORK/r1.token"
	id=$(agq-submit -c deploy -- echo deployed)
	start_agent r1 -c deploy --cap-token "$WORK/r1.token" --via "$VIA" \
	    --work "$BATS_TEST_TMPDIR/w"
	wait_for 30 jq_is "$AGQ_SPOOL/agents/r1.json" .via ssh
	jq_is "$AGQ_SPOOL/agents/r1.json" .cap_token "$(cat "$WORK/r1.token")"
	ran() { agq-sched --once; is_state "$id" done; }
	wait_for 30 ran
	[ "$(cat "$AGQ_SPOOL/out/$id/stdout")" = deployed ]
	[ "$(journal_count cap_refused)" -eq 0 ]
}

@test "agq-remote: bad lines are answered, never fatal; ops before hello and register refused" {
	out=$(printf '%s\n' 'not json' '[1]' '{"id":1,"op":"nope"}' \
	    '{"id":2,"op":"next","wait":1,"running":[]}' \
	    '{"id":3,"op":"hello","version":9}' \
	    '{"id":4,"op":"hello","version":1}' \
	    '{"id":5,"op":"start","task_id":"x"}' \
	    '{"id":6,"op":"register","agent":"a b","caps":[],"slots":1,"host":"h"}' \
	    '{"id":7,"op":"register","agent":"r9","caps":[],"slots":1,"host":"h"}' \
	    '{"id":8,"op":"output","task_id":"nope","generation":1,"name":"../x","offset":0,"data":""}' \
	    '{"id":9,"op":"output","task_id":"nope","generation":1,"name":"stdout","offset":0,"data":"!!"}' \
	    '{"id":10,"op":"result","task_id":"nope","generation":1,"timed_out":false,"exit":0}' \
	    '{"id":11,"op":"bye"}' | agq-remote "$AGQ_SPOOL")
	codes=$(jq -r '.error.code // "ok"' <<<"$out" | tr '\n' ' ')
	[ "$codes" = "parse invalid unknown_op order version ok order invalid ok invalid invalid stale ok " ]
	jq -se 'map(select(.id == 9))[0].error.message | test("base64")' <<<"$out"
	jq -e '.state == "down" and .agent_host == "h"' "$AGQ_SPOOL/agents/r9.json"
	# --agent pins the key to one name
	out=$(printf '%s\n' '{"id":1,"op":"hello","version":1}' \
	    '{"id":2,"op":"register","agent":"r8","caps":[],"slots":1,"host":"h"}' |
	    agq-remote -a r9 "$AGQ_SPOOL")
	[ "$(jq -sr '.[1].error.code' <<<"$out")" = denied ]
	[ ! -e "$AGQ_SPOOL/agents/r8.json" ]
	run agq-remote --help
	[ "$status" -eq 0 ]
}
