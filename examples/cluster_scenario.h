/* cluster_scenario.h - the acceptance run on real processes: 3 regions x 2 shards of tidald
   (6 processes) on 127.0.0.1, driven over RESP. Shared by examples/cluster.c (`make
   cluster`, which narrates it) and tests/test_cluster.c (which turns every check into a
   test failure), as tests/uat_scenario.h is for the simulated run. Include after tidal.h
   (with its implementation) and examples/tidald_proc.h.

   Cluster: regions 0 us-east, 1 eu-west, 2 ap-south; shards 0 and 1. Group 0 runs in
   every region (shard s's replicas: nodes (0,s), (1,s), (2,s)), group 1 in eu-west alone.
   Tenants 1, 2, 3 start in group 0; tenant 3 moves to group 1. Every write is a SIGNAL of
   weight 1 at one event time t0 with an idempotency key of its own ("w<n>"), so an item's
   score read AT t0 is the number of distinct writes of it applied: the oracle is, per
   item, the number of keys acknowledged (+OK or +DUPLICATE). A write without an
   acknowledgement (an error, -UNKNOWN, no reply in time) is retried with its key until
   acknowledged, so it counts once whether or not the first try was applied.

   Steps (every wait is for a condition, with a bound; no verdict depends on timing):
   1. start 6 tidald (bootstrap yes, ephemeral RESP ports, transport ports picked free),
      wait for "ready"; load: each node gets a pipeline of keyed QUORUM writes from its own
      client connection (tenants 1..3 in turn); user 77 of tenant 1 hides one item.
   2. kill -9 of group 0's shard-1 leader; keyed QUORUM writes to shard-1 items through a
      survivor are retried until acknowledged (the failover: kill to the first ack); then
      RETRIEVE through a survivor (the new leader answers shard 1): every item's count equals
      the oracle (no acknowledged write lost, none counted twice), the hidden item absent
      for user 77; and by id: every write is sent with ID, so its acknowledgement names its
      event id (a keyed retry's must name the same one), and the new shard-1 leader answers
      APPLIED for the id of every acknowledged shard-1 write. The killed node restarts from its directory.
   3. ap-south cut off: every node CUTs its traffic to and from ap-south's nodes (tidald's
      admin command over tidal_tcp_block). Writes on both sides: us-east/eu-west QUORUM
      writes acknowledged (after an election where ap-south led), ap-south's never
      acknowledged while cut off. RETRIEVE on the majority side equals the oracle. HEAL on
      every node; ap-south's writes retried with their keys until acknowledged; then every
      shard's three replicas reach equal digests (DIGEST, whole member) and the counts
      through an ap-south node equal the oracle.
   4. MOVE 3 1 (admin): tenant 3 to eu-west alone; writes of tenant 3 during the move
      retried until acknowledged; once every node applied DONE (which waits until no
      source member's files hold the tenant), tenant 3's counts equal the oracle.
   5. clean shutdown: SIGTERM to all six, each exits 0. Then the files: no log segment of
      any group-0 member (us-east, eu-west, ap-south) holds an event of tenant 3, no snapshot
      of one holds it (each opened alone in a scratch copy), while eu-west's group-1
      members do hold it (the scan sees what it looks for). */
#ifndef CLUSTER_SCENARIO_H
#define CLUSTER_SCENARIO_H

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#define CS_R 3
#define CS_S 2
#define CS_N (CS_R * CS_S)
#define CS_TENANTS 3
#define CS_ITEMS 16            /* items per tenant */
#define CS_WRITES_MAX 4096
#define CS_HIDER 77            /* the user of tenant 1 who hides an item */
#define CS_MOVER 3             /* the tenant that moves ... */
#define CS_MOVE_TO 1           /* ... to group 1 (eu-west alone) */
#define CS_CUT_REGION 2        /* the region cut off */

typedef struct cs_opts {
    uint64_t seed;
    int narrate;               /* print the story (make cluster) */
    void (*fail)(void *ctx, const char *what); /* each failed check (NULL: printed) */
    void *ctx;
    const char *tidald;        /* NULL: tp_tidald_path() */
} cs_opts;

typedef struct cs_figures {
    double failover_ms;        /* kill -9 of the leader -> first acknowledged write there */
    double heal_ms;            /* HEAL -> equal digests on every shard's replicas */
    double move_ms;            /* MOVE -> DONE applied on every node */
    double total_s;
    uint64_t acked;            /* distinct writes acknowledged */
    uint64_t retried;          /* tries that were not acknowledged (retried with the key) */
} cs_figures;

typedef struct cs_write {
    uint32_t tenant;
    uint64_t item;
    int acked;
    char id[33];               /* the event id the acknowledgement named (32 hex digits) */
} cs_write;

typedef struct cs {
    const cs_opts *o;
    cs_figures *f;
    int failures;
    uint64_t rng;
    int64_t t0;                /* the event time of every write (wall ns) */
    char conf[CS_N][600];
    char errlog[CS_N][600];
    char data[CS_N][600];
    int tport[CS_N];
    tp_daemon d[CS_N];
    tp_client cl[CS_N][CS_TENANTS + 1]; /* [node][tenant], [node][0]: admin */
    uint64_t items[CS_TENANTS + 1][CS_ITEMS];
    cs_write w[CS_WRITES_MAX];
    uint32_t nw;
    uint64_t hidden;           /* the item user CS_HIDER hid */
} cs;

#define CS_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static int cs_node(int r, int s) { return r * CS_S + s; }

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void cs_say(cs *c, const char *fmt, ...) {
    va_list ap;
    if (!c->o->narrate) return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void cs_failf(cs *c, const char *fmt, ...) {
    char m[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    c->failures++;
    if (c->o->fail) c->o->fail(c->o->ctx, m);
    else fprintf(stderr, "FAIL: %s\n", m);
}

#define CS_CHECK(c, cond, ...) ((cond) ? 1 : (cs_failf(c, __VA_ARGS__), 0))

static uint64_t cs_rand(cs *c) { /* splitmix64 */
    uint64_t z = (c->rng += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int cs_is_ack(const char *r) { return !strcmp(r, "+OK") || !strcmp(r, "+DUPLICATE"); }

/* Takes reply r to write i (sent with ID): "+OK <id>" or "+DUPLICATE <id>" acknowledge it.
   Every acknowledgement of one keyed write names the same id (it derives from the key). */
static int cs_take_ack(cs *c, uint32_t i, const char *r) {
    cs_write *w = &c->w[i];
    const char *id = !strncmp(r, "+OK ", 4) ? r + 4 : !strncmp(r, "+DUPLICATE ", 11) ? r + 11 : NULL;
    if (!id) return 0;
    if (!CS_CHECK(c, strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32,
                  "write w%u: acknowledgement without an event id: %s", i, r))
        return 0;
    if (w->id[0])
        CS_CHECK(c, !strcmp(w->id, id), "write w%u (a keyed retry) acknowledged as %s, earlier as "
                 "%s", i, id, w->id);
    else
        memcpy(w->id, id, 33);
    w->acked = 1;
    return 1;
}

/* The connection of node k bound to tenant (0: the admin token), connected and
   authenticated on first use (and again after a broken one). NULL when it cannot be. */
static tp_client *cs_conn(cs *c, int k, uint32_t tenant) {
    tp_client *cl = &c->cl[k][tenant];
    const char *r;
    if (cl->fd > 0) return cl;
    if (c->d[k].pid <= 0 || !tp_connect(cl, c->d[k].resp_port)) return NULL;
    if (tenant) r = tp_cmd(cl, "AUTH tok-%u", tenant);
    else r = tp_cmd(cl, "AUTH tok-admin");
    if (strcmp(r, "+OK")) {
        tp_fail("AUTH on node %d: %s", k, r);
        tp_disconnect(cl);
        return NULL;
    }
    return cl;
}

/* A command on node k's connection for tenant; a connection whose reply did not come is
   closed (its late reply would be read as the next one's). */
#ifdef __GNUC__
__attribute__((format(printf, 4, 5)))
#endif
static const char *cs_cmd(cs *c, int k, uint32_t tenant, const char *fmt, ...) {
    static char out[1 << 16];
    char line[2048];
    tp_client *cl = cs_conn(c, k, tenant);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!cl) {
        snprintf(out, sizeof out, "(no connection: %s)", tp_err);
        return out;
    }
    snprintf(out, sizeof out, "%s", tp_cmd(cl, "%s", line));
    if (!strncmp(out, "(no reply", 9)) tp_disconnect(cl);
    return out;
}

static void cs_close_node(cs *c, int k) {
    uint32_t t;
    for (t = 0; t <= CS_TENANTS; t++) tp_disconnect(&c->cl[k][t]);
}

static uint32_t cs_new_write(cs *c, uint32_t tenant, uint64_t item) {
    cs_write *w = &c->w[c->nw];
    TIDAL_ASSERT(c->nw < CS_WRITES_MAX);
    w->tenant = tenant, w->item = item, w->acked = 0;
    return c->nw++;
}

static uint64_t cs_item_on(cs *c, uint32_t tenant, uint32_t shard) {
    uint64_t it;
    do it = c->items[tenant][cs_rand(c) % CS_ITEMS];
    while (tidal_route(tenant, it, CS_S) != shard);
    return it;
}

static int cs_write_frame(cs *c, uint32_t i, char *frame, size_t cap, size_t *n,
                          const char *ack) {
    return tp_frame(frame, cap, n, "SIGNAL %llu view 1 TIME %lld USER %u IDEM w%u 1 ACK %s ID",
                    (unsigned long long)c->w[i].item, (long long)c->t0,
                    (unsigned)(1 + cs_rand(c) % 5), i, ack);
}

/* Sends write i through node k once (QUORUM); 1 when acknowledged. timeout: the reply's. */
static int cs_write_once(cs *c, int k, uint32_t i, int64_t timeout, char *reply, size_t cap) {
    char frame[512];
    size_t n = 0;
    tp_client *cl = cs_conn(c, k, c->w[i].tenant);
    reply[0] = '\0';
    if (!cl) return snprintf(reply, cap, "(no connection: %.200s)", tp_err), 0;
    if (!cs_write_frame(c, i, frame, sizeof frame, &n, "QUORUM") || !tp_send(cl->fd, frame, n) ||
        !tp_reply(cl, reply, cap, timeout)) {
        snprintf(reply, cap, "(no reply: %.200s)", tp_err);
        tp_disconnect(cl);
        return 0;
    }
    if (!cs_take_ack(c, i, reply)) c->f->retried++;
    return c->w[i].acked;
}

/* Retries write i through node k with its key until acknowledged or bound_ns passes. */
static int cs_write_until(cs *c, int k, uint32_t i, int64_t bound_ns) {
    int64_t end = tp_now_ns() + bound_ns;
    char r[256];
    for (;;) {
        if (cs_write_once(c, k, i, 10 * TIDAL_NS_PER_S, r, sizeof r)) return 1;
        if (tp_now_ns() > end) break;
        tp_pause_ms(50); /* between two tries */
    }
    cs_failf(c, "write w%u (tenant %u) through node %d not acknowledged within %lld s: %s", i,
             c->w[i].tenant, k, (long long)(bound_ns / TIDAL_NS_PER_S), r);
    return 0;
}

/* Pipelined: writes [from, to) through node k on one connection each (all sent, then all
   replies read). The unacknowledged ones stay pending. */
static void cs_pipeline(cs *c, int k, uint32_t from, uint32_t to) {
    static char frame[1 << 18];
    size_t n = 0;
    uint32_t i;
    tp_client *cl = to > from ? cs_conn(c, k, c->w[from].tenant) : NULL;
    if (!cl) return;
    for (i = from; i < to; i++)
        if (!cs_write_frame(c, i, frame, sizeof frame, &n, "QUORUM")) return;
    if (!tp_send(cl->fd, frame, n)) return;
    for (i = from; i < to; i++) {
        char r[256];
        if (!tp_reply(cl, r, sizeof r, 30 * TIDAL_NS_PER_S)) {
            tp_disconnect(cl);
            return;
        }
        if (!cs_take_ack(c, i, r)) c->f->retried++;
    }
}

/* Every write not acknowledged yet, retried through node k (or its tenant's owner). */
static void cs_retry_pending(cs *c, int k, int64_t bound_ns) {
    uint32_t i;
    for (i = 0; i < c->nw; i++)
        if (!c->w[i].acked) cs_write_until(c, k, i, bound_ns);
}

static uint32_t cs_oracle(const cs *c, uint32_t tenant, uint64_t item) {
    uint32_t i, n = 0;
    for (i = 0; i < c->nw; i++)
        n += c->w[i].acked && c->w[i].tenant == tenant && c->w[i].item == item;
    return n;
}

/* RETRIEVE through node k for tenant (FOR USER u when user): every item's score is its
   oracle count, no other item, and (user CS_HIDER of tenant 1) not the hidden item. */
static void cs_check_counts(cs *c, const char *step, int k, uint32_t tenant, int as_hider) {
    char text[1 << 14], *tok, *save = NULL;
    uint32_t seen[CS_ITEMS], j;
    const char *r;
    int64_t end = tp_now_ns() + 30 * TIDAL_NS_PER_S;
    memset(seen, 0, sizeof seen);
    for (;;) { /* a refusal (a leader not known yet, a call timed out) is asked again */
        if (as_hider)
            r = cs_cmd(c, k, tenant, "RETRIEVE items SIGNAL view FOR USER %d LIMIT 100 AT %lld",
                       CS_HIDER, (long long)c->t0);
        else
            r = cs_cmd(c, k, tenant, "RETRIEVE items SIGNAL view LIMIT 100 AT %lld",
                       (long long)c->t0);
        if (r[0] == '[' || tp_now_ns() > end) break;
        tp_pause_ms(50); /* between two tries */
    }
    if (!CS_CHECK(c, r[0] == '[', "%s: RETRIEVE of tenant %u through node %d: %s", step, tenant,
                  k, r))
        return;
    snprintf(text, sizeof text, "%s", r);
    for (j = 0; text[j]; j++)
        if (text[j] == '[' || text[j] == ']') text[j] = ' ';
    for (tok = strtok_r(text, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        uint64_t item = strtoull(tok, NULL, 10);
        char *sc = strtok_r(NULL, " ", &save);
        double score = sc ? strtod(sc, NULL) : -1;
        uint32_t want = cs_oracle(c, tenant, item);
        for (j = 0; j < CS_ITEMS && c->items[tenant][j] != item; j++) {}
        CS_CHECK(c, j < CS_ITEMS, "%s: tenant %u: item %llu was never written", step, tenant,
                 (unsigned long long)item);
        if (j < CS_ITEMS) seen[j] = 1;
        CS_CHECK(c, fabs(score - want) < 1e-9, "%s: tenant %u item %llu through node %d: "
                 "score %s, %u distinct acknowledged writes", step, tenant,
                 (unsigned long long)item, k, sc ? sc : "?", want);
        CS_CHECK(c, !(as_hider && item == c->hidden), "%s: tenant %u: RETRIEVE FOR USER %d "
                 "returned item %llu, which that user hid", step, tenant, CS_HIDER,
                 (unsigned long long)item);
    }
    for (j = 0; j < CS_ITEMS; j++) {
        uint64_t it = c->items[tenant][j];
        uint32_t want = cs_oracle(c, tenant, it);
        if (as_hider && it == c->hidden) continue;
        CS_CHECK(c, seen[j] || want == 0, "%s: tenant %u item %llu (%u acknowledged writes) "
                 "missing through node %d", step, tenant, (unsigned long long)it, want, k);
    }
}

/* Does APPLIED's answer (an array of group numbers) hold group g? */
static int cs_applied_has(const char *r, uint32_t g) {
    const char *p = r;
    if (r[0] != '[') return 0;
    while ((p = strchr(p, ':')) != NULL) {
        char *end;
        unsigned long v = strtoul(p + 1, &end, 10);
        if (end > p + 1 && v == g) return 1;
        p = end > p + 1 ? end : p + 1;
    }
    return 0;
}

/* By event id: node k's member of group 0 has applied every acknowledged write to an item
   of shard (APPLIED, admin). Returns how many ids it checked. */
static uint32_t cs_check_ids(cs *c, const char *step, int k, uint32_t shard) {
    uint32_t i, n = 0;
    for (i = 0; i < c->nw; i++) {
        const char *r;
        if (!c->w[i].acked || tidal_route(c->w[i].tenant, c->w[i].item, CS_S) != shard) continue;
        r = cs_cmd(c, k, 0, "APPLIED %s", c->w[i].id);
        CS_CHECK(c, cs_applied_has(r, 0), "%s: acknowledged write w%u (event %s, tenant %u item "
                 "%llu) not applied on node %d/%d: APPLIED answers %s", step, i, c->w[i].id,
                 c->w[i].tenant, (unsigned long long)c->w[i].item, k / CS_S, k % CS_S, r);
        n++;
    }
    return n;
}

/* Node k's "group G shard S leader R/S" from HEALTH (admin); -1 when none is known. */
static int cs_leader(cs *c, int k, uint32_t group, uint32_t shard) {
    char want[64];
    const char *r = cs_cmd(c, k, 0, "HEALTH"), *p;
    unsigned lr, ls;
    snprintf(want, sizeof want, "group %u shard %u leader ", group, shard);
    p = strstr(r, want);
    if (!p || sscanf(p + strlen(want), "%u/%u", &lr, &ls) != 2) return -1;
    return cs_node((int)lr, (int)ls);
}

/* Node k's digest line of group g (DIGEST, admin, the whole member) into out; 0: none. */
static int cs_digest(cs *c, int k, uint32_t g, char *out, size_t cap) {
    char want[32];
    const char *r = cs_cmd(c, k, 0, "DIGEST"), *p, *nl;
    snprintf(want, sizeof want, "group %u ", g);
    p = strstr(r, want);
    if (!p) return 0;
    nl = strchr(p, '\n');
    snprintf(out, cap, "%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
    return 1;
}

/* 1 once every shard's group-0 replicas have the same digest and event count. */
static int cs_digests_equal(cs *c, char *why, size_t cap) {
    int s, r;
    for (s = 0; s < CS_S; s++) {
        char d0[160], dr[160];
        if (!cs_digest(c, cs_node(0, s), 0, d0, sizeof d0))
            return snprintf(why, cap, "node 0/%d: no digest", s), 0;
        for (r = 1; r < CS_R; r++) {
            if (!cs_digest(c, cs_node(r, s), 0, dr, sizeof dr))
                return snprintf(why, cap, "node %d/%d: no digest", r, s), 0;
            if (strcmp(d0, dr))
                return snprintf(why, cap, "shard %d: node 0/%d '%s', node %d/%d '%s'", s, s, d0,
                                r, s, dr), 0;
        }
    }
    return 1;
}

static int cs_write_conf(cs *c, int k) {
    int r = k / CS_S, s = k % CS_S, j;
    uint32_t t;
    FILE *f = fopen(c->conf[k], "w");
    if (!f) return tp_fail("%s: %s", c->conf[k], strerror(errno));
    fprintf(f, "# cluster_scenario.h: node %d/%d of %d x %d\nnode %d %d\ntopology %d %d\n"
               "group 0\ngroup %d %d\ndata %s\nresp 127.0.0.1:0\ntoken tok-admin admin\n"
               "signal view 3600\nbootstrap yes\ntransport 127.0.0.1:%d\ncluster_key %s\n",
            r, s, CS_R, CS_S, r, s, CS_R, CS_S, CS_MOVE_TO, 1 << 1, c->data[k], c->tport[k],
            CS_KEY);
    for (t = 1; t <= CS_TENANTS; t++) fprintf(f, "tenant %u 0\ntoken tok-%u %u\n", t, t, t);
    for (j = 0; j < CS_N; j++)
        if (j != k) fprintf(f, "peer %d %d 127.0.0.1:%d\n", j / CS_S, j % CS_S, c->tport[j]);
    fclose(f);
    return 1;
}

static int cs_start(cs *c, int k) {
    const char *exe = c->o->tidald ? c->o->tidald : tp_tidald_path();
    return tp_spawn(&c->d[k], exe, c->conf[k], c->errlog[k]);
}

/* ---- The files: does a member directory hold anything of tenant? ---- */

typedef struct cs_scan {
    uint32_t tenant;
    char needle[32];
    uint64_t events;           /* events of tenant in the log */
    char first[160];           /* the first one's kind and file */
    char snaps[16][700];       /* snapshot files */
    uint32_t n_snaps;
} cs_scan;

static int cs_scan_event(void *ctx, const tidal_inspect_event *e) {
    cs_scan *s = (cs_scan *)ctx;
    if (e->json && strstr(e->json, s->needle)) {
        if (!s->events)
            snprintf(s->first, sizeof s->first, "%s event at lsn %llu in %s", e->kind,
                     (unsigned long long)e->lsn, strrchr(e->path, '/') ? strrchr(e->path, '/') + 1
                                                                         : e->path);
        s->events++;
    }
    return 0;
}

static void cs_scan_file(void *ctx, const tidal_inspect_file *f) {
    cs_scan *s = (cs_scan *)ctx;
    if (f->kind == TIDAL_INSPECT_SNAPSHOT && s->n_snaps < 16)
        snprintf(s->snaps[s->n_snaps++], sizeof s->snaps[0], "%s", f->path);
}

static int cs_copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = a && b;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b) ok = !fclose(b) && ok;
    return ok;
}

/* Whether the state of snapshot file snap (of member directory dir) holds tenant: the
   snapshot alone, with the directory's other files but no log and no other snapshot,
   opened in a scratch copy. 1 yes, 0 no, -1 it could not be opened (why in tp_err). */
static int cs_snapshot_holds(const char *dir, const char *snap, tidal_node_ref node,
                             uint32_t tenant) {
    char scratch[700], from[1400], to[1400];
    DIR *dd = opendir(dir);
    struct dirent *e;
    tidal_config cfg;
    tidal_db *db = NULL;
    uint32_t ten[64], n = 0, i;
    int holds = 0;
    tidal_result r;
    snprintf(scratch, sizeof scratch, "%s/snapcheck", tp_dir);
    tp_rm_rf(scratch);
    if (!dd || mkdir(scratch, 0755)) {
        if (dd) closedir(dd);
        return tp_fail("scratch %s: %s", scratch, strerror(errno)), -1;
    }
    while ((e = readdir(dd)) != NULL) {
        const char *nm = e->d_name;
        if (nm[0] == '.' || !strcmp(nm, "LOCK") || !strncmp(nm, "wal-", 4) ||
            !strncmp(nm, "snap-", 5))
            continue;
        snprintf(from, sizeof from, "%s/%s", dir, nm);
        snprintf(to, sizeof to, "%s/%s", scratch, nm);
        (void)cs_copy_file(from, to);
    }
    closedir(dd);
    snprintf(to, sizeof to, "%s/%s", scratch, strrchr(snap, '/') ? strrchr(snap, '/') + 1 : snap);
    if (!cs_copy_file(snap, to)) return tp_fail("copy %s", snap), -1;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = scratch;
    cfg.node = node;
    r = tidal_db_open_msg(&cfg, &db, tp_err, sizeof tp_err);
    if (r != TIDAL_OK) return -1;
    (void)tidal_db_tenants(db, ten, 64, &n);
    for (i = 0; i < n && i < 64; i++) holds |= ten[i] == tenant;
    tidal_db_close(db);
    tp_rm_rf(scratch);
    return holds;
}

/* Scans member directory dir for tenant: events in its log segments (into *events) and
   snapshots holding it (*snaps). 0 when the directory cannot be walked (tp_err). */
static int cs_scan_dir(const char *dir, uint32_t tenant, uint64_t *events, uint32_t *snaps,
                       char *first, size_t cap) {
    static cs_scan s;
    tidal_inspect_fns fns;
    tidal_inspect_totals tot;
    tidal_config cfg;
    tidal_node_ref node;
    uint32_t i;
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    snprintf(s.needle, sizeof s.needle, "\"tenant\":%u,", tenant);
    if (tidal_inspect_node(NULL, dir, &node, tp_err, sizeof tp_err) != TIDAL_OK) return 0;
    memset(&fns, 0, sizeof fns);
    fns.ctx = &s, fns.event = cs_scan_event, fns.file = cs_scan_file;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = dir, cfg.node = node;
    if (tidal_inspect_dir(&cfg, &fns, &tot, tp_err, sizeof tp_err) != TIDAL_OK) return 0;
    *events = s.events, *snaps = 0;
    snprintf(first, cap, "%s", s.first);
    for (i = 0; i < s.n_snaps; i++) {
        int h = cs_snapshot_holds(dir, s.snaps[i], node, tenant);
        if (h < 0) return 0;
        if (h) {
            if (!first[0]) snprintf(first, cap, "snapshot %s", s.snaps[i]);
            (*snaps)++;
        }
    }
    return 1;
}

/* ---- The run ---- */

static void cs_step_start(cs *c) {
    int k;
    for (k = 0; k < CS_N; k++) {
        c->tport[k] = tp_free_port();
        snprintf(c->conf[k], sizeof c->conf[k], "%s/node%d.conf", tp_dir, k);
        snprintf(c->errlog[k], sizeof c->errlog[k], "%s/node%d.log", tp_dir, k);
        snprintf(c->data[k], sizeof c->data[k], "%s/data%d", tp_dir, k);
    }
    for (k = 0; k < CS_N; k++)
        if (!CS_CHECK(c, c->tport[k] > 0 && cs_write_conf(c, k), "config of node %d: %s", k,
                      tp_err))
            return;
    for (k = 0; k < CS_N; k++)
        if (!CS_CHECK(c, cs_start(c, k), "start node %d: %s", k, tp_err)) return;
    for (k = 0; k < CS_N; k++)
        if (!CS_CHECK(c, tp_ready(&c->d[k]), "node %d/%d: %s (its log: %s)", k / CS_S, k % CS_S,
                      tp_err, c->errlog[k]))
            return;
    cs_say(c, "  6 tidald up (3 regions x 2 shards; group 0 in every region, group 1 in "
              "eu-west alone), RESP ports");
    for (k = 0; k < CS_N; k++) cs_say(c, " %d", c->d[k].resp_port);
    cs_say(c, "\n");
}

static void cs_step_load(cs *c) {
    int k;
    uint32_t i, t, acked = 0;
    const char *r;
    uint32_t from[CS_N], to[CS_N];
    for (k = 0; k < CS_N; k++) {
        t = 1 + (uint32_t)k % CS_TENANTS;
        from[k] = c->nw;
        for (i = 0; i < 60; i++)
            (void)cs_new_write(c, t, c->items[t][cs_rand(c) % CS_ITEMS]);
        to[k] = c->nw;
    }
    for (k = 0; k < CS_N; k++) cs_pipeline(c, k, from[k], to[k]);
    for (i = 0; i < c->nw; i++) acked += c->w[i].acked;
    cs_say(c, "  load: %u keyed QUORUM writes pipelined from 6 client connections (one per "
              "node, tenants 1..3): %u acknowledged\n", c->nw, acked);
    cs_retry_pending(c, 0, 30 * TIDAL_NS_PER_S);
    /* user 77 of tenant 1 hides an item that has writes */
    c->hidden = c->w[0].item;
    {
        int64_t end = tp_now_ns() + 30 * TIDAL_NS_PER_S;
        for (;;) { /* a keyed hide: a retry applies once */
            r = cs_cmd(c, 1, 1, "HIDE %d %llu IDEM h1 1", CS_HIDER,
                       (unsigned long long)c->hidden);
            if (cs_is_ack(r) || tp_now_ns() > end) break;
            tp_pause_ms(50); /* between two tries */
        }
        CS_CHECK(c, cs_is_ack(r), "HIDE: %s", r);
    }
    cs_say(c, "  user %d of tenant 1 hides item %llu\n", CS_HIDER, (unsigned long long)c->hidden);
    for (t = 1; t <= CS_TENANTS; t++) cs_check_counts(c, "load", (int)t, t, 0);
    cs_check_counts(c, "load", 2, 1, 1);
}

static void cs_step_kill(cs *c) {
    int l = -1, s2, k, tries = 0;
    int64_t t_kill, end;
    uint32_t t, i, w;
    char r[256];
    for (k = 0; k < CS_N && l < 0; k++) l = cs_leader(c, k, 0, 1);
    if (!CS_CHECK(c, l >= 0, "kill: no node knows group 0's shard-1 leader")) return;
    s2 = cs_node((l / CS_S + 1) % CS_R, 0); /* a survivor in another region */
    cs_close_node(c, l);
    tp_kill9(&c->d[l]);
    t_kill = tp_now_ns();
    cs_say(c, "  kill -9 of node %d/%d (pid gone), group 0's shard-1 leader\n", l / CS_S,
           l % CS_S);
    w = cs_new_write(c, 1, cs_item_on(c, 1, 1));
    end = t_kill + 60 * TIDAL_NS_PER_S;
    while (!cs_write_once(c, s2, w, 10 * TIDAL_NS_PER_S, r, sizeof r) && tp_now_ns() < end) {
        tries++;
        tp_pause_ms(20); /* between two tries */
    }
    if (!CS_CHECK(c, c->w[w].acked, "kill: no write to shard 1 acknowledged through node %d/%d "
                  "within 60 s: %s", s2 / CS_S, s2 % CS_S, r))
        return;
    c->f->failover_ms = (double)(tp_now_ns() - t_kill) / 1e6;
    cs_say(c, "  failover: a keyed QUORUM write to shard 1 through node %d/%d acknowledged "
              "%.0f ms after the kill (%d earlier tries refused or unknown, retried with "
              "its key)\n", s2 / CS_S, s2 % CS_S, c->f->failover_ms, tries);
    for (i = 0; i < 20; i++) (void)cs_new_write(c, 1 + i % CS_TENANTS, cs_item_on(c, 1 + i % 3, 1));
    cs_retry_pending(c, s2, 30 * TIDAL_NS_PER_S);
    {   /* the new leader of shard 1, once a survivor names one other than the killed node */
        int nl = -1;
        uint32_t ids;
        end = tp_now_ns() + 30 * TIDAL_NS_PER_S;
        while (((nl = cs_leader(c, s2, 0, 1)) < 0 || nl == l) && tp_now_ns() < end)
            tp_pause_ms(20); /* between two HEALTH reads */
        if (CS_CHECK(c, nl >= 0 && nl != l, "kill: no new shard-1 leader named by node %d/%d "
                     "within 30 s", s2 / CS_S, s2 % CS_S)) {
            ids = cs_check_ids(c, "after kill -9", nl, 1);
            cs_say(c, "  node %d/%d, the new shard-1 leader, has applied every acknowledged "
                      "shard-1 write by its event id (%u ids, APPLIED)\n", nl / CS_S, nl % CS_S,
                   ids);
        }
    }
    for (t = 1; t <= CS_TENANTS; t++) cs_check_counts(c, "after kill -9", s2, t, 0);
    cs_check_counts(c, "after kill -9", s2, 1, 1);
    cs_say(c, "  the new leader holds every acknowledged write: counts per item equal the "
              "distinct acknowledged keys (%u writes)\n", c->nw);
    if (CS_CHECK(c, cs_start(c, l) && tp_ready(&c->d[l]), "restart of node %d: %s", l, tp_err))
        cs_say(c, "  node %d/%d restarted from its directory\n", l / CS_S, l % CS_S);
}

/* CUT (on) or HEAL (off) between region CS_CUT_REGION and the others, on every node. */
static void cs_cut(cs *c, int on) {
    int k, j;
    for (k = 0; k < CS_N; k++)
        for (j = 0; j < CS_N; j++) {
            const char *r;
            if ((k / CS_S == CS_CUT_REGION) == (j / CS_S == CS_CUT_REGION)) continue;
            r = cs_cmd(c, k, 0, "%s %d %d", on ? "CUT" : "HEAL", j / CS_S, j % CS_S);
            CS_CHECK(c, !strcmp(r, "+OK"), "%s %d %d on node %d: %s", on ? "CUT" : "HEAL",
                     j / CS_S, j % CS_S, k, r);
        }
}

static void cs_step_cut(cs *c) {
    uint32_t i, first_min, n_min = 8, acked_min = 0;
    int64_t t_heal;
    char why[512] = "", r[256];
    int k;
    cs_cut(c, 1);
    cs_say(c, "  ap-south cut off: CUT on every node toward the other side's nodes\n");
    for (i = 0; i < 30; i++) (void)cs_new_write(c, 2, c->items[2][cs_rand(c) % CS_ITEMS]);
    for (i = c->nw - 30; i < c->nw; i++)
        cs_write_until(c, cs_node((int)i % 2, (int)(i / 2) % CS_S), i, 60 * TIDAL_NS_PER_S);
    cs_say(c, "  us-east/eu-west: 30 keyed QUORUM writes acknowledged (%llu tries refused "
              "or unknown so far, retried with their keys)\n",
           (unsigned long long)c->f->retried);
    first_min = c->nw;
    for (i = 0; i < n_min; i++) (void)cs_new_write(c, 1, c->items[1][cs_rand(c) % CS_ITEMS]);
    for (i = first_min; i < c->nw; i++) {
        k = cs_node(CS_CUT_REGION, (int)i % CS_S);
        acked_min += cs_write_once(c, k, i, 3 * TIDAL_NS_PER_S, r, sizeof r);
    }
    CS_CHECK(c, acked_min == 0, "ap-south: %u QUORUM writes acknowledged while cut off",
             acked_min);
    cs_say(c, "  ap-south: %u QUORUM writes through its nodes, none acknowledged while cut off "
              "(last answer: %s)\n", n_min, r);
    for (i = 1; i <= 2; i++) /* through us-east: the shards' majority-side leaders answer */
        cs_check_counts(c, "majority during the cut", 0, i, 0);
    cs_cut(c, 0);
    t_heal = tp_now_ns();
    cs_say(c, "  HEAL on every node\n");
    for (i = first_min; i < c->nw; i++)
        cs_write_until(c, cs_node(CS_CUT_REGION, (int)i % CS_S), i, 60 * TIDAL_NS_PER_S);
    cs_say(c, "  ap-south's writes retried with their keys: acknowledged\n");
    {
        int64_t end = tp_now_ns() + 60 * TIDAL_NS_PER_S;
        int eq;
        while (!(eq = cs_digests_equal(c, why, sizeof why)) && tp_now_ns() < end)
            tp_pause_ms(50); /* polling for the condition */
        if (CS_CHECK(c, eq, "after the heal: replicas still differ after 60 s: %s", why)) {
            c->f->heal_ms = (double)(tp_now_ns() - t_heal) / 1e6;
            cs_say(c, "  equal digests on every shard's three replicas %.0f ms after HEAL\n",
                   c->f->heal_ms);
        }
    }
    for (i = 1; i <= CS_TENANTS; i++) cs_check_counts(c, "after the heal", cs_node(2, 1), i, 0);
    cs_check_counts(c, "after the heal", cs_node(2, 0), 1, 1);
}

static void cs_step_move(cs *c) {
    int64_t t_move = tp_now_ns(), end = t_move + 90 * TIDAL_NS_PER_S;
    const char *r;
    char want[96];
    int k = 1, done = 0;
    uint32_t i;
    for (;;) { /* refused while the control plane has no leader: asked again */
        r = cs_cmd(c, 0, 0, "MOVE %d %d", CS_MOVER, CS_MOVE_TO);
        /* -UNKNOWN: it may have started (a retry would be refused as a move in flight):
           whether it did, the phases every node applies say below */
        if (r[0] == ':' || !strncmp(r, "-UNKNOWN", 8) || tp_now_ns() > end) break;
        tp_pause_ms(50); /* between two tries */
    }
    if (!CS_CHECK(c, r[0] == ':' || !strncmp(r, "-UNKNOWN", 8), "MOVE %d %d: %s", CS_MOVER,
                  CS_MOVE_TO, r))
        return;
    cs_say(c, "  MOVE %d %d (tenant %d to eu-west alone): %s%s\n", CS_MOVER, CS_MOVE_TO,
           CS_MOVER, r[0] == ':' ? "generation " : "", r[0] == ':' ? r + 1 : r);
    for (i = 0; i < 10; i++) (void)cs_new_write(c, CS_MOVER, c->items[CS_MOVER][i]);
    for (i = c->nw - 10; i < c->nw; i++) cs_write_until(c, (int)i % CS_N, i, 60 * TIDAL_NS_PER_S);
    snprintf(want, sizeof want, "tenant %d group %d placed 1 move_phase %u", CS_MOVER,
             CS_MOVE_TO, (unsigned)TIDAL_CONTROL_PHASE_DONE);
    while (!done && tp_now_ns() < end) {
        for (k = 0, done = 1; k < CS_N && done; k++)
            done = strstr(cs_cmd(c, k, 0, "STATS"), want) != NULL;
        if (!done) tp_pause_ms(50); /* polling for the condition */
    }
    if (!CS_CHECK(c, done, "move: not DONE on every node within 90 s (node %d: %s)", k - 1,
                  cs_cmd(c, k - 1, 0, "STATS")))
        return;
    c->f->move_ms = (double)(tp_now_ns() - t_move) / 1e6;
    cs_say(c, "  DONE applied on every node %.0f ms after MOVE (10 writes of tenant %d "
              "during the move acknowledged)\n", c->f->move_ms, CS_MOVER);
    cs_check_counts(c, "after the move", cs_node(0, 0), CS_MOVER, 0);
    cs_check_counts(c, "after the move", cs_node(2, 1), CS_MOVER, 0);
}

static void cs_step_stop_and_scan(cs *c) {
    uint64_t new_events = 0;
    uint32_t new_snaps = 0;
    int k, st;
    for (k = 0; k < CS_N; k++) cs_close_node(c, k);
    for (k = 0; k < CS_N; k++)
        if (c->d[k].pid > 0) kill(c->d[k].pid, SIGTERM);
    for (k = 0; k < CS_N; k++) {
        st = tp_stop(&c->d[k]);
        CS_CHECK(c, st == 0, "SIGTERM: node %d/%d exited with %d", k / CS_S, k % CS_S, st);
    }
    cs_say(c, "  SIGTERM to all six: each handed its leaderships over and exited 0\n");
    for (k = 0; k < CS_N; k++) {
        char dir[700], first[200];
        uint64_t ev = 0;
        uint32_t sn = 0;
        int g;
        for (g = 0; g <= 1; g++) {
            int target = g == CS_MOVE_TO;
            snprintf(dir, sizeof dir, "%s/g%d", c->data[k], g);
            if (target && k / CS_S != 1) continue; /* group 1 runs in eu-west alone */
            if (!CS_CHECK(c, cs_scan_dir(dir, CS_MOVER, &ev, &sn, first, sizeof first),
                          "scan %s: %s", dir, tp_err))
                continue;
            if (target) new_events += ev, new_snaps += sn;
            if (target)
                CS_CHECK(c, ev + sn > 0, "node %d/%d group %d (the new owner) holds nothing of "
                         "tenant %d: the scan sees nothing", k / CS_S, k % CS_S, g, CS_MOVER);
            else
                CS_CHECK(c, ev + sn == 0, "node %d/%d group %d: tenant %d still in its files "
                         "after the move: %llu events, %u snapshots (first: %s)", k / CS_S,
                         k % CS_S, g, CS_MOVER, (unsigned long long)ev, sn, first);
        }
    }
    cs_say(c, "  files: no log segment or snapshot of a group-0 member (every region) holds "
              "tenant %d; eu-west's group-1 members do (%llu events in their logs, %u "
              "snapshots)\n", CS_MOVER, (unsigned long long)new_events, new_snaps);
}

/* The whole run: 0 when every check passed, else the number of failed checks. */
static int cs_run(const cs_opts *o, cs_figures *f) {
    static cs c;
    int64_t t_start = tp_now_ns();
    struct timespec wall;
    uint32_t t, j;
    memset(&c, 0, sizeof c);
    memset(f, 0, sizeof *f);
    c.o = o, c.f = f, c.rng = o->seed;
    for (t = 0; t <= CS_TENANTS; t++)
        for (j = 0; j < CS_N; j++) c.cl[j][t].fd = -1;
    for (t = 1; t <= CS_TENANTS; t++)
        for (j = 0; j < CS_ITEMS; j++) c.items[t][j] = 1000 * t + j + 1 + (cs_rand(&c) % 8) * 100;
    clock_gettime(CLOCK_REALTIME, &wall);
    c.t0 = (int64_t)wall.tv_sec * TIDAL_NS_PER_S - 60 * TIDAL_NS_PER_S; /* data, not timing */
    if (!CS_CHECK(&c, tp_dir[0] || tp_dir_make("tidal_cluster."), "%s", tp_err)) return 1;
    cs_say(&c, "== 1. start and load (seed %llu, directory %s)\n", (unsigned long long)o->seed,
           tp_dir);
    cs_step_start(&c);
    if (!c.failures) cs_step_load(&c);
    if (!c.failures) cs_say(&c, "== 2. kill -9 of a shard leader\n");
    if (!c.failures) cs_step_kill(&c);
    if (!c.failures) cs_say(&c, "== 3. ap-south cut off, writes on both sides, heal\n");
    if (!c.failures) cs_step_cut(&c);
    if (!c.failures) cs_say(&c, "== 4. tenant %d moves to eu-west\n", CS_MOVER);
    if (!c.failures) cs_step_move(&c);
    if (!c.failures) cs_say(&c, "== 5. clean shutdown, then the files\n");
    if (!c.failures) cs_step_stop_and_scan(&c);
    for (j = 0; j < c.nw; j++) f->acked += c.w[j].acked;
    f->total_s = (double)(tp_now_ns() - t_start) / 1e9;
    tp_kill_all();
    return c.failures;
}

#endif /* CLUSTER_SCENARIO_H */
