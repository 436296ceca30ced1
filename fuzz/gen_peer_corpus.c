/* gen_peer_corpus.c - writes seed inputs for fuzz_peer into fuzz/corpus/peer: FORWARD
   payloads of every op, REPLY payloads (with hits, a redirect, a message), PROPOSE
   records and >>node_gather's HEARTBEAT, GATHER_Q and GATHER_A payloads, in fuzz_peer's
   "build" mode (byte 0 selects the type), plus one raw message.
   White-box: encodes with the implementation's own writers. Run from the repository root. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(const uint8_t *b, size_t n) {
    uint8_t h[32];
    char name[128];
    FILE *f;
    int i;
    tidal_blake3(b, n, h);
    i = snprintf(name, sizeof name, "fuzz/corpus/peer/");
    for (int k = 0; k < 20; k++) i += snprintf(name + i, sizeof name - (size_t)i, "%02x", h[k]);
    f = fopen(name, "wb");
    if (!f || fwrite(b, 1, n, f) != n) {
        fprintf(stderr, "gen_peer_corpus: cannot write %s\n", name);
        exit(1);
    }
    fclose(f);
}

/* mode: build (bit 0), type 80 + t at bits 4-5, hops at bits 6-7. */
static void put_built(uint32_t t, uint32_t hops, const uint8_t *payload, size_t n) {
    static uint8_t b[1 << 16];
    b[0] = (uint8_t)(1u | (t << 4) | (hops << 6));
    memcpy(b + 1, payload, n);
    put(b, n + 1);
}

int main(void) {
    static tidal__peer_req q;
    static tidal_peer_completion c;
    static uint8_t buf[1 << 16];
    uint32_t op;
    size_t n;
    for (op = TIDAL_PEER_OP_SIGNAL; op <= TIDAL_PEER_OP_RETRIEVE; op++) {
        memset(&q, 0, sizeof q);
        q.op = op;
        q.tenant = 1;
        q.shard = op % 2;
        q.level = op == TIDAL_PEER_OP_RETRIEVE ? 0 : TIDAL_ACK_QUORUM;
        if (op != TIDAL_PEER_OP_RETRIEVE) q.item = 100 + op;
        if (op == TIDAL_PEER_OP_SIGNAL || op == TIDAL_PEER_OP_SESSION_SIGNAL) {
            q.weight = 1.5;
            q.user = 9;
            q.flags = 2;
            q.n_cohort = 1;
            strcpy(q.ckey[0], "country");
            strcpy(q.cval[0], "fr");
            q.idem_len = 3;
            memcpy(q.idem, "key", 3);
            q.idem_seq = 4;
        }
        if (op == TIDAL_PEER_OP_SESSION_SIGNAL) q.session = 77, q.seq = 2;
        if (op == TIDAL_PEER_OP_NEGATIVE_ADD) q.kind = TIDAL_HIDE, q.user = 9;
        if (op == TIDAL_PEER_OP_ATTR_SET) strcpy(q.name, "color"), strcpy(q.text, "red"), q.flags = 1;
        if (op == TIDAL_PEER_OP_RETRIEVE) strcpy(q.text, "RETRIEVE items SIGNAL view TENANT 1");
        n = tidal__peer_req_put(&q, buf);
        put_built(0, 0, buf, n);
        put_built(0, 1, buf, n);
    }
    memset(&c, 0, sizeof c);
    c.outcome = TIDAL_PEER_DONE_OK;
    c.acked = TIDAL_ACK_QUORUM;
    c.has_redirect = 1;
    c.hit_count = 2;
    c.hits[0].item = 5, c.hits[0].score = 2.0;
    c.hits[1].item = 6, c.hits[1].score = 1.0;
    put_built(1, 0, buf, tidal__peer_reply_put(&c, buf));
    memset(&c, 0, sizeof c);
    c.outcome = TIDAL_PEER_DONE_FAILED;
    c.result = TIDAL_ERR_MOVED;
    strcpy(c.message, "tenant 1 is sealed");
    put_built(1, 1, buf, tidal__peer_reply_put(&c, buf));
    {
        tidal_control_record r;
        memset(&r, 0, sizeof r);
        r.kind = TIDAL_CONTROL_TENANT;
        r.tenant = 1;
        r.state = TIDAL_TENANT_SEALED;
        buf[0] = 0;
        (void)tidal_control_record_encode(&r, buf + 1, 64, &n, NULL, 0);
        buf[0] = (uint8_t)n;
        put_built(2, 0, buf, n + 1);
    }
    { /* >>node_gather: t = 3 selects them, hops bits the type (96 + hops) */
        static tidal__gx_a a;
        static const char text[] = "RETRIEVE items SIGNAL view TENANT 1 LIMIT 5";
        uint8_t *w = buf;
        uint32_t k;
        w = tidal__wr_le(w, 3, 1); /* HEARTBEAT: this node leads the control plane */
        w = tidal__wr_le(w, 0, 3);
        w = tidal__wr_le(w, 1, 4); /* leader 0/1 */
        w = tidal__wr_le(w, 2, 8);
        w = tidal__wr_le(w, 7, 8);
        w = tidal__wr_le(w, 6, 8);
        w = tidal__wr_le(w, 7, 8);
        w = tidal__wr_le(w, 1, 1);
        w = tidal__wr_le(w, 0, 1); /* group 0, a follower of 0/1 (the sender), lagging */
        w = tidal__wr_le(w, TIDAL_ROLE_FOLLOWER, 1);
        w = tidal__wr_le(w, 1, 1);
        w = tidal__wr_le(w, 0, 1);
        w = tidal__wr_le(w, 1, 4);
        for (k = 0; k < 4; k++) w = tidal__wr_le(w, 3 + k, 8);
        put_built(3, 0, buf, (size_t)(w - buf));
        w = buf; /* GATHER_Q for shard 0 */
        w = tidal__wr_le(w, 0, 4);
        w = tidal__wr_le(w, 0, 4);
        w = tidal__wr_le(w, 1, 4);
        w = tidal__wr_le(w, 1, 4);
        w = tidal__wr_le(w, sizeof text - 1, 2);
        w = tidal__wr_bytes(w, text, sizeof text - 1);
        put_built(3, 1, buf, (size_t)(w - buf));
        memset(&a, 0, sizeof a); /* GATHER_A with two hits */
        a.try_no = 1, a.flags = 2, a.epoch = 3, a.n = 2;
        a.hits[0].item = 5, a.hits[0].score = 2.0;
        a.hits[1].item = 6, a.hits[1].score = 1.0;
        strcpy(a.message, "ok");
        put_built(3, 2, buf, tidal__gx_a_put(&a, buf));
    }
    printf("gen_peer_corpus: wrote fuzz/corpus/peer\n");
    return 0;
}
