/* test_env.h - a deterministic env for tests: a wall clock the test sets, and randomness
   from a seeded splitmix64 stream. Files go to the POSIX env (ephemeral tests use none). */
#ifndef TIDAL_TEST_ENV_H
#define TIDAL_TEST_ENV_H

typedef struct test_clock {
    int64_t now_ns;
    uint64_t rng;
} test_clock;

static int64_t test_env_wall(void *user) { return ((test_clock *)user)->now_ns; }
static void test_env_random(void *user, void *buf, size_t len) {
    test_clock *c = (test_clock *)user;
    size_t i;
    for (i = 0; i < len; i++) {
        uint64_t z = (c->rng += UINT64_C(0x9E3779B97F4A7C15));
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        ((uint8_t *)buf)[i] = (uint8_t)(z ^ (z >> 31));
    }
}

/* Fills env from the POSIX env, then points clocks and randomness at c. */
static void test_env_make(tidal_env *env, test_clock *c, int64_t now_ns, uint64_t seed) {
    *env = *tidal_env_posix();
    c->now_ns = now_ns;
    c->rng = seed;
    env->user = c;
    env->clock_wall_ns = test_env_wall;
    env->clock_mono_ns = test_env_wall;
    env->random_fill = test_env_random;
}

#endif
