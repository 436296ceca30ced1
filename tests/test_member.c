/* test_member.c - replica groups of 1 to 5 members on the simulator (issue 13, parts 4
   and 5): every group size recovers from one member's lost disk (the leader's, then a
   follower's) restarted as documented (config.group_bootstrap 0), and leadership transfer.
   White-box (it reads the member's counters of votes and commits a member that lost its
   disk took part in), so it builds on the full header. */
#define TIDAL_IMPLEMENTATION
/* A small in-memory copy of recent batches, so a member can lag beyond it (the default
   keeps 64 MiB). */
#define TIDAL_SHIP_BYTES_MAX 16384
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)
#define GMAX 5
#define ELECTION_MS 1000 /* config.election_timeout_ns's default */
/* DESIGN 8: failover p99 <= 2 s simulated; a bound every seed meets: the dead leader's
   silence (one timeout plus stagger), a round of votes, the first QUORUM commit. */
#define FAILOVER_BOUND_MS 3000

typedef struct mnode {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db;
} mnode;

typedef struct group {
    tidal_sim_net *net;
    int n;
    tidal_node_ref refs[GMAX];
    tidal_signal_def sigs[2];
    mnode m[GMAX];
    int64_t now, next_tick;
    int wiped;                 /* the member that lost its disk (-1 none) */
    uint64_t epoch_leader[64]; /* per epoch < 64: leader node + 1 seen (one per epoch) */
} group;

static void g_start(group *g, int i) {
    char msg[256];
    tidal_result r = tidal_db_open_msg(&g->m[i].cfg, &g->m[i].db, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "member %d open: %s %s", i, tidal_strerror(r), msg);
    tidal_sim_net_set_down(g->net, g->refs[i], 0);
}

static void g_init(group *g, int n, uint64_t seed) {
    int i;
    memset(g, 0, sizeof *g);
    g->n = n;
    g->wiped = -1;
    g->net = tidal_sim_net_new(seed);
    g->now = T0;
    g->sigs[0].name = "view";
    g->sigs[0].half_life_s = 3600;
    g->sigs[1].name = "like";
    g->sigs[1].half_life_s = 86400;
    for (i = 0; i < n; i++) {
        g->refs[i].region = (uint16_t)i; /* one shard, n regions */
        g->refs[i].shard = 0;
    }
    for (i = 0; i < n; i++) {
        mnode *m = &g->m[i];
        m->disk = tidal_sim_disk_new(seed * 31 + (uint64_t)i);
        tidal_sim_env_init(&m->env, m->disk, g->now, seed * 17 + (uint64_t)i);
        tidal_sim_env_attach_net(&m->env, g->net, g->refs[i]);
        m->cfg.env = &m->env.env;
        m->cfg.path = "db";
        m->cfg.node = g->refs[i];
        m->cfg.replicas = g->refs;
        m->cfg.replica_count = (uint32_t)n;
        m->cfg.schema.signals = g->sigs;
        m->cfg.schema.signal_count = 2;
        m->cfg.segment_bytes_max = 64 * 1024;
        m->cfg.group_bootstrap = 1; /* a brand-new group; every later open leaves it 0 */
        g_start(g, i);
        m->cfg.group_bootstrap = 0;
    }
    g->next_tick = g->now + 10 * MS;
}

static void g_free(group *g) {
    int i;
    for (i = 0; i < g->n; i++) {
        if (g->m[i].db) tidal_db_close(g->m[i].db);
        tidal_sim_disk_free(g->m[i].disk);
    }
    tidal_sim_net_free(g->net);
}

/* The rules a lost disk must keep (>>repl_elect L3, L4), checked on every member after
   every step: in a group of odd size the member that lost its disk granted no vote while
   amnesiac and no leader counted its ack toward a commit; in any group, one leader per
   epoch. */
static void g_check(group *g) {
    int i;
    for (i = 0; i < g->n; i++) {
        tidal_db *db = g->m[i].db;
        if (!db) continue;
        if (g->n % 2) {
            TT_CHECKF(db->rep.amn_grants == 0, "n=%d: member %d voted while it had lost its disk",
                      g->n, i);
            TT_CHECKF(db->rep.amn_commits == 0, "n=%d: member %d committed with a lost disk's ack",
                      g->n, i);
        }
        if (db->rep.role == TIDAL_ROLE_LEADER && db->rep.epoch < 64) {
            uint64_t *e = &g->epoch_leader[db->rep.epoch];
            TT_CHECKF(!*e || *e == (uint64_t)i + 1, "n=%d: two leaders in epoch %llu (%d and %d)",
                      g->n, (unsigned long long)db->rep.epoch, (int)*e - 1, i);
            *e = (uint64_t)i + 1;
        }
    }
}

static void g_set_time(group *g, int64_t t) {
    int i;
    int64_t dt = t - g->now;
    g->now = t;
    for (i = 0; i < g->n; i++) {
        g->m[i].env.now_ns += dt;
        g->m[i].env.mono_ns += dt;
    }
}

/* Runs until virtual time until: every message due is delivered, every member ticks every
   10 ms; the rules are checked after each step. */
static void g_run(group *g, int64_t until) {
    for (;;) {
        int64_t next = tidal_sim_net_next_ns(g->net);
        tidal_sim_msg msg;
        int i;
        if (g->next_tick < next) next = g->next_tick;
        if (next > until) break;
        if (next > g->now) g_set_time(g, next);
        while (tidal_sim_net_pop(g->net, g->now, &msg)) {
            for (i = 0; i < g->n; i++)
                if (g->refs[i].region == msg.to.region && g->m[i].db)
                    (void)tidal_node_receive(g->m[i].db, msg.from, msg.bytes, msg.len);
            tidal_sim_msg_free(&msg);
        }
        if (g->now >= g->next_tick) {
            for (i = 0; i < g->n; i++)
                if (g->m[i].db) TT_EQ_INT(tidal_db_tick(g->m[i].db, 0), TIDAL_OK);
            g->next_tick += 10 * MS;
        }
        g_check(g);
    }
    if (until > g->now) g_set_time(g, until);
}

/* The member leading the highest epoch, or -1. */
static int g_leader(group *g) {
    int i, best = -1;
    uint64_t epoch = 0;
    for (i = 0; i < g->n; i++) {
        tidal_node_status st;
        if (!g->m[i].db) continue;
        TT_EQ_INT(tidal_node_status_get(g->m[i].db, &st), TIDAL_OK);
        if (st.role == TIDAL_ROLE_LEADER && st.epoch >= epoch) {
            best = i;
            epoch = st.epoch;
        }
    }
    return best;
}

/* One signal written on member w; its receipt in *rc. */
static tidal_result g_write(group *g, int w, uint64_t item, tidal_receipt *rc) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.item = item;
    s.weight = 1.0;
    s.time_ns = g->now;
    return tidal_signal_write(g->m[w].db, &s, rc);
}

/* Runs in 10 ms steps until some member leads and a write it takes is acknowledged at
   QUORUM, or until deadline; the leader, or -1. */
static int g_await_quorum_write(group *g, int64_t deadline) {
    while (g->now < deadline) {
        int l = g_leader(g);
        tidal_receipt rc;
        int64_t t;
        if (l >= 0 && g_write(g, l, 999999, &rc) == TIDAL_OK) {
            for (t = g->now; g->now < deadline && g->now < t + 1000 * MS; ) {
                if (!g->m[l].db) break;
                if (tidal_write_acked(g->m[l].db, rc.lsn, TIDAL_ACK_QUORUM)) return l;
                g_run(g, g->now + 10 * MS);
            }
            continue;
        }
        g_run(g, g->now + 10 * MS);
    }
    return -1;
}

/* The member's disk is destroyed: it crashes, its directory is wiped, and it comes back
   at once with the config every later open uses (group_bootstrap 0, as documented). */
static void g_wipe(group *g, int i) {
    tidal_sim_disk_crash(g->m[i].disk);
    tidal_sim_net_set_down(g->net, g->refs[i], 1);
    tidal_db_close(g->m[i].db);
    g->m[i].db = NULL;
    tidal_sim_disk_wipe(g->m[i].disk);
    if (tidal_sim_disk_is_down(g->m[i].disk)) tidal_sim_disk_restart(g->m[i].disk);
    g->wiped = i;
    g_start(g, i);
}

#define ACKED_MAX 400

/* One group of n, one member's disk lost (the leader's when lose_leader, else a
   follower's): a leader that commits at QUORUM within the failover bound; every write
   acknowledged at QUORUM before the loss is on it, by id (a group of one: its only copy
   is gone, which QUORUM's budget allows); the wiped member rejoins (lost_disk clears), in
   an odd group without having voted or counted toward a commit before (g_check). */
static void wipe_scenario(int n, int lose_leader) {
    group g;
    tidal_event_id acked[ACKED_MAX];
    int n_acked = 0, k, l, v, w;
    int64_t t_wipe;
    tidal_node_status st;
    g_init(&g, n, tt_seed() + (uint64_t)n * 2 + (uint64_t)lose_leader);
    g_run(&g, g.now + 500 * MS);
    l = g_leader(&g);
    TT_CHECKF(l == 0, "n=%d: the new group's first member leads (%d)", n, l);
    if (l != 0) {
        g_free(&g);
        return;
    }
    for (k = 0; k < 300; k++) { /* writes, a few acknowledged at QUORUM as they go */
        tidal_receipt rc;
        TT_EQ_INT(g_write(&g, l, 1 + tt_below(50), &rc), TIDAL_OK);
        if (k % 10 == 9) g_run(&g, g.now + (int64_t)tt_below(200) * MS);
        if (tidal_write_acked(g.m[l].db, rc.lsn, TIDAL_ACK_QUORUM) && n_acked < ACKED_MAX)
            acked[n_acked++] = rc.id;
    }
    g_run(&g, g.now + 400 * MS);
    v = lose_leader ? l : (l + 1) % n;
    t_wipe = g.now;
    g_wipe(&g, v);
    w = g_await_quorum_write(&g, t_wipe + FAILOVER_BOUND_MS * MS);
    TT_CHECKF(w >= 0, "n=%d, %s wiped: no leader committing at QUORUM %d ms after the loss", n,
              lose_leader ? "leader" : "follower", FAILOVER_BOUND_MS);
    if (w >= 0) {
        printf("    n=%d %s wiped: leader %d commits at QUORUM %lld ms after the loss\n", n,
                   lose_leader ? "leader" : "follower", w, (long long)((g.now - t_wipe) / MS));
        if (n > 1)
            for (k = 0; k < n_acked; k++)
                TT_CHECKF(tidal_event_is_applied(g.m[w].db, acked[k]),
                          "n=%d: a QUORUM-acknowledged write (%d of %d) is missing on the new "
                          "leader", n, k, n_acked);
        if (n == 1) TT_EQ_INT(tidal_event_is_applied(g.m[w].db, acked[0]), 0); /* the only copy */
    }
    if (w >= 0 && n % 2 && !lose_leader) {
        /* Before it rejoins, the leader stops hearing enough others (their messages to it
           are lost; they still follow it) that only the wiped member's acks could make a
           majority, and the wiped member learns the group (it hears every member): nothing
           commits (rule L4; g_check would also see it). */
        tidal_node_ref cut[GMAX];
        tidal_receipt rc;
        uint32_t nc = 0, h;
        TT_EQ_INT(tidal_node_status_get(g.m[v].db, &st), TIDAL_OK);
        TT_CHECKF(st.lost_disk, "n=%d: the wiped follower rejoined at once", n);
        for (k = 0; k < n && (int)nc < n / 2; k++)
            if (k != w && k != v) cut[nc++] = g.refs[k];
        h = tidal_sim_net_partition_nodes(g.net, cut, nc, &g.refs[w], 1, 1);
        TT_EQ_INT(g_write(&g, w, 7, &rc), TIDAL_OK);
        g_run(&g, g.now + 2500 * MS);
        TT_CHECKF(tidal__amn_informed(&g.m[v].db->rep) && g.m[v].db->rep.amnesiac,
                  "n=%d: the wiped member should know the group and not have rejoined yet", n);
        TT_CHECKF(!tidal_write_acked(g.m[w].db, rc.lsn, TIDAL_ACK_QUORUM),
                  "n=%d: a write committed with the wiped member's ack", n);
        tidal_sim_net_heal(g.net, h);
    }
    g_run(&g, g.now + 6 * ELECTION_MS * MS); /* the wiped member catches up and rejoins */
    TT_EQ_INT(tidal_node_status_get(g.m[v].db, &st), TIDAL_OK);
    TT_CHECKF(!st.lost_disk, "n=%d: the wiped member %d has not rejoined", n, v);
    if (n == 2 && lose_leader) /* the rule that makes two live: the wiped member's vote */
        TT_CHECK(g.m[v].db->rep.amn_grants > 0);
    w = g_leader(&g);
    TT_CHECK(w >= 0);
    if (w >= 0 && n > 1) /* and what it rejoined with is everything acknowledged */
        for (k = 0; k < n_acked; k++)
            TT_CHECKF(tidal_event_is_applied(g.m[v].db, acked[k]),
                      "n=%d: the rejoined member lacks an acknowledged write", n);
    g_free(&g);
}

static void t_wipe_leader_1(void) { wipe_scenario(1, 1); }
static void t_wipe_leader_2(void) { wipe_scenario(2, 1); }
static void t_wipe_follower_2(void) { wipe_scenario(2, 0); }
static void t_wipe_leader_3(void) { wipe_scenario(3, 1); }
static void t_wipe_follower_3(void) { wipe_scenario(3, 0); }
static void t_wipe_leader_4(void) { wipe_scenario(4, 1); }
static void t_wipe_follower_4(void) { wipe_scenario(4, 0); }
static void t_wipe_leader_5(void) { wipe_scenario(5, 1); }
static void t_wipe_follower_5(void) { wipe_scenario(5, 0); }

/* A directory that held log keeps its epoch record but loses every other file: the member
   knows it lost its data (rule L1, flags bit 1), even opened with group_bootstrap 1, and
   rejoins through the leader. */
static void t_lost_log_epoch_record_kept(void) {
    group g;
    char names[64][128];
    uint32_t n, k;
    tidal_node_status st;
    tidal_env *env;
    g_init(&g, 3, tt_seed());
    g_run(&g, g.now + 300 * MS);
    for (k = 0; k < 50; k++) TT_EQ_INT(g_write(&g, 0, 1 + k, NULL), TIDAL_OK);
    g_run(&g, g.now + 1000 * MS);
    tidal_db_close(g.m[2].db);
    g.m[2].db = NULL;
    env = &g.m[2].env.env;
    n = tidal_sim_disk_list(g.m[2].disk, "db", names, 64);
    for (k = 0; k < n && k < 64; k++) {
        char path[256];
        if (!strncmp(names[k], "meta-", 5)) continue;
        snprintf(path, sizeof path, "db/%.127s", names[k]);
        TT_EQ_INT(env->file_remove(env->user, path), TIDAL_OK);
    }
    g.m[2].cfg.group_bootstrap = 1; /* ignored: the directory says it belongs to a group */
    g_start(&g, 2);
    g.m[2].cfg.group_bootstrap = 0;
    TT_EQ_INT(tidal_node_status_get(g.m[2].db, &st), TIDAL_OK);
    TT_CHECK(st.lost_disk);
    TT_EQ_INT(st.role, TIDAL_ROLE_FOLLOWER);
    g_run(&g, g.now + 6 * ELECTION_MS * MS);
    TT_EQ_INT(tidal_node_status_get(g.m[2].db, &st), TIDAL_OK);
    TT_CHECK(!st.lost_disk);
    TT_EQ_INT(tidal_db_durable_lsn(g.m[2].db) > 0, 1);
    g_free(&g);
}

/* ---- leadership transfer ------------------------------------------------------------ */

/* Runs in 1 ms steps until member t leads, at most until deadline; 1 if it does. */
static int g_await_leader(group *g, int t, int64_t deadline) {
    while (g->now < deadline) {
        if (g_leader(g) == t) return 1;
        g_run(g, g->now + 1 * MS);
    }
    return g_leader(g) == t;
}

/* To a follower that is up to date but for the last batch: the leader refuses writes
   while it hands over, the target leads about one round trip after the call (the
   TIMEOUT_NOW one way, a round of votes: at most 1.5 times the 300 ms round trip), no
   acknowledged write is lost, and the new leader commits at QUORUM. */
static void t_transfer_caught_up(void) {
    group g;
    tidal_event_id acked[ACKED_MAX];
    int n_acked = 0, k, ok;
    tidal_node_status st;
    tidal_receipt rc;
    int64_t t_call;
    g_init(&g, 3, tt_seed());
    g_run(&g, g.now + 300 * MS);
    for (k = 0; k < 200; k++) {
        TT_EQ_INT(g_write(&g, 0, 1 + tt_below(40), &rc), TIDAL_OK);
        if (k % 20 == 19) g_run(&g, g.now + 100 * MS);
        if (tidal_write_acked(g.m[0].db, rc.lsn, TIDAL_ACK_QUORUM)) acked[n_acked++] = rc.id;
    }
    g_run(&g, g.now + 500 * MS);
    TT_EQ_INT(g_write(&g, 0, 5, NULL), TIDAL_OK); /* the target lacks this one at the call */
    t_call = g.now;
    TT_EQ_INT(tidal_replica_transfer(g.m[0].db, g.refs[1]), TIDAL_OK);
    TT_EQ_INT(tidal_node_status_get(g.m[0].db, &st), TIDAL_OK);
    TT_CHECK(st.transfer_in_flight);
    TT_EQ_INT(st.transfer_to.region, 1);
    TT_EQ_INT(g_write(&g, 0, 6, NULL), TIDAL_ERR_UNAVAILABLE);
    TT_CHECKF(strstr(tidal_errmsg(g.m[0].db), "handed to region 1") != NULL, "errmsg: %s",
              tidal_errmsg(g.m[0].db));
    TT_EQ_INT(tidal_replica_transfer(g.m[0].db, g.refs[2]), TIDAL_ERR_LIMIT);
    TT_EQ_INT(tidal_replica_transfer(g.m[2].db, g.refs[1]), TIDAL_ERR_READ_ONLY);
    ok = g_await_leader(&g, 1, t_call + 1000 * MS);
    TT_CHECKF(ok, "the target does not lead %d ms after the call", 1000);
    printf("    transfer: the target leads %lld ms after the call\n",
           (long long)((g.now - t_call) / MS));
    TT_CHECKF(g.now - t_call <= 450 * MS, "the transfer took %lld ms (a round trip is at most 300)",
              (long long)((g.now - t_call) / MS));
    g_run(&g, g.now + 300 * MS); /* the old leader hears the new epoch (one way) */
    TT_EQ_INT(tidal_node_status_get(g.m[0].db, &st), TIDAL_OK);
    TT_EQ_INT(st.role, TIDAL_ROLE_FOLLOWER);
    TT_CHECK(!st.transfer_in_flight);
    TT_EQ_INT(g_await_quorum_write(&g, g.now + FAILOVER_BOUND_MS * MS), 1);
    for (k = 0; k < n_acked; k++) TT_CHECK(tidal_event_is_applied(g.m[1].db, acked[k]));
    g_free(&g);
}

/* The refusals: not a member, this node, a member that lags (it missed more than the
   batches the leader keeps in memory for shipping). */
static void t_transfer_refusals(void) {
    group g;
    tidal_node_ref stranger;
    uint32_t h, k;
    g_init(&g, 3, tt_seed());
    g_run(&g, g.now + 300 * MS);
    stranger.region = 9;
    stranger.shard = 0;
    TT_EQ_INT(tidal_replica_transfer(NULL, g.refs[1]), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_replica_transfer(g.m[0].db, stranger), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_replica_transfer(g.m[0].db, g.refs[0]), TIDAL_ERR_INVALID);
    h = tidal_sim_net_isolate_region(g.net, 2);
    for (k = 0; k < 600; k++) { /* ~50 KB of log, beyond the 16 KB kept for shipping */
        TT_EQ_INT(g_write(&g, 0, 1 + k, NULL), TIDAL_OK);
        if (k % 50 == 49) g_run(&g, g.now + 20 * MS);
    }
    TT_EQ_INT(tidal_replica_transfer(g.m[0].db, g.refs[2]), TIDAL_ERR_UNAVAILABLE);
    TT_CHECKF(strstr(tidal_errmsg(g.m[0].db), "lacks log older") != NULL, "errmsg: %s",
              tidal_errmsg(g.m[0].db));
    TT_EQ_INT(g_write(&g, 0, 1, NULL), TIDAL_OK); /* a refusal changes nothing */
    tidal_sim_net_heal(g.net, h);
    g_run(&g, g.now + 2000 * MS); /* caught up: now it may take over */
    TT_EQ_INT(tidal_replica_transfer(g.m[0].db, g.refs[2]), TIDAL_OK);
    TT_CHECK(g_await_leader(&g, 2, g.now + 1000 * MS));
    g_free(&g);
}

/* To a member cut off right after the call: the TIMEOUT_NOW is lost, the leader refuses
   writes until an election timeout passed, then leads on in the same epoch and commits. */
static void t_transfer_partitioned_times_out(void) {
    group g;
    tidal_node_status st;
    tidal_receipt rc;
    uint64_t epoch;
    int64_t t_call;
    g_init(&g, 3, tt_seed());
    g_run(&g, g.now + 500 * MS);
    TT_EQ_INT(g_write(&g, 0, 3, NULL), TIDAL_OK);
    g_run(&g, g.now + 500 * MS);
    TT_EQ_INT(tidal_node_status_get(g.m[0].db, &st), TIDAL_OK);
    epoch = st.epoch;
    (void)tidal_sim_net_isolate_region(g.net, 2);
    t_call = g.now;
    TT_EQ_INT(tidal_replica_transfer(g.m[0].db, g.refs[2]), TIDAL_OK);
    g_run(&g, t_call + ELECTION_MS * MS - 20 * MS);
    TT_EQ_INT(g_write(&g, 0, 4, NULL), TIDAL_ERR_UNAVAILABLE);
    g_run(&g, t_call + ELECTION_MS * MS + 20 * MS);
    TT_EQ_INT(tidal_node_status_get(g.m[0].db, &st), TIDAL_OK);
    TT_EQ_INT(st.role, TIDAL_ROLE_LEADER);
    TT_CHECK(st.epoch == epoch);
    TT_CHECK(!st.transfer_in_flight);
    TT_EQ_INT(g_write(&g, 0, 5, &rc), TIDAL_OK);
    g_run(&g, g.now + 500 * MS);
    TT_CHECK(tidal_write_acked(g.m[0].db, rc.lsn, TIDAL_ACK_QUORUM));
    g_free(&g);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_wipe_leader_1),   TT_CASE(t_wipe_leader_2),   TT_CASE(t_wipe_follower_2),
    TT_CASE(t_wipe_leader_3),   TT_CASE(t_wipe_follower_3), TT_CASE(t_wipe_leader_4),
    TT_CASE(t_wipe_follower_4), TT_CASE(t_wipe_leader_5),   TT_CASE(t_wipe_follower_5),
    TT_CASE(t_lost_log_epoch_record_kept), TT_CASE(t_transfer_caught_up),
    TT_CASE(t_transfer_refusals), TT_CASE(t_transfer_partitioned_times_out),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
