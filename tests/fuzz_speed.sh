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
# Two lines a target: fuzz_<target>_per_s (inputs per second of wall time) and
# fuzz_<target>_per_cpu_s (per CPU second the run took: the target's cost, whatever the
# machine's load; at load 3-4 on 2 cores a run may get half a core and its wall rate half).
#
# Measured 2026-12-07 (make fuzz-speed-ci's binaries, FUZZ_ARGS=-use_cmp=0, two runs each
# interleaved with b93ca21's, load 3.4-4.2): fuzz_merge 1,340-1,349/s, 1,346-1,401 per CPU
# second (b93ca21: 559-1,101/s, 1,133-1,142 per CPU s); fuzz_export 321-356/s, 350-356 per
# CPU s (b93ca21: 204-368/s, 358-368 per CPU s: no change beyond noise). A fixed replay
# (build/cifuzz_fuzz_merge -runs=0 -use_cmp=0 -entropic_feature_frequency_threshold=4 DIR,
# DIR the 1,186 inputs a 20 s run wrote; medians of 5 interleaved): merge 1.05 s of CPU at
# b93ca21, 0.93 s now; export (846 inputs) 3.09 s, 2.99 s. What moved it: every node's
# event list and id set kept per region across inputs (4%), ASan's allocation stacks 5
# frames deep instead of 30 (fuzz_alloc.h; 4-5%), tidal__db_renew not copying the 54 KB
# replication window a handle without replicas never writes (4%).
#
# Where an input's time went in the two targets below 1,000/s before those changes (perf
# record of cifuzz_ -O1 binaries, 2026-12-07; a 3,000-input fuzzing run with -g, and
# --call-graph=dwarf over the 711 inputs a 20 s run wrote; shares inclusive):
#   fuzz_export (170-263/s at load 3-4): inputs are BUILD (6.1 ms each) and DROP (8.9 ms)
#     nine in ten times, BODY 2.8 ms, RAW/CHUNK < 1 ms. tidal_tenant_install 22% (decoding
#     chunks into the state 15%, tidal__install_check 5.5% of which its scratch handle's
#     open and close 2.2%, tidal__tenant_clear's rebuild 3.6%), fe_state_take (snapshot
#     body, digests, sums) 12%, the reference decode tidal__export_load 8%, the source's
#     writes 6%, exports 5%, fe_reexport 4%, fe_roundtrip 4%. By leaf: BLAKE3 ~20%, ASan's
#     allocator and stack depot ~15%, memset/memmove 7%, libFuzzer itself ~7%.
#   fuzz_merge (527-888/s): len_control keeps inputs under 99 bytes (~30 ops, ~1.2-1.9 ms):
#     imports into the eight merge databases 20-24%, tidal_db_digest 11-21%, closing
#     handles 7%, ASan's allocator ~13%, libFuzzer's feature collection 8-10%. After them
#     (perf over the fixed replay above): imports 20% (the event decode and fold; the laws
#     need every one), digests ~25% with BLAKE3 (the per-op "no event, no change" check
#     takes a digest before an op that turns out to apply one about 60% of the time: it
#     cannot know beforehand), ASan's runtime (allocator, stacks, interceptors) 17%, was 24%.
# So an O(tenant) drop/install would save at most ~6% of fuzz_export's time; no single
# part is large enough that removing it reaches 1,000/s without dropping a check.
B=${B:-build}
BIN=${FUZZ_BIN:-libfuzz_}
ARGS="${FUZZ_ARGS:-} ${FUZZ_OPTS--entropic_feature_frequency_threshold=4}"
SECS=${FUZZ_SPEED_SECONDS:-20}
FUZZERS=${FUZZERS:-fuzz_query fuzz_wal fuzz_snapshot fuzz_message fuzz_merge fuzz_export fuzz_event fuzz_config fuzz_control fuzz_peer fuzz_frame fuzz_resp}
bad=0
# CPU seconds (user + system) of every child that has ended so far: the shell's own
# `times`, run here (not in a $(...) subshell, which would count none of them), then read.
cpu_children() {
    awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]);
                   t += a[1] * 60 + a[2] } printf "%.2f", t }' "$B/fuzzspeed_times"
}
for f in $FUZZERS; do
    c=${f#fuzz_}; o=$B/fuzzspeed_$c
    rm -rf "$o"; mkdir -p "$o/new"
    times > "$B/fuzzspeed_times"; cpu0=$(cpu_children)
    "$B/$BIN$f" -seed=1 -max_total_time="$SECS" -print_final_stats=1 $ARGS \
        -artifact_prefix="$o/" "$o/new" "fuzz/corpus/$c" > "$o/log" 2>&1 || bad=1
    runs=$(grep -E '^stat::number_of_executed_units' "$o/log" | awk '{print $2}')
    secs=$(grep -E '^stat::.*total_time|^Done [0-9]+ runs in' "$o/log" | tail -n 1 |
           sed -E 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/')
    case $secs in ''|*[!0-9]*) secs=$SECS ;; esac
    [ "$secs" -gt 0 ] || secs=1
    times > "$B/fuzzspeed_times"; cpu1=$(cpu_children)
    echo "fuzz_${c}_per_s: $(( ${runs:-0} / secs )) inputs/s"
    # The same inputs per CPU second: what the target costs, whatever the machine's load
    # (at load 3-4 on 2 cores a run gets about half a core, and the wall rate halves).
    awk -v r="${runs:-0}" -v a="$cpu0" -v b="$cpu1" -v c="$c" \
        'BEGIN { t = b - a; if (t <= 0) t = 0.01; printf "fuzz_%s_per_cpu_s: %d inputs/s\n", c, r / t }'
done
exit $bad
