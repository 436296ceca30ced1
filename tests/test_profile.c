/* test_profile.c - RETRIEVE ... PROFILE from the index (Fagin's threshold algorithm over the
   per-type top-K lists) against a brute-force ranker, and the scan fallback.

   The brute-force ranker uses only the public per-item API: every item's blended score at t
   from tidal_profile_read (the same sum, in the same order, the query ranks by), whether it
   has a signal of a term from tidal_signal_read, the filters from tidal_attr_get and
   tidal_negative_check, and the user's seen set from the test's own model. Results must be
   equal to the last bit: items, order (ties by id) and scores, and TIDAL_ERR_RANGE exactly
   when some item's score at t does not fit a double.

   Each round of the property prints its seed first; a failure prints the query and the
   one-line command that reruns the case. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "test_env.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S) /* a fixed "now" in 2026 */
#define S_NS TIDAL_NS_PER_S
#define HITS_MAX 5000u

enum { SIG_FAST, SIG_SLOW, SIG_PERM, SIG_SKIP, SIG_FRAC, N_SIGS };

/* fast: 1 min half-life, slow: 1 h, perm: no decay, skip: a negative type (10 min), frac:
   a fractional half-life. */
static const tidal_signal_def sigs[N_SIGS] = {
    {"fast", 60.0, TIDAL_WINDOW_1H, 0, 0},  {"slow", 3600.0, TIDAL_WINDOW_1H, 0, 0},
    {"perm", 0.0, TIDAL_WINDOW_1H, 1, 0},   {"skip", 600.0, TIDAL_WINDOW_1H, 0, 1},
    {"frac", 45.3712345, TIDAL_WINDOW_1H, 0, 0}};
static const char *const cohort_keys[1] = {"locale"};

static const tidal_profile_term p_mix[2] = {{"fast", 1.0}, {"slow", 5.0}};
static const tidal_profile_term p_neg[3] = {{"fast", 1.0}, {"slow", 2.0}, {"skip", -3.0}};
static const tidal_profile_term p_perm[2] = {{"perm", 0.5}, {"fast", 1.0}};
static const tidal_profile_term p_dup[3] = {{"slow", 1.0}, {"slow", 2.0}, {"fast", 0.0}};
static const tidal_profile_term p_frac[2] = {{"frac", 1.0}, {"slow", 0.25}};
static const tidal_profile_term p_single[1] = {{"slow", 1.0}};
static const tidal_profile_term p_allneg[1] = {{"skip", -1.0}};
static const tidal_profile_term p_eight[8] = {{"fast", 0.5},  {"slow", 3.0}, {"perm", 0.01},
                                              {"skip", -0.5}, {"frac", 2.0}, {"fast", 1e-3},
                                              {"slow", -0.1}, {"perm", 0.0}};
enum { P_MIX, P_NEG, P_PERM, P_DUP, P_FRAC, P_SINGLE, P_ALLNEG, P_EIGHT, N_PROFS };
static const tidal_profile_def profs[N_PROFS] = {
    {"mix", p_mix, 2},      {"neg", p_neg, 3},       {"perm", p_perm, 2},
    {"dup", p_dup, 3},      {"frac", p_frac, 2},     {"single", p_single, 1},
    {"allneg", p_allneg, 1}, {"eight", p_eight, 8}};

static const char *const formats[3] = {"video", "text", "image"};
static const char *const locales[3] = {"EU", "US", "APAC"};

typedef struct pfx {
    tidal_env env;
    test_clock clock;
    tidal_config cfg;
    tidal_db *db;
    uint32_t n_items;
    uint8_t *seen; /* [user 1..3][item]: the user signalled the item (what UNSEEN excludes) */
} pfx;

static void pfx_open(pfx *f, uint32_t n_items, uint64_t seed) {
    memset(f, 0, sizeof *f);
    test_env_make(&f->env, &f->clock, T0, seed);
    f->cfg.env = &f->env;
    f->cfg.schema.signals = sigs;
    f->cfg.schema.signal_count = N_SIGS;
    f->cfg.schema.cohort_keys = cohort_keys;
    f->cfg.schema.cohort_key_count = 1;
    f->cfg.schema.profiles = profs;
    f->cfg.schema.profile_count = N_PROFS;
    f->cfg.retrieve_limit_max = HITS_MAX;
    f->n_items = n_items;
    f->seen = (uint8_t *)calloc(4, (size_t)n_items + 1);
    TT_CHECK(f->seen != NULL);
    TT_EQ_INT(tidal_db_open(&f->cfg, &f->db), TIDAL_OK);
}

static void pfx_close(pfx *f) {
    tidal_db_close(f->db);
    free(f->seen);
}

/* ---- the brute-force ranker ------------------------------------------------------------- */

static int hit_order(const void *a, const void *b) {
    const tidal_hit *x = (const tidal_hit *)a, *y = (const tidal_hit *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* 1 if item has a signal of one of the profile's terms (in the cohort); the blended score
   alone cannot tell an item without one from an item whose terms sum to 0. */
static int has_term(pfx *f, const tidal_query *q, const tidal_tag *cohort, tidal_id item) {
    const tidal_profile_def *p = &profs[q->rank_index];
    uint32_t k, type;
    for (k = 0; k < p->term_count; k++) {
        tidal_signal_stats st;
        tidal_result r;
        TT_EQ_INT(tidal_signal_type(f->db, p->terms[k].signal, &type), TIDAL_OK);
        r = tidal_signal_read(f->db, q->tenant, item, type, cohort, q->time_ns, &st);
        if (r == TIDAL_ERR_RANGE) return 1; /* it has one, whose score does not fit */
        TT_EQ_INT(r, TIDAL_OK);
        if (st.count[TIDAL_W_ALL]) return 1;
    }
    return 0;
}

static int item_passes(pfx *f, const tidal_query *q, tidal_id item) {
    uint32_t k;
    for (k = 0; k < q->where_count; k++) {
        char buf[300];
        if (tidal_attr_get(f->db, q->tenant, item, q->where[k].key, buf, sizeof buf) != TIDAL_OK ||
            strcmp(buf, q->where[k].value))
            return 0;
    }
    if (q->for_user) {
        int sup = 0;
        TT_EQ_INT(tidal_negative_check(f->db, q->tenant, q->for_user, item, &sup), TIDAL_OK);
        if (sup) return 0;
        if (q->exclude_seen && f->seen[q->for_user * ((size_t)f->n_items + 1) + item]) return 0;
    }
    return 1;
}

/* Ranks every item: TIDAL_OK with the top hits, or TIDAL_ERR_RANGE when some item with a
   signal of the profile has a score at t that does not fit a double (the query refuses). */
static tidal_result brute_force(pfx *f, const tidal_query *q, tidal_hit *out, uint32_t *n) {
    tidal_tag cohort;
    const tidal_tag *c = NULL;
    uint32_t cnt = 0, limit = q->limit ? q->limit : 20;
    tidal_id item;
    int range = 0;
    cohort.key = q->cohort_key;
    cohort.value = q->cohort_value;
    if (q->cohort_key) c = &cohort;
    for (item = 1; item <= f->n_items; item++) {
        double score = 0, parts[TIDAL_PROFILE_TERMS_MAX];
        uint32_t k;
        int nonzero = 0;
        tidal_result r = tidal_profile_read(f->db, q->tenant, item, q->rank_index, c, q->time_ns,
                                            &score, parts);
        if (r == TIDAL_ERR_RANGE) {
            range = 1;
            continue;
        }
        TT_EQ_INT(r, TIDAL_OK);
        for (k = 0; k < profs[q->rank_index].term_count; k++) nonzero |= parts[k] != 0;
        if (!nonzero && !has_term(f, q, c, item)) continue;
        if (!item_passes(f, q, item)) continue;
        out[cnt].item = item;
        out[cnt++].score = score;
    }
    *n = 0;
    if (range) return TIDAL_ERR_RANGE;
    qsort(out, cnt, sizeof *out, hit_order);
    *n = cnt < limit ? cnt : limit;
    return TIDAL_OK;
}

static void query_describe(const pfx *f, const tidal_query *q, char *buf, size_t cap) {
    snprintf(buf, cap, "PROFILE %s%s%s%s%s FOR USER %llu%s%s%s LIMIT %u AT now%+.3fs",
             profs[q->rank_index].name, q->cohort_key ? " COHORT locale:" : "",
             q->cohort_key ? q->cohort_value : "", q->where_count ? " WHERE format=" : "",
             q->where_count ? q->where[0].value : "", (unsigned long long)q->for_user,
             q->exclude_seen ? " UNSEEN" : "", "", "", q->limit,
             q->time_ns ? (double)(q->time_ns - f->clock.now_ns) / 1e9 : 0.0);
}

/* Runs q through tidal_retrieve and the brute-force ranker; both must agree to the bit.
   Returns tidal_retrieve's result; *n its hits. */
static tidal_result check_query(pfx *f, const tidal_query *q, tidal_query_stats *st,
                                uint32_t *n_out, const char *ctx) {
    static tidal_hit got[HITS_MAX], want[HITS_MAX];
    uint32_t n = 0, nw = 0, i;
    char desc[200];
    tidal_result r, rw;
    memset(st, 0, sizeof *st);
    r = tidal_retrieve(f->db, q, got, HITS_MAX, &n, st);
    rw = brute_force(f, q, want, &nw);
    query_describe(f, q, desc, sizeof desc);
    TT_CHECKF(r == rw, "%s: %s: result %s, brute force %s (%s)", ctx, desc, tidal_strerror(r),
              tidal_strerror(rw), tidal_errmsg(f->db));
    *n_out = n;
    if (r != TIDAL_OK || rw != TIDAL_OK) return r;
    TT_CHECKF(n == nw, "%s: %s: %u hits, brute force %u (walked: %d, fallback %u)", ctx, desc,
              n, nw, st->used_index, st->profile_scan_fallback);
    for (i = 0; i < n && i < nw && TT_OK(); i++)
        TT_CHECKF(got[i].item == want[i].item && got[i].score == want[i].score,
                  "%s: %s: rank %u: item %llu score %.17g, brute force item %llu score %.17g "
                  "(walked: %d, fallback %u)", ctx, desc, i, (unsigned long long)got[i].item,
                  got[i].score, (unsigned long long)want[i].item, want[i].score,
                  st->used_index, st->profile_scan_fallback);
    return r;
}

/* ---- random histories ------------------------------------------------------------------- */

/* Skewed: a head of items draws most writes, so the lists have an order worth walking. */
static tidal_id random_item(const pfx *f) {
    double u = tt_unit();
    tidal_id i = 1 + (tidal_id)((double)f->n_items * u * u);
    return i > f->n_items ? f->n_items : i;
}

static double random_weight(void) {
    double w = tt_below(2) ? (double)(1 + tt_below(4)) : 0.01 + 4.0 * tt_unit();
    return tt_below(7) == 0 ? -w : w;
}

static void random_signal(pfx *f, tidal_id item) {
    tidal_signal s;
    tidal_tag tag;
    uint64_t when = tt_below(10);
    memset(&s, 0, sizeof s);
    s.item = item;
    s.type = (uint32_t)tt_below(N_SIGS);
    s.weight = random_weight();
    if (when < 6) s.time_ns = f->clock.now_ns - (int64_t)tt_below(600 * S_NS);
    else if (when < 9) s.time_ns = f->clock.now_ns - (int64_t)tt_below(3 * 3600 * S_NS);
    else s.time_ns = f->clock.now_ns + (int64_t)tt_below(50 * S_NS); /* ahead of now */
    s.user = tt_below(3) ? 1 + tt_below(3) : 0;
    if (!s.user && tt_below(4) == 0) { /* an explicit cohort tag */
        tag.key = "locale";
        tag.value = locales[tt_below(3)];
        s.cohort = &tag;
        s.cohort_count = 1;
    }
    if (s.user) f->seen[s.user * ((size_t)f->n_items + 1) + item] = 1;
    TT_EQ_INT(tidal_signal_write(f->db, &s, NULL), TIDAL_OK);
}

static void random_write(pfx *f) {
    uint64_t op = tt_below(400);
    tidal_id item = random_item(f);
    if (op < 330) {
        random_signal(f, item);
    } else if (op < 350) {
        TT_EQ_INT(tidal_attr_set(f->db, 0, item, "format", formats[tt_below(3)], NULL), TIDAL_OK);
    } else if (op < 360) {
        char v[24];
        snprintf(v, sizeof v, "%llu", (unsigned long long)(900000 + tt_below(5)));
        TT_EQ_INT(tidal_attr_set(f->db, 0, item, "creator", v, NULL), TIDAL_OK);
    } else if (op < 368) {
        TT_EQ_INT(tidal_attr_set(f->db, 0, 1 + tt_below(3), "locale", locales[tt_below(3)], NULL),
                  TIDAL_OK);
    } else if (op < 385) {
        int hide = tt_below(4) != 0;
        TT_EQ_INT(tidal_negative_add(f->db, 0, 1 + tt_below(3), hide ? TIDAL_HIDE : TIDAL_MUTE,
                                     hide ? item : 900000 + tt_below(5), NULL), TIDAL_OK);
    } else if (op < 398) {
        TT_EQ_INT(tidal_negative_remove(f->db, 0, 1 + tt_below(3), TIDAL_HIDE, item, NULL),
                  TIDAL_OK);
    } else {
        uint32_t u;
        TT_EQ_INT(tidal_item_delete(f->db, 0, item, NULL), TIDAL_OK);
        for (u = 1; u <= 3; u++) f->seen[u * ((size_t)f->n_items + 1) + item] = 0;
    }
}

static void random_query(const pfx *f, tidal_query *q, tidal_tag *where) {
    uint64_t when = tt_below(40);
    memset(q, 0, sizeof *q);
    q->rank_kind = TIDAL_QUERY_PROFILE;
    q->rank_index = (uint32_t)tt_below(N_PROFS);
    q->limit = tt_below(4) == 0 ? 1 + (uint32_t)tt_below(5) : 1 + (uint32_t)tt_below(120);
    if (tt_below(30) == 0) q->limit = 1 + (uint32_t)tt_below(HITS_MAX);
    if (when < 12) q->time_ns = 0; /* now: before the events stamped ahead of it */
    else if (when < 30) q->time_ns = f->clock.now_ns - (int64_t)tt_below(3 * 3600 * S_NS);
    else if (when < 36) q->time_ns = f->clock.now_ns + (int64_t)tt_below(3600 * S_NS);
    else if (when < 38) q->time_ns = f->clock.now_ns - 12 * 3600 * S_NS; /* 720 fast halves */
    else q->time_ns = f->clock.now_ns - (int64_t)(1 + tt_below(4)) * 86400 * S_NS; /* RANGE */
    if (tt_below(3) == 0) {
        q->cohort_key = "locale";
        q->cohort_value = locales[tt_below(3)];
    }
    if (tt_below(4) == 0) {
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

typedef struct round_cfg {
    uint32_t items, steps, query_every;
} round_cfg;

/* Thousands of random queries with writes interleaved, over small lists (never evicted)
   and large ones (evicted, thresholds in play); the clock moves, so reads fall before,
   among and after the events. */
static void t_profile_matches_brute_force(void) {
    static const round_cfg rounds[3] = {{80, 4000, 8}, {600, 12000, 20}, {3000, 30000, 40}};
    long reps = 2 * tt_scale(), rep;
    uint32_t total_q = 0, total_walk = 0;
    for (rep = 0; rep < reps && TT_OK(); rep++) {
        uint32_t k;
        for (k = 0; k < 3 && TT_OK(); k++) {
            const round_cfg *rc = &rounds[k];
            uint64_t seed = tt_seed() + (uint64_t)(rep * 3 + (long)k);
            uint32_t step, queries = 0, walked = 0, why[5] = {0, 0, 0, 0, 0}, ranges = 0;
            pfx f;
            char ctx[64];
            tt_g.rng = seed; /* the round's own stream: its seed reproduces it */
            printf("  round %ld.%u seed=%llu: %u items, %u steps\n", rep, k,
                   (unsigned long long)seed, rc->items, rc->steps);
            fflush(stdout);
            pfx_open(&f, rc->items, seed);
            for (step = 0; step < rc->steps && TT_OK(); step++) {
                tidal_query q;
                tidal_tag where[1];
                tidal_query_stats st;
                tidal_result r;
                uint32_t n = 0;
                random_write(&f);
                if (tt_below(60) == 0) f.clock.now_ns += (int64_t)tt_below(300 * S_NS);
                if (tt_below(rc->query_every)) continue;
                random_query(&f, &q, where);
                snprintf(ctx, sizeof ctx, "round %ld.%u step %u", rep, k, step);
                r = check_query(&f, &q, &st, &n, ctx);
                queries++;
                if (r != TIDAL_OK) {
                    ranges++;
                    continue;
                }
                walked += (uint32_t)st.used_index;
                if (st.profile_scan_fallback < 5) why[st.profile_scan_fallback]++;
                /* walked, or scanned for a reason (or nothing to rank: a name never stored) */
                TT_CHECKF(st.used_index != (st.profile_scan_fallback != 0) || n == 0,
                          "%s: walked %d, fallback %u", ctx, st.used_index,
                          st.profile_scan_fallback);
            }
            printf("  round %ld.%u: %u queries, %u walked the index, scanned: %u negative, "
                   "%u exhausted, %u range, %u nomem; %u refused (RANGE)\n", rep, k, queries,
                   walked, why[1], why[2], why[3], why[4], ranges);
            total_q += queries;
            total_walk += walked;
            pfx_close(&f);
        }
    }
    printf("  %u queries, %u from the index\n", total_q, total_walk);
    TT_CHECK(total_q >= 1000);
    TT_CHECK(total_walk * 2 >= total_q); /* the walk is the rule, the scan the exception */
}

/* ---- the fallback, where it must and where it must not ---------------------------------- */

static void run_profile(pfx *f, uint32_t prof, int64_t t, const tidal_tag *where,
                        tidal_query_stats *st, const char *ctx) {
    tidal_query q;
    uint32_t n = 0;
    memset(&q, 0, sizeof q);
    q.rank_kind = TIDAL_QUERY_PROFILE;
    q.rank_index = prof;
    q.limit = 10;
    q.time_ns = t;
    if (where) {
        q.where = where;
        q.where_count = 1;
    }
    (void)check_query(f, &q, st, &n, ctx);
}

/* n items with one slow, one skip and one perm signal each, item i's at T0 - i s (so item
   1 ranks first by every type). */
static void load_items(pfx *f, uint32_t n) {
    uint32_t i, k;
    static const uint32_t types[3] = {SIG_SLOW, SIG_SKIP, SIG_PERM};
    for (i = 1; i <= n; i++)
        for (k = 0; k < 3; k++) {
            tidal_signal s;
            memset(&s, 0, sizeof s);
            s.item = i;
            s.type = types[k];
            s.weight = k == 2 ? 1.0 / (double)i : 1.0;
            s.time_ns = T0 - (int64_t)i * S_NS;
            TT_EQ_INT(tidal_signal_write(f->db, &s, NULL), TIDAL_OK);
        }
}

static void t_profile_fallback_where_it_must(void) {
    pfx f;
    tidal_query_stats st;
    tidal_tag rare;
    tidal_hit hits[10];
    tidal_query q;
    uint32_t n = 0;
    /* Lists that never evicted: every profile walks, a negative weight from the bottom. */
    pfx_open(&f, 500, tt_seed());
    load_items(&f, 500);
    run_profile(&f, P_NEG, 0, NULL, &st, "small neg");
    TT_CHECK(st.used_index && st.profile_scan_fallback == 0);
    run_profile(&f, P_ALLNEG, 0, NULL, &st, "small allneg");
    TT_CHECK(st.used_index && st.profile_scan_fallback == 0);
    TT_CHECK(st.items_considered < 100);
    pfx_close(&f);

    /* 2000 items: every list evicted below a threshold. */
    pfx_open(&f, 2000, tt_seed());
    load_items(&f, 2000);
    run_profile(&f, P_SINGLE, 0, NULL, &st, "big single");
    TT_CHECK(st.used_index && st.profile_scan_fallback == 0);
    TT_CHECK(st.items_considered < 100); /* the walk met a few items, not 2000 */
    run_profile(&f, P_PERM, 0, NULL, &st, "big perm");
    TT_CHECK(st.used_index && st.profile_scan_fallback == 0);
    run_profile(&f, P_DUP, T0 - 3600 * S_NS, NULL, &st, "big dup, before the events");
    TT_CHECK(st.used_index && st.profile_scan_fallback == 0);
    /* A negative weight over an evicted list: its lowest scores are unknown. */
    run_profile(&f, P_NEG, 0, NULL, &st, "big neg");
    TT_CHECK(!st.used_index && st.profile_scan_fallback == TIDAL_PROFILE_SCAN_NEGATIVE);
    TT_EQ_INT(st.items_considered, 2000);
    /* A filter that only three of the lowest items pass: the walk reads the slow list to
       its end (the threshold) and cannot prove that no evicted item passes. */
    rare.key = "format";
    rare.value = "rare";
    TT_EQ_INT(tidal_attr_set(f.db, 0, 1990, "format", "rare", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(f.db, 0, 1995, "format", "rare", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(f.db, 0, 2000, "format", "rare", NULL), TIDAL_OK);
    run_profile(&f, P_SINGLE, 0, &rare, &st, "big single, rare filter");
    TT_CHECK(!st.used_index && st.profile_scan_fallback == TIDAL_PROFILE_SCAN_EXHAUSTED);
    /* 40 days before the events: 960 half-lives of slow, scores near 2^960 still fit, but
       the walk cannot rule out one that does not: it scans, and the scan answers. */
    run_profile(&f, P_SINGLE, T0 - 40 * 86400 * S_NS, NULL, &st, "big single, 40 days back");
    TT_CHECK(!st.used_index && st.profile_scan_fallback == TIDAL_PROFILE_SCAN_RANGE);
    /* 4 days back, a fast signal does not fit a double: refused, as by the scan, even when
       the item is one the walk would never meet (a negative score, far down the lists). */
    {
        tidal_signal s;
        memset(&s, 0, sizeof s);
        s.item = 1999;
        s.type = SIG_FAST;
        s.weight = -1.0;
        s.time_ns = T0;
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    }
    run_profile(&f, P_MIX, T0 - 4 * 86400 * S_NS, NULL, &st, "big mix, 4 days back");
    memset(&q, 0, sizeof q);
    q.rank_kind = TIDAL_QUERY_PROFILE;
    q.rank_index = P_MIX;
    q.time_ns = T0 - 4 * 86400 * S_NS;
    q.limit = 10;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 10, &n, &st), TIDAL_ERR_RANGE);
    TT_EQ_INT(n, 0);
    /* A signal query never reports a profile fallback. */
    q.rank_kind = TIDAL_QUERY_SIGNAL;
    q.rank_index = SIG_SLOW;
    q.time_ns = 0;
    TT_EQ_INT(tidal_retrieve(f.db, &q, hits, 10, &n, &st), TIDAL_OK);
    TT_EQ_INT(st.profile_scan_fallback, 0);
    pfx_close(&f);
}

/* A list that lost most members (negative events pushed them below the threshold) makes the
   walk run out; the scan that answers then rebuilds the list, and the next query walks. */
static void t_profile_rebuilds_a_drained_list(void) {
    pfx f;
    tidal_query_stats st;
    uint32_t i;
    pfx_open(&f, 2000, tt_seed());
    load_items(&f, 2000);
    for (i = 1; i <= 1000; i++) { /* the head falls far below everything else */
        tidal_signal s;
        memset(&s, 0, sizeof s);
        s.item = i;
        s.type = SIG_SLOW;
        s.weight = -2.0;
        s.time_ns = T0 - (int64_t)i * S_NS;
        TT_EQ_INT(tidal_signal_write(f.db, &s, NULL), TIDAL_OK);
    }
    run_profile(&f, P_SINGLE, 0, NULL, &st, "drained");
    TT_CHECK(!st.used_index && st.profile_scan_fallback == TIDAL_PROFILE_SCAN_EXHAUSTED);
    run_profile(&f, P_SINGLE, 0, NULL, &st, "after the rebuild");
    TT_CHECK(st.used_index && st.profile_scan_fallback == 0);
    pfx_close(&f);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_profile_fallback_where_it_must),
    TT_CASE(t_profile_rebuilds_a_drained_list),
    TT_CASE(t_profile_matches_brute_force),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
