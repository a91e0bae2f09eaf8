#!/usr/bin/env bats
# Missions (issue 19, agq-mission(1)): a mission's record and task index,
# its derived state, agq-submit --mission and --role, --plan, the planner
# (a task with role plan whose answer is a JSON array of tasks), handoffs
# to a cmd ($AGQ_HANDOFF) and to a prompt backend (the prompt text), and
# agq-fsck's stale index entries.  No daemon: agq-sched --once and
# agq-run --once.

load helper

# cycle [N]: N rounds (default 4) of agq-sched --once and agq-run --once.
cycle() {
	local i
	for ((i = 0; i < ${1:-4}; i++)); do
		agq-sched --once >/dev/null 2>&1
		agq-run --agent a1 --once >/dev/null 2>&1
	done
}

# cycle_until COMMAND...: cycles until COMMAND succeeds, at most 10.
cycle_until() {
	local i
	for ((i = 0; i < 10; i++)); do
		"$@" && return 0
		cycle 1
	done
	"$@"
}

# mstate M S: mission M's state is S.
mstate() { [ "$(agq-mission show "$1" --json | jq -r .state)" = "$2" ]; }

# ev ID EV: the first EV event of ID, compact JSON.
ev() { agq-journal --id "$1" --ev "$2" | head -1; }

# planner FILE: a script that prints the plan in FILE with prose around it.
planner() {
	printf '#!/bin/sh\necho "The plan:"\ncat %s\necho "That is all."\n' \
	    "$1" > "$WORK/planner.sh"
	chmod +x "$WORK/planner.sh"
}

@test "agq-mission new, ls, show (--json), close; --mission refused for an unknown or closed mission, the field named" {
	m=$(agq-mission new "Fix typos" --goal "no typos left" --accept "codespell clean" --accept "tests pass")
	[[ "$m" == m-* ]]
	[ "$(jq -r '.title + "|" + .goal + "|" + (.acceptance | join(","))' "$AGQ_SPOOL/missions/$m.json")" = "Fix typos|no typos left|codespell clean,tests pass" ]
	[ "$(ev "$m" mission_new | jq -r '.mission + " " + .title')" = "$m Fix typos" ]
	t=$(agq-submit --mission "$m" --role implement --title one -- true)
	[ -e "$AGQ_SPOOL/missions/$m.tasks/$t" ]
	[ "$(ev "$t" submit | jq -r .mission)" = "$m" ]
	run agq-mission ls --json
	[ "$(echo "$output" | jq -r '.[0] | .id + " " + .state + " " + (.done|tostring) + "/" + (.total|tostring)')" = "$m open 0/1" ]
	run agq-mission show "$m" --json
	[ "$(echo "$output" | jq -r '.tasks[0] | .id + " " + .state + " " + .role + " " + .title')" = "$t queue implement one" ]
	run agq-mission show "$m"
	[[ "$output" == *"progress:   0/1 done"* ]]       # no bar off a terminal
	[[ "$output" != *"[#"* && "$output" != *"[."* ]]
	run agq-mission ls
	[[ "$output" == "$m"*"open"*"0/1"*"Fix typos" ]]
	run agq-submit --mission m-nosuch -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"field mission: m-nosuch: no such mission"* ]]
	run agq-submit --role boss -- true
	[ "$status" -eq 64 ]
	[[ "$output" == *"field role: must be one of plan, implement, review, test"* ]]
	run agq-mission close "$m"
	[ "$status" -eq 0 ]
	[ "$(ev "$m" mission_close | jq -r .mission)" = "$m" ]
	run agq-mission close "$m"
	[ "$status" -eq 1 ]
	run agq-submit --mission "$m" -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"field mission: $m is closed"* ]]
	run agq-mission show m-nosuch
	[ "$status" -eq 66 ]
	# a drop in inbox/ is indexed in its mission too
	m2=$(agq-mission new second)
	echo "{\"id\": \"d1\", \"cmd\": \"true\", \"mission\": \"$m2\"}" > "$WORK/d1"
	mv "$WORK/d1" "$AGQ_SPOOL/inbox/d1"
	agq-sched --once 2>/dev/null
	[ -e "$AGQ_SPOOL/missions/$m2.tasks/d1" ]
	[ "$(ev d1 accept | jq -r .mission)" = "$m2" ]
}

@test "a mission's state: open, done; failed when a task is dead and nothing can run; blocked when the rest is held" {
	m=$(agq-mission new s)
	[ "$(agq-mission show "$m" --json | jq -r .state)" = open ]   # empty
	agq-submit --mission "$m" -- true >/dev/null
	cycle_until mstate "$m" done
	[ "$(agq-mission show "$m" --json | jq -r '.state + " " + (.done|tostring)')" = "done 1" ]
	f=$(agq-submit --mission "$m" --max-attempts 1 -- false)
	h=$(echo "{\"cmd\": \"true\", \"mission\": \"$m\", \"after\": [\"$f\"], \"on_dep_fail\": \"hold\"}" | agq-submit)
	[ "$(agq-mission show "$m" --json | jq -r .state)" = open ]
	cycle_until is_state "$h" hold
	is_state "$f" dead
	[ "$(agq-mission show "$m" --json | jq -r .state)" = failed ]
	m2=$(agq-mission new b)
	t=$(agq-submit --mission "$m2" -- true)
	agq-hold "$t" >/dev/null
	[ "$(agq-mission show "$m2" --json | jq -r .state)" = blocked ]
}

@test "agq-mission new --plan: tasks with after as indexes or ids submitted into the mission; a bad plan creates nothing, the field named" {
	cat > "$WORK/plan.json" <<'EOF'
[{"id": "pa", "title": "a", "cmd": "true"},
 {"title": "b", "cmd": "true", "after": [0], "role": "test"},
 {"title": "c", "cmd": "true", "after": ["pa", 1]}]
EOF
	m=$(agq-mission new planned --plan "$WORK/plan.json")
	run agq-mission show "$m" --json
	[ "$(echo "$output" | jq -r '[.tasks[] | .title + ":" + .state] | join(" ")')" = "a:queue b:blocked c:blocked" ]
	b=$(echo "$output" | jq -r '.tasks[1].id')
	[ "$(echo "$output" | jq -c '.tasks[1].after')" = '["pa"]' ]
	[ "$(echo "$output" | jq -c '.tasks[2].after')" = "[\"pa\",\"$b\"]" ]
	[ -e "$AGQ_SPOOL/deps/pa/$b" ]
	cycle_until mstate "$m" done
	echo '[{"cmd": "true"}, {"cmd": "true", "after": [5]}]' > "$WORK/bad.json"
	run agq-mission new bad --plan "$WORK/bad.json"
	[ "$status" -eq 65 ]
	[[ "$output" == *"task 1: field after[0]: 5 is not an index of the plan (0 to 1) (nothing created)"* ]]
	echo '[{"cmd": "true", "after": [1]}, {"cmd": "true", "after": [0]}]' > "$WORK/cyc.json"
	run agq-mission new cyc --plan "$WORK/cyc.json"
	[ "$status" -eq 65 ]
	[[ "$output" == *"cycle"* ]]
	[ "$(agq-mission ls --json | jq length)" -eq 1 ]
}

@test "the planner: a cmd's plan submitted into its mission with ids PLAN-pN and after edges before the plan task is done" {
	m=$(agq-mission new planned)
	cat > "$WORK/plan.json" <<'EOF'
[{"title": "first", "cmd": "true", "role": "implement"},
 {"title": "second", "cmd": "true", "after": [0], "role": "test"}]
EOF
	planner "$WORK/plan.json"
	p=$(agq-submit --id plan1 --mission "$m" --role plan -- "$WORK/planner.sh")
	cycle_until is_state plan1 done
	[ "$(ev plan1 plan_submit | jq -c '[.mission, .tasks]')" = "[\"$m\",[\"plan1-p0\",\"plan1-p1\"]]" ]
	[ "$(jq -c .plan "$AGQ_SPOOL/out/plan1/result.json")" = '["plan1-p0","plan1-p1"]' ]
	is_state plan1-p1 blocked
	[ "$(jq -c '[.after, .mission, .role]' "$AGQ_SPOOL/blocked/plan1-p1.json")" = "[[\"plan1-p0\"],\"$m\",\"test\"]" ]
	[ -e "$AGQ_SPOOL/deps/plan1-p0/plan1-p1" ]
	[ "$(ev plan1-p0 submit | jq -r '.source + " " + .mission')" = "plan $m" ]
	# the plan was submitted before the plan task went to done/
	[ "$(agq-journal | jq -r 'select(.ev == "plan_submit" or (.ev == "done" and .id == "plan1")) | .ev' | tr '\n' ' ')" = "plan_submit done " ]
	cycle_until mstate "$m" done
	[ "$(agq-mission show "$m" --json | jq -r '.state + " " + (.done|tostring) + "/" + (.total|tostring)')" = "done 3/3" ]
	# the table's columns line up whatever the ids' lengths: the states
	# start in one column (an id of 40 characters, longer than 32)
	m2=$(agq-mission new long)
	agq-submit -q --id "$(printf 'x%.0s' $(seq 40))" --mission "$m2" -- true
	agq-submit -q --id short --mission "$m2" -- true
	[ "$(agq-mission show "$m2" | grep -E '^  [x]{40}|^  short ' | awk '{ print index($0, " queue ") }' | sort -u | wc -l)" -eq 1 ]
}

@test "the planner: a bad plan fails the attempt with the field named (feedback for the retry); a re-run after a crash submits only the missing tasks" {
	m=$(agq-mission new planned)
	echo '[{"title": "x", "cmd": "true", "verfy": []}]' > "$WORK/bad.json"
	planner "$WORK/bad.json"
	agq-submit --id pb --mission "$m" --role plan --max-attempts 1 -- "$WORK/planner.sh" >/dev/null
	cycle_until is_state pb dead
	[[ "$(jq -r .reason "$AGQ_SPOOL/dead/pb.json")" == "plan refused: task 0: field verfy: unknown field (did you mean verify?)"* ]]
	[[ "$(jq -r .plan_feedback "$AGQ_SPOOL/dead/pb.json")" == "Your plan was refused: task 0: field verfy"* ]]
	[ "$(jq -r .agent_status "$AGQ_SPOOL/out/pb/result.json")" = plan_refused ]
	[ ! -e "$AGQ_SPOOL/queue/normal/pb-p0.json" ]
	# a crash after the first of three was submitted: the re-run adds
	# the other two, the first not again
	printf '[{"cmd": "true"}, {"cmd": "true", "after": [0]}, {"cmd": "true", "after": [0, 1]}]\n' > "$WORK/good.json"
	planner "$WORK/good.json"
	echo "{\"id\": \"pc-p0\", \"cmd\": \"true\", \"mission\": \"$m\"}" | agq-submit >/dev/null
	agq-submit --id pc --mission "$m" --role plan -- "$WORK/planner.sh" >/dev/null
	cycle_until is_state pc done
	[ "$(ev pc plan_submit | jq -c .tasks)" = '["pc-p0","pc-p1","pc-p2"]' ]
	[ "$(agq-journal --ev submit | jq -r 'select(.id | startswith("pc-")) | .id' | tr '\n' ' ')" = "pc-p0 pc-p1 pc-p2 " ]
	[ "$(jq -c .after "$AGQ_SPOOL/blocked/pc-p2.json")" = '["pc-p0","pc-p1"]' ]
}

@test "handoff: a cmd gets its own and its finished parents' handoffs in \$AGQ_HANDOFF; a handoff left in \$AGQ_HANDOFF_OUT is kept" {
	cat > "$WORK/leave.sh" <<'EOF'
#!/bin/sh
printf '{"summary": "parser split", "files": ["lex.c"], "questions": ["keep yacc?"]}' > "$AGQ_HANDOFF_OUT"
EOF
	chmod +x "$WORK/leave.sh"
	p=$(agq-submit --id hp -- "$WORK/leave.sh")
	echo "{\"id\": \"hc\", \"cmd\": [\"sh\", \"-c\", \"cat \\\"\$AGQ_HANDOFF\\\" > '$WORK/got.json'\"], \"after\": [\"hp\"], \"handoff\": {\"summary\": \"from the lead\"}}" | agq-submit >/dev/null
	cycle_until is_state hc done
	[ "$(jq -c .handoff_out "$AGQ_SPOOL/done/hp.json")" = '{"summary":"parser split","files":["lex.c"],"questions":["keep yacc?"]}' ]
	[ "$(jq -r '.handoff.summary + "|" + .from[0].id + "|" + .from[0].handoff.files[0]' "$WORK/got.json")" = "from the lead|hp|lex.c" ]
	# not JSON: not kept, said in result.json
	agq-submit --id hx -- sh -c 'echo nope > "$AGQ_HANDOFF_OUT"' >/dev/null
	cycle_until is_state hx done
	[ "$(jq -r '.handoff_out // "none"' "$AGQ_SPOOL/done/hx.json")" = none ]
	[[ "$(jq -r .handoff_error "$AGQ_SPOOL/out/hx/result.json")" == "handoff-out.json: not JSON"* ]]
	echo '{"cmd": "true", "handoff": {"summary": 1}}' > "$WORK/h.json"
	run agq-submit < "$WORK/h.json"
	[ "$status" -eq 65 ]
	[[ "$output" == *"field handoff.summary: not a string"* ]]
}

@test "handoff: a prompt backend gets the task's handoff and its parents' in the prompt text" {
	fake_server fakeapi.py api
	echo "ollama_url = http://127.0.0.1:$(cat "$WORK/apiport")" >> "$AGQ_CONF"
	agq-submit --id hp -- sh -c 'printf "{\"summary\": \"schema ready\", \"files\": [\"db.sql\"]}" > "$AGQ_HANDOFF_OUT"' >/dev/null
	echo '{"id": "hq", "prompt": "write the API", "backend": "ollama", "model": "m", "after": ["hp"], "handoff": {"summary": "use REST", "questions": ["auth?"]}}' | agq-submit >/dev/null
	cycle_until is_state hq done
	prompt=$(jq -r 'select(.path == "/api/chat") | .body.messages[-1].content' "$WORK/apireq")
	[[ "$prompt" == "write the API"*"Handoff to this task:"*"use REST"*"Open questions:"*"- auth?"* ]]
	[[ "$prompt" == *"Handoff from task hp:"*"schema ready"*"Files touched:"*"- db.sql"* ]]
}

@test "the planner with a prompt backend: the model's final text is the plan; a refused one's reason is in the next attempt's prompt" {
	fake_server fakeapi.py api
	echo "ollama_url = http://127.0.0.1:$(cat "$WORK/apiport")" >> "$AGQ_CONF"
	m=$(agq-mission new p)
	# fakeapi.py answers "echo: " and the prompt's last line
	jq -n --arg m "$m" '{id: "pm", prompt: "plan it\n[{\"title\": \"t\", \"cmd\": \"true\"}]", backend: "ollama", model: "m", role: "plan", mission: $m}' | agq-submit >/dev/null
	jq -n --arg m "$m" '{id: "pn", prompt: "plan nothing", backend: "ollama", model: "m", role: "plan", mission: $m, max_attempts: 2, backoff: 0.01}' | agq-submit >/dev/null
	cycle_until is_state pn dead
	is_state pm done
	[ "$(agq-mission show "$m" --json | jq -r '.tasks[] | select(.id == "pm-p0") | .title')" = t ]
	is_state pn dead
	[ "$(jq -r 'select(.path == "/api/chat") | .body.messages[-1].content' "$WORK/apireq" | grep -c "Your plan was refused: the plan: no JSON array of tasks in the answer")" -eq 1 ]
}

@test "agq-fsck: a mission index entry naming no task is reported, removed with --fix; a fresh one (a submit on its way) is not" {
	m=$(agq-mission new f)
	t=$(agq-submit --mission "$m" -- true)
	: > "$AGQ_SPOOL/missions/$m.tasks/ghost"
	: > "$AGQ_SPOOL/missions/$m.tasks/fresh"
	touch -d '2 hours ago' "$AGQ_SPOOL/missions/$m.tasks/ghost"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"mission: missions/$m.tasks/ghost: stale: no task ghost"* ]]
	[[ "$output" != *"fresh"* ]]
	[[ "$output" == *"1 mission entries"* ]]
	run agq-fsck --fix
	[ ! -e "$AGQ_SPOOL/missions/$m.tasks/ghost" ]
	[ -e "$AGQ_SPOOL/missions/$m.tasks/$t" ]
	run agq-fsck
	[ "$status" -eq 0 ]
}

@test "agq-edit refuses a change of mission: the mission's index names the task" {
	m=$(agq-mission new e)
	t=$(agq-submit --mission "$m" -- true)
	cat > "$WORK/ed.sh" <<'EOF2'
#!/bin/sh
jq '.mission = "m-other"' "$1" > "$1.new" && mv "$1.new" "$1"
EOF2
	chmod +x "$WORK/ed.sh"
	EDITOR="$WORK/ed.sh" run agq-edit "$t"
	[ "$status" -eq 65 ]
	[[ "$output" == *"mission"* ]]
	[ "$(jq -r .mission "$AGQ_SPOOL/queue/normal/$t.json")" = "$m" ]
}
