#!/usr/bin/env bats
# Reviewed and merged (issue 18), the spine: a coder task whose PR is
# open waits in review/; people's verdicts through agq-pr drive it
# (request-changes rounds with AGQ_REVIEW_FEEDBACK, max_rounds, approve);
# approval before_push and before_merge hold it in approval/; deny and
# close end it; agq-sched decides once, whatever restarts; review tasks
# are queued with their fixed ids and never go to the coder's agent.
# Real git repositories with bare origins; cmd tasks as the coders.

load helper
bats_require_minimum_version 1.5.0

origin() {
	mkdir -p "$WORK/src"
	printf 'one\n' > "$WORK/src/a.txt"
	git_origin
}

# submit JSON: the task (one JSON object) submitted; its id printed
submit() {
	printf '%s\n' "$1" | agq-submit
}

# the value of FILTER over the journal events EV of task ID
jev() { grep "\"ev\":\"$2\"" "$AGQ_SPOOL/journal" | grep "\"id\":\"$1\"" | jq -r "$3"; }

# the coder: writes the review feedback it got (or "none") in fb.txt and
# counts its runs in $WORK/runs
CODER='printf "%s\n" "${AGQ_REVIEW_FEEDBACK:-none}" > fb.txt; echo x >> "$RUNS"'

@test "request-changes then approve: two rounds, the second with AGQ_REVIEW_FEEDBACK; no attempt spent" {
	origin
	start_sched
	start_agent a1
	local id
	id=$(submit '{"title":"Edit","cmd":'"$(jq -Rn --arg c "$CODER" '$c')"',"env":{"RUNS":"'"$WORK/runs"'"},"max_attempts":1,"git":{"repo":"'"$WORK/origin.git"'"},"review":{"max_rounds":3}}')
	wait_for 30 is_state "$id" review
	local f="$AGQ_SPOOL/review/$id.json" br prid sha
	jq_is "$f" .round 1
	prid=$(jq -r .pr "$f")
	[[ "$prid" == pr-* ]]
	[ -f "$AGQ_SPOOL/prs/open/$prid.json" ]
	br=$(jq -r .branch "$AGQ_SPOOL/prs/open/$prid.json")
	sha=$(git -C "$WORK/origin.git" rev-parse "$br")
	jq_is "$f" .head "$sha"
	[ "$(jev "$id" review_wait .round)" = 1 ]
	[ "$(jev "$id" review_wait .head)" = "$sha" ]
	[ "$(git -C "$WORK/origin.git" show "$br:fb.txt")" = none ]
	jq_is "$AGQ_SPOOL/out/$id/result.json" .status review
	# a person asks for changes: the next round sees the comment
	run agq-pr request-changes "$id" -m "say please"
	[ "$status" -eq 0 ]
	[[ "$output" == *"request for changes recorded for round 1"* ]]
	ls "$AGQ_SPOOL/reviews/$id/" | grep -q '^1\.user-'
	wait_for 30 jq_is "$AGQ_SPOOL/review/$id.json" .round 2
	git -C "$WORK/origin.git" show "$br:fb.txt" | grep -q "say please"
	git -C "$WORK/origin.git" show "$br:fb.txt" | grep -q "^Review round 1 asked for changes"
	[ "$(journal_count review_changes)" -eq 1 ]
	[ "$(jev "$id" review_changes .round)" = 2 ]
	# the round of changes spent no attempt (max_attempts 1)
	jq_is "$AGQ_SPOOL/review/$id.json" '.previous_attempts | length' 1
	jq_is "$AGQ_SPOOL/review/$id.json" '.attempts | length' 1
	jq_is "$AGQ_SPOOL/review/$id.json" .review_feedback null
	# a person approves, by a PR record id: done, the PR left open
	run agq-pr approve "$prid" -m "good"
	[ "$status" -eq 0 ]
	wait_for 30 is_state "$id" done
	jq_is "$AGQ_SPOOL/done/$id.json" .reason "approved (1 of 1); the pull request $prid stays open"
	[ -f "$AGQ_SPOOL/prs/open/$prid.json" ]
	[ "$(jev "$id" approve .for)" = review ]
	[ "$(jev "$id" approve .uid)" = "$(id -u)" ]
	[ "$(jev "$id" approve .text)" = good ]
	[ "$(grep -c "\"ev\":\"review\",\"id\":\"$id\"" "$AGQ_SPOOL/journal")" -eq 2 ]
	[ "$(wc -l < "$WORK/runs")" -eq 2 ]
	agq-fsck
}

@test "max_rounds reached: dead with the comment as its reason, the PR record still open" {
	origin
	start_sched
	start_agent a1
	local id
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{"max_rounds":1}}')
	wait_for 30 is_state "$id" review
	local prid
	prid=$(jq -r .pr "$AGQ_SPOOL/review/$id.json")
	agq-pr request-changes "${id:0:12}" -m "$(printf 'no\nthanks')"
	wait_for 30 is_state "$id" dead
	jq_is "$AGQ_SPOOL/dead/$id.json" .reason "review: changes requested after 1 round: no thanks"
	[ -f "$AGQ_SPOOL/prs/open/$prid.json" ]
	run agq-wait -q "$id"
	[ "$status" -eq 1 ]
}

@test "approval before_push: nothing on the origin until approved, then pushed without a second run" {
	origin
	start_sched
	start_agent a1
	local id
	id=$(submit '{"title":"Edit","cmd":'"$(jq -Rn --arg c "$CODER" '$c')"',"env":{"RUNS":"'"$WORK/runs"'"},"git":{"repo":"'"$WORK/origin.git"'","branch":"edit"},"approval":"before_push"}')
	wait_for 30 is_state "$id" approval
	jq_is "$AGQ_SPOOL/approval/$id.json" .approval_for push
	[ "$(jev "$id" approval_wait .for)" = push ]
	local head
	head=$(jq -r .head "$AGQ_SPOOL/approval/$id.json")
	[ ${#head} -eq 40 ]
	run git -C "$WORK/origin.git" rev-parse --verify -q edit
	[ "$status" -ne 0 ]
	[ "$(journal_count push)" -eq 0 ]
	run agq-status
	[[ "$output" == *"approval      1"* ]]
	run agq-ls --state approval -q
	[ "$output" = "$id" ]
	# a valid place for agq-fsck; agq-clean leaves it
	agq-fsck
	agq-clean -q --older-than 0
	is_state "$id" approval
	# agq-wait does not take approval/ for an end
	run agq-wait -q --timeout 1 "$id"
	[ "$status" -eq 75 ]
	run agq-pr approve "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"push approved by"* ]]
	wait_for 30 is_state "$id" done
	[ "$(git -C "$WORK/origin.git" rev-parse edit)" = "$head" ]
	[ "$(wc -l < "$WORK/runs")" -eq 1 ]
	[ "$(jev "$id" approve .for)" = push ]
	jq_is "$AGQ_SPOOL/done/$id.json" '.approved | join(",")' push
}

@test "approval before_merge: approval/, then approve queues the merge task PARENT-m1" {
	origin
	start_sched
	start_agent a1
	local id
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"approval":"before_merge","merge":"on-approval","merge_method":"squash","verify":[{"type":"command_succeeds","cmd":"true"}]}')
	wait_for 30 is_state "$id" approval
	kill "$AGENT_PID"       # the merge task is h-merge's to run
	wait "$AGENT_PID" || true
	jq_is "$AGQ_SPOOL/approval/$id.json" .approval_for merge
	[ "$(jev "$id" approval_wait .for)" = merge ]
	run agq-pr approve "$id" -m ship
	[ "$status" -eq 0 ]
	wait_for 30 is_state "$id-m1" queue
	is_state "$id" review
	local m
	m=$(find "$AGQ_SPOOL/queue" -name "$id-m1.json")
	jq_is "$m" '[.kind, .parent, .merge_method, .head, .pr] | join(" ")' \
	    "merge $id squash $(jq -r '.head + " " + .pr' "$AGQ_SPOOL/review/$id.json")"
	jq_is "$m" '.verify | length' 1
	jq_is "$AGQ_SPOOL/review/$id.json" '.approved | join(",")' merge
	[ "$(jev "$id" approve .for)" = merge ]
	# the merge task done: the coder done
	mkdir -p "$AGQ_SPOOL/done"
	mv "$m" "$AGQ_SPOOL/done/"
	wait_for 30 is_state "$id" done
	jq_is "$AGQ_SPOOL/done/$id.json" .reason "merged by $id-m1"
}

@test "deny: dead, denied by the user with the text; close: the record closed and the task dead" {
	origin
	start_sched
	start_agent a1
	local a b
	a=$(submit '{"title":"A","cmd":"echo a >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"approval":"before_push"}')
	b=$(submit '{"title":"B","cmd":"echo b >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	wait_for 30 is_state "$a" approval
	wait_for 30 is_state "$b" review
	run agq-pr deny "$a" -m "not now"
	[ "$status" -eq 0 ]
	is_state "$a" dead
	jq_is "$AGQ_SPOOL/dead/$a.json" .reason "denied by $(id -un): not now"
	[ "$(jev "$a" deny .text)" = "not now" ]
	# deny is for approval/, close for an open PR
	run agq-pr deny "$b"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot deny a task in review/"* ]]
	local prid
	prid=$(jq -r .pr "$AGQ_SPOOL/review/$b.json")
	run agq-pr close "$prid"
	[ "$status" -eq 0 ]
	is_state "$b" dead
	jq_is "$AGQ_SPOOL/dead/$b.json" .reason "pull request closed by $(id -un)"
	[ -f "$AGQ_SPOOL/prs/closed/$prid.json" ]
	[ "$(jev "$b" pr_close .pr)" = "$prid" ]
	[ "$(jev "$b" pr_close .uid)" = "$(id -u)" ]
	run agq-pr approve nosuchtask
	[ "$status" -eq 66 ]
	run agq-pr ls -m x
	[ "$status" -eq 64 ]
}

@test "a verdict while no scheduler runs: the restarted scheduler decides once" {
	origin
	start_sched
	start_agent a1
	local id
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{"max_rounds":3}}')
	wait_for 30 is_state "$id" review
	kill "$SCHED_PID" "$AGENT_PID"
	wait "$SCHED_PID" "$AGENT_PID" || true
	agq-pr request-changes "$id" -m again
	is_state "$id" review
	agq-sched --once
	agq-sched --once
	is_state "$id" queue
	[ "$(journal_count review_changes)" -eq 1 ]
	jq_is "$(find "$AGQ_SPOOL/queue" -name "$id.json")" .round 2
}

@test "review tasks: fixed ids, requires, avoid_agent; never the coder's agent; queued once" {
	origin
	start_sched
	start_agent a1 -c review
	local id
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{"required":2,"cap":"review","cmd":"true"}}')
	wait_for 30 is_state "$id" review
	wait_for 30 is_state "$id-r1-1" queue
	wait_for 30 is_state "$id-r1-2" queue
	local f
	f=$(find "$AGQ_SPOOL/queue" -name "$id-r1-1.json")
	jq_is "$f" '[.kind, .parent, (.round|tostring), .avoid_agent, (.requires|join(",")), .cmd, .title] | join(" ")' \
	    "review $id 1 a1 review true review r1 of Edit"
	jq_is "$f" .head "$(jq -r .head "$AGQ_SPOOL/review/$id.json")"
	jq_is "$f" .git.branch "$(jq -r .attempts[-1].git.branch "$AGQ_SPOOL/review/$id.json")"
	[ "$(journal_count review_start)" -eq 1 ]
	[ "$(jev "$id" review_start '.tasks | join(" ")')" = "$id-r1-1 $id-r1-2" ]
	# a1, the coder's agent, has the capability and is idle: never
	sleep 2
	is_state "$id-r1-1" queue
	is_state "$id-r1-2" queue
	# a restarted scheduler queues no second one
	kill "$SCHED_PID"
	wait "$SCHED_PID" || true
	agq-sched --once
	[ "$(journal_count review_start)" -eq 1 ]
	[ "$(grep -c "\"ev\":\"submit\",\"id\":\"$id-r1-1\"" "$AGQ_SPOOL/journal")" -eq 1 ]
	# a plain submit of a review task is refused
	run --separate-stderr agq-submit < "$f"
	[ "$status" -eq 0 ]         # taken from a spool: kept (a duplicate)
	run --separate-stderr agq-submit <<< '{"cmd":"true","kind":"review","parent":"x"}'
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"field kind: written by agq"* ]]
}

@test "close with a forge: the forge's PR closed (github, gitea), nothing changed when it fails" {
	command -v python3 >/dev/null || skip "no python3"
	origin
	local tok=tok-0f-the-f0rge ff="$WORK/ff"
	python3 "$BATS_TEST_DIRNAME/fakeforge.py" "$ff.port" "$ff.log" "$tok" 3>&- &
	PIDS+=($!)
	wait_for 10 test -s "$ff.port"
	echo "$tok" > "$WORK/token"
	cat >> "$AGQ_CONF" <<CONF
forge = github
forge_url = http://127.0.0.1:$(cat "$ff.port")/
forge_token_file = $WORK/token
forge_repo = me/app
CONF
	start_sched
	start_agent a1
	local id prid
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	wait_for 30 is_state "$id" review
	prid=$(jq -r .pr "$AGQ_SPOOL/review/$id.json")
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" .number 1
	# the forge failing: nothing changes, try again
	echo 500 > "$ff.log.status"
	run agq-pr close "$id"
	[ "$status" -eq 75 ]
	is_state "$id" review
	[ -f "$AGQ_SPOOL/prs/open/$prid.json" ]
	rm "$ff.log.status"
	run agq-pr close "$id" -m "superseded"
	[ "$status" -eq 0 ]
	is_state "$id" dead
	jq_is "$AGQ_SPOOL/dead/$id.json" .reason "pull request closed by $(id -un): superseded"
	[ -f "$AGQ_SPOOL/prs/closed/$prid.json" ]
	[ "$(jq -rc 'select(.method == "PATCH") | .path + " " + (.body|tojson)' "$ff.log" | tail -1)" = \
	    '/repos/me/app/pulls/1 {"state":"closed"}' ]
	# gitea: the same path under /api/v1
	sed -i 's/^forge = github/forge = gitea/' "$AGQ_CONF"
	kill "$SCHED_PID"
	wait "$SCHED_PID" || true
	start_sched
	local b
	b=$(submit '{"title":"Other","cmd":"echo three >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	wait_for 30 is_state "$b" review
	run agq-pr close "$(jq -r .pr "$AGQ_SPOOL/review/$b.json")"
	[ "$status" -eq 0 ]
	[ "$(jq -rc 'select(.method == "PATCH") | .path' "$ff.log" | tail -1)" = \
	    /api/v1/repos/me/app/pulls/1 ]
}

@test "a round of changes run by another agent goes on the PR's branch: one branch, one PR record, whose head follows" {
	origin
	start_sched
	start_agent a1
	local a1=$AGENT_PID id f prid br sha1 sha2
	id=$(submit '{"title":"Edit","cmd":'"$(jq -Rn --arg c "$CODER" '$c')"',"env":{"RUNS":"'"$WORK/runs"'"},"git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	wait_for 30 is_state "$id" review
	f="$AGQ_SPOOL/review/$id.json"
	prid=$(jq -r .pr "$f")
	br=$(jq -r .branch "$AGQ_SPOOL/prs/open/$prid.json")
	sha1=$(jq -r .head "$f")
	[[ "$br" == a1/* ]]
	# a1 stops; a2 runs round 2
	kill "$a1"
	wait_for 30 grep -q '"state": "down"' "$AGQ_SPOOL/agents/a1.json"
	start_agent a2
	run agq-pr request-changes "$id" -m "say please"
	[ "$status" -eq 0 ]
	wait_for 30 jq_is "$f" .round 2
	jq_is "$f" '.attempts[0].agent' a2
	jq_is "$f" '.attempts[0].git.branch' "$br"
	sha2=$(jq -r .head "$f")
	# a new commit on round 1's, the branch's tip on the origin
	[ "$(git -C "$WORK/origin.git" rev-parse "$sha2^")" = "$sha1" ]
	[ "$(git -C "$WORK/origin.git" rev-parse "$br")" = "$sha2" ]
	git -C "$WORK/origin.git" show "$br:fb.txt" | grep -q "say please"
	# no other branch; the one PR record, its head the new commit
	[ "$(git -C "$WORK/origin.git" branch --list | grep -vc ' main$')" -eq 1 ]
	[ "$(ls "$AGQ_SPOOL/prs/open")" = "$prid.json" ]
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" .head "$sha2"
	[ "$(journal_count pr_open)" -eq 1 ]
}

@test "end to end: a coder's PR reviewed by a reviewer agent (changes, then approval), merged into the origin's main by a merge task, the task done" {
	origin
	echo "git_author_name = Bot" >> "$AGQ_CONF"
	start_sched
	# the coder's task needs "code", which only a1 has: on r1, the only
	# reviewer, its review could never run (the review avoids its author)
	start_agent a1 -c code
	start_agent r1 -c review
	local id prid br
	# the coder writes b.txt; with review feedback it also writes the
	# greeting the reviewer asked for.  The reviewer (on r1, never a1)
	# asks for changes while greet.txt is missing, and approves it then.
	id=$(submit '{"title":"Add b","requires":["code"],"cmd":"echo bee > b.txt; [ -z \"$AGQ_REVIEW_FEEDBACK\" ] || echo hello > greet.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{"cmd":"if [ -f greet.txt ]; then echo fine; else echo please add greet.txt; exit 1; fi","max_rounds":3},"merge":"on-approval","merge_method":"squash","verify":[{"type":"command_succeeds","cmd":"test -f b.txt"}],"max_attempts":4,"backoff":1}')
	wait_for 90 is_state "$id" done || {
		find "$AGQ_SPOOL" -name '*.json' -path '*/[a-z]*/*' | sed "s|$AGQ_SPOOL/||" | grep -v '^out/\|^ids/'
		jq -c '[.ts, .ev, .id, .reason, .to]' "$AGQ_SPOOL/journal" | tail -40
		cat "$BATS_TEST_TMPDIR"/*.log | tail -30
		false
	}
	# round 1: changes asked by the reviewer task, on r1
	jq_is "$AGQ_SPOOL/done/$id-r1-1.json" .verdict.verdict request_changes
	jq_is "$AGQ_SPOOL/done/$id-r1-1.json" '.verdict.comments[0]' "please add greet.txt"
	[ "$(jev "$id-r1-1" review .agent)" = r1 ]
	# round 2: approved
	jq_is "$AGQ_SPOOL/done/$id-r2-1.json" .verdict.verdict approve
	# the merge task squashed the branch into the origin's main
	jq_is "$AGQ_SPOOL/done/$id-m1.json" .kind merge
	# with the coder's retry policy (a push the moved base refused)
	jq -e '.max_attempts == 4 and .backoff == 1' "$AGQ_SPOOL/done/$id-m1.json"
	prid=$(jq -r .pr "$AGQ_SPOOL/done/$id.json")
	[ -f "$AGQ_SPOOL/prs/merged/$prid.json" ]
	[ "$(git -C "$WORK/origin.git" show main:b.txt)" = bee ]
	[ "$(git -C "$WORK/origin.git" show main:greet.txt)" = hello ]
	git -C "$WORK/origin.git" log -1 --format=%B main | grep -qx "Agq-PR: $prid"
	[ "$(jev "$id" merge .method)" = squash ]
	[ "$(jev "$id" merge .sha)" = "$(git -C "$WORK/origin.git" rev-parse main)" ]
	[ "$(journal_count merge)" -eq 1 ]
	# the task's end is credited to the coder's agent (agq-stats)
	[ "$(jev "$id" done .agent)" = a1 ]
	local want=1
	[ "$(jev "$id-m1" done .agent)" != a1 ] || want=2
	[ "$(agq-stats --json | jq '.agents[] | select(.name == "a1") | .done')" -eq "$want" ]
	# agq-show tells the whole chain
	run agq-show "$id"
	[ "$status" -eq 0 ]
	# the reviewer's comment in its verdict's line and in what was fed
	# back (not only somewhere in the task's JSON below the chain)
	grep -q "  $id-r1-1: round 1: request_changes by r1: please add greet.txt\$" <<< "$output"
	grep -q "  round 1: changes fed back to the coder, from $id-r1-1 (agent r1): please add greet.txt\$" <<< "$output"
	[[ "$output" == *squash* ]]
}

# the number of inotify watches of process PID (inotify(7): one "inotify
# wd:" line per watch in the fdinfo of its inotify descriptor)
watches() { cat /proc/"$1"/fdinfo/* 2>/dev/null | grep -c '^inotify wd:'; }
watches_are() { [ "$(watches "$1")" -eq "$2" ]; }

@test "agq-sched watches reviews/ID/ while the task is in review/, and stops once it has left" {
	origin
	start_sched
	start_agent a1
	wait_for 30 test -s "$AGQ_SPOOL/agents/a1.json"
	local n0 id
	n0=$(watches "$SCHED_PID")
	[ "$n0" -gt 5 ]
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	wait_for 30 is_state "$id" review
	wait_for 30 watches_are "$SCHED_PID" $((n0 + 1))
	run agq-pr approve "$id"
	[ "$status" -eq 0 ]
	wait_for 30 is_state "$id" done
	wait_for 30 watches_are "$SCHED_PID" "$n0"
}

@test "end to end, two PRs changing the same line: both approved, one merges, the other's merge conflicts, its coder resolves the conflict in a new round, then it merges too" {
	origin
	start_sched
	start_agent a1 -c code
	start_agent a2 -c code
	start_agent r1 -c review
	# each coder writes its own line over a.txt's first; given the
	# conflict (markers in a.txt), it keeps both lines, its own last
	local fix='if grep -q "^<<<<<<<" a.txt; then printf "%s\n" "$AGQ_REVIEW_FEEDBACK" > "$AGQ_OUT/fb"; grep -v "^[<=>]\{7\}" a.txt | grep -vx "$W" > a.new; echo "$W" >> a.new; mv a.new a.txt; else echo "$W" > a.txt; fi'
	local x y
	two() {
		jq -nc --arg t "$1" --arg cmd "W=$2; $fix" --arg r "$WORK/origin.git" \
		    '{title: $t, cmd: $cmd, git: {repo: $r}, merge: "on-approval",
		      requires: ["code"],
		      approval: "before_merge", review: {cmd: "true"}}' | agq-submit
	}
	x=$(two X ex)
	y=$(two Y why)
	# both reviewed and approved by r1 from the same base; a person lets
	# X merge first, then Y
	wait_for 60 is_state "$x" approval
	wait_for 60 is_state "$y" approval
	agq-pr approve "$x"
	wait_for 60 is_state "$x" done
	agq-pr approve "$y"
	# Y's merge conflicts; its coder gets the conflict round, r1 reviews
	# it again, and the merge of the new head waits for a person again
	wait_for 90 test -f "$AGQ_SPOOL/dead/$y-m1.json"
	jq_is "$AGQ_SPOOL/dead/$y-m1.json" .reason "conflict: a.txt"
	wait_for 120 is_state "$y" approval || { jq -c '[.ts, .ev, .id, .reason, .to]' "$AGQ_SPOOL/journal" | tail -40; cat "$BATS_TEST_TMPDIR"/*.log | tail -20; false; }
	[ "$(jev "$y" review_changes '.approvals_cleared | join(",")')" = merge ]
	[ "$(jq -r .head "$AGQ_SPOOL/approval/$y.json")" != "$(jev "$y" review_changes .head)" ]
	[ ! -f "$AGQ_SPOOL/done/$y-m2.json" ] && [ ! -f "$AGQ_SPOOL/queue/normal/$y-m2.json" ]
	agq-pr approve "$y"
	wait_for 60 is_state "$y" done || { jq -c '[.ts, .ev, .id, .reason, .to]' "$AGQ_SPOOL/journal" | tail -30; false; }
	[ -f "$AGQ_SPOOL/done/$y-m2.json" ]
	[ ! -f "$AGQ_SPOOL/done/$x-m2.json" ]
	grep -qx -- "- a.txt" "$AGQ_SPOOL/out/$y/fb"
	[ "$(jev "$y" review_changes .update_from_base)" = true ]
	jq_is "$AGQ_SPOOL/done/$y-r2-1.json" .verdict.verdict approve
	# main has both changes, X's first, and no conflict marker
	[ "$(git -C "$WORK/origin.git" show main:a.txt)" = "$(printf 'ex\nwhy')" ]
	[ "$(journal_count merge)" -eq 2 ]
	[ -z "$(ls "$AGQ_SPOOL/prs/open")" ]
	[ "$(ls "$AGQ_SPOOL/prs/merged" | wc -l)" -eq 2 ]
}

@test "the author writes the next round, not its reviewer: with the coder's agent away, a changes round waits (a wait event says why) rather than go to the reviewer's agent; review tasks avoid every agent that wrote a round" {
	origin
	start_sched
	start_agent a1
	local a1=$AGENT_PID id
	id=$(submit '{"title":"Edit","cmd":"echo \"${AGQ_REVIEW_FEEDBACK:+fixed}\" > a.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{"cmd":"grep -qx fixed a.txt || { echo please fix; exit 1; }","max_rounds":2}}')
	wait_for 30 is_state "$id" review
	# the coder's agent goes away; only the reviewer's is left
	kill "$a1"
	wait "$a1" || true
	start_agent r1 -c review
	wait_for 30 test -f "$AGQ_SPOOL/done/$id-r1-1.json"
	jq_is "$AGQ_SPOOL/done/$id-r1-1.json" .avoid_agent a1
	wait_for 30 is_state "$id" queue
	jq_is "$AGQ_SPOOL/queue/normal/$id.json" .avoid_agent r1
	# r1 is idle and may not take it: the scheduler says why
	wait_for 30 grep -q "\"ev\":\"wait\",\"id\":\"$id\".*every alive agent is one it must not run on (avoid_agent: r1)" "$AGQ_SPOOL/journal"
	is_state "$id" queue
	# the author back: it writes round 2, r1 reviews and approves it
	start_agent a1
	wait_for 60 is_state "$id" done
	[ "$(jq -r '.attempts[-1].agent' "$AGQ_SPOOL/done/$id.json")" = a1 ]
	jq_is "$AGQ_SPOOL/done/$id-r2-1.json" .verdict.verdict approve
	jq_is "$AGQ_SPOOL/done/$id-r2-1.json" .avoid_agent a1
}

@test "a CLI coder's session is resumed across review rounds: round 2's claude gets --resume with round 1's session, found in previous_attempts" {
	origin
	# a claude that appends its arguments to calls (one line a call) and
	# writes a file in its directory (the task's worktree); it answers
	# with the session it was given (or sess-r1)
	mkdir -p "$WORK/fakebin"
	cat > "$WORK/fakebin/claude" <<'SH'
#!/bin/sh
echo "$*" | tr '\n' ' ' >> "$WORK/calls"
echo >> "$WORK/calls"
sid=sess-r1
while [ $# -gt 0 ]; do [ "$1" = --resume ] && sid=$2; shift; done
wc -l < "$WORK/calls" > answer.txt
echo "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"ok\",\"session_id\":\"$sid\",\"permission_denials\":[]}"
SH
	chmod +x "$WORK/fakebin/claude"
	export PATH="$WORK/fakebin:$PATH" WORK
	echo "cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" >> "$AGQ_CONF"
	start_sched
	start_agent a1
	local id
	id=$(submit '{"title":"Answer","prompt":"write answer.txt","backend":"cli","model":"claude/sonnet","git":{"repo":"'"$WORK/origin.git"'"},"review":{"max_rounds":2}}')
	wait_for 30 is_state "$id" review
	jq_is "$AGQ_SPOOL/review/$id.json" '.attempts[0].session_id' sess-r1
	agq-pr request-changes "$id" -m "count again"
	wait_for 30 jq_is "$AGQ_SPOOL/review/$id.json" .round 2
	cat "$WORK/calls"
	[ "$(wc -l < "$WORK/calls")" -eq 2 ]
	[[ "$(sed -n 1p "$WORK/calls")" != *--resume* ]]
	[[ "$(sed -n 2p "$WORK/calls")" == *"--resume sess-r1 --model sonnet"*"count again"* ]]
	jq -e '.resume_session == "sess-r1"' "$AGQ_SPOOL/out/$id/backend-input.json"
	jq_is "$AGQ_SPOOL/review/$id.json" '.previous_attempts[0].session_id' sess-r1
}

@test "the branch moved after approval (someone pushed to it): a new review round at its tip, approvals cleared, no coder run; approved again, it merges with the push" {
	origin
	start_sched
	start_agent a1
	local id prid br new
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt; echo x >> \"$RUNS\"","env":{"RUNS":"'"$WORK/runs"'"},"git":{"repo":"'"$WORK/origin.git"'"},"approval":"before_merge","merge":"on-approval"}')
	wait_for 30 is_state "$id" approval
	kill "$AGENT_PID"       # the merge task waits until the push below
	wait "$AGENT_PID" || true
	prid=$(jq -r .pr "$AGQ_SPOOL/approval/$id.json")
	br=$(jq -r .branch "$AGQ_SPOOL/prs/open/$prid.json")
	run agq-pr approve "$id"
	[ "$status" -eq 0 ]
	wait_for 30 is_state "$id-m1" queue
	# someone pushes to the PR's branch after the approval
	git clone -q -b "$br" "$WORK/origin.git" "$WORK/w"
	echo fix > "$WORK/w/fix.txt"
	git -C "$WORK/w" add -A && git -C "$WORK/w" commit -qm "a person's fix"
	git -C "$WORK/w" push -q origin "$br"
	new=$(git -C "$WORK/w" rev-parse HEAD)
	start_agent a1
	# the merge dies "head moved"; the task is reviewed again at the new
	# tip: round 2, its approval to merge cleared, so it waits for one
	wait_for 30 is_state "$id-m1" dead
	wait_for 30 is_state "$id" approval
	jq_is "$AGQ_SPOOL/approval/$id.json" .head "$new"
	jq_is "$AGQ_SPOOL/approval/$id.json" .round 2
	jq_is "$AGQ_SPOOL/approval/$id.json" '.approved | length' 0
	[ "$(jev "$id" review_wait 'select(.by == "agq-sched") | .reason')" = "head moved to $new: reviewed again" ]
	[ "$(jev "$id" review_wait 'select(.by == "agq-sched") | .approvals_cleared | join(",")')" = merge ]
	[ "$(jev "$id" review_wait 'select(.by == "agq-sched") | "\(.from_round) \(.round) \(.to)"')" = "1 2 review" ]
	# no coder run, no attempt spent
	[ "$(wc -l < "$WORK/runs")" -eq 1 ]
	jq_is "$AGQ_SPOOL/approval/$id.json" '.attempts | length' 1
	run agq-pr approve "$id"
	[ "$status" -eq 0 ]
	wait_for 30 is_state "$id" done
	jq_is "$AGQ_SPOOL/done/$id.json" .reason "merged by $id-m2"
	[ "$(git -C "$WORK/origin.git" show main:fix.txt)" = fix ]
	agq-fsck
}

@test "close while the task runs a new round (queued, or running): ended as agq-cancel ends it, dead with the closer's name" {
	origin
	start_sched
	start_agent a1
	local id prid
	id=$(submit '{"title":"Edit","cmd":"echo two >> a.txt; [ -z \"$AGQ_REVIEW_FEEDBACK\" ] || sleep 300","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	wait_for 30 is_state "$id" review
	prid=$(jq -r .pr "$AGQ_SPOOL/review/$id.json")
	# round 2 runs (its command sleeps): closing the PR cancels the run
	agq-pr request-changes "$id" -m more
	wait_for 30 is_state "$id" active
	run agq-pr close "$prid" -m "not wanted"
	[ "$status" -eq 0 ]
	is_state "$id" dead
	jq_is "$AGQ_SPOOL/dead/$id.json" .reason "pull request closed by $(id -un): not wanted"
	[ "$(jev "$id" cancel '"\(.from) \(.to) \(.pr)"')" = "active dead $prid" ]
	[ "$(jev "$id" pr_close .to)" = dead ]
	[ -f "$AGQ_SPOOL/prs/closed/$prid.json" ]
	agq-fsck
}

@test "placement: a coder task with review goes to the free agent without the review capability, every time; to the reviewer agent when no other can take it" {
	origin
	# a1, with the review capability, comes first by name and by the
	# least recently assigned order: only the rule sends the tasks to b1
	start_sched
	start_agent a1 -c review
	start_agent b1
	local b1=$AGENT_PID id i
	wait_for 30 grep -q '"state": "idle"' "$AGQ_SPOOL/agents/a1.json"
	wait_for 30 grep -q '"state": "idle"' "$AGQ_SPOOL/agents/b1.json"
	for i in 1 2 3; do
		id=$(submit '{"title":"Edit '$i'","cmd":"echo '$i' > f'$i'.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
		wait_for 30 is_state "$id" review
		jq_is "$AGQ_SPOOL/review/$id.json" '.attempts[0].agent' b1
		wait_for 30 grep -q '"state": "idle"' "$AGQ_SPOOL/agents/b1.json"
	done
	# b1 gone: the reviewer agent runs it rather than nobody
	kill "$b1"
	wait_for 30 grep -q '"state": "down"' "$AGQ_SPOOL/agents/b1.json"
	id=$(submit '{"title":"Edit 4","cmd":"echo 4 > f4.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	wait_for 30 is_state "$id" review
	jq_is "$AGQ_SPOOL/review/$id.json" '.attempts[0].agent' a1
}

@test "a coder task reaching review/ after a person closed its PR record ends dead at once, naming who closed it" {
	origin
	start_agent a1
	wait_for 30 grep -q '"state": "idle"' "$AGQ_SPOOL/agents/a1.json"
	local id prid
	# one scheduler pass at a time (--once): the task reaches review/
	# with its record closed by hand meanwhile (agq-pr closed), as agq-pr
	# close's first step leaves it when the task is not there yet to end
	id=$(submit '{"title":"Edit","cmd":"echo x > x.txt","git":{"repo":"'"$WORK/origin.git"'"},"review":{}}')
	agq-sched --once 2>/dev/null
	wait_for 30 is_state "$id" review
	prid=$(jq -r .pr "$AGQ_SPOOL/review/$id.json")
	agq-pr closed "$prid"
	agq-sched --once 2>/dev/null
	is_state "$id" dead
	jq_is "$AGQ_SPOOL/dead/$id.json" .reason "pull request $prid closed (agq-pr closed)"
	# reopened, closed by agq-pr close while the task is dead (who and
	# why kept in the record), then the task retried: it runs, pushes to
	# the closed PR's branch and arrives in review/, where it ends at
	# once with the person's name and words
	agq-pr reopen "$prid"
	run agq-pr close "$id" -m "superseded"
	[ "$status" -eq 0 ]
	jq_is "$AGQ_SPOOL/prs/closed/$prid.json" .closed.by "$(id -un)"
	jq_is "$AGQ_SPOOL/prs/closed/$prid.json" .closed.text superseded
	agq-retry -q "$id"
	agq-sched --once 2>/dev/null
	wait_for 30 is_state "$id" review
	agq-sched --once 2>/dev/null
	is_state "$id" dead
	jq_is "$AGQ_SPOOL/dead/$id.json" .reason "pull request closed by $(id -un): superseded"
	[ "$(jev "$id" dead '.by' | tail -1)" = agq-sched ]
}
