/* tidal_test.h - the project's small test harness (stb-style, header only).

   Usage, in one test program:
       #include "tidal_test.h"
       static void t_decay(void) { TT_CHECK(1 + 1 == 2); }
       static const tt_case tt_cases[] = { TT_CASE(t_decay), ... };
       int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }

   Each case runs with a seed, printed before it starts: TIDAL_SEED=<n> or --seed <n> fixes
   it, otherwise it is derived from the case name (fixed, so runs are reproducible). A
   failing check prints file:line and the one-line command that reruns that case with that
   seed. --filter <substr> runs a subset; --scale <n> multiplies property budgets
   (tt_scale()). --base <n> derives every case's seed from n and the case name instead of
   the name alone, so a run explores seeds no fixed run tries (make explore draws n at
   random); seeds are still printed, and a failure's reproduce line fixes the case's seed.
   Only --seed or TIDAL_SEED counts as tt_seed_fixed(). The last line is "N passed, N
   failed". Exit status 1 if anything failed.
*/
#ifndef TIDAL_TEST_H
#define TIDAL_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __GNUC__
#define TT_UNUSED __attribute__((unused))
#else
#define TT_UNUSED
#endif

typedef struct tt_case {
    const char *name;
    void (*fn)(void);
} tt_case;

#define TT_CASE(fn) {#fn, fn}
#define TT_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct tt_state {
    const char *prog;
    const char *current;
    uint64_t seed;
    int failed_checks;
    long scale;
    uint64_t rng;
    int seed_fixed; /* --seed or TIDAL_SEED given: every case runs with exactly that seed */
    int base_given; /* --base given: case seeds derive from base and the case name */
    uint64_t base;
} tt_state;

static tt_state tt_g; /* the harness's only global: test programs are single-threaded */

TT_UNUSED static uint64_t tt_seed(void) { return tt_g.seed; }
TT_UNUSED static long tt_scale(void) { return tt_g.scale; }
TT_UNUSED static int tt_seed_fixed(void) { return tt_g.seed_fixed; }

/* splitmix64: the tests' random stream, seeded by the case seed. */
TT_UNUSED static uint64_t tt_next(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}
TT_UNUSED static uint64_t tt_rand(void) { return tt_next(&tt_g.rng); }
/* Uniform in [0, n); n > 0. */
TT_UNUSED static uint64_t tt_below(uint64_t n) { return n ? tt_rand() % n : 0; }
/* Uniform in [0, 1). */
TT_UNUSED static double tt_unit(void) { return (double)(tt_rand() >> 11) * (1.0 / 9007199254740992.0); }

static void tt_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    tt_g.failed_checks++;
    if (tt_g.failed_checks > 10) return; /* one broken loop must not flood the log */
    fprintf(stderr, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  reproduce: %s --filter %s --seed %" PRIu64 "\n", tt_g.prog,
            tt_g.current, tt_g.seed);
}

#define TT_CHECK(c)                                                              \
    do {                                                                         \
        if (!(c)) tt_fail(__FILE__, __LINE__, "%s", #c);                         \
    } while (0)
#define TT_CHECKF(c, ...)                                                        \
    do {                                                                         \
        if (!(c)) tt_fail(__FILE__, __LINE__, __VA_ARGS__);                      \
    } while (0)
#define TT_EQ_INT(a, b)                                                          \
    do {                                                                         \
        long long tt_a_ = (long long)(a), tt_b_ = (long long)(b);                \
        if (tt_a_ != tt_b_)                                                      \
            tt_fail(__FILE__, __LINE__, "%s == %s (%lld vs %lld)", #a, #b, tt_a_, tt_b_); \
    } while (0)
#define TT_NEAR(a, b, tol)                                                       \
    do {                                                                         \
        double tt_a_ = (double)(a), tt_b_ = (double)(b);                         \
        if (!(fabs(tt_a_ - tt_b_) <= (tol)))                                     \
            tt_fail(__FILE__, __LINE__, "%s ~ %s (%.17g vs %.17g, tol %g)", #a, #b, \
                    tt_a_, tt_b_, (double)(tol));                                \
    } while (0)
/* True while the current case has not failed: lets loops stop at the first failure. */
#define TT_OK() (tt_g.failed_checks == 0)

static uint64_t tt_hash_name(const char *s) {
    uint64_t h = UINT64_C(1469598103934665603);
    while (*s) h = (h ^ (uint8_t)*s++) * UINT64_C(1099511628211);
    return h;
}

static int tt_main(int argc, char **argv, const tt_case *cases, int n) {
    const char *filter = NULL, *env = getenv("TIDAL_SEED");
    int fixed_seed = 0, passed = 0, failed = 0, i;
    uint64_t seed = 0;
    tt_g.prog = argv[0];
    tt_g.scale = 1;
    if (env && *env) {
        seed = strtoull(env, NULL, 0);
        fixed_seed = 1;
    }
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
            fixed_seed = 1;
        } else if (!strcmp(argv[i], "--scale") && i + 1 < argc) {
            tt_g.scale = strtol(argv[++i], NULL, 0);
            if (tt_g.scale < 1) tt_g.scale = 1;
        } else if (!strcmp(argv[i], "--base") && i + 1 < argc) {
            tt_g.base = strtoull(argv[++i], NULL, 0);
            tt_g.base_given = 1;
        } else {
            fprintf(stderr, "usage: %s [--filter substr] [--seed n] [--scale n] [--base n]\n",
                    argv[0]);
            return 2;
        }
    }
    for (i = 0; i < n; i++) {
        if (filter && !strstr(cases[i].name, filter)) continue;
        tt_g.current = cases[i].name;
        tt_g.seed_fixed = fixed_seed;
        tt_g.seed = fixed_seed ? seed : tt_hash_name(cases[i].name);
        if (!fixed_seed && tt_g.base_given) { /* a fresh seed per base, still one per case */
            uint64_t z = tt_g.seed ^ tt_g.base;
            tt_g.seed = tt_next(&z);
        }
        tt_g.rng = tt_g.seed;
        tt_g.failed_checks = 0;
        printf("[ run  ] %s seed=%" PRIu64 "\n", cases[i].name, tt_g.seed);
        fflush(stdout);
        cases[i].fn();
        if (tt_g.failed_checks) {
            failed++;
            printf("[ FAIL ] %s (%d failed checks)\n", cases[i].name, tt_g.failed_checks);
        } else {
            passed++;
            printf("[  ok  ] %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif /* TIDAL_TEST_H */
