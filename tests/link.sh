#!/bin/sh
# tests/link.sh - the link builds of the tests (see the Makefile's "Link builds"): the
# implementation of tidal.h and tidal_sim.h is compiled once per flavour into an object, and
# each test is compiled against a generated header that declares what the implementation
# defines (private tidal__ functions and data included: the tests are white-box) and links
# the objects. The test sources are unchanged: the generated header is given with -include
# and defines the real header's include guards, so the test's own #include "../tidal.h"
# adds nothing.
#   sh tests/link.sh gen HEADER DIR   DIR/<name>.h (the header the tests use) and
#                                     DIR/<name>_impl.c (the implementation unit); tests/link.awk
#   sh tests/link.sh guard CC SRC     fails if SRC sets a TIDAL configuration macro before the
#                                     headers: the shared objects would not have it (such a
#                                     test stays on the full header, FULL_TESTS in the Makefile)
#   sh tests/link.sh check CC DIR     the implementation objects in DIR define every function
#                                     the full header defines (run by tests/run.sh)
set -u
LC_ALL=C; export LC_ALL
cmd=${1:-}
case "$cmd" in
gen)
    src=$2; dir=$3; base=$(basename "$src" .h)
    mkdir -p "$dir" || exit 1
    case "$base" in
    tidal) guard=TIDAL_IMPLEMENTATION; pre='#define TIDAL_IMPLEMENTATION' ;;
    tidal_sim) guard=TIDAL_SIM_IMPLEMENTATION
        pre='#define TIDAL_IMPLEMENTATION
#include "tidal.h"
#define TIDAL_SIM_IMPLEMENTATION' ;;
    *) echo "link.sh: no link build for $src" >&2; exit 1 ;;
    esac
    note="/* Generated from $src by tests/link.sh: do not edit. */"
    awk -v hdr="$dir/$base.h.tmp" -v impl="$dir/${base}_impl.c.tmp" -v name="$src" \
        -f tests/link.awk "$src" 2> "$dir/$base.counts" || { cat "$dir/$base.counts" >&2; exit 1; }
    { printf '%s\n#ifndef %s\n#define %s\n#endif\n#line 1 "%s"\n' "$note" "$guard" "$guard" "$src"
      cat "$dir/$base.h.tmp"; } > "$dir/$base.h.new" &&
    { printf '%s\n%s\n#line 1 "%s"\n' "$note" "$pre" "$src"
      cat "$dir/${base}_impl.c.tmp"; } > "$dir/${base}_impl.c.new" &&
    rm -f "$dir/$base.h.tmp" "$dir/${base}_impl.c.tmp" &&
    mv "$dir/${base}_impl.c.new" "$dir/${base}_impl.c" && mv "$dir/$base.h.new" "$dir/$base.h"
    ;;
guard)
    cc=$2; src=$3
    # Every macro the translation unit defines, in order, with the file it is defined in:
    # a TIDAL one defined outside the two headers (include guards and the two
    # *_IMPLEMENTATION switches aside) would change the header only in this unit.
    bad=$($cc -std=c99 -E -dD "$src" 2>/dev/null | awk '
        /^# [0-9]+ "/ { f = $3; gsub(/"/, "", f); next }
        /^#define TIDAL/ {
            m = $2; sub(/\(.*/, "", m)
            if (f ~ /(^|\/)(tidal|tidal_sim)\.h$/) next
            if (m == "TIDAL_IMPLEMENTATION" || m == "TIDAL_SIM_IMPLEMENTATION" || m ~ /_H$/) next
            print f ": " m
        }')
    if [ -n "$bad" ]; then
        echo "link.sh: $src: a TIDAL macro set outside the headers ($bad); a link build" >&2
        echo "  shares one implementation object: build it on the full header (FULL_TESTS or" >&2
        echo "  FULL_REPLAYS in the Makefile)" >&2
        exit 1
    fi
    ;;
check)
    cc=$2; dir=$3; t=$(mktemp -d) || exit 1
    # The full headers at -O0 (nothing inlined away): every function they define. The
    # implementation objects must define each one but the static inline ones, which the
    # generated header keeps whole.
    printf '#define TIDAL_IMPLEMENTATION\n#include "tidal.h"\n#define TIDAL_SIM_IMPLEMENTATION\n#include "tidal_sim.h"\n' > "$t/full.c"
    if ! $cc -std=c99 -O0 -I. -c "$t/full.c" -o "$t/full.o"; then rm -rf "$t"; exit 1; fi
    nm "$t/full.o" | awk '$2 == "t" || $2 == "T" {print $3}' | sort -u > "$t/full"
    nm "$dir/tidal_impl.o" "$dir/tidal_sim_impl.o" | awk '$2 == "T" {print $3}' | sort -u > "$t/link"
    missing=$(comm -23 "$t/full" "$t/link" | grep -v -E "^($(awk '
        /(^|[^A-Za-z0-9_])static[ \t]+inline([ \t]|$)/ { inl = 1 }
        inl && match($0, /[A-Za-z_][A-Za-z0-9_]*\(/) {
            s = substr($0, RSTART, RLENGTH - 1)
            if (s != "__attribute__" && s != "target") { printf "%s%s", sep, s; sep = "|"; inl = 0 }
        }' tidal.h tidal_sim.h))\$")
    n_full=$(wc -l < "$t/full"); n_link=$(wc -l < "$t/link")
    rm -rf "$t"
    if [ -n "$missing" ]; then
        echo "the link objects lack functions the full header defines:"; echo "$missing"; exit 1
    fi
    echo "the link objects define all $n_full functions of the full headers ($n_link external)"
    ;;
*)
    echo "usage: sh tests/link.sh gen HEADER DIR | guard CC SRC | check CC DIR" >&2; exit 2 ;;
esac
