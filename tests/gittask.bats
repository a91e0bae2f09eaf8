#!/usr/bin/env bats
# Tasks with git run by agq-run (issue 16): agq-submit --git, a worktree
# and branch per task made when the task starts, setup and cleanup in it,
# then commit, push and the PR record, each journaled; no change at all
# fails the attempt; a retry continues on its branch.  git(1) only sets up
# and inspects.

load helper
bats_require_minimum_version 1.5.0

# origin: a bare repository $WORK/origin.git whose main has a.txt and a
# directory sub/.
origin() {
	mkdir -p "$WORK/src/sub"
	printf 'teh one\ntwo\n' > "$WORK/src/a.txt"
	echo s > "$WORK/src/sub/s.txt"
	printf 'node_modules/\n' > "$WORK/src/.gitignore"
	git_origin
}

# the value of FILTER over the journal events EV of task ID
jev() { grep "\"ev\":\"$2\"" "$AGQ_SPOOL/journal" | grep "\"id\":\"$1\"" | jq -r "$3"; }

@test "a cmd task with --git: its own worktree and branch, committed, pushed and a PR record; worktree removed" {
	origin
	start_sched
	start_agent a1
	cd "$WORK"
	run --separate-stderr agq-submit --title "Fix the typo" --verify "! grep -q teh a.txt" \
	    --git origin.git -- sed -i s/teh/the/ a.txt
	[ "$status" -eq 0 ]
	local id=$output
	wait_for 30 is_state "$id" done
	# the relative origin was made absolute, and no cwd was set
	jq_is "$AGQ_SPOOL/done/$id.json" .git.repo "$WORK/origin.git"
	jq_is "$AGQ_SPOOL/done/$id.json" .cwd null
	local br=a1/fix-the-typo
	[ "$(git -C origin.git show "$br:a.txt" | head -1)" = "the one" ]
	[ "$(git -C origin.git show main:a.txt | head -1)" = "teh one" ]
	[ "$(git -C origin.git log -1 --format='%an|%s' "$br")" = "Bot|Fix the typo" ]
	git -C origin.git log -1 --format=%B "$br" | grep -qx "Agq-Task: $id"
	git -C origin.git log -1 --format=%B "$br" | grep -q "^Verification: pass (1 passed, 0 failed)"
	# the chain in the journal, in order, with the same sha
	local sha
	sha=$(git -C origin.git rev-parse "$br")
	[ "$(jev "$id" worktree .branch)" = "$br" ]
	[ "$(jev "$id" commit .sha)" = "$sha" ]
	[ "$(jev "$id" commit '.files|tostring')" = 1 ]
	[ "$(jev "$id" push .sha)" = "$sha" ]
	[ "$(jev "$id" pr_open .sha)" = "$sha" ]
	run jq -r 'select(.id=="'"$id"'") | .ev' "$AGQ_SPOOL/journal"
	[[ "$(echo $output)" == *"start worktree commit push pr_open finish done" ]]
	# the PR record, and the attempt's git
	local prid
	prid=$(jev "$id" pr_open .pr)
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" '.task + " " + .branch + " " + .head' "$id $br $sha"
	jq_is "$AGQ_SPOOL/done/$id.json" '.attempts[-1].git.branch + " " + .attempts[-1].git.pr' "$br $prid"
	jq_is "$AGQ_SPOOL/out/$id/result.json" '.git.head' "$sha"
	# the worktree is gone (pushed and done); the branch stays in the clone
	[ ! -e "$(jev "$id" worktree .path)" ]
	run agq-git gc --dry-run --json
	[ "$output" = "[]" ] || [ -z "$output" ]
}

@test "two tasks on one origin get two branches and two worktrees; setup and cleanup run in the worktree; cwd is inside it" {
	origin
	start_sched
	start_agent a1 --slots 2
	cd "$WORK"
	local id1 id2
	id1=$(agq-submit --title same --git "$WORK/origin.git" --setup 'mkdir node_modules && echo dep > node_modules/d' \
	    --cleanup 'echo cleaned > "$AGQ_OUT/cleaned"' -- sh -c 'test -f node_modules/d && echo one > one.txt')
	id2=$(agq-submit --title same --git "$WORK/origin.git#main" -C sub -- sh -c 'pwd > "$AGQ_OUT/pwd"; echo two > s.txt')
	wait_for 30 is_state "$id1" done
	wait_for 30 is_state "$id2" done
	local b1 b2
	b1=$(jev "$id1" worktree .branch)
	b2=$(jev "$id2" worktree .branch)
	[ "$b1" != "$b2" ]
	[[ "$b1 $b2" == *"a1/same"*"a1/same-2"* ]] || [[ "$b1 $b2" == *"a1/same-2"*"a1/same"* ]]
	[ "$(jev "$id1" worktree .path)" != "$(jev "$id2" worktree .path)" ]
	# setup's ignored files are not committed; the change is
	[ "$(git -C origin.git show --name-only --format= "$b1")" = one.txt ]
	[ "$(cat "$AGQ_SPOOL/out/$id1/cleaned")" = cleaned ]
	# the relative cwd is the directory inside the worktree
	[ "$(cat "$AGQ_SPOOL/out/$id2/pwd")" = "$(jev "$id2" worktree .path)/sub" ]
	[ "$(git -C origin.git show "$b2:sub/s.txt")" = two ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 2 ]
}

@test "no change at all fails the attempt with 'no changes'; a failing setup is the reason; a missing repository too" {
	origin
	echo "max_attempts = 1" >/dev/null
	start_sched
	start_agent a1
	cd "$WORK"
	local id
	id=$(agq-submit --max-attempts 1 --git origin.git -- true)
	wait_for 30 is_state "$id" dead
	jq_is "$AGQ_SPOOL/dead/$id.json" .reason "no changes; out of attempts (1 of 1)"
	jq_is "$AGQ_SPOOL/out/$id/agent.json" .status no_changes
	[ -z "$(ls "$AGQ_SPOOL/prs/open")" ]
	[ "$(journal_count push)" -eq 0 ]
	id=$(agq-submit --max-attempts 1 --git origin.git --setup 'exit 3' -- touch x)
	wait_for 30 is_state "$id" dead
	jq_is "$AGQ_SPOOL/dead/$id.json" .reason "setup command 1 (exit 3) exited with status 3; out of attempts (1 of 1)"
	mkdir "$WORK/gone.git"
	id=$(agq-submit --max-attempts 1 --git "$WORK/gone.git" -- touch x)
	rmdir "$WORK/gone.git"
	wait_for 30 is_state "$id" dead
	run jq -r .reason "$AGQ_SPOOL/dead/$id.json"
	[[ "$output" == "cannot fetch "*"gone.git"* ]]
}

@test "a retried task continues on its branch and worktree, and opens one PR" {
	origin
	start_sched
	start_agent a1
	cd "$WORK"
	# attempt 1 writes a file, then fails; attempt 2 finds it and succeeds
	local id
	id=$(agq-submit --backoff 0 --title retry --git origin.git -- sh -c \
	    'if [ -f half ]; then echo done >> half; else echo half > half; exit 1; fi')
	wait_for 60 is_state "$id" done
	[ "$(jq -r '.attempts|length' "$AGQ_SPOOL/done/$id.json")" -eq 2 ]
	[ "$(jev "$id" worktree .reused | tr '\n' ' ')" = "false true " ]
	[ "$(git -C origin.git show a1/retry:half | tr '\n' ' ')" = "half done " ]
	[ "$(journal_count pr_open)" -eq 1 ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 1 ]
}

@test "agq-submit --git: bad input is refused with the field named" {
	origin
	cd "$WORK"
	run --separate-stderr agq-submit --git "$WORK/nothing.git" -- true
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"field git.repo: No such file or directory ($WORK/nothing.git)" ]]
	run --separate-stderr agq-submit --git "origin.git#bad..name" -- true
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--git: not a branch name"* ]]
	run --separate-stderr agq-submit --branch x -- true
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"--branch, --no-pr and --draft go with --git"* ]]
	run --separate-stderr agq-submit <<<'{"cmd":"true","git":{"repo":"'"$WORK"'/origin.git","pr":"yes"}}'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"field git.pr: not true or false"* ]]
	run --separate-stderr agq-submit <<<'{"cmd":"true","git":{"repo":"'"$WORK"'/origin.git","colour":1}}'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"field git.colour: unknown"* ]]
	run --separate-stderr agq-submit <<<'{"cmd":"true","cwd":"/tmp","git":{"repo":"'"$WORK"'/origin.git"}}'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"field cwd: with git, a directory inside the worktree"* ]]
	run --separate-stderr agq-submit <<<'{"cmd":"true","setup":[""]}'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"field setup: not a command"* ]]
	# ssh and https origins are taken as they are
	run --separate-stderr agq-submit -q --git git@example.org:o/r.git --no-pr --draft --branch feat/x -- true
	[ "$status" -eq 0 ]
	run jq -c .git "$(find "$AGQ_SPOOL/queue" -name '*.json' | head -1)"
	[ "$output" = '{"repo":"git@example.org:o/r.git","branch":"feat/x","pr":false,"draft":true}' ]
}

@test "--no-pr pushes the branch and opens no PR record" {
	origin
	start_sched
	start_agent a1
	cd "$WORK"
	local id
	id=$(agq-submit --git origin.git --no-pr --branch feat/one -- sh -c 'echo 1 > one')
	wait_for 30 is_state "$id" done
	[ "$(git -C origin.git show feat/one:one)" = 1 ]
	[ -z "$(ls "$AGQ_SPOOL/prs/open")" ]
	[ "$(journal_count pr_open)" -eq 0 ]
}

@test "agq-git submit: from a clone, a task with git for its origin and the branch it is on" {
	origin
	git clone -q "$WORK/origin.git" "$WORK/clone"
	git -C "$WORK/clone" checkout -q -b dev
	cd "$WORK/clone/sub"
	run --separate-stderr agq-git submit --title "from a clone" -- touch y
	[ "$status" -eq 0 ]
	local f
	f=$(find "$AGQ_SPOOL/queue" -name "$output.json")
	jq_is "$f" '.git.repo + "#" + .git.base' "$WORK/origin.git#dev"
	jq_is "$f" .title "from a clone"
	jq_is "$f" .cwd null
	# the upstream branch wins over the local name; --base over both
	git -C "$WORK/clone" checkout -q main
	git -C "$WORK/clone" branch -q -m main local-main
	run --separate-stderr agq-git -s "$AGQ_SPOOL" submit --repo "$WORK/clone" -q -- true
	[ "$status" -eq 0 ]
	run --separate-stderr agq-git submit --repo "$WORK/clone" --base dev -- true
	f=$(find "$AGQ_SPOOL/queue" -name "$output.json")
	jq_is "$f" .git.base dev
	[ "$(find "$AGQ_SPOOL/queue" -name '*.json' -exec jq -r .git.base {} + | sort | tr '\n' ' ')" = "dev dev main " ]
	# a repository without a remote is its own origin
	run --separate-stderr agq-git submit --repo "$WORK/src" -- true
	f=$(find "$AGQ_SPOOL/queue" -name "$output.json")
	jq_is "$f" .git.repo "$WORK/src"
	run --separate-stderr agq-git submit --repo "$BATS_TEST_TMPDIR" -- true
	[ "$status" -eq 66 ]
	[[ "$stderr" == "agq-git: cannot submit: not a git repository"* ]]
}

@test "agq-git start-task ID: a queued task's worktree by hand, then finish; the agent that runs it later continues on the branch" {
	origin
	cd "$WORK"
	local id
	id=$(agq-submit --title "by hand" --git origin.git -C sub -- sh -c 'echo agent >> s.txt')
	run --separate-stderr agq-git start-task "$id" --json
	[ "$status" -eq 0 ]
	local dir
	dir=$(jq -r .dir <<<"$output")
	[ "$dir" = "$(jq -r .path <<<"$output")/sub" ]
	[ "$(jq -r .branch <<<"$output")" = agq/by-hand ]
	[ "$(jev "$id" worktree .agent)" = agq ]
	echo hand > "$dir/hand.txt"
	start_sched
	start_agent a1
	wait_for 30 is_state "$id" done
	# the agent found the worktree: its change and the one by hand, one commit
	[ "$(git -C origin.git show agq/by-hand:sub/hand.txt)" = hand ]
	[ "$(git -C origin.git show agq/by-hand:sub/s.txt | tail -1)" = agent ]
	[ "$(jev "$id" worktree .reused | tr '\n' ' ')" = "false true " ]
	run --separate-stderr agq-git start-task nosuchtask
	[ "$status" -eq 66 ]
	id=$(agq-submit -- true)
	run --separate-stderr agq-git start-task "$id"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"has no git field"* ]]
}

# githttp TOKEN: a loopback smart-HTTP server of $WORK (fakegithttp.py)
# that needs TOKEN; its port in $GPORT, its requests in $WORK/greq.
githttp() {
	[ -x /usr/lib/git-core/git-http-backend ] || skip "no git-http-backend"
	python3 "$BATS_TEST_DIRNAME/fakegithttp.py" "$WORK/gport" "$WORK/greq" \
	    "$WORK" "$1" 3>&- &
	PIDS+=($!)
	for _ in $(seq 100); do [ -s "$WORK/gport" ] && break; sleep 0.1; done
	GPORT=$(cat "$WORK/gport")
	git -C "$WORK/origin.git" config http.receivepack true
}

@test "an origin over http with git_token_file: fetched and pushed with the token, which goes only to the hosts of git_token_hosts" {
	origin
	githttp s3cret-token
	echo s3cret-token > "$WORK/token"
	echo "git_token_file = $WORK/token" >> "$AGQ_CONF"
	start_sched
	start_agent a1
	local id url="http://127.0.0.1:$GPORT/origin.git"
	# not a listed host: the token is not sent, the fetch fails saying so
	id=$(agq-submit --max-attempts 1 --title t1 --git "$url" -- sh -c 'echo 1 > one')
	wait_for 30 is_state "$id" dead
	run jq -r .reason "$AGQ_SPOOL/dead/$id.json"
	[[ "$output" == "cannot fetch "*"git_token_file is not sent to 127.0.0.1:$GPORT (not in git_token_hosts, or not https)"* ]]
	! grep -q "Authorization" "$WORK/greq"
	# listed: fetched and pushed with it
	echo "git_token_hosts = example.org 127.0.0.1:$GPORT" >> "$AGQ_CONF"
	kill -TERM "$AGENT_PID"
	wait_for 30 sh -c "! kill -0 $AGENT_PID"
	start_agent a2
	id=$(agq-submit --title "over http" --git "$url" -- sh -c 'echo 2 > two')
	wait_for 30 is_state "$id" done
	[ "$(git -C "$WORK/origin.git" show a2/over-http:two)" = 2 ]
	grep -q '"Authorization": "Basic eC1hY2Nlc3MtdG9rZW46czNjcmV0LXRva2Vu"' "$WORK/greq"
	jq_is "$AGQ_SPOOL/prs/open/$(jev "$id" pr_open .pr).json" .repo "$url"
	# the token is in no file of the spool
	! grep -rq s3cret-token "$AGQ_SPOOL"
}
