#!/usr/bin/env bats
# The pipeline of issue 16 under load and failure: 8 tasks with git over 3
# agents on one repository (8 branches, 8 PR records, no worktree shared,
# none left); kill -9 of an agent mid-task (the task resumes on its branch
# with its uncommitted work, one PR); agq-git gc never removes a running
# task's worktree; a missing repository, a missing base branch, a rejected
# push and the forge's 500 and 401, each a clear reason, retried or
# dead-lettered as configured.  git(1) only sets up and inspects.

load helper
bats_require_minimum_version 1.5.0

# origin: a bare repository $WORK/origin.git whose main has f1.txt ..
# f8.txt, one line each.
origin() {
	mkdir -p "$WORK/src"
	for i in 1 2 3 4 5 6 7 8; do echo "line $i" > "$WORK/src/f$i.txt"; done
	git_origin
}

# jev ID EV FILTER: FILTER over the journal events EV of task ID.
jev() { grep "\"ev\":\"$2\"" "$AGQ_SPOOL/journal" | grep "\"id\":\"$1\"" | jq -r "$3"; }
# branches: the origin's branches other than main.
branches() { git -C "$WORK/origin.git" for-each-ref --format='%(refname:short)' refs/heads | grep -vx main || true; }
reason() { jq -r .reason "$AGQ_SPOOL/dead/$1.json"; }

@test "8 tasks over 3 agents on one repository: 8 branches on the origin, 8 PR records, 8 worktrees never shared, none left" {
	origin
	start_sched
	start_agent a1
	start_agent a2
	start_agent a3
	cd "$WORK"
	local i ids=()
	for i in 1 2 3 4 5 6 7 8; do
		ids+=("$(agq-submit --title "edit $i" --git origin.git -- \
		    sh -c "sleep 0.5; echo 'edit $i' >> f$i.txt")")
	done
	run agq-wait --timeout 120 -q "${ids[@]}"
	[ "$status" -eq 0 ]
	[ "$(count_in done)" -eq 8 ]
	# 8 branches, each with its one file changed by one line
	[ "$(branches | wc -l)" -eq 8 ]
	local id br
	for i in 1 2 3 4 5 6 7 8; do
		id=${ids[$((i - 1))]}
		br=$(jev "$id" worktree .branch)
		[[ "$br" == a[123]/edit-$i ]]
		[ "$(git -C origin.git diff --numstat main "$br")" = "$(printf '1\t0\tf%s.txt' $i)" ]
		[ "$(jev "$id" push .sha)" = "$(git -C origin.git rev-parse "$br")" ]
	done
	# 8 PR records, one per branch, and one pr_open each
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 8 ]
	[ "$(cat "$AGQ_SPOOL"/prs/open/*.json | jq -r .branch | sort -u | wc -l)" -eq 8 ]
	[ "$(journal_count pr_open)" -eq 8 ]
	# 8 worktree events, 8 distinct paths, more than one agent at work
	[ "$(journal_count worktree)" -eq 8 ]
	[ "$(jq -r 'select(.ev == "worktree") | .path' "$AGQ_SPOOL/journal" | sort -u | wc -l)" -eq 8 ]
	[ "$(jq -r 'select(.ev == "worktree") | .agent' "$AGQ_SPOOL/journal" | sort -u | wc -l)" -ge 2 ]
	# no worktree left: each path gone, and none an orphan for gc
	local p
	for p in $(jq -r 'select(.ev == "worktree") | .path' "$AGQ_SPOOL/journal"); do
		# (on failure: why agq-attempt could not remove it)
		[ ! -e "$p" ] || { echo "left: $p"; grep -h worktree "$BATS_TEST_TMPDIR"/agent-a*.log; false; }
	done
	run agq-git gc --dry-run --json
	[ "$output" = "[]" ] || [ -z "$output" ]
}

@test "kill -9 of an agent mid-task: the task resumes on its branch with its uncommitted file, opens one PR; agq-git gc never removes its worktree" {
	origin
	start_sched --lease 2
	start_agent victim
	local victim=$AGENT_PID
	cd "$WORK"
	# the first run writes first.txt and waits; a run that finds it
	# writes second.txt; both wait for $WORK/go
	local id
	id=$(agq-submit --title resume --git origin.git -- sh -c \
	    "if [ -e first.txt ]; then echo again > second.txt; else echo first > first.txt; fi
	     while [ ! -e '$WORK/go' ]; do sleep 0.1; done")
	wait_for 30 grep -q "\"ev\":\"worktree\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	local wt
	wt=$(jev "$id" worktree .path)
	wait_for 30 test -e "$wt/first.txt"
	kill -9 "$victim"
	# the killed agent's task is not running, its task not terminal: gc
	# leaves its worktree
	run agq-git gc
	[ "$status" -eq 0 ]
	[ -e "$wt/first.txt" ]
	start_agent rescuer
	wait_for 30 test -e "$wt/second.txt"
	# running again: gc leaves it again
	run agq-git gc
	[ "$status" -eq 0 ]
	run agq-git gc --dry-run --json
	jq -e --arg p "$wt" 'map(select(.path == $p))[0] |
	    .locked and .state == "active" and (.orphan | not)' <<<"$output"
	[ -e "$wt/first.txt" ] && [ -e "$wt/second.txt" ]
	touch "$WORK/go"
	wait_for 60 is_state "$id" done
	# the journal's done follows the move (agq-spool(5))
	wait_for 10 grep -q "\"ev\":\"done\",\"id\":\"$id\",\"agent\":\"rescuer\"" "$AGQ_SPOOL/journal"
	[ "$(journal_count reclaim)" -eq 1 ]
	# the same branch and worktree, reused the second time
	[ "$(jev "$id" worktree .branch | sort -u)" = victim/resume ]
	[ "$(jev "$id" worktree .path | sort -u)" = "$wt" ]
	[ "$(jev "$id" worktree .reused | tr '\n' ' ')" = "false true " ]
	# the first run's file is in the commit beside the second's
	[ "$(git -C origin.git show --name-only --format= victim/resume | sort | tr '\n' ' ')" = "first.txt second.txt " ]
	[ "$(journal_count pr_open)" -eq 1 ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 1 ]
	[ ! -e "$wt" ]
}

@test "a missing repository, a missing base branch and a rejected push: clear reasons, retried as configured, then dead" {
	origin
	start_sched
	start_agent a1
	cd "$WORK"
	local id
	mkdir gone.git
	id=$(agq-submit --max-attempts 1 --git "$WORK/gone.git" -- touch x)
	rmdir gone.git
	wait_for 30 is_state "$id" dead
	[[ "$(reason "$id")" == "cannot fetch "*"gone.git"*"; out of attempts (1 of 1)" ]]
	id=$(agq-submit --max-attempts 1 --git "origin.git#nope" -- touch x)
	wait_for 30 is_state "$id" dead
	[[ "$(reason "$id")" == *"no base branch nope on $WORK/origin.git"*"; out of attempts (1 of 1)" ]]
	# while the task runs, git(1) puts another commit on its branch on
	# the origin ($AGQ_BRANCH): agq's push is not a fast-forward, at each
	# of the two attempts (libgit2 pushes to a local origin without
	# running its hooks, so a pre-receive hook would refuse nothing)
	cat > move.sh <<SH
echo x > f1.txt
d=\$(mktemp -d)
git clone -q "$WORK/origin.git" "\$d/c" && git -C "\$d/c" checkout -qb "\$AGQ_BRANCH" &&
    echo other > "\$d/c/other.txt" && git -C "\$d/c" add . &&
    git -C "\$d/c" commit -qm other && git -C "\$d/c" push -q origin "\$AGQ_BRANCH"
rm -rf "\$d"
SH
	id=$(agq-submit --max-attempts 2 --backoff 0 --title frozen --git origin.git -- sh "$WORK/move.sh")
	wait_for 60 is_state "$id" dead
	[[ "$(reason "$id")" == "cannot push: push rejected: "*"; out of attempts (2 of 2)" ]]
	[ "$(journal_count retry)" -ge 1 ]
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/dead/$id.json")" -eq 2 ]
	jq_is "$AGQ_SPOOL/out/$id/agent.json" .status push_rejected
	# the origin's branch is git(1)'s commit, not agq's
	[ "$(git -C origin.git log -1 --format=%s a1/frozen)" = other ]
	[ "$(journal_count pr_open)" -eq 0 ]
	run agq-show "$id"
	[[ "$output" == *"push rejected"* ]]
}

# forge: tests/fakeforge.py as a GitHub API for o/r, agq.conf's forge
# settings; its log in $WORK/freq (a file $WORK/freq.status
# makes every answer that status).
forge() {
	fake_server fakeforge.py f tok-123
	echo "${1:-tok-123}" > "$WORK/token"
	cat >> "$AGQ_CONF" <<CONF
forge = github
forge_url = http://127.0.0.1:$(cat "$WORK/fport")/
forge_token_file = $WORK/token
forge_repo = o/r
CONF
}

@test "the forge answering 500, then 201: the attempt fails with the reason, the retry opens one PR" {
	origin
	forge
	echo 500 > "$WORK/freq.status"
	start_sched
	start_agent a1
	cd "$WORK"
	local id
	id=$(agq-submit --max-attempts 3 --backoff 2 --title "forge flake" --git origin.git -- sh -c 'echo fixed > f2.txt')
	wait_for 30 grep -q "\"ev\":\"retry\",\"id\":\"$id\"" "$AGQ_SPOOL/journal"
	rm "$WORK/freq.status"
	wait_for 60 is_state "$id" done
	run agq-show "$id"
	[[ "$output" == *"github answered 500"* ]]
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/$id.json")" -ge 2 ]
	# one PR on the forge and one record, with its number and url
	[ "$(jq -s 'map(select(.method == "POST" and .path == "/repos/o/r/pulls")) | length' "$WORK/freq")" -ge 2 ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 1 ]
	local rec
	rec=$(ls "$AGQ_SPOOL"/prs/open/*.json)
	jq_is "$rec" '.number|tostring' 1
	jq_is "$rec" .url https://github.com/o/r/pull/1
	[ "$(journal_count pr_open)" -eq 1 ]
	[ "$(jev "$id" pr_open .number)" = 1 ]
	# the branch was committed once
	[ "$(git -C origin.git rev-list --count main..a1/forge-flake)" -eq 1 ]
}

@test "the forge answering 401: the reason names the forge and status, never the token; dead after the attempts configured" {
	origin
	forge tok-WRONG
	start_sched
	start_agent a1
	cd "$WORK"
	local id
	id=$(agq-submit --max-attempts 2 --backoff 0 --title "bad token" --git origin.git -- sh -c 'echo x > f3.txt')
	wait_for 60 is_state "$id" dead
	[[ "$(reason "$id")" == "cannot open the pull request: github answered 401: Bad credentials"*"; out of attempts (2 of 2)" ]]
	run agq-show "$id"
	[[ "$output" == *"github answered 401: Bad credentials"* ]]
	! grep -rq tok-WRONG "$AGQ_SPOOL"
	# the branch is pushed: the work is not lost
	[ "$(git -C origin.git show a1/bad-token:f3.txt)" = x ]
	[ "$(journal_count pr_open)" -eq 0 ]
}
