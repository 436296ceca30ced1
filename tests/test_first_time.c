/* test_first_time.c - time at first contact (issue 11, points 2-4 and the profile lookup):
   plausible event and query times, one meaning for reads at a time before an aggregate's
   newest event (scores and windows against a brute-force model), half-life exactness
   against an analytic sum, no inf or NaN read with success, and tidal_profile_read.
   White-box where it needs to be: it includes the implementation. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "test_env.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S) /* a fixed "now" in 2026 */
#define H_NS (3600 * TIDAL_NS_PER_S)
#define MIN_NS (60 * TIDAL_NS_PER_S)

static void hex32(const uint8_t d[32], char out[65]) {
    int i;
    for (i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---- whole-nanosecond half-lives keep their exact bits ----------------------------------
   The digests below were taken from the code before half-lives were kept exact (base commit
   8b1f659): whole-ns half-lives must still fold every event into the very same accumulators,
   epochs and buckets. A fixed stream (not the case seed: the digest is pinned). */

static void pin_run(int which, char out[65]) {
    static const double hl[6] = {3600.0, 1.0, 0.5, 1.5, 7e-9, 3.2e8};
    tidal_signal_def sigs[7];
    tidal_env env;
    test_clock clock;
    tidal_config cfg;
    tidal_db *db;
    uint8_t d[32];
    uint64_t rng = 0x5eed0000u + (uint64_t)which;
    int i;
    memset(sigs, 0, sizeof sigs);
    for (i = 0; i < 6; i++) {
        static const char *names[6] = {"h3600", "h1", "h05", "h15", "h7ns", "hmax"};
        sigs[i].name = names[i];
        sigs[i].half_life_s = hl[i];
        sigs[i].windows = (uint32_t)i % 2 ? TIDAL_WINDOW_1H | TIDAL_WINDOW_7D : 0;
    }
    sigs[6].name = "perm";
    sigs[6].permanent = 1;
    memset(&cfg, 0, sizeof cfg);
    test_env_make(&env, &clock, T0, 1);
    cfg.env = &env;
    cfg.schema.signals = sigs;
    cfg.schema.signal_count = 7;
    TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
    for (i = 0; i < 3000; i++) {
        tidal_signal s;
        uint64_t r = tt_next(&rng);
        memset(&s, 0, sizeof s);
        s.item = 1 + r % 13;
        s.type = (uint32_t)((r >> 8) % 7);
        s.weight = (double)((int64_t)((r >> 16) % 2001) - 700) / 16.0;
        /* Ages from a few ns (the 7 ns type) up to 40 days, and up to 50 s ahead. */
        switch ((r >> 32) % 4) {
        case 0: s.time_ns = T0 - (int64_t)(tt_next(&rng) % 200); break;
        case 1: s.time_ns = T0 - (int64_t)(tt_next(&rng) % (40 * 86400 * TIDAL_NS_PER_S)); break;
        case 2: s.time_ns = T0 - (int64_t)(tt_next(&rng) % (90 * TIDAL_NS_PER_S)); break;
        default: s.time_ns = T0 + (int64_t)(tt_next(&rng) % (50 * TIDAL_NS_PER_S)); break;
        }
        TT_EQ_INT(tidal_signal_write(db, &s, NULL), TIDAL_OK);
    }
    TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, d), TIDAL_OK);
    hex32(d, out);
    tidal_db_close(db);
}

static void t_pinned_whole_ns_digests(void) {
    static const char *want[3] = {
        "ac93657f4ea93f7efd75d3cd9c56be65f230335b58c0949b128efa2dd9b6cb22",
        "f995d6354343f4adb2718cb50d7ed96fb3e70d11ada10e15a05e15690d08b2f2",
        "fc76c157237f3a5a94dd4550bdf1ca901c3c13f4ce9adb09f9a247d533fd0c16"};
    char got[65];
    int i;
    for (i = 0; i < 3; i++) {
        pin_run(i, got);
        printf("  digest %d: %s\n", i, got);
        TT_CHECKF(!strcmp(got, want[i]), "run %d: digest %s, pinned %s", i, got, want[i]);
    }
}


/* ---- a small fixture: one db, types chosen per test ------------------------------------- */

typedef struct fix {
    tidal_env env;
    test_clock clock;
    tidal_config cfg;
    tidal_db *db;
} fix;

static tidal_result fix_open(fix *f, const tidal_signal_def *sigs, uint32_t n,
                             const tidal_profile_def *prof, uint32_t n_prof, int64_t now,
                             int64_t time_min_ns) {
    memset(f, 0, sizeof *f);
    test_env_make(&f->env, &f->clock, now, tt_seed());
    f->cfg.env = &f->env;
    f->cfg.schema.signals = sigs;
    f->cfg.schema.signal_count = n;
    f->cfg.schema.profiles = prof;
    f->cfg.schema.profile_count = n_prof;
    f->cfg.time_min_ns = time_min_ns;
    f->cfg.retrieve_limit_max = 5000;
    return tidal_db_open(&f->cfg, &f->db);
}

static tidal_result put(tidal_db *db, tidal_id item, uint32_t type, double w, int64_t t) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.item = item;
    s.type = type;
    s.weight = w;
    s.time_ns = t;
    return tidal_signal_write(db, &s, NULL);
}

static int has(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* ---- point 2: times in the wrong unit are refused, naming the unit ---------------------- */

static void t_time_units_refused(void) {
    static const int64_t secs = INT64_C(1733500000); /* 2024-12-06 in seconds */
    tidal_signal_def sig[1] = {{"view", 3600.0, 0, 0, 0}};
    tidal_profile_term term[1] = {{"view", 1.0}};
    tidal_profile_def prof[1] = {{"hot", term, 1}};
    tidal_signal_stats st;
    tidal_hit hits[4];
    tidal_query q;
    tidal_signal s;
    tidal_id sess;
    uint32_t n;
    double score;
    char text[160];
    fix f;
    TT_EQ_INT(fix_open(&f, sig, 1, prof, 1, T0, 0), TIDAL_OK);
    TT_EQ_INT(put(f.db, 1, 0, 1.0, T0), TIDAL_OK);
    /* Event times: seconds, milliseconds, microseconds, and ns before 2000. */
    TT_EQ_INT(put(f.db, 1, 0, 1.0, secs), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "1733500000 looks like seconds; tidal takes nanoseconds since "
                                       "the epoch"), "%s", tidal_errmsg(f.db));
    TT_EQ_INT(put(f.db, 1, 0, 1.0, secs * 1000), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "looks like milliseconds"), "%s", tidal_errmsg(f.db));
    TT_EQ_INT(put(f.db, 1, 0, 1.0, secs * 1000000), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "looks like microseconds"), "%s", tidal_errmsg(f.db));
    TT_EQ_INT(put(f.db, 1, 0, 1.0, TIDAL_TIME_MIN_DEFAULT_NS - 1), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "before config.time_min_ns"), "%s", tidal_errmsg(f.db));
    TT_EQ_INT(put(f.db, 1, 0, 1.0, TIDAL_TIME_MIN_DEFAULT_NS), TIDAL_OK);
    /* Sessions: the start given to session_open and a session signal's time. */
    TT_EQ_INT(tidal_session_open(f.db, 0, 77, 5, secs, 0), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "looks like seconds"), "%s", tidal_errmsg(f.db));
    TT_EQ_INT(tidal_session_start(f.db, 0, 5, 0, &sess), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.item = 2;
    s.weight = 1.0;
    s.time_ns = secs * 1000;
    TT_EQ_INT(tidal_session_signal(f.db, sess, 1, &s, NULL), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "looks like milliseconds"), "%s", tidal_errmsg(f.db));
    s.time_ns = T0;
    TT_EQ_INT(tidal_session_signal(f.db, sess, 1, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_db_tick(f.db, secs), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_db_tick(f.db, T0), TIDAL_OK);
    /* Reads: signal_read, profile_read, the typed query and the text form's AT. */
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, secs, &st), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "looks like seconds"), "%s", tidal_errmsg(f.db));
    TT_EQ_INT(tidal_profile_read(f.db, 0, 1, 0, NULL, secs, &score, NULL), TIDAL_ERR_INVALID);
    memset(&q, 0, sizeof q);
    q.limit = 4;
    q.time_ns = secs * 1000000;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "looks like microseconds"), "%s", tidal_errmsg(f.db));
    snprintf(text, sizeof text, "RETRIEVE items SIGNAL view LIMIT 4 AT %lld", (long long)secs);
    TT_EQ_INT(tidal_retrieve_text(f.db, text, hits, 4, &n, NULL), TIDAL_ERR_INVALID);
    TT_CHECKF(has(tidal_errmsg(f.db), "AT") && has(tidal_errmsg(f.db), "looks like seconds"), "%s",
              tidal_errmsg(f.db));
    snprintf(text, sizeof text, "RETRIEVE items PROFILE hot LIMIT 4 AT %lld", (long long)T0);
    TT_EQ_INT(tidal_retrieve_text(f.db, text, hits, 4, &n, NULL), TIDAL_OK);
    TT_EQ_INT(n, 2);
    tidal_db_close(f.db);
    /* A negative time_min_ns turns the check off, for synthetic clocks near 0. */
    TT_EQ_INT(fix_open(&f, sig, 1, NULL, 0, 1000, -1), TIDAL_OK);
    TT_EQ_INT(put(f.db, 1, 0, 1.0, 500), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, 900, &st), TIDAL_OK);
    TT_EQ_INT(st.count[TIDAL_W_ALL], 1);
    tidal_db_close(f.db);
}

/* ---- no read returns inf or NaN with success -------------------------------------------- */

static void t_no_inf_or_nan(void) {
    tidal_signal_def sig[2] = {{"fast", 1.0, 0, 0, 0}, {"buy", 0.0, 0, 1, 0}};
    tidal_profile_term terms[2] = {{"fast", 1.0}, {"buy", 1e305}};
    tidal_profile_def prof[2] = {{"blend", terms, 1}, {"huge", terms + 1, 1}};
    tidal_signal_stats st;
    tidal_hit hits[8];
    tidal_query q;
    uint32_t n;
    double score, parts[2];
    char text[160];
    fix f;
    /* The case: AT given in seconds (allowed here: no minimum) read as inf. */
    TT_EQ_INT(fix_open(&f, sig, 2, prof, 2, T0, -1), TIDAL_OK);
    TT_EQ_INT(put(f.db, 1, 0, 1.0, T0), TIDAL_OK);
    TT_EQ_INT(put(f.db, 2, 0, 1.0, T0 - 5 * TIDAL_NS_PER_S), TIDAL_OK);
    TT_EQ_INT(put(f.db, 2, 0, -1.0, T0 - 5 * TIDAL_NS_PER_S), TIDAL_OK); /* an exact zero */
    TT_EQ_INT(put(f.db, 3, 1, 1e6, T0), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, T0 / TIDAL_NS_PER_S, &st), TIDAL_ERR_RANGE);
    TT_CHECKF(has(tidal_errmsg(f.db), "does not fit a double"), "%s", tidal_errmsg(f.db));
    /* Plausible, but 2000 half-lives before the event: 2^2000 overflows. */
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, T0 - 2000 * TIDAL_NS_PER_S, &st),
              TIDAL_ERR_RANGE);
    TT_CHECKF(has(tidal_errmsg(f.db), "half-lives before"), "%s", tidal_errmsg(f.db));
    /* 1030 half-lives: 2^1030 alone overflows, 2^-40-scaled sums need not: still exact. */
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, T0 - 1020 * TIDAL_NS_PER_S, &st), TIDAL_OK);
    TT_CHECK(isfinite(st.score) && fabs(st.score / ldexp(1.0, 1020) - 1.0) < 1e-12);
    /* An accumulator of exactly 0 read far before is 0, not 0 * inf. */
    TT_EQ_INT(tidal_signal_read(f.db, 0, 2, 0, NULL, T0 - 3000 * TIDAL_NS_PER_S, &st), TIDAL_OK);
    TT_CHECK(st.score == 0.0);
    /* Far after: underflows to 0, fine. */
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, T0 + 5000 * TIDAL_NS_PER_S, &st), TIDAL_OK);
    TT_CHECK(st.score == 0.0);
    /* RETRIEVE (typed and text, signal and profile) and profile_read refuse the same. */
    memset(&q, 0, sizeof q);
    q.limit = 8;
    q.time_ns = T0 - 2000 * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 8, &n, NULL), TIDAL_ERR_RANGE);
    TT_EQ_INT(n, 0);
    q.rank_kind = TIDAL_QUERY_PROFILE;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 8, &n, NULL), TIDAL_ERR_RANGE);
    snprintf(text, sizeof text, "RETRIEVE items SIGNAL fast LIMIT 8 AT %lld", (long long)(T0 / TIDAL_NS_PER_S));
    TT_EQ_INT(tidal_retrieve_text(f.db, text, hits, 8, &n, NULL), TIDAL_ERR_RANGE);
    TT_EQ_INT(tidal_profile_read(f.db, 0, 1, 0, NULL, q.time_ns, &score, parts), TIDAL_ERR_RANGE);
    /* A profile blend that overflows with finite parts: 1e305 * 1e6. */
    TT_EQ_INT(tidal_profile_read(f.db, 0, 3, 1, NULL, T0, &score, parts), TIDAL_ERR_RANGE);
    q.rank_index = 1;
    q.time_ns = T0;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 8, &n, NULL), TIDAL_ERR_RANGE);
    TT_CHECKF(has(tidal_errmsg(f.db), "does not fit a double"), "%s", tidal_errmsg(f.db));
    /* And at a reasonable t everything answers. */
    q.rank_index = 0;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 8, &n, NULL), TIDAL_OK);
    TT_EQ_INT(n, 2);
    tidal_db_close(f.db);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_time_units_refused),
    TT_CASE(t_no_inf_or_nan),
    TT_CASE(t_pinned_whole_ns_digests),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
