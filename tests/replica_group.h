/* replica_group.h - one replica group of NODES (3) members, one shard in three regions, on
   the simulated network and disks, for tests: open (a new group), a loop that delivers
   every message due in order and ticks every member every 10 ms, the leader of the
   highest epoch, catch-up, a batch of writes. Used by test_replication.c, test_ship_early.c
   and test_first_schema.c; include it after tidal.h, tidal_sim.h and tidal_test.h with T0
   and MS defined. Its functions are static inline so a test that uses only some of them
   builds without warnings. */
#ifndef REPLICA_GROUP_H
#define REPLICA_GROUP_H

#define NODES 3

typedef struct cnode {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db;
} cnode;

typedef struct cluster {
    tidal_sim_net *net;
    tidal_node_ref refs[NODES];
    tidal_signal_def sigs[4];    /* view, like (in every config); share and save for tests
                                    that grow the schema at run time */
    cnode n[NODES];
    int64_t now, next_tick;
    uint64_t delivered, segment_bytes;
    uint64_t bytes_to[NODES], bytes_from[NODES]; /* delivered message bytes per node */
} cluster;

static inline void node_start(cluster *c, int i) {
    char msg[256];
    tidal_result r = tidal_db_open_msg(&c->n[i].cfg, &c->n[i].db, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "node %d open: %s %s", i, tidal_strerror(r), msg);
    tidal_sim_net_set_down(c->net, c->refs[i], 0);
}

static inline void cluster_init_seg(cluster *c, uint64_t seed, uint64_t segment_bytes) {
    int i;
    memset(c, 0, sizeof *c);
    c->segment_bytes = segment_bytes;
    c->net = tidal_sim_net_new(seed);
    c->now = T0;
    c->sigs[0].name = "view";
    c->sigs[0].half_life_s = 3600;
    c->sigs[1].name = "like";
    c->sigs[1].half_life_s = 86400;
    c->sigs[2].name = "share";
    c->sigs[2].half_life_s = 7200;
    c->sigs[3].name = "save";
    c->sigs[3].permanent = 1;
    for (i = 0; i < NODES; i++) {
        c->refs[i].region = (uint16_t)i; /* one shard, three regions */
        c->refs[i].shard = 0;
    }
    for (i = 0; i < NODES; i++) {
        cnode *n = &c->n[i];
        n->disk = tidal_sim_disk_new(seed * 31 + (uint64_t)i);
        tidal_sim_env_init(&n->env, n->disk, c->now, seed * 17 + (uint64_t)i);
        tidal_sim_env_attach_net(&n->env, c->net, c->refs[i]);
        n->cfg.env = &n->env.env;
        n->cfg.path = "db";
        n->cfg.node = c->refs[i];
        n->cfg.replicas = c->refs;
        n->cfg.replica_count = NODES;
        n->cfg.schema.signals = c->sigs;
        n->cfg.schema.signal_count = 2;
        n->cfg.segment_bytes_max = c->segment_bytes ? c->segment_bytes : 64 * 1024;
        n->cfg.group_bootstrap = 1; /* a new group; restarts below open without it */
        node_start(c, i);
        n->cfg.group_bootstrap = 0;
    }
    c->next_tick = c->now + 10 * MS;
}

static inline void cluster_init(cluster *c, uint64_t seed) { cluster_init_seg(c, seed, 0); }

static inline void cluster_free(cluster *c) {
    int i;
    for (i = 0; i < NODES; i++) {
        if (c->n[i].db) tidal_db_close(c->n[i].db);
        tidal_sim_disk_free(c->n[i].disk);
    }
    tidal_sim_net_free(c->net);
}

static inline void cluster_set_time(cluster *c, int64_t t) {
    int i;
    int64_t dt = t - c->now;
    c->now = t;
    for (i = 0; i < NODES; i++) {
        c->n[i].env.now_ns += dt;
        c->n[i].env.mono_ns += dt;
    }
}

/* Runs the cluster until virtual time until: delivers messages in order, ticks every
   node every 10 ms. */
static inline void cluster_run(cluster *c, int64_t until) {
    for (;;) {
        int64_t next = tidal_sim_net_next_ns(c->net);
        tidal_sim_msg m;
        int i;
        if (c->next_tick < next) next = c->next_tick;
        if (next > until) break;
        if (next > c->now) cluster_set_time(c, next);
        while (tidal_sim_net_pop(c->net, c->now, &m)) {
            TT_CHECKF(m.len <= TIDAL_MSG_BYTES_MAX, "a %zu-byte message (TIDAL_MSG_BYTES_MAX %u)", m.len,
                      (unsigned)TIDAL_MSG_BYTES_MAX);
            for (i = 0; i < NODES; i++)
                if (c->refs[i].region == m.to.region && c->n[i].db) {
                    (void)tidal_node_receive(c->n[i].db, m.from, m.bytes, m.len);
                    c->delivered++;
                    c->bytes_to[i] += m.len;
                    c->bytes_from[m.from.region] += m.len;
                }
            tidal_sim_msg_free(&m);
        }
        if (c->now >= c->next_tick) {
            for (i = 0; i < NODES; i++)
                if (c->n[i].db) TT_EQ_INT(tidal_db_tick(c->n[i].db, 0), TIDAL_OK);
            c->next_tick += 10 * MS;
        }
    }
    if (until > c->now) cluster_set_time(c, until);
}

/* The node that leads the highest epoch, or -1 during an election. */
static inline int leader_of(cluster *c) {
    int i, best = -1;
    uint64_t epoch = 0;
    for (i = 0; i < NODES; i++) {
        tidal_node_status st;
        if (!c->n[i].db) continue;
        TT_EQ_INT(tidal_node_status_get(c->n[i].db, &st), TIDAL_OK);
        if (st.role == TIDAL_ROLE_LEADER && st.epoch >= epoch) {
            best = i;
            epoch = st.epoch;
        }
    }
    return best;
}

/* 1 when every member is up and holds the leader's durable log (no lag). */
static inline int caught_up(cluster *c) {
    int i, l = leader_of(c);
    if (l < 0) return 0;
    for (i = 0; i < NODES; i++) {
        tidal_node_status st;
        if (i == l) continue;
        if (!c->n[i].db) return 0;
        TT_EQ_INT(tidal_node_status_get(c->n[i].db, &st), TIDAL_OK);
        if (st.leader_lsn != tidal_db_durable_lsn(c->n[l].db) || st.lag_events) return 0;
    }
    return 1;
}

/* Writes count signals on node w (items 1..items, types view/like, weights 1..weights,
   times in the last hour), committing every per_commit of them (0: one commit at the end).
   Returns the last commit's result (the earlier ones must succeed); *last_lsn (if given)
   the last receipt's lsn. */
static inline tidal_result group_write(cluster *c, int w, int count, uint64_t items,
                                       uint64_t weights, int per_commit, uint64_t *last_lsn) {
    tidal_signal s;
    tidal_receipt rc;
    int i;
    memset(&s, 0, sizeof s);
    memset(&rc, 0, sizeof rc);
    TT_EQ_INT(tidal_db_batch_begin(c->n[w].db), TIDAL_OK);
    for (i = 0; i < count; i++) {
        s.item = 1 + tt_below(items);
        s.type = (uint32_t)tt_below(2);
        s.weight = 1.0 + (double)tt_below(weights);
        s.time_ns = c->now - (int64_t)tt_below(3600) * TIDAL_NS_PER_S;
        TT_EQ_INT(tidal_signal_write(c->n[w].db, &s, &rc), TIDAL_OK);
        if (per_commit && i % per_commit == per_commit - 1 && i + 1 < count) {
            TT_EQ_INT(tidal_db_commit(c->n[w].db), TIDAL_OK);
            TT_EQ_INT(tidal_db_batch_begin(c->n[w].db), TIDAL_OK);
        }
    }
    if (last_lsn) *last_lsn = rc.lsn;
    return tidal_db_commit(c->n[w].db);
}

#endif /* REPLICA_GROUP_H */
