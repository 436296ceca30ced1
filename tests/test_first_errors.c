/* test_first_errors.c - errors that say what and where (issue 11 points 9 and 10): every
   error return of a public entry point leaves a non-empty message; every I/O error names
   the operation, the file and the OS's (or the simulator's) text; a path that is a regular
   file is refused with a message naming it; TIDAL_RESULT_MIN_ is the lowest result; the
   item attribute creator takes decimal entity ids only. The walk calls every entry point
   it can with bad arguments, and injects a fault at every storage operation of a scenario
   on the simulated disk and through a wrapper of the POSIX env that fails with an errno. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "temp_dir.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)

/* ---- fixture ---- */

typedef struct fx {
    tidal_signal_def sigs[3];
    const char *cohorts[2];
    tidal_profile_term terms[2];
    tidal_profile_def prof;
    tidal_config cfg;
} fx;

static void fx_config(fx *f, const char *path, const tidal_env *env) {
    memset(f, 0, sizeof *f);
    f->sigs[0].name = "view";
    f->sigs[0].half_life_s = 3600;
    f->sigs[1].name = "like";
    f->sigs[1].half_life_s = 86400;
    f->sigs[2].name = "buy";
    f->sigs[2].permanent = 1;
    f->cohorts[0] = "locale";
    f->cohorts[1] = "tier";
    f->terms[0].signal = "view";
    f->terms[0].weight = 1.0;
    f->terms[1].signal = "like";
    f->terms[1].weight = 5.0;
    f->prof.name = "hot";
    f->prof.terms = f->terms;
    f->prof.term_count = 2;
    f->cfg.path = path;
    f->cfg.env = env;
    f->cfg.schema.signals = f->sigs;
    f->cfg.schema.signal_count = 3;
    f->cfg.schema.cohort_keys = f->cohorts;
    f->cfg.schema.cohort_key_count = 2;
    f->cfg.schema.profiles = &f->prof;
    f->cfg.schema.profile_count = 1;
}

/* The call must fail (a negative result) and leave a non-empty message on db. The old
   message is wiped first (white-box), so a stale one cannot pass for this call's. */
#define EXPECT_ERR(db, call)                                                                 \
    do {                                                                                     \
        tidal_result r_;                                                                     \
        (db)->errmsg[0] = 0;                                                                 \
        r_ = (call);                                                                         \
        TT_CHECKF(r_ < 0, "%s: expected an error, got %s", #call, tidal_strerror(r_));      \
        TT_CHECKF(r_ >= 0 || tidal_errmsg(db)[0] != 0, "%s: %s with an empty message", #call, \
                  tidal_strerror(r_));                                                       \
        walked++;                                                                            \
    } while (0)

static unsigned walked; /* error paths reached by the walk (printed) */

static tidal_signal a_signal(void) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.item = 1;
    s.weight = 1;
    return s;
}

/* ---- bad arguments to every entry point that takes a handle ---- */

static void walk_writes(tidal_db *db) {
    tidal_signal s;
    tidal_tag bad_tag = {NULL, "x"};
    static char long_value[TIDAL_VALUE_MAX + 8];
    static char long_key[TIDAL_IDEM_KEY_MAX + 8];
    memset(long_value, 'v', sizeof long_value - 1);
    memset(long_key, 'k', sizeof long_key - 1);
    EXPECT_ERR(db, tidal_signal_write(db, NULL, NULL));
    s = a_signal(), s.item = 0;
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    s = a_signal(), s.type = 99;
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    s = a_signal(), s.weight = NAN;
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    s = a_signal(), s.weight = 1e300;
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    s = a_signal(), s.time_ns = T0 + 3600 * TIDAL_NS_PER_S;
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    s = a_signal(), s.cohort = &bad_tag, s.cohort_count = 1;
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    s = a_signal(), s.idem.key = long_key, s.idem.key_len = (uint32_t)strlen(long_key);
    s.time_ns = T0;
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    s = a_signal(), s.idem.key = "k", s.idem.key_len = 1; /* keyed without an event time */
    EXPECT_ERR(db, tidal_signal_write(db, &s, NULL));
    EXPECT_ERR(db, tidal_attr_set(db, 0, 0, "k", "v", NULL));
    EXPECT_ERR(db, tidal_attr_set(db, 0, 1, NULL, "v", NULL));
    EXPECT_ERR(db, tidal_attr_set(db, 0, 1, "a b", "v", NULL));
    EXPECT_ERR(db, tidal_attr_set(db, 0, 1, "k", long_value, NULL));
    EXPECT_ERR(db, tidal_negative_add(db, 0, 0, TIDAL_HIDE, 1, NULL));
    EXPECT_ERR(db, tidal_negative_add(db, 0, 1, (tidal_negative)0, 1, NULL));
    EXPECT_ERR(db, tidal_negative_add(db, 0, 1, (tidal_negative)9, 1, NULL));
    EXPECT_ERR(db, tidal_negative_add(db, 0, 1, TIDAL_MUTE, 0, NULL));
    EXPECT_ERR(db, tidal_negative_remove(db, 0, 0, TIDAL_HIDE, 1, NULL));
    EXPECT_ERR(db, tidal_negative_remove(db, 0, 1, (tidal_negative)7, 1, NULL));
    EXPECT_ERR(db, tidal_event_import(db, NULL, 0, NULL));
    EXPECT_ERR(db, tidal_event_import(db, "garbage", 7, NULL));
}

static void walk_reads(tidal_db *db) {
    char buf[4];
    uint32_t type, n;
    tidal_signal_stats st;
    tidal_query q;
    tidal_hit hits[4];
    tidal_tag cohort = {"nokey", "x"};
    EXPECT_ERR(db, tidal_write_status(db, NULL, TIDAL_ACK_LOCAL));
    EXPECT_ERR(db, tidal_signal_type(db, NULL, &type));
    EXPECT_ERR(db, tidal_signal_type(db, "nope", &type));
    EXPECT_ERR(db, tidal_signal_type(db, "view", NULL));
    EXPECT_ERR(db, tidal_attr_get(db, 0, 1, "unset", buf, sizeof buf));
    TT_EQ_INT(tidal_attr_set(db, 0, 1, "k", "a long value", NULL), TIDAL_OK);
    EXPECT_ERR(db, tidal_attr_get(db, 0, 1, "k", buf, sizeof buf)); /* too small */
    EXPECT_ERR(db, tidal_attr_get(db, 0, 1, "k", NULL, 8));
    EXPECT_ERR(db, tidal_attr_get(db, 0, 1, NULL, buf, sizeof buf));
    EXPECT_ERR(db, tidal_negative_check(db, 0, 1, 1, NULL));
    EXPECT_ERR(db, tidal_signal_read(db, 0, 0, 0, NULL, 0, &st));
    EXPECT_ERR(db, tidal_signal_read(db, 0, 1, 99, NULL, 0, &st));
    EXPECT_ERR(db, tidal_signal_read(db, 0, 1, 0, NULL, 0, NULL));
    EXPECT_ERR(db, tidal_signal_read(db, 0, 1, 0, &cohort, 0, &st));
    EXPECT_ERR(db, tidal_retrieve(db, NULL, hits, 4, &n, NULL));
    memset(&q, 0, sizeof q);
    q.rank_kind = 7;
    EXPECT_ERR(db, tidal_retrieve(db, &q, hits, 4, &n, NULL));
    memset(&q, 0, sizeof q);
    q.rank_index = 99;
    EXPECT_ERR(db, tidal_retrieve(db, &q, hits, 4, &n, NULL));
    memset(&q, 0, sizeof q);
    q.limit = TIDAL_LIMIT_MAX + 1;
    EXPECT_ERR(db, tidal_retrieve(db, &q, hits, 4, &n, NULL));
    memset(&q, 0, sizeof q);
    q.where_count = TIDAL_WHERE_MAX + 1;
    EXPECT_ERR(db, tidal_retrieve(db, &q, hits, 4, &n, NULL));
    memset(&q, 0, sizeof q);
    EXPECT_ERR(db, tidal_retrieve(db, &q, NULL, 4, &n, NULL));
    EXPECT_ERR(db, tidal_retrieve(db, &q, hits, 4, NULL, NULL));
    EXPECT_ERR(db, tidal_retrieve_text(db, NULL, hits, 4, &n, NULL));
    EXPECT_ERR(db, tidal_retrieve_text(db, "RETRIEVE nonsense", hits, 4, &n, NULL));
    EXPECT_ERR(db, tidal_retrieve_text(db, "RETRIEVE items SIGNAL nope", hits, 4, &n, NULL));
    EXPECT_ERR(db, tidal_retrieve_text(db, "RETRIEVE items PROFILE nope", hits, 4, &n, NULL));
    EXPECT_ERR(db, tidal_db_digest(db, 0, NULL));
    EXPECT_ERR(db, tidal_node_status_get(db, NULL));
}

static void walk_sessions(tidal_db *db) {
    tidal_id sid = 0;
    tidal_session_info info;
    tidal_session_entry e[2];
    uint32_t n;
    tidal_signal s = a_signal();
    static char long_note[TIDAL_NOTE_MAX + 8];
    memset(long_note, 'n', sizeof long_note - 1);
    s.time_ns = T0;
    EXPECT_ERR(db, tidal_session_start(db, 0, 1, 0, NULL));
    EXPECT_ERR(db, tidal_session_start(db, 0, 1, -5, &sid));
    EXPECT_ERR(db, tidal_session_start(db, 0, 0, 0, &sid));
    EXPECT_ERR(db, tidal_session_open(db, 0, 0, 1, T0, 0));
    EXPECT_ERR(db, tidal_session_open(db, 0, 77, 1, 0, 0));
    EXPECT_ERR(db, tidal_session_signal(db, 12345, 1, &s, NULL)); /* unknown session */
    EXPECT_ERR(db, tidal_session_signal(db, 12345, 1, NULL, NULL));
    EXPECT_ERR(db, tidal_session_note(db, 0, 12345, 1, "x", NULL));
    TT_EQ_INT(tidal_session_start(db, 0, 1, 0, &sid), TIDAL_OK);
    EXPECT_ERR(db, tidal_session_note(db, 0, sid, 1, NULL, NULL));
    EXPECT_ERR(db, tidal_session_note(db, 0, sid, 1, long_note, NULL));
    EXPECT_ERR(db, tidal_session_end(db, 0, 12345));
    EXPECT_ERR(db, tidal_session_get(db, 0, 12345, &info));
    EXPECT_ERR(db, tidal_session_get(db, 0, sid, NULL));
    EXPECT_ERR(db, tidal_session_entries(db, 0, 12345, 0, e, 2, &n));
    EXPECT_ERR(db, tidal_session_entries(db, 0, sid, 0, e, 2, NULL));
    TT_EQ_INT(tidal_session_end(db, 0, sid), TIDAL_OK);
    EXPECT_ERR(db, tidal_session_note(db, 0, sid, 9, "late", NULL)); /* ended */
}

static void walk_tenants(tidal_db *db) {
    tidal_tenant_config tc;
    size_t len = 0;
    uint64_t a;
    memset(&tc, 0, sizeof tc);
    EXPECT_ERR(db, tidal_tenant_set(db, NULL));
    tc.rate_per_s = -1;
    EXPECT_ERR(db, tidal_tenant_set(db, &tc));
    tc.rate_per_s = 0;
    tc.config_version = 5;
    TT_EQ_INT(tidal_tenant_set(db, &tc), TIDAL_OK);
    tc.config_version = 3;
    EXPECT_ERR(db, tidal_tenant_set(db, &tc));
    EXPECT_ERR(db, tidal_tenant_usage(db, 77, &a, NULL));
    EXPECT_ERR(db, tidal_tenant_export(db, 0, NULL, 0, &len)); /* LIMIT: says how much */
    EXPECT_ERR(db, tidal_tenant_export(db, 0, NULL, 0, NULL));
    EXPECT_ERR(db, tidal_tenant_install(db, "nope", 4, 1, NULL, NULL));
    EXPECT_ERR(db, tidal_tenant_install(db, NULL, 0, 1, NULL, NULL));
    EXPECT_ERR(db, tidal_tenant_install(db, "nope", 4, 0, NULL, NULL));
    EXPECT_ERR(db, tidal_tenant_drop(db, 0, 0, NULL));
    TT_EQ_INT(tidal_db_set_config_version(db, 9), TIDAL_OK);
    EXPECT_ERR(db, tidal_db_set_config_version(db, 2));
    EXPECT_ERR(db, tidal_node_receive(db, db->node, "x", 1));
    EXPECT_ERR(db, tidal_node_receive(db, db->node, NULL, 4));
    EXPECT_ERR(db, tidal_db_snapshot(db)); /* ephemeral */
}

static void t_walk_bad_arguments(void) {
    tidal_sim_disk *disk = tidal_sim_disk_new(tt_seed());
    tidal_sim_env e;
    fx f;
    tidal_db *db = NULL;
    tidal_sim_env_init(&e, disk, T0, tt_seed());
    fx_config(&f, NULL, &e.env);
    TT_EQ_INT(tidal_db_open(&f.cfg, &db), TIDAL_OK);
    if (!db) return;
    walked = 0;
    walk_writes(db);
    walk_reads(db);
    walk_sessions(db);
    walk_tenants(db);
    printf("  %u error returns walked\n", walked);
    tidal_db_close(db);
    tidal_sim_disk_free(disk);
}

/* Open's own refusals: every one writes its message. */
static void t_walk_open(void) {
    fx f;
    tidal_db *db = NULL;
    char msg[512];
    tidal_allocator bad;
    tidal_env v9;
    memset(&bad, 0, sizeof bad);
    fx_config(&f, NULL, NULL);
#define EXPECT_OPEN_ERR(cfgp, outp)                                                     \
    do {                                                                                \
        tidal_result r_;                                                                \
        msg[0] = 0;                                                                     \
        r_ = tidal_db_open_msg(cfgp, outp, msg, sizeof msg);                            \
        TT_CHECKF(r_ < 0 && msg[0], "open: %s with message '%s'", tidal_strerror(r_), msg); \
        if (r_ == TIDAL_OK && db) tidal_db_close(db);                                   \
        db = NULL;                                                                      \
    } while (0)
    EXPECT_OPEN_ERR(NULL, &db);
    EXPECT_OPEN_ERR(&f.cfg, NULL);
    f.cfg.allocator = &bad;
    EXPECT_OPEN_ERR(&f.cfg, &db);
    fx_config(&f, NULL, NULL);
    v9 = *tidal_env_posix();
    v9.version = 9;
    f.cfg.env = &v9;
    EXPECT_OPEN_ERR(&f.cfg, &db);
    fx_config(&f, NULL, NULL);
    f.cfg.schema.signal_count = 0;
    EXPECT_OPEN_ERR(&f.cfg, &db);
    fx_config(&f, "", NULL);
    EXPECT_OPEN_ERR(&f.cfg, &db);
#undef EXPECT_OPEN_ERR
}

/* ---- I/O faults at every storage operation of a scenario ---- */

/* True when msg has every needle (NULL ends the list). */
static int has_all(const char *msg, const char *a, const char *b) {
    return strstr(msg, a) != NULL && (!b || strstr(msg, b) != NULL);
}

static int is_io(tidal_result r) { return r <= TIDAL_ERR_IO_READ && r >= TIDAL_ERR_IO_NOSPACE; }

typedef struct scen {
    const char *path, *os_text; /* what an I/O error message must name */
    int failures, io_failures;
} scen;

/* Checks one result of the scenario: an error must carry a message; an I/O error the path
   and the OS text. msg is tidal_errmsg or open's message. */
static void scen_check(scen *s, tidal_result r, const char *msg, const char *what) {
    if (r >= 0) return;
    s->failures++;
    TT_CHECKF(msg[0] != 0, "%s: %s with an empty message", what, tidal_strerror(r));
    if (!is_io(r)) return;
    s->io_failures++;
    TT_CHECKF(has_all(msg, s->path, s->os_text), "%s: %s: '%s' lacks '%s' or '%s'", what,
              tidal_strerror(r), msg, s->path, s->os_text);
}

/* open, 40 writes (a new segment now and then), snapshot, 10 writes, close, reopen, read. */
static void scenario(scen *s, const tidal_config *cfg) {
    tidal_db *db = NULL;
    char msg[512];
    tidal_result r;
    int i, pass;
    for (pass = 0; pass < 2; pass++) {
        msg[0] = 0;
        r = tidal_db_open_msg(cfg, &db, msg, sizeof msg);
        scen_check(s, r, msg, pass ? "reopen" : "open");
        if (r != TIDAL_OK) return;
        for (i = 0; i < (pass ? 5 : 40); i++) {
            tidal_signal sg = a_signal();
            sg.item = (tidal_id)(i + 1);
            db->errmsg[0] = 0; /* white-box: no stale message may pass for this call's */
            r = tidal_signal_write(db, &sg, NULL);
            scen_check(s, r, tidal_errmsg(db), "write");
        }
        db->errmsg[0] = 0;
        r = tidal_db_snapshot(db);
        scen_check(s, r, tidal_errmsg(db), "snapshot");
        for (i = 0; i < 10; i++) {
            tidal_signal sg = a_signal();
            db->errmsg[0] = 0; /* white-box: no stale message may pass for this call's */
            r = tidal_signal_write(db, &sg, NULL);
            scen_check(s, r, tidal_errmsg(db), "write after snapshot");
        }
        db->errmsg[0] = 0;
        r = tidal_db_commit(db);
        scen_check(s, r, tidal_errmsg(db), "commit");
        tidal_db_close(db);
        db = NULL;
    }
}

static void t_sim_faults_everywhere(void) {
    static const tidal_result codes[4] = {TIDAL_ERR_IO_READ, TIDAL_ERR_IO_WRITE,
                                          TIDAL_ERR_IO_FSYNC, TIDAL_ERR_IO_NOSPACE};
    uint64_t total, k;
    int mode, io = 0;
    {
        tidal_sim_disk *disk = tidal_sim_disk_new(1);
        tidal_sim_env e;
        fx f;
        scen s = {"db", "injected fault", 0, 0};
        tidal_sim_env_init(&e, disk, T0, 1);
        fx_config(&f, "db", &e.env);
        f.cfg.segment_bytes_max = 600;
        scenario(&s, &f.cfg);
        TT_EQ_INT(s.failures, 0);
        total = tidal_sim_disk_ops(disk);
        tidal_sim_disk_free(disk);
    }
    TT_CHECK(total > 20);
    for (k = 1; k <= total && TT_OK(); k++)
        for (mode = 0; mode < 2 && TT_OK(); mode++) {
            tidal_sim_disk *disk = tidal_sim_disk_new(k);
            tidal_sim_env e;
            fx f;
            scen s = {"db", mode ? "simulated disk is down" : "injected fault", 0, 0};
            tidal_sim_env_init(&e, disk, T0, 1);
            fx_config(&f, "db", &e.env);
            f.cfg.segment_bytes_max = 600;
            if (mode) tidal_sim_disk_crash_at(disk, k);
            else tidal_sim_disk_fail_at(disk, k, codes[k % 4]);
            scenario(&s, &f.cfg);
            io += s.io_failures;
            if (!TT_OK()) printf("  at operation %llu of %llu (%s)\n", (unsigned long long)k,
                                 (unsigned long long)total, mode ? "crash" : "fault");
            tidal_sim_disk_free(disk);
        }
    printf("  %llu operations x 2 modes, %d I/O errors checked\n", (unsigned long long)total, io);
    TT_CHECK(io > (int)total);
}

/* Env version 2 and the hasher's type name came with issue 11: the guards let the other
   cases build against the base commit, to show that they fail there. */
#if TIDAL_ENV_VERSION >= 2
/* A wrapper of the POSIX env whose fail_at-th file call fails with errno err (the real
   calls and error_text are the POSIX env's): the message must carry strerror(err), so
   nothing between the failure and tidal's query of error_text may disturb errno. */
typedef struct wrap {
    tidal_env env;
    const tidal_env *base;
    long calls, fail_at;
    int err;
} wrap;

static int wrap_fail(void *user) {
    wrap *w = (wrap *)user;
    if (++w->calls != w->fail_at) return 0;
    errno = w->err;
    return 1;
}
static tidal_result wrap_code(const wrap *w) {
    return w->err == ENOSPC ? TIDAL_ERR_IO_NOSPACE : w->err == EIO ? TIDAL_ERR_IO_READ
                                                                   : TIDAL_ERR_IO_WRITE;
}
static tidal_result wrap_open(void *u, const char *p, uint32_t fl, void **f) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->file_open(NULL, p, fl, f);
}
static tidal_result wrap_read(void *u, void *f, uint64_t o, void *b, size_t n, size_t *g) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->file_read(NULL, f, o, b, n, g);
}
static tidal_result wrap_write(void *u, void *f, uint64_t o, const void *b, size_t n) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->file_write(NULL, f, o, b, n);
}
/* The syncs are counted and fail like the rest, but skip the real fsync: what is tested is
   the errno plumbing, and hundreds of real fsyncs would only make the test slow. */
static tidal_result wrap_sync(void *u, void *f) {
    (void)f;
    return wrap_fail(u) ? TIDAL_ERR_IO_FSYNC : TIDAL_OK;
}
static tidal_result wrap_size(void *u, void *f, uint64_t *s) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->file_size(NULL, f, s);
}
static tidal_result wrap_truncate(void *u, void *f, uint64_t s) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->file_truncate(NULL, f, s);
}
static tidal_result wrap_rename(void *u, const char *a, const char *b) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->file_rename(NULL, a, b);
}
static tidal_result wrap_remove(void *u, const char *p) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->file_remove(NULL, p);
}
static tidal_result wrap_mkdir(void *u, const char *p) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->dir_create(NULL, p);
}
static tidal_result wrap_dirsync(void *u, const char *p) {
    (void)p;
    return wrap_fail(u) ? TIDAL_ERR_IO_FSYNC : TIDAL_OK;
}
static tidal_result wrap_list(void *u, const char *p, void (*fn)(void *, const char *), void *c) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->dir_list(NULL, p, fn, c);
}
static tidal_result wrap_lock(void *u, const char *p, void **l, uint64_t *h) {
    wrap *w = (wrap *)u;
    return wrap_fail(u) ? wrap_code(w) : w->base->dir_lock(NULL, p, l, h);
}
static void wrap_unlock(void *u, void *l) { ((wrap *)u)->base->dir_unlock(NULL, l); }
static void wrap_close(void *u, void *f) { ((wrap *)u)->base->file_close(NULL, f); }
static void wrap_text(void *u, char *b, size_t n) { ((wrap *)u)->base->error_text(NULL, b, n); }

static void wrap_init(wrap *w, long fail_at, int err) {
    memset(w, 0, sizeof *w);
    w->base = tidal_env_posix();
    w->env = *w->base;
    w->env.user = w;
    w->env.file_open = wrap_open;
    w->env.file_read = wrap_read;
    w->env.file_write = wrap_write;
    w->env.file_sync = wrap_sync;
    w->env.file_size = wrap_size;
    w->env.file_truncate = wrap_truncate;
    w->env.file_close = wrap_close;
    w->env.file_rename = wrap_rename;
    w->env.file_remove = wrap_remove;
    w->env.dir_create = wrap_mkdir;
    w->env.dir_sync = wrap_dirsync;
    w->env.dir_list = wrap_list;
    w->env.dir_lock = wrap_lock;
    w->env.dir_unlock = wrap_unlock;
    w->env.error_text = wrap_text;
    w->fail_at = fail_at;
    w->err = err;
}

static void t_posix_errno_everywhere(void) {
    static const int errs[3] = {EACCES, ENOSPC, EIO};
    const char *t = getenv("TMPDIR");
    char dir[256];
    long total, k;
    int io = 0;
    snprintf(dir, sizeof dir, "%s/tidal_err_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        TT_CHECKF(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    rmdir(dir); /* the scenario creates it */
    {
        wrap w;
        fx f;
        scen s = {dir, "", 0, 0};
        wrap_init(&w, 0, 0);
        fx_config(&f, dir, &w.env);
        f.cfg.segment_bytes_max = 2000; /* fewer real files: a few rolls */
        scenario(&s, &f.cfg);
        TT_EQ_INT(s.failures, 0);
        total = w.calls;
        temp_dir_remove(dir);
    }
    TT_CHECK(total > 20);
    for (k = 1; k <= total && TT_OK(); k++) {
        wrap w;
        fx f;
        int err = errs[k % 3];
        scen s;
        s.path = dir;
        s.os_text = strerror(err);
        s.failures = s.io_failures = 0;
        wrap_init(&w, k, err);
        fx_config(&f, dir, &w.env);
        f.cfg.segment_bytes_max = 2000; /* fewer real files: a few rolls */
        scenario(&s, &f.cfg);
        io += s.io_failures;
        if (!TT_OK()) printf("  at call %ld of %ld (%s)\n", k, total, strerror(err));
        temp_dir_remove(dir);
    }
    printf("  %ld env calls, %d I/O errors checked\n", total, io);
    TT_CHECK(io >= total / 2);
}
#endif

/* A path that is a regular file: refused with a message naming it and the OS's reason. */
static void t_path_is_a_file(void) {
    const char *t = getenv("TMPDIR");
    char path[256], msg[512];
    fx f;
    tidal_db *db = NULL;
    tidal_result r;
    int fd;
    snprintf(path, sizeof path, "%s/tidal_file_XXXXXX", t && *t ? t : "/tmp");
    fd = mkstemp(path);
    if (fd < 0) {
        TT_CHECKF(0, "mkstemp: %s", strerror(errno));
        return;
    }
    close(fd);
    fx_config(&f, path, NULL);
    msg[0] = 0;
    r = tidal_db_open_msg(&f.cfg, &db, msg, sizeof msg);
    TT_CHECK(r < 0);
    TT_CHECKF(strstr(msg, path) && strstr(msg, strerror(ENOTDIR)), "'%s'", msg);
    if (db) tidal_db_close(db);
    unlink(path);
}

/* ---- out of memory at every allocation of a scenario ---- */

typedef struct fail_alloc {
    long calls, fail_at;
} fail_alloc;

static void *fa_alloc(void *u, size_t n) {
    fail_alloc *c = (fail_alloc *)u;
    return ++c->calls == c->fail_at ? NULL : malloc(n);
}
static void *fa_realloc(void *u, void *p, size_t old, size_t n) {
    fail_alloc *c = (fail_alloc *)u;
    (void)old;
    return ++c->calls == c->fail_at ? NULL : realloc(p, n);
}
static void fa_free(void *u, void *p, size_t n) {
    (void)u;
    (void)n;
    free(p);
}

/* Every call that fails must say something; returns how many failed. */
static int alloc_scenario(const tidal_config *cfg) {
    tidal_db *db = NULL;
    char msg[512] = "";
    tidal_result r = tidal_db_open_msg(cfg, &db, msg, sizeof msg);
    tidal_tag tags[1] = {{"locale", "en"}};
    tidal_hit hits[8];
    uint32_t n, i;
    uint8_t dig[32];
    tidal_id sid = 0;
    int failed = 0;
    size_t len;
    if (r != TIDAL_OK) {
        TT_CHECKF(msg[0], "open: %s with an empty message", tidal_strerror(r));
        return 1;
    }
#define CALL(x)                                                                           \
    do {                                                                                  \
        db->errmsg[0] = 0;                                                                \
        r = (x);                                                                          \
        if (r < 0) failed++;                                                              \
        TT_CHECKF(r >= 0 || db->errmsg[0], "%s: %s with an empty message", #x,           \
                  tidal_strerror(r));                                                     \
    } while (0)
    for (i = 1; i <= 6; i++) {
        tidal_signal s = a_signal();
        s.item = i;
        s.user = 100 + i;
        s.cohort = tags;
        s.cohort_count = 1;
        CALL(tidal_signal_write(db, &s, NULL));
        CALL(tidal_attr_set(db, 0, i, "color", "red", NULL));
    }
    CALL(tidal_negative_add(db, 0, 101, TIDAL_HIDE, 2, NULL));
    CALL(tidal_session_start(db, 0, 101, 0, &sid));
    if (r == TIDAL_OK) {
        tidal_signal s = a_signal();
        s.time_ns = T0;
        s.cohort = tags;
        s.cohort_count = 1;
        CALL(tidal_session_signal(db, sid, 1, &s, NULL));
        CALL(tidal_session_note(db, 0, sid, 2, "note", NULL));
    }
    CALL(tidal_retrieve_text(db, "RETRIEVE items SIGNAL view FOR USER 101 UNSEEN "
                                 "WHERE color=red LIMIT 8", hits, 8, &n, NULL));
    CALL(tidal_retrieve_text(db, "RETRIEVE items PROFILE hot COHORT locale:en LIMIT 8", hits, 8,
                             &n, NULL));
    CALL(tidal_db_digest(db, TIDAL_ALL_TENANTS, dig));
    CALL(tidal_tenant_export(db, 0, NULL, 0, &len) == TIDAL_ERR_LIMIT ? TIDAL_OK : r);
#undef CALL
    tidal_db_close(db);
    return failed;
}

static void t_alloc_failures_say_so(void) {
    fail_alloc c;
    tidal_allocator a;
    fx f;
    long total, k;
    int failed = 0;
    a.user = &c;
    a.alloc = fa_alloc;
    a.realloc = fa_realloc;
    a.free = fa_free;
    memset(&c, 0, sizeof c);
    fx_config(&f, NULL, NULL);
    f.cfg.allocator = &a;
    TT_EQ_INT(alloc_scenario(&f.cfg), 0);
    total = c.calls;
    for (k = 1; k <= total && TT_OK(); k++) {
        memset(&c, 0, sizeof c);
        c.fail_at = k;
        failed += alloc_scenario(&f.cfg);
        if (!TT_OK()) printf("  at allocation %ld of %ld\n", k, total);
    }
    printf("  %ld allocations, %d failed calls checked\n", total, failed);
    TT_CHECK(failed > 0);
}

/* ---- point 10: the smaller items ---- */

static void t_result_min_is_lowest(void) {
    int v, lowest = 0;
    for (v = -1000; v <= 0; v++)
        if (strcmp(tidal_strerror((tidal_result)v), "unknown result") && v < lowest) lowest = v;
    TT_EQ_INT(TIDAL_RESULT_MIN_, lowest);
    for (v = lowest; v < 0; v++) /* no gap: MIN_..-1 all named */
        TT_CHECKF(strcmp(tidal_strerror((tidal_result)v), "unknown result"), "gap at %d", v);
}

static void t_creator_is_an_entity_id(void) {
    static const char *bad[] = {"alice", "", "0", "-5", "12x", " 7", "+7",
                                "18446744073709551616", "0x10"};
    fx f;
    tidal_db *db = NULL;
    char buf[32];
    size_t i;
    fx_config(&f, NULL, NULL);
    TT_EQ_INT(tidal_db_open(&f.cfg, &db), TIDAL_OK);
    if (!db) return;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tidal_result r = tidal_attr_set(db, 0, 1, "creator", bad[i], NULL);
        TT_CHECKF(r == TIDAL_ERR_INVALID, "creator '%s': %s", bad[i], tidal_strerror(r));
        TT_CHECKF(strstr(tidal_errmsg(db), "creator") != NULL, "'%s'", tidal_errmsg(db));
    }
    TT_EQ_INT(tidal_attr_get(db, 0, 1, "creator", buf, sizeof buf), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_attr_set(db, 0, 1, "creator", "18446744073709551615", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(db, 0, 1, "creator", "42", NULL), TIDAL_OK);
    TT_EQ_INT(tidal_attr_set(db, 0, 1, "creator", NULL, NULL), TIDAL_OK); /* delete: fine */
    TT_EQ_INT(tidal_attr_set(db, 0, 1, "creatorx", "alice", NULL), TIDAL_OK); /* other keys */
    tidal_db_close(db);
}

#if TIDAL_ENV_VERSION >= 2
/* The hasher's type name declares one in C as in C++ (tests/matrix/decl.cpp). */
static void t_blake3_type_name(void) {
    tidal_blake3_hasher h;
    uint8_t a[32], b[32];
    tidal_blake3_init(&h);
    tidal_blake3_update(&h, "abc", 3);
    tidal_blake3_final(&h, a, 32);
    tidal_blake3("abc", 3, b);
    TT_CHECK(memcmp(a, b, 32) == 0);
}
#endif

static const tt_case tt_cases[] = {
    TT_CASE(t_walk_bad_arguments),    TT_CASE(t_walk_open),
    TT_CASE(t_sim_faults_everywhere),
#if TIDAL_ENV_VERSION >= 2
    TT_CASE(t_posix_errno_everywhere), TT_CASE(t_blake3_type_name),
#endif
    TT_CASE(t_path_is_a_file),        TT_CASE(t_result_min_is_lowest),
    TT_CASE(t_creator_is_an_entity_id), TT_CASE(t_alloc_failures_say_so),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
