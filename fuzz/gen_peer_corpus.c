/* gen_peer_corpus.c - writes seed inputs for fuzz_peer into fuzz/corpus/peer: FORWARD
   payloads of every op (those of issue 12's entry points included), REPLY payloads (with
   hits, a redirect, a message), PROPOSE
   records and >>node_gather's HEARTBEAT, GATHER_Q and GATHER_A payloads, in fuzz_peer's
   "build" mode (byte 0 selects the type), plus one raw message, and one raw message of
   each migration coordinator type (>>node_move), from node (0, 1) to (0, 0).
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

static uint8_t g_event[512];
static size_t g_event_len;

/* Fixed clocks and randomness: the event, hence the corpus, is the same on every run. */
static int64_t fixed_wall(void *user) { (void)user; return INT64_C(1790000000000000000); }
static int64_t fixed_mono(void *user) { (void)user; return INT64_C(1000000000); }
static void fixed_random(void *user, void *buf, size_t len) {
    (void)user;
    memset(buf, 0x5A, len);
}

static void grab(void *ctx, const void *event, size_t len) {
    (void)ctx;
    if (len <= sizeof g_event) memcpy(g_event, event, len), g_event_len = len;
}

/* One whole coordinator message in fuzz_peer's raw mode (byte 0 = 0: one message, from
   (0, 1)); origin (0, 1) for a request, (0, 0) - the fuzzed peer - for an answer. */
static void put_move(const tidal__move_msg *x, int answer) {
    static uint8_t b[1 << 16];
    uint8_t *w = b + 1, sum[32];
    size_t n = tidal__move_put(x, b + 1 + TIDAL__MSG_HDR);
    b[0] = 0;
    memset(w, 0, TIDAL__MSG_HDR);
    w = tidal__wr_le(w, TIDAL__MSG_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL_WIRE_FORMAT_VERSION, 2);
    w = tidal__wr_le(w, TIDAL__MSG_HDR, 2);
    w = tidal__wr_le(w, x->type, 2);
    w = tidal__wr_le(w, TIDAL_PEER_GROUP, 2);
    w = tidal__wr_le(w, 1, 4);            /* from (0, 1) */
    w = tidal__wr_le(w, 0, 4);            /* to (0, 0) */
    w = tidal__wr_le(w, answer ? 0 : 1, 4);
    w = tidal__wr_le(w, 0, 4);            /* hops */
    w = tidal__wr_le(w, 7, 8);            /* ticket */
    w = tidal__wr_le(w, n, 4);
    (void)tidal__msg_sum(b + 1, b + 1 + TIDAL__MSG_HDR, n, sum);
    memcpy(b + 1 + TIDAL__MSG_SUM_AT, sum, 32);
    put(b, 1 + TIDAL__MSG_HDR + n);
}

static void put_moves(void) {
    static const uint32_t types[] = {
        TIDAL_PEER_MSG_MOVE, TIDAL_PEER_MSG_COPY, TIDAL_PEER_MSG_INSTALL, TIDAL_PEER_MSG_COPIED,
        TIDAL_PEER_MSG_EVENT, TIDAL_PEER_MSG_DIGEST_Q, TIDAL_PEER_MSG_DIGEST, TIDAL_PEER_MSG_DROP,
        TIDAL_PEER_MSG_FOOTPRINT_Q, TIDAL_PEER_MSG_FOOTPRINT, TIDAL_PEER_MSG_SEALED};
    static uint8_t exp[64];
    tidal__move_msg x;
    tidal_config cfg;
    tidal_signal_def sig;
    tidal_signal s;
    tidal_env env;
    tidal_db *db;
    size_t k;
    env = *tidal_env_posix();
    env.clock_wall_ns = fixed_wall, env.clock_mono_ns = fixed_mono;
    env.random_fill = fixed_random;
    memset(&cfg, 0, sizeof cfg); /* an event of tenant 1, as a source member's hook sees it */
    memset(&sig, 0, sizeof sig);
    sig.name = "view", sig.half_life_s = 3600;
    cfg.schema.signals = &sig, cfg.schema.signal_count = 1;
    cfg.env = &env;
    if (tidal_db_open(&cfg, &db) != TIDAL_OK) exit(1);
    tidal_db_set_event_hook(db, grab, NULL);
    memset(&s, 0, sizeof s);
    s.tenant = 1, s.item = 100, s.weight = 1;
    if (tidal_signal_write(db, &s, NULL) != TIDAL_OK || !g_event_len) exit(1);
    tidal_db_close(db);
    memset(exp, 0, sizeof exp); /* the start of an export: its tenant at byte 16 */
    exp[16] = 1;
    for (k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k];
        int answer = t == TIDAL_PEER_MSG_COPIED || t == TIDAL_PEER_MSG_DIGEST ||
                     t == TIDAL_PEER_MSG_FOOTPRINT;
        memset(&x, 0, sizeof x);
        x.type = t;
        x.tenant = 1;
        x.target = t == TIDAL_PEER_MSG_MOVE ? 3 : 0;
        if (t != TIDAL_PEER_MSG_MOVE) x.source = 3, x.shard = 1, x.move = 5;
        if (t == TIDAL_PEER_MSG_COPY || t == TIDAL_PEER_MSG_INSTALL || t == TIDAL_PEER_MSG_COPIED)
            x.gen = 5;
        if (t == TIDAL_PEER_MSG_DROP) x.gen = 9;
        if (t == TIDAL_PEER_MSG_COPY) x.node = 1;
        if (t == TIDAL_PEER_MSG_INSTALL)
            x.total = sizeof exp, x.data = exp, x.data_len = sizeof exp;
        if (t == TIDAL_PEER_MSG_EVENT) x.data = g_event, x.data_len = (uint32_t)g_event_len;
        if (t == TIDAL_PEER_MSG_COPIED) x.flags = 1;
        if (t == TIDAL_PEER_MSG_DIGEST_Q) x.flags = 1;
        if (t == TIDAL_PEER_MSG_DIGEST) x.flags = 7, x.gen = 5, x.phase = 2, x.digest[0] = 0xAB;
        if (t == TIDAL_PEER_MSG_FOOTPRINT) x.flags = 10, x.phase = 3, x.bytes = 0;
        if (t == TIDAL_PEER_MSG_SEALED) x.gen = 9, x.digest[0] = 0xCD; /* the SEAL's index */
        put_move(&x, answer);
    }
}

int main(void) {
    static tidal__peer_req q;
    static tidal_peer_completion c;
    static uint8_t buf[1 << 16];
    uint32_t op;
    size_t n;
    for (op = TIDAL_PEER_OP_SIGNAL; op <= TIDAL_PEER_OP_USER_FORGET; op++) {
        if (op == TIDAL_PEER_OP_PROPOSE) continue; /* a PROPOSE message of its own below */
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
        /* Appended ops (issue 12): a keyed unmute, the session calls, delete and forget. */
        if (op == TIDAL_PEER_OP_NEGATIVE_REMOVE) {
            q.kind = TIDAL_MUTE, q.user = 9;
            q.idem_len = 3, q.idem_seq = 1;
            memcpy(q.idem, "unm", 3);
        }
        if (op >= TIDAL_PEER_OP_SESSION_OPEN && op <= TIDAL_PEER_OP_SESSION_END)
            q.item = 0, q.session = 77;
        if (op == TIDAL_PEER_OP_SESSION_OPEN)
            q.user = 9, q.time_ns = INT64_C(1790000000000000000), q.seq = 60000000000u;
        if (op == TIDAL_PEER_OP_SESSION_NOTE) q.seq = 3, strcpy(q.text, "a note");
        if (op == TIDAL_PEER_OP_USER_FORGET) q.item = 0, q.user = 9;
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
    put_moves();
    printf("gen_peer_corpus: wrote fuzz/corpus/peer\n");
    return 0;
}
