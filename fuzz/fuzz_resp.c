/* fuzz/fuzz_resp.c - libFuzzer target for tidald's client protocol (examples/tidald_resp.h):
   the RESP parser over a byte stream, the command decoder on every command it yields, and
   the RETRIEVE tenant check on every RETRIEVE text.

   Checks on every input (abort() on violation, so libFuzzer and the replay driver stop):
     - no crash, no read outside [data, data + size) (run under ASan);
     - the parser: RESP_OK consumes 1..rest bytes and every argument lies inside what it
       consumed; RESP_BAD has a position inside the input and a message; the same stream
       fed in two pieces (cut where the input's first byte says) gives the same commands
       and the same verdict (a prefix of a valid stream is never refused);
     - the encoder: a command as an array of bulk strings parses back to itself;
     - the decoder: an error names the command ("NAME: ..."); an accepted command keeps
       tidal's limits (ids nonzero, weight finite within TIDAL_WEIGHT_MAX, a known signal
       type, a level, at most TIDAL_COHORT_KEYS_MAX tags);
     - resp_retrieve_text: an accepted text parses and its tenant is the connection's.

   Build with libFuzzer:  make build/libfuzz_fuzz_resp && build/libfuzz_fuzz_resp fuzz/corpus/resp
   Without libFuzzer (gcc):
       make build/replay_fuzz_resp && build/replay_fuzz_resp fuzz/corpus/resp */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "../examples/tidald_resp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what) {
    fprintf(stderr, "fuzz_resp: %s\n", what);
    abort();
}

static const char *const fuzz_sigs[] = {"view", "like", "skip"};
static const resp_schema fuzz_schema = {fuzz_sigs, 3};

/* The accepted request keeps tidal's limits. */
static void check_request(const resp_req *q) {
    if (q->op < RESP_REQ_PING || q->op > RESP_REQ_APPLIED) fuzz_fail("op out of range");
    if (q->want_id && q->op != RESP_REQ_SIGNAL && q->op != RESP_REQ_SESSION_SIGNAL)
        fuzz_fail("ID on a command that names no event");
    if (q->op == RESP_REQ_APPLIED && !q->id.hi && !q->id.lo) fuzz_fail("applied: id 0");
    if (q->op != RESP_REQ_APPLIED && (q->id.hi || q->id.lo)) fuzz_fail("id outside APPLIED");
    if ((q->op == RESP_REQ_CUT || q->op == RESP_REQ_HEAL) &&
        (q->region > 65535 || q->shard > 65535))
        fuzz_fail("cut/heal: node out of range");
    if (q->op == RESP_REQ_DIGEST && q->has_tenant && q->tenant == 0) fuzz_fail("digest: tenant 0");
    if (q->op == RESP_REQ_SIGNAL || q->op == RESP_REQ_SESSION_SIGNAL) {
        if (!q->item || q->type >= fuzz_schema.signal_count) fuzz_fail("signal: item or type");
        if (!(q->weight >= -TIDAL_WEIGHT_MAX && q->weight <= TIDAL_WEIGHT_MAX))
            fuzz_fail("signal: weight");
        if (q->cohort_count > TIDAL_COHORT_KEYS_MAX) fuzz_fail("signal: tags");
        if (q->has_idem && (!q->idem_len || q->idem_len > TIDAL_IDEM_KEY_MAX || !q->time_ns))
            fuzz_fail("signal: idem");
    }
    if (q->op == RESP_REQ_NEGATIVE && (!q->user || !q->target || q->kind < 1 || q->kind > 3))
        fuzz_fail("negative: fields");
    if (q->op == RESP_REQ_SESSION_START && (!q->user || q->ttl_ns <= 0)) fuzz_fail("session");
    if (q->op >= RESP_REQ_SIGNAL && q->op <= RESP_REQ_SESSION_END &&
        q->level != TIDAL_ACK_LOCAL && q->level != TIDAL_ACK_QUORUM)
        fuzz_fail("level");
    if (q->text_len > RESP_TEXT_MAX || strlen(q->text) != q->text_len)
        fuzz_fail("text length");
    if (q->op == RESP_REQ_RETRIEVE || q->op == RESP_REQ_GATHER) {
        char out[RESP_TEXT_MAX + 32], err[256];
        tidal_query_text qt;
        if (resp_retrieve_text(q->text, q->text_len, 7, out, sizeof out, err, sizeof err) == 0) {
            if (tidal_query_parse(out, strlen(out), &qt, NULL) != TIDAL_OK || qt.tenant != 7)
                fuzz_fail("retrieve text: accepted but not the connection's tenant");
        } else if (strncmp(err, "RETRIEVE: ", 10)) {
            fuzz_fail("retrieve text: error without its name");
        }
    }
}

static void check_command(const resp_cmd *c, const char *base, size_t end) {
    static resp_req q;
    char err[320];
    uint32_t i;
    for (i = 0; i < c->argc; i++)
        if (c->argv[i].p < base || c->argv[i].p + c->argv[i].n > base + end)
            fuzz_fail("an argument outside the consumed bytes");
    if (c->argc == 0) return;
    { /* The encoder's array of bulk strings parses back to the same command. */
        static resp_cmd back;
        resp_out o;
        size_t used = 0;
        resp_error e;
        memset(&o, 0, sizeof o);
        resp_array(&o, c->argc);
        for (i = 0; i < c->argc; i++) resp_bulk(&o, c->argv[i].p, c->argv[i].n);
        if (o.oom) fuzz_fail("out of memory");
        if (resp_parse(o.p, o.n, &back, &used, &e) != RESP_OK || used != o.n ||
            back.argc != c->argc)
            fuzz_fail("an encoded command does not parse back");
        for (i = 0; i < c->argc; i++)
            if (back.argv[i].n != c->argv[i].n ||
                memcmp(back.argv[i].p, c->argv[i].p, c->argv[i].n))
                fuzz_fail("an encoded command parses back different");
        resp_out_free(&o);
    }
    if (resp_decode(c, &fuzz_schema, &q, err, sizeof err) == 0) {
        check_request(&q);
    } else if (!err[0] || !strstr(err, ": ")) {
        fuzz_fail("decode error without a message naming the command");
    }
}

/* Parses a stream as tidald does, fed in two pieces [0, cut) and [cut, size); returns a
   digest of what came out (commands and the verdict) to compare two feeds. */
static uint64_t run_stream(const char *data, size_t size, size_t cut) {
    static resp_cmd c;
    size_t start = 0, have = cut;
    uint64_t h = 1469598103934665603u;
    for (;;) {
        size_t used = 0, k;
        resp_error e;
        int r;
        memset(&e, 0, sizeof e);
        r = resp_parse(data + start, have - start, &c, &used, &e);
        if (r == RESP_MORE) {
            if (have == size) break;
            have = size; /* the second piece arrives */
            continue;
        }
        if (r == RESP_BAD) {
            if (e.position >= have - start + 1 || !e.message[0]) fuzz_fail("bad position/message");
            h = (h ^ (uint64_t)(start + e.position)) * 1099511628211u;
            return h ^ 0xBAD;
        }
        if (r != RESP_OK || used == 0 || used > have - start) fuzz_fail("bad used count");
        check_command(&c, data + start, used);
        for (k = 0; k < c.argc; k++) {
            size_t b;
            h = (h ^ c.argv[k].n) * 1099511628211u;
            for (b = 0; b < c.argv[k].n; b++) h = (h ^ (uint8_t)c.argv[k].p[b]) * 1099511628211u;
        }
        h = (h ^ 0xC0DE) * 1099511628211u;
        start += used;
    }
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    uint64_t whole, split;
    size_t cut;
    if (size == 0) return 0;
    whole = run_stream(s, size, size);
    cut = (size_t)data[0] % size;
    split = run_stream(s, size, cut);
    if (whole != split) fuzz_fail("a split stream decodes differently");
    return 0;
}
