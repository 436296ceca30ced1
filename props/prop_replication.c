#include "prop_common.h"

/* prop_replication.c - random histories on one replica group (3 regions x 1 shard) of the
   simulated cluster, checked after every step and at the end (DESIGN 5.2-5.5, 6, 7).

   A history is a list of ops generated from a history seed; the cluster's seed is the same
   seed. Each op is applied and then the cluster runs 1-500 ms of simulated time. Ops are
   interpreted against the cluster as it is when they run ("write on the current leader",
   "restart some crashed node"), so any sub-list of a history is still a valid history:
   that is what lets the shrinker delete ops freely. The shrinker first replaces what it
   deletes by a "sleep" of the same simulated length, because failures are timing-bound.
   The machinery (running, shrinking, regression seeds, reporting) and the checks shared
   with prop_multiregion.c are in prop_common.h.

   Safety, after every step (the cluster's observer, and after each op):
     two_leaders          at most one node leads an epoch: one region, and one incarnation
                          of it unless the earlier one had logged nothing (a node that lost
                          its log and leads the same epoch again is a second leader)
     write_role           a follower refuses writes with TIDAL_ERR_READ_ONLY, a leader takes
                          them, and an accepted write is LOCAL-acked when the call returns
     ack_truth            a write becomes QUORUM-acked only while it is applied on at least
                          2 of the 3 nodes (down nodes are asked after their restart)
     leader_completeness  a leader of an epoch above the one a write was QUORUM-acked in
                          holds that write (DESIGN 5.2: "the new leader therefore holds
                          every quorum-acknowledged event")
     suppressed_returned  RETRIEVE ... FOR USER u on any live node never returns an item
                          that node's tidal_negative_check says u suppressed
     hide_lost            every hide applied on a node (by id), with no unhide of it nor
                          forget of its user applied there, is in force there
     hide_monotone        a (user, item) suppressed on a node stays suppressed there until
                          an unhide of it (or a forget of the user) is applied there
   At the end (partitions healed, faults off, every node restarted; once every member holds
   every event, each user forgotten in the history is forgotten again on the leader, the
   documented remedy for writes merged after a partition (tidal_user_forget); converged):
     no_convergence       followers caught up with one leader within 30 s simulated
     digest               identical tidal_db_digest (and count of distinct events applied)
                          on all replicas
     quorum_lost          every QUORUM-acked write on every node (unless more than a
                          minority of nodes lost their disk after it)
     local_lost           every LOCAL-acked write on every node (unless its accepting node
                          lost its disk after it)
     count / score        all-time count of each (item, type) = distinct oracle events of it
                          applied on the node, <= writes issued; decayed score = the analytic
                          sum over those events
     events_applied       the node applied no event the oracle did not see written

   Replay: --seed S runs exactly the history with seed S (a seed other than the case's
   default one means "this history"); the failure report prints that command.
   Triage: TIDAL_PROP_SKIP=two_leaders,... turns the named checks off. */

/* ---- histories ------------------------------------------------------------------------ */

enum {
    OP_WRITE = OP_COMMON_KINDS, /* k signals on the leader (or on node `node` when node >= 0) */
    OP_HIDE,                    /* hide item for user on the leader (or node) */
    OP_UNHIDE,
    OP_FORGET,                  /* forget user on the leader (or node): its hides go */
    OP_TRANSFER,                /* the leader hands over to node (or the next region) */
    OP_CRASH_SYNC,              /* k signals on the leader, which crashes inside their commit */
    OP_KINDS
};

enum { ST_QUORUM_ACKED, ST_LEADERS }; /* run_result.stat */

static const char *op_name(int kind) {
    static const char *const names[OP_KINDS - OP_COMMON_KINDS] = {
        "write", "hide", "unhide", "forget", "transfer", "crash_sync"};
    return names[kind - OP_COMMON_KINDS];
}

/* A history from its seed alone (its own stream: the cluster gets the seed itself). Per
   op, out of 1000: 450 writes, 120 hides, 70 unhides (a quarter of hides and unhides are
   forgets of their user instead; one write in 15 is a leadership transfer, one in 20 a crash
   of the leader inside its commit, after shipping, before its fdatasync: crash_sync), 70
   crashes, 90 restarts, 15 wipes
   (rare: a lost disk is the harshest fault), 75 partitions, 60 heals, 30 network fault
   settings and 20 clock skews. */
static void gen_op(op *o, uint64_t *g, uint64_t seed, int i) {
    uint32_t d = (uint32_t)(tt_next(g) % 1000);
    gen_op_head(o, g, 500, gen_snapshot(seed, i));
    if (d < 450) {
        o->kind = OP_WRITE;
        o->k = 1 + (int)(tt_next(g) % 20);
        o->batch = tt_next(g) % 10 < 3;
        if (tt_next(g) % 5 == 0) o->node = (int)(tt_next(g) % NREG);
    } else if (d < 570) {
        o->kind = OP_HIDE;
        if (tt_next(g) % 6 == 0) o->node = (int)(tt_next(g) % NREG);
    } else if (d < 640) {
        o->kind = OP_UNHIDE;
        if (tt_next(g) % 6 == 0) o->node = (int)(tt_next(g) % NREG);
    } else {
        gen_common_op(o, d < 710 ? OP_CRASH : d < 800 ? OP_RESTART : d < 815 ? OP_WIPE : d < 890 ? OP_PART
                         : d < 950 ? OP_HEAL : d < 980 ? OP_FAULTS : OP_SKEW, g);
    }
    /* One hide or unhide in 4 becomes a forget of its user, decided on a stream of its own
       so every other draw of a seed stays what it was. */
    if ((o->kind == OP_HIDE || o->kind == OP_UNHIDE) &&
        mix64(seed ^ UINT64_C(0x666f72676574) ^ (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15)) % 4
            == 0)
        o->kind = OP_FORGET;
    /* One write in 15 becomes a leadership transfer, likewise on a stream of its own. */
    if (o->kind == OP_WRITE &&
        mix64(seed ^ UINT64_C(0x7472616e73666572) ^ (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15)) %
                15 == 0)
        o->kind = OP_TRANSFER;
    /* One write in 20 ends in a crash of the leader inside its commit, after the batch
       shipped and before its fdatasync (tidal.h >>repl_epoch, rules O1-O3), likewise. */
    if (o->kind == OP_WRITE &&
        mix64(seed ^ UINT64_C(0x6372617368737963) ^ (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15)) %
                20 == 0)
        o->kind = OP_CRASH_SYNC;
}

static int gen_history(uint64_t seed, op *ops) {
    return gen_ops(seed, UINT64_C(0x686973746f7279) /* "history" */, ops, gen_op);
}

static void op_print_detail(FILE *f, const op *o) {
    char target[24];
    op_target(target, sizeof target, o->node);
    if (o->kind == OP_TRANSFER)
        fprintf(f, "to %s", o->node >= 0 ? target : "the next region");
    else if (o->kind == OP_WRITE)
        fprintf(f, "k=%d on %s ack=%s%s", o->k, target, o->quorum ? "QUORUM" : "LOCAL",
                o->batch ? " (one batch)" : "");
    else if (o->kind == OP_CRASH_SYNC)
        fprintf(f, "k=%d on the leader, which crashes in their commit's fdatasync", o->k);
    else
        fprintf(f, "user %llu item %llu on %s ack=%s", (unsigned long long)o->user,
                (unsigned long long)o->item, target, o->quorum ? "QUORUM" : "LOCAL");
}

/* ---- safety checks (every step) ------------------------------------------------------- */



/* Polls the writes waiting for QUORUM: the accepting process must still be the one that
   took the write; when the ack turns 1, count who holds the event right now. */
static void poll_quorum(world *w) {
    uint32_t i, kept = 0;
    for (i = 0; i < w->n_pending; i++) {
        ev_rec *e = &w->ev[w->pending[i]];
        tidal_db *db = dbof(w, e->node);
        if (!db || w->life[e->node] != e->life) {
            e->q = Q_ABANDONED; /* the client lost its connection: outcome unknown */
            continue;
        }
        if (!tidal_write_acked(db, e->lsn, TIDAL_ACK_QUORUM)) {
            w->pending[kept++] = w->pending[i];
            continue;
        }
        w->res->stat[ST_QUORUM_ACKED]++;
        quorum_acked(w, e, db);
    }
    w->n_pending = kept;
}

static void check_step(world *w) {
    if (failed(w)) return;
    check_leaders(w, check_leader_holds);
    if (!failed(w)) poll_quorum(w);
    if (!failed(w)) check_reads(w);
}

/* ---- executing ops -------------------------------------------------------------------- */

static int role_of(const world *w, int r) {
    tidal_node_status st;
    tidal_db *db = dbof(w, r);
    if (!db || tidal_node_status_get(db, &st) != TIDAL_OK) return -1;
    return (int)st.role;
}

/* After a write call's outcome is known: LOCAL must hold at once; QUORUM is polled. */
static void ev_accepted(world *w, ev_rec *e, int quorum) {
    tidal_db *db = dbof(w, e->node);
    char b[48];
    e->local_ok = 1;
    if (!tidal_write_acked(db, e->lsn, TIDAL_ACK_LOCAL))
        fail(w, "write_role", "region %d accepted event %s (lsn %llu) but it is not LOCAL-acked",
             e->node, id_str(e->id, b, sizeof b), (unsigned long long)e->lsn);
    if (quorum) {
        e->q = Q_PENDING;
        pending_add(w, e);
    }
}

/* 1 while region r's leader hands over (tidal_replica_transfer): it refuses writes. */
static int handing_over(const world *w, int r) {
    tidal_node_status st;
    tidal_db *db = dbof(w, r);
    return db && tidal_node_status_get(db, &st) == TIDAL_OK && st.transfer_in_flight;
}

/* A write call's result must match the role the node had when it was called (a leader
   handing over refuses with TIDAL_ERR_UNAVAILABLE). */
static int expect_result(world *w, int r, int role, tidal_result res, const char *what) {
    tidal_db *db = dbof(w, r);
    if (role == TIDAL_ROLE_LEADER && res == TIDAL_ERR_UNAVAILABLE && handing_over(w, r)) return 0;
    if (role == TIDAL_ROLE_LEADER && res != TIDAL_OK) {
        fail(w, "write_role", "%s on leader region %d failed: %s (%s)", what, r, tidal_strerror(res), tidal_errmsg(db));
        return 0;
    }
    if (role != TIDAL_ROLE_LEADER && res != TIDAL_ERR_READ_ONLY) {
        fail(w, "write_role", "%s on follower region %d returned %s, not TIDAL_ERR_READ_ONLY", what, r, tidal_strerror(res));
        return 0;
    }
    return res == TIDAL_OK;
}

static void do_write(world *w, const op *o) {
    int r = pick_target(w, o), role, i, accepted = 0;
    tidal_db *db = dbof(w, r);
    uint64_t g = o->r;
    ev_rec *first;
    uint32_t first_idx = w->n_ev;
    if (!db) {
        if (w->verbose) printf("      write: region %d is down, nothing sent\n", r);
        return;
    }
    role = role_of(w, r);
    if (!batch_open(w, r, o)) return;
    for (i = 0; i < o->k && !failed(w); i++) {
        tidal_signal s;
        tidal_receipt rc;
        tidal_result res;
        memset(&rc, 0, sizeof rc);
        gen_signal(w, &g, &s);
        res = tidal_signal_write(db, &s, &rc);
        if (!expect_result(w, r, role, res, "signal write")) continue;
        (void)ev_new(w, EV_SIGNAL, r, &rc, &s, 0, 0);
        accepted++;
    }
    if (!batch_close(w, r, o)) return;
    for (i = 0; i < accepted && !failed(w); i++) ev_accepted(w, &w->ev[first_idx + (uint32_t)i], o->quorum);
    first = accepted ? &w->ev[first_idx] : NULL;
    if (w->verbose)
        printf("      write: region %d (%s) %s %d of %d signals, lsn %llu..%llu\n", r,
               role == TIDAL_ROLE_LEADER ? "leader" : "follower", accepted ? "took" : "refused", accepted,
               o->k, first ? (unsigned long long)first->lsn : 0ULL,
               first ? (unsigned long long)w->ev[w->n_ev - 1].lsn : 0ULL);
}

static void do_negative(world *w, const op *o) {
    int r = pick_target(w, o), role;
    tidal_db *db = dbof(w, r);
    tidal_receipt rc;
    tidal_result res;
    if (!db) return;
    role = role_of(w, r);
    memset(&rc, 0, sizeof rc);
    if (o->kind == OP_HIDE) res = tidal_negative_add(db, 0, o->user, TIDAL_HIDE, o->item, &rc);
    else if (o->kind == OP_FORGET) res = tidal_user_forget(db, 0, o->user, &rc);
    else res = tidal_negative_remove(db, 0, o->user, TIDAL_HIDE, o->item, &rc);
    if (w->verbose)
        printf("      %s: region %d (%s): %s\n", op_name(o->kind), r,
               role == TIDAL_ROLE_LEADER ? "leader" : "follower", tidal_strerror(res));
    if (expect_result(w, r, role, res, op_name(o->kind))) {
        int kind = o->kind == OP_HIDE ? EV_HIDE : o->kind == OP_FORGET ? EV_FORGET : EV_UNHIDE;
        ev_accepted(w, ev_new(w, kind, r, &rc, NULL, o->user, kind == EV_FORGET ? 0 : o->item),
                    o->quorum);
    }
}

/* The leader hands over to node (or the next region). Refusals that depend on the moment
   (it lags, one is in flight, no leader) are fine; a transfer never loses an acknowledged
   write, which the every-step checks see. */
static void do_transfer(world *w, const op *o) {
    int l = leader_region(w), to;
    tidal_node_ref ref;
    tidal_result res;
    if (l < 0 || !dbof(w, l) || role_of(w, l) != TIDAL_ROLE_LEADER) return;
    to = o->node >= 0 && o->node != l ? o->node : (l + 1) % NREG;
    ref.region = (uint16_t)to;
    ref.shard = 0;
    res = tidal_replica_transfer(dbof(w, l), ref);
    if (w->verbose)
        printf("      transfer: region %d -> %d: %s\n", l, to, tidal_strerror(res));
    if (res != TIDAL_OK && res != TIDAL_ERR_UNAVAILABLE && res != TIDAL_ERR_LIMIT)
        fail(w, "write_role", "transfer from leader region %d to %d: %s (%s)", l, to,
             tidal_strerror(res), tidal_errmsg(dbof(w, l)));
}

/* OP_CRASH_SYNC: the leader takes k signals in one batch and crashes inside its commit,
   its batch written to the log and shipped, its fdatasync not run (the disk goes down just
   before it). The disk's fates keep, tear or drop the unsynced batch; the followers may
   hold it. The client learns nothing (the commit failed): outcome unknown. */
static struct {
    tidal_sim_disk *disk;
    tidal_result (*real)(void *user, void *file);
    int armed;
} crash_sync;

static tidal_result crash_sync_hook(void *user, void *file) {
    if (crash_sync.armed) {
        crash_sync.armed = 0;
        tidal_sim_disk_crash(crash_sync.disk);
    }
    return crash_sync.real(user, file);
}

static void do_crash_sync(world *w, const op *o) {
    int r = leader_region(w), i;
    tidal_db *db = r >= 0 ? dbof(w, r) : NULL;
    tidal_sim_env *e;
    uint32_t first = w->n_ev, k;
    uint64_t g = o->r;
    tidal_result cr;
    if (!db || role_of(w, r) != TIDAL_ROLE_LEADER || tidal_db_batch_begin(db) != TIDAL_OK) {
        if (w->verbose) printf("      crash_sync: no leader, nothing done\n");
        return;
    }
    for (i = 0; i < o->k; i++) {
        tidal_signal s;
        tidal_receipt rc;
        memset(&rc, 0, sizeof rc);
        gen_signal(w, &g, &s);
        if (tidal_signal_write(db, &s, &rc) == TIDAL_OK) (void)ev_new(w, EV_SIGNAL, r, &rc, &s, 0, 0);
    }
    e = tidal_sim_cluster_env(w->c, (uint16_t)r, 0);
    crash_sync.disk = tidal_sim_cluster_disk(w->c, (uint16_t)r, 0);
    crash_sync.real = e->env.file_sync;
    crash_sync.armed = 1;
    e->env.file_sync = crash_sync_hook;
    cr = tidal_db_commit(db);
    e->env.file_sync = crash_sync.real;
    crash_sync.armed = 0;
    for (k = first; k < w->n_ev; k++) /* a failed commit: they may or may not exist */
        tidal_sim_oracle_settle(w->o, k, cr == TIDAL_OK ? TIDAL_SIM_OK : TIDAL_SIM_UNKNOWN, 0, NULL);
    for (k = first; cr == TIDAL_OK && k < w->n_ev && !failed(w); k++) ev_accepted(w, &w->ev[k], 0);
    if (w->verbose)
        printf("      crash_sync: region %d crashed in the commit of %u signals (%s)\n", r,
               w->n_ev - first, tidal_strerror(cr));
    tidal_sim_cluster_crash(w->c, (uint16_t)r, 0);
}

static void do_op(world *w, const op *o) {
    switch (o->kind) {
    case OP_WRITE: do_write(w, o); break;
    case OP_CRASH_SYNC: do_crash_sync(w, o); break;
    case OP_TRANSFER: do_transfer(w, o); break;
    case OP_HIDE:
    case OP_UNHIDE:
    case OP_FORGET: do_negative(w, o); break;
    default: do_common_op(w, o); break;
    }
}

/* ---- the end phase -------------------------------------------------------------------- */

/* The documented remedy for a forget concurrent with writes merged after a partition
   (tidal_user_forget): once every member holds every event (caught up, pushes merged:
   equal event counts), each user forgotten during the history is forgotten again on the
   leader, after which the members must converge to one digest. */
static void rep_converging(world *w) {
    int64_t deadline = tidal_sim_cluster_now(w->c) + CONVERGE_NS;
    int leader = -1, r, settled = 0;
    uint64_t u;
    while (!failed(w) && !settled && tidal_sim_cluster_now(w->c) < deadline) {
        tidal_db_stats s0, s;
        settled = caught_up(w, &leader) && !handing_over(w, leader);
        if (settled) tidal_db_stats_get(dbof(w, 0), &s0);
        for (r = 1; r < NREG && settled; r++) {
            tidal_db_stats_get(dbof(w, r), &s);
            settled = s.events_applied == s0.events_applied;
        }
        if (!settled) tidal_sim_cluster_run(w->c, tidal_sim_cluster_now(w->c) + 50 * MS);
    }
    if (!settled || failed(w)) return; /* the end phase reports no_convergence */
    for (u = 0; u < NUSERS; u++) {
        uint64_t user = USER0 + 1 + u;
        uint32_t i, any = 0;
        tidal_receipt rc;
        for (i = 0; i < w->n_ev; i++)
            any |= w->ev[i].kind == EV_FORGET && tidal_sim_oracle_op(w->o, i)->user == user;
        if (!any) continue;
        memset(&rc, 0, sizeof rc);
        if (tidal_user_forget(dbof(w, leader), 0, user, &rc) != TIDAL_OK) {
            fail(w, "write_role", "forget again on leader region %d failed: %s", leader,
                 tidal_errmsg(dbof(w, leader)));
            return;
        }
        ev_accepted(w, ev_new(w, EV_FORGET, leader, &rc, NULL, user, 0), 0);
    }
}

/* quorum_lost, local_lost, events_applied, count / score (see the top of the file): the
   shared checker's (tidal_sim.h >>sim_check) on every node, by event id. */
static void end_checks(world *w) {
    int r;
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_sim_member m = member_of(w, r);
        if (tidal_sim_check_acked(w->o, &m, NULL, TIDAL_ACK_LOCAL)) break;
        /* Epoch-start markers are the leaders' own events, not the oracle's writes. */
        if (tidal_sim_check_known(w->o, &m, NULL, 0)) break;
        check_signal_stats(w, &m, TIDAL_SIM_COUNT_APPLIED);
    }
}

static void run_history(uint64_t seed, const op *ops, int n, int verbose, run_result *res) {
    world w;
    if (!world_open(&w, seed, 1, 0, verbose, res)) return;
    w.converging = rep_converging;
    world_run(&w, ops, n, do_op, check_step, end_checks);
    res->stat[ST_LEADERS] = w.n_leaders;
    world_close(&w);
}

/* ---- cases ---------------------------------------------------------------------------- */

static const prop_program program = {300, "regressions.txt",
                                     {"QUORUM acks", "leaderships", NULL, NULL},
                                     {"QUORUM-acked", "leaders", NULL, NULL}};

PROP_MAIN(program)
