/* fuzz_export.c - libFuzzer target for tenant migration: the export format that
   tidal_tenant_install parses, the install-chunk events it writes (decoded again by every
   member that applies them), tidal_tenant_drop and tidal_tenant_footprint.

   Per input: a target database (region 2) with a fixed state in tenants 1, 2 and 7
   (fe_fill, built once per process and restored per input from its image: fe_dst_open),
   and, by mode, a source (region 1) that the input builds; a fresh database (region 3,
   or 0 for a copy that only decodes) is taken where a check needs one. All are ephemeral,
   with the schema of fuzz_common.h (view, like, buy; cohort keys locale, tier), a fixed
   clock (FZ_NOW) and distinct regions, so no two share an event origin; each is a handle
   kept per region and renewed between uses (fe_take, fe_give), as a new open would give it.

   Input: byte 0: mode = b0 & 7, flags = b0 >> 3.
     0 RAW    the rest is handed to tidal_tenant_install as is (migration 1 + flags);
              almost always refused by the checksum. Flag bit 4 also makes the calls with a
              NULL export and with migration 0 (TIDAL_ERR_INVALID, no change).
     1 BODY   (also 5) the rest is an export BODY: the harness wraps it in a valid header
              (magic "TLDX", version 1, the schema fingerprint copied from a real export,
              tenant fe_tenants[flags & 3], 0, body length) and its BLAKE3 sum, so inputs
              reach the decoders behind the checksum.
     2 BUILD  (also 6) byte 1: bits 0-3 mutation count m, bit 4 reseal, bits 5-6 the
              exported tenant fe_tenants[.]; then build ops (fe_build) up to the last 5 * m
              bytes, which are m mutations (kind, position u24, value: fe_mutate). The
              source is built, the tenant exported, the export mutated (and with reseal its
              length and sum fixed again, so the mutation reaches the decoders) and
              installed into the target. With m = 0 the install must succeed and the
              target's copy equal the source's.
     3 DROP   byte 1: bits 5-6 the tenant as BUILD, bits 0-1 reuse a migration (see
              fe_mode_drop); then build ops. The export is installed, then the tenant
              dropped from the target and from the source, and installed again.
     4 CHUNK  (also 7) the rest is the value of one install-chunk event (flags byte, then
              the chunk), for tenant fe_tenants[flags & 3] under migration 400, with an id
              consistent with its flags (flag bit 2: one off, to reach the id check; bit 3:
              a middle chunk's sequence 1 or 2). It goes through the event codec
              (tidal__event_put, tidal__event_get) and tidal__apply, as WAL replay and
              replication apply it. A chunk that is not first only applies to an install
              of its generation in progress: unless flag bit 4 is set, a valid first chunk
              of migration 400 is applied before it.

   Properties (a violation prints the law and aborts, which libFuzzer reports as a crash):
     1. no crash, no sanitizer report, no leak;
     2. tidal_tenant_install returns TIDAL_OK, TIDAL_ERR_CORRUPT or TIDAL_ERR_LIMIT (RAW
        also TIDAL_ERR_INVALID); a chunk applies with TIDAL_OK or TIDAL_ERR_CORRUPT;
     3. a refused install or chunk changes nothing: the digest of every tenant, and the
        whole snapshot body (state, applied-event index, counters) are as before, and the
        migration does not read as installed;
     4. an accepted install: reads as installed; changes no other tenant; gives the tenant
        exactly the state the export decodes to (per-tenant digest and footprint of a
        fresh decode, tidal__export_load); a retry is a duplicate that changes nothing;
        the target's snapshot body decodes and re-encodes to the same bytes; a write (not
        a duplicate), a RETRIEVE, a digest and tidal_tenant_footprint work; a second export
        of the tenant installs into a fresh database with an equal per-tenant digest;
     5. a real export (BUILD with no mutation, DROP) always installs and the copy equals
        the source; exporting is deterministic, and a buffer too small gets TIDAL_ERR_LIMIT,
        the size needed and no write;
     6. a drop leaves the tenant's footprint at 0 and its digest that of an empty tenant,
        every other tenant unchanged, a second drop a duplicate, and the database usable;
        installing the export again under a new migration restores the copy; a drop or
        install under an older migration than the newest applied gets
        TIDAL_ERR_STALE_CONFIG and changes nothing; one under the same migration as the
        previous install or drop is refused or done, never a silent no-op;
     7. a chunk folds as a no-op exactly when it is stale (first: a generation not newer
        than the tenant's; else: not of the install in progress); applied, it sets the
        tenant's generation (complete with the last chunk).

   Found by this target and fixed in tidal.h (reproducers kept in fuzz/corpus/export,
   regress_*): install chunks larger than the event limit (the first one carries the
   source's whole applied-event index; the limit is now one message, and a bigger chunk
   is TIDAL_ERR_LIMIT before anything is written); a drop or install under the
   generation of the one before it returned TIDAL_OK and did nothing (now
   TIDAL_ERR_STALE_CONFIG unless it retries that very call); a session whose start + ttl
   overflows int64 (now TIDAL_ERR_INVALID, and refused by the decoders); decoded epochs
   far from any real time, whose arithmetic overflowed (now refused by the decoder).
   -DFZ_EXPORT_SKIP_KNOWN is kept for fuzzing around a future known bug.
   Not asserted (a design question, see chunk_stale_garbage_is_noop): a stale chunk is
   folded as a no-op before any check, so a malformed one (bad flags, undecodable rows) is
   accepted and its id marked applied instead of being refused with TIDAL_ERR_CORRUPT.

   Inputs of modes BUILD and DROP are slow (a source state, several exports and installs):
   -DFZ_EXPORT_DECODERS_ONLY reads modes 2, 3 and 6 as BODY, for fast runs on the decoders.

   Run (from the repository root):
     make build/libfuzz_fuzz_export          (clang with libFuzzer; ASan + UBSan)
     build/libfuzz_fuzz_export -max_total_time=60 build/corpus_export fuzz/corpus/export
     make build/replay_fuzz_export && build/replay_fuzz_export fuzz/corpus/export   (any cc;
        make test does this)
   Corpus: fuzz/gen_export_corpus.c writes fuzz/corpus/export (make corpus). */
/* Install chunks of 4 KiB instead of 256 KiB, and the bulk ops' caps cut by the same 64:
   every chunking branch (several chunks, an index or a session row larger than one chunk)
   is reached by states 64 times smaller, which is most of what keeps an input short. */
#ifndef TIDAL_INSTALL_CHUNK_BYTES
#define TIDAL_INSTALL_CHUNK_BYTES (4u << 10)
#endif
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "fuzz_common.h"

#define FE_MODE_RAW 0
#define FE_MODE_BODY 1
#define FE_MODE_BUILD 2
#define FE_MODE_DROP 3
#define FE_MODE_CHUNK 4

#define FE_TRACKED 5          /* tenants whose digests are compared */
#define FE_SESSIONS_MAX 16    /* sessions the builder knows per input */
#define FE_BULK_ITEMS_MAX 64  /* items written by bulk ops per input (~64 KB of state) */
#define FE_BULK_NOTES_MAX 8   /* notes written by bulk ops per input (a 32 KB session) */
#define FE_BULK_IDEM_MAX 256  /* keyed writes by bulk ops per input (a 6 KB index) */
#define FE_OPS_MAX 512        /* build ops per input */
#define FE_MUT_BYTES 5        /* one mutation: kind, position u24, value */
#define FE_MIN_NS (60 * TIDAL_NS_PER_S)
#define FE_PROBE_ITEM UINT64_C(999983) /* the item fe_usable writes */

static const uint32_t fe_tenants[4] = {1, 2, 7, 40000}; /* 40000: none in the target */
static const uint32_t fe_tracked[FE_TRACKED] = {0, 1, 2, 7, 40000};

/* What the last input did, for gen_export_corpus's report. */
typedef struct fe_trace {
    int mode;
    tidal_result r;    /* the (first) install or chunk apply */
    uint32_t chunks;   /* install events written */
    size_t export_len; /* bytes of the export installed */
} fe_trace;
static fe_trace fe_last;

/* ---- Databases ---------------------------------------------------------------------------- */

static tidal_db *fe_open(fz_env *e, uint16_t region) { return fz_open_at(e, region); }

/* The handles of an input are kept, one per region, as fuzz_merge keeps its own: 0 decodes
   copies (fe_roundtrip, fe_after_ok's reference, fe_empty_digest), 1 is the source, 2 the
   target, 3 the fresh database a second export installs into. A region's handle is opened
   on its first use in the process (fz_open_at, the same config as ever) and kept; giving it
   back renews it (tidal__db_renew: close's work, then the handle's bytes as they were right
   after its open) and sets its env back to what it was then, so every take after the first
   gives exactly the handle a new open would - same config, incarnation and random stream,
   an empty state - without the open's work (about five opens an input). */
#define FE_REGIONS 4
typedef struct fe_kept {
    fz_env env, env0; /* the env the handle uses; env0: as it was right after the open */
    tidal_db *db, *fresh; /* fresh: the handle's bytes right after its open */
    int busy;
    uint32_t renewals; /* fe_give compares every 64th renewed handle with fresh whole */
} fe_kept;
static fe_kept fe_kept_all[FE_REGIONS];

static tidal_db *fe_take(uint16_t region) {
    fe_kept *k;
    TIDAL_ASSERT(region < FE_REGIONS);
    k = &fe_kept_all[region];
    fz_require(!k->busy, "one handle a region at a time");
    if (!k->db) {
        k->db = fz_open_at(&k->env, region);
        k->fresh = (tidal_db *)malloc(sizeof *k->fresh);
        fz_require(k->fresh != NULL, "out of memory in the harness");
        memcpy(k->fresh, k->db, sizeof *k->fresh);
        k->env0 = k->env;
    }
    fz_require(k->db->stats.events_applied == 0 && k->db->stats.bytes_state == 0 &&
                   k->db->st.n_ents == 0 && k->db->st.n_sess == 0 && k->db->st.n_origins == 0,
               "a renewed handle is empty");
    k->busy = 1;
    return k->db;
}

static void fe_give(tidal_db *db) {
    uint32_t i;
    for (i = 0; i < FE_REGIONS; i++)
        if (fe_kept_all[i].db == db) break;
    TIDAL_ASSERT(i < FE_REGIONS && fe_kept_all[i].busy);
    tidal__db_renew(db, fe_kept_all[i].fresh);
    /* Renewing leaves the replication window's bytes alone (>>db_open): that nothing wrote
       them shows as a handle that differs from fresh, seen at the next whole comparison. */
    if (fe_kept_all[i].renewals++ % 64 == 0)
        fz_require(!memcmp(db, fe_kept_all[i].fresh, sizeof *db),
                   "a renewed handle is the one a new open gives");
    fe_kept_all[i].env = fe_kept_all[i].env0;
    fe_kept_all[i].busy = 0;
}

/* Everything "changes nothing" compares: digests, and the snapshot body (state, index,
   counters) by its BLAKE3. The tracked tenants' digests are taken when a comparison of
   single tenants (fe_others_same) will need them (tenants = 1): where two states are
   compared whole (fe_state_same), equal whole-state digests already mean equal digests of
   every tenant - tidal_db_digest of one tenant hashes the very bytes the whole-state
   digest hashes for it (tidal__enc_tenant), and a tenant absent from both reads as empty
   in both - so they are compared when both states have them and not taken otherwise. */
typedef struct fe_state {
    uint8_t all[32], body[32], tenant[FE_TRACKED][32];
    int tenants;
} fe_state;

/* A snapshot body kept for fe_roundtrip (freed with tidal__free(db, p, cap)). */
typedef struct fe_body {
    uint8_t *p;
    size_t len, cap;
} fe_body;

/* keep: NULL, or where the body goes when the caller checks its round trip next (the same
   state: encoding it again would give the very bytes whose hash s holds). The digests and
   the body come from one encoding (tidal__state_sums, >>migration): the bytes
   tidal_db_digest and tidal__snap_body_mem give, which fe_state_sums_agree checks on the
   restored image and fe_roundtrip on every state it decodes (its body re-encoded by
   tidal__snap_body_mem, its digest taken by tidal_db_digest). */
static void fe_state_take_keep(tidal_db *db, fe_state *s, int tenants, fe_body *keep) {
    fe_body b;
    fz_require(tidal__state_sums(db, fe_tracked, tenants ? FE_TRACKED : 0, s->tenant, s->all,
                                 s->body, keep ? &b.p : NULL, &b.len, &b.cap) == TIDAL_OK,
               "state digests and snapshot body");
    if (keep) *keep = b;
    s->tenants = tenants != 0;
}

/* tidal__state_sums gives what the separate calls give: the whole digest, each tracked
   tenant's digest and the snapshot body (checked once a process, on the image). */
static void fe_state_sums_agree(tidal_db *db, const fe_state *s) {
    fe_body b;
    uint8_t d[32];
    uint32_t i;
    fz_digest(db, d);
    fz_require(!memcmp(d, s->all, 32), "one encoding's state digest is tidal_db_digest's");
    for (i = 0; i < FE_TRACKED; i++) {
        fz_require(tidal_db_digest(db, fe_tracked[i], d) == TIDAL_OK, "tenant digest");
        fz_require(!memcmp(d, s->tenant[i], 32), "one encoding's tenant digest is tidal_db_digest's");
    }
    fz_require(tidal__snap_body_mem(db, &b.p, &b.len, &b.cap) == TIDAL_OK, "snapshot body");
    tidal_blake3(b.p, b.len, d);
    fz_require(!memcmp(d, s->body, 32), "one encoding's body is tidal__snap_body_mem's");
    tidal__free(db, b.p, b.cap);
}

static void fe_state_take(tidal_db *db, fe_state *s, int tenants) {
    fe_state_take_keep(db, s, tenants, NULL);
}

/* s's digest of tenant when it has the tracked tenants' (NULL otherwise). */
static const uint8_t *fe_state_tenant(const fe_state *s, uint32_t tenant) {
    uint32_t i;
    for (i = 0; s->tenants && i < FE_TRACKED; i++)
        if (fe_tracked[i] == tenant) return s->tenant[i];
    return NULL;
}

static void fe_state_same(const fe_state *a, const fe_state *b, const char *what) {
    fz_require(!memcmp(a->all, b->all, 32) && !memcmp(a->body, b->body, 32), what);
    if (a->tenants && b->tenants) fz_require(!memcmp(a->tenant, b->tenant, sizeof a->tenant), what);
}

/* Every tracked tenant but skip has the digest it had. */
static void fe_others_same(const fe_state *a, const fe_state *b, uint32_t skip, const char *what) {
    uint32_t i;
    TIDAL_ASSERT(a->tenants && b->tenants);
    for (i = 0; i < FE_TRACKED; i++)
        if (fe_tracked[i] != skip) fz_require(!memcmp(a->tenant[i], b->tenant[i], 32), what);
}

static void fe_tenant_digest(tidal_db *db, uint32_t tenant, uint8_t out[32]) {
    fz_require(tidal_db_digest(db, tenant, out) == TIDAL_OK, "tenant digest");
}

static void fe_footprint(tidal_db *db, uint32_t tenant, uint64_t out[3]) {
    fz_require(tidal_tenant_footprint(db, tenant, &out[0], &out[1], &out[2]) == TIDAL_OK,
               "footprint");
    fz_require((out[0] + out[1] == 0) == (out[2] == 0), "footprint bytes 0 exactly when empty");
}

/* Tenant in b is a copy of tenant in a: equal digests (what_digest) and footprints
   (what_footprint). b_known: b's digest of tenant when the caller has it (NULL: taken). */
static void fe_same_copy(tidal_db *a, tidal_db *b, uint32_t tenant, const uint8_t *b_known,
                         const char *what_digest, const char *what_footprint) {
    uint8_t d1[32], d2[32];
    uint64_t f1[3], f2[3];
    fe_tenant_digest(a, tenant, d1);
    if (b_known) memcpy(d2, b_known, 32);
    else fe_tenant_digest(b, tenant, d2);
    fz_require(!memcmp(d1, d2, 32), what_digest);
    fe_footprint(a, tenant, f1);
    fe_footprint(b, tenant, f2);
    fz_require(!memcmp(f1, f2, sizeof f1), what_footprint);
}

/* The target's fixed state: a bit of everything in tenants 1, 2 and 7. */
static void fe_fill(tidal_db *db) {
    static const tidal_tag en[1] = {{"locale", "en"}};
    static const tidal_tag gold[2] = {{"tier", "gold"}, {"locale", "fr"}};
    tidal_signal s;
    tidal_id sid = 0;
    uint32_t i;
    for (i = 0; i < 12; i++) {
        memset(&s, 0, sizeof s);
        s.tenant = fe_tenants[i % 3];
        s.item = 1 + i % 5;
        s.type = i % 3;
        s.weight = 1.0 + i;
        s.time_ns = FZ_NOW - (int64_t)i * 3600 * TIDAL_NS_PER_S;
        s.user = i % 2 ? 100 + i % 3 : 0;
        s.cohort = i % 4 == 1 ? en : i % 4 == 3 ? gold : NULL;
        s.cohort_count = i % 4 == 1 ? 1 : i % 4 == 3 ? 2 : 0;
        if (i == 5) {
            s.idem.key = "fill";
            s.idem.key_len = 4;
            s.idem.seq = 1;
            s.cohort = en;
            s.cohort_count = 1;
        }
        fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "fill: signal");
    }
    fz_require(tidal_attr_set(db, 1, 2, "creator", "201", NULL) == TIDAL_OK, "fill: attr");
    fz_require(tidal_attr_set(db, 7, 100, "locale", "en", NULL) == TIDAL_OK, "fill: attr");
    fz_require(tidal_negative_add(db, 1, 100, TIDAL_HIDE, 3, NULL) == TIDAL_OK, "fill: hide");
    fz_require(tidal_negative_add(db, 2, 101, TIDAL_MUTE, 201, NULL) == TIDAL_OK, "fill: mute");
    fz_require(tidal_session_start(db, 1, 102, 0, &sid) == TIDAL_OK, "fill: session");
    fz_require(tidal_session_note(db, 1, sid, 0, "fill", NULL) == TIDAL_OK, "fill: note");
}

static uint8_t *fe_export(tidal_db *db, uint32_t tenant, size_t *len, int thorough);

/* The target's pre-filled state is built once per process (fe_fill) and every input's
   target restored from its image: the snapshot body, decoded into a fresh handle of the
   same region (the snapshot codec's round trip, which fe_roundtrip checks after every
   accepted install), for a fraction of fe_fill's writes. fe_image_state is what
   fe_state_take reads of a restored target (tenants too), taken once: restoring is
   deterministic, and if it ever were not, the "changes nothing" checks that start from
   it would fail, never pass wrongly. fe_hdr: magic, version and schema fingerprint of a
   real export (of a tenant the target does not hold), for mode BODY. Restoring is
   tidal__db_restore (>>migration). */
static uint8_t *fe_image;
static size_t fe_image_len;
static fe_state fe_image_state;
static uint8_t fe_hdr[16];

static tidal_db *fe_dst_open(void) {
    tidal_db *db;
    if (!fe_image) {
        fz_env e;
        uint8_t *body, *real;
        size_t len, cap;
        db = fe_open(&e, 2);
        fe_fill(db);
        real = fe_export(db, 40000, &len, 1);
        memcpy(fe_hdr, real, 16);
        free(real);
        fz_require(tidal__snap_body_mem(db, &body, &len, &cap) == TIDAL_OK, "snapshot body");
        fe_image = (uint8_t *)malloc(len);
        fz_require(fe_image != NULL, "out of memory in the harness");
        memcpy(fe_image, body, len);
        fe_image_len = len;
        tidal__free(db, body, cap);
        tidal_db_close(db);
        db = fe_take(2);
        fz_require(tidal__db_restore(db, fe_image, fe_image_len) == NULL, "the image restores");
        fe_state_take(db, &fe_image_state, 1);
        fe_state_sums_agree(db, &fe_image_state);
        return db;
    }
    db = fe_take(2);
    fz_require(tidal__db_restore(db, fe_image, fe_image_len) == NULL, "the image restores");
    return db;
}

/* The digest of an empty tenant (what a drop must leave), per tenant, from a fresh
   database once: it depends on nothing else. */
static void fe_empty_digest(uint32_t tenant, uint8_t out[32]) {
    static uint32_t known[8];
    static uint8_t dig[8][32];
    static uint32_t n;
    uint32_t i;
    tidal_db *empty;
    for (i = 0; i < n; i++)
        if (known[i] == tenant) {
            memcpy(out, dig[i], 32);
            return;
        }
    empty = fe_take(0);
    fz_require(tidal_db_digest(empty, tenant, out) == TIDAL_OK, "tenant digest");
    fe_give(empty);
    if (n < 8) {
        known[n] = tenant;
        memcpy(dig[n++], out, 32);
    }
}

/* ---- Exports ------------------------------------------------------------------------------ */

/* Exports tenant (the two-call protocol); *len receives the size. thorough: also checks
   that a buffer one byte short is refused untouched and that a second export is equal. */
static uint8_t *fe_export(tidal_db *db, uint32_t tenant, size_t *len, int thorough) {
    uint8_t *blob, *again;
    size_t need = 0, len2 = 0;
    fz_require(tidal_tenant_export(db, tenant, NULL, 0, &need) == TIDAL_ERR_LIMIT,
               "export into no buffer: TIDAL_ERR_LIMIT");
    fz_require(need >= TIDAL__EXPORT_HDR + 32, "export size holds header and sum");
    blob = (uint8_t *)malloc(need);
    fz_require(blob != NULL, "out of memory in the harness");
    if (thorough) {
        memset(blob, 0xA5, need);
        fz_require(tidal_tenant_export(db, tenant, blob, need - 1, &len2) == TIDAL_ERR_LIMIT &&
                       len2 == need,
                   "export into a buffer one byte short: TIDAL_ERR_LIMIT and the size");
        fz_require(blob[0] == 0xA5 && blob[need - 2] == 0xA5, "a refused export writes nothing");
    }
    fz_require(tidal_tenant_export(db, tenant, blob, need, len) == TIDAL_OK && *len == need,
               "export");
    if (thorough) {
        again = (uint8_t *)malloc(need);
        fz_require(again != NULL, "out of memory in the harness");
        fz_require(tidal_tenant_export(db, tenant, again, need, &len2) == TIDAL_OK &&
                       len2 == need && !memcmp(blob, again, need),
                   "exporting is deterministic");
        free(again);
    }
    return blob;
}

static uint32_t fe_blob_tenant(const uint8_t *blob, size_t len) {
    tidal__rd r;
    if (len < TIDAL__EXPORT_HDR) return 0;
    tidal__rd_init(&r, blob + 16, 4);
    return tidal__rd_u32(&r);
}

/* Fixes the body length and the sum of an export image (len >= header + sum). */
static void fe_reseal(uint8_t *blob, size_t len) {
    TIDAL_ASSERT(len >= TIDAL__EXPORT_HDR + 32);
    (void)tidal__wr_le(blob + 24, len - TIDAL__EXPORT_HDR - 32, 8);
    tidal_blake3(blob, len - 32, blob + len - 32);
}

#ifdef FZ_EXPORT_SKIP_KNOWN
/* 1 when install would cut blob into a chunk the event codec refuses (the known bug):
   install's own steps, without the writes. */
static int fe_oversize(tidal_db *db, const uint8_t *blob, size_t len) {
    tidal_db *s = NULL;
    tidal__chunks cs;
    uint32_t tenant = 0, i;
    int over = 0, limit = 0;
    fz_require(tidal__scratch_open(db, &s) == TIDAL_OK, "scratch");
    if (tidal__export_load(db, s, blob, len, &tenant) == NULL) {
        tidal_result r = tidal__install_cut(s, tenant, &cs);
        fz_require(r == TIDAL_OK || r == TIDAL_ERR_LIMIT, "chunks");
        limit = r == TIDAL_ERR_LIMIT;
        for (i = 0; i < cs.n; i++)
            if (cs.c[i].len > TIDAL_INSTALL_CHUNK_BYTES + 65536) over = 1;
        tidal__chunks_free(s, &cs);
    }
    tidal_db_close(s);
    return over && !limit;
}
#else
static int fe_oversize(tidal_db *db, const uint8_t *blob, size_t len) {
    (void)db, (void)blob, (void)len;
    return 0;
}
#endif

/* ---- Checks after an accepted install ----------------------------------------------------- */

/* The snapshot body decodes into a fresh database and encodes back to the same bytes.
   known: db's whole-state digest, and kept its snapshot body, as fe_state_take_keep took
   them of db as it is (freed here). */
static void fe_roundtrip(tidal_db *db, const uint8_t *known, fe_body *kept) {
    tidal_db *c = fe_take(0); /* region 0: it only decodes */
    uint8_t *body = kept->p, *body2, d1[32], d2[32];
    size_t len = kept->len, cap = kept->cap, len2, cap2;
    fz_require(tidal__snap_decode(c, body, len) == NULL,
               "the state after an install is a valid snapshot");
    fz_require(tidal__snap_body_mem(c, &body2, &len2, &cap2) == TIDAL_OK, "snapshot body");
    fz_require(len == len2 && !memcmp(body, body2, len),
               "the state after an install re-encodes alike");
    memcpy(d1, known, 32);
    fz_digest(c, d2);
    fz_require(!memcmp(d1, d2, 32), "the state after an install decodes to its digest");
    tidal__free(db, body, cap);
    tidal__free(c, body2, cap2);
    fe_give(c);
}

/* A read answers, or - only for a decoded state whose epochs lie far after now, which a
   crafted export may hold - refuses a score that does not fit a double (TIDAL_ERR_RANGE,
   saying so) rather than return inf. */
static int fe_read(tidal_db *db, tidal_result r) {
    if (r == TIDAL_ERR_RANGE)
        fz_require(strstr(tidal_errmsg(db), "does not fit a double") != NULL, "a RANGE says why");
    return r == TIDAL_OK || r == TIDAL_ERR_RANGE;
}

/* A write (new, applied), RETRIEVE, a digest and a footprint work on tenant. known: db's
   whole-state digest when the caller has it (NULL: taken here). */
static void fe_usable(tidal_db *db, uint32_t tenant, const uint8_t *known) {
    static const tidal_tag en[1] = {{"locale", "en"}};
    tidal_signal s;
    tidal_receipt rc;
    tidal_query q;
    tidal_hit hits[8];
    tidal_signal_stats st;
    tidal_result r;
    uint32_t n = 0;
    uint64_t fp[3];
    uint8_t d0[32], d1[32];
    if (known) memcpy(d0, known, 32);
    else fz_digest(db, d0);
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    s.item = FE_PROBE_ITEM;
    s.type = 1;
    s.weight = 2.0;
    s.user = 100;
    s.cohort = en;
    s.cohort_count = 1;
    fz_require(tidal_signal_write(db, &s, &rc) == TIDAL_OK, "a write after an install");
    fz_require(!rc.duplicate, "a new write after an install is not taken for a duplicate");
    fz_digest(db, d1);
    fz_require(memcmp(d0, d1, 32) != 0, "a write after an install changes the digest");
    /* Not st.count_pos >= 1: a decoded count may be UINT64_MAX, and one more wraps. */
    fz_require(fe_read(db, tidal_signal_read(db, tenant, FE_PROBE_ITEM, 1, NULL, 0, &st)),
               "the write after an install reads back");
    memset(&q, 0, sizeof q);
    q.tenant = tenant;
    q.rank_index = 1;
    q.limit = 8;
    q.cohort_key = "locale";
    q.cohort_value = "en";
    r = tidal_retrieve(db, &q, hits, 8, &n, NULL);
    fz_require(fe_read(db, r) && (r != TIDAL_OK || n >= 1),
               "RETRIEVE after an install finds the new write's cohort");
    q.cohort_key = q.cohort_value = NULL;
    r = tidal_retrieve(db, &q, hits, 8, &n, NULL);
    fz_require(fe_read(db, r) && (r != TIDAL_OK || n >= 1),
               "RETRIEVE after an install finds the new write");
    q.for_user = 100;
    q.exclude_seen = 1;
    q.rank_index = 0;
    fz_require(fe_read(db, tidal_retrieve(db, &q, hits, 8, &n, NULL)), "RETRIEVE FOR USER UNSEEN");
    q.exclude_seen = 0;
    q.rank_index = 2;
    fz_require(fe_read(db, tidal_retrieve(db, &q, hits, 8, &n, NULL)), "RETRIEVE FOR USER");
    fe_footprint(db, tenant, fp);
    fz_require(fp[0] >= 2, "the written item and its user count in the footprint");
}

/* The tenant exported again from db installs into a fresh database alike. */
static void fe_reexport(tidal_db *db, uint32_t tenant) {
    tidal_db *c;
    uint8_t *blob;
    size_t len;
    tidal_result r;
    blob = fe_export(db, tenant, &len, 0);
    c = fe_take(3);
    if (fe_oversize(c, blob, len)) {
        free(blob);
        fe_give(c);
        return;
    }
    r = tidal_tenant_install(c, blob, len, 77, NULL, NULL);
    fz_require(r == TIDAL_OK, "a second export installs into a fresh database");
    fe_same_copy(db, c, tenant, NULL, "a second export's copy equals the tenant",
                 "a second export's copy has the tenant's footprint");
    free(blob);
    fe_give(c);
}

/* After tidal_tenant_install(db, blob, len, migration) returned TIDAL_OK. */
static void fe_after_ok(tidal_db *db, const uint8_t *blob, size_t len, uint64_t migration,
                        const fe_state *before) {
    uint32_t tenant = fe_blob_tenant(blob, len), t2 = 0, chunks = 0;
    tidal_db *ref;
    tidal_receipt rc;
    fe_state after, again;
    fe_body body;
    fz_require(tidal_tenant_installed(db, tenant, migration),
               "an accepted install reads as installed");
    fe_state_take(db, &after, 1);
    fe_others_same(before, &after, tenant, "an install changes no other tenant");
    /* The tenant is exactly what the export decodes to. */
    ref = fe_take(0); /* region 0: it only decodes */
    fz_require(tidal__export_load(ref, ref, blob, len, &t2) == NULL && t2 == tenant,
               "an accepted export decodes");
    fe_same_copy(ref, db, tenant, fe_state_tenant(&after, tenant),
                 "the installed tenant equals the export's content",
                 "the installed tenant has the export's footprint");
    fe_give(ref);
    /* A retry writes nothing. */
    fz_require(tidal_tenant_install(db, blob, len, migration, &chunks, &rc) == TIDAL_OK,
               "a retried install succeeds");
    fz_require(rc.duplicate && chunks >= 1, "a retried install is a duplicate");
    fe_state_take_keep(db, &again, 0, &body);
    fe_state_same(&after, &again, "a retried install changes nothing");
    fe_roundtrip(db, again.all, &body);
    fe_usable(db, tenant, again.all);
    fe_reexport(db, tenant);
}

/* Installs blob into db, a target just restored from the image (fe_image_state is its
   state), under migration and checks the properties. must_ok: a real, unmutated export.
   raw: TIDAL_ERR_INVALID is allowed too. Returns the result. */
static tidal_result fe_install(tidal_db *db, const uint8_t *blob, size_t len, uint64_t migration,
                               int must_ok, int raw) {
    fe_state before = fe_image_state, after;
    uint32_t chunks = 0;
    tidal_receipt rc;
    tidal_result r;
    uint32_t tenant = fe_blob_tenant(blob, len);
    if (fe_oversize(db, blob, len)) return TIDAL_ERR_LIMIT; /* the known bug: skipped */
    memset(&rc, 0, sizeof rc);
    r = tidal_tenant_install(db, blob, len, migration, &chunks, &rc);
    fe_last.r = r;
    fe_last.chunks = chunks;
    fe_last.export_len = len;
    if (must_ok) fz_require(r == TIDAL_OK, "a real export installs");
    fz_require(r == TIDAL_OK || r == TIDAL_ERR_CORRUPT || r == TIDAL_ERR_LIMIT ||
                   (raw && r == TIDAL_ERR_INVALID),
               "install returns OK, CORRUPT or LIMIT");
    if (r != TIDAL_OK) {
        fz_require(chunks == 0, "a refused install writes no chunk");
        fe_state_take(db, &after, 0);
        fe_state_same(&before, &after, "a refused install changes nothing");
        fz_require(!tidal_tenant_installed(db, tenant, migration),
                   "a refused install does not read as installed");
        return r;
    }
    fz_require(chunks >= 1 && !rc.duplicate, "an install writes at least one new chunk");
    fe_after_ok(db, blob, len, migration, &before);
    return r;
}

/* ---- Building a source state from the input ----------------------------------------------- */

typedef struct fe_in {
    const uint8_t *p;
    size_t n, pos;
} fe_in;

static uint8_t fe_u8(fe_in *in) { return in->pos < in->n ? in->p[in->pos++] : 0; }

typedef struct fe_sess {
    uint32_t tenant;
    tidal_id id;
} fe_sess;

typedef struct fe_src {
    tidal_db *db;
    uint32_t tenant[2]; /* the exported one, another */
    fe_sess sess[FE_SESSIONS_MAX];
    uint32_t n_sess, ops, bulk_items, bulk_notes, bulk_idem;
} fe_src;

enum {
    FE_OP_SIGNAL, FE_OP_ATTR, FE_OP_NEG_ADD, FE_OP_NEG_REMOVE, FE_OP_SESS_START,
    FE_OP_SESS_SIGNAL, FE_OP_SESS_NOTE, FE_OP_SESS_END, FE_OP_IDEM, FE_OP_BULK_ITEMS,
    FE_OP_BULK_NOTES, FE_OP_BULK_IDEM, FE_OP_TICK, FE_OP_SESS_OPEN, FE_OP_COUNT
};

static const double fe_weights[8] = {1.0, 2.0, -1.0, 0.5, 1e6, -1e6, 0.0, 3.25};
static const int64_t fe_ago_s[8] = {0, 59, 3600, 25 * 3600, 3 * 86400, 29 * 86400, 31 * 86400,
                                    400 * 86400};
static const tidal_tag fe_tags[3] = {{"locale", "en"}, {"tier", "gold"}, {"locale", "fr"}};

/* v % 4: NULL (the user's attributes), none, locale=en, tier=gold locale=fr. */
static void fe_cohort(tidal_signal *s, uint32_t v) {
    static const tidal_tag two[2] = {{"tier", "gold"}, {"locale", "fr"}};
    s->cohort = v % 4 == 0 ? NULL : v % 4 == 3 ? two : fe_tags;
    s->cohort_count = v % 4 == 2 ? 1 : v % 4 == 3 ? 2 : 0;
}

/* a: item 1 + a % 16, b: bits 0-1 type (3: like), bits 2-4 weight, bits 5-7 time;
   c: bits 0-2 user (0 none, else 99 + (c & 7) % 5), bits 3-4 cohort. */
static void fe_op_signal(fe_src *x, uint32_t tenant, fe_in *in) {
    uint8_t a = fe_u8(in), b = fe_u8(in), c = fe_u8(in);
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    s.item = 1 + a % 16u;
    s.type = (b & 3) == 3 ? 1 : b & 3;
    s.weight = fe_weights[(b >> 2) & 7];
    s.time_ns = FZ_NOW - fe_ago_s[b >> 5] * TIDAL_NS_PER_S;
    s.user = (c & 7) % 5 ? 99 + (c & 7) % 5 : 0;
    fe_cohort(&s, (uint32_t)(c >> 3) & 3);
    (void)tidal_signal_write(x->db, &s, NULL);
}

/* a: entity a % 20 (items 1..16, users 100..103); b: key b % 4 (locale, tier, creator,
   name), value (b >> 2) % 8 (delete, en, fr, gold, 201, 202, "", 256 bytes). */
static void fe_op_attr(fe_src *x, uint32_t tenant, fe_in *in) {
    static const char *const keys[4] = {"locale", "tier", "creator", "name"};
    static const char *const vals[7] = {NULL, "en", "fr", "gold", "201", "202", ""};
    char big[TIDAL_VALUE_MAX + 1];
    uint8_t a = fe_u8(in), b = fe_u8(in);
    tidal_id ent = a % 20u < 16 ? 1 + a % 20u : 100 + a % 20u - 16;
    uint32_t v = (b >> 2) % 8u;
    memset(big, 'v', TIDAL_VALUE_MAX);
    big[TIDAL_VALUE_MAX] = 0;
    (void)tidal_attr_set(x->db, tenant, ent, keys[b % 4], v < 7 ? vals[v] : big, NULL);
}

/* a: user 100 + a % 4, kind 1 + (a >> 2) % 3; b: hide target item 1 + b % 16, mute/block
   creator 201 + b % 3. */
static void fe_op_neg(fe_src *x, uint32_t tenant, fe_in *in, int add) {
    uint8_t a = fe_u8(in), b = fe_u8(in);
    tidal_negative kind = (tidal_negative)(1 + (a >> 2) % 3);
    tidal_id target = kind == TIDAL_HIDE ? 1 + b % 16u : 201 + b % 3u;
    if (add) (void)tidal_negative_add(x->db, tenant, 100 + a % 4u, kind, target, NULL);
    else (void)tidal_negative_remove(x->db, tenant, 100 + a % 4u, kind, target, NULL);
}

static void fe_sess_add(fe_src *x, uint32_t tenant, tidal_id id) {
    uint32_t i;
    for (i = 0; i < x->n_sess; i++)
        if (x->sess[i].tenant == tenant && x->sess[i].id == id) return;
    if (x->n_sess == FE_SESSIONS_MAX) return;
    x->sess[x->n_sess].tenant = tenant;
    x->sess[x->n_sess++].id = id;
}

/* a: user 100 + a % 4, TTL (a >> 2) % 4 (none, 10 min, 1 h, INT64_MAX: refused or kept,
   but never an overflow). */
static void fe_op_sess_start(fe_src *x, uint32_t tenant, fe_in *in) {
    static const int64_t ttl[4] = {0, 10 * FE_MIN_NS, 60 * FE_MIN_NS, INT64_MAX};
    uint8_t a = fe_u8(in);
    tidal_id id = 0;
    if (tidal_session_start(x->db, tenant, 100 + a % 4u, ttl[(a >> 2) % 4], &id) == TIDAL_OK)
        fe_sess_add(x, tenant, id);
}

/* a: caller-chosen session 5000 + a % 4, user and TTL functions of it. */
static void fe_op_sess_open(fe_src *x, uint32_t tenant, fe_in *in) {
    uint8_t a = fe_u8(in);
    tidal_id id = 5000 + a % 4u;
    if (tidal_session_open(x->db, tenant, id, 100 + id % 4, FZ_NOW - FE_MIN_NS,
                           id & 1 ? 10 * FE_MIN_NS : 0) == TIDAL_OK)
        fe_sess_add(x, tenant, id);
}

/* a: known session a % n; b: seq b % 16 (0: the next), bits 4-5 the signal's type,
   bits 6-7 its cohort. */
static void fe_op_sess_signal(fe_src *x, fe_in *in) {
    uint8_t a = fe_u8(in), b = fe_u8(in);
    const fe_sess *e;
    tidal_signal s;
    if (!x->n_sess) return;
    e = &x->sess[a % x->n_sess];
    memset(&s, 0, sizeof s);
    s.tenant = e->tenant;
    s.item = 1 + (a >> 4);
    s.type = ((b >> 4) & 3) % 3;
    s.weight = 1.5;
    s.time_ns = FZ_NOW - (int64_t)(b % 16) * FE_MIN_NS;
    fe_cohort(&s, 1 + (uint32_t)(b >> 6) % 3);
    (void)tidal_session_signal(x->db, e->id, b % 16u, &s, NULL);
}

/* a: known session a % n; b: seq b % 16 (0: the next), bit 4 a note of TIDAL_NOTE_MAX
   bytes instead of a short one. */
static void fe_op_sess_note(fe_src *x, fe_in *in) {
    static char big[TIDAL_NOTE_MAX + 1];
    uint8_t a = fe_u8(in), b = fe_u8(in);
    const fe_sess *e;
    char text[32];
    if (!x->n_sess) return;
    e = &x->sess[a % x->n_sess];
    memset(big, 'n', TIDAL_NOTE_MAX);
    big[TIDAL_NOTE_MAX] = 0;
    snprintf(text, sizeof text, "note %u", (unsigned)a);
    (void)tidal_session_note(x->db, e->tenant, e->id, b % 16u, b & 16 ? big : text, NULL);
}

static void fe_op_sess_end(fe_src *x, fe_in *in) {
    uint8_t a = fe_u8(in);
    const fe_sess *e = x->n_sess ? &x->sess[a % x->n_sess] : NULL;
    if (e) (void)tidal_session_end(x->db, e->tenant, e->id);
}

/* a: key "k" + a % 8, seq (a >> 3) % 4; b: item, type, user. */
static void fe_op_idem(fe_src *x, uint32_t tenant, fe_in *in) {
    uint8_t a = fe_u8(in), b = fe_u8(in);
    char key[3] = {'k', 0, 0};
    tidal_signal s;
    key[1] = (char)('0' + a % 8);
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    s.item = 1 + b % 16u;
    s.type = (b >> 4) % 3u;
    s.weight = 1.0;
    s.time_ns = FZ_NOW - (int64_t)(a >> 5) * FE_MIN_NS;
    s.user = b & 128 ? 101 : 0;
    fe_cohort(&s, 2);
    s.idem.key = key;
    s.idem.key_len = 2;
    s.idem.seq = (a >> 3) % 4u;
    (void)tidal_signal_write(x->db, &s, NULL);
}

/* 4 * (1 + a % 64) signals to items 10000 + b * 65536 + i: b bits 0-1 type (3: like),
   bit 2 cohort tags, bit 3 one user (100 + (b >> 4) % 4) signals them all (a large seen
   set), bit 4 times spread over 30 days. Within FE_BULK_ITEMS_MAX per input. */
static void fe_op_bulk_items(fe_src *x, uint32_t tenant, fe_in *in) {
    uint8_t a = fe_u8(in), b = fe_u8(in);
    uint32_t n = 4u * (1 + a % 64u), i;
    tidal_signal s;
    if (n > FE_BULK_ITEMS_MAX - x->bulk_items) n = FE_BULK_ITEMS_MAX - x->bulk_items;
    x->bulk_items += n;
    for (i = 0; i < n; i++) {
        memset(&s, 0, sizeof s);
        s.tenant = tenant;
        s.item = 10000 + (tidal_id)b * 65536 + i;
        s.type = (b & 3) == 3 ? 1 : b & 3;
        s.weight = 1.0 + i % 7;
        s.time_ns = b & 16 ? FZ_NOW - (int64_t)(i % 720) * 3600 * TIDAL_NS_PER_S : FZ_NOW;
        s.user = b & 8 ? 100 + (b >> 4) % 4u : 0;
        fe_cohort(&s, b & 4 ? 2 + i % 2 : 1);
        (void)tidal_signal_write(x->db, &s, NULL);
    }
}

/* A new session (tenant's user 103) with 1 + a % 32 notes of TIDAL_NOTE_MAX bytes (b odd)
   or 100 bytes. Within FE_BULK_NOTES_MAX per input. */
static void fe_op_bulk_notes(fe_src *x, uint32_t tenant, fe_in *in) {
    static char big[TIDAL_NOTE_MAX + 1];
    uint8_t a = fe_u8(in), b = fe_u8(in);
    uint32_t n = 1 + a % 32u, i;
    tidal_id id = 0;
    if (n > FE_BULK_NOTES_MAX - x->bulk_notes) n = FE_BULK_NOTES_MAX - x->bulk_notes;
    if (!n || tidal_session_start(x->db, tenant, 103, 0, &id) != TIDAL_OK) return;
    fe_sess_add(x, tenant, id);
    x->bulk_notes += n;
    memset(big, 'N', TIDAL_NOTE_MAX);
    big[b & 1 ? TIDAL_NOTE_MAX : 100] = 0;
    for (i = 0; i < n; i++) (void)tidal_session_note(x->db, tenant, id, 0, big, NULL);
}

/* 4 * (1 + a % 64) keyed signals (key "bulk" + b % 26, seqs counting on over the input):
   the applied-event index grows by one entry each. Within FE_BULK_IDEM_MAX per input. */
static void fe_op_bulk_idem(fe_src *x, uint32_t tenant, fe_in *in) {
    uint8_t a = fe_u8(in), b = fe_u8(in);
    uint32_t n = 4u * (1 + a % 64u), i;
    char key[8] = {'b', 'u', 'l', 'k', 0, 0, 0, 0};
    tidal_signal s;
    key[4] = (char)('a' + b % 26);
    if (n > FE_BULK_IDEM_MAX - x->bulk_idem) n = FE_BULK_IDEM_MAX - x->bulk_idem;
    for (i = 0; i < n; i++) {
        memset(&s, 0, sizeof s);
        s.tenant = tenant;
        s.item = 1 + i % 32;
        s.weight = 1.0;
        s.time_ns = FZ_NOW;
        fe_cohort(&s, 1);
        s.idem.key = key;
        s.idem.key_len = 5;
        s.idem.seq = x->bulk_idem + i;
        (void)tidal_signal_write(x->db, &s, NULL);
    }
    x->bulk_idem += n;
}

/* Runs build ops from in until it ends (or FE_OPS_MAX). Byte h: op h % FE_OP_COUNT on tenant
   x->tenant[(h / FE_OP_COUNT) & 1], then its argument bytes. */
static void fe_build(fe_src *x, fe_in *in) {
    while (in->pos < in->n && x->ops++ < FE_OPS_MAX) {
        uint8_t h = fe_u8(in);
        uint32_t tenant = x->tenant[(h / FE_OP_COUNT) & 1];
        switch (h % FE_OP_COUNT) {
        case FE_OP_SIGNAL: fe_op_signal(x, tenant, in); break;
        case FE_OP_ATTR: fe_op_attr(x, tenant, in); break;
        case FE_OP_NEG_ADD: fe_op_neg(x, tenant, in, 1); break;
        case FE_OP_NEG_REMOVE: fe_op_neg(x, tenant, in, 0); break;
        case FE_OP_SESS_START: fe_op_sess_start(x, tenant, in); break;
        case FE_OP_SESS_SIGNAL: fe_op_sess_signal(x, in); break;
        case FE_OP_SESS_NOTE: fe_op_sess_note(x, in); break;
        case FE_OP_SESS_END: fe_op_sess_end(x, in); break;
        case FE_OP_IDEM: fe_op_idem(x, tenant, in); break;
        case FE_OP_BULK_ITEMS: fe_op_bulk_items(x, tenant, in); break;
        case FE_OP_BULK_NOTES: fe_op_bulk_notes(x, tenant, in); break;
        case FE_OP_BULK_IDEM: fe_op_bulk_idem(x, tenant, in); break;
        case FE_OP_TICK: (void)tidal_db_tick(x->db, FZ_NOW + (int64_t)fe_u8(in) * FE_MIN_NS); break;
        default: fe_op_sess_open(x, tenant, in); break;
        }
    }
}

static void fe_src_init(fe_src *x, tidal_db *db, uint8_t choice) {
    memset(x, 0, sizeof *x);
    x->db = db;
    x->tenant[0] = fe_tenants[choice & 3];
    x->tenant[1] = x->tenant[0] == 2 ? 7 : 2;
}

/* ---- Mutations ---------------------------------------------------------------------------- */

/* Applies one mutation m (kind, position u24 LE, value) to *blob of *len bytes (room *cap):
   kind % 8: xor a byte, set a byte, write a chosen u64, truncate, delete 1..16 bytes,
   insert 1..16 bytes, copy 8..64 bytes over later ones, add +-1 to a u64. */
static void fe_mutate(uint8_t **blob, size_t *len, size_t *cap, const uint8_t *m) {
    size_t n = *len, pos, k;
    uint8_t v = m[4], *p;
    uint64_t u;
    if (!n) return;
    pos = ((size_t)m[1] | (size_t)m[2] << 8 | (size_t)m[3] << 16) % n;
    if (*cap < n + 64) {
        *cap = n + 64;
        *blob = (uint8_t *)realloc(*blob, *cap);
        fz_require(*blob != NULL, "out of memory in the harness");
    }
    p = *blob;
    switch (m[0] % 8) {
    case 0: p[pos] ^= v ? v : 1; break;
    case 1: p[pos] = v; break;
    case 2: {
        static const uint64_t vals[8] = {0, 1, 2, UINT64_MAX, UINT64_C(1) << 63,
                                         UINT64_C(0x7FFFFFFFFFFFFFFF), UINT64_C(0x100000000),
                                         0xFFFFFFFF};
        u = vals[v % 8];
        if (v >= 8) u = (uint64_t)v - 8;
        for (k = 0; k < 8 && pos + k < n; k++) p[pos + k] = (uint8_t)(u >> (8 * k));
        break;
    }
    case 3: *len = pos; break;
    case 4:
        k = 1 + v % 16u;
        if (k > n - pos) k = n - pos;
        memmove(p + pos, p + pos + k, n - pos - k);
        *len = n - k;
        break;
    case 5:
        k = 1 + v % 16u;
        memmove(p + pos + k, p + pos, n - pos);
        memset(p + pos, v, k);
        *len = n + k;
        break;
    case 6: { /* bytes [pos, pos + k) copied d bytes further on, clipped to the end */
        size_t d = 1 + (v & 63u);
        k = 8 + v % 57u;
        if (pos + d < n) {
            if (k > n - pos - d) k = n - pos - d;
            memmove(p + pos + d, p + pos, k);
        }
        break;
    }
    default:
        for (k = 0, u = 0; k < 8 && pos + k < n; k++) u |= (uint64_t)p[pos + k] << (8 * k);
        u += v & 1 ? 1 : UINT64_MAX;
        for (k = 0; k < 8 && pos + k < n; k++) p[pos + k] = (uint8_t)(u >> (8 * k));
        break;
    }
}

/* ---- Modes -------------------------------------------------------------------------------- */

static void fe_mode_raw(tidal_db *dst, uint8_t flags, const uint8_t *p, size_t n) {
    uint8_t *copy = (uint8_t *)malloc(n ? n : 1);
    fz_require(copy != NULL, "out of memory in the harness");
    if (n) memcpy(copy, p, n);
    if (flags & 16) {
        fe_state b;
        fz_require(tidal_tenant_install(dst, NULL, n, 9, NULL, NULL) == TIDAL_ERR_INVALID,
                   "install of NULL: TIDAL_ERR_INVALID");
        fz_require(tidal_tenant_install(dst, copy, n, 0, NULL, NULL) == TIDAL_ERR_INVALID,
                   "install under migration 0: TIDAL_ERR_INVALID");
        fe_state_take(dst, &b, 0);
        fe_state_same(&fe_image_state, &b, "an invalid install call changes nothing");
    }
    (void)fe_install(dst, copy, n, 1 + (uint64_t)flags, 0, 1);
    free(copy);
}

static void fe_mode_body(tidal_db *dst, uint8_t flags, const uint8_t *p, size_t n) {
    uint8_t *blob;
    blob = (uint8_t *)malloc(TIDAL__EXPORT_HDR + n + 32);
    fz_require(blob != NULL, "out of memory in the harness");
    memcpy(blob, fe_hdr, 16);
    (void)tidal__wr_le(blob + 16, fe_tenants[flags & 3], 4);
    (void)tidal__wr_le(blob + 20, 0, 4);
    if (n) memcpy(blob + TIDAL__EXPORT_HDR, p, n);
    fe_reseal(blob, TIDAL__EXPORT_HDR + n + 32);
    (void)fe_install(dst, blob, TIDAL__EXPORT_HDR + n + 32, 100 + (uint64_t)flags, 0, 0);
    free(blob);
}

static void fe_mode_build(tidal_db *dst, const uint8_t *p, size_t n) {
    uint8_t b1 = n ? p[0] : 0, *blob;
    uint32_t nmut = b1 & 15u, i, tenant;
    size_t ops_end, len, cap;
    fe_src x;
    fe_in in;
    if (n) p++, n--;
    if ((size_t)nmut * FE_MUT_BYTES > n) nmut = (uint32_t)(n / FE_MUT_BYTES);
    ops_end = n - (size_t)nmut * FE_MUT_BYTES;
    fe_src_init(&x, fe_take(1), (uint8_t)(b1 >> 5));
    tenant = x.tenant[0];
    in.p = p;
    in.n = ops_end;
    in.pos = 0;
    fe_build(&x, &in);
    blob = fe_export(x.db, tenant, &len, 1);
    cap = len;
    for (i = 0; i < nmut; i++) fe_mutate(&blob, &len, &cap, p + ops_end + (size_t)i * FE_MUT_BYTES);
    if ((b1 & 16) && len >= TIDAL__EXPORT_HDR + 32) fe_reseal(blob, len);
    if (fe_install(dst, blob, len, 200, nmut == 0, 0) == TIDAL_OK && nmut == 0) {
        uint8_t d1[32], d2[32];
        fe_tenant_digest(x.db, tenant, d1);
        fz_require(tidal_db_digest(dst, tenant, d2) == TIDAL_OK, "digest");
        /* fe_after_ok wrote one signal to the copy: compare against the source with it. */
        fe_usable(x.db, tenant, NULL);
        fe_tenant_digest(x.db, tenant, d1);
        fz_require(!memcmp(d1, d2, 32), "an installed copy equals its source");
    }
    free(blob);
    fe_give(x.db);
}

/* Drops tenant from db (which holds it or not): footprint 0, an empty tenant's digest,
   every other tenant unchanged, a second drop a duplicate, still usable. */
static void fe_drop_check(tidal_db *db, uint32_t tenant, uint64_t migration) {
    fe_state before, after, again;
    fe_body body;
    tidal_receipt rc;
    uint8_t d0[32], d1[32];
    uint64_t fp[3];
    int held;
    fe_empty_digest(tenant, d0);
    fe_footprint(db, tenant, fp);
    held = fp[0] + fp[1] != 0;
    fe_state_take(db, &before, 1);
    fz_require(tidal_tenant_drop(db, tenant, 0, NULL) == TIDAL_ERR_INVALID,
               "a drop under migration 0: TIDAL_ERR_INVALID");
    fe_state_take(db, &after, 0);
    fe_state_same(&before, &after, "an invalid drop changes nothing");
    {
        tidal_result r = tidal_tenant_drop(db, tenant, migration, &rc);
        if (r == TIDAL_ERR_STALE_CONFIG) { /* not newer than the tenant's generation here */
            fe_state_take(db, &after, 0);
            fe_state_same(&before, &after, "a stale drop changes nothing");
            return;
        }
        fz_require(r == TIDAL_OK && !rc.duplicate, "drop");
    }
    fe_footprint(db, tenant, fp);
    fz_require(fp[0] == 0 && fp[1] == 0 && fp[2] == 0, "a dropped tenant has footprint 0");
    fe_state_take(db, &after, 1);
    if (fe_state_tenant(&after, tenant)) memcpy(d1, fe_state_tenant(&after, tenant), 32);
    else fe_tenant_digest(db, tenant, d1);
    fz_require(!memcmp(d0, d1, 32), "a dropped tenant reads as an empty one");
    fe_others_same(&before, &after, tenant, "a drop changes no other tenant");
    if (!held) /* the index gains the drop's id: the state digest is what stays */
        fz_require(!memcmp(before.all, after.all, 32), "a drop of nothing changes nothing");
    fz_require(tidal_tenant_drop(db, tenant, migration, &rc) == TIDAL_OK && rc.duplicate,
               "a second drop is a duplicate");
    fz_require(tidal_tenant_drop(db, tenant, migration - 1, &rc) == TIDAL_ERR_STALE_CONFIG,
               "a drop under an older migration: TIDAL_ERR_STALE_CONFIG");
    fe_state_take_keep(db, &again, 0, &body);
    fe_state_same(&after, &again, "a second drop, or a stale one, changes nothing");
    fe_roundtrip(db, again.all, &body);
}

/* Byte 1: bits 5-6 the tenant; bit 0 drops under the install's own migration (300)
   instead of a newer one (301); bit 1 installs again under the drop's migration instead
   of a newer one (304). Either way the API must either refuse the call or do it. */
static void fe_mode_drop(tidal_db *dst, const uint8_t *p, size_t n) {
    uint8_t b1 = n ? p[0] : 0, *blob, d1[32], d2[32];
    uint64_t drop_mig, again_mig;
    uint32_t tenant;
    size_t len;
    fe_state st0, st1;
    tidal_receipt rc;
    tidal_result r;
    fe_src x;
    fe_in in;
    if (n) p++, n--;
#ifdef FZ_EXPORT_SKIP_KNOWN
    b1 &= (uint8_t)~3u; /* the known bug: a reused migration */
#endif
    drop_mig = b1 & 1 ? 300 : 301;
    again_mig = b1 & 2 ? drop_mig : 304;
    fe_src_init(&x, fe_take(1), (uint8_t)(b1 >> 5));
    tenant = x.tenant[0];
    in.p = p;
    in.n = n;
    in.pos = 0;
    fe_build(&x, &in);
    blob = fe_export(x.db, tenant, &len, 1);
    if (fe_oversize(dst, blob, len)) {
        free(blob);
        fe_give(x.db);
        return;
    }
    fz_require(tidal_tenant_install(dst, blob, len, 300, &fe_last.chunks, NULL) == TIDAL_OK,
               "a real export installs");
    fe_last.r = TIDAL_OK;
    fe_last.export_len = len;
    fe_tenant_digest(x.db, tenant, d1);
    fe_tenant_digest(dst, tenant, d2);
    fz_require(!memcmp(d1, d2, 32), "an installed copy equals its source");
    fe_drop_check(dst, tenant, drop_mig);
    fe_drop_check(x.db, tenant, 302);
    fe_drop_check(dst, 55555, 303); /* a tenant it never held */
    fe_usable(dst, tenant, NULL);
    /* An install older than the drop is refused; a new one brings the copy back (it
       replaces what the write above added). */
    fe_state_take(dst, &st0, 0);
    if (drop_mig > 300) {
        fz_require(tidal_tenant_install(dst, blob, len, 300, NULL, NULL) == TIDAL_ERR_STALE_CONFIG,
                   "an install under an older migration: TIDAL_ERR_STALE_CONFIG");
        fe_state_take(dst, &st1, 0);
        fe_state_same(&st0, &st1, "a stale install changes nothing");
    }
    memset(&rc, 0, sizeof rc);
    r = tidal_tenant_install(dst, blob, len, again_mig, NULL, &rc);
    if (r == TIDAL_ERR_STALE_CONFIG || (r == TIDAL_OK && rc.duplicate)) {
        /* Refused, or a retry of the install under that migration (the drop under it was
           refused): either way nothing is written, the write above stays. */
        fe_state_take(dst, &st1, 0);
        fe_state_same(&st0, &st1, "a stale or retried install changes nothing");
    } else {
        fz_require(r == TIDAL_OK, "a reinstall after a drop");
        fz_require(tidal_tenant_installed(dst, tenant, again_mig),
                   "a reinstall reads as installed");
        fe_tenant_digest(dst, tenant, d2);
        fz_require(!memcmp(d1, d2, 32), "a reinstall after a drop restores the copy");
    }
    free(blob);
    fe_give(x.db);
}

/* Encodes ev, decodes it with the event codec (as the WAL and the wire do) into *got, and
   folds it with tidal__apply. Returns 0 when the codec refuses it (nothing applied). */
static int fe_chunk_apply(tidal_db *db, const tidal__event *ev, tidal__event *got,
                          tidal_result *res, int *dup) {
    uint8_t *buf = (uint8_t *)malloc(tidal__event_size(ev)); /* an upper bound */
    size_t size;
    tidal__rd r;
    const char *why;
    fz_require(buf != NULL, "out of memory in the harness");
    size = (size_t)(tidal__event_put(buf, ev) - buf);
    fz_require(size <= tidal__event_size(ev), "event size bound");
    tidal__rd_init(&r, buf, size);
    why = tidal__event_get(db, &r, got, NULL, 0);
    if (why) { /* too large for the codec: refused before anything applies it */
        fz_require(ev->value_len > TIDAL__INSTALL_VALUE_MAX, "an install event in range decodes");
        free(buf);
        return 0;
    }
    *res = tidal__apply(db, got, dup);
    free(buf); /* got->value points into buf: not used after this */
    return 1;
}

static void fe_chunk_event(tidal__event *ev, uint32_t tenant, uint64_t migration, uint64_t seq,
                           const uint8_t *value, size_t n) {
    memset(ev, 0, sizeof *ev);
    ev->kind = TIDAL__EV_INSTALL;
    ev->tenant = tenant;
    ev->seq = seq;
    ev->id = tidal__move_id(tenant, 'i', migration, seq);
    ev->entity = migration; /* the generation */
    ev->value = (const char *)value;
    ev->value_len = (uint32_t)(n < UINT32_MAX ? n : UINT32_MAX);
    ev->hlc.wall_ns = FZ_NOW;
    ev->time_ns = FZ_NOW;
}

/* One install-chunk event carrying value (the input), applied as WAL replay and
   replication apply it. A chunk that is not first is folded only into an install of its
   generation in progress, so unless flag bit 4 is set the harness first applies a valid
   first chunk (an empty index, no rows) of the same migration. */
static void fe_mode_chunk(tidal_db *dst, uint8_t flags, const uint8_t *p, size_t n) {
    static const uint8_t zero = 0;
    const uint64_t migration = 400;
    uint32_t tenant = fe_tenants[flags & 3];
    uint64_t seq, gen0 = 0, gen1 = 0;
    int complete0 = 0, complete1 = 0, dup = 0, noop, last, is_first;
    tidal__event ev, got;
    fe_state before, after;
    fe_body body;
    tidal_result res = TIDAL_OK;
    if (!n) p = &zero, n = 1;
    is_first = (p[0] & TIDAL__INSTALL_FIRST) != 0;
    last = (p[0] & TIDAL__INSTALL_LAST) != 0;
    if (!is_first && !(flags & 16)) {
        uint8_t v[1 + 16 + 16]; /* flags, no origins, no keys, no entities, no sessions */
        memset(v, 0, sizeof v);
        v[0] = TIDAL__INSTALL_FIRST;
        fe_chunk_event(&ev, tenant, migration, 0, v, sizeof v);
        fz_require(fe_chunk_apply(dst, &ev, &got, &res, &dup) && res == TIDAL_OK && !dup,
                   "a valid first chunk applies");
    }
    seq = last ? TIDAL__INSTALL_LAST_SEQ : is_first ? 0 : 1 + (uint64_t)(flags >> 3 & 1);
    if (flags & 4) seq += 1; /* a sequence its flags do not allow (mostly) */
    fe_chunk_event(&ev, tenant, migration, seq, p, n);
    fz_require(tidal_tenant_generation(dst, tenant, &gen0, &complete0) == TIDAL_OK, "generation");
    if (!is_first && !(flags & 16)) fe_state_take(dst, &before, 1);
    else before = fe_image_state; /* nothing applied yet */
    if (!fe_chunk_apply(dst, &ev, &got, &res, &dup)) return;
    fe_last.r = res;
    fz_require(res == TIDAL_OK || res == TIDAL_ERR_CORRUPT, "a chunk applies with OK or CORRUPT");
    fe_state_take_keep(dst, &after, 1, &body); /* for fe_roundtrip: reads only until then */
    fz_require(tidal_tenant_generation(dst, tenant, &gen1, &complete1) == TIDAL_OK, "generation");
    if (res != TIDAL_OK) {
        tidal__free(dst, body.p, body.cap);
        fe_state_same(&before, &after, "a refused chunk changes nothing");
        return;
    }
    fz_require(!dup, "a new chunk is not a duplicate");
    fe_others_same(&before, &after, tenant, "a chunk changes no other tenant");
    /* A stale chunk (an older generation, or not first and not of the install in
       progress) is folded as a no-op. */
    noop = is_first ? migration <= gen0 : migration != gen0 || complete0;
    if (noop) {
        tidal__free(dst, body.p, body.cap);
        fz_require(!memcmp(before.all, after.all, 32) && gen1 == gen0 && complete1 == complete0,
                   "a stale chunk changes no state");
        return;
    }
    fz_require(gen1 == migration && complete1 == last, "an applied chunk sets its generation");
    fz_require(tidal_tenant_installed(dst, tenant, migration) == last,
               "installed exactly when the last chunk applied");
    fe_roundtrip(dst, after.all, &body);
    fe_usable(dst, tenant, after.all);
    fe_reexport(dst, tenant);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tidal_db *dst;
    uint8_t mode, flags;
    if (size < 1) return 0;
    mode = data[0] & 7;
    flags = data[0] >> 3;
#ifdef FZ_EXPORT_DECODERS_ONLY
    if (mode == FE_MODE_BUILD || mode == FE_MODE_DROP || mode == FE_MODE_BUILD + 4)
        mode = FE_MODE_BODY;
#endif
    memset(&fe_last, 0, sizeof fe_last);
    fe_last.mode = mode;
    dst = fe_dst_open();
    switch (mode) {
    case FE_MODE_RAW: fe_mode_raw(dst, flags, data + 1, size - 1); break;
    case FE_MODE_BUILD:
    case FE_MODE_BUILD + 4: fe_mode_build(dst, data + 1, size - 1); break;
    case FE_MODE_DROP: fe_mode_drop(dst, data + 1, size - 1); break;
    case FE_MODE_CHUNK:
    case FE_MODE_CHUNK + 3: fe_mode_chunk(dst, flags, data + 1, size - 1); break;
    default: fe_mode_body(dst, flags, data + 1, size - 1); break;
    }
    fe_give(dst);
    return 0;
}
