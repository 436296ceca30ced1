/* prop_common.h - what the property programs in props/ share: the simulated 3-region
   replica group they drive, the ops both generate (faults, partitions, crashes, skew,
   snapshots), the checks both run (one leader per epoch, leader completeness, ack truth,
   hides monotone; and, from the oracle and checker every program and the acceptance
   scenario share - tidal_sim.h >>sim_check, where every write is recorded - no suppressed
   item returned, hides in force, acknowledged events present by id, no unknown event,
   counts and decayed scores against the analytic sum, equal digests), the end phase that heals everything and waits for convergence, and the machinery
   around one history: running it, shrinking a failing one, replaying regression seeds,
   reporting.

   Include it once, in the program's only file; it includes tidal.h and tidal_sim.h with
   their implementations and the test harness. The program then defines, for its own ops
   (numbered from OP_COMMON_KINDS on):
       static int gen_history(uint64_t seed, op *ops);    a history from its seed alone
                                                          (gen_ops, gen_op_head, gen_common_op)
       static void run_history(uint64_t seed, const op *ops, int n, int verbose,
                               run_result *res);          world_open, world_run, world_close
       static const char *op_name(int kind);              its ops' names
       static void op_print_detail(FILE *f, const op *o); what one of its ops does
   and ends with PROP_MAIN(program), a prop_program naming its regression file and counters.

   A history is a list of ops interpreted against the cluster as it is when they run ("write
   on the current leader", "restart some crashed node"), so any sub-list is still a valid
   history: that is what lets the shrinker delete ops freely. It first replaces what it
   deletes by a sleep of the same simulated length, because failures are timing-bound.

   Replay: --seed S runs exactly the history with seed S; the failure report prints that
   command. Exploration: --base B starts the random histories from a seed derived from B
   (make explore draws B at random) instead of from the case name.
   Triage: TIDAL_PROP_SKIP=two_leaders,... turns the named checks off. */
#ifndef PROP_COMMON_H
#define PROP_COMMON_H

#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "../tests/tidal_test.h"

#include <time.h>

#define NREG 3
#define NITEMS 8                 /* items 1..8 */
#define NUSERS 3                 /* users 101..103 */
#define USER0 100
#define MAX_OPS 64
#define MS INT64_C(1000000)
#define SEC (1000 * MS)
#define START_NS (INT64_C(1790000000) * SEC) /* the cluster's clock at the start */
#define CONVERGE_NS (30 * SEC)   /* simulated time the end phase may take */
#define SHRINK_RUNS_MAX 600      /* histories the shrinker may replay for one failure */
#define SHRINK_FAILURES_MAX 3    /* failures per run that get shrunk (the rest: seed only) */
#define PROP_STATS 8             /* per-program counters summed over a run */

/* ---- histories ------------------------------------------------------------------------ */

/* Ops every program has; a program numbers its own from OP_COMMON_KINDS on. */
enum {
    OP_SLEEP,   /* nothing (the shrinker puts it where it removed ops, to keep their time) */
    OP_CRASH,   /* crash the leader (node < 0) or node `node` */
    OP_RESTART, /* restart one crashed node (picked by r) */
    OP_WIPE,    /* crash node and destroy its disk */
    OP_PART,    /* a partition: kind 0 regions two-way, 1 regions one-way, 2 isolate */
    OP_HEAL,    /* heal one partition in force (picked by r) */
    OP_FAULTS,  /* network loss/dup/reorder ppm (all 0 = clear) */
    OP_SKEW,    /* skew node's wall clock */
    OP_COMMON_KINDS
};

static const char *const common_op_names[OP_COMMON_KINDS] = {"sleep", "crash", "restart", "wipe",
                                                              "partition", "heal", "faults", "skew"};

typedef struct op {
    int kind;
    int node;          /* target region, or -1 = the current leader */
    int node2;         /* a second region (ops that act on two sides), or -1 */
    int k;             /* write: signals */
    int quorum;        /* write/hide/unhide: ack level QUORUM (else LOCAL) */
    int batch;         /* write: all k in one batch (batch_begin/commit) */
    int a, b, pkind;   /* partition: regions and kind */
    uint32_t loss, dup, reorder;
    int64_t skew_ns;
    uint64_t user, item;
    uint64_t r;        /* drives the op's content (items, weights, times) and picks */
    int64_t run_ns;    /* simulated time run after the op */
    int snap;          /* then a snapshot on region snap - 1 (0 = none): log retirement,
                          and state transfer to followers whose log is gone */
} op;

/* What each program defines (see the top of this file). */
static int gen_history(uint64_t seed, op *ops);
static const char *op_name(int kind);
static void op_print_detail(FILE *f, const op *o);
typedef struct run_result run_result;
static void run_history(uint64_t seed, const op *ops, int n, int verbose, run_result *res);

static uint64_t mix64(uint64_t x) {
    uint64_t s = x;
    return tt_next(&s);
}

/* The snapshot of op i of a history, from its own stream (so adding snapshots shifted no
   other draw of a seed): one op in 8 is followed by one. */
static int gen_snapshot(uint64_t seed, int i) {
    uint64_t sn = mix64(seed ^ UINT64_C(0x736e6170) ^ (uint64_t)i * UINT64_C(0x9E3779B97F4A7C15));
    return sn % 8 == 0 ? 1 + (int)((sn >> 8) % NREG) : 0;
}

/* A history of 10..40 ops from its seed alone, on its own stream (salt: the program's),
   each op drawn by gen_op (which also gets the seed and the op's index). */
static int gen_ops(uint64_t seed, uint64_t salt, op *ops,
                   void (*gen_op)(op *o, uint64_t *g, uint64_t seed, int i)) {
    uint64_t g = mix64(seed ^ salt);
    int n = 10 + (int)(tt_next(&g) % 31), i;
    for (i = 0; i < n; i++) gen_op(&ops[i], &g, seed, i);
    return n;
}

/* The draws every op makes before its kind's own (the order is part of every seed): its
   stream r, its run (1..run_ms_max ms), the ack level, a user and an item; snap from
   gen_snapshot. */
static void gen_op_head(op *o, uint64_t *g, int64_t run_ms_max, int snap) {
    memset(o, 0, sizeof *o);
    o->r = tt_next(g);
    o->run_ns = (1 + (int64_t)(tt_next(g) % (uint64_t)run_ms_max)) * MS;
    o->node = o->node2 = -1;
    o->quorum = (int)(tt_next(g) & 1);
    o->user = USER0 + 1 + tt_next(g) % NUSERS;
    o->item = 1 + tt_next(g) % NITEMS;
    o->snap = snap;
}

/* The draws of a common op after its kind is chosen (the order is part of every seed). */
static void gen_common_op(op *o, int kind, uint64_t *g) {
    o->kind = kind;
    switch (kind) {
    case OP_CRASH:
        if (tt_next(g) & 1) o->node = (int)(tt_next(g) % NREG);
        break;
    case OP_WIPE:
        o->node = (int)(tt_next(g) % NREG);
        break;
    case OP_PART:
        o->pkind = (int)(tt_next(g) % 3);
        o->a = (int)(tt_next(g) % NREG);
        o->b = (o->a + 1 + (int)(tt_next(g) % (NREG - 1))) % NREG;
        break;
    case OP_FAULTS:
        if (tt_next(g) % 10 >= 3) {
            o->loss = (uint32_t)(tt_next(g) % 200001);
            o->dup = (uint32_t)(tt_next(g) % 100001);
            o->reorder = (uint32_t)(tt_next(g) % 200001);
        }
        break;
    case OP_SKEW:
        o->node = (int)(tt_next(g) % NREG);
        o->skew_ns = (int64_t)(tt_next(g) % (4 * SEC + 1)) - 2 * SEC;
        break;
    default: break;
    }
}

static const char *kind_name(int kind) {
    return kind < OP_COMMON_KINDS ? common_op_names[kind] : op_name(kind);
}

static void op_target(char *buf, size_t cap, int node) {
    if (node < 0) snprintf(buf, cap, "leader");
    else snprintf(buf, cap, "region %d", node);
}

static void op_print(FILE *f, int i, const op *o) {
    char target[24];
    op_target(target, sizeof target, o->node);
    fprintf(f, "    %2d: %-9s ", i, kind_name(o->kind));
    if (o->snap) fprintf(f, "[+snapshot on region %d] ", o->snap - 1);
    switch (o->kind) {
    case OP_CRASH: fprintf(f, "%s", target); break;
    case OP_RESTART: fprintf(f, "a crashed node (pick %llu)", (unsigned long long)(o->r % 97)); break;
    case OP_WIPE: fprintf(f, "%s", target); break;
    case OP_PART:
        if (o->pkind == 2) fprintf(f, "isolate region %d", o->a);
        else fprintf(f, "regions %d %s %d", o->a, o->pkind == 1 ? "->" : "<->", o->b);
        break;
    case OP_HEAL: fprintf(f, "one partition in force (pick %llu)", (unsigned long long)(o->r % 97)); break;
    case OP_FAULTS:
        fprintf(f, "loss %u dup %u reorder %u ppm", o->loss, o->dup, o->reorder);
        break;
    case OP_SKEW: fprintf(f, "%s by %+.3f s", target, (double)o->skew_ns / (double)SEC); break;
    case OP_SLEEP: fprintf(f, "(removed ops' time)"); break;
    default: op_print_detail(f, o); break;
    }
    fprintf(f, ", then run %lld ms\n", (long long)(o->run_ns / MS));
}

/* ---- the oracle ----------------------------------------------------------------------- */

/* The oracle's kinds (tidal_sim.h >>sim_check) under the programs' names. */
enum {
    EV_SIGNAL = TIDAL_SIM_OP_SIGNAL,
    EV_HIDE = TIDAL_SIM_OP_HIDE,
    EV_UNHIDE = TIDAL_SIM_OP_UNHIDE,
    EV_FORGET = TIDAL_SIM_OP_FORGET
};
enum { Q_NONE, Q_PENDING, Q_ACKED, Q_ABANDONED, Q_UNAVAILABLE };

/* One event a write call returned TIDAL_OK for (failed calls produce no event): the
   replication bookkeeping of the program. What the client asked and got - kind, content,
   outcome and ack level, the budget of later wipes, the first record of its id (a retry,
   a session seq written again: one more acceptance of that event) - is the shared
   oracle's record of the same index (w->o, ev_index; tidal_sim.h >>sim_check). */
typedef struct ev_rec {
    tidal_event_id id;        /* the receipt's (the oracle's record has it too) */
    int kind;
    int node;                 /* accepting region */
    uint32_t life;            /* its process life at the write: an ack counts only in it */
    uint64_t lsn;
    int64_t accepted_ns;      /* from the receipt (tidal_write_status measures from it) */
    int local_ok;             /* the write call (and its commit) returned TIDAL_OK */
    int q;                    /* Q_* */
    uint64_t ack_epoch;       /* epoch of the accepting node when QUORUM became 1 */
    uint8_t have, verify;     /* ack_truth: nodes that hold it / to ask after restart */
    uint32_t sess, seq;       /* a session write: the program's session index, and seq
                                 (seq 0: not a session write) */
    uint32_t shards, shard;   /* the writer's routing table at the write (shards, 0: none
                                 kept) and the shard tidal_route named for its entity */
} ev_rec;

typedef struct leader_rec {
    uint64_t epoch;
    int region;
    uint32_t incarnation;
    uint64_t durable;  /* highest durable lsn seen on it while it led this epoch */
} leader_rec;

struct run_result {
    char check[32];   /* "" = passed */
    char msg[512];
    uint8_t trace[32];
    uint8_t digest[32];
    int64_t sim_ns;
    uint32_t events, ops_run;
    uint64_t stat[PROP_STATS]; /* the program's counters (prop_program names them) */
};

typedef struct world world;
struct world {
    tidal_sim_cluster *c;
    tidal_sim_oracle *o;      /* every write the history made (tidal_sim.h >>sim_check) */
    tidal_signal_def sigs[2];
    ev_rec *ev;               /* ev[i] is the oracle's record i */
    uint32_t n_ev, cap_ev;
    uint32_t *pending;        /* indexes of Q_PENDING events */
    uint32_t n_pending, cap_pending;
    uint32_t life[NREG], wipes[NREG]; /* wipes: for the programs' own tables */
    int amnesia[NREG];        /* wiped and not yet caught up with a leader */
    leader_rec *leaders;
    uint32_t n_leaders, cap_leaders;
    uint32_t parts[64];       /* partition handles in force */
    uint32_t n_parts;
    /* per node: when state last changed (retrieve checks run only then) */
    uint32_t seen_life[NREG];     /* life + 1 of the handle last looked at (0 = none) */
    uint64_t seen_applied[NREG];
    int8_t supp[NREG][NUSERS][NITEMS + 1]; /* last suppression seen; -1 unknown */
    int availability;         /* the group runs in availability mode (DESIGN 5.4) */
    int verbose;
    run_result *res;
    void (*step)(world *w);   /* the program's checks after every step */
    /* Optional, the program's (NULL: none): after node r restarted (what a host does to a
       node that comes back, e.g. push its config again), and in the end phase once every
       node is up, before the wait for convergence. */
    void (*node_up)(world *w, int r);
    void (*converging)(world *w);
};

/* TIDAL_PROP_SKIP=name,name... turns named checks off, for triage only: one bug often
   fails every history in the same way first and hides what a history would show next. */
static int check_skipped(const char *check) {
    const char *skip = getenv("TIDAL_PROP_SKIP"), *p;
    size_t n = strlen(check);
    for (p = skip; p && (p = strstr(p, check)) != NULL; p += n)
        if ((p == skip || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

static void fail(world *w, const char *check, const char *fmt, ...) {
    va_list ap;
    if (w->res->check[0] || check_skipped(check)) return; /* the first failure is reported */
    snprintf(w->res->check, sizeof w->res->check, "%s", check);
    va_start(ap, fmt);
    vsnprintf(w->res->msg, sizeof w->res->msg, fmt, ap);
    va_end(ap);
    if (w->verbose) printf("      -> FAIL %s: %s\n", w->res->check, w->res->msg);
}

static int failed(const world *w) { return w->res->check[0] != 0; }

/* The shared checker's failures (tidal_sim.h >>sim_check) are this history's. */
static void oracle_report(void *ctx, const char *check, const char *msg) {
    fail((world *)ctx, check, "%s", msg);
}

static tidal_db *dbof(const world *w, int r) { return tidal_sim_cluster_db(w->c, (uint16_t)r, 0); }

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return p;
    while (*cap < need) *cap = *cap ? *cap * 2 : 64;
    p = realloc(p, *cap * elem);
    if (!p) abort();
    return p;
}

/* The index of e's record in the oracle (w->o). */
static uint32_t ev_index(const world *w, const ev_rec *e) { return (uint32_t)(e - w->ev); }

/* Whether node lost its disk since e was written; how many nodes lost theirs since e's
   first acceptance (the oracle's budgets). */
static int wiped_since(const world *w, const ev_rec *e, int node) {
    return tidal_sim_oracle_node_wiped(w->o, ev_index(w, e), (uint16_t)node, 0);
}
static int wiped_count(const world *w, const ev_rec *e) {
    return (int)tidal_sim_oracle_wiped_since(w->o, ev_index(w, e));
}

static int popcount8(uint8_t x) {
    int n = 0;
    while (x) {
        n += x & 1;
        x >>= 1;
    }
    return n;
}

static const char *id_str(tidal_event_id id, char *buf, size_t cap) {
    snprintf(buf, cap, "%04x.%08x#%llu", (unsigned)(id.hi >> 48), (unsigned)(id.hi & 0xffffffffu),
             (unsigned long long)id.lo);
    return buf;
}

/* An accepted write (the call returned TIDAL_OK with receipt rc) on region node: its
   record here and the oracle's (OK at LOCAL). s: a signal's content (NULL for the others);
   user and item, when not 0, name a hide's or forget's (or override s's user). */
static ev_rec *ev_new(world *w, int kind, int node, const tidal_receipt *rc, const tidal_signal *s,
                      uint64_t user, uint64_t item) {
    ev_rec *e;
    tidal_sim_op rec;
    uint32_t i;
    memset(&rec, 0, sizeof rec);
    rec.id = rc->id;
    rec.kind = (uint32_t)kind;
    rec.outcome = TIDAL_SIM_OK;
    rec.level = TIDAL_ACK_LOCAL;
    rec.region = (uint16_t)node;
    if (s) {
        rec.entity = s->item;
        rec.user = s->user;
        rec.type = s->type;
        rec.weight = s->weight;
        rec.time_ns = s->time_ns;
    }
    if (user) rec.user = user;
    if (item) rec.entity = item;
    w->ev = (ev_rec *)grow(w->ev, &w->cap_ev, w->n_ev + 1, sizeof *w->ev);
    e = &w->ev[w->n_ev++];
    memset(e, 0, sizeof *e);
    e->id = rc->id;
    e->kind = kind;
    e->node = node;
    e->life = w->life[node];
    e->lsn = rc->lsn;
    e->accepted_ns = rc->accepted_ns;
    i = tidal_sim_oracle_record(w->o, &rec);
    TIDAL_ASSERT(i == w->n_ev - 1);
    return e;
}

static void pending_add(world *w, const ev_rec *e) {
    w->pending = (uint32_t *)grow(w->pending, &w->cap_pending, w->n_pending + 1, sizeof *w->pending);
    w->pending[w->n_pending++] = (uint32_t)(e - w->ev);
}

/* ack_truth: at the moment a write becomes QUORUM-acked, a majority must hold it. The
   nodes down at that moment are asked after their restart (their disk kept what they had
   synced before acknowledging); the verdict waits until all of them were asked. Disks lost
   since the event's first acceptance void it (a duplicate's ack stands on the original's
   durability: the disk lost since may have been one of its copies). */
static void ack_truth_settle(world *w, ev_rec *e) {
    char b[48];
    if (e->verify || popcount8(e->have) >= 2) return;
    if (wiped_count(w, e) > 0) return; /* a node that lost its disk may have held it */
    fail(w, "ack_truth", "event %s (lsn %llu on region %d) QUORUM-acked while only %d node(s) held it",
         id_str(e->id, b, sizeof b), (unsigned long long)e->lsn, e->node, popcount8(e->have));
}

/* Records, when e turns QUORUM-acked, which nodes hold it (and which to ask later). */
static void ack_truth_note(world *w, ev_rec *e) {
    int r;
    for (r = 0; r < NREG; r++) {
        tidal_db *o = dbof(w, r);
        if (!o) e->verify |= (uint8_t)(1u << r);
        else if (tidal__event_applied(o, e->id)) e->have |= (uint8_t)(1u << r);
    }
    ack_truth_settle(w, e);
}

/* ---- safety checks (every step) ------------------------------------------------------- */

/* two_leaders: at most one node leads an epoch: one region, and one incarnation of it
   unless the earlier one had logged nothing (a node that lost its log and leads the same
   epoch again is a second leader). on_new (may be NULL) sees each newly seen leadership. */
static void check_leaders(world *w, void (*on_new)(world *w, int region, uint64_t epoch)) {
    int r;
    for (r = 0; r < NREG; r++) {
        tidal_db *db = dbof(w, r);
        tidal_node_status st;
        uint32_t i;
        if (!db || tidal_node_status_get(db, &st) != TIDAL_OK || st.role != TIDAL_ROLE_LEADER) continue;
        for (i = 0; i < w->n_leaders; i++)
            if (w->leaders[i].epoch == st.epoch) break;
        if (i < w->n_leaders) {
            /* The same region under a new incarnation is the same leader if the old one
               had logged nothing (a node that crashed or lost its disk before its first
               commit comes back empty, with a fresh incarnation, having lost nothing);
               one that led with a log and lost it is a second leader of the epoch. */
            if (w->leaders[i].region != r ||
                (w->leaders[i].incarnation != db->incarnation && w->leaders[i].durable > 0))
                fail(w, "two_leaders", "epoch %llu led by region %d (incarnation %08x) and region %d (incarnation %08x)",
                     (unsigned long long)st.epoch, w->leaders[i].region, w->leaders[i].incarnation, r,
                     db->incarnation);
            if (w->leaders[i].incarnation != db->incarnation) { /* an empty one: take over */
                w->leaders[i].incarnation = db->incarnation;
                w->leaders[i].durable = 0;
            }
            if (st.durable_lsn > w->leaders[i].durable) w->leaders[i].durable = st.durable_lsn;
            continue;
        }
        w->leaders = (leader_rec *)grow(w->leaders, &w->cap_leaders, w->n_leaders + 1, sizeof *w->leaders);
        w->leaders[w->n_leaders].epoch = st.epoch;
        w->leaders[w->n_leaders].region = r;
        w->leaders[w->n_leaders].incarnation = db->incarnation;
        w->leaders[w->n_leaders].durable = st.durable_lsn;
        w->n_leaders++;
        if (w->verbose) printf("      (region %d leads epoch %llu)\n", r, (unsigned long long)st.epoch);
        if (on_new) on_new(w, r, st.epoch);
    }
}

/* leader_completeness: a leader of an epoch above the one a write was QUORUM-acked in holds
   that write (DESIGN 5.2: "the new leader therefore holds every quorum-acknowledged
   event"). check_leader_holds: a new leader holds every earlier QUORUM-acked write... */
static void check_leader_holds(world *w, int region, uint64_t epoch) {
    uint32_t i;
    tidal_db *db = dbof(w, region);
    for (i = 0; i < w->n_ev && !failed(w); i++) {
        ev_rec *e = &w->ev[i];
        char b[48];
        if (e->q != Q_ACKED || e->ack_epoch >= epoch || wiped_count(w, e)) continue;
        if (!tidal__event_applied(db, e->id))
            fail(w, "leader_completeness",
                 "region %d leads epoch %llu without event %s, QUORUM-acked in epoch %llu by region %d",
                 region, (unsigned long long)epoch, id_str(e->id, b, sizeof b),
                 (unsigned long long)e->ack_epoch, e->node);
    }
}

/* ...and check_completeness: a write that just became QUORUM-acked is held by every leader
   of a later epoch already elected. */
static void check_completeness(world *w, const ev_rec *e) {
    int r;
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_db *o = dbof(w, r);
        tidal_node_status os;
        char b[48];
        if (!o || tidal_node_status_get(o, &os) != TIDAL_OK) continue;
        if (os.role == TIDAL_ROLE_LEADER && os.epoch > e->ack_epoch && !wiped_count(w, e) &&
            !tidal__event_applied(o, e->id))
            fail(w, "leader_completeness",
                 "event %s QUORUM-acked in epoch %llu by region %d, but region %d already leads epoch %llu without it",
                 id_str(e->id, b, sizeof b), (unsigned long long)e->ack_epoch, e->node, r,
                 (unsigned long long)os.epoch);
    }
}

/* A write has just become QUORUM-acked on db: its epoch, then ack truth and leader
   completeness. The caller counts it. */
static void quorum_acked(world *w, ev_rec *e, tidal_db *db) {
    tidal_node_status st;
    e->q = Q_ACKED;
    tidal_sim_oracle_settle(w->o, ev_index(w, e), TIDAL_SIM_OK, TIDAL_ACK_QUORUM, NULL);
    (void)tidal_node_status_get(db, &st);
    e->ack_epoch = st.epoch;
    ack_truth_note(w, e);
    check_completeness(w, e);
}

/* The member a check names: node (r, 0) of group 0. */
static tidal_sim_member member_of(const world *w, int r) {
    tidal_sim_member m;
    memset(&m, 0, sizeof m);
    m.db = dbof(w, r);
    m.region = (uint16_t)r;
    return m;
}

/* On every live node whose state changed since the last look:
     suppressed_returned  RETRIEVE ... FOR USER u (each signal type) never returns an item
                          that node suppresses for u (tidal_negative_check), and
     hide_lost            every hide the oracle saw applied there and not lifted (no unhide
                          of it, no forget of its user applied) is in force: both the
                          shared checker's (tidal_sim_check_hidden)
     hide_monotone        a (user, item) suppressed on a node stays suppressed there until
                          an unhide of it (or a forget of the user) is applied there
                          (DESIGN 3.5) */
static void check_reads(world *w) {
    int r;
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_db *db = dbof(w, r);
        tidal_db_stats ds;
        tidal_sim_member m = member_of(w, r);
        tidal_sim_scope sc;
        uint64_t u;
        if (!db) continue;
        tidal_db_stats_get(db, &ds);
        if (w->seen_life[r] == w->life[r] + 1 && w->seen_applied[r] == ds.events_applied) continue;
        w->seen_life[r] = w->life[r] + 1;
        w->seen_applied[r] = ds.events_applied;
        memset(&sc, 0, sizeof sc);
        sc.by_tenant = 1; /* tenant 0 */
        (void)tidal_sim_check_hidden(w->o, &m, &sc, 0, NITEMS + 4);
        for (u = 0; u < NUSERS && !failed(w); u++) {
            uint64_t user = USER0 + 1 + u, item;
            for (item = 1; item <= NITEMS && !failed(w); item++) {
                int s = 0;
                int8_t *was = &w->supp[r][u][item];
                (void)tidal_negative_check(db, 0, user, item, &s);
                if (*was == 1 && !s && !tidal_sim_oracle_hide_lifted(w->o, db, 0, user, item))
                    fail(w, "hide_monotone", "region %d: item %llu was suppressed for user %llu and no longer is, with no unhide of it applied",
                         r, (unsigned long long)item, (unsigned long long)user);
                *was = (int8_t)s;
            }
        }
    }
}

/* ---- executing the common ops --------------------------------------------------------- */

static int leader_region(const world *w) { return tidal_sim_cluster_leader(w->c, 0); }

static int pick_target(const world *w, const op *o) {
    int r = o->node >= 0 ? o->node : leader_region(w);
    if (r < 0) r = (int)(o->r % NREG); /* no leader: the client tries someone */
    return r;
}

static void node_restarted(world *w, int r) {
    uint32_t i;
    tidal_db *db = dbof(w, r);
    w->life[r]++;
    /* ack_truth: nodes that were down at ack time are asked now (their disk kept what they
       had synced before acknowledging). */
    for (i = 0; i < w->n_ev && !failed(w); i++) {
        ev_rec *e = &w->ev[i];
        if (!(e->verify & (1u << r))) continue;
        e->verify &= (uint8_t)~(1u << r);
        if (!wiped_since(w, e, r) && tidal__event_applied(db, e->id)) e->have |= (uint8_t)(1u << r);
        ack_truth_settle(w, e);
    }
    if (w->node_up && !failed(w)) w->node_up(w, r);
}

/* restart: a crashed node reopens from its disk (recovery must succeed). */
static void do_restart_node(world *w, int r) {
    tidal_result res = tidal_sim_cluster_restart(w->c, (uint16_t)r, 0);
    if (res != TIDAL_OK) {
        fail(w, "restart", "region %d failed to reopen: %s (%s)", r, tidal_strerror(res),
             tidal_sim_cluster_errmsg(w->c, (uint16_t)r, 0));
        return;
    }
    if (w->verbose) printf("      restart: region %d is back (incarnation %08x)\n", r, dbof(w, r)->incarnation);
    node_restarted(w, r);
}

/* The fault budget: a majority of disks lost at once is beyond what a 3-node group promises
   (a wiped node neither votes nor runs until it has caught up with a leader, so two
   amnesiac nodes could never elect one). Wipe only while every other node still remembers
   the group. */
static void do_wipe(world *w, int node) {
    int i;
    uint32_t k;
    for (i = 0; i < NREG; i++) {
        tidal_db *odb = dbof(w, i);
        if (i == node) continue;
        if (w->amnesia[i] && odb && !odb->rep.amnesiac) w->amnesia[i] = 0;
        if (w->amnesia[i]) break;
    }
    if (i < NREG) {
        if (w->verbose) printf("      wipe: region %d skipped (region %u has not caught up since its own)\n", node, i);
        return;
    }
    w->amnesia[node] = 1;
    if (w->verbose) printf("      wipe: region %d\n", node);
    tidal_sim_cluster_wipe(w->c, (uint16_t)node, 0);
    w->wipes[node]++;
    tidal_sim_oracle_wipe(w->o, (uint16_t)node, 0);
    for (i = 0; i < NUSERS; i++) memset(w->supp[node][i], -1, sizeof w->supp[node][i]);
    /* nothing can be asked of its old disk any more */
    for (k = 0; k < w->n_ev; k++) {
        if (!(w->ev[k].verify & (1u << node))) continue;
        w->ev[k].verify &= (uint8_t)~(1u << node);
        ack_truth_settle(w, &w->ev[k]);
    }
}

/* Runs one of the common ops (the others are the program's). */
static void do_common_op(world *w, const op *o) {
    int r, down[NREG], nd = 0;
    tidal_sim_net *net = tidal_sim_cluster_net(w->c);
    switch (o->kind) {
    case OP_CRASH:
        r = o->node >= 0 ? o->node : leader_region(w);
        if (r < 0) r = (int)(o->r % NREG);
        if (w->verbose) printf("      crash: region %d%s\n", r, dbof(w, r) ? "" : " (already down)");
        tidal_sim_cluster_crash(w->c, (uint16_t)r, 0);
        break;
    case OP_WIPE: do_wipe(w, o->node); break;
    case OP_RESTART:
        for (r = 0; r < NREG; r++)
            if (!dbof(w, r)) down[nd++] = r;
        if (nd) do_restart_node(w, down[o->r % (uint64_t)nd]);
        break;
    case OP_PART:
        if (w->n_parts >= 8) break; /* the sim's table is bounded; more add nothing */
        if (o->pkind == 2) w->parts[w->n_parts++] = tidal_sim_net_isolate_region(net, (uint16_t)o->a);
        else
            w->parts[w->n_parts++] =
                tidal_sim_net_partition_regions(net, (uint16_t)o->a, (uint16_t)o->b, o->pkind == 1);
        break;
    case OP_HEAL:
        if (w->n_parts) {
            uint32_t k = (uint32_t)(o->r % w->n_parts);
            tidal_sim_net_heal(net, w->parts[k]);
            w->parts[k] = w->parts[--w->n_parts];
        }
        break;
    case OP_FAULTS: tidal_sim_net_set_faults(net, o->loss, o->dup, o->reorder); break;
    case OP_SKEW: tidal_sim_cluster_skew(w->c, (uint16_t)o->node, 0, o->skew_ns); break;
    default: break;
    }
}

/* The snapshot an op may carry, after the op itself. */
static void do_snapshot(world *w, const op *o) {
    if (o->snap && dbof(w, o->snap - 1)) {
        tidal_result sr = tidal_db_snapshot(dbof(w, o->snap - 1));
        if (w->verbose) printf("      snapshot on region %d: %s\n", o->snap - 1, tidal_strerror(sr));
    }
}

/* A random signal from the op's stream: item, type, weight (now and then negative), user,
   and an explicit event time (an hour back at most: the oracle then knows the score). */
static void gen_signal(const world *w, uint64_t *g, tidal_signal *s) {
    memset(s, 0, sizeof *s);
    s->item = 1 + tt_next(g) % NITEMS;
    s->type = (uint32_t)(tt_next(g) & 1);
    s->weight = tt_next(g) % 8 == 0 ? -1.0 : 0.5 * (double)(1 + tt_next(g) % 6);
    s->user = USER0 + 1 + tt_next(g) % NUSERS;
    s->time_ns = tidal_sim_cluster_now(w->c) - (int64_t)(tt_next(g) % 3600) * SEC;
}

/* An op's batch (batch_begin ... commit, when o->batch): 0 (and the history fails) if the
   library refused it. */
static int batch_open(world *w, int r, const op *o) {
    if (!o->batch || tidal_db_batch_begin(dbof(w, r)) == TIDAL_OK) return 1;
    fail(w, "write_role", "batch_begin on region %d failed: %s", r, tidal_errmsg(dbof(w, r)));
    return 0;
}
static int batch_close(world *w, int r, const op *o) {
    tidal_result cr;
    if (!o->batch || (cr = tidal_db_commit(dbof(w, r))) == TIDAL_OK) return 1;
    /* the batch's outcome is unknown: keep its events as "may be present" */
    fail(w, "write_role", "commit on region %d failed: %s (%s)", r, tidal_strerror(cr),
         tidal_errmsg(dbof(w, r)));
    return 0;
}

/* ---- the end phase -------------------------------------------------------------------- */

/* 1 when one leader is known to all and every follower applied its whole durable log. */
static int caught_up(world *w, int *leader) {
    int r, l = leader_region(w);
    tidal_node_status ls;
    *leader = l;
    if (l < 0 || tidal_node_status_get(dbof(w, l), &ls) != TIDAL_OK) return 0;
    for (r = 0; r < NREG; r++) {
        tidal_node_status st;
        if (r == l) continue;
        if (!dbof(w, r) || tidal_node_status_get(dbof(w, r), &st) != TIDAL_OK) return 0;
        if (!st.has_leader || st.leader.region != l || st.epoch != ls.epoch) return 0;
        if (st.leader_lsn != ls.durable_lsn || st.lag_events) return 0;
    }
    return 1;
}

/* Equal digests, and equal counts of distinct events applied (tidal_sim_check_digests,
   asked quietly: this is a wait condition; the end phase reports): an event that changes
   no state (an unhide that observed no tag) is invisible to the digest, and followers'
   pushes to the leader are not part of "caught up", so both are waited for. */
static int replicas_equal(world *w, uint8_t d0[32]) {
    tidal_sim_member m[NREG];
    uint32_t bad;
    int r;
    for (r = 0; r < NREG; r++) m[r] = member_of(w, r);
    tidal_sim_oracle_set_report(w->o, NULL, NULL);
    bad = tidal_sim_check_digests(w->o, NULL, m, NREG, NULL, 0, 1);
    tidal_sim_oracle_set_report(w->o, oracle_report, w);
    return !bad && tidal_db_digest(dbof(w, 0), TIDAL_ALL_TENANTS, d0) == TIDAL_OK;
}

/* count / score on region r (tidal_sim_check_signals over items 1..NITEMS of tenant 0):
   the all-time count of each (item, type) is the number of distinct events the oracle
   expects there (mode: TIDAL_SIM_COUNT_APPLIED, those applied on it by id, or
   TIDAL_SIM_COUNT_TRUTH, the ground truth's), so none counted twice; its decayed score is
   their analytic sum, to 6 decimals. */
static void check_signal_stats(world *w, const tidal_sim_member *m, int mode) {
    tidal_id items[NITEMS];
    tidal_sim_scope sc;
    int i;
    for (i = 0; i < NITEMS; i++) items[i] = (tidal_id)(i + 1);
    memset(&sc, 0, sizeof sc);
    sc.by_tenant = 1; /* tenant 0 */
    (void)tidal_sim_check_signals(w->o, m, &sc, tidal_sim_cluster_now(w->c), mode, NULL, 0, items,
                                  NITEMS);
}

/* Heals everything, clears the faults, restarts every node (then w->converging, if set)
   and runs until one leader is known to all, every follower caught up and the replicas
   are equal (30 s simulated at most); then end_checks(w) (the program's) says whether the
   end state is right:
     no_convergence       followers caught up with one leader within 30 s simulated
     digest               identical tidal_db_digest (and count of distinct events applied)
                          on all replicas; the event-level checks then say what differs */
static void end_phase(world *w, void (*end_checks)(world *w)) {
    tidal_sim_net *net = tidal_sim_cluster_net(w->c);
    int64_t deadline;
    int r, leader = -1, up = 0, same = 0;
    uint8_t d0[32];
    while (w->n_parts) tidal_sim_net_heal(net, w->parts[--w->n_parts]);
    tidal_sim_net_set_faults(net, 0, 0, 0);
    for (r = 0; r < NREG && !failed(w); r++)
        if (!dbof(w, r)) do_restart_node(w, r);
    if (w->converging && !failed(w)) w->converging(w);
    w->step(w);
    deadline = tidal_sim_cluster_now(w->c) + CONVERGE_NS;
    while (!failed(w)) {
        up = caught_up(w, &leader);
        same = up && replicas_equal(w, d0);
        if (same || tidal_sim_cluster_now(w->c) >= deadline) break;
        tidal_sim_cluster_run(w->c, tidal_sim_cluster_now(w->c) + 50 * MS);
    }
    if (failed(w)) return;
    if (!up) {
        char s[256] = "";
        size_t n = 0;
        for (r = 0; r < NREG; r++) {
            tidal_node_status st;
            tidal_node_status_get(dbof(w, r), &st);
            n += (size_t)snprintf(s + n, sizeof s - n, "%s r%d:%s e%llu dur%llu pos%llu lag%llu",
                                  r ? ";" : "", r, st.role == TIDAL_ROLE_LEADER ? "L" : "F",
                                  (unsigned long long)st.epoch, (unsigned long long)st.durable_lsn,
                                  (unsigned long long)st.leader_lsn, (unsigned long long)st.lag_events);
            if (n >= sizeof s) break;
        }
        fail(w, "no_convergence", "not caught up %lld s after the end of the history: %s",
             (long long)(CONVERGE_NS / SEC), s);
        return;
    }
    if (!same) {
        fail(w, "digest", "caught up under leader region %d but the replicas' digests or event counts differ after %lld s",
             leader, (long long)(CONVERGE_NS / SEC));
        /* keep going: the event-level checks say what differs */
    }
    {
        run_result *res = w->res;
        char keep[32], kmsg[512];
        memcpy(keep, res->check, sizeof keep);
        memcpy(kmsg, res->msg, sizeof kmsg);
        res->check[0] = 0;
        end_checks(w);
        if (keep[0]) { /* digest first, then the detail if there is one */
            char detail[512];
            snprintf(detail, sizeof detail, "%.250s%s%.250s", kmsg, res->check[0] ? "; " : "",
                     res->check[0] ? res->msg : "");
            memcpy(res->check, keep, sizeof keep);
            snprintf(res->msg, sizeof res->msg, "%s", detail);
        }
    }
    memcpy(w->res->digest, d0, 32);
}

/* ---- one history ---------------------------------------------------------------------- */

/* Verbose replays print every node's replication status after each op's run. */
static void print_status(world *w) {
    int r;
    for (r = 0; r < NREG; r++) {
        tidal_db *db = dbof(w, r);
        tidal_node_status st;
        if (!db) {
            printf("        r%d: down\n", r);
            continue;
        }
        tidal_node_status_get(db, &st);
        printf("        r%d: %s epoch %llu leader %s%d durable %llu quorum %llu leader_lsn %llu lag %llu"
               " sent %llu recv %llu corrupt %llu fenced %llu",
               r, st.role == TIDAL_ROLE_LEADER ? "LEADER  " : db->rep.role == TIDAL__CANDIDATE ? "candidat" : "follower",
               (unsigned long long)st.epoch, st.has_leader ? "r" : "?", st.has_leader ? st.leader.region : -1,
               (unsigned long long)st.durable_lsn, (unsigned long long)st.quorum_lsn,
               (unsigned long long)st.leader_lsn, (unsigned long long)st.lag_events,
               (unsigned long long)st.msgs_sent, (unsigned long long)st.msgs_received,
               (unsigned long long)st.msgs_corrupt, (unsigned long long)st.msgs_fenced);
        if (w->availability)
            printf("%s hlc %+.3f+%u vv %u", st.cut_off ? " CUT-OFF" : "",
                   st.hlc.wall_ns ? (double)(st.hlc.wall_ns - START_NS) / 1e9 : 0.0, st.hlc.logical,
                   st.version_vector_origins);
        printf("%s%s\n", tidal_errmsg(db)[0] ? " last error: " : "", tidal_errmsg(db));
    }
}

/* Set by a program whose tenants live on any placement (prop_migration): the cluster
   declares a replica group for every placement of the 3 regions. */
static int g_every_placement;

/* Opens the cluster of one history: 3 regions x shards, the schema (view: half-life 1 h,
   like: 1 day), the history's seed. 0 (and the failure "setup") if it could not. */
static int world_open(world *w, uint64_t seed, uint32_t shards, int availability, int verbose, run_result *res) {
    static const uint32_t every[6] = {1u, 2u, 4u, 3u, 5u, 6u};
    tidal_sim_cluster_config cc;
    memset(res, 0, sizeof *res);
    memset(w, 0, sizeof *w);
    memset(w->supp, -1, sizeof w->supp);
    w->res = res;
    w->verbose = verbose;
    w->availability = availability;
    w->sigs[0].name = "view";
    w->sigs[0].half_life_s = 3600;
    w->sigs[1].name = "like";
    w->sigs[1].half_life_s = 86400;
    memset(&cc, 0, sizeof cc);
    cc.regions = NREG;
    cc.shards = shards;
    cc.seed = seed;
    cc.start_ns = START_NS;
    cc.schema.signals = w->sigs;
    cc.schema.signal_count = 2;
    cc.availability_mode = availability;
    if (g_every_placement) {
        TIDAL_SIM_ASSERT(NREG == 3);
        cc.placements = every;
        cc.placement_count = 6;
    }
    /* One history in three snapshots automatically, every few KiB of log (bounded disk,
       DESIGN 4.3): retirement and state transfer then happen throughout. */
    if (seed % 3 == 1) cc.snapshot_log_bytes = 2048 + (seed >> 8) % 8192;
    w->o = tidal_sim_oracle_new(&cc.schema, NREG, (uint16_t)shards);
    tidal_sim_oracle_set_report(w->o, oracle_report, w);
    w->c = tidal_sim_cluster_new(&cc);
    if (!w->c) {
        fail(w, "setup", "tidal_sim_cluster_new failed");
        return 0;
    }
    return 1;
}

static void world_observer(void *ctx, tidal_sim_cluster *c) {
    (void)c;
    ((world *)ctx)->step((world *)ctx);
}

/* Runs a history on an open world: step (the program's checks) after every step of the
   cluster; each op is applied, checked, and then the cluster runs the op's simulated time;
   then the end phase and end_checks. */
static void world_run(world *w, const op *ops, int n, void (*do_op)(world *w, const op *o),
                      void (*step)(world *w), void (*end_checks)(world *w)) {
    int i;
    w->step = step;
    tidal_sim_cluster_set_observer(w->c, world_observer, w);
    step(w);
    for (i = 0; i < n && !failed(w); i++) {
        if (w->verbose) op_print(stdout, i, &ops[i]);
        do_op(w, &ops[i]);
        do_snapshot(w, &ops[i]);
        step(w);
        if (!failed(w)) tidal_sim_cluster_run(w->c, tidal_sim_cluster_now(w->c) + ops[i].run_ns);
        if (w->verbose) print_status(w);
        w->res->ops_run++;
    }
    if (!failed(w)) end_phase(w, end_checks);
}

static void world_close(world *w) {
    run_result *res = w->res;
    if (w->verbose) {
        printf("      at the end (%.3f s simulated):\n", (double)(tidal_sim_cluster_now(w->c) - START_NS) / 1e9);
        print_status(w);
    }
    tidal_sim_cluster_trace(w->c, res->trace);
    res->sim_ns = tidal_sim_cluster_now(w->c);
    res->events = w->n_ev;
    tidal_sim_cluster_free(w->c);
    tidal_sim_oracle_free(w->o);
    free(w->ev);
    free(w->pending);
    free(w->leaders);
}

/* ---- shrinking ------------------------------------------------------------------------ */

static int still_fails(uint64_t seed, const op *ops, int n, const char *check, int *runs) {
    run_result r;
    (*runs)++;
    run_history(seed, ops, n, 0, &r);
    return !strcmp(r.check, check);
}

/* Replaces ops [start, end) by one sleep as long as their runs together (keep_time), so
   what follows still happens at the same simulated time, or just drops them; adjacent
   sleeps merge (running a then b is running a + b). Returns the new length. */
static int cut_ops(const op *ops, int n, int start, int end, int keep_time, op *out) {
    int i, m = 0;
    int64_t t = 0;
    for (i = 0; i < start; i++) out[m++] = ops[i];
    for (i = start; i < end; i++) t += ops[i].run_ns;
    if (keep_time) {
        memset(&out[m], 0, sizeof out[m]);
        out[m].kind = OP_SLEEP;
        out[m].node = -1;
        out[m].node2 = -1;
        out[m].run_ns = t;
        m++;
    }
    for (i = end; i < n; i++) out[m++] = ops[i];
    for (i = 1, n = m, m = 1; i < n; i++) {
        if (out[i].kind == OP_SLEEP && out[m - 1].kind == OP_SLEEP) out[m - 1].run_ns += out[i].run_ns;
        else out[m++] = out[i];
    }
    return m;
}

/* What the shrinker minimizes: real ops first, then sleeps. */
static int history_size(const op *ops, int n) {
    int i, k = 0;
    for (i = 0; i < n; i++) k += ops[i].kind == OP_SLEEP ? 1 : 1000;
    return k;
}

/* Delta debugging: remove chunks of ops (halving the chunk size down to single ops), each
   first replaced by a sleep of the same length (a history is timing-sensitive: keeping
   later ops at their simulated time keeps most failures alive), then outright; then
   simplify what is left (one signal per op, no batch); all while the same check fails and
   the history gets smaller. */
static int shrink(uint64_t seed, op *ops, int n, const char *check, int *runs) {
    op trial[MAX_OPS + 1];
    int chunk, progress = 1, i, v;
    while (progress && *runs < SHRINK_RUNS_MAX) {
        progress = 0;
        for (chunk = n / 2 > 0 ? n / 2 : 1; chunk >= 1 && *runs < SHRINK_RUNS_MAX; chunk /= 2) {
            int start = 0;
            while (start < n && *runs < SHRINK_RUNS_MAX) {
                int end = start + chunk > n ? n : start + chunk, m = 0, took = 0;
                for (v = 1; v >= 0 && !took; v--) {
                    m = cut_ops(ops, n, start, end, v, trial);
                    if (m > 0 && history_size(trial, m) < history_size(ops, n) &&
                        still_fails(seed, trial, m, check, runs))
                        took = 1;
                }
                if (took) {
                    memcpy(ops, trial, sizeof(op) * (size_t)m);
                    n = m;
                    progress = 1;
                } else {
                    start += chunk;
                }
            }
        }
        for (i = 0; i < n && *runs < SHRINK_RUNS_MAX; i++) {
            if (ops[i].k <= 1 && !ops[i].batch) continue;
            memcpy(trial, ops, sizeof(op) * (size_t)n);
            trial[i].k = 1;
            trial[i].batch = 0;
            if (still_fails(seed, trial, n, check, runs)) {
                ops[i] = trial[i];
                progress = 1;
            }
        }
    }
    return n;
}

/* ---- cases ---------------------------------------------------------------------------- */

/* What differs between the programs in their cases: how many histories a run has, where
   their regression seeds live and what their counters are called (in the summary of a run,
   and after one replay). */
typedef struct prop_program {
    long histories;                       /* random histories per --scale unit */
    const char *regressions;              /* file name in props/, e.g. "regressions.txt" */
    const char *stat_total[PROP_STATS];   /* "QUORUM acks" (NULL: no more counters) */
    const char *stat_one[PROP_STATS];     /* "QUORUM-acked" */
} prop_program;

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs one history; on failure shrinks it (if shrink), prints seed, check, the minimal
   history and a replay of it, and the reproduction command. Returns 1 if it passed. */
static int check_history(uint64_t seed, int do_shrink, run_result *out) {
    op ops[MAX_OPS];
    int n = gen_history(seed, ops), runs = 0, m;
    run_result r;
    uint64_t saved;
    run_history(seed, ops, n, 0, &r);
    if (out) *out = r;
    if (!r.check[0]) return 1;
    printf("  history seed %llu FAILED %s: %s\n", (unsigned long long)seed, r.check, r.msg);
    if (do_shrink) {
        char check[32];
        double t0 = wall_s();
        memcpy(check, r.check, sizeof check);
        m = shrink(seed, ops, n, check, &runs);
        printf("  shrunk %d ops to %d (%d of them real) in %d runs (%.1f s); minimal history:\n", n, m,
               history_size(ops, m) / 1000, runs, wall_s() - t0);
        for (n = 0; n < m; n++) op_print(stdout, n, &ops[n]);
        printf("  replay of the minimal history:\n");
        run_history(seed, ops, m, 1, &r);
        printf("  minimal history fails %s: %s\n", r.check, r.msg);
    }
    /* the harness's reproduce line names the history seed: --seed means "this history" */
    fflush(stdout); /* the harness writes to stderr: keep the order */
    saved = tt_g.seed;
    tt_g.seed = seed;
    tt_fail(__FILE__, __LINE__, "history seed %llu: check %s failed", (unsigned long long)seed, r.check);
    tt_g.seed = saved;
    return 0;
}

/* --seed S (or TIDAL_SEED) means "exactly the history S"; --base B only moves where the
   random histories start. */
static int seed_is_fixed(void) { return tt_seed_fixed(); }

static void print_stats(const char *const *names, const uint64_t *v) {
    int k;
    for (k = 0; k < PROP_STATS && names[k]; k++) printf(", %llu %s", (unsigned long long)v[k], names[k]);
}

/* p->histories x --scale random histories (or, with --seed, exactly that one, shown op by
   op). */
static void prop_histories(const prop_program *p) {
    long n = p->histories * tt_scale(), i, bad = 0, shrunk = 0;
    unsigned long ops_total = 0, ev_total = 0;
    uint64_t stat_total[PROP_STATS] = {0};
    double sim_total = 0;
    double t0 = wall_s();
    uint64_t s = tt_seed();
    int k;
    if (seed_is_fixed()) { /* replay exactly one history */
        op ops[MAX_OPS];
        int m = gen_history(s, ops);
        run_result r;
        printf("  history seed %llu (%d ops):\n", (unsigned long long)s, m);
        for (k = 0; k < m; k++) op_print(stdout, k, &ops[k]);
        if (check_history(s, 1, &r)) {
            printf("  passed (%.2f s wall, %.1f s simulated, %u events", wall_s() - t0,
                   (double)(r.sim_ns - START_NS) / 1e9, r.events);
            print_stats(p->stat_one, r.stat);
            printf(")\n");
        }
        return;
    }
    for (i = 0; i < n; i++) {
        uint64_t hs = mix64(s + (uint64_t)i);
        run_result r;
        if (!check_history(hs, shrunk < SHRINK_FAILURES_MAX, &r)) {
            bad++;
            shrunk++;
        }
        ops_total += r.ops_run;
        ev_total += r.events;
        for (k = 0; k < PROP_STATS; k++) stat_total[k] += r.stat[k];
        sim_total += (double)(r.sim_ns - START_NS) / 1e9;
    }
    printf("  %ld histories, %ld failed, %.2f s wall; %lu ops, %lu events written", n, bad, wall_s() - t0,
           ops_total, ev_total);
    print_stats(p->stat_total, stat_total);
    printf(", %.0f s simulated\n", sim_total);
}

/* One seed per line, '#' starts a comment. Returns the count read, -1 if the file is
   missing, -2 if a line is not a seed. */
static int read_regressions(const char *file, uint64_t *out, int cap) {
    const char *env = getenv("TIDAL_PROP_REGRESSIONS");
    char paths[3][256];
    FILE *f = NULL;
    char line[256];
    int n = 0, i;
    int np = 3;
    /* the file lives in props/; the program normally runs from the repository root */
    snprintf(paths[0], sizeof paths[0], "props/%s", file);
    snprintf(paths[1], sizeof paths[1], "../props/%s", file);
    snprintf(paths[2], sizeof paths[2], "%s", file);
    if (env && *env) { /* an explicit file, and only it */
        snprintf(paths[0], sizeof paths[0], "%s", env);
        np = 1;
    }
    for (i = 0; i < np && !f; i++) f = fopen(paths[i], "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        char *q = line, *end;
        unsigned long long v;
        char *hash = strchr(q, '#');
        if (hash) *hash = 0;
        while (*q == ' ' || *q == '\t') q++;
        if (!*q || *q == '\n' || *q == '\r') continue;
        v = strtoull(q, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
        if (end == q || *end) {
            fprintf(stderr, "  %s: not a decimal seed: %s\n", file, line);
            n = -2;
            break;
        }
        if (n < cap) out[n++] = v;
    }
    fclose(f);
    return n;
}

/* Replays every seed of the program's regression file (which must exist). */
static void prop_regressions(const prop_program *p) {
    uint64_t seeds[1024];
    int n = read_regressions(p->regressions, seeds, 1024), i, bad = 0;
    TT_CHECKF(n != -1, "props/%s is missing (run from the repository root)", p->regressions);
    TT_CHECKF(n != -2, "props/%s has a line that is not a seed", p->regressions);
    for (i = 0; i < n; i++) bad += !check_history(seeds[i], 1, NULL);
    if (n >= 0) printf("  %d regression seeds replayed, %d failed\n", n, bad);
}

/* The same history twice gives the same run: same trace, digest, outcome and counts. */
static void prop_deterministic(void) {
    int i;
    for (i = 0; i < 5; i++) {
        uint64_t s = mix64(tt_seed() ^ (UINT64_C(0xde7) + (uint64_t)i));
        op ops[MAX_OPS];
        int n = gen_history(s, ops);
        run_result a, b;
        run_history(s, ops, n, 0, &a);
        run_history(s, ops, n, 0, &b);
        TT_CHECKF(!memcmp(a.trace, b.trace, 32), "history seed %llu: traces differ between two runs",
                  (unsigned long long)s);
        TT_CHECKF(!memcmp(a.digest, b.digest, 32) && !strcmp(a.check, b.check),
                  "history seed %llu: final digest or outcome differs (%s / %s)", (unsigned long long)s,
                  a.check, b.check);
        TT_CHECKF(a.sim_ns == b.sim_ns && a.events == b.events, "history seed %llu: runs differ",
                  (unsigned long long)s);
    }
}

/* The cases and main of a program: its regression seeds first, then the random histories,
   then the determinism check. */
#define PROP_MAIN(program)                                                                     \
    static void t_prop_regressions(void) { prop_regressions(&(program)); }                     \
    static void t_prop_histories(void) { prop_histories(&(program)); }                         \
    static void t_prop_deterministic(void) { prop_deterministic(); }                           \
    static const tt_case tt_cases[] = {TT_CASE(t_prop_regressions), TT_CASE(t_prop_histories),  \
                                       TT_CASE(t_prop_deterministic)};                         \
    int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }

#endif /* PROP_COMMON_H */
