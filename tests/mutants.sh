#!/bin/sh
# tests/mutants.sh - what `make mutants` runs: each mutant is one deliberate bug put into a
# copy of tidal.h (one exact text replaced by another; the script fails if the text is not
# there exactly once, so a mutant never silently stops applying), then the fuzz target
# that guards that code is built against the copy and run with make fuzz-ci's seed and
# input count. A mutant is CAUGHT when the target reports a crash (a property violated, a
# sanitizer report); MISSED otherwise. The last line is "N caught, N missed"; the exit
# status is 1 when any was missed or could not be built. Needs clang with libFuzzer.
# MUTANTS='pattern' runs only the mutants whose name matches the shell pattern.
B=${B:-build}
CLANG=${CLANG:-clang}
SEED=${FUZZ_SEED:-1}
OPTS=${FUZZ_OPTS--entropic_feature_frequency_threshold=4} # make fuzz-ci's libFuzzer options
caught=0
missed=0

# mutant NAME TARGET RUNS FROM TO WHY: replaces the text FROM by TO in a copy of tidal.h;
# RUNS is fuzz-ci's input count for TARGET when make does not pass FUZZ_CI.
mutant() {
    name=$1; target=$2; runs=$3; from=$4; to=$5; why=$6
    case "$name" in ${MUTANTS:-*}) ;; *) return 0 ;; esac
    # make passes FUZZ_CI (target:inputs ...): the count fuzz-ci uses wins over RUNS.
    ci=$(printf '%s\n' ${FUZZ_CI:-} | awk -F: -v t="$target" '$1 == t {print $2}')
    [ -n "$ci" ] && runs=$ci
    d=$B/mutant_$name
    rm -rf "$d"; mkdir -p "$d/fuzz" "$d/new"
    cp fuzz/*.c fuzz/*.h fuzz/coverage_ignore.txt "$d/fuzz/" && cp tidal_sim.h "$d/" || return 1
    n=$(awk -v s="$from" 'BEGIN{n=0} {l=$0; while ((i = index(l, s)) > 0) {n++; l=substr(l, i+length(s))}} END{print n}' tidal.h)
    if [ "$n" -ne 1 ]; then
        echo "ERROR $name: the text to mutate occurs $n times in tidal.h (must be once): $from"
        missed=$((missed + 1)); return 0
    fi
    awk -v s="$from" -v t="$to" '{i = index($0, s); if (i > 0) $0 = substr($0, 1, i-1) t substr($0, i+length(s)); print}' \
        tidal.h > "$d/tidal.h"
    # fuzz-ci's binary (the Makefile's cifuzz_ rule: FUZZ_CI_COV, no comparison tracing)
    if ! $CLANG -g ${FUZZ_O:--O1} -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        ${FUZZ_CI_COV--fno-sanitize-coverage=trace-cmp} -fsanitize-coverage-ignorelist="$d/fuzz/coverage_ignore.txt" -o "$d/libfuzz" \
        "$d/fuzz/fuzz_$target.c" -lm > "$d/build.log" 2>&1; then
        echo "ERROR $name: does not build (see $d/build.log)"; missed=$((missed + 1)); return 0
    fi
    "$d/libfuzz" -seed="$SEED" -runs="$runs" -use_cmp=0 $OPTS -artifact_prefix="$d/" \
        "$d/new" "fuzz/corpus/$target" > "$d/log" 2>&1
    rc=$?
    done_runs=$(grep -oE '^#[0-9]+' "$d/log" | tail -n 1 | tr -d '#')
    if [ "$rc" -ne 0 ] && ls "$d"/crash-* >/dev/null 2>&1; then
        caught=$((caught + 1))
        law=$(grep -m 1 -E 'law|property|violat|ERROR: AddressSanitizer|runtime error' "$d/log" | cut -c 1-110)
        if [ -n "$done_runs" ]; then when="after $done_runs of $runs inputs"
        else when="while replaying its seed corpus"; fi
        echo "CAUGHT $name (fuzz_$target, $when): $law"
    else
        missed=$((missed + 1))
        echo "MISSED $name (fuzz_$target, $runs inputs): $why"
    fi
}

# fuzz_export, law 6: an install under an older migration than the newest applied must be
# refused (TIDAL_ERR_STALE_CONFIG) and change nothing.
mutant export_stale_install export 300 \
    'if (g && (migration < g->gen || (migration == g->gen && !retry))) {' \
    'if (g && (migration == g->gen && !retry)) {' \
    'an install under an older migration is taken'

# fuzz_merge, law 4 (order independence): an attribute write replaces the value whatever
# its HLC (last arrival wins instead of the highest HLC).
mutant merge_lww_arrival merge 3600 \
    '} else if (tidal__hlc_cmp(ev->hlc, e->attrs[i].hlc) > 0) {' \
    '} else if (tidal__hlc_cmp(ev->hlc, e->attrs[i].hlc) != 0) {' \
    'attribute LWW by arrival order'

# fuzz_message, law 1 (no sanitizer report, no assertion) on the replication receive
# path: the event decoder no longer refuses a signal type the schema does not have.
mutant message_event_type message 15000 \
    'if (ev->type >= db->schema.n_sig) return "unknown signal type";' \
    'if (0) return "unknown signal type";' \
    'a replicated signal of a type beyond the schema decoded'

echo "$caught caught, $missed missed"
[ "$missed" -eq 0 ]
