/* fuzz_common.h - shared by the decoder fuzz targets: a fixed schema, a deterministic env,
   and an ephemeral database to decode into. White-box: includes the implementation. */
#ifndef TIDAL_FUZZ_COMMON_H
#define TIDAL_FUZZ_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "fuzz_alloc.h"

#define FZ_NOW (INT64_C(1790000000) * TIDAL_NS_PER_S)

typedef struct fz_env {
    tidal_env env;
    uint64_t rng;
} fz_env;

static int64_t fz_clock(void *user) {
    (void)user;
    return FZ_NOW;
}
static void fz_random(void *user, void *buf, size_t len) {
    fz_env *e = (fz_env *)user;
    size_t i;
    for (i = 0; i < len; i++) ((uint8_t *)buf)[i] = (uint8_t)(tidal__mix64(++e->rng) >> 7);
}

/* Aborts with a message: a broken property is a crash for libFuzzer. */
static void fz_require(int ok, const char *what) {
    if (ok) return;
    fprintf(stderr, "fuzz property failed: %s\n", what);
    abort();
}

/* Same schema as tests/test_core.c's fixture: view, like (24h + 30d), permanent buy. The
   node's region seeds its random stream: distinct regions give distinct event origins
   (two databases with one origin would take each other's events for duplicates). */
TIDAL__TESTING static tidal_db *fz_open_at(fz_env *e, uint16_t region) {
    static tidal_signal_def sigs[3];
    static const char *cohorts[2] = {"locale", "tier"};
    tidal_config cfg;
    tidal_db *db = NULL;
    memset(sigs, 0, sizeof sigs);
    sigs[0].name = "view";
    sigs[0].half_life_s = 3600;
    sigs[1].name = "like";
    sigs[1].half_life_s = 86400;
    sigs[1].windows = TIDAL_WINDOW_24H | TIDAL_WINDOW_30D;
    sigs[2].name = "buy";
    sigs[2].permanent = 1;
    memset(e, 0, sizeof *e);
    e->env = *tidal_env_posix();
    e->env.user = e;
    e->env.clock_wall_ns = fz_clock;
    e->env.clock_mono_ns = fz_clock;
    e->env.random_fill = fz_random;
    e->rng = (uint64_t)region << 40;
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &e->env;
    cfg.allocator = &fz_allocator;
    cfg.schema.signals = sigs;
    cfg.schema.signal_count = 3;
    cfg.schema.cohort_keys = cohorts;
    cfg.schema.cohort_key_count = 2;
    cfg.node.region = region;
    fz_require(tidal_db_open(&cfg, &db) == TIDAL_OK, "open");
    return db;
}

TIDAL__TESTING static tidal_db *fz_open(fz_env *e) { return fz_open_at(e, 0); }

TIDAL__TESTING static void fz_digest(tidal_db *db, uint8_t out[32]) {
    fz_require(tidal_db_digest(db, TIDAL_ALL_TENANTS, out) == TIDAL_OK, "digest");
}

#endif
