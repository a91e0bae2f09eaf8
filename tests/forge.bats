#!/usr/bin/env bats
# The forge (issue 16): agq-git finish opens the pull request on GitHub or
# Gitea/Forgejo through their REST APIs, against tests/fakeforge.py, a
# loopback stand-in that checks the request shapes; agq-pr open and sync.
# A real bare origin made with git(1); each test uses its own OWNER/REPO
# on the one stand-in, whose requests go to $FAKE_DIR/requests.

load helper
bats_require_minimum_version 1.5.0

TOKEN=tok-5ecret-0f-the-f0rge

setup_file() { fake_forge_start "$TOKEN"; }
teardown_file() { fake_forge_stop; }

# forge KIND REPO: a bare origin $WORK/origin.git, agq.conf's forge
# settings for the stand-in, and task t1 (with success criteria) in a
# worktree $DIR with a change; its branch is $BR.
forge() {
	command -v git >/dev/null || skip "no git"
	[ -s "$FAKE_DIR/port" ] || skip "no python3"
	PORT=$(cat "$FAKE_DIR/port")
	rm -f "$FAKE_DIR/requests.status"
	git init -q -b main "$WORK/src"
	echo one > "$WORK/src/a.txt"
	git -C "$WORK/src" add . && git -C "$WORK/src" commit -qm init
	git clone -q --bare "$WORK/src" "$WORK/origin.git"
	forge_settings "$1" "$2" "$PORT" "$TOKEN"
	echo '{"id": "t1", "cmd": "true", "title": "Add b",
	  "success_criteria": ["b.txt exists", "tests pass"]}' | agq-submit -q
	run --separate-stderr agq-git start-task --repo "$WORK/origin.git" \
	    --agent bot --slug "Add b" --task t1
	[ "$status" -eq 0 ]
	DIR=${output%%$'\t'*} BR=${output#*$'\t'}
	echo b > "$DIR/b.txt"
}

# requests REPO [JQ-FILTER]: the stand-in's requests for REPO, as JSON lines.
requests() {
	jq -rc --arg r "/$1/pulls" "select(.path | contains(\$r)) ${2:+| $2}" \
	    "$FAKE_DIR/requests"
}

# record: the one PR record of the spool.
record() { cat "$AGQ_SPOOL"/prs/open/*.json; }

# forget: the record as a crash between the forge's answer and the record's
# rewrite leaves it: no url, no number.
forget() {
	local f
	f=$(ls "$AGQ_SPOOL"/prs/open/*.json)
	jq '.url = null | .number = null' "$f" > "$f.new" && mv "$f.new" "$f"
}

@test "forge github: finish opens the PR with the API's headers and body; the record has its number and url; a second finish opens none" {
	forge github o/r1
	run --separate-stderr agq-git finish "$DIR" --title "Add b.txt" \
	    --summary "verification: pass (1 passed, 0 failed)"
	echo "$stderr"
	[ "$status" -eq 0 ]
	local prid sha url
	IFS=$'\t' read -r prid _ sha url <<<"$output"
	[ "$url" = https://github.com/o/r1/pull/1 ]
	[ "$(record | jq -r '[.number, .url, .head] | map(tostring) | join(" ")')" = "1 $url $sha" ]
	[ "$(requests o/r1 | wc -l)" -eq 1 ]
	local q
	q=$(requests o/r1)
	[ "$(jq -r .method <<<"$q")" = POST ]
	[ "$(jq -r .path <<<"$q")" = /repos/o/r1/pulls ]
	[ "$(jq -r '.headers.Authorization' <<<"$q")" = "Bearer $TOKEN" ]
	[ "$(jq -r '.headers.Accept' <<<"$q")" = application/vnd.github+json ]
	[ "$(jq -r '.headers["X-GitHub-Api-Version"]' <<<"$q")" = 2022-11-28 ]
	[[ "$(jq -r '.headers["User-Agent"]' <<<"$q")" == agq/* ]]
	[ "$(jq -r '.body | [.title, .head, .base, (.draft|tostring)] | join(" ")' <<<"$q")" = "Add b.txt $BR main false" ]
	local body
	body=$(jq -r .body.body <<<"$q")
	[[ "$body" == *'task `t1`'* ]]
	[[ "$body" == *"- b.txt exists"*"- tests pass"* ]]
	[[ "$body" == *"verification: pass (1 passed, 0 failed)"* ]]
	# agq-pr shows it
	run agq-pr show t1
	[[ "$output" == *"number     1"* ]]
	[[ "$output" == *"url        $url"* ]]
	# a second finish of the branch: a new commit, no second PR
	echo c > "$DIR/c.txt"
	run --separate-stderr agq-git finish "$DIR" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .number <<<"$output")" = 1 ]
	[ "$(requests o/r1 | wc -l)" -eq 1 ]
	# agq-pr open of a record with a number asks nothing either
	run agq-pr open "$prid"
	[ "$status" -eq 0 ]
	[ "$output" = "$prid	1	$url" ]
	[ "$(requests o/r1 | wc -l)" -eq 1 ]
}

@test "forge github: 401 is a clear reason naming the forge and status, never the token" {
	forge github o/r2
	echo wrong-token > "$WORK/token"
	run --separate-stderr agq-git finish "$DIR"
	[ "$status" -eq 1 ]
	[ "$stderr" = "agq-git: cannot open the pull request: github answered 401: Bad credentials: check forge_token_file (http://127.0.0.1:$PORT/repos/o/r2/pulls)" ]
	[ -z "$output" ]
	# the record is written, without a number; no token anywhere
	[ "$(record | jq -r .number)" = null ]
	! grep -rq -e "$TOKEN" -e wrong-token "$AGQ_SPOOL"
	# with the right token, agq-pr open opens it
	echo "$TOKEN" > "$WORK/token"
	run --separate-stderr agq-pr open t1
	[ "$status" -eq 0 ]
	[ "$(record | jq -r .number)" = 1 ]
}

@test "forge github: 422 'already exists' finds the existing PR (a crash before the record's rewrite opens no second one)" {
	forge github o/r3
	agq-git finish "$DIR"
	forget
	[ "$(record | jq -r .number)" = null ]
	run --separate-stderr agq-pr open t1 --json
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.number, .url] | join(" ")' <<<"$output")" = "1 https://github.com/o/r3/pull/1" ]
	[ "$(record | jq -r .number)" = 1 ]
	[ "$(requests o/r3 '.method' | tr '\n' ' ')" = "POST POST GET " ]
	[ "$(requests o/r3 'select(.method == "GET") | .path')" = "/repos/o/r3/pulls?head=o%3A${BR//\//%2F}&state=all" ]
	# a record no longer open is not opened again
	local prid
	prid=$(record | jq -r .id)
	forget
	agq-pr merged "$prid"
	run --separate-stderr agq-pr open "$prid"
	[ "$status" -eq 1 ]
	[ "$stderr" = "agq-pr: cannot open the pull request: the record is merged ($prid)" ]
	[ "$(requests o/r3 | wc -l)" -eq 3 ]
}

@test "forge github: 500 and a refused connection are retryable failures with the reason; agq-pr sync opens it later" {
	forge github o/r4
	echo 500 > "$FAKE_DIR/requests.status"
	run --separate-stderr agq-git finish "$DIR"
	rm -f "$FAKE_DIR/requests.status"
	[ "$status" -eq 75 ]
	local prid
	prid=$(record | jq -r .id)
	[ "$stderr" = "agq-git: cannot open the pull request now (try again: agq-pr open $prid): github answered 500: Server Error (http://127.0.0.1:$PORT/repos/o/r4/pulls)" ]
	[ "$(record | jq -r .number)" = null ]
	# nothing listens on port 1
	sed -i "s|^forge_url = .*|forge_url = http://127.0.0.1:1|" "$AGQ_CONF"
	run --separate-stderr agq-pr open "$prid"
	[ "$status" -eq 75 ]
	[[ "$stderr" == "agq-pr: cannot open the pull request now (try again: agq-pr open $prid): cannot reach github: "*"(http://127.0.0.1:1/repos/o/r4/pulls)" ]]
	sed -i "s|^forge_url = .*|forge_url = http://127.0.0.1:$PORT|" "$AGQ_CONF"
	run --separate-stderr agq-pr sync
	[ "$status" -eq 0 ]
	[ "$output" = "$prid	1	https://github.com/o/r4/pull/1" ]
	run --separate-stderr agq-pr sync --json
	[ "$output" = "[]" ]
}

@test "forge gitea: its path and token header; 409 finds the existing PR by head.ref" {
	forge gitea o/r5
	run --separate-stderr agq-git finish "$DIR" --json
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.number, .url] | join(" ")' <<<"$output")" = "1 http://127.0.0.1:3000/o/r5/pulls/1" ]
	local q
	q=$(requests o/r5)
	[ "$(jq -r .path <<<"$q")" = /api/v1/repos/o/r5/pulls ]
	[ "$(jq -r .headers.Authorization <<<"$q")" = "token $TOKEN" ]
	[ "$(jq -r '.body | has("draft")' <<<"$q")" = false ]
	[ "$(jq -r '.body | [.head, .base] | join(" ")' <<<"$q")" = "$BR main" ]
	forget
	run --separate-stderr agq-pr sync
	[ "$status" -eq 0 ]
	[[ "$output" == *"	1	http://127.0.0.1:3000/o/r5/pulls/1" ]]
	[ "$(requests o/r5 '.method' | tr '\n' ' ')" = "POST POST GET " ]
	[[ "$(requests o/r5 'select(.method == "GET") | .path')" == "/api/v1/repos/o/r5/pulls?state=all&limit=50&page=1" ]]
}

@test "forge: set up wrongly is a clear error; without a forge, finish writes only the record and agq-pr open says so" {
	forge gitea o/r6
	sed -i '/^forge_url/d' "$AGQ_CONF"
	run --separate-stderr agq-git finish "$DIR"
	[ "$status" -eq 1 ]
	[ "$stderr" = "agq-git: cannot open the pull request: forge_url is not set: gitea needs it (agq.conf)" ]
	sed -i "s|^forge_repo = .*|forge_repo = not/a/repo|" "$AGQ_CONF"
	echo "forge_url = http://127.0.0.1:$PORT" >> "$AGQ_CONF"
	run --separate-stderr agq-pr open t1
	[ "$status" -eq 1 ]
	[ "$stderr" = "agq-pr: cannot open the pull request: forge_repo: not OWNER/REPO: 'not/a/repo' (agq.conf)" ]
	sed -i '/^forge_repo/d' "$AGQ_CONF"
	run --separate-stderr agq-pr open t1
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"cannot tell OWNER/REPO from the origin '$WORK/origin.git': set forge_repo (agq.conf)" ]]
	[ -z "$(requests o/r6)" ]
	sed -i '/^forge/d' "$AGQ_CONF"
	run --separate-stderr agq-pr open t1
	[ "$status" -eq 78 ]
	[ "$stderr" = "agq-pr: cannot open the pull request: no forge is set (forge, agq.conf)" ]
	echo c > "$DIR/c.txt"
	run --separate-stderr agq-git finish "$DIR"
	[ "$status" -eq 0 ]
	[ "$(record | jq -r .number)" = null ]
}

@test "forge github through agq-run: a git prompt task's PR is opened on the forge, its body with the attempt's tokens, cost and verification" {
	forge github o/run1
	mkdir -p "$WORK/fakebin"
	cat > "$WORK/fakebin/claude" <<'SH'
#!/bin/sh
echo made > made.txt
printf '{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"s1","usage":{"input_tokens":120,"output_tokens":30},"total_cost_usd":0.25}\n'
SH
	chmod +x "$WORK/fakebin/claude"
	export PATH="$WORK/fakebin:$PATH"
	start_sched
	start_agent a1 --backend cli
	local id
	id=$(agq-submit --git "$WORK/origin.git" --title "Make it" --backend cli \
	    --model claude --prompt "make made.txt" --verify "test -f made.txt" \
	    --criteria "made.txt exists")
	wait_for 60 is_state "$id" done
	[ "$(git -C "$WORK/origin.git" show a1/make-it:made.txt)" = made ]
	local prid
	prid=$(jq -r .attempts[-1].git.pr "$AGQ_SPOOL/done/$id.json")
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" '.number|tostring' 1
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" .url https://github.com/o/run1/pull/1
	[ "$(jq -r .attempts[-1].git.url "$AGQ_SPOOL/done/$id.json")" = https://github.com/o/run1/pull/1 ]
	run requests o/run1 'select(.method == "POST") | .body.body'
	[[ "$output" == *"$id"* ]]
	[[ "$output" == *"made.txt exists"* ]]
	[[ "$output" == *"tokens: 120 in, 30 out"* ]]
	[[ "$output" == *"Verification: pass (1 passed, 0 failed)"* ]]
	[ "$(requests o/run1 'select(.method == "POST") | .body.head')" = a1/make-it ]
	[ "$(grep -c '"ev":"pr_open"' "$AGQ_SPOOL/journal")" -eq 1 ]
	grep '"ev":"pr_open"' "$AGQ_SPOOL/journal" | jq -e '.number == 1'
}
