/* bench_core.c - throughput and latency figures for `make bench`.

   Output: one line per figure, `name: value unit`; section headers start with '#'.
   Usage:  bench_core [section...]   sections: apply hot redis retrieve bytes blake3
           (no argument runs them all, in that order).

   Every workload is drawn from splitmix64 with fixed seeds and runs against a virtual
   clock (a custom env), so two runs do the same work; only the wall time measured around
   the calls differs. Nothing here asserts on timing. Wall time comes from
   clock_gettime(CLOCK_MONOTONIC): benchmarks may read the real clock, tests may not. */

/* The implementation first: it sets _POSIX_C_SOURCE before any system header, which the
   socket, fork and clock_gettime declarations below depend on under -std=c99. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#define BENCH_NAME "bench_core"
#include "bench_common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim: a clean start for rss_bytes_per_item */
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- common ----------------------------------------------------------------------------- */

/* The virtual "now" of every database: a fixed instant (2027-01-15), so event times,
   bucket boundaries and epochs are the same on every run. */
#define BENCH_NOW_NS (INT64_C(1800000000) * TIDAL_NS_PER_S)
#define BENCH_HOUR_NS (INT64_C(3600) * TIDAL_NS_PER_S)
#define BENCH_DAY_NS (INT64_C(86400) * TIDAL_NS_PER_S)

/* Users live far above items in the shared id space so the two never collide. */
#define BENCH_USER_BASE UINT64_C(1000000000)






/* A deterministic env: the wall and monotonic clocks read a value the bench sets, and
   randomness (the incarnation drawn at open) comes from a seeded stream. Files still go to
   the POSIX env, though the ephemeral databases here open none. Same idea as
   tests/test_env.h, kept separate so the bench does not depend on the test tree. */
typedef struct bench_clock {
    int64_t now_ns;
    uint64_t rng;
} bench_clock;

static int64_t bench_env_wall(void *user) { return ((bench_clock *)user)->now_ns; }

static void bench_env_random(void *user, void *buf, size_t len) {
    bench_clock *c = (bench_clock *)user;
    size_t i;
    for (i = 0; i < len; i++) ((uint8_t *)buf)[i] = (uint8_t)splitmix64(&c->rng);
}

static void bench_env_make(tidal_env *env, bench_clock *c, int64_t now_ns, uint64_t seed) {
    *env = *tidal_env_posix();
    c->now_ns = now_ns;
    c->rng = seed;
    env->user = c;
    env->clock_wall_ns = bench_env_wall;
    env->clock_mono_ns = bench_env_wall;
    env->random_fill = bench_env_random;
}

/* The schema every section uses: view (1 h half-life) and like (1 day), all windows, one
   cohort key, and two profiles for the retrieve section: "hot" blends the two types (the
   walk over both types' top-K lists answers it), "hot_scan" the same two with a negative
   like weight, which has no bound over an evicted list and so always scans. */
static const tidal_signal_def bench_sigs[2] = {{"view", 3600.0, 0, 0, 0},
                                               {"like", 86400.0, 0, 0, 0}};
static const char *const bench_cohort_keys[1] = {"locale"};
static const tidal_profile_term bench_terms[2] = {{"view", 1.0}, {"like", 5.0}};
static const tidal_profile_term bench_terms_scan[2] = {{"view", 1.0}, {"like", -5.0}};
static const tidal_profile_def bench_profiles[2] = {{"hot", bench_terms, 2},
                                                    {"hot_scan", bench_terms_scan, 2}};
static const tidal_tag bench_locales[3] = {{"locale", "EU"}, {"locale", "US"},
                                           {"locale", "APAC"}};

#define SIG_VIEW 0u
#define SIG_LIKE 1u

static tidal_db *bench_open(tidal_env *env, bench_clock *clk, uint64_t seed) {
    tidal_config cfg;
    tidal_db *db = NULL;
    bench_env_make(env, clk, BENCH_NOW_NS, seed);
    memset(&cfg, 0, sizeof cfg);
    cfg.env = env;
    cfg.schema.signals = bench_sigs;
    cfg.schema.signal_count = 2;
    cfg.schema.cohort_keys = bench_cohort_keys;
    cfg.schema.cohort_key_count = 1;
    cfg.schema.profiles = bench_profiles;
    cfg.schema.profile_count = 2;
    check(NULL, tidal_db_open(&cfg, &db), "open");
    return db;
}

/* One random write of the throughput workload: a random item, mostly views (1 in 8 is a
   like), at an event time up to an hour before now, from a random user with a random
   locale. Two draws per op keep the generator's share of the timed loop small. */
typedef struct bench_op {
    tidal_id item;
    uint32_t type;
    tidal_id user;
    uint32_t locale;
    int64_t time_ns;
} bench_op;

static void bench_op_draw(uint64_t *rng, uint32_t n_items, uint32_t n_users, bench_op *op) {
    uint64_t r1 = splitmix64(rng), r2 = splitmix64(rng);
    op->item = 1 + pick(r1, n_items);
    op->type = (r1 & 7) == 0 ? SIG_LIKE : SIG_VIEW;
    op->user = BENCH_USER_BASE + 1 + pick(r2, n_users);
    op->locale = (uint32_t)((r2 & 0xFF) % 3);
    /* 24 bits of r2 spread the event over [now - 1 h, now]: 2^24 steps of ~214.6 us. */
    op->time_ns = BENCH_NOW_NS - (int64_t)((r2 >> 8) & 0xFFFFFF) * INT64_C(214576);
}

/* Writes one signal on each of items 1..n so the timed loops never pay for creating the
   entity; the precreate events sit 2 hours back, inside every window but the 1 h one. */
static void bench_precreate(tidal_db *db, uint32_t n) {
    tidal_signal s;
    uint32_t i;
    memset(&s, 0, sizeof s);
    s.type = SIG_VIEW;
    s.weight = 1.0;
    s.time_ns = BENCH_NOW_NS - 2 * BENCH_HOUR_NS;
    for (i = 1; i <= n; i++) {
        s.item = i;
        check(db, tidal_signal_write(db, &s, NULL), "precreate");
    }
}

/* Runs n writes of the throughput workload; returns the seconds they took. */
static double bench_write_loop(tidal_db *db, uint64_t seed, uint64_t n, uint32_t n_items,
                               uint32_t n_users, int with_user, int with_cohort) {
    tidal_signal s;
    bench_op op;
    uint64_t rng = seed, i;
    double t0, t1;
    memset(&s, 0, sizeof s);
    s.weight = 1.0;
    t0 = wall_s();
    for (i = 0; i < n; i++) {
        bench_op_draw(&rng, n_items, n_users, &op);
        s.item = op.item;
        s.type = op.type;
        s.time_ns = op.time_ns;
        if (with_user) s.user = op.user;
        if (with_cohort) {
            /* Passed explicitly: no lookup of the user's locale attribute on this path. */
            s.cohort = &bench_locales[op.locale];
            s.cohort_count = 1;
        }
        check(db, tidal_signal_write(db, &s, NULL), "write");
    }
    t1 = wall_s();
    return t1 - t0;
}

/* Filled by the apply section, read by the redis section for the ratio line. */
static double g_tidal_apply_per_s = 0.0;

/* ---- 1. apply: 1M items, every feature on --------------------------------------------- */

#define APPLY_ITEMS 1000000u
#define APPLY_USERS 100000u
#define APPLY_WRITES UINT64_C(4000000)
#define APPLY_SEED UINT64_C(0x7461646c61707031) /* shared with the redis section */

/* The floor: what the apply workload physically needs, as a bare loop over the same
   1M items and the same draws. One open-addressed lookup of a 64-byte slot (ids inline,
   linear probing over 2^21 slots), a forward-decay add into the slot's accumulator, and
   the three window-bucket increments (minute, hour, day: the current bucket of each,
   inline). No user, no cohort, no top-K, no exactness: a lower bound, not a design. */
typedef struct floor_slot {
    uint64_t id;      /* 0 = empty */
    double acc;       /* forward-decay accumulator against the landmark */
    int64_t epoch;
    int32_t key[3];   /* current bucket per level */
    uint32_t count[3];
    double w[2];      /* the minute and hour buckets' weights (the day one shares acc's line) */
} floor_slot;

static double g_floor_sink = 0.0;

static double bench_floor_ns(void) {
    const uint32_t n_slots = 1u << 21;
    floor_slot *t = (floor_slot *)calloc(n_slots, sizeof *t);
    static const int64_t lvl_ns[3] = {INT64_C(60) * TIDAL_NS_PER_S, BENCH_HOUR_NS, BENCH_DAY_NS};
    const double hl_ns = 3600.0 * 1e9;
    const int64_t epoch_ns = 16 * INT64_C(3600) * TIDAL_NS_PER_S;
    uint64_t rng = APPLY_SEED, i;
    bench_op op;
    double t0, secs, sink = 0;
    uint32_t k;
    if (!t) die("floor", "out of memory");
    if (sizeof(floor_slot) != 64) die("floor", "slot is not 64 bytes");
    for (k = 1; k <= APPLY_ITEMS; k++) { /* precreated, as in the apply section */
        uint32_t h = (uint32_t)(((uint64_t)k * UINT64_C(0x9E3779B97F4A7C15)) >> 43);
        while (t[h].id) h = (h + 1) & (n_slots - 1);
        t[h].id = k;
    }
    t0 = wall_s();
    for (i = 0; i < APPLY_WRITES; i++) {
        floor_slot *s;
        uint32_t h;
        int64_t e;
        int l;
        bench_op_draw(&rng, APPLY_ITEMS, APPLY_USERS, &op);
        h = (uint32_t)((op.item * UINT64_C(0x9E3779B97F4A7C15)) >> 43);
        while (t[h].id != op.item) h = (h + 1) & (n_slots - 1);
        s = &t[h];
        e = op.time_ns / epoch_ns;
        s->acc += exp2((double)(op.time_ns - e * epoch_ns) / hl_ns);
        s->epoch = e;
        for (l = 0; l < 3; l++) {
            int32_t key = (int32_t)(op.time_ns / lvl_ns[l]);
            if (s->key[l] != key) {
                s->key[l] = key;
                s->count[l] = 0;
                if (l < 2) s->w[l] = 0;
            }
            s->count[l]++;
            if (l < 2) s->w[l] += 1.0;
        }
    }
    secs = wall_s() - t0;
    for (k = 0; k < n_slots; k += 4096) sink += t[k].acc + t[k].count[0];
    g_floor_sink = sink;
    free(t);
    return secs * 1e9 / (double)APPLY_WRITES;
}

static void section_apply(void) {
    tidal_env env;
    bench_clock clk;
    tidal_db *db = bench_open(&env, &clk, 1);
    tidal_db_stats st;
    uint64_t bytes0;
    double secs;
    printf("# signal_apply: %u items pre-created, %llu writes on random items, user (of %u) "
           "+ cohort tag, view/like, event times over the last hour\n",
           APPLY_ITEMS, (unsigned long long)APPLY_WRITES, APPLY_USERS);
    bench_precreate(db, APPLY_ITEMS);
    tidal_db_stats_get(db, &st);
    bytes0 = st.bytes_state;
    secs = bench_write_loop(db, APPLY_SEED, APPLY_WRITES, APPLY_ITEMS, APPLY_USERS, 1, 1);
    g_tidal_apply_per_s = (double)APPLY_WRITES / secs;
    printf("signal_apply_ns: %.1f ns\n", secs * 1e9 / (double)APPLY_WRITES);
    printf("signal_apply_per_s: %.0f signals/s\n", g_tidal_apply_per_s);
    /* The split of that figure: most writes above make state (a cohort aggregate, a seen-set
       entry) and so touch fresh memory. The first quarter of the same writes again (new
       event ids, the same items, users and cohorts) makes none: the chain of dependent
       loads alone. */
    tidal_db_stats_get(db, &st);
    printf("# signal_apply: the timed writes grew the state by %.1f bytes per write\n",
           (double)(st.bytes_state - bytes0) / (double)APPLY_WRITES);
    {
        double again = bench_write_loop(db, APPLY_SEED, APPLY_WRITES / 4, APPLY_ITEMS,
                                        APPLY_USERS, 1, 1);
        printf("signal_apply_steady_ns: %.1f ns (the first %llu of the same writes again: no "
               "state made)\n", again * 1e9 / (double)(APPLY_WRITES / 4),
               (unsigned long long)(APPLY_WRITES / 4));
    }
    {
        double floor_ns = bench_floor_ns();
        printf("signal_apply_floor_ns: %.1f ns (a bare loop: 64-byte slot lookup over %u items, "
               "forward-decay add, 3 bucket increments; checksum %.0f)\n", floor_ns, APPLY_ITEMS,
               g_floor_sink);
        printf("signal_apply_vs_floor: %.1f x (design target: <= 2 x)\n",
               secs * 1e9 / (double)APPLY_WRITES / floor_ns);
    }
    /* Not a requested figure but cheap: the state this workload leaves behind, users'
       seen sets and the per-cohort aggregates included. */
    tidal_db_stats_get(db, &st);
    printf("signal_apply_state_bytes_per_item: %.1f bytes\n",
           (double)st.bytes_state / (double)APPLY_ITEMS);
    tidal_db_close(db);
}

/* ---- 2. hot: 10K items, minimal and full writes ---------------------------------------- */

#define HOT_ITEMS 10000u
#define HOT_WRITES UINT64_C(20000000)
/* The full-feature run is ~4x slower per write (the users' seen sets and the cohort
   aggregates miss cache); 5M writes keep the whole bench under 3 minutes on 2 cores. */
#define HOT_FULL_WRITES UINT64_C(5000000)

static double bench_hot(uint64_t seed, uint64_t writes, int full) {
    tidal_env env;
    bench_clock clk;
    tidal_db *db = bench_open(&env, &clk, 2);
    double secs;
    bench_precreate(db, HOT_ITEMS);
    secs = bench_write_loop(db, seed, writes, HOT_ITEMS, APPLY_USERS, full, full);
    tidal_db_close(db);
    return (double)writes / secs;
}

static void section_hot(void) {
    printf("# signal_apply_hot: %u items; minimal = %llu writes, no user, no cohort; full = "
           "%llu writes, user (of %u) + cohort tag; design target: >= 20M/s\n", HOT_ITEMS,
           (unsigned long long)HOT_WRITES, (unsigned long long)HOT_FULL_WRITES, APPLY_USERS);
    printf("signal_apply_hot_per_s: %.0f signals/s\n",
           bench_hot(UINT64_C(0x686f7431), HOT_WRITES, 0));
    printf("signal_apply_hot_full_per_s: %.0f signals/s\n",
           bench_hot(UINT64_C(0x686f7432), HOT_FULL_WRITES, 1));
}

/* ---- 3. redis: ZINCRBY on the same item workload --------------------------------------- */

/* Not apples to apples, and the figures say so by name: tidal is a library call in this
   process, Redis is a server behind loopback TCP with pipelining hiding the round trips.
   The comparison answers "how far is an embedded fold from the usual remote counter". */

#define REDIS_PORT 6399
#define REDIS_PIDFILE "/tmp/tidal_bench_redis.pid"
#define REDIS_OPS UINT64_C(2000000)
#define REDIS_BATCH 1000u
#define REDIS_KEY "tidal:view"

static volatile sig_atomic_t g_redis_started = 0;

static int path_has(const char *prog) {
    const char *path = getenv("PATH"), *p;
    char buf[4096];
    if (!path) return 0;
    for (p = path; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len && len + 1 + strlen(prog) < sizeof buf) {
            memcpy(buf, p, len);
            buf[len] = '/';
            strcpy(buf + len + 1, prog);
            if (access(buf, X_OK) == 0) return 1;
        }
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

/* Uses only async-signal-safe calls (socket, connect, write, close) so the signal handler
   below may call it too. Returns the socket or -1. */
static int redis_connect(void) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(REDIS_PORT);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

/* SHUTDOWN NOSAVE; on success Redis closes the connection without a reply. */
static void redis_send_shutdown(void) {
    static const char cmd[] = "*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n";
    char sink[64];
    int fd = redis_connect();
    if (fd < 0) return;
    if (write_all(fd, cmd, sizeof cmd - 1))
        while (read(fd, sink, sizeof sink) > 0) {} /* until the server hangs up */
    close(fd);
}

/* Stops the server we started: SHUTDOWN NOSAVE, then wait (bounded) for the port to close;
   if it will not, SIGTERM the pid from our own pidfile. Never touches a server we did not
   start. */
static void redis_stop(void) {
    int i;
    if (!g_redis_started) return;
    redis_send_shutdown();
    for (i = 0; i < 100; i++) {
        struct timespec ts = {0, 50000000};
        int fd = redis_connect();
        if (fd < 0) break;
        close(fd);
        nanosleep(&ts, NULL);
    }
    if (i == 100) {
        FILE *f = fopen(REDIS_PIDFILE, "r");
        long pid = 0;
        if (f) {
            if (fscanf(f, "%ld", &pid) != 1) pid = 0;
            fclose(f);
        }
        if (pid > 1) kill((pid_t)pid, SIGTERM);
        fprintf(stderr, "bench_core: redis did not shut down; sent SIGTERM to %ld\n", pid);
    }
    g_redis_started = 0;
}

static void redis_on_signal(int sig) {
    if (g_redis_started) redis_send_shutdown();
    _exit(128 + sig);
}

/* Buffered reader and a RESP reply parser. Replies are consumed whole; errors are counted
   (with the first message kept) rather than aborting, so the server is always shut down. */
typedef struct resp_reader {
    int fd;
    char buf[1 << 16];
    size_t pos, len;
    uint64_t errors;
    char first_error[128];
} resp_reader;

static int resp_byte(resp_reader *r, char *c) {
    if (r->pos == r->len) {
        ssize_t n;
        do n = read(r->fd, r->buf, sizeof r->buf);
        while (n < 0 && errno == EINTR);
        if (n <= 0) return 0;
        r->pos = 0;
        r->len = (size_t)n;
    }
    *c = r->buf[r->pos++];
    return 1;
}

/* Reads one CRLF-terminated line (without the CRLF) into out (truncated to cap - 1). */
static int resp_line(resp_reader *r, char *out, size_t cap) {
    size_t n = 0;
    char c, prev = 0;
    for (;;) {
        if (!resp_byte(r, &c)) return 0;
        if (prev == '\r' && c == '\n') break;
        if (prev && n + 1 < cap) out[n++] = prev;
        prev = c;
    }
    out[n] = 0;
    return 1;
}

/* Parses one reply. *bulk (may be NULL) receives a bulk string's text, truncated. */
static int resp_reply(resp_reader *r, char *bulk, size_t bulk_cap) {
    char type, line[128];
    long long n, i;
    if (!resp_byte(r, &type) || !resp_line(r, line, sizeof line)) return 0;
    switch (type) {
    case '+':
    case ':':
        if (bulk && bulk_cap) {
            size_t l = strlen(line);
            if (l >= bulk_cap) l = bulk_cap - 1;
            memcpy(bulk, line, l);
            bulk[l] = 0;
        }
        return 1;
    case '-':
        if (!r->errors++) snprintf(r->first_error, sizeof r->first_error, "%s", line);
        return 1;
    case '$':
        n = strtoll(line, NULL, 10);
        if (n < 0) return 1; /* null bulk string */
        for (i = 0; i < n + 2; i++) { /* the payload and its CRLF */
            char c;
            if (!resp_byte(r, &c)) return 0;
            if (bulk && i < n && (size_t)i + 1 < bulk_cap) {
                bulk[i] = c;
                bulk[i + 1] = 0;
            }
        }
        return 1;
    case '*':
        n = strtoll(line, NULL, 10);
        for (i = 0; i < n; i++)
            if (!resp_reply(r, NULL, 0)) return 0;
        return 1;
    default:
        return 0; /* not RESP2: the stream cannot be trusted any more */
    }
}

/* Appends one command as a RESP array of bulk strings. */
static size_t resp_cmd(char *out, int argc, const char *const *argv) {
    size_t n = (size_t)sprintf(out, "*%d\r\n", argc);
    int i;
    for (i = 0; i < argc; i++)
        n += (size_t)sprintf(out + n, "$%u\r\n%s\r\n", (unsigned)strlen(argv[i]), argv[i]);
    return n;
}

static int redis_start(void) {
    const char *argv[] = {"redis-server", "--port", "6399", "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no", "--dir", "/tmp",
                          "--daemonize", "yes", "--pidfile", REDIS_PIDFILE, NULL};
    pid_t pid = fork();
    int status = 0;
    if (pid < 0) return 0;
    if (pid == 0) {
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* With --daemonize the launcher exits as soon as the daemon has forked. */
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 0;
    g_redis_started = 1;
    return 1;
}

/* PING until +PONG, for at most ~5 s. */
static int redis_wait_ready(void) {
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    int i;
    for (i = 0; i < 100; i++) {
        struct timespec ts = {0, 50000000};
        int fd = redis_connect();
        if (fd >= 0) {
            static resp_reader r;
            char reply[32] = "";
            memset(&r, 0, sizeof r);
            r.fd = fd;
            if (write_all(fd, ping, sizeof ping - 1) && resp_reply(&r, reply, sizeof reply) &&
                !strcmp(reply, "PONG")) {
                close(fd);
                return 1;
            }
            close(fd);
        }
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Sends the commands in buf, then reads `replies` replies. */
static int redis_roundtrip(resp_reader *r, const char *buf, size_t len, uint32_t replies) {
    uint32_t i;
    if (!write_all(r->fd, buf, len)) return 0;
    for (i = 0; i < replies; i++)
        if (!resp_reply(r, NULL, 0)) return 0;
    return 1;
}

static void redis_measure(void) {
    static resp_reader r; /* 64 KB buffer: off the stack */
    size_t cap = (size_t)REDIS_BATCH * 128 + 65536, len = 0;
    char *buf = (char *)malloc(cap), member[24], card[24];
    const char *argv[4 + 2 * REDIS_BATCH];
    char (*members)[24] = (char (*)[24])malloc(sizeof(*members) * REDIS_BATCH);
    uint64_t rng = APPLY_SEED, i;
    uint32_t b;
    double t0, secs;
    int ok = 1;
    if (!buf || !members) die("redis", "out of memory");
    memset(&r, 0, sizeof r);
    r.fd = redis_connect();
    if (r.fd < 0) {
        printf("redis_zincrby_per_s: n/a (cannot connect to 127.0.0.1:%d)\n", REDIS_PORT);
        free(buf);
        free(members);
        return;
    }
    {
        int one = 1;
        setsockopt(r.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    /* Untimed: the same 1M members exist before the timed loop, as tidal's items do;
       one ZADD of 1000 members per round trip. */
    len = resp_cmd(buf, 2, (const char *const[]){"DEL", REDIS_KEY});
    ok = redis_roundtrip(&r, buf, len, 1);
    for (i = 1; ok && i <= APPLY_ITEMS; i += REDIS_BATCH) {
        int argc = 2;
        argv[0] = "ZADD";
        argv[1] = REDIS_KEY;
        for (b = 0; b < REDIS_BATCH && i + b <= APPLY_ITEMS; b++) {
            snprintf(members[b], sizeof members[b], "%llu", (unsigned long long)(i + b));
            argv[argc++] = "1";
            argv[argc++] = members[b];
        }
        len = resp_cmd(buf, argc, argv);
        ok = redis_roundtrip(&r, buf, len, 1);
    }
    /* Timed: the apply section's item sequence (same seed, same draw), one ZINCRBY each. */
    t0 = wall_s();
    for (i = 0; ok && i < REDIS_OPS; i += REDIS_BATCH) {
        len = 0;
        for (b = 0; b < REDIS_BATCH; b++) {
            bench_op op;
            bench_op_draw(&rng, APPLY_ITEMS, APPLY_USERS, &op);
            snprintf(member, sizeof member, "%llu", (unsigned long long)op.item);
            argv[0] = "ZINCRBY";
            argv[1] = REDIS_KEY;
            argv[2] = "1";
            argv[3] = member;
            len += resp_cmd(buf + len, 4, argv);
        }
        ok = redis_roundtrip(&r, buf, len, REDIS_BATCH);
    }
    secs = wall_s() - t0;
    /* One last read-back proves the replies were real and the set has the right size. */
    if (ok) {
        len = resp_cmd(buf, 2, (const char *const[]){"ZCARD", REDIS_KEY});
        ok = write_all(r.fd, buf, len) && resp_reply(&r, card, sizeof card);
    }
    close(r.fd);
    if (!ok) {
        printf("redis_zincrby_per_s: n/a (connection lost or bad reply)\n");
    } else if (r.errors) {
        printf("redis_zincrby_per_s: n/a (%llu error replies, first: %s)\n",
               (unsigned long long)r.errors, r.first_error);
    } else {
        double per_s = (double)REDIS_OPS / secs;
        printf("# redis: ZCARD %s = %s after the run\n", REDIS_KEY, card);
        printf("redis_zincrby_per_s: %.0f ops/s\n", per_s);
        if (g_tidal_apply_per_s > 0)
            printf("tidal_vs_redis_ratio: %.2f x\n", g_tidal_apply_per_s / per_s);
        else
            printf("tidal_vs_redis_ratio: n/a (run the apply section too)\n");
    }
    free(buf);
    free(members);
}

static void section_redis(void) {
    struct sigaction sa;
    int fd;
    printf("# redis: ZINCRBY on a %u-member sorted set, %llu ops, pipelined %u per batch over "
           "loopback TCP (a server round trip, not an in-process call)\n",
           APPLY_ITEMS, (unsigned long long)REDIS_OPS, REDIS_BATCH);
    if (!path_has("redis-server") || !path_has("redis-cli")) {
        printf("redis_zincrby_per_s: n/a (redis-server not installed)\n");
        return;
    }
    /* A server already on the port is someone else's: measure nothing, stop nothing. */
    if ((fd = redis_connect()) >= 0) {
        close(fd);
        printf("redis_zincrby_per_s: n/a (port %d already in use)\n", REDIS_PORT);
        return;
    }
    atexit(redis_stop); /* an exit() on any error path still stops the server */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN; /* a dying server must give EPIPE, not kill the bench */
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = redis_on_signal; /* Ctrl-C still shuts the server down */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (!redis_start()) {
        printf("redis_zincrby_per_s: n/a (redis-server failed to start)\n");
        return;
    }
    if (!redis_wait_ready())
        printf("redis_zincrby_per_s: n/a (no PONG within 5 s)\n");
    else
        redis_measure();
    redis_stop();
    sa.sa_handler = SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- 4. retrieve: top 50 for a user in a cohort --------------------------------------- */

#define RET_ITEMS 1000000u
#define RET_USERS 100000u
#define RET_SKEWED_WRITES 2000000u
#define RET_QUERIES 2000u
#define RET_WRITES_BETWEEN 100u
#define RET_HIDDEN 1000u
#define RET_SCAN_RUNS 5u
#define RET_LIKES 300000u /* skewed likes before the profile queries: ~1 in 7 of the views */
#define RET_QUERY_USER (BENCH_USER_BASE + 1) /* user k has locale (k + 2) % 3: 1 -> EU */

/* Popularity is skewed (item index = N * x^3 for uniform x), so a head of items collects
   most views and the top-K lists have something to keep: the top 50 draw ~3.7% of the
   writes, the top 5000 ~17%. */
static tidal_id ret_item(uint64_t r) {
    double x = (double)(r >> 11) * (1.0 / 9007199254740992.0);
    uint32_t idx = (uint32_t)((double)RET_ITEMS * x * x * x);
    if (idx >= RET_ITEMS) idx = RET_ITEMS - 1;
    return 1 + (tidal_id)idx;
}

/* A view from a random user; no explicit cohort, so tidal looks up the user's locale
   attribute (the path real writers take). Event time: up to 10 minutes before now. */
static void ret_write_type(tidal_db *db, uint64_t *rng, int64_t now, uint32_t type) {
    tidal_signal s;
    uint64_t r2;
    memset(&s, 0, sizeof s);
    s.item = ret_item(splitmix64(rng));
    r2 = splitmix64(rng);
    s.type = type;
    s.weight = 1.0;
    s.user = BENCH_USER_BASE + 1 + pick(r2, RET_USERS);
    s.time_ns = now - (int64_t)(r2 & 0xFFFFFF) * INT64_C(35762); /* 2^24 steps up to 10 min */
    check(db, tidal_signal_write(db, &s, NULL), "retrieve write");
}

static void ret_write(tidal_db *db, uint64_t *rng, int64_t now) {
    ret_write_type(db, rng, now, SIG_VIEW);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, uint32_t n, double p) {
    uint32_t i = (uint32_t)(p * (double)n + 0.999999);
    if (i == 0) i = 1;
    if (i > n) i = n;
    return sorted[i - 1];
}

/* Median wall time (us) of `runs` runs of q; *index_hits counts used_index answers. */
static double ret_time_query(tidal_db *db, const tidal_query *q, uint32_t runs,
                             uint32_t *index_hits, uint32_t *got) {
    tidal_hit hits[50];
    tidal_query_stats st;
    double lat[16];
    uint32_t i;
    *index_hits = 0;
    for (i = 0; i < runs && i < 16; i++) {
        double t0 = wall_s();
        check(db, tidal_retrieve(db, q, hits, 50, got, &st), "retrieve");
        lat[i] = (wall_s() - t0) * 1e6;
        *index_hits += (uint32_t)st.used_index;
    }
    qsort(lat, i, sizeof lat[0], cmp_double);
    return lat[i / 2];
}

/* This thread's CPU time in seconds. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* a ranks above b: score descending, then item id ascending (RETRIEVE's order). */
static int ret_hit_better(const tidal_hit *a, const tidal_hit *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->item < b->item;
}

/* Ranks all RET_ITEMS items by brute force (tidal_profile_read, the user's suppressions)
   and says whether the query's answer is exactly that: items, order and scores. */
static int ret_profile_brute(tidal_db *db, const tidal_query *q, const tidal_hit *hits,
                             uint32_t got) {
    tidal_hit best[50];
    uint32_t nb = 0, i, k;
    for (i = 1; i <= RET_ITEMS; i++) {
        tidal_hit h;
        double parts[2];
        int sup = 0;
        uint32_t pos = 0;
        h.item = i;
        check(db, tidal_profile_read(db, 0, i, q->rank_index, &bench_locales[0], q->time_ns,
                                     &h.score, parts), "profile_read");
        if (parts[0] == 0 && parts[1] == 0) { /* a signal that sums to 0, or none at all? */
            int any = 0;
            for (k = 0; k < 2; k++) {
                tidal_signal_stats st;
                check(db, tidal_signal_read(db, 0, i, k, &bench_locales[0], q->time_ns, &st),
                      "signal_read");
                any |= st.count[TIDAL_W_ALL] != 0;
            }
            if (!any) continue;
        }
        check(db, tidal_negative_check(db, 0, q->for_user, i, &sup), "negative_check");
        if (sup) continue;
        while (pos < nb && ret_hit_better(&best[pos], &h)) pos++;
        if (pos >= q->limit) continue;
        if (nb == q->limit) nb--;
        memmove(&best[pos + 1], &best[pos], sizeof best[0] * (nb - pos));
        best[pos] = h;
        nb++;
    }
    if (nb != got) return 0;
    for (i = 0; i < nb; i++)
        if (best[i].item != hits[i].item || best[i].score != hits[i].score) return 0;
    return 1;
}

/* RETRIEVE PROFILE hot (view + 5 like) FOR USER COHORT locale:EU LIMIT 50 at 1M items: the
   walk over the (view, EU) and (like, EU) top-K lists, with writes of both types between
   queries; then the same blend with a negative like weight, which scans (the figure the
   walk replaces), and a check of the walk's last answer against a brute-force ranking. */
static void ret_profile(tidal_db *db, bench_clock *clk, uint64_t *rng, double *lat) {
    tidal_query q;
    tidal_hit hits[50];
    tidal_query_stats st;
    uint64_t considered = 0;
    uint32_t i, j, got = 0, walked = 0, index_hits = 0, why = 0;
    double t_setup = wall_s(), *cpu = (double *)malloc(sizeof(double) * RET_QUERIES);
    int same;
    if (!cpu) die("retrieve", "out of memory");
    for (i = 0; i < RET_LIKES; i++) ret_write_type(db, rng, clk->now_ns, SIG_LIKE);
    printf("# retrieve: %u skewed likes added (%.1f s, not measured); %u queries PROFILE hot "
           "(view + 5 like) FOR USER COHORT locale:EU LIMIT 50, %u writes (1 in 8 a like) "
           "between\n", RET_LIKES, wall_s() - t_setup, RET_QUERIES, RET_WRITES_BETWEEN);
    memset(&q, 0, sizeof q);
    q.rank_kind = TIDAL_QUERY_PROFILE;
    q.rank_index = 0;
    q.for_user = RET_QUERY_USER;
    q.cohort_key = "locale";
    q.cohort_value = "EU";
    q.limit = 50;
    for (i = 0; i < RET_QUERIES; i++) {
        double t0, c0;
        clk->now_ns += 100 * INT64_C(1000000);
        for (j = 0; j < RET_WRITES_BETWEEN; j++)
            ret_write_type(db, rng, clk->now_ns, (splitmix64(rng) & 7) == 0 ? SIG_LIKE : SIG_VIEW);
        c0 = cpu_s();
        t0 = wall_s();
        check(db, tidal_retrieve(db, &q, hits, 50, &got, &st), "retrieve profile");
        lat[i] = (wall_s() - t0) * 1e6;
        cpu[i] = (cpu_s() - c0) * 1e6;
        walked += (uint32_t)st.used_index;
        considered += st.items_considered;
        if (st.profile_scan_fallback) why = st.profile_scan_fallback;
    }
    qsort(lat, RET_QUERIES, sizeof lat[0], cmp_double);
    printf("# retrieve: profile: %u hits in the last answer, %.0f items considered per query on "
           "average, %u of %u walked the index (last fallback reason %u), slowest %.0f us\n",
           got, (double)considered / RET_QUERIES, walked, RET_QUERIES, why,
           lat[RET_QUERIES - 1]);
    printf("retrieve_profile_top50_p50_us: %.1f us\n", percentile(lat, RET_QUERIES, 0.50));
    printf("retrieve_profile_top50_p99_us: %.1f us\n", percentile(lat, RET_QUERIES, 0.99));
    printf("retrieve_profile_index_ratio: %.4f fraction\n", (double)walked / RET_QUERIES);
    qsort(cpu, RET_QUERIES, sizeof cpu[0], cmp_double);
    printf("# retrieve: profile CPU time per query (this thread's, without the scheduling "
           "noise of a shared machine): p50 %.1f us, p99 %.1f us\n",
           percentile(cpu, RET_QUERIES, 0.50), percentile(cpu, RET_QUERIES, 0.99));
    t_setup = wall_s();
    same = ret_profile_brute(db, &q, hits, got);
    printf("# retrieve: the last profile answer equals a brute-force ranking of all %u items: "
           "%s (%.1f s, not measured)\n", RET_ITEMS, same ? "yes" : "NO", wall_s() - t_setup);
    q.rank_index = 1; /* hot_scan: a negative weight over an evicted list has no bound */
    printf("retrieve_scan_top50_us: %.1f us\n",
           ret_time_query(db, &q, RET_SCAN_RUNS, &index_hits, &got));
    check(db, tidal_retrieve(db, &q, hits, 50, &got, &st), "retrieve profile scan");
    printf("# retrieve: retrieve_scan_top50_us is PROFILE hot_scan (view - 5 like, same filters), "
           "%u of %u runs from the index, profile_scan_fallback %u, %.0f items considered\n",
           index_hits, RET_SCAN_RUNS, st.profile_scan_fallback, (double)st.items_considered);
    free(cpu);
}

static void section_retrieve(void) {
    tidal_env env;
    bench_clock clk;
    tidal_db *db = bench_open(&env, &clk, 4);
    tidal_query q;
    tidal_tag where;
    tidal_hit hits[50];
    tidal_query_stats st;
    double *lat = (double *)malloc(sizeof(double) * RET_QUERIES), t_setup = wall_s();
    uint64_t rng = UINT64_C(0x72657472), considered = 0;
    uint32_t i, j, got = 0, index_hits = 0;
    if (!lat) die("retrieve", "out of memory");
    printf("# retrieve: %u items (1 view each + %u skewed views from %u users with a locale), "
           "format=video/text (live on 1 in 1000), querying user hides %u head items; "
           "%u queries SIGNAL view FOR USER COHORT locale:EU LIMIT 50, %u writes between\n",
           RET_ITEMS, RET_SKEWED_WRITES, RET_USERS, RET_HIDDEN, RET_QUERIES, RET_WRITES_BETWEEN);
    /* Users carry the locale their signals get a cohort tag from: a third each of EU, US
       and APAC, with the querying user (k = 1) in EU. */
    for (i = 1; i <= RET_USERS; i++)
        check(db, tidal_attr_set(db, 0, BENCH_USER_BASE + i, "locale",
                                 bench_locales[(i + 2) % 3].value, NULL), "user attr");
    for (i = 1; i <= RET_ITEMS; i++)
        check(db, tidal_attr_set(db, 0, i, "format",
                                 i % 1000 == 0 ? "live" : (i & 1) ? "video" : "text", NULL),
              "item attr");
    /* Every item gets one view (so a scan really visits 1M items), then the skewed load. */
    {
        tidal_signal s;
        memset(&s, 0, sizeof s);
        s.type = SIG_VIEW;
        s.weight = 1.0;
        for (i = 1; i <= RET_ITEMS; i++) {
            s.item = i;
            s.user = BENCH_USER_BASE + 1 + (i % RET_USERS);
            s.time_ns = BENCH_NOW_NS - (int64_t)(i % 3600) * TIDAL_NS_PER_S;
            check(db, tidal_signal_write(db, &s, NULL), "retrieve precreate");
        }
    }
    for (i = 0; i < RET_SKEWED_WRITES; i++) ret_write(db, &rng, clk.now_ns);
    /* Hides among the head (one of every 5 of the top 5000), so some of them would be in
       the answer and the filter has work to do. */
    for (i = 0; i < RET_HIDDEN; i++)
        check(db, tidal_negative_add(db, 0, RET_QUERY_USER, TIDAL_HIDE,
                                     1 + 5 * (tidal_id)i + (splitmix64(&rng) % 5), NULL),
              "hide");
    printf("# retrieve: setup took %.1f s (not measured)\n", wall_s() - t_setup);

    memset(&q, 0, sizeof q);
    q.rank_kind = TIDAL_QUERY_SIGNAL;
    q.rank_index = SIG_VIEW;
    q.for_user = RET_QUERY_USER;
    q.cohort_key = "locale";
    q.cohort_value = "EU";
    q.limit = 50;
    for (i = 0; i < RET_QUERIES; i++) {
        double t0;
        /* Time moves on: 100 ms of virtual time per round of writes. */
        clk.now_ns += 100 * INT64_C(1000000);
        for (j = 0; j < RET_WRITES_BETWEEN; j++) ret_write(db, &rng, clk.now_ns);
        t0 = wall_s();
        check(db, tidal_retrieve(db, &q, hits, 50, &got, &st), "retrieve");
        lat[i] = (wall_s() - t0) * 1e6;
        index_hits += (uint32_t)st.used_index;
        considered += st.items_considered;
    }
    qsort(lat, RET_QUERIES, sizeof lat[0], cmp_double);
    printf("# retrieve: %u hits in the last answer, %.0f items considered per query on average, "
           "slowest query %.0f us\n", got, (double)considered / RET_QUERIES, lat[RET_QUERIES - 1]);
    printf("retrieve_top50_p50_us: %.1f us\n", percentile(lat, RET_QUERIES, 0.50));
    printf("retrieve_top50_p99_us: %.1f us\n", percentile(lat, RET_QUERIES, 0.99));
    printf("retrieve_index_hit_ratio: %.4f fraction\n", (double)index_hits / RET_QUERIES);

    /* A filter the index's members almost never satisfy: the index cannot prove the answer,
       so the query scans and then rebuilds the (view, EU) list; that rebuild is part of the
       time, and the next plain query pays nothing for it. */
    q.rank_kind = TIDAL_QUERY_SIGNAL;
    q.rank_index = SIG_VIEW;
    where.key = "format";
    where.value = "live";
    q.where = &where;
    q.where_count = 1;
    printf("retrieve_where_rare_top50_us: %.1f us\n",
           ret_time_query(db, &q, RET_SCAN_RUNS, &index_hits, &got));
    printf("# retrieve: WHERE format=live returned %u hits, %u of %u runs from the index\n",
           got, index_hits, RET_SCAN_RUNS);
    ret_profile(db, &clk, &rng, lat);
    free(lat);
    tidal_db_close(db);
}

/* ---- 5. bytes: state per item ---------------------------------------------------------- */

#define BYTES_ITEMS 1000000u

/* Resident bytes of this process (/proc/self/statm), or -1 where there is none. */
static double rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    int ok;
    if (!f) return -1;
    ok = fscanf(f, "%lu %lu", &size, &resident) == 2;
    fclose(f);
    return ok ? (double)resident * (double)sysconf(_SC_PAGESIZE) : -1;
}

static void section_bytes(void) {
    tidal_env env;
    bench_clock clk;
    double rss0, rss1;
    tidal_db *db;
#ifdef __GLIBC__
    malloc_trim(0); /* memory earlier sections freed would otherwise hide part of the growth */
#endif
    rss0 = rss_bytes();
    db = bench_open(&env, &clk, 5);
    tidal_signal s;
    tidal_db_stats st;
    uint64_t rng = UINT64_C(0x62797465);
    uint32_t i, k;
    printf("# bytes: fresh db, %u items x (3 views + 1 like) over the last day, no users or "
           "cohorts; bytes_state counts requested bytes (no malloc overhead)\n", BYTES_ITEMS);
    memset(&s, 0, sizeof s);
    s.weight = 1.0;
    for (i = 1; i <= BYTES_ITEMS; i++) {
        s.item = i;
        for (k = 0; k < 4; k++) {
            s.type = k < 3 ? SIG_VIEW : SIG_LIKE;
            s.time_ns = BENCH_NOW_NS - (int64_t)(splitmix64(&rng) % (uint64_t)BENCH_DAY_NS);
            check(db, tidal_signal_write(db, &s, NULL), "bytes write");
        }
    }
    tidal_db_stats_get(db, &st);
    printf("bytes_per_item: %.1f bytes\n", (double)st.bytes_state / (double)BYTES_ITEMS);
    rss1 = rss_bytes();
    /* Allocator overhead included. Without glibc's malloc_trim, memory an earlier section
       freed and malloc kept can hide part of the growth: `bench_core bytes` alone is clean. */
    if (rss0 < 0 || rss1 < 0) printf("rss_bytes_per_item: n/a (no /proc/self/statm)\n");
    else printf("rss_bytes_per_item: %.1f bytes\n", (rss1 - rss0) / (double)BYTES_ITEMS);
    tidal_db_close(db);
}

/* ---- 6. blake3 ------------------------------------------------------------------------- */

#define B3_BYTES ((size_t)64 << 20)
#define B3_RUNS 5
#define B3_FILE "/tmp/tidal_bench_blake3.bin"

static void hex32(const uint8_t d[32], char out[65]) {
    int i;
    for (i = 0; i < 32; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* Runs `b3sum --num-threads 1 --no-names B3_FILE`, returns its wall time in seconds and its
   output's first line in out (the hex digest), or a negative time on failure. */
static double b3sum_run(char *out, size_t cap) {
    int p[2], status = 0;
    pid_t pid;
    double t0 = wall_s(), t1;
    size_t n = 0;
    if (pipe(p) != 0) return -1;
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execlp("b3sum", "b3sum", "--num-threads", "1", "--no-names", B3_FILE, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    for (;;) {
        ssize_t r = read(p[0], out + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        n += (size_t)r;
        if (n == cap - 1) break;
    }
    close(p[0]);
    waitpid(pid, &status, 0);
    t1 = wall_s();
    out[n] = 0;
    out[strcspn(out, "\r\n")] = 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? t1 - t0 : -1;
}

static void section_blake3(void) {
    uint8_t *buf = (uint8_t *)malloc(B3_BYTES), digest[32];
    char hex[65];
    uint64_t rng = UINT64_C(0x626c616b);
    double best = 1e30;
    size_t i;
    int run;
    if (!buf) die("blake3", "out of memory");
    printf("# blake3: %zu MiB of pseudo-random bytes, best of %d; MB = 1e6 bytes\n",
           B3_BYTES >> 20, B3_RUNS);
    for (i = 0; i < B3_BYTES / 8; i++) {
        uint64_t x = splitmix64(&rng);
        memcpy(buf + 8 * i, &x, 8);
    }
    for (run = 0; run < B3_RUNS; run++) {
        double t0 = wall_s(), t;
        tidal_blake3(buf, B3_BYTES, digest);
        t = wall_s() - t0;
        if (t < best) best = t;
    }
    hex32(digest, hex);
    printf("blake3_mb_per_s: %.0f MB/s\n", (double)B3_BYTES / best / 1e6);
    if (!path_has("b3sum")) {
        printf("b3sum_1thread_mb_per_s: n/a (b3sum not installed)\n");
    } else {
        FILE *f = fopen(B3_FILE, "wb");
        char out[128];
        int ok = f && fwrite(buf, 1, B3_BYTES, f) == B3_BYTES;
        if (f && fclose(f) != 0) ok = 0;
        best = 1e30;
        for (run = 0; ok && run < B3_RUNS; run++) {
            double t = b3sum_run(out, sizeof out);
            if (t < 0) ok = 0;
            else if (t < best) best = t;
        }
        remove(B3_FILE);
        if (!ok) {
            printf("b3sum_1thread_mb_per_s: n/a (b3sum failed)\n");
        } else {
            /* Includes process start and reading the file from the page cache. */
            printf("# b3sum: digest %s tidal_blake3 (%.16s...); time includes process start\n",
                   strcmp(out, hex) ? "DIFFERS from" : "matches", hex);
            printf("b3sum_1thread_mb_per_s: %.0f MB/s\n", (double)B3_BYTES / best / 1e6);
        }
    }
    free(buf);
}

/* ---- main ------------------------------------------------------------------------------ */


static const bench_section sections[] = {
    {"apply", section_apply},       {"hot", section_hot},     {"redis", section_redis},
    {"retrieve", section_retrieve}, {"bytes", section_bytes}, {"blake3", section_blake3},
};
#define N_SECTIONS (sizeof sections / sizeof sections[0])

int main(int argc, char **argv) {
    int want[N_SECTIONS];
    size_t k;
    double t0 = wall_s();
    bench_select(argc, argv, sections, N_SECTIONS, want);
    printf("# bench_core: tidal %s\n", TIDAL_VERSION_STRING);
    for (k = 0; k < N_SECTIONS; k++)
        if (want[k]) sections[k].run();
    printf("# bench_core: %.1f s in all\n", wall_s() - t0);
    return 0;
}
