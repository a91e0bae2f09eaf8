#!/usr/bin/env bats
# agq-doctor: backends, price table, the CLIs of the lock file (found,
# version, pinned flags accepted), keys never shown, endpoint health.

load helper

fake_cli() {  # fake_cli NAME HELPTEXT: a CLI answering --version and help
	mkdir -p "$WORK/bin"
	cat > "$WORK/bin/$1" <<SH
#!/bin/sh
case "\$*" in
--version) echo "$1 9.9.9 (fake)" ;;
*help*) printf '%s\n' "$2" ;;
esac
SH
	chmod +x "$WORK/bin/$1"
}

# fake_claude: a claude whose help has every flag the shipped lock pins.
fake_claude() {
	fake_cli claude "Usage: claude [options]
  -p, --print              print and exit
  --output-format <format> text, json
  --permission-mode <mode> acceptEdits
  --model <model>          model
  -r, --resume [value]     resume a conversation
  --mcp-config <configs...> MCP servers
  --strict-mcp-config      only those
  --allowedTools <tools...> tools allowed"
}

@test "each CLI found is reported with its version and whether the pinned flags are accepted" {
	fake_claude
	fake_cli codex "Usage: codex exec [OPTIONS] [PROMPT]
      --json   print events as JSONL
  -s, --sandbox <SANDBOX_MODE>"
	export PATH="$WORK/bin:$PATH"
	export ANTHROPIC_API_KEY=sk-doctor-SECRET
	# the shipped lock, its gemini a program no machine has (CI installs
	# the real gemini)
	jq '.gemini.argv[0] = "agq-no-such-gemini"' \
	    "${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" > "$WORK/lock.json"
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	run agq-doctor
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"ok    cli claude"*"claude 9.9.9 (fake)): pinned flags accepted"* ]]
	[[ "$output" == *"fail  cli codex"*"pinned flags not accepted (not in its help): -m"* ]]
	[[ "$output" == *"warn  cli gemini"*"agq-no-such-gemini not found in PATH"* ]]
	[[ "$output" == *"ok    key anthropic"*'from $ANTHROPIC_API_KEY'* ]]
	[[ "$output" != *sk-doctor-SECRET* ]]
	[[ "$output" == *"ok    backend ollama"* ]]
	[[ "$output" == *"doctor: fail, 1 failed"* ]]
}

@test "with the CLIs fixed the report passes; --json; an unhealthy endpoint fails it" {
	fake_claude
	fake_cli codex "Usage: codex exec [OPTIONS]
      --json  JSONL
  -s, --sandbox <SANDBOX_MODE>
  -m, --model <MODEL>
  -c, --config <key=value>"
	export PATH="$WORK/bin:$PATH"
	# the real CLIs are the test above's and the shipped lock's below:
	# here the fakes, and a gemini no machine has (a warning)
	jq '.gemini.argv[0] = "agq-no-such-gemini"' \
	    "${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" > "$WORK/lock.json"
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	run agq-doctor --json
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.status == "ok" and
	    (.checks | map(select(.check == "cli codex"))[0].status == "ok") and
	    (.checks | map(select(.check == "prices"))[0].status == "ok")'
	agq-registry add dead http://127.0.0.1:1 --type ollama --no-check
	agq-registry check dead || true
	agq-registry check dead || true
	run agq-doctor
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  endpoint dead"*unhealthy* ]]
}

@test "each pinned flag is checked where it stands: --model after \"--\" is not accepted; an option of argv missing from the help fails" {
	fake_cli claude "Usage: claude [options] [prompt]
  -p, --print              print and exit
  --output-format <format> text, json
  --model <model>          model"
	fake_cli codex "Usage: codex exec [OPTIONS] [PROMPT]
      --json   print events as JSONL
  -m, --model <MODEL>"
	export PATH="$WORK/bin:$PATH"
	# claude's model flags appended after "-- {prompt}"; codex with a
	# sandbox flag its help does not know
	cat > "$WORK/lock.json" <<'J'
{"claude": {"argv": ["claude", "-p", "--output-format", "json", "--", "{prompt}"],
  "model_args": ["--model", "{model}"], "format": "claude-json",
  "flags": ["-p", "--output-format", "--model"]},
 "codex": {"argv": ["codex", "exec", "--json", "-s", "workspace-write", "{model_args}", "--", "{prompt}"],
  "model_args": ["-m", "{model}"], "format": "codex-jsonl", "help_args": ["exec", "--help"],
  "flags": ["--json", "-m"]}}
J
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	run agq-doctor
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"fail  cli claude"*'pinned flags not where options are read (after "--" or not on the command line): --model'* ]]
	[[ "$output" != *"pinned flags accepted"* ]]
	[[ "$output" == *"fail  cli codex"*"pinned flags not accepted (not in its help): -s"* ]]
	# the placeholder puts --model before "--": accepted
	sed -i 's/"json", "--", "{prompt}"\]/"json", "{model_args}", "--", "{prompt}"]/' "$WORK/lock.json"
	fake_cli codex "Usage: codex exec [OPTIONS] [PROMPT]
      --json   print events as JSONL
  -s, --sandbox <SANDBOX_MODE>
  -m, --model <MODEL>"
	run agq-doctor --json
	echo "$output"
	echo "$output" | jq -e '[.checks[] | select(.check == "cli claude" or
	    .check == "cli codex") | select(.status == "ok")] | length == 2'
}

@test "the shipped lock: every pinned flag of claude 2.1, codex 0.17x and gemini 0.61 is where its CLI reads options, resume flags included" {
	local top=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}
	# help texts cut from claude --help (2.1.197), codex exec --help
	# (0.171.0) and gemini --help (0.61.0)
	fake_cli claude "Usage: claude [options] [command] [prompt]
  --allowedTools, --allowed-tools <tools...>
  --model <model>                       Model for the current session.
  --output-format <format>              Output format (only works with --print)
  --permission-mode <mode>              Permission mode to use for the session
  -p, --print                           Print response and exit
  -r, --resume [value]                  Resume a conversation by session ID
  --mcp-config <configs...>             Load MCP servers from JSON files or
  --strict-mcp-config                   Only use MCP servers from --mcp-config,"
	fake_cli gemini "Usage: gemini [options] [command]
  -m, --model                     Model  [string]
      --skip-trust                Trust the current workspace for this session.  [boolean] [default: false]
      --approval-mode             Set the approval mode: default (prompt for approval), auto_edit (auto-approve edit tools)
  -r, --resume                    Resume a previous session. Use latest for most recent or index number
  -o, --output-format             The format of the CLI output.  [string] [choices: text, json, stream-json]
      --allowed-mcp-server-names  Allowed MCP server names  [array]"
	fake_cli codex "Usage: codex exec [OPTIONS] [PROMPT]
  -c, --config <key=value>
  -m, --model <MODEL>
  -s, --sandbox <SANDBOX_MODE>
      --json
          Print events to stdout as JSONL"
	export PATH="$WORK/bin:$PATH"
	echo "cli_lock = $top/etc/cli-lock.json" >> "$AGQ_CONF"
	run agq-doctor --json
	echo "$output"
	echo "$output" | jq -e '[.checks[] | select(.check == "cli claude" or
	    .check == "cli codex" or .check == "cli gemini") |
	    select(.status == "ok")] | length == 3'
	# and each of them can edit, with "--" before the prompt (gemini
	# reads no prompt after "--": its prompt goes on standard input)
	jq -e '(.claude.argv | index("--permission-mode")) as $i |
	    .claude.argv[$i + 1] == "acceptEdits" and
	    (.codex.argv | index("-s")) as $j | .codex.argv[$j + 1] ==
	    "workspace-write" and .claude.argv[-2:] == ["--", "{prompt}"] and
	    .codex.argv[-2:] == ["--", "{prompt}"] and
	    (.gemini.argv | index("--approval-mode")) as $k |
	    .gemini.argv[$k + 1] == "auto_edit" and
	    (.gemini.argv | index("--skip-trust")) and
	    .gemini.prompt_via == "stdin" and
	    ([.[] | .resume_args | length > 0] | all) and
	    ([.[] | .mcp_args | length > 0] | all)' "$top/etc/cli-lock.json"
	# the resume flag checked where it stands: after "--" it fails
	jq '.claude.argv = ["claude", "-p", "--output-format", "json",
	    "--permission-mode", "acceptEdits", "{model_args}", "--", "{prompt}",
	    "--resume", "{session_id}"] | .claude.resume_args = []' \
	    "$top/etc/cli-lock.json" > "$WORK/lock.json"
	sed -i "s|^cli_lock = .*|cli_lock = $WORK/lock.json|" "$AGQ_CONF"
	run agq-doctor
	[[ "$output" == *"fail  cli claude"*'(after "--" or not on the command line): --resume'* ]]
}

@test "each CLI's --version and --help run with its lock entry's env, as a real call does (gemini's GEMINI_CLI_NO_RELAUNCH)" {
	# a gemini stand-in that prints the variable for both, and a second
	# entry whose env sets a variable of its own
	mkdir -p "$WORK/bin"
	cat > "$WORK/bin/gemini" <<'SH'
#!/bin/sh
env > "$WORK_ENV.$1"
case "$1" in
--version) echo "gemini 0.61.0 relaunch=${GEMINI_CLI_NO_RELAUNCH:-unset}" ;;
*) echo "Usage: gemini --skip-trust --approval-mode --output-format -m --resume --allowed-mcp-server-names relaunch=${GEMINI_CLI_NO_RELAUNCH:-unset}" ;;
esac
SH
	chmod +x "$WORK/bin/gemini"
	export PATH="$WORK/bin:$PATH" WORK_ENV="$WORK/env"
	unset GEMINI_CLI_NO_RELAUNCH
	jq '{gemini: .gemini}' \
	    "${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/cli-lock.json" > "$WORK/lock.json"
	echo "cli_lock = $WORK/lock.json" >> "$AGQ_CONF"
	run agq-doctor
	echo "$output"
	[[ "$output" == *"ok    cli gemini"*"(gemini 0.61.0 relaunch=true): pinned flags accepted"* ]]
	grep -qx 'GEMINI_CLI_NO_RELAUNCH=true' "$WORK/env.--version"
	grep -qx 'GEMINI_CLI_NO_RELAUNCH=true' "$WORK/env.--help"
	# the rest of the environment is inherited
	grep -q "^PATH=$WORK/bin:" "$WORK/env.--version"
	# an entry without env: nothing added
	jq 'del(.gemini.env)' "$WORK/lock.json" > "$WORK/lock2.json"
	sed -i "s|^cli_lock = .*|cli_lock = $WORK/lock2.json|" "$AGQ_CONF"
	run agq-doctor
	[[ "$output" == *"(gemini 0.61.0 relaunch=unset)"* ]]
	! grep -q '^GEMINI_CLI_NO_RELAUNCH=' "$WORK/env.--version"
}
