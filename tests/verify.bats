#!/usr/bin/env bats
# agq-verify: every step type passing and failing, auto-detection of the
# test command, timeouts, the JSON report and the exit status.

load helper

# steps JSON: write the steps file.
steps() { printf '%s\n' "$1" > "$WORK/steps.json"; }

verify() { agq-verify --steps "$WORK/steps.json" --cwd "$WORK/tree" "$@"; }

setup_tree() {
	mkdir -p "$WORK/tree"
	cd "$WORK/tree"
	git init -q .
	echo hello > README
	git add README
	git -c user.name=t -c user.email=t@t commit -qm init
	cd - >/dev/null
}

@test "file_exists passes for a file and fails, exit 1, for a missing one" {
	setup_tree
	steps '[{"type": "file_exists", "path": "README"}]'
	run verify
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "pass  file_exists      README"* ]]
	[[ "$output" == *"verify: pass, 1 passed, 0 not passed"* ]]
	steps '[{"type": "file_exists", "path": "README"},
	        {"type": "file_exists", "path": "missing.txt"}]'
	run verify
	[ "$status" -eq 1 ]
	[[ "${lines[1]}" == "fail  file_exists      missing.txt: No such file"* ]]
}

@test "command_succeeds: exit 0 passes; a failure shows its exit and output tail" {
	setup_tree
	steps '[{"type": "command_succeeds", "cmd": ["test", "-f", "README"]},
	        {"type": "command_succeeds", "name": "lint", "cmd": "echo bad style >&2; exit 4"}]'
	run verify --json
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.status == "fail" and .passed == 1 and
	    .failed == 1 and .steps[0].status == "pass" and
	    .steps[1].status == "fail" and .steps[1].exit == 4 and
	    .steps[1].reason == "exit 4" and .steps[1].name == "lint" and
	    .steps[1].output == "bad style\n" and
	    (.steps[1].duration_ms | type) == "number"'
}

@test "a step past its timeout is killed with its process group and fails" {
	setup_tree
	steps '[{"type": "command_succeeds", "cmd": "sleep 30 & echo $! > ../bg; wait", "timeout": 0.5}]'
	run verify --json
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.steps[0].status == "fail" and
	    .steps[0].reason == "timed out after 0.5 s"'
	# the background sleep of the group is gone too
	[ -s "$WORK/bg" ]
	wait_for 10 sh -c "! kill -0 $(cat "$WORK/bg")"
}

@test "test_passes: an explicit cmd, and auto-detection of make check, make test, npm test, pytest, cargo, go" {
	setup_tree
	steps '[{"type": "test_passes", "cmd": "true"}]'
	run verify
	[ "$status" -eq 0 ]
	steps '[{"type": "test_passes", "cmd": "auto"}]'
	printf 'check:\n\t@echo checked\n' > "$WORK/tree/Makefile"
	run verify --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.steps[0].cmd == "make check" and
	    .steps[0].detected and (.steps[0].output | contains("checked"))'
	printf 'all test:\n\t@exit 3\n' > "$WORK/tree/Makefile"
	run verify --json
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.steps[0].cmd == "make test" and
	    .steps[0].status == "fail"'
	rm "$WORK/tree/Makefile"
	for f in 'package.json|{"scripts": {"test": "x"}}|npm test' \
	    'pytest.ini|[pytest]|pytest' \
	    'pyproject.toml|[tool.pytest.ini_options]|pytest' \
	    'Cargo.toml|[package]|cargo test' 'go.mod|module x|go test ./...'; do
		mkdir -p "$WORK/d"; rm -rf "$WORK/d"/*
		IFS='|' read -r name body want <<<"$f"
		printf '%s\n' "$body" > "$WORK/d/$name"
		steps '[{"type": "test_passes", "cwd": "../d", "timeout": 5}]'
		run verify --json
		echo "$name -> $(echo "$output" | jq -r '.steps[0].cmd')"
		echo "$output" | jq -e --arg w "$want" '.steps[0].cmd == $w'
	done
}

@test "test_passes auto with nothing to detect is skip, which does not pass" {
	setup_tree
	steps '[{"type": "test_passes"}]'
	run verify --json
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.steps[0].status == "skip" and
	    (.steps[0].reason | startswith("no test suite detected"))'
}

@test "git_clean: clean passes; modified, staged and untracked fail; outside a repository is error" {
	setup_tree
	steps '[{"type": "git_clean"}]'
	run verify
	[ "$status" -eq 0 ]
	echo changed >> "$WORK/tree/README"
	touch "$WORK/tree/new.txt"
	run verify --json
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.steps[0].status == "fail" and
	    (.steps[0].output | contains("modified: README")) and
	    (.steps[0].output | contains("untracked: new.txt"))'
	cd "$WORK/tree" && git checkout -q README && rm new.txt &&
	    echo x > staged && git add staged && cd - >/dev/null
	run verify --json
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.steps[0].output == "staged: staged\n"'
	printf '*.log\n' > "$WORK/tree/.gitignore"
	cd "$WORK/tree" && git add .gitignore && git -c user.name=t \
	    -c user.email=t@t commit -qm i && touch x.log && cd - >/dev/null
	run verify
	[ "$status" -eq 0 ]
	mkdir -p "$WORK/plain"
	run agq-verify --steps "$WORK/steps.json" --cwd "$WORK/plain" --json
	[ "$status" -eq 1 ]
	echo "$output" | jq -e '.steps[0].status == "error"'
}

@test "steps from a task file or stdin; bad steps exit 65, a missing file 66" {
	setup_tree
	printf '{"prompt": "p", "verify": [{"type": "file_exists", "path": "README"}]}' |
	    agq-verify --steps - --cwd "$WORK/tree"
	steps '[{"type": "file_exists"}]'
	run verify
	[ "$status" -eq 65 ]
	[[ "$output" == *"steps[0].path"* ]]
	run agq-verify --steps "$WORK/none.json"
	[ "$status" -eq 66 ]
	run agq-verify
	[ "$status" -eq 64 ]
}
