/* bench_sim.c - replication and failover figures on the deterministic simulated cluster
   (tidal_sim.h), and the wall-clock cost of simulating one.

   Output: one line per figure, `name: value unit`; section headers start with '#'.
   Usage:  bench_sim [--seed N] [--segment BYTES] [section...]
           sections: lag failover failover500 throughput reconcile merge session uat control
           gather transfer ship membership
           (none given: all, in that order).
           --seed N adds N to every seed: `--seed 1`, `--seed 2` ... are independent
           simulated runs of the same workload; without it every run is the same run.
           --segment BYTES: WAL segment size of every node (default 256 KiB; 0 = the
           library default, 64 MiB - see "Segments" below).

   Time. lag, failover, session and reconcile_20k_sim_ms report SIMULATED time (the
   cluster's virtual clock): for a given seed they are the same on every machine and every
   run. throughput's, reconcile's and merge's wall figures read the real clock,
   clock_gettime(CLOCK_MONOTONIC); on a shared machine they move with the load (CPU time is
   given on '#' lines where it helps).

   The cluster: tidal_sim_cluster, regions x shards nodes, each a replicated tidal_db with
   its own simulated disk (fsync costs no simulated time) on one simulated network with
   the default latencies (same region 0.1-2 ms, across regions 20-150 ms, uniform per
   message), no loss; every node ticked every 10 ms; library defaults for heartbeat
   (100 ms), retransmit (400 ms) and election timeout (1 s: a follower runs after a
   random [1 s, 2 s) of leader silence) unless a section says otherwise.

   Segments. The simulated disk's file_sync copies the file's whole current image into
   its durable image, so one fsync costs O(segment length), not O(bytes written since the
   last one): with the library's 64 MiB segments the lag section alone took 92 s of wall
   time (57% memmove + 35% memset in tidal_sim__env_sync) instead of 4 s. The simulated
   figures do not depend on the segment size (disk time is not simulated); the wall
   figure does, hence 256 KiB segments by default here.

   1. lag: 3 regions x 1 shard. The leader (region 0) writes 25,000 signals/s of simulated
      time for 20 s, in batches (tidal_db_batch_begin/commit) every 1-5 ms (uniform). For
      every committed batch: its commit time and last lsn. A follower has the batch at the
      first simulated instant its tidal_node_status_get().leader_lsn >= that lsn; lag =
      that instant - commit time. Observed exactly rather than in 1 ms steps: an observer
      (tidal_sim_cluster_set_observer) looks after every delivery and every tick, the only
      moments leader_lsn and the leader's quorum position can change. quorum_ack: the
      first instant tidal_write_acked(leader, lsn, TIDAL_ACK_QUORUM) is 1, minus commit
      time. Percentiles are nearest-rank over all (batch, follower) pairs.
   2. failover: 100 seeds of a 3 x 1 cluster; the leader writes 5,000 signals/s (a batch
      of 50 every 10 ms) and crashes (tidal_sim_cluster_crash) at a random instant in
      [1 s, 3 s). Failover = from the crash to the first 1 ms step after which
      tidal_sim_cluster_leader() names a live node and tidal_signal_write() on it returns
      TIDAL_OK. A seed with no such node 10 s after the crash is counted as failed, not
      in the percentiles. failover500: the same with a 500 ms election timeout (not a
      requested figure: whether a shorter timeout alone helps).
   3. throughput: 3 regions x 5 shards (15 nodes). Each 1 ms of simulated time, 1,000
      signals on random items go to the leader of shard item % 5, one batch per shard;
      the loop runs for ~10 s of wall time, then the cluster runs (no more writes) until
      every follower holds every batch. sim_signals_per_s_wall = signals / wall time of
      both; sim_seconds_covered = simulated time of both.
   4. reconcile (DESIGN 8: 20K divergent events, decode, verify, dedupe, merge): 3 regions
      x 1 shard in availability mode. Region 0 (the leader) is isolated
      (tidal_sim_net_isolate_region); regions 1-2 elect a leader. Both sides then write
      10,000 signals each (the old leader as its own origin, acknowledged LOCAL), on items
      of a shared range of 3,000 (so aggregates collide), each with a user of 50,000 and
      that user's locale/tier cohort tags. The majority side replicates its own writes,
      then the partition heals. reconcile_20k_events_ms = WALL time from the heal to the
      first instant all 3 replicas hold every event (observer after every delivery and
      tick): the replication path does the work (BLAKE3-checked messages, decode, dedupe
      by id, fold, each replica's own log), but the figure also contains the simulator's
      own work and the election that follows the heal. reconcile_20k_sim_ms = the same in
      simulated time. Verified: every replica's tidal_db_digest equals that of
      tidal_sim_cluster_truth (a node that applied the union); exits 1 otherwise. The same
      seed 5 times (identical simulated runs, so only the wall varies); the best wall is
      reported, since on a shared machine other load only ever adds to it.
   5. merge: the bare cost, no simulator, network or log: two ephemeral dbs (different
      node ids) each write the reconcile workload's 10,000 signals, captured with
      tidal_db_set_event_hook; then each imports the other's with tidal_event_import
      (decode, validate, dedupe, fold). merge_20k_events_ms = wall time of the 20,000
      imports, best of 7 reps (fresh dbs each). Verified: equal digests, 20,000 events
      applied on each. A '#' line adds BLAKE3 over the bytes (import itself checks
      structure, not a checksum; tidal's messages carry one) and a re-import of the same
      events (all duplicates).
   6. session: 3 regions x 2 shards; region A = 0 leads shard 0, region B leads shard 1
      (its region-0 node is crashed and restarted before the run, so another region
      wins). Background: 10 signals every 2 ms to each shard leader. 24 sessions start in
      A (tidal_session_start on A's shard-0 leader) and write seq 1, 2, ... every 20-200
      ms; 12 stay in A (50 writes: visible when B's shard-0 replica has hwm >= seq), 12
      roam after seq 30: tidal_session_open on B's shard-1 leader (same id, user, start),
      seq 31..60 written there, visible back in A when A's shard-1 replica holds that many
      journal entries (a region writes to the group it leads, so the roamed part of the
      journal lives in B's group). Visibility = first instant (observer after every
      delivery and tick) the other region shows the write, minus the write's instant;
      nearest-rank percentiles over all 1,320 writes. Target (DESIGN 8): p99 <= one
      inter-region latency (150 ms at most) + 50 ms, which needs pipelined appends: a
      leader that waited for each ack before the next batch added a round trip.
   7. uat: the acceptance scenario of tests/test_uat.c (tests/uat_scenario.h: 3 regions x 5
      shards, availability mode, 25,000 signals/s of simulated time during the load; step 1
      cross-region reads, step 2 a shard leader's crash, step 3 ap-south isolated with
      writes on both sides, step 4 the heal, step 5 tenant 3 moved to eu-west alone under
      5,000 signals/s of its own writes) with every one of its checks, once, with a
      fixed seed and 256 KiB segments (the scenario's own; --segment does not apply).
      uat_wall_s = WALL time of the whole run, checks included (params.light: the log
      files are not decoded and the hidden-item observer samples one member every 4th
      step, as it always did here; test_uat runs those two in full). The other figures are
      SIMULATED except the last: uat_replication_lag_p99_ms = step 1's lag (first instant a
      follower's leader_lsn covers a batch, minus its commit), over both followers of all 5
      shards; uat_failover_ms = the crash to the first write the new leader takes;
      uat_reconcile_ms = the heal to the first 10 ms step at which every shard group has
      one leader and all replicas equal the shard's ground truth;
      retrieve_scatter_host_p99_us = WALL time of tidal_retrieve_gather (5 shards,
      RETRIEVE ... COHORT locale:EU LIMIT 50 from us-east, every 25 ms of simulated load),
      nearest-rank p99 (the gather section prints retrieve_scatter_p99_us, the same through
      messages); migration_ms =
      SIMULATED time from the placement change to the moment every old replica holds
      nothing of the tenant (migration_switch_ms: to the moment the new group owns it, the
      end of the window in which the old group refuses the tenant's writes with
      TIDAL_ERR_MOVED and clients retry); migration_write_wait_max_ms = SIMULATED time, the
      longest any client write of the moving tenant waited from its first try to the try
      that was taken (refusals with MOVED or READ_ONLY, retried every 1-5 ms tick; the
      scenario asserts <= 500 ms). Verified: every check
      of the scenario passed (uat_verified: 0 and exit 1 otherwise).
   8. control: the control plane's replicated log (tidal.h >>control) alone: 3 members, one
      per region, each on its own simulated disk; the default latencies (across regions
      20-150 ms), no loss. After the first election, 2,000 tenant records are proposed at
      the leader, one every 10-50 ms (uniform) of simulated time. control_commit = SIMULATED
      time from tidal_control_propose to the first instant (after every delivery, and every
      10 ms tick) the leader's tidal_control_proposal_status says committed: a majority
      (the leader and one follower) fsynced it; nearest-rank percentiles. Exits 1 if a
      record is lost or not committed within 600 s of simulated time.
   9. gather: scatter-gather through messages (tidal_peer_gather, tidal.h >>node_gather) on
      the tests' peer world (tests/peer_world.h: 3 regions x 2 shards of tidal_peers, the
      default latencies): 6,000 signals per tenant over 2,000 items, then 2,000 gathers
      (RETRIEVE ... LIMIT 50 AT a fixed instant) one at a time from random nodes, tenants 1
      (every region) and 2 (regions 0-1) alternating. peer_gather_p50/p99_us = CPU time of
      this thread (CLOCK_THREAD_CPUTIME_ID) inside the library per gather: the call plus
      every tidal_peer_receive of its GATHER_Q and GATHER_A messages, summed (simulated
      latency, heartbeats, replication and the loop excluded; the wall-clock equivalent
      on a '#' line). retrieve_scatter_p99_us = that wall-clock sum's p99: the library's
      own scatter-gather through messages (parse, the local shard's RETRIEVE, each
      replica's RETRIEVE and answer encoding, each answer's decode and merge, the
      completion), i.e. the host work a gather costs; it is NOT the time a client waits,
      since the network is simulated and its latency costs no wall time: that wait is
      peer_gather_sim_p50/p99_ms = SIMULATED time from the call to its completion (a
      round trip to the farthest replica asked: 0.2-4 ms inside a region, 40-300 ms across
      regions). Before the gather went through messages, retrieve_scatter_p99_us timed
      tidal_retrieve_gather over handles in the uat section; that figure is
      retrieve_scatter_host_p99_us now. gather_host_scatter_p99_us = CPU time of the
      host-side tidal_retrieve_gather (what the uat section's retrieve_scatter_host_p99_us
      times on the wall clock) over region 0's members, same query, for comparison.
      peer_control_commit_p50/p99_ms = SIMULATED time from tidal_peer_propose on a random
      node to its OK completion there, 200 records one at a time.
  10. transfer: 100 seeds of a 3 x 1 cluster loaded as in failover; at a random instant in
      [1 s, 2 s) the leader calls tidal_replica_transfer to the next region.
      leader_transfer_ms = SIMULATED time from the call to the first 1 ms step at which the
      target leads and tidal_signal_write() on it returns TIDAL_OK (p50; _p99 and _max
      beside it); the last batch the target lacks, the TIMEOUT_NOW (one way, sent beside
      it) and a round of votes: about one round trip. A seed whose target does not lead
      within 1 s counts as failed.
  11. membership: the peer world of gather; 20,000 QUORUM signals over 9,000 items (the
      UAT's 3 load tenants x 3,000 items) written to group 0 shard 1; node (2,1)'s disk is
      destroyed, it is removed (tidal_peer_member_remove), and a fresh node in its place
      is added (tidal_peer_member_add). member_replace_catchup_ms = SIMULATED time from the
      add's commit to the first 1 ms step at which the new member is a voter on its own
      node (learner catch-up by state transfer, rule L5's epoch, the promotion record
      committed and applied); median of 3 seeds, _max beside it. */

#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
/* tidal_sim.h's assertions compile to nothing under -DNDEBUG, which leaves variables that
   only its assertions read unused (-Werror=unused-variable). sizeof keeps them referenced
   without evaluating anything. */
#ifdef NDEBUG
#define TIDAL_SIM_ASSERT(x) ((void)sizeof((x) ? 1 : 0))
#endif
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"

#define BENCH_NAME "bench_sim"
#include "bench_common.h"
#include "../tests/uat_scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- common ----------------------------------------------------------------------------- */

#define MS INT64_C(1000000)
#define NS_PER_MS 1e6

static uint64_t g_seed_offset = 0;                     /* --seed N */
static uint64_t g_segment_bytes = UINT64_C(256) << 10; /* --segment BYTES; 0 = library default */

/* Every seed of the bench goes through here: --seed N moves all of them by N times an odd
   64-bit constant, so runs with different N share no seed (a plain +N would make seed i of
   run N+1 the seed i+1 of run N). */
static uint64_t run_seed(uint64_t seed) {
    return seed + g_seed_offset * UINT64_C(0x9E3779B97F4A7C15);
}



/* Uniform in [lo, hi] nanoseconds. */
static int64_t uniform_ns(uint64_t *rng, int64_t lo, int64_t hi) {
    return lo + (int64_t)(splitmix64(rng) % (uint64_t)(hi - lo + 1));
}


/* CPU time of this process: on a shared machine the wall figure moves with the neighbours'
   load, this one much less. Reported on '#' lines only. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}



static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("malloc", "out of memory");
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array: the ceil(p * n)-th value. */
static double percentile(const double *sorted, size_t n, double p) {
    size_t i = (size_t)(p * (double)n + 0.999999);
    if (n == 0) return 0.0;
    if (i == 0) i = 1;
    if (i > n) i = n;
    return sorted[i - 1];
}

static const tidal_tag sg_no_tags[1] = {{"locale", "none"}};
static const tidal_signal_def bench_sigs[2] = {{"view", 3600.0, 0, 0, 0},
                                               {"like", 86400.0, 0, 0, 0}};

static tidal_sim_cluster *cluster_make(uint16_t regions, uint16_t shards, uint64_t seed,
                                       uint64_t segment_bytes, int64_t election_timeout_ns) {
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = regions;
    cfg.shards = shards;
    cfg.seed = run_seed(seed);
    cfg.schema.signals = bench_sigs;
    cfg.schema.signal_count = 2;
    cfg.segment_bytes_max = segment_bytes;
    cfg.election_timeout_ns = election_timeout_ns; /* 0: the library default (1 s) */
    c = tidal_sim_cluster_new(&cfg);
    if (!c) die("tidal_sim_cluster_new", "failed (invalid config or a node failed to open)");
    return c;
}

/* One signal on a random item of [1, n_items] (or the given item), view or like (1 in 8),
   event time = the node's clock. */
static tidal_result write_one(tidal_db *db, uint64_t *rng, tidal_id item, uint32_t n_items,
                              tidal_receipt *rc) {
    tidal_signal s;
    uint64_t r = splitmix64(rng);
    memset(&s, 0, sizeof s);
    s.item = item ? item : 1 + pick(r, n_items);
    s.type = (r & 7) == 0 ? 1u : 0u;
    s.weight = 1.0;
    return tidal_signal_write(db, &s, rc);
}

static void net_stats_line(const char *section, tidal_sim_cluster *c) {
    tidal_sim_net_stats ns;
    tidal_sim_net_stats_get(tidal_sim_cluster_net(c), &ns);
    printf("# %s: net sent %llu, delivered %llu, dropped down %llu, overflow %llu, in flight %llu "
           "(%.1f MB)\n",
           section, (unsigned long long)ns.sent, (unsigned long long)ns.delivered,
           (unsigned long long)ns.dropped_down, (unsigned long long)ns.dropped_overflow,
           (unsigned long long)ns.in_flight, (double)ns.in_flight_bytes / 1e6);
}

/* ---- 1. lag: replication lag and quorum acknowledgment at 25K signals/s ---------------- */

#define LAG_SEED UINT64_C(0x6c61672d31)
#define LAG_RATE 25000.0          /* signals per simulated second */
#define LAG_SECONDS 20
#define LAG_ITEMS 100000u
#define LAG_DRAIN_NS (10000 * MS) /* after the load: how long to wait for the stragglers */
#define LAG_FOLLOWERS 2

typedef struct lag_batch {
    int64_t commit_ns;
    uint64_t lsn;
    uint32_t events;
} lag_batch;

typedef struct lag_ctx {
    lag_batch *b;
    size_t n, cap;
    size_t f_next[LAG_FOLLOWERS]; /* first batch follower region 1 + k does not hold yet */
    size_t q_next;                /* first batch not yet quorum-acknowledged */
    double *lag_ms[LAG_FOLLOWERS];
    double *quorum_ms;
} lag_ctx;

/* Runs after every delivery and every tick: the only moments a follower's leader_lsn or
   the leader's quorum position move, so these instants are exact. */
static void lag_observe(void *vctx, tidal_sim_cluster *c) {
    lag_ctx *x = (lag_ctx *)vctx;
    int64_t now = tidal_sim_cluster_now(c);
    tidal_db *leader = tidal_sim_cluster_db(c, 0, 0);
    int k;
    for (k = 0; k < LAG_FOLLOWERS; k++) {
        tidal_db *f = tidal_sim_cluster_db(c, (uint16_t)(k + 1), 0);
        tidal_node_status st;
        if (!f || x->f_next[k] == x->n || tidal_node_status_get(f, &st) != TIDAL_OK) continue;
        while (x->f_next[k] < x->n && st.leader_lsn >= x->b[x->f_next[k]].lsn) {
            x->lag_ms[k][x->f_next[k]] = (double)(now - x->b[x->f_next[k]].commit_ns) / NS_PER_MS;
            x->f_next[k]++;
        }
    }
    while (leader && x->q_next < x->n &&
           tidal_write_acked(leader, x->b[x->q_next].lsn, TIDAL_ACK_QUORUM)) {
        x->quorum_ms[x->q_next] = (double)(now - x->b[x->q_next].commit_ns) / NS_PER_MS;
        x->q_next++;
    }
}

static void section_lag(void) {
    tidal_sim_cluster *c = cluster_make(3, 1, LAG_SEED, g_segment_bytes, 0);
    tidal_db *leader;
    lag_ctx x;
    uint64_t rng = run_seed(LAG_SEED ^ 0x77726974);
    int64_t t0, t_end, now;
    double carry = 0.0, *all, w0 = wall_s();
    uint64_t events = 0;
    size_t i, n_all = 0;
    int k;
    tidal_node_status st;
    printf("# lag: 3 regions x 1 shard, leader region 0 writes %.0f signals/s for %d s simulated, "
           "a batch every 1-5 ms; lag = first instant follower leader_lsn >= batch lsn, minus "
           "commit time (simulated ms)\n", LAG_RATE, LAG_SECONDS);
    memset(&x, 0, sizeof x);
    x.cap = (size_t)LAG_SECONDS * 1000 + 16; /* at most one batch per simulated ms */
    x.b = (lag_batch *)xmalloc(x.cap * sizeof *x.b);
    for (k = 0; k < LAG_FOLLOWERS; k++) x.lag_ms[k] = (double *)xmalloc(x.cap * sizeof(double));
    x.quorum_ms = (double *)xmalloc(x.cap * sizeof(double));
    tidal_sim_cluster_set_observer(c, lag_observe, &x);
    /* Let the fresh group settle: heartbeats have reached both followers. */
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 500 * MS);
    if (tidal_sim_cluster_leader(c, 0) != 0) die("lag", "region 0 is not leading a fresh group");
    leader = tidal_sim_cluster_db(c, 0, 0);
    t0 = tidal_sim_cluster_now(c);
    t_end = t0 + (int64_t)LAG_SECONDS * 1000 * MS;
    now = t0;
    while (now < t_end) {
        int64_t gap = uniform_ns(&rng, 1 * MS, 5 * MS);
        uint32_t n, j;
        tidal_receipt rc;
        tidal_sim_cluster_run(c, now + gap);
        now = tidal_sim_cluster_now(c);
        carry += LAG_RATE * (double)gap / 1e9;
        n = (uint32_t)carry;
        carry -= (double)n;
        if (!n) continue;
        if (x.n == x.cap) die("lag", "batch table full");
        memset(&rc, 0, sizeof rc);
        check(leader, tidal_db_batch_begin(leader), "lag batch_begin");
        for (j = 0; j < n; j++)
            check(leader, write_one(leader, &rng, 0, LAG_ITEMS, &rc), "lag write");
        check(leader, tidal_db_commit(leader), "lag commit");
        x.b[x.n].commit_ns = now;
        x.b[x.n].lsn = rc.lsn;
        x.b[x.n].events = n;
        x.n++;
        events += n;
    }
    /* No more writes: run until every follower holds every batch (or give up). */
    while (now < t_end + LAG_DRAIN_NS &&
           (x.f_next[0] < x.n || x.f_next[1] < x.n || x.q_next < x.n)) {
        tidal_sim_cluster_run(c, now + 10 * MS);
        now = tidal_sim_cluster_now(c);
    }
    printf("# lag: %zu batches, %llu signals, leader durable lsn %llu; %.1f s wall\n", x.n,
           (unsigned long long)events, (unsigned long long)tidal_db_durable_lsn(leader),
           wall_s() - w0);
    net_stats_line("lag", c);
    for (k = 0; k < LAG_FOLLOWERS; k++) {
        tidal_db *f = tidal_sim_cluster_db(c, (uint16_t)(k + 1), 0);
        if (x.f_next[k] < x.n)
            printf("# lag: WARNING follower region %d holds only %zu of %zu batches %.0f s after "
                   "the load stopped\n", k + 1, x.f_next[k], x.n, (double)LAG_DRAIN_NS / 1e9);
        if (f && tidal_node_status_get(f, &st) == TIDAL_OK)
            printf("# lag: follower region %d: epoch %llu, leader_lsn %llu, msgs received %llu, "
                   "corrupt %llu, fenced %llu\n", k + 1, (unsigned long long)st.epoch,
                   (unsigned long long)st.leader_lsn, (unsigned long long)st.msgs_received,
                   (unsigned long long)st.msgs_corrupt, (unsigned long long)st.msgs_fenced);
    }
    if (tidal_node_status_get(leader, &st) == TIDAL_OK)
        printf("# lag: leader: role %d epoch %llu, msgs sent %llu, quorum_lsn %llu\n", (int)st.role,
               (unsigned long long)st.epoch, (unsigned long long)st.msgs_sent,
               (unsigned long long)st.quorum_lsn);
    all = (double *)xmalloc(2 * x.n * sizeof(double) + 1);
    for (k = 0; k < LAG_FOLLOWERS; k++) {
        double *v = x.lag_ms[k];
        size_t m = x.f_next[k];
        qsort(v, m, sizeof *v, cmp_double);
        printf("# lag: follower region %d: p50 %.1f ms, p90 %.1f, p99 %.1f, max %.1f "
               "(%zu batches)\n",
               k + 1, percentile(v, m, 0.5), percentile(v, m, 0.9), percentile(v, m, 0.99),
               m ? v[m - 1] : 0.0, m);
        for (i = 0; i < m; i++) all[n_all++] = v[i];
    }
    qsort(all, n_all, sizeof *all, cmp_double);
    printf("replication_lag_p50_ms: %.1f ms\n", percentile(all, n_all, 0.5));
    printf("replication_lag_p99_ms: %.1f ms\n", percentile(all, n_all, 0.99));
    printf("replication_lag_max_ms: %.1f ms\n", n_all ? all[n_all - 1] : 0.0);
    qsort(x.quorum_ms, x.q_next, sizeof(double), cmp_double);
    printf("quorum_ack_p50_ms: %.1f ms\n", percentile(x.quorum_ms, x.q_next, 0.5));
    printf("quorum_ack_p99_ms: %.1f ms\n", percentile(x.quorum_ms, x.q_next, 0.99));
    printf("quorum_ack_max_ms: %.1f ms\n", x.q_next ? x.quorum_ms[x.q_next - 1] : 0.0);
    free(all);
    for (k = 0; k < LAG_FOLLOWERS; k++) free(x.lag_ms[k]);
    free(x.quorum_ms);
    free(x.b);
    tidal_sim_cluster_free(c);
}

/* ---- 2. failover: crash the leader, time until a new one takes a write ----------------- */

#define FO_SEEDS 100u
#define FO_SEED_BASE UINT64_C(0x666f000000)
#define FO_ITEMS 10000u
#define FO_BATCH_EVERY_NS (10 * MS)
#define FO_BATCH 50u
#define FO_GIVE_UP_NS (10000 * MS)

typedef struct fo_result {
    uint64_t seed;
    double ms;         /* crash -> write accepted; < 0: none within FO_GIVE_UP_NS */
    double leader_ms;  /* crash -> a leader exists (1 ms steps) */
    int winner;        /* region */
    uint64_t epoch;    /* the new leader's epoch (the old one led epoch 1) */
    uint64_t held[3];  /* durable lsn of each survivor at the crash */
} fo_result;

/* The leader writes FO_BATCH signals every FO_BATCH_EVERY_NS until `until`. */
static void fo_load(tidal_sim_cluster *c, uint64_t *rng, int64_t until, int64_t *next_batch) {
    for (;;) {
        int64_t now = tidal_sim_cluster_now(c), t = *next_batch < until ? *next_batch : until;
        int l;
        if (t > now) tidal_sim_cluster_run(c, t);
        if (tidal_sim_cluster_now(c) >= until) return;
        *next_batch += FO_BATCH_EVERY_NS;
        l = tidal_sim_cluster_leader(c, 0);
        if (l >= 0) {
            tidal_db *db = tidal_sim_cluster_db(c, (uint16_t)l, 0);
            uint32_t j;
            check(db, tidal_db_batch_begin(db), "failover batch_begin");
            for (j = 0; j < FO_BATCH; j++)
                check(db, write_one(db, rng, 0, FO_ITEMS, NULL), "failover write");
            check(db, tidal_db_commit(db), "failover commit");
        }
    }
}

static void fo_run(uint64_t seed, int64_t election_timeout_ns, fo_result *out) {
    tidal_sim_cluster *c = cluster_make(3, 1, seed, g_segment_bytes, election_timeout_ns);
    uint64_t rng = run_seed(seed ^ UINT64_C(0x6c6f6164));
    int64_t start = tidal_sim_cluster_now(c), t_crash, next_batch = start + FO_BATCH_EVERY_NS;
    int old, r;
    memset(out, 0, sizeof *out);
    out->seed = run_seed(seed);
    out->ms = out->leader_ms = -1.0;
    out->winner = -1;
    t_crash = start + uniform_ns(&rng, 1000 * MS, 3000 * MS - 1);
    fo_load(c, &rng, t_crash, &next_batch);
    old = tidal_sim_cluster_leader(c, 0);
    if (old < 0) die("failover", "no leader before the crash");
    for (r = 0; r < 3; r++)
        out->held[r] = tidal_db_durable_lsn(tidal_sim_cluster_db(c, (uint16_t)r, 0));
    tidal_sim_cluster_crash(c, (uint16_t)old, 0);
    while (tidal_sim_cluster_now(c) - t_crash < FO_GIVE_UP_NS) {
        int l;
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 1 * MS);
        l = tidal_sim_cluster_leader(c, 0);
        if (l < 0) continue;
        if (out->leader_ms < 0)
            out->leader_ms = (double)(tidal_sim_cluster_now(c) - t_crash) / NS_PER_MS;
        {
            tidal_db *db = tidal_sim_cluster_db(c, (uint16_t)l, 0);
            tidal_node_status st;
            if (write_one(db, &rng, 0, FO_ITEMS, NULL) == TIDAL_OK) {
                out->ms = (double)(tidal_sim_cluster_now(c) - t_crash) / NS_PER_MS;
                out->winner = l;
                if (tidal_node_status_get(db, &st) == TIDAL_OK) out->epoch = st.epoch;
                break;
            }
        }
    }
    tidal_sim_cluster_free(c);
}

/* prefix names the figures; election_timeout_ns 0 = the library default. */
static void failover_pass(const char *prefix, int64_t election_timeout_ns) {
    fo_result *res = (fo_result *)xmalloc(FO_SEEDS * sizeof *res);
    double *ms = (double *)xmalloc(FO_SEEDS * sizeof(double)), w0 = wall_s(), sum = 0.0;
    uint32_t i, n_ok = 0, n_failed = 0, by_epoch[8];
    printf("# %s: %u seeds, 3 regions x 1 shard, leader writes %u signals every %.0f ms, "
           "crashed at a random instant in [1 s, 3 s); heartbeat 100 ms (default), election "
           "timeout %.0f ms%s; failover = crash -> a live leader accepts a write (1 ms steps, "
           "simulated ms)\n", prefix, FO_SEEDS, FO_BATCH, (double)FO_BATCH_EVERY_NS / NS_PER_MS,
           election_timeout_ns ? (double)election_timeout_ns / NS_PER_MS : 1000.0,
           election_timeout_ns ? "" : " (default)");
    memset(by_epoch, 0, sizeof by_epoch);
    for (i = 0; i < FO_SEEDS; i++) {
        fo_run(FO_SEED_BASE + i, election_timeout_ns, &res[i]);
        if (res[i].ms < 0) {
            n_failed++;
            printf("# %s: seed 0x%llx: NO leader accepting writes %.0f s after the crash\n",
                   prefix, (unsigned long long)res[i].seed, (double)FO_GIVE_UP_NS / 1e9);
            continue;
        }
        ms[n_ok++] = res[i].ms;
        sum += res[i].ms;
        by_epoch[res[i].epoch < 7 ? res[i].epoch : 7]++;
    }
    /* The slowest seeds, with what the survivors held at the crash and the epoch the winner
       leads (epoch 2 = won the first election after the crash; higher = failed rounds). */
    {
        uint32_t shown = 0, j;
        uint32_t *order = (uint32_t *)xmalloc(FO_SEEDS * sizeof *order);
        for (j = 0; j < FO_SEEDS; j++) order[j] = j;
        for (j = 1; j < FO_SEEDS; j++) { /* insertion sort by ms, descending; failed first */
            uint32_t v = order[j], k = j;
            double key = res[v].ms < 0 ? 1e30 : res[v].ms;
            while (k > 0 && (res[order[k - 1]].ms < 0 ? 1e30 : res[order[k - 1]].ms) < key) {
                order[k] = order[k - 1];
                k--;
            }
            order[k] = v;
        }
        for (j = 0; j < FO_SEEDS && shown < 5; j++, shown++) {
            fo_result *r = &res[order[j]];
            printf("# %s: slow seed 0x%llx: %.0f ms (leader seen at %.0f ms), winner region %d "
                   "epoch %llu; durable lsn at crash r0 %llu r1 %llu r2 %llu\n",
                   prefix, (unsigned long long)r->seed, r->ms, r->leader_ms, r->winner,
                   (unsigned long long)r->epoch, (unsigned long long)r->held[0],
                   (unsigned long long)r->held[1], (unsigned long long)r->held[2]);
        }
        free(order);
    }
    printf("# %s: winner's epoch: 2: %u, 3: %u, 4: %u, 5: %u, 6: %u, >=7: %u "
           "(epoch - 2 = rounds that elected nobody: a split vote, or a candidate refused as "
           "less up to date)\n", prefix,
           by_epoch[2], by_epoch[3], by_epoch[4], by_epoch[5], by_epoch[6], by_epoch[7]);
    qsort(ms, n_ok, sizeof *ms, cmp_double);
    {
        uint32_t over = 0, j;
        for (j = 0; j < n_ok; j++) over += ms[j] > 2000.0;
        printf("# %s: %u of %u seeds took over 2000 ms; %.1f s wall\n", prefix, over, n_ok,
               wall_s() - w0);
    }
    printf("%s_p50_ms: %.0f ms\n", prefix, percentile(ms, n_ok, 0.5));
    printf("%s_p99_ms: %.0f ms\n", prefix, percentile(ms, n_ok, 0.99));
    printf("%s_max_ms: %.0f ms\n", prefix, n_ok ? ms[n_ok - 1] : 0.0);
    printf("%s_mean_ms: %.0f ms\n", prefix, n_ok ? sum / n_ok : 0.0);
    printf("%s_failed_seeds: %u seeds\n", prefix, n_failed);
    free(ms);
    free(res);
}

static void section_failover(void) { failover_pass("failover", 0); }

/* Not a requested figure: the same crash with a 500 ms election timeout, to see whether a
   shorter timeout alone brings failover_p99_ms down (it does not: see the split rounds). */
static void section_failover500(void) { failover_pass("failover_et500", 500 * MS); }

/* ---- 10. transfer: leadership handed to a chosen member (tidal_replica_transfer) ------- */

#define TR_SEEDS 100u
#define TR_SEED_BASE UINT64_C(0x7472000000)

/* One seed: load as in failover until a random instant in [1 s, 2 s), then the leader hands
   over to the next region; ms = from the call to the first 1 ms step at which the target
   leads and takes a write (< 0: not within an election timeout, when the transfer gives
   up); *refused: writes the old leader refused meanwhile. */
static double tr_run(uint64_t seed, uint32_t *refused) {
    tidal_sim_cluster *c = cluster_make(3, 1, seed, g_segment_bytes, 0);
    uint64_t rng = run_seed(seed ^ UINT64_C(0x74726e73));
    int64_t start = tidal_sim_cluster_now(c), t_call, next_batch = start + FO_BATCH_EVERY_NS;
    tidal_node_ref to;
    tidal_db *old_db;
    double ms = -1.0;
    int old;
    tidal_result r;
    t_call = start + uniform_ns(&rng, 1000 * MS, 2000 * MS - 1);
    fo_load(c, &rng, t_call, &next_batch);
    old = tidal_sim_cluster_leader(c, 0);
    if (old < 0) die("transfer", "no leader before the call");
    old_db = tidal_sim_cluster_db(c, (uint16_t)old, 0);
    to.region = (uint16_t)((old + 1) % 3);
    to.shard = 0;
    r = tidal_replica_transfer(old_db, to);
    if (r != TIDAL_OK) die("transfer", tidal_errmsg(old_db));
    while (tidal_sim_cluster_now(c) - t_call < 1000 * MS) {
        int l;
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 1 * MS);
        l = tidal_sim_cluster_leader(c, 0);
        if (l == to.region &&
            write_one(tidal_sim_cluster_db(c, (uint16_t)l, 0), &rng, 0, FO_ITEMS, NULL) == TIDAL_OK) {
            ms = (double)(tidal_sim_cluster_now(c) - t_call) / NS_PER_MS;
            break;
        }
        if (l == old && write_one(old_db, &rng, 0, FO_ITEMS, NULL) == TIDAL_ERR_UNAVAILABLE)
            (*refused)++;
    }
    tidal_sim_cluster_free(c);
    return ms;
}

static void section_transfer(void) {
    double *ms = (double *)xmalloc(TR_SEEDS * sizeof(double)), w0 = wall_s();
    uint32_t i, n_ok = 0, refused = 0;
    printf("# transfer: %u seeds, 3 regions x 1 shard, leader writes %u signals every %.0f ms, "
           "then hands over to the next region at a random instant in [1 s, 2 s); "
           "leader_transfer = the call -> the target leads and takes a write (1 ms steps, "
           "simulated ms; one round trip across regions is 40-300 ms)\n", TR_SEEDS, FO_BATCH,
           (double)FO_BATCH_EVERY_NS / NS_PER_MS);
    for (i = 0; i < TR_SEEDS; i++) {
        double m = tr_run(TR_SEED_BASE + i, &refused);
        if (m < 0) {
            printf("# transfer: seed 0x%llx: the target did not lead within 1 s\n",
                   (unsigned long long)run_seed(TR_SEED_BASE + i));
            continue;
        }
        ms[n_ok++] = m;
    }
    qsort(ms, n_ok, sizeof *ms, cmp_double);
    printf("# transfer: %u writes refused by the old leader during transfers; %.1f s wall\n",
           refused, wall_s() - w0);
    printf("leader_transfer_ms: %.0f ms (p50)\n", percentile(ms, n_ok, 0.5));
    printf("leader_transfer_p99_ms: %.0f ms\n", percentile(ms, n_ok, 0.99));
    printf("leader_transfer_max_ms: %.0f ms\n", n_ok ? ms[n_ok - 1] : 0.0);
    printf("leader_transfer_failed_seeds: %u seeds\n", TR_SEEDS - n_ok);
    free(ms);
}

/* ---- 3. throughput: wall-clock cost of a 15-node simulated cluster --------------------- */

#define TP_SEED UINT64_C(0x7470757400)
#define TP_REGIONS 3
#define TP_SHARDS 5
#define TP_ITEMS 100000u
#define TP_STEP_NS (1 * MS)
#ifndef TP_PER_STEP
#define TP_PER_STEP 1000u /* signals per simulated ms over all shards: 1M signals/s simulated */
#endif
#ifndef TP_WALL_S
#define TP_WALL_S 10.0
#endif

static int tp_caught_up(tidal_sim_cluster *c) {
    uint16_t s, r;
    for (s = 0; s < TP_SHARDS; s++) {
        int l = tidal_sim_cluster_leader(c, s);
        uint64_t d;
        if (l < 0) return 0;
        d = tidal_db_durable_lsn(tidal_sim_cluster_db(c, (uint16_t)l, s));
        for (r = 0; r < TP_REGIONS; r++) {
            tidal_node_status st;
            if ((int)r == l) continue;
            if (tidal_node_status_get(tidal_sim_cluster_db(c, r, s), &st) != TIDAL_OK ||
                st.leader_lsn < d)
                return 0;
        }
    }
    return 1;
}

static void section_throughput(void) {
    tidal_sim_cluster *c = cluster_make(TP_REGIONS, TP_SHARDS, TP_SEED, g_segment_bytes, 0);
    uint64_t rng = run_seed(TP_SEED ^ 0x72), signals = 0, steps = 0;
    int64_t sim0, sim_load, sim_end;
    int leader[TP_SHARDS];
    double t0, t_load, t1, c0, c1;
    uint16_t s;
    printf("# throughput: %d regions x %d shards, each simulated ms %u signals on random items "
           "(of %u) go to the leader of shard item %% %d, one batch per shard (%.1fM signals/s "
           "simulated), for ~%.0f s wall, then the cluster runs until every follower holds "
           "everything; wall time of both\n", TP_REGIONS, TP_SHARDS, TP_PER_STEP, TP_ITEMS,
           TP_SHARDS, (double)TP_PER_STEP * 1000.0 / 1e6, TP_WALL_S);
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 500 * MS);
    for (s = 0; s < TP_SHARDS; s++)
        if ((leader[s] = tidal_sim_cluster_leader(c, s)) < 0)
            die("throughput", "a shard has no leader");
    sim0 = tidal_sim_cluster_now(c);
    c0 = cpu_s();
    t0 = wall_s();
    do {
        uint32_t k;
        for (k = 0; k < 16; k++, steps++) {
            tidal_db *db[TP_SHARDS];
            uint32_t j;
            for (s = 0; s < TP_SHARDS; s++) {
                db[s] = tidal_sim_cluster_db(c, (uint16_t)leader[s], s);
                check(db[s], tidal_db_batch_begin(db[s]), "throughput batch_begin");
            }
            for (j = 0; j < TP_PER_STEP; j++) {
                tidal_id item = 1 + pick(splitmix64(&rng), TP_ITEMS);
                s = (uint16_t)(item % TP_SHARDS);
                check(db[s], write_one(db[s], &rng, item, 0, NULL), "throughput write");
            }
            for (s = 0; s < TP_SHARDS; s++)
                check(db[s], tidal_db_commit(db[s]), "throughput commit");
            signals += TP_PER_STEP;
            tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + TP_STEP_NS);
        }
    } while (wall_s() - t0 < TP_WALL_S);
    t_load = wall_s();
    sim_load = tidal_sim_cluster_now(c);
    while (!tp_caught_up(c) && tidal_sim_cluster_now(c) - sim_load < 30000 * MS)
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 10 * MS);
    t1 = wall_s();
    c1 = cpu_s();
    sim_end = tidal_sim_cluster_now(c);
    for (s = 0; s < TP_SHARDS; s++)
        if (tidal_sim_cluster_leader(c, s) != leader[s])
            printf("# throughput: WARNING shard %u changed leader during the run (now %d)\n", s,
                   tidal_sim_cluster_leader(c, s));
    if (!tp_caught_up(c))
        printf("# throughput: WARNING followers still behind after a 30 s simulated drain\n");
    net_stats_line("throughput", c);
    {
        tidal_db_stats st;
        uint64_t applied = 0, wal_bytes = 0;
        uint16_t r;
        for (r = 0; r < TP_REGIONS; r++)
            for (s = 0; s < TP_SHARDS; s++) {
                tidal_db_stats_get(tidal_sim_cluster_db(c, r, s), &st);
                applied += st.events_applied;
                wal_bytes += st.wal_bytes;
            }
        printf("# throughput: %llu signals in %llu steps; %llu events applied over all nodes "
               "(%.2f per signal), %.0f MB of log written in all; load %.2f s wall (%.2f s "
               "simulated) + drain %.2f s wall (%.2f s simulated)\n",
               (unsigned long long)signals, (unsigned long long)steps, (unsigned long long)applied,
               (double)applied / (double)signals, (double)wal_bytes / 1e6, t_load - t0,
               (double)(sim_load - sim0) / 1e9, t1 - t_load, (double)(sim_end - sim_load) / 1e9);
    }
    printf("# throughput: process CPU time %.2f s for %.2f s wall: %.0f signals per CPU second\n",
           c1 - c0, t1 - t0, (double)signals / (c1 - c0));
    printf("sim_signals_per_s_wall: %.0f signals/s\n", (double)signals / (t1 - t0));
    printf("sim_seconds_covered: %.2f s\n", (double)(sim_end - sim0) / 1e9);
    printf("sim_speedup: %.2f x\n", ((double)(sim_end - sim0) / 1e9) / (t1 - t0));
    tidal_sim_cluster_free(c);
}

/* ---- 4. reconcile: heal a partition after 10,000 divergent signals on each side -------- */

#define RC_SEED UINT64_C(0x7265636f6e)
#define RC_PER_SIDE 10000u
#define RC_BATCH 100u             /* signals per batch on each side, one batch every RC_EVERY */
#define RC_EVERY_NS (10 * MS)
#define RC_ITEMS 3000u            /* both sides write items of [1, RC_ITEMS]: aggregates collide */
#define RC_USERS 50000u
#define RC_REPS 5
#define RC_GIVE_UP_NS (30000 * MS)

/* The reconcile and merge workloads carry users and cohort tags, like a real one: each
   signal names a user and is tagged with that user's locale and tier (explicit tags, so
   both sides write the same tags without first sharing user attributes). */
static const char *const rc_cohort_keys[2] = {"locale", "tier"};
static const char *const rc_locales[8] = {"en-US", "en-GB", "de-DE", "fr-FR",
                                          "ja-JP", "pt-BR", "es-ES", "hi-IN"};
static const char *const rc_tiers[3] = {"free", "plus", "pro"};

static tidal_schema rc_schema(void) {
    tidal_schema s;
    memset(&s, 0, sizeof s);
    s.signals = bench_sigs;
    s.signal_count = 2;
    s.cohort_keys = rc_cohort_keys;
    s.cohort_key_count = 2;
    return s;
}

/* One signal of the reconcile workload: a random user of RC_USERS, its locale and tier
   (fixed per user), a random item of RC_ITEMS, view or like (1 in 8). */
static tidal_result rc_write(tidal_db *db, uint64_t *rng) {
    tidal_signal s;
    tidal_tag tags[2];
    uint64_t r = splitmix64(rng);
    tidal_id user = 1 + pick(r, RC_USERS);
    memset(&s, 0, sizeof s);
    s.item = 1 + pick(splitmix64(rng), RC_ITEMS);
    s.type = (r & 7) == 0 ? 1u : 0u;
    s.weight = 1.0;
    s.user = user;
    tags[0].key = rc_cohort_keys[0];
    tags[0].value = rc_locales[user % 8];
    tags[1].key = rc_cohort_keys[1];
    tags[1].value = rc_tiers[(user / 8) % 3];
    s.cohort = tags;
    s.cohort_count = 2;
    return tidal_signal_write(db, &s, NULL);
}

typedef struct rc_watch {
    uint32_t target;     /* events every replica must hold: the cluster's recorded events */
    int done;
    int64_t done_sim_ns; /* first instant every replica held target events */
    double done_wall_s;
    int64_t first_ns[3]; /* per replica: first instant it applied an event it lacked, */
    int64_t full_ns[3];  /* and first instant it held all (0: not yet) */
    uint64_t before[3];  /* events applied at the heal */
    int64_t no_leader_ns, leader_back_ns; /* first instant with no leader after the heal,
                                             and first instant with one again after that */
    double leader_back_wall_s;
} rc_watch;

/* After every delivery and tick: have all three replicas applied every event any node
   wrote? events_applied counts distinct events, so equal counts here mean equal sets
   (nothing else is written after the heal); the digests are compared afterwards. */
static void rc_observe(void *vctx, tidal_sim_cluster *c) {
    rc_watch *w = (rc_watch *)vctx;
    int64_t now = tidal_sim_cluster_now(c);
    uint16_t r;
    int all = 1;
    if (w->done) return;
    if (tidal_sim_cluster_leader(c, 0) < 0) {
        if (!w->no_leader_ns) w->no_leader_ns = now;
    } else if (w->no_leader_ns && !w->leader_back_ns) {
        w->leader_back_ns = now;
        w->leader_back_wall_s = wall_s();
    }
    for (r = 0; r < 3; r++) {
        tidal_db_stats st;
        tidal_db *db = tidal_sim_cluster_db(c, r, 0);
        if (!db) return;
        tidal_db_stats_get(db, &st);
        if (!w->first_ns[r] && st.events_applied > w->before[r]) w->first_ns[r] = now;
        if (!w->full_ns[r] && st.events_applied >= w->target) w->full_ns[r] = now;
        all &= st.events_applied >= w->target;
    }
    if (!all) return;
    w->done = 1;
    w->done_wall_s = wall_s();
    w->done_sim_ns = tidal_sim_cluster_now(c);
}

typedef struct rc_result {
    double wall_ms, sim_ms, cpu_ms;
    int new_leader, leader_after;
    uint32_t events;       /* recorded events (both sides' signals + epoch markers) */
    uint64_t applied_before[3], dup_after[3];
    double first_ms[3], full_ms[3]; /* simulated, from the heal (see rc_watch) */
    double no_leader_ms, leader_back_ms;
    double wall_to_leader_ms; /* of wall_ms: up to the instant a leader was back */
    uint64_t epoch_before, epoch_after; /* of the majority side's leader */
    uint64_t msgs, bytes;  /* delivered from the heal to convergence */
    int digests_ok;
} rc_result;

static void rc_run(uint64_t seed, rc_result *out) {
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    tidal_sim_net *net;
    tidal_sim_net_stats ns0, ns1;
    uint64_t rng_a = run_seed(seed ^ 0x61), rng_b = run_seed(seed ^ 0x62);
    uint32_t h, k, j;
    int64_t t_heal, deadline;
    double w_heal, c_heal;
    rc_watch w;
    uint16_t r;
    tidal_db *old_db, *new_db;
    memset(out, 0, sizeof *out);
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = 3;
    cfg.shards = 1;
    cfg.seed = run_seed(seed);
    cfg.schema = rc_schema();
    cfg.segment_bytes_max = g_segment_bytes;
    cfg.availability_mode = 1;
    if (!(c = tidal_sim_cluster_new(&cfg))) die("reconcile", "tidal_sim_cluster_new failed");
    net = tidal_sim_cluster_net(c);
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 500 * MS);
    if (tidal_sim_cluster_leader(c, 0) != 0) die("reconcile", "region 0 is not leading");
    /* Cut the leader's region off; the other two elect a leader of their own. */
    h = tidal_sim_net_isolate_region(net, 0);
    deadline = tidal_sim_cluster_now(c) + 10000 * MS;
    while ((out->new_leader = tidal_sim_cluster_leader(c, 0)) <= 0 &&
           tidal_sim_cluster_now(c) < deadline)
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 10 * MS);
    if (out->new_leader <= 0) die("reconcile", "the majority side elected no leader in 10 s");
    old_db = tidal_sim_cluster_db(c, 0, 0);
    new_db = tidal_sim_cluster_db(c, (uint16_t)out->new_leader, 0);
    /* Both sides take writes side by side: the old leader (cut off, availability mode:
       acknowledged LOCAL as its own origin) and the majority's new leader. */
    for (k = 0; k < RC_PER_SIDE / RC_BATCH; k++) {
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + RC_EVERY_NS);
        check(old_db, tidal_db_batch_begin(old_db), "reconcile batch_begin (old leader)");
        for (j = 0; j < RC_BATCH; j++)
            check(old_db, rc_write(old_db, &rng_a), "reconcile write (old leader)");
        check(old_db, tidal_db_commit(old_db), "reconcile commit (old leader)");
        check(new_db, tidal_db_batch_begin(new_db), "reconcile batch_begin (new leader)");
        for (j = 0; j < RC_BATCH; j++)
            check(new_db, rc_write(new_db, &rng_b), "reconcile write (new leader)");
        check(new_db, tidal_db_commit(new_db), "reconcile commit (new leader)");
    }
    /* Let the majority side replicate its own writes, so what the heal has to move is the
       divergence: each side's 10,000 events the other lacks. */
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 2000 * MS);
    for (r = 0; r < 3; r++) {
        tidal_db_stats st;
        tidal_db_stats_get(tidal_sim_cluster_db(c, r, 0), &st);
        out->applied_before[r] = st.events_applied;
    }
    {
        tidal_node_status st;
        tidal_node_status_get(new_db, &st);
        out->epoch_before = st.epoch;
    }
    memset(&w, 0, sizeof w);
    w.target = out->events = tidal_sim_cluster_events(c);
    for (r = 0; r < 3; r++) w.before[r] = out->applied_before[r];
    tidal_sim_cluster_set_observer(c, rc_observe, &w);
    tidal_sim_net_stats_get(net, &ns0);
    t_heal = tidal_sim_cluster_now(c);
    c_heal = cpu_s();
    w_heal = wall_s();
    tidal_sim_net_heal(net, h);
    while (!w.done && tidal_sim_cluster_now(c) - t_heal < RC_GIVE_UP_NS)
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 1 * MS);
    out->cpu_ms = (cpu_s() - c_heal) * 1e3; /* up to the end of the last 1 ms step */
    tidal_sim_cluster_set_observer(c, NULL, NULL);
    tidal_sim_net_stats_get(net, &ns1);
    out->msgs = ns1.delivered - ns0.delivered;
    if (!w.done) {
        out->wall_ms = out->sim_ms = -1.0;
    } else {
        out->wall_ms = (w.done_wall_s - w_heal) * 1e3;
        out->sim_ms = (double)(w.done_sim_ns - t_heal) / NS_PER_MS;
    }
    for (r = 0; r < 3; r++) {
        out->first_ms[r] = (double)(w.first_ns[r] - t_heal) / NS_PER_MS;
        out->full_ms[r] = (double)(w.full_ns[r] - t_heal) / NS_PER_MS;
    }
    out->wall_to_leader_ms = w.leader_back_ns ? (w.leader_back_wall_s - w_heal) * 1e3 : 0.0;
    out->no_leader_ms = w.no_leader_ns ? (double)(w.no_leader_ns - t_heal) / NS_PER_MS : -1.0;
    out->leader_back_ms = w.leader_back_ns ? (double)(w.leader_back_ns - t_heal) / NS_PER_MS : -1.0;
    out->leader_after = tidal_sim_cluster_leader(c, 0);
    if (out->leader_after >= 0) {
        tidal_node_status st;
        tidal_node_status_get(tidal_sim_cluster_db(c, (uint16_t)out->leader_after, 0), &st);
        out->epoch_after = st.epoch;
    }
    /* Verification: every replica's digest equals the single node that applied the union
       of everything written anywhere. */
    {
        tidal_db *truth = NULL;
        uint8_t dt[32], d[32];
        check(NULL, tidal_sim_cluster_truth(c, NULL, NULL, &truth), "reconcile truth");
        check(truth, tidal_db_digest(truth, TIDAL_ALL_TENANTS, dt), "reconcile truth digest");
        out->digests_ok = 1;
        for (r = 0; r < 3; r++) {
            tidal_db *db = tidal_sim_cluster_db(c, r, 0);
            tidal_db_stats st;
            check(db, tidal_db_digest(db, TIDAL_ALL_TENANTS, d), "reconcile digest");
            out->digests_ok &= !memcmp(d, dt, 32);
            tidal_db_stats_get(db, &st);
            out->dup_after[r] = st.events_duplicate;
        }
        tidal_db_close(truth);
    }
    tidal_sim_cluster_free(c);
}

static int cmp_rc_wall(const void *a, const void *b) {
    double x = ((const rc_result *)a)->wall_ms, y = ((const rc_result *)b)->wall_ms;
    return x < y ? -1 : x > y;
}

static void section_reconcile(void) {
    rc_result res[RC_REPS], best;
    int k, ok = 1;
    printf("# reconcile: 3 regions x 1 shard, availability mode; region 0 (the leader) is cut "
           "off, regions 1-2 elect a leader; %u signals on each side (batches of %u every %.0f "
           "ms, items of [1, %u] on both sides, %u users with locale/tier cohort tags), then "
           "the partition heals\n", RC_PER_SIDE, RC_BATCH, (double)RC_EVERY_NS / NS_PER_MS,
           RC_ITEMS, RC_USERS);
    printf("# reconcile: wall = from the heal to the first instant all 3 replicas hold every "
           "event (observer after every delivery and tick), INCLUDING the simulator's own work "
           "(message queue, simulated disks and fsyncs, ticks, heartbeats) besides decode, "
           "BLAKE3 verify, dedupe and fold; same seed %d times, the best (lowest) reported\n",
           RC_REPS);
    for (k = 0; k < RC_REPS; k++) {
        rc_run(RC_SEED, &res[k]);
        printf("# reconcile: rep %d: %.2f ms wall (%.2f ms CPU to the end of the step), %.1f ms "
               "simulated, %llu messages, %u events recorded; applied before heal r0 %llu r1 "
               "%llu r2 %llu; new leader region %d, leader after %d; digests %s\n", k + 1,
               res[k].wall_ms, res[k].cpu_ms, res[k].sim_ms, (unsigned long long)res[k].msgs,
               res[k].events, (unsigned long long)res[k].applied_before[0],
               (unsigned long long)res[k].applied_before[1],
               (unsigned long long)res[k].applied_before[2], res[k].new_leader,
               res[k].leader_after, res[k].digests_ok ? "equal to truth" : "DIFFER");
        if (res[k].wall_ms < 0 || !res[k].digests_ok) ok = 0;
    }
    if (!ok) {
        printf("reconcile_verified: 0 (a replica did not converge to the ground truth)\n");
        fprintf(stderr, BENCH_NAME ": reconcile: replicas did not converge; repro: bench_sim "
                "--seed %llu reconcile\n", (unsigned long long)g_seed_offset);
        exit(1);
    }
    qsort(res, RC_REPS, sizeof res[0], cmp_rc_wall);
    best = res[0]; /* the best rep: on a shared machine other load only ever adds */
    printf("# reconcile: wall best %.2f ms (%.2f ms CPU), median %.2f, max %.2f\n", best.wall_ms,
           best.cpu_ms, res[RC_REPS / 2].wall_ms, res[RC_REPS - 1].wall_ms);
    printf("# reconcile: simulated, from the heal: region 0 (old leader) applies its first "
           "missing event at %.1f ms, holds all at %.1f; region 1 %.1f / %.1f; region 2 %.1f / "
           "%.1f (appends pipelined; the old leader's own writes go up by push, one in flight)\n",
           best.first_ms[0], best.full_ms[0], best.first_ms[1], best.full_ms[1], best.first_ms[2],
           best.full_ms[2]);
    if (best.no_leader_ms < 0)
        printf("# reconcile: simulated: the majority's leader kept leading through the heal "
               "(epoch %llu before, %llu after)\n", (unsigned long long)best.epoch_before,
               (unsigned long long)best.epoch_after);
    else
        printf("# reconcile: simulated: the group had no leader from %.1f ms to %.1f ms after "
               "the heal (epoch %llu before, %llu after: election rounds); the events moved in "
               "the %.1f ms after; of the best rep's wall, %.2f ms passed before a leader was "
               "back, %.2f ms after\n", best.no_leader_ms, best.leader_back_ms,
               (unsigned long long)best.epoch_before, (unsigned long long)best.epoch_after,
               best.sim_ms - best.leader_back_ms, best.wall_to_leader_ms,
               best.wall_ms - best.wall_to_leader_ms);
    printf("# reconcile: verified: all 3 replicas' digests equal the ground truth "
           "(tidal_sim_cluster_truth) in every rep\n");
    printf("reconcile_20k_events_ms: %.2f ms\n", best.wall_ms);
    printf("reconcile_20k_sim_ms: %.1f ms\n", best.sim_ms);
}

/* ---- 5. merge: the bare merge of 2 x 10,000 events, no simulator ------------------------- */

#define MG_SEED UINT64_C(0x6d65726765)
#define MG_REPS 7

typedef struct mg_buf {
    uint8_t *bytes;
    size_t len, cap;
    uint32_t *end; /* end offset of each event */
    uint32_t n, cap_n;
} mg_buf;

static void mg_hook(void *ctx, const void *event, size_t len) {
    mg_buf *b = (mg_buf *)ctx;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        if (!(b->bytes = (uint8_t *)realloc(b->bytes, b->cap))) die("merge", "out of memory");
    }
    if (b->n == b->cap_n) {
        b->cap_n = b->cap_n ? 2 * b->cap_n : 1024;
        if (!(b->end = (uint32_t *)realloc(b->end, b->cap_n * sizeof *b->end)))
            die("merge", "out of memory");
    }
    memcpy(b->bytes + b->len, event, len);
    b->len += len;
    b->end[b->n++] = (uint32_t)b->len;
}

/* An ephemeral replica at node (region, 0) with its own RC_PER_SIDE events, captured. */
static tidal_db *mg_side(uint16_t region, uint64_t *rng, mg_buf *b) {
    tidal_config cfg;
    tidal_db *db;
    uint32_t k;
    memset(&cfg, 0, sizeof cfg);
    cfg.schema = rc_schema();
    cfg.node.region = region;
    check(NULL, tidal_db_open(&cfg, &db), "merge open");
    b->len = 0;
    b->n = 0;
    tidal_db_set_event_hook(db, mg_hook, b);
    for (k = 0; k < RC_PER_SIDE; k++) check(db, rc_write(db, rng), "merge write");
    tidal_db_set_event_hook(db, NULL, NULL);
    return db;
}

static void mg_import(tidal_db *db, const mg_buf *b) {
    uint32_t k, at = 0;
    for (k = 0; k < b->n; k++) {
        check(db, tidal_event_import(db, b->bytes + at, b->end[k] - at, NULL), "merge import");
        at = b->end[k];
    }
}

static void section_merge(void) {
    mg_buf a, b;
    double ms[MG_REPS], sum_ms[MG_REPS], again_ms = 0.0;
    int k;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    for (k = 0; k < MG_REPS; k++) {
        uint64_t rng_a = run_seed(MG_SEED ^ 0x61), rng_b = run_seed(MG_SEED ^ 0x62);
        tidal_db *da = mg_side(0, &rng_a, &a), *db = mg_side(1, &rng_b, &b);
        uint8_t ha[32], hb[32];
        double t0, t1, t2;
        tidal_db_stats sa, sb;
        t0 = wall_s();
        mg_import(da, &b);
        mg_import(db, &a);
        t1 = wall_s();
        /* What a transport's checksum would add: BLAKE3 over each side's bytes (tidal's
           messages carry one per message; tidal_event_import itself checks structure, not
           a checksum). */
        tidal_blake3(a.bytes, a.len, ha);
        tidal_blake3(b.bytes, b.len, hb);
        t2 = wall_s();
        ms[k] = (t1 - t0) * 1e3;
        sum_ms[k] = (t2 - t1) * 1e3;
        check(da, tidal_db_digest(da, TIDAL_ALL_TENANTS, ha), "merge digest");
        check(db, tidal_db_digest(db, TIDAL_ALL_TENANTS, hb), "merge digest");
        tidal_db_stats_get(da, &sa);
        tidal_db_stats_get(db, &sb);
        if (memcmp(ha, hb, 32) || sa.events_applied != 2 * RC_PER_SIDE ||
            sb.events_applied != 2 * RC_PER_SIDE) {
            printf("merge_verified: 0 (digests %s, applied %llu / %llu)\n",
                   memcmp(ha, hb, 32) ? "differ" : "equal", (unsigned long long)sa.events_applied,
                   (unsigned long long)sb.events_applied);
            exit(1);
        }
        if (k == 0) { /* the same events again: all duplicates, the dedupe path alone */
            t0 = wall_s();
            mg_import(da, &b);
            mg_import(db, &a);
            again_ms = (wall_s() - t0) * 1e3;
            printf("# merge: %u + %u events, %zu + %zu bytes (%.1f bytes/event); %llu entities "
                   "after the merge\n", a.n, b.n, a.len, b.len,
                   (double)(a.len + b.len) / (double)(a.n + b.n), (unsigned long long)sa.entities);
        }
        tidal_db_close(da);
        tidal_db_close(db);
    }
    qsort(ms, MG_REPS, sizeof ms[0], cmp_double);
    qsort(sum_ms, MG_REPS, sizeof sum_ms[0], cmp_double);
    printf("# merge: two ephemeral dbs (no log, no network, no simulator), each with %u own "
           "signals (the reconcile workload); each imports the other's with tidal_event_import "
           "(decode, validate, dedupe by id, fold); %d reps, the best (lowest) reported "
           "(median %.2f, max %.2f ms)\n", RC_PER_SIDE, MG_REPS, ms[MG_REPS / 2], ms[MG_REPS - 1]);
    printf("# merge: + BLAKE3 over both sides' bytes, as a wire checksum would cost: %.2f ms "
           "(best); importing the same 20K again (all duplicates): %.2f ms\n",
           sum_ms[0], again_ms);
    printf("# merge: verified: both digests equal, %u events applied on each, every rep\n",
           2 * RC_PER_SIDE);
    printf("merge_20k_events_ms: %.2f ms\n", ms[0]);
    free(a.bytes);
    free(a.end);
    free(b.bytes);
    free(b.end);
}

/* ---- 6. session: cross-region visibility of session writes, with roaming --------------- */

#define SV_SEED UINT64_C(0x73657373)
#define SV_SESSIONS 24u          /* half of them roam */
#define SV_HOME_WRITES 50u       /* writes of a session that stays in region A */
#define SV_ROAM_AT 30u           /* a roaming session: seq 1..30 in A, then 31..60 in B */
#define SV_ROAM_WRITES 60u
#define SV_GAP_MIN_NS (20 * MS)  /* between two writes of one session, uniform */
#define SV_GAP_MAX_NS (200 * MS)
#define SV_BG_EVERY_NS (2 * MS)  /* background: SV_BG_BATCH signals to each shard leader */
#define SV_BG_BATCH 10u          /* 5,000 signals/s per shard, 10,000/s in all */
#define SV_ITEMS 100000u
#define SV_DRAIN_NS (10000 * MS)
#define SV_WRITES_MAX (SV_SESSIONS * SV_ROAM_WRITES)

typedef struct sv_write {
    int64_t t_ns;      /* when it was written */
    tidal_id session;
    uint64_t seq;
    uint16_t region;   /* the replica that must show it, of shard `shard` */
    uint16_t shard;
    uint32_t need;     /* shard 0: hwm >= need; shard 1: journal entries >= need */
    int roamed;        /* 1: written in B after roaming, watched in A */
    double ms;         /* visibility, simulated ms; < 0 while not yet seen */
} sv_write;

typedef struct sv_session {
    tidal_id id, user;
    int64_t start_ns, next_ns;
    uint64_t seq;      /* last written */
    uint32_t writes;   /* total it will write */
    int roams;
} sv_session;

typedef struct sv_ctx {
    sv_write w[SV_WRITES_MAX];
    uint32_t n;
    uint32_t pending[SV_WRITES_MAX]; /* indexes into w of writes not yet seen */
    uint32_t n_pending;
} sv_ctx;

static int sv_visible(tidal_sim_cluster *c, const sv_write *w) {
    tidal_db *db = tidal_sim_cluster_db(c, w->region, w->shard);
    tidal_session_info info;
    if (!db || tidal_session_get(db, 0, w->session, &info) != TIDAL_OK) return 0;
    return w->shard == 0 ? info.hwm >= w->need : info.entries >= w->need;
}

/* After every delivery and every tick: the only moments a replica's sessions change. */
static void sv_observe(void *vctx, tidal_sim_cluster *c) {
    sv_ctx *x = (sv_ctx *)vctx;
    int64_t now = tidal_sim_cluster_now(c);
    uint32_t i = 0;
    while (i < x->n_pending) {
        sv_write *w = &x->w[x->pending[i]];
        if (!sv_visible(c, w)) {
            i++;
            continue;
        }
        w->ms = (double)(now - w->t_ns) / NS_PER_MS;
        x->pending[i] = x->pending[--x->n_pending];
    }
}

static void sv_background(tidal_sim_cluster *c, uint16_t region, uint16_t shard, uint64_t *rng) {
    tidal_db *db = tidal_sim_cluster_db(c, region, shard);
    uint32_t j;
    check(db, tidal_db_batch_begin(db), "session background batch_begin");
    for (j = 0; j < SV_BG_BATCH; j++)
        check(db, write_one(db, rng, 0, SV_ITEMS, NULL), "session background write");
    check(db, tidal_db_commit(db), "session background commit");
}

/* Shard 1 gets its own leader outside region 0: its region-0 node crashes, the others
   elect, the node restarts as a follower. Returns the new leader's region. */
static int sv_move_leader(tidal_sim_cluster *c) {
    int64_t deadline = tidal_sim_cluster_now(c) + 10000 * MS;
    int l;
    tidal_sim_cluster_crash(c, 0, 1);
    while ((l = tidal_sim_cluster_leader(c, 1)) <= 0 && tidal_sim_cluster_now(c) < deadline)
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 10 * MS);
    if (l <= 0) die("session", "shard 1 elected no leader outside region 0");
    check(NULL, tidal_sim_cluster_restart(c, 0, 1), "session restart of node (0, 1)");
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 3000 * MS);
    if (tidal_sim_cluster_leader(c, 1) != l || tidal_sim_cluster_leader(c, 0) != 0)
        die("session", "leadership moved again after the restart");
    return l;
}

static void sv_print_dir(const char *what, sv_ctx *x, int roamed, double *buf) {
    uint32_t i, m = 0;
    for (i = 0; i < x->n; i++)
        if (x->w[i].roamed == roamed && x->w[i].ms >= 0) buf[m++] = x->w[i].ms;
    qsort(buf, m, sizeof *buf, cmp_double);
    printf("# session: %s: %u writes, p50 %.1f ms, p90 %.1f, p99 %.1f, max %.1f\n", what, m,
           percentile(buf, m, 0.5), percentile(buf, m, 0.9), percentile(buf, m, 0.99),
           m ? buf[m - 1] : 0.0);
}

static void section_session(void) {
    tidal_sim_cluster *c = cluster_make(3, 2, SV_SEED, g_segment_bytes, 0);
    sv_ctx *x = (sv_ctx *)xmalloc(sizeof *x);
    sv_session s[SV_SESSIONS];
    uint64_t rng = run_seed(SV_SEED ^ 0x77), bg_a = run_seed(SV_SEED ^ 0x61);
    uint64_t bg_b = run_seed(SV_SEED ^ 0x62);
    double *buf = (double *)xmalloc(SV_WRITES_MAX * sizeof(double)), w0 = wall_s();
    int64_t now, next_bg, t_start, t_end;
    uint32_t i, left = SV_SESSIONS, seen = 0, bad = 0;
    int B;
    tidal_db *a0, *b1;
    memset(x, 0, sizeof *x);
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 500 * MS);
    if (tidal_sim_cluster_leader(c, 0) != 0 || tidal_sim_cluster_leader(c, 1) != 0)
        die("session", "region 0 is not leading both shards of a fresh cluster");
    B = sv_move_leader(c);
    a0 = tidal_sim_cluster_db(c, 0, 0);
    b1 = tidal_sim_cluster_db(c, (uint16_t)B, 1);
    printf("# session: 3 regions x 2 shards, default latencies (inter-region 20-150 ms); region "
           "A = 0 leads shard 0, region B = %d leads shard 1 (moved there by a crash and restart "
           "of node (0, 1) before the run); background load %u signals every %.0f ms to each "
           "shard leader (%.0f signals/s in all)\n", B, SV_BG_BATCH,
           (double)SV_BG_EVERY_NS / NS_PER_MS, 2.0 * SV_BG_BATCH * 1e9 / (double)SV_BG_EVERY_NS);
    printf("# session: %u sessions start in A (tidal_session_start on A's shard-0 leader) and "
           "write seq 1, 2, ... every %.0f-%.0f ms (uniform); %u stay (%u writes, visible when "
           "B's shard-0 replica has hwm >= seq); %u roam after seq %u: tidal_session_open on B's "
           "shard-1 leader (same id, user, start), seq %u..%u written there, visible back in A "
           "when A's shard-1 replica holds that many journal entries\n", SV_SESSIONS,
           (double)SV_GAP_MIN_NS / NS_PER_MS, (double)SV_GAP_MAX_NS / NS_PER_MS,
           SV_SESSIONS / 2, SV_HOME_WRITES, SV_SESSIONS / 2, SV_ROAM_AT, SV_ROAM_AT + 1,
           SV_ROAM_WRITES);
    printf("# session: visibility = first simulated instant the other region's replica shows "
           "the write (checked after every delivery and tick), minus the write's instant\n");
    tidal_sim_cluster_set_observer(c, sv_observe, x);
    now = tidal_sim_cluster_now(c);
    for (i = 0; i < SV_SESSIONS; i++) {
        tidal_session_info info;
        memset(&s[i], 0, sizeof s[i]);
        s[i].user = 1000 + i;
        s[i].roams = i % 2;
        s[i].writes = s[i].roams ? SV_ROAM_WRITES : SV_HOME_WRITES;
        check(a0, tidal_session_start(a0, 0, s[i].user, 0, &s[i].id), "session start");
        check(a0, tidal_session_get(a0, 0, s[i].id, &info), "session get");
        s[i].start_ns = info.start_ns;
        s[i].next_ns = now + uniform_ns(&rng, SV_GAP_MIN_NS, SV_GAP_MAX_NS);
    }
    t_start = now;
    next_bg = now + SV_BG_EVERY_NS;
    while (left) {
        tidal_sim_cluster_run(c, now + 1 * MS);
        now = tidal_sim_cluster_now(c);
        if (now >= next_bg) {
            sv_background(c, 0, 0, &bg_a);
            sv_background(c, (uint16_t)B, 1, &bg_b);
            next_bg += SV_BG_EVERY_NS;
        }
        for (i = 0; i < SV_SESSIONS; i++) {
            sv_session *ss = &s[i];
            int in_b;
            tidal_signal sg;
            sv_write *w;
            if (ss->seq == ss->writes || now < ss->next_ns) continue;
            in_b = ss->roams && ss->seq >= SV_ROAM_AT;
            if (in_b && ss->seq == SV_ROAM_AT) /* the user arrives in B */
                check(b1, tidal_session_open(b1, 0, ss->id, ss->user, ss->start_ns, 0),
                      "session open in B");
            memset(&sg, 0, sizeof sg);
            sg.item = 1 + pick(splitmix64(&rng), SV_ITEMS);
            sg.weight = 1.0;
            sg.time_ns = now; /* a keyed write carries its time and cohort tags (none) */
            sg.cohort = sg_no_tags;
            sg.cohort_count = 0;
            ss->seq++;
            check(in_b ? b1 : a0, tidal_session_signal(in_b ? b1 : a0, ss->id, ss->seq, &sg, NULL),
                  "session signal");
            w = &x->w[x->n];
            w->t_ns = now;
            w->session = ss->id;
            w->seq = ss->seq;
            w->region = in_b ? 0 : (uint16_t)B;
            w->shard = in_b ? 1 : 0;
            w->need = in_b ? (uint32_t)(ss->seq - SV_ROAM_AT) : (uint32_t)ss->seq;
            w->roamed = in_b;
            w->ms = -1.0;
            x->pending[x->n_pending++] = x->n++;
            ss->next_ns = now + uniform_ns(&rng, SV_GAP_MIN_NS, SV_GAP_MAX_NS);
            if (ss->seq == ss->writes) left--;
        }
    }
    t_end = now;
    while (x->n_pending && now - t_end < SV_DRAIN_NS) {
        tidal_sim_cluster_run(c, now + 10 * MS);
        now = tidal_sim_cluster_now(c);
    }
    tidal_sim_cluster_set_observer(c, NULL, NULL);
    if (tidal_sim_cluster_leader(c, 0) != 0 || tidal_sim_cluster_leader(c, 1) != B)
        printf("# session: WARNING a shard changed leader during the run\n");
    /* Verification: what each region shows of each session at the end. */
    for (i = 0; i < SV_SESSIONS; i++) {
        tidal_session_info ib, ia;
        tidal_db *b0 = tidal_sim_cluster_db(c, (uint16_t)B, 0), *a1 = tidal_sim_cluster_db(c, 0, 1);
        uint64_t want_hwm = s[i].roams ? SV_ROAM_AT : SV_HOME_WRITES;
        if (tidal_session_get(b0, 0, s[i].id, &ib) != TIDAL_OK || ib.hwm != want_hwm ||
            ib.entries != want_hwm)
            bad++;
        if (s[i].roams && (tidal_session_get(a1, 0, s[i].id, &ia) != TIDAL_OK ||
                           ia.entries != SV_ROAM_WRITES - SV_ROAM_AT || ia.hwm != 0))
            bad++;
    }
    for (i = 0; i < x->n; i++) seen += x->w[i].ms >= 0;
    printf("# session: %u session writes, %u seen on the other side; writes over %.1f s "
           "simulated; %.1f s wall\n", x->n, seen, (double)(t_end - t_start) / 1e9,
           wall_s() - w0);
    net_stats_line("session", c);
    sv_print_dir("A -> B (written in A, read on B's replica)", x, 0, buf);
    sv_print_dir("roaming B -> A (continued in B, read on A's replica)", x, 1, buf);
    if (seen != x->n || bad) {
        printf("session_verified: 0 (%u writes never seen, %u session states wrong)\n",
               x->n - seen, bad);
        exit(1);
    }
    printf("# session: verified: B's replica of shard 0 holds seq 1..%u (home) / 1..%u "
           "(roaming) of every session, A's replica of shard 1 the %u roamed writes of each "
           "roaming session\n", SV_HOME_WRITES, SV_ROAM_AT, SV_ROAM_WRITES - SV_ROAM_AT);
    {
        uint32_t m = 0;
        for (i = 0; i < x->n; i++) buf[m++] = x->w[i].ms;
        qsort(buf, m, sizeof *buf, cmp_double);
        printf("session_visibility_p50_ms: %.1f ms\n", percentile(buf, m, 0.5));
        printf("session_visibility_p99_ms: %.1f ms\n", percentile(buf, m, 0.99));
        printf("session_visibility_max_ms: %.1f ms\n", m ? buf[m - 1] : 0.0);
    }
    free(buf);
    free(x);
    tidal_sim_cluster_free(c);
}

/* ---- 7. uat: the acceptance scenario, timed --------------------------------------------- */

#define UAT_BENCH_SEED UINT64_C(0x7561742d3335)

/* Prints the first 20 failed checks (the count is in the result). */
static void uat_bench_fail(void *ctx, const char *file, int line, const char *msg) {
    unsigned *shown = (unsigned *)ctx;
    if ((*shown)++ < 20) fprintf(stderr, BENCH_NAME ": uat: %s:%d: %s\n", file, line, msg);
}

static void section_uat(void) {
    uat_params p;
    uat_result r;
    double w0, wall;
    unsigned shown = 0;
    int ok;
    memset(&p, 0, sizeof p);
    p.seed = run_seed(UAT_BENCH_SEED);
    p.rate_per_s = 25000.0;
    p.wall_s = wall_s;
    p.fail = uat_bench_fail;
    p.fail_ctx = &shown;
    p.light = 1; /* timed as before: test_uat decodes the logs and observes every node */
    printf("# uat: the acceptance scenario (tests/uat_scenario.h), 3 regions x 5 shards, %.0f "
           "signals/s simulated during the load, seed 0x%llx, every check on (light: no log "
           "file scans, a sampling hidden-item observer)\n", p.rate_per_s,
           (unsigned long long)p.seed);
    w0 = wall_s();
    ok = uat_run(&p, &r);
    wall = wall_s() - w0;
    printf("# uat: %.1f s simulated, %llu signals + %llu hides accepted, %llu refused (no leader "
           "reachable, or not yet cut off), %llu events recorded; batches at QUORUM: %llu ok, "
           "%llu unavailable (ap-south, cut off)\n", r.sim_s, (unsigned long long)r.signals,
           (unsigned long long)r.hides, (unsigned long long)r.refused,
           (unsigned long long)r.events, (unsigned long long)r.quorum_ok,
           (unsigned long long)r.quorum_unavailable);
    printf("# uat: step 1 lag p50 %.1f ms, max %.1f ms (eu-west max %.1f); step 2 crashed shard "
           "%d's leader, region %d took over; step 3 shard %d briefly unreachable; %u gathers, "
           "p50 %.1f us wall\n", r.lag_p50_ms, r.lag_max_ms, r.lag_eu_max_ms, r.shard_x,
           r.new_leader, r.shard_y, r.gathers, r.gather_p50_us);
    if (!ok) {
        printf("uat_verified: 0 (%u failed checks)\n", r.failures);
        fprintf(stderr, BENCH_NAME ": uat: %u checks failed; repro: bench_sim --seed %llu uat\n",
                r.failures, (unsigned long long)g_seed_offset);
        exit(1);
    }
    printf("# uat: verified: every check of the scenario passed (replicas equal each shard's "
           "ground truth, counts and decayed scores equal the oracle, no hidden item shown)\n");
    printf("uat_wall_s: %.2f s\n", wall);
    printf("uat_replication_lag_p99_ms: %.1f ms\n", r.lag_p99_ms);
    printf("uat_failover_ms: %.0f ms\n", r.failover_ms);
    printf("uat_reconcile_ms: %.0f ms\n", r.reconcile_ms);
    /* Host-side scatter (tidal_retrieve_gather over the shards' handles): the figure that
       was retrieve_scatter_p99_us before the gather went through messages (section gather
       prints that name now, measured through tidal_peer_gather). */
    printf("retrieve_scatter_host_p99_us: %.1f us\n", r.gather_p99_us);
    printf("# uat: step 3's and the final gathers through the library (tidal_peer_gather, "
           "checked against the oracle): %u, the longest %.0f ms SIMULATED from the call to "
           "its completion (the one with shard %d down waits out its 1 s deadline)\n",
           r.lib_gathers, r.lib_gather_sim_ms_max, r.shard_y);
    printf("# uat: step 5 moved tenant 3 (%llu writes during the move, %llu of them refused once and retried, %llu "
           "gathers, none failed, each equal to the oracle's top 50)\n", (unsigned long long)r.migration_writes,
           (unsigned long long)r.migration_retries, (unsigned long long)r.migration_gathers);
    printf("migration_switch_ms: %.0f ms\n", r.migration_switch_ms);
    printf("migration_ms: %.0f ms\n", r.migration_ms);
    printf("migration_write_wait_max_ms: %.1f ms\n", r.migration_write_wait_max_ms);
}

/* ---- control: the control plane's commit latency -------------------------------------- */

#define CTL_N 3
#define CTL_RECORDS 2000

typedef struct ctl_member {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_control *ctl;
} ctl_member;

/* Delivers what is due at now and ticks every member once. */
static void ctl_step(tidal_sim_net *net, ctl_member *m, int64_t now) {
    tidal_sim_msg msg;
    int i;
    for (i = 0; i < CTL_N; i++) {
        m[i].env.mono_ns += now - m[i].env.now_ns;
        m[i].env.now_ns = now;
    }
    while (tidal_sim_net_pop(net, now, &msg)) {
        int to = msg.to.region;
        if (to < CTL_N) (void)tidal_control_receive(m[to].ctl, msg.from, msg.bytes, msg.len);
        tidal_sim_msg_free(&msg);
    }
    for (i = 0; i < CTL_N; i++) (void)tidal_control_tick(m[i].ctl);
}

static void section_control(void) {
    tidal_node_ref refs[CTL_N];
    ctl_member m[CTL_N];
    tidal_sim_net *net = tidal_sim_net_new(run_seed(0xC0271));
    uint64_t rng = run_seed(0xC0272), idx[CTL_RECORDS], term[CTL_RECORDS];
    int64_t start[CTL_RECORDS], now = INT64_C(1790000000) * 1000000000, next_prop;
    double *ms = (double *)xmalloc(CTL_RECORDS * sizeof(double));
    int i, leader = -1, proposed = 0, done = 0;
    uint64_t leader_changes = 0, leader_term = 0;
    char err[256];
    double t0 = wall_s();
    for (i = 0; i < CTL_N; i++) {
        refs[i].region = (uint16_t)i; /* one member per region: every quorum crosses regions */
        refs[i].shard = 0;
    }
    for (i = 0; i < CTL_N; i++) {
        tidal_control_config cfg;
        m[i].disk = tidal_sim_disk_new(run_seed(0xC0280 + (uint64_t)i));
        tidal_sim_env_init(&m[i].env, m[i].disk, now, run_seed(0xC0290 + (uint64_t)i));
        tidal_sim_env_attach_net(&m[i].env, net, refs[i]);
        memset(&cfg, 0, sizeof cfg);
        cfg.env = &m[i].env.env;
        cfg.path = "ctl";
        cfg.self = refs[i];
        cfg.members = refs;
        cfg.member_count = CTL_N;
        if (tidal_control_open(&cfg, &m[i].ctl, err, sizeof err) != TIDAL_OK) {
            fprintf(stderr, BENCH_NAME ": control: open: %s\n", err);
            exit(1);
        }
    }
    next_prop = now + 3000 * MS; /* an election first */
    while (done < CTL_RECORDS && now < next_prop + INT64_C(600) * 1000 * MS) {
        int64_t t = tidal_sim_net_next_ns(net), step = now + 10 * MS;
        if (t > now && t < step) step = t;
        if (proposed < CTL_RECORDS && next_prop > now && next_prop < step) step = next_prop;
        now = step;
        ctl_step(net, m, now);
        for (i = 0, leader = -1; i < CTL_N; i++) {
            tidal_control_status st;
            tidal_control_status_get(m[i].ctl, &st);
            if (st.role == TIDAL_ROLE_LEADER) leader = i;
            if (st.role == TIDAL_ROLE_LEADER && st.term != leader_term) {
                leader_changes += leader_term != 0;
                leader_term = st.term;
            }
        }
        if (leader >= 0 && proposed < CTL_RECORDS && now >= next_prop) {
            tidal_control_record rec;
            memset(&rec, 0, sizeof rec);
            rec.kind = TIDAL_CONTROL_TENANT;
            rec.tenant = (uint32_t)proposed + 1;
            rec.rate_per_s = 1000;
            if (tidal_control_propose(m[leader].ctl, &rec, &idx[proposed], &term[proposed]) == TIDAL_OK) {
                start[proposed++] = now;
            }
            next_prop = now + uniform_ns(&rng, 10 * MS, 50 * MS);
        }
        /* Committed = the leader knows it (the moment its host may act on it). */
        while (leader >= 0 && done < proposed) {
            tidal_result r = tidal_control_proposal_status(m[leader].ctl, idx[done], term[done]);
            if (r == TIDAL_PENDING) break;
            if (r != TIDAL_OK) {
                fprintf(stderr, BENCH_NAME ": control: proposal %d lost (%s)\n", done, tidal_strerror(r));
                exit(1);
            }
            ms[done] = (double)(now - start[done]) / 1e6;
            done++;
        }
    }
    if (done < CTL_RECORDS) {
        fprintf(stderr, BENCH_NAME ": control: only %d of %d records committed\n", done, CTL_RECORDS);
        exit(1);
    }
    qsort(ms, (size_t)done, sizeof *ms, cmp_double);
    printf("# control: 3 members in 3 regions (one each; latency across regions 20-150 ms, "
           "uniform), %d tenant records proposed at the leader every 10-50 ms; commit = the "
           "leader's tidal_control_proposal_status turns OK (a majority fsynced it); "
           "members ticked every 10 ms and after each delivery; %llu leader changes; %.1f s wall\n",
           CTL_RECORDS, (unsigned long long)leader_changes, wall_s() - t0);
    printf("control_commit_p50_ms: %.1f ms\n", percentile(ms, (size_t)done, 0.5));
    printf("control_commit_p99_ms: %.1f ms\n", percentile(ms, (size_t)done, 0.99));
    printf("control_commit_max_ms: %.1f ms\n", ms[done - 1]);
    for (i = 0; i < CTL_N; i++) {
        tidal_control_close(m[i].ctl);
        tidal_sim_disk_free(m[i].disk);
    }
    {
        tidal_sim_msg msg;
        while (tidal_sim_net_pop(net, INT64_MAX, &msg)) tidal_sim_msg_free(&msg);
    }
    tidal_sim_net_free(net);
    free(ms);
}

/* ---- gather: scatter-gather through messages on the peer world ------------------------- */

/* The peer world of the tests (tests/peer_world.h: 3 regions x 2 shards of tidal_peers on
   the simulated network, tenant 1 on group 0 in every region, tenant 2 on group 3 in
   regions 0 and 1), with its check macros from the test harness. */
#include "../tests/tidal_test.h"
#include "../tests/peer_world.h"

#define GX_SEED UINT64_C(0x67617468)
#define GX_ITEMS 2000u
#define GX_WRITES 6000u
#define GX_GATHERS 2000u

/* This thread's CPU time, ns: what the library spends, without the time the shared
   machine gives other processes (wall time is reported beside it). */
static double gx_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One step of peer_world's run() that also times, on the wall clock, every receive of a
   gather message (GATHER_Q at a replica, GATHER_A at the gatherer): *lib_ns grows by the
   time the library spent on them (CPU; *wall_ns: wall). */
static void gx_step(world *w, int64_t dt_max, double *lib_ns, double *wall_ns) {
    int64_t next = tidal_sim_net_next_ns(w->net), step = w->now + dt_max;
    tidal_sim_msg m;
    int i;
    if (next > w->now && next < step) step = next;
    for (i = 0; i < N; i++) tidal_sim_env_advance(&w->nd[i].env, step - w->now);
    w->now = step;
    while (tidal_sim_net_pop(w->net, w->now, &m)) {
        int to = ix(m.to.region, m.to.shard);
        uint32_t group = 0, type = m.len > 9 ? (uint32_t)(m.bytes[8] | m.bytes[9] << 8) : 0;
        int timed = tidal_message_group(m.bytes, m.len, &group) == TIDAL_OK &&
                    group == TIDAL_PEER_GROUP && (type == TIDAL_PEER_MSG_GATHER_Q ||
                                                  type == TIDAL_PEER_MSG_GATHER_A);
        double t0 = timed ? gx_now_ns() : 0, w0 = timed ? wall_s() : 0;
        (void)tidal_peer_receive(w->nd[to].peer, m.from, m.bytes, m.len);
        if (timed) *lib_ns += gx_now_ns() - t0, *wall_ns += (wall_s() - w0) * 1e9;
        tidal_sim_msg_free(&m);
    }
    for (i = 0; i < N; i++) (void)tidal_peer_tick(w->nd[i].peer);
    for (i = 0; i < N; i++) collect(w, i);
}

static void section_gather(void) {
    world w;
    uint64_t rng = run_seed(GX_SEED + 1);
    double *lib_us = (double *)xmalloc(GX_GATHERS * sizeof(double));
    double *sim_ms = (double *)xmalloc(GX_GATHERS * sizeof(double));
    double *host_us = (double *)xmalloc(GX_GATHERS * sizeof(double));
    double *wall_us = (double *)xmalloc(GX_GATHERS * sizeof(double));
    uint32_t k, done = 0, degraded = 0, remote = 0, n_host = 0, writes_ok = 0;
    uint64_t hit_sum = 0;
    double t0 = wall_s();
    (void)tt_main; /* the harness's runner: not used here */
    tt_g.prog = BENCH_NAME;
    tt_g.current = "gather";
    tt_g.seed = run_seed(GX_SEED);
    setup(&w);
    /* Load: GX_WRITES signals of each tenant over GX_ITEMS items, from random nodes, 200 in
       flight at a time, every one acknowledged at QUORUM. */
    for (k = 0; k < 2 * GX_WRITES && TT_OK(); k++) {
        tidal_signal s;
        uint64_t t;
        memset(&s, 0, sizeof s);
        s.tenant = 1 + (k & 1u);
        s.item = 1 + pick(splitmix64(&rng), GX_ITEMS);
        s.weight = 1;
        (void)tidal_peer_signal_write(w.nd[pick(splitmix64(&rng), N)].peer, &s, TIDAL_ACK_QUORUM,
                                      &t);
        if (k % 200 == 199 || k + 1 == 2 * GX_WRITES) {
            int g;
            run(&w, 400 * MS);
            for (g = 0; g < w.n_got; g++) writes_ok += w.got[g].c.outcome == TIDAL_PEER_DONE_OK;
            w.n_got = 0;
        }
    }
    run(&w, 1000 * MS);
    w.n_got = 0;
    if (writes_ok < GX_WRITES) die("gather", "fewer than half the writes were acknowledged");
    /* Gathers, one at a time, from a random node, of either tenant: LIMIT 50 at one AT. */
    for (k = 0; k < GX_GATHERS && TT_OK(); k++) {
        char text[160];
        uint32_t tenant = 1 + (k & 1u);
        int i = (int)pick(splitmix64(&rng), N), j;
        const tidal_peer_completion *c = NULL;
        double lib = 0, wall = 0, a, aw;
        int64_t start = w.now;
        uint64_t t = 0;
        snprintf(text, sizeof text, "RETRIEVE items SIGNAL view TENANT %u LIMIT 50 AT %lld", tenant,
                 (long long)(T0 + 7200 * TIDAL_NS_PER_S));
        a = gx_now_ns();
        aw = wall_s();
        if (tidal_peer_gather(w.nd[i].peer, text, 0, &t) != TIDAL_OK)
            die("gather", tidal_peer_errmsg(w.nd[i].peer));
        lib += gx_now_ns() - a;
        wall += (wall_s() - aw) * 1e9;
        while (!c && w.now < start + 3000 * MS) {
            for (j = 0; j < w.n_got && !c; j++)
                if (w.got[j].node == i && w.got[j].c.ticket == t) c = &w.got[j].c;
            if (!c) gx_step(&w, 5 * MS, &lib, &wall);
        }
        if (!c || c->outcome != TIDAL_PEER_DONE_OK) die("gather", c ? c->message : "no completion");
        degraded += (uint32_t)c->degraded;
        hit_sum += c->hit_count;
        remote += w.now > start;
        lib_us[done] = lib / 1e3;
        wall_us[done] = wall / 1e3;
        sim_ms[done] = (double)(w.now - start) / 1e6;
        done++;
        w.n_got = 0;
        /* The host-side scatter over the same members (one per shard), for comparison. */
        {
            tidal_db *sh[SHARDS];
            tidal_hit hits[50];
            uint32_t n = 0, s;
            tidal_query_text qt;
            tidal_query q;
            int ok = 1;
            tidal_query_parse(text, strlen(text), &qt, NULL);
            memset(&q, 0, sizeof q);
            for (s = 0; s < SHARDS; s++) {
                sh[s] = tidal_peer_member(w.nd[ix(0, (int)s)].peer, tenant == 1 ? 0 : 3);
                ok &= sh[s] != NULL;
            }
            if (ok && tidal_signal_type(sh[0], "view", &q.rank_index) == TIDAL_OK) {
                q.tenant = tenant;
                q.limit = 50;
                q.time_ns = qt.time_ns;
                a = gx_now_ns();
                if (tidal_retrieve_gather(sh, SHARDS, 0, &q, hits, 50, &n, NULL) == TIDAL_OK)
                    host_us[n_host++] = (gx_now_ns() - a) / 1e3; /* CPU, as above */
            }
        }
    }
    if (!TT_OK() || done < GX_GATHERS) die("gather", "the peer world failed a check");
    /* Control records through tidal_peer_propose from random nodes (a learner's travels to
       the leader): SIMULATED time from the call to its OK completion at the caller. */
    {
        enum { PROPOSALS = 200 };
        static double cm[PROPOSALS];
        uint32_t np = 0;
        for (k = 0; k < PROPOSALS && TT_OK(); k++) {
            tidal_control_record rec = rec_tenant(1, 0, TIDAL_TENANT_ACTIVE);
            int i = (int)pick(splitmix64(&rng), N), j;
            const tidal_peer_completion *c = NULL;
            int64_t start = w.now;
            uint64_t t = 0;
            double lib = 0, wall = 0;
            rec.rate_per_s = 1000 + k;
            if (tidal_peer_propose(w.nd[i].peer, &rec, &t) != TIDAL_OK)
                die("gather", tidal_peer_errmsg(w.nd[i].peer));
            while (!c && w.now < start + 3000 * MS) {
                for (j = 0; j < w.n_got && !c; j++)
                    if (w.got[j].node == i && w.got[j].c.ticket == t) c = &w.got[j].c;
                if (!c) gx_step(&w, 5 * MS, &lib, &wall);
            }
            if (!c || c->outcome != TIDAL_PEER_DONE_OK)
                die("gather", c ? c->message : "a proposal without completion");
            cm[np++] = (double)(w.now - start) / 1e6;
            w.n_got = 0;
        }
        qsort(cm, np, sizeof *cm, cmp_double);
        printf("# gather: peer_control_commit_*_ms = SIMULATED time from tidal_peer_propose on "
               "a random node of the peer world to its OK completion there (%u TENANT records, "
               "one at a time; the control section's control_commit_* time tidal_control alone "
               "at its leader)\n", np);
        printf("peer_control_commit_p50_ms: %.1f ms\n", percentile(cm, np, 0.5));
        printf("peer_control_commit_p99_ms: %.1f ms\n", percentile(cm, np, 0.99));
    }
    qsort(lib_us, done, sizeof *lib_us, cmp_double);
    qsort(sim_ms, done, sizeof *sim_ms, cmp_double);
    qsort(host_us, n_host, sizeof *host_us, cmp_double);
    qsort(wall_us, done, sizeof *wall_us, cmp_double);
    printf("# gather: tidal_peer_gather on the peer world (3 regions x 2 shards of tidal_peers, "
           "tests/peer_world.h; latency same region 0.1-2 ms, across 20-150 ms), %u signals "
           "over %u items per tenant, %u gathers one at a time from random nodes alternating "
           "tenant 1 (group 0, every region) and tenant 2 (group 3, regions 0-1: region 2 asks "
           "elsewhere), RETRIEVE ... LIMIT 50 AT a fixed instant; %u of %u writes acknowledged "
           "at QUORUM; %.1f hits per gather, %u degraded, %u waited on the network; %.1f s "
           "wall\n", GX_WRITES, GX_ITEMS, done, writes_ok, 2 * GX_WRITES,
           done ? (double)hit_sum / done : 0.0, degraded, remote, wall_s() - t0);
    printf("# gather: peer_gather_*_us = CPU time (CLOCK_THREAD_CPUTIME_ID) inside the library per "
           "gather: the "
           "tidal_peer_gather call (parse, the local shard's RETRIEVE, queries sent) plus every "
           "tidal_peer_receive of that gather's GATHER_Q (a replica's RETRIEVE and answer) and "
           "GATHER_A (decode, merge, completion), summed; simulated latency, other traffic "
           "(heartbeats, replication) and the test loop excluded; sends into the simulated "
           "network included\n");
    printf("peer_gather_p50_us: %.1f us\n", percentile(lib_us, done, 0.5));
    printf("peer_gather_p99_us: %.1f us\n", percentile(lib_us, done, 0.99));
    printf("# gather: the same on the wall clock (moves with the machine's load): p50 %.1f us, "
           "p99 %.1f us\n", percentile(wall_us, done, 0.5), percentile(wall_us, done, 0.99));
    printf("# gather: retrieve_scatter_p99_us = that wall-clock p99: the host work of a RETRIEVE "
           "over every shard through messages (tidal_peer_gather: every shard's RETRIEVE, the "
           "answers' encode/decode and merge); simulated network latency costs no wall time "
           "and is not in it (a client's wait is peer_gather_sim_*_ms below; the uat "
           "section's host-side tidal_retrieve_gather figure is retrieve_scatter_host_p99_us)\n");
    printf("retrieve_scatter_p99_us: %.1f us\n", percentile(wall_us, done, 0.99));
    printf("# gather: peer_gather_sim_*_ms = SIMULATED time from the call to its completion\n");
    printf("peer_gather_sim_p50_ms: %.1f ms\n", percentile(sim_ms, done, 0.5));
    printf("peer_gather_sim_p99_ms: %.1f ms\n", percentile(sim_ms, done, 0.99));
    printf("# gather: the host-side tidal_retrieve_gather (what retrieve_scatter_host_p99_us times "
           "in the uat section, there on the wall clock) over region 0's members of the same "
           "shards, same query: CPU time, %u runs\n", n_host);
    printf("gather_host_scatter_p99_us: %.1f us\n",
           n_host ? percentile(host_us, n_host, 0.99) : 0.0);
    world_free(&w);
    free(lib_us);
    free(sim_ms);
    free(host_us);
    free(wall_us);
}

/* ---- ship: a leader's commit cost once its in-memory shipping buffer is full ----------- */

/* 3 regions x 1 shard; the leader commits 2,400 batches of 1,000 signals on 1,000 items
   (about 150 MB of log: the 64 MiB of batches a leader keeps to ship fill after ~1M), the
   cluster run 2 ms of simulated time after each. CPU time per 100K signals over the first
   400K (buffer filling) and over the last 400K (buffer full); their ratio should stay near
   1 (2.89 x on 8f3a87b, where each commit past the bound moved the whole buffer). */
static void section_ship(void) {
    tidal_sim_cluster *c = cluster_make(3, 1, 0x5149, g_segment_bytes, 0);
    tidal_db *leader;
    uint64_t rng = run_seed(0x5149);
    double t_first = 0, t_last = 0, t0;
    int b, j;
    printf("# ship: 3 regions x 1 shard, the leader commits 2,400 batches of 1,000 signals; "
           "CPU s per 100K signals while the 64 MiB shipping buffer fills and once it is full\n");
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 500 * MS);
    if (tidal_sim_cluster_leader(c, 0) != 0) die("ship", "region 0 is not leading a fresh group");
    leader = tidal_sim_cluster_db(c, 0, 0);
    for (b = 0; b < 2400; b++) {
        t0 = cpu_s();
        check(leader, tidal_db_batch_begin(leader), "ship batch_begin");
        for (j = 0; j < 1000; j++)
            check(leader, write_one(leader, &rng, 0, 1000, NULL), "ship write");
        check(leader, tidal_db_commit(leader), "ship commit");
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 2 * MS);
        if (b < 400) t_first += cpu_s() - t0;
        if (b >= 2000) t_last += cpu_s() - t0;
    }
    printf("ship_filling_cpu_s_per_100k: %.3f s\n", t_first / 4);
    printf("ship_full_cpu_s_per_100k: %.3f s\n", t_last / 4);
    printf("ship_full_vs_filling: %.2f x\n", t_first > 0 ? t_last / t_first : 0.0);
    tidal_sim_cluster_free(c);
}

/* ---- membership: a lost member replaced (issue 13) -------------------------------------- */

#define MR_SEED UINT64_C(0x6d656d62)
#define MR_ITEMS 9000u    /* the UAT's items: 3 load tenants x 3,000 */
#define MR_SIGNALS 20000u
#define MR_RUNS 3

/* The leader of group 0 shard 1 takes a membership change (retried while rule M3 or an
   election holds it); 1 once the record committed. */
static int mr_change(world *w, int add) {
    int tries;
    for (tries = 0; tries < 400 && TT_OK(); tries++) {
        int l = group_leader(w, 0, 1), g;
        uint64_t t = 0;
        tidal_result r = l < 0 ? TIDAL_ERR_UNAVAILABLE
                         : add ? tidal_peer_member_add(w->nd[l].peer, 0, 2, &t)
                               : tidal_peer_member_remove(w->nd[l].peer, 0, 2, &t);
        if (r != TIDAL_OK) {
            run(w, 50 * MS);
            continue;
        }
        for (g = 0; g < 600; g++) {
            int k;
            for (k = 0; k < w->n_got; k++)
                if (w->got[k].node == l && w->got[k].c.ticket == t)
                    return w->got[k].c.outcome == TIDAL_PEER_DONE_OK;
            w->n_got = 0;
            run(w, 5 * MS);
        }
        return 0;
    }
    return 0;
}

/* One run: SIMULATED ms from the add's commit to the new member voting on its own node. */
static double mr_run(uint64_t seed, uint64_t *promotions) {
    world w;
    uint64_t rng = seed;
    uint32_t k, ok = 0;
    int64_t t_added;
    tidal_peer_config cfg;
    char msg[200];
    tt_g.seed = seed;
    setup(&w);
    for (k = 0; k < MR_SIGNALS && TT_OK(); k++) {
        tidal_signal s;
        uint64_t t;
        memset(&s, 0, sizeof s);
        s.tenant = 1;
        s.item = item_on(1, 1, 1 + (tidal_id)pick(splitmix64(&rng), MR_ITEMS) * SHARDS);
        s.weight = 1;
        (void)tidal_peer_signal_write(w.nd[ix(0, 1)].peer, &s, TIDAL_ACK_QUORUM, &t);
        if (k % 200 == 199) {
            int g;
            run(&w, 300 * MS);
            for (g = 0; g < w.n_got; g++) ok += w.got[g].c.outcome == TIDAL_PEER_DONE_OK;
            w.n_got = 0;
        }
    }
    if (ok < MR_SIGNALS / 2) die("membership", "fewer than half the writes were acknowledged");
    /* (2, 1)'s disk is destroyed; it is removed, and a fresh node takes its place */
    tidal_peer_close(w.nd[ix(2, 1)].peer);
    w.nd[ix(2, 1)].peer = NULL;
    w.nd[ix(2, 1)].up = 0;
    tidal_sim_net_set_down(w.net, ref(ix(2, 1)), 1);
    tidal_sim_disk_wipe(w.nd[ix(2, 1)].disk);
    if (!mr_change(&w, 0)) die("membership", "the removal did not commit");
    run(&w, 500 * MS);
    w.n_got = 0;
    peer_config(&w, ix(2, 1), &cfg);
    cfg.member.group_bootstrap = 0;
    if (tidal_peer_open(&cfg, &w.nd[ix(2, 1)].peer, msg, sizeof msg) != TIDAL_OK)
        die("membership", msg);
    w.nd[ix(2, 1)].up = 1;
    tidal_sim_net_set_down(w.net, ref(ix(2, 1)), 0);
    if (!mr_change(&w, 1)) die("membership", "the add did not commit");
    t_added = w.now;
    for (;;) {
        tidal_node_status st;
        tidal_peer_membership ms;
        (void)tidal_node_status_get(tidal_peer_member(w.nd[ix(2, 1)].peer, 0), &st);
        (void)tidal_peer_membership_get(w.nd[ix(0, 1)].peer, 0, 1, &ms);
        if (!st.learner && !st.removed && (st.voters & 4u) && (ms.voters & 4u)) break;
        if (w.now - t_added > 600 * INT64_C(1000) * MS) die("membership", "never promoted");
        w.n_got = 0;
        run(&w, 1 * MS);
    }
    {
        tidal_peer_membership ms;
        (void)tidal_peer_membership_get(w.nd[ix(0, 1)].peer, 0, 1, &ms);
        *promotions = ms.promotions;
    }
    {
        double ms = (double)(w.now - t_added) / 1e6;
        world_free(&w);
        return ms;
    }
}

static void section_membership(void) {
    double v[MR_RUNS], t0 = wall_s();
    uint64_t promotions = 0;
    int k;
    (void)tt_main;
    tt_g.prog = BENCH_NAME;
    tt_g.current = "membership";
    printf("# membership: the tests' peer world (3 regions x 2 shards, default latencies); "
           "%u QUORUM signals over %u items (the UAT's 3 x 3,000) on group 0 shard 1, then "
           "(2,1)'s disk destroyed, the member removed, a fresh node added in its place; "
           "member_replace_catchup_ms = SIMULATED time from the add's commit to the new "
           "member voting on its node (state transfer, L5's epoch, the promotion record); "
           "%d seeds\n", MR_SIGNALS, MR_ITEMS, MR_RUNS);
    for (k = 0; k < MR_RUNS; k++) v[k] = mr_run(run_seed(MR_SEED + (uint64_t)k), &promotions);
    qsort(v, MR_RUNS, sizeof v[0], cmp_double);
    printf("# membership: %.1f s of wall time, runs %.1f / %.1f / %.1f ms\n", wall_s() - t0,
           v[0], v[1], v[2]);
    printf("member_replace_catchup_ms: %.1f ms\n", v[MR_RUNS / 2]);
    printf("member_replace_catchup_max_ms: %.1f ms\n", v[MR_RUNS - 1]);
}

/* ---- main ------------------------------------------------------------------------------ */


static const bench_section sections[] = {
    {"lag", section_lag},
    {"failover", section_failover},
    {"failover500", section_failover500},
    {"throughput", section_throughput},
    {"reconcile", section_reconcile},
    {"merge", section_merge},
    {"session", section_session},
    {"uat", section_uat},
    {"control", section_control},
    {"gather", section_gather},
    {"transfer", section_transfer},
    {"ship", section_ship},
    {"membership", section_membership},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

static void usage(const char *argv0) {
    size_t k;
    fprintf(stderr, "usage: %s [--seed N] [--segment BYTES] [section...]\nsections:", argv0);
    for (k = 0; k < N_SECTIONS; k++) fprintf(stderr, " %s", sections[k].name);
    fprintf(stderr, "\n");
    exit(2);
}

int main(int argc, char **argv) {
    int want[N_SECTIONS], any = 0, i;
    size_t k;
    double t0 = wall_s();
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (k = 0; k < N_SECTIONS; k++) want[k] = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seed")) {
            char *end;
            if (i + 1 >= argc) usage(argv[0]);
            g_seed_offset = strtoull(argv[++i], &end, 0);
            if (*end) usage(argv[0]);
            continue;
        }
        if (!strcmp(argv[i], "--segment")) {
            char *end;
            if (i + 1 >= argc) usage(argv[0]);
            g_segment_bytes = strtoull(argv[++i], &end, 0);
            if (*end) usage(argv[0]);
            continue;
        }
        for (k = 0; k < N_SECTIONS && strcmp(argv[i], sections[k].name); k++) {}
        if (k == N_SECTIONS) usage(argv[0]);
        want[k] = any = 1;
    }
    if (!any)
        for (k = 0; k < N_SECTIONS; k++) want[k] = 1;
    printf("# bench_sim: tidal %s, seed offset %llu, WAL segments of %llu bytes%s\n",
           TIDAL_VERSION_STRING, (unsigned long long)g_seed_offset,
           (unsigned long long)(g_segment_bytes ? g_segment_bytes : UINT64_C(64) << 20),
           g_segment_bytes ? "" : " (library default)");
    for (k = 0; k < N_SECTIONS; k++)
        if (want[k]) sections[k].run();
    printf("# bench_sim: %.1f s in all\n", wall_s() - t0);
    return 0;
}
