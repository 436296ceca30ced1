/* uat_scenario.h - the acceptance scenario of the original planning notes (seeds/000, 004;
   DESIGN 5, 8) on a simulated 3-region x 5-shard cluster, shared by tests/test_uat.c (which
   turns every check into a test failure), bench/bench_sim.c's uat section (which prints
   its figures) and examples/demo.c (`make demo`, which narrates it: see "Narration" below).
   Include after tidal.h and tidal_sim.h with their implementations.

   Regions: 0 = us-east, 1 = eu-west, 2 = ap-south. Shard s's replica group is the nodes
   (r, s), r = 0..2, availability mode on. Tenants 1, 2, 3 carry the workload (rate limit and
   entity quota set on every node, which it stays under); tenant 7 has tiny limits for one
   check that exceeding them is refused and changes nothing. Users carry a `locale`
   attribute (EU, US, APAC) written to every shard's leader; items route to shards with
   tidal_route(tenant, item, 5), and so do their signals and hides.

   Workload: 25,000 signals/s of simulated time (params.rate_per_s) in ticks every 1-5 ms.
   Each signal comes from a client in a random region, which writes to the leader of the
   item's shard when it can reach it, or - cut off by a partition - to its own region's
   replica (availability mode: LOCAL acks); a refused write (no leader, not yet cut off) is
   dropped by the client and not part of the oracle. Every tick each target node gets one
   batch (batch_begin/commit: one fsync). One write in 256 is a hide of a hot item by one of
   8 users per tenant instead of a signal. Every 25 ms a gather from us-east must answer
   (the bench times these). The oracle - tidal_sim.h's (>>sim_check), the one the property
   programs use too, and so are the checks named below as the shared checker's -
   records every write that returned OK: each is a distinct event and, since every node's
   disk survives (crashes only, no wipes) and commits fsync, every one of them must be in the
   final state.

   Steps (simulated time; the load runs at 25K/s - a few simulated seconds per step, about 8 s
   in all, which keeps a run at 6-7 s of CPU before the read-only checks - during steps 1-3, and stops at the heal):
   1. 2 s of load with every shard led by us-east: the lag of each batch to each follower
      (first instant its leader_lsn reaches the batch's lsn); eu-west holds everything within
      2 s, its lag gauges are 0, its decayed scores equal us-east's to 6 decimals, and it
      refuses every write entry point of the public API (18 calls, see
      uat__check_follower_refuses): each TIDAL_ERR_READ_ONLY with a message naming the
      leader, none changing its digest or events applied.
   2. Shard X's leader crashes under load: a follower leads and takes writes within 10 s;
      it holds every QUORUM-acknowledged write BY EVENT ID (the oracle keeps the id of every
      write that returned OK, from its receipt; tidal_event_is_applied on the new leader),
      and counts none twice (each item's count and score are those of the events applied
      there, by id). The old leader restarts and rejoins.
   3. ap-south is isolated for ~6.5 s; writes go on on both sides (majority leaders at QUORUM,
      ap-south replicas LOCAL, never QUORUM-acknowledged while cut off). Its gathers go
      through the library's own scatter-gather (tidal_peer_gather on one node's peer, by
      tidal_sim_cluster_gather: one GATHER_Q per shard over the simulated network, the next
      replica after gather_try_ns, completion by its 1 s deadline); the test names neither
      the replicas nor what is unreachable. After 2.5 s of partition the load pauses until
      us-east's and eu-west's followers hold what their leaders took (so any replica the
      library picks answers exactly), then RETRIEVE ... COHORT locale:EU AT T from us-east
      answers all 5 shards, is degraded with exactly region 2 in the library's
      regions_missing ("region 2 unreachable"), no shard missing, staleness bound 0, none of
      the items only ap-south wrote, and equals the oracle's top 50 over what the majority
      side holds (items and scores to 6 decimals; uat__oracle_side: every event a majority
      node took or QUORUM acknowledged, each checked held there by id, plus the LOCAL-only
      ap-south events that reached it before the cut). From ap-south: degraded with regions
      0 and 1 named, a staleness bound > 0 (its replicas are cut off), its own items shown,
      equal to the oracle over what ap-south holds. Shard Y's us-east and eu-west nodes
      crash briefly: the library tries each of Y's replicas and, at its deadline, answers
      from the other four, missing = {Y} ("shard Y unreachable"), no item of shard Y, equal
      to the oracle over the majority side's other shards. After the heal (step 4) the
      library's gather from us-east is not degraded (no region, no shard missing, staleness
      0) and is the full oracle's top 50.
   4. The partition heals (load stopped): the time until every shard group has one leader,
      equal digests and event counts on all replicas, equal to the per-shard ground truth.
      Then: per-item all-time counts on every replica equal the oracle (so their sums equal
      the distinct signals routed there: nothing lost, nothing counted twice); decayed scores,
      overall and for the EU cohort, equal the analytic sum w * 2^(-(t - t_i) / half_life)
      over the oracle (long double) to 6 decimals; every hide is in force everywhere; the
      final gather from us-east is not degraded and is the oracle's top 50.
      Every write that returned OK is applied, by its id, on every replica of its shard.
   Throughout: an observer looks at EVERY NODE at EVERY STEP (each delivery or tick) -
   exactly: each live member, of group 0 and of the mover's new group in step 5, whose state
   changed since its last look (suppression depends on state alone, and one signal type's
   ranking does not change with time) - and runs RETRIEVE ... FOR USER there for every user
   with hides of every load tenant the member holds: no hit is an item that replica has
   suppressed, and a hide a replica once enforced stays enforced (hard negatives
   monotone, per incarnation: a crashed follower may come back without events it had
   applied but not yet fsynced, and gets them again). At each step's end every live
   replica applied exactly the oracle's events of its shard that it holds by id (no event
   nobody invoked, none twice), each item's all-time count is the number of those events
   of it (no double count), and every hide applied there (by id) is in force.
   Events: after the heal, every replica's events_applied equals the count of distinct
   events group 0's members wrote for its shard (tidal_sim_cluster_group_truth: origin
   shard of the id; the epoch marker eu-west's one-region group writes when it leads again
   after step 3's restart is that group's, not shard 0's), and that count minus its
   epoch-start markers (events_internal) equals the oracle's; every recorded event was
   written by a member of group 0 or of that group.
   Logs on disk: at the end of every step the WAL segment files of every member on every
   live node's simulated disk are decoded with the library's decoders: each member's log
   holds exactly the events it applied, none twice, and per item and type as many signal
   events as it materializes (the planning notes' "WAL event count == materialized count";
   the accounting for drops, installs and snapshots is at uat__check_logs).
   Gathers: step 3's and the final one go through the library (tidal_peer_gather, DESIGN
   5.8-5.9), which decides degraded, the missing shards and regions and the staleness
   bound itself. The load's gather every 25 ms from us-east (the bench's
   retrieve_scatter_host_p99_us) and step 5's stay host-side, tidal_retrieve_gather over
   handles the test picks: they time the RETRIEVE merge and check answers, not reachability.

   5. Tenant 3 moves from every region to eu-west alone (tidal_sim_cluster_migrate: a
      tidal_peer_move, the library's COPY, SEAL, SWITCH, DONE; see tidal.h >>node_move) while its
      clients in all regions keep writing (5,000 signals/s, routed to the leader of the
      group the control plane names; a write refused with TIDAL_ERR_MOVED or READ_ONLY is
      retried on the next tick) and us-east gathers its top 50 every 25 ms. Checks: the move
      finishes; every write was taken in the end, none waiting more than 500 ms of
      simulated time from its first try (refusals and retries; migration_write_wait_max_ms);
      every gather answered, with the oracle's top 50 at that instant (items and scores to
      6 decimals, from every write taken so far); every write is applied, by id, on the
      group that owns its tenant (eu-west's for tenant 3); afterwards
      every node outside eu-west's new group holds nothing of tenant 3 (footprint 0
      entities, 0 sessions, 0 bytes, in every group), eu-west's members equal the oracle
      (counts, decayed and EU scores, hides); tenants 1, 2 and 7 have the same per-tenant
      digest on every node as before the move.

   Narration: with params.narrate set, the run tells its story as it goes, one line per
   event that matters (the cluster and its tenants, the load, each step's figures, crashes,
   elections, the partition, degraded gathers, the heal, the final health and top items),
   each prefixed with the simulated time since the cluster started ("[  2.013 s] "). It
   reports what the checks measured and says "yes"/"NO" from their outcome, so it never
   claims what a failed check denied. Narrating only reads (status, stats, health): the run,
   its trace and its digests are the same with it or without. `make demo` narrates; the
   tests and the bench leave it NULL. */
#ifndef TIDAL_UAT_SCENARIO_H
#define TIDAL_UAT_SCENARIO_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UAT_MS INT64_C(1000000)
#define UAT_SEC (1000 * UAT_MS)
#define UAT_REGIONS 3
#define UAT_SHARDS 5
#define UAT_NODES (UAT_REGIONS * UAT_SHARDS)
#define UAT_TENANTS 4         /* tenant ids below; the workload uses the first 3 */
#define UAT_LOAD_TENANTS 3
#define UAT_T_LIMITS 3        /* index of tenant 7, the limits check */
#define UAT_ITEMS 3000u       /* items 1..UAT_ITEMS of each tenant */
#define UAT_HOT 50u           /* items 1..UAT_HOT get 30% of the signals and every hide */
#define UAT_AP_ITEM0 900001u  /* tenant 1 items only ap-south writes, during the partition */
#define UAT_AP_ITEMS 10u
#define UAT_IDX (UAT_ITEMS + UAT_AP_ITEMS + 1) /* item index space (see uat__idx) */
#define UAT_USERS 300u
#define UAT_USER0 UINT64_C(1000000) /* user u (1..UAT_USERS) is entity UAT_USER0 + u */
#define UAT_HIDERS 8u         /* users 1..8 of each load tenant hide hot items */
#define UAT_PAIRS (UAT_LOAD_TENANTS * UAT_HIDERS * UAT_HOT)
#define UAT_LIMIT 50u
#define UAT_STEP1_NS (2 * UAT_SEC)
#define UAT_GATHER_EVERY_NS (25 * UAT_MS) /* a gather from us-east during the load */
#define UAT_RATE_LIMIT 8000.0  /* tenants 1-3: signals/s per node (the load stays under) */
#define UAT_QUOTA 5000u        /* tenants 1-3: entities per node */
#define UAT_T7_RATE_LIMIT 5.0  /* tenant 7: tiny limits, for the limits check */
#define UAT_T7_QUOTA 3u
#define UAT_TOP_SHOWN 5        /* final top items the narration shows */
#define UAT_MOVER 2                 /* step 5: tenant 3 (index 2) moves ... */
#define UAT_MOVE_TO (1u << 1)       /* ... to eu-west alone */
#define UAT_MOVE_RATE 5000.0        /* its signals/s during the move */
#define UAT_MOVE_WAIT_MAX_NS (500 * UAT_MS) /* the longest a write may wait during the move */

#if defined(__GNUC__)
#define UAT__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define UAT__PRINTF(f, a)
#endif

static const uint32_t uat_tenant_ids[UAT_TENANTS] = {1, 2, 3, 7};
static const char *const uat_locales[3] = {"EU", "US", "APAC"}; /* user u: u % 3 */
static const char *const uat_region_names[UAT_REGIONS] = {"us-east", "eu-west", "ap-south"};
static const tidal_signal_def uat_sigs[2] = {{"view", 3600.0, 0, 0, 0},
                                             {"like", 86400.0, 0, 0, 0}};
static const char *const uat_ckeys[1] = {"locale"};
static const char uat_text_eu[] = "RETRIEVE items SIGNAL view TENANT 1 COHORT locale:EU LIMIT 50";

typedef struct uat_params {
    uint64_t seed;
    double rate_per_s;      /* signals per simulated second during the load; 25000 */
    int verbose;            /* print a line per step */
    /* 1: lighten the two checks that only read and cost the most, for repeats of a run
       already checked in full (the determinism case) and for the bench (which times the
       scenario as it always did): no decoding of the log files, and the hidden-item
       observer samples - one data-group member in turn every 4th step - instead of
       looking at every changed member at every step. The run, its trace and digests are
       the same either way. */
    int light;
    double (*wall_s)(void); /* benchmarks only (tests never time): times each gather */
    void (*fail)(void *ctx, const char *file, int line, const char *msg);
    void *fail_ctx;
    /* NULL: silent. Else called with each line of the story (no newline), prefixed with
       the simulated time since the cluster started; see "Narration" above. */
    void (*narrate)(void *ctx, const char *line);
    void *narrate_ctx;
} uat_params;

typedef struct uat_result {
    uint32_t failures;
    uint8_t trace[32];            /* tidal_sim_cluster_trace at the end */
    uint8_t digest[UAT_SHARDS][32]; /* each shard's ground truth */
    uint64_t signals, hides, refused, events;
    uint64_t quorum_ok, quorum_unavailable; /* batches decided at QUORUM */
    double lag_p50_ms, lag_p99_ms, lag_max_ms, lag_eu_max_ms; /* step 1, simulated */
    double failover_ms;   /* crash -> the new leader takes a write (simulated) */
    double reconcile_ms;  /* heal -> converged (simulated) */
    double sim_s;         /* simulated time of the whole run */
    uint32_t gathers;
    double gather_p50_us, gather_p99_us; /* wall, when params.wall_s is set */
    uint32_t lib_gathers;         /* through the library (tidal_peer_gather): step 3, final */
    double lib_gather_sim_ms_max; /* the longest of them, call to completion (simulated) */
    uint64_t neg_checks, steps;
    uint64_t nodes_observed; /* (step, member) pairs the observer checked: each changed one */
    uint64_t log_scans, log_events_scanned; /* the WAL files decoded at each step's end */
    uint64_t snapshot_members; /* members whose log count was accounted by their snapshot */
    int shard_x, shard_y, new_leader;
    double migration_ms;        /* step 5: placement change -> old copy collected (simulated) */
    double migration_switch_ms; /* step 5: placement change -> the new group owns it */
    uint64_t migration_writes, migration_retries, migration_gathers; /* retries: writes refused once */
    double migration_write_wait_max_ms; /* step 5: longest a write waited (refusals, retries) */
    uint64_t migration_gathers_checked; /* step 5: gathers compared with the oracle */
} uat_result;

/* ---- state ----------------------------------------------------------------------------- */

/* The oracle is tidal_sim.h's (>>sim_check): every write that returned OK is a record
   (kind, tenant, the shard its item routes to, the node that took it, content, the id its
   receipt named; mark UAT_MARK_EU: a signal of an EU user, for the cohort scores); a
   batch's records are settled at QUORUM once its status says so. */
#define UAT_MARK_EU 1u

enum { UAT_PENDING = 0, UAT_OK = 1, UAT_UNAVAILABLE = 2, UAT_UNKNOWN = 3 };

typedef struct uat_batch {
    tidal_receipt last;  /* of the batch's last write */
    uint32_t op0, n_ops; /* its writes: the oracle's records op0 .. op0 + n_ops - 1 */
    int64_t commit_ns;
    uint32_t life;       /* of the node when written */
    uint8_t node, status, partitioned; /* partitioned: written on the cut-off side */
} uat_batch;

typedef struct uat_w { /* one write of the current tick, before it is flushed */
    tidal_signal s;
    int64_t born_ns; /* step 5: when the client first tried it */
    uint8_t node, hide, taken;
} uat_w;

typedef struct uat {
    uat_params p;
    uat_result *res;
    tidal_sim_cluster *c;
    uint64_t rng;
    uint32_t life[UAT_NODES];
    /* the oracle (tidal_sim.h >>sim_check) and what the scenario keeps beside it */
    tidal_sim_oracle *o;
    uat_batch *b;
    uint32_t n_b, cap_b;
    uint32_t *pending;    /* batches not yet decided at QUORUM */
    uint32_t n_pend, cap_pend;
    uint64_t shard_events[UAT_SHARDS]; /* step 4: the oracle's events per shard (no more
                                          writes come while it waits for convergence) */
    uint8_t hidden[UAT_PAIRS];               /* the oracle has a hide of the pair ... */
    uint32_t hidden_upto;                    /* ... looking at its records below this */
    uint8_t enforced[UAT_NODES][UAT_PAIRS];  /* the node was seen enforcing it */
    uint8_t shard_of[UAT_TENANTS][UAT_IDX];  /* uat__shard, precomputed */
    uint8_t pair_shard[UAT_PAIRS];
    tidal_id items[UAT_IDX - 1];             /* every item id (the checker's items nobody
                                                wrote: counts 0) */
    /* load */
    uat_w *tick;
    uint32_t cap_tick;
    int partitioned;      /* region 2 isolated */
    int64_t next_gather;
    uint64_t side_writes[2]; /* during the partition: majority side, ap-south */
    uint32_t rank_view;
    /* step 1: lag */
    int lag_on, lag_watch;
    uint32_t *lag_b[UAT_SHARDS], n_lag_b[UAT_SHARDS], cap_lag_b[UAT_SHARDS];
    uint32_t lag_next[UAT_SHARDS][2];
    double *lag_ms;
    uint32_t n_lag, cap_lag;
    /* step 2: failover */
    int fo_shard, fo_pending, fo_checked;
    int64_t fo_crash_ns;
    /* the observer */
    uint64_t steps;
    /* step 5 */
    uint64_t move_ok, move_refused, move_gathers, move_gathers_failed;
    int64_t move_wait_max_ns;
    /* step 5's oracle of the mover's EU view scores: sums decayed to move_t_ref, kept up
       to date as its writes are taken (score at T = sum * 2^(-(T - t_ref) / half-life)) */
    int move_oracle_on;
    int64_t move_t_ref;
    long double move_eu[UAT_IDX];
    uint8_t move_has_eu[UAT_IDX];       /* the mover's item has an EU view */
    uint32_t obs_next;                  /* light: the member the sampling observer looks at next */
    uint32_t seen_life[UAT_NODES][2];   /* the observer: each member as last looked at */
    uint64_t seen_applied[UAT_NODES][2];
    uint32_t seen_group[UAT_NODES][2];
    uint32_t move_group;                /* step 5: the group the mover moves to, once known */
    double *gather_us;
    uint32_t n_gather, cap_gather;
    /* step 1's session (its start event's id is derived from the session's: keyed) */
    tidal_event_id session_start;
    uint32_t session_shard;
    /* RETRIEVE ... COHORT locale:EU, parsed once */
    tidal_query_text qt;
    /* narration: the cluster's start, events applied per node at the heal, the final
       gather's top hits (shown after step 4, where they are checked) */
    int64_t t_start;
    uint64_t applied_at_heal[UAT_NODES];
    tidal_hit top[UAT_TOP_SHOWN];
    uint32_t n_top;
    int top_ok;
} uat;

/* ---- helpers --------------------------------------------------------------------------- */

static void uat__fail(uat *u, const char *file, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    u->res->failures++;
    if (u->p.fail) u->p.fail(u->p.fail_ctx, file, line, msg);
}

/* The shared checker's failures (tidal_sim.h >>sim_check) are the scenario's. */
static void uat__oracle_report(void *ctx, const char *check, const char *msg) {
    uat *u = (uat *)ctx;
    u->res->failures++;
    if (u->p.fail) {
        char line[700];
        snprintf(line, sizeof line, "%s: %s", check, msg);
        u->p.fail(u->p.fail_ctx, __FILE__, __LINE__, line);
    }
}

#define UAT_CHECK(u, cond, ...)                                     \
    do {                                                            \
        if (!(cond)) uat__fail((u), __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
#define UAT_OKR(u, expr)                                                         \
    do {                                                                         \
        tidal_result uat_r_ = (expr);                                            \
        if (uat_r_ != TIDAL_OK)                                                  \
            uat__fail((u), __FILE__, __LINE__, "%s: %s", #expr, tidal_strerror(uat_r_)); \
    } while (0)

static uint64_t uat__rand(uat *u) {
    uint64_t z = (u->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}
static uint32_t uat__below(uat *u, uint32_t n) { return (uint32_t)(uat__rand(u) % n); }

/* Grows *p (elements of size sz) to hold need; aborts on out of memory. */
static void *uat__grow(void *p, uint32_t *cap, uint32_t need, size_t sz) {
    if (need <= *cap) return p;
    while (*cap < need) *cap = *cap ? 2 * *cap : 1024;
    p = realloc(p, (size_t)*cap * sz);
    if (!p) {
        fprintf(stderr, "uat: out of memory\n");
        exit(1);
    }
    return p;
}

static tidal_db *uat__db(const uat *u, int r, int s) {
    return tidal_sim_cluster_db(u->c, (uint16_t)r, (uint16_t)s);
}
static int64_t uat__now(const uat *u) { return tidal_sim_cluster_now(u->c); }
static void uat__run(uat *u, int64_t ns) { tidal_sim_cluster_run(u->c, uat__now(u) + ns); }
static tidal_node_ref uat__ref(int r, int s) {
    tidal_node_ref n;
    n.region = (uint16_t)r;
    n.shard = (uint16_t)s;
    return n;
}
static int uat__reach(const uat *u, int from, int r, int s) {
    return tidal_sim_net_reachable(tidal_sim_cluster_net(u->c), uat__ref(from, s), uat__ref(r, s));
}
static uint32_t uat__shard(int t, tidal_id item) {
    return tidal_route(uat_tenant_ids[t], item, UAT_SHARDS);
}
/* Items 1..UAT_ITEMS keep their number; ap-south's items follow. */
static uint32_t uat__idx(tidal_id item) {
    return item >= UAT_AP_ITEM0 ? UAT_ITEMS + 1 + (uint32_t)(item - UAT_AP_ITEM0) : (uint32_t)item;
}
static tidal_id uat__item_of(uint32_t idx) {
    return idx > UAT_ITEMS ? UAT_AP_ITEM0 + (idx - UAT_ITEMS - 1) : idx;
}
static uint32_t uat__pair(int t, uint32_t hider, tidal_id item) {
    return ((uint32_t)t * UAT_HIDERS + hider - 1) * UAT_HOT + (uint32_t)item - 1;
}
static tidal_db_stats uat__stats(tidal_db *db) {
    tidal_db_stats st;
    tidal_db_stats_get(db, &st);
    return st;
}
static tidal_node_status uat__status(tidal_db *db) {
    tidal_node_status st;
    memset(&st, 0, sizeof st);
    if (db) (void)tidal_node_status_get(db, &st);
    return st;
}
static uint64_t uat__count(uat *u, tidal_db *db, int t, tidal_id item, uint32_t type) {
    tidal_signal_stats st;
    UAT_OKR(u, tidal_signal_read(db, uat_tenant_ids[t], item, type, NULL, 0, &st));
    return st.count[TIDAL_W_ALL];
}

/* Nearest-rank percentile of sorted v. */
static double uat_percentile(const double *v, uint32_t n, double q) {
    uint32_t i = (uint32_t)(q * (double)n + 0.999999);
    if (!n) return 0.0;
    if (i == 0) i = 1;
    if (i > n) i = n;
    return v[i - 1];
}
static int uat__cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- narration ------------------------------------------------------------------------ */

/* One line of the story (see "Narration" above); nothing unless params.narrate is set. */
static void uat__say(uat *u, const char *fmt, ...) UAT__PRINTF(2, 3);
static void uat__say(uat *u, const char *fmt, ...) {
    char line[640];
    int n;
    va_list ap;
    if (!u->p.narrate) return;
    n = snprintf(line, sizeof line, "[%7.3f s] ", (double)(uat__now(u) - u->t_start) / 1e9);
    if (n < 0 || (size_t)n >= sizeof line) n = 0;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    u->p.narrate(u->p.narrate_ctx, line);
}

/* What the narration says of the checks run since the failure count was f0. */
static const char *uat__yes(const uat *u, uint32_t f0) {
    return u->res->failures == f0 ? "yes" : "NO";
}

/* Who leads each shard now, into buf: "us-east leads shards 0, 1, 3 (epoch 1), shard 2
   (epoch 3); eu-west leads shard 4 (epoch 2)"; a shard in an election says so. */
static const char *uat__leaders(const uat *u, char *buf, size_t cap) {
    int lead[UAT_SHARDS], done[UAT_SHARDS], r, s, s2;
    uint64_t epoch[UAT_SHARDS];
    size_t at = 0;
#define UAT__PUT(...)                                                                     \
    do {                                                                                  \
        int w_ = at < cap ? snprintf(buf + at, cap - at, __VA_ARGS__) : 0;                \
        if (w_ > 0) at += (size_t)w_ < cap - at ? (size_t)w_ : cap - at - 1;              \
    } while (0)
    buf[0] = 0;
    for (s = 0; s < UAT_SHARDS; s++) {
        lead[s] = tidal_sim_cluster_leader(u->c, (uint16_t)s);
        epoch[s] = lead[s] >= 0 ? uat__status(uat__db(u, lead[s], s)).epoch : 0;
        done[s] = 0;
    }
    for (r = -1; r < UAT_REGIONS; r++) { /* -1: shards in an election */
        int first = 1;
        for (s = 0; s < UAT_SHARDS; s++) {
            int n = 0;
            if (done[s] || lead[s] != r) continue;
            for (s2 = s; s2 < UAT_SHARDS; s2++) n += lead[s2] == r && epoch[s2] == epoch[s];
            if (first && r >= 0) UAT__PUT("%s%s leads ", at ? "; " : "", uat_region_names[r]);
            else if (first) UAT__PUT("%sno leader (election under way): ", at ? "; " : "");
            else UAT__PUT(", ");
            UAT__PUT("shard%s", n > 1 ? "s" : "");
            for (s2 = s, n = 0; s2 < UAT_SHARDS; s2++) {
                if (lead[s2] != r || epoch[s2] != epoch[s]) continue;
                UAT__PUT("%s %d", n++ ? "," : "", s2);
                done[s2] = 1;
            }
            if (r >= 0) UAT__PUT(" (epoch %llu)", (unsigned long long)epoch[s]);
            first = 0;
        }
    }
#undef UAT__PUT
    return buf;
}

/* in with "region N" followed by the region's name: "region 2 (ap-south)". */
static void uat__name_regions(const char *in, char *out, size_t cap) {
    size_t at = 0;
    while (*in && at + 1 < cap) {
        if (!strncmp(in, "region ", 7) && in[7] >= '0' && in[7] < '0' + UAT_REGIONS &&
            !(in[8] >= '0' && in[8] <= '9')) {
            int w = snprintf(out + at, cap - at, "region %c (%s)", in[7],
                             uat_region_names[in[7] - '0']);
            if (w < 0) break;
            at += (size_t)w < cap - at ? (size_t)w : cap - at - 1;
            in += 8;
        } else {
            out[at++] = *in++;
        }
    }
    out[at] = 0;
}

/* The simulator's health snapshot (lag threshold 1 s): its region lines, named, after one
   line with the count and the leaders (its shard lines say the same as uat__leaders). */
static void uat__say_health(uat *u, const char *what) {
    char text[1024], named[256], leaders[512], *line, *nl;
    uint32_t bad;
    if (!u->p.narrate) return;
    bad = tidal_sim_cluster_health(u->c, UAT_SEC, text, sizeof text);
    if (bad)
        uat__say(u, "%s: %u of %d regions not healthy; leaders: %s", what, bad, UAT_REGIONS,
                 uat__leaders(u, leaders, sizeof leaders));
    else
        uat__say(u, "%s: all %d regions healthy; leaders: %s", what, UAT_REGIONS,
                 uat__leaders(u, leaders, sizeof leaders));
    for (line = text; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) nl = line + strlen(line) - 1; /* a last line without a newline (truncated) */
        else *nl = 0;
        if (!strncmp(line, "shard ", 6)) continue;
        uat__name_regions(line, named, sizeof named);
        uat__say(u, "  %s", named);
    }
}

/* ---- the control plane: tenants, crashes, restarts ------------------------------------- */

/* Every tenant registered with the control plane (tidal_sim_cluster_tenant_set: PLACEMENT
   and TENANT records; each node's peer applies them to its members and, after a restart,
   enforces them from its own disk). Tenant 7's limits are tiny: 5 signals of burst, 3
   entities. */
static void uat__tenants_register(uat *u) {
    int t;
    for (t = 0; t < UAT_TENANTS; t++) {
        tidal_tenant_config tc;
        memset(&tc, 0, sizeof tc);
        tc.tenant = uat_tenant_ids[t];
        tc.rate_per_s = t == UAT_T_LIMITS ? UAT_T7_RATE_LIMIT : UAT_RATE_LIMIT;
        tc.entity_quota = t == UAT_T_LIMITS ? UAT_T7_QUOTA : UAT_QUOTA;
        UAT_OKR(u, tidal_sim_cluster_tenant_set(u->c, &tc));
    }
}

static void uat__crash(uat *u, int r, int s) {
    tidal_sim_cluster_crash(u->c, (uint16_t)r, (uint16_t)s);
    u->life[r * UAT_SHARDS + s]++;
    memset(u->enforced[r * UAT_SHARDS + s], 0, UAT_PAIRS);
}

static void uat__restart(uat *u, int r, int s) {
    UAT_OKR(u, tidal_sim_cluster_restart(u->c, (uint16_t)r, (uint16_t)s)); /* P1: its disk */
}

/* ---- writes ---------------------------------------------------------------------------- */

/* The node a client in region `from` writes shard s to: the leader when it can reach it;
   cut off by a partition, its own region's replica (availability mode); -1: none. */
static int uat__target(const uat *u, int from, int s) {
    int l = tidal_sim_cluster_leader(u->c, (uint16_t)s);
    if (l >= 0 && uat__reach(u, from, l, s)) return l * UAT_SHARDS + s;
    if (u->partitioned && from == 2 && uat__db(u, 2, s)) return 2 * UAT_SHARDS + s;
    return -1;
}

/* Records a write that returned OK with receipt rc in the oracle: of tenant index t, its
   entity routed to shard, taken by node (r, shard) of group g; s: a signal's content, or
   NULL for a hide (hide set: of item by user) or another write (an attribute, a session
   start). Returns the record's index. */
static uint32_t uat__record(uat *u, const tidal_receipt *rc, int t, uint32_t shard, int r,
                            uint32_t g, const tidal_signal *s, int hide, tidal_id user,
                            tidal_id item) {
    tidal_sim_op op;
    memset(&op, 0, sizeof op);
    op.id = rc->id;
    op.kind = s ? TIDAL_SIM_OP_SIGNAL : hide ? TIDAL_SIM_OP_HIDE : TIDAL_SIM_OP_OTHER;
    op.outcome = TIDAL_SIM_OK;
    op.level = TIDAL_ACK_LOCAL;
    op.tenant = uat_tenant_ids[t];
    op.group = g;
    op.region = (uint16_t)r;
    op.shard = (uint16_t)shard;
    op.user = user;
    op.entity = item;
    if (s) {
        int eu = s->user && (s->user - UAT_USER0) % 3 == 0;
        op.entity = s->item;
        op.user = s->user;
        op.type = s->type;
        op.weight = s->weight;
        op.time_ns = s->time_ns;
        op.mark = eu ? UAT_MARK_EU : 0;
        if (u->move_oracle_on && t == UAT_MOVER && eu && s->type == 0) {
            uint32_t idx = uat__idx(s->item);
            u->move_eu[idx] += (long double)s->weight *
                               exp2l(-(long double)(u->move_t_ref - s->time_ns) /
                                     ((long double)uat_sigs[0].half_life_s * 1e9L));
            u->move_has_eu[idx] = 1;
        }
        u->res->signals++;
    }
    if (hide) u->res->hides++;
    return tidal_sim_oracle_record(u->o, &op);
}

/* The member (region, shard) of group g, as the checker names it. */
static tidal_sim_member uat__member(const uat *u, int r, int s, uint32_t g) {
    tidal_sim_member m;
    memset(&m, 0, sizeof m);
    m.db = tidal_sim_cluster_group_db(u->c, g, (uint16_t)r, (uint16_t)s);
    m.region = (uint16_t)r;
    m.shard = (uint16_t)s;
    m.group = g;
    return m;
}

static tidal_sim_scope uat__scope_shard(int s) {
    tidal_sim_scope sc;
    memset(&sc, 0, sizeof sc);
    sc.by_shard = 1;
    sc.shard = (uint16_t)s;
    return sc;
}

static int uat__tenant_index(uint32_t tenant) {
    int t;
    for (t = 0; t < UAT_TENANTS && uat_tenant_ids[t] != tenant; t++) {}
    return t;
}

/* Writes one tick's writes bound for node k as one batch. The first refusal (read-only:
   no leader, not cut off yet) drops the rest for this tick, as a client backing off would. */
static void uat__flush_node(uat *u, int k, uint32_t n) {
    int r = k / UAT_SHARDS, s = k % UAT_SHARDS;
    tidal_db *db = uat__db(u, r, s);
    uat_batch bt;
    uint32_t i, wrote = 0;
    int refusing = 0;
    memset(&bt, 0, sizeof bt);
    UAT_OKR(u, tidal_db_batch_begin(db));
    for (i = 0; i < n; i++) {
        uat_w *w = &u->tick[i];
        int t = uat__tenant_index(w->s.tenant);
        tidal_result rr;
        tidal_receipt rc;
        if (w->node != k) continue;
        if (refusing) {
            u->res->refused++;
            continue;
        }
        rr = w->hide ? tidal_negative_add(db, w->s.tenant, w->s.user, TIDAL_HIDE, w->s.item, &rc)
                     : tidal_signal_write(db, &w->s, &rc);
        if (rr == TIDAL_ERR_READ_ONLY) {
            refusing = 1;
            u->res->refused++;
            continue;
        }
        UAT_CHECK(u, rr == TIDAL_OK && !rc.duplicate, "node (%d, %d): write: %s", r, s,
                  tidal_strerror(rr));
        if (rr != TIDAL_OK) continue;
        bt.last = rc;
        if (!wrote++) bt.op0 = tidal_sim_oracle_count(u->o);
        bt.n_ops++;
        if (u->partitioned) u->side_writes[r == 2]++;
        (void)uat__record(u, &rc, t, (uint32_t)s, r, 0, w->hide ? NULL : &w->s, w->hide, w->s.user,
                          w->s.item);
        if (u->fo_pending && s == u->fo_shard) { /* the new leader took a write */
            u->fo_pending = 0;
            u->res->failover_ms = (double)(uat__now(u) - u->fo_crash_ns) / 1e6;
            uat__say(u, "FAILOVER: %s, shard %d's new leader, takes its first write %.0f ms "
                     "after the crash", uat_region_names[r], s, u->res->failover_ms);
        }
    }
    UAT_OKR(u, tidal_db_commit(db));
    if (!wrote) return;
    bt.commit_ns = uat__now(u);
    bt.life = u->life[k];
    bt.node = (uint8_t)k;
    bt.partitioned = (uint8_t)(u->partitioned && r == 2);
    if (bt.partitioned)
        UAT_CHECK(u, tidal_write_status(db, &bt.last, TIDAL_ACK_LOCAL) == TIDAL_OK,
                  "ap-south: a committed batch is not LOCAL-acknowledged");
    u->b = (uat_batch *)uat__grow(u->b, &u->cap_b, u->n_b + 1, sizeof *u->b);
    u->b[u->n_b] = bt;
    u->pending = (uint32_t *)uat__grow(u->pending, &u->cap_pend, u->n_pend + 1, sizeof(uint32_t));
    u->pending[u->n_pend++] = u->n_b;
    if (u->lag_on && r == 0) {
        u->lag_b[s] = (uint32_t *)uat__grow(u->lag_b[s], &u->cap_lag_b[s], u->n_lag_b[s] + 1,
                                            sizeof(uint32_t));
        u->lag_b[s][u->n_lag_b[s]++] = u->n_b;
    }
    u->n_b++;
}

/* Polls every undecided batch at QUORUM on the node that took it. */
static void uat__poll(uat *u) {
    uint32_t i = 0;
    while (i < u->n_pend) {
        uat_batch *b = &u->b[u->pending[i]];
        tidal_db *db = uat__db(u, b->node / UAT_SHARDS, b->node % UAT_SHARDS);
        tidal_result st = TIDAL_PENDING;
        if (!db || u->life[b->node] != b->life) b->status = UAT_UNKNOWN;
        else if ((st = tidal_write_status(db, &b->last, TIDAL_ACK_QUORUM)) == TIDAL_OK) {
            uint32_t k;
            b->status = UAT_OK;
            for (k = 0; k < b->n_ops; k++)
                tidal_sim_oracle_settle(u->o, b->op0 + k, TIDAL_SIM_OK, TIDAL_ACK_QUORUM, NULL);
        }
        else if (st == TIDAL_ERR_UNAVAILABLE)
            b->status = UAT_UNAVAILABLE;
        else
            UAT_CHECK(u, st == TIDAL_PENDING, "write status: %s", tidal_strerror(st));
        if (b->status == UAT_PENDING) {
            i++;
            continue;
        }
        u->res->quorum_ok += b->status == UAT_OK;
        u->res->quorum_unavailable += b->status == UAT_UNAVAILABLE;
        UAT_CHECK(u, !(b->status == UAT_OK && b->partitioned && u->partitioned),
                  "a batch written on the cut-off side was QUORUM-acknowledged");
        u->pending[i] = u->pending[--u->n_pend];
    }
}

/* One signal of the workload from a random client; also, now and then, a hide; during the
   partition, ap-south's clients also write its own items (EU users, heavy weights). */
static void uat__gen(uat *u, uint32_t *n, int ap_item) {
    uat_w *w;
    int t = (int)uat__below(u, UAT_LOAD_TENANTS), from = (int)uat__below(u, 3), k;
    tidal_id item =
        uat__below(u, 10) < 3 ? 1 + uat__below(u, UAT_HOT) : 1 + uat__below(u, UAT_ITEMS);
    if (ap_item) {
        t = 0;
        from = 2;
        item = UAT_AP_ITEM0 + uat__below(u, UAT_AP_ITEMS);
    }
    k = uat__target(u, from, u->shard_of[t][uat__idx(item)]);
    if (k < 0) {
        u->res->refused++;
        return;
    }
    u->tick = (uat_w *)uat__grow(u->tick, &u->cap_tick, *n + 1, sizeof *u->tick);
    w = &u->tick[(*n)++];
    memset(w, 0, sizeof *w);
    w->node = (uint8_t)k;
    w->s.tenant = uat_tenant_ids[t];
    w->s.item = item;
    w->s.type = uat__below(u, 8) == 0 ? 1u : 0u;
    w->s.weight = ap_item ? 5.0 : 0.5 * (double)(1 + uat__below(u, 6));
    w->s.time_ns = uat__now(u) - (int64_t)uat__below(u, 30000) * UAT_MS;
    if (ap_item) w->s.user = UAT_USER0 + 3 * (1 + uat__below(u, UAT_USERS / 3 - 1));
    else if (uat__below(u, 3)) w->s.user = UAT_USER0 + 1 + uat__below(u, UAT_USERS);
    if (!ap_item && uat__below(u, 256) == 0) { /* a hide of a hot item instead */
        w->hide = 1;
        w->s.item = 1 + uat__below(u, UAT_HOT);
        w->s.user = UAT_USER0 + 1 + uat__below(u, UAT_HIDERS);
        k = uat__target(u, from, u->shard_of[t][w->s.item]);
        if (k < 0) {
            (*n)--;
            u->res->refused++;
            return;
        }
        w->node = (uint8_t)k;
    }
}


/* ---- gathers --------------------------------------------------------------------------- */

/* The replica of shard s a client in region `from` asks: the leader when it is up and
   reachable (freshest), else its own region's replica, else any reachable one; NULL when
   no replica of s is up and reachable. */
static tidal_db *uat__pick(const uat *u, int from, int s) {
    int l = tidal_sim_cluster_leader(u->c, (uint16_t)s), r;
    if (l >= 0 && uat__db(u, l, s) && uat__reach(u, from, l, s)) return uat__db(u, l, s);
    if (uat__db(u, from, s)) return uat__db(u, from, s);
    for (r = 0; r < UAT_REGIONS; r++)
        if (uat__db(u, r, s) && uat__reach(u, from, r, s)) return uat__db(u, r, s);
    return NULL;
}

/* Regions of the placement (all three) that `from` cannot reach. */
static uint32_t uat__unreachable(const uat *u, int from) {
    uint32_t bits = 0;
    int r;
    for (r = 0; r < UAT_REGIONS; r++) bits |= (uint32_t)!uat__reach(u, from, r, 0) << r;
    return bits;
}

/* RETRIEVE items SIGNAL view TENANT 1 COHORT locale:EU LIMIT 50, from the parsed text. */
static tidal_query uat__query(const uat *u, int64_t t) {
    tidal_query q;
    memset(&q, 0, sizeof q);
    q.tenant = u->qt.tenant;
    q.rank_kind = TIDAL_QUERY_SIGNAL;
    q.rank_index = u->rank_view;
    q.cohort_key = u->qt.cohort_key;
    q.cohort_value = u->qt.cohort_value;
    q.limit = u->qt.limit;
    q.time_ns = t;
    return q;
}

typedef struct uat_ask { /* one scatter-gather and its answer */
    tidal_query q;
    tidal_db *h[UAT_SHARDS]; /* the replica asked per shard (NULL: none reachable) */
    tidal_hit hits[UAT_LIMIT];
    uint32_t n;
    tidal_query_stats st;
    uint32_t unreachable;    /* regions passed as unreachable */
} uat_ask;

/* RETRIEVE ... COHORT locale:EU at time t, gathered by a client in region `from`; it must
   answer (TIDAL_OK). */
static void uat__ask(uat *u, int from, int64_t t, uat_ask *a) {
    tidal_result r;
    double w0 = 0;
    int s;
    a->q = uat__query(u, t);
    a->n = 0;
    a->unreachable = uat__unreachable(u, from);
    for (s = 0; s < UAT_SHARDS; s++) a->h[s] = uat__pick(u, from, s);
    if (u->p.wall_s) w0 = u->p.wall_s();
    r = tidal_retrieve_gather(a->h, UAT_SHARDS, a->unreachable, &a->q, a->hits, UAT_LIMIT, &a->n,
                              &a->st);
    if (u->p.wall_s) {
        u->gather_us = (double *)uat__grow(u->gather_us, &u->cap_gather, u->n_gather + 1,
                                           sizeof(double));
        u->gather_us[u->n_gather++] = (u->p.wall_s() - w0) * 1e6;
    }
    u->res->gathers++;
    UAT_CHECK(u, r == TIDAL_OK, "gather from region %d: %s", from, tidal_strerror(r));
}

typedef struct uat_rank {
    long double score;
    tidal_id item;
} uat_rank;

static int uat__rank_cmp(const void *a, const void *b) {
    const uat_rank *x = (const uat_rank *)a, *y = (const uat_rank *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* ---- step 3: the library's own scatter-gather (tidal_peer_gather) ----------------------
   Each gather is RETRIEVE ... COHORT locale:EU AT T issued on one node's peer
   (tidal_sim_cluster_gather): the library picks a replica per shard, sends it a GATHER_Q
   through the simulated network, moves on after gather_try_ns, completes by its deadline,
   and itself decides what is missing (degraded, the shards, the regions, the staleness
   bound). The test names no replica and no reachability; it compares the completion with
   the oracle's top 50 over the records the reachable side holds (uat__oracle_side). */

#define UAT_GATHER_WAIT_NS UAT_SEC /* tidal_peer_gather's deadline (the library's default) */
#define UAT_SIDE_MAJORITY 3u       /* regions us-east and eu-west */
#define UAT_SIDE_AP 4u             /* ap-south */

typedef struct uat_side { /* the oracle's answer for one side of the partition */
    uat_rank *want;       /* [UAT_IDX]: its EU view scores at T, best first */
    uint32_t m;           /* items with an EU view there */
    uint32_t certain, uncertain, uncertain_held;
} uat_side;

/* The live member of shard s the side's check reads, or NULL. */
static tidal_db *uat__side_db(const uat *u, uint32_t side, int s, int k) {
    int r, seen = 0;
    for (r = 0; r < UAT_REGIONS; r++)
        if ((side >> r & 1u) && uat__db(u, r, s) && seen++ == k) return uat__db(u, r, s);
    return NULL;
}

/* The oracle's RETRIEVE ... COHORT locale:EU (tenant 1, view, EU users) at T over what the
   replicas of regions `side` hold, for the shards in `shards` (bit s), into o->want (best
   first, ties by item). A record (its event's origin) counts when it is CERTAIN there - it
   was taken by a node of the side (which applied it; every live member of the side is
   checked to hold it), or, for the majority side, acknowledged at QUORUM (a majority of its
   shard's nodes has it: one of us-east, eu-west) - or, when neither, when the side's member
   holds it by id (UNCERTAIN: a LOCAL-only write of the other side that may or may not have
   crossed before the cut; counted in o). The side's members must agree (the caller let
   them settle). */
static void uat__oracle_side(uat *u, int64_t T, uint32_t side, uint32_t shards, uat_side *o) {
    long double *sum = (long double *)calloc(UAT_IDX, sizeof *sum);
    uint8_t *has = (uint8_t *)calloc(UAT_IDX, 1);
    uint32_t i, n = tidal_sim_oracle_count(u->o), idx, bad = 0;
    long double hl = (long double)uat_sigs[0].half_life_s * 1e9L;
    memset(o, 0, sizeof *o);
    o->want = (uat_rank *)calloc(UAT_IDX, sizeof *o->want);
    if (!sum || !has || !o->want) exit(1);
    for (i = 0; i < n; i++) {
        const tidal_sim_op *e = tidal_sim_oracle_op(u->o, i);
        int certain, held, k;
        tidal_db *db;
        if (e->kind != TIDAL_SIM_OP_SIGNAL || e->tenant != uat_tenant_ids[0] || e->orig != i ||
            !e->truth || e->type != u->rank_view || !(e->mark & UAT_MARK_EU) ||
            !(shards >> e->shard & 1u))
            continue;
        certain = (side >> e->region & 1u) ||
                  (side == UAT_SIDE_MAJORITY && e->level == TIDAL_ACK_QUORUM);
        held = 0;
        for (k = 0; (db = uat__side_db(u, side, e->shard, k)) != NULL; k++) {
            int here = tidal_event_is_applied(db, e->id);
            if (!k) held = here;
            if ((certain && !here) || here != held) {
                if (bad++ < 5)
                    UAT_CHECK(u, 0, "gather oracle: event %llu.%llu (item %llu, shard %u, taken "
                              "in region %u, %s) %s on a member of side 0x%x", (unsigned long long)
                              e->id.hi, (unsigned long long)e->id.lo,
                              (unsigned long long)e->entity, e->shard, e->region,
                              e->level == TIDAL_ACK_QUORUM ? "QUORUM" : "LOCAL",
                              here ? "held only" : "missing", side);
            }
        }
        if (certain) o->certain++;
        else o->uncertain++, o->uncertain_held += (uint32_t)held;
        if (!certain && !held) continue;
        idx = uat__idx(e->entity);
        sum[idx] += (long double)e->weight * exp2l(-(long double)(T - e->time_ns) / hl);
        has[idx] = 1;
    }
    UAT_CHECK(u, bad == 0, "gather oracle: %u events not where they must be on side 0x%x", bad,
              side);
    for (idx = 1; idx < UAT_IDX; idx++)
        if (has[idx]) {
            o->want[o->m].score = sum[idx];
            o->want[o->m++].item = uat__item_of(idx);
        }
    qsort(o->want, o->m, sizeof o->want[0], uat__rank_cmp);
    free(sum);
    free(has);
}

/* The regions of bits by name ("eu-west and ap-south"), for the narration. */
static const char *uat__region_list(uint32_t bits, char *buf, size_t cap) {
    int r, n = 0, k = 0;
    size_t at = 0;
    buf[0] = 0;
    for (r = 0; r < UAT_REGIONS; r++) n += (int)(bits >> r & 1u);
    for (r = 0; r < UAT_REGIONS && at < cap; r++)
        if (bits >> r & 1u) {
            int w = snprintf(buf + at, cap - at, "%s%s", !k ? "" : k + 1 == n ? " and " : ", ",
                             uat_region_names[r]);
            if (w < 0) break;
            at += (size_t)w;
            k++;
        }
    return n ? buf : "none";
}

/* RETRIEVE ... COHORT locale:EU AT T through the library on node (r, s); it must complete
   OK. */
static void uat__lib_gather(uat *u, int r, int s, int64_t T, tidal_peer_completion *d) {
    char text[160];
    int64_t t0 = uat__now(u);
    tidal_result rr;
    snprintf(text, sizeof text, "%s AT %lld", uat_text_eu, (long long)T);
    rr = tidal_sim_cluster_gather(u->c, (uint16_t)r, (uint16_t)s, text, UAT_GATHER_WAIT_NS, d);
    u->res->lib_gathers++;
    u->res->lib_gather_sim_ms_max = fmax(u->res->lib_gather_sim_ms_max,
                                         (double)(uat__now(u) - t0) / 1e6);
    UAT_CHECK(u, rr == TIDAL_OK && d->outcome == TIDAL_PEER_DONE_OK, "library gather on node "
              "(%d, %d): %s, outcome %u: %s", r, s, tidal_strerror(rr), d->outcome, rr == TIDAL_OK
              ? d->message : tidal_peer_errmsg(tidal_sim_cluster_peer(u->c, (uint16_t)r,
                                                                      (uint16_t)s)));
}

/* The completion's hits are the side's oracle top 50: as many, each item's score to 6
   decimals equal to the oracle's at that rank and to its own oracle score. */
static void uat__check_side(uat *u, const char *what, const tidal_peer_completion *d,
                            const uat_side *o) {
    uint32_t i, want = o->m < UAT_LIMIT ? o->m : UAT_LIMIT, bad = 0;
    UAT_CHECK(u, d->hit_count == want, "%s: %u hits, the oracle %u (of %u items)", what,
              d->hit_count, want, o->m);
    for (i = 0; i < d->hit_count && i < want && bad < 3; i++) {
        const tidal_hit *h = &d->hits[i];
        uint32_t j;
        long double own = -1;
        for (j = 0; j < o->m; j++)
            if (o->want[j].item == h->item) own = o->want[j].score;
        if (fabsl((long double)h->score - o->want[i].score) <= 1e-6L &&
            fabsl((long double)h->score - own) <= 1e-6L)
            continue;
        bad++;
        UAT_CHECK(u, 0, "%s: hit %u: item %llu %.9f (its oracle score %.9Lf); the oracle's item "
                  "%llu %.9Lf", what, i, (unsigned long long)h->item, h->score, own,
                  (unsigned long long)o->want[i].item, o->want[i].score);
    }
}

static uint32_t uat__ap_hits(const tidal_peer_completion *d) {
    uint32_t i, k = 0;
    for (i = 0; i < d->hit_count; i++) k += d->hits[i].item >= UAT_AP_ITEM0;
    return k;
}

/* 1 when every shard's live members in regions `side` are in their leader's epoch, hear it,
   and hold what it holds (events applied, lag 0); the leader must be of the side. */
static int uat__side_settled(uat *u, uint32_t side) {
    int s, r;
    for (s = 0; s < UAT_SHARDS; s++) {
        int l = tidal_sim_cluster_leader(u->c, (uint16_t)s);
        tidal_node_status sl;
        tidal_db_stats s0;
        if (l < 0 || !(side >> l & 1u) || !uat__db(u, l, s)) return 0;
        sl = uat__status(uat__db(u, l, s));
        s0 = uat__stats(uat__db(u, l, s));
        for (r = 0; r < UAT_REGIONS; r++) {
            tidal_db *db = uat__db(u, r, s);
            tidal_node_status st;
            if (!(side >> r & 1u) || r == l || !db) continue;
            st = uat__status(db);
            if (st.epoch != sl.epoch || !st.has_leader || st.cut_off || st.lag_events ||
                uat__stats(db).events_applied != s0.events_applied)
                return 0;
        }
    }
    return 1;
}

/* The load pauses (the partition stays) until the majority side's followers hold what their
   leaders took, so a gather's answer is exact whichever replica the library asks. */
static void uat__settle_majority(uat *u) {
    int64_t t0 = uat__now(u);
    while (!uat__side_settled(u, UAT_SIDE_MAJORITY) && uat__now(u) - t0 < 5 * UAT_SEC)
        uat__run(u, 10 * UAT_MS);
    uat__poll(u);
    UAT_CHECK(u, uat__side_settled(u, UAT_SIDE_MAJORITY), "step 3: us-east and eu-west did not "
              "settle within 5 s (no load)");
    uat__say(u, "the load pauses (the partition stays): %.0f ms later every us-east and eu-west "
             "follower holds what its leader took", (double)(uat__now(u) - t0) / 1e6);
}

/* Step 3, region 2 isolated, through the library's gather: from us-east it answers every
   shard, is degraded with region 2 (and only it) named unreachable, no shard missing, the
   staleness bound 0 (settled followers), and equals the oracle over what the majority
   side holds (so none of the items only ap-south wrote); from ap-south it is degraded with
   us-east and eu-west named, shows ap-south's own items, and equals the oracle over what
   ap-south's replicas hold. */
static void uat__check_gather_partition(uat *u) {
    tidal_peer_completion d;
    uat_side o;
    char names[64];
    int64_t T;
    uint32_t f0;
    uat__settle_majority(u);
    f0 = u->res->failures;
    T = uat__now(u);
    uat__lib_gather(u, 0, 0, T, &d);
    uat__oracle_side(u, T, UAT_SIDE_MAJORITY, (1u << UAT_SHARDS) - 1, &o);
    UAT_CHECK(u, d.degraded && d.regions_missing == UAT_SIDE_AP && d.missing_count == 0 &&
                  d.shards_answered == UAT_SHARDS && strstr(d.degraded_reason, "region 2"),
              "us-east's library gather during the partition: degraded %d, regions missing 0x%x "
              "(want 0x4), %u shards missing, %u of %u answered, \"%s\"", d.degraded,
              d.regions_missing, d.missing_count, d.shards_answered, d.shards_asked,
              d.degraded_reason);
    UAT_CHECK(u, d.staleness_ns == 0 && d.staleness_events == 0, "us-east's gather: staleness "
              "bound %lld ns, %llu events (settled followers: 0)", (long long)d.staleness_ns,
              (unsigned long long)d.staleness_events);
    UAT_CHECK(u, uat__ap_hits(&d) == 0, "us-east shows %u items only ap-south wrote",
              uat__ap_hits(&d));
    uat__check_side(u, "us-east's library gather during the partition", &d, &o);
    if (u->p.verbose)
        printf("    us-east's library gather during the partition: \"%s\" (regions missing "
               "0x%x), %u hits = the oracle's top %u over the majority side (%u events certain, "
               "%u of %u LOCAL-only ap-south events held)\n", d.degraded_reason,
               d.regions_missing, d.hit_count, UAT_LIMIT, o.certain, o.uncertain_held,
               o.uncertain);
    uat__say(u, "GATHER from us-east through the library (tidal_peer_gather: one query per shard "
             "over the network): answers, degraded: \"%s\" - the library itself names %s "
             "unreachable; %u hits from %u shards, staleness bound %lld ms, none of the items only "
             "ap-south wrote, equal to the oracle's top %u over what us-east and eu-west hold: %s",
             d.degraded_reason, uat__region_list(d.regions_missing, names, sizeof names),
             d.hit_count, d.shards_answered, (long long)(d.staleness_ns / UAT_MS), UAT_LIMIT,
             uat__yes(u, f0));
    free(o.want);
    f0 = u->res->failures;
    T = uat__now(u);
    uat__lib_gather(u, 2, 0, T, &d);
    uat__oracle_side(u, T, UAT_SIDE_AP, (1u << UAT_SHARDS) - 1, &o);
    UAT_CHECK(u, d.degraded && d.regions_missing == UAT_SIDE_MAJORITY && d.missing_count == 0,
              "ap-south's library gather: degraded %d, regions missing 0x%x (want 0x3), %u shards "
              "missing, \"%s\"", d.degraded, d.regions_missing, d.missing_count,
              d.degraded_reason);
    UAT_CHECK(u, d.staleness_ns > 0, "ap-south's gather: staleness bound 0 though its replicas "
              "are cut off");
    UAT_CHECK(u, uat__ap_hits(&d) > 0, "ap-south's gather lacks its own items");
    uat__check_side(u, "ap-south's library gather", &d, &o);
    if (u->p.verbose)
        printf("    ap-south's library gather: \"%s\" (regions missing 0x%x), %u of its own items "
               "in its top %u, staleness bound %lld ms\n", d.degraded_reason, d.regions_missing,
               uat__ap_hits(&d), d.hit_count, (long long)(d.staleness_ns / UAT_MS));
    uat__say(u, "GATHER from ap-south through the library: degraded: \"%s\" (regions named "
             "unreachable: %s); %u of its own items in its top %u, staleness bound %lld ms, "
             "equal to the oracle over what ap-south holds (checked: %s)", d.degraded_reason,
             uat__region_list(d.regions_missing, names, sizeof names), uat__ap_hits(&d),
             d.hit_count, (long long)(d.staleness_ns / UAT_MS), uat__yes(u, f0));
    free(o.want);
}

/* Step 3, shard y has no reachable replica (its us-east and eu-west nodes down, ap-south cut
   off): the library's gather from us-east answers from the other four, names shard y
   missing ("shard y unreachable") and holds no item of it, and equals the oracle over the
   majority side's other shards. The library tries y's replicas one after another
   (gather_try_ns each) and completes at its deadline. */
static void uat__check_gather_missing(uat *u, int y) {
    tidal_peer_completion d;
    uat_side o;
    char want[32];
    uint32_t i, f0 = u->res->failures;
    int from = y == 0 ? 1 : 0;
    int64_t T = uat__now(u);
    uat__lib_gather(u, 0, from, T, &d);
    uat__oracle_side(u, T, UAT_SIDE_MAJORITY, ((1u << UAT_SHARDS) - 1) & ~(1u << y), &o);
    snprintf(want, sizeof want, "shard %d unreachable", y);
    UAT_CHECK(u, d.degraded && strstr(d.degraded_reason, want) != NULL && d.missing_count == 1 &&
                  d.missing[0] == (uint32_t)y && (d.regions_missing & UAT_SIDE_AP),
              "library gather without shard %d: degraded %d, reason \"%s\", %u missing (first "
              "%u), regions missing 0x%x", y, d.degraded, d.degraded_reason, d.missing_count,
              d.missing_count ? d.missing[0] : 0, d.regions_missing);
    UAT_CHECK(u, d.shards_answered == UAT_SHARDS - 1 && d.hit_count > 0, "gather answered by %u "
              "shards, %u hits", d.shards_answered, d.hit_count);
    for (i = 0; i < d.hit_count; i++)
        UAT_CHECK(u, u->shard_of[0][uat__idx(d.hits[i].item)] != y, "item %llu of the "
                  "unreachable shard %d returned", (unsigned long long)d.hits[i].item, y);
    uat__check_side(u, "library gather without shard y", &d, &o);
    if (u->p.verbose)
        printf("    library gather with shard %d down: \"%s\" (missing shard %u, regions 0x%x)\n",
               y, d.degraded_reason, d.missing_count ? d.missing[0] : 0, d.regions_missing);
    uat__say(u, "GATHER from us-east through the library: answers after its %lld ms deadline, "
             "degraded: \"%s\" (the library tried every replica of shard %d); %u hits, none of "
             "shard %d, equal to the oracle's top %u over the other shards (checked: %s)",
             (long long)(UAT_GATHER_WAIT_NS / UAT_MS), d.degraded_reason, y, d.hit_count, y,
             UAT_LIMIT, uat__yes(u, f0));
    free(o.want);
}

/* ---- the observer ---------------------------------------------------------------------- */

/* Step 1: the first instant each follower's leader_lsn covers each batch (exact: after
   every delivery and tick, the only moments it moves). */
static void uat__observe_lag(uat *u) {
    int64_t now = uat__now(u);
    int s, k;
    for (s = 0; s < UAT_SHARDS; s++)
        for (k = 0; k < 2; k++) {
            tidal_db *db = uat__db(u, k + 1, s);
            uint32_t *next = &u->lag_next[s][k];
            tidal_node_status st;
            if (!db || *next == u->n_lag_b[s]) continue;
            st = uat__status(db);
            while (*next < u->n_lag_b[s] && st.leader_lsn >= u->b[u->lag_b[s][*next]].last.lsn) {
                double ms = (double)(now - u->b[u->lag_b[s][*next]].commit_ns) / 1e6;
                u->lag_ms =
                    (double *)uat__grow(u->lag_ms, &u->cap_lag, u->n_lag + 1, sizeof(double));
                u->lag_ms[u->n_lag++] = ms;
                if (k == 0 && ms > u->res->lag_eu_max_ms) u->res->lag_eu_max_ms = ms;
                (*next)++;
            }
        }
}

static int uat__suppressed(uat *u, tidal_db *db, int t, tidal_id user, tidal_id item) {
    int sup = -1;
    UAT_OKR(u, tidal_negative_check(db, uat_tenant_ids[t], user, item, &sup));
    return sup;
}

/* The pairs the oracle has a hide of, brought up to date from its new records. */
static void uat__hidden_pairs(uat *u) {
    uint32_t n = tidal_sim_oracle_count(u->o);
    for (; u->hidden_upto < n; u->hidden_upto++) {
        const tidal_sim_op *op = tidal_sim_oracle_op(u->o, u->hidden_upto);
        if (op->kind == TIDAL_SIM_OP_HIDE)
            u->hidden[uat__pair(uat__tenant_index(op->tenant), (uint32_t)(op->user - UAT_USER0),
                                op->entity)] = 1;
    }
}

/* The tenants a member of group g holds: group 0 the load tenants but a mover that moved
   away, the mover's new group the mover alone (the hidden check's scope). */
typedef struct uat_held {
    uint32_t g;
    int moved; /* the mover moved away from group 0 */
} uat_held;

static int uat__held(void *ctx, const tidal_sim_op *op) {
    const uat_held *h = (const uat_held *)ctx;
    uint32_t mover = uat_tenant_ids[UAT_MOVER];
    if (h->g != 0) return op->tenant == mover;
    return op->tenant != mover || !h->moved;
}

/* Node k's member db (group 0 or the mover's new group g): every hide it once enforced
   still holds (monotone; group 0), and the shared checker's hidden-item check
   (tidal_sim_check_hidden): every hide applied there is in force, and RETRIEVE ... FOR
   USER returns none of the items it suppresses, for every user with hides of every tenant
   that group holds. */
static void uat__observe_node(uat *u, int k, uint32_t g, tidal_db *db) {
    int r = k / UAT_SHARDS, s = k % UAT_SHARDS, t;
    uint32_t p;
    tidal_sim_member m;
    tidal_sim_scope sc;
    uat_held held;
    u->res->nodes_observed++;
    uat__hidden_pairs(u);
    for (p = 0; p < UAT_PAIRS && g == 0; p++) {
        int sup;
        t = (int)(p / (UAT_HIDERS * UAT_HOT));
        if (!u->hidden[p] || u->pair_shard[p] != s) continue;
        if (tidal_sim_cluster_tenant_group(u->c, uat_tenant_ids[t]) != 0) continue; /* moved away */
        sup = uat__suppressed(u, db, t, UAT_USER0 + 1 + p / UAT_HOT % UAT_HIDERS, 1 + p % UAT_HOT);
        u->res->neg_checks++;
        UAT_CHECK(u, sup || !u->enforced[k][p], "step %llu node (%d, %d): hide pair %u enforced "
                  "before, not now", (unsigned long long)u->steps, r, s, p);
        if (sup) u->enforced[k][p] = 1;
    }
    memset(&m, 0, sizeof m);
    m.db = db;
    m.region = (uint16_t)r;
    m.shard = (uint16_t)s;
    m.group = g;
    memset(&sc, 0, sizeof sc);
    held.g = g;
    held.moved = tidal_sim_cluster_tenant_group(u->c, uat_tenant_ids[UAT_MOVER]) != 0;
    if (g != 0) { /* the mover's new group: the mover alone */
        sc.by_tenant = 1;
        sc.tenant = uat_tenant_ids[UAT_MOVER];
    } else if (held.moved) { /* group 0 once the mover left: all but the mover */
        sc.keep = uat__held;
        sc.ctx = &held;
    }
    (void)tidal_sim_check_hidden(u->o, &m, held.moved || g ? &sc : NULL,
                                 TIDAL_SIM_HIDDEN_READS_ONLY | 1u << u->rank_view, UAT_LIMIT);
}

/* Every step, every node: each live member (group 0, and the mover's new group) whose
   state changed since it was last looked at (events applied, or a new life) is checked.
   Unchanged state needs no new look: suppression depends on state alone, and one signal
   type's ranking does not change with time (every score decays by the same factor). */
static void uat__observe_negatives(uat *u) {
    int k, gi;
    uint32_t mg = tidal_sim_cluster_tenant_group(u->c, uat_tenant_ids[UAT_MOVER]);
    if (mg == 0) mg = u->move_group;
    for (k = 0; k < UAT_NODES; k++)
        for (gi = 0; gi < 2; gi++) {
            uint32_t g = gi ? mg : 0;
            tidal_db *db;
            uint64_t applied;
            if (gi && !g) continue;
            db = tidal_sim_cluster_group_db(u->c, g, (uint16_t)(k / UAT_SHARDS),
                                            (uint16_t)(k % UAT_SHARDS));
            if (!db) continue;
            applied = uat__stats(db).events_applied;
            if (u->seen_life[k][gi] == u->life[k] + 1 && u->seen_applied[k][gi] == applied &&
                u->seen_group[k][gi] == g)
                continue;
            u->seen_life[k][gi] = u->life[k] + 1;
            u->seen_applied[k][gi] = applied;
            u->seen_group[k][gi] = g;
            uat__observe_node(u, k, g, db);
        }
}

static void uat__observe(void *ctx, tidal_sim_cluster *c) {
    uat *u = (uat *)ctx;
    (void)c;
    u->steps++;
    if (u->lag_watch) uat__observe_lag(u);
    if (!u->p.light) {
        uat__observe_negatives(u);
    } else if (u->steps % 4 == 0) {
        int k = (int)(u->obs_next++ % UAT_NODES);
        tidal_db *db = uat__db(u, k / UAT_SHARDS, k % UAT_SHARDS);
        if (db) uat__observe_node(u, k, 0, db);
    }
}

/* ---- the load -------------------------------------------------------------------------- */

/* Step 2: the first moment a new leader of the crashed shard is known, before it takes a
   write: it holds every signal acknowledged at QUORUM before the crash. */
static void uat__check_acked(uat *u, int l) {
    uint32_t i, n_acked = 0, f0 = u->res->failures, n = tidal_sim_oracle_count(u->o);
    int x = u->fo_shard;
    tidal_db *db = uat__db(u, l, x);
    tidal_sim_member m = uat__member(u, l, x, 0);
    tidal_sim_scope sc = uat__scope_shard(x);
    for (i = 0; i < n; i++) {
        const tidal_sim_op *op = tidal_sim_oracle_op(u->o, i);
        n_acked += op->shard == x && op->level == TIDAL_ACK_QUORUM;
    }
    /* by id: each QUORUM-acknowledged write is applied there */
    (void)tidal_sim_check_acked(u->o, &m, &sc, TIDAL_ACK_QUORUM);
    UAT_CHECK(u, n_acked > 0, "shard %d: no write was QUORUM-acknowledged before the crash", x);
    /* and it counts none twice: every item's count is the events applied there, by id */
    (void)tidal_sim_check_signals(u->o, &m, &sc, uat__now(u), TIDAL_SIM_COUNT_APPLIED, NULL, 0,
                                  NULL, 0);
    u->res->new_leader = l;
    uat__say(u, "ELECTION: %s leads shard %d in epoch %llu, %.0f ms after the crash; it holds "
             "every one of the %u QUORUM-acknowledged writes (checked by event id): %s",
             uat_region_names[l], x, (unsigned long long)uat__status(db).epoch,
             (double)(uat__now(u) - u->fo_crash_ns) / 1e6, n_acked, uat__yes(u, f0));
    if (u->p.verbose)
        printf("    new leader of shard %d: region %d, %.0f ms after the crash; holds all %u "
               "QUORUM-acknowledged writes (by id)\n", x, l, (double)(uat__now(u) - u->fo_crash_ns) / 1e6,
               n_acked);
}

/* Runs the workload for dur_ns of simulated time: ticks every 1-5 ms, rate_per_s signals
   per second, one batch per target node per tick. */
static void uat__load(uat *u, int64_t dur_ns) {
    int64_t end = uat__now(u) + dur_ns;
    double carry = 0.0;
    while (uat__now(u) < end) {
        int64_t gap = (int64_t)(1 + uat__below(u, 5)) * UAT_MS;
        uint32_t n = 0, m, i, per[UAT_NODES];
        int k;
        uat__run(u, gap);
        uat__poll(u);
        if (u->fo_pending && !u->fo_checked &&
            tidal_sim_cluster_leader(u->c, (uint16_t)u->fo_shard) >= 0) {
            u->fo_checked = 1;
            uat__check_acked(u, tidal_sim_cluster_leader(u->c, (uint16_t)u->fo_shard));
        }
        if (uat__now(u) >= u->next_gather) {
            uat_ask a; /* a client in us-east asks; it must always get an answer */
            uat__ask(u, 0, uat__now(u), &a);
            u->next_gather = uat__now(u) + UAT_GATHER_EVERY_NS;
        }
        carry += u->p.rate_per_s * (double)gap / 1e9;
        m = (uint32_t)carry;
        carry -= (double)m;
        for (i = 0; i < m; i++) uat__gen(u, &n, 0);
        if (u->partitioned) uat__gen(u, &n, 1);
        memset(per, 0, sizeof per);
        for (i = 0; i < n; i++) per[u->tick[i].node]++;
        for (k = 0; k < UAT_NODES; k++)
            if (per[k]) uat__flush_node(u, k, n);
    }
}

/* At a step's end, on every live replica (the shared checker's): it applied no event the
   oracle did not see invoked (events applied = the oracle's events of its shard applied
   there, by id), and each item's all-time count is the events of it applied there (none
   counted twice; scores are compared at the failover, after the heal and after the move),
   and every hide applied there is in force while RETRIEVE ... FOR USER shows none. */
static void uat__check_no_double(uat *u, const char *step) {
    int r, s;
    (void)step;
    for (r = 0; r < UAT_REGIONS; r++)
        for (s = 0; s < UAT_SHARDS; s++) {
            tidal_sim_member m = uat__member(u, r, s, 0);
            tidal_sim_scope sc = uat__scope_shard(s);
            if (!m.db) continue;
            (void)tidal_sim_check_known(u->o, &m, &sc, 0);
            (void)tidal_sim_check_hidden(u->o, &m, &sc, 1u << u->rank_view, UAT_LIMIT);
            (void)tidal_sim_check_signals(u->o, &m, &sc, uat__now(u),
                                          TIDAL_SIM_COUNT_APPLIED | TIDAL_SIM_COUNT_ONLY, NULL, 0,
                                          NULL, 0);
        }
}

/* ---- the logs on disk: events in the files = events folded in ------------------------ */

/* The planning notes' invariant "WAL event count == materialized count on all shards",
   counted FROM THE FILES: every WAL segment of every member (every group) on every live
   node's simulated disk is read (its current image: what the node wrote, synced or not -
   the node itself is the reader after a crash) and decoded with the library's own
   decoders (tidal__batch_check: header, lengths, BLAKE3; tidal__event_get: each event).
   Per member: no event id is in its log twice, and the events in its log equal its
   events_applied (distinct events folded in); per data-group member and tenant, the signal
   events in its log equal the all-time counts it materializes, item by item and type by
   type. Accounting, documented: a DROP event of a tenant (step 5's move) removes what that
   member's log held of it before the drop, so the tally of that tenant restarts there; a
   tenant whose state came by INSTALL (a copy: folded aggregates, not signal events) is not
   tallied per item on that member (the count check still covers its install events); a
   member that took a snapshot (stats.snapshot_lsn > 0) may have retired the segments it
   covers: only batches above the snapshot's lsn are counted, which must then be at most
   events_applied (the rest are in the snapshot), and no per-item tally is made there.
   No member of this scenario snapshots (64 MiB of log per automatic snapshot); the count
   of members so accounted is reported as snapshot_members. */
typedef struct uat_logscan {
    tidal_event_id *ids;
    uint32_t n_ids, cap_ids;
    tidal_event_id *tags;
    uint32_t cap_tags;
    uint32_t (*tally)[UAT_IDX][2]; /* [tenant index][idx][type]: signal events in the log */
    uint8_t installed[UAT_TENANTS];
    uint64_t events, batches, files, bytes, foreign; /* foreign: signals outside the oracle's space */
} uat_logscan;

static int uat__id_cmp(const void *a, const void *b) {
    const tidal_event_id *x = (const tidal_event_id *)a, *y = (const tidal_event_id *)b;
    if (x->hi != y->hi) return x->hi < y->hi ? -1 : 1;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Decodes one segment file's batches into ls; 0 (and a failed check naming the file and
   offset) when a batch or an event does not decode. Batches at or below snap_lsn are
   checked but not counted (the snapshot holds them). */
static int uat__scan_segment(uat *u, tidal_db *db, const char *path, const uint8_t *p, size_t n,
                             uint64_t snap_lsn, uat_logscan *ls) {
    size_t off = 0;
    while (off < n) {
        tidal__batch_hdr h;
        tidal__rd rd;
        const char *why = tidal__batch_check(db, p + off, n - off, &h);
        uint32_t i, need;
        if (why) {
            UAT_CHECK(u, 0, "log scan: %s: offset %llu: %s", path, (unsigned long long)off, why);
            return 0;
        }
        ls->batches++;
        need = h.payload_len / 16 + 1;
        if (need > ls->cap_tags) {
            ls->cap_tags = need;
            ls->tags = (tidal_event_id *)realloc(ls->tags, need * sizeof *ls->tags);
            if (!ls->tags) exit(1);
        }
        tidal__rd_init(&rd, p + off + TIDAL__WAL_HDR, h.payload_len);
        for (i = 0; i < h.count; i++) {
            tidal__event ev;
            int t;
            why = tidal__event_get(db, &rd, &ev, ls->tags, ls->cap_tags);
            if (why) {
                UAT_CHECK(u, 0, "log scan: %s: offset %llu: event %u of the batch: %s", path,
                          (unsigned long long)off, i, why);
                return 0;
            }
            if (h.last_lsn <= snap_lsn) continue;
            ls->ids = (tidal_event_id *)uat__grow(ls->ids, &ls->cap_ids, ls->n_ids + 1,
                                                  sizeof *ls->ids);
            ls->ids[ls->n_ids++] = ev.id;
            ls->events++;
            t = uat__tenant_index(ev.tenant);
            if (t >= UAT_TENANTS) continue;
            if (ev.kind == TIDAL__EV_DROP) memset(ls->tally[t], 0, sizeof ls->tally[t]);
            if (ev.kind == TIDAL__EV_INSTALL) ls->installed[t] = 1;
            if (ev.kind != TIDAL__EV_SIGNAL) continue;
            if (!((ev.entity >= 1 && ev.entity <= UAT_ITEMS) ||
                  (ev.entity >= UAT_AP_ITEM0 && ev.entity < UAT_AP_ITEM0 + UAT_AP_ITEMS)) ||
                ev.type > 1) {
                ls->foreign++;
                continue;
            }
            ls->tally[t][uat__idx(ev.entity)][ev.type]++;
        }
        if (rd.pos != rd.n) {
            UAT_CHECK(u, 0, "log scan: %s: offset %llu: payload longer than its events", path,
                      (unsigned long long)off);
            return 0;
        }
        off += TIDAL__WAL_HDR + h.payload_len;
    }
    return 1;
}

/* One member's log (node (r, s), group g, directory dir) against its state. */
static void uat__scan_member(uat *u, const char *step, int r, int s, uint32_t g, tidal_db *db,
                             uat_logscan *ls) {
    tidal_sim_disk *disk = tidal_sim_cluster_disk(u->c, (uint16_t)r, (uint16_t)s);
    char dir[16], path[200];
    char (*names)[128];
    uint32_t n, i, dups = 0, bad = 0;
    tidal_db_stats st = uat__stats(db);
    int t;
    snprintf(dir, sizeof dir, "node/g%u", g); /* tidal_sim.h's member directories */
    ls->n_ids = 0;
    ls->events = 0;
    memset(ls->tally, 0, UAT_TENANTS * sizeof *ls->tally);
    memset(ls->installed, 0, sizeof ls->installed);
    n = tidal_sim_disk_list(disk, dir, NULL, 0);
    names = (char(*)[128])malloc((n ? n : 1) * sizeof *names);
    if (!names) exit(1);
    n = tidal_sim_disk_list(disk, dir, names, n);
    for (i = 0; i < n; i++) { /* strcmp order: a member's segments by first lsn (hex) */
        uint8_t *data = NULL;
        size_t len = 0;
        size_t nl = strlen(names[i]);
        int ok;
        if (strncmp(names[i], "wal-", 4) || nl < 4 || strcmp(names[i] + nl - 4, ".log")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (tidal_sim_disk_read(disk, path, &data, &len) != TIDAL_OK) {
            UAT_CHECK(u, 0, "%s: log scan: cannot read %s on node (%d, %d)", step, path, r, s);
            continue;
        }
        ls->files++;
        ls->bytes += len;
        ok = uat__scan_segment(u, db, path, data, len, st.snapshot_lsn, ls);
        free(data);
        if (!ok) break;
    }
    free(names);
    if (ls->n_ids) qsort(ls->ids, ls->n_ids, sizeof *ls->ids, uat__id_cmp);
    for (i = 1; i < ls->n_ids; i++)
        dups += !uat__id_cmp(&ls->ids[i - 1], &ls->ids[i]);
    UAT_CHECK(u, dups == 0, "%s: node (%d, %d) group %u: %u event ids are in its log twice",
              step, r, s, g, dups);
    if (st.snapshot_lsn) {
        u->res->snapshot_members++;
        UAT_CHECK(u, ls->events <= st.events_applied, "%s: node (%d, %d) group %u: %llu events "
                  "in its log above its snapshot (lsn %llu), %llu applied", step, r, s, g,
                  (unsigned long long)ls->events, (unsigned long long)st.snapshot_lsn,
                  (unsigned long long)st.events_applied);
        return;
    }
    UAT_CHECK(u, ls->events == st.events_applied, "%s: node (%d, %d) group %u: %llu events in "
              "its log files, %llu applied (materialized)", step, r, s, g,
              (unsigned long long)ls->events, (unsigned long long)st.events_applied);
    UAT_CHECK(u, ls->foreign == 0, "%s: node (%d, %d) group %u: %llu signal events of items "
              "nobody wrote", step, r, s, g, (unsigned long long)ls->foreign);
    for (t = 0; t < UAT_TENANTS && bad < 5; t++) {
        uint32_t idx, type;
        if (ls->installed[t] || g == TIDAL_SIM_CONTROL_GROUP) continue;
        for (idx = 1; idx < UAT_IDX && bad < 5; idx++) {
            if (u->shard_of[t][idx] != s) continue;
            for (type = 0; type < 2; type++) {
                uint64_t have;
                if (!ls->tally[t][idx][type] &&
                    !tidal_sim_oracle_signals(u->o, uat_tenant_ids[t], uat__item_of(idx), type, 0))
                    continue;
                have = uat__count(u, db, t, uat__item_of(idx), type);
                if (have == ls->tally[t][idx][type]) continue;
                bad++;
                UAT_CHECK(u, 0, "%s: node (%d, %d) group %u: tenant %u item %llu type %u: %u "
                          "signal events in its log, %llu materialized", step, r, s, g,
                          uat_tenant_ids[t], (unsigned long long)uat__item_of(idx), type,
                          ls->tally[t][idx][type], (unsigned long long)have);
            }
        }
    }
}

/* Every member of every group on every live node: its log files against its state. */
static void uat__check_logs(uat *u, const char *step) {
    uat_logscan ls;
    uint32_t f0 = u->res->failures, g;
    uint64_t members = 0;
    int k;
    if (u->p.light) return;
    memset(&ls, 0, sizeof ls);
    ls.tally = (uint32_t(*)[UAT_IDX][2])calloc(UAT_TENANTS, sizeof *ls.tally);
    if (!ls.tally) exit(1);
    for (k = 0; k < UAT_NODES; k++)
        for (g = 0; g < TIDAL_SIM_GROUPS_MAX; g++) {
            tidal_db *db = tidal_sim_cluster_group_db(u->c, g, (uint16_t)(k / UAT_SHARDS),
                                                      (uint16_t)(k % UAT_SHARDS));
            if (!db) continue;
            uat__scan_member(u, step, k / UAT_SHARDS, k % UAT_SHARDS, g, db, &ls);
            u->res->log_events_scanned += ls.events;
            members++;
        }
    u->res->log_scans++;
    if (u->p.verbose)
        printf("    %s: logs on disk: %llu members, %llu segment files (%.1f MB), %llu batches "
               "decoded; events in the files = events applied, per item signals = "
               "materialized counts: %s\n", step, (unsigned long long)members,
               (unsigned long long)ls.files, (double)ls.bytes / 1e6,
               (unsigned long long)ls.batches, uat__yes(u, f0));
    uat__say(u, "%s: the WAL files of all %llu members on disk (%llu segments, %.1f MB) decoded: "
             "each member's log holds exactly the events it applied, none twice, and per item "
             "as many signals as it counts: %s", step, (unsigned long long)members,
             (unsigned long long)ls.files, (double)ls.bytes / 1e6, uat__yes(u, f0));
    free(ls.ids);
    free(ls.tags);
    free(ls.tally);
}

/* ---- setup ----------------------------------------------------------------------------- */

/* Tenant 7 on the leader of its item 1's shard: 5 signals use its burst, a 6th is
   RATE_LIMITED; two more entities fill its quota of 3, a 4th is refused with QUOTA; an
   older config version is STALE_CONFIG. Refusals change nothing (events, digest). */
static void uat__check_limits(uat *u) {
    const int t = UAT_T_LIMITS;
    int s = u->shard_of[t][1], i;
    tidal_db *db = uat__db(u, 0, s);
    tidal_signal sig;
    tidal_id e[3];
    tidal_tenant_config tc;
    uint64_t ents = 0, a0;
    uint8_t d0[32], d1[32];
    uint32_t k = 0, f0 = u->res->failures;
    tidal_id id;
    tidal_result r_rate, r_quota, r_stale;
    memset(&sig, 0, sizeof sig);
    sig.tenant = uat_tenant_ids[t];
    sig.item = 1;
    sig.weight = 1.0;
    sig.time_ns = uat__now(u) - UAT_SEC;
    for (i = 0; i < 5; i++) {
        tidal_receipt rc;
        UAT_OKR(u, tidal_signal_write(db, &sig, &rc));
        (void)uat__record(u, &rc, t, (uint32_t)s, 0, 0, &sig, 0, 0, 0);
    }
    for (id = 2; k < 3; id++) /* three more entities of this shard */
        if (tidal_route(sig.tenant, id, UAT_SHARDS) == (uint32_t)s) e[k++] = id;
    for (i = 0; i < 2; i++) {
        tidal_receipt rc;
        UAT_OKR(u, tidal_attr_set(db, sig.tenant, e[i], "color", "red", &rc));
        (void)uat__record(u, &rc, t, (uint32_t)s, 0, 0, NULL, 0, 0, e[i]);
    }
    UAT_OKR(u, tidal_tenant_usage(db, sig.tenant, &ents, NULL));
    UAT_CHECK(u, ents == 3, "tenant 7 holds %llu entities, want 3", (unsigned long long)ents);
    a0 = uat__stats(db).events_applied;
    UAT_OKR(u, tidal_db_digest(db, TIDAL_ALL_TENANTS, d0));
    r_rate = tidal_signal_write(db, &sig, NULL);
    UAT_CHECK(u, r_rate == TIDAL_ERR_RATE_LIMITED, "no rate limit");
    r_quota = tidal_attr_set(db, sig.tenant, e[2], "color", "red", NULL);
    UAT_CHECK(u, r_quota == TIDAL_ERR_QUOTA, "no entity quota");
    memset(&tc, 0, sizeof tc);
    tc.tenant = sig.tenant; /* config_version 0 < 1 in force */
    r_stale = tidal_tenant_set(db, &tc);
    UAT_CHECK(u, r_stale == TIDAL_ERR_STALE_CONFIG, "older config accepted");
    UAT_OKR(u, tidal_db_digest(db, TIDAL_ALL_TENANTS, d1));
    UAT_CHECK(u, uat__stats(db).events_applied == a0 && !memcmp(d0, d1, 32),
              "a refused write changed the state");
    UAT_OKR(u, tidal_tenant_usage(db, sig.tenant, &ents, NULL));
    UAT_CHECK(u, ents == 3, "tenant 7 holds %llu entities after the refusals",
              (unsigned long long)ents);
    uat__say(u, "tenant 7 at its limits on shard %d's leader: a 6th signal: %s; a 4th entity: "
             "%s; an older config: %s; the refusals changed nothing: %s", s,
             tidal_strerror(r_rate), tidal_strerror(r_quota), tidal_strerror(r_stale),
             uat__yes(u, f0));
}

/* Every user's locale, on every shard's leader (cohort tags are looked up where the
   item's signal is written). */
static void uat__write_users(uat *u) {
    int s, t;
    uint32_t k;
    for (s = 0; s < UAT_SHARDS; s++) {
        tidal_db *db = uat__db(u, 0, s);
        UAT_OKR(u, tidal_db_batch_begin(db));
        for (t = 0; t < UAT_LOAD_TENANTS; t++)
            for (k = 1; k <= UAT_USERS; k++) {
                tidal_receipt rc;
                UAT_OKR(u, tidal_attr_set(db, uat_tenant_ids[t], UAT_USER0 + k, "locale",
                                          uat_locales[k % 3], &rc));
                (void)uat__record(u, &rc, t, (uint32_t)s, 0, 0, NULL, 0, UAT_USER0 + k, 0);
            }
        UAT_OKR(u, tidal_db_commit(db));
    }
}

static const uint32_t uat_move_to[1] = {UAT_MOVE_TO};

static int uat__setup(uat *u) {
    tidal_sim_cluster_config cfg;
    tidal_parse_error pe;
    int s, t;
    uint32_t idx, p;
    for (t = 0; t < UAT_TENANTS; t++)
        for (idx = 1; idx < UAT_IDX; idx++)
            u->shard_of[t][idx] = (uint8_t)uat__shard(t, uat__item_of(idx));
    for (p = 0; p < UAT_PAIRS; p++)
        u->pair_shard[p] = u->shard_of[p / (UAT_HIDERS * UAT_HOT)][1 + p % UAT_HOT];
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = UAT_REGIONS;
    cfg.shards = UAT_SHARDS;
    cfg.seed = u->p.seed;
    cfg.schema.signals = uat_sigs;
    cfg.schema.signal_count = 2;
    cfg.schema.cohort_keys = uat_ckeys;
    cfg.schema.cohort_key_count = 1;
    cfg.availability_mode = 1;
    cfg.segment_bytes_max = UINT64_C(256) << 10; /* the simulated fsync copies a segment */
    cfg.placements = uat_move_to;                 /* the group step 5 moves tenant 3 to */
    cfg.placement_count = 1;
    for (idx = 1; idx < UAT_IDX; idx++) u->items[idx - 1] = uat__item_of(idx);
    u->o = tidal_sim_oracle_new(&cfg.schema, UAT_REGIONS, UAT_SHARDS);
    tidal_sim_oracle_set_report(u->o, uat__oracle_report, u);
    u->c = tidal_sim_cluster_new(&cfg);
    UAT_CHECK(u, u->c != NULL, "tidal_sim_cluster_new failed");
    if (!u->c) return 0;
    u->t_start = uat__now(u);
    tidal_sim_cluster_set_observer(u->c, uat__observe, u);
    UAT_OKR(u, tidal_query_parse(uat_text_eu, strlen(uat_text_eu), &u->qt, &pe));
    UAT_OKR(u, tidal_signal_type(uat__db(u, 0, 0), u->qt.rank_name, &u->rank_view));
    uat__run(u, 300 * UAT_MS);
    for (s = 0; s < UAT_SHARDS; s++)
        UAT_CHECK(u, tidal_sim_cluster_leader(u->c, (uint16_t)s) == 0,
                  "shard %d of a new cluster is led by region %d", s,
                  tidal_sim_cluster_leader(u->c, (uint16_t)s));
    uat__tenants_register(u);
    if (u->p.narrate) {
        char buf[512];
        uat__say(u, "CLUSTER up: %d regions (us-east, eu-west, ap-south) x %d shards = %d nodes, "
                 "each with its own simulated disk; shard s is replicated on its node in every "
                 "region (availability mode on)", UAT_REGIONS, UAT_SHARDS, UAT_NODES);
        uat__say(u, "leaders: %s", uat__leaders(u, buf, sizeof buf));
        uat__say(u, "tenants 1, 2, 3 carry the load: %.0f signals/s and %u entities per node "
                 "each; tenant 7: %.0f signals/s, %u entities (pushed to all %d nodes)",
                 UAT_RATE_LIMIT, UAT_QUOTA, UAT_T7_RATE_LIMIT, UAT_T7_QUOTA, UAT_NODES);
    }
    uat__check_limits(u);
    uat__write_users(u);
    uat__say(u, "users: %u per load tenant, locale EU, US or APAC, written to every shard's "
             "leader", UAT_USERS);
    uat__run(u, UAT_SEC);
    u->next_gather = uat__now(u);
    return tidal_sim_cluster_leader(u->c, 0) == 0;
}

/* ---- step 1: a follower refuses every write ------------------------------------------- */

/* A session of tenant 1 started on shard s's leader (its events go to the oracle), so the
   follower is asked to write into a session it holds. Returns its id (0 on failure). */
static tidal_id uat__session_on_leader(uat *u, int s) {
    tidal_db *db = uat__db(u, 0, s);
    tidal_id session = 0;
    UAT_OKR(u, tidal_session_start(db, uat_tenant_ids[0], UAT_USER0 + 1, 0, &session));
    if (!session) return 0;
    u->session_start = tidal__session_id(uat_tenant_ids[0], session, 0); /* its keyed id */
    u->session_shard = (uint32_t)s;
    {
        tidal_receipt rc;
        memset(&rc, 0, sizeof rc);
        rc.id = u->session_start;
        (void)uat__record(u, &rc, 0, (uint32_t)s, 0, 0, NULL, 0, UAT_USER0 + 1, session);
    }
    return session;
}

/* Every entry point of the public API that writes a replicated event, called on
   eu-west's follower of shard s: each is refused with TIDAL_ERR_READ_ONLY and a message
   that names the leader (DESIGN 5.2: "... region 0 shard s"), and
   none changes anything (digest of every tenant, events applied). Not in the list, by
   design: tidal_tenant_set (a node's own copy of its tenant limits, pushed to every
   node), tidal_db_snapshot, tidal_db_tick, tidal_db_set_config_version, batch_begin/commit
   (node-local, no event). */
static void uat__check_follower_refuses(uat *u, int s, tidal_id session) {
    tidal_db *db = tidal_sim_cluster_follower_in(u->c, 1, (uint16_t)s);
    tidal_db *leader = tidal_sim_cluster_leader_db(u->c, (uint16_t)s);
    uint32_t tenant = uat_tenant_ids[0], k, n_calls = 0, f0 = u->res->failures;
    tidal_id user = UAT_USER0 + 1, sess2 = 0;
    uint8_t d0[32], d1[32], *blob = NULL, ev_bytes[256];
    size_t blob_len = 0, ev_len;
    uint64_t a0;
    tidal_signal sig;
    tidal_receipt rc;
    tidal_signal_def defs[3];
    tidal_schema grown;
    tidal__event ev;
    char want[64];
    struct { const char *what; tidal_result r; char msg[512]; } calls[20];
    memset(calls, 0, sizeof calls);
    if (!db || !leader || leader != uat__db(u, 0, s)) {
        UAT_CHECK(u, 0, "step 1: shard %d: eu-west's node is not a live follower or us-east's "
                  "does not lead", s);
        return;
    }
    /* an export to install (tenant 7's: small), and one encoded event to import */
    (void)tidal_tenant_export(leader, uat_tenant_ids[UAT_T_LIMITS], NULL, 0, &blob_len);
    blob = (uint8_t *)malloc(blob_len ? blob_len : 1);
    if (!blob) exit(1);
    UAT_OKR(u, tidal_tenant_export(leader, uat_tenant_ids[UAT_T_LIMITS], blob, blob_len, &blob_len));
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_SIGNAL;
    ev.tenant = tenant;
    ev.id.hi = (uint64_t)0 << 48 | (uint64_t)s << 32 | 999u; /* an origin no node has */
    ev.id.lo = 1;
    ev.hlc.wall_ns = uat__now(u);
    ev.time_ns = uat__now(u) - UAT_SEC;
    ev.entity = 1;
    ev.weight = 1.0;
    memset(ev_bytes, 0, sizeof ev_bytes);
    if (tidal__event_size(&ev) > sizeof ev_bytes) exit(1);
    ev_len = (size_t)(tidal__event_put(ev_bytes, &ev) - ev_bytes);
    memcpy(defs, uat_sigs, sizeof uat_sigs);
    memset(&defs[2], 0, sizeof defs[2]);
    defs[2].name = "share";
    defs[2].half_life_s = 600.0;
    memset(&grown, 0, sizeof grown);
    grown.signals = defs;
    grown.signal_count = 3;
    grown.cohort_keys = uat_ckeys;
    grown.cohort_key_count = 1;
    memset(&sig, 0, sizeof sig);
    sig.tenant = tenant;
    sig.item = 1;
    sig.weight = 1.0;
    sig.time_ns = uat__now(u) - UAT_SEC;
    UAT_OKR(u, tidal_db_digest(db, TIDAL_ALL_TENANTS, d0));
    a0 = uat__stats(db).events_applied;
#define UAT__CALL(name, expr)                                                           \
    do {                                                                                \
        calls[n_calls].what = name;                                                     \
        calls[n_calls].r = (expr);                                                      \
        snprintf(calls[n_calls].msg, sizeof calls[n_calls].msg, "%s", tidal_errmsg(db)); \
        n_calls++;                                                                      \
    } while (0)
    UAT__CALL("tidal_signal_write", tidal_signal_write(db, &sig, &rc));
    UAT__CALL("tidal_attr_set", tidal_attr_set(db, tenant, user, "locale", "US", &rc));
    UAT__CALL("tidal_attr_set (delete)", tidal_attr_set(db, tenant, user, "locale", NULL, &rc));
    UAT__CALL("tidal_user_forget", tidal_user_forget(db, tenant, user, &rc));
    UAT__CALL("tidal_item_delete", tidal_item_delete(db, tenant, 1, &rc));
    UAT__CALL("tidal_negative_add (hide)", tidal_negative_add(db, tenant, user, TIDAL_HIDE, 2, &rc));
    UAT__CALL("tidal_negative_add (mute)", tidal_negative_add(db, tenant, user, TIDAL_MUTE, 77, &rc));
    UAT__CALL("tidal_negative_add (block)", tidal_negative_add(db, tenant, user, TIDAL_BLOCK, 77, &rc));
    UAT__CALL("tidal_negative_remove", tidal_negative_remove(db, tenant, user, TIDAL_HIDE, 2, &rc));
    UAT__CALL("tidal_session_start", tidal_session_start(db, tenant, user, 0, &sess2));
    UAT__CALL("tidal_session_open", tidal_session_open(db, tenant, 4242, user, uat__now(u), 0));
    {
        tidal_signal ss = sig; /* a keyed write carries its time and tags */
        static const tidal_tag eu_tag = {"locale", "EU"};
        ss.cohort = &eu_tag;
        ss.cohort_count = 1;
        UAT__CALL("tidal_session_signal", tidal_session_signal(db, session, 1, &ss, &rc));
    }
    UAT__CALL("tidal_session_note", tidal_session_note(db, tenant, session, 2, "note", &rc));
    UAT__CALL("tidal_session_end", tidal_session_end(db, tenant, session));
    UAT__CALL("tidal_event_import", tidal_event_import(db, ev_bytes, ev_len, &rc));
    UAT__CALL("tidal_tenant_install", tidal_tenant_install(db, blob, blob_len, 1000, NULL, &rc));
    UAT__CALL("tidal_tenant_drop", tidal_tenant_drop(db, uat_tenant_ids[UAT_T_LIMITS], 1000, &rc));
    UAT__CALL("tidal_db_schema_append", tidal_db_schema_append(db, &grown));
#undef UAT__CALL
    snprintf(want, sizeof want, "leader is region 0 shard %d", s);
    for (k = 0; k < n_calls; k++) {
        UAT_CHECK(u, calls[k].r == TIDAL_ERR_READ_ONLY, "eu-west's follower of shard %d: %s: %s "
                  "(\"%s\"), not read-only", s, calls[k].what, tidal_strerror(calls[k].r),
                  calls[k].msg);
        UAT_CHECK(u, calls[k].r != TIDAL_ERR_READ_ONLY ||
                         strstr(calls[k].msg, want) != NULL,
                  "eu-west's follower of shard %d: %s refused with \"%s\": it does not name "
                  "the leader", s, calls[k].what, calls[k].msg);
    }
    UAT_CHECK(u, sess2 == 0, "the follower handed out a session id");
    UAT_OKR(u, tidal_db_digest(db, TIDAL_ALL_TENANTS, d1));
    UAT_CHECK(u, !memcmp(d0, d1, 32) && uat__stats(db).events_applied == a0,
              "eu-west's follower of shard %d: a refused write changed its state", s);
    for (k = 0; k < UAT_TENANTS; k++) {
        uint8_t dl[32], df[32];
        UAT_OKR(u, tidal_db_digest(leader, uat_tenant_ids[k], dl));
        UAT_OKR(u, tidal_db_digest(db, uat_tenant_ids[k], df));
        UAT_CHECK(u, !memcmp(dl, df, 32), "tenant %u: the follower differs from its leader "
                  "after the refusals", uat_tenant_ids[k]);
    }
    free(blob);
    if (u->p.verbose)
        printf("    eu-west's follower of shard %d refuses all %u write entry points (read-only, "
               "naming the leader), state unchanged\n", s, n_calls);
    uat__say(u, "a follower refuses every write entry point (%u calls: signal, attributes, "
             "forget, delete, hide/mute/block/unhide, sessions, import, install, drop, schema), "
             "each read-only naming the leader, and none changes its state: %s", n_calls,
             uat__yes(u, f0));
}

/* ---- the steps ------------------------------------------------------------------------- */

/* Step 1's lag figures into the result: final once lag_watch is off (no lag is recorded
   after that); sorting again later changes nothing. */
static void uat__lag_figures(uat *u) {
    if (u->n_lag) qsort(u->lag_ms, u->n_lag, sizeof(double), uat__cmp_double);
    u->res->lag_p50_ms = uat_percentile(u->lag_ms, u->n_lag, 0.5);
    u->res->lag_p99_ms = uat_percentile(u->lag_ms, u->n_lag, 0.99);
    u->res->lag_max_ms = u->n_lag ? u->lag_ms[u->n_lag - 1] : 0.0;
}

/* Step 1: us-east writes, eu-west reads within 2 s. */
static void uat__step1(uat *u) {
    int64_t t_end, T;
    int s, t, caught = 0;
    uint32_t idx, type, k;
    uint32_t f0 = u->res->failures, f1;
    tidal_id session;
    uat__say(u, "LOAD starts: %.0f signals/s from clients in all 3 regions, each to the leader of "
             "its item's shard, in batches (one fsync per node per 1-5 ms tick); 1 write in 256 "
             "is a hide; us-east gathers every %d ms", u->p.rate_per_s,
             (int)(UAT_GATHER_EVERY_NS / UAT_MS));
    u->lag_on = u->lag_watch = 1;
    uat__load(u, UAT_STEP1_NS);
    u->lag_on = 0;
    t_end = uat__now(u);
    session = uat__session_on_leader(u, 0); /* for the follower to refuse writes into */
    while (!caught && uat__now(u) - t_end < 2 * UAT_SEC) { /* no writes: until caught up */
        uat__run(u, 10 * UAT_MS);
        for (caught = 1, s = 0; s < UAT_SHARDS; s++) {
            tidal_node_status st = uat__status(uat__db(u, 1, s));
            caught &= st.lag_events == 0 && st.lag_ns == 0 && u->lag_next[s][0] == u->n_lag_b[s];
        }
    }
    UAT_CHECK(u, caught, "eu-west not caught up (lag gauges 0) 2 s after the last write");
    UAT_CHECK(u, u->res->lag_eu_max_ms <= 2000.0, "a batch took %.1f ms to reach eu-west",
              u->res->lag_eu_max_ms);
    T = uat__now(u);
    f1 = u->res->failures;
    for (t = 0; t < UAT_LOAD_TENANTS; t++)
        for (idx = 1; idx <= UAT_ITEMS; idx++)
            for (type = 0; type < 2; type++) {
                tidal_signal_stats a, b;
                s = u->shard_of[t][idx];
                UAT_OKR(u, tidal_signal_read(uat__db(u, 0, s), uat_tenant_ids[t], idx, type, NULL,
                                             T, &a));
                UAT_OKR(u, tidal_signal_read(uat__db(u, 1, s), uat_tenant_ids[t], idx, type, NULL,
                                             T, &b));
                UAT_CHECK(
                    u,
                    fabs(a.score - b.score) <= 1e-6 && a.count[TIDAL_W_ALL] == b.count[TIDAL_W_ALL],
                    "tenant %u item %u type %u: eu-west %.9f (%llu), us-east %.9f (%llu)",
                    uat_tenant_ids[t], idx, type, b.score, (unsigned long long)b.count[TIDAL_W_ALL],
                    a.score, (unsigned long long)a.count[TIDAL_W_ALL]);
            }
    uat__check_follower_refuses(u, 0, session);
    for (k = 0; k < UAT_SHARDS; k++) UAT_CHECK(u, u->n_lag_b[k] > 0, "no batch on shard %u", k);
    uat__check_no_double(u, "step 1");
    uat__check_logs(u, "step 1");
    if (u->p.verbose)
        printf("  step 1: %llu signals; eu-west caught up %.0f ms after the last write, batch lag "
               "max %.1f ms (eu-west)\n", (unsigned long long)u->res->signals,
               (double)(T - t_end) / 1e6, u->res->lag_eu_max_ms);
    uat__say(u, "step 1: %llu signals written in %.0f s, every shard led by us-east; eu-west "
             "caught up %.0f ms after the last write (lag gauges 0, every batch within %.0f ms): "
             "%s", (unsigned long long)u->res->signals, (double)UAT_STEP1_NS / 1e9,
             (double)(T - t_end) / 1e6, u->res->lag_eu_max_ms, uat__yes(u, f0));
    uat__say(u, "step 1: eu-west's decayed scores equal us-east's to 6 decimals (%u items x 2 "
             "signal types), it refuses writes (a follower: read-only), no replica counts a "
             "signal twice: %s",
             UAT_LOAD_TENANTS * UAT_ITEMS, uat__yes(u, f1));
}

/* Step 2: shard x's leader crashes under load; a follower takes over within 10 s. */
static void uat__step2(uat *u) {
    int x = (int)uat__below(u, UAT_SHARDS), k;
    int64_t t0;
    u->res->shard_x = x;
    uat__load(u, 300 * UAT_MS);
    for (k = 0; k < UAT_SHARDS; k++) /* the lag figure covers every step-1 batch */
        UAT_CHECK(u, u->lag_next[k][1] == u->n_lag_b[k], "ap-south lacks %u of shard %d's "
                  "step-1 batches", u->n_lag_b[k] - u->lag_next[k][1], k);
    u->lag_watch = 0;
    uat__lag_figures(u);
    uat__say(u, "step 1's replication lag (each batch to each follower, until its leader_lsn "
             "covers it; %u measured): p50 %.1f ms, p99 %.1f ms, max %.1f ms (eu-west max %.1f)",
             u->n_lag, u->res->lag_p50_ms, u->res->lag_p99_ms, u->res->lag_max_ms,
             u->res->lag_eu_max_ms);
    uat__poll(u); /* the QUORUM status of everything, as of the crash */
    u->fo_shard = x;
    u->fo_pending = 1;
    u->fo_checked = 0;
    u->fo_crash_ns = t0 = uat__now(u);
    uat__crash(u, 0, x);
    uat__say(u, "CRASH: the leader of shard %d (us-east) goes down under load: memory lost, "
             "unsynced writes meet their fate", x);
    while (u->fo_pending && uat__now(u) - t0 < 10 * UAT_SEC) uat__load(u, 50 * UAT_MS);
    UAT_CHECK(u, !u->fo_pending && u->fo_checked && u->res->failover_ms <= 10000.0,
              "shard %d: no new leader took a write within 10 s of the crash", x);
    u->fo_pending = 0;
    uat__load(u, 500 * UAT_MS);
    uat__restart(u, 0, x);
    if (u->p.narrate && uat__db(u, 0, x))
        uat__say(u, "us-east's node of shard %d restarts: recovered %llu events from its disk, "
                 "rejoins as a follower", x,
                 (unsigned long long)uat__stats(uat__db(u, 0, x)).recovered_events);
    uat__load(u, 700 * UAT_MS);
    uat__check_no_double(u, "step 2");
    uat__check_logs(u, "step 2");
    if (u->p.narrate) {
        char buf[512];
        uat__say(u, "leaders: %s", uat__leaders(u, buf, sizeof buf));
    }
    if (u->p.verbose)
        printf("  step 2: shard %d's leader crashed; region %d took a write %.0f ms later\n", x,
               u->res->new_leader, u->res->failover_ms);
}

/* Step 3: ap-south isolated; both sides write; gathers from both sides; shard y loses its
   reachable replicas for a moment. Returns the partition handle. */
static uint32_t uat__step3(uat *u) {
    tidal_sim_net *net = tidal_sim_cluster_net(u->c);
    uint32_t h = tidal_sim_net_isolate_region(net, 2), i, ok_major = 0, unav_ap = 0;
    int y = (u->res->shard_x + 1 + (int)uat__below(u, UAT_SHARDS - 1)) % UAT_SHARDS;
    int64_t t0 = uat__now(u);
    uint32_t f0 = u->res->failures;
    u->res->shard_y = y;
    u->partitioned = 1;
    uat__say(u, "PARTITION: ap-south is cut off from us-east and eu-west; its clients write to "
             "ap-south's own replicas (availability mode: LOCAL acks), everyone else's to the "
             "leaders (QUORUM)");
    uat__load(u, 2500 * UAT_MS);
    uat__say_health(u, "health during the partition");
    uat__check_gather_partition(u);
    uat__crash(u, 0, y);
    uat__crash(u, 1, y);
    uat__say(u, "CRASH: shard %d's us-east and eu-west nodes go down (its ap-south replica is cut "
             "off): from us-east no replica of shard %d is reachable", y, y);
    uat__check_gather_missing(u, y);
    uat__load(u, 300 * UAT_MS);
    uat__restart(u, 0, y);
    uat__restart(u, 1, y);
    uat__say(u, "shard %d's us-east and eu-west nodes restart from their disks, 300 ms later", y);
    uat__load(u, 2500 * UAT_MS);
    uat__poll(u);
    for (i = 0; i < u->n_b; i++) {
        if (u->b[i].commit_ns < t0) continue;
        ok_major += !u->b[i].partitioned && u->b[i].status == UAT_OK;
        unav_ap += u->b[i].partitioned && u->b[i].status == UAT_UNAVAILABLE;
    }
    UAT_CHECK(u, u->side_writes[0] > 0 && u->side_writes[1] > 0,
              "writes during the partition: %llu on the majority side, %llu in ap-south",
              (unsigned long long)u->side_writes[0], (unsigned long long)u->side_writes[1]);
    UAT_CHECK(u, ok_major > 0 && unav_ap > 0, "during the partition: %u majority batches at "
              "QUORUM, %u ap-south batches reported unavailable", ok_major, unav_ap);
    uat__check_no_double(u, "step 3");
    uat__check_logs(u, "step 3");
    if (u->p.verbose)
        printf("  step 3: partition: %llu signals+hides on the majority side (%u batches "
               "QUORUM-acknowledged), %llu in ap-south (LOCAL; %u batches unavailable at QUORUM)\n",
               (unsigned long long)u->side_writes[0], ok_major,
               (unsigned long long)u->side_writes[1], unav_ap);
    uat__say(u, "step 3: %.1f s of partition: %llu writes on the majority side (%u batches "
             "QUORUM-acknowledged), %llu in ap-south (LOCAL; %u batches UNAVAILABLE at QUORUM, "
             "none acknowledged while cut off): %s", (double)(uat__now(u) - t0) / 1e9,
             (unsigned long long)u->side_writes[0], ok_major,
             (unsigned long long)u->side_writes[1], unav_ap, uat__yes(u, f0));
    return h;
}

/* ---- step 4: heal, converge, compare with the ground truth and the oracle -------------- */

typedef struct uat_keep {
    uint32_t shard;
    uint32_t keyed; /* other ids derived from a key: none are written here */
    const uat *u;
} uat_keep;

/* The events of shard k's truth: those written by a node of shard k (origin id: hi =
   region << 48 | shard << 32 | incarnation), and step 1's session start (keyed). */
static int uat__keep_shard(void *ctx, tidal_event_id id) {
    uat_keep *k = (uat_keep *)ctx;
    if (id.hi == k->u->session_start.hi && id.lo == k->u->session_start.lo)
        return k->u->session_shard == k->shard;
    if (id.hi >> 63) {
        k->keyed++;
        return 0;
    }
    return (uint32_t)(id.hi >> 32 & 0xFFFF) == k->shard;
}

/* Cheap: every group has one leader, every member up, in its epoch, hearing it, and the
   same events as the others, as many (minus epoch markers) as the oracle wrote there. */
static int uat__converged(uat *u) {
    int s, r;
    for (s = 0; s < UAT_SHARDS; s++) {
        int l = tidal_sim_cluster_leader(u->c, (uint16_t)s);
        tidal_node_status sl;
        tidal_db_stats s0;
        if (l < 0) return 0;
        sl = uat__status(uat__db(u, l, s));
        s0 = uat__stats(uat__db(u, l, s));
        if (s0.events_applied - s0.events_internal != u->shard_events[s]) return 0;
        for (r = 0; r < UAT_REGIONS; r++) {
            tidal_db *db = uat__db(u, r, s);
            tidal_node_status st;
            tidal_db_stats sr;
            if (!db) return 0;
            st = uat__status(db);
            sr = uat__stats(db);
            if (st.epoch != sl.epoch || !st.has_leader || st.cut_off) return 0;
            if (sr.events_applied != s0.events_applied || sr.events_internal != s0.events_internal)
                return 0;
        }
    }
    return 1;
}

/* Every replica of every shard equals that shard's ground truth: digest (all tenants and
   each tenant) and distinct events applied; the truths partition the recorded events, and
   each one's events minus its epoch markers are the oracle's. report 0: just answer. */
static int uat__truth_check(uat *u, int report) {
    uint64_t total = 0;
    int s, r, t, ok = 1;
    for (s = 0; s < UAT_SHARDS; s++) {
        uat_keep keep;
        tidal_db *truth = NULL;
        tidal_db_stats ts;
        uint8_t dt[UAT_TENANTS + 1][32];
        keep.shard = (uint32_t)s;
        keep.keyed = 0;
        keep.u = u;
        UAT_OKR(u, tidal_sim_cluster_group_truth(u->c, 0, uat__keep_shard, &keep, &truth));
        if (!truth) return 0;
        ts = uat__stats(truth);
        total += ts.events_applied;
        UAT_OKR(u, tidal_db_digest(truth, TIDAL_ALL_TENANTS, dt[UAT_TENANTS]));
        for (t = 0; t < UAT_TENANTS; t++)
            UAT_OKR(u, tidal_db_digest(truth, uat_tenant_ids[t], dt[t]));
        memcpy(u->res->digest[s], dt[UAT_TENANTS], 32);
        ok &= !keep.keyed && ts.events_applied - ts.events_internal == u->shard_events[s];
        if (report)
            UAT_CHECK(u,
                      !keep.keyed && ts.events_applied - ts.events_internal == u->shard_events[s],
                      "shard %d truth: %llu events + %llu epoch markers (%u keyed), the oracle "
                      "wrote %llu",
                      s, (unsigned long long)(ts.events_applied - ts.events_internal),
                      (unsigned long long)ts.events_internal, keep.keyed,
                      (unsigned long long)u->shard_events[s]);
        { /* every replica is the truth: digests (whole db, each tenant), events applied */
            tidal_sim_member ref, m[UAT_REGIONS];
            uint64_t tenants[UAT_TENANTS + 1];
            memset(&ref, 0, sizeof ref);
            ref.db = truth;
            ref.region = 0xFFFF; /* the truth, not a node */
            ref.shard = (uint16_t)s;
            for (t = 0; t < UAT_TENANTS; t++) tenants[t] = uat_tenant_ids[t];
            tenants[UAT_TENANTS] = TIDAL_ALL_TENANTS;
            for (r = 0; r < UAT_REGIONS; r++) m[r] = uat__member(u, r, s, 0);
            if (!report) tidal_sim_oracle_set_report(u->o, NULL, NULL);
            ok &= tidal_sim_check_digests(u->o, &ref, m, UAT_REGIONS, tenants, UAT_TENANTS + 1,
                                          1) == 0;
            if (!report) tidal_sim_oracle_set_report(u->o, uat__oracle_report, u);
        }
        tidal_db_close(truth);
    }
    { /* the truths partition group 0's events; the others are the move's group's */
        uint32_t g0 = tidal_sim_cluster_group_events(u->c, 0), all = tidal_sim_cluster_events(u->c);
        int gm = tidal_sim_cluster_group_add(u->c, UAT_MOVE_TO);
        uint32_t gmn = gm > 0 ? tidal_sim_cluster_group_events(u->c, (uint32_t)gm) : 0;
        ok &= total == g0 && g0 + gmn == all;
        if (report)
            UAT_CHECK(u, total == g0 && g0 + gmn == all, "shard truths hold %llu events, group "
                      "0's members wrote %u, the move's group's %u, %u recorded",
                      (unsigned long long)total, g0, gmn, all);
    }
    return ok;
}

/* Every replica (the shared checker's tidal_sim_check_signals over every item of the
   scenario, each on the nodes of its shard): per-item all-time counts equal the oracle's
   (so their sum per shard equals the distinct signals routed there), decayed scores and
   EU cohort scores equal the analytic sums w * 2^(-(T - t_i) / half_life) over the
   oracle (long double) to 6 decimals. */
static void uat__check_items(uat *u, int64_t T) {
    static const tidal_tag eu = {"locale", "EU"};
    int r, s;
    for (r = 0; r < UAT_REGIONS; r++)
        for (s = 0; s < UAT_SHARDS; s++) {
            tidal_sim_member m = uat__member(u, r, s, 0);
            tidal_sim_scope sc = uat__scope_shard(s);
            (void)tidal_sim_check_signals(u->o, &m, &sc, T, TIDAL_SIM_COUNT_TRUTH, &eu, UAT_MARK_EU,
                                          u->items, UAT_IDX - 1);
        }
}

/* Every write that returned OK is applied, by its id, on every replica of its shard in the
   group that owns its tenant now (mover_group for the mover after step 5, else group 0):
   the shared checker's tidal_sim_check_acked. */
typedef struct uat_owned {
    uint32_t g;
} uat_owned;

static int uat__owned(void *ctx, const tidal_sim_op *op) {
    const uat_owned *w = (const uat_owned *)ctx;
    return (op->tenant == uat_tenant_ids[UAT_MOVER]) == (w->g != 0);
}

static void uat__check_ids(uat *u, const char *step, uint32_t mover_group) {
    int r, s, gi;
    (void)step;
    for (gi = 0; gi < 1 + (mover_group != 0); gi++)
        for (r = 0; r < UAT_REGIONS; r++)
            for (s = 0; s < UAT_SHARDS; s++) {
                uat_owned own;
                tidal_sim_member m;
                tidal_sim_scope sc = uat__scope_shard(s);
                own.g = gi ? mover_group : 0;
                if (own.g && !(tidal_sim_cluster_group_placement(u->c, own.g) >> r & 1u)) continue;
                m = uat__member(u, r, s, own.g);
                sc.keep = uat__owned;
                sc.ctx = &own;
                (void)tidal_sim_check_acked(u->o, &m, &sc, TIDAL_ACK_LOCAL);
            }
}

/* Every hide written is in force on every replica of its item's shard (with the ids
   check above: applied, by id, and so in force), and RETRIEVE FOR USER shows none. */
static void uat__check_hides(uat *u) {
    int r, s;
    for (r = 0; r < UAT_REGIONS; r++)
        for (s = 0; s < UAT_SHARDS; s++) {
            tidal_sim_member m = uat__member(u, r, s, 0);
            tidal_sim_scope sc = uat__scope_shard(s);
            (void)tidal_sim_check_hidden(u->o, &m, &sc, 1u << u->rank_view, UAT_LIMIT);
        }
}

/* After the heal the gather from us-east is complete and is the oracle's top 50. */
static void uat__check_final_gather(uat *u, int64_t T) {
    uat_rank *want = (uat_rank *)calloc(UAT_IDX, sizeof *want);
    uat_ask a;
    uint32_t m = 0, idx, i, f0 = u->res->failures;
    if (!want) exit(1);
    uat__ask(u, 0, T, &a);
    UAT_CHECK(u, !a.st.degraded && a.st.shards_answered == UAT_SHARDS && a.st.staleness_ns == 0,
              "final gather: degraded %d \"%s\", %u shards, staleness %lld ns", a.st.degraded,
              a.st.degraded_reason, a.st.shards_answered, (long long)a.st.staleness_ns);
    for (idx = 1; idx < UAT_IDX; idx++) { /* the oracle's EU view scores of tenant 1 */
        uint64_t views = 0;
        long double v = tidal_sim_oracle_score(u->o, uat_tenant_ids[0], uat__item_of(idx), 0,
                                               UAT_MARK_EU, T, &views);
        if (!views) continue;
        want[m].score = v;
        want[m++].item = uat__item_of(idx);
    }
    qsort(want, m, sizeof want[0], uat__rank_cmp);
    UAT_CHECK(u, a.n == (m < UAT_LIMIT ? m : UAT_LIMIT), "final gather: %u hits, oracle %u items",
              a.n, m);
    for (i = 0; i < a.n && i < m; i++)
        UAT_CHECK(u,
                  fabsl((long double)a.hits[i].score - want[i].score) <= 1e-6L &&
                      fabsl((long double)a.hits[i].score -
                            tidal_sim_oracle_score(u->o, uat_tenant_ids[0], a.hits[i].item, 0,
                                                   UAT_MARK_EU, T, NULL)) <= 1e-6L,
                  "final gather hit %u: item %llu %.9f; oracle item %llu %.9Lf", i,
                  (unsigned long long)a.hits[i].item, a.hits[i].score,
                  (unsigned long long)want[i].item, want[i].score);
    /* The same through the library's own gather (tidal_peer_gather on us-east's node 0),
       AT the same T: nothing missing, nothing stale, the full oracle's top 50. */
    {
        tidal_peer_completion d;
        uat_side o;
        memset(&o, 0, sizeof o);
        o.want = want;
        o.m = m;
        uat__lib_gather(u, 0, 0, T, &d);
        UAT_CHECK(u, !d.degraded && d.regions_missing == 0 && d.missing_count == 0 &&
                      d.shards_answered == UAT_SHARDS && d.staleness_ns == 0 &&
                      d.staleness_events == 0,
                  "final library gather: degraded %d \"%s\", regions missing 0x%x, %u of %u "
                  "shards answered, staleness %lld ns, %llu events", d.degraded,
                  d.degraded_reason, d.regions_missing, d.shards_answered, d.shards_asked,
                  (long long)d.staleness_ns, (unsigned long long)d.staleness_events);
        uat__check_side(u, "final library gather", &d, &o);
        if (u->p.verbose)
            printf("    final library gather: not degraded, %u shards, %u hits = the oracle's "
                   "top %u\n", d.shards_answered, d.hit_count, UAT_LIMIT);
        u->n_top = d.hit_count < UAT_TOP_SHOWN ? d.hit_count : UAT_TOP_SHOWN; /* the finale */
        memcpy(u->top, d.hits, u->n_top * sizeof d.hits[0]);
    }
    free(want);
    u->top_ok = u->res->failures == f0;
}

/* What the heal moved: events each region's replicas applied since the heal, and the
   events and epoch markers each replica holds now (narration only). */
static void uat__say_reconciled(uat *u, uint32_t f0) {
    uint64_t got[UAT_REGIONS] = {0, 0, 0}, events = 0, markers = 0;
    int r, s;
    if (!u->p.narrate) return;
    for (r = 0; r < UAT_REGIONS; r++)
        for (s = 0; s < UAT_SHARDS; s++) {
            tidal_db *db = uat__db(u, r, s);
            tidal_db_stats st;
            if (!db) continue;
            st = uat__stats(db);
            got[r] += st.events_applied - u->applied_at_heal[r * UAT_SHARDS + s];
            if (r == 0) {
                events += st.events_applied - st.events_internal;
                markers += st.events_internal;
            }
        }
    uat__say(u, "RECONCILED %.0f ms after the heal: events applied since the heal: us-east "
             "%llu, eu-west %llu, ap-south %llu", u->res->reconcile_ms,
             (unsigned long long)got[0], (unsigned long long)got[1], (unsigned long long)got[2]);
    uat__say(u, "every shard has one leader; all %d replicas' BLAKE3 digests (whole db and per "
             "tenant) equal their shard's ground truth (one node that applied every event "
             "recorded), and hold its %llu distinct events (+ %llu epoch markers) in all: %s",
             UAT_NODES, (unsigned long long)events, (unsigned long long)markers,
             uat__yes(u, f0));
}

static void uat__step4(uat *u, uint32_t part) {
    int64_t t_heal, T;
    int done = 0, k;
    uint32_t f0 = u->res->failures, f1;
    for (k = 0; k < UAT_NODES; k++) {
        tidal_db *db = uat__db(u, k / UAT_SHARDS, k % UAT_SHARDS);
        u->applied_at_heal[k] = db ? uat__stats(db).events_applied : 0;
    }
    for (k = 0; k < UAT_SHARDS; k++) { /* the oracle's, per shard (no writes from here on) */
        tidal_sim_scope sc = uat__scope_shard(k);
        u->shard_events[k] = tidal_sim_oracle_events(u->o, &sc, NULL);
    }
    u->partitioned = 0;
    UAT_CHECK(u, tidal_sim_cluster_heal_all(u->c) == 1, "step 4: partition %u was not the only "
              "one in force", part);
    t_heal = uat__now(u);
    uat__say(u, "HEAL: ap-south reconnects (the load has stopped); leader and followers exchange "
             "version vectors and ship each other what the other lacks");
    {
        /* Converged replicas that still differ from the ground truth are a finding, not a
           wait: the load has stopped, so they are given 50 more looks 100 ms apart (each
           builds five ground-truth databases), not one every 10 ms for 60 s. */
        int wrong = 0;
        while (!done && wrong < 50 && uat__now(u) - t_heal < 60 * UAT_SEC) {
            uat__run(u, (wrong ? 100 : 10) * UAT_MS);
            if (!uat__converged(u)) continue;
            done = uat__truth_check(u, 0);
            wrong += !done;
        }
    }
    u->res->reconcile_ms = (double)(uat__now(u) - t_heal) / 1e6;
    UAT_CHECK(u, done, "not converged to the ground truth after the heal (60 s, or 50 looks "
                       "at converged replicas that differ from it)");
    if (!done) (void)uat__truth_check(u, 1); /* say what differs */
    uat__say_reconciled(u, f0);
    uat__poll(u);
    T = uat__now(u);
    f1 = u->res->failures;
    uat__check_items(u, T);
    uat__say(u, "counts: on every replica each item's all-time count equals the oracle's, so "
             "they sum to the %llu distinct signals written (nothing lost, nothing counted "
             "twice); decayed scores, overall and locale:EU, equal the analytic sum to 6 "
             "decimals: %s", (unsigned long long)u->res->signals, uat__yes(u, f1));
    f1 = u->res->failures;
    uat__check_ids(u, "step 4", 0);
    uat__say(u, "ids: each of the %u writes that returned OK is applied, by its event id, on "
             "every replica of its shard: %s", tidal_sim_oracle_count(u->o), uat__yes(u, f1));
    f1 = u->res->failures;
    uat__check_hides(u);
    uat__say(u, "hides: all %llu in force on every replica of their shard: %s",
             (unsigned long long)u->res->hides, uat__yes(u, f1));
    uat__check_final_gather(u, T);
    uat__check_logs(u, "step 4");
    if (u->p.verbose)
        printf("  step 4: converged %.0f ms after the heal; every replica equals its shard's "
               "ground truth\n", u->res->reconcile_ms);
}

/* The end of the story: the cluster's health and the top items of the final gather
   (checked against the oracle in step 4). Narration only. */
static void uat__finale(uat *u) {
    uint32_t i;
    if (!u->p.narrate) return;
    uat__say_health(u, "final health");
    uat__say(u, "%s, gathered from us-east by the library (and by the host over the shards' "
             "handles): not degraded, all %d shards, equal to the oracle's top %u: %s; the "
             "top %u:", uat_text_eu, UAT_SHARDS, UAT_LIMIT,
             u->top_ok ? "yes" : "NO", u->n_top);
    for (i = 0; i < u->n_top; i++)
        uat__say(u, "  %u. item %6llu  score %10.4f%s", i + 1, (unsigned long long)u->top[i].item,
                 u->top[i].score,
                 u->top[i].item >= UAT_AP_ITEM0 ? "  (an item only ap-south wrote, while cut off)"
                                                : "");
}


/* ---- step 5: moving a tenant ------------------------------------------------------------ */


/* The group whose leader of shard s takes the mover's writes now (*region: that leader,
   -1 for none): the group routing names, or during SEAL the move's target once its leader
   took the shard over (tidal.h >>node_move: take-over; tidal_peer_move_info.taken). */
static uint32_t uat__move_owner(uat *u, uint32_t tenant, int s, int *region) {
    tidal_sim_tenant_info info;
    uint32_t g = tidal_sim_cluster_tenant_group(u->c, tenant);
    int l;
    *region = tidal_sim_cluster_group_leader(u->c, g, (uint16_t)s);
    if (tidal_sim_cluster_tenant(u->c, tenant, &info) != TIDAL_OK ||
        info.phase != TIDAL_SIM_MOVE_SEAL)
        return g;
    l = tidal_sim_cluster_group_leader(u->c, (uint32_t)info.target, (uint16_t)s);
    if (l >= 0) {
        tidal_peer *pe = tidal_sim_cluster_peer(u->c, (uint16_t)l, (uint16_t)s);
        tidal_peer_move_info mi;
        if (pe && tidal_peer_move_status(pe, tenant, &mi) == TIDAL_OK && mi.taken) {
            *region = l;
            return (uint32_t)info.target;
        }
    }
    return g;
}

/* One tick of the mover's writes: clients in every region write to the leader of the
   item's shard in the group routing names; a refusal (TIDAL_ERR_MOVED while the source is
   sealed, TIDAL_ERR_READ_ONLY while a leader changes) keeps the write queued for the next
   tick, as a client retrying with a refreshed placement would; during SEAL, once the
   move's target leader of the shard says it took the shard over (uat__move_owner), the
   writes go there (before SWITCH). Every write is a new event (its own time); the queue
   holds them until taken. */
static void uat__move_writes(uat *u, uint32_t *nq, uint32_t fresh) {
    uint32_t i, kept = 0, s;
    int t = UAT_MOVER;
    uat_w *q;
    for (i = 0; i < fresh; i++) {
        uat_w *w;
        u->tick = (uat_w *)uat__grow(u->tick, &u->cap_tick, *nq + 1, sizeof *u->tick);
        w = &u->tick[(*nq)++];
        memset(w, 0, sizeof *w);
        w->s.tenant = uat_tenant_ids[t];
        w->s.item = uat__below(u, 10) < 3 ? 1 + uat__below(u, UAT_HOT) : 1 + uat__below(u, UAT_ITEMS);
        w->s.type = uat__below(u, 8) == 0 ? 1u : 0u;
        w->s.weight = 0.5 * (double)(1 + uat__below(u, 6));
        w->s.time_ns = uat__now(u) - (int64_t)uat__below(u, 30000) * UAT_MS;
        if (uat__below(u, 3)) w->s.user = UAT_USER0 + 1 + uat__below(u, UAT_USERS);
        w->born_ns = uat__now(u);
    }
    q = u->tick;
    for (s = 0; s < UAT_SHARDS; s++) {
        int l;
        uint32_t g = uat__move_owner(u, uat_tenant_ids[t], s, &l);
        tidal_db *db = l < 0 ? NULL : tidal_sim_cluster_group_db(u->c, g, (uint16_t)l, (uint16_t)s);
        tidal_db *open_db = NULL;
        int open = 0;
        for (i = 0; i < *nq; i++) {
            tidal_result r;
            tidal_receipt rc;
            if (u->shard_of[t][uat__idx(q[i].s.item)] != s || q[i].taken) continue;
            if (!db) continue;
            if (!open) UAT_OKR(u, tidal_db_batch_begin(db));
            open_db = db;
            open = 1;
            r = tidal_signal_write(db, &q[i].s, &rc);
            if (r == TIDAL_OK) {
                (void)uat__record(u, &rc, t, s, l, g, &q[i].s, 0, 0, 0);
                u->move_ok++;
                if (uat__now(u) - q[i].born_ns > u->move_wait_max_ns)
                    u->move_wait_max_ns = uat__now(u) - q[i].born_ns;
                q[i].taken = 1; /* dropped from the queue below */
                continue;
            }
            UAT_CHECK(u, r == TIDAL_ERR_MOVED || r == TIDAL_ERR_READ_ONLY,
                      "step 5: a write of tenant %u refused with %s", uat_tenant_ids[t], tidal_strerror(r));
            u->move_refused += !q[i].node; /* writes refused at least once */
            q[i].node = 1;
            db = NULL; /* the client backs off this shard until the next tick */
        }
        if (open) UAT_OKR(u, tidal_db_commit(open_db));
    }
    for (i = 0; i < *nq; i++)
        if (!q[i].taken) q[kept++] = q[i];
    *nq = kept;
}

/* Starts step 5's running sums of the mover's EU view scores, decayed to now, from the
   oracle's records (uat__record keeps them up to date from here on). */
static void uat__move_oracle_start(uat *u) {
    uint32_t i, n = tidal_sim_oracle_count(u->o);
    u->move_t_ref = uat__now(u);
    memset(u->move_eu, 0, sizeof u->move_eu);
    memset(u->move_has_eu, 0, sizeof u->move_has_eu);
    for (i = 0; i < n; i++) {
        const tidal_sim_op *e = tidal_sim_oracle_op(u->o, i);
        uint32_t idx;
        if (e->kind != TIDAL_SIM_OP_SIGNAL || e->tenant != uat_tenant_ids[UAT_MOVER] ||
            !(e->mark & UAT_MARK_EU) || e->type != 0 || !e->truth)
            continue;
        idx = uat__idx(e->entity);
        u->move_eu[idx] += (long double)e->weight *
                           exp2l(-(long double)(u->move_t_ref - e->time_ns) /
                                 ((long double)uat_sigs[0].half_life_s * 1e9L));
        u->move_has_eu[idx] = 1;
    }
    u->move_oracle_on = 1;
}

/* RETRIEVE items SIGNAL view TENANT 3 COHORT locale:EU LIMIT 50 at now from us-east, over
   the group routing names (its leader per shard, else any live member): it must answer,
   and with the oracle's top 50 at now (every write taken so far: a leader holds what it
   took, and the new group what the old one took before the switch). */
static void uat__move_gather(uat *u) {
    uat_rank *want = (uat_rank *)calloc(UAT_IDX, sizeof *want);
    tidal_query q;
    tidal_db *h[UAT_SHARDS];
    tidal_hit hits[UAT_LIMIT];
    uint32_t n = 0, m = 0, i, idx, tenant = uat_tenant_ids[UAT_MOVER], bad = 0;
    int64_t T = uat__now(u);
    long double f = exp2l(-(long double)(T - u->move_t_ref) /
                          ((long double)uat_sigs[0].half_life_s * 1e9L));
    int s, r, leaders = 1;
    if (!want) exit(1);
    q = uat__query(u, T);
    q.tenant = tenant;
    for (s = 0; s < UAT_SHARDS; s++) { /* where the shard's writes go (take-over included) */
        int l;
        uint32_t g = uat__move_owner(u, tenant, s, &l);
        h[s] = l < 0 ? NULL : tidal_sim_cluster_group_db(u->c, g, (uint16_t)l, (uint16_t)s);
        leaders &= h[s] != NULL;
        for (r = 0; r < UAT_REGIONS && !h[s]; r++) h[s] = tidal_sim_cluster_group_db(u->c, g, (uint16_t)r, (uint16_t)s);
    }
    u->move_gathers++;
    if (tidal_retrieve_gather(h, UAT_SHARDS, 0, &q, hits, UAT_LIMIT, &n, NULL) != TIDAL_OK) {
        u->move_gathers_failed++;
        free(want);
        return;
    }
    UAT_CHECK(u, leaders, "step 5: a gather found no leader of some shard of tenant %u", tenant);
    if (!leaders) { /* a follower may lag its leader: no exact oracle for that read */
        free(want);
        return;
    }
    for (idx = 1; idx < UAT_IDX; idx++)
        if (u->move_has_eu[idx]) {
            want[m].score = u->move_eu[idx] * f;
            want[m++].item = uat__item_of(idx);
        }
    qsort(want, m, sizeof want[0], uat__rank_cmp);
    u->res->migration_gathers_checked++;
    UAT_CHECK(u, n == (m < UAT_LIMIT ? m : UAT_LIMIT), "step 5: gather %llu: %u hits, oracle %u "
              "items", (unsigned long long)u->move_gathers, n, m);
    for (i = 0; i < n && i < m && bad < 3; i++) {
        long double own = u->move_eu[uat__idx(hits[i].item)] * f;
        if (fabsl((long double)hits[i].score - want[i].score) <= 1e-6L &&
            fabsl((long double)hits[i].score - own) <= 1e-6L)
            continue;
        bad++;
        UAT_CHECK(u, 0, "step 5: gather %llu (%.0f ms into the move) hit %u: item %llu %.9f (oracle "
                  "%.9Lf); oracle's item %llu %.9Lf", (unsigned long long)u->move_gathers,
                  (double)(T - u->move_t_ref) / 1e6, i, (unsigned long long)hits[i].item,
                  hits[i].score, own, (unsigned long long)want[i].item, want[i].score);
    }
    free(want);
}

/* After the move: the mover's data lives only in the new group (eu-west); every member of
   it equals the oracle (counts, decayed and EU scores, hides); every other node holds
   nothing of it; the other tenants are exactly as they were. */
static void uat__check_moved(uat *u, uint32_t g, const uint8_t (*before)[UAT_TENANTS][32], int64_t T) {
    static const tidal_tag eu = {"locale", "EU"};
    int t = UAT_MOVER, r, s, k;
    uint32_t gg, p;
    uint32_t tenant = uat_tenant_ids[t];
    for (k = 0; k < UAT_NODES; k++) {
        r = k / UAT_SHARDS;
        s = k % UAT_SHARDS;
        for (gg = 0; gg < TIDAL_SIM_GROUPS_MAX; gg++) {
            tidal_db *db = tidal_sim_cluster_group_db(u->c, gg, (uint16_t)r, (uint16_t)s);
            uint64_t ents = 0, sess = 0, bytes = 0;
            if (!db || gg == TIDAL_SIM_CONTROL_GROUP) continue;
            UAT_OKR(u, tidal_tenant_footprint(db, tenant, &ents, &sess, &bytes));
            if (gg == g) {
                UAT_CHECK(u, r == 1 && ents > 0, "step 5: node (%d, %d) of the new group holds %llu entities",
                          r, s, (unsigned long long)ents);
                continue;
            }
            UAT_CHECK(u, ents == 0 && sess == 0 && bytes == 0,
                      "step 5: node (%d, %d) group %u still holds tenant %u: %llu entities, %llu bytes", r, s,
                      gg, tenant, (unsigned long long)ents, (unsigned long long)bytes);
            if (gg == 0)
                for (p = 0; p < UAT_TENANTS; p++) {
                    uint8_t d[32];
                    if ((int)p == t) continue;
                    UAT_OKR(u, tidal_db_digest(db, uat_tenant_ids[p], d));
                    UAT_CHECK(u, !memcmp(d, before[k][p], 32), "step 5: node (%d, %d): tenant %u changed by the move",
                              r, s, uat_tenant_ids[p]);
                }
        }
    }
    for (s = 0; s < UAT_SHARDS; s++) { /* eu-west's members equal the oracle */
        tidal_sim_member m = uat__member(u, 1, s, g);
        tidal_sim_scope sc = uat__scope_shard(s);
        sc.by_tenant = 1;
        sc.tenant = tenant;
        if (!m.db) {
            UAT_CHECK(u, 0, "step 5: eu-west's member of shard %d is down", s);
            continue;
        }
        (void)tidal_sim_check_signals(u->o, &m, &sc, T, TIDAL_SIM_COUNT_TRUTH, &eu, UAT_MARK_EU,
                                      u->items, UAT_IDX - 1);
        (void)tidal_sim_check_hidden(u->o, &m, &sc, 1u << u->rank_view, UAT_LIMIT);
    }
}

static void uat__step5(uat *u) {
    uint8_t (*before)[UAT_TENANTS][32] = (uint8_t(*)[UAT_TENANTS][32])calloc(UAT_NODES, sizeof *before);
    tidal_tenant_config tc;
    tidal_sim_tenant_info info;
    uint32_t tenant = uat_tenant_ids[UAT_MOVER], nq = 0, g0, f0 = u->res->failures;
    int64_t t_start, deadline, next_gather;
    double carry = 0;
    int k, p, done = 0, last_phase = -1;
    char buf[256];
    memset(&info, 0, sizeof info);
    if (!before) return;
    for (k = 0; k < UAT_NODES; k++) {
        tidal_db *db = uat__db(u, k / UAT_SHARDS, k % UAT_SHARDS);
        for (p = 0; p < UAT_TENANTS; p++)
            if (db) UAT_OKR(u, tidal_db_digest(db, uat_tenant_ids[p], before[k][p]));
    }
    memset(&tc, 0, sizeof tc); /* the control plane takes over tenant 3's config */
    tc.tenant = tenant;
    tc.rate_per_s = UAT_RATE_LIMIT;
    tc.entity_quota = UAT_QUOTA;
    tc.config_version = 1;
    UAT_OKR(u, tidal_sim_cluster_tenant_set(u->c, &tc));
    uat__run(u, 500 * UAT_MS);
    g0 = tidal_sim_cluster_tenant_group(u->c, tenant);
    uat__move_oracle_start(u);
    UAT_OKR(u, tidal_sim_cluster_migrate(u->c, tenant, UAT_MOVE_TO));
    t_start = uat__now(u);
    uat__say(u, "MOVE: tenant %u's placement changes from every region to eu-west alone (a control plane "
             "record, itself replicated in all 3 regions); its clients keep writing (%.0f signals/s) "
             "and reading", tenant, UAT_MOVE_RATE);
    deadline = t_start + 60 * UAT_SEC;
    next_gather = t_start;
    while (uat__now(u) < deadline && !(done && nq == 0)) {
        int64_t dt = (int64_t)(1 + uat__below(u, 5)) * UAT_MS;
        uint32_t fresh;
        carry += done ? 0 : UAT_MOVE_RATE * (double)dt / 1e9;
        fresh = (uint32_t)carry;
        carry -= fresh;
        uat__run(u, dt);
        uat__move_writes(u, &nq, fresh);
        if (uat__now(u) >= next_gather) {
            uat__move_gather(u);
            next_gather += UAT_GATHER_EVERY_NS;
        }
        UAT_OKR(u, tidal_sim_cluster_tenant(u->c, tenant, &info));
        if (info.phase == TIDAL_SIM_MOVE_COPY || info.phase == TIDAL_SIM_MOVE_SEAL)
            u->move_group = info.target; /* the observer looks at its members too */
        if (info.phase != last_phase) {
            static const char *const what[5] = {
                "", "COPY: eu-west's new group (one member per shard) installs a snapshot of tenant 3 from each "
                    "shard's leader, then the events written since, forwarded from the source",
                "SEAL: the old group refuses tenant 3's writes (clients retry); each shard's new leader takes "
                "them over once every old replica of the shard tells it a sealed digest equal to its copy",
                "SWITCH: the control plane names the new group owner; routing follows; the old group drops "
                "tenant 3 (a replicated event)",
                "DONE: every node of the old group holds nothing of tenant 3"};
            if (info.phase > 0 && info.phase <= 4)
                uat__say(u, "%s (v%llu, %.0f ms after the change)", what[info.phase],
                         (unsigned long long)info.version, (double)(uat__now(u) - t_start) / 1e6);
            last_phase = info.phase;
        }
        done = info.phase == TIDAL_SIM_MOVE_DONE && info.done_ns >= t_start;
    }
    UAT_CHECK(u, done, "step 5: the move did not finish in 60 s (phase %d)", info.phase);
    UAT_CHECK(u, nq == 0, "step 5: %u writes never taken", nq);
    UAT_CHECK(u, u->move_gathers_failed == 0, "step 5: %llu of %llu gathers failed",
              (unsigned long long)u->move_gathers_failed, (unsigned long long)u->move_gathers);
    u->res->migration_ms = (double)(info.done_ns - info.start_ns) / 1e6;
    u->res->migration_switch_ms = (double)(info.switch_ns - info.start_ns) / 1e6;
    u->res->migration_writes = u->move_ok;
    u->res->migration_retries = u->move_refused;
    u->res->migration_gathers = u->move_gathers;
    u->res->migration_write_wait_max_ms = (double)u->move_wait_max_ns / 1e6;
    UAT_CHECK(u, u->res->migration_gathers_checked == u->move_gathers,
              "step 5: %llu of %llu gathers compared with the oracle",
              (unsigned long long)u->res->migration_gathers_checked,
              (unsigned long long)u->move_gathers);
    UAT_CHECK(u, u->move_wait_max_ns <= UAT_MOVE_WAIT_MAX_NS, "step 5: a write waited %.1f ms "
              "(refused and retried) to be taken during the move; at most %.0f ms allowed",
              (double)u->move_wait_max_ns / 1e6, (double)UAT_MOVE_WAIT_MAX_NS / 1e6);
    uat__run(u, 2 * UAT_SEC); /* the last writes replicate */
    uat__check_moved(u, info.group, (const uint8_t(*)[UAT_TENANTS][32])before, uat__now(u));
    uat__check_ids(u, "step 5", info.group);
    uat__check_logs(u, "step 5");
    UAT_CHECK(u, info.group != g0 && tidal_sim_cluster_group_placement(u->c, info.group) == UAT_MOVE_TO,
              "step 5: tenant %u is owned by group %u", tenant, info.group);
    snprintf(buf, sizeof buf, "%llu writes taken (%llu of them refused first and retried; the "
             "longest wait %.1f ms), %llu gathers, 0 failed, each equal to the oracle's top %u",
             (unsigned long long)u->move_ok, (unsigned long long)u->move_refused,
             u->res->migration_write_wait_max_ms, (unsigned long long)u->move_gathers, UAT_LIMIT);
    uat__say(u, "step 5: moved in %.0f ms (switch at %.0f ms): %s; tenant 3 now lives only in eu-west (every "
             "other node: 0 entities, 0 bytes), equal to the oracle there; tenants 1, 2, 7 untouched: %s",
             u->res->migration_ms, u->res->migration_switch_ms, buf, uat__yes(u, f0));
    if (u->p.verbose)
        printf("  step 5: moved in %.0f ms (switch %.0f ms), %s\n", u->res->migration_ms,
               u->res->migration_switch_ms, buf);
    free(before);
}

/* ---- the whole run --------------------------------------------------------------------- */

static void uat__free(uat *u) {
    int s;
    tidal_sim_cluster_free(u->c);
    tidal_sim_oracle_free(u->o);
    free(u->b);
    free(u->pending);
    free(u->tick);
    free(u->lag_ms);
    free(u->gather_us);
    for (s = 0; s < UAT_SHARDS; s++) free(u->lag_b[s]);
    free(u);
}

/* Runs the scenario with p; fills *res (res->failures counts failed checks, each also
   reported through p->fail). Returns res->failures == 0. */
static int uat_run(const uat_params *p, uat_result *res) {
    uat *u = (uat *)calloc(1, sizeof *u);
    uint32_t part;
    if (!u) return 0;
    memset(res, 0, sizeof *res);
    u->p = *p;
    u->res = res;
    u->rng = p->seed ^ UINT64_C(0x7561742d6c6f6164);
    if (uat__setup(u)) {
        int64_t t0 = uat__now(u);
        uat__step1(u);
        uat__step2(u);
        part = uat__step3(u);
        uat__step4(u, part);
        uat__step5(u);
        res->sim_s = (double)(uat__now(u) - t0) / 1e9;
        uat__finale(u);
    } else {
        UAT_CHECK(u, 0, "setup failed");
    }
    if (u->c) {
        tidal_sim_cluster_trace(u->c, res->trace);
        res->events = tidal_sim_cluster_events(u->c);
    }
    res->steps = u->steps;
    uat__lag_figures(u);
    if (u->n_gather) qsort(u->gather_us, u->n_gather, sizeof(double), uat__cmp_double);
    res->gather_p50_us = uat_percentile(u->gather_us, u->n_gather, 0.5);
    res->gather_p99_us = uat_percentile(u->gather_us, u->n_gather, 0.99);
    uat__free(u);
    return res->failures == 0;
}

#endif /* TIDAL_UAT_SCENARIO_H */
