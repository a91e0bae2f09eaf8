#!/usr/bin/env bats
# make demo (libexec/agq/agq-demo): the main job on real input, from queued
# ideas to reviewed PRs merged into main, as a user sees it.  The demo runs the programs under test:
# a copy of it away from the source tree's bin/ takes agq from PATH.

load helper

setup_file() {
	command -v codespell >/dev/null && command -v git >/dev/null &&
	    dpkg -L python3-apt >/dev/null 2>&1 ||
	    export DEMO_SKIP="codespell, git or python3-apt missing (make deps-test installs them)"
}

# demo [ENV=VALUE...] [OPTION...]: run the demo (status, output) with
# TMPDIR in the test.
demo() {
	local a envs=() opts=()
	for a; do
		case $a in
		*=*) envs+=("$a") ;;
		*) opts+=("$a") ;;
		esac
	done
	mkdir -p "$BATS_TEST_TMPDIR/libexec/agq" "$BATS_TEST_TMPDIR/tmp"
	cp "$AGQ_TOP/libexec/agq/agq-demo" "$BATS_TEST_TMPDIR/libexec/agq/"
	run env TMPDIR="$BATS_TEST_TMPDIR/tmp" "${envs[@]}" \
	    "$BATS_TEST_TMPDIR/libexec/agq/agq-demo" "${opts[@]}"
}

# check_fix ORIGIN BASE HEAD DIR: from BASE to HEAD (the PR's changes:
# "BASE...HEAD") only files of DIR changed, not of its subdirectories, at
# least one, each of which had a typo codespell fixes and has none now.
check_fix() {
	local origin=$1 base=$2 head=$3 dir=$4 f n=0
	[ -n "$dir" ]
	rm -rf "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	mkdir "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	for f in $(git -C "$origin" diff --name-only "$base...$head"); do
		n=$((n + 1))
		[[ "$f" == "$dir"/* ]]
		[[ "${f#"$dir"/}" != */* ]]
		git -C "$origin" show "$base:$f" > "$BATS_TEST_TMPDIR/before/$n.py"
		git -C "$origin" show "$head:$f" > "$BATS_TEST_TMPDIR/after/$n.py"
	done
	[ "$n" -ge 1 ]
	# codespell once for all the files (a Python start each): every
	# file had a typo it fixes by itself, and none is left
	[ "$(codespell "$BATS_TEST_TMPDIR/before" | grep -v ', ' |
	    sed 's/:.*//' | sort -u | wc -l)" -eq "$n" ]
	[ -z "$(codespell "$BATS_TEST_TMPDIR/after" | grep -v ', ')" ]
}

# check_merged ORIGIN IDS...: each task done, its PR record in
# prs/merged/ with the commit that merged it, a merge commit on ORIGIN's
# main (parents: the base then, and the PR's head, the record's; trailers
# Agq-Task and Agq-PR); the PR fixes the typos of the task's directory
# (check_fix).  A task with
# 2 review rounds: round 1's review asked for changes with suggestion
# lines "FILE:LINE: WORD ==> FIX", and the head merged, a commit on round
# 1's on the same branch, has each FIX there.
# Sets ROUNDS2 to how many tasks had 2 rounds.
check_merged() {
	local origin=$1 id rec prid head sha dir f s at word fix
	shift
	ROUNDS2=0
	for id in "$@"; do
		[ -f "$AGQ_SPOOL/done/$id.json" ]
		rec=$(agq-pr show --json "$id")
		prid=$(jq -r .id <<<"$rec")
		[ -f "$AGQ_SPOOL/prs/merged/$prid.json" ]
		jq_is "$AGQ_SPOOL/done/$id.json" .pr "$prid"
		head=$(jq -r .head <<<"$rec")
		sha=$(jq -r .merged.sha <<<"$rec")
		[ "$(jq -r .merged.method <<<"$rec")" = merge ]
		git -C "$origin" merge-base --is-ancestor "$sha" main
		[ "$(git -C "$origin" rev-parse "$sha^2")" = "$head" ]
		git -C "$origin" log -1 --format=%B "$sha" | grep -qx "Agq-Task: $id"
		git -C "$origin" log -1 --format=%B "$sha" | grep -qx "Agq-PR: $prid"
		dir=$(jq -r .title <<<"$rec" | sed -n 's/^fix typos in //p')
		check_fix "$origin" "$sha^1" "$head" "$dir"
		jq_is "$AGQ_SPOOL/done/$id-r1-1.json" .parent "$id"
		case $(jq -r .round "$AGQ_SPOOL/done/$id.json") in
		1)
			jq_is "$AGQ_SPOOL/done/$id-r1-1.json" .verdict.verdict approve
			[ ! -f "$AGQ_SPOOL/done/$id-r2-1.json" ] ;;
		2)
			ROUNDS2=$((ROUNDS2 + 1))
			jq_is "$AGQ_SPOOL/done/$id-r1-1.json" .verdict.verdict request_changes
			jq_is "$AGQ_SPOOL/done/$id-r2-1.json" .verdict.verdict approve
			jq_is "$AGQ_SPOOL/done/$id-r2-1.json" .head "$head"
			# on the PR's branch, a commit on round 1's
			[ "$(git -C "$origin" rev-parse "$head^")" = \
			    "$(jq -r .head "$AGQ_SPOOL/done/$id-r1-1.json")" ]
			s=$(jq -r '.verdict.comments[]' "$AGQ_SPOOL/done/$id-r1-1.json" |
			    grep '^[^ ]*:[0-9]*: [^ ]* ==> [^ ,]*$')
			[ -n "$s" ]
			while read -r at word _ fix; do
				f=${at%%:*} at=${at#*:}
				[[ "$f" == "$dir"/* ]]
				git -C "$origin" show "$head:$f" | sed -n "${at%:}p" | grep -qw "$fix"
				! git -C "$origin" show "$head:$f" | sed -n "${at%:}p" | grep -qw "$word"
			done <<<"$s" ;;
		*) false ;;
		esac
	done
}

# typo_ids: IDS, the demo's done coder tasks but the changelog (not its
# review or merge tasks), and CL, the changelog task's id (empty: none).
typo_ids() {
	local i
	ids= CL=
	for i in $(agq-ls --state done -q | grep -v -e '-r[0-9]*-[0-9]*$' -e '-m[0-9]*$'); do
		if jq_is "$AGQ_SPOOL/done/$i.json" .title changelog; then
			CL=$i
		else
			ids="$ids $i"
		fi
	done
}

# check_changelog ORIGIN CL IDS...: the changelog task CL ran after every
# typo task IDS (its after; released after the last one's done, in the
# journal), in their mission; merged last into main, whose CHANGELOG.md
# has a line for each of their PRs.
check_changelog() {
	local origin=$1 cl=$2 id rs ds prid
	shift 2
	[ "$(jq -r '.after | sort | join(" ")' "$AGQ_SPOOL/done/$cl.json")" = \
	    "$(printf '%s\n' "$@" | sort | paste -sd ' ')" ]
	for id; do
		jq_is "$AGQ_SPOOL/done/$id.json" .mission "$(jq -r .mission "$AGQ_SPOOL/done/$cl.json")"
	done
	rs=$(agq-journal --id "$cl" --ev release | jq -r .seq)
	for id; do
		ds=$(agq-journal --id "$id" --ev done | jq -r .seq | tail -1)
		[ "$rs" -gt "$ds" ]
	done
	[ "$(git -C "$origin" log --first-parent --merges -1 --format=%H main)" = \
	    "$(agq-pr show --json "$cl" | jq -r .merged.sha)" ]
	[ "$(git -C "$origin" show main:CHANGELOG.md | grep -c '^- Merge ')" -eq $# ]
	for id; do
		prid=$(agq-pr show --json "$id" | jq -r .id)
		git -C "$origin" show main:CHANGELOG.md | grep -q "^- Merge $prid: fix typos in "
	done
}

# check_main ORIGIN DIRS...: main, cloned afresh, compiles and has no typo
# codespell can fix in DIRS/*.py.
check_main() {
	local origin=$1 d
	shift
	rm -rf "$BATS_TEST_TMPDIR/main"
	git clone -q -b main "$origin" "$BATS_TEST_TMPDIR/main"
	cd "$BATS_TEST_TMPDIR/main"
	PYTHONPYCACHEPREFIX="$BATS_TEST_TMPDIR/pyc" python3 -m compileall -q .
	[ -z "$(codespell $(for d; do echo "$d"/*.py; done) | grep -v ', ')" ]
	cd - >/dev/null
}

@test "make demo: codespell fixes a Debian package's typos through agq, one task per directory; a reviewer agent asks for changes, the coder applies them, the PRs are merged into main, which passes; run again, as clean" {
	[ -z "${DEMO_SKIP:-}" ] || skip "$DEMO_SKIP"
	demo
	echo "$output"
	[ "$status" -eq 0 ]
	origin=$(sed -n 's/^repository: .* origin \(.*\)$/\1/p' <<<"$output")
	[ -d "$origin" ]
	# what it says it found, submitted and merged
	ndirs=$(sed -n 's/^codespell finds typos it can fix in \([0-9]*\) directories:$/\1/p' <<<"$output")
	[ "$ndirs" -ge 2 ]
	dirs=$(sed -n '/^codespell finds typos/,/^submitted/s/^  \([^ ]*\)  *[0-9]*$/\1/p' <<<"$output")
	[ "$(wc -w <<<"$dirs")" -eq "$ndirs" ]
	n=$((ndirs + 1))                        # and the changelog
	[[ "$output" == *"submitted $n tasks in mission m-"*": one per directory, and a changelog after all of them"* ]]
	[[ "$output" == *"$n of $n tasks merged into main"* ]]
	[[ "$output" == *"agq pr ls --state merged"* ]]
	[[ "$output" == *"git -C $origin log --graph"* ]]
	# every task done, its PR merged into main, the round-2 heads with
	# the reviewer's suggestions; main passes its checks
	typo_ids
	[ "$(wc -w <<<"$ids")" -eq "$ndirs" ]
	[ -n "$CL" ]
	check_merged "$origin" $ids
	[ "$ROUNDS2" -ge 1 ]
	check_main "$origin" $dirs
	check_changelog "$origin" "$CL" $ids
	grep -q "^origin main $(git -C "$origin" rev-parse --short=12 main): $n merges, compiles, no typo codespell can fix, a changelog of $ndirs merged fixes: pass\$" <<<"$output"
	# the mission: done, its tasks the coders' and the changelog
	m=$(jq -r .mission "$AGQ_SPOOL/done/$CL.json")
	[ "$(agq-mission show --json "$m" | jq -r .state)" = done ]
	[ "$(agq-mission show --json "$m" | jq '.tasks | length')" -eq "$n" ]
	[[ "$output" == *"agq mission show $m"* ]]
	# the live view (agq watch while the demo waits): the mission made,
	# the changelog blocked, then released after the last merge
	grep -q "^  [0-9:]* mission_new  *mission/$m title=American English for " <<<"$output"
	[ "$(grep -E "^  [0-9:]* (blocked|release|merge) " <<<"$output" |
	    awk '$2 == "merge" { m = NR } $3 == "'"$CL"'" && $2 != "merge" { print $2, (m ? "after-merges" : "") }' |
	    tr '\n' ' ')" = "blocked  release after-merges " ]
	# N+1 PR records merged, none open; every task done, none dead: the
	# coders', N + 1 + ROUNDS2 review tasks, N + 1 merge tasks
	[ "$(ls "$AGQ_SPOOL/prs/merged" | wc -l)" -eq "$n" ]
	[ -z "$(ls "$AGQ_SPOOL/prs/open")" ]
	[ "$(git -C "$origin" branch --list | grep -vc ' main$')" -eq "$n" ]
	[ "$(ls "$AGQ_SPOOL/done" | wc -l)" -eq $((3 * n + ROUNDS2)) ]
	[ "$(ls "$AGQ_SPOOL/dead" | wc -l)" -eq 0 ]
	# the journal summary: agq-run's git work, the reviews and merges
	for ev in commit:$((n + ROUNDS2)) pr_open:$n \
	    review:$((n + ROUNDS2)) review_changes:$ROUNDS2 merge:$n; do
		grep -q "^  ${ev%:*}  *${ev#*:}\$" <<<"$output"
	done
	grep -q "^  review verdicts: $n approve, $ROUNDS2 request_changes\$" <<<"$output"
	[ "$(journal_count merge)" -eq "$n" ]
	# the table: per task its branch, PR, rounds and merge commit
	grep -q '^  TASK  *BRANCH  *PR  *ROUNDS  *MERGE$' <<<"$output"
	for id in $ids $CL; do
		rec=$(agq-pr show --json "$id")
		grep -q "^  $(jq -r .title <<<"$rec")  *$(jq -r .branch <<<"$rec")  *$(jq -r .id <<<"$rec")  *$(jq -r .round "$AGQ_SPOOL/done/$id.json")  *$(jq -r .merged.sha <<<"$rec" | cut -c1-12)\$" <<<"$output"
	done
	# two coders took the work, the reviewer every review, and no
	# worktree is left behind
	[[ "$output" == *codespell-1* ]]
	[[ "$output" == *codespell-2* ]]
	[ "$(grep '"ev":"review"' "$AGQ_SPOOL/journal" | jq -r .agent | sort -u)" = reviewer ]
	# the scribe wrote the changelog, on a branch of its own
	[ "$(agq-pr show --json "$CL" | jq -r .branch)" = scribe/changelog ]
	run agq-git gc --dry-run --json
	[ "$output" = "[]" ]
	[ -z "$(ls -d "$AGQ_SPOOL.work"/*.trees/* 2>/dev/null)" ]

	# run again on the same spool (to its PRs: the review and merge
	# after them are the first run's, asserted above): a fresh origin,
	# fresh PRs, processes stopped (one test, so that make check runs
	# the demo once less)
	demo --until pr
	echo "$output"
	[ "$status" -eq 0 ]
	origin2=$(sed -n 's/^repository: .* origin \(.*\)$/\1/p' <<<"$output")
	[ -d "$origin2" ] && [ "$origin2" != "$origin" ]
	[ "$(ls "$AGQ_SPOOL/prs/merged" | wc -l)" -eq "$n" ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq "$ndirs" ]  # no changelog
	[[ "$output" == *"$ndirs of $ndirs tasks done with their PR open"* ]]
	# the second run's branches are named as the first's were (a new origin)
	git -C "$origin2" branch --list --format='%(refname:short)' | grep -qx 'codespell-1/fix-typos-in-.*\|codespell-2/fix-typos-in-.*'
	[ -z "$(git -C "$origin2" branch --list | grep -- '-2$')" ]
	# every process the demo started has stopped: its agents say so
	for a in "$AGQ_SPOOL"/agents/codespell-*.json "$AGQ_SPOOL"/agents/reviewer.json \
	    "$AGQ_SPOOL"/agents/scribe.json; do
		grep -q '"state": "down"' "$a"
	done
}

# The AGENT=claude and AGENT=codex demos (each a full run of the demo
# costs; tests/run says which cost most): the claude one, to the merge,
# with the real claude CLI when it is installed (a stand-in without it);
# the codex one with a stand-in to the open PRs (--until pr): what comes
# after the PR, the review's suggestions in round 2's prompt and the
# merge, is the same code for any CLI and the claude one asserts it.

# stand_in TOOL OUTPUT: $WORK/fakebin/TOOL, a stand-in TOOL in the real
# CLI's output shape (OUTPUT, printed as it is): it fixes what the prompt
# names with codespell, where the CLI would edit the files, and applies
# each suggestion line "FILE:LINE: WORD ==> FIX" in the prompt (the
# review's comments, round 2), as a model following them would.
stand_in() {
	mkdir -p "$WORK/fakebin"
	printf '%s\n' "$2" > "$WORK/out"
	{
		echo '#!/bin/sh'
		echo "args=$WORK/args out=$WORK/out"
		cat <<'SH'
printf '%s\n' "$*" | tr '\n' ' ' >> "$args"
echo >> "$args"
for a; do prompt=$a; done
files=$(printf '%s\n' "$prompt" | sed -n 's/^Fix the spelling mistakes in \([^ ]*\) .*/\1/p')
codespell -w $files >/dev/null 2>&1
printf '%s\n' "$prompt" |
    grep -o "[A-Za-z0-9_./-]*:[0-9]*: [A-Za-z']* ==> [A-Za-z']*\$" |
    while read -r at word _ fix; do
	f=${at%%:*} l=${at#*:}
	sed -i "${l%:}s/\\b$word\\b/$fix/" "$f"
    done
cat "$out"
SH
	} > "$WORK/fakebin/$1"
	chmod +x "$WORK/fakebin/$1"
}

# logged TOOL: $WORK/fakebin/TOOL, the real CLI it links to, with its
# arguments logged as stand_in logs them.
logged() {
	local real
	real=$(readlink "$WORK/fakebin/$1")
	rm "$WORK/fakebin/$1"
	printf '#!/bin/sh\nprintf "%%s\\n" "$*" | tr "\\n" " " >> %s\necho >> %s\nexec %s "$@"\n' \
	    "$WORK/args" "$WORK/args" "$real" > "$WORK/fakebin/$1"
	chmod +x "$WORK/fakebin/$1"
}

# cli_demo TOOL [ENV=VALUE|OPTION...]: AGENT=TOOL make demo, TOOL first
# in PATH; the tasks are prompt tasks through the cli backend, TOOL ran
# once a task (and once more for its round 2), its arguments (one line a
# call, newlines as blanks) in $WORK/args; the PRs have TOOL's agents'
# branches.  Sets origin, ndirs, ids.
cli_demo() {
	local tool=$1
	shift
	demo AGENT="$tool" PATH="$WORK/fakebin:$PATH" "$@"
	echo "$output"
	[ "$status" -eq 0 ]
	origin=$(sed -n 's/^repository: .* origin \(.*\)$/\1/p' <<<"$output")
	ndirs=$(sed -n 's/^codespell finds typos it can fix in \([0-9]*\) directories:$/\1/p' <<<"$output")
	[[ "$output" == *"coder: $tool"* ]]
	typo_ids
	[ "$(wc -w <<<"$ids")" -eq "$ndirs" ]
	git -C "$origin" branch --list --format='%(refname:short)' | grep -q "^$tool-[12]/fix-typos-in-"
	for id in $ids; do
		grep -q '"backend": "cli"' "$AGQ_SPOOL/done/$id.json"
	done
}

@test "AGENT=claude make demo: the same tasks as prompt tasks through the shipped lock's claude command line; with the real claude CLI against a loopback Messages API (a stand-in without it) it fixes the typos, in round 2 follows the review's suggestions, the PRs merged" {
	[ -z "${DEMO_SKIP:-}" ] || skip "$DEMO_SKIP"
	real=
	# (real_claude skips the test if this claude is not Claude Code)
	if [ -x "${AGQ_TEST_CLAUDE:-$(command -v claude)}" ]; then
		real_claude
		logged claude
		real=1
	else
		stand_in claude '{"type":"result","subtype":"success","is_error":false,"result":"fixed","session_id":"s-1","permission_denials":[],"usage":{"input_tokens":100,"output_tokens":20}}'
	fi
	cli_demo claude ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY:-test-key}"
	[ "$(ls "$AGQ_SPOOL/prs/merged" | wc -l)" -eq $((ndirs + 1)) ]
	check_merged "$origin" $ids
	[ "$ROUNDS2" -ge 1 ]
	check_changelog "$origin" "$CL" $ids
	[[ "$output" == *"$((ndirs + 1)) of $((ndirs + 1)) tasks merged into main"* ]]
	[[ "$output" == *"compiles, no typo codespell can fix, a changelog of $ndirs merged fixes: pass"* ]]
	[ "$(wc -l < "$WORK/args")" -eq $((ndirs + ROUNDS2)) ]
	grep -q -- '^-p --output-format json --permission-mode acceptEdits -- Fix the spelling mistakes in .*change nothing else\. $' "$WORK/args"
	# round 2's prompt carried the reviewer's suggestions
	[ "$(grep -c 'The reviewers of your pull request asked for changes:.* ==> ' "$WORK/args")" -eq "$ROUNDS2" ]
	[ -n "$real" ] || return 0
	# the real claude wrote the files it had read, in the tasks'
	# worktrees; the round-2 prompts reached the API
	jq -se '[.[] | .body.messages // [] | .[] | select(.role == "assistant") |
	    .content | arrays | .[] | select(.type == "tool_use" and .name == "Write") |
	    .input.file_path | select(test("\\.trees/.*\\.py$"))] | length >= 1' "$WORK/mreq"
	# (round 2 resumes round 1's session: its prompt is a later user turn)
	[ "$(jq -r '.body.messages // [] | .[] | select(.role == "user") | .content | if type == "array" then map(.text // "") | join("\n") else . end' "$WORK/mreq" 2>/dev/null |
	    grep ' ==> ' | sort -u | wc -l)" -ge "$ROUNDS2" ]
}

@test "AGENT=codex make demo --until pr: the same tasks through the shipped lock's codex command line, to their open PRs; no reviewer, no merge" {
	[ -z "${DEMO_SKIP:-}" ] || skip "$DEMO_SKIP"
	stand_in codex '{"type":"thread.started","thread_id":"t1"}
{"type":"item.completed","item":{"id":"i1","type":"agent_message","text":"fixed"}}
{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":0,"output_tokens":20}}'
	cli_demo codex --until pr OPENAI_API_KEY=test-key
	[ -z "$CL" ]                            # no changelog: nothing merged
	[[ "$output" == *"coder: codex, until the PRs are open"* ]]
	[[ "$output" == *"$ndirs of $ndirs tasks done with their PR open"* ]]
	[ "$(wc -l < "$WORK/args")" -eq "$ndirs" ]
	grep -q -- '^exec --json -s workspace-write -- Fix the spelling mistakes in .*change nothing else\. $' "$WORK/args"
	# one open PR a task, its branch fixing the typos of its directory;
	# nothing reviewed or merged, main as it was
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq "$ndirs" ]
	[ ! -d "$AGQ_SPOOL/prs/merged" ] || [ -z "$(ls "$AGQ_SPOOL/prs/merged")" ]
	for id in $ids; do
		rec=$(agq-pr show --json "$id")
		jq_is "$AGQ_SPOOL/done/$id.json" .attempts[-1].git.pr "$(jq -r .id <<<"$rec")"
		[[ "$(jq -r .branch <<<"$rec")" == codex-[12]/fix-typos-in-* ]]
		[ "$(git -C "$origin" rev-parse "$(jq -r .branch <<<"$rec")")" = "$(jq -r .head <<<"$rec")" ]
		check_fix "$origin" main "$(jq -r .head <<<"$rec")" \
		    "$(jq -r .title <<<"$rec" | sed -n 's/^fix typos in //p')"
		grep -q "^  $(jq -r .title <<<"$rec")  *$(jq -r .branch <<<"$rec")  *$(jq -r .id <<<"$rec")  *-  *PR open\$" <<<"$output"
	done
	[ "$(journal_count review)" -eq 0 ] && [ "$(journal_count merge)" -eq 0 ]
	[[ "$output" != *"review verdicts"* ]]
	[ ! -e "$AGQ_SPOOL/agents/reviewer.json" ]
	[ "$(git -C "$origin" rev-list --count main)" -eq 1 ]
}

@test "AGENT=claude without ANTHROPIC_API_KEY, an unknown AGENT, a bad --until: a clear message and exit 2 (64 for the option)" {
	demo AGENT=claude ANTHROPIC_API_KEY=
	[ "$status" -eq 2 ]
	[[ "$output" == *"agq-demo: AGENT=claude needs ANTHROPIC_API_KEY"* ]]
	demo AGENT=nobody
	[ "$status" -eq 2 ]
	[[ "$output" == *"AGENT=nobody"* ]]
	[ ! -d "$AGQ_SPOOL/prs" ] || [ -z "$(ls "$AGQ_SPOOL/prs/open" "$AGQ_SPOOL/prs/merged")" ]
	demo --until review
	[ "$status" -eq 64 ]
	[[ "$output" == *"agq-demo: --until review: not pr or merge"* ]]
	[[ "$output" == *"usage: agq-demo [-s SPOOL] [--until pr|merge]"* ]]
}
