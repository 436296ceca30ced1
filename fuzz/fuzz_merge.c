/* fuzz_merge.c - libFuzzer target for the CRDT merge laws. tidal's state is a fold over a
   SET of events (unique 128-bit ids, applied once), so merging replicas must be commutative,
   associative and idempotent: equal event sets give byte-identical canonical state.

   Per input, three ephemeral replicas (config.node regions 0, 1, 2; a fixed wall clock,
   FZ_NOW, and a seeded random stream each) record every event they apply through
   tidal_db_set_event_hook: own writes and tidal_event_import alike. The input is a list of
   operations, each on a replica: signals (colliding items, negative weights, times from now
   back 400 days, users, cohort tags), idempotent signals (same key and seq on any replica),
   attribute sets and deletes (LWW), hide/mute/block and their removes (observed-remove),
   sessions (start; open elsewhere to roam; signals and notes with explicit, repeated or
   automatic seqs; end; TTL expiry by tick) and merges X <- Y (X imports all, the reverse,
   a suffix, or every other event of Y's list so far). Ops may fail; see "Input" below.

   Properties (a violation prints the law and aborts, which libFuzzer reports as a crash):
     1. ops: a call that applied no event (an error, a duplicate) leaves the digest
        unchanged; an accepted write adds exactly one event to the hook's list, with the
        receipt's id; an idempotent or session write has the id derived from (tenant, key or
        session, seq), the same on every replica, and is a duplicate exactly when its id was
        already applied; an import is a duplicate exactly when its id was applied, and every
        recorded event imports into any database;
     2. the hook reports each event id once, and events_applied equals its count;
     3. a database rebuilt from a replica's list alone has the replica's live digest, and
        importing the list a second time changes nothing (merge(A, A) = A); the rebuilds
        are the merge databases of laws 4 and 5 that start with one replica's list (A,B /
        B,C / C,B,A), checked before they import the next list;
     4. order independence: importing the lists as A,B,C / C,B,A / B,A,C / all events
        shuffled (input-seeded) gives one digest;
     5. associativity: merge(merge(A,B),C) = merge(A,merge(B,C)), where merge(X,Y) imports X's
        list then Y's and the outer merge imports the inner database's own hook list;
     6. idempotence: importing every list again into the merged database: all duplicates,
        same digest; events_applied of every merged database = distinct ids in the union;
     7. equal event sets answer RETRIEVE alike (items and score bits; signal, cohort, FOR USER
        UNSEEN, profile with WHERE; limits small enough to exercise the top-K index);
     8. corrupt copies of recorded events (truncated, a trailing byte) are rejected with
        TIDAL_ERR_CORRUPT and change nothing; a copy with a flipped byte is either rejected
        without change or still a valid event (then no check).

   Contract the generator keeps (writes that share a derived id must carry the same
   content, else "one id, two events" is the caller's bug, not a merge law's): idempotent and
   session writes take their payload from a hash of (tenant, key or session, seq) with
   explicit cohort tags (an implicit cohort is read from the writing replica's user
   attributes), session signals use odd seqs and notes even ones, every replica opens a
   session with the same user, start time and TTL, and derived-id events stay within one
   idempotency window (23 h of event time) so that their ids are never forgotten.

   Input: a sequence of ops, at most FM_OPS_MAX. Byte h: op h % FM_OP_COUNT (FM_OP_*) on
   replica (h / FM_OP_COUNT) % 3, then the op's argument bytes, laid out in the comment of
   each fm_op_* function; bytes past the end read 0. Budgets (FM_IMPORT_BUDGET,
   FM_DIGEST_BUDGET) keep one run short.

   It found two order-dependence bugs in tidal.h, both fixed; their inputs are regression
   seeds in the corpus: a second unhide of one hide left a tombstone only in some arrival
   orders (regress_second_unhide_tombstone), and digests/snapshots dropped a tenant that held
   no signals (regress_tenant_without_signals).

   Run (from the repository root):
     make build/libfuzz_fuzz_merge          (clang with libFuzzer; ASan + UBSan)
     build/libfuzz_fuzz_merge -max_total_time=60 build/corpus_merge fuzz/corpus/merge
     make build/replay_fuzz_merge && build/replay_fuzz_merge fuzz/corpus/merge   (any cc;
        make test does this)
   Corpus: fuzz/gen_merge_corpus.c writes fuzz/corpus/merge (regeneration: see its header). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "fuzz_common.h"

#define FM_REPLICAS 3
#define FM_OPS_MAX 400          /* ops per input: keeps one run near 20 ms under ASan */
#define FM_IMPORT_BUDGET 4000   /* events imported by merge ops per input */
#define FM_DIGEST_BUDGET 64     /* digests taken for the "no event, no change" check */
#define FM_SESSIONS_MAX 16      /* sessions the generator knows per input */
#define FM_CORRUPT_MAX 8        /* recorded events corrupted per input */
#define FM_QUERIES 6            /* per tenant */
#define FM_HITS_MAX 5
#define FM_MIN_NS (60 * TIDAL_NS_PER_S)
#define FM_DAY_S INT64_C(86400)

enum {
    FM_OP_SIGNAL, FM_OP_IDEM, FM_OP_ATTR, FM_OP_NEG_ADD, FM_OP_NEG_REMOVE, FM_OP_SESS_START,
    FM_OP_SESS_OPEN, FM_OP_SESS_SIGNAL, FM_OP_SESS_NOTE, FM_OP_SESS_END, FM_OP_MERGE,
    FM_OP_TICK, FM_OP_COUNT
};

/* The schema of fuzz_common.h's fz_open (view 1 h; like 24 h with 24h+30d windows; buy
   permanent; cohorts locale, tier) plus a profile, with a node: fz_open takes neither. */
static const tidal_signal_def fm_sigs[3] = {
    {"view", 3600.0, 0, 0, 0},
    {"like", 86400.0, TIDAL_WINDOW_24H | TIDAL_WINDOW_30D, 0, 0},
    {"buy", 0.0, 0, 1, 0}};
static const char *const fm_cohort_keys[2] = {"locale", "tier"};
static const tidal_profile_term fm_terms[2] = {{"view", 1.0}, {"buy", 0.25}};
static const tidal_profile_def fm_profiles[1] = {{"mix", fm_terms, 2}};

/* ---- Input, lists of encoded events, sets of event ids ---------------------------------- */

typedef struct fm_in {
    const uint8_t *p;
    size_t n, pos;
} fm_in;

static uint8_t fm_u8(fm_in *in) { return in->pos < in->n ? in->p[in->pos++] : 0; }

static void *fm_grow(void *p, size_t *cap, size_t need, size_t elem) {
    size_t c = *cap ? *cap : 16;
    if (need <= *cap) return p;
    while (c < need) c *= 2;
    p = realloc(p, c * elem);
    fz_require(p != NULL, "out of memory in the harness");
    *cap = c;
    return p;
}

/* Encoded events back to back: event i is bytes[off[i], off[i + 1]). */
typedef struct fm_list {
    uint8_t *bytes;
    size_t len, cap, *off, cap_off;
    uint32_t n;
} fm_list;

static void fm_list_push(fm_list *l, const void *ev, size_t len) {
    l->bytes = (uint8_t *)fm_grow(l->bytes, &l->cap, l->len + len, 1);
    l->off = (size_t *)fm_grow(l->off, &l->cap_off, (size_t)l->n + 2, sizeof *l->off);
    memcpy(l->bytes + l->len, ev, len);
    l->off[l->n] = l->len;
    l->len += len;
    l->off[++l->n] = l->len;
}

static const uint8_t *fm_list_get(const fm_list *l, uint32_t i, size_t *len) {
    TIDAL_ASSERT(i < l->n);
    *len = l->off[i + 1] - l->off[i];
    return l->bytes + l->off[i];
}

/* The id of an encoding: kind u8, tenant u32, id.hi u64, id.lo u64, little-endian (as
   tidal__event_put writes it). */
static tidal_event_id fm_event_id(const void *ev, size_t len) {
    const uint8_t *p = (const uint8_t *)ev;
    tidal_event_id id;
    int i;
    fz_require(len >= 21, "a recorded event holds kind, tenant and id");
    id.hi = id.lo = 0;
    for (i = 0; i < 8; i++) {
        id.hi |= (uint64_t)p[5 + i] << (8 * i);
        id.lo |= (uint64_t)p[13 + i] << (8 * i);
    }
    return id;
}

/* Open addressing over 16-byte ids; (0, 0), never an event id, marks a free slot. */
typedef struct fm_set {
    tidal_event_id *slot;
    size_t n, cap;
} fm_set;

static size_t fm_set_find(const fm_set *s, tidal_event_id id) {
    size_t i = (size_t)tidal__mix64(id.hi ^ tidal__mix64(id.lo)) & (s->cap - 1);
    while ((s->slot[i].hi || s->slot[i].lo) && (s->slot[i].hi != id.hi || s->slot[i].lo != id.lo))
        i = (i + 1) & (s->cap - 1);
    return i;
}

static int fm_set_has(const fm_set *s, tidal_event_id id) {
    size_t i;
    if (!s->cap) return 0;
    i = fm_set_find(s, id);
    return s->slot[i].hi || s->slot[i].lo;
}

/* Adds id; returns 1 if it was new. */
static int fm_set_add(fm_set *s, tidal_event_id id) {
    size_t i;
    TIDAL_ASSERT(id.hi || id.lo);
    if (2 * (s->n + 1) > s->cap) {
        fm_set old = *s;
        s->cap = old.cap ? old.cap * 2 : 64;
        s->slot = (tidal_event_id *)calloc(s->cap, sizeof *s->slot);
        fz_require(s->slot != NULL, "out of memory in the harness");
        s->n = 0;
        for (i = 0; i < old.cap; i++)
            if (old.slot[i].hi || old.slot[i].lo) {
                s->slot[fm_set_find(s, old.slot[i])] = old.slot[i];
                s->n++;
            }
        free(old.slot);
    }
    i = fm_set_find(s, id);
    if (s->slot[i].hi || s->slot[i].lo) return 0;
    s->slot[i] = id;
    s->n++;
    return 1;
}

/* ---- Nodes: a database, the events its hook reported, their ids, a digest cache ---------- */

typedef struct fm_kept fm_kept;

typedef struct fm_node {
    fm_kept *kept; /* the region's handle, renewed when the node closes */
    tidal_db *db;
    fm_list list;
    fm_set ids;
    uint8_t digest[32];
    int digest_ok; /* digest is the state's: no event was applied since it was taken */
} fm_node;

static void fm_hook(void *ctx, const void *ev, size_t len) {
    fm_node *n = (fm_node *)ctx;
    fz_require(fm_set_add(&n->ids, fm_event_id(ev, len)), "the hook reports each event id once");
    fm_list_push(&n->list, ev, len);
    n->digest_ok = 0;
}

/* One handle per region, opened on the region's first use in the process and kept: a node
   that closes renews it (tidal__db_renew: close's work, then the handle's bytes as they were
   right after its open) and sets its env back to what it was then, so every open after the
   first gives the handle a new open would - same config, same incarnation, same random
   stream, an empty state - without the open's work (eleven opens an input). Regions 0-2 are
   the replicas, 8 and up the merge databases: no two nodes of an input share one. */
#define FM_REGIONS 17
struct fm_kept {
    fz_env env, env0; /* the env the handle uses; env0: as it was right after the open */
    tidal_db *db, *fresh; /* fresh: the handle's bytes right after its open */
    int busy;
    uint32_t renewals; /* fm_node_close compares every 64th renewed handle with fresh whole */
    fm_list list; /* the last node's list and id set, emptied: their blocks for the next */
    fm_set ids;
};

/* Larger id sets are freed on close rather than kept: emptying one is a memset of it. */
#define FM_KEEP_SET_CAP 1024
static fm_kept fm_kept_all[FM_REGIONS];

static void fm_kept_open(fm_kept *k, uint16_t region) {
    tidal_config cfg;
    k->env.env = *tidal_env_posix();
    k->env.env.user = &k->env;
    k->env.env.clock_wall_ns = fz_clock;
    k->env.env.clock_mono_ns = fz_clock;
    k->env.env.random_fill = fz_random;
    k->env.rng = (uint64_t)(region + 1) << 40; /* distinct session ids and incarnations */
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &k->env.env;
    cfg.allocator = &fz_allocator;
    cfg.schema.signals = fm_sigs;
    cfg.schema.signal_count = 3;
    cfg.schema.cohort_keys = fm_cohort_keys;
    cfg.schema.cohort_key_count = 2;
    cfg.schema.profiles = fm_profiles;
    cfg.schema.profile_count = 1;
    cfg.node.region = region;
    fz_require(tidal_db_open(&cfg, &k->db) == TIDAL_OK, "open");
    k->fresh = (tidal_db *)malloc(sizeof *k->fresh);
    fz_require(k->fresh != NULL, "out of memory in the harness");
    memcpy(k->fresh, k->db, sizeof *k->fresh);
    k->env0 = k->env;
}

static void fm_node_open(fm_node *n, uint16_t region) {
    fm_kept *k;
    TIDAL_ASSERT(region < FM_REGIONS);
    k = &fm_kept_all[region];
    fz_require(!k->busy, "one node a region at a time");
    memset(n, 0, sizeof *n);
    if (!k->db) fm_kept_open(k, region);
    fz_require(k->db->stats.events_applied == 0 && k->db->stats.bytes_state == 0 &&
                   k->db->st.n_ents == 0 && k->db->st.n_sess == 0,
               "a renewed handle is empty");
    k->busy = 1;
    n->kept = k;
    n->db = k->db;
    n->list = k->list; /* empty (fm_node_close), with the blocks a previous input grew */
    n->ids = k->ids;
    tidal_db_set_event_hook(n->db, fm_hook, n);
}

static void fm_node_close(fm_node *n) {
    tidal__db_renew(n->db, n->kept->fresh);
    /* Renewing leaves the replication window's bytes alone (>>db_open): that nothing wrote
       them shows as a handle that differs from fresh, seen at the next whole comparison. */
    if (n->kept->renewals++ % 64 == 0)
        fz_require(!memcmp(n->db, n->kept->fresh, sizeof *n->db),
                   "a renewed handle is the one a new open gives");
    n->kept->env = n->kept->env0;
    n->kept->busy = 0;
    n->list.len = 0;
    n->list.n = 0;
    if (n->ids.cap > FM_KEEP_SET_CAP) {
        free(n->ids.slot);
        memset(&n->ids, 0, sizeof n->ids);
    } else if (n->ids.cap) {
        memset(n->ids.slot, 0, n->ids.cap * sizeof *n->ids.slot);
        n->ids.n = 0;
    }
    n->kept->list = n->list; /* kept for the region's next node: no regrowth per input */
    n->kept->ids = n->ids;
}

static uint64_t fm_applied(const fm_node *n) {
    tidal_db_stats st;
    tidal_db_stats_get(n->db, &st);
    return st.events_applied;
}

/* Imports one recorded event: accepted, under its own id, a duplicate exactly when the id
   was applied here, reported by the hook exactly when new. */
static void fm_import_one(fm_node *to, const uint8_t *ev, size_t len) {
    tidal_event_id id = fm_event_id(ev, len);
    int dup = fm_set_has(&to->ids, id);
    uint32_t n0 = to->list.n;
    tidal_receipt rc;
    fz_require(tidal_event_import(to->db, ev, len, &rc) == TIDAL_OK, "a recorded event imports");
    fz_require(rc.id.hi == id.hi && rc.id.lo == id.lo, "import keeps the event's own id");
    fz_require(rc.duplicate == dup, "an import is a duplicate exactly when its id was applied");
    fz_require(to->list.n == n0 + (uint32_t)!dup, "the hook reports exactly the new events");
}

/* Imports from's events [lo, n0) every step-th, forwards or (rev) backwards, where n0 is the
   list's length on entry (a self-merge appends nothing, but stay exact). */
static void fm_import(fm_node *to, const fm_list *from, uint32_t lo, uint32_t step, int rev) {
    uint32_t n0 = from->n, k;
    size_t len;
    for (k = lo; k < n0; k += step) {
        const uint8_t *ev = fm_list_get(from, rev ? n0 - 1 - (k - lo) : k, &len);
        fm_import_one(to, ev, len);
    }
}

/* ---- Ops --------------------------------------------------------------------------------- */

typedef struct fm_sess {
    uint32_t tenant;
    tidal_id id, user;
    int64_t ttl_ns;
} fm_sess;

typedef struct fm_run {
    fm_node node[FM_REPLICAS];
    fm_sess sess[FM_SESSIONS_MAX];
    uint32_t n_sess, import_budget, digest_budget;
} fm_run;

#define FM_SKIPPED TIDAL_ERR_NOT_FOUND /* an op with nothing to act on: no call was made */

static const double fm_weights[16] = {1.0, 2.0, 0.5, -1.0, -3.25, 0.0, 7.0, 1e6,
                                      -1e6, 1e-3, 123456.789, -0.0, 2.5, -1.5, 2e6, NAN};

/* Fills tags and s->cohort/cohort_count: 0 NULL (the user's attributes), 1 an empty list,
   2 locale=en, 3 tier=gold locale=fr (key order differs from the schema's), 4 an unknown
   key, 5 a count without tags. */
static void fm_cohort(tidal_tag tags[2], uint32_t v, tidal_signal *s) {
    static const tidal_tag all[4] = {{"locale", "en"}, {"tier", "gold"}, {"locale", "fr"},
                                     {"planet", "mars"}};
    s->cohort = v == 0 || v == 5 ? NULL : tags;
    s->cohort_count = v == 2 || v == 4 || v == 5 ? 1 : v == 3 ? 2 : 0;
    if (v == 2) tags[0] = all[0];
    if (v == 3) {
        tags[0] = all[1];
        tags[1] = all[2];
    }
    if (v == 4) tags[0] = all[3];
}

/* The payload of a derived-id signal, a function of h only. Cohort tags are explicit. */
static void fm_derived_signal(uint64_t h, tidal_signal *s, tidal_tag tags[2]) {
    memset(s, 0, sizeof *s);
    s->item = 1 + h % 8;
    s->type = (uint32_t)((h >> 8) % 3);
    s->weight = fm_weights[(h >> 12) % 14]; /* the valid ones */
    s->time_ns = FZ_NOW - (int64_t)((h >> 20) % 1380) * FM_MIN_NS;
    fm_cohort(tags, 1 + (uint32_t)((h >> 40) % 3), s);
}

/* Event time from c % 16: 0 (now), 1 s to 400 days ago, 30 s ahead, 120 s ahead (beyond the
   60 s future bound: rejected); c >= 250 a negative time (rejected). */
static int64_t fm_time(uint8_t c) {
    static const int64_t ago_s[16] = {0, 1, 59, 61, 3600, 3 * 3600, 23 * 3600, 25 * 3600,
                                      3 * FM_DAY_S, 7 * FM_DAY_S + 1, 8 * FM_DAY_S, 29 * FM_DAY_S,
                                      31 * FM_DAY_S, 400 * FM_DAY_S, -30, -120};
    if (c >= 250) return -5; /* negative: rejected */
    return c % 16 == 0 ? 0 : FZ_NOW - ago_s[c % 16] * TIDAL_NS_PER_S;
}

/* a: item a % 9 (0 invalid), type (a / 9) % 7 (0..2, 3..5 again, 6 invalid); b: weight
   fm_weights[b % 16] (2e6 and NaN invalid); c: time fm_time(c); d: bit 0 tenant 7, bits 1-3
   user (% 5: 0 none, else 99 + it), bits 4-7 cohort variant (% 6, see fm_cohort). */
static tidal_result fm_op_signal(fm_node *n, fm_in *in, tidal_receipt *rc) {
    uint8_t a = fm_u8(in), b = fm_u8(in), c = fm_u8(in), d = fm_u8(in);
    tidal_signal s;
    tidal_tag tags[2];
    uint32_t t = (uint32_t)(a / 9) % 7;
    memset(&s, 0, sizeof s);
    s.tenant = d & 1 ? 7 : 0;
    s.item = a % 9;
    s.type = t < 3 ? t : t < 6 ? t - 3 : 3;
    s.weight = fm_weights[b % 16];
    s.time_ns = fm_time(c);
    s.user = ((d >> 1) & 7) % 5 ? 99 + ((d >> 1) & 7) % 5 : 0;
    fm_cohort(tags, (uint32_t)(d >> 4) % 6, &s);
    return tidal_signal_write(n->db, &s, rc);
}

/* a: bits 0-1 key "key-0".."key-3", bits 2-3 seq, bit 4 tenant 7; bit 5 drops the event
   time, bit 6 the cohort tags if there is a user (a keyed write must carry both: refused).
   The payload and the user are functions of (tenant, key, seq). */
static tidal_result fm_op_idem(fm_node *n, fm_in *in, tidal_receipt *rc) {
    uint8_t a = fm_u8(in);
    uint32_t k = a % 4u, seq = (a >> 2) % 4u, tenant = (a >> 4) & 1 ? 7 : 0;
    char key[6] = "key-0";
    uint64_t h = tidal__mix64(UINT64_C(0x1de1) ^ (uint64_t)tenant << 32 ^ k << 8 ^ seq);
    tidal_signal s;
    tidal_tag tags[2];
    tidal_event_id id;
    tidal_result r;
    int was;
    key[4] = (char)('0' + k);
    fm_derived_signal(h, &s, tags);
    s.tenant = tenant;
    s.user = (h >> 32) % 5 ? 99 + (h >> 32) % 5 : 0;
    s.idem.key = key;
    s.idem.key_len = 5;
    s.idem.seq = seq;
    if (a & 32) s.time_ns = 0;
    if ((a & 64) && s.user) s.cohort = NULL; /* without a user no tags are looked up */
    id = tidal__derived_id(tenant, 'c', key, 5, seq);
    was = fm_set_has(&n->ids, id);
    r = tidal_signal_write(n->db, &s, rc);
    if (!s.time_ns || !s.cohort)
        fz_require(r == TIDAL_ERR_INVALID, "a keyed write without its time or cohort is refused");
    if (r != TIDAL_OK) return r;
    fz_require(rc->id.hi == id.hi && rc->id.lo == id.lo,
               "an idempotent write's id = f(tenant, key, seq), the same on every replica");
    fz_require(rc->duplicate == was, "an idempotent write is a duplicate exactly when applied");
    return r;
}

/* a: entity a % 13 (items 1..8, users 100..103, 0 invalid); b: key b % 5 (locale, tier,
   creator, name, an invalid name); c: bits 0-6 value % 9 (delete, en, fr, gold, 201..203,
   "", one byte too long), bit 7 tenant 7. */
static tidal_result fm_op_attr(fm_node *n, fm_in *in, tidal_receipt *rc) {
    static const char *const keys[5] = {"locale", "tier", "creator", "name", "bad key"};
    static const char *const vals[8] = {NULL, "en", "fr", "gold", "201", "202", "203", ""};
    char big[TIDAL_VALUE_MAX + 2];
    uint8_t a = fm_u8(in), b = fm_u8(in), c = fm_u8(in);
    uint32_t e = a % 13u;
    tidal_id ent = e < 8 ? 1 + e : e < 12 ? 100 + e - 8 : 0;
    const char *val = (c & 127) % 9 < 8 ? vals[(c & 127) % 9] : big;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0; /* one byte too long: rejected */
    return tidal_attr_set(n->db, c >> 7 ? 7 : 0, ent, keys[b % 5], val, rc);
}

/* a: bits 0-1 user 100..103, bits 2-3 kind (0 invalid, hide, mute, block), bit 4 tenant 7;
   b: target (hide: item 1 + b % 8, mute/block: creator 201 + b % 3; 250+ invalid 0). */
static tidal_result fm_op_neg(fm_run *run, fm_node *n, fm_in *in, int add, tidal_receipt *rc) {
    uint8_t a = fm_u8(in), b = fm_u8(in);
    tidal_negative kind = (tidal_negative)((a >> 2) % 4);
    tidal_id target = b >= 250 ? 0 : kind == TIDAL_HIDE ? 1 + b % 8u : 201 + b % 3u;
    tidal_id user = 100 + a % 4u;
    uint32_t tenant = (a >> 4) & 1 ? 7 : 0;
    (void)run;
    if (add) return tidal_negative_add(n->db, tenant, user, kind, target, rc);
    return tidal_negative_remove(n->db, tenant, user, kind, target, rc);
}

static fm_sess *fm_sess_find(fm_run *run, uint32_t tenant, tidal_id id) {
    uint32_t i;
    for (i = 0; i < run->n_sess; i++)
        if (run->sess[i].tenant == tenant && run->sess[i].id == id) return &run->sess[i];
    return NULL;
}

/* a: bits 0-1 user 100..103, bits 2-3 TTL % 3 (none, 10 min, 1 h), bit 4 tenant 7. A new
   session with a random id. */
static tidal_result fm_op_sess_start(fm_run *run, fm_node *n, fm_in *in) {
    static const int64_t ttl[3] = {0, 10 * FM_MIN_NS, 60 * FM_MIN_NS};
    uint8_t a = fm_u8(in);
    fm_sess e;
    tidal_result r;
    if (run->n_sess == FM_SESSIONS_MAX) return FM_SKIPPED;
    e.tenant = (a >> 4) & 1 ? 7 : 0;
    e.user = 100 + a % 4u;
    e.ttl_ns = ttl[((a >> 2) & 3) % 3];
    r = tidal_session_start(n->db, e.tenant, e.user, e.ttl_ns, &e.id);
    if (r != TIDAL_OK) return r;
    fz_require(e.id != 0 && !fm_sess_find(run, e.tenant, e.id), "session ids are unique");
    run->sess[run->n_sess++] = e;
    return r;
}

/* a < 128: roam known session a % n here; else open caller-chosen id 5000 + a % 4 in
   tenant bit 2 ? 7 : 0, whose user and TTL are functions of the id. Every open of a session
   uses the same parameters. */
static tidal_result fm_op_sess_open(fm_run *run, fm_node *n, fm_in *in) {
    uint8_t a = fm_u8(in);
    fm_sess e, *known;
    tidal_result r;
    if (a < 128) {
        if (!run->n_sess) return FM_SKIPPED;
        e = run->sess[a % run->n_sess];
        return tidal_session_open(n->db, e.tenant, e.id, e.user, FZ_NOW, e.ttl_ns);
    }
    e.tenant = (a >> 2) & 1 ? 7 : 0;
    e.id = 5000 + a % 4u;
    e.user = 100 + e.id % 4;
    e.ttl_ns = e.id & 1 ? 10 * FM_MIN_NS : 0;
    known = fm_sess_find(run, e.tenant, e.id);
    if (!known && run->n_sess == FM_SESSIONS_MAX) return FM_SKIPPED;
    r = tidal_session_open(n->db, e.tenant, e.id, e.user, FZ_NOW, e.ttl_ns);
    if (r == TIDAL_OK && !known) run->sess[run->n_sess++] = e;
    return r;
}

/* The seq tidal picks for seq 0: one past the last journal entry this node holds. */
static uint64_t fm_next_seq(fm_node *n, const fm_sess *e) {
    tidal_session_info info;
    tidal_session_entry je;
    uint32_t got = 0;
    if (tidal_session_get(n->db, e->tenant, e->id, &info) != TIDAL_OK || !info.entries) return 1;
    if (tidal_session_entries(n->db, e->tenant, e->id, info.entries - 1, &je, 1, &got) !=
            TIDAL_OK || got != 1)
        return 1;
    return je.seq + 1;
}

/* a: known session a % n; b: seq slot b % 8 (signals seq 2 * slot - 1, notes 2 * slot; 0
   automatic, writing whichever kind the parity of the seq tidal picks says), b bit 5 drops a
   signal's event time, bit 6 its cohort tags (refused); b >= 248: a seq out of range. */
static tidal_result fm_op_sess_write(fm_run *run, fm_node *n, fm_in *in, int note,
                                     tidal_receipt *rc) {
    uint8_t a = fm_u8(in), b = fm_u8(in);
    const fm_sess *e;
    uint64_t seq, want, h;
    tidal_event_id id;
    tidal_result r;
    int was;
    if (!run->n_sess) return FM_SKIPPED;
    e = &run->sess[a % run->n_sess];
    if (b >= 248) seq = want = UINT64_MAX - 2;
    else if (b % 8 == 0) seq = 0, want = fm_next_seq(n, e), note = want % 2 == 0;
    else seq = want = note ? 2u * (b % 8) : 2u * (b % 8) - 1;
    h = tidal__mix64(e->id * UINT64_C(0x9E3779B97F4A7C15) ^ want ^ (uint64_t)e->tenant << 56);
    id = tidal__session_id(e->tenant, e->id, want);
    was = fm_set_has(&n->ids, id);
    if (note) {
        char text[48];
        snprintf(text, sizeof text, "note %llu.%u", (unsigned long long)want, (unsigned)(h % 1000));
        r = tidal_session_note(n->db, e->tenant, e->id, seq, text, rc);
    } else {
        tidal_signal s;
        tidal_tag tags[2];
        fm_derived_signal(h, &s, tags);
        s.tenant = e->tenant;
        if (b < 248 && (b & 32)) s.time_ns = 0;
        if (b < 248 && (b & 64)) s.cohort = NULL;
        r = tidal_session_signal(n->db, e->id, seq, &s, rc);
        if (r == TIDAL_OK)
            fz_require(s.time_ns && s.cohort,
                       "a session write without its time or cohort is refused");
    }
    if (r != TIDAL_OK) return r;
    fz_require(rc->id.hi == id.hi && rc->id.lo == id.lo,
               "a session write's id = f(tenant, session, seq), the same on every replica");
    fz_require(rc->duplicate == was, "a session write is a duplicate exactly when applied");
    return r;
}

/* a: source replica a % 3; b: mode b % 4 (all, all reversed, the suffix from c % (n + 1),
   every other event from c % 2). Skipped once FM_IMPORT_BUDGET is spent. */
static tidal_result fm_op_merge(fm_run *run, fm_node *n, fm_in *in) {
    uint8_t a = fm_u8(in), b = fm_u8(in), c = fm_u8(in);
    const fm_list *from = &run->node[a % FM_REPLICAS].list;
    uint32_t mode = b % 4u, lo = mode == 2 ? c % (from->n + 1) : mode == 3 ? c % 2u : 0;
    uint32_t cost = (from->n - (lo < from->n ? lo : from->n)) / (mode == 3 ? 2 : 1);
    if (cost > run->import_budget) return FM_SKIPPED;
    run->import_budget -= cost;
    fm_import(n, from, lo, mode == 3 ? 2 : 1, mode == 1);
    return TIDAL_OK;
}

/* Takes the node's digest before an op if it is stale and the budget allows. */
static void fm_digest_fresh(fm_run *run, fm_node *n) {
    if (!n->digest_ok && run->digest_budget) {
        run->digest_budget--;
        fz_digest(n->db, n->digest);
        n->digest_ok = 1;
    }
}

/* Checks one op's effect: grew is how many events the hook reported. */
static void fm_op_check(fm_run *run, fm_node *n, uint32_t n0, tidal_result r,
                        const tidal_receipt *rc, uint32_t grew_max) {
    uint32_t grew = n->list.n - n0;
    fz_require(grew <= grew_max, "one write applies at most one event");
    if (r != TIDAL_OK) fz_require(grew == 0, "a failed call applies no event");
    if (r == TIDAL_OK && rc) {
        fz_require(grew == (uint32_t)!rc->duplicate, "an accepted write reports its event once");
        if (grew) {
            tidal_event_id id;
            size_t len;
            const uint8_t *ev = fm_list_get(&n->list, n->list.n - 1, &len);
            id = fm_event_id(ev, len);
            fz_require(id.hi == rc->id.hi && id.lo == rc->id.lo,
                       "the hook's event has the receipt's id");
        }
    }
    if (!grew && n->digest_ok && run->digest_budget) {
        uint8_t now[32];
        run->digest_budget--;
        fz_digest(n->db, now);
        fz_require(!memcmp(now, n->digest, 32), "a call that applied no event changes nothing");
    } else if (!grew) {
        n->digest_ok = 0; /* not checked: the cache is no longer known to be the state's */
    }
}

static void fm_op(fm_run *run, fm_in *in) {
    uint8_t head = fm_u8(in);
    fm_node *n = &run->node[(head / FM_OP_COUNT) % FM_REPLICAS];
    uint32_t n0 = n->list.n, grew_max = 1;
    tidal_receipt rc, *rcp = &rc;
    tidal_result r;
    fm_digest_fresh(run, n);
    memset(&rc, 0, sizeof rc);
    switch (head % FM_OP_COUNT) {
    case FM_OP_SIGNAL: r = fm_op_signal(n, in, &rc); break;
    case FM_OP_IDEM: r = fm_op_idem(n, in, &rc); break;
    case FM_OP_ATTR: r = fm_op_attr(n, in, &rc); break;
    case FM_OP_NEG_ADD: r = fm_op_neg(run, n, in, 1, &rc); break;
    case FM_OP_NEG_REMOVE: r = fm_op_neg(run, n, in, 0, &rc); break;
    case FM_OP_SESS_START: r = fm_op_sess_start(run, n, in), rcp = NULL; break;
    case FM_OP_SESS_OPEN: r = fm_op_sess_open(run, n, in), rcp = NULL; break;
    case FM_OP_SESS_SIGNAL: r = fm_op_sess_write(run, n, in, 0, &rc); break;
    case FM_OP_SESS_NOTE: r = fm_op_sess_write(run, n, in, 1, &rc); break;
    case FM_OP_SESS_END: { /* a: known session a % n */
        uint8_t a = fm_u8(in);
        const fm_sess *e = run->n_sess ? &run->sess[a % run->n_sess] : NULL;
        r = e ? tidal_session_end(n->db, e->tenant, e->id) : FM_SKIPPED;
        rcp = NULL;
        break;
    }
    case FM_OP_MERGE: r = fm_op_merge(run, n, in), rcp = NULL, grew_max = UINT32_MAX; break;
    default: /* FM_OP_TICK, a: minutes past FZ_NOW; due sessions expire (an event each) */
        r = tidal_db_tick(n->db, FZ_NOW + (int64_t)fm_u8(in) * FM_MIN_NS);
        rcp = NULL;
        grew_max = UINT32_MAX;
        break;
    }
    fm_op_check(run, n, n0, r, rcp, grew_max);
}

/* ---- Laws ---------------------------------------------------------------------------------- */

/* The laws take each merge database's digest once: nothing changes it between the
   comparisons (a RETRIEVE in between must not either, which the final idempotence check
   sees), so a second digest of the same state would check nothing more. */
static const uint8_t *fm_law_digest(fm_node *n) {
    if (!n->digest_ok) fz_digest(n->db, n->digest);
    n->digest_ok = 1; /* the hook clears it when an event applies */
    return n->digest;
}

/* a: a live replica after its ops. Its cache, when set, is its state's digest: the ops'
   checks keep it only while no event applied and every call since was checked to change
   nothing (fm_op_check). */
static void fm_same_digest(fm_node *a, fm_node *b, const char *law) {
    fz_require(!memcmp(fm_law_digest(a), fm_law_digest(b), 32), law);
}

static void fm_same_law_digest(fm_node *a, fm_node *b, const char *law) {
    fz_require(!memcmp(fm_law_digest(a), fm_law_digest(b), 32), law);
}

static void fm_law_rebuild(fm_node *live, fm_node *r);

/* A fresh merge database (regions 8 and up: never a replica's) that imports lists in order;
   when a is a replica's own list (live), law 3 is checked on it after a (fm_law_rebuild). */
static void fm_merge(fm_node *m, uint16_t region, const fm_list *a, const fm_list *b,
                     const fm_list *c, fm_node *live) {
    fm_node_open(m, region);
    if (a) fm_import(m, a, 0, 1, 0);
    if (live) fm_law_rebuild(live, m);
    if (b) fm_import(m, b, 0, 1, 0);
    if (c) fm_import(m, c, 0, 1, 0);
    fz_require(fm_applied(m) == m->ids.n, "events_applied = distinct ids imported");
}

/* Every event of the three lists in one input-seeded shuffle (Fisher-Yates). */
static void fm_merge_shuffled(fm_node *m, const fm_run *run, uint64_t seed) {
    uint32_t total = 0, i, k, *pick;
    size_t len;
    for (i = 0; i < FM_REPLICAS; i++) total += run->node[i].list.n;
    pick = (uint32_t *)malloc(sizeof *pick * (total ? total : 1));
    fz_require(pick != NULL, "out of memory in the harness");
    for (i = 0, k = 0; i < FM_REPLICAS; i++) {
        uint32_t j;
        for (j = 0; j < run->node[i].list.n; j++) pick[k++] = i << 24 | j;
    }
    for (i = total; i > 1; i--) {
        uint32_t j = (uint32_t)(tidal__mix64(seed + i) % i), t = pick[i - 1];
        pick[i - 1] = pick[j];
        pick[j] = t;
    }
    fm_node_open(m, 12);
    for (i = 0; i < total; i++) {
        const uint8_t *ev = fm_list_get(&run->node[pick[i] >> 24].list, pick[i] & 0xFFFFFF, &len);
        fm_import_one(m, ev, len);
    }
    free(pick);
    fz_require(fm_applied(m) == m->ids.n, "events_applied = distinct ids imported");
}

/* Law 3 for replica `live` on r, a fresh merge database that has imported live's list and
   nothing else: rebuilt from its list alone = live; twice = once. The merge databases that
   start with one replica's list (A,B / B,C / C,B,A) are those rebuilds: checked there, each
   goes on with the next list (the second import of the first one applied nothing, which
   fm_import_one and the digest here both check, so it is the merge it was). */
static void fm_law_rebuild(fm_node *live, fm_node *r) {
    uint8_t before[32], after[32];
    fz_require(fm_applied(live) == live->list.n, "events_applied = events the hook reported");
    fz_require(fm_applied(r) == r->ids.n, "events_applied = distinct ids imported");
    fm_same_digest(live, r, "a replica rebuilt from its own event list has its live digest");
    memcpy(before, fm_law_digest(r), 32);
    fm_import(r, &live->list, 0, 1, 0); /* every receipt a duplicate (fm_import_one) */
    fz_digest(r->db, after);
    fz_require(!memcmp(before, after, 32), "idempotence: merge(A, A) = A");
}

typedef struct fm_answer {
    uint32_t n[2 * FM_QUERIES];
    tidal_hit hit[2 * FM_QUERIES][FM_HITS_MAX];
} fm_answer;

/* Runs the fixed queries for tenants 0 and 7. */
static void fm_answers(tidal_db *db, fm_answer *out) {
    static const tidal_tag where[1] = {{"creator", "201"}};
    uint32_t t, k;
    memset(out, 0, sizeof *out);
    for (t = 0; t < 2; t++)
        for (k = 0; k < FM_QUERIES; k++) {
            tidal_query q;
            uint32_t i = t * FM_QUERIES + k;
            memset(&q, 0, sizeof q);
            q.tenant = t ? 7 : 0;
            q.rank_index = k == 1 || k == 3 ? 1 : k == 2 ? 2 : 0;
            q.limit = k == 2 || k == 4 ? 5 : 3;
            q.time_ns = k == 1 ? FZ_NOW + 2 * 3600 * TIDAL_NS_PER_S : FZ_NOW;
            if (k == 3) q.cohort_key = "locale", q.cohort_value = "en";
            if (k == 4) q.for_user = 101, q.exclude_seen = 1;
            if (k == 5) q.rank_kind = TIDAL_QUERY_PROFILE, q.where = where, q.where_count = 1;
            fz_require(tidal_retrieve(db, &q, out->hit[i], FM_HITS_MAX, &out->n[i], NULL) ==
                           TIDAL_OK,
                       "retrieve");
        }
}

/* x: a's answers (fm_answers), taken once for every database compared with a: a RETRIEVE
   changes no state (the idempotence check after them sees a's digest unchanged). */
static void fm_same_answers(const fm_answer *x, fm_node *b) {
    fm_answer y;
    uint32_t i, j;
    fm_answers(b->db, &y);
    for (i = 0; i < 2 * FM_QUERIES; i++) {
        fz_require(x->n[i] == y.n[i], "equal event sets answer RETRIEVE alike (count)");
        for (j = 0; j < x->n[i]; j++)
            fz_require(x->hit[i][j].item == y.hit[i][j].item &&
                           !memcmp(&x->hit[i][j].score, &y.hit[i][j].score, sizeof(double)),
                       "equal event sets answer RETRIEVE alike (items and scores)");
    }
}

/* A corrupt copy must be refused (an empty one as INVALID) and apply no event; that it
   changes nothing is checked by the caller's next digest (fm_law_corrupt). */
static void fm_reject(fm_node *m, const uint8_t *ev, size_t len, const char *law) {
    uint32_t n0 = m->list.n;
    tidal_result r = tidal_event_import(m->db, ev, len, NULL);
    fz_require(r == (len ? TIDAL_ERR_CORRUPT : TIDAL_ERR_INVALID), law);
    fz_require(m->list.n == n0, law);
}

/* Law 8 on a merged database: truncated, extended and bit-flipped copies of its events.
   digest: m's digest as it is now (the caller's last check took it). Every refused import
   must leave the state as it was: the digest is compared with base (the state's digest
   before the refusals) after the refusals of one copy and before anything that may change
   the state (a flipped copy that is still a valid event), and once more at the end, so
   each refused import lies between two digests with only refusals in between; a state
   one refusal changed differs at the next of them (only two refusals that changed it and
   then changed it back exactly would pass). A digest each refusal would check nothing
   more. */
static void fm_law_corrupt(fm_node *m, uint64_t seed, const uint8_t digest[32]) {
    uint8_t base[32], now[32], *buf;
    uint32_t k, n0;
    int refused = 0; /* refused imports since base was taken */
    memcpy(base, digest, 32);
    for (k = 0; k < FM_CORRUPT_MAX && m->list.n; k++) {
        uint64_t h = tidal__mix64(seed ^ (k + 1) * UINT64_C(0x9E3779B97F4A7C15));
        size_t len;
        const uint8_t *ev = fm_list_get(&m->list, (uint32_t)(h % m->list.n), &len);
        tidal_result r;
        buf = (uint8_t *)malloc(len + 1);
        fz_require(buf != NULL, "out of memory in the harness");
        memcpy(buf, ev, len);
        fm_reject(m, buf, (size_t)((h >> 20) % len),
                  "a truncated event is refused and changes nothing");
        buf[len] = (uint8_t)(h >> 32);
        fm_reject(m, buf, len + 1, "an event with a trailing byte is refused, no change");
        fz_digest(m->db, now); /* before the flipped copy, which may change the state */
        fz_require(!memcmp(now, base, 32),
                   "a refused event (truncated, a trailing byte, or flipped) changes nothing");
        buf[(h >> 40) % len] ^= (uint8_t)(1 + (h >> 48) % 255);
        n0 = m->list.n;
        r = tidal_event_import(m->db, buf, len, NULL);
        refused = r != TIDAL_OK;
        if (refused) {
            fz_require(m->list.n == n0, "a refused flipped event applies no event");
        } else { /* a flip that is still a valid event may change state: the new base */
            fz_digest(m->db, base);
        }
        free(buf);
    }
    if (refused) { /* the last flipped copy's refusal */
        fz_digest(m->db, now);
        fz_require(!memcmp(now, base, 32), "a refused flipped event changes nothing");
    }
}

/* Laws 3 to 8. Merge databases: 0 A,B,C  1 C,B,A  2 B,A,C  3 shuffled  4 A,B  5 B,C
   6 (A,B),C  7 A,(B,C). */
static void fm_laws(fm_run *run, uint64_t seed) {
    fm_answer ans; /* m[0]'s answers, compared with three other merges' */
    fm_node *m = (fm_node *)calloc(8, sizeof *m);
    const fm_list *a = &run->node[0].list, *b = &run->node[1].list, *c = &run->node[2].list;
    fm_set u;
    uint8_t before[32], after[32];
    uint32_t i, j;
    size_t len;
    fz_require(m != NULL, "out of memory in the harness");
    fm_merge(&m[0], 8, a, b, c, NULL);
    fm_merge(&m[1], 9, c, b, a, &run->node[2]);
    fm_merge(&m[2], 10, b, a, c, NULL);
    fm_merge_shuffled(&m[3], run, seed);
    for (i = 1; i <= 3; i++)
        fm_same_law_digest(&m[0], &m[i], "order independence: A,B,C = C,B,A = B,A,C = shuffled");
    fm_merge(&m[4], 13, a, b, NULL, &run->node[0]);
    fm_merge(&m[5], 14, b, c, NULL, &run->node[1]);
    fm_merge(&m[6], 15, &m[4].list, c, NULL, NULL);
    fm_merge(&m[7], 16, a, &m[5].list, NULL, NULL);
    fm_same_law_digest(&m[6], &m[7], "associativity: merge(merge(A,B),C) = merge(A,merge(B,C))");
    fm_same_law_digest(&m[0], &m[6], "associativity: merge(merge(A,B),C) = A,B,C");
    memset(&u, 0, sizeof u);
    for (i = 0; i < FM_REPLICAS; i++)
        for (j = 0; j < run->node[i].list.n; j++) {
            const uint8_t *ev = fm_list_get(&run->node[i].list, j, &len);
            fm_set_add(&u, fm_event_id(ev, len));
        }
    for (i = 0; i < 8; i++)
        if (i != 4 && i != 5)
            fz_require(fm_applied(&m[i]) == u.n,
                       "events_applied of a merge = distinct ids in the union");
    free(u.slot);
    memcpy(before, fm_law_digest(&m[0]), 32); /* taken before the RETRIEVEs below */
    fm_answers(m[0].db, &ans);
    fm_same_answers(&ans, &m[1]);
    fm_same_answers(&ans, &m[3]);
    fm_same_answers(&ans, &m[7]);
    fm_import(&m[0], a, 0, 1, 0); /* every receipt a duplicate (fm_import_one checks) */
    fm_import(&m[0], b, 0, 1, 0);
    fm_import(&m[0], c, 0, 1, 0);
    fz_digest(m[0].db, after);
    fz_require(!memcmp(before, after, 32),
               "idempotence: importing every list again changes nothing");
    fm_law_corrupt(&m[0], seed, after);
    for (i = 0; i < 8; i++) fm_node_close(&m[i]);
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fm_run *run = (fm_run *)calloc(1, sizeof *run);
    fm_in in;
    uint64_t seed = UINT64_C(0xcbf29ce484222325);
    uint32_t i, ops;
    (void)fz_open; /* fuzz_common.h's open has no node and no profile: fm_node_open */
    fz_require(run != NULL, "out of memory in the harness");
    for (i = 0; i < size; i++) seed = (seed ^ data[i]) * UINT64_C(0x100000001b3);
    for (i = 0; i < FM_REPLICAS; i++) fm_node_open(&run->node[i], (uint16_t)i);
    run->import_budget = FM_IMPORT_BUDGET;
    run->digest_budget = FM_DIGEST_BUDGET;
    in.p = data;
    in.n = size;
    in.pos = 0;
    for (ops = 0; ops < FM_OPS_MAX && in.pos < in.n; ops++) fm_op(run, &in);
    fm_laws(run, seed);
    for (i = 0; i < FM_REPLICAS; i++) fm_node_close(&run->node[i]);
    free(run);
    return 0;
}
