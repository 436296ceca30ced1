/* fuzz_peer.c - libFuzzer target for the peer messages of tidal.h >>node:
   tidal_peer_message_decode and tidal_peer_receive on a live peer.

   Per input a fresh peer is opened on an in-memory simulated disk with no network (what it
   sends is dropped): node (0, 0) of a 1-region x 2-shard cluster, one replica group (id 0)
   of which it is the only member (so it leads every shard it holds), and the only voter of
   the control plane. It elects itself, commits TOPOLOGY, PLACEMENT (tenant 1 -> group 0)
   and TENANT (tenant 1, ACTIVE), then gets one or two messages built from the input.

   Input layout: byte 0 is the mode, the rest the body.
     bit 0  build: the body becomes the payload of a message with a valid envelope and
            checksum: type 80 + (mode >> 4) % 3, from (0, 1) or (0, 0) (bit 2), to (0, 0),
            origin = from, hops (mode >> 6) % 3, ticket 1 + body[0]; so the payload's field
            checks are reached (FORWARD: every op, issue 12's fan-out, session, delete and
            forget ops included; the corpus seeds one of each). With bits 4-5 both set, a message of >>node_gather instead:
            type 96 + (mode >> 6) % 3 (HEARTBEAT, GATHER_Q, GATHER_A), hops 0. Without
            bit 0 the body is delivered raw.
     bit 1  two messages: the body is split at its middle.
     bit 3  tick between the messages (time moves 300 ms: waits time out).

   Properties (a violation aborts):
     1. no crash, no sanitizer report, no leak;
     2. the body as a message: a refusal says why and where ("at byte"); an accepted
        FORWARD, REPLY or GATHER_A payload encodes back to exactly the same bytes;
     3. receive returns TIDAL_OK or TIDAL_ERR_CORRUPT; a refusal changes nothing but the
        corrupt counter: the state digest, the calls in flight and the counters of
        executed and forwarded calls are as before; no message ever yields a completion
        (the peer has no call of its own in flight);
     4. the peer's routing table is what the fixed start committed, unless a PROPOSE that
        decodes was delivered (a member may propose: it then commits at once). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "fuzz_alloc.h" /* large blocks kept warm across inputs; ASan's 32 MB quarantine */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_T0 INT64_C(1790000000000000000)
#define FZ_MS INT64_C(1000000)

static void fz_fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_peer: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* Property 2. */
static void fz_decode(const uint8_t *p, size_t n) {
    static tidal__peer_req q;
    static tidal_peer_completion c;
    static uint8_t again[TIDAL__PEER_REQ_BYTES_MAX + 4096];
    tidal_control_record rec;
    tidal_peer_message m;
    char why[256];
    size_t at = 0, len;
    why[0] = 0;
    if (tidal_peer_message_decode(p, n, &m, why, sizeof why) != TIDAL_OK) {
        if (!why[0] || !strstr(why, "at byte")) fz_fail("a refused message says nothing", why);
        return;
    }
    if (tidal__peer_decode(p, n, &m, &q, &c, &rec, &at) != NULL) fz_fail("decoders disagree", NULL);
    if (m.type == TIDAL_PEER_MSG_FORWARD) len = tidal__peer_req_put(&q, again);
    else if (m.type == TIDAL_PEER_MSG_REPLY) len = tidal__peer_reply_put(&c, again);
    else if (m.type == TIDAL_PEER_MSG_GATHER_A) {
        static struct tidal__gx_msg g;
        tidal_peer_message mm = m;
        tidal__rd r;
        tidal__rd_init(&r, p + TIDAL__MSG_HDR, m.payload_len);
        if (tidal__gx_payload(&r, &mm, &g) != NULL) fz_fail("gather decoders disagree", NULL);
        len = tidal__gx_a_put(&g.a, again);
    } else return;
    if (len != m.payload_len || memcmp(again, p + TIDAL__MSG_HDR, len) != 0)
        fz_fail("a payload does not round-trip", NULL);
}

typedef struct fz_look {
    tidal_peer_status st;
    uint8_t digest[32];
} fz_look;

static void fz_see(tidal_peer *p, fz_look *v) {
    memset(v, 0, sizeof *v);
    if (tidal_peer_status_get(p, &v->st) != TIDAL_OK) fz_fail("status_get", NULL);
    if (tidal_db_digest(tidal_peer_member(p, 0), TIDAL_ALL_TENANTS, v->digest) != TIDAL_OK)
        fz_fail("digest", NULL);
}

/* Property 3. Returns 1 when b is a PROPOSE that decodes. */
static int fz_deliver(tidal_peer *p, tidal_node_ref from, const uint8_t *b, size_t n) {
    fz_look before, after;
    tidal_peer_message m;
    tidal_peer_completion c;
    tidal_result r;
    fz_see(p, &before);
    r = tidal_peer_receive(p, from, b, n);
    if (r != TIDAL_OK && r != TIDAL_ERR_CORRUPT) fz_fail("receive", tidal_peer_errmsg(p));
    /* No call of this peer is in flight: nothing the network says completes one. */
    if (tidal_peer_poll(p, &c) == TIDAL_OK) fz_fail("a message completed a call never made", NULL);
    if (r != TIDAL_ERR_CORRUPT)
        return tidal_peer_message_decode(b, n, &m, NULL, 0) == TIDAL_OK &&
               m.type == TIDAL_PEER_MSG_PROPOSE;
    fz_see(p, &after);
    if (after.st.msgs_corrupt != before.st.msgs_corrupt + 1) fz_fail("a refusal not counted", NULL);
    if (memcmp(before.digest, after.digest, 32) || after.st.executed != before.st.executed ||
        after.st.forwarded != before.st.forwarded ||
        after.st.calls_pending != before.st.calls_pending)
        fz_fail("a refused message changed something", tidal_peer_errmsg(p));
    return 0;
}

static uint8_t *fz_build(uint32_t mode, const uint8_t *body, size_t n, tidal_node_ref from,
                         size_t *len) {
    uint8_t *b = (uint8_t *)malloc(TIDAL__MSG_HDR + n), *w = b, sum[32];
    tidal_node_ref to;
    if (!b) fz_fail("malloc", NULL);
    to.region = 0, to.shard = 0;
    memset(b, 0, TIDAL__MSG_HDR);
    w = tidal__wr_le(w, TIDAL__MSG_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL_WIRE_FORMAT_VERSION, 2);
    w = tidal__wr_le(w, TIDAL__MSG_HDR, 2);
    w = tidal__wr_le(w, (mode >> 4 & 3u) == 3u ? TIDAL_PEER_MSG_HEARTBEAT + (mode >> 6) % 3
                                              : 80 + (mode >> 4) % 3, 2);
    w = tidal__wr_le(w, TIDAL_PEER_GROUP, 2);
    w = tidal__wr_le(w, tidal__node_word(from), 4);
    w = tidal__wr_le(w, tidal__node_word(to), 4);
    w = tidal__wr_le(w, tidal__node_word(from), 4);
    w = tidal__wr_le(w, (mode >> 4 & 3u) == 3u ? 0 : (mode >> 6) % 3, 4);
    w = tidal__wr_le(w, 1 + (n ? body[0] : 0), 8);
    w = tidal__wr_le(w, n, 4);
    if (n) memcpy(b + TIDAL__MSG_HDR, body, n);
    (void)tidal__msg_sum(b, b + TIDAL__MSG_HDR, n, sum);
    memcpy(b + TIDAL__MSG_SUM_AT, sum, 32);
    *len = TIDAL__MSG_HDR + n;
    return b;
}

static tidal_peer *fz_open(tidal_sim_env *e, tidal_signal_def *sig, tidal_peer_group *g) {
    tidal_peer_config cfg;
    tidal_peer *p = NULL;
    tidal_control_record rec[3];
    tidal_peer_completion c;
    char msg[256];
    uint64_t t;
    int k, done = 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &e->env;
    cfg.allocator = &fz_allocator;
    cfg.path = "n";
    cfg.regions = 1;
    cfg.shards = 2;
    cfg.groups = g;
    cfg.group_count = 1;
    cfg.member.schema.signals = sig;
    cfg.member.schema.signal_count = 1;
    cfg.member.group_bootstrap = 1;
    cfg.forward_timeout_ns = 200 * FZ_MS;
    if (tidal_peer_open(&cfg, &p, msg, sizeof msg) != TIDAL_OK) fz_fail("open", msg);
    for (k = 0; k < 3; k++) { /* the control plane's one voter elects itself */
        tidal_sim_env_advance(e, 400 * FZ_MS);
        (void)tidal_peer_tick(p);
    }
    memset(rec, 0, sizeof rec);
    rec[0].kind = TIDAL_CONTROL_TOPOLOGY, rec[0].regions = 1, rec[0].shards = 2;
    rec[1].kind = TIDAL_CONTROL_PLACEMENT, rec[1].tenant = 1;
    rec[2].kind = TIDAL_CONTROL_TENANT, rec[2].tenant = 1;
    for (k = 0; k < 3; k++)
        if (tidal_peer_propose(p, &rec[k], &t) != TIDAL_OK) fz_fail("propose", tidal_peer_errmsg(p));
    (void)tidal_peer_tick(p);
    while (tidal_peer_poll(p, &c) == TIDAL_OK) done += c.outcome == TIDAL_PEER_DONE_OK;
    if (done != 3) fz_fail("the fixed start did not commit", NULL);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tidal_sim_disk *disk;
    tidal_sim_env e;
    tidal_signal_def sig;
    tidal_peer_group g;
    tidal_peer *p;
    tidal_peer_tenant t;
    tidal_node_ref from;
    const uint8_t *body = data + 1;
    size_t n = size ? size - 1 : 0, half = n / 2, parts[2][2];
    uint32_t mode = size ? data[0] : 0;
    int k, count = (mode & 2) ? 2 : 1, proposed = 0;
    if (size > (1u << 16)) return 0;
    fz_decode(body, n);
    memset(&sig, 0, sizeof sig);
    sig.name = "view";
    sig.half_life_s = 3600;
    g.id = 0, g.placement = 0;
    disk = tidal_sim_disk_new(7);
    tidal_sim_env_init(&e, disk, FZ_T0, 11);
    p = fz_open(&e, &sig, &g);
    from.region = 0, from.shard = (mode & 4) ? 0 : 1;
    parts[0][0] = 0, parts[0][1] = count == 2 ? half : n;
    parts[1][0] = half, parts[1][1] = n - half;
    for (k = 0; k < count; k++) {
        const uint8_t *b = body + parts[k][0];
        size_t len = parts[k][1];
        if (mode & 1) {
            uint8_t *m = fz_build(mode, b, len, from, &len);
            fz_decode(m, len);
            proposed |= fz_deliver(p, from, m, len);
            free(m);
        } else {
            proposed |= fz_deliver(p, from, b, len);
        }
        if (mode & 8) {
            tidal_sim_env_advance(&e, 300 * FZ_MS);
            (void)tidal_peer_tick(p);
        }
    }
    /* Property 4. */
    if (!proposed && (tidal_peer_tenant_get(p, 1, &t) != TIDAL_OK || !t.has_placement ||
                      t.group != 0 || !t.has_config || t.state != TIDAL_TENANT_ACTIVE))
        fz_fail("the routing table changed", NULL);
    tidal_peer_close(p);
    tidal_sim_disk_free(disk);
    return 0;
}
