# tests/helper.bash - shared set-up for agq's bats tests.
#
# Each test gets a fresh spool in $BATS_TEST_TMPDIR and a configuration
# with short timings (lease 3 s, heartbeat 0.3 s).  Daemons started with
# start_sched / start_agent are stopped in teardown.  Waits poll a
# condition with a generous timeout; no test asserts a duration.

PATH="$AGQ_TEST_BIN:$PATH"
# python3 run directly, not through a version manager's shim in PATH
# (pyenv's costs 0.5 s of CPU a start, the interpreter itself 0.04 s): the
# tests' stand-ins and fixtures need only the standard library.
if [ -x /usr/bin/python3 ] && [ "$(type -P python3)" != /usr/bin/python3 ] &&
    [ -n "${BATS_RUN_TMPDIR:-}" ]; then
	[ -e "$BATS_RUN_TMPDIR/pybin/python3" ] || {
		mkdir -p "$BATS_RUN_TMPDIR/pybin"
		ln -sf /usr/bin/python3 "$BATS_RUN_TMPDIR/pybin/python3"
	}
	PATH="$AGQ_TEST_BIN:$BATS_RUN_TMPDIR/pybin:${PATH#"$AGQ_TEST_BIN:"}"
fi
# LeakSanitizer (the lead's decision, issue 17 item 17): on in the unit
# tests of lib/ and in the daemons (agq-sched, agq-run, agq-dash: a leak in
# a loop grows), off in the one-shot programs, whose memory is returned at
# exit: their sanitizer build links tests/san/noleaks.c, which skips the
# check (about 47 ms of CPU of a run's 78) unless AGQ_TEST_LEAKS=1, and
# whose default options (the same file) do not start LeakSanitizer at all:
# so ASAN_OPTIONS below leaves detect_leaks to each program (on by default,
# where it is not set).  So the
# rule is each program's, and a daemon's children, which inherit its
# environment, still skip it; tests/leaks.bats checks both.  A leak makes
# the program exit 23 and its test fail.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Who the tests' own git(1) commits are by (fixtures: origins, branches,
# moves); agq's commits are by git_author_name and git_author_email.
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@t

# nap SECONDS: sleep without starting a process (the polls below run
# thousands of times a suite): read(1) waits on a pipe nothing writes to.
nap() {
	[ -n "${NAP_FD:-}" ] || exec {NAP_FD}<> <(:)
	read -rt "$1" -u "$NAP_FD" || :
}

setup() {
	export AGQ_SPOOL="$BATS_TEST_TMPDIR/spool"
	export AGQ_CONF="$BATS_TEST_TMPDIR/agq.conf"
	# (printf and one mkdir: each process a test starts costs, and every
	# test starts these)
	printf '%s\n' "lease = 3" "heartbeat = 0.3" "assign_timeout = 20" \
	    "kill_grace = 1" "rescan = 5" "backoff_cap = 60" > "$AGQ_CONF"
	PIDS=()
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$AGQ_SPOOL" "$WORK"
}

# ours PID: PID is still a live child of this shell.  A process that ended was
# reaped, and its pid may already belong to another test's process
# (pid_max wraps within minutes under test load): never signal that.
ours() {
	local stat
	{ read -r stat < "/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }               # after "pid (comm) "
	set -- $stat                    # state ppid ...
	[ "$2" = "$BASHPID" ] && [ "$1" != Z ]
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		ours "$p" && kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]}"; do
		for _ in {1..50}; do ours "$p" || break; nap 0.1; done
		ours "$p" && kill -KILL "$p" 2>/dev/null
	done
	wait 2>/dev/null || true
}

# start_sched [ARGS...]: agq-sched in the background.
start_sched() {
	agq-sched "$@" 2>>"$BATS_TEST_TMPDIR/sched.log" &
	PIDS+=($!)
	SCHED_PID=$!
}

# start_agent NAME [ARGS...]: agq-run --agent NAME in the background;
# its pid is in $AGENT_PID.
start_agent() {
	local name=$1
	shift
	agq-run --agent "$name" "$@" 2>>"$BATS_TEST_TMPDIR/agent-$name.log" &
	AGENT_PID=$!
	PIDS+=($!)
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds;
# fail the test (printing COMMAND) when SECONDS pass first.
wait_for() {
	local limit=$1
	shift
	local end=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $end ]; then
			echo "timed out after ${limit}s waiting for: $*" >&2
			return 1
		fi
		nap 0.1
	done
}

# kill9_restart NAME PID ID: once the start of task ID is journaled, kill
# agent NAME's agq-run PID with SIGKILL, start NAME again, and wait for ID
# to end; fails unless it ends done.
kill9_restart() {
	wait_for 20 grep -q "\"ev\":\"start\",\"id\":\"$3\"" "$AGQ_SPOOL/journal"
	kill -9 "$2"
	wait "$2" || true
	start_agent "$1"
	agq-wait --timeout 60 -q "$3"
}

# count_in STATE: number of task files in a state directory (queue and
# active: in their lane and agent directories).  Globs, not find(1): the
# polls call it thousands of times.  count_is uses it without a subshell.
count_in() {
	_count "$1"
	echo "$COUNT"
}
_count() {
	local f
	COUNT=0
	case "$1" in
	queue|active) set -- "$AGQ_SPOOL/$1"/*/*.json ;;
	*) set -- "$AGQ_SPOOL/$1"/*.json ;;
	esac
	for f; do [ -e "$f" ] && COUNT=$((COUNT + 1)); done
	return 0
}

# state_of ID: the directory the task is in (queue, defer, ..., or none);
# is_state ID STATE without a subshell (_state sets STATE).
state_of() {
	_state "$1"
	echo "$STATE"
}
_state() {
	local f
	STATE=none
	for f in "$AGQ_SPOOL"/queue/*/"$1.json" "$AGQ_SPOOL"/defer/"$1.json" \
	    "$AGQ_SPOOL"/hold/"$1.json" "$AGQ_SPOOL"/active/*/"$1.json" \
	    "$AGQ_SPOOL"/done/"$1.json" "$AGQ_SPOOL"/dead/"$1.json" \
	    "$AGQ_SPOOL"/review/"$1.json" "$AGQ_SPOOL"/approval/"$1.json" \
	    "$AGQ_SPOOL"/blocked/"$1.json"; do
		if [ -e "$f" ]; then
			f=${f#"$AGQ_SPOOL"/}
			STATE=${f%%/*}
			return 0
		fi
	done
	return 0
}

is_state() { _state "$1"; [ "$STATE" = "$2" ]; }
# jq_is FILE FILTER VALUE: jq -r FILTER of FILE is VALUE (FILE read anew at
# each call, so it can be waited for: wait_for 30 jq_is F .x 1).
jq_is() { [ "$(jq -r "$2" "$1" 2>/dev/null)" = "$3" ]; }
count_is() { _count "$1"; [ "$COUNT" -eq "$2" ]; }
# fault_shim: $shim, the fault shim (tests/fault/failfsync.c) for
# LD_PRELOAD; fails when it is not built.
fault_shim() {
	shim=${AGQ_TEST_FAILFSYNC:-$AGQ_TOP/build/fault/failfsync.so}
	[ -f "$shim" ] || { echo "no $shim: run make check (or make $shim)"; return 1; }
}
journal_count() { grep -c "\"ev\":\"$1\"" "$AGQ_SPOOL/journal" 2>/dev/null || true; }

# git_origin: what the caller wrote in $WORK/src committed as branch main
# of a new repository there, cloned bare to $WORK/origin.git; agq's own
# commits by Bot <bot@example.org> (agq.conf).  Skips without git(1).
git_origin() {
	command -v git >/dev/null || skip "no git"
	git init -q -b main "$WORK/src"
	git -C "$WORK/src" add .
	git -C "$WORK/src" commit -qm init
	git clone -q --bare "$WORK/src" "$WORK/origin.git"
	echo "git_author_name = Bot" >> "$AGQ_CONF"
	echo "git_author_email = bot@example.org" >> "$AGQ_CONF"
}

# fake_api_start / fake_api_stop: for setup_file / teardown_file: run
# tests/fakeapi.py (recorded answers in each model API's format) on a free
# 127.0.0.1 port, written to $FAKE_DIR/port; requests it saw go to
# $FAKE_DIR/requests.
fake_api_start() {
	export FAKE_DIR="$BATS_FILE_TMPDIR"
	python3 "$BATS_TEST_DIRNAME/fakeapi.py" "$FAKE_DIR/port" \
	    "$FAKE_DIR/requests" 3>&- &
	echo $! > "$FAKE_DIR/pid"
	for _ in {1..100}; do [ -s "$FAKE_DIR/port" ] && break; nap 0.1; done
	[ -s "$FAKE_DIR/port" ]
}

fake_api_stop() {
	kill "$(cat "$FAKE_DIR/pid")" 2>/dev/null || true
}

# fake_forge_start TOKEN [PREFIX] / fake_forge_stop [PREFIX]: for
# setup_file / teardown_file: tests/fakeforge.py (the GitHub and Gitea
# pull request APIs, TOKEN the one they take) on a free 127.0.0.1 port,
# written to $FAKE_DIR/PREFIXport; the requests it saw go to
# $FAKE_DIR/PREFIXrequests.  Without python3, nothing: the tests skip.
fake_forge_start() {
	export FAKE_DIR="$BATS_FILE_TMPDIR"
	command -v python3 >/dev/null || return 0
	python3 "$BATS_TEST_DIRNAME/fakeforge.py" "$FAKE_DIR/${2}port" \
	    "$FAKE_DIR/${2}requests" "$1" 3>&- &
	echo $! > "$FAKE_DIR/${2}pid"
	for _ in {1..100}; do [ -s "$FAKE_DIR/${2}port" ] && break; nap 0.1; done
}

fake_forge_stop() {
	[ -s "$FAKE_DIR/${1}pid" ] && kill "$(cat "$FAKE_DIR/${1}pid")" 2>/dev/null
	return 0
}

# fake_api_agent: the HTTP backends' URLs in agq.conf pointed at the fake
# server (a 5 s backend_timeout, the shipped prices), then the scheduler
# and agent a1.
fake_api_agent() {
	local port
	port=$(cat "$FAKE_DIR/port")
	cat >> "$AGQ_CONF" <<CONF
ollama_url = http://127.0.0.1:$port
openai_url = http://127.0.0.1:$port
anthropic_url = http://127.0.0.1:$port
backend_timeout = 5
prices = ${AGQ_TOP:-$BATS_TEST_DIRNAME/..}/etc/prices.json
CONF
	start_sched
	start_agent a1
}

# fake_server SCRIPT NAME [ARGS...]: tests/SCRIPT (a loopback stand-in
# served by fakehttp.py) in the background for this test, its port in
# $WORK/NAMEport once listening, its requests logged in $WORK/NAMEreq.
fake_server() {
	local script=$1 name=$2
	shift 2
	python3 "$BATS_TEST_DIRNAME/$script" "$WORK/${name}port" \
	    "$WORK/${name}req" "$@" 3>&- &
	PIDS+=($!)
	for _ in {1..100}; do [ -s "$WORK/${name}port" ] && break; nap 0.1; done
	[ -s "$WORK/${name}port" ]
}

# loopback SCRIPT PORTFILE LOG: start tests/SCRIPT, a loopback stand-in
# of an API, logging its requests to $WORK/LOG; its port in $WORK/PORTFILE.
loopback() {
	python3 "$BATS_TEST_DIRNAME/$1" "$WORK/$2" "$WORK/$3" 3>&- &
	PIDS+=($!)
	for _ in {1..100}; do [ -s "$WORK/$2" ] && break; nap 0.1; done
}

# real_cli TOOL EXE PATTERN PACKAGE: skipped unless EXE is the real CLI:
# installed from npm package PACKAGE (the package.json above the file EXE
# resolves to names it: no start of the CLI, a node start of 0.6 to 2.7
# CPU-s), else it prints PATTERN for --version; then EXE is TOOL in
# $WORK/fakebin, and $WORK/home and $WORK/w are made.
real_cli() {
	local d
	d=$(readlink -f "$2" 2>/dev/null) || d=
	while [ -n "$d" ] && [ "$d" != / ]; do
		d=$(dirname "$d")
		[ -f "$d/package.json" ] && break
	done
	[ -n "$2" ] && { [ -n "$d" ] && jq_is "$d/package.json" .name "$4" ||
	    GEMINI_CLI_NO_RELAUNCH=true "$2" --version 2>/dev/null | grep -q "$3"; } ||
	    skip "the real $1 CLI is not installed (npm install --prefix DIR $4; AGQ_TEST_${1^^}=DIR/node_modules/.bin/$1)"
	mkdir -p "$WORK/fakebin" "$WORK/home" "$WORK/w"
	ln -sf "$2" "$WORK/fakebin/$1"
}

# real_claude: the real claude CLI (@anthropic-ai/claude-code from npm):
# $AGQ_TEST_CLAUDE, else claude in PATH; the test is skipped without it.
# It talks to tests/fakemessages.py, a loopback Messages API whose first
# answer is a Write tool use of hello.txt in the prompt's "cwd: DIR".
real_claude() {
	real_cli claude "${AGQ_TEST_CLAUDE:-$(command -v claude)}" \
	    "Claude Code" @anthropic-ai/claude-code
	loopback fakemessages.py mport mreq
	export PATH="$WORK/fakebin:$PATH" HOME="$WORK/home" \
	    ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$WORK/mport")" \
	    ANTHROPIC_API_KEY=sk-fake-0123 DISABLE_TELEMETRY=1 \
	    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1
}

# forge_settings KIND REPO PORT TOKEN: agq.conf's forge settings for a
# stand-in (fakeforge.py) on 127.0.0.1:PORT taking TOKEN (in $WORK/token).
forge_settings() {
	echo "$4" > "$WORK/token"
	cat >> "$AGQ_CONF" <<CONF
forge = $1
forge_url = http://127.0.0.1:$3/
forge_token_file = $WORK/token
forge_repo = $2
CONF
}

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
