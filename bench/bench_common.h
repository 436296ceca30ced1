/* bench_common.h - what the benchmark programs share: a seeded random stream, a wall clock
   (benchmarks only; tests never time), fatal-error helpers, and named sections chosen on
   the command line. Define BENCH_NAME (e.g. "bench_core") before including; include it
   after tidal.h. */
#ifndef TIDAL_BENCH_COMMON_H
#define TIDAL_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __GNUC__
#define BENCH_UNUSED __attribute__((unused)) /* not every program uses every helper */
#else
#define BENCH_UNUSED
#endif

BENCH_UNUSED static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, n) from the high 32 bits: a multiply-shift, no division, no modulo bias
   worth mentioning for n far below 2^32. */
BENCH_UNUSED static uint32_t pick(uint64_t r, uint32_t n) { return (uint32_t)(((r >> 32) * n) >> 32); }

BENCH_UNUSED static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

BENCH_UNUSED static void die(const char *what, const char *detail) {
    fprintf(stderr, BENCH_NAME ": %s: %s\n", what, detail);
    exit(1);
}

BENCH_UNUSED static void check(tidal_db *db, tidal_result r, const char *what) {
    if (r == TIDAL_OK) return;
    fprintf(stderr, BENCH_NAME ": %s: %s (%s)\n", what, tidal_strerror(r),
            db ? tidal_errmsg(db) : "");
    exit(1);
}

typedef struct bench_section {
    const char *name;
    void (*run)(void);
} bench_section;

/* Marks in want[] the sections named on the command line (all when none is named);
   exits with a usage line on an unknown name. Also makes stdout line-buffered even into a
   pipe, so a long run shows figures as they come. */
BENCH_UNUSED static void bench_select(int argc, char **argv, const bench_section *s, size_t n, int *want) {
    size_t k;
    int i;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (k = 0; k < n; k++) want[k] = argc < 2;
    for (i = 1; i < argc; i++) {
        for (k = 0; k < n && strcmp(argv[i], s[k].name); k++) {}
        if (k == n) {
            fprintf(stderr, "usage: %s [section...]\nsections:", argv[0]);
            for (k = 0; k < n; k++) fprintf(stderr, " %s", s[k].name);
            fprintf(stderr, "\n");
            exit(2);
        }
        want[k] = 1;
    }
}

#endif
