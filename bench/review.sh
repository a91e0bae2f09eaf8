#!/bin/sh
# bench/review.sh - the git(1) side of bench/run's review scenario: what a
# shell script does for each of N one-line edits of ORIGIN, from the change
# to its merge into main, PAR at a time: a worktree on a new branch from
# origin/main, the edit, commit, push the branch; the reviewer (CHECK, a
# sh -c command with $i the edit's number) run in a worktree detached at
# the pushed head; then the branch merged into origin/main with a merge
# commit (git merge --no-ff, agq's merge_method "merge") and main pushed.
# A push of main refused because another job moved main first is met the
# way a script would: fetch, merge again, push again (at most 50 tries).
# One clone is kept for the origin; its fetches and worktree adds and
# removals hold a lock on it (flock(1)), as two git(1) processes cannot
# update one repository's refs at once.  The pushes name the origin by
# its path, so they update no remote-tracking ref of the clone (a push to
# "origin" does, and collided with another job's fetch).  After each
# merge the time is written to DIR/merged/NNN (date +%s.%N), for
# bench/run's per-PR latency.
# Nothing here syncs: git(1)'s default core.fsync (committed,-loose-object)
# hardens packs only, and pushes this small arrive as loose objects.
#
#     bench/review.sh ORIGIN DIR N PAR CHECK
set -eu
[ $# -eq 5 ] || { echo "usage: bench/review.sh ORIGIN DIR N PAR CHECK" >&2; exit 64; }
ORIGIN=$1 DIR=$2 N=$3 PAR=$4 CHECK=$5
export ORIGIN DIR CHECK
mkdir -p "$DIR/trees" "$DIR/merged"
git clone -q --no-checkout "$ORIGIN" "$DIR/clone"
seq -f %03g 0 $((N - 1)) | xargs -P "$PAR" -I{} sh -eu -c '
i=$1 br=script/edit-$1 wt=$DIR/trees/$1 rv=$DIR/trees/$1-review c=$DIR/clone
flock "$DIR/lock" sh -eu -c "git -C $c fetch -q origin &&
    git -C $c worktree add -q -b $br $wt origin/main"
echo "edit $i" >> "$wt/f$i.txt"
git -C "$wt" add -A
git -C "$wt" commit -qm "edit $i"
git -C "$wt" push -q "$ORIGIN" "$br"
head=$(git -C "$wt" rev-parse HEAD)
flock "$DIR/lock" git -C "$c" worktree add -q --detach "$rv" "$head"
(cd "$rv" && i=$i sh -c "$CHECK")
flock "$DIR/lock" git -C "$c" worktree remove "$rv"
n=0
until flock "$DIR/lock" git -C "$c" fetch -q origin main &&
    git -C "$wt" checkout -q --detach origin/main &&
    git -C "$wt" merge -q --no-ff -m "Merge $br" "$br" &&
    git -C "$wt" push -q "$ORIGIN" HEAD:main 2>/dev/null; do
	n=$((n + 1))
	[ "$n" -lt 50 ] || { echo "review.sh: $i: main not pushed in 50 tries" >&2; exit 1; }
done
date +%s.%N > "$DIR/merged/$i"
flock "$DIR/lock" git -C "$c" worktree remove "$wt"
' _ {}
