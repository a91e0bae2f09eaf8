#!/usr/bin/env bats
# agq-mcp(1): the MCP server, spoken to by hand (JSON-RPC lines), by the
# real claude CLI as agq-run gives it the server, and by a second client
# from npm (the MCP Inspector's CLI mode).

load helper

# rpc ID METHOD [PARAMS]: one JSON-RPC request line.
rpc() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"%s"%s}\n' "$1" "$2" \
	    "${3:+,\"params\":$3}"
}

INIT='{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bats","version":"1"}}'

# call ID TOOL ARGS: a tools/call request line.
call() { rpc "$1" tools/call "{\"name\":\"$2\",\"arguments\":$3}"; }

# answer ID: the answer to request ID in $WORK/out.
answer() { jq -c "select(.id == $1)" "$WORK/out"; }

# parent: a task with a git origin and a mission, $P its id, $M the
# mission's.
parent() {
	git init -q --bare "$WORK/origin.git"
	M=$(agq-mission new t --goal g)
	P=$(echo '{"title": "plan it", "cmd": "true", "mission": "'"$M"'",
	    "git": {"repo": "'"$WORK/origin.git"'", "base": "dev"}}' | agq-submit)
}

@test "a conversation by hand: initialize (2025-11-25), tools/list, agq_submit makes the subtask P-s1 with parent, git origin and mission inherited (indexed in the mission), journaled; bad params -32602, an unknown method -32601, garbage -32700 and the server goes on" {
	parent
	{
		rpc 1 initialize "$INIT"
		echo '{"jsonrpc":"2.0","method":"notifications/initialized"}'
		rpc 2 tools/list
		call 3 agq_submit '{"title":"child","prompt":"do a part","after":["'"$P"'"],"verify":["make test"]}'
		rpc 4 tools/call '{"name":"agq_submit","arguments":[1]}'
		call 5 agq_submit '{"title":"child","prompt":"x","after":"nope"}'
		rpc 6 resources/list
		echo 'this is not JSON'
		rpc 7 ping
		call 8 agq_show '{"id":"'"$P"'-s1"}'
		call 9 agq_show '{"id":"no-such-task"}'
		call 10 agq_wait '{"ids":["'"$P"'-s1"],"timeout_s":0}'
		call 11 agq_wait '{"ids":["'"$P"'-s1"],"timeout_s":601}'
	} | AGQ_TASK_ID=$P agq-mcp > "$WORK/out"
	cat "$WORK/out"
	answer 1 | jq -e '.result.protocolVersion == "2025-11-25" and
	    .result.serverInfo.name == "agq" and .result.capabilities.tools'
	answer 2 | jq -e '[.result.tools[].name] == ["agq_submit", "agq_show",
	    "agq_wait", "agq_plan_get", "agq_plan_put", "agq_plan_patch",
	    "agq_mission_show"] and all(.result.tools[]; .inputSchema.type == "object")'
	answer 3 | jq -e --arg id "$P-s1" '.result.isError == false and
	    .result.structuredContent.id == $id and
	    (.result.content[0].text | fromjson | .id == $id)'
	local t="$AGQ_SPOOL/blocked/$P-s1.json"
	jq -e --arg p "$P" --arg o "$WORK/origin.git" --arg m "$M" '.parent ==
	    $p and .git.repo == $o and .git.base == "dev" and .mission == $m
	    and .after == [$p] and .verify[0].cmd == "make test"' "$t"
	# in its mission through the one delivery: indexed, its submit
	# event naming it
	[ -f "$AGQ_SPOOL/missions/$M.tasks/$P-s1" ]
	agq-journal --id "$P-s1" --ev submit | jq -e --arg m "$M" '.mission ==
	    $m and .source == "mcp"'
	agq-mission show "$M" --json | jq -e --arg id "$P-s1" '.total == 2
	    and any(.tasks[]; .id == $id)'
	[ "$(answer 4 | jq .error.code)" = -32602 ]
	answer 5 | jq -e '.result.isError and
	    .result.content[0].text == "field after: not an array (string given)"'
	[ "$(answer 6 | jq .error.code)" = -32601 ]
	grep -q '"id":null,"error":{"code":-32700' "$WORK/out"
	answer 7 | jq -e '.result == {}'
	answer 8 | jq -e '.result.structuredContent.state == "blocked" and
	    .result.structuredContent.task.title == "child"'
	answer 9 | jq -e '.result.isError and
	    .result.content[0].text == "field id: no task no-such-task"'
	answer 10 | jq -e --arg id "$P-s1" '.result.structuredContent ==
	    {"all_ended": false, "states": {($id): "blocked"}}'
	answer 11 | jq -e '.result.isError and
	    .result.content[0].text == "field timeout_s: more than 600"'
	# one answer a request and the garbage line, none for the
	# notification
	[ "$(wc -l < "$WORK/out")" -eq 12 ]
	# journaled with the calling task's id
	grep '"ev":"mcp_call"' "$AGQ_SPOOL/journal" | jq -se --arg p "$P" '
	    (map(select(.tool == "agq_submit" and .ok)) | length == 1 and
	     .[0].id == $p and .[0].subtask == $p + "-s1") and
	    (map(select(.tool == "agq_show")) | length == 2)'
	grep '"ev":"submit"' "$AGQ_SPOOL/journal" | grep -q '"source":"mcp"'
}

@test "the budget: the 21st agq_submit of a task is refused (isError, journaled), also by a server started anew; without AGQ_TASK_ID no parent and no budget" {
	P=$(agq-submit --title parent -- true)
	{
		rpc 1 initialize "$INIT"
		for i in $(seq 2 22); do
			call "$i" agq_submit '{"title":"part '"$i"'","cmd":"true"}'
		done
	} | AGQ_TASK_ID=$P agq-mcp > "$WORK/out"
	[ "$(jq -s 'map(select(.result.isError == false)) | length' "$WORK/out")" -eq 20 ]
	answer 21 | jq -e --arg p "$P" '.result.structuredContent.id == $p + "-s20"'
	answer 22 | jq -e '.result.isError and (.result.content[0].text |
	    startswith("budget: task ") and contains("its 20 subtasks (agq.conf mcp_max_subtasks)"))'
	[ -e "$AGQ_SPOOL/queue/normal/$P-s20.json" ]
	[ ! -e "$AGQ_SPOOL/queue/normal/$P-s21.json" ]
	# counted from the spool: a new server refuses too
	{ rpc 1 initialize "$INIT"; call 2 agq_submit '{"title":"more","cmd":"true"}'; } |
	    AGQ_TASK_ID=$P agq-mcp > "$WORK/out"
	answer 2 | jq -e '.result.isError'
	grep '"ev":"mcp_call"' "$AGQ_SPOOL/journal" | jq -se '
	    map(select(.ok == false and (.error | startswith("budget")))) | length == 2'
	# a person's: no parent, no budget
	{ rpc 1 initialize "$INIT"; call 2 agq_submit '{"title":"mine","cmd":"true"}'; } |
	    env -u AGQ_TASK_ID agq-mcp > "$WORK/out"
	id=$(answer 2 | jq -r .result.structuredContent.id)
	jq -e 'has("parent") | not' "$AGQ_SPOOL/queue/normal/$id.json"
	# mcp_max_subtasks in agq.conf
	echo "mcp_max_subtasks = 0" >> "$AGQ_CONF"
	P=$(agq-submit --title other -- true)
	{ rpc 1 initialize "$INIT"; call 2 agq_submit '{"title":"x","cmd":"true"}'; } |
	    AGQ_TASK_ID=$P agq-mcp > "$WORK/out"
	answer 2 | jq -e '.result.isError'
}

@test "plan tools (as agq-plan changes plans) and the mission tool (agq-mission show): the document with its revision, --if-rev, a stale revision a conflict naming both, JSON Patch and merge patch, an absent plan, a bad name; the mission with its task; a subtask into no such mission refused" {
	[ "$(echo '{"steps": ["a"]}' | agq-plan put p)" = 1 ]
	M=$(agq-mission new t --goal g)
	T=$(agq-submit --mission "$M" --title one -- true)
	{
		rpc 1 initialize "$INIT"
		call 2 agq_plan_get '{"name":"p"}'
		call 3 agq_plan_get '{"name":"none"}'
		call 4 agq_plan_put '{"name":"p","doc":{"x":1},"if_rev":3}'
		call 5 agq_plan_put '{"name":"p","doc":{"x":1},"if_rev":1}'
		call 6 agq_plan_patch '{"name":"p","patch":[{"op":"add","path":"/y","value":2}],"if_rev":2}'
		call 7 agq_plan_patch '{"name":"p","patch":{"y":null,"z":3}}'
		call 8 agq_plan_get '{"name":"../x"}'
		call 9 agq_mission_show '{"id":"'"$M"'"}'
		call 10 agq_mission_show '{"id":"m-none"}'
		call 11 agq_plan_get '{"name":"p"}'
		call 12 agq_submit '{"title":"x","cmd":"true","mission":"m-none"}'
	} | agq-mcp > "$WORK/out"
	cat "$WORK/out"
	answer 2 | jq -e '.result.structuredContent ==
	    {"plan": "p", "rev": 1, "doc": {"steps": ["a"]}}'
	answer 3 | jq -e '.result.isError and .result.content[0].text == "field name: no plan none"'
	answer 4 | jq -e '.result.isError and (.result.content[0].text |
	    startswith("conflict: expected 3, current 1:"))'
	answer 5 | jq -e '.result.structuredContent.result == 2'
	answer 6 | jq -e '.result.structuredContent.result == 3'
	answer 7 | jq -e '.result.structuredContent.result == 4'
	answer 8 | jq -e '.result.isError and (.result.content[0].text | startswith("field name: not a plan name"))'
	answer 9 | jq -e --arg m "$M" --arg t "$T" '.result.structuredContent.id
	    == $m and .result.structuredContent.mission.state == "open" and
	    [.result.structuredContent.mission.tasks[].id] == [$t]'
	answer 10 | jq -e '.result.isError and .result.content[0].text == "field id: no mission m-none"'
	answer 11 | jq -e '.result.structuredContent ==
	    {"plan": "p", "rev": 4, "doc": {"x": 1, "z": 3}}'
	answer 12 | jq -e '.result.isError and .result.content[0].text ==
	    "field mission: m-none: no such mission (agq-mission ls)"'
	[ ! -e "$AGQ_SPOOL/missions/m-none.tasks" ]
	[ "$(agq-plan get p --json | jq -c .)" = '{"plan":"p","rev":4,"doc":{"x":1,"z":3}}' ]
	[ ! -e "$AGQ_SPOOL/x" ] && [ ! -e "$AGQ_SPOOL/plans/x" ]
}

@test "the real claude CLI as the MCP client: a task with mcp: true run by agq-run gets agq-mcp through the shipped lock, and the model's mcp__agq__agq_submit makes the subtask, its parent set" {
	real_claude
	start_sched
	start_agent c1 --backend cli
	P=$(echo '{"title": "plan", "backend": "cli", "model": "claude", "mcp": true,
	    "cwd": "'"$WORK/w"'",
	    "prompt": "Submit a subtask titled child-1 through agq"}' | agq-submit)
	wait_for 120 is_state "$P" done
	cat "$AGQ_SPOOL/out/$P/output"
	local f
	f=$(find "$AGQ_SPOOL" -name "$P-s1.json" -not -path '*/ids/*' | head -1)
	jq -e --arg p "$P" '.parent == $p and .title == "child-1"' "$f"
	grep -q "submitted: {\"id\":\"$P-s1\"" "$AGQ_SPOOL/out/$P/output"
	jq -e --arg p "$P" '.mcpServers.agq.env.AGQ_TASK_ID == $p' \
	    "$AGQ_SPOOL/out/$P/mcp-claude.json"
	grep '"ev":"mcp_call"' "$AGQ_SPOOL/journal" | jq -se --arg p "$P" '
	    length == 1 and .[0].id == $p and .[0].ok and .[0].subtask == $p + "-s1"'
	# the tool's schema reached the model
	jq -se 'map(select(.path | startswith("/v1/messages")) | .body.tools // [] |
	    map(select(.name == "mcp__agq__agq_submit"))) | flatten | length >= 1' \
	    "$WORK/mreq"
}

@test "a second MCP client, the MCP Inspector's CLI mode (@modelcontextprotocol/inspector from npm): tools/list and a tools/call of agq_submit" {
	local insp=${AGQ_TEST_MCP_INSPECTOR:-$(command -v mcp-inspector)}
	[ -n "$insp" ] || skip "the MCP Inspector is not installed (npm install -g @modelcontextprotocol/inspector@1.0.3)"
	P=$(agq-submit --title parent -- true)
	run "$insp" --cli "$(command -v agq-mcp)" -e AGQ_TASK_ID="$P" \
	    -e AGQ_SPOOL="$AGQ_SPOOL" -e AGQ_CONF="$AGQ_CONF" --method tools/list
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '"name": "agq_mission_show"' <<< "$output"
	run "$insp" --cli "$(command -v agq-mcp)" -e AGQ_TASK_ID="$P" \
	    -e AGQ_SPOOL="$AGQ_SPOOL" -e AGQ_CONF="$AGQ_CONF" --method tools/call \
	    --tool-name agq_submit --tool-arg title=inspected --tool-arg 'prompt=say hi'
	echo "$output"
	[ "$status" -eq 0 ]
	jq -e --arg p "$P" '.parent == $p and .title == "inspected"' \
	    "$AGQ_SPOOL/queue/normal/$P-s1.json"
}
