#!/bin/sh
# bench/pipeline.sh - the git(1) side of bench/run's pipeline scenario:
# what a shell script does for each of N one-line edits of ORIGIN, PAR at
# a time, with git(1): fetch into one clone kept for the origin, add a
# worktree on a new branch from origin/main, edit, commit, push the
# branch, write a PR record (a JSON file), remove the worktree.  The clone
# is made first, as agq makes its own on the first task.  The fetch and
# the worktree's add and removal hold a lock on the clone (flock(1)), as
# two git(1) processes cannot update one repository's refs at once.
#
#     bench/pipeline.sh ORIGIN DIR N PAR
set -eu
[ $# -eq 4 ] || { echo "usage: bench/pipeline.sh ORIGIN DIR N PAR" >&2; exit 64; }
ORIGIN=$1 DIR=$2 N=$3 PAR=$4
export ORIGIN DIR
mkdir -p "$DIR/trees" "$DIR/prs"
git clone -q --no-checkout "$ORIGIN" "$DIR/clone"
seq -f %03g 0 $((N - 1)) | xargs -P "$PAR" -I{} sh -eu -c '
i=$1 br=script/edit-$1 wt=$DIR/trees/$1
flock "$DIR/lock" sh -eu -c "git -C \"\$DIR/clone\" fetch -q origin &&
    git -C \"\$DIR/clone\" worktree add -q -b $br \"$wt\" origin/main"
echo "edit $i" >> "$wt/f$i.txt"
git -C "$wt" add -A
git -C "$wt" commit -qm "edit $i"
git -C "$wt" push -q origin "$br"
printf "{\"task\": \"%s\", \"branch\": \"%s\", \"head\": \"%s\"}\n" "$i" "$br" \
    "$(git -C "$wt" rev-parse HEAD)" > "$DIR/prs/$i.json"
flock "$DIR/lock" git -C "$DIR/clone" worktree remove "$wt"
' _ {}
