/* test_shell.c - `tidal`, the shell (examples/tidal_shell.c), and the >>inspect calls it
   stands on (issue 14 part 3): check on a clean directory, on a flipped byte in a sealed
   segment and in a snapshot, on a torn tail; dump then load into a fresh directory gives
   equal digests (whole and per tenant) with every kind of event in the workload, in both
   dump modes; query answers what tidal_retrieve_text answers; info on a database opened
   without knowing its schema; usage errors; malformed dump lines; read-only commands leave
   the files as they were; a directory held by a writer is refused. The binary is
   build/tidal (build/asan_tidal when this test is built with ASan; TIDAL_SHELL overrides).
   Real directories under $TMPDIR (default /tmp). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp_dir.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define AT_NS (T0 + INT64_C(7200) * TIDAL_NS_PER_S)
#define OUT_MAX (1u << 20)

#if defined(__SANITIZE_ADDRESS__)
#define SHELL_BIN "build/asan_tidal"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SHELL_BIN "build/asan_tidal"
#endif
#endif
#ifndef SHELL_BIN
#define SHELL_BIN "build/tidal"
#endif

static const char *shell_bin(void) {
    const char *e = getenv("TIDAL_SHELL");
    return e && *e ? e : SHELL_BIN;
}

/* ---- fixture ---- */

typedef struct fx {
    tidal_signal_def sig[4];
    const char *ckeys[1];
    tidal_profile_term terms[2];
    tidal_profile_def prof;
    tidal_config cfg;
    char dir[256];
} fx;

static void fx_config(fx *f, const char *path) {
    memset(f->sig, 0, sizeof f->sig);
    f->sig[0].name = "view";
    f->sig[0].half_life_s = 3600;
    f->sig[1].name = "like";
    f->sig[1].permanent = 1;
    f->sig[2].name = "skip";
    f->sig[2].half_life_s = 600;
    f->sig[2].negative = 1;
    f->ckeys[0] = "locale";
    f->terms[0].signal = "view";
    f->terms[0].weight = 1;
    f->terms[1].signal = "like";
    f->terms[1].weight = 2.5;
    f->prof.name = "feed";
    f->prof.terms = f->terms;
    f->prof.term_count = 2;
    memset(&f->cfg, 0, sizeof f->cfg);
    f->cfg.path = path;
    f->cfg.schema.signals = f->sig;
    f->cfg.schema.signal_count = 3;
    f->cfg.schema.cohort_keys = f->ckeys;
    f->cfg.schema.cohort_key_count = 1;
    f->cfg.schema.profiles = &f->prof;
    f->cfg.schema.profile_count = 1;
    f->cfg.fsync_policy = TIDAL_FSYNC_NONE;
    f->cfg.segment_bytes_max = 4096; /* several segments from a small workload */
    f->cfg.snapshot_log_bytes = TIDAL_SNAPSHOT_LOG_BYTES_OFF;
}

static int temp_dir(char *out, size_t cap) { return temp_dir_make("tidal_shell_", out, cap); }

static tidal_db *fx_open(fx *f) {
    tidal_db *db = NULL;
    char msg[300];
    tidal_result r = tidal_db_open_msg(&f->cfg, &db, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "open %s: %s", f->dir, msg);
    return db;
}

/* Every kind of client event: signals (with users, cohorts, keys, negative types),
   attributes (set, delete, creator), hides, mutes, blocks and their inverses, sessions
   (start, signals, notes, end), a forget and a delete; tenants 0, 1 and 7. */
static void workload(tidal_db *db, uint32_t n) {
    tidal_tag tag;
    uint32_t i;
    tidal_id sess = 0;
    tag.key = "locale";
    for (i = 0; i < n; i++) {
        tidal_signal s;
        char key[32]; /* the idempotency key: read by the write below */
        uint32_t tenant = i % 5 == 4 ? 7 : i % 3 == 2;
        memset(&s, 0, sizeof s);
        s.tenant = tenant;
        s.item = 1 + tt_below(40);
        s.type = (uint32_t)tt_below(3);
        s.weight = s.type == 2 ? -1.0 : 0.5 + (double)tt_below(8);
        s.time_ns = T0 + (int64_t)i * TIDAL_NS_PER_S;
        s.user = tt_below(4) ? 100 + tt_below(10) : 0;
        tag.value = tt_below(2) ? "EU" : "US";
        if (s.user && tt_below(2)) {
            s.cohort = &tag;
            s.cohort_count = 1;
        }
        if (i % 7 == 3) {
            snprintf(key, sizeof key, "client-%u", i);
            s.idem.key = key;
            s.idem.key_len = (uint32_t)strlen(key);
            s.idem.seq = i;
            if (!s.cohort) {
                s.cohort = &tag;
                s.cohort_count = 0;
            }
        }
        TT_CHECKF(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "signal %u: %s", i,
                  tidal_errmsg(db));
        if (i % 11 == 0) {
            char v[32];
            snprintf(v, sizeof v, "%u", 500 + i % 3);
            TT_CHECK(tidal_attr_set(db, tenant, s.item, "creator", v, NULL) == TIDAL_OK);
            TT_CHECK(tidal_attr_set(db, tenant, s.item, "format", i % 2 ? "video" : "text \"q\"\n",
                                    NULL) == TIDAL_OK);
        }
        if (i % 13 == 5)
            TT_CHECK(tidal_attr_set(db, tenant, 100 + i % 10, "locale", "EU", NULL) == TIDAL_OK);
        if (i % 17 == 6)
            TT_CHECK(tidal_attr_set(db, tenant, s.item, "format", NULL, NULL) == TIDAL_OK);
        if (i % 19 == 7)
            TT_CHECK(tidal_negative_add(db, tenant, 101, TIDAL_HIDE, s.item, NULL) == TIDAL_OK);
        if (i % 23 == 8)
            TT_CHECK(tidal_negative_add(db, tenant, 102, TIDAL_MUTE, 501, NULL) == TIDAL_OK);
        if (i % 29 == 9)
            TT_CHECK(tidal_negative_add(db, tenant, 103, TIDAL_BLOCK, 502, NULL) == TIDAL_OK);
        if (i % 31 == 10)
            TT_CHECK(tidal_negative_remove(db, tenant, 101, TIDAL_HIDE, s.item, NULL) == TIDAL_OK);
        if (i % 37 == 11) {
            tidal_signal ss;
            TT_CHECK(tidal_session_start(db, 1, 104, 0, &sess) == TIDAL_OK);
            memset(&ss, 0, sizeof ss);
            ss.tenant = 1;
            ss.item = 3;
            ss.type = 0;
            ss.weight = 2;
            ss.time_ns = T0 + (int64_t)i * TIDAL_NS_PER_S;
            ss.cohort = &tag;
            ss.cohort_count = 0;
            TT_CHECK(tidal_session_signal(db, sess, 1, &ss, NULL) == TIDAL_OK);
            TT_CHECK(tidal_session_note(db, 1, sess, 2, "a note, \"quoted\"", NULL) == TIDAL_OK);
            if (i % 2) TT_CHECK(tidal_session_end(db, 1, sess) == TIDAL_OK);
        }
    }
    TT_CHECK(tidal_user_forget(db, 0, 105, NULL) == TIDAL_OK);
    TT_CHECK(tidal_item_delete(db, 1, 7, NULL) == TIDAL_OK);
    TT_CHECK(tidal_db_commit(db) == TIDAL_OK);
}

/* ---- running the shell ---- */

typedef struct run_out {
    char text[OUT_MAX];
    size_t len;
    int status;
} run_out;

/* Runs "<shell> ARGS" through sh (stdout and stderr together into o->text); returns its
   exit status. */
static int run(run_out *o, const char *fmt, ...) {
    char args[2048], cmd[2400];
    va_list ap;
    FILE *p;
    size_t got;
    int st;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s 2>&1 %s", shell_bin(), args);
    o->len = 0;
    o->text[0] = 0;
    p = popen(cmd, "r");
    TT_CHECKF(p != NULL, "popen %s", cmd);
    if (!p) return -1;
    while ((got = fread(o->text + o->len, 1, OUT_MAX - 1 - o->len, p)) > 0) o->len += got;
    o->text[o->len] = 0;
    st = pclose(p);
    o->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return o->status;
}

static run_out g_out; /* 1 MiB: not on the stack */

static void digest_hex(tidal_db *db, uint64_t tenant, char out[65]) {
    uint8_t d[32];
    int i;
    TT_CHECK(tidal_db_digest(db, tenant, d) == TIDAL_OK);
    for (i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* A finished workload in a fresh directory: several segments, closed. */
static void make_db(fx *f, uint32_t n, int snapshot_mid) {
    tidal_db *db;
    TT_CHECK(temp_dir(f->dir, sizeof f->dir));
    fx_config(f, f->dir);
    db = fx_open(f);
    if (!db) return;
    workload(db, n / 2);
    if (snapshot_mid) TT_CHECK(tidal_db_snapshot(db) == TIDAL_OK);
    workload(db, n - n / 2);
    tidal_db_close(db);
}

/* ---- walking with the library: where the batches are ---- */

typedef struct batches {
    char path[64][400];
    uint64_t off[64][64];
    uint32_t n_off[64], n_files;
    uint32_t damaged, torn;
    char last_why[300];
} batches;

static int batches_event(void *ctx, const tidal_inspect_event *e) {
    batches *b = (batches *)ctx;
    uint32_t k;
    for (k = 0; k < b->n_files && strcmp(b->path[k], e->path); k++) {}
    if (k == b->n_files) {
        if (k == 64) return 0;
        snprintf(b->path[k], sizeof b->path[k], "%s", e->path);
        b->n_files++;
    }
    if (b->n_off[k] && b->off[k][b->n_off[k] - 1] == e->offset) return 0;
    if (b->n_off[k] < 64) b->off[k][b->n_off[k]++] = e->offset;
    return 0;
}

static void batches_damage(void *ctx, const tidal_inspect_damage *d) {
    batches *b = (batches *)ctx;
    if (d->torn)
        b->torn++;
    else
        b->damaged++;
    snprintf(b->last_why, sizeof b->last_why, "%s", d->why);
}

static void walk(fx *f, batches *b, tidal_inspect_totals *tot) {
    tidal_inspect_fns fns;
    tidal_config cfg = f->cfg;
    char msg[300];
    memset(b, 0, sizeof *b);
    memset(&fns, 0, sizeof fns);
    fns.ctx = b;
    fns.event = batches_event;
    fns.damage = batches_damage;
    cfg.schema.signal_count = 0; /* adopt, as the shell does */
    cfg.schema.cohort_key_count = 0;
    cfg.schema.profile_count = 0;
    TT_CHECKF(tidal_inspect_dir(&cfg, &fns, tot, msg, sizeof msg) == TIDAL_OK, "inspect: %s", msg);
}

static void flip_byte(const char *path, uint64_t off) {
    FILE *fp = fopen(path, "r+b");
    int c;
    TT_CHECKF(fp != NULL, "open %s", path);
    if (!fp) return;
    fseek(fp, (long)off, SEEK_SET);
    c = fgetc(fp);
    fseek(fp, (long)off, SEEK_SET);
    fputc(c ^ 0x40, fp);
    fclose(fp);
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* ---- cases ---- */

static void t_check_clean(void) {
    fx f;
    batches b;
    tidal_inspect_totals tot;
    make_db(&f, 300, 1);
    walk(&f, &b, &tot);
    TT_CHECKF(tot.segments >= 3 && tot.snapshots == 1, "%u segments, %u snapshots", tot.segments,
              tot.snapshots);
    TT_EQ_INT(tot.damaged, 0);
    TT_EQ_INT(tot.torn_bytes, 0);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 0);
    TT_CHECKF(!strcmp(g_out.text, "ok\n"), "check said: %s", g_out.text);
    temp_dir_remove(f.dir);
}

static void t_check_flipped_segment(void) {
    fx f;
    batches b;
    tidal_inspect_totals tot;
    char want[600];
    make_db(&f, 300, 1);
    walk(&f, &b, &tot);
    TT_CHECK(b.n_files >= 3 && b.n_off[0] >= 3);
    if (!TT_OK()) return;
    /* Two batches of the first (sealed) segment: both reported, not only the first. */
    flip_byte(b.path[0], b.off[0][1] + 130);
    flip_byte(b.path[0], b.off[0][2] + 20);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 1);
    snprintf(want, sizeof want, "%s: offset %llu: damage: ", b.path[0],
             (unsigned long long)b.off[0][1]);
    TT_CHECKF(contains(g_out.text, want), "wanted '%s' in:\n%s", want, g_out.text);
    snprintf(want, sizeof want, "%s: offset %llu: damage: ", b.path[0],
             (unsigned long long)b.off[0][2]);
    TT_CHECKF(contains(g_out.text, want), "wanted '%s' in:\n%s", want, g_out.text);
    TT_CHECK(contains(g_out.text, "checksum mismatch"));
    walk(&f, &b, &tot);
    TT_EQ_INT(tot.damaged, 2);
    temp_dir_remove(f.dir);
}

static void t_check_flipped_snapshot(void) {
    fx f;
    char snap[400], want[500];
    struct stat st;
    DIR *d;
    struct dirent *e;
    make_db(&f, 300, 1);
    snap[0] = 0;
    d = opendir(f.dir);
    while (d && (e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "snap-", 5) && strstr(e->d_name, ".snap"))
            snprintf(snap, sizeof snap, "%.200s/%.100s", f.dir, e->d_name);
    if (d) closedir(d);
    TT_CHECK(snap[0] && stat(snap, &st) == 0);
    if (!TT_OK()) return;
    flip_byte(snap, (uint64_t)st.st_size / 2);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 1);
    snprintf(want, sizeof want, "%s: offset ", snap);
    TT_CHECKF(contains(g_out.text, want) && contains(g_out.text, "damage"), "wanted '%s' in:\n%s",
              want, g_out.text);
    temp_dir_remove(f.dir);
}

/* A segment missing in the middle of the log: named by the segment after the gap. */
static void t_check_gap(void) {
    fx f;
    batches b;
    tidal_inspect_totals tot;
    char want[600];
    make_db(&f, 300, 0);
    walk(&f, &b, &tot);
    TT_CHECK(b.n_files >= 4);
    if (!TT_OK()) return;
    TT_CHECK(unlink(b.path[1]) == 0);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 1);
    snprintf(want, sizeof want, "%s: offset 0: damage: named for lsn", b.path[2]);
    TT_CHECKF(contains(g_out.text, want) && contains(g_out.text, "gap"), "wanted '%s' in:\n%s",
              want, g_out.text);
    TT_CHECKF(contains(g_out.text, "1 damage reports"), "%s", g_out.text);
    temp_dir_remove(f.dir);
}

static void t_check_torn_tail(void) {
    fx f;
    batches b;
    tidal_inspect_totals tot;
    struct stat st;
    char want[500];
    uint32_t last;
    uint64_t off;
    make_db(&f, 300, 0);
    walk(&f, &b, &tot);
    last = b.n_files - 1;
    TT_CHECK(b.n_files >= 2 && b.n_off[last] >= 1 && stat(b.path[last], &st) == 0);
    if (!TT_OK()) return;
    off = b.off[last][b.n_off[last] - 1]; /* the newest batch: cut in its middle */
    TT_CHECK(truncate(b.path[last], (off_t)(off + ((uint64_t)st.st_size - off) / 2)) == 0);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 3);
    snprintf(want, sizeof want, "%s: offset %llu: torn tail", b.path[last],
             (unsigned long long)off);
    TT_CHECKF(contains(g_out.text, want), "wanted '%s' in:\n%s", want, g_out.text);
    TT_CHECK(!contains(g_out.text, "damage:"));
    /* A read-only command refuses to cut it, and says so. */
    TT_EQ_INT(run(&g_out, "digest %s", f.dir), 1);
    TT_CHECKF(contains(g_out.text, "would have to write"), "%s", g_out.text);
    temp_dir_remove(f.dir);
}

/* Dump, load into a fresh directory, compare digests (the library's and the shell's). */
static void dump_load_compare(fx *f, const char *want_mode, const char *want_load) {
    char fresh[300], dump[320], a[65], b[65], mode[64];
    uint32_t tenants[3] = {0, 1, 7}, i;
    tidal_db *db;
    fx g;
    TT_CHECK(temp_dir(fresh, sizeof fresh));
    snprintf(dump, sizeof dump, "%s.dump", fresh);
    TT_EQ_INT(run(&g_out, "dump %s > %s", f->dir, dump), 0);
    TT_CHECKF(g_out.len == 0, "dump printed: %s", g_out.text);
    {
        FILE *fp = fopen(dump, "r");
        char head[200] = "";
        TT_CHECK(fp && fgets(head, sizeof head, fp));
        if (fp) fclose(fp);
        snprintf(mode, sizeof mode, "\"mode\":\"%s\"", want_mode);
        TT_CHECKF(contains(head, mode), "header: %s", head);
    }
    TT_EQ_INT(run(&g_out, "load %s < %s", fresh, dump), 0);
    TT_CHECKF(contains(g_out.text, "loaded") && contains(g_out.text, want_load), "%s", g_out.text);
    /* The shell's digests agree. */
    TT_EQ_INT(run(&g_out, "digest %s", f->dir), 0);
    snprintf(a, sizeof a, "%.64s", g_out.text);
    TT_EQ_INT(run(&g_out, "digest %s", fresh), 0);
    snprintf(b, sizeof b, "%.64s", g_out.text);
    TT_CHECKF(!strcmp(a, b), "digest %s vs %s", a, b);
    /* And the library's, per tenant. */
    g = *f; /* the same schema (grown, maybe), in the fresh directory */
    g.cfg.path = fresh;
    {
        char da[3][65], dg[3][65];
        if (!(db = fx_open(f))) return;
        for (i = 0; i < 3; i++) digest_hex(db, tenants[i], da[i]);
        tidal_db_close(db);
        if (!(db = fx_open(&g))) return;
        for (i = 0; i < 3; i++) digest_hex(db, tenants[i], dg[i]);
        tidal_db_close(db);
        for (i = 0; i < 3; i++) {
            TT_CHECKF(!strcmp(da[i], dg[i]), "tenant %u: %s vs %s", tenants[i], da[i], dg[i]);
            TT_EQ_INT(run(&g_out, "digest %s %u", fresh, tenants[i]), 0);
            TT_CHECKF(!strncmp(g_out.text, da[i], 64), "shell digest of tenant %u: %s", tenants[i],
                      g_out.text);
        }
    }
    unlink(dump);
    temp_dir_remove(fresh);
}

static void t_dump_load_events(void) {
    fx f;
    tidal_db *db;
    tidal_signal s;
    make_db(&f, 400, 0);
    /* A schema that grew: a schema event in the log, and events of the new type after. */
    if (!(db = fx_open(&f))) return;
    memset(&f.sig[3], 0, sizeof f.sig[3]);
    f.sig[3].name = "share";
    f.sig[3].permanent = 1;
    f.cfg.schema.signal_count = 4;
    TT_EQ_INT(tidal_db_schema_append(db, &f.cfg.schema), TIDAL_OK);
    memset(&s, 0, sizeof s);
    s.item = 5;
    s.type = 3;
    s.weight = 4;
    s.time_ns = T0 + INT64_C(5000) * TIDAL_NS_PER_S;
    TT_EQ_INT(tidal_signal_write(db, &s, NULL), TIDAL_OK);
    workload(db, 30);
    tidal_db_close(db);
    dump_load_compare(&f, "events", "(1 skipped: schema events)");
    temp_dir_remove(f.dir);
}

static void t_dump_load_state(void) {
    fx f;
    tidal_db *db;
    tidal_inspect_totals tot;
    batches b;
    make_db(&f, 400, 0);
    db = fx_open(&f); /* a snapshot after the forget retires the older log */
    if (!db) return;
    TT_CHECK(tidal_db_snapshot(db) == TIDAL_OK);
    workload(db, 40);
    tidal_db_close(db);
    walk(&f, &b, &tot);
    TT_CHECKF(tot.first_lsn > 1, "log from lsn %llu", (unsigned long long)tot.first_lsn);
    dump_load_compare(&f, "state", "loaded 3 lines");
    temp_dir_remove(f.dir);
}

static void t_query_matches_library(void) {
    fx f;
    tidal_db *db;
    tidal_hit hits[50];
    uint32_t n = 0, i;
    char q[200], want[8192];
    size_t w = 0;
    make_db(&f, 300, 0);
    snprintf(q, sizeof q, "RETRIEVE items PROFILE feed TENANT 1 FOR USER 101 LIMIT 50 AT %lld",
             (long long)AT_NS);
    db = fx_open(&f);
    if (!db) return;
    TT_CHECK(tidal_retrieve_text(db, q, hits, 50, &n, NULL) == TIDAL_OK);
    tidal_db_close(db);
    TT_CHECK(n > 5);
    for (i = 0; i < n; i++)
        w += (size_t)snprintf(want + w, sizeof want - w, "%llu %.17g\n",
                              (unsigned long long)hits[i].item, hits[i].score);
    TT_EQ_INT(run(&g_out, "query %s '%s' 2>/dev/null", f.dir, q), 0);
    TT_CHECKF(!strcmp(g_out.text, want), "shell:\n%s\nlibrary:\n%s", g_out.text, want);
    TT_EQ_INT(run(&g_out, "query %s 'RETRIEVE items SIGNAL nosuch'", f.dir), 1);
    TT_CHECK(contains(g_out.text, "nosuch"));
    temp_dir_remove(f.dir);
}

static void t_info_adopts_schema(void) {
    fx f;
    make_db(&f, 200, 1);
    TT_EQ_INT(run(&g_out, "info %s", f.dir), 0);
    TT_CHECKF(contains(g_out.text, "signal 0 view: half_life_s 3600") &&
                  contains(g_out.text, "signal 1 like: permanent") &&
                  contains(g_out.text, "signal 2 skip: half_life_s 600") &&
                  contains(g_out.text, ", negative") &&
                  contains(g_out.text, "cohort key 0: locale") &&
                  contains(g_out.text, "profile 0 feed: 1*view + 2.5*like") &&
                  contains(g_out.text, "tenant 7:") && contains(g_out.text, "  snapshot ") &&
                  contains(g_out.text, "  segment "),
              "info said:\n%s", g_out.text);
    temp_dir_remove(f.dir);
}

static void t_usage_errors(void) {
    fx f;
    make_db(&f, 50, 0);
    TT_EQ_INT(run(&g_out, ""), 2);
    TT_EQ_INT(run(&g_out, "info /nonexistent/tidal_shell_dir"), 2);
    TT_CHECKF(contains(g_out.text, "/nonexistent/tidal_shell_dir") &&
                  contains(g_out.text, "no such"),
              "%s", g_out.text);
    TT_EQ_INT(run(&g_out, "info"), 2);
    TT_CHECK(contains(g_out.text, "DIR"));
    TT_EQ_INT(run(&g_out, "bogus %s", f.dir), 2);
    TT_CHECK(contains(g_out.text, "bogus"));
    TT_EQ_INT(run(&g_out, "digest %s 12x", f.dir), 2);
    TT_CHECK(contains(g_out.text, "12x"));
    TT_EQ_INT(run(&g_out, "query %s", f.dir), 2);
    TT_CHECK(contains(g_out.text, "QUERY"));
    TT_EQ_INT(run(&g_out, "check %s extra", f.dir), 2);
    TT_CHECK(contains(g_out.text, "extra"));
    TT_EQ_INT(run(&g_out, "help"), 0);
    TT_EQ_INT(run(&g_out, "info /etc/hostname"), 2);
    TT_CHECK(contains(g_out.text, "not a directory"));
    temp_dir_remove(f.dir);
}

/* Loads lines [0, upto) of a dump's event lines plus extra; returns the load's status. */
static int load_prefix(const char *dump, const char *fresh, int upto, const char *extra) {
    char path[400], line[65536];
    FILE *in = fopen(dump, "r"), *out;
    int k = 0;
    snprintf(path, sizeof path, "%s.part", dump);
    out = fopen(path, "w");
    TT_CHECK(in && out);
    if (!in || !out) return -1;
    while (fgets(line, sizeof line, in) && k <= upto) {
        fputs(line, out);
        k++;
    }
    if (extra) fputs(extra, out);
    fclose(in);
    fclose(out);
    run(&g_out, "load %s < %s", fresh, path);
    unlink(path);
    return g_out.status;
}

static void t_load_malformed(void) {
    fx f;
    char d1[300], d2[300], dump[320], line[65536], bad[65536], a[65], b[65];
    FILE *fp;
    int k = 0;
    char *w;
    make_db(&f, 120, 0);
    TT_CHECK(temp_dir(d1, sizeof d1) && temp_dir(d2, sizeof d2));
    snprintf(dump, sizeof dump, "%s.dump", d1);
    TT_EQ_INT(run(&g_out, "dump %s > %s", f.dir, dump), 0);
    /* The 6th line with its weight edited (the hex says otherwise). */
    fp = fopen(dump, "r");
    while (fp && fgets(line, sizeof line, fp) && k < 20) {
        if (k >= 5 && strstr(line, "\"kind\":\"signal\"")) break;
        k++;
    }
    if (fp) fclose(fp);
    w = strstr(line, "\"weight\":");
    TT_CHECK(w != NULL);
    if (!w) return;
    snprintf(bad, sizeof bad, "%.*s\"weight\":12345%s", (int)(w - line), line, strchr(w + 9, ','));
    TT_EQ_INT(load_prefix(dump, d1, k - 1, bad), 1);
    TT_CHECKF(contains(g_out.text, "line ") && contains(g_out.text, "field weight"), "%s",
              g_out.text);
    /* Nothing of that line applied: the same as loading only the lines before it. */
    TT_EQ_INT(load_prefix(dump, d2, k - 1, NULL), 0);
    TT_EQ_INT(run(&g_out, "digest %s", d1), 0);
    snprintf(a, sizeof a, "%.64s", g_out.text);
    TT_EQ_INT(run(&g_out, "digest %s", d2), 0);
    snprintf(b, sizeof b, "%.64s", g_out.text);
    TT_CHECKF(!strcmp(a, b), "%s vs %s", a, b);
    /* Other malformed lines, each named by line and field. */
    temp_dir_remove(d1);
    TT_CHECK(temp_dir(d1, sizeof d1));
    TT_EQ_INT(load_prefix(dump, d1, 2, "{\"lsn\":9,\"kind\":\"signal\",\"hex\":\"0g\"}\n"), 1);
    TT_CHECKF(contains(g_out.text, "line 4") && contains(g_out.text, "field hex"), "%s",
              g_out.text);
    TT_EQ_INT(load_prefix(dump, d1, 2, "{\"lsn\":9,\"kind\":\"signal\",\"hex\":\"0102\"}\n"), 1);
    TT_CHECKF(contains(g_out.text, "line 4") && contains(g_out.text, "field hex"), "%s",
              g_out.text);
    TT_EQ_INT(load_prefix(dump, d1, 2, "{\"lsn\":9,\"kind\":\n"), 1);
    TT_CHECKF(contains(g_out.text, "line 4") && contains(g_out.text, "JSON"), "%s", g_out.text);
    TT_EQ_INT(load_prefix(dump, d1, 2, "{\"lsn\":9,\"hex\":\"00\"}\n"), 1);
    TT_CHECKF(contains(g_out.text, "line 4") && contains(g_out.text, "field kind"), "%s",
              g_out.text);
    TT_EQ_INT(run(&g_out, "load %s < /dev/null", d1), 1);
    TT_CHECK(contains(g_out.text, "line 1"));
    unlink(dump);
    temp_dir_remove(d1);
    temp_dir_remove(d2);
    temp_dir_remove(f.dir);
}

/* Hash of every file but LOCK, names included. */
static void dir_hash(const char *dir, uint8_t out[32]) {
    struct tidal_blake3 h;
    char names[64][128], p[512];
    int n = 0, i, j;
    DIR *d = opendir(dir);
    struct dirent *e;
    tidal_blake3_init(&h);
    while (d && (e = readdir(d)) != NULL && n < 64)
        if (e->d_name[0] != '.' && strcmp(e->d_name, "LOCK"))
            snprintf(names[n++], 128, "%.100s", e->d_name);
    if (d) closedir(d);
    for (i = 1; i < n; i++) /* sorted, so the order of readdir does not matter */
        for (j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[128];
            memcpy(t, names[j], 128);
            memcpy(names[j], names[j - 1], 128);
            memcpy(names[j - 1], t, 128);
        }
    for (i = 0; i < n; i++) {
        FILE *fp;
        char buf[4096];
        size_t got;
        snprintf(p, sizeof p, "%.300s/%.100s", dir, names[i]);
        tidal_blake3_update(&h, names[i], strlen(names[i]) + 1);
        fp = fopen(p, "rb");
        while (fp && (got = fread(buf, 1, sizeof buf, fp)) > 0) tidal_blake3_update(&h, buf, got);
        if (fp) fclose(fp);
    }
    tidal_blake3_final(&h, out, 32);
}

static void t_read_only_commands_change_nothing(void) {
    fx f;
    uint8_t before[32], after[32];
    make_db(&f, 200, 1);
    dir_hash(f.dir, before);
    TT_EQ_INT(run(&g_out, "info %s", f.dir), 0);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 0);
    TT_EQ_INT(run(&g_out, "digest %s", f.dir), 0);
    TT_EQ_INT(run(&g_out, "dump %s > /dev/null", f.dir), 0);
    TT_EQ_INT(run(&g_out, "query %s 'RETRIEVE items SIGNAL view LIMIT 5'", f.dir), 0);
    dir_hash(f.dir, after);
    TT_CHECK(!memcmp(before, after, 32));
    /* snapshot writes: the directory changes, and check stays clean. */
    TT_EQ_INT(run(&g_out, "snapshot %s", f.dir), 0);
    TT_CHECK(contains(g_out.text, "snapshot at lsn"));
    dir_hash(f.dir, after);
    TT_CHECK(memcmp(before, after, 32) != 0);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 0);
    temp_dir_remove(f.dir);
}

static void t_held_by_writer(void) {
    fx f;
    tidal_db *db;
    char pid[32];
    make_db(&f, 50, 0);
    db = fx_open(&f);
    if (!db) return;
    snprintf(pid, sizeof pid, "pid %ld", (long)getpid());
    TT_EQ_INT(run(&g_out, "info %s", f.dir), 1);
    TT_CHECKF(contains(g_out.text, "held by a running writer") && contains(g_out.text, pid), "%s",
              g_out.text);
    TT_EQ_INT(run(&g_out, "check %s", f.dir), 1);
    TT_CHECKF(contains(g_out.text, "held by a running writer"), "%s", g_out.text);
    tidal_db_close(db);
    temp_dir_remove(f.dir);
}

static void t_interactive(void) {
    fx f;
    tidal_db *db;
    char want[65], cmd[600];
    make_db(&f, 50, 0);
    db = fx_open(&f);
    if (!db) return;
    digest_hex(db, TIDAL_ALL_TENANTS, want);
    tidal_db_close(db);
    snprintf(cmd, sizeof cmd, "%s < /dev/null; printf 'digest\\nbogus\\ncheck\\nquit\\n' | %s %s",
             "true", shell_bin(), f.dir);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    {
        FILE *p = popen(cmd, "r");
        size_t got;
        g_out.len = 0;
        while (p && (got = fread(g_out.text + g_out.len, 1, OUT_MAX - 1 - g_out.len, p)) > 0)
            g_out.len += got;
        g_out.text[g_out.len] = 0;
        TT_CHECK(p && pclose(p) == 0);
    }
    TT_CHECKF(contains(g_out.text, want) && contains(g_out.text, "ok\n"), "%s", g_out.text);
    temp_dir_remove(f.dir);
}

/* The JSON text of one event, through the library: the bytes an event hook sees. */
typedef struct hooked {
    uint8_t ev[1024];
    size_t len;
} hooked;

static void hook_fn(void *ctx, const void *event, size_t len) {
    hooked *h = (hooked *)ctx;
    if (len <= sizeof h->ev) memcpy(h->ev, event, len);
    h->len = len;
}

static void t_event_json(void) {
    tidal_signal_def sig = {"view", 3600.0, 0, 0, 0};
    const char *ck = "locale";
    tidal_tag tag = {"locale", "E\"U"};
    tidal_config cfg;
    tidal_db *db;
    tidal_signal s;
    hooked h;
    size_t n = 0;
    char buf[1024];
    memset(&cfg, 0, sizeof cfg);
    cfg.schema.signals = &sig;
    cfg.schema.signal_count = 1;
    cfg.schema.cohort_keys = &ck;
    cfg.schema.cohort_key_count = 1;
    TT_CHECK(tidal_db_open(&cfg, &db) == TIDAL_OK);
    memset(&h, 0, sizeof h);
    tidal_db_set_event_hook(db, hook_fn, &h);
    memset(&s, 0, sizeof s);
    s.item = 42;
    s.weight = 0.1;
    s.time_ns = T0;
    s.user = 9;
    s.cohort = &tag;
    s.cohort_count = 1;
    TT_CHECK(tidal_signal_write(db, &s, NULL) == TIDAL_OK);
    TT_CHECK(h.len > 0);
    TT_EQ_INT(tidal_event_json(db, h.ev, h.len, buf, sizeof buf, &n), TIDAL_OK);
    TT_CHECKF(!strncmp(buf, "{\"kind\":\"signal\",\"tenant\":0,\"id\":\"", 34) &&
                  contains(buf, ",\"time_ns\":1790000000000000000,\"item\":42,\"type\":\"view\","
                                "\"weight\":0.10000000000000001,\"user\":9,\"session\":0,\"seq\":0,"
                                "\"cohort\":{\"locale\":\"E\\\"U\"}}"),
              "%s", buf);
    TT_EQ_INT(n, strlen(buf));
    TT_EQ_INT(tidal_event_json(db, h.ev, h.len, buf, 10, &n), TIDAL_ERR_LIMIT);
    TT_EQ_INT(tidal_event_json(db, h.ev, h.len - 1, buf, sizeof buf, &n), TIDAL_ERR_CORRUPT);
    TT_CHECK(contains(tidal_errmsg(db), "byte"));
    TT_EQ_INT(tidal_attr_set(db, 3, 42, "format", NULL, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_event_json(db, h.ev, h.len, buf, sizeof buf, &n), TIDAL_OK);
    TT_CHECKF(contains(buf, "\"kind\":\"attr\",\"tenant\":3,") &&
                  contains(buf, "\"entity\":42,\"key\":\"format\",\"value\":null}"),
              "%s", buf);
    tidal_db_close(db);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_event_json),
    TT_CASE(t_check_clean),
    TT_CASE(t_check_flipped_segment),
    TT_CASE(t_check_flipped_snapshot),
    TT_CASE(t_check_torn_tail),
    TT_CASE(t_check_gap),
    TT_CASE(t_dump_load_events),
    TT_CASE(t_dump_load_state),
    TT_CASE(t_query_matches_library),
    TT_CASE(t_info_adopts_schema),
    TT_CASE(t_usage_errors),
    TT_CASE(t_load_malformed),
    TT_CASE(t_read_only_commands_change_nothing),
    TT_CASE(t_held_by_writer),
    TT_CASE(t_interactive),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
