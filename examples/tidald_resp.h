/* tidald_resp.h - tidald's client protocol as pure functions (no I/O): the RESP2 request
   parser (arrays of bulk strings, and inline commands), the reply encoder, and the command
   decoder that turns one parsed command into a typed request or an error naming what is
   wrong. Included by examples/tidald.c, tests/test_resp.c and fuzz/fuzz_resp.c, after
   tidal.h (it uses its limits and tidal_query_parse). Every function is static.

   Rules the parser keeps (a client's bytes are untrusted):
   R1. resp_parse looks at buf[0, len) only and never writes it. It returns RESP_OK with one
       whole command (its arguments point into buf; *used bytes were consumed), RESP_MORE
       when the command is not complete yet (nothing consumed: call again with more
       bytes), or RESP_BAD with err->position (a byte offset into buf) and a message. A
       prefix of a valid stream is never RESP_BAD, so where a read splits a pipeline does
       not change what decodes.
   R2. Limits: RESP_ARGS_MAX arguments, RESP_BULK_MAX bytes per argument, RESP_INLINE_MAX
       bytes per inline line, RESP_NUM_DIGITS_MAX digits per length. Lengths are decimal
       digits only: a sign (negative, or "$-1", the null bulk string, which a client never
       sends), an empty or non-digit length, a missing CRLF, an element that is not a bulk
       string (a nested array: more depth than a command has) are all RESP_BAD.
   R3. Inline commands (a line not starting with '*', as telnet sends): words separated by
       spaces or tabs up to '\n' (a '\r' before it is dropped). No quoting.
   The decoder (resp_decode) checks arity, numbers (strict decimal, no sign where none is
   allowed, in range), names and lengths against tidal's limits and the schema's signal
   names, and keywords (case-insensitive); its error names the command and the argument. */
#ifndef TIDALD_RESP_H
#define TIDALD_RESP_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not every includer uses every function (the fuzz target encodes no replies). */
#ifdef __GNUC__
#define RESP__FN static __attribute__((unused))
#else
#define RESP__FN static
#endif

#define RESP_ARGS_MAX 64            /* arguments of one command, its name included */
#define RESP_BULK_MAX (64u * 1024u) /* bytes of one argument */
#define RESP_INLINE_MAX (64u * 1024u) /* bytes of one inline command line */
#define RESP_NUM_DIGITS_MAX 9       /* a length has at most 9 digits (< 10^9) */

#define RESP_OK 0
#define RESP_MORE 1
#define RESP_BAD (-1)

typedef struct resp_arg {
    const char *p; /* into the parsed buffer: not NUL-terminated */
    size_t n;
} resp_arg;

typedef struct resp_cmd {
    uint32_t argc; /* 0 for an empty inline line (nothing to do) */
    resp_arg argv[RESP_ARGS_MAX];
} resp_cmd;

typedef struct resp_error {
    size_t position; /* byte offset into the buffer given to resp_parse */
    char message[96];
} resp_error;

RESP__FN int resp__bad(resp_error *err, size_t at, const char *what) {
    if (err) {
        err->position = at;
        snprintf(err->message, sizeof err->message, "%s at byte %zu", what, at);
    }
    return RESP_BAD;
}

/* Reads a length "digits\r\n" at buf[at, len): RESP_OK with *v and *next, RESP_MORE, or
   RESP_BAD. what names the length ("array length", "bulk length"). */
RESP__FN int resp__length(const char *buf, size_t len, size_t at, const char *what, long *v,
                        size_t *next, resp_error *err) {
    size_t i = at;
    long n = 0;
    char m[64];
    if (i < len && buf[i] == '-') {
        snprintf(m, sizeof m, "negative %s", what);
        return resp__bad(err, i, m);
    }
    while (i < len && buf[i] >= '0' && buf[i] <= '9') {
        if (i - at >= RESP_NUM_DIGITS_MAX) {
            snprintf(m, sizeof m, "%s too large", what);
            return resp__bad(err, i, m);
        }
        n = n * 10 + (buf[i] - '0');
        i++;
    }
    if (i == len) return RESP_MORE;
    if (i == at) {
        snprintf(m, sizeof m, "%s: not a decimal number", what);
        return resp__bad(err, i, m);
    }
    if (buf[i] != '\r') {
        snprintf(m, sizeof m, "%s: missing CRLF", what);
        return resp__bad(err, i, m);
    }
    if (i + 1 == len) return RESP_MORE;
    if (buf[i + 1] != '\n') {
        snprintf(m, sizeof m, "%s: missing CRLF", what);
        return resp__bad(err, i + 1, m);
    }
    *v = n;
    *next = i + 2;
    return RESP_OK;
}

/* An inline command: one line of words (R3). */
RESP__FN int resp__inline(const char *buf, size_t len, resp_cmd *cmd, size_t *used,
                        resp_error *err) {
    size_t look = len < RESP_INLINE_MAX + 1 ? len : RESP_INLINE_MAX + 1;
    const char *nl = (const char *)memchr(buf, '\n', look);
    size_t end, i = 0;
    if (!nl) {
        if (len > RESP_INLINE_MAX) return resp__bad(err, RESP_INLINE_MAX, "inline line too long");
        return RESP_MORE;
    }
    end = (size_t)(nl - buf);
    *used = end + 1;
    if (end > 0 && buf[end - 1] == '\r') end--;
    cmd->argc = 0;
    while (i < end) {
        size_t s;
        if (buf[i] == ' ' || buf[i] == '\t') {
            i++;
            continue;
        }
        if (buf[i] == '\0' || buf[i] == '\r') return resp__bad(err, i, "inline: control byte");
        if (cmd->argc == RESP_ARGS_MAX) return resp__bad(err, i, "inline: too many arguments");
        s = i;
        while (i < end && buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\0' && buf[i] != '\r') i++;
        cmd->argv[cmd->argc].p = buf + s;
        cmd->argv[cmd->argc++].n = i - s;
    }
    return RESP_OK;
}

/* Parses one command from buf[0, len) (R1-R3). buf may be NULL when len is 0. */
RESP__FN int resp_parse(const char *buf, size_t len, resp_cmd *cmd, size_t *used,
                      resp_error *err) {
    long count, k;
    size_t at;
    int r;
    if (len == 0) return RESP_MORE;
    if (buf[0] != '*') return resp__inline(buf, len, cmd, used, err);
    r = resp__length(buf, len, 1, "array length", &count, &at, err);
    if (r != RESP_OK) return r;
    if (count == 0) return resp__bad(err, 1, "empty command array");
    if (count > RESP_ARGS_MAX) return resp__bad(err, 1, "array length above RESP_ARGS_MAX");
    for (k = 0; k < count; k++) {
        long n;
        size_t data;
        if (at == len) return RESP_MORE;
        if (buf[at] == '*') return resp__bad(err, at, "nested array: too deep for a command");
        if (buf[at] != '$') return resp__bad(err, at, "expected '$' (a bulk string)");
        r = resp__length(buf, len, at + 1, "bulk length", &n, &data, err);
        if (r != RESP_OK) return r;
        if ((unsigned long)n > RESP_BULK_MAX)
            return resp__bad(err, at + 1, "bulk length above RESP_BULK_MAX");
        if (len - data < (size_t)n + 2) {
            /* What is there of the CRLF must be right already (a prefix stays valid). */
            if (len - data > (size_t)n && buf[data + n] != '\r')
                return resp__bad(err, data + (size_t)n, "bulk string: missing CRLF");
            return RESP_MORE;
        }
        if (buf[data + n] != '\r' || buf[data + n + 1] != '\n')
            return resp__bad(err, data + (size_t)n + (buf[data + n] == '\r'),
                             "bulk string: missing CRLF");
        cmd->argv[k].p = buf + data;
        cmd->argv[k].n = (size_t)n;
        at = data + (size_t)n + 2;
    }
    cmd->argc = (uint32_t)count;
    *used = at;
    return RESP_OK;
}

/* ---- Replies ---------------------------------------------------------------------------
   A growable byte buffer. A failed allocation sets oom and drops what follows (the caller
   then closes the connection: a reply cut short must not be sent). */

typedef struct resp_out {
    char *p;
    size_t n, cap;
    int oom;
} resp_out;

RESP__FN void resp_put(resp_out *o, const void *b, size_t n) {
    if (o->oom) return;
    if (o->cap - o->n < n) {
        size_t cap = o->cap ? o->cap : 256;
        char *q;
        while (cap - o->n < n) cap *= 2;
        q = (char *)realloc(o->p, cap);
        if (!q) {
            o->oom = 1;
            return;
        }
        o->p = q, o->cap = cap;
    }
    memcpy(o->p + o->n, b, n);
    o->n += n;
}

RESP__FN void resp_out_free(resp_out *o) {
    free(o->p);
    memset(o, 0, sizeof *o);
}

/* A simple string or error line: CR and LF inside become spaces (they would end it). */
RESP__FN void resp__line(resp_out *o, char kind, const char *s) {
    char c = kind;
    resp_put(o, &c, 1);
    for (; *s; s++) {
        c = (*s == '\r' || *s == '\n') ? ' ' : *s;
        resp_put(o, &c, 1);
    }
    resp_put(o, "\r\n", 2);
}

RESP__FN void resp_simple(resp_out *o, const char *s) { resp__line(o, '+', s); }

/* An error reply: "-CODE message" (code "ERR" unless the caller gives another). */
#ifdef __GNUC__
__attribute__((format(printf, 3, 4)))
#endif
RESP__FN void resp_error_reply(resp_out *o, const char *code, const char *fmt, ...) {
    char m[512];
    size_t k;
    va_list ap;
    k = (size_t)snprintf(m, sizeof m, "%s ", code);
    va_start(ap, fmt);
    vsnprintf(m + k, sizeof m - k, fmt, ap);
    va_end(ap);
    resp__line(o, '-', m);
}

RESP__FN void resp_int(resp_out *o, int64_t v) {
    char m[32];
    int k = snprintf(m, sizeof m, ":%lld\r\n", (long long)v);
    resp_put(o, m, (size_t)k);
}

RESP__FN void resp_bulk(resp_out *o, const char *s, size_t n) {
    char m[32];
    int k = snprintf(m, sizeof m, "$%zu\r\n", n);
    resp_put(o, m, (size_t)k);
    resp_put(o, s, n);
    resp_put(o, "\r\n", 2);
}

RESP__FN void resp_bulk_str(resp_out *o, const char *s) { resp_bulk(o, s, strlen(s)); }

RESP__FN void resp_array(resp_out *o, size_t n) {
    char m[32];
    int k = snprintf(m, sizeof m, "*%zu\r\n", n);
    resp_put(o, m, (size_t)k);
}

/* Hits as an array of [item, score] pairs, both bulk strings (score: %.17g). */
RESP__FN void resp_hits(resp_out *o, const tidal_hit *h, uint32_t n) {
    uint32_t i;
    resp_array(o, n);
    for (i = 0; i < n; i++) {
        char a[32], b[40];
        snprintf(a, sizeof a, "%llu", (unsigned long long)h[i].item);
        snprintf(b, sizeof b, "%.17g", h[i].score);
        resp_array(o, 2);
        resp_bulk_str(o, a);
        resp_bulk_str(o, b);
    }
}

/* ---- Commands --------------------------------------------------------------------------
     PING [message]                       +PONG, or the message
     QUIT                                 +OK, then the server closes
     AUTH token                           binds the connection to the token's tenant
     SIGNAL item type weight [USER u] [TIME ns] [COHORT key value]... [IDEM key seq]
            [ACK LOCAL|QUORUM] [ID]       +OK (+DUPLICATE for a keyed retry); with ID,
                                          "+OK <id>" / "+DUPLICATE <id>": the event id
                                          as 32 hex digits (a keyed retry names the
                                          first try's id: the id derives from the key)
     HIDE|MUTE|BLOCK user target [IDEM key seq] [ACK level]     +OK
     UNHIDE|UNMUTE|UNBLOCK user target [ACK level]              +OK
     ATTR SET ITEM|USER id key value [ACK level]                +OK
     ATTR DEL ITEM|USER id key [ACK level]                      +OK
     SESSION START user ttl_ms [ACK level]                      :session id
     SESSION SIGNAL session seq item type weight [USER u] [TIME ns] [COHORT key value]...
            [ACK level] [ID]                                    +OK (ID: as SIGNAL's)
     SESSION NOTE session seq note [ACK level]                  +OK
     SESSION END session [ACK level]                            +OK
     RETRIEVE words...   a RETRIEVE text (the command name is its first word); without
                         a TENANT clause the connection's tenant is added; another tenant
                         is refused. Reply: [[item, score], ...]
     GATHER words...     the same text run over every shard with degraded reporting:
                         [[hits], degraded 0|1, shards asked, shards answered, reason]
     MOVE tenant group   (admin token) starts a tenant move: :generation
     HEALTH | STATS | METRICS   bulk string (METRICS: Prometheus text format). HEALTH and
                         STATS: the whole node with the admin token; with a tenant's,
                         only what concerns that tenant
     CUT region shard | HEAL region shard   (admin token) drops / lets through again every
                         peer message between this node and that one: +OK
     DIGEST [tenant]     the state digest of every member this node runs, one line
                         "group G HEX events N" each (tidal_db_digest); a tenant's token:
                         its tenant (given or not); admin: the tenant given, or the whole
                         member without one
     APPLIED id          (admin token) the groups whose member on this node has applied
                         the event (id: 32 hex digits, as SIGNAL ... ID answers): an array
                         of group numbers, empty when none (tidal_event_is_applied: a
                         keyed id answers while the node remembers its key)
   ACK defaults to QUORUM. Ids are nonzero decimal u64; ttl_ms 1..10^9; seq a decimal u64
   (SESSION SIGNAL: nonzero; SESSION NOTE: 0 = the next). */

enum {
    RESP_REQ_PING = 1,
    RESP_REQ_QUIT,
    RESP_REQ_AUTH,
    RESP_REQ_SIGNAL,
    RESP_REQ_NEGATIVE,
    RESP_REQ_ATTR,
    RESP_REQ_SESSION_START,
    RESP_REQ_SESSION_SIGNAL,
    RESP_REQ_SESSION_NOTE,
    RESP_REQ_SESSION_END,
    RESP_REQ_RETRIEVE,
    RESP_REQ_GATHER,
    RESP_REQ_MOVE,
    RESP_REQ_HEALTH,
    RESP_REQ_STATS,
    RESP_REQ_METRICS,
    RESP_REQ_CUT,
    RESP_REQ_HEAL,
    RESP_REQ_DIGEST,
    RESP_REQ_APPLIED
};

#define RESP_TEXT_MAX TIDAL_PEER_TEXT_MAX /* RETRIEVE text, note, token, ping message */

typedef struct resp_req {
    int op;                  /* RESP_REQ_* */
    uint64_t item, user, session, seq, target;
    uint32_t type;           /* signal type index in the schema */
    double weight;
    int64_t time_ns;         /* 0: now */
    uint32_t cohort_count;
    int has_cohort;          /* COHORT given (even for 0 tags: never) */
    char ckey[TIDAL_COHORT_KEYS_MAX][TIDAL_NAME_MAX + 1];
    char cval[TIDAL_COHORT_KEYS_MAX][TIDAL_VALUE_MAX + 1];
    int has_idem;
    char idem[TIDAL_IDEM_KEY_MAX];
    uint32_t idem_len;
    uint64_t idem_seq;
    uint32_t level;          /* TIDAL_ACK_LOCAL or TIDAL_ACK_QUORUM */
    int kind;                /* NEGATIVE: TIDAL_HIDE / MUTE / BLOCK */
    int remove;              /* NEGATIVE: the UN- form; ATTR: DEL */
    int attr_user;           /* ATTR: on a user (every shard) rather than an item */
    char key[TIDAL_NAME_MAX + 1];
    char value[TIDAL_VALUE_MAX + 1];
    int64_t ttl_ns;
    uint32_t tenant, group;  /* MOVE */
    size_t text_len;
    char text[RESP_TEXT_MAX + 1]; /* AUTH token, PING message, NOTE, RETRIEVE/GATHER text */
    uint32_t region, shard;  /* CUT, HEAL: the other node */
    int has_tenant;          /* DIGEST: a tenant given (in tenant) */
    int want_id;             /* SIGNAL, SESSION SIGNAL: ID given (the reply names the event) */
    tidal_event_id id;       /* APPLIED */
} resp_req;

/* What the decoder knows of the schema: the signal type names, in order. */
typedef struct resp_schema {
    const char *const *signals;
    uint32_t signal_count;
} resp_schema;

typedef struct resp__dec {
    const resp_cmd *c;
    char *err;
    size_t cap;
    const char *name; /* the command, for messages */
} resp__dec;

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
RESP__FN int resp__fail(resp__dec *d, const char *fmt, ...) {
    size_t k = (size_t)snprintf(d->err, d->cap, "%s: ", d->name);
    va_list ap;
    if (k >= d->cap) return -1;
    va_start(ap, fmt);
    vsnprintf(d->err + k, d->cap - k, fmt, ap);
    va_end(ap);
    return -1;
}

RESP__FN int resp__is(const resp_arg *a, const char *word) {
    size_t i, n = strlen(word);
    if (a->n != n) return 0;
    for (i = 0; i < n; i++) {
        char c = a->p[i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (c != word[i]) return 0;
    }
    return 1;
}

/* A decimal u64 (digits only, no sign, no leading '+', fits 64 bits). */
RESP__FN int resp__u64(const resp_arg *a, uint64_t *v) {
    uint64_t n = 0;
    size_t i;
    if (a->n == 0 || a->n > 20) return 0;
    for (i = 0; i < a->n; i++) {
        unsigned dgt;
        if (a->p[i] < '0' || a->p[i] > '9') return 0;
        dgt = (unsigned)(a->p[i] - '0');
        if (n > (UINT64_MAX - dgt) / 10) return 0;
        n = n * 10 + dgt;
    }
    *v = n;
    return 1;
}

/* An event id as 32 hex digits, hi then lo (as tidal dump and SIGNAL ... ID write it);
   1 when a is exactly that and not all zero. */
RESP__FN int resp_event_id_get(const resp_arg *a, tidal_event_id *id) {
    uint64_t w[2] = {0, 0};
    size_t i;
    if (a->n != 32) return 0;
    for (i = 0; i < 32; i++) {
        char ch = a->p[i];
        unsigned v = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                   : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                   : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16u;
        if (v == 16u) return 0;
        w[i / 16] = w[i / 16] << 4 | v;
    }
    if (!w[0] && !w[1]) return 0;
    id->hi = w[0], id->lo = w[1];
    return 1;
}

/* A nonzero id, named what in the error. */
RESP__FN int resp__id(resp__dec *d, uint32_t i, const char *what, uint64_t *v) {
    if (i >= d->c->argc) return resp__fail(d, "%s missing", what);
    if (!resp__u64(&d->c->argv[i], v) || *v == 0)
        return resp__fail(d, "%s (argument %u): not a nonzero decimal id", what, (unsigned)i);
    return 0;
}

RESP__FN int resp__num(resp__dec *d, uint32_t i, const char *what, uint64_t max, uint64_t *v) {
    if (i >= d->c->argc) return resp__fail(d, "%s missing", what);
    if (!resp__u64(&d->c->argv[i], v) || *v > max)
        return resp__fail(d, "%s (argument %u): not a decimal number in 0..%llu", what,
                          (unsigned)i, (unsigned long long)max);
    return 0;
}

/* A string argument into out (cap bytes with the NUL): 1..cap-1 bytes, no NUL byte
   (min 0 allows it empty). */
RESP__FN int resp__str(resp__dec *d, uint32_t i, const char *what, size_t min, char *out,
                     size_t cap) {
    const resp_arg *a;
    if (i >= d->c->argc) return resp__fail(d, "%s missing", what);
    a = &d->c->argv[i];
    if (a->n < min || a->n >= cap || memchr(a->p, '\0', a->n))
        return resp__fail(d, "%s (argument %u): %zu..%zu bytes without NUL", what, (unsigned)i,
                          min, cap - 1);
    memcpy(out, a->p, a->n);
    out[a->n] = '\0';
    return 0;
}

RESP__FN int resp__weight(resp__dec *d, uint32_t i, double *w) {
    char b[64], *end = NULL;
    const resp_arg *a;
    if (i >= d->c->argc) return resp__fail(d, "weight missing");
    a = &d->c->argv[i];
    if (a->n == 0 || a->n >= sizeof b) return resp__fail(d, "weight: not a number");
    memcpy(b, a->p, a->n);
    b[a->n] = '\0';
    *w = strtod(b, &end);
    if (end != b + a->n || !(*w >= -TIDAL_WEIGHT_MAX && *w <= TIDAL_WEIGHT_MAX) ||
        memchr(b, '\0', a->n) || b[0] == ' ')
        return resp__fail(d, "weight (argument %u): not a finite number within +-1e6",
                          (unsigned)i);
    return 0;
}

RESP__FN int resp__type(resp__dec *d, uint32_t i, const resp_schema *s, uint32_t *type) {
    uint32_t k;
    const resp_arg *a;
    if (i >= d->c->argc) return resp__fail(d, "signal type missing");
    a = &d->c->argv[i];
    for (k = 0; k < s->signal_count; k++)
        if (strlen(s->signals[k]) == a->n && !memcmp(s->signals[k], a->p, a->n)) {
            *type = k;
            return 0;
        }
    return resp__fail(d, "unknown signal type '%.*s' (argument %u)", (int)(a->n > 64 ? 64 : a->n),
                      a->p, (unsigned)i);
}

/* Options from argument i on; allowed: bits of RESP__O_*. */
#define RESP__O_USER 1u
#define RESP__O_TIME 2u
#define RESP__O_COHORT 4u
#define RESP__O_IDEM 8u
#define RESP__O_ACK 16u
#define RESP__O_ID 32u

RESP__FN int resp__options(resp__dec *d, uint32_t i, uint32_t allowed, resp_req *q) {
    uint32_t seen = 0;
    q->level = TIDAL_ACK_QUORUM;
    while (i < d->c->argc) {
        const resp_arg *a = &d->c->argv[i];
        uint32_t bit = resp__is(a, "USER") ? RESP__O_USER : resp__is(a, "TIME") ? RESP__O_TIME
                     : resp__is(a, "COHORT") ? RESP__O_COHORT : resp__is(a, "IDEM") ? RESP__O_IDEM
                     : resp__is(a, "ACK") ? RESP__O_ACK : resp__is(a, "ID") ? RESP__O_ID : 0;
        uint64_t v;
        if (!bit || !(allowed & bit))
            return resp__fail(d, "unexpected option '%.*s' (argument %u)",
                              (int)(a->n > 32 ? 32 : a->n), a->p, (unsigned)i);
        if ((seen & bit) && bit != RESP__O_COHORT)
            return resp__fail(d, "option %.*s given twice", (int)a->n, a->p);
        seen |= bit;
        if (bit == RESP__O_USER) {
            if (resp__id(d, i + 1, "USER", &q->user)) return -1;
            i += 2;
        } else if (bit == RESP__O_TIME) {
            if (resp__num(d, i + 1, "TIME", (uint64_t)INT64_MAX, &v)) return -1;
            if (v == 0) return resp__fail(d, "TIME: 0 (leave TIME out for now)");
            q->time_ns = (int64_t)v, i += 2;
        } else if (bit == RESP__O_COHORT) {
            uint32_t k = q->cohort_count;
            if (k == TIDAL_COHORT_KEYS_MAX) return resp__fail(d, "COHORT: more than 8 tags");
            if (resp__str(d, i + 1, "COHORT key", 1, q->ckey[k], sizeof q->ckey[k]) ||
                resp__str(d, i + 2, "COHORT value", 0, q->cval[k], sizeof q->cval[k]))
                return -1;
            q->cohort_count++, q->has_cohort = 1, i += 3;
        } else if (bit == RESP__O_IDEM) {
            char key[TIDAL_IDEM_KEY_MAX + 1];
            if (resp__str(d, i + 1, "IDEM key", 1, key, sizeof key) ||
                resp__num(d, i + 2, "IDEM seq", UINT64_MAX, &q->idem_seq))
                return -1;
            q->idem_len = (uint32_t)strlen(key);
            memcpy(q->idem, key, q->idem_len);
            q->has_idem = 1, i += 3;
        } else if (bit == RESP__O_ID) {
            q->want_id = 1, i += 1;
        } else {
            if (i + 1 >= d->c->argc) return resp__fail(d, "ACK: level missing");
            if (resp__is(&d->c->argv[i + 1], "LOCAL")) q->level = TIDAL_ACK_LOCAL;
            else if (resp__is(&d->c->argv[i + 1], "QUORUM")) q->level = TIDAL_ACK_QUORUM;
            else return resp__fail(d, "ACK: LOCAL or QUORUM (argument %u)", (unsigned)i + 1);
            i += 2;
        }
    }
    return 0;
}

RESP__FN int resp__arity(resp__dec *d, uint32_t min, uint32_t max) {
    if (d->c->argc < min || d->c->argc > max) {
        if (min == max) return resp__fail(d, "wrong number of arguments (%u, takes %u)",
                                          (unsigned)d->c->argc - 1, (unsigned)min - 1);
        return resp__fail(d, "wrong number of arguments (%u, takes %u..%u)",
                          (unsigned)d->c->argc - 1, (unsigned)min - 1, (unsigned)max - 1);
    }
    return 0;
}

/* The words from argument i on, joined by spaces, after prefix (RETRIEVE text). */
RESP__FN int resp__text(resp__dec *d, uint32_t i, const char *prefix, resp_req *q) {
    size_t n = strlen(prefix);
    if (i >= d->c->argc) return resp__fail(d, "query text missing");
    memcpy(q->text, prefix, n);
    for (; i < d->c->argc; i++) {
        const resp_arg *a = &d->c->argv[i];
        if (n + 1 + a->n > RESP_TEXT_MAX) return resp__fail(d, "text longer than %u bytes",
                                                            (unsigned)RESP_TEXT_MAX);
        if (memchr(a->p, '\0', a->n)) return resp__fail(d, "text: a NUL byte");
        q->text[n++] = ' ';
        memcpy(q->text + n, a->p, a->n);
        n += a->n;
    }
    q->text[n] = '\0';
    q->text_len = n;
    return 0;
}

RESP__FN int resp__signal(resp__dec *d, const resp_schema *s, resp_req *q, uint32_t at,
                        uint32_t allowed) {
    if (d->c->argc < at + 3) return resp__fail(d, "wrong number of arguments (item type weight "
                                                  "missing)");
    if (resp__id(d, at, "item", &q->item) || resp__type(d, at + 1, s, &q->type) ||
        resp__weight(d, at + 2, &q->weight))
        return -1;
    if (resp__options(d, at + 3, allowed, q)) return -1;
    if (q->has_idem && !q->time_ns)
        return resp__fail(d, "IDEM needs TIME (a retry must carry the same event time)");
    return 0;
}

RESP__FN int resp__negative(resp__dec *d, resp_req *q) {
    static const char *const names[] = {"HIDE", "MUTE", "BLOCK"};
    const resp_arg *a = &d->c->argv[0];
    int k;
    q->op = RESP_REQ_NEGATIVE;
    for (k = 0; k < 3; k++) {
        resp_arg tail;
        if (resp__is(a, names[k])) break;
        if (a->n > 2 && (a->p[0] == 'U' || a->p[0] == 'u') && (a->p[1] == 'N' || a->p[1] == 'n')) {
            tail.p = a->p + 2, tail.n = a->n - 2;
            if (resp__is(&tail, names[k])) {
                q->remove = 1;
                break;
            }
        }
    }
    TIDAL_ASSERT(k < 3);
    q->kind = k + 1; /* TIDAL_HIDE, TIDAL_MUTE, TIDAL_BLOCK */
    if (d->c->argc < 3) return resp__fail(d, "wrong number of arguments (user target missing)");
    if (resp__id(d, 1, "user", &q->user) || resp__id(d, 2, "target", &q->target)) return -1;
    return resp__options(d, 3, q->remove ? RESP__O_ACK : RESP__O_ACK | RESP__O_IDEM, q);
}

RESP__FN int resp__attr(resp__dec *d, resp_req *q) {
    uint32_t next;
    q->op = RESP_REQ_ATTR;
    if (d->c->argc < 5)
        return resp__fail(d, "wrong number of arguments (SET|DEL ITEM|USER id key)");
    if (resp__is(&d->c->argv[1], "DEL")) q->remove = 1;
    else if (!resp__is(&d->c->argv[1], "SET")) return resp__fail(d, "SET or DEL (argument 1)");
    if (resp__is(&d->c->argv[2], "USER")) q->attr_user = 1;
    else if (!resp__is(&d->c->argv[2], "ITEM")) return resp__fail(d, "ITEM or USER (argument 2)");
    if (resp__id(d, 3, "id", &q->item) ||
        resp__str(d, 4, "key", 1, q->key, sizeof q->key))
        return -1;
    next = 5;
    if (!q->remove) {
        if (resp__str(d, 5, "value", 0, q->value, sizeof q->value)) return -1;
        next = 6;
    }
    return resp__options(d, next, RESP__O_ACK, q);
}

RESP__FN int resp__session(resp__dec *d, const resp_schema *s, resp_req *q) {
    uint64_t v;
    if (d->c->argc < 2) return resp__fail(d, "START, SIGNAL, NOTE or END missing");
    if (resp__is(&d->c->argv[1], "START")) {
        q->op = RESP_REQ_SESSION_START;
        d->name = "SESSION START";
        if (resp__id(d, 2, "user", &q->user) || resp__num(d, 3, "ttl_ms", 1000000000u, &v))
            return -1;
        if (v == 0) return resp__fail(d, "ttl_ms: 0");
        q->ttl_ns = (int64_t)v * 1000000;
        return resp__options(d, 4, RESP__O_ACK, q);
    }
    if (resp__is(&d->c->argv[1], "SIGNAL")) {
        q->op = RESP_REQ_SESSION_SIGNAL;
        d->name = "SESSION SIGNAL";
        if (resp__id(d, 2, "session", &q->session) || resp__id(d, 3, "seq", &q->seq)) return -1;
        return resp__signal(d, s, q, 4, RESP__O_USER | RESP__O_TIME | RESP__O_COHORT | RESP__O_ACK |
                                            RESP__O_ID);
    }
    if (resp__is(&d->c->argv[1], "NOTE")) {
        q->op = RESP_REQ_SESSION_NOTE;
        d->name = "SESSION NOTE";
        if (resp__id(d, 2, "session", &q->session) ||
            resp__num(d, 3, "seq", UINT64_MAX, &q->seq) ||
            resp__str(d, 4, "note", 0, q->text, sizeof q->text))
            return -1;
        q->text_len = strlen(q->text);
        return resp__options(d, 5, RESP__O_ACK, q);
    }
    if (resp__is(&d->c->argv[1], "END")) {
        q->op = RESP_REQ_SESSION_END;
        d->name = "SESSION END";
        if (resp__id(d, 2, "session", &q->session)) return -1;
        return resp__options(d, 3, RESP__O_ACK, q);
    }
    return resp__fail(d, "START, SIGNAL, NOTE or END (argument 1)");
}

/* Decodes one parsed command (argc >= 1) into *q. Returns 0, or -1 with err (cap bytes)
   naming the command and what is wrong ("SIGNAL: weight (argument 3): ..."). *q is
   zeroed first either way. */
RESP__FN int resp_decode(const resp_cmd *c, const resp_schema *s, resp_req *q, char *err,
                       size_t cap) {
    resp__dec d;
    const resp_arg *a;
    char name[24];
    size_t k;
    TIDAL_ASSERT(c && s && q && err && cap > 0);
    memset(q, 0, sizeof *q);
    err[0] = '\0';
    d.c = c, d.err = err, d.cap = cap, d.name = "command";
    if (c->argc == 0) return resp__fail(&d, "empty");
    a = &c->argv[0];
    for (k = 0; k < a->n && k < sizeof name - 1; k++) {
        char ch = a->p[k];
        name[k] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A')
                  : (ch >= ' ' && ch <= '~') ? ch : '?';
    }
    name[k] = '\0';
    d.name = name;
    if (resp__is(a, "PING")) {
        q->op = RESP_REQ_PING;
        if (resp__arity(&d, 1, 2)) return -1;
        if (c->argc == 2 && resp__str(&d, 1, "message", 0, q->text, sizeof q->text)) return -1;
        q->text_len = strlen(q->text);
        return 0;
    }
    if (resp__is(a, "QUIT")) {
        q->op = RESP_REQ_QUIT;
        return resp__arity(&d, 1, 1);
    }
    if (resp__is(a, "AUTH")) {
        q->op = RESP_REQ_AUTH;
        if (resp__arity(&d, 2, 2) || resp__str(&d, 1, "token", 1, q->text, sizeof q->text))
            return -1;
        q->text_len = strlen(q->text);
        return 0;
    }
    if (resp__is(a, "SIGNAL")) {
        q->op = RESP_REQ_SIGNAL;
        return resp__signal(&d, s, q, 1, RESP__O_USER | RESP__O_TIME | RESP__O_COHORT |
                                             RESP__O_IDEM | RESP__O_ACK | RESP__O_ID);
    }
    if (resp__is(a, "HIDE") || resp__is(a, "MUTE") || resp__is(a, "BLOCK") ||
        resp__is(a, "UNHIDE") || resp__is(a, "UNMUTE") || resp__is(a, "UNBLOCK"))
        return resp__negative(&d, q);
    if (resp__is(a, "ATTR")) return resp__attr(&d, q);
    if (resp__is(a, "SESSION")) return resp__session(&d, s, q);
    if (resp__is(a, "RETRIEVE") || resp__is(a, "GATHER")) {
        q->op = resp__is(a, "RETRIEVE") ? RESP_REQ_RETRIEVE : RESP_REQ_GATHER;
        return resp__text(&d, 1, "RETRIEVE", q);
    }
    if (resp__is(a, "MOVE")) {
        uint64_t t, g;
        q->op = RESP_REQ_MOVE;
        if (resp__arity(&d, 3, 3) || resp__num(&d, 1, "tenant", UINT32_MAX, &t) ||
            resp__num(&d, 2, "group", 255, &g))
            return -1;
        q->tenant = (uint32_t)t, q->group = (uint32_t)g;
        return 0;
    }
    if (resp__is(a, "CUT") || resp__is(a, "HEAL")) {
        uint64_t r, sh;
        q->op = resp__is(a, "CUT") ? RESP_REQ_CUT : RESP_REQ_HEAL;
        if (resp__arity(&d, 3, 3) || resp__num(&d, 1, "region", 65535, &r) ||
            resp__num(&d, 2, "shard", 65535, &sh))
            return -1;
        q->region = (uint32_t)r, q->shard = (uint32_t)sh;
        return 0;
    }
    if (resp__is(a, "DIGEST")) {
        uint64_t t;
        q->op = RESP_REQ_DIGEST;
        if (resp__arity(&d, 1, 2)) return -1;
        if (c->argc == 2) {
            if (resp__num(&d, 1, "tenant", UINT32_MAX, &t)) return -1;
            if (t == 0) return resp__fail(&d, "tenant (argument 1): 0 (tenants are 1..2^32-1)");
            q->tenant = (uint32_t)t, q->has_tenant = 1;
        }
        return 0;
    }
    if (resp__is(a, "APPLIED")) {
        q->op = RESP_REQ_APPLIED;
        if (resp__arity(&d, 2, 2)) return -1;
        if (!resp_event_id_get(&c->argv[1], &q->id))
            return resp__fail(&d, "id (argument 1): not 32 hex digits (an event id as SIGNAL "
                                  "... ID answers it)");
        return 0;
    }
    if (resp__is(a, "HEALTH")) q->op = RESP_REQ_HEALTH;
    else if (resp__is(a, "STATS")) q->op = RESP_REQ_STATS;
    else if (resp__is(a, "METRICS")) q->op = RESP_REQ_METRICS;
    else return resp__fail(&d, "unknown command");
    return resp__arity(&d, 1, 1);
}

/* The RETRIEVE text a connection of tenant may run: text must parse; a TENANT clause must
   name tenant; without one, " TENANT <tenant>" is appended. Returns 0 with out (cap
   bytes), or -1 with err naming what (the parser's position and message, or the tenant). */
RESP__FN int resp_retrieve_text(const char *text, size_t len, uint32_t tenant, char *out,
                              size_t cap, char *err, size_t err_cap) {
    tidal_query_text qt;
    tidal_parse_error pe;
    int n;
    TIDAL_ASSERT(text && out && err && tenant != 0);
    if (tidal_query_parse(text, len, &qt, &pe) != TIDAL_OK) {
        snprintf(err, err_cap, "RETRIEVE: parse error at byte %u: %s", (unsigned)pe.position,
                 pe.message);
        return -1;
    }
    if (qt.tenant != 0 && qt.tenant != tenant) {
        snprintf(err, err_cap, "RETRIEVE: TENANT %u is not this connection's tenant",
                 (unsigned)qt.tenant);
        return -1;
    }
    n = qt.tenant ? snprintf(out, cap, "%.*s", (int)len, text)
                  : snprintf(out, cap, "%.*s TENANT %u", (int)len, text, (unsigned)tenant);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(err, err_cap, "RETRIEVE: text longer than %zu bytes", cap - 1);
        return -1;
    }
    TIDAL_ASSERT(strlen(out) == (size_t)n);
    /* What runs is what was checked: an explicit "TENANT 0" got a second clause above. */
    if (tidal_query_parse(out, (size_t)n, &qt, &pe) != TIDAL_OK || qt.tenant != tenant) {
        snprintf(err, err_cap, "RETRIEVE: TENANT must be this connection's tenant (%u)",
                 (unsigned)tenant);
        return -1;
    }
    return 0;
}

#endif /* TIDALD_RESP_H */
