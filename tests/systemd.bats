#!/usr/bin/env bats
# agq-agent add/ls/rm and the units make install ships, under a real
# systemd as PID 1 (tests/agentcmd.bats has a systemctl stand-in, and
# tests/install.bats systemd-analyze verify: supplements).  A Debian
# bookworm root (tests/sysroot: made once by debootstrap, cached under
# /var/cache/agq-test) boots with systemd-nspawn --boot, its changes in
# memory (--volatile=overlay), the tree's make install PREFIX=/usr/local
# (tests/sysroot --stage) laid over its /usr/local; commands run in it
# with nsenter(1).  Root only; skips, saying why, without
# systemd-nspawn (Debian package systemd-container) or nsenter, or when
# the root cannot be made (no debootstrap, no mirror).  .ci/run makes
# the root and the stage before make check.

load helper

setup_file() {
	[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn, nsenter)"
	command -v systemd-nspawn >/dev/null ||
	    skip "no systemd-nspawn (apt-get install systemd-container)"
	command -v nsenter >/dev/null || skip "no nsenter (util-linux)"
	local root stage
	root=$("$AGQ_TOP/tests/sysroot" 2>"$BATS_FILE_TMPDIR/sysroot.log") ||
	    skip "no container root: $(tail -1 "$BATS_FILE_TMPDIR/sysroot.log")"
	stage=$("$AGQ_TOP/tests/sysroot" --stage)
	mkdir -p "$BATS_FILE_TMPDIR/upper"
	# --register=no --keep-unit: no systemd on the host to register
	# with; the host name is the root's /etc/hostname, agqtest
	systemd-nspawn -q -D "$root" --boot --volatile=overlay \
	    --machine="agqtest-$$" --register=no --keep-unit \
	    --console=passive \
	    --overlay="$stage/usr/local:$BATS_FILE_TMPDIR/upper:/usr/local" \
	    >"$BATS_FILE_TMPDIR/nspawn.log" 2>&1 &
	export NSPAWN_PID=$!
	# its child systemd (not a helper it forks while setting up)
	wait_for 30 pgrep -P "$NSPAWN_PID" -x systemd
	INIT_PID=$(pgrep -P "$NSPAWN_PID" -x systemd)
	export INIT_PID
	wait_for 30 in_ct test -S /run/systemd/private
	# running, or degraded: a unit of Debian's failed, none of agq's yet
	run in_ct timeout 60 systemctl is-system-running --wait
	[[ "$output" = running || "$output" = degraded ]] ||
	    { echo "$output"; cat "$BATS_FILE_TMPDIR/nspawn.log"; false; }
}

teardown_file() {
	[ -n "${NSPAWN_PID:-}" ] || return 0
	# SIGTERM: nspawn has the container's systemd power off
	kill -TERM "$NSPAWN_PID" 2>/dev/null
	for _ in {1..100}; do kill -0 "$NSPAWN_PID" 2>/dev/null || break; nap 0.1; done
	kill -KILL "$NSPAWN_PID" 2>/dev/null || true
	wait 2>/dev/null || true
}

setup() { :; }
teardown() { :; }

# in_ct CMD...: CMD in the container as root, with a clean environment.
in_ct() {
	nsenter -t "$INIT_PID" -a -- env -i HOME=/root \
	    PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# as_user CMD...: CMD in the container as the user agq (uid 1000, its
# manager started at boot by linger), as runuser(1) leaves it: no
# XDG_RUNTIME_DIR, no session bus address.
as_user() {
	in_ct runuser -u agq -- env AGQ_SPOOL=/home/agq/spool "$@"
}

# unit_is NAME PROPERTY VALUE: systemctl show's PROPERTY of system unit NAME.
unit_is() { [ "$(in_ct systemctl show -p "$2" --value "$1")" = "$3" ]; }

@test "the installed system units: agq-sched starts, agq-alert.timer is enabled and its service passes" {
	in_ct systemctl start agq-sched
	unit_is agq-sched ActiveState active
	unit_is agq-sched FragmentPath /usr/local/lib/systemd/system/agq-sched.service
	in_ct systemctl enable --now agq-alert.timer
	[ "$(in_ct systemctl is-enabled agq-alert.timer)" = enabled ]
	unit_is agq-alert.timer ActiveState active
	in_ct systemctl start agq-alert.service
	unit_is agq-alert.service Result success
	# the scheduler's spool is the installed default, writable through
	# ProtectSystem=full by its ReadWritePaths=
	wait_for 10 in_ct test -f /usr/local/var/spool/agq/.sched.lock -o \
	    -d /usr/local/var/spool/agq/queue
	run in_ct agq status --json
	[[ "$output" == *'"spool":"/usr/local/var/spool/agq"'* ]]
}

@test "agq-agent add --system: unit started, verification printed; ls; a killed agent restarted; rm drains its task, disables the unit" {
	in_ct systemctl start agq-sched
	in_ct sh -c 'echo "token_caps = deploy" >> /usr/local/etc/agq/agq.conf'
	run in_ct agq-agent add --system sys1 --cap deploy --timeout 60
	echo "$output"
	[ "$status" -eq 0 ]
	grep -Eqx 'sys1: verification task [0-9a-f.-]+ done: exit 0 on sys1' <<<"$output"
	grep -Eqx 'agent sys1 on agqtest ran task [0-9a-f.-]+' <<<"$output"
	unit_is agq-run@sys1 ActiveState active
	unit_is agq-run@sys1 UnitFileState enabled
	unit_is agq-run@sys1 Restart on-failure
	in_ct test -f /usr/local/etc/agq/agents/sys1.conf
	run in_ct agq-agent ls
	[[ "$output" =~ sys1\ +idle\ +system\ +ok\ +deploy,agent:sys1 ]]
	run in_ct agq-agent ls --json
	[[ "$output" == *'"name":"sys1","unit":"system","state":"idle","alive":true'* ]]
	# a crash: systemd starts it again (Restart=on-failure, RestartSec=5s)
	pid=$(in_ct systemctl show -p MainPID --value agq-run@sys1)
	in_ct kill -KILL "$pid"
	wait_for 30 unit_is agq-run@sys1 NRestarts 1
	wait_for 10 unit_is agq-run@sys1 ActiveState active
	# rm drains: the running task ends done, then the unit goes
	id=$(in_ct agq-submit -c agent:sys1 -- sleep 2)
	wait_for 20 in_ct test -f "/usr/local/var/spool/agq/active/sys1/$id.json"
	run in_ct agq-agent rm sys1
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"sys1: draining: waiting for its 1 task"* ]]
	[[ "$output" == *"sys1: drained, stopped and removed"* ]]
	[[ "$(in_ct agq-show "$id")" == *"exit 0 on sys1"* ]]
	unit_is agq-run@sys1 ActiveState inactive
	unit_is agq-run@sys1 UnitFileState disabled
	! in_ct test -e /usr/local/etc/agq/agents/sys1.conf
	! in_ct test -e /etc/systemd/system/multi-user.target.wants/agq-run@sys1.service
	[ "$(in_ct agq-agent ls --json)" = '[]' ]
	in_ct grep -q '"ev":"agent_rm".*"agent":"sys1","unit":"system"' \
	    /usr/local/var/spool/agq/journal
}

@test "agq-agent add as a user (its lingering manager, reached without XDG_RUNTIME_DIR): a generated name, ls, rm" {
	as_user sh -c 'mkdir -p ~/.config/agq &&
	    echo "AGQ_SPOOL=$HOME/spool" > ~/.config/agq/environment &&
	    agq status >/dev/null'
	as_user env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user start agq-sched
	as_user env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user enable --now agq-alert.timer
	run as_user agq-agent add --timeout 60
	echo "$output"
	[ "$status" -eq 0 ]
	# HOST-XXXX: the container's host name, agqtest (tests/sysroot)
	name=$(grep -Eo '^agqtest-[0-9a-f]{4}: verification task [0-9a-f.-]+ done' <<<"$output")
	name=${name%%:*}
	u() { as_user env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user "$@"; }
	[ "$(u is-active "agq-run@$name")" = active ]
	[ "$(u is-active agq-sched agq-alert.timer)" = $'active\nactive' ]
	[ "$(u show -p FragmentPath --value agq-sched)" = /usr/local/lib/systemd/user/agq-sched.service ]
	[ "$(u show -p ControlGroup --value "agq-run@$name")" = \
	    "/user.slice/user-1000.slice/user@1000.service/app.slice/app-agq\\x2drun.slice/agq-run@$name.service" ]
	in_ct test -f "/home/agq/.config/agq/agents/$name.conf"
	run as_user agq-agent ls
	[[ "$output" =~ $name\ +idle\ +user\ +none ]]
	run as_user agq-agent rm "$name"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$name: drained, stopped and removed"* ]]
	[[ "$output" != *draining* ]]
	[ "$(u is-enabled "agq-run@$name")" = not-found ] ||
	    [ "$(u is-enabled "agq-run@$name")" = disabled ]
	! in_ct test -e "/home/agq/.config/systemd/user/agq-run@.service"
	# no manager to reach: said, nothing half-installed
	in_ct rm /var/lib/systemd/linger/agq
	in_ct loginctl disable-linger agq
	wait_for 20 bash -c "! nsenter -t $INIT_PID -a test -d /run/user/1000"
	run as_user agq-agent add u2
	[ "$status" -eq 69 ]
	[[ "$output" == *"u2: not added: no user service manager to reach: XDG_RUNTIME_DIR is not set and /run/user/1000 is not this user's"* ]]
	! in_ct test -e /home/agq/.config/agq/agents/u2.conf
}
