/* demo.c - `make demo`: a 3-region replica group in the simulator, narrated.
   us-east leads; signals are written and shipped to eu-west and ap-south; the leader
   crashes; the followers elect a new leader, which takes writes; the old leader comes
   back, recovers from its log and rejoins. Then ap-south is cut off: both sides keep
   taking writes (ap-south in availability mode, acknowledged LOCAL; its QUORUM waits give
   up with UNAVAILABLE), a client retries one write on the other side, and a user hides an
   item; when the partition heals, anti-entropy brings every replica to the state of a
   single node that applied the union of all events: nothing lost, nothing counted twice.
   Everything runs in virtual time inside this process, deterministically (seed below). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS INT64_C(1000000)

static const char *const region_name[3] = {"us-east", "eu-west", "ap-south"};
static int64_t t_start;

static void say(tidal_sim_cluster *c, const char *fmt, const char *a, const char *b) {
    printf("  t=%7.3fs  ", (double)(tidal_sim_cluster_now(c) - t_start) / 1e9);
    printf(fmt, a, b);
    printf("\n");
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Writes n signals on region r in batches of 50, running the cluster 5 ms between
   batches; returns the lsn of the last write. */
static uint64_t write_load(tidal_sim_cluster *c, uint16_t r, int n, uint64_t *rng) {
    tidal_db *db = tidal_sim_cluster_db(c, r, 0);
    tidal_signal s;
    tidal_receipt rc;
    int i;
    memset(&s, 0, sizeof s);
    memset(&rc, 0, sizeof rc);
    for (i = 0; i < n; i++) {
        if (i % 50 == 0) tidal_db_batch_begin(db);
        s.item = 1 + splitmix(rng) % 200;
        s.type = (uint32_t)(splitmix(rng) % 2);
        s.weight = 1.0;
        s.user = 1000 + splitmix(rng) % 50;
        if (tidal_signal_write(db, &s, &rc) != TIDAL_OK) {
            fprintf(stderr, "write failed: %s\n", tidal_errmsg(db));
            exit(1);
        }
        if (i % 50 == 49 || i == n - 1) {
            tidal_db_commit(db);
            tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 5 * MS);
        }
    }
    return rc.lsn;
}

static int caught_up(tidal_sim_cluster *c, int leader) {
    uint16_t r;
    tidal_db *l = tidal_sim_cluster_db(c, (uint16_t)leader, 0);
    for (r = 0; r < 3; r++) {
        tidal_node_status st;
        tidal_db *db = tidal_sim_cluster_db(c, r, 0);
        if (r == leader) continue;
        if (!db || tidal_node_status_get(db, &st) != TIDAL_OK) return 0;
        if (st.leader_lsn != tidal_db_durable_lsn(l) || st.lag_events) return 0;
    }
    return 1;
}

static void show_replicas(tidal_sim_cluster *c) {
    uint16_t r;
    for (r = 0; r < 3; r++) {
        tidal_db *db = tidal_sim_cluster_db(c, r, 0);
        tidal_node_status st;
        tidal_hit hits[3];
        uint32_t n = 0;
        uint8_t d[32];
        if (!db) {
            printf("               %-8s  down\n", region_name[r]);
            continue;
        }
        tidal_node_status_get(db, &st);
        tidal_db_digest(db, TIDAL_ALL_TENANTS, d);
        tidal_retrieve_text(db, "RETRIEVE items SIGNAL view LIMIT 3", hits, 3, &n, NULL);
        printf("               %-8s  %-8s epoch %llu  log %6llu  digest %02x%02x%02x%02x  top item %llu (%.2f)\n",
               region_name[r], st.role == TIDAL_ROLE_LEADER ? "leader" : "follower",
               (unsigned long long)st.epoch, (unsigned long long)st.durable_lsn, d[0], d[1], d[2], d[3],
               (unsigned long long)(n ? hits[0].item : 0), n ? hits[0].score : 0.0);
    }
}

static int digests_equal(tidal_sim_cluster *c, uint8_t out[32]) {
    uint8_t d[32];
    uint16_t r;
    int same = 1;
    tidal_db_digest(tidal_sim_cluster_db(c, 0, 0), TIDAL_ALL_TENANTS, out);
    for (r = 1; r < 3; r++) {
        tidal_db *db = tidal_sim_cluster_db(c, r, 0);
        if (!db) return 0;
        tidal_db_digest(db, TIDAL_ALL_TENANTS, d);
        same &= !memcmp(d, out, 32);
    }
    return same;
}

/* ap-south is cut off; both sides write; the partition heals; every replica converges to
   the union of all events, checked against one node that applied exactly that union. */
static int partition_phase(tidal_sim_cluster *c, int leader, uint64_t *rng) {
    tidal_db *south, *lead;
    tidal_signal s;
    tidal_receipt rc_south, rc_a, rc_b;
    tidal_result st;
    tidal_db *truth = NULL;
    uint8_t d[32], dt[32];
    uint32_t h;
    int64_t t0;
    int same, hidden_ok = 1;
    char buf[96];
    uint16_t r;

    h = tidal_sim_net_isolate_region(tidal_sim_cluster_net(c), 2);
    say(c, "PARTITION: %s is cut off from %s", "ap-south", "us-east and eu-west");
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 1500 * MS);
    lead = tidal_sim_cluster_db(c, (uint16_t)leader, 0);
    south = tidal_sim_cluster_db(c, 2, 0);
    if (leader == 2) { /* the leader was cut off: the majority elects another */
        while ((leader = tidal_sim_cluster_leader(c, 0)) == 2 || leader < 0)
            tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + MS);
        lead = tidal_sim_cluster_db(c, (uint16_t)leader, 0);
    }
    (void)write_load(c, (uint16_t)leader, 2000, rng);
    say(c, "%s (majority side) takes 2,000 signals%s", region_name[leader], ", QUORUM-acknowledged");
    (void)write_load(c, 2, 1000, rng);
    say(c, "%s (cut off, availability mode) takes 1,000 signals as its own origin%s", "ap-south",
        ", LOCAL-acknowledged");

    /* One write whose client never hears back on ap-south, retried on the majority side
       with the same idempotency key: one event id, counted once. */
    memset(&s, 0, sizeof s);
    s.item = 7;
    s.weight = 1.0;
    s.user = 1001;
    s.idem.key = "order-7731";
    s.idem.key_len = 10;
    s.idem.seq = 1;
    s.time_ns = tidal_sim_cluster_env(c, 2, 0)->now_ns; /* the client's clock: its retry repeats it */
    tidal_signal_write(south, &s, &rc_a);
    tidal_signal_write(lead, &s, &rc_b);
    say(c, "a client retries write 'order-7731' on %s after ap-south went silent: %s", region_name[leader],
        rc_a.id.hi == rc_b.id.hi && rc_a.id.lo == rc_b.id.lo ? "same event id on both sides" : "DIFFERENT ids");
    tidal_negative_add(south, 0, 1001, TIDAL_HIDE, 7, NULL);
    say(c, "user 1001 hides item 7 on %s%s", "ap-south", "");

    s.idem.key = NULL;
    s.idem.key_len = 0;
    tidal_signal_write(south, &s, &rc_south);
    t0 = tidal_sim_cluster_now(c);
    while ((st = tidal_write_status(south, &rc_south, TIDAL_ACK_QUORUM)) == TIDAL_PENDING)
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 10 * MS);
    snprintf(buf, sizeof buf, "%s after %.1f s (LOCAL: %s)", tidal_strerror(st),
             (double)(tidal_sim_cluster_now(c) - t0) / 1e9,
             tidal_write_status(south, &rc_south, TIDAL_ACK_LOCAL) == TIDAL_OK ? "ok" : "no");
    say(c, "a QUORUM write on %s: %s", "ap-south", buf);
    show_replicas(c);
    {
        char health[1024];
        const char *p;
        (void)tidal_sim_cluster_health(c, 1000 * MS, health, sizeof health);
        printf("               health: ");
        for (p = health; *p; p++) /* one line per shard and region, indented */
            if (*p != '\n') putchar(*p);
            else if (p[1]) printf("\n                       ");
        printf("\n");
    }

    tidal_sim_net_heal(tidal_sim_cluster_net(c), h);
    t0 = tidal_sim_cluster_now(c);
    say(c, "HEAL: the sides exchange version vectors and send each other what the other lacks%s%s", "", "");
    while (!digests_equal(c, d) || !caught_up(c, tidal_sim_cluster_leader(c, 0)))
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + MS);
    snprintf(buf, sizeof buf, "%.0f ms", (double)(tidal_sim_cluster_now(c) - t0) / 1e6);
    say(c, "reconciled %s after the heal; leader: %s", buf, region_name[tidal_sim_cluster_leader(c, 0)]);
    for (r = 0; r < 3; r++) {
        int hidden = 0;
        tidal_negative_check(tidal_sim_cluster_db(c, r, 0), 0, 1001, 7, &hidden);
        hidden_ok &= hidden;
    }
    say(c, "item 7 hidden for user 1001 in every region: %s%s", hidden_ok ? "yes" : "NO", "");
    show_replicas(c);

    if (tidal_sim_cluster_truth(c, NULL, NULL, &truth) != TIDAL_OK) return 1;
    tidal_db_digest(truth, TIDAL_ALL_TENANTS, dt);
    same = digests_equal(c, d) && !memcmp(d, dt, 32);
    printf("\n  %s: the three replicas hold byte-identical state, equal to one node that applied the\n"
           "  union of all %u events written anywhere (BLAKE3 digests equal).\n",
           same ? "converged" : "NOT CONVERGED", tidal_sim_cluster_events(c));
    tidal_db_close(truth);
    tidal_sim_cluster_free(c);
    return same && hidden_ok ? 0 : 1;
}

int main(void) {
    tidal_signal_def sigs[2];
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    uint64_t rng = 2026, lsn;
    int64_t t0;
    int leader = -1;
    char buf[64];

    memset(sigs, 0, sizeof sigs);
    sigs[0].name = "view";
    sigs[0].half_life_s = 3600;
    sigs[1].name = "like";
    sigs[1].half_life_s = 86400;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = 3;
    cfg.shards = 1;
    cfg.seed = 2026;
    cfg.schema.signals = sigs;
    cfg.schema.signal_count = 2;
    cfg.availability_mode = 1;
    c = tidal_sim_cluster_new(&cfg);
    if (!c) return 1;
    t_start = tidal_sim_cluster_now(c);

    printf("tidal demo: one replica group across 3 regions, simulated (seed %llu)\n",
           (unsigned long long)cfg.seed);
    printf("  network: 0.1-2 ms inside a region, 20-150 ms between regions; heartbeat 100 ms;\n"
           "  election timeout 1 s (staggered by region); every node has its own simulated disk with a WAL\n\n");
    say(c, "%s leads epoch 1; %s follow", "us-east", "eu-west and ap-south");

    lsn = write_load(c, 0, 5000, &rng);
    say(c, "wrote 5,000 signals on %s%s", "us-east", " (batches of 50, each one fdatasync)");
    t0 = tidal_sim_cluster_now(c);
    while (!caught_up(c, 0) || !tidal_write_acked(tidal_sim_cluster_db(c, 0, 0), lsn, TIDAL_ACK_QUORUM))
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + MS);
    snprintf(buf, sizeof buf, "%.0f ms", (double)(tidal_sim_cluster_now(c) - t0) / 1e6);
    say(c, "followers caught up %s after the last write; QUORUM ack: %s", buf,
        tidal_write_acked(tidal_sim_cluster_db(c, 0, 0), lsn, TIDAL_ACK_QUORUM) ? "yes" : "no");
    show_replicas(c);

    tidal_sim_cluster_crash(c, 0, 0);
    t0 = tidal_sim_cluster_now(c);
    say(c, "CRASH: %s goes down (memory lost, unsynced writes meet their fate)%s", "us-east", "");
    while ((leader = tidal_sim_cluster_leader(c, 0)) < 0)
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + MS);
    snprintf(buf, sizeof buf, "%.0f ms", (double)(tidal_sim_cluster_now(c) - t0) / 1e6);
    say(c, "%s elected leader of epoch 2, %s after the crash", region_name[leader], buf);

    lsn = write_load(c, (uint16_t)leader, 2000, &rng);
    say(c, "%s accepts writes: 2,000 more signals%s", region_name[leader], "");

    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + 1000 * MS);
    if (tidal_sim_cluster_restart(c, 0, 0) == TIDAL_OK) {
        tidal_db_stats st;
        tidal_db_stats_get(tidal_sim_cluster_db(c, 0, 0), &st);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)st.recovered_events);
        say(c, "%s restarts: recovered %s events from its log, rejoins as a follower", "us-east", buf);
    }
    t0 = tidal_sim_cluster_now(c);
    while (!caught_up(c, leader) || !tidal_write_acked(tidal_sim_cluster_db(c, (uint16_t)leader, 0), lsn, TIDAL_ACK_QUORUM))
        tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + MS);
    snprintf(buf, sizeof buf, "%.0f ms", (double)(tidal_sim_cluster_now(c) - t0) / 1e6);
    say(c, "all replicas caught up %s later; QUORUM ack of the last write: %s", buf,
        tidal_write_acked(tidal_sim_cluster_db(c, (uint16_t)leader, 0), lsn, TIDAL_ACK_QUORUM) ? "yes" : "no");
    show_replicas(c);
    printf("\n");
    return partition_phase(c, leader, &rng);
}
