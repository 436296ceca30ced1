/* cluster.c - `make cluster`: the acceptance run on real processes, narrated. Starts 3
   regions x 2 shards of tidald (build/tidald, or $TIDALD) on 127.0.0.1 with free ports and
   a temporary directory, then: load through RESP from several client connections, kill -9
   of a shard leader and the failover (timed), ap-south cut off with CUT on every node,
   writes on both sides, HEAL, equal digests, a tenant move (MOVE), a clean shutdown
   (SIGTERM, exit 0) and a scan of the data files (examples/cluster_scenario.h says what
   each step checks). Every process it started is stopped by its pid at the end, also on
   failure (atexit, SIGINT/SIGTERM/SIGHUP handlers and a 170 s alarm). Exit 0 when every
   check passed. Usage: cluster [SEED]   (TP_KEEP=1 keeps the temporary directory) */
#define _POSIX_C_SOURCE 200809L
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidald_proc.h"
#include "cluster_scenario.h"

int main(int argc, char **argv) {
    cs_opts o;
    cs_figures f;
    int failed;
    memset(&o, 0, sizeof o);
    o.seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
    o.narrate = 1;
    tp_guard("cluster", 170);
    printf("tidal cluster: 6 tidald processes on 127.0.0.1 (seed %llu; rerun: build/cluster "
           "%llu)\n", (unsigned long long)o.seed, (unsigned long long)o.seed);
    failed = cs_run(&o, &f);
    printf("== figures\n  failover_ms %.0f (kill -9 -> first acknowledged write on that shard)\n"
           "  heal_ms %.0f (HEAL -> equal digests)\n  move_ms %.0f (MOVE -> DONE everywhere)\n"
           "  writes %llu acknowledged, %llu tries retried with their keys\n  total %.1f s\n",
           f.failover_ms, f.heal_ms, f.move_ms, (unsigned long long)f.acked,
           (unsigned long long)f.retried, f.total_s);
    printf("%s\n", failed ? "cluster: FAILED (see above)" : "cluster: every check passed");
    return failed ? 1 : 0;
}
