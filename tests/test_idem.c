/* test_idem.c - keyed writes are applied once however long a partition lasts (issue 13,
   DESIGN 5.6 and 5.10), on the simulated cluster (3 regions x 1 shard, availability mode)
   and on a lone node:
     1  a partition of 48 h of simulated time (twice the idempotency window): keyed writes
        on both sides, each retried in the other side's region, then the heal: every key
        counted once on every replica (per item and in total against the distinct keys),
        equal digests, equal to the ground truth; while it lasted no side forgot a key the
        other side may still send (the kept keys are counted in stats.idem_keys);
        then, whole again for a window, the group forgets: a retry of a forgotten key, a
        key never seen with a time that old, and a merge (import) of the original's bytes
        are refused with TIDAL_ERR_KEY_EXPIRED on the leader and change nothing; a write
        without a key is taken; a member restarted from a snapshot keeps the horizon;
        (once with a follower cut off, once with the leader cut away);
     2  no partition, keyed writes over 48 h, a follower restarts: its leader resends its
        log (keyed batches included); the keys it forgot do not count again;
     3  a lone node (no replicas) keeps the plain window, as documented at
        config.idempotency_window_ns: a retry within it is a duplicate, one older is
        taken as a new write; nothing is refused.
   Simulated time advances by moving every node's wall clock forward together (the
   harness's skew; elections and heartbeats run on the monotonic clock), so 48 h cost a
   handful of simulated seconds. Everything runs in simulated time; no assertion depends
   on wall-clock timing. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define MS INT64_C(1000000)
#define SEC (1000 * MS)
#define HOUR (3600 * SEC)
#define NREG 3
#define STEPS 8     /* of 6 h: 48 h */
#define PER_STEP 4  /* keys written on each side per step, each retried on the other */

#include "region_cluster.h"


static tidal_sim_cluster *cl_new(void) { return rc_new(NULL, 0); }

static tidal_db_stats stats_of(tidal_db *db) {
    tidal_db_stats st;
    tidal_db_stats_get(db, &st);
    return st;
}

/* Moves every node's wall clock forward by dt (their monotonic clocks run on as before). */
static int64_t g_skew;
static void advance_wall(tidal_sim_cluster *c, int64_t dt) {
    int r;
    g_skew += dt;
    for (r = 0; r < NREG; r++) tidal_sim_cluster_skew(c, (uint16_t)r, 0, g_skew);
}
static int64_t wall_of(tidal_sim_cluster *c) { return now_of(c) + g_skew; }

static int converge(tidal_sim_cluster *c, int64_t max_ns) {
    int64_t end = now_of(c) + max_ns;
    while (!tidal_sim_cluster_converged(c)) {
        if (now_of(c) >= end) return 0;
        run_for(c, 50 * MS);
    }
    return 1;
}

/* Runs until every member knows that every member holds its whole log (the group-stable
   point at its durable end: acknowledgements arrive after the state converged). */
static int wait_stable(tidal_sim_cluster *c, int64_t max_ns) {
    int64_t end = now_of(c) + max_ns;
    for (;;) {
        int r, all = 1;
        for (r = 0; r < NREG; r++)
            if (tidal__collect_bound(DB(c, r)) < tidal_db_durable_lsn(DB(c, r))) all = 0;
        if (all) return 1;
        if (now_of(c) >= end) return 0;
        run_for(c, 50 * MS);
    }
}

/* Every key is written with its own item (type like), so an item's count is how many
   times its key was applied. */
static char g_keys[2 * (STEPS + 1) * PER_STEP + 64][32];
static int64_t g_time[2 * (STEPS + 1) * PER_STEP + 64];
static int g_nkeys;

/* Key-derived ids this member remembers (the applied index's keyed part). */
static uint64_t keys_kept(tidal_db *db) { return db->st.n_idem; }

static tidal_signal keyed_sig(tidal_id item, int64_t t, const char *key) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.item = item;
    s.type = 1;
    s.weight = 1.0;
    s.time_ns = t;
    s.idem.key = key;
    s.idem.key_len = (uint32_t)strlen(key);
    s.idem.seq = 1;
    return s;
}

static uint64_t count_of(tidal_db *db, tidal_id item) {
    tidal_signal_stats st;
    memset(&st, 0, sizeof st);
    TT_EQ_INT(tidal_signal_read(db, 0, item, 1, NULL, 0, &st), TIDAL_OK);
    return st.count[TIDAL_W_ALL];
}

/* Writes key k (item 1000 + k) on region a, then retries it on region b (the reply was
   lost; the client tries another region). Both accept it: a is the leader or cut off. */
static void write_and_retry(tidal_sim_cluster *c, int a, int b, int64_t t) {
    int k = g_nkeys++;
    tidal_signal s;
    tidal_receipt ra, rb;
    snprintf(g_keys[k], sizeof g_keys[k], "client-%d/req-%d", a, k);
    g_time[k] = t;
    s = keyed_sig((tidal_id)(1000 + k), t, g_keys[k]);
    TT_EQ_INT(tidal_signal_write(DB(c, a), &s, &ra), TIDAL_OK);
    TT_EQ_INT(ra.duplicate, 0);
    TT_EQ_INT(tidal_signal_write(DB(c, b), &s, &rb), TIDAL_OK);
    TT_CHECK(ra.id.hi == rb.id.hi && ra.id.lo == rb.id.lo);
}

/* Every replica: each key's item counted once, the total equal to the distinct keys. */
static void check_once(tidal_sim_cluster *c, const char *when) {
    int r, k;
    for (r = 0; r < NREG; r++) {
        uint64_t total = 0, twice = 0;
        if (!DB(c, r)) continue;
        for (k = 0; k < g_nkeys; k++) {
            uint64_t n = count_of(DB(c, r), (tidal_id)(1000 + k));
            total += n;
            twice += n > 1;
        }
        TT_CHECKF(total == (uint64_t)g_nkeys && !twice,
                  "%s: region %d counts %llu applications of %d distinct keys (%llu counted twice)",
                  when, r, (unsigned long long)total, g_nkeys, (unsigned long long)twice);
    }
}

static void check_truth(tidal_sim_cluster *c) {
    tidal_db *truth = NULL;
    uint8_t dt[32], d[32];
    int r;
    TT_EQ_INT(tidal_sim_cluster_truth(c, NULL, NULL, &truth), TIDAL_OK);
    if (!truth) return;
    TT_EQ_INT(tidal_db_digest(truth, TIDAL_ALL_TENANTS, dt), TIDAL_OK);
    for (r = 0; r < NREG; r++) {
        TT_EQ_INT(tidal_db_digest(DB(c, r), TIDAL_ALL_TENANTS, d), TIDAL_OK);
        TT_CHECKF(!memcmp(d, dt, 32), "region %d: digest differs from the ground truth's", r);
    }
    tidal_db_close(truth);
}

/* A lone node (a simulated disk, no replicas), its hook keeping the last event it wrote. */
typedef struct lone {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db;
    uint8_t ev[512]; /* the bytes of the last event the node wrote (its hook) */
    size_t ev_len;
} lone;

static void lone_hook(void *ctx, const void *event, size_t len) {
    lone *n = (lone *)ctx;
    TT_CHECK(len <= sizeof n->ev);
    if (len > sizeof n->ev) return;
    memcpy(n->ev, event, len);
    n->ev_len = len;
}

static void lone_open(lone *n) {
    char msg[256];
    tidal_result r = tidal_db_open_msg(&n->cfg, &n->db, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "open: %s %s", tidal_strerror(r), msg);
    if (r == TIDAL_OK) tidal_db_set_event_hook(n->db, lone_hook, n);
}

static void lone_init(lone *n, uint64_t seed, int64_t now) {
    memset(n, 0, sizeof *n);
    n->disk = tidal_sim_disk_new(seed);
    tidal_sim_env_init(&n->env, n->disk, now, seed + 1);
    n->cfg.env = &n->env.env;
    n->cfg.path = "db";
    n->cfg.schema.signals = g_sigs;
    n->cfg.schema.signal_count = 2;
    lone_open(n);
}

static void lone_free(lone *n) {
    if (n->db) tidal_db_close(n->db);
    tidal_sim_disk_free(n->disk);
}

/* Before a partition: a leader, and PER_STEP keys at t0 (one second ago) that the whole
   group applies. Returns the leader, or -1 (checked). */
static int keys_before(tidal_sim_cluster *c, int64_t *t0) {
    int l, i;
    g_nkeys = 0;
    g_skew = 0;
    l = wait_new_leader(c, -1, 10 * SEC);
    TT_CHECKF(l >= 0, "no leader");
    if (l < 0) return -1;
    *t0 = wall_of(c) - SEC;
    for (i = 0; i < PER_STEP; i++) write_and_retry(c, l, l, *t0);
    TT_CHECKF(converge(c, 10 * SEC), "no convergence before the partition");
    return l;
}

/* 1. The 48 h partition: region m (a follower) is cut off; the majority keeps its leader.
   Each step of 6 h both sides take PER_STEP keys of their own and a retry of each of the
   other side's. */
static void partition_48h(int isolate_leader) {
    tidal_sim_cluster *c = cl_new();
    int l, m, step, i, r;
    uint32_t part;
    int64_t t0;
    if (!c) return;
    if ((l = keys_before(c, &t0)) < 0) goto out;
    m = isolate_leader ? l : (l + 1) % NREG;
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), (uint16_t)m);
    /* A follower cut off reports it; a leader cut away keeps taking writes (LOCAL). */
    if (!isolate_leader)
        TT_CHECKF(wait_cut_off(c, m, 10 * SEC), "region %d never reported cut off", m);
    l = wait_new_leader(c, m, 10 * SEC);
    TT_CHECKF(l >= 0, "no leader on the majority side");
    if (l < 0) goto out;
    for (step = 0; step <= STEPS; step++) {
        int64_t t = wall_of(c) - SEC;
        for (i = 0; i < PER_STEP; i++) {
            write_and_retry(c, l, m, t);
            write_and_retry(c, m, l, t);
        }
        run_for(c, SEC);
        if (step < STEPS) advance_wall(c, 6 * HOUR);
    }
    printf("  after 48 h apart: keys kept: region %d %llu, region %d %llu (of %d written)\n", l,
           (unsigned long long)keys_kept(DB(c, l)), m,
           (unsigned long long)keys_kept(DB(c, m)), g_nkeys);
    /* Nothing written during the partition is forgotten on either side. */
    for (r = 0; r < NREG; r++) TT_EQ_INT(stats_of(DB(c, r)).idem_keys, keys_kept(DB(c, r)));
    for (r = 0; r < NREG; r++)
        TT_CHECKF(keys_kept(DB(c, r)) >= (uint64_t)(g_nkeys - PER_STEP),
                  "region %d keeps %llu keys of the %d written during the partition", r,
                  (unsigned long long)keys_kept(DB(c, r)), g_nkeys - PER_STEP);
    check_once(c, "during the partition");
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    TT_CHECKF(converge(c, 60 * SEC), "replicas did not converge within 60 s after the heal");
    check_once(c, "after the heal");
    check_truth(c);
    TT_CHECKF(wait_stable(c, 10 * SEC), "the group-stable point never reached the log's end");
    l = wait_new_leader(c, -1, 10 * SEC); /* the heal may have moved leadership */
    TT_CHECKF(l >= 0, "no leader after the heal");
    if (l < 0) goto out;
    /* Whole again and a window later, the keys may go: retries are refused, not counted. */
    advance_wall(c, 30 * HOUR);
    for (i = 0; i < PER_STEP; i++) write_and_retry(c, l, l, wall_of(c) - SEC);
    TT_CHECKF(converge(c, 30 * SEC), "no convergence after the window");
    /* The first key written during the partition, retried now with its original
       content: the leader forgot it (the group was whole for a window), so it refuses
       the retry rather than count it again. */
    {
        tidal_signal s = keyed_sig(1000 + PER_STEP, g_time[PER_STEP], g_keys[PER_STEP]);
        tidal_receipt rc;
        uint64_t kept = keys_kept(DB(c, l));
        TT_CHECKF(kept < (uint64_t)g_nkeys, "the leader still keeps %llu of %d keys once whole",
                  (unsigned long long)kept, g_nkeys);
        memset(&rc, 0, sizeof rc);
        TT_EQ_INT(tidal_signal_write(DB(c, l), &s, &rc), TIDAL_ERR_KEY_EXPIRED);
        /* A key never seen, that old: the leader cannot tell it from a forgotten one. */
        s = keyed_sig(999, g_time[PER_STEP], "client-x/never-seen");
        TT_EQ_INT(tidal_signal_write(DB(c, l), &s, &rc), TIDAL_ERR_KEY_EXPIRED);
        /* A merge of the original's bytes (as another region's export would carry them). */
        {
            lone src;
            lone_init(&src, tt_seed() + 7, wall_of(c));
            s = keyed_sig(1000 + PER_STEP, g_time[PER_STEP], g_keys[PER_STEP]);
            if (src.db) {
                TT_EQ_INT(tidal_signal_write(src.db, &s, &rc), TIDAL_OK);
                TT_EQ_INT(tidal_event_import(DB(c, l), src.ev, src.ev_len, &rc),
                          TIDAL_ERR_KEY_EXPIRED);
            }
            lone_free(&src);
        }
        TT_CHECKF(stats_of(DB(c, l)).idem_refused >= 3, "the leader counted %llu refusals",
                  (unsigned long long)stats_of(DB(c, l)).idem_refused);
        /* Without a key the write is taken (not deduplicated). */
        s = keyed_sig(998, g_time[PER_STEP], "unused");
        s.idem.key = NULL;
        s.idem.key_len = 0;
        s.idem.seq = 0;
        TT_EQ_INT(tidal_signal_write(DB(c, l), &s, &rc), TIDAL_OK);
        TT_CHECKF(converge(c, 30 * SEC), "no convergence after the refused retry");
        TT_EQ_INT(count_of(DB(c, (l + 1) % NREG), 998), 1);
        TT_EQ_INT(count_of(DB(c, (l + 1) % NREG), 999), 0);
    }
    /* A follower restarted from a snapshot keeps its horizon (a reserved entry of the
       snapshot's key list) and so still refuses the forgotten retry if it leads. */
    {
        int f = (l + 1) % NREG;
        int64_t h = stats_of(DB(c, f)).idem_horizon_ns;
        TT_CHECKF(h != INT64_MIN, "follower %d forgot nothing", f);
        TT_EQ_INT(tidal_db_snapshot(DB(c, f)), TIDAL_OK);
        tidal_sim_cluster_crash(c, (uint16_t)f, 0);
        TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)f, 0), TIDAL_OK);
        if (DB(c, f)) {
            int64_t h2 = stats_of(DB(c, f)).idem_horizon_ns;
            TT_CHECKF(h2 == h, "follower %d: horizon %lld after the restart, %lld before", f,
                      (long long)h2, (long long)h);
        }
        TT_CHECKF(converge(c, 30 * SEC), "no convergence after the restart");
    }
    check_once(c, "a window after the heal");
out:
    tidal_sim_cluster_free(c);
}

static void t_lone_retry_after_window(void) {
    lone n;
    tidal_signal s, other;
    tidal_receipt rc;
    uint8_t copy[512];
    size_t copy_len;
    int64_t t0;
    memset(g_sigs, 0, sizeof g_sigs);
    g_sigs[0].name = "view";
    g_sigs[0].half_life_s = 3600;
    g_sigs[1].name = "like";
    g_sigs[1].half_life_s = 86400;
    lone_init(&n, tt_seed(), INT64_C(1790000000) * SEC);
    if (!n.db) goto out;
    t0 = n.env.now_ns - SEC;
    s = keyed_sig(7, t0, "client-1/req-1");
    TT_EQ_INT(tidal_signal_write(n.db, &s, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    memcpy(copy, n.ev, n.ev_len);
    copy_len = n.ev_len;
    /* Within the window: a duplicate, whatever the clock says. */
    n.env.now_ns += 20 * HOUR;
    TT_EQ_INT(tidal_signal_write(n.db, &s, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    TT_CHECK(stats_of(n.db).idem_horizon_ns == INT64_MIN);
    /* Newer keyed writes carry the window past it (two passes: 25 h, then 48 h). */
    n.env.now_ns += 5 * HOUR;
    other = keyed_sig(8, n.env.now_ns - SEC, "client-1/req-2");
    TT_EQ_INT(tidal_signal_write(n.db, &other, &rc), TIDAL_OK);
    n.env.now_ns += 23 * HOUR;
    other = keyed_sig(9, n.env.now_ns - SEC, "client-1/req-3");
    TT_EQ_INT(tidal_signal_write(n.db, &other, &rc), TIDAL_OK);
    TT_CHECKF(stats_of(n.db).idem_horizon_ns >= t0, "nothing forgotten after 48 h (horizon %lld)",
              (long long)stats_of(n.db).idem_horizon_ns);
    /* The retry, 48 h late: a lone node keeps the plain window (documented at
       config.idempotency_window_ns): nothing but its own clients reaches it, and it
       takes the retry as a new write; it refuses nothing. */
    TT_EQ_INT(tidal_signal_write(n.db, &s, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(count_of(n.db, 7), 2);
    TT_EQ_INT(tidal_event_import(n.db, copy, copy_len, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1); /* the retry put the key back */
    TT_EQ_INT(stats_of(n.db).idem_refused, 0);
    /* The keys still in the window are duplicates, also after a restart. */
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    tidal_db_close(n.db);
    n.db = NULL;
    lone_open(&n);
    if (!n.db) goto out;
    TT_CHECKF(stats_of(n.db).idem_horizon_ns >= t0, "the horizon did not survive the restart");
    other = keyed_sig(9, n.env.now_ns - SEC, "client-1/req-3");
    TT_EQ_INT(tidal_signal_write(n.db, &other, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT(count_of(n.db, 9), 1);
    TT_EQ_INT(count_of(n.db, 7), 2);
out:
    lone_free(&n);
}

/* 2. No partition: keyed writes over 48 h, then a follower restarts. A member that comes
   back gets its leader's log again from the start of what it keeps (another life of the
   follower: positions start over), with every keyed batch in it (version vectors do not
   cover key-derived ids); the keys it applied and forgot must not count again. */
static void t_follower_restart_after_window(void) {
    tidal_sim_cluster *c = cl_new();
    int l, f, step, i;
    if (!c) return;
    g_nkeys = 0;
    g_skew = 0;
    l = wait_new_leader(c, -1, 10 * SEC);
    TT_CHECKF(l >= 0, "no leader");
    if (l < 0) goto out;
    for (step = 0; step <= STEPS; step++) {
        for (i = 0; i < PER_STEP; i++) write_and_retry(c, l, l, wall_of(c) - SEC);
        run_for(c, SEC);
        if (step < STEPS) advance_wall(c, 6 * HOUR);
    }
    TT_CHECKF(converge(c, 30 * SEC), "no convergence");
    check_once(c, "before the restart");
    f = (l + 1) % NREG;
    tidal_sim_cluster_crash(c, (uint16_t)f, 0);
    TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)f, 0), TIDAL_OK);
    TT_CHECKF(converge(c, 30 * SEC), "no convergence after the restart");
    check_once(c, "after the restart");
    check_truth(c);
out:
    tidal_sim_cluster_free(c);
}

/* Writes key k (item 1000 + k) on region a only: acknowledged LOCAL there (a cut-off
   member) or taken by the leader; nobody retries it elsewhere. */
static void write_only(tidal_sim_cluster *c, int a, int64_t t) {
    int k = g_nkeys++;
    tidal_signal s;
    tidal_receipt ra;
    snprintf(g_keys[k], sizeof g_keys[k], "client-%d/only-%d", a, k);
    g_time[k] = t;
    s = keyed_sig((tidal_id)(1000 + k), t, g_keys[k]);
    TT_EQ_INT(tidal_signal_write(DB(c, a), &s, &ra), TIDAL_OK);
    TT_EQ_INT(ra.duplicate, 0);
}

/* A retry of key k (its original content) on region b: the result expected there. */
static void retry_on(tidal_sim_cluster *c, int b, int k, tidal_result want, int dup) {
    tidal_signal s = keyed_sig((tidal_id)(1000 + k), g_time[k], g_keys[k]);
    tidal_receipt rb;
    memset(&rb, 0, sizeof rb);
    TT_EQ_INT(tidal_signal_write(DB(c, b), &s, &rb), want);
    if (want == TIDAL_OK) TT_EQ_INT(rb.duplicate, dup);
}

/* The availability-mode gap (issue 13, rules K1 and K2 in tidal.h >>repl_vv): a follower
   cut off for 48 h takes keyed writes nobody retries elsewhere, from the partition's first
   hours (older than the majority side's window by the heal) to its last; the majority side
   takes its own. Cross-region retries on both sides of the horizon: keys of the first
   hours retried on the other side at the end (the cut-off member takes the majority's as
   new: it never saw them; the leader refuses the cut-off member's as expired, and the
   original still arrives with the merge), keys of the last hours retried both ways
   (duplicates after the heal), and a key never seen, as old as before the partition, on
   the cut-off member (refused: whether the group forgot it cannot be told there). After
   the heal every key is counted once on every replica and the digests are equal. On the
   parent the leader dropped every pushed key older than its window: the cut-off member's
   first keys were lost on the others. */
static void t_partition_48h_local_writes(void) {
    tidal_sim_cluster *c = cl_new();
    int l, m, step, i, first_m = 0, first_l = 0;
    uint32_t part;
    int64_t t0;
    if (!c) return;
    if ((l = keys_before(c, &t0)) < 0) goto out;
    m = (l + 1) % NREG;
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), (uint16_t)m);
    TT_CHECKF(wait_cut_off(c, m, 10 * SEC), "region %d never reported cut off", m);
    l = wait_new_leader(c, m, 10 * SEC);
    TT_CHECKF(l >= 0, "no leader on the majority side");
    if (l < 0) goto out;
    for (step = 0; step <= STEPS; step++) {
        int64_t t = wall_of(c) - SEC;
        if (step == 0) first_m = g_nkeys;
        for (i = 0; i < PER_STEP; i++) write_only(c, m, t);
        if (step == 0) first_l = g_nkeys;
        for (i = 0; i < PER_STEP; i++) write_only(c, l, t);
        write_and_retry(c, m, l, t);
        write_and_retry(c, l, m, t);
        if (step == 0) {
            /* never seen, as old as the keys before the partition: the cut-off member
               cannot tell whether the group applied and will forget it (rule K1) */
            tidal_signal s = keyed_sig(999, t0, "client-x/never-seen");
            tidal_receipt rc;
            TT_EQ_INT(tidal_signal_write(DB(c, m), &s, &rc), TIDAL_ERR_KEY_EXPIRED);
            TT_CHECKF(strstr(tidal_errmsg(DB(c, m)), "majority") != NULL, "%s",
                      tidal_errmsg(DB(c, m)));
        }
        if (step == 2) /* 12 h on, inside both windows: the first keys retried across */
            for (i = 0; i < 2; i++) {
                retry_on(c, m, first_l + i, TIDAL_OK, 0); /* new to the cut-off member */
                retry_on(c, l, first_m + i, TIDAL_OK, 0); /* new to the majority side */
            }
        run_for(c, SEC);
        if (step < STEPS) advance_wall(c, 6 * HOUR);
    }
    /* 48 h on, past both windows: the first hours' other keys retried across are refused
       (the originals still arrive with the merge); known keys are duplicates */
    for (i = 2; i < PER_STEP; i++) {
        retry_on(c, m, first_l + i, TIDAL_ERR_KEY_EXPIRED, 0);
        retry_on(c, l, first_m + i, TIDAL_ERR_KEY_EXPIRED, 0);
    }
    for (i = 0; i < PER_STEP; i++) {
        retry_on(c, m, first_m + i, TIDAL_OK, 1); /* its own */
        retry_on(c, l, first_l + i, TIDAL_OK, 1);
        retry_on(c, m, i, TIDAL_OK, 1);           /* before the partition: it holds them */
    }
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    TT_CHECKF(converge(c, 60 * SEC), "replicas did not converge within 60 s after the heal");
    check_once(c, "after the heal");
    for (i = 0; i < NREG; i++) TT_EQ_INT(count_of(DB(c, i), 999), 0);
    check_truth(c);
out:
    tidal_sim_cluster_free(c);
}

static void t_partition_48h_follower(void) { partition_48h(0); }
static void t_partition_48h_leader(void) { partition_48h(1); }

static const tt_case tt_cases[] = {
    TT_CASE(t_partition_48h_follower),
    TT_CASE(t_partition_48h_leader),
    TT_CASE(t_partition_48h_local_writes),
    TT_CASE(t_follower_restart_after_window),
    TT_CASE(t_lone_retry_after_window),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
