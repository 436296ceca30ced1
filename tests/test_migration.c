/* test_migration.c - moving a tenant to another placement (DESIGN 5.1, 5.7) on the simulated
   cluster: 3 regions x 2 shards, availability mode on, two tenants under a steady write
   load, tenant 5 moved from every region to eu-west (region 1) alone, then back to every
   region. What must hold (checked in every case):
     - no failed write: a write refused because the tenant is moving (TIDAL_ERR_MOVED) or
       because a leader changed is retried by the client and then succeeds; every write
       that returned OK is in the final state exactly once (per-item counts equal the
       oracle, on every member of the owning group);
     - no failed read: a scatter-gather over the owning group answers at every tick;
     - one owner: the published owner changes exactly once per move (at SWITCH), and the
       tenant's state is only ever taken by the group routing names;
     - the old copy is collected: every member of the old group holds nothing of the
       tenant (entities, sessions, bytes all 0), and no file in the old group's directory
       on any of its nodes holds the tenant's marker (a 16-byte attribute value written
       on every shard at the start), while the other tenant's marker is still there;
     - the control plane record survives: the phase only moves forward.
   Cases: a clean move and back; a crash of each involved node (source leader, target
   leader, control plane leader) at each phase (copy, seal, switch), restarted 2 s later;
   a partition that cuts the target region off during the copy.
   Everything runs in simulated time; no assertion depends on wall-clock timing. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define MS INT64_C(1000000)
#define SEC (1000 * MS)
#define NREG 3
#define NSHARD 2
#define ITEMS 120u
#define MOVER 5u  /* the tenant that moves */
#define STAYER 6u /* the tenant that stays */
#define EU_WEST 1u

static tidal_signal_def g_sigs[1];

typedef struct mv {
    tidal_sim_cluster *c;
    uint64_t rng;
    uint32_t written[2][ITEMS + 1]; /* OK writes per (tenant, item) */
    uint32_t queued[2][ITEMS + 1];  /* writes waiting for a retry */
    uint64_t ok, retries, reads, reads_failed, moved_refusals;
    int quiet; /* no new writes (queued ones are still retried) */
    uint32_t owner_changes, last_owner;
    int last_phase;
    int64_t t0;
} mv;

static uint64_t mv_rand(mv *m) {
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static const uint32_t g_placements[1] = {1u << EU_WEST};

static tidal_sim_cluster *mv_cluster(uint64_t seed) {
    tidal_sim_cluster_config cfg;
    memset(g_sigs, 0, sizeof g_sigs);
    g_sigs[0].name = "view";
    g_sigs[0].half_life_s = 3600;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = NREG;
    cfg.shards = NSHARD;
    cfg.seed = seed;
    cfg.schema.signals = g_sigs;
    cfg.schema.signal_count = 1;
    cfg.availability_mode = 1;
    cfg.placements = g_placements; /* the groups the moves go to */
    cfg.placement_count = 1;
    return tidal_sim_cluster_new(&cfg);
}

/* Tenant t's marker on shard s: exactly 16 bytes, held by every file that holds the
   tenant's state (its attribute) or its log from the start. */
static void mv_marker(char out[17], uint32_t t, uint32_t s) {
    snprintf(out, 17, "MARK%02u-SHARD%02u-Z", t, s);
    TT_EQ_INT(strlen(out), 16);
}

/* An entity of tenant t that lives on shard s. */
static tidal_id mv_marker_entity(uint32_t t, uint32_t s) {
    tidal_id e = 1000;
    while (tidal_route(t, e, NSHARD) != s) e++;
    return e;
}

/* Writes both tenants' markers on every shard (through the routing, retried until taken). */
static void mv_markers(mv *m) {
    uint32_t t, s, left = 2 * NSHARD, tries;
    int done[2][NSHARD];
    memset(done, 0, sizeof done);
    for (tries = 0; left && tries < 1000; tries++) {
        tidal_sim_cluster_run(m->c, tidal_sim_cluster_now(m->c) + 10 * MS);
        for (t = 0; t < 2; t++)
            for (s = 0; s < NSHARD; s++) {
                char v[17];
                int l = tidal_sim_cluster_tenant_leader(m->c, MOVER + t, (uint16_t)s);
                tidal_db *db = l < 0 ? NULL
                                     : tidal_sim_cluster_tenant_db(m->c, MOVER + t, (uint16_t)l,
                                                                   (uint16_t)s);
                tidal_id e = mv_marker_entity(MOVER + t, s);
                if (done[t][s] || !db) continue;
                mv_marker(v, MOVER + t, s);
                if (tidal_attr_set(db, MOVER + t, e, "mark", v, NULL) == TIDAL_OK)
                    done[t][s] = 1, left--;
            }
    }
    TT_CHECKF(left == 0, "%u markers never written", left);
}

/* Files in group g's directory on node (r, s) that hold tenant t's marker of shard s. */
static uint32_t mv_files_holding(mv *m, uint32_t g, uint32_t r, uint32_t s, uint32_t t) {
    static char names[256][128];
    tidal_sim_disk *d = tidal_sim_cluster_disk(m->c, (uint16_t)r, (uint16_t)s);
    char dir[32], v[17], path[200];
    uint32_t n, i, hits = 0;
    snprintf(dir, sizeof dir, "node/g%u", g); /* tidal_sim.h's member directories */
    mv_marker(v, t, s);
    n = tidal_sim_disk_list(d, dir, names, 256);
    TT_CHECK(n > 0 && n <= 256);
    for (i = 0; i < n && i < 256; i++) {
        uint8_t *p = NULL;
        size_t len = 0, k;
        snprintf(path, sizeof path, "%.31s/%.127s", dir, names[i]);
        if (tidal_sim_disk_read(d, path, &p, &len) != TIDAL_OK) continue; /* a directory */
        for (k = 0; k + 16 <= len; k++)
            if (p[k] == 'M' && !memcmp(p + k, v, 16)) {
                hits++;
                break;
            }
        free(p);
    }
    return hits;
}

/* After a move from old_group: no file of an old-group member holds the mover's marker;
   the stayer's (a positive control for the scan) is still there when it lives there. */
static void mv_check_files(mv *m, uint32_t old_group) {
    uint32_t r, s;
    for (r = 0; r < NREG; r++)
        for (s = 0; s < NSHARD; s++) {
            uint32_t n;
            if (!(tidal_sim_cluster_group_placement(m->c, old_group) >> r & 1u)) continue;
            n = mv_files_holding(m, old_group, r, s, MOVER);
            TT_CHECKF(n == 0, "region %u shard %u: %u files of the old group still hold the moved "
                      "tenant", r, s, n);
            if (tidal_sim_cluster_tenant_group(m->c, STAYER) == old_group)
                TT_CHECKF(mv_files_holding(m, old_group, r, s, STAYER) > 0,
                          "region %u shard %u: the other tenant's marker is in no file (the scan "
                          "is blind)", r, s);
        }
}

static void mv_init(mv *m) {
    tidal_tenant_config tc;
    uint32_t t;
    memset(m, 0, sizeof *m);
    m->rng = tt_seed() | 1;
    m->c = mv_cluster(tt_seed());
    TT_CHECK(m->c != NULL);
    for (t = MOVER; t <= STAYER; t++) {
        memset(&tc, 0, sizeof tc);
        tc.tenant = t;
        tc.config_version = 1;
        TT_EQ_INT(tidal_sim_cluster_tenant_set(m->c, &tc), TIDAL_OK);
    }
    mv_markers(m);
    m->t0 = tidal_sim_cluster_now(m->c);
    m->last_owner = tidal_sim_cluster_tenant_group(m->c, MOVER);
}

/* One write to the leader of its item's shard in the tenant's owning group: 1 if it was
   taken. MOVED and READ_ONLY (a leader changed, or no leader) are retried later. */
static int mv_write(mv *m, uint32_t t, uint32_t item) {
    tidal_signal s;
    uint16_t sh = (uint16_t)tidal_route(t, item, NSHARD);
    int l = tidal_sim_cluster_tenant_leader(m->c, t, sh);
    tidal_db *db = l < 0 ? NULL : tidal_sim_cluster_tenant_db(m->c, t, (uint16_t)l, sh);
    tidal_result r;
    if (!db) return 0;
    memset(&s, 0, sizeof s);
    s.tenant = t;
    s.item = item;
    s.weight = 1.0;
    r = tidal_signal_write(db, &s, NULL);
    if (r == TIDAL_OK) {
        m->written[t - MOVER][item]++;
        m->ok++;
        return 1;
    }
    if (r == TIDAL_ERR_MOVED) m->moved_refusals++;
    TT_CHECKF(r == TIDAL_ERR_MOVED || r == TIDAL_ERR_READ_ONLY || r == TIDAL_ERR_UNAVAILABLE,
              "write refused with %s", tidal_strerror(r));
    return 0;
}

/* Every 10 ms: two new writes per tenant, the queued ones retried; a gather over the
   owning group (any live member per shard) must answer. Also watches the owner. */
static void mv_tick(mv *m) {
    uint32_t t, i, k;
    tidal_sim_tenant_info info;
    for (t = 0; t < 2; t++) {
        for (k = 0; k < 2 && !m->quiet; k++) m->queued[t][1 + mv_rand(m) % ITEMS]++;
        for (i = 1; i <= ITEMS; i++)
            while (m->queued[t][i] && mv_write(m, MOVER + t, i)) m->queued[t][i]--;
        for (i = 1; i <= ITEMS; i++) m->retries += m->queued[t][i];
    }
    {
        tidal_db *sh[NSHARD];
        tidal_query q;
        tidal_hit hits[20];
        uint32_t n = 0, s, r;
        memset(&q, 0, sizeof q);
        q.tenant = MOVER;
        q.limit = 20;
        for (s = 0; s < NSHARD; s++) {
            sh[s] = NULL;
            for (r = 0; r < NREG && !sh[s]; r++) sh[s] = tidal_sim_cluster_tenant_db(m->c, MOVER, (uint16_t)r, (uint16_t)s);
        }
        m->reads++;
        if (tidal_retrieve_gather(sh, NSHARD, 0, &q, hits, 20, &n, NULL) != TIDAL_OK) m->reads_failed++;
    }
    TT_EQ_INT(tidal_sim_cluster_tenant(m->c, MOVER, &info), TIDAL_OK);
    if (info.group != m->last_owner) {
        TT_CHECKF(info.phase == TIDAL_SIM_MOVE_SWITCH, "the owner changed in phase %d", info.phase);
        m->owner_changes++;
        m->last_owner = info.group;
    }
    if (info.phase != m->last_phase) {
        TT_CHECKF(info.phase == m->last_phase + 1 || (m->last_phase == TIDAL_SIM_MOVE_DONE && info.phase == TIDAL_SIM_MOVE_COPY),
                  "phase went from %d to %d", m->last_phase, info.phase);
        m->last_phase = info.phase;
    }
}

static void mv_run(mv *m, int64_t ns) {
    int64_t end = tidal_sim_cluster_now(m->c) + ns;
    while (tidal_sim_cluster_now(m->c) < end) {
        tidal_sim_cluster_run(m->c, tidal_sim_cluster_now(m->c) + 10 * MS);
        mv_tick(m);
    }
}

/* Runs until the mover's migration is DONE (or the limit): 1 if it finished. */
static int mv_until_done(mv *m, int64_t limit_ns) {
    int64_t end = tidal_sim_cluster_now(m->c) + limit_ns;
    tidal_sim_tenant_info info;
    while (tidal_sim_cluster_now(m->c) < end) {
        mv_run(m, 10 * MS);

        if (tidal_sim_cluster_tenant(m->c, MOVER, &info) == TIDAL_OK && info.phase == TIDAL_SIM_MOVE_DONE &&
            info.done_ns) { /* this move's DONE (migrate() clears done_ns) */
            mv_check_files(m, info.target); /* at DONE already, not only once things settle */
            return 1;
        }
    }
    return 0;
}

static uint32_t mv_phase(mv *m) {
    tidal_sim_tenant_info info;
    TT_EQ_INT(tidal_sim_cluster_tenant(m->c, MOVER, &info), TIDAL_OK);
    return (uint32_t)info.phase;
}

/* The end: queued writes drained, every member of each tenant's group equal to the
   oracle, old copies collected, no failed read. */
static void mv_check(mv *m, uint32_t old_group) {
    uint32_t t, i, r, s, left = 0;
    m->quiet = 1;
    mv_run(m, 3 * SEC); /* the last writes replicate */
    m->quiet = 0;
    for (t = 0; t < 2; t++)
        for (i = 1; i <= ITEMS; i++) left += m->queued[t][i];
    TT_CHECKF(left == 0, "%u writes never succeeded", left);
    TT_EQ_INT(m->reads_failed, 0);
    for (t = 0; t < 2; t++) {
        uint32_t g = tidal_sim_cluster_tenant_group(m->c, MOVER + t);
        for (r = 0; r < NREG; r++)
            for (s = 0; s < NSHARD; s++) {
                tidal_db *db = tidal_sim_cluster_group_db(m->c, g, (uint16_t)r, (uint16_t)s);
                uint32_t bad = 0, first = 0;
                if (!(tidal_sim_cluster_group_placement(m->c, g) >> r & 1u)) {
                    TT_CHECK(db == NULL);
                    continue;
                }
                TT_CHECK(db != NULL);
                if (!db) continue;
                for (i = 1; i <= ITEMS; i++) {
                    tidal_signal_stats st;
                    if (tidal_route(MOVER + t, i, NSHARD) != s) continue;
                    TT_EQ_INT(tidal_signal_read(db, MOVER + t, i, 0, NULL, 0, &st), TIDAL_OK);
                    if (st.count[TIDAL_W_ALL] != m->written[t][i] && !bad++) first = i;
                }
                TT_CHECKF(bad == 0, "tenant %u region %u shard %u: %u items differ from the oracle (first %u)",
                          MOVER + t, r, s, bad, first);
            }
    }
    for (r = 0; r < NREG; r++)
        for (s = 0; s < NSHARD; s++) {
            tidal_db *db = tidal_sim_cluster_group_db(m->c, old_group, (uint16_t)r, (uint16_t)s);
            uint64_t ents = 1, sess = 1, bytes = 1;
            if (!db) continue;
            TT_EQ_INT(tidal_tenant_footprint(db, MOVER, &ents, &sess, &bytes), TIDAL_OK);
            TT_CHECKF(ents == 0 && sess == 0 && bytes == 0, "old copy on region %u shard %u: %llu entities, %llu bytes",
                      r, s, (unsigned long long)ents, (unsigned long long)bytes);
        }
    mv_check_files(m, old_group);
}

/* A cluster under load for warm_ns, then the mover's move to eu-west asked for: returns
   the group it leaves (m->c NULL when the cluster could not be built). */
static uint32_t mv_start(mv *m, int64_t warm_ns) {
    uint32_t g0;
    mv_init(m);
    if (!m->c) return 0;
    mv_run(m, warm_ns);
    g0 = tidal_sim_cluster_tenant_group(m->c, MOVER);
    TT_EQ_INT(tidal_sim_cluster_migrate(m->c, MOVER, 1u << EU_WEST), TIDAL_OK);
    return g0;
}

/* A clean move to eu-west and back, under load. */
static void t_move_and_back(void) {
    mv m;
    tidal_sim_tenant_info info;
    uint32_t g0 = mv_start(&m, 2 * SEC), g1;
    if (!m.c) return;
    TT_EQ_INT(tidal_sim_cluster_migrate(m.c, MOVER, 1u << EU_WEST), TIDAL_ERR_LIMIT); /* one at a time */
    TT_CHECK(mv_until_done(&m, 30 * SEC));
    g1 = tidal_sim_cluster_tenant_group(m.c, MOVER);
    TT_CHECK(g1 != g0 && tidal_sim_cluster_group_placement(m.c, g1) == 1u << EU_WEST);
    TT_EQ_INT(m.owner_changes, 1);
    TT_CHECK(m.moved_refusals > 0); /* the seal held some writes back: they were retried */
    mv_check(&m, g0);
    TT_EQ_INT(tidal_sim_cluster_tenant(m.c, MOVER, &info), TIDAL_OK);
    printf("  moved in %.0f ms (switch at %.0f ms), %llu writes, %llu retried, %llu copies, %llu forwarded\n",
           (double)(info.done_ns - info.start_ns) / 1e6, (double)(info.switch_ns - info.start_ns) / 1e6,
           (unsigned long long)m.ok, (unsigned long long)m.retries, (unsigned long long)info.copies,
           (unsigned long long)info.forwarded);
    /* and back to every region */
    TT_EQ_INT(tidal_sim_cluster_migrate(m.c, MOVER, (1u << NREG) - 1), TIDAL_OK);
    TT_CHECK(mv_until_done(&m, 30 * SEC));
    TT_EQ_INT(tidal_sim_cluster_tenant_group(m.c, MOVER), g0);
    TT_EQ_INT(m.owner_changes, 2);
    mv_check(&m, g1);
    tidal_sim_cluster_free(m.c);
}

/* A crash of one involved node when a phase is first published; it restarts 2 s later.
   who: 0 the source group's leader of shard 0, 1 the target's, 2 the control plane's. */
static void crash_at(uint32_t phase, int who) {
    mv m;
    uint32_t g0 = mv_start(&m, 1 * SEC), g1;
    int crashed = 0;
    int64_t end;
    if (!m.c) return;
    end = tidal_sim_cluster_now(m.c) + 60 * SEC;
    while (tidal_sim_cluster_now(m.c) < end && (mv_phase(&m) != TIDAL_SIM_MOVE_DONE || !crashed)) {
        mv_run(&m, 10 * MS);
        if (!crashed && mv_phase(&m) == phase) {
            tidal_sim_tenant_info info;
            int r;
            uint16_t sh = 0;
            TT_EQ_INT(tidal_sim_cluster_tenant(m.c, MOVER, &info), TIDAL_OK);
            g1 = phase == TIDAL_SIM_MOVE_SWITCH ? info.target : info.group; /* the source */
            if (who == 1) g1 = phase == TIDAL_SIM_MOVE_SWITCH ? info.group : info.target;
            r = who == 2 ? tidal_sim_cluster_group_leader(m.c, TIDAL_SIM_CONTROL_GROUP, 0)
                         : tidal_sim_cluster_group_leader(m.c, g1, sh);
            if (r < 0) continue;
            tidal_sim_cluster_crash(m.c, (uint16_t)r, sh);
            mv_run(&m, 2 * SEC);
            TT_EQ_INT(tidal_sim_cluster_restart(m.c, (uint16_t)r, sh), TIDAL_OK);
            crashed = 1;
        }
    }
    TT_CHECKF(crashed, "phase %u never seen", phase);
    TT_CHECKF(mv_phase(&m) == TIDAL_SIM_MOVE_DONE, "the move did not finish (phase %u)", mv_phase(&m));
    TT_EQ_INT(m.owner_changes, 1);
    mv_check(&m, g0);
    tidal_sim_cluster_free(m.c);
}

static void t_crash_source_leader(void) {
    crash_at(TIDAL_SIM_MOVE_COPY, 0);
    crash_at(TIDAL_SIM_MOVE_SEAL, 0);
    crash_at(TIDAL_SIM_MOVE_SWITCH, 0);
}
static void t_crash_target_leader(void) {
    crash_at(TIDAL_SIM_MOVE_COPY, 1);
    crash_at(TIDAL_SIM_MOVE_SEAL, 1);
    crash_at(TIDAL_SIM_MOVE_SWITCH, 1);
}
static void t_crash_control_leader(void) {
    crash_at(TIDAL_SIM_MOVE_COPY, 2);
    crash_at(TIDAL_SIM_MOVE_SEAL, 2);
    crash_at(TIDAL_SIM_MOVE_SWITCH, 2);
}

/* The target region is cut off during the copy: the move waits (reads and writes go on
   at the source), and finishes after the heal. */
static void t_partition_during_copy(void) {
    mv m;
    uint32_t g0 = mv_start(&m, 1 * SEC), part;
    if (!m.c) return;
    while (mv_phase(&m) != TIDAL_SIM_MOVE_COPY) mv_run(&m, 10 * MS);
    part = tidal_sim_net_isolate_region(tidal_sim_cluster_net(m.c), EU_WEST);
    mv_run(&m, 5 * SEC);
    TT_CHECK(mv_phase(&m) < TIDAL_SIM_MOVE_SWITCH); /* it cannot switch to a region it cannot see */
    TT_EQ_INT(tidal_sim_cluster_tenant_group(m.c, MOVER), g0);
    tidal_sim_net_heal(tidal_sim_cluster_net(m.c), part);
    TT_CHECK(mv_until_done(&m, 60 * SEC));
    TT_EQ_INT(m.owner_changes, 1);
    mv_check(&m, g0);
    tidal_sim_cluster_free(m.c);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_move_and_back),
    TT_CASE(t_crash_source_leader),
    TT_CASE(t_crash_target_leader),
    TT_CASE(t_crash_control_leader),
    TT_CASE(t_partition_during_copy),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
