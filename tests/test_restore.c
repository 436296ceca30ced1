/* test_restore.c - tidal__db_restore (>>migration), the cheap clone fuzz targets start every
   input from: a state image (the canonical snapshot body of one handle) decoded into a fresh
   handle without a path. What must hold, over random states (seeded; the seed is printed):
     - the copy has the original's whole-state digest, every tenant's digest and footprint,
       and the same snapshot body byte for byte (state, applied-event index, counters);
     - the copy goes on as the original would: it resumes its own origin after the highest
       sequence of the image, so the next write on each gets the same id, is new on both
       (not a duplicate of an event of the image) and leaves them with equal digests;
     - an image that does not decode is refused, saying why;
     - tidal__state_sums (one encoding: whole digest, tenant digests, body) agrees with
       tidal_db_digest and tidal__snap_body_mem;
     - a drop or install of a tenant the state holds no row of (no rebuild) leaves the
       state the rebuild would have left (the state decoded from its own body). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "../fuzz/fuzz_common.h"

#define TENANTS 3u

/* An ephemeral handle of region 2 (fuzz_common.h's fixture: its schema, a fixed clock, a
   random stream seeded by the region, so its incarnation, its own origin, is the same on
   every open). */
static tidal_db *rs_open(fz_env *e) { return fz_open_at(e, 2); }

/* n random writes of every kind over TENANTS tenants. */
static void rs_fill(tidal_db *db, uint32_t n) {
    static const tidal_tag tags[2] = {{"locale", "en"}, {"tier", "gold"}};
    uint32_t i;
    tidal_id sess[4] = {0, 0, 0, 0};
    for (i = 0; i < n; i++) {
        uint32_t tenant = 1 + (uint32_t)tt_below(TENANTS), k = (uint32_t)tt_below(8);
        tidal_id item = 1 + tt_below(12), user = 100 + tt_below(4);
        tidal_signal s;
        char key[8];
        memset(&s, 0, sizeof s);
        s.tenant = tenant;
        s.item = item;
        s.type = (uint32_t)tt_below(3);
        s.weight = 0.5 + (double)tt_below(8);
        s.time_ns = FZ_NOW - (int64_t)tt_below(40 * 24) * 3600 * TIDAL_NS_PER_S;
        s.user = tt_below(2) ? user : 0;
        s.cohort = tags;
        s.cohort_count = (uint32_t)tt_below(3);
        switch (k) {
        case 0:
        case 1: (void)tidal_signal_write(db, &s, NULL); break;
        case 2: (void)tidal_attr_set(db, tenant, item, tt_below(2) ? "locale" : "creator", "en", NULL); break;
        case 3: (void)tidal_negative_add(db, tenant, user, TIDAL_HIDE, item, NULL); break;
        case 4: (void)tidal_negative_remove(db, tenant, user, TIDAL_HIDE, item, NULL); break;
        case 5:
            if (!sess[tenant]) (void)tidal_session_start(db, tenant, user, 0, &sess[tenant]);
            else (void)tidal_session_note(db, tenant, sess[tenant], 0, "note", NULL);
            break;
        case 6:
            snprintf(key, sizeof key, "k%u", (unsigned)tt_below(5));
            s.idem.key = key;
            s.idem.key_len = (uint32_t)strlen(key);
            s.idem.seq = tt_below(3);
            (void)tidal_signal_write(db, &s, NULL);
            break;
        default: (void)tidal_db_tick(db, FZ_NOW); break;
        }
    }
}

static void rs_same(tidal_db *a, tidal_db *b) {
    uint8_t da[32], db_[32];
    uint64_t fa[3], fb[3];
    uint32_t t;
    TT_EQ_INT(tidal_db_digest(a, TIDAL_ALL_TENANTS, da), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(b, TIDAL_ALL_TENANTS, db_), TIDAL_OK);
    TT_CHECK(!memcmp(da, db_, 32));
    for (t = 0; t <= TENANTS + 1; t++) {
        TT_EQ_INT(tidal_db_digest(a, t, da), TIDAL_OK);
        TT_EQ_INT(tidal_db_digest(b, t, db_), TIDAL_OK);
        TT_CHECKF(!memcmp(da, db_, 32), "tenant %u digest", t);
        TT_EQ_INT(tidal_tenant_footprint(a, t, &fa[0], &fa[1], &fa[2]), TIDAL_OK);
        TT_EQ_INT(tidal_tenant_footprint(b, t, &fb[0], &fb[1], &fb[2]), TIDAL_OK);
        TT_CHECKF(!memcmp(fa, fb, sizeof fa), "tenant %u footprint", t);
    }
}

/* Random states: the copy equals the original and goes on as it would. */
static void t_restore_random_states(void) {
    long cases = 20 * tt_scale(), c;
    for (c = 0; c < cases && TT_OK(); c++) {
        fz_env ea, eb;
        tidal_db *a = rs_open(&ea), *b = rs_open(&eb);
        uint8_t *body, *body2;
        size_t len, cap, len2, cap2;
        tidal_receipt ra, rb;
        tidal_signal s;
        rs_fill(a, 1 + (uint32_t)tt_below(200));
        TT_EQ_INT(tidal__snap_body_mem(a, &body, &len, &cap), TIDAL_OK);
        TT_CHECK(tidal__db_restore(b, body, len) == NULL);
        rs_same(a, b);
        TT_EQ_INT(tidal__snap_body_mem(b, &body2, &len2, &cap2), TIDAL_OK);
        TT_CHECK(len == len2 && !memcmp(body, body2, len));
        tidal__free(a, body, cap);
        tidal__free(b, body2, cap2);
        /* The next write: the same new id on both. */
        memset(&s, 0, sizeof s);
        s.tenant = 1;
        s.item = 999;
        s.weight = 1.0;
        TT_EQ_INT(tidal_signal_write(a, &s, &ra), TIDAL_OK);
        TT_EQ_INT(tidal_signal_write(b, &s, &rb), TIDAL_OK);
        TT_CHECK(!ra.duplicate && !rb.duplicate);
        TT_CHECK(ra.id.hi == rb.id.hi && ra.id.lo == rb.id.lo);
        rs_same(a, b);
        tidal_db_close(a);
        tidal_db_close(b);
    }
}

/* A damaged image is refused with a reason. */
static void t_restore_refuses_damage(void) {
    fz_env ea, eb;
    tidal_db *a = rs_open(&ea), *b = rs_open(&eb);
    uint8_t *body;
    size_t len, cap;
    const char *why;
    rs_fill(a, 50);
    TT_EQ_INT(tidal__snap_body_mem(a, &body, &len, &cap), TIDAL_OK);
    TT_CHECK(len > 8);
    why = tidal__db_restore(b, body, len - 3); /* truncated */
    TT_CHECK(why != NULL && why[0]);
    tidal__free(a, body, cap);
    tidal_db_close(a);
    tidal_db_close(b);
}

/* tidal__state_sums (one encoding for the whole digest, tenant digests and the body) gives
   what tidal_db_digest and tidal__snap_body_mem give, over random states (the first one
   empty), for tenants with content, without (0, TENANTS + 1) and far out (40000). */
static void t_state_sums_random_states(void) {
    static const uint32_t tenants[6] = {0, 1, 2, 3, TENANTS + 1, 40000};
    long cases = 20 * tt_scale(), c;
    for (c = 0; c < cases && TT_OK(); c++) {
        fz_env ea;
        tidal_db *a = rs_open(&ea);
        uint8_t all[32], tdig[6][32], sum[32], d[32], *body, *body2;
        size_t len, cap, len2, cap2;
        uint32_t k;
        if (c) rs_fill(a, 1 + (uint32_t)tt_below(200));
        TT_EQ_INT(tidal__state_sums(a, tenants, 6, tdig, all, sum, &body, &len, &cap), TIDAL_OK);
        TT_EQ_INT(tidal_db_digest(a, TIDAL_ALL_TENANTS, d), TIDAL_OK);
        TT_CHECK(!memcmp(d, all, 32));
        for (k = 0; k < 6; k++) {
            TT_EQ_INT(tidal_db_digest(a, tenants[k], d), TIDAL_OK);
            TT_CHECKF(!memcmp(d, tdig[k], 32), "tenant %u digest", tenants[k]);
        }
        TT_EQ_INT(tidal__snap_body_mem(a, &body2, &len2, &cap2), TIDAL_OK);
        TT_CHECK(len == len2 && !memcmp(body, body2, len));
        tidal_blake3(body2, len2, d);
        TT_CHECK(!memcmp(d, sum, 32));
        tidal__free(a, body, cap);
        tidal__free(a, body2, cap2);
        /* Nothing asked but the whole digest: the same one. */
        TT_EQ_INT(tidal__state_sums(a, NULL, 0, NULL, d, NULL, NULL, NULL, NULL), TIDAL_OK);
        TT_CHECK(!memcmp(d, all, 32));
        tidal_db_close(a);
    }
}

/* A drop of a tenant the state holds no row of skips the rebuild (>>migration): the state
   must be exactly what the rebuild would give - the state as decoded from its own body
   (tidal__db_restore of the body is that rebuild) - and go on alike. An install of a
   tenant new to the state (its first chunk skips the rebuild as well) gives the tenant the
   source's digest and leaves the others as they were. */
static void t_drop_install_absent_tenant(void) {
    long cases = 10 * tt_scale(), c;
    for (c = 0; c < cases && TT_OK(); c++) {
        fz_env ea, eb, es;
        tidal_db *a = rs_open(&ea), *b = rs_open(&eb), *src = fz_open_at(&es, 1);
        uint8_t *body, *blob, da[32], db_[32];
        size_t len, cap, need = 0, blen = 0;
        tidal_receipt rc;
        tidal_signal s;
        uint32_t t;
        rs_fill(a, 1 + (uint32_t)tt_below(200));
        TT_EQ_INT(tidal_tenant_drop(a, 77, 5, &rc), TIDAL_OK);
        TT_CHECK(!rc.duplicate);
        TT_EQ_INT(tidal__snap_body_mem(a, &body, &len, &cap), TIDAL_OK);
        TT_CHECK(tidal__db_restore(b, body, len) == NULL);
        tidal__free(a, body, cap);
        rs_same(a, b);
        /* A tenant new to both: the same copy on each, the others unchanged. */
        memset(&s, 0, sizeof s);
        s.tenant = 88;
        s.item = 5;
        s.weight = 2.0;
        s.time_ns = FZ_NOW;
        TT_EQ_INT(tidal_signal_write(src, &s, NULL), TIDAL_OK);
        TT_EQ_INT(tidal_attr_set(src, 88, 5, "creator", "201", NULL), TIDAL_OK);
        TT_EQ_INT(tidal_tenant_export(src, 88, NULL, 0, &need), TIDAL_ERR_LIMIT);
        blob = (uint8_t *)malloc(need);
        TT_CHECK(blob != NULL);
        if (!blob) break;
        TT_EQ_INT(tidal_tenant_export(src, 88, blob, need, &blen), TIDAL_OK);
        TT_EQ_INT(tidal_tenant_install(a, blob, blen, 9, NULL, NULL), TIDAL_OK);
        TT_EQ_INT(tidal_tenant_install(b, blob, blen, 9, NULL, NULL), TIDAL_OK);
        free(blob);
        rs_same(a, b);
        TT_EQ_INT(tidal_db_digest(src, 88, da), TIDAL_OK);
        TT_EQ_INT(tidal_db_digest(a, 88, db_), TIDAL_OK);
        TT_CHECK(!memcmp(da, db_, 32));
        for (t = 1; t <= TENANTS; t++) { /* what the drop and install left of the others */
            TT_EQ_INT(tidal_db_digest(b, t, da), TIDAL_OK);
            TT_EQ_INT(tidal_db_digest(a, t, db_), TIDAL_OK);
            TT_CHECKF(!memcmp(da, db_, 32), "tenant %u digest", t);
        }
        /* Both go on alike. */
        s.tenant = 1;
        s.item = 999;
        TT_EQ_INT(tidal_signal_write(a, &s, NULL), TIDAL_OK);
        TT_EQ_INT(tidal_signal_write(b, &s, NULL), TIDAL_OK);
        rs_same(a, b);
        tidal_db_close(a);
        tidal_db_close(b);
        tidal_db_close(src);
    }
}

static const tt_case tt_cases[] = {
    TT_CASE(t_restore_random_states),
    TT_CASE(t_restore_refuses_damage),
    TT_CASE(t_state_sums_random_states),
    TT_CASE(t_drop_install_absent_tenant),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
