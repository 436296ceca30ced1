#include "prop_common.h"

/* prop_multiregion.c - random histories on one replica group (3 regions x 1 shard) in
   availability mode (DESIGN 5.4), checked after every step and at the end against the
   simulator's ground truth: one node that applied the union of every event any node wrote
   (DESIGN 2, 3.5, 3.6, 5.2-5.6, 6, 7). The machinery (running, shrinking, regression
   seeds, reporting) and the checks shared with prop_replication.c are in prop_common.h.

   Clients write in their own region, whatever its role: a leader takes writes, a follower
   that hears its leader refuses them (TIDAL_ERR_READ_ONLY), a member that heard no leader
   for the election timeout (cut off: a minority side, an isolated old leader's followers)
   takes them as its own origin. Ops: writes of k signals (some with idempotency keys) at
   ack level LOCAL or QUORUM (QUORUM tracked with tidal_write_status until OK or
   UNAVAILABLE); retries of earlier idempotency keys in another region; hides and unhides,
   and races of a hide on one side with an unhide on the other; roaming sessions (started in
   one region, opened and written in others, on both sides of a partition at once, with
   explicit seqs, repeats and gaps); partitions (one-way, two-way, isolate = split 1|2) and
   heals; crashes and restarts; rare disk wipes; snapshots; clock skew, jumps back and
   runaway clocks; network loss, duplication and reordering. A retry carries the content of
   the original write, and (session, seq) always carries the same signal: exactly-once is
   the library's job, content agreement the client's.

   Safety, after every step (the cluster's observer, and after each op):
     two_leaders          at most one node leads an epoch (as in prop_replication)
     write_role           a leader or a cut-off member takes a write (TIDAL_OK, LOCAL-acked
                          at once); any other member refuses it with TIDAL_ERR_READ_ONLY
                          (a session write there may also find the session not started
                          there, TIDAL_ERR_NOT_FOUND); nothing else is returned
     write_status         tidal_write_status at QUORUM answers OK, PENDING or UNAVAILABLE
     ack_truth            a write becomes QUORUM-acked only while at least 2 nodes hold it
     leader_completeness  a leader of a later epoch holds every QUORUM-acked write
     same_id              a retry of an idempotency key, and a session seq written again,
                          get the id the first acceptance got, in any region
     suppressed_returned  RETRIEVE ... FOR USER u never returns an item the same replica's
                          tidal_negative_check says u suppressed
     hide_monotone        a suppressed (user, item) stays so until an unhide is applied
     hlc_monotone         a node's hybrid clock (tidal_node_status.hlc) never goes back
                          within one life of the node
     hlc_restart          after a restart it is not below any value seen in the previous life
                          (the node persists a bound ahead of its clock; a wipe starts anew)
   At the end (partitions healed, faults off, every node restarted, converged):
     no_convergence, digest  as in prop_replication: one leader, followers caught up,
                          equal digests and equal counts of events applied on all replicas
     local_lost           every write a call returned TIDAL_OK for is on every replica,
                          unless its accepting node lost its disk afterwards
     quorum_lost          every QUORUM-acked write is on every replica
     truth_missing        the ground truth recorded every write the oracle must keep
     count / score        on every replica and on the truth: the all-time count of each
                          (item, type) is the number of kept logical writes of it (a retry
                          or a repeated session seq is one write, whatever ids it got), the
                          decayed score their analytic sum (long double) to 6 decimals
     session              each session's hwm and journal length on every replica and on the
                          truth are those of the distinct seqs written (and kept)
     negatives            every replica suppresses exactly what the truth suppresses
     truth_digest         every replica's digest is the truth's
     truth_events         and it applied as many distinct events as the truth

   What "present" means here. The library has no public "has event" call. The truth keeps
   (keep filter) every event the oracle must keep: a write whose call returned TIDAL_OK on a
   node that did not lose its disk afterwards, and a QUORUM-acked one (a minority of disks
   lost at most: wipes wait until the last wiped node caught up); it drops an event only if
   its writers all lost their disk and no replica holds it. Every event a replica applied
   was written by some node and so recorded, and the truth keeps every event a replica
   holds; so a replica whose digest and distinct-event count equal the truth's applied
   exactly the truth's set, acknowledged events included. Counts, scores and session marks
   check the same from the public API, item by item. local_lost and quorum_lost also ask
   each replica for the receipt's id (tidal__event_applied, internal, as prop_replication
   does), to name a missing event; the keep filter asks it only after a wipe, to keep what
   some replica still holds.

   Replay: --seed S runs exactly the history with seed S; the failure report prints that
   command. Triage: TIDAL_PROP_SKIP=hlc_restart,... turns the named checks off. */

/* ---- histories ------------------------------------------------------------------------ */

enum {
    OP_WRITE = OP_COMMON_KINDS, /* k signals on region node (-1: the leader), some keyed */
    OP_RETRY,                   /* k earlier idempotency keys again, on region node */
    OP_HIDE,                    /* hide item for user on region node (-1: the leader) */
    OP_UNHIDE,
    OP_RACE,                    /* hide on region node and unhide on node2 (r & 1: unhide first) */
    OP_SESSION,                 /* k session writes on region node, and on node2 if >= 0 */
    OP_KINDS
};

enum { ST_CUT_OFF, ST_QUORUM_ACKED, ST_UNAVAILABLE, ST_RETRIES }; /* run_result.stat */

#define KEYS_MAX 256    /* idempotency keys per history */
#define SESS_MAX 16     /* sessions per history */
#define SEQ_MAX 48      /* seqs per session */

static const char *op_name(int kind) {
    static const char *const names[OP_KINDS - OP_COMMON_KINDS] = {"write", "retry", "hide", "unhide",
                                                                  "race", "session"};
    return names[kind - OP_COMMON_KINDS];
}

/* A history from its seed alone (its own stream: the cluster gets the seed itself). Per
   op, out of 1000: 280 writes, 70 retries, 60 hides, 40 unhides, 50 hide/unhide races, 130
   session steps, 60 crashes, 80 restarts, 8 wipes, 100 partitions, 70 heals, 25 network
   fault settings, 27 clock skews (a quarter of them 5-25 s: beyond the 10 s a peer's
   clock is followed). Each op then runs 1-700 ms. */
static void gen_op(op *o, uint64_t *g, uint64_t seed, int i) {
    uint32_t d = (uint32_t)(tt_next(g) % 1000);
    int other = 1 + (int)(tt_next(g) % (NREG - 1));
    gen_op_head(o, g, 700, gen_snapshot(seed ^ UINT64_C(0x6d72), i));
    if (d < 630) {
        o->kind = d < 280 ? OP_WRITE : d < 350 ? OP_RETRY : d < 410 ? OP_HIDE : d < 450 ? OP_UNHIDE
                : d < 500 ? OP_RACE : OP_SESSION;
        o->node = (int)(tt_next(g) % NREG);
        if ((o->kind == OP_WRITE || o->kind == OP_HIDE) && tt_next(g) % 6 == 0) o->node = -1;
        if (o->kind == OP_RACE || (o->kind == OP_SESSION && tt_next(g) % 3 == 0))
            o->node2 = (o->node + other) % NREG;
        if (o->kind == OP_WRITE) {
            o->k = 1 + (int)(tt_next(g) % 8);
            o->batch = tt_next(g) % 10 < 2;
        } else if (o->kind == OP_RETRY || o->kind == OP_SESSION) {
            o->k = 1 + (int)(tt_next(g) % 4);
        }
    } else {
        gen_common_op(o, d < 690 ? OP_CRASH : d < 770 ? OP_RESTART : d < 778 ? OP_WIPE : d < 878 ? OP_PART
                         : d < 948 ? OP_HEAL : d < 973 ? OP_FAULTS : OP_SKEW, g);
        if (o->kind == OP_SKEW && tt_next(g) % 4 == 0)
            o->skew_ns = (tt_next(g) & 1 ? 1 : -1) * (5 * SEC + (int64_t)(tt_next(g) % (20 * SEC)));
    }
}

static int gen_history(uint64_t seed, op *ops) {
    return gen_ops(seed, UINT64_C(0x6d756c7469726567) /* "multireg" */, ops, gen_op);
}

static void op_print_detail(FILE *f, const op *o) {
    char target[24];
    op_target(target, sizeof target, o->node);
    switch (o->kind) {
    case OP_WRITE:
        fprintf(f, "k=%d on %s ack=%s%s", o->k, target, o->quorum ? "QUORUM" : "LOCAL",
                o->batch ? " (one batch)" : "");
        break;
    case OP_RETRY:
        fprintf(f, "k=%d earlier keys on %s ack=%s", o->k, target, o->quorum ? "QUORUM" : "LOCAL");
        break;
    case OP_HIDE:
    case OP_UNHIDE:
        fprintf(f, "user %llu item %llu on %s ack=%s", (unsigned long long)o->user,
                (unsigned long long)o->item, target, o->quorum ? "QUORUM" : "LOCAL");
        break;
    case OP_RACE:
        fprintf(f, "user %llu item %llu: hide on %s, unhide on region %d%s", (unsigned long long)o->user,
                (unsigned long long)o->item, target, o->node2, o->r & 1 ? " (unhide first)" : "");
        break;
    case OP_SESSION:
        fprintf(f, "k=%d writes on %s", o->k, target);
        if (o->node2 >= 0) fprintf(f, " and on region %d", o->node2);
        fprintf(f, " (user %llu, pick %llu) ack=%s", (unsigned long long)o->user,
                (unsigned long long)((o->r >> 8) % 97), o->quorum ? "QUORUM" : "LOCAL");
        break;
    default: break;
    }
}

/* ---- the oracle's tables -------------------------------------------------------------- */

/* A client write with an idempotency key: what every attempt of it carries. */
typedef struct idem_key {
    tidal_signal sig;  /* content, time and key (client_key, seq = index + 1) */
    uint32_t first;    /* its first accepted record (UINT32_MAX: none yet) */
} idem_key;

typedef struct sess_rec {
    tidal_id id;
    uint64_t user;
    int64_t start_ns;
    uint32_t next_seq;                /* seqs 1..next_seq - 1 were handed out */
    int home;                         /* the region it started in */
    int64_t time_ns[SEQ_MAX + 2];     /* per seq: its event time (0: not handed out) */
    uint32_t first[SEQ_MAX + 2];      /* per seq: its first accepted record (UINT32_MAX: none) */
} sess_rec;

typedef struct hlc_seen {
    int valid;
    uint32_t life, wipes;
    tidal_hlc hlc;     /* the last one seen */
    tidal_hlc pre;     /* right before the last write call on it */
    int wrote;
    tidal_hlc written; /* right before the last write this disk took: its event's stamp,
                          in the log since, is above it */
} hlc_seen;

typedef struct mr {
    world w; /* first: the common checks get &m->w, the program's get it back */
    idem_key keys[KEYS_MAX];
    uint32_t n_keys;
    sess_rec sess[SESS_MAX];
    uint32_t n_sess;
    hlc_seen hlc[NREG];
    uint8_t *kept;     /* end: per first record of an id, whether the truth keeps it */
    uint8_t *must;     /* end: ... and whether it must (its budget held) */
    uint32_t *by_id;   /* end: first records sorted by id, for the keep filter */
    uint32_t n_by_id;
    uint8_t *seen;     /* end: the keep filter saw it (the cluster recorded it) */
    int wiped_any;
} mr;

static mr *mr_of(world *w) { return (mr *)(void *)w; }

/* ---- safety checks (every step) ------------------------------------------------------- */

/* The receipt the write call gave (what tidal_write_status takes). */
static const tidal_receipt *receipt_of(const ev_rec *e, tidal_receipt *rc) {
    memset(rc, 0, sizeof *rc);
    rc->id = e->id;
    rc->lsn = e->lsn;
    rc->accepted_ns = e->accepted_ns;
    return rc;
}

/* Polls the writes waiting for QUORUM with tidal_write_status, as a client would: OK is
   the ack (ack_truth, leader_completeness), UNAVAILABLE the end of the wait (the write
   stays LOCAL-durable and merges after the heal), PENDING keeps waiting. A crash of the
   accepting process leaves the outcome unknown. */
static void poll_status(world *w) {
    uint32_t i, kept = 0;
    for (i = 0; i < w->n_pending && !failed(w); i++) {
        ev_rec *e = &w->ev[w->pending[i]];
        tidal_db *db = dbof(w, e->node);
        tidal_receipt rc;
        tidal_result res;
        if (!db || w->life[e->node] != e->life) {
            e->q = Q_ABANDONED;
            continue;
        }
        res = tidal_write_status(db, receipt_of(e, &rc), TIDAL_ACK_QUORUM);
        if (res == TIDAL_PENDING) {
            w->pending[kept++] = w->pending[i];
        } else if (res == TIDAL_ERR_UNAVAILABLE) {
            e->q = Q_UNAVAILABLE;
            w->res->stat[ST_UNAVAILABLE]++;
        } else if (res == TIDAL_OK) {
            w->res->stat[ST_QUORUM_ACKED]++;
            quorum_acked(w, e, db);
        } else {
            fail(w, "write_status", "region %d: tidal_write_status(QUORUM) of lsn %llu returned %s (%s)", e->node,
                 (unsigned long long)e->lsn, tidal_strerror(res), tidal_errmsg(db));
        }
    }
    if (!failed(w)) w->n_pending = kept;
}

static int hlc_cmp(tidal_hlc a, tidal_hlc b) {
    if (a.wall_ns != b.wall_ns) return a.wall_ns < b.wall_ns ? -1 : 1;
    return a.logical < b.logical ? -1 : a.logical > b.logical;
}

/* hlc_monotone: a node's clock (tidal_node_status.hlc) never goes back within one life.
   hlc_restart: a new life starts no lower than any value seen in the previous one, though
   messages and refused duplicates take stamps that are never logged: the node persists a
   bound a second ahead of its clock and restarts there. Also still checked: above its
   value before the last write it took. A wipe starts a new identity: nothing is compared
   across one. */
static void check_hlc(world *w) {
    mr *m = mr_of(w);
    int r;
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_db *db = dbof(w, r);
        tidal_node_status st;
        hlc_seen *h = &m->hlc[r];
        if (!db || tidal_node_status_get(db, &st) != TIDAL_OK) continue;
        if (h->valid && h->wipes != w->wipes[r]) memset(h, 0, sizeof *h);
        if (h->valid && h->life == w->life[r] && hlc_cmp(st.hlc, h->hlc) < 0)
            fail(w, "hlc_monotone", "region %d: hybrid clock went back from %lld.%09lld+%u to %lld.%09lld+%u", r,
                 (long long)(h->hlc.wall_ns / SEC), (long long)(h->hlc.wall_ns % SEC), h->hlc.logical,
                 (long long)(st.hlc.wall_ns / SEC), (long long)(st.hlc.wall_ns % SEC), st.hlc.logical);
        else if (h->valid && h->life != w->life[r] && hlc_cmp(st.hlc, h->hlc) < 0)
            fail(w, "hlc_restart", "region %d: hybrid clock restarted at %lld.%09lld+%u, below "
                 "%lld.%09lld+%u, the last value seen before the restart", r,
                 (long long)(st.hlc.wall_ns / SEC), (long long)(st.hlc.wall_ns % SEC), st.hlc.logical,
                 (long long)(h->hlc.wall_ns / SEC), (long long)(h->hlc.wall_ns % SEC), h->hlc.logical);
        else if (h->valid && h->life != w->life[r] && h->wrote && hlc_cmp(st.hlc, h->written) <= 0)
            fail(w, "hlc_restart", "region %d: hybrid clock restarted at %lld.%09lld+%u, not above "
                 "%lld.%09lld+%u, its value before the last write it took before the restart", r,
                 (long long)(st.hlc.wall_ns / SEC), (long long)(st.hlc.wall_ns % SEC), st.hlc.logical,
                 (long long)(h->written.wall_ns / SEC), (long long)(h->written.wall_ns % SEC),
                 h->written.logical);
        h->valid = 1;
        h->life = w->life[r];
        h->wipes = w->wipes[r];
        h->hlc = st.hlc;
    }
}

/* After a write node r took (not a duplicate): its clock before the call (hlc_restart). */
static void note_written(world *w, int r) {
    hlc_seen *h = &mr_of(w)->hlc[r];
    h->wrote = 1;
    h->written = h->pre;
}

static void check_step(world *w) {
    if (failed(w)) return;
    check_leaders(w, check_leader_holds);
    if (!failed(w)) poll_status(w);
    if (!failed(w)) check_hlc(w);
    if (!failed(w)) check_reads(w);
}

/* ---- executing ops -------------------------------------------------------------------- */

/* Whether region r may take a write now: it leads, or it is cut off (availability mode). */
static int may_write(world *w, int r, int *cut_off) {
    tidal_node_status st;
    *cut_off = 0;
    if (tidal_node_status_get(dbof(w, r), &st) != TIDAL_OK) return 0;
    mr_of(w)->hlc[r].pre = st.hlc;
    *cut_off = st.role != TIDAL_ROLE_LEADER && st.cut_off;
    return st.role == TIDAL_ROLE_LEADER || st.cut_off;
}

/* write_role: a write call's result must match what the node was when it was called.
   also_ok: a refusal the op allows besides READ_ONLY (TIDAL_OK when none). */
static int expect_write(world *w, int r, int may, tidal_result res, tidal_result also_ok,
                        const char *what) {
    tidal_db *db = dbof(w, r);
    if (may && res != TIDAL_OK) {
        fail(w, "write_role", "%s on region %d (leader or cut off) failed: %s (%s)", what, r, tidal_strerror(res),
             tidal_errmsg(db));
        return 0;
    }
    if (!may && res != TIDAL_ERR_READ_ONLY && (also_ok == TIDAL_OK || res != also_ok)) {
        fail(w, "write_role", "%s on region %d (a follower that hears its leader) returned %s, not TIDAL_ERR_READ_ONLY",
             what, r, tidal_strerror(res));
        return 0;
    }
    return res == TIDAL_OK;
}

/* Records an accepted write: its receipt (LOCAL and QUORUM are settled by ev_settle).
   first is the logical write's first accepted record, for a retry of a key or a session
   seq written again (UINT32_MAX: none, this is the first): one logical write is one event,
   whatever ids the library hands out (same_id checks those), so the counts expected at
   the end count logical writes. */
static ev_rec *ev_accept(world *w, int kind, int r, const tidal_receipt *rc, int cut_off,
                         uint32_t *first) {
    ev_rec *e = ev_new(w, kind, r);
    char a[48], b[48];
    e->id = rc->id;
    e->lsn = rc->lsn;
    e->accepted_ns = rc->accepted_ns;
    e->local_ok = 1;
    if (!rc->duplicate) note_written(w, r); /* a duplicate takes a stamp but logs nothing */
    if (cut_off) w->res->stat[ST_CUT_OFF]++;
    if (!first) return e;
    if (*first == UINT32_MAX) {
        *first = e->orig;
    } else {
        const ev_rec *f = &w->ev[*first];
        e->orig = *first;
        if (f->id.hi != e->id.hi || f->id.lo != e->id.lo)
            fail(w, "same_id", "a write accepted again on region %d as event %s, first accepted on region %d as %s",
                 r, id_str(e->id, a, sizeof a), f->node, id_str(f->id, b, sizeof b));
    }
    return e;
}

/* After the call (and a batch's commit): LOCAL holds, QUORUM is tracked. */
static void ev_settle(world *w, ev_rec *e, int quorum) {
    tidal_receipt rc;
    tidal_result res;
    char b[48];
    res = tidal_write_status(dbof(w, e->node), receipt_of(e, &rc), TIDAL_ACK_LOCAL);
    if (res != TIDAL_OK)
        fail(w, "write_role", "region %d accepted event %s (lsn %llu) but its LOCAL status is %s", e->node,
             id_str(e->id, b, sizeof b), (unsigned long long)e->lsn, tidal_strerror(res));
    if (quorum) {
        e->q = Q_PENDING;
        pending_add(w, e);
    }
}

static const char client_key[] = "client"; /* the client's key; a write's seq is its own */

/* One signal write (keyed when key >= 0) on region r. Returns the record or NULL. */
static ev_rec *write_one(mr *m, int r, const tidal_signal *s, int key) {
    world *w = &m->w;
    tidal_receipt rc;
    tidal_result res;
    int cut_off, may = may_write(w, r, &cut_off);
    ev_rec *e;
    memset(&rc, 0, sizeof rc);
    res = tidal_signal_write(dbof(w, r), s, &rc);
    if (!expect_write(w, r, may, res, TIDAL_OK, key >= 0 ? "keyed signal write" : "signal write"))
        return NULL;
    e = ev_accept(w, EV_SIGNAL, r, &rc, cut_off, key >= 0 ? &m->keys[key].first : NULL);
    ev_set_signal(e, s);
    return e;
}

static void do_write(mr *m, const op *o) {
    world *w = &m->w;
    int r = pick_target(w, o), i, accepted = 0;
    tidal_db *db = dbof(w, r);
    uint64_t g = o->r;
    uint32_t first_idx = w->n_ev;
    if (!db) {
        if (w->verbose) printf("      write: region %d is down, nothing sent\n", r);
        return;
    }
    if (!batch_open(w, r, o)) return;
    for (i = 0; i < o->k && !failed(w); i++) {
        tidal_signal s;
        int key = -1;
        gen_signal(w, &g, &s);
        if (tt_next(&g) % 3 == 0 && m->n_keys < KEYS_MAX) { /* a client key: retried later */
            idem_key *c = &m->keys[key = (int)m->n_keys++];
            s.idem.key = client_key;
            s.idem.key_len = (uint32_t)(sizeof client_key - 1);
            s.idem.seq = (uint64_t)key + 1;
            c->sig = s;
            c->first = UINT32_MAX;
        }
        accepted += write_one(m, r, &s, key) != NULL;
    }
    if (!batch_close(w, r, o)) return;
    for (i = 0; i < accepted && !failed(w); i++)
        ev_settle(w, &w->ev[first_idx + (uint32_t)i], o->quorum);
    if (w->verbose)
        printf("      write: region %d %s %d of %d signals\n", r, accepted ? "took" : "refused", accepted,
               o->k);
}

/* Retries earlier keys (recent ones more often: their first attempt may still be in
   doubt) with the content of the first attempt, in whatever region the op names. */
static void do_retry(mr *m, const op *o) {
    world *w = &m->w;
    int r = pick_target(w, o), i;
    uint64_t g = o->r;
    if (!dbof(w, r) || !m->n_keys) return;
    for (i = 0; i < o->k && !failed(w); i++) {
        uint64_t h = tt_next(&g);
        uint32_t back = (uint32_t)(h % (m->n_keys < 4 ? m->n_keys : 4));
        uint32_t k = (h >> 32) & 1 ? m->n_keys - 1 - back : (uint32_t)((h >> 33) % m->n_keys);
        ev_rec *e;
        w->res->stat[ST_RETRIES]++;
        e = write_one(m, r, &m->keys[k].sig, (int)k);
        if (e) ev_settle(w, e, o->quorum);
        if (w->verbose) printf("      retry: key %u on region %d: %s\n", k + 1, r, e ? "taken" : "refused");
    }
}

static void do_negative(world *w, int kind, int r, uint64_t user, uint64_t item, int quorum) {
    tidal_db *db = dbof(w, r);
    tidal_receipt rc;
    tidal_result res;
    int cut_off, may;
    ev_rec *e;
    if (!db) return;
    may = may_write(w, r, &cut_off);
    memset(&rc, 0, sizeof rc);
    if (kind == EV_HIDE) res = tidal_negative_add(db, 0, user, TIDAL_HIDE, item, &rc);
    else res = tidal_negative_remove(db, 0, user, TIDAL_HIDE, item, &rc);
    if (w->verbose)
        printf("      %s user %llu item %llu on region %d%s: %s\n", kind == EV_HIDE ? "hide" : "unhide",
               (unsigned long long)user, (unsigned long long)item, r, cut_off ? " (cut off)" : "",
               tidal_strerror(res));
    if (!expect_write(w, r, may, res, TIDAL_OK, kind == EV_HIDE ? "hide" : "unhide")) return;
    e = ev_accept(w, kind, r, &rc, cut_off, NULL);
    e->user = user;
    e->item = item;
    ev_settle(w, e, quorum);
}

/* The session an op writes in: a new one started on region r (in a quarter of the ops, or
   when there is none), else an earlier one. Returns its index, or -1. */
static int session_pick(mr *m, const op *o, int r) {
    world *w = &m->w;
    tidal_db *db = dbof(w, r);
    sess_rec *ss;
    tidal_session_info info;
    tidal_id sid = 0;
    tidal_result res;
    int cut_off, may;
    if (m->n_sess && ((o->r >> 8) % 4 != 0 || m->n_sess == SESS_MAX))
        return (int)((o->r >> 8) % m->n_sess);
    if (!db) return -1;
    may = may_write(w, r, &cut_off);
    res = tidal_session_start(db, 0, o->user, 0, &sid);
    if (w->verbose) printf("      session start on region %d: %s\n", r, tidal_strerror(res));
    if (!expect_write(w, r, may, res, TIDAL_OK, "session start")) return -1;
    if (tidal_session_get(db, 0, sid, &info) != TIDAL_OK || info.user != o->user) {
        fail(w, "session", "region %d: session %llu just started is not there", r, (unsigned long long)sid);
        return -1;
    }
    ss = &m->sess[m->n_sess];
    memset(ss, 0, sizeof *ss);
    ss->id = sid;
    ss->user = o->user;
    ss->start_ns = info.start_ns;
    ss->home = r;
    ss->next_seq = 1;
    memset(ss->first, 0xff, sizeof ss->first);
    return (int)m->n_sess++;
}

/* The seq of the next session write: mostly the next one, sometimes one written before
   (a retry, maybe on the other side), sometimes one past a gap (a later repeat may fill
   it). Its content is fixed the first time it is handed out. */
static uint32_t session_seq(mr *m, sess_rec *ss, uint64_t h) {
    uint32_t c = (uint32_t)(h % 10), seq;
    if (ss->next_seq == 1 || (c < 6 && ss->next_seq <= SEQ_MAX)) {
        seq = ss->next_seq++;
    } else if (c == 9 && ss->next_seq < SEQ_MAX) { /* skip one: a gap */
        ss->next_seq++;
        seq = ss->next_seq++;
    } else { /* again: a retry */
        seq = 1 + (uint32_t)((h >> 8) % (ss->next_seq - 1));
    }
    if (!ss->time_ns[seq]) /* an hour back at most, like every signal */
        ss->time_ns[seq] = tidal_sim_cluster_now(m->w.c) - (int64_t)((h >> 16) % 3600) * SEC;
    return seq;
}

/* One session write of (session si, seq) on region r, after opening the session there. */
static void session_write(mr *m, int si, uint32_t seq, int r, int opened, int quorum) {
    world *w = &m->w;
    sess_rec *ss = &m->sess[si];
    tidal_db *db = dbof(w, r);
    uint64_t h = mix64((uint64_t)si << 32 ^ seq ^ UINT64_C(0x5e55));
    tidal_signal s;
    tidal_receipt rc;
    tidal_result res, also = TIDAL_OK;
    tidal_session_info info;
    int cut_off, may = may_write(w, r, &cut_off);
    ev_rec *e;
    memset(&s, 0, sizeof s);
    memset(&rc, 0, sizeof rc);
    s.item = 1 + h % NITEMS;
    s.type = (uint32_t)((h >> 8) & 1);
    s.weight = 0.25 * (double)(1 + (h >> 16) % 8);
    s.time_ns = ss->time_ns[seq];
    res = tidal_session_signal(db, ss->id, seq, &s, &rc);
    if (w->verbose)
        printf("      session %d seq %u on region %d%s: %s\n", si, seq, r, cut_off ? " (cut off)" : "",
               tidal_strerror(res));
    /* a node that refused the open may not know the session at all */
    if (!opened && (tidal_session_get(db, 0, ss->id, &info) != TIDAL_OK || info.user == 0))
        also = TIDAL_ERR_NOT_FOUND;
    if (!expect_write(w, r, may && opened, res, also, "session write")) return;
    e = ev_accept(w, EV_SIGNAL, r, &rc, cut_off, &ss->first[seq]);
    ev_set_signal(e, &s);
    e->user = ss->user; /* the session's, whatever s says */
    e->sess = (uint32_t)si;
    e->seq = seq;
    ev_settle(w, e, quorum);
}

/* Roaming: the session is opened (idempotent) in each region the op writes in, then k
   writes go to each side in turn; the second side repeats the first side's seq half the
   time (the same seq on both sides of a partition). */
static void do_session(mr *m, const op *o) {
    world *w = &m->w;
    int side[2], opened[2] = {0, 0}, ns = o->node2 >= 0 ? 2 : 1, j, i, si;
    uint64_t g = o->r;
    sess_rec *ss;
    side[0] = pick_target(w, o);
    side[1] = o->node2;
    if ((si = session_pick(m, o, side[0])) < 0 || failed(w)) return;
    ss = &m->sess[si];
    for (j = 0; j < ns && !failed(w); j++) {
        int cut_off, may;
        tidal_result res;
        if (!dbof(w, side[j])) continue;
        may = may_write(w, side[j], &cut_off);
        res = tidal_session_open(dbof(w, side[j]), 0, ss->id, ss->user, ss->start_ns, 0);
        opened[j] = expect_write(w, side[j], may, res, TIDAL_OK, "session open");
    }
    for (i = 0; i < o->k && !failed(w); i++) {
        uint32_t seq = 0;
        for (j = 0; j < ns && !failed(w); j++) {
            uint64_t h = tt_next(&g);
            if (j == 0 || h % 2) seq = session_seq(m, ss, h >> 1);
            if (dbof(w, side[j])) session_write(m, si, seq, side[j], opened[j], o->quorum);
        }
    }
}

static void do_op(world *w, const op *o) {
    mr *m = mr_of(w);
    switch (o->kind) {
    case OP_WRITE: do_write(m, o); break;
    case OP_RETRY: do_retry(m, o); break;
    case OP_HIDE:
    case OP_UNHIDE:
        do_negative(w, o->kind == OP_HIDE ? EV_HIDE : EV_UNHIDE, pick_target(w, o), o->user, o->item,
                    o->quorum);
        break;
    case OP_RACE: { /* both sides, in the order r says */
        int first = o->r & 1 ? o->node2 : o->node, second = o->r & 1 ? o->node : o->node2;
        do_negative(w, o->r & 1 ? EV_UNHIDE : EV_HIDE, first, o->user, o->item, o->quorum);
        do_negative(w, o->r & 1 ? EV_HIDE : EV_UNHIDE, second, o->user, o->item, o->quorum);
        break;
    }
    case OP_SESSION: do_session(m, o); break;
    case OP_WIPE:
        do_common_op(w, o);
        m->wiped_any |= w->wipes[o->node] != 0;
        break;
    default: do_common_op(w, o); break;
    }
}

/* ---- the end phase -------------------------------------------------------------------- */

static int held_anywhere(world *w, tidal_event_id id) {
    int r;
    for (r = 0; r < NREG; r++)
        if (dbof(w, r) && tidal__event_applied(dbof(w, r), id)) return 1;
    return 0;
}

static int id_cmp(tidal_event_id a, tidal_event_id b) {
    if (a.hi != b.hi) return a.hi < b.hi ? -1 : 1;
    return a.lo < b.lo ? -1 : a.lo > b.lo;
}

/* Sorts idx (record indexes) by event id: a shell sort (qsort would need a global). */
static void sort_by_id(const world *w, uint32_t *idx, uint32_t n) {
    uint32_t gap, i, j;
    for (gap = n / 2; gap > 0; gap /= 2)
        for (i = gap; i < n; i++) {
            uint32_t v = idx[i];
            for (j = i; j >= gap && id_cmp(w->ev[idx[j - gap]].id, w->ev[v].id) > 0; j -= gap)
                idx[j] = idx[j - gap];
            idx[j] = v;
        }
}

/* QUORUM's budget: fewer than a majority of disks lost since the event's first acceptance
   (a duplicate's ack stands on the original's durability). */
static int quorum_held(const world *w, const ev_rec *e) {
    return e->q == Q_ACKED && wiped_count(w, &w->ev[e->orig]) * 2 < NREG;
}

/* LOCAL's budget: the accepting node kept its disk since. */
static int local_held(const world *w, const ev_rec *e) {
    return e->local_ok && !wiped_since(w, e, e->node);
}

/* Which oracle events (logical writes: flags at their first record) the truth keeps:
   every one whose budget held (must), and every one some replica holds. */
static void decide_kept(mr *m) {
    world *w = &m->w;
    uint32_t i;
    m->kept = (uint8_t *)calloc(w->n_ev + 1, 1);
    m->must = (uint8_t *)calloc(w->n_ev + 1, 1);
    m->seen = (uint8_t *)calloc(w->n_ev + 1, 1);
    m->by_id = (uint32_t *)calloc(w->n_ev + 1, sizeof *m->by_id);
    if (!m->kept || !m->must || !m->seen || !m->by_id) abort();
    for (i = 0; i < w->n_ev; i++) {
        const ev_rec *e = &w->ev[i];
        if (local_held(w, e) || quorum_held(w, e)) m->must[e->orig] = 1;
    }
    for (i = 0; i < w->n_ev; i++) {
        if (w->ev[i].orig == i) m->kept[i] = (uint8_t)(m->must[i] || held_anywhere(w, w->ev[i].id));
        else if (!m->kept[w->ev[i].orig]) m->kept[w->ev[i].orig] = (uint8_t)held_anywhere(w, w->ev[i].id);
    }
    for (i = 0; i < w->n_ev; i++) m->by_id[m->n_by_id++] = i;
    sort_by_id(w, m->by_id, m->n_by_id);
}

/* The truth's keep filter: the oracle's decision for its events; for the others (epoch
   markers, session starts) keep them unless a disk was lost and neither the writer's
   current life nor any replica holds them. */
static int keep_event(void *ctx, tidal_event_id id) {
    mr *m = (mr *)ctx;
    world *w = &m->w;
    uint32_t lo = 0, hi = m->n_by_id;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = id_cmp(w->ev[m->by_id[mid]].id, id);
        if (c == 0) {
            uint32_t orig = w->ev[m->by_id[mid]].orig;
            m->seen[orig] = 1;
            return m->kept[orig];
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    if (!m->wiped_any) return 1;
    if (!(id.hi & TIDAL__IDEM_BIT)) {
        int r = (int)(id.hi >> 48);
        tidal_db *db = r < NREG ? dbof(w, r) : NULL;
        if (db && db->incarnation == (uint32_t)(id.hi & 0xffffffffu)) return 1;
    }
    return held_anywhere(w, id);
}

static int kept_event(world *w, tidal_db *db, const ev_rec *e) {
    (void)db;
    return mr_of(w)->kept[e->orig];
}

/* local_lost / quorum_lost: the events that must be everywhere, by id. */
static void check_present(world *w) {
    mr *m = mr_of(w);
    int r;
    uint32_t i;
    for (r = 0; r < NREG && !failed(w); r++)
        for (i = 0; i < w->n_ev && !failed(w); i++) {
            const ev_rec *e = &w->ev[i];
            char b[48];
            if (!m->must[e->orig] || tidal__event_applied(dbof(w, r), e->id)) continue;
            if (quorum_held(w, e))
                fail(w, "quorum_lost", "region %d lacks event %s, QUORUM-acked by region %d (lsn %llu, epoch %llu)", r,
                     id_str(e->id, b, sizeof b), e->node, (unsigned long long)e->lsn,
                     (unsigned long long)e->ack_epoch);
            else if (local_held(w, e))
                fail(w, "local_lost", "region %d lacks event %s, accepted by region %d (lsn %llu, %s)", r,
                     id_str(e->id, b, sizeof b), e->node, (unsigned long long)e->lsn,
                     e->q == Q_UNAVAILABLE ? "QUORUM unavailable" : e->q == Q_ABANDONED ? "QUORUM unknown" : "LOCAL");
        }
}

/* session: hwm and journal length of every session on db are those of the kept seqs. */
static void check_sessions(world *w, tidal_db *db, const char *who) {
    mr *m = mr_of(w);
    uint32_t si, i;
    for (si = 0; si < m->n_sess && !failed(w); si++) {
        uint8_t written[SEQ_MAX + 2];
        uint32_t entries = 0, hwm = 0;
        tidal_session_info info;
        tidal_result res;
        memset(written, 0, sizeof written);
        for (i = 0; i < w->n_ev; i++) {
            const ev_rec *e = &w->ev[i];
            if (e->seq && e->sess == si && m->kept[e->orig] && !written[e->seq]) {
                written[e->seq] = 1;
                entries++;
            }
        }
        while (hwm + 1 <= SEQ_MAX && written[hwm + 1]) hwm++;
        memset(&info, 0, sizeof info);
        res = tidal_session_get(db, 0, m->sess[si].id, &info);
        if (res != TIDAL_OK && !(res == TIDAL_ERR_NOT_FOUND && m->wiped_any))
            fail(w, "session", "%s: session %u: %s", who, si, tidal_strerror(res));
        else if (info.hwm != hwm || info.entries != entries)
            fail(w, "session", "%s: session %u has hwm %llu and %u entries; the distinct seqs written give %u and %u",
                 who, si, (unsigned long long)info.hwm, info.entries, hwm, entries);
        else if (!m->wiped_any && (info.user != m->sess[si].user || info.start_ns != m->sess[si].start_ns))
            fail(w, "session", "%s: session %u belongs to user %llu from %lld, not user %llu from %lld", who, si,
                 (unsigned long long)info.user, (long long)info.start_ns, (unsigned long long)m->sess[si].user,
                 (long long)m->sess[si].start_ns);
    }
}

/* negatives: db suppresses exactly what the truth suppresses. */
static void check_negatives(world *w, tidal_db *db, tidal_db *truth, int r) {
    uint64_t u, item;
    for (u = USER0 + 1; u <= USER0 + NUSERS && !failed(w); u++)
        for (item = 1; item <= NITEMS && !failed(w); item++) {
            int a = 0, b = 0;
            (void)tidal_negative_check(db, 0, u, item, &a);
            (void)tidal_negative_check(truth, 0, u, item, &b);
            if (a != b)
                fail(w, "negatives", "region %d %s item %llu for user %llu; the truth %s", r,
                     a ? "suppresses" : "shows", (unsigned long long)item, (unsigned long long)u,
                     b ? "suppresses it" : "shows it");
        }
}

/* truth_digest / truth_events: each replica is the truth, state and event count. */
static void check_truth(world *w, tidal_db *truth) {
    uint8_t dt[32], d[32];
    tidal_db_stats st, s;
    int r;
    tidal_db_stats_get(truth, &st);
    if (tidal_db_digest(truth, TIDAL_ALL_TENANTS, dt) != TIDAL_OK) {
        fail(w, "truth_digest", "the truth's digest failed: %s", tidal_errmsg(truth));
        return;
    }
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_db_stats_get(dbof(w, r), &s);
        if (tidal_db_digest(dbof(w, r), TIDAL_ALL_TENANTS, d) != TIDAL_OK || memcmp(d, dt, 32))
            fail(w, "truth_digest", "region %d's digest differs from the ground truth's (%llu / %llu events applied)", r,
                 (unsigned long long)s.events_applied, (unsigned long long)st.events_applied);
        else if (s.events_applied != st.events_applied)
            fail(w, "truth_events", "region %d applied %llu distinct events, the ground truth %llu", r,
                 (unsigned long long)s.events_applied, (unsigned long long)st.events_applied);
    }
}

static void end_checks(world *w) {
    mr *m = mr_of(w);
    tidal_db *truth = NULL;
    tidal_result res;
    char who[32];
    uint32_t i;
    int r;
    decide_kept(m);
    check_present(w);
    if (failed(w)) return;
    res = tidal_sim_cluster_truth(w->c, keep_event, m, &truth);
    if (res != TIDAL_OK) {
        fail(w, "truth", "building the ground truth failed: %s", tidal_strerror(res));
        return;
    }
    for (i = 0; i < w->n_ev && !failed(w); i++) {
        char b[48];
        if (w->ev[i].orig == i && m->must[i] && !m->seen[i])
            fail(w, "truth_missing", "event %s, accepted by region %d, was never recorded by the cluster",
                 id_str(w->ev[i].id, b, sizeof b), w->ev[i].node);
    }
    check_signal_stats(w, truth, "truth", kept_event);
    check_sessions(w, truth, "truth");
    for (r = 0; r < NREG && !failed(w); r++) {
        snprintf(who, sizeof who, "region %d", r);
        check_signal_stats(w, dbof(w, r), who, kept_event);
        check_sessions(w, dbof(w, r), who);
        check_negatives(w, dbof(w, r), truth, r);
    }
    if (!failed(w)) check_truth(w, truth);
    tidal_db_close(truth);
}

static void run_history(uint64_t seed, const op *ops, int n, int verbose, run_result *res) {
    mr *m = (mr *)calloc(1, sizeof *m);
    if (!m) abort();
    if (world_open(&m->w, seed, 1, verbose, res)) {
        world_run(&m->w, ops, n, do_op, check_step, end_checks);
        world_close(&m->w);
    }
    free(m->kept);
    free(m->must);
    free(m->seen);
    free(m->by_id);
    free(m);
}

/* ---- cases ---------------------------------------------------------------------------- */

static const prop_program program = {1000, "regressions_multiregion.txt",
                                     {"cut-off writes", "QUORUM acks", "UNAVAILABLE", "retries"},
                                     {"cut-off writes", "QUORUM-acked", "UNAVAILABLE", "retries"}};

PROP_MAIN(program)
