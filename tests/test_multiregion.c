/* test_multiregion.c - multi-region behaviour on the simulated cluster (3 regions x 1 shard,
   availability mode on; DESIGN 3.5, 3.6, 5.2-5.6):
     1a-e  the five scenarios of the cross-region session planning notes (seeds/003):
           session visibility within 2 s, duplicate session writes, hide wins over a
           concurrent unhide, an unhide that saw the hide, the session high-water mark;
     2     divergence: both sides of a 1|2 partition take thousands of writes, then every
           replica equals one node that applied the union (digest, counts, decayed scores
           against the analytic sum);
     3     a lost reply: an idempotent retry in another region is counted once;
     4     QUORUM on the minority side: LOCAL at once, PENDING, then UNAVAILABLE; merged
           after the heal;
     5     no suppressed item is ever returned on any replica during partition and heal;
     6     HLC: monotone per node through clock jumps; a runaway clock is detected by its
           peers and does not drag them forward.
   Everything runs in simulated time; no assertion depends on wall-clock timing. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define MS INT64_C(1000000)
#define SEC (1000 * MS)
#define NREG 3
#define TENANT 0u

/* Test 2's writes on each side of the partition (plain and sanitized builds alike). */
#define DIVERGE_PER_SIDE 10000

#include "region_cluster.h"

/* ---- the cluster ---------------------------------------------------------------------- */

static const char *const g_ckeys[1] = {"locale"};
static const char *const g_locales[3] = {"en", "fr", "de"};

static tidal_sim_cluster *cl_new(void) { return rc_new(g_ckeys, 1); }

static uint64_t applied_of(tidal_db *db) {
    tidal_db_stats st;
    tidal_db_stats_get(db, &st);
    return st.events_applied;
}

static void digest_of(tidal_db *db, uint8_t out[32]) {
    TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, out), TIDAL_OK);
}

/* One leader, every member following it in its epoch with no lag, and every replica
   holding the same events with the same state digest (the harness's
   tidal_sim_cluster_converged), and as many as the ground truth. */
static int converged_now(tidal_sim_cluster *c) {
    uint64_t a0;
    if (!tidal_sim_cluster_converged(c)) return 0;
    a0 = applied_of(DB(c, 0));
    /* Equal counts and digests can hide different sets of events without state (epoch
       markers): the replicas hold the union only if they hold as many as the truth. */
    {
        tidal_db *truth = NULL;
        uint64_t at;
        TT_EQ_INT(tidal_sim_cluster_truth(c, NULL, NULL, &truth), TIDAL_OK);
        if (!truth) return 0;
        at = applied_of(truth);
        tidal_db_close(truth);
        if (at != a0) return 0;
    }
    return 1;
}

/* Runs in 50 ms steps until converged_now; returns 1 if that happened within max_ns. */
static int converge(tidal_sim_cluster *c, int64_t max_ns) {
    int64_t t0 = now_of(c), end = t0 + max_ns;
    for (;;) {
        if (converged_now(c)) {
            printf("  converged %.2f s (simulated) after the last fault\n",
                   (double)(now_of(c) - t0) / 1e9);
            return 1;
        }
        if (now_of(c) >= end) return 0;
        run_for(c, 50 * MS);
    }
}

/* Prints what each replica holds: for the failure report of a convergence timeout. */
static void print_replicas(tidal_sim_cluster *c) {
    int r;
    for (r = 0; r < NREG; r++) {
        tidal_node_status st = status_of(c, r);
        uint8_t d[32];
        if (!DB(c, r)) continue;
        digest_of(DB(c, r), d);
        fprintf(stderr,
                "    region %d: role %d epoch %llu leader %u cut_off %d applied %llu lsn %llu "
                "digest %02x%02x%02x%02x\n",
                r, (int)st.role, (unsigned long long)st.epoch, st.leader.region, st.cut_off,
                (unsigned long long)applied_of(DB(c, r)), (unsigned long long)st.durable_lsn, d[0],
                d[1], d[2], d[3]);
    }
}

/* Every replica equals the ground truth: one fresh node that imported every event any node
   wrote (digest and distinct events applied). */
static void check_truth(tidal_sim_cluster *c) {
    tidal_db *truth = NULL;
    uint8_t dt[32], d[32];
    int r;
    TT_EQ_INT(tidal_sim_cluster_truth(c, NULL, NULL, &truth), TIDAL_OK);
    if (!truth) return;
    digest_of(truth, dt);
    for (r = 0; r < NREG; r++) {
        if (!DB(c, r)) continue;
        digest_of(DB(c, r), d);
        TT_CHECKF(!memcmp(d, dt, 32), "region %d: digest differs from the ground truth's", r);
        TT_CHECKF(applied_of(DB(c, r)) == applied_of(truth),
                  "region %d: %llu events applied, ground truth %llu", r,
                  (unsigned long long)applied_of(DB(c, r)), (unsigned long long)applied_of(truth));
    }
    tidal_db_close(truth);
}

static void converge_and_check(tidal_sim_cluster *c, int64_t max_ns) {
    int ok = converge(c, max_ns);
    TT_CHECKF(ok, "replicas did not converge within %lld ms simulated", (long long)(max_ns / MS));
    if (!ok) print_replicas(c);
    check_truth(c);
}

/* ---- writes and reads ----------------------------------------------------------------- */

static tidal_signal sig_make(tidal_id item, uint32_t type, double weight, int64_t time_ns) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.tenant = TENANT;
    s.item = item;
    s.type = type;
    s.weight = weight;
    s.time_ns = time_ns;
    return s;
}

/* A keyed write (session seq, idempotency key) carries its cohort tags: none here. */
static const tidal_tag g_no_tags[1] = {{"locale", "none"}};
static tidal_signal keyed(tidal_signal s) {
    if (!s.cohort) {
        s.cohort = g_no_tags;
        s.cohort_count = 0;
    }
    return s;
}

static tidal_receipt write_sig(tidal_db *db, tidal_id item, uint32_t type, double w, int64_t t) {
    tidal_signal s = sig_make(item, type, w, t);
    tidal_receipt rc;
    memset(&rc, 0, sizeof rc);
    TT_EQ_INT(tidal_signal_write(db, &s, &rc), TIDAL_OK);
    return rc;
}

static tidal_signal_stats read_sig(tidal_db *db, tidal_id item, uint32_t type, int64_t t) {
    tidal_signal_stats st;
    memset(&st, 0, sizeof st);
    TT_EQ_INT(tidal_signal_read(db, TENANT, item, type, NULL, t, &st), TIDAL_OK);
    return st;
}

static uint64_t count_of(tidal_db *db, tidal_id item, uint32_t type) {
    return read_sig(db, item, type, 0).count[TIDAL_W_ALL];
}

static int suppressed_on(tidal_db *db, tidal_id user, tidal_id item) {
    int s = -1;
    TT_EQ_INT(tidal_negative_check(db, TENANT, user, item, &s), TIDAL_OK);
    return s;
}

/* RETRIEVE SIGNAL view FOR USER user LIMIT cap; returns the number of hits. */
static uint32_t retrieve_for(tidal_db *db, tidal_id user, tidal_hit *hits, uint32_t cap) {
    tidal_query q;
    uint32_t n = 0;
    memset(&q, 0, sizeof q);
    q.tenant = TENANT;
    q.rank_kind = TIDAL_QUERY_SIGNAL;
    q.rank_index = 0;
    q.for_user = user;
    q.limit = cap;
    TT_EQ_INT(tidal_retrieve(db, &q, hits, cap, &n, NULL), TIDAL_OK);
    return n;
}

static int hits_have(const tidal_hit *hits, uint32_t n, tidal_id item) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (hits[i].item == item) return 1;
    return 0;
}

static tidal_session_info session_of(tidal_db *db, tidal_id session) {
    tidal_session_info info;
    memset(&info, 0, sizeof info);
    TT_EQ_INT(tidal_session_get(db, TENANT, session, &info), TIDAL_OK);
    return info;
}

/* One signal per item 1..n (view), so RETRIEVE has candidates; on the leader. */
static void seed_items(tidal_sim_cluster *c, int leader, tidal_id n) {
    tidal_id i;
    TT_EQ_INT(tidal_db_batch_begin(DB(c, leader)), TIDAL_OK);
    for (i = 1; i <= n; i++) write_sig(DB(c, leader), i, 0, 1.0 + (double)i, now_of(c) - SEC);
    TT_EQ_INT(tidal_db_commit(DB(c, leader)), TIDAL_OK);
}

/* ---- 1a. a session started on the leader is visible on a follower within 2 s --------- */

static void t_session_visible_in_follower(void) {
    tidal_sim_cluster *c = cl_new();
    tidal_id sid = 0, user = 7;
    tidal_receipt rc;
    int64_t t0, seen_at = -1;
    int i;
    if (!c) return;
    TT_EQ_INT(tidal_sim_cluster_leader(c, 0), 0);
    TT_EQ_INT(tidal_session_start(DB(c, 0), TENANT, user, 0, &sid), TIDAL_OK);
    for (i = 0; i < 5; i++) {
        tidal_signal s = keyed(sig_make(100 + (tidal_id)i, 0, 1.0, now_of(c)));
        TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, (uint64_t)i + 1, &s, &rc), TIDAL_OK);
        TT_EQ_INT(rc.duplicate, 0);
    }
    t0 = now_of(c);
    while (now_of(c) - t0 <= 2 * SEC) {
        tidal_session_info info;
        if (tidal_session_get(DB(c, 1), TENANT, sid, &info) == TIDAL_OK && info.entries == 5) {
            seen_at = now_of(c);
            break;
        }
        run_for(c, 5 * MS);
    }
    TT_CHECKF(seen_at >= 0, "session not visible in region 1 within 2 s simulated");
    if (seen_at >= 0) {
        tidal_session_entry e[8];
        tidal_session_info info = session_of(DB(c, 1), sid);
        uint32_t n = 0;
        TT_EQ_INT(info.user, user);
        TT_EQ_INT(info.hwm, 5);
        TT_EQ_INT(tidal_session_entries(DB(c, 1), TENANT, sid, 0, e, 8, &n), TIDAL_OK);
        TT_EQ_INT(n, 5);
        for (i = 0; i < (int)n; i++) {
            TT_EQ_INT(e[i].seq, i + 1);
            TT_EQ_INT(e[i].kind, TIDAL_SESSION_SIGNAL);
            TT_EQ_INT(e[i].item, 100 + i);
            TT_EQ_INT(count_of(DB(c, 1), 100 + (tidal_id)i, 0), 1);
        }
        { /* region 1 is a follower: it reads the session, and refuses writes to it */
            tidal_signal s = keyed(sig_make(200, 0, 1.0, now_of(c)));
            TT_EQ_INT(tidal_session_signal(DB(c, 1), sid, 6, &s, &rc), TIDAL_ERR_READ_ONLY);
        }
        printf("  session visible in region 1 after %.1f ms simulated\n",
               (double)(seen_at - t0) / 1e6);
    }
    run_for(c, SEC);
    TT_EQ_INT(session_of(DB(c, 2), sid).entries, 5);
    converge_and_check(c, 10 * SEC);
    tidal_sim_cluster_free(c);
}

/* ---- 1b. a duplicated session write is applied once ----------------------------------- */

static void t_session_duplicate_roaming(void) {
    tidal_sim_cluster *c = cl_new();
    tidal_id sid = 0, user = 8;
    tidal_receipt rc, rc3a, rc3b;
    tidal_session_info info;
    int64_t t_ev;
    uint32_t part;
    int b, r;
    tidal_signal s1, s2, s3, s4;
    if (!c) return;
    t_ev = now_of(c) - 10 * SEC;
    s1 = keyed(sig_make(301, 1, 2.0, t_ev));
    s2 = keyed(sig_make(302, 1, 3.0, t_ev + MS));
    s3 = keyed(sig_make(303, 1, 4.0, t_ev + 2 * MS));
    s4 = keyed(sig_make(304, 1, 5.0, t_ev + 3 * MS));
    TT_EQ_INT(tidal_session_start(DB(c, 0), TENANT, user, 0, &sid), TIDAL_OK);
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 1, &s1, &rc), TIDAL_OK);
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 2, &s2, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    info = session_of(DB(c, 0), sid);
    run_for(c, SEC); /* replicated everywhere */

    /* Region 0 is cut away; the majority elects region b, where the agent roams. */
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 0);
    b = wait_new_leader(c, 0, 10 * SEC);
    TT_CHECKF(b > 0, "no new leader on the majority side");
    if (b <= 0) goto out;
    TT_EQ_INT(tidal_session_open(DB(c, b), TENANT, sid, user, info.start_ns, 0), TIDAL_OK);
    /* Seq 2 again in region b (it has it): a no-op. Replayed on region 0: a no-op. */
    TT_EQ_INT(tidal_session_signal(DB(c, b), sid, 2, &s2, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 2, &s2, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    /* Seq 3 on region 0, whose reply is lost; the agent re-sends it in region b, which has
       not seen it: both apply it, under one id. */
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 3, &s3, &rc3a), TIDAL_OK);
    TT_EQ_INT(tidal_session_signal(DB(c, b), sid, 3, &s3, &rc3b), TIDAL_OK);
    TT_EQ_INT(rc3a.duplicate, 0);
    TT_EQ_INT(rc3b.duplicate, 0);
    TT_CHECK(rc3a.id.hi == rc3b.id.hi && rc3a.id.lo == rc3b.id.lo);
    TT_EQ_INT(tidal_session_signal(DB(c, b), sid, 4, &s4, &rc), TIDAL_OK);
    TT_EQ_INT(session_of(DB(c, b), sid).entries, 4);
    TT_EQ_INT(session_of(DB(c, 0), sid).entries, 3);
    run_for(c, 500 * MS);

    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    converge_and_check(c, 30 * SEC);
    /* Replayed once more after the heal, on every region that takes writes: no-ops. */
    r = tidal_sim_cluster_leader(c, 0);
    if (r >= 0) {
        TT_EQ_INT(tidal_session_signal(DB(c, r), sid, 3, &s3, &rc), TIDAL_OK);
        TT_EQ_INT(rc.duplicate, 1);
    }
    for (r = 0; r < NREG; r++) {
        info = session_of(DB(c, r), sid);
        TT_EQ_INT(info.entries, 4);
        TT_EQ_INT(info.hwm, 4);
        TT_EQ_INT(count_of(DB(c, r), 301, 1), 1);
        TT_EQ_INT(count_of(DB(c, r), 302, 1), 1);
        TT_EQ_INT(count_of(DB(c, r), 303, 1), 1);
        TT_EQ_INT(count_of(DB(c, r), 304, 1), 1);
        TT_NEAR(read_sig(DB(c, r), 303, 1, 0).weight[TIDAL_W_ALL], 4.0, 0);
    }
    check_truth(c);
out:
    tidal_sim_cluster_free(c);
}

/* ---- 1c. hide wins over a concurrent unhide ------------------------------------------ */

/* Region `hider` hides items 3 and 4 for the user while region `unhider` (on the other
   side of a partition) unhides them: item 3 had an earlier hide both had seen (the unhide
   removes only that one), item 4 had none. After the heal both stay hidden everywhere. */
static void hide_vs_unhide(int unhider_cut_off) {
    tidal_sim_cluster *c = cl_new();
    const tidal_id user = 900;
    tidal_hit hits[32];
    uint32_t part, n;
    int hider, unhider, r;
    if (!c) return;
    seed_items(c, 0, 6);
    TT_EQ_INT(tidal_negative_add(DB(c, 0), TENANT, user, TIDAL_HIDE, 3, NULL), TIDAL_OK);
    run_for(c, SEC);
    for (r = 0; r < NREG; r++) TT_EQ_INT(suppressed_on(DB(c, r), user, 3), 1);

    if (unhider_cut_off) { /* region 2 cut off (availability mode); region 0 keeps leading */
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 2);
        hider = 0;
        unhider = 2;
        TT_CHECKF(wait_cut_off(c, 2, 5 * SEC), "region 2 never reported cut_off");
    } else { /* region 0 (the old leader) isolated; the majority elects the unhider */
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 0);
        hider = 0;
        unhider = wait_new_leader(c, 0, 10 * SEC);
        TT_CHECKF(unhider > 0, "no new leader on the majority side");
        if (unhider <= 0) goto out;
    }
    TT_EQ_INT(tidal_negative_add(DB(c, hider), TENANT, user, TIDAL_HIDE, 3, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(DB(c, hider), TENANT, user, TIDAL_HIDE, 4, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_remove(DB(c, unhider), TENANT, user, TIDAL_HIDE, 3, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_remove(DB(c, unhider), TENANT, user, TIDAL_HIDE, 4, NULL), TIDAL_OK);
    /* Each side sees only its own writes: the unhider shows both items. */
    TT_EQ_INT(suppressed_on(DB(c, unhider), user, 3), 0);
    TT_EQ_INT(suppressed_on(DB(c, unhider), user, 4), 0);
    TT_EQ_INT(suppressed_on(DB(c, hider), user, 3), 1);
    TT_EQ_INT(suppressed_on(DB(c, hider), user, 4), 1);
    n = retrieve_for(DB(c, unhider), user, hits, 32);
    TT_CHECK(hits_have(hits, n, 3) && hits_have(hits, n, 4));
    run_for(c, 2 * SEC);

    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    converge_and_check(c, 30 * SEC);
    for (r = 0; r < NREG; r++) {
        TT_EQ_INT(suppressed_on(DB(c, r), user, 3), 1);
        TT_EQ_INT(suppressed_on(DB(c, r), user, 4), 1);
        n = retrieve_for(DB(c, r), user, hits, 32);
        TT_EQ_INT(n, 4); /* items 1, 2, 5, 6 */
        TT_CHECKF(!hits_have(hits, n, 3) && !hits_have(hits, n, 4),
                  "region %d: RETRIEVE FOR USER returned a hidden item", r);
        TT_CHECK(hits_have(hits, n, 1) && hits_have(hits, n, 5));
    }
out:
    tidal_sim_cluster_free(c);
}

static void t_hide_wins_unhide_cut_off(void) { hide_vs_unhide(1); }
static void t_hide_wins_unhide_majority(void) { hide_vs_unhide(0); }

/* ---- 1d. an unhide that saw the hide clears it everywhere ----------------------------- */

static void unhide_after_seen(int unhider_cut_off) {
    tidal_sim_cluster *c = cl_new();
    const tidal_id user = 901;
    tidal_hit hits[32];
    uint32_t part, n;
    int b, r;
    if (!c) return;
    seed_items(c, 0, 6);
    /* Two hide tags; the unhide below has observed both. */
    TT_EQ_INT(tidal_negative_add(DB(c, 0), TENANT, user, TIDAL_HIDE, 2, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(DB(c, 0), TENANT, user, TIDAL_HIDE, 2, NULL), TIDAL_OK);
    run_for(c, SEC);
    for (r = 0; r < NREG; r++) TT_EQ_INT(suppressed_on(DB(c, r), user, 2), 1);
    if (unhider_cut_off) {
        b = 1;
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 1);
        TT_CHECKF(wait_cut_off(c, 1, 5 * SEC), "region 1 never reported cut_off");
    } else {
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 0);
        b = wait_new_leader(c, 0, 10 * SEC);
        TT_CHECKF(b > 0, "no new leader on the majority side");
        if (b <= 0) goto out;
    }
    TT_EQ_INT(tidal_negative_remove(DB(c, b), TENANT, user, TIDAL_HIDE, 2, NULL), TIDAL_OK);
    TT_EQ_INT(suppressed_on(DB(c, b), user, 2), 0);
    run_for(c, SEC);
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    converge_and_check(c, 30 * SEC);
    for (r = 0; r < NREG; r++) {
        TT_EQ_INT(suppressed_on(DB(c, r), user, 2), 0);
        n = retrieve_for(DB(c, r), user, hits, 32);
        TT_EQ_INT(n, 6);
        TT_CHECKF(hits_have(hits, n, 2), "region %d: the unhidden item is still missing", r);
    }
out:
    tidal_sim_cluster_free(c);
}

static void t_unhide_after_seen_majority(void) { unhide_after_seen(0); }
static void t_unhide_after_seen_cut_off(void) { unhide_after_seen(1); }

/* ---- 1e. the session high-water mark -------------------------------------------------- */

static void t_session_hwm(void) {
    tidal_sim_cluster *c = cl_new();
    tidal_id sid = 0;
    tidal_receipt rc;
    tidal_signal s;
    uint64_t seq;
    int r;
    int64_t t_ev;
    if (!c) return;
    t_ev = now_of(c) - 5 * SEC;
    TT_EQ_INT(tidal_session_start(DB(c, 0), TENANT, 42, 0, &sid), TIDAL_OK);
    for (seq = 1; seq <= 5; seq++) {
        s = keyed(sig_make(400 + seq, 0, 1.0, t_ev + (int64_t)seq));
        TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, seq, &s, &rc), TIDAL_OK);
        TT_EQ_INT(rc.duplicate, 0);
        TT_EQ_INT(session_of(DB(c, 0), sid).hwm, seq);
    }
    s = keyed(sig_make(403, 0, 1.0, t_ev + 3));
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 3, &s, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT(session_of(DB(c, 0), sid).hwm, 5);
    TT_EQ_INT(session_of(DB(c, 0), sid).entries, 5);
    s = keyed(sig_make(406, 0, 1.0, t_ev + 6));
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 6, &s, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(session_of(DB(c, 0), sid).hwm, 6);
    /* Above the mark: 8 before 7 waits in the set, 7 closes the gap. */
    s = keyed(sig_make(408, 0, 1.0, t_ev + 8));
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 8, &s, &rc), TIDAL_OK);
    TT_EQ_INT(session_of(DB(c, 0), sid).hwm, 6);
    TT_EQ_INT(session_of(DB(c, 0), sid).entries, 7);
    run_for(c, SEC);
    for (r = 1; r < NREG; r++) {
        tidal_session_info info = session_of(DB(c, r), sid);
        TT_EQ_INT(info.hwm, 6);
        TT_EQ_INT(info.entries, 7);
        TT_EQ_INT(count_of(DB(c, r), 403, 0), 1);
    }
    s = keyed(sig_make(407, 0, 1.0, t_ev + 7));
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 7, &s, &rc), TIDAL_OK);
    TT_EQ_INT(session_of(DB(c, 0), sid).hwm, 8);
    run_for(c, SEC);
    for (r = 0; r < NREG; r++) {
        tidal_session_info info = session_of(DB(c, r), sid);
        TT_EQ_INT(info.hwm, 8);
        TT_EQ_INT(info.entries, 8);
    }
    converge_and_check(c, 10 * SEC);
    tidal_sim_cluster_free(c);
}

/* ---- 2. divergence on both sides of a partition, then convergence --------------------- */

typedef struct xsig {
    tidal_id item;
    uint32_t type;
    double weight;
    int64_t time_ns;
} xsig;

typedef struct workload {
    xsig *sigs; /* every distinct signal event written (the oracle) */
    uint32_t n, cap;
    uint64_t other_events; /* distinct non-signal events written by the test */
    tidal_id sid;          /* a session both sides write to */
    int64_t sess_t0;
} workload;

static void wl_add(workload *w, tidal_id item, uint32_t type, double weight, int64_t t) {
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 4096;
        w->sigs = (xsig *)realloc(w->sigs, w->cap * sizeof *w->sigs);
        TT_CHECK(w->sigs != NULL);
        if (!w->sigs) exit(1);
    }
    w->sigs[w->n].item = item;
    w->sigs[w->n].type = type;
    w->sigs[w->n].weight = weight;
    w->sigs[w->n].time_ns = t;
    w->n++;
}

#define DV_ITEMS 300
#define DV_USERS 50
#define DV_USER0 1000

/* The session signal of seq on either side: its content is a function of seq, so the
   overlapping seqs both sides write are the same event. */
static tidal_signal dv_session_sig(const workload *w, uint64_t seq) {
    return keyed(sig_make(1 + seq % DV_ITEMS, (uint32_t)(seq % 2), 0.5 + (double)(seq % 4),
                          w->sess_t0 + (int64_t)seq * MS));
}

/* One round on one side: k signals in one batch, a few hides/unhides and attribute
   writes, and session writes with seqs [s_from, s_to]. */
static void dv_round(tidal_sim_cluster *c, workload *w, int r, int k, uint64_t s_from,
                     uint64_t s_to, int record_sessions) {
    tidal_db *db = DB(c, r);
    tidal_tag tag;
    tidal_receipt rc;
    uint64_t seq;
    int i;
    TT_EQ_INT(tidal_db_batch_begin(db), TIDAL_OK);
    for (i = 0; i < k; i++) {
        tidal_signal s = sig_make(1 + tt_below(DV_ITEMS), (uint32_t)tt_below(2),
                                  tt_below(10) == 0 ? -1.0 : 1.0 + (double)tt_below(3),
                                  now_of(c) - 1 - (int64_t)tt_below((uint64_t)(3599 * SEC)));
        if (tt_below(3)) s.user = DV_USER0 + tt_below(DV_USERS);
        if (tt_below(4) == 0) { /* explicit cohort tag; otherwise the user's attribute */
            tag.key = "locale";
            tag.value = g_locales[tt_below(3)];
            s.cohort = &tag;
            s.cohort_count = 1;
        }
        memset(&rc, 0, sizeof rc);
        TT_EQ_INT(tidal_signal_write(db, &s, &rc), TIDAL_OK);
        TT_EQ_INT(rc.duplicate, 0);
        wl_add(w, s.item, s.type, s.weight, s.time_ns);
    }
    for (i = 0; i < 4; i++) {
        tidal_id user = DV_USER0 + tt_below(DV_USERS), item = 1 + tt_below(DV_ITEMS);
        tidal_result res = tt_below(3)
                               ? tidal_negative_add(db, TENANT, user, TIDAL_HIDE, item, NULL)
                               : tidal_negative_remove(db, TENANT, user, TIDAL_HIDE, item, NULL);
        TT_EQ_INT(res, TIDAL_OK);
        w->other_events++;
    }
    for (i = 0; i < 3; i++) {
        TT_EQ_INT(tidal_attr_set(db, TENANT, DV_USER0 + tt_below(DV_USERS), "locale",
                                 g_locales[tt_below(3)], NULL),
                  TIDAL_OK);
        w->other_events++;
    }
    for (seq = s_from; seq <= s_to; seq++) {
        tidal_signal s = dv_session_sig(w, seq);
        memset(&rc, 0, sizeof rc);
        TT_EQ_INT(tidal_session_signal(db, w->sid, seq, &s, &rc), TIDAL_OK);
        if (record_sessions) {
            TT_EQ_INT(rc.duplicate, 0);
            wl_add(w, s.item, s.type, s.weight, s.time_ns);
        }
    }
    TT_EQ_INT(tidal_db_commit(db), TIDAL_OK);
}

/* Every replica's all-time counts and decayed scores of a sample of (item, type) pairs
   equal the oracle: the number of distinct events, and the analytic sum over them. */
static void dv_check_items(tidal_sim_cluster *c, const workload *w, int64_t t) {
    tidal_id item;
    uint32_t type, k;
    int r, bad = 0;
    for (item = 1; item <= DV_ITEMS && !bad; item += 7)
        for (type = 0; type < 2; type++) {
            long double want = 0, h = (long double)g_sigs[type].half_life_s * 1e9L;
            uint64_t cnt = 0;
            for (k = 0; k < w->n; k++) {
                const xsig *x = &w->sigs[k];
                if (x->item != item || x->type != type) continue;
                cnt++;
                want += (long double)x->weight * exp2l(-(long double)(t - x->time_ns) / h);
            }
            for (r = 0; r < NREG; r++) {
                tidal_signal_stats st = read_sig(DB(c, r), item, type, t);
                if (st.count[TIDAL_W_ALL] != cnt || fabsl((long double)st.score - want) > 1e-6L)
                    bad = 1;
                TT_CHECKF(st.count[TIDAL_W_ALL] == cnt,
                          "region %d item %llu type %u: count %llu, oracle %llu", r,
                          (unsigned long long)item, type, (unsigned long long)st.count[TIDAL_W_ALL],
                          (unsigned long long)cnt);
                TT_CHECKF(fabsl((long double)st.score - want) <= 1e-6L,
                          "region %d item %llu type %u: score %.9f, analytic %.9Lf", r,
                          (unsigned long long)item, type, st.score, want);
            }
        }
}

/* isolate_leader: region 0 (the leader) is cut away and keeps leading its old epoch while
   the majority elects; else region 2 is cut off and takes writes in availability mode
   while region 0 keeps leading the majority. */
static void divergence(int isolate_leader) {
    tidal_sim_cluster *c = cl_new();
    workload w;
    tidal_session_info info;
    uint32_t part;
    int side[2], round, rounds = 20, per = DIVERGE_PER_SIDE / 20, r;
    uint64_t seq_a = 1, seq_b = 1001;
    int64_t t_end;
    if (!c) return;
    memset(&w, 0, sizeof w);
    w.sess_t0 = now_of(c) - 1800 * SEC;
    /* Before: user attributes (cohorts) and a session, everywhere. */
    for (r = 0; r < DV_USERS; r++) {
        TT_EQ_INT(tidal_attr_set(DB(c, 0), TENANT, DV_USER0 + (tidal_id)r, "locale",
                                 g_locales[r % 3], NULL),
                  TIDAL_OK);
        w.other_events++;
    }
    TT_EQ_INT(tidal_session_start(DB(c, 0), TENANT, 77, 0, &w.sid), TIDAL_OK);
    w.other_events++;
    info = session_of(DB(c, 0), w.sid);
    run_for(c, SEC);

    if (isolate_leader) {
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 0);
        side[0] = 0;
        side[1] = wait_new_leader(c, 0, 10 * SEC);
        TT_CHECKF(side[1] > 0, "no new leader on the majority side");
        if (side[1] <= 0) goto out;
        TT_EQ_INT(status_of(c, 0).role, TIDAL_ROLE_LEADER); /* it does not know yet */
    } else {
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 2);
        side[0] = 0;
        side[1] = 2;
        TT_CHECKF(wait_cut_off(c, 2, 5 * SEC), "region 2 never reported cut_off");
        TT_EQ_INT(tidal_sim_cluster_leader(c, 0), 0);
    }
    TT_EQ_INT(tidal_session_open(DB(c, side[1]), TENANT, w.sid, 77, info.start_ns, 0), TIDAL_OK);
    for (round = 0; round < rounds; round++) {
        /* Session seqs: side 0 writes 1.., side 1 writes 1001..; both write the seqs of
           their overlap (the last of side 0's round), which must count once. */
        dv_round(c, &w, side[0], per, seq_a, seq_a + 4, 1);
        dv_round(c, &w, side[1], per, seq_b, seq_b + 4, 1);
        dv_round(c, &w, side[1], 0, seq_a + 4, seq_a + 4, 0); /* same (session, seq) on side 1 */
        seq_a += 5;
        seq_b += 5;
        run_for(c, 20 * MS);
    }
    TT_CHECK(DIVERGE_PER_SIDE % rounds == 0);
    printf("  wrote %u signal events and %llu other events on the two sides (%d per side)\n", w.n,
           (unsigned long long)w.other_events, DIVERGE_PER_SIDE);
    run_for(c, 500 * MS);

    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    converge_and_check(c, 60 * SEC);
    t_end = now_of(c);
    for (r = 0; r < NREG; r++) {
        tidal_db_stats st;
        tidal_session_info si = session_of(DB(c, r), w.sid);
        tidal_db_stats_get(DB(c, r), &st);
        TT_CHECKF(st.events_applied - st.events_internal == w.n + w.other_events,
                  "region %d: %llu events applied (%llu internal), the test wrote %llu distinct", r,
                  (unsigned long long)st.events_applied, (unsigned long long)st.events_internal,
                  (unsigned long long)(w.n + w.other_events));
        TT_EQ_INT(si.entries, 2 * 5 * rounds);
        TT_EQ_INT(si.hwm, 5 * rounds);
    }
    dv_check_items(c, &w, t_end);
    /* LWW attributes agree everywhere (the digest says so too; this reads them). */
    for (r = 0; r < DV_USERS; r += 5) {
        char a[16], b[16];
        int k;
        TT_EQ_INT(tidal_attr_get(DB(c, 0), TENANT, DV_USER0 + (tidal_id)r, "locale", a, sizeof a),
                  TIDAL_OK);
        for (k = 1; k < NREG; k++) {
            TT_EQ_INT(
                tidal_attr_get(DB(c, k), TENANT, DV_USER0 + (tidal_id)r, "locale", b, sizeof b),
                TIDAL_OK);
            TT_CHECK(!strcmp(a, b));
        }
    }
out:
    free(w.sigs);
    tidal_sim_cluster_free(c);
}

static void t_divergence_leader_isolated(void) { divergence(1); }
static void t_divergence_follower_cut_off(void) { divergence(0); }

/* ---- 3. a lost reply, retried in another region --------------------------------------- */

static tidal_signal idem_sig(tidal_id item, int64_t t, const char *key) {
    tidal_signal s = sig_make(item, 1, 1.0, t);
    s.user = 5000;
    s.idem.key = key;
    s.idem.key_len = (uint32_t)strlen(key);
    s.idem.seq = 1;
    return keyed(s);
}

/* Retries land on: the majority's new leader (after A was QUORUM-acked, and after A took
   it alone just before the cut), and a cut-off minority member. */
static void t_lost_reply_retry_elsewhere(void) {
    tidal_sim_cluster *c = cl_new();
    tidal_receipt ra, rb;
    tidal_signal s1, s2, s3;
    uint32_t part;
    int b, r;
    int64_t t0;
    if (!c) return;
    t0 = now_of(c) - 60 * SEC;
    s1 = idem_sig(601, t0, "client-9/req-1");
    s2 = idem_sig(602, t0 + 1, "client-9/req-2");
    s3 = idem_sig(603, t0 + 2, "client-9/req-3");

    /* (i) QUORUM-acknowledged on region 0; the reply is lost; region 0 is cut away. */
    TT_EQ_INT(tidal_signal_write(DB(c, 0), &s1, &ra), TIDAL_OK);
    {
        int64_t end = now_of(c) + 2 * SEC;
        while (tidal_write_status(DB(c, 0), &ra, TIDAL_ACK_QUORUM) == TIDAL_PENDING &&
               now_of(c) < end)
            run_for(c, 5 * MS);
        TT_EQ_INT(tidal_write_status(DB(c, 0), &ra, TIDAL_ACK_QUORUM), TIDAL_OK);
    }
    /* (ii) taken by region 0 alone: the partition starts before it ships anything. */
    TT_EQ_INT(tidal_signal_write(DB(c, 0), &s2, &ra), TIDAL_OK);
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 0);
    b = wait_new_leader(c, 0, 10 * SEC);
    TT_CHECKF(b > 0, "no new leader on the majority side");
    if (b <= 0) goto out;
    TT_EQ_INT(tidal_signal_write(DB(c, b), &s1, &rb), TIDAL_OK);
    TT_EQ_INT(rb.duplicate, 1); /* the new leader holds every quorum-acknowledged write */
    TT_EQ_INT(tidal_signal_write(DB(c, b), &s2, &rb), TIDAL_OK);
    TT_EQ_INT(rb.duplicate, 0); /* it never saw the original: applied here, same id */
    TT_CHECK(ra.id.hi == rb.id.hi && ra.id.lo == rb.id.lo);
    TT_EQ_INT(count_of(DB(c, 0), 602, 1), 1);
    TT_EQ_INT(count_of(DB(c, b), 602, 1), 1);
    run_for(c, SEC);
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    converge_and_check(c, 30 * SEC);

    /* (iii) written on the leader just before a member is cut off; retried there. */
    {
        int l = tidal_sim_cluster_leader(c, 0), m;
        TT_CHECK(l >= 0);
        if (l < 0) goto out;
        m = (l + 1) % NREG;
        TT_EQ_INT(tidal_signal_write(DB(c, l), &s3, &ra), TIDAL_OK);
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), (uint16_t)m);
        TT_CHECKF(wait_cut_off(c, m, 5 * SEC), "region %d never reported cut_off", m);
        TT_EQ_INT(tidal_signal_write(DB(c, m), &s3, &rb), TIDAL_OK);
        TT_EQ_INT(rb.duplicate, 0);
        TT_CHECK(ra.id.hi == rb.id.hi && ra.id.lo == rb.id.lo);
        TT_EQ_INT(tidal_write_status(DB(c, m), &rb, TIDAL_ACK_LOCAL), TIDAL_OK);
        run_for(c, SEC);
        tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
        converge_and_check(c, 30 * SEC);
    }
    for (r = 0; r < NREG; r++) {
        TT_EQ_INT(count_of(DB(c, r), 601, 1), 1);
        TT_EQ_INT(count_of(DB(c, r), 602, 1), 1);
        TT_EQ_INT(count_of(DB(c, r), 603, 1), 1);
        TT_NEAR(read_sig(DB(c, r), 602, 1, 0).weight[TIDAL_W_ALL], 1.0, 0);
    }
out:
    tidal_sim_cluster_free(c);
}

/* A retry is the same request sent again. A request that left the event time (or a
   roaming session's start time, or the user's cohort) to the server would get each
   region's own clock (attributes) under one event id, and replicas keep the copy they
   applied first: the library refuses such keyed writes (TIDAL_ERR_INVALID), so a retry
   always repeats the original's content. With it, one state on every replica (principle
   1, DESIGN 5.6): same counts, scores, journals. This case found the bug. */
static void t_retry_default_time_converges(void) {
    tidal_sim_cluster *c = cl_new();
    tidal_signal s = idem_sig(611, 0, "client-9/req-11"), ss = keyed(sig_make(612, 0, 1.0, 0));
    tidal_receipt ra, rb;
    tidal_id sid = 0;
    uint32_t part;
    int b, r;
    if (!c) return;
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 0);
    b = wait_new_leader(c, 0, 10 * SEC);
    TT_CHECKF(b > 0, "no new leader on the majority side");
    if (b <= 0) goto out;
    /* Server-filled content is refused, in every region. */
    for (r = 0; r < NREG; r++) {
        tidal_signal nocohort = s;
        nocohort.time_ns = now_of(c);
        nocohort.cohort = NULL;
        TT_EQ_INT(tidal_signal_write(DB(c, r), &s, NULL), TIDAL_ERR_INVALID);
        TT_EQ_INT(tidal_signal_write(DB(c, r), &nocohort, NULL), TIDAL_ERR_INVALID);
    }
    s.time_ns = now_of(c) - SEC; /* the client's own clock, repeated by its retry */
    ss.time_ns = now_of(c) - SEC;
    /* Region 0 takes the write and a session step; the replies are lost; the client
       retries a second later in region b (the session roams there). */
    TT_EQ_INT(tidal_signal_write(DB(c, 0), &s, &ra), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(DB(c, 0), TENANT, 55, 0, &sid), TIDAL_OK);
    TT_EQ_INT(tidal_session_signal(DB(c, 0), sid, 1, &ss, NULL), TIDAL_OK);
    run_for(c, SEC);
    TT_EQ_INT(tidal_signal_write(DB(c, b), &s, &rb), TIDAL_OK);
    TT_CHECK(ra.id.hi == rb.id.hi && ra.id.lo == rb.id.lo);
    TT_EQ_INT(tidal_session_open(DB(c, b), TENANT, sid, 55, 0, 0), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_open(DB(c, b), TENANT, sid, 55, session_of(DB(c, 0), sid).start_ns, 0), TIDAL_OK);
    TT_EQ_INT(tidal_session_signal(DB(c, b), sid, 1, &ss, NULL), TIDAL_OK);
    run_for(c, SEC);
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    converge_and_check(c, 30 * SEC);
    for (r = 0; r < NREG; r++) {
        tidal_session_info i0 = session_of(DB(c, 0), sid), ir = session_of(DB(c, r), sid);
        tidal_session_entry e0, er;
        uint32_t n0 = 0, nr = 0;
        TT_EQ_INT(count_of(DB(c, r), 611, 1), 1);
        TT_EQ_INT(count_of(DB(c, r), 612, 0), 1);
        TT_CHECKF(
            read_sig(DB(c, r), 611, 1, now_of(c)).score ==
                read_sig(DB(c, 0), 611, 1, now_of(c)).score,
            "region %d: the retried signal's score differs from region 0's (event time of the "
            "copy it applied first)",
            r);
        TT_CHECKF(ir.start_ns == i0.start_ns, "region %d: session start %lld, region 0 %lld", r,
                  (long long)ir.start_ns, (long long)i0.start_ns);
        TT_EQ_INT(tidal_session_entries(DB(c, 0), TENANT, sid, 0, &e0, 1, &n0), TIDAL_OK);
        TT_EQ_INT(tidal_session_entries(DB(c, r), TENANT, sid, 0, &er, 1, &nr), TIDAL_OK);
        TT_CHECKF(n0 == 1 && nr == 1 && e0.time_ns == er.time_ns,
                  "region %d: session seq 1 event time %lld, region 0 %lld", r,
                  (long long)er.time_ns, (long long)e0.time_ns);
    }
out:
    tidal_sim_cluster_free(c);
}

/* ---- 4. QUORUM on the minority side --------------------------------------------------- */

/* Region m takes a write while it cannot reach a majority: LOCAL at once, QUORUM pending,
   then unavailable after quorum_wait (2 s). Returns its receipt. */
static tidal_receipt minority_write(tidal_sim_cluster *c, int m, tidal_id item) {
    tidal_receipt rc;
    int64_t t_acc, end;
    tidal_result st = TIDAL_PENDING;
    rc = write_sig(DB(c, m), item, 0, 1.0, now_of(c) - SEC);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(tidal_write_status(DB(c, m), &rc, TIDAL_ACK_LOCAL), TIDAL_OK);
    TT_EQ_INT(tidal_write_status(DB(c, m), &rc, TIDAL_ACK_QUORUM), TIDAL_PENDING);
    t_acc = now_of(c);
    run_for(c, SEC);
    TT_EQ_INT(tidal_write_status(DB(c, m), &rc, TIDAL_ACK_QUORUM), TIDAL_PENDING);
    end = t_acc + 5 * SEC;
    while (now_of(c) < end &&
           (st = tidal_write_status(DB(c, m), &rc, TIDAL_ACK_QUORUM)) == TIDAL_PENDING)
        run_for(c, 10 * MS);
    TT_EQ_INT(st, TIDAL_ERR_UNAVAILABLE);
    TT_CHECKF(now_of(c) - t_acc >= 2 * SEC - 20 * MS && now_of(c) - t_acc <= 2 * SEC + 50 * MS,
              "unavailable after %lld ms, expected the 2000 ms quorum wait",
              (long long)((now_of(c) - t_acc) / MS));
    TT_EQ_INT(tidal_write_status(DB(c, m), &rc, TIDAL_ACK_LOCAL), TIDAL_OK);
    return rc;
}

/* A QUORUM write on the majority's leader becomes OK. */
static void majority_write(tidal_sim_cluster *c, int l, tidal_id item) {
    tidal_receipt rc = write_sig(DB(c, l), item, 0, 1.0, now_of(c) - SEC);
    int64_t end = now_of(c) + 2 * SEC;
    tidal_result st;
    while ((st = tidal_write_status(DB(c, l), &rc, TIDAL_ACK_QUORUM)) == TIDAL_PENDING &&
           now_of(c) < end)
        run_for(c, 5 * MS);
    TT_EQ_INT(st, TIDAL_OK);
}

static void t_quorum_minority_side(void) {
    tidal_sim_cluster *c = cl_new();
    uint32_t part;
    int b, r;
    tidal_id item;
    if (!c) return;
    /* An isolated leader. */
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 0);
    run_for(c, 100 * MS);
    TT_EQ_INT(status_of(c, 0).role, TIDAL_ROLE_LEADER);
    (void)minority_write(c, 0, 701);
    b = wait_new_leader(c, 0, 10 * SEC);
    TT_CHECKF(b > 0, "no new leader on the majority side");
    if (b > 0) majority_write(c, b, 702);
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    converge_and_check(c, 30 * SEC);
    /* A cut-off follower. */
    b = tidal_sim_cluster_leader(c, 0);
    if (b >= 0) {
        int m = (b + 2) % NREG;
        part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), (uint16_t)m);
        TT_CHECKF(wait_cut_off(c, m, 5 * SEC), "region %d never reported cut_off", m);
        TT_CHECK(status_of(c, m).role != TIDAL_ROLE_LEADER);
        (void)minority_write(c, m, 703);
        majority_write(c, b, 704);
        tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
        converge_and_check(c, 30 * SEC);
    }
    for (r = 0; r < NREG; r++)
        for (item = 701; item <= 704; item++)
            TT_CHECKF(count_of(DB(c, r), item, 0) == 1, "region %d item %llu: count %llu, want 1",
                      r, (unsigned long long)item, (unsigned long long)count_of(DB(c, r), item, 0));
    tidal_sim_cluster_free(c);
}

/* ---- 5. no suppressed item is returned, at any step ----------------------------------- */

#define NS_ITEMS 24
#define NS_USERS 3
#define NS_USER0 800

typedef struct leak_obs {
    uint64_t applied[NREG];
    uint64_t steps, checks, leaks;
} leak_obs;

/* Runs RETRIEVE ... FOR USER on every live replica whose state changed since it last
   looked (and every 64th step regardless), for every test user: no hit may be suppressed
   on that replica. */
static void leak_observer(void *ctx, tidal_sim_cluster *c) {
    leak_obs *o = (leak_obs *)ctx;
    tidal_hit hits[NS_ITEMS + 8];
    int r, u;
    uint32_t i, n;
    o->steps++;
    for (r = 0; r < NREG; r++) {
        tidal_db *db = DB(c, r);
        uint64_t a;
        if (!db) continue;
        a = applied_of(db);
        if (a == o->applied[r] && o->steps % 64) continue;
        o->applied[r] = a;
        for (u = 0; u < NS_USERS; u++) {
            tidal_id user = NS_USER0 + (tidal_id)u;
            n = retrieve_for(db, user, hits, NS_ITEMS + 8);
            o->checks++;
            for (i = 0; i < n; i++) {
                if (suppressed_on(db, user, hits[i].item) == 0) continue;
                o->leaks++;
                TT_CHECKF(
                    0, "step %llu region %d: RETRIEVE FOR USER %llu returned suppressed item %llu",
                    (unsigned long long)o->steps, r, (unsigned long long)user,
                    (unsigned long long)hits[i].item);
            }
        }
    }
}

/* A few hides, unhides and signals on region r (skipped quietly where r refuses writes:
   a follower that still hears its leader). */
static void ns_churn(tidal_sim_cluster *c, int r, int k) {
    int i;
    for (i = 0; i < k; i++) {
        tidal_id user = NS_USER0 + tt_below(NS_USERS), item = 1 + tt_below(NS_ITEMS);
        tidal_result res;
        uint64_t d = tt_below(10);
        if (d < 4)
            res = tidal_negative_add(DB(c, r), TENANT, user, TIDAL_HIDE, item, NULL);
        else if (d < 7)
            res = tidal_negative_remove(DB(c, r), TENANT, user, TIDAL_HIDE, item, NULL);
        else {
            tidal_signal s = sig_make(item, 0, 1.0 + (double)tt_below(5),
                                      now_of(c) - (int64_t)tt_below(600) * SEC);
            s.user = user;
            res = tidal_signal_write(DB(c, r), &s, NULL);
        }
        TT_CHECKF(res == TIDAL_OK || res == TIDAL_ERR_READ_ONLY || res == TIDAL_ERR_LIMIT,
                  "region %d write: %s", r, tidal_strerror(res));
    }
}

static void ns_phase(tidal_sim_cluster *c, int64_t dur_ns) {
    int64_t end = now_of(c) + dur_ns;
    while (now_of(c) < end && TT_OK()) {
        int r;
        for (r = 0; r < NREG; r++)
            if (DB(c, r)) ns_churn(c, r, 2);
        run_for(c, (int64_t)(5 + tt_below(60)) * MS);
    }
}

static void t_no_leak_during_convergence(void) {
    tidal_sim_cluster *c = cl_new();
    leak_obs o;
    uint32_t part;
    int l;
    if (!c) return;
    memset(&o, 0, sizeof o);
    tidal_sim_net_set_faults(tidal_sim_cluster_net(c), 20000, 20000,
                             50000); /* 2% loss, dup; 5% reorder */
    seed_items(c, 0, NS_ITEMS);
    tidal_sim_cluster_set_observer(c, leak_observer, &o);
    ns_phase(c, SEC);
    /* A follower is cut off and takes writes (availability mode) while the leader does. */
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 1);
    ns_phase(c, 4 * SEC);
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    ns_phase(c, 2 * SEC);
    /* The leader is isolated; both it and the majority's new leader take writes. */
    l = tidal_sim_cluster_leader(c, 0);
    if (l < 0) l = 0;
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), (uint16_t)l);
    ns_phase(c, 4 * SEC);
    tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
    ns_phase(c, 2 * SEC);
    tidal_sim_net_set_faults(tidal_sim_cluster_net(c), 0, 0, 0);
    converge_and_check(c, 30 * SEC);
    tidal_sim_cluster_set_observer(c, NULL, NULL);
    printf("  %llu steps observed, %llu RETRIEVE FOR USER checks, %llu leaks\n",
           (unsigned long long)o.steps, (unsigned long long)o.checks, (unsigned long long)o.leaks);
    TT_CHECK(o.checks > 100);
    TT_EQ_INT(o.leaks, 0);
    tidal_sim_cluster_free(c);
}

/* ---- 6. HLC --------------------------------------------------------------------------- */

typedef struct hlc_obs {
    tidal_hlc last[NREG];
    uint64_t steps, backwards;
} hlc_obs;

static int hlc_before(tidal_hlc a, tidal_hlc b) {
    return a.wall_ns < b.wall_ns || (a.wall_ns == b.wall_ns && a.logical < b.logical);
}

static void hlc_observer(void *ctx, tidal_sim_cluster *c) {
    hlc_obs *o = (hlc_obs *)ctx;
    int r;
    o->steps++;
    for (r = 0; r < NREG; r++) {
        tidal_node_status st;
        if (!DB(c, r)) continue;
        TT_EQ_INT(tidal_node_status_get(DB(c, r), &st), TIDAL_OK);
        if (hlc_before(st.hlc, o->last[r])) {
            o->backwards++;
            TT_CHECKF(0, "region %d: HLC went back from (%lld, %u) to (%lld, %u)", r,
                      (long long)o->last[r].wall_ns, o->last[r].logical, (long long)st.hlc.wall_ns,
                      st.hlc.logical);
        }
        o->last[r] = st.hlc;
    }
}

/* Writes on the current leader every 20 ms for dur_ns, checking after each write. */
static void hlc_writes(tidal_sim_cluster *c, hlc_obs *o, int64_t dur_ns) {
    int64_t end = now_of(c) + dur_ns;
    while (now_of(c) < end && TT_OK()) {
        int l = tidal_sim_cluster_leader(c, 0);
        if (l >= 0) {
            tidal_signal s = sig_make(1 + tt_below(20), 0, 1.0, 0);
            TT_EQ_INT(tidal_signal_write(DB(c, l), &s, NULL), TIDAL_OK);
            TT_EQ_INT(tidal_attr_set(DB(c, l), TENANT, 1 + tt_below(20), "color", "red", NULL),
                      TIDAL_OK);
            hlc_observer(o, c);
        }
        run_for(c, 20 * MS);
    }
}

/* Region r noticed region 2's clock an hour ahead. */
static void check_noticed(tidal_sim_cluster *c, int r) {
    tidal_node_status st = status_of(c, r);
    TT_CHECKF(st.clock_ahead > 0, "region %d did not notice region 2's clock", r);
    TT_CHECKF(st.clock_ahead_node.region == 2 && st.clock_ahead_node.shard == 0,
              "region %d: clock_ahead_node (%u, %u)", r, st.clock_ahead_node.region,
              st.clock_ahead_node.shard);
    TT_CHECKF(st.clock_ahead_ns > 3500 * SEC, "region %d: clock_ahead_ns %lld", r,
              (long long)st.clock_ahead_ns);
}

/* Region r's HLC is not an hour ahead of true time (regions 0 and 1 run 5 s behind). */
static void check_not_dragged(tidal_sim_cluster *c, int r) {
    tidal_node_status st = status_of(c, r);
    TT_CHECKF(st.hlc.wall_ns < now_of(c) + 10 * SEC,
              "region %d: HLC wall %lld s ahead of true time", r,
              (long long)((st.hlc.wall_ns - now_of(c)) / SEC));
}

static void t_hlc_monotone_and_runaway_clock(void) {
    tidal_sim_cluster *c = cl_new();
    hlc_obs o;
    int r;
    if (!c) return;
    memset(&o, 0, sizeof o);
    tidal_sim_cluster_set_observer(c, hlc_observer, &o);
    hlc_writes(c, &o, SEC);
    /* The leader's and a follower's wall clocks jump back 5 s. */
    tidal_sim_cluster_skew(c, 0, 0, -5 * SEC);
    hlc_writes(c, &o, SEC);
    tidal_sim_cluster_skew(c, 1, 0, -5 * SEC);
    hlc_writes(c, &o, SEC);
    /* Region 2's clock runs an hour ahead. The leader hears it (acks and pushes carry its
       stamp): it notices, and is not dragged forward; neither is the other follower. */
    tidal_sim_cluster_skew(c, 2, 0, 3600 * SEC);
    hlc_writes(c, &o, 2 * SEC);
    {
        int l = tidal_sim_cluster_leader(c, 0);
        TT_CHECK(l >= 0 && l != 2);
        if (l >= 0) check_noticed(c, l);
    }
    for (r = 0; r < 2; r++) check_not_dragged(c, r);
    TT_CHECK(status_of(c, 2).hlc.wall_ns >= now_of(c) + 3599 * SEC); /* its own clock */
    /* Region 2 is cut off and writes with its runaway clock; after the heal it talks to
       everyone and its events merge: every peer notices, none is dragged. */
    {
        uint32_t part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 2);
        TT_CHECKF(wait_cut_off(c, 2, 5 * SEC), "region 2 never reported cut_off");
        write_sig(DB(c, 2), 999, 0, 1.0, 0);
        hlc_writes(c, &o, SEC);
        tidal_sim_net_heal(tidal_sim_cluster_net(c), part);
        hlc_writes(c, &o, 2 * SEC);
        converge_and_check(c, 30 * SEC);
        for (r = 0; r < NREG; r++) TT_EQ_INT(count_of(DB(c, r), 999, 0), 1);
        for (r = 0; r < 2; r++) {
            check_noticed(c, r);
            check_not_dragged(c, r);
        }
    }
    /* Region 2's clock is corrected (jumps back an hour): its HLC must not go back. */
    tidal_sim_cluster_skew(c, 2, 0, 0);
    hlc_writes(c, &o, SEC);
    tidal_sim_cluster_set_observer(c, NULL, NULL);
    TT_CHECK(o.steps > 100);
    TT_EQ_INT(o.backwards, 0);
    tidal_sim_cluster_free(c);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_session_visible_in_follower),
    TT_CASE(t_session_duplicate_roaming),
    TT_CASE(t_hide_wins_unhide_cut_off),
    TT_CASE(t_hide_wins_unhide_majority),
    TT_CASE(t_unhide_after_seen_majority),
    TT_CASE(t_unhide_after_seen_cut_off),
    TT_CASE(t_session_hwm),
    TT_CASE(t_divergence_leader_isolated),
    TT_CASE(t_divergence_follower_cut_off),
    TT_CASE(t_lost_reply_retry_elsewhere),
    TT_CASE(t_retry_default_time_converges),
    TT_CASE(t_quorum_minority_side),
    TT_CASE(t_no_leak_during_convergence),
    TT_CASE(t_hlc_monotone_and_runaway_clock),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
