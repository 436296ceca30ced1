/* prop_migration.c - random histories of tenant migrations (DESIGN 5.1, 5.5, 5.7, 7) on the
   simulated cluster: 3 regions x 2 shards, availability mode on, 2-3 tenants registered
   with the control plane (tidal_sim_cluster_tenant_set), each on a placement drawn from
   the history's seed (every region, two, or one). Clients in random regions write and
   hide, gather, and point stray writes at groups that do not own the tenant, while
   tenants move between placements and nodes crash, restart and get partitioned off. The
   machinery (running, shrinking, regression seeds, reporting) is prop_common.h's; this
   program brings its own cluster (2 shards, groups per placement) and checks.

   Writes are routed as a client does it (tests/test_migration.c): the leader of the item's
   shard in the tenant's owning group (tidal_sim_cluster_tenant_group), if the client's
   region reaches it; else the client's own region's member of that group (in
   availability mode a member cut off from its leader takes the write as its own origin,
   any other refuses it). TIDAL_ERR_MOVED (the tenant is moving) and TIDAL_ERR_READ_ONLY
   (a leader changed, or none is known) keep the write queued: the client retries it every
   50 ms of simulated time until a node takes it. Any other result fails the history.

   Ops (per 1000: weights in gen_op): writes of 1-4 signals and hides of one (user, item)
   for a random tenant from a client in a random region; gathers (tidal_retrieve_gather
   over the owning group, per shard a live member the client reaches, its own region's
   first); stray writes to a non-owner group's leader; migrations of a random tenant to a
   random placement (tidal_sim_cluster_migrate: TIDAL_ERR_LIMIT while one of that tenant's
   is under way, TIDAL_ERR_UNAVAILABLE while the target group cannot start: both skip);
   tenant limit updates through the control plane (loose: they never refuse a write);
   crashes of a node, of a tenant's leader, of a
   move's target leader or of the control plane's leader, and restarts; partitions
   (isolate a region, or split two regions) and heals; network loss, duplication and
   reordering; time passing (1-4 s).

   Crash-only: no op destroys a disk. A single-region placement keeps one copy of its
   tenant, and a wiped disk loses it legitimately (DESIGN 5.5: LOCAL is lost only if that
   node's disk is), so with wipes "every write that returned OK is there" would not hold.
   Without them it must: every commit fsyncs before the write call returns, and a crash
   keeps what was synced.

   Safety, after every step (the cluster's observer, and after each op):
     one_owner            the owning group changes only when the published phase becomes
                          SWITCH, from SEAL, to the move's target; phases only move forward
                          (NONE or DONE -> COPY -> SEAL -> SWITCH -> DONE), the record's
                          version never goes back; no live member of a group other than
                          the owner holds the tenant's config ACTIVE (but the move target's
                          members holding the take-over mark, and then none of the owner's
                          on that shard); a finished move lands on the placement asked for
     write_owner          a write taken (TIDAL_OK) was taken by a member of the group routing
                          names at that moment, never while the published phase is SEAL
                          (every source member is sealed then) - or during SEAL by a
                          member of the move's target holding the take-over mark of its
                          shard (tidal.h >>node_move: the target leader took the shard over
                          from the sealed source; clients write there then)
     write_refused        a write is taken, or refused with TIDAL_ERR_MOVED or READ_ONLY
     refused_changed      a refused write leaves its node's tenant digest and event count
                          as they were
     stray_write          a write to the leader of a group that does not own the tenant is
                          refused with TIDAL_ERR_MOVED and changes nothing there
     no_failed_read       every gather answers TIDAL_OK (TIDAL_ERR_UNAVAILABLE only when the
                          client reaches no live member of any shard of the owning group)
     suppressed_returned  a gather FOR USER u returns no item the answering shard says u
                          hid; gather_leak: it returns only the tenant's own items
     isolation            a tenant that is not moving and took no write since its group
                          last agreed on it (every member up, equal tenant digests per
                          shard) keeps that digest on every member that stayed up, whatever
                          other tenants' moves install into or drop from the same groups
     migrate, tenant_set  the control plane's calls answer as documented (migrate:
                          UNAVAILABLE only with a target node down; tenant_set: OK, and the
                          limits in force at once on the owners, ACTIVE unless moving)
     restart              a crashed node reopens from its disk
   At the end (partitions healed, faults off, every node restarted, no new writes; the
   cluster then runs until every started move is DONE, every queued write was taken and
   the owners converged, 120 s simulated at most):
     eventually_done      every move finished and every queued write was taken
     no_loss              a member of the owning group is down at the end
     local_lost           on every member (each region of the placement, each shard) of the
                          tenant's owning group, every write that returned TIDAL_OK is
                          applied, by its event id
     count / score        there each item's all-time count per signal type equals the writes
                          of it that returned TIDAL_OK (none lost, none twice), and its
                          decayed score their analytic sum
     hide_lost            every hide that returned TIDAL_OK is in force there, and
     suppressed_returned  RETRIEVE ... FOR USER shows none of them (the shared checker's,
                          tidal_sim.h >>sim_check, over the oracle of every write)
     collected            every member of every other group holds nothing of the tenant
                          (tidal_tenant_footprint: 0 entities, 0 sessions, 0 bytes), and
                          none of its files may (tidal_tenant_collected)
     digest               every owner member's tenant digest equals the ground truth's of its
                          shard (tidal_sim_cluster_truth: one node that imported the events
                          of that shard whose write call returned TIDAL_OK): a copy moved by
                          install must be the state its events make

   Replay: --seed S runs exactly the history with seed S (with --filter t_prop_histories);
   the failure report prints that command. Triage: TIDAL_PROP_SKIP=isolation,... turns the
   named checks off. */

/* prop_common.h's helpers serve the single-group programs (one shard, group 0: its oracle
   of event ids, its world_run and end phase); this program uses its histories, shrinking,
   regression seeds and reporting, and runs its own cluster, so most helpers go unused
   here. The warning is off for that header only (GCC and clang judge it where each
   function is defined). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "prop_common.h"
#pragma GCC diagnostic pop

/* ---- histories ------------------------------------------------------------------------ */

#define NSHARD 2
#define NTEN_MAX 3
#define TENANT_BASE 11u         /* the tenants are 11, 12 (and 13) */
#define ITEM_BASE 1000u         /* tenant index i's items: (i + 1) * ITEM_BASE + 1..NITEMS */
#define SLICE_NS (50 * MS)      /* queued writes are retried this often */
#define END_NS (120 * SEC)      /* the end phase's bound */
#define QUEUE_MAX 1024          /* writes waiting for a retry */
#define ALL_REGIONS ((1u << NREG) - 1)

enum {
    OP_WRITE = OP_COMMON_KINDS, /* k signals of tenant a from a client in region node */
    OP_HIDE,                    /* user hides item of tenant a, client in region node */
    OP_GATHER,                  /* a gather of tenant a (FOR USER user if quorum) from region node */
    OP_STRAY,                   /* a write of tenant a to the leader of shard node2 of a group
                                   that does not own it (picked by r) */
    OP_MIGRATE,                 /* tenant a to placement b */
    OP_LIMITS,                  /* tenant a's limits (content from r) through the control plane */
    OP_NCRASH,                  /* pkind 0: node (node, node2); 1: tenant a's leader of shard
                                   node2; 2: the control plane's leader; 3: the leader of shard
                                   node2 of tenant a's move target (else as 1) */
    OP_NRESTART,                /* one crashed node (picked by r) */
    OP_WAIT,                    /* time passes */
    OP_KINDS
};

enum { ST_WRITES, ST_MOVED, ST_STARTED, ST_DONE, ST_GATHERS, ST_STRAY, ST_BUSY, ST_COORD }; /* stat */

static const char *op_name(int kind) {
    static const char *const names[OP_KINDS - OP_COMMON_KINDS] = {
        "write", "hide", "gather", "stray", "migrate", "limits", "crash", "restart", "wait"};
    return names[kind - OP_COMMON_KINDS];
}

/* The tenants of a history, from its seed alone: 2 or 3, each on every region (2 in 5),
   two regions (2 in 5) or one. */
static uint32_t tenants_of(uint64_t seed, uint32_t placement[NTEN_MAX]) {
    uint64_t g = mix64(seed ^ UINT64_C(0x74656e616e7473) /* "tenants" */);
    uint32_t n = 2 + (uint32_t)(tt_next(&g) % 2), i;
    for (i = 0; i < NTEN_MAX; i++) {
        uint32_t d = (uint32_t)(tt_next(&g) % 5), r = (uint32_t)(tt_next(&g) % NREG);
        placement[i] = d < 2 ? ALL_REGIONS : d < 4 ? ALL_REGIONS & ~(1u << r) : 1u << r;
    }
    return n;
}

/* One op from the stream. Per 1000: 330 writes, 50 hides, 80 gathers, 50 stray writes, 90
   migrations, 30 limit updates, 80 crashes, 100 restarts, 60 partitions, 60 heals, 15
   network fault settings, 55 waits. Each op then runs 1-700 ms (a wait 1-4 s). */
static void gen_op(op *o, uint64_t *g, uint64_t seed, int i) {
    uint32_t placement[NTEN_MAX], nt = tenants_of(seed, placement);
    uint32_t d = (uint32_t)(tt_next(g) % 1000);
    (void)i;
    gen_op_head(o, g, 700, 0);
    o->a = (int)(tt_next(g) % nt);
    o->node = (int)(tt_next(g) % NREG);
    o->node2 = (int)(tt_next(g) % NSHARD);
    if (d < 330) {
        o->kind = OP_WRITE;
        o->k = 1 + (int)(tt_next(g) % 4);
    } else if (d < 380) {
        o->kind = OP_HIDE;
    } else if (d < 460) {
        o->kind = OP_GATHER;
    } else if (d < 510) {
        o->kind = OP_STRAY;
    } else if (d < 600) {
        o->kind = OP_MIGRATE;
        o->b = 1 + (int)(tt_next(g) % ALL_REGIONS);
    } else if (d < 630) {
        o->kind = OP_LIMITS;
    } else if (d < 710) {
        uint32_t p = (uint32_t)(tt_next(g) % 10);
        o->kind = OP_NCRASH;
        o->pkind = p < 3 ? 0 : p < 6 ? 1 : p < 8 ? 2 : 3;
    } else if (d < 810) {
        o->kind = OP_NRESTART;
    } else if (d < 870) {
        o->kind = OP_PART;
        o->pkind = tt_next(g) % 2 ? 2 : 0; /* isolate a, or split a from b */
        o->a = (int)(tt_next(g) % NREG);
        o->b = (o->a + 1 + (int)(tt_next(g) % (NREG - 1))) % NREG;
    } else if (d < 930) {
        o->kind = OP_HEAL;
    } else if (d < 945) {
        gen_common_op(o, OP_FAULTS, g);
    } else {
        o->kind = OP_WAIT;
        o->run_ns = (1 + (int64_t)(tt_next(g) % 3000)) * MS + SEC;
    }
}

static int gen_history(uint64_t seed, op *ops) {
    return gen_ops(seed, UINT64_C(0x6d6967726174696f) /* "migratio" */, ops, gen_op);
}

static void print_placement(FILE *f, uint32_t p) {
    int r, first = 1;
    fprintf(f, "{");
    for (r = 0; r < NREG; r++)
        if (p >> r & 1u) {
            fprintf(f, "%s%d", first ? "" : ",", r);
            first = 0;
        }
    fprintf(f, "}");
}

static void op_print_detail(FILE *f, const op *o) {
    uint32_t t = TENANT_BASE + (uint32_t)o->a;
    static const char *const crash_what[4] = {"node", "its leader of shard", "the control plane's leader",
                                              "its move target's leader of shard"};
    switch (o->kind) {
    case OP_WRITE: fprintf(f, "k=%d signals of tenant %u from region %d", o->k, t, o->node); break;
    case OP_HIDE:
        fprintf(f, "tenant %u: user %llu hides item %u from region %d", t, (unsigned long long)o->user,
                (o->a + 1) * ITEM_BASE + (unsigned)o->item, o->node);
        break;
    case OP_GATHER:
        fprintf(f, "tenant %u from region %d%s", t, o->node, o->quorum ? " FOR USER" : "");
        break;
    case OP_STRAY: fprintf(f, "tenant %u to a non-owner group (pick %llu) shard %d", t,
                           (unsigned long long)(o->r % 97), o->node2);
        break;
    case OP_MIGRATE:
        fprintf(f, "tenant %u to regions ", t);
        print_placement(f, (uint32_t)o->b);
        break;
    case OP_LIMITS: fprintf(f, "tenant %u: new limits", t); break;
    case OP_NCRASH:
        if (o->pkind == 0) fprintf(f, "node (region %d, shard %d)", o->node, o->node2);
        else if (o->pkind == 2) fprintf(f, "%s", crash_what[2]);
        else fprintf(f, "tenant %u: %s %d", t, crash_what[o->pkind], o->node2);
        break;
    case OP_NRESTART: fprintf(f, "a crashed node (pick %llu)", (unsigned long long)(o->r % 97)); break;
    case OP_WAIT: fprintf(f, "(time passes)"); break;
    default: break;
    }
}

/* ---- the oracle ----------------------------------------------------------------------- */

/* A client write waiting to be taken: its content is fixed at its first attempt. */
typedef struct pend {
    int hide;        /* a hide of s.item by s.user (else the signal s) */
    int ti;          /* tenant index */
    int client;      /* the client's region */
    tidal_signal s;
} pend;

/* Every write that returned TIDAL_OK is a record of the shared oracle (w->o; tidal_sim.h
   >>sim_check): its tenant, shard, the node and group that took it, its content and the
   id its receipt named; the end checks and the ground truth of each shard read it. */
typedef struct ten_rec {
    uint32_t id;
    /* one_owner: the record as last seen */
    uint32_t group, target;
    int phase;
    uint64_t version;
    int moving;                         /* a move was started and is not DONE yet */
    uint32_t moving_to;                 /* its placement */
    uint64_t moving_from;               /* the record's version when it was asked for */
    int64_t moving_start;               /* tidal_sim_tenant_info.start_ns of the request */
    /* isolation: the digests its group last agreed on (stable), and whether it may have
       changed since (dirty: a write taken, a move) */
    int stable, dirty;
    uint32_t stable_group;
    uint8_t digest[NSHARD][32];
    uint32_t life[NREG][NSHARD];        /* of each member when they agreed */
} ten_rec;

typedef struct mg {
    world w; /* first: prop_common's fail() and ops get &m->w */
    uint32_t n_ten;
    ten_rec ten[NTEN_MAX];
    pend queue[QUEUE_MAX];
    uint32_t n_queue;
    uint32_t life[NREG][NSHARD];        /* restarts of each node */
    int truth_shard;                    /* the shard keep_event is building a truth of */
} mg;

static mg *mg_of(world *w) { return (mg *)(void *)w; }

static tidal_id item_of(int ti, uint64_t j) { return (tidal_id)(ti + 1) * ITEM_BASE + j; }
static uint16_t shard_of(const ten_rec *t, tidal_id item) { return (uint16_t)tidal_route(t->id, item, NSHARD); }

static tidal_sim_tenant_info info_of(world *w, const ten_rec *t) {
    tidal_sim_tenant_info info;
    if (tidal_sim_cluster_tenant(w->c, t->id, &info) != TIDAL_OK)
        fail(w, "one_owner", "tenant %u has no control plane record", t->id);
    return info;
}

static int moving_phase(int phase) {
    return phase == TIDAL_SIM_MOVE_COPY || phase == TIDAL_SIM_MOVE_SEAL || phase == TIDAL_SIM_MOVE_SWITCH;
}

static tidal_db *node_db(world *w, int r, int s) { return tidal_sim_cluster_db(w->c, (uint16_t)r, (uint16_t)s); }

/* Can a client in region from talk to region to (on shard s's nodes)? Both ways. */
static int reaches(world *w, int from, int to, int s) {
    tidal_node_ref a, b;
    tidal_sim_net *net = tidal_sim_cluster_net(w->c);
    if (from == to) return 1;
    a.region = (uint16_t)from;
    b.region = (uint16_t)to;
    a.shard = b.shard = (uint16_t)s;
    return tidal_sim_net_reachable(net, a, b) && tidal_sim_net_reachable(net, b, a);
}

static int tenant_digest(tidal_db *db, uint32_t tenant, uint8_t out[32]) {
    return tidal_db_digest(db, tenant, out) == TIDAL_OK;
}

/* ---- safety checks (every step) ------------------------------------------------------- */

/* one_owner (see the top of the file): the record as published now against the last seen. */
static void check_record(world *w, ten_rec *t) {
    tidal_sim_tenant_info info = info_of(w, t);
    int fwd = info.phase == t->phase ||
              (info.phase == TIDAL_SIM_MOVE_COPY &&
               (t->phase == TIDAL_SIM_MOVE_NONE || t->phase == TIDAL_SIM_MOVE_DONE)) ||
              (moving_phase(t->phase) && info.phase == t->phase + 1);
    if (failed(w)) return;
    if (info.version < t->version)
        fail(w, "one_owner", "tenant %u: the record's version went back from %llu to %llu", t->id,
             (unsigned long long)t->version, (unsigned long long)info.version);
    else if (!fwd)
        fail(w, "one_owner", "tenant %u: phase went from %d to %d", t->id, t->phase, info.phase);
    else if (info.group != t->group && (info.phase != TIDAL_SIM_MOVE_SWITCH || t->phase != TIDAL_SIM_MOVE_SEAL ||
                                        info.group != t->target || info.target != t->group))
        fail(w, "one_owner", "tenant %u: owner went from group %u to %u with the phase going from %d to %d (target %u)",
             t->id, t->group, info.group, t->phase, info.phase, t->target);
    else if ((info.phase == TIDAL_SIM_MOVE_COPY || info.phase == TIDAL_SIM_MOVE_SEAL) && info.target == info.group)
        fail(w, "one_owner", "tenant %u moves to its own group %u", t->id, info.group);
    else if (moving_phase(info.phase) && moving_phase(t->phase) && info.group == t->group && info.target != t->target)
        fail(w, "one_owner", "tenant %u: its move's target went from group %u to %u in phase %d", t->id, t->target,
             info.target, info.phase);
    if (failed(w)) return;
    if (w->verbose && (info.phase != t->phase || info.group != t->group))
        printf("      (tenant %u: group %u, phase %d, version %llu, at %.3f s)\n", t->id, info.group, info.phase,
               (unsigned long long)info.version, (double)(tidal_sim_cluster_now(w->c) - START_NS) / 1e9);
    if (info.phase != TIDAL_SIM_MOVE_NONE && info.phase != TIDAL_SIM_MOVE_DONE) t->dirty = 1;
    t->group = info.group;
    t->target = info.target;
    t->phase = info.phase;
    t->version = info.version;
    /* done: DONE published after the request (a version bump alone may be a limits record) */
    if (t->moving && info.phase == TIDAL_SIM_MOVE_DONE && info.start_ns == t->moving_start && info.done_ns &&
        info.done_ns >= info.start_ns) {
        t->moving = 0;
        w->res->stat[ST_DONE]++;
        if (info.placement != t->moving_to)
            fail(w, "one_owner", "tenant %u was moved to placement %#x, asked for %#x", t->id, info.placement,
                 t->moving_to);
    }
}

/* Take-over (tidal.h >>node_move): node (r, s)'s member of the tenant's move target holds
   the take-over mark of its shard, as that node's routing table sees the move (SEAL): its
   group took the shard over from the sealed source before SWITCH. */
static int taken_at(world *w, uint32_t tenant, int r, int s) {
    tidal_peer *pe = tidal_sim_cluster_peer(w->c, (uint16_t)r, (uint16_t)s);
    tidal_peer_move_info mi;
    return pe && tidal_peer_move_status(pe, tenant, &mi) == TIDAL_OK && mi.taken;
}

/* one_owner, in the nodes: no live member of a group other than the owner holds the
   tenant's config ACTIVE (it would take the tenant's writes) - but a member of the move's
   target holding the take-over mark of its shard (take-over, before SWITCH), and then no
   live member of the owner on that shard is ACTIVE: one group per shard at every step. A
   member with no config for the tenant is judged by what it does (stray_write), not here. */
static void check_states(world *w, const ten_rec *t) {
    uint32_t g, act[NSHARD], taken[NSHARD];
    int r, s;
    memset(act, 0, sizeof act);
    memset(taken, 0, sizeof taken);
    for (g = 0; g < TIDAL_SIM_GROUPS_MAX && !failed(w); g++) {
        if (g == TIDAL_SIM_CONTROL_GROUP || !tidal_sim_cluster_group_placement(w->c, g)) continue;
        for (r = 0; r < NREG; r++)
            for (s = 0; s < NSHARD; s++) {
                tidal_db *db = tidal_sim_cluster_group_db(w->c, g, (uint16_t)r, (uint16_t)s);
                const tidal__tcfg *c = db ? tidal__tcfg_find(db, t->id) : NULL;
                if (!c || c->cfg.state != TIDAL_TENANT_ACTIVE) continue;
                if (g == t->group) {
                    act[s] = 1;
                } else if (moving_phase(t->phase) && g == t->target && taken_at(w, t->id, r, s)) {
                    taken[s] = 1;
                } else {
                    fail(w, "one_owner", "tenant %u is ACTIVE on region %d shard %d of group %u; group %u owns it",
                         t->id, r, s, g, t->group);
                    return;
                }
            }
    }
    for (s = 0; s < NSHARD && !failed(w); s++)
        if (act[s] && taken[s])
            fail(w, "one_owner", "tenant %u shard %d: ACTIVE on members of the owner %u and of the target %u, "
                 "which took the shard over", t->id, s, t->group, t->target);
}

static void check_step(world *w) {
    mg *m = mg_of(w);
    uint32_t i;
    for (i = 0; i < m->n_ten && !failed(w); i++) {
        check_record(w, &m->ten[i]);
        check_states(w, &m->ten[i]);
    }
}

/* isolation (see the top of the file), at op boundaries and in the end phase: establish
   the digests a tenant's group agrees on, or hold every member that stayed up to them. */
static void check_isolation(world *w) {
    mg *m = mg_of(w);
    uint32_t i;
    for (i = 0; i < m->n_ten && !failed(w); i++) {
        ten_rec *t = &m->ten[i];
        uint32_t pl = tidal_sim_cluster_group_placement(w->c, t->group);
        uint8_t d[NREG][NSHARD][32];
        int r, s, all = 1, agree = 1;
        if (t->moving || moving_phase(t->phase)) {
            t->stable = 0;
            continue;
        }
        for (r = 0; r < NREG; r++)
            for (s = 0; s < NSHARD; s++) {
                tidal_db *db = tidal_sim_cluster_group_db(w->c, t->group, (uint16_t)r, (uint16_t)s);
                if (!(pl >> r & 1u)) continue;
                if (!db || !tenant_digest(db, t->id, d[r][s])) {
                    all = 0;
                    continue;
                }
                if (t->stable && !t->dirty && t->stable_group == t->group && t->life[r][s] == m->life[r][s] &&
                    memcmp(d[r][s], t->digest[s], 32))
                    fail(w, "isolation", "tenant %u changed on region %d shard %d of group %u, with no write or move "
                         "of it since its members agreed on it", t->id, r, s, t->group);
            }
        if (failed(w) || (t->stable && !t->dirty && t->stable_group == t->group)) continue;
        for (s = 0; s < NSHARD && all; s++) {
            int first = -1;
            for (r = 0; r < NREG; r++) {
                if (!(pl >> r & 1u)) continue;
                if (first < 0) first = r;
                else if (memcmp(d[r][s], d[first][s], 32)) agree = 0;
            }
            if (first >= 0) memcpy(t->digest[s], d[first][s], 32);
        }
        if (all && agree) {
            t->stable = 1;
            t->dirty = 0;
            t->stable_group = t->group;
            memcpy(t->life, m->life, sizeof t->life);
        }
    }
}

/* ---- writes --------------------------------------------------------------------------- */

/* Where a client in region client sends a write of tenant t about item: the leader of the
   item's shard in the owning group if it reaches it, else its own region's member of that
   group (NULL: neither); but during SEAL the move target's leader of the shard once it
   took the shard over (take-over) and the client reaches it. *region receives the node's
   region. */
static tidal_db *route_write(world *w, const ten_rec *t, int client, tidal_id item, int *region) {
    uint32_t g = tidal_sim_cluster_tenant_group(w->c, t->id);
    uint16_t s = shard_of(t, item);
    int l = tidal_sim_cluster_group_leader(w->c, g, s);
    tidal_sim_tenant_info info;
    if (tidal_sim_cluster_tenant(w->c, t->id, &info) == TIDAL_OK && info.phase == TIDAL_SIM_MOVE_SEAL) {
        int lt = tidal_sim_cluster_group_leader(w->c, info.target, s);
        if (lt >= 0 && reaches(w, client, lt, s) && taken_at(w, t->id, lt, s)) {
            *region = lt;
            return tidal_sim_cluster_group_db(w->c, info.target, (uint16_t)lt, s);
        }
    }
    if (l >= 0 && reaches(w, client, l, s)) {
        *region = l;
        return tidal_sim_cluster_group_db(w->c, g, (uint16_t)l, s);
    }
    *region = client;
    return tidal_sim_cluster_group_db(w->c, g, (uint16_t)client, s);
}

/* One attempt of a queued write: 1 taken, 0 refused for now (or no node to send it to). */
static int write_attempt(world *w, const pend *p) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[p->ti];
    int r = -1;
    tidal_db *db = route_write(w, t, p->client, p->s.item, &r);
    uint8_t d0[32], d1[32];
    tidal_db_stats s0, s1;
    tidal_result res;
    tidal_sim_tenant_info info;
    tidal_receipt rc;
    uint16_t s = shard_of(t, p->s.item);
    if (!db) return 0;
    tenant_digest(db, t->id, d0);
    tidal_db_stats_get(db, &s0);
    if (p->hide) res = tidal_negative_add(db, t->id, p->s.user, TIDAL_HIDE, p->s.item, &rc);
    else res = tidal_signal_write(db, &p->s, &rc);
    if (res == TIDAL_OK) {
        tidal_sim_op rec;
        uint32_t took = UINT32_MAX, g;
        info = info_of(w, t);
        for (g = 0; g < TIDAL_SIM_GROUPS_MAX && took == UINT32_MAX; g++)
            if (g != TIDAL_SIM_CONTROL_GROUP && tidal_sim_cluster_group_placement(w->c, g) &&
                db == tidal_sim_cluster_group_db(w->c, g, (uint16_t)r, s))
                took = g;
        memset(&rec, 0, sizeof rec);
        rec.id = rc.id;
        rec.kind = p->hide ? TIDAL_SIM_OP_HIDE : TIDAL_SIM_OP_SIGNAL;
        rec.outcome = TIDAL_SIM_OK;
        rec.level = TIDAL_ACK_LOCAL;
        rec.tenant = t->id;
        rec.group = took;
        rec.region = (uint16_t)r;
        rec.shard = s;
        rec.entity = p->s.item;
        rec.user = p->s.user;
        rec.type = p->s.type;
        rec.weight = p->s.weight;
        rec.time_ns = p->s.time_ns;
        (void)tidal_sim_oracle_record(w->o, &rec);
        /* Judged by the records the node that took it had applied (nodes apply a record
           each when it reaches them; the coordinator waits for every source member). */
        {
            tidal_peer_tenant pt;
            if (tidal_peer_tenant_get(tidal_sim_cluster_peer(w->c, (uint16_t)r, s), t->id, &pt) == TIDAL_OK &&
                pt.has_placement) {
                info.group = pt.group;
                info.phase = (int)pt.move_phase;
                info.target = pt.move_target;
            }
        }
        if (info.phase == TIDAL_SIM_MOVE_SEAL && took == info.target) { /* take-over */
            if (!taken_at(w, t->id, r, s))
                fail(w, "write_owner", "tenant %u: region %d shard %d of the move's target %u took a write "
                     "before it took the shard over", t->id, r, s, took);
        } else if (db != tidal_sim_cluster_group_db(w->c, info.group, (uint16_t)r, s))
            fail(w, "write_owner", "tenant %u: region %d took a write as a member of a group other than the owner %u",
                 t->id, r, info.group);
        else if (info.phase == TIDAL_SIM_MOVE_SEAL)
            fail(w, "write_owner",
                 "tenant %u: region %d shard %d of group %u took a write while the tenant is sealed there",
                 t->id, r, s, info.group);
        t->dirty = 1;
        w->res->stat[ST_WRITES]++;
        if (w->verbose)
            printf("      %s of tenant %u item %llu taken by region %d shard %d (group %u%s)\n",
                   p->hide ? "hide" : "signal", t->id, (unsigned long long)p->s.item, r, s, took,
                   took != info.group ? ", took the shard over" : "");
        return 1;
    }
    if (res != TIDAL_ERR_MOVED && res != TIDAL_ERR_READ_ONLY) {
        fail(w, "write_refused", "tenant %u: region %d refused a write with %s (%s)", t->id, r, tidal_strerror(res),
             tidal_errmsg(db));
        return 0;
    }
    w->res->stat[ST_MOVED] += res == TIDAL_ERR_MOVED;
    tenant_digest(db, t->id, d1);
    tidal_db_stats_get(db, &s1);
    if (memcmp(d0, d1, 32) || s0.events_applied != s1.events_applied)
        fail(w, "refused_changed", "tenant %u: a write region %d refused with %s changed its %s", t->id, r,
             tidal_strerror(res), memcmp(d0, d1, 32) ? "tenant digest" : "events applied");
    return 0;
}

/* Every queued write tried once, in order; the ones taken leave the queue. */
static void retry_queue(world *w) {
    mg *m = mg_of(w);
    uint32_t i, kept = 0;
    for (i = 0; i < m->n_queue; i++) {
        if (!failed(w) && write_attempt(w, &m->queue[i])) continue;
        m->queue[kept++] = m->queue[i];
    }
    m->n_queue = kept;
}

static void enqueue(world *w, const pend *p) {
    mg *m = mg_of(w);
    if (m->n_queue < QUEUE_MAX) m->queue[m->n_queue++] = *p;
}

/* OP_WRITE: k signals from the op's stream (item, type, weight now and then negative,
   user, an event time up to an hour back), then the queue is tried. */
static void do_write(world *w, const op *o) {
    mg *m = mg_of(w);
    uint64_t g = o->r;
    int k;
    for (k = 0; k < o->k; k++) {
        pend p;
        memset(&p, 0, sizeof p);
        p.ti = o->a;
        p.client = o->node;
        p.s.tenant = m->ten[o->a].id;
        p.s.item = item_of(o->a, 1 + tt_next(&g) % NITEMS);
        p.s.type = (uint32_t)(tt_next(&g) & 1);
        p.s.weight = tt_next(&g) % 8 == 0 ? -1.0 : 0.5 * (double)(1 + tt_next(&g) % 6);
        p.s.user = USER0 + 1 + tt_next(&g) % NUSERS;
        p.s.time_ns = tidal_sim_cluster_now(w->c) - (int64_t)(tt_next(&g) % 3600) * SEC;
        enqueue(w, &p);
    }
    retry_queue(w);
}

static void do_hide(world *w, const op *o) {
    mg *m = mg_of(w);
    pend p;
    memset(&p, 0, sizeof p);
    p.hide = 1;
    p.ti = o->a;
    p.client = o->node;
    p.s.tenant = m->ten[o->a].id;
    p.s.item = item_of(o->a, o->item);
    p.s.user = o->user;
    enqueue(w, &p);
    retry_queue(w);
}

/* stray_write: the leader of shard o->node2 of a group other than the owner (and not the
   control plane's, nor the move's target that took the shard over) must refuse a write of the tenant with TIDAL_ERR_MOVED, and change
   nothing: its tenant digest, events applied, and the events the cluster recorded. */
static void do_stray(world *w, const op *o) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[o->a];
    uint32_t owner = tidal_sim_cluster_tenant_group(w->c, t->id), cand[TIDAL_SIM_GROUPS_MAX], nc = 0, g;
    uint8_t d0[32], d1[32];
    tidal_db_stats s0, s1;
    uint32_t ev0;
    tidal_signal sig;
    tidal_db *db;
    tidal_result res;
    int l;
    for (g = 0; g < TIDAL_SIM_GROUPS_MAX; g++)
        if (g != owner && g != TIDAL_SIM_CONTROL_GROUP && tidal_sim_cluster_group_placement(w->c, g)) cand[nc++] = g;
    if (!nc) return;
    g = cand[o->r % nc];
    l = tidal_sim_cluster_group_leader(w->c, g, (uint16_t)o->node2);
    db = l < 0 ? NULL : tidal_sim_cluster_group_db(w->c, g, (uint16_t)l, (uint16_t)o->node2);
    if (!db || taken_at(w, t->id, l, o->node2)) return; /* taken over: not a stray write */
    memset(&sig, 0, sizeof sig);
    sig.tenant = t->id;
    sig.item = item_of(o->a, o->item);
    sig.weight = 1.0;
    sig.user = o->user;
    tenant_digest(db, t->id, d0);
    tidal_db_stats_get(db, &s0);
    ev0 = tidal_sim_cluster_events(w->c);
    res = tidal_signal_write(db, &sig, NULL);
    tenant_digest(db, t->id, d1);
    tidal_db_stats_get(db, &s1);
    if (w->verbose)
        printf("      stray write to group %u region %d shard %d: %s\n", g, l, o->node2, tidal_strerror(res));
    if (res != TIDAL_ERR_MOVED)
        fail(w, "stray_write", "tenant %u (owned by group %u, phase %d): the leader of group %u shard %d (region %d) "
             "answered a stray write with %s, not MOVED", t->id, owner, t->phase, g, o->node2, l, tidal_strerror(res));
    else if (memcmp(d0, d1, 32) || s0.events_applied != s1.events_applied || tidal_sim_cluster_events(w->c) != ev0)
        fail(w, "stray_write", "tenant %u: a stray write group %u refused changed it there", t->id, g);
    else
        w->res->stat[ST_STRAY]++;
}

/* ---- reads ---------------------------------------------------------------------------- */

/* no_failed_read, suppressed_returned, gather_leak: a gather of tenant ti from a client in
   region client: per shard a live member of the owning group the client reaches (its own
   region's first), regions of the placement it cannot reach flagged. */
static void gather(world *w, int ti, int client, uint32_t type, uint64_t for_user) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[ti];
    uint32_t g = tidal_sim_cluster_tenant_group(w->c, t->id), pl = tidal_sim_cluster_group_placement(w->c, g);
    uint32_t unreachable = 0, n = 0, k;
    tidal_db *sh[NSHARD];
    tidal_query q;
    tidal_hit hits[NITEMS + 4];
    tidal_query_stats st;
    tidal_result res;
    int s, i, any = 0;
    for (s = 0; s < NSHARD; s++) {
        sh[s] = NULL;
        for (i = 0; i < NREG && !sh[s]; i++) {
            int r = (client + i) % NREG;
            if ((pl >> r & 1u) && reaches(w, client, r, s))
                sh[s] = tidal_sim_cluster_group_db(w->c, g, (uint16_t)r, (uint16_t)s);
        }
        any |= sh[s] != NULL;
    }
    for (i = 0; i < NREG; i++)
        if ((pl >> i & 1u) && !reaches(w, client, i, 0)) unreachable |= 1u << i;
    memset(&q, 0, sizeof q);
    q.tenant = t->id;
    q.rank_kind = TIDAL_QUERY_SIGNAL;
    q.rank_index = type;
    q.for_user = for_user;
    q.limit = NITEMS + 4;
    res = tidal_retrieve_gather(sh, NSHARD, unreachable, &q, hits, NITEMS + 4, &n, &st);
    w->res->stat[ST_GATHERS]++;
    if (res != (any ? TIDAL_OK : TIDAL_ERR_UNAVAILABLE)) {
        fail(w, "no_failed_read", "tenant %u: a gather from region %d over group %u (%s) returned %s", t->id, client, g,
             any ? "a live member reached on some shard" : "no shard reached", tidal_strerror(res));
        return;
    }
    for (k = 0; k < n && !failed(w); k++) {
        int sup = 0;
        tidal_db *db;
        if (hits[k].item <= item_of(ti, 0) || hits[k].item > item_of(ti, NITEMS)) {
            fail(w, "gather_leak", "tenant %u: a gather returned item %llu, not one of its own", t->id,
                 (unsigned long long)hits[k].item);
            break;
        }
        db = sh[shard_of(t, hits[k].item)];
        if (for_user && db && tidal_negative_check(db, t->id, for_user, hits[k].item, &sup) == TIDAL_OK && sup)
            fail(w, "suppressed_returned", "tenant %u: a gather FOR USER %llu returned item %llu, which its shard "
                 "reports hidden", t->id, (unsigned long long)for_user, (unsigned long long)hits[k].item);
    }
}

/* ---- the control plane ---------------------------------------------------------------- */

static int any_down(world *w, uint32_t placement) {
    int r, s;
    for (r = 0; r < NREG; r++)
        for (s = 0; s < NSHARD; s++)
            if ((placement >> r & 1u) && !node_db(w, r, s)) return 1;
    return 0;
}

/* migrate: OK (a move started, or none needed: the tenant is there), LIMIT (one of its
   moves is under way: skipped), UNAVAILABLE only while a node of the target is down. */
/* 1 when no live voter of the control plane (shard 0 of each region) reaches a majority
   of them (itself included) both ways: no control record can commit, so tenant_set and
   migrate answer TIDAL_ERR_UNAVAILABLE. */
static int control_down(world *w) {
    int a, b;
    for (a = 0; a < NREG; a++) {
        int n = 0;
        tidal_node_ref x;
        x.region = (uint16_t)a, x.shard = 0;
        if (!tidal_sim_cluster_peer(w->c, (uint16_t)a, 0)) continue;
        for (b = 0; b < NREG; b++) {
            tidal_node_ref y;
            y.region = (uint16_t)b, y.shard = 0;
            n += tidal_sim_cluster_peer(w->c, (uint16_t)b, 0) &&
                 (a == b || (tidal_sim_net_reachable(tidal_sim_cluster_net(w->c), x, y) &&
                             tidal_sim_net_reachable(tidal_sim_cluster_net(w->c), y, x)));
        }
        if (2 * n > NREG) return 0;
    }
    return 1;
}

static void do_migrate(world *w, const op *o) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[o->a];
    tidal_sim_tenant_info before = info_of(w, t);
    tidal_result res = tidal_sim_cluster_migrate(w->c, t->id, (uint32_t)o->b);
    if (w->verbose) printf("      migrate tenant %u: %s\n", t->id, tidal_strerror(res));
    if (res == TIDAL_ERR_LIMIT) {
        w->res->stat[ST_BUSY]++;
        return;
    }
    if (res == TIDAL_ERR_UNAVAILABLE && (any_down(w, (uint32_t)o->b) || control_down(w))) return;
    if (res != TIDAL_OK) {
        fail(w, "migrate", "tenant %u to placement %#x: %s", t->id, (unsigned)o->b, tidal_strerror(res));
        return;
    }
    if (before.placement == (uint32_t)o->b) return; /* already there */
    t->moving = 1;
    t->moving_to = (uint32_t)o->b;
    t->moving_from = before.version;
    t->moving_start = info_of(w, t).start_ns;
    t->dirty = 1;
    w->res->stat[ST_STARTED]++;
}

/* tenant_set: loose limits (no rate, or 10^5/s; no quota, or 10^6 entities) for a
   registered tenant are taken (TIDAL_OK, during a move too: the record follows once it is
   done) and in force at once on every live member of the owning group, ACTIVE there
   unless the tenant is sealed or switching (one_owner and write_owner judge those). */
static void do_limits(world *w, const op *o) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[o->a];
    tidal_sim_tenant_info info = info_of(w, t);
    tidal_tenant_config cfg;
    tidal_result res;
    uint64_t g = o->r;
    int r, s, settled = !moving_phase(info.phase);
    memset(&cfg, 0, sizeof cfg);
    cfg.tenant = t->id;
    if (tt_next(&g) & 1) cfg.rate_per_s = cfg.burst = 1e5;
    if (tt_next(&g) & 1) cfg.entity_quota = 1000000;
    cfg.config_version = t->version + 1;
    res = tidal_sim_cluster_tenant_set(w->c, &cfg);
    if (w->verbose) printf("      limits of tenant %u: %s\n", t->id, tidal_strerror(res));
    if (res == TIDAL_ERR_UNAVAILABLE && control_down(w)) return;
    if (res != TIDAL_OK) {
        fail(w, "tenant_set", "tenant %u in phase %d: tidal_sim_cluster_tenant_set returned %s", t->id, info.phase,
             tidal_strerror(res));
        return;
    }
    /* The record is in force where a peer applied it: the cluster ran until it committed
       and every live peer applied it, or 2 s passed (a peer cut off from the control plane
       learns it later). The move may have gone on meanwhile: judged on the owner now. */
    info = info_of(w, t);
    settled = !moving_phase(info.phase);
    for (r = 0; r < NREG; r++)
        for (s = 0; s < NSHARD; s++) {
            tidal_db *db = tidal_sim_cluster_group_db(w->c, info.group, (uint16_t)r, (uint16_t)s);
            tidal_peer *pe = tidal_sim_cluster_peer(w->c, (uint16_t)r, (uint16_t)s);
            tidal_peer_status ps;
            const tidal__tcfg *c = db ? tidal__tcfg_find(db, t->id) : NULL;
            if (!pe || tidal_peer_status_get(pe, &ps) != TIDAL_OK || ps.applied_index < info.version)
                continue;
            if (db && (!c || c->cfg.rate_per_s != cfg.rate_per_s || c->cfg.entity_quota != cfg.entity_quota ||
                       (settled && c->cfg.state != TIDAL_TENANT_ACTIVE)))
                fail(w, "tenant_set", "tenant %u: region %d shard %d of its group %u %s", t->id, r, s, info.group,
                     !c ? "has no config" : c->cfg.state != TIDAL_TENANT_ACTIVE && settled
                                              ? "does not hold it ACTIVE" : "did not get the new limits");
        }
}

/* ---- nodes ---------------------------------------------------------------------------- */

static void crash_node(world *w, int r, int s) {
    if (r < 0 || !node_db(w, r, s)) return;
    if (w->verbose) printf("      crash: region %d shard %d\n", r, s);
    tidal_sim_cluster_crash(w->c, (uint16_t)r, (uint16_t)s);
}

static void do_crash(world *w, const op *o) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[o->a];
    uint32_t g = t->group;
    if (o->pkind == 0) {
        crash_node(w, o->node, o->node2);
        return;
    }
    if (o->pkind == 2) {
        crash_node(w, tidal_sim_cluster_group_leader(w->c, TIDAL_SIM_CONTROL_GROUP, 0), 0);
        return;
    }
    if (o->pkind == 3 && (t->phase == TIDAL_SIM_MOVE_COPY || t->phase == TIDAL_SIM_MOVE_SEAL)) g = t->target;
    crash_node(w, tidal_sim_cluster_group_leader(w->c, g, (uint16_t)o->node2), o->node2);
}

static void restart_node(world *w, int r, int s) {
    mg *m = mg_of(w);
    tidal_result res = tidal_sim_cluster_restart(w->c, (uint16_t)r, (uint16_t)s);
    if (res != TIDAL_OK) {
        fail(w, "restart", "region %d shard %d failed to reopen: %s (%s)", r, s, tidal_strerror(res),
             tidal_sim_cluster_errmsg(w->c, (uint16_t)r, (uint16_t)s));
        return;
    }
    m->life[r][s]++;
    if (w->verbose) printf("      restart: region %d shard %d\n", r, s);
}

static void do_restart(world *w, const op *o) {
    int down[NREG * NSHARD], nd = 0, r, s;
    for (r = 0; r < NREG; r++)
        for (s = 0; s < NSHARD; s++)
            if (!node_db(w, r, s)) down[nd++] = r * NSHARD + s;
    if (nd) restart_node(w, down[o->r % (uint64_t)nd] / NSHARD, down[o->r % (uint64_t)nd] % NSHARD);
}

static void do_op(world *w, const op *o) {
    switch (o->kind) {
    case OP_WRITE: do_write(w, o); break;
    case OP_HIDE: do_hide(w, o); break;
    case OP_GATHER:
        gather(w, o->a, o->node, (uint32_t)(o->r & 1), o->quorum ? o->user : 0);
        break;
    case OP_STRAY: do_stray(w, o); break;
    case OP_MIGRATE: do_migrate(w, o); break;
    case OP_LIMITS: do_limits(w, o); break;
    case OP_NCRASH: do_crash(w, o); break;
    case OP_NRESTART: do_restart(w, o); break;
    case OP_PART:
    case OP_HEAL:
    case OP_FAULTS: do_common_op(w, o); break;
    default: break;
    }
}

/* Runs the cluster for ns in slices: the queue is retried after each. */
static void run_for(world *w, int64_t ns) {
    int64_t end = tidal_sim_cluster_now(w->c) + ns;
    while (!failed(w) && tidal_sim_cluster_now(w->c) < end) {
        int64_t next = tidal_sim_cluster_now(w->c) + SLICE_NS;
        tidal_sim_cluster_run(w->c, next < end ? next : end);
        if (!failed(w)) retry_queue(w);
    }
}

static void print_cluster(world *w) {
    char buf[2048];
    const char *p = buf, *nl;
    tidal_sim_cluster_health(w->c, 1000 * MS, buf, sizeof buf);
    while (*p && (nl = strchr(p, '\n')) != NULL) {
        printf("        %.*s\n", (int)(nl - p), p);
        p = nl + 1;
    }
    printf("        queued writes: %u\n", mg_of(w)->n_queue);
}

/* ---- the end -------------------------------------------------------------------------- */

/* On every member of tenant ti's owning group (each region of its placement, each shard),
   the shared checker's (tidal_sim.h >>sim_check) over the tenant's writes routed there:
     quorum_lost / local_lost  every write that returned TIDAL_OK is applied, by its id
     count / score        each item's all-time count per signal type equals the writes of
                          it that returned TIDAL_OK (none lost, none counted twice), its
                          decayed score their analytic sum
     hide_lost            every hide that returned TIDAL_OK is in force there
     suppressed_returned  RETRIEVE ... FOR USER returns none of them
   report 0: only say whether they hold (the end phase waits for that), quietly. */
static int check_owners(world *w, int ti, int report) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[ti];
    uint32_t g = tidal_sim_cluster_tenant_group(w->c, t->id), pl = tidal_sim_cluster_group_placement(w->c, g);
    uint32_t bad = 0;
    tidal_id items[NITEMS];
    int r, s, j;
    for (j = 0; j < NITEMS; j++) items[j] = item_of(ti, (uint64_t)j + 1);
    if (!report) tidal_sim_oracle_set_report(w->o, NULL, NULL);
    for (r = 0; r < NREG && !bad; r++)
        for (s = 0; s < NSHARD && !bad; s++) {
            tidal_sim_member mb;
            tidal_sim_scope sc;
            if (!(pl >> r & 1u)) continue;
            memset(&mb, 0, sizeof mb);
            mb.db = tidal_sim_cluster_group_db(w->c, g, (uint16_t)r, (uint16_t)s);
            mb.region = (uint16_t)r;
            mb.shard = (uint16_t)s;
            mb.group = g;
            if (!mb.db) {
                if (report) fail(w, "no_loss", "tenant %u: region %d shard %d of its group %u is down", t->id, r, s, g);
                bad = 1;
                break;
            }
            memset(&sc, 0, sizeof sc);
            sc.by_tenant = 1;
            sc.tenant = t->id;
            sc.by_shard = 1;
            sc.shard = (uint16_t)s;
            bad += tidal_sim_check_acked(w->o, &mb, &sc, TIDAL_ACK_LOCAL);
            if (!bad) /* waiting: counts alone (scores and reads once they hold, reported) */
                bad += tidal_sim_check_signals(w->o, &mb, &sc, tidal_sim_cluster_now(w->c),
                                               TIDAL_SIM_COUNT_TRUTH |
                                                   (report ? 0 : TIDAL_SIM_COUNT_ONLY),
                                               NULL, 0, items, NITEMS);
            if (!bad && report) bad += tidal_sim_check_hidden(w->o, &mb, &sc, 0, NITEMS + 4);
        }
    if (!report) tidal_sim_oracle_set_report(w->o, oracle_report, w);
    return !bad;
}

/* collected: every member of every group but the owner holds nothing of tenant ti. */
static int check_collected(world *w, int ti, int report) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[ti];
    uint32_t owner = tidal_sim_cluster_tenant_group(w->c, t->id), g;
    int r, s;
    for (g = 0; g < TIDAL_SIM_GROUPS_MAX; g++) {
        if (g == owner || !tidal_sim_cluster_group_placement(w->c, g)) continue;
        for (r = 0; r < NREG; r++)
            for (s = 0; s < NSHARD; s++) {
                tidal_db *db = tidal_sim_cluster_group_db(w->c, g, (uint16_t)r, (uint16_t)s);
                uint64_t ents = 1, sess = 1, bytes = 1;
                int files = 0; /* and no file of it may hold the tenant (DESIGN 5.9) */
                if (!db) continue; /* not a member (the control plane runs on shard 0 only) */
                if (tidal_tenant_footprint(db, t->id, &ents, &sess, &bytes) == TIDAL_OK && !ents &&
                    !sess && !bytes && tidal_tenant_collected(db, t->id, &files) == TIDAL_OK && files)
                    continue;
                if (report)
                    fail(w, "collected", "tenant %u (owned by group %u): region %d shard %d of group %u still holds "
                         "%llu entities, %llu sessions, %llu bytes of it%s", t->id, owner, r, s, g,
                         (unsigned long long)ents, (unsigned long long)sess, (unsigned long long)bytes,
                         files ? "" : " (or its files may)");
                return 0;
            }
    }
    return 1;
}

static int all_done(world *w) {
    mg *m = mg_of(w);
    uint32_t i;
    for (i = 0; i < m->n_ten; i++)
        if (m->ten[i].moving) return 0;
    return 1;
}

/* The owners of tenant ti agree: equal tenant digests on every member of each shard (the
   counts can agree before the state does: two hides of one item carry different tags). */
static int owners_agree(world *w, int ti) {
    mg *m = mg_of(w);
    ten_rec *t = &m->ten[ti];
    uint32_t g = tidal_sim_cluster_tenant_group(w->c, t->id), pl = tidal_sim_cluster_group_placement(w->c, g);
    int r, s;
    for (s = 0; s < NSHARD; s++) {
        uint8_t d0[32], d[32];
        int first = 1;
        for (r = 0; r < NREG; r++) {
            tidal_db *db = tidal_sim_cluster_group_db(w->c, g, (uint16_t)r, (uint16_t)s);
            if (!(pl >> r & 1u)) continue;
            if (!db || !tenant_digest(db, t->id, first ? d0 : d)) return 0;
            if (!first && memcmp(d0, d, 32)) return 0;
            first = 0;
        }
    }
    return 1;
}

static int converged(world *w) {
    mg *m = mg_of(w);
    uint32_t i;
    for (i = 0; i < m->n_ten; i++)
        if (!check_owners(w, (int)i, 0) || !check_collected(w, (int)i, 0) || !owners_agree(w, (int)i)) return 0;
    return 1;
}

/* The ground truth of one shard imports the writes routed to it that returned TIDAL_OK
   (the oracle's ground truth). */
static int keep_event(void *ctx, tidal_event_id id) {
    mg *m = (mg *)ctx;
    int64_t i = tidal_sim_oracle_find(m->w.o, id);
    const tidal_sim_op *rec = i < 0 ? NULL : tidal_sim_oracle_op(m->w.o, (uint32_t)i);
    return rec && rec->truth && rec->shard == m->truth_shard;
}

/* truth_digest: every owner member's tenant digest is the ground truth's of its shard (a
   node that imported every event of that shard that a write call returned TIDAL_OK for:
   a copy a move installed must be the state its events make). */
static void check_truth(world *w) {
    mg *m = mg_of(w);
    int r, s;
    uint8_t all[NSHARD][32];
    for (s = 0; s < NSHARD && !failed(w); s++) {
        tidal_db *truth = NULL;
        tidal_result res;
        uint32_t i;
        m->truth_shard = s;
        res = tidal_sim_cluster_truth(w->c, keep_event, m, &truth);
        if (res != TIDAL_OK) {
            fail(w, "truth_digest", "building the ground truth of shard %d failed: %s", s, tidal_strerror(res));
            return;
        }
        for (i = 0; i < m->n_ten && !failed(w); i++) { /* the shared checker's "digest" */
            ten_rec *t = &m->ten[i];
            uint32_t g = tidal_sim_cluster_tenant_group(w->c, t->id), pl = tidal_sim_cluster_group_placement(w->c, g);
            uint64_t tenant = t->id;
            tidal_sim_member ref, mb[NREG];
            uint32_t n = 0;
            memset(&ref, 0, sizeof ref);
            ref.db = truth;
            ref.region = 0xFFFF; /* the truth */
            ref.shard = (uint16_t)s;
            for (r = 0; r < NREG; r++) {
                tidal_db *db = tidal_sim_cluster_group_db(w->c, g, (uint16_t)r, (uint16_t)s);
                if (!(pl >> r & 1u) || !db) continue;
                memset(&mb[n], 0, sizeof mb[n]);
                mb[n].db = db;
                mb[n].region = (uint16_t)r;
                mb[n].shard = (uint16_t)s;
                mb[n++].group = g;
            }
            (void)tidal_sim_check_digests(w->o, &ref, mb, n, &tenant, 1, 0);
        }
        tidal_db_digest(truth, TIDAL_ALL_TENANTS, all[s]);
        tidal_db_close(truth);
    }
    tidal_blake3(all, sizeof all, w->res->digest);
}

/* Heals everything, clears the faults, restarts every node; then, with no new writes, runs
   until every started move is DONE, the queue is empty and the owners hold the oracle's
   state (END_NS at most), gathering every tenant from every region on the way; then the
   end checks. */
static void mg_end_phase(world *w) {
    mg *m = mg_of(w);
    tidal_sim_net *net = tidal_sim_cluster_net(w->c);
    int64_t deadline;
    int r, s, k = 0;
    uint32_t i;
    while (w->n_parts) tidal_sim_net_heal(net, w->parts[--w->n_parts]);
    tidal_sim_net_set_faults(net, 0, 0, 0);
    for (r = 0; r < NREG && !failed(w); r++)
        for (s = 0; s < NSHARD && !failed(w); s++)
            if (!node_db(w, r, s)) restart_node(w, r, s);
    check_step(w);
    deadline = tidal_sim_cluster_now(w->c) + END_NS;
    while (!failed(w)) {
        retry_queue(w);
        for (i = 0; i < m->n_ten && !failed(w); i++) gather(w, (int)i, k % NREG, (uint32_t)(k & 1), 0);
        check_isolation(w);
        k++;
        if (failed(w) || (!m->n_queue && all_done(w) && converged(w))) break;
        if (tidal_sim_cluster_now(w->c) >= deadline) break;
        tidal_sim_cluster_run(w->c, tidal_sim_cluster_now(w->c) + SLICE_NS);
    }
    if (failed(w)) return;
    for (i = 0; i < m->n_ten && !failed(w); i++) {
        ten_rec *t = &m->ten[i];
        if (t->moving)
            fail(w, "eventually_done", "tenant %u's move to placement %#x is not DONE %lld s after the faults stopped "
                 "(phase %d)", t->id, t->moving_to, (long long)(END_NS / SEC), t->phase);
    }
    if (!failed(w) && m->n_queue)
        fail(w, "eventually_done", "%u queued writes (first: tenant %u item %llu) not taken %lld s after the faults "
             "stopped", m->n_queue, m->ten[m->queue[0].ti].id, (unsigned long long)m->queue[0].s.item,
             (long long)(END_NS / SEC));
    for (i = 0; i < m->n_ten && !failed(w); i++) {
        check_owners(w, (int)i, 1);
        if (!failed(w)) check_collected(w, (int)i, 1);
    }
    if (!failed(w)) check_truth(w);
}

/* ---- one history ---------------------------------------------------------------------- */

/* The cluster (3 regions x 2 shards, availability mode, the history's seed) and its
   tenants registered with the control plane. 0 (and the failure "setup") if it failed. */
static int mg_open(mg *m, uint64_t seed, int verbose, run_result *res) {
    world *w = &m->w;
    uint32_t placement[NTEN_MAX], i;
    g_every_placement = 1; /* tenants live and move on any placement */
    if (!world_open(w, seed, NSHARD, 1, verbose, res)) return 0;
    m->n_ten = tenants_of(seed, placement);
    for (i = 0; i < m->n_ten; i++) {
        tidal_tenant_config tc;
        tidal_result r;
        memset(&tc, 0, sizeof tc);
        tc.tenant = m->ten[i].id = TENANT_BASE + i;
        tc.placement = placement[i];
        tc.config_version = 1;
        if ((r = tidal_sim_cluster_tenant_set(w->c, &tc)) != TIDAL_OK) {
            fail(w, "setup", "registering tenant %u: %s", tc.tenant, tidal_strerror(r));
            return 0;
        }
        m->ten[i].group = tidal_sim_cluster_tenant_group(w->c, tc.tenant);
        if (verbose) {
            printf("      tenant %u on regions ", tc.tenant);
            print_placement(stdout, placement[i]);
            printf(" (group %u)\n", m->ten[i].group);
        }
    }
    return 1;
}

static void run_history(uint64_t seed, const op *ops, int n, int verbose, run_result *res) {
    mg *m = (mg *)calloc(1, sizeof *m);
    world *w = &m->w;
    int i;
    if (!m) abort();
    if (mg_open(m, seed, verbose, res)) {
        w->step = check_step;
        tidal_sim_cluster_set_observer(w->c, world_observer, w);
        check_step(w);
        for (i = 0; i < n && !failed(w); i++) {
            if (verbose) op_print(stdout, i, &ops[i]);
            do_op(w, &ops[i]);
            if (!failed(w)) check_step(w);
            if (!failed(w)) run_for(w, ops[i].run_ns);
            if (!failed(w)) check_isolation(w);
            if (verbose) print_cluster(w);
            res->ops_run++;
        }
        if (!failed(w)) mg_end_phase(w);
        if (verbose) {
            printf("      at the end (%.3f s simulated):\n", (double)(tidal_sim_cluster_now(w->c) - START_NS) / 1e9);
            print_cluster(w);
        }
        {
            tidal_sim_tenant_info info;
            if (m->n_ten && tidal_sim_cluster_tenant(w->c, m->ten[0].id, &info) == TIDAL_OK)
                res->stat[ST_COORD] = info.coordinator_restarts;
        }
        tidal_sim_cluster_trace(w->c, res->trace);
        res->sim_ns = tidal_sim_cluster_now(w->c);
        res->events = tidal_sim_cluster_events(w->c);
    }
    if (w->c) tidal_sim_cluster_free(w->c);
    tidal_sim_oracle_free(w->o);
    free(m);
}

/* ---- cases ---------------------------------------------------------------------------- */

static const prop_program program = {
    200, "regressions_migration.txt",
    {"writes taken", "MOVED refusals", "moves started", "moves done", "gathers", "stray writes refused",
     "moves refused (one under way)", "coordinator restarts"},
    {"writes taken", "MOVED refusals", "moves started", "moves done", "gathers", "stray writes refused",
     "moves refused (one under way)", "coordinator restarts"}};

PROP_MAIN(program)
