/* fuzz_event.c - libFuzzer target for the event encoding a host forwards: what the event
   hook (tidal_db_set_event_hook) hands out and tidal_event_import decodes, for backfills and
   a host's own transport.

   Per input two ephemeral databases, A and its twin B (fuzz_common.h's schema, region 0,
   the same random stream, so the same ids), get the same fixed state (fe_fill: signals with
   cohort tags, an idempotent signal, attributes, a hide with its tag, a session with a
   note). Then the input's records are imported into A one by one; every event A's hook
   reports is imported into B.

   Input: records, at most FV_RECORDS: a u16 LE length, then that many bytes (fewer if the
   input ends first). A length of 0 is an empty import (TIDAL_ERR_INVALID, no change). The
   seed corpus (gen_event_corpus.c) holds the events a database's hook reported for every
   kind of write, alone, in sequences that depend on each other and with damage.

   Properties (a violation prints the law and aborts, which libFuzzer reports as a crash):
     1. no crash, no sanitizer report, no leak;
     2. the result is TIDAL_OK, TIDAL_ERR_CORRUPT, or TIDAL_ERR_INVALID for an empty record;
     3. a refused import changes nothing: the digest of every tenant, events_applied and
        the hook (not called); its message (tidal_errmsg) says what is wrong and where:
        "event import: byte N of LEN (kind K): why" with N <= LEN and LEN the record's
        length;
     4. an accepted import's receipt carries the id written in the bytes (offset 5, two u64
        LE); a new event is reported by the hook exactly once and counted once in
        events_applied; a duplicate is neither and changes nothing;
     5. importing the same bytes again is a duplicate with the same id that changes nothing;
     6. what the hook forwarded is the event: imported into the twin B it is new there,
        under the same id, and afterwards A and B have the same digest. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "fuzz_common.h"

#include <stdio.h>

#define FV_RECORDS 8

typedef struct fv_hook {
    uint32_t calls;
    uint8_t *last;
    size_t last_len, cap;
} fv_hook;

static void fv_hook_fn(void *ctx, const void *ev, size_t len) {
    fv_hook *h = (fv_hook *)ctx;
    h->calls++;
    if (len > h->cap) {
        h->cap = len;
        h->last = (uint8_t *)realloc(h->last, len);
        fz_require(h->last != NULL, "out of memory in the harness");
    }
    memcpy(h->last, ev, len);
    h->last_len = len;
}

static uint64_t fv_applied(const tidal_db *db) {
    tidal_db_stats st;
    tidal_db_stats_get(db, &st);
    return st.events_applied;
}

/* The fixed state both twins start from. */
static void fv_fill(tidal_db *db) {
    static const tidal_tag en[1] = {{"locale", "en"}};
    static const tidal_tag two[2] = {{"tier", "gold"}, {"locale", "fr"}};
    tidal_signal s;
    tidal_id sid = 0;
    uint32_t i;
    for (i = 0; i < 6; i++) {
        memset(&s, 0, sizeof s);
        s.tenant = i % 2 ? 7 : 0;
        s.item = 1 + i % 3;
        s.type = i % 3;
        s.weight = 1.0 + i;
        s.time_ns = FZ_NOW - (int64_t)i * 3600 * TIDAL_NS_PER_S;
        s.user = i % 2 ? 100 : 0;
        s.cohort = i % 3 == 1 ? en : i % 3 == 2 ? two : NULL;
        s.cohort_count = i % 3 == 1 ? 1 : i % 3 == 2 ? 2 : 0;
        if (i == 4) {
            s.idem.key = "fill";
            s.idem.key_len = 4;
            s.idem.seq = 1;
        }
        fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "fill: signal");
    }
    fz_require(tidal_attr_set(db, 0, 2, "creator", "201", NULL) == TIDAL_OK, "fill: attr");
    fz_require(tidal_attr_set(db, 0, 100, "locale", "en", NULL) == TIDAL_OK, "fill: attr");
    fz_require(tidal_negative_add(db, 0, 100, TIDAL_HIDE, 3, NULL) == TIDAL_OK, "fill: hide");
    fz_require(tidal_session_start(db, 0, 101, 0, &sid) == TIDAL_OK, "fill: session");
    fz_require(tidal_session_note(db, 0, sid, 0, "fill", NULL) == TIDAL_OK, "fill: note");
}

static void fv_open(fz_env *e, tidal_db **db, fv_hook *h) {
    *db = fz_open_at(e, 0);
    fv_fill(*db);
    memset(h, 0, sizeof *h);
    tidal_db_set_event_hook(*db, fv_hook_fn, h);
}

/* Property 3's message: "event import: byte N of LEN (kind K): why". */
static void fv_check_msg(const char *m, size_t len) {
    unsigned long long at = 0, of = 0;
    unsigned kind = 0;
    int used = 0;
    if (sscanf(m, "event import: byte %llu of %llu (kind %u): %n", &at, &of, &kind, &used) != 3 ||
        !used || !m[used] || of != len || at > of) {
        fprintf(stderr, "message: \"%s\" (record of %zu bytes)\n", m, len);
        fz_require(0, "a refused import says what is wrong and at which byte");
    }
}

/* Imports one record into a, whose digest is dig (and is again on return); the twin b
   receives what a's hook reports. */
static void fv_import(tidal_db *a, fv_hook *ha, tidal_db *b, fv_hook *hb, const uint8_t *p,
                      size_t len, uint8_t dig[32]) {
    uint8_t d0[32], d1[32], d2[32];
    char msg[512];
    uint64_t n0 = fv_applied(a);
    uint32_t calls = ha->calls;
    tidal_receipt rc, rc2;
    tidal_result r;
    uint8_t *copy = (uint8_t *)malloc(len ? len : 1); /* exact size: ASan sees overreads */
    fz_require(copy != NULL, "out of memory in the harness");
    if (len) memcpy(copy, p, len);
    memcpy(d0, dig, 32);
    memset(&rc, 0, sizeof rc);
    r = tidal_event_import(a, len ? copy : NULL, len, &rc);
    snprintf(msg, sizeof msg, "%s", tidal_errmsg(a)); /* a digest clears it */
    fz_digest(a, d1);
    if (r != TIDAL_OK) {
        fz_require(r == TIDAL_ERR_CORRUPT || (r == TIDAL_ERR_INVALID && !len),
                   "a refused import is TIDAL_ERR_CORRUPT (TIDAL_ERR_INVALID when empty)");
        fz_require(!memcmp(d0, d1, 32), "a refused import changes no digest");
        fz_require(fv_applied(a) == n0, "a refused import applies no event");
        fz_require(ha->calls == calls, "a refused import is not reported by the hook");
        fz_require(msg[0] != 0, "a refused import has a message");
        if (r == TIDAL_ERR_CORRUPT) fv_check_msg(msg, len);
        memcpy(dig, d1, 32);
        free(copy);
        return;
    }
    fz_require(len >= 21 && rc.id.hi == tidal__rd_le_at(copy + 5) &&
                   rc.id.lo == tidal__rd_le_at(copy + 13),
               "an accepted import's receipt carries the id in the bytes");
    if (rc.duplicate) {
        fz_require(ha->calls == calls && fv_applied(a) == n0 && !memcmp(d0, d1, 32),
                   "a duplicate import is not reported, counted or applied");
    } else {
        fz_require(ha->calls == calls + 1, "a new imported event is reported by the hook once");
        fz_require(fv_applied(a) == n0 + 1, "a new imported event counts once");
    }
    /* Again: a duplicate, same id, no change. */
    memset(&rc2, 0, sizeof rc2);
    fz_require(tidal_event_import(a, copy, len, &rc2) == TIDAL_OK && rc2.duplicate &&
                   rc2.id.hi == rc.id.hi && rc2.id.lo == rc.id.lo,
               "the same bytes imported again are a duplicate of the same id");
    fz_digest(a, d2);
    fz_require(!memcmp(d1, d2, 32) && ha->calls == calls + !rc.duplicate,
               "importing the same bytes again changes nothing");
    if (!rc.duplicate) { /* what the hook forwarded reproduces the event in the twin */
        uint32_t bcalls = hb->calls;
        memset(&rc2, 0, sizeof rc2);
        r = tidal_event_import(b, ha->last, ha->last_len, &rc2);
        if (r != TIDAL_OK) fprintf(stderr, "twin: %s: %s\n", tidal_strerror(r), tidal_errmsg(b));
        fz_require(r == TIDAL_OK && !rc2.duplicate && rc2.id.hi == rc.id.hi &&
                       rc2.id.lo == rc.id.lo && hb->calls == bcalls + 1,
                   "the event the hook reported imports into the twin as new, same id");
        fz_digest(b, d0);
        fz_require(!memcmp(d0, d2, 32), "the hook's bytes give the twin the same digest");
    }
    memcpy(dig, d2, 32);
    free(copy);
}

/* The digest of the state fv_fill gives (the same on every input: fixed ids and clock). */
static uint8_t fv_start[32];
static int fv_start_known;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_env ea, eb;
    tidal_db *a, *b;
    fv_hook ha, hb;
    uint8_t da[32], db[32];
    size_t pos = 0;
    uint32_t k;
    fv_open(&ea, &a, &ha);
    fv_open(&eb, &b, &hb);
    if (!fv_start_known) { /* the fill is deterministic: its digest is taken once */
        fz_digest(a, fv_start);
        fz_digest(b, db);
        fz_require(!memcmp(fv_start, db, 32), "the twins start alike");
        fv_start_known = 1;
    }
    memcpy(da, fv_start, 32); /* a differing fill fails a refused import's check */
    for (k = 0; k < FV_RECORDS && size - pos >= 2; k++) {
        size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (len > size - pos) len = size - pos;
        fv_import(a, &ha, b, &hb, data + pos, len, da);
        pos += len;
    }
    tidal_db_close(a);
    tidal_db_close(b);
    free(ha.last);
    free(hb.last);
    return 0;
}
