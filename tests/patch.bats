#!/usr/bin/env bats
# HTTP models edit through patches (issue 16; agq-backend(7), Editing
# through patches): a prompt task with "edit": "patch" sent to ollama,
# openai or anthropic (tests/fakeapi.py) in a git work tree made with
# git(1) asks for a ```diff block, the answer's diff is applied to the tree
# and the verify steps check the patched file; a diff that does not apply
# is a failed iteration whose reason the next request carries; an answer
# without a diff is patch_failed.  End to end: a prompt task with git to
# ollama comes back as a commit on its branch and a PR record.

load helper

KEY="sk-ant-test-KEY-patch"

setup_file() { fake_api_start; }
teardown_file() { fake_api_stop; }

run_agent() {
	export ANTHROPIC_API_KEY=$KEY
	fake_api_agent
}

# make_tree: $WORK/tree, a git work tree with hello.txt ("hello") committed.
make_tree() {
	git init -q -b main "$WORK/tree"
	printf 'hello\n' > "$WORK/tree/hello.txt"
	printf 'other\n' > "$WORK/tree/other.txt"
	git -C "$WORK/tree" add .
	git -C "$WORK/tree" -c user.name=t -c user.email=t@t commit -qm init
}

# submit ID BACKEND MODEL [EXTRA JSON members]: a task that edits hello.txt
# through a patch, its step checking the new line.
submit() {
	agq-submit <<JSON
{"id": "$1", "prompt": "make the greeting longer", "backend": "$2",
 "model": "$3", "cwd": "$WORK/tree", "edit": "patch",
 "context": {"files": ["hello.txt"]}, "backoff": 0 ${4:+, $4},
 "verify": [{"type": "command_succeeds", "name": "patched",
             "cmd": "grep -qx 'hello, patched' hello.txt"}]}
JSON
}

result() { jq -r "$2" "$AGQ_SPOOL/out/$1/result.json"; }
# prompt_of ID N: the prompt of the Nth request (1-based) for task ID's model.
prompt_of() {
	grep "\"model\": \"$1\"" "$FAKE_DIR/requests" | sed -n "${2}p" |
	    jq -r '.body.messages[-1].content'
}

@test "patch: ollama, openai and anthropic answers with a diff block: applied to the work tree, the step passes, patch-1.diff kept" {
	make_tree
	run_agent
	submit po ollama patch
	wait_for 30 is_state po done
	[ "$(cat "$WORK/tree/hello.txt")" = "hello, patched" ]
	git -C "$WORK/tree" checkout -q hello.txt
	submit pa openai patch
	wait_for 30 is_state pa done
	git -C "$WORK/tree" checkout -q hello.txt
	submit pn anthropic patch
	wait_for 30 is_state pn done
	[ "$(cat "$WORK/tree/hello.txt")" = "hello, patched" ]
	for id in po pa pn; do
		[ "$(result $id '.iterations | length')" = 1 ]
		[ "$(result $id '.iterations[0].patch.applied')" = true ]
		[ "$(result $id '.iterations[0].patch.files')" = 1 ]
		[ "$(result $id '.iterations[0].patch.repaired')" = 0 ]
		[ "$(result $id '.iterations[0].patch.error')" = null ]
		[ "$(result $id '.verify.status')" = pass ]
		grep -qx -- '+hello, patched' "$AGQ_SPOOL/out/$id/patch-1.diff"
		[ "$(grep -c 'The greeting' "$AGQ_SPOOL/out/$id/patch-1.diff")" = 0 ]
	done
	# the prompt contract: the task's prompt first, then the contract,
	# the repository's files and the named file's content
	prompt_of patch 1 > "$WORK/prompt"
	head -1 "$WORK/prompt" | grep -qx 'make the greeting longer'
	grep -q 'Editing through patches' "$WORK/prompt"
	grep -q 'exactly one fenced block opened by ```diff' "$WORK/prompt"
	grep -q 'diff --git a/PATH b/PATH' "$WORK/prompt"
	grep -qx 'Files of the repository (2):' "$WORK/prompt"
	grep -qx 'other.txt' "$WORK/prompt"
	grep -A2 -x 'hello.txt:' "$WORK/prompt" | tail -1 | grep -qx hello
}

@test "patch: a diff that does not apply is a failed iteration, its reason is in the next request, the second diff applies" {
	make_tree
	run_agent
	submit pr ollama patch-retry
	wait_for 30 is_state pr done
	[ "$(cat "$WORK/tree/hello.txt")" = "hello, patched" ]
	[ "$(result pr '.iterations | length')" = 2 ]
	[ "$(result pr '.iterations[0].status')" = patch_failed ]
	[ "$(result pr '.iterations[0].patch.applied')" = false ]
	result pr '.iterations[0].patch.error' | grep -q 'does not apply'
	[ "$(result pr '.iterations[0].verify')" = null ]
	[ "$(result pr '.iterations[1].status')" = done ]
	[ "$(result pr '.iterations[1].patch.applied')" = true ]
	grep -qx -- '-hullo' "$AGQ_SPOOL/out/pr/patch-1.diff"
	grep -qx -- '-hello' "$AGQ_SPOOL/out/pr/patch-2.diff"
	[ "$(prompt_of patch-retry 1 | grep -c 'could not be applied')" = 0 ]
	prompt_of patch-retry 2 > "$WORK/prompt2"
	grep -q 'Attempt 1 of 2: your answer could not be applied' "$WORK/prompt2"
	grep -q 'patch does not apply' "$WORK/prompt2"
}

@test "patch: an answer without a diff, every iteration: dead with patch_failed and the reason; the tree unchanged" {
	make_tree
	run_agent
	submit px ollama m-nodiff '"max_attempts": 1'
	wait_for 30 is_state px dead
	jq -e '.reason | startswith("patch_failed: the answer has no diff block (iteration 2 of 2)")' \
	    "$AGQ_SPOOL/dead/px.json"
	[ "$(result px .agent_status)" = patch_failed ]
	[ "$(result px '[.iterations[].patch.applied] | unique')" = '[
  false
]' ]
	[ "$(cat "$WORK/tree/hello.txt")" = hello ]
	[ ! -e "$AGQ_SPOOL/out/px/patch-1.diff" ]
}

@test "patch: not in a git work tree: the backend fails before any request, naming the directory" {
	mkdir -p "$WORK/plain"
	run_agent
	agq-submit <<JSON
{"id": "pg", "prompt": "edit", "backend": "ollama", "model": "m-plain",
 "cwd": "$WORK/plain", "edit": "patch", "max_attempts": 1}
JSON
	wait_for 30 is_state pg dead
	jq -e '.reason | contains("cannot edit through patches: not in a git work tree")' \
	    "$AGQ_SPOOL/dead/pg.json"
	! grep -q m-plain "$FAKE_DIR/requests"
}

@test "patch: the edit field is checked; without it the backend answers text as before" {
	run agq-submit <<<'{"prompt": "x", "edit": "yes"}'
	[ "$status" -ne 0 ]
	[[ "$output" == *'field edit: must be "patch"'* ]]
	make_tree
	run_agent
	agq-submit <<JSON
{"id": "pt", "prompt": "say hi", "backend": "ollama", "model": "m-text",
 "cwd": "$WORK/tree"}
JSON
	wait_for 30 is_state pt done
	[ "$(result pt '.iterations[0].patch')" = null ]
	! prompt_of m-text 1 | grep -q 'Editing through patches'
}

@test "patch: a prompt task with git to ollama: the diff applied in its worktree, committed on its branch, pushed, a PR record" {
	make_tree
	git clone -q --bare "$WORK/tree" "$WORK/origin.git"
	run_agent
	local id br=a1/longer-greeting sha prid
	id=$(agq-submit --title "Longer greeting" --prompt "make the greeting longer" \
	    --backend ollama --model patch --git "$WORK/origin.git" \
	    --verify "grep -qx 'hello, patched' hello.txt")
	wait_for 30 is_state "$id" done
	[ "$(git -C "$WORK/origin.git" show "$br:hello.txt")" = "hello, patched" ]
	[ "$(git -C "$WORK/origin.git" show main:hello.txt)" = hello ]
	git -C "$WORK/origin.git" log -1 --format=%B "$br" | grep -qx "Agq-Task: $id"
	sha=$(git -C "$WORK/origin.git" rev-parse "$br")
	prid=$(grep '"ev":"pr_open"' "$AGQ_SPOOL/journal" | grep "\"id\":\"$id\"" | jq -r .pr)
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" '.branch + " " + .head' "$br $sha"
	[ "$(result "$id" '.iterations[0].patch.applied')" = true ]
	[ "$(result "$id" '.git.branch')" = "$br" ]
	# the prompt listed the worktree's files; the work tree of the test is
	# untouched
	prompt_of patch 1 | grep -qx 'Files of the repository (2):'
	[ "$(cat "$WORK/tree/hello.txt")" = hello ]
}
