#!/usr/bin/env bats
# Review tasks (issue 18, lib/reviewer.c): agq-run runs a task with
# "kind": "review" in a worktree detached at the commit under review; a
# reviewer cmd's exit status is its verdict and its output the comment;
# an agent reviewer (tests/fakeapi.py's verdict models, a stand-in
# claude CLI) must answer a JSON verdict; the verdict goes into the task
# in done/ and into the journal's `review` event, and is posted as a pull
# request review on the forge (tests/fakeforge.py).
#
# The review tasks are written straight into queue/normal/ through tmp/
# and rename(2), as the spool protocol lets any writer deliver a task
# (agq-spool(5)): agq-submit refuses the fields agq writes (kind, parent,
# round, pr, head) from people, and the scheduler's part that submits
# them is another.  The coder's branch is made with agq-git start-task
# and finish against a real bare origin.

load helper
bats_require_minimum_version 1.5.0

TOKEN=tok-5ecret-0f-the-f0rge

setup_file() {
	fake_forge_start "$TOKEN" f
	command -v python3 >/dev/null || return 0
	fake_api_start
}

teardown_file() {
	fake_forge_stop f
	fake_api_stop
}

# forge KIND OWNER/REPO: agq.conf's forge settings for the stand-in.
forge() {
	[ -s "$FAKE_DIR/fport" ] || skip "no python3"
	echo "$TOKEN" > "$WORK/token"
	cat >> "$AGQ_CONF" <<CONF
forge = $1
forge_url = http://127.0.0.1:$(cat "$FAKE_DIR/fport")
forge_token_file = $WORK/token
forge_repo = $2
CONF
}

# coder: a bare origin $WORK/origin.git whose main has a.txt; the coder
# task t1 (title, prompt, success criteria, a verification report; held
# off agents by a capability none has) and its branch $BR adding b.txt,
# pushed and its PR record $PRID opened (on the forge when one is set);
# $HEAD the commit under review.
coder() {
	mkdir -p "$WORK/src"
	echo one > "$WORK/src/a.txt"
	git_origin
	jq -n '{id: "t1", title: "Add b", prompt: "add b.txt saying hello",
	    cmd: "true", requires: ["nobody"],
	    success_criteria: ["b.txt exists", "a.txt unchanged"],
	    verify_report: {status: "pass", passed: 1, failed: 0,
	      steps: [{type: "cmd", cmd: "test -f b.txt", status: "pass"}]}}' |
	    agq-submit -q
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" \
	    --agent bot --slug "Add b" --task t1
	[ "$status" -eq 0 ]
	local dir=${output%%$'\t'*}
	BR=${output#*$'\t'}
	printf 'hello\n' > "$dir/b.txt"
	run --separate-stderr agq-git finish "$dir" --title "Add b" --json
	echo "$stderr"
	[ "$status" -eq 0 ]
	PRID=$(jq -r .id <<<"$output")
	HEAD=$(jq -r .head <<<"$output")
	[ "$HEAD" = "$(git -C "$WORK/origin.git" rev-parse "$BR")" ]
}

# review ID JSON [FILTER]: review task ID of t1's round 1 at $HEAD, with
# the reviewer's fields JSON (cmd, or prompt/backend/model), changed by
# the jq FILTER, delivered into queue/normal/ through tmp/.
review() {
	jq -n --arg id "$1" --arg pr "$PRID" --arg head "$HEAD" \
	    --arg repo "$WORK/origin.git" --arg br "$BR" --argjson r "$2" \
	    '{id: $id, title: ("review r1 of Add b"), kind: "review",
	      parent: "t1", round: 1, pr: $pr, head: $head,
	      git: {repo: $repo, base: "main", branch: $br},
	      requires: ["review"], priority: "normal", max_attempts: 3,
	      backoff: 0, submitted_at: "2026-12-01T00:00:00.000000Z",
	      attempts: [], generation: 0} + $r | '"${3:-.}" > "$AGQ_SPOOL/tmp/$1.new"
	mv "$AGQ_SPOOL/tmp/$1.new" "$AGQ_SPOOL/queue/normal/$1.json"
}

# the value of FILTER over the journal's event EV of task ID
jev() { grep "\"ev\":\"$2\"" "$AGQ_SPOOL/journal" | grep "\"id\":\"$1\"" | jq -r "$3"; }

reviewer_agent() {
	start_sched
	start_agent a1 --cap review
}

# approved_on_retry ID: review task ID ends done, approving, at its
# second attempt.
approved_on_retry() {
	wait_for 40 is_state "$1" done
	jq_is "$AGQ_SPOOL/done/$1.json" '.attempts | length' 2
	jq_is "$AGQ_SPOOL/done/$1.json" .verdict.verdict approve
}

@test "a reviewer cmd that exits 0 approves, in a worktree detached at the head, its output the comment; the verdict is in done/ and the journal" {
	coder
	cat > "$WORK/rev.sh" <<'SH'
#!/bin/sh
env | grep '^AGQ_\(PR\|PARENT\|HEAD\|BASE\|ROUND\)=' | sort > "$AGQ_OUT/env"
git rev-parse HEAD > "$AGQ_OUT/head"
git symbolic-ref -q HEAD > "$AGQ_OUT/branch" || echo detached > "$AGQ_OUT/branch"
pwd > "$AGQ_OUT/pwd"
cat b.txt
echo "b.txt is fine"
SH
	chmod +x "$WORK/rev.sh"
	review t1-r1-1 "{\"cmd\": [\"$WORK/rev.sh\"]}"
	reviewer_agent
	wait_for 30 is_state t1-r1-1 done
	local f=$AGQ_SPOOL/done/t1-r1-1.json o=$AGQ_SPOOL/out/t1-r1-1
	jq_is "$f" .verdict.verdict approve
	jq_is "$f" .verdict.head "$HEAD"
	jq_is "$f" '.verdict.comments | length' 1
	jq_is "$f" '.verdict.comments[0]' $'hello\nb.txt is fine'
	[ "$(cat "$o/head")" = "$HEAD" ]
	[ "$(cat "$o/branch")" = detached ]
	[[ "$(cat "$o/pwd")" == *.trees/t1-r1-1 ]]
	[ "$(cat "$o/env")" = "AGQ_BASE=main
AGQ_HEAD=$HEAD
AGQ_PARENT=t1
AGQ_PR=$PRID
AGQ_ROUND=1" ]
	# the worktree went; the coder's branch is untouched, none was made
	[ ! -e "$(cat "$o/pwd")" ]
	[ "$(git -C "$WORK/origin.git" rev-parse "$BR")" = "$HEAD" ]
	run git -C "$WORK/origin.git" branch --list 'agq-detached/*'
	[ -z "$output" ]
	# the journal: review after done, with the verdict
	run jq -r 'select(.id=="t1-r1-1") | .ev' "$AGQ_SPOOL/journal"
	[[ "$(echo $output)" == *"finish done review" ]]
	[ "$(jev t1-r1-1 review '[.parent, .pr, (.round|tostring), .head, .verdict, .agent] | join(" ")')" = "t1 $PRID 1 $HEAD approve a1" ]
	[ "$(jev t1-r1-1 review .comments)" = $'hello\nb.txt is fine' ]
	jq_is "$o/result.json" .verdict.verdict approve
	# no forge: nothing posted, nothing noted
	jq_is "$o/result.json" .forge_error null
}

@test "a reviewer cmd that exits non-zero requests changes, its output the comment (cut at 64 KiB); silent, its status is the comment" {
	coder
	review t1-r1-1 '{"cmd": "echo \"b.txt: say why\"; exit 3"}'
	review t1-r1-2 '{"cmd": "exit 1"}'
	review t1-r1-3 '{"cmd": "head -c 70000 /dev/zero | tr \"\\\\0\" x; exit 0"}'
	reviewer_agent
	wait_for 30 is_state t1-r1-1 done
	wait_for 30 is_state t1-r1-2 done
	wait_for 30 is_state t1-r1-3 done
	jq_is "$AGQ_SPOOL/done/t1-r1-1.json" '.verdict | [.verdict, .comments[0]] | join("|")' "request_changes|b.txt: say why"
	jq_is "$AGQ_SPOOL/done/t1-r1-2.json" '.verdict | [.verdict, .comments[0]] | join("|")' "request_changes|the reviewer command exited with status 1"
	jq_is "$AGQ_SPOOL/done/t1-r1-3.json" .verdict.verdict approve
	run jq -r .verdict.comments[0] "$AGQ_SPOOL/done/t1-r1-3.json"
	[[ "$output" == "$(head -c 65536 /dev/zero | tr '\0' x)"$'\n'"[output cut: 4464 more bytes not kept]" ]]
	[ "$(jev t1-r1-1 review .verdict)" = request_changes ]
	# the event's comments: the first 4 KiB
	[ "$(jev t1-r1-3 review '.comments | length')" -eq 4096 ]
	# a verdict is a done attempt, whatever it says: one attempt each
	jq_is "$AGQ_SPOOL/done/t1-r1-1.json" '.attempts | length' 1
}

@test "a reviewer cmd killed by a signal is a failed attempt with no verdict, retried; one that cannot run too" {
	coder
	# killed the first time; approves the second
	review t1-r1-1 "{\"cmd\": \"if [ -e $WORK/once ]; then echo ok; else touch $WORK/once; kill -9 \$\$; fi\"}"
	review t1-r1-2 '{"cmd": ["/nonexistent/reviewer"], "max_attempts": 1}'
	reviewer_agent
	approved_on_retry t1-r1-1
	[ "$(jev t1-r1-1 retry .reason)" = "the reviewer command was killed by signal 9 (Killed): no verdict; attempt 1 of 3 failed, next at $(jev t1-r1-1 retry .next_attempt_at) (backoff 0.0 s)" ]
	[ "$(journal_count review)" -ge 1 ]
	[ "$(grep -c '"ev":"review","id":"t1-r1-1"' "$AGQ_SPOOL/journal")" -eq 1 ]
	wait_for 30 is_state t1-r1-2 dead
	jq_is "$AGQ_SPOOL/dead/t1-r1-2.json" .reason "the reviewer command could not run (exit 127): no verdict; out of attempts (1 of 1)"
	jq_is "$AGQ_SPOOL/dead/t1-r1-2.json" .verdict null
	[ -z "$(jev t1-r1-2 review .verdict)" ]
	# without git, still a review task: refused, not run as a plain cmd
	review t1-r1-3 "{\"cmd\": \"touch $WORK/ran\", \"max_attempts\": 1}" 'del(.git)'
	wait_for 30 is_state t1-r1-3 dead
	jq_is "$AGQ_SPOOL/dead/t1-r1-3.json" .reason "a review task needs git.repo and head; out of attempts (1 of 1)"
	[ ! -e "$WORK/ran" ]
}

@test "an agent reviewer gets the diff, the coder's task and its report; a JSON verdict, bare or in a json fence, is its verdict" {
	[ -s "$FAKE_DIR/port" ] || skip "no python3"
	coder
	local port
	port=$(cat "$FAKE_DIR/port")
	cat >> "$AGQ_CONF" <<CONF
openai_url = http://127.0.0.1:$port
backend_timeout = 5
CONF
	review t1-r1-1 '{"prompt": "Be strict about tests.", "backend": "openai", "model": "verdict-approve"}'
	review t1-r1-2 '{"prompt": "Be strict about tests.", "backend": "openai", "model": "verdict-changes"}'
	reviewer_agent
	wait_for 30 is_state t1-r1-1 done
	wait_for 30 is_state t1-r1-2 done
	jq_is "$AGQ_SPOOL/done/t1-r1-1.json" '.verdict | [.verdict, .comments[0], .head] | join("|")' "approve|looks good|$HEAD"
	jq_is "$AGQ_SPOOL/done/t1-r1-2.json" '.verdict | [.verdict] + .comments | join("|")' "request_changes|add a test|say why in b.txt"
	[ "$(jev t1-r1-2 review .comments)" = $'add a test\n\nsay why in b.txt' ]
	# what the model was asked
	local p
	p=$(jq -r 'select(.path == "/v1/chat/completions" and .body.model == "verdict-approve") | .body.messages[-1].content' "$FAKE_DIR/requests")
	[[ "$p" == "Be strict about tests."* ]]
	[[ "$p" == *"Title: Add b"* ]]
	[[ "$p" == *"Prompt:"$'\n'"add b.txt saying hello"* ]]
	[[ "$p" == *"- b.txt exists"$'\n'"- a.txt unchanged"* ]]
	[[ "$p" == *"Verification report: pass (1 passed, 0 failed)"* ]]
	[[ "$p" == *"git diff main...$HEAD"* ]]
	[[ "$p" == *"diff --git a/b.txt b/b.txt"*"+hello"* ]]
	[[ "$p" == *'{"verdict": "approve" or "request_changes", "comments": ["..."]}'* ]]
	# no patch contract: the reviewer edits nothing
	[[ "$p" != *"diff block"* ]]
	# tokens counted on the attempt
	jq_is "$AGQ_SPOOL/done/t1-r1-1.json" '.attempts[-1].tokens_in' 9
}

@test "an agent reviewer answering garbage fails the attempt with the reason; the retry's good answer is the verdict" {
	[ -s "$FAKE_DIR/port" ] || skip "no python3"
	coder
	echo "openai_url = http://127.0.0.1:$(cat "$FAKE_DIR/port")" >> "$AGQ_CONF"
	review t1-r1-1 '{"prompt": "Review.", "backend": "openai", "model": "verdict-garbage-once"}'
	reviewer_agent
	approved_on_retry t1-r1-1
	run jev t1-r1-1 retry .reason
	[[ "$output" == 'reviewer answered no verdict: no JSON object in the answer, nor in a ```json block (it begins "LGTM, ship it!"); attempt 1 of 3 failed, next at '* ]]
	[ "$(jev t1-r1-1 review .verdict)" = approve ]
}

@test "an agent reviewer through the cli backend (a stand-in claude): the verdict in its result, run in the worktree" {
	coder
	mkdir -p "$WORK/fakebin"
	cat > "$WORK/fakebin/claude" <<'SH'
#!/bin/sh
pwd > "$AGQ_OUT/claude-pwd"
printf '%s\n' '{"type":"result","subtype":"success","is_error":false,"result":"```json\n{\"verdict\": \"request_changes\", \"comments\": [\"b.txt needs a newline at the end? no: it is fine, but add a test\"]}\n```","session_id":"s-1","permission_denials":[],"usage":{"input_tokens":3,"output_tokens":4}}'
SH
	chmod +x "$WORK/fakebin/claude"
	echo "cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" >> "$AGQ_CONF"
	PATH="$WORK/fakebin:$PATH" reviewer_agent
	review t1-r1-1 '{"prompt": "Review.", "backend": "cli", "model": "claude"}'
	wait_for 30 is_state t1-r1-1 done
	jq_is "$AGQ_SPOOL/done/t1-r1-1.json" .verdict.verdict request_changes
	[[ "$(cat "$AGQ_SPOOL/out/t1-r1-1/claude-pwd")" == *.trees/t1-r1-1 ]]
}

@test "an agent reviewer with the real claude CLI (against a loopback Messages API): its verdict, from the diff it was shown" {
	coder
	real_claude
	echo "cli_lock = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" >> "$AGQ_CONF"
	reviewer_agent
	review t1-r1-1 '{"prompt": "Review.", "backend": "cli", "model": "claude/claude-sonnet-4-5"}'
	wait_for 120 is_state t1-r1-1 done
	jq_is "$AGQ_SPOOL/done/t1-r1-1.json" '.verdict | [.verdict, .comments[0]] | join("|")' "approve|read by claude: hello"
	jq_is "$AGQ_SPOOL/done/t1-r1-1.json" .attempts[-1].backend cli
	# claude worked in the review's worktree
	jq -se 'map(select(.path | startswith("/v1/messages")) | .body.system |
	    if type == "array" then map(.text) | join("\n") else . end |
	    select(test("Primary working directory: .*\\.trees/t1-r1-1"))) | length >= 1' \
	    "$WORK/mreq"
}

@test "with a forge, the verdict is posted as a PR review on the head (github APPROVE, gitea REQUEST_CHANGES)" {
	forge github o/rev1
	coder
	review t1-r1-1 '{"cmd": "echo fine"}'
	reviewer_agent
	wait_for 30 is_state t1-r1-1 done
	local q
	q=$(jq -c 'select(.path == "/repos/o/rev1/pulls/1/reviews")' "$FAKE_DIR/frequests")
	[ "$(wc -l <<<"$q")" -eq 1 ]
	[ "$(jq -r .method <<<"$q")" = POST ]
	[ "$(jq -r '.headers.Authorization' <<<"$q")" = "Bearer $TOKEN" ]
	[ "$(jq -r '[.body.event, .body.commit_id] | join(" ")' <<<"$q")" = "APPROVE $HEAD" ]
	[[ "$(jq -r .body.body <<<"$q")" == "**agq review: approved** (round 1, review task \`t1-r1-1\`)"*"fine"* ]]
	jq_is "$AGQ_SPOOL/out/t1-r1-1/result.json" .forge_review APPROVE
	[ "$(jev t1-r1-1 review .forge_review)" = APPROVE ]
	! grep -rq -e "$TOKEN" "$AGQ_SPOOL"
}

@test "gitea: REQUEST_CHANGES; a self-approval refused with 422 is posted as a COMMENT (github and gitea); a forge failure keeps the verdict" {
	forge gitea o/rev2
	coder
	review t1-r1-1 '{"cmd": "echo no; exit 1"}'
	reviewer_agent
	wait_for 30 is_state t1-r1-1 done
	[ "$(jq -r 'select(.path == "/api/v1/repos/o/rev2/pulls/1/reviews") | .body.event' "$FAKE_DIR/frequests")" = REQUEST_CHANGES ]
	jq_is "$AGQ_SPOOL/out/t1-r1-1/result.json" .forge_review REQUEST_CHANGES
	# the token's user opened the PR: approving is refused, a comment taken
	sed -i 's|^forge_repo = .*|forge_repo = self/rev2|' "$AGQ_CONF"
	jq '.number = null | .url = null' "$AGQ_SPOOL/prs/open/$PRID.json" > "$WORK/r" &&
	    mv "$WORK/r" "$AGQ_SPOOL/prs/open/$PRID.json"
	agq-pr open "$PRID" >/dev/null
	review t1-r1-2 '{"cmd": "echo fine"}'
	wait_for 30 is_state t1-r1-2 done
	[ "$(jq -r 'select(.path == "/api/v1/repos/self/rev2/pulls/1/reviews") | .body.event' "$FAKE_DIR/frequests" | tr '\n' ' ')" = "APPROVED COMMENT " ]
	jq_is "$AGQ_SPOOL/out/t1-r1-2/result.json" .forge_review COMMENT
	jq_is "$AGQ_SPOOL/done/t1-r1-2.json" .verdict.verdict approve
	[[ "$(jq -r 'select(.path == "/api/v1/repos/self/rev2/pulls/1/reviews" and .body.event == "COMMENT") | .body.body' "$FAKE_DIR/frequests")" == "**agq review: approved**"* ]]
	# the forge down: the verdict stands, the failure noted
	echo 500 > "$FAKE_DIR/frequests.status"
	review t1-r1-3 '{"cmd": "true"}'
	wait_for 30 is_state t1-r1-3 done
	rm -f "$FAKE_DIR/frequests.status"
	jq_is "$AGQ_SPOOL/done/t1-r1-3.json" .verdict.verdict approve
	run jq -r .forge_error "$AGQ_SPOOL/out/t1-r1-3/result.json"
	[[ "$output" == "gitea answered 500: Server Error ("*"/pulls/1/reviews)" ]]
	[[ "$(jev t1-r1-3 review .forge_error)" == "gitea answered 500"* ]]
}

@test "github: a self-approval refused with 422 is posted as a COMMENT" {
	forge github self/rev3
	coder
	review t1-r1-1 '{"cmd": "echo fine"}'
	reviewer_agent
	wait_for 30 is_state t1-r1-1 done
	[ "$(jq -r 'select(.path == "/repos/self/rev3/pulls/1/reviews") | .body.event' "$FAKE_DIR/frequests" | tr '\n' ' ')" = "APPROVE COMMENT " ]
	jq_is "$AGQ_SPOOL/out/t1-r1-1/result.json" .forge_review COMMENT
	jq_is "$AGQ_SPOOL/out/t1-r1-1/result.json" .forge_error null
}
