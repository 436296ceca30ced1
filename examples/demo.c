/* demo.c - `make demo`: the acceptance scenario on a simulated 3-region x 5-shard cluster,
   narrated. Clients in us-east, eu-west and ap-south write signals to the leader of each
   item's shard; the followers keep up; a shard's leader crashes and another region takes
   over; ap-south is cut off and both sides keep taking writes while scatter-gather queries
   answer, degraded, around what they cannot reach (the library's own gather, through
   messages, finds and names what is missing); two nodes of one shard crash briefly;
   the partition heals and every replica converges to its shard's ground truth; then tenant
   3 moves from every region to eu-west alone under its own load (copy, seal, switch, old
   copy collected) with no failed read or write. Each line of
   the timeline is stamped with simulated time; the summary table at the end gives the key
   figures, and the program exits 1 if any check of the scenario failed.

   Everything runs in one process in virtual time, deterministically: the same seed gives
   the same run, message for message. Usage: build/demo [seed] (default 2026). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
/* The scenario lives in tests/ because the tests check it: tests/test_uat.c runs this same
   code at full load and turns each of its checks into a test failure. The demo runs it
   once, lighter, with narration on. */
#include "../tests/uat_scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEMO_SEED UINT64_C(2026)
/* Signals per simulated second during the load: the tests' own load, so the figures are
   the acceptance test's. The whole run, every check on, takes about 3.5 s on a 2-core
   machine (lower it to go faster: 10,000 takes 2.9 s, the story stays the same). */
#define DEMO_RATE 25000.0
#define DEMO_FAILS_SHOWN 20
#define DEMO_COLUMNS 100

/* One line of the timeline, indented 2, wrapped at DEMO_COLUMNS at spaces; continuation
   lines start under the text, past the "[  2.013 s] " stamp. */
static void on_line(void *ctx, const char *line) {
    const char *stamp = strstr(line, "] ");
    int indent = stamp ? (int)(stamp - line) + 2 : 0, avail = DEMO_COLUMNS - 2;
    (void)ctx;
    printf("  ");
    for (;;) {
        int len = (int)strlen(line), cut = avail;
        if (len <= avail) break;
        while (cut > 0 && line[cut] != ' ') cut--;
        if (cut == 0) cut = avail; /* no space to break at */
        printf("%.*s\n  %*s", cut, line, indent, "");
        line += cut;
        while (*line == ' ') line++;
        avail = DEMO_COLUMNS - 2 - indent;
    }
    printf("%s\n", line);
}

/* Counts every failed check; prints the first DEMO_FAILS_SHOWN where they happen. */
static void on_fail(void *ctx, const char *file, int line, const char *msg) {
    unsigned *failed = (unsigned *)ctx;
    if (++*failed <= DEMO_FAILS_SHOWN) printf("  !! CHECK FAILED (%s:%d): %s\n", file, line, msg);
    if (*failed == DEMO_FAILS_SHOWN + 1) printf("  !! (more failed checks not shown)\n");
}

/* n with thousands separators, into buf. */
static const char *commas(uint64_t n, char *buf, size_t cap) {
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n), i;
    size_t at = 0;
    for (i = 0; i < len && at + 1 < cap; i++) {
        buf[at++] = digits[i];
        if ((len - i - 1) % 3 == 0 && i < len - 1 && at + 1 < cap) buf[at++] = ',';
    }
    buf[at] = 0;
    return buf;
}

static void summary(const uat_params *p, const uat_result *r, unsigned failed, double cpu_s) {
    char a[32];
    printf("\n  summary (seed %llu, %s signals/s of load; times simulated unless marked)\n",
           (unsigned long long)p->seed, commas((uint64_t)p->rate_per_s, a, sizeof a));
    printf("    %-46s %10.1f ms\n", "replication lag p99 (step 1, each follower)", r->lag_p99_ms);
    printf("    %-46s %10.0f ms\n", "failover (crash -> new leader's first write)", r->failover_ms);
    printf("    %-46s %10.0f ms\n", "reconciliation (heal -> every replica equal)",
           r->reconcile_ms);
    printf("    %-46s %10s\n", "signals written (each acknowledged)",
           commas(r->signals, a, sizeof a));
    printf("    %-46s %10s\n", "hides written", commas(r->hides, a, sizeof a));
    printf("    %-46s %10s\n", "events recorded (distinct, every kind)",
           commas(r->events, a, sizeof a));
    printf("    %-46s %10s\n", "scatter-gather queries answered",
           commas(r->gathers + r->migration_gathers + r->lib_gathers, a, sizeof a));
    printf("    %-46s %10u\n", "  of them through the library's messages", r->lib_gathers);
    printf("    %-46s %10.0f ms\n", "  the longest of those (call -> completion)",
           r->lib_gather_sim_ms_max);
    printf("    %-46s %10.0f ms\n", "tenant move: placement change -> new owner", r->migration_switch_ms);
    printf("    %-46s %10.0f ms\n", "tenant move: placement change -> old copy gone", r->migration_ms);
    printf("    %-46s %10s\n", "writes during the move (none failed)", commas(r->migration_writes, a, sizeof a));
    printf("    %-46s %10.1f s\n", "simulated time of steps 1-5", r->sim_s);
    printf("    %-46s %10.1f s\n", "host CPU time of the whole run (not simulated)", cpu_s);
    if (!failed)
        printf("    %-46s %10s\n", "checks of the scenario", "all passed");
    else
        printf("    %-46s %10u FAILED\n", "checks of the scenario", failed);
}

int main(int argc, char **argv) {
    uat_params p;
    uat_result r;
    unsigned failed = 0;
    clock_t c0;
    double cpu_s;
    memset(&p, 0, sizeof p);
    p.seed = argc > 1 ? strtoull(argv[1], NULL, 0) : DEMO_SEED;
    p.rate_per_s = DEMO_RATE;
    p.fail = on_fail;
    p.fail_ctx = &failed;
    p.narrate = on_line;
    printf("tidal demo: the acceptance scenario on a simulated cluster (seed %llu)\n"
           "  3 regions (us-east, eu-west, ap-south) x 5 shards = 15 nodes in one process, in\n"
           "  simulated time; each shard is replicated in all 3 regions, each node has its own\n"
           "  simulated disk (WAL, fsync). Network: 0.1-2 ms inside a region, 20-150 ms between\n"
           "  regions; heartbeat 100 ms, election timeout 1 s. Every figure below is checked\n"
           "  against an oracle of every write, as tests/test_uat.c does.\n\n",
           (unsigned long long)p.seed);
    c0 = clock();
    (void)uat_run(&p, &r);
    cpu_s = (double)(clock() - c0) / CLOCKS_PER_SEC;
    summary(&p, &r, failed, cpu_s);
    if (failed || r.failures) {
        fprintf(stderr, "demo: %u checks of the scenario failed; repro: build/demo %llu\n",
                failed ? failed : r.failures, (unsigned long long)p.seed);
        return 1;
    }
    return 0;
}
