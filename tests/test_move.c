/* test_move.c - the migration coordinator in the library (tidal.h >>node_move): tenant 2
   moves from group 3 (regions 0, 1) to group 0 (every region) of a 3 x 2 cluster of peers
   over the simulated network (tests/peer_world.h), with QUORUM writes through random peers
   before, during and after, each retried with its idempotency key until acknowledged. At
   the end: every acknowledged write is on its shard's new leader by event id, each item's
   count equals its acknowledged writes, every peer routes to the target, the old group
   refuses writes and holds nothing (memory and files). The same with the control-plane
   leader (the coordinator's node) crashed at each phase, the source shard leader crashed
   mid-COPY, the coordinator partitioned from the shard-1 nodes at each phase (the move
   stalls, says why, and finishes after the heal); the coordinator cut from every member of
   the target group at each phase (COPY, SEAL, SWITCH, DONE proposed): cut off from all
   (another node leads a higher term and coordinates) and, for tenant 1 moving from group 0
   to group 3, keeping its control-plane majority (it stays, names the silent target
   members, and finishes after the heal); at every step of the load at most one group
   accepts the moving tenant's writes, checked on every node; refusals of tidal_peer_move;
   malformed coordinator messages refused without change; how long the control plane takes
   to elect after its leader crashes (50 worlds). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include "peer_world.h"

#define WR_MAX 1200
#define ITEMS 12

/* One logical write: retried (same key) until a completion says OK. */
typedef struct wr {
    tidal_id item;
    int64_t time_ns;
    int node;          /* where its current try went */
    uint64_t ticket;   /* 0: not in flight */
    int done, tries;
    tidal_event_id id;
} wr;

typedef struct load {
    wr w[WR_MAX];
    int n;             /* logical writes made */
    int open;          /* new writes are made */
    uint64_t rng;
    int unknown, refused, duplicates;
    tidal_id items[ITEMS];
} load;

static load g_load;

/* The move a test makes: tenant from source to target; bits of the regions each runs in. */
typedef struct mvspec {
    uint32_t tenant, source, target, splace, tplace;
} mvspec;
static const mvspec MV_2_TO_0 = {2, 3, 0, 3, 7}; /* tenant 2: group 3 to group 0 (setup()) */
static const mvspec MV_1_TO_3 = {1, 0, 3, 7, 3}; /* tenant 1: group 0 to group 3 */
static mvspec g_mv = {2, 3, 0, 3, 7};
static int g_owner_steps;                        /* steps the owner check ran */

/* A completion the test waits for while the load runs (load_collect keeps it aside). */
static int g_watch_node = -1;
static uint64_t g_watch_ticket;
static tidal_peer_completion g_watch_c;
static int g_watch_seen;
/* Two more tickets of one node watched at once (t_gather_after_takeover's reads). */
static int g_watch2_node = -1;
static uint64_t g_watch2_ticket[2];
static tidal_peer_completion g_watch2_c[2];
static int g_watch2_seen[2];

static uint64_t rnd(load *ld) {
    uint64_t z = (ld->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void load_init(load *ld, uint64_t seed) {
    int k;
    memset(ld, 0, sizeof *ld);
    ld->rng = seed;
    ld->open = 1;
    for (k = 0; k < ITEMS; k++)
        ld->items[k] = item_on(g_mv.tenant, (uint32_t)(k % SHARDS), 1000 + 100 * (tidal_id)k);
}

static void try_write(world *w, load *ld, int k) {
    tidal_signal s;
    char key[16];
    int i, guard = 0;
    wr *x = &ld->w[k];
    do i = (int)(rnd(ld) % N); while (!w->nd[i].up && ++guard < 100);
    snprintf(key, sizeof key, "w%d", k);
    memset(&s, 0, sizeof s);
    s.tenant = g_mv.tenant;
    s.item = x->item;
    s.weight = 1;
    s.time_ns = x->time_ns;
    s.idem.key = key;
    s.idem.key_len = (uint32_t)strlen(key);
    x->node = i;
    x->tries++;
    TT_EQ_INT(tidal_peer_signal_write(w->nd[i].peer, &s, TIDAL_ACK_QUORUM, &x->ticket), TIDAL_OK);
}

/* Takes the completions gathered so far: done, or tried again elsewhere. */
static void load_collect(world *w, load *ld) {
    int g, k;
    for (g = 0; g < w->n_got; g++) {
        const tidal_peer_completion *c = &w->got[g].c;
        if (w->got[g].node == g_watch_node && c->ticket == g_watch_ticket) {
            g_watch_c = *c;
            g_watch_seen = 1;
            continue;
        }
        if (w->got[g].node == g_watch2_node &&
            (c->ticket == g_watch2_ticket[0] || c->ticket == g_watch2_ticket[1])) {
            k = c->ticket == g_watch2_ticket[1];
            g_watch2_c[k] = *c, g_watch2_seen[k] = 1;
            continue;
        }
        for (k = 0; k < ld->n; k++) {
            wr *x = &ld->w[k];
            if (x->done || !x->ticket || x->ticket != c->ticket || x->node != w->got[g].node)
                continue;
            x->ticket = 0;
            if (c->outcome == TIDAL_PEER_DONE_OK) {
                x->done = 1;
                x->id = c->id;
                ld->duplicates += c->duplicate;
            } else {
                if (c->outcome == TIDAL_PEER_DONE_UNKNOWN) ld->unknown++;
                else ld->refused++;
                TT_CHECKF(c->outcome == TIDAL_PEER_DONE_UNKNOWN || c->result == TIDAL_ERR_MOVED ||
                              c->result == TIDAL_ERR_STALE_CONFIG ||
                              c->result == TIDAL_ERR_UNAVAILABLE ||
                              c->result == TIDAL_ERR_READ_ONLY ||
                              c->result == TIDAL_ERR_FENCED,
                          "write %d refused: %s %s", k, tidal_strerror(c->result), c->message);
            }
            break;
        }
    }
    w->n_got = 0;
}

/* The groups whose members would accept a client write of tenant on shard s right now, as
   bits (1 << index in w->groups): a member that leads in its own view (a stale leader cut
   off counts) and whose tenant state is ACTIVE, or that has no config for it (no check). */
static uint32_t owners(world *w, uint32_t tenant, int s) {
    uint32_t bits = 0, gk;
    int r;
    for (gk = 0; gk < 2; gk++)
        for (r = 0; r < REGIONS; r++) {
            int i = ix(r, s);
            tidal_db *db = w->nd[i].up ? tidal_peer_member(w->nd[i].peer, w->groups[gk].id) : NULL;
            tidal_node_status st;
            const tidal__tcfg *t;
            if (!db || tidal_node_status_get(db, &st) != TIDAL_OK || st.role != TIDAL_ROLE_LEADER)
                continue;
            t = tidal__tcfg_find(db, tenant);
            if (!t || t->cfg.state == TIDAL_TENANT_ACTIVE) bits |= 1u << gk;
        }
    return bits;
}

/* At most one group accepts the moving tenant's writes on every shard, checked on every
   node at every step (none while SEAL holds every write back). */
static void check_owner(world *w) {
    int s;
    for (s = 0; s < SHARDS; s++) {
        uint32_t b = owners(w, g_mv.tenant, s);
        TT_CHECKF(b != 3u, "shard %d: groups %u and %u both accept tenant %u's writes", s,
                  w->groups[0].id, w->groups[1].id, g_mv.tenant);
    }
    g_owner_steps++;
}

/* One step of the world with the load running: a new write every step while open, every
   write without a try in flight tried again. */
static void step(world *w, load *ld) {
    int k;
    if (ld->open && ld->n < WR_MAX) {
        wr *x = &ld->w[ld->n];
        memset(x, 0, sizeof *x);
        x->item = ld->items[rnd(ld) % ITEMS];
        x->time_ns = T0 + (int64_t)ld->n * MS;
        ld->n++;
    }
    for (k = 0; k < ld->n; k++)
        if (!ld->w[k].done && !ld->w[k].ticket) try_write(w, ld, k);
    run(w, 5 * MS);
    load_collect(w, ld);
    check_owner(w);
}

static void steps(world *w, load *ld, int64_t dt) {
    int64_t end = w->now + dt;
    while (w->now < end && TT_OK()) step(w, ld);
}

/* Every write acknowledged, the load closed. */
static void drain(world *w, load *ld) {
    int64_t end = w->now + 30000 * MS;
    int k, left = 1;
    ld->open = 0;
    while (left && w->now < end && TT_OK()) {
        step(w, ld);
        for (left = 0, k = 0; k < ld->n; k++) left += !ld->w[k].done;
    }
    TT_CHECKF(!left, "%d writes never acknowledged", left);
}

static int move_phase_on(world *w, int i) {
    tidal_peer_tenant t;
    if (!w->nd[i].up || tidal_peer_tenant_get(w->nd[i].peer, g_mv.tenant, &t) != TIDAL_OK)
        return -1;
    return (int)t.move_phase;
}

static int all_done(world *w) {
    int i;
    for (i = 0; i < N; i++)
        if (w->nd[i].up && move_phase_on(w, i) != TIDAL_CONTROL_PHASE_DONE) return 0;
    return 1;
}

/* Starts the move (g_mv) from node i; its generation. */
static uint64_t start_move(world *w, load *ld, int i) {
    uint64_t t = 0;
    int k;
    TT_EQ_INT(tidal_peer_move(w->nd[i].peer, g_mv.tenant, g_mv.target, &t), TIDAL_OK);
    g_watch_node = i, g_watch_ticket = t, g_watch_seen = 0;
    for (k = 0; k < 600 && TT_OK(); k++) {
        step(w, ld);
        if (g_watch_seen) {
            const tidal_peer_completion *c = &g_watch_c;
            g_watch_node = -1;
            TT_CHECKF(c->outcome == TIDAL_PEER_DONE_OK && c->index > 0, "move: %u %s %s",
                      c->outcome, tidal_strerror(c->result), c->message);
            return c->index;
        }
    }
    g_watch_node = -1;
    TT_CHECK(!"the move never completed");
    return 0;
}

static int top_leader(world *w, uint64_t *term);

/* Runs the load until every peer applied DONE. */
static void until_done(world *w, load *ld, int64_t max) {
    int64_t end = w->now + max;
    while (!all_done(w) && w->now < end && TT_OK()) step(w, ld);
    if (!all_done(w)) {
        int c = top_leader(w, NULL);
        tidal_peer_move_info mi;
        memset(&mi, 0, sizeof mi);
        if (c >= 0) tidal_peer_move_status(w->nd[c].peer, g_mv.tenant, &mi);
        TT_CHECKF(0, "the move did not finish: coordinator %d phase %u: %s", c, mi.phase,
                  mi.waiting);
    }
}

/* The end state: one owner (the target on every peer), every acknowledged write on its
   shard's new leader by id, counts equal, the old group refusing and empty. */
static void check_end(world *w, load *ld, uint64_t gen) {
    const mvspec *m = &g_mv;
    uint64_t want[ITEMS], n_views;
    int i, k, s, r;
    run(w, 1000 * MS);
    for (i = 0; i < N; i++) {
        tidal_peer_tenant t;
        TT_EQ_INT(tidal_peer_tenant_get(w->nd[i].peer, m->tenant, &t), TIDAL_OK);
        TT_CHECKF(t.group == m->target && t.placement == m->tplace &&
                      t.move_phase == TIDAL_CONTROL_PHASE_DONE && t.move_source == m->source &&
                      t.move_target == m->target && t.move_index == gen,
                  "peer %d: group %u phase %u move %llu", i, t.group, t.move_phase,
                  (unsigned long long)t.move_index);
    }
    for (s = 0; s < SHARDS; s++) /* one owner, the target */
        TT_CHECKF(owners(w, m->tenant, s) == (m->target == w->groups[0].id ? 1u : 2u),
                  "shard %d: owners %u", s, owners(w, m->tenant, s));
    memset(want, 0, sizeof want);
    for (k = 0; k < ld->n; k++) {
        wr *x = &ld->w[k];
        int l = group_leader(w, m->target, (int)tidal_route(m->tenant, x->item, SHARDS)), j;
        TT_CHECK(x->done);
        for (j = 0; j < ITEMS; j++) want[j] += ld->items[j] == x->item;
        TT_CHECK(l >= 0);
        if (l >= 0)
            TT_CHECKF(tidal_event_is_applied(tidal_peer_member(w->nd[l].peer, m->target), x->id),
                      "write %d (item %llu, tries %d) not on the new leader %d", k,
                      (unsigned long long)x->item, x->tries, l);
    }
    for (k = 0; k < ITEMS; k++) {
        int sh = (int)tidal_route(m->tenant, ld->items[k], SHARDS);
        int l = group_leader(w, m->target, sh);
        if (l < 0) continue;
        n_views = views(w, l, m->target, m->tenant, ld->items[k]);
        TT_CHECKF(n_views == want[k], "item %llu: %llu views, %llu acknowledged",
                  (unsigned long long)ld->items[k], (unsigned long long)n_views,
                  (unsigned long long)want[k]);
        for (r = 0; r < REGIONS; r++) /* the followers too, once shipped */
            if (m->tplace >> r & 1u)
                TT_CHECKF(views(w, ix(r, sh), m->target, m->tenant, ld->items[k]) == want[k],
                          "item %llu on %d/%d: %llu views, %llu acknowledged",
                          (unsigned long long)ld->items[k], r, sh,
                          (unsigned long long)views(w, ix(r, sh), m->target, m->tenant,
                                                    ld->items[k]),
                          (unsigned long long)want[k]);
    }
    /* The old group: refuses a local write (SEALED), holds nothing, in memory or files. */
    for (s = 0; s < SHARDS; s++)
        for (r = 0; r < REGIONS; r++) {
            tidal_db *db = tidal_peer_member(w->nd[ix(r, s)].peer, m->source);
            uint64_t ents = 1, sess = 1, bytes = 1;
            int done = 0;
            tidal_signal sig;
            if (!(m->splace >> r & 1u)) continue;
            TT_EQ_INT(tidal_tenant_footprint(db, m->tenant, &ents, &sess, &bytes), TIDAL_OK);
            TT_CHECKF(ents == 0 && sess == 0 && bytes == 0, "%d/%d still holds %llu entities",
                      r, s, (unsigned long long)ents);
            TT_EQ_INT(tidal_tenant_collected(db, m->tenant, &done), TIDAL_OK);
            TT_CHECK(done == 1);
            memset(&sig, 0, sizeof sig);
            sig.tenant = m->tenant;
            sig.item = ld->items[s];
            sig.weight = 1;
            if (group_leader(w, m->source, s) == ix(r, s))
                TT_EQ_INT(tidal_signal_write(db, &sig, NULL), TIDAL_ERR_MOVED);
        }
    /* Accepted through any peer. */
    for (i = 0; i < N; i++) {
        uint64_t t = write_on(w, i, m->tenant, ld->items[i % ITEMS]);
        const tidal_peer_completion *c = await(w, i, t, 3000 * MS);
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "peer %d: %s", i,
                  c ? c->message : "no completion");
        w->n_got = 0;
    }
}

/* (a) The move with writes before, during and after. */
static void t_move_with_writes(void) {
    world w;
    load *ld = &g_load;
    uint64_t gen;
    int64_t t0;
    int i, c;
    tidal_peer_move_info mi;
    setup(&w);
    load_init(ld, tt_seed());
    steps(&w, ld, 500 * MS);
    t0 = w.now;
    gen = start_move(&w, ld, ix(2, 1)); /* a node outside the source group, a learner */
    until_done(&w, ld, 30000 * MS);
    printf("    the move took %lld ms (simulated) from the call to DONE on every peer\n",
           (long long)((w.now - t0) / MS));
    steps(&w, ld, 500 * MS);
    drain(&w, ld);
    TT_CHECKF(ld->unknown == 0, "%d writes completed UNKNOWN on a network without faults",
              ld->unknown);
    check_end(&w, ld, gen);
    c = control_leader(&w);
    TT_CHECK(c >= 0);
    if (c >= 0) {
        TT_EQ_INT(tidal_peer_move_status(w.nd[c].peer, 2, &mi), TIDAL_OK);
        TT_CHECK(mi.phase == TIDAL_CONTROL_PHASE_DONE && mi.generation == gen && !mi.coordinating);
    }
    {
        uint64_t fwd = 0, imp = 0, copies = 0, again = 0;
        for (i = 0; i < N; i++) {
            tidal_peer_move_status(w.nd[i].peer, 2, &mi);
            fwd += mi.events_forwarded, imp += mi.events_imported, copies += mi.copies;
            again += mi.reinstalls;
        }
        /* No fault: the copy and the forwarded events were enough, SEAL needed no repair. */
        TT_CHECKF(again == 0, "%llu fresh copies at SEAL", (unsigned long long)again);
        TT_CHECKF(copies >= SHARDS && fwd > 0 && imp > 0, "copies %llu forwarded %llu imported "
                  "%llu", (unsigned long long)copies, (unsigned long long)fwd,
                  (unsigned long long)imp);
        printf("    %d writes (%d refused and retried, %d duplicates), %llu events forwarded, "
               "%llu imported, %llu installs\n", ld->n, ld->refused, ld->duplicates,
               (unsigned long long)fwd, (unsigned long long)imp, (unsigned long long)copies);
    }
    world_free(&w);
}

static void crash(world *w, int i) {
    int k;
    for (k = 0; k < g_load.n; k++) /* its calls die with it: their writers try again */
        if (g_load.w[k].ticket && g_load.w[k].node == i) g_load.w[k].ticket = 0;
    tidal_peer_close(w->nd[i].peer);
    w->nd[i].peer = NULL;
    w->nd[i].up = 0;
    tidal_sim_net_set_down(w->net, ref(i), 1);
    tidal_sim_disk_crash(w->nd[i].disk);
    tidal_sim_disk_restart(w->nd[i].disk);
}

/* Runs the load until the coordinator (the control leader) applied phase; its node. */
static int until_phase(world *w, load *ld, uint32_t phase) {
    int64_t end = w->now + 20000 * MS;
    while (w->now < end && TT_OK()) {
        int c = control_leader(w);
        if (c >= 0 && move_phase_on(w, c) == (int)phase) return c;
        step(w, ld);
    }
    TT_CHECKF(0, "phase %u never reached", phase);
    return -1;
}

/* (b) The control-plane leader, which coordinates, crashes at each phase. */
static void t_coordinator_crash(void) {
    uint32_t phase;
    for (phase = TIDAL_CONTROL_PHASE_COPY; phase <= TIDAL_CONTROL_PHASE_SWITCH && TT_OK();
         phase++) {
        world w;
        load *ld = &g_load;
        uint64_t gen;
        int c, c2;
        setup(&w);
        load_init(ld, tt_seed() + phase);
        steps(&w, ld, 300 * MS);
        gen = start_move(&w, ld, ix(1, 1));
        c = until_phase(&w, ld, phase);
        if (c < 0) {
            world_free(&w);
            return;
        }
        crash(&w, c);
        { /* two voters left: one round (the pre-vote round of >>control settles who runs;
             see t_control_failover) */
            int64_t end = w.now + 10000 * MS;
            do steps(&w, ld, 100 * MS);
            while ((c2 = control_leader(&w)) < 0 && w.now < end && TT_OK());
        }
        TT_CHECKF(c2 >= 0 && c2 != c, "no new control leader after %d crashed", c);
        peer_open(&w, c, 0);
        until_done(&w, ld, 30000 * MS);
        drain(&w, ld);
        check_end(&w, ld, gen);
        printf("    phase %u: coordinator %d crashed, %d took over; %d writes, %d unknown\n",
               phase, c, c2, ld->n, ld->unknown);
        world_free(&w);
    }
}

/* (c) The source shard's leader crashes mid-COPY (as soon as the coordinator applied it). */
static void t_source_leader_crash(void) {
    world w;
    load *ld = &g_load;
    uint64_t gen;
    int l, s;
    setup(&w);
    load_init(ld, tt_seed());
    steps(&w, ld, 300 * MS);
    gen = start_move(&w, ld, ix(2, 0));
    if (until_phase(&w, ld, TIDAL_CONTROL_PHASE_COPY) < 0) goto out;
    for (s = SHARDS - 1; s >= 0; s--) { /* both shards' source leaders, one after the other */
        l = group_leader(&w, 3, s);
        TT_CHECK(l >= 0);
        if (l < 0) goto out;
        crash(&w, l);
        steps(&w, ld, 800 * MS);
        peer_open(&w, l, 0);
    }
    until_done(&w, ld, 30000 * MS);
    drain(&w, ld);
    check_end(&w, ld, gen);
out:
    world_free(&w);
}

/* (d) The coordinator cut off from the shard-1 nodes (the target group's members of shard
   1, and the source's) at each phase: that shard cannot finish, the move stays in the phase
   and says why; after the heal it finishes. (Cutting it from every target member would cut
   it from its own control-plane majority: another node would coordinate.) */
static void t_coordinator_partitioned(void) {
    uint32_t phase;
    for (phase = TIDAL_CONTROL_PHASE_COPY; phase <= TIDAL_CONTROL_PHASE_SWITCH && TT_OK();
         phase++) {
        world w;
        load *ld = &g_load;
        uint64_t gen;
        tidal_node_ref a[1], b[REGIONS];
        tidal_peer_move_info mi;
        uint32_t cut;
        int c, r;
        setup(&w);
        load_init(ld, tt_seed() + 10 + phase);
        steps(&w, ld, 300 * MS);
        gen = start_move(&w, ld, ix(0, 1));
        c = until_phase(&w, ld, phase);
        if (c < 0) {
            world_free(&w);
            return;
        }
        a[0] = ref(c);
        for (r = 0; r < REGIONS; r++) b[r] = ref(ix(r, 1));
        cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, REGIONS, 0);
        steps(&w, ld, 3000 * MS);
        TT_EQ_INT(control_leader(&w), c);
        TT_EQ_INT(tidal_peer_move_status(w.nd[c].peer, 2, &mi), TIDAL_OK);
        TT_CHECKF(mi.phase == phase && mi.coordinating && mi.shards_ready < SHARDS &&
                      strstr(mi.waiting, "shard 1") && mi.waiting_ns >= 1000 * MS,
                  "phase %u: status phase %u coordinating %d ready %u: \"%s\"", phase, mi.phase,
                  mi.coordinating, mi.shards_ready, mi.waiting);
        printf("    phase %u stalled: %s\n", phase, mi.waiting);
        tidal_sim_net_heal(w.net, cut);
        until_done(&w, ld, 30000 * MS);
        drain(&w, ld);
        check_end(&w, ld, gen);
        world_free(&w);
    }
}

/* The control leader of the highest term (a leader cut off keeps its role until it hears
   of a higher term); -1 if none. */
static int top_leader(world *w, uint64_t *term) {
    int i, best = -1;
    uint64_t t = 0;
    for (i = 0; i < N; i++) {
        tidal_control_status st;
        if (!w->nd[i].up) continue;
        tidal_control_status_get(tidal_peer_control(w->nd[i].peer), &st);
        if (st.role == TIDAL_ROLE_LEADER && st.term > t) best = i, t = st.term;
    }
    if (term) *term = t;
    return best;
}

static uint64_t ctl_term(world *w, int i) {
    tidal_control_status st;
    tidal_control_status_get(tidal_peer_control(w->nd[i].peer), &st);
    return st.term;
}

/* Runs the load until the coordinator reached phase (DONE: the drop of SWITCH done on every
   shard, DONE proposed, not applied yet); its node. */
static int until_cut_point(world *w, load *ld, uint32_t phase) {
    int64_t end = w->now + 20000 * MS;
    while (w->now < end && TT_OK()) {
        int c = top_leader(w, NULL);
        tidal_peer_move_info mi;
        if (c >= 0 && phase < TIDAL_CONTROL_PHASE_DONE && move_phase_on(w, c) == (int)phase)
            return c;
        if (c >= 0 && phase == TIDAL_CONTROL_PHASE_DONE &&
            tidal_peer_move_status(w->nd[c].peer, g_mv.tenant, &mi) == TIDAL_OK &&
            mi.phase == TIDAL_CONTROL_PHASE_SWITCH && mi.coordinating && mi.shards_ready == SHARDS)
            return c;
        step(w, ld);
    }
    TT_CHECKF(0, "phase %u never reached", phase);
    return -1;
}

/* Cuts node c from every node of the target group's regions (itself aside); the handle. */
static uint32_t cut_from_target(world *w, int c, int *n_cut) {
    tidal_node_ref a[1], b[N];
    int i, n = 0;
    a[0] = ref(c);
    for (i = 0; i < N; i++)
        if (i != c && (g_mv.tplace >> (i / SHARDS) & 1u)) b[n++] = ref(i);
    *n_cut = n;
    return tidal_sim_net_partition_nodes(w->net, a, 1, b, (uint32_t)n, 0);
}

static const char *const phase_names[] = {"-", "COPY", "SEAL", "SWITCH", "DONE"};

/* (g) The coordinator cut off from every member of the target group (group 0 runs on every
   node: from every other node, so from its control-plane majority too) at each phase: COPY,
   SEAL, SWITCH, and with DONE proposed after SWITCH's drops. Another node takes over as
   control leader (a higher term) and as coordinator; nothing is lost, one group accepts
   the tenant's writes at every step, and the move finishes after the heal. */
static void t_coordinator_isolated(void) {
    uint32_t phase;
    g_mv = MV_2_TO_0;
    for (phase = TIDAL_CONTROL_PHASE_COPY; phase <= TIDAL_CONTROL_PHASE_DONE && TT_OK();
         phase++) {
        world w;
        load *ld = &g_load;
        uint64_t gen, term, term2 = 0;
        uint32_t cut;
        int c, c2 = -1, n_cut;
        int64_t end, t_cut;
        setup(&w);
        load_init(ld, tt_seed() + 20 + phase);
        steps(&w, ld, 300 * MS);
        gen = start_move(&w, ld, ix(2, 1));
        c = until_cut_point(&w, ld, phase);
        if (c < 0) {
            world_free(&w);
            break;
        }
        term = ctl_term(&w, c);
        cut = cut_from_target(&w, c, &n_cut);
        TT_EQ_INT(n_cut, N - 1);
        t_cut = w.now;
        end = w.now + 15000 * MS;
        do {
            steps(&w, ld, 50 * MS);
            c2 = top_leader(&w, &term2);
        } while ((c2 < 0 || c2 == c) && w.now < end && TT_OK());
        TT_CHECKF(c2 >= 0 && c2 != c && term2 > term, "no other control leader after %d was cut "
                  "off (term %llu): %d term %llu", c, (unsigned long long)term, c2,
                  (unsigned long long)term2);
        if (c2 < 0 || c2 == c) {
            world_free(&w);
            break;
        }
        printf("    %s: coordinator %d (term %llu) cut off; %d leads term %llu after %lld ms\n",
               phase_names[phase], c, (unsigned long long)term, c2, (unsigned long long)term2,
               (long long)((w.now - t_cut) / MS));
        { /* the new leader coordinates the move (unless DONE committed already) */
            tidal_peer_move_info mi;
            end = w.now + 3000 * MS;
            do steps(&w, ld, 50 * MS);
            while (move_phase_on(&w, c2) != TIDAL_CONTROL_PHASE_DONE &&
                   (tidal_peer_move_status(w.nd[c2].peer, g_mv.tenant, &mi) != TIDAL_OK ||
                    !mi.coordinating) && w.now < end && TT_OK());
            TT_EQ_INT(tidal_peer_move_status(w.nd[c2].peer, g_mv.tenant, &mi), TIDAL_OK);
            TT_CHECKF(mi.coordinating || mi.phase == TIDAL_CONTROL_PHASE_DONE,
                      "%d does not coordinate (phase %u)", c2, mi.phase);
            steps(&w, ld, 2000 * MS);
            TT_EQ_INT(tidal_peer_move_status(w.nd[c2].peer, g_mv.tenant, &mi), TIDAL_OK);
            printf("      %d during the cut: phase %u %s\n", c2, mi.phase,
                   mi.waiting[0] ? mi.waiting : "(not waiting)");
        }
        tidal_sim_net_heal(w.net, cut);
        until_done(&w, ld, 30000 * MS);
        drain(&w, ld);
        check_end(&w, ld, gen);
        {   /* one leader, one coordinator left: the old one heard of the higher term */
            uint64_t t3 = 0;
            int c3 = top_leader(&w, &t3), i, leaders = 0;
            for (i = 0; i < N; i++) {
                tidal_control_status st;
                tidal_control_status_get(tidal_peer_control(w.nd[i].peer), &st);
                leaders += st.role == TIDAL_ROLE_LEADER;
            }
            TT_CHECKF(leaders == 1 && c3 >= 0 && t3 >= term2, "%d control leaders", leaders);
        }
        printf("      %d writes (%d refused and retried, %d unknown), %d owner checks\n", ld->n,
               ld->refused, ld->unknown, g_owner_steps);
        world_free(&w);
    }
    g_mv = MV_2_TO_0;
}

/* Moves control leadership off node i (cut off until another node leads, then healed). */
static void lead_elsewhere(world *w, load *ld, int i) {
    tidal_node_ref a[1], b[N];
    int k, n = 0, c;
    int64_t end = w->now + 15000 * MS;
    uint32_t cut;
    a[0] = ref(i);
    for (k = 0; k < N; k++)
        if (k != i) b[n++] = ref(k);
    cut = tidal_sim_net_partition_nodes(w->net, a, 1, b, (uint32_t)n, 0);
    do steps(w, ld, 50 * MS);
    while (((c = top_leader(w, NULL)) < 0 || c == i) && w->now < end && TT_OK());
    tidal_sim_net_heal(w->net, cut);
    steps(w, ld, 1500 * MS);
    TT_CHECKF(top_leader(w, NULL) >= 0 && top_leader(w, NULL) != i,
              "leadership did not move off %d", i);
}

/* (h) Tenant 1 moves from group 0 (every region) to group 3 (regions 0 and 1) with the
   coordinator in region 0 or 1, cut at each phase from every other node of the target
   group's regions: it keeps its control-plane majority (with region 2), so it stays the
   leader and the coordinator (no other node disrupts it: same leader, same term) and says
   in tidal_peer_move_status and in health which target member it waits for; after the
   heal the move finishes. At DONE (proposed after SWITCH's drops) it commits without
   them. */
static void t_coordinator_cut_keeps_majority(void) {
    uint32_t phase;
    g_mv = MV_1_TO_3;
    for (phase = TIDAL_CONTROL_PHASE_COPY; phase <= TIDAL_CONTROL_PHASE_DONE && TT_OK();
         phase++) {
        world w;
        load *ld = &g_load;
        uint64_t gen, term, term2 = 0;
        uint32_t cut;
        int c, c2, n_cut, i;
        tidal_peer_move_info mi;
        setup(&w);
        load_init(ld, tt_seed() + 30 + phase);
        steps(&w, ld, 300 * MS);
        if (top_leader(&w, NULL) / SHARDS == 2) lead_elsewhere(&w, ld, top_leader(&w, NULL));
        gen = start_move(&w, ld, ix(2, 1));
        c = until_cut_point(&w, ld, phase);
        if (c < 0) {
            world_free(&w);
            break;
        }
        TT_CHECKF(c / SHARDS < 2, "coordinator %d outside the target's regions", c);
        term = ctl_term(&w, c);
        cut = cut_from_target(&w, c, &n_cut);
        TT_EQ_INT(n_cut, 3);
        steps(&w, ld, 3000 * MS);
        c2 = top_leader(&w, &term2);
        TT_CHECKF(c2 == c && term2 == term, "%s: the control leader moved from %d (term %llu) "
                  "to %d (term %llu)", phase_names[phase], c, (unsigned long long)term, c2,
                  (unsigned long long)term2);
        TT_EQ_INT(tidal_peer_move_status(w.nd[c].peer, g_mv.tenant, &mi), TIDAL_OK);
        if (phase < TIDAL_CONTROL_PHASE_DONE) {
            tidal_peer_health h;
            tidal_peer_health_move hm[4];
            int named = 0;
            for (i = 0; i < N; i++) { /* names a node of the target's regions it cannot reach */
                char who[16];
                snprintf(who, sizeof who, "%d/%d", i / SHARDS, i % SHARDS);
                named += i != c && i / SHARDS < 2 && strstr(mi.waiting, who) != NULL;
            }
            TT_CHECKF(mi.phase == phase && mi.coordinating && mi.shards_ready < SHARDS &&
                          strstr(mi.waiting, "no answer") && named &&
                          strstr(mi.waiting, "(target members) silent") &&
                          mi.waiting_ns >= 1000 * MS,
                      "%s: phase %u coordinating %d ready %u: \"%s\"", phase_names[phase],
                      mi.phase, mi.coordinating, mi.shards_ready, mi.waiting);
            memset(&h, 0, sizeof h);
            h.moves = hm;
            h.moves_cap = 4;
            TT_EQ_INT(tidal_peer_health_get(w.nd[c].peer, &h), TIDAL_OK);
            TT_CHECKF(h.move_count == 1 && hm[0].tenant == g_mv.tenant && hm[0].coordinating &&
                          hm[0].phase == phase && strstr(hm[0].waiting, "no answer") &&
                          strstr(hm[0].waiting, "(target members) silent"),
                      "health: %u moves: \"%s\"", h.move_count, h.move_count ? hm[0].waiting : "");
            printf("    %s: coordinator %d waits: %s\n", phase_names[phase], c, mi.waiting);
        } else {
            TT_CHECKF(mi.phase == TIDAL_CONTROL_PHASE_DONE, "DONE: %d at phase %u: %s", c,
                      mi.phase, mi.waiting);
            printf("    DONE: committed by %d and region 2 during the cut\n", c);
        }
        tidal_sim_net_heal(w.net, cut);
        until_done(&w, ld, 30000 * MS);
        drain(&w, ld);
        check_end(&w, ld, gen);
        printf("      %d writes (%d refused and retried, %d unknown)\n", ld->n, ld->refused,
               ld->unknown);
        world_free(&w);
    }
    g_mv = MV_2_TO_0;
}

/* Writes acknowledged so far on shard s. */
static int acked(const load *ld, int s) {
    int k, n = 0;
    for (k = 0; k < ld->n; k++)
        n += ld->w[k].done && (int)tidal_route(g_mv.tenant, ld->w[k].item, SHARDS) == s;
    return n;
}

/* (j) Take-over (>>node_move): during SEAL the target leader of a shard takes the shard
   over from the sealed source and takes writes before SWITCH commits. Right after it took
   some (acknowledged at QUORUM, SWITCH not applied anywhere), it crashes and the
   coordinator is cut from every node of that shard (the target's members of it: group 0
   runs everywhere, so the shard is one the coordinator's node does not serve, and two of
   its three target members remain). A new target leader is elected; it holds the take-over mark,
   so it is the owner at once (ACTIVE, taking writes) and no fresh copy of the sealed
   source replaces what the old one took (no reinstall on any node); one group accepts at
   every step; after the heal and the restart the move finishes and every acknowledged
   write is on the new leader by id, counts equal. The same with the coordinator's node
   crashed at that moment instead of cut off (the next coordinator never heard of the
   take-over: it learns it from the target members' generations). */
static void takeover_crash(int coordinator_crashes) {
    world w;
    load *ld = &g_load;
    uint64_t gen, again = 0, takeovers = 0;
    int c = -1, l = -1, s = -1, i, n0, l2 = -1;
    int64_t end;
    uint32_t cut = 0;
    tidal_peer_move_info mi;
    g_mv = MV_2_TO_0;
    setup(&w);
    load_init(ld, tt_seed() + (uint64_t)coordinator_crashes);
    steps(&w, ld, 300 * MS);
    gen = start_move(&w, ld, ix(2, 1));
    end = w.now + 20000 * MS;
    while (s < 0 && w.now < end && TT_OK()) { /* a shard taken over */
        int k;
        step(&w, ld);
        c = top_leader(&w, NULL);
        for (k = 0; k < SHARDS && s < 0 && c >= 0; k++) {
            int x = group_leader(&w, g_mv.target, k);
            if (k != c % SHARDS && x >= 0 &&
                tidal_peer_move_status(w.nd[x].peer, g_mv.tenant, &mi) == TIDAL_OK &&
                mi.phase == TIDAL_CONTROL_PHASE_SEAL && mi.taken)
                s = k, l = x;
        }
    }
    TT_CHECKF(s >= 0, "no target leader took a shard over during SEAL");
    if (s < 0) goto out;
    n0 = acked(ld, s);
    while (acked(ld, s) == n0 && w.now < end && TT_OK()) step(&w, ld); /* it takes writes */
    TT_CHECKF(acked(ld, s) > n0 && top_leader(&w, NULL) == c && c >= 0 &&
                  move_phase_on(&w, c) == (int)TIDAL_CONTROL_PHASE_SEAL,
              "no write taken before SWITCH (coordinator %d at phase %d)", c,
              c >= 0 ? move_phase_on(&w, c) : -1);
    for (i = 0; i < N; i++) /* SWITCH applied nowhere yet */
        TT_CHECKF(!w.nd[i].up || move_phase_on(&w, i) <= (int)TIDAL_CONTROL_PHASE_SEAL,
                  "peer %d applied phase %d before the crash", i, move_phase_on(&w, i));
    printf("    shard %d taken over by %d; %d of its writes acknowledged, then %d crashes and "
           "coordinator %d %s\n", s, l, acked(ld, s), l, c,
           coordinator_crashes ? "crashes too" : "is cut from the shard");
    crash(&w, l);
    if (coordinator_crashes) crash(&w, c);
    else {
        tidal_node_ref a[1], b[REGIONS];
        int r;
        a[0] = ref(c);
        for (r = 0; r < REGIONS; r++) b[r] = ref(ix(r, s));
        cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, REGIONS, 0);
    }
    end = w.now + 10000 * MS;
    do { /* a new target leader of the shard: the owner at once */
        steps(&w, ld, 50 * MS);
        l2 = group_leader(&w, g_mv.target, s);
    } while ((l2 < 0 || l2 == l) && w.now < end && TT_OK());
    TT_CHECKF(l2 >= 0 && l2 != l, "shard %d: no new target leader", s);
    if (l2 >= 0 && l2 != l) {
        TT_EQ_INT(tidal_peer_move_status(w.nd[l2].peer, g_mv.tenant, &mi), TIDAL_OK);
        TT_CHECKF(mi.taken || mi.phase >= TIDAL_CONTROL_PHASE_SWITCH,
                  "new target leader %d of shard %d: phase %u, not the owner", l2, s, mi.phase);
        n0 = acked(ld, s);
        steps(&w, ld, 1500 * MS); /* it takes writes while the coordinator is cut off */
        TT_CHECKF(acked(ld, s) > n0, "no write taken after %d took over from %d", l2, l);
        if (!coordinator_crashes) { /* it coordinates still, cut from the shard */
            TT_EQ_INT(top_leader(&w, NULL), c);
            TT_EQ_INT(tidal_peer_move_status(w.nd[c].peer, g_mv.tenant, &mi), TIDAL_OK);
            TT_CHECKF(mi.phase == TIDAL_CONTROL_PHASE_SEAL && mi.coordinating,
                      "coordinator %d: phase %u coordinating %d", c, mi.phase, mi.coordinating);
        }
    }
    if (cut) tidal_sim_net_heal(w.net, cut);
    peer_open(&w, l, 0);
    if (coordinator_crashes) peer_open(&w, c, 0);
    until_done(&w, ld, 30000 * MS);
    drain(&w, ld);
    check_end(&w, ld, gen);
    for (i = 0; i < N; i++) {
        tidal_peer_move_status(w.nd[i].peer, g_mv.tenant, &mi);
        again += mi.reinstalls;
        takeovers += mi.takeovers;
    }
    TT_CHECKF(again == 0, "%llu fresh copies at SEAL after the take-over",
              (unsigned long long)again);
    printf("    new target leader %d; %d writes (%d refused and retried, %d unknown), %llu "
           "take-overs (after a restart a node counts afresh), %d owner checks\n", l2, ld->n,
           ld->refused, ld->unknown, (unsigned long long)takeovers, g_owner_steps);
out:
    world_free(&w);
    g_mv = MV_2_TO_0;
}

static void t_takeover_leader_crash(void) {
    takeover_crash(0);
    if (TT_OK()) takeover_crash(1);
}

/* The completion of ticket on node i while the load runs (up to max); NULL if none came. */
static const tidal_peer_completion *watch(world *w, load *ld, int i, uint64_t ticket,
                                          int64_t max) {
    int64_t end = w->now + max;
    g_watch_node = i, g_watch_ticket = ticket, g_watch_seen = 0;
    while (!g_watch_seen && w->now < end && TT_OK()) step(w, ld);
    g_watch_node = -1;
    return g_watch_seen ? &g_watch_c : NULL;
}

/* Whether some up node of shard k says the move's target took k over (or moved on). */
static int shard_taken(world *w, int k) {
    tidal_peer_move_info mi;
    int r, taken = 0;
    for (r = 0; r < REGIONS; r++)
        taken |= w->nd[ix(r, k)].up &&
                 tidal_peer_move_status(w->nd[ix(r, k)].peer, g_mv.tenant, &mi) == TIDAL_OK &&
                 (mi.taken || mi.phase >= TIDAL_CONTROL_PHASE_SWITCH);
    return taken;
}

/* (k) Reads in the take-over window (issue 12): once a shard's target leader took it over
   at SEAL, SWITCH (held back here: the coordinator is cut from every node of that shard)
   has not moved reads yet. A keyed write of a fresh item on that shard, acknowledged at
   QUORUM by the target, must be in tidal_peer_gather's answer and in tidal_peer_retrieve's
   answer for the shard, from a node of the other shard and from a node of the shard itself
   (the sealed source does not hold it: a read that asks only the owner misses it and says
   nothing). A gather or a RETRIEVE that takes a sealed source's answer says so (degraded,
   naming the move); before the take-overs both still answer (a RETRIEVE the target refuses
   asks the sealed source; one whose source has not applied SEAL yet is whole). */
static void t_gather_after_takeover(void) {
    world w;
    load *ld = &g_load;
    tidal_peer_move_info mi;
    tidal_node_ref a[1], b[REGIONS];
    tidal_signal sg;
    const tidal_peer_completion *pc;
    int c = -1, s = -1, l = -1, i, r, k, from[2];
    int64_t end;
    uint32_t cut = 0;
    uint64_t t = 0;
    tidal_id item;
    g_mv = MV_2_TO_0;
    setup(&w);
    load_init(ld, tt_seed() + 7);
    steps(&w, ld, 300 * MS);
    (void)start_move(&w, ld, ix(2, 1));
    end = w.now + 20000 * MS;
    while (move_phase_on(&w, ix(2, 1)) != (int)TIDAL_CONTROL_PHASE_SEAL && w.now < end &&
           TT_OK())
        step(&w, ld);
    TT_EQ_INT(tidal_peer_gather(w.nd[ix(2, 1)].peer, "RETRIEVE items SIGNAL view TENANT 2 LIMIT "
                                "50", 0, &t), TIDAL_OK); /* at once: before the take-overs */
    c = top_leader(&w, NULL); /* and one RETRIEVE per shard, from a node the cut below spares */
    g_watch2_node = c >= 0 ? ix((c / SHARDS + 1) % REGIONS, c % SHARDS) : ix(2, 1);
    for (k = 0; k < 2; k++) {
        g_watch2_seen[k] = 0;
        TT_EQ_INT(tidal_peer_retrieve(w.nd[g_watch2_node].peer, "RETRIEVE items SIGNAL view "
                                      "TENANT 2 LIMIT 50", (uint32_t)k, &g_watch2_ticket[k]),
                  TIDAL_OK);
    }
    g_watch_node = ix(2, 1), g_watch_ticket = t, g_watch_seen = 0;
    while ((s < 0 || g_watch_node >= 0 || g_watch2_ticket[0] || g_watch2_ticket[1]) &&
           w.now < end && TT_OK()) {
        step(&w, ld);
        for (k = 0; k < 2; k++) {
            if (!g_watch2_seen[k]) continue;
            g_watch2_seen[k] = 0, g_watch2_ticket[k] = 0;
            pc = &g_watch2_c[k];
            printf("    RETRIEVE of shard %d as SEAL applied: %s by %u/%u, %s %s %s\n", k,
                   pc->outcome == TIDAL_PEER_DONE_OK ? "ok" : "refused", pc->executed_by.region,
                   pc->executed_by.shard, shard_taken(&w, k) ? "taken over" : "not taken over",
                   pc->degraded ? "degraded:" : "whole", pc->degraded ? pc->degraded_reason
                                                                      : pc->message);
            TT_CHECKF(pc->outcome == TIDAL_PEER_DONE_OK || (pc->result == TIDAL_ERR_MOVED &&
                                                            shard_taken(&w, k)),
                      "RETRIEVE of shard %d at SEAL: %s", k, pc->message);
            TT_CHECKF(!pc->degraded || strstr(pc->degraded_reason, "move"),
                      "RETRIEVE of shard %d degraded without naming the move: %s", k,
                      pc->degraded_reason);
        }
        if (g_watch_node >= 0 && g_watch_seen) { /* the gather as SEAL applied completed */
            g_watch_node = -1;
            pc = &g_watch_c;
            TT_CHECKF(pc->outcome == TIDAL_PEER_DONE_OK, "gather at SEAL: %s", pc->message);
            for (k = 0; k < SHARDS; k++) { /* not taken over now: its sealed source answered */
                int taken = 0;
                for (r = 0; r < REGIONS; r++)
                    taken |= w.nd[ix(r, k)].up &&
                             tidal_peer_move_status(w.nd[ix(r, k)].peer, g_mv.tenant, &mi) ==
                                 TIDAL_OK &&
                             (mi.taken || mi.phase >= TIDAL_CONTROL_PHASE_SWITCH);
                printf("    gather as SEAL applied: shard %d %s; %s %s\n", k, taken
                       ? "taken over" : "not taken over", pc->degraded ? "degraded:" : "whole",
                       pc->degraded_reason);
                TT_CHECKF(taken || (pc->degraded && strstr(pc->degraded_reason, "move")),
                          "gather at SEAL took shard %d from the sealed source silently: %s", k,
                          pc->degraded_reason);
            }
        }
        c = top_leader(&w, NULL); /* a shard taken over, the coordinator not on it */
        for (k = 0; k < SHARDS && s < 0 && c >= 0; k++) {
            int x = group_leader(&w, g_mv.target, k);
            if (k != c % SHARDS && x >= 0 &&
                tidal_peer_move_status(w.nd[x].peer, g_mv.tenant, &mi) == TIDAL_OK &&
                mi.phase == TIDAL_CONTROL_PHASE_SEAL && mi.taken) {
                s = k, l = x;
                a[0] = ref(c); /* SWITCH waits for every target member's mark: hold it back */
                for (r = 0; r < REGIONS; r++) b[r] = ref(ix(r, s));
                cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, REGIONS, 0);
            }
        }
    }
    g_watch_node = g_watch2_node = -1;
    TT_CHECKF(s >= 0 && !g_watch2_ticket[0] && !g_watch2_ticket[1],
              "no target leader took a shard over during SEAL, or a RETRIEVE never completed");
    if (s < 0) goto out;
    item = item_on(g_mv.tenant, (uint32_t)s, 50000);
    memset(&sg, 0, sizeof sg);
    sg.tenant = g_mv.tenant;
    sg.item = item;
    sg.weight = 1;
    sg.time_ns = T0 + (int64_t)ld->n * MS; /* beside the load's */
    sg.idem.key = "takeover-read";
    sg.idem.key_len = (uint32_t)strlen(sg.idem.key);
    from[0] = ix(c / SHARDS == 0 ? 1 : 0, 1 - s); /* the other shard, not the coordinator */
    for (r = 0; r < REGIONS; r++) /* the shard itself: not its leader, nor in the region of */
        if (r != c / SHARDS && ix(r, s) != l) from[1] = ix(r, s); /* the cut coordinator */
    for (k = 0, pc = NULL; k < 20 && (!pc || pc->outcome != TIDAL_PEER_DONE_OK) && TT_OK();
         k++) { /* a peer that has not applied SEAL yet sends it to the source: refused, again */
        TT_EQ_INT(tidal_peer_signal_write(w.nd[from[0]].peer, &sg, TIDAL_ACK_QUORUM, &t),
                  TIDAL_OK);
        pc = watch(&w, ld, from[0], t, 5000 * MS);
    }
    TT_CHECKF(pc && pc->outcome == TIDAL_PEER_DONE_OK, "the write on shard %d: %s", s,
              pc ? pc->message : "no completion");
    steps(&w, ld, 300 * MS); /* its followers apply it too */
    for (k = 0; k < 2 && TT_OK(); k++) {
        uint32_t h;
        int found = 0;
        TT_EQ_INT(tidal_peer_gather(w.nd[from[k]].peer, "RETRIEVE items SIGNAL view TENANT 2 "
                                    "LIMIT 50", 0, &t), TIDAL_OK);
        pc = watch(&w, ld, from[k], t, 5000 * MS);
        TT_CHECKF(pc && pc->outcome == TIDAL_PEER_DONE_OK, "gather from %d: %s", from[k],
                  pc ? pc->message : "no completion");
        if (!pc) break;
        for (h = 0; h < pc->hit_count; h++) found |= pc->hits[h].item == item;
        printf("    gather from %d: %u hits, %s%s, taken shard %d %s\n", from[k], pc->hit_count,
               pc->degraded ? "degraded: " : "whole", pc->degraded ? pc->degraded_reason : "",
               s, found ? "holds the write" : "MISSES the write");
        TT_CHECKF(found, "gather from %d at SEAL misses the write on shard %d taken over by %d "
                  "(degraded %d: %s)", from[k], s, l, pc->degraded, pc->degraded_reason);
        TT_CHECKF(!pc->degraded || strstr(pc->degraded_reason, "move"),
                  "gather from %d degraded without naming the move: %s", from[k],
                  pc->degraded_reason);
    }
    for (k = 0; k < 2 && TT_OK(); k++) { /* RETRIEVE of the shard: the target answers it */
        uint32_t h;
        int found = 0;
        TT_EQ_INT(tidal_peer_retrieve(w.nd[from[k]].peer, "RETRIEVE items SIGNAL view TENANT 2 "
                                      "LIMIT 50", (uint32_t)s, &t), TIDAL_OK);
        pc = watch(&w, ld, from[k], t, 5000 * MS);
        TT_CHECKF(pc && pc->outcome == TIDAL_PEER_DONE_OK, "RETRIEVE from %d: %s", from[k],
                  pc ? pc->message : "no completion");
        if (!pc) break;
        for (h = 0; h < pc->hit_count; h++) found |= pc->hits[h].item == item;
        printf("    RETRIEVE of shard %d from %d: %u hits by %u/%u, %s, %s\n", s, from[k],
               pc->hit_count, pc->executed_by.region, pc->executed_by.shard,
               pc->degraded ? pc->degraded_reason : "whole",
               found ? "holds the write" : "MISSES the write");
        TT_CHECKF(found && !pc->degraded, "RETRIEVE of shard %d from %d at SEAL misses the write "
                  "taken over by %d (degraded %d)", s, from[k], l, pc->degraded);
    }
    for (i = 0; i < N; i++) /* the gathers ran before SWITCH anywhere */
        TT_CHECKF(!w.nd[i].up || move_phase_on(&w, i) <= (int)TIDAL_CONTROL_PHASE_SEAL,
                  "peer %d applied phase %d: SWITCH was not held back", i, move_phase_on(&w, i));
    tidal_sim_net_heal(w.net, cut);
    until_done(&w, ld, 30000 * MS);
    drain(&w, ld);
out:
    world_free(&w);
    g_mv = MV_2_TO_0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* (i) How long the control plane takes to elect a new leader after its leader crashes, over
   FAILOVERS worlds (seeds tt_seed() + k) with the UAT's latencies (the simulated net's
   defaults: 20-150 ms between regions), the two voters left in two regions: the
   distribution of simulated ms and of terms (rounds) from the crash to a leader known by
   both. Bounded: every world elects within 2 s and in at most 2 terms (split votes of
   many rounds were the rule: elections of 300-600 ms against votes in flight up to 150 ms
   each way; the pre-vote round of >>control settles who runs). */
#ifndef FAILOVERS
#define FAILOVERS 50
#endif
static void t_control_failover(void) {
    int64_t ms[FAILOVERS];
    uint64_t rounds[FAILOVERS], max_rounds = 0, sum_rounds = 0, bad_seed = 0;
    int k, bad = 0;
    for (k = 0; k < FAILOVERS; k++) { /* (checked at the end: run() stops at a failure) */
        world w;
        uint64_t term = 0, term2 = 0;
        int c, c2 = -1, i;
        int64_t t0, end;
        world_init(&w, tt_seed() + (uint64_t)k);
        run(&w, 1000 * MS);
        for (i = 0; i < 100 && top_leader(&w, NULL) < 0; i++) run(&w, 100 * MS);
        c = top_leader(&w, &term);
        TT_CHECK(c >= 0);
        if (c < 0) {
            world_free(&w);
            return;
        }
        run(&w, (int64_t)(tt_seed() % 97 + (uint64_t)k * 13 % 200) * MS); /* mid-heartbeat */
        w.n_got = 0;
        tidal_peer_close(w.nd[c].peer); /* the leader crashes */
        w.nd[c].peer = NULL;
        w.nd[c].up = 0;
        tidal_sim_net_set_down(w.net, ref(c), 1);
        t0 = w.now;
        end = w.now + 20000 * MS;
        for (;;) { /* a leader that the other voter follows in its term */
            int agree = 0;
            run(&w, MS);
            w.n_got = 0;
            c2 = top_leader(&w, &term2);
            if (c2 >= 0)
                for (agree = 1, i = 0; i < N; i += SHARDS) {
                    tidal_control_status st;
                    if (!w.nd[i].up) continue;
                    tidal_control_status_get(tidal_peer_control(w.nd[i].peer), &st);
                    agree &= st.term == term2 && st.has_leader;
                }
            if (agree || w.now >= end || !TT_OK()) break;
        }
        ms[k] = (w.now - t0) / MS;
        rounds[k] = c2 >= 0 ? term2 - term : 0;
        if (!(c2 >= 0 && c2 != c && ms[k] <= 2000 && rounds[k] <= 2) && !bad++)
            bad_seed = tt_seed() + (uint64_t)k;
        sum_rounds += rounds[k];
        if (rounds[k] > max_rounds) max_rounds = rounds[k];
        world_free(&w);
    }
    qsort(ms, FAILOVERS, sizeof ms[0], cmp_i64);
    printf("    new control leader after a crash, %d worlds: min %lld p50 %lld p90 %lld max %lld "
           "ms (simulated); terms per failover mean %.2f max %llu\n", FAILOVERS,
           (long long)ms[0], (long long)ms[FAILOVERS / 2], (long long)ms[FAILOVERS * 9 / 10],
           (long long)ms[FAILOVERS - 1], (double)sum_rounds / FAILOVERS,
           (unsigned long long)max_rounds);
    TT_CHECKF(!bad, "%d of %d failovers took over 2 s or over 2 terms (the first: seed %llu)",
              bad, FAILOVERS, (unsigned long long)bad_seed);
}

/* Reopens node i from its disk with exports sent in chunks of 4096 bytes. */
static void reopen_small_chunks(world *w, int i) {
    tidal_peer_config cfg;
    char msg[300];
    tidal_result r;
    int k;
    for (k = 0; k < g_load.n; k++) /* its calls die with it: their writers try again */
        if (g_load.w[k].ticket && g_load.w[k].node == i) g_load.w[k].ticket = 0;
    tidal_peer_close(w->nd[i].peer);
    peer_config(w, i, &cfg);
    cfg.move_chunk_bytes = 4096;
    msg[0] = 0;
    r = tidal_peer_open(&cfg, &w->nd[i].peer, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "peer %d reopen: %s %s", i, tidal_strerror(r), msg);
    w->nd[i].up = r == TIDAL_OK;
    cfg.move_chunk_bytes = 1000; /* not a multiple of 4096: refused */
    TT_EQ_INT(tidal_peer_open(&cfg, NULL, msg, sizeof msg), TIDAL_ERR_INVALID);
}

/* (a') The same move with exports larger than one INSTALL message: sent in chunks, which
   arrive in any order (the network reorders), gathered and installed once whole. */
static void t_move_in_chunks(void) {
    world w;
    load *ld = &g_load;
    uint64_t gen;
    size_t len = 0;
    int i, s;
    setup(&w);
    load_init(ld, tt_seed());
    steps(&w, ld, 2000 * MS);
    for (i = 0; i < N; i++) reopen_small_chunks(&w, i);
    steps(&w, ld, 1500 * MS);
    for (s = 0; s < SHARDS; s++) {
        int l = group_leader(&w, 3, s);
        TT_CHECK(l >= 0);
        if (l < 0) goto out;
        TT_EQ_INT(tidal_tenant_export(tidal_peer_member(w.nd[l].peer, 3), 2, NULL, 0, &len),
                  TIDAL_ERR_LIMIT);
        TT_CHECKF(len > 2 * 4096, "shard %d: an export of %zu bytes fits in 2 chunks", s, len);
    }
    gen = start_move(&w, ld, ix(0, 1));
    until_done(&w, ld, 30000 * MS);
    drain(&w, ld);
    check_end(&w, ld, gen);
    printf("    exports of %zu bytes and more, in 4096-byte chunks\n", len);
out:
    world_free(&w);
}

/* (e) Refusals: no placement, the owner already, an unknown group, a move in flight. */
static void t_move_refused(void) {
    world w;
    uint64_t t;
    int i = ix(2, 1);
    const tidal_peer_completion *c;
    struct { uint32_t tenant, group; tidal_result want; const char *what; } bad[] = {
        {9, 0, TIDAL_ERR_NOT_FOUND, "no placement"},
        {2, 3, TIDAL_ERR_INVALID, "already"},
        {2, 7, TIDAL_ERR_INVALID, "not in the topology"},
    };
    size_t k;
    setup(&w);
    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        TT_EQ_INT(tidal_peer_move(w.nd[i].peer, bad[k].tenant, bad[k].group, &t), TIDAL_OK);
        c = await(&w, i, t, 3000 * MS);
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == bad[k].want &&
                      strstr(c->message, bad[k].what),
                  "%s: %s", bad[k].what, c ? c->message : "no completion");
    }
    TT_EQ_INT(tidal_peer_move(w.nd[i].peer, 2, 256, &t), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_move(w.nd[i].peer, 2, 0, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_move(w.nd[i].peer, 2, 0, &t), TIDAL_OK);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK);
    TT_EQ_INT(tidal_peer_move(w.nd[ix(0, 0)].peer, 2, 0, &t), TIDAL_OK); /* in flight */
    c = await(&w, ix(0, 0), t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_LIMIT &&
                  strstr(c->message, "in flight"),
              "%s", c ? c->message : "no completion");
    {   /* and an idle cluster finishes it */
        int64_t end = w.now + 20000 * MS;
        while (!all_done(&w) && w.now < end && TT_OK()) run(&w, 50 * MS), w.n_got = 0;
        TT_CHECK(all_done(&w));
    }
    world_free(&w);
}

/* Sets w up, starts moving tenant 2 (group 3 to 0) with no writes, and runs until the
   first message of type was kept off the wire (w.kept, w.kept_len; 120 + 124 bytes). */
static void keep_first_of_move(world *w, uint32_t type) {
    setup(w);
    w->keep_type = type;
    load_init(&g_load, tt_seed());
    g_load.open = 0; /* no writes */
    (void)start_move(w, &g_load, ix(2, 1));
    while (!w->kept_len && w->now < T0 + 30000 * MS && TT_OK()) run(w, 5 * MS), w->n_got = 0;
    TT_CHECK(w->kept_len == 120 + 124);
}

/* (f) A coordinator's DIGEST_Q, truncated, bit-flipped and resealed with bad fields. */
static void t_malformed_refused(void) {
    world w;
    uint8_t b[4096];
    size_t len, k;
    tidal_peer_message m;
    char why[200];
    keep_first_of_move(&w, TIDAL_PEER_MSG_DIGEST_Q);
    if (w.kept_len != 244) goto out;
    len = w.kept_len;
    TT_EQ_INT(tidal_peer_message_decode(w.kept, len, &m, why, sizeof why), TIDAL_OK);
    TT_CHECK(m.type == TIDAL_PEER_MSG_DIGEST_Q && m.tenant == 2 && m.source == 3 &&
             m.target == 0 && m.move > 0 && m.flags <= 1);
    for (k = 0; k < len; k += k < 130 ? 1 : 11) {
        TT_CHECK(tidal_peer_message_decode(w.kept, k, &m, why, sizeof why) == TIDAL_ERR_CORRUPT);
        if (k == 0 || k == 119 || k == 121 || k == len - 1)
            expect_refused(&w, w.kept, k, "truncated");
    }
    for (k = 0; k < len * 8; k += 17) {
        memcpy(b, w.kept, len);
        b[k / 8] ^= (uint8_t)(1u << (k % 8));
        TT_CHECK(tidal_peer_message_decode(b, len, &m, why, sizeof why) == TIDAL_ERR_CORRUPT);
        if (k % 136 == 0) expect_refused(&w, b, len, "flipped bit");
    }
    {
        const peer_bad_byte bad[] = {
            {8, 99, "unknown message type"}, {24, 1, "hops"}, {120 + 5, 1, "above 255"},
            {120 + 8, 3, "source equals target"}, {120 + 40, 0x80, "flag"},
            {120 + 64, 1, "does not carry"}, {120 + 24, 1, "does not carry"},
            {120 + 44, 9, "does not carry"}, {120 + 14, 1, "shard"},
        };
        expect_bad_bytes(&w, bad, sizeof bad / sizeof bad[0]);
    }
    /* The move goes on unharmed. */
    {
        int64_t end = w.now + 20000 * MS;
        while (!all_done(&w) && w.now < end && TT_OK()) run(&w, 50 * MS), w.n_got = 0;
        TT_CHECK(all_done(&w));
    }
out:
    world_free(&w);
}

/* (f') A SEALED (take-over: a sealed source member to the target members of its shard),
   kept off the wire during a move: it decodes with its fields; truncated, bit-flipped and
   resealed with fields it does not carry, it is refused naming what and where. */
static void t_sealed_malformed(void) {
    world w;
    size_t k;
    tidal_peer_message m;
    char why[200];
    keep_first_of_move(&w, TIDAL_PEER_MSG_SEALED);
    if (w.kept_len != 244) goto out;
    TT_EQ_INT(tidal_peer_message_decode(w.kept, w.kept_len, &m, why, sizeof why), TIDAL_OK);
    TT_CHECKF(m.type == TIDAL_PEER_MSG_SEALED && m.tenant == 2 && m.source == 3 &&
                  m.target == 0 && m.move > 0 && m.gen > m.move && m.hops == 0 && !m.flags,
              "SEALED: tenant %u source %u target %u move %llu gen %llu", m.tenant, m.source,
              m.target, (unsigned long long)m.move, (unsigned long long)m.gen);
    for (k = 0; k < w.kept_len; k += 7)
        TT_CHECK(tidal_peer_message_decode(w.kept, k, &m, why, sizeof why) == TIDAL_ERR_CORRUPT);
    expect_refused(&w, w.kept, 130, "truncated");
    {
        const peer_bad_byte bad[] = {
            {24, 1, "hops"}, {120 + 32, 1, "does not carry"}, {120 + 40, 1, "does not carry"},
            {120 + 44, 1, "does not carry"}, {120 + 96, 1, "does not carry"},
            {120 + 8, 3, "source equals target"}, {120 + 14, 1, "shard"},
        };
        expect_bad_bytes(&w, bad, sizeof bad / sizeof bad[0]);
    }
    {   /* the move goes on unharmed */
        int64_t end = w.now + 20000 * MS;
        while (!all_done(&w) && w.now < end && TT_OK()) run(&w, 50 * MS), w.n_got = 0;
        TT_CHECK(all_done(&w));
    }
out:
    world_free(&w);
}

/* The overflow an install chunk hit: a durable database's first event after an open (the
   batch empty), a little under the 4096 bytes of the batch buffer, left no room for the
   112-byte batch header (tidal__batch_add checked the room before counting it). Session
   notes of 3850 to 3990 bytes, each the first event after a reopen: the asan build caught
   the write past the buffer. */
static void t_batch_header_room(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_seed());
    tidal_sim_env env;
    tidal_signal_def sig;
    tidal_config cfg;
    tidal_db *db = NULL;
    tidal_id session = 0;
    static char note[TIDAL_NOTE_MAX + 1];
    size_t n;
    tidal_sim_env_init(&env, d, T0, 5);
    memset(&cfg, 0, sizeof cfg);
    memset(&sig, 0, sizeof sig);
    sig.name = "view", sig.half_life_s = 3600;
    cfg.schema.signals = &sig, cfg.schema.signal_count = 1;
    cfg.env = &env.env;
    cfg.path = "db";
    TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
    TT_EQ_INT(tidal_session_start(db, 1, 7, 0, &session), TIDAL_OK);
    for (n = 3850; n <= 3990 && TT_OK(); n += 5) {
        tidal_db_close(db);
        db = NULL;
        TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
        if (!db) break;
        memset(note, 'a' + (int)(n % 26), n);
        note[n] = 0;
        TT_EQ_INT(tidal_session_note(db, 1, session, n, note, NULL), TIDAL_OK);
    }
    tidal_db_close(db);
    tidal_sim_disk_free(d);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_batch_header_room),
    TT_CASE(t_move_with_writes),
    TT_CASE(t_move_in_chunks),
    TT_CASE(t_move_refused),
    TT_CASE(t_malformed_refused),
    TT_CASE(t_sealed_malformed),
    TT_CASE(t_coordinator_crash),
    TT_CASE(t_source_leader_crash),
    TT_CASE(t_coordinator_partitioned),
    TT_CASE(t_coordinator_isolated),
    TT_CASE(t_coordinator_cut_keeps_majority),
    TT_CASE(t_takeover_leader_crash),
    TT_CASE(t_gather_after_takeover),
    TT_CASE(t_control_failover),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
