/* test_blake3.c - BLAKE3: the official test vectors, a cross-check against b3sum(1), and a
   differential test against an independent, deliberately naive reference model written from
   the specification (loop-based compression with an explicit message permutation, recursive
   tree split). Public API only, except t_blake3_counter_high: chunk counters past 2^32 need
   terabytes of input, so it starts hashers mid-stream by setting their private fields, and
   calls the private chunk functions directly. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "blake3_check.h"

/* ---- reference model ----------------------------------------------------------------------- */

#define REF_CHUNK_START 1u
#define REF_CHUNK_END 2u
#define REF_PARENT 4u
#define REF_ROOT 8u
#define REF_KEYED 16u
#define REF_DKCONTEXT 32u
#define REF_DKMATERIAL 64u

static const uint32_t ref_iv[8] = {0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
                                   0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u};
static const unsigned ref_perm[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

static uint32_t ref_rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static uint32_t ref_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void ref_put32(uint8_t *p, uint32_t w) {
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

static void ref_g(uint32_t s[16], int a, int b, int c, int d, uint32_t x, uint32_t y) {
    s[a] = s[a] + s[b] + x;
    s[d] = ref_rotr(s[d] ^ s[a], 16);
    s[c] = s[c] + s[d];
    s[b] = ref_rotr(s[b] ^ s[c], 12);
    s[a] = s[a] + s[b] + y;
    s[d] = ref_rotr(s[d] ^ s[a], 8);
    s[c] = s[c] + s[d];
    s[b] = ref_rotr(s[b] ^ s[c], 7);
}

/* The compression function, all 16 output words (the first 8 are the chaining value). */
static void ref_compress(const uint32_t cv[8], const uint8_t block[64], uint64_t counter,
                         uint32_t block_len, uint32_t flags, uint32_t out[16]) {
    uint32_t s[16], m[16], t[16];
    int r, i;
    for (i = 0; i < 16; i++) m[i] = ref_le32(block + 4 * i);
    for (i = 0; i < 8; i++) s[i] = cv[i];
    for (i = 0; i < 4; i++) s[8 + i] = ref_iv[i];
    s[12] = (uint32_t)counter;
    s[13] = (uint32_t)(counter >> 32);
    s[14] = block_len;
    s[15] = flags;
    for (r = 0; r < 7; r++) {
        ref_g(s, 0, 4, 8, 12, m[0], m[1]);
        ref_g(s, 1, 5, 9, 13, m[2], m[3]);
        ref_g(s, 2, 6, 10, 14, m[4], m[5]);
        ref_g(s, 3, 7, 11, 15, m[6], m[7]);
        ref_g(s, 0, 5, 10, 15, m[8], m[9]);
        ref_g(s, 1, 6, 11, 12, m[10], m[11]);
        ref_g(s, 2, 7, 8, 13, m[12], m[13]);
        ref_g(s, 3, 4, 9, 14, m[14], m[15]);
        for (i = 0; i < 16; i++) t[i] = m[ref_perm[i]];
        memcpy(m, t, sizeof m);
    }
    for (i = 0; i < 8; i++) {
        out[i] = s[i] ^ s[i + 8];
        out[i + 8] = s[i + 8] ^ cv[i];
    }
}

/* A tree node before its last compression (it becomes a chaining value once it is known not
   to be the root). An opaque node (is_cv) is known only by its chaining value, in cv. */
typedef struct ref_node {
    uint32_t cv[8];
    uint8_t block[64];
    uint64_t counter;
    uint32_t len, flags;
    int is_cv;
} ref_node;

static void ref_node_cv(const ref_node *n, uint32_t cv[8]) {
    uint32_t o[16];
    if (n->is_cv) {
        memcpy(cv, n->cv, 8 * sizeof(uint32_t));
        return;
    }
    ref_compress(n->cv, n->block, n->counter, n->len, n->flags, o);
    memcpy(cv, o, 8 * sizeof(uint32_t));
}

/* One chunk (0..1024 bytes, number `chunk`): every block but the last is compressed. */
static ref_node ref_chunk(const uint32_t key[8], uint32_t flags, const uint8_t *p, size_t len,
                          uint64_t chunk) {
    ref_node n;
    size_t nblocks = len == 0 ? 1 : (len + 63) / 64, b;
    memset(&n, 0, sizeof n);
    memcpy(n.cv, key, sizeof n.cv);
    for (b = 0; b + 1 < nblocks; b++) {
        uint32_t o[16];
        ref_compress(n.cv, p + 64 * b, chunk, 64, flags | (b == 0 ? REF_CHUNK_START : 0u), o);
        memcpy(n.cv, o, sizeof n.cv);
    }
    n.len = (uint32_t)(len - 64 * (nblocks - 1));
    if (n.len > 0) memcpy(n.block, p + 64 * (nblocks - 1), n.len);
    n.counter = chunk;
    n.flags = flags | REF_CHUNK_END | (nblocks == 1 ? REF_CHUNK_START : 0u);
    return n;
}

static ref_node ref_parent(const uint32_t key[8], uint32_t flags, const ref_node *l,
                           const ref_node *r) {
    ref_node n;
    uint32_t lcv[8], rcv[8];
    int i;
    memset(&n, 0, sizeof n);
    ref_node_cv(l, lcv);
    ref_node_cv(r, rcv);
    memcpy(n.cv, key, sizeof n.cv);
    for (i = 0; i < 8; i++) {
        ref_put32(n.block + 4 * i, lcv[i]);
        ref_put32(n.block + 32 + 4 * i, rcv[i]);
    }
    n.counter = 0;
    n.len = 64;
    n.flags = flags | REF_PARENT;
    return n;
}

/* Bytes in the left subtree of a len > 1024 byte input: the largest power-of-two number of
   whole chunks that leaves at least one byte on the right. Written not to overflow. */
static uint64_t ref_left_len(uint64_t len) {
    uint64_t left = 1024;
    while (left <= (len - 1) / 2) left *= 2;
    return left;
}

static ref_node ref_tree(const uint32_t key[8], uint32_t flags, const uint8_t *p, size_t len,
                         uint64_t chunk) {
    ref_node l, r;
    size_t left;
    if (len <= 1024) return ref_chunk(key, flags, p, len, chunk);
    left = (size_t)ref_left_len(len);
    l = ref_tree(key, flags, p, left, chunk);
    r = ref_tree(key, flags, p + left, len - left, chunk + left / 1024);
    return ref_parent(key, flags, &l, &r);
}

/* Extendable output: block i of the output is the root compressed with counter i. */
static void ref_output(const ref_node *root, uint8_t *out, size_t out_len) {
    uint64_t ctr = 0;
    while (out_len > 0) {
        uint32_t o[16];
        size_t i;
        ref_compress(root->cv, root->block, ctr++, root->len, root->flags | REF_ROOT, o);
        for (i = 0; i < 64 && out_len > 0; i++, out_len--)
            *out++ = (uint8_t)(o[i / 4] >> (8 * (i % 4)));
    }
}

/* Key words and flags of a mode: 0 hash, 1 keyed_hash, 2 derive_key (context hashed here). */
static void ref_setup(int mode, const uint8_t key[32], const char *ctx, uint32_t k[8],
                      uint32_t *flags) {
    int i;
    if (mode == 0) {
        memcpy(k, ref_iv, sizeof ref_iv);
        *flags = 0;
    } else if (mode == 1) {
        for (i = 0; i < 8; i++) k[i] = ref_le32(key + 4 * i);
        *flags = REF_KEYED;
    } else {
        uint8_t ck[32];
        ref_node n = ref_tree(ref_iv, REF_DKCONTEXT, (const uint8_t *)ctx, strlen(ctx), 0);
        ref_output(&n, ck, sizeof ck);
        for (i = 0; i < 8; i++) k[i] = ref_le32(ck + 4 * i);
        *flags = REF_DKMATERIAL;
    }
}

static void ref_hash(int mode, const uint8_t key[32], const char *ctx, const uint8_t *p,
                     size_t len, uint8_t *out, size_t out_len) {
    uint32_t k[8], flags;
    ref_node n;
    ref_setup(mode, key, ctx, k, &flags);
    n = ref_tree(k, flags, p, len, 0);
    ref_output(&n, out, out_len);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static void fill_random(uint8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i += 8) {
        uint64_t r = tt_rand();
        size_t b;
        for (b = 0; b < 8 && i + b < n; b++) p[i + b] = (uint8_t)(r >> (8 * b));
    }
}

static void lib_init(struct tidal_blake3 *h, int mode, const uint8_t key[32], const char *ctx) {
    if (mode == 0) tidal_blake3_init(h);
    else if (mode == 1) tidal_blake3_init_keyed(h, key);
    else tidal_blake3_init_derive_key(h, ctx);
}

/* Size of the next update() piece; style 0 = everything at once, 1 = tiny pieces, 2 = a mix
   favouring block, chunk and 4-chunk multiples and their neighbours. */
static size_t piece_size(int style, size_t left) {
    size_t piece;
    if (style == 0) return left;
    if (style == 1) piece = (size_t)tt_below(70);
    else {
        switch (tt_below(6)) {
        case 0: piece = (size_t)tt_below(70); break;
        case 1: piece = 1024 * (size_t)tt_below(9) + (size_t)tt_below(3); break;
        case 2: piece = 4096 * (size_t)tt_below(5) + (size_t)tt_below(3); break;
        case 3: piece = 64 * (size_t)tt_below(20); break;
        case 4: piece = (size_t)tt_below(5000); break;
        default: piece = (size_t)tt_below(70000); break;
        }
        if (piece > 0 && tt_below(3) == 0) piece--;
    }
    return piece < left ? piece : left;
}

static const char *const mode_name[3] = {"hash", "keyed_hash", "derive_key"};

/* ---- cases --------------------------------------------------------------------------------- */

static void t_blake3_vectors(void) {
    const char *path = getenv("TIDAL_VECTORS");
    char err[512];
    int fails;
    if (path == NULL || *path == '\0') path = "tests/data/blake3_test_vectors.json";
    fails = blake3_check_vectors(path, err, sizeof err);
    TT_CHECKF(fails == 0, "%d failure(s) on %s; first: %s", fails, path, err);
}

static void t_blake3_b3sum(void) {
    const char *ci = getenv("CI"), *req = getenv("TIDAL_REQUIRE_B3SUM");
    int required = (ci != NULL && *ci != '\0') || (req != NULL && strcmp(req, "1") == 0);
    char err[512];
    int cases = (int)(40 * tt_scale());
    int fails = blake3_check_b3sum(tt_seed(), cases, err, sizeof err);
    if (fails < 0) {
        if (required) {
            TT_CHECKF(0, "b3sum is required (CI or TIDAL_REQUIRE_B3SUM=1) but missing: %s", err);
        } else {
            printf("  b3sum not installed: skipped comparison\n");
        }
        return;
    }
    TT_CHECKF(fails == 0, "%d of %d b3sum comparisons failed; first: %s", fails, cases + 7, err);
}

#define MODEL_MAX ((size_t)1 << 20)
#define MODEL_OUT 300

/* Input lengths: every interesting boundary first, then random ones biased to block, chunk
   and 4-chunk boundaries, mostly under 70 KB; every 50th is large (up to 1 MiB). */
static size_t model_len(long i) {
    static const size_t fixed[] = {0,     1,     2,     63,    64,    65,    127,   128,
                                   129,   1023,  1024,  1025,  2047,  2048,  2049,  3071,
                                   3072,  3073,  4095,  4096,  4097,  5119,  5120,  5121,
                                   8191,  8192,  8193,  16384, 16385, 65536, 65537, MODEL_MAX};
    size_t len;
    if (i < (long)(sizeof fixed / sizeof fixed[0])) return fixed[i];
    if (i % 50 == 49) return 70 * 1024 + (size_t)tt_below(MODEL_MAX - 70 * 1024 + 1);
    switch (tt_below(6)) {
    case 0: return (size_t)tt_below(130);
    case 1: len = 1024 * (size_t)tt_below(71) + (size_t)tt_below(3); break;
    case 2: len = 64 * (size_t)tt_below(1121) + (size_t)tt_below(3); break;
    case 3: len = 4096 * (size_t)tt_below(18) + (size_t)tt_below(3); break;
    default: return (size_t)tt_below(70 * 1024 + 1);
    }
    return len > 0 ? len - 1 : 0; /* k * unit - 1, k * unit or k * unit + 1 */
}

/* A context for derive_key: fixed ones, or random printable text of up to 1500 bytes (more
   than one chunk, so the context hash is a tree too). */
static void model_context(char *ctx, size_t cap) {
    static const char *const fixed[] = {
        "", "tidal 2024-06-01 test_blake3 model context",
        "BLAKE3 2019-12-27 16:29:52 test vectors context, made longer than one 64-byte block"};
    uint64_t r = tt_below(4);
    size_t n, i;
    if (r < 3) {
        snprintf(ctx, cap, "%s", fixed[r]);
        return;
    }
    n = (size_t)tt_below(1501);
    if (n >= cap) n = cap - 1;
    for (i = 0; i < n; i++) ctx[i] = (char)(' ' + tt_below(95));
    ctx[n] = '\0';
}

static void t_blake3_model(void) {
    uint8_t *buf = (uint8_t *)malloc(MODEL_MAX + 16);
    long n = 200 * tt_scale(), i;
    char ctx[1600];
    TT_CHECK(buf != NULL);
    if (buf == NULL) return;
    fill_random(buf, MODEL_MAX + 16);
    for (i = 0; i < n && TT_OK(); i++) {
        size_t len = model_len(i);
        const uint8_t *p = buf + tt_below(16); /* vary the alignment */
        uint8_t key[32];
        int mode;
        fill_random(key, sizeof key);
        model_context(ctx, sizeof ctx);
        for (mode = 0; mode < 3 && TT_OK(); mode++) {
            uint8_t want[MODEL_OUT + 32], got[MODEL_OUT + 1], again[MODEL_OUT + 1];
            uint8_t mid_want[64], mid_got[65];
            struct tidal_blake3 h, fork;
            size_t out_len = tt_below(10) == 0 ? (size_t)tt_below(4)
                                               : 1 + (size_t)tt_below(MODEL_OUT);
            size_t mid = (size_t)tt_below(len + 1), mid_len = 1 + (size_t)tt_below(64);
            size_t off = 0, mid_at = 0;
            int style = (int)tt_below(3), forked = 0;
            /* the reference, at least 32 bytes so the one-shot digest can be compared too */
            ref_hash(mode, key, ctx, p, len, want, out_len > 32 ? out_len : 32);
            lib_init(&h, mode, key, ctx);
            for (;;) {
                size_t piece;
                if (!forked && off >= mid) {
                    /* final() mid-stream must be right for the prefix and leave h intact; a
                       copy of the hasher (a fork) must carry on independently */
                    mid_at = off;
                    memset(mid_got, 0xA5, sizeof mid_got);
                    tidal_blake3_final(&h, mid_got, mid_len);
                    ref_hash(mode, key, ctx, p, mid_at, mid_want, mid_len);
                    TT_CHECKF(memcmp(mid_got, mid_want, mid_len) == 0 && mid_got[mid_len] == 0xA5,
                              "case %ld %s len=%lu: final() after %lu bytes (%lu out) differs",
                              i, mode_name[mode], (unsigned long)len, (unsigned long)mid_at,
                              (unsigned long)mid_len);
                    fork = h;
                    tidal_blake3_update(&fork, p + off, len - off);
                    forked = 1;
                }
                if (off == len) break;
                piece = piece_size(style, len - off);
                tidal_blake3_update(&h, p + off, piece);
                off += piece;
            }
            memset(got, 0xA5, sizeof got);
            memset(again, 0x5A, sizeof again);
            tidal_blake3_final(&h, got, out_len);
            tidal_blake3_update(&h, NULL, 0);
            tidal_blake3_final(&h, again, out_len);
            TT_CHECKF(memcmp(got, want, out_len) == 0 && got[out_len] == 0xA5,
                      "case %ld %s len=%lu out=%lu split style %d: differs from the model", i,
                      mode_name[mode], (unsigned long)len, (unsigned long)out_len, style);
            TT_CHECKF(memcmp(again, want, out_len) == 0 && again[out_len] == 0x5A,
                      "case %ld %s len=%lu out=%lu: a second final() differs", i,
                      mode_name[mode], (unsigned long)len, (unsigned long)out_len);
            memset(got, 0xA5, sizeof got);
            tidal_blake3_final(&fork, got, out_len);
            TT_CHECKF(memcmp(got, want, out_len) == 0 && got[out_len] == 0xA5,
                      "case %ld %s len=%lu out=%lu: hasher forked after %lu bytes differs", i,
                      mode_name[mode], (unsigned long)len, (unsigned long)out_len,
                      (unsigned long)mid_at);
            if (mode == 0) {
                tidal_blake3(p, len, got);
                TT_CHECKF(memcmp(got, want, 32) == 0, "case %ld len=%lu: one-shot differs", i,
                          (unsigned long)len);
            }
        }
    }
    free(buf);
}

/* ---- chunk counters past 2^32 --------------------------------------------------------------- */

/* A hasher that has already absorbed `start` whole chunks holds the chaining values of the
   binary decomposition of start (largest subtree first). The model keeps the same subtrees
   as opaque nodes: entry i covers chunks [lo[i], lo[i] + n[i]). */
typedef struct mid_prefix {
    uint64_t start;
    int count;
    uint64_t lo[64], n[64];
    uint32_t cv[64][8];
} mid_prefix;

static void mid_prefix_make(mid_prefix *pre, uint64_t start) {
    uint64_t at = 0;
    int bit;
    pre->start = start;
    pre->count = 0;
    for (bit = 63; bit >= 0; bit--) {
        int k;
        if (!((start >> bit) & 1u)) continue;
        pre->lo[pre->count] = at;
        pre->n[pre->count] = (uint64_t)1 << bit;
        for (k = 0; k < 8; k++) pre->cv[pre->count][k] = (uint32_t)tt_rand();
        at += (uint64_t)1 << bit;
        pre->count++;
    }
}

/* The node over `len` bytes from chunk lo of the whole input: pre->start opaque chunks, then
   the bytes at p (chunk pre->start onwards; p is that base in every call). A plain recursive
   tree per the spec; a subtree lying wholly in the opaque part must be a prefix entry. */
static ref_node mid_tree(const uint32_t key[8], uint32_t flags, const mid_prefix *pre,
                         const uint8_t *p, uint64_t lo, uint64_t len) {
    ref_node l, r;
    uint64_t left;
    int i;
    if (lo >= pre->start)
        return ref_tree(key, flags, p + (size_t)(lo - pre->start) * 1024, (size_t)len, lo);
    if (len % 1024 == 0 && lo + len / 1024 <= pre->start) {
        memset(&l, 0, sizeof l);
        l.is_cv = 1;
        for (i = 0; i < pre->count; i++)
            if (pre->lo[i] == lo && pre->n[i] == len / 1024) {
                memcpy(l.cv, pre->cv[i], sizeof l.cv);
                return l;
            }
        TT_CHECKF(0, "model bug: no prefix entry for chunks %" PRIu64 " + %" PRIu64, lo,
                  len / 1024);
        return l;
    }
    left = ref_left_len(len);
    l = mid_tree(key, flags, pre, p, lo, left);
    r = mid_tree(key, flags, pre, p, lo + left / 1024, len - left);
    return ref_parent(key, flags, &l, &r);
}

static uint64_t pick_start(void) {
    const uint64_t two32 = (uint64_t)1 << 32, two54 = (uint64_t)1 << 54;
    switch (tt_below(8)) {
    case 0: return two32 - 1 - tt_below(8);      /* the counter's high word changes mid-way */
    case 1: return two32 - 4 * (1 + tt_below(3)); /* 4-chunk groups straddling 2^32 */
    case 2: return two32 + tt_below(16);
    case 3: return (1 + tt_below(1u << 20)) << 32;  /* few, large subtrees */
    case 4: return two54 - 2 - tt_below(40);    /* deepest stack: 2^54 chunks is the limit */
    case 5: return tt_below(100);               /* ordinary starts, incl. 0 */
    default: return tt_below(two54 - 100);
    }
}

static void t_blake3_counter_high(void) {
    static const uint64_t ctrs[] = {0, 5, 0xFFFFFFFCu, 0xFFFFFFFDu, 0xFFFFFFFEu, 0xFFFFFFFFu,
                                    UINT64_C(0x123456789), UINT64_C(0x3FFFFFFFFFFFF)};
    enum { MAXLEN = 40 * 1024 };
    uint8_t *buf = (uint8_t *)malloc(MAXLEN);
    mid_prefix *pre = (mid_prefix *)malloc(sizeof *pre);
    uint8_t key[32];
    const char *ctx = "tidal 2024-06-01 test_blake3 high counters";
    long n = 60 * tt_scale(), i;
    size_t c;
    int mode;
    TT_CHECK(buf != NULL && pre != NULL);
    if (buf == NULL || pre == NULL) {
        free(buf);
        free(pre);
        return;
    }
    fill_random(buf, MAXLEN);
    fill_random(key, sizeof key);

    /* 1. single chunks at given counters: the scalar chunk path and the 4-lane path */
    for (c = 0; c < sizeof ctrs / sizeof ctrs[0]; c++) {
        for (mode = 0; mode < 3; mode++) {
            struct tidal_blake3 h;
            uint32_t k[8], flags, want[4][8], got[8];
            int j;
            ref_setup(mode, key, ctx, k, &flags);
            lib_init(&h, mode, key, ctx);
            for (j = 0; j < 4; j++) {
                ref_node nd = ref_chunk(k, flags, buf + 1024 * j, 1024, ctrs[c] + (uint64_t)j);
                ref_node_cv(&nd, want[j]);
                h.chunk_counter = ctrs[c] + (uint64_t)j;
                tidal__blake3_chunk_cv(&h, buf + 1024 * j, got);
                TT_CHECKF(memcmp(got, want[j], sizeof got) == 0,
                          "%s: chunk CV at counter %#" PRIx64 " differs", mode_name[mode],
                          ctrs[c] + (uint64_t)j);
            }
#ifdef TIDAL__BLAKE3_X8
            if (tidal__blake3_avx2()) {
                uint32_t want8[8][8], got8[8][8];
                for (j = 0; j < 8; j++) {
                    ref_node nd = ref_chunk(k, flags, buf + 1024 * j, 1024, ctrs[c] + (uint64_t)j);
                    ref_node_cv(&nd, want8[j]);
                }
                h.chunk_counter = ctrs[c];
                tidal__blake3_chunks_x8(&h, buf, got8);
                TT_CHECKF(memcmp(got8, want8, sizeof want8) == 0,
                          "%s: 8-lane chunk CVs at counters %#" PRIx64 "..+7 differ",
                          mode_name[mode], ctrs[c]);
            }
#endif
#ifdef TIDAL__BLAKE3_X4
            {
                uint32_t got4[4][8];
                h.chunk_counter = ctrs[c];
                tidal__blake3_chunks_x4(&h, buf, got4);
                TT_CHECKF(memcmp(got4, want, sizeof want) == 0,
                          "%s: 4-lane chunk CVs at counters %#" PRIx64 "..+3 differ",
                          mode_name[mode], ctrs[c]);
            }
#endif
        }
    }

    /* 2. whole hashes through update/final from hashers started mid-stream */
    for (i = 0; i < n && TT_OK(); i++) {
        uint64_t start = pick_start(), room = ((uint64_t)1 << 54) - 1 - start;
        uint64_t maxlen = room < MAXLEN / 1024 ? room * 1024 : MAXLEN;
        size_t len = (size_t)tt_below(maxlen + 1), out_len = 1 + (size_t)tt_below(MODEL_OUT);
        int style = (int)tt_below(3);
        if (tt_below(3) == 0) len = (len / 1024) * 1024 + (size_t)tt_below(2); /* near a chunk */
        if (len > maxlen) len = (size_t)maxlen;
        if (len == 0 && start > 0) len = 1; /* a chunk is only pushed once more input comes */
        mid_prefix_make(pre, start);
        for (mode = 0; mode < 3 && TT_OK(); mode++) {
            struct tidal_blake3 h;
            uint32_t k[8], flags;
            uint8_t want[MODEL_OUT], got[MODEL_OUT];
            ref_node root;
            size_t off = 0;
            int j;
            ref_setup(mode, key, ctx, k, &flags);
            root = mid_tree(k, flags, pre, buf, 0, start * 1024 + len);
            ref_output(&root, want, out_len);
            lib_init(&h, mode, key, ctx);
            h.chunk_counter = start;
            for (j = 0; j < pre->count; j++) memcpy(h.cv_stack + 8 * j, pre->cv[j], 32);
            h.cv_stack_len = (uint8_t)pre->count;
            while (off < len) {
                size_t piece = piece_size(style, len - off);
                tidal_blake3_update(&h, buf + off, piece);
                off += piece;
            }
            tidal_blake3_final(&h, got, out_len);
            TT_CHECKF(memcmp(got, want, out_len) == 0,
                      "%s: start chunk %#" PRIx64 " (%d subtrees) + %lu bytes, split style %d,"
                      " out %lu: differs from the model",
                      mode_name[mode], start, pre->count, (unsigned long)len, style,
                      (unsigned long)out_len);
        }
    }
    free(pre);
    free(buf);
}

/* The multi-chunk paths (8 lanes with AVX2 where the CPU has it, 4 lanes with GNU vector
   types) against the portable one-block path, which is all update() uses when fed 64 bytes
   or less at a time: the same hash for every length 0..20000, the input at every offset
   0..31 from an aligned address (the lanes load unaligned), in all three modes. */
static void t_blake3_simd_agrees(void) {
    enum { MAXLEN = 20000, PAD = 32 };
    uint8_t *buf = (uint8_t *)malloc(MAXLEN + PAD), key[32];
    const char *ctx = "tidal 2026-12-07 test_blake3 simd";
    size_t len;
    TT_CHECK(buf != NULL);
    if (!buf) return;
    fill_random(buf, MAXLEN + PAD);
    fill_random(key, sizeof key);
#ifdef TIDAL__BLAKE3_X8
    printf("  8-lane AVX2 path: %s\n", tidal__blake3_avx2() ? "on (the CPU has AVX2)" : "off");
#endif
#ifdef TIDAL__BLAKE3_X4
    printf("  4-lane path: built\n");
#endif
    for (len = 0; len <= MAXLEN && TT_OK(); len++) {
        const uint8_t *p = buf + len % PAD; /* every alignment, each length once */
        int mode = (int)(len % 3);
        struct tidal_blake3 a, b;
        uint8_t x[40], y[40];
        size_t off = 0;
        lib_init(&a, mode, key, ctx);
        lib_init(&b, mode, key, ctx);
        tidal_blake3_update(&a, p, len);
        while (off < len) { /* at most a block at a time: the portable path alone */
            size_t piece = len - off < 64 ? len - off : 1 + (size_t)tt_below(64);
            tidal_blake3_update(&b, p + off, piece);
            off += piece;
        }
        tidal_blake3_final(&a, x, sizeof x);
        tidal_blake3_final(&b, y, sizeof y);
        TT_CHECKF(memcmp(x, y, sizeof x) == 0, "%s: %lu bytes at offset %lu: one-shot and"
                  " block-at-a-time hashes differ", mode_name[mode], (unsigned long)len,
                  (unsigned long)(len % PAD));
    }
    free(buf);
}

/* The state digest starts its hasher from constant key words (tidal__digest_key) instead of
   deriving them from the context at every call: they must be the derivation's, and an empty
   database's digest must be BLAKE3 derive-key of its canonical bytes (a tenant count of 0). */
static void t_digest_key(void) {
    struct tidal_blake3 h;
    tidal_config cfg;
    tidal_db *db = NULL;
    tidal_signal_def sig;
    uint8_t zero[8] = {0}, want[32], got[32];
    tidal_blake3_init_derive_key(&h, TIDAL__DIGEST_CONTEXT);
    TT_CHECK(memcmp(h.key, tidal__digest_key, sizeof h.key) == 0);
    TT_CHECK(h.flags == 64u);
    tidal_blake3_update(&h, zero, sizeof zero);
    tidal_blake3_final(&h, want, sizeof want);
    memset(&cfg, 0, sizeof cfg);
    memset(&sig, 0, sizeof sig);
    sig.name = "view";
    sig.half_life_s = 3600;
    cfg.schema.signals = &sig;
    cfg.schema.signal_count = 1;
    TT_CHECK(tidal_db_open(&cfg, &db) == TIDAL_OK);
    if (!db) return;
    TT_CHECK(tidal_db_digest(db, TIDAL_ALL_TENANTS, got) == TIDAL_OK);
    TT_CHECK(memcmp(want, got, 32) == 0);
    tidal_db_close(db);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_blake3_vectors),
    TT_CASE(t_blake3_b3sum),
    TT_CASE(t_blake3_model),
    TT_CASE(t_blake3_counter_high),
    TT_CASE(t_blake3_simd_agrees),
    TT_CASE(t_digest_key),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
