/* gen_export_corpus.c - writes the seed corpus of fuzz_export: inputs for every mode, made
   from real states built through the public API (fuzz_export's own builder, fe_build):
   raw exports (valid, single- and multi-chunk; a flipped sum; truncated; another schema's;
   garbage), export bodies behind the harness's header (valid for tenants 1, 7 and an empty
   one; multi-chunk; a tenant mismatch; trailing bytes), build programs with and without
   mutations (resealed or not, one of several install chunks' size), drops, and single
   install chunks cut by tidal.h's own chunker (first-and-last, a middle one, a later part
   of an index larger than one chunk, a wrong id, bad flags). Each seed is fed to the target once as a self-check (a broken property
   aborts) and its outcome printed. Deterministic: rerunning rewrites the same bytes.

   It also writes reproducers of the tidal.h bugs fuzz_export found (fixed since; see its
   header), named regress_*, self-checked like the others:
     regress_install_session_row_over_chunk_limit   one session of 24 notes of 4 KiB
        (~98 KB): a single install chunk above TIDAL_INSTALL_CHUNK_BYTES + 65536;
     regress_install_index_over_chunk_limit          880 keyed writes in another tenant
        in the last day: the first chunk carried the whole index (~21 KB); the index
        is now cut in parts of at most TIDAL_INSTALL_CHUNK_BYTES;
   (fuzz_export builds with 4 KiB install chunks, so these states are smaller than
   the ones that found the bugs with the default 256 KiB: the same shapes, chunk for chunk.)
     regress_drop_under_the_install_migration        install(300) then drop(300): was OK,
        but the tenant stayed (now TIDAL_ERR_STALE_CONFIG);
     regress_reinstall_under_the_drop_migration      drop(301) then install(301): was OK,
        but nothing was installed (now TIDAL_ERR_STALE_CONFIG);
     regress_session_start_ttl_int64_max             tidal_session_start with ttl_ns
        INT64_MAX: start_ns + ttl_ns overflows in tidal__apply_session.

   Regenerate (from the repository root): make corpus, or
       cc -std=c99 -O1 -g -o build/gen_export_corpus fuzz/gen_export_corpus.c -lm
       build/gen_export_corpus            (writes fuzz/corpus/export/<name>, replacing them) */
#include "fuzz_export.c"

#include <errno.h>
#include <sys/stat.h>

typedef struct ge_buf {
    uint8_t *b;
    size_t n, cap;
} ge_buf;

static void ge_put(ge_buf *g, const void *p, size_t n) {
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2 + 64;
        g->b = (uint8_t *)realloc(g->b, g->cap);
        fz_require(g->b != NULL, "out of memory");
    }
    memcpy(g->b + g->n, p, n);
    g->n += n;
}

static void ge_u8(ge_buf *g, int v) {
    uint8_t b = (uint8_t)v;
    ge_put(g, &b, 1);
}

/* One build op on the exported tenant (other = 0) or the other one, with its arguments. */
static void ge_op(ge_buf *g, int kind, int other, int a, int b, int c) {
    static const int nargs[FE_OP_COUNT] = {3, 2, 2, 2, 1, 2, 2, 1, 2, 2, 2, 2, 1, 1};
    int v[3], i;
    v[0] = a, v[1] = b, v[2] = c;
    ge_u8(g, kind + FE_OP_COUNT * (other ? 1 : 0));
    for (i = 0; i < nargs[kind]; i++) ge_u8(g, v[i]);
}

/* A bit of everything, in both tenants. */
static void ge_mixed(ge_buf *g) {
    int i;
    for (i = 0; i < 8; i++) ge_op(g, FE_OP_SIGNAL, i % 3 == 2, i, i * 37, i * 11);
    ge_op(g, FE_OP_ATTR, 0, 16, 1 << 2, 0);       /* user 100 locale=en */
    ge_op(g, FE_OP_ATTR, 0, 1, 2 | 4 << 2, 0);    /* item 2 creator 201 */
    ge_op(g, FE_OP_ATTR, 0, 2, 3 | 7 << 2, 0);    /* item 3 name: 256 bytes */
    ge_op(g, FE_OP_ATTR, 1, 17, 1 | 3 << 2, 0);   /* other tenant: user 101 tier=gold */
    ge_op(g, FE_OP_ATTR, 0, 16, 1 << 2, 0);       /* again (LWW) */
    ge_op(g, FE_OP_ATTR, 0, 3, 0, 0);             /* a delete: a tombstone */
    ge_op(g, FE_OP_SIGNAL, 0, 4, 1, 1);           /* user 100: cohort from attributes */
    ge_op(g, FE_OP_NEG_ADD, 0, 0, 2, 0);          /* user 100 hides item 3 */
    ge_op(g, FE_OP_NEG_ADD, 0, 1 | 1 << 2, 0, 0); /* user 101 mutes 201 */
    ge_op(g, FE_OP_NEG_ADD, 0, 2 | 2 << 2, 1, 0); /* user 102 blocks 202 */
    ge_op(g, FE_OP_NEG_REMOVE, 0, 1 | 1 << 2, 0, 0);
    ge_op(g, FE_OP_NEG_ADD, 1, 3, 5, 0);
    ge_op(g, FE_OP_SESS_START, 0, 1 | 1 << 2, 0, 0); /* TTL 10 min */
    ge_op(g, FE_OP_SESS_START, 0, 2, 0, 0);
    ge_op(g, FE_OP_SESS_OPEN, 0, 1, 0, 0);
    ge_op(g, FE_OP_SESS_START, 1, 3, 0, 0);
    for (i = 0; i < 6; i++) ge_op(g, FE_OP_SESS_SIGNAL, 0, i, (1 + i) | (i % 3) << 4 | i << 6, 0);
    ge_op(g, FE_OP_SESS_NOTE, 0, 0, 8, 0);
    ge_op(g, FE_OP_SESS_NOTE, 0, 1, 0, 0);
    ge_op(g, FE_OP_SESS_NOTE, 0, 2, 16 | 9, 0);   /* a note of TIDAL_NOTE_MAX bytes */
    ge_op(g, FE_OP_SESS_SIGNAL, 0, 1, 3, 0);
    ge_op(g, FE_OP_SESS_END, 0, 1, 0, 0);
    ge_op(g, FE_OP_IDEM, 0, 1, 2, 0);
    ge_op(g, FE_OP_IDEM, 0, 1, 2, 0);             /* a retry */
    ge_op(g, FE_OP_IDEM, 1, 9, 130, 0);
    ge_op(g, FE_OP_TICK, 0, 20, 0, 0);            /* the 10 min sessions expire */
}

/* Enough for a few install chunks (fuzz_export's are 4 KiB; ~200 items: likes with cohort
   tags over 30 days, views by one user, who thus saw 64 items, buys), and a few other rows. */
static void ge_big(ge_buf *g) {
    ge_op(g, FE_OP_BULK_ITEMS, 0, 15, 3 | 4 | 16, 0); /* 64 likes, cohorts, 30 days */
    ge_op(g, FE_OP_BULK_ITEMS, 0, 15, 8 | 1 << 4, 0); /* 64 views by user 101 */
    ge_op(g, FE_OP_BULK_ITEMS, 0, 15, 2, 0);           /* 64 buys */
    ge_op(g, FE_OP_BULK_ITEMS, 1, 15, 0, 0);           /* 64 in the other tenant */
    ge_op(g, FE_OP_BULK_NOTES, 0, 9, 1, 0);            /* 10 notes of 4 KiB */
    ge_op(g, FE_OP_BULK_IDEM, 1, 15, 0, 0);            /* 64 keyed writes */
    ge_mixed(g);
}

/* Just over one install chunk (96 views, and the mixed rows): the raw and body seeds. */
static void ge_two_chunks(ge_buf *g) {
    ge_op(g, FE_OP_BULK_ITEMS, 0, 15, 0, 0); /* 64 views */
    ge_op(g, FE_OP_BULK_ITEMS, 0, 7, 32, 0); /* 32 more, other ids */
    ge_mixed(g);
}

static void ge_small(ge_buf *g) {
    ge_op(g, FE_OP_SIGNAL, 0, 1, 0, 0);
    ge_op(g, FE_OP_SIGNAL, 0, 2, 1 | 1 << 2, 1 | 2 << 3);
    ge_op(g, FE_OP_ATTR, 0, 1, 2 | 5 << 2, 0);
    ge_op(g, FE_OP_NEG_ADD, 0, 0, 1, 0);
    ge_op(g, FE_OP_SESS_START, 0, 0, 0, 0);
    ge_op(g, FE_OP_SESS_SIGNAL, 0, 0, 1, 0);
    ge_op(g, FE_OP_SIGNAL, 1, 3, 0, 0);
}

/* A source on a handle of its own (not one of the target's kept handles: closed with
   tidal_db_close). */
static void fe_src_open(fe_src *x, fz_env *e, uint8_t choice) {
    fe_src_init(x, fe_open(e, 1), choice);
}

/* A real export of the program's state: choice picks the tenant (fe_tenants). */
static uint8_t *ge_export(void (*prog)(ge_buf *), int choice, size_t *len) {
    ge_buf ops;
    fe_src x;
    fz_env e;
    fe_in in;
    uint8_t *blob;
    memset(&ops, 0, sizeof ops);
    if (prog) prog(&ops);
    fe_src_open(&x, &e, (uint8_t)choice);
    in.p = ops.b;
    in.n = ops.n;
    in.pos = 0;
    fe_build(&x, &in);
    blob = fe_export(x.db, x.tenant[0], len, 1);
    tidal_db_close(x.db);
    free(ops.b);
    return blob;
}

/* ---- The seeds ------------------------------------------------------------------------ */

static void gs_raw_empty(ge_buf *g) { ge_u8(g, FE_MODE_RAW); }

static void gs_raw_garbage(ge_buf *g) {
    int i;
    ge_u8(g, FE_MODE_RAW | 16 << 3); /* also the NULL and migration-0 calls */
    ge_put(g, "TLDX", 4);
    for (i = 0; i < 120; i++) ge_u8(g, (int)(tidal__mix64((uint64_t)i) & 255));
}

static void ge_raw(ge_buf *g, void (*prog)(ge_buf *), int choice, int how) {
    size_t len;
    uint8_t *blob = ge_export(prog, choice, &len);
    if (how == 1) blob[len - 1] ^= 0x40; /* the sum */
    if (how == 2) len--;                 /* truncated */
    ge_u8(g, FE_MODE_RAW);
    ge_put(g, blob, len);
    free(blob);
}
static void gs_raw_valid(ge_buf *g) { ge_raw(g, ge_mixed, 0, 0); }
static void gs_raw_valid_multichunk(ge_buf *g) { ge_raw(g, ge_two_chunks, 0, 0); }
static void gs_raw_bad_sum(ge_buf *g) { ge_raw(g, ge_small, 2, 1); }
static void gs_raw_truncated(ge_buf *g) { ge_raw(g, ge_small, 0, 2); }

/* An export from a database whose schema differs (one more signal type). */
static void gs_raw_other_schema(ge_buf *g) {
    static const tidal_signal_def sigs[4] = {
        {"view", 3600.0, 0, 0, 0},
        {"like", 86400.0, TIDAL_WINDOW_24H | TIDAL_WINDOW_30D, 0, 0},
        {"buy", 0.0, 0, 1, 0},
        {"share", 600.0, 0, 0, 0}};
    static const char *const cohorts[2] = {"locale", "tier"};
    tidal_config cfg;
    tidal_db *db = NULL;
    fz_env e;
    tidal_signal s;
    uint8_t *blob;
    size_t len;
    tidal_db_close(fe_open(&e, 5)); /* fills e: the env */
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &e.env;
    cfg.schema.signals = sigs;
    cfg.schema.signal_count = 4;
    cfg.schema.cohort_keys = cohorts;
    cfg.schema.cohort_key_count = 2;
    fz_require(tidal_db_open(&cfg, &db) == TIDAL_OK, "open");
    memset(&s, 0, sizeof s);
    s.tenant = 1;
    s.item = 3;
    s.type = 3;
    s.weight = 1.0;
    fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "signal");
    blob = fe_export(db, 1, &len, 1);
    ge_u8(g, FE_MODE_RAW);
    ge_put(g, blob, len);
    free(blob);
    tidal_db_close(db);
}

/* The body of a real export (what the harness wraps), header tenant fe_tenants[hdr]. */
static void ge_body(ge_buf *g, void (*prog)(ge_buf *), int choice, int hdr, int trailing) {
    size_t len;
    uint8_t *blob = ge_export(prog, choice, &len);
    ge_u8(g, FE_MODE_BODY | hdr << 3);
    ge_put(g, blob + TIDAL__EXPORT_HDR, len - TIDAL__EXPORT_HDR - 32);
    if (trailing) ge_put(g, "\0\0\0\0\0\0\0\0", 8);
    free(blob);
}
static void gs_body_tenant1(ge_buf *g) { ge_body(g, ge_mixed, 0, 0, 0); }
static void gs_body_tenant7(ge_buf *g) { ge_body(g, ge_mixed, 2, 2, 0); }
static void gs_body_empty_tenant(ge_buf *g) { ge_body(g, NULL, 3, 3, 0); }
static void gs_body_multichunk(ge_buf *g) { ge_body(g, ge_two_chunks, 1, 1, 0); }
static void gs_body_tenant_mismatch(ge_buf *g) { ge_body(g, ge_small, 0, 1, 0); }
static void gs_body_trailing(ge_buf *g) { ge_body(g, ge_small, 0, 0, 1); }

/* BUILD: byte 1 = mutations | reseal | tenant choice, the ops, the mutations. */
static void ge_build(ge_buf *g, int mode, void (*prog)(ge_buf *), int choice, int reseal,
                     const uint8_t *muts, int nmut) {
    ge_u8(g, mode);
    ge_u8(g, nmut | (reseal ? 16 : 0) | choice << 5);
    prog(g);
    if (nmut) ge_put(g, muts, (size_t)nmut * FE_MUT_BYTES);
}
/* kind, position u24 LE, value. */
static const uint8_t ge_muts[4 * FE_MUT_BYTES] = {
    0, 0x90, 0x01, 0x00, 0x08, /* xor a byte early in the body (the index) */
    2, 0x40, 0x03, 0x00, 0x03, /* UINT64_MAX into the rows */
    7, 0x00, 0x02, 0x00, 0x01, /* a count + 1 */
    4, 0x20, 0x04, 0x00, 0x07  /* delete 8 bytes */
};
static const uint8_t ge_muts_far[2 * FE_MUT_BYTES] = {
    1, 0x00, 0x00, 0x06, 0xFF, /* a byte around 384 KiB: in a later chunk */
    5, 0x00, 0x80, 0x05, 0x02  /* insert 3 bytes */
};
static void gs_build_mixed(ge_buf *g) { ge_build(g, FE_MODE_BUILD, ge_mixed, 0, 0, NULL, 0); }
static void gs_build_small_tenant2(ge_buf *g) {
    ge_build(g, FE_MODE_BUILD, ge_small, 1, 0, NULL, 0);
}
static void gs_build_resealed(ge_buf *g) { ge_build(g, FE_MODE_BUILD, ge_mixed, 2, 1, ge_muts, 4); }
static void gs_build_unsealed(ge_buf *g) {
    ge_build(g, FE_MODE_BUILD, ge_mixed, 0, 0, ge_muts + 5, 1);
}
static void gs_build_one_flip_resealed(ge_buf *g) {
    ge_build(g, FE_MODE_BUILD, ge_small, 0, 1, ge_muts, 1);
}
/* One byte of a long attribute value changed and resealed: still a valid export, with
   other content. */
static void gs_build_value_byte_resealed(ge_buf *g) {
    size_t len, pos;
    uint8_t *blob = ge_export(ge_mixed, 0, &len), m[FE_MUT_BYTES];
    for (pos = 0; pos + 8 <= len && memcmp(blob + pos, "vvvvvvvv", 8); pos++) {}
    fz_require(pos + 8 <= len, "the long value is in the export");
    pos += 100;
    m[0] = 1;
    m[1] = (uint8_t)pos, m[2] = (uint8_t)(pos >> 8), m[3] = (uint8_t)(pos >> 16);
    m[4] = 'w';
    ge_build(g, FE_MODE_BUILD, ge_mixed, 0, 1, m, 1);
    free(blob);
}
static void gs_build_multichunk(ge_buf *g) { ge_build(g, FE_MODE_BUILD, ge_big, 0, 0, NULL, 0); }
static void gs_build_multichunk_resealed(ge_buf *g) {
    ge_build(g, FE_MODE_BUILD, ge_big, 0, 1, ge_muts_far, 2);
}

/* DROP with byte 1 bits 0-1 (reuse the install's migration for the drop, the drop's for
   the reinstall): reproducers of a fixed bug. */
static void ge_drop_reuse(ge_buf *g, int bits) {
    ge_u8(g, FE_MODE_DROP);
    ge_u8(g, bits);
    ge_small(g);
}
static void gs_regress_drop_same_migration(ge_buf *g) { ge_drop_reuse(g, 1); }
static void gs_regress_reinstall_same_migration(ge_buf *g) { ge_drop_reuse(g, 2); }
/* The drop under the install's migration is refused, so the install under it again is a
   retry: a duplicate that writes nothing. */
static void gs_drop_refused_install_retried(ge_buf *g) { ge_drop_reuse(g, 3); }

static void gs_drop_mixed(ge_buf *g) { ge_build(g, FE_MODE_DROP, ge_mixed, 0, 0, NULL, 0); }
static void gs_drop_new_tenant(ge_buf *g) { ge_build(g, FE_MODE_DROP, ge_small, 3, 0, NULL, 0); }
static void gs_drop_multichunk(ge_buf *g) { ge_build(g, FE_MODE_DROP, ge_big, 2, 0, NULL, 0); }

/* CHUNK: chunk k of the install of prog's tenant (fe_tenants[choice]), cut by tidal.h;
   flags = the mode byte's upper bits (tenant choice in bits 0-1). */
static void ge_chunk(ge_buf *g, void (*prog)(ge_buf *), int choice, uint32_t want, int flags,
                     int bad_flags) {
    fz_env e;
    tidal_db *db = fe_open(&e, 6), *s = NULL;
    tidal__chunks cs;
    uint32_t tenant = 0;
    size_t len;
    uint8_t *blob = ge_export(prog, choice, &len);
    fz_require(tidal__scratch_open(db, &s) == TIDAL_OK, "scratch");
    fz_require(tidal__export_load(db, s, blob, len, &tenant) == NULL, "export loads");
    fz_require(tidal__install_cut(s, tenant, &cs) == TIDAL_OK, "chunks");
    fz_require(want < cs.n, "the chunk wanted exists");
    if (bad_flags) cs.c[want].mem[0] |= 0x80;
    ge_u8(g, FE_MODE_CHUNK | flags << 3);
    ge_put(g, cs.c[want].mem, cs.c[want].len);
    tidal__chunks_free(s, &cs);
    tidal_db_close(s);
    tidal_db_close(db);
    free(blob);
}
static void gs_chunk_first_last(ge_buf *g) { ge_chunk(g, ge_mixed, 0, 0, 0, 0); }
static void gs_chunk_middle(ge_buf *g) { ge_chunk(g, ge_big, 2, 1, 2 | 1 << 3, 0); }
static void gs_chunk_stale_middle(ge_buf *g) { ge_chunk(g, ge_two_chunks, 2, 1, 2 | 16, 0); }
static void gs_chunk_stale_garbage(ge_buf *g) {
    int i;
    ge_u8(g, FE_MODE_CHUNK | 16 << 3); /* not first, no install in progress */
    ge_u8(g, 0x40);                    /* bad flags */
    for (i = 0; i < 40; i++) ge_u8(g, 0xEE);
}
static void gs_chunk_wrong_id(ge_buf *g) { ge_chunk(g, ge_small, 0, 0, 4, 0); }
static void gs_chunk_bad_flags(ge_buf *g) { ge_chunk(g, ge_small, 1, 0, 1, 1); }

/* Reproducers of fixed bugs. */
static void ge_notes90(ge_buf *g) {
    ge_small(g);
    ge_op(g, FE_OP_BULK_NOTES, 0, 23, 1, 0); /* 24 notes of 4 KiB in one session */
}
static void ge_idem14k(ge_buf *g) {
    int i;
    ge_small(g);
    for (i = 0; i < 4; i++) ge_op(g, FE_OP_BULK_IDEM, 1, 54, 0, 0); /* 880 keyed writes */
}
static void ge_ttl_max(ge_buf *g) {
    ge_small(g);
    ge_op(g, FE_OP_SESS_START, 0, 3 << 2, 0, 0); /* ttl_ns INT64_MAX */
}
static void gs_regress_ttl_max(ge_buf *g) { ge_build(g, FE_MODE_BUILD, ge_ttl_max, 0, 0, NULL, 0); }
static void gs_regress_session_row(ge_buf *g) {
    ge_build(g, FE_MODE_BUILD, ge_notes90, 0, 0, NULL, 0);
}
static void gs_regress_index(ge_buf *g) { ge_build(g, FE_MODE_BUILD, ge_idem14k, 0, 0, NULL, 0); }
/* The second chunk of an install whose index is larger than one chunk: a later index part. */
static void gs_chunk_index_part(ge_buf *g) { ge_chunk(g, ge_idem14k, 0, 1, 0, 0); }

typedef struct ge_entry {
    const char *name;
    void (*fn)(ge_buf *g);
} ge_entry;

int main(void) {
    static const ge_entry seeds[] = {
        {"raw_empty", gs_raw_empty}, {"raw_garbage_and_invalid_calls", gs_raw_garbage},
        {"raw_valid_export", gs_raw_valid},
        {"raw_valid_export_multichunk", gs_raw_valid_multichunk},
        {"raw_bad_checksum", gs_raw_bad_sum}, {"raw_truncated", gs_raw_truncated},
        {"raw_other_schema", gs_raw_other_schema}, {"body_tenant1", gs_body_tenant1},
        {"body_tenant7", gs_body_tenant7}, {"body_empty_tenant", gs_body_empty_tenant},
        {"body_multichunk", gs_body_multichunk}, {"body_tenant_mismatch", gs_body_tenant_mismatch},
        {"body_trailing_bytes", gs_body_trailing}, {"build_mixed", gs_build_mixed},
        {"build_small_tenant2", gs_build_small_tenant2},
        {"build_mutated_resealed", gs_build_resealed},
        {"build_mutated_unsealed", gs_build_unsealed},
        {"build_one_flip_resealed", gs_build_one_flip_resealed},
        {"build_value_byte_resealed", gs_build_value_byte_resealed},
        {"build_multichunk", gs_build_multichunk},
        {"build_multichunk_mutated_resealed", gs_build_multichunk_resealed},
        {"drop_mixed", gs_drop_mixed}, {"drop_tenant_new_to_target", gs_drop_new_tenant},
        {"drop_multichunk", gs_drop_multichunk},
        {"drop_refused_then_install_retried", gs_drop_refused_install_retried},
        {"chunk_first_and_last", gs_chunk_first_last},
        {"chunk_middle_of_multichunk", gs_chunk_middle}, {"chunk_wrong_id", gs_chunk_wrong_id},
        {"chunk_bad_flags", gs_chunk_bad_flags},
        {"chunk_stale_middle_is_noop", gs_chunk_stale_middle},
        {"chunk_stale_garbage_is_noop", gs_chunk_stale_garbage},
        {"regress_drop_under_the_install_migration", gs_regress_drop_same_migration},
        {"regress_session_start_ttl_int64_max", gs_regress_ttl_max},
        {"regress_reinstall_under_the_drop_migration", gs_regress_reinstall_same_migration},
        {"regress_install_session_row_over_chunk_limit", gs_regress_session_row},
        {"regress_install_index_over_chunk_limit", gs_regress_index},
        {"chunk_index_part", gs_chunk_index_part}};
    char path[256];
    size_t i;
    if (mkdir("fuzz/corpus/export", 0777) != 0 && errno != EEXIST) {
        perror("fuzz/corpus/export (run from the repository root)");
        return 1;
    }
    for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        ge_buf g;
        FILE *f;
        int regress = !strncmp(seeds[i].name, "regress_", 8);
        memset(&g, 0, sizeof g);
        seeds[i].fn(&g);
        memset(&fe_last, 0, sizeof fe_last);
        LLVMFuzzerTestOneInput(g.b, g.n); /* self-check: aborts if a property fails */
        snprintf(path, sizeof path, "fuzz/corpus/export/%s", seeds[i].name);
        if (!(f = fopen(path, "wb")) || fwrite(g.b, 1, g.n, f) != g.n || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        if (regress)
            printf("%-58s %7zu bytes  (a reproducer of a fixed bug)\n", path, g.n);
        else
            printf("%-58s %7zu bytes  mode %d: %s, %u chunks, export %zu bytes\n", path, g.n,
                   fe_last.mode, tidal_strerror(fe_last.r), fe_last.chunks, fe_last.export_len);
        free(g.b);
    }
    return 0;
}
