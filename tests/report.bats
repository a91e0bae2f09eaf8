#!/usr/bin/env bats
# Reporting on reviewed and merged pull requests (issue 18): agq-show's
# chain, agq-stats' review and merge figures, agq-dash's open and merged
# PRs, agq-ls's review/ and approval/ rows; from a journal written through
# libagq's own writer (tests/unit/jwrite.c, so the hash chain is real) and
# task files, reviews/ files and PR records written as agq writes them.

load helper
bats_require_minimum_version 1.5.0

T0=1796083200   # 2026-12-01T00:00:00Z
JW=${AGQ_TEST_UNIT:-${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/build/default/unit}/jwrite

# ts EPOCH: its RFC 3339 time, for a time on T0's day (no date(1) fork:
# the fixtures name about a hundred).
ts() {
	local s=$(($1 - T0))
	printf '2026-12-01T%02d:%02d:%02d.000000Z' $((s / 3600)) \
	    $((s / 60 % 60)) $((s % 60))
}

# j SECONDS EV ID [JSON-MEMBERS]: one event at T0+SECONDS, appended to
# the batch that jw writes.
j() {
	printf '{"ts":"%s","ev":"%s","id":"%s"%s}\n' "$(ts $((T0 + $1)))" \
	    "$2" "$3" "${4:+,$4}" >> "$BATS_TEST_TMPDIR/events"
}
jw() { "$JW" < "$BATS_TEST_TMPDIR/events" && rm "$BATS_TEST_TMPDIR/events"; }

# task STATE ID SUBMITTED-SECONDS [JQ-FILTER]: a coder task with review,
# merge on approval (squash), in STATE/.
task() {
	jq -n --arg id "$2" --arg at "$(ts $((T0 + $3)))" '{id: $id,
	    title: ("change " + $id), cmd: "true", submitted_at: $at,
	    git: {repo: "/r/app.git", base: "main"}, review: {required: 1,
	    max_rounds: 2, cmd: "true"}, merge: "on-approval",
	    merge_method: "squash", pr: ("pr-" + $id)}' | jq "${4:-.}" \
	    > "$AGQ_SPOOL/$1/$2.json"
}

# pr STATE TASK CREATED-SECONDS [JQ-FILTER]: its PR record in prs/STATE/.
pr() {
	jq -n --arg t "$2" --arg c "$(ts $((T0 + $3)))" '{id: ("pr-" + $t),
	    task: $t, repo: "/r/app.git", base: "main", branch: ("a1/" + $t),
	    head: "1111111111111111111111111111111111111111",
	    title: ("change " + $t), url: null, number: null, created_at: $c}' |
	    jq "${4:-.}" > "$AGQ_SPOOL/prs/$1/pr-$2.json"
}

sha() { printf "%040d" 0 | tr 0 "$1"; }

# The fixtures: c1 merged after two rounds (request_changes, then an
# agent's and a person's approve), c8 merged after one; c2 dead after
# max_rounds, its PR left open; c3 approved, waiting for a person's
# approval of the merge; c4 closed on the forge; c5 under review (1 of 2
# approvals), c6 with a person's request_changes not yet acted on, c7
# merging.
fixtures() {
	[ -x "$JW" ] || { echo "no $JW (make build/default/unit/jwrite)"; return 1; }
	agq-ls -q > /dev/null   # the spool and its directories
	local a b c
	a=$(sha a) b=$(sha b) c=$(sha c)
	# c1
	j 0 submit c1 '"state":"queue","lane":"normal"'
	j 10 start c1 '"agent":"a1","gen":1,"attempt":1'
	j 20 finish c1 '"agent":"a1","exit":0,"duration_ms":10000,"cost_usd":0.5,"backend":"claude","model":"opus"'
	j 20 commit c1 "\"sha\":\"$a\",\"files\":2,\"branch\":\"a1/c1\""
	j 20 push c1 "\"sha\":\"$a\",\"branch\":\"a1/c1\",\"repo\":\"/r/app.git\""
	j 20 pr_open c1 '"pr":"pr-c1","number":7,"url":"https://forge.example/o/app/pull/7","branch":"a1/c1"'
	j 20 review_wait c1 "\"pr\":\"pr-c1\",\"round\":1,\"head\":\"$a\""
	j 21 review_start c1 '"pr":"pr-c1","round":1,"tasks":["c1-r1-1"]'
	j 30 start c1-r1-1 '"agent":"a2","gen":1,"attempt":1'
	j 40 finish c1-r1-1 '"agent":"a2","exit":0,"duration_ms":10000,"cost_usd":0.25'
	j 40 review c1-r1-1 "\"parent\":\"c1\",\"pr\":\"pr-c1\",\"round\":1,\"head\":\"$a\",\"verdict\":\"request_changes\",\"comments\":\"Tests are missing.\\nAdd one for x.\",\"agent\":\"a2\""
	j 40 done c1-r1-1 '"agent":"a2"'
	j 50 start c1 '"agent":"a1","gen":2,"attempt":2'
	j 60 finish c1 '"agent":"a1","exit":0,"duration_ms":10000,"cost_usd":0.5'
	j 60 push c1 "\"sha\":\"$b\",\"branch\":\"a1/c1\",\"repo\":\"/r/app.git\""
	j 60 review_wait c1 "\"pr\":\"pr-c1\",\"round\":2,\"head\":\"$b\""
	j 70 start c1-r2-1 '"agent":"a2","gen":1,"attempt":1'
	j 80 finish c1-r2-1 '"agent":"a2","exit":0,"duration_ms":10000,"cost_usd":0.25'
	j 80 review c1-r2-1 "\"parent\":\"c1\",\"pr\":\"pr-c1\",\"round\":2,\"head\":\"$b\",\"verdict\":\"approve\",\"comments\":\"LGTM\",\"agent\":\"a2\""
	j 80 done c1-r2-1 '"agent":"a2"'
	j 85 review c1 "\"pr\":\"pr-c1\",\"round\":2,\"head\":\"$b\",\"verdict\":\"approve\",\"comments\":[\"Ship it\"],\"uid\":1000,\"user\":\"alice\""
	j 90 start c1-m1 '"agent":"a3","gen":1,"attempt":1'
	j 100 merge c1 "\"task\":\"c1-m1\",\"pr\":\"pr-c1\",\"method\":\"squash\",\"sha\":\"$c\",\"base\":\"main\""
	j 100 done c1-m1 '"agent":"a3"'
	j 100 done c1 '"reason":"merged"'
	# c2
	j 200 submit c2 '"state":"queue"'
	j 201 start c2 '"agent":"a1","gen":1,"attempt":1'
	j 210 pr_open c2 '"pr":"pr-c2","number":null,"url":null'
	j 210 review_wait c2 "\"pr\":\"pr-c2\",\"round\":1,\"head\":\"$a\""
	j 220 review c2-r1-1 "\"parent\":\"c2\",\"round\":1,\"verdict\":\"request_changes\",\"comments\":\"Broken.\",\"agent\":\"a2\""
	j 230 start c2 '"agent":"a1","gen":2,"attempt":2'
	j 240 review_wait c2 "\"pr\":\"pr-c2\",\"round\":2,\"head\":\"$b\""
	j 250 review c2-r2-1 "\"parent\":\"c2\",\"round\":2,\"verdict\":\"request_changes\",\"comments\":\"Still broken.\",\"agent\":\"a2\""
	j 251 dead c2 '"reason":"review: changes requested after 2 rounds: Still broken."'
	# c3
	j 300 submit c3 '"state":"queue"'
	j 301 start c3 '"agent":"a1","gen":1,"attempt":1'
	j 310 pr_open c3 '"pr":"pr-c3"'
	j 310 review_wait c3 "\"pr\":\"pr-c3\",\"round\":1,\"head\":\"$a\""
	j 320 review c3-r1-1 "\"parent\":\"c3\",\"round\":1,\"verdict\":\"approve\",\"comments\":[],\"agent\":\"a2\""
	j 321 approval_wait c3 "\"for\":\"merge\",\"head\":\"$a\""
	# c4
	j 400 submit c4 '"state":"queue"'
	j 401 start c4 '"agent":"a1","gen":1,"attempt":1'
	j 410 pr_open c4 '"pr":"pr-c4","number":9,"url":"https://forge.example/o/app/pull/9"'
	j 410 review_wait c4 "\"pr\":\"pr-c4\",\"round\":1,\"head\":\"$a\""
	j 420 pr_close c4 '"pr":"pr-c4","source":"forge"'
	j 420 dead c4 '"reason":"pull request closed on the forge"'
	# c8
	j 500 submit c8 '"state":"queue"'
	j 501 start c8 '"agent":"a1","gen":1,"attempt":1'
	j 510 finish c8 '"agent":"a1","exit":0,"duration_ms":9000,"cost_usd":0.75'
	j 510 pr_open c8 '"pr":"pr-c8"'
	j 510 review_wait c8 "\"pr\":\"pr-c8\",\"round\":1,\"head\":\"$a\""
	j 600 finish c8-r1-1 '"agent":"a2","exit":0,"duration_ms":9000,"cost_usd":0.25'
	j 600 review c8-r1-1 "\"parent\":\"c8\",\"round\":1,\"verdict\":\"approve\",\"comments\":[\"ok\"],\"agent\":\"a2\""
	j 600 done c8-r1-1 '"agent":"a2"'
	j 800 merge c8 "\"task\":\"c8-m1\",\"pr\":\"pr-c8\",\"method\":\"merge\",\"sha\":\"$b\",\"base\":\"main\""
	j 800 done c8
	jw
	# the task files
	task done c1 0 ".round = 2 | .head = \"$b\""
	jq -n --arg h "$a" '{id: "c1-r1-1", kind: "review", parent: "c1",
	    round: 1, head: $h, cmd: "true", verdict: {verdict: "request_changes",
	    comments: ["Tests are missing."], head: $h}}' > "$AGQ_SPOOL/done/c1-r1-1.json"
	task dead c2 200 ".round = 2 | .reason = \"review: changes requested after 2 rounds: Still broken.\""
	task approval c3 300 ".round = 1 | .head = \"$a\" | .approval = \"before_merge\" | .approval_for = \"merge\""
	jq -n --arg h "$a" '{id: "c3-r1-1", kind: "review", parent: "c3",
	    round: 1, head: $h, cmd: "true", verdict: {verdict: "approve",
	    comments: [], head: $h}}' > "$AGQ_SPOOL/done/c3-r1-1.json"
	task dead c4 400 '.round = 1 | .reason = "pull request closed on the forge"'
	task review c5 450 ".round = 1 | .head = \"$a\" | .review.required = 2"
	jq -n --arg h "$a" '{id: "c5-r1-1", kind: "review", parent: "c5",
	    round: 1, head: $h, cmd: "true", verdict: {verdict: "approve",
	    comments: [], head: $h}}' > "$AGQ_SPOOL/done/c5-r1-1.json"
	# a verdict for another head does not count
	jq -n --arg h "$b" '{id: "c5-r1-2", kind: "review", parent: "c5",
	    round: 1, head: $h, cmd: "true", verdict: {verdict: "approve",
	    comments: [], head: $h}}' > "$AGQ_SPOOL/done/c5-r1-2.json"
	jq -n --arg h "$a" '{id: "c5-r1-3", kind: "review", parent: "c5",
	    round: 1, head: $h, cmd: "true"}' > "$AGQ_SPOOL/queue/normal/c5-r1-3.json"
	task review c6 460 ".round = 1 | .head = \"$a\""
	mkdir -p "$AGQ_SPOOL/reviews/c6"
	jq -n --arg h "$a" '{task: "c6", pr: "pr-c6", round: 1, head: $h,
	    verdict: "request_changes", comments: ["No."], by: {uid: 1000,
	    user: "alice"}, at: "2026-12-01T00:08:00Z"}' \
	    > "$AGQ_SPOOL/reviews/c6/1.user-1000-x1.json"
	task review c7 470 ".round = 1 | .head = \"$a\""
	jq -n --arg h "$a" '{id: "c7-m1", kind: "merge", parent: "c7",
	    head: $h, cmd: "true"}' > "$AGQ_SPOOL/queue/normal/c7-m1.json"
	task done c8 500 ".round = 1 | .head = \"$a\""
	# the PR records
	pr merged c1 20 ".url = \"https://forge.example/o/app/pull/7\" | .number = 7 |
	    .merged = {sha: \"$c\", method: \"squash\", at: \"$(ts $((T0 + 100)))\", by: \"a3\"}"
	pr merged c8 510 ".merged = {sha: \"$b\", method: \"merge\", at: \"$(ts $((T0 + 800)))\", by: \"a3\"}"
	pr open c2 210
	pr open c3 310
	pr closed c4 410
	pr open c5 450
	pr open c6 460
	pr open c7 470
}

@test "agq-show: the chain of a PR merged after two rounds, for the coder and for its review task" {
	fixtures
	run agq-journal --verify
	[ "$status" -eq 0 ]
	run agq-show --json c1
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jq -c '[.chain[].ev]' <<< "$out")" = '["submit","start","finish","commit","push","pr_open","review_wait","review_start","start","finish","review","done","feedback","start","finish","push","review_wait","start","finish","review","done","review","start","merge","done","done"]' ]
	# times in order, each attempt numbered, the feedback of round 1
	[ "$(jq -r '.chain[0].at' <<< "$out")" = "$(ts $T0)" ]
	[ "$(jq -c '[.chain[] | select(.ev == "start" and .id == "c1") | .attempt]' <<< "$out")" = '[1,2]' ]
	[ "$(jq -c '.chain[] | select(.ev == "feedback") | [.round, .from, .comments]' <<< "$out")" = '[1,["c1-r1-1 (agent a2)"],["Tests are missing."]]' ]
	[ "$(jq -c '[.chain[] | select(.ev == "review") | [.round, .verdict, .comment, (.agent // .user)]]' <<< "$out")" = '[[1,"request_changes","Tests are missing.","a2"],[2,"approve","LGTM","a2"],[2,"approve","Ship it","alice"]]' ]
	[ "$(jq -c '.chain[] | select(.ev == "merge") | [.method, .sha[0:7], .task]' <<< "$out")" = '["squash","ccccccc","c1-m1"]' ]
	[ "$(jq -c '.chain[] | select(.ev == "pr_open") | [.pr, .number, .url]' <<< "$out")" = '["pr-c1",7,"https://forge.example/o/app/pull/7"]' ]
	# no writer's fields
	[ "$(jq '[.chain[] | select(has("prog") or has("seq") or has("ts"))] | length' <<< "$out")" -eq 0 ]
	run agq-show c1
	[ "$status" -eq 0 ]
	grep -Fx "chain:  c1" <<< "$output"
	grep -Fx "        $(ts $T0)  submitted" <<< "$output"
	grep -Fx "        $(ts $((T0 + 20)))  pull request pr-c1 #7 https://forge.example/o/app/pull/7" <<< "$output"
	grep -Fx "        $(ts $((T0 + 20)))  round 1: under review at aaaaaaa" <<< "$output"
	grep -Fx "        $(ts $((T0 + 40)))  c1-r1-1: round 1: request_changes by a2: Tests are missing." <<< "$output"
	grep -Fx "        $(ts $((T0 + 50)))  round 1: changes fed back to the coder, from c1-r1-1 (agent a2): Tests are missing." <<< "$output"
	grep -Fx "        $(ts $((T0 + 50)))  attempt 2 started on a1" <<< "$output"
	grep -Fx "        $(ts $((T0 + 85)))  round 2: approve by user alice: Ship it" <<< "$output"
	grep -Fx "        $(ts $((T0 + 100)))  merged (squash) as ccccccc into main by c1-m1" <<< "$output"
	# a review task shows its parent's chain
	run agq-show --json c1-r1-1
	[ "$status" -eq 0 ]
	[ "$(jq -r .parent <<< "$output")" = c1 ]
	[ "$(jq -c '[.chain[].ev]' <<< "$output")" = "$(jq -c '[.chain[].ev]' <<< "$out")" ]
	run agq-show c1-r1-1
	grep -Fx "chain:  c1 (the parent)" <<< "$output"
	# a task without a PR: no chain section, an empty-of-PR chain in JSON
	id=$(agq-submit -- true)
	run agq-show "$id"
	[[ "$output" != *"chain:"* ]]
	run agq-show --json "$id"
	[ "$(jq -c '[.chain[].ev]' <<< "$output")" = '["submit"]' ]
}

@test "agq-show: a chain split by journal rotations is read whole, back to the task's submit and no further" {
	[ -x "$JW" ] || { echo "no $JW (make build/default/unit/jwrite)"; return 1; }
	agq-ls -q > /dev/null
	local a b
	a=$(sha a) b=$(sha b)
	# rotated after the submit, and again after the review
	j 0 submit r1 '"state":"queue","lane":"normal"'
	j 10 start r1 '"agent":"a1","gen":1,"attempt":1'
	jw
	old1=$(agq-journal --rotate)
	j 20 pr_open r1 '"pr":"pr-r1"'
	j 20 review_wait r1 "\"pr\":\"pr-r1\",\"round\":1,\"head\":\"$a\""
	j 40 review r1-r1-1 "\"parent\":\"r1\",\"pr\":\"pr-r1\",\"round\":1,\"head\":\"$a\",\"verdict\":\"approve\",\"comments\":[\"ok\"],\"agent\":\"a2\""
	jw
	agq-journal --rotate > /dev/null
	j 100 merge r1 "\"task\":\"r1-m1\",\"pr\":\"pr-r1\",\"method\":\"merge\",\"sha\":\"$b\",\"base\":\"main\""
	j 100 done r1 '"reason":"merged"'
	j 200 submit r2 '"state":"queue"'
	jw
	run agq-journal --verify
	[ "$status" -eq 0 ]
	task done r1 0 ".round = 1 | .head = \"$a\""
	task done r2 200
	run agq-show --json r1
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.chain[].ev]' <<< "$output")" = '["submit","start","pr_open","review_wait","review","merge","done"]' ]
	[ "$(jq -c '[.events[].ev]' <<< "$output")" = '["submit","start","pr_open","review_wait","merge","done"]' ]
	run agq-show r1
	grep -Fx "        $(ts $T0)  submitted" <<< "$output"
	grep -Fx "        $(ts $((T0 + 100)))  merged (merge) as bbbbbbb into main by r1-m1" <<< "$output"
	# from its review task too
	j 300 start r1-r1-1 '"agent":"a2"'
	jw
	mkdir -p "$AGQ_SPOOL/done"
	jq -n '{id: "r1-r1-1", kind: "review", parent: "r1", cmd: "true"}' \
	    > "$AGQ_SPOOL/done/r1-r1-1.json"
	run agq-show --json r1-r1-1
	[ "$(jq -c '[.chain[].ev] | .[0], .[-1]' <<< "$output")" = "$(printf '"submit"\n"start"')" ]
	# a task submitted since the last rotation: the rotated files are not
	# read (an event planted in the oldest would show)
	printf '{"ts":"%s","ev":"hold","id":"r2","reason":"planted"}\n' \
	    "$(ts $((T0 + 5)))" >> "$old1"
	run agq-show --json r2
	[ "$(jq -c '[.events[].ev]' <<< "$output")" = '["submit"]' ]
	# without its submit event, every file is read
	sed -i '/"ev":"submit","id":"r2"/d' "$AGQ_SPOOL/journal"
	run agq-show --json r2
	[ "$(jq -c '[.events[].ev]' <<< "$output")" = '["hold"]' ]
}

@test "agq-show: dead after max_rounds (PR left open), waiting for approval, closed on the forge" {
	fixtures
	run agq-show --json c2
	[ "$(jq -c '.chain[-1] | [.ev, .pr, .pr_state]' <<< "$output")" = '["dead","pr-c2","open"]' ]
	[ "$(jq -c '[.chain[] | select(.ev == "review") | .round]' <<< "$output")" = '[1,2]' ]
	run agq-show c2
	grep -Fx "        $(ts $((T0 + 251)))  dead: review: changes requested after 2 rounds: Still broken.; pull request pr-c2 left open" <<< "$output"
	grep -Fx "        $(ts $((T0 + 230)))  round 1: changes fed back to the coder, from c2-r1-1 (agent a2): Broken." <<< "$output"
	run agq-show c3
	grep -Fx "state:  approval" <<< "$output"
	grep -Fx "        $(ts $((T0 + 321)))  waiting for a person to approve the merge" <<< "$output"
	run agq-show --json c4
	[ "$(jq -c '.chain[-2:] | map(.ev)' <<< "$output")" = '["pr_close","dead"]' ]
	[ "$(jq -r '.chain[-1].pr_state' <<< "$output")" = closed ]
	run agq-show c4
	grep -Fx "        $(ts $((T0 + 420)))  pull request pr-c4 closed on the forge" <<< "$output"
	grep -Fx "        $(ts $((T0 + 420)))  dead: pull request closed on the forge; pull request pr-c4 closed" <<< "$output"
}

@test "agq-ls: the round of a task in review/, what a task in approval/ waits for" {
	fixtures
	run agq-ls --state review
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[1]}" =~ ^c5\ +review\ .*\[round\ 1\]\ change\ c5$ ]]
	run agq-ls --state approval
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^c3\ +approval\ .*\[approve\ merge\]\ change\ c3$ ]]
	run agq-ls --state approval --json
	[ "$(jq -r '[.state, .approval_for] | @tsv' <<< "$output")" = "$(printf 'approval\tmerge')" ]
	run agq-ls -q
	for t in c1 c2 c3 c4 c5 c6 c7 c8; do grep -qx "$t" <<< "$output"; done
	run agq-ls --state nosuch
	[ "$status" -eq 64 ]
	[[ "$output" == *"active, review, approval, done, dead, archived; alone: inbox, corrupt)"* ]]
}

@test "agq-stats: review rounds per PR, time from submit to merge, cost per merged PR, PRs merged and closed" {
	fixtures
	run agq-stats --json --since "$(ts $T0)" --until "$(ts $((T0 + 1000)))"
	[ "$status" -eq 0 ]
	out=$output
	jqs() { jq -r "$1" <<< "$out"; }
	[ "$(jqs '.prs | [.opened, .merged, .closed] | @tsv')" = "$(printf '5\t2\t1')" ]
	# c1 2 rounds, c2 2, c3 1, c4 1, c8 1
	[ "$(jqs '.prs.review_rounds | [.prs, .mean, .max] | @tsv')" = "$(printf '5\t1.4\t2')" ]
	# c1 100 s, c8 300 s: nearest rank
	[ "$(jqs '.prs.time_to_merge | [.n, .p50_ms, .p99_ms] | @tsv')" = "$(printf '2\t100000\t300000')" ]
	# c1: 0.5 + 0.5 + reviews 0.25 + 0.25; c8: 0.75 + 0.25
	[ "$(jqs '.prs.merges | [.n, .cost_usd, .cost_per_pr_usd] | @tsv')" = "$(printf '2\t2.5\t1.25')" ]
	[ "$(jqs '.prs.by_state | [.open, .merged, .closed] | @tsv')" = "$(printf '5\t2\t1')" ]
	run agq-stats --since "$(ts $T0)" --until "$(ts $((T0 + 1000)))"
	[ "$status" -eq 0 ]
	grep -Ex 'merged  2, closed 1 in the window; submit to merge n 2  p50 100\.000s  p99 300\.000s' <<< "$output"
	grep -Ex 'rounds  per reviewed PR: mean 1\.400, max 2 \(5 PRs\)' <<< "$output"
	grep -Ex 'per merged PR  cost 1\.2500 USD \(the coder.s and its reviews.; 2\.5000 USD in all\)' <<< "$output"
	# a window with c8's merge only
	run agq-stats --json --since "$(ts $((T0 + 700)))" --until "$(ts $((T0 + 1000)))"
	[ "$(jq -r '.prs | [.merged, .closed, .review_rounds.prs, .time_to_merge.p50_ms, .merges.cost_usd] | @tsv' <<< "$output")" = "$(printf '1\t0\t0\t300000\t1')" ]
}

@test "agq-stats: merged tasks agq-clean archived keep their time to merge and their cost (result.json from the archive)" {
	fixtures
	# m1: merged, its cost only in its out/m1/result.json
	j 900 submit m1 '"state":"queue"'
	j 901 finish m1 '"agent":"a1","exit":0,"duration_ms":1000'
	j 910 merge m1 '"task":"m1-m1","pr":"pr-m1","method":"merge","sha":"abc","base":"main"'
	j 910 done m1
	jw
	task done m1 900
	mkdir -p "$AGQ_SPOOL/out/m1"
	echo '{"status":"ok","cost_usd":1.5}' > "$AGQ_SPOOL/out/m1/result.json"
	figures() {
		agq-stats --json --since "$(ts $T0)" --until "$(ts $((T0 + 1000)))" |
		    jq -c '.prs | [.merged, .time_to_merge.n, .time_to_merge.p50_ms,
		    .time_to_merge.p99_ms, .merges.cost_usd,
		    (.merges.cost_per_pr_usd * 1000 | round)]'
	}
	# c1 100 s, c8 300 s, m1 10 s; c1 1.5, c8 1, m1 1.5
	[ "$(figures)" = '[3,3,100000,300000,4,1333]' ]
	agq-clean -q --older-than 0 --state done,dead
	[ ! -e "$AGQ_SPOOL/done/c1.json" ] && [ ! -e "$AGQ_SPOOL/done/m1.json" ]
	[ ! -e "$AGQ_SPOOL/out/m1" ]
	[ "$(figures)" = '[3,3,100000,300000,4,1333]' ]
}

@test "agq-stats: the cost of a merged PR nobody priced is unknown, not 0" {
	j 0 submit u1
	j 1 finish u1 '"agent":"a1","exit":0,"backend":"openai","model":"local","cost_usd":null'
	j 2 pr_open u1 '"pr":"pr-u1"'
	j 2 review_wait u1 '"round":1'
	j 3 finish u1-r1-1 '"agent":"a2","exit":0'
	j 4 merge u1 '"method":"merge","sha":"abc"'
	jw
	run agq-stats --json
	[ "$(jq -c '.prs.merges' <<< "$output")" = '{"n":1,"cost_usd":null,"cost_per_pr_usd":null}' ]
	# the task file is gone: no time to merge
	[ "$(jq -c '.prs.time_to_merge' <<< "$output")" = '{"n":0}' ]
	run agq-stats
	grep -Fx "per merged PR  cost unknown (the coder's and its reviews'; unknown in all)" <<< "$output"
}

@test "agq-dash: open PRs with round, approvals and review state, the last merged with commit, method and time to merge, in Chromium and /status.json" {
	fixtures
	run agq-dash -o "$WORK/dash.html"
	[ "$status" -eq 0 ]
	chrome --dump-dom "file://$WORK/dash.html" > "$BATS_TEST_TMPDIR/dom.html"
	dom="$BATS_TEST_TMPDIR/dom.html"
	grep -q '<h2>Open pull requests</h2>' "$dom"
	[ "$(shown count-prs-open)" -eq 5 ]
	[ "$(shown count-prs-merged)" -eq 2 ]
	# the tasks in review/ and approval/ counted as agq-status counts them
	json=$(agq-status --json)
	[ "$(shown count-review)" = "$(jq '.counts.review // 0' <<< "$json")" ]
	[ "$(shown count-approval)" = "$(jq '.counts.approval // 0' <<< "$json")" ]
	row() { grep -o "<tr class=\"pr-open\" data-review=\"[^\"]*\"><td><code>pr-$1</code>.*" "$dom" | sed 's|</tr>.*||'; }
	[[ "$(row c5)" == *'data-review="reviewing"'*'<td class="round">1</td><td class="approvals">1/2</td><td><span class="badge rs-reviewing">reviewing</span>'* ]]
	[[ "$(row c6)" == *'<td class="approvals">0/1</td><td><span class="badge rs-changes">changes requested</span>'* ]]
	[[ "$(row c3)" == *'<td class="approvals">1/1</td><td><span class="badge rs-approval">awaiting approval</span>'* ]]
	[[ "$(row c7)" == *'<span class="badge rs-merging">merging</span>'* ]]
	[[ "$(row c2)" == *'<td class="round">2</td>'*'stopped'* ]]
	# merged: newest merge first, short sha, method, submit to merge
	grep -o '<tr class="pr-merged">.*' "$dom" | sed 's|</table>.*||' > "$WORK/merged"
	[[ "$(cat "$WORK/merged")" == *'<code>pr-c8</code>'*'<code class="sha">bbbbbbb</code></td><td class="method">merge</td><td class="ttm">5 min</td>'*'<code>pr-c1</code> <a href="https://forge.example/o/app/pull/7">#7</a>'*'<code class="sha">ccccccc</code></td><td class="method">squash</td><td class="ttm">100 s</td>'* ]]
	chrome --window-size=1280,2400 --screenshot="$BATS_TEST_TMPDIR/prs.png" "file://$WORK/dash.html"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/prs.png")" -gt 20000 ]
	if [ -n "${AGQ_DASH_SCREENSHOT:-}" ]; then cp "$BATS_TEST_TMPDIR/prs.png" "${AGQ_DASH_SCREENSHOT%.png}-review.png"; fi
	# the JSON API
	agq-dash --serve 0 --refresh 0 > "$WORK/serve.out" 2>&1 &
	PIDS+=($!)
	pid=$!
	wait_for 20 grep -q '^listening on http://127.0.0.1:' "$WORK/serve.out"
	port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$WORK/serve.out")
	body=$(exec 4<>"/dev/tcp/127.0.0.1/$port"
	    printf 'GET /status.json HTTP/1.0\r\nHost: localhost\r\n\r\n' >&4
	    sed '1,/^\r$/d' <&4)
	[ "$(jq -c '[.prs_open[] | [.task, .round, .approvals, .required, .review_state]]' <<< "$body")" = '[["c7",1,0,1,"merging"],["c6",1,0,1,"changes requested"],["c5",1,1,2,"reviewing"],["c3",1,1,1,"awaiting approval"],["c2",2,0,1,"stopped"]]' ]
	[ "$(jq -c '[.prs_merged[] | [.task, .merged.method, .merged.sha[0:7], .time_to_merge_s]]' <<< "$body")" = '[["c8","merge","bbbbbbb",300],["c1","squash","ccccccc",100]]' ]
	kill -TERM "$pid"
	wait "$pid"
}
