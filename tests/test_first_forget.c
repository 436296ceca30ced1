/* test_first_forget.c - issue 11, points "session retries after the end" and "forget":
   a retry of an applied session write answers duplicate after the session ended or
   expired (alone and in a replica group, after a failover); tidal_user_forget and
   tidal_item_delete remove what they promise from reads, RETRIEVE, the top-K index and,
   after the next snapshot, from every file of the database directory (scanned for the id
   as 8-byte little endian and as an LEB128 varint, with a positive control); a replica
   group converges after forgets and deletes; the new event decoders refuse bad bytes. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)
#define HOUR (INT64_C(3600) * TIDAL_NS_PER_S)
#define NTYPES 3

/* ---- one node on a simulated disk ------------------------------------------------------ */

static tidal_signal_def g_sigs[NTYPES];
static const char *const g_ckeys[1] = {"locale"};
static tidal_profile_term g_terms[2];
static tidal_profile_def g_prof[1];

static void schema_fill(tidal_schema *s) {
    memset(g_sigs, 0, sizeof g_sigs);
    g_sigs[0].name = "view";
    g_sigs[0].half_life_s = 3600;
    g_sigs[1].name = "like";
    g_sigs[1].half_life_s = 86400;
    g_sigs[2].name = "buy";
    g_sigs[2].permanent = 1;
    g_terms[0].signal = "view";
    g_terms[0].weight = 1;
    g_terms[1].signal = "like";
    g_terms[1].weight = 3;
    g_prof[0].name = "feed";
    g_prof[0].terms = g_terms;
    g_prof[0].term_count = 2;
    memset(s, 0, sizeof *s);
    s->signals = g_sigs;
    s->signal_count = NTYPES;
    s->cohort_keys = g_ckeys;
    s->cohort_key_count = 1;
    s->profiles = g_prof;
    s->profile_count = 1;
}

typedef struct node {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db;
} node;

static void node_open(node *n) {
    char msg[256];
    tidal_result r = tidal_db_open_msg(&n->cfg, &n->db, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "open: %s %s", tidal_strerror(r), msg);
}

/* path NULL: ephemeral. */
static void node_init(node *n, const char *path) {
    memset(n, 0, sizeof *n);
    n->disk = tidal_sim_disk_new(tt_seed());
    tidal_sim_env_init(&n->env, n->disk, T0, tt_seed() ^ 0x5eed);
    schema_fill(&n->cfg.schema);
    n->cfg.env = &n->env.env;
    n->cfg.path = path;
    n->cfg.segment_bytes_max = 4096; /* several segments */
    node_open(n);
}

static void node_free(node *n) {
    if (n->db) tidal_db_close(n->db);
    tidal_sim_disk_free(n->disk);
}

/* A random id with its top bits set: 9 or 10 bytes as LEB128, never a small count. */
static tidal_id big_id(void) { return tt_rand() | (UINT64_C(3) << 62); }

static tidal_result sig(tidal_db *db, tidal_id item, uint32_t type, tidal_id user, int64_t t,
                        const char *locale) {
    tidal_signal s;
    tidal_tag tag;
    memset(&s, 0, sizeof s);
    s.item = item;
    s.type = type;
    s.weight = 1.0 + (double)(item % 3);
    s.time_ns = t;
    s.user = user;
    tag.key = "locale";
    tag.value = locale ? locale : "";
    s.cohort = &tag; /* explicit: none, or one tag */
    s.cohort_count = locale ? 1 : 0;
    return tidal_signal_write(db, &s, NULL);
}

static tidal_result sess_sig(tidal_db *db, tidal_id session, uint64_t seq, tidal_id item, int64_t t,
                             tidal_receipt *rc) {
    tidal_signal s;
    tidal_tag tag = {"locale", ""};
    memset(&s, 0, sizeof s);
    s.item = item;
    s.type = 0;
    s.weight = 1;
    s.time_ns = t;
    s.cohort = &tag;
    s.cohort_count = 0;
    return tidal_session_signal(db, session, seq, &s, rc);
}

static uint64_t count_all(tidal_db *db, tidal_id item, uint32_t type) {
    tidal_signal_stats st;
    TT_EQ_INT(tidal_signal_read(db, 0, item, type, NULL, 0, &st), TIDAL_OK);
    return st.count[TIDAL_W_ALL];
}

/* Whether RETRIEVE (by type, or the profile when type == NTYPES; optionally for a user
   or a cohort) returns item among its first 1000 hits. */
static int retrieve_has(tidal_db *db, uint32_t type, tidal_id user, const char *cohort,
                        tidal_id item, uint32_t *n_out) {
    static tidal_hit hits[1000];
    tidal_query q;
    uint32_t n = 0, i;
    memset(&q, 0, sizeof q);
    q.rank_kind = type == NTYPES ? TIDAL_QUERY_PROFILE : TIDAL_QUERY_SIGNAL;
    q.rank_index = type == NTYPES ? 0 : type;
    q.for_user = user;
    q.exclude_seen = user != 0;
    q.cohort_key = cohort ? "locale" : NULL;
    q.cohort_value = cohort;
    q.limit = 1000;
    TT_EQ_INT(tidal_retrieve(db, &q, hits, 1000, &n, NULL), TIDAL_OK);
    if (n_out) *n_out = n;
    for (i = 0; i < n; i++)
        if (hits[i].item == item) return 1;
    return 0;
}

/* ---- 1. session retries after the end ------------------------------------------------- */

/* Signal seq 1, end the session, retry seq 1: OK with duplicate = 1 (counted once); a
   new seq is still refused. Notes the same. Fails on the base commit: SESSION_ENDED. */
static void t_session_retry_after_end(void) {
    node n;
    tidal_id sid = 0, user = 42;
    tidal_receipt rc;
    tidal_session_info info;
    node_init(&n, NULL);
    TT_EQ_INT(tidal_session_start(n.db, 0, user, 0, &sid), TIDAL_OK);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 7, T0 - MS, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(tidal_session_note(n.db, 0, sid, 2, "checkout", &rc), TIDAL_OK);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 7, T0 - MS, &rc), TIDAL_OK); /* before the end */
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT(tidal_session_end(n.db, 0, sid), TIDAL_OK);
    memset(&rc, 0, sizeof rc);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 7, T0 - MS, &rc), TIDAL_OK); /* after it: the same answer */
    TT_EQ_INT(rc.duplicate, 1);
    memset(&rc, 0, sizeof rc);
    TT_EQ_INT(tidal_session_note(n.db, 0, sid, 2, "checkout", &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT(sess_sig(n.db, sid, 3, 7, T0 - MS, &rc), TIDAL_ERR_SESSION_ENDED); /* a new seq */
    TT_CHECK(strstr(tidal_errmsg(n.db), "ended") != NULL);
    TT_EQ_INT(sess_sig(n.db, sid, 0, 7, T0 - MS, &rc), TIDAL_ERR_SESSION_ENDED); /* next seq */
    TT_EQ_INT(tidal_session_note(n.db, 0, sid, 3, "late", &rc), TIDAL_ERR_SESSION_ENDED);
    TT_EQ_INT(tidal_session_end(n.db, 0, sid), TIDAL_ERR_SESSION_ENDED);
    TT_EQ_INT((int)count_all(n.db, 7, 0), 1);
    TT_EQ_INT(tidal_session_get(n.db, 0, sid, &info), TIDAL_OK);
    TT_EQ_INT(info.entries, 2);
    TT_EQ_INT(info.ended, 1);
    node_free(&n);
}

/* The same after a TTL expiry (an event the tick writes). */
static void t_session_retry_after_expiry(void) {
    node n;
    tidal_id sid = 0;
    tidal_receipt rc;
    tidal_session_info info;
    node_init(&n, NULL);
    TT_EQ_INT(tidal_session_start(n.db, 0, 43, 10 * TIDAL_NS_PER_S, &sid), TIDAL_OK);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 8, T0 - MS, &rc), TIDAL_OK);
    tidal_sim_env_advance(&n.env, 11 * TIDAL_NS_PER_S);
    TT_EQ_INT(tidal_db_tick(n.db, 0), TIDAL_OK);
    TT_EQ_INT(tidal_session_get(n.db, 0, sid, &info), TIDAL_OK);
    TT_EQ_INT(info.ended, 2);
    memset(&rc, 0, sizeof rc);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 8, T0 - MS, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT(sess_sig(n.db, sid, 2, 8, T0 - MS, &rc), TIDAL_ERR_SESSION_ENDED);
    TT_CHECK(strstr(tidal_errmsg(n.db), "expired") != NULL);
    TT_EQ_INT((int)count_all(n.db, 8, 0), 1);
    node_free(&n);
}

/* A retry days later, after the key-derived id left the idempotency window, is still a
   duplicate: the journal holds (session, seq). On the base commit the retry into the live
   session is applied again (counted twice). */
static void t_session_retry_after_window(void) {
    node n;
    tidal_id sid = 0, sid2 = 0;
    tidal_receipt rc;
    int i;
    node_init(&n, NULL);
    TT_EQ_INT(tidal_session_start(n.db, 0, 44, 0, &sid), TIDAL_OK);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 9, T0 - MS, &rc), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(n.db, 0, 45, 0, &sid2), TIDAL_OK);
    for (i = 1; i <= 4; i++) { /* newer keyed events move the window past the first */
        tidal_sim_env_advance(&n.env, 24 * HOUR);
        TT_EQ_INT(sess_sig(n.db, sid2, (uint64_t)i, 10, n.env.now_ns - MS, &rc), TIDAL_OK);
    }
    TT_CHECK(!tidal__event_applied(n.db, tidal__session_id(0, sid, 1))); /* gone from the index */
    memset(&rc, 0, sizeof rc);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 9, T0 - MS, &rc), TIDAL_OK); /* the session is live */
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT((int)count_all(n.db, 9, 0), 1);
    TT_EQ_INT(tidal_session_end(n.db, 0, sid), TIDAL_OK);
    memset(&rc, 0, sizeof rc);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 9, T0 - MS, &rc), TIDAL_OK); /* and ended */
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT((int)count_all(n.db, 9, 0), 1);
    node_free(&n);
}

/* ---- a replica group through tidal_sim_cluster ---------------------------------------- */

#define NREG 3

static tidal_sim_cluster *cl_new(uint64_t segment_bytes) {
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = NREG;
    cfg.shards = 1;
    cfg.seed = tt_seed();
    schema_fill(&cfg.schema);
    cfg.segment_bytes_max = segment_bytes;
    c = tidal_sim_cluster_new(&cfg);
    TT_CHECK(c != NULL);
    return c;
}

static tidal_db *DB(tidal_sim_cluster *c, int r) { return tidal_sim_cluster_db(c, (uint16_t)r, 0); }
static void run_for(tidal_sim_cluster *c, int64_t ns) {
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + ns);
}

static int wait_leader(tidal_sim_cluster *c, int not_region, int64_t max_ns) {
    int64_t end = tidal_sim_cluster_now(c) + max_ns;
    while (tidal_sim_cluster_now(c) < end) {
        int l = tidal_sim_cluster_leader(c, 0);
        if (l >= 0 && l != not_region && DB(c, l)) return l;
        run_for(c, 10 * MS);
    }
    return -1;
}

/* Every member up, holding as many events as the leader, with one digest equal to the
   truth's (a fresh node that imported every recorded event in the order written). */
static int converged(tidal_sim_cluster *c, int report) {
    uint8_t d0[32], d[32];
    tidal_db_stats s0, s;
    tidal_db *truth = NULL;
    int r, ok = 1;
    for (r = 0; r < NREG; r++)
        if (!DB(c, r)) return 0;
    tidal_db_stats_get(DB(c, 0), &s0);
    TT_EQ_INT(tidal_db_digest(DB(c, 0), TIDAL_ALL_TENANTS, d0), TIDAL_OK);
    for (r = 1; r < NREG; r++) {
        tidal_db_stats_get(DB(c, r), &s);
        TT_EQ_INT(tidal_db_digest(DB(c, r), TIDAL_ALL_TENANTS, d), TIDAL_OK);
        if (s.events_applied != s0.events_applied || memcmp(d, d0, 32)) ok = 0;
        if (!ok && report)
            TT_CHECKF(0, "region %d: %llu events vs %llu, digests %s", r,
                      (unsigned long long)s.events_applied, (unsigned long long)s0.events_applied,
                      memcmp(d, d0, 32) ? "differ" : "equal");
    }
    TT_EQ_INT(tidal_sim_cluster_truth(c, NULL, NULL, &truth), TIDAL_OK);
    if (truth) {
        TT_EQ_INT(tidal_db_digest(truth, TIDAL_ALL_TENANTS, d), TIDAL_OK);
        if (memcmp(d, d0, 32)) {
            ok = 0;
            if (report) TT_CHECKF(0, "the replicas differ from the truth");
        }
        tidal_db_close(truth);
    }
    return ok;
}

static int wait_converged(tidal_sim_cluster *c, int64_t max_ns) {
    int64_t end = tidal_sim_cluster_now(c) + max_ns;
    while (tidal_sim_cluster_now(c) < end) {
        if (converged(c, 0)) return 1;
        run_for(c, 50 * MS);
    }
    return converged(c, 1);
}

/* The replicated case: the session ends on one leader, the retry lands on the next one
   (which applied both from the log) and is a duplicate there too. */
static void t_session_retry_replicated(void) {
    tidal_sim_cluster *c = cl_new(0);
    tidal_id sid = 0;
    tidal_receipt rc;
    int l, l2;
    if (!c) return;
    l = wait_leader(c, -1, 5000 * MS);
    TT_CHECK(l >= 0);
    if (l >= 0) {
        int64_t t = tidal_sim_cluster_now(c) - MS;
        TT_EQ_INT(tidal_session_start(DB(c, l), 0, 46, 0, &sid), TIDAL_OK);
        TT_EQ_INT(sess_sig(DB(c, l), sid, 1, 11, t, &rc), TIDAL_OK);
        TT_EQ_INT(tidal_session_end(DB(c, l), 0, sid), TIDAL_OK);
        run_for(c, 1000 * MS);
        tidal_sim_cluster_crash(c, (uint16_t)l, 0);
        l2 = wait_leader(c, l, 10000 * MS);
        TT_CHECKF(l2 >= 0, "no new leader");
        if (l2 >= 0) {
            memset(&rc, 0, sizeof rc);
            TT_EQ_INT(sess_sig(DB(c, l2), sid, 1, 11, t, &rc), TIDAL_OK);
            TT_EQ_INT(rc.duplicate, 1);
            TT_EQ_INT(sess_sig(DB(c, l2), sid, 2, 11, t, &rc), TIDAL_ERR_SESSION_ENDED);
            TT_EQ_INT((int)count_all(DB(c, l2), 11, 0), 1);
        }
        TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)l, 0), TIDAL_OK);
        TT_CHECK(wait_converged(c, 10000 * MS));
    }
    tidal_sim_cluster_free(c);
}

/* ---- 2. what forget and delete remove --------------------------------------------------- */

static void t_forget_user_reads(void) {
    node n;
    tidal_id u = big_id(), other = 77, sid = 0, creator = 5000;
    char buf[64];
    int sup = 1;
    tidal_session_info info;
    uint32_t i, cnt;
    tidal_receipt rc;
    node_init(&n, NULL);
    TT_EQ_INT(tidal_attr_set(n.db, 0, u, "locale", "fr", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(n.db, 0, 301, "creator", "5000", NULL), TIDAL_OK);
    for (i = 300; i < 310; i++) TT_EQ_INT(sig(n.db, i, 0, u, T0 - MS, "fr"), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(n.db, 0, u, TIDAL_HIDE, 302, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(n.db, 0, u, TIDAL_MUTE, creator, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(n.db, 0, other, TIDAL_HIDE, 303, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(n.db, 0, u, 0, &sid), TIDAL_OK);
    TT_EQ_INT(sess_sig(n.db, sid, 1, 304, T0 - MS, &rc), TIDAL_OK);
    TT_CHECK(!retrieve_has(n.db, 0, u, NULL, 305, NULL)); /* seen */
    TT_CHECK(!retrieve_has(n.db, 0, other, NULL, 303, NULL));

    TT_EQ_INT(tidal_user_forget(n.db, 0, u, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(tidal_attr_get(n.db, 0, u, "locale", buf, sizeof buf), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_negative_check(n.db, 0, u, 302, &sup), TIDAL_OK);
    TT_EQ_INT(sup, 0);
    TT_EQ_INT(tidal_negative_check(n.db, 0, u, 301, &sup), TIDAL_OK); /* creator 5000 */
    TT_EQ_INT(sup, 0);
    TT_EQ_INT(tidal_session_get(n.db, 0, sid, &info), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(sess_sig(n.db, sid, 2, 304, T0 - MS, &rc), TIDAL_ERR_NOT_FOUND);
    for (i = 300; i < 310; i++) TT_CHECKF(retrieve_has(n.db, 0, u, NULL, i, NULL), "item %u", i);
    /* Other users keep theirs; the aggregates u's signals went into are not rewritten. */
    TT_EQ_INT(tidal_negative_check(n.db, 0, other, 303, &sup), TIDAL_OK);
    TT_EQ_INT(sup, 1);
    TT_EQ_INT((int)count_all(n.db, 304, 0), 2);
    TT_CHECK(retrieve_has(n.db, 0, 0, "fr", 300, &cnt));
    TT_EQ_INT(cnt, 10);
    /* A second forget is a new event that finds nothing; later writes recreate. */
    TT_EQ_INT(tidal_user_forget(n.db, 0, u, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(n.db, 0, u, "locale", "de", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_get(n.db, 0, u, "locale", buf, sizeof buf), TIDAL_OK);
    TT_CHECK(strcmp(buf, "de") == 0);
    TT_EQ_INT(tidal_user_forget(n.db, 0, 0, NULL), TIDAL_ERR_INVALID);
    TT_CHECK(strstr(tidal_errmsg(n.db), "user id 0") != NULL);
    node_free(&n);
}

/* Many items (the top-K lists compact and keep a threshold), a random tenth deleted:
   no query form returns a deleted one, every other one is still returned, and the
   deleted ones read as zeros everywhere. A signal afterwards recreates an item from that
   signal alone. */
static void t_delete_item_reads(void) {
    node n;
    enum { NI = 1500 };
    static tidal_id items[NI];
    static uint8_t gone[NI];
    tidal_id u = 91, sid = 0;
    uint32_t i, t, cnt, ndel = 0;
    char buf[64];
    int sup = 0;
    node_init(&n, NULL);
    for (i = 0; i < NI; i++) {
        items[i] = big_id();
        gone[i] = 0;
    }
    TT_EQ_INT(tidal_session_start(n.db, 0, u, 0, &sid), TIDAL_OK);
    for (i = 0; i < NI; i++) {
        tidal_receipt rc;
        const char *format = i % 2 ? "video" : "text";
        TT_EQ_INT(tidal_attr_set(n.db, 0, items[i], "format", format, NULL), TIDAL_OK);
        for (t = 0; t < NTYPES; t++)
            TT_EQ_INT(sig(n.db, items[i], t, i % 7 ? 0 : u, T0 - (int64_t)tt_below(48) * HOUR - MS,
                          i % 3 ? "fr" : NULL),
                      TIDAL_OK);
        if (i % 11 == 0)
            TT_EQ_INT(tidal_negative_add(n.db, 0, u, TIDAL_HIDE, items[i], NULL), TIDAL_OK);
        if (i % 13 == 0) TT_EQ_INT(sess_sig(n.db, sid, i + 1, items[i], T0 - MS, &rc), TIDAL_OK);
    }
    for (i = 0; i < NI; i++)
        if (tt_below(10) == 0) {
            gone[i] = 1;
            ndel++;
            TT_EQ_INT(tidal_item_delete(n.db, 0, items[i], NULL), TIDAL_OK);
        }
    printf("  %u of %u items deleted\n", ndel, (unsigned)NI);
    for (t = 0; t <= NTYPES; t++) {
        static tidal_hit hits[1000];
        tidal_query q;
        uint32_t k, j, seen_live = 0;
        memset(&q, 0, sizeof q);
        q.rank_kind = t == NTYPES ? TIDAL_QUERY_PROFILE : TIDAL_QUERY_SIGNAL;
        q.rank_index = t == NTYPES ? 0 : t;
        q.limit = 1000;
        q.time_ns = T0;
        TT_EQ_INT(tidal_retrieve(n.db, &q, hits, 1000, &cnt, NULL), TIDAL_OK);
        TT_EQ_INT(cnt, 1000);
        for (k = 0; k < cnt; k++)
            for (j = 0; j < NI; j++)
                if (hits[k].item == items[j]) {
                    TT_CHECKF(!gone[j], "type %u: deleted item %u returned", t, j);
                    seen_live++;
                }
        TT_EQ_INT(seen_live, cnt);
        if (t < NTYPES && cnt) { /* and no live item that scores above the last hit is missing */
            double last = hits[cnt - 1].score;
            for (j = 0; j < NI; j++) {
                tidal_signal_stats st;
                int hit = 0;
                if (gone[j]) continue;
                TT_EQ_INT(tidal_signal_read(n.db, 0, items[j], t, NULL, T0, &st), TIDAL_OK);
                if (st.score <= last * (1 + 1e-9)) continue;
                for (k = 0; k < cnt && !hit; k++) hit = hits[k].item == items[j];
                TT_CHECKF(hit, "type %u: live item %u (score %g > %g) missing", t, j, st.score, last);
            }
        }
    }
    for (i = 0; i < NI; i++) {
        if (!gone[i]) continue;
        for (t = 0; t < NTYPES; t++) {
            tidal_signal_stats st;
            tidal_tag tag = {"locale", "fr"};
            TT_EQ_INT((int)count_all(n.db, items[i], t), 0);
            TT_EQ_INT(tidal_signal_read(n.db, 0, items[i], t, &tag, 0, &st), TIDAL_OK);
            TT_EQ_INT((int)st.count[TIDAL_W_ALL], 0);
            TT_CHECK(st.score == 0);
        }
        TT_EQ_INT(tidal_attr_get(n.db, 0, items[i], "format", buf, sizeof buf),
                  TIDAL_ERR_NOT_FOUND);
        TT_EQ_INT(tidal_negative_check(n.db, 0, u, items[i], &sup), TIDAL_OK);
        TT_EQ_INT(sup, 0);
    }
    { /* cohort and user queries return none of them either, and all the live ones */
        static tidal_hit hits[1000];
        tidal_query q;
        uint32_t k, j, live_fr = 0, got = 0;
        for (j = 0; j < NI; j++) live_fr += !gone[j] && j % 3 != 0;
        memset(&q, 0, sizeof q);
        q.cohort_key = "locale";
        q.cohort_value = "fr";
        q.limit = 1000;
        TT_EQ_INT(tidal_retrieve(n.db, &q, hits, 1000, &cnt, NULL), TIDAL_OK);
        TT_EQ_INT(cnt, live_fr < 1000 ? live_fr : 1000);
        for (k = 0; k < cnt; k++)
            for (j = 0; j < NI; j++)
                if (hits[k].item == items[j]) {
                    TT_CHECKF(!gone[j], "cohort: deleted item %u returned", j);
                    got++;
                }
        TT_EQ_INT(got, cnt);
    }
    { /* journal entries keep their seq, lose the id */
        static tidal_session_entry e[NI / 13 + 2];
        uint32_t k, ne = 0;
        TT_EQ_INT(tidal_session_entries(n.db, 0, sid, 0, e, NI / 13 + 2, &ne), TIDAL_OK);
        for (k = 0; k < ne; k++) {
            uint32_t j = (uint32_t)e[k].seq - 1;
            TT_CHECK(j < NI);
            if (j < NI) TT_CHECK(e[k].item == (gone[j] ? 0 : items[j]));
        }
    }
    for (i = 0; i < NI && !gone[i]; i++) {}
    if (i < NI) { /* recreated from the new signal alone */
        TT_EQ_INT(sig(n.db, items[i], 2, 0, T0 - MS, NULL), TIDAL_OK);
        TT_EQ_INT((int)count_all(n.db, items[i], 2), 1);
        TT_EQ_INT((int)count_all(n.db, items[i], 0), 0);
    }
    TT_EQ_INT(tidal_item_delete(n.db, 0, 0, NULL), TIDAL_ERR_INVALID);
    node_free(&n);
}

/* ---- 3. no file holds the id ------------------------------------------------------------- */

typedef struct scan_hit {
    char file[400];
    uint64_t off;
    int leb;
} scan_hit;

static size_t leb128(uint64_t v, uint8_t *out) {
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7F);
        v >>= 7;
        out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

static int find_bytes(const uint8_t *p, size_t n, const uint8_t *pat, size_t m, uint64_t *off) {
    size_t i;
    for (i = 0; i + m <= n; i++)
        if (p[i] == pat[0] && !memcmp(p + i, pat, m)) {
            *off = i;
            return 1;
        }
    return 0;
}

/* Scans every file under dir (recursively) for id; returns the number of files holding it
   and describes the first hit. */
/* A snapshot file encodes ids as deltas (format 4), so its bytes need not contain the id
   even when its state does. The state is checked instead: the file alone is opened on a
   scratch disk, and each tenant's canonical export (ids as 8-byte little endian) is
   scanned. 1 if some tenant's state holds the id. */
static int snapshot_holds(const char *name, const uint8_t *img, size_t n, tidal_id id,
                          const uint8_t *le, const uint8_t *leb, size_t nleb) {
    tidal_sim_disk *d = tidal_sim_disk_new(7);
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db = NULL;
    void *f = NULL;
    char path[200];
    int holds = 0;
    uint32_t tenant;
    (void)id;
    tidal_sim_env_init(&env, d, T0, 7);
    snprintf(path, sizeof path, "scratch/%s", name);
    TT_EQ_INT(env.env.dir_create(env.env.user, "scratch"), TIDAL_OK);
    TT_EQ_INT(env.env.file_open(env.env.user, path, TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE, &f),
              TIDAL_OK);
    if (f) {
        TT_EQ_INT(env.env.file_write(env.env.user, f, 0, img, n), TIDAL_OK);
        TT_EQ_INT(env.env.file_sync(env.env.user, f), TIDAL_OK);
        env.env.file_close(env.env.user, f);
    }
    memset(&cfg, 0, sizeof cfg);
    schema_fill(&cfg.schema);
    cfg.env = &env.env;
    cfg.path = "scratch";
    { /* the snapshot's node, from its name: snap-RRRR-SSSS-<lsn>.snap (hex) */
        unsigned reg = 0, sh = 0;
        char why[256] = "";
        tidal_result r;
        TT_CHECK(sscanf(name, "snap-%4x-%4x-", &reg, &sh) == 2);
        cfg.node.region = (uint16_t)reg;
        cfg.node.shard = (uint16_t)sh;
        r = tidal_db_open_msg(&cfg, &db, why, sizeof why);
        TT_CHECKF(r == TIDAL_OK, "opening %s alone: %s: %s", name, tidal_strerror(r), why);
    }
    for (tenant = 0; db && tenant < 8 && !holds; tenant++) {
        size_t len = 0;
        uint8_t *buf;
        uint64_t off;
        if (tidal_tenant_export(db, tenant, NULL, 0, &len) != TIDAL_ERR_LIMIT) continue;
        buf = (uint8_t *)malloc(len);
        if (buf && tidal_tenant_export(db, tenant, buf, len, &len) == TIDAL_OK)
            holds = find_bytes(buf, len, le, 8, &off) || find_bytes(buf, len, leb, nleb, &off);
        free(buf);
    }
    if (db) tidal_db_close(db);
    tidal_sim_disk_free(d);
    return holds;
}

static uint32_t scan_dir(tidal_sim_disk *d, const char *dir, tidal_id id, scan_hit *hit) {
    static char names[64][128];
    uint8_t le[8], leb[10];
    size_t nleb = leb128(id, leb);
    uint32_t n, i, found = 0;
    char (*copy)[128];
    int k;
    for (k = 0; k < 8; k++) le[k] = (uint8_t)(id >> (8 * k));
    n = tidal_sim_disk_list(d, dir, names, 64);
    TT_CHECK(n <= 64);
    if (n > 64) n = 64;
    copy = (char (*)[128])malloc(sizeof(names[0]) * (n ? n : 1));
    memcpy(copy, names, sizeof(names[0]) * n);
    for (i = 0; i < n; i++) {
        char path[400];
        uint8_t *p = NULL;
        size_t len = 0;
        uint64_t off = 0;
        snprintf(path, sizeof path, "%s%s%s", dir, dir[0] ? "/" : "", copy[i]);
        if (tidal_sim_disk_read(d, path, &p, &len) != TIDAL_OK) { /* a directory */
            found += scan_dir(d, path, id, hit);
            continue;
        }
        if (find_bytes(p, len, le, 8, &off) || find_bytes(p, len, leb, nleb, &off) ||
            (!strncmp(copy[i], "snap-", 5) && strstr(copy[i], ".snap") &&
             (off = 0, snapshot_holds(copy[i], p, len, id, le, leb, nleb)))) {
            if (!found && hit) {
                snprintf(hit->file, sizeof hit->file, "%s", path);
                hit->off = off;
                hit->leb = !find_bytes(p, len, le, 8, &off);
            }
            found++;
        }
        free(p);
    }
    free(copy);
    return found;
}

static void expect_absent(tidal_sim_disk *d, const char *dir, tidal_id id, const char *what) {
    scan_hit h;
    uint32_t k;
    memset(&h, 0, sizeof h);
    k = scan_dir(d, dir, id, &h);
    TT_CHECKF(k == 0, "%s %llu still in %u file(s): %s offset %llu (%s)", what,
              (unsigned long long)id, k, h.file, (unsigned long long)h.off,
              h.leb ? "LEB128" : "8-byte LE");
}

/* A workload that names u and it everywhere it can: u's attributes, negatives, signals,
   seen set and session; it's attributes, aggregates (every type and a cohort), top-K
   entries, hides of it, seen sets and session journals naming it. */
static void name_them(tidal_db *db, tidal_id u, tidal_id it, int64_t now) {
    tidal_id sid = 0, sid2 = 0, other = 4242;
    tidal_receipt rc;
    uint32_t t, i;
    TT_EQ_INT(tidal_attr_set(db, 0, u, "locale", "fr", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(db, 0, it, "format", "video", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(db, 0, it, "creator", "6000", NULL), TIDAL_OK);
    for (t = 0; t < NTYPES; t++) {
        TT_EQ_INT(sig(db, it, t, u, now - MS, "fr"), TIDAL_OK);
        TT_EQ_INT(sig(db, it, t, other, now - 2 * MS, NULL), TIDAL_OK);
    }
    for (i = 0; i < 20; i++) TT_EQ_INT(sig(db, 500 + i, i % NTYPES, u, now - MS, "fr"), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(db, 0, u, TIDAL_HIDE, 501, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(db, 0, u, TIDAL_MUTE, 6001, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(db, 0, u, TIDAL_BLOCK, 6002, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_remove(db, 0, u, TIDAL_BLOCK, 6002, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(db, 0, other, TIDAL_HIDE, it, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(db, 0, u, 0, &sid), TIDAL_OK);
    TT_EQ_INT(sess_sig(db, sid, 1, it, now - MS, &rc), TIDAL_OK);
    TT_EQ_INT(tidal_session_note(db, 0, sid, 2, "u's note", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_session_end(db, 0, sid), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(db, 0, other, 0, &sid2), TIDAL_OK);
    TT_EQ_INT(sess_sig(db, sid2, 1, it, now - MS, &rc), TIDAL_OK);
    TT_EQ_INT(sess_sig(db, sid2, 2, 502, now - MS, &rc), TIDAL_OK);
}

static void background(tidal_db *db, int64_t now, int n) {
    int i;
    for (i = 0; i < n; i++)
        TT_EQ_INT(sig(db, 1 + tt_below(200), (uint32_t)tt_below(NTYPES), 1000 + tt_below(50),
                      now - MS, tt_below(2) ? "en" : NULL),
                  TIDAL_OK);
}

static void t_forget_leaves_no_file_holding_the_id(void) {
    node n;
    tidal_id u = big_id(), it = big_id();
    uint8_t d1[32], d2[32];
    scan_hit h;
    char buf[64];
    uint32_t k;
    node_init(&n, "db");
    background(n.db, T0, 300);
    name_them(n.db, u, it, T0);
    background(n.db, T0, 300);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    background(n.db, T0, 50);
    /* Positive control: the scan finds both ids before the forget. */
    k = scan_dir(n.disk, "db", u, &h);
    TT_CHECKF(k > 0, "control: user id not found before the forget");
    k = scan_dir(n.disk, "db", it, &h);
    TT_CHECKF(k > 0, "control: item id not found before the delete");
    TT_EQ_INT(tidal_user_forget(n.db, 0, u, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_item_delete(n.db, 0, it, NULL), TIDAL_OK);
    background(n.db, T0, 100);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    expect_absent(n.disk, "db", u, "user");
    expect_absent(n.disk, "db", it, "item");
    /* The state reopens from what is left, equal, and new writes continue the log. */
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, d1), TIDAL_OK);
    tidal_db_close(n.db);
    n.db = NULL;
    node_open(&n);
    if (!n.db) goto out;
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, d2), TIDAL_OK);
    TT_CHECK(memcmp(d1, d2, 32) == 0);
    TT_EQ_INT(tidal_attr_get(n.db, 0, u, "locale", buf, sizeof buf), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_attr_get(n.db, 0, it, "format", buf, sizeof buf), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT((int)count_all(n.db, it, 0), 0);
    TT_CHECK(!retrieve_has(n.db, 0, 0, NULL, it, NULL));
    TT_CHECK(!retrieve_has(n.db, NTYPES, 0, NULL, it, NULL));
    background(n.db, T0, 100);
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, d1), TIDAL_OK);
    tidal_db_close(n.db);
    n.db = NULL;
    node_open(&n);
    if (!n.db) goto out;
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, d2), TIDAL_OK);
    TT_CHECK(memcmp(d1, d2, 32) == 0);
    expect_absent(n.disk, "db", u, "user");
    expect_absent(n.disk, "db", it, "item");
out:
    node_free(&n);
}

/* The forget replayed from the log (no snapshot yet) gives the state it gave live, and a
   later write recreates what it names in both. */
static void t_forget_replay_equals_live(void) {
    node n;
    tidal_id u = big_id(), it = big_id();
    uint8_t d1[32], d2[32];
    node_init(&n, "db");
    background(n.db, T0, 200);
    name_them(n.db, u, it, T0);
    TT_EQ_INT(tidal_user_forget(n.db, 0, u, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_item_delete(n.db, 0, it, NULL), TIDAL_OK);
    TT_EQ_INT(sig(n.db, it, 1, u, T0 - MS, NULL), TIDAL_OK); /* recreates both */
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, d1), TIDAL_OK);
    tidal_db_close(n.db);
    n.db = NULL;
    node_open(&n);
    if (n.db) {
        TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, d2), TIDAL_OK);
        TT_CHECK(memcmp(d1, d2, 32) == 0);
        TT_EQ_INT((int)count_all(n.db, it, 1), 1);
        TT_EQ_INT((int)count_all(n.db, it, 0), 0);
        TT_CHECK(!retrieve_has(n.db, 1, u, NULL, it, NULL)); /* u has seen it again */
        /* The recovered handle remembers the forget: its next snapshot retires the log. */
        TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
        TT_EQ_INT(scan_dir(n.disk, "db", u, NULL) > 0, 1); /* u is back (seen set) */
    }
    node_free(&n);
}

/* ---- 4. a replica group converges after forgets and deletes ---------------------------- */

static void t_forget_replicated_converges(void) {
    tidal_sim_cluster *c = cl_new(8192);
    tidal_id users[6], items[40];
    int round, l = -1, r;
    uint32_t i;
    if (!c) return;
    for (i = 0; i < 6; i++) users[i] = big_id();
    for (i = 0; i < 40; i++) items[i] = big_id();
    for (round = 0; round < 12; round++) {
        int64_t now;
        l = wait_leader(c, -1, 10000 * MS);
        TT_CHECKF(l >= 0, "round %d: no leader", round);
        if (l < 0) break;
        now = tidal_sim_cluster_now(c);
        for (i = 0; i < 60; i++) {
            tidal_db *db = DB(c, l);
            tidal_id u = users[tt_below(6)], it = items[tt_below(40)];
            uint32_t what = (uint32_t)tt_below(20);
            tidal_result res;
            if (what < 12)
                res = sig(db, it, (uint32_t)tt_below(NTYPES), tt_below(2) ? u : 0, now - MS,
                          tt_below(2) ? "fr" : NULL);
            else if (what < 14)
                res = tidal_attr_set(db, 0, tt_below(2) ? u : it, "locale", "en", NULL);
            else if (what < 16) res = tidal_negative_add(db, 0, u, TIDAL_HIDE, it, NULL);
            else if (what < 17) res = tidal_negative_remove(db, 0, u, TIDAL_HIDE, it, NULL);
            else if (what < 18) {
                tidal_id sid = 0;
                tidal_receipt rc;
                res = tidal_session_start(db, 0, u, 0, &sid);
                if (res == TIDAL_OK) res = sess_sig(db, sid, 1, it, now - MS, &rc);
            } else if (what < 19) res = tidal_user_forget(db, 0, u, NULL);
            else res = tidal_item_delete(db, 0, it, NULL);
            TT_EQ_INT(res, TIDAL_OK);
        }
        run_for(c, 200 * MS);
        if (round == 4) { /* a follower misses some of it and catches up from the log */
            r = (l + 1) % NREG;
            tidal_sim_cluster_crash(c, (uint16_t)r, 0);
        }
        if (round == 7)
            TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)((l + 1) % NREG), 0), TIDAL_OK);
        if (round == 9 && DB(c, l)) { /* and a leader change */
            tidal_sim_cluster_crash(c, (uint16_t)l, 0);
            (void)wait_leader(c, l, 10000 * MS);
            TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)l, 0), TIDAL_OK);
        }
    }
    for (r = 0; r < NREG; r++)
        if (!DB(c, r)) TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)r, 0), TIDAL_OK);
    TT_CHECK(wait_converged(c, 20000 * MS));
    /* Forget everyone, delete everything; converge; after snapshots once every member
       holds the log, no member's disk holds any of the ids. */
    for (r = 0; r < NREG; r++) { /* positive control: the ids are on every disk now */
        tidal_sim_disk *d = tidal_sim_cluster_disk(c, (uint16_t)r, 0);
        uint32_t found = 0;
        for (i = 0; i < 40; i++) found += scan_dir(d, TIDAL_SIM_DB_DIR, items[i], NULL) > 0;
        TT_CHECKF(found > 0, "control: region %d holds none of the item ids", r);
    }
    l = wait_leader(c, -1, 10000 * MS);
    if (l >= 0) {
        for (i = 0; i < 6; i++) TT_EQ_INT(tidal_user_forget(DB(c, l), 0, users[i], NULL), TIDAL_OK);
        for (i = 0; i < 40; i++)
            TT_EQ_INT(tidal_item_delete(DB(c, l), 0, items[i], NULL), TIDAL_OK);
    }
    TT_CHECK(wait_converged(c, 20000 * MS));
    run_for(c, 2000 * MS);
    for (round = 0; round < 2; round++) {
        for (r = 0; r < NREG; r++)
            if (DB(c, r)) TT_EQ_INT(tidal_db_snapshot(DB(c, r)), TIDAL_OK);
        run_for(c, 2000 * MS);
    }
    for (r = 0; r < NREG; r++) {
        tidal_sim_disk *d = tidal_sim_cluster_disk(c, (uint16_t)r, 0);
        for (i = 0; i < 6; i++) expect_absent(d, TIDAL_SIM_DB_DIR, users[i], "user");
        for (i = 0; i < 40; i++) expect_absent(d, TIDAL_SIM_DB_DIR, items[i], "item");
    }
    TT_CHECK(converged(c, 1));
    /* Every member restarts from its snapshot alone (no log left); the group goes on. */
    for (r = 0; r < NREG; r++) {
        tidal_sim_cluster_crash(c, (uint16_t)r, 0);
        TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)r, 0), TIDAL_OK);
        run_for(c, 1000 * MS);
    }
    l = wait_leader(c, -1, 10000 * MS);
    TT_CHECK(l >= 0);
    if (l >= 0) TT_EQ_INT(sig(DB(c, l), items[0], 0, users[0], tidal_sim_cluster_now(c) - MS, NULL),
                          TIDAL_OK);
    TT_CHECK(wait_converged(c, 20000 * MS));
    for (r = 0; r < NREG; r++)
        if (DB(c, r)) TT_EQ_INT((int)count_all(DB(c, r), items[0], 0), 1);
    tidal_sim_cluster_free(c);
}

/* Availability mode, the documented rule: a signal taken on a cut-off member while the
   leader's side deletes the item is folded before the delete there and after it on the
   others, so the group may differ on that item once healed; deleting again after the
   heal makes every member equal to the truth, with the item gone everywhere. */
static void t_forget_availability_delete_again(void) {
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    uint32_t h;
    int l, k, r;
    tidal_id it = big_id();
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = NREG;
    cfg.shards = 1;
    cfg.seed = tt_seed();
    schema_fill(&cfg.schema);
    cfg.availability_mode = 1;
    c = tidal_sim_cluster_new(&cfg);
    TT_CHECK(c != NULL);
    if (!c) return;
    l = wait_leader(c, -1, 5000 * MS);
    TT_CHECK(l >= 0);
    if (l >= 0) {
        TT_EQ_INT(sig(DB(c, l), it, 0, 0, tidal_sim_cluster_now(c) - MS, NULL), TIDAL_OK);
        run_for(c, 1000 * MS);
        k = (l + 2) % NREG;
        h = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), (uint16_t)k);
        run_for(c, 5000 * MS); /* k is cut off and takes writes of its own */
        l = wait_leader(c, k, 5000 * MS);
        TT_CHECK(l >= 0);
        if (l >= 0) {
            TT_EQ_INT(sig(DB(c, k), it, 0, 0, tidal_sim_cluster_now(c) - MS, NULL), TIDAL_OK);
            TT_EQ_INT(tidal_item_delete(DB(c, l), 0, it, NULL), TIDAL_OK);
            run_for(c, 1000 * MS);
        }
        tidal_sim_net_heal(tidal_sim_cluster_net(c), h);
        run_for(c, 5000 * MS);
        l = wait_leader(c, -1, 5000 * MS);
        TT_CHECK(l >= 0);
        if (l >= 0) TT_EQ_INT(tidal_item_delete(DB(c, l), 0, it, NULL), TIDAL_OK);
        TT_CHECK(wait_converged(c, 20000 * MS));
        for (r = 0; r < NREG; r++)
            if (DB(c, r)) TT_EQ_INT((int)count_all(DB(c, r), it, 0), 0);
    }
    tidal_sim_cluster_free(c);
}

/* ---- 5. the decoders refuse malformed forget and delete events --------------------------- */

static const char *decode(tidal_db *db, const uint8_t *p, size_t n) {
    tidal__rd r;
    tidal__event ev;
    tidal_event_id tags[4];
    tidal__rd_init(&r, p, n);
    return tidal__event_get(db, &r, &ev, tags, 4);
}

static void t_forget_decoders_refuse(void) {
    node n;
    uint32_t kinds[2] = {TIDAL__EV_USER_FORGET, TIDAL__EV_ITEM_DELETE}, k;
    node_init(&n, NULL);
    for (k = 0; k < 2; k++) {
        tidal__event ev;
        uint8_t buf[256], bad[256];
        size_t len, cut;
        const char *why;
        memset(&ev, 0, sizeof ev);
        ev.kind = kinds[k];
        ev.tenant = 3;
        ev.id.hi = 0x0001000000000007ull;
        ev.id.lo = 5;
        ev.hlc.wall_ns = T0;
        ev.time_ns = T0;
        ev.entity = big_id();
        len = (size_t)(tidal__event_put(buf, &ev) - buf);
        TT_CHECK(len <= tidal__event_size(&ev));
        TT_CHECK(decode(n.db, buf, len) == NULL);
        for (cut = 0; cut < len; cut++) { /* every truncation */
            why = decode(n.db, buf, cut);
            TT_CHECKF(why && (strstr(why, "truncated") || strstr(why, "unknown")), "cut %zu: %s",
                      cut, why ? why : "accepted");
        }
        memcpy(bad, buf, len); /* a key-derived id */
        bad[12] |= 0x80; /* the top bit of id.hi */
        why = decode(n.db, bad, len);
        TT_CHECKF(why && strstr(why, "key-derived"), "%s", why ? why : "accepted");
        memcpy(bad, buf, len); /* entity 0 */
        memset(bad + len - 8, 0, 8);
        why = decode(n.db, bad, len);
        TT_CHECKF(why && strstr(why, "zero entity"), "%s", why ? why : "accepted");
        memcpy(bad, buf, len); /* negative time */
        bad[44] |= 0x80; /* the top byte of the event time */
        why = decode(n.db, bad, len);
        TT_CHECKF(why && strstr(why, "negative time"), "%s", why ? why : "accepted");
        memcpy(bad, buf, len); /* the next kind number, unknown */
        bad[0] = (uint8_t)(TIDAL__EV_KIND_MAX + 1);
        why = decode(n.db, bad, len);
        TT_CHECKF(why && strstr(why, "unknown event kind"), "%s", why ? why : "accepted");
        /* import: trailing bytes are refused with the reason, and nothing is applied */
        memcpy(bad, buf, len);
        bad[len] = 0;
        TT_EQ_INT(tidal_event_import(n.db, bad, len + 1, NULL), TIDAL_ERR_CORRUPT);
        TT_CHECK(strstr(tidal_errmsg(n.db), "bytes after the event") != NULL);
        TT_EQ_INT(tidal_event_import(n.db, buf, len, NULL), TIDAL_OK); /* the good one */
        TT_CHECK(tidal__event_applied(n.db, ev.id));
    }
    node_free(&n);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_session_retry_after_end),
    TT_CASE(t_session_retry_after_expiry),
    TT_CASE(t_session_retry_after_window),
    TT_CASE(t_session_retry_replicated),
    TT_CASE(t_forget_user_reads),
    TT_CASE(t_delete_item_reads),
    TT_CASE(t_forget_leaves_no_file_holding_the_id),
    TT_CASE(t_forget_replay_equals_live),
    TT_CASE(t_forget_replicated_converges),
    TT_CASE(t_forget_availability_delete_again),
    TT_CASE(t_forget_decoders_refuse),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
