#!/usr/bin/env bats
# agq-sync: the status block between the markers, dry-run diffs, the
# governance gate, atomic commits, git commits and the lock.

load helper
bats_require_minimum_version 1.5.0

B='<!-- agq:status:begin -->'
E='<!-- agq:status:end -->'

# doc FILE: a markdown file with text around the markers.
doc() {
	mkdir -p "$(dirname "$1")"
	printf '# Project\n\nIntro | kept.\n\n%s\nstale status\n%s\n\nTail.\n' "$B" "$E" > "$1"
}

allow() { echo "sync_allow = $*" >> "$AGQ_CONF"; }

@test "agq-sync: the dry run prints a unified diff, writes nothing, journals a sync event" {
	doc "$WORK/STATUS.md"
	cp "$WORK/STATUS.md" "$WORK/orig"
	agq-submit -q -p high -- true
	agq-submit -q -- true
	run --separate-stderr agq-sync "$WORK/STATUS.md"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" | grep -qx -- "--- a/${WORK#/}/STATUS.md"
	printf '%s\n' "$output" | grep -qx -- "+++ b/${WORK#/}/STATUS.md"
	printf '%s\n' "$output" | grep -qx -- '-stale status'
	printf '%s\n' "$output" | grep -qx -- '+| queue | 2 (urgent 0, high 1, normal 1, low 0) |'
	printf '%s\n' "$output" | grep -q '^@@ '
	cmp "$WORK/STATUS.md" "$WORK/orig"
	[ "$(journal_count sync)" -eq 1 ]
	grep '"ev":"sync"' "$AGQ_SPOOL/journal" | jq -e '.mode == "dry-run" and .targets[0].changed == true'
}

@test "agq-sync: missing, duplicated or misordered markers exit 1 with a clear message" {
	printf '# no markers\n' > "$WORK/none.md"
	run --separate-stderr agq-sync "$WORK/none.md"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"none.md: no begin marker"* ]]
	printf '%s\n' "$B" > "$WORK/noend.md"
	run --separate-stderr agq-sync "$WORK/noend.md"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"no end marker"* ]]
	printf '%s\nx\n%s\n%s\n' "$B" "$E" "$B" > "$WORK/dup.md"
	cp "$WORK/dup.md" "$WORK/dup.orig"
	allow "$WORK/*.md"
	run --separate-stderr agq-sync --commit "$WORK/dup.md"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"2 begin markers"* ]]
	cmp "$WORK/dup.md" "$WORK/dup.orig"
	printf '%s\n%s\n' "$E" "$B" > "$WORK/order.md"
	run --separate-stderr agq-sync "$WORK/order.md"
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"end marker comes before the begin marker"* ]]
	[ "$(journal_count sync)" -eq 4 ]
}

@test "agq-sync --commit refuses a target outside sync_allow and leaves it alone" {
	doc "$WORK/docs/STATUS.md"
	doc "$WORK/other/STATUS.md"
	cp "$WORK/other/STATUS.md" "$WORK/orig"
	run --separate-stderr agq-sync --commit "$WORK/other/STATUS.md"
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"refusing $WORK/other/STATUS.md: not an allowed target"* ]]
	allow "$WORK/docs/*.md"
	run --separate-stderr agq-sync --commit "$WORK/other/STATUS.md"
	[ "$status" -eq 77 ]
	cmp "$WORK/other/STATUS.md" "$WORK/orig"
	# a symlink into the allowed directory does not get around it
	ln -s "$WORK/other/STATUS.md" "$WORK/docs/link.md"
	run --separate-stderr agq-sync --commit "$WORK/docs/link.md"
	[ "$status" -eq 77 ]
	cmp "$WORK/other/STATUS.md" "$WORK/orig"
	run --separate-stderr agq-sync --commit "$WORK/docs/STATUS.md"
	[ "$status" -eq 0 ]
	grep -qx '| queue | 0 (urgent 0, high 0, normal 0, low 0) |' "$WORK/docs/STATUS.md"
	grep '"ev":"sync"' "$AGQ_SPOOL/journal" | head -1 | jq -e '.targets[0].error | test("not an allowed target")'
	# a bad setting is a configuration error
	echo "sync_require_clean = maybe" >> "$AGQ_CONF"
	run agq-sync --commit "$WORK/docs/STATUS.md"
	[ "$status" -eq 78 ]
}

@test "agq-sync --commit writes only inside the markers, is quiet and idempotent" {
	doc "$WORK/STATUS.md"
	allow "$WORK/*.md"
	agq-submit -q -- true
	run --separate-stderr agq-sync --commit "$WORK/STATUS.md"
	[ "$status" -eq 0 ]
	[ "$output" = "updated $WORK/STATUS.md" ]
	# outside the markers, byte for byte
	[ "$(sed -n "1,/$B/p" "$WORK/STATUS.md")" = "$(printf '# Project\n\nIntro | kept.\n\n%s' "$B")" ]
	[ "$(sed -n "/$E/,\$p" "$WORK/STATUS.md")" = "$(printf '%s\n\nTail.' "$E")" ]
	grep -qx '| queue | 1 (urgent 0, high 0, normal 1, low 0) |' "$WORK/STATUS.md"
	! grep -q 'stale status' "$WORK/STATUS.md"
	ino=$(stat -c %i "$WORK/STATUS.md")
	touch -d '2001-01-01' "$WORK/STATUS.md"
	run --separate-stderr agq-sync --commit "$WORK/STATUS.md"
	[ "$status" -eq 0 ]
	[ -z "$output" ] && [ -z "$stderr" ]
	[ "$(stat -c %i "$WORK/STATUS.md")" = "$ino" ]
	[ "$(stat -c %Y "$WORK/STATUS.md")" = "$(date -d 2001-01-01 +%s)" ]
	run --separate-stderr agq-sync --commit -v "$WORK/STATUS.md"
	[[ "$stderr" == *"unchanged"* ]]
	# the dry run of an unchanged target prints no diff
	run --separate-stderr agq-sync "$WORK/STATUS.md"
	[ "$status" -eq 0 ] && [ -z "$output" ]
	# a change in the spool changes the block
	agq-submit -q -p urgent -- true
	run --separate-stderr agq-sync --commit "$WORK/STATUS.md"
	[ "$output" = "updated $WORK/STATUS.md" ]
	grep -qx '| queue | 2 (urgent 1, high 0, normal 1, low 0) |' "$WORK/STATUS.md"
	[ "$(journal_count sync)" -eq 5 ]
}

@test "agq-sync: a crash between the temporary file and the rename leaves the old file whole" {
	doc "$WORK/STATUS.md"
	cp "$WORK/STATUS.md" "$WORK/orig"
	allow "$WORK/*.md"
	agq-submit -q -- true
	run env AGQ_SYNC_CRASH=before-rename agq-sync --commit "$WORK/STATUS.md"
	[ "$status" -eq 137 ]
	cmp "$WORK/STATUS.md" "$WORK/orig"
	# the fsynced temporary file is what a crash leaves behind
	ls -a "$WORK" | grep -q '^\.STATUS\.md\.agq-sync\.'
	run agq-sync --commit "$WORK/STATUS.md"
	[ "$status" -eq 0 ]
	grep -qx '| queue | 1 (urgent 0, high 0, normal 1, low 0) |' "$WORK/STATUS.md"
	! ls -a "$WORK" | grep -q '^\.STATUS\.md\.agq-sync\.'
}

@test "agq-sync --git-commit commits only the target in a temp repo; sync_require_clean refuses a dirty tree" {
	repo="$WORK/repo"
	mkdir -p "$repo"
	git -C "$repo" init -q
	git -C "$repo" config user.name "Test Op"
	git -C "$repo" config user.email "op@example.invalid"
	doc "$repo/STATUS.md"
	echo one > "$repo/other.txt"
	git -C "$repo" add STATUS.md other.txt
	git -C "$repo" commit -q -m init
	allow "$repo/STATUS.md"
	echo "sync_require_clean = yes" >> "$AGQ_CONF"
	agq-submit -q -- true
	echo two > "$repo/other.txt"
	run --separate-stderr agq-sync --commit --git-commit "$repo/STATUS.md"
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"not clean (other.txt has changes)"* ]]
	grep -q 'stale status' "$repo/STATUS.md"
	git -C "$repo" checkout -q other.txt
	# an untracked file does not count as a change and stays out of the commit
	echo new > "$repo/untracked.txt"
	run --separate-stderr agq-sync --commit --git-commit "$repo/STATUS.md"
	[ "$status" -eq 0 ]
	[[ "$output" == *"committed $repo/STATUS.md as "* ]]
	[ "$(git -C "$repo" log --format=%s -1)" = "agq-sync: queue 1, active 0, done 0, dead 0, agents 0 of 0" ]
	[ "$(git -C "$repo" log --format='%an <%ae>' -1)" = "Test Op <op@example.invalid>" ]
	[ "$(git -C "$repo" rev-list --count HEAD)" -eq 2 ]
	[ "$(git -C "$repo" show --name-only --format= HEAD)" = STATUS.md ]
	[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ]
	git -C "$repo" show HEAD:STATUS.md | grep -qx '| queue | 1 (urgent 0, high 0, normal 1, low 0) |'
	# nothing changed: no new commit
	run agq-sync --commit --git-commit "$repo/STATUS.md"
	[ "$status" -eq 0 ]
	[ "$(git -C "$repo" rev-list --count HEAD)" -eq 2 ]
	grep '"ev":"sync"' "$AGQ_SPOOL/journal" | sed -n 2p | jq -e '.targets[0].git_commit | length == 40'
}

@test "agq-sync: two syncs never interleave; --json writes the snapshot only with --commit" {
	doc "$WORK/STATUS.md"
	allow "$WORK/*.md"
	agq-submit -q -- true
	touch "$AGQ_SPOOL/.sync.lock"
	exec 8<"$AGQ_SPOOL/.sync.lock"
	flock -x 8
	agq-sync --commit --json "$WORK/snap.json" "$WORK/STATUS.md" > "$WORK/out" 2>&1 &
	pid=$!
	sleep 1
	# blocked on the lock: nothing written yet
	kill -0 "$pid"
	grep -q 'stale status' "$WORK/STATUS.md"
	[ ! -e "$WORK/snap.json" ]
	flock -u 8
	exec 8<&-
	wait "$pid"
	grep -qx '| queue | 1 (urgent 0, high 0, normal 1, low 0) |' "$WORK/STATUS.md"
	[ "$(jq .counts.queue "$WORK/snap.json")" -eq 1 ]
	[ "$(jq .stats.events.submitted "$WORK/snap.json")" -eq 1 ]
	[ "$(jq -c .counts "$WORK/snap.json")" = "$(agq-status --json | jq -c .counts)" ]
	rm "$WORK/snap.json"
	run agq-sync --json "$WORK/snap.json"
	[ "$status" -eq 0 ]
	[ ! -e "$WORK/snap.json" ]
	run agq-sync
	[ "$status" -eq 64 ]
}

@test "agq-sync --plan NAME: the plan's newest document in the block and the snapshot" {
	doc "$WORK/STATUS.md"
	allow "$WORK/*"
	agq-plan put release <<< '{"steps":["api","docs"],"note":"<!-- agq:status:end -->"}'
	agq-plan patch --merge release <<< '{"owner":"ann"}'
	run agq-sync --commit --plan release --plan gone --json "$WORK/snap.json" "$WORK/STATUS.md"
	[ "$status" -eq 0 ]
	grep -q '^\*\*Plan release\*\* (revision 2, ' "$WORK/STATUS.md"
	grep -qx '  "owner": "ann"' "$WORK/STATUS.md"
	grep -qx '\*\*Plan gone:\*\* none.' "$WORK/STATUS.md"
	# the plan's text cannot make a marker: one end marker still
	[ "$(grep -c -- "$E" "$WORK/STATUS.md")" -eq 1 ]
	grep -q 'u003c!-- agq:status:end' "$WORK/STATUS.md"
	jq -e '.plans.release.rev == 2 and .plans.release.doc.owner == "ann" and .plans.gone == null' "$WORK/snap.json"
	# nothing changed, nothing written
	run agq-sync --commit --plan release --plan gone "$WORK/STATUS.md"
	[ -z "$output" ]
	run agq-sync --plan ../x "$WORK/STATUS.md"
	[ "$status" -eq 64 ]
}
