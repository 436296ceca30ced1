/* fuzz/fuzz_query.c - libFuzzer target for the RETRIEVE text parser (tidal_query_parse).

   Checks on every input (abort() on violation, so libFuzzer and the replay driver stop):
     - no crash, no read outside [data, data + size) (run under ASan);
     - on error: TIDAL_ERR_PARSE, *out byte-for-byte unchanged, position <= size, and a
       non-empty NUL-terminated message;
     - on success: the canonical text (fuzz/query_format.h) parses to an equal query, and
       formatting that again gives the same text.

   Build with libFuzzer (includes ../tidal.h with the implementation):
       clang -g -O1 -fsanitize=fuzzer,address,undefined fuzz/fuzz_query.c -o fuzz_query
       ./fuzz_query fuzz/corpus/query
   Without libFuzzer (gcc), link with the replay driver:
       gcc -g -fsanitize=address,undefined fuzz/fuzz_query.c fuzz/replay_main.c -o replay
       ./replay fuzz/corpus/query
   FUZZ_STANDALONE builds against dev/public.h + dev/parser_impl.h instead of tidal.h (for
   testing the parser before the merge; TIDAL_QP_PUBLIC_H overrides the public header path).
*/
#ifdef FUZZ_STANDALONE
#include <assert.h>
#include <stdio.h>
#include <string.h>
#define TIDAL_API
#define TIDAL_ASSERT(x) assert(x)
#ifdef TIDAL_QP_PUBLIC_H
#include TIDAL_QP_PUBLIC_H
#else
#include "../dev/public.h"
#endif
#include "../dev/parser_impl.h"
#else
/* First, before any system header: the implementation sets _POSIX_C_SOURCE itself. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, const tidal_parse_error *e) {
    fprintf(stderr, "fuzz_query: %s (position %u, message \"%.127s\")\n", what,
            (unsigned)e->position, e->message);
    abort();
}

/* format -> parse -> equal, and format is stable. */
static void fuzz_round_trip(const tidal_query_text *q) {
    static char text[QUERY_TEXT_FORMAT_MAX], again[QUERY_TEXT_FORMAT_MAX];
    tidal_query_text q2;
    tidal_parse_error e2;
    size_t n = query_text_format(q, text, sizeof text), n2;
    memset(&e2, 0, sizeof e2);
    if (n >= sizeof text) fuzz_fail("canonical form too long", &e2);
    if (tidal_query_parse(text, n, &q2, &e2) != TIDAL_OK) {
        fprintf(stderr, "canonical form: %s\n", text);
        fuzz_fail("canonical form does not parse", &e2);
    }
    if (!query_text_equal(q, &q2)) fuzz_fail("round trip changed the query", &e2);
    n2 = query_text_format(&q2, again, sizeof again);
    if (n2 != n || memcmp(text, again, n)) fuzz_fail("canonical form unstable", &e2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tidal_query_text out, pattern;
    tidal_parse_error e;
    tidal_result r;
    /* libFuzzer passes a non-NULL pointer even for size 0; the parser accepts either. */
    memset(&pattern, 0xAB, sizeof pattern);
    memcpy(&out, &pattern, sizeof out);
    memset(&e, 0xCD, sizeof e);
    r = tidal_query_parse((const char *)data, size, &out, &e);
    if (r == TIDAL_OK) {
        if (e.message[0] != '\0') fuzz_fail("message set on success", &e);
        fuzz_round_trip(&out);
        return 0;
    }
    if (r != TIDAL_ERR_PARSE) fuzz_fail("unexpected result code", &e);
    if (memcmp(&out, &pattern, sizeof out)) fuzz_fail("out changed on error", &e);
    if (e.position > size) fuzz_fail("position past the end", &e);
    if (!memchr(e.message, '\0', sizeof e.message) || !e.message[0])
        fuzz_fail("bad error message", &e);
    /* err == NULL must behave the same. */
    if (tidal_query_parse((const char *)data, size, &out, NULL) != r)
        fuzz_fail("result differs without err", &e);
    return 0;
}
