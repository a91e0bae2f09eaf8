#!/usr/bin/env bats
# make install: programs, helpers, man pages, configuration, the
# installed default spool; systemd units, shell completion and git hook
# samples.

load helper

@test "make install PREFIX=DIR installs a working agq whose default spool is DIR/var/spool/agq" {
	prefix="$BATS_TEST_TMPDIR/prefix"
	# the lock: tests/systemd.bats (tests/sysroot --stage) uses build/install too
	mkdir -p "$AGQ_TOP/build"
	run flock "$AGQ_TOP/build/.install.lock" make -C "$AGQ_TOP" -s install PREFIX="$prefix"
	[ "$status" -eq 0 ]
	for p in agq agq-submit agq-sched agq-run agq-ls agq-show agq-status \
	    agq-cancel agq-hold agq-release agq-retry agq-wait agq-journal \
	    agq-agent agq-routine agq-remote agq-pause agq-resume; do
		[ -x "$prefix/bin/$p" ]
		ls "$prefix"/share/man/man[18]/"$p".[18] >/dev/null
	done
	[ -x "$prefix/libexec/agq/agq-demo" ]
	[ -f "$prefix/share/man/man5/agq-spool.5" ]
	[ -f "$prefix/share/man/man7/agq.7" ]
	[ -f "$prefix/etc/agq/agq.conf" ]
	unset AGQ_SPOOL AGQ_CONF
	run "$prefix/bin/agq" status --json
	[ "$status" -eq 0 ]
	[[ "$output" == *"\"spool\":\"$prefix/var/spool/agq\""* ]]
	# the front end finds the helpers in libexec
	run "$prefix/bin/agq" demo --help
	[ "$status" -eq 0 ]
	[[ "$output" == *usage:* ]]
	id=$("$prefix/bin/agq" submit -- true)
	[ -f "$prefix/var/spool/agq/queue/normal/$id.json" ]
	# -s and AGQ_SPOOL still override the installed default
	AGQ_SPOOL="$BATS_TEST_TMPDIR/other" run "$prefix/bin/agq" status --json
	[[ "$output" == *"\"spool\":\"$BATS_TEST_TMPDIR/other\""* ]]
	installed_ops "$prefix"
}

# installed_ops PREFIX: the systemd units, completion and hook samples
# make install put under PREFIX, their placeholders filled in.
installed_ops() {
	local prefix=$1 sys=$1/lib/systemd/system user=$1/lib/systemd/user u
	# every file of etc/systemd/, as a system and as a user unit
	[ "$(cd "$AGQ_TOP/etc/systemd" && ls)" = "$(ls "$sys")" ]
	[ "$(cd "$AGQ_TOP/etc/systemd" && ls)" = "$(ls "$user")" ]
	for u in agq-sched.service agq-dash.service agq-alert.service agq-alert.timer \
	    agq-registry-check.service agq-registry-check.timer; do
		[ -f "$sys/$u" ] && [ -f "$user/$u" ]
	done
	run grep -rn '@[A-Z]*@' "$sys" "$user" "$prefix/share/agq/hooks" \
	    "$prefix/share/bash-completion" "$prefix/share/zsh"
	[ "$status" -eq 1 ]
	grep -qx "ExecStart=$prefix/bin/agq-sched" "$sys/agq-sched.service"
	grep -qx "ExecStart=$prefix/bin/agq-registry check" "$user/agq-registry-check.service"
	grep -qx "EnvironmentFile=-$prefix/etc/agq/environment" "$sys/agq-sched.service"
	grep -qx "EnvironmentFile=-%E/agq/environment" "$user/agq-sched.service"
	grep -qx "ReadWritePaths=-$prefix/var/spool/agq" "$sys/agq-sched.service"
	grep -qx "WantedBy=multi-user.target" "$sys/agq-sched.service"
	grep -qx "WantedBy=default.target" "$user/agq-sched.service"
	# the sandboxing is the system units' only
	! grep -q '^Protect\|^ReadWritePaths\|^NoNewPrivileges' "$user"/*
	# systemd-analyze verify: the syntax, the programs (they exist), the
	# man pages of Documentation= (installed); no systemd running needed
	mkdir -m 700 "$BATS_TEST_TMPDIR/xdg"
	run env MANPATH="$prefix/share/man" systemd-analyze verify "$sys"/*
	echo "$output"
	[ "$status" -eq 0 ] && [ -z "$output" ]
	run env MANPATH="$prefix/share/man" XDG_RUNTIME_DIR="$BATS_TEST_TMPDIR/xdg" \
	    systemd-analyze --user verify "$user"/*
	echo "$output"
	[ "$status" -eq 0 ] && [ -z "$output" ]
	# completion: bash loads a command's from a file of its name
	local comp=$prefix/share/bash-completion/completions
	grep -q "^_agq_spool='$prefix/var/spool/agq'$" "$comp/agq"
	for p in agq-submit agq-ls agq-cancel; do
		[ "$(readlink "$comp/$p")" = agq ]
	done
	bash -c "source '$comp/agq-ls' && complete -p agq-ls agq" | grep -c -- '-F _agq ' | grep -qx 2
	head -1 "$prefix/share/zsh/site-functions/_agq" | grep -q '^#compdef agq agq-submit '
	grep -q "^_agq_spool='$prefix/var/spool/agq'$" "$prefix/share/zsh/site-functions/_agq"
	# hook samples, the programs' directory and their own filled in
	for h in post-commit pre-push post-receive; do
		[ -x "$prefix/share/agq/hooks/$h" ]
		grep -qx "bin=$prefix/bin" "$prefix/share/agq/hooks/$h"
		grep -q "cp $prefix/share/agq/hooks/$h " "$prefix/share/agq/hooks/$h"
	done
}
