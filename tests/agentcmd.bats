#!/usr/bin/env bats
# Capability tokens (agq-agent token, agq.conf token_caps, agq-run
# --cap-token, agq-sched's check, cap_refused, agq-doctor) and agq-agent
# add/ls/rm with a systemctl stand-in: this machine has no systemd as PID
# 1, so the stand-in records its arguments and starts the unit's
# ExecStart itself, with the unit's EnvironmentFile settings (a
# supplement, not systemd; systemd-analyze verify checks the unit file).

load helper

eval "$(declare -f teardown | sed '1s/teardown/helper_teardown/')"
teardown() {
	# an agq-run the stand-in started (not a child of this shell)
	local f p
	for f in "$BATS_TEST_TMPDIR"/stub/*.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		grep -qa "agq-run" "/proc/$p/cmdline" 2>/dev/null &&
			kill -KILL "$p" 2>/dev/null
	done
	helper_teardown
}

# forge NAME CAPS [TOKEN]: an alive agent file of NAME claiming CAPS (a
# JSON array), with cap_token TOKEN when given, as any process could
# write it.
forge() {
	mkdir -p "$AGQ_SPOOL/agents"
	local tok=${3:+,\"cap_token\":\"$3\"}
	printf '{"name":"%s","host":"h","pid":1,"capabilities":%s,"slots":1,"state":"idle","heartbeat":"%s","heartbeat_s":0.3%s}\n' \
	    "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" "$tok" \
	    > "$AGQ_SPOOL/agents/$1.json.tmp"
	mv "$AGQ_SPOOL/agents/$1.json.tmp" "$AGQ_SPOOL/agents/$1.json"
}

@test "a forged agent file claiming a token capability gets no such task; with a valid token it does; cap_refused once" {
	echo 'token_caps = deploy, prod' >> "$AGQ_CONF"
	id=$(agq-submit -c deploy -- true)
	forge forger '["deploy"]'
	agq-sched --once 2>/dev/null
	agq-sched --once 2>/dev/null
	forge forger '["deploy"]'       # a heartbeat: the file read again
	agq-sched --once 2>/dev/null
	is_state "$id" queue
	[ "$(journal_count cap_refused)" -eq 1 ]
	grep -q '"ev":"cap_refused".*"agent":"forger","capabilities":\["deploy"\],"reason":"no cap_token"' "$AGQ_SPOOL/journal"
	tok=$(agq-agent token forger --cap deploy)
	[[ "$tok" =~ ^[0-9a-f]{64}$ ]]
	[ "$(stat -c %a "$AGQ_SPOOL/.capkey")" = 600 ]
	grep -q '"ev":"cap_token".*"agent":"forger","capabilities":\["deploy"\]' "$AGQ_SPOOL/journal"
	! grep -q "$tok" "$AGQ_SPOOL/journal"
	forge forger '["deploy"]' "$tok"
	agq-sched --once
	[ -f "$AGQ_SPOOL/active/forger/$id.json" ]
	[ "$(journal_count cap_refused)" -eq 1 ]
}

@test "a token for other capabilities or another name does not verify; ls and doctor say so; a readable key is refused" {
	echo 'token_caps = deploy' >> "$AGQ_CONF"
	echo '{}' > "$WORK/lock.json"           # agq-doctor: no CLI to ask
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	id=$(agq-submit -c deploy -- true)
	more=$(agq-agent token a1 --cap deploy --cap gpu)
	other=$(agq-agent token a2 --cap deploy)
	forge a1 '["deploy"]' "$more"
	forge a2 '["deploy"]' "$other"
	mv "$AGQ_SPOOL/agents/a2.json" "$AGQ_SPOOL/agents/a3.json"
	sed -i 's/"name":"a2"/"name":"a3"/' "$AGQ_SPOOL/agents/a3.json"
	agq-sched --once 2>/dev/null
	is_state "$id" queue
	[ "$(journal_count cap_refused)" -eq 2 ]
	grep -q '"cap_refused".*"agent":"a1".*does not verify for agent a1 and capabilities deploy' "$AGQ_SPOOL/journal"
	run agq-agent ls --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "a1") | .token')" = refused ]
	[ "$(echo "$output" | jq -r '.[] | select(.name == "a3") | .token')" = refused ]
	run agq-doctor
	[[ "$output" == *"cap key "*"mode 0600"* ]]
	[[ "$output" == *"warn  cap token a1"*"does not verify"* ]]
	# the right token now: counted
	forge a1 '["deploy","gpu"]' "$more"
	run agq-agent ls
	[[ "$output" == *"a1 "*" ok "*"deploy,gpu"* ]]
	# a key its group may read verifies nothing, and makes no token
	chmod 640 "$AGQ_SPOOL/.capkey"
	run agq-agent token a1 --cap deploy
	[ "$status" -eq 77 ]
	[[ "$output" == "agq-agent: the key may be read by its group or others (mode 0640; chmod 600): refused ($AGQ_SPOOL/.capkey)" ]]
	run agq-doctor
	[[ "$output" == *"fail  cap key"*"mode 0640"* ]]
	agq-sched --once 2>/dev/null
	is_state "$id" queue
}

@test "agq-agent token is refused inside a task; agq-run --cap-token puts the token in its agent file" {
	echo 'token_caps = deploy' >> "$AGQ_CONF"
	id=$(agq-submit --max-attempts 1 -- agq-agent token x --cap deploy)
	agq-run --agent a1 --once 2>/dev/null   # registered
	agq-sched --once
	agq-run --agent a1 --once 2>/dev/null
	is_state "$id" dead
	grep -q "agq-agent: token: refused inside a task (AGQ_TASK_ID is set)" "$AGQ_SPOOL/out/$id/stderr"
	[ ! -e "$AGQ_SPOOL/.capkey" ]
	agq-agent token a1 --cap deploy > "$WORK/tok"
	AGQ_AGENT_CAPS=deploy agq-run --agent a1 --once --cap-token "$WORK/tok" 2>/dev/null
	jq_is "$AGQ_SPOOL/agents/a1.json" .cap_token "$(cat "$WORK/tok")"
	jq_is "$AGQ_SPOOL/agents/a1.json" '.capabilities | join(",")' deploy
	echo nothex > "$WORK/bad"
	run agq-run --agent a1 --once --cap-token "$WORK/bad"
	[ "$status" -eq 65 ]
}

# the stand-in: systemctl [--user] VERB [--now] [UNIT], logged; enable
# --now starts the unit's ExecStart (its program from PATH: the build
# under test) with its EnvironmentFile settings (%i, %E expanded); disable
# --now stops what it started
stub_systemctl() {
	mkdir -p "$BATS_TEST_TMPDIR/stub"
	cat > "$BATS_TEST_TMPDIR/stub/systemctl" <<'SH'
#!/bin/bash
dir=$(dirname "$0")
echo "$*" >> "$dir/log"
[ "$1" = --user ] && shift
verb=$1; shift
now=; [ "$1" = --now ] && { now=1; shift; }
name=${1#agq-run@}; name=${name%.service}
unit=$AGQ_UNIT_DIR/agq-run@.service
case $verb in
enable)
	[ -n "$now" ] || exit 0
	set -a
	while IFS= read -r l; do
		case $l in EnvironmentFile=*)
			f=${l#EnvironmentFile=}; f=${f#-}; f=${f//%i/$name}
			f=${f//%E/$XDG_CONFIG_HOME}
			[ -f "$f" ] && . "$f" ;;
		esac
	done < "$unit"
	set +a
	cmd=$(sed -n 's/^ExecStart=//p' "$unit"); cmd=${cmd//%i/$name}
	${cmd##*/} >>"$dir/$name.log" 2>&1 </dev/null &
	echo $! > "$dir/$name.pid" ;;
disable)
	[ -f "$dir/$name.pid" ] && kill -TERM "$(cat "$dir/$name.pid")" 2>/dev/null
	rm -f "$dir/$name.pid" ;;
esac
exit 0
SH
	chmod +x "$BATS_TEST_TMPDIR/stub/systemctl"
	PATH="$BATS_TEST_TMPDIR/stub:$PATH"
	export XDG_CONFIG_HOME="$BATS_TEST_TMPDIR/cfg"
	export AGQ_UNIT_DIR="$BATS_TEST_TMPDIR/units"
}

@test "agq-agent add installs, starts and verifies an agent; ls lists it; rm drains it, then stops and removes it" {
	echo 'token_caps = deploy' >> "$AGQ_CONF"
	stub_systemctl
	start_sched
	run agq-agent add a1 --cap deploy --timeout 60
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "a1: verification task "*" done: exit 0 on a1"*"agent a1 on "*" ran task "* ]]
	log=$BATS_TEST_TMPDIR/stub/log
	[ "$(cat "$log")" = "--user daemon-reload
--user enable --now agq-run@a1.service" ]
	conf=$XDG_CONFIG_HOME/agq/agents/a1.conf
	grep -qx "AGQ_SPOOL=$AGQ_SPOOL" "$conf"
	grep -qx "AGQ_CONF=$AGQ_CONF" "$conf"
	grep -qx "AGQ_AGENT_CAPS=deploy,agent:a1" "$conf"
	grep -qx "AGQ_CAP_TOKEN=$XDG_CONFIG_HOME/agq/agents/a1.token" "$conf"
	[ "$(stat -c %a "$XDG_CONFIG_HOME/agq/agents/a1.token")" = 600 ]
	grep -qx "ExecStart=$AGQ_TOP/bin/agq-run --agent %i" "$AGQ_UNIT_DIR/agq-run@.service"
	grep -q '"ev":"agent_add".*"agent":"a1".*"unit":"user"' "$AGQ_SPOOL/journal"
	run agq-agent ls --json
	[ "$(echo "$output" | jq -c '.[] | [.name, .unit, .token, .alive, .capabilities]')" = '["a1","user","ok",true,["deploy","agent:a1"]]' ]
	run agq-agent add a1
	[ "$status" -eq 73 ]
	# a deploy task reaches it: its token verifies
	id=$(agq-submit -c deploy -- touch "$WORK/deployed")
	agq-wait --timeout 30 -q "$id"
	# rm drains: a task still running holds it until it ends
	held=$(agq-submit -c agent:a1 -- sh -c "touch '$WORK/started'; until [ -f '$WORK/go' ]; do sleep 0.05; done")
	wait_for 20 test -f "$WORK/started"
	agq-agent rm a1 > "$WORK/rm.out" 2>&1 &
	rm_pid=$!
	wait_for 20 jq_is "$AGQ_SPOOL/agents/a1.json" .state draining
	ours "$rm_pid"
	! grep -q disable "$log"
	touch "$WORK/go"
	wait "$rm_pid"
	is_state "$held" done
	grep -qx "a1: drained, stopped and removed" "$WORK/rm.out"
	grep -qx -- "--user disable --now agq-run@a1.service" "$log"
	[ ! -e "$conf" ] && [ ! -e "$XDG_CONFIG_HOME/agq/agents/a1.token" ]
	[ ! -e "$AGQ_UNIT_DIR/agq-run@.service" ]
	[ ! -e "$AGQ_SPOOL/agents/a1.json" ]
	grep -q '"ev":"agent_rm".*"agent":"a1"' "$AGQ_SPOOL/journal"
	run agq-agent rm a1
	[ "$status" -eq 66 ]
}

@test "the unit agq-agent installs passes systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed (Debian: systemd)"
	stub_systemctl
	run agq-agent add --no-start
	[ "$status" -eq 0 ]
	[[ "$output" == *": installed and enabled, not started ("* ]]
	grep -q -- "--user enable agq-run@.*\.service" "$BATS_TEST_TMPDIR/stub/log"
	! grep -q -- "--now" "$BATS_TEST_TMPDIR/stub/log"
	# an instance of the template, as systemd loads it; its ExecStart's
	# program must exist (the plain build's bin/, compiled in)
	cp "$AGQ_UNIT_DIR/agq-run@.service" "$WORK/agq-run@t.service"
	run systemd-analyze verify --man=no "$WORK/agq-run@t.service"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# without a service manager: refused, and nothing half-installed
	printf '#!/bin/sh\necho "System has not been booted with systemd" >&2\nexit 1\n' \
	    > "$BATS_TEST_TMPDIR/stub/systemctl"
	run agq-agent add a2 --cap gpu
	[ "$status" -eq 69 ]
	[[ "$output" == *"agq-agent: systemctl --user daemon-reload: failed (exit 1)"*"agq-agent: a2: not added (is systemd the service manager here?)" ]]
	[ ! -e "$XDG_CONFIG_HOME/agq/agents/a2.conf" ]
}
