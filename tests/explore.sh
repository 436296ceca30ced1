#!/bin/bash
# tests/explore.sh - what `make explore MINUTES=N` runs: the property programs and the
# libFuzzer targets round-robin with a random base seed, so every run tries histories and
# inputs that no fixed run (make test, make fuzz-ci) tries. It stops by itself after N
# minutes, prints a progress line every 30 s, and on a failure prints the one-line
# reproduction and keeps the output (with the shrunk history) under build/explore/.
#
# BASE=<n> replays an exploration exactly: round k runs the props with --base BASE+k and
# the fuzzers with -seed derived from BASE+k. Without BASE one is drawn from /dev/urandom
# and printed first. FUZZ_SLICE=<s> is the seconds per fuzzer per round (default 20);
# fuzzers are skipped when clang cannot build them.
set -u
B=${B:-build}
MINUTES=${MINUTES:-10}
FUZZ_SLICE=${FUZZ_SLICE:-20}
PROPS=${PROPS:-prop_replication prop_multiregion prop_migration}
FUZZERS=${FUZZERS:-}
out=$B/explore
mkdir -p "$out"

if [ -z "${BASE:-}" ]; then
    BASE=$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')
fi
echo "explore: base seed $BASE, $MINUTES min (reproduce the whole run: make explore BASE=$BASE MINUTES=$MINUTES)"

start=$(date +%s)
deadline=$((start + MINUTES * 60))
state=$out/state.$$
echo "0 0 0 0 0" > "$state" # histories, history failures, fuzz inputs, crashes, fuzz seconds
trap 'kill $ticker 2>/dev/null; rm -f "$state"' EXIT

# The progress line, every 30 s, from the counters the rounds keep in $state.
(
    while sleep 30; do
        read -r h hf fi fc fs < "$state" 2>/dev/null || continue
        el=$(( $(date +%s) - start )); r=0; [ "$fs" -gt 0 ] && r=$((fi / fs))
        echo "  [$((el / 60))m$((el % 60))s] histories $h ($hf failed), fuzz inputs $fi at $r/s ($fc crashes)"
    done
) &
ticker=$!

failures=0
add() { # add <histories> <history failures> <fuzz inputs> <fuzz crashes> <fuzz seconds>
    read -r h hf fi fc fs < "$state"
    echo "$((h + $1)) $((hf + $2)) $((fi + $3)) $((fc + $4)) $((fs + $5))" > "$state"
}
left() { echo $((deadline - $(date +%s))); }

round=0
while [ "$(left)" -gt 0 ]; do
    base=$((BASE + round))
    for p in $PROPS; do
        [ "$(left)" -gt 0 ] || break
        log=$out/$p.base$base.log
        timeout "$(left)" "$B/$p" --filter t_prop_histories --base "$base" > "$log" 2>&1
        rc=$?
        line=$(grep -E '^  [0-9]+ histories, [0-9]+ failed' "$log" | tail -n 1)
        n=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
        if [ "$rc" -eq 124 ] && [ -z "$line" ]; then rm -f "$log"; break; fi # out of time
        if [ -z "$line" ]; then n=0; f=1; fi
        add "${n:-0}" "${f:-0}" 0 0 0
        if [ "$rc" -ne 0 ] || [ "${f:-0}" -ne 0 ]; then
            failures=$((failures + 1))
            echo "FAIL  $p with --base $base (output and shrunk history: $log)"
            grep -E 'FAILED|reproduce' "$log" | head -n 6 | sed 's/^/      /'
        else
            rm -f "$log"
        fi
    done
    for f in $FUZZERS; do
        t=$(left); [ "$t" -gt 0 ] || break
        [ "$t" -gt "$FUZZ_SLICE" ] && t=$FUZZ_SLICE
        c=${f#fuzz_}; mkdir -p "$out/corpus_$c" "$out/crash_$c"
        log=$out/$f.log
        seed=$(( (base % 2147483646) + 1 ))
        "$B/libfuzz_$f" -seed=$seed -max_total_time="$t" -print_final_stats=1 \
            -artifact_prefix="$out/crash_$c/" "$out/corpus_$c" "fuzz/corpus/$c" > "$log" 2>&1
        rc=$?
        runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
        if [ "$rc" -ne 0 ]; then
            failures=$((failures + 1)); add 0 0 "${runs:-0}" 1 "$t"
            art=$(ls -t "$out/crash_$c"/* 2>/dev/null | head -n 1)
            echo "FAIL  $f with -seed=$seed: reproduce: $B/libfuzz_$f $art (log: $log)"
        else
            add 0 0 "${runs:-0}" 0 "$t"
        fi
    done
    round=$((round + 1))
done

read -r h hf fi fc fs < "$state"
per_s=0; [ "$fs" -gt 0 ] && per_s=$((fi / fs))
echo "explore: base seed $BASE, $round rounds in $(( ($(date +%s) - start) / 60 )) min:" \
     "$h histories ($hf failed), $fi fuzz inputs at ${per_s}/s ($fc crashes)"
[ "$failures" -eq 0 ]
