/* fuzz_wal.c - libFuzzer target for the WAL segment scanner and batch/event decoders.
   Byte 0 picks the mode: bit 0 repairs each batch's header (magic, version, schema (the
   one a schema event's batch teaches, from it on), lengths, lsn, checksum) so inputs
   reach the event decoder; bit 1 scans as the newest segment (torn tails allowed).
   Properties: no crash; a failure is TIDAL_ERR_CORRUPT with a message naming the offset;
   a batch is applied whole or not at all (the digest after a scan equals replaying only
   the accepted prefix); replaying the same bytes twice changes nothing. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "fuzz_common.h"

static void fz_repair(tidal_db *db, uint8_t *p, size_t n) {
    size_t off = 0;
    uint64_t lsn = 1, fp = db->schema.schema_fp, taught;
    while (n - off >= TIDAL__WAL_HDR) {
        tidal__batch_hdr h;
        size_t room = n - off - TIDAL__WAL_HDR;
        tidal__batch_hdr_get(p + off, &h);
        h.magic = TIDAL__WAL_MAGIC;
        h.version = TIDAL_WAL_FORMAT_VERSION;
        if (h.payload_len > room) h.payload_len = (uint32_t)room;
        h.count = 1 + h.count % 8;
        /* A schema event's batch carries the fingerprint it teaches, and so do the batches
           after it, as their writer stamped them. */
        taught = tidal__schema_batch_fp(db, p + off + TIDAL__WAL_HDR, h.count, h.payload_len);
        if (taught) fp = taught;
        h.schema_fp = fp;
        h.first_lsn = lsn;
        h.last_lsn = lsn + h.count - 1;
        h.incarnation = 7;
        tidal__batch_hdr_put(p + off, &h);
        tidal__batch_sum(p + off, p + off + TIDAL__WAL_HDR, h.payload_len, h.sum);
        memcpy(p + off + 80, h.sum, 32);
        lsn = h.last_lsn + 1;
        off += TIDAL__WAL_HDR + h.payload_len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_env e1, e2;
    tidal_db *a, *b;
    uint8_t *buf, d1[32], d2[32];
    size_t n;
    uint64_t expect = 1, end = 0, expect2, end2 = 0, first = 1;
    tidal_result r;
    if (size < 1) return 0;
    n = size - 1;
    buf = (uint8_t *)malloc(n ? n : 1);
    memcpy(buf, data + 1, n);
    a = fz_open(&e1);
    b = fz_open(&e2);
    a->incarnation = b->incarnation = 0; /* as at recovery: learn it from the log */
    if (data[0] & 1) fz_repair(a, buf, n);
    if (n >= TIDAL__WAL_HDR) {
        tidal__batch_hdr h;
        tidal__batch_hdr_get(buf, &h);
        first = expect = h.first_lsn;
    }
    r = tidal__scan_segment(a, "fuzz.log", buf, n, data[0] & 2, &expect, &end);
    fz_require(r == TIDAL_OK || r == TIDAL_ERR_CORRUPT || r == TIDAL_ERR_SCHEMA || r == TIDAL_ERR_NOMEM,
               "result code");
    fz_require(end <= n, "valid end within input");
    if (r != TIDAL_OK) fz_require(strstr(tidal_errmsg(a), "offset") != NULL, "message names offset");
    /* Replaying only the accepted prefix, twice, gives the same state. */
    expect2 = first;
    fz_require(tidal__scan_segment(b, "prefix", buf, (size_t)end, 0, &expect2, &end2) == TIDAL_OK, "prefix rescan");
    fz_require(end2 == end && expect2 == expect, "prefix end");
    expect2 = first;
    b->stats.snapshot_lsn = 0;
    fz_require(tidal__scan_segment(b, "again", buf, (size_t)end, 0, &expect2, &end2) == TIDAL_OK, "replay twice");
    fz_digest(a, d1);
    fz_digest(b, d2);
    fz_require(!memcmp(d1, d2, 32), "whole batches only, idempotent replay");
    tidal_db_close(a);
    tidal_db_close(b);
    free(buf);
    return 0;
}
