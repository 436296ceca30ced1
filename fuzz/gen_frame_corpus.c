/* gen_frame_corpus.c - writes seed inputs for fuzz_frame into fuzz/corpus/frame: built
   streams (mode bit 0) of a few message sizes, fed whole and in chunks, with a flipped
   byte, with envelopes from other nodes; and raw streams made here with fuzz_frame's key
   and fixed nonces (a valid hello, confirmation and messages, so property 3 compares real
   deliveries), one with another cluster id, one cut mid-frame, one of garbage. White-box:
   encodes with the implementation's own writers. Run from the repository root. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(const uint8_t *b, size_t n) {
    uint8_t h[32];
    char name[128];
    FILE *f;
    int i, k;
    tidal_blake3(b, n, h);
    i = snprintf(name, sizeof name, "fuzz/corpus/frame/");
    for (k = 0; k < 20; k++) i += snprintf(name + i, sizeof name - (size_t)i, "%02x", h[k]);
    f = fopen(name, "wb");
    if (!f || fwrite(b, 1, n, f) != n) {
        fprintf(stderr, "gen_frame_corpus: cannot write %s (run from the repository root)\n", name);
        exit(1);
    }
    fclose(f);
}

static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* A raw input: mode, then a stream from 0.0 to 1.0 of cluster cluster with n messages;
   cut bytes removed from its end. */
static void put_raw(uint32_t mode, uint64_t cluster, int n, size_t cut) {
    static uint8_t b[8192];
    uint8_t dn[32], an[32], k[64], m[100], *w = b + 1;
    int i;
    b[0] = (uint8_t)mode;
    memset(dn, 0x11, 32);
    memset(an, 0x77, 32); /* fuzz_frame's fixed acceptor nonce */
    tidal__tcp_hello_put(w, cluster, 0, 1u << 16, dn);
    w += 64;
    tidal__tcp_keys(key, cluster, 0, 1u << 16, dn, an, k);
    w = tidal__tcp_frame_put(w, k, 0, NULL, 0);
    for (i = 1; i <= n; i++) {
        memset(m, i, sizeof m);
        memset(m, 0, 24);
        tidal__wr_le(m, UINT32_C(0x4D4C4454), 4);
        tidal__wr_le(m + 16, 1u << 16, 4);
        w = tidal__tcp_frame_put(w, k, (uint64_t)i, m, 24 + (uint32_t)i * 10);
    }
    put(b, (size_t)(w - b) - cut);
}

int main(void) {
    static const uint8_t modes[] = {0x01, 0x11, 0xF1, 0x03, 0x13, 0x05, 0x07};
    uint8_t b[600];
    size_t i, k, lens[] = {4, 40, 300};
    for (i = 0; i < sizeof modes; i++)
        for (k = 0; k < 3; k++) {
            size_t j;
            b[0] = modes[i];
            for (j = 1; j <= lens[k]; j++) b[j] = (uint8_t)(j * 37 + k);
            put(b, lens[k] + 1);
        }
    put_raw(0x00, 7, 3, 0);
    put_raw(0x20, 7, 5, 0);
    put_raw(0x00, 7, 2, 20);
    put_raw(0x00, 8, 2, 0);
    memcpy(b, "\0GET / HTTP/1.0\r\n\r\n", 20);
    put(b, 20);
    return 0;
}
