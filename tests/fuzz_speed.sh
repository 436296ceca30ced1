#!/bin/sh
# tests/fuzz_speed.sh - what `make fuzz-speed` runs: every libFuzzer target for a fixed
# FUZZ_SPEED_SECONDS (default 20) from its seed corpus, with a fixed libFuzzer seed, and
# prints fuzz_<target>_per_s: inputs executed per second, so a slow target (or a
# regression) is visible. New inputs go to a scratch corpus under build/, never into
# fuzz/corpus. Exit status 1 if a target crashed.
# FUZZ_BIN picks the binaries: libfuzz_ (make fuzz, exploration: comparison tracing on) or
# cifuzz_ (fuzz-ci's: no comparison tracing; make fuzz-speed-ci, with FUZZ_ARGS=-use_cmp=0).
# FUZZ_OPTS: the libFuzzer options make's fuzz runs all use (the Makefile's FUZZ_OPTS; this
# default is the same), so the rate printed is the rate of those runs.
B=${B:-build}
BIN=${FUZZ_BIN:-libfuzz_}
ARGS="${FUZZ_ARGS:-} ${FUZZ_OPTS--entropic_feature_frequency_threshold=4}"
SECS=${FUZZ_SPEED_SECONDS:-20}
FUZZERS=${FUZZERS:-fuzz_query fuzz_wal fuzz_snapshot fuzz_message fuzz_merge fuzz_export fuzz_event fuzz_config fuzz_control fuzz_peer}
bad=0
for f in $FUZZERS; do
    c=${f#fuzz_}; o=$B/fuzzspeed_$c
    rm -rf "$o"; mkdir -p "$o/new"
    "$B/$BIN$f" -seed=1 -max_total_time="$SECS" -print_final_stats=1 $ARGS \
        -artifact_prefix="$o/" "$o/new" "fuzz/corpus/$c" > "$o/log" 2>&1 || bad=1
    runs=$(grep -E '^stat::number_of_executed_units' "$o/log" | awk '{print $2}')
    secs=$(grep -E '^stat::.*total_time|^Done [0-9]+ runs in' "$o/log" | tail -n 1 |
           sed -E 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/')
    case $secs in ''|*[!0-9]*) secs=$SECS ;; esac
    [ "$secs" -gt 0 ] || secs=1
    echo "fuzz_${c}_per_s: $(( ${runs:-0} / secs )) inputs/s"
done
exit $bad
