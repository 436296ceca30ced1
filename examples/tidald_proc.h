/* tidald_proc.h - running tidald processes on loopback and talking RESP to them: what the
   programs that drive real clusters share (examples/cluster.c, `make cluster`, and
   tests/test_cluster.c). Pure C with POSIX, no test harness: each helper returns a status
   and says what went wrong in tp_err; the caller decides whether that is a failure.
   Include after tidal.h (it uses TIDAL_NS_PER_S) with _POSIX_C_SOURCE 200809L.

   Processes: every child started by tp_spawn is recorded by its pid; tp_guard(name, s)
   installs the cleanup (atexit, SIGINT, SIGTERM, SIGHUP and an alarm of s seconds) that
   kills every one of them by its pid with SIGKILL, reaps them and removes tp_dir (the
   scratch directory, when the caller made one with tp_dir_make). Nothing is killed by
   name. Waits are for conditions (a line on the child's stdout, a reply, an exit) with a
   bound; tp_pause_ms is for polling loops only. */
#ifndef TIDALD_PROC_H
#define TIDALD_PROC_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __GNUC__
#define TP__FN static __attribute__((unused))
#else
#define TP__FN static
#endif

#define TP_KIDS_MAX 32

static pid_t tp_kids[TP_KIDS_MAX];
static char tp_dir[512];          /* the scratch directory ("" when none) */
static const char *tp_name = "tidald_proc";
static char tp_err[512];          /* what the last failing helper saw */

TP__FN int64_t tp_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * TIDAL_NS_PER_S + ts.tv_nsec;
}

/* Waits ms milliseconds: between two looks of a polling loop, never before an assertion. */
TP__FN void tp_pause_ms(int ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000, ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

#ifdef __GNUC__
__attribute__((format(printf, 1, 2)))
#endif
TP__FN int tp_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tp_err, sizeof tp_err, fmt, ap);
    va_end(ap);
    return 0;
}

/* SIGKILL to every child still recorded, by its pid, and reaps it. */
TP__FN void tp_kill_all(void) {
    int i;
    for (i = 0; i < TP_KIDS_MAX; i++)
        if (tp_kids[i] > 0) {
            kill(tp_kids[i], SIGKILL);
            (void)waitpid(tp_kids[i], NULL, 0);
            tp_kids[i] = 0;
        }
}

TP__FN void tp__forget(pid_t pid) {
    int i;
    for (i = 0; i < TP_KIDS_MAX; i++)
        if (tp_kids[i] == pid) tp_kids[i] = 0;
}

/* Removes dir and everything under it (the data directories hold subdirectories). */
TP__FN void tp_rm_rf(const char *dir) {
    char cmd[1200];
    if (!dir[0] || strchr(dir, '\'') || strlen(dir) > 1000) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

TP__FN void tp__cleanup(void) {
    tp_kill_all();
    if (tp_dir[0] && !getenv("TP_KEEP")) tp_rm_rf(tp_dir);
}

/* A signal or the alarm: every child killed by pid (async-signal-safe calls only), exit. */
TP__FN void tp__on_fatal(int sig) {
    int i;
    for (i = 0; i < TP_KIDS_MAX; i++)
        if (tp_kids[i] > 0) kill(tp_kids[i], SIGKILL);
    (void)!write(2, tp_name, strlen(tp_name));
    if (sig == SIGALRM) (void)!write(2, ": over its time bound: every tidald killed\n", 43);
    else (void)!write(2, ": interrupted: every tidald killed\n", 35);
    _exit(1);
}

/* Installs the cleanup: atexit, the signals, and an alarm after seconds. */
TP__FN void tp_guard(const char *name, unsigned seconds) {
    struct sigaction sa;
    tp_name = name;
    atexit(tp__cleanup);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tp__on_fatal;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    alarm(seconds);
}

/* A fresh scratch directory "<TMPDIR>/<prefix>XXXXXX" in tp_dir (removed at exit). */
TP__FN int tp_dir_make(const char *prefix) {
    const char *t = getenv("TMPDIR");
    snprintf(tp_dir, sizeof tp_dir, "%s/%sXXXXXX", t && *t ? t : "/tmp", prefix);
    if (!mkdtemp(tp_dir)) {
        tp_fail("mkdtemp %s: %s", tp_dir, strerror(errno));
        tp_dir[0] = '\0';
        return 0;
    }
    return 1;
}

/* A free loopback port: bound to port 0 and released (the kernel does not hand it out
   again at once). 0 when none. */
TP__FN int tp_free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) &&
        !getsockname(fd, (struct sockaddr *)&a, &len))
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    if (!port) tp_fail("no free port: %s", strerror(errno));
    return port;
}

/* ---- tidald processes ---- */

typedef struct tp_daemon {
    pid_t pid;              /* 0 when not running */
    int out;                /* its stdout */
    char lines[8192];       /* what it printed so far (the start lines) */
    size_t n;
    int resp_port, metrics_port;
} tp_daemon;

/* The tidald binary: $TIDALD, else build/tidald. */
TP__FN const char *tp_tidald_path(void) {
    const char *p = getenv("TIDALD");
    return p && *p ? p : "build/tidald";
}

/* Starts exe (tidald) on conf without waiting; its stderr goes to errlog (NULL: ours). */
TP__FN int tp_spawn(tp_daemon *d, const char *exe, const char *conf, const char *errlog) {
    int fds[2], i;
    memset(d, 0, sizeof *d);
    d->out = -1;
    for (i = 0; i < TP_KIDS_MAX && tp_kids[i] > 0; i++) {}
    if (i == TP_KIDS_MAX) return tp_fail("more than %d children", TP_KIDS_MAX);
    if (pipe(fds)) return tp_fail("pipe: %s", strerror(errno));
    d->pid = fork();
    if (d->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (errlog) {
            int e = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (e >= 0) dup2(e, 2), close(e);
        }
        execl(exe, "tidald", conf, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    if (d->pid < 0) {
        close(fds[0]);
        d->pid = 0;
        return tp_fail("fork: %s", strerror(errno));
    }
    tp_kids[i] = d->pid;
    d->out = fds[0];
    return 1;
}

/* Reads the child's stdout until a line starting with want shows up (within timeout). */
TP__FN int tp_wait_line(tp_daemon *d, const char *want, int64_t timeout_ns) {
    int64_t end = tp_now_ns() + timeout_ns;
    while (tp_now_ns() < end) {
        struct pollfd p;
        char *hit;
        ssize_t k;
        d->lines[d->n] = '\0';
        if ((hit = strstr(d->lines, want)) != NULL) {
            sscanf(hit, "tidald: resp 127.0.0.1:%d", &d->resp_port);
            sscanf(hit, "tidald: metrics 127.0.0.1:%d", &d->metrics_port);
            return 1;
        }
        if (d->n + 1 >= sizeof d->lines) { /* keep the newest half */
            memmove(d->lines, d->lines + d->n / 2, d->n - d->n / 2);
            d->n -= d->n / 2;
        }
        p.fd = d->out, p.events = POLLIN;
        if (poll(&p, 1, 200) <= 0) continue;
        k = read(d->out, d->lines + d->n, sizeof d->lines - 1 - d->n);
        if (k <= 0) return tp_fail("tidald %d ended before printing '%s'", (int)d->pid, want);
        d->n += (size_t)k;
    }
    return tp_fail("tidald %d: no '%s' within %lld s", (int)d->pid, want,
                   (long long)(timeout_ns / TIDAL_NS_PER_S));
}

/* The lines a started tidald prints through "ready" (each within 30 s). */
TP__FN int tp_ready(tp_daemon *d) {
    return tp_wait_line(d, "tidald: resp", 30 * TIDAL_NS_PER_S) &&
           tp_wait_line(d, "tidald: ready", 30 * TIDAL_NS_PER_S);
}

/* SIGTERM, then its exit status (-1: it did not exit within 20 s, and was killed). */
TP__FN int tp_stop(tp_daemon *d) {
    int64_t end = tp_now_ns() + 20 * TIDAL_NS_PER_S;
    int st = -1;
    if (d->pid <= 0) return -1;
    kill(d->pid, SIGTERM);
    while (tp_now_ns() < end) {
        pid_t w = waitpid(d->pid, &st, WNOHANG);
        if (w == d->pid) break;
        st = -1;
        tp_pause_ms(5); /* polling for the exit */
    }
    if (st == -1) kill(d->pid, SIGKILL), (void)waitpid(d->pid, NULL, 0);
    tp__forget(d->pid);
    if (d->out >= 0) close(d->out);
    d->pid = 0, d->out = -1;
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* kill -9, reaped. */
TP__FN void tp_kill9(tp_daemon *d) {
    if (d->pid <= 0) return;
    kill(d->pid, SIGKILL);
    (void)waitpid(d->pid, NULL, 0);
    tp__forget(d->pid);
    if (d->out >= 0) close(d->out);
    d->pid = 0, d->out = -1;
}

/* ---- A RESP client ---- */

typedef struct tp_client {
    int fd;
    char buf[1 << 18];
    size_t n, at;
} tp_client;

TP__FN int tp_connect(tp_client *c, int port) {
    struct sockaddr_in a;
    c->n = c->at = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a)) {
        tp_fail("connect 127.0.0.1:%d: %s", port, strerror(errno));
        if (c->fd >= 0) close(c->fd);
        c->fd = -1;
        return 0;
    }
    return 1;
}

TP__FN void tp_disconnect(tp_client *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1, c->n = c->at = 0;
}

/* Sends all n bytes on socket fd. */
TP__FN int tp_send(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t k = fd < 0 ? -1 : send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return tp_fail("send: %s", strerror(errno));
        s += k, n -= (size_t)k;
    }
    return 1;
}

/* Ensures buf[at, at + need) is read, by the deadline end (tp_now_ns's clock). */
TP__FN int tp_need(tp_client *c, size_t need, int64_t end) {
    if (c->at > 0 && c->at == c->n) c->at = c->n = 0;
    if (c->at > sizeof c->buf / 2) { /* slide what is unread to the front */
        memmove(c->buf, c->buf + c->at, c->n - c->at);
        c->n -= c->at, c->at = 0;
    }
    while (c->n - c->at < need) {
        struct pollfd p;
        ssize_t k;
        int64_t left = end - tp_now_ns();
        if (left <= 0) return tp_fail("no reply in time");
        if (c->n == sizeof c->buf) return tp_fail("reply larger than the client's buffer");
        p.fd = c->fd, p.events = POLLIN;
        if (poll(&p, 1, (int)(left / 1000000 + 1)) <= 0) continue;
        k = recv(c->fd, c->buf + c->n, sizeof c->buf - c->n, 0);
        if (k <= 0) return tp_fail("the server closed the connection");
        c->n += (size_t)k;
    }
    return 1;
}

/* One reply line (without its CRLF) into out, by the deadline end. */
TP__FN int tp_line(tp_client *c, char *out, size_t cap, int64_t end) {
    size_t k = 0;
    for (;;) {
        if (!tp_need(c, k + 2, end)) return 0;
        if (c->buf[c->at + k] == '\r' && c->buf[c->at + k + 1] == '\n') break;
        k++;
    }
    if (k >= cap) return tp_fail("reply line longer than %zu", cap);
    memcpy(out, c->buf + c->at, k);
    out[k] = '\0';
    c->at += k + 2;
    return 1;
}

TP__FN int tp__reply(tp_client *c, char *out, size_t cap, int64_t end) {
    char line[600];
    size_t k = 0;
    long n, i;
    if (!tp_line(c, line, sizeof line, end)) return 0;
    if (line[0] == '$') {
        n = atol(line + 1);
        if (n < 0 || (size_t)n + 1 > cap) return tp_fail("bulk reply of %ld bytes", n);
        if (!tp_need(c, (size_t)n + 2, end)) return 0;
        memcpy(out, c->buf + c->at, (size_t)n);
        out[n] = '\0';
        c->at += (size_t)n + 2;
        return 1;
    }
    if (line[0] != '*') {
        snprintf(out, cap, "%s", line);
        return 1;
    }
    n = atol(line + 1);
    out[k++] = '[';
    for (i = 0; i < n; i++) {
        if (i) out[k++] = ' ';
        if (k + 2 >= cap) return tp_fail("array reply too large");
        if (!tp__reply(c, out + k, cap - k - 2, end)) return 0;
        k += strlen(out + k);
    }
    out[k++] = ']';
    out[k] = '\0';
    return 1;
}

/* One whole reply within timeout, flattened: an array as "[" elements separated by " "
   "]", a bulk string as its bytes, others as their line (type byte included). */
TP__FN int tp_reply(tp_client *c, char *out, size_t cap, int64_t timeout_ns) {
    return tp__reply(c, out, cap, tp_now_ns() + timeout_ns);
}

/* A command (printf format; words separated by single spaces) as a RESP array of bulk
   strings, appended to frame (cap bytes at frame, *n used): for pipelines. */
TP__FN int tp_frame(char *frame, size_t cap, size_t *n, const char *fmt, ...) {
    char line[2048], *w, *save = NULL;
    size_t k, argc = 0, at = *n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (k = 0; line[k]; k++) argc += line[k] != ' ' && (k == 0 || line[k - 1] == ' ');
    at += (size_t)snprintf(frame + at, at < cap ? cap - at : 0, "*%zu\r\n", argc);
    for (w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save))
        at += (size_t)snprintf(frame + at, at < cap ? cap - at : 0, "$%zu\r\n%s\r\n",
                               strlen(w), w);
    if (at >= cap) return tp_fail("pipeline frame over %zu bytes", cap);
    *n = at;
    return 1;
}

/* Sends one command and reads its reply (30 s bound). The reply, or "(no reply: why)";
   valid until the next call. */
#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
TP__FN const char *tp_cmd(tp_client *c, const char *fmt, ...) {
    static char out[1 << 16];
    char line[2048], frame[4096];
    size_t n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!tp_frame(frame, sizeof frame, &n, "%s", line) || !tp_send(c->fd, frame, n) ||
        !tp_reply(c, out, sizeof out, 30 * TIDAL_NS_PER_S))
        snprintf(out, sizeof out, "(no reply: %s)", tp_err);
    return out;
}

#endif /* TIDALD_PROC_H */
