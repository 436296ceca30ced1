/* bench_resp.c - pipelined writes over RESP into one tidald, beside redis-server.

   resp_ingest_per_s       SIGNAL writes per second into one tidald (build/tidald, or
                           $TIDALD) on loopback: one node, no replication (the peer
                           transport is not in this build), fsync batch (every group
                           commit fdatasynced before its replies), ACK QUORUM (of one).
   redis_zincrby_per_s     ZINCRBY per second into redis-server on loopback with
                           appendonly yes, appendfsync always (each write durable before
                           its reply, as tidald's), when redis-server is installed; n/a
                           otherwise.
   redis_zincrby_nosync_per_s  the same without persistence (no AOF, no RDB).
   resp_vs_redis_ratio     resp_ingest_per_s / redis_zincrby_per_s.
   The same client drives both: BENCH_RESP_N writes (default 200000) over 1000 items and
   1000 users, sent in pipelines of BENCH_RESP_DEPTH (default 1000) commands, each
   pipeline's replies read before the next is sent. Wall clock, one connection. Every
   process started is killed by its pid at the end, also on failure. */
#define BENCH_NAME "bench_resp"
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "bench_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t kid;
static char tmpdir[128];

static void cleanup(void) {
    char cmd[200];
    if (kid > 0) kill(kid, SIGKILL), waitpid(kid, NULL, 0), kid = 0;
    if (tmpdir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        (void)!system(cmd);
    }
}

static int connect_to(int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) die("send", strerror(errno));
        p += k, n -= (size_t)k;
    }
}

/* Reads until count replies came: simple, integer or bulk (ZINCRBY's score; its data line is
   digits, never one of these type bytes). Any error reply is fatal. */
static void read_replies(int fd, size_t count) {
    static char buf[1 << 16];
    size_t lines = 0, n = 0, i;
    while (lines < count) {
        ssize_t k = recv(fd, buf + n, sizeof buf - n, 0);
        if (k <= 0) die("recv", k ? strerror(errno) : "connection closed");
        n += (size_t)k;
        for (i = 0; i < n; i++)
            if (buf[i] == '\n') {
                if (buf[0] == '-') die("error reply", buf);
                lines += buf[0] == '+' || buf[0] == ':' || buf[0] == '$'; /* not a bulk's data */
                memmove(buf, buf + i + 1, n - i - 1);
                n -= i + 1, i = (size_t)-1;
            }
    }
}

/* Writes n commands (fmt with item, user) in pipelines; returns commands per second. */
static double drive(int fd, const char *kind, size_t total, size_t depth) {
    static char frame[1 << 22];
    uint64_t rng = 42;
    size_t sent = 0;
    double t0 = wall_s();
    while (sent < total) {
        size_t n = 0, k, batch = total - sent < depth ? total - sent : depth;
        for (k = 0; k < batch; k++) {
            unsigned item = 1 + pick(splitmix64(&rng), 1000);
            unsigned user = 1 + (unsigned)(sent + k) % 1000;
            char a[16], b[16];
            int la = snprintf(a, sizeof a, "%u", item), lb = snprintf(b, sizeof b, "%u", user);
            if (!strcmp(kind, "tidald"))
                n += (size_t)snprintf(frame + n, sizeof frame - n,
                                      "*6\r\n$6\r\nSIGNAL\r\n$%d\r\n%s\r\n$4\r\nview\r\n$1\r\n1\r\n"
                                      "$4\r\nUSER\r\n$%d\r\n%s\r\n", la, a, lb, b);
            else
                n += (size_t)snprintf(frame + n, sizeof frame - n,
                                      "*4\r\n$7\r\nZINCRBY\r\n$4\r\nfeed\r\n$1\r\n1\r\n"
                                      "$%d\r\n%s\r\n", la, a);
            (void)lb;
        }
        send_all(fd, frame, n);
        read_replies(fd, batch);
        sent += batch;
    }
    return (double)total / (wall_s() - t0);
}

/* Starts argv[0] with argv; for tidald, reads its port from stdout. */
static int start(char *const argv[], int want_port_line) {
    int fds[2], port = 0;
    char out[2048];
    size_t n = 0;
    double until = wall_s() + 30;
    if (pipe(fds)) die("pipe", strerror(errno));
    kid = fork();
    if (kid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    while (wall_s() < until) {
        struct pollfd p;
        char *hit;
        ssize_t k;
        out[n] = '\0';
        if (want_port_line && (hit = strstr(out, "tidald: resp 127.0.0.1:")) &&
            strstr(out, "tidald: ready"))
            port = atoi(hit + 23);
        if (!want_port_line && strstr(out, "eady to accept connections")) port = -1;
        if (port) break;
        p.fd = fds[0], p.events = POLLIN;
        if (poll(&p, 1, 1000) <= 0) continue;
        k = read(fds[0], out + n, sizeof out - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        if (n == sizeof out - 1) n = 0; /* long logs: keep looking at the newest */
    }
    if (!port) die("start", argv[0]);
    return port;
}

static void stop(void) {
    if (kid > 0) kill(kid, SIGTERM), waitpid(kid, NULL, 0), kid = 0;
}

static int have(const char *prog) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

static double redis_run(size_t total, size_t depth, int durable) {
    char port_s[16], dir[200];
    char *argv[16];
    int port = 20000 + (int)(getpid() % 20000), fd, a = 0;
    double r;
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(dir, sizeof dir, "%s/redis%d", tmpdir, durable);
    mkdir(dir, 0700);
    argv[a++] = (char *)"redis-server", argv[a++] = (char *)"--port", argv[a++] = port_s;
    argv[a++] = (char *)"--bind", argv[a++] = (char *)"127.0.0.1";
    argv[a++] = (char *)"--dir", argv[a++] = dir, argv[a++] = (char *)"--save";
    argv[a++] = (char *)"";
    argv[a++] = (char *)"--appendonly", argv[a++] = (char *)(durable ? "yes" : "no");
    argv[a++] = (char *)"--appendfsync", argv[a++] = (char *)"always";
    argv[a] = NULL;
    start(argv, 0);
    if ((fd = connect_to(port)) < 0) die("connect redis-server", strerror(errno));
    r = drive(fd, "redis", total, depth);
    close(fd);
    stop();
    return r;
}

int main(void) {
    const char *tidald = getenv("TIDALD") ? getenv("TIDALD") : "build/tidald";
    size_t total = getenv("BENCH_RESP_N") ? (size_t)atol(getenv("BENCH_RESP_N")) : 200000;
    size_t depth = getenv("BENCH_RESP_DEPTH") ? (size_t)atol(getenv("BENCH_RESP_DEPTH")) : 1000;
    char conf[200], *argv[3];
    FILE *f;
    int fd, port;
    double resp, redis = 0, nosync;
    setvbuf(stdout, NULL, _IOLBF, 0);
    atexit(cleanup);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bench_resp.XXXXXX");
    if (!mkdtemp(tmpdir)) die("mkdtemp", strerror(errno));
    snprintf(conf, sizeof conf, "%s/tidald.conf", tmpdir);
    if (!(f = fopen(conf, "w"))) die("config", strerror(errno));
    fprintf(f, "node 0 0\ntopology 1 1\ngroup 0\ndata %s/data\nresp 127.0.0.1:0\n"
               "token bench 1\ntenant 1 0\nsignal view 3600\nbootstrap yes\n", tmpdir);
    fclose(f);
    argv[0] = (char *)tidald, argv[1] = conf, argv[2] = NULL;
    port = start(argv, 1);
    if ((fd = connect_to(port)) < 0) die("connect tidald", strerror(errno));
    send_all(fd, "AUTH bench\r\n", 12);
    read_replies(fd, 1);
    resp = drive(fd, "tidald", total, depth);
    close(fd);
    stop();
    printf("resp_ingest_per_s: %.0f writes/s (one node, %zu writes, pipelines of %zu)\n", resp,
           total, depth);
    if (!have("redis-server")) {
        printf("redis_zincrby_per_s: n/a (redis-server not installed)\n");
        printf("resp_vs_redis_ratio: n/a\n");
        return 0;
    }
    redis = redis_run(total, depth, 1);
    nosync = redis_run(total, depth, 0);
    printf("redis_zincrby_per_s: %.0f writes/s (appendfsync always)\n", redis);
    printf("redis_zincrby_nosync_per_s: %.0f writes/s (no persistence)\n", nosync);
    printf("resp_vs_redis_ratio: %.2f\n", resp / redis);
    return 0;
}
