#!/usr/bin/env bats
# make demo (libexec/agq/agq-demo): the main job on real input, from queued
# ideas to PRs, as a user sees it.  The demo runs the programs under test:
# a copy of it away from the source tree's bin/ takes agq from PATH.

load helper

setup_file() {
	command -v codespell >/dev/null && command -v git >/dev/null &&
	    dpkg -L python3-apt >/dev/null 2>&1 ||
	    export DEMO_SKIP="codespell, git or python3-apt missing (make deps-test installs them)"
}

# demo [ENV=VALUE...]: run the demo (status, output) with TMPDIR in the test.
demo() {
	mkdir -p "$BATS_TEST_TMPDIR/libexec/agq" "$BATS_TEST_TMPDIR/tmp"
	cp "$AGQ_TOP/libexec/agq/agq-demo" "$BATS_TEST_TMPDIR/libexec/agq/"
	run env TMPDIR="$BATS_TEST_TMPDIR/tmp" "$@" \
	    "$BATS_TEST_TMPDIR/libexec/agq/agq-demo"
}

# check_prs ORIGIN IDS...: each task done with one PR record whose branch
# is on ORIGIN, one commit on main changing only the files of the task's
# directory, each of which had a typo codespell fixes and has none now.
check_prs() {
	local origin=$1 id rec branch head dir f n
	shift
	for id in "$@"; do
		[ -f "$AGQ_SPOOL/done/$id.json" ]
		rec=$(agq-pr show "$id")
		branch=$(awk '$1 == "branch" { print $2 }' <<<"$rec")
		head=$(awk '$1 == "head" { print $2 }' <<<"$rec")
		dir=$(sed -n 's/^title *fix typos in //p' <<<"$rec")
		[ -n "$dir" ]
		[ "$(git -C "$origin" rev-parse "refs/heads/$branch")" = "$head" ]
		[ "$(git -C "$origin" rev-parse "$head^")" = \
		    "$(git -C "$origin" rev-parse main)" ]
		git -C "$origin" log -1 --format=%B "$head" | grep -qx "Agq-Task: $id"
		n=0
		rm -rf "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
		mkdir "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
		for f in $(git -C "$origin" diff --name-only main "$head"); do
			n=$((n + 1))
			[[ "$f" == "$dir"/* ]]
			[[ "${f#"$dir"/}" != */* ]]
			git -C "$origin" show "main:$f" > "$BATS_TEST_TMPDIR/before/$n.py"
			git -C "$origin" show "$head:$f" > "$BATS_TEST_TMPDIR/after/$n.py"
		done
		[ "$n" -ge 1 ]
		# codespell once for all the files (a Python start each): every
		# file had a typo it fixes by itself, and none is left
		[ "$(codespell "$BATS_TEST_TMPDIR/before" | grep -v ', ' |
		    sed 's/:.*//' | sort -u | wc -l)" -eq "$n" ]
		[ -z "$(codespell "$BATS_TEST_TMPDIR/after" | grep -v ', ')" ]
	done
}

@test "make demo: codespell fixes a Debian package's typos through agq, one task per directory, into one PR each; run again, as clean" {
	[ -z "${DEMO_SKIP:-}" ] || skip "$DEMO_SKIP"
	demo
	echo "$output"
	[ "$status" -eq 0 ]
	origin=$(sed -n 's/^repository: .* origin \(.*\)$/\1/p' <<<"$output")
	[ -d "$origin" ]
	# what it says it found, submitted and opened
	ndirs=$(sed -n 's/^codespell finds typos it can fix in \([0-9]*\) directories:$/\1/p' <<<"$output")
	[ "$ndirs" -ge 2 ]
	[[ "$output" == *"submitted $ndirs tasks"* ]]
	[[ "$output" == *"$ndirs of $ndirs tasks done, $ndirs PRs opened"* ]]
	[[ "$output" == *"agq pr ls"* ]]
	[[ "$output" == *"git -C $origin log --all"* ]]
	# agq-run's git work, journaled
	for ev in worktree commit push pr_open; do
		grep -q "^  $ev  *$ndirs\$" <<<"$output"
	done
	# N PR records, N branches, every task done, none dead
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq "$ndirs" ]
	[ "$(ls "$AGQ_SPOOL/done" | wc -l)" -eq "$ndirs" ]
	[ "$(ls "$AGQ_SPOOL/dead" | wc -l)" -eq 0 ]
	[ "$(git -C "$origin" branch --list | grep -vc ' main$')" -eq "$ndirs" ]
	check_prs "$origin" $(agq-ls --state done -q)
	# the PRs' branches are in the output with the files they change
	for b in $(git -C "$origin" branch --list --format='%(refname:short)'); do
		[ "$b" = main ] || [[ "$output" == *"$b"* ]]
	done
	# two agents took the work, and no worktree is left behind
	[[ "$output" == *codespell-1* ]]
	[[ "$output" == *codespell-2* ]]
	run agq-git gc --dry-run --json
	[ "$output" = "[]" ]
	[ -z "$(ls -d "$AGQ_SPOOL.work"/*.trees/* 2>/dev/null)" ]

	# run again on the same spool: fresh origin, fresh PRs, processes
	# stopped (one test, so that make check runs the demo once less)
	first=$(ls "$AGQ_SPOOL/prs/open" | wc -l)
	demo
	echo "$output"
	[ "$status" -eq 0 ]
	origin=$(sed -n 's/^repository: .* origin \(.*\)$/\1/p' <<<"$output")
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq $((first * 2)) ]
	[ "$(ls "$AGQ_SPOOL/done" | wc -l)" -eq $((first * 2)) ]
	# the second run's branches are named as the first's were (a new origin)
	git -C "$origin" branch --list --format='%(refname:short)' | grep -qx 'codespell-1/fix-typos-in-.*\|codespell-2/fix-typos-in-.*'
	[ -z "$(git -C "$origin" branch --list | grep -- '-2$')" ]
	# every process the demo started has stopped: its agents say so
	for a in "$AGQ_SPOOL"/agents/codespell-*.json; do
		grep -q '"state": "down"' "$a"
	done
}

# coder_demo TOOL ENV=VALUE OUTPUT: AGENT=TOOL make demo with a stand-in
# TOOL in the real CLI's output shape (OUTPUT, printed as it is): it fixes
# what the prompt names with codespell, where the CLI would edit the files.
# The same PRs as codespell's; TOOL ran once a task, its arguments
# (one line a call) in $WORK/args.
coder_demo() {
	local tool=$1 key=$2 out=$3
	mkdir -p "$WORK/fakebin"
	cat > "$WORK/fakebin/$tool" <<SH
#!/bin/sh
printf '%s\\n' "\$*" >> "$WORK/args"
for a; do prompt=\$a; done
files=\$(printf '%s\\n' "\$prompt" | sed -n 's/^Fix the spelling mistakes in \\([^ ]*\\) .*/\\1/p')
codespell -w \$files >/dev/null 2>&1
cat <<'OUT'
$out
OUT
SH
	chmod +x "$WORK/fakebin/$tool"
	demo AGENT="$tool" "$key" PATH="$WORK/fakebin:$PATH"
	echo "$output"
	[ "$status" -eq 0 ]
	origin=$(sed -n 's/^repository: .* origin \(.*\)$/\1/p' <<<"$output")
	ndirs=$(sed -n 's/^codespell finds typos it can fix in \([0-9]*\) directories:$/\1/p' <<<"$output")
	[[ "$output" == *"coder: $tool"* ]]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq "$ndirs" ]
	check_prs "$origin" $(agq-ls --state done -q)
	[ "$(wc -l < "$WORK/args")" -eq "$ndirs" ]
	git -C "$origin" branch --list --format='%(refname:short)' | grep -q "^$tool-[12]/fix-typos-in-"
	for id in $(agq-ls --state done -q); do
		grep -q '"backend": "cli"' "$AGQ_SPOOL/done/$id.json"
	done
}

@test "AGENT=claude make demo: the same tasks as prompt tasks through the cli backend and the shipped lock's claude command line" {
	[ -z "${DEMO_SKIP:-}" ] || skip "$DEMO_SKIP"
	coder_demo claude ANTHROPIC_API_KEY=test-key \
	    '{"type":"result","subtype":"success","is_error":false,"result":"fixed","session_id":"s-1","permission_denials":[],"usage":{"input_tokens":100,"output_tokens":20}}'
	grep -q -- '^-p --output-format json --permission-mode acceptEdits -- Fix the spelling mistakes in .*change nothing else\.$' "$WORK/args"
}

@test "AGENT=codex make demo: the same through the shipped lock's codex command line" {
	[ -z "${DEMO_SKIP:-}" ] || skip "$DEMO_SKIP"
	coder_demo codex OPENAI_API_KEY=test-key '{"type":"thread.started","thread_id":"t1"}
{"type":"item.completed","item":{"id":"i1","type":"agent_message","text":"fixed"}}
{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":0,"output_tokens":20}}'
	grep -q -- '^exec --json -s workspace-write -- Fix the spelling mistakes in .*change nothing else\.$' "$WORK/args"
}

@test "AGENT=claude without ANTHROPIC_API_KEY, and an unknown AGENT: a clear message and exit 2" {
	demo AGENT=claude ANTHROPIC_API_KEY=
	[ "$status" -eq 2 ]
	[[ "$output" == *"agq-demo: AGENT=claude needs ANTHROPIC_API_KEY"* ]]
	demo AGENT=nobody
	[ "$status" -eq 2 ]
	[[ "$output" == *"AGENT=nobody"* ]]
	[ ! -d "$AGQ_SPOOL/prs" ] || [ -z "$(ls "$AGQ_SPOOL/prs/open")" ]
}
