#!/usr/bin/env bats
# libagq's structure (issue 15, lib/README): every file of lib/ has its
# header and a line in lib/README's layer map; no file calls a file listed
# below it (so no two files call each other in a loop), read off the
# built objects' symbol tables with nm(1); the Makefile's archives hold the
# files of the README's groups; agq.h only includes the module headers.

load helper

TOP=${AGQ_TOP:-$BATS_TEST_DIRNAME/..}

# The map's files in order: "LINE FILE GROUP", lowest layer first.
map() {
	awk '/^[a-z]+:/ { g = substr($1, 1, length($1) - 1) }
	     /^  [a-z0-9_]+\.c / { print NR, $1, g }' "$TOP/lib/README"
}

# The archive with every object: the sanitizer build's in make check.
archive() {
	local a
	for a in "$AGQ_TEST_BIN/../libagq.a" "$TOP/build/san/libagq.a" \
	    "$TOP/build/default/libagq.a"; do
		[ -f "$a" ] && { echo "$a"; return; }
	done
	return 1
}

@test "layers: every lib/*.c has a header and one line in lib/README, and every line a file" {
	local f n missing=""
	for f in "$TOP"/lib/*.c; do
		f=${f##*/}
		[ -f "$TOP/lib/${f%.c}.h" ] || missing="$missing ${f%.c}.h"
		n=$(map | awk -v f="$f" '$2 == f' | wc -l)
		[ "$n" = 1 ] || missing="$missing $f(listed $n times)"
	done
	while read -r _ f _; do
		[ -f "$TOP/lib/$f" ] || missing="$missing README:$f"
	done < <(map)
	[ -z "$missing" ] || { echo "missing or repeated:$missing"; false; }
}

@test "layers: no file of lib/ calls a file listed below it in lib/README (no loops)" {
	local a
	a=$(archive) || skip "no libagq.a built"
	# MEMBER DEFINED-SYMBOL and MEMBER UNDEFINED-SYMBOL, from nm -A
	nm -A --defined-only -g "$a" | awk '{ split($1, p, ":"); print $3, p[2] }' |
	    sort -u > "$BATS_TEST_TMPDIR/defs"
	nm -A -u "$a" | awk '{ split($1, p, ":"); print $NF, p[2] }' |
	    sort -u > "$BATS_TEST_TMPDIR/uses"
	map | awk '{ print $2, NR }' | sed 's/\.c / /' > "$BATS_TEST_TMPDIR/rank"
	join "$BATS_TEST_TMPDIR/uses" "$BATS_TEST_TMPDIR/defs" |
	    awk '$2 != $3 { sub(/\.o$/, "", $2); sub(/\.o$/, "", $3);
	                    print $2, $3, $1 }' > "$BATS_TEST_TMPDIR/edges"
	[ -s "$BATS_TEST_TMPDIR/edges" ]
	run awk 'NR == FNR { rank[$1] = $2; next }
	    !($1 in rank) || !($2 in rank) { print "not in lib/README: " $1 " or " $2; bad = 1; next }
	    rank[$2] >= rank[$1] { print $1 ".c calls " $3 " of " $2 ".c, listed below it"; bad = 1 }
	    END { exit bad }' "$BATS_TEST_TMPDIR/rank" "$BATS_TEST_TMPDIR/edges"
	echo "$output"
	[ "$status" -eq 0 ]
	# and the same graph has no loop, by tsort(1)
	awk '{ print $1, $2 }' "$BATS_TEST_TMPDIR/edges" | tsort > /dev/null
}

@test "layers: the Makefile's archives hold exactly the files of lib/README's groups" {
	local g want got
	for g in core exec route report engine; do
		want=$(map | awk -v g="$g" '$3 == g { sub(/\.c$/, "", $2); print $2 }' |
		    grep -v '^paths$' | sort | tr '\n' ' ')
		got=$(make -s -C "$TOP" --no-print-directory print-LIB_$g |
		    tr ' ' '\n' | grep . | sort | tr '\n' ' ')
		[ "$want" = "$got" ] || { echo "$g: README [$want] Makefile [$got]"; false; }
	done
}

@test "layers: agq.h only includes the module headers, each of them" {
	run grep -v -E '^(#include "[a-z]+\.h"|#ifndef AGQ_H|#define AGQ_H|#endif|/\*.*|  *\*.*|)$' "$TOP/lib/agq.h"
	[ -z "$output" ] || { echo "agq.h declares: $output"; false; }
	local h
	for h in "$TOP"/lib/*.h; do
		h=${h##*/}
		[ "$h" = agq.h ] && continue
		grep -q "^#include \"$h\"" "$TOP/lib/agq.h" || { echo "agq.h lacks $h"; false; }
	done
}

@test "layers: each header compiles on its own (it includes what it uses)" {
	command -v "${CC:-cc}" >/dev/null || skip "no C compiler"
	local h bad=""
	for h in "$TOP"/lib/*.h; do
		printf '#include "%s"\n' "${h##*/}" |
		    "${CC:-cc}" -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE \
		    -I"$TOP/lib" $(pkg-config --cflags jansson 2>/dev/null) \
		    -fsyntax-only -x c - 2>"$BATS_TEST_TMPDIR/err" ||
		    bad="$bad ${h##*/}: $(head -1 "$BATS_TEST_TMPDIR/err")"
	done
	[ -z "$bad" ] || { echo "$bad"; false; }
}
