#!/usr/bin/env bats
# agq-edit (a queued or held task's JSON in $EDITOR, validated, replaced by
# compare-and-swap) and agq-prio (another lane).  The editor is a script
# (sed -i): no test runs an interactive editor.

load helper

ev_count() {  # ev_count ID EV
	agq-journal --id "$1" --ev "$2" | wc -l
}

@test "agq-edit: the editor's change replaces the queued task; an edit event names the fields" {
	id=$(agq-submit --title before -- echo hi)
	TMPDIR=$WORK EDITOR="sed -i -e s/before/after/ -e s/\\\"normal\\\"/\\\"high\\\"/" run agq-edit "$id"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	# a changed priority moves the task to its lane
	is_state "$id" queue
	f="$AGQ_SPOOL/queue/high/$id.json"
	[ -f "$f" ]
	[ ! -e "$AGQ_SPOOL/queue/normal/$id.json" ]
	[ "$(jq -r .title "$f")" = after ]
	[ "$(jq -r .generation "$f")" = 0 ]
	[ "$(ev_count "$id" edit)" -eq 1 ]
	[ "$(agq-journal --id "$id" --ev edit | jq -c .fields)" = '["priority","title"]' ]
	[ "$(agq-journal --id "$id" --ev edit | jq -r .by)" != null ]
	# the claim follows the new file: the id is still taken
	run agq-submit --id "$id" -- true
	[ "$(count_in queue)" -eq 1 ]
	# no temporary file is left behind
	[ -z "$(ls "$WORK" )" ]
}

@test "agq-edit runs \$VISUAL before \$EDITOR, with arguments; a held task stays held" {
	id=$(agq-submit --title t -- true)
	agq-hold -q "$id"
	VISUAL="sed -i s/\\\"t\\\"/\\\"v\\\"/" EDITOR="false" run agq-edit -q "$id"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	is_state "$id" hold
	[ "$(jq -r .title "$AGQ_SPOOL/hold/$id.json")" = v ]
	[ "$(agq-journal --id "$id" --ev edit | jq -r '"\(.from)>\(.to)"')" = "hold>hold" ]
}

@test "agq-edit refuses a change to a field the spool owns: exit 65, the task unchanged, the edit kept and named" {
	id=$(agq-submit -- true)
	before=$(cat "$AGQ_SPOOL/queue/normal/$id.json")
	for f in generation submitted_at attempts id; do
		case $f in
		generation) e='s/"generation": 0/"generation": 7/' ;;
		submitted_at) e='s/"submitted_at": "2/"submitted_at": "1/' ;;
		attempts) e='s/"attempts": \[\]/"attempts": [{}]/' ;;
		id) e="s/\"$id\"/\"other\"/" ;;
		esac
		TMPDIR=$WORK EDITOR="sed -i '$e'" run agq-edit "$id" </dev/null
		echo "$f: $status $output"
		[ "$status" -eq 65 ]
		[[ "$output" == *"field $f: owned by the spool"* ]]
		kept=$(ls "$WORK"/agq-edit-*)
		[[ "$output" == *"$kept"* ]]
		rm -f "$kept"
	done
	[ "$(cat "$AGQ_SPOOL/queue/normal/$id.json")" = "$before" ]
	[ "$(ev_count "$id" edit)" -eq 0 ]
}

@test "agq-edit refuses to set or change what agq writes for review and merge: exit 65, the field named" {
	# a coder task back in the queue for its second review round, as the
	# scheduler leaves it (taken from a spool: submitted_at set)
	git init -q --bare "$WORK/origin.git"
	id=$(jq -n --arg repo "$WORK/origin.git" '{title: "coder", cmd: "true", submitted_at: (now | todate),
	    git: {repo: $repo}, review: {}, round: 2,
	    pr: "pr-0123456789abcdef", head: "0123456789abcdef0123456789abcdef01234567",
	    review_feedback: "r1 said: no", avoid_agent: "a9"}' | agq-submit)
	before=$(cat "$AGQ_SPOOL/queue/normal/$id.json")
	printf '#!/bin/sh\njq "$JQ" "$1" > "$1.new" && mv "$1.new" "$1"\n' > "$WORK/ed"
	chmod +x "$WORK/ed"
	local f e
	for e in 'kind=.kind = "review"' 'parent=.parent = "p1"' 'round=.round = 1' \
	    'pr=.pr = "pr-fedcba9876543210"' 'head=.head = "f" * 40' \
	    'avoid_agent=del(.avoid_agent)' 'review_feedback=.review_feedback = "all fine"' \
	    'update_from_base=.update_from_base = true' 'approved=.approved = ["merge"]' \
	    'approval_for=.approval_for = "merge"' \
	    'verdict=.verdict = {verdict: "approve", comments: [], head: .head}'; do
		f=${e%%=*}
		JQ=${e#*=} TMPDIR=$WORK EDITOR="$WORK/ed" run agq-edit "$id" </dev/null
		echo "$f: $status $output"
		[ "$status" -eq 65 ]
		[[ "$output" == *"field $f: owned by the spool"* ]]
		rm -f "$WORK"/agq-edit-*
	done
	[ "$(cat "$AGQ_SPOOL/queue/normal/$id.json")" = "$before" ]
	# the task's own fields still may change
	JQ='.title = "coder, renamed"' TMPDIR=$WORK EDITOR="$WORK/ed" agq-edit "$id" </dev/null
	jq_is "$AGQ_SPOOL/queue/normal/$id.json" .title "coder, renamed"
	jq_is "$AGQ_SPOOL/queue/normal/$id.json" .round 2
}

@test "agq-edit validates as agq-submit does: the error names the field" {
	id=$(agq-submit -- true)
	TMPDIR=$WORK EDITOR="sed -i 's/\"max_attempts\": 3/\"max_attempts\": \"x\"/'" run agq-edit "$id" </dev/null
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"field max_attempts"* ]]
	TMPDIR=$WORK EDITOR="sh -c 'echo \"{\" > \"\$1\"' sh" run agq-edit "$id" </dev/null
	[ "$status" -eq 65 ]
	[ "$(jq -r .max_attempts "$AGQ_SPOOL/queue/normal/$id.json")" = 3 ]
}

@test "agq-edit: a task changed while the editor ran is not replaced (compare-and-swap): exit 75" {
	id=$(agq-submit --title one -- true)
	cat > "$WORK/ed" <<ED
#!/bin/sh
agq-prio -q "$id" low
sed -i s/one/two/ "\$1"
ED
	chmod +x "$WORK/ed"
	TMPDIR=$WORK EDITOR="$WORK/ed" run agq-edit "$id"
	echo "$output"
	[ "$status" -eq 75 ]
	[[ "$output" == *"task changed while you edited"* ]]
	f="$AGQ_SPOOL/queue/low/$id.json"
	[ "$(jq -r .title "$f")" = one ]
	[ "$(ev_count "$id" edit)" -eq 0 ]
	# a task moved to another state meanwhile likewise
	cat > "$WORK/ed" <<ED
#!/bin/sh
agq-cancel -q "$id"
sed -i s/one/two/ "\$1"
ED
	TMPDIR=$WORK EDITOR="$WORK/ed" run agq-edit "$id"
	[ "$status" -eq 75 ]
	[[ "$output" == *"now in dead/"* ]]
	[ "$(jq -r .title "$AGQ_SPOOL/dead/$id.json")" = one ]
}

@test "agq-edit: no change is no event; a dead task cannot be edited; unknown ids exit 66" {
	id=$(agq-submit -- true)
	EDITOR=true run agq-edit "$id"
	[ "$status" -eq 0 ]
	[ "$(ev_count "$id" edit)" -eq 0 ]
	EDITOR=false run agq-edit "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"the editor exited 1"* ]]
	agq-cancel -q "$id"
	EDITOR=true run agq-edit "$id"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot edit a task in dead/"* ]]
	run agq-edit no-such-task
	[ "$status" -eq 66 ]
}

@test "agq-prio moves a queued task to another lane, journaled; a held one keeps its place and is released into it" {
	id=$(agq-submit -- true)
	run agq-prio "$id" urgent
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	f="$AGQ_SPOOL/queue/urgent/$id.json"
	[ -f "$f" ]
	[ "$(jq -r .priority "$f")" = urgent ]
	[ "$(agq-journal --id "$id" --ev prio | jq -r '"\(.was)>\(.lane)"')" = "normal>urgent" ]
	# the same lane again: nothing to do, no event
	agq-prio -q "$id" urgent
	[ "$(ev_count "$id" prio)" -eq 1 ]
	agq-hold -q "$id"
	agq-prio -q "$id" low
	is_state "$id" hold
	[ "$(jq -r .priority "$AGQ_SPOOL/hold/$id.json")" = low ]
	agq-release -q "$id"
	[ -f "$AGQ_SPOOL/queue/low/$id.json" ]
	[ "$(ev_count "$id" prio)" -eq 2 ]
}

@test "agq-prio: a bad lane is a usage error, a dead task exit 1, an unknown one 66" {
	id=$(agq-submit -- true)
	run agq-prio "$id" fast
	[ "$status" -eq 64 ]
	[[ "$output" == *"not a lane"* ]]
	run agq-prio "$id"
	[ "$status" -eq 64 ]
	agq-cancel -q "$id"
	run agq-prio "$id" high
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot move a task in dead/ to another lane"* ]]
	run agq-prio nope high
	[ "$status" -eq 66 ]
}
