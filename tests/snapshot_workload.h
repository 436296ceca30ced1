/* snapshot_workload.h - a deterministic state that touches every part of the snapshot and
   digest encodings (attributes set and deleted, a creator, every signal kind with several
   decay epochs and buckets on every window level, negative weights, cohort aggregates,
   hard negatives added and removed, seen sets, sessions with signals and notes, keyed
   writes, a second tenant), written through the public API only, so the same program
   builds against any version of tidal.h. tests/test_snapshot.c pins its digest, and
   tests/gen_snapshot_fixture.c wrote tests/data/snapshot_v3.snap from it with the v3
   encoder. Include after tidal.h and tidal_sim.h. */
#ifndef TIDAL_SNAPSHOT_WORKLOAD_H
#define TIDAL_SNAPSHOT_WORKLOAD_H

#define SW_T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)

typedef struct sw_schema {
    tidal_signal_def sigs[3];
    const char *cohorts[2];
} sw_schema;

/* The schema of tests/test_durability.c: view (1 h), like (1 day; 24 h + 30 d windows),
   permanent buy; cohort keys locale and tier. */
static void sw_config(sw_schema *s, tidal_config *cfg, const tidal_env *env, const char *path) {
    memset(s, 0, sizeof *s);
    s->sigs[0].name = "view";
    s->sigs[0].half_life_s = 3600;
    s->sigs[1].name = "like";
    s->sigs[1].half_life_s = 86400;
    s->sigs[1].windows = TIDAL_WINDOW_24H | TIDAL_WINDOW_30D;
    s->sigs[2].name = "buy";
    s->sigs[2].permanent = 1;
    s->cohorts[0] = "locale";
    s->cohorts[1] = "tier";
    memset(cfg, 0, sizeof *cfg);
    cfg->env = env;
    cfg->path = path;
    cfg->schema.signals = s->sigs;
    cfg->schema.signal_count = 3;
    cfg->schema.cohort_keys = s->cohorts;
    cfg->schema.cohort_key_count = 2;
}

static uint64_t sw_next(uint64_t *st) {
    uint64_t z = (*st += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Runs the workload; returns the first failing result (TIDAL_OK if none). */
static tidal_result sw_workload(tidal_db *db, uint64_t seed, int n) {
    static const tidal_tag tags[3] = {{"locale", "EU"}, {"tier", "gold"}, {"locale", "US"}};
    static const double weights[4] = {1.0, 1.5, -2.0, 0.3};
    tidal_signal s;
    tidal_result r = TIDAL_OK;
    tidal_id sid = 0;
    uint64_t st = seed;
    int i;
    memset(&s, 0, sizeof s);
    r = tidal_attr_set(db, 0, 9, "locale", "US", NULL);
    if (r == TIDAL_OK) r = tidal_attr_set(db, 0, 3, "creator", "77", NULL);
    if (r == TIDAL_OK) r = tidal_attr_set(db, 0, 3, "gone", "x", NULL);
    if (r == TIDAL_OK) r = tidal_attr_set(db, 0, 3, "gone", NULL, NULL);
    if (r == TIDAL_OK) r = tidal_attr_set(db, 4, 1, "format", "video", NULL);
    for (i = 0; i < n && r == TIDAL_OK; i++) {
        uint64_t x = sw_next(&st);
        memset(&s, 0, sizeof s);
        s.tenant = (x >> 60) == 0 ? 4 : 0;
        s.item = 1 + (x & 31);
        s.type = (uint32_t)((x >> 8) % 3);
        s.weight = weights[(x >> 12) & 3];
        /* Up to 40 days back: several epochs of view (16 h each), every bucket level. */
        s.time_ns = SW_T0 - (int64_t)((x >> 16) % (40u * 86400u)) * TIDAL_NS_PER_S -
                    (int64_t)((x >> 40) % 1000000u);
        if ((x >> 20) & 1) s.user = 100 + ((x >> 21) & 3);
        if (((x >> 24) & 3) == 0) {
            s.cohort = &tags[(x >> 26) & 1];
            s.cohort_count = 1;
        } else if (((x >> 24) & 3) == 1) {
            s.cohort = &tags[1];
            s.cohort_count = 2;
        }
        if (((x >> 28) & 15) == 0) { /* a keyed write: carries its cohort tags */
            s.idem.key = "client";
            s.idem.key_len = 6;
            s.idem.seq = (x >> 32) & 7;
            if (!s.cohort) {
                s.cohort = tags;
                s.cohort_count = 0;
            }
        }
        r = tidal_signal_write(db, &s, NULL);
    }
    if (r == TIDAL_OK) r = tidal_negative_add(db, 0, 9, TIDAL_HIDE, 2, NULL);
    if (r == TIDAL_OK) r = tidal_negative_add(db, 0, 9, TIDAL_MUTE, 77, NULL);
    if (r == TIDAL_OK) r = tidal_negative_add(db, 0, 101, TIDAL_HIDE, 5, NULL);
    if (r == TIDAL_OK) r = tidal_negative_remove(db, 0, 9, TIDAL_HIDE, 2, NULL);
    if (r == TIDAL_OK) r = tidal_session_start(db, 0, 9, 60 * TIDAL_NS_PER_S, &sid);
    if (r == TIDAL_OK) {
        memset(&s, 0, sizeof s);
        s.item = 12;
        s.weight = 1;
        s.time_ns = SW_T0 - 5 * TIDAL_NS_PER_S;
        s.cohort = tags;
        s.cohort_count = 0;
        r = tidal_session_signal(db, sid, 0, &s, NULL);
    }
    if (r == TIDAL_OK) r = tidal_session_note(db, 0, sid, 0, "a note", NULL);
    if (r == TIDAL_OK) r = tidal_session_end(db, 0, sid);
    if (r == TIDAL_OK) r = tidal_session_start(db, 0, 102, 0, &sid);
    if (r == TIDAL_OK) r = tidal_db_commit(db);
    return r;
}

#endif
