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

static void pin_run(int which, char out[65], uint64_t *fp) {
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
    *fp = db->schema.schema_fp; /* the fingerprint of the whole schema */
    tidal_db_close(db);
}

static void t_pinned_whole_ns_digests(void) {
    static const char *want[3] = {
        "ac93657f4ea93f7efd75d3cd9c56be65f230335b58c0949b128efa2dd9b6cb22",
        "f995d6354343f4adb2718cb50d7ed96fb3e70d11ada10e15a05e15690d08b2f2",
        "fc76c157237f3a5a94dd4550bdf1ca901c3c13f4ce9adb09f9a247d533fd0c16"};
    char got[65];
    uint64_t fp;
    int i;
    for (i = 0; i < 3; i++) {
        pin_run(i, got, &fp);
        printf("  digest %d: %s, schema fingerprint %016llx\n", i, got, (unsigned long long)fp);
        TT_CHECKF(!strcmp(got, want[i]), "run %d: digest %s, pinned %s", i, got, want[i]);
        /* The fingerprint the log and snapshots carry: whole-ns schemas open as before. */
        TT_CHECK(fp == UINT64_C(0xfe2c969287f969bb));
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
    TT_CHECKF(has(tidal_errmsg(f.db), "1733500000 looks like seconds; tidal takes nanoseconds "
                                       "since the epoch"), "%s", tidal_errmsg(f.db));
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
    /* The issue's case: AT given in seconds (allowed here: no minimum) read as inf. */
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
    snprintf(text, sizeof text, "RETRIEVE items SIGNAL fast LIMIT 8 AT %lld",
             (long long)(T0 / TIDAL_NS_PER_S));
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

/* ---- point 3: one meaning for a read at t, against a brute-force model -------------------
   The documented meaning (manual 3): the score at t is the formula over every event held
   (epochs: the newest and the four before it), events after t included; a window is the
   bucket rule over the buckets a level keeps (those above floor(newest / B) - keep), and it
   is flagged partial exactly when the window reaches below that line and events were left
   there; an unflagged window equals the rule over all events. */

typedef struct mev {
    tidal_id item;
    uint32_t type;
    int64_t t;
    double w;
} mev;

#define M_TYPES 7
#define M_EVENTS 90

static uint64_t m_reads_before, m_partial, m_range; /* what the model run exercised */

static const tidal_signal_def m_sigs[M_TYPES] = {
    {"all", 3600.0, 0, 0, 0},
    {"w1h", 600.0, TIDAL_WINDOW_1H, 0, 0},
    {"w24", 86400.0, TIDAL_WINDOW_24H, 0, 0},
    {"w24_30", 7200.0, TIDAL_WINDOW_24H | TIDAL_WINDOW_30D, 0, 0},
    {"w7d", 172800.0, TIDAL_WINDOW_7D, 0, 0},
    {"w30", 1e6, TIDAL_WINDOW_30D, 0, 0},
    {"perm", 0.0, 0, 1, 0}};

static int64_t m_keep(uint32_t windows, int lvl) {
    if (!windows) windows = 0x1F;
    if (lvl == 0) return (windows & TIDAL_WINDOW_1H) ? 60 : 0;
    if (lvl == 1) return (windows & TIDAL_WINDOW_7D) ? 168 : (windows & TIDAL_WINDOW_24H) ? 24 : 0;
    return (windows & TIDAL_WINDOW_30D) ? 30 : 0;
}

static int64_t m_fdiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && (a < 0)); }

/* Checks one read of (item, type) at t against the model; returns 0 on a mismatch. */
static int m_check(tidal_db *db, const mev *ev, int n_ev, tidal_id item, uint32_t type,
                   int64_t t) {
    static const int lvl_of[4] = {0, 1, 1, 2};
    static const int64_t n_of[4] = {60, 24, 168, 30}, b_ns[3] = {MIN_NS, H_NS, 24 * H_NS};
    static const double secs[4] = {3600.0, 86400.0, 604800.0, 2592000.0};
    const tidal_signal_def *d = &m_sigs[type];
    uint32_t windows = d->windows ? d->windows : 0x1F;
    long double hl = (long double)d->half_life_s * 1e9L, score = 0, mag = 0;
    int64_t tmax = INT64_MIN, emax = INT64_MIN;
    int64_t epoch = d->permanent ? 1 : (int64_t)llround(d->half_life_s * 1e9) * 16;
    double wsum = 0;
    uint64_t total = 0;
    tidal_signal_stats st;
    tidal_result r;
    int i, w;
    for (i = 0; i < n_ev; i++)
        if (ev[i].item == item && ev[i].type == type) {
            if (ev[i].t > tmax) tmax = ev[i].t;
            if (!d->permanent && m_fdiv(ev[i].t, epoch) > emax) emax = m_fdiv(ev[i].t, epoch);
            total++;
            wsum += ev[i].w;
        }
    for (i = 0; i < n_ev; i++)
        if (ev[i].item == item && ev[i].type == type) {
            long double term = ev[i].w;
            if (!d->permanent) {
                if (m_fdiv(ev[i].t, epoch) < emax - 4) continue; /* epoch retired */
                term *= exp2l((long double)(ev[i].t - t) / hl);
            }
            score += term;
            mag += fabsl(term);
        }
    r = tidal_signal_read(db, 0, item, type, NULL, t, &st);
    if (total && t < tmax) m_reads_before++;
    if (r == TIDAL_ERR_RANGE) m_range++;
    if (r == TIDAL_OK && st.windows_partial) m_partial++;
    if (mag > 1e300L || fabsl(score) > 1e300L) { /* near or past the double range */
        TT_CHECKF(r == TIDAL_OK ? isfinite(st.score) : r == TIDAL_ERR_RANGE, "r %d", (int)r);
        if (fabsl(score) > 1.8e308L) TT_EQ_INT(r, TIDAL_ERR_RANGE);
        return TT_OK();
    }
    TT_EQ_INT(r, TIDAL_OK);
    if (r != TIDAL_OK) return 0;
    TT_CHECKF(fabsl((long double)st.score - score) <= 1e-9L * mag + 1e-300L,
              "item %llu type %s t %lld: score %.17g, model %.17Lg", (unsigned long long)item,
              d->name, (long long)t, st.score, score);
    TT_EQ_INT(st.count[TIDAL_W_ALL], total);
    TT_CHECK(st.weight[TIDAL_W_ALL] == wsum);
    for (w = 0; w < 4; w++) {
        int lvl = lvl_of[w];
        int64_t kt = m_fdiv(t, b_ns[lvl]), kmax = m_fdiv(tmax, b_ns[lvl]);
        int64_t line = kmax - m_keep(d->windows, lvl);
        uint64_t held = 0, rule = 0, below = 0;
        double wheld = 0;
        int partial;
        if (!(windows & (1u << w))) {
            TT_CHECK(st.count[w] == 0 && st.weight[w] == 0 && !(st.windows_partial & (1u << w)));
            continue;
        }
        for (i = 0; i < n_ev; i++) {
            int64_t k;
            if (ev[i].item != item || ev[i].type != type) continue;
            k = m_fdiv(ev[i].t, b_ns[lvl]);
            if (k <= line) below++;
            if (k > kt - n_of[w] && k <= kt) {
                rule++;
                if (k > line) {
                    held++;
                    wheld += ev[i].w;
                }
            }
        }
        partial = kt - n_of[w] < line && below > 0;
        TT_CHECKF(st.count[w] == held && st.weight[w] == wheld,
                  "item %llu type %s window %d t %lld (newest %lld): count %llu weight %g, "
                  "held %llu weight %g", (unsigned long long)item, d->name, w, (long long)t,
                  (long long)tmax, (unsigned long long)st.count[w], st.weight[w],
                  (unsigned long long)held, wheld);
        TT_CHECKF(!!(st.windows_partial & (1u << w)) == partial, "type %s window %d t %lld: "
                  "partial %u, model %d", d->name, w, (long long)t, st.windows_partial, partial);
        if (!(st.windows_partial & (1u << w)))
            TT_CHECKF(st.count[w] == rule, "type %s window %d t %lld (newest %lld): unflagged "
                      "count %llu, the rule says %llu", d->name, w, (long long)t,
                      (long long)tmax, (unsigned long long)st.count[w], (unsigned long long)rule);
        if (t >= tmax) TT_CHECK(!(st.windows_partial & (1u << w)));
        TT_CHECK(st.velocity[w] == (double)st.count[w] / secs[w]);
    }
    return TT_OK();
}

/* The issue's case, by hand: events at T and T + 2h, read at T + 1 min. */
static void t_read_before_newest_issue_case(void) {
    tidal_signal_def sig[1] = {{"view", 3600.0, 0, 0, 0}};
    tidal_signal_stats st;
    int64_t t = T0 - 3 * H_NS;
    fix f;
    TT_EQ_INT(fix_open(&f, sig, 1, NULL, 0, T0, 0), TIDAL_OK);
    TT_EQ_INT(put(f.db, 1, 0, 1.0, t), TIDAL_OK);
    TT_EQ_INT(put(f.db, 1, 0, 1.0, t + 2 * H_NS), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, t + MIN_NS, &st), TIDAL_OK);
    /* The rule says 1 for every window; the minute bucket of T was retired when T + 2h
       arrived, so the 1h window says so instead of silently answering 0. */
    TT_CHECKF(st.count[TIDAL_W_1H] == 1 || (st.windows_partial & TIDAL_WINDOW_1H),
              "1h count %llu with nothing flagged", (unsigned long long)st.count[TIDAL_W_1H]);
    TT_EQ_INT(st.windows_partial, TIDAL_WINDOW_1H);
    TT_EQ_INT(st.count[TIDAL_W_24H], 1);
    TT_EQ_INT(st.count[TIDAL_W_7D], 1);
    /* Day buckets: T + 2h counts too when it falls in the bucket of t (the rule's grain). */
    TT_EQ_INT(st.count[TIDAL_W_30D],
              m_fdiv(t, 24 * H_NS) == m_fdiv(t + 2 * H_NS, 24 * H_NS) ? 2 : 1);
    /* The score at t includes the later event at its formula value: 2^(-1/60) + 2^(119/60). */
    TT_NEAR(st.score, exp2(-1.0 / 60) + exp2(119.0 / 60), 1e-12);
    tidal_db_close(f.db);
}

static void t_read_before_newest_model(void) {
    static mev ev[M_EVENTS];
    int round, rounds = 30 * (int)tt_scale();
    for (round = 0; round < rounds && TT_OK(); round++) {
        static const int64_t spans[4] = {2 * H_NS, 3 * 24 * H_NS, 9 * 24 * H_NS, 45 * 24 * H_NS};
        tidal_signal_def sigs[M_TYPES];
        int64_t span = spans[tt_below(4)], tmin = INT64_MAX, tmax = INT64_MIN;
        int n_ev = 10 + (int)tt_below(M_EVENTS - 10), i, k;
        fix f;
        memcpy(sigs, m_sigs, sizeof sigs);
        TT_EQ_INT(fix_open(&f, sigs, M_TYPES, NULL, 0, T0, 0), TIDAL_OK);
        for (i = 0; i < n_ev; i++) {
            ev[i].item = 1 + tt_below(3);
            ev[i].type = (uint32_t)tt_below(M_TYPES);
            /* Clustered: half the events within a few minutes of the newest. */
            ev[i].t = T0 - (int64_t)(tt_below(2) ? tt_below((uint64_t)span)
                                                 : tt_below(10 * MIN_NS));
            ev[i].w = (double)((int)tt_below(129) - 64) / 16.0;
            if (ev[i].t < tmin) tmin = ev[i].t;
            if (ev[i].t > tmax) tmax = ev[i].t;
            TT_EQ_INT(put(f.db, ev[i].item, ev[i].type, ev[i].w, ev[i].t), TIDAL_OK);
        }
        for (k = 0; k < 60 && TT_OK(); k++) {
            int64_t t;
            uint32_t type;
            switch (tt_below(4)) {
            case 0:
                t = tmin - 24 * H_NS + (int64_t)tt_below((uint64_t)(tmax - tmin + 72 * H_NS));
                break;
            case 1: t = ev[tt_below((uint64_t)n_ev)].t - (int64_t)tt_below(2 * H_NS); break;
            case 2: t = ev[tt_below((uint64_t)n_ev)].t; break;
            default: t = tmax - (int64_t)tt_below(31 * 24 * H_NS); break;
            }
            for (type = 0; type < M_TYPES; type++) {
                tidal_id item;
                for (item = 1; item <= 3; item++)
                    if (!m_check(f.db, ev, n_ev, item, type, t)) {
                        printf("  round %d, %d events over %lld ns\n", round, n_ev,
                               (long long)span);
                        break;
                    }
            }
        }
        tidal_db_close(f.db);
    }
    printf("  reads before the newest event %llu, with partial windows %llu, refused as out of "
           "range %llu\n", (unsigned long long)m_reads_before, (unsigned long long)m_partial,
           (unsigned long long)m_range);
    TT_CHECK(m_reads_before > 1000 && m_partial > 100 && m_range > 10);
}

/* ---- point 4: the half-life is exact -----------------------------------------------------
   Scores at 10-60 half-lives of age (as far as int64 time reaches for the longest) against
   the analytic sum in long double, for sub-second, fractional-nanosecond, non-whole and
   very long half-lives. The contract is 1e-9 relative. */

static long double hl_analytic(const int64_t *ti, const double *w, int n, int64_t t, double hl_s) {
    long double h = (long double)hl_s * 1e9L, sum = 0;
    int i;
    for (i = 0; i < n; i++) sum += (long double)w[i] * exp2l(-(long double)(t - ti[i]) / h);
    return sum;
}

static void t_half_life_exact(void) {
    static const double hls[] = {0.5000000003, 0.123456789123, 1.5e-9, 2.7e-9, 1e-9, 1.000000007,
                                 3600.0000001, 86400.0, 1e7 + 0.3, 1e8, 3.2e8};
    const int64_t e0 = TIDAL_TIME_MIN_DEFAULT_NS + 1000 * TIDAL_NS_PER_S;
    double worst = 0;
    size_t k;
    for (k = 0; k < sizeof hls / sizeof hls[0] && TT_OK(); k++) {
        tidal_signal_def sig[1] = {{"s", 0, 0, 0, 0}};
        long double h = (long double)hls[k] * 1e9L, want;
        double maxage = 60.0, w[6], err;
        int64_t ti[6], t, newest = 0;
        tidal_signal_stats st;
        int rep, i;
        fix f;
        sig[0].half_life_s = hls[k];
        if ((double)(INT64_MAX - e0) * 0.95 < 60.0 * (double)h) /* int64 time ends in 2262 */
            maxage = (double)(INT64_MAX - e0) * 0.95 / (double)h;
        TT_CHECK(maxage > 20.0);
        for (rep = 0; rep < 40 && TT_OK(); rep++) {
            int n = 1 + (int)tt_below(6);
            t = e0 + (int64_t)((double)h * maxage);
            for (i = 0; i < n; i++) { /* ages in [10, maxage] half-lives, not whole ns */
                double age = 10.0 + tt_unit() * (maxage - 10.0);
                ti[i] = t - (int64_t)((double)h * age);
                w[i] = 1.0 + (double)tt_below(1000);
                if (!i || ti[i] > newest) newest = ti[i];
            }
            if (rep == 0) { /* the issue's case: one event, exactly 12 half-lives, rounded */
                n = 1;
                ti[0] = newest = e0;
                t = e0 + (int64_t)llroundl(12.0L * h);
            }
            TT_EQ_INT(fix_open(&f, sig, 1, NULL, 0, newest, 0), TIDAL_OK);
            for (i = 0; i < n; i++) TT_EQ_INT(put(f.db, 1, 0, w[i], ti[i]), TIDAL_OK);
            TT_EQ_INT(tidal_signal_read(f.db, 0, 1, 0, NULL, t, &st), TIDAL_OK);
            want = hl_analytic(ti, w, n, t, hls[k]);
            err = (double)fabsl(((long double)st.score - want) / want);
            if (err > worst) worst = err;
            TT_CHECKF(err <= 1e-9, "h %.12g s, %d events, ages up to %.1f half-lives: score "
                      "%.17g, analytic %.17Lg, relative error %.3g", hls[k], n, maxage, st.score,
                      want, err);
            tidal_db_close(f.db);
        }
    }
    printf("  worst relative error %.3g\n", worst);
}

/* The accepted range is documented and enforced: below 1 ns (once silently 1 ns) or above
   3.2e8 s is a schema error naming the range. */
static void t_half_life_range(void) {
    static const double bad[] = {6e-10, 0.99e-9, 3.2000001e8, 1e300};
    static const double good[] = {1e-9, 1.5e-9, 0.5000000003, 3.2e8};
    tidal_signal_def sig[1] = {{"s", 0, 0, 0, 0}};
    tidal_env env;
    test_clock clock;
    tidal_config cfg;
    tidal_db *db;
    char msg[256];
    size_t i;
    test_env_make(&env, &clock, T0, 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &env;
    cfg.schema.signals = sig;
    cfg.schema.signal_count = 1;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sig[0].half_life_s = bad[i];
        TT_EQ_INT(tidal_db_open_msg(&cfg, &db, msg, sizeof msg), TIDAL_ERR_SCHEMA);
        TT_CHECKF(has(msg, "[1e-09, 3.2e+08] seconds"), "%s", msg);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        sig[0].half_life_s = good[i];
        TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
        tidal_db_close(db);
    }
}

/* A fractional half-life is part of the schema a log was written under: 0.5000000003 s
   is not 0.5 s (both once hashed as 500000000 ns). */
static void t_half_life_fingerprint(void) {
    tidal_signal_def sig[1] = {{"s", 0.5, 0, 0, 0}};
    uint64_t fp[3];
    int i;
    fix f;
    for (i = 0; i < 3; i++) {
        sig[0].half_life_s = i == 0 ? 0.5 : i == 1 ? 0.5000000003 : 0.5000000004;
        TT_EQ_INT(fix_open(&f, sig, 1, NULL, 0, T0, 0), TIDAL_OK);
        fp[i] = f.db->schema.schema_fp;
        tidal_db_close(f.db);
    }
    TT_CHECK(fp[0] != fp[1] && fp[1] != fp[2] && fp[0] != fp[2]);
}

/* ---- point 10: the profile lookup the header promised ----------------------------------- */

static void t_profile_read(void) {
    tidal_signal_def sigs[3] = {{"view", 3600.0, 0, 0, 0}, {"like", 86400.0, 0, 0, 0},
                                {"buy", 0.0, 0, 1, 0}};
    tidal_profile_term terms[3] = {{"view", 1.0}, {"like", -2.5}, {"buy", 0.75}};
    tidal_profile_def prof[2] = {{"hot", terms, 3}, {"likes", terms + 1, 1}};
    static const tidal_tag en[1] = {{"locale", "en"}};
    const char *ck[1] = {"locale"};
    tidal_hit hits[64];
    tidal_query q;
    uint32_t n, p, h, idx = 99;
    int round;
    fix f;
    memset(&f, 0, sizeof f);
    test_env_make(&f.env, &f.clock, T0, tt_seed());
    f.cfg.env = &f.env;
    f.cfg.schema.signals = sigs;
    f.cfg.schema.signal_count = 3;
    f.cfg.schema.profiles = prof;
    f.cfg.schema.profile_count = 2;
    f.cfg.schema.cohort_keys = ck;
    f.cfg.schema.cohort_key_count = 1;
    TT_EQ_INT(tidal_db_open(&f.cfg, &f.db), TIDAL_OK);
    TT_EQ_INT(tidal_profile_index(f.db, "likes", &idx), TIDAL_OK);
    TT_EQ_INT(idx, 1);
    TT_EQ_INT(tidal_profile_index(f.db, "nope", &idx), TIDAL_ERR_NOT_FOUND);
    for (round = 0; round < 300; round++) {
        tidal_signal s;
        memset(&s, 0, sizeof s);
        s.item = 1 + tt_below(40);
        s.type = (uint32_t)tt_below(3);
        s.weight = (double)((int)tt_below(200) - 50) / 8.0;
        s.time_ns = T0 - (int64_t)tt_below(3 * 24 * H_NS);
        s.user = 9;
        s.cohort = tt_below(2) ? en : NULL;
        s.cohort_count = s.cohort ? 1 : 0;
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    }
    for (p = 0; p < 2; p++) {
        int c;
        for (c = 0; c < 2; c++) {
            int64_t t = T0 - (int64_t)tt_below(24 * H_NS);
            memset(&q, 0, sizeof q);
            q.rank_kind = TIDAL_QUERY_PROFILE;
            q.rank_index = p;
            q.limit = 64;
            q.time_ns = t;
            if (c) {
                q.cohort_key = "locale";
                q.cohort_value = "en";
            }
            TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 64, &n, NULL), TIDAL_OK);
            TT_CHECK(n > 10);
            for (h = 0; h < n; h++) {
                double score, parts[3], sum = 0;
                uint32_t i;
                TT_EQ_INT(tidal_profile_read(f.db, 0, hits[h].item, p, c ? en : NULL, t, &score,
                                             parts), TIDAL_OK);
                /* The score RETRIEVE ranked by, bit for bit. */
                TT_CHECKF(score == hits[h].score, "profile %u item %llu: %.17g vs %.17g", p,
                          (unsigned long long)hits[h].item, score, hits[h].score);
                for (i = 0; i < prof[p].term_count; i++) {
                    tidal_signal_stats st;
                    uint32_t type = 0;
                    TT_EQ_INT(tidal_signal_type(f.db, prof[p].terms[i].signal, &type), TIDAL_OK);
                    TT_EQ_INT(tidal_signal_read(f.db, 0, hits[h].item, type, c ? en : NULL, t, &st),
                              TIDAL_OK);
                    TT_CHECK(parts[i] == prof[p].terms[i].weight * st.score);
                    sum += parts[i];
                }
                TT_CHECK(sum == score);
            }
        }
    }
    {
        double score = -1;
        TT_EQ_INT(tidal_profile_read(f.db, 0, 999, 0, NULL, 0, &score, NULL), TIDAL_OK);
        TT_CHECK(score == 0.0); /* an item with no signals */
        TT_EQ_INT(tidal_profile_read(f.db, 0, 1, 2, NULL, 0, &score, NULL), TIDAL_ERR_INVALID);
        TT_EQ_INT(tidal_profile_read(f.db, 0, 0, 0, NULL, 0, &score, NULL), TIDAL_ERR_INVALID);
        TT_EQ_INT(tidal_profile_read(f.db, 0, 1, 0, NULL, 0, NULL, NULL), TIDAL_ERR_INVALID);
    }
    tidal_db_close(f.db);
}

/* RETRIEVE's index orders items by a time-invariant key built from the epochs; with a
   fractional half-life the epochs are not 16 half-lives apart, and the key must use the
   real spacing: the top hits must be the top exact scores. */
static void fractional_index(double hl_s, int64_t span_ns) {
    tidal_signal_def sig[1] = {{"s", 0, 0, 0, 0}};
    static tidal_hit hits[50];
    static double score[3001];
    int used_index = 0, round;
    fix f;
    sig[0].half_life_s = hl_s;
    TT_EQ_INT(fix_open(&f, sig, 1, NULL, 0, T0, 0), TIDAL_OK);
    for (round = 0; round < 6 && TT_OK(); round++) {
        tidal_query q;
        tidal_query_stats qs;
        uint32_t n, i;
        tidal_id item;
        int64_t t = T0 + (int64_t)round * span_ns / 4;
        f.clock.now_ns = t;
        for (i = 0; i < 1500; i++) /* events up to span_ns back: several epochs */
            TT_EQ_INT(put(f.db, 1 + tt_below(3000), 0, 1.0 + (double)tt_below(64),
                          t - (int64_t)tt_below((uint64_t)span_ns)), TIDAL_OK);
        memset(&q, 0, sizeof q);
        q.limit = 50;
        q.time_ns = t;
        TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 50, &n, &qs), TIDAL_OK);
        used_index |= qs.used_index;
        for (item = 1; item <= 3000; item++) {
            tidal_signal_stats st;
            TT_EQ_INT(tidal_signal_read(f.db, 0, item, 0, NULL, t, &st), TIDAL_OK);
            score[item] = st.count[TIDAL_W_ALL] ? st.score : -1.0;
        }
        TT_EQ_INT(n, 50);
        for (i = 0; i < n; i++) TT_CHECK(score[hits[i].item] == hits[i].score);
        for (item = 1; item <= 3000 && n; item++) { /* none outside scores above the last */
            uint32_t j;
            int in = 0;
            if (score[item] <= hits[n - 1].score) continue;
            for (j = 0; j < n && !in; j++) in = hits[j].item == item;
            TT_CHECKF(in, "round %d: item %llu scores %.17g, above the last hit %.17g", round,
                      (unsigned long long)item, score[item], hits[n - 1].score);
            if (!in) break;
        }
    }
    TT_CHECK(used_index);
    tidal_db_close(f.db);
}

static void t_half_life_fractional_index(void) {
    fractional_index(37.1234567891, 3600 * TIDAL_NS_PER_S); /* 15.97 half-lives per epoch */
    fractional_index(1.0624e-9, 100);                        /* 15.06 half-lives per epoch */
}

static const tt_case tt_cases[] = {
    TT_CASE(t_half_life_fractional_index),
    TT_CASE(t_half_life_exact),
    TT_CASE(t_half_life_range),
    TT_CASE(t_half_life_fingerprint),
    TT_CASE(t_profile_read),
    TT_CASE(t_read_before_newest_issue_case),
    TT_CASE(t_read_before_newest_model),
    TT_CASE(t_time_units_refused),
    TT_CASE(t_no_inf_or_nan),
    TT_CASE(t_pinned_whole_ns_digests),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
