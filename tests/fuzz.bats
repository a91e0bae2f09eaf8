#!/usr/bin/env bats
# The task parser and validator under libFuzzer (tests/fuzz/README).

load helper
bats_require_minimum_version 1.5.0

TOP=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}
CORPUS=$TOP/tests/corpora/JSONTestSuite/test_parsing

# fuzzer [NAME]: the path of build/fuzz/fuzz_NAME (task by default),
# built first when make check did not say where it is.
fuzzer() {
	if [ -z "${AGQ_TEST_FUZZ:-}" ]; then
		make -s -C "$TOP" fuzz-build >/dev/null
		AGQ_TEST_FUZZ=$TOP/build/fuzz/fuzz_task
	fi
	echo "${AGQ_TEST_FUZZ%/*}/fuzz_${1:-task}"
}

@test "fuzz: seeds and regression inputs run clean, one by one" {
	fz=$(fuzzer)
	run "$fz" "$TOP"/tests/fuzz/seeds/* "$TOP"/tests/fuzz/regress/*
	echo "$output" | tail -5
	[ "$status" -eq 0 ]
	n=$(find "$TOP"/tests/fuzz/seeds "$TOP"/tests/fuzz/regress -type f | wc -l)
	[ "$(grep -c '^Executed .* in [0-9]* ms' <<< "$output")" -eq "$n" ]
}

@test "fuzz: the task parser survives ${AGQ_FUZZ_SECONDS:-5} s of libFuzzer from the seed corpora" {
	fz=$(fuzzer)
	mkdir "$BATS_TEST_TMPDIR/corpus"
	seeds=("$TOP/tests/fuzz/seeds" "$TOP/tests/fuzz/regress")
	[ -d "$CORPUS" ] && seeds+=("$CORPUS")
	run "$fz" -max_total_time="${AGQ_FUZZ_SECONDS:-5}" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$BATS_TEST_TMPDIR/" "$BATS_TEST_TMPDIR/corpus" "${seeds[@]}"
	echo "$output" | grep -v '^#' | tail -12
	[ "$status" -eq 0 ]
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' <<< "$output")
	echo "executed: $runs"
	[ "$runs" -gt 1000 ]
	[ -z "$(ls "$BATS_TEST_TMPDIR" | grep -E '^(crash|leak|timeout|oom)-')" ]
}

@test "fuzz: configuration, agent files, journals and times survive ${AGQ_FUZZ_SECONDS:-5} s of libFuzzer" {
	fz=$(fuzzer input)
	run "$fz" "$TOP"/tests/fuzz/seeds-input/*
	[ "$status" -eq 0 ]
	mkdir "$BATS_TEST_TMPDIR/corpus"
	run "$fz" -max_total_time="${AGQ_FUZZ_SECONDS:-5}" -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$BATS_TEST_TMPDIR/" "$BATS_TEST_TMPDIR/corpus" \
	    "$TOP/tests/fuzz/seeds-input"
	echo "$output" | grep -v '^#' | tail -12
	[ "$status" -eq 0 ]
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' <<< "$output")
	echo "executed: $runs"
	[ "$runs" -gt 1000 ]
	[ -z "$(ls "$BATS_TEST_TMPDIR" | grep -E '^(crash|leak|timeout|oom)-')" ]
}
