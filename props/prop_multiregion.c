#include "prop_common.h"

/* prop_multiregion.c - random histories on one replica group (3 regions x 1 shard) in
   availability mode (DESIGN 5.4), checked after every step and at the end against the
   simulator's ground truth: one node that applied the union of every event any node wrote
   (DESIGN 2, 3.5, 3.6, 5.1-5.7, 6, 7). The machinery (running, shrinking, regression
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
   runaway clocks; network loss, duplication and reordering; tenant limits (DESIGN 5.7:
   tidal_tenant_set pushes of a rate limit and an entity quota for tenant 0, the one all
   writes are in, to every live node or some, with new, older and repeated config
   versions, often tight enough to refuse writes; a restarted node gets the latest again,
   as a host would push it, and in the end phase every node gets limits no local write
   could pass before it catches up); router changes (DESIGN 5.1: the writer's routing
   table grows or shrinks; each write notes the shard tidal_route names for its entity:
   the cluster has one shard, so the router is bookkeeping and its laws are what is
   checked). A retry carries the content of the original write, and (session, seq) always
   carries the same signal: exactly-once is the library's job, content agreement the
   client's.

   Safety, after every step (the cluster's observer, and after each op):
     two_leaders          at most one node leads an epoch (as in prop_replication)
     write_role           a leader or a cut-off member takes a write (TIDAL_OK, LOCAL-acked
                          at once; a cut-off member may refuse a keyed one no newer than
                          the keyed events it held when it left its majority,
                          TIDAL_ERR_KEY_EXPIRED: tidal.h >>repl_vv, rule K1); any other
                          member refuses it with TIDAL_ERR_READ_ONLY
                          (a session write there may also find the session not started
                          there, TIDAL_ERR_NOT_FOUND); nothing else is returned
     write_status         tidal_write_status at QUORUM answers OK, PENDING or UNAVAILABLE
     ack_truth            a write becomes QUORUM-acked only while at least 2 nodes hold it
     leader_completeness  a leader of a later epoch holds every QUORUM-acked write
     same_id              a retry of an idempotency key, and a session seq written again,
                          get the id the first acceptance got, in any region
     suppressed_returned  RETRIEVE ... FOR USER u never returns an item the same replica's
                          tidal_negative_check says u suppressed
     hide_lost            every hide applied on a replica (by id), not lifted by an unhide or
                          forget applied there, is in force there
     hide_monotone        a suppressed (user, item) stays so until an unhide is applied
     hlc_monotone         a node's hybrid clock (tidal_node_status.hlc) never goes back
                          within one life of the node
     hlc_restart          after a restart it is not below any value seen in the previous life
                          (the node persists a bound ahead of its clock; a wipe starts anew)
   Tenant limits (write_role then also allows the refusals below, from a node that takes
   writes):
     limit_refused        a write refused with TIDAL_ERR_RATE_LIMITED is a signal, under a
                          rate, the bucket below one token; with TIDAL_ERR_QUOTA, it would
                          have created entities beyond the quota; both need limits in
                          force on the node: pushed in its life, or held from an earlier
                          one (a restarted node may keep them: tenant_config)
     limit_duplicate      a retry of an event the node holds is never refused
     refused_changed      a refused write changes nothing: the node's digest, events
                          applied, entity count, and the events the cluster recorded (the
                          truth's) are as before
     quota_exceeded       a write the node took that created entities leaves the tenant
                          within its quota (replicated events may take it past: the
                          accepting node decided, so only a local write is held to it)
     rate_exceeded        signals taken since a push <= bucket size + rate x time since
     rate_starved         a signal refused for the rate only while its bucket cannot hold a
                          token yet: less than 1/rate s since the push or the last signal
                          taken; a bucket smaller than one signal fails it (it never passes
                          one)
     tenant_usage         tidal_tenant_usage answers where limits were pushed; its entity
                          count is the node's (tidal_db_stats.entities: all tenant 0's);
                          its bucket holds between 0 and its size
     tenant_config        a config pushed in this life stays in force until the next push
     stale_config         a push of an older version than the one in force is refused with
                          TIDAL_ERR_STALE_CONFIG and changes nothing; any other is taken
   Routing (tidal_route(tenant, entity, shards), a jump consistent hash):
     route_range          the shard named is below the table's size
     route_moved          when a table grows from n to n2, an entity keeps its shard or
                          moves to a new one (>= n), never between old ones (n to n + 1:
                          to shard n); when it shrinks, one on a surviving shard stays;
                          at every router change for every entity written so far, and
                          once per history (before its ops, from its seed) for 24 random
                          (tenant, entity) pairs over tables of up to 100008 shards
     route_stable         the same call gives the same shard, and at the end every write's
                          entity still routes, under the table it was written with, to the
                          shard noted then (route_moved from there to the final table)
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
     digest               every replica's digest is the truth's, and it applied as many
                          distinct events as the truth (the shared checker's)
     truth                the truth, given limits no local write could pass before its
                          first import, imported every event: imports are never refused
                          (nor are replicated events: every replica above converged under
                          such limits)

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
   some replica still holds. The limit checks ask, internally, which entities a node holds
   (tidal__ent_find: how many a write would create) and which config is in force
   (tidal__tcfg_find: what a stale push must leave).

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
    OP_LIMIT,                   /* tenant 0's limits (content from r) pushed to the live nodes
                                   of mask a (0: all): pkind 0 a new config version, 1 an
                                   older one, 2 the latest again */
    OP_ROUTE,                   /* the writer's routing table grows by k shards (pkind 1:
                                   shrinks by k) */
    OP_KINDS
};

enum { ST_CUT_OFF, ST_QUORUM_ACKED, ST_UNAVAILABLE, ST_RETRIES, /* run_result.stat */
       ST_RATE_LIMITED, ST_QUOTA, ST_STALE, ST_ROUTE };

#define KEYS_MAX 256    /* idempotency keys per history */
#define SESS_MAX 16     /* sessions per history */
#define SEQ_MAX 48      /* seqs per session */
#define SHARDS_MAX 65536 /* the writer's routing table never grows beyond */

static const char *op_name(int kind) {
    static const char *const names[OP_KINDS - OP_COMMON_KINDS] = {"write", "retry", "hide", "unhide",
                                                                  "race", "session", "limits", "route"};
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

/* Tenant limit pushes and router changes, from their own stream (so adding them shifted
   no draw of the ops above, nor their times: they run 0 ms), inserted at random places:
   in 65% of the histories 1-4 limit pushes (3 in 4 a new config version, the others an
   older one or the latest again; 3 in 10 to some nodes only), in half of them 1-2 router
   changes (growing by 1, or by 1-8; 3 in 10 shrinking). */
static int gen_extra(uint64_t seed, op *ops, int n) {
    uint64_t g = mix64(seed ^ UINT64_C(0x74656e616e74) /* "tenant" */);
    int nl = tt_next(&g) % 100 < 35 ? 0 : 1 + (int)(tt_next(&g) % 4);
    int nr = tt_next(&g) % 2 ? 0 : 1 + (int)(tt_next(&g) % 2), j;
    for (j = 0; j < nl + nr && n < MAX_OPS; j++) {
        int at = (int)(tt_next(&g) % (uint64_t)(n + 1));
        op o;
        memset(&o, 0, sizeof o);
        o.node = o.node2 = -1;
        o.r = tt_next(&g);
        if (j < nl) {
            uint32_t v = (uint32_t)(tt_next(&g) % 100);
            o.kind = OP_LIMIT;
            o.pkind = v < 75 ? 0 : v < 90 ? 1 : 2;
            o.a = tt_next(&g) % 10 < 3 ? 1 + (int)(tt_next(&g) % ((1u << NREG) - 2)) : 0;
        } else {
            o.kind = OP_ROUTE;
            o.pkind = tt_next(&g) % 10 < 3;
            o.k = tt_next(&g) % 2 ? 1 : 1 + (int)(tt_next(&g) % 8);
        }
        memmove(&ops[at + 1], &ops[at], sizeof(op) * (size_t)(n - at));
        ops[at] = o;
        n++;
    }
    return n;
}

static int gen_history(uint64_t seed, op *ops) {
    int n = gen_ops(seed, UINT64_C(0x6d756c7469726567) /* "multireg" */, ops, gen_op);
    return gen_extra(seed, ops, n);
}

/* A bucket's size: its burst, or one second of its rate. */
/* The bucket's size as tidal.h documents it: burst, or one second of the rate, at least 1. */
static double burst_of(const tidal_tenant_config *c) {
    double b = c->burst > 0 ? c->burst : c->rate_per_s;
    return b < 1.0 ? 1.0 : b;
}

/* The limits an OP_LIMIT pushes (all but the version, which the run assigns), from its
   stream: a rate (none 30%, tight 0.5-5/s with a burst of 1-4 or one second's 25%, loose
   20-219/s 45%), an entity quota (none 40%, tight 1-10 30%, loose 11-100: the history has
   11 entities at most), and in 1 push of 10 neither (the limits lifted). */
static void limit_content(const op *o, tidal_tenant_config *cfg) {
    uint64_t g = o->r;
    uint32_t c = (uint32_t)(tt_next(&g) % 100), q = (uint32_t)(tt_next(&g) % 100);
    memset(cfg, 0, sizeof *cfg);
    if (c >= 30 && c < 55) {
        cfg->rate_per_s = 0.5 * (double)(1 + tt_next(&g) % 10);
        cfg->burst = tt_next(&g) % 3 == 0 ? 0 : (double)(1 + tt_next(&g) % 4);
    } else if (c >= 55) {
        cfg->rate_per_s = (double)(20 + tt_next(&g) % 200);
        cfg->burst = tt_next(&g) % 2 ? 0 : (double)(10 + tt_next(&g) % 40);
    }
    if (q >= 40) cfg->entity_quota = q < 70 ? 1 + tt_next(&g) % 10 : 11 + tt_next(&g) % 90;
    if (tt_next(&g) % 10 == 0) {
        cfg->rate_per_s = cfg->burst = 0;
        cfg->entity_quota = 0;
    }
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
    case OP_LIMIT: {
        tidal_tenant_config c;
        int r;
        limit_content(o, &c);
        fprintf(f, "tenant 0 on ");
        if (!o->a) fprintf(f, "every live node");
        for (r = 0; r < NREG; r++)
            if (o->a >> r & 1) fprintf(f, "%sregion %d", o->a & ((1 << r) - 1) ? "+" : "", r);
        if (o->pkind == 2) {
            fprintf(f, ": the latest config again");
            break;
        }
        fprintf(f, ": %s version, ", o->pkind ? "an older" : "a new");
        if (c.rate_per_s > 0 && c.burst > 0) fprintf(f, "rate %g/s burst %g, ", c.rate_per_s, c.burst);
        else if (c.rate_per_s > 0) fprintf(f, "rate %g/s default burst (%g), ", c.rate_per_s, burst_of(&c));
        else fprintf(f, "no rate limit, ");
        if (c.entity_quota) fprintf(f, "quota %llu", (unsigned long long)c.entity_quota);
        else fprintf(f, "no quota");
        break;
    }
    case OP_ROUTE: fprintf(f, "routing table %s by %d shard(s)", o->pkind ? "shrinks" : "grows", o->k); break;
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

/* What the oracle knows of tenant 0's limits on one node: the config the last accepted
   push set there, in which life (a restart forgets limits: the host pushes them again),
   and the signals the node took since (rate_exceeded). */
typedef struct lim_node {
    int on;                   /* a push was accepted (valid while life and wipes match) */
    uint32_t life, wipes;
    tidal_tenant_config cfg;  /* in force */
    int64_t since_ns;         /* the node's monotonic clock at that push */
    uint64_t taken;           /* signals it accepted (not duplicates) since */
    int64_t took_ns;          /* its monotonic clock at the last of them (0: none) */
    uint32_t seen_life;       /* check_limits: life + 1 at the last look (0: look now) */
    uint64_t seen_applied, seen_entities;
} lim_node;

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
    lim_node lim[NREG];
    tidal_tenant_config cp; /* the control plane's latest config for tenant 0 (if cp_on) */
    int cp_on;
    uint64_t version_max;   /* the highest config version pushed */
    uint32_t shards;        /* the writer's routing table: shards of the tenant */
    tidal_db **truth;       /* end: where tidal_sim_cluster_truth opens the truth */
    int truth_limited;      /* ... and whether keep_event set its limits before an import */
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

/* ---- tenant limits and routing -------------------------------------------------------- */

static int64_t mono_of(world *w, int r) { return tidal_sim_cluster_env(w->c, (uint16_t)r, 0)->mono_ns; }

/* The limits in force on region r by the oracle's account (NULL: none in this life). */
static lim_node *lim_in_force(mr *m, int r) {
    lim_node *ln = &m->lim[r];
    return ln->on && ln->life == m->w.life[r] && ln->wipes == m->w.wipes[r] ? ln : NULL;
}

/* tenant_usage, where limits are in force and the state changed since the last look:
   tidal_tenant_usage answers; its entity count is the node's (tidal_db_stats.entities:
   tenant 0 is the only one here), and the bucket holds 0 to its size in tokens. */
static void check_limits(world *w) {
    mr *m = mr_of(w);
    int r;
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_db *db = dbof(w, r);
        lim_node *ln = lim_in_force(m, r);
        tidal_db_stats st;
        uint64_t ents = 0;
        double tokens = 0;
        tidal_result res;
        if (!db || !ln) continue;
        tidal_db_stats_get(db, &st);
        if (ln->seen_life == w->life[r] + 1 && ln->seen_applied == st.events_applied &&
            ln->seen_entities == st.entities)
            continue;
        ln->seen_life = w->life[r] + 1;
        ln->seen_applied = st.events_applied;
        ln->seen_entities = st.entities;
        res = tidal_tenant_usage(db, 0, &ents, &tokens);
        if (res != TIDAL_OK)
            fail(w, "tenant_usage", "region %d: tidal_tenant_usage of tenant 0 returned %s, after its config (version %llu) was set in this life",
                 r, tidal_strerror(res), (unsigned long long)ln->cfg.config_version);
        else if (ents != st.entities)
            fail(w, "tenant_usage", "region %d: tenant 0 uses %llu entities by tidal_tenant_usage, the node holds %llu (all tenant 0's)",
                 r, (unsigned long long)ents, (unsigned long long)st.entities);
        else if (!(tokens >= 0 && tokens <= burst_of(&ln->cfg) + 1e-9))
            fail(w, "tenant_usage", "region %d: tenant 0's bucket holds %g tokens, outside [0, %g]", r, tokens,
                 burst_of(&ln->cfg));
    }
}

/* Pushes cfg for tenant 0 to region r (if up), as the control plane does, and checks:
     tenant_config   a config pushed in this life is still the one in force (nothing but a
                     push changes it; a node that restarted may hold one or not: limits
                     are not said to persist, and the host pushes them again)
     stale_config    a version older than the one in force is refused with
                     TIDAL_ERR_STALE_CONFIG and leaves the config, the entity count and
                     the bucket as they were; any other push is taken */
static void lim_set(mr *m, int r, const tidal_tenant_config *cfg) {
    world *w = &m->w;
    tidal_db *db = dbof(w, r);
    lim_node *cur = lim_in_force(m, r), *ln = &m->lim[r];
    const tidal__tcfg *t = db ? tidal__tcfg_find(db, 0) : NULL;
    tidal_tenant_config was;
    uint64_t e0 = 0, e1 = 0;
    double k0 = 0, k1 = 0;
    int stale = t && cfg->config_version < t->cfg.config_version;
    tidal_result res;
    if (!db) return;
    if (cur && (!t || memcmp(&t->cfg, &cur->cfg, sizeof cur->cfg))) {
        fail(w, "tenant_config", "region %d: tenant 0's config version %llu, pushed in this life, is %s", r,
             (unsigned long long)cur->cfg.config_version, t ? "no longer the one in force" : "gone");
        return;
    }
    memset(&was, 0, sizeof was);
    if (t) was = t->cfg;
    (void)tidal_tenant_usage(db, 0, &e0, &k0);
    res = tidal_tenant_set(db, cfg);
    if (w->verbose)
        printf("      limits version %llu on region %d: %s\n", (unsigned long long)cfg->config_version, r,
               tidal_strerror(res));
    if (res != (stale ? TIDAL_ERR_STALE_CONFIG : TIDAL_OK)) {
        fail(w, "stale_config", "region %d: config version %llu for tenant 0 (%s %llu in force) returned %s, not %s", r,
             (unsigned long long)cfg->config_version, t ? "version" : "none,", (unsigned long long)was.config_version,
             tidal_strerror(res), tidal_strerror(stale ? TIDAL_ERR_STALE_CONFIG : TIDAL_OK));
        return;
    }
    if (stale) {
        w->res->stat[ST_STALE]++;
        t = tidal__tcfg_find(db, 0);
        (void)tidal_tenant_usage(db, 0, &e1, &k1);
        if (!t || memcmp(&t->cfg, &was, sizeof was) || e1 != e0 || k1 != k0)
            fail(w, "stale_config", "region %d: a refused config version %llu for tenant 0 changed what was in force (version %llu)",
                 r, (unsigned long long)cfg->config_version, (unsigned long long)was.config_version);
        return;
    }
    memset(ln, 0, sizeof *ln);
    ln->on = 1;
    ln->life = w->life[r];
    ln->wipes = w->wipes[r];
    ln->cfg = *cfg;
    ln->since_ns = mono_of(w, r); /* the bucket holds at most its size now */
}

/* An OP_LIMIT: a new version (published: the latest), an older one (a delayed push), or
   the latest again, to the live nodes the op names. */
static void do_limit(mr *m, const op *o) {
    tidal_tenant_config cfg;
    int r;
    limit_content(o, &cfg);
    if (o->pkind == 2 && m->cp_on) cfg = m->cp;
    else if (o->pkind == 1) cfg.config_version = m->version_max ? (o->r >> 20) % m->version_max : 0;
    else cfg.config_version = ++m->version_max;
    if (o->pkind == 0 || (o->pkind == 2 && !m->cp_on)) {
        m->cp = cfg;
        m->cp_on = 1;
    }
    for (r = 0; r < NREG && !failed(&m->w); r++)
        if (!o->a || (o->a >> r & 1)) lim_set(m, r, &cfg);
}

/* The host pushes the latest config to a node that restarted (limits live in memory). */
static void lim_node_up(world *w, int r) {
    mr *m = mr_of(w);
    if (m->cp_on) lim_set(m, r, &m->cp);
}

/* The end phase: every node gets limits no local write could pass (quota 1, a bucket of a
   thousandth of a token) before it catches up: events replicated to it are never refused,
   so the convergence checks must pass as before. */
static tidal_tenant_config lim_closed(mr *m) {
    tidal_tenant_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.rate_per_s = 1e-3;
    cfg.entity_quota = 1;
    cfg.config_version = m->version_max + 1;
    return cfg;
}
static void lim_converging(world *w) {
    mr *m = mr_of(w);
    int r;
    m->cp = lim_closed(m);
    m->cp_on = 1;
    m->version_max = m->cp.config_version;
    for (r = 0; r < NREG && !failed(w); r++) lim_set(m, r, &m->cp);
}

/* A write call under tenant limits: what the node was before it (lim_before), to judge a
   refusal (lim_refused) or an acceptance (lim_taken). */
typedef struct lim_guard {
    lim_node *ln;      /* NULL: no limits pushed in this life... */
    int held;          /* ...but the node holds an earlier life's (a refusal is judged by
                          it); neither: a refusal is wrong */
    int r, dup;        /* dup: the write's event is already applied there */
    int signal;        /* the write is a signal (a hide or unhide is not) */
    uint64_t fresh;    /* entities it would create there */
    uint8_t digest[32];
    uint64_t applied, entities;
    uint32_t recorded; /* events the cluster recorded (the truth's) */
} lim_guard;

/* Before a write on region r of a signal about item by user (item 0: a hide or unhide by
   user, which creates only the user's entity); id: the event's id if the oracle knows it
   (a retry), else NULL. */
static void lim_before(mr *m, int r, lim_guard *g, const tidal_event_id *id, tidal_id item, tidal_id user) {
    world *w = &m->w;
    tidal_db *db = dbof(w, r);
    tidal_db_stats st;
    memset(g, 0, sizeof *g);
    g->r = r;
    if (!db) return;
    g->ln = lim_in_force(m, r);
    g->held = !g->ln && tidal__tcfg_find(db, 0) != NULL;
    if (!g->ln && !g->held) return;
    g->dup = id && tidal__event_applied(db, *id);
    g->signal = item != 0;
    g->fresh = (uint64_t)(item && !tidal__ent_find(db, 0, item)) +
               (uint64_t)(user && user != item && !tidal__ent_find(db, 0, user));
    tidal_db_stats_get(db, &st);
    g->applied = st.events_applied;
    (void)tidal_tenant_usage(db, 0, &g->entities, NULL);
    (void)tidal_db_digest(db, TIDAL_ALL_TENANTS, g->digest);
    g->recorded = tidal_sim_cluster_events(w->c);
}

/* rate_starved: a signal refused for the rate must find a bucket that cannot hold a token
   yet. Since the push (the bucket then held 0 or more) and since the last signal taken
   (it then held 0 or more) it refilled at the rate, up to its size: so after 1/rate
   seconds it holds one, if it can hold one at all: a rate > 0 whose bucket is smaller
   than one signal (burst below 1, or 0 and a rate below 1/s) admits no signal, ever. */
static void rate_starved(world *w, const lim_guard *g) {
    const tidal_tenant_config *c = &g->ln->cfg;
    int64_t from = g->ln->took_ns > g->ln->since_ns ? g->ln->took_ns : g->ln->since_ns;
    double idle_s = (double)(mono_of(w, g->r) - from) / 1e9;
    if (burst_of(c) < 1.0)
        fail(w, "rate_starved", "region %d refused a signal under rate %g/s burst %g: a bucket of %g signals never holds one; "
             "no signal of the tenant can pass", g->r, c->rate_per_s, c->burst, burst_of(c));
    else if (idle_s * c->rate_per_s >= 1.0 + 1e-6)
        fail(w, "rate_starved", "region %d refused a signal under rate %g/s burst %g, %.3f s after %s", g->r,
             c->rate_per_s, c->burst, idle_s, g->ln->took_ns > g->ln->since_ns ? "the last one it took" : "the push");
}

/* A write refused for tenant limits (TIDAL_ERR_RATE_LIMITED or TIDAL_ERR_QUOTA from a node
   that takes writes: may) must be one the limits explain, and change nothing:
     limit_refused    limits are in force there; RATE_LIMITED only for a signal, under a
                      rate, with less than one token left; QUOTA only under a quota, for
                      a write that would create entities (a signal's item and user, a
                      hide's user: lim_before counted them) beyond it
     limit_duplicate  a write whose event the node already holds (a retry) is never
                      refused: it is a duplicate, not a new event
     refused_changed  the node's digest, events applied and entity count, and the events
                      the cluster recorded (what the ground truth is built from), are as
                      before the call
   Returns 1 when res is such a refusal (judged here), 0 for any other result. */
static int lim_refused(mr *m, const lim_guard *g, tidal_result res, int may) {
    world *w = &m->w;
    tidal_db *db = dbof(w, g->r);
    const tidal_tenant_config *c = g->ln ? &g->ln->cfg : NULL;
    uint64_t ents = 0;
    double tokens = 0;
    uint8_t d[32];
    tidal_db_stats st;
    if ((res != TIDAL_ERR_RATE_LIMITED && res != TIDAL_ERR_QUOTA) || !may) return 0;
    w->res->stat[res == TIDAL_ERR_QUOTA ? ST_QUOTA : ST_RATE_LIMITED]++;
    if (w->verbose) printf("      region %d refused a write: %s (%s)\n", g->r, tidal_strerror(res), tidal_errmsg(db));
    if (!c) { /* none pushed in this life: the node may still hold an earlier life's config
                 (limits are not said to persist, nor not to: tenant_config); judge by it */
        const tidal__tcfg *t = g->held ? tidal__tcfg_find(db, 0) : NULL;
        if (!t) {
            fail(w, "limit_refused", "region %d refused a write with %s, with no tenant limits set in this life "
                 "and none held from an earlier one", g->r, tidal_strerror(res));
            return 1;
        }
        c = &t->cfg;
    }
    (void)tidal_tenant_usage(db, 0, &ents, &tokens);
    if (g->dup)
        fail(w, "limit_duplicate", "region %d refused a retry with %s, though it holds the retried event", g->r,
             tidal_strerror(res));
    else if (res == TIDAL_ERR_RATE_LIMITED && (!g->signal || c->rate_per_s <= 0 || tokens >= 1.0))
        fail(w, "limit_refused", "region %d refused a %s as RATE_LIMITED under rate %g/s with %g tokens left", g->r,
             g->signal ? "signal" : "write that is no signal", c->rate_per_s, tokens);
    else if (res == TIDAL_ERR_RATE_LIMITED && g->ln)
        rate_starved(w, g); /* the oracle's timing: only for limits pushed in this life */
    else if (res == TIDAL_ERR_QUOTA && (!c->entity_quota || !g->fresh || g->entities + g->fresh <= c->entity_quota))
        fail(w, "limit_refused", "region %d refused a write as over quota %llu: it held %llu entities, the write would add %llu",
             g->r, (unsigned long long)c->entity_quota, (unsigned long long)g->entities, (unsigned long long)g->fresh);
    if (failed(w)) return 1;
    tidal_db_stats_get(db, &st);
    if (tidal_db_digest(db, TIDAL_ALL_TENANTS, d) != TIDAL_OK || memcmp(d, g->digest, 32) ||
        st.events_applied != g->applied || ents != g->entities || tidal_sim_cluster_events(w->c) != g->recorded)
        fail(w, "refused_changed", "region %d: a write refused with %s changed %s", g->r, tidal_strerror(res),
             st.events_applied != g->applied ? "the events applied" : ents != g->entities ? "the entity count"
             : tidal_sim_cluster_events(w->c) != g->recorded ? "the cluster's recorded events" : "the digest");
    return 1;
}

/* A write the node took under limits:
     quota_exceeded   if it created entities, the tenant's count is within the quota
                      (events replicated here may have taken it past the quota before:
                      the accepting node decided; a local write never does)
     rate_exceeded    the signals the node took since the config was pushed are at most
                      the bucket's size plus rate x the time since (its monotonic clock) */
static void lim_taken(mr *m, const lim_guard *g, int duplicate) {
    world *w = &m->w;
    lim_node *ln = g->ln;
    uint64_t ents = 0;
    double bound;
    if (!ln) return;
    (void)tidal_tenant_usage(dbof(w, g->r), 0, &ents, NULL);
    if (ln->cfg.entity_quota && ents > g->entities && ents > ln->cfg.entity_quota) {
        fail(w, "quota_exceeded", "region %d took a write that took tenant 0 from %llu to %llu entities, over its quota %llu",
             g->r, (unsigned long long)g->entities, (unsigned long long)ents,
             (unsigned long long)ln->cfg.entity_quota);
        return;
    }
    if (!g->signal || duplicate || ln->cfg.rate_per_s <= 0) return;
    ln->taken++;
    ln->took_ns = mono_of(w, g->r);
    bound = burst_of(&ln->cfg) + ln->cfg.rate_per_s * (double)(mono_of(w, g->r) - ln->since_ns) / 1e9;
    if ((double)ln->taken > bound + 1e-6)
        fail(w, "rate_exceeded", "region %d took %llu signals in %.3f s under rate %g/s burst %g (at most %.3f)", g->r,
             (unsigned long long)ln->taken, (double)(mono_of(w, g->r) - ln->since_ns) / 1e9, ln->cfg.rate_per_s,
             ln->cfg.burst, bound);
}

/* The entity a write is routed by (tidal_route's documentation): a session write by its
   session, a signal or a hide by its item. */
static tidal_id route_entity(const mr *m, const ev_rec *e) {
    return e->seq ? m->sess[e->sess].id : tidal_sim_oracle_op(m->w.o, ev_index(&m->w, e))->entity;
}

/* route_range: the shard tidal_route names is one of the table's. The writer notes it
   with the event (the replica group it wrote to: one here, the cluster has one shard, so
   the router is the writer's bookkeeping and its laws are what is checked). */
static void ev_route(mr *m, ev_rec *e) {
    e->shards = m->shards;
    e->shard = tidal_route(0, route_entity(m, e), m->shards);
    if (e->shard >= e->shards)
        fail(&m->w, "route_range", "tidal_route(0, %llu, %u) = %u", (unsigned long long)route_entity(m, e),
             e->shards, e->shard);
}

/* The router's laws for one (tenant, entity) from a table of n shards to one of n2:
     route_range   every shard named is below the table's size (0 for a table of 0)
     route_moved   growing, an entity keeps its shard or moves to a new one (>= n), never
                   to another old one; shrinking, one whose shard survives keeps it */
static void route_law(world *w, uint32_t t, tidal_id e, uint32_t n, uint32_t n2, const char *when) {
    uint32_t a = tidal_route(t, e, n), b = tidal_route(t, e, n2);
    if ((n ? a >= n : a != 0) || (n2 ? b >= n2 : b != 0))
        fail(w, "route_range", "%s: tenant %u entity %llu: shard %u of %u, %u of %u", when, t,
             (unsigned long long)e, a, n, b, n2);
    else if (n2 > n && b != a && b < n)
        fail(w, "route_moved", "%s: tenant %u entity %llu moved from shard %u to old shard %u as %u shards became %u",
             when, t, (unsigned long long)e, a, b, n, n2);
    else if (n2 < n && a < n2 && b != a)
        fail(w, "route_moved", "%s: tenant %u entity %llu moved from surviving shard %u to %u as %u shards became %u",
             when, t, (unsigned long long)e, a, b, n, n2);
}

/* An OP_ROUTE: the writer's table changes; the laws hold for every entity written so far,
   the history's items and users, and 16 others (any tenant) from the op's stream. */
static void do_route(mr *m, const op *o) {
    world *w = &m->w;
    uint32_t n = m->shards, n2, i;
    uint64_t g = o->r;
    if (o->pkind) n2 = n > (uint32_t)o->k ? n - (uint32_t)o->k : 1;
    else n2 = n + (uint32_t)o->k > SHARDS_MAX ? SHARDS_MAX : n + (uint32_t)o->k;
    if (w->verbose) printf("      routing table: %u -> %u shards\n", n, n2);
    for (i = 0; i < w->n_ev && !failed(w); i++) route_law(w, 0, route_entity(m, &w->ev[i]), n, n2, "router change");
    for (i = 1; i <= NITEMS + NUSERS && !failed(w); i++)
        route_law(w, 0, i <= NITEMS ? i : USER0 + i - NITEMS, n, n2, "router change");
    for (i = 0; i < 16 && !failed(w); i++) {
        uint32_t t = (uint32_t)tt_next(&g);
        uint64_t e = tt_next(&g);
        route_law(w, i & 1 ? t : 0, i & 2 ? e % 1000 : e, n, n2, "router change");
    }
    m->shards = n2;
    w->res->stat[ST_ROUTE]++;
}

/* Once per history, before its ops, from its seed: 24 random (tenant, entity) pairs (half
   with small ids), tables of n = 1-16 or 1-100000 shards: the laws from n to n + 1, ...,
   n + k (k 1-8) step by step (growing by one, an entity that moves goes to the new shard)
   and from n to n + k at once, back from n + k to n, and tables of 0 and 1 (shard 0).
   route_stable: the same call twice gives the same shard. */
static void check_route_laws(world *w, uint64_t seed) {
    uint64_t g = mix64(seed ^ UINT64_C(0x726f757465) /* "route" */);
    int i;
    for (i = 0; i < 24 && !failed(w); i++) {
        uint32_t t = i & 1 ? (uint32_t)tt_next(&g) : 0, n, k, j;
        uint64_t e = tt_next(&g);
        if (i & 2) e %= 1000;
        n = 1 + (uint32_t)(tt_next(&g) % (i & 4 ? 100000 : 16));
        k = 1 + (uint32_t)(tt_next(&g) % 8);
        for (j = n; j < n + k && !failed(w); j++) route_law(w, t, e, j, j + 1, "route laws");
        route_law(w, t, e, n, n + k, "route laws");
        route_law(w, t, e, n + k, n, "route laws");
        if (tidal_route(t, e, 0) != 0 || tidal_route(t, e, 1) != 0)
            fail(w, "route_range", "tenant %u entity %llu: shard %u of 0, %u of 1", t, (unsigned long long)e,
                 tidal_route(t, e, 0), tidal_route(t, e, 1));
        else if (tidal_route(t, e, n) != tidal_route(t, e, n))
            fail(w, "route_stable", "tenant %u entity %llu: two calls over %u shards differ", t, (unsigned long long)e, n);
    }
}

static void check_step(world *w) {
    if (failed(w)) return;
    check_leaders(w, check_leader_holds);
    if (!failed(w)) poll_status(w);
    if (!failed(w)) check_hlc(w);
    if (!failed(w)) check_limits(w);
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
    tidal_node_status st;
    if (may && res == TIDAL_ERR_KEY_EXPIRED && tidal_node_status_get(db, &st) == TIDAL_OK &&
        st.role != TIDAL_ROLE_LEADER && st.cut_off &&
        strstr(tidal_errmsg(db), "last with its majority"))
        return 0; /* rule K1 (tidal.h >>repl_vv): cut off, a key not newer than it held */
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
                         uint32_t *first, const tidal_signal *s, uint64_t user, uint64_t item) {
    ev_rec *e = ev_new(w, kind, r, rc, s, user, item);
    char a[48], b[48];
    e->local_ok = 1;
    if (!rc->duplicate) note_written(w, r); /* a duplicate takes a stamp but logs nothing */
    if (cut_off) w->res->stat[ST_CUT_OFF]++;
    if (!first) return e;
    if (*first == UINT32_MAX) {
        *first = ev_index(w, e);
    } else {
        const ev_rec *f = &w->ev[*first];
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
    uint32_t first = key >= 0 ? m->keys[key].first : UINT32_MAX;
    lim_guard g;
    ev_rec *e;
    memset(&rc, 0, sizeof rc);
    lim_before(m, r, &g, first != UINT32_MAX ? &w->ev[first].id : NULL, s->item, s->user);
    res = tidal_signal_write(dbof(w, r), s, &rc);
    if (lim_refused(m, &g, res, may)) return NULL;
    if (!expect_write(w, r, may, res, TIDAL_OK, key >= 0 ? "keyed signal write" : "signal write"))
        return NULL;
    lim_taken(m, &g, rc.duplicate);
    e = ev_accept(w, EV_SIGNAL, r, &rc, cut_off, key >= 0 ? &m->keys[key].first : NULL, s, 0, 0);
    ev_route(m, e);
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
    lim_guard g;
    ev_rec *e;
    if (!db) return;
    may = may_write(w, r, &cut_off);
    memset(&rc, 0, sizeof rc);
    lim_before(mr_of(w), r, &g, NULL, 0, user);
    if (kind == EV_HIDE) res = tidal_negative_add(db, 0, user, TIDAL_HIDE, item, &rc);
    else res = tidal_negative_remove(db, 0, user, TIDAL_HIDE, item, &rc);
    if (w->verbose)
        printf("      %s user %llu item %llu on region %d%s: %s\n", kind == EV_HIDE ? "hide" : "unhide",
               (unsigned long long)user, (unsigned long long)item, r, cut_off ? " (cut off)" : "",
               tidal_strerror(res));
    if (lim_refused(mr_of(w), &g, res, may)) return;
    if (!expect_write(w, r, may, res, TIDAL_OK, kind == EV_HIDE ? "hide" : "unhide")) return;
    lim_taken(mr_of(w), &g, rc.duplicate);
    e = ev_accept(w, kind, r, &rc, cut_off, NULL, NULL, user, item);
    ev_route(mr_of(w), e);
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
    uint32_t first = ss->first[seq];
    lim_guard g;
    ev_rec *e;
    memset(&s, 0, sizeof s);
    memset(&rc, 0, sizeof rc);
    s.item = 1 + h % NITEMS;
    s.type = (uint32_t)((h >> 8) & 1);
    s.weight = 0.25 * (double)(1 + (h >> 16) % 8);
    s.time_ns = ss->time_ns[seq];
    lim_before(m, r, &g, first != UINT32_MAX ? &w->ev[first].id : NULL, s.item, ss->user);
    res = tidal_session_signal(db, ss->id, seq, &s, &rc);
    if (w->verbose)
        printf("      session %d seq %u on region %d%s: %s\n", si, seq, r, cut_off ? " (cut off)" : "",
               tidal_strerror(res));
    /* a node that refused the open may not know the session at all */
    if (!opened && (tidal_session_get(db, 0, ss->id, &info) != TIDAL_OK || info.user == 0))
        also = TIDAL_ERR_NOT_FOUND;
    if (lim_refused(m, &g, res, may && opened)) return;
    if (!expect_write(w, r, may && opened, res, also, "session write")) return;
    lim_taken(m, &g, rc.duplicate);
    e = ev_accept(w, EV_SIGNAL, r, &rc, cut_off, &ss->first[seq], &s, ss->user, 0); /* the
                                                     session's user, whatever s says */
    e->sess = (uint32_t)si;
    e->seq = seq;
    ev_route(m, e);
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
    case OP_LIMIT: do_limit(m, o); break;
    case OP_ROUTE: do_route(m, o); break;
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

/* The first record of e's id (a retry, a session seq written again: the same event). */
static uint32_t ev_orig(const world *w, uint32_t i) { return tidal_sim_oracle_op(w->o, i)->orig; }

/* Which oracle events (logical writes: flags at their first record) the truth keeps:
   every one whose budget held (must: the oracle's tidal_sim_oracle_within_budget, QUORUM
   while fewer than a majority of disks were lost since its first acceptance, LOCAL while
   the accepting node kept its disk), and every one some replica holds. The oracle's
   ground truth is set to the kept ones. */
static void decide_kept(mr *m) {
    world *w = &m->w;
    uint32_t i;
    m->kept = (uint8_t *)calloc(w->n_ev + 1, 1);
    m->must = (uint8_t *)calloc(w->n_ev + 1, 1);
    m->seen = (uint8_t *)calloc(w->n_ev + 1, 1);
    m->by_id = (uint32_t *)calloc(w->n_ev + 1, sizeof *m->by_id);
    if (!m->kept || !m->must || !m->seen || !m->by_id) abort();
    for (i = 0; i < w->n_ev; i++)
        if (tidal_sim_oracle_within_budget(w->o, i)) m->must[ev_orig(w, i)] = 1;
    for (i = 0; i < w->n_ev; i++) {
        if (ev_orig(w, i) == i) m->kept[i] = (uint8_t)(m->must[i] || held_anywhere(w, w->ev[i].id));
        else if (!m->kept[ev_orig(w, i)])
            m->kept[ev_orig(w, i)] = (uint8_t)held_anywhere(w, w->ev[i].id);
    }
    for (i = 0; i < w->n_ev; i++) tidal_sim_oracle_op(w->o, i)->truth = m->kept[ev_orig(w, i)];
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
    if (m->truth && *m->truth && !m->truth_limited) { /* before its first import */
        tidal_tenant_config cfg = lim_closed(m);
        m->truth_limited = tidal_tenant_set(*m->truth, &cfg) == TIDAL_OK;
    }
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = id_cmp(w->ev[m->by_id[mid]].id, id);
        if (c == 0) {
            uint32_t orig = ev_orig(w, m->by_id[mid]);
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

/* local_lost / quorum_lost: the events that must be everywhere (within their budget), by
   id: the shared checker's tidal_sim_check_acked on every replica. */
static void check_present(world *w) {
    int r;
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_sim_member mb = member_of(w, r);
        (void)tidal_sim_check_acked(w->o, &mb, NULL, TIDAL_ACK_LOCAL);
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
            if (e->seq && e->sess == si && m->kept[ev_orig(w, i)] && !written[e->seq]) {
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

/* digest: each replica is the truth, state and event count (tidal_sim_check_digests). */
static void check_truth(world *w, tidal_db *truth) {
    tidal_sim_member ref, mb[NREG];
    int r;
    memset(&ref, 0, sizeof ref);
    ref.db = truth;
    ref.region = 0xFFFF; /* not a cluster node: messages name it (65535, 0) */
    for (r = 0; r < NREG; r++) mb[r] = member_of(w, r);
    (void)tidal_sim_check_digests(w->o, &ref, mb, NREG, NULL, 0, 1);
}

/* route_stable: each write's entity still routes, under the table it was written with, to
   the shard noted then (the replica group it went to); route_moved from that table to
   the writer's table at the end. */
static void check_routes(world *w) {
    mr *m = mr_of(w);
    uint32_t i;
    for (i = 0; i < w->n_ev && !failed(w); i++) {
        const ev_rec *e = &w->ev[i];
        tidal_id ent = route_entity(m, e);
        if (tidal_route(0, ent, e->shards) != e->shard)
            fail(w, "route_stable", "entity %llu was routed to shard %u of %u at its write, now to %u",
                 (unsigned long long)ent, e->shard, e->shards, tidal_route(0, ent, e->shards));
        else
            route_law(w, 0, ent, e->shards, m->shards, "writes at the end");
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
    m->truth = &truth;
    res = tidal_sim_cluster_truth(w->c, keep_event, m, &truth);
    m->truth = NULL;
    if (res != TIDAL_OK) {
        fail(w, "truth", "building the ground truth failed: %s%s", tidal_strerror(res),
             res == TIDAL_ERR_RATE_LIMITED || res == TIDAL_ERR_QUOTA ? " (import_refused: an import was refused for tenant limits)" : "");
        return;
    }
    if (!m->truth_limited && tidal_sim_cluster_events(w->c))
        fail(w, "truth", "no tenant limits could be set on the ground truth before its imports (does "
                         "tidal_sim_cluster_truth still open it before calling keep?)");
    for (i = 0; i < w->n_ev && !failed(w); i++) {
        char b[48];
        if (ev_orig(w, i) == i && m->must[i] && !m->seen[i])
            fail(w, "truth_missing", "event %s, accepted by region %d, was never recorded by the cluster",
                 id_str(w->ev[i].id, b, sizeof b), w->ev[i].node);
    }
    {
        tidal_sim_member tm;
        memset(&tm, 0, sizeof tm);
        tm.db = truth;
        tm.region = 0xFFFF; /* the truth */
        check_signal_stats(w, &tm, TIDAL_SIM_COUNT_TRUTH);
    }
    check_sessions(w, truth, "truth");
    check_routes(w);
    for (r = 0; r < NREG && !failed(w); r++) {
        tidal_sim_member mb = member_of(w, r);
        snprintf(who, sizeof who, "region %d", r);
        check_signal_stats(w, &mb, TIDAL_SIM_COUNT_TRUTH);
        check_sessions(w, dbof(w, r), who);
        check_negatives(w, dbof(w, r), truth, r);
    }
    if (!failed(w)) check_truth(w, truth);
    tidal_db_close(truth);
}

static void run_history(uint64_t seed, const op *ops, int n, int verbose, run_result *res) {
    mr *m = (mr *)calloc(1, sizeof *m);
    if (!m) abort();
    if (world_open(&m->w, seed, 1, 1, verbose, res)) {
        m->w.node_up = lim_node_up;
        m->w.converging = lim_converging;
        m->shards = 1 + (uint32_t)(mix64(seed ^ UINT64_C(0x7368617264)) % 16); /* "shard" */
        check_route_laws(&m->w, seed);
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
                                     {"cut-off writes", "QUORUM acks", "UNAVAILABLE", "retries", "rate-limited",
                                      "over quota", "stale configs refused", "router changes"},
                                     {"cut-off writes", "QUORUM-acked", "UNAVAILABLE", "retries", "rate-limited",
                                      "over quota", "stale configs refused", "router changes"}};

PROP_MAIN(program)
