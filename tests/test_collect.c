/* test_collect.c - issue 12 item 6, "collection reaches the disk" (DESIGN 5.9): after a
   tenant is dropped (the last step of moving it away), no file of the database holds its
   data: its log segments and every older snapshot are removed, a snapshot without it is
   written. Tenants A and B each get distinctive 16-byte markers (attribute values, before
   and after a snapshot, under a steady write load); after the drop of A and its
   collection, every file of the directory is scanned byte by byte: A's marker is in none,
   B's (a positive control, same shape) is still there. Cases:
     - one durable database: collected at once, observable (tidal_tenant_collected), equal
       after a reopen, and B's digest unchanged;
     - a crash at every file operation of the drop and its collection: the reopened
       database finishes the collection, recovers exactly (B's digest unchanged, A absent);
     - a replica group with a follower down during the drop: members keep the log it needs
       (collection pending), it catches up from the log when it returns, and then every
       member's files are clean;
     - the same on real files (the POSIX env, a directory under $TMPDIR);
     - the collect file's decoder refuses damaged bytes, naming the file and what. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)
#define NREG 3
#define TA 7u /* the tenant that is dropped */
#define TB 8u /* the tenant that stays */

static const char MARK_A[] = "tenant-A-marker!"; /* 16 bytes each, same shape */
static const char MARK_B[] = "tenant-B-marker!";

static tidal_signal_def g_sigs[1];

static void schema_fill(tidal_schema *s) {
    memset(g_sigs, 0, sizeof g_sigs);
    g_sigs[0].name = "view";
    g_sigs[0].half_life_s = 3600;
    memset(s, 0, sizeof *s);
    s->signals = g_sigs;
    s->signal_count = 1;
}

/* ---- scanning a directory for a marker ------------------------------------------------ */

/* Files in dir on d that hold the 16 bytes of mark (the name of the first in *first). */
static uint32_t files_holding(tidal_sim_disk *d, const char *dir, const char *mark, char *first,
                              size_t cap) {
    static char names[512][128];
    char path[300];
    uint32_t n = tidal_sim_disk_list(d, dir, names, 512), i, hits = 0;
    TT_EQ_INT(strlen(mark), 16);
    TT_CHECK(n > 0 && n <= 512);
    if (first && cap) first[0] = 0;
    for (i = 0; i < n && i < 512; i++) {
        uint8_t *p = NULL;
        size_t len = 0, k;
        snprintf(path, sizeof path, "%.40s/%.127s", dir, names[i]);
        if (tidal_sim_disk_read(d, path, &p, &len) != TIDAL_OK) continue; /* a directory */
        for (k = 0; k + 16 <= len; k++)
            if (p[k] == (uint8_t)mark[0] && !memcmp(p + k, mark, 16)) {
                if (!hits++ && first) snprintf(first, cap, "%.127s", names[i]);
                break;
            }
        free(p);
    }
    return hits;
}

static uint32_t files_named(tidal_sim_disk *d, const char *dir, const char *prefix) {
    static char names[512][128];
    uint32_t n = tidal_sim_disk_list(d, dir, names, 512), i, k = 0;
    for (i = 0; i < n && i < 512; i++) k += !strncmp(names[i], prefix, strlen(prefix));
    return k;
}

/* Dir holds nothing of A and still holds B. */
static void expect_collected(tidal_sim_disk *d, const char *dir, const char *what) {
    char first[128];
    uint32_t a = files_holding(d, dir, MARK_A, first, sizeof first);
    TT_CHECKF(a == 0, "%s: %u files still hold tenant A's marker (first: %s)", what, a, first);
    TT_CHECKF(files_holding(d, dir, MARK_B, NULL, 0) > 0, "%s: tenant B's marker is in no file",
              what);
    TT_CHECKF(files_named(d, dir, "collect-") == 0, "%s: the collect file is still there", what);
}

/* ---- writes --------------------------------------------------------------------------- */

static tidal_result sig(tidal_db *db, uint32_t tenant, tidal_id item, int64_t t) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    s.item = item;
    s.user = 100 + item % 7;
    s.weight = 1.0;
    s.time_ns = t;
    return tidal_signal_write(db, &s, NULL);
}

/* n signals over both tenants, and a marker attribute on one entity of each. */
static void load(tidal_db *db, int n, tidal_id marked, int64_t t) {
    int i;
    for (i = 0; i < n; i++)
        TT_EQ_INT(sig(db, i & 1 ? TA : TB, 1 + (tidal_id)tt_below(60), t), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(db, TA, marked, "mark", MARK_A, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(db, TB, marked, "mark", MARK_B, NULL), TIDAL_OK);
}

/* ---- one node on a simulated disk ------------------------------------------------------ */

typedef struct node {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db;
} node;

static tidal_result node_open(node *n) {
    char msg[256];
    tidal_result r = tidal_db_open_msg(&n->cfg, &n->db, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "open: %s %s", tidal_strerror(r), msg);
    return r;
}

/* A node over disk (taken over: node_free frees it). */
static void node_init(node *n, tidal_sim_disk *disk) {
    memset(n, 0, sizeof *n);
    n->disk = disk;
    tidal_sim_env_init(&n->env, n->disk, T0, tt_seed() ^ 0x5eed);
    schema_fill(&n->cfg.schema);
    n->cfg.env = &n->env.env;
    n->cfg.path = "db";
    n->cfg.segment_bytes_max = 4096; /* many segments */
}

static void node_free(node *n) {
    if (n->db) tidal_db_close(n->db);
    n->db = NULL;
    tidal_sim_disk_free(n->disk);
}

static int collected(tidal_db *db, uint64_t tenant) {
    int done = -1;
    TT_EQ_INT(tidal_tenant_collected(db, tenant, &done), TIDAL_OK);
    return done;
}

static void footprint_zero(tidal_db *db, uint32_t tenant, const char *what) {
    uint64_t e = 1, s = 1, b = 1;
    TT_EQ_INT(tidal_tenant_footprint(db, tenant, &e, &s, &b), TIDAL_OK);
    TT_CHECKF(e == 0 && s == 0 && b == 0, "%s: tenant %u still holds %llu entities", what, tenant,
              (unsigned long long)e);
}

/* The history before the drop: A and B written, a snapshot, more of both. The node is
   open on return; *b receives B's digest. */
static void history(node *n, uint8_t b[32]) {
    TT_EQ_INT(node_open(n), TIDAL_OK);
    if (!n->db) return;
    load(n->db, 400, 1001, T0);
    TT_EQ_INT(tidal_db_snapshot(n->db), TIDAL_OK);
    load(n->db, 300, 1002, T0);
    TT_EQ_INT(tidal_db_digest(n->db, TB, b), TIDAL_OK);
    TT_CHECK(files_named(n->disk, "db", "wal-") > 2);
    TT_CHECK(files_named(n->disk, "db", "snap-") == 1);
    /* positive control: the scan finds both markers before the drop */
    TT_CHECK(files_holding(n->disk, "db", MARK_A, NULL, 0) > 1);
    TT_CHECK(files_holding(n->disk, "db", MARK_B, NULL, 0) > 1);
}

/* ---- 1. one database ------------------------------------------------------------------ */

static void t_collect_single(void) {
    node n;
    uint8_t b0[32], b1[32];
    int done = 0;
    node_init(&n, tidal_sim_disk_new(tt_seed()));
    history(&n, b0);
    if (!n.db) goto out;
    TT_EQ_INT(collected(n.db, TA), 1); /* never dropped: nothing to collect */
    TT_EQ_INT(tidal_tenant_collected(n.db, (uint64_t)UINT32_MAX + 1, &done), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_tenant_collected(n.db, TA, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_tenant_drop(n.db, TA, 1, NULL), TIDAL_OK);
    footprint_zero(n.db, TA, "after the drop");
    /* Alone, a member may retire everything at once: the drop call collected. */
    TT_EQ_INT(collected(n.db, TA), 1);
    TT_EQ_INT(collected(n.db, TIDAL_ALL_TENANTS), 1);
    expect_collected(n.disk, "db", "after the drop");
    TT_EQ_INT(tidal_db_digest(n.db, TB, b1), TIDAL_OK);
    TT_CHECK(!memcmp(b0, b1, 32));
    /* The log goes on in a new segment; a reopen is exact and finds nothing of A. */
    load(n.db, 50, 1003, T0);
    TT_EQ_INT(tidal_db_digest(n.db, TB, b0), TIDAL_OK);
    tidal_db_close(n.db);
    n.db = NULL;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (!n.db) goto out;
    TT_EQ_INT(tidal_db_digest(n.db, TB, b1), TIDAL_OK);
    TT_CHECK(!memcmp(b0, b1, 32));
    TT_EQ_INT(collected(n.db, TIDAL_ALL_TENANTS), 1);
    /* A second drop (a later migration) collects what A wrote since. */
    TT_EQ_INT(tidal_tenant_drop(n.db, TA, 2, NULL), TIDAL_OK);
    TT_EQ_INT(collected(n.db, TA), 1);
    expect_collected(n.disk, "db", "after the second drop");
    TT_EQ_INT(tidal_db_digest(n.db, TB, b1), TIDAL_OK);
    TT_CHECK(!memcmp(b0, b1, 32));
out:
    node_free(&n);
}

/* ---- 2. a crash anywhere in the drop and its collection ------------------------------- */

static void t_collect_crash_anywhere(void) {
    node base;
    tidal_sim_disk *image;
    uint8_t b0[32];
    uint64_t total, k, finished = 0;
    node_init(&base, tidal_sim_disk_new(tt_seed()));
    history(&base, b0);
    if (!base.db) {
        node_free(&base);
        return;
    }
    tidal_db_close(base.db);
    base.db = NULL;
    image = tidal_sim_disk_clone(base.disk);
    /* how many file operations the drop and its collection take */
    TT_EQ_INT(node_open(&base), TIDAL_OK);
    total = tidal_sim_disk_ops(base.disk);
    if (base.db) TT_EQ_INT(tidal_tenant_drop(base.db, TA, 1, NULL), TIDAL_OK);
    total = tidal_sim_disk_ops(base.disk) - total;
    TT_CHECKF(total > 10, "the drop took %llu file operations", (unsigned long long)total);
    node_free(&base);
    for (k = 1; k <= total + 1 && TT_OK(); k++) {
        node n;
        uint8_t b1[32];
        uint64_t e = 1;
        char msg[256];
        tidal_result r;
        node_init(&n, tidal_sim_disk_clone(image));
        if (node_open(&n) != TIDAL_OK) {
            node_free(&n);
            break;
        }
        tidal_sim_disk_crash_at(n.disk, k);
        (void)tidal_tenant_drop(n.db, TA, 1, NULL); /* fails from the crash on */
        tidal_sim_disk_crash(n.disk); /* no-op if it crashed already */
        tidal_db_close(n.db);
        n.db = NULL;
        tidal_sim_disk_restart(n.disk);
        r = tidal_db_open_msg(&n.cfg, &n.db, msg, sizeof msg);
        TT_CHECKF(r == TIDAL_OK, "crash at op %llu of %llu: reopen: %s: %s", (unsigned long long)k,
                  (unsigned long long)total, tidal_strerror(r), msg);
        if (r != TIDAL_OK) {
            node_free(&n);
            break;
        }
        TT_EQ_INT(tidal_db_digest(n.db, TB, b1), TIDAL_OK);
        TT_CHECKF(!memcmp(b0, b1, 32), "crash at op %llu: tenant B recovers differently",
                  (unsigned long long)k);
        TT_EQ_INT(tidal_tenant_footprint(n.db, TA, &e, NULL, NULL), TIDAL_OK);
        if (e) { /* the drop was not durable yet: A is whole, and a new drop works */
            TT_EQ_INT(collected(n.db, TA), 1);
            TT_EQ_INT(tidal_tenant_drop(n.db, TA, 1, NULL), TIDAL_OK);
        } else {
            finished++;
        }
        /* the open (or the drop) finished what the crash interrupted */
        TT_EQ_INT(tidal_db_tick(n.db, 0), TIDAL_OK);
        TT_CHECKF(collected(n.db, TA) == 1, "crash at op %llu: collection still pending",
                  (unsigned long long)k);
        footprint_zero(n.db, TA, "after the crash");
        expect_collected(n.disk, "db", "after a crash in the collection");
        TT_EQ_INT(tidal_db_digest(n.db, TB, b1), TIDAL_OK);
        TT_CHECK(!memcmp(b0, b1, 32));
        /* and once more from the files alone */
        tidal_db_close(n.db);
        n.db = NULL;
        if (node_open(&n) == TIDAL_OK) {
            TT_EQ_INT(tidal_db_digest(n.db, TB, b1), TIDAL_OK);
            TT_CHECK(!memcmp(b0, b1, 32));
            footprint_zero(n.db, TA, "after a second reopen");
        }
        node_free(&n);
    }
    TT_CHECK(finished > 0); /* some crashes came after the drop was durable */
    printf("  %llu crash points, %llu after the drop was durable\n", (unsigned long long)total + 1,
           (unsigned long long)finished);
    tidal_sim_disk_free(image);
}

/* ---- 3. a replica group, one follower away during the drop ---------------------------- */

static tidal_db *DB(tidal_sim_cluster *c, int r) { return tidal_sim_cluster_db(c, (uint16_t)r, 0); }
static void run_for(tidal_sim_cluster *c, int64_t ns) {
    tidal_sim_cluster_run(c, tidal_sim_cluster_now(c) + ns);
}

static int wait_leader(tidal_sim_cluster *c, int64_t max_ns) {
    int64_t end = tidal_sim_cluster_now(c) + max_ns;
    while (tidal_sim_cluster_now(c) < end) {
        int l = tidal_sim_cluster_leader(c, 0);
        if (l >= 0 && DB(c, l)) return l;
        run_for(c, 10 * MS);
    }
    return -1;
}

static void t_collect_group_lagging_follower(void) {
    tidal_sim_cluster_config cfg;
    tidal_sim_cluster *c;
    tidal_node_status st;
    uint8_t b0[32], b1[32];
    int l, f, r, all = 0;
    int64_t end;
    memset(&cfg, 0, sizeof cfg);
    cfg.regions = NREG;
    cfg.shards = 1;
    cfg.seed = tt_seed();
    schema_fill(&cfg.schema);
    cfg.segment_bytes_max = 4096;
    c = tidal_sim_cluster_new(&cfg);
    TT_CHECK(c != NULL);
    if (!c) return;
    l = wait_leader(c, 10000 * MS);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    load(DB(c, l), 400, 1001, tidal_sim_cluster_now(c) - MS);
    run_for(c, 500 * MS);
    for (r = 0; r < NREG; r++) TT_EQ_INT(tidal_db_snapshot(DB(c, r)), TIDAL_OK);
    load(DB(c, l), 300, 1002, tidal_sim_cluster_now(c) - MS);
    run_for(c, 500 * MS);
    for (r = 0; r < NREG; r++) { /* positive control */
        tidal_sim_disk *d = tidal_sim_cluster_disk(c, (uint16_t)r, 0);
        TT_CHECK(files_holding(d, TIDAL_SIM_DB_DIR, MARK_A, NULL, 0) > 0);
        TT_CHECK(files_holding(d, TIDAL_SIM_DB_DIR, MARK_B, NULL, 0) > 0);
    }
    TT_EQ_INT(tidal_db_digest(DB(c, l), TB, b0), TIDAL_OK);
    /* A follower goes away; the group drops A and writes on. */
    f = (l + 1) % NREG;
    tidal_sim_cluster_crash(c, (uint16_t)f, 0);
    TT_EQ_INT(tidal_tenant_drop(DB(c, l), TA, 1, NULL), TIDAL_OK);
    TT_EQ_INT(sig(DB(c, l), TB, 3, tidal_sim_cluster_now(c) - MS), TIDAL_OK);
    run_for(c, 2000 * MS);
    TT_EQ_INT(tidal_db_digest(DB(c, l), TB, b0), TIDAL_OK);
    /* The members that are up dropped A from memory, but keep the log the away one needs. */
    for (r = 0; r < NREG; r++) {
        if (r == f) continue;
        footprint_zero(DB(c, r), TA, "a member after the drop");
        TT_CHECKF(collected(DB(c, r), TA) == 0, "region %d collected while a follower lacks the log",
                  r);
    }
    /* It returns, catches up from the log (no state transfer), and everyone collects. */
    TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)f, 0), TIDAL_OK);
    end = tidal_sim_cluster_now(c) + 20000 * MS;
    while (tidal_sim_cluster_now(c) < end && !all) {
        run_for(c, 100 * MS);
        all = 1;
        for (r = 0; r < NREG; r++) all &= DB(c, r) && collected(DB(c, r), TIDAL_ALL_TENANTS) == 1;
    }
    TT_CHECKF(all, "collection did not complete on every member");
    l = wait_leader(c, 10000 * MS);
    if (l >= 0) {
        TT_EQ_INT(tidal_node_status_get(DB(c, l), &st), TIDAL_OK);
        TT_EQ_INT(st.needs_snapshot, 0);
    }
    for (r = 0; r < NREG; r++) {
        char what[64];
        if (!DB(c, r)) continue;
        snprintf(what, sizeof what, "region %d", r);
        footprint_zero(DB(c, r), TA, what);
        TT_EQ_INT(tidal_db_digest(DB(c, r), TB, b1), TIDAL_OK);
        TT_CHECKF(!memcmp(b0, b1, 32), "region %d: tenant B differs", r);
        expect_collected(tidal_sim_cluster_disk(c, (uint16_t)r, 0), TIDAL_SIM_DB_DIR, what);
    }
    /* Every member restarts from what is left, equal; the group goes on. */
    for (r = 0; r < NREG; r++) {
        tidal_sim_cluster_crash(c, (uint16_t)r, 0);
        TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)r, 0), TIDAL_OK);
        run_for(c, 500 * MS);
    }
    l = wait_leader(c, 10000 * MS);
    TT_CHECK(l >= 0);
    if (l >= 0) TT_EQ_INT(sig(DB(c, l), TB, 4, tidal_sim_cluster_now(c) - MS), TIDAL_OK);
    run_for(c, 2000 * MS);
    if (l >= 0) TT_EQ_INT(tidal_db_digest(DB(c, l), TB, b0), TIDAL_OK);
    for (r = 0; r < NREG; r++) {
        if (!DB(c, r)) continue;
        TT_EQ_INT(tidal_db_digest(DB(c, r), TB, b1), TIDAL_OK);
        TT_CHECKF(!memcmp(b0, b1, 32), "region %d: tenant B differs after the restarts", r);
        footprint_zero(DB(c, r), TA, "after the restarts");
    }
    /* A member that lost its disk comes back through a state transfer (the log it would
       need is collected): it holds B, not A, and has nothing left to collect. */
    f = l >= 0 ? (l + 2) % NREG : 0;
    tidal_sim_cluster_crash(c, (uint16_t)f, 0);
    tidal_sim_cluster_wipe(c, (uint16_t)f, 0);
    TT_EQ_INT(tidal_sim_cluster_restart(c, (uint16_t)f, 0), TIDAL_OK);
    end = tidal_sim_cluster_now(c) + 20000 * MS;
    all = 0;
    while (tidal_sim_cluster_now(c) < end && !all) {
        run_for(c, 100 * MS);
        all = DB(c, f) && tidal_db_digest(DB(c, f), TB, b1) == TIDAL_OK && !memcmp(b0, b1, 32) &&
              collected(DB(c, f), TIDAL_ALL_TENANTS) == 1;
    }
    TT_CHECKF(all, "the wiped member did not catch up and collect");
    l = wait_leader(c, 10000 * MS);
    if (l >= 0) { /* it came back through a state transfer */
        TT_EQ_INT(tidal_node_status_get(DB(c, l), &st), TIDAL_OK);
        TT_EQ_INT(st.needs_snapshot, 1);
    }
    if (DB(c, f)) {
        footprint_zero(DB(c, f), TA, "the wiped member");
        run_for(c, 1000 * MS);
        expect_collected(tidal_sim_cluster_disk(c, (uint16_t)f, 0), TIDAL_SIM_DB_DIR, "the wiped member");
    }
out:
    tidal_sim_cluster_free(c);
}

/* ---- 4. real files -------------------------------------------------------------------- */

/* Files in a real directory that hold mark (16 bytes); *named counts those starting with
   prefix. */
static uint32_t posix_holding(const char *dir, const char *mark, const char *prefix,
                              uint32_t *named) {
    DIR *d = opendir(dir);
    struct dirent *e;
    uint32_t hits = 0;
    char p[600];
    TT_CHECK(d != NULL);
    if (named) *named = 0;
    while (d && (e = readdir(d)) != NULL) {
        FILE *f;
        long len;
        uint8_t *b;
        if (e->d_name[0] == '.') continue;
        if (named && !strncmp(e->d_name, prefix, strlen(prefix))) ++*named;
        snprintf(p, sizeof p, "%.400s/%.150s", dir, e->d_name);
        if (!(f = fopen(p, "rb"))) continue;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, 0, SEEK_SET);
        b = (uint8_t *)malloc(len > 0 ? (size_t)len : 1);
        if (b && len > 0 && fread(b, 1, (size_t)len, f) == (size_t)len) {
            long k;
            for (k = 0; k + 16 <= len; k++)
                if (!memcmp(b + k, mark, 16)) {
                    hits++;
                    break;
                }
        }
        free(b);
        fclose(f);
    }
    if (d) closedir(d);
    return hits;
}

static void posix_remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[600];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%.400s/%.150s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static void t_collect_posix_files(void) {
    const char *t = getenv("TMPDIR");
    char dir[300];
    tidal_config cfg;
    tidal_db *db = NULL;
    uint8_t b0[32], b1[32];
    uint32_t named = 0;
    snprintf(dir, sizeof dir, "%.200s/tidal_collect_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        TT_CHECKF(0, "mkdtemp %s failed", dir);
        return;
    }
    memset(&cfg, 0, sizeof cfg);
    schema_fill(&cfg.schema);
    cfg.path = dir;
    cfg.segment_bytes_max = 4096;
    cfg.fsync_policy = TIDAL_FSYNC_NONE; /* test speed: sealed segments and snapshots still sync */
    TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
    if (!db) goto out;
    load(db, 300, 1001, T0);
    TT_EQ_INT(tidal_db_snapshot(db), TIDAL_OK);
    load(db, 200, 1002, T0);
    TT_CHECK(posix_holding(dir, MARK_A, "wal-", &named) > 1 && named > 2);
    TT_EQ_INT(tidal_db_digest(db, TB, b0), TIDAL_OK);
    TT_EQ_INT(tidal_tenant_drop(db, TA, 1, NULL), TIDAL_OK);
    TT_EQ_INT(collected(db, TA), 1);
    TT_EQ_INT(posix_holding(dir, MARK_A, "collect-", &named), 0);
    TT_EQ_INT(named, 0);
    TT_CHECK(posix_holding(dir, MARK_B, "snap-", &named) > 0 && named == 1);
    tidal_db_close(db);
    db = NULL;
    TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
    if (!db) goto out;
    TT_EQ_INT(tidal_db_digest(db, TB, b1), TIDAL_OK);
    TT_CHECK(!memcmp(b0, b1, 32));
    footprint_zero(db, TA, "reopened from real files");
    tidal_db_close(db);
out:
    posix_remove_dir(dir);
}

/* ---- 5. the collect file's decoder ---------------------------------------------------- */

/* A database left with tenants pending (its collect file written the way a drop writes
   it, then the handle closed before collecting); each damaged copy of the file is refused
   at open, naming it; the intact one opens and finishes the collection. */
static void t_collect_file_refused(void) {
    node n;
    uint8_t b0[32], *p = NULL;
    size_t len = 0;
    char msg[256];
    const char *path = "db/collect-0000-0000.dat";
    uint32_t bit;
    tidal_sim_disk *image = NULL;
    int k;
    node_init(&n, tidal_sim_disk_new(tt_seed()));
    history(&n, b0);
    if (!n.db) goto out;
    TT_CHECK(tidal__collect_add(n.db, TA) && tidal__collect_add(n.db, 99));
    TT_EQ_INT(collected(n.db, TA), 0);
    TT_EQ_INT(collected(n.db, 99), 0);
    TT_EQ_INT(collected(n.db, TB), 1);
    TT_EQ_INT(tidal__collect_save(n.db), TIDAL_OK);
    n.db->log.n_collect = 0; /* the file stays */
    tidal_db_close(n.db);
    n.db = NULL;
    TT_EQ_INT(tidal_sim_disk_read(n.disk, path, &p, &len), TIDAL_OK);
    TT_EQ_INT(len, 12 + 8 + 32);
    image = tidal_sim_disk_clone(n.disk);
    /* bit flips (every 5th bit) and truncations are refused with the file named */
    for (k = 0; k < 2; k++)
        for (bit = 0; bit < (k ? len : 8 * len) && TT_OK(); bit += k ? 1 : 5) {
            tidal_sim_disk *d = tidal_sim_disk_clone(image);
            tidal_sim_env env;
            tidal_config cfg = n.cfg;
            tidal_db *db = NULL;
            tidal_result r;
            tidal_sim_env_init(&env, d, T0, 3);
            cfg.env = &env.env;
            if (k) TT_EQ_INT(tidal_sim_disk_truncate_file(d, path, bit), TIDAL_OK);
            else TT_EQ_INT(tidal_sim_disk_flip_bit(d, path, bit), TIDAL_OK);
            r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
            TT_CHECKF(r == TIDAL_ERR_CORRUPT && strstr(msg, "collect-0000-0000.dat"),
                      "%s %u: %s: %s", k ? "cut at" : "bit", bit, tidal_strerror(r), msg);
            if (db) tidal_db_close(db);
            tidal_sim_disk_free(d);
        }
    /* intact, it opens and finishes (A was not dropped: a snapshot still holds it) */
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (n.db) {
        TT_EQ_INT(collected(n.db, TIDAL_ALL_TENANTS), 1);
        TT_EQ_INT(files_named(n.disk, "db", "collect-"), 0);
        TT_EQ_INT(files_named(n.disk, "db", "snap-"), 1);
        TT_EQ_INT(files_named(n.disk, "db", "wal-"), 0);
        TT_CHECK(files_holding(n.disk, "db", MARK_A, NULL, 0) == 1);
        TT_EQ_INT(tidal_db_digest(n.db, TB, b0 + 0), TIDAL_OK);
    }
out:
    if (image) tidal_sim_disk_free(image);
    free(p);
    node_free(&n);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_collect_single),
    TT_CASE(t_collect_crash_anywhere),
    TT_CASE(t_collect_group_lagging_follower),
    TT_CASE(t_collect_posix_files),
    TT_CASE(t_collect_file_refused),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
