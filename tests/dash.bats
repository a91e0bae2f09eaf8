#!/usr/bin/env bats
# agq-dash: the self-contained page, checked in headless Chromium against
# agq-status --json, its screenshot, agq-sync --html, and --serve.

load helper
bats_require_minimum_version 1.5.0

# pr_record STATE PRID TASK CREATED [JQ-FILTER]: a PR record as agq-git
# finish writes it (agq-spool(5), prs/), in prs/STATE/.
pr_record() {
	mkdir -p "$AGQ_SPOOL/prs/$1"
	jq -n --arg id "$2" --arg t "$3" --arg c "$4" '{id: $id, task: $t,
	    repo: "/r/app.git", base: "main", branch: ("agq/" + $t),
	    head: "0123456789abcdef0123456789abcdef01234567", title: ("PR " + $t),
	    url: null, number: null, created_at: $c}' | jq "${5:-.}" \
	    > "$AGQ_SPOOL/prs/$1/$2.json"
}

# A spool with tasks in every state and two agents.
busy_spool() {
	echo "dash_refresh = 20" >> "$AGQ_CONF"
	for i in 1 2 3; do agq-submit -q --title "step $i" -- true; done
	agq-submit -q --max-attempts 1 --title 'bad <b>&"x"' -- sh -c 'exit 3'
	echo '{"cmd":"true","title":"fix #42","meta":{"pr_url":"https://example.invalid/pr/42"}}' | agq-submit -q
	start_sched
	start_agent w1 -c shell --slots 2
	run agq-wait --timeout 60 -q
	[ "$status" -eq 1 ]
	long=$(agq-submit -p high -- sleep 60)
	agq-submit -q -p low -c nosuchcap -- true
	agq-submit -q -p urgent -c nosuchcap -- true
	agq-submit -q --delay 1h -- true
	h=$(agq-submit -c nosuchcap -- true)
	agq-hold -q "$h"
	start_agent w2 -c shell
	wait_for 30 is_state "$long" active
}

@test "agq-dash: the page is self-contained and shows in Chromium the counts of agq-status --json" {
	busy_spool
	# both agents alive (a heartbeat late under load would make the
	# page and agq-status, a moment apart, disagree)
	wait_for 30 sh -c '[ "$(agq-status --json | jq .health.agents_alive)" = 2 ]'
	json=$(agq-status --json)
	run agq-dash -o "$WORK/dash.html"
	[ "$status" -eq 0 ]
	page="$WORK/dash.html"
	# nothing to fetch: no script, no stylesheet link, no image or frame
	! grep -Eiq '<script|<link|<img|<iframe|src=|url\(|@import' "$page"
	grep -q '<meta http-equiv="refresh" content="20">' "$page"
	# escaped, and the pull request linked
	grep -q 'bad &lt;b&gt;&amp;&quot;x&quot;' "$page"
	grep -q '<a href="https://example.invalid/pr/42">pull request</a>' "$page"
	grep -q '<svg' "$page"
	# the rendered DOM and a screenshot, from one start of Chromium
	shot="$BATS_TEST_TMPDIR/dash.png"
	chrome --window-size=1280,1000 --screenshot="$shot" --dump-dom \
	    "file://$page" > "$BATS_TEST_TMPDIR/dom.html"
	grep -q 'Recent completions' "$BATS_TEST_TMPDIR/dom.html"
	for s in queue active defer hold done dead inbox corrupt; do
		echo "$s: page $(shown count-$s), status $(jq .counts.$s <<< "$json")"
		[ "$(shown count-$s)" = "$(jq .counts.$s <<< "$json")" ]
	done
	for l in urgent high normal low; do
		[ "$(shown lane-$l)" = "$(jq .counts.queue_lanes.$l <<< "$json")" ]
	done
	[ "$(shown count-queue)" -eq 2 ] && [ "$(shown count-hold)" -eq 1 ]
	[ "$(shown count-done)" -eq 4 ] && [ "$(shown count-dead)" -eq 1 ]
	[ "$(shown count-active)" -eq 1 ] && [ "$(shown count-defer)" -eq 1 ]
	[ "$(shown agents-alive)" = "$(jq .health.agents_alive <<< "$json")" ]
	[ "$(shown agents-alive)" -eq 2 ] && [ "$(shown agents-total)" -eq 2 ]
	[ "$(shown window-done)" -eq 4 ]
	# two agent cards, one busy with the long task
	[ "$(grep -o 'class="card agent"' "$BATS_TEST_TMPDIR/dom.html" | wc -l)" -eq 2 ]
	grep -q "$long" "$BATS_TEST_TMPDIR/dom.html"
	# with the host resources the agents publish
	grep -Eq 'class="res">host: load [0-9.]+ on [0-9]+ cpus' "$BATS_TEST_TMPDIR/dom.html"
	# and the screenshot of it
	[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s "$shot")" -gt 20000 ]
	if [ -n "${AGQ_DASH_SCREENSHOT:-}" ]; then cp "$shot" "$AGQ_DASH_SCREENSHOT"; fi
}

@test "agq-sync --commit --html writes the page; agq-dash --serve answers on 127.0.0.1 only" {
	agq-submit -q -- true
	agq-submit -q -p high -- true
	pr_record open pr-00000000000000aa t1 2026-12-01T00:00:00Z
	run agq-sync --html "$WORK/sync.html"
	[ "$status" -eq 0 ]
	[ ! -e "$WORK/sync.html" ]
	run agq-sync --commit --html "$WORK/sync.html"
	[ "$status" -eq 0 ]
	grep -q 'id="count-queue">2<' "$WORK/sync.html"
	grep -q 'id="lane-high">1<' "$WORK/sync.html"
	agq-dash --serve 0 --refresh 0 > "$WORK/serve.out" 2>&1 &
	PIDS+=($!)
	pid=$!
	wait_for 20 grep -q '^listening on http://127.0.0.1:' "$WORK/serve.out"
	port=$(sed -n 's|^listening on http://127.0.0.1:\([0-9]*\)/$|\1|p' "$WORK/serve.out")
	[ -n "$port" ]
	# bound to the loopback address only
	grep -q "0100007F:$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp
	get() {
		exec 3<>"/dev/tcp/127.0.0.1/$port"
		printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
		cat <&3
		exec 3<&-
	}
	out=$(get /)
	[[ "$out" == "HTTP/1.0 200"* || "$out" == "HTTP/1.1 200"* ]]
	[[ "$out" == *'id="count-queue">2<'* ]]
	[[ "$out" != *'http-equiv="refresh"'* ]]
	body=$(get /status.json | sed '1,/^\r$/d')
	[ "$(jq .counts.queue <<< "$body")" -eq 2 ]
	[ "$(jq .stats.events.submitted <<< "$body")" -eq 2 ]
	[ "$(jq -c '.prs | map([.id, .state])' <<< "$body")" = '[["pr-00000000000000aa","open"]]' ]
	[[ "$out" == *'<tr class="pr" data-state="open"><td><code>pr-00000000000000aa</code>'* ]]
	[[ "$(get /nope)" == "HTTP/1."?" 404"* ]]
	kill -TERM "$pid"
	wait "$pid"
}

@test "agq-dash: the pull requests of tasks run with --git, newest first, at most 50, with forge links, in Chromium" {
	command -v git >/dev/null || skip "no git"
	git init -q -b main "$WORK/src" && echo a > "$WORK/src/a"
	git -C "$WORK/src" add a && git -C "$WORK/src" commit -qm a
	git clone -q --bare "$WORK/src" "$WORK/origin.git"
	# 51 older records, one merged with a forge URL, one whose URL is
	# not http(s)
	for i in $(seq 10 60); do
		pr_record open "pr-00000000000000$i" "old$i" \
		    "2026-12-01T01:$(printf %02d $((i - 10))):00.000000Z"
	done
	rm "$AGQ_SPOOL/prs/open/pr-0000000000000060.json"
	pr_record merged pr-0000000000000060 old60 2026-12-01T01:50:00Z \
	    '.url = "https://forge.example/o/app/pull/60" | .number = 60'
	pr_record closed pr-0000000000000059 old59 2026-12-01T01:49:00Z \
	    '.url = "javascript:alert(1)" | .number = 59'
	rm "$AGQ_SPOOL/prs/open/pr-0000000000000059.json"
	# the newest: a real task's, run with --git, with a title to escape
	start_sched
	start_agent a1
	id=$(agq-submit --title 'Fix <b>&"x"' --git "$WORK/origin.git" -- sh -c 'echo b > b')
	wait_for 30 is_state "$id" done
	prid=$(jq -r .id "$AGQ_SPOOL"/prs/open/pr-*.json | grep -v '^pr-00')
	sha=$(git -C "$WORK/origin.git" rev-parse a1/fix-b-x)
	run agq-dash -o "$WORK/dash.html"
	[ "$status" -eq 0 ]
	page="$WORK/dash.html"
	grep -q 'Fix &lt;b&gt;&amp;&quot;x&quot;' "$page"
	grep -q '<a href="https://forge.example/o/app/pull/60">#60</a>' "$page"
	! grep -q 'javascript:' "$page"
	# the rendered DOM and, as the browser lays it out, a screenshot (one
	# start of Chromium)
	chrome --window-size=1280,2400 --screenshot="$BATS_TEST_TMPDIR/prs.png" \
	    --dump-dom "file://$page" > "$BATS_TEST_TMPDIR/dom.html"
	# the section of all records (the open ones with their review state
	# and the merged ones are sections of their own: tests/report.bats)
	sed -n '/<section class="wide" id="prs">/,/<\/section>/p' \
	    "$BATS_TEST_TMPDIR/dom.html" > "$BATS_TEST_TMPDIR/prs.html"
	dom="$BATS_TEST_TMPDIR/prs.html"
	grep -q '<h2>Pull requests</h2>' "$dom"
	[ "$(shown count-prs)" -eq 50 ]
	[ "$(grep -o '<tr class="pr"' "$dom" | wc -l)" -eq 50 ]
	# newest first: agq-git's, then 60, 59 ...; 10 and 11 left out
	grep -o '<code>pr-[0-9a-f]*</code>' "$dom" | head -3 | tr -d '\n' > "$WORK/first"
	[ "$(cat "$WORK/first")" = "<code>$prid</code><code>pr-0000000000000060</code><code>pr-0000000000000059</code>" ]
	! grep -q 'pr-0000000000000011' "$dom"
	grep -q 'pr-0000000000000012' "$dom"
	# the row of agq-git's: task, branch, short head, state, no forge
	row=$(grep -o "<tr class=\"pr\" data-state=\"open\"><td><code>$prid</code>.*" "$dom" | sed 's|</tr>.*||')
	[[ "$row" == *"<code>$id</code><br>Fix &lt;b&gt;&amp;\"x\"</td><td>a1/fix-b-x</td><td><code>${sha:0:7}</code></td>"* ]]
	[[ "$row" == *'<span class="badge pr-open">open</span>'*'no forge'* ]]
	grep -q '<tr class="pr" data-state="merged">' "$dom"
	grep -q '<tr class="pr" data-state="closed">' "$dom"
	# the screenshot
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/prs.png")" -gt 20000 ]
	if [ -n "${AGQ_DASH_SCREENSHOT:-}" ]; then cp "$BATS_TEST_TMPDIR/prs.png" "${AGQ_DASH_SCREENSHOT%.png}-prs.png"; fi
	# no records at all: none yet
	rm -r "$AGQ_SPOOL/prs"
	agq-dash -o "$page"
	grep -q 'id="count-prs">0<' "$page"
	grep -q '<h2>Pull requests</h2><p class="muted"><b id="count-prs">0</b> newest first (at most 50)</p><p class="muted">none yet</p>' "$page"
}
