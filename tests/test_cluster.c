/* test_cluster.c - the acceptance run on real processes (issue 14): 3 regions x 2 shards of
   build/tidald (TIDALD overrides the path) on 127.0.0.1, driven over RESP by
   examples/cluster_scenario.h, the same run `make cluster` narrates. Its checks, each a test
   failure here: no acknowledged write lost (after kill -9 of a shard leader, every item's
   count read through the new leader equals its distinct acknowledged keys), keyed retries
   counted once, no QUORUM acknowledgement on the cut-off side, equal digests on every
   shard's replicas after the heal, no hidden item returned by RETRIEVE FOR USER, and after
   MOVE the tenant in no log segment or snapshot of any other member (files scanned after a
   clean shutdown, every node exiting 0). Ports: free ephemeral ones on 127.0.0.1; every
   process it starts is killed by its pid on failure (atexit, signal handlers, a 170 s
   alarm); every wait is for a condition with a bound, and no verdict depends on timing.
   The seed (printed) picks the items and users. */
#define _POSIX_C_SOURCE 200809L
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "../examples/tidald_proc.h"
#include "../examples/cluster_scenario.h"

static void on_fail(void *ctx, const char *what) {
    (void)ctx;
    TT_CHECKF(0, "%s", what);
}

static void t_cluster_acceptance(void) {
    cs_opts o;
    cs_figures f;
    memset(&o, 0, sizeof o);
    o.seed = tt_seed();
    o.fail = on_fail;
    (void)cs_run(&o, &f);
    printf("  failover %.0f ms, heal %.0f ms, move %.0f ms, %llu writes acknowledged "
           "(%llu tries retried), %.1f s\n", f.failover_ms, f.heal_ms, f.move_ms,
           (unsigned long long)f.acked, (unsigned long long)f.retried, f.total_s);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_cluster_acceptance),
};

int main(int argc, char **argv) {
    tp_guard("test_cluster", 170);
    return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases));
}
