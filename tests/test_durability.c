/* test_durability.c - the write-ahead log, snapshots and recovery on the simulated disk
   of tidal_sim.h: random crashes with random fates for unsynced writes, crash and EIO at
   every storage operation of three scenarios, single-bit corruption, idempotent replay,
   fsync failure, group commit. White-box: every locally written event is tapped, so the
   test can rebuild exactly the recovered events in a fresh database and compare digests. */
#define TIDAL_IMPLEMENTATION
/* Recovery reads segments in chunks: small ones here, so every corruption and crash test
   below also crosses chunk edges, and batches larger than a chunk occur. */
#define TIDAL_REPLAY_CHUNK_BYTES 1000
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define TAP_MAX 4096

/* ---- the tap: every event a handle writes, encoded, with whether it was acknowledged ---- */

typedef struct tap {
    uint8_t *buf;
    size_t len, cap;
    size_t off[TAP_MAX];
    tidal_event_id id[TAP_MAX];
    uint8_t acked[TAP_MAX];
    uint32_t n, pending_from; /* events since the last acknowledgment point */
} tap;

static void tap_fn(void *ctx, const struct tidal__event *ev) {
    tap *t = (tap *)ctx;
    size_t need = tidal__event_size(ev);
    if (t->n >= TAP_MAX) return;
    if (t->len + need > t->cap) {
        t->cap = (t->len + need) * 2;
        t->buf = (uint8_t *)realloc(t->buf, t->cap);
    }
    t->off[t->n] = t->len;
    t->id[t->n] = ev->id;
    t->acked[t->n] = 0;
    t->n++;
    t->len = (size_t)(tidal__event_put(t->buf + t->len, ev) - t->buf);
}

/* Marks every event tapped since the last call as acknowledged (the call returned OK). */
static void tap_ack(tap *t) {
    uint32_t i;
    for (i = t->pending_from; i < t->n; i++) t->acked[i] = 1;
    t->pending_from = t->n;
}
/* Forgets the acknowledgment window: the call failed, those events are not promised. */
static void tap_nack(tap *t) { t->pending_from = t->n; }

/* ---- a node: simulated disk + env + schema ---------------------------------------------- */

typedef struct node {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_signal_def sigs[3];
    const char *cohorts[2];
    tidal_config cfg;
    tidal_db *db;
    tap tap;
} node;

static void node_config(node *n, tidal_config *cfg, const char *path) {
    memset(n->sigs, 0, sizeof n->sigs);
    n->sigs[0].name = "view";
    n->sigs[0].half_life_s = 3600;
    n->sigs[1].name = "like";
    n->sigs[1].half_life_s = 86400;
    n->sigs[1].windows = TIDAL_WINDOW_24H | TIDAL_WINDOW_30D;
    n->sigs[2].name = "buy";
    n->sigs[2].permanent = 1;
    n->cohorts[0] = "locale";
    n->cohorts[1] = "tier";
    memset(cfg, 0, sizeof *cfg);
    cfg->env = &n->env.env;
    cfg->path = path;
    cfg->schema.signals = n->sigs;
    cfg->schema.signal_count = 3;
    cfg->schema.cohort_keys = n->cohorts;
    cfg->schema.cohort_key_count = 2;
    cfg->segment_bytes_max = 1500; /* many small segments */
}

static void node_init(node *n, uint64_t seed) {
    memset(n, 0, sizeof *n);
    n->disk = tidal_sim_disk_new(seed);
    tidal_sim_env_init(&n->env, n->disk, T0, seed ^ 0x5eed);
    node_config(n, &n->cfg, "db");
}

static tidal_result node_open(node *n) {
    char msg[256];
    tidal_result r = tidal_db_open_msg(&n->cfg, &n->db, msg, sizeof msg);
    if (r == TIDAL_OK) {
        n->db->tap = tap_fn;
        n->db->tap_ctx = &n->tap;
    }
    return r;
}

static void node_free(node *n) {
    if (n->db) tidal_db_close(n->db);
    tidal_sim_disk_free(n->disk);
    free(n->tap.buf);
}

/* A fresh in-memory database with the same schema, holding exactly the tapped events
   that rec applied: what a correct recovery must equal. */
static void ground_truth(node *n, tidal_db *rec, uint8_t out[32], uint64_t *present) {
    tidal_config cfg;
    tidal_db *g = NULL;
    tidal_event_id tags[256];
    uint32_t i;
    node_config(n, &cfg, NULL);
    TT_EQ_INT(tidal_db_open(&cfg, &g), TIDAL_OK);
    *present = 0;
    for (i = 0; g && i < n->tap.n; i++) {
        tidal__rd r;
        tidal__event ev;
        int dup;
        if (!tidal__event_applied(rec, n->tap.id[i])) continue;
        (*present)++;
        r.p = n->tap.buf + n->tap.off[i];
        r.n = n->tap.len - n->tap.off[i];
        r.pos = 0;
        r.bad = 0;
        TT_CHECK(tidal__event_get(g, &r, &ev, tags, 256) == NULL);
        TT_EQ_INT(tidal__apply(g, &ev, &dup), TIDAL_OK);
    }
    if (g) TT_EQ_INT(tidal_db_digest(g, TIDAL_ALL_TENANTS, out), TIDAL_OK);
    tidal_db_close(g);
}

/* How many distinct event ids a database holds in its applied index. */
static uint64_t index_size(const tidal_db *db) {
    uint64_t k = db->st.n_idem;
    uint32_t i;
    for (i = 0; i < db->st.n_origins; i++) k += db->st.origins[i].hwm + db->st.origins[i].above.n;
    return k;
}

/* Recovers the disk and checks everything a recovery promises. Returns the digest. */
static void check_recovery(node *n, uint8_t digest[32]) {
    uint8_t truth[32], again[32];
    uint64_t present = 0;
    uint32_t i;
    tidal_sim_disk *copy;
    tidal_db *second = NULL;
    tidal_result r;
    if (tidal_sim_disk_is_down(n->disk)) tidal_sim_disk_restart(n->disk);
    copy = tidal_sim_disk_clone(n->disk);
    r = node_open(n);
    TT_CHECKF(r == TIDAL_OK, "recovery failed: %s", tidal_strerror(r));
    if (r != TIDAL_OK) {
        tidal_sim_disk_free(copy);
        return;
    }
    for (i = 0; i < n->tap.n; i++)
        TT_CHECKF(!n->tap.acked[i] || tidal__event_applied(n->db, n->tap.id[i]),
                  "acknowledged event %u of %u lost", i, n->tap.n);
    ground_truth(n, n->db, truth, &present);
    TT_EQ_INT(tidal_db_digest(n->db, TIDAL_ALL_TENANTS, digest), TIDAL_OK);
    TT_CHECKF(!memcmp(truth, digest, 32), "recovered state differs from its events");
    TT_EQ_INT(index_size(n->db), present); /* nothing invented */
    /* The same disk image recovers to the same state twice. */
    {
        tidal_sim_disk *keep = n->env.disk;
        tidal_config cfg = n->cfg;
        tidal_sim_env env2;
        tidal_sim_env_init(&env2, copy, T0, 99);
        env2.now_ns = n->env.now_ns;
        cfg.env = &env2.env;
        TT_EQ_INT(tidal_db_open(&cfg, &second), TIDAL_OK);
        if (second) {
            TT_EQ_INT(tidal_db_digest(second, TIDAL_ALL_TENANTS, again), TIDAL_OK);
            TT_CHECK(!memcmp(again, digest, 32));
            tidal_db_close(second);
        }
        (void)keep;
    }
    tidal_sim_disk_free(copy);
}

/* ---- a random workload -------------------------------------------------------------------- */

/* A keyed write (idempotency key, session seq) carries its time and cohort tags. */
static void keyed_content(tidal_signal *s, const tidal_tag *tags) {
    s->time_ns = T0 - (int64_t)tt_below(3600) * TIDAL_NS_PER_S;
    if (!s->cohort) {
        s->cohort = tags;
        s->cohort_count = 0;
    }
}

static void random_op(node *n, tidal_id *sessions, uint32_t *n_sessions) {
    tidal_db *db = n->db;
    uint64_t op = tt_below(100);
    tidal_result r = TIDAL_OK;
    tidal_signal s;
    tidal_tag tag[1];
    memset(&s, 0, sizeof s);
    s.item = 1 + tt_below(20);
    s.type = (uint32_t)tt_below(3);
    s.weight = tt_below(5) ? 1.0 + (double)tt_below(4) : -1.0;
    s.user = tt_below(2) ? 100 + tt_below(4) : 0;
    if (tt_below(4) == 0) {
        tag[0].key = "locale";
        tag[0].value = tt_below(2) ? "EU" : "US";
        s.cohort = tag;
        s.cohort_count = 1;
    }
    if (op < 40) {
        if (tt_below(5) == 0) {
            s.idem.key = "client";
            s.idem.key_len = 6;
            s.idem.seq = tt_below(10); /* retries collide on purpose */
            keyed_content(&s, tag);
        }
        r = tidal_signal_write(db, &s, NULL);
    } else if (op < 50) {
        static const char *const vals[3] = {"EU", "US", NULL};
        r = tidal_attr_set(db, 0, 100 + tt_below(4), "locale", vals[tt_below(3)], NULL);
    } else if (op < 57) {
        r = tidal_negative_add(db, 0, 100 + tt_below(4), TIDAL_HIDE, 1 + tt_below(20), NULL);
    } else if (op < 62) {
        r = tidal_negative_remove(db, 0, 100 + tt_below(4), TIDAL_HIDE, 1 + tt_below(20), NULL);
    } else if (op < 66 && *n_sessions < 16) {
        r = tidal_session_start(db, 0, 100 + tt_below(4), tt_below(2) ? 30 * TIDAL_NS_PER_S : 0,
                                &sessions[*n_sessions]);
        if (r == TIDAL_OK) (*n_sessions)++;
    } else if (op < 74 && *n_sessions) {
        keyed_content(&s, tag);
        r = tidal_session_signal(db, sessions[tt_below(*n_sessions)], 0, &s, NULL);
        if (r == TIDAL_ERR_SESSION_ENDED) r = TIDAL_OK;
    } else if (op < 77 && *n_sessions) {
        r = tidal_session_note(db, 0, sessions[tt_below(*n_sessions)], 0, "note", NULL);
        if (r == TIDAL_ERR_SESSION_ENDED) r = TIDAL_OK;
    } else if (op < 79) { /* forget and delete: the next snapshot retires the whole log */
        r = tidal_user_forget(db, 0, 100 + tt_below(4), NULL);
    } else if (op < 81) {
        r = tidal_item_delete(db, 0, 1 + tt_below(20), NULL);
    } else if (op < 88) { /* a group commit of a few writes */
        uint64_t k = 1 + tt_below(6), i;
        r = tidal_db_batch_begin(db);
        for (i = 0; i < k && r == TIDAL_OK; i++) {
            s.item = 1 + tt_below(20);
            r = tidal_signal_write(db, &s, NULL);
        }
        if (r == TIDAL_OK) r = tidal_db_commit(db);
        else (void)tidal_db_commit(db);
    } else if (op < 93) {
        r = tidal_db_snapshot(db);
    } else {
        n->env.now_ns += (int64_t)tt_below(20) * TIDAL_NS_PER_S;
        r = tidal_db_tick(db, 0);
    }
    if (r == TIDAL_OK) tap_ack(&n->tap);
    else tap_nack(&n->tap);
}

/* Random operations with a crash at a random storage operation and random fates for
   unsynced writes; then recovery must hold every acknowledged event and nothing else. */
static void t_crash_property(void) {
    long cases = 2000 * tt_scale(), c;
    for (c = 0; c < cases && TT_OK(); c++) {
        node n;
        tidal_id sessions[16];
        uint32_t n_sessions = 0, ops = 5 + (uint32_t)tt_below(40), i;
        uint8_t digest[32];
        node_init(&n, tt_rand());
        tidal_sim_disk_set_fates(n.disk, (unsigned)tt_below(101), 0);
        if (tt_below(2)) tidal_sim_disk_set_fates(n.disk, 30, 40);
        /* Half the histories snapshot automatically every few hundred bytes of log, so
           crashes land in and around automatic snapshots and their retirement too. */
        if (tt_below(2)) n.cfg.snapshot_log_bytes = 300 + tt_below(1500);
        TT_EQ_INT(node_open(&n), TIDAL_OK);
        tidal_sim_disk_crash_at(n.disk, 1 + tt_below(20 + 4 * (uint64_t)ops));
        for (i = 0; i < ops && n.db; i++) random_op(&n, sessions, &n_sessions);
        if (!tidal_sim_disk_is_down(n.disk)) tidal_sim_disk_crash(n.disk);
        tidal_db_close(n.db); /* the process dies; its memory goes */
        n.db = NULL;
        check_recovery(&n, digest);
        /* Life goes on: more writes on the recovered database, a clean close, a reopen. */
        if (n.db && TT_OK()) {
            uint8_t after[32], reopened[32];
            for (i = 0; i < 5; i++) random_op(&n, sessions, &n_sessions);
            TT_EQ_INT(tidal_db_commit(n.db), TIDAL_OK);
            TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, after), TIDAL_OK);
            tidal_db_close(n.db);
            n.db = NULL;
            TT_EQ_INT(node_open(&n), TIDAL_OK);
            if (n.db) {
                TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, reopened), TIDAL_OK);
                TT_CHECK(!memcmp(after, reopened, 32));
            }
        }
        if (!TT_OK()) printf("  failing case %ld\n", c);
        node_free(&n);
    }
}

/* ---- crash and EIO at every storage operation of three scenarios --------------------- */

static void scenario_append(node *n) {
    tidal_signal s;
    tidal_id sid = 0;
    int i;
    memset(&s, 0, sizeof s);
    s.weight = 1;
    for (i = 0; i < 3; i++) {
        s.item = 1 + (uint64_t)i;
        if (tidal_signal_write(n->db, &s, NULL) == TIDAL_OK) tap_ack(&n->tap);
        else tap_nack(&n->tap);
    }
    if (tidal_db_batch_begin(n->db) == TIDAL_OK) {
        for (i = 0; i < 5; i++) {
            s.item = 10 + (uint64_t)i;
            (void)tidal_signal_write(n->db, &s, NULL);
        }
        (void)tidal_attr_set(n->db, 0, 10, "format", "video", NULL);
        if (tidal_db_commit(n->db) == TIDAL_OK) tap_ack(&n->tap);
        else tap_nack(&n->tap);
    }
    if (tidal_negative_add(n->db, 0, 7, TIDAL_HIDE, 10, NULL) == TIDAL_OK) tap_ack(&n->tap);
    else tap_nack(&n->tap);
    if (tidal_session_start(n->db, 0, 7, 0, &sid) == TIDAL_OK) {
        tidal_tag none[1] = {{"locale", "none"}};
        tap_ack(&n->tap);
        s.time_ns = T0;
        s.cohort = none;
        s.cohort_count = 0;
        if (tidal_session_signal(n->db, sid, 0, &s, NULL) == TIDAL_OK) tap_ack(&n->tap);
        else tap_nack(&n->tap);
    } else {
        tap_nack(&n->tap);
    }
}

static void scenario_prefill(node *n, int count) {
    tidal_signal s;
    int i;
    memset(&s, 0, sizeof s);
    s.weight = 2;
    for (i = 0; i < count; i++) {
        s.item = 1 + (uint64_t)i % 9;
        s.user = 100 + (uint64_t)i % 3;
        TT_EQ_INT(tidal_signal_write(n->db, &s, NULL), TIDAL_OK);
        tap_ack(&n->tap);
    }
}

static void scenario_snapshots(node *n) {
    tidal_signal s;
    int round, i;
    memset(&s, 0, sizeof s);
    s.weight = 1;
    for (round = 0; round < 2; round++) {
        for (i = 0; i < 12; i++) {
            s.item = 20 + (uint64_t)i;
            if (tidal_signal_write(n->db, &s, NULL) == TIDAL_OK) tap_ack(&n->tap);
            else tap_nack(&n->tap);
        }
        if (tidal_db_snapshot(n->db) == TIDAL_OK) tap_ack(&n->tap);
        else tap_nack(&n->tap);
    }
}

/* A forget and a delete, then the snapshot that retires every older file (the active
   segment included), then writes into a fresh segment and another snapshot. */
static void scenario_forget(node *n) {
    tidal_signal s;
    int round, i;
    memset(&s, 0, sizeof s);
    s.weight = 1;
    s.user = 101;
    if (tidal_user_forget(n->db, 0, 101, NULL) == TIDAL_OK) tap_ack(&n->tap);
    else tap_nack(&n->tap);
    if (tidal_item_delete(n->db, 0, 3, NULL) == TIDAL_OK) tap_ack(&n->tap);
    else tap_nack(&n->tap);
    for (round = 0; round < 2; round++) {
        if (tidal_db_snapshot(n->db) == TIDAL_OK) tap_ack(&n->tap);
        else tap_nack(&n->tap);
        for (i = 0; i < 6; i++) {
            s.item = 1 + (uint64_t)i;
            if (tidal_signal_write(n->db, &s, NULL) == TIDAL_OK) tap_ack(&n->tap);
            else tap_nack(&n->tap);
        }
    }
}

typedef void (*scenario_fn)(node *n);

/* Runs a scenario once cleanly to count its storage operations, then for every k crashes
   (or fails with an I/O error) at the k-th and checks the recovery. prefill > 0 first
   writes that many events and a snapshot, outside the counted window. */
static void enumerate(scenario_fn fn, int prefill, uint64_t seed) {
    static const tidal_result codes[4] = {TIDAL_ERR_IO_WRITE, TIDAL_ERR_IO_FSYNC,
                                          TIDAL_ERR_IO_NOSPACE, TIDAL_ERR_IO_READ};
    uint64_t total, k;
    int mode;
    {
        node n;
        node_init(&n, seed);
        TT_EQ_INT(node_open(&n), TIDAL_OK);
        if (prefill) {
            scenario_prefill(&n, prefill);
            TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
        }
        k = tidal_sim_disk_ops(n.disk);
        fn(&n);
        total = tidal_sim_disk_ops(n.disk) - k;
        node_free(&n);
    }
    TT_CHECK(total > 5);
    for (k = 1; k <= total && TT_OK(); k++) {
        for (mode = 0; mode < 2 && TT_OK(); mode++) {
            node n;
            uint8_t digest[32];
            node_init(&n, seed + k);
            TT_EQ_INT(node_open(&n), TIDAL_OK);
            if (prefill) {
                scenario_prefill(&n, prefill);
                TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
            }
            if (mode == 0) tidal_sim_disk_crash_at(n.disk, k);
            else tidal_sim_disk_fail_at(n.disk, k, codes[k % 4]);
            fn(&n);
            if (mode == 0 && !tidal_sim_disk_is_down(n.disk)) tidal_sim_disk_crash(n.disk);
            tidal_db_close(n.db);
            n.db = NULL;
            check_recovery(&n, digest);
            if (!TT_OK()) printf("  failed at operation %llu of %llu (%s)\n", (unsigned long long)k,
                                 (unsigned long long)total, mode ? "I/O error" : "crash");
            node_free(&n);
        }
    }
}

/* scenario_append under automatic snapshots every ~500 bytes of log: crashes and I/O
   errors at every operation of the snapshots that writes trigger. */
static void scenario_append_auto(node *n) {
    n->db->log.snap_log_bytes = 500;
    scenario_append(n);
}

static void t_crash_points_append(void) { enumerate(scenario_append, 0, 1000); }
static void t_crash_points_snapshot(void) { enumerate(scenario_snapshots, 30, 2000); }
static void t_crash_points_forget(void) { enumerate(scenario_forget, 30, 3000); }
static void t_crash_points_auto_snapshot(void) { enumerate(scenario_append_auto, 10, 2500); }

/* Recovery itself crashes at every operation: each later recovery gives the state an
   uninterrupted recovery gives. */
static void t_crash_points_recovery(void) {
    node base;
    tidal_sim_disk *image;
    uint8_t want[32];
    uint64_t total, k;
    node_init(&base, 3000);
    tidal_sim_disk_set_fates(base.disk, 0, 0); /* every unsynced write torn */
    TT_EQ_INT(node_open(&base), TIDAL_OK);
    scenario_prefill(&base, 40);
    TT_EQ_INT(tidal_db_snapshot(base.db), TIDAL_OK);
    scenario_prefill(&base, 25);
    /* A write whose fsync never happens: its bytes are torn by the crash. */
    tidal_sim_disk_fail_at(base.disk, 2, TIDAL_ERR_IO_FSYNC);
    {
        tidal_signal s;
        memset(&s, 0, sizeof s);
        s.item = 5;
        s.weight = 1;
        TT_CHECK(tidal_signal_write(base.db, &s, NULL) != TIDAL_OK);
    }
    tidal_sim_disk_crash(base.disk);
    tidal_db_close(base.db);
    base.db = NULL;
    tidal_sim_disk_restart(base.disk);
    image = tidal_sim_disk_clone(base.disk);
    total = tidal_sim_disk_ops(base.disk);
    check_recovery(&base, want); /* the first open of the image is the recovery we count */
    node_free(&base);
    {
        node m;
        memset(&m, 0, sizeof m);
        m.disk = tidal_sim_disk_clone(image);
        tidal_sim_env_init(&m.env, m.disk, T0, 5);
        node_config(&m, &m.cfg, "db");
        total = tidal_sim_disk_ops(m.disk);
        TT_EQ_INT(node_open(&m), TIDAL_OK);
        total = tidal_sim_disk_ops(m.disk) - total;
        node_free(&m);
    }
    TT_CHECK(total > 5);
    for (k = 1; k <= total && TT_OK(); k++) {
        node n;
        uint8_t got[32];
        memset(&n, 0, sizeof n);
        n.disk = tidal_sim_disk_clone(image);
        tidal_sim_env_init(&n.env, n.disk, T0, 5);
        node_config(&n, &n.cfg, "db");
        tidal_sim_disk_crash_at(n.disk, k);
        if (node_open(&n) == TIDAL_OK) {
            tidal_db_close(n.db);
            n.db = NULL;
        }
        if (tidal_sim_disk_is_down(n.disk)) tidal_sim_disk_restart(n.disk);
        {
            char msg[256];
            tidal_result r = tidal_db_open_msg(&n.cfg, &n.db, msg, sizeof msg);
            TT_CHECKF(r == TIDAL_OK, "k=%llu of %llu: reopen: %s: %s (down=%d)", (unsigned long long)k,
                      (unsigned long long)total, tidal_strerror(r), msg, tidal_sim_disk_is_down(n.disk));
        }
        if (n.db) {
            TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, got), TIDAL_OK);
            TT_CHECKF(!memcmp(got, want, 32), "recovery interrupted at op %llu recovers differently",
                      (unsigned long long)k);
        }
        node_free(&n);
    }
    tidal_sim_disk_free(image);
}

/* ---- corruption ------------------------------------------------------------------------- */

static uint32_t files_with(node *n, const char *prefix, char names[][128], uint32_t cap) {
    char all[256][128];
    uint32_t i, k = 0, m = tidal_sim_disk_list(n->disk, "db", all, 256);
    for (i = 0; i < m && k < cap; i++)
        if (!strncmp(all[i], prefix, strlen(prefix))) strcpy(names[k++], all[i]);
    return k;
}

/* Flipping any bit of a sealed segment is caught: open fails naming the file and offset. */
static void t_corruption_sealed_segment(void) {
    node base;
    char segs[64][128], path[300], msg[256];
    tidal_sim_disk *image;
    uint8_t *data;
    size_t len;
    uint64_t bit, bits, step;
    uint32_t nseg;
    node_init(&base, 4000);
    TT_EQ_INT(node_open(&base), TIDAL_OK);
    scenario_prefill(&base, 60);
    tidal_db_close(base.db);
    base.db = NULL;
    nseg = files_with(&base, "wal-", segs, 64);
    TT_CHECK(nseg >= 3);
    snprintf(path, sizeof path, "db/%s", segs[1]); /* a sealed one, in the middle */
    TT_EQ_INT(tidal_sim_disk_read(base.disk, path, &data, &len), TIDAL_OK);
    free(data);
    image = base.disk;
    bits = (uint64_t)len * 8;
    step = tt_scale() > 1 ? 1 : 3; /* every third bit by default, every bit with --scale */
    for (bit = tt_below(step); bit < bits && TT_OK(); bit += step) {
        tidal_sim_disk *d = tidal_sim_disk_clone(image);
        tidal_sim_env env;
        tidal_config cfg;
        tidal_db *db = NULL;
        tidal_result r;
        tidal_sim_env_init(&env, d, T0, 1);
        node_config(&base, &cfg, "db");
        cfg.env = &env.env;
        TT_EQ_INT(tidal_sim_disk_flip_bit(d, path, bit), TIDAL_OK);
        r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
        TT_CHECKF(r == TIDAL_ERR_CORRUPT, "bit %llu of %s: open gave %s", (unsigned long long)bit,
                  path, tidal_strerror(r));
        TT_CHECKF(strstr(msg, segs[1]) && strstr(msg, "offset"), "message '%s' names no file/offset", msg);
        if (db) tidal_db_close(db);
        tidal_sim_disk_free(d);
    }
    node_free(&base);
}

/* A damaged newest snapshot falls back to the older one plus the log, to the same state;
   with both damaged, open fails naming the file. */
static void t_corruption_snapshot(void) {
    node base;
    char snaps[8][128], p0[300], p1[300], msg[256];
    uint8_t want[32], *data;
    size_t len;
    uint64_t bit, bits;
    uint32_t ns;
    node_init(&base, 5000);
    TT_EQ_INT(node_open(&base), TIDAL_OK);
    scenario_prefill(&base, 20);
    TT_EQ_INT(tidal_db_snapshot(base.db), TIDAL_OK);
    scenario_prefill(&base, 20);
    TT_EQ_INT(tidal_attr_set(base.db, 0, 3, "format", "text", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_db_snapshot(base.db), TIDAL_OK);
    scenario_prefill(&base, 5);
    TT_EQ_INT(tidal_db_digest(base.db, TIDAL_ALL_TENANTS, want), TIDAL_OK);
    tidal_db_close(base.db);
    base.db = NULL;
    ns = files_with(&base, "snap-", snaps, 8);
    TT_EQ_INT(ns, 2);
    snprintf(p0, sizeof p0, "db/%s", snaps[0]); /* older (sorted names, lsn in hex) */
    snprintf(p1, sizeof p1, "db/%s", snaps[1]);
    TT_EQ_INT(tidal_sim_disk_read(base.disk, p1, &data, &len), TIDAL_OK);
    free(data);
    bits = (uint64_t)len * 8;
    for (bit = tt_below(7); bit < bits && TT_OK(); bit += 7) {
        tidal_sim_disk *d = tidal_sim_disk_clone(base.disk);
        tidal_sim_env env;
        tidal_config cfg;
        tidal_db *db = NULL;
        uint8_t got[32];
        tidal_sim_env_init(&env, d, T0, 1);
        node_config(&base, &cfg, "db");
        cfg.env = &env.env;
        TT_EQ_INT(tidal_sim_disk_flip_bit(d, p1, bit), TIDAL_OK);
        TT_EQ_INT(tidal_db_open_msg(&cfg, &db, msg, sizeof msg), TIDAL_OK);
        if (db) {
            TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, got), TIDAL_OK);
            TT_CHECKF(!memcmp(got, want, 32), "fallback after flipping bit %llu differs", (unsigned long long)bit);
            tidal_db_close(db);
        }
        if (bit % 49 == 0) { /* both damaged: refuse */
            TT_EQ_INT(tidal_sim_disk_flip_bit(d, p0, bit % (8 * 96)), TIDAL_OK);
            TT_EQ_INT(tidal_sim_disk_flip_bit(d, p1, (bit + 1) % bits), TIDAL_OK);
            tidal_sim_env_init(&env, d, T0, 1);
            TT_EQ_INT(tidal_db_open_msg(&cfg, &db, msg, sizeof msg), TIDAL_ERR_CORRUPT);
            TT_CHECKF(strstr(msg, "snap-") && strstr(msg, "offset"), "message '%s'", msg);
        }
        tidal_sim_disk_free(d);
    }
    node_free(&base);
}

/* An invalid batch followed by a valid one in the newest segment is corruption, not a
   torn tail; a schema change is refused instead of truncating anything. */
static void t_corruption_not_a_tail(void) {
    node base;
    char segs[64][128], path[300], msg[256];
    uint32_t nseg;
    tidal_db *db = NULL;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_sim_disk *d;
    node_init(&base, 6000);
    base.cfg.segment_bytes_max = 1u << 20; /* one segment */
    TT_EQ_INT(node_open(&base), TIDAL_OK);
    scenario_prefill(&base, 10);
    tidal_db_close(base.db);
    base.db = NULL;
    nseg = files_with(&base, "wal-", segs, 64);
    TT_EQ_INT(nseg, 1);
    snprintf(path, sizeof path, "db/%s", segs[0]);
    d = tidal_sim_disk_clone(base.disk);
    tidal_sim_env_init(&env, d, T0, 1);
    node_config(&base, &cfg, "db");
    cfg.env = &env.env;
    TT_EQ_INT(tidal_sim_disk_flip_bit(d, path, 8 * 200), TIDAL_OK); /* inside batch 2 of 10 */
    TT_EQ_INT(tidal_db_open_msg(&cfg, &db, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "offset"), "message '%s'", msg);
    tidal_sim_disk_free(d);
    /* A different schema: refused, and the log is left as it was. */
    d = tidal_sim_disk_clone(base.disk);
    tidal_sim_env_init(&env, d, T0, 1);
    cfg.env = &env.env;
    base.sigs[0].half_life_s = 7200;
    TT_EQ_INT(tidal_db_open_msg(&cfg, &db, msg, sizeof msg), TIDAL_ERR_SCHEMA);
    base.sigs[0].half_life_s = 3600;
    TT_EQ_INT(tidal_db_open_msg(&cfg, &db, msg, sizeof msg), TIDAL_OK);
    if (db) {
        tidal_db_stats st;
        tidal_db_stats_get(db, &st);
        TT_EQ_INT(st.recovered_events, 10);
        tidal_db_close(db);
    }
    tidal_sim_disk_free(d);
    node_free(&base);
}

/* Issue 11, point 5: 10 writes, note the segment's size, 10 more, snapshot, 5 more, close,
   truncate the segment back to the noted size. The log now ends below the snapshot: the
   first open refuses (naming file and offset) and changes nothing, where it used to open,
   acknowledge a write, and then never open again. */
static void t_log_below_snapshot_refused(void) {
    node n;
    tidal_signal s;
    char segs[4][128], path[300], msg[256];
    uint8_t *data;
    size_t noted, len;
    int i;
    node_init(&n, 6500);
    n.cfg.segment_bytes_max = 1u << 20; /* one segment */
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.weight = 1;
    for (i = 0; i < 25; i++) {
        if (i == 10) {
            TT_EQ_INT(files_with(&n, "wal-", segs, 4), 1);
            snprintf(path, sizeof path, "db/%s", segs[0]);
            TT_EQ_INT(tidal_sim_disk_read(n.disk, path, &data, &noted), TIDAL_OK);
            free(data);
        }
        if (i == 20) TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
        s.item = 1 + (uint64_t)i;
        TT_EQ_INT(tidal_signal_write(n.db, &s, NULL), TIDAL_OK);
    }
    tidal_db_close(n.db);
    n.db = NULL;
    TT_EQ_INT(tidal_sim_disk_truncate_file(n.disk, path, noted), TIDAL_OK);
    TT_EQ_INT(tidal_db_open_msg(&n.cfg, &n.db, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, segs[0]) && strstr(msg, "offset") && strstr(msg, "below the snapshot"),
              "message '%s' names no file/offset", msg);
    TT_EQ_INT(tidal_sim_disk_read(n.disk, path, &data, &len), TIDAL_OK); /* left as it was */
    free(data);
    TT_EQ_INT(len, noted);
    if (n.db) { /* the old behaviour: show how it ends */
        TT_EQ_INT(tidal_signal_write(n.db, &s, NULL), TIDAL_OK);
        tidal_db_close(n.db);
        n.db = NULL;
        TT_EQ_INT(tidal_db_open_msg(&n.cfg, &n.db, msg, sizeof msg), TIDAL_OK);
    }
    node_free(&n);
}

/* The batch that ends at or before offset off in a segment image: its last lsn (first - 1
   when off is before the first batch's end). */
static uint64_t last_lsn_within(const uint8_t *p, size_t len, size_t off, uint64_t first) {
    size_t at = 0;
    uint64_t last = first - 1;
    while (at + TIDAL__WAL_HDR <= len) {
        tidal__batch_hdr h;
        tidal__batch_hdr_get(p + at, &h);
        if (at + TIDAL__WAL_HDR + h.payload_len > off) break;
        last = h.last_lsn;
        at += TIDAL__WAL_HDR + h.payload_len;
    }
    return last;
}

/* Damage: truncate a synced segment anywhere. Cutting a segment that recovery replays so
   that the log ends below the newest snapshot is refused at the first open, naming the
   file and offset, leaving the file as it was; a cut the recovery can live with (a
   segment below the replayed ones, or the newest segment's lsns above the snapshot)
   opens, and the database then keeps opening after more writes. */
static void damage_truncate(int trail) {
    node base;
    char segs[64][128], snaps[4][128];
    uint32_t nseg, i;
    uint64_t snap_lsn = 0, start = 0;
    node_init(&base, 6600 + (uint64_t)trail);
    TT_EQ_INT(node_open(&base), TIDAL_OK);
    scenario_prefill(&base, 30);
    TT_EQ_INT(tidal_db_snapshot(base.db), TIDAL_OK);
    scenario_prefill(&base, 30);
    TT_EQ_INT(tidal_db_snapshot(base.db), TIDAL_OK);
    scenario_prefill(&base, trail); /* 0: the newest segment holds the snapshot's lsn */
    tidal_db_close(base.db);
    base.db = NULL;
    nseg = files_with(&base, "wal-", segs, 64);
    TT_EQ_INT(files_with(&base, "snap-", snaps, 4), 2);
    snap_lsn = strtoull(snaps[1] + 15, NULL, 16); /* the newer (names sort by lsn) */
    TT_CHECK(nseg >= 4 && snap_lsn > 0);
    for (i = 0; i < nseg; i++) /* the segment recovery starts from: holds snap_lsn + 1 */
        if (strtoull(segs[i] + 14, NULL, 16) <= snap_lsn + 1) start = i;
    for (i = 0; i < nseg && TT_OK(); i++) {
        char path[300];
        uint8_t *img;
        size_t len, off;
        uint64_t first = strtoull(segs[i] + 14, NULL, 16);
        snprintf(path, sizeof path, "db/%.127s", segs[i]);
        TT_EQ_INT(tidal_sim_disk_read(base.disk, path, &img, &len), TIDAL_OK);
        for (off = tt_below(40); off < len && TT_OK(); off += 1 + tt_below(60)) {
            tidal_sim_disk *d = tidal_sim_disk_clone(base.disk);
            tidal_sim_env env;
            tidal_config cfg;
            tidal_db *db = NULL;
            tidal_result r;
            char msg[256];
            uint64_t last = last_lsn_within(img, len, off, first);
            int refuse = i >= start && (i + 1 < nseg || last < snap_lsn);
            tidal_sim_env_init(&env, d, T0, 1);
            node_config(&base, &cfg, "db");
            cfg.env = &env.env;
            TT_EQ_INT(tidal_sim_disk_truncate_file(d, path, off), TIDAL_OK);
            r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
            if (refuse) {
                uint8_t *after;
                size_t alen = 0;
                TT_CHECKF(r == TIDAL_ERR_CORRUPT, "%s cut at %zu (lsn %llu, snapshot %llu): open gave %s",
                          segs[i], off, (unsigned long long)last, (unsigned long long)snap_lsn,
                          tidal_strerror(r));
                TT_CHECKF(strstr(msg, "wal-") && strstr(msg, "offset"), "message '%s'", msg);
                TT_EQ_INT(tidal_sim_disk_read(d, path, &after, &alen), TIDAL_OK);
                TT_EQ_INT(alen, off);
                free(after);
            } else {
                tidal_signal s;
                TT_CHECKF(r == TIDAL_OK, "%s cut at %zu: open: %s", segs[i], off, msg);
                memset(&s, 0, sizeof s);
                s.item = 3;
                s.weight = 1;
                if (db) TT_EQ_INT(tidal_signal_write(db, &s, NULL), TIDAL_OK);
                if (db) tidal_db_close(db);
                db = NULL;
                r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
                TT_CHECKF(r == TIDAL_OK, "%s cut at %zu: reopen after a write: %s", segs[i], off, msg);
            }
            if (db) tidal_db_close(db);
            tidal_sim_disk_free(d);
        }
        free(img);
    }
    node_free(&base);
}

static void t_damage_truncate_below_snapshot(void) {
    damage_truncate(0);
    damage_truncate(1);
    damage_truncate(12);
}

/* ---- replay, fsync failure, group commit --------------------------------------------- */

static void t_replay_is_idempotent(void) {
    node n;
    uint8_t a[32], b[32], c[32];
    char segs[64][128], path[300];
    uint8_t *data;
    size_t len;
    uint64_t expect, end = 0;
    node_init(&n, 7000);
    n.cfg.segment_bytes_max = 1u << 20;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    scenario_prefill(&n, 30);
    scenario_append(&n);
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, a), TIDAL_OK);
    tidal_db_close(n.db);
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, b), TIDAL_OK);
    TT_CHECK(!memcmp(a, b, 32));
    /* Feed the whole log again into the open database: nothing changes. */
    TT_EQ_INT(files_with(&n, "wal-", segs, 64), 1);
    snprintf(path, sizeof path, "db/%s", segs[0]);
    TT_EQ_INT(tidal_sim_disk_read(n.disk, path, &data, &len), TIDAL_OK);
    expect = 1;
    TT_EQ_INT(tidal__scan_segment(n.db, path, data, len, 0, &expect, &end), TIDAL_OK);
    TT_EQ_INT(end, len);
    TT_EQ_INT(tidal_db_digest(n.db, TIDAL_ALL_TENANTS, c), TIDAL_OK);
    TT_CHECK(!memcmp(a, c, 32));
    free(data);
    node_free(&n);
}

/* Recovery in chunks (TIDAL_REPLAY_CHUNK_BYTES, 1000 here): batches before, across and
   after chunk edges, one larger than a chunk. A clean log replays whole; a damaged batch
   anywhere but the tail is named by the offset where it starts in the file; a cut inside
   the last batch, or inside the large one, is a torn tail: cut there, the rest recovered. */
static void t_replay_in_chunks(void) {
    node base;
    char segs[4][128], path[300], msg[256];
    uint8_t want[32], got[32], *img;
    size_t len, off, starts[64];
    uint32_t nb = 0, big = 0;
    int i;
    node_init(&base, 6300);
    base.cfg.segment_bytes_max = 1u << 20; /* one segment */
    TT_EQ_INT(node_open(&base), TIDAL_OK);
    scenario_prefill(&base, 10);
    TT_EQ_INT(tidal_db_batch_begin(base.db), TIDAL_OK);
    scenario_prefill(&base, 30);
    TT_EQ_INT(tidal_db_commit(base.db), TIDAL_OK);
    scenario_prefill(&base, 10);
    TT_EQ_INT(tidal_db_digest(base.db, TIDAL_ALL_TENANTS, want), TIDAL_OK);
    tidal_db_close(base.db);
    base.db = NULL;
    TT_EQ_INT(files_with(&base, "wal-", segs, 4), 1);
    snprintf(path, sizeof path, "db/%s", segs[0]);
    TT_EQ_INT(tidal_sim_disk_read(base.disk, path, &img, &len), TIDAL_OK);
    for (off = 0; off + TIDAL__WAL_HDR <= len && nb < 64; nb++) {
        tidal__batch_hdr h;
        tidal__batch_hdr_get(img + off, &h);
        starts[nb] = off;
        if (h.count == 30) big = nb;
        off += TIDAL__WAL_HDR + h.payload_len;
    }
    TT_EQ_INT(nb, 21);
    TT_CHECK(len > 4 * TIDAL_REPLAY_CHUNK_BYTES && starts[big + 1] - starts[big] > TIDAL_REPLAY_CHUNK_BYTES);
    for (i = -1; i < (int)nb + 2 && TT_OK(); i++) {
        /* -1: clean; 0..nb-1: a bit of batch i flipped; nb: cut inside the last batch;
           nb + 1: cut inside the large batch */
        tidal_sim_disk *d = tidal_sim_disk_clone(base.disk);
        tidal_sim_env env;
        tidal_config cfg;
        tidal_db *db = NULL;
        tidal_db_stats st;
        tidal_result r;
        uint64_t cut = 0;
        tidal_sim_env_init(&env, d, T0, 1);
        node_config(&base, &cfg, "db");
        cfg.env = &env.env;
        cfg.segment_bytes_max = 1u << 20;
        if (i >= 0 && i < (int)nb) {
            size_t at = starts[i] + TIDAL__WAL_HDR + 3;
            TT_EQ_INT(tidal_sim_disk_flip_bit(d, path, 8 * (uint64_t)at), TIDAL_OK);
        } else if (i >= (int)nb) {
            cut = i == (int)nb ? starts[nb - 1] : starts[big];
            TT_EQ_INT(tidal_sim_disk_truncate_file(d, path, cut + TIDAL__WAL_HDR + 7), TIDAL_OK);
        }
        r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
        if (i >= 0 && i + 1 < (int)nb) {
            char where[64];
            snprintf(where, sizeof where, "offset %llu: checksum mismatch", (unsigned long long)starts[i]);
            TT_CHECKF(r == TIDAL_ERR_CORRUPT, "batch %d damaged: open gave %s", i, tidal_strerror(r));
            TT_CHECKF(strstr(msg, segs[0]) && strstr(msg, where), "batch %d: message '%s'", i, msg);
        } else if (i + 1 == (int)nb) { /* the last batch damaged: a torn tail, cut */
            TT_CHECKF(r == TIDAL_OK, "last batch damaged: %s", msg);
            tidal_db_stats_get(db, &st);
            TT_EQ_INT(st.recovered_events, 49);
        } else {
            TT_CHECKF(r == TIDAL_OK, "case %d: %s", i, msg);
            tidal_db_stats_get(db, &st);
            TT_EQ_INT(st.recovered_events, i < 0 ? 50 : i == (int)nb ? 49 : 10);
            if (i < 0) {
                TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, got), TIDAL_OK);
                TT_CHECK(!memcmp(got, want, 32));
            } else { /* cut back to where the torn batch started, and the cut is durable */
                uint8_t *after;
                size_t alen = 0;
                TT_EQ_INT(tidal_sim_disk_read(d, path, &after, &alen), TIDAL_OK);
                TT_EQ_INT(alen, cut);
                free(after);
            }
        }
        if (db) tidal_db_close(db);
        tidal_sim_disk_free(d);
    }
    free(img);
    node_free(&base);
}

static void t_fsync_failure_is_fatal(void) {
    node n;
    tidal_signal s;
    uint8_t digest[32];
    node_init(&n, 8000);
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.item = 1;
    s.weight = 1;
    TT_EQ_INT(tidal_signal_write(n.db, &s, NULL), TIDAL_OK);
    tap_ack(&n.tap);
    tidal_sim_disk_fail_at(n.disk, 2, TIDAL_ERR_IO_FSYNC); /* the write, then its fsync */
    TT_EQ_INT(tidal_signal_write(n.db, &s, NULL), TIDAL_ERR_IO_FSYNC);
    tap_nack(&n.tap);
    TT_EQ_INT(tidal_signal_write(n.db, &s, NULL), TIDAL_ERR_FATAL);
    TT_EQ_INT(tidal_attr_set(n.db, 0, 1, "k", "v", NULL), TIDAL_ERR_FATAL);
    TT_EQ_INT(tidal_db_commit(n.db), TIDAL_ERR_FATAL);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_ERR_FATAL);
    TT_CHECK(strstr(tidal_errmsg(n.db), "reopen") != NULL);
    tidal_db_close(n.db);
    n.db = NULL;
    check_recovery(&n, digest);
    node_free(&n);
}

static void t_group_commit_delay(void) {
    node n;
    tidal_signal s;
    tidal_receipt rc;
    tidal_db_stats st;
    int i;
    node_init(&n, 9000);
    n.cfg.batch_delay_ns = 2 * 1000 * 1000; /* 2 ms */
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.weight = 1;
    for (i = 0; i < 50; i++) {
        s.item = 1 + (uint64_t)i;
        TT_EQ_INT(tidal_signal_write(n.db, &s, &rc), TIDAL_OK);
        TT_EQ_INT(rc.lsn, i + 1);
    }
    TT_EQ_INT(tidal_db_durable_lsn(n.db), 0); /* nothing acknowledged yet */
    TT_EQ_INT(tidal_db_tick(n.db, 0), TIDAL_OK);
    TT_EQ_INT(tidal_db_durable_lsn(n.db), 0); /* the delay has not passed */
    n.env.mono_ns += 3 * 1000 * 1000;
    TT_EQ_INT(tidal_db_tick(n.db, 0), TIDAL_OK);
    TT_EQ_INT(tidal_db_durable_lsn(n.db), 50);
    tidal_db_stats_get(n.db, &st);
    TT_EQ_INT(st.wal_syncs, 1); /* fifty writes, one fdatasync */
    TT_EQ_INT(st.wal_batches, 1);
    node_free(&n);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_crash_property),
    TT_CASE(t_crash_points_append),
    TT_CASE(t_crash_points_snapshot),
    TT_CASE(t_crash_points_forget),
    TT_CASE(t_crash_points_auto_snapshot),
    TT_CASE(t_crash_points_recovery),
    TT_CASE(t_corruption_sealed_segment),
    TT_CASE(t_corruption_snapshot),
    TT_CASE(t_corruption_not_a_tail),
    TT_CASE(t_log_below_snapshot_refused),
    TT_CASE(t_damage_truncate_below_snapshot),
    TT_CASE(t_replay_is_idempotent),
    TT_CASE(t_replay_in_chunks),
    TT_CASE(t_fsync_failure_is_fatal),
    TT_CASE(t_group_commit_delay),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
