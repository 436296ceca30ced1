/* fuzz_frame.c - libFuzzer target for the TCP transport's decoders (tidal.h >>net_tcp):
   the hello, the frame and the envelope check as pure functions, and a connection's input
   path (tidal__tcp_rx) fed a whole stream in chunks.

   One transport is opened once (node 1.0, peer 0.0 in its table, never dialed: the lower
   node dials); per input a socketless inbound connection is made with a fixed nonce, so a
   run is deterministic. Input: byte 0 is the mode, the rest the body.
     bit 0  build: the body becomes a valid stream from 0.0 (hello, confirmation, then one
            message per body chunk: chunk length 1 + body byte % 64, the envelope from 0.0
            to 1.0 unless bit 2 is set, then the chunk's first byte picks the from node);
            with bit 1, one byte of the stream is then flipped (position and mask from the
            first three body bytes). Without bit 0 the body is the stream, raw.
     bits 4-7  the stream is fed in chunks of 1 + (mode >> 4) * 7 bytes.
   Properties (a violation aborts):
     1. no crash, no sanitizer report, no leak;
     2. each decoder, on the body: a refusal names where ("at byte"); an accepted hello or
        frame encodes back to exactly its bytes; the envelope check accepts only what
        carries the magic, the connection's node as from and this node as to;
     3. what the connection delivers, however the stream is chunked, is exactly what one
        pass over the whole stream yields: a hello of this cluster from 0.0 to 1.0, the
        keys of its nonces, then frames in sequence each with a valid MAC (the first the
        empty confirmation), up to the first that is not, their messages whose envelope
        fits. So nothing without a valid MAC is ever delivered (a mutated input cannot
        forge one: raw inputs deliver nothing unless a seed was made with the key);
     4. built: exactly the messages whose envelope fits are delivered, in order and intact
        when nothing was flipped; with a flipped byte, only messages of frames that end
        before it. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MSGS_MAX 256

static void fz_fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_frame: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

typedef struct fz_out {
    int n;
    size_t len[FZ_MSGS_MAX];
    uint8_t *msg[FZ_MSGS_MAX]; /* copies */
} fz_out;

static void fz_deliver(void *ctx, tidal_node_ref from, const void *bytes, size_t len) {
    fz_out *o = (fz_out *)ctx;
    if (from.region != 0 || from.shard != 0) fz_fail("delivered from another node", NULL);
    if (o->n >= FZ_MSGS_MAX) fz_fail("more deliveries than messages", NULL);
    o->msg[o->n] = (uint8_t *)malloc(len);
    memcpy(o->msg[o->n], bytes, len);
    o->len[o->n++] = len;
}

static const uint8_t fz_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static tidal_tcp *fz_transport(void) {
    static tidal_tcp *t;
    tidal_tcp_config cfg;
    tidal_node_ref peer;
    char msg[256];
    if (t) return t;
    memset(&cfg, 0, sizeof cfg);
    cfg.self.region = 1;
    memcpy(cfg.cluster_key, fz_key, 32);
    cfg.cluster_id = 7;
    if (tidal_tcp_open(&cfg, &t, msg, sizeof msg) != TIDAL_OK) fz_fail("open", msg);
    peer.region = 0, peer.shard = 0;
    if (tidal_tcp_peer_set(t, peer, "127.0.0.1:9") != TIDAL_OK) fz_fail("peer_set", NULL);
    return t;
}

/* Property 2. */
static void fz_pure(const uint8_t *b, size_t n) {
    tidal__tcp_hello h;
    tidal__tcp_frame f;
    uint8_t again[64], *fr;
    char why[256];
    long r;
    why[0] = 0;
    r = tidal__tcp_hello_decode(b, n, &h, why, sizeof why);
    if (r == TIDAL__TCP_BAD && !strstr(why, "at byte")) fz_fail("a hello refusal says not where", why);
    if (r == TIDAL__TCP_MORE && n >= 64) fz_fail("a whole hello wants more", NULL);
    if (r == 1) {
        tidal__tcp_hello_put(again, h.cluster, h.from, h.to, h.nonce);
        if (memcmp(again, b, 64)) fz_fail("a hello does not round-trip", NULL);
    }
    why[0] = 0;
    r = tidal__tcp_frame_decode(b, n, fz_key, n ? b[0] : 0, &f, why, sizeof why);
    if (r < 0 && !strstr(why, "at byte")) fz_fail("a frame refusal says not where", why);
    if (r > 0) {
        if ((size_t)r != f.len + (size_t)TIDAL_TCP_FRAME_OVERHEAD || (size_t)r > n)
            fz_fail("a frame's size", NULL);
        fr = (uint8_t *)malloc((size_t)r);
        tidal__tcp_frame_put(fr, fz_key, f.seq, f.payload, f.len);
        if (memcmp(fr, b, (size_t)r)) fz_fail("a frame does not round-trip", NULL);
        free(fr);
    }
    r = tidal__tcp_envelope_check(b, n, 0, 1u << 16, why, sizeof why);
    if (r == 1 && (n < 20 || tidal__rd_le_at4(b) != UINT32_C(0x4D4C4454) ||
                   tidal__rd_le_at4(b + 12) != 0 || tidal__rd_le_at4(b + 16) != 1u << 16))
        fz_fail("an envelope accepted that does not fit", NULL);
    if (r != 1 && !strstr(why, "byte")) fz_fail("an envelope refusal says not where", why);
}

/* The built stream (bit 0): hello, confirmation, one frame per chunk. expect[] gets the
   messages whose envelope fits; ends[] each frame's end in the stream. */
static uint8_t *fz_build(uint32_t mode, const uint8_t *body, size_t n, const uint8_t anonce[32],
                         size_t *len, fz_out *expect, size_t *ends, int *count) {
    uint8_t *s = (uint8_t *)malloc(64 + 44 + n * (24 + 64 + 44) + 64), *w = s, k[64];
    uint8_t dnonce[32], m[24 + 64];
    size_t at = 0;
    uint64_t seq = 1;
    char why[128];
    memset(dnonce, 0x3C, 32);
    tidal__tcp_hello_put(w, 7, 0, 1u << 16, dnonce);
    w += 64;
    tidal__tcp_keys(fz_key, 7, 0, 1u << 16, dnonce, anonce, k);
    w = tidal__tcp_frame_put(w, k, 0, NULL, 0);
    *count = 0;
    while (at < n && *count < FZ_MSGS_MAX) {
        size_t cl = 1 + body[at] % 64, ml = 24 + cl, j;
        if (cl > n - at) cl = n - at;
        ml = 24 + cl;
        memset(m, 0, 24);
        tidal__wr_le(m, UINT32_C(0x4D4C4454), 4);
        tidal__wr_le(m + 12, (mode & 4) ? (uint32_t)(body[at] % 3) : 0, 4);
        tidal__wr_le(m + 16, 1u << 16, 4);
        for (j = 0; j < cl; j++) m[24 + j] = body[at + j];
        w = tidal__tcp_frame_put(w, k + 0, seq++, m, (uint32_t)ml);
        ends[*count] = (size_t)(w - s);
        if (tidal__tcp_envelope_check(m, ml, 0, 1u << 16, why, sizeof why) == 1) {
            expect->msg[expect->n] = (uint8_t *)malloc(ml);
            memcpy(expect->msg[expect->n], m, ml);
            expect->len[expect->n++] = ml;
        } else {
            expect->len[expect->n] = 0; /* a hole: dropped by the identity check */
            expect->msg[expect->n++] = NULL;
        }
        (*count)++;
        at += cl;
    }
    *len = (size_t)(w - s);
    return s;
}

static void fz_free(fz_out *o) {
    int i;
    for (i = 0; i < o->n; i++) free(o->msg[i]);
    o->n = 0;
}

/* Property 3's one pass over the whole stream. */
static void fz_reference(const uint8_t *s, size_t len, const uint8_t anonce[32], fz_out *ref) {
    tidal__tcp_hello h;
    tidal__tcp_frame f;
    uint8_t k[64];
    char why[256];
    size_t off = 64;
    uint64_t seq = 0;
    long r;
    if (tidal__tcp_hello_decode(s, len, &h, why, sizeof why) != 1 || h.cluster != 7 ||
        h.from != 0 || h.to != 1u << 16)
        return;
    tidal__tcp_keys(fz_key, 7, 0, 1u << 16, h.nonce, anonce, k);
    while ((r = tidal__tcp_frame_decode(s + off, len - off, k, seq, &f, why, sizeof why)) > 0) {
        off += (size_t)r;
        if (seq++ == 0) continue; /* the confirmation */
        if (tidal__tcp_envelope_check(f.payload, f.len, 0, 1u << 16, why, sizeof why) != 1)
            continue;
        if (ref->n >= FZ_MSGS_MAX) fz_fail("reference: too many messages", NULL);
        ref->msg[ref->n] = (uint8_t *)malloc(f.len);
        memcpy(ref->msg[ref->n], f.payload, f.len);
        ref->len[ref->n++] = f.len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fz_out got, expect, ref;
    static size_t ends[FZ_MSGS_MAX];
    tidal_tcp *t = fz_transport();
    tidal__tcp_conn *c;
    const uint8_t *body = data + 1;
    uint8_t *stream = NULL, anonce[32];
    size_t n = size ? size - 1 : 0, len, off = 0, chunk, flip = (size_t)-1;
    uint32_t mode = size ? data[0] : 0;
    int count = 0, i, k, open = 1;
    if (size > (1u << 16)) return 0;
    fz_pure(body, n);
    c = tidal__tcp_conn_new(t, -1, 0, -1);
    if (!c) fz_fail("conn_new", NULL);
    memset(anonce, 0x77, 32);
    memcpy(c->nonce, anonce, 32); /* fixed: the run is deterministic */
    snprintf(c->name, sizeof c->name, "fuzz");
    if (mode & 1) {
        stream = fz_build(mode, body, n, anonce, &len, &expect, ends, &count);
        if ((mode & 2) && n >= 3) {
            flip = ((size_t)body[0] | (size_t)body[1] << 8) % len;
            stream[flip] ^= (uint8_t)(body[2] | 1);
        }
    } else {
        len = n;
    }
    chunk = 1 + (mode >> 4) * 7;
    while (off < len && open) {
        size_t take = len - off < chunk ? len - off : chunk;
        if (!tidal__tcp_reserve(t, &c->rbuf, &c->rcap, c->rlen + take)) fz_fail("reserve", NULL);
        memcpy(c->rbuf + c->rlen, (stream ? stream : body) + off, take);
        c->rlen += take;
        off += take;
        open = tidal__tcp_rx(t, c, fz_deliver, &got);
    }
    if (open) tidal__tcp_conn_close(t, c);
    fz_reference(stream ? stream : body, len, anonce, &ref); /* 3 */
    if (ref.n != got.n) fz_fail("delivered other messages than the stream holds", NULL);
    for (i = 0; i < got.n; i++)
        if (got.len[i] != ref.len[i] || memcmp(got.msg[i], ref.msg[i], got.len[i]))
            fz_fail("a delivered message differs from the stream's", NULL);
    if (mode & 1) { /* 4 */
        int avail = 0;
        for (i = 0; i < count; i++)
            if (flip == (size_t)-1 || ends[i] <= flip) avail = i + 1;
        for (i = 0, k = 0; i < avail && k < got.n; i++) {
            if (!expect.msg[i]) continue;
            if (got.len[k] != expect.len[i] || memcmp(got.msg[k], expect.msg[i], got.len[k]))
                fz_fail("a delivered message differs from the one sent", NULL);
            k++;
        }
        if (k != got.n) fz_fail("delivered a message past the flipped byte", NULL);
        if (flip == (size_t)-1) {
            int want = 0;
            for (i = 0; i < count; i++) want += expect.msg[i] != NULL;
            if (got.n != want) fz_fail("a valid stream lost a message", NULL);
        }
    }
    fz_free(&got);
    fz_free(&expect);
    fz_free(&ref);
    free(stream);
    return 0;
}
