#!/bin/sh
# tests/run.sh - what `make test` runs: the test programs (plain and under ASan+UBSan), the
# fuzz corpus replays, the examples, and the compile matrix. Every suite's result is added
# up and the last line is "N passed, N failed". `sh tests/run.sh matrix` runs the matrix only.
B=${B:-build}
CC=${CC:-cc}
passed=0
failed=0
log=$B/test.log
: > "$log"

# A harness program: add its own "N passed, N failed" line to the totals.
suite() {
    name=$1; shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out" >> "$log"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    if [ -z "$line" ]; then p=0; f=1; fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -eq 0 ]; then echo "ok    $name ($p cases)"; else
        echo "FAIL  $name"; printf '%s\n' "$out" | grep -E 'FAIL|reproduce|Assert|ERROR|runtime error' | head -n 20
    fi
}

# A single check: one case, pass or fail by exit status.
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

for t in ${TESTS:-test_core test_blake3 test_parse test_sim_disk test_sim_net test_durability test_replication test_multiregion test_uat}; do
    suite "$t" "$B/$t"
    suite "$t (asan+ubsan)" "$B/asan_$t"
done
for prog in ${PROPS:-prop_replication prop_multiregion}; do
    suite "$prog" "$B/$prog"
    suite "$prog (asan+ubsan)" "$B/asan_$prog"
done
for f in query wal snapshot message merge export event config control peer; do
    check "fuzz corpus replay: $f" "$B/replay_fuzz_$f" "fuzz/corpus/$f"
done
check "example: quickstart" "$B/quickstart"
check "example: demo (3-region failover converges)" "$B/demo"
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
# The table of contents at the top of tidal.h lists every // >> section, in order.
check "tidy: tidal.h's table of contents lists every section" sh tests/toc.sh tidal.h
matrix
echo "(full output in $log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
