/* test_flat.c - the state layout may change, the state may not: digests, signal stats and
   RETRIEVE answers of fixed deterministic workloads pinned to what the code of commit
   710fc0f (the pointer-per-aggregate layout) computed. The workloads cover many items,
   every kind of type (decaying, permanent, negative, a fractional half-life), every window,
   cohort aggregates, users with seen sets, hides, events out of order and far apart (old
   epochs and window buckets retire), deletes and forgets, and a snapshot round-trip. Also
   white-box checks of the flat layout itself: 32-bit counts spill at their limit, 64-bit
   bucket weight sums spill past the int64 range, and the steady-state write path does not
   allocate. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "test_env.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)

typedef struct flat_fx {
    tidal_env env;
    test_clock clock;
    tidal_signal_def sigs[5];
    const char *cohorts[2];
    tidal_config cfg;
    tidal_db *db;
} flat_fx;

/* Five types: view (1 h, all windows), like (1 day, 24 h + 30 d), permanent buy, a
   negative skip (10 min, 1 h window) and a fractional half-life (1000.0000000005 s, all). */
static void ff_open(flat_fx *f, uint64_t seed) {
    memset(f, 0, sizeof *f);
    test_env_make(&f->env, &f->clock, T0, seed);
    f->sigs[0].name = "view";
    f->sigs[0].half_life_s = 3600;
    f->sigs[1].name = "like";
    f->sigs[1].half_life_s = 86400;
    f->sigs[1].windows = TIDAL_WINDOW_24H | TIDAL_WINDOW_30D;
    f->sigs[2].name = "buy";
    f->sigs[2].permanent = 1;
    f->sigs[3].name = "skip";
    f->sigs[3].half_life_s = 600;
    f->sigs[3].windows = TIDAL_WINDOW_1H;
    f->sigs[3].negative = 1;
    f->sigs[4].name = "frac";
    f->sigs[4].half_life_s = 1000.0000000005;
    f->cohorts[0] = "locale";
    f->cohorts[1] = "tier";
    f->cfg.env = &f->env;
    f->cfg.schema.signals = f->sigs;
    f->cfg.schema.signal_count = 5;
    f->cfg.schema.cohort_keys = f->cohorts;
    f->cfg.schema.cohort_key_count = 2;
    f->cfg.retrieve_limit_max = 5000;
    f->cfg.future_bound_ns = 400 * 86400 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_db_open(&f->cfg, &f->db), TIDAL_OK);
}

static uint64_t ff_next(uint64_t *st) {
    uint64_t z = (*st += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* n writes over `items` items. span_s: how far back event times reach (out of order:
   each write picks its time at random in the span). */
static void ff_workload(flat_fx *f, uint64_t seed, int n, uint32_t items, int64_t span_s) {
    static const tidal_tag tags[4] = {
        {"locale", "EU"}, {"tier", "gold"}, {"locale", "US"}, {"tier", "free"}};
    static const double weights[6] = {1.0, 1.5, -2.0, 0.3, 1e-6, 1000.25};
    uint64_t st = seed;
    int i;
    for (i = 0; i < n; i++) {
        uint64_t x = ff_next(&st), y = ff_next(&st);
        tidal_signal s;
        tidal_result r;
        memset(&s, 0, sizeof s);
        s.tenant = (y & 15) == 0 ? 7 : 0;
        s.item = 1 + (x % items);
        s.type = (uint32_t)((x >> 32) % 5);
        s.weight = weights[(x >> 36) % 6];
        s.time_ns = T0 - (int64_t)((y >> 8) % (uint64_t)span_s) * TIDAL_NS_PER_S -
                    (int64_t)((y >> 40) % 1000000u);
        if ((x >> 40) & 1) s.user = 1000 + ((x >> 41) % 37);
        switch ((x >> 48) & 3) {
        case 0:
            s.cohort = &tags[(x >> 50) & 3];
            s.cohort_count = 1;
            break;
        case 1:
            s.cohort = &tags[((x >> 50) & 1) * 2];
            s.cohort_count = 2;
            break;
        default:
            s.cohort = tags;
            s.cohort_count = 0;
        }
        r = tidal_signal_write(f->db, &s, NULL);
        TT_CHECKF(r == TIDAL_OK, "write %d: %d", i, (int)r);
        if (r != TIDAL_OK) return;
        if ((x & 255) == 7) {
            TT_EQ_INT(tidal_negative_add(f->db, s.tenant, 1000 + (y % 37), TIDAL_HIDE, s.item,
                                         NULL),
                      TIDAL_OK);
        }
    }
}

static void hex(const uint8_t d[32], char out[65]) {
    int i;
    for (i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_digest(tidal_db *db, uint64_t tenant, const char *want, const char *what) {
    uint8_t d[32];
    char h[65];
    TT_EQ_INT(tidal_db_digest(db, tenant, d), TIDAL_OK);
    hex(d, h);
    printf("  %s: %s\n", what, h);
    TT_CHECKF(!strcmp(h, want), "%s: digest %s, pinned %s", what, h, want);
}

/* FNV-1a over bytes: folds read answers into one pinned number. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static uint64_t fnv_stats(uint64_t h, const tidal_signal_stats *s) {
    int w;
    h = fnv(h, &s->score, 8);
    for (w = 0; w < TIDAL_WINDOWS_COUNT; w++) {
        h = fnv(h, &s->count[w], 8);
        h = fnv(h, &s->weight[w], 8);
        h = fnv(h, &s->velocity[w], 8);
    }
    h = fnv(h, &s->count_pos, 8);
    h = fnv(h, &s->count_neg, 8);
    h = fnv(h, &s->weight_pos, 8);
    h = fnv(h, &s->weight_neg, 8);
    return fnv(h, &s->windows_partial, 4);
}

/* Stats of every (item, type) at several times (before, at and after the newest events),
   whole and per cohort, and the top 50 of every type (whole and one cohort). */
static uint64_t ff_reads(flat_fx *f, uint32_t items) {
    static const tidal_tag eu = {"locale", "EU"};
    static const int64_t at[4] = {-3 * 86400, -3600, 0, 2 * 86400};
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    uint32_t it, ty, k;
    for (it = 1; it <= items; it += 3) {
        for (ty = 0; ty < 5; ty++) {
            for (k = 0; k < 4; k++) {
                tidal_signal_stats s;
                tidal_result r = tidal_signal_read(f->db, 0, it, ty, k == 1 ? &eu : NULL,
                                                   T0 + at[k] * TIDAL_NS_PER_S, &s);
                h = fnv(h, &r, sizeof r);
                if (r == TIDAL_OK) h = fnv_stats(h, &s);
            }
        }
    }
    for (ty = 0; ty < 5; ty++) {
        for (k = 0; k < 2; k++) {
            tidal_query q;
            tidal_hit hits[50];
            uint32_t n = 0, i;
            tidal_result r;
            memset(&q, 0, sizeof q);
            q.rank_kind = TIDAL_QUERY_SIGNAL;
            q.rank_index = ty;
            q.limit = 50;
            q.time_ns = T0 + 3600 * TIDAL_NS_PER_S;
            if (k) {
                q.cohort_key = "locale";
                q.cohort_value = "US";
                q.for_user = 1003;
                q.exclude_seen = 1;
            }
            r = tidal_retrieve(f->db, &q, hits, 50, &n, NULL);
            h = fnv(h, &r, sizeof r);
            h = fnv(h, &n, sizeof n);
            for (i = 0; i < n; i++) {
                h = fnv(h, &hits[i].item, 8);
                h = fnv(h, &hits[i].score, 8);
            }
        }
    }
    return h;
}

/* Pinned with the code of commit 710fc0f. */
#define PIN_A_ALL "0f1d96c5dce33a64d208b3492564c55664214f150bb14ad161ccf1f0fbae253c"
#define PIN_A_T7 "fca731d0c3356210c4acca5f3f01503097408915562ce96c33716c061c07333f"
#define PIN_A_READS UINT64_C(0x7ddfd50ea9a61c16)
#define PIN_B_ALL "8cd27ac63154d94a48e07c53fd836feb3422be07037590b81a5df5b3b5d83a55"
#define PIN_B_READS UINT64_C(0xefe49bfbd9aaf3b4)
#define PIN_C_ALL "6d8d7d7cffdad2d3fa2f05da8204d6ad7246491fa6ad0d3702c49dbdccf1bd3c"

/* A: 3000 items, 30000 writes over 60 days, out of order: old epochs and buckets retire. */
static void test_pinned_many_items(void) {
    flat_fx f;
    uint64_t h;
    ff_open(&f, 11);
    ff_workload(&f, 101, 30000, 3000, 60 * 86400);
    check_digest(f.db, TIDAL_ALL_TENANTS, PIN_A_ALL, "A all");
    check_digest(f.db, 7, PIN_A_T7, "A tenant 7");
    h = ff_reads(&f, 3000);
    printf("  A reads: 0x%016llx\n", (unsigned long long)h);
    TT_CHECKF(h == PIN_A_READS, "A reads 0x%016llx", (unsigned long long)h);
    tidal_db_close(f.db);
}

/* B: few items, many writes each, times far apart (a year): epochs come and go, every
   bucket level fills and retires; then deletes and forgets, then more writes. */
static void test_pinned_far_epochs(void) {
    flat_fx f;
    uint64_t h;
    uint32_t i;
    ff_open(&f, 12);
    ff_workload(&f, 202, 8000, 40, 365 * 86400);
    ff_workload(&f, 203, 4000, 40, 2 * 3600);
    for (i = 1; i <= 40; i += 7) TT_EQ_INT(tidal_item_delete(f.db, 0, i, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_user_forget(f.db, 0, 1003, NULL), TIDAL_OK);
    ff_workload(&f, 204, 3000, 40, 40 * 86400);
    check_digest(f.db, TIDAL_ALL_TENANTS, PIN_B_ALL, "B all");
#if TIDAL__COUNT32_MAX < 100 /* test_flat_spill: the workload must really spill */
    {
        uint32_t wide = 0, j, t;
        int l;
        for (i = 0; i < f.db->st.n_ents; i++)
            for (t = 0; f.db->st.ents[i].sigs && t < 5; t++)
                for (l = 0; f.db->st.ents[i].sigs[t] && l < TIDAL__LVLS; l++)
                    wide += tidal__lvl(f.db->st.ents[i].sigs[t], l).wide;
        for (i = 0; i < f.db->st.n_ents; i++)
            for (j = 0; j < f.db->st.ents[i].n_csigs; j++)
                for (l = 0; l < TIDAL__LVLS; l++)
                    wide += tidal__lvl(f.db->st.ents[i].csigs[j].sig, l).wide;
        printf("  B: %u wide levels\n", wide);
        TT_CHECK(wide > 50);
    }
#endif
    h = ff_reads(&f, 40);
    printf("  B reads: 0x%016llx\n", (unsigned long long)h);
    TT_CHECKF(h == PIN_B_READS, "B reads 0x%016llx", (unsigned long long)h);
    tidal_db_close(f.db);
}

/* C: the state through a snapshot and back (export/import of the whole state), then more
   writes on top: the decoded layout must fold on exactly as the written one. */
static void test_pinned_through_snapshot(void) {
    flat_fx f;
    char dir[] = "/tmp/tidal_flat_XXXXXX";
    ff_open(&f, 13);
    tidal_db_close(f.db);
    TT_CHECK(mkdtemp(dir) != NULL);
    f.cfg.path = dir;
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    ff_workload(&f, 303, 6000, 500, 20 * 86400);
    TT_EQ_INT(tidal_db_snapshot(f.db), TIDAL_OK);
    tidal_db_close(f.db);
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    ff_workload(&f, 304, 3000, 600, 20 * 86400);
    check_digest(f.db, TIDAL_ALL_TENANTS, PIN_C_ALL, "C all");
    tidal_db_close(f.db);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        TT_CHECK(system(cmd) == 0);
    }
}

static void ff_burst(flat_fx *f, tidal_id item, uint32_t type, double w, int n, int64_t t);

/* D: what the other workloads leave out - attributes (set, overwritten, deleted, the
   "creator" one), sessions (open with a fixed id, signals with seqs and cohorts, notes,
   retries, an end), a schema append mid-way (a sixth type, then written on old items),
   item deletes of items with cohorts - and the tenant export's bytes: the whole canonical
   state of a tenant as a migration copies it. Pinned with the code of commit da322b3. */
#define PIN_D_ALL "b6279b90c0c8386c455fd5294d49ac168013647d9b9d0389303faa5812401d1e"
#define PIN_D_T7 "db1d21bb8c9069c0936319c041f829f1375eab1e300a6662738d9bfaceb4147c"
#define PIN_D_EXPORT UINT64_C(0x7d2230a6763936e1)

static void ff_attrs_sessions(flat_fx *f, uint64_t seed, int n) {
    static const tidal_tag tags[2] = {{"locale", "EU"}, {"tier", "gold"}};
    static const char *keys[4] = {"title", "creator", "lang", "color"};
    static const char *vals[4] = {"12", "a long enough value to be out of line", "7", "x"};
    uint64_t st = seed;
    int i;
    for (i = 0; i < n; i++) {
        uint64_t x = ff_next(&st), y = ff_next(&st);
        uint32_t tenant = (y & 7) == 0 ? 7 : 0;
        tidal_id ent = 1 + (x % 300);
        uint32_t k = (uint32_t)((x >> 20) & 3);
        const char *v = ((x >> 24) & 7) == 0 ? NULL : vals[(x >> 28) & 3];
        if (k == 1 && v) v = ((x >> 28) & 1) ? "12" : "4242";
        TT_EQ_INT(tidal_attr_set(f->db, tenant, ent, keys[k], v, NULL), TIDAL_OK);
        if ((x & 15) == 3) {
            tidal_id sid = 90000 + ((x >> 8) % 11);
            tidal_signal s;
            uint64_t seq = 1 + ((y >> 12) % 20);
            tidal_result r;
            tenant = (sid & 1) ? 7 : 0; /* a session lives in one tenant */
            TT_EQ_INT(tidal_session_open(f->db, tenant, sid, 2000 + (sid % 5),
                                         T0 - 5 * 86400 * TIDAL_NS_PER_S, 0),
                      TIDAL_OK);
            memset(&s, 0, sizeof s);
            s.tenant = tenant;
            s.item = 1 + ((y >> 20) % 300);
            s.type = (uint32_t)((y >> 30) % f->cfg.schema.signal_count);
            s.weight = 1.0 + (double)((y >> 40) & 3);
            s.time_ns = T0 - (int64_t)((y >> 44) % 86400) * TIDAL_NS_PER_S;
            s.cohort = tags;
            s.cohort_count = (uint32_t)((y >> 50) % 3);
            r = tidal_session_signal(f->db, sid, seq, &s, NULL);
            TT_CHECKF(r == TIDAL_OK || r == TIDAL_ERR_SESSION_ENDED ||
                          r == TIDAL_ERR_NOT_FOUND, /* its user was forgotten */
                      "session signal: %d", (int)r);
            if (((y >> 52) & 7) == 1) {
                r = tidal_session_note(f->db, tenant, sid, seq + 100, "a note", NULL);
                TT_CHECKF(r == TIDAL_OK || r == TIDAL_ERR_SESSION_ENDED || r == TIDAL_ERR_NOT_FOUND,
                          "note: %d", (int)r);
            }
            if (((y >> 55) & 63) == 5) {
                r = tidal_session_end(f->db, tenant, sid);
                TT_CHECKF(r == TIDAL_OK || r == TIDAL_ERR_SESSION_ENDED, "end: %d", (int)r);
            }
        }
    }
}

static void test_pinned_attrs_sessions_append(void) {
    flat_fx f;
    tidal_signal_def six[6];
    tidal_schema sc;
    size_t len = 0;
    uint8_t *buf;
    uint64_t h;
    uint32_t i;
    ff_open(&f, 14);
    ff_workload(&f, 401, 4000, 300, 10 * 86400);
    ff_attrs_sessions(&f, 402, 3000);
    memcpy(six, f.sigs, sizeof f.sigs);
    memset(&six[5], 0, sizeof six[5]);
    six[5].name = "share";
    six[5].half_life_s = 7200;
    six[5].windows = TIDAL_WINDOW_7D;
    sc = f.cfg.schema;
    sc.signals = six;
    sc.signal_count = 6;
    TT_EQ_INT(tidal_db_schema_append(f.db, &sc), TIDAL_OK);
    f.cfg.schema.signal_count = 6; /* ff_attrs_sessions draws types below this */
    ff_workload(&f, 403, 2000, 300, 10 * 86400); /* types 0..4 */
    ff_burst(&f, 17, 5, 2.5, 3, T0 - 100 * TIDAL_NS_PER_S);
    ff_burst(&f, 18, 5, -1.0, 2, T0 - 7200 * TIDAL_NS_PER_S);
    ff_attrs_sessions(&f, 404, 2000);
    for (i = 2; i <= 300; i += 29) TT_EQ_INT(tidal_item_delete(f.db, 0, i, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_user_forget(f.db, 0, 2001, NULL), TIDAL_OK);
    ff_attrs_sessions(&f, 405, 500);
    check_digest(f.db, TIDAL_ALL_TENANTS, PIN_D_ALL, "D all");
    check_digest(f.db, 7, PIN_D_T7, "D tenant 7");
    TT_EQ_INT(tidal_tenant_export(f.db, 0, NULL, 0, &len), TIDAL_ERR_LIMIT);
    buf = (uint8_t *)malloc(len ? len : 1);
    TT_CHECK(buf != NULL);
    if (buf) {
        TT_EQ_INT(tidal_tenant_export(f.db, 0, buf, len, &len), TIDAL_OK);
        h = fnv(UINT64_C(0xcbf29ce484222325), buf, len);
        printf("  D export: %zu bytes, 0x%016llx\n", len, (unsigned long long)h);
        TT_CHECKF(h == PIN_D_EXPORT, "D export 0x%016llx", (unsigned long long)h);
        free(buf);
    }
    tidal_db_close(f.db);
}

/* ---- white-box: the flat layout itself ------------------------------------------------ */

/* A bucket count driven to the 32-bit limit (TIDAL__COUNT32_MAX: UINT32_MAX, or lower in
   test_flat_spill) and past it: the level goes wide, every window counts exactly, and a
   snapshot round-trip (the canonical encoding) keeps the count. With weight 1 the levels
   start in the 8-byte unit form (a sum is its count, so the setter moves both) and go
   wide from it; with weight 2 they start narrow (the setter leaves the sums alone). */
static void count_spill_case(double weight) {
    flat_fx f;
    char dir[] = "/tmp/tidal_flat_XXXXXX";
    tidal_signal s;
    tidal_signal_stats st;
    tidal__entity *e;
    tidal__sig *g;
    uint8_t before[32], after[32];
    const uint64_t lim = (uint64_t)TIDAL__COUNT32_MAX;
    int l, k;
    TT_CHECK(mkdtemp(dir) != NULL);
    ff_open(&f, 21);
    tidal_db_close(f.db);
    f.cfg.path = dir;
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.item = 5;
    s.type = 0; /* view: every window, so every level */
    s.weight = weight;
    s.time_ns = T0 - 10 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    e = tidal__ent_find(f.db, 0, 5);
    TT_CHECK(e && e->sigs && e->sigs[0]);
    if (!e || !e->sigs || !e->sigs[0]) return;
    g = e->sigs[0];
    /* White-box setter: as if lim - 2 more events had landed in the same buckets. */
    for (l = 0; l < TIDAL__LVLS; l++) {
        tidal__bvec v = tidal__lvl(g, l);
        TT_CHECK(v.n == 1 && !v.wide && tidal__bk_count(&v, 0) == 1);
        TT_CHECKF(v.unit == (weight == 1.0), "level %d unit %d", l, v.unit);
        if (v.unit) tidal__bk_u(&v)[0].count = (uint32_t)(lim - 1);
        else v.b[0].count = (uint32_t)(lim - 1);
    }
    g->count_pos = lim - 1;
    for (k = 0; k < 3; k++) { /* lim - 1 -> lim -> lim + 1 (spills) -> lim + 2 */
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    }
    for (l = 0; l < TIDAL__LVLS; l++) {
        tidal__bvec v = tidal__lvl(g, l);
        TT_CHECKF(v.wide, "level %d did not go wide", l);
        TT_CHECKF(tidal__bk_count(&v, 0) == lim + 2, "level %d count %llu", l,
                  (unsigned long long)tidal__bk_count(&v, 0));
    }
    TT_EQ_INT(tidal_signal_read(f.db, 0, 5, 0, NULL, T0, &st), TIDAL_OK);
    for (k = 0; k < 4; k++)
        TT_CHECKF(st.count[k] == lim + 2, "window %d: %llu, want %llu", k,
                  (unsigned long long)st.count[k], (unsigned long long)(lim + 2));
    TT_CHECK(st.count[TIDAL_W_ALL] == lim + 2 && st.windows_partial == 0);
    if (weight == 1.0) TT_NEAR(st.weight[0], (double)(lim + 2), 1e-9); /* a sum is its count */
    else TT_NEAR(st.weight[0], 4.0 * weight, 1e-9); /* the setter left the sums alone */
    /* A new bucket on a wide level, and retirement on it, keep the high parts aligned. */
    s.time_ns = T0 + 2 * 86400 * TIDAL_NS_PER_S; /* past the 1 h and 24 h levels' reach */
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 5, 0, NULL, s.time_ns, &st), TIDAL_OK);
    TT_CHECK(st.count[0] == 1 && st.count[1] == 1);
    TT_CHECK(st.count[2] == lim + 3 && st.count[3] == lim + 3); /* 7 d, 30 d: both buckets */
    TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, before), TIDAL_OK);
    TT_EQ_INT(tidal_db_snapshot(f.db), TIDAL_OK);
    tidal_db_close(f.db);
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, after), TIDAL_OK);
    TT_CHECK(!memcmp(before, after, 32));
    TT_EQ_INT(tidal_signal_read(f.db, 0, 5, 0, NULL, s.time_ns, &st), TIDAL_OK);
    TT_CHECK(st.count[2] == lim + 3 && st.count[3] == lim + 3);
    e = tidal__ent_find(f.db, 0, 5);
    TT_CHECK(e && e->sigs && e->sigs[0] && tidal__lvl(e->sigs[0], TIDAL__LVL_DAY).wide);
    tidal_db_close(f.db);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        TT_CHECK(system(cmd) == 0);
    }
}

static void test_count_spill_at_limit(void) {
    count_spill_case(1.0);
    count_spill_case(2.0);
}

/* A unit level (every event of weight 1) whose bucket holds 2^23 events has a sum of
   2^63 in fixed point: an event of weight 2 cannot take it to the narrow form (the sum
   leaves the int64 range), so the level goes wide, and the sums, counts and a snapshot
   round-trip stay exact. Skipped in test_flat_spill (a unit count stops at its limit). */
static void test_unit_to_wide(void) {
#if TIDAL__COUNT32_MAX >= (UINT64_C(1) << 24)
    flat_fx f;
    char dir[] = "/tmp/tidal_flat_XXXXXX";
    tidal_signal s;
    tidal_signal_stats st;
    tidal__entity *e;
    tidal__sig *g;
    uint8_t before[32], after[32];
    const uint64_t big = UINT64_C(1) << 23;
    int l;
    TT_CHECK(mkdtemp(dir) != NULL);
    ff_open(&f, 23);
    tidal_db_close(f.db);
    f.cfg.path = dir;
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.item = 6;
    s.type = 0;
    s.weight = 1.0;
    s.time_ns = T0 - 10 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    e = tidal__ent_find(f.db, 0, 6);
    TT_CHECK(e && e->sigs && e->sigs[0]);
    if (!e || !e->sigs || !e->sigs[0]) return;
    g = e->sigs[0];
    for (l = 0; l < TIDAL__LVLS; l++) { /* white-box: as if big - 1 more had landed */
        tidal__bvec v = tidal__lvl(g, l);
        TT_CHECKF(v.unit && v.n == 1, "level %d unit %d n %u", l, v.unit, v.n);
        if (v.unit) tidal__bk_u(&v)[0].count = (uint32_t)big;
    }
    g->count_pos = big;
    g->w_pos = tidal__fx_count(big);
    s.weight = 2.0; /* 5 minutes earlier: a new minute bucket beside the full one, the
                       same hour and day buckets as it */
    s.time_ns = T0 - 310 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    for (l = 0; l < TIDAL__LVLS; l++) {
        tidal__bvec v = tidal__lvl(g, l);
        TT_CHECKF(v.wide && !v.unit, "level %d wide %d unit %d", l, v.wide, v.unit);
        TT_CHECKF(v.n == (l == TIDAL__LVL_MIN ? 2 : 1), "level %d n %u", l, v.n);
    }
    TT_EQ_INT(tidal_signal_read(f.db, 0, 6, 0, NULL, T0, &st), TIDAL_OK);
    for (l = 0; l < 4; l++) {
        TT_CHECKF(st.count[l] == big + 1, "window %d count %llu", l,
                  (unsigned long long)st.count[l]);
        TT_NEAR(st.weight[l], (double)big + 2.0, 0.0);
    }
    s.weight = 1.0; /* a wide level stays wide */
    TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 6, 0, NULL, T0, &st), TIDAL_OK);
    TT_CHECK(st.count[0] == big + 2 && st.weight[0] == (double)big + 3.0);
    TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, before), TIDAL_OK);
    TT_EQ_INT(tidal_db_snapshot(f.db), TIDAL_OK);
    tidal_db_close(f.db);
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, after), TIDAL_OK);
    TT_CHECK(!memcmp(before, after, 32));
    e = tidal__ent_find(f.db, 0, 6);
    TT_CHECK(e && e->sigs && e->sigs[0] && tidal__lvl(e->sigs[0], TIDAL__LVL_MIN).wide);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 6, 0, NULL, T0, &st), TIDAL_OK);
    TT_CHECK(st.count[0] == big + 2 && st.weight[0] == (double)big + 3.0);
    tidal_db_close(f.db);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        TT_CHECK(system(cmd) == 0);
    }
#endif
}

/* Weight sums past the int64 range of a narrow bucket (16 bytes: the sum's low 64 bits):
   +1e6 twelve times in one bucket is 1.2e7 * 2^40 units > 2^63, likewise -1e6 on a negative
   type, and a sum that goes past the limit and back to 0. The levels go wide, every window
   weight is exact, and the digest (pinned with the code of commit b240e76, whose buckets
   held 128-bit sums) survives a snapshot round-trip and more writes on the wide levels. */
#define PIN_W_ALL "e5e0fb9ec4f4837ed93f7d89b6f88ee4433f53dbd5cca449b0a361159bdd26a1"
#define PIN_W_READS UINT64_C(0xb13a371d2de592a1)

static void ff_burst(flat_fx *f, tidal_id item, uint32_t type, double w, int n, int64_t t) {
    tidal_signal s;
    int i;
    memset(&s, 0, sizeof s);
    s.item = item;
    s.type = type;
    s.weight = w;
    s.time_ns = t;
    for (i = 0; i < n; i++) TT_EQ_INT(tidal_signal_write(f->db, &s, NULL), TIDAL_OK);
}

static void test_weight_spill_past_int64(void) {
    flat_fx f;
    char dir[] = "/tmp/tidal_flat_XXXXXX";
    tidal_signal_stats st;
    tidal__entity *e;
    uint64_t h;
    int l;
    TT_CHECK(mkdtemp(dir) != NULL);
    ff_open(&f, 23);
    tidal_db_close(f.db);
    f.cfg.path = dir;
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    ff_burst(&f, 9, 0, 1e6, 12, T0 - 10 * TIDAL_NS_PER_S);
    ff_burst(&f, 10, 3, -1e6, 12, T0 - 20 * TIDAL_NS_PER_S);
    ff_burst(&f, 11, 0, 1e6, 10, T0 - 30 * TIDAL_NS_PER_S);
    ff_burst(&f, 11, 0, -1e6, 10, T0 - 30 * TIDAL_NS_PER_S);
    ff_burst(&f, 11, 0, 0.5, 1, T0 - 30 * TIDAL_NS_PER_S);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 9, 0, NULL, T0, &st), TIDAL_OK);
    TT_CHECKF(st.weight[0] == 1.2e7 && st.weight[3] == 1.2e7, "item 9: %.17g %.17g",
              st.weight[0], st.weight[3]);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 10, 3, NULL, T0, &st), TIDAL_OK);
    TT_CHECKF(st.weight[0] == -1.2e7 && st.count[0] == 12, "item 10: %.17g", st.weight[0]);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 11, 0, NULL, T0, &st), TIDAL_OK);
    TT_CHECKF(st.weight[0] == 0.5 && st.count[0] == 21, "item 11: %.17g", st.weight[0]);
#ifdef TIDAL__BK_WIDE_BYTES /* the 16-byte bucket layout: white-box */
    e = tidal__ent_find(f.db, 0, 9);
    TT_CHECK(e && e->sigs && e->sigs[0]);
    for (l = 0; e && e->sigs && e->sigs[0] && l < TIDAL__LVLS; l++)
        TT_CHECKF(tidal__lvl(e->sigs[0], l).wide, "item 9 level %d did not go wide", l);
    e = tidal__ent_find(f.db, 0, 10);
    TT_CHECK(e && e->sigs && e->sigs[3] && tidal__lvl(e->sigs[3], TIDAL__LVL_MIN).wide);
#else
    (void)e;
    (void)l;
#endif
    /* a new bucket on each wide level, older ones retiring, then the round trip */
    ff_burst(&f, 9, 0, 2.0, 3, T0 + 3 * 86400 * TIDAL_NS_PER_S);
    ff_burst(&f, 9, 0, -1e6, 9, T0 + 3 * 86400 * TIDAL_NS_PER_S);
    TT_EQ_INT(tidal_db_snapshot(f.db), TIDAL_OK);
    tidal_db_close(f.db);
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    ff_burst(&f, 9, 0, -1e6, 9, T0 + 3 * 86400 * TIDAL_NS_PER_S);
    ff_burst(&f, 10, 3, -1e6, 1, T0 - 20 * TIDAL_NS_PER_S);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 9, 0, NULL, T0 + 3 * 86400 * TIDAL_NS_PER_S, &st),
              TIDAL_OK);
    TT_CHECKF(st.weight[0] == -1.8e7 + 6.0 && st.count[0] == 21, "item 9 after: %.17g",
              st.weight[0]);
    check_digest(f.db, TIDAL_ALL_TENANTS, PIN_W_ALL, "W all");
    h = ff_reads(&f, 12);
    printf("  W reads: 0x%016llx\n", (unsigned long long)h);
    TT_CHECKF(h == PIN_W_READS, "W reads 0x%016llx", (unsigned long long)h);
    tidal_db_close(f.db);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        TT_CHECK(system(cmd) == 0);
    }
}

/* An allocator that counts calls. */
typedef struct count_alloc {
    uint64_t calls;
} count_alloc;

static void *ca_alloc(void *user, size_t size) {
    ((count_alloc *)user)->calls++;
    return malloc(size);
}
static void *ca_realloc(void *user, void *p, size_t old_size, size_t new_size) {
    (void)old_size;
    ((count_alloc *)user)->calls++;
    return realloc(p, new_size);
}
static void ca_free(void *user, void *p, size_t size) {
    (void)user;
    (void)size;
    free(p);
}

static void ff_hourly(flat_fx *f, uint32_t items, int64_t from_h, int64_t to_h) {
    static const tidal_tag tag = {"locale", "EU"};
    tidal_signal s;
    int64_t h;
    uint32_t i;
    memset(&s, 0, sizeof s);
    s.weight = 1.0;
    for (h = from_h; h < to_h; h++) {
        for (i = 1; i <= items; i++) {
            s.item = i;
            s.type = (uint32_t)(h + i) % 5;
            s.time_ns = T0 + h * 3600 * TIDAL_NS_PER_S + (int64_t)i * TIDAL_NS_PER_S;
            s.user = 5000 + i % 7;
            s.cohort = &tag;
            s.cohort_count = 1;
            TT_EQ_INT(tidal_signal_write(f->db, &s, NULL), TIDAL_OK);
        }
    }
}

/* After warm-up (35 days of hourly writes on 20 items: every level and epoch list at its
   steady length) 10 more days of writes allocate nothing; then 3000 new items cost a few
   arena blocks, not allocations per item (the old layout made 5+ per new item). */
static void test_steady_state_allocations(void) {
    flat_fx f;
    count_alloc ca = {0};
    tidal_allocator a;
    tidal_signal s;
    uint64_t c0;
    uint32_t i;
    a.user = &ca;
    a.alloc = ca_alloc;
    a.realloc = ca_realloc;
    a.free = ca_free;
    ff_open(&f, 22);
    tidal_db_close(f.db);
    f.cfg.allocator = &a;
    f.clock.now_ns = T0 + 60 * 86400 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    ff_hourly(&f, 20, 0, 35 * 24);
    c0 = ca.calls;
    ff_hourly(&f, 20, 35 * 24, 45 * 24);
    printf("  allocator calls in 4800 steady-state writes: %llu\n",
           (unsigned long long)(ca.calls - c0));
    TT_CHECKF(ca.calls == c0, "%llu allocator calls on the steady-state path",
              (unsigned long long)(ca.calls - c0));
    c0 = ca.calls;
    memset(&s, 0, sizeof s);
    s.weight = 1.0;
    s.time_ns = T0 + 45 * 86400 * TIDAL_NS_PER_S;
    for (i = 0; i < 3000; i++) {
        s.item = 100000 + i;
        s.type = i % 2;
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    }
    printf("  allocator calls for 3000 new items: %llu\n", (unsigned long long)(ca.calls - c0));
    TT_CHECKF(ca.calls - c0 <= 60, "%llu allocator calls for 3000 new items",
              (unsigned long long)(ca.calls - c0));
    tidal_db_close(f.db);
}

/* The replay folds a batch with staged prefetch hints (tidal__apply_prefetch_batch): stage s
   of the event TIDAL__PF_STAGES - s ahead runs before each fold, reading the state as the
   folds before it left it. Batches here hold thousands of events that create items, cohort
   aggregates and users, interleaved with deletes and forgets of the same ids (their
   records and seen sets freed, then made again a few events later), so the hints run over
   rows whose arrays come and go. The log replayed at open must give the live state's
   digest (ASan sees any read of freed state). */
static void test_replay_batches_equal_live(void) {
    flat_fx f;
    char dir[] = "/tmp/tidal_flat_XXXXXX";
    uint8_t live[32], replayed[32];
    uint64_t st = 77;
    int b, k;
    ff_open(&f, 17);
    tidal_db_close(f.db);
    TT_CHECK(mkdtemp(dir) != NULL);
    f.cfg.path = dir;
    f.cfg.batch_events_max = TIDAL_BATCH_EVENTS_MAX;
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    for (b = 0; b < 6; b++) {
        TT_EQ_INT(tidal_db_batch_begin(f.db), TIDAL_OK);
        for (k = 0; k < 8; k++) {
            uint64_t x = ff_next(&st);
            ff_workload(&f, x, 300, 40, 3 * 86400);
            TT_EQ_INT(tidal_item_delete(f.db, (x & 1) ? 7 : 0, 1 + (x >> 8) % 40, NULL), TIDAL_OK);
            TT_EQ_INT(tidal_user_forget(f.db, (x & 2) ? 7 : 0, 1000 + (x >> 16) % 37, NULL),
                      TIDAL_OK);
        }
        TT_EQ_INT(tidal_db_commit(f.db), TIDAL_OK);
    }
    TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, live), TIDAL_OK);
    tidal_db_close(f.db);
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    {
        tidal_db_stats ds;
        tidal_db_stats_get(f.db, &ds);
        TT_CHECKF(ds.recovered_events > 6 * 8 * 300, "replayed %llu events",
                  (unsigned long long)ds.recovered_events);
    }
    TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, replayed), TIDAL_OK);
    TT_CHECK(!memcmp(live, replayed, 32));
    tidal_db_close(f.db);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        TT_CHECK(system(cmd) == 0);
    }
}

/* Every stage of tidal__apply_prefetch on events the state does not hold (an empty
   database, an unknown item or user, a type beyond the schema, a cohort value never
   interned, an item whose aggregates a delete freed, a user without a record, a kind that
   is not a signal) reads only live memory (ASan) and changes nothing (the digest). */
static void test_prefetch_stages_any_event(void) {
    static const char *vals[2] = {"EU", "never-written"};
    flat_fx f;
    tidal__event ev;
    uint8_t before[32], after[32];
    uint32_t stage, c;
    int pass;
    ff_open(&f, 19);
    for (pass = 0; pass < 3; pass++) {
        if (pass == 1) ff_workload(&f, 91, 2000, 50, 86400);
        if (pass == 2) { /* item 3's rows stay, their arrays go; user 1001 loses its record */
            TT_EQ_INT(tidal_item_delete(f.db, 0, 3, NULL), TIDAL_OK);
            TT_EQ_INT(tidal_user_forget(f.db, 0, 1001, NULL), TIDAL_OK);
        }
        TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, before), TIDAL_OK);
        for (c = 0; c < 64; c++) {
            memset(&ev, 0, sizeof ev);
            ev.kind = (c & 31) == 31 ? TIDAL__EV_ATTR : TIDAL__EV_SIGNAL;
            ev.tenant = (c & 8) ? 7 : 0;
            ev.entity = c % 5 == 0 ? 999999 : 1 + c % 50;
            ev.other = (c & 1) ? 1000 + c % 40 : 0; /* 1037..1039: never a user */
            ev.type = (c & 7) == 7 ? 5 + c : c % 5;
            ev.time_ns = T0 - (int64_t)c * 60 * TIDAL_NS_PER_S;
            ev.n_cohort = c % 3;
            ev.cohort_key[0] = 0;
            ev.cohort_val[0] = vals[(c >> 2) & 1];
            ev.cohort_len[0] = (uint32_t)strlen(ev.cohort_val[0]);
            ev.cohort_key[1] = 1;
            ev.cohort_val[1] = "gold";
            ev.cohort_len[1] = 4;
            for (stage = 0; stage < TIDAL__PF_STAGES; stage++)
                tidal__apply_prefetch(f.db, &ev, stage);
        }
        TT_EQ_INT(tidal_db_digest(f.db, TIDAL_ALL_TENANTS, after), TIDAL_OK);
        TT_CHECK(!memcmp(before, after, 32));
    }
    tidal_db_close(f.db);
}

static const tt_case tt_cases[] = {
    TT_CASE(test_pinned_many_items),
    TT_CASE(test_pinned_far_epochs),
    TT_CASE(test_pinned_through_snapshot),
    TT_CASE(test_pinned_attrs_sessions_append),
    TT_CASE(test_count_spill_at_limit),
    TT_CASE(test_unit_to_wide),
    TT_CASE(test_weight_spill_past_int64),
    TT_CASE(test_steady_state_allocations),
    TT_CASE(test_replay_batches_equal_live),
    TT_CASE(test_prefetch_stages_any_event),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
