/* test_first_lock.c - one handle per database directory (issue 11 point 1, DESIGN 4.3):
   a second open of a directory, from this process or another, fails with TIDAL_ERR_LOCKED
   naming the path (and the holder's pid when known); a holder killed with SIGKILL never
   blocks a later open; the simulator's disk keeps the same rule per disk and drops its
   locks at a crash. Real directories under $TMPDIR (default /tmp) for the POSIX env. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "temp_dir.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define WRITES 1000          /* per handle: the reproduction */
#define CHILD_WRITES 300     /* acknowledged by the child before it is killed */
#define CHILD_WAIT_MS 60000  /* the longest the parent waits for the child's word */

/* ---- fixture: a schema with one permanent signal, so counts are exact ---- */

typedef struct fx {
    tidal_signal_def sig;
    tidal_config cfg;
    char dir[256];
} fx;

static void fx_config(fx *f, const char *path, const tidal_env *env) {
    memset(&f->sig, 0, sizeof f->sig);
    f->sig.name = "buy";
    f->sig.permanent = 1;
    memset(&f->cfg, 0, sizeof f->cfg);
    f->cfg.path = path;
    f->cfg.env = env;
    f->cfg.schema.signals = &f->sig;
    f->cfg.schema.signal_count = 1;
}

/* A fresh directory under $TMPDIR; 0 if it cannot be made. */
static int temp_dir(char *out, size_t cap) { return temp_dir_make("tidal_lock_", out, cap); }

/* One durable signal (weight 1 on item 1): returns 1 when it was acknowledged. */
static int write_one(tidal_db *db) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.item = 1;
    s.weight = 1;
    return tidal_signal_write(db, &s, NULL) == TIDAL_OK;
}

/* The all-time count of item 1, or -1 if unreadable. */
static long long count_of(tidal_db *db) {
    tidal_signal_stats st;
    memset(&st, 0, sizeof st);
    if (tidal_signal_read(db, 0, 1, 0, NULL, 0, &st) != TIDAL_OK) return -1;
    return (long long)st.count[TIDAL_W_ALL];
}

/* Opens cfg and returns the count it sees (-1 if the open fails; msg says why). */
static long long reopen_count(const tidal_config *cfg) {
    tidal_db *db = NULL;
    char msg[512];
    long long n;
    tidal_result r = tidal_db_open_msg(cfg, &db, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "reopen: %s: %s", tidal_strerror(r), msg);
    if (r != TIDAL_OK) return -1;
    n = count_of(db);
    tidal_db_close(db);
    return n;
}

/* ---- two handles in one process (issue 11 point 1, first half) ---- */

/* The reproduction: two handles on one directory, each acknowledging 1,000 durable
   writes. Before the lock the second open succeeded and a reopen saw only 1,000 of the
   2,000 acknowledged writes. Now the second open is refused and every acknowledged write
   is there after a reopen. */
static void t_two_handles_one_process(void) {
    fx f;
    tidal_db *a = NULL, *b = NULL;
    char msg[512];
    tidal_result r;
    long long acked = 0;
    int i;
    if (!temp_dir(f.dir, sizeof f.dir)) {
        TT_CHECKF(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    fx_config(&f, f.dir, NULL);
    TT_EQ_INT(tidal_db_open(&f.cfg, &a), TIDAL_OK);
    msg[0] = 0;
    r = tidal_db_open_msg(&f.cfg, &b, msg, sizeof msg);
    TT_EQ_INT(r, TIDAL_ERR_LOCKED);
    TT_CHECKF(strstr(msg, f.dir) != NULL, "the message names the path: '%s'", msg);
    TT_CHECKF(r != TIDAL_OK || b != NULL, "a refused open gives no handle");
    {
        char pid[32];
        snprintf(pid, sizeof pid, "pid %ld", (long)getpid()); /* the holder is this process */
        TT_CHECKF(strstr(msg, pid) != NULL, "the message names the holder's pid: '%s'", msg);
    }
    for (i = 0; i < WRITES && a; i++) acked += write_one(a);
    for (i = 0; i < WRITES && b; i++) acked += write_one(b); /* only if the lock failed */
    TT_EQ_INT(acked, b ? 2 * WRITES : WRITES);
    TT_EQ_INT(count_of(a), WRITES);
    if (b) tidal_db_close(b);
    tidal_db_close(a);
    TT_EQ_INT(reopen_count(&f.cfg), acked); /* the lock is gone with the close */
    temp_dir_remove(f.dir);
}

/* The same directory spelt another way is the same lock (it is on the directory's file). */
static void t_lock_follows_the_directory(void) {
    fx f, g;
    tidal_db *a = NULL, *b = NULL;
    char other[300], msg[512];
    if (!temp_dir(f.dir, sizeof f.dir)) {
        TT_CHECKF(0, "mkdtemp: %s", strerror(errno));
        return;
    }
    snprintf(other, sizeof other, "%s/.", f.dir);
    fx_config(&f, f.dir, NULL);
    fx_config(&g, other, NULL);
    TT_EQ_INT(tidal_db_open(&f.cfg, &a), TIDAL_OK);
    TT_EQ_INT(tidal_db_open_msg(&g.cfg, &b, msg, sizeof msg), TIDAL_ERR_LOCKED);
    TT_CHECKF(strstr(msg, other) != NULL, "names the path it was given: '%s'", msg);
    if (b) tidal_db_close(b);
    tidal_db_close(a);
    b = NULL;
    TT_EQ_INT(tidal_db_open(&g.cfg, &b), TIDAL_OK); /* released by the close */
    if (b) tidal_db_close(b);
    temp_dir_remove(f.dir);
}

/* ---- two processes (issue 11 point 1, second half) ---- */

/* The child: open, acknowledge CHILD_WRITES durable writes, say so on the pipe, then wait
   to be killed (reading a pipe nobody writes to). It never returns. */
static void child_main(const tidal_config *cfg, int say, int hold) {
    tidal_db *db = NULL;
    char line[64], c;
    int i, acked = 0, n;
    if (tidal_db_open(cfg, &db) != TIDAL_OK) {
        n = snprintf(line, sizeof line, "open-failed\n");
        if (write(say, line, (size_t)n) < 0) _exit(3);
        _exit(2);
    }
    for (i = 0; i < CHILD_WRITES; i++) acked += write_one(db);
    n = snprintf(line, sizeof line, "holding %d\n", acked);
    if (write(say, line, (size_t)n) != n) _exit(3);
    while (read(hold, &c, 1) < 0 && errno == EINTR) {} /* until killed (or the parent dies) */
    _exit(0); /* never closes the handle: only SIGKILL ends this holder */
}

/* Reads the child's line within CHILD_WAIT_MS; 0 on timeout, error or end of file. */
static int child_word(int fd, char *buf, size_t cap) {
    size_t n = 0;
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    while (n + 1 < cap) {
        ssize_t got;
        int pr = poll(&p, 1, CHILD_WAIT_MS);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return 0;
        got = read(fd, buf + n, 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        if (buf[n] == '\n') break;
        n++;
    }
    buf[n] = 0;
    return 1;
}

static void t_two_processes(void) {
    fx f;
    int say[2] = {-1, -1}, hold[2] = {-1, -1};
    pid_t child;
    char word[64] = "", msg[512], pid[32];
    int acked = -1, status = 0;
    tidal_db *db = NULL;
    tidal_result r;
    if (!temp_dir(f.dir, sizeof f.dir) || pipe(say) != 0 || pipe(hold) != 0) {
        TT_CHECKF(0, "setup: %s", strerror(errno));
        return;
    }
    fx_config(&f, f.dir, NULL);
    fflush(stdout);
    fflush(stderr);
    child = fork();
    if (child < 0) {
        TT_CHECKF(0, "fork: %s", strerror(errno));
        return;
    }
    if (child == 0) {
        close(say[0]);
        close(hold[1]);
        child_main(&f.cfg, say[1], hold[0]);
    }
    close(say[1]);
    close(hold[0]);
    /* From here on every path kills and reaps the child before returning. */
    if (!child_word(say[0], word, sizeof word) || sscanf(word, "holding %d", &acked) != 1) {
        TT_CHECKF(0, "no word from the child within %d ms (got '%s')", CHILD_WAIT_MS, word);
    } else {
        TT_EQ_INT(acked, CHILD_WRITES);
        r = tidal_db_open_msg(&f.cfg, &db, msg, sizeof msg);
        TT_EQ_INT(r, TIDAL_ERR_LOCKED);
        snprintf(pid, sizeof pid, "pid %ld", (long)child);
        TT_CHECKF(strstr(msg, f.dir) != NULL, "names the path: '%s'", msg);
        TT_CHECKF(strstr(msg, pid) != NULL, "names the child's %s: '%s'", pid, msg);
        if (db) tidal_db_close(db); /* only on the old code: it let two writers in */
        db = NULL;
    }
    kill(child, SIGKILL);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    TT_CHECKF(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child died by SIGKILL");
    close(say[0]);
    close(hold[1]);
    /* The kernel dropped the dead holder's lock: the next open recovers its writes. */
    if (acked >= 0) TT_EQ_INT(reopen_count(&f.cfg), acked);
    temp_dir_remove(f.dir);
}

/* ---- the simulator's disk ---- */

static void t_sim_lock(void) {
    tidal_sim_disk *disk = tidal_sim_disk_new(tt_seed());
    tidal_sim_env e1, e2;
    fx f, g, h;
    tidal_db *a = NULL, *b = NULL, *c = NULL;
    char msg[512];
    int i;
    tidal_sim_env_init(&e1, disk, T0, 1);
    tidal_sim_env_init(&e2, disk, T0, 2); /* a second process on the same machine */
    fx_config(&f, "db", &e1.env);
    fx_config(&g, "db", &e2.env);
    fx_config(&h, "other", &e2.env);
    TT_EQ_INT(tidal_db_open(&f.cfg, &a), TIDAL_OK);
    TT_EQ_INT(tidal_db_open_msg(&g.cfg, &b, msg, sizeof msg), TIDAL_ERR_LOCKED);
    TT_CHECKF(strstr(msg, "db") != NULL, "names the path: '%s'", msg);
    TT_EQ_INT(tidal_db_open_msg(&f.cfg, &b, msg, sizeof msg), TIDAL_ERR_LOCKED); /* same env */
    TT_EQ_INT(tidal_db_open(&h.cfg, &c), TIDAL_OK); /* another directory: its own lock */
    tidal_sim_disk_check(disk);
    for (i = 0; i < 10 && a; i++) TT_CHECK(write_one(a));
    /* Power loss with the handle still open: the crash drops the lock; the old handle's
       close afterwards must not release the lock its successor takes. */
    tidal_sim_disk_crash(disk);
    tidal_sim_disk_restart(disk);
    tidal_sim_disk_check(disk);
    TT_EQ_INT(tidal_db_open(&g.cfg, &b), TIDAL_OK);
    tidal_db_close(a); /* a stale lock value: a no-op */
    a = NULL;
    TT_EQ_INT(tidal_db_open_msg(&f.cfg, &a, msg, sizeof msg), TIDAL_ERR_LOCKED);
    if (b) TT_EQ_INT(count_of(b), 10);
    /* A process restart (restart of a disk that is up) drops locks too. */
    tidal_sim_disk_restart(disk);
    TT_EQ_INT(tidal_db_open(&f.cfg, &a), TIDAL_OK);
    if (b) tidal_db_close(b);
    if (c) tidal_db_close(c);
    if (a) tidal_db_close(a);
    b = NULL;
    TT_EQ_INT(tidal_db_open(&g.cfg, &b), TIDAL_OK); /* a normal close released it */
    if (b) tidal_db_close(b);
    tidal_sim_disk_check(disk);
    tidal_sim_disk_free(disk);
}

/* A crash armed at the lock itself (the first operations of open): the open fails with a
   message, and the next open after the restart succeeds. */
static void t_sim_lock_faults(void) {
    tidal_sim_disk *disk = tidal_sim_disk_new(tt_seed());
    tidal_sim_env e;
    fx f;
    tidal_db *a = NULL;
    char msg[512];
    uint64_t k;
    tidal_sim_env_init(&e, disk, T0, 1);
    fx_config(&f, "db", &e.env);
    for (k = 1; k <= 3 && TT_OK(); k++) { /* dir_create, dir_lock, ... */
        tidal_result r;
        tidal_sim_disk_fail_at(disk, k, TIDAL_ERR_IO_WRITE);
        msg[0] = 0;
        r = tidal_db_open_msg(&f.cfg, &a, msg, sizeof msg);
        TT_CHECKF(r != TIDAL_OK, "k=%llu: an injected fault fails the open", (unsigned long long)k);
        TT_CHECKF(strstr(msg, "db") && strstr(msg, "injected fault"), "k=%llu: '%s'",
                  (unsigned long long)k, msg);
        if (a) tidal_db_close(a);
        a = NULL;
        TT_EQ_INT(tidal_db_open(&f.cfg, &a), TIDAL_OK); /* nothing was left locked */
        if (a) tidal_db_close(a);
        a = NULL;
    }
    tidal_sim_disk_free(disk);
}

#if TIDAL_ENV_VERSION >= 2 /* (lets the rest of this file build against the base commit) */
/* An env of version 1 (built against an older tidal.h) still opens, without a lock, as
   TIDAL_ENV_VERSION documents; a version-2 env without dir_lock is refused. */
static void t_env_versions(void) {
    tidal_sim_disk *disk = tidal_sim_disk_new(tt_seed());
    tidal_sim_env e;
    tidal_env v1, nolock;
    fx f;
    tidal_db *a = NULL, *b = NULL;
    char msg[512];
    tidal_sim_env_init(&e, disk, T0, 1);
    v1 = e.env;
    v1.version = 1;
    v1.dir_lock = NULL; /* what an old struct would not have */
    v1.dir_unlock = NULL;
    v1.error_text = NULL;
    nolock = e.env;
    nolock.dir_lock = NULL;
    fx_config(&f, "db", &v1);
    TT_EQ_INT(tidal_db_open(&f.cfg, &a), TIDAL_OK);
    TT_EQ_INT(tidal_db_open(&f.cfg, &b), TIDAL_OK); /* no lock: documented */
    if (b) tidal_db_close(b);
    if (a) tidal_db_close(a);
    fx_config(&f, "db", &nolock);
    TT_EQ_INT(tidal_db_open_msg(&f.cfg, &a, msg, sizeof msg), TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "dir_lock") != NULL, "'%s'", msg);
    fx_config(&f, NULL, &nolock); /* ephemeral: no lock needed, none taken */
    a = NULL;
    TT_EQ_INT(tidal_db_open(&f.cfg, &a), TIDAL_OK);
    TT_EQ_INT(tidal_db_open(&f.cfg, &b), TIDAL_OK);
    if (a) tidal_db_close(a);
    if (b) tidal_db_close(b);
    tidal_sim_disk_free(disk);
}
#endif

static const tt_case tt_cases[] = {
    TT_CASE(t_two_handles_one_process), TT_CASE(t_lock_follows_the_directory),
    TT_CASE(t_two_processes),           TT_CASE(t_sim_lock),
    TT_CASE(t_sim_lock_faults),
#if TIDAL_ENV_VERSION >= 2
    TT_CASE(t_env_versions),
#endif
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
