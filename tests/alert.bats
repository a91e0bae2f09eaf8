#!/usr/bin/env bats
# agq-alert: rules from agq.conf, alert events when an alert starts and
# clears, state kept in the spool, the hook with the alert on stdin.

load helper
bats_require_minimum_version 1.5.0

hook() { echo "alert_hook = cat >> $WORK/hook.log; echo >> $WORK/hook.log" >> "$AGQ_CONF"; }
# alerts EV STATE: how many alert events of that state the journal has.
alerts() { grep '"ev":"alert"' "$AGQ_SPOOL/journal" 2>/dev/null | jq -r "select(.state == \"$1\") | .alert" | grep -c "^$2" || true; }
hooked() { grep -v '^$' "$WORK/hook.log" | jq -r "select(.state == \"$1\") | .alert" | grep -c "^$2" || true; }

@test "agq-alert: queue depth over N for a time starts once, clears when drained; the hook gets JSON" {
	echo "alert_queue_depth = 2 for 1s" >> "$AGQ_CONF"
	hook
	for i in 1 2 3; do agq-submit -q -c nosuchcap -- true; done
	# over 2, but not yet for 1 s: pending, quiet
	run agq-alert
	[ "$status" -eq 0 ] && [ -z "$output" ]
	[ "$(jq -r '.pending | keys[]' "$AGQ_SPOOL/alerts.json")" = queue_depth ]
	sleep 1.2
	run agq-alert
	[ "$status" -eq 0 ]
	[ "$output" = "ALERT queue_depth: queue depth 3 over 2 for 1s" ]
	[ "$(alerts start queue_depth)" -eq 1 ]
	[ "$(hooked firing queue_depth)" -eq 1 ]
	j=$(grep -v '^$' "$WORK/hook.log" | head -1)
	[ "$(jq -r .value <<< "$j")" -eq 3 ] && [ "$(jq -r .threshold <<< "$j")" -eq 2 ]
	[ "$(jq -r .spool <<< "$j")" = "$(cd "$AGQ_SPOOL" && pwd -P)" ]
	[ -n "$(jq -r .since <<< "$j")" ] && [ -n "$(jq -r .pending_since <<< "$j")" ]
	# cron-friendly: nothing new, nothing said, nothing journaled
	run agq-alert
	[ "$status" -eq 0 ] && [ -z "$output" ]
	[ "$(alerts start queue_depth)" -eq 1 ]
	run agq-alert -v
	[[ "$output" == "FIRING queue_depth: queue depth 3 over 2 for 1s (since "* ]]
	run agq-alert --json
	[ "$(jq -r '.active[0].alert' <<< "$output")" = queue_depth ]
	agq-ls -q --state queue | agq-cancel -q
	run agq-alert
	[ "$output" = "CLEARED queue_depth: queue depth 3 over 2 for 1s" ]
	[ "$(alerts clear queue_depth)" -eq 1 ]
	[ "$(hooked cleared queue_depth)" -eq 1 ]
	[ "$(jq '.active | length' "$AGQ_SPOOL/alerts.json")" -eq 0 ]
}

@test "agq-alert: an offline agent, dead letters in the last hour, a lane with no progress" {
	# a long lease: w1, which ran once, stays alive for the test
	echo "lease = 60" >> "$AGQ_CONF"
	echo "alert_agent_offline = yes" >> "$AGQ_CONF"
	echo "alert_dead_letters = 1" >> "$AGQ_CONF"
	echo "alert_no_progress = 1s" >> "$AGQ_CONF"
	hook
	mkdir -p "$AGQ_SPOOL/agents"
	printf '{"name":"ghost","state":"idle","heartbeat":"2020-01-01T00:00:00.000000Z","slots":1}\n' > "$AGQ_SPOOL/agents/ghost.json"
	printf '{"name":"gone","state":"down","heartbeat":"2020-01-01T00:00:00.000000Z","slots":1}\n' > "$AGQ_SPOOL/agents/gone.json"
	# an agent file's mtime is a sign of life too (a degraded agent
	# touches it: agq-run(8), A full disk): these were written long ago
	touch -d '-10 min' "$AGQ_SPOOL/agents/ghost.json" "$AGQ_SPOOL/agents/gone.json"
	agq-submit -q --max-attempts 1 -- false
	agq-run --agent w1 --once
	agq-sched --once
	agq-run --agent w1 --once
	[ "$(count_in dead)" -eq 1 ]
	agq-submit -q -p low -c nosuchcap -- true
	sleep 1.2
	run agq-alert
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -qx 'ALERT agent_offline:ghost: agent ghost is offline: its heartbeat is older than the lease'
	! printf '%s\n' "$output" | grep -q 'gone'
	printf '%s\n' "$output" | grep -qx 'ALERT dead_letters: 1 dead letter in the last hour'
	printf '%s\n' "$output" | grep -q '^ALERT no_progress:low: lane low: 1 queued, none assigned for 1s'
	[ "${#lines[@]}" -eq 3 ]
	[ "$(hooked firing '')" -eq 3 ]
	# the agent comes back: that alert clears, the others keep firing
	printf '{"name":"ghost","state":"idle","heartbeat":"%s","slots":1}\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)" > "$AGQ_SPOOL/agents/ghost.json"
	run agq-alert
	[ "$output" = "CLEARED agent_offline:ghost: agent ghost is offline: its heartbeat is older than the lease" ]
	[ "$(alerts clear agent_offline:ghost)" -eq 1 ]
	[ "$(alerts start '')" -eq 3 ]
}

@test "agq-alert: an endpoint that stops answering; a failing hook is reported; bad rules are config errors" {
	agq-dash --serve 0 > "$WORK/serve.out" 2>&1 &
	PIDS+=($!)
	pid=$!
	wait_for 20 grep -q '^listening on' "$WORK/serve.out"
	url=$(sed -n 's|^listening on \(http://127.0.0.1:[0-9]*/\)$|\1|p' "$WORK/serve.out")
	echo "alert_endpoint = ${url}status.json" >> "$AGQ_CONF"
	echo "alert_hook = exit 3" >> "$AGQ_CONF"
	run agq-alert
	[ "$status" -eq 0 ] && [ -z "$output" ]
	kill -TERM "$pid"
	wait "$pid" || true
	run --separate-stderr agq-alert
	[ "$status" -eq 1 ]
	[[ "$output" == "ALERT endpoint:${url}status.json: endpoint ${url}status.json is unhealthy: "* ]]
	[[ "$stderr" == *"the hook exited 3"* ]]
	[ "$(alerts start endpoint)" -eq 1 ]
	# a damaged state file is set aside, never lost
	echo 'garbage' > "$AGQ_SPOOL/alerts.json"
	run --separate-stderr agq-alert
	[ "$status" -eq 1 ]
	ls "$AGQ_SPOOL/corrupt/" | grep -q '^alerts.json'
	for bad in "alert_queue_depth = lots" "alert_queue_depth = 5 during 1m" \
	    "alert_dead_letters = 0" "alert_agent_offline = perhaps" "alert_no_progress = soon"; do
		printf 'lease = 3\n%s\n' "$bad" > "$AGQ_CONF"
		run agq-alert
		echo "$bad: $status $output"
		[ "$status" -eq 78 ]
		[[ "$output" == *"$AGQ_CONF:2:"* ]]
	done
}

@test "agq-alert: alert_endpoint = registered alerts on an agq-registry endpoint marked unhealthy" {
	echo "alert_endpoint = registered" >> "$AGQ_CONF"
	mkdir -p "$AGQ_SPOOL/endpoints"
	printf '{"name":"gpu1","url":"http://127.0.0.1:9/","type":"ollama","health":"unhealthy","fails":2,"error":"cannot connect"}\n' > "$AGQ_SPOOL/endpoints/gpu1.json"
	printf '{"name":"gpu2","url":"http://127.0.0.1:9/","type":"ollama","health":"healthy","fails":0}\n' > "$AGQ_SPOOL/endpoints/gpu2.json"
	run agq-alert
	[ "$status" -eq 0 ]
	[[ "$output" == "ALERT endpoint:gpu1: registered endpoint gpu1 (http://127.0.0.1:9/) is unhealthy: cannot connect" ]]
	[ "$(alerts start endpoint:gpu1)" -eq 1 ]
	[ "$(alerts start endpoint:gpu2)" -eq 0 ]
	# healthy again: the alert clears
	printf '{"name":"gpu1","url":"http://127.0.0.1:9/","type":"ollama","health":"healthy","fails":0}\n' > "$AGQ_SPOOL/endpoints/gpu1.json"
	run agq-alert
	[[ "$output" == "CLEARED endpoint:gpu1: "* ]]
	[ "$(alerts clear endpoint:gpu1)" -eq 1 ]
}
