/* fuzz_message.c - libFuzzer target for the replication receive path: tidal_node_receive
   on a follower. Per input a fresh replica-group member (region 1 shard 0, in a group of
   (0,0), (1,0), (2,0) whose first member leads epoch 1) is opened on an in-memory simulated
   disk with no network attached (what it sends fails with TIDAL_ERR_UNAVAILABLE, which the
   library ignores), and fed one or two messages.

   Input layout: byte 0 is the mode, then optional fields, then the message bytes.
     bit 0  repair the envelope: magic, version, header size, to (this node), from (replica
            byte 14 % 3, i.e. the region byte of the from field), payload length and the
            BLAKE3 sum are fixed; type, incarnation, epoch, a and b stay fuzzed. A message
            shorter than the header is zero-padded to it.
     bit 1  (with bit 0) also repair every WAL batch inside the payload: magic, version,
            schema fingerprint (the one a schema event's batch teaches, from it on), payload
            length (clamped to what is left), a usable event count, consecutive lsns,
            checksum; and a = the lsn before the first batch. The
            events themselves stay fuzzed, so inputs reach the event decoders.
     bit 2  two messages: bytes 1-2 (u16 LE) are where the rest is split.
     bit 3  tick before each message: the next byte x advances both clocks by x * 50 ms and
            tidal_db_tick runs (a silent leader: election timeouts, session expiry).
     bit 4  (with bit 1) the second message's batches restart at lsn 1 (overlap, replays)
            instead of continuing after the first message's.
   Without bit 0 the bytes are fed raw, from the sender the from field names.

   Properties (a violation aborts, which libFuzzer reports as a crash):
     1. no crash, no sanitizer report, no leak (everything is freed per input);
     2. the result is one of TIDAL_OK, _CORRUPT, _FENCED, _INVALID, _READ_ONLY, _NOMEM,
        _SCHEMA (the current code returns OK, CORRUPT, FENCED, INVALID and NOMEM; FATAL,
        LIMIT and IO_* come only from a failed epoch save or log commit, which cannot
        happen on a fault-free simulated disk);
     3. a result other than TIDAL_OK leaves the state digest (tidal_db_digest over all
        tenants) unchanged: tidal.h documents that a dropped or fenced message changes no
        state;
     4. delivering the same bytes again after TIDAL_OK returns TIDAL_OK (or TIDAL_ERR_FENCED
        when the first delivery moved the node to a newer epoch) and never changes the
        digest (idempotent delivery);
     5. everything a follower accepted is in its own log: closing and reopening it on the
        same disk gives the same digest.
   To keep fuzzing past a known violation: -DFZ_MSG_NO_ATOMIC / -DFZ_MSG_NO_REOPEN turn off
   property 3 / 5; -DFZ_MSG_SKIP_ID_LO0 skips inputs carrying a checksum-valid event whose
   origin id has sequence 0 (fuzz/corpus/message/crash-event-id-lo-zero: tidal__event_mark
   asserts id.lo > o->hwm). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "fuzz_alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FM_NOW (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define FM_NODES 3
#define FM_SELF 1 /* this node's index in the group: a follower of index 0 */

/* Aborts with a message: a broken property is a crash for libFuzzer. */
static void fm_require(int ok, const char *what) {
    if (ok) return;
    fprintf(stderr, "fuzz property failed: %s\n", what);
    abort();
}

static const tidal_node_ref fm_refs[FM_NODES] = {{0, 0}, {1, 0}, {2, 0}};

/* The replica group's config for member self, with fuzz_common.h's schema (view; like with
   24h and 30d windows; permanent buy; cohort keys locale and tier). Shared with
   gen_message_corpus.c, whose cluster must write the same schema fingerprint. */
static void fm_config(tidal_config *cfg, tidal_sim_env *env, uint32_t self) {
    static tidal_signal_def sigs[3];
    static const char *cohorts[2] = {"locale", "tier"};
    memset(sigs, 0, sizeof sigs);
    sigs[0].name = "view";
    sigs[0].half_life_s = 3600;
    sigs[1].name = "like";
    sigs[1].half_life_s = 86400;
    sigs[1].windows = TIDAL_WINDOW_24H | TIDAL_WINDOW_30D;
    sigs[2].name = "buy";
    sigs[2].permanent = 1;
    memset(cfg, 0, sizeof *cfg);
    cfg->env = &env->env;
    cfg->allocator = &fz_allocator; /* keeps the 800 KB directory-listing arrays warm */
    cfg->path = "db";
    cfg->node = fm_refs[self];
    cfg->replicas = fm_refs;
    cfg->replica_count = FM_NODES;
    cfg->schema.signals = sigs;
    cfg->schema.signal_count = 3;
    cfg->schema.cohort_keys = cohorts;
    cfg->schema.cohort_key_count = 2;
    cfg->segment_bytes_max = 64 * 1024;
    cfg->group_bootstrap = 1; /* a fresh group: the receiver follows (0, 0) in epoch 1 */
}

/* What the last input did, for gen_message_corpus's self-check. */
typedef struct fm_trace {
    int n;                 /* messages delivered */
    tidal_result r[2], again[2];
    int changed[2];        /* the first delivery changed the digest */
    char why[2][512];      /* tidal_errmsg after a rejection (as long as it may be) */
    tidal_node_status st;  /* after the last message */
} fm_trace;
static fm_trace fm_last;

/* Repairs every WAL batch in p[0, n): lsns run on from *lsn. Returns the first lsn used,
   or 0 when no whole batch header fits. The schema fingerprint is the member's, or, from a
   valid schema event's batch on, the one that event teaches (as its sender stamps it). */
static uint64_t fm_repair_batches(const tidal_db *db, uint8_t *p, size_t n, uint64_t *lsn) {
    size_t off = 0;
    uint64_t first = 0, fp = db->schema.schema_fp;
    while (n - off >= TIDAL__WAL_HDR) {
        tidal__batch_hdr h;
        size_t room = n - off - TIDAL__WAL_HDR;
        uint64_t taught;
        tidal__batch_hdr_get(p + off, &h);
        h.magic = TIDAL__WAL_MAGIC;
        h.version = TIDAL_WAL_FORMAT_VERSION;
        if (h.payload_len > room) h.payload_len = (uint32_t)room;
        if (h.count == 0) h.count = 1;
        if (h.count > 4096) h.count = 1 + h.count % 64; /* keeps real counts */
        taught = tidal__schema_batch_fp(db, p + off + TIDAL__WAL_HDR, h.count, h.payload_len);
        if (taught) fp = taught;
        h.schema_fp = fp;
        h.first_lsn = *lsn;
        h.last_lsn = *lsn + h.count - 1;
        if (!first) first = *lsn;
        tidal__batch_hdr_put(p + off, &h);
        tidal__batch_sum(p + off, p + off + TIDAL__WAL_HDR, h.payload_len, h.sum);
        memcpy(p + off + 80, h.sum, 32);
        *lsn = h.last_lsn + 1;
        off += TIDAL__WAL_HDR + h.payload_len;
    }
    return first;
}

/* Repairs the envelope of m (len >= TIDAL__MSG_HDR) as the sender would have written it;
   *from receives the chosen sender. */
static void fm_repair(const tidal_db *db, uint8_t *m, size_t len, int batches, uint64_t *lsn,
                      tidal_node_ref *from) {
    tidal__msg_hdr h;
    tidal__rd r;
    uint64_t first = 0;
    r.p = m;
    r.n = len;
    r.pos = 0;
    r.bad = 0;
    memset(&h, 0, sizeof h);
    (void)tidal__rd_le(&r, 4);                      /* magic */
    (void)tidal__rd_le(&r, 2);                      /* version */
    (void)tidal__rd_le(&r, 2);                      /* header bytes */
    h.type = (uint32_t)tidal__rd_le(&r, 2);
    (void)tidal__rd_le(&r, 2);
    (void)tidal__rd_le(&r, 4);                      /* from: byte 14 picks it below */
    (void)tidal__rd_le(&r, 4);                      /* to */
    h.incarnation = (uint32_t)tidal__rd_le(&r, 4);
    h.epoch = tidal__rd_le(&r, 8);
    h.a = tidal__rd_le(&r, 8);
    h.b = tidal__rd_le(&r, 8);
    h.c = tidal__rd_le(&r, 8);
    h.d = tidal__rd_le(&r, 8);
    h.hlc.wall_ns = (int64_t)tidal__rd_le(&r, 8);
    h.hlc.logical = (uint32_t)tidal__rd_le(&r, 4);
    (void)tidal__rd_le(&r, 4);                      /* payload bytes: set below */
    (void)tidal__rd_le(&r, 4);                      /* receiver incarnation: any (0) */
    fm_require(!r.bad, "repair reads the header");
    *from = fm_refs[m[14] % FM_NODES];
    if (batches) first = fm_repair_batches(db, m + TIDAL__MSG_HDR, len - TIDAL__MSG_HDR, lsn);
    if (first) h.a = first - 1;
    h.magic = TIDAL__MSG_MAGIC;
    h.version = TIDAL_WIRE_FORMAT_VERSION;
    h.from = tidal__node_word(*from);
    h.to = tidal__node_word(db->node);
    h.payload_len = (uint32_t)(len - TIDAL__MSG_HDR);
    tidal__msg_hdr_put(m, &h);
    tidal__msg_sum(m, m + TIDAL__MSG_HDR, len - TIDAL__MSG_HDR, h.sum);
    memcpy(m + TIDAL__MSG_SUM_AT, h.sum, 32);
}

#ifdef FZ_MSG_SKIP_ID_LO0
/* 1 if a checksum-valid batch in the message's payload holds an event with an origin id
   (not key-derived) whose sequence is 0. */
static int fm_has_id_lo0(tidal_db *db, const uint8_t *m, size_t len) {
    size_t off = 0, plen = len >= TIDAL__MSG_HDR ? len - TIDAL__MSG_HDR : 0;
    const uint8_t *p = m + TIDAL__MSG_HDR;
    int found = 0;
    while (!found && plen - off >= TIDAL__WAL_HDR) {
        tidal__batch_hdr h;
        tidal__rd r;
        tidal_event_id *tags;
        uint32_t i, cap;
        if (tidal__batch_check(db, p + off, plen - off, &h)) break;
        cap = h.payload_len / 16 + 1;
        tags = (tidal_event_id *)malloc(sizeof *tags * cap);
        fm_require(tags != NULL, "malloc");
        r.p = p + off + TIDAL__WAL_HDR;
        r.n = h.payload_len;
        r.pos = 0;
        r.bad = 0;
        for (i = 0; i < h.count && !found; i++) {
            tidal__event ev;
            if (tidal__event_get(db, &r, &ev, tags, cap)) break;
            found = !(ev.id.hi & TIDAL__IDEM_BIT) && ev.id.lo == 0;
        }
        free(tags);
        off += TIDAL__WAL_HDR + h.payload_len;
    }
    return found;
}
#endif

static int fm_result_ok(tidal_result r) {
    return r == TIDAL_OK || r == TIDAL_ERR_CORRUPT || r == TIDAL_ERR_FENCED || r == TIDAL_ERR_INVALID ||
           r == TIDAL_ERR_READ_ONLY || r == TIDAL_ERR_NOMEM || r == TIDAL_ERR_SCHEMA;
}

static void fm_digest(tidal_db *db, uint8_t out[32]) {
    fm_require(tidal_db_digest(db, TIDAL_ALL_TENANTS, out) == TIDAL_OK, "digest");
}

static void fm_report(tidal_db *db, tidal_result r, const char *what) {
    fprintf(stderr, "tidal_node_receive: %s: %s\n", tidal_strerror(r), tidal_errmsg(db));
    fm_require(0, what);
}

/* Delivers one message (and, after TIDAL_OK, the same bytes again); checks 2-4. */
static void fm_deliver(tidal_db *db, tidal_node_ref from, const uint8_t *m, size_t len, int k) {
    uint8_t before[32], after[32], again[32];
    tidal_node_status s0, s1;
    tidal_result r, r2;
    fm_digest(db, before);
    fm_require(tidal_node_status_get(db, &s0) == TIDAL_OK, "status");
    r = tidal_node_receive(db, from, m, len);
    if (!fm_result_ok(r)) fm_report(db, r, "result code");
    if (r != TIDAL_OK) snprintf(fm_last.why[k], sizeof fm_last.why[k], "%s", tidal_errmsg(db));
    fm_digest(db, after);
    fm_last.n = k + 1;
    fm_last.r[k] = r;
    fm_last.changed[k] = memcmp(before, after, 32) != 0;
    fm_last.again[k] = r;
#ifndef FZ_MSG_NO_ATOMIC
    if (r != TIDAL_OK && memcmp(before, after, 32)) fm_report(db, r, "a rejected message changed the state digest");
#endif
    if (r != TIDAL_OK) return;
    fm_require(tidal_node_status_get(db, &s1) == TIDAL_OK, "status");
    r2 = tidal_node_receive(db, from, m, len);
    fm_last.again[k] = r2;
    /* A message that moved this node to a newer epoch (a pre-vote grant that started an
       election) is from an older epoch the second time: fenced, and changing nothing. */
    if (r2 == TIDAL_ERR_FENCED && s1.epoch > s0.epoch) r2 = TIDAL_OK;
    if (r2 != TIDAL_OK) fm_report(db, r2, "the same accepted message delivered again is not accepted");
    fm_digest(db, again);
    fm_require(!memcmp(after, again, 32), "delivering an accepted message again changed the state digest");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db = NULL;
    char msg[256];
    size_t pos = 1, body_len, split, cut[3];
    const uint8_t *body;
    uint8_t mode, tick = 0;
    uint64_t lsn = 1;
    tidal_result r;
    int k, n_msgs;
    memset(&fm_last, 0, sizeof fm_last);
    if (size < 1) return 0;
    mode = data[0];
    if (mode & 4) {
        if (size < pos + 2) return 0;
        split = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
    } else {
        split = SIZE_MAX;
    }
    if (mode & 8) {
        if (size < pos + 1) return 0;
        tick = data[pos++];
    }
    body = data + pos;
    body_len = size - pos;
    if (split > body_len) split = body_len;
    cut[0] = 0;
    cut[1] = split;
    cut[2] = body_len;
    n_msgs = mode & 4 ? 2 : 1;
    if (n_msgs == 1) cut[1] = body_len;

    disk = tidal_sim_disk_new(7);
    tidal_sim_env_init(&env, disk, FM_NOW, 11); /* no net: sends return TIDAL_ERR_UNAVAILABLE */
    fm_config(&cfg, &env, FM_SELF);
    r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
    if (r != TIDAL_OK) fprintf(stderr, "open: %s: %s\n", tidal_strerror(r), msg);
    fm_require(r == TIDAL_OK, "open the follower");

    for (k = 0; k < n_msgs; k++) {
        size_t len = cut[k + 1] - cut[k];
        size_t cap = len < TIDAL__MSG_HDR ? TIDAL__MSG_HDR : len;
        uint8_t *m = (uint8_t *)malloc(cap);
        tidal_node_ref from = fm_refs[0];
        fm_require(m != NULL, "malloc");
        memset(m, 0, cap);
        if (len) memcpy(m, body + cut[k], len); /* own copy: ASan sees reads past len */
        if (mode & 8) {
            tidal_sim_env_advance(&env, (int64_t)tick * 50 * INT64_C(1000000));
            r = tidal_db_tick(db, 0);
            if (r != TIDAL_OK) fm_report(db, r, "tick");
        }
        if (mode & 1) {
            if (k == 1 && (mode & 16)) lsn = 1;
            fm_repair(db, m, cap, (mode & 2) != 0, &lsn, &from);
            len = cap;
        } else if (len >= 16) {
            uint32_t w = (uint32_t)m[12] | (uint32_t)m[13] << 8 | (uint32_t)m[14] << 16 | (uint32_t)m[15] << 24;
            from.region = (uint16_t)(w >> 16);
            from.shard = (uint16_t)w;
        }
#ifdef FZ_MSG_SKIP_ID_LO0
        if (fm_has_id_lo0(db, m, len)) {
            free(m);
            break;
        }
#endif
        fm_deliver(db, from, m, len, k);
        free(m);
    }

    fm_require(tidal_node_status_get(db, &fm_last.st) == TIDAL_OK, "status");
#ifndef FZ_MSG_NO_REOPEN
    {
        uint8_t d1[32], d2[32];
        fm_digest(db, d1);
        tidal_db_close(db);
        db = NULL;
        r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
        if (r != TIDAL_OK) fprintf(stderr, "reopen: %s: %s\n", tidal_strerror(r), msg);
        fm_require(r == TIDAL_OK, "reopen the follower on its own log");
        fm_digest(db, d2);
        fm_require(!memcmp(d1, d2, 32), "reopened follower's digest differs (accepted state not in its log)");
    }
#endif
    tidal_db_close(db);
    tidal_sim_disk_free(disk);
    return 0;
}
