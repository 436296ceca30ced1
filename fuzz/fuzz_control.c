/* fuzz_control.c - libFuzzer target for the control plane's decoders and receive path
   (>>control): tidal_control_record_decode, tidal_control_message_decode and
   tidal_control_receive on a live member.

   Per input a fresh member (region 0 of the members (0,0), (1,0), (2,0)) is opened on an
   in-memory simulated disk with no network (what it sends is dropped), and taught a fixed
   start: member 1 leads term 2 and appends three records, the first committed. Then one or
   two messages built from the input are delivered, optionally with ticks between them.

   Input layout: byte 0 is the mode, the rest the body.
     bit 0  build: the body's first 40 bytes are header fields (type 64 + b % 7, every
            type; from region b % 4 (3 is not a member), to region b % 2, small terms and
            indexes, granted, and an entry count) and the rest entries (term byte, record kind byte, record
            field bytes) encoded through tidal_control_record_encode when they encode, raw
            otherwise; the message is then encoded by tidal_control_message_encode, so the
            checksum is right and the decoder's per-field and per-entry checks are reached.
            Without bit 0 the body is delivered raw (and must pass the checksum itself).
     bit 1  two messages: the body is split at its middle.
     bit 2  tick before each message by (mode >> 4) * 100 ms (election timeouts fire).

   Properties (a violation aborts, which libFuzzer reports as a crash):
     1. no crash, no sanitizer report, no leak (everything is freed per input);
     2. the body as a record: a refusal says why; an accepted record encodes back to exactly
        the same bytes (a record decodes to exactly what was encoded);
     3. the body as a message: a refusal says why; an accepted message encodes back to
        exactly the same bytes;
     4. receive returns TIDAL_OK or TIDAL_ERR_CORRUPT (a fault-free disk never fails); a
        refusal changes nothing but the corrupt counter: term, role, log and commit index
        are as before, and the message is counted;
     5. Raft's safety on the member: its term and commit index never go back, an entry at
        or below the commit index is never replaced, commit index <= last index;
     6. everything it acknowledged is on its disk: closing and reopening it on the same disk
        gives the same term and the same log. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_T0 INT64_C(1790000000000000000)
#define FZ_MS INT64_C(1000000)
#define FZ_LOG_MAX 64 /* entries compared; the fixed start plus what a message can add */

static void fz_fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_control: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static tidal_node_ref fz_ref(uint16_t region) {
    tidal_node_ref r;
    r.region = region;
    r.shard = 0;
    return r;
}

/* Property 2 and 3: refusals say why, acceptances round-trip byte for byte. */
static void fz_decoders(const uint8_t *p, size_t n) {
    static uint8_t again[TIDAL_MSG_BYTES_MAX];
    tidal_control_record rec;
    tidal_control_message m;
    char why[256];
    size_t len = 0;
    why[0] = 0;
    if (tidal_control_record_decode(p, n, &rec, why, sizeof why) == TIDAL_OK) {
        uint8_t b[TIDAL_CONTROL_RECORD_BYTES_MAX];
        if (tidal_control_record_encode(&rec, b, sizeof b, &len, why, sizeof why) != TIDAL_OK)
            fz_fail("a decoded record does not encode", why);
        if (len != n || memcmp(b, p, n) != 0) fz_fail("a record does not round-trip", NULL);
    } else if (!why[0]) {
        fz_fail("a refused record says nothing", NULL);
    }
    why[0] = 0;
    if (tidal_control_message_decode(p, n, &m, why, sizeof why) == TIDAL_OK) {
        if (tidal_control_message_encode(&m, again, sizeof again, &len) != TIDAL_OK)
            fz_fail("a decoded message does not encode", NULL);
        if (len != n || memcmp(again, p, n) != 0) fz_fail("a message does not round-trip", NULL);
    } else if (!why[0]) {
        fz_fail("a refused message says nothing", NULL);
    }
}

/* What the member holds: its status and its log, entry by entry. */
typedef struct fz_view {
    tidal_control_status st;
    uint64_t n;
    uint64_t term[FZ_LOG_MAX];
    tidal_control_record rec[FZ_LOG_MAX];
} fz_view;

static void fz_look(const tidal_control *c, fz_view *v) {
    uint64_t i;
    memset(v, 0, sizeof *v);
    if (tidal_control_status_get(c, &v->st) != TIDAL_OK) fz_fail("status_get", NULL);
    v->n = v->st.last_index < FZ_LOG_MAX ? v->st.last_index : FZ_LOG_MAX;
    for (i = 0; i < v->n; i++)
        if (tidal_control_entry(c, i + 1, &v->term[i], &v->rec[i]) != TIDAL_OK)
            fz_fail("an entry below last_index is missing", NULL);
}

static int fz_same_entry(const fz_view *a, const fz_view *b, uint64_t i) {
    return a->term[i] == b->term[i] && memcmp(&a->rec[i], &b->rec[i], sizeof a->rec[i]) == 0;
}

static int fz_same_log(const fz_view *a, const fz_view *b) {
    uint64_t i;
    if (a->st.last_index != b->st.last_index || a->st.last_term != b->st.last_term) return 0;
    for (i = 0; i < a->n; i++)
        if (!fz_same_entry(a, b, i)) return 0;
    return 1;
}

/* Property 5 between two looks at one member. */
static void fz_safety(const fz_view *before, const fz_view *after) {
    uint64_t i;
    if (after->st.term < before->st.term) fz_fail("the term went back", NULL);
    if (after->st.commit_index < before->st.commit_index) fz_fail("the commit index went back", NULL);
    if (after->st.commit_index > after->st.last_index) fz_fail("commit index beyond the log", NULL);
    for (i = 0; i < before->st.commit_index && i < before->n; i++)
        if (i >= after->n || !fz_same_entry(before, after, i))
            fz_fail("a committed entry was replaced", NULL);
}

static size_t fz_record(const uint8_t *b, size_t n, uint8_t *out, size_t cap) {
    tidal_control_record r;
    size_t len = 0;
    memset(&r, 0, sizeof r);
    if (n < 1) return 0;
    r.kind = b[0] % 7u;
    switch (r.kind) {
    case TIDAL_CONTROL_TOPOLOGY:
        r.regions = n > 1 ? b[1] : 0;
        r.shards = n > 2 ? b[2] : 1;
        break;
    case TIDAL_CONTROL_PLACEMENT:
        r.tenant = n > 1 ? b[1] : 0;
        r.placement = n > 2 ? b[2] : 0;
        r.group = n > 3 ? b[3] : 0;
        break;
    case TIDAL_CONTROL_TENANT:
        r.tenant = n > 1 ? b[1] : 0;
        r.placement = n > 2 ? b[2] : 0;
        r.state = n > 3 ? b[3] % 4u : 0;
        r.rate_per_s = n > 4 ? (double)b[4] * 10.0 : 0;
        r.burst = n > 5 ? (double)b[5] : 0;
        r.entity_quota = n > 6 ? b[6] : 0;
        break;
    case TIDAL_CONTROL_MIGRATION:
        r.tenant = n > 1 ? b[1] : 0;
        r.group = n > 2 ? b[2] : 0;
        r.target = n > 3 ? b[3] : 1;
        r.phase = n > 4 ? b[4] % 6u : 1;
        break;
    case TIDAL_CONTROL_MEMBERS: /* issue 13: masks may overlap or be empty (refused, raw) */
        r.group = n > 1 ? b[1] : 0;
        r.voters = n > 2 ? b[2] & 0x7Fu : 1;
        r.learners = n > 3 ? b[3] & 0x7Fu : 0;
        r.shard = n > 4 ? b[4] : 0;
        r.prev = n > 5 ? b[5] : 0;
        break;
    default:
        break;
    }
    if (tidal_control_record_encode(&r, out, cap, &len, NULL, 0) == TIDAL_OK) return len;
    len = n < 8 ? n : 8; /* does not encode: raw bytes, for the decoder to refuse */
    if (len > cap) len = cap;
    memcpy(out, b, len);
    return len;
}

static uint64_t fz_u(const uint8_t *h, size_t i, uint64_t mod) { return h[i] % mod; }

/* Builds a checksum-valid message from the body (mode bit 0). */
static size_t fz_build(const uint8_t *body, size_t n, uint8_t *out, size_t cap) {
    static uint8_t payload[TIDAL_MSG_BYTES_MAX];
    uint8_t h[40];
    tidal_control_message m;
    size_t at = 40, plen = 0, len = 0;
    uint32_t k = 0;
    memset(h, 0, sizeof h);
    memcpy(h, body, n < sizeof h ? n : sizeof h);
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_VOTE_REQ + (uint32_t)(h[0] % 7u);
    m.from = fz_ref((uint16_t)(h[1] % 4u));
    m.to = fz_ref((uint16_t)(h[2] % 2u));
    m.term = fz_u(h, 3, 8);
    m.log_index = fz_u(h, 4, 10);
    m.log_term = fz_u(h, 5, 8);
    m.commit_index = fz_u(h, 6, 12);
    m.granted = h[7] % 3u == 2 ? 0 : h[7] % 2u;
    if (h[8] & 0x80) { /* occasionally a large number somewhere */
        uint64_t big = (uint64_t)h[9] << 56 | (uint64_t)h[10] << 24 | h[11];
        if (h[8] & 1) m.term = big;
        if (h[8] & 2) m.log_index = big;
        if (h[8] & 4) m.log_term = big;
        if (h[8] & 8) m.commit_index = big;
    }
    if (m.type == TIDAL_CONTROL_MSG_APPEND) {
        uint32_t want = h[12] % 9u;
        while (k < want && at + 2 <= n && plen + 64 + 10 <= sizeof payload) {
            uint64_t t = body[at] % 8u;
            size_t rn = body[at + 1] % 8u, rl;
            at += 2;
            if (rn > n - at) rn = n - at;
            payload[plen++] = (uint8_t)t; /* term u64 LE */
            memset(payload + plen, 0, 7);
            plen += 7;
            rl = fz_record(body + at, rn, payload + plen + 2, sizeof payload - plen - 2);
            payload[plen] = (uint8_t)rl;
            payload[plen + 1] = 0;
            plen += 2 + rl;
            at += rn;
            k++;
        }
        m.entry_count = (h[13] & 0x80) ? k + (h[13] & 1u) : k; /* sometimes a wrong count */
        m.payload = payload;
        m.payload_len = plen;
    }
    if (tidal_control_message_encode(&m, out, cap, &len) != TIDAL_OK) return 0;
    return len;
}

/* The fixed start: member 1 leads term 2 and appends three records, the first committed. */
static void fz_teach(tidal_control *c) {
    static uint8_t payload[256], msg[1024];
    tidal_control_message m;
    tidal_control_record r;
    size_t plen = 0, len = 0, rl = 0;
    uint32_t i;
    for (i = 0; i < 3; i++) {
        memset(&r, 0, sizeof r);
        r.kind = TIDAL_CONTROL_TENANT;
        r.tenant = 7 + i;
        r.state = 1;
        r.rate_per_s = 100;
        r.burst = 10;
        memset(payload + plen, 0, 8);
        payload[plen] = 2;
        plen += 8;
        if (tidal_control_record_encode(&r, payload + plen + 2, 64, &rl, NULL, 0) != TIDAL_OK)
            fz_fail("teach: record encode", NULL);
        payload[plen] = (uint8_t)rl;
        payload[plen + 1] = 0;
        plen += 2 + rl;
    }
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_APPEND;
    m.from = fz_ref(1);
    m.to = fz_ref(0);
    m.term = 2;
    m.commit_index = 1;
    m.entry_count = 3;
    m.payload = payload;
    m.payload_len = plen;
    if (tidal_control_message_encode(&m, msg, sizeof msg, &len) != TIDAL_OK)
        fz_fail("teach: message encode", NULL);
    if (tidal_control_receive(c, fz_ref(1), msg, len) != TIDAL_OK)
        fz_fail("teach: receive", tidal_control_errmsg(c));
}

static tidal_control *fz_open(tidal_sim_env *env) {
    static const tidal_node_ref members[3] = {{0, 0}, {1, 0}, {2, 0}};
    tidal_control_config cfg;
    tidal_control *c = NULL;
    char why[256];
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &env->env;
    cfg.path = "ctl";
    cfg.self = members[0];
    cfg.members = members;
    cfg.member_count = 3;
    cfg.election_timeout_ns = 300 * FZ_MS;
    cfg.heartbeat_ns = 50 * FZ_MS;
    if (tidal_control_open(&cfg, &c, why, sizeof why) != TIDAL_OK) fz_fail("open", why);
    return c;
}

static void fz_deliver(tidal_control *c, tidal_sim_env *env, const uint8_t *p, size_t n,
                       int tick, int64_t step) {
    tidal_control_message m;
    tidal_node_ref from = fz_ref(1);
    fz_view before, after;
    tidal_result r;
    if (tick) {
        tidal_sim_env_advance(env, step);
        if (tidal_control_tick(c) != TIDAL_OK) fz_fail("tick", tidal_control_errmsg(c));
    }
    if (tidal_control_message_decode(p, n, &m, NULL, 0) == TIDAL_OK) from = m.from;
    fz_look(c, &before);
    r = tidal_control_receive(c, from, p, n);
    fz_look(c, &after);
    if (r != TIDAL_OK && r != TIDAL_ERR_CORRUPT) fz_fail("receive: unexpected result", tidal_strerror(r));
    if (r == TIDAL_ERR_CORRUPT) {
        if (!tidal_control_errmsg(c)[0]) fz_fail("a refused message says nothing", NULL);
        if (after.st.msgs_corrupt != before.st.msgs_corrupt + 1)
            fz_fail("a refused message is not counted", NULL);
        if (after.st.term != before.st.term || after.st.role != before.st.role ||
            after.st.candidate != before.st.candidate ||
            after.st.commit_index != before.st.commit_index || !fz_same_log(&before, &after) ||
            after.st.has_leader != before.st.has_leader)
            fz_fail("a refused message changed the member", tidal_control_errmsg(c));
    }
    fz_safety(&before, &after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t msg[2][TIDAL_MSG_BYTES_MAX];
    const uint8_t *body = data + 1;
    size_t n = size ? size - 1 : 0, len[2] = {0, 0}, parts, half, i;
    const uint8_t *part[2];
    uint8_t mode = size ? data[0] : 0;
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_control *c;
    fz_view v1, v2;
    fz_decoders(data, size);
    if (!size) return 0;
    parts = (mode & 2) ? 2 : 1;
    half = parts == 2 ? n / 2 : n;
    for (i = 0; i < parts; i++) {
        const uint8_t *b = i == 0 ? body : body + half;
        size_t bn = i == 0 ? half : n - half;
        if (mode & 1) {
            len[i] = fz_build(b, bn, msg[i], sizeof msg[i]);
            if (!len[i]) return 0;
            part[i] = msg[i];
            fz_decoders(msg[i], len[i]);
        } else {
            part[i] = b;
            len[i] = bn;
        }
    }
    disk = tidal_sim_disk_new(1);
    tidal_sim_env_init(&env, disk, FZ_T0, 2);
    c = fz_open(&env);
    fz_teach(c);
    for (i = 0; i < parts; i++)
        fz_deliver(c, &env, part[i], len[i], (mode & 4) != 0, (int64_t)(mode >> 4) * 100 * FZ_MS);
    fz_look(c, &v1);
    tidal_control_close(c);
    c = fz_open(&env); /* property 6: what it held is on its disk */
    fz_look(c, &v2);
    if (v2.st.term != v1.st.term || !fz_same_log(&v1, &v2))
        fz_fail("reopen: the term or the log differs from before the close", NULL);
    tidal_control_close(c);
    tidal_sim_disk_free(disk);
    return 0;
}
