/* test_restore.c - tidal__db_restore (>>migration), the cheap clone fuzz targets start every
   input from: a state image (the canonical snapshot body of one handle) decoded into a fresh
   handle without a path. What must hold, over random states (seeded; the seed is printed):
     - the copy has the original's whole-state digest, every tenant's digest and footprint,
       and the same snapshot body byte for byte (state, applied-event index, counters);
     - the copy goes on as the original would: it resumes its own origin after the highest
       sequence of the image, so the next write on each gets the same id, is new on both
       (not a duplicate of an event of the image) and leaves them with equal digests;
     - an image that does not decode is refused, saying why. */
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

static const tt_case tt_cases[] = {
    TT_CASE(t_restore_random_states),
    TT_CASE(t_restore_refuses_damage),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
