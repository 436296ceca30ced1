/* fuzz_snapshot.c - libFuzzer target for the snapshot decoder. Byte 0 bit 0 wraps the rest
   in a valid header (magic, version, node, schema, length, checksum) so inputs reach the
   body decoder; bit 1 makes that header format 3 (the canonical body) instead of the
   current format 4 (compact). Properties: no crash or leak; a rejected snapshot leaves
   (after the state is freed, as recovery does) an empty state and an offset inside the
   image; an accepted one re-encodes, in both encodings, to bytes that decode to the same
   digest, and each encoding is a fixed point after one round. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_env e1, e2;
    tidal_db *a, *b;
    uint8_t *img, d0[32], d1[32], d2[32];
    size_t n, at = 0;
    const char *why;
    if (size < 1) return 0;
    a = fz_open(&e1);
    b = fz_open(&e2);
    fz_digest(a, d0);
    if (data[0] & 1) {
        tidal__snap_hdr h;
        uint8_t hdr[TIDAL__SNAP_HDR];
        n = TIDAL__SNAP_HDR + size - 1;
        img = (uint8_t *)malloc(n);
        memcpy(img + TIDAL__SNAP_HDR, data + 1, size - 1);
        memset(&h, 0, sizeof h);
        h.magic = TIDAL__SNAP_MAGIC;
        h.version = data[0] & 2 ? 3 : TIDAL_SNAPSHOT_FORMAT_VERSION;
        h.lsn = 5;
        h.body_len = size - 1;
        h.schema_fp = a->schema.schema_fp;
        tidal__snap_hdr_put(hdr, &h);
        tidal__snap_sum(img + TIDAL__SNAP_HDR, size - 1, hdr, h.sum);
        tidal__snap_hdr_put(img, &h);
    } else {
        n = size - 1;
        img = (uint8_t *)malloc(n ? n : 1);
        memcpy(img, data + 1, n);
    }
    why = tidal__snap_parse(a, 5, img, n, &at);
    if (why) {
        fz_require(at <= n, "error offset inside the image");
        tidal__state_free(a);
        fz_digest(a, d1);
        fz_require(!memcmp(d0, d1, 32), "rejected snapshot leaves an empty state");
    } else {
        uint8_t *body, *body2;
        size_t len, cap, len2, cap2;
        fz_require(tidal__snap_body_mem(a, &body, &len, &cap) == TIDAL_OK, "re-encode");
        fz_require(tidal__snap_decode(b, body, len) == NULL, "re-encoded body decodes");
        fz_digest(a, d1);
        fz_digest(b, d2);
        fz_require(!memcmp(d1, d2, 32), "round trip keeps the digest");
        fz_require(tidal__snap_body_mem(b, &body2, &len2, &cap2) == TIDAL_OK, "re-encode twice");
        fz_require(len == len2 && !memcmp(body, body2, len), "encoding is a fixed point");
        tidal__free(a, body, cap);
        tidal__free(b, body2, cap2);
        tidal__state_free(b);
        fz_require(tidal__snap_body_fmt(a, TIDAL_ALL_TENANTS, 1, &body, &len, &cap) == TIDAL_OK, "compact");
        fz_require(tidal__snap_decode_fmt(b, body, len, 1, &at) == NULL, "compact body decodes");
        fz_digest(b, d2);
        fz_require(!memcmp(d1, d2, 32), "compact round trip keeps the digest");
        fz_require(tidal__snap_body_fmt(b, TIDAL_ALL_TENANTS, 1, &body2, &len2, &cap2) == TIDAL_OK, "compact twice");
        fz_require(len == len2 && !memcmp(body, body2, len), "compact encoding is a fixed point");
        tidal__free(a, body, cap);
        tidal__free(b, body2, cap2);
    }
    tidal_db_close(a);
    tidal_db_close(b);
    free(img);
    return 0;
}
