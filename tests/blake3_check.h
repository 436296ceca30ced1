/* tests/blake3_check.h - BLAKE3 test logic for tidal, public API only.
 *
 * Include AFTER the tidal public declarations (tidal.h). Requires POSIX
 * (popen, mkstemp, unistd, clock_gettime): define _POSIX_C_SOURCE=200809L
 * before any system header. All functions are static; unused ones do not
 * warn (GNU attribute).
 *
 *   blake3_check_vectors(json_path, err, errcap)  official vectors file
 *   blake3_check_b3sum(seed, cases, err, errcap)  cross-check vs b3sum(1)
 *   blake3_bench_mb_per_s(bytes, reps)            benchmark only
 *
 * The check functions return the number of failures (0 = pass) and write
 * the first failure message into err (if err != NULL && errcap > 0).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __GNUC__
#define BLAKE3_CHECK_UNUSED_ __attribute__((unused))
#else
#define BLAKE3_CHECK_UNUSED_
#endif

/* ---------------------------------------------------------------- helpers */

/* Count one failure; keep the first message (printf-style) in err. */
#ifdef __GNUC__
__attribute__((format(printf, 4, 5)))
#endif
static void blake3_check_fail_(int *fails, char *err, size_t errcap,
                               const char *fmt, ...)
{
    if (*fails == 0 && err != NULL && errcap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    (*fails)++;
}

static void blake3_check_hex_(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int blake3_check_nibble_(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode n hex chars into out (n/2 bytes). Returns 0, or -1 if malformed. */
static int blake3_check_unhex_(const char *s, size_t n, uint8_t *out)
{
    size_t i;
    if (n % 2 != 0) return -1;
    for (i = 0; i < n; i += 2) {
        int hi = blake3_check_nibble_(s[i]), lo = blake3_check_nibble_(s[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i / 2] = (uint8_t)(hi * 16 + lo);
    }
    return 0;
}

/* ------------------------------------------------------ minimal JSON scan */

/* Next token of s[0..n) from *pos. Returns one of { } [ ] : , for
 * punctuation, 's' for a string (tok/len = raw contents without quotes,
 * escapes not decoded), 'v' for a bare value (number, true, false, null),
 * 0 at end of input, 'e' on malformed input. */
static int blake3_json_next_(const char *s, size_t n, size_t *pos,
                             const char **tok, size_t *len)
{
    size_t i = *pos;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    if (i >= n) { *pos = i; return 0; }
    switch (s[i]) {
    case '{': case '}': case '[': case ']': case ':': case ',':
        *pos = i + 1;
        return s[i];
    case '"': {
        size_t start = ++i;
        while (i < n && s[i] != '"') {
            if ((unsigned char)s[i] < 0x20) return 'e';
            if (s[i] == '\\') i++;
            i++;
        }
        if (i >= n) return 'e';
        *tok = s + start;
        *len = i - start;
        *pos = i + 1;
        return 's';
    }
    default: {
        size_t start = i;
        while (i < n && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
                         s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'E'))
            i++;
        if (i == start) return 'e';
        *tok = s + start;
        *len = i - start;
        *pos = i;
        return 'v';
    }
    }
}

/* Decode JSON string escapes of raw[0..n) into out (cap bytes incl. NUL).
 * Returns decoded length, or -1 on a bad escape / overflow. \u escapes are
 * encoded as UTF-8 (BMP only, no surrogate pairs). */
static long blake3_json_unescape_(const char *raw, size_t n, char *out, size_t cap)
{
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        unsigned long c = (unsigned char)raw[i];
        int multibyte = 0;
        if (c == '\\') {
            if (++i >= n) return -1;
            switch (raw[i]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                int k;
                if (i + 4 >= n) return -1;
                c = 0;
                for (k = 1; k <= 4; k++) {
                    int d = blake3_check_nibble_(raw[i + (size_t)k]);
                    if (d < 0) return -1;
                    c = c * 16 + (unsigned long)d;
                }
                i += 4;
                if (c >= 0xD800 && c <= 0xDFFF) return -1;
                multibyte = c >= 0x80;
                break;
            }
            default: return -1;
            }
        }
        if (!multibyte) {               /* raw byte or one-byte escape */
            if (o + 1 >= cap) return -1;
            out[o++] = (char)c;
        } else if (c < 0x800) {
            if (o + 2 >= cap) return -1;
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 63));
        } else {
            if (o + 3 >= cap) return -1;
            out[o++] = (char)(0xE0 | (c >> 12));
            out[o++] = (char)(0x80 | ((c >> 6) & 63));
            out[o++] = (char)(0x80 | (c & 63));
        }
    }
    out[o] = '\0';
    return (long)o;
}

typedef struct blake3_check_case_ {
    unsigned long input_len;
    int have_len;
    const char *hex[3];     /* hash, keyed_hash, derive_key (raw spans) */
    size_t hex_len[3];
} blake3_check_case_;

/* Read a whole file; returns malloc'd NUL-terminated buffer or NULL. */
static char *blake3_check_read_file_(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL) return NULL;
    for (;;) {
        size_t got;
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nb = (char *)realloc(buf, ncap + 1);
            if (nb == NULL) { free(buf); fclose(f); return NULL; }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) { free(buf); fclose(f); return NULL; }
    fclose(f);
    buf[len] = '\0';
    *out_len = len;
    return buf;
}

/* ------------------------------------------------------ vector checking */

#define BLAKE3_CHECK_MAX_OUT_ 4096

/* Hash `in` in mode (0 hash, 1 keyed, 2 derive_key) feeding update() in
 * pieces from the cyclic list splits[0..nsplit) (nsplit == 0: one call),
 * then write out_len bytes. */
static void blake3_check_run_(int mode, const uint8_t *key, const char *context,
                              const uint8_t *in, size_t len,
                              const size_t *splits, size_t nsplit,
                              uint8_t *out, size_t out_len)
{
    struct tidal_blake3 h;
    size_t off = 0, k = 0;
    if (mode == 0) tidal_blake3_init(&h);
    else if (mode == 1) tidal_blake3_init_keyed(&h, key);
    else tidal_blake3_init_derive_key(&h, context);
    if (nsplit == 0) {
        tidal_blake3_update(&h, in, len);
    } else {
        while (off < len) {
            size_t piece = splits[k++ % nsplit];
            if (piece > len - off) piece = len - off;
            tidal_blake3_update(&h, in + off, piece);
            off += piece;
            if (k % 5 == 0) { /* final must not disturb the hasher */
                uint8_t scratch[40];
                tidal_blake3_final(&h, scratch, sizeof scratch);
            }
        }
    }
    tidal_blake3_update(&h, NULL, 0);
    tidal_blake3_final(&h, out, out_len);
}

static int blake3_check_one_case_(const blake3_check_case_ *c, const uint8_t *in,
                              const uint8_t *key, const char *context,
                              char *err, size_t errcap)
{
    static const char *const mode_name[3] = {"hash", "keyed_hash", "derive_key"};
    static const size_t split_sets[][6] = {
        {1, 0, 0, 0, 0, 0}, {7, 0, 0, 0, 0, 0}, {64, 0, 0, 0, 0, 0},
        {1023, 0, 0, 0, 0, 0}, {1025, 0, 0, 0, 0, 0},
        {1, 7, 64, 1023, 1025, 63},
    };
    static const size_t split_counts[] = {1, 1, 1, 1, 1, 6};
    static const size_t prefixes[] = {0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129};
    uint8_t expect[BLAKE3_CHECK_MAX_OUT_], got[BLAKE3_CHECK_MAX_OUT_];
    int fails = 0, mode;
    size_t s, full;

    for (mode = 0; mode < 3; mode++) {
        full = c->hex_len[mode] / 2;
        if (c->hex[mode] == NULL || full < 32 || full > BLAKE3_CHECK_MAX_OUT_ ||
            blake3_check_unhex_(c->hex[mode], c->hex_len[mode], expect) != 0) {
            blake3_check_fail_(&fails, err, errcap, "blake3 vectors: input_len=%lu: bad or missing %s",
                               c->input_len, mode_name[mode]);
            continue;
        }
        /* full extended output, one update */
        blake3_check_run_(mode, key, context, in, c->input_len, NULL, 0, got, full);
        if (memcmp(got, expect, full) != 0)
            blake3_check_fail_(&fails, err, errcap, "blake3 vectors: input_len=%lu %s: extended output mismatch",
                               c->input_len, mode_name[mode]);
        /* default length output = first 32 bytes */
        blake3_check_run_(mode, key, context, in, c->input_len, NULL, 0, got, 32);
        if (memcmp(got, expect, 32) != 0)
            blake3_check_fail_(&fails, err, errcap, "blake3 vectors: input_len=%lu %s: 32-byte output mismatch",
                               c->input_len, mode_name[mode]);
        if (mode == 0) {
            tidal_blake3(in, c->input_len, got);
            if (memcmp(got, expect, 32) != 0)
                blake3_check_fail_(&fails, err, errcap, "blake3 vectors: input_len=%lu %s: one-shot tidal_blake3() mismatch",
                               c->input_len, mode_name[mode]);
        }
        /* shorter outputs are prefixes */
        for (s = 0; s < sizeof prefixes / sizeof prefixes[0]; s++) {
            size_t n = prefixes[s] < full ? prefixes[s] : full;
            memset(got, 0xA5, n + 1);
            blake3_check_run_(mode, key, context, in, c->input_len, NULL, 0, got, n);
            if (memcmp(got, expect, n) != 0 || got[n] != 0xA5)
                blake3_check_fail_(&fails, err, errcap, "blake3 vectors: input_len=%lu %s: short output is not a prefix / overran",
                               c->input_len, mode_name[mode]);
        }
        /* incremental updates in odd pieces */
        for (s = 0; s < sizeof split_counts / sizeof split_counts[0]; s++) {
            blake3_check_run_(mode, key, context, in, c->input_len,
                              split_sets[s], split_counts[s], got, full);
            if (memcmp(got, expect, full) != 0)
                blake3_check_fail_(&fails, err, errcap, "blake3 vectors: input_len=%lu %s: split-update mismatch",
                               c->input_len, mode_name[mode]);
        }
    }
    return fails;
}

/* Check every case of the official test-vector file (inputs i % 251).
 * Fails if the file cannot be read/parsed or has fewer than 35 cases. */
static BLAKE3_CHECK_UNUSED_ int blake3_check_vectors(const char *json_path, char *err, size_t errcap)
{
    size_t n = 0, pos = 0, ncases = 0, capcases = 0, i, tlen = 0;
    char *json;
    const char *tok = NULL;
    int fails = 0, t, depth = 0, case_depth = -1;
    uint8_t key[33];
    char context[512];
    int have_key = 0, have_ctx = 0;
    unsigned long max_len = 0;
    blake3_check_case_ *cases = NULL, cur;
    uint8_t *input;

    if (err != NULL && errcap > 0) err[0] = '\0';
    json = blake3_check_read_file_(json_path, &n);
    if (json == NULL) {
        blake3_check_fail_(&fails, err, errcap, "blake3 vectors: cannot read %s", json_path);
        return fails;
    }
    memset(&cur, 0, sizeof cur);
    for (;;) {
        t = blake3_json_next_(json, n, &pos, &tok, &tlen);
        if (t == 0) break;
        if (t == 'e') goto malformed;
        if (t == '{' || t == '[') {
            depth++;
            if (t == '{' && depth >= 3) { /* an object inside "cases": [...] */
                memset(&cur, 0, sizeof cur);
                case_depth = depth;
            }
            continue;
        }
        if (t == '}' || t == ']') {
            if (depth == case_depth && t == '}') {
                if (cur.have_len) {
                    if (ncases == capcases) {
                        size_t nc = capcases ? capcases * 2 : 64;
                        blake3_check_case_ *p = (blake3_check_case_ *)realloc(cases, nc * sizeof *p);
                        if (p == NULL) goto malformed;
                        cases = p;
                        capcases = nc;
                    }
                    cases[ncases++] = cur;
                }
                case_depth = -1;
            }
            if (--depth < 0) goto malformed;
            continue;
        }
        if (t == 's') {
            const char *name = tok;
            size_t name_len = tlen;
            size_t save = pos;
            const char *vt = NULL;
            size_t vlen = 0;
            int vtype;
            if (blake3_json_next_(json, n, &pos, &tok, &tlen) != ':') {
                pos = save; /* a string value in an array; ignore */
                continue;
            }
            save = pos;
            vtype = blake3_json_next_(json, n, &pos, &vt, &vlen);
            if (vtype == 'e' || vtype == 0) goto malformed;
            if (vtype != 's' && vtype != 'v') { pos = save; continue; } /* nested */
#define BLAKE3_CHECK_IS_(lit) (name_len == sizeof(lit) - 1 && memcmp(name, lit, name_len) == 0)
            if (depth == 1 && vtype == 's' && BLAKE3_CHECK_IS_("key")) {
                char tmp[64];
                if (blake3_json_unescape_(vt, vlen, tmp, sizeof tmp) != 32) {
                    blake3_check_fail_(&fails, err, errcap, "blake3 vectors: \"key\" is not 32 bytes");
                    goto done;
                }
                memcpy(key, tmp, 32);
                have_key = 1;
            } else if (depth == 1 && vtype == 's' && BLAKE3_CHECK_IS_("context_string")) {
                if (blake3_json_unescape_(vt, vlen, context, sizeof context) < 0) goto malformed;
                have_ctx = 1;
            } else if (depth == case_depth) {
                if (vtype == 'v' && BLAKE3_CHECK_IS_("input_len")) {
                    char num[24];
                    char *end = NULL;
                    size_t k;
                    if (vlen == 0 || vlen >= sizeof num) goto malformed;
                    for (k = 0; k < vlen; k++)
                        if (vt[k] < '0' || vt[k] > '9') goto malformed;
                    memcpy(num, vt, vlen);
                    num[vlen] = '\0';
                    cur.input_len = strtoul(num, &end, 10);
                    if (cur.input_len > (64ul << 20)) goto malformed;
                    cur.have_len = 1;
                } else if (vtype == 's' && BLAKE3_CHECK_IS_("hash")) {
                    cur.hex[0] = vt; cur.hex_len[0] = vlen;
                } else if (vtype == 's' && BLAKE3_CHECK_IS_("keyed_hash")) {
                    cur.hex[1] = vt; cur.hex_len[1] = vlen;
                } else if (vtype == 's' && BLAKE3_CHECK_IS_("derive_key")) {
                    cur.hex[2] = vt; cur.hex_len[2] = vlen;
                }
            }
#undef BLAKE3_CHECK_IS_
            continue;
        }
        /* ':' ',' or a bare value outside a key: nothing to do */
    }
    if (depth != 0) goto malformed;
    if (!have_key || !have_ctx) {
        blake3_check_fail_(&fails, err, errcap, "blake3 vectors: missing key or context_string");
        goto done;
    }
    if (ncases < 35) {
        blake3_check_fail_(&fails, err, errcap, "blake3 vectors: only %lu cases (need >= 35)", (unsigned long)ncases);
        goto done;
    }
    for (i = 0; i < ncases; i++)
        if (cases[i].input_len > max_len) max_len = cases[i].input_len;
    input = (uint8_t *)malloc(max_len + 1);
    if (input == NULL) {
        blake3_check_fail_(&fails, err, errcap, "blake3 vectors: out of memory (%lu bytes)", max_len);
        goto done;
    }
    for (i = 0; i < max_len; i++) input[i] = (uint8_t)(i % 251);
    for (i = 0; i < ncases; i++) {
        int f = blake3_check_one_case_(&cases[i], input, key, context,
                                   fails == 0 ? err : NULL, errcap);
        fails += f;
    }
    free(input);
    goto done;
malformed:
    blake3_check_fail_(&fails, err, errcap, "blake3 vectors: malformed JSON near byte %lu of %s", (unsigned long)pos, json_path);
done:
    free(cases);
    free(json);
    return fails;
}

/* --------------------------------------------------------- b3sum check */

static uint64_t blake3_check_splitmix_(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int blake3_check_have_b3sum_(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
        if (dlen == 0) {
            if (access("b3sum", X_OK) == 0) return 1;
        } else if (dlen + 7 < sizeof buf) {
            memcpy(buf, path, dlen);
            memcpy(buf + dlen, "/b3sum", 7);
            if (access(buf, X_OK) == 0) return 1;
        }
        path = colon ? colon + 1 : NULL;
    }
    return 0;
}

/* Write n bytes to a fresh mkstemp file in /tmp; name receives its path. */
static int blake3_check_write_tmp_(const uint8_t *p, size_t n, char name[32])
{
    int fd;
    size_t off = 0;
    memcpy(name, "/tmp/tidal_b3_XXXXXX", 21);
    fd = mkstemp(name);
    if (fd < 0) return -1;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w <= 0) { close(fd); unlink(name); return -1; }
        off += (size_t)w;
    }
    if (close(fd) != 0) { unlink(name); return -1; }
    return 0;
}

/* Compare against `b3sum --no-names` on random inputs: the lengths 0, 1,
 * 1023, 1024, 1025, 65536 and 1 MiB, then `cases` more random lengths in
 * [0, 1 MiB]; bytes from a splitmix64 stream seeded by seed. Cases rotate
 * through plain, --length N (XOF), --keyed and --derive-key. Returns the
 * number of failures, or -1 if b3sum is not on PATH. */
static BLAKE3_CHECK_UNUSED_ int blake3_check_b3sum(uint64_t seed, int cases, char *err, size_t errcap)
{
    static const size_t fixed[] = {0, 1, 1023, 1024, 1025, 65536, 1u << 20};
    static const char context[] = "tidal 2024-01-01 b3sum cross-check context";
    const size_t max_len = (size_t)1 << 20;
    enum { MAX_OUT = 200 };
    uint64_t st = seed;
    uint8_t *buf;
    uint8_t key[32], ours[MAX_OUT];
    char ours_hex[2 * MAX_OUT + 1], line[2 * MAX_OUT + 64], cmd[256];
    char name[32], keyname[32];
    int fails = 0, total, i;

    if (err != NULL && errcap > 0) err[0] = '\0';
    if (!blake3_check_have_b3sum_()) {
        if (err != NULL && errcap > 0) snprintf(err, errcap, "blake3 b3sum: b3sum not found on PATH");
        return -1;
    }
    buf = (uint8_t *)malloc(max_len);
    if (buf == NULL) {
        blake3_check_fail_(&fails, err, errcap, "blake3 b3sum: out of memory");
        return fails;
    }
    for (i = 0; i < 32; i += 8) {
        uint64_t r = blake3_check_splitmix_(&st);
        int k;
        for (k = 0; k < 8; k++) key[i + k] = (uint8_t)(r >> (8 * k));
    }
    if (blake3_check_write_tmp_(key, sizeof key, keyname) != 0) {
        free(buf);
        blake3_check_fail_(&fails, err, errcap, "blake3 b3sum: cannot create temp file");
        return fails;
    }
    total = (int)(sizeof fixed / sizeof fixed[0]) + (cases > 0 ? cases : 0);
    for (i = 0; i < total; i++) {
        size_t len, k, out_len = 32;
        int mode = i % 4;            /* 0 plain, 1 XOF, 2 keyed, 3 derive */
        FILE *pipe;
        struct tidal_blake3 h;
        uint64_t r = blake3_check_splitmix_(&st);
        if (i < (int)(sizeof fixed / sizeof fixed[0])) {
            len = fixed[i];
        } else {
            switch (r % 4) {
            case 0: len = (size_t)(r >> 8) % 130; break;
            case 1: len = (size_t)(r >> 8) % 8193; break;
            case 2: len = (size_t)(r >> 8) % (max_len + 1); break;
            default: /* near a chunk-count boundary */
                len = ((size_t)(r >> 8) % 1024) * 1024 + (size_t)(r >> 40) % 3;
                if (len > 0) len -= 1;
                break;
            }
        }
        for (k = 0; k < len; k += 8) {
            uint64_t x = blake3_check_splitmix_(&st);
            size_t b;
            for (b = 0; b < 8 && k + b < len; b++) buf[k + b] = (uint8_t)(x >> (8 * b));
        }
        if (mode == 1) out_len = 1 + (size_t)(r >> 48) % MAX_OUT;
        if (blake3_check_write_tmp_(buf, len, name) != 0) {
            blake3_check_fail_(&fails, err, errcap, "blake3 b3sum: case %d: cannot write temp file", i);
            break;
        }
        if (mode == 0)
            snprintf(cmd, sizeof cmd, "b3sum --no-names '%s'", name);
        else if (mode == 1)
            snprintf(cmd, sizeof cmd, "b3sum --no-names --length %lu '%s'", (unsigned long)out_len, name);
        else if (mode == 2)
            snprintf(cmd, sizeof cmd, "b3sum --no-names --keyed '%s' < '%s'", name, keyname);
        else
            snprintf(cmd, sizeof cmd, "b3sum --no-names --derive-key '%s' '%s'", context, name);
        line[0] = '\0';
        pipe = popen(cmd, "r");
        if (pipe == NULL || fgets(line, sizeof line, pipe) == NULL) line[0] = '\0';
        if (pipe != NULL) pclose(pipe);
        unlink(name);
        line[strcspn(line, "\r\n \t")] = '\0';

        if (mode == 2) tidal_blake3_init_keyed(&h, key);
        else if (mode == 3) tidal_blake3_init_derive_key(&h, context);
        else tidal_blake3_init(&h);
        tidal_blake3_update(&h, buf, len);
        tidal_blake3_final(&h, ours, out_len);
        blake3_check_hex_(ours, out_len, ours_hex);
        if (strcmp(line, ours_hex) != 0) {
            if (fails == 0 && err != NULL && errcap > 0)
                snprintf(err, errcap, "blake3 b3sum: len=%lu mode=%d: b3sum '%.80s' vs ours '%.80s'",
                         (unsigned long)len, mode, line, ours_hex);
            fails++;
        }
    }
    unlink(keyname);
    free(buf);
    return fails;
}

/* ------------------------------------------------------------ benchmark */

/* Best-of-reps throughput of one-shot tidal_blake3() over a `bytes`-byte
 * buffer (e.g. 64 << 20), in MB/s (1 MB = 1e6 bytes). Benchmarks only.
 * Returns -1.0 on allocation/clock failure. */
static BLAKE3_CHECK_UNUSED_ double blake3_bench_mb_per_s(size_t bytes, int reps)
{
    uint8_t *buf = (uint8_t *)malloc(bytes ? bytes : 1);
    uint8_t out[32];
    volatile uint8_t sink = 0;
    double best = -1.0;
    size_t i;
    int r;
    if (buf == NULL) return -1.0;
    for (i = 0; i < bytes; i++) buf[i] = (uint8_t)(i * 131u + (i >> 11));
    tidal_blake3(buf, bytes, out); /* warm-up: page faults, caches */
    for (r = 0; r < (reps > 0 ? reps : 1); r++) {
        struct timespec t0, t1;
        double sec;
        if (clock_gettime(CLOCK_MONOTONIC, &t0) != 0) break;
        tidal_blake3(buf, bytes, out);
        if (clock_gettime(CLOCK_MONOTONIC, &t1) != 0) break;
        sink = (uint8_t)(sink ^ out[0]);
        sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (sec > 0.0 && (double)bytes / 1e6 / sec > best) best = (double)bytes / 1e6 / sec;
    }
    (void)sink;
    free(buf);
    return best;
}

/* References every helper; lets callers silence unused warnings portably. */
static BLAKE3_CHECK_UNUSED_ void blake3_check_unused_(void)
{
    (void)blake3_check_vectors;
    (void)blake3_check_b3sum;
    (void)blake3_bench_mb_per_s;
}
