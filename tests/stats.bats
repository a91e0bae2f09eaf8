#!/usr/bin/env bats
# agq-stats: the numbers from a journal written by real tasks, and from a
# hand-written journal whose percentiles, utilization and costs are known.

load helper
bats_require_minimum_version 1.5.0

T0=1767225600   # 2026-01-01T00:00:00Z

ts() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.000000Z; }

# ev SECONDS NAME ID [JSON-FIELDS]: one journal line at T0+SECONDS.
ev() {
	local extra=${4:+,$4}
	printf '{"ts":"%s","ev":"%s","id":"%s"%s,"prog":"test","pid":1,"host":"h"}\n' \
	    "$(ts $((T0 + $1)))" "$2" "$3" "$extra" >> "$AGQ_SPOOL/journal"
}

# Ten tasks t1..t10: task i is submitted at 100*i s, waits i s, runs 5*i s
# on agent a1 and is done.  Tasks 1-4 used backend claude/opus, task 5
# codex/gpt.  Task x dies after an interrupted attempt; z is reclaimed.
known_journal() {
	local i s
	for i in $(seq 1 10); do
		s=$((100 * i))
		ev $s submit t$i '"state":"queue","lane":"normal"'
		ev $((s + i)) start t$i '"agent":"a1","gen":1,"attempt":1'
		tok=
		[ $i -le 4 ] && tok=',"tokens_in":100,"tokens_out":50,"cost_usd":0.5,"backend":"claude","model":"opus"'
		[ $i -eq 5 ] && tok=',"tokens_in":1000,"tokens_out":10,"cost_usd":1.25,"backend":"codex","model":"gpt"'
		ev $((s + i + 5 * i)) finish t$i "\"agent\":\"a1\",\"gen\":1,\"exit\":0,\"duration_ms\":$((5000 * i))$tok"
		ev $((s + i + 5 * i)) done t$i '"agent":"a1","gen":1,"reason":"exit 0 on a1"'
	done
	ev 1050 reclaim z '"agent":"a2","gen":2,"reason":"agent a2 is dead"'
	ev 1060 start x '"agent":"a1","gen":2,"attempt":2'
	ev 1061 finish x '"agent":"a1","gen":2,"error":"interrupted"'
	ev 1061 dead x '"agent":"a1","gen":2,"reason":"out of attempts (2 of 2)"'
	ev 1062 retry y '"agent":"a1","gen":1,"next_attempt_at":"2026-01-01T01:00:00Z","reason":"exit 1"'
}

jqs() { printf '%s\n' "$out" | jq -r "$1"; }

@test "agq-stats: a hand-written journal gives the known percentiles, utilization and costs" {
	known_journal
	run agq-stats --json --since "$(ts $((T0 + 100)))" --until "$(ts $((T0 + 1100)))"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs .window.seconds)" = 1000 ]
	[ "$(jqs .events.done)" = 10 ]
	[ "$(jqs .events.dead)" = 1 ]
	[ "$(jqs .events.retries)" = 1 ]
	[ "$(jqs .events.reclaims)" = 1 ]
	[ "$(jqs .events.submitted)" = 10 ]
	[ "$(jqs .journal.damaged)" = 0 ]
	# waits are 1..10 s, runs 5..50 s: nearest-rank percentiles
	[ "$(jqs .latency.wait.n)" = 10 ]
	[ "$(jqs .latency.wait.p50_ms)" = 5000 ]
	[ "$(jqs .latency.wait.p90_ms)" = 9000 ]
	[ "$(jqs .latency.wait.p99_ms)" = 10000 ]
	[ "$(jqs .latency.run.n)" = 10 ]
	[ "$(jqs .latency.run.p50_ms)" = 25000 ]
	[ "$(jqs .latency.run.p90_ms)" = 45000 ]
	[ "$(jqs .latency.run.p99_ms)" = 50000 ]
	[ "$(jqs .latency.run.mean_ms)" = 27500 ]
	# 10 done in 1000 s
	[ "$(jqs .throughput_per_min)" = 0.6 ]
	# a1 ran 275 s of the 1000 s (plus x's interrupted 1 s run)
	[ "$(jqs '.agents[] | select(.name == "a1") | .busy_s')" = 276 ]
	[ "$(jqs '.agents[] | select(.name == "a1") | .utilization')" = 0.276 ]
	[ "$(jqs '.agents[] | select(.name == "a1") | .done')" = 10 ]
	[ "$(jqs '.agents[] | select(.name == "a1") | .failed')" = 1 ]
	# tokens and cost per backend and model
	[ "$(jqs '.tokens[] | select(.backend == "claude" and .model == "opus") | [.runs, .tokens_in, .tokens_out, .cost_usd] | @tsv')" = "$(printf '4\t400\t200\t2')" ]
	[ "$(jqs '.tokens[] | select(.backend == "codex") | [.runs, .cost_usd] | @tsv')" = "$(printf '1\t1.25')" ]
	# the failure, newest completion first
	[ "$(jqs '.recent.failed[0].id')" = x ]
	[ "$(jqs '.recent.done[0].id')" = t10 ]
	# the series covers the window: every done is in one bucket
	[ "$(jqs '.series.done | add')" = 10 ]
}

@test "agq-stats --since counts only the window; earlier events still set wait times" {
	known_journal
	run agq-stats --json --since "$(ts $((T0 + 620)))" --until "$(ts $((T0 + 1100)))"
	[ "$status" -eq 0 ]
	out=$output
	# starts at 707, 808, 909, 1010: waits 7..10 s
	[ "$(jqs .latency.wait.n)" = 4 ]
	[ "$(jqs .latency.wait.p50_ms)" = 8000 ]
	# finishes at 636 (task 6, 30 s) on: runs 30..50 s
	[ "$(jqs .latency.run.n)" = 5 ]
	[ "$(jqs .latency.run.p50_ms)" = 40000 ]
	[ "$(jqs .events.done)" = 5 ]
	[ "$(jqs .events.submitted)" = 4 ]
	# task 6's run (606..636) is clipped to the window: 16 s of it
	[ "$(jqs '.agents[] | select(.name == "a1") | .busy_s')" = 187 ]
	# a relative --since counts back from --until
	run agq-stats --json --since 10m --until "$(ts $((T0 + 1100)))"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs .window.since)" = "$(ts $((T0 + 500)))" ]
	run agq-stats --since nonsense
	[ "$status" -eq 64 ]
	run agq-stats --since 2030-01-01T00:00:00Z --until 2029-01-01T00:00:00Z
	[ "$status" -eq 64 ]
}

@test "agq-stats: text report; a damaged line is counted, skipped, exit 65; no journal is zeros" {
	run agq-stats --json
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs .events.done)" = 0 ]
	[ "$(jqs .latency.run.n)" = 0 ]
	known_journal
	run agq-stats --since "$(ts $((T0 + 100)))" --until "$(ts $((T0 + 1100)))"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -Eq '^throughput 0\.600 done/min$'
	printf '%s\n' "$output" | grep -Eq '^wait +n 10 +p50 5\.000s +p90 9\.000s +p99 10\.000s'
	printf '%s\n' "$output" | grep -Eq '^a1 +1 +276\.0 +27\.6 +10 +1$'
	printf '%s\n' "$output" | grep -Eq '^claude +opus +4 +400 +200 +2\.0000$'
	printf '{"ts":"2026-01-01T00:30:00.000000Z","ev":"done","id":"torn' >> "$AGQ_SPOOL/journal"
	echo >> "$AGQ_SPOOL/journal"
	echo 'not json' >> "$AGQ_SPOOL/journal"
	run --separate-stderr agq-stats --json --since "$(ts $((T0 + 100)))" --until "$(ts $((T0 + 1100)))"
	[ "$status" -eq 65 ]
	out=$output
	[ "$(jqs .journal.damaged)" = 2 ]
	[ "$(jqs .events.done)" = 10 ]
	[[ "$stderr" == *"2 damaged journal line(s)"* ]]
}

@test "agq-stats on a journal written by real tasks matches the spool" {
	for i in 1 2 3 4; do agq-submit -q -- sh -c "sleep 0.1"; done
	bad=$(agq-submit --max-attempts 2 --backoff 0 -- false)
	start_sched
	start_agent w1 --slots 2
	run agq-wait --timeout 60 -q
	[ "$status" -eq 1 ]
	run agq-stats --json
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs .counts.done)" = 4 ]
	[ "$(jqs .events.done)" = 4 ]
	[ "$(jqs .counts.dead)" = 1 ]
	[ "$(jqs .events.dead)" = 1 ]
	[ "$(jqs .events.retries)" = 1 ]
	[ "$(jqs .events.submitted)" = 5 ]
	[ "$(jqs .latency.run.n)" = 6 ]
	[ "$(jqs .latency.wait.n)" = 6 ]
	# every run took at least the 0.1 s sleep of the four good ones
	[ "$(jqs '.latency.run.max_ms >= 100')" = true ]
	[ "$(jqs '.agents[] | select(.name == "w1") | .slots')" = 2 ]
	[ "$(jqs '.agents[] | select(.name == "w1") | .done')" = 4 ]
	[ "$(jqs '.agents[] | select(.name == "w1") | .failed')" = 1 ]
	[ "$(jqs '.agents[] | select(.name == "w1") | .utilization > 0 and .utilization <= 1')" = true ]
	[ "$(jqs .recent.failed[0].id)" = "$bad" ]
	[ "$(jqs .recent.failed[0].title)" = false ]
	[ "$(jqs '.recent.done | length')" = 4 ]
	[ "$(jqs '.throughput_per_min > 0')" = true ]
	# and agq-status --json carries the same recent completions and health
	run agq-status --json
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs '.recent.done | length')" = 4 ]
	[ "$(jqs .recent.failed[0].id)" = "$bad" ]
	[ "$(jqs .recent.failed[0].reason)" != "" ]
	[ "$(jqs .health.sched_running)" = true ]
	[ "$(jqs .health.agents_alive)" = 1 ]
	[ "$(jqs .health.status)" = ok ]
	[ "$(jqs '.health.uptime_s >= 0')" = true ]
}

@test "agq-stats --rotated reads the rotated journals too, oldest first, as one journal" {
	known_journal
	j=$AGQ_SPOOL/journal
	# rotated in the middle of task t6: its start in one file, its finish
	# in the next
	head -22 "$j" > "$AGQ_SPOOL/journal.20260101T000000.000000Z"
	sed -n '1,10p' "$AGQ_SPOOL/journal.20260101T000000.000000Z" > "$AGQ_SPOOL/journal.20251231T000000.000000Z"
	sed -i '1,10d' "$AGQ_SPOOL/journal.20260101T000000.000000Z"
	tail -n +23 "$j" > "$j.new" && mv "$j.new" "$j"
	win=(--since "$(ts $((T0 + 100)))" --until "$(ts $((T0 + 1100)))")
	run agq-stats --json "${win[@]}"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs .events.done)" = 5 ]
	run agq-stats --json --rotated "${win[@]}"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs .events.done)" = 10 ]
	[ "$(jqs .events.submitted)" = 10 ]
	[ "$(jqs .latency.run.n)" = 10 ]
	[ "$(jqs .latency.run.p50_ms)" = 25000 ]
	[ "$(jqs '.agents[] | select(.name == "a1") | .busy_s')" = 276 ]
	[ "$(jqs .journal.lines)" = "$(cat "$AGQ_SPOOL"/journal* | wc -l)" ]
}

@test "agq-stats: a cost nobody reported is unknown (null in --json), not 0.0000" {
	ev 1 submit u1 && ev 2 finish u1 '"tokens_in":10,"tokens_out":5,"backend":"openai","model":"local"'
	ev 3 pr_open u1 '"pr":"pr-u1"' && ev 4 done u1
	ev 5 finish u2 '"tokens_in":10,"cost_usd":null,"backend":"openai","model":"local"'
	ev 6 finish u3 '"tokens_in":1,"cost_usd":0,"backend":"claude","model":"free"'
	run agq-stats --json --since "$(ts $T0)" --until "$(ts $((T0 + 100)))"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs '.tokens[] | select(.model == "local") | [.runs, (.cost_usd|tostring)] | @tsv')" = "$(printf '2\tnull')" ]
	[ "$(jqs '.tokens[] | select(.model == "free") | .cost_usd')" = 0 ]
	[ "$(jqs '[.prs.cost_usd, .prs.per_pr.cost_usd] | map(tostring) | @tsv')" = "$(printf 'null\tnull')" ]
	run agq-stats --since "$(ts $T0)" --until "$(ts $((T0 + 100)))"
	printf '%s\n' "$output" | grep -Eq '^openai +local +2 +20 +5 +unknown$'
	printf '%s\n' "$output" | grep -Eq '^claude +free +1 +1 +0 +0\.0000$'
	printf '%s\n' "$output" | grep -Eq '^per PR +cost unknown, tokens in 10, out 5 \(1 tasks, unknown in all\)$'
}

@test "agq-stats: PRs opened in the window, PR records by state, and the cost per PR of the tasks that opened them" {
	# p1: one attempt, 0.5 USD; p2: its tokens only in out/p2/result.json;
	# p3: two attempts of 0.25 USD; p4: 5 USD and no PR; p5: a PR opened
	# before the window.  pr_open comes before done, as agq-run writes it.
	ev 1 submit p5 && ev 2 finish p5 '"cost_usd":9' && ev 3 pr_open p5 '"pr":"pr-5"' && ev 4 done p5
	ev 10 submit p1
	ev 20 finish p1 '"tokens_in":100,"tokens_out":50,"cost_usd":0.5'
	ev 21 pr_open p1 '"pr":"pr-1","branch":"a/p1","url":null,"number":null'
	ev 22 done p1
	ev 30 finish p2 '"exit":0'
	ev 31 pr_open p2 '"pr":"pr-2","branch":"a/p2"'
	ev 32 done p2
	mkdir -p "$AGQ_SPOOL/out/p2"
	echo '{"tokens_in":300,"tokens_out":30,"cost_usd":2.0}' > "$AGQ_SPOOL/out/p2/result.json"
	ev 40 finish p3 '"tokens_in":50,"tokens_out":10,"cost_usd":0.25,"exit":1'
	ev 41 retry p3 '"reason":"exit 1"'
	ev 50 finish p3 '"tokens_in":50,"tokens_out":10,"cost_usd":0.25,"exit":0'
	ev 51 pr_open p3 '"pr":"pr-3","branch":"a/p3"'
	ev 52 done p3
	ev 60 finish p4 '"tokens_in":1000,"tokens_out":1000,"cost_usd":5'
	ev 61 done p4
	mkdir -p "$AGQ_SPOOL/prs/open" "$AGQ_SPOOL/prs/merged" "$AGQ_SPOOL/prs/closed"
	echo '{}' > "$AGQ_SPOOL/prs/open/pr-1.json"
	echo '{}' > "$AGQ_SPOOL/prs/open/pr-2.json"
	echo '{}' > "$AGQ_SPOOL/prs/merged/pr-3.json"
	touch "$AGQ_SPOOL/prs/open/.tmp" "$AGQ_SPOOL/prs/closed/notes.txt"
	run agq-stats --json --since "$(ts $((T0 + 5)))" --until "$(ts $((T0 + 1000)))"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jqs '.prs | [.opened, .tasks, .by_state.open, .by_state.merged, .by_state.closed] | @tsv')" = "$(printf '3\t3\t2\t1\t0')" ]
	[ "$(jqs '.prs | [.cost_usd, .tokens_in, .tokens_out] | @tsv')" = "$(printf '3\t500\t100')" ]
	[ "$(jqs '.prs.per_pr | [.cost_usd, .tokens_in, .tokens_out] | @tsv')" = "$(printf '1\t166.667\t33.333')" ]
	run agq-stats --since "$(ts $((T0 + 5)))" --until "$(ts $((T0 + 1000)))"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -Eq '^prs +opened 3; records: open 2, merged 1, closed 0$'
	printf '%s\n' "$output" | grep -Eq '^per PR +cost 1\.0000 USD, tokens in 167, out 33 \(3 tasks, 3\.0000 USD in all\)$'
	# no PR in the window: none per PR, and no lines in the report
	run agq-stats --json --since "$(ts $((T0 + 55)))" --until "$(ts $((T0 + 1000)))"
	out=$output
	[ "$(jqs '.prs | [.opened, .tasks, (.per_pr|tostring)] | @tsv')" = "$(printf '0\t0\tnull')" ]
	rm -r "$AGQ_SPOOL/prs"
	run agq-stats --since "$(ts $((T0 + 55)))" --until "$(ts $((T0 + 1000)))"
	[[ "$output" != *"prs "* ]]
}
