/* test_replication.c - leader/follower log shipping on the simulator: the seven scenarios
   of the replication planning notes (decay equality, read-only followers, follower reads,
   lag to zero, corrupt messages rejected, leader restart, duplicate delivery), under a
   lossy, duplicating, reordering network. Elections and failover are not built yet. */
#define TIDAL_IMPLEMENTATION
/* A small in-memory copy of recent batches, so shipping reads the log files and a retired
   log really is gone (the default keeps 64 MiB in memory). */
#define TIDAL_SHIP_BYTES_MAX 16384
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)
#include "replica_group.h"

/* Writes count signals on node w in batches of 100; returns the last receipt's lsn. */
static void write_on(cluster *c, int w, int count, uint64_t items, uint64_t *last_lsn) {
    TT_EQ_INT(group_write(c, w, count, items, 3, 100, last_lsn), TIDAL_OK);
}

static void write_signals(cluster *c, int count, uint64_t items, uint64_t *last_lsn) {
    int w = leader_of(c);
    TT_CHECK(w >= 0);
    if (w >= 0) write_on(c, w, count, items, last_lsn);
}

static void digest_of(tidal_db *db, uint8_t out[32]) {
    TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, out), TIDAL_OK);
}

static void check_converged(cluster *c) {
    uint8_t d0[32], d[32];
    int i;
    digest_of(c->n[0].db, d0);
    for (i = 1; i < NODES; i++) {
        digest_of(c->n[i].db, d);
        TT_CHECKF(!memcmp(d, d0, 32), "follower %d digest differs from the leader's", i);
    }
}

/* 1. Follower decay scores equal the leader's to 6 decimals after 1,000 signals. */
static void t_rep_decay_scores_match(void) {
    cluster c;
    uint64_t item, lsn = 0;
    int i;
    cluster_init(&c, tt_seed());
    write_signals(&c, 1000, 50, &lsn);
    cluster_run(&c, c.now + 2000 * MS);
    TT_CHECK(caught_up(&c));
    TT_CHECK(tidal_write_acked(c.n[0].db, lsn, TIDAL_ACK_QUORUM));
    for (item = 1; item <= 50; item++)
        for (i = 1; i < NODES; i++) {
            tidal_signal_stats a, b;
            TT_EQ_INT(tidal_signal_read(c.n[0].db, 0, item, 0, NULL, c.now, &a), TIDAL_OK);
            TT_EQ_INT(tidal_signal_read(c.n[i].db, 0, item, 0, NULL, c.now, &b), TIDAL_OK);
            TT_NEAR(a.score, b.score, 1e-6);
            TT_EQ_INT(a.count[TIDAL_W_ALL], b.count[TIDAL_W_ALL]);
        }
    check_converged(&c);
    cluster_free(&c);
}

/* 2. Every write entry point on a follower returns the read-only error naming the leader. */
static void t_rep_follower_rejects_writes(void) {
    cluster c;
    tidal_db *f;
    tidal_signal s;
    tidal_id sid = 0;
    uint8_t before[32], after[32];
    cluster_init(&c, tt_seed());
    f = c.n[1].db;
    digest_of(f, before);
    memset(&s, 0, sizeof s);
    s.item = 1;
    s.weight = 1;
    TT_EQ_INT(tidal_signal_write(f, &s, NULL), TIDAL_ERR_READ_ONLY);
    TT_CHECK(strstr(tidal_errmsg(f), "leader is region 0 shard 0") != NULL);
    TT_EQ_INT(tidal_attr_set(f, 0, 1, "k", "v", NULL), TIDAL_ERR_READ_ONLY);
    TT_EQ_INT(tidal_negative_add(f, 0, 1, TIDAL_HIDE, 2, NULL), TIDAL_ERR_READ_ONLY);
    TT_EQ_INT(tidal_negative_remove(f, 0, 1, TIDAL_HIDE, 2, NULL), TIDAL_ERR_READ_ONLY);
    TT_EQ_INT(tidal_session_start(f, 0, 1, 0, &sid), TIDAL_ERR_READ_ONLY);
    TT_EQ_INT(tidal_session_open(f, 0, 77, 1, T0, 0), TIDAL_ERR_READ_ONLY);
    digest_of(f, after);
    TT_CHECK(!memcmp(before, after, 32));
    cluster_free(&c);
}

/* 3. A follower answers RETRIEVE with the leader's ranking. */
static void t_rep_follower_serves_retrieve(void) {
    cluster c;
    tidal_hit a[20], b[20];
    uint32_t na = 0, nb = 0, i;
    int k;
    cluster_init(&c, tt_seed());
    TT_EQ_INT(tidal_attr_set(c.n[0].db, 0, 3, "format", "video", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_negative_add(c.n[0].db, 0, 500, TIDAL_HIDE, 4, NULL), TIDAL_OK);
    write_signals(&c, 600, 30, NULL);
    cluster_run(&c, c.now + 2000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    TT_EQ_INT(tidal_retrieve_text(c.n[0].db, "RETRIEVE items SIGNAL view FOR USER 500 LIMIT 20", a, 20, &na, NULL), TIDAL_OK);
    for (k = 1; k < NODES; k++) {
        TT_EQ_INT(tidal_retrieve_text(c.n[k].db, "RETRIEVE items SIGNAL view FOR USER 500 LIMIT 20", b, 20, &nb, NULL), TIDAL_OK);
        TT_EQ_INT(na, nb);
        for (i = 0; i < na && i < nb; i++) {
            TT_EQ_INT(a[i].item, b[i].item);
            TT_NEAR(a[i].score, b[i].score, 1e-9);
            TT_CHECK(a[i].item != 4);
        }
    }
    cluster_free(&c);
}

/* 4. Lag reaches 0 within 5 s of the leader going quiet, also on a lossy network. */
static void t_rep_lag_converges(void) {
    cluster c;
    int64_t quiet;
    int ok = 0;
    cluster_init(&c, tt_seed());
    tidal_sim_net_set_faults(c.net, 100000, 50000, 100000); /* 10% loss, 5% dup, 10% reorder */
    write_signals(&c, 5000, 400, NULL);
    quiet = c.now;
    while (c.now < quiet + 5000 * MS && !(ok = caught_up(&c))) cluster_run(&c, c.now + 50 * MS);
    TT_CHECKF(ok, "followers still behind 5 s after the leader went quiet");
    {
        tidal_node_status st;
        TT_EQ_INT(tidal_node_status_get(c.n[2].db, &st), TIDAL_OK);
        TT_EQ_INT(st.lag_events, 0);
        TT_EQ_INT(st.lag_ns, 0);
        printf("  caught up after %.0f ms simulated\n", (double)(c.now - quiet) / MS);
    }
    check_converged(&c);
    cluster_free(&c);
}

/* The batches a leader keeps to ship (TIDAL_SHIP_BYTES_MAX, 16 KiB here) leave in bulk
   once the buffer is full: down to 3/4 of the limit in one move, so a full buffer is not
   moved once per commit (on the base every commit past the limit evicted, and moved the
   whole buffer: most of a busy tidald's CPU at the real 64 MiB). What is kept stays
   within the limit, starts at a batch boundary, and the followers still converge. */
static void t_rep_ship_evicts_in_bulk(void) {
    cluster c;
    tidal_signal s;
    tidal_receipt rc;
    tidal_db *db;
    uint64_t first = 0;
    int l, k, i, full = 0, evictions = 0, ok = 0;
    cluster_init(&c, tt_seed());
    l = leader_of(&c);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    db = c.n[l].db;
    memset(&s, 0, sizeof s);
    for (k = 0; k < 300 && TT_OK(); k++) {
        TT_EQ_INT(tidal_db_batch_begin(db), TIDAL_OK);
        for (i = 0; i < 10; i++) {
            s.item = 1 + tt_below(50);
            s.weight = 1.0;
            s.time_ns = c.now - (int64_t)tt_below(3600) * TIDAL_NS_PER_S;
            TT_EQ_INT(tidal_signal_write(db, &s, &rc), TIDAL_OK);
        }
        TT_EQ_INT(tidal_db_commit(db), TIDAL_OK);
        TT_CHECKF(db->rep.ship_len <= TIDAL_SHIP_BYTES_MAX, "kept %zu bytes", db->rep.ship_len);
        if (first && db->rep.ship_first != first) {
            tidal__batch_hdr h;
            tidal__batch_hdr_get(db->rep.ship, &h);
            TT_CHECKF(h.first_lsn == db->rep.ship_first, "kept bytes start at lsn %llu, not "
                      "at a batch (%llu)", (unsigned long long)db->rep.ship_first,
                      (unsigned long long)h.first_lsn);
            if (full) evictions++;
            full++;
        }
        first = db->rep.ship_first;
        if (k % 10 == 9) cluster_run(&c, c.now + 20 * MS);
    }
    /* batches of 10 events (under 1.5 KiB): one eviction per 4 KiB written at most */
    TT_CHECKF(full > 0 && evictions * 3 <= k, "%d evictions in %d commits", evictions, k);
    printf("  %d commits, %d evictions after the buffer first filled\n", k, evictions);
    for (i = 0; i < 100 && !(ok = caught_up(&c)); i++) cluster_run(&c, c.now + 50 * MS);
    TT_CHECKF(ok, "followers still behind 5 s after the leader went quiet");
    check_converged(&c);
out:
    cluster_free(&c);
}

/* Captures the next message the leader sends to node 1 (an append). */
static int next_append(cluster *c, tidal_sim_msg *out) {
    int64_t until = c->now + 1000 * MS;
    while (c->now < until) {
        tidal_sim_msg m;
        int64_t next = tidal_sim_net_next_ns(c->net);
        if (next > until) break;
        if (next > c->now) cluster_set_time(c, next);
        while (tidal_sim_net_pop(c->net, c->now, &m)) {
            if (m.to.region == 1 && m.len > TIDAL__MSG_HDR + 100) {
                *out = m;
                return 1;
            }
            /* the rest is delivered: a leader ships data once a follower has answered */
            if (c->n[m.to.region].db) (void)tidal_node_receive(c->n[m.to.region].db, m.from, m.bytes, m.len);
            tidal_sim_msg_free(&m);
        }
    }
    return 0;
}

/* 5. A corrupted message (envelope or a batch inside) is rejected, counted, and changes
   nothing; 7. the same batch delivered twice does not double anything. */
static void t_rep_corrupt_and_duplicate(void) {
    cluster c;
    tidal_sim_msg m;
    uint8_t before[32], after[32], *copy;
    tidal_node_status st;
    uint64_t bit;
    memset(&m, 0, sizeof m);
    cluster_init(&c, tt_seed());
    write_signals(&c, 50, 10, NULL);
    TT_CHECK(next_append(&c, &m));
    if (!TT_OK()) {
        cluster_free(&c);
        return;
    }
    digest_of(c.n[1].db, before);
    copy = (uint8_t *)malloc(m.len);
    for (bit = 0; bit < (uint64_t)m.len * 8; bit += 1 + tt_below(97)) {
        memcpy(copy, m.bytes, m.len);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        TT_EQ_INT(tidal_node_receive(c.n[1].db, m.from, copy, m.len), TIDAL_ERR_CORRUPT);
    }
    /* A damaged batch inside an intact envelope: the batch's own checksum catches it. */
    memcpy(copy, m.bytes, m.len);
    copy[TIDAL__MSG_HDR + TIDAL__WAL_HDR + 5] ^= 1;
    tidal__msg_sum(copy, copy + TIDAL__MSG_HDR, m.len - TIDAL__MSG_HDR, copy + 56);
    TT_EQ_INT(tidal_node_receive(c.n[1].db, m.from, copy, m.len), TIDAL_ERR_CORRUPT);
    digest_of(c.n[1].db, after);
    TT_CHECK(!memcmp(before, after, 32));
    TT_EQ_INT(tidal_node_status_get(c.n[1].db, &st), TIDAL_OK);
    TT_CHECK(st.msgs_corrupt > 10);
    /* The real message, twice: applied once. */
    TT_EQ_INT(tidal_node_receive(c.n[1].db, m.from, m.bytes, m.len), TIDAL_OK);
    digest_of(c.n[1].db, before);
    TT_EQ_INT(tidal_node_receive(c.n[1].db, m.from, m.bytes, m.len), TIDAL_OK);
    digest_of(c.n[1].db, after);
    TT_CHECK(!memcmp(before, after, 32));
    free(copy);
    tidal_sim_msg_free(&m);
    cluster_run(&c, c.now + 2000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    cluster_free(&c);
}

/* 6. The leader crashes; followers keep serving reads; it restarts, ships the rest, and
   the followers catch up. */
static void t_rep_leader_restart(void) {
    cluster c;
    tidal_hit h[10];
    uint32_t n = 0;
    uint64_t lsn = 0;
    cluster_init(&c, tt_seed());
    write_signals(&c, 100, 20, &lsn);
    cluster_run(&c, c.now + 1000 * MS);
    TT_CHECK(tidal_write_acked(c.n[0].db, lsn, TIDAL_ACK_QUORUM));
    tidal_sim_net_set_down(c.net, c.refs[0], 1);
    tidal_sim_disk_crash(c.n[0].disk);
    tidal_db_close(c.n[0].db);
    c.n[0].db = NULL;
    cluster_run(&c, c.now + 3000 * MS);
    TT_EQ_INT(tidal_retrieve_text(c.n[1].db, "RETRIEVE items SIGNAL view LIMIT 10", h, 10, &n, NULL), TIDAL_OK);
    TT_CHECK(n > 0);
    tidal_sim_disk_restart(c.n[0].disk);
    node_start(&c, 0);
    if (c.n[0].db) {
        int l;
        cluster_run(&c, c.now + 500 * MS);
        l = leader_of(&c);
        TT_CHECK(l > 0); /* the followers elected one of themselves while it was down */
        if (l > 0) {
            write_on(&c, l, 300, 20, &lsn);
            cluster_run(&c, c.now + 2000 * MS);
            TT_CHECK(caught_up(&c));
            TT_CHECK(tidal_write_acked(c.n[l].db, lsn, TIDAL_ACK_QUORUM));
            check_converged(&c);
        }
    }
    cluster_free(&c);
}

/* Failover: the leader crashes under load. A follower leads within 10 s simulated; every
   QUORUM-acknowledged write is on it; writes the old leader acknowledged LOCAL only (its
   disk kept them, the network lost them) reach every replica after it rejoins; a message
   from the deposed leader's epoch is fenced. */
static void t_rep_failover(void) {
    cluster c;
    tidal_event_id quorum_ids[64], local_ids[16];
    uint32_t nq = 0, nl = 0, k;
    int64_t crash_at;
    int i, l = -1;
    cluster_init(&c, tt_seed());
    for (i = 0; i < 64; i++) { /* load, with quorum acknowledgments collected as they come */
        tidal_signal s;
        tidal_receipt rc;
        memset(&s, 0, sizeof s);
        s.item = 1 + tt_below(30);
        s.weight = 1;
        TT_EQ_INT(tidal_signal_write(c.n[0].db, &s, &rc), TIDAL_OK);
        cluster_run(&c, c.now + 15 * MS);
        if (tidal_write_acked(c.n[0].db, rc.lsn, TIDAL_ACK_QUORUM)) quorum_ids[nq++] = rc.id;
    }
    cluster_run(&c, c.now + 500 * MS);
    /* Cut the leader off, then let it acknowledge writes locally that nobody receives. */
    {
        uint32_t h = tidal_sim_net_isolate_region(c.net, 0);
        for (i = 0; i < 16; i++) {
            tidal_signal s;
            tidal_receipt rc;
            memset(&s, 0, sizeof s);
            s.item = 100 + (uint64_t)i;
            s.weight = 1;
            TT_EQ_INT(tidal_signal_write(c.n[0].db, &s, &rc), TIDAL_OK);
            TT_CHECK(tidal_write_acked(c.n[0].db, rc.lsn, TIDAL_ACK_LOCAL));
            local_ids[nl++] = rc.id;
        }
        crash_at = c.now;
        tidal_sim_disk_crash(c.n[0].disk);
        tidal_db_close(c.n[0].db);
        c.n[0].db = NULL;
        tidal_sim_net_heal(c.net, h);
        tidal_sim_net_set_down(c.net, c.refs[0], 1);
    }
    while (c.now < crash_at + 10000 * MS && (l = leader_of(&c)) < 0) cluster_run(&c, c.now + 20 * MS);
    TT_CHECKF(l > 0, "no new leader within 10 s");
    if (l > 0) {
        tidal_signal s;
        printf("  new leader (region %d) after %.0f ms simulated\n", l, (double)(c.now - crash_at) / MS);
        memset(&s, 0, sizeof s);
        s.item = 7;
        s.weight = 1;
        TT_EQ_INT(tidal_signal_write(c.n[l].db, &s, NULL), TIDAL_OK); /* it accepts writes */
        for (k = 0; k < nq; k++)
            TT_CHECKF(tidal__event_applied(c.n[l].db, quorum_ids[k]), "quorum-acknowledged write %u missing", k);
    }
    /* The old leader comes back (its disk kept what it synced) as a follower. */
    tidal_sim_disk_restart(c.n[0].disk);
    node_start(&c, 0);
    cluster_run(&c, c.now + 3000 * MS);
    if (c.n[0].db) {
        tidal_node_status st;
        TT_EQ_INT(tidal_node_status_get(c.n[0].db, &st), TIDAL_OK);
        TT_EQ_INT(st.role, TIDAL_ROLE_FOLLOWER);
    }
    for (i = 0; i < NODES; i++)
        for (k = 0; k < nl && c.n[i].db; k++)
            TT_CHECKF(tidal__event_applied(c.n[i].db, local_ids[k]), "node %d lacks LOCAL write %u", i, k);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    cluster_free(&c);
}

/* A follower that restarts resumes from the leader position its own log recorded. */
static void t_rep_follower_restart_resumes(void) {
    cluster c;
    tidal_node_status st;
    cluster_init(&c, tt_seed());
    write_signals(&c, 400, 20, NULL);
    cluster_run(&c, c.now + 1500 * MS);
    tidal_sim_disk_crash(c.n[2].disk);
    tidal_sim_net_set_down(c.net, c.refs[2], 1);
    tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    write_signals(&c, 200, 20, NULL);
    cluster_run(&c, c.now + 500 * MS);
    tidal_sim_disk_restart(c.n[2].disk);
    node_start(&c, 2);
    if (c.n[2].db) {
        TT_EQ_INT(tidal_node_status_get(c.n[2].db, &st), TIDAL_OK);
        TT_CHECK(st.leader_lsn > 0); /* recovered, not restarted from zero */
        cluster_run(&c, c.now + 2000 * MS);
        TT_CHECK(caught_up(&c));
        check_converged(&c);
    }
    cluster_free(&c);
}

/* Crashes node i (its disk meets its fates, it leaves the network) and runs until another
   node leads, for at most 10 s simulated. Returns the leader, or -1. */
static int crash_and_elect(cluster *c, int i) {
    int64_t t = c->now;
    int l = -1;
    tidal_sim_net_set_down(c->net, c->refs[i], 1);
    tidal_sim_disk_crash(c->n[i].disk);
    tidal_db_close(c->n[i].db);
    c->n[i].db = NULL;
    while (c->now < t + 10000 * MS && (l = leader_of(c)) < 0) cluster_run(c, c->now + 20 * MS);
    return l;
}

/* Snapshots on every replica, then a failover: the new leader can still bring every
   follower up to date (replicas keep their log until state transfer exists). */
static void t_rep_snapshots_then_failover(void) {
    cluster c;
    int i, l = -1;
    cluster_init_seg(&c, tt_seed(), 4096); /* small segments: snapshots could retire many */
    write_signals(&c, 600, 40, NULL);
    cluster_run(&c, c.now + 1000 * MS);
    for (i = 0; i < NODES; i++) TT_EQ_INT(tidal_db_snapshot(c.n[i].db), TIDAL_OK);
    write_signals(&c, 300, 40, NULL);
    cluster_run(&c, c.now + 1000 * MS);
    for (i = 0; i < NODES; i++) TT_EQ_INT(tidal_db_snapshot(c.n[i].db), TIDAL_OK);
    for (i = 1; i < NODES; i++) { /* restarts empty the in-memory copies of the log */
        tidal_db_close(c.n[i].db);
        c.n[i].db = NULL;
        node_start(&c, i);
    }
    cluster_run(&c, c.now + 200 * MS);
    l = crash_and_elect(&c, 0);
    TT_CHECK(l > 0);
    tidal_sim_disk_restart(c.n[0].disk);
    node_start(&c, 0);
    if (l > 0 && c.n[0].db) {
        write_on(&c, l, 200, 40, NULL);
        cluster_run(&c, c.now + 3000 * MS);
        TT_CHECK(caught_up(&c));
        check_converged(&c);
    }
    cluster_free(&c);
}

/* A follower loses its disk after the leader retired the log it would need: the leader
   sends its state instead, and the follower converges (and keeps it across a restart). */
static void t_rep_state_transfer(void) {
    cluster c;
    tidal_node_status st;
    int i;
    cluster_init_seg(&c, tt_seed(), 4096);
    write_signals(&c, 500, 40, NULL);
    cluster_run(&c, c.now + 1000 * MS);
    for (i = 0; i < 2; i++) { /* two snapshots on the leader retire its early segments */
        TT_EQ_INT(tidal_db_snapshot(c.n[0].db), TIDAL_OK);
        write_signals(&c, 200, 40, NULL);
        cluster_run(&c, c.now + 500 * MS);
    }
    TT_EQ_INT(tidal_db_snapshot(c.n[0].db), TIDAL_OK);
    tidal_sim_disk_crash(c.n[2].disk); /* region 2 loses everything */
    tidal_sim_net_set_down(c.net, c.refs[2], 1);
    tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    tidal_sim_disk_wipe(c.n[2].disk);
    if (tidal_sim_disk_is_down(c.n[2].disk)) tidal_sim_disk_restart(c.n[2].disk);
    node_start(&c, 2);
    write_signals(&c, 100, 40, NULL);
    cluster_run(&c, c.now + 3000 * MS);
    TT_EQ_INT(tidal_node_status_get(c.n[0].db, &st), TIDAL_OK);
    TT_CHECK(st.needs_snapshot); /* the log was gone: the state went instead */
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    if (c.n[2].db) { /* what it installed survives its restart */
        uint8_t a[32], b[32];
        digest_of(c.n[2].db, a);
        tidal_db_close(c.n[2].db);
        c.n[2].db = NULL;
        node_start(&c, 2);
        if (c.n[2].db) {
            digest_of(c.n[2].db, b);
            TT_CHECK(!memcmp(a, b, 32));
        }
    }
    cluster_free(&c);
}

/* Log segment files of node i. */
static uint32_t segments_of(cluster *c, int i) {
    char names[256][128];
    uint32_t n = tidal_sim_disk_list(c->n[i].disk, "db", names, 256), k, segs = 0;
    for (k = 0; k < n && k < 256; k++)
        if (strncmp(names[k], "wal-", 4) == 0 && strstr(names[k], ".log")) segs++;
    return segs;
}

/* Version vectors: after a failover the old leader comes back holding almost everything
   the new leader's log holds. Both exchange vectors, so the new leader ships only what it
   lacks and it pushes only what the leader lacks: a few KB, not the whole log again (a
   mutation that ignores the vectors ships ~300 KB and fails this). */
static void t_rep_vv_reconnect_ships_tail(void) {
    cluster c;
    int l = -1, i;
    uint64_t log_bytes, to0, from0;
    cluster_init(&c, tt_seed());
    write_signals(&c, 3000, 200, NULL);
    cluster_run(&c, c.now + 1000 * MS);
    TT_CHECK(caught_up(&c));
    log_bytes = tidal_db_durable_lsn(c.n[0].db) * 87; /* ~87 bytes per encoded signal */
    l = crash_and_elect(&c, 0);
    TT_CHECK(l > 0);
    if (l <= 0) {
        cluster_free(&c);
        return;
    }
    write_on(&c, l, 50, 200, NULL);
    cluster_run(&c, c.now + 500 * MS);
    tidal_sim_disk_restart(c.n[0].disk);
    node_start(&c, 0);
    for (i = 0; i < NODES; i++) c.bytes_to[i] = c.bytes_from[i] = 0;
    cluster_run(&c, c.now + 3000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    to0 = c.bytes_to[0];
    from0 = c.bytes_from[0];
    printf("  old leader rejoined: %llu bytes to it, %llu from it (its log: ~%llu bytes)\n",
           (unsigned long long)to0, (unsigned long long)from0, (unsigned long long)log_bytes);
    TT_CHECKF(to0 < log_bytes / 8, "shipped %llu bytes to a node that held all but ~50 events",
              (unsigned long long)to0);
    TT_CHECKF(from0 < log_bytes / 8, "it pushed %llu bytes the leader already held", (unsigned long long)from0);
    cluster_free(&c);
}

/* Log retirement waits for every member: with one follower down, snapshots on the others
   retire nothing it has not acknowledged, so when it returns it catches up from the log
   (no state transfer); once it has, the next snapshots retire the old segments. */
static void t_rep_retire_waits_for_every_member(void) {
    cluster c;
    tidal_node_status st;
    uint32_t before, after;
    int i, k;
    cluster_init_seg(&c, tt_seed(), 4096);
    write_signals(&c, 100, 40, NULL);
    cluster_run(&c, c.now + 500 * MS);
    tidal_sim_net_set_down(c.net, c.refs[2], 1);
    tidal_sim_disk_crash(c.n[2].disk);
    tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    for (k = 0; k < 3; k++) {
        write_signals(&c, 300, 40, NULL);
        cluster_run(&c, c.now + 500 * MS);
        for (i = 0; i < 2; i++) TT_EQ_INT(tidal_db_snapshot(c.n[i].db), TIDAL_OK);
    }
    before = segments_of(&c, 0);
    tidal_sim_disk_restart(c.n[2].disk);
    node_start(&c, 2);
    cluster_run(&c, c.now + 3000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    TT_EQ_INT(tidal_node_status_get(c.n[0].db, &st), TIDAL_OK);
    TT_CHECKF(!st.needs_snapshot, "the leader retired log a member had not acknowledged");
    for (k = 0; k < 2; k++) { /* now every member holds it: two snapshots retire it */
        write_signals(&c, 20, 40, NULL);
        cluster_run(&c, c.now + 500 * MS);
        for (i = 0; i < NODES; i++) TT_EQ_INT(tidal_db_snapshot(c.n[i].db), TIDAL_OK);
    }
    after = segments_of(&c, 0);
    printf("  leader segments: %u while a member was down, %u after it caught up\n", before, after);
    TT_CHECKF(after < before, "segments %u -> %u: nothing retired once every member held it", before, after);
    check_converged(&c);
    cluster_free(&c);
}

/* Control-plane config versions: a node on a newer version refuses messages from the old
   one, and they refuse its messages: nothing is applied across versions (DESIGN 5.1). Once
   every node runs the new version the group converges. */
static void t_rep_config_version(void) {
    cluster c;
    tidal_node_status st;
    uint8_t before[32], after[32];
    int i;
    cluster_init(&c, tt_seed());
    write_signals(&c, 100, 20, NULL);
    cluster_run(&c, c.now + 1000 * MS);
    TT_CHECK(caught_up(&c));
    TT_EQ_INT(tidal_db_set_config_version(c.n[2].db, 7), TIDAL_OK);
    TT_EQ_INT(tidal_db_set_config_version(c.n[2].db, 6), TIDAL_ERR_STALE_CONFIG);
    digest_of(c.n[2].db, before);
    write_signals(&c, 100, 20, NULL);
    cluster_run(&c, c.now + 3000 * MS); /* long enough for node 2 to give up on its leader */
    digest_of(c.n[2].db, after);
    TT_CHECK(!memcmp(before, after, 32)); /* nothing applied under the other version */
    TT_EQ_INT(tidal_node_status_get(c.n[2].db, &st), TIDAL_OK);
    TT_CHECK(st.msgs_stale > 0);
    TT_EQ_INT(st.config_version, 7);
    TT_EQ_INT(tidal_node_status_get(c.n[0].db, &st), TIDAL_OK);
    TT_CHECK(st.msgs_stale > 0); /* its messages were refused here too */
    for (i = 0; i < 2; i++) TT_EQ_INT(tidal_db_set_config_version(c.n[i].db, 7), TIDAL_OK);
    cluster_run(&c, c.now + 3000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    cluster_free(&c);
}

/* One explicit batch far larger than a network message (3,000 session notes of 4,000
   bytes: ~12 MB): the log splits it into batches that each ship in one message, so the
   followers catch up and hold every note (a single 12 MB batch could never be sent, and
   replication stopped behind it). */
static void t_rep_big_batch_ships(void) {
    cluster c;
    tidal_session_info info;
    tidal_node_status st;
    char *note = (char *)malloc(4001);
    tidal_id sess[3];
    int l, i, k;
    TT_CHECK(note != NULL);
    if (!note) return;
    cluster_init(&c, tt_seed());
    cluster_run(&c, c.now + 500 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0);
    if (l < 0) {
        free(note);
        cluster_free(&c);
        return;
    }
    for (k = 0; k < 3; k++) TT_EQ_INT(tidal_session_start(c.n[l].db, 0, 100 + (uint64_t)k, 0, &sess[k]), TIDAL_OK);
    TT_EQ_INT(tidal_db_batch_begin(c.n[l].db), TIDAL_OK);
    for (i = 0; i < 3000; i++) {
        memset(note, 'a' + i % 26, 4000);
        note[4000] = 0;
        TT_EQ_INT(tidal_session_note(c.n[l].db, 0, sess[i % 3], 1 + (uint64_t)(i / 3), note, NULL), TIDAL_OK);
    }
    TT_EQ_INT(tidal_db_commit(c.n[l].db), TIDAL_OK);
    cluster_run(&c, c.now + 5000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    TT_EQ_INT(tidal_node_status_get(c.n[l].db, &st), TIDAL_OK);
    TT_CHECKF(!st.needs_snapshot, "the followers needed a state transfer: the log did not ship");
    for (i = 0; i < NODES; i++)
        for (k = 0; k < 3; k++) {
            TT_EQ_INT(tidal_session_get(c.n[i].db, 0, sess[k], &info), TIDAL_OK);
            TT_EQ_INT(info.entries, 1000);
            TT_EQ_INT(info.hwm, 1000);
        }
    free(note);
    cluster_free(&c);
}

/* The epoch record moved to version 3 (it now carries the vote position a follower noted
   without logging a batch). A node whose record is still version 2 opens with its epoch
   and vote, and rejoins; a record with a flipped byte is refused (TIDAL_ERR_CORRUPT). */
static void t_rep_epoch_record_v2(void) {
    cluster c;
    tidal_env *env;
    void *f = NULL;
    uint8_t b[TIDAL__META_BYTES], v2[72];
    uint64_t got = 0;
    tidal_node_status st;
    size_t n = 0;
    tidal_result r;
    char msg[256];
    const char *name = "db/meta-0002-0000.dat";
    cluster_init(&c, tt_seed());
    write_signals(&c, 200, 30, NULL);
    cluster_run(&c, c.now + 1000 * MS);
    TT_CHECK(caught_up(&c));
    tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    env = &c.n[2].env.env;
    TT_EQ_INT(env->file_open(env->user, name, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE, &f), TIDAL_OK);
    TT_EQ_INT(env->file_size(env->user, f, &got), TIDAL_OK);
    TT_EQ_INT(got, TIDAL__META_BYTES);
    TT_EQ_INT(env->file_read(env->user, f, 0, b, sizeof b, &n), TIDAL_OK);
    memcpy(v2, b, 40); /* the version 2 layout: the first 40 bytes, then their sum */
    v2[4] = 2;
    tidal_blake3(v2, 40, v2 + 40);
    TT_EQ_INT(env->file_truncate(env->user, f, 0), TIDAL_OK);
    TT_EQ_INT(env->file_write(env->user, f, 0, v2, sizeof v2), TIDAL_OK);
    TT_EQ_INT(env->file_sync(env->user, f), TIDAL_OK);
    env->file_close(env->user, f);
    node_start(&c, 2);
    TT_CHECK(c.n[2].db != NULL);
    if (c.n[2].db) {
        TT_EQ_INT(tidal_node_status_get(c.n[2].db, &st), TIDAL_OK);
        TT_CHECK(st.epoch >= 1);
    }
    write_signals(&c, 50, 30, NULL);
    cluster_run(&c, c.now + 2000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    /* Version 4 (before the state-transfer mark: its first 64 bytes, then their sum) opens
       too, with the mark off. */
    tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    TT_EQ_INT(env->file_open(env->user, name, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE, &f), TIDAL_OK);
    TT_EQ_INT(env->file_read(env->user, f, 0, b, sizeof b, &n), TIDAL_OK);
    TT_EQ_INT(n, TIDAL__META_BYTES); /* rewritten as the current version since */
    {
        uint8_t v4[TIDAL__META_V4_BYTES];
        memcpy(v4, b, TIDAL__META_V4_SUMMED);
        v4[4] = 4;
        tidal_blake3(v4, TIDAL__META_V4_SUMMED, v4 + TIDAL__META_V4_SUMMED);
        TT_EQ_INT(env->file_truncate(env->user, f, 0), TIDAL_OK);
        TT_EQ_INT(env->file_write(env->user, f, 0, v4, sizeof v4), TIDAL_OK);
    }
    TT_EQ_INT(env->file_sync(env->user, f), TIDAL_OK);
    env->file_close(env->user, f);
    node_start(&c, 2);
    TT_CHECK(c.n[2].db != NULL);
    if (c.n[2].db) TT_CHECK(!c.n[2].db->rep.base_on);
    write_signals(&c, 50, 30, NULL);
    cluster_run(&c, c.now + 2000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    /* A flipped byte: refused, whatever the version. */
    tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    TT_EQ_INT(env->file_open(env->user, name, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE, &f), TIDAL_OK);
    TT_EQ_INT(env->file_read(env->user, f, 0, b, sizeof b, &n), TIDAL_OK);
    b[20] ^= 1;
    TT_EQ_INT(env->file_write(env->user, f, 0, b, n), TIDAL_OK);
    env->file_close(env->user, f);
    r = tidal_db_open_msg(&c.n[2].cfg, &c.n[2].db, msg, sizeof msg);
    TT_EQ_INT(r, TIDAL_ERR_CORRUPT);
    if (r == TIDAL_OK) tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    cluster_free(&c);
}

/* Pipelined shipping (issue 15): the leader ships each committed batch at once, without
   waiting for the ack of the one before, so two commits put two data messages in flight to
   a follower. Delivered in reverse order, the follower holds the later one (its position
   does not move, nothing is applied out of order) and takes both when the earlier arrives,
   with no resend. */
static void t_rep_pipelined_window(void) {
    cluster c;
    tidal_sim_msg got[256];
    int n = 0, k, data[8], nd = 0;
    uint64_t before;
    tidal_node_status st;
    cluster_init(&c, tt_seed());
    write_signals(&c, 10, 10, NULL);
    cluster_run(&c, c.now + 2000 * MS);
    TT_CHECK(caught_up(&c) && leader_of(&c) == 0);
    TT_EQ_INT(tidal_node_status_get(c.n[1].db, &st), TIDAL_OK);
    before = st.leader_lsn;
    write_on(&c, 0, 5, 10, NULL);
    write_on(&c, 0, 5, 10, NULL);
    while (n < 256 && tidal_sim_net_pop(c.net, c.now + 10000 * MS, &got[n])) n++;
    for (k = 0; k < n; k++) /* the data appends to node 1, in send order */
        if (got[k].to.region == 1 && got[k].from.region == 0 && got[k].len > TIDAL__MSG_HDR &&
            got[k].bytes[8] == TIDAL__MSG_APPEND && nd < 8)
            data[nd++] = k;
    TT_CHECKF(nd == 2, "%d data appends in flight to a follower after two commits (want 2)", nd);
    if (nd == 2 && tidal__rd_le_at(got[data[0]].bytes + 32) > tidal__rd_le_at(got[data[1]].bytes + 32)) {
        int t = data[0]; /* the network delivers by latency: put them in log order (a) */
        data[0] = data[1], data[1] = t;
    }
    if (nd == 2) {
        TT_EQ_INT(tidal_node_receive(c.n[1].db, got[data[1]].from, got[data[1]].bytes, got[data[1]].len), TIDAL_OK);
        TT_EQ_INT(tidal_node_status_get(c.n[1].db, &st), TIDAL_OK);
        TT_EQ_INT(st.leader_lsn, before); /* held, not applied past a gap */
        TT_EQ_INT(tidal_node_receive(c.n[1].db, got[data[0]].from, got[data[0]].bytes, got[data[0]].len), TIDAL_OK);
        TT_EQ_INT(tidal_node_status_get(c.n[1].db, &st), TIDAL_OK);
        TT_EQ_INT(st.leader_lsn, tidal_db_durable_lsn(c.n[0].db)); /* both taken */
        /* The earlier one again (a duplicate): nothing changes. */
        TT_EQ_INT(tidal_node_receive(c.n[1].db, got[data[0]].from, got[data[0]].bytes, got[data[0]].len), TIDAL_OK);
    }
    for (k = 0; k < n; k++) tidal_sim_msg_free(&got[k]);
    cluster_run(&c, c.now + 3000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c);
    cluster_free(&c);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_rep_decay_scores_match),
    TT_CASE(t_rep_follower_rejects_writes),
    TT_CASE(t_rep_follower_serves_retrieve),
    TT_CASE(t_rep_lag_converges),
    TT_CASE(t_rep_corrupt_and_duplicate),
    TT_CASE(t_rep_leader_restart),
    TT_CASE(t_rep_follower_restart_resumes),
    TT_CASE(t_rep_failover),
    TT_CASE(t_rep_snapshots_then_failover),
    TT_CASE(t_rep_state_transfer),
    TT_CASE(t_rep_vv_reconnect_ships_tail),
    TT_CASE(t_rep_retire_waits_for_every_member),
    TT_CASE(t_rep_config_version),
    TT_CASE(t_rep_big_batch_ships),
    TT_CASE(t_rep_epoch_record_v2),
    TT_CASE(t_rep_pipelined_window),
    TT_CASE(t_rep_ship_evicts_in_bulk),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
