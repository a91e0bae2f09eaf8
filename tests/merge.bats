#!/usr/bin/env bats
# Merge tasks (issue 18): a reviewed PR merged into its base by agq-run,
# with libgit2 (merge, squash, rebase; verify on the result; pushed, never
# forced; idempotent by the Agq-PR trailer) or through the forge's merge
# API (tests/fakeforge.py); agq-pr poll; the conflict iteration of a coder
# task (update_from_base).  Real bare origins; git(1) only sets up and
# inspects.

load helper
bats_require_minimum_version 1.5.0

TOKEN=tok-0f-the-merge-f0rge

# origin: a bare $WORK/origin.git whose main has a.txt (3 lines) and a
# Makefile-free test script; a work clone $WORK/w to make branches in.
origin() {
	mkdir -p "$WORK/src"
	printf 'one\ntwo\nthree\n' > "$WORK/src/a.txt"
	git_origin
	git clone -q "$WORK/origin.git" "$WORK/w"
}

# branch NAME FILE TEXT [N]: branch NAME from origin's main with N (1)
# commits, the last writing TEXT to FILE, pushed; its tip in $HEAD_SHA.
branch() {
	local n=${4:-1} i
	git -C "$WORK/w" fetch -q origin
	git -C "$WORK/w" checkout -q -B "$1" origin/main
	for i in $(seq "$n"); do
		[ "$i" -lt "$n" ] && echo "$i" > "$WORK/w/extra-$1-$i" || echo "$3" > "$WORK/w/$2"
		git -C "$WORK/w" add -A
		git -C "$WORK/w" commit -qm "$1 commit $i"
	done
	git -C "$WORK/w" push -q origin "$1"
	HEAD_SHA=$(git -C "$WORK/w" rev-parse HEAD)
}

# record TASK BRANCH: the PR record agq_pr_open writes for TASK's BRANCH
# on $WORK/origin.git, in prs/open/; its id in $PRID.
record() {
	local repo="$WORK/origin.git"
	PRID=pr-$(printf '%s\n%s' "$repo" "$2" | sha256sum | cut -c1-16)
	mkdir -p "$AGQ_SPOOL/prs/open"
	jq -n --arg id "$PRID" --arg task "$1" --arg repo "$repo" --arg br "$2" \
	    --arg head "$HEAD_SHA" '{id: $id, task: $task, repo: $repo,
	    base: "main", branch: $br, head: $head, title: ("Change " + $br),
	    url: null, number: null, created_at: "2026-12-01T00:00:00.000000Z"}' \
	    > "$AGQ_SPOOL/prs/open/$PRID.json"
}

# merge_task ID PARENT METHOD [VERIFY-CMD]: submit the merge task of PR
# $PRID at $HEAD_SHA, as the scheduler does (submitted_at set: a task taken
# from a spool, the only kind of submit that may carry kind and parent);
# max_attempts $MAX_ATTEMPTS (2).
merge_task() {
	jq -n --arg id "$1" --arg p "$2" --arg m "$3" --arg pr "$PRID" \
	    --arg head "$HEAD_SHA" --arg repo "$WORK/origin.git" --arg v "${4:-}" \
	    --argjson ma "${MAX_ATTEMPTS:-2}" \
	    '{id: $id, kind: "merge", parent: $p, pr: $pr, head: $head,
	    submitted_at: (now | todate),
	    git: {repo: $repo, base: "main"}, merge_method: $m, max_attempts: $ma,
	    title: ("merge " + $p)} + (if $v == "" then {} else
	    {verify: [{type: "command_succeeds", cmd: $v}]} end)' | agq-submit -q
}

main_log() { git -C "$WORK/origin.git" log --format=%s main; }

@test "merge, squash and rebase each merge into the origin's main, verified there, with the trailers; the PR record moves to merged/" {
	origin
	start_sched
	start_agent a1
	local m sha
	for m in merge squash rebase; do
		branch "b-$m" "$m.txt" "by $m" 2
		record "c-$m" "b-$m"
		merge_task "c-$m-m1" "c-$m" "$m" "test -f $m.txt && test -f a.txt"
		wait_for 30 is_state "c-$m-m1" done
		sha=$(git -C "$WORK/origin.git" rev-parse main)
		[ "$(git -C "$WORK/origin.git" show "main:$m.txt")" = "by $m" ]
		git -C "$WORK/origin.git" log -1 --format=%B main | grep -qx "Agq-PR: $PRID"
		git -C "$WORK/origin.git" log -1 --format=%B main | grep -qx "Agq-Task: c-$m"
		[ "$(git -C "$WORK/origin.git" log -1 --format=%cn main)" = Bot ]
		jq_is "$AGQ_SPOOL/prs/merged/$PRID.json" '.merged.sha + " " + .merged.method + " " + .merged.by' "$sha $m a1"
		[ ! -e "$AGQ_SPOOL/prs/open/$PRID.json" ]
		run jq -c 'select(.ev == "merge" and .pr == "'"$PRID"'") | [.id, .task, .method, .sha, .base]' "$AGQ_SPOOL/journal"
		[ "$output" = "[\"c-$m\",\"c-$m-m1\",\"$m\",\"$sha\",\"main\"]" ]
		jq_is "$AGQ_SPOOL/done/c-$m-m1.json" '.attempts[-1].verify.status // "pass"' pass
	done
	# merge: two parents; squash: one commit; rebase: both commits, authors kept
	run git -C "$WORK/origin.git" log --format='%p|%an|%s' main
	[[ "${lines[0]}" == *"|t|b-rebase commit 2" ]]
	[[ "${lines[1]}" == *"|t|b-rebase commit 1" ]]
	[[ "${lines[2]}" == *"|t|Change b-squash ("* ]]
	[[ "${lines[3]}" == *" "*"|Bot|Merge pr-"*": Change b-merge" ]]
}

@test "verify on the merge runs in a git worktree detached at the merge commit: git rev-parse HEAD and git diff HEAD^ work there; the worktree is removed after" {
	origin
	start_sched
	start_agent a1
	branch b1 b.txt "bee"
	record c1 b1
	merge_task c1-m1 c1 merge "git rev-parse HEAD > $WORK/head && git rev-parse --abbrev-ref HEAD > $WORK/ref && git diff --stat HEAD^ > $WORK/stat && git status --porcelain > $WORK/status"
	wait_for 30 is_state c1-m1 done
	[ "$(cat "$WORK/head")" = "$(git -C "$WORK/origin.git" rev-parse main)" ]
	[ "$(cat "$WORK/ref")" = HEAD ]
	grep -q "b.txt | 1 +" "$WORK/stat"
	[ ! -s "$WORK/status" ]
	# gone, with its administrative files: nothing for agq-git gc
	[ -z "$(ls "$AGQ_SPOOL".work/*.trees/ 2>/dev/null)" ]
	[ "$(agq-git gc --json | jq length)" -eq 0 ]
}

# race FILE: a verify step that, on its first run only, pushes a commit
# writing FILE to the origin's main (another merge winning the race
# between the merge and its push); with "always" as $2, on every run.
race() {
	printf '%s' "{ test -e $WORK/raced && test -z '${2:-}' || ( cd $WORK/w && touch $WORK/raced && git fetch -q origin && git checkout -q -B r origin/main && date +%s%N > $1 && git add -A && git commit -qm 'race $1' && git push -q origin r:main ); }"
}

@test "two merges racing: a push refused because main moved is merged, verified and pushed again in the same attempt, journaled; at most 3 redos" {
	origin
	start_sched
	start_agent a1
	branch b1 b.txt "bee"
	record c1 b1
	merge_task c1-m1 c1 merge "$(race other.txt) && test -f b.txt"
	wait_for 30 is_state c1-m1 done
	jq_is "$AGQ_SPOOL/done/c1-m1.json" '.attempts | length' 1
	# main has both, the merge on top of the racing commit
	git -C "$WORK/origin.git" show main:other.txt
	[ "$(git -C "$WORK/origin.git" show main:b.txt)" = bee ]
	[ "$(git -C "$WORK/origin.git" log -1 --format=%s main^1)" = "race other.txt" ]
	[ "$(journal_count merge_redo)" -eq 1 ]
	run jq -c 'select(.ev == "merge_redo") | [.id, .parent, .pr, .redo, .moved_to == $m, (.reason | startswith("push rejected"))]' 	    --arg m "$(git -C "$WORK/origin.git" rev-parse main^1)" "$AGQ_SPOOL/journal"
	[ "$output" = "[\"c1-m1\",\"c1\",\"$PRID\",1,true,true]" ]
	# agq-show's chain tells it
	agq-show c1-m1 | grep -q "c1-m1: push refused, main moved to $(git -C "$WORK/origin.git" rev-parse --short=7 main^1): merged again (redo 1)$"
	jq_is "$AGQ_SPOOL/prs/merged/$PRID.json" .merged.sha "$(git -C "$WORK/origin.git" rev-parse main)"
	[ "$(journal_count merge)" -eq 1 ]
	# base moving at every try: three redos, then the attempt fails
	branch b2 c.txt "cee"
	record c2 b2
	MAX_ATTEMPTS=1 merge_task c2-m1 c2 merge "$(race other.txt always)"
	wait_for 60 is_state c2-m1 dead
	[ "$(journal_count merge_redo)" -eq 4 ]
	run jq -r .reason "$AGQ_SPOOL/dead/c2-m1.json"
	[[ "$output" == "cannot push the merge to main: push rejected"*"(base moved again after 3 redos)"* ]]
	run git -C "$WORK/origin.git" show main:c.txt
	[ "$status" -ne 0 ]
	[ -e "$AGQ_SPOOL/prs/open/$PRID.json" ]
}

@test "two PRs touching the same line: the first merges, the second fails 'conflict: a.txt' at once and does not retry" {
	origin
	start_sched
	start_agent a1
	branch b1 a.txt "first"
	record c1 b1
	local p1=$PRID h1=$HEAD_SHA
	branch b2 a.txt "second"
	record c2 b2
	PRID=$p1 HEAD_SHA=$h1 merge_task c1-m1 c1 merge
	wait_for 30 is_state c1-m1 done
	merge_task c2-m1 c2 merge
	wait_for 30 is_state c2-m1 dead
	jq_is "$AGQ_SPOOL/dead/c2-m1.json" .reason "conflict: a.txt"
	jq_is "$AGQ_SPOOL/dead/c2-m1.json" '.attempts | length' 1
	[ "$(git -C "$WORK/origin.git" show main:a.txt)" = first ]
	[ -e "$AGQ_SPOOL/prs/open/$PRID.json" ]
}

@test "verify failing on the merged result fails the merge task for good, and nothing is pushed" {
	origin
	start_sched
	start_agent a1
	local before
	before=$(git -C "$WORK/origin.git" rev-parse main)
	branch b1 b.txt "bee"
	record c1 b1
	merge_task c1-m1 c1 merge "! test -f b.txt"
	wait_for 30 is_state c1-m1 dead
	run jq -r .reason "$AGQ_SPOOL/dead/c1-m1.json"
	[[ "$output" == "verify failed on the merge: 1 of 1 steps failed: "* ]]
	[ "$(git -C "$WORK/origin.git" rev-parse main)" = "$before" ]
}

@test "the branch moved past head: 'head moved', not retried" {
	origin
	start_sched
	start_agent a1
	branch b1 b.txt "bee"
	record c1 b1
	echo more > "$WORK/w/c.txt"
	git -C "$WORK/w" add -A && git -C "$WORK/w" commit -qm more && git -C "$WORK/w" push -q origin b1
	merge_task c1-m1 c1 merge
	wait_for 30 is_state c1-m1 dead
	run jq -r .reason "$AGQ_SPOOL/dead/c1-m1.json"
	[[ "$output" == "head moved: b1 is at "* ]]
}

@test "a merge already on main (the agent killed after the push, before its event): the rerun finds the Agq-PR trailer and merges nothing twice" {
	origin
	[ -x /usr/lib/git-core/git-http-backend ] || skip "no git-http-backend"
	python3 "$BATS_TEST_DIRNAME/fakegithttp.py" "$WORK/gport" "$WORK/greq" \
	    "$WORK" s3cret 3>&- &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$WORK/gport" ] && break; sleep 0.1; done
	local url="http://127.0.0.1:$(cat "$WORK/gport")/origin.git"
	git -C "$WORK/origin.git" config http.receivepack true
	echo s3cret > "$WORK/token"
	printf 'git_token_file = %s\ngit_token_hosts = 127.0.0.1:%s\n' "$WORK/token" \
	    "$(cat "$WORK/gport")" >> "$AGQ_CONF"
	# the origin's hook kills the agent (and so its attempt) once main is
	# pushed, before the push is answered
	cat > "$WORK/origin.git/hooks/post-receive" <<HOOK
#!/bin/sh
grep -q refs/heads/main || exit 0
[ -e "$WORK/killed" ] && exit 0
touch "$WORK/killed"
kill -9 \$(cat "$WORK/agentpid")
sleep 2
HOOK
	chmod +x "$WORK/origin.git/hooks/post-receive"
	start_sched
	start_agent a1
	echo "$AGENT_PID" > "$WORK/agentpid"
	branch b1 b.txt "bee"
	# the record and task name the http origin
	record c1 b1
	jq --arg u "$url" '.repo = $u' "$AGQ_SPOOL/prs/open/$PRID.json" > "$WORK/r" &&
	    mv "$WORK/r" "$AGQ_SPOOL/prs/open/$PRID.json"
	jq -n --arg pr "$PRID" --arg head "$HEAD_SHA" --arg repo "$url" \
	    '{id: "c1-m1", kind: "merge", parent: "c1", pr: $pr, head: $head,
	    submitted_at: (now | todate),
	    git: {repo: $repo, base: "main"}, merge_method: "merge"}' | agq-submit -q
	wait_for 30 test -e "$WORK/killed"
	wait "$AGENT_PID" || true
	[ "$(journal_count merge)" -eq 0 ]
	git -C "$WORK/origin.git" log -1 --format=%B main | grep -qx "Agq-PR: $PRID"
	start_agent a1
	wait_for 60 is_state c1-m1 done
	[ "$(git -C "$WORK/origin.git" log --format=%s main | grep -c '^Merge ')" -eq 1 ]
	[ "$(journal_count merge)" -eq 1 ]
	jq_is "$AGQ_SPOOL/prs/merged/$PRID.json" .merged.sha "$(git -C "$WORK/origin.git" rev-parse main)"
	jq_is "$AGQ_SPOOL/out/c1-m1/agent.json" .merge.already true
}

# coder ID CMD: coder task ID on branch b1 of the origin (no PR), with
# update_from_base true, run once; then main moves on with TEXT written to
# FILE (git(1)), and the task is sent back (agq-retry), as the scheduler
# does for a conflict, to run CMD again.
coder() {
	jq -n --arg repo "$WORK/origin.git" --arg id "$1" --arg cmd "$2" '{id: $id,
	    title: "coder", cmd: $cmd, update_from_base: true,
	    review_feedback: "r1 said: fine",
	    git: {repo: $repo, base: "main", branch: "b1", pr: false}}' | agq-submit -q
	wait_for 30 is_state "$1" done
	git -C "$WORK/w" checkout -q main
	echo "$4" > "$WORK/w/$3"
	git -C "$WORK/w" add -A && git -C "$WORK/w" commit -qm "main moves" &&
	    git -C "$WORK/w" push -q origin main
	agq-retry -q "$1" 2>/dev/null || agq-retry "$1"
	wait_for 30 is_state "$1" done
}

@test "the conflict iteration: update_from_base merges main into the branch with conflict markers, the feedback names the file, the commit has two parents" {
	origin
	start_sched
	start_agent a1
	# the first run writes a.txt; the second sees the conflict markers
	# and the feedback, and resolves the conflict
	coder c1 'if grep -q "^<<<<<<<" a.txt; then printf %s "$AGQ_REVIEW_FEEDBACK" > "$AGQ_OUT/fb"; echo resolved > a.txt; else echo "branch side" > a.txt; fi' \
	    a.txt "main side"
	grep -q "r1 said: fine" "$AGQ_SPOOL/out/c1/fb"
	grep -qx -- "- a.txt" "$AGQ_SPOOL/out/c1/fb"
	[ "$(git -C "$WORK/origin.git" show b1:a.txt)" = resolved ]
	run git -C "$WORK/origin.git" log -1 --format=%P b1
	[ "$(echo $output | wc -w)" -eq 2 ]
	git -C "$WORK/origin.git" merge-base --is-ancestor main b1
}

@test "the conflict iteration without a conflict: the merge commit is made at once" {
	origin
	start_sched
	start_agent a1
	coder c1 'test -f c.txt || echo bee > b.txt' c.txt "main side"
	run git -C "$WORK/origin.git" log -1 --format='%P|%s' b1
	[[ "$output" == *" "*"|Merge main into b1" ]]
	[ "$(git -C "$WORK/origin.git" show b1:c.txt)" = "main side" ]
}

# forge_conf KIND REPO: agq.conf's forge settings for the stand-in
# (started for this test); PORT its port.
forge_conf() {
	command -v python3 >/dev/null || skip "no python3"
	fake_server fakeforge.py ff "$TOKEN"
	PORT=$(cat "$WORK/ffport")
	forge_settings "$1" "$2" "$PORT" "$TOKEN"
}

# forge_c1: an origin, the GitHub stand-in (o/r), a scheduler, agent a1,
# and coder c1's PR of branch b1 (b.txt "bee") opened on the forge.
forge_c1() {
	origin
	forge_conf github o/r
	start_sched
	start_agent a1
	branch b1 b.txt bee
	record c1 b1
	forge_pr
}

# forge_pr: open the PR of $PRID on the stand-in (agq-pr open): a number.
forge_pr() {
	run --separate-stderr agq-pr open "$PRID"
	[ "$status" -eq 0 ]
}

@test "through the forge: 200 merges (GitHub PUT, Gitea POST), 405 is a conflict, 409 head moved; neither retried" {
	forge_c1
	merge_task c1-m1 c1 squash
	wait_for 30 is_state c1-m1 done
	run jq -c 'select(.method == "PUT") | [.path, .body.merge_method, .body.sha]' "$WORK/ffreq"
	[ "$output" = "[\"/repos/o/r/pulls/1/merge\",\"squash\",\"$HEAD_SHA\"]" ]
	jq -r 'select(.method == "PUT") | .body.commit_message' "$WORK/ffreq" | grep -qx "Agq-PR: $PRID"
	local sha
	sha=$(jq -r .merged.sha "$AGQ_SPOOL/prs/merged/$PRID.json")
	[ "${#sha}" -eq 40 ]
	[ "$(jq -r 'select(.ev == "merge") | .sha' "$AGQ_SPOOL/journal")" = "$sha" ]
	# 405 and 409
	branch b2 c.txt cee
	record c2 b2
	forge_pr
	echo 405 > "$WORK/ffreq.merge"
	merge_task c2-m1 c2 merge
	wait_for 30 is_state c2-m1 dead
	jq_is "$AGQ_SPOOL/dead/c2-m1.json" .reason "conflict: not mergeable: Pull Request is not mergeable"
	echo 409 > "$WORK/ffreq.merge"
	merge_task c2-m2 c2 merge
	wait_for 30 is_state c2-m2 dead
	run jq -r .reason "$AGQ_SPOOL/dead/c2-m2.json"
	[[ "$output" == "head moved: github answered 409: "* ]]
	jq_is "$AGQ_SPOOL/dead/c2-m2.json" '.attempts | length' 1
}

@test "through Gitea: POST .../pulls/N/merge {Do, head_commit_id}, the sha read back from the PR" {
	origin
	forge_conf gitea o/g
	start_sched
	start_agent a1
	branch b1 b.txt bee
	record c1 b1
	forge_pr
	merge_task c1-m1 c1 rebase
	wait_for 30 is_state c1-m1 done
	run jq -c 'select(.path | endswith("/merge")) | [.method, .path, .body.Do, .body.head_commit_id]' "$WORK/ffreq"
	[ "$output" = "[\"POST\",\"/api/v1/repos/o/g/pulls/1/merge\",\"rebase\",\"$HEAD_SHA\"]" ]
	jq_is "$AGQ_SPOOL/prs/merged/$PRID.json" '.merged.sha | length' 40
}

@test "agq-pr poll: 304 leaves a record alone, a PR merged on the forge moves it to merged/ (event merge, source forge), a closed one to closed/" {
	origin
	forge_conf github o/p
	branch b1 b.txt bee
	record c1 b1
	local p1=$PRID
	forge_pr
	branch b2 c.txt cee
	record c2 b2
	local p2=$PRID
	forge_pr
	run --separate-stderr agq-pr poll --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r '[.[].state] | join(" ")')" = "open open" ]
	jq_is "$AGQ_SPOOL/prs/open/$p1.json" '.etag | length > 0' true
	# asked again: 304 with the record's etag
	run --separate-stderr agq-pr poll --json
	[ "$(echo "$output" | jq -r '[.[].state] | join(" ")')" = "unchanged unchanged" ]
	jq -r 'select(.path == "/repos/o/p/pulls/1") | .headers["If-None-Match"]' "$WORK/ffreq" | tail -1 |
	    grep -qx "$(jq -r .etag "$AGQ_SPOOL/prs/open/$p1.json")"
	# merged and closed on the forge
	python3 -c 'import sys, urllib.request as u; [u.urlopen(u.Request(sys.argv[1] + p, method="POST")) for p in ("/_merge/o/p/1", "/_close/o/p/2")]' \
	    "http://127.0.0.1:$PORT"
	run --separate-stderr agq-pr poll
	[ "$status" -eq 0 ]
	[[ "$output" == *"$p1	merged	"* ]]
	[[ "$output" == *"$p2	closed"* ]]
	jq_is "$AGQ_SPOOL/prs/merged/$p1.json" '.merged.by + " " + (.merged.method | tostring)' "forge null"
	jq_is "$AGQ_SPOOL/prs/closed/$p2.json" .task c2
	run jq -c 'select(.ev == "merge") | [.id, .pr, .source, .method]' "$AGQ_SPOOL/journal"
	[ "$output" = "[\"c1\",\"$p1\",\"forge\",null]" ]
	run jq -c 'select(.ev == "pr_close") | [.id, .pr, .source]' "$AGQ_SPOOL/journal"
	[ "$output" = "[\"c2\",\"$p2\",\"forge\"]" ]
	# nothing open with a number: nothing asked
	run --separate-stderr agq-pr poll --json
	[ "$output" = "[]" ]
}

@test "agq-sched runs agq-pr poll every pr_poll seconds when a forge is set" {
	origin
	forge_conf github o/s
	echo "pr_poll = 1" >> "$AGQ_CONF"
	branch b1 b.txt bee
	record c1 b1
	forge_pr
	python3 -c 'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], method="POST"))' \
	    "http://127.0.0.1:$PORT/_merge/o/s/1"
	start_sched
	wait_for 30 test -e "$AGQ_SPOOL/prs/merged/$PRID.json"
}

# forge_ends STATE FIELDS1 FIELDS2: two coder tasks with the JSON members
# FIELDS1 and FIELDS2 waiting in STATE with their PRs open on the forge
# stand-in; someone merges the first and closes the second there; both
# waited for to end (done, dead).  Their ids in T1 T2, PR records P1 P2.
forge_ends() {
	origin
	forge_conf github o/s
	echo "pr_poll = 1" >> "$AGQ_CONF"
	start_sched
	start_agent a1
	T1=$(printf '%s\n' '{"title":"One","cmd":"echo 1 > one.txt","git":{"repo":"'"$WORK/origin.git"'"},'"$2"'}' | agq-submit)
	T2=$(printf '%s\n' '{"title":"Two","cmd":"echo 2 > two.txt","git":{"repo":"'"$WORK/origin.git"'"},'"$3"'}' | agq-submit)
	wait_for 30 is_state "$T1" "$1"
	wait_for 30 is_state "$T2" "$1"
	local n1 n2
	P1=$(jq -r .pr "$AGQ_SPOOL/$1/$T1.json")
	P2=$(jq -r .pr "$AGQ_SPOOL/$1/$T2.json")
	n1=$(jq -r .number "$AGQ_SPOOL/prs/open/$P1.json")
	n2=$(jq -r .number "$AGQ_SPOOL/prs/open/$P2.json")
	[ "$n1" -ge 1 ] && [ "$n2" -ge 1 ]
	python3 -c 'import sys, urllib.request as u; [u.urlopen(u.Request(sys.argv[1] + p, method="POST")) for p in sys.argv[2:]]' \
	    "http://127.0.0.1:$PORT" "/_merge/o/s/$n1" "/_close/o/s/$n2"
	wait_for 30 is_state "$T1" done
	wait_for 30 is_state "$T2" dead
	jq_is "$AGQ_SPOOL/done/$T1.json" .reason "pull request $P1 merged"
	jq_is "$AGQ_SPOOL/dead/$T2.json" .reason "pull request $P2 closed unmerged on the forge"
}

@test "a task in review/ whose pull request is merged on the forge ends done; one closed there ends dead" {
	forge_ends review '"review":{}' '"review":{}'
}

@test "a task in approval/ (approval before_merge) whose pull request is merged on the forge ends done; one closed there ends dead" {
	forge_ends approval '"approval":"before_merge","merge":"on-approval"' '"approval":"before_merge"'
	# no merge task was queued, and the moves are journaled by agq-sched
	[ -z "$(find "$AGQ_SPOOL" -name "$T1-m1.json")" ]
	[ "$(agq-journal --id "$T1" --ev done | jq -r '"\(.to) \(.by)"')" = "done agq-sched" ]
	[ "$(agq-journal --id "$T2" --ev dead | jq -r '"\(.to) \(.by) \(.agent)"')" = "dead agq-sched a1" ]
	agq-fsck
}

@test "through the forge with verify steps: they run on the head merged with the current base first; failing, the forge is never asked to merge; passing, it is" {
	forge_c1
	# first a check that fails (b.txt holds "bee"), then one that passes
	# on the merged tree (b.txt from the branch, a.txt from main)
	merge_task c1-m1 c1 merge 'test "$(cat b.txt)" = cee'
	wait_for 30 is_state c1-m1 dead
	[[ "$(jq -r .reason "$AGQ_SPOOL/dead/c1-m1.json")" == "verify failed on the merge: "* ]]
	[ -z "$(jq -c 'select(.method == "PUT")' "$WORK/ffreq")" ]
	[ -f "$AGQ_SPOOL/prs/open/$PRID.json" ]
	merge_task c1-m2 c1 merge 'test "$(cat b.txt)" = bee && test -f a.txt && git rev-parse HEAD'
	wait_for 30 is_state c1-m2 done
	[ "$(jq -c 'select(.method == "PUT") | .path' "$WORK/ffreq")" = '"/repos/o/r/pulls/1/merge"' ]
	jq_is "$AGQ_SPOOL/out/c1-m2/result.json" .verify.status pass
	[ -f "$AGQ_SPOOL/prs/merged/$PRID.json" ]
}

# push_to BRANCH FILE TEXT SUBJECT: a person's commit writing TEXT to
# FILE on the origin's BRANCH (git(1), the work clone), pushed.
push_to() {
	git -C "$WORK/w" fetch -q origin
	git -C "$WORK/w" checkout -q -B "$1" "origin/$1"
	echo "$3" > "$WORK/w/$2"
	git -C "$WORK/w" add "$2"
	git -C "$WORK/w" commit -qm "$4"
	git -C "$WORK/w" push -q origin "$1"
}

@test "through the forge without verify steps: its 409 for a push after the approval starts a new review round at the branch's tip, one that does not count toward max_rounds" {
	origin
	forge_conf github o/h
	# the stand-in sees the origin's branches: it answers 409 as GitHub
	# does when the sha to merge is not the branch's tip
	echo "$WORK/origin.git" > "$WORK/ffreq.origin"
	start_sched
	start_agent a1
	local id f prid br h1 h2
	id=$(printf '%s\n' '{"title":"One","cmd":"echo 1 > one.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{},"merge":"on-approval"}' | agq-submit)
	wait_for 30 is_state "$id" review
	f="$AGQ_SPOOL/review/$id.json"
	prid=$(jq -r .pr "$f")
	h1=$(jq -r .head "$f")
	br=$(jq -r .branch "$AGQ_SPOOL/prs/open/$prid.json")
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" .number 1
	# someone pushes to the PR's branch; then a person approves what
	# they saw (h1)
	push_to "$br" late.txt late "a late push"
	h2=$(git -C "$WORK/w" rev-parse HEAD)
	agq-pr approve "$id"
	wait_for 30 jq_is "$f" .round 2
	jq_is "$f" .head "$h2"
	jq_is "$f" .head_rounds 1
	[ "$(jq -c 'select(.method == "PUT") | .body.sha' "$WORK/ffreq")" = "\"$h1\"" ]
	[[ "$(jq -r .reason "$AGQ_SPOOL/dead/$id-m1.json")" == "head moved: $br is at $h2, not $h1 (github answered 409: Head branch was modified"* ]]
	[ "$(agq-journal --id "$id" --ev review_wait | jq -r .reason | tail -1)" = "head moved to $h2: reviewed again" ]
	# changes asked in that round: max_rounds 2 is not spent yet
	agq-pr request-changes "$id" -m "one more"
	wait_for 30 test -n "$(agq-journal --id "$id" --ev review_changes)"
	[ "$(agq-journal --id "$id" --ev review_changes | jq -r '"\(.from_round) \(.round) \(.to)"')" = "2 3 queue" ]
}

@test "merge_method rebase after the conflict iteration: the branch's merge of main is folded with the commits before it into one commit on main, linear, the later commits replayed" {
	origin
	start_sched
	start_agent a1
	local id f prid br
	# the coder changes a.txt; on its conflict iteration it resolves the
	# markers to "resolved"
	id=$(jq -n --arg repo "$WORK/origin.git" '{title: "Edit a", cmd:
	    "if grep -q \"^<<<<<<<\" a.txt; then echo resolved > a.txt; else echo branch side > a.txt; fi",
	    git: {repo: $repo}, review: {}, merge: "on-approval",
	    merge_method: "rebase"}' | agq-submit)
	wait_for 30 is_state "$id" review
	f="$AGQ_SPOOL/review/$id.json"
	prid=$(jq -r .pr "$f")
	br=$(jq -r .branch "$AGQ_SPOOL/prs/open/$prid.json")
	# main moves under it, on the same line
	git -C "$WORK/w" checkout -q main
	echo "main side" > "$WORK/w/a.txt"
	git -C "$WORK/w" commit -qam "main moves"
	git -C "$WORK/w" push -q origin main
	agq-pr approve "$id"
	wait_for 30 jq_is "$f" .round 2          # the conflict iteration ran
	[ "$(git -C "$WORK/origin.git" log -1 --format=%P "$br" | wc -w)" -eq 2 ]
	# a person's commit after it, replayed as it is
	push_to "$br" extra.txt extra "an extra file"
	agq-pr approve "$id"                    # round 2, at the old head:
	wait_for 30 jq_is "$f" .round 3          # head moved, reviewed again
	agq-pr approve "$id"
	wait_for 60 is_state "$id" done
	# main: linear, its first parent chain all of it, no merge commit
	[ -z "$(git -C "$WORK/origin.git" log --merges --format=%H main)" ]
	[ "$(git -C "$WORK/origin.git" log --format=%s main | tr '\n' '|')" = "an extra file|Edit a|main moves|init|" ]
	[ "$(git -C "$WORK/origin.git" show main:a.txt)" = resolved ]
	[ "$(git -C "$WORK/origin.git" show main:extra.txt)" = extra ]
	git -C "$WORK/origin.git" log -1 --format=%B main | grep -qx "Agq-PR: $prid"
	git -C "$WORK/origin.git" log -1 --format=%B main~1 | grep -q "^Rebased by agq: the branch's 2 commits up to .*, its merge of main, made one commit on main.$"
	git -C "$WORK/origin.git" log -1 --format=%B main~1 | grep -v "^$" | tail -1 | grep -qx "Agq-Task: $id"
	[ "$(git -C "$WORK/origin.git" log -1 --format=%an main~1)" = Bot ]
}
