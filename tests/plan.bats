#!/usr/bin/env bats
# Plan documents (agq-plan(1)): revisions, compare-and-swap with --if-rev,
# JSON Patch and merge patch, tombstones, the journal's events.

load helper
bats_require_minimum_version 1.5.0

ev_count() { grep -c "\"ev\":\"$1\",\"plan\":\"$2\"" "$AGQ_SPOOL/journal" || true; }

@test "put, get, patch, merge patch, rm, ls and log; each change a revision file" {
	run agq-plan put p1 <<< '{"steps":["a"]}'
	[ "$status" -eq 0 ] && [ "$output" = 1 ]
	[ "$(agq-plan get p1 | jq -c .)" = '{"steps":["a"]}' ]
	run agq-plan patch p1 <<< '[{"op":"add","path":"/steps/-","value":"b"}]'
	[ "$output" = 2 ]
	run agq-plan patch --merge p1 <<< '{"owner":"me"}'
	[ "$output" = 3 ]
	[ "$(agq-plan get --json p1 | jq -c .)" = \
	    '{"plan":"p1","rev":3,"doc":{"steps":["a","b"],"owner":"me"}}' ]
	[ "$(agq-plan get --rev 1 p1 | jq -c .)" = '{"steps":["a"]}' ]
	jq_is "$AGQ_SPOOL/plans/p1/0000000002.json" .op patch
	jq_is "$AGQ_SPOOL/plans/p1/0000000002.json" '.patch[0].value' b
	jq_is "$AGQ_SPOOL/plans/p1/0000000003.json" .merge true
	jq_is "$AGQ_SPOOL/plans/p1/0000000003.json" .by.uid "$(id -u)"
	run agq-plan log p1
	[ "${#lines[@]}" -eq 5 ]
	[[ "${lines[0]}" == *" put" ]] && [[ "${lines[3]}" == *" patch --merge" ]]
	[ "$(agq-plan log --json p1 | jq -c 'map(.rev)')" = '[1,2,3]' ]
	[ "$(ev_count plan_put p1)" = 1 ] && [ "$(ev_count plan_patch p1)" = 2 ]
	run agq-plan rm p1
	[ "$output" = 4 ]
	jq_is "$AGQ_SPOOL/plans/p1/0000000004.json" .deleted true
	[ "$(ev_count plan_rm p1)" = 1 ]
	run agq-plan get p1
	[ "$status" -eq 69 ] && [[ "$output" == *"no plan p1 (deleted)"* ]]
	run agq-plan patch p1 <<< '[]'
	[ "$status" -eq 69 ]
	# a deleted plan comes back with --if-rev 0, continuing the numbers
	run agq-plan put --if-rev 0 p1 <<< '{"v":2}'
	[ "$status" -eq 0 ] && [ "$output" = 5 ]
	agq-plan put p2 <<< '[]'
	[ "$(agq-plan ls --json | jq -c 'map([.plan, .rev, .deleted])')" = \
	    '[["p1",5,false],["p2",1,false]]' ]
	run agq-plan ls
	[[ "${lines[0]}" == p1*5* ]] && [[ "${lines[1]}" == p2*1* ]]
	agq-journal --verify
}

@test "--if-rev: a stale revision exits 75 and journals a conflict with expected and current" {
	agq-plan put p <<< '{"n":1}'
	agq-plan put p <<< '{"n":2}'
	run agq-plan put --if-rev 1 p <<< '{"n":3}'
	[ "$status" -eq 75 ]
	[[ "$output" == *"stale revision: --if-rev 1, the newest is 2"* ]]
	run agq-plan patch --if-rev 1 p <<< '[{"op":"replace","path":"/n","value":9}]'
	[ "$status" -eq 75 ]
	run agq-plan rm --if-rev 5 p
	[ "$status" -eq 75 ]
	run agq-plan put --if-rev 0 p <<< '{}'
	[ "$status" -eq 75 ]
	[ "$(agq-plan get p | jq -c .)" = '{"n":2}' ]
	[ "$(ls "$AGQ_SPOOL/plans/p" | wc -l)" -eq 2 ]
	[ "$(ev_count conflict p)" = 4 ]
	grep '"ev":"conflict"' "$AGQ_SPOOL/journal" | head -1 |
	    jq -e '.expected == 1 and .current == 2 and .op == "put" and (.by | length > 0)'
	# the right revision goes in
	run agq-plan patch --if-rev 2 p <<< '[{"op":"replace","path":"/n","value":9}]'
	[ "$status" -eq 0 ] && [ "$output" = 3 ]
}

@test "bad input is 65 and changes nothing; absent is 69; AGQ_TASK_ID is recorded" {
	run agq-plan put p <<< '{"a":'
	[ "$status" -eq 65 ] && [[ "$output" == *"standard input: line"* ]]
	run agq-plan put ../etc <<< '{}'
	[ "$status" -eq 65 ] && [[ "$output" == *"bad plan name"* ]]
	run agq-plan get nope
	[ "$status" -eq 69 ]
	run agq-plan get nope --rev 3
	[ "$status" -eq 69 ]
	run agq-plan log nope
	[ "$status" -eq 69 ]
	run agq-plan patch nope <<< '[]'
	[ "$status" -eq 69 ]
	AGQ_TASK_ID=t-1 agq-plan put p <<< '{"a":[1]}'
	jq_is "$AGQ_SPOOL/plans/p/0000000001.json" .by.task t-1
	grep '"ev":"plan_put"' "$AGQ_SPOOL/journal" | jq -e '.task == "t-1"'
	# a patch that does not apply: named, all or nothing
	run agq-plan patch p <<< '[{"op":"add","path":"/b","value":1},{"op":"test","path":"/a/0","value":2}]'
	[ "$status" -eq 65 ]
	[[ "$output" == *"operation 1 (test): path /a/0: test failed"* ]]
	run agq-plan patch p <<< '{"op":"add"}'
	[ "$status" -eq 65 ] && [[ "$output" == *"not a JSON array"* ]]
	run agq-plan patch p <<< '[{"op":"add","path":"/x","value":1,"op":"remove"}]'
	[ "$status" -eq 65 ]
	[ "$(ls "$AGQ_SPOOL/plans/p")" = 0000000001.json ]
	run agq-plan put p --rev 1 <<< '{}'
	[ "$status" -eq 64 ]
}

# writer K N: N read-modify-write increments of member wK of plan c with
# --if-rev, retrying on 75; the number of 75s seen goes to $WORK/cK.  The
# document is read and changed with bash's own matching (no jq: the test
# starts a few hundred of these).
writer() {
	local k=$1 n=0 conflicts=0 rc out rev doc v
	while [ "$n" -lt "$2" ]; do
		out=$(agq-plan get --json c) || return 1
		[[ "$out" =~ \"rev\":([0-9]+) ]] && rev=${BASH_REMATCH[1]}
		doc=${out#*\"doc\":}
		doc=${doc%\}}
		[[ "$doc" =~ \"w$k\":([0-9]+) ]] && v=${BASH_REMATCH[1]}
		doc=${doc/\"w$k\":$v/\"w$k\":$((v + 1))}
		rc=0
		agq-plan put --if-rev "$rev" c <<< "$doc" > /dev/null 2>&1 || rc=$?
		if [ "$rc" -eq 0 ]; then
			n=$((n + 1))
		elif [ "$rc" -eq 75 ]; then
			conflicts=$((conflicts + 1))
		else
			echo "writer $k: exit $rc" >&2
			return 1
		fi
	done
	echo "$conflicts" > "$WORK/c$k"
}

@test "16 writers doing read-modify-write with --if-rev: no lost update, every conflict reported" {
	N=2
	# {"w1":0, ..., "w16":0}
	seq 16 | sed 's/.*/"w&":0/' | paste -sd, | sed 's/.*/{&}/' | agq-plan put c
	pids=()
	for k in $(seq 16); do writer "$k" "$N" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p"; done
	# no lost update: every writer's count, and one revision per write
	doc=$(agq-plan get c)
	for k in $(seq 16); do [ "$(jq ".w$k" <<< "$doc")" -eq "$N" ]; done
	[ "$(agq-plan get --json c | jq .rev)" -eq $((1 + 16 * N)) ]
	[ "$(ev_count plan_put c)" -eq $((1 + 16 * N)) ]
	# every conflict reported: the 75s the writers saw = conflict events
	seen=$(cat "$WORK"/c* | paste -sd+ | bc)
	echo "conflicts seen: $seen"
	[ "$seen" -gt 0 ]
	[ "$(ev_count conflict c)" -eq "$seen" ]
	agq-journal --verify
}

@test "without --if-rev, concurrent patches all go in (each retried on the newest)" {
	agq-plan put l <<< '{"items":[]}'
	for k in $(seq 8); do
		agq-plan patch l <<< "[{\"op\":\"add\",\"path\":\"/items/-\",\"value\":$k}]" > /dev/null &
	done
	wait
	[ "$(agq-plan get l | jq -c '.items | sort')" = '[1,2,3,4,5,6,7,8]' ]
	[ "$(agq-plan get --json l | jq .rev)" -eq 9 ]
	[ "$(ev_count conflict l)" = 0 ]
}

@test "agq-fsck reports a plan revision that does not parse; --fix quarantines it and the plan goes on" {
	agq-plan put p <<< '{"v":1}'
	agq-plan put p <<< '{"v":2}'
	printf '{"rev": 2, "doc": ' > "$AGQ_SPOOL/plans/p/0000000002.json"
	run agq-plan get p
	[ "$status" -eq 74 ]
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"plan: plans/p/0000000002.json: not a JSON object"* ]]
	[[ "$output" == *"1 plans,"* ]]
	run agq-fsck --fix
	[[ "$output" == *"(fixed)"* ]]
	ls "$AGQ_SPOOL"/corrupt/ | grep -q 'plan-p-0000000002.json'
	[ "$(agq-plan get p | jq -c .)" = '{"v":1}' ]
	run agq-plan put --if-rev 1 p <<< '{"v":3}'
	[ "$status" -eq 0 ] && [ "$output" = 2 ]
	run agq-fsck
	[ "$status" -eq 0 ]
}
