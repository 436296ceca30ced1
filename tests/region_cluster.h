/* region_cluster.h - a simulated cluster of NREG regions x 1 shard in availability mode with
   the signal types view (1 h half-life) and like (1 day), and the accessors tests of
   partitions and merges use on it (test_multiregion.c, test_idem.c). Include after tidal.h,
   tidal_sim.h and tidal_test.h, with MS and NREG defined. Static inline: a test that uses
   only some of them builds without warnings. */
#ifndef REGION_CLUSTER_H
#define REGION_CLUSTER_H

static tidal_signal_def g_sigs[2];

/* A new cluster from the case's seed; ckeys (n of them) its cohort keys. */
static inline tidal_sim_cluster *rc_new(const char *const *ckeys, uint32_t n) {
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    memset(g_sigs, 0, sizeof g_sigs);
    g_sigs[0].name = "view";
    g_sigs[0].half_life_s = 3600;
    g_sigs[1].name = "like";
    g_sigs[1].half_life_s = 86400;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = NREG;
    cfg.shards = 1;
    cfg.seed = tt_seed();
    cfg.schema.signals = g_sigs;
    cfg.schema.signal_count = 2;
    cfg.schema.cohort_keys = ckeys;
    cfg.schema.cohort_key_count = n;
    cfg.availability_mode = 1;
    c = tidal_sim_cluster_new(&cfg);
    TT_CHECK(c != NULL);
    return c;
}

static inline tidal_db *DB(tidal_sim_cluster *c, int r) {
    return tidal_sim_cluster_db(c, (uint16_t)r, 0);
}
static inline int64_t now_of(tidal_sim_cluster *c) { return tidal_sim_cluster_now(c); }
static inline void run_for(tidal_sim_cluster *c, int64_t ns) {
    tidal_sim_cluster_run(c, now_of(c) + ns);
}

static inline tidal_node_status status_of(tidal_sim_cluster *c, int r) {
    tidal_node_status st;
    memset(&st, 0, sizeof st);
    if (DB(c, r)) TT_EQ_INT(tidal_node_status_get(DB(c, r), &st), TIDAL_OK);
    return st;
}

/* Runs until a region other than not_region leads the highest epoch; returns it, or -1
   after max_ns of simulated time. */
static inline int wait_new_leader(tidal_sim_cluster *c, int not_region, int64_t max_ns) {
    int64_t end = now_of(c) + max_ns;
    while (now_of(c) < end) {
        int l = tidal_sim_cluster_leader(c, 0);
        if (l >= 0 && l != not_region) return l;
        run_for(c, 10 * MS);
    }
    return -1;
}

/* Runs until region r reports itself cut off from any leader; 1 if it did within max_ns. */
static inline int wait_cut_off(tidal_sim_cluster *c, int r, int64_t max_ns) {
    int64_t end = now_of(c) + max_ns;
    while (now_of(c) < end) {
        if (status_of(c, r).cut_off) return 1;
        run_for(c, 10 * MS);
    }
    return 0;
}

#endif
