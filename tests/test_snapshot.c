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

/* The compact decoder is strict: the full body decodes to the same digest; every strict
   prefix of it is refused with an offset inside it; an overlong varint, one beyond 64
   bits, and a count larger than the bytes left are refused by name. */
static void t_snapshot_v4_strict(void) {
    tidal_sim_disk *disk = tidal_sim_disk_new(7);
    tidal_sim_env env;
    sw_schema sch;
    tidal_config cfg;
    tidal_db *db = NULL, *b = NULL;
    uint8_t *body = NULL, d0[32], d1[32];
    size_t len = 0, cap = 0, at, k;
    const char *why;
    static const uint8_t overlong[2] = {0x81, 0x00}, wide[11] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                                                  0xFF, 0xFF, 0xFF, 0x7F, 0x00};
    static const uint8_t many[3] = {0x01, 0x00, 0x7F}; /* tenant 0 with 127 entities, no bytes */
    tidal_sim_env_init(&env, disk, SW_T0, 12);
    sw_config(&sch, &cfg, &env.env, NULL);
    TT_EQ_INT(tidal_db_open(&cfg, &db), TIDAL_OK);
    TT_EQ_INT(tidal_db_open(&cfg, &b), TIDAL_OK);
    TT_EQ_INT(sw_workload(db, 13, 400), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, d0), TIDAL_OK);
    TT_EQ_INT(tidal__snap_body_fmt(db, TIDAL_ALL_TENANTS, 1, &body, &len, &cap), TIDAL_OK);
    TT_CHECK(tidal__snap_decode_fmt(b, body, len, 1, &at) == NULL);
    TT_EQ_INT(tidal_db_digest(b, TIDAL_ALL_TENANTS, d1), TIDAL_OK);
    TT_CHECK(!memcmp(d0, d1, 32));
    for (k = 0; k < len && TT_OK(); k += 1 + tt_below(7)) {
        tidal__state_free(b);
        why = tidal__snap_decode_fmt(b, body, k, 1, &at);
        TT_CHECKF(why != NULL && at <= k, "prefix of %zu bytes of %zu: %s at %zu", k, len,
                  why ? why : "accepted", at);
    }
    tidal__state_free(b);
    why = tidal__snap_decode_fmt(b, overlong, sizeof overlong, 1, &at);
    TT_CHECKF(why && strstr(why, "varint"), "overlong varint: %s", why ? why : "accepted");
    tidal__state_free(b);
    why = tidal__snap_decode_fmt(b, wide, sizeof wide, 1, &at);
    TT_CHECKF(why && strstr(why, "varint"), "65-bit varint: %s", why ? why : "accepted");
    tidal__state_free(b);
    why = tidal__snap_decode_fmt(b, many, sizeof many, 1, &at);
    TT_CHECKF(why && strstr(why, "entity count") && at == 3, "count past the end: %s at %zu",
              why ? why : "accepted", at);
    tidal__free(db, body, cap);
    tidal_db_close(db);
    tidal__state_free(b);
    tidal_db_close(b);
    tidal_sim_disk_free(disk);
}

/* Bytes of every file in db/ (and how many snapshot files). */
static uint64_t disk_bytes(const tidal_sim_disk *d, uint32_t *snaps, uint64_t *snap_max) {
    static char names[512][128];
    uint32_t n = tidal_sim_disk_list(d, "db", names, 512), i;
    uint64_t total = 0;
    TT_CHECK(n < 512);
    *snaps = 0;
    for (i = 0; i < n && i < 512; i++) {
        char path[200];
        uint8_t *p = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "db/%.127s", names[i]);
        if (strncmp(names[i], "wal-", 4) && strncmp(names[i], "snap-", 5)) continue; /* log
                                                       and snapshots only, not the schema */
        if (tidal_sim_disk_read(d, path, &p, &len) != TIDAL_OK) continue;
        free(p);
        total += len;
        if (!strncmp(names[i], "snap-", 5)) {
            ++*snaps;
            if (len > *snap_max) *snap_max = len;
        }
    }
    return total;
}

static void random_write(disk_node *n, uint64_t *rng) {
    tidal_signal s;
    uint64_t x = sw_next(rng);
    memset(&s, 0, sizeof s);
    s.item = 1 + x % 40; /* a working set of 40 items */
    s.type = (uint32_t)((x >> 8) % 3);
    s.weight = 1;
    s.user = (x >> 12) & 1 ? 100 + ((x >> 13) & 7) : 0;
    s.time_ns = SW_T0 - (int64_t)((x >> 20) % 7200) * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_signal_write(n->db, &s, NULL), TIDAL_OK);
}

/* Bounded disk: writing sixty times the snapshot threshold of log over a small working
   set, automatic snapshots keep the files within two snapshots, about two thresholds of
   log and a few segments, at every point; the database reopens to the same state. With
   automatic snapshots off, the log only grows. */
static void t_auto_snapshot_bounded(void) {
    const uint64_t threshold = 8192, seg = 2048;
    disk_node n;
    tidal_db_stats st;
    uint64_t rng = tt_rand(), peak = 0, snap_max = 0, bound;
    uint32_t snaps = 0;
    uint8_t before[32], after[32];
    int i;
    memset(&st, 0, sizeof st);
    dn_init(&n, 4);
    n.cfg.snapshot_log_bytes = threshold;
    n.cfg.segment_bytes_max = seg;
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    for (i = 0; TT_OK(); i++) {
        random_write(&n, &rng);
        tidal_db_stats_get(n.db, &st);
        if (i % 50 == 0) {
            uint64_t b = disk_bytes(n.disk, &snaps, &snap_max);
            if (b > peak) peak = b;
            TT_CHECK(snaps <= 2);
        }
        if (st.wal_bytes >= 60 * threshold) break;
    }
    bound = 2 * snap_max + 2 * threshold + 3 * seg + 1024;
    printf("  log written %llu bytes; files on disk peaked at %llu (snapshot %llu, bound %llu)\n",
           (unsigned long long)st.wal_bytes, (unsigned long long)peak, (unsigned long long)snap_max,
           (unsigned long long)bound);
    TT_CHECK(st.snapshot_lsn > 0 && snaps >= 1);
    TT_CHECKF(peak <= bound, "files peaked at %llu bytes, bound %llu", (unsigned long long)peak,
              (unsigned long long)bound);
    TT_CHECK(st.wal_bytes > 5 * bound); /* the bound means something */
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, before), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, after), TIDAL_OK);
    TT_CHECK(!memcmp(before, after, 32));
    dn_free(&n);

    dn_init(&n, 5); /* off: the log grows with what is written */
    n.cfg.snapshot_log_bytes = TIDAL_SNAPSHOT_LOG_BYTES_OFF;
    n.cfg.segment_bytes_max = 1u << 20;
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    for (i = 0; i < 1000; i++) random_write(&n, &rng);
    tidal_db_stats_get(n.db, &st);
    TT_EQ_INT(st.snapshot_lsn, 0);
    TT_EQ_INT(disk_bytes(n.disk, &snaps, &snap_max), st.wal_bytes);
    TT_EQ_INT(snaps, 0);
    dn_free(&n);
}

/* With group commit delayed, the tick that commits is the one that snapshots; the count
   of log since the last snapshot survives a reopen (replayed log counts). */
static void t_auto_snapshot_tick_and_reopen(void) {
    disk_node n;
    tidal_db_stats st;
    uint64_t rng = tt_rand();
    int i;
    dn_init(&n, 6);
    n.cfg.snapshot_log_bytes = 4096;
    n.cfg.batch_delay_ns = 1000000;
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    for (i = 0; i < 60; i++) random_write(&n, &rng); /* one pending batch, > 4 KiB */
    tidal_db_stats_get(n.db, &st);
    TT_EQ_INT(st.snapshot_lsn, 0);
    n.env.mono_ns += 2000000;
    TT_EQ_INT(tidal_db_tick(n.db, 0), TIDAL_OK);
    tidal_db_stats_get(n.db, &st);
    TT_EQ_INT(st.snapshot_lsn, 60); /* committed, then snapshotted */
    /* 3 KiB of log, a reopen (replays it), 2 KiB more: the threshold is passed. */
    n.cfg.batch_delay_ns = 0;
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    for (i = 0; i < 1000; i++) {
        random_write(&n, &rng);
        tidal_db_stats_get(n.db, &st);
        if (st.wal_bytes >= 3072) break;
    }
    TT_EQ_INT(st.snapshot_lsn, 60);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    for (i = 0; i < 1000; i++) {
        random_write(&n, &rng);
        tidal_db_stats_get(n.db, &st);
        if (st.snapshot_lsn > 60 || st.wal_bytes >= 2048) break;
    }
    TT_CHECKF(st.snapshot_lsn > 60, "log replayed at open did not count toward the threshold");
    dn_free(&n);
}

/* Signals only (no sessions, keys or clocks involved), spread over 40 days so aggregates
   gain and retire epochs and buckets at every level; some with cohort tags. */
static tidal_result fold_writes(tidal_db *db, uint64_t seed, int n) {
    static const tidal_tag tags[2] = {{"locale", "EU"}, {"locale", "US"}};
    tidal_signal s;
    tidal_result r = TIDAL_OK;
    uint64_t st = seed;
    int i;
    for (i = 0; i < n && r == TIDAL_OK; i++) {
        uint64_t x = sw_next(&st);
        memset(&s, 0, sizeof s);
        s.tenant = (x >> 60) == 0 ? 4 : 0;
        s.item = 1 + (x & 31);
        s.type = (uint32_t)((x >> 8) % 3);
        s.weight = 1.0 + (double)((x >> 12) & 3);
        s.time_ns = SW_T0 - (int64_t)((x >> 16) % (40u * 86400u)) * TIDAL_NS_PER_S;
        if (((x >> 24) & 3) == 0) {
            s.cohort = &tags[(x >> 26) & 1];
            s.cohort_count = 1;
        }
        r = tidal_signal_write(db, &s, NULL);
    }
    return r == TIDAL_OK ? tidal_db_commit(db) : r;
}

/* A state loaded from a snapshot keeps folding: the aggregates a load packs into one
   allocation each (tidal__sd_sig_pack) take new epochs and buckets (their arrays move out
   as they grow) and are freed at close, and the state stays the one a handle that never
   snapshotted reaches from the same writes, through a reopen and a second snapshot. */
static void t_snapshot_load_then_fold(void) {
    disk_node n;
    uint8_t want[32], want4[32];
    char h[65];
    dn_init(&n, 6); /* the same disk seed below: the same incarnation, so the same ids */
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(fold_writes(n.db, 13, 400), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(fold_writes(n.db, 14, 600), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, want), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(n.db, 4, want4), TIDAL_OK);
    dn_free(&n);
    hex(want, h);

    dn_init(&n, 6);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(fold_writes(n.db, 13, 400), TIDAL_OK);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK); /* the snapshot: packed aggregates */
    TT_EQ_INT(fold_writes(n.db, 14, 600), TIDAL_OK);
    check_digest(n.db, TIDAL_ALL_TENANTS, h, "loaded, then written");
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK); /* the snapshot, then the log after it */
    check_digest(n.db, TIDAL_ALL_TENANTS, h, "reopened: snapshot and log");
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    check_digest(n.db, TIDAL_ALL_TENANTS, h, "second snapshot");
    hex(want4, h);
    check_digest(n.db, 4, h, "second snapshot, tenant 4");
    TT_EQ_INT(fold_writes(n.db, 15, 300), TIDAL_OK); /* and on: the packed arrays grow */
    dn_free(&n);
}

/* A random compact varint (LEB128, as tidal__enc_uv writes it) of 1..10 bytes, or, one
   time in four, bytes that break it: overlong (a last byte of 0), beyond 64 bits (a tenth
   byte over 1), or unended. Returns its length. */
static size_t gen_uv(uint8_t *b) {
    uint64_t v = tt_rand() >> tt_below(64);
    size_t n = 0;
    int how = (int)tt_below(16);
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    if (how == 0 && n < 10) b[n - 1] |= 0x80, b[n++] = 0;        /* overlong */
    if (how == 1) {                                                /* 10 bytes, last > 1 */
        while (n < 9) b[n - 1] |= 0x80, b[n++] = (uint8_t)tt_below(256) | 0x80;
        b[n - 1] |= 0x80;
        b[n++] = (uint8_t)(2 + tt_below(126));
    }
    if (how == 2) while (n < 12) b[n - 1] |= 0x80, b[n++] = 0x80; /* unended */
    if (how == 3) b[tt_below(n)] = (uint8_t)tt_below(256);       /* any byte */
    return n;
}

/* A random compact fixed point (as tidal__enc_fxd writes it: uv128 of an odd magnitude,
   then tz << 1 | sign), often of a magnitude the fast path takes, sometimes wide (up to
   128 bits), sometimes broken (even, overlong, too wide for its tz, unended). */
static size_t gen_fxd(uint8_t *b) {
    uint64_t lo = tt_rand() >> tt_below(64), hi = tt_below(4) ? 0 : tt_rand() >> tt_below(64);
    uint32_t tz = (uint32_t)(tt_below(3) ? tt_below(40) : tt_below(128));
    uint32_t sign = (uint32_t)tt_below(2);
    size_t n = 0;
    int how = (int)tt_below(12);
    if (how == 0) {
        b[0] = 0;
        return 1;
    }
    if (how != 1) lo |= 1; /* else possibly even: refused */
    while (hi || lo >= 0x80) {
        b[n++] = (uint8_t)(lo | 0x80);
        lo = lo >> 7 | hi << 57;
        hi >>= 7;
    }
    b[n++] = (uint8_t)lo;
    if (how == 2 && n < 19) b[n - 1] |= 0x80, b[n++] = 0;         /* overlong */
    if (how == 3) while (n < 20) b[n - 1] |= 0x80, b[n++] = 0x81; /* unended */
    b[n++] = (uint8_t)(tz << 1 | sign);
    if (how == 4) b[tt_below(n)] = (uint8_t)tt_below(256);
    return n;
}

/* The varint and fixed-point fast paths (tidal__sd_uv, tidal__sd_fxd) take and refuse
   exactly what the careful readers (_slow) do: the same value, the same bytes consumed,
   the same failure named at the same offset; at every distance from the end of the body,
   since the fast paths run only with 10 or 20 bytes left. */
static void t_snapshot_fast_readers(void) {
    uint8_t buf[64];
    uint32_t k, fast_taken = 0;
    for (k = 0; k < 200000 && TT_OK(); k++) {
        tidal__sd a, b;
        int fx = (int)(k & 1);
        size_t len = fx ? gen_fxd(buf) : gen_uv(buf), n, i;
        for (i = len; i < sizeof buf; i++) buf[i] = (uint8_t)tt_rand();
        n = tt_below(3) ? sizeof buf : 1 + tt_below(len + 21); /* the body may end early */
        if (n > sizeof buf) n = sizeof buf;
        memset(&a, 0, sizeof a);
        a.r.p = buf;
        a.r.n = n;
        a.compact = 1;
        b = a;
        if (fx) {
            tidal__fx base, x, y;
            base.lo = tt_rand();
            base.hi = tt_below(2) ? tt_rand() : 0;
            x = tidal__sd_fxd(&a, base);
            y = tidal__sd_fxd_slow(&b, base);
            TT_CHECKF(x.lo == y.lo && x.hi == y.hi, "fixed point %zu bytes: values differ", len);
        } else {
            uint64_t x = tidal__sd_uv(&a), y = tidal__sd_uv_slow(&b);
            TT_CHECKF(x == y, "varint %zu bytes: %llu against %llu", len, (unsigned long long)x,
                      (unsigned long long)y);
        }
        TT_CHECKF(a.r.pos == b.r.pos && a.r.bad == b.r.bad && a.why == b.why && a.at == b.at,
                  "%s of %zu bytes, body %zu: pos %zu/%zu bad %d/%d why %s/%s",
                  fx ? "fixed point" : "varint", len, n, a.r.pos, b.r.pos, a.r.bad, b.r.bad,
                  a.why ? a.why : "-", b.why ? b.why : "-");
        fast_taken += !a.r.bad && n == sizeof buf;
    }
    TT_CHECKF(fast_taken > 50000, "only %u inputs decoded on the fast paths", fast_taken);
}

/* A snapshot loads into an empty state by appending the entity rows and entering them in
   the map per tenant (tidal__sd_ent_map): every row is found by (tenant, id) after, and
   writes to loaded items fold into them (no second row), in two tenants. */
static void t_snapshot_bulk_entity_map(void) {
    disk_node n;
    uint8_t want[32], got[32];
    uint32_t i, rows;
    dn_init(&n, 8);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(fold_writes(n.db, 21, 500), TIDAL_OK);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    TT_EQ_INT(fold_writes(n.db, 22, 300), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, want), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK); /* the snapshot, then 300 writes replayed */
    rows = n.db->st.n_ents;
    TT_CHECK(rows > 32 && n.db->st.ent_map.n == rows);
    for (i = 0; i < n.db->st.n_ents; i++) {
        const tidal__entity *e = &n.db->st.ents[i];
        TT_CHECKF(tidal__ent_find(n.db, e->tenant, e->id) == e,
                  "row %u (tenant %u, id %llu) not found", i, e->tenant, (unsigned long long)e->id);
    }
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, got), TIDAL_OK);
    TT_CHECK(!memcmp(want, got, 32));
    TT_EQ_INT(fold_writes(n.db, 22, 300), TIDAL_OK); /* items the load holds */
    TT_EQ_INT(n.db->st.n_ents, rows); /* folded into them, not added as second rows */
    dn_free(&n);
}

/* The load's shortcuts compute what the general code does: a bucket key by constant
   division (tidal__sd_lvl_key) and the reference epoch and epoch bound remembered per type
   (tidal__sd_epoch_ref), for times that stay in one epoch, cross epochs, go negative and
   reach the ends of the int64 range; every type of the workload's schema. */
static void t_snapshot_load_divisions(void) {
    disk_node n;
    tidal__sd d;
    uint32_t k, i;
    int64_t t = 0;
    dn_init(&n, 9);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    memset(&d, 0, sizeof d);
    d.db = n.db;
    for (i = 0; i < 200000 && TT_OK(); i++) {
        uint64_t x = tt_rand();
        const tidal__sigdef *def = &n.db->schema.sig[x % n.db->schema.n_sig];
        int64_t lim, ref;
        int l = (int)((x >> 8) % TIDAL__LVLS);
        switch ((x >> 12) & 7) { /* mostly near the last time, as a load's are */
        case 0: t = (int64_t)tt_rand(); break;
        case 1:
            t = (x >> 16) & 1 ? INT64_MAX - (int64_t)tt_below(1000) : INT64_MIN + (int64_t)tt_below(1000);
            break;
        case 2: t = -(int64_t)tt_below(4) * TIDAL__DAY_NS + (int64_t)tt_below(3) - 1; break;
        default: t = SW_T0 - (int64_t)(tt_rand() % (40ull * 86400ull)) * TIDAL_NS_PER_S; break;
        }
        TT_CHECKF(tidal__sd_lvl_key(t, l) == tidal__floor_div(t, tidal__lvl_ns[l]),
                  "level %d key of %lld", l, (long long)t);
        ref = tidal__sd_epoch_ref(&d, def, t, &lim);
        TT_CHECKF(ref == tidal__epoch_ref(def, t), "%s: epoch of %lld: %lld, want %lld", def->name,
                  (long long)t, (long long)ref, (long long)tidal__epoch_ref(def, t));
        TT_CHECK(def->permanent ? lim == 0 : lim == INT64_MAX / 4 / def->epoch_ns);
    }
    for (k = 0; k < n.db->schema.n_sig; k++) /* at an epoch's first and last ns */
        if (!n.db->schema.sig[k].permanent) {
            const tidal__sigdef *def = &n.db->schema.sig[k];
            int64_t lim, e = tidal__epoch_ref(def, SW_T0);
            TT_EQ_INT(tidal__sd_epoch_ref(&d, def, e * def->epoch_ns, &lim), e);
            TT_EQ_INT(tidal__sd_epoch_ref(&d, def, e * def->epoch_ns - 1, &lim), e - 1);
            TT_EQ_INT(tidal__sd_epoch_ref(&d, def, (e + 1) * def->epoch_ns - 1, &lim), e);
            TT_EQ_INT(tidal__sd_epoch_ref(&d, def, (e + 1) * def->epoch_ns, &lim), e + 1);
        }
    dn_free(&n);
}

/* A load finds each tenant's row and top-K lists once (tidal__sd_make_sigs, the bulk path
   of tidal__sd_sig_make): after it, every tenant lists exactly its items that hold an
   aggregate, and every aggregate is in the list of its own tenant, type and cohort. */
static void t_snapshot_bulk_tenant_lists(void) {
    disk_node n;
    uint32_t i, k, listed = 0, with_sigs = 0;
    dn_init(&n, 10);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(fold_writes(n.db, 23, 600), TIDAL_OK);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_CHECK(n.db->stats.recovered_events == 0 && n.db->st.n_tenants == 2);
    for (k = 0; k < n.db->st.n_tenants; k++) {
        const tidal__tenant *t = &n.db->st.tenants[k];
        for (i = 0; i < t->n_items; i++) {
            const tidal__entity *e = &n.db->st.ents[t->items[i]];
            TT_CHECKF(e->tenant == t->id && e->sigs, "tenant %u lists row %u", t->id, t->items[i]);
            TT_CHECK(i == 0 || t->items[i] > t->items[i - 1]);
        }
        listed += t->n_items;
    }
    for (i = 0; i < n.db->st.n_ents; i++) {
        const tidal__entity *e = &n.db->st.ents[i];
        with_sigs += e->sigs != NULL;
        for (k = 0; e->sigs && k < n.db->schema.n_sig; k++) {
            const tidal__lb *lb;
            if (!e->sigs[k]) continue;
            lb = &n.db->st.lbs[e->sigs[k]->lb];
            TT_CHECKF(lb->tenant == e->tenant && lb->type == k && lb->ckey1 == 0,
                      "item %llu type %u in list (%u, %u, %u)", (unsigned long long)e->id, k,
                      lb->tenant, lb->type, lb->ckey1);
            TT_EQ_INT(tidal__lb_make(n.db, e->tenant, k, 0, 0), e->sigs[k]->lb);
        }
        for (k = 0; k < e->n_csigs; k++) {
            const tidal__csig *c = &e->csigs[k];
            const tidal__lb *lb = &n.db->st.lbs[c->sig->lb];
            TT_CHECK(lb->tenant == e->tenant && lb->type == c->type && lb->ckey1 == c->ckey + 1 &&
                     lb->cval == c->cval);
        }
    }
    TT_CHECK(with_sigs > 16 && listed == with_sigs);
    dn_free(&n);
}

/* Writes n items (three signals each, over two days) in batches: a snapshot of more than
   a read window (TIDAL__SNAP_CHUNK) once n is in the tens of thousands. */
static void window_writes(tidal_db *db, uint64_t seed, uint32_t n) {
    tidal_signal s;
    uint32_t i, k;
    memset(&s, 0, sizeof s);
    s.weight = 1;
    TT_EQ_INT(tidal_db_batch_begin(db), TIDAL_OK);
    for (i = 1; i <= n && TT_OK(); i++) {
        for (k = 0; k < 3; k++) {
            s.item = (tidal_id)i;
            s.type = k;
            s.time_ns = SW_T0 - (int64_t)(sw_next(&seed) % (2 * 86400 * (uint64_t)TIDAL_NS_PER_S));
            TT_EQ_INT(tidal_signal_write(db, &s, NULL), TIDAL_OK);
        }
        if (i % 1000 == 0) {
            TT_EQ_INT(tidal_db_commit(db), TIDAL_OK);
            TT_EQ_INT(tidal_db_batch_begin(db), TIDAL_OK);
        }
    }
    TT_EQ_INT(tidal_db_commit(db), TIDAL_OK);
}

/* The newest snapshot file's name and bytes (read from the simulated disk). */
static uint8_t *newest_snap(disk_node *n, char *path, size_t cap, size_t *len) {
    static char names[64][128];
    uint32_t k = tidal_sim_disk_list(n->disk, "db", names, 64), i;
    uint8_t *p = NULL;
    path[0] = 0;
    for (i = 0; i < k && i < 64; i++) /* fixed-width hex lsns: the greatest name is newest */
        if (!strncmp(names[i], "snap-", 5) && strcmp(names[i], path + (path[0] ? 3 : 0)) > 0)
            snprintf(path, cap, "db/%.120s", names[i]);
    *len = 0;
    TT_CHECK(path[0] != 0);
    if (path[0]) TT_EQ_INT(tidal_sim_disk_read(n->disk, path, &p, len), TIDAL_OK);
    return p;
}

/* A snapshot damaged past its first read window (the load streams the file through one,
   tidal__snap_read) is refused as it was when the whole file was checked first. Damage
   with the checksum made to match again: the error names the file, the decoder's reason
   and the same file offset as the in-memory decoder of the whole body finds; with an older
   snapshot and its log the database opens from those to exactly the state before (the
   bad file's decode built most of a state first: none of it stays); alone, the open fails.
   Damage alone: "checksum mismatch", with the same outcomes. */
static void t_snapshot_late_damage(void) {
    disk_node n;
    uint8_t want[32], got[32], *img, *body;
    char path[160], msg[512], expect[512];
    size_t len, at = 0, pos = 0;
    uint64_t lsn1, rng = tt_below(1u << 30);
    const char *why = NULL;
    tidal_db *mem = NULL;
    int tries, forged;
    dn_init(&n, 11);
    TT_EQ_INT(dn_open(&n, NULL, 0), TIDAL_OK);
    TT_EQ_INT(sw_workload(n.db, 13, 400), TIDAL_OK); /* strings, cohorts, users, sessions */
    window_writes(n.db, 31, 20000);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    lsn1 = tidal_db_durable_lsn(n.db);
    window_writes(n.db, 32, 30000);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    TT_EQ_INT(sw_workload(n.db, 14, 50), TIDAL_OK); /* log after the newest snapshot */
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, want), TIDAL_OK);
    tidal_db_close(n.db);
    n.db = NULL;
    img = newest_snap(&n, path, sizeof path, &len);
    TT_CHECKF(len > TIDAL__SNAP_HDR + 2 * TIDAL__SNAP_CHUNK, "snapshot of %zu bytes", len);
    if (!img || !TT_OK()) {
        free(img);
        dn_free(&n);
        return;
    }
    for (forged = 1; forged >= 0 && TT_OK(); forged--) {
        uint8_t *bad = (uint8_t *)malloc(len);
        tidal__snap_hdr h;
        memcpy(bad, img, len);
        body = bad + TIDAL__SNAP_HDR;
        for (tries = 0; tries < 50; tries++) { /* a run of 0xFF bytes where the decode fails */
            pos = TIDAL__SNAP_HDR + TIDAL__SNAP_CHUNK + 64 +
                  (size_t)(sw_next(&rng) % (len - TIDAL__SNAP_HDR - TIDAL__SNAP_CHUNK - 200));
            memcpy(bad, img, len);
            memset(bad + pos, 0xFF, 12);
            if (mem) tidal_db_close(mem);
            mem = NULL;
            {
                tidal_config c = n.cfg;
                c.path = NULL;
                TT_EQ_INT(tidal_db_open(&c, &mem), TIDAL_OK);
            }
            why = tidal__snap_decode_fmt(mem, body, len - TIDAL__SNAP_HDR, 1, &at);
            if (why) break;
        }
        TT_CHECKF(why != NULL, "no damage found that the decoder refuses (seed %llu)",
                  (unsigned long long)rng);
        if (!why) break;
        at += TIDAL__SNAP_HDR;
        TT_CHECKF(at >= pos && at > TIDAL__SNAP_HDR + TIDAL__SNAP_CHUNK,
                  "found at %zu, damage at %zu", at, pos);
        if (forged) { /* the checksum made to match: only the decoder can tell */
            tidal__snap_hdr_get(bad, &h);
            tidal__snap_sum(body, len - TIDAL__SNAP_HDR, bad, h.sum);
            tidal__snap_hdr_put(bad, &h);
            snprintf(expect, sizeof expect, "%s: offset %zu: %s, and no older valid snapshot", path,
                     at, why);
        } else {
            snprintf(expect, sizeof expect, "%s: offset 0: checksum mismatch, and no older valid "
                     "snapshot", path);
        }
        put_file(&n, path, bad, len);
        /* The older snapshot and the log from it: the state before, to the byte. */
        TT_CHECKF(dn_open(&n, msg, sizeof msg) == TIDAL_OK, "open past the damaged snapshot: %s",
                  msg);
        if (n.db) {
            tidal_db_stats st;
            tidal_db_stats_get(n.db, &st);
            TT_EQ_INT(st.snapshot_lsn, lsn1);
            TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, got), TIDAL_OK);
            TT_CHECK(!memcmp(want, got, 32));
            tidal_db_close(n.db);
            n.db = NULL;
        }
        /* Alone (the older snapshot gone): refused, naming the file, offset and reason. */
        {
            tidal_sim_disk *keep = tidal_sim_disk_clone(n.disk);
            char older[160];
            snprintf(older, sizeof older, "db/snap-0000-0000-%016llx.snap",
                     (unsigned long long)lsn1);
            TT_EQ_INT(n.env.env.file_remove(n.env.env.user, older), TIDAL_OK);
            TT_EQ_INT(dn_open(&n, msg, sizeof msg), TIDAL_ERR_CORRUPT);
            TT_CHECK(n.db == NULL);
            TT_CHECKF(strstr(msg, expect) != NULL, "message \"%s\", expected \"%s\"", msg, expect);
            tidal_sim_disk_free(n.disk);
            n.disk = keep;
            tidal_sim_env_init(&n.env, n.disk, SW_T0, 12);
        }
        put_file(&n, path, img, len); /* undamaged again: the newest snapshot loads */
        TT_CHECKF(dn_open(&n, msg, sizeof msg) == TIDAL_OK, "open: %s", msg);
        if (n.db) {
            TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, got), TIDAL_OK);
            TT_CHECK(!memcmp(want, got, 32));
            tidal_db_close(n.db);
            n.db = NULL;
        }
        free(bad);
    }
    if (mem) tidal_db_close(mem);
    free(img);
    dn_free(&n);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_digest_pinned),
    TT_CASE(t_snapshot_v3_fixture),
    TT_CASE(t_snapshot_v4_strict),
    TT_CASE(t_auto_snapshot_bounded),
    TT_CASE(t_auto_snapshot_tick_and_reopen),
    TT_CASE(t_snapshot_load_then_fold),
    TT_CASE(t_snapshot_fast_readers),
    TT_CASE(t_snapshot_bulk_entity_map),
    TT_CASE(t_snapshot_load_divisions),
    TT_CASE(t_snapshot_bulk_tenant_lists),
    TT_CASE(t_snapshot_late_damage),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
