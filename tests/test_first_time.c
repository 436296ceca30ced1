/* test_first_time.c - time at first contact (issue 11, points 2-4 and the profile lookup):
   plausible event and query times, one meaning for reads at a time before an aggregate's
   newest event (scores and windows against a brute-force model), half-life exactness
   against an analytic sum, no inf or NaN read with success, and tidal_profile_read.
   White-box where it needs to be: it includes the implementation. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "test_env.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S) /* a fixed "now" in 2026 */
#define H_NS (3600 * TIDAL_NS_PER_S)
#define MIN_NS (60 * TIDAL_NS_PER_S)

static void hex32(const uint8_t d[32], char out[65]) {
    int i;
    for (i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- whole-nanosecond half-lives keep their exact bits ----------------------------------
   The digests below were taken from the code before half-lives were kept exact (base commit
   8b1f659): whole-ns half-lives must still fold every event into the very same accumulators,
   epochs and buckets. A fixed stream (not the case seed: the digest is pinned). */

static void pin_run(int which, char out[65]) {
    static const double hl[6] = {3600.0, 1.0, 0.5, 1.5, 7e-9, 3.2e8};
    tidal_signal_def sigs[7];
    tidal_env env;
    test_clock clock;
    tidal_config cfg;
    tidal_db *db;
    uint8_t d[32];
    uint64_t rng = 0x5eed0000u + (uint64_t)which;
    int i;
    memset(sigs, 0, sizeof sigs);
    for (i = 0; i < 6; i++) {
        static const char *names[6] = {"h3600", "h1", "h05", "h15", "h7ns", "hmax"};
        sigs[i].name = names[i];
        sigs[i].half_life_s = hl[i];
        sigs[i].windows = (uint32_t)i % 2 ? TIDAL_WINDOW_1H | TIDAL_WINDOW_7D : 0;
    }
    sigs[6].name = "perm";
    sigs[6].permanent = 1;
    memset(&cfg, 0, sizeof cfg);
    test_env_make(&env, &clock, T0, 1);
    cfg.env = &env;
    cfg.schema.signals = sigs;
    cfg.schema.signal_count = 7;
    TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
    for (i = 0; i < 3000; i++) {
        tidal_signal s;
        uint64_t r = tt_next(&rng);
        memset(&s, 0, sizeof s);
        s.item = 1 + r % 13;
        s.type = (uint32_t)((r >> 8) % 7);
        s.weight = (double)((int64_t)((r >> 16) % 2001) - 700) / 16.0;
        /* Ages from a few ns (the 7 ns type) up to 40 days, and up to 50 s ahead. */
        switch ((r >> 32) % 4) {
        case 0: s.time_ns = T0 - (int64_t)(tt_next(&rng) % 200); break;
        case 1: s.time_ns = T0 - (int64_t)(tt_next(&rng) % (40 * 86400 * TIDAL_NS_PER_S)); break;
        case 2: s.time_ns = T0 - (int64_t)(tt_next(&rng) % (90 * TIDAL_NS_PER_S)); break;
        default: s.time_ns = T0 + (int64_t)(tt_next(&rng) % (50 * TIDAL_NS_PER_S)); break;
        }
        TT_EQ_INT(tidal_signal_write(db, &s, NULL), TIDAL_OK);
    }
    TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, d), TIDAL_OK);
    hex32(d, out);
    tidal_db_close(db);
}

static void t_pinned_whole_ns_digests(void) {
    static const char *want[3] = {
        "ac93657f4ea93f7efd75d3cd9c56be65f230335b58c0949b128efa2dd9b6cb22",
        "f995d6354343f4adb2718cb50d7ed96fb3e70d11ada10e15a05e15690d08b2f2",
        "fc76c157237f3a5a94dd4550bdf1ca901c3c13f4ce9adb09f9a247d533fd0c16"};
    char got[65];
    int i;
    for (i = 0; i < 3; i++) {
        pin_run(i, got);
        printf("  digest %d: %s\n", i, got);
        TT_CHECKF(!strcmp(got, want[i]), "run %d: digest %s, pinned %s", i, got, want[i]);
    }
}

static const tt_case tt_cases[] = {
    TT_CASE(t_pinned_whole_ns_digests),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
