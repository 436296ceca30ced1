/* bench_wal.c - durability figures: group-commit ingest, single-write commit latency next
   to a bare pwrite + fdatasync, log recovery, and SQLite doing the same ingest.

   Output: one line per figure, `name: value unit`; section headers start with '#'.
   Usage:  bench_wal [section...]   sections: ingest sqlite latency recovery snapshot
           (no argument runs them all, in that order; sqlite's ratio line needs ingest).

   Unlike bench_core, every database here has a path: the log goes to a REAL file system,
   through the POSIX env's file methods, and the fdatasyncs are real. The directory is a
   fresh mkdtemp() under $TIDAL_BENCH_DIR if set, else under build/ when run from the
   repository root, else under /tmp; it is removed at exit (a Ctrl-C leaves it behind:
   look for bench_wal.* there). The file system type is printed, with a warning on tmpfs,
   where fdatasync costs nothing and the figures mean little.

   Clocks: as in bench_core, the databases read a fixed virtual clock (a custom env whose
   file methods are the POSIX ones), so event times, HLC stamps and the incarnation drawn
   at open are the same on every run; only the wall time measured around the calls and
   the disk differ. The disk here is virtual: figures vary run to run. Nothing asserts on
   timing.

   SQLite. The sqlite section is compiled in when <sqlite3.h> is found, and then the
   program must be linked with -lsqlite3. BENCH_WAL_SQLITE=0/1 on the command line forces
   the choice; without it __has_include decides (gcc >= 5, clang). A Makefile can test
   header and library with one compile (no '#' in it, which make < 4.3 would read as a
   comment; -include is gcc's and clang's) and pass both flags:

       SQLITE_OK := $(shell printf 'int main(void){return sqlite3_libversion_number() \
           == 0;}' | $(CC) -include sqlite3.h -x c - -lsqlite3 -o /dev/null 2>/dev/null \
           && echo 1)
       WAL_SQLITE = $(if $(SQLITE_OK),-DBENCH_WAL_SQLITE=1 -lsqlite3,-DBENCH_WAL_SQLITE=0)
       ... -o $(B)/bench_wal bench/bench_wal.c -lm $(WAL_SQLITE)

   (Checked with GNU make 4.3, gcc and clang: 1 with libsqlite3-dev, 0 without the
   header. A plain `$(if $(wildcard /usr/include/sqlite3.h),-lsqlite3)` also works on
   Debian, where libsqlite3-dev ships the header and the .so link together, but misses a
   header elsewhere on the include path.) Without SQLite the section prints
   `sqlite_ingest_rows_per_s: n/a (libsqlite3-dev not installed)`.

   README notes for the figures (for bench/README.md when the lead wires this in):
   - wal_ingest_*: end to end, from the first batch_begin to the last commit's return, so
     every fdatasync is inside the time. Extra lines split it: the same run with
     TIDAL_FSYNC_NONE, and the same writes with no path at all (no log).
   - commit_latency_*: each write commits (one write + one fdatasync) before it returns.
     The bare baseline appends the same number of bytes to a file in the same directory
     and fdatasyncs it; tidal and bare alternate op by op so both see the same disk
     weather. bare_overwrite_* (extra) rewrites bytes inside a preallocated, synced file:
     the floor for a log whose segments are preallocated.
   - recovery_*: the log files were just written, so open reads them from the page cache:
     the figure is replay (checksum, decode, apply), not disk read speed.
     recovery_apply_events_per_s and recovery_read_verify_decode_events_per_s split the
     replay by the handle's counters (tidal_db_stats.recovered_ns, recovered_apply_ns):
     folding events into state, and everything else (reading, BLAKE3, decoding).
   - snapshot_*, open_snapshot_*, disk_bytes_per_item_steady: bench_core's memory workload
     (1M items x (3 views + 1 like) over the last day, no users or cohorts) on disk: the
     snapshot's size per item and against the log it replaces, open from that snapshot
     against replaying that log (both from the page cache), and the files on disk after
     writing the workload ten times over with automatic snapshots at the default
     config.snapshot_log_bytes (64 MiB).
   - sqlite_*: SQLite's rate falls as its tables grow (the '#' line gives the first and
     last tenth), so it runs the same 2M rows as tidal rather than a flattering 200K.
   - sqlite: WAL mode, synchronous=FULL, prepared statements, 1000-row transactions, one
     INSERT into events plus one upsert of a per-item aggregate per signal; page cache
     raised to 256 MiB so it is not starved next to tidal's in-memory state. */

/* The implementation first: it sets _POSIX_C_SOURCE before any system header, which
   mkdtemp, fdatasync, pwrite and clock_gettime depend on under -std=c99. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#define BENCH_NAME "bench_wal"
#include "bench_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif

#ifndef BENCH_WAL_SQLITE
#if defined(__has_include)
#if __has_include(<sqlite3.h>)
#define BENCH_WAL_SQLITE 1
#endif
#endif
#endif
#ifndef BENCH_WAL_SQLITE
#define BENCH_WAL_SQLITE 0
#endif
#if BENCH_WAL_SQLITE
#include <sqlite3.h>
#endif

/* ---- common ----------------------------------------------------------------------------- */

/* The virtual "now" (2027-01-15), the same instant bench_core uses. */
#define BENCH_NOW_NS (INT64_C(1800000000) * TIDAL_NS_PER_S)

/* The key space of every workload here: 1M items, uniform. */
#define WAL_ITEMS 1000000u






static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array (as in bench_core). */
static double percentile(const double *sorted, uint32_t n, double p) {
    uint32_t i = (uint32_t)(p * (double)n + 0.999999);
    if (i == 0) i = 1;
    if (i > n) i = n;
    return sorted[i - 1];
}

/* ---- the scratch directory -------------------------------------------------------------- */

static char g_root[512]; /* the mkdtemp directory; "" until made */

/* Removes dir and everything under it (this bench makes at most two levels). Errors are
   ignored: it only ever runs on a directory this process created. */
static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    if (d) {
        while ((e = readdir(d)) != NULL) {
            struct stat st;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) rm_tree(path);
            else unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void root_cleanup(void) {
    if (g_root[0]) rm_tree(g_root);
    g_root[0] = 0;
}

/* Makes the scratch root once, prints where it is and on what file system. */
static const char *root_dir(void) {
    const char *base = getenv("TIDAL_BENCH_DIR");
    struct stat st;
    if (g_root[0]) return g_root;
    if (!base || !base[0]) base = stat("build", &st) == 0 && S_ISDIR(st.st_mode) ? "build" : "/tmp";
    /* tidal limits a database path to TIDAL_PATH_MAX bytes; the longest below adds ~20. */
    if (strlen(base) + 40 > TIDAL_PATH_MAX) die("TIDAL_BENCH_DIR", "path too long");
    snprintf(g_root, sizeof g_root, "%s/bench_wal.XXXXXX", base);
    if (!mkdtemp(g_root)) {
        g_root[0] = 0;
        die("mkdtemp", strerror(errno));
    }
    atexit(root_cleanup); /* die() and the normal exit both remove it */
    {
        const char *fs = "unknown";
#ifdef __linux__
        struct statfs sf;
        if (statfs(g_root, &sf) == 0) {
            switch ((unsigned long)sf.f_type) {
            case 0xEF53UL: fs = "ext4"; break;
            case 0x58465342UL: fs = "xfs"; break;
            case 0x9123683EUL: fs = "btrfs"; break;
            case 0x794C7630UL: fs = "overlayfs"; break;
            case 0x01021994UL: fs = "tmpfs"; break;
            default: break;
            }
        }
#endif
        printf("# bench_wal: scratch directory %s (file system: %s)\n", g_root, fs);
        if (!strcmp(fs, "tmpfs"))
            printf("# bench_wal: WARNING: tmpfs has no disk behind it; fdatasync is free here. "
                   "Set TIDAL_BENCH_DIR to a directory on a disk.\n");
    }
    return g_root;
}

/* A fresh subdirectory of the root for one database (tidal creates it at open). */
static void sub_dir(const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", root_dir(), name);
}

/* ---- the env: virtual clock, seeded randomness, POSIX files with I/O timing ------------- */

/* The clock and randomness are the bench's (so two runs do the same work); every file
   method is the POSIX env's. Writes and syncs are wrapped only to add up their wall time,
   which splits an ingest run into "disk" and "everything else" without a profiler. */
typedef struct bench_env_state {
    int64_t now_ns;
    uint64_t rng;
    double write_s, sync_s; /* wall time inside file_write / file_sync */
    uint64_t writes, syncs;
} bench_env_state;

static int64_t bench_env_wall(void *user) { return ((bench_env_state *)user)->now_ns; }

/* A real monotonic clock, for the reopens that recovery times: the handle's replay counters
   (tidal_db_stats.recovered_ns, recovered_apply_ns) read it. */
static int64_t bench_env_mono_real(void *user) {
    (void)user;
    return (int64_t)(wall_s() * 1e9);
}

static void bench_env_random(void *user, void *buf, size_t len) {
    bench_env_state *c = (bench_env_state *)user;
    size_t i;
    for (i = 0; i < len; i++) ((uint8_t *)buf)[i] = (uint8_t)splitmix64(&c->rng);
}

static tidal_result bench_env_write(void *user, void *file, uint64_t offset, const void *buf,
                                    size_t len) {
    bench_env_state *c = (bench_env_state *)user;
    double t0 = wall_s();
    tidal_result r = tidal_env_posix()->file_write(NULL, file, offset, buf, len);
    c->write_s += wall_s() - t0;
    c->writes++;
    return r;
}

static tidal_result bench_env_sync(void *user, void *file) {
    bench_env_state *c = (bench_env_state *)user;
    double t0 = wall_s();
    tidal_result r = tidal_env_posix()->file_sync(NULL, file);
    c->sync_s += wall_s() - t0;
    c->syncs++;
    return r;
}

static void bench_env_make(tidal_env *env, bench_env_state *c, uint64_t seed) {
    *env = *tidal_env_posix();
    memset(c, 0, sizeof *c);
    c->now_ns = BENCH_NOW_NS;
    c->rng = seed;
    env->user = c;
    env->clock_wall_ns = bench_env_wall;
    env->clock_mono_ns = bench_env_wall;
    env->random_fill = bench_env_random;
    env->file_write = bench_env_write;
    env->file_sync = bench_env_sync;
}

/* One signal type, as the brief's schema: "view", 1 h half-life, all windows. */
static const tidal_signal_def wal_sigs[1] = {{"view", 3600.0, 0, 0, 0}};

/* Opens (or, for an existing directory, recovers) a database. path NULL = ephemeral. */
static tidal_db *wal_open(const char *path, const tidal_env *env, uint32_t fsync_policy) {
    tidal_config cfg;
    tidal_db *db = NULL;
    char msg[256] = "";
    tidal_result r;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = path;
    cfg.env = env;
    cfg.schema.signals = wal_sigs;
    cfg.schema.signal_count = 1;
    cfg.fsync_policy = fsync_policy;
    /* The log alone: ingest and recovery measure the log path (an automatic snapshot in the
       middle would replace most of the replay being timed); the snapshot section measures
       snapshots, automatic ones included. */
    cfg.snapshot_log_bytes = TIDAL_SNAPSHOT_LOG_BYTES_OFF;
    r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
    if (r != TIDAL_OK) {
        fprintf(stderr, "bench_wal: open %s: %s (%s)\n", path ? path : "(ephemeral)",
                tidal_strerror(r), msg);
        exit(1);
    }
    return db;
}

/* One signal of the ingest workload: a random item of 1M, weight 1, no user, no cohort,
   an event time in the last hour (24 bits of ~214.6 us steps, as bench_core). The item
   comes from the high bits and the time from the low bits of one draw. */
static void wal_draw(uint64_t *rng, tidal_signal *s) {
    uint64_t r = splitmix64(rng);
    s->item = 1 + pick(r, WAL_ITEMS);
    s->time_ns = BENCH_NOW_NS - (int64_t)(r & 0xFFFFFF) * INT64_C(214576);
}

/* Writes n signals in explicit batches (batch_begin, `batch` writes, commit) and returns
   the seconds from the first begin to the last commit's return: every fdatasync is in. */
static double wal_write_batches(tidal_db *db, uint64_t *rng, uint64_t n, uint32_t batch) {
    tidal_signal s;
    uint64_t i = 0;
    double t0;
    memset(&s, 0, sizeof s);
    s.type = 0;
    s.weight = 1.0;
    t0 = wall_s();
    while (i < n) {
        uint64_t end = i + batch < n ? i + batch : n;
        check(db, tidal_db_batch_begin(db), "batch_begin");
        for (; i < end; i++) {
            wal_draw(rng, &s);
            check(db, tidal_signal_write(db, &s, NULL), "write");
        }
        check(db, tidal_db_commit(db), "commit");
    }
    return wall_s() - t0;
}

/* Counts the files of a database directory whose names start with prefix ("wal-" for log
   segments, "snap-" for snapshots) and adds up their sizes, for the header lines. */
static uint32_t count_files(const char *dir, const char *prefix, uint64_t *bytes) {
    DIR *d = opendir(dir);
    struct dirent *e;
    uint32_t n = 0;
    char path[1024];
    *bytes = 0;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, prefix, strlen(prefix))) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0) *bytes += (uint64_t)st.st_size;
        n++;
    }
    closedir(d);
    return n;
}

/* Filled by the ingest section, read by the sqlite section for the ratio line. */
static double g_tidal_ingest_per_s = 0.0;

/* ---- 1. ingest: 2M signals, explicit batches of 1000 and 10000 --------------------------- */

#define INGEST_N UINT64_C(2000000)
#define INGEST_SEED UINT64_C(0x77616c696e676573) /* shared with the sqlite section */

typedef struct ingest_result {
    double secs;
    tidal_db_stats st;
    bench_env_state io;
    uint32_t segments;
    uint64_t seg_bytes;
} ingest_result;

/* One ingest run in a fresh directory (name NULL: no path, no log). */
static void ingest_run(const char *name, uint32_t batch, uint32_t fsync_policy,
                       ingest_result *out) {
    tidal_env env;
    bench_env_state c;
    char dir[TIDAL_PATH_MAX + 1];
    uint64_t rng = INGEST_SEED;
    tidal_db *db;
    bench_env_make(&env, &c, 11);
    if (name) sub_dir(name, dir, sizeof dir);
    db = wal_open(name ? dir : NULL, &env, fsync_policy);
    out->secs = wal_write_batches(db, &rng, INGEST_N, batch);
    tidal_db_stats_get(db, &out->st);
    out->io = c;
    out->segments = name ? count_files(dir, "wal-", &out->seg_bytes) : 0;
    if (!name) out->seg_bytes = 0;
    tidal_db_close(db);
    if (name) rm_tree(dir); /* ~180 MB each: do not let the runs pile up on disk */
}

static void ingest_breakdown(const char *label, const ingest_result *r) {
    printf("# %s: %llu batches, %llu fdatasyncs, %.1f MB in %u segment(s); of %.2f s: "
           "fdatasync %.2f s, write %.2f s, apply + encode + checksum %.2f s\n", label,
           (unsigned long long)r->st.wal_batches, (unsigned long long)r->st.wal_syncs,
           (double)r->seg_bytes / 1e6, r->segments, r->secs, r->io.sync_s, r->io.write_s,
           r->secs - r->io.sync_s - r->io.write_s);
}

static void section_ingest(void) {
    ingest_result r;
    printf("# wal_ingest: %llu signals on %u random items (weight 1, no user or cohort, event "
           "times over the last hour), schema view (half-life 3600 s, all windows), empty db, "
           "default fsync policy (one fdatasync per batch), explicit batch_begin/commit; "
           "timed end to end\n", (unsigned long long)INGEST_N, WAL_ITEMS);
    root_dir();

    ingest_run("ingest_1k", 1000, TIDAL_FSYNC_DEFAULT, &r);
    g_tidal_ingest_per_s = (double)INGEST_N / r.secs;
    printf("wal_ingest_signals_per_s: %.0f signals/s\n", g_tidal_ingest_per_s);
    printf("wal_ingest_batch_events: 1000 events\n");
    printf("wal_bytes_per_event: %.1f bytes\n", (double)r.st.wal_bytes / (double)INGEST_N);
    ingest_breakdown("wal_ingest batch 1000", &r);

    ingest_run("ingest_10k", 10000, TIDAL_FSYNC_DEFAULT, &r);
    printf("wal_ingest_signals_per_s_batch10k: %.0f signals/s\n", (double)INGEST_N / r.secs);
    ingest_breakdown("wal_ingest batch 10000", &r);

    /* Not requested but cheap, and they say where the time goes: the same batches of 1000
       with no fdatasync (the log is still written), and the same writes with no log. */
    ingest_run("ingest_nosync", 1000, TIDAL_FSYNC_NONE, &r);
    printf("wal_ingest_nosync_signals_per_s: %.0f signals/s\n", (double)INGEST_N / r.secs);
    ingest_run(NULL, 1000, TIDAL_FSYNC_DEFAULT, &r);
    printf("ephemeral_ingest_signals_per_s: %.0f signals/s\n", (double)INGEST_N / r.secs);
}

/* ---- 2. sqlite: the same ingest in SQLite ----------------------------------------------- */

/* 2M rows, as tidal. The rate falls as the tables grow (the agg B-tree reaches 1M keys),
   so a shorter run would flatter SQLite; the full run fits the time budget here. */
#define SQLITE_N UINT64_C(2000000)
#define SQLITE_BATCH 1000u

#if BENCH_WAL_SQLITE

static void sq_check(sqlite3 *db, int rc, int want, const char *what) {
    if (rc == want) return;
    fprintf(stderr, "bench_wal: sqlite %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static void sq_exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench_wal: sqlite: %s: %s\n", sql, err ? err : "?");
        exit(1);
    }
}

/* Runs a one-value query and returns its first column as an integer. */
static int64_t sq_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int64_t v;
    sq_check(db, sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, sql);
    sq_check(db, sqlite3_step(st), SQLITE_ROW, sql);
    v = (int64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void section_sqlite(void) {
    char dir[TIDAL_PATH_MAX + 1], file[TIDAL_PATH_MAX + 32];
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *ups = NULL, *begin = NULL, *commit = NULL, *st = NULL;
    tidal_signal s;
    uint64_t rng = INGEST_SEED, i = 0;
    double t0, secs, per_s, t_first = 0, t_last = 0;
    const char *mode;
    printf("# sqlite %s: %llu rows, the ingest workload (same items, same order); per row an "
           "INSERT INTO events and an upsert of agg(item, count, wsum); WAL mode, "
           "synchronous=FULL, %u-row transactions, prepared statements, cache_size 256 MiB\n",
           sqlite3_libversion(), (unsigned long long)SQLITE_N, SQLITE_BATCH);
    sub_dir("sqlite", dir, sizeof dir);
    if (mkdir(dir, 0755) != 0) die("mkdir", strerror(errno));
    snprintf(file, sizeof file, "%s/peer.db", dir);
    sq_check(db, sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
             SQLITE_OK, "open");
    /* journal_mode answers with the mode it ended up in: make sure it is really WAL. */
    sq_check(db, sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL), SQLITE_OK,
             "journal_mode");
    sq_check(db, sqlite3_step(st), SQLITE_ROW, "journal_mode");
    mode = (const char *)sqlite3_column_text(st, 0);
    if (!mode || strcmp(mode, "wal")) die("sqlite", "journal_mode=WAL refused");
    sqlite3_finalize(st);
    /* FULL: in WAL mode the WAL is fsynced at every commit, the durability tidal gives. */
    sq_exec(db, "PRAGMA synchronous=FULL");
    /* tidal holds its whole state in memory; SQLite's default 2 MB page cache would send
       most agg upserts to the OS for pages, which is not the comparison asked for. */
    sq_exec(db, "PRAGMA cache_size=-262144");
    sq_exec(db, "CREATE TABLE events(item INTEGER NOT NULL, weight REAL NOT NULL, "
                "t INTEGER NOT NULL)");
    sq_exec(db, "CREATE TABLE agg(item INTEGER PRIMARY KEY, count INTEGER NOT NULL, "
                "wsum REAL NOT NULL)");
    sq_check(db, sqlite3_prepare_v2(db, "INSERT INTO events(item, weight, t) VALUES(?,?,?)",
                                    -1, &ins, NULL), SQLITE_OK, "prepare insert");
    sq_check(db, sqlite3_prepare_v2(db, "INSERT INTO agg(item, count, wsum) VALUES(?,1,?) "
                                        "ON CONFLICT(item) DO UPDATE SET count=count+1, "
                                        "wsum=wsum+excluded.wsum", -1, &ups, NULL),
             SQLITE_OK, "prepare upsert");
    sq_check(db, sqlite3_prepare_v2(db, "BEGIN", -1, &begin, NULL), SQLITE_OK, "prepare begin");
    sq_check(db, sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL), SQLITE_OK,
             "prepare commit");

    memset(&s, 0, sizeof s);
    t0 = wall_s();
    while (i < SQLITE_N) {
        uint64_t end = i + SQLITE_BATCH < SQLITE_N ? i + SQLITE_BATCH : SQLITE_N;
        sq_check(db, sqlite3_step(begin), SQLITE_DONE, "begin");
        sqlite3_reset(begin);
        for (; i < end; i++) {
            wal_draw(&rng, &s); /* the ingest section's exact sequence */
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)s.item);
            sqlite3_bind_double(ins, 2, 1.0);
            sqlite3_bind_int64(ins, 3, (sqlite3_int64)s.time_ns);
            sq_check(db, sqlite3_step(ins), SQLITE_DONE, "insert");
            sqlite3_reset(ins);
            sqlite3_bind_int64(ups, 1, (sqlite3_int64)s.item);
            sqlite3_bind_double(ups, 2, 1.0);
            sq_check(db, sqlite3_step(ups), SQLITE_DONE, "upsert");
            sqlite3_reset(ups);
        }
        sq_check(db, sqlite3_step(commit), SQLITE_DONE, "commit");
        sqlite3_reset(commit);
        /* Marks for the first and last tenth: the rate falls as the tables grow. */
        if (i == SQLITE_N / 10) t_first = wall_s() - t0;
        if (i == SQLITE_N - SQLITE_N / 10) t_last = wall_s();
    }
    secs = wall_s() - t0;
    t_last = t0 + secs - t_last;
    per_s = (double)SQLITE_N / secs;
    /* Read back: every row is there and every upsert counted. */
    printf("# sqlite: events %lld rows, agg %lld items, sum(count) %lld; first tenth of the "
           "rows at %.0f rows/s, last tenth at %.0f rows/s\n",
           (long long)sq_int(db, "SELECT count(*) FROM events"),
           (long long)sq_int(db, "SELECT count(*) FROM agg"),
           (long long)sq_int(db, "SELECT sum(count) FROM agg"),
           (double)(SQLITE_N / 10) / t_first, (double)(SQLITE_N / 10) / t_last);
    sqlite3_finalize(ins);
    sqlite3_finalize(ups);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    rm_tree(dir);
    printf("sqlite_ingest_rows_per_s: %.0f rows/s\n", per_s);
    if (g_tidal_ingest_per_s > 0)
        printf("tidal_vs_sqlite_ratio: %.2f x\n", g_tidal_ingest_per_s / per_s);
    else
        printf("tidal_vs_sqlite_ratio: n/a (run the ingest section too)\n");
}

#else /* !BENCH_WAL_SQLITE */

static void section_sqlite(void) {
    printf("# sqlite: not compiled in (no <sqlite3.h> at build time)\n");
    printf("sqlite_ingest_rows_per_s: n/a (libsqlite3-dev not installed)\n");
    printf("tidal_vs_sqlite_ratio: n/a (libsqlite3-dev not installed)\n");
}

#endif /* BENCH_WAL_SQLITE */

/* ---- 3. latency: one durable write at a time, next to a bare append + fdatasync -------- */

#define LAT_N 2000u
#define LAT_WARMUP 20u /* the first write creates the segment (open, truncate, dir fsync) */
#define LAT_PREALLOC ((size_t)1 << 20) /* > LAT_N * the write size */

/* The three timed operations, run in rotation so each sees the same disk weather. */
enum { OP_TIDAL, OP_APPEND, OP_OVERWRITE, OP_COUNT };

typedef struct lat_ctx {
    tidal_db *db;
    tidal_signal s;
    uint64_t rng;
    int fd_append, fd_over;
    const uint8_t *buf;
    size_t size;
    uint64_t off; /* shared: both bare files advance together */
} lat_ctx;

static void lat_op(lat_ctx *x, int op) {
    switch (op) {
    case OP_TIDAL:
        check(x->db, tidal_signal_write(x->db, &x->s, NULL), "write");
        break;
    case OP_APPEND: /* the file grows: fdatasync also logs the new size */
        if (pwrite(x->fd_append, x->buf, x->size, (off_t)x->off) != (ssize_t)x->size ||
            fdatasync(x->fd_append) != 0)
            die("bare append", strerror(errno));
        break;
    default: /* inside already written, synced bytes: fdatasync has only data to flush */
        if (pwrite(x->fd_over, x->buf, x->size, (off_t)x->off) != (ssize_t)x->size ||
            fdatasync(x->fd_over) != 0)
            die("bare overwrite", strerror(errno));
        break;
    }
}

static int lat_file(const char *dir, const char *name) {
    char path[TIDAL_PATH_MAX + 32];
    int fd;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open bare file", strerror(errno));
    return fd;
}

static void section_latency(void) {
    tidal_env env;
    bench_env_state c;
    char dir[TIDAL_PATH_MAX + 1];
    lat_ctx x;
    tidal_db_stats st;
    uint64_t syncs0 = 0;
    double *lat[OP_COUNT], p50[OP_COUNT], p99[OP_COUNT], mx[OP_COUNT];
    uint8_t *buf = (uint8_t *)calloc(1, LAT_PREALLOC);
    size_t k;
    uint32_t i;
    int op;
    for (op = 0; op < OP_COUNT; op++)
        if (!(lat[op] = (double *)malloc(sizeof(double) * LAT_N))) die("latency", "out of memory");
    if (!buf) die("latency", "out of memory");
    memset(&x, 0, sizeof x);
    x.rng = UINT64_C(0x6c6174656e6379);
    x.s.weight = 1.0;
    sub_dir("latency", dir, sizeof dir);
    bench_env_make(&env, &c, 33);
    x.db = wal_open(dir, &env, TIDAL_FSYNC_DEFAULT);
    /* One write first, to learn its size: every write of this workload logs the same
       bytes (a 112-byte batch header and one fixed-size signal event), and the bare
       files take exactly that much per op. */
    wal_draw(&x.rng, &x.s);
    check(x.db, tidal_signal_write(x.db, &x.s, NULL), "first write");
    tidal_db_stats_get(x.db, &st);
    x.size = (size_t)st.wal_bytes;
    if (st.wal_batches != 1 || x.size * (LAT_WARMUP + LAT_N) > LAT_PREALLOC)
        die("latency", "unexpected first commit");
    printf("# commit_latency: %u single-signal writes, each committed (1 write + 1 "
           "fdatasync, %zu bytes) before it returns, default config; bare: pwrite of %zu "
           "bytes appended to a file in the same directory + fdatasync; the ops rotate "
           "(tidal, bare append, bare overwrite) with the order shifted every round, after "
           "%u warm-up rounds; target: commit_latency_ratio <= 1.2\n", LAT_N, x.size,
           x.size, LAT_WARMUP);

    /* The bare files are made like a tidal segment, created and then the directory synced,
       so only the writes and their syncs are timed. The overwrite file is 1 MiB of zeros
       written and synced up front: what a preallocated (or recycled) segment would be. */
    x.fd_append = lat_file(dir, "bare_append.log");
    x.fd_over = lat_file(dir, "bare_over.log");
    if (pwrite(x.fd_over, buf, LAT_PREALLOC, 0) != (ssize_t)LAT_PREALLOC || fsync(x.fd_over) != 0)
        die("preallocate", strerror(errno));
    check(NULL, tidal_env_posix()->dir_sync(NULL, dir), "dir sync");
    for (k = 0; k < x.size; k++) buf[k] = (uint8_t)splitmix64(&x.rng);
    x.buf = buf;

    for (i = 0; i < LAT_WARMUP + LAT_N; i++) {
        int j;
        if (i == LAT_WARMUP) {
            tidal_db_stats_get(x.db, &st);
            syncs0 = st.wal_syncs;
        }
        wal_draw(&x.rng, &x.s);
        for (j = 0; j < OP_COUNT; j++) {
            double t0;
            op = (int)((i + (uint32_t)j) % OP_COUNT);
            t0 = wall_s();
            lat_op(&x, op);
            if (i >= LAT_WARMUP) lat[op][i - LAT_WARMUP] = (wall_s() - t0) * 1e6;
        }
        x.off += x.size;
    }
    close(x.fd_append);
    close(x.fd_over);
    tidal_db_stats_get(x.db, &st);
    tidal_db_close(x.db);
    rm_tree(dir);
    for (op = 0; op < OP_COUNT; op++) {
        qsort(lat[op], LAT_N, sizeof(double), cmp_double);
        p50[op] = percentile(lat[op], LAT_N, 0.50);
        p99[op] = percentile(lat[op], LAT_N, 0.99);
        mx[op] = lat[op][LAT_N - 1];
        free(lat[op]);
    }
    free(buf);
    printf("# commit_latency: %llu fdatasyncs for %u timed writes; max: tidal %.0f us, bare "
           "append %.0f us, bare overwrite %.0f us\n",
           (unsigned long long)(st.wal_syncs - syncs0), LAT_N, mx[OP_TIDAL], mx[OP_APPEND],
           mx[OP_OVERWRITE]);
    printf("commit_latency_p50_us: %.1f us\n", p50[OP_TIDAL]);
    printf("commit_latency_p99_us: %.1f us\n", p99[OP_TIDAL]);
    printf("bare_write_fdatasync_p50_us: %.1f us\n", p50[OP_APPEND]);
    printf("bare_write_fdatasync_p99_us: %.1f us\n", p99[OP_APPEND]);
    printf("commit_latency_ratio: %.3f x\n", p50[OP_TIDAL] / p50[OP_APPEND]);
    /* Not requested: the floor a log could reach if its segments were preallocated, since
       an append that grows the file makes fdatasync commit the size change as well. */
    printf("bare_overwrite_fdatasync_p50_us: %.1f us\n", p50[OP_OVERWRITE]);
    printf("bare_overwrite_fdatasync_p99_us: %.1f us\n", p99[OP_OVERWRITE]);
}

/* ---- 4. recovery: replay 2M events; then a snapshot plus 100K events -------------------- */

#define REC_N UINT64_C(2000000)
#define REC_BATCH 10000u
#define REC_AFTER_SNAP UINT64_C(100000)

/* Times one tidal_db_open of an existing directory (the recovery) in seconds. */
static tidal_db *timed_reopen(const char *dir, tidal_env *env, double *secs) {
    double t0 = wall_s();
    tidal_db *db = wal_open(dir, env, TIDAL_FSYNC_DEFAULT);
    *secs = wall_s() - t0;
    return db;
}

static void section_recovery(void) {
    tidal_env env;
    bench_env_state c;
    char dir[TIDAL_PATH_MAX + 1];
    tidal_db *db;
    tidal_db_stats st;
    uint64_t rng = UINT64_C(0x7265636f76657279), log_bytes, files_bytes;
    uint32_t segs;
    double secs, t_build, t0;
    printf("# recovery: log of %llu signals (the ingest workload) in batches of %u, no "
           "snapshot, closed, then tidal_db_open timed; log files still in the page cache\n",
           (unsigned long long)REC_N, REC_BATCH);
    sub_dir("recovery", dir, sizeof dir);
    bench_env_make(&env, &c, 44);
    db = wal_open(dir, &env, TIDAL_FSYNC_DEFAULT);
    t_build = wal_write_batches(db, &rng, REC_N, REC_BATCH);
    tidal_db_stats_get(db, &st);
    log_bytes = st.wal_bytes;
    tidal_db_close(db);
    segs = count_files(dir, "wal-", &files_bytes);
    printf("# recovery: built in %.1f s (not measured): %.1f MB of log in %u segment(s)\n",
           t_build, (double)files_bytes / 1e6, segs);

    env.clock_mono_ns = bench_env_mono_real;
    db = timed_reopen(dir, &env, &secs);
    env.clock_mono_ns = bench_env_wall; /* the handle keeps &env: the rest runs as before */
    tidal_db_stats_get(db, &st);
    if (st.recovered_events != REC_N) {
        fprintf(stderr, "bench_wal: recovered %llu events, expected %llu\n",
                (unsigned long long)st.recovered_events, (unsigned long long)REC_N);
        exit(1);
    }
    printf("recovery_events_per_s: %.0f events/s\n", (double)st.recovered_events / secs);
    printf("recovery_bytes_per_s: %.0f bytes/s\n", (double)log_bytes / secs);
    printf("recovery_ms: %.1f ms\n", secs * 1e3);
    /* The split, from the handle's own counters: the replay's wall time, and of it the time
       folding events into state (tidal__apply); the rest is reading the segments, BLAKE3
       over every batch, decoding and checking the events. */
    printf("# recovery: replay %.1f ms, of which apply %.1f ms and read + verify + decode %.1f ms\n",
           (double)st.recovered_ns / 1e6, (double)st.recovered_apply_ns / 1e6,
           (double)(st.recovered_ns - st.recovered_apply_ns) / 1e6);
    printf("recovery_read_verify_decode_events_per_s: %.0f events/s\n",
           (double)st.recovered_events / ((double)(st.recovered_ns - st.recovered_apply_ns) / 1e9));
    printf("recovery_apply_events_per_s: %.0f events/s\n",
           (double)st.recovered_events / ((double)st.recovered_apply_ns / 1e9));

    /* The same handle goes on: snapshot the 2M-event state, add 100K, close, reopen. The
       reopen loads the snapshot, then scans the segment holding the first lsn after it
       (checksums every batch there, applies only those above the snapshot). */
    t0 = wall_s();
    check(db, tidal_db_snapshot(db), "snapshot");
    secs = wall_s() - t0;
    (void)count_files(dir, "snap-", &files_bytes);
    printf("# recovery: snapshot of the 2M-event state (%.1f MB) written in %.1f ms (not a "
           "target)\n", (double)files_bytes / 1e6, secs * 1e3);
    (void)wal_write_batches(db, &rng, REC_AFTER_SNAP, REC_BATCH);
    tidal_db_close(db);
    db = timed_reopen(dir, &env, &secs);
    tidal_db_stats_get(db, &st);
    printf("# recovery: with snapshot: %llu events replayed from the log after the snapshot "
           "(lsn %llu)\n", (unsigned long long)st.recovered_events,
           (unsigned long long)st.snapshot_lsn);
    printf("recovery_with_snapshot_ms: %.1f ms\n", secs * 1e3);
    tidal_db_close(db);
    rm_tree(dir);
}

/* ---- 5. snapshot: the memory workload's snapshot against its log ------------------------ */

#ifndef SNAP_ITEMS
#define SNAP_ITEMS 1000000u /* -DSNAP_ITEMS=n for a quicker run */
#endif
#define SNAP_BATCH 10000u
#define SNAP_PASSES 10u
#define SNAP_DAY_NS (INT64_C(86400) * TIDAL_NS_PER_S)

/* bench_core's schema: view (1 h) and like (1 day), all windows, cohort key locale. */
static const tidal_signal_def snap_sigs[2] = {{"view", 3600.0, 0, 0, 0}, {"like", 86400.0, 0, 0, 0}};
static const char *const snap_cohort_keys[1] = {"locale"};

static tidal_db *snap_open(const char *path, const tidal_env *env, uint64_t snapshot_log_bytes) {
    tidal_config cfg;
    tidal_db *db = NULL;
    char msg[256] = "";
    memset(&cfg, 0, sizeof cfg);
    cfg.path = path;
    cfg.env = env;
    cfg.schema.signals = snap_sigs;
    cfg.schema.signal_count = 2;
    cfg.schema.cohort_keys = snap_cohort_keys;
    cfg.schema.cohort_key_count = 1;
    cfg.snapshot_log_bytes = snapshot_log_bytes;
    if (tidal_db_open_msg(&cfg, &db, msg, sizeof msg) != TIDAL_OK) {
        fprintf(stderr, "bench_wal: open %s: %s\n", path, msg);
        exit(1);
    }
    return db;
}

/* One pass of bench_core's bytes workload: every item gets 3 views and 1 like at random
   times over the last day (weight 1), committed SNAP_BATCH writes at a time. */
static void snap_pass(tidal_db *db, uint64_t *rng) {
    tidal_signal s;
    uint32_t i, k, n = 0;
    memset(&s, 0, sizeof s);
    s.weight = 1.0;
    check(db, tidal_db_batch_begin(db), "batch_begin");
    for (i = 1; i <= SNAP_ITEMS; i++) {
        s.item = i;
        for (k = 0; k < 4; k++) {
            s.type = k < 3 ? 0u : 1u;
            s.time_ns = BENCH_NOW_NS - (int64_t)(splitmix64(rng) % (uint64_t)SNAP_DAY_NS);
            check(db, tidal_signal_write(db, &s, NULL), "write");
            if (++n % SNAP_BATCH == 0) {
                check(db, tidal_db_commit(db), "commit");
                check(db, tidal_db_batch_begin(db), "batch_begin");
            }
        }
    }
    check(db, tidal_db_commit(db), "commit");
}

/* This process's CPU time (user + system) in seconds. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Times one open: wall seconds, and CPU seconds in *cpu (the machine is shared, so the
   speedup is taken from CPU time, which other processes disturb far less). */
static tidal_db *snap_timed_open(const char *dir, tidal_env *env, double *secs, double *cpu) {
    double t0 = wall_s(), c0 = cpu_s();
    tidal_db *db = snap_open(dir, env, TIDAL_SNAPSHOT_LOG_BYTES_OFF);
    *secs = wall_s() - t0;
    *cpu = cpu_s() - c0;
    return db;
}

static void section_snapshot(void) {
    tidal_env env;
    bench_env_state c;
    char dir[TIDAL_PATH_MAX + 1];
    tidal_db *db;
    tidal_db_stats st;
    uint64_t rng = UINT64_C(0x62797465), log_bytes, snap_bytes, all_bytes, seg_bytes;
    double t_replay, t_snap, t_build, c_replay, c_snap;
    uint8_t d0[32], d1[32];
    uint32_t k, n_snaps;
    printf("# snapshot: bench_core's memory workload (%u items x (3 views + 1 like) over the last "
           "day) written durably in batches of %u, then: the log replayed, a snapshot, the "
           "snapshot loaded; files in the page cache\n", SNAP_ITEMS, SNAP_BATCH);
    sub_dir("snapshot", dir, sizeof dir);
    bench_env_make(&env, &c, 55);
    db = snap_open(dir, &env, TIDAL_SNAPSHOT_LOG_BYTES_OFF);
    t_build = wall_s();
    snap_pass(db, &rng);
    t_build = wall_s() - t_build;
    tidal_db_close(db);
    (void)count_files(dir, "wal-", &log_bytes);
    db = snap_timed_open(dir, &env, &t_replay, &c_replay);
    tidal_db_stats_get(db, &st);
    if (st.recovered_events != 4ull * SNAP_ITEMS) {
        fprintf(stderr, "bench_wal: replayed %llu events\n", (unsigned long long)st.recovered_events);
        exit(1);
    }
    check(db, tidal_db_digest(db, TIDAL_ALL_TENANTS, d0), "digest");
    check(db, tidal_db_snapshot(db), "snapshot");
    tidal_db_close(db);
    n_snaps = count_files(dir, "snap-", &snap_bytes);
    db = snap_timed_open(dir, &env, &t_snap, &c_snap);
    tidal_db_stats_get(db, &st);
    check(db, tidal_db_digest(db, TIDAL_ALL_TENANTS, d1), "digest");
    if (n_snaps != 1 || st.recovered_events != 0 || memcmp(d0, d1, 32)) {
        fprintf(stderr, "bench_wal: the snapshot did not open to the replayed state\n");
        exit(1);
    }
    tidal_db_close(db);
    printf("# snapshot: log %.1f MB (%.1f bytes/item) built in %.1f s (not measured); snapshot "
           "%.1f MB; open wall: replay %.1f ms, snapshot %.1f ms (%.2f x)\n", (double)log_bytes / 1e6,
           (double)log_bytes / SNAP_ITEMS, t_build, (double)snap_bytes / 1e6, t_replay * 1e3, t_snap * 1e3,
           t_replay / t_snap);
    printf("snapshot_bytes_per_item: %.1f bytes\n", (double)snap_bytes / SNAP_ITEMS);
    printf("snapshot_vs_log_ratio: %.3f x\n", (double)snap_bytes / (double)log_bytes);
    printf("open_snapshot_cpu_ms: %.1f ms\n", c_snap * 1e3);
    printf("open_replay_cpu_ms: %.1f ms\n", c_replay * 1e3);
    printf("open_snapshot_vs_replay_speedup: %.2f x\n", c_replay / c_snap);
    rm_tree(dir);

    /* Steady state: the same workload ten times over, automatic snapshots at the default
       threshold; what is on disk at the end. */
    sub_dir("steady", dir, sizeof dir);
    db = snap_open(dir, &env, 0);
    t_build = wall_s();
    for (k = 0; k < SNAP_PASSES; k++) snap_pass(db, &rng);
    t_build = wall_s() - t_build;
    tidal_db_stats_get(db, &st);
    tidal_db_close(db);
    n_snaps = count_files(dir, "snap-", &snap_bytes);
    (void)count_files(dir, "wal-", &seg_bytes);
    all_bytes = snap_bytes + seg_bytes;
    printf("# snapshot: steady: %u passes (%.1f MB of log written) in %.1f s: %u snapshot(s) "
           "%.1f MB + log %.1f MB on disk\n", SNAP_PASSES, (double)st.wal_bytes / 1e6, t_build,
           n_snaps, (double)snap_bytes / 1e6, (double)seg_bytes / 1e6);
    printf("disk_bytes_per_item_steady: %.1f bytes\n", (double)all_bytes / SNAP_ITEMS);
    rm_tree(dir);
}

/* ---- main ------------------------------------------------------------------------------ */


static const bench_section sections[] = {
    {"ingest", section_ingest},
    {"sqlite", section_sqlite},
    {"latency", section_latency},
    {"recovery", section_recovery},
    {"snapshot", section_snapshot},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

int main(int argc, char **argv) {
    int want[N_SECTIONS];
    size_t k;
    double t0 = wall_s();
    bench_select(argc, argv, sections, N_SECTIONS, want);
    printf("# bench_wal: tidal %s\n", TIDAL_VERSION_STRING);
    root_dir();
    for (k = 0; k < N_SECTIONS; k++)
        if (want[k]) sections[k].run();
    printf("# bench_wal: %.1f s in all\n", wall_s() - t0);
    return 0;
}
