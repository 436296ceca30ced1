/* quickstart.c - the first program a new tidal user reads.
   Opens an ephemeral database, declares two signal types, records what a few users did,
   hides an item for one user, and ranks items with RETRIEVE. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"

#include <stdio.h>
#include <string.h>

static void check(tidal_db *db, tidal_result r, const char *what) {
    if (r == TIDAL_OK) return;
    fprintf(stderr, "%s: %s (%s)\n", what, tidal_strerror(r), db ? tidal_errmsg(db) : "");
    exit(1);
}

static void show(tidal_db *db, const char *query) {
    tidal_hit hits[10];
    tidal_query_stats st;
    uint32_t n, i;
    check(db, tidal_retrieve_text(db, query, hits, 10, &n, &st), query);
    printf("%s\n", query);
    for (i = 0; i < n; i++) printf("  item %-4llu score %.4f\n", (unsigned long long)hits[i].item, hits[i].score);
    printf("  (%llu items considered, %s)\n\n", (unsigned long long)st.items_considered,
           st.used_index ? "answered from the top-K index" : "answered by a scan");
}

int main(void) {
    /* Two signal types: views decay with a 1-hour half-life, likes with 1 day. */
    tidal_signal_def sigs[2];
    const char *cohorts[1] = {"locale"};
    tidal_config cfg;
    tidal_db *db;
    tidal_signal s;
    tidal_signal_stats stats;
    int64_t now;
    uint64_t user;

    memset(sigs, 0, sizeof sigs);
    sigs[0].name = "view";
    sigs[0].half_life_s = 3600;
    sigs[1].name = "like";
    sigs[1].half_life_s = 86400;
    memset(&cfg, 0, sizeof cfg); /* zero means defaults; no path means ephemeral */
    cfg.schema.signals = sigs;
    cfg.schema.signal_count = 2;
    cfg.schema.cohort_keys = cohorts;
    cfg.schema.cohort_key_count = 1;
    check(NULL, tidal_db_open(&cfg, &db), "open");

    /* Users carry a locale; their signals are tagged with it for cohort ranking. */
    check(db, tidal_attr_set(db, 0, 1001, "locale", "EU", NULL), "attr");
    check(db, tidal_attr_set(db, 0, 1002, "locale", "US", NULL), "attr");
    check(db, tidal_attr_set(db, 0, 1003, "locale", "EU", NULL), "attr");
    check(db, tidal_attr_set(db, 0, 7, "format", "video", NULL), "attr");
    check(db, tidal_attr_set(db, 0, 8, "format", "video", NULL), "attr");

    /* Each user viewed some items, a while ago or just now. */
    now = tidal_env_posix()->clock_wall_ns(NULL);
    for (user = 1001; user <= 1003; user++) {
        uint64_t item;
        for (item = 1; item <= 9; item++) {
            if ((item * user) % 3 == 0) continue;
            memset(&s, 0, sizeof s);
            s.item = item;
            s.type = 0;
            s.weight = 1.0;
            s.user = user;
            s.time_ns = now - (int64_t)(item * 600) * TIDAL_NS_PER_S; /* older items: older views */
            check(db, tidal_signal_write(db, &s, NULL), "view");
        }
    }
    memset(&s, 0, sizeof s);
    s.item = 8;
    s.type = 1;
    s.weight = 1.0;
    s.user = 1001;
    check(db, tidal_signal_write(db, &s, NULL), "like");

    check(db, tidal_signal_read(db, 0, 2, 0, NULL, 0, &stats), "read");
    printf("item 2: decayed views %.4f, %llu views in the last hour, %llu in 24h\n\n",
           stats.score, (unsigned long long)stats.count[TIDAL_W_1H],
           (unsigned long long)stats.count[TIDAL_W_24H]);

    show(db, "RETRIEVE items SIGNAL view LIMIT 5");
    show(db, "RETRIEVE items SIGNAL view COHORT locale:EU LIMIT 5");
    /* User 1001 hides item 1: it disappears from their ranking, not from others'. */
    check(db, tidal_negative_add(db, 0, 1001, TIDAL_HIDE, 1, NULL), "hide");
    show(db, "RETRIEVE items SIGNAL view FOR USER 1001 LIMIT 5");
    show(db, "RETRIEVE items SIGNAL view WHERE format=video LIMIT 5");
    tidal_db_close(db);
    return 0;
}
