/* bench_resp.c - pipelined writes over RESP into tidald, beside redis-server, and a
   3-node tidald cluster on loopback over the TCP transport: replicated ingest, the
   followers' lag, and kill -9 of the leader.

   Sections (all when none is named; the ratios need their two sides in the same run):
     node      resp_node_ingest_per_s: SIGNAL writes per second into one tidald
               (build/tidald, or $TIDALD): one node, no replication, fsync batch (every
               group commit fdatasynced before its replies), ACK QUORUM (of one); one
               connection.
     cluster   three tidald (3 regions x 1 shard: one replica group of three members, one
               per process) whose peer messages go over the TCP transport on 127.0.0.1,
               every message MAC'd. Writes go to the group's leader with ACK QUORUM (the
               default): each write is in the leader's log and one follower's log, both
               fdatasynced, before its +OK, and is shipped to both followers.
               resp_ingest_per_s: from one connection, then from BENCH_RESP_CONNS (default
               4) connections at once (the figure the ratio uses).
               tcp_replication_lag_p99_ms: while the several-connection load runs, a
               probe process asks the leader for its applied-event count about every 2 ms
               (t0 = when it asks) and each follower for its own (METRICS over RESP); a
               follower's sample is the time from t0 to the first of its answers that
               reaches that leader count; p50/p99/max over every sample of both. It
               includes a METRICS round trip through the nodes' loops, so it is an upper
               bound of the apply lag.
     failover  tcp_failover_ms: BENCH_RESP_FAILOVERS (default 5) times: kill -9 of the
               group's leader, then a keyed QUORUM write through a survivor, retried with
               its key after each refusal, until it is acknowledged: wall time from the
               kill to that +OK (p50, max). The killed node is restarted and caught up
               before the next run.
     redis     redis_zincrby_per_s: ZINCRBY per second into redis-server on loopback with
               appendonly yes, appendfsync always (each write durable before its reply:
               the same durability promise as a one-node tidald, a weaker one than
               QUORUM's two copies), from one connection and from BENCH_RESP_CONNS;
               redis_zincrby_nosync_per_s without persistence; n/a when redis-server is
               not installed (apt-get install redis-server).
   resp_vs_redis_ratio = the cluster's several-connection resp_ingest_per_s / redis's with
   as many connections (and the one-connection and one-node ratios beside it).
   The same client drives tidald and redis: BENCH_RESP_N writes (default 200000; the
   cluster's one-connection run takes half) over 1000 items and 1000 users, in pipelines of
   BENCH_RESP_DEPTH (default 1000) commands per connection, each pipeline's replies read
   before that connection sends its next. Wall clock. Every process started is killed by
   its pid at the end, also on failure, and the whole run is bounded (BENCH_RESP_LIMIT_S,
   default 150 s). For a profile: BENCH_RESP_METRICS=1 prints each node's METRICS after the
   cluster's load, BENCH_RESP_KEEP=1 keeps the temporary directory (data, configs). */
#define BENCH_NAME "bench_resp"
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "bench_common.h"
#include "../examples/tidald_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIDS_MAX 8
#define CONNS_MAX 16
#define LAG_MAX 8192

static pid_t kids[KIDS_MAX];
static char tmpdir[128];
static pid_t owner; /* the bench itself: a forked helper never cleans up */

static void kids_kill(void) {
    int i;
    for (i = 0; i < KIDS_MAX; i++)
        if (kids[i] > 0) kill(kids[i], SIGKILL), waitpid(kids[i], NULL, 0), kids[i] = 0;
}

static void cleanup(void) {
    char cmd[200];
    if (getpid() != owner) return;
    kids_kill();
    if (tmpdir[0] && getenv("BENCH_RESP_KEEP")) printf("kept %s\n", tmpdir);
    else if (tmpdir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
        tmpdir[0] = '\0';
    }
}

static void on_alarm(int sig) {
    int i;
    (void)sig;
    for (i = 0; i < KIDS_MAX; i++)
        if (kids[i] > 0) kill(kids[i], SIGKILL);
    (void)!write(2, "bench_resp: over the time limit\n", 32);
    _exit(1); /* the temporary directory stays: its name is in /tmp/bench_resp.* */
}

static void kid_add(pid_t pid) {
    int i;
    for (i = 0; i < KIDS_MAX && kids[i] > 0; i++) {}
    if (i == KIDS_MAX) die("kids", "more than 8 processes");
    kids[i] = pid;
}

static void kid_drop(pid_t pid) {
    int i;
    for (i = 0; i < KIDS_MAX; i++)
        if (kids[i] == pid) kids[i] = 0;
}

static int connect_to(int port) {
    struct sockaddr_in a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) die("send", strerror(errno));
        p += k, n -= (size_t)k;
    }
}

/* A client connection: its unread input. */
typedef struct conn {
    int fd;
    char buf[1 << 16];
    size_t n;
    size_t want;   /* replies still expected from the pipeline in flight */
    size_t left;   /* writes not yet sent */
} conn;

/* Counts the whole reply lines in c->buf: simple, integer or bulk (ZINCRBY's score; its data
   line is digits, never one of these type bytes). Any error reply is fatal. */
static void count_lines(conn *c) {
    size_t i, start = 0;
    for (i = 0; i < c->n; i++)
        if (c->buf[i] == '\n') {
            if (c->buf[start] == '-') c->buf[i] = '\0', die("error reply", c->buf + start);
            if (c->want && (c->buf[start] == '+' || c->buf[start] == ':' || c->buf[start] == '$'))
                c->want--;
            start = i + 1;
        }
    memmove(c->buf, c->buf + start, c->n - start);
    c->n -= start;
}

static void conn_recv(conn *c) {
    ssize_t k = recv(c->fd, c->buf + c->n, sizeof c->buf - c->n, 0);
    if (k <= 0) die("recv", k ? strerror(errno) : "connection closed");
    c->n += (size_t)k;
    count_lines(c);
}

/* One whole reply (simple, error, integer or bulk) into out; 0 when the connection ends. */
static int reply(conn *c, char *out, size_t cap) {
    for (;;) {
        char *nl = (char *)memchr(c->buf, '\n', c->n);
        if (nl) {
            size_t line = (size_t)(nl - c->buf) + 1, need = line;
            if (c->buf[0] == '$') {
                long len = atol(c->buf + 1);
                if (len > 0) need += (size_t)len + 2;
            }
            if (need <= c->n) {
                size_t from = c->buf[0] == '$' ? line : 0, len = need - from;
                if (len >= cap) len = cap - 1;
                memcpy(out, c->buf + from, len);
                out[len] = '\0';
                if (c->buf[0] != '$' && len >= 2) out[len - 2] = '\0'; /* the \r\n */
                memmove(c->buf, c->buf + need, c->n - need);
                c->n -= need;
                return 1;
            }
        }
        if (c->n == sizeof c->buf) die("reply", "longer than 64 KiB");
        {
            ssize_t k = recv(c->fd, c->buf + c->n, sizeof c->buf - c->n, 0);
            if (k <= 0) return 0;
            c->n += (size_t)k;
        }
    }
}

static const char *command(conn *c, const char *text) {
    static char out[1 << 16];
    send_all(c->fd, text, strlen(text));
    if (!reply(c, out, sizeof out)) die("command", text);
    return out;
}

static uint64_t metric_value(const char *text, const char *name) {
    const char *p = strstr(text, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

/* Builds one pipeline of batch commands for kind into frame; returns its length. */
static size_t pipeline(char *frame, size_t cap, const char *kind, size_t batch, uint64_t *rng,
                       size_t *user_seq) {
    size_t n = 0, k;
    for (k = 0; k < batch; k++) {
        unsigned item = 1 + pick(splitmix64(rng), 1000);
        unsigned user = 1 + (unsigned)((*user_seq)++ % 1000);
        char a[16], b[16];
        int la = snprintf(a, sizeof a, "%u", item), lb = snprintf(b, sizeof b, "%u", user);
        if (!strcmp(kind, "tidald"))
            n += (size_t)snprintf(frame + n, cap - n,
                                  "*6\r\n$6\r\nSIGNAL\r\n$%d\r\n%s\r\n$4\r\nview\r\n$1\r\n1\r\n"
                                  "$4\r\nUSER\r\n$%d\r\n%s\r\n", la, a, lb, b);
        else
            n += (size_t)snprintf(frame + n, cap - n,
                                  "*4\r\n$7\r\nZINCRBY\r\n$4\r\nfeed\r\n$1\r\n1\r\n"
                                  "$%d\r\n%s\r\n", la, a);
    }
    return n;
}

/* Writes total commands over nc connections to port (each pipelined depth deep, its next
   pipeline sent once the last one's replies are in); returns commands per second. */
static double drive(int port, const char *token, const char *kind, size_t total, size_t depth,
                    int nc) {
    static conn cs[CONNS_MAX];
    static char frame[1 << 22];
    struct pollfd p[CONNS_MAX];
    uint64_t rng = 42;
    size_t user_seq = 0, busy;
    double t0;
    int i;
    if (nc > CONNS_MAX) nc = CONNS_MAX;
    if (depth * 120 > sizeof frame) depth = sizeof frame / 120;
    for (i = 0; i < nc; i++) {
        char line[100];
        conn *c = &cs[i];
        c->n = c->want = 0;
        c->left = total / (size_t)nc + ((size_t)i < total % (size_t)nc);
        if ((c->fd = connect_to(port)) < 0) die("connect", strerror(errno));
        if (token) {
            snprintf(line, sizeof line, "AUTH %s\r\n", token);
            if (strcmp(command(c, line), "+OK")) die("AUTH", token);
        }
    }
    t0 = wall_s();
    do {
        busy = 0;
        for (i = 0; i < nc; i++) {
            conn *c = &cs[i];
            if (!c->want && c->left) {
                size_t batch = c->left < depth ? c->left : depth;
                send_all(c->fd, frame, pipeline(frame, sizeof frame, kind, batch, &rng, &user_seq));
                c->want = batch, c->left -= batch;
            }
            p[i].fd = c->fd, p[i].events = POLLIN, p[i].revents = 0;
            busy += c->want;
        }
        if (!busy) break;
        if (poll(p, (nfds_t)nc, 30000) <= 0) die("poll", "no reply within 30 s");
        for (i = 0; i < nc; i++)
            if (p[i].revents) conn_recv(&cs[i]);
    } while (1);
    t0 = wall_s() - t0;
    for (i = 0; i < nc; i++) close(cs[i].fd);
    return (double)total / t0;
}

/* ---- Processes ---- */

typedef struct proc {
    pid_t pid;
    int out;           /* its stdout */
    char lines[4096];
    size_t n;
    int port;          /* its RESP port */
} proc;

static void proc_spawn(proc *d, char *const argv[]) {
    int fds[2];
    if (pipe(fds)) die("pipe", strerror(errno));
    d->n = 0, d->port = 0;
    d->pid = fork();
    if (d->pid < 0) die("fork", strerror(errno));
    if (d->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    kid_add(d->pid);
    close(fds[1]);
    d->out = fds[0];
}

/* Reads the process's stdout until want shows up (30 s bound); dies otherwise. */
static void proc_wait(proc *d, const char *want) {
    double until = wall_s() + 30;
    while (wall_s() < until) {
        struct pollfd p;
        char *hit;
        ssize_t k;
        d->lines[d->n] = '\0';
        if ((hit = strstr(d->lines, "tidald: resp 127.0.0.1:")) != NULL) d->port = atoi(hit + 23);
        if (strstr(d->lines, want)) return;
        p.fd = d->out, p.events = POLLIN;
        if (poll(&p, 1, 1000) <= 0) continue;
        k = read(d->out, d->lines + d->n, sizeof d->lines - 1 - d->n);
        if (k <= 0) break;
        d->n += (size_t)k;
        if (d->n == sizeof d->lines - 1) { /* long logs: keep the newest half */
            memmove(d->lines, d->lines + d->n / 2, d->n - d->n / 2);
            d->n -= d->n / 2;
        }
    }
    die("start: no line", want);
}

static void proc_stop(proc *d) {
    if (d->pid > 0) kill(d->pid, SIGTERM), waitpid(d->pid, NULL, 0), kid_drop(d->pid);
    if (d->pid > 0) close(d->out);
    d->pid = 0;
}

static void proc_kill9(proc *d) {
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    kid_drop(d->pid);
    close(d->out);
    d->pid = 0;
}

static int have(const char *prog) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* A loopback port free now (examples/tidald_proc.h: bound to 0 and released). */
static int free_port(void) {
    int port = tp_free_port();
    if (!port) die("free port", tp_err);
    return port;
}

static double redis_run(size_t total, size_t depth, int durable, int nc) {
    char port_s[16], dir[200];
    char *argv[16];
    int a = 0;
    proc r;
    double v;
    snprintf(port_s, sizeof port_s, "%d", free_port());
    snprintf(dir, sizeof dir, "%s/redis%d_%d", tmpdir, durable, nc);
    mkdir(dir, 0700);
    argv[a++] = (char *)"redis-server", argv[a++] = (char *)"--port", argv[a++] = port_s;
    argv[a++] = (char *)"--bind", argv[a++] = (char *)"127.0.0.1";
    argv[a++] = (char *)"--dir", argv[a++] = dir, argv[a++] = (char *)"--save";
    argv[a++] = (char *)"";
    argv[a++] = (char *)"--appendonly", argv[a++] = (char *)(durable ? "yes" : "no");
    argv[a++] = (char *)"--appendfsync", argv[a++] = (char *)"always";
    argv[a] = NULL;
    proc_spawn(&r, argv);
    proc_wait(&r, "eady to accept connections");
    v = drive(atoi(port_s), NULL, "redis", total, depth, nc);
    proc_stop(&r);
    return v;
}

/* ---- The cluster ---- */

static proc node[3];
static char conf[3][200];

static void node_start(int i) {
    char *argv[3];
    argv[0] = getenv("TIDALD") ? getenv("TIDALD") : (char *)"build/tidald";
    argv[1] = conf[i], argv[2] = NULL;
    proc_spawn(&node[i], argv);
}

static void cluster_start(void) {
    static const char key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    int port[3], i, j;
    for (i = 0; i < 3; i++) port[i] = free_port();
    for (i = 0; i < 3; i++) {
        FILE *f;
        snprintf(conf[i], sizeof conf[i], "%s/tidald%d.conf", tmpdir, i);
        if (!(f = fopen(conf[i], "w"))) die("config", strerror(errno));
        fprintf(f, "node %d 0\ntopology 3 1\ngroup 0\ndata %s/data%d\nresp 127.0.0.1:0\n"
                   "token bench 1\ntenant 1 0\nsignal view 3600\nbootstrap yes\n"
                   "transport 127.0.0.1:%d\ncluster_key %s\n", i, tmpdir, i, port[i], key);
        for (j = 0; j < 3; j++)
            if (j != i) fprintf(f, "peer %d 0 127.0.0.1:%d\n", j, port[j]);
        fclose(f);
    }
    for (i = 0; i < 3; i++) node_start(i);
    for (i = 0; i < 3; i++) proc_wait(&node[i], "tidald: ready");
}

static conn probe_conn[3];

static void probe_open(int i) {
    conn *c = &probe_conn[i];
    c->n = 0;
    if ((c->fd = connect_to(node[i].port)) < 0) die("connect tidald", strerror(errno));
    if (strcmp(command(c, "AUTH bench\r\n"), "+OK")) die("AUTH", "bench");
}

static uint64_t applied(int i) {
    return metric_value(command(&probe_conn[i], "METRICS\r\n"),
                        "tidald_events_applied_total{group=\"0\"} ");
}

/* The node whose member leads group 0 (waits up to 30 s for one). */
static int leader_of(void) {
    double until = wall_s() + 30;
    while (wall_s() < until) {
        int i;
        for (i = 0; i < 3; i++)
            if (node[i].pid > 0 &&
                metric_value(command(&probe_conn[i], "METRICS\r\n"),
                             "tidald_member_leader{group=\"0\"} ") == 1)
                return i;
        {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL); /* waiting for a condition */
        }
    }
    die("cluster", "no leader within 30 s");
    return -1;
}

/* Waits until every running node applied as much as node l (30 s bound). */
static void catch_up(int l) {
    uint64_t want = applied(l);
    double until = wall_s() + 30;
    int i;
    for (i = 0; i < 3; i++)
        while (node[i].pid > 0 && applied(i) < want) {
            struct timespec ts = {0, 5000000};
            if (wall_s() > until) die("cluster", "a node did not catch up within 30 s");
            nanosleep(&ts, NULL); /* waiting for a condition */
        }
}

static int by_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double quantile(double *v, size_t n, double q) {
    size_t k;
    if (!n) return 0;
    qsort(v, n, sizeof *v, by_double);
    k = (size_t)(q * (double)(n - 1) + 0.5);
    return v[k < n ? k : n - 1];
}

/* The lag probe, in a child process, until stop closes: about every 2 ms it asks the
   leader for its applied-event count (t0: when it asked) and each follower for its own;
   a leader count a follower's reaches gives that follower's lag sample, the time from
   its t0 to the answer that showed it. The lags (ms) go to out. */
static void lag_probe(int l, int stop, int out) {
    static double lag[LAG_MAX];
    static double t0[2][4096];
    static uint64_t want[2][4096];
    size_t n = 0, head[2] = {0, 0}, tail[2] = {0, 0};
    int i;
    for (i = 0; i < 3; i++) probe_open(i);
    for (;;) {
        struct pollfd p;
        double t = wall_s();
        uint64_t a = applied(l);
        int f = 0;
        p.fd = stop, p.events = POLLIN;
        if (poll(&p, 1, 2) != 0) break; /* the parent closed it: the load is over */
        for (i = 0; i < 3; i++) {
            uint64_t got;
            double at;
            if (i == l) continue;
            if (tail[f] - head[f] < 4096) {
                t0[f][tail[f] % 4096] = t, want[f][tail[f] % 4096] = a;
                tail[f]++;
            }
            got = applied(i);
            at = wall_s();
            while (head[f] < tail[f] && want[f][head[f] % 4096] <= got && n < LAG_MAX)
                lag[n++] = (at - t0[f][head[f]++ % 4096]) * 1e3;
            f++;
        }
    }
    if (write(out, lag, n * sizeof *lag) < 0) _exit(1);
    _exit(0);
}

static double replicated_ingest(int l, size_t total, size_t depth, int nc, double *lag_p50,
                                double *lag_p99, double *lag_max, size_t *lag_n) {
    static double lag[LAG_MAX];
    int stop[2], out[2];
    pid_t probe;
    size_t got = 0;
    double v;
    if (!lag_p99) return drive(node[l].port, "bench", "tidald", total, depth, nc);
    if (pipe(stop) || pipe(out)) die("pipe", strerror(errno));
    probe = fork();
    if (probe < 0) die("fork", strerror(errno));
    if (probe == 0) {
        close(stop[1]), close(out[0]);
        lag_probe(l, stop[0], out[1]);
    }
    kid_add(probe);
    close(stop[0]), close(out[1]);
    v = drive(node[l].port, "bench", "tidald", total, depth, nc);
    close(stop[1]);
    for (;;) {
        ssize_t k = read(out[0], (char *)lag + got, sizeof lag - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(out[0]);
    waitpid(probe, NULL, 0);
    kid_drop(probe);
    *lag_n = got / sizeof *lag;
    *lag_p50 = quantile(lag, *lag_n, 0.50);
    *lag_p99 = quantile(lag, *lag_n, 0.99);
    *lag_max = *lag_n ? lag[*lag_n - 1] : 0;
    return v;
}

/* kill -9 of the leader, then a keyed QUORUM write through a survivor until acknowledged.
   Returns the wall ms from the kill to its +OK. */
static double failover_once(int run, int *tries, char *first, size_t cap) {
    int l = leader_of(), s = (l + 1) % 3;
    char line[160], out[512];
    double t_kill, t_ok;
    conn *c = &probe_conn[s];
    close(probe_conn[l].fd);
    proc_kill9(&node[l]);
    t_kill = wall_s();
    *tries = 0;
    first[0] = '\0';
    snprintf(line, sizeof line, "SIGNAL 77 view 1 TIME %lld IDEM fo%d 1 ACK QUORUM\r\n",
             (long long)time(NULL) * 1000000000LL, run);
    for (;;) {
        send_all(c->fd, line, strlen(line));
        if (!reply(c, out, sizeof out)) die("failover", "survivor closed the connection");
        ++*tries;
        if (!strcmp(out, "+OK") || !strcmp(out, "+DUPLICATE")) break;
        if (!first[0]) snprintf(first, cap, "%s", out);
        {
            struct timespec ts = {0, 1000000}; /* the client's pause before a retry */
            nanosleep(&ts, NULL);
        }
        if (wall_s() - t_kill > 30) die("failover: no write within 30 s", out);
    }
    t_ok = wall_s();
    node_start(l); /* back, caught up, before the next run */
    proc_wait(&node[l], "tidald: ready");
    probe_open(l);
    catch_up(s);
    return (t_ok - t_kill) * 1e3;
}

static double node_ingest(size_t total, size_t depth) {
    proc d;
    char cf[200], *argv[3];
    FILE *f;
    double v;
    snprintf(cf, sizeof cf, "%s/one.conf", tmpdir);
    if (!(f = fopen(cf, "w"))) die("config", strerror(errno));
    fprintf(f, "node 0 0\ntopology 1 1\ngroup 0\ndata %s/one\nresp 127.0.0.1:0\n"
               "token bench 1\ntenant 1 0\nsignal view 3600\nbootstrap yes\n", tmpdir);
    fclose(f);
    argv[0] = getenv("TIDALD") ? getenv("TIDALD") : (char *)"build/tidald";
    argv[1] = cf, argv[2] = NULL;
    proc_spawn(&d, argv);
    proc_wait(&d, "tidald: ready");
    v = drive(d.port, "bench", "tidald", total, depth, 1);
    proc_stop(&d);
    return v;
}

static size_t env_size(const char *name, size_t def) {
    const char *v = getenv(name);
    return v && atol(v) > 0 ? (size_t)atol(v) : def;
}

int main(int argc, char **argv) {
    static const char *const names[] = {"node", "cluster", "failover", "redis"};
    size_t total = env_size("BENCH_RESP_N", 200000), depth = env_size("BENCH_RESP_DEPTH", 1000);
    int nc = (int)env_size("BENCH_RESP_CONNS", 4), runs = (int)env_size("BENCH_RESP_FAILOVERS", 5);
    int want[4], a, k, i;
    double one = 0, rep1 = 0, repn = 0, redis1 = 0, redisn = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (k = 0; k < 4; k++) want[k] = argc < 2;
    for (a = 1; a < argc; a++) {
        for (k = 0; k < 4 && strcmp(argv[a], names[k]); k++) {}
        if (k == 4) {
            fprintf(stderr, "usage: %s [node|cluster|failover|redis]...\n", argv[0]);
            return 2;
        }
        want[k] = 1;
    }
    if (nc > CONNS_MAX) nc = CONNS_MAX;
    owner = getpid();
    atexit(cleanup);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)env_size("BENCH_RESP_LIMIT_S", 150));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bench_resp.XXXXXX");
    if (!mkdtemp(tmpdir)) die("mkdtemp", strerror(errno));
    if (want[0]) {
        one = node_ingest(total, depth);
        printf("resp_node_ingest_per_s: %.0f writes/s (one node, no replication, %zu writes, "
               "one connection, pipelines of %zu)\n", one, total, depth);
    }
    if (want[1] || want[2]) {
        cluster_start();
        for (i = 0; i < 3; i++) probe_open(i);
    }
    if (want[1]) {
        double p50 = 0, p99 = 0, mx = 0;
        size_t nlag = 0;
        int l = leader_of();
        rep1 = replicated_ingest(l, total / 2, depth, 1, NULL, NULL, NULL, NULL);
        printf("resp_ingest_per_s: %.0f writes/s (3 nodes, ACK QUORUM into the leader, %zu writes, "
               "one connection, pipelines of %zu)\n", rep1, total / 2, depth);
        repn = replicated_ingest(l, total, depth, nc, &p50, &p99, &mx, &nlag);
        printf("resp_ingest_per_s: %.0f writes/s (3 nodes, ACK QUORUM into the leader, %zu writes, "
               "%d connections, pipelines of %zu each)\n", repn, total, nc, depth);
        printf("tcp_replication_lag_p99_ms: %.2f (p50 %.2f, max %.2f; %zu samples under the "
               "%d-connection load)\n", p99, p50, mx, nlag, nc);
        catch_up(l);
        if (getenv("BENCH_RESP_METRICS")) /* where the time went, for a profile */
            for (i = 0; i < 3; i++)
                printf("node %d%s:\n%s", i, i == l ? " (leader)" : "",
                       command(&probe_conn[i], "METRICS\r\n"));
    }
    if (want[2]) {
        double ms[64];
        int n = runs < 64 ? runs : 64;
        for (i = 0; i < n; i++) {
            char first[600];
            int tries;
            ms[i] = failover_once(i, &tries, first, sizeof first);
            printf("  failover %d: %.0f ms, %d tries (first refusal: %s)\n", i + 1, ms[i], tries,
                   first[0] ? first : "none");
        }
        printf("tcp_failover_ms: p50 %.0f, max %.0f (%d runs: kill -9 of the leader to a keyed "
               "QUORUM write acknowledged through a survivor)\n", quantile(ms, (size_t)n, 0.5),
               quantile(ms, (size_t)n, 1.0), n);
    }
    if (want[1] || want[2])
        for (i = 0; i < 3; i++) close(probe_conn[i].fd), proc_stop(&node[i]);
    if (!want[3]) return 0;
    if (!have("redis-server")) {
        printf("redis_zincrby_per_s: n/a (redis-server not installed)\n");
        printf("resp_vs_redis_ratio: n/a\n");
        return 0;
    }
    redis1 = redis_run(total, depth, 1, 1);
    redisn = redis_run(total, depth, 1, nc);
    printf("redis_zincrby_per_s: %.0f writes/s (appendfsync always, one connection), %.0f "
           "(%d connections)\n", redis1, redisn, nc);
    printf("redis_zincrby_nosync_per_s: %.0f writes/s (no persistence, one connection)\n",
           redis_run(total, depth, 0, 1));
    if (repn > 0)
        printf("resp_vs_redis_ratio: %.2f (3 nodes QUORUM, %d connections each; one connection "
               "%.2f)\n", repn / redisn, nc, rep1 / redis1);
    if (one > 0)
        printf("resp_node_vs_redis_ratio: %.2f (one node, one connection)\n", one / redis1);
    return 0;
}
