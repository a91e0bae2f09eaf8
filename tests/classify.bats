#!/usr/bin/env bats
# agq-classify and the complexity field recorded at submission.

load helper

@test "agq-classify prints the inferred tier and its signals, submits nothing" {
	run agq-classify <<<'{"prompt": "Refactor the parser module"}'
	[ "$status" -eq 0 ]
	[[ "$output" == complex*inferred*complex_keyword=\"refactor\"* ]]
	[ "$(count_in queue)" -eq 0 ]
	printf '{"cmd": "make"}' > "$WORK/t.json"
	run agq-classify --json "$WORK/t.json"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"tier":"trivial"'*'"cmd_only"'* ]]
}

@test "agq-classify: explicit tier wins; bad task exits 65" {
	run agq-classify <<<'{"prompt": "refactor", "complexity": "trivial"}'
	[ "$status" -eq 0 ]
	[[ "$output" == trivial*explicit* ]]
	run agq-classify <<<'{"title": "no cmd, no prompt"}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field cmd: missing"* ]]
}

@test "a submitted prompt task records its complexity; a cmd task too" {
	run agq-submit <<<'{"id": "p1", "prompt": "fix the typo in README"}'
	[ "$status" -eq 0 ]
	f=$(find "$AGQ_SPOOL/queue" -name p1.json)
	grep -q '"source": "inferred"' "$f"
	grep -q '"tier": "standard"' "$f"
	run agq-submit --id c1 -- true
	[ "$status" -eq 0 ]
	f=$(find "$AGQ_SPOOL/queue" -name c1.json)
	grep -q '"tier": "trivial"' "$f"
}
