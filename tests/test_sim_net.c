/* test_sim_net.c - the simulated network of tidal_sim.h (FAULT MODEL N1-N9): latencies stay
   inside each link kind's range, delivery follows (time, seq) exactly, the same seed gives
   the same delivery trace (hashed with BLAKE3), loss / duplication / reorder / corruption
   happen at their configured rates, partitions cut exactly the links they name and heal,
   a partition that starts while a message is in flight drops it, down nodes neither send
   nor receive, limits drop and count, oversize sends are refused, the env's message_send
   goes through the net, and no stream shifts another (loss vs latency, disk vs network). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS (INT64_C(1000000))
#define RWC (TIDAL_OPEN_READ | TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE)

/* ---- helpers ------------------------------------------------------------------------- */

static tidal_node_ref nd(unsigned region, unsigned shard) {
    tidal_node_ref n;
    n.region = (uint16_t)region;
    n.shard = (uint16_t)shard;
    return n;
}

static int same_node(tidal_node_ref a, tidal_node_ref b) {
    return a.region == b.region && a.shard == b.shard;
}

/* The bytes of test message `id`: a pure function of id, so a receiver can check them. */
static void payload(uint64_t id, uint8_t *buf, size_t len) {
    uint64_t s = id * 7919 + 1;
    size_t i;
    for (i = 0; i < len; i++) buf[i] = (uint8_t)tt_next(&s);
    if (len >= 8)
        for (i = 0; i < 8; i++) buf[i] = (uint8_t)(id >> (8 * i));
}

static uint64_t payload_id(const uint8_t *buf) {
    uint64_t id = 0;
    int i;
    for (i = 0; i < 8; i++) id |= (uint64_t)buf[i] << (8 * i);
    return id;
}

static void send_ok(tidal_sim_net *net, tidal_node_ref from, tidal_node_ref to, uint64_t id,
                    size_t len, int64_t now) {
    uint8_t buf[256];
    TT_CHECK(len <= sizeof buf);
    payload(id, buf, len);
    TT_EQ_INT(tidal_sim_net_send(net, from, to, buf, len, now), TIDAL_OK);
}

static tidal_sim_net_stats stats_of(const tidal_sim_net *net) {
    tidal_sim_net_stats s;
    tidal_sim_net_stats_get(net, &s);
    return s;
}

/* Pops everything that will ever arrive (pop at the end of time) and frees it. */
static uint32_t drain(tidal_sim_net *net) {
    tidal_sim_msg m;
    uint32_t n = 0;
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        tidal_sim_msg_free(&m);
        n++;
    }
    TT_EQ_INT(tidal_sim_net_next_ns(net), INT64_MAX);
    return n;
}

/* Bits that differ between two buffers of the same length. */
static unsigned bit_diff(const uint8_t *a, const uint8_t *b, size_t len) {
    unsigned n = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        uint8_t x = (uint8_t)(a[i] ^ b[i]);
        while (x) {
            n += x & 1u;
            x = (uint8_t)(x >> 1);
        }
    }
    return n;
}

/* A growable byte buffer that a trace is recorded into, then hashed. */
typedef struct trace {
    uint8_t *p;
    size_t len, cap;
} trace;

static void trace_put(trace *t, const void *src, size_t n) {
    if (t->len + n > t->cap) {
        size_t c = t->cap ? t->cap : 4096;
        while (c < t->len + n) c *= 2;
        t->p = (uint8_t *)realloc(t->p, c);
        TT_CHECK(t->p != NULL);
        t->cap = c;
    }
    memcpy(t->p + t->len, src, n);
    t->len += n;
}

static void trace_u64(trace *t, uint64_t v) {
    uint8_t b[8];
    int i;
    for (i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    trace_put(t, b, 8);
}

/* Appends a delivered message, field by field in a fixed byte order (no padding). */
static void trace_msg(trace *t, const tidal_sim_msg *m) {
    trace_u64(t, (uint64_t)m->from.region << 16 | m->from.shard);
    trace_u64(t, (uint64_t)m->to.region << 16 | m->to.shard);
    trace_u64(t, (uint64_t)m->sent_ns);
    trace_u64(t, (uint64_t)m->deliver_ns);
    trace_u64(t, m->seq);
    trace_u64(t, (uint64_t)m->len);
    trace_put(t, m->bytes, m->len);
}

static void trace_hash(trace *t, uint8_t out[32]) {
    tidal_blake3(t->p, t->len, out);
    free(t->p);
    memset(t, 0, sizeof *t);
}

/* The 3 x 3 grid of nodes the partition tests use: index = region * 3 + shard. */
#define GRID 9
static tidal_node_ref grid(unsigned i) { return nd(i / 3, i % 3); }

/* Sends one message on every one of the 81 links (self links included), delivers all of
   them, and checks that exactly the links not in cut delivered, that
   tidal_sim_net_reachable agrees, and the drop counts. cut is read only (not const: C99
   does not convert uint8_t (*)[9] to const uint8_t (*)[9]). */
static void check_links(tidal_sim_net *net, uint8_t cut[GRID][GRID], int64_t *now) {
    uint8_t got[GRID][GRID];
    tidal_sim_net_stats before = stats_of(net), after;
    tidal_sim_msg m;
    unsigned f, t, n_cut = 0;
    memset(got, 0, sizeof got);
    for (f = 0; f < GRID; f++)
        for (t = 0; t < GRID; t++) {
            TT_CHECKF(tidal_sim_net_reachable(net, grid(f), grid(t)) == !cut[f][t],
                      "reachable %u -> %u", f, t);
            n_cut += cut[f][t];
            send_ok(net, grid(f), grid(t), f * GRID + t, 8, *now);
        }
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        uint64_t id = payload_id(m.bytes);
        TT_CHECK(id < GRID * GRID && same_node(m.from, grid((unsigned)(id / GRID))) &&
                 same_node(m.to, grid((unsigned)(id % GRID))));
        if (id < GRID * GRID) got[id / GRID][id % GRID]++;
        tidal_sim_msg_free(&m);
    }
    for (f = 0; f < GRID; f++)
        for (t = 0; t < GRID; t++)
            TT_CHECKF(got[f][t] == !cut[f][t], "link %u -> %u: got %u, cut %u", f, t,
                      got[f][t], cut[f][t]);
    after = stats_of(net);
    TT_EQ_INT(after.dropped_partition - before.dropped_partition, n_cut);
    TT_EQ_INT(after.delivered - before.delivered, GRID * GRID - n_cut);
    *now += TIDAL_NS_PER_S;
}

/* ---- latency ------------------------------------------------------------------------- */

/* Every copy's latency lies in its link kind's inclusive range, both ends of the range are
   approached, and the mean is the middle: the draw is uniform (N2). */
static void t_latency_bounds(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    const int64_t lo[2] = {MS / 10, 20 * MS}, hi[2] = {2 * MS, 150 * MS};
    const uint32_t n = 3000;
    int64_t min[2] = {INT64_MAX, INT64_MAX}, max[2] = {0, 0};
    double sum[2] = {0, 0};
    uint32_t count[2] = {0, 0}, i;
    tidal_sim_msg m;
    for (i = 0; i < n; i++) {
        int64_t now = T0 + (int64_t)i * 1000;
        send_ok(net, nd(0, 0), nd(0, 1), i, 16, now); /* same region */
        send_ok(net, nd(0, 0), nd(0, 0), i, 16, now); /* to itself: same region */
        send_ok(net, nd(0, 2), nd(1, 2), i, 16, now); /* different regions */
    }
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        int k = m.from.region != m.to.region;
        int64_t lat = m.deliver_ns - m.sent_ns;
        TT_CHECKF(lat >= lo[k] && lat <= hi[k], "latency %lld of kind %d", (long long)lat, k);
        TT_EQ_INT(m.sent_ns, T0 + (int64_t)payload_id(m.bytes) * 1000);
        if (lat < min[k]) min[k] = lat;
        if (lat > max[k]) max[k] = lat;
        sum[k] += (double)lat;
        count[k]++;
        tidal_sim_msg_free(&m);
    }
    TT_EQ_INT(count[0], 2 * n);
    TT_EQ_INT(count[1], n);
    for (i = 0; i < 2; i++) {
        double span = (double)(hi[i] - lo[i]);
        double sd = span / sqrt(12.0 * count[i]); /* standard error of a uniform mean */
        TT_CHECK((double)(min[i] - lo[i]) < span / 50);
        TT_CHECK((double)(hi[i] - max[i]) < span / 50);
        TT_NEAR(sum[i] / count[i], (double)(lo[i] + hi[i]) / 2, 6 * sd);
    }
    /* Custom ranges; min == max is a fixed latency. */
    tidal_sim_net_set_latency(net, 1000, 1000, 5000, 7000);
    for (i = 0; i < 500; i++) {
        send_ok(net, nd(3, 0), nd(3, 1), i, 8, T0);
        send_ok(net, nd(3, 0), nd(4, 1), i, 8, T0);
    }
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        int64_t lat = m.deliver_ns - m.sent_ns;
        if (m.to.region == 3) TT_EQ_INT(lat, 1000);
        else TT_CHECK(lat >= 5000 && lat <= 7000);
        tidal_sim_msg_free(&m);
    }
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* ---- delivery order -------------------------------------------------------------------- */

/* Time moves to next_ns, and everything due is popped: the trace is ordered by
   (deliver_ns, seq), nothing comes early, nothing due is left behind, and new sends made
   during the run (at the current time) fit in. */
static void t_delivery_order(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    int64_t now = T0, prev_t = INT64_MIN;
    uint64_t prev_seq = 0, id = 0, popped = 0;
    tidal_sim_msg m;
    uint32_t i;
    tidal_sim_net_set_faults(net, 0, 100000, 200000); /* duplicates and reordering */
    for (i = 0; i < 300; i++)
        send_ok(net, nd((unsigned)tt_below(2), (unsigned)tt_below(3)),
                nd((unsigned)tt_below(2), (unsigned)tt_below(3)), id++, 16, now);
    while (tidal_sim_net_next_ns(net) != INT64_MAX && TT_OK()) {
        int64_t next = tidal_sim_net_next_ns(net);
        TT_CHECK(next >= now);
        TT_EQ_INT(tidal_sim_net_pop(net, next - 1, &m), 0); /* nothing is due early */
        now = next;
        while (tidal_sim_net_pop(net, now, &m)) {
            TT_CHECK(m.deliver_ns <= now);
            TT_CHECKF(m.deliver_ns > prev_t || (m.deliver_ns == prev_t && m.seq >= prev_seq),
                      "order: (%lld, %llu) after (%lld, %llu)", (long long)m.deliver_ns,
                      (unsigned long long)m.seq, (long long)prev_t,
                      (unsigned long long)prev_seq);
            prev_t = m.deliver_ns;
            prev_seq = m.seq;
            popped++;
            tidal_sim_msg_free(&m);
        }
        TT_CHECK(tidal_sim_net_next_ns(net) > now);
        if (id < 1500) /* keep sending while the run goes on */
            for (i = 0; i < 3; i++)
                send_ok(net, nd((unsigned)tt_below(2), (unsigned)tt_below(3)),
                        nd((unsigned)tt_below(2), (unsigned)tt_below(3)), id++, 16, now);
    }
    TT_EQ_INT(popped, stats_of(net).delivered);
    TT_EQ_INT(popped, 1500 + stats_of(net).duplicated);
    /* Equal delivery times: strictly the send order, whatever the links. */
    tidal_sim_net_set_faults(net, 0, 0, 0);
    tidal_sim_net_set_latency(net, 5000, 5000, 5000, 5000);
    for (i = 0; i < 200; i++)
        send_ok(net, nd((unsigned)tt_below(3), (unsigned)tt_below(3)),
                nd((unsigned)tt_below(3), (unsigned)tt_below(3)), i, 8, now);
    for (i = 0; i < 200; i++) {
        TT_EQ_INT(tidal_sim_net_pop(net, now + 5000, &m), 1);
        TT_EQ_INT(m.seq, 1500 + i + 1);
        TT_EQ_INT(payload_id(m.bytes), i);
        tidal_sim_msg_free(&m);
    }
    /* pop leaves out untouched when nothing is due. */
    memset(&m, 0xAB, sizeof m);
    TT_EQ_INT(tidal_sim_net_pop(net, INT64_MAX, &m), 0);
    TT_EQ_INT(m.len, (size_t)-1 / 0xFF * 0xAB);
    TT_EQ_INT(tidal_sim_net_next_ns(net), INT64_MAX);
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* ---- determinism ----------------------------------------------------------------------- */

/* A busy run with every fault on, partitions and down nodes coming and going; the delivery
   trace and the stats are its output. The workload has its own stream (work_seed). */
static void busy_run(uint64_t net_seed, uint64_t work_seed, uint8_t hash[32],
                     tidal_sim_net_stats *st) {
    tidal_sim_net *net = tidal_sim_net_new(net_seed);
    uint64_t w = work_seed, id = 0;
    uint32_t handles[8], n_handles = 0, step;
    int64_t now = T0;
    trace tr;
    tidal_sim_msg m;
    memset(&tr, 0, sizeof tr);
    tidal_sim_net_set_faults(net, 50000, 50000, 100000);
    tidal_sim_net_set_corrupt(net, 50000);
    for (step = 0; step < 1500; step++) {
        uint64_t op = tt_next(&w) % 100;
        if (op < 70) {
            uint8_t buf[200];
            size_t len = (size_t)(tt_next(&w) % sizeof buf);
            tidal_node_ref f = nd((unsigned)(tt_next(&w) % 3), (unsigned)(tt_next(&w) % 3));
            tidal_node_ref t = nd((unsigned)(tt_next(&w) % 3), (unsigned)(tt_next(&w) % 3));
            payload(id++, buf, len);
            TT_EQ_INT(tidal_sim_net_send(net, f, t, buf, len, now), TIDAL_OK);
        } else if (op < 75 && n_handles < 8) {
            handles[n_handles++] =
                tidal_sim_net_partition_regions(net, 0, (uint16_t)(1 + tt_next(&w) % 2),
                                                (int)(tt_next(&w) & 1));
        } else if (op < 78 && n_handles < 8) {
            tidal_node_ref a = nd((unsigned)(tt_next(&w) % 3), 0), b = nd(2, 1);
            handles[n_handles++] = tidal_sim_net_partition_nodes(net, &a, 1, &b, 1, 0);
        } else if (op < 82 && n_handles > 0) {
            tidal_sim_net_heal(net, handles[--n_handles]);
        } else if (op < 85) {
            tidal_sim_net_set_down(net, nd((unsigned)(tt_next(&w) % 3), 1),
                                   (int)(tt_next(&w) % 3 == 0));
        } else {
            now += (int64_t)(tt_next(&w) % (uint64_t)(40 * MS));
            while (tidal_sim_net_pop(net, now, &m)) {
                trace_msg(&tr, &m);
                tidal_sim_msg_free(&m);
            }
        }
    }
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        trace_msg(&tr, &m);
        tidal_sim_msg_free(&m);
    }
    tidal_sim_net_check(net);
    tidal_sim_net_stats_get(net, st);
    trace_hash(&tr, hash);
    tidal_sim_net_free(net);
}

static void t_determinism(void) {
    uint8_t h1[32], h2[32], h3[32], h4[32];
    tidal_sim_net_stats s1, s2, s3, s4;
    busy_run(tt_seed(), 42, h1, &s1);
    busy_run(tt_seed(), 42, h2, &s2);
    TT_CHECK(memcmp(h1, h2, 32) == 0);
    TT_CHECK(memcmp(&s1, &s2, sizeof s1) == 0);
    TT_CHECK(s1.delivered > 100 && s1.dropped_loss > 0 && s1.dropped_partition > 0);
    TT_CHECKF(s1.duplicated > 0 && s1.corrupted > 0, "dup %llu, corrupt %llu of %llu",
              (unsigned long long)s1.duplicated, (unsigned long long)s1.corrupted,
              (unsigned long long)s1.delivered);
    busy_run(tt_seed() + 1, 42, h3, &s3); /* another net seed: another trace */
    TT_CHECK(memcmp(h1, h3, 32) != 0);
    busy_run(tt_seed(), 43, h4, &s4); /* another workload: another trace */
    TT_CHECK(memcmp(h1, h4, 32) != 0);
}

/* ---- fault rates ----------------------------------------------------------------------- */

/* 6 standard deviations of a binomial count: a false alarm is a one-in-a-billion event. */
static int binomial_ok(uint64_t got, uint64_t n, double p) {
    double mean = (double)n * p, sd = sqrt((double)n * p * (1 - p));
    return fabs((double)got - mean) <= 6 * sd + 1;
}

/* Loss, duplication and corruption over 30,000 messages: each rate within its statistical
   bounds, every corrupted copy differs from what was sent in exactly one bit, the others
   in none, a lost send never shows up and a duplicated one shows up exactly twice. */
static void t_fault_rates(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    const uint32_t n = 30000, loss = 100000, dup = 50000, corrupt = 20000;
    uint8_t *seen = (uint8_t *)calloc(n + 1, 1);
    uint64_t flipped = 0, twice = 0, i, lost = 0;
    int64_t now = T0;
    tidal_sim_net_stats s;
    tidal_sim_msg m;
    tidal_sim_net_set_faults(net, loss, dup, 0);
    tidal_sim_net_set_corrupt(net, corrupt);
    for (i = 0; i < n; i++) {
        send_ok(net, nd(0, 0), nd(0, 1), i, 8 + (size_t)(i % 57), now);
        if (i % 1000 == 999 || i == n - 1) { /* deliver in rounds: a link holds 4096 */
            now += TIDAL_NS_PER_S;
            while (tidal_sim_net_pop(net, now, &m)) {
                uint8_t want[64];
                uint64_t id = m.seq - 1; /* every send is accepted: seq = id + 1 (the id
                                            bytes themselves may be the corrupted ones) */
                unsigned d;
                TT_CHECK(id < n);
                TT_EQ_INT(m.len, 8 + id % 57);
                payload(id, want, m.len);
                d = bit_diff(want, m.bytes, m.len);
                TT_CHECK(d <= 1);
                flipped += d;
                if (id < n) seen[id]++;
                tidal_sim_msg_free(&m);
            }
        }
    }
    s = stats_of(net);
    for (i = 0; i < n; i++) {
        TT_CHECK(seen[i] <= 2);
        lost += seen[i] == 0;
        twice += seen[i] == 2;
    }
    TT_EQ_INT(s.sent, n);
    TT_EQ_INT(s.dropped_loss, lost);
    TT_EQ_INT(s.duplicated, twice);
    TT_EQ_INT(s.corrupted, flipped);
    TT_EQ_INT(s.dropped_overflow + s.dropped_partition + s.dropped_down + s.in_flight, 0);
    TT_CHECKF(binomial_ok(s.dropped_loss, n, loss / 1e6), "loss %llu",
              (unsigned long long)s.dropped_loss);
    TT_CHECKF(binomial_ok(s.duplicated, n - s.dropped_loss, dup / 1e6), "dup %llu",
              (unsigned long long)s.duplicated);
    TT_CHECKF(binomial_ok(s.corrupted, s.delivered, corrupt / 1e6), "corrupt %llu",
              (unsigned long long)s.corrupted);
    free(seen);
    /* The extremes: everything lost; everything duplicated and corrupted; an empty message
       is never corrupted. */
    tidal_sim_net_set_faults(net, 1000000, 0, 0);
    for (i = 0; i < 100; i++) send_ok(net, nd(0, 0), nd(0, 1), i, 8, now);
    TT_EQ_INT(drain(net), 0);
    tidal_sim_net_set_faults(net, 0, 1000000, 0);
    tidal_sim_net_set_corrupt(net, 1000000);
    for (i = 0; i < 100; i++) send_ok(net, nd(0, 0), nd(0, 1), i, 8, now);
    TT_EQ_INT(tidal_sim_net_send(net, nd(0, 0), nd(0, 1), NULL, 0, now), TIDAL_OK);
    s = stats_of(net);
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        uint8_t want[8];
        if (m.len == 0) {
            TT_CHECK(m.bytes != NULL);
        } else {
            payload(m.seq - (s.sent - 100), want, 8);
            TT_EQ_INT(bit_diff(want, m.bytes, 8), 1);
        }
        tidal_sim_msg_free(&m);
    }
    TT_EQ_INT(stats_of(net).corrupted - s.corrupted, 200);
    TT_EQ_INT(stats_of(net).delivered - s.delivered, 202);
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* Reordering: with a fixed latency and sends 1 us apart, delivery is exactly the send
   order; with reorder_ppm the chosen share of messages is delayed by up to the link's max
   latency and is overtaken. */
static void t_reorder(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    const uint32_t n = 4000, reorder = 300000;
    uint32_t i, inversions = 0, delayed = 0;
    uint64_t prev = 0;
    tidal_sim_msg m;
    tidal_sim_net_set_latency(net, MS, MS, 50 * MS, 50 * MS);
    for (i = 0; i < n; i++) send_ok(net, nd(0, 0), nd(0, 1), i, 8, T0 + (int64_t)i * 1000);
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        TT_EQ_INT(m.deliver_ns - m.sent_ns, MS);
        inversions += m.seq < prev;
        prev = m.seq;
        tidal_sim_msg_free(&m);
    }
    TT_EQ_INT(inversions, 0);
    tidal_sim_net_set_faults(net, 0, 0, reorder);
    prev = 0;
    for (i = 0; i < n; i++) send_ok(net, nd(0, 0), nd(0, 1), i, 8, T0 + (int64_t)i * 1000);
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        int64_t lat = m.deliver_ns - m.sent_ns;
        TT_CHECK(lat >= MS && lat <= 2 * MS); /* extra delay in [0, max] */
        delayed += lat > MS;
        inversions += m.seq < prev;
        prev = m.seq;
        tidal_sim_msg_free(&m);
    }
    TT_CHECKF(binomial_ok(delayed, n, reorder / 1e6), "delayed %u", delayed);
    TT_CHECK(inversions > n / 20);
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* ---- partitions ------------------------------------------------------------------------ */

static int in_set(const uint32_t *v, uint32_t n, uint32_t x) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

/* partition_nodes, two-way and one-way: exactly the links between the sets are cut (in
   the right direction), links inside a set and to others stay up, healing restores. */
static void t_partition_nodes(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    const uint32_t a[] = {0, 4, 0}, b[] = {8, 1}; /* a repeated node is harmless */
    tidal_node_ref ra[3], rb[2];
    uint8_t cut[GRID][GRID];
    uint32_t f, t, h1, h2, one_way;
    int64_t now = T0;
    for (f = 0; f < 3; f++) ra[f] = grid(a[f]);
    for (f = 0; f < 2; f++) rb[f] = grid(b[f]);
    memset(cut, 0, sizeof cut);
    check_links(net, cut, &now);
    for (one_way = 0; one_way < 2; one_way++) {
        h1 = tidal_sim_net_partition_nodes(net, ra, 3, rb, 2, (int)one_way);
        TT_CHECK(h1 != 0);
        for (f = 0; f < GRID; f++)
            for (t = 0; t < GRID; t++)
                cut[f][t] = (uint8_t)((in_set(a, 3, f) && in_set(b, 2, t)) ||
                                      (!one_way && in_set(b, 2, f) && in_set(a, 3, t)));
        check_links(net, cut, &now);
        tidal_sim_net_heal(net, h1);
        tidal_sim_net_heal(net, h1); /* healing twice is harmless */
        memset(cut, 0, sizeof cut);
        check_links(net, cut, &now);
    }
    /* Handles are never reused; overlapping partitions heal independently. */
    h1 = tidal_sim_net_partition_nodes(net, ra, 1, rb, 1, 0);
    h2 = tidal_sim_net_partition_nodes(net, ra, 1, rb, 1, 1);
    TT_CHECK(h2 > h1);
    tidal_sim_net_heal(net, h1);
    TT_CHECK(!tidal_sim_net_reachable(net, ra[0], rb[0]));
    TT_CHECK(tidal_sim_net_reachable(net, rb[0], ra[0]));
    tidal_sim_net_heal(net, h2);
    TT_CHECK(tidal_sim_net_reachable(net, ra[0], rb[0]));
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* partition_regions (two-way, one-way) and isolate_region over the 3 x 3 grid. */
static void t_partition_regions(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    uint8_t cut[GRID][GRID];
    uint32_t f, t, h, h2, one_way;
    int64_t now = T0;
    for (one_way = 0; one_way < 2; one_way++) {
        h = tidal_sim_net_partition_regions(net, 2, 0, (int)one_way);
        for (f = 0; f < GRID; f++)
            for (t = 0; t < GRID; t++)
                cut[f][t] = (uint8_t)((f / 3 == 2 && t / 3 == 0) ||
                                      (!one_way && f / 3 == 0 && t / 3 == 2));
        check_links(net, cut, &now);
        tidal_sim_net_heal(net, h);
        memset(cut, 0, sizeof cut);
        check_links(net, cut, &now);
    }
    h = tidal_sim_net_isolate_region(net, 1);
    for (f = 0; f < GRID; f++)
        for (t = 0; t < GRID; t++) cut[f][t] = (uint8_t)((f / 3 == 1) != (t / 3 == 1));
    check_links(net, cut, &now);
    /* A region partition on top: healing the isolation leaves it in force. */
    h2 = tidal_sim_net_partition_regions(net, 0, 2, 1);
    for (f = 0; f < GRID; f++)
        for (t = 0; t < GRID; t++) cut[f][t] |= (uint8_t)(f / 3 == 0 && t / 3 == 2);
    check_links(net, cut, &now);
    tidal_sim_net_heal(net, h);
    for (f = 0; f < GRID; f++)
        for (t = 0; t < GRID; t++) cut[f][t] = (uint8_t)(f / 3 == 0 && t / 3 == 2);
    check_links(net, cut, &now);
    tidal_sim_net_heal(net, h2);
    memset(cut, 0, sizeof cut);
    check_links(net, cut, &now);
    TT_EQ_INT(stats_of(net).dropped_partition, 18 + 9 + 36 + (36 + 9) + 9);
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* The partition check runs at send and again at delivery (N4): a partition that starts
   while a message is in flight drops it; one that starts and heals in between does not;
   a message refused at send stays dropped even if the partition heals before it would
   have arrived; a one-way cut leaves the other direction's in-flight messages alone. */
static void t_partition_in_flight(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    tidal_node_ref a = nd(0, 0), c = nd(1, 0);
    tidal_sim_net_stats s;
    tidal_sim_msg m;
    uint32_t h;
    int64_t now = T0;
    send_ok(net, a, c, 1, 8, now);
    send_ok(net, c, a, 2, 8, now);
    h = tidal_sim_net_partition_regions(net, 0, 1, 0);
    TT_EQ_INT(stats_of(net).in_flight, 2); /* in flight until their delivery time */
    TT_EQ_INT(drain(net), 0);
    s = stats_of(net);
    TT_EQ_INT(s.dropped_partition, 2);
    tidal_sim_net_heal(net, h);
    /* Starts and heals while in flight: delivered. */
    send_ok(net, a, c, 3, 8, now);
    h = tidal_sim_net_partition_regions(net, 0, 1, 0);
    tidal_sim_net_heal(net, h);
    TT_EQ_INT(drain(net), 1);
    /* Refused at send, healed before it would have arrived: still dropped. */
    h = tidal_sim_net_isolate_region(net, 1);
    send_ok(net, a, c, 4, 8, now);
    TT_EQ_INT(stats_of(net).in_flight, 0);
    tidal_sim_net_heal(net, h);
    TT_EQ_INT(drain(net), 0);
    TT_EQ_INT(stats_of(net).dropped_partition, 3);
    /* One-way a -> c while both directions are in flight: only a -> c is dropped. */
    send_ok(net, a, c, 5, 8, now);
    send_ok(net, c, a, 6, 8, now);
    h = tidal_sim_net_partition_nodes(net, &a, 1, &c, 1, 1);
    TT_EQ_INT(tidal_sim_net_pop(net, INT64_MAX, &m), 1);
    TT_EQ_INT(payload_id(m.bytes), 6);
    tidal_sim_msg_free(&m);
    TT_EQ_INT(tidal_sim_net_pop(net, INT64_MAX, &m), 0);
    TT_EQ_INT(stats_of(net).dropped_partition, 4);
    tidal_sim_net_heal(net, h);
    /* next_ns names a copy that may still be dropped; after the drop it moves on. */
    send_ok(net, a, c, 7, 8, now);
    send_ok(net, a, a, 8, 8, now + 500 * MS);
    h = tidal_sim_net_isolate_region(net, 1);
    TT_CHECK(tidal_sim_net_next_ns(net) < now + 500 * MS); /* the doomed a -> c */
    TT_EQ_INT(tidal_sim_net_pop(net, tidal_sim_net_next_ns(net), &m), 0);
    TT_CHECK(tidal_sim_net_next_ns(net) > now + 500 * MS);
    TT_EQ_INT(drain(net), 1);
    tidal_sim_net_heal(net, h);
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* ---- down nodes ------------------------------------------------------------------------ */

static void t_down_nodes(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    tidal_node_ref a = nd(0, 0), b = nd(0, 1), c = nd(1, 1);
    tidal_sim_msg m;
    int64_t now = T0;
    TT_CHECK(!tidal_sim_net_is_down(net, b));
    /* A down node sends nothing. */
    tidal_sim_net_set_down(net, b, 1);
    tidal_sim_net_set_down(net, b, 1); /* idempotent */
    TT_CHECK(tidal_sim_net_is_down(net, b) && !tidal_sim_net_is_down(net, a));
    TT_CHECK(tidal_sim_net_reachable(net, a, b)); /* reachable is about partitions only */
    send_ok(net, b, a, 1, 8, now);
    TT_EQ_INT(stats_of(net).in_flight, 0);
    TT_EQ_INT(stats_of(net).dropped_down, 1);
    /* Messages that reach a down node are dropped... */
    send_ok(net, a, b, 2, 8, now);
    TT_EQ_INT(drain(net), 0);
    TT_EQ_INT(stats_of(net).dropped_down, 2);
    /* ...but sent to it while down and arriving after it is up: delivered. */
    send_ok(net, c, b, 3, 8, now);
    tidal_sim_net_set_down(net, b, 0);
    tidal_sim_net_set_down(net, b, 0);
    TT_EQ_INT(tidal_sim_net_pop(net, INT64_MAX, &m), 1);
    TT_EQ_INT(payload_id(m.bytes), 3);
    tidal_sim_msg_free(&m);
    /* Up when sent, down on arrival: dropped. */
    send_ok(net, a, b, 4, 8, now);
    tidal_sim_net_set_down(net, b, 1);
    TT_EQ_INT(drain(net), 0);
    tidal_sim_net_set_down(net, b, 0);
    /* A sender that goes down after sending: its messages are on the wire already. */
    send_ok(net, a, c, 5, 8, now);
    tidal_sim_net_set_down(net, a, 1);
    TT_EQ_INT(drain(net), 1);
    TT_EQ_INT(stats_of(net).dropped_down, 3);
    tidal_sim_net_check(net);
    tidal_sim_net_free(net);
}

/* ---- limits ---------------------------------------------------------------------------- */

/* A link holds TIDAL_SIM_LINK_QUEUE_MAX copies; more are dropped and counted while other
   links are unaffected; the bytes bound drops too; freed room is usable again. */
static void t_queue_overflow(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    const uint32_t big = TIDAL_SIM_MSG_BYTES_MAX, fit = TIDAL_SIM_NET_BYTES_MAX / big;
    uint8_t *buf;
    uint32_t i;
    tidal_sim_net_stats s;
    for (i = 0; i < TIDAL_SIM_LINK_QUEUE_MAX + 10; i++)
        send_ok(net, nd(0, 0), nd(0, 1), i, 8, T0);
    send_ok(net, nd(0, 0), nd(0, 2), 0, 8, T0); /* another link has room */
    send_ok(net, nd(0, 1), nd(0, 0), 0, 8, T0); /* so has the reverse direction */
    s = stats_of(net);
    TT_EQ_INT(s.dropped_overflow, 10);
    TT_EQ_INT(s.in_flight, TIDAL_SIM_LINK_QUEUE_MAX + 2);
    TT_EQ_INT(s.in_flight_bytes, 8 * (TIDAL_SIM_LINK_QUEUE_MAX + 2));
    tidal_sim_net_check(net);
    TT_EQ_INT(drain(net), TIDAL_SIM_LINK_QUEUE_MAX + 2);
    send_ok(net, nd(0, 0), nd(0, 1), 0, 8, T0);
    TT_EQ_INT(drain(net), 1);
    /* The bytes bound, with messages of the largest size (which is accepted). */
    buf = (uint8_t *)calloc(big, 1);
    TT_CHECK(fit >= 1);
    for (i = 0; i < fit + 2; i++)
        TT_EQ_INT(tidal_sim_net_send(net, nd(0, 0), nd(1, (unsigned)i), buf, big, T0), TIDAL_OK);
    send_ok(net, nd(0, 0), nd(1, 0), 0, 1, T0); /* not even one more byte */
    s = stats_of(net);
    TT_EQ_INT(s.in_flight, fit);
    TT_EQ_INT(s.in_flight_bytes, (uint64_t)fit * big);
    TT_EQ_INT(s.dropped_overflow, 10 + 3);
    TT_EQ_INT(tidal_sim_net_send(net, nd(0, 0), nd(0, 1), NULL, 0, T0), TIDAL_OK); /* 0 bytes */
    TT_EQ_INT(stats_of(net).in_flight, fit + 1);
    tidal_sim_net_check(net);
    free(buf);
    tidal_sim_net_free(net); /* frees what is still in flight (LeakSanitizer checks) */
}

/* A message over TIDAL_SIM_MSG_BYTES_MAX is refused and nothing happens: no seq taken,
   nothing counted. */
static void t_oversize(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    size_t len = (size_t)TIDAL_SIM_MSG_BYTES_MAX + 1;
    uint8_t *buf = (uint8_t *)calloc(len, 1);
    tidal_sim_net_stats s;
    tidal_sim_msg m;
    TT_EQ_INT(tidal_sim_net_send(net, nd(0, 0), nd(0, 1), buf, len, T0), TIDAL_ERR_LIMIT);
    TT_EQ_INT(tidal_sim_net_send(net, nd(0, 0), nd(0, 1), buf, (size_t)-1, T0),
              TIDAL_ERR_LIMIT);
    s = stats_of(net);
    TT_EQ_INT(s.sent + s.in_flight + s.dropped_overflow, 0);
    send_ok(net, nd(0, 0), nd(0, 1), 9, 8, T0);
    TT_EQ_INT(tidal_sim_net_pop(net, INT64_MAX, &m), 1);
    TT_EQ_INT(m.seq, 1);
    tidal_sim_msg_free(&m);
    TT_CHECK(m.bytes == NULL && m.len == 0);
    tidal_sim_msg_free(&m); /* a freed message may be freed again */
    free(buf);
    tidal_sim_net_free(net);
    tidal_sim_net_free(NULL);
}

/* ---- the env -------------------------------------------------------------------------- */

/* message_send of a node's env goes through the net as (self -> to) at the env's clock;
   two nodes ping-pong over one net; without a net it is TIDAL_ERR_UNAVAILABLE. */
static void t_env_routes(void) {
    tidal_sim_disk *d1 = tidal_sim_disk_new(tt_seed()), *d2 = tidal_sim_disk_new(tt_seed() + 1);
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    tidal_sim_env e1, e2;
    tidal_node_ref n1 = nd(0, 3), n2 = nd(2, 3);
    tidal_sim_msg m;
    uint8_t buf[16];
    int round;
    tidal_sim_env_init(&e1, d1, T0, 1);
    tidal_sim_env_init(&e2, d2, T0, 2);
    TT_CHECK(e1.net == NULL);
    TT_EQ_INT(e1.env.message_send(e1.env.user, n2, "x", 1), TIDAL_ERR_UNAVAILABLE);
    tidal_sim_env_attach_net(&e1, net, n1);
    tidal_sim_env_attach_net(&e2, net, n2);
    tidal_sim_env_advance(&e1, 5 * MS);
    TT_EQ_INT(e1.env.message_send(e1.env.user, n2, "hello", 5), TIDAL_OK);
    for (round = 0; round < 10; round++) { /* ping-pong: each node answers what it got */
        tidal_sim_env *rx;
        int64_t t = tidal_sim_net_next_ns(net);
        TT_CHECK(t != INT64_MAX);
        TT_EQ_INT(tidal_sim_net_pop(net, t, &m), 1);
        rx = same_node(m.to, n1) ? &e1 : &e2;
        TT_CHECK(same_node(m.from, rx == &e1 ? n2 : n1));
        TT_EQ_INT(m.len, round == 0 ? 5 : 8);
        if (round == 0) TT_CHECK(!memcmp(m.bytes, "hello", 5) && m.sent_ns == T0 + 5 * MS);
        if (round > 0) TT_EQ_INT(payload_id(m.bytes), round - 1);
        /* Both clocks jump to the delivery time; the reply is sent at it. */
        tidal_sim_env_advance(&e1, t - e1.now_ns);
        tidal_sim_env_advance(&e2, t - e2.now_ns);
        payload((uint64_t)round, buf, 8);
        TT_EQ_INT(rx->env.message_send(rx->env.user, m.from, buf, 8), TIDAL_OK);
        tidal_sim_msg_free(&m);
        TT_CHECK(tidal_sim_net_next_ns(net) - t >= 20 * MS); /* regions 0 and 2 */
    }
    TT_EQ_INT(e1.env.message_send(e1.env.user, n2, buf, (size_t)TIDAL_SIM_MSG_BYTES_MAX + 1),
              TIDAL_ERR_LIMIT);
    TT_EQ_INT(stats_of(net).sent, 11);
    tidal_sim_env_attach_net(&e1, NULL, n1); /* detach */
    TT_EQ_INT(e1.env.message_send(e1.env.user, n2, "x", 1), TIDAL_ERR_UNAVAILABLE);
    TT_EQ_INT(drain(net), 1);
    tidal_sim_net_free(net);
    tidal_sim_disk_free(d1);
    tidal_sim_disk_free(d2);
}

/* ---- independent streams (N8) ---------------------------------------------------------- */

/* Sends n messages on a mix of links; records the delivery time of every delivered copy
   as (seq, deliver_ns) pairs into times (2 per seq: copy order unknown), 0 = none. */
static void run_latencies(uint64_t seed, uint32_t loss, uint32_t dup, uint32_t corrupt,
                          uint32_t n, int64_t (*times)[2], uint8_t hash[32]) {
    tidal_sim_net *net = tidal_sim_net_new(seed);
    tidal_sim_msg m;
    trace tr;
    uint32_t i;
    memset(&tr, 0, sizeof tr);
    memset(times, 0, (size_t)n * sizeof *times);
    tidal_sim_net_set_faults(net, loss, dup, 0);
    tidal_sim_net_set_corrupt(net, corrupt);
    for (i = 0; i < n; i++)
        send_ok(net, nd(i % 2, i % 3), nd((i / 2) % 2, (i / 3) % 3), i, 16,
                T0 + (int64_t)i * 10000);
    while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
        int64_t *slot = times[m.seq - 1];
        TT_CHECK(m.seq >= 1 && m.seq <= n);
        slot[slot[0] != 0] = m.deliver_ns;
        trace_u64(&tr, m.seq);
        trace_u64(&tr, (uint64_t)m.deliver_ns);
        tidal_sim_msg_free(&m);
    }
    trace_hash(&tr, hash);
    tidal_sim_net_free(net);
}

/* Turning loss, duplication or corruption on changes no latency draw: every copy that an
   unfaulty run delivers at time t is delivered at t by a faulty run with the same seed,
   unless it was lost; corruption alone does not change the (seq, time) trace at all. */
static void t_streams_loss_vs_latency(void) {
    const uint32_t n = 3000;
    int64_t(*clean)[2] = (int64_t(*)[2])calloc(n, sizeof *clean);
    int64_t(*faulty)[2] = (int64_t(*)[2])calloc(n, sizeof *faulty);
    uint8_t h_clean[32], h_faulty[32], h_corrupt[32];
    uint32_t i, lost = 0, kept = 0;
    run_latencies(tt_seed(), 0, 0, 0, n, clean, h_clean);
    run_latencies(tt_seed(), 300000, 200000, 500000, n, faulty, h_faulty);
    for (i = 0; i < n; i++) {
        TT_CHECK(clean[i][0] != 0 && clean[i][1] == 0);
        if (faulty[i][0] == 0) {
            lost++;
            continue;
        }
        TT_CHECKF(faulty[i][0] == clean[i][0] || faulty[i][1] == clean[i][0],
                  "seq %u: latency changed", i + 1);
        kept++;
    }
    TT_CHECK(lost > n / 5 && kept > n / 2); /* loss was really on */
    TT_CHECK(memcmp(h_clean, h_faulty, 32) != 0);
    run_latencies(tt_seed(), 0, 0, 500000, n, faulty, h_corrupt);
    TT_CHECK(memcmp(h_clean, h_corrupt, 32) == 0);
    free(clean);
    free(faulty);
}

/* One node's life: unsynced writes to a file between sends (if net), a crash, restart;
   returns the file's bytes after the crash (malloc'd) and its length. */
static uint8_t *disk_life(uint64_t disk_seed, tidal_sim_net *net, size_t *len,
                          tidal_sim_disk_stats *ds) {
    tidal_sim_disk *disk = tidal_sim_disk_new(disk_seed);
    tidal_sim_env e;
    uint8_t buf[1500], rnd[32], *out = NULL;
    void *h = NULL;
    int i;
    tidal_sim_env_init(&e, disk, T0, 7);
    if (net) tidal_sim_env_attach_net(&e, net, nd(0, 0));
    TT_EQ_INT(e.env.file_open(e.env.user, "f", RWC, &h), TIDAL_OK);
    TT_EQ_INT(e.env.dir_sync(e.env.user, ""), TIDAL_OK);
    for (i = 0; i < 40; i++) {
        payload((uint64_t)i, buf, sizeof buf);
        TT_EQ_INT(e.env.file_write(e.env.user, h, (uint64_t)i * 700, buf, sizeof buf), TIDAL_OK);
        if (i == 10) TT_EQ_INT(e.env.file_sync(e.env.user, h), TIDAL_OK);
        if (net) { /* the network is busy in between: sends, deliveries, env randomness */
            tidal_sim_msg m;
            TT_EQ_INT(e.env.message_send(e.env.user, nd(1, (unsigned)i % 4), buf, 64),
                      TIDAL_OK);
            e.env.random_fill(e.env.user, rnd, sizeof rnd);
            tidal_sim_env_advance(&e, 30 * MS);
            while (tidal_sim_net_pop(net, e.now_ns, &m)) tidal_sim_msg_free(&m);
        }
    }
    tidal_sim_disk_crash(disk);
    tidal_sim_disk_restart(disk);
    TT_EQ_INT(tidal_sim_disk_read(disk, "f", &out, len), TIDAL_OK);
    tidal_sim_disk_stats_get(disk, ds);
    tidal_sim_disk_free(disk);
    return out;
}

/* The disk's fate stream and the net's streams are separate: a busy network does not
   change what a crash keeps, and disk crashes do not change the network's trace. */
static void t_streams_disk_vs_net(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    tidal_sim_disk_stats s1, s2;
    uint8_t *a, *b, h1[32], h2[32];
    size_t la = 0, lb = 0;
    tidal_sim_net_set_faults(net, 100000, 100000, 100000);
    a = disk_life(tt_seed() ^ 1, NULL, &la, &s1);
    b = disk_life(tt_seed() ^ 1, net, &lb, &s2);
    TT_CHECK(la == lb && (la == 0 || memcmp(a, b, la) == 0));
    TT_EQ_INT(s1.fates_kept, s2.fates_kept);
    TT_EQ_INT(s1.fates_torn, s2.fates_torn);
    TT_EQ_INT(s1.fates_dropped, s2.fates_dropped);
    TT_CHECK(s1.fates_kept + s1.fates_torn + s1.fates_dropped == 29); /* writes after sync */
    free(a);
    free(b);
    tidal_sim_net_free(net);
    /* The other way round: the same net traffic with and without disks crashing. */
    {
        int round;
        for (round = 0; round < 2; round++) {
            tidal_sim_disk *disk = tidal_sim_disk_new(99);
            tidal_sim_env e;
            trace tr;
            tidal_sim_msg m;
            void *h = NULL;
            uint8_t buf[64];
            int i;
            memset(&tr, 0, sizeof tr);
            net = tidal_sim_net_new(tt_seed());
            tidal_sim_net_set_faults(net, 100000, 100000, 100000);
            tidal_sim_env_init(&e, disk, T0, 7);
            tidal_sim_env_attach_net(&e, net, nd(0, 0));
            for (i = 0; i < 200; i++) {
                payload((uint64_t)i, buf, sizeof buf);
                if (round == 1 && i % 20 == 0) { /* disk activity and crashes in between */
                    TT_EQ_INT(e.env.file_open(e.env.user, "g", RWC, &h), TIDAL_OK);
                    TT_EQ_INT(e.env.file_write(e.env.user, h, 0, buf, sizeof buf), TIDAL_OK);
                    tidal_sim_disk_crash(disk);
                    tidal_sim_disk_restart(disk);
                }
                TT_EQ_INT(e.env.message_send(e.env.user, nd(1, 0), buf, sizeof buf), TIDAL_OK);
                tidal_sim_env_advance(&e, 7 * MS);
                while (tidal_sim_net_pop(net, e.now_ns, &m)) {
                    trace_msg(&tr, &m);
                    tidal_sim_msg_free(&m);
                }
            }
            while (tidal_sim_net_pop(net, INT64_MAX, &m)) {
                trace_msg(&tr, &m);
                tidal_sim_msg_free(&m);
            }
            trace_hash(&tr, round == 0 ? h1 : h2);
            tidal_sim_net_free(net);
            tidal_sim_disk_free(disk);
        }
        TT_CHECK(memcmp(h1, h2, 32) == 0);
    }
}

/* ---- random operations against a reference model --------------------------------------- */

typedef struct model_cut {
    uint32_t handle, kind; /* 1 nodes, 2 regions, 3 isolate */
    int one_way;
    uint32_t a[3], b[3], na, nb; /* grid indices */
    unsigned ra, rb;
} model_cut;

static int model_blocks(const model_cut *c, uint32_t f, uint32_t t) {
    switch (c->kind) {
    case 1:
        return (in_set(c->a, c->na, f) && in_set(c->b, c->nb, t)) ||
               (!c->one_way && in_set(c->b, c->nb, f) && in_set(c->a, c->na, t));
    case 2:
        return (f / 3 == c->ra && t / 3 == c->rb) ||
               (!c->one_way && f / 3 == c->rb && t / 3 == c->ra);
    default: return (f / 3 == c->ra) != (t / 3 == c->ra);
    }
}

/* Thousands of random sends, pops, partitions, heals and down switches: reachable always
   matches a reference model of the partitions, every delivered message was sent as
   delivered (bytes, endpoints, seq, sent time, no earlier than allowed), arrives only over
   an uncut link to an up node, and the internal invariants hold throughout. */
static void t_random_model(void) {
    tidal_sim_net *net = tidal_sim_net_new(tt_seed());
    model_cut cuts[16];
    uint32_t n_cuts = 0, step, k, steps = 4000 * (uint32_t)tt_scale(), last_handle = 0;
    uint8_t down[GRID];
    int64_t now = T0, *sent_at = (int64_t *)calloc(steps + 1, sizeof *sent_at);
    uint64_t id = 0;
    tidal_sim_msg m;
    memset(down, 0, sizeof down);
    tidal_sim_net_set_faults(net, 20000, 20000, 50000);
    for (step = 0; step < steps && TT_OK(); step++) {
        uint64_t op = tt_below(100);
        if (op < 55) {
            uint32_t f = (uint32_t)tt_below(GRID), t = (uint32_t)tt_below(GRID);
            sent_at[id] = now;
            send_ok(net, grid(f), grid(t), id++, 8 + (size_t)tt_below(40), now);
        } else if (op < 60 && n_cuts < 16) {
            model_cut *c = &cuts[n_cuts];
            tidal_node_ref ra[3], rb[3];
            memset(c, 0, sizeof *c);
            c->kind = 1 + (uint32_t)tt_below(3);
            c->one_way = (int)tt_below(2);
            if (c->kind == 1) {
                c->na = 1 + (uint32_t)tt_below(3);
                c->nb = 1 + (uint32_t)tt_below(3);
                for (k = 0; k < c->na; k++) ra[k] = grid(c->a[k] = (uint32_t)tt_below(GRID));
                for (k = 0; k < c->nb; k++) rb[k] = grid(c->b[k] = (uint32_t)tt_below(GRID));
                c->handle = tidal_sim_net_partition_nodes(net, ra, c->na, rb, c->nb, c->one_way);
            } else if (c->kind == 2) {
                c->ra = (unsigned)tt_below(3);
                c->rb = (c->ra + 1 + (unsigned)tt_below(2)) % 3;
                c->handle = tidal_sim_net_partition_regions(net, (uint16_t)c->ra,
                                                            (uint16_t)c->rb, c->one_way);
            } else {
                c->one_way = 0;
                c->ra = (unsigned)tt_below(3);
                c->handle = tidal_sim_net_isolate_region(net, (uint16_t)c->ra);
            }
            TT_CHECK(c->handle > last_handle); /* handles grow: never 0, never reused */
            last_handle = c->handle;
            n_cuts++;
        } else if (op < 66 && n_cuts > 0) {
            k = (uint32_t)tt_below(n_cuts);
            tidal_sim_net_heal(net, cuts[k].handle);
            cuts[k] = cuts[--n_cuts];
        } else if (op < 70) {
            k = (uint32_t)tt_below(GRID);
            down[k] = (uint8_t)tt_below(2);
            tidal_sim_net_set_down(net, grid(k), down[k]);
        } else {
            now += (int64_t)tt_below((uint64_t)(60 * MS));
            while (tidal_sim_net_pop(net, now, &m)) {
                uint8_t want[64];
                uint64_t mid = payload_id(m.bytes);
                uint32_t f = (uint32_t)(m.from.region * 3 + m.from.shard);
                uint32_t t = (uint32_t)(m.to.region * 3 + m.to.shard);
                TT_CHECK(mid < id && m.seq == mid + 1 && m.sent_ns == sent_at[mid]);
                TT_CHECK(m.deliver_ns <= now && m.deliver_ns >= m.sent_ns);
                TT_CHECK(m.len >= 8 && m.len < 48);
                payload(mid, want, m.len);
                TT_CHECK(memcmp(want, m.bytes, m.len) == 0);
                TT_CHECK(!down[t]);
                for (k = 0; k < n_cuts; k++) TT_CHECK(!model_blocks(&cuts[k], f, t));
                tidal_sim_msg_free(&m);
            }
        }
        { /* reachable agrees with the model on a random link */
            uint32_t f = (uint32_t)tt_below(GRID), t = (uint32_t)tt_below(GRID);
            int cut = 0;
            for (k = 0; k < n_cuts; k++) cut |= model_blocks(&cuts[k], f, t);
            TT_EQ_INT(tidal_sim_net_reachable(net, grid(f), grid(t)), !cut);
            TT_EQ_INT(tidal_sim_net_is_down(net, grid(f)), down[f]);
        }
        if (step % 256 == 0) tidal_sim_net_check(net);
    }
    tidal_sim_net_check(net);
    {
        tidal_sim_net_stats s = stats_of(net);
        TT_EQ_INT(s.sent, id);
        TT_CHECK(s.delivered > 0 && s.dropped_partition > 0 && s.dropped_down > 0);
    }
    free(sent_at);
    tidal_sim_net_free(net); /* with messages, partitions and down nodes still in place */
}

static const tt_case tt_cases[] = {
    TT_CASE(t_latency_bounds),     TT_CASE(t_delivery_order),
    TT_CASE(t_determinism),        TT_CASE(t_fault_rates),
    TT_CASE(t_reorder),            TT_CASE(t_partition_nodes),
    TT_CASE(t_partition_regions),  TT_CASE(t_partition_in_flight),
    TT_CASE(t_down_nodes),         TT_CASE(t_queue_overflow),
    TT_CASE(t_oversize),           TT_CASE(t_env_routes),
    TT_CASE(t_streams_loss_vs_latency), TT_CASE(t_streams_disk_vs_net),
    TT_CASE(t_random_model),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
