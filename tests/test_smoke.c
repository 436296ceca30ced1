/* test_smoke.c - the simulated cluster harness's smoke test from the planning notes
   (seeds/002): build a 2-region cluster, write 10 signals to the leader, await full
   convergence (2 s), and read the same decayed score in both regions - through the
   harness's own calls (tidal_sim.h >>sim_cluster_api: tidal_sim_cluster_leader_db,
   _follower_in, _await_convergence, _decay_score, _heal_all). A second case checks that
   awaiting convergence is bounded: cut off, the cluster does not converge and the call
   says so instead of hanging; once every partition is healed it converges. A third checks
   the ground truth is kept per group: a one-region group's member re-elects itself after
   its node restarts (an epoch marker of that group, not of group 0's shard).
   Everything runs in simulated time; no assertion depends on wall-clock timing. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include <math.h>

#define MS INT64_C(1000000)
#define SEC (1000 * MS)
#define TENANT 1u
#define WRITES 10

static const tidal_signal_def g_sigs[1] = {{"view", 3600.0, 0, 0, 0}};

static tidal_sim_cluster *smoke_cluster(void) {
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = 2;
    cfg.shards = 1;
    cfg.seed = tt_seed();
    cfg.schema.signals = g_sigs;
    cfg.schema.signal_count = 1;
    c = tidal_sim_cluster_new(&cfg);
    TT_CHECK(c != NULL);
    if (c) tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 300 * MS); /* elects */
    return c;
}

/* Writes WRITES signals of item `item` to the leader of its shard; returns the analytic
   decayed score at t: the sum of w * 2^(-(t - t_i) / half_life). */
static double write_ten(tidal_sim_cluster *c, tidal_id item, int64_t t) {
    tidal_db *leader = tidal_sim_cluster_leader_db(c, 0);
    long double want = 0;
    int i;
    TT_CHECK(leader != NULL);
    if (!leader) return 0;
    for (i = 0; i < WRITES; i++) {
        tidal_signal s;
        memset(&s, 0, sizeof s);
        s.tenant = TENANT;
        s.item = item;
        s.weight = 1.0 + i;
        s.time_ns = t - (int64_t)i * 60 * SEC;
        TT_EQ_INT(tidal_signal_write(leader, &s, NULL), TIDAL_OK);
        want += (long double)s.weight *
                exp2l(-(long double)(t - s.time_ns) / (long double)(g_sigs[0].half_life_s * 1e9));
    }
    return (double)want;
}

/* Both regions read the same decayed score of item at t, equal to want (6 decimals). */
static void check_scores(tidal_sim_cluster *c, tidal_id item, int64_t t, double want) {
    double score[2] = {-1, -1};
    uint16_t r;
    for (r = 0; r < 2; r++) {
        TT_EQ_INT(tidal_sim_cluster_decay_score(c, r, TENANT, item, 0, t, &score[r]), TIDAL_OK);
        TT_CHECKF(fabs(score[r] - want) <= 1e-6, "region %u: score %.9f, analytic %.9f", r,
                  score[r], want);
    }
    TT_CHECKF(fabs(score[0] - score[1]) <= 1e-6, "scores differ: %.9f vs %.9f", score[0],
              score[1]);
}

/* The notes' smoke test: 2 regions, 10 signals, converged within 2 s, equal scores. */
static void t_smoke_two_regions(void) {
    tidal_sim_cluster *c = smoke_cluster();
    int64_t t, waited = -1;
    double want;
    int l;
    if (!c) return;
    l = tidal_sim_cluster_leader(c, 0);
    TT_CHECKF(l >= 0, "no leader after 300 ms");
    if (l < 0) goto out;
    TT_CHECK(tidal_sim_cluster_follower_in(c, (uint16_t)l, 0) == NULL); /* it leads */
    TT_CHECK(tidal_sim_cluster_follower_in(c, (uint16_t)(1 - l), 0) != NULL);
    t = tidal_sim_cluster_now(c);
    want = write_ten(c, 42, t);
    TT_CHECKF(tidal_sim_cluster_await_convergence(c, 2 * SEC, &waited),
              "not converged within 2 s (simulated)");
    TT_CHECK(waited >= 0 && waited <= 2 * SEC);
    printf("  converged %.1f ms (simulated) after the writes\n", (double)waited / 1e6);
    check_scores(c, 42, t, want);
    {
        tidal_signal s; /* and the follower refuses a write */
        memset(&s, 0, sizeof s);
        s.tenant = TENANT;
        s.item = 42;
        s.weight = 1.0;
        TT_EQ_INT(tidal_signal_write(tidal_sim_cluster_follower_in(c, (uint16_t)(1 - l), 0), &s,
                                     NULL),
                  TIDAL_ERR_READ_ONLY);
    }
out:
    tidal_sim_cluster_free(c);
}

/* Cut off, the follower cannot catch up: awaiting convergence gives up after its timeout
   (returns 0, having run exactly that long); heal_all heals every partition and the
   cluster converges with equal scores. */
static void t_smoke_await_is_bounded(void) {
    tidal_sim_cluster *c = smoke_cluster();
    int64_t t, waited = -1;
    double want;
    uint32_t h1, h2;
    tidal_node_ref n0 = {0, 0}, n1 = {1, 0};
    if (!c) return;
    TT_CHECKF(tidal_sim_cluster_converged(c), "a new cluster with no writes is not converged");
    h1 = tidal_sim_net_partition_regions(tidal_sim_cluster_net(c), 0, 1, 0);
    h2 = tidal_sim_net_partition_regions(tidal_sim_cluster_net(c), 1, 0, 1);
    TT_CHECK(h1 != 0 && h2 != 0 && h1 != h2);
    t = tidal_sim_cluster_now(c);
    want = write_ten(c, 7, t); /* taken at once: the leader has not noticed the cut yet */
    TT_CHECK(!tidal_sim_cluster_await_convergence(c, 500 * MS, &waited));
    TT_CHECKF(waited == 500 * MS, "waited %lld ns, not the 500 ms timeout", (long long)waited);
    TT_CHECK(!tidal_sim_cluster_converged(c));
    TT_EQ_INT(tidal_sim_cluster_heal_all(c), 2);
    TT_EQ_INT(tidal_sim_cluster_heal_all(c), 0);
    TT_CHECK(tidal_sim_net_reachable(tidal_sim_cluster_net(c), n1, n0));
    TT_CHECKF(tidal_sim_cluster_await_convergence(c, 10 * SEC, &waited),
              "not converged within 10 s of the heal");
    printf("  converged %.1f ms (simulated) after the heal\n", (double)waited / 1e6);
    check_scores(c, 7, t, want);
    tidal_sim_cluster_free(c);
}

/* The ground truth by group (tidal_sim_cluster_group_truth): region 1 also runs a group of
   its own (placement 0x2); after node (1, 0) restarts, that member leads again and writes
   an epoch marker, recorded under that group. Group 0's truth then equals group 0's
   replicas, digest and events (the UAT's heal check once counted such a marker for group
   0's shard and found every replica one event short). */
static void t_truth_by_group(void) {
    static const uint32_t own[1] = {0x2u};
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    tidal_db *truth = NULL;
    uint32_t before, g0, gg;
    int g, r;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = 2;
    cfg.shards = 1;
    cfg.seed = tt_seed();
    cfg.schema.signals = g_sigs;
    cfg.schema.signal_count = 1;
    cfg.placements = own;
    cfg.placement_count = 1;
    c = tidal_sim_cluster_new(&cfg);
    TT_CHECK(c != NULL);
    if (!c) return;
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 300 * MS);
    g = tidal_sim_cluster_group_add(c, 0x2u);
    TT_CHECKF(g > 1, "the placement 0x2 has group %d", g);
    (void)write_ten(c, 42, tidal_sim_cluster_now(c));
    before = tidal_sim_cluster_group_events(c, (uint32_t)g);
    tidal_sim_cluster_crash(c, 1, 0);
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 300 * MS);
    TT_EQ_INT(tidal_sim_cluster_restart(c, 1, 0), TIDAL_OK);
    TT_CHECKF(tidal_sim_cluster_await_convergence(c, 10 * SEC, NULL), "not converged in 10 s");
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 3 * SEC); /* the re-election */
    g0 = tidal_sim_cluster_group_events(c, 0);
    gg = g > 1 ? tidal_sim_cluster_group_events(c, (uint32_t)g) : 0;
    TT_CHECKF(gg > before, "group %d's member wrote no epoch marker after its restart (%u, %u "
              "before)", g, gg, before);
    TT_CHECKF(g0 + gg == tidal_sim_cluster_events(c), "group 0 %u + group %d %u events, %u "
              "recorded", g0, g, gg, tidal_sim_cluster_events(c));
    TT_EQ_INT(tidal_sim_cluster_group_truth(c, 0, NULL, NULL, &truth), TIDAL_OK);
    for (r = 0; truth && r < 2; r++) {
        tidal_db *db = tidal_sim_cluster_group_db(c, 0, (uint16_t)r, 0);
        tidal_db_stats a, b;
        uint8_t da[32], db_[32];
        TT_CHECK(db != NULL);
        if (!db) continue;
        tidal_db_stats_get(truth, &a);
        tidal_db_stats_get(db, &b);
        TT_CHECKF(a.events_applied == b.events_applied, "region %d's group 0 member applied "
                  "%llu events, group 0's truth %llu", r, (unsigned long long)b.events_applied,
                  (unsigned long long)a.events_applied);
        TT_EQ_INT(tidal_db_digest(truth, TIDAL_ALL_TENANTS, da), TIDAL_OK);
        TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, db_), TIDAL_OK);
        TT_CHECKF(!memcmp(da, db_, 32), "region %d's group 0 digest differs from the truth's", r);
    }
    if (truth) tidal_db_close(truth);
    tidal_sim_cluster_free(c);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_smoke_two_regions),
    TT_CASE(t_smoke_await_is_bounded),
    TT_CASE(t_truth_by_group),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
