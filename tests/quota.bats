#!/usr/bin/env bats
# Limits, fair lanes and pauses (issue 21; agq-sched(8) "Limits", "Fair
# lanes", "Pauses"): agq-sched --once passes over agents written by hand
# (no agq-run but in the starvation test), everything counted from the
# journal and the spool, nothing timed.

load helper

JW=${AGQ_TEST_UNIT:-${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/build/default/unit}/jwrite

# quota_conf LINE...: long leases (the agents below do not beat), then
# the lines, in agq.conf.
quota_conf() {
	printf 'lease = 600\nassign_timeout = 600\n' >> "$AGQ_CONF"
	printf '%s\n' "$@" >> "$AGQ_CONF"
}

# agent NAME SLOTS [BACKENDS-JSON]: an alive agent file, as agq-run's.
agent() {
	mkdir -p "$AGQ_SPOOL/agents"
	printf '{"name":"%s","state":"idle","slots":%s,"heartbeat":"%s"%s}\n' \
	    "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)" \
	    "${3:+,\"backends\":$3}" > "$AGQ_SPOOL/agents/$1.json"
}

throttles() { grep '"ev":"throttle"' "$AGQ_SPOOL/journal" | grep -c "\"id\":\"$1\"" || true; }

@test "max_running per tenant: the third task held, one throttle event, agq-show says which; another tenant's task behind it goes; fsck clean" {
	quota_conf 'limit.tenant.alice.max_running = 2'
	a1=$(agq-submit --tenant alice -- true)
	a2=$(agq-submit --tenant alice -- true)
	a3=$(agq-submit --tenant alice -- true)
	b1=$(agq-submit --tenant bob -- true)
	agent w1 10
	agq-sched --once
	agq-sched --once        # a second pass, a second start: no second event
	[ -f "$AGQ_SPOOL/queue/normal/$a3.json" ]
	for t in $a1 $a2 $b1; do [ -f "$AGQ_SPOOL/active/w1/$t.json" ]; done
	[ "$(throttles "$a3")" -eq 1 ]
	ev=$(grep '"ev":"throttle"' "$AGQ_SPOOL/journal")
	[ "$(jq -r .limit <<<"$ev")" = tenant.alice.max_running ]
	[ "$(jq -r .value <<<"$ev")" = 2 ]
	[ "$(jq -r .current <<<"$ev")" = 2 ]
	[ "$(jq -r '.to // "none"' <<<"$ev")" = none ]
	run agq-show "$a3"
	[[ "$output" == *"held by limit tenant.alice.max_running (2 of 2 running)"* ]]
	[ "$(agq-show --json "$a3" | jq -r .held_by.limit)" = tenant.alice.max_running ]
	# a state change is not a hold: it is a queued task, nothing replayed
	run agq-fsck
	[ "$status" -eq 0 ]
	[[ "$output" == *" 0 problems "* ]]
	! grep -q reconstructed "$AGQ_SPOOL/journal"
	# one of alice's ends: the held one goes
	mkdir -p "$AGQ_SPOOL/done"
	agq-cancel -q "$a1"
	agq-sched --once
	[ -f "$AGQ_SPOOL/active/w1/$a3.json" ]
	run agq-show "$a3"
	[[ "$output" != *"held by limit"* ]]
}

@test "a * tenant limit counts each tenant apart; a tenant's own line wins over it" {
	quota_conf 'limit.tenant.*.max_running = 1' 'limit.tenant.carol.max_running = 2'
	for u in alice alice bob bob carol carol; do agq-submit -q --tenant $u -- true; done
	agent w1 10
	agq-sched --once
	[ "$(count_in active)" -eq 4 ]
	[ "$(count_in queue)" -eq 2 ]
	run jq -r 'select(.ev == "throttle") | .limit' "$AGQ_SPOOL/journal"
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "tenant.alice.max_running tenant.bob.max_running " ]
}

@test "a budget spent holds the tasks that spend, until the next day; a plain command still goes" {
	[ -x "$JW" ] || { echo "no $JW (make build/default/unit/jwrite)"; return 1; }
	quota_conf 'limit.tenant.alice.budget_usd = 1'
	p1=$(agq-submit --tenant alice --prompt hi --backend ollama --model m1)
	c1=$(agq-submit --tenant alice -- true)
	# p1's earlier attempt today cost $1.50 (the journal's finish event)
	echo "{\"ev\":\"finish\",\"id\":\"$p1\",\"cost_usd\":1.5}" | "$JW"
	agent llm 2 '["ollama"]'
	agent plain 2
	agq-sched --once
	[ -f "$AGQ_SPOOL/queue/normal/$p1.json" ]
	[ -f "$AGQ_SPOOL/active/plain/$c1.json" ]
	ev=$(grep '"ev":"throttle"' "$AGQ_SPOOL/journal")
	[ "$(jq -r .limit <<<"$ev")" = tenant.alice.budget_usd ]
	day=$(jq -r .ts <<<"$ev" | cut -c1-10)
	[ "$(jq -r .until <<<"$ev")" = "$(date -u -d "$day + 1 day" +%Y-%m-%dT00:00:00.000000Z)" ]
	run agq-show "$p1"
	[[ "$output" == *'held by limit tenant.alice.budget_usd ($1.5000 of $1 spent today; until '* ]]
	# a budget that is not spent: it goes
	sed -i 's/budget_usd = 1$/budget_usd = 2/' "$AGQ_CONF"
	agq-sched --once
	[ -f "$AGQ_SPOOL/active/llm/$p1.json" ]
	[ "$(jq -r .route.backend "$AGQ_SPOOL/active/llm/$p1.json")" = ollama ]
}

@test "agq-pause and agq-resume of a lane and of a tenant; agq-status lists the pauses" {
	quota_conf
	run agq-pause --lane low -m 'release night'
	[ "$status" -eq 0 ]
	agq-pause -q --tenant bob
	lo=$(agq-submit -p low -- true)
	bo=$(agq-submit --tenant bob -- true)
	no=$(agq-submit --tenant alice -- true)
	agent w1 10
	agq-sched --once
	[ -f "$AGQ_SPOOL/active/w1/$no.json" ]
	[ -f "$AGQ_SPOOL/queue/low/$lo.json" ]
	[ -f "$AGQ_SPOOL/queue/normal/$bo.json" ]
	[ -f "$AGQ_SPOOL/pauses/lane-low.json" ]
	run agq-status
	[[ "$output" == *"paused   lane low since "*": release night"* ]]
	[[ "$output" == *"paused   tenant bob since "* ]]
	[ "$(agq-status --json | jq -c '[.pauses[] | .kind + "-" + .name]')" = '["lane-low","tenant-bob"]' ]
	[ "$(agq-pause --json | jq length)" -eq 2 ]
	agq-resume -q --lane low
	agq-sched --once
	[ -f "$AGQ_SPOOL/active/w1/$lo.json" ]
	[ -f "$AGQ_SPOOL/queue/normal/$bo.json" ]
	agq-resume -q --tenant bob
	agq-pause -q --all
	agq-submit -q -- true
	agq-sched --once
	[ -f "$AGQ_SPOOL/queue/normal/$bo.json" ]
	[ "$(count_in queue)" -eq 2 ]
	agq-resume -q --all
	agq-sched --once
	[ "$(count_in queue)" -eq 0 ]
	run agq-resume --tenant bob
	[ "$status" -eq 66 ]
	[ "$(journal_count pause)" -eq 3 ]
	[ "$(journal_count resume)" -eq 3 ]
	run agq-fsck
	[ "$status" -eq 0 ]
}

@test "fair lanes: with a steady urgent stream and one slot, the low task runs within 15 assignments" {
	quota_conf
	low=$(agq-submit -p low -- true)
	agq-submit -q -p urgent -- true
	for round in $(seq 1 20); do
		# the stream: an urgent task always waits
		agq-submit -q -p urgent -- true
		agq-sched --once
		agq-run --agent a1 --once
		[ -f "$AGQ_SPOOL/done/$low.json" ] && break
	done
	# counted from the journal: the assignments up to the low task's
	n=$(jq -r 'select(.ev == "assign") | .id' "$AGQ_SPOOL/journal" |
	    grep -n -m1 "$low" | cut -d: -f1)
	echo "low was assignment $n"
	[ "$n" -ge 2 ] && [ "$n" -le 15 ]
	# every assignment before it was urgent's: urgent was never starved
	[ "$(jq -r 'select(.ev == "assign") | .lane' "$AGQ_SPOOL/journal" |
	    head -n $((n - 1)) | sort -u)" = urgent ]
	[ "$(count_in queue)" -ge 1 ]
}
