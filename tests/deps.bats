#!/usr/bin/env bats
# Task dependencies (issue 19, agq-task(5) "Dependencies"): after and
# on_dep_fail, blocked/, the edge index deps/P/C, agq-sched's release at a
# parent's end, at a task's arrival and at its start, refusals at submit,
# agq-ls --tree, agq-show's after and dependents, agq-fsck's edge checks.

load helper

# ev_of ID EV: the first EV journal event of task ID, compact JSON.
ev_of() { agq-journal --id "$1" --ev "$2" | head -1; }

# reason_of ID: the task's reason, wherever it is.
reason_of() { agq-show --json "$1" | jq -r .task.reason; }

@test "--after: the dependent waits in blocked/ until its parent is done, then runs" {
	p=$(agq-submit -- sh -c "echo p >> '$WORK/order'")
	c=$(agq-submit --after "$p" -- sh -c "echo c >> '$WORK/order'")
	is_state "$c" blocked
	[ "$(jq -c .blocked_on "$AGQ_SPOOL/blocked/$c.json")" = "[\"$p\"]" ]
	[ -e "$AGQ_SPOOL/deps/$p/$c" ]
	[ "$(ev_of "$c" submit | jq -r .state)" = blocked ]
	[ "$(ev_of "$c" blocked | jq -c .after)" = "[\"$p\"]" ]
	run agq-ls --state blocked
	[[ "$output" == *"$c"*"blocked"*"[after $p] sh -c"* ]]
	# the columns line up under the header: LANE starts where "normal" does
	h=${lines[0]%%LANE*} r=${lines[1]%%normal*}
	[ "${#h}" -eq "${#r}" ]
	run agq-wait --timeout 1 -q "$c"
	[ "$status" -eq 75 ]                    # blocked is not an end
	start_sched
	start_agent a1
	run agq-wait --timeout 60 -q "$c"
	[ "$status" -eq 0 ]
	[ "$(tr '\n' ' ' < "$WORK/order")" = "p c " ]
	[ "$(ev_of "$c" release | jq -r '.from + " " + .to + " " + .parent + " " + .decision')" = "blocked queue $p release" ]
	[ ! -e "$AGQ_SPOOL/deps/$p" ]           # the edge and its directory went
	[ "$(jq -r '.blocked_on // "none"' "$AGQ_SPOOL/done/$c.json")" = none ]
}

@test "dependents of a failed parent: cancel (the default), hold and run, the parent named in the reason" {
	p=$(agq-submit --max-attempts 1 -- sh -c 'echo no >&2; exit 3')
	c=$(agq-submit --after "$p" -- true)
	h=$(agq-submit --after "$p" --on-dep-fail hold -- true)
	r=$(echo "{\"cmd\":\"true\",\"after\":[\"$p\"],\"on_dep_fail\":\"run\"}" | agq-submit)
	g=$(agq-submit --after "$c" -- true)    # a grandchild: cancelled in turn
	start_sched
	start_agent a1
	run agq-wait --timeout 60 -q "$c" "$r" "$g"
	[ "$status" -eq 1 ]                     # some dead
	is_state "$c" dead
	[[ "$(reason_of "$c")" == "parent $p ended dead: "* ]]
	[ "$(ev_of "$c" dep_fail | jq -r '.parent + " " + .state + " " + .decision + " " + .to')" = "$p dead cancel dead" ]
	[ "$(agq-show --json "$c" | jq -r .task.dep_failed.id)" = "$p" ]
	is_state "$g" dead
	# (the reasons printed: a failure here was seen once, under load)
	printf 'p: %s\nc: %s\ng: %s\n' "$(reason_of "$p")" "$(reason_of "$c")" "$(reason_of "$g")"
	agq-journal --id "$p"
	[ "$(reason_of "$g")" = "parent $c ended dead: parent $p ended dead: $(reason_of "$p")" ]
	wait_for 20 is_state "$h" hold
	[[ "$(reason_of "$h")" == "held: parent $p ended dead: "* ]]
	[ "$(ev_of "$h" dep_fail | jq -r .decision)" = hold ]
	is_state "$r" done
	[ "$(ev_of "$r" release | jq -r .decision)" = run ]
	[ -z "$(ls "$AGQ_SPOOL/deps")" ]
	# agq-stats counts the two cancelled by their parent's failure
	[ "$(agq-stats --json | jq .events.cancelled)" -eq 2 ]
	# the held one runs once released by a person
	agq-release "$h"
	run agq-wait --timeout 60 -q "$h"
	[ "$status" -eq 0 ]
}

@test "a parent cancelled: its dependent is cancelled, state cancelled; a blocked task can be cancelled itself" {
	p=$(agq-submit -- true)
	c=$(agq-submit --after "$p" -- true)
	x=$(agq-submit --after "$p" -- true)
	agq-cancel "$x"
	is_state "$x" dead
	[ ! -e "$AGQ_SPOOL/deps/$p/$x" ]        # its edge went with it
	[ -e "$AGQ_SPOOL/deps/$p/$c" ]
	agq-fsck                                # nothing stale
	start_sched
	wait_for 20 grep -q '"ev":"sched_up"' "$AGQ_SPOOL/journal"
	agq-cancel -m "not needed" "$p"
	wait_for 20 is_state "$c" dead
	[ "$(reason_of "$c")" = "parent $p ended cancelled: cancelled by $(id -un): not needed" ]
	[ "$(ev_of "$c" dep_fail | jq -r .state)" = cancelled ]
	wait_for 20 test ! -e "$AGQ_SPOOL/deps/$p"
	[ "$(journal_count dep_fail)" -eq 1 ]   # x was not blocked any more
}

@test "a dependent submitted after its parent ended is released or cancelled, never stuck" {
	p=$(agq-submit -- true)
	q=$(agq-submit --max-attempts 1 -- false)
	start_sched
	start_agent a1
	run agq-wait --timeout 60 -q "$p" "$q"
	# the parent already done (or dead) when submit looks: decided there
	c=$(agq-submit --after "$p" -- true)
	[ "$(ev_of "$c" submit | jq -r .state)" = queue ]
	d=$(agq-submit --after "$q" -- true)
	is_state "$d" dead
	[ "$(ev_of "$d" submit | jq -r .state)" = dead ]
	[[ "$(reason_of "$d")" == "parent $q ended dead: "* ]]
	[ "$(ev_of "$d" dep_fail | jq -r .parent)" = "$q" ]
	# the parent ended between submit's look and its rename: what
	# agq-submit leaves then (the edge, the task in blocked/ waiting for
	# a parent that is done by now), made in that order by hand
	for k in e f; do
		par=$p; [ $k = f ] && par=$q
		mkdir -p "$AGQ_SPOOL/deps/$par"
		: > "$AGQ_SPOOL/deps/$par/late-$k"
		echo "{\"id\":\"late-$k\",\"cmd\":\"true\",\"after\":[\"$par\"],\"blocked_on\":[\"$par\"],\"submitted_at\":\"2026-01-01T00:00:00Z\",\"generation\":0,\"attempts\":[]}" > "$AGQ_SPOOL/tmp/late-$k"
		mv "$AGQ_SPOOL/tmp/late-$k" "$AGQ_SPOOL/blocked/late-$k.json"
	done
	run agq-wait --timeout 60 -q "$c" late-e
	[ "$status" -eq 0 ]
	[ "$(ev_of late-e release | jq -r '.parent')" = null ]  # on arrival
	wait_for 20 is_state late-f dead
	[ ! -e "$AGQ_SPOOL/deps/$p" ] && [ ! -e "$AGQ_SPOOL/deps/$q" ]
}

@test "a parent killed mid-run: its dependent stays blocked while the parent is retried, and runs once the parent is done" {
	p=$(agq-submit --max-attempts 2 --backoff 1 -- sh -c "[ -e '$WORK/killed' ] && exit 0; echo \$\$ > '$WORK/p.pid'; exec sleep 60")
	c=$(agq-submit --after "$p" -- sh -c "echo c >> '$WORK/c-runs'")
	start_sched
	start_agent a1
	wait_for 20 test -s "$WORK/p.pid"
	touch "$WORK/killed"
	kill -KILL "$(cat "$WORK/p.pid")"
	# the killed attempt failed; the parent is retried, not ended: the
	# dependent is neither released nor cancelled meanwhile
	wait_for 20 sh -c "agq-journal --id '$p' --ev retry | grep -q ."
	is_state "$c" blocked
	run agq-wait --timeout 60 -q "$c"
	[ "$status" -eq 0 ]
	[ "$(cat "$WORK/c-runs")" = c ]
	[ "$(jq '.attempts | length' "$AGQ_SPOOL/done/$p.json")" -eq 2 ]
	[ "$(journal_count dep_fail)" -eq 0 ]
	[ "$(ev_of "$c" release | jq -r .parent)" = "$p" ]
}

@test "a diamond: the last task runs once both middle ones are done" {
	printf '%s\n' \
	    '{"id":"dia-d","after":["dia-b","dia-c"],"cmd":["sh","-c","echo d >> \"$W\"/order"],"env":{"W":"'"$WORK"'"}}' \
	    '{"id":"dia-b","after":["dia-a"],"cmd":["sh","-c","echo b >> \"$W\"/order"],"env":{"W":"'"$WORK"'"}}' \
	    '{"id":"dia-c","after":["dia-a"],"cmd":["sh","-c","echo c >> \"$W\"/order"],"env":{"W":"'"$WORK"'"}}' \
	    '{"id":"dia-a","cmd":["sh","-c","echo a >> \"$W\"/order"],"env":{"W":"'"$WORK"'"}}' |
	    agq-submit > "$WORK/ids"
	# delivered parents first
	[ "$(tr '\n' ' ' < "$WORK/ids")" = "dia-a dia-b dia-c dia-d " ]
	[ "$(jq -c .blocked_on "$AGQ_SPOOL/blocked/dia-d.json")" = '["dia-b","dia-c"]' ]
	run agq-ls --tree
	[ "$status" -eq 0 ]
	[ "$output" = "dia-a  queue  sh -c echo a >> \"\$W\"/order
|-- dia-b  blocked  [after dia-a] sh -c echo b >> \"\$W\"/order
|   \`-- dia-d  blocked  [after dia-b, dia-c] sh -c echo d >> \"\$W\"/order
\`-- dia-c  blocked  [after dia-a] sh -c echo c >> \"\$W\"/order
    \`-- dia-d  blocked  [after dia-b, dia-c] sh -c echo d >> \"\$W\"/order (see above)" ]
	run agq-show dia-a
	[[ "$output" == *"dependents: "*"dia-b (blocked)"* ]]
	[[ "$output" == *"dia-c (blocked)"* ]]
	run agq-show dia-d
	[[ "$output" == *"after:  dia-b (blocked), dia-c (blocked)"* ]]
	start_sched
	start_agent a1 --slots 2
	run agq-wait --timeout 60 -q dia-d
	[ "$status" -eq 0 ]
	order=$(tr '\n' ' ' < "$WORK/order")
	[ "$order" = "a b c d " ] || [ "$order" = "a c b d " ]
	run agq-show --json dia-d
	[ "$(echo "$output" | jq -c '[.after[].state]')" = '["done","done"]' ]
}

# 200 prove the order and the batch given child first; bench/ (deps) times
# a chain of 10,000.
@test "a chain of 200 in one batch, given child first: run in order" {
	for i in $(seq 199 -1 0); do
		if [ "$i" -gt 0 ]; then
			echo "{\"id\":\"ch$i\",\"after\":[\"ch$((i - 1))\"],\"cmd\":[\"sh\",\"-c\",\"echo $i >> \$W/order\"],\"env\":{\"W\":\"$WORK\"}}"
		else
			echo "{\"id\":\"ch0\",\"cmd\":[\"sh\",\"-c\",\"echo 0 >> \$W/order\"],\"env\":{\"W\":\"$WORK\"}}"
		fi
	done | agq-submit -q
	[ "$(count_in blocked)" -eq 199 ]
	[ "$(count_in queue)" -eq 1 ]
	start_sched
	start_agent a1
	run agq-wait --timeout 600 -q ch199
	[ "$status" -eq 0 ]
	seq 0 199 | cmp - "$WORK/order"
	[ "$(count_in done)" -eq 200 ]
	[ -z "$(ls "$AGQ_SPOOL/deps")" ]
}

@test "a chain of 200 whose root is cancelled: every task cancelled, each naming its parent" {
	for i in $(seq 0 199); do
		if [ "$i" -gt 0 ]; then
			echo "{\"id\":\"k$i\",\"after\":[\"k$((i - 1))\"],\"cmd\":\"true\"}"
		else
			echo '{"id":"k0","cmd":"true"}'
		fi
	done | agq-submit -q
	start_sched
	agq-cancel k0
	wait_for 120 count_is dead 200
	reason=$(reason_of k199)
	[[ "$reason" == "parent k198 ended dead: parent k197 ended dead: "* ]]
	[ "${#reason}" -lt 300 ]                # each quotes 200 bytes at most
	[ "$(reason_of k1)" = "parent k0 ended cancelled: cancelled by $(id -un)" ]
	[ "$(ev_of k150 dep_fail | jq -r .parent)" = k149 ]
	[ "$(journal_count dep_fail)" -eq 199 ]
	[ -z "$(ls "$AGQ_SPOOL/deps")" ]
}

@test "refused at submit, exit 65, the field named: an unknown parent, the task's own id, a cycle in one batch" {
	run agq-submit --after no-such -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"command line: field after: no-such: no such task (not in the spool nor its archive)"* ]]
	run agq-submit --id self --after self -- true
	[ "$status" -eq 65 ]
	[[ "$output" == *"field after: self is the task's own id"* ]]
	run agq-submit --after 'not/an id' -- true
	[ "$status" -eq 64 ]
	run agq-submit <<< '{"cmd":"true","after":["a","a"]}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field after: a given twice"* ]]
	run agq-submit <<< '{"cmd":"true","on_dep_fail":"later"}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field on_dep_fail: must be one of cancel, run, hold"* ]]
	run agq-submit --on-dep-fail later -- true
	[ "$status" -eq 64 ]
	[[ "$output" == *"--on-dep-fail: 'later' is not one of cancel, run, hold"* ]]
	run agq-submit <<'IN'
{"id":"ok1","cmd":"true"}
{"id":"cy-a","cmd":"true","after":["cy-c"]}
{"id":"cy-b","cmd":"true","after":["cy-a"]}
{"id":"cy-c","cmd":"true","after":["cy-b"]}
IN
	[ "$status" -eq 65 ]
	[[ "$output" == *"standard input line 2: field after: a cycle in the batch: cy-a -> cy-c -> cy-b -> cy-a"* ]]
	[[ "$output" == *"nothing submitted"* ]]
	[ "$(agq-ls -q | wc -l)" -eq 0 ]
	# a bad line refuses its dependents too; the rest is submitted
	run agq-submit <<'IN'
{"id":"up","cmd":"true","bogus":1}
{"id":"down","cmd":"true","after":["up"]}
{"id":"fine","cmd":"true","after":["ok0"]}
{"id":"ok0","cmd":"true"}
IN
	[ "$status" -eq 65 ]
	[[ "$output" == *"line 2: field after: up: no such task"* ]]
	[ "$(agq-ls -q | sort | tr '\n' ' ')" = "fine ok0 " ]
	is_state fine blocked
}

@test "a scheduler restart: a parent that ended while agq-sched was down releases its dependent at start" {
	p=$(agq-submit -- sh -c "while [ ! -e '$WORK/go' ]; do sleep 0.1; done")
	c=$(agq-submit --after "$p" -- true)
	start_sched
	start_agent a1
	wait_for 30 is_state "$p" active
	kill -TERM "$SCHED_PID"
	wait "$SCHED_PID" || true
	touch "$WORK/go"
	wait_for 30 is_state "$p" done
	is_state "$c" blocked
	start_sched
	run agq-wait --timeout 60 -q "$c"
	[ "$status" -eq 0 ]
	[ "$(ev_of "$c" release | jq -r .parent)" = null ]
	# and agq-sched --once does the same, down a chain
	a=$(agq-submit --delay 1h -- true)     # not run by a1 meanwhile
	b=$(agq-submit --after "$a" -- true)
	d=$(agq-submit --after "$b" -- true)
	kill -TERM "$SCHED_PID"
	wait "$SCHED_PID" || true
	agq-cancel "$a"
	agq-sched --once
	is_state "$b" dead
	is_state "$d" dead
}

@test "an inbox drop with after is decided as agq-submit decides it" {
	p=$(agq-submit -- true)
	echo "{\"id\":\"drop1\",\"cmd\":\"true\",\"after\":[\"$p\"]}" > "$AGQ_SPOOL/tmp/d1"
	mv "$AGQ_SPOOL/tmp/d1" "$AGQ_SPOOL/inbox/d1"
	echo '{"id":"drop2","cmd":"true","after":["nowhere"]}' > "$AGQ_SPOOL/tmp/d2"
	mv "$AGQ_SPOOL/tmp/d2" "$AGQ_SPOOL/inbox/d2"
	agq-sched --once
	is_state drop1 blocked
	[ -e "$AGQ_SPOOL/deps/$p/drop1" ]
	[ "$(ev_of drop1 accept | jq -c .after)" = "[\"$p\"]" ]
	grep -q "field after: nowhere: no such task" "$AGQ_SPOOL"/corrupt/d2*.why
}

@test "agq-fsck: a blocked task's missing edge and a stale edge, repaired with --fix" {
	p=$(agq-submit -- true)
	c=$(agq-submit --after "$p" -- true)
	run agq-fsck
	[ "$status" -eq 0 ]
	rm "$AGQ_SPOOL/deps/$p/$c"
	mkdir -p "$AGQ_SPOOL/deps/$p" "$AGQ_SPOOL/deps/gone"
	: > "$AGQ_SPOOL/deps/gone/$c"
	: > "$AGQ_SPOOL/deps/$p/$p"
	run agq-fsck
	[ "$status" -eq 1 ]
	[[ "$output" == *"edge: deps/$p/$c: missing: blocked task $c waits for $p"* ]]
	[[ "$output" == *"edge: deps/gone/$c: stale: $c is not a blocked task after gone"* ]]
	[[ "$output" == *"edge: deps/$p/$p: stale"* ]]
	[[ "$output" == *"3 edges"* ]]
	run agq-fsck --fix
	[[ "$output" == *"3 fixed"* ]]
	run agq-fsck
	[ "$status" -eq 0 ]
	[ -e "$AGQ_SPOOL/deps/$p/$c" ] && [ ! -e "$AGQ_SPOOL/deps/gone" ]
}

@test "agq-edit: after cannot change; a blocked task is not edited; agq-status counts blocked" {
	p=$(agq-submit -- true)
	q=$(agq-submit -- true)
	c=$(agq-submit --after "$p" -- true)
	# the editor: sets after to [$p] (jq, the file rewritten in place)
	printf '#!/bin/sh\njq --arg p "%s" ".after = [\\$p]" "$1" > "$1.new" && mv "$1.new" "$1"\n' "$p" > "$WORK/ed"
	chmod +x "$WORK/ed"
	TMPDIR=$WORK EDITOR="$WORK/ed" run agq-edit "$c"
	[ "$status" -ne 0 ]
	[[ "$output" == *"cannot edit a task in blocked/"* ]]
	echo '{"id":"lat","cmd":"true"}' | agq-submit -q
	TMPDIR=$WORK EDITOR="$WORK/ed" run agq-edit lat
	[ "$status" -eq 65 ]
	[[ "$output" == *"field after: fixed once the task is submitted"* ]]
	is_state lat queue
	run agq-status
	[[ "$output" == *"blocked       1"* ]]
}

@test "agq-retry of a task its parent's failure cancelled: refused while the parent is dead; back to blocked/ with its edge when the parent is retried first; to the queue when the parent is done" {
	p=$(agq-submit -- true)
	agq-cancel -q "$p"
	c=$(agq-submit --after "$p" -- true)
	x=$(agq-submit --after "$p" -- true)
	is_state "$c" dead
	[ "$(agq-show --json "$c" | jq -r .task.dep_failed.id)" = "$p" ]
	# the parent still dead: refused, the task left where it is
	run agq-retry "$c"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$c: cannot retry it: parent $p ended cancelled: cancelled by "*"(retry the parent first: agq-retry $p $c)"* ]]
	is_state "$c" dead
	# the parent retried first: the dependent waits for it again
	run agq-retry "$p" "$c"
	[ "$status" -eq 0 ]
	is_state "$p" queue
	is_state "$c" blocked
	[ "$(jq -c .blocked_on "$AGQ_SPOOL/blocked/$c.json")" = "[\"$p\"]" ]
	[ "$(jq -r '.dep_failed // "none"' "$AGQ_SPOOL/blocked/$c.json")" = none ]
	[ -e "$AGQ_SPOOL/deps/$p/$c" ]
	[ "$(agq-journal --id "$c" --ev retry | jq -c '[.from, .to, .blocked_on]')" = "[\"dead\",\"blocked\",[\"$p\"]]" ]
	agq-fsck
	start_sched
	start_agent a1
	run agq-wait --timeout 60 -q "$p" "$c"
	[ "$status" -eq 0 ]
	# the parent done now: the other dependent goes straight to the queue
	run agq-retry "$x"
	[ "$status" -eq 0 ]
	[ "$(agq-journal --id "$x" --ev retry | jq -r .to)" = queue ]
	run agq-wait --timeout 60 -q "$x"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.dep_failed // "none"' "$AGQ_SPOOL/done/$x.json")" = none ]
}
