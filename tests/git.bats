#!/usr/bin/env bats
# agq-git and agq-pr as a user runs them (issue 16): a worktree and a
# branch per task from a local bare origin, status, finish (commit, push,
# PR record), a patch, gc, and the PR records.  git(1) only sets up and
# inspects.

load helper
bats_require_minimum_version 1.5.0

# origin: a bare repository $WORK/origin.git whose main has a.txt.
origin() {
	mkdir -p "$WORK/src"
	printf 'one\ntwo\nthree\n' > "$WORK/src/a.txt"
	printf 'build/\n' > "$WORK/src/.gitignore"
	git_origin
}

@test "agq-git start-task: a locked worktree on AGENT/SLUG from origin/main, a suffix when taken, reused on retry" {
	origin
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" \
	    --agent claude --slug "Fix the typo!" --task t1
	[ "$status" -eq 0 ]
	local dir=${output%%$'\t'*} br=${output#*$'\t'}
	[ "$br" = claude/fix-the-typo ]
	[[ "$dir" == "$AGQ_SPOOL.work/"*".trees/t1" ]]
	[ "$(git -C "$dir" rev-parse HEAD)" = "$(git -C "$WORK/origin.git" rev-parse main)" ]
	[ "$(git -C "$dir" symbolic-ref --short HEAD)" = claude/fix-the-typo ]
	git -C "$dir" worktree list --porcelain | grep -q '^locked agq task t1'
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" \
	    --agent claude --slug "Fix the typo!" --task t2
	[ "$status" -eq 0 ]
	[ "${output#*$'\t'}" = claude/fix-the-typo-2 ]
	[ "${output%%$'\t'*}" != "$dir" ]
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" \
	    --agent claude --slug "Fix the typo!" --task t1 --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.path + " " + .branch + " " + (.reused|tostring)' <<<"$output")" = "$dir claude/fix-the-typo true" ]
}

@test "agq-git start-task: a missing repository or base branch is a clear error" {
	origin
	run --separate-stderr agq-git start-task --repo "$WORK/nothing.git" --slug x
	[ "$status" -eq 1 ]
	[[ "$stderr" == "agq-git: cannot start the task: cannot fetch "* ]]
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug x --base dev
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no base branch dev on $WORK/origin.git"* ]]
	run agq-git start-task --slug x
	[ "$status" -eq 64 ]
}

@test "agq-git status and finish: commit (ignored files left out, trailer, author), push, PR record; no changes is an error" {
	origin
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" \
	    --agent a --slug "Add b" --task t1
	local dir=${output%%$'\t'*}
	echo b > "$dir/b.txt"
	mkdir "$dir/build" && echo o > "$dir/build/o"
	run --separate-stderr agq-git status "$dir" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.branch, .task, .base, .ahead, .uncommitted, .locked] | map(tostring) | join(" ")' <<<"$output")" = "a/add-b t1 main 0 1 true" ]
	cd "$dir"
	run --separate-stderr agq-git finish --title "Add b.txt" --summary "checks: passed"
	[ "$status" -eq 0 ]
	local prid sha
	IFS=$'\t' read -r prid _ sha <<<"$output"
	[ "$(git -C "$WORK/origin.git" rev-parse a/add-b)" = "$sha" ]
	[ "$(git -C "$WORK/origin.git" log -1 --format='%an <%ae>|%s' a/add-b)" = "Bot <bot@example.org>|Add b.txt" ]
	git -C "$WORK/origin.git" log -1 --format=%B a/add-b | grep -qx 'Agq-Task: t1'
	[ "$(git -C "$WORK/origin.git" show --name-only --format= a/add-b)" = b.txt ]
	[ -f "$AGQ_SPOOL/prs/open/$prid.json" ]
	[ "$(jq -r '.task + " " + .branch + " " + .head + " " + .base' "$AGQ_SPOOL/prs/open/$prid.json")" = "t1 a/add-b $sha main" ]
	run agq-git status
	[[ "$output" == *"base        origin/main: 1 ahead, 0 behind"* ]]
	[[ "$output" == *"uncommitted 0"* ]]
	# nothing new on a branch whose commit is pushed: finish again is
	# the same finish (a retry after a crash), one record
	run --separate-stderr agq-git finish
	[ "$status" -eq 0 ]
	[ "${output%%$'\t'*}" = "$prid" ]
	# a second finish of the branch with a new change keeps the one record
	echo c > c.txt
	run --separate-stderr agq-git finish --title again
	[ "$status" -eq 0 ]
	[ "${output%%$'\t'*}" = "$prid" ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 1 ]
	# one pr_open event for the one record, commits and pushes journaled
	[ "$(grep -c '"ev":"pr_open"' "$AGQ_SPOOL/journal")" -eq 1 ]
	[ "$(grep -c '"ev":"commit"' "$AGQ_SPOOL/journal")" -eq 2 ]
	[ "$(grep -c '"ev":"push"' "$AGQ_SPOOL/journal")" -eq 3 ]
}

@test "agq-git finish: no change at all on a new branch is an error" {
	origin
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug s --task t1
	local dir=${output%%$'\t'*}
	run --separate-stderr agq-git finish "$dir"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "agq-git: cannot finish: no changes ("* ]]
	[ -z "$(ls "$AGQ_SPOOL/prs/open")" ]
}

@test "agq-git finish: a push the origin rejects says why" {
	origin
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug s --task t1
	local dir=${output%%$'\t'*} br=${output#*$'\t'}
	echo x > "$dir/x"
	agq-git finish "$dir"
	git clone -q "$WORK/origin.git" "$WORK/other"
	git -C "$WORK/other" checkout -q "$br"
	echo y > "$WORK/other/y" && git -C "$WORK/other" add y &&
	    git -C "$WORK/other" commit -qm y && git -C "$WORK/other" push -q origin "$br"
	echo z > "$dir/z"
	run --separate-stderr agq-git finish "$dir"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "agq-git: cannot push: push rejected: "*"not present locally"* ]]
}

@test "agq-git apply: a patch applies; one that does not says libgit2's reason" {
	origin
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug p --task t1
	local dir=${output%%$'\t'*}
	printf 'diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n' > "$WORK/good.diff"
	sed 's/two/zwei/' "$WORK/good.diff" > "$WORK/bad.diff"
	agq-git apply "$dir" "$WORK/good.diff"
	[ "$(sed -n 2p "$dir/a.txt")" = TWO ]
	git -C "$dir" checkout -q a.txt
	run --separate-stderr agq-git apply "$dir" "$WORK/bad.diff"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"patch does not apply: "* ]]
	[ "$(sed -n 2p "$dir/a.txt")" = two ]
}

@test "agq-git gc: removes the worktrees of finished tasks, never a running one's; rm refuses a locked tree" {
	origin
	agq-submit -q --id done1 -- true
	mv "$AGQ_SPOOL/queue/normal/done1.json" "$AGQ_SPOOL/done/"
	agq-submit -q --id run1 -- true
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug d --task done1
	local d1=${output%%$'\t'*}
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug r --task run1
	local r1=${output%%$'\t'*}
	run --separate-stderr agq-git rm "$r1"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"worktree locked: agq task run1"* ]]
	run --separate-stderr agq-git gc --dry-run
	[ "$status" -eq 0 ]
	[ "$output" = "would remove $d1	done1	done" ]
	[ -d "$d1" ]
	run --separate-stderr agq-git gc --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[] | select(.removed) | .task' <<<"$output")" = done1 ]
	[ ! -e "$d1" ] && [ -d "$r1" ]
	# the branch stays in the clone
	git -C "$(dirname "$d1")/../$(basename "$(dirname "$d1")" .trees).git" rev-parse -q --verify agq/d
}

@test "agq-pr: ls, show by PR id and by task id, merged and reopen by rename" {
	origin
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug "Doc fix" --task t1
	local dir=${output%%$'\t'*}
	echo d > "$dir/d"
	run --separate-stderr agq-git finish "$dir" --title "Doc fix"
	local prid=${output%%$'\t'*}
	run --separate-stderr agq-pr ls
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf '%-19s %-6s %-12s %-32s %s' ID STATE HEAD BRANCH TITLE)" ]
	[[ "${lines[1]}" == "$prid open   "*" agq/doc-fix"*"Doc fix" ]]
	run --separate-stderr agq-pr show t1 --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.id + " " + .state + " " + (.url|tostring) + " " + (.number|tostring)' <<<"$output")" = "$prid open null null" ]
	run --separate-stderr agq-pr show "$prid"
	[[ "$output" == *"branch     agq/doc-fix"* ]]
	agq-pr merged "$prid"
	[ -f "$AGQ_SPOOL/prs/merged/$prid.json" ] && [ ! -e "$AGQ_SPOOL/prs/open/$prid.json" ]
	run agq-pr ls --state open --json
	[ "$output" = "[]" ]
	run agq-pr ls --state merged --json
	[ "$(jq -r '.[0].state' <<<"$output")" = merged ]
	run agq-pr ls --state closed,merged --json
	[ "$(jq -r 'map(.state) | join(" ")' <<<"$output")" = merged ]
	run agq-pr ls --state open --state closed --json
	[ "$output" = "[]" ]
	run agq-pr ls --state open,weird
	[ "$status" -eq 64 ]
	agq-pr reopen "$prid"
	[ -f "$AGQ_SPOOL/prs/open/$prid.json" ]
	run --separate-stderr agq-pr show nothing
	[ "$status" -eq 66 ]
	run agq-pr ls --state weird
	[ "$status" -eq 64 ]
}

@test "agq-git start-task: four at once on one origin and one slug get four branches and four trees" {
	origin
	local i
	for i in 1 2 3 4; do
		agq-git start-task --repo "$WORK/origin.git" --slug same --task "c$i" \
		    > "$WORK/out$i" 2>&1 &
	done
	wait
	cat "$WORK"/out*
	[ "$(cut -f2 "$WORK"/out* | sort -u | wc -l)" -eq 4 ]
	[ "$(cut -f1 "$WORK"/out* | sort -u | wc -l)" -eq 4 ]
	[ "$(cut -f2 "$WORK"/out* | sort | tr '\n' ' ')" = "agq/same agq/same-2 agq/same-3 agq/same-4 " ]
}

@test "agq-git status: a directory that is not a git work tree exits 66" {
	run --separate-stderr agq-git status "$WORK"
	[ "$status" -eq 66 ]
	[[ "$stderr" == "agq-git: cannot read the status: not a git work tree: "*"($WORK)" ]]
}

@test "agq-git gc: the clone of a local origin that is gone goes once no worktree is left; one whose origin is there stays" {
	origin
	git clone -q --bare "$WORK/src" "$WORK/other.git"
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" --slug s --task t1
	local dir=${output%%$'\t'*}
	agq-git start-task --repo "$WORK/other.git" --slug s --task t2 >/dev/null
	rm -rf "$WORK/origin.git"
	# its worktree is locked and no task owns it: not an orphan, the clone stays
	run --separate-stderr agq-git gc --dry-run --json
	[ "$(jq 'map(select(.origin)) | length' <<<"$output")" -eq 0 ]
	agq-git rm --force "$dir"
	run --separate-stderr agq-git gc --dry-run --json
	[ "$(jq -r 'map(select(.origin)) | .[0].origin' <<<"$output")" = "$WORK/origin.git" ]
	[ "$(ls -d "$AGQ_SPOOL.work"/origin-*.git | wc -l)" -eq 1 ]
	run --separate-stderr agq-git gc --json
	[ "$status" -eq 0 ]
	[ "$(jq -r 'map(select(.origin)) | .[0].removed' <<<"$output")" = true ]
	[ -z "$(ls -d "$AGQ_SPOOL.work"/origin-* 2>/dev/null | grep -v '\.lock$')" ]
	ls -d "$AGQ_SPOOL.work"/other-*.git
}

# hooked_task [VERIFY]: a task (its id in $id) with the verify step VERIFY
# and its worktree ($dir, branch $br) from origin, with agq's hooks
# installed into the clone.
hooked_task() {
	origin
	id=$(agq-submit --title "Add h" ${1:+--verify "$1"} -- true)
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" \
	    --slug "Add h" --task "$id"
	dir=${output%%$'\t'*} br=${output#*$'\t'}
}

@test "agq-git install-hooks: git push of a task's branch runs agq-verify on its steps and is refused while they fail" {
	hooked_task 'test -f ok'
	run --separate-stderr agq-git install-hooks --repo "$dir"
	[ "$status" -eq 0 ]
	local hooks
	hooks=$(cd "$dir" && cd "$(git rev-parse --git-common-dir)" && pwd)/hooks
	[ "${lines[0]}" = "installed $hooks/pre-push" ]
	[ "${lines[1]}" = "installed $hooks/post-commit.sample" ]
	[ -x "$hooks/pre-push" ] && [ ! -e "$hooks/post-commit" ]
	grep -qF "$AGQ_TEST_BIN/agq-verify" "$hooks/pre-push"
	run --separate-stderr agq-git branch-task "$br" --repo "$dir"
	[ "$output" = "$id"$'\t'"$AGQ_SPOOL/queue/normal/$id.json" ]
	cd "$dir"
	echo h > h.txt && git add h.txt && git commit -qm "Add h"
	# the step fails: git(1) runs the hook and does not push
	run git push origin "$br"
	[ "$status" -ne 0 ]
	[[ "$output" == *"agq pre-push: verifying task $id before pushing $br"* ]]
	[[ "$output" == *"agq pre-push: task $id: verification failed, not pushing $br"* ]]
	run git -C "$WORK/origin.git" rev-parse --verify -q "refs/heads/$br"
	[ "$status" -ne 0 ]
	# it passes: pushed
	touch ok
	run git push origin "$br"
	[ "$status" -eq 0 ]
	[ "$(git -C "$WORK/origin.git" rev-parse "$br")" = "$(git rev-parse HEAD)" ]
	# a branch that is no task's is not looked at
	git checkout -q -b mine && git push -q origin mine
	# reinstalling rewrites agq's own hooks
	run --separate-stderr agq-git install-hooks --json
	[ "$(jq -r 'map(.state) | join(" ")' <<<"$output")" = "replaced replaced" ]
	# a task that is gone refuses the push
	rm "$AGQ_SPOOL/queue/normal/$id.json"
	git checkout -q "$br" && echo i > i.txt && git add i.txt && git commit -qm i
	run git push origin "$br"
	[ "$status" -ne 0 ]
	[[ "$output" == *"task $id of branch $br is not in the spool"* ]]
}

@test "agq-git install-hooks: never overwrites a hook agq did not write; core.hooksPath; --submit-sample submits a task per commit" {
	hooked_task
	local hooks
	hooks=$(cd "$dir" && cd "$(git rev-parse --git-common-dir)" && pwd)/hooks
	printf '#!/bin/sh\necho mine\n' > "$hooks/pre-push"
	run --separate-stderr agq-git install-hooks --repo "$dir" --submit-sample
	[ "$status" -eq 1 ]
	[ "$stderr" = "agq-git: cannot install the hooks: pre-push exists and agq did not write it ($hooks/pre-push): nothing written" ]
	[ "$(cat "$hooks/pre-push")" = $'#!/bin/sh\necho mine' ]
	[ ! -e "$hooks/post-commit" ]
	ln -sf /dev/null "$hooks/post-commit"
	rm "$hooks/pre-push"
	run --separate-stderr agq-git install-hooks --repo "$dir" --submit-sample
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"post-commit exists and agq did not write it"* ]]
	[ -L "$hooks/post-commit" ] && [ ! -e "$hooks/pre-push" ]
	rm "$hooks/post-commit"
	# core.hooksPath, relative: from the top of the work tree
	git -C "$dir" config core.hooksPath .githooks
	run --separate-stderr agq-git install-hooks --repo "$dir/" --submit-sample
	[ "$status" -eq 0 ]
	[ -x "$dir/.githooks/pre-push" ] && [ -x "$dir/.githooks/post-commit" ]
	[ ! -e "$hooks/pre-push" ]
	# git runs the post-commit hook: a task is submitted for the commit
	cd "$dir"
	echo p > p.txt && git add p.txt && AGQ_HOOK_CMD='test -f p.txt' git commit -qm "Add p"
	run agq-ls --json
	local short
	short=$(git rev-parse --short HEAD)
	[ "$(jq -r --arg t "post-commit $short: test -f p.txt" 'select(.title == $t) | .id' <<<"$output" | wc -l)" = 1 ]
	# absolute core.hooksPath
	git config core.hooksPath "$WORK/hooks"
	run --separate-stderr agq-git install-hooks
	[ "$status" -eq 0 ]
	[ -x "$WORK/hooks/pre-push" ] && [ -f "$WORK/hooks/post-commit.sample" ]
	run --separate-stderr agq-git install-hooks --repo "$WORK/nothing"
	[ "$status" -eq 66 ]
}

@test "agq-show: the chain of a task run with --git (worktree, commit, push, PR record), in text and --json; nothing new without git" {
	origin
	start_sched
	start_agent a1
	cd "$WORK"
	local id plain
	id=$(agq-submit --title "Add b" --git origin.git -- \
	    sh -c 'echo b > b.txt && printf "one\nTWO\nthree\nfour\n" > a.txt')
	plain=$(agq-submit -- true)
	wait_for 30 is_state "$id" done
	wait_for 30 is_state "$plain" done
	local br=a1/add-b sha base path prid
	sha=$(git -C origin.git rev-parse "$br")
	base=$(git -C origin.git rev-parse main)
	path=$(grep '"ev":"worktree"' "$AGQ_SPOOL/journal" | jq -r .path)
	prid=$(grep '"ev":"pr_open"' "$AGQ_SPOOL/journal" | jq -r .pr)
	run --separate-stderr agq-show "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\n'"git:    worktree $path (branch $br from main@${base:0:7})"$'\n'* ]]
	[[ "$output" == *$'\n'"        commit   ${sha:0:7}: 2 files, +3 -1"$'\n'* ]]
	[[ "$output" == *$'\n'"        push     $br at ${sha:0:7} to $WORK/origin.git"$'\n'* ]]
	[[ "$output" == *$'\n'"        pr       $prid open, no forge"$'\n'* ]]
	run --separate-stderr agq-show --json "$id"
	[ "$(jq -c '.git | [.worktrees[0].branch, .worktrees[0].reused, .commits[0].sha, .commits[0].files, .pushes[0].sha, .pr_open.pr, .pr.id, .pr.state, .pr.url]' <<<"$output")" = \
	    "[\"$br\",false,\"$sha\",2,\"$sha\",\"$prid\",\"$prid\",\"open\",null]" ]
	# agq-stats counts it: one PR opened, by one task whose cost no run
	# reported (a cmd task): unknown, null
	run --separate-stderr agq-stats --json
	[ "$(jq -c '.prs | [.opened, .tasks, .by_state.open, .per_pr.cost_usd]' <<<"$output")" = "[1,1,1,null]" ]
	# the state and URL shown are the record's now, not the event's
	agq-pr merged "$prid"
	jq '.url = "https://example.invalid/o/app/pull/7" | .number = 7' \
	    "$AGQ_SPOOL/prs/merged/$prid.json" > "$WORK/r"
	mv "$WORK/r" "$AGQ_SPOOL/prs/merged/$prid.json"
	run --separate-stderr agq-show "$id"
	[[ "$output" == *$'\n'"        pr       $prid merged, https://example.invalid/o/app/pull/7"$'\n'* ]]
	# a retry that continued on its branch shows the branch's tip
	printf '{"ts":"2030-01-01T00:00:00.000000Z","ev":"worktree","id":"%s","branch":"%s","base":"main","head":"%s","path":"%s","reused":true}\n' \
	    "$id" "$br" "$sha" "$path" >> "$AGQ_SPOOL/journal"
	run --separate-stderr agq-show "$id"
	[[ "$output" == *$'\n'"        worktree $path (branch $br at ${sha:0:7}, reused)"$'\n'* ]]
	# a task without git work: nothing new
	run --separate-stderr agq-show "$plain"
	[ "$status" -eq 0 ]
	[[ "$output" != *"git:"* ]]
	run --separate-stderr agq-show --json "$plain"
	[ "$(jq 'has("git")' <<<"$output")" = false ]
}
