/* test_ship_early.c - a leader ships a batch while its own fdatasync runs (tidal.h
   >>repl_epoch, rules O1-O3), on the simulator: the followers hold the batch before the
   leader's sync returns; a QUORUM write counts durable copies only; a leader that crashes
   between shipping and its sync (its unsynced batch lost from its own log, held by the
   followers) restarts, leads again, and the group converges to one history with every
   event counted once, its new events under ids it never gave out before.

   The leader's log sync is intercepted through its env: when armed, the hook runs inside
   the leader's commit, just before its fdatasync, and delivers to the followers what the
   network holds (the messages to the leader go back into the network: the leader is in a
   call and takes nothing until it returns). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)
#include "replica_group.h"

enum { HOOK_OFF, HOOK_DELIVER, HOOK_CRASH };

/* What the hook does at the leader's next log sync, and what it saw there. */
static struct {
    cluster *c;
    int leader, mode, fired;
    int drop_to;                    /* a follower that receives nothing in the hook (-1) */
    uint64_t follower_pos[NODES];   /* each follower's leader position inside the hook */
    uint64_t leader_durable;        /* the leader's durable position inside the hook */
    tidal_result (*real_sync)(void *user, void *file);
} hook;

/* Delivers every message in flight, except to the leader (those are sent again). */
static void hook_deliver(cluster *c, int leader) {
    tidal_sim_msg m, back[256];
    int nb = 0, i, k;
    while (tidal_sim_net_pop(c->net, INT64_MAX / 4, &m)) {
        int to = -1;
        for (i = 0; i < NODES; i++)
            if (c->refs[i].region == m.to.region) to = i;
        if (to == leader && nb < 256) {
            back[nb++] = m;
            continue;
        }
        if (to >= 0 && to != hook.drop_to && c->n[to].db)
            (void)tidal_node_receive(c->n[to].db, m.from, m.bytes, m.len);
        tidal_sim_msg_free(&m);
    }
    for (k = 0; k < nb; k++) {
        TT_EQ_INT(tidal_sim_net_send(c->net, back[k].from, back[k].to, back[k].bytes, back[k].len, c->now),
                  TIDAL_OK);
        tidal_sim_msg_free(&back[k]);
    }
}

static tidal_result hooked_sync(void *user, void *file) {
    if (hook.mode != HOOK_OFF && !hook.fired) {
        cluster *c = hook.c;
        int i;
        hook.fired = 1;
        hook.leader_durable = tidal_db_durable_lsn(c->n[hook.leader].db);
        hook_deliver(c, hook.leader);
        for (i = 0; i < NODES; i++) {
            tidal_node_status st;
            hook.follower_pos[i] = 0;
            if (i == hook.leader || !c->n[i].db) continue;
            TT_EQ_INT(tidal_node_status_get(c->n[i].db, &st), TIDAL_OK);
            hook.follower_pos[i] = st.leader_lsn;
        }
        if (hook.mode == HOOK_CRASH) tidal_sim_disk_crash(c->n[hook.leader].disk);
    }
    return hook.real_sync(user, file);
}

/* Arms the hook on node l's next sync (node l's env is wrapped once). */
static void hook_arm(cluster *c, int l, int mode) {
    memset(hook.follower_pos, 0, sizeof hook.follower_pos);
    hook.c = c;
    hook.leader = l;
    hook.mode = mode;
    hook.fired = 0;
    hook.drop_to = -1;
    if (c->n[l].env.env.file_sync != hooked_sync) {
        hook.real_sync = c->n[l].env.env.file_sync;
        c->n[l].env.env.file_sync = hooked_sync;
    }
}

static void hook_off(cluster *c, int l) {
    hook.mode = HOOK_OFF;
    if (c->n[l].env.env.file_sync == hooked_sync) c->n[l].env.env.file_sync = hook.real_sync;
}

/* count signals in one batch on node w (one commit); returns the commit's result. */
static tidal_result write_batch(cluster *c, int w, int count, uint64_t *last_lsn) {
    return group_write(c, w, count, 40, 1, 0, last_lsn);
}

/* Client events applied (the leaders' epoch-start markers left out). */
static uint64_t client_events(tidal_db *db) {
    tidal_db_stats st;
    tidal_db_stats_get(db, &st);
    return st.events_applied - st.events_internal;
}

static int run_until_caught_up(cluster *c, int64_t bound_ns) {
    int64_t end = c->now + bound_ns;
    int ok = 0;
    while (c->now < end && !(ok = caught_up(c))) cluster_run(c, c->now + 20 * MS);
    cluster_run(c, c->now + 100 * MS); /* and their acknowledgments reach the leader */
    return ok;
}

static void check_converged(cluster *c, uint64_t want_events) {
    uint8_t d0[32], d[32];
    int i;
    TT_EQ_INT(tidal_db_digest(c->n[0].db, TIDAL_ALL_TENANTS, d0), TIDAL_OK);
    for (i = 0; i < NODES; i++) {
        TT_EQ_INT(tidal_db_digest(c->n[i].db, TIDAL_ALL_TENANTS, d), TIDAL_OK);
        TT_CHECKF(!memcmp(d, d0, 32), "node %d's digest differs from node 0's", i);
        TT_CHECKF(client_events(c->n[i].db) == want_events, "node %d applied %llu events, want %llu", i,
                  (unsigned long long)client_events(c->n[i].db), (unsigned long long)want_events);
    }
}

/* O1: the batch is on both followers, synced there, before the leader's own sync returns;
   it is QUORUM-acknowledged only once an acknowledgment comes back (the leader's copy and
   one follower's: two of three). On the parent commit the leader shipped after its sync:
   inside the hook no follower held the batch. */
static void t_ship_while_leader_syncs(void) {
    cluster c;
    uint64_t lsn = 0;
    int l, i;
    tidal_sim_msg m;
    cluster_init(&c, tt_seed());
    l = leader_of(&c);
    TT_CHECK(l == 0);
    if (l != 0) goto out;
    TT_EQ_INT(write_batch(&c, l, 100, NULL), TIDAL_OK);
    TT_CHECK(run_until_caught_up(&c, 3000 * MS));
    hook_arm(&c, l, HOOK_DELIVER);
    TT_EQ_INT(write_batch(&c, l, 50, &lsn), TIDAL_OK);
    hook_off(&c, l);
    TT_CHECK(hook.fired);
    TT_CHECKF(hook.leader_durable < lsn, "the leader's batch was synced (%llu) before the hook",
              (unsigned long long)hook.leader_durable);
    for (i = 1; i < NODES; i++)
        TT_CHECKF(hook.follower_pos[i] == lsn, "follower %d held the leader's log to %llu inside the "
                  "leader's fdatasync, want %llu", i, (unsigned long long)hook.follower_pos[i],
                  (unsigned long long)lsn);
    /* The followers' acknowledgments are in the network: the leader counts only itself. */
    TT_CHECK(tidal_write_acked(c.n[l].db, lsn, TIDAL_ACK_LOCAL));
    TT_CHECK(!tidal_write_acked(c.n[l].db, lsn, TIDAL_ACK_QUORUM));
    /* One follower's acknowledgment (the other's dropped): two durable copies of three. */
    while (tidal_sim_net_pop(c.net, INT64_MAX / 4, &m)) {
        if (m.to.region == 0 && m.from.region == 1) (void)tidal_node_receive(c.n[0].db, m.from, m.bytes, m.len);
        tidal_sim_msg_free(&m);
    }
    TT_CHECK(tidal_write_acked(c.n[l].db, lsn, TIDAL_ACK_QUORUM));
    TT_CHECK(run_until_caught_up(&c, 3000 * MS));
    check_converged(&c, 150);
    goto out;
out:
    cluster_free(&c);
}

/* O1: the quorum position counts the leader at what it synced and each follower at what
   it acknowledged: with one follower holding the batch and the other nothing, the leader's
   unsynced copy does not make a majority; with both followers, two durable copies of
   three do, the leader's own not among them. */
static void t_quorum_counts_durable_copies(void) {
    cluster c;
    tidal_db *db;
    uint64_t d;
    cluster_init(&c, tt_seed());
    TT_EQ_INT(leader_of(&c), 0);
    TT_EQ_INT(write_batch(&c, 0, 20, NULL), TIDAL_OK);
    TT_CHECK(run_until_caught_up(&c, 3000 * MS));
    db = c.n[0].db;
    d = db->log.durable_lsn;
    TT_CHECK(db->rep.quorum_lsn == d);
    /* As inside a commit: the next batch written (d + 10), not synced. */
    db->log.written_lsn = d + 10;
    db->rep.peer[1].acked = d + 10;
    tidal__rep_quorum(db);
    TT_EQ_INT(db->rep.quorum_lsn, d); /* the leader's unsynced copy is not counted */
    db->rep.peer[2].acked = d + 10;
    tidal__rep_quorum(db);
    TT_EQ_INT(db->rep.quorum_lsn, d + 10); /* two followers' synced copies are a majority */
    /* put it back as it was: this is a white-box probe, not a history */
    db->rep.peer[1].acked = db->rep.peer[2].acked = d;
    db->rep.quorum_lsn = d;
    db->log.written_lsn = d;
    cluster_free(&c);
}

/* O2/O3: the leader crashes inside its fdatasync after shipping; its disk drops the
   unsynced batch, the followers hold it. It restarts with the shorter log (no claim to
   the batch in votes: another member is elected), catches up (the batch comes back to it
   from the group), is made leader again and writes. Every node ends with the same digest
   and every event counted once: the batch that no client saw acknowledged, and the new
   writes, under a new origin incarnation, so none of them shares an id with the lost
   batch. On the parent commit the batch never left the leader (the group ends without
   it); without rule O3 the restarted leader gave its new events the lost batch's ids and
   they were dropped as duplicates (counts short by the batch's size). */
static void t_leader_crash_between_ship_and_sync(void) {
    cluster c;
    uint64_t lsn = 0, before, base;
    uint32_t inc_before;
    int l, i, ok = 0;
    cluster_init(&c, tt_seed());
    l = leader_of(&c);
    TT_EQ_INT(l, 0);
    if (l != 0) goto out;
    TT_EQ_INT(write_batch(&c, 0, 200, NULL), TIDAL_OK);
    TT_CHECK(run_until_caught_up(&c, 3000 * MS));
    base = client_events(c.n[1].db);
    TT_EQ_INT(base, 200);
    before = tidal_db_durable_lsn(c.n[0].db);
    inc_before = c.n[0].db->origin_inc ? c.n[0].db->origin_inc : c.n[0].db->incarnation;
    tidal_sim_disk_set_fates(c.n[0].disk, 0, 100); /* the crash drops every unsynced write */
    hook_arm(&c, 0, HOOK_CRASH);
    TT_CHECK(write_batch(&c, 0, 30, &lsn) != TIDAL_OK); /* its sync failed: the disk is down */
    hook_off(&c, 0);
    TT_CHECK(hook.fired);
    for (i = 1; i < NODES; i++)
        TT_CHECKF(hook.follower_pos[i] == lsn, "follower %d held %llu of the leader's log before "
                  "it crashed, want %llu", i, (unsigned long long)hook.follower_pos[i],
                  (unsigned long long)lsn);
    tidal_db_close(c.n[0].db);
    c.n[0].db = NULL;
    tidal_sim_net_set_down(c.net, c.refs[0], 1);
    cluster_run(&c, c.now + 500 * MS);
    tidal_sim_disk_restart(c.n[0].disk);
    tidal_sim_disk_set_fates(c.n[0].disk, 40, 30);
    node_start(&c, 0);
    if (!c.n[0].db) goto out;
    TT_EQ_INT(tidal_db_durable_lsn(c.n[0].db), before); /* the batch is gone from its log */
    TT_CHECK(c.n[0].db->origin_inc != 0 && c.n[0].db->origin_inc != inc_before);
    TT_CHECK(run_until_caught_up(&c, 5000 * MS));
    l = leader_of(&c);
    TT_CHECK(l > 0); /* the followers hold more of the log than the restarted node */
    TT_EQ_INT(client_events(c.n[0].db), base + 30); /* the batch came back from the group */
    if (l > 0) TT_EQ_INT(tidal_replica_transfer(c.n[l].db, c.refs[0]), TIDAL_OK);
    for (i = 0; i < 300 && !ok; i++) {
        cluster_run(&c, c.now + 20 * MS);
        ok = leader_of(&c) == 0;
    }
    TT_CHECKF(ok, "node 0 did not take the leadership back");
    if (!ok) goto out;
    TT_EQ_INT(write_batch(&c, 0, 40, &lsn), TIDAL_OK);
    TT_CHECK(run_until_caught_up(&c, 5000 * MS));
    TT_CHECKF(tidal_write_acked(c.n[0].db, lsn, TIDAL_ACK_QUORUM), "lsn %llu quorum %llu durable %llu leader %d",
              (unsigned long long)lsn, (unsigned long long)c.n[0].db->rep.quorum_lsn,
              (unsigned long long)tidal_db_durable_lsn(c.n[0].db), leader_of(&c));
    check_converged(&c, base + 30 + 40);
out:
    cluster_free(&c);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_ship_while_leader_syncs),
    TT_CASE(t_quorum_counts_durable_copies),
    TT_CASE(t_leader_crash_between_ship_and_sync),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
