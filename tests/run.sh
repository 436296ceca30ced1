#!/bin/sh
# tests/run.sh - what `make test` runs: the test programs (plain and under ASan+UBSan), the
# fuzz corpus replays, the examples, and the compile matrix. Every suite's result is added
# up and the last line is "N passed, N failed". `sh tests/run.sh matrix` runs the matrix only.
B=${B:-build}
CC=${CC:-cc}
# One queued job (run_queued below starts it): output and exit status into $B/run/ID.*
if [ "${1:-}" = --job ]; then
    id=$2; shift 2
    "$@" > "$B/run/$id.out" 2>&1; echo $? > "$B/run/$id.rc"; exit 0
fi
passed=0
failed=0
log=$B/test.log
: > "$log"

# The programs run JOBS at a time (default 2: one per core; each is single-threaded and
# works in its own temporary directories), their output kept in $B/run/; the totals and
# the report are then made in list order, so the output reads the same whatever ran first.
# queue NAME KIND CMD...: KIND "suite" (a harness program: its own "N passed, N failed"
# line is added to the totals) or "check" (one case: pass or fail by exit status).
runs=$B/run
rm -rf "$runs"; mkdir -p "$runs"
n_queued=0
queue() {
    n_queued=$((n_queued + 1))
    id=$(printf '%03d' $n_queued)
    printf '%s\n' "$1" > "$runs/$id.name"; printf '%s\n' "$2" > "$runs/$id.kind"
    shift 2
    # One line per job for xargs: the id, then the command, each word quoted.
    line="$id"
    for w in "$@"; do line="$line '$(printf '%s' "$w" | sed "s/'/'\\\\''/g")'"; done
    printf '%s\n' "$line" >> "$runs/jobs"
}
run_queued() {
    [ -s "$runs/jobs" ] || return 0
    xargs -P "${JOBS:-2}" -L 1 sh tests/run.sh --job < "$runs/jobs"
    for f in "$runs"/*.name; do
        id=$(basename "$f" .name)
        name=$(cat "$f"); kind=$(cat "$runs/$id.kind")
        out=$(cat "$runs/$id.out" 2>/dev/null); rc=$(cat "$runs/$id.rc" 2>/dev/null || echo 1)
        printf '%s\n' "$out" >> "$log"
        if [ "$kind" = check ]; then
            if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); echo "ok    $name"
            else failed=$((failed + 1)); echo "FAIL  $name"; printf '%s\n' "$out" | tail -n 15; fi
            continue
        fi
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
        p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
        if [ -z "$line" ]; then p=0; f=1; fi
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        passed=$((passed + p)); failed=$((failed + f))
        if [ "$f" -eq 0 ]; then echo "ok    $name ($p cases)"; else
            echo "FAIL  $name"; printf '%s\n' "$out" | grep -E 'FAIL|reproduce|Assert|ERROR|runtime error' | head -n 20
        fi
    done
    rm -f "$runs/jobs" "$runs"/*.name
}

# A single check, run at once: one case, pass or fail by exit status.
check() {
    name=$1; shift
    if out=$("$@" 2>&1); then passed=$((passed + 1)); echo "ok    $name"
    else failed=$((failed + 1)); echo "FAIL  $name"; printf '%s\n' "$out" | tail -n 15; fi
    printf '%s\n' "$out" >> "$log"
}

matrix() {
    t=$(mktemp -d)
    strict="-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror"
    for cc in gcc clang; do
        command -v $cc >/dev/null 2>&1 || { failed=$((failed + 1)); echo "FAIL  matrix: $cc not installed"; continue; }
        check "matrix: $cc -std=c99 implementation" $cc -std=c99 $strict -c tests/matrix/impl.c -o $t/a.o
        check "matrix: $cc -std=c11 implementation" $cc -std=c11 $strict -c tests/matrix/impl.c -o $t/b.o
        check "matrix: $cc -std=c99 tidal_sim.h" sh -c "$cc -std=c99 $strict tests/matrix/sim.c -o $t/s -lm && $t/s"
        check "matrix: $cc TIDAL_STATIC in two linked units" sh -c \
            "$cc -std=c99 $strict tests/matrix/static_a.c tests/matrix/static_b.c -o $t/st -lm && $t/st"
    done
    for cxx in g++ clang++; do
        command -v $cxx >/dev/null 2>&1 || { failed=$((failed + 1)); echo "FAIL  matrix: $cxx not installed"; continue; }
        check "matrix: $cxx -std=c++11 declarations" $cxx -std=c++11 -Wall -Wextra -Wpedantic -Werror -c tests/matrix/decl.cpp -o $t/d.o
        check "matrix: $cxx -std=c++11 implementation" $cxx -x c++ -std=c++11 -Wall -Wextra -Werror -c tests/matrix/impl.c -o $t/e.o
        check "matrix: $cxx -std=c++11 tidal_sim.h" $cxx -x c++ -std=c++11 -Wall -Wextra -Werror -c tests/matrix/sim.c -o $t/g.o
    done
    check "matrix: scalar BLAKE3 build" gcc -std=c99 $strict -DTIDAL_BLAKE3_SCALAR -c tests/matrix/impl.c -o $t/f.o
    rm -rf "$t"
}

if [ "${1:-}" = matrix ]; then matrix; echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; fi

# The property programs first: they are the longest jobs, and a long job last would leave
# one core idle at the end.
for prog in ${PROPS:-prop_replication prop_multiregion}; do
    queue "$prog" suite "$B/$prog"
    queue "$prog (asan+ubsan)" suite "$B/asan_$prog"
done
for t in ${TESTS:-test_core test_blake3 test_parse test_sim_disk test_sim_net test_durability test_replication test_multiregion test_uat}; do
    queue "$t" suite "$B/$t"
    queue "$t (asan+ubsan)" suite "$B/asan_$t"
done
for f in query wal snapshot message merge export event config control peer frame resp; do
    queue "fuzz corpus replay: $f" check "$B/replay_fuzz_$f" "fuzz/corpus/$f"
done
queue "example: quickstart" check "$B/quickstart"
# The link builds (Makefile, tests/link.sh): the implementation objects the tests link
# define every function the full headers define (a construct the generator mishandled
# would be missing). make LINK= test builds on the full headers and has no objects.
if [ -n "${LINK-1}" ]; then
    queue "tidy: the link objects define every function of the full headers" check \
        sh tests/link.sh check "$CC" "$B/link"
fi
queue "example: demo (3-region failover converges)" check "$B/demo"
run_queued
# The README's first example, pasted into a file as a new user would: C99 and C++11, every
# warning an error, and it runs (twice: the second run recovers feed.db).
readme_example() {
    t=$(mktemp -d) && here=$(pwd) &&
    awk '/^## Use it/{u=1} u&&/^```c$/{p=1;next} p&&/^```$/{exit} p' README.md > "$t/ex.c" &&
    [ -s "$t/ex.c" ] && cp tidal.h "$t/" &&
    gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -o "$t/ex_c" "$t/ex.c" -lm &&
    g++ -x c++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -o "$t/ex_cpp" "$t/ex.c" -lm &&
    (cd "$t" && ./ex_c && ./ex_c && rm -rf feed.db && ./ex_cpp) | grep -q 'item 7 score'
    rc=$?; cd "$here"; rm -rf "$t"; return $rc
}
check "example: README's, pasted into a file (C and C++)" readme_example
check "example: durable (write, exit without close, recover)" sh -c "rm -rf $B/durable.db && $B/durable $B/durable.db"
# The tables of contents at the top of tidal.h and tidal_sim.h list every // >> section, in order.
check "tidy: tidal.h's table of contents lists every section" sh tests/toc.sh tidal.h
check "tidy: tidal_sim.h's table of contents lists every section" sh tests/toc.sh tidal_sim.h
matrix
echo "(full output in $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
