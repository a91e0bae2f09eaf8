#!/usr/bin/env bats
# One PR per mission (issue 19, agq-mission(1) "One PR per mission"): the
# git tasks of a mission made with --pr mission commit on one branch
# mission/ID-SLUG, pushed as a compare-and-swap (a push refused because
# another task moved the branch: its commits replayed on the new tip, never
# forced), no PR per task, and one PR record opened when the mission is
# done, also after a crash between the last push and the PR.  No daemon:
# agq-sched --once and agq-run --once.

load helper

origin() {
	mkdir -p "$WORK/src"
	echo base > "$WORK/src/base.txt"
	git_origin
}

# cycle_until COMMAND...: rounds of agq-sched --once and agq-run --once
# (ARGS in $RUNARGS) until COMMAND succeeds, at most 10.
cycle_until() {
	local i
	for ((i = 0; i < 10; i++)); do
		"$@" && return 0
		agq-sched --once >/dev/null 2>&1
		agq-run --agent a1 ${RUNARGS:-} --once >/dev/null 2>&1
	done
	"$@"
}

both_done() { is_state "$1" done && is_state "$2" done; }

@test "two dependent tasks of a --pr mission mission: one branch, two commits in order, one PR record naming both, none per task" {
	origin
	cd "$WORK"
	local m t1 t2 br prid
	m=$(agq-mission new "Add two files" --pr mission --accept "both files")
	jq_is "$AGQ_SPOOL/missions/$m.json" .pr_unit mission
	t1=$(agq-submit --mission "$m" --title one --git origin.git -- sh -c 'echo 1 > one.txt')
	t2=$(agq-submit --mission "$m" --title two --after "$t1" --git origin.git -- sh -c 'test -f one.txt && echo 2 > two.txt')
	cycle_until both_done "$t1" "$t2"
	br="mission/$m-add-two-files"
	[ "$(git -C origin.git log --reverse --format=%s "main..$br" | tr '\n' ' ')" = "one two " ]
	[ "$(git -C origin.git show "$br:two.txt")" = 2 ]
	# no branch, PR record or pr_open per task
	[ "$(git -C origin.git branch --list 'a1/*')" = "" ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 1 ]
	[ "$(journal_count pr_open)" -eq 1 ]
	prid=$(grep '"ev":"pr_open"' "$AGQ_SPOOL/journal" | jq -r .pr)
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" '.branch + " " + .title + " " + .mission + " " + .head' \
	    "$br Add two files $m $(git -C origin.git rev-parse "$br")"
	jq_is "$AGQ_SPOOL/prs/open/$prid.json" '[.tasks[].id] | join(" ")' "$t1 $t2"
	jq_is "$AGQ_SPOOL/missions/$m.json" .pr "$prid"
	grep '"ev":"pr_open"' "$AGQ_SPOOL/journal" | jq -e --arg m "$m" '.mission == $m and .branch == "'"$br"'"'
	# the push events name the mission and its branch
	[ "$(grep '"ev":"push"' "$AGQ_SPOOL/journal" | jq -r '.mission + " " + .branch' | sort -u)" = "$m $br" ]
	jq_is "$AGQ_SPOOL/done/$t1.json" .attempts[-1].git.branch "$br"
	run agq-mission show "$m" --json
	[ "$(echo "$output" | jq -r .pr)" = "$prid" ]
	[ "$(journal_count pr_open)" -eq 1 ]
}

@test "two independent tasks of a --pr mission mission racing on its branch: both commits there, the first push kept (no force), one PR" {
	origin
	cd "$WORK"
	local m a b br first
	m=$(agq-mission new "Race" --pr mission)
	# each waits until both have started: both worktrees start from main,
	# so one push is refused and replayed on the other's commit
	a=$(agq-submit --mission "$m" --title a --git origin.git -- sh -c \
	    "echo a > a.txt; touch '$WORK/go-a'; while [ ! -e '$WORK/go-b' ]; do sleep 0.01; done")
	b=$(agq-submit --mission "$m" --title b --git origin.git -- sh -c \
	    "echo b > b.txt; touch '$WORK/go-b'; while [ ! -e '$WORK/go-a' ]; do sleep 0.01; done")
	RUNARGS="--slots 2" cycle_until both_done "$a" "$b"
	br="mission/$m-race"
	[ "$(git -C origin.git show "$br:a.txt")" = a ]
	[ "$(git -C origin.git show "$br:b.txt")" = b ]
	[ "$(git -C origin.git rev-list --count "main..$br")" -eq 2 ]
	# the first push's commit is under the tip: nothing was overwritten
	first=$(grep '"ev":"push"' "$AGQ_SPOOL/journal" | head -1 | jq -r .sha)
	git -C origin.git merge-base --is-ancestor "$first" "$br"
	# the second was refused and replayed: it pushed another commit than
	# the one its task made
	local last lid
	last=$(grep '"ev":"push"' "$AGQ_SPOOL/journal" | tail -1)
	lid=$(echo "$last" | jq -r .id)
	[ "$(echo "$last" | jq -r .sha)" = "$(git -C origin.git rev-parse "$br")" ]
	[ "$(echo "$last" | jq -r .sha)" != "$(grep '"ev":"commit"' "$AGQ_SPOOL/journal" | jq -r --arg i "$lid" 'select(.id == $i) | .sha')" ]
	[ "$(journal_count pr_open)" -eq 1 ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 1 ]
}

@test "a crash between a mission's last push and its PR: the next agq-run's start opens it, once; agq-mission show then opens none" {
	origin
	cd "$WORK"
	local m t
	m=$(agq-mission new "Crash" --pr mission)
	t=$(agq-submit --mission "$m" --title one --git origin.git -- sh -c 'echo 1 > one.txt')
	AGQ_MISSION_PR_CRASH=before-pr cycle_until is_state "$t" done
	git -C origin.git rev-parse --verify -q "mission/$m-crash"
	[ "$(journal_count pr_open)" -eq 0 ]
	jq_is "$AGQ_SPOOL/missions/$m.json" .pr null
	agq-run --agent a1 --once >/dev/null 2>&1
	[ "$(journal_count pr_open)" -eq 1 ]
	jq_is "$AGQ_SPOOL/missions/$m.json" '.pr | startswith("pr-")' true
	agq-mission show "$m" >/dev/null
	run agq-mission pr "$m"
	[ "$status" -eq 0 ]
	[ "$(journal_count pr_open)" -eq 1 ]
	[ "$(ls "$AGQ_SPOOL/prs/open" | wc -l)" -eq 1 ]
}

@test "a task with review or merge is refused in a --pr mission mission (it has no PR of its own)" {
	local m
	m=$(agq-mission new "One PR" --pr mission)
	run agq-submit <<<'{"cmd": "true", "mission": "'"$m"'", "git": {"repo": "'"$WORK"'"}, "merge": "on-approval"}'
	[ "$status" -eq 65 ]
	[[ "$output" == *"field merge: mission $m has one PR per mission"* ]]
}

@test "agq-mission new --pr takes mission or task only" {
	run agq-mission new x --pr both
	[ "$status" -eq 64 ]
	run agq-mission new x --pr task
	[ "$status" -eq 0 ]
	jq_is "$AGQ_SPOOL/missions/$output.json" .pr_unit task
}
