#!/usr/bin/env bats
# agq-dash: the self-contained page, checked in headless Chromium against
# agq-status --json, its screenshot, agq-sync --html, and --serve.

load helper
bats_require_minimum_version 1.5.0

# chrome ARGS...: headless Chromium as the test set-up runs it (root: no
# sandbox), with a new empty profile and no network of its own.
chrome() {
	local ud="$BATS_TEST_TMPDIR/chrome-$RANDOM"
	mkdir -p "$ud"
	HOME="$ud" timeout 120 chromium --headless --no-sandbox --disable-gpu \
	    --disable-quic --no-first-run --disable-background-networking \
	    --disable-component-update --disable-sync --user-data-dir="$ud" \
	    "$@" 2>>"$BATS_TEST_TMPDIR/chrome.log"
}

# shown ID: the number the rendered page shows in the element with ID.
shown() { grep -o "id=\"$1\">[0-9]*<" "$BATS_TEST_TMPDIR/dom.html" | tr -dc 0-9; }

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
	json=$(agq-status --json)
	chrome --dump-dom "file://$page" > "$BATS_TEST_TMPDIR/dom.html"
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
	# and a screenshot of it
	shot="$BATS_TEST_TMPDIR/dash.png"
	chrome --window-size=1280,1000 --screenshot="$shot" "file://$page"
	[ "$(head -c 8 "$shot" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s "$shot")" -gt 20000 ]
	if [ -n "${AGQ_DASH_SCREENSHOT:-}" ]; then cp "$shot" "$AGQ_DASH_SCREENSHOT"; fi
}

@test "agq-sync --commit --html writes the page; agq-dash --serve answers on 127.0.0.1 only" {
	agq-submit -q -- true
	agq-submit -q -p high -- true
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
	[[ "$(get /nope)" == "HTTP/1."?" 404"* ]]
	kill -TERM "$pid"
	wait "$pid"
}
