/* durable.c - a database on disk survives a process that never closes it.
   Run 1 writes signals and exits without tidal_db_close (as a crash would); run 2 reopens
   the same directory, recovers from the write-ahead log, and shows the scores intact.
   Usage: durable [dir]   (default: a fresh directory under /tmp) */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static tidal_signal_def sigs[1];

static tidal_db *open_db(const char *dir) {
    tidal_config cfg;
    tidal_db *db = NULL;
    char msg[256];
    tidal_result r;
    memset(&cfg, 0, sizeof cfg);
    sigs[0].name = "view";
    sigs[0].half_life_s = 3600;
    cfg.schema.signals = sigs;
    cfg.schema.signal_count = 1;
    cfg.path = dir;
    r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
    if (r != TIDAL_OK) {
        fprintf(stderr, "open %s: %s: %s\n", dir, tidal_strerror(r), msg);
        exit(1);
    }
    return db;
}

int main(int argc, char **argv) {
    char dir[256];
    tidal_signal_stats st;
    tidal_db_stats ds;
    tidal_db *db;
    pid_t pid;
    int status;
    uint64_t item;
    int64_t now = tidal_env_posix()->clock_wall_ns(NULL);
    if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
    else snprintf(dir, sizeof dir, "/tmp/tidal-durable-%ld", (long)getpid());

    pid = fork();
    if (pid == 0) { /* run 1: write, then exit without closing */
        db = open_db(dir);
        tidal_db_batch_begin(db); /* 1,000 writes, one fdatasync */
        for (item = 1; item <= 1000; item++) {
            tidal_signal s;
            memset(&s, 0, sizeof s);
            s.item = 1 + item % 10;
            s.weight = 1.0;
            s.time_ns = now;
            tidal_signal_write(db, &s, NULL);
        }
        if (tidal_db_commit(db) != TIDAL_OK) _exit(1);
        printf("run 1: wrote 1000 signals, durable up to lsn %llu; exiting without close\n",
               (unsigned long long)tidal_db_durable_lsn(db));
        fflush(stdout);
        _exit(0); /* no tidal_db_close: the process just ends */
    }
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;

    db = open_db(dir); /* run 2: recover */
    tidal_db_stats_get(db, &ds);
    printf("run 2: recovered %llu events from the log\n", (unsigned long long)ds.recovered_events);
    for (item = 1; item <= 3; item++) {
        tidal_signal_read(db, 0, item, 0, NULL, now, &st);
        printf("  item %llu: %llu views, score %.1f\n", (unsigned long long)item,
               (unsigned long long)st.count[TIDAL_W_ALL], st.score);
    }
    tidal_db_snapshot(db);
    tidal_db_close(db);
    return ds.recovered_events == 1000 ? 0 : 1;
}
