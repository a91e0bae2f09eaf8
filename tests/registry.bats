#!/usr/bin/env bats
# agq-registry: add, ls, rm, check; health from /api/tags, /api/ps and
# /v1/models of tests/fakeapi.py; two failed checks make an endpoint
# unhealthy, one success healthy again; agq-sched checks periodically.

load helper

setup_file() { fake_api_start; }
teardown_file() { fake_api_stop; }

url() { echo "http://127.0.0.1:$(cat "$FAKE_DIR/port")$1"; }
ep() { jq -r "$2" "$AGQ_SPOOL/endpoints/$1.json"; }

@test "add checks at once: ollama models and warm models, openai models; ls shows them" {
	run agq-registry add gpu1 "$(url)" --type ollama
	[ "$status" -eq 0 ]
	[ "$output" = "gpu1	healthy" ]
	[ "$(ep gpu1 .health)" = healthy ]
	[ "$(ep gpu1 '.models | join(",")')" = "llama3.1:8b,qwen2.5:7b" ]
	[ "$(ep gpu1 '.warm | join(",")')" = "llama3.1:8b" ]
	run agq-registry add cold1 "$(url /cold)" --type ollama
	[ "$(ep cold1 '.warm | length')" = 0 ]
	run agq-registry add vllm "$(url)" --type openai
	[ "$(ep vllm '.models | join(",")')" = local-model ]
	run agq-registry ls
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == "cold1 "*ollama*healthy* ]]
	[[ "${lines[2]}" == "gpu1 "*ollama*healthy*2*1*"$(url)" ]]
	[[ "${lines[3]}" == "vllm "*openai* ]]
	agq-registry ls --json | jq -e 'length == 3 and .[1].name == "gpu1"'
	[ "$(journal_count endpoint_add)" -eq 3 ]
}

@test "two failed checks in a row mark an endpoint unhealthy; one success makes it healthy" {
	agq-registry add e1 "$(url)" --type ollama
	touch "$FAKE_DIR/requests.down"
	run agq-registry check e1
	[ "$status" -eq 1 ]
	[[ "$output" == "e1	healthy	HTTP 503: service unavailable"* ]]
	[ "$(ep e1 .fails)" = 1 ]
	run agq-registry check
	[ "$status" -eq 1 ]
	[[ "$output" == "e1	unhealthy	"* ]]
	rm "$FAKE_DIR/requests.down"
	run agq-registry check
	[ "$status" -eq 0 ]
	[ "$output" = "e1	healthy" ]
	[ "$(ep e1 .fails)" = 0 ]
	grep '"ev":"endpoint"' "$AGQ_SPOOL/journal" | jq -s -e \
	    'map(.health) == ["healthy", "unhealthy", "healthy"]'
}

@test "add refuses a taken name and a bad URL; rm removes; unknown names exit 66" {
	agq-registry add e1 "$(url)" --type ollama --no-check
	[ "$(ep e1 .health)" = unknown ]
	run agq-registry add e1 "$(url)" --type ollama
	[ "$status" -eq 73 ]
	run agq-registry add e2 "ftp://x" --type ollama
	[ "$status" -eq 65 ]
	run agq-registry add e2 "$(url)" --type nope
	[ "$status" -eq 64 ]
	run agq-registry rm e1
	[ "$status" -eq 0 ]
	[ ! -e "$AGQ_SPOOL/endpoints/e1.json" ]
	run agq-registry rm e1
	[ "$status" -eq 66 ]
	run agq-registry check e1
	[ "$status" -eq 66 ]
	[ "$(journal_count endpoint_rm)" -eq 1 ]
}

@test "agq-sched runs the health check periodically" {
	echo "registry_check = 1" >> "$AGQ_CONF"
	agq-registry add e1 "$(url)" --type ollama --no-check
	start_sched
	wait_for 20 sh -c "[ \"\$(jq -r .health '$AGQ_SPOOL/endpoints/e1.json')\" = healthy ]"
}

@test "the endpoint types of the usage and of the error are the table's" {
	run agq-registry add e2 http://127.0.0.1:1 --type nope
	[ "$status" -eq 64 ]
	[[ "$output" == *"--type: must be ollama, openai or anthropic"* ]]
	local types=${output##*must be }
	types=${types//, /|}
	types=${types// or /|}
	run agq-registry --help
	[[ "$output" == *"--type $types"* ]]
}

@test "a hand-edited endpoint file without a url or a type fails its check with the reason, no crash" {
	agq-registry add e1 "$(url)" --type ollama --no-check
	jq 'del(.url)' "$AGQ_SPOOL/endpoints/e1.json" > "$BATS_TEST_TMPDIR/e1"
	cp "$BATS_TEST_TMPDIR/e1" "$AGQ_SPOOL/endpoints/e1.json"
	run agq-registry check e1
	[ "$status" -eq 1 ]
	[[ "$output" == *'endpoint has no "url"'* ]]
	[ "$(ep e1 .error)" = 'endpoint has no "url"' ]
	jq 'del(.type)' "$AGQ_SPOOL/endpoints/e1.json" > "$BATS_TEST_TMPDIR/e1"
	cp "$BATS_TEST_TMPDIR/e1" "$AGQ_SPOOL/endpoints/e1.json"
	run agq-registry check e1
	[ "$status" -eq 1 ]
	[[ "$output" == *"endpoint type '(none)' is not"* ]]
}
