/* test_sim_disk.c - the simulated disk and env of tidal_sim.h, driven through the tidal_env
   vtable the way the WAL drives it: synced data survives crashes bit for bit, unsynced data
   comes back per sector as old or new, metadata survives as a journal prefix, injected
   faults fire once and change nothing, clones are independent, stale handles fail, the
   same seed gives the same bytes, and a reference model agrees over thousands of random
   operations when fates are forced (keep all / drop all). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define RW (TIDAL_OPEN_READ | TIDAL_OPEN_WRITE)
#define RWC (TIDAL_OPEN_READ | TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE)

/* ---- helpers ------------------------------------------------------------------------- */

static void fill_random(uint8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)tt_rand();
}

static void *open_ok(tidal_sim_env *e, const char *path, uint32_t flags) {
    void *h = NULL;
    tidal_result r = e->env.file_open(e->env.user, path, flags, &h);
    TT_CHECKF(r == TIDAL_OK && h != NULL, "open %s: %s", path, tidal_strerror(r));
    return h;
}

static void write_ok(tidal_sim_env *e, void *h, uint64_t off, const void *buf, size_t len) {
    TT_EQ_INT(e->env.file_write(e->env.user, h, off, buf, len), TIDAL_OK);
}

static void sync_ok(tidal_sim_env *e, void *h) {
    TT_EQ_INT(e->env.file_sync(e->env.user, h), TIDAL_OK);
}

static void dsync_ok(tidal_sim_env *e, const char *dir) {
    TT_EQ_INT(e->env.dir_sync(e->env.user, dir), TIDAL_OK);
}

static void mkdir_ok(tidal_sim_env *e, const char *dir) {
    TT_EQ_INT(e->env.dir_create(e->env.user, dir), TIDAL_OK);
}

static void close_h(tidal_sim_env *e, void *h) { e->env.file_close(e->env.user, h); }

/* Creates path with the given synced content (the name is not made durable). */
static void put_file(tidal_sim_env *e, const char *path, const uint8_t *data, size_t len) {
    void *h = open_ok(e, path, RWC);
    if (len) write_ok(e, h, 0, data, len);
    sync_ok(e, h);
    close_h(e, h);
}

static int exists(const tidal_sim_disk *d, const char *path) {
    uint8_t *data = NULL;
    size_t len = 0;
    if (tidal_sim_disk_read(d, path, &data, &len) != TIDAL_OK) return 0;
    free(data);
    return 1;
}

/* 1 when the file at path holds exactly want[0, len). */
static int has_content(const tidal_sim_disk *d, const char *path, const uint8_t *want,
                       size_t len) {
    uint8_t *data = NULL;
    size_t got = 0;
    int same;
    if (tidal_sim_disk_read(d, path, &data, &got) != TIDAL_OK) return 0;
    same = got == len && (len == 0 || memcmp(data, want, len) == 0);
    free(data);
    return same;
}

static void hash_dir(const tidal_sim_disk *d, const char *dir, struct tidal_blake3 *h) {
    uint32_t n = tidal_sim_disk_list(d, dir, NULL, 0), i;
    char(*names)[128] = (char(*)[128])malloc((size_t)(n + 1) * 128);
    TT_EQ_INT(tidal_sim_disk_list(d, dir, names, n), n);
    for (i = 0; i < n; i++) {
        char path[512];
        uint8_t *data = NULL, lenb[8];
        size_t len = 0, k;
        size_t dl = strlen(dir), nl = strlen(names[i]);
        TT_CHECK(dl + 1 + nl < sizeof path);
        if (dl + 1 + nl >= sizeof path) break;
        memcpy(path, dir, dl);
        if (dl) path[dl++] = '/';
        memcpy(path + dl, names[i], nl + 1);
        tidal_blake3_update(h, path, strlen(path) + 1);
        if (tidal_sim_disk_read(d, path, &data, &len) == TIDAL_OK) {
            for (k = 0; k < 8; k++) lenb[k] = (uint8_t)((uint64_t)len >> (8 * k));
            tidal_blake3_update(h, lenb, 8);
            tidal_blake3_update(h, data, len);
            free(data);
        } else {
            tidal_blake3_update(h, "dir", 4);
            hash_dir(d, path, h);
        }
    }
    free(names);
}

/* BLAKE3 of every path and file content of the current namespace, in sorted order. */
static void image_hash(const tidal_sim_disk *d, uint8_t out[32]) {
    struct tidal_blake3 h;
    tidal_blake3_init(&h);
    hash_dir(d, "", &h);
    tidal_blake3_final(&h, out, 32);
}

static void file_hash(const tidal_sim_disk *d, const char *path, uint8_t out[32]) {
    uint8_t *data = NULL;
    size_t len = 0;
    TT_EQ_INT(tidal_sim_disk_read(d, path, &data, &len), TIDAL_OK);
    tidal_blake3(data, len, out);
    free(data);
}

/* ---- durability of synced data ------------------------------------------------------- */

/* The WAL's pattern: mkdir + parent sync, create + dir sync, appends, fdatasync. Whatever
   the fates, the synced prefix comes back bit for bit, and a down disk refuses everything
   with the right sub-code. */
static void t_synced_survives_crash(void) {
    int round;
    for (round = 0; round < 40 && TT_OK(); round++) {
        tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
        tidal_sim_env e;
        tidal_sim_disk_stats st;
        uint8_t *buf = (uint8_t *)malloc(40000), *tail = (uint8_t *)malloc(4000), *img;
        size_t synced = 0, tail_len = 1 + (size_t)tt_below(4000), len, i;
        void *h, *h2 = NULL;
        uint64_t size = 0;
        tidal_sim_env_init(&e, d, T0, tt_rand());
        mkdir_ok(&e, "wal");
        dsync_ok(&e, "");
        h = open_ok(&e, "wal/seg-1", RWC);
        dsync_ok(&e, "wal");
        while (synced < 30000) {
            size_t n = 1 + (size_t)tt_below(3000);
            fill_random(buf + synced, n);
            write_ok(&e, h, synced, buf + synced, n);
            synced += n;
        }
        sync_ok(&e, h);
        fill_random(tail, tail_len); /* an unsynced append that may or may not survive */
        write_ok(&e, h, synced, tail, tail_len);
        tidal_sim_disk_crash(d);
        TT_CHECK(tidal_sim_disk_is_down(d));
        tidal_sim_disk_stats_get(d, &st);
        TT_CHECK(st.handles_open == 0 && st.unsynced_ops == 0 && st.journal_pending == 0);
        TT_EQ_INT(st.files, 1);
        TT_EQ_INT(e.env.file_open(e.env.user, "wal/seg-1", TIDAL_OPEN_READ, &h2),
                  TIDAL_ERR_IO_READ);
        TT_EQ_INT(e.env.file_open(e.env.user, "wal/x", RWC, &h2), TIDAL_ERR_IO_WRITE);
        TT_EQ_INT(e.env.file_read(e.env.user, h, 0, buf, 10, &len), TIDAL_ERR_IO_READ);
        TT_EQ_INT(len, 0);
        TT_EQ_INT(e.env.file_write(e.env.user, h, 0, buf, 10), TIDAL_ERR_IO_WRITE);
        TT_EQ_INT(e.env.file_truncate(e.env.user, h, 0), TIDAL_ERR_IO_WRITE);
        TT_EQ_INT(e.env.file_sync(e.env.user, h), TIDAL_ERR_IO_FSYNC);
        TT_EQ_INT(e.env.file_size(e.env.user, h, &size), TIDAL_ERR_IO_READ);
        TT_EQ_INT(e.env.file_rename(e.env.user, "wal/seg-1", "wal/b"), TIDAL_ERR_IO_WRITE);
        TT_EQ_INT(e.env.file_remove(e.env.user, "wal/seg-1"), TIDAL_ERR_IO_WRITE);
        TT_EQ_INT(e.env.dir_create(e.env.user, "z"), TIDAL_ERR_IO_WRITE);
        TT_EQ_INT(e.env.dir_sync(e.env.user, "wal"), TIDAL_ERR_IO_FSYNC);
        close_h(&e, h); /* safe while down */
        tidal_sim_disk_restart(d);
        TT_CHECK(!tidal_sim_disk_is_down(d));
        TT_EQ_INT(e.env.file_read(e.env.user, h, 0, buf, 10, &len), TIDAL_ERR_IO_READ);
        if (tidal_sim_disk_read(d, "wal/seg-1", &img, &len) != TIDAL_OK) {
            TT_CHECKF(0, "round %d: the synced, dir-synced file is gone", round);
            break;
        }
        TT_CHECK(len >= synced && len <= synced + tail_len);
        TT_CHECK(memcmp(img, buf, synced) == 0);
        for (i = synced; i < len; i++) /* past the synced end: new bytes or a zero gap */
            TT_CHECK(img[i] == tail[i - synced] || img[i] == 0);
        free(img);
        h = open_ok(&e, "wal/seg-1", TIDAL_OPEN_READ);
        TT_EQ_INT(e.env.file_size(e.env.user, h, &size), TIDAL_OK);
        TT_EQ_INT(size, len);
        close_h(&e, h);
        tidal_sim_disk_check(d);
        free(buf);
        free(tail);
        tidal_sim_disk_free(d);
    }
}

/* ---- fates of unsynced data --------------------------------------------------------- */

/* One unsynced, unaligned write over a synced file and past its end. After a crash each
   512-byte piece is exactly old (zeros or absent past the old end) or exactly new, the
   file length is the old one or the end of an applied piece, and over many seeds all of
   all-new, all-old and mixed (torn) happen. */
static void t_unsynced_sectors_old_or_new(void) {
    enum { OLD = 4096, OFF = 700, N = 4000 };
    int seed, all_new = 0, all_old = 0, mixed = 0;
    uint64_t kept = 0, dropped = 0, torn = 0;
    for (seed = 0; seed < 600 && TT_OK(); seed++) {
        tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
        tidal_sim_env e;
        tidal_sim_disk_stats st;
        uint8_t old[OFF + N], neu[N], *img;
        size_t len, at, i;
        int n_new = 0, n_old = 0, pieces = 0;
        void *h;
        tidal_sim_env_init(&e, d, T0, 1);
        fill_random(old, OLD);
        memset(old + OLD, 0, sizeof old - OLD); /* "old" past the end reads as zeros */
        put_file(&e, "f", old, OLD);
        dsync_ok(&e, "");
        for (i = 0; i < N; i++) neu[i] = (uint8_t)(old[OFF + i] ^ (1 + tt_below(255)));
        h = open_ok(&e, "f", RW);
        write_ok(&e, h, OFF, neu, N);
        tidal_sim_disk_crash(d);
        tidal_sim_disk_restart(d);
        if (tidal_sim_disk_read(d, "f", &img, &len) != TIDAL_OK || len < OLD) {
            TT_CHECKF(0, "seed %d: the synced file is gone or short", seed);
            break;
        }
        TT_CHECK(memcmp(img, old, OFF) == 0);
        TT_CHECKF(len == OLD || len == 4608 || len == OFF + N, "len %d", (int)len);
        for (at = OFF; at < OFF + N;) {
            size_t end = (at / 512 + 1) * 512, lim;
            int is_new, is_old;
            if (end > OFF + N) end = OFF + N;
            lim = end < len ? end : len;
            is_new = lim == end && memcmp(img + at, neu + (at - OFF), end - at) == 0;
            is_old = at >= lim || memcmp(img + at, old + at, lim - at) == 0;
            TT_CHECKF(is_new != is_old, "seed %d piece at %d: neither old nor new", seed,
                      (int)at);
            n_new += is_new;
            n_old += is_old;
            pieces++;
            at = end;
        }
        if (len > OLD) { /* the file ends exactly where an applied piece ends */
            TT_CHECK(memcmp(img + len - 1, neu + (len - 1 - OFF), 1) == 0);
        }
        if (n_new == pieces) all_new++;
        else if (n_old == pieces) all_old++;
        else mixed++;
        free(img);
        tidal_sim_disk_stats_get(d, &st);
        kept += st.fates_kept;
        dropped += st.fates_dropped;
        torn += st.fates_torn;
        TT_EQ_INT(st.fates_kept + st.fates_dropped + st.fates_torn, 1);
        TT_EQ_INT(st.crashes, 1);
        tidal_sim_disk_check(d);
        tidal_sim_disk_free(d);
    }
    TT_CHECKF(all_new > 0 && all_old > 0 && mixed > 0, "new %d old %d mixed %d", all_new,
              all_old, mixed);
    TT_CHECKF(kept > 0 && dropped > 0 && torn > 0, "kept %d dropped %d torn %d", (int)kept,
              (int)dropped, (int)torn);
    /* 40/30/30 over 600 runs: about 240 all new, 180 all old, 180 mixed; loose bounds. */
    TT_CHECK(mixed > 60 && all_old > 60 && all_new > 100);
}

/* An unsynced truncate (down or up) is all or nothing: old length and content, or the
   new length with the old prefix (and zeros when it grew). */
static void t_unsynced_truncate(void) {
    int seed, seen_old = 0, seen_new = 0;
    for (seed = 0; seed < 200 && TT_OK(); seed++) {
        tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
        tidal_sim_env e;
        uint8_t old[3000], want[5000];
        uint64_t to = tt_below(2) ? 1000 : 5000;
        void *h;
        tidal_sim_env_init(&e, d, T0, 1);
        fill_random(old, sizeof old);
        put_file(&e, "t", old, sizeof old);
        dsync_ok(&e, "");
        h = open_ok(&e, "t", RW);
        TT_EQ_INT(e.env.file_truncate(e.env.user, h, to), TIDAL_OK);
        tidal_sim_disk_crash(d);
        tidal_sim_disk_restart(d);
        memset(want, 0, sizeof want);
        memcpy(want, old, to < 3000 ? (size_t)to : 3000);
        if (has_content(d, "t", old, sizeof old)) seen_old++;
        else if (has_content(d, "t", want, (size_t)to)) seen_new++;
        else TT_CHECKF(0, "seed %d: truncate to %d neither old nor new", seed, (int)to);
        tidal_sim_disk_free(d);
    }
    TT_CHECK(seen_old > 20 && seen_new > 20);
}

/* ---- metadata ------------------------------------------------------------------------ */

/* The snapshot pattern: write tmp, fsync, rename over the old file. Without a dir_sync the
   crash leaves one of the three namespaces the journal passed through; never a missing or
   mixed target. With the dir_sync the new file is always there. */
static void t_rename_atomic(void) {
    int seed, states[3] = {0, 0, 0};
    uint8_t a[2000], b[2500];
    fill_random(a, sizeof a);
    fill_random(b, sizeof b);
    for (seed = 0; seed < 300 && TT_OK(); seed++) {
        tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
        tidal_sim_env e;
        int synced = seed % 4 == 0;
        tidal_sim_env_init(&e, d, T0, 1);
        mkdir_ok(&e, "db");
        dsync_ok(&e, "");
        put_file(&e, "db/snap", a, sizeof a);
        dsync_ok(&e, "db");
        put_file(&e, "db/snap.tmp", b, sizeof b);
        TT_EQ_INT(e.env.file_rename(e.env.user, "db/snap.tmp", "db/snap"), TIDAL_OK);
        TT_CHECK(has_content(d, "db/snap", b, sizeof b) && !exists(d, "db/snap.tmp"));
        if (synced) dsync_ok(&e, "db");
        tidal_sim_disk_crash(d);
        tidal_sim_disk_restart(d);
        if (synced) {
            TT_CHECK(has_content(d, "db/snap", b, sizeof b) && !exists(d, "db/snap.tmp"));
        } else if (has_content(d, "db/snap", a, sizeof a) && !exists(d, "db/snap.tmp")) {
            states[0]++; /* neither the create nor the rename survived */
        } else if (has_content(d, "db/snap", a, sizeof a) &&
                   has_content(d, "db/snap.tmp", b, sizeof b)) {
            states[1]++; /* the create did, the rename did not */
        } else if (has_content(d, "db/snap", b, sizeof b) && !exists(d, "db/snap.tmp")) {
            states[2]++;
        } else {
            TT_CHECKF(0, "seed %d: a state the namespace never passed through", seed);
        }
        tidal_sim_disk_check(d);
        tidal_sim_disk_free(d);
    }
    TT_CHECKF(states[0] > 0 && states[1] > 0 && states[2] > 0, "%d %d %d", states[0],
              states[1], states[2]);
}

/* Creates without a dir_sync survive as a prefix of the order they happened in; their
   synced data comes with them. dir_sync commits through the last entry of that directory
   (earlier entries of other directories included) and nothing after it. */
static void t_journal_prefix(void) {
    int seed, lost_some = 0, kept_all = 0, partial = 0, x3_lost = 0;
    for (seed = 0; seed < 300 && TT_OK(); seed++) {
        tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
        tidal_sim_env e;
        char path[32];
        uint8_t data[8][100];
        int i, k = 0, prefix_done = 0;
        tidal_sim_env_init(&e, d, T0, 1);
        mkdir_ok(&e, "d");
        mkdir_ok(&e, "x");
        mkdir_ok(&e, "y");
        dsync_ok(&e, "");
        for (i = 0; i < 8; i++) {
            fill_random(data[i], 100);
            snprintf(path, sizeof path, "d/f%d", i);
            put_file(&e, path, data[i], 100);
        }
        put_file(&e, "x/1", data[0], 10);
        put_file(&e, "y/1", data[1], 10);
        put_file(&e, "x/2", data[2], 10);
        dsync_ok(&e, "y"); /* commits d/f*, x/1, y/1; not x/2 */
        put_file(&e, "x/3", data[3], 10);
        dsync_ok(&e, "y"); /* nothing pending in y: commits nothing */
        tidal_sim_disk_crash(d);
        tidal_sim_disk_restart(d);
        for (i = 0; i < 8; i++) {
            snprintf(path, sizeof path, "d/f%d", i);
            TT_CHECK(has_content(d, path, data[i], 100));
        }
        TT_CHECK(has_content(d, "x/1", data[0], 10) && has_content(d, "y/1", data[1], 10));
        TT_CHECK(!exists(d, "x/3") || exists(d, "x/2")); /* prefix */
        x3_lost += !exists(d, "x/3");
        tidal_sim_disk_free(d);
        /* Eight creates, no dir_sync at all: a prefix survives. */
        d = tidal_sim_disk_new(tt_rand());
        tidal_sim_env_init(&e, d, T0, 1);
        mkdir_ok(&e, "d");
        dsync_ok(&e, "");
        for (i = 0; i < 8; i++) {
            snprintf(path, sizeof path, "d/f%d", i);
            put_file(&e, path, data[i], 100);
        }
        tidal_sim_disk_crash(d);
        tidal_sim_disk_restart(d);
        for (i = 0; i < 8; i++) {
            snprintf(path, sizeof path, "d/f%d", i);
            if (exists(d, path)) {
                TT_CHECKF(!prefix_done, "seed %d: f%d survived after a lost create", seed, i);
                TT_CHECK(has_content(d, path, data[i], 100));
                k++;
            } else {
                prefix_done = 1;
            }
        }
        TT_EQ_INT(tidal_sim_disk_list(d, "d", NULL, 0), k);
        if (k == 0) lost_some++;
        else if (k == 8) kept_all++;
        else partial++;
        tidal_sim_disk_check(d);
        tidal_sim_disk_free(d);
    }
    TT_CHECK(lost_some > 0 && kept_all > 0 && partial > 0 && x3_lost > 0);
}

/* A new directory needs a dir_sync of its parent; a synced file in it is lost with it. */
static void t_mkdir_needs_parent_sync(void) {
    int seed, lost = 0, kept = 0;
    for (seed = 0; seed < 100 && TT_OK(); seed++) {
        tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
        tidal_sim_env e;
        uint8_t data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        tidal_sim_env_init(&e, d, T0, 1);
        mkdir_ok(&e, "p");
        dsync_ok(&e, "p"); /* the directory's own entry lives in "" */
        tidal_sim_disk_crash(d);
        tidal_sim_disk_restart(d);
        if (tidal_sim_disk_list(d, "", NULL, 0) == 0) lost++;
        else kept++;
        mkdir_ok(&e, "q");
        dsync_ok(&e, "");
        put_file(&e, "q/f", data, sizeof data);
        dsync_ok(&e, "q");
        tidal_sim_disk_crash(d);
        tidal_sim_disk_restart(d);
        TT_CHECK(has_content(d, "q/f", data, sizeof data));
        tidal_sim_disk_free(d);
    }
    TT_CHECK(lost > 0 && kept > 0);
}

/* ---- injected faults ---------------------------------------------------------------- */

typedef struct list_acc {
    char names[16][128];
    int n;
} list_acc;

static void list_cb(void *ctx, const char *name) {
    list_acc *a = (list_acc *)ctx;
    if (a->n < 16) snprintf(a->names[a->n], 128, "%s", name);
    a->n++;
}

/* Runs operation k (0..11) against the disk; returns its result. */
static tidal_result run_op(tidal_sim_env *e, int k, void *h) {
    uint8_t buf[64];
    size_t got;
    uint64_t size;
    void *h2 = NULL;
    list_acc acc;
    tidal_result r;
    memset(buf, 0xAB, sizeof buf);
    acc.n = 0;
    switch (k) {
    case 0: r = e->env.file_open(e->env.user, "d/new", RWC, &h2); break;
    case 1: r = e->env.file_open(e->env.user, "d/a", TIDAL_OPEN_READ, &h2); break;
    case 2: return e->env.file_read(e->env.user, h, 0, buf, sizeof buf, &got);
    case 3: return e->env.file_write(e->env.user, h, 100, buf, sizeof buf);
    case 4: return e->env.file_sync(e->env.user, h);
    case 5: return e->env.file_size(e->env.user, h, &size);
    case 6: return e->env.file_truncate(e->env.user, h, 10);
    case 7: return e->env.file_rename(e->env.user, "d/a", "d/b");
    case 8: return e->env.file_remove(e->env.user, "d/a");
    case 9: return e->env.dir_create(e->env.user, "d2");
    case 10: return e->env.dir_sync(e->env.user, "d");
    default: return e->env.dir_list(e->env.user, "d", list_cb, &acc);
    }
    if (r == TIDAL_OK) close_h(e, h2);
    return r;
}

/* fail_at(1, code) on every kind of operation: that call returns code, the image, the
   durable state and the journal are unchanged, the counter moved by one, and the same
   call succeeds right after. fail_at(3) skips two operations. */
static void t_fail_at(void) {
    static const tidal_result codes[4] = {TIDAL_ERR_IO_READ, TIDAL_ERR_IO_WRITE,
                                          TIDAL_ERR_IO_FSYNC, TIDAL_ERR_IO_NOSPACE};
    int k;
    for (k = 0; k < 12 && TT_OK(); k++) {
        tidal_sim_disk *d = tidal_sim_disk_new(tt_rand()), *probe;
        tidal_sim_env e;
        tidal_sim_disk_stats st, st2;
        uint8_t data[300], before[32], after[32], dur_before[32], dur_after[32];
        tidal_result code = codes[tt_below(4)];
        uint64_t ops;
        void *h;
        tidal_sim_env_init(&e, d, T0, 1);
        fill_random(data, sizeof data);
        mkdir_ok(&e, "d");
        dsync_ok(&e, "");
        put_file(&e, "d/a", data, 200);
        dsync_ok(&e, "d");
        h = open_ok(&e, "d/a", RW);
        write_ok(&e, h, 150, data + 200, 100); /* unsynced: a failed sync must not sync */
        image_hash(d, before);
        probe = tidal_sim_disk_clone(d); /* what the durable state was: crash, drop all */
        tidal_sim_disk_set_fates(probe, 0, 100);
        tidal_sim_disk_crash(probe);
        tidal_sim_disk_restart(probe);
        image_hash(probe, dur_before);
        tidal_sim_disk_free(probe);
        tidal_sim_disk_stats_get(d, &st);
        ops = tidal_sim_disk_ops(d);
        tidal_sim_disk_fail_at(d, 1, code);
        TT_EQ_INT(run_op(&e, k, h), code);
        TT_EQ_INT(tidal_sim_disk_ops(d), ops + 1);
        image_hash(d, after);
        TT_CHECKF(!memcmp(before, after, 32), "op %d changed the image", k);
        tidal_sim_disk_stats_get(d, &st2);
        TT_EQ_INT(st2.faults_fired, st.faults_fired + 1);
        TT_EQ_INT(st2.journal_pending, st.journal_pending);
        TT_EQ_INT(st2.unsynced_ops, st.unsynced_ops);
        probe = tidal_sim_disk_clone(d);
        tidal_sim_disk_set_fates(probe, 0, 100);
        tidal_sim_disk_crash(probe);
        tidal_sim_disk_restart(probe);
        image_hash(probe, dur_after);
        TT_CHECKF(!memcmp(dur_before, dur_after, 32), "op %d changed the durable state", k);
        tidal_sim_disk_free(probe);
        TT_EQ_INT(run_op(&e, k, h), TIDAL_OK); /* once only */
        /* Three operations ahead: two pass, the third fails, the fourth passes. */
        tidal_sim_disk_fail_at(d, 3, TIDAL_ERR_IO_READ);
        TT_EQ_INT(run_op(&e, 5, h), TIDAL_OK);
        TT_EQ_INT(run_op(&e, 11, h), TIDAL_OK);
        TT_EQ_INT(run_op(&e, 2, h), TIDAL_ERR_IO_READ);
        TT_EQ_INT(run_op(&e, 2, h), TIDAL_OK);
        close_h(&e, h);
        tidal_sim_disk_check(d);
        tidal_sim_disk_free(d);
    }
}

/* crash_at(3): two operations run, the disk goes down just before the third, which fails;
   what was synced before survives, the rest follows its fate (drop all here). */
static void t_crash_at(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e;
    tidal_sim_disk_stats st;
    uint8_t a[1000], b[1000];
    uint64_t ops;
    void *h;
    tidal_sim_env_init(&e, d, T0, 1);
    fill_random(a, sizeof a);
    fill_random(b, sizeof b);
    put_file(&e, "log", a, sizeof a);
    dsync_ok(&e, "");
    h = open_ok(&e, "log", RW);
    tidal_sim_disk_set_fates(d, 0, 100);
    ops = tidal_sim_disk_ops(d);
    tidal_sim_disk_crash_at(d, 3);
    write_ok(&e, h, 1000, b, 500);
    write_ok(&e, h, 1500, b + 500, 500);
    TT_CHECK(!tidal_sim_disk_is_down(d));
    TT_EQ_INT(e.env.file_sync(e.env.user, h), TIDAL_ERR_IO_FSYNC);
    TT_CHECK(tidal_sim_disk_is_down(d));
    TT_EQ_INT(tidal_sim_disk_ops(d), ops + 3);
    tidal_sim_disk_stats_get(d, &st);
    TT_EQ_INT(st.crashes, 1);
    TT_EQ_INT(st.fates_dropped, 2);
    TT_EQ_INT(e.env.file_sync(e.env.user, h), TIDAL_ERR_IO_FSYNC); /* still down */
    tidal_sim_disk_restart(d);
    TT_CHECK(has_content(d, "log", a, sizeof a));
    /* crash_at(1) on an open: the open itself fails; 0 disarms. */
    tidal_sim_disk_crash_at(d, 1);
    tidal_sim_disk_crash_at(d, 0);
    h = open_ok(&e, "log", RW);
    tidal_sim_disk_crash_at(d, 1);
    TT_EQ_INT(e.env.file_open(e.env.user, "log", TIDAL_OPEN_READ, &h), TIDAL_ERR_IO_READ);
    TT_CHECK(tidal_sim_disk_is_down(d));
    tidal_sim_disk_restart(d);
    TT_CHECK(has_content(d, "log", a, sizeof a));
    tidal_sim_disk_free(d);
}

/* ---- clone, wipe, handles ------------------------------------------------------------ */

/* A clone carries unsynced data, the journal and the fate stream: crashed the same way it
   ends where the original ends; crashed differently, or changed, it leaves the original
   alone. */
static void t_clone_independent(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand()), *c, *c2;
    tidal_sim_env e, ec;
    uint8_t a[3000], b[3000], h1[32], h2[32];
    void *h;
    tidal_sim_env_init(&e, d, T0, 1);
    fill_random(a, sizeof a);
    fill_random(b, sizeof b);
    mkdir_ok(&e, "d");
    dsync_ok(&e, "");
    put_file(&e, "d/a", a, sizeof a);
    dsync_ok(&e, "d");
    h = open_ok(&e, "d/a", RW);
    write_ok(&e, h, 0, b, sizeof b);      /* unsynced overwrite */
    put_file(&e, "d/new", b, 100);        /* uncommitted create */
    c = tidal_sim_disk_clone(d);
    c2 = tidal_sim_disk_clone(d);
    tidal_sim_disk_check(c);
    image_hash(d, h1);
    image_hash(c, h2);
    TT_CHECK(!memcmp(h1, h2, 32));
    /* The original handle value works on the clone. */
    tidal_sim_env_init(&ec, c, T0, 1);
    write_ok(&ec, h, 3000, a, 10);
    TT_CHECK(has_content(d, "d/a", b, sizeof b)); /* original untouched */
    tidal_sim_disk_set_fates(d, 100, 0);
    tidal_sim_disk_crash(d);
    tidal_sim_disk_set_fates(c, 0, 100);
    tidal_sim_disk_crash(c);
    TT_CHECK(has_content(d, "d/a", b, sizeof b));
    TT_CHECK(has_content(c, "d/a", a, sizeof a));
    /* Same fates as the original: same outcome. */
    tidal_sim_disk_set_fates(c2, 100, 0);
    tidal_sim_disk_crash(c2);
    image_hash(d, h1);
    image_hash(c2, h2);
    TT_CHECK(!memcmp(h1, h2, 32));
    tidal_sim_disk_free(d);
    TT_CHECK(has_content(c, "d/a", a, sizeof a)); /* survives the original's free */
    tidal_sim_disk_free(c);
    tidal_sim_disk_free(c2);
    /* Default fates, clone before the crash: identical draws, identical bytes. */
    {
        int i;
        for (i = 0; i < 20 && TT_OK(); i++) {
            tidal_sim_disk *x = tidal_sim_disk_new(tt_rand()), *y;
            tidal_sim_env ex;
            uint8_t buf[5000];
            void *hx;
            tidal_sim_env_init(&ex, x, T0, 1);
            fill_random(buf, sizeof buf);
            hx = open_ok(&ex, "f", RWC);
            write_ok(&ex, hx, 0, buf, 2000);
            write_ok(&ex, hx, 1000, buf + 2000, 3000);
            TT_EQ_INT(ex.env.file_truncate(ex.env.user, hx, 3500), TIDAL_OK);
            y = tidal_sim_disk_clone(x);
            tidal_sim_disk_crash(x);
            tidal_sim_disk_crash(y);
            image_hash(x, h1);
            image_hash(y, h2);
            TT_CHECK(!memcmp(h1, h2, 32));
            tidal_sim_disk_free(x);
            tidal_sim_disk_free(y);
        }
    }
}

static void t_wipe(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e;
    uint8_t a[100] = {7};
    tidal_sim_disk_stats st;
    void *h, *h2 = NULL;
    tidal_sim_env_init(&e, d, T0, 1);
    mkdir_ok(&e, "d");
    dsync_ok(&e, "");
    put_file(&e, "d/a", a, sizeof a);
    dsync_ok(&e, "d");
    h = open_ok(&e, "d/a", RW);
    tidal_sim_disk_wipe(d);
    TT_EQ_INT(tidal_sim_disk_list(d, "", NULL, 0), 0);
    TT_EQ_INT(e.env.file_open(e.env.user, "d/a", TIDAL_OPEN_READ, &h2), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(e.env.file_sync(e.env.user, h), TIDAL_ERR_IO_FSYNC); /* handle died */
    tidal_sim_disk_stats_get(d, &st);
    TT_EQ_INT(st.files, 0);
    TT_EQ_INT(st.handles_open, 0);
    TT_EQ_INT(st.wipes, 1);
    tidal_sim_disk_crash(d);
    tidal_sim_disk_restart(d);
    TT_EQ_INT(tidal_sim_disk_list(d, "", NULL, 0), 0);
    /* Wiped while down: comes back empty. */
    put_file(&e, "b", a, sizeof a);
    dsync_ok(&e, "");
    tidal_sim_disk_crash(d);
    tidal_sim_disk_wipe(d);
    TT_CHECK(tidal_sim_disk_is_down(d));
    tidal_sim_disk_restart(d);
    TT_CHECK(!exists(d, "b"));
    put_file(&e, "c", a, sizeof a); /* and works again */
    TT_CHECK(has_content(d, "c", a, sizeof a));
    tidal_sim_disk_check(d);
    tidal_sim_disk_free(d);
}

/* Closed, pre-restart and pre-wipe handles fail cleanly even when their slot is reused;
   close is always safe; a restart of a disk that is up (a process restart) kills
   handles but keeps unsynced data. */
static void t_stale_handles(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e;
    uint8_t a[600], buf[600];
    size_t got = 99;
    void *h, *h2, *h3;
    tidal_sim_env_init(&e, d, T0, 1);
    fill_random(a, sizeof a);
    h = open_ok(&e, "f", RWC);
    write_ok(&e, h, 0, a, sizeof a);
    close_h(&e, h);
    TT_EQ_INT(e.env.file_read(e.env.user, h, 0, buf, 10, &got), TIDAL_ERR_IO_READ);
    TT_EQ_INT(got, 0);
    close_h(&e, h); /* twice: safe */
    h2 = open_ok(&e, "f", RW); /* reuses the slot */
    TT_CHECK(h2 != h);
    TT_EQ_INT(e.env.file_write(e.env.user, h, 0, a, 10), TIDAL_ERR_IO_WRITE);
    TT_EQ_INT(e.env.file_read(e.env.user, h2, 0, buf, sizeof buf, &got), TIDAL_OK);
    TT_EQ_INT(got, sizeof a);
    tidal_sim_disk_restart(d); /* process restart: handles die, unsynced data stays */
    TT_EQ_INT(e.env.file_read(e.env.user, h2, 0, buf, 10, &got), TIDAL_ERR_IO_READ);
    TT_EQ_INT(e.env.file_sync(e.env.user, h2), TIDAL_ERR_IO_FSYNC);
    TT_EQ_INT(e.env.file_truncate(e.env.user, h2, 0), TIDAL_ERR_IO_WRITE);
    close_h(&e, h2);
    TT_CHECK(has_content(d, "f", a, sizeof a));
    h3 = open_ok(&e, "f", TIDAL_OPEN_READ);
    TT_CHECK(h3 != h2 && h3 != h);
    TT_EQ_INT(e.env.file_write(e.env.user, h3, 0, a, 10), TIDAL_ERR_IO_WRITE); /* read-only */
    TT_EQ_INT(e.env.file_truncate(e.env.user, h3, 0), TIDAL_ERR_IO_WRITE);
    TT_EQ_INT(e.env.file_sync(e.env.user, h3), TIDAL_OK); /* syncing a reader is fine */
    tidal_sim_disk_crash(d);
    tidal_sim_disk_restart(d);
    TT_EQ_INT(e.env.file_read(e.env.user, h3, 0, buf, 10, &got), TIDAL_ERR_IO_READ);
    close_h(&e, h3);
    tidal_sim_disk_free(d);
}

/* ---- env semantics ------------------------------------------------------------------- */

static void t_env_semantics(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e, e2;
    tidal_env *v = &e.env;
    uint8_t a[1000], buf[2000], r1[37], r2[37];
    size_t got;
    uint64_t size;
    void *h = NULL, *h2;
    list_acc acc;
    char names[4][128];
    tidal_sim_env_init(&e, d, T0, 42);
    fill_random(a, sizeof a);
    TT_CHECK(v->user == (void *)&e && v->version == TIDAL_ENV_VERSION);
    TT_EQ_INT(v->clock_wall_ns(v->user), T0);
    TT_EQ_INT(v->clock_mono_ns(v->user), TIDAL_NS_PER_S);
    tidal_sim_env_advance(&e, 5);
    TT_EQ_INT(v->clock_wall_ns(v->user), T0 + 5);
    TT_EQ_INT(v->clock_mono_ns(v->user), TIDAL_NS_PER_S + 5);
    tidal_sim_env_init(&e2, d, T0, 42);
    v->random_fill(v->user, r1, sizeof r1);
    e2.env.random_fill(e2.env.user, r2, sizeof r2);
    TT_CHECK(!memcmp(r1, r2, sizeof r1));
    v->random_fill(v->user, r2, sizeof r2);
    TT_CHECK(memcmp(r1, r2, sizeof r1) != 0);
    {
        tidal_node_ref to;
        to.region = 1;
        to.shard = 2;
        TT_EQ_INT(v->message_send(v->user, to, a, 10), TIDAL_ERR_UNAVAILABLE);
    }
    /* Missing files and directories. */
    TT_EQ_INT(v->file_open(v->user, "nope", TIDAL_OPEN_READ, &h), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(v->file_open(v->user, "nodir/x", RWC, &h), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(v->file_remove(v->user, "nope"), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(v->file_rename(v->user, "nope", "x"), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(v->dir_list(v->user, "nodir", list_cb, &acc), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(v->dir_sync(v->user, "nodir"), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(v->dir_create(v->user, "nodir/sub"), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(v->file_open(v->user, "", RWC, &h), TIDAL_ERR_INVALID);
    /* Directories: create twice is fine, trailing slash and "." accepted. */
    mkdir_ok(&e, "w");
    mkdir_ok(&e, "w");
    mkdir_ok(&e, "w/");
    mkdir_ok(&e, "w/sub");
    TT_EQ_INT(v->file_open(v->user, "w", TIDAL_OPEN_READ, &h), TIDAL_ERR_IO_READ);
    TT_EQ_INT(v->file_remove(v->user, "w"), TIDAL_ERR_IO_WRITE);
    TT_EQ_INT(v->file_rename(v->user, "w/sub", "w/sub2"), TIDAL_ERR_IO_WRITE);
    dsync_ok(&e, ".");
    /* Reads stop at the end; CREATE does not truncate; a gap reads as zeros. */
    h = open_ok(&e, "w/f", RWC);
    write_ok(&e, h, 0, a, 100);
    TT_EQ_INT(v->file_read(v->user, h, 50, buf, 100, &got), TIDAL_OK);
    TT_EQ_INT(got, 50);
    TT_CHECK(!memcmp(buf, a + 50, 50));
    TT_EQ_INT(v->file_read(v->user, h, 100, buf, 10, &got), TIDAL_OK);
    TT_EQ_INT(got, 0);
    TT_EQ_INT(v->file_read(v->user, h, 5000, buf, 10, &got), TIDAL_OK);
    TT_EQ_INT(got, 0);
    write_ok(&e, h, 300, a, 10);
    write_ok(&e, h, 0, a, 0); /* empty write: no effect */
    TT_EQ_INT(v->file_size(v->user, h, &size), TIDAL_OK);
    TT_EQ_INT(size, 310);
    TT_EQ_INT(v->file_read(v->user, h, 0, buf, sizeof buf, &got), TIDAL_OK);
    TT_EQ_INT(got, 310);
    memset(buf + 1000, 0, 200);
    TT_CHECK(!memcmp(buf + 100, buf + 1000, 200));
    h2 = open_ok(&e, "w/f", RWC);
    TT_EQ_INT(v->file_size(v->user, h2, &size), TIDAL_OK);
    TT_EQ_INT(size, 310);
    TT_EQ_INT(v->file_truncate(v->user, h2, 20), TIDAL_OK);
    TT_EQ_INT(v->file_truncate(v->user, h2, 40), TIDAL_OK); /* regrow: zeros, not old bytes */
    TT_EQ_INT(v->file_read(v->user, h, 0, buf, sizeof buf, &got), TIDAL_OK);
    TT_EQ_INT(got, 40);
    TT_CHECK(!memcmp(buf, a, 20));
    memset(buf + 1000, 0, 20);
    TT_CHECK(!memcmp(buf + 20, buf + 1000, 20));
    close_h(&e, h2);
    /* Limits: past the largest file is "no space", and nothing changes. */
    TT_EQ_INT(v->file_write(v->user, h, (uint64_t)TIDAL_SIM_FILE_BYTES_MAX, a, 1),
              TIDAL_ERR_IO_NOSPACE);
    TT_EQ_INT(v->file_write(v->user, h, UINT64_MAX - 2, a, 10), TIDAL_ERR_IO_NOSPACE);
    TT_EQ_INT(v->file_truncate(v->user, h, (uint64_t)TIDAL_SIM_FILE_BYTES_MAX + 1),
              TIDAL_ERR_IO_NOSPACE);
    TT_EQ_INT(v->file_size(v->user, h, &size), TIDAL_OK);
    TT_EQ_INT(size, 40);
    close_h(&e, h);
    /* Listing: sorted, current namespace, only direct children, "." is the root. */
    put_file(&e, "w/c", a, 1);
    put_file(&e, "w/a", a, 1);
    put_file(&e, "w/b.tmp", a, 1);
    put_file(&e, "top", a, 1);
    acc.n = 0;
    TT_EQ_INT(v->dir_list(v->user, "w", list_cb, &acc), TIDAL_OK);
    TT_EQ_INT(acc.n, 5);
    TT_CHECK(acc.n == 5 && !strcmp(acc.names[0], "a") && !strcmp(acc.names[1], "b.tmp") &&
             !strcmp(acc.names[2], "c") && !strcmp(acc.names[3], "f") &&
             !strcmp(acc.names[4], "sub"));
    acc.n = 0;
    TT_EQ_INT(v->dir_list(v->user, ".", list_cb, &acc), TIDAL_OK);
    TT_CHECK(acc.n == 2 && !strcmp(acc.names[0], "top") && !strcmp(acc.names[1], "w"));
    TT_EQ_INT(tidal_sim_disk_list(d, "w", names, 4), 5);
    TT_CHECK(!strcmp(names[3], "f"));
    TT_EQ_INT(tidal_sim_disk_list(d, "w/sub", names, 4), 0);
    TT_EQ_INT(tidal_sim_disk_list(d, "missing", names, 4), 0);
    /* Rename onto an existing file replaces it; the source disappears. */
    TT_EQ_INT(v->file_rename(v->user, "w/b.tmp", "w/c"), TIDAL_OK);
    TT_EQ_INT(tidal_sim_disk_list(d, "w", NULL, 0), 4);
    TT_EQ_INT(v->file_rename(v->user, "w/c", "w/c"), TIDAL_OK);
    TT_EQ_INT(v->file_rename(v->user, "w/c", "w/sub"), TIDAL_ERR_IO_WRITE);
    /* A removed file stays usable through an open handle until closed. */
    h = open_ok(&e, "w/a", RW);
    TT_EQ_INT(v->file_remove(v->user, "w/a"), TIDAL_OK);
    TT_CHECK(!exists(d, "w/a"));
    write_ok(&e, h, 0, a, 50);
    TT_EQ_INT(v->file_read(v->user, h, 0, buf, 100, &got), TIDAL_OK);
    TT_EQ_INT(got, 50);
    close_h(&e, h);
    /* Absolute-looking paths live under the root "/". */
    mkdir_ok(&e, "/abs");
    put_file(&e, "/abs/x", a, 3);
    TT_EQ_INT(tidal_sim_disk_list(d, "/", names, 4), 1);
    TT_CHECK(!strcmp(names[0], "abs"));
    tidal_sim_disk_check(d);
    tidal_sim_disk_free(d);
}

/* A callback that removes what it is told about: dir_list hands out a copy. */
typedef struct remover {
    tidal_sim_env *e;
    int n;
} remover;

static void remove_cb(void *ctx, const char *name) {
    remover *r = (remover *)ctx;
    char path[160];
    snprintf(path, sizeof path, "d/%s", name);
    TT_EQ_INT(r->e->env.file_remove(r->e->env.user, path), TIDAL_OK);
    r->n++;
}

static void t_list_while_changing(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e;
    remover r;
    char path[32];
    uint8_t a[1] = {1};
    int i;
    tidal_sim_env_init(&e, d, T0, 1);
    mkdir_ok(&e, "d");
    for (i = 0; i < 20; i++) {
        snprintf(path, sizeof path, "d/%02d", i);
        put_file(&e, path, a, 1);
    }
    r.e = &e;
    r.n = 0;
    TT_EQ_INT(e.env.dir_list(e.env.user, "d", remove_cb, &r), TIDAL_OK);
    TT_EQ_INT(r.n, 20);
    TT_EQ_INT(tidal_sim_disk_list(d, "d", NULL, 0), 0);
    tidal_sim_disk_check(d);
    tidal_sim_disk_free(d);
}

/* ---- tampering ----------------------------------------------------------------------- */

static void t_tamper(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e;
    uint8_t a[1000], *img;
    size_t len;
    tidal_sim_env_init(&e, d, T0, 1);
    fill_random(a, sizeof a);
    put_file(&e, "f", a, sizeof a);
    dsync_ok(&e, "");
    TT_EQ_INT(tidal_sim_disk_flip_bit(d, "f", 8 * 10 + 3), TIDAL_OK);
    TT_EQ_INT(tidal_sim_disk_flip_bit(d, "f", 8 * 1000), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_sim_disk_flip_bit(d, "g", 0), TIDAL_ERR_NOT_FOUND);
    a[10] ^= 8;
    TT_CHECK(has_content(d, "f", a, sizeof a));
    tidal_sim_disk_crash(d); /* in the durable image too */
    tidal_sim_disk_restart(d);
    TT_CHECK(has_content(d, "f", a, sizeof a));
    TT_EQ_INT(tidal_sim_disk_truncate_file(d, "f", 700), TIDAL_OK);
    TT_EQ_INT(tidal_sim_disk_truncate_file(d, "g", 700), TIDAL_ERR_NOT_FOUND);
    tidal_sim_disk_crash(d);
    tidal_sim_disk_restart(d);
    TT_CHECK(has_content(d, "f", a, 700));
    TT_EQ_INT(tidal_sim_disk_truncate_file(d, "f", 800), TIDAL_OK); /* grows with zeros */
    TT_EQ_INT(tidal_sim_disk_read(d, "f", &img, &len), TIDAL_OK);
    TT_EQ_INT(len, 800);
    TT_CHECK(len == 800 && !memcmp(img, a, 700) && img[700] == 0 && img[799] == 0);
    free(img);
    TT_EQ_INT(tidal_sim_disk_read(d, "", &img, &len), TIDAL_ERR_NOT_FOUND);
    tidal_sim_disk_free(d);
}

/* ---- determinism -------------------------------------------------------------------- */

/* A random workload over a few files with crashes at default fates; returns the image
   hash and the fate counts. Only the seed decides anything. */
static void workload(uint64_t seed, uint8_t out[32], tidal_sim_disk_stats *st) {
    tidal_sim_disk *d = tidal_sim_disk_new(seed);
    tidal_sim_env e;
    uint64_t rng = seed ^ UINT64_C(0x1234);
    uint8_t buf[3000];
    int i;
    tidal_sim_env_init(&e, d, T0, seed);
    mkdir_ok(&e, "w");
    dsync_ok(&e, "");
    for (i = 0; i < 400; i++) {
        char path[32], path2[32];
        uint64_t x = tt_next(&rng);
        void *h = NULL;
        size_t len = (size_t)(x >> 20) % sizeof buf, k;
        snprintf(path, sizeof path, "w/f%d", (int)(x % 5));
        snprintf(path2, sizeof path2, "w/f%d", (int)((x >> 8) % 5));
        for (k = 0; k < len; k++) buf[k] = (uint8_t)(tt_next(&rng));
        switch ((x >> 40) % 8) {
        case 0: case 1: case 2:
            if (e.env.file_open(e.env.user, path, RWC, &h) == TIDAL_OK) {
                e.env.file_write(e.env.user, h, (x >> 44) % 5000, buf, len);
                if ((x >> 50) & 1) e.env.file_sync(e.env.user, h);
                if ((x >> 51) & 1) e.env.file_truncate(e.env.user, h, (x >> 52) % 6000);
                close_h(&e, h);
            }
            break;
        case 3: e.env.file_rename(e.env.user, path, path2); break;
        case 4: e.env.file_remove(e.env.user, path); break;
        case 5: e.env.dir_sync(e.env.user, "w"); break;
        case 6:
            if ((x >> 45) % 8 == 0) {
                tidal_sim_disk_crash(d);
                tidal_sim_disk_restart(d);
            }
            break;
        default:
            if ((x >> 45) % 16 == 0) tidal_sim_disk_fail_at(d, 1 + (x >> 50) % 3,
                                                            TIDAL_ERR_IO_WRITE);
            break;
        }
    }
    tidal_sim_disk_crash(d);
    tidal_sim_disk_restart(d);
    tidal_sim_disk_check(d);
    image_hash(d, out);
    tidal_sim_disk_stats_get(d, st);
    tidal_sim_disk_free(d);
}

static void t_determinism(void) {
    uint8_t h1[32], h2[32], h3[32], fh[32];
    tidal_sim_disk_stats s1, s2, s3;
    uint64_t seed = tt_rand();
    int differ = 0, i;
    workload(seed, h1, &s1);
    workload(seed, h2, &s2);
    TT_CHECK(!memcmp(h1, h2, 32));
    TT_CHECK(!memcmp(&s1, &s2, sizeof s1));
    TT_CHECK(s1.crashes > 1 && s1.fates_kept + s1.fates_dropped + s1.fates_torn > 0);
    for (i = 0; i < 5; i++) {
        workload(seed + 1 + (uint64_t)i, h3, &s3);
        differ += memcmp(h1, h3, 32) != 0;
    }
    TT_CHECK(differ >= 4);
    /* Also through a single file hash with tidal_blake3 one-shot. */
    {
        tidal_sim_disk *a = tidal_sim_disk_new(9), *b = tidal_sim_disk_new(9);
        tidal_sim_env ea, eb;
        uint8_t buf[4096], ha[32];
        void *x, *y;
        fill_random(buf, sizeof buf);
        tidal_sim_env_init(&ea, a, T0, 1);
        tidal_sim_env_init(&eb, b, T0, 1);
        put_file(&ea, "f", buf, 100);
        put_file(&eb, "f", buf, 100);
        dsync_ok(&ea, "");
        dsync_ok(&eb, "");
        x = open_ok(&ea, "f", RW);
        y = open_ok(&eb, "f", RW);
        TT_CHECK(x == y); /* handle values are deterministic too */
        write_ok(&ea, x, 50, buf, sizeof buf);
        write_ok(&eb, y, 50, buf, sizeof buf);
        tidal_sim_disk_crash(a);
        tidal_sim_disk_crash(b);
        file_hash(a, "f", ha);
        file_hash(b, "f", fh);
        TT_CHECK(!memcmp(ha, fh, 32));
        tidal_sim_disk_free(a);
        tidal_sim_disk_free(b);
    }
}

/* ---- metadata history ---------------------------------------------------------------- */

#define NH_MAX 4096 /* snapshots between crashes */

typedef struct nh_state {
    uint8_t hash[NH_MAX][32]; /* image after each metadata operation since the restart */
    uint8_t touched[NH_MAX];  /* bit 0: the operation touched "a", bit 1: "b" */
    int n;
    int floor;                /* oldest snapshot a crash may still return to */
    char names[256][16];      /* files in the current namespace */
    int n_names;
} nh_state;

static void nh_snap(const tidal_sim_disk *d, nh_state *st, int touched) {
    TT_CHECK(st->n < NH_MAX);
    if (st->n >= NH_MAX) return;
    image_hash(d, st->hash[st->n]);
    st->touched[st->n] = (uint8_t)touched;
    st->n++;
}

static int nh_dir_bit(const char *path) { return path[0] == 'a' ? 1 : 2; }

static void nh_reload(const tidal_sim_disk *d, nh_state *st) {
    char names[256][128];
    const char *dirs[2] = {"a", "b"};
    int k;
    st->n_names = 0;
    for (k = 0; k < 2; k++) {
        uint32_t n = tidal_sim_disk_list(d, dirs[k], names, 256), i;
        TT_CHECK(n <= 256);
        for (i = 0; i < n && i < 256 && st->n_names < 256; i++) {
            size_t nl = strlen(names[i]);
            TT_CHECK(nl < 13);
            st->names[st->n_names][0] = dirs[k][0];
            st->names[st->n_names][1] = '/';
            memcpy(st->names[st->n_names] + 2, names[i], nl < 13 ? nl + 1 : 1);
            st->n_names++;
        }
    }
}

/* Random creates (with synced, unique contents), renames (across directories and onto
   existing files), removes, dir_syncs and crashes at default fates. After every crash
   the image must equal one the current namespace passed through since the last restart,
   and not one older than what a dir_sync committed: the journal-prefix rule of F3/F4. */
static void t_namespace_history(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e;
    nh_state *st = (nh_state *)calloc(1, sizeof *st);
    long steps = 3000 * tt_scale(), s;
    int next_id = 0, crashes = 0, back_in_time = 0;
    tidal_sim_env_init(&e, d, T0, 1);
    mkdir_ok(&e, "a");
    mkdir_ok(&e, "b");
    dsync_ok(&e, "");
    nh_snap(d, st, 0);
    for (s = 0; s < steps && TT_OK(); s++) {
        int op = (int)tt_below(100);
        char path[16], to[16];
        TT_EQ_INT(tidal_sim_disk_list(d, "a", NULL, 0) + tidal_sim_disk_list(d, "b", NULL, 0),
                  st->n_names);
        snprintf(path, sizeof path, "%c/n%d", tt_below(2) ? 'a' : 'b', next_id);
        if (op < 30 && st->n_names < 200) { /* create with unique synced contents */
            uint8_t id[4];
            id[0] = (uint8_t)next_id, id[1] = (uint8_t)(next_id >> 8);
            id[2] = (uint8_t)(next_id >> 16), id[3] = 0x5A;
            next_id++;
            put_file(&e, path, id, sizeof id);
            memcpy(st->names[st->n_names++], path, strlen(path) + 1);
            nh_snap(d, st, nh_dir_bit(path));
        } else if (op < 50 && st->n_names > 0) { /* rename, maybe onto an existing file */
            int i = (int)tt_below((uint64_t)st->n_names), j;
            if (tt_below(2)) {
                memcpy(to, st->names[tt_below((uint64_t)st->n_names)], 16);
            } else {
                snprintf(to, sizeof to, "%c/r%d", tt_below(2) ? 'a' : 'b', next_id++);
            }
            memcpy(path, st->names[i], 16);
            TT_EQ_INT(e.env.file_rename(e.env.user, path, to), TIDAL_OK);
            if (strcmp(path, to) != 0) {
                for (j = 0; j < st->n_names; j++) /* the replaced target is gone */
                    if (!strcmp(st->names[j], to)) {
                        memcpy(st->names[j], st->names[--st->n_names], 16);
                        break;
                    }
                for (j = 0; j < st->n_names; j++)
                    if (!strcmp(st->names[j], path)) memcpy(st->names[j], to, 16);
                nh_snap(d, st, nh_dir_bit(path) | nh_dir_bit(to));
            }
        } else if (op < 62 && st->n_names > 0) { /* remove */
            int i = (int)tt_below((uint64_t)st->n_names);
            memcpy(path, st->names[i], 16);
            TT_EQ_INT(e.env.file_remove(e.env.user, path), TIDAL_OK);
            memcpy(st->names[i], st->names[--st->n_names], 16);
            nh_snap(d, st, nh_dir_bit(path));
        } else if (op < 80) { /* dir_sync: commits through the last entry touching it */
            int bit = tt_below(2) ? 1 : 2, i;
            dsync_ok(&e, bit == 1 ? "a" : "b");
            for (i = st->n - 1; i > st->floor; i--)
                if (st->touched[i] & bit) {
                    st->floor = i;
                    break;
                }
        } else if (op < 84 || st->n > NH_MAX - 10) { /* crash */
            uint8_t now[32];
            int i, found = -1;
            tidal_sim_disk_crash(d);
            tidal_sim_disk_restart(d);
            tidal_sim_disk_check(d);
            image_hash(d, now);
            for (i = st->n - 1; i >= st->floor && found < 0; i--)
                if (!memcmp(now, st->hash[i], 32)) found = i;
            TT_CHECKF(found >= 0, "step %ld: state after crash never existed (floor %d of %d)",
                      s, st->floor, st->n);
            back_in_time += found >= 0 && found < st->n - 1;
            crashes++;
            st->n = 0;
            st->floor = 0;
            nh_snap(d, st, 0);
            nh_reload(d, st);
        }
    }
    TT_CHECK(crashes > 50 && back_in_time > 10);
    tidal_sim_disk_check(d);
    free(st);
    tidal_sim_disk_free(d);
}

/* ---- model-based test ---------------------------------------------------------------- */

#define MF 4 /* files in the model */

typedef struct mbuf {
    uint8_t *p;
    size_t len, cap;
} mbuf;

static void mbuf_resize(mbuf *b, size_t len) {
    if (len > b->cap) {
        b->cap = len * 2 + 16;
        b->p = (uint8_t *)realloc(b->p, b->cap);
    }
    if (len > b->len) memset(b->p + b->len, 0, len - b->len);
    b->len = len;
}

static void mbuf_set(mbuf *dst, const mbuf *src) {
    mbuf_resize(dst, 0);
    mbuf_resize(dst, src->len);
    if (src->len) memcpy(dst->p, src->p, src->len);
}

typedef struct model {
    mbuf cur[MF], dur[MF];
    void *h[MF];
} model;

static void model_path(int i, char *out) { snprintf(out, 16, "m/f%d", i); }

static void model_compare_all(const tidal_sim_disk *d, const model *m, long step) {
    int i;
    for (i = 0; i < MF; i++) {
        char path[16];
        model_path(i, path);
        TT_CHECKF(has_content(d, path, m->cur[i].p, m->cur[i].len), "step %ld file %d", step,
                  i);
    }
}

static void model_open_all(tidal_sim_env *e, model *m) {
    int i;
    for (i = 0; i < MF; i++) {
        char path[16];
        model_path(i, path);
        m->h[i] = open_ok(e, path, RW);
    }
}

/* Random writes (any offset, past the end too), truncates, syncs, reads, renames and
   removes with dir_sync, and crashes whose fates are forced to keep-all or drop-all, so
   the outcome is exactly predictable: keep-all makes the current images durable,
   drop-all falls back to the last sync. */
static void t_model(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(tt_rand());
    tidal_sim_env e;
    model m;
    uint8_t *buf = (uint8_t *)malloc(8192), *rd = (uint8_t *)malloc(8192);
    long steps = 20000 * tt_scale(), s;
    int i, crashes = 0;
    memset(&m, 0, sizeof m);
    tidal_sim_env_init(&e, d, T0, 1);
    mkdir_ok(&e, "m");
    dsync_ok(&e, "");
    for (i = 0; i < MF; i++) {
        char path[16];
        model_path(i, path);
        put_file(&e, path, buf, 0);
    }
    dsync_ok(&e, "m");
    model_open_all(&e, &m);
    for (s = 0; s < steps && TT_OK(); s++) {
        int f = (int)tt_below(MF), op = (int)tt_below(100);
        mbuf *c = &m.cur[f];
        if (op < 35) { /* write, often crossing sectors and the end */
            uint64_t off = tt_below(c->len + 1200);
            size_t len = (size_t)tt_below(tt_below(4) ? 1100 : 4000);
            fill_random(buf, len);
            write_ok(&e, m.h[f], off, buf, len);
            if (len) {
                if (off + len > c->len) mbuf_resize(c, (size_t)(off + len));
                memcpy(c->p + off, buf, len);
            }
        } else if (op < 45) {
            uint64_t to = tt_below(c->len + 1500);
            TT_EQ_INT(e.env.file_truncate(e.env.user, m.h[f], to), TIDAL_OK);
            mbuf_resize(c, (size_t)to);
        } else if (op < 55) {
            sync_ok(&e, m.h[f]);
            mbuf_set(&m.dur[f], c);
        } else if (op < 75) {
            uint64_t off = tt_below(c->len + 100);
            size_t len = (size_t)tt_below(3000), got = 0, want;
            TT_EQ_INT(e.env.file_read(e.env.user, m.h[f], off, rd, len, &got), TIDAL_OK);
            want = off >= c->len ? 0 : (c->len - off < len ? c->len - (size_t)off : len);
            TT_EQ_INT(got, want);
            TT_CHECKF(got == 0 || !memcmp(rd, c->p + off, got), "step %ld read", s);
        } else if (op < 80) {
            uint64_t size = 0;
            TT_EQ_INT(e.env.file_size(e.env.user, m.h[f], &size), TIDAL_OK);
            TT_EQ_INT(size, c->len);
        } else if (op < 84) { /* crash with forced fates */
            int keep = (int)tt_below(2);
            tidal_sim_disk_set_fates(d, keep ? 100 : 0, keep ? 0 : 100);
            tidal_sim_disk_crash(d);
            tidal_sim_disk_restart(d);
            for (i = 0; i < MF; i++) {
                if (keep) mbuf_set(&m.dur[i], &m.cur[i]);
                else mbuf_set(&m.cur[i], &m.dur[i]);
            }
            TT_EQ_INT(e.env.file_sync(e.env.user, m.h[f]), TIDAL_ERR_IO_FSYNC); /* stale */
            model_compare_all(d, &m, s);
            model_open_all(&e, &m);
            crashes++;
        } else if (op < 88) { /* remove and recreate empty, committed */
            char path[16];
            model_path(f, path);
            close_h(&e, m.h[f]);
            TT_EQ_INT(e.env.file_remove(e.env.user, path), TIDAL_OK);
            m.h[f] = open_ok(&e, path, RWC);
            dsync_ok(&e, "m");
            mbuf_resize(&m.cur[f], 0);
            mbuf_resize(&m.dur[f], 0);
        } else if (op < 92) { /* swap two files through a temporary name, committed */
            int g = (int)((f + 1 + tt_below(MF - 1)) % MF);
            char pf[16], pg[16];
            mbuf t;
            void *th;
            model_path(f, pf);
            model_path(g, pg);
            TT_EQ_INT(e.env.file_rename(e.env.user, pf, "m/tmp"), TIDAL_OK);
            TT_EQ_INT(e.env.file_rename(e.env.user, pg, pf), TIDAL_OK);
            TT_EQ_INT(e.env.file_rename(e.env.user, "m/tmp", pg), TIDAL_OK);
            dsync_ok(&e, "m");
            t = m.cur[f], m.cur[f] = m.cur[g], m.cur[g] = t;
            t = m.dur[f], m.dur[f] = m.dur[g], m.dur[g] = t;
            th = m.h[f], m.h[f] = m.h[g], m.h[g] = th; /* handles follow their inodes */
        } else if (op < 93) {
            tidal_sim_disk_check(d);
            model_compare_all(d, &m, s);
        }
    }
    model_compare_all(d, &m, s);
    /* A final drop-all crash returns exactly the synced images. */
    tidal_sim_disk_set_fates(d, 0, 100);
    tidal_sim_disk_crash(d);
    tidal_sim_disk_restart(d);
    for (i = 0; i < MF; i++) mbuf_set(&m.cur[i], &m.dur[i]);
    model_compare_all(d, &m, s);
    tidal_sim_disk_check(d);
    TT_CHECK(crashes > 100);
    for (i = 0; i < MF; i++) {
        free(m.cur[i].p);
        free(m.dur[i].p);
    }
    free(buf);
    free(rd);
    tidal_sim_disk_free(d);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_synced_survives_crash),
    TT_CASE(t_unsynced_sectors_old_or_new),
    TT_CASE(t_unsynced_truncate),
    TT_CASE(t_rename_atomic),
    TT_CASE(t_journal_prefix),
    TT_CASE(t_mkdir_needs_parent_sync),
    TT_CASE(t_fail_at),
    TT_CASE(t_crash_at),
    TT_CASE(t_clone_independent),
    TT_CASE(t_wipe),
    TT_CASE(t_stale_handles),
    TT_CASE(t_env_semantics),
    TT_CASE(t_list_while_changing),
    TT_CASE(t_tamper),
    TT_CASE(t_determinism),
    TT_CASE(t_namespace_history),
    TT_CASE(t_model),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
