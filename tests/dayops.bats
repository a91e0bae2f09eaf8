#!/usr/bin/env bats
# Day-2 operations (issue 20, part ops): the bash and zsh completion that
# etc/completion/mkcompletion writes from the programs' --help, and the
# git hook samples of etc/hooks/.  make install of both, and of the
# systemd units: tests/install.bats.

load helper

# Once for the file: each program's --help in $BATS_FILE_TMPDIR/helps
# (after a line "=== PROG") and in help/PROG, the options each lists in
# opts (lines "PROG OPTION"), and the completion of the programs under
# test, from those texts, in $BATS_FILE_TMPDIR/completion.
setup_file() {
	local d=$BATS_FILE_TMPDIR p
	make -s -C "$AGQ_TOP" print-PROGS > "$d/progs"
	for p in $(cat "$d/progs"); do
		echo "=== $p"
		"$AGQ_TEST_BIN/$p" --help || return 1
	done > "$d/helps"
	# The options by a rule of the test's own, not the generator's: the
	# lines "  -x, --long", "  -x" and "      --long"; and --help.
	awk '/^=== / { p = $2; print p, "--help"; next }
	    /^  -[A-Za-z0-9]([ ,]|$)/ { print p, substr($1, 1, 2) }
	    /^  -[A-Za-z0-9], --[A-Za-z0-9]/ { print p, $2 }
	    /^      --[A-Za-z0-9]/ { print p, $1 }' "$d/helps" |
	    sort -u > "$d/opts"
	mkdir "$d/help"
	awk -v d="$d/help" '/^=== / { f = d "/" $2; next } { print > f }' "$d/helps"
	"$AGQ_TOP/etc/completion/mkcompletion" - "$d/nospool" "$d/completion" \
	    $(cat "$d/progs") \
	    < "$d/helps"
}
COMP=$BATS_FILE_TMPDIR/completion
PROGS=$(cat "$BATS_FILE_TMPDIR/progs" 2>/dev/null || :)

# complete bash|zsh LINE...: what the completion offers for each LINE, as
# lines "LINE<TAB>MATCH" (its first word) in $BATS_TEST_TMPDIR/got.
complete() {
	local sh=$1
	shift
	if [ "$sh" = bash ]; then
		"$AGQ_TOP/tests/completion/bcomplete" "$COMP/agq.bash" "$@"
	else
		"$AGQ_TOP/tests/completion/zcomplete" "$COMP" "$@"
	fi > "$BATS_TEST_TMPDIR/out" || return 1
	awk '/^== / { l = substr($0, 4); next } { print l "\t" $1 }' \
	    "$BATS_TEST_TMPDIR/out" > "$BATS_TEST_TMPDIR/got"
}

# got LINE: the matches of LINE, sorted, on one line.
got() {
	awk -F'\t' -v l="$1" '$1 == l { print $2 }' "$BATS_TEST_TMPDIR/got" |
	    sort -u | tr '\n' ' '
}

# every_option bash|zsh: for each program, "PROG -" and "agq CMD -"
# offer every option its --help lists, and no other.
every_option() {
	local lines=() p
	for p in $PROGS; do
		lines+=("$p -")
		[ "$p" = agq ] || lines+=("agq ${p#agq-} -")
	done
	complete "$1" "${lines[@]}"
	awk -F'\t' 'FILENAME == ARGV[1] { split($0, a, " "); want[a[1]] = want[a[1]] " " a[2]; next }
	    { split($1, w, " "); p = w[1] == "agq" && w[2] != "-" ? "agq-" w[2] : w[1]
	      got[$1] = got[$1] " " $2; prog[$1] = p }
	    function sorted(s,    n, x, i, j, t, r) {
		n = split(s, x, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
		r = ""; for (i = 1; i <= n; i++) if (i == 1 || x[i] != x[i-1]) r = r " " x[i]
		return r
	    }
	    END { for (l in got) if (sorted(got[l]) != sorted(want[prog[l]])) {
		print l ": got" sorted(got[l]) ", want" sorted(want[prog[l]]); bad++ }
		for (p in want) n++
		for (l in got) m++
		if (m != 2 * n - 1) { print m " lines completed, not " 2 * n - 1; bad++ }
		exit bad > 0 }' "$BATS_FILE_TMPDIR/opts" "$BATS_TEST_TMPDIR/got"
}

@test "every long option a program's getopt table accepts is in its --help" {
	# "PROG OPTION" for each { "name", ... } and AGQ_OPT_NAME (lib/cli.h)
	# of the longopts tables of bin/agq-*.c
	awk 'FNR == 1 { p = FILENAME; sub(/.*\//, "", p); sub(/\.c$/, "", p) }
	    /struct option longopts/ { t = 1 }
	    t { s = $0
		while (match(s, /\{ *"[a-z0-9-]+"|AGQ_OPT_[A-Z]+/)) {
			o = substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH)
			gsub(/[{ "]/, "", o); sub(/^AGQ_OPT_/, "", o)
			if (o != "END") print p, tolower(o)
		} }
	    t && /};/ { t = 0 }' "$AGQ_TOP"/bin/agq-*.c > "$BATS_TEST_TMPDIR/longopts"
	grep -qx 'agq-ls spool' "$BATS_TEST_TMPDIR/longopts"
	grep -qx 'agq-ls tree' "$BATS_TEST_TMPDIR/longopts"
	while read -r p o; do
		[ -f "$BATS_FILE_TMPDIR/help/$p" ] || continue
		case $o in help|version) continue ;; esac
		[[ $(< "$BATS_FILE_TMPDIR/help/$p") =~ --$o([^a-z0-9-]|$) ]] ||
		    { echo "$p: --$o is not in --help"; false; }
	done < "$BATS_TEST_TMPDIR/longopts"
}

@test "bash completion: every option of every command completes, as agq-CMD and as agq CMD" {
	every_option bash
	! grep -q 'NO COMPLETION' "$BATS_TEST_TMPDIR/out"
}

@test "bash completion: commands, subcommands, option values, task ids from the spool named" {
	a=$(agq-submit -- true)
	agq-submit -q --id build-1 -- true
	other="$BATS_TEST_TMPDIR/other"
	AGQ_SPOOL=$other agq-submit -q --id elsewhere -- true
	m=$(agq-mission new "a mission")
	complete bash "agq " "agq help sub" "agq-registry " "agq registry --type o" \
	    "agq-registry --type=an" "agq-submit -p h" "agq-submit --on-dep-fail " \
	    "agq-cancel " "agq-show buil" "agq-cancel -s $other " "agq --spool $other show " \
	    "agq-pr show build" "agq-prio build-1 l" "agq-mission show " \
	    "agq mission close m-" "agq-submit --mission "
	# agq's commands are agq-CMD's names, help among them
	out=$(got "agq ")
	for p in $PROGS; do
		[ "$p" = agq ] || [[ " $out" == *" ${p#agq-} "* ]]
	done
	[[ " $out" == *" help "* ]]
	[ "$(got "agq help sub")" = "submit " ]
	[ "$(got "agq-registry ")" = "add check ls rm " ]
	[ "$(got "agq registry --type o")" = "ollama openai " ]
	[ "$(got "agq-registry --type=an")" = "--type=anthropic " ]
	[ "$(got "agq-submit -p h")" = "high " ]
	[ "$(got "agq-submit --on-dep-fail ")" = "cancel hold run " ]
	# ids of the spool: $AGQ_SPOOL, else -s/--spool on the line
	[ "$(got "agq-cancel ")" = "$(printf '%s\n' "$a" build-1 | sort | tr '\n' ' ')" ]
	[ "$(got "agq-show buil")" = "build-1 " ]
	[ "$(got "agq-cancel -s $other ")" = "elsewhere " ]
	[ "$(got "agq --spool $other show ")" = "elsewhere " ]
	[ "$(got "agq-pr show build")" = "build-1 " ]
	# the nth positional: agq-prio ID LANE
	[ "$(got "agq-prio build-1 l")" = "low " ]
	# mission ids where a mission is asked for, not task ids
	[ "$(got "agq-mission show ")" = "$m " ]
	[ "$(got "agq mission close m-")" = "$m " ]
	[ "$(got "agq-submit --mission ")" = "$m " ]
	# with no spool anywhere, nothing (and no error)
	AGQ_SPOOL= complete bash "agq-wait "
	[ -z "$(got "agq-wait ")" ]
}

@test "zsh completion: it parses, and compsys offers every option of every command, subcommands and task ids" {
	command -v zsh >/dev/null || skip "zsh is not installed (.ci/run installs it)"
	zsh -n "$COMP/_agq"
	head -1 "$COMP/_agq" | grep -qx "#compdef $(echo $PROGS)"
	every_option zsh
	agq-submit -q --id build-1 -- true
	m=$(agq-mission new "a mission")
	complete zsh "agq ls --st" "agq reg" "agq registry " "agq-registry --type " \
	    "agq-cancel " "agq-prio build-1 " "agq -s $BATS_TEST_TMPDIR/none show " \
	    "agq-mission show "
	[ "$(got 'agq ls --st')" = "--state " ]
	[ "$(got 'agq reg')" = "registry " ]
	[ "$(got 'agq registry ')" = "add check ls rm " ]
	[ "$(got 'agq-registry --type ')" = "anthropic ollama openai " ]
	[ "$(got 'agq-cancel ')" = "build-1 " ]
	[ "$(got 'agq-prio build-1 ')" = "high low normal urgent " ]
	[ -z "$(got "agq -s $BATS_TEST_TMPDIR/none show ")" ]
	[ "$(got 'agq-mission show ')" = "$m " ]
}

# A repository with one commit, in $REPO, and a bare origin in $ORIGIN.
repo() {
	ORIGIN="$BATS_TEST_TMPDIR/origin.git" REPO="$BATS_TEST_TMPDIR/repo"
	git init -q --bare -b main "$ORIGIN"
	git init -q -b main "$REPO"
	echo one > "$REPO/a"
	git -C "$REPO" add a
	git -C "$REPO" commit -q -m "first"
	git -C "$REPO" remote add origin "$ORIGIN"
}

@test "hook samples: each parses and says how to install it; post-commit submits a review of the commit" {
	for h in "$AGQ_TOP"/etc/hooks/*; do
		sh -n "$h"
		grep -q '^# Install' "$h"
		[ -x "$h" ]
	done
	repo
	cp "$AGQ_TOP/etc/hooks/post-commit" "$REPO/.git/hooks/"
	git -C "$REPO" config agq.reviewBackend claude
	echo two > "$REPO/a"
	git -C "$REPO" commit -q -am "second: a is two"
	sha=$(git -C "$REPO" rev-parse HEAD)
	run agq-ls --json
	[ "${#lines[@]}" -eq 1 ]
	task=${lines[0]}
	[ "$(jq -r .title <<< "$task")" = "review ${sha:0:7}: second: a is two" ]
	[ "$(jq -r '.requires | join(" ")' <<< "$task")" = review ]
	[ "$(jq -r .backend <<< "$task")" = claude ]
	[ "$(jq -r .env.AGQ_REVIEW_COMMIT <<< "$task")" = "$sha" ]
	[[ $(jq -r .prompt <<< "$task") == *"git show $sha"* ]]
	# a rebase does not review its commits again
	GIT_REFLOG_ACTION=rebase git -C "$REPO" commit -q --allow-empty -m third
	[ "$(agq-ls -q | wc -l)" -eq 1 ]
}

@test "hook samples: pre-push runs the repository's steps and refuses a push they fail; post-receive submits a check of the pushed commit" {
	repo
	cp "$AGQ_TOP/etc/hooks/pre-push" "$REPO/.git/hooks/"
	mkdir "$REPO/.agq"
	echo '[{"type": "file_exists", "path": "b"}]' > "$REPO/.agq/verify.json"
	run git -C "$REPO" push -q origin main
	[ "$status" -ne 0 ]
	[[ $output == *"verification failed, not pushing refs/heads/main"* ]]
	! git -C "$ORIGIN" rev-parse -q --verify main
	touch "$REPO/b"
	cp "$AGQ_TOP/etc/hooks/post-receive" "$ORIGIN/hooks/"
	git -C "$ORIGIN" config agq.ciCommand 'test "$(cat a)" = one && echo checked'
	run git -C "$REPO" push origin main
	[ "$status" -eq 0 ]
	[[ $output == *"agq: checking main: task "* ]]
	run agq-ls --json
	[ "${#lines[@]}" -eq 1 ]
	sha=$(git -C "$REPO" rev-parse HEAD)
	[ "$(jq -r .title <<< "${lines[0]}")" = "ci main ${sha:0:12}" ]
	# its command checks the pushed commit out and runs the checks there
	jq -j '.cmd[] + "\u0000"' <<< "${lines[0]}" > "$BATS_TEST_TMPDIR/argv"
	mapfile -d '' -t argv < "$BATS_TEST_TMPDIR/argv"
	run "${argv[@]}"
	[ "$status" -eq 0 ]
	[ "$output" = checked ]
}
