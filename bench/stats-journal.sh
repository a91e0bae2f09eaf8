#!/bin/sh
# bench/stats-journal.sh [LINES] - time agq-stats on a generated journal
# of LINES lines (default 1000000: 200000 tasks' submit, assign, start,
# finish with tokens, done).  Not a test: agq-stats should take a few
# seconds at most; it prints the times and leaves nothing behind.
set -eu
lines=${1:-1000000}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${AGQ_BENCH_BIN:-$top/bin}
dir=$(mktemp -d "${TMPDIR:-/tmp}/agq-stats-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/spool"
awk -v lines="$lines" '
function ts(t,   s, us) {
	s = int(t); us = int((t - s) * 1000000)
	return strftime("%Y-%m-%dT%H:%M:%S", s, 1) sprintf(".%06dZ", us)
}
BEGIN {
	srand(1); t = 1700000000; n = 0
	split("urgent high normal low", lanes, " ")
	while (n < lines) {
		id = sprintf("20231114-221320.%06d-%06d-1a2b3c4d-%d", n % 1000000, n % 999999, 1000 + n % 30000)
		ag = "agent" (n % 8); lane = lanes[1 + n % 4]
		printf "{\"ts\":\"%s\",\"ev\":\"submit\",\"id\":\"%s\",\"state\":\"queue\",\"lane\":\"%s\",\"source\":\"argv\",\"prog\":\"agq-submit\",\"pid\":1234,\"host\":\"box\"}\n", ts(t), id, lane
		t += rand() * 0.5
		printf "{\"ts\":\"%s\",\"ev\":\"assign\",\"id\":\"%s\",\"agent\":\"%s\",\"gen\":1,\"lane\":\"%s\",\"reason\":\"idle agent with capacity\",\"prog\":\"agq-sched\",\"pid\":99,\"host\":\"box\"}\n", ts(t), id, ag, lane
		t += rand() * 0.1
		printf "{\"ts\":\"%s\",\"ev\":\"start\",\"id\":\"%s\",\"agent\":\"%s\",\"gen\":1,\"attempt\":1,\"prog\":\"agq-run\",\"pid\":100,\"host\":\"box\"}\n", ts(t), id, ag
		d = rand() * 3; t += d
		printf "{\"ts\":\"%s\",\"ev\":\"finish\",\"id\":\"%s\",\"agent\":\"%s\",\"gen\":1,\"exit\":0,\"signal\":0,\"timed_out\":false,\"duration_ms\":%d,\"tokens_in\":1200,\"tokens_out\":300,\"cost_usd\":0.0123,\"backend\":\"claude\",\"model\":\"m1\",\"prog\":\"agq-run\",\"pid\":100,\"host\":\"box\"}\n", ts(t), id, ag, d * 1000
		printf "{\"ts\":\"%s\",\"ev\":\"done\",\"id\":\"%s\",\"agent\":\"%s\",\"gen\":1,\"reason\":\"exit 0 on %s\",\"prog\":\"agq-run\",\"pid\":100,\"host\":\"box\"}\n", ts(t), id, ag, ag
		n += 5
	}
}' > "$dir/spool/journal"
echo "journal: $(wc -l < "$dir/spool/journal") lines, $(du -h "$dir/spool/journal" | cut -f1)"
for args in "" "--json" "--since 2023-11-17T00:00:00Z --json"; do
	start=$(date +%s.%N)
	# shellcheck disable=SC2086
	AGQ_CONF=/dev/null "$bin/agq-stats" -s "$dir/spool" $args > "$dir/out"
	end=$(date +%s.%N)
	echo "agq-stats $args: $(awk "BEGIN { print $end - $start }") s"
done
