#!/usr/bin/env bats
# make install: programs, helpers, man pages, configuration, and the
# installed default spool.

load helper

@test "make install PREFIX=DIR installs a working agq whose default spool is DIR/var/spool/agq" {
	prefix="$BATS_TEST_TMPDIR/prefix"
	run make -C "$AGQ_TOP" -s install PREFIX="$prefix"
	[ "$status" -eq 0 ]
	for p in agq agq-submit agq-sched agq-run agq-ls agq-show agq-status \
	    agq-cancel agq-hold agq-release agq-retry agq-wait agq-journal agq-agent; do
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
}
