/* test_core.c - one node, in memory: decay, windows, attributes, hard negatives, sessions,
   RETRIEVE, digests, and bad input. White-box: it includes the implementation so it can
   deliver events in any order (as replication will) through tidal__apply. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "test_env.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S) /* a fixed "now" in 2026 */
#define ROUTE_PINNED 301 /* tidal_route(0, 1..4, 5) = 0 3 0 1, as digits */
static const tidal_tag no_tags[1] = {{"locale", "none"}}; /* passed with a count of 0 */

typedef struct fixture {
    tidal_env env;
    test_clock clock;
    tidal_signal_def sigs[3];
    const char *cohorts[2];
    tidal_profile_term terms[2];
    tidal_profile_def prof;
    tidal_config cfg;
    tidal_db *db;
} fixture;

/* Three types: view (1 h half-life, all windows), like (1 day, 24h + 30d windows) and a
   permanent "buy". Cohort keys locale and tier; profile "hot" = view + 5 * like. */
static void fx_open(fixture *f, uint64_t seed) {
    memset(f, 0, sizeof *f);
    test_env_make(&f->env, &f->clock, T0, seed);
    f->sigs[0].name = "view";
    f->sigs[0].half_life_s = 3600;
    f->sigs[1].name = "like";
    f->sigs[1].half_life_s = 86400;
    f->sigs[1].windows = TIDAL_WINDOW_24H | TIDAL_WINDOW_30D;
    f->sigs[2].name = "buy";
    f->sigs[2].permanent = 1;
    f->cohorts[0] = "locale";
    f->cohorts[1] = "tier";
    f->terms[0].signal = "view";
    f->terms[0].weight = 1.0;
    f->terms[1].signal = "like";
    f->terms[1].weight = 5.0;
    f->prof.name = "hot";
    f->prof.terms = f->terms;
    f->prof.term_count = 2;
    f->cfg.env = &f->env;
    f->cfg.schema.signals = f->sigs;
    f->cfg.schema.signal_count = 3;
    f->cfg.schema.cohort_keys = f->cohorts;
    f->cfg.schema.cohort_key_count = 2;
    f->cfg.schema.profiles = &f->prof;
    f->cfg.schema.profile_count = 1;
    f->cfg.retrieve_limit_max = 5000;
    TT_EQ_INT(tidal_db_open(&f->cfg, &f->db), TIDAL_OK);
}

static void digest(tidal_db *db, uint8_t out[32]) {
    TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, out), TIDAL_OK);
}

/* ---- events built by hand, delivered through the fold ---------------------------------- */

static tidal__event ev_signal(uint32_t tenant, tidal_id item, uint32_t type, double w,
                              int64_t t, tidal_id user, uint64_t id) {
    tidal__event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_SIGNAL;
    ev.tenant = tenant;
    ev.entity = item;
    ev.type = type;
    ev.weight = w;
    ev.time_ns = t;
    ev.other = user;
    ev.id.hi = UINT64_C(0x0001000000000007); /* a fixed origin */
    ev.id.lo = id;
    return ev;
}

static void deliver(tidal_db *db, const tidal__event *ev, int expect_dup) {
    int dup = -1;
    TT_EQ_INT(tidal__apply(db, ev, &dup), TIDAL_OK);
    if (expect_dup >= 0) TT_EQ_INT(dup, expect_dup);
}

static void shuffle(uint32_t *a, uint32_t n) {
    uint32_t i;
    for (i = n; i > 1; i--) {
        uint32_t j = (uint32_t)tt_below(i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ---- decay, windows, totals -------------------------------------------------------------- */

typedef struct model_ev {
    tidal_id item;
    uint32_t type;
    double w;
    int64_t t;
} model_ev;

static int64_t random_time(void) {
    uint64_t r = tt_below(100);
    if (r < 5) return T0 - (int64_t)tt_below((uint64_t)400 * 86400) * TIDAL_NS_PER_S; /* far past */
    if (r < 40) return T0 - (int64_t)tt_below(3600 * TIDAL_NS_PER_S);                /* last hour */
    if (r < 70) return T0 - (int64_t)tt_below(86400 * TIDAL_NS_PER_S);
    return T0 - (int64_t)tt_below((uint64_t)35 * 86400 * TIDAL_NS_PER_S);
}

static void check_item_model(tidal_db *db, const model_ev *evs, uint32_t n, tidal_id item,
                             uint32_t type, int64_t t) {
    static const int64_t bucket[4] = {60, 3600, 3600, 86400}, span[4] = {60, 24, 168, 30};
    tidal_signal_stats st;
    long double ref = 0, abs_sum = 0, wsum[5] = {0, 0, 0, 0, 0};
    uint64_t cnt[5] = {0, 0, 0, 0, 0}, pos = 0, neg = 0;
    const tidal__sigdef *d = &db->schema.sig[type];
    uint32_t i;
    int w;
    for (i = 0; i < n; i++) {
        long double c;
        if (evs[i].item != item || evs[i].type != type) continue;
        c = d->permanent ? (long double)evs[i].w
                         : (long double)evs[i].w *
                               powl(2.0L, -(long double)(t - evs[i].t) / ((long double)d->half_life_s * 1e9L));
        ref += c;
        abs_sum += fabsl(c);
        if (evs[i].w >= 0) pos++;
        else neg++;
        cnt[4]++;
        wsum[4] += evs[i].w;
        for (w = 0; w < 4; w++) {
            int64_t k = tidal__floor_div(evs[i].t, bucket[w] * TIDAL_NS_PER_S);
            int64_t kt = tidal__floor_div(t, bucket[w] * TIDAL_NS_PER_S);
            if (k > kt - span[w] && k <= kt) {
                cnt[w]++;
                wsum[w] += evs[i].w;
            }
        }
    }
    TT_EQ_INT(tidal_signal_read(db, 0, item, type, NULL, t, &st), TIDAL_OK);
    TT_CHECK(isfinite(st.score));
    TT_CHECKF(fabsl((long double)st.score - ref) <= 1e-9L * abs_sum + 1e-12L &&
                  fabsl((long double)st.score - ref) <= 1e-6L,
              "item %llu type %u: score %.17g vs analytic %.17Lg", (unsigned long long)item, type,
              st.score, ref);
    TT_EQ_INT(st.count_pos, pos);
    TT_EQ_INT(st.count_neg, neg);
    TT_EQ_INT(st.count[TIDAL_W_ALL], cnt[4]);
    TT_NEAR(st.weight[TIDAL_W_ALL], (double)wsum[4], 1e-6);
    for (w = 0; w < 4; w++) {
        static const uint32_t bits[4] = {TIDAL_WINDOW_1H, TIDAL_WINDOW_24H, TIDAL_WINDOW_7D,
                                         TIDAL_WINDOW_30D};
        int on = (d->windows & bits[w]) != 0;
        TT_EQ_INT(st.count[w], on ? cnt[w] : 0);
        TT_NEAR(st.weight[w], on ? (double)wsum[w] : 0.0, 1e-6);
        TT_CHECK(isfinite(st.velocity[w]));
    }
}

static void t_decay_orders_and_analytic(void) {
    long rounds = 6 * tt_scale(), r;
    for (r = 0; r < rounds && TT_OK(); r++) {
        uint32_t n = 1 + (uint32_t)tt_below(r == 0 ? 10000 : 3000), i, k, items = 1 + (uint32_t)tt_below(40);
        model_ev *evs = (model_ev *)malloc(sizeof *evs * n);
        uint32_t *order = (uint32_t *)malloc(sizeof *order * n);
        uint8_t dg[3][32];
        fixture f[3];
        for (i = 0; i < n; i++) {
            evs[i].item = 1 + tt_below(items);
            evs[i].type = (uint32_t)tt_below(3);
            evs[i].w = tt_below(4) == 0 ? -tt_unit() * 5 : tt_unit() * 10;
            if (tt_below(50) == 0) evs[i].w = 1e6 * (tt_unit() - 0.5); /* large magnitudes */
            evs[i].t = random_time();
            order[i] = i;
        }
        for (k = 0; k < 3; k++) {
            fx_open(&f[k], 1);
            shuffle(order, n);
            for (i = 0; i < n; i++) {
                const model_ev *m = &evs[order[i]];
                tidal__event ev = ev_signal(0, m->item, m->type, m->w, m->t, 0, order[i] + 1);
                deliver(f[k].db, &ev, 0);
            }
            digest(f[k].db, dg[k]);
        }
        TT_CHECK(!memcmp(dg[0], dg[1], 32) && !memcmp(dg[0], dg[2], 32));
        for (i = 1; i <= items && TT_OK(); i++)
            for (k = 0; k < 3; k++) {
                check_item_model(f[0].db, evs, n, i, k, T0);
                check_item_model(f[0].db, evs, n, i, k, T0 + 7200 * TIDAL_NS_PER_S);
            }
        for (k = 0; k < 3; k++) tidal_db_close(f[k].db);
        free(evs);
        free(order);
    }
}

/* Duplicates and replays change nothing: the same events twice give the same digest. */
static void t_decay_duplicates_are_noops(void) {
    fixture a, b;
    uint8_t da[32], db_[32];
    uint32_t i;
    fx_open(&a, 2);
    fx_open(&b, 2);
    for (i = 1; i <= 500; i++) {
        tidal__event ev = ev_signal(0, 1 + i % 7, i % 3, 1.0 + i % 5, random_time(), 0, i);
        deliver(a.db, &ev, 0);
        deliver(b.db, &ev, 0);
        deliver(b.db, &ev, 1);
    }
    for (i = 1; i <= 500; i += 3) { /* a replay of part of the log */
        tidal__event ev = ev_signal(0, 1 + i % 7, i % 3, 1.0 + i % 5, 0, 0, i);
        deliver(b.db, &ev, 1);
    }
    digest(a.db, da);
    digest(b.db, db_);
    TT_CHECK(!memcmp(da, db_, 32));
    TT_EQ_INT(b.db->stats.events_applied, 500);
    tidal_db_close(a.db);
    tidal_db_close(b.db);
}

/* Precision at the edges: a huge age gap, tiny and huge weights, exact cancellation. */
static void t_decay_edges(void) {
    fixture f;
    tidal_signal s;
    tidal_signal_stats st;
    fx_open(&f, 3);
    memset(&s, 0, sizeof s);
    s.item = 5;
    s.weight = 1.0;
    s.time_ns = T0;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    s.weight = -1.0;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 5, 0, NULL, T0, &st), TIDAL_OK);
    TT_NEAR(st.score, 0.0, 1e-15); /* exact cancellation: fixed point */
    TT_EQ_INT(st.count_pos, 1);
    TT_EQ_INT(st.count_neg, 1);
    TT_NEAR(st.weight_neg, -1.0, 0);
    s.weight = 1e-9;
    s.time_ns = T0 - (int64_t)200 * 86400 * TIDAL_NS_PER_S; /* 4800 half-lives ago */
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 5, 0, NULL, T0, &st), TIDAL_OK);
    TT_CHECK(isfinite(st.score) && fabs(st.score) < 1e-12);
    s.weight = 1e6;
    s.time_ns = T0;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 5, 0, NULL, T0 + 3600 * TIDAL_NS_PER_S, &st), TIDAL_OK);
    TT_NEAR(st.score, 5e5, 5e5 * 1e-12);
    /* Reading far in the future decays to zero without underflow trouble. */
    TT_EQ_INT(tidal_signal_read(f.db, 0, 5, 0, NULL, T0 + (int64_t)3650 * 86400 * TIDAL_NS_PER_S, &st), TIDAL_OK);
    TT_CHECK(st.score == 0.0 || fabs(st.score) < 1e-300);
    tidal_db_close(f.db);
}

/* ---- attributes -------------------------------------------------------------------------- */

static void t_attr_lww(void) {
    fixture a, b;
    char buf[64];
    uint8_t da[32], db_[32];
    tidal__event e1, e2, e3;
    fx_open(&a, 4);
    fx_open(&b, 4);
    TT_EQ_INT(tidal_attr_set(a.db, 0, 9, "color", "red", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_get(a.db, 0, 9, "color", buf, sizeof buf), TIDAL_OK);
    TT_CHECK(!strcmp(buf, "red"));
    TT_EQ_INT(tidal_attr_set(a.db, 0, 9, "color", "blue", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_get(a.db, 0, 9, "color", buf, sizeof buf), TIDAL_OK);
    TT_CHECK(!strcmp(buf, "blue"));
    TT_EQ_INT(tidal_attr_set(a.db, 0, 9, "color", NULL, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_get(a.db, 0, 9, "color", buf, sizeof buf), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_attr_set(a.db, 0, 9, "color", "green", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_get(a.db, 0, 9, "color", buf, 3), TIDAL_ERR_LIMIT);
    tidal_db_close(a.db);
    /* Concurrent writes from two nodes, applied in both orders: the higher HLC wins. */
    fx_open(&a, 4);
    memset(&e1, 0, sizeof e1);
    e1.kind = TIDAL__EV_ATTR;
    e1.entity = 3;
    e1.key = "tier";
    e1.key_len = 4;
    e1.value = "gold";
    e1.value_len = 4;
    e1.hlc.wall_ns = T0;
    e1.hlc.node = 1;
    e1.id.hi = 1;
    e1.id.lo = 1;
    e2 = e1;
    e2.value = "free";
    e2.hlc.node = 2; /* same wall and logical: the node breaks the tie */
    e2.id.hi = 2;
    e3 = e1;
    e3.value = NULL; /* an older tombstone loses */
    e3.value_len = 0;
    e3.hlc.wall_ns = T0 - 1;
    e3.id.hi = 3;
    deliver(a.db, &e1, 0);
    deliver(a.db, &e2, 0);
    deliver(a.db, &e3, 0);
    deliver(b.db, &e3, 0);
    deliver(b.db, &e2, 0);
    deliver(b.db, &e1, 0);
    TT_EQ_INT(tidal_attr_get(a.db, 0, 3, "tier", buf, sizeof buf), TIDAL_OK);
    TT_CHECK(!strcmp(buf, "free"));
    digest(a.db, da);
    digest(b.db, db_);
    TT_CHECK(!memcmp(da, db_, 32));
    tidal_db_close(a.db);
    tidal_db_close(b.db);
}

/* HLC stamps stay strictly increasing when the wall clock jumps back. */
static void t_hlc_monotone(void) {
    fixture f;
    tidal_hlc prev, h;
    int i;
    fx_open(&f, 5);
    prev = tidal__hlc_now(f.db);
    for (i = 0; i < 1000; i++) {
        f.clock.now_ns += (int64_t)tt_below(2000) - 1000; /* jitter, half of it backwards */
        h = tidal__hlc_now(f.db);
        TT_CHECK(tidal__hlc_cmp(h, prev) > 0);
        prev = h;
    }
    tidal_db_close(f.db);
}

/* ---- hard negatives ------------------------------------------------------------------------ */

static tidal__event ev_neg(int add, tidal_id user, uint32_t kind, tidal_id target, uint64_t origin,
                           uint64_t seq, const tidal_event_id *tags, uint32_t n_tags) {
    tidal__event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = add ? TIDAL__EV_NEG_ADD : TIDAL__EV_NEG_REMOVE;
    ev.entity = user;
    ev.other = target;
    ev.type = kind;
    ev.id.hi = origin;
    ev.id.lo = seq;
    ev.tags = tags;
    ev.n_tags = n_tags;
    ev.time_ns = T0;
    return ev;
}

static int hidden(tidal_db *db, tidal_id user, tidal_id item) {
    int s = -1;
    TT_EQ_INT(tidal_negative_check(db, 0, user, item, &s), TIDAL_OK);
    return s;
}

/* The seeds' scenario: a hide in A and an older unhide in B (that never saw it) leaves the
   item hidden in both; an unhide issued after the hide was seen clears it everywhere. */
static void t_neg_hide_wins(void) {
    fixture a, b;
    tidal_event_id h1;
    tidal__event hide0, unhide_b, hide_a, unhide_a;
    uint8_t da[32], db_[32];
    fx_open(&a, 6);
    fx_open(&b, 6);
    h1.hi = 10;
    h1.lo = 1;
    hide0 = ev_neg(1, 42, TIDAL_HIDE, 7, 10, 1, NULL, 0);
    deliver(a.db, &hide0, 0);
    deliver(b.db, &hide0, 0);
    /* B unhides having observed h1; concurrently A hides again (tag 10:2). */
    unhide_b = ev_neg(0, 42, TIDAL_HIDE, 7, 20, 1, &h1, 1);
    hide_a = ev_neg(1, 42, TIDAL_HIDE, 7, 10, 2, NULL, 0);
    deliver(b.db, &unhide_b, 0);
    TT_EQ_INT(hidden(b.db, 42, 7), 0);
    deliver(a.db, &hide_a, 0);
    deliver(a.db, &unhide_b, 0);
    deliver(b.db, &hide_a, 0);
    TT_EQ_INT(hidden(a.db, 42, 7), 1); /* hide wins */
    TT_EQ_INT(hidden(b.db, 42, 7), 1);
    digest(a.db, da);
    digest(b.db, db_);
    TT_CHECK(!memcmp(da, db_, 32));
    /* Now A's local unhide observes every live tag: cleared. */
    TT_EQ_INT(tidal_negative_remove(a.db, 0, 42, TIDAL_HIDE, 7, NULL), TIDAL_OK);
    TT_EQ_INT(hidden(a.db, 42, 7), 0);
    {
        tidal_event_id tag;
        tag.hi = 10;
        tag.lo = 2;
        unhide_a = ev_neg(0, 42, TIDAL_HIDE, 7, 30, 1, &tag, 1);
        deliver(b.db, &unhide_a, 0);
        TT_EQ_INT(hidden(b.db, 42, 7), 0);
    }
    /* A remove that arrives before its add cancels the add whenever it arrives. */
    {
        tidal_event_id tag;
        tidal__event early_remove, late_add;
        tag.hi = 40;
        tag.lo = 1;
        early_remove = ev_neg(0, 42, TIDAL_MUTE, 900, 41, 1, &tag, 1);
        late_add = ev_neg(1, 42, TIDAL_MUTE, 900, 40, 1, NULL, 0);
        deliver(b.db, &early_remove, 0);
        deliver(b.db, &late_add, 0);
        deliver(a.db, &late_add, 0);
        deliver(a.db, &early_remove, 0);
        TT_CHECK(!tidal__neg_live(tidal__ent_find(b.db, 0, 42)->user, TIDAL_MUTE, 900));
        digest(a.db, da);
        digest(b.db, db_);
        TT_CHECK(!memcmp(da, db_, 32));
    }
    tidal_db_close(a.db);
    tidal_db_close(b.db);
}

/* Random hides/mutes/blocks/inverses interleaved with signals: RETRIEVE FOR USER never
   returns a suppressed item, and returns every unsuppressed one it should. */
static void t_neg_retrieve_never_leaks(void) {
    long rounds = 20 * tt_scale(), r;
    for (r = 0; r < rounds && TT_OK(); r++) {
        fixture f;
        uint32_t step;
        fx_open(&f, 7 + (uint64_t)r);
        for (step = 0; step < 400 && TT_OK(); step++) {
            tidal_id user = 100 + tt_below(3), item = 1 + tt_below(30), creator = 500 + tt_below(4);
            uint64_t op = tt_below(10);
            if (op < 4) {
                tidal_signal s;
                memset(&s, 0, sizeof s);
                s.item = item;
                s.weight = 1 + tt_below(3);
                s.time_ns = T0 - (int64_t)tt_below(3600) * TIDAL_NS_PER_S;
                TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
                if (tt_below(2)) {
                    char v[24];
                    snprintf(v, sizeof v, "%llu", (unsigned long long)creator);
                    TT_EQ_INT(tidal_attr_set(f.db, 0, item, "creator", v, NULL), TIDAL_OK);
                }
            } else if (op < 6) {
                TT_EQ_INT(tidal_negative_add(f.db, 0, user, TIDAL_HIDE, item, NULL), TIDAL_OK);
            } else if (op < 7) {
                TT_EQ_INT(tidal_negative_add(f.db, 0, user, tt_below(2) ? TIDAL_MUTE : TIDAL_BLOCK, creator, NULL), TIDAL_OK);
            } else if (op < 8) {
                TT_EQ_INT(tidal_negative_remove(f.db, 0, user, TIDAL_HIDE, item, NULL), TIDAL_OK);
            } else if (op < 9) {
                TT_EQ_INT(tidal_negative_remove(f.db, 0, user, tt_below(2) ? TIDAL_MUTE : TIDAL_BLOCK, creator, NULL), TIDAL_OK);
            } else {
                tidal_query q;
                tidal_hit hits[64];
                uint32_t n, i, expect = 0;
                tidal_id it;
                memset(&q, 0, sizeof q);
                q.for_user = user;
                q.limit = 64;
                q.time_ns = T0;
                TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 64, &n, NULL), TIDAL_OK);
                for (i = 0; i < n; i++) TT_CHECKF(!hidden(f.db, user, hits[i].item), "suppressed item %llu returned", (unsigned long long)hits[i].item);
                for (it = 1; it <= 30; it++) {
                    const tidal__entity *e = tidal__ent_find(f.db, 0, it);
                    if (e && e->sigs && e->sigs[0] && !hidden(f.db, user, it)) expect++;
                }
                TT_EQ_INT(n, expect);
            }
        }
        tidal_db_close(f.db);
    }
}

/* ---- sessions --------------------------------------------------------------------------------- */

static tidal__event ev_session_signal(tidal_id session, uint64_t seq, tidal_id item) {
    tidal__event ev = ev_signal(0, item, 0, 1.0, T0 - (int64_t)seq * TIDAL_NS_PER_S, 77, 0);
    ev.session = session;
    ev.seq = seq;
    ev.id = tidal__session_id(0, session, seq);
    return ev;
}

/* The seeds' high-water-mark scenario, then random duplicated and reordered deliveries. */
static void t_session_exactly_once(void) {
    fixture a, b;
    tidal_session_info info;
    tidal_signal_stats st;
    uint8_t da[32], db_[32];
    uint64_t seq;
    tidal_id sid = 0;
    uint32_t order[400], i;
    fx_open(&a, 8);
    TT_EQ_INT(tidal_session_start(a.db, 0, 77, 0, &sid), TIDAL_OK);
    for (seq = 1; seq <= 5; seq++) {
        tidal__event ev = ev_session_signal(sid, seq, 1);
        deliver(a.db, &ev, 0);
    }
    {
        tidal__event again = ev_session_signal(sid, 3, 1), six = ev_session_signal(sid, 6, 1);
        deliver(a.db, &again, 1);
        deliver(a.db, &six, 0);
    }
    TT_EQ_INT(tidal_session_get(a.db, 0, sid, &info), TIDAL_OK);
    TT_EQ_INT(info.hwm, 6);
    TT_EQ_INT(info.entries, 6);
    TT_EQ_INT(tidal_signal_read(a.db, 0, 1, 0, NULL, T0, &st), TIDAL_OK);
    TT_EQ_INT(st.count[TIDAL_W_ALL], 6);
    tidal_db_close(a.db);

    /* 200 writes, each delivered twice, in random order, with a gap left open. */
    fx_open(&a, 9);
    fx_open(&b, 9);
    sid = 4242;
    TT_EQ_INT(tidal_session_open(a.db, 0, sid, 77, T0, 0), TIDAL_OK);
    TT_EQ_INT(tidal_session_open(b.db, 0, sid, 77, T0, 0), TIDAL_OK);
    for (i = 0; i < 400; i++) order[i] = i % 200;
    shuffle(order, 400);
    for (i = 0; i < 400; i++) {
        tidal__event ev = ev_session_signal(sid, order[i] + 1, 1 + order[i] % 9);
        if (order[i] + 1 == 150) continue; /* never delivered */
        deliver(a.db, &ev, -1);
    }
    for (i = 0; i < 200; i++) {
        tidal__event ev = ev_session_signal(sid, i + 1, 1 + i % 9);
        if (i + 1 == 150) continue;
        deliver(b.db, &ev, 0);
    }
    TT_EQ_INT(tidal_session_get(a.db, 0, sid, &info), TIDAL_OK);
    TT_EQ_INT(info.hwm, 149);
    TT_EQ_INT(info.entries, 199);
    TT_EQ_INT(a.db->stats.events_applied, 200); /* 199 writes + the start */
    digest(a.db, da);
    digest(b.db, db_);
    TT_CHECK(!memcmp(da, db_, 32));
    {
        tidal__event gap = ev_session_signal(sid, 150, 1 + 149 % 9);
        deliver(a.db, &gap, 0);
        TT_EQ_INT(tidal_session_get(a.db, 0, sid, &info), TIDAL_OK);
        TT_EQ_INT(info.hwm, 200);
    }
    tidal_db_close(a.db);
    tidal_db_close(b.db);
}

static void t_session_api(void) {
    fixture f;
    tidal_id sid = 0;
    tidal_signal s;
    tidal_session_entry ent[8];
    tidal_session_info info;
    uint32_t n;
    tidal_receipt rc;
    fx_open(&f, 10);
    TT_EQ_INT(tidal_session_start(f.db, 0, 55, 30 * TIDAL_NS_PER_S, &sid), TIDAL_OK);
    TT_CHECK(sid != 0);
    memset(&s, 0, sizeof s);
    s.item = 3;
    s.weight = 2.0;
    /* A keyed write carries what a node would fill in: time, and cohort tags (none here). */
    TT_EQ_INT(tidal_session_signal(f.db, sid, 0, &s, &rc), TIDAL_ERR_INVALID);
    s.time_ns = T0;
    TT_EQ_INT(tidal_session_signal(f.db, sid, 0, &s, &rc), TIDAL_ERR_INVALID);
    s.cohort = no_tags;
    s.cohort_count = 0;
    TT_EQ_INT(tidal_session_signal(f.db, sid, 0, &s, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(tidal_session_signal(f.db, sid, 1, &s, &rc), TIDAL_OK); /* a retry of seq 1 */
    TT_EQ_INT(rc.duplicate, 1);
    TT_EQ_INT(tidal_session_note(f.db, 0, sid, 0, "asked for jazz", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_session_entries(f.db, 0, sid, 0, ent, 8, &n), TIDAL_OK);
    TT_EQ_INT(n, 2);
    TT_EQ_INT(ent[0].seq, 1);
    TT_EQ_INT(ent[0].kind, TIDAL_SESSION_SIGNAL);
    TT_EQ_INT(ent[0].item, 3);
    TT_EQ_INT(ent[1].kind, TIDAL_SESSION_NOTE);
    TT_CHECK(ent[1].note && !strcmp(ent[1].note, "asked for jazz"));
    /* The session's signals are ordinary signals of the session's user. */
    TT_CHECK(tidal__set_has(&tidal__ent_find(f.db, 0, 55)->user->seen, 3));
    /* TTL: the tick after the deadline writes an expiry event; writes then fail. */
    TT_EQ_INT(tidal_db_tick(f.db, T0 + 10 * TIDAL_NS_PER_S), TIDAL_OK);
    TT_EQ_INT(tidal_session_get(f.db, 0, sid, &info), TIDAL_OK);
    TT_EQ_INT(info.ended, 0);
    TT_EQ_INT(tidal_db_tick(f.db, T0 + 31 * TIDAL_NS_PER_S), TIDAL_OK);
    TT_EQ_INT(tidal_session_get(f.db, 0, sid, &info), TIDAL_OK);
    TT_EQ_INT(info.ended, 2);
    TT_EQ_INT(tidal_session_signal(f.db, sid, 0, &s, NULL), TIDAL_ERR_SESSION_ENDED);
    TT_EQ_INT(tidal_session_end(f.db, 0, sid), TIDAL_ERR_SESSION_ENDED);
    TT_EQ_INT(tidal_session_signal(f.db, 999, 0, &s, NULL), TIDAL_ERR_NOT_FOUND);
    tidal_db_close(f.db);
}

/* ---- idempotency ------------------------------------------------------------------------------ */

static void t_idempotent_retries(void) {
    fixture a, b;
    tidal_signal s;
    tidal_receipt r1, r2;
    tidal_signal_stats st;
    fx_open(&a, 11);
    fx_open(&b, 12); /* a different node: same key gives the same event id */
    memset(&s, 0, sizeof s);
    s.item = 8;
    s.weight = 1;
    s.idem.key = "client-7";
    s.idem.key_len = 8;
    s.idem.seq = 1;
    TT_EQ_INT(tidal_signal_write(a.db, &s, &r1), TIDAL_ERR_INVALID); /* no event time */
    s.time_ns = T0;
    s.user = 3;
    TT_EQ_INT(tidal_signal_write(a.db, &s, &r1), TIDAL_ERR_INVALID); /* a user, no cohort tags */
    s.user = 0;
    TT_EQ_INT(tidal_signal_write(a.db, &s, &r1), TIDAL_OK);
    TT_EQ_INT(tidal_signal_write(a.db, &s, &r2), TIDAL_OK);
    TT_EQ_INT(r2.duplicate, 1);
    TT_CHECK(tidal__id_cmp(r1.id, r2.id) == 0);
    TT_EQ_INT(tidal_signal_write(b.db, &s, &r2), TIDAL_OK);
    TT_CHECK(tidal__id_cmp(r1.id, r2.id) == 0);
    s.idem.seq = 2;
    TT_EQ_INT(tidal_signal_write(a.db, &s, &r2), TIDAL_OK);
    TT_EQ_INT(r2.duplicate, 0);
    TT_EQ_INT(tidal_signal_read(a.db, 0, 8, 0, NULL, T0, &st), TIDAL_OK);
    TT_EQ_INT(st.count[TIDAL_W_ALL], 2);
    /* Past the window (24 h of event time) the key is forgotten. */
    a.clock.now_ns += 2 * TIDAL__DAY_NS;
    s.idem.seq = 3;
    s.time_ns = a.clock.now_ns;
    TT_EQ_INT(tidal_signal_write(a.db, &s, &r2), TIDAL_OK);
    TT_EQ_INT(a.db->st.n_idem, 1);
    tidal_db_close(a.db);
    tidal_db_close(b.db);
}

/* ---- RETRIEVE against a brute-force model --------------------------------------------------- */

typedef struct rmodel {
    uint32_t n_items;
    uint8_t seen[4][4000]; /* user 1..3 signalled item */
} rmodel;

static const char *const formats[3] = {"video", "text", "image"};
static const char *const locales[3] = {"EU", "US", "APAC"};

static void brute_force(fixture *f, const rmodel *m, const tidal_query *q, tidal_hit *out,
                        uint32_t *n) {
    uint32_t i, k, cnt = 0;
    tidal_tag cohort;
    cohort.key = q->cohort_key;
    cohort.value = q->cohort_value;
    for (i = 1; i <= m->n_items; i++) {
        double score = 0;
        int any = 0, ok = 1;
        uint32_t types[2], nt = 0;
        double wts[2];
        if (q->rank_kind == TIDAL_QUERY_SIGNAL) {
            types[nt] = q->rank_index;
            wts[nt++] = 1.0;
        } else {
            types[nt] = 0;
            wts[nt++] = 1.0;
            types[nt] = 1;
            wts[nt++] = 5.0;
        }
        for (k = 0; k < nt; k++) {
            tidal_signal_stats st;
            TT_EQ_INT(tidal_signal_read(f->db, q->tenant, i, types[k], q->cohort_key ? &cohort : NULL, q->time_ns, &st), TIDAL_OK);
            if (st.count[TIDAL_W_ALL] == 0) continue;
            any = 1;
            score += wts[k] * st.score;
        }
        if (!any) continue;
        for (k = 0; k < q->where_count; k++) {
            char buf[300];
            if (tidal_attr_get(f->db, q->tenant, i, q->where[k].key, buf, sizeof buf) != TIDAL_OK ||
                strcmp(buf, q->where[k].value))
                ok = 0;
        }
        if (ok && q->for_user) {
            int sup = 0;
            TT_EQ_INT(tidal_negative_check(f->db, q->tenant, q->for_user, i, &sup), TIDAL_OK);
            if (sup) ok = 0;
            if (q->exclude_seen && m->seen[q->for_user][i]) ok = 0;
        }
        if (!ok) continue;
        out[cnt].item = i;
        out[cnt++].score = score;
    }
    qsort(out, cnt, sizeof *out, tidal__hit_cmp);
    *n = cnt < (q->limit ? q->limit : 20) ? cnt : (q->limit ? q->limit : 20);
}

static void random_write(fixture *f, rmodel *m) {
    uint64_t op = tt_below(20);
    tidal_id item = 1 + tt_below(m->n_items);
    if (op < 14) {
        tidal_signal s;
        memset(&s, 0, sizeof s);
        s.item = item;
        s.type = (uint32_t)tt_below(3);
        s.weight = tt_below(8) == 0 ? -(double)(1 + tt_below(4)) : (double)(1 + tt_below(4));
        s.time_ns = T0 - (int64_t)tt_below(8) * 900 * TIDAL_NS_PER_S;
        s.user = tt_below(3) ? 1 + tt_below(3) : 0;
        if (s.user) m->seen[s.user][item] = 1;
        TT_EQ_INT(tidal_signal_write(f->db, &s, NULL), TIDAL_OK);
    } else if (op < 16) {
        TT_EQ_INT(tidal_attr_set(f->db, 0, item, "format", formats[tt_below(3)], NULL), TIDAL_OK);
    } else if (op < 17) {
        char v[24];
        snprintf(v, sizeof v, "%llu", (unsigned long long)(900 + tt_below(5)));
        TT_EQ_INT(tidal_attr_set(f->db, 0, item, "creator", v, NULL), TIDAL_OK);
    } else if (op < 18) {
        TT_EQ_INT(tidal_attr_set(f->db, 0, 1 + tt_below(3), "locale", locales[tt_below(3)], NULL), TIDAL_OK);
    } else if (op < 19) {
        TT_EQ_INT(tidal_negative_add(f->db, 0, 1 + tt_below(3), tt_below(3) ? TIDAL_HIDE : TIDAL_MUTE,
                                     tt_below(3) ? item : 900 + tt_below(5), NULL), TIDAL_OK);
    } else {
        TT_EQ_INT(tidal_negative_remove(f->db, 0, 1 + tt_below(3), TIDAL_HIDE, item, NULL), TIDAL_OK);
    }
}

static void random_query(tidal_query *q, tidal_tag *where) {
    memset(q, 0, sizeof *q);
    q->time_ns = T0 + (int64_t)tt_below(3) * 1800 * TIDAL_NS_PER_S;
    q->limit = tt_below(4) == 0 ? 1 + (uint32_t)tt_below(3) : 1 + (uint32_t)tt_below(100);
    if (tt_below(5) == 0) q->rank_kind = TIDAL_QUERY_PROFILE;
    else q->rank_index = (uint32_t)tt_below(3);
    if (tt_below(3) == 0) {
        q->cohort_key = "locale";
        q->cohort_value = locales[tt_below(3)];
    }
    if (tt_below(3) == 0) {
        where[0].key = "format";
        where[0].value = formats[tt_below(3)];
        q->where = where;
        q->where_count = 1;
    }
    if (tt_below(2)) {
        q->for_user = 1 + tt_below(3);
        q->exclude_seen = tt_below(3) == 0;
    }
}

static void t_retrieve_matches_model(void) {
    long rounds = 4 * tt_scale(), r;
    static tidal_hit got[5000], want[5000];
    for (r = 0; r < rounds && TT_OK(); r++) {
        fixture f;
        rmodel *m = (rmodel *)calloc(1, sizeof *m);
        uint32_t step, index_used = 0, queries = 0;
        m->n_items = r % 2 ? 3000 : 60; /* many items exercise eviction and the threshold */
        fx_open(&f, 20 + (uint64_t)r);
        for (step = 0; step < (m->n_items > 100 ? 30000u : 3000u) && TT_OK(); step++) {
            tidal_query q;
            tidal_tag where[1];
            tidal_query_stats st;
            uint32_t n = 0, nw = 0, i;
            random_write(&f, m);
            if (tt_below(m->n_items > 100 ? 300 : 30)) continue;
            random_query(&q, where);
            TT_EQ_INT(tidal_retrieve(f.db, &q, got, 5000, &n, &st), TIDAL_OK);
            brute_force(&f, m, &q, want, &nw);
            queries++;
            index_used += (uint32_t)st.used_index;
            TT_EQ_INT(n, nw);
            for (i = 0; i < n && i < nw && TT_OK(); i++) {
                TT_CHECKF(got[i].item == want[i].item, "step %u rank %u: item %llu, model %llu (scores %.17g / %.17g)",
                          step, i, (unsigned long long)got[i].item, (unsigned long long)want[i].item,
                          got[i].score, want[i].score);
                TT_NEAR(got[i].score, want[i].score, 1e-12 * (1 + fabs(want[i].score)));
            }
        }
        printf("  round %ld: %u items, %u queries, %u from the index\n", r, m->n_items, queries, index_used);
        TT_CHECK(index_used > 0);
        tidal_db_close(f.db);
        free(m);
    }
}

static void t_retrieve_text(void) {
    fixture f;
    tidal_hit hits[10];
    uint32_t n = 99;
    tidal_signal s;
    fx_open(&f, 30);
    memset(&s, 0, sizeof s);
    s.item = 1;
    s.weight = 1;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_retrieve_text(f.db, "RETRIEVE items SIGNAL view LIMIT 10", hits, 10, &n, NULL), TIDAL_OK);
    TT_EQ_INT(n, 1);
    TT_EQ_INT(hits[0].item, 1);
    TT_EQ_INT(tidal_retrieve_text(f.db, "RETRIEVE items PROFILE hot LIMIT 10", hits, 10, &n, NULL), TIDAL_OK);
    TT_EQ_INT(n, 1);
    TT_EQ_INT(tidal_retrieve_text(f.db, "RETRIEVE items SIGNAL nope", hits, 10, &n, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_retrieve_text(f.db, "RETRIEVE items SIGNAL view LIMIT 11", hits, 10, &n, NULL), TIDAL_ERR_LIMIT);
    TT_EQ_INT(tidal_retrieve_text(f.db, "RETRIEVE items SIGNAL view COHORT nokey:x LIMIT 10", hits, 10, &n, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_retrieve_text(f.db, "RETRIEVE items SIGNAL", hits, 10, &n, NULL), TIDAL_ERR_PARSE);
    TT_CHECK(strstr(tidal_errmsg(f.db), "at 21") != NULL);
    tidal_db_close(f.db);
}

/* ---- schema, config and bad input --------------------------------------------------------- */

static void t_schema_rejects(void) {
    fixture f;
    tidal_db *db = (tidal_db *)1;
    tidal_signal_def bad;
    const char *dup_keys[2] = {"a", "a"};
    int i;
    fx_open(&f, 31);
    tidal_db_close(f.db);
    for (i = 0; i < 12; i++) {
        tidal_config c = f.cfg;
        tidal_signal_def sigs[3];
        tidal_profile_term term;
        tidal_profile_def prof;
        tidal_result expect = TIDAL_ERR_SCHEMA;
        memcpy(sigs, f.sigs, sizeof sigs);
        c.schema.signals = sigs;
        bad = sigs[0];
        switch (i) {
        case 0: c.schema.signal_count = 0; break;
        case 1: sigs[0].name = "bad name"; break;
        case 2: sigs[1].name = "view"; break;
        case 3: sigs[0].half_life_s = 0; break;
        case 4: sigs[0].half_life_s = NAN; break;
        case 5: sigs[2].half_life_s = 10; break; /* permanent with a half-life */
        case 6: sigs[0].windows = 64; break;
        case 7: c.schema.cohort_keys = dup_keys; break;
        case 8:
            term.signal = "nope";
            term.weight = 1;
            prof.name = "p";
            prof.terms = &term;
            prof.term_count = 1;
            c.schema.profiles = &prof;
            break;
        case 9: c.schema.signal_count = TIDAL_SIGNAL_TYPES_MAX + 1; break;
        case 10: c.retrieve_limit_max = TIDAL_LIMIT_MAX + 1; expect = TIDAL_ERR_INVALID; break;
        case 11: c.future_bound_ns = -1; expect = TIDAL_ERR_INVALID; break;
        }
        (void)bad;
        db = (tidal_db *)1;
        TT_EQ_INT(tidal_db_open(&c, &db), expect);
        TT_CHECK(db == NULL);
    }
    TT_EQ_INT(tidal_db_open(NULL, &db), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_db_open(&f.cfg, NULL), TIDAL_ERR_INVALID);
}

/* Every entry point, every kind of bad argument: the documented error and no change. */
static void t_bad_input_changes_nothing(void) {
    fixture f;
    uint8_t before[32], after[32];
    tidal_signal s, good;
    tidal_tag tags[3];
    tidal_query q;
    tidal_hit hits[4];
    tidal_signal_stats st;
    tidal_session_info info;
    uint32_t n;
    char big[400];
    tidal_id sid = 0;
    int i;
    fx_open(&f, 32);
    memset(&good, 0, sizeof good);
    good.item = 1;
    good.weight = 1;
    TT_EQ_INT(tidal_signal_write(f.db, &good, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(f.db, 0, 5, 0, &sid), TIDAL_OK);
    digest(f.db, before);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (i = 0; i < 14; i++) {
        tidal_result expect = TIDAL_ERR_INVALID;
        s = good;
        switch (i) {
        case 0: s.item = 0; break;
        case 1: s.type = 3; break;
        case 2: s.weight = NAN; break;
        case 3: s.weight = INFINITY; break;
        case 4: s.weight = 2e6; break;
        case 5: s.time_ns = -5; break;
        case 6: s.time_ns = T0 + 61 * TIDAL_NS_PER_S; expect = TIDAL_ERR_FUTURE; break;
        case 7: s.cohort = tags; s.cohort_count = 1; tags[0].key = "nokey"; tags[0].value = "x"; break;
        case 8: s.cohort = tags; s.cohort_count = 1; tags[0].key = "locale"; tags[0].value = big; break;
        case 9: s.cohort = tags; s.cohort_count = 2; tags[0].key = "locale"; tags[0].value = "a"; tags[1] = tags[0]; break;
        case 10: s.cohort = tags; s.cohort_count = 1; tags[0].key = NULL; tags[0].value = "a"; break;
        case 11: s.idem.key = "k"; s.idem.key_len = 0; break;
        case 12: s.idem.key = NULL; s.idem.key_len = 3; break;
        case 13: s.cohort = NULL; s.cohort_count = 1; break;
        }
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), expect);
        TT_CHECK(tidal_errmsg(f.db)[0] != 0);
    }
    TT_EQ_INT(tidal_signal_write(f.db, NULL, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_signal_write(NULL, &good, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_attr_set(f.db, 0, 0, "k", "v", NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_attr_set(f.db, 0, 1, NULL, "v", NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_attr_set(f.db, 0, 1, "bad key", "v", NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_attr_set(f.db, 0, 1, big, "v", NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_attr_set(f.db, 0, 1, "k", big, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_negative_add(f.db, 0, 0, TIDAL_HIDE, 1, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_negative_add(f.db, 0, 1, TIDAL_HIDE, 0, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_negative_add(f.db, 0, 1, (tidal_negative)9, 1, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_negative_remove(f.db, 0, 1, TIDAL_NEG_DEFAULT_, 1, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_start(f.db, 0, 0, 0, &sid), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_start(f.db, 0, 5, -1, &sid), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_open(f.db, 0, 0, 5, T0, 0), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_open(f.db, 0, 9, 5, 0, 0), TIDAL_ERR_INVALID); /* no start time */
    TT_EQ_INT(tidal_session_signal(f.db, 0, 0, &good, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_signal(f.db, 12345, 0, &good, NULL), TIDAL_ERR_NOT_FOUND);
    s = good;
    s.weight = NAN;
    TT_EQ_INT(tidal_session_signal(f.db, sid, 0, &s, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_note(f.db, 0, sid, 0, NULL, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_session_note(f.db, 1, sid, 0, "wrong tenant", NULL), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_session_end(f.db, 1, sid), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_session_get(f.db, 0, 0, &info), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 0, 0, NULL, 0, &st), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 7, NULL, 0, &st), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_db_tick(f.db, -1), TIDAL_ERR_INVALID);
    memset(&q, 0, sizeof q);
    q.rank_index = 9;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    q.rank_index = 0;
    q.rank_kind = 7;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    q.rank_kind = 0;
    q.limit = 5;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_LIMIT);
    q.limit = 6000;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_LIMIT);
    q.limit = 4;
    q.cohort_key = "locale";
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    q.cohort_key = NULL;
    q.where_count = 1;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    q.where_count = 0;
    q.exclude_seen = 1;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_retrieve(f.db, NULL, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    /* Another tenant sees nothing of tenant 0. */
    q.exclude_seen = 0;
    q.tenant = 1;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_OK);
    TT_EQ_INT(n, 0);
    TT_EQ_INT(tidal_db_digest(f.db, UINT64_C(1) << 40, after), TIDAL_ERR_INVALID);
    digest(f.db, after);
    TT_CHECK(!memcmp(before, after, 32));
    TT_EQ_INT(tidal_db_digest(f.db, 1, after), TIDAL_OK); /* empty tenant: a digest, not 0 */
    tidal_db_close(f.db);
    TT_CHECK(!strcmp(tidal_strerror(TIDAL_ERR_FUTURE), "event time too far in the future"));
    TT_CHECK(!strcmp(tidal_strerror((tidal_result)-999), "unknown result"));
}

/* The runtime allocator sees every byte, and a failing one yields NOMEM, never a crash. */
typedef struct count_alloc {
    long live, calls, fail_at;
} count_alloc;
static void *ca_alloc(void *u, size_t n) {
    count_alloc *c = (count_alloc *)u;
    if (++c->calls == c->fail_at) return NULL;
    c->live += (long)n;
    return malloc(n);
}
static void *ca_realloc(void *u, void *p, size_t o, size_t n) {
    count_alloc *c = (count_alloc *)u;
    void *q;
    if (++c->calls == c->fail_at) return NULL;
    q = realloc(p, n);
    if (q) c->live += (long)n - (long)o;
    return q;
}
static void ca_free(void *u, void *p, size_t n) {
    ((count_alloc *)u)->live -= (long)n;
    free(p);
}

static void t_allocator_accounting_and_failure(void) {
    long fail_at;
    for (fail_at = 0; fail_at < 400 && TT_OK(); fail_at += (fail_at < 60 ? 1 : 7)) {
        fixture f;
        count_alloc ca;
        tidal_allocator a;
        int i, nomem = 0;
        memset(&ca, 0, sizeof ca);
        ca.fail_at = fail_at;
        a.user = &ca;
        a.alloc = ca_alloc;
        a.realloc = ca_realloc;
        a.free = ca_free;
        fx_open(&f, 33);
        tidal_db_close(f.db);
        f.cfg.allocator = &a;
        f.db = NULL;
        if (tidal_db_open(&f.cfg, &f.db) != TIDAL_OK) {
            TT_CHECK(f.db == NULL);
            TT_EQ_INT(ca.live, 0);
            continue;
        }
        for (i = 0; i < 60; i++) {
            tidal_signal s;
            tidal_tag tag;
            tidal_result r;
            memset(&s, 0, sizeof s);
            s.item = 1 + (uint64_t)i % 13;
            s.weight = 1;
            s.user = 7;
            tag.key = "locale";
            tag.value = i % 2 ? "EU" : "US";
            s.cohort = &tag;
            s.cohort_count = 1;
            r = tidal_signal_write(f.db, &s, NULL);
            TT_CHECK(r == TIDAL_OK || r == TIDAL_ERR_NOMEM);
            nomem += r == TIDAL_ERR_NOMEM;
            r = tidal_negative_add(f.db, 0, 7, TIDAL_HIDE, 1 + (uint64_t)i % 5, NULL);
            TT_CHECK(r == TIDAL_OK || r == TIDAL_ERR_NOMEM || r == TIDAL_ERR_LIMIT);
        }
        (void)nomem;
        tidal_db_close(f.db);
        TT_EQ_INT(ca.live, 0);
    }
}


/* ---- sharding, tenants, scatter-gather ------------------------------------------------- */

/* The router is total, deterministic (pinned values: a change of the function would move
   every stored entity), even across shards, and moves only ~1/(n+1) of the entities, all
   to the new shard, when a shard is added. */
static void t_route(void) {
    uint32_t count[8], moved = 0, k;
    tidal_id e;
    const uint32_t n = 20000;
    TT_EQ_INT(tidal_route(0, 1, 0), 0);
    TT_EQ_INT(tidal_route(7, 12345, 1), 0);
    printf("  route(0, 1..4, 5) = %u %u %u %u\n", tidal_route(0, 1, 5), tidal_route(0, 2, 5), tidal_route(0, 3, 5),
           tidal_route(0, 4, 5));
    TT_EQ_INT(tidal_route(0, 1, 5) * 1000 + tidal_route(0, 2, 5) * 100 + tidal_route(0, 3, 5) * 10 + tidal_route(0, 4, 5),
              ROUTE_PINNED);
    memset(count, 0, sizeof count);
    for (e = 1; e <= n; e++) {
        uint32_t a = tidal_route(3, e, 7), b = tidal_route(3, e, 8);
        TT_CHECK(a < 7 && b < 8);
        TT_EQ_INT(a, tidal_route(3, e, 7));
        count[a]++;
        if (a != b) {
            moved++;
            TT_EQ_INT(b, 7); /* only to the new shard */
        }
    }
    for (k = 0; k < 7; k++) TT_CHECKF(count[k] > n / 7 * 9 / 10 && count[k] < n / 7 * 11 / 10, "shard %u got %u of %u", k, count[k], n);
    TT_CHECKF(moved > n / 8 * 8 / 10 && moved < n / 8 * 12 / 10, "%u of %u moved from 7 to 8 shards", moved, n);
    TT_CHECK(tidal_route(1, 99, 5) != tidal_route(2, 99, 5) || tidal_route(1, 98, 5) != tidal_route(2, 98, 5) ||
             tidal_route(1, 97, 5) != tidal_route(2, 97, 5)); /* the tenant is part of the key */
}

typedef struct captured {
    uint8_t bytes[512];
    size_t len;
} captured;

static void capture_event(void *ctx, const void *event, size_t len) {
    captured *c = (captured *)ctx;
    c->len = len < sizeof c->bytes ? len : 0;
    if (c->len) memcpy(c->bytes, event, len);
}

/* Per-tenant limits: the bucket gives burst signals, refuses the next one (nothing
   changes), refills with time; the quota refuses a write that would create one entity too
   many (no state change) but not one on existing entities; other tenants are untouched;
   an older config version is refused; imported (replicated) events are never refused. */
static void t_tenant_limits(void) {
    fixture f, g;
    tidal_tenant_config tc;
    tidal_signal s;
    uint8_t before[32], after[32];
    uint64_t ents = 0;
    double tokens = 0;
    captured cap;
    int i;
    memset(&cap, 0, sizeof cap);
    fx_open(&f, 41);
    fx_open(&g, 42);
    memset(&tc, 0, sizeof tc);
    tc.tenant = 5;
    tc.rate_per_s = 10;
    tc.burst = 4;
    tc.config_version = 2;
    TT_EQ_INT(tidal_tenant_set(f.db, &tc), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.tenant = 5;
    s.weight = 1;
    for (i = 0; i < 4; i++) {
        s.item = 1 + (tidal_id)(i % 2);
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    }
    digest(f.db, before);
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_ERR_RATE_LIMITED);
    digest(f.db, after);
    TT_CHECK(!memcmp(before, after, 32));
    s.tenant = 6; /* another tenant has no limit */
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    s.tenant = 5;
    f.clock.now_ns += TIDAL_NS_PER_S / 5; /* 0.2 s: two tokens */
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_ERR_RATE_LIMITED);
    tc.config_version = 1;
    TT_EQ_INT(tidal_tenant_set(f.db, &tc), TIDAL_ERR_STALE_CONFIG);
    tc.config_version = 3;
    tc.rate_per_s = 0;
    tc.entity_quota = 3; /* items 1 and 2 exist */
    TT_EQ_INT(tidal_tenant_set(f.db, &tc), TIDAL_OK);
    TT_EQ_INT(tidal_tenant_usage(f.db, 5, &ents, &tokens), TIDAL_OK);
    TT_EQ_INT(ents, 2);
    s.item = 3;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    s.item = 4;
    digest(f.db, before);
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_ERR_QUOTA);
    TT_EQ_INT(tidal_attr_set(f.db, 5, 4, "k", "v", NULL), TIDAL_ERR_QUOTA);
    s.item = 1;
    s.user = 77; /* a new user is an entity too */
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_ERR_QUOTA);
    digest(f.db, after);
    TT_CHECK(!memcmp(before, after, 32));
    s.user = 0;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK); /* existing entities are fine */
    TT_EQ_INT(tidal_tenant_usage(f.db, 5, &ents, NULL), TIDAL_OK);
    TT_EQ_INT(ents, 3);
    TT_EQ_INT(tidal_tenant_usage(f.db, 9, &ents, NULL), TIDAL_ERR_NOT_FOUND);
    tc.burst = -1;
    TT_EQ_INT(tidal_tenant_set(f.db, &tc), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_tenant_set(f.db, NULL), TIDAL_ERR_INVALID);
    /* Replicated events are the accepting node's decision: an import is never refused. */
    tc.burst = 0;
    tc.entity_quota = 1;
    tc.config_version = 1;
    TT_EQ_INT(tidal_tenant_set(g.db, &tc), TIDAL_OK);
    tidal_db_set_event_hook(f.db, capture_event, &cap);
    for (i = 1; i <= 3; i++) {
        s.item = (tidal_id)i;
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
        TT_EQ_INT(tidal_event_import(g.db, cap.bytes, cap.len, NULL), TIDAL_OK);
    }
    TT_EQ_INT(tidal_tenant_usage(g.db, 5, &ents, NULL), TIDAL_OK);
    TT_EQ_INT(ents, 3);
    /* A rate under 1/s with the default burst still lets one signal through per period
       (the bucket holds at least one signal; found by prop_multiregion). */
    memset(&tc, 0, sizeof tc);
    tc.tenant = 8;
    tc.rate_per_s = 0.5;
    TT_EQ_INT(tidal_tenant_set(f.db, &tc), TIDAL_OK);
    s.tenant = 8;
    s.item = 1;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_ERR_RATE_LIMITED);
    f.clock.now_ns += 2 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    tidal_db_close(f.db);
    tidal_db_close(g.db);
}

/* Scatter-gather: items split over 4 shards by the router; the gather of the 4 equals one
   database holding everything; with a shard missing it still answers from the others,
   omits that shard's items and says which shard; a cut-off region is reported. */
static void t_gather(void) {
    fixture one, sh[4];
    tidal_db *dbs[4];
    tidal_query q;
    tidal_hit a[50], b[50];
    uint32_t na = 0, nb = 0, k, i;
    tidal_query_stats st;
    tidal_signal s;
    fx_open(&one, 51);
    for (k = 0; k < 4; k++) {
        fx_open(&sh[k], 52 + k);
        dbs[k] = sh[k].db;
    }
    memset(&s, 0, sizeof s);
    for (i = 0; i < 600; i++) {
        s.item = 1 + tt_below(200);
        s.weight = 1 + (double)tt_below(5);
        s.time_ns = T0 - (int64_t)tt_below(7200) * TIDAL_NS_PER_S;
        TT_EQ_INT(tidal_signal_write(one.db, &s, NULL), TIDAL_OK);
        TT_EQ_INT(tidal_signal_write(dbs[tidal_route(0, s.item, 4)], &s, NULL), TIDAL_OK);
    }
    memset(&q, 0, sizeof q);
    q.rank_kind = TIDAL_QUERY_SIGNAL;
    q.limit = 50;
    q.time_ns = T0;
    TT_EQ_INT(tidal_retrieve(one.db, &q, a, 50, &na, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_retrieve_gather(dbs, 4, 0, &q, b, 50, &nb, &st), TIDAL_OK);
    TT_EQ_INT(nb, na);
    for (i = 0; i < na && i < nb; i++) {
        TT_EQ_INT(b[i].item, a[i].item);
        TT_NEAR(b[i].score, a[i].score, 1e-9);
    }
    TT_EQ_INT(st.shards_asked, 4);
    TT_EQ_INT(st.shards_answered, 4);
    TT_EQ_INT(st.degraded, 0);
    dbs[2] = NULL;
    TT_EQ_INT(tidal_retrieve_gather(dbs, 4, 0, &q, b, 50, &nb, &st), TIDAL_OK);
    TT_EQ_INT(st.degraded, 1);
    TT_EQ_INT(st.shards_answered, 3);
    TT_CHECKF(strstr(st.degraded_reason, "shard 2") != NULL, "reason: %s", st.degraded_reason);
    for (i = 0; i < nb; i++) TT_CHECK(tidal_route(0, b[i].item, 4) != 2);
    dbs[2] = sh[2].db;
    TT_EQ_INT(tidal_retrieve_gather(dbs, 4, 1u << 2, &q, b, 50, &nb, &st), TIDAL_OK);
    TT_EQ_INT(st.degraded, 1);
    TT_CHECKF(strstr(st.degraded_reason, "region 2") != NULL, "reason: %s", st.degraded_reason);
    for (k = 0; k < 4; k++) dbs[k] = NULL;
    TT_EQ_INT(tidal_retrieve_gather(dbs, 4, 0, &q, b, 50, &nb, &st), TIDAL_ERR_UNAVAILABLE);
    TT_EQ_INT(tidal_retrieve_gather(NULL, 4, 0, &q, b, 50, &nb, &st), TIDAL_ERR_INVALID);
    tidal_db_close(one.db);
    for (k = 0; k < 4; k++) tidal_db_close(sh[k].db);
}


/* ---- tenant migration: export, install, drop (DESIGN 5.7) ------------------------------ */

typedef struct evlog { /* every event a handle wrote, back to back */
    uint8_t *bytes;
    size_t len, cap;
    uint32_t n;
} evlog;

static void evlog_add(void *ctx, const void *event, size_t len) {
    evlog *l = (evlog *)ctx;
    while (l->len + len + 4 > l->cap) {
        l->cap = l->cap ? 2 * l->cap : 65536;
        l->bytes = (uint8_t *)realloc(l->bytes, l->cap);
        TT_CHECK(l->bytes != NULL);
    }
    memcpy(l->bytes + l->len, &len, 4); /* native: it never leaves the process */
    memcpy(l->bytes + l->len + 4, event, len);
    l->len += len + 4;
    l->n++;
}

static void evlog_replay(evlog *l, tidal_db *db, uint64_t *dups) {
    size_t at = 0;
    while (at < l->len) {
        uint32_t len;
        tidal_receipt rc;
        memcpy(&len, l->bytes + at, 4);
        TT_EQ_INT(tidal_event_import(db, l->bytes + at + 4, len, &rc), TIDAL_OK);
        *dups += (uint64_t)rc.duplicate;
        at += 4 + len;
    }
}

static void tenant_digest(tidal_db *db, uint32_t t, uint8_t out[32]) {
    TT_EQ_INT(tidal_db_digest(db, t, out), TIDAL_OK);
}

/* Writes n_items items' worth of everything a tenant can hold. */
static void mig_load(fixture *f, uint32_t tenant, uint32_t n_items, uint32_t salt) {
    tidal_signal s;
    tidal_tag tags[1];
    tidal_id sess;
    uint32_t i;
    tags[0].key = "locale";
    tags[0].value = "EU";
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    for (i = 1; i <= n_items; i++) {
        s.item = i;
        s.type = i % 3;
        s.weight = 1.0 + (double)((i * 7 + salt) % 5);
        s.user = 1000 + i % 40;
        s.cohort = i % 2 ? tags : NULL;
        s.cohort_count = i % 2;
        s.time_ns = f->clock.now_ns - (int64_t)(i % 97) * TIDAL_NS_PER_S;
        TT_EQ_INT(tidal_signal_write(f->db, &s, NULL), TIDAL_OK);
        if (i % 50 == 0) TT_EQ_INT(tidal_attr_set(f->db, tenant, i, "creator", "7", NULL), TIDAL_OK);
    }
    TT_EQ_INT(tidal_attr_set(f->db, tenant, 1001, "locale", "EU", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(f->db, tenant, 1002, TIDAL_HIDE, 3, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(f->db, tenant, 1003, TIDAL_MUTE, 7, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(f->db, tenant, 1004, 0, &sess), TIDAL_OK);
    TT_EQ_INT(tidal_session_note(f->db, tenant, sess, 1, "hello", NULL), TIDAL_OK);
    s.item = 5;
    s.user = 0;
    s.cohort = tags;
    s.cohort_count = 1;
    s.idem.key = "retry-1";
    s.idem.key_len = 7;
    s.idem.seq = salt;
    TT_EQ_INT(tidal_signal_write(f->db, &s, NULL), TIDAL_OK);
}

static uint8_t *mig_export(tidal_db *db, uint32_t tenant, size_t *len) {
    uint8_t *blob;
    TT_EQ_INT(tidal_tenant_export(db, tenant, NULL, 0, len), TIDAL_ERR_LIMIT);
    blob = (uint8_t *)malloc(*len);
    TT_CHECK(blob != NULL);
    TT_EQ_INT(tidal_tenant_export(db, tenant, blob, *len, len), TIDAL_OK);
    return blob;
}

/* An applied-event index larger than one network message (200,000 idempotency keys,
   ~4.8 MB) is cut across install chunks: the install succeeds (it used to be refused with
   TIDAL_ERR_LIMIT), the copy equals the source, and every key the source held is known to
   the target, so a client retrying any of those writes there is told it is a duplicate. */
static void t_migrate_big_index(void) {
    fixture a, b;
    uint8_t *blob, d1[32], d2[32];
    size_t len;
    uint32_t chunks = 0, i;
    const uint32_t n = 200000, probe[4] = {1, 77777, 150001, 200000};
    tidal_tag tags[1];
    tidal_signal s;
    tidal_receipt rc;
    fx_open(&a, 71);
    fx_open(&b, 72);
    tidal_db_close(b.db);
    b.cfg.group = 1;
    TT_EQ_INT(tidal_db_open(&b.cfg, &b.db), TIDAL_OK);
    tags[0].key = "locale";
    tags[0].value = "EU";
    memset(&s, 0, sizeof s);
    s.tenant = 1;
    s.cohort = tags;
    s.cohort_count = 1;
    s.idem.key = "order";
    s.idem.key_len = 5;
    s.time_ns = a.clock.now_ns - 60 * TIDAL_NS_PER_S;
    for (i = 1; i <= n; i++) {
        s.item = 1 + i % 500;
        s.idem.seq = i;
        TT_EQ_INT(tidal_signal_write(a.db, &s, NULL), TIDAL_OK);
    }
    blob = mig_export(a.db, 1, &len);
    TT_CHECKF(len > TIDAL_MSG_BYTES_MAX, "export of %zu bytes: the index should not fit one message", len);
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 5, &chunks, &rc), TIDAL_OK);
    TT_CHECKF(chunks >= (uint32_t)(n * 24 / TIDAL_INSTALL_CHUNK_BYTES), "%u chunks", chunks);
    TT_CHECK(tidal_tenant_installed(b.db, 1, 5));
    tenant_digest(a.db, 1, d1);
    tenant_digest(b.db, 1, d2);
    TT_CHECK(!memcmp(d1, d2, 32));
    for (i = 0; i < 4; i++) { /* retries of writes the source took: duplicates, nothing changes */
        s.item = 1 + probe[i] % 500;
        s.idem.seq = probe[i];
        memset(&rc, 0, sizeof rc);
        TT_EQ_INT(tidal_signal_write(b.db, &s, &rc), TIDAL_OK);
        TT_CHECKF(rc.duplicate == 1, "key seq %u was not in the copied index", probe[i]);
    }
    s.idem.seq = n + 1; /* a new key is not */
    TT_EQ_INT(tidal_signal_write(b.db, &s, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(tidal_signal_write(a.db, &s, &rc), TIDAL_OK);
    tenant_digest(a.db, 1, d1);
    tenant_digest(b.db, 1, d2);
    TT_CHECK(!memcmp(d1, d2, 32));
    free(blob);
    tidal_db_close(a.db);
    tidal_db_close(b.db);
}

/* A tenant copied to another database equals the source (per-tenant digest, scores at a
   later time), leaves the target's other tenants alone, and takes the source's later
   events exactly once (the copied index drops the ones it holds); the state spans
   several install chunks; a retried install writes nothing; a new one replaces the copy
   (no double count); a drop leaves nothing of the tenant (footprint 0) and nothing else
   changed; bad exports are refused and change nothing; tenant states refuse local writes
   (TIDAL_ERR_MOVED) but never imports. */
static void t_migrate_copy(void) {
    fixture a, b;
    evlog log;
    uint8_t *blob, d1[32], d2[32], other[32], all[32];
    size_t len;
    uint32_t chunks = 0;
    uint64_t ents = 0, sess = 0, bytes = 0, dups = 0;
    tidal_signal_stats sa, sb;
    tidal_tenant_config tc;
    tidal_receipt rc;
    tidal_signal s;
    tidal_db_stats st;
    memset(&log, 0, sizeof log);
    fx_open(&a, 61);
    fx_open(&b, 62);
    tidal_db_close(b.db); /* the target is another replica group (its own origins are told apart) */
    b.cfg.group = 1;
    TT_EQ_INT(tidal_db_open(&b.cfg, &b.db), TIDAL_OK);
    tidal_db_set_event_hook(a.db, evlog_add, &log);
    mig_load(&a, 1, 4000, 1);
    mig_load(&a, 2, 300, 2);
    mig_load(&b, 2, 500, 3); /* the target's own tenant 2 */
    tenant_digest(b.db, 2, other);
    blob = mig_export(a.db, 1, &len);
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 11, &chunks, &rc), TIDAL_OK);
    TT_CHECK(chunks >= 2); /* ~4,000 items: more than one chunk */
    TT_CHECK(tidal_tenant_installed(b.db, 1, 11));
    TT_CHECK(!tidal_tenant_installed(b.db, 1, 12));
    tenant_digest(a.db, 1, d1);
    tenant_digest(b.db, 1, d2);
    TT_CHECK(!memcmp(d1, d2, 32));
    tenant_digest(b.db, 2, d2);
    TT_CHECK(!memcmp(other, d2, 32));
    a.clock.now_ns += 1800 * TIDAL_NS_PER_S;
    b.clock.now_ns += 1800 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_signal_read(a.db, 1, 10, 1, NULL, 0, &sa), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(b.db, 1, 10, 1, NULL, 0, &sb), TIDAL_OK);
    TT_CHECK(sa.score == sb.score && sa.count[TIDAL_W_ALL] == sb.count[TIDAL_W_ALL] && sa.count[TIDAL_W_ALL] > 0);
    /* More writes on the source: every event it ever wrote goes to the target; only the
       new ones apply. */
    mig_load(&a, 1, 200, 4);
    evlog_replay(&log, b.db, &dups);
    TT_CHECK(dups >= 4000); /* the copy held those */
    tenant_digest(a.db, 1, d1);
    tenant_digest(b.db, 1, d2);
    TT_CHECK(!memcmp(d1, d2, 32));
    /* A retry of the same install is a no-op; a new export under a new id replaces. */
    tidal_db_stats_get(b.db, &st);
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 11, &chunks, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    free(blob);
    blob = mig_export(a.db, 1, &len);
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 12, NULL, NULL), TIDAL_OK);
    tenant_digest(b.db, 1, d2);
    TT_CHECK(!memcmp(d1, d2, 32));
    /* Generations: an older install or drop than the newest applied is stale. */
    TT_CHECK(tidal_tenant_installed(b.db, 1, 12) && !tidal_tenant_installed(b.db, 1, 11));
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 10, NULL, NULL), TIDAL_ERR_STALE_CONFIG);
    TT_EQ_INT(tidal_tenant_drop(b.db, 1, 9, NULL), TIDAL_ERR_STALE_CONFIG);
    tenant_digest(b.db, 1, d2);
    TT_CHECK(!memcmp(d1, d2, 32));
    tenant_digest(b.db, 2, d2);
    TT_CHECK(!memcmp(other, d2, 32));
    /* Bad exports: refused, nothing changes. */
    digest(b.db, all);
    blob[len / 2] ^= 1;
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 13, NULL, NULL), TIDAL_ERR_CORRUPT);
    blob[len / 2] ^= 1;
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len - 1, 13, NULL, NULL), TIDAL_ERR_CORRUPT);
    TT_EQ_INT(tidal_tenant_install(b.db, blob, 10, 13, NULL, NULL), TIDAL_ERR_CORRUPT);
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 0, NULL, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_tenant_install(b.db, NULL, len, 13, NULL, NULL), TIDAL_ERR_INVALID);
    digest(b.db, d2);
    TT_CHECK(!memcmp(all, d2, 32));
    TT_CHECK(!tidal_tenant_installed(b.db, 1, 13));
    /* States: sealed and incoming refuse local writes, not imports. */
    memset(&tc, 0, sizeof tc);
    tc.tenant = 1;
    tc.state = TIDAL_TENANT_SEALED;
    TT_EQ_INT(tidal_tenant_set(a.db, &tc), TIDAL_OK);
    tc.state = TIDAL_TENANT_INCOMING;
    tc.config_version = 1;
    TT_EQ_INT(tidal_tenant_set(b.db, &tc), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.tenant = 1;
    s.item = 9;
    s.weight = 1;
    digest(a.db, all);
    TT_EQ_INT(tidal_signal_write(a.db, &s, NULL), TIDAL_ERR_MOVED);
    TT_EQ_INT(tidal_attr_set(a.db, 1, 9, "k", "v", NULL), TIDAL_ERR_MOVED);
    TT_EQ_INT(tidal_signal_write(b.db, &s, NULL), TIDAL_ERR_MOVED);
    digest(a.db, d1);
    TT_CHECK(!memcmp(all, d1, 32));
    s.tenant = 2; /* other tenants are not affected */
    TT_EQ_INT(tidal_signal_write(a.db, &s, NULL), TIDAL_OK);
    tc.state = 3;
    TT_EQ_INT(tidal_tenant_set(a.db, &tc), TIDAL_ERR_INVALID);
    /* The drop: tenant 1 leaves a; tenant 2 is as it was. */
    tenant_digest(a.db, 2, other);
    TT_EQ_INT(tidal_tenant_footprint(a.db, 1, &ents, &sess, &bytes), TIDAL_OK);
    TT_CHECK(ents == 4000 && sess == 2 && bytes > 100000); /* users 1000..1039 are items too */
    TT_EQ_INT(tidal_tenant_drop(a.db, 1, 11, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 0);
    TT_EQ_INT(tidal_tenant_footprint(a.db, 1, &ents, &sess, &bytes), TIDAL_OK);
    TT_CHECK(ents == 0 && sess == 0 && bytes == 0);
    TT_EQ_INT(tidal_tenant_usage(a.db, 1, &ents, NULL), TIDAL_OK);
    TT_EQ_INT(ents, 0);
    tenant_digest(a.db, 2, d1);
    TT_CHECK(!memcmp(other, d1, 32));
    TT_EQ_INT(tidal_signal_read(a.db, 1, 10, 1, NULL, 0, &sa), TIDAL_OK);
    TT_CHECK(sa.count[TIDAL_W_ALL] == 0);
    TT_EQ_INT(tidal_tenant_drop(a.db, 1, 11, &rc), TIDAL_OK);
    TT_EQ_INT(rc.duplicate, 1);
    free(blob);
    free(log.bytes);
    tidal_db_close(a.db);
    tidal_db_close(b.db);
    /* Two handles with the same node and the same incarnation (the same random stream): an
       export from one claims events of the other's own origin it never wrote; installing
       it would make the target drop its own next events as duplicates: refused. */
    fx_open(&a, 63);
    fx_open(&b, 63);
    mig_load(&a, 1, 50, 1);
    blob = mig_export(a.db, 1, &len);
    digest(b.db, all);
    TT_EQ_INT(tidal_tenant_install(b.db, blob, len, 21, NULL, NULL), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(tidal_errmsg(b.db), "own origin") != NULL, "%s", tidal_errmsg(b.db));
    digest(b.db, d2);
    TT_CHECK(!memcmp(all, d2, 32));
    free(blob);
    tidal_db_close(a.db);
    tidal_db_close(b.db);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_decay_orders_and_analytic),
    TT_CASE(t_decay_duplicates_are_noops),
    TT_CASE(t_decay_edges),
    TT_CASE(t_attr_lww),
    TT_CASE(t_hlc_monotone),
    TT_CASE(t_neg_hide_wins),
    TT_CASE(t_neg_retrieve_never_leaks),
    TT_CASE(t_session_exactly_once),
    TT_CASE(t_session_api),
    TT_CASE(t_idempotent_retries),
    TT_CASE(t_retrieve_matches_model),
    TT_CASE(t_retrieve_text),
    TT_CASE(t_schema_rejects),
    TT_CASE(t_bad_input_changes_nothing),
    TT_CASE(t_allocator_accounting_and_failure),
    TT_CASE(t_route),
    TT_CASE(t_tenant_limits),
    TT_CASE(t_gather),
    TT_CASE(t_migrate_copy),
    TT_CASE(t_migrate_big_index),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
