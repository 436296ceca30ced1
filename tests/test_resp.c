/* test_resp.c - tidald's client protocol (examples/tidald_resp.h) and tidald itself:
   - the RESP parser: a pipeline split at every byte boundary (and fed a byte at a time)
     decodes to the same commands; malformed frames are refused with their position;
   - the command decoder: every command's bad forms are answered with an error naming
     what is wrong, good forms decode to the fields given;
   - a real process: build/tidald (TIDALD overrides the path) started in its own temporary
     directory on ephemeral ports, driven by a C RESP client: no AUTH refused, pipelined
     SIGNALs (one group commit, not one per write), RETRIEVE order and scores, HIDE,
     another tenant refused, METRICS and GET /metrics in the Prometheus text format, a bad
     command changes nothing, SIGTERM exits 0 and a restart of the same directory keeps
     the data; the same few commands through redis-cli when it is installed (skipped,
     saying so, otherwise). Every process started is killed by its pid, also on failure
     (atexit and an alarm bound the whole run). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "../examples/tidald_resp.h"
#include "../examples/tidald_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Parser ---- */

/* A pipeline of every kind of frame: arrays with empty, binary and CRLF-holding bulk
   strings, inline commands with tabs and a bare LF, an empty inline line. */
static const char pipeline[] =
    "*1\r\n$4\r\nPING\r\n"
    "*3\r\n$6\r\nSIGNAL\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"
    "PING  hello\tworld\r\n"
    "\r\n"
    "*2\r\n$4\r\nAUTH\r\n$3\r\n\x00\xff\x01\r\n"
    "SIGNAL 1 view 2.5\n"
    "*4\r\n$8\r\nRETRIEVE\r\n$5\r\nitems\r\n$6\r\nSIGNAL\r\n$10\r\n0123456789\r\n";

typedef struct parsed {
    int n;
    char text[64][256]; /* each command: its arguments as "len:bytes|" */
} parsed;

static void parsed_add(parsed *p, const resp_cmd *c) {
    char *o = p->text[p->n];
    size_t k = 0;
    uint32_t i;
    TT_CHECK(p->n < 64);
    for (i = 0; i < c->argc; i++) {
        k += (size_t)snprintf(o + k, 256 - k, "%zu:", c->argv[i].n);
        TT_CHECK(k + c->argv[i].n + 2 < 256);
        memcpy(o + k, c->argv[i].p, c->argv[i].n);
        k += c->argv[i].n;
        o[k++] = '|';
    }
    o[k] = '\0';
    p->n++;
}

/* Feeds data in pieces (cut[] are the piece ends) through a buffer like tidald's
   connections: after each piece every complete command is taken out. */
static void feed(const char *data, size_t len, const size_t *cut, int ncut, parsed *out) {
    static char buf[sizeof pipeline];
    static resp_cmd c;
    size_t have = 0, start = 0, fed = 0;
    int k;
    memset(out, 0, sizeof *out);
    for (k = 0; k <= ncut; k++) {
        size_t end = k < ncut ? cut[k] : len;
        memcpy(buf + have, data + fed, end - fed);
        have += end - fed, fed = end;
        for (;;) {
            size_t used = 0;
            resp_error e;
            int r = resp_parse(buf + start, have - start, &c, &used, &e);
            TT_CHECKF(r != RESP_BAD, "a prefix of %zu bytes refused: %s", have, e.message);
            if (r != RESP_OK) break;
            TT_CHECK(used > 0 && used <= have - start);
            if (c.argc) parsed_add(out, &c);
            start += used;
        }
    }
    TT_EQ_INT((long long)start, (long long)len);
}

static void t_parse_every_split(void) {
    size_t len = sizeof pipeline - 1, k, a;
    parsed whole, split;
    size_t cuts[2];
    feed(pipeline, len, NULL, 0, &whole);
    TT_EQ_INT(whole.n, 6); /* the empty inline line is no command */
    TT_CHECK(!strcmp(whole.text[1], "6:SIGNAL|0:|4:a\r\nb|"));
    TT_CHECK(!strcmp(whole.text[2], "4:PING|5:hello|5:world|"));
    TT_CHECK(!memcmp(whole.text[3], "4:AUTH|3:\x00\xff\x01|", 12));
    TT_CHECK(!strcmp(whole.text[4], "6:SIGNAL|1:1|4:view|3:2.5|"));
    for (k = 1; k < len && TT_OK(); k++) { /* one cut at every byte */
        cuts[0] = k;
        feed(pipeline, len, cuts, 1, &split);
        TT_CHECKF(split.n == whole.n && !memcmp(&split, &whole, sizeof split), "cut at %zu", k);
    }
    for (k = 1; k < len && TT_OK(); k += 7) /* two cuts */
        for (a = k + 1; a < len && TT_OK(); a += 3) {
            cuts[0] = k, cuts[1] = a;
            feed(pipeline, len, cuts, 2, &split);
            TT_CHECKF(!memcmp(&split, &whole, sizeof split), "cuts at %zu, %zu", k, a);
        }
    {
        size_t one[sizeof pipeline];
        for (k = 0; k + 1 < len; k++) one[k] = k + 1; /* a byte at a time */
        feed(pipeline, len, one, (int)len - 1, &split);
        TT_CHECK(!memcmp(&split, &whole, sizeof split));
    }
}

typedef struct bad_frame {
    const char *bytes;
    size_t position;
    const char *what;
} bad_frame;

static void t_parse_malformed(void) {
    static char huge_inline[RESP_INLINE_MAX + 8];
    static const bad_frame bad[] = {
        {"*-1\r\n", 1, "negative array length"},
        {"*2\r\n$-1\r\n", 5, "negative bulk length"},
        {"*1\r\n$70000\r\n", 5, "bulk length above"},
        {"*65\r\n", 1, "array length above"},
        {"*1234567890\r\n", 10, "array length too large"},
        {"*0\r\n", 1, "empty command array"},
        {"*\r\n", 1, "array length: not a decimal"},
        {"*1x\r\n", 2, "array length: missing CRLF"},
        {"*1\rx", 3, "array length: missing CRLF"},
        {"*1\r\n$3\r\nabcd\r\n", 11, "bulk string: missing CRLF"},
        {"*1\r\n$3\r\nabc\rx", 12, "bulk string: missing CRLF"},
        {"*1\r\n*1\r\n$1\r\na\r\n", 4, "nested array"},
        {"*1\r\n:1\r\n", 4, "expected '$'"},
        {"*2\r\n$1\r\na\r\n+OK\r\n", 11, "expected '$'"},
        {"*1\r\n$+3\r\nabc\r\n", 5, "bulk length: not a decimal"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        resp_cmd c;
        resp_error e;
        size_t used = 0;
        int r = resp_parse(bad[i].bytes, strlen(bad[i].bytes), &c, &used, &e);
        TT_CHECKF(r == RESP_BAD, "%zu: %s not refused", i, bad[i].what);
        if (r != RESP_BAD) continue;
        TT_CHECKF(e.position == bad[i].position, "%zu: position %zu, not %zu (%s)", i,
                  e.position, bad[i].position, e.message);
        TT_CHECKF(strstr(e.message, bad[i].what) && strstr(e.message, "at byte"), "%zu: %s", i,
                  e.message);
    }
    {
        resp_cmd c;
        resp_error e;
        size_t used = 0;
        memset(huge_inline, 'a', sizeof huge_inline);
        TT_EQ_INT(resp_parse(huge_inline, sizeof huge_inline, &c, &used, &e), RESP_BAD);
        TT_CHECK(strstr(e.message, "inline line too long") != NULL);
        TT_EQ_INT(resp_parse("PING\0x\n", 7, &c, &used, &e), RESP_BAD);
        TT_EQ_INT((long long)e.position, 4);
    }
}

/* ---- Decoder ---- */

static const char *const sig_names[] = {"view", "like"};
static const resp_schema schema = {sig_names, 2};

/* Splits words (spaces) into a command; "\\0" inside a word stands for a NUL byte. */
static void words(const char *line, resp_cmd *c, char store[1024]) {
    size_t n = strlen(line), i, k = 0, s;
    memset(c, 0, sizeof *c);
    for (i = 0; i <= n; i++) store[i] = line[i] == ' ' ? '\0' : line[i];
    for (i = 0; i < n; i = s + 1) {
        s = i;
        while (s < n && line[s] != ' ') s++;
        c->argv[c->argc].p = store + i;
        c->argv[c->argc].n = s - i;
        for (k = i; k + 1 < s; k++)
            if (store[k] == '\\' && store[k + 1] == '0') store[k] = '\0';
        c->argc++;
    }
}

static int decode(const char *line, resp_req *q, char *err, size_t cap) {
    static char store[1024];
    resp_cmd c;
    words(line, &c, store);
    return resp_decode(&c, &schema, q, err, cap);
}

typedef struct bad_cmd {
    const char *line;
    const char *what; /* in the error */
} bad_cmd;

static void t_decode_bad_forms(void) {
    static const bad_cmd bad[] = {
        {"NOPE", "NOPE: unknown command"},
        {"PING a b", "PING: wrong number of arguments"},
        {"QUIT now", "QUIT: wrong number"},
        {"AUTH", "AUTH: wrong number"},
        {"AUTH a b", "AUTH: wrong number"},
        {"AUTH a\\0b", "AUTH: token"},
        {"SIGNAL 1 view", "SIGNAL: wrong number"},
        {"SIGNAL 0 view 1", "SIGNAL: item (argument 1)"},
        {"SIGNAL -1 view 1", "SIGNAL: item (argument 1)"},
        {"SIGNAL 18446744073709551616 view 1", "SIGNAL: item"},
        {"SIGNAL 1x view 1", "SIGNAL: item"},
        {"SIGNAL 1 nope 1", "unknown signal type 'nope'"},
        {"SIGNAL 1 view abc", "SIGNAL: weight (argument 3)"},
        {"SIGNAL 1 view 1e7", "SIGNAL: weight"},
        {"SIGNAL 1 view nan", "SIGNAL: weight"},
        {"SIGNAL 1 view inf", "SIGNAL: weight"},
        {"SIGNAL 1 view 1 USER", "SIGNAL: USER missing"},
        {"SIGNAL 1 view 1 USER 0", "SIGNAL: USER"},
        {"SIGNAL 1 view 1 USER 2 USER 3", "given twice"},
        {"SIGNAL 1 view 1 TIME -5", "SIGNAL: TIME"},
        {"SIGNAL 1 view 1 TIME 0", "SIGNAL: TIME: 0"},
        {"SIGNAL 1 view 1 ACK", "ACK: level missing"},
        {"SIGNAL 1 view 1 ACK ALL", "ACK: LOCAL or QUORUM"},
        {"SIGNAL 1 view 1 COHORT k", "COHORT value missing"},
        {"SIGNAL 1 view 1 IDEM k 1", "IDEM needs TIME"},
        {"SIGNAL 1 view 1 IDEM k x TIME 5", "IDEM seq"},
        {"SIGNAL 1 view 1 FOO 1", "unexpected option 'FOO'"},
        {"HIDE 1", "HIDE: wrong number"},
        {"HIDE 1 0", "HIDE: target"},
        {"UNHIDE 1 2 IDEM k 1", "UNHIDE: unexpected option 'IDEM'"},
        {"MUTE x 2", "MUTE: user"},
        {"ATTR SET ITEM 1 k", "ATTR: value missing"},
        {"ATTR PUT ITEM 1 k v", "SET or DEL"},
        {"ATTR SET THING 1 k v", "ITEM or USER"},
        {"ATTR SET ITEM 0 k v", "ATTR: id"},
        {"ATTR DEL ITEM 1", "ATTR: wrong number"},
        {"ATTR DEL ITEM 1 k v", "unexpected option 'v'"},
        {"SESSION", "START, SIGNAL, NOTE or END missing"},
        {"SESSION FLY 1", "START, SIGNAL, NOTE or END (argument 1)"},
        {"SESSION START 1 0", "SESSION START: ttl_ms: 0"},
        {"SESSION START 1 2000000000", "SESSION START: ttl_ms"},
        {"SESSION SIGNAL 1 0 1 view 1", "SESSION SIGNAL: seq"},
        {"SESSION SIGNAL 1 1 1 view 1 IDEM k 1", "unexpected option 'IDEM'"},
        {"SESSION NOTE 1 0", "SESSION NOTE: note missing"},
        {"SESSION END", "SESSION END: session missing"},
        {"RETRIEVE", "RETRIEVE: query text missing"},
        {"GATHER", "GATHER: query text missing"},
        {"MOVE 1", "MOVE: wrong number"},
        {"MOVE 1 256", "MOVE: group"},
        {"MOVE 4294967296 1", "MOVE: tenant"},
        {"HEALTH now", "HEALTH: wrong number"},
        {"METRICS x", "METRICS: wrong number"},
        {"CUT", "CUT: wrong number"},
        {"CUT 1", "CUT: wrong number"},
        {"CUT 1 2 3", "CUT: wrong number"},
        {"CUT x 0", "CUT: region (argument 1)"},
        {"CUT 65536 0", "CUT: region"},
        {"CUT 1 -1", "CUT: shard (argument 2)"},
        {"HEAL 1", "HEAL: wrong number"},
        {"HEAL 1 1x", "HEAL: shard"},
        {"DIGEST 1 2", "DIGEST: wrong number"},
        {"DIGEST 0", "DIGEST: tenant (argument 1): 0"},
        {"DIGEST x", "DIGEST: tenant (argument 1)"},
        {"DIGEST 4294967296", "DIGEST: tenant"},
        {"SIGNAL 1 view 1 ID ID", "option ID given twice"},
        {"SIGNAL 1 view 1 ID 3", "unexpected option '3'"},
        {"HIDE 1 2 ID", "unexpected option 'ID'"},
        {"SESSION END 1 ID", "unexpected option 'ID'"},
        {"APPLIED", "APPLIED: wrong number"},
        {"APPLIED 1 2", "APPLIED: wrong number"},
        {"APPLIED 0123456789abcdef0123456789abcde", "APPLIED: id (argument 1): not 32 hex"},
        {"APPLIED 0123456789abcdef0123456789abcdeg", "APPLIED: id (argument 1)"},
        {"APPLIED 00000000000000000000000000000000", "APPLIED: id (argument 1)"},
        {"APPLIED 0123456789abcdef0123456789abcdef0", "APPLIED: id (argument 1)"},
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        static resp_req q;
        char err[320];
        int r = decode(bad[i].line, &q, err, sizeof err);
        TT_CHECKF(r == -1, "'%s' accepted", bad[i].line);
        TT_CHECKF(strstr(err, bad[i].what) != NULL, "'%s': \"%s\" does not name \"%s\"",
                  bad[i].line, err, bad[i].what);
    }
}

static void t_decode_good_forms(void) {
    static resp_req q;
    char err[320], text[256];
    TT_EQ_INT(decode("signal 7 like -2.5 user 9 time 1790000000000000000 cohort locale fr "
                     "cohort plan pro idem key-1 3 ack local", &q, err, sizeof err), 0);
    TT_EQ_INT(q.op, RESP_REQ_SIGNAL);
    TT_CHECK(q.item == 7 && q.type == 1 && q.weight == -2.5 && q.user == 9);
    TT_CHECK(q.time_ns == INT64_C(1790000000000000000) && q.level == TIDAL_ACK_LOCAL);
    TT_CHECK(q.cohort_count == 2 && !strcmp(q.ckey[1], "plan") && !strcmp(q.cval[0], "fr"));
    TT_CHECK(q.has_idem && q.idem_len == 5 && !memcmp(q.idem, "key-1", 5) && q.idem_seq == 3);
    TT_EQ_INT(decode("UNMUTE 3 4", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_NEGATIVE && q.kind == TIDAL_MUTE && q.remove && q.user == 3 &&
             q.target == 4 && q.level == TIDAL_ACK_QUORUM);
    TT_EQ_INT(decode("ATTR DEL USER 5 locale", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_ATTR && q.remove && q.attr_user && !strcmp(q.key, "locale"));
    TT_EQ_INT(decode("SESSION START 5 1500", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_SESSION_START && q.ttl_ns == INT64_C(1500000000));
    TT_EQ_INT(decode("cut 2 1", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_CUT && q.region == 2 && q.shard == 1);
    TT_EQ_INT(decode("HEAL 0 65535", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_HEAL && q.region == 0 && q.shard == 65535);
    TT_EQ_INT(decode("DIGEST", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_DIGEST && !q.has_tenant);
    TT_EQ_INT(decode("DIGEST 4294967295", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_DIGEST && q.has_tenant && q.tenant == UINT32_MAX);
    TT_EQ_INT(decode("SIGNAL 7 view 1 ID ACK LOCAL", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_SIGNAL && q.want_id && q.level == TIDAL_ACK_LOCAL);
    TT_EQ_INT(decode("SESSION SIGNAL 1 2 7 view 1 id", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_SESSION_SIGNAL && q.want_id);
    TT_EQ_INT(decode("SIGNAL 7 view 1", &q, err, sizeof err), 0);
    TT_CHECK(!q.want_id);
    TT_EQ_INT(decode("applied 0123456789ABCDEF0000000000000001", &q, err, sizeof err), 0);
    TT_CHECK(q.op == RESP_REQ_APPLIED && q.id.hi == UINT64_C(0x0123456789abcdef) && q.id.lo == 1);
    TT_EQ_INT(decode("RETRIEVE items SIGNAL view LIMIT 3", &q, err, sizeof err), 0);
    TT_CHECK(!strcmp(q.text, "RETRIEVE items SIGNAL view LIMIT 3"));
    /* The tenant clause: added, kept when it is the connection's, else refused. */
    TT_EQ_INT(resp_retrieve_text(q.text, q.text_len, 4, text, sizeof text, err, sizeof err), 0);
    TT_CHECK(!strcmp(text, "RETRIEVE items SIGNAL view LIMIT 3 TENANT 4"));
    TT_EQ_INT(resp_retrieve_text("RETRIEVE items SIGNAL view TENANT 4", 35, 4, text,
                                 sizeof text, err, sizeof err), 0);
    TT_EQ_INT(resp_retrieve_text("RETRIEVE items SIGNAL view TENANT 5", 35, 4, text,
                                 sizeof text, err, sizeof err), -1);
    TT_CHECK(strstr(err, "TENANT 5 is not this connection's tenant") != NULL);
    TT_EQ_INT(resp_retrieve_text("RETRIEVE items SIGNAL view TENANT 0", 35, 4, text,
                                 sizeof text, err, sizeof err), -1);
    TT_EQ_INT(resp_retrieve_text("RETRIEVE items RANK view", 24, 4, text, sizeof text, err,
                                 sizeof err), -1);
    TT_CHECK(strstr(err, "parse error at byte") != NULL);
}

/* The encoder: replies a client parses; CR/LF in a line never ends it early. */
static void t_encode(void) {
    resp_out o;
    tidal_hit h[2];
    memset(&o, 0, sizeof o);
    resp_simple(&o, "OK");
    resp_error_reply(&o, "ERR", "bad\r\nthing %d", 7);
    resp_int(&o, -3);
    resp_bulk(&o, "a\0b", 3);
    h[0].item = 9, h[0].score = 2.5, h[1].item = 3, h[1].score = 0.1;
    resp_hits(&o, h, 2);
    resp_put(&o, "", 1);
    TT_CHECK(!o.oom);
    TT_CHECK(!memcmp(o.p, "+OK\r\n-ERR bad  thing 7\r\n:-3\r\n$3\r\na\0b\r\n*2\r\n*2\r\n$1\r\n9\r\n"
                          "$3\r\n2.5\r\n*2\r\n$1\r\n3\r\n$19\r\n0.10000000000000001\r\n",
                     o.n));
    resp_out_free(&o);
}

/* ---- A real tidald ----
   The process and client helpers are examples/tidald_proc.h's (shared with test_cluster and
   make cluster); these wrappers turn what goes wrong into a check failure. Every process
   started is recorded by its pid and killed at exit, on a signal or at the alarm. */

typedef tp_daemon daemon;
typedef tp_client client;
static char tmpdir[256];

/* Starts tidald on conf without waiting for anything; 0 when it could not be started. */
static int daemon_spawn(daemon *d, const char *conf) {
    int ok = tp_spawn(d, tp_tidald_path(), conf, NULL);
    TT_CHECKF(ok, "%s", tp_err);
    return ok;
}

/* The lines a started tidald prints, through "ready" (each within 20 s). */
static int daemon_ready(daemon *d) {
    int ok = tp_wait_line(d, "tidald: resp", 20 * TIDAL_NS_PER_S) &&
             tp_wait_line(d, "tidald: metrics", 20 * TIDAL_NS_PER_S) &&
             tp_wait_line(d, "tidald: ready", 20 * TIDAL_NS_PER_S);
    TT_CHECKF(ok, "%s", tp_err);
    return ok;
}

static int daemon_start(daemon *d, const char *conf) {
    return daemon_spawn(d, conf) && daemon_ready(d);
}

/* A connected socket to 127.0.0.1:port, or -1 (a check failure). */
static int client_open(int port) {
    static tp_client t;
    if (!tp_connect(&t, port)) {
        TT_CHECKF(0, "%s", tp_err);
        return -1;
    }
    return t.fd;
}

static void client_send(int fd, const char *s, size_t n) {
    TT_CHECKF(tp_send(fd, s, n), "%s", tp_err);
}

/* 1 when the server closes the connection (end of input within 10 s, nothing before). */
static int client_closed(client *c) {
    int64_t end = tp_now_ns() + 10 * TIDAL_NS_PER_S;
    char b;
    if (c->n > c->at) return 0;
    while (tp_now_ns() < end) {
        struct pollfd p;
        p.fd = c->fd, p.events = POLLIN;
        if (poll(&p, 1, 1000) <= 0) continue;
        return recv(c->fd, &b, 1, 0) == 0;
    }
    return 0;
}

/* One whole reply (10 s bound), flattened as tp_reply does. */
static int client_reply(client *c, char *out, size_t cap) {
    return tp_reply(c, out, cap, 10 * TIDAL_NS_PER_S);
}

/* Sends one command (its words as bulk strings) and reads its reply. */
#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static const char *cmd(client *c, const char *fmt, ...) {
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return tp_cmd(c, "%s", line);
}

/* A flattened RETRIEVE reply ("[[item score] ...]", or the words redis-cli prints) holds
   exactly the hits of want ("item:score ..."), in order, each score within 1e-9 relative
   (decay is kept in fixed point: a sum at t0 is exact to about 1e-13). */
static int hits_match(const char *reply, const char *want) {
    char a[4096], b[512], *sa = NULL, *sb = NULL, *x, *y;
    size_t k;
    snprintf(a, sizeof a, "%s", reply);
    snprintf(b, sizeof b, "%s", want);
    for (k = 0; a[k]; k++)
        if (a[k] == '[' || a[k] == ']') a[k] = ' ';
    for (k = 0; b[k]; k++)
        if (b[k] == ':') b[k] = ' ';
    x = strtok_r(a, " ", &sa), y = strtok_r(b, " ", &sb);
    for (k = 0; x && y; k++, x = strtok_r(NULL, " ", &sa), y = strtok_r(NULL, " ", &sb)) {
        if (k % 2 == 0 && strcmp(x, y)) return 0;
        if (k % 2 == 1 && fabs(strtod(x, NULL) - strtod(y, NULL)) > 1e-9 * strtod(y, NULL))
            return 0;
    }
    return !x && !y;
}

static uint64_t metric_value(const char *text, const char *name) {
    const char *p = strstr(text, name);
    while (p && p != text && p[-1] != '\n') p = strstr(p + 1, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : UINT64_MAX;
}

/* A counter present (metric_value gives UINT64_MAX for a missing one) and above zero. */
static int some(uint64_t v) { return v > 0 && v != UINT64_MAX; }

/* Prometheus text format: each family has # HELP and # TYPE before its samples; each
   sample is name[{labels}] value with a declared name (a summary's _sum, _count too). */
static void check_prometheus(const char *text) {
    char types[64][80];
    int nt = 0, samples = 0;
    const char *p = text;
    TT_CHECK(*text != '\0');
    while (*p) {
        const char *nl = strchr(p, '\n');
        char line[512], name[80];
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int i, ok = 0;
        TT_CHECKF(nl != NULL, "the last line ends without a newline");
        if (!nl || n >= sizeof line) break;
        memcpy(line, p, n);
        line[n] = '\0';
        p = nl + 1;
        if (!strncmp(line, "# HELP ", 7)) continue;
        if (!strncmp(line, "# TYPE ", 7)) {
            char type[32];
            TT_CHECKF(sscanf(line + 7, "%79s %31s", types[nt], type) == 2 &&
                          (!strcmp(type, "counter") || !strcmp(type, "gauge") ||
                           !strcmp(type, "summary")),
                      "bad TYPE line: %s", line);
            TT_CHECKF(strstr(text, "# HELP ") && nt < 64, "%s", line);
            if (nt < 63) nt++;
            continue;
        }
        TT_CHECKF(sscanf(line, "%79[a-z_]", name) == 1, "bad sample: %s", line);
        for (i = 0; i < nt && !ok; i++) {
            size_t tl = strlen(types[i]);
            ok = !strcmp(name, types[i]) ||
                 (!strncmp(name, types[i], tl) &&
                  (!strcmp(name + tl, "_sum") || !strcmp(name + tl, "_count")));
        }
        TT_CHECKF(ok, "sample of an undeclared family: %s", line);
        {
            const char *v = strrchr(line, ' ');
            char *end = NULL;
            TT_CHECKF(v && (strtod(v + 1, &end), end && *end == '\0' && end != v + 1),
                      "bad value: %s", line);
            if (strchr(line, '{')) TT_CHECKF(strchr(line, '}') && strstr(line, "=\""), "%s", line);
        }
        samples++;
    }
    TT_CHECK(samples >= 10);
}

static const char *http_get_metrics(int port) {
    static char buf[1 << 16];
    size_t n = 0;
    int fd = client_open(port);
    int64_t end = tp_now_ns() + 10 * TIDAL_NS_PER_S;
    if (fd < 0) return "";
    client_send(fd, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n", 35);
    while (n < sizeof buf - 1 && tp_now_ns() < end) {
        struct pollfd p;
        ssize_t k;
        p.fd = fd, p.events = POLLIN;
        if (poll(&p, 1, 1000) <= 0) continue;
        k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    close(fd);
    return buf;
}

static int have_redis_cli(void) {
    const char *path = getenv("PATH");
    char dir[512], file[600];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (n < sizeof dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
            snprintf(file, sizeof file, "%s/redis-cli", dir);
            if (access(file, X_OK) == 0) return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

/* Runs redis-cli with args; its output with newlines as spaces. */
static const char *redis_cli(int port, const char *token, const char *args) {
    static char out[4096];
    char line[1024];
    size_t n = 0;
    FILE *f;
    snprintf(line, sizeof line, "redis-cli -p %d%s%s --no-auth-warning %s 2>&1", port,
             token ? " -a " : "", token ? token : "", args);
    f = popen(line, "r");
    out[0] = '\0';
    if (!f) return out;
    while (n < sizeof out - 1) {
        size_t k = fread(out + n, 1, sizeof out - 1 - n, f);
        if (k == 0) break;
        n += k;
    }
    out[n] = '\0';
    pclose(f);
    for (n = 0; out[n]; n++)
        if (out[n] == '\n') out[n] = ' ';
    return out;
}

static void write_conf(const char *path, const char *data) {
    FILE *f = fopen(path, "w");
    TT_CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "# test_resp\nnode 0 0\ntopology 1 1\ngroup 0\ndata %s\n"
               "resp 127.0.0.1:0\nmetrics 127.0.0.1:0\n"
               "token tok-one 1\ntoken tok-two 2\ntoken tok-admin admin\n"
               "tenant 1 0\ntenant 2 0 rate 1000\n"
               "signal view 3600\nsignal like 86400 windows 1h,24h\ncohort locale\n"
               "bootstrap yes\n", data);
    fclose(f);
}

/* Items 1..5 of tenant 1, all at t0: item i gets count[i] writes of weight[i], so at t0
   they score 8, 5, 9, 4, 7: the order is 3, 1, 5, 2, 4. */
static const int count_of[6] = {0, 4, 5, 3, 2, 1}, weight_of[6] = {0, 2, 1, 3, 2, 7};
static void pipelined_writes(client *c, int64_t t0, uint64_t *syncs_before, uint64_t *syncs_after) {
    static char frame[1 << 16];
    size_t n = 0;
    int i, j, count = 0;
    *syncs_before = metric_value(cmd(c, "METRICS"), "tidald_wal_syncs_total{group=\"0\"} ");
    for (i = 1; i <= 5; i++)
        for (j = 0; j < count_of[i]; j++, count++)
            n += (size_t)snprintf(frame + n, sizeof frame - n,
                                  "*8\r\n$6\r\nSIGNAL\r\n$1\r\n%d\r\n$4\r\nview\r\n$1\r\n%d\r\n"
                                  "$4\r\nTIME\r\n$19\r\n%lld\r\n$4\r\nUSER\r\n$2\r\n77\r\n", i,
                                  weight_of[i], (long long)t0);
    client_send(c->fd, frame, n); /* one send: every write of the pipeline */
    for (i = 0; i < count; i++) {
        char out[64];
        TT_CHECK(client_reply(c, out, sizeof out));
        TT_CHECKF(!strcmp(out, "+OK"), "write %d: %s", i, out);
    }
    *syncs_after = metric_value(cmd(c, "METRICS"), "tidald_wal_syncs_total{group=\"0\"} ");
}

static void t_tidald_process(void) {
    static client c1, c2;
    char conf[300], data[300], expect[256];
    const char *r;
    daemon d;
    int64_t t0;
    uint64_t s0 = 0, s1 = 0, events0;
    struct timespec wall;
    alarm(90);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_resp.XXXXXX");
    TT_CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(conf, sizeof conf, "%s/tidald.conf", tmpdir);
    snprintf(data, sizeof data, "%s/data", tmpdir);
    write_conf(conf, data);
    TT_CHECKF(access(tp_tidald_path(), X_OK) == 0, "%s is not built (make build/tidald)",
              tp_tidald_path());
    if (!TT_OK()) return;
    TT_CHECK(daemon_start(&d, conf));
    if (!TT_OK()) return;
    printf("  tidald pid %d, resp port %d, metrics port %d\n", (int)d.pid, d.resp_port,
           d.metrics_port);
    clock_gettime(CLOCK_REALTIME, &wall);
    t0 = (int64_t)wall.tv_sec * TIDAL_NS_PER_S - 10 * TIDAL_NS_PER_S; /* data, not timing */
    c1.fd = client_open(d.resp_port);
    c2.fd = client_open(d.resp_port);
    if (c1.fd < 0 || c2.fd < 0) return;
    /* Before AUTH: only PING, QUIT and AUTH. */
    TT_CHECK(!strcmp(cmd(&c1, "PING"), "+PONG"));
    r = cmd(&c1, "SIGNAL 1 view 1");
    TT_CHECKF(!strncmp(r, "-NOAUTH", 7), "%s", r);
    r = cmd(&c1, "RETRIEVE items SIGNAL view");
    TT_CHECKF(!strncmp(r, "-NOAUTH", 7), "%s", r);
    r = cmd(&c1, "AUTH wrong");
    TT_CHECKF(!strncmp(r, "-ERR AUTH: unknown token", 24), "%s", r);
    TT_CHECK(!strcmp(cmd(&c1, "AUTH tok-one"), "+OK"));
    pipelined_writes(&c1, t0, &s0, &s1);
    printf("  15 pipelined writes: %llu fdatasync(s)\n", (unsigned long long)(s1 - s0));
    TT_CHECKF(s1 - s0 < 7, "15 pipelined writes took %llu fdatasyncs",
              (unsigned long long)(s1 - s0));
    r = cmd(&c1, "RETRIEVE items SIGNAL view AT %lld", (long long)t0);
    TT_CHECKF(hits_match(r, "3:9 1:8 5:7 2:5 4:4"), "%s", r);
    /* A bad command changes nothing. */
    events0 = metric_value(cmd(&c1, "METRICS"), "tidald_events_applied_total{group=\"0\"} ");
    r = cmd(&c1, "SIGNAL 3 view 1e9");
    TT_CHECKF(!strncmp(r, "-ERR SIGNAL: weight", 19), "%s", r);
    r = cmd(&c1, "SIGNAL 3 nope 1");
    TT_CHECKF(!strncmp(r, "-ERR SIGNAL: unknown signal type", 32), "%s", r);
    r = cmd(&c1, "SIGNAL 3 view 1 TIME 5");
    TT_CHECKF(!strncmp(r, "-ERR invalid argument", 21), "%s", r);
    TT_CHECK(metric_value(cmd(&c1, "METRICS"), "tidald_events_applied_total{group=\"0\"} ") ==
             events0);
    /* HIDE removes the item for that user only. */
    TT_CHECK(!strcmp(cmd(&c1, "HIDE 77 3"), "+OK"));
    r = cmd(&c1, "RETRIEVE items SIGNAL view FOR USER 77 AT %lld", (long long)t0);
    TT_CHECKF(hits_match(r, "1:8 5:7 2:5 4:4"), "%s", r);
    r = cmd(&c1, "RETRIEVE items SIGNAL view LIMIT 1 FOR USER 78 AT %lld", (long long)t0);
    TT_CHECKF(hits_match(r, "3:9"), "%s", r);
    /* Another tenant: refused, and its own view is empty. */
    TT_CHECK(!strcmp(cmd(&c2, "AUTH tok-two"), "+OK"));
    r = cmd(&c2, "RETRIEVE items SIGNAL view TENANT 1");
    TT_CHECKF(!strncmp(r, "-ERR RETRIEVE: TENANT 1 is not", 30), "%s", r);
    TT_CHECK(!strcmp(cmd(&c2, "RETRIEVE items SIGNAL view"), "[]"));
    r = cmd(&c2, "MOVE 1 0");
    TT_CHECKF(!strncmp(r, "-ERR MOVE: needs the admin token", 32), "%s", r);
    /* GATHER, sessions, HEALTH. */
    r = cmd(&c1, "GATHER items SIGNAL view LIMIT 2 AT %lld", (long long)t0);
    TT_CHECKF(!strncmp(r, "[[[3 ", 5) && strstr(r, "] :0 :1 :1 ]"), "%s", r);
    {
        char g[1024];
        snprintf(g, sizeof g, "%s", r);
        if (strstr(g, "] :0")) *strstr(g, "] :0") = '\0'; /* the hits alone */
        TT_CHECKF(hits_match(g, "3:9 1:8"), "%s", g);
    }
    r = cmd(&c1, "SESSION START 77 60000");
    TT_CHECKF(r[0] == ':' && strtoull(r + 1, NULL, 10) > 0, "%s", r);
    r = cmd(&c1, "HEALTH");
    TT_CHECKF(strstr(r, "region 0 healthy") != NULL, "%s", r);
    /* HEALTH and STATS: the whole node for the admin token, the tenant's part for a
       tenant's (no node counters, no other tenant); DIGEST of the connection's tenant;
       CUT and HEAL for the admin only (a single node has no peer to cut). */
    TT_CHECKF(!strstr(r, "counters ") && !strstr(r, "node 0/0 control"), "tenant HEALTH: %s", r);
    {
        static client ca;
        char dig1[256];
        ca.fd = client_open(d.resp_port);
        TT_CHECK(!strcmp(cmd(&ca, "AUTH tok-admin"), "+OK"));
        r = cmd(&ca, "HEALTH");
        TT_CHECKF(strstr(r, "counters ") && strstr(r, "node 0/0 control"), "admin HEALTH: %s", r);
        r = cmd(&ca, "STATS");
        TT_CHECKF(strstr(r, "connections ") && strstr(r, "tenant 2 group 0"), "admin STATS: %s",
                  r);
        r = cmd(&c1, "STATS");
        TT_CHECKF(!strstr(r, "connections ") && !strstr(r, "tenant 2") &&
                  strstr(r, "tenant 1 group 0") && strstr(r, "group 0 entities "),
                  "tenant STATS: %s", r);
        r = cmd(&c1, "DIGEST");
        TT_CHECKF(!strncmp(r, "group 0 ", 8) && strlen(r) > 8 + 64, "DIGEST: %s", r);
        snprintf(dig1, sizeof dig1, "%s", r);
        r = cmd(&c1, "DIGEST 1");
        TT_CHECKF(!strcmp(r, dig1), "DIGEST 1 on tenant 1's connection: %s", r);
        r = cmd(&c1, "DIGEST 2");
        TT_CHECKF(!strncmp(r, "-ERR DIGEST: tenant 2 is not this connection's", 46), "%s", r);
        r = cmd(&ca, "DIGEST 1");
        TT_CHECKF(!strcmp(r, dig1), "admin DIGEST 1: %s, tenant 1's: %s", r, dig1);
        r = cmd(&ca, "DIGEST 2");
        TT_CHECKF(!strncmp(r, "group 0 ", 8) && strcmp(r, dig1), "admin DIGEST 2: %s", r);
        r = cmd(&c1, "CUT 0 0");
        TT_CHECKF(!strcmp(r, "-ERR CUT: needs the admin token"), "%s", r);
        r = cmd(&c1, "HEAL 0 0");
        TT_CHECKF(!strcmp(r, "-ERR HEAL: needs the admin token"), "%s", r);
        r = cmd(&ca, "CUT 0 0");
        TT_CHECKF(!strcmp(r, "-ERR CUT: a single node has no peers"), "%s", r);
        r = cmd(&ca, "CUT 0");
        TT_CHECKF(!strncmp(r, "-ERR CUT: wrong number", 22), "%s", r);
        TT_CHECK(!strcmp(cmd(&c1, "DIGEST"), dig1)); /* nothing changed */
        /* SIGNAL ... ID (tenant 2's connection) names the event; APPLIED (admin) finds it by that id; a keyed
           retry names the first try's id. */
        {
            char id[64], line[128];
            r = cmd(&c2, "SIGNAL 9 view 1 TIME %lld IDEM idk 1 ID", (long long)t0);
            TT_CHECKF(!strncmp(r, "+OK ", 4) && strlen(r) == 4 + 32, "SIGNAL ... ID: %s", r);
            snprintf(id, sizeof id, "%s", r + 4);
            r = cmd(&c2, "SIGNAL 9 view 1 TIME %lld IDEM idk 1 ID", (long long)t0);
            snprintf(line, sizeof line, "+DUPLICATE %s", id);
            TT_CHECKF(!strcmp(r, line), "keyed retry: %s, first: %s", r, id);
            r = cmd(&ca, "APPLIED %s", id);
            TT_CHECKF(!strcmp(r, "[:0]") || !strcmp(r, "[:0 ]"), "APPLIED %s: %s", id, r);
            r = cmd(&ca, "APPLIED %s", "0123456789abcdef0123456789abcdef");
            TT_CHECKF(!strcmp(r, "[]"), "APPLIED of an unknown id: %s", r);
            r = cmd(&c2, "APPLIED %s", id);
            TT_CHECKF(!strcmp(r, "-ERR APPLIED: needs the admin token"), "%s", r);
            r = cmd(&c2, "SIGNAL 9 view 1 ID");
            TT_CHECKF(!strncmp(r, "+OK ", 4) && strcmp(r + 4, id), "unkeyed SIGNAL ... ID: %s", r);
            r = cmd(&ca, "APPLIED %s", r + 4);
            TT_CHECKF(!strcmp(r, "[:0]") || !strcmp(r, "[:0 ]"), "APPLIED unkeyed: %s", r);
            /* tenant 2's writes leave tenant 1's digest (the event count is the member's) */
            TT_CHECK(!strncmp(cmd(&c1, "DIGEST"), dig1, 8 + 64));
        }
        close(ca.fd);
    }
    /* Metrics, as a command and over HTTP. */
    check_prometheus(cmd(&c1, "METRICS"));
    r = http_get_metrics(d.metrics_port);
    TT_CHECKF(!strncmp(r, "HTTP/1.0 200 OK\r\n", 17) && strstr(r, "\r\n\r\n"), "%.80s", r);
    if (strstr(r, "\r\n\r\n")) check_prometheus(strstr(r, "\r\n\r\n") + 4);
    TT_CHECK(metric_value(strstr(r, "\r\n\r\n") ? strstr(r, "\r\n\r\n") + 4 : "",
                          "tidald_writes_total ") >= 16);
    /* A malformed frame mid-pipeline: what came before it is answered, then the error
       (naming where), then the connection closes; QUIT closes too. */
    {
        static client c3;
        char out[256];
        c3.fd = client_open(d.resp_port);
        client_send(c3.fd, "PING\r\n*1\r\n$-1\r\nPING\r\n", 21);
        TT_CHECK(client_reply(&c3, out, sizeof out) && !strcmp(out, "+PONG"));
        TT_CHECK(client_reply(&c3, out, sizeof out));
        TT_CHECKF(!strcmp(out, "-ERR Protocol error: negative bulk length at byte 5"), "%s", out);
        TT_CHECK(client_closed(&c3)); /* nothing more: not the second PING */
        close(c3.fd);
        memset(&c3, 0, sizeof c3);
        c3.fd = client_open(d.resp_port);
        TT_CHECK(!strcmp(cmd(&c3, "QUIT"), "+OK"));
        TT_CHECK(client_closed(&c3));
        close(c3.fd);
    }
    /* redis-cli, when installed. */
    if (!have_redis_cli()) {
        printf("  redis-cli: skipped, not installed\n");
    } else {
        r = redis_cli(d.resp_port, NULL, "SIGNAL 6 view 1");
        TT_CHECKF(strstr(r, "NOAUTH") != NULL, "%s", r);
        r = redis_cli(d.resp_port, "tok-one", "SIGNAL 6 view 20 TIME 0");
        TT_CHECKF(strstr(r, "TIME: 0") != NULL, "%s", r);
        snprintf(expect, sizeof expect, "SIGNAL 6 view 20 TIME %lld", (long long)t0);
        r = redis_cli(d.resp_port, "tok-one", expect);
        TT_CHECKF(!strcmp(r, "OK "), "%s", r);
        snprintf(expect, sizeof expect, "RETRIEVE items SIGNAL view LIMIT 2 AT %lld",
                 (long long)t0);
        r = redis_cli(d.resp_port, "tok-one", expect);
        TT_CHECKF(hits_match(r, "6:20 3:9"), "redis-cli: %s", r);
        r = redis_cli(d.resp_port, "tok-two", "RETRIEVE items SIGNAL view TENANT 1");
        TT_CHECKF(strstr(r, "not this connection's tenant") != NULL, "%s", r);
    }
    /* SIGTERM: exit 0; the same directory again keeps everything. */
    close(c1.fd);
    close(c2.fd);
    {
        int st = tp_stop(&d);
        TT_CHECKF(st == 0, "tidald exit status %d", st);
    }
    TT_CHECK(daemon_start(&d, conf));
    if (!TT_OK()) return;
    memset(&c1, 0, sizeof c1);
    c1.fd = client_open(d.resp_port);
    TT_CHECK(!strcmp(cmd(&c1, "AUTH tok-one"), "+OK"));
    r = cmd(&c1, "RETRIEVE items SIGNAL view FOR USER 77 AT %lld", (long long)t0);
    TT_CHECKF(hits_match(r, have_redis_cli() ? "6:20 1:8 5:7 2:5 4:4" : "1:8 5:7 2:5 4:4"),
              "after restart: %s", r);
    close(c1.fd);
    {
        int st = tp_stop(&d);
        TT_CHECKF(st == 0, "tidald exit status %d", st);
    }
    alarm(0);
}

/* A config with one bad line: tidald exits 2 before opening anything, and its error names
   the file, the line and the field. */
typedef struct bad_conf {
    const char *line; /* appended after a valid config of 16 lines: it is line 17 */
    const char *what;
} bad_conf;

static void t_tidald_config_errors(void) {
    static const bad_conf bad[] = {
        {"node 0", "tidald.conf:17: node: R S expected"},
        {"topology 0 1", "tidald.conf:17: topology: regions 1.."},
        {"group 300", "tidald.conf:17: group id: '300' is not a decimal number in 0..255"},
        {"group 0", "tidald.conf:17: group id: 0 given twice"},
        {"resp 127.0.0.1", "tidald.conf:17: resp: '127.0.0.1': HOST:PORT expected"},
        {"metrics localhost:80", "tidald.conf:17: metrics: 'localhost': not an IPv4 address"},
        {"resp 127.0.0.1:70000", "tidald.conf:17: resp: port '70000'"},
        {"token tok-one 1", "tidald.conf:17: token: given twice"},
        {"token x 0", "tidald.conf:17: token tenant: 0"},
        {"tenant 0 0", "tidald.conf:17: tenant id: 0"},
        {"tenant 3 0 rate -1", "tidald.conf:17: tenant rate: '-1'"},
        {"tenant 3 0 speed 1", "tidald.conf:17: tenant: unexpected 'speed'"},
        {"signal bad/name 10", "tidald.conf:17: signal name: 'bad/name'"},
        {"signal x 0", "tidald.conf:17: signal half-life: '0'"},
        {"signal x 10 windows 2h", "tidald.conf:17: signal windows: '2h'"},
        {"profile p nope", "tidald.conf:17: profile term: 'nope'"},
        {"bootstrap maybe", "tidald.conf:17: bootstrap: yes or no expected"},
        {"fsync sometimes", "tidald.conf:17: fsync: batch or none expected"},
        {"peer 0 1 127.0.0.1:0", "tidald.conf:17: peer address: port '0'"},
        {"cluster_key 12ab", "tidald.conf:17: cluster_key: 64 hex digits"},
        {"frobnicate 1", "tidald.conf:17: frobnicate: unknown setting"},
        {"tenant 9 7", "tenant 9: group 7 is not configured"},
        {"token t9 9", "token 4: tenant 9 is not configured"},
        {"peer 0 0 127.0.0.1:7000", "peer 0/0: this node itself"},
        {"peer 1 0 127.0.0.1:7000", "peer 1/0: outside the topology"},
        {"topology 1 2", "transport: missing (a topology of 2 nodes)"},
        {"transport 127.0.0.1", "transport: '127.0.0.1': HOST:PORT expected"},
    };
    char dir[] = "/tmp/test_resp_conf.XXXXXX", conf[300], cmdline[400];
    size_t i;
    TT_CHECK(mkdtemp(dir) != NULL);
    snprintf(conf, sizeof conf, "%s/tidald.conf", dir);
    for (i = 0; i < sizeof bad / sizeof bad[0] && TT_OK(); i++) {
        char err[1024];
        int fds[2], st = -1;
        size_t n = 0;
        pid_t pid;
        FILE *f;
        write_conf(conf, "/nonexistent/never-opened");
        f = fopen(conf, "a");
        TT_CHECK(f != NULL);
        if (!f) break;
        fprintf(f, "%s\n", bad[i].line);
        fclose(f);
        TT_CHECK(pipe(fds) == 0);
        pid = fork();
        if (pid == 0) {
            dup2(fds[1], 2);
            close(fds[0]);
            execl(tp_tidald_path(), "tidald", conf, (char *)NULL);
            _exit(127);
        }
        close(fds[1]);
        for (;;) { /* stderr until it closes: tidald exits at once on a config error */
            ssize_t k = read(fds[0], err + n, sizeof err - 1 - n);
            if (k <= 0) break;
            n += (size_t)k;
        }
        err[n] = '\0';
        close(fds[0]);
        waitpid(pid, &st, 0);
        TT_CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 2, "'%s': exit status %d", bad[i].line, st);
        TT_CHECKF(strstr(err, bad[i].what) != NULL, "'%s': \"%s\" does not name \"%s\"",
                  bad[i].line, err, bad[i].what);
    }
    snprintf(cmdline, sizeof cmdline, "rm -rf '%s'", dir);
    (void)!system(cmdline);
}

/* A free loopback port (tp_free_port), or a check failure. */
static int free_port(void) {
    int port = tp_free_port();
    TT_CHECKF(port > 0, "%s", tp_err);
    return port;
}

/* Waits until node d's tidald_events_applied_total for group 0 reaches n (20 s bound). */
static uint64_t await_applied(client *c, uint64_t n) {
    int64_t end = tp_now_ns() + 20 * TIDAL_NS_PER_S;
    uint64_t v = 0;
    while (tp_now_ns() < end &&
           (v = metric_value(cmd(c, "METRICS"), "tidald_events_applied_total{group=\"0\"} ")) < n) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL); /* polling for a condition, not timing anything */
    }
    return v;
}

/* Three tidald processes (3 regions x 1 shard, one replica group) whose peer messages go
   over the TCP transport on loopback, MAC'd under a cluster key: all three start a new
   cluster (bootstrap yes: their members start the group, the records the control plane
   lacks are proposed through its leader); pipelined QUORUM writes through one
   node are read back through another and applied on every node; a node stopped with
   SIGTERM hands its leadership over (or has none), exits 0, QUORUM writes go on through
   the other two, and the node restarted from its directory catches up; then kill -9 of
   the leader: a keyed QUORUM write through a survivor is acknowledged once a new leader
   is elected, nothing acknowledged is lost, and the killed node catches up. */
static void t_tidald_cluster(void) {
    static client c[3];
    static const char key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    char conf[3][300], data[300], expect[64];
    daemon d[3];
    int port[3], i, j;
    int64_t t0;
    struct timespec wall;
    const char *r;
    alarm(90);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_resp_cluster.XXXXXX");
    TT_CHECK(mkdtemp(tmpdir) != NULL);
    for (i = 0; i < 3; i++) port[i] = free_port();
    if (!TT_OK()) return;
    for (i = 0; i < 3; i++) {
        FILE *f;
        snprintf(conf[i], sizeof conf[i], "%s/tidald%d.conf", tmpdir, i);
        snprintf(data, sizeof data, "%s/data%d", tmpdir, i);
        f = fopen(conf[i], "w");
        TT_CHECK(f != NULL);
        if (!f) return;
        fprintf(f, "node %d 0\ntopology 3 1\ngroup 0\ndata %s\nresp 127.0.0.1:0\n"
                   "metrics 127.0.0.1:0\ntoken tok-one 1\ntoken tok-admin admin\ntenant 1 0\n"
                   "signal view 3600\n"
                   "bootstrap yes\ntransport 127.0.0.1:%d\ncluster_key %s\n", i, data,
                port[i], key);
        for (j = 0; j < 3; j++)
            if (j != i) fprintf(f, "peer %d 0 127.0.0.1:%d\n", j, port[j]);
        fclose(f);
    }
    for (i = 0; i < 3; i++) TT_CHECK(daemon_spawn(&d[i], conf[i]));
    for (i = 0; i < 3 && TT_OK(); i++) TT_CHECKF(daemon_ready(&d[i]), "node %d never ready", i);
    if (!TT_OK()) return;
    for (i = 0; i < 3; i++) {
        c[i].fd = client_open(d[i].resp_port), c[i].n = c[i].at = 0;
        if (c[i].fd < 0) return;
        TT_CHECK(!strcmp(cmd(&c[i], "AUTH tok-one"), "+OK"));
    }
    clock_gettime(CLOCK_REALTIME, &wall);
    t0 = (int64_t)wall.tv_sec * TIDAL_NS_PER_S - 10 * TIDAL_NS_PER_S; /* data, not timing */
    {   /* pipelined QUORUM writes through node 1, forwarded to the leader where it is not */
        static char frame[1 << 14];
        size_t n = 0;
        int k, count = 0;
        for (k = 1; k <= 5; k++)
            for (j = 0; j < count_of[k]; j++, count++)
                n += (size_t)snprintf(frame + n, sizeof frame - n, "SIGNAL %d view %d TIME %lld "
                                      "ACK QUORUM\r\n", k, weight_of[k], (long long)t0);
        client_send(c[1].fd, frame, n);
        for (k = 0; k < count; k++) {
            char out[128];
            TT_CHECK(client_reply(&c[1], out, sizeof out));
            TT_CHECKF(!strcmp(out, "+OK"), "write %d through node 1: %s", k, out);
        }
    }
    r = cmd(&c[2], "RETRIEVE items SIGNAL view AT %lld", (long long)t0);
    TT_CHECKF(hits_match(r, "3:9 1:8 5:7 2:5 4:4"), "RETRIEVE through node 2: %s", r);
    {   /* CUT and HEAL (tidal_tcp_block): the admin token only; a node that is no peer of
           this one (outside the topology, or itself) is refused; a refused one changes
           nothing (the writes below still replicate), an accepted one is undone by HEAL. */
        static client ca;
        ca.fd = client_open(d[0].resp_port), ca.n = ca.at = 0;
        r = cmd(&c[0], "CUT 1 0");
        TT_CHECKF(!strcmp(r, "-ERR CUT: needs the admin token"), "%s", r);
        TT_CHECK(!strcmp(cmd(&ca, "AUTH tok-admin"), "+OK"));
        r = cmd(&ca, "CUT 3 0");
        TT_CHECKF(!strcmp(r, "-ERR CUT: node 3/0: not a peer of this node"), "%s", r);
        r = cmd(&ca, "CUT 0 0");
        TT_CHECKF(!strcmp(r, "-ERR CUT: node 0/0: not a peer of this node"), "%s", r);
        r = cmd(&ca, "HEAL 1 1");
        TT_CHECKF(!strcmp(r, "-ERR HEAL: node 1/1: not a peer of this node"), "%s", r);
        r = cmd(&ca, "CUT 1 x");
        TT_CHECKF(!strncmp(r, "-ERR CUT: shard (argument 2)", 28), "%s", r);
        TT_CHECK(!strcmp(cmd(&ca, "CUT 1 0"), "+OK"));
        TT_CHECK(!strcmp(cmd(&ca, "HEAL 1 0"), "+OK"));
        close(ca.fd);
    }
    for (i = 0; i < 3; i++) /* 15 signals, each applied on every node */
        TT_CHECKF(await_applied(&c[i], 15) >= 15, "node %d applied fewer than 15 events", i);
    {   /* the transport's counters in METRICS: traffic both ways, both peers connected,
           nothing dropped for a bad MAC or a wrong identity on loopback */
        static char m[1 << 16];
        snprintf(m, sizeof m, "%s", cmd(&c[0], "METRICS"));
        check_prometheus(m);
        TT_CHECKF(some(metric_value(m, "tidald_peer_frames_total{dir=\"sent\"} ")) &&
                      some(metric_value(m, "tidald_peer_frames_total{dir=\"received\"} ")) &&
                      some(metric_value(m, "tidald_peer_bytes_total{dir=\"received\"} ")),
                  "peer traffic: %.400s", strstr(m, "tidald_peer_") ? strstr(m, "tidald_peer_") : m);
        TT_CHECK(some(metric_value(m, "tidald_peer_connections_total{event=\"connect\"} ") - 1));
        TT_CHECK(metric_value(m, "tidald_peer_drops_total{cause=\"bad_mac\"} ") == 0);
        TT_CHECK(metric_value(m, "tidald_peer_drops_total{cause=\"identity\"} ") == 0);
    }
    /* Node 0 stops (SIGTERM): it hands its leadership over if it has one, exits 0. */
    close(c[0].fd);
    TT_EQ_INT(tp_stop(&d[0]), 0);
    {   /* keyed, retried until acknowledged: the survivors may not know the leader yet
           (a refusal, not a verdict); the key makes it count once */
        int64_t end = tp_now_ns() + 30 * TIDAL_NS_PER_S;
        for (;;) {
            r = cmd(&c[2], "SIGNAL 4 view 6 TIME %lld IDEM k0 1 ACK QUORUM", (long long)t0);
            if (!strcmp(r, "+OK") || !strcmp(r, "+DUPLICATE") || tp_now_ns() > end) break;
            tp_pause_ms(50); /* between two tries */
        }
        TT_CHECKF(!strcmp(r, "+OK") || !strcmp(r, "+DUPLICATE"),
                  "QUORUM write with node 0 down: %s", r);
    }
    TT_CHECK(daemon_start(&d[0], conf[0]));
    if (!TT_OK()) return;
    c[0].fd = client_open(d[0].resp_port), c[0].n = c[0].at = 0;
    if (c[0].fd < 0) return;
    TT_CHECK(!strcmp(cmd(&c[0], "AUTH tok-one"), "+OK"));
    TT_CHECKF(await_applied(&c[0], 16) >= 16, "node 0 did not catch up after its restart");
    r = cmd(&c[0], "RETRIEVE items SIGNAL view AT %lld", (long long)t0);
    snprintf(expect, sizeof expect, "4:10 3:9 1:8 5:7 2:5");
    TT_CHECKF(hits_match(r, expect), "RETRIEVE through node 0 after its restart: %s", r);
    /* kill -9 of the group's leader: a keyed QUORUM write through a survivor, retried with
       its key until the survivors' new leader acknowledges it; nothing acknowledged before
       is lost, the write counts once; the killed node restarts and catches up. */
    {
        int l = -1, s2, tries = 0;
        int64_t t_kill, t_ok = 0, end;
        char out[128];
        for (i = 0; i < 3; i++)
            if (metric_value(cmd(&c[i], "METRICS"), "tidald_member_leader{group=\"0\"} ") == 1)
                l = i;
        TT_CHECKF(l >= 0, "no node says it leads group 0");
        if (l < 0) return;
        s2 = (l + 1) % 3;
        close(c[l].fd);
        tp_kill9(&d[l]);
        t_kill = tp_now_ns();
        end = t_kill + 30 * TIDAL_NS_PER_S;
        do {
            snprintf(out, sizeof out, "%s", cmd(&c[s2], "SIGNAL 5 view 4 TIME %lld IDEM k9 1 "
                                                "ACK QUORUM", (long long)t0));
            tries++;
        } while (strcmp(out, "+OK") && strcmp(out, "+DUPLICATE") && tp_now_ns() < end && TT_OK());
        t_ok = tp_now_ns();
        TT_CHECKF(!strcmp(out, "+OK") || !strcmp(out, "+DUPLICATE"),
                  "no QUORUM write through node %d within 30 s of the kill: %s", s2, out);
        printf("  kill -9 of node %d (the leader): a QUORUM write through node %d acknowledged "
               "after %lld ms (%d tries)\n", l, s2, (long long)((t_ok - t_kill) / 1000000),
               tries);
        r = cmd(&c[s2], "RETRIEVE items SIGNAL view AT %lld", (long long)t0);
        TT_CHECKF(hits_match(r, "5:11 4:10 3:9 1:8 2:5"), "RETRIEVE after the kill: %s", r);
        TT_CHECK(daemon_start(&d[l], conf[l]));
        if (!TT_OK()) return;
        c[l].fd = client_open(d[l].resp_port), c[l].n = c[l].at = 0;
        if (c[l].fd < 0) return;
        TT_CHECK(!strcmp(cmd(&c[l], "AUTH tok-one"), "+OK"));
        TT_CHECKF(await_applied(&c[l], 17) >= 17, "node %d did not catch up after kill -9", l);
        r = cmd(&c[l], "RETRIEVE items SIGNAL view AT %lld", (long long)t0);
        TT_CHECKF(hits_match(r, "5:11 4:10 3:9 1:8 2:5"), "RETRIEVE on the restarted node: %s",
                  r);
    }
    for (i = 0; i < 3; i++) {
        close(c[i].fd);
        TT_EQ_INT(tp_stop(&d[i]), 0);
    }
    alarm(0);
}

static void remove_tmpdir(void) {
    char cmdline[300];
    tp_kill_all();
    if (!tmpdir[0]) return;
    snprintf(cmdline, sizeof cmdline, "rm -rf '%s'", tmpdir);
    (void)!system(cmdline);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_parse_every_split),
    TT_CASE(t_parse_malformed),
    TT_CASE(t_decode_bad_forms),
    TT_CASE(t_decode_good_forms),
    TT_CASE(t_encode),
    TT_CASE(t_tidald_config_errors),
    TT_CASE(t_tidald_process),
    TT_CASE(t_tidald_cluster),
};

int main(int argc, char **argv) {
    tp_guard("test_resp", 0); /* kills every tidald by pid at exit, on a signal, at alarm */
    atexit(remove_tmpdir);   /* the real-process cases set their own 90 s alarm */
    return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases));
}
