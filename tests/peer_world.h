/* peer_world.h - a cluster of tidal_peers over the simulated network and disks for tests
   (test_node.c and the tests of the node's coordinator, gather and health): REGIONS x SHARDS
   nodes, two groups (0: every region; 3: regions 0 and 1), a loop that pops every message
   due and delivers it through tidal_peer_receive, ticks every peer and collects every
   completion; helpers to propose control records, find leaders, write and read. Include it
   after tidal.h, tidal_sim.h and tidal_test.h. Its functions are static inline so a test
   that uses only some of them compiles without unused-function warnings. */
#ifndef PEER_WORLD_H
#define PEER_WORLD_H

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)
#define REGIONS 3
#define SHARDS 2
#define N (REGIONS * SHARDS)
#define GOT_MAX 256

typedef struct pnode {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_peer *peer;
    int up;
} pnode;

typedef struct got {
    int node;
    tidal_peer_completion c;
} got;

typedef struct world {
    tidal_sim_net *net;
    pnode nd[N];
    int64_t now;
    tidal_signal_def sigs[1];
    tidal_peer_group groups[2];
    got got[GOT_MAX];
    int n_got;
    /* the first peer message of a type seen on the wire (for the malformed cases) */
    uint32_t keep_type;
    uint8_t kept[4096];
    size_t kept_len;
    tidal_node_ref kept_to, kept_from;
    int faulty;                      /* the net corrupts: receive may refuse (CORRUPT) */
} world;

static inline int ix(int region, int shard) { return region * SHARDS + shard; }

static inline tidal_node_ref ref(int i) {
    tidal_node_ref r;
    r.region = (uint16_t)(i / SHARDS);
    r.shard = (uint16_t)(i % SHARDS);
    return r;
}

/* Node i's peer config in this world (its env, the two groups, the one-signal schema). */
static inline void peer_config(world *w, int i, tidal_peer_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->env = &w->nd[i].env.env;
    cfg->path = "node";
    cfg->self = ref(i);
    cfg->regions = REGIONS;
    cfg->shards = SHARDS;
    cfg->groups = w->groups;
    cfg->group_count = 2;
    cfg->member.schema.signals = w->sigs;
    cfg->member.schema.signal_count = 1;
    cfg->control_election_timeout_ns = 300 * MS;
}

/* A test's own settings, applied to every peer's config before it opens (NULL: none). */
static void (*peer_config_tune)(tidal_peer_config *cfg);

static inline void peer_open(world *w, int i, int bootstrap) {
    tidal_peer_config cfg;
    char msg[300];
    tidal_result r;
    peer_config(w, i, &cfg);
    cfg.member.group_bootstrap = bootstrap;
    if (peer_config_tune) peer_config_tune(&cfg);
    msg[0] = 0;
    r = tidal_peer_open(&cfg, &w->nd[i].peer, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "peer %d open: %s %s", i, tidal_strerror(r), msg);
    w->nd[i].up = r == TIDAL_OK;
    tidal_sim_net_set_down(w->net, ref(i), !w->nd[i].up);
}

static inline void world_init(world *w, uint64_t seed) {
    int i;
    memset(w, 0, sizeof *w);
    w->net = tidal_sim_net_new(seed);
    w->now = T0;
    w->sigs[0].name = "view";
    w->sigs[0].half_life_s = 3600.0;
    w->groups[0].id = 0;
    w->groups[0].placement = 0;          /* every region */
    w->groups[1].id = 3;
    w->groups[1].placement = 1u | 2u;    /* regions 0 and 1 */
    for (i = 0; i < N; i++) {
        w->nd[i].disk = tidal_sim_disk_new(seed * 31 + (uint64_t)i);
        tidal_sim_env_init(&w->nd[i].env, w->nd[i].disk, w->now, seed * 17 + (uint64_t)i);
        tidal_sim_env_attach_net(&w->nd[i].env, w->net, ref(i));
    }
    for (i = 0; i < N; i++) peer_open(w, i, 1);
}

static inline void world_free(world *w) {
    int i;
    tidal_sim_msg m;
    for (i = 0; i < N; i++) {
        tidal_peer_close(w->nd[i].peer);
        tidal_sim_disk_free(w->nd[i].disk);
    }
    while (tidal_sim_net_pop(w->net, INT64_MAX, &m)) tidal_sim_msg_free(&m);
    tidal_sim_net_free(w->net);
}

static inline void collect(world *w, int i) {
    tidal_peer_completion c;
    while (w->nd[i].up && tidal_peer_poll(w->nd[i].peer, &c) == TIDAL_OK) {
        TT_CHECK(w->n_got < GOT_MAX);
        if (w->n_got >= GOT_MAX) return;
        w->got[w->n_got].node = i;
        w->got[w->n_got++].c = c;
    }
}

/* Moves time by dt: delivers every message due, ticks every peer up, collects completions. */
static inline void run(world *w, int64_t dt) {
    int64_t end = w->now + dt;
    int i;
    while (w->now < end && TT_OK()) {
        int64_t next = tidal_sim_net_next_ns(w->net), step = w->now + 5 * MS;
        tidal_sim_msg m;
        if (next > w->now && next < step) step = next;
        if (step > end) step = end;
        for (i = 0; i < N; i++) tidal_sim_env_advance(&w->nd[i].env, step - w->now);
        w->now = step;
        while (tidal_sim_net_pop(w->net, w->now, &m)) {
            int to = ix(m.to.region, m.to.shard);
            uint32_t group = 0;
            if (w->keep_type && !w->kept_len && m.len <= sizeof w->kept &&
                tidal_message_group(m.bytes, m.len, &group) == TIDAL_OK &&
                group == TIDAL_PEER_GROUP && (m.bytes[8] | m.bytes[9] << 8) == (int)w->keep_type) {
                memcpy(w->kept, m.bytes, m.len);
                w->kept_len = m.len;
                w->kept_to = m.to;
                w->kept_from = m.from;
            }
            if (w->nd[to].up) {
                tidal_result r = tidal_peer_receive(w->nd[to].peer, m.from, m.bytes, m.len);
                TT_CHECKF(r == TIDAL_OK || r == TIDAL_ERR_FENCED || r == TIDAL_ERR_STALE_CONFIG ||
                              (w->faulty && r == TIDAL_ERR_CORRUPT),
                          "peer %d receive: %s %s", to, tidal_strerror(r),
                          tidal_peer_errmsg(w->nd[to].peer));
            }
            tidal_sim_msg_free(&m);
        }
        for (i = 0; i < N; i++)
            if (w->nd[i].up) {
                tidal_result r = tidal_peer_tick(w->nd[i].peer);
                TT_CHECKF(r == TIDAL_OK || r == TIDAL_ERR_STALE_CONFIG, "peer %d tick: %s %s", i, tidal_strerror(r),
                          tidal_peer_errmsg(w->nd[i].peer));
            }
        for (i = 0; i < N; i++) collect(w, i);
    }
}

/* The completion of ticket on node i, running up to max; NULL if none came. */
static inline const tidal_peer_completion *await(world *w, int i, uint64_t ticket, int64_t max) {
    int64_t end = w->now + max;
    int k;
    for (;;) {
        for (k = 0; k < w->n_got; k++)
            if (w->got[k].node == i && w->got[k].c.ticket == ticket) return &w->got[k].c;
        if (w->now >= end || !TT_OK()) return NULL;
        run(w, 5 * MS);
    }
}

static inline int control_leader(world *w) {
    int i;
    for (i = 0; i < N; i++) {
        tidal_control_status st;
        if (!w->nd[i].up) continue;
        tidal_control_status_get(tidal_peer_control(w->nd[i].peer), &st);
        if (st.role == TIDAL_ROLE_LEADER) return i;
    }
    return -1;
}

/* Proposes rec on node i and waits for it to commit. */
static inline uint64_t propose(world *w, int i, const tidal_control_record *rec) {
    uint64_t t = 0;
    const tidal_peer_completion *c;
    TT_EQ_INT(tidal_peer_propose(w->nd[i].peer, rec, &t), TIDAL_OK);
    c = await(w, i, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "propose on %d: %s", i,
              c ? c->message : "no completion");
    return c ? c->index : 0;
}

static inline tidal_control_record rec_topology(void) {
    tidal_control_record r;
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_TOPOLOGY;
    r.regions = REGIONS;
    r.shards = SHARDS;
    return r;
}

static inline tidal_control_record rec_placement(uint32_t tenant, uint32_t group, uint32_t placement) {
    tidal_control_record r;
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_PLACEMENT;
    r.tenant = tenant;
    r.group = group;
    r.placement = placement;
    return r;
}

static inline tidal_control_record rec_tenant(uint32_t tenant, uint32_t placement, uint32_t state) {
    tidal_control_record r;
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_TENANT;
    r.tenant = tenant;
    r.placement = placement;
    r.state = state;
    r.rate_per_s = 1000;
    return r;
}

/* An item of tenant on shard. */
static inline tidal_id item_on(uint32_t tenant, uint32_t shard, tidal_id from) {
    tidal_id it = from;
    while (tidal_route(tenant, it, SHARDS) != shard) it++;
    return it;
}

/* The node leading group's member of shard, from the members' own status; -1 if none. */
static inline int group_leader(world *w, uint32_t group, int shard) {
    int r;
    for (r = 0; r < REGIONS; r++) {
        int i = ix(r, shard);
        tidal_db *db = w->nd[i].up ? tidal_peer_member(w->nd[i].peer, group) : NULL;
        tidal_node_status st;
        if (db && tidal_node_status_get(db, &st) == TIDAL_OK && st.role == TIDAL_ROLE_LEADER)
            return i;
    }
    return -1;
}

static inline uint64_t views(world *w, int i, uint32_t group, uint32_t tenant, tidal_id item) {
    tidal_signal_stats st;
    memset(&st, 0, sizeof st);
    if (tidal_signal_read(tidal_peer_member(w->nd[i].peer, group), tenant, item, 0, NULL, 0,
                          &st) != TIDAL_OK)
        return 0;
    return st.count[TIDAL_W_ALL];
}

static inline uint64_t write_on(world *w, int i, uint32_t tenant, tidal_id item) {
    tidal_signal s;
    uint64_t t = 0;
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    s.item = item;
    s.weight = 1;
    TT_EQ_INT(tidal_peer_signal_write(w->nd[i].peer, &s, TIDAL_ACK_QUORUM, &t), TIDAL_OK);
    return t;
}

/* The records of setup(): the topology, tenant 1 on group 0 and tenant 2 on group 3, both
   ACTIVE, each proposed through node via[k] and waited for. */
static inline void setup_records(world *w, const int via[5]) {
    tidal_control_record r;
    r = rec_topology();
    propose(w, via[0], &r);
    r = rec_placement(1, 0, 0);
    propose(w, via[1], &r);
    r = rec_tenant(1, 0, TIDAL_TENANT_ACTIVE);
    propose(w, via[2], &r);
    r = rec_placement(2, 3, 3);
    propose(w, via[3], &r);
    r = rec_tenant(2, 3, TIDAL_TENANT_ACTIVE);
    propose(w, via[4], &r);
    run(w, 500 * MS);
}

/* A cluster with tenant 1 (group 0) and tenant 2 (group 3) configured, ACTIVE. */
static inline void setup(world *w) {
    int l, via[5];
    world_init(w, tt_seed());
    run(w, 2000 * MS);
    l = control_leader(w);
    TT_CHECK(l >= 0 && ref(l).shard == 0); /* a voter: shard 0 of some region */
    via[0] = ix(2, 1); /* a learner's proposal travels to the leader */
    via[1] = ix(1, 1), via[2] = ix(0, 1), via[3] = ix(2, 0), via[4] = ix(0, 0);
    setup_records(w, via);
}

/* ---- Malformed messages (every test that takes a peer message off the wire) ---- */

/* Recomputes a peer message's BLAKE3 over (the header with its sum zeroed) || payload, so a
   changed field reaches the decoder behind the checksum. */
static inline void reseal(uint8_t *b, size_t len) {
    tidal_blake3_hasher h;
    static const uint8_t zeros[32] = {0};
    tidal_blake3_init(&h);
    tidal_blake3_update(&h, b, 88);
    tidal_blake3_update(&h, zeros, 32);
    tidal_blake3_update(&h, b + 120, len - 120);
    tidal_blake3_final(&h, b + 88, 32);
}

/* What a refused message must leave as it was on node i. */
typedef struct snap {
    tidal_peer_status st;
    tidal_peer_health h;
    tidal_peer_move_info mv;   /* tenant 2's (setup() places it in group 3) */
    uint8_t digest[32];
    uint64_t sent;
} snap;

static inline void take(world *w, int i, snap *s) {
    tidal_sim_net_stats ns;
    memset(s, 0, sizeof *s);
    tidal_peer_status_get(w->nd[i].peer, &s->st);
    tidal_peer_health_get(w->nd[i].peer, &s->h);
    tidal_peer_move_status(w->nd[i].peer, 2, &s->mv);
    s->mv.waiting[0] = 0; /* time passes: how long it has waited is not state */
    s->mv.waiting_ns = 0;
    tidal_db_digest(tidal_peer_member(w->nd[i].peer, 0), TIDAL_ALL_TENANTS, s->digest);
    tidal_sim_net_stats_get(w->net, &ns);
    s->sent = ns.sent;
}

/* Delivers a bad copy of the kept message to its receiver: refused (TIDAL_ERR_CORRUPT),
   counted, and nothing else changes: no call run or forwarded, no message sent, no
   heartbeat or gather taken, the move's state and the member's digest as before; the
   error names where (a byte, the group or the wire version). A copy that still decodes
   must have been refused as misaddressed or as not fitting this node's config. */
static inline void expect_refused(world *w, const uint8_t *b, size_t len, const char *what) {
    int to = ix(w->kept_to.region, w->kept_to.shard);
    const char *err;
    snap s0, s1;
    tidal_peer_message m;
    char why[200];
    uint32_t g = 0;
    tidal_result r;
    take(w, to, &s0);
    r = tidal_peer_receive(w->nd[to].peer, w->kept_from, b, len);
    TT_CHECKF(r == TIDAL_ERR_CORRUPT, "%s: %s", what, tidal_strerror(r));
    take(w, to, &s1);
    err = tidal_peer_errmsg(w->nd[to].peer);
    TT_CHECKF(s1.st.msgs_corrupt == s0.st.msgs_corrupt + 1, "%s: not counted", what);
    TT_CHECK(s1.st.forwarded == s0.st.forwarded && s1.st.executed == s0.st.executed);
    TT_CHECK(s1.st.calls_pending == s0.st.calls_pending && s1.sent == s0.sent);
    TT_CHECK(s1.h.heartbeats_received == s0.h.heartbeats_received &&
             s1.h.gathers_pending == s0.h.gathers_pending &&
             s1.h.gather_answers_late == s0.h.gather_answers_late);
    TT_CHECKF(!memcmp(&s0.mv, &s1.mv, sizeof s0.mv), "%s: the move's state changed", what);
    TT_CHECK(!memcmp(s0.digest, s1.digest, 32));
    why[0] = 0;
    if (tidal_message_group(b, len, &g) == TIDAL_OK && g == TIDAL_PEER_GROUP)
        TT_CHECKF(tidal_peer_message_decode(b, len, &m, why, sizeof why) != TIDAL_OK ||
                      strstr(err, "addressed") || strstr(err, "config"),
                  "%s: decodes, refused for %s", what, err);
    TT_CHECKF(strstr(err, "byte") || strstr(err, "group") || strstr(err, "wire version"),
              "%s: %s", what, err);
}

/* One resealed bad byte of the kept message: at offset at, value v; what the decoder's
   error must name. */
typedef struct peer_bad_byte {
    size_t at;
    uint8_t v;
    const char *what;
} peer_bad_byte;

/* Each bad byte written into a copy of the kept message, resealed: the decoder refuses it
   naming what and "at byte", and so does the receiver (expect_refused); then one byte more
   with the payload length grown to match: refused as a byte after the last field. */
static inline void expect_bad_bytes(world *w, const peer_bad_byte *bad, size_t n) {
    uint8_t b[sizeof w->kept + 1];
    size_t k, len = w->kept_len;
    tidal_peer_message m;
    char why[200];
    TT_CHECK(len > 40 && len < sizeof w->kept);
    if (len <= 40 || len >= sizeof w->kept) return;
    for (k = 0; k < n; k++) {
        memcpy(b, w->kept, len);
        b[bad[k].at] = bad[k].v;
        reseal(b, len);
        TT_EQ_INT(tidal_peer_message_decode(b, len, &m, why, sizeof why), TIDAL_ERR_CORRUPT);
        TT_CHECKF(strstr(why, bad[k].what) && strstr(why, "at byte"), "%s: %s", bad[k].what,
                  why);
        expect_refused(w, b, len, bad[k].what);
    }
    memcpy(b, w->kept, len);
    b[len] = 0;
    b[36] = (uint8_t)(b[36] + 1); /* payload length one more, one byte more */
    reseal(b, len + 1);
    TT_EQ_INT(tidal_peer_message_decode(b, len + 1, &m, why, sizeof why), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(why, "after the last field") != NULL, "%s", why);
    expect_refused(w, b, len + 1, "trailing byte");
}

#endif /* PEER_WORLD_H */
