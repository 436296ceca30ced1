/* test_tcp.c - the TCP transport (tidal.h >>net_tcp) on loopback, ephemeral ports only.
   Two transports exchanging messages both ways; the connection's input fed a valid stream
   split at every byte boundary (the same messages come out); interleaved connections;
   refusals, each counted under its reason and nothing delivered: garbage, a frame above the
   maximum, a wrong cluster key or id, a replayed frame (on a new connection and on the same
   one), claimed identities that do not fit; a slow reader whose queue fills (drops
   counted, the sender never blocked, traffic resuming); a peer restarting mid-frame; and
   three tidal_peers in one process over three transports: a control-plane leader, a tenant
   placed, QUORUM writes through tidal_peer_signal_write visible on the followers, one node
   cut off with tidal_tcp_block while a write still completes, then converging. The "raw"
   client below speaks the protocol with the library's own codecs (white-box), so a test
   can send exactly the bytes it means. Every wait is for a condition, bounded in wall
   time. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000 /* the bound of every wait: generous, never reached when it works */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tidal_node_ref node(int region, int shard) {
    tidal_node_ref r;
    r.region = (uint16_t)region;
    r.shard = (uint16_t)shard;
    return r;
}
static uint32_t word(tidal_node_ref n) { return (uint32_t)n.region << 16 | n.shard; }

/* ---- What a transport delivered ---- */

#define SINK_MAX 4096
typedef struct sink {
    int n;
    uint32_t from[SINK_MAX];
    uint32_t tag[SINK_MAX];   /* bytes 20..23 of the message */
    uint32_t len[SINK_MAX];
    int bad;                  /* a message whose body is not its pattern */
} sink;

/* A message with the shared envelope (magic, from, to) and a body derived from tag. */
static size_t mk_msg(uint8_t *b, size_t n, tidal_node_ref from, tidal_node_ref to, uint32_t tag) {
    size_t k;
    TT_CHECK(n >= 24);
    memset(b, 0, 24);
    tidal__wr_le(b, UINT32_C(0x4D4C4454), 4);
    tidal__wr_le(b + 12, word(from), 4);
    tidal__wr_le(b + 16, word(to), 4);
    tidal__wr_le(b + 20, tag, 4);
    for (k = 24; k < n; k++) b[k] = (uint8_t)(tag * 31 + k);
    return n;
}

static void on_msg(void *ctx, tidal_node_ref from, const void *bytes, size_t len) {
    sink *s = (sink *)ctx;
    const uint8_t *b = (const uint8_t *)bytes;
    uint32_t tag = len >= 24 ? tidal__rd_le_at4(b + 20) : 0;
    size_t k;
    for (k = 24; k < len; k++)
        if (b[k] != (uint8_t)(tag * 31 + k)) s->bad++;
    if (s->n >= SINK_MAX) return;
    s->from[s->n] = word(from);
    s->tag[s->n] = tag;
    s->len[s->n++] = (uint32_t)len;
}

/* ---- Driving transports: one poll() over all of them ---- */

typedef struct hub {
    tidal_tcp *t[4];
    sink *s[4];
    int n;
    int extra_fd;  /* a raw client's socket, polled too (-1: none) */
} hub;

static void hub_round(hub *h, int wait_ms) {
    static struct pollfd fds[4 * 16 + 1];
    size_t at[5], n = 0, k;
    int i, wait = wait_ms;
    for (i = 0; i < h->n; i++) {
        int w = wait_ms;
        at[i] = n;
        TT_EQ_INT(tidal_tcp_pollfds(h->t[i], fds + n, 16, &k, &w), TIDAL_OK);
        n += k;
        if (w < wait) wait = w;
    }
    at[h->n] = n;
    if (h->extra_fd >= 0) {
        fds[n].fd = h->extra_fd;
        fds[n].events = POLLIN;
        fds[n].revents = 0;
        n++;
    }
    if (poll(fds, (nfds_t)n, wait) < 0) TT_CHECK(errno == EINTR);
    for (i = 0; i < h->n; i++)
        TT_EQ_INT(tidal_tcp_handle(h->t[i], fds + at[i], at[i + 1] - at[i], on_msg, h->s[i]),
                  TIDAL_OK);
}

typedef int (*cond_fn)(void *arg);

/* Rounds until cond holds; 0 if WAIT_MS passed first. */
static int hub_until(hub *h, cond_fn cond, void *arg) {
    int64_t end = now_ms() + WAIT_MS;
    while (!cond(arg)) {
        if (now_ms() > end || !TT_OK()) return 0;
        hub_round(h, 5);
    }
    return 1;
}

static void key_of(uint8_t key[32], int v) {
    int k;
    for (k = 0; k < 32; k++) key[k] = (uint8_t)(v * 7 + k + 1);
}

static tidal_tcp *open_tcp(tidal_node_ref self, int key, uint64_t cluster, uint64_t queue) {
    tidal_tcp_config cfg;
    tidal_tcp *t = NULL;
    char msg[256];
    tidal_result r;
    memset(&cfg, 0, sizeof cfg);
    cfg.self = self;
    key_of(cfg.cluster_key, key);
    cfg.cluster_id = cluster;
    cfg.queue_bytes_max = queue;
    cfg.backoff_min_ns = 10 * INT64_C(1000000);
    cfg.backoff_max_ns = 200 * INT64_C(1000000);
    r = tidal_tcp_open(&cfg, &t, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "open: %s %s", tidal_strerror(r), msg);
    return t;
}

static void link_to(tidal_tcp *t, tidal_node_ref n, uint16_t port) {
    char a[64];
    snprintf(a, sizeof a, "127.0.0.1:%u", (unsigned)port);
    TT_EQ_INT(tidal_tcp_peer_set(t, n, a), TIDAL_OK);
}

/* Two transports ta (node a) and tb (node b) told each other's address, in a hub of two
   with their sinks emptied; 0 when either did not open. */
static int pair_link(hub *h, tidal_tcp *ta, tidal_node_ref a, sink *sa, tidal_tcp *tb,
                     tidal_node_ref b, sink *sb) {
    memset(sa, 0, sizeof *sa);
    memset(sb, 0, sizeof *sb);
    memset(h, 0, sizeof *h);
    h->extra_fd = -1;
    if (!ta || !tb) return 0;
    link_to(ta, b, tidal_tcp_port(tb));
    link_to(tb, a, tidal_tcp_port(ta));
    h->t[0] = ta, h->s[0] = sa, h->t[1] = tb, h->s[1] = sb, h->n = 2;
    return 1;
}

static tidal_result send_msg(tidal_tcp *t, tidal_node_ref from, tidal_node_ref to, uint32_t tag,
                             size_t len) {
    static uint8_t b[1 << 17];
    const tidal_env *e = tidal_tcp_env(t);
    mk_msg(b, len, from, to, tag);
    return e->message_send(e->user, to, b, len);
}

static tidal_tcp_stats stats(const tidal_tcp *t) {
    tidal_tcp_stats s;
    tidal_tcp_stats_get(t, &s);
    return s;
}

/* ---- A raw client: the protocol by hand, through the library's codecs ---- */

typedef struct raw {
    int fd;
    uint32_t self, peer;
    uint64_t cluster;
    uint8_t key[32], nonce[32], key_tx[32], key_rx[32];
    uint64_t seq_tx, seq_rx;
    uint8_t *in;
    size_t in_len;
    uint8_t sent[8192];       /* what it sent after its hello (for replays) */
    size_t sent_len;
} raw;

static int raw_connect(raw *r, uint16_t port, tidal_node_ref self, tidal_node_ref peer,
                       uint64_t cluster, int key) {
    struct sockaddr_in a;
    int one = 1;
    memset(r, 0, sizeof *r);
    r->in = (uint8_t *)malloc(1 << 22);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    r->self = word(self);
    r->peer = word(peer);
    r->cluster = cluster;
    key_of(r->key, key);
    tidal_env_posix()->random_fill(NULL, r->nonce, 32);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->fd < 0 || !r->in || connect(r->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        TT_CHECKF(0, "raw connect: %s", strerror(errno));
        return 0;
    }
    setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 1;
}

static void raw_close(raw *r) {
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
    free(r->in);
    r->in = NULL;
}

static void raw_send(raw *r, hub *h, const void *b, size_t n) {
    size_t off = 0;
    int64_t end = now_ms() + WAIT_MS;
    while (off < n && TT_OK()) {
        ssize_t k = send(r->fd, (const char *)b + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k > 0) off += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EINTR) return; /* closed: the test sees it */
        else hub_round(h, 2);
        TT_CHECK(now_ms() < end);
    }
}

/* Reads what has come (the hub polled meanwhile) until in_len >= need; 0 at EOF/timeout. */
static int raw_need(raw *r, hub *h, size_t need) {
    int64_t end = now_ms() + WAIT_MS;
    while (r->in_len < need) {
        ssize_t k = recv(r->fd, r->in + r->in_len, (1 << 22) - r->in_len, MSG_DONTWAIT);
        if (k > 0) {
            r->in_len += (size_t)k;
            continue;
        }
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) return 0;
        if (now_ms() > end || !TT_OK()) return 0;
        h->extra_fd = r->fd;
        hub_round(h, 5);
        h->extra_fd = -1;
    }
    return 1;
}

/* 1 when the other end closed the connection (EOF or reset), within the bound. */
static int raw_closed_by_peer(raw *r, hub *h) {
    int64_t end = now_ms() + WAIT_MS;
    for (;;) {
        ssize_t k = recv(r->fd, r->in, 1 << 22, MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) return 1;
        if (now_ms() > end || !TT_OK()) return 0;
        h->extra_fd = r->fd;
        hub_round(h, 5);
        h->extra_fd = -1;
    }
}

static void raw_consume(raw *r, size_t n) {
    memmove(r->in, r->in + n, r->in_len - n);
    r->in_len -= n;
}

static void raw_hello(raw *r, hub *h) {
    uint8_t b[64];
    tidal__tcp_hello_put(b, r->cluster, r->self, r->peer, r->nonce);
    raw_send(r, h, b, 64);
}

/* The rest of the handshake after raw_hello: the transport's hello and confirmation in,
   keys, this side's confirmation out (recorded in sent). 1 on success. */
static int raw_finish(raw *r, hub *h) {
    tidal__tcp_hello th;
    tidal__tcp_frame f;
    uint8_t k[64], conf[64];
    char why[200];
    if (!raw_need(r, h, 64 + TIDAL_TCP_FRAME_OVERHEAD)) return 0;
    TT_EQ_INT(tidal__tcp_hello_decode(r->in, 64, &th, why, sizeof why), 1);
    TT_CHECK(th.from == r->peer && th.to == r->self && th.cluster == r->cluster);
    tidal__tcp_keys(r->key, r->cluster, r->self, r->peer, r->nonce, th.nonce, k);
    memcpy(r->key_tx, k, 32);
    memcpy(r->key_rx, k + 32, 32);
    TT_EQ_INT(tidal__tcp_frame_decode(r->in + 64, r->in_len - 64, r->key_rx, 0, &f, why,
                                      sizeof why),
              TIDAL_TCP_FRAME_OVERHEAD);
    raw_consume(r, 64 + TIDAL_TCP_FRAME_OVERHEAD);
    r->seq_rx = 1;
    tidal__tcp_frame_put(conf, r->key_tx, 0, NULL, 0);
    memcpy(r->sent, conf, TIDAL_TCP_FRAME_OVERHEAD);
    r->sent_len = TIDAL_TCP_FRAME_OVERHEAD;
    raw_send(r, h, conf, TIDAL_TCP_FRAME_OVERHEAD);
    r->seq_tx = 1;
    return TT_OK();
}

/* One message frame (recorded in sent when it fits); its bytes into out. */
static size_t raw_frame(raw *r, uint8_t *out, tidal_node_ref from, tidal_node_ref to,
                        uint32_t tag, size_t len) {
    uint8_t m[4096];
    size_t n;
    mk_msg(m, len, from, to, tag);
    n = (size_t)(tidal__tcp_frame_put(out, r->key_tx, r->seq_tx++, m, (uint32_t)len) - out);
    if (r->sent_len + n <= sizeof r->sent) {
        memcpy(r->sent + r->sent_len, out, n);
        r->sent_len += n;
    }
    return n;
}

/* ---- Conditions ---- */

typedef struct want {
    const sink *s;
    int n;
    const tidal_tcp *t;
    const uint64_t *counter;  /* a field of st below, re-read each time */
    tidal_tcp_stats st;
    uint64_t at_least;
    size_t field;
} want;

static int got_n(void *arg) {
    want *w = (want *)arg;
    return w->s->n >= w->n;
}

/* A counter of the transport's stats at offset field reaches at_least. */
static int stat_reaches(void *arg) {
    want *w = (want *)arg;
    uint64_t v;
    tidal_tcp_stats_get(w->t, &w->st);
    memcpy(&v, (const char *)&w->st + w->field, sizeof v);
    return v >= w->at_least;
}

static int wait_stat(hub *h, const tidal_tcp *t, size_t field, uint64_t at_least) {
    want w;
    memset(&w, 0, sizeof w);
    w.t = t;
    w.field = field;
    w.at_least = at_least;
    return hub_until(h, stat_reaches, &w);
}
#define WAIT_STAT(h, t, f, v) wait_stat((h), (t), offsetof(tidal_tcp_stats, f), (v))

static int wait_got(hub *h, const sink *s, int n) {
    want w;
    memset(&w, 0, sizeof w);
    w.s = s;
    w.n = n;
    return hub_until(h, got_n, &w);
}

/* ---- Cases ---- */

/* Two transports, messages both ways, in order, intact; the lower node dialed (T1). */
static void t_two_way(void) {
    static sink sa, sb;
    tidal_node_ref a = node(0, 0), b = node(1, 0);
    tidal_tcp *ta = open_tcp(a, 1, 7, 0), *tb = open_tcp(b, 1, 7, 0);
    hub h;
    int k;
    if (!pair_link(&h, ta, a, &sa, tb, b, &sb)) goto out;
    for (k = 0; k < 200; k++) {
        TT_EQ_INT(send_msg(ta, a, b, (uint32_t)k, 24 + (size_t)k * 37), TIDAL_OK);
        TT_EQ_INT(send_msg(tb, b, a, (uint32_t)(1000 + k), 24 + (size_t)k), TIDAL_OK);
    }
    TT_EQ_INT(send_msg(ta, a, a, 5000, 30), TIDAL_OK); /* to itself: delivered too */
    TT_CHECK(wait_got(&h, &sb, 200) && wait_got(&h, &sa, 201));
    for (k = 0; k < 200 && TT_OK(); k++) {
        TT_CHECK(sb.tag[k] == (uint32_t)k && sb.from[k] == word(a));
        TT_CHECK(sb.len[k] == 24 + (uint32_t)k * 37);
    }
    for (k = 0; k < 201 && TT_OK(); k++)
        if (sa.tag[k] != 5000) TT_CHECK(sa.from[k] == word(b) && sa.tag[k] >= 1000);
    TT_CHECK(sa.bad == 0 && sb.bad == 0);
    TT_EQ_INT((int)stats(ta).dials, 1);   /* (0, 0) dials (1, 0)... */
    TT_EQ_INT((int)stats(tb).dials, 0);   /* ...which only accepts */
    TT_EQ_INT((int)stats(ta).connects, 1);
    TT_EQ_INT((int)stats(tb).connects, 1);
    TT_EQ_INT((int)stats(ta).frames_sent, 200);
    TT_EQ_INT((int)stats(tb).frames_received, 200);
    TT_EQ_INT((int)(stats(ta).drops_bad_mac + stats(tb).drops_bad_mac + stats(ta).drops_bad_frame +
                    stats(tb).drops_bad_frame + stats(ta).drops_identity), 0);
    /* Unknown node and an oversized message: refused at the sender, counted. */
    TT_EQ_INT(send_msg(ta, a, node(4, 4), 1, 24), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT((int)stats(ta).drops_unknown_peer, 1);
    {
        const tidal_env *e = tidal_tcp_env(ta);
        TT_EQ_INT(e->message_send(e->user, b, "x", (size_t)TIDAL_TCP_FRAME_MAX + 1),
                  TIDAL_ERR_LIMIT);
    }
out:
    tidal_tcp_close(ta);
    tidal_tcp_close(tb);
}

/* Feeds bytes to a connection without a socket (the path a read takes). */
static int feed(tidal_tcp *t, tidal__tcp_conn *c, const uint8_t *b, size_t n, sink *s) {
    TT_CHECK(tidal__tcp_reserve(t, &c->rbuf, &c->rcap, c->rlen + n + 1));
    memcpy(c->rbuf + c->rlen, b, n);
    c->rlen += n;
    return tidal__tcp_rx(t, c, on_msg, s);
}

/* The dialer's side of a stream to t (node 1.0) as node 0.0 after its hello: a
   confirmation and three messages, under the keys of c's nonce. */
static size_t dialer_stream(const uint8_t dnonce[32], const tidal__tcp_conn *c, uint8_t *out) {
    uint8_t k[64], m[600], *w = out;
    uint8_t key[32];
    int i;
    key_of(key, 1);
    tidal__tcp_keys(key, 7, word(node(0, 0)), word(node(1, 0)), dnonce, c->nonce, k);
    w = tidal__tcp_frame_put(w, k, 0, NULL, 0);
    for (i = 1; i <= 3; i++) {
        size_t len = mk_msg(m, 24 + (size_t)i * 150, node(0, 0), node(1, 0), (uint32_t)i);
        w = tidal__tcp_frame_put(w, k, (uint64_t)i, m, (uint32_t)len);
    }
    return (size_t)(w - out);
}

/* The stream split at every byte boundary (hello and frames alike), and fed one byte at a
   time: the same three messages, from 0.0, each time. */
static void t_split_every_byte(void) {
    static sink s;
    static uint8_t stream[4096];
    tidal_tcp *t = open_tcp(node(1, 0), 1, 7, 0);
    uint8_t hello[64], dnonce[32];
    size_t len = 0, k, j;
    int i;
    if (!t) return;
    link_to(t, node(0, 0), 9); /* lower: never dialed by 1.0 */
    memset(dnonce, 0x5A, 32);
    tidal__tcp_hello_put(hello, 7, word(node(0, 0)), word(node(1, 0)), dnonce);
    for (k = 0; k <= 64 && TT_OK(); k++) { /* the hello, split at k */
        tidal__tcp_conn *c = tidal__tcp_conn_new(t, -1, 0, -1);
        TT_CHECK(feed(t, c, hello, k, &s) && feed(t, c, hello + k, 64 - k, &s));
        TT_EQ_INT((int)c->state, TIDAL__TCP_CONFIRM);
        TT_EQ_INT((int)c->wlen, 64 + TIDAL_TCP_FRAME_OVERHEAD); /* its hello and confirmation */
        tidal__tcp_conn_close(t, c);
    }
    for (i = 0; i < 2 && TT_OK(); i++) {
        for (k = 0; k <= sizeof stream && TT_OK(); k++) {
            tidal__tcp_conn *c = tidal__tcp_conn_new(t, -1, 0, -1);
            memset(&s, 0, sizeof s);
            TT_CHECK(feed(t, c, hello, 64, &s));
            len = dialer_stream(dnonce, c, stream);
            if (k > len) {
                tidal__tcp_conn_close(t, c);
                break;
            }
            if (i == 0) { /* split at k */
                TT_CHECK(feed(t, c, stream, k, &s) && feed(t, c, stream + k, len - k, &s));
            } else { /* one byte at a time (k = 0 only) */
                for (j = 0; j < len; j++) TT_CHECK(feed(t, c, stream + j, 1, &s));
            }
            TT_EQ_INT(s.n, 3);
            TT_CHECK(s.n == 3 && s.tag[0] == 1 && s.tag[1] == 2 && s.tag[2] == 3 && !s.bad);
            TT_CHECK(s.from[0] == word(node(0, 0)) && c->state == TIDAL__TCP_OPEN);
            tidal__tcp_conn_close(t, c);
            if (i == 1) break;
        }
    }
    TT_EQ_INT((int)(stats(t).drops_bad_mac + stats(t).drops_bad_frame), 0);
    tidal_tcp_close(t);
}

/* Pure decoders: what they refuse names the field and its byte. */
static void t_decoders_say_where(void) {
    uint8_t hello[64], nonce[32], key[32], fr[200], m[64];
    tidal__tcp_hello h;
    tidal__tcp_frame f;
    char why[200];
    memset(nonce, 1, 32);
    key_of(key, 3);
    tidal__tcp_hello_put(hello, 9, 1, 2, nonce);
    TT_EQ_INT(tidal__tcp_hello_decode(hello, 63, &h, why, sizeof why), TIDAL__TCP_MORE);
    TT_EQ_INT(tidal__tcp_hello_decode(hello, 64, &h, why, sizeof why), 1);
    TT_CHECK(h.cluster == 9 && h.from == 1 && h.to == 2 && !memcmp(h.nonce, nonce, 32));
    hello[1] ^= 1;
    TT_EQ_INT(tidal__tcp_hello_decode(hello, 2, &h, why, sizeof why), TIDAL__TCP_BAD);
    TT_CHECKF(strstr(why, "magic at byte 1") != NULL, "%s", why);
    hello[1] ^= 1;
    hello[4] = 9;
    TT_EQ_INT(tidal__tcp_hello_decode(hello, 64, &h, why, sizeof why), TIDAL__TCP_BAD);
    TT_CHECKF(strstr(why, "version 9 at byte 4") != NULL, "%s", why);
    hello[4] = 1;
    hello[62] = 1;
    TT_EQ_INT(tidal__tcp_hello_decode(hello, 64, &h, why, sizeof why), TIDAL__TCP_BAD);
    TT_CHECKF(strstr(why, "padding at byte 60") != NULL, "%s", why);
    mk_msg(m, 40, node(0, 0), node(0, 1), 1);
    tidal__tcp_frame_put(fr, key, 5, m, 40);
    TT_EQ_INT(tidal__tcp_frame_decode(fr, 83, key, 5, &f, why, sizeof why), TIDAL__TCP_MORE);
    TT_EQ_INT(tidal__tcp_frame_decode(fr, 84, key, 5, &f, why, sizeof why), 84);
    TT_EQ_INT(tidal__tcp_frame_decode(fr, 84, key, 6, &f, why, sizeof why), TIDAL__TCP_BAD);
    TT_CHECKF(strstr(why, "sequence 5 at byte 4") != NULL, "%s", why);
    fr[20] ^= 1;
    TT_EQ_INT(tidal__tcp_frame_decode(fr, 84, key, 5, &f, why, sizeof why), TIDAL__TCP_BAD_MAC);
    TT_CHECKF(strstr(why, "MAC mismatch at byte 52") != NULL, "%s", why);
    tidal__wr_le(fr, (uint64_t)TIDAL_TCP_FRAME_MAX + 1, 4);
    TT_EQ_INT(tidal__tcp_frame_decode(fr, 4, key, 5, &f, why, sizeof why), TIDAL__TCP_BAD);
    TT_CHECKF(strstr(why, "above TIDAL_TCP_FRAME_MAX") != NULL, "%s", why);
    TT_EQ_INT(tidal__tcp_envelope_check(m, 40, word(node(0, 0)), word(node(0, 1)), why,
                                        sizeof why), 1);
    TT_EQ_INT(tidal__tcp_envelope_check(m, 40, word(node(2, 0)), word(node(0, 1)), why,
                                        sizeof why), TIDAL__TCP_BAD_NODE);
    TT_CHECKF(strstr(why, "from 0.0 at byte 12") != NULL, "%s", why);
    TT_EQ_INT(tidal__tcp_envelope_check(m, 19, 0, 1, why, sizeof why), TIDAL__TCP_BAD);
}

/* A transport (node 9.0: it only accepts) and its hub. */
typedef struct server {
    tidal_tcp *t;
    sink s;
    hub h;
} server;

static void server_open(server *sv, uint64_t queue) {
    int r;
    memset(sv, 0, sizeof *sv);
    sv->t = open_tcp(node(9, 0), 1, 7, queue);
    for (r = 0; r < 3 && sv->t; r++) link_to(sv->t, node(r, 0), 9); /* lower: never dialed */
    sv->h.t[0] = sv->t;
    sv->h.s[0] = &sv->s;
    sv->h.n = sv->t ? 1 : 0;
    sv->h.extra_fd = -1;
}

/* Garbage, a bad hello version, a frame length above the maximum: each closes its
   connection, counted as a bad frame, the reason naming where; nothing delivered. */
static void t_garbage(void) {
    static server sv;
    raw r;
    uint8_t b[64];
    server_open(&sv, 0);
    if (!sv.t) return;
    if (raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        raw_send(&r, &sv.h, "GET / HTTP/1.0\r\n\r\n", 18);
        TT_CHECK(raw_closed_by_peer(&r, &sv.h));
        TT_EQ_INT((int)stats(sv.t).drops_bad_frame, 1);
        TT_CHECKF(strstr(tidal_tcp_errmsg(sv.t), "hello: bad magic at byte 0") != NULL, "%s",
                  tidal_tcp_errmsg(sv.t));
    }
    raw_close(&r);
    if (raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        tidal__tcp_hello_put(b, 7, r.self, r.peer, r.nonce);
        b[4] = 2;
        raw_send(&r, &sv.h, b, 64);
        TT_CHECK(raw_closed_by_peer(&r, &sv.h));
        TT_EQ_INT((int)stats(sv.t).drops_bad_frame, 2);
        TT_CHECKF(strstr(tidal_tcp_errmsg(sv.t), "version 2 at byte 4") != NULL, "%s",
                  tidal_tcp_errmsg(sv.t));
    }
    raw_close(&r);
    if (raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        raw_hello(&r, &sv.h);
        if (raw_finish(&r, &sv.h)) {
            tidal__wr_le(b, (uint64_t)TIDAL_TCP_FRAME_MAX + 1, 4);
            raw_send(&r, &sv.h, b, 4);
            TT_CHECK(raw_closed_by_peer(&r, &sv.h));
            TT_EQ_INT((int)stats(sv.t).drops_bad_frame, 3);
            TT_CHECKF(strstr(tidal_tcp_errmsg(sv.t), "above TIDAL_TCP_FRAME_MAX") != NULL, "%s",
                      tidal_tcp_errmsg(sv.t));
        }
    }
    raw_close(&r);
    TT_EQ_INT(sv.s.n, 0);
    TT_EQ_INT((int)stats(sv.t).delivered, 0);
    tidal_tcp_close(sv.t);
}

/* A node with another cluster key: the confirmations fail their MACs on both sides; one
   with another cluster id: refused at the hello. Nothing delivered either way. */
static void t_wrong_key_or_cluster(void) {
    static sink sa, sb, sc;
    tidal_node_ref a = node(0, 0), b = node(1, 0), c = node(2, 0);
    tidal_tcp *ta = open_tcp(a, 1, 7, 0), *tb = open_tcp(b, 2, 7, 0), *tc = open_tcp(c, 1, 8, 0);
    hub h;
    int k;
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    memset(&sc, 0, sizeof sc);
    if (!ta || !tb || !tc) goto out;
    link_to(ta, b, tidal_tcp_port(tb));
    link_to(ta, c, tidal_tcp_port(tc));
    link_to(tb, a, tidal_tcp_port(ta));
    link_to(tc, a, tidal_tcp_port(ta));
    memset(&h, 0, sizeof h);
    h.t[0] = ta, h.s[0] = &sa, h.t[1] = tb, h.s[1] = &sb, h.t[2] = tc, h.s[2] = &sc;
    h.n = 3, h.extra_fd = -1;
    for (k = 0; k < 5; k++) {
        (void)send_msg(ta, a, b, (uint32_t)k, 40);
        (void)send_msg(ta, a, c, (uint32_t)k, 40);
        (void)send_msg(tb, b, a, (uint32_t)k, 40);
        (void)send_msg(tc, c, a, (uint32_t)k, 40);
    }
    TT_CHECK(WAIT_STAT(&h, ta, drops_bad_mac, 2) && WAIT_STAT(&h, tb, drops_bad_mac, 2));
    TT_CHECK(WAIT_STAT(&h, tc, drops_wrong_cluster, 2));
    TT_CHECKF(strstr(tidal_tcp_errmsg(tc), "cluster id 7 at byte 12, this is 8") != NULL, "%s",
              tidal_tcp_errmsg(tc));
    TT_CHECK(strstr(tidal_tcp_errmsg(tb), "MAC mismatch") != NULL);
    TT_EQ_INT(sa.n + sb.n + sc.n, 0);
    TT_EQ_INT((int)(stats(ta).connects + stats(tb).connects + stats(tc).connects), 0);
    TT_CHECK(stats(ta).dials >= 4); /* it keeps trying, backing off */
out:
    tidal_tcp_close(ta);
    tidal_tcp_close(tb);
    tidal_tcp_close(tc);
}

/* A confirmation and a frame captured from one connection and replayed on a new one fail
   their MAC (the keys are the connection's); a frame replayed on its own connection is
   out of sequence. Only the original is delivered. */
static void t_replay(void) {
    static server sv;
    raw r, r2;
    uint8_t fr[512], old[8192];
    size_t n, old_len = 0;
    server_open(&sv, 0);
    if (!sv.t) return;
    if (raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        raw_hello(&r, &sv.h);
        if (raw_finish(&r, &sv.h)) {
            n = raw_frame(&r, fr, node(0, 0), node(9, 0), 11, 100);
            raw_send(&r, &sv.h, fr, n);
            TT_CHECK(wait_got(&sv.h, &sv.s, 1));
            memcpy(old, r.sent, r.sent_len);
            old_len = r.sent_len;
            raw_send(&r, &sv.h, fr, n); /* the same frame again, same connection */
            TT_CHECK(raw_closed_by_peer(&r, &sv.h));
            TT_EQ_INT((int)stats(sv.t).drops_bad_frame, 1);
            TT_CHECKF(strstr(tidal_tcp_errmsg(sv.t), "sequence 1 at byte 4 where 2 was due") !=
                          NULL, "%s", tidal_tcp_errmsg(sv.t));
        }
    }
    raw_close(&r);
    if (old_len && raw_connect(&r2, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        raw_hello(&r2, &sv.h);
        TT_CHECK(raw_need(&r2, &sv.h, 64 + TIDAL_TCP_FRAME_OVERHEAD));
        raw_send(&r2, &sv.h, old, old_len); /* the old confirmation and frame */
        TT_CHECK(raw_closed_by_peer(&r2, &sv.h));
        TT_EQ_INT((int)stats(sv.t).drops_bad_mac, 1);
    }
    raw_close(&r2);
    TT_EQ_INT(sv.s.n, 1);
    TT_CHECK(sv.s.tag[0] == 11);
    tidal_tcp_close(sv.t);
}

/* Claimed identities that do not fit: a node not in the table, this node itself, a hello
   to another node (each refused at the hello), and on an authenticated connection of 0.0 a
   message whose envelope says 1.0, or to another node (dropped, the connection kept). */
static void t_identity(void) {
    static server sv;
    raw r;
    uint8_t fr[512];
    size_t n;
    int k;
    static const int claims[3][2] = {{5, 5}, {9, 0}, {0, 0}}; /* from; the last: to 3.3 */
    server_open(&sv, 0);
    if (!sv.t) return;
    for (k = 0; k < 3 && TT_OK(); k++) {
        tidal_node_ref to = k == 2 ? node(3, 3) : node(9, 0);
        if (!raw_connect(&r, tidal_tcp_port(sv.t), node(claims[k][0], claims[k][1]), to, 7, 1))
            break;
        raw_hello(&r, &sv.h);
        TT_CHECK(raw_closed_by_peer(&r, &sv.h));
        TT_EQ_INT((int)stats(sv.t).drops_identity, k + 1);
        TT_CHECKF(strstr(tidal_tcp_errmsg(sv.t), k == 2 ? "to 3.3 at byte 24" : "at byte 20"),
                  "%s", tidal_tcp_errmsg(sv.t));
        raw_close(&r);
    }
    if (raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        raw_hello(&r, &sv.h);
        if (raw_finish(&r, &sv.h)) {
            n = raw_frame(&r, fr, node(1, 0), node(9, 0), 21, 64); /* claims 1.0 */
            raw_send(&r, &sv.h, fr, n);
            n = raw_frame(&r, fr, node(0, 0), node(2, 0), 22, 64); /* to 2.0 */
            raw_send(&r, &sv.h, fr, n);
            n = raw_frame(&r, fr, node(0, 0), node(9, 0), 23, 64); /* fits */
            raw_send(&r, &sv.h, fr, n);
            TT_CHECK(wait_got(&sv.h, &sv.s, 1));
            TT_EQ_INT((int)stats(sv.t).drops_identity, 5);
            TT_CHECK(sv.s.n == 1 && sv.s.tag[0] == 23 && sv.s.from[0] == word(node(0, 0)));
        }
    }
    raw_close(&r);
    tidal_tcp_close(sv.t);
}

/* A peer that stops reading: sends never block, the queue fills and drops are counted;
   once it reads, every message accepted arrives in sequence and later traffic flows. */
static void t_slow_reader(void) {
    static server sv;
    static uint8_t big[65536];
    static uint32_t taken[2000];
    raw r;
    int k, ok = 0, full = 0;
    int64_t start;
    tidal_tcp_peer_info pi;
    server_open(&sv, 1 << 20);
    if (!sv.t) return;
    if (!raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) goto out;
    raw_hello(&r, &sv.h);
    if (!raw_finish(&r, &sv.h)) goto out;
    TT_CHECK(WAIT_STAT(&sv.h, sv.t, connects, 1));
    start = now_ms();
    for (k = 0; k < 2000 && full < 20 && TT_OK(); k++) {
        tidal_result res = send_msg(sv.t, node(9, 0), node(0, 0), (uint32_t)k, sizeof big);
        if (res == TIDAL_OK) {
            taken[ok++] = (uint32_t)k; /* refusals leave gaps: the kernel drains meanwhile */
        } else {
            TT_EQ_INT(res, TIDAL_ERR_LIMIT);
            full++;
        }
        hub_round(&sv.h, 0);
    }
    TT_CHECK(full == 20);
    TT_EQ_INT((int)stats(sv.t).drops_queue_full, 20);
    TT_EQ_INT(tidal_tcp_peer_get(sv.t, node(0, 0), &pi), TIDAL_OK);
    TT_CHECK(pi.connected && pi.queued_bytes > 0 && pi.drops_queue_full == 20);
    printf("  slow reader: %d messages of 64 KiB taken, 20 refused, in %lld ms\n", ok,
           (long long)(now_ms() - start));
    (void)big;
    /* Now it reads: each frame in sequence, exactly the ones taken, then one more. */
    for (k = 0; k <= ok && TT_OK(); k++) {
        tidal__tcp_frame f;
        char why[200];
        long got;
        if (k == ok) TT_EQ_INT(send_msg(sv.t, node(9, 0), node(0, 0), 99999, 100), TIDAL_OK);
        TT_CHECK(raw_need(&r, &sv.h, 4));
        if (!TT_OK()) break;
        TT_CHECK(raw_need(&r, &sv.h, tidal__rd_le_at4(r.in) + (size_t)TIDAL_TCP_FRAME_OVERHEAD));
        got = tidal__tcp_frame_decode(r.in, r.in_len, r.key_rx, r.seq_rx, &f, why, sizeof why);
        TT_CHECKF(got > 0, "frame %d: %s", k, why);
        if (got <= 0) break;
        TT_EQ_INT((int)tidal__rd_le_at4(f.payload + 20), k == ok ? 99999 : (int)taken[k]);
        r.seq_rx++;
        raw_consume(&r, (size_t)got);
    }
out:
    raw_close(&r);
    tidal_tcp_close(sv.t);
}

/* A peer that dies mid-frame and comes back: the whole frames before are delivered, the
   partial one is discarded and counted, the new connection's frames are delivered. */
static void t_restart_mid_frame(void) {
    static server sv;
    raw r;
    uint8_t fr[1024];
    size_t n;
    server_open(&sv, 0);
    if (!sv.t) return;
    if (raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        raw_hello(&r, &sv.h);
        if (raw_finish(&r, &sv.h)) {
            n = raw_frame(&r, fr, node(0, 0), node(9, 0), 1, 300);
            raw_send(&r, &sv.h, fr, n);
            n = raw_frame(&r, fr, node(0, 0), node(9, 0), 2, 300);
            raw_send(&r, &sv.h, fr, n / 2); /* cut in the middle */
            TT_CHECK(wait_got(&sv.h, &sv.s, 1));
        }
    }
    raw_close(&r); /* the process "dies" */
    TT_CHECK(WAIT_STAT(&sv.h, sv.t, drops_partial, 1));
    TT_EQ_INT((int)stats(sv.t).disconnects, 1);
    if (raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) {
        raw_hello(&r, &sv.h);
        if (raw_finish(&r, &sv.h)) {
            n = raw_frame(&r, fr, node(0, 0), node(9, 0), 3, 300);
            raw_send(&r, &sv.h, fr, n);
            TT_CHECK(wait_got(&sv.h, &sv.s, 2));
        }
    }
    raw_close(&r);
    TT_CHECK(sv.s.n == 2 && sv.s.tag[0] == 1 && sv.s.tag[1] == 3 && !sv.s.bad);
    TT_EQ_INT((int)stats(sv.t).reconnects, 1);
    TT_EQ_INT((int)(stats(sv.t).drops_bad_mac + stats(sv.t).drops_bad_frame), 0);
    tidal_tcp_close(sv.t);
}

/* Three connections at once, their handshakes and frames interleaved a few bytes at a
   time: each connection's messages arrive whole, in order, from its own node. */
static void t_interleaved(void) {
    static server sv;
    static raw r[3];
    static uint8_t out[3][8192];
    size_t len[3] = {0, 0, 0}, off[3] = {0, 0, 0};
    int i, k, left = 1;
    server_open(&sv, 0);
    if (!sv.t) return;
    for (i = 0; i < 3; i++)
        if (!raw_connect(&r[i], tidal_tcp_port(sv.t), node(i, 0), node(9, 0), 7, 1)) goto out;
    for (i = 0; i < 3; i++) { /* hellos a byte at a time, in turn */
        tidal__tcp_hello_put(out[i], 7, r[i].self, r[i].peer, r[i].nonce);
    }
    for (k = 0; k < 64; k++)
        for (i = 0; i < 3; i++) raw_send(&r[i], &sv.h, out[i] + k, 1);
    for (i = 0; i < 3; i++) {
        if (!raw_need(&r[i], &sv.h, 64 + TIDAL_TCP_FRAME_OVERHEAD)) goto out;
    }
    for (i = 0; i < 3; i++) { /* finish each handshake (the confirmations go out) */
        uint8_t *saved = r[i].in;
        (void)saved;
        TT_CHECK(raw_finish(&r[i], &sv.h));
    }
    for (i = 0; i < 3; i++)
        for (k = 0; k < 10; k++)
            len[i] += raw_frame(&r[i], out[i] + len[i], node(i, 0), node(9, 0),
                                (uint32_t)(i * 100 + k), 24 + (size_t)(k * 13));
    while (left && TT_OK()) { /* 7 bytes of each in turn */
        left = 0;
        for (i = 0; i < 3; i++) {
            size_t c = len[i] - off[i] < 7 ? len[i] - off[i] : 7;
            if (c) raw_send(&r[i], &sv.h, out[i] + off[i], c), off[i] += c, left = 1;
            hub_round(&sv.h, 0);
        }
    }
    TT_CHECK(wait_got(&sv.h, &sv.s, 30));
    for (i = 0; i < 3; i++) {
        int seen = 0;
        for (k = 0; k < sv.s.n; k++)
            if (sv.s.from[k] == word(node(i, 0))) {
                TT_EQ_INT((int)sv.s.tag[k], i * 100 + seen);
                seen++;
            }
        TT_EQ_INT(seen, 10);
    }
    TT_CHECK(!sv.s.bad);
out:
    for (i = 0; i < 3; i++) raw_close(&r[i]);
    tidal_tcp_close(sv.t);
}

/* A peer that goes away while frames are on their way to it (SIGPIPE is at its default in
   this program: a send without MSG_NOSIGNAL would kill it): the connection is counted
   closed, the frames it held counted dropped, and the process lives on. */
static void t_no_sigpipe(void) {
    static server sv;
    raw r;
    int k;
    server_open(&sv, 8u << 20);
    if (!sv.t) return;
    if (!raw_connect(&r, tidal_tcp_port(sv.t), node(0, 0), node(9, 0), 7, 1)) goto out;
    raw_hello(&r, &sv.h);
    if (!raw_finish(&r, &sv.h)) goto out;
    TT_CHECK(WAIT_STAT(&sv.h, sv.t, connects, 1));
    for (k = 0; k < 100; k++) (void)send_msg(sv.t, node(9, 0), node(0, 0), (uint32_t)k, 65536);
    hub_round(&sv.h, 0);
    /* Reads what is there and closes cleanly (no unread data: a FIN, no reset), so the
       transport's next sends hit a closed socket: EPIPE. */
    while (recv(r.fd, r.in, 1 << 22, MSG_DONTWAIT) > 0) {}
    shutdown(r.fd, SHUT_RDWR);
    while (recv(r.fd, r.in, 1 << 22, MSG_DONTWAIT) > 0) {}
    raw_close(&r);
    for (k = 0; k < 100 && stats(sv.t).disconnects == 0; k++) {
        (void)send_msg(sv.t, node(9, 0), node(0, 0), (uint32_t)k, 65536);
        tidal__tcp_flush_all(sv.t); /* writes before any read sees the close */
    }
    TT_CHECK(WAIT_STAT(&sv.h, sv.t, disconnects, 1));
    TT_CHECK(stats(sv.t).drops_closed > 0);
out:
    raw_close(&r);
    tidal_tcp_close(sv.t);
}

/* A peer that restarts (its transport closed and opened again on the same port): the
   dialer sees the close, its redials fail while the port is dark (backing off), then it
   connects again (counted a reconnect) and what was queued meanwhile arrives. */
static void t_reconnect(void) {
    static sink sa, sb;
    tidal_node_ref a = node(0, 0), b = node(1, 0);
    tidal_tcp *ta = open_tcp(a, 1, 7, 0), *tb = open_tcp(b, 1, 7, 0);
    tidal_tcp_config cfg;
    char listen[64], msg[256];
    uint16_t port;
    hub h;
    int k;
    if (!pair_link(&h, ta, a, &sa, tb, b, &sb)) goto out;
    port = tidal_tcp_port(tb);
    TT_EQ_INT(send_msg(ta, a, b, 1, 50), TIDAL_OK);
    TT_CHECK(wait_got(&h, &sb, 1));
    tidal_tcp_close(tb); /* the peer goes away */
    tb = NULL;
    h.n = 1;
    TT_CHECK(WAIT_STAT(&h, ta, disconnects, 1));
    TT_CHECK(WAIT_STAT(&h, ta, dial_failures, 2)); /* refused while it is down */
    for (k = 2; k <= 10; k++) TT_EQ_INT(send_msg(ta, a, b, (uint32_t)k, 50), TIDAL_OK);
    memset(&cfg, 0, sizeof cfg);
    cfg.self = b;
    key_of(cfg.cluster_key, 1);
    cfg.cluster_id = 7;
    snprintf(listen, sizeof listen, "127.0.0.1:%u", (unsigned)port);
    cfg.listen = listen;
    TT_EQ_INT(tidal_tcp_open(&cfg, &tb, msg, sizeof msg), TIDAL_OK);
    if (!tb) goto out;
    link_to(tb, a, tidal_tcp_port(ta));
    h.t[1] = tb, h.n = 2;
    TT_CHECK(wait_got(&h, &sb, 10));
    for (k = 1; k < 10 && TT_OK(); k++) TT_EQ_INT((int)sb.tag[k], k + 1);
    TT_EQ_INT((int)stats(ta).reconnects, 1);
    TT_EQ_INT((int)stats(ta).connects, 2);
out:
    tidal_tcp_close(ta);
    tidal_tcp_close(tb);
}

/* ---- Three tidal_peers over three transports ---- */

typedef struct cl {
    tidal_tcp *t[3];
    tidal_peer *p[3];
    char dir[3][64];
    tidal_peer_completion got[64];
    int got_node[64], n_got;
} cl;

static void cl_deliver(void *ctx, tidal_node_ref from, const void *bytes, size_t len) {
    (void)tidal_peer_receive((tidal_peer *)ctx, from, bytes, len); /* refusals are counted */
}

static void cl_round(cl *c, int wait_ms) {
    struct pollfd fds[3 * 8];
    size_t at[4], n = 0, k;
    int i, wait = wait_ms;
    for (i = 0; i < 3; i++) {
        int w = wait_ms;
        at[i] = n;
        TT_EQ_INT(tidal_tcp_pollfds(c->t[i], fds + n, 8, &k, &w), TIDAL_OK);
        n += k;
        if (w < wait) wait = w;
    }
    at[3] = n;
    (void)poll(fds, (nfds_t)n, wait);
    for (i = 0; i < 3; i++) {
        tidal_peer_completion pc;
        tidal_tcp_handle(c->t[i], fds + at[i], at[i + 1] - at[i], cl_deliver, c->p[i]);
        (void)tidal_peer_tick(c->p[i]);
        while (tidal_peer_poll(c->p[i], &pc) == TIDAL_OK && c->n_got < 64) {
            c->got[c->n_got] = pc;
            c->got_node[c->n_got++] = i;
        }
    }
}

static const tidal_peer_completion *cl_await(cl *c, int i, uint64_t ticket) {
    int64_t end = now_ms() + WAIT_MS;
    int k;
    for (;;) {
        for (k = 0; k < c->n_got; k++)
            if (c->got_node[k] == i && c->got[k].ticket == ticket) return &c->got[k];
        if (now_ms() > end || !TT_OK()) return NULL;
        cl_round(c, 5);
    }
}

/* The control-plane leader once every node knows it; -1 before. */
static int cl_control_leader(cl *c) {
    int i, l = -1;
    for (i = 0; i < 3; i++) {
        tidal_control_status st;
        tidal_control_status_get(tidal_peer_control(c->p[i]), &st);
        if (!st.has_leader || (l >= 0 && l != st.leader.region)) return -1;
        l = st.leader.region;
    }
    return l;
}

static int cl_group_leader(cl *c) {
    int i;
    for (i = 0; i < 3; i++) {
        tidal_node_status st;
        if (tidal_node_status_get(tidal_peer_member(c->p[i], 0), &st) == TIDAL_OK &&
            st.role == TIDAL_ROLE_LEADER)
            return i;
    }
    return -1;
}

static uint64_t cl_views(cl *c, int i, tidal_id item) {
    tidal_signal_stats st;
    memset(&st, 0, sizeof st);
    if (tidal_signal_read(tidal_peer_member(c->p[i], 0), 1, item, 0, NULL, 0, &st) != TIDAL_OK)
        return 0;
    return st.count[TIDAL_W_ALL];
}

/* Rounds until item has n views on every node of mask; 0 after WAIT_MS. */
static int cl_until_views(cl *c, tidal_id item, uint64_t n, int mask) {
    int64_t end = now_ms() + WAIT_MS;
    for (;;) {
        int i, all = 1;
        for (i = 0; i < 3; i++)
            if ((mask >> i & 1) && cl_views(c, i, item) != n) all = 0;
        if (all) return 1;
        if (now_ms() > end || !TT_OK()) return 0;
        cl_round(c, 5);
    }
}

static void cl_propose(cl *c, int i, const tidal_control_record *rec) {
    uint64_t t = 0;
    const tidal_peer_completion *pc;
    TT_EQ_INT(tidal_peer_propose(c->p[i], rec, &t), TIDAL_OK);
    pc = cl_await(c, i, t);
    TT_CHECKF(pc && pc->outcome == TIDAL_PEER_DONE_OK, "propose: %s", pc ? pc->message : "none");
}

static const tidal_peer_completion *cl_write(cl *c, int i, tidal_id item) {
    tidal_signal s;
    uint64_t t = 0;
    memset(&s, 0, sizeof s);
    s.tenant = 1;
    s.item = item;
    s.weight = 1;
    TT_EQ_INT(tidal_peer_signal_write(c->p[i], &s, TIDAL_ACK_QUORUM, &t), TIDAL_OK);
    return cl_await(c, i, t);
}

static void t_three_peers(void) {
    static cl c;
    static tidal_signal_def sig[1];
    tidal_peer_group g;
    tidal_control_record rec;
    const tidal_peer_completion *pc;
    int i, j, l, x, rounds = 0;
    int64_t end, t0 = now_ms();
    memset(&c, 0, sizeof c);
    sig[0].name = "view";
    sig[0].half_life_s = 3600;
    g.id = 0, g.placement = 0;
    for (i = 0; i < 3; i++) {
        snprintf(c.dir[i], sizeof c.dir[i], "/tmp/tidal_tcp_XXXXXX");
        TT_CHECK(mkdtemp(c.dir[i]) != NULL);
        c.t[i] = open_tcp(node(i, 0), 4, 99, 0);
        if (!c.t[i]) goto out;
    }
    for (i = 0; i < 3; i++)
        for (j = 0; j < 3; j++)
            if (i != j) link_to(c.t[i], node(j, 0), tidal_tcp_port(c.t[j]));
    for (i = 0; i < 3; i++) {
        tidal_peer_config cfg;
        char msg[300];
        tidal_result r;
        memset(&cfg, 0, sizeof cfg);
        cfg.env = tidal_tcp_env(c.t[i]);
        cfg.path = c.dir[i];
        cfg.self = node(i, 0);
        cfg.regions = 3;
        cfg.shards = 1;
        cfg.groups = &g;
        cfg.group_count = 1;
        cfg.member.schema.signals = sig;
        cfg.member.schema.signal_count = 1;
        cfg.member.group_bootstrap = 1;
        cfg.control_election_timeout_ns = 300 * INT64_C(1000000);
        r = tidal_peer_open(&cfg, &c.p[i], msg, sizeof msg);
        TT_CHECKF(r == TIDAL_OK, "peer %d: %s %s", i, tidal_strerror(r), msg);
        if (r != TIDAL_OK) goto out;
    }
    end = now_ms() + WAIT_MS;
    while ((l = cl_control_leader(&c)) < 0 && now_ms() < end) cl_round(&c, 5), rounds++;
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    memset(&rec, 0, sizeof rec);
    rec.kind = TIDAL_CONTROL_TOPOLOGY, rec.regions = 3, rec.shards = 1;
    cl_propose(&c, (l + 1) % 3, &rec); /* from a follower: forwarded to the leader */
    memset(&rec, 0, sizeof rec);
    rec.kind = TIDAL_CONTROL_PLACEMENT, rec.tenant = 1;
    cl_propose(&c, l, &rec);
    memset(&rec, 0, sizeof rec);
    rec.kind = TIDAL_CONTROL_TENANT, rec.tenant = 1, rec.state = TIDAL_TENANT_ACTIVE;
    rec.rate_per_s = 1000;
    cl_propose(&c, l, &rec);
    pc = cl_write(&c, 1, 7);
    TT_CHECKF(pc && pc->outcome == TIDAL_PEER_DONE_OK && pc->acked == TIDAL_ACK_QUORUM,
              "write: %s", pc ? pc->message : "none");
    TT_CHECK(cl_until_views(&c, 7, 1, 7));
    /* Cut one node that does not lead group 0 off both others, at its own transport. */
    l = cl_group_leader(&c);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    x = (l + 1) % 3 == cl_control_leader(&c) ? (l + 2) % 3 : (l + 1) % 3;
    for (j = 0; j < 3; j++)
        if (j != x) TT_EQ_INT(tidal_tcp_block(c.t[x], node(j, 0), 1), TIDAL_OK);
    pc = cl_write(&c, l, 8);
    TT_CHECKF(pc && pc->outcome == TIDAL_PEER_DONE_OK && pc->acked == TIDAL_ACK_QUORUM,
              "write while cut: %s", pc ? pc->message : "none");
    TT_CHECK(cl_until_views(&c, 8, 1, 7 & ~(1 << x)));
    TT_EQ_INT((int)cl_views(&c, x, 8), 0); /* nothing crossed the cut */
    TT_CHECK(stats(c.t[x]).drops_blocked > 0);
    for (j = 0; j < 3; j++)
        if (j != x) TT_EQ_INT(tidal_tcp_block(c.t[x], node(j, 0), 0), TIDAL_OK);
    TT_CHECK(cl_until_views(&c, 8, 1, 7));
    TT_CHECK(cl_until_views(&c, 7, 1, 7));
    for (i = 0; i < 3; i++) {
        tidal_tcp_stats s = stats(c.t[i]);
        TT_EQ_INT((int)(s.drops_bad_mac + s.drops_bad_frame + s.drops_identity +
                        s.drops_wrong_cluster), 0);
        TT_CHECK(s.delivered > 0);
    }
    printf("  three peers: leader after %d rounds, whole case %lld ms\n", rounds,
           (long long)(now_ms() - t0));
out:
    for (i = 0; i < 3; i++) {
        char cmd[128];
        tidal_peer_close(c.p[i]);
        tidal_tcp_close(c.t[i]);
        if (c.dir[i][0] && strncmp(c.dir[i], "/tmp/tidal_tcp_", 15) == 0) {
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", c.dir[i]);
            TT_EQ_INT(system(cmd), 0);
        }
    }
}

/* One-way throughput on loopback (printed, never asserted): N messages of 200 bytes. */
static void t_throughput(void) {
    static sink sa, sb;
    tidal_node_ref a = node(0, 0), b = node(1, 0);
    tidal_tcp *ta = open_tcp(a, 1, 7, 64u << 20), *tb = open_tcp(b, 1, 7, 0);
    hub h;
    int k, n = 200000;
    int64_t t0;
    if (!pair_link(&h, ta, a, &sa, tb, b, &sb)) goto out;
    TT_CHECK(WAIT_STAT(&h, ta, connects, 1));
    t0 = now_ms();
    for (k = 0; k < n && TT_OK(); k++) {
        tidal_result r = send_msg(ta, a, b, (uint32_t)k, 200);
        if (r != TIDAL_OK) { /* the queue is full: let it drain */
            hub_round(&h, 1);
            k--;
            continue;
        }
        if (k % 256 == 255) hub_round(&h, 0);
    }
    {
        int64_t end = now_ms() + 4 * WAIT_MS;
        while (stats(tb).delivered < (uint64_t)n && now_ms() < end && TT_OK()) hub_round(&h, 1);
    }
    TT_EQ_INT((int)stats(tb).delivered, n);
    printf("  throughput: %d messages of 200 bytes one way in %lld ms: %.0f messages/s\n", n,
           (long long)(now_ms() - t0), n * 1000.0 / (double)(now_ms() - t0 + 1));
out:
    tidal_tcp_close(ta);
    tidal_tcp_close(tb);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_decoders_say_where), TT_CASE(t_two_way),      TT_CASE(t_split_every_byte),
    TT_CASE(t_garbage),            TT_CASE(t_wrong_key_or_cluster), TT_CASE(t_replay),
    TT_CASE(t_identity),           TT_CASE(t_slow_reader),  TT_CASE(t_restart_mid_frame),
    TT_CASE(t_interleaved),        TT_CASE(t_no_sigpipe),   TT_CASE(t_reconnect),
    TT_CASE(t_three_peers),
    TT_CASE(t_throughput),
};

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_DFL); /* the default: a send without MSG_NOSIGNAL would kill us */
    return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases));
}
