/* tidal_shell.c - `tidal`, the shell for a database directory (built as build/tidal), like
   sqlite3 and RocksDB's ldb: look inside a directory, verify it, query it, dump and load it.

     tidal info DIR              schema, counters, tenants, snapshots and segments
     tidal check DIR             verify every snapshot and every batch of every segment:
                                 "ok" and exit 0 when clean; else one line per damage
                                 naming file and byte offset, exit 1 (exit 3 when the only
                                 finding is a torn tail, which the next writable open cuts)
     tidal query DIR "RETRIEVE ..."   the hits, one "item score" line each (stats on stderr)
     tidal dump DIR              the database as JSON lines (format below)
     tidal load DIR < dump       re-import a dump into a fresh or existing database
     tidal digest DIR [TENANT]   the state digest (BLAKE3, hex), of all or one tenant
     tidal snapshot DIR          write a snapshot now
     tidal DIR                   interactive: the same commands (without DIR) from stdin,
                                 one per line; "load FILE" reads a dump from a file
     tidal help

   Exit status: 0 success, 1 the command failed (its message says why), 2 a usage error (a
   bad argument or a missing directory: the message names it), 3 check found a torn tail
   only.

   It opens a database it knows nothing about: the node comes from the file names
   (tidal_inspect_node) and the schema from the stored one (schema.signal_count 0 adopts
   it). Read-only commands (info, check, query, dump, digest) do not change the directory:
   they run over an env that forwards reads and refuses every write, so an open that would
   have to write (cut a torn tail, finish a collection) fails with a message saying what
   instead of doing it (run any writable command, e.g. `tidal snapshot`, to let it). One
   thing they do write, as every open does: the one-writer lock, file LOCK in the
   directory, created if missing and holding the pid of the process holding it. A
   directory a running writer holds is refused (TIDAL_ERR_LOCKED, naming its pid).

   Dump format, one JSON object per line:
   1. a header: {"tidal_dump":1,"mode":"events"|"state","node":[region,shard],
      "signals":[{"name","half_life_s","windows","permanent","negative"}...],
      "cohort_keys":[...],"profiles":[{"name","terms":[{"signal","weight"}...]}...]};
   2. mode "events" (the log holds every event since lsn 1): every logged event in log
      order, {"lsn":N, the fields of tidal_event_json..., "hex":"<the event's bytes>"}.
      The hex is the event in the log's encoding (tidal_event_import's input) and is what
      load applies, under the event's own id; load decodes it and checks every other field
      of the line against it, so a line whose fields and bytes disagree is refused, naming
      the field. Schema events are listed and skipped by load (the header's schema holds
      them);
   3. mode "state" (a snapshot retired older log, or the log holds a tenant install or
      drop: events alone no longer rebuild the state): one {"kind":"state","tenant":N,
      "export":"<hex of tidal_tenant_export>"} line per tenant, which load installs
      (tidal_tenant_install: in an existing database it replaces what that tenant held,
      where event lines add to it). Not carried either way: tenant limits
      (tidal_tenant_set) and replication state; what the digest covers is.
   Load stops at the first malformed line: "line N: field F: why", nothing of that line
   applied, the lines before it loaded (and committed), exit 1. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SH_HITS_MAX 100000u
#define SH_TENANTS_MAX 65536u
#define SH_JSON_MEMBERS 64
#define SH_LINE_COMMIT 4096 /* events per group commit on load */

/* ---- the env: reads forwarded, writes refused on read-only commands ---- */

typedef struct sh_env {
    tidal_env env;
    const tidal_env *base;
    int read_only;
    int refused_now; /* the last env call that failed was a refusal */
    char refused[512]; /* what the first refused operation was */
} sh_env;

#define SH_BASE(u) (((sh_env *)(u))->base)

static void sh_refuse(void *u, const char *op, const char *path) {
    sh_env *e = (sh_env *)u;
    e->refused_now = 1;
    if (!e->refused[0]) snprintf(e->refused, sizeof e->refused, "%s %s", op, path ? path : "");
}
static int64_t sh_wall(void *u) { return SH_BASE(u)->clock_wall_ns(SH_BASE(u)->user); }
static int64_t sh_mono(void *u) { return SH_BASE(u)->clock_mono_ns(SH_BASE(u)->user); }
static void sh_random(void *u, void *buf, size_t len) {
    SH_BASE(u)->random_fill(SH_BASE(u)->user, buf, len);
}
static tidal_result sh_open(void *u, const char *path, uint32_t flags, void **file) {
    sh_env *e = (sh_env *)u;
    e->refused_now = 0;
    /* Opening an existing file for writing changes nothing (recovery opens the newest
       segment so); creating one would. */
    if (e->read_only && (flags & TIDAL_OPEN_CREATE)) {
        sh_refuse(u, "create", path);
        return TIDAL_ERR_IO_WRITE;
    }
    return e->base->file_open(e->base->user, path, flags, file);
}
static tidal_result sh_read(void *u, void *f, uint64_t off, void *buf, size_t len, size_t *got) {
    ((sh_env *)u)->refused_now = 0;
    return SH_BASE(u)->file_read(SH_BASE(u)->user, f, off, buf, len, got);
}
static tidal_result sh_write(void *u, void *f, uint64_t off, const void *buf, size_t len) {
    sh_env *e = (sh_env *)u;
    e->refused_now = 0;
    if (e->read_only) {
        sh_refuse(u, "write to", "a file");
        return TIDAL_ERR_IO_WRITE;
    }
    return e->base->file_write(e->base->user, f, off, buf, len);
}
static tidal_result sh_sync(void *u, void *f) {
    ((sh_env *)u)->refused_now = 0;
    return SH_BASE(u)->file_sync(SH_BASE(u)->user, f);
}
static tidal_result sh_size(void *u, void *f, uint64_t *size) {
    ((sh_env *)u)->refused_now = 0;
    return SH_BASE(u)->file_size(SH_BASE(u)->user, f, size);
}
static tidal_result sh_truncate(void *u, void *f, uint64_t size) {
    sh_env *e = (sh_env *)u;
    e->refused_now = 0;
    if (e->read_only) {
        sh_refuse(u, "truncate", "a file (a torn tail to cut)");
        return TIDAL_ERR_IO_WRITE;
    }
    return e->base->file_truncate(e->base->user, f, size);
}
static void sh_close(void *u, void *f) { SH_BASE(u)->file_close(SH_BASE(u)->user, f); }
static tidal_result sh_rename(void *u, const char *from, const char *to) {
    sh_env *e = (sh_env *)u;
    struct stat st;
    e->refused_now = 0;
    if (e->read_only && stat(from, &st) == 0) { /* renaming nothing changes nothing */
        sh_refuse(u, "rename", from);
        return TIDAL_ERR_IO_WRITE;
    }
    return e->base->file_rename(e->base->user, from, to);
}
static tidal_result sh_remove(void *u, const char *path) {
    sh_env *e = (sh_env *)u;
    struct stat st;
    e->refused_now = 0;
    /* Open removes leftover temp files that are usually not there: removing nothing
       changes nothing, so only a file that exists is refused. */
    if (e->read_only && stat(path, &st) == 0) {
        sh_refuse(u, "remove", path);
        return TIDAL_ERR_IO_WRITE;
    }
    return e->base->file_remove(e->base->user, path);
}
static tidal_result sh_dir_create(void *u, const char *path) {
    sh_env *e = (sh_env *)u;
    struct stat st;
    e->refused_now = 0;
    if (e->read_only && stat(path, &st) != 0) { /* an existing directory is left as it is */
        sh_refuse(u, "create directory", path);
        return TIDAL_ERR_IO_WRITE;
    }
    return e->base->dir_create(e->base->user, path);
}
static tidal_result sh_dir_sync(void *u, const char *path) {
    ((sh_env *)u)->refused_now = 0;
    return SH_BASE(u)->dir_sync(SH_BASE(u)->user, path);
}
static tidal_result sh_dir_list(void *u, const char *path, void (*fn)(void *, const char *),
                                void *ctx) {
    ((sh_env *)u)->refused_now = 0;
    return SH_BASE(u)->dir_list(SH_BASE(u)->user, path, fn, ctx);
}
static tidal_result sh_send(void *u, tidal_node_ref to, const void *bytes, size_t len) {
    return SH_BASE(u)->message_send(SH_BASE(u)->user, to, bytes, len);
}
static tidal_result sh_lock(void *u, const char *path, void **lock, uint64_t *holder) {
    ((sh_env *)u)->refused_now = 0;
    return SH_BASE(u)->dir_lock(SH_BASE(u)->user, path, lock, holder);
}
static void sh_unlock(void *u, void *lock) { SH_BASE(u)->dir_unlock(SH_BASE(u)->user, lock); }
static void sh_error_text(void *u, char *buf, size_t cap) {
    sh_env *e = (sh_env *)u;
    if (e->refused_now) {
        snprintf(buf, cap, "refused: a read-only command does not change the directory");
        return;
    }
    if (e->base->error_text)
        e->base->error_text(e->base->user, buf, cap);
    else if (cap)
        buf[0] = 0;
}

static void sh_env_init(sh_env *e) {
    memset(e, 0, sizeof *e);
    e->base = tidal_env_posix();
    e->env.version = TIDAL_ENV_VERSION;
    e->env.user = e;
    e->env.clock_wall_ns = sh_wall;
    e->env.clock_mono_ns = sh_mono;
    e->env.random_fill = sh_random;
    e->env.file_open = sh_open;
    e->env.file_read = sh_read;
    e->env.file_write = sh_write;
    e->env.file_sync = sh_sync;
    e->env.file_size = sh_size;
    e->env.file_truncate = sh_truncate;
    e->env.file_close = sh_close;
    e->env.file_rename = sh_rename;
    e->env.file_remove = sh_remove;
    e->env.dir_create = sh_dir_create;
    e->env.dir_sync = sh_dir_sync;
    e->env.dir_list = sh_dir_list;
    e->env.message_send = sh_send;
    e->env.dir_lock = sh_lock;
    e->env.dir_unlock = sh_unlock;
    e->env.error_text = sh_error_text;
}

/* ---- the shell's state, opening a directory ---- */

typedef struct sh {
    const char *dir;
    sh_env env;
    FILE *out; /* stdout */
} sh;

static void sh_config(sh *s, tidal_config *cfg, tidal_node_ref node) {
    memset(cfg, 0, sizeof *cfg);
    cfg->path = s->dir;
    cfg->env = &s->env.env;
    cfg->node = node;
    cfg->time_min_ns = -1; /* a dump's events were checked where they were written */
}

/* Says why an open (or a walk) failed, in terms of what the user can do. */
static void sh_open_failed(sh *s, tidal_result r, const char *msg) {
    if (r == TIDAL_ERR_LOCKED)
        fprintf(stderr, "tidal: %s is held by a running writer: %s\n", s->dir, msg);
    else if (s->env.read_only && s->env.refused[0])
        fprintf(stderr,
                "tidal: %s: opening it would have to write (%s), and a read-only "
                "command changes nothing; `tidal check %s` says why, and a writable command "
                "(e.g. `tidal snapshot %s`) lets the open do it\n  (%s)\n",
                s->dir, s->env.refused, s->dir, s->dir, msg);
    else
        fprintf(stderr, "tidal: %s: %s: %s\n", s->dir, tidal_strerror(r), msg);
}

static int sh_node(sh *s, tidal_node_ref *node) {
    char msg[400];
    tidal_result r = tidal_inspect_node(&s->env.env, s->dir, node, msg, sizeof msg);
    if (r == TIDAL_OK) return 1;
    fprintf(stderr, "tidal: %s\n", msg);
    return 0;
}

static tidal_db *sh_db_open(sh *s, int writable) {
    tidal_config cfg;
    tidal_node_ref node;
    tidal_db *db = NULL;
    char msg[512];
    tidal_result r;
    if (!sh_node(s, &node)) return NULL;
    s->env.read_only = !writable;
    s->env.refused[0] = 0;
    sh_config(s, &cfg, node);
    r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
    if (r != TIDAL_OK) {
        sh_open_failed(s, r, msg);
        return NULL;
    }
    return db;
}

/* ---- info ---- */

static void sh_print_schema(sh *s, const tidal_schema *sc) {
    static const char *const wn[5] = {"1h", "24h", "7d", "30d", "all"};
    uint32_t i, k;
    fprintf(s->out, "schema:\n");
    for (i = 0; i < sc->signal_count; i++) {
        const tidal_signal_def *d = &sc->signals[i];
        int first = 1;
        fprintf(s->out, "  signal %u %s: ", i, d->name);
        if (d->permanent)
            fprintf(s->out, "permanent");
        else
            fprintf(s->out, "half_life_s %.17g", d->half_life_s);
        fprintf(s->out, ", windows ");
        for (k = 0; k < 5; k++)
            if (d->windows & (1u << k)) {
                fprintf(s->out, "%s%s", first ? "" : ",", wn[k]);
                first = 0;
            }
        fprintf(s->out, "%s\n", d->negative ? ", negative" : "");
    }
    for (i = 0; i < sc->cohort_key_count; i++)
        fprintf(s->out, "  cohort key %u: %s\n", i, sc->cohort_keys[i]);
    for (i = 0; i < sc->profile_count; i++) {
        const tidal_profile_def *p = &sc->profiles[i];
        fprintf(s->out, "  profile %u %s:", i, p->name);
        for (k = 0; k < p->term_count; k++)
            fprintf(s->out, "%s %.17g*%s", k ? " +" : "", p->terms[k].weight, p->terms[k].signal);
        fprintf(s->out, "\n");
    }
}

static void sh_info_file(void *ctx, const tidal_inspect_file *f) {
    sh *s = (sh *)ctx;
    if (f->kind == TIDAL_INSPECT_SNAPSHOT) {
        fprintf(s->out, "  snapshot %s: %llu bytes, lsn %llu, %llu events folded%s\n", f->path,
                (unsigned long long)f->bytes, (unsigned long long)f->first_lsn,
                (unsigned long long)f->events, f->damaged ? ", DAMAGED (tidal check)" : "");
        return;
    }
    fprintf(s->out,
            "  segment %s: %llu bytes, lsn %llu..%llu, %llu batches, %llu events, time_ns "
            "%lld..%lld",
            f->path, (unsigned long long)f->bytes, (unsigned long long)f->first_lsn,
            (unsigned long long)f->last_lsn, (unsigned long long)f->batches,
            (unsigned long long)f->events, (long long)f->time_min_ns, (long long)f->time_max_ns);
    if (f->torn_bytes)
        fprintf(s->out, ", torn tail of %llu bytes", (unsigned long long)f->torn_bytes);
    if (f->damaged) fprintf(s->out, ", %u damage reports (tidal check)", f->damaged);
    fprintf(s->out, "\n");
}

static int sh_walk(sh *s, const tidal_inspect_fns *fns, tidal_inspect_totals *tot) {
    tidal_config cfg;
    tidal_node_ref node;
    char msg[512];
    tidal_result r;
    if (!sh_node(s, &node)) return 0;
    s->env.read_only = 1;
    s->env.refused[0] = 0;
    sh_config(s, &cfg, node);
    r = tidal_inspect_dir(&cfg, fns, tot, msg, sizeof msg);
    if (r != TIDAL_OK) {
        sh_open_failed(s, r, msg);
        return 0;
    }
    return 1;
}

static int sh_info(sh *s) {
    tidal_db *db = sh_db_open(s, 0);
    tidal_inspect_fns fns;
    tidal_inspect_totals tot;
    int ok = db != NULL;
    fprintf(s->out, "database %s\n", s->dir);
    if (db) {
        tidal_schema sc;
        tidal_db_stats st;
        static uint32_t ten[SH_TENANTS_MAX];
        uint32_t n = 0, i;
        if (tidal_db_schema_get(db, &sc) == TIDAL_OK) sh_print_schema(s, &sc);
        tidal_db_stats_get(db, &st);
        fprintf(s->out,
                "stats: %llu events applied, %llu entities, %llu bytes of state, %llu events "
                "replayed at open, snapshot lsn %llu, durable lsn %llu\n",
                (unsigned long long)st.events_applied, (unsigned long long)st.entities,
                (unsigned long long)st.bytes_state, (unsigned long long)st.recovered_events,
                (unsigned long long)st.snapshot_lsn, (unsigned long long)tidal_db_durable_lsn(db));
        (void)tidal_db_tenants(db, ten, SH_TENANTS_MAX, &n);
        fprintf(s->out, "tenants: %u\n", n);
        for (i = 0; i < n && i < SH_TENANTS_MAX; i++) {
            uint64_t ents = 0, sess = 0, bytes = 0;
            (void)tidal_tenant_footprint(db, ten[i], &ents, &sess, &bytes);
            fprintf(s->out, "  tenant %u: %llu entities, %llu sessions, %llu bytes\n", ten[i],
                    (unsigned long long)ents, (unsigned long long)sess, (unsigned long long)bytes);
        }
        tidal_db_close(db);
    }
    memset(&fns, 0, sizeof fns);
    fns.ctx = s;
    fns.file = sh_info_file;
    fprintf(s->out, "files:\n");
    if (!sh_walk(s, &fns, &tot)) return 1;
    fprintf(s->out, "log: lsn %llu..%llu in %u segments, %u snapshots (newest valid at lsn %llu)\n",
            (unsigned long long)tot.first_lsn, (unsigned long long)tot.last_lsn, tot.segments,
            tot.snapshots, (unsigned long long)tot.snapshot_lsn);
    return ok ? 0 : 1;
}

/* ---- check ---- */

static void sh_check_damage(void *ctx, const tidal_inspect_damage *d) {
    sh *s = (sh *)ctx;
    fprintf(s->out, "%s: offset %llu: %s%s\n", d->path, (unsigned long long)d->offset,
            d->torn ? "" : "damage: ", d->why);
}

static int sh_check(sh *s) {
    tidal_inspect_fns fns;
    tidal_inspect_totals tot;
    memset(&fns, 0, sizeof fns);
    fns.ctx = s;
    fns.damage = sh_check_damage;
    if (!sh_walk(s, &fns, &tot)) return 1;
    if (!tot.damaged && !tot.torn_bytes) {
        fprintf(s->out, "ok\n");
        return 0;
    }
    fprintf(s->out,
            "%u damage reports, %llu bytes of torn tail (%u snapshots, %u segments, %llu "
            "batches checked)\n",
            tot.damaged, (unsigned long long)tot.torn_bytes, tot.snapshots, tot.segments,
            (unsigned long long)tot.batches);
    return tot.damaged ? 1 : 3;
}

/* ---- query, digest, snapshot ---- */

static int sh_query(sh *s, const char *text) {
    static tidal_hit hits[SH_HITS_MAX];
    tidal_query_stats st;
    uint32_t n = 0, i;
    tidal_result r;
    tidal_db *db = sh_db_open(s, 0);
    if (!db) return 1;
    r = tidal_retrieve_text(db, text, hits, SH_HITS_MAX, &n, &st);
    if (r != TIDAL_OK) {
        fprintf(stderr, "tidal: query: %s: %s\n", tidal_strerror(r), tidal_errmsg(db));
        tidal_db_close(db);
        return 1;
    }
    for (i = 0; i < n; i++)
        fprintf(s->out, "%llu %.17g\n", (unsigned long long)hits[i].item, hits[i].score);
    fprintf(stderr, "(%u hits; %llu items considered, %s)\n", n,
            (unsigned long long)st.items_considered, st.used_index ? "index" : "scan");
    tidal_db_close(db);
    return 0;
}

/* Parses a decimal u32 argument; 0 on anything else. */
static int sh_u32(const char *a, uint32_t *v) {
    char *end;
    unsigned long long x;
    if (!a || !*a || *a < '0' || *a > '9') return 0;
    errno = 0;
    x = strtoull(a, &end, 10);
    if (errno || *end || x > UINT32_MAX) return 0;
    *v = (uint32_t)x;
    return 1;
}

static int sh_digest(sh *s, const char *tenant_arg) {
    uint8_t d[32];
    uint32_t t = 0, i;
    tidal_db *db;
    tidal_result r;
    if (tenant_arg && !sh_u32(tenant_arg, &t)) {
        fprintf(stderr, "tidal: digest: TENANT '%s' is not a tenant id (0..4294967295)\n",
                tenant_arg);
        return 2;
    }
    if (!(db = sh_db_open(s, 0))) return 1;
    r = tidal_db_digest(db, tenant_arg ? (uint64_t)t : TIDAL_ALL_TENANTS, d);
    if (r != TIDAL_OK) {
        fprintf(stderr, "tidal: digest: %s: %s\n", tidal_strerror(r), tidal_errmsg(db));
        tidal_db_close(db);
        return 1;
    }
    for (i = 0; i < 32; i++) fprintf(s->out, "%02x", d[i]);
    fprintf(s->out, "\n");
    tidal_db_close(db);
    return 0;
}

static int sh_snapshot(sh *s) {
    tidal_db_stats st;
    tidal_result r;
    tidal_db *db = sh_db_open(s, 1);
    if (!db) return 1;
    r = tidal_db_snapshot(db);
    if (r != TIDAL_OK) {
        fprintf(stderr, "tidal: snapshot: %s: %s\n", tidal_strerror(r), tidal_errmsg(db));
        tidal_db_close(db);
        return 1;
    }
    tidal_db_stats_get(db, &st);
    fprintf(s->out, "snapshot at lsn %llu\n", (unsigned long long)st.snapshot_lsn);
    tidal_db_close(db);
    return 0;
}

/* ---- dump ---- */

static void sh_json_str(FILE *f, const char *p) {
    fputc('"', f);
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void sh_hex(FILE *f, const uint8_t *p, size_t n) {
    static const char hx[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        fputc(hx[p[i] >> 4], f);
        fputc(hx[p[i] & 15], f);
    }
}

static void sh_dump_header(sh *s, tidal_db *db, const char *mode, tidal_node_ref node) {
    tidal_schema sc;
    uint32_t i, k;
    FILE *f = s->out;
    (void)tidal_db_schema_get(db, &sc);
    fprintf(f, "{\"tidal_dump\":1,\"mode\":\"%s\",\"node\":[%u,%u],\"signals\":[", mode,
            node.region, node.shard);
    for (i = 0; i < sc.signal_count; i++) {
        const tidal_signal_def *d = &sc.signals[i];
        fprintf(f, "%s{\"name\":", i ? "," : "");
        sh_json_str(f, d->name);
        fprintf(f, ",\"half_life_s\":%.17g,\"windows\":%u,\"permanent\":%d,\"negative\":%d}",
                d->half_life_s, d->windows, d->permanent ? 1 : 0, d->negative ? 1 : 0);
    }
    fprintf(f, "],\"cohort_keys\":[");
    for (i = 0; i < sc.cohort_key_count; i++) {
        if (i) fputc(',', f);
        sh_json_str(f, sc.cohort_keys[i]);
    }
    fprintf(f, "],\"profiles\":[");
    for (i = 0; i < sc.profile_count; i++) {
        fprintf(f, "%s{\"name\":", i ? "," : "");
        sh_json_str(f, sc.profiles[i].name);
        fprintf(f, ",\"terms\":[");
        for (k = 0; k < sc.profiles[i].term_count; k++) {
            fprintf(f, "%s{\"signal\":", k ? "," : "");
            sh_json_str(f, sc.profiles[i].terms[k].signal);
            fprintf(f, ",\"weight\":%.17g}", sc.profiles[i].terms[k].weight);
        }
        fprintf(f, "]}");
    }
    fprintf(f, "]}\n");
}

static int sh_dump_state(sh *s, tidal_db *db) {
    static uint32_t ten[SH_TENANTS_MAX];
    uint32_t n = 0, i;
    tidal_result r = tidal_db_tenants(db, ten, SH_TENANTS_MAX, &n);
    if (r != TIDAL_OK) {
        fprintf(stderr, "tidal: dump: tenants: %s\n", tidal_errmsg(db));
        return 0;
    }
    for (i = 0; i < n; i++) {
        size_t need = 0;
        uint8_t *buf;
        r = tidal_tenant_export(db, ten[i], NULL, 0, &need);
        if (r != TIDAL_ERR_LIMIT && r != TIDAL_OK) break;
        if (!(buf = (uint8_t *)malloc(need ? need : 1))) {
            r = TIDAL_ERR_NOMEM;
            break;
        }
        r = tidal_tenant_export(db, ten[i], buf, need, &need);
        if (r == TIDAL_OK) {
            fprintf(s->out, "{\"kind\":\"state\",\"tenant\":%u,\"export\":\"", ten[i]);
            sh_hex(s->out, buf, need);
            fprintf(s->out, "\"}\n");
        }
        free(buf);
        if (r != TIDAL_OK) break;
    }
    if (r != TIDAL_OK)
        fprintf(stderr, "tidal: dump: export of tenant %u: %s\n", ten[i], tidal_errmsg(db));
    return r == TIDAL_OK;
}

static int sh_dump_event(void *ctx, const tidal_inspect_event *e) {
    sh *s = (sh *)ctx;
    size_t n = strlen(e->json);
    fprintf(s->out, "{\"lsn\":%llu,", (unsigned long long)e->lsn);
    fwrite(e->json + 1, 1, n - 2, s->out); /* the members, without the braces */
    fprintf(s->out, ",\"hex\":\"");
    sh_hex(s->out, (const uint8_t *)e->bytes, e->len);
    fprintf(s->out, "\"}\n");
    return ferror(s->out) != 0;
}

static int sh_dump(sh *s) {
    tidal_inspect_fns fns;
    tidal_inspect_totals tot;
    tidal_node_ref node;
    tidal_db *db;
    int state, ok = 1;
    if (!sh_node(s, &node) || !sh_walk(s, NULL, &tot)) return 1;
    if (tot.damaged) {
        fprintf(stderr, "tidal: dump: %s has %u damage reports; `tidal check %s` lists them\n",
                s->dir, tot.damaged, s->dir);
        return 1;
    }
    /* Events alone rebuild the state only when the log holds every one since lsn 1 and no
       install or drop (whose state is not in events). */
    state =
        tot.first_lsn > 1 || tot.migration_events > 0 || (tot.first_lsn == 0 && tot.snapshot_lsn);
    if (!(db = sh_db_open(s, 0))) return 1;
    sh_dump_header(s, db, state ? "state" : "events", node);
    if (state) ok = sh_dump_state(s, db);
    tidal_db_close(db);
    if (!ok) return 1;
    if (state) return fflush(s->out) == 0 ? 0 : 1;
    memset(&fns, 0, sizeof fns);
    fns.ctx = s;
    fns.event = sh_dump_event;
    if (!sh_walk(s, &fns, &tot)) return 1;
    if (tot.stopped || fflush(s->out) != 0) {
        fprintf(stderr, "tidal: dump: writing the output failed\n");
        return 1;
    }
    return 0;
}

/* ---- a small JSON reader: one object per line, members kept as spans ---- */

typedef struct jmember {
    const char *key, *val; /* key: the raw string's content (no quotes); val: raw text */
    size_t key_len, val_len;
} jmember;

typedef struct jobj {
    jmember m[SH_JSON_MEMBERS];
    int n;
    char err[160];
} jobj;

typedef struct jrd {
    const char *p, *end;
    char *err;
} jrd;

static void j_ws(jrd *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
        r->p++;
}

static int j_fail(jrd *r, const char *what) {
    if (!r->err[0]) snprintf(r->err, 160, "%s", what);
    return 0;
}

static int j_value(jrd *r, int depth);

static int j_string(jrd *r) {
    if (r->p >= r->end || *r->p != '"') return j_fail(r, "a string was expected");
    for (r->p++; r->p < r->end && *r->p != '"'; r->p++) {
        if ((unsigned char)*r->p < 0x20) return j_fail(r, "a control character in a string");
        if (*r->p == '\\') {
            r->p++;
            if (r->p >= r->end || !strchr("\"\\/bfnrtu", *r->p)) return j_fail(r, "a bad escape");
        }
    }
    if (r->p >= r->end) return j_fail(r, "an unterminated string");
    r->p++;
    return 1;
}

static int j_container(jrd *r, int depth, char close) {
    int first = 1;
    if (depth > 8) return j_fail(r, "nested too deeply");
    r->p++;
    for (;;) {
        j_ws(r);
        if (r->p < r->end && *r->p == close && first) {
            r->p++;
            return 1;
        }
        if (close == '}') {
            if (!j_string(r)) return 0;
            j_ws(r);
            if (r->p >= r->end || *r->p != ':') return j_fail(r, "':' expected");
            r->p++;
        }
        if (!j_value(r, depth + 1)) return 0;
        j_ws(r);
        first = 0;
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            return 1;
        }
        return j_fail(r, close == '}' ? "',' or '}' expected" : "',' or ']' expected");
    }
}

static int j_value(jrd *r, int depth) {
    j_ws(r);
    if (r->p >= r->end) return j_fail(r, "a value was expected");
    if (*r->p == '"') return j_string(r);
    if (*r->p == '{') return j_container(r, depth, '}');
    if (*r->p == '[') return j_container(r, depth, ']');
    if (!strncmp(r->p, "true", 4) || !strncmp(r->p, "null", 4)) {
        r->p += 4;
        return 1;
    }
    if (!strncmp(r->p, "false", 5)) {
        r->p += 5;
        return 1;
    }
    if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) {
        char *e;
        (void)strtod(r->p, &e);
        if (e == r->p) return j_fail(r, "a bad number");
        r->p = e;
        return 1;
    }
    return j_fail(r, "a value was expected");
}

/* Parses one object; its members' spans go to o. 0 with o->err on failure. */
static int j_object(const char *text, size_t len, jobj *o) {
    jrd r;
    memset(o, 0, sizeof *o);
    r.p = text;
    r.end = text + len;
    r.err = o->err;
    j_ws(&r);
    if (r.p >= r.end || *r.p != '{') return j_fail(&r, "not a JSON object");
    r.p++;
    j_ws(&r);
    if (r.p < r.end && *r.p == '}') return 1;
    for (;;) {
        const char *k, *v;
        j_ws(&r);
        k = r.p + 1;
        if (!j_string(&r)) return 0;
        if (o->n >= SH_JSON_MEMBERS) return j_fail(&r, "too many fields");
        o->m[o->n].key = k;
        o->m[o->n].key_len = (size_t)(r.p - 1 - k);
        j_ws(&r);
        if (r.p >= r.end || *r.p != ':') return j_fail(&r, "':' expected");
        r.p++;
        j_ws(&r);
        v = r.p;
        if (!j_value(&r, 1)) return 0;
        o->m[o->n].val = v;
        o->m[o->n].val_len = (size_t)(r.p - v);
        o->n++;
        j_ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            continue;
        }
        if (r.p < r.end && *r.p == '}') break;
        return j_fail(&r, "',' or '}' expected");
    }
    r.p++;
    j_ws(&r);
    if (r.p != r.end) return j_fail(&r, "text after the object");
    return 1;
}

static const jmember *j_get(const jobj *o, const char *key) {
    int i;
    size_t n = strlen(key);
    for (i = 0; i < o->n; i++)
        if (o->m[i].key_len == n && !memcmp(o->m[i].key, key, n)) return &o->m[i];
    return NULL;
}

/* The value without whitespace outside strings, for comparing two spellings. */
static size_t j_norm(const char *v, size_t n, char *out, size_t cap) {
    size_t i, k = 0;
    int in_str = 0;
    for (i = 0; i < n; i++) {
        char c = v[i];
        if (!in_str && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) continue;
        if (k < cap) out[k] = c;
        k++;
        if (in_str && c == '\\' && i + 1 < n) {
            if (k < cap) out[k] = v[i + 1];
            k++;
            i++;
            continue;
        }
        if (c == '"') in_str = !in_str;
    }
    return k;
}

/* Whether two values are the same text but for whitespace outside strings. */
static int j_same(const jmember *a, const jmember *b) {
    char *x = (char *)malloc(a->val_len + 1), *y = (char *)malloc(b->val_len + 1);
    size_t nx, ny;
    int same = 0;
    if (x && y) {
        nx = j_norm(a->val, a->val_len, x, a->val_len + 1);
        ny = j_norm(b->val, b->val_len, y, b->val_len + 1);
        same = nx == ny && !memcmp(x, y, nx);
    }
    free(x);
    free(y);
    return same;
}

/* A string value's content, unescaped into out (cap bytes); 0 when it is not a plain
   string of at most cap - 1 bytes. */
static int j_str(const jmember *m, char *out, size_t cap) {
    size_t i, k = 0;
    if (!m || m->val_len < 2 || m->val[0] != '"') return 0;
    for (i = 1; i + 1 < m->val_len; i++) {
        char c = m->val[i];
        if (c == '\\') {
            char e = m->val[++i];
            if (e == 'u') {
                unsigned v = 0;
                int d;
                for (d = 0; d < 4; d++) {
                    char h = m->val[++i];
                    v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
                }
                if (v == 0 || v > 0x7F) return 0; /* the dump writes \u only below 0x20 */
                c = (char)v;
            } else {
                c = e == 'n'   ? '\n'
                    : e == 't' ? '\t'
                    : e == 'r' ? '\r'
                    : e == 'b' ? '\b'
                    : e == 'f' ? '\f'
                               : e;
            }
        }
        if (k + 1 >= cap) return 0;
        out[k++] = c;
    }
    out[k] = 0;
    return 1;
}

static int j_num(const jmember *m, double *v) {
    char tmp[64], *e;
    if (!m || m->val_len == 0 || m->val_len >= sizeof tmp) return 0;
    memcpy(tmp, m->val, m->val_len);
    tmp[m->val_len] = 0;
    *v = strtod(tmp, &e);
    return *e == 0 && e != tmp;
}

static int j_u64(const jmember *m, uint64_t *v) {
    char tmp[32], *e;
    if (!m || m->val_len == 0 || m->val_len >= sizeof tmp || m->val[0] < '0' || m->val[0] > '9')
        return 0;
    memcpy(tmp, m->val, m->val_len);
    tmp[m->val_len] = 0;
    errno = 0;
    *v = strtoull(tmp, &e, 10);
    return *e == 0 && !errno;
}

/* Hex string value into a fresh buffer; 0 when it is not one. */
static int j_hex(const jmember *m, uint8_t **out, size_t *len) {
    size_t n, i;
    uint8_t *p;
    if (!m || m->val_len < 2 || m->val[0] != '"' || m->val[m->val_len - 1] != '"') return 0;
    n = m->val_len - 2;
    if (n % 2 || !n) return 0;
    if (!(p = (uint8_t *)malloc(n / 2))) return 0;
    for (i = 0; i < n; i++) {
        char c = m->val[1 + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) {
            free(p);
            return 0;
        }
        if (i % 2)
            p[i / 2] = (uint8_t)(p[i / 2] | d);
        else
            p[i / 2] = (uint8_t)(d << 4);
    }
    *out = p;
    *len = n / 2;
    return 1;
}

/* ---- load ---- */

/* The schema a dump header gives, in storage this struct owns. */
typedef struct sh_schema {
    tidal_signal_def sig[TIDAL_SIGNAL_TYPES_MAX];
    char sig_name[TIDAL_SIGNAL_TYPES_MAX][TIDAL_NAME_MAX + 1];
    const char *ckey[TIDAL_COHORT_KEYS_MAX];
    char ckey_name[TIDAL_COHORT_KEYS_MAX][TIDAL_NAME_MAX + 1];
    tidal_profile_def prof[TIDAL_PROFILES_MAX];
    char prof_name[TIDAL_PROFILES_MAX][TIDAL_NAME_MAX + 1];
    tidal_profile_term term[TIDAL_PROFILES_MAX][TIDAL_PROFILE_TERMS_MAX];
    char term_sig[TIDAL_PROFILES_MAX][TIDAL_PROFILE_TERMS_MAX][TIDAL_NAME_MAX + 1];
    tidal_schema schema;
    tidal_node_ref node;
    int state_mode;
} sh_schema;

/* Calls fn for every element of an array value; 0 (with why) on a bad element. */
static int j_each(const jmember *m, int (*fn)(void *ctx, const char *v, size_t n, uint32_t i),
                  void *ctx, uint32_t max, uint32_t *count) {
    jrd r;
    char err[160];
    uint32_t i = 0;
    err[0] = 0;
    if (!m || m->val_len < 2 || m->val[0] != '[') return 0;
    r.p = m->val + 1;
    r.end = m->val + m->val_len - 1;
    r.err = err;
    j_ws(&r);
    while (r.p < r.end) {
        const char *v = r.p;
        if (i >= max || !j_value(&r, 1)) return 0;
        if (!fn(ctx, v, (size_t)(r.p - v), i)) return 0;
        i++;
        j_ws(&r);
        if (r.p < r.end && *r.p == ',') r.p++;
        j_ws(&r);
    }
    *count = i;
    return 1;
}

static int sh_hdr_signal(void *ctx, const char *v, size_t n, uint32_t i) {
    sh_schema *h = (sh_schema *)ctx;
    jobj o;
    double hl, w, perm, neg;
    if (!j_object(v, n, &o) || !j_str(j_get(&o, "name"), h->sig_name[i], sizeof h->sig_name[i]) ||
        !j_num(j_get(&o, "half_life_s"), &hl) || !j_num(j_get(&o, "windows"), &w) ||
        !j_num(j_get(&o, "permanent"), &perm) || !j_num(j_get(&o, "negative"), &neg))
        return 0;
    h->sig[i].name = h->sig_name[i];
    h->sig[i].half_life_s = hl;
    h->sig[i].windows = (uint32_t)w;
    h->sig[i].permanent = perm != 0;
    h->sig[i].negative = neg != 0;
    return 1;
}

static int sh_hdr_ckey(void *ctx, const char *v, size_t n, uint32_t i) {
    sh_schema *h = (sh_schema *)ctx;
    jmember m;
    m.key = "";
    m.key_len = 0;
    m.val = v;
    m.val_len = n;
    h->ckey[i] = h->ckey_name[i];
    return j_str(&m, h->ckey_name[i], sizeof h->ckey_name[i]);
}

typedef struct sh_termctx {
    sh_schema *h;
    uint32_t p;
} sh_termctx;

static int sh_hdr_term(void *ctx, const char *v, size_t n, uint32_t i) {
    sh_termctx *t = (sh_termctx *)ctx;
    jobj o;
    double w;
    if (!j_object(v, n, &o) ||
        !j_str(j_get(&o, "signal"), t->h->term_sig[t->p][i], TIDAL_NAME_MAX + 1) ||
        !j_num(j_get(&o, "weight"), &w))
        return 0;
    t->h->term[t->p][i].signal = t->h->term_sig[t->p][i];
    t->h->term[t->p][i].weight = w;
    return 1;
}

static int sh_hdr_profile(void *ctx, const char *v, size_t n, uint32_t i) {
    sh_schema *h = (sh_schema *)ctx;
    sh_termctx t;
    jobj o;
    uint32_t k = 0;
    t.h = h;
    t.p = i;
    if (!j_object(v, n, &o) || !j_str(j_get(&o, "name"), h->prof_name[i], sizeof h->prof_name[i]) ||
        !j_each(j_get(&o, "terms"), sh_hdr_term, &t, TIDAL_PROFILE_TERMS_MAX, &k))
        return 0;
    h->prof[i].name = h->prof_name[i];
    h->prof[i].terms = h->term[i];
    h->prof[i].term_count = k;
    return 1;
}

/* Reads the header line; 0 with a message naming the field on failure. */
static int sh_load_header(const char *line, size_t len, sh_schema *h, char *why, size_t cap) {
    jobj o;
    uint64_t ver = 0;
    char mode[16];
    const jmember *node;
    memset(h, 0, sizeof *h);
    if (!j_object(line, len, &o)) return snprintf(why, cap, "not a JSON object: %s", o.err), 0;
    if (!j_u64(j_get(&o, "tidal_dump"), &ver) || ver != 1)
        return snprintf(why, cap, "field tidal_dump: missing or not 1 (not a tidal dump header)"),
               0;
    if (!j_str(j_get(&o, "mode"), mode, sizeof mode) ||
        (strcmp(mode, "events") && strcmp(mode, "state")))
        return snprintf(why, cap, "field mode: \"events\" or \"state\" expected"), 0;
    h->state_mode = !strcmp(mode, "state");
    node = j_get(&o, "node");
    if (!node || sscanf(node->val, "[%hu,%hu]", &h->node.region, &h->node.shard) != 2)
        return snprintf(why, cap, "field node: [region,shard] expected"), 0;
    if (!j_each(j_get(&o, "signals"), sh_hdr_signal, h, TIDAL_SIGNAL_TYPES_MAX,
                &h->schema.signal_count) ||
        !h->schema.signal_count)
        return snprintf(why, cap,
                        "field signals: an array of {name, half_life_s, windows, "
                        "permanent, negative} expected"),
               0;
    if (!j_each(j_get(&o, "cohort_keys"), sh_hdr_ckey, h, TIDAL_COHORT_KEYS_MAX,
                &h->schema.cohort_key_count))
        return snprintf(why, cap, "field cohort_keys: an array of names expected"), 0;
    if (!j_each(j_get(&o, "profiles"), sh_hdr_profile, h, TIDAL_PROFILES_MAX,
                &h->schema.profile_count))
        return snprintf(why, cap, "field profiles: an array of {name, terms} expected"), 0;
    h->schema.signals = h->sig;
    h->schema.cohort_keys = h->ckey;
    h->schema.profiles = h->prof;
    return 1;
}

typedef struct sh_load {
    sh *s;
    tidal_db *db;
    char *rendered;
    size_t rendered_cap;
    uint64_t loaded, skipped;
} sh_loader;

/* Checks every field of an event line against its bytes' own decoding; 0 with why. */
static int sh_load_fields(sh_loader *L, const jobj *line, const uint8_t *ev, size_t len, char *why,
                          size_t cap) {
    jobj ren;
    size_t n = 0;
    int i;
    tidal_result r = tidal_event_json(L->db, ev, len, L->rendered, L->rendered_cap, &n);
    if (r == TIDAL_ERR_LIMIT) {
        char *p = (char *)realloc(L->rendered, n + 1);
        if (!p) return snprintf(why, cap, "out of memory"), 0;
        L->rendered = p;
        L->rendered_cap = n + 1;
        r = tidal_event_json(L->db, ev, len, L->rendered, L->rendered_cap, &n);
    }
    if (r != TIDAL_OK) return snprintf(why, cap, "field hex: %s", tidal_errmsg(L->db)), 0;
    if (!j_object(L->rendered, n, &ren)) return snprintf(why, cap, "internal: %s", ren.err), 0;
    for (i = 0; i < ren.n; i++) {
        const jmember *a = &ren.m[i];
        const jmember *b = NULL;
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)a->key_len, a->key);
        b = j_get(line, key);
        if (!b) return snprintf(why, cap, "field %s: missing", key), 0;
        if (!j_same(a, b))
            return snprintf(why, cap,
                            "field %s: %.*s in the line, but the event's bytes (field "
                            "hex) say %.*s",
                            key, (int)(b->val_len < 120 ? b->val_len : 120), b->val,
                            (int)(a->val_len < 120 ? a->val_len : 120), a->val),
                   0;
    }
    for (i = 0; i < line->n; i++) {
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)line->m[i].key_len, line->m[i].key);
        if (strcmp(key, "lsn") && strcmp(key, "hex") && !j_get(&ren, key))
            return snprintf(why, cap, "field %s: not a field of a %s event", key,
                            j_get(&ren, "kind") ? "logged" : "?"),
                   0;
    }
    return 1;
}

static int sh_load_state(sh_loader *L, const jobj *o, char *why, size_t cap) {
    uint64_t tenant = 0, gen = 0;
    uint8_t *blob = NULL;
    size_t len = 0;
    int complete = 0;
    tidal_result r;
    if (!j_u64(j_get(o, "tenant"), &tenant) || tenant > UINT32_MAX)
        return snprintf(why, cap, "field tenant: a tenant id expected"), 0;
    if (!j_hex(j_get(o, "export"), &blob, &len))
        return snprintf(why, cap, "field export: an even-length lowercase hex string expected"), 0;
    (void)tidal_tenant_generation(L->db, (uint32_t)tenant, &gen, &complete);
    r = tidal_tenant_install(L->db, blob, len, gen + 1, NULL, NULL);
    free(blob);
    if (r != TIDAL_OK)
        return snprintf(why, cap, "field export: install: %s: %s", tidal_strerror(r),
                        tidal_errmsg(L->db)),
               0;
    L->loaded++;
    return 1;
}

/* Applies one line after the header: all or nothing. */
static int sh_load_line(sh_loader *L, const char *line, size_t len, char *why, size_t cap) {
    jobj o;
    char kind[32];
    uint64_t lsn;
    uint8_t *ev = NULL;
    size_t n = 0;
    tidal_result r;
    if (!j_object(line, len, &o)) return snprintf(why, cap, "not a JSON object: %s", o.err), 0;
    if (!j_str(j_get(&o, "kind"), kind, sizeof kind))
        return snprintf(why, cap, "field kind: missing or not a string"), 0;
    if (!strcmp(kind, "state")) return sh_load_state(L, &o, why, cap);
    if (!j_u64(j_get(&o, "lsn"), &lsn))
        return snprintf(why, cap, "field lsn: missing or not a number"), 0;
    if (!j_hex(j_get(&o, "hex"), &ev, &n))
        return snprintf(why, cap, "field hex: missing, or not an even-length lowercase hex string"),
               0;
    if (!sh_load_fields(L, &o, ev, n, why, cap)) {
        free(ev);
        return 0;
    }
    if (!strcmp(kind, "schema")) { /* the header's schema holds it */
        free(ev);
        L->skipped++;
        return 1;
    }
    if (!strcmp(kind, "install") || !strcmp(kind, "drop")) {
        free(ev);
        return snprintf(why, cap,
                        "field kind: %s events are not loaded one by one (a dump of "
                        "a log that holds them is in state mode)",
                        kind),
               0;
    }
    r = tidal_event_import(L->db, ev, n, NULL);
    free(ev);
    if (r != TIDAL_OK)
        return snprintf(why, cap, "field hex: import: %s: %s", tidal_strerror(r),
                        tidal_errmsg(L->db)),
               0;
    L->loaded++;
    return 1;
}

static tidal_db *sh_load_open(sh *s, const sh_schema *h) {
    tidal_config cfg;
    tidal_node_ref node = h->node;
    tidal_db *db = NULL;
    char msg[512];
    tidal_result r;
    struct stat st;
    if (stat(s->dir, &st) == 0) {
        tidal_result nr = tidal_inspect_node(&s->env.env, s->dir, &node, msg, sizeof msg);
        if (nr == TIDAL_ERR_NOT_FOUND)
            node = h->node; /* an empty directory: a fresh database */
        else if (nr != TIDAL_OK) {
            fprintf(stderr, "tidal: %s\n", msg);
            return NULL;
        }
    }
    s->env.read_only = 0;
    s->env.refused[0] = 0;
    sh_config(s, &cfg, node);
    cfg.schema = h->schema;
    r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
    if (r != TIDAL_OK) {
        sh_open_failed(s, r, msg);
        return NULL;
    }
    return db;
}

static int sh_load(sh *s, FILE *in) {
    static sh_schema h;
    sh_loader L;
    char *line = NULL, why[800];
    size_t cap = 0;
    ssize_t got;
    uint64_t no = 0, in_batch = 0;
    int rc = 0;
    tidal_result r;
    memset(&L, 0, sizeof L);
    L.s = s;
    got = getline(&line, &cap, in);
    no = 1;
    if (got <= 0) {
        fprintf(stderr, "tidal: load: line 1: no dump header (empty input)\n");
        free(line);
        return 1;
    }
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) got--;
    if (!sh_load_header(line, (size_t)got, &h, why, sizeof why)) {
        fprintf(stderr, "tidal: load: line 1: %s\n", why);
        free(line);
        return 1;
    }
    if (!(L.db = sh_load_open(s, &h))) {
        free(line);
        return 1;
    }
    (void)tidal_db_batch_begin(L.db);
    while ((got = getline(&line, &cap, in)) > 0) {
        no++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) got--;
        if (got == 0) continue;
        if (!sh_load_line(&L, line, (size_t)got, why, sizeof why)) {
            fprintf(stderr,
                    "tidal: load: line %llu: %s; nothing of that line applied, the %llu "
                    "lines before it are loaded\n",
                    (unsigned long long)no, why, (unsigned long long)(L.loaded + L.skipped));
            rc = 1;
            break;
        }
        if (++in_batch >= SH_LINE_COMMIT) {
            if ((r = tidal_db_commit(L.db)) != TIDAL_OK) break;
            (void)tidal_db_batch_begin(L.db);
            in_batch = 0;
        }
    }
    r = tidal_db_commit(L.db);
    if (r != TIDAL_OK) {
        fprintf(stderr, "tidal: load: commit: %s: %s\n", tidal_strerror(r), tidal_errmsg(L.db));
        rc = 1;
    }
    if (!rc)
        fprintf(s->out, "loaded %llu lines (%llu skipped: schema events)\n",
                (unsigned long long)L.loaded, (unsigned long long)L.skipped);
    tidal_db_close(L.db);
    free(L.rendered);
    free(line);
    return rc;
}

/* ---- commands ---- */

static void sh_help(FILE *f) {
    fprintf(f,
            "usage: tidal COMMAND DIR [ARGS]    (or: tidal DIR for the interactive mode)\n"
            "  info DIR                 schema, counters, tenants, snapshots and segments\n"
            "  check DIR                verify every snapshot and log batch; \"ok\" and exit 0\n"
            "                           when clean, else each damage by file and offset (exit 1;\n"
            "                           exit 3 when only a torn tail was found)\n"
            "  query DIR \"RETRIEVE ...\" run a query: \"item score\" lines\n"
            "  dump DIR                 every event as a JSON line, in log order\n"
            "  load DIR < DUMP          re-import a dump (fresh or existing database)\n"
            "  digest DIR [TENANT]      the state digest (hex), of the whole db or one tenant\n"
            "  snapshot DIR             write a snapshot now\n"
            "  help                     this text\n"
            "Interactive: the same commands without DIR, one per line; load FILE; quit.\n"
            "Exit: 0 ok, 1 failed, 2 usage error, 3 check found a torn tail only.\n");
}

static int sh_dir_ok(const char *dir, int must_exist) {
    struct stat st;
    if (!dir || !*dir) {
        fprintf(stderr, "tidal: DIR missing: a database directory is needed\n");
        return 0;
    }
    if (strlen(dir) > TIDAL_PATH_MAX) {
        fprintf(stderr, "tidal: DIR '%.60s...' is longer than %d bytes\n", dir, TIDAL_PATH_MAX);
        return 0;
    }
    if (!must_exist) return 1;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "tidal: DIR '%s': no such directory\n", dir);
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "tidal: DIR '%s' is not a directory\n", dir);
        return 0;
    }
    return 1;
}

/* Runs one command: argv[0] the command, the rest its arguments after DIR. */
static int sh_run(sh *s, const char *cmd, int argc, char **argv, FILE *in) {
    int want = !strcmp(cmd, "query") ? 1 : !strcmp(cmd, "digest") ? -1 : 0;
    if (want == 1 && argc != 1) {
        fprintf(stderr,
                "tidal: query: QUERY missing (e.g. \"RETRIEVE items SIGNAL view LIMIT 10\")%s\n",
                argc > 1 ? "; quote it as one argument" : "");
        return 2;
    }
    if (want == -1 && argc > 1) {
        fprintf(stderr, "tidal: digest: unexpected argument '%s' (digest DIR [TENANT])\n", argv[1]);
        return 2;
    }
    if (want == 0 && argc > 0) {
        fprintf(stderr, "tidal: %s: unexpected argument '%s'\n", cmd, argv[0]);
        return 2;
    }
    if (!strcmp(cmd, "info")) return sh_info(s);
    if (!strcmp(cmd, "check")) return sh_check(s);
    if (!strcmp(cmd, "query")) return sh_query(s, argv[0]);
    if (!strcmp(cmd, "dump")) return sh_dump(s);
    if (!strcmp(cmd, "load")) return sh_load(s, in);
    if (!strcmp(cmd, "digest")) return sh_digest(s, argc ? argv[0] : NULL);
    if (!strcmp(cmd, "snapshot")) return sh_snapshot(s);
    fprintf(stderr, "tidal: unknown command '%s' (tidal help)\n", cmd);
    return 2;
}

static int sh_is_command(const char *a) {
    static const char *const cmds[] = {"info", "check",  "query",   "dump",
                                       "load", "digest", "snapshot"};
    size_t i;
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(a, cmds[i])) return 1;
    return 0;
}

/* Splits an interactive line: the command, then either the rest as one argument (query)
   or words. */
static int sh_interactive(sh *s) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int tty = isatty(0);
    for (;;) {
        char *argv[4], *p, *cmd;
        int argc = 0;
        if (tty) {
            fprintf(s->out, "tidal %s> ", s->dir);
            fflush(s->out);
        }
        if ((got = getline(&line, &cap, stdin)) <= 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        for (p = line; *p == ' ' || *p == '\t'; p++) {}
        if (!*p || *p == '#') continue;
        cmd = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        if (*p) *p++ = 0;
        while (*p == ' ' || *p == '\t') p++;
        if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit")) break;
        if (!strcmp(cmd, "help")) {
            sh_help(s->out);
            continue;
        }
        if (!strcmp(cmd, "query")) {
            if (*p) argv[argc++] = p;
        } else {
            while (*p && argc < 4) {
                argv[argc++] = p;
                while (*p && *p != ' ' && *p != '\t') p++;
                if (*p) *p++ = 0;
                while (*p == ' ' || *p == '\t') p++;
            }
        }
        if (!strcmp(cmd, "load")) {
            FILE *f;
            if (argc != 1) {
                fprintf(stderr, "tidal: load: FILE missing (interactive: load FILE)\n");
                continue;
            }
            if (!(f = fopen(argv[0], "r"))) {
                fprintf(stderr, "tidal: load: FILE '%s': %s\n", argv[0], strerror(errno));
                continue;
            }
            (void)sh_run(s, cmd, 0, argv, f);
            fclose(f);
            continue;
        }
        (void)sh_run(s, cmd, argc, argv, stdin);
        fflush(s->out);
    }
    free(line);
    return 0;
}

int main(int argc, char **argv) {
    static sh s;
    sh_env_init(&s.env);
    s.out = stdout;
    if (argc < 2) {
        sh_help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        sh_help(stdout);
        return 0;
    }
    if (sh_is_command(argv[1])) {
        int rc;
        s.dir = argc > 2 ? argv[2] : NULL;
        if (!sh_dir_ok(s.dir, strcmp(argv[1], "load") != 0)) return 2;
        rc = sh_run(&s, argv[1], argc - 3, argv + 3, stdin);
        if (fflush(stdout) != 0) rc = 1;
        return rc;
    }
    if (argc == 2 && argv[1][0] != '-') {
        if (!sh_dir_ok(argv[1], 1)) return 2;
        s.dir = argv[1];
        return sh_interactive(&s);
    }
    fprintf(stderr, "tidal: unknown command '%s' (tidal help)\n", argv[1]);
    return 2;
}
