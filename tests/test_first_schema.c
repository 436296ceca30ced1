/* test_first_schema.c - a schema that grows (issue 11, point 7; DESIGN 4.3): the stored
   schema is readable and adoptable, appends at the ends reopen with data and digests kept,
   changes and removals are refused naming the field and both values, the stored schema
   survives snapshots and log retirement, the schema event grows a replica group (the
   simulator) and its decoder refuses malformed input. */
#define TIDAL_IMPLEMENTATION
/* A small in-memory copy of recent batches, so shipping reads the log files and a retired
   log really is gone. */
#define TIDAL_SHIP_BYTES_MAX 16384
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)

/* ---- one node on a simulated disk, with a schema the test edits ---------------------- */

typedef struct node {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_signal_def sigs[4];
    const char *ckeys[3];
    tidal_profile_term terms[2][2];
    tidal_profile_def profs[2];
    tidal_config cfg;
    tidal_db *db;
    char msg[256];
} node;

/* view, like (windows 24h+30d), buy (permanent); cohort key locale; profile "hot". */
static void node_schema(node *n) {
    memset(n->sigs, 0, sizeof n->sigs);
    n->sigs[0].name = "view";
    n->sigs[0].half_life_s = 3600;
    n->sigs[1].name = "like";
    n->sigs[1].half_life_s = 86400;
    n->sigs[1].windows = TIDAL_WINDOW_24H | TIDAL_WINDOW_30D;
    n->sigs[2].name = "buy";
    n->sigs[2].permanent = 1;
    n->sigs[3].name = "share"; /* appended by tests that grow the schema */
    n->sigs[3].half_life_s = 7200;
    n->sigs[3].negative = 0;
    n->ckeys[0] = "locale";
    n->ckeys[1] = "tier"; /* appended */
    n->terms[0][0].signal = "view";
    n->terms[0][0].weight = 1.0;
    n->terms[0][1].signal = "like";
    n->terms[0][1].weight = 3.0;
    n->terms[1][0].signal = "share"; /* a profile appended with share */
    n->terms[1][0].weight = 2.0;
    n->profs[0].name = "hot";
    n->profs[0].terms = n->terms[0];
    n->profs[0].term_count = 2;
    n->profs[1].name = "viral";
    n->profs[1].terms = n->terms[1];
    n->profs[1].term_count = 1;
    n->cfg.schema.signals = n->sigs;
    n->cfg.schema.signal_count = 3;
    n->cfg.schema.cohort_keys = n->ckeys;
    n->cfg.schema.cohort_key_count = 1;
    n->cfg.schema.profiles = n->profs;
    n->cfg.schema.profile_count = 1;
}

static void node_init(node *n, uint64_t seed) {
    memset(n, 0, sizeof *n);
    n->disk = tidal_sim_disk_new(seed);
    tidal_sim_env_init(&n->env, n->disk, T0, seed ^ 0x5eed);
    n->cfg.env = &n->env.env;
    n->cfg.path = "db";
    n->cfg.segment_bytes_max = 2048; /* several segments, so snapshots retire some */
    node_schema(n);
}

static tidal_result node_open(node *n) {
    n->msg[0] = 0;
    return tidal_db_open_msg(&n->cfg, &n->db, n->msg, sizeof n->msg);
}

static void node_close(node *n) {
    tidal_db_close(n->db);
    n->db = NULL;
}

static void node_free(node *n) {
    if (n->db) tidal_db_close(n->db);
    tidal_sim_disk_free(n->disk);
}

/* count signals of types [0, types) on items 1..20, some with a locale cohort tag. */
static void write_some(tidal_db *db, int count, uint32_t types, int64_t now) {
    tidal_signal s;
    tidal_tag tag;
    int i;
    tag.key = "locale";
    tag.value = "fr";
    for (i = 0; i < count; i++) {
        memset(&s, 0, sizeof s);
        s.item = 1 + tt_below(20);
        s.type = (uint32_t)tt_below(types);
        s.weight = 1.0 + (double)tt_below(3);
        s.time_ns = now - (int64_t)tt_below(3600) * TIDAL_NS_PER_S;
        s.cohort = &tag;
        s.cohort_count = db->schema.n_ckey && tt_below(2) ? 1 : 0;
        TT_EQ_INT(tidal_signal_write(db, &s, NULL), TIDAL_OK);
    }
}

static void digest(tidal_db *db, uint8_t out[32]) {
    TT_EQ_INT(tidal_db_digest(db, TIDAL_ALL_TENANTS, out), TIDAL_OK);
}

/* The reproduction: append `share` at the end and reopen. Data keeps its digest,
   the new type takes writes, and the grown schema is what the next open finds. */
static void t_schema_append_reopen(void) {
    node n;
    uint8_t before[32], after[32];
    tidal_signal s;
    tidal_signal_stats st;
    tidal_schema got;
    node_init(&n, tt_seed());
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    write_some(n.db, 200, 3, T0);
    TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    write_some(n.db, 50, 3, T0);
    digest(n.db, before);
    node_close(&n);
    n.cfg.schema.signal_count = 4; /* + share */
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    TT_CHECKF(n.db != NULL, "reopen with share appended: %s", n.msg);
    if (!n.db) goto out;
    digest(n.db, after);
    TT_CHECK(!memcmp(before, after, 32)); /* existing data keeps its meaning and digest */
    memset(&s, 0, sizeof s);
    s.item = 7;
    s.type = 3;
    s.weight = 2;
    s.time_ns = T0;
    TT_EQ_INT(tidal_signal_write(n.db, &s, NULL), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(n.db, 0, 7, 3, NULL, T0, &st), TIDAL_OK);
    TT_NEAR(st.score, 2.0, 1e-9);
    digest(n.db, before);
    node_close(&n);
    /* The grown schema is stored: adopting it finds share and the data. */
    n.cfg.schema.signal_count = 0;
    n.cfg.schema.cohort_key_count = 0;
    n.cfg.schema.profile_count = 0;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (!n.db) goto out;
    TT_EQ_INT(tidal_db_schema_get(n.db, &got), TIDAL_OK);
    TT_EQ_INT(got.signal_count, 4);
    TT_CHECK(!strcmp(got.signals[3].name, "share"));
    TT_NEAR(got.signals[3].half_life_s, 7200, 0);
    digest(n.db, after);
    TT_CHECK(!memcmp(before, after, 32));
    node_close(&n);
    /* Dropping share again is a removal: refused, naming it. */
    node_schema(&n);
    TT_EQ_INT(node_open(&n), TIDAL_ERR_SCHEMA);
    TT_CHECKF(strstr(n.msg, "signal 3 (share): stored, not given") != NULL, "message: %s", n.msg);
out:
    node_free(&n);
}

/* Changing anything that exists is TIDAL_ERR_SCHEMA naming the field and both values; a
   refused open writes nothing (the right schema still opens, digest unchanged). */
static void t_schema_change_refused(void) {
    static const struct {
        int what;
        const char *expect;
    } cases[] = {
        {0, "signal 1 (like): half_life_s 86400 stored, 7200 given"},
        {1, "signal 1 (like): windows 0x1a stored, 0x1f given"},
        {2, "signal 2 (buy): permanent 1 stored, 0 given"},
        {3, "signal 0 (view): negative 0 stored, 1 given"},
        {4, "signal 1: name 'like' stored, 'love' given"},
        {5, "signal 0: name 'view' stored, 'like' given"},
        {6, "cohort key 0: 'locale' stored, 'lang' given"},
        {7, "profile 0 (hot): terms[1] like*3 stored, like*4 given"},
        {8, "cohort key 0 (locale): stored, not given"},
        {9, "profile 0 (hot): stored, not given"},
        {10, "profile 0 (hot): 2 terms stored, 1 given"},
    };
    node n;
    uint8_t before[32], after[32];
    size_t i;
    node_init(&n, tt_seed());
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    write_some(n.db, 100, 3, T0);
    digest(n.db, before);
    node_close(&n);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tidal_signal_def swap;
        node_schema(&n);
        switch (cases[i].what) {
        case 0: n.sigs[1].half_life_s = 7200; break;
        case 1: n.sigs[1].windows = 0; break;
        case 2:
            n.sigs[2].permanent = 0;
            n.sigs[2].half_life_s = 60;
            break;
        case 3: n.sigs[0].negative = 1; break;
        case 4:
            n.sigs[1].name = "love";
            n.terms[0][1].signal = "love";
            break;
        case 5:
            swap = n.sigs[0];
            n.sigs[0] = n.sigs[1];
            n.sigs[1] = swap;
            break;
        case 6: n.ckeys[0] = "lang"; break;
        case 7: n.terms[0][1].weight = 4.0; break;
        case 8: n.cfg.schema.cohort_key_count = 0; break;
        case 9: n.cfg.schema.profile_count = 0; break;
        default: n.profs[0].term_count = 1; break;
        }
        TT_EQ_INT(node_open(&n), TIDAL_ERR_SCHEMA);
        TT_CHECKF(strstr(n.msg, cases[i].expect) != NULL, "case %u: message '%s', expected '%s'",
                  (unsigned)i, n.msg, cases[i].expect);
        if (n.db) node_close(&n);
    }
    node_schema(&n);
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (n.db) {
        digest(n.db, after);
        TT_CHECK(!memcmp(before, after, 32));
    }
    node_free(&n);
}

/* A tool that knows nothing opens with signal_count 0 and reads the whole schema back:
   types with half-life, windows, flags; cohort keys; profiles with terms. A new database,
   or one without a path, still needs a schema. */
static void t_schema_get_adopt(void) {
    node n;
    tidal_schema got;
    tidal_config eph;
    tidal_db *e = NULL;
    tidal_hit hits[5];
    uint32_t nh = 0;
    node_init(&n, tt_seed());
    n.cfg.schema.signal_count = 0;
    n.cfg.schema.cohort_key_count = 0;
    n.cfg.schema.profile_count = 0;
    TT_EQ_INT(node_open(&n), TIDAL_ERR_SCHEMA); /* new: nothing to adopt */
    TT_CHECKF(strstr(n.msg, "a new database needs a schema") != NULL, "message: %s", n.msg);
    memset(&eph, 0, sizeof eph);
    TT_EQ_INT(tidal_db_open(&eph, &e), TIDAL_ERR_SCHEMA);
    node_schema(&n);
    n.cfg.schema.signal_count = 4;
    n.cfg.schema.cohort_key_count = 2;
    n.cfg.schema.profile_count = 2;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    write_some(n.db, 50, 4, T0);
    node_close(&n);
    n.cfg.schema.signals = NULL;
    n.cfg.schema.cohort_keys = NULL;
    n.cfg.schema.profiles = NULL;
    n.cfg.schema.signal_count = n.cfg.schema.cohort_key_count = n.cfg.schema.profile_count = 0;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (!n.db) goto out;
    TT_EQ_INT(tidal_db_schema_get(n.db, &got), TIDAL_OK);
    TT_EQ_INT(got.signal_count, 4);
    TT_CHECK(!strcmp(got.signals[0].name, "view") && got.signals[0].half_life_s == 3600 &&
             got.signals[0].windows == 0x1F && !got.signals[0].permanent);
    TT_CHECK(!strcmp(got.signals[1].name, "like") && got.signals[1].half_life_s == 86400 &&
             got.signals[1].windows == (TIDAL_WINDOW_24H | TIDAL_WINDOW_30D | TIDAL_WINDOW_ALL));
    TT_CHECK(!strcmp(got.signals[2].name, "buy") && got.signals[2].permanent &&
             got.signals[2].half_life_s == 0);
    TT_CHECK(!strcmp(got.signals[3].name, "share") && !got.signals[3].negative);
    TT_EQ_INT(got.cohort_key_count, 2);
    TT_CHECK(!strcmp(got.cohort_keys[0], "locale") && !strcmp(got.cohort_keys[1], "tier"));
    TT_EQ_INT(got.profile_count, 2);
    TT_CHECK(!strcmp(got.profiles[0].name, "hot") && got.profiles[0].term_count == 2 &&
             !strcmp(got.profiles[0].terms[1].signal, "like") &&
             got.profiles[0].terms[1].weight == 3.0);
    TT_CHECK(!strcmp(got.profiles[1].name, "viral") &&
             !strcmp(got.profiles[1].terms[0].signal, "share"));
    /* What it read back is a schema: an open with it is an open with the stored one. */
    TT_EQ_INT(tidal_retrieve_text(n.db, "RETRIEVE items PROFILE viral LIMIT 5", hits, 5, &nh, NULL),
              TIDAL_OK);
    {
        tidal_signal_def sigs[4];
        const char *ck[2];
        tidal_profile_def pr[2];
        tidal_profile_term tm[2][2];
        char names[4 + 2 + 2 + 4][TIDAL_NAME_MAX + 1]; /* the handle's strings die with it */
        uint32_t i, j, k = 0;
        memcpy(sigs, got.signals, sizeof sigs);
        for (i = 0; i < 4; i++) sigs[i].name = strcpy(names[k++], got.signals[i].name);
        for (i = 0; i < 2; i++) ck[i] = strcpy(names[k++], got.cohort_keys[i]);
        for (i = 0; i < 2; i++) {
            pr[i] = got.profiles[i];
            pr[i].name = strcpy(names[k++], got.profiles[i].name);
            for (j = 0; j < pr[i].term_count; j++) {
                tm[i][j] = got.profiles[i].terms[j];
                tm[i][j].signal = strcpy(names[k++], got.profiles[i].terms[j].signal);
            }
            pr[i].terms = tm[i];
        }
        node_close(&n);
        n.cfg.schema.signals = sigs;
        n.cfg.schema.signal_count = 4;
        n.cfg.schema.cohort_keys = ck;
        n.cfg.schema.cohort_key_count = 2;
        n.cfg.schema.profiles = pr;
        n.cfg.schema.profile_count = 2;
        TT_EQ_INT(node_open(&n), TIDAL_OK);
        TT_CHECKF(n.db != NULL, "reopen with the schema read back: %s", n.msg);
    }
out:
    node_free(&n);
}

/* The stored schema survives snapshots and log retirement; its file is checksummed, and a
   damaged one fails the open naming the file and offset. */
static void t_schema_survives_retirement(void) {
    node n;
    int i;
    uint8_t before[32], after[32];
    char names[64][128];
    uint32_t k, nn, segs = 0;
    node_init(&n, tt_seed());
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    write_some(n.db, 100, 3, T0);
    node_close(&n);
    n.cfg.schema.signal_count = 4;
    n.cfg.schema.cohort_key_count = 2;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    for (i = 0; i < 4; i++) { /* snapshots retire every segment written under either schema */
        write_some(n.db, 100, 4, T0);
        TT_EQ_INT(tidal_db_snapshot(n.db), TIDAL_OK);
    }
    digest(n.db, before);
    node_close(&n);
    nn = tidal_sim_disk_list(n.disk, "db", names, 64);
    for (k = 0; k < nn && k < 64; k++)
        segs += strcmp(names[k], "wal-0000-0000-0000000000000001.log") == 0;
    TT_EQ_INT(segs, 0); /* the log written under the first schema is gone */
    n.cfg.schema.signal_count = n.cfg.schema.cohort_key_count = n.cfg.schema.profile_count = 0;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (n.db) {
        TT_EQ_INT(n.db->schema.n_sig, 4);
        TT_EQ_INT(n.db->schema.n_ckey, 2);
        digest(n.db, after);
        TT_CHECK(!memcmp(before, after, 32));
        node_close(&n);
    }
    TT_EQ_INT(tidal_sim_disk_flip_bit(n.disk, "db/schema-0000-0000.dat", 8 * 20 + 3), TIDAL_OK);
    TT_EQ_INT(node_open(&n), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(n.msg, "db/schema-0000-0000.dat: offset 0: checksum mismatch") != NULL,
              "message: %s", n.msg);
    node_free(&n);
}

/* A database written before tidal stored its schema (no schema file) opens with its
   schema plus appends: its log, under a prefix of the given schema, is accepted, and the
   schema is stored from then on. Another schema is still refused. */
static void t_schema_legacy_database(void) {
    node n;
    uint8_t before[32], after[32];
    node_init(&n, tt_seed());
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    write_some(n.db, 100, 3, T0);
    digest(n.db, before);
    node_close(&n);
    TT_EQ_INT(n.env.env.file_remove(n.env.env.user, "db/schema-0000-0000.dat"), TIDAL_OK);
    n.cfg.schema.signal_count = n.cfg.schema.cohort_key_count = n.cfg.schema.profile_count = 0;
    TT_EQ_INT(node_open(&n), TIDAL_ERR_SCHEMA);
    TT_CHECKF(strstr(n.msg, "no stored schema") != NULL, "message: %s", n.msg);
    n.cfg.schema.signal_count = 3;
    n.cfg.schema.cohort_key_count = 1;
    n.sigs[1].half_life_s = 100;
    TT_EQ_INT(node_open(&n), TIDAL_ERR_SCHEMA);
    n.sigs[1].half_life_s = 86400;
    n.cfg.schema.signal_count = 4;
    n.cfg.schema.cohort_key_count = 2;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    TT_CHECKF(n.db != NULL, "legacy open with appends: %s", n.msg);
    if (!n.db) goto out;
    digest(n.db, after);
    TT_CHECK(!memcmp(before, after, 32));
    node_close(&n);
    n.cfg.schema.signal_count = 0;
    n.cfg.schema.cohort_key_count = 0;
    n.cfg.schema.profile_count = 0;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (n.db) TT_EQ_INT(n.db->schema.n_sig, 4);
out:
    node_free(&n);
}

/* tidal_db_schema_append on a single durable handle: an event in the log, alone in its
   batch; a retry is a no-op; a change is refused naming the field; after a crash the log
   and the stored schema agree. */
static void t_schema_append_runtime(void) {
    node n;
    uint8_t before[32], after[32];
    tidal_schema grown;
    tidal_db_stats st;
    uint64_t lsn;
    node_init(&n, tt_seed());
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    write_some(n.db, 100, 3, T0);
    grown = n.cfg.schema;
    grown.signal_count = 4;
    grown.profile_count = 2;
    lsn = tidal_db_durable_lsn(n.db);
    TT_EQ_INT(tidal_db_schema_append(n.db, &grown), TIDAL_OK);
    TT_EQ_INT(tidal_db_durable_lsn(n.db), lsn + 1); /* one event, durable */
    TT_EQ_INT(tidal_db_schema_append(n.db, &grown), TIDAL_OK); /* a retry: nothing */
    TT_EQ_INT(tidal_db_durable_lsn(n.db), lsn + 1);
    n.sigs[3].half_life_s = 60;
    TT_EQ_INT(tidal_db_schema_append(n.db, &grown), TIDAL_ERR_SCHEMA);
    TT_CHECKF(strstr(tidal_errmsg(n.db), "signal 3 (share): half_life_s 7200 stored, 60 given"),
              "message: %s", tidal_errmsg(n.db));
    n.sigs[3].half_life_s = 7200;
    grown.signal_count = 2;
    TT_EQ_INT(tidal_db_schema_append(n.db, &grown), TIDAL_ERR_SCHEMA);
    write_some(n.db, 100, 4, T0);
    tidal_db_stats_get(n.db, &st);
    digest(n.db, before);
    tidal_sim_disk_crash(n.disk);
    node_close(&n);
    tidal_sim_disk_restart(n.disk);
    n.cfg.schema.signal_count = 0;
    n.cfg.schema.cohort_key_count = 0;
    n.cfg.schema.profile_count = 0;
    TT_EQ_INT(node_open(&n), TIDAL_OK);
    if (n.db) {
        TT_EQ_INT(n.db->schema.n_sig, 4);
        TT_EQ_INT(n.db->schema.n_prof, 2);
        digest(n.db, after);
        TT_CHECK(!memcmp(before, after, 32)); /* every write was synced: all of it is back */
    }
    node_free(&n);
}

/* An ephemeral handle grows in memory: items written before keep their aggregates, and
   the new type folds into the same items. */
static void t_schema_append_ephemeral(void) {
    node n;
    tidal_config c;
    tidal_db *db = NULL;
    tidal_schema grown;
    tidal_signal s;
    tidal_signal_stats a, b;
    uint32_t i;
    node_init(&n, tt_seed());
    c = n.cfg;
    c.path = NULL;
    c.env = NULL;
    TT_EQ_INT(tidal_db_open(&c, &db), TIDAL_OK);
    if (!db) goto out;
    write_some(db, 300, 3, T0);
    TT_EQ_INT(tidal_signal_read(db, 0, 5, 0, NULL, T0, &a), TIDAL_OK);
    grown = c.schema;
    grown.signal_count = 4;
    TT_EQ_INT(tidal_db_schema_append(db, &grown), TIDAL_OK);
    TT_EQ_INT(tidal_signal_read(db, 0, 5, 0, NULL, T0, &b), TIDAL_OK);
    TT_NEAR(a.score, b.score, 0);
    for (i = 1; i <= 20; i++) {
        memset(&s, 0, sizeof s);
        s.item = i;
        s.type = 3;
        s.weight = 1;
        s.time_ns = T0;
        TT_EQ_INT(tidal_signal_write(db, &s, NULL), TIDAL_OK);
    }
    TT_EQ_INT(tidal_signal_read(db, 0, 5, 3, NULL, T0, &b), TIDAL_OK);
    TT_NEAR(b.score, 1.0, 1e-9);
    tidal_db_close(db);
out:
    node_free(&n);
}

/* ---- the schema event's decoder ------------------------------------------------------- */

/* Encodes a schema event carrying payload into buf; returns its length. */
static size_t schema_event_bytes(uint8_t *buf, const uint8_t *payload, uint32_t len,
                                 uint64_t entity) {
    tidal__event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_SCHEMA;
    ev.id.hi = 1;
    ev.id.lo = 1;
    ev.entity = entity;
    ev.time_ns = T0;
    ev.value = (const char *)payload;
    ev.value_len = len;
    return (size_t)(tidal__event_put(buf, &ev) - buf);
}

static const char *decode(tidal_db *db, const uint8_t *buf, size_t len) {
    tidal__rd r;
    tidal__event ev;
    tidal__rd_init(&r, buf, len);
    return tidal__event_get(db, &r, &ev, NULL, 0);
}

/* Malformed schema events are refused with what is wrong; a valid one that agrees with the
   schema passes, one that changes it is refused. */
static void t_schema_event_decoder(void) {
    node n;
    tidal_config c;
    tidal_db *db = NULL;
    tidal__schemadef s;
    uint8_t payload[TIDAL__SCHEMA_ENC_MAX], bad[TIDAL__SCHEMA_ENC_MAX],
        buf[TIDAL__SCHEMA_ENC_MAX + 128];
    uint32_t plen, i;
    const char *why;
    node_init(&n, tt_seed());
    c = n.cfg;
    c.path = NULL;
    c.env = NULL;
    TT_EQ_INT(tidal_db_open(&c, &db), TIDAL_OK);
    if (!db) goto out;
    tidal__schema_of(db, &s);
    s.n_sig = 4; /* + share */
    TT_CHECK(tidal__sigdef_set(&s.sig[3], &n.sigs[3]) == NULL);
    plen = (uint32_t)(tidal__schema_put(payload, &s) - payload);
    TT_CHECK(decode(db, buf, schema_event_bytes(buf, payload, plen, 4)) == NULL);
    why = decode(db, buf, schema_event_bytes(buf, payload, plen, 3));
    TT_CHECKF(why && strstr(why, "entity is not its signal count"), "%s", why ? why : "accepted");
    for (i = 0; i < plen; i++) { /* every truncation is refused, never read past */
        why = decode(db, buf, schema_event_bytes(buf, payload, i, 4));
        TT_CHECKF(why != NULL, "truncated to %u accepted", i);
    }
    why = decode(db, buf, schema_event_bytes(buf, payload, plen, 4) - 1);
    TT_CHECKF(why && !strcmp(why, "event truncated"), "%s", why ? why : "accepted");
    memcpy(bad, payload, plen);
    bad[0] = 0; /* no signal types */
    why = decode(db, buf, schema_event_bytes(buf, bad, plen, 0));
    TT_CHECKF(why && strstr(why, "zero entity"), "%s", why ? why : "accepted");
    why = decode(db, buf, schema_event_bytes(buf, bad, plen, 4));
    TT_CHECKF(why && strstr(why, "signal count out of range"), "%s", why ? why : "accepted");
    memcpy(bad, payload, plen);
    bad[4] = '!'; /* "view" -> "v!ew" */
    why = decode(db, buf, schema_event_bytes(buf, bad, plen, 4));
    TT_CHECKF(why && strstr(why, "bad signal name"), "%s", why ? why : "accepted");
    memcpy(bad, payload, plen);
    bad[3 + 1 + 4 + 8 + 1] = 4; /* view's flags: unknown bit */
    why = decode(db, buf, schema_event_bytes(buf, bad, plen, 4));
    TT_CHECKF(why && strstr(why, "unknown signal flags"), "%s", why ? why : "accepted");
    memcpy(bad, payload, plen);
    bad[3 + 1 + 4 + 7] = 0xFF; /* view's half-life: NaN */
    why = decode(db, buf, schema_event_bytes(buf, bad, plen, 4));
    TT_CHECKF(why && strstr(why, "half-life"), "%s", why ? why : "accepted");
    memcpy(bad, payload, plen);
    memcpy(bad + 4, "like", 4); /* view -> like: repeats */
    why = decode(db, buf, schema_event_bytes(buf, bad, plen, 4));
    TT_CHECKF(why && strstr(why, "repeated signal name"), "%s", why ? why : "accepted");
    memcpy(bad, payload, plen);
    bad[plen] = 0; /* a byte after the schema */
    why = decode(db, buf, schema_event_bytes(buf, bad, plen + 1, 4));
    TT_CHECKF(why && strstr(why, "bytes after the schema"), "%s", why ? why : "accepted");
    /* A schema that changes ours: view's half-life doubled. */
    s.sig[0].half_life_s = 7200;
    plen = (uint32_t)(tidal__schema_put(payload, &s) - payload);
    why = decode(db, buf, schema_event_bytes(buf, payload, plen, 4));
    TT_CHECKF(why && strstr(why, "a schema only grows"), "%s", why ? why : "accepted");
    /* A length beyond the limit. */
    {
        tidal__event ev;
        size_t len;
        memset(&ev, 0, sizeof ev);
        len = schema_event_bytes(buf, payload, plen, 4);
        tidal__wr_le(buf + 53, TIDAL__SCHEMA_EV_MAX + 1, 4); /* after the fixed fields and entity */
        why = decode(db, buf, len);
        TT_CHECKF(why && strstr(why, "schema event too large"), "%s", why ? why : "accepted");
    }
    tidal_db_close(db);
out:
    node_free(&n);
}

/* ---- crash property with schema appends ------------------------------------------------ */

#define TAP_MAX 2048

/* Every event the handle wrote, encoded, and whether its call was acknowledged. */
typedef struct tap {
    uint8_t *buf;
    size_t len, cap, off[TAP_MAX];
    tidal_event_id id[TAP_MAX];
    uint8_t acked[TAP_MAX];
    uint32_t n, pending_from;
} tap;

static void tap_fn(void *ctx, const struct tidal__event *ev) {
    tap *t = (tap *)ctx;
    size_t need = tidal__event_size(ev);
    if (t->n >= TAP_MAX) return;
    if (t->len + need > t->cap) {
        t->cap = (t->len + need) * 2;
        t->buf = (uint8_t *)realloc(t->buf, t->cap);
    }
    t->off[t->n] = t->len;
    t->id[t->n] = ev->id;
    t->acked[t->n++] = 0;
    t->len = (size_t)(tidal__event_put(t->buf + t->len, ev) - t->buf);
}

static void tap_result(tap *t, tidal_result r) {
    uint32_t i;
    for (i = t->pending_from; r == TIDAL_OK && i < t->n; i++) t->acked[i] = 1;
    t->pending_from = t->n;
}

/* The schema generations a history may reach: 3 types + locale, then share, then tier,
   then share's profile. */
static void gen_schema(node *n, int gen) {
    node_schema(n);
    n->cfg.schema.signal_count = gen >= 1 ? 4 : 3;
    n->cfg.schema.cohort_key_count = gen >= 2 ? 2 : 1;
    n->cfg.schema.profile_count = gen >= 3 ? 2 : 1;
}

static tidal_result tap_open(node *n, tap *t) {
    tidal_result r = node_open(n);
    if (r == TIDAL_OK) {
        n->db->tap = tap_fn;
        n->db->tap_ctx = t;
    }
    return r;
}

/* One random operation; *gen is the largest schema generation asked for so far. */
static void schema_random_op(node *n, tap *t, int *gen) {
    uint64_t op = tt_below(100);
    tidal_result r = TIDAL_OK;
    if (op < 55) {
        tidal_signal s;
        tidal_tag tags[2];
        memset(&s, 0, sizeof s);
        s.item = 1 + tt_below(10);
        s.type = (uint32_t)tt_below(n->db->schema.n_sig);
        s.weight = 1.0 + (double)tt_below(3);
        s.time_ns = T0 - (int64_t)tt_below(3600) * TIDAL_NS_PER_S;
        tags[0].key = "locale";
        tags[0].value = "EU";
        tags[1].key = "tier";
        tags[1].value = "gold";
        s.cohort = tags;
        s.cohort_count = (uint32_t)tt_below(n->db->schema.n_ckey + 1);
        r = tidal_signal_write(n->db, &s, NULL);
    } else if (op < 65) {
        r = tidal_attr_set(n->db, 0, 100 + tt_below(3), "locale", tt_below(2) ? "EU" : "US", NULL);
    } else if (op < 72) {
        r = tidal_db_snapshot(n->db);
    } else if (op < 86 && *gen < 3) { /* grow at run time: an event in the log */
        *gen += 1;
        gen_schema(n, *gen);
        r = tidal_db_schema_append(n->db, &n->cfg.schema);
    } else if (op < 92 && *gen < 3) { /* grow by reopening with the next generation */
        tidal_db_close(n->db);
        n->db = NULL;
        *gen += 1;
        gen_schema(n, *gen);
        r = tap_open(n, t);
    } else {
        r = tidal_db_tick(n->db, 0);
    }
    tap_result(t, r);
}

/* Random histories that grow the schema (at run time and by reopening) with a crash at a
   random storage operation: the recovered database holds every acknowledged event, equals
   a fresh database fed the events it holds, reopens (adopting the stored schema) to the
   same digest, and takes writes of every type it has. */
static void t_schema_crash_property(void) {
    long cases = 2000 * tt_scale(), c;
    for (c = 0; c < cases && TT_OK(); c++) {
        node n;
        tap t;
        int gen = 0;
        uint32_t ops = 5 + (uint32_t)tt_below(30), i;
        uint8_t got[32], truth[32], again[32];
        tidal_config gc;
        tidal_db *g = NULL;
        memset(&t, 0, sizeof t);
        node_init(&n, tt_rand());
        tidal_sim_disk_set_fates(n.disk, (unsigned)tt_below(101), 0);
        TT_EQ_INT(tap_open(&n, &t), TIDAL_OK);
        tidal_sim_disk_crash_at(n.disk, 1 + tt_below(20 + 4 * (uint64_t)ops));
        for (i = 0; i < ops && n.db && !tidal_sim_disk_is_down(n.disk); i++)
            schema_random_op(&n, &t, &gen);
        if (!tidal_sim_disk_is_down(n.disk)) tidal_sim_disk_crash(n.disk);
        if (n.db) tidal_db_close(n.db);
        n.db = NULL;
        tidal_sim_disk_restart(n.disk);
        gen_schema(&n, gen); /* the newest schema asked for: it or a prefix of it is stored */
        TT_EQ_INT(tap_open(&n, &t), TIDAL_OK);
        if (!n.db) {
            printf("  failing case %ld: %s\n", c, n.msg);
            free(t.buf);
            node_free(&n);
            break;
        }
        for (i = 0; i < t.n; i++)
            TT_CHECKF(!t.acked[i] || tidal__event_applied(n.db, t.id[i]),
                      "acknowledged event %u lost", i);
        /* A fresh database with that schema, fed exactly the events recovered. */
        gc = n.cfg;
        gc.path = NULL;
        gc.env = NULL;
        TT_EQ_INT(tidal_db_open(&gc, &g), TIDAL_OK);
        for (i = 0; g && i < t.n; i++) {
            tidal__rd rd;
            tidal__event ev;
            int dup;
            if (!tidal__event_applied(n.db, t.id[i])) continue;
            tidal__rd_init(&rd, t.buf + t.off[i], t.len - t.off[i]);
            TT_CHECK(tidal__event_get(g, &rd, &ev, NULL, 0) == NULL);
            TT_EQ_INT(tidal__apply(g, &ev, &dup), TIDAL_OK);
        }
        digest(n.db, got);
        if (g) digest(g, truth);
        TT_CHECKF(!memcmp(got, truth, 32), "recovered state differs from its events");
        tidal_db_close(g);
        g = NULL;
        TT_EQ_INT(n.db->schema.n_sig, n.cfg.schema.signal_count);
        write_some(n.db, 10, n.db->schema.n_sig, T0); /* every type it has takes writes */
        digest(n.db, got);
        tidal_db_close(n.db);
        n.db = NULL;
        n.cfg.schema.signal_count = n.cfg.schema.cohort_key_count = n.cfg.schema.profile_count = 0;
        TT_EQ_INT(node_open(&n), TIDAL_OK);
        if (n.db) {
            digest(n.db, again);
            TT_CHECK(!memcmp(got, again, 32));
        }
        if (!TT_OK()) printf("  failing case %ld\n", c);
        free(t.buf);
        node_free(&n);
    }
}

/* ---- a replica group on the simulator (tests/replica_group.h) ------------------------ */

#include "replica_group.h"

/* Every live member holds the same state and the grown schema (3 types). */
static void check_converged(cluster *c, uint32_t types) {
    uint8_t d0[32], d[32];
    int i, first = -1;
    for (i = 0; i < NODES; i++) {
        tidal_schema got;
        if (!c->n[i].db) continue;
        TT_EQ_INT(tidal_db_schema_get(c->n[i].db, &got), TIDAL_OK);
        TT_CHECKF(got.signal_count == types, "member %d has %u signal types, not %u", i,
                  got.signal_count, types);
        if (first < 0) {
            first = i;
            digest(c->n[i].db, d0);
            continue;
        }
        digest(c->n[i].db, d);
        TT_CHECKF(!memcmp(d, d0, 32), "member %d's digest differs from member %d's", i, first);
    }
}

/* The leader appends `share` at run time: the schema event reaches every member at the
   same log position, they learn the schema before any batch under it, writes of share
   replicate, and digests agree. A member that was down during the append catches up from
   the log with its old config; a restarted member opened with the old config adopts the
   grown schema; a config that adds to the stored schema in a group is refused. */
static void t_schema_group_append(void) {
    cluster c;
    tidal_schema grown;
    int l, k;
    cluster_init_seg(&c, tt_seed(), 64 * 1024);
    l = leader_of(&c);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    write_some(c.n[l].db, 200, 2, c.now);
    cluster_run(&c, c.now + 1000 * MS);
    k = (l + 2) % NODES; /* a follower is down while the schema grows */
    tidal_sim_net_set_down(c.net, c.refs[k], 1);
    tidal_db_close(c.n[k].db);
    c.n[k].db = NULL;
    grown = c.n[l].cfg.schema;
    grown.signal_count = 3;
    TT_EQ_INT(tidal_db_schema_append(c.n[(l + 1) % NODES].db, &grown), TIDAL_ERR_READ_ONLY);
    TT_EQ_INT(tidal_db_schema_append(c.n[l].db, &grown), TIDAL_OK);
    write_some(c.n[l].db, 300, 3, c.now); /* share among them, at once after the append */
    cluster_run(&c, c.now + 1000 * MS);
    node_start(&c, k); /* old config: learns share from the log */
    cluster_run(&c, c.now + 2000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c, 3);
    /* Restart a follower with the old config: it adopts the stored, grown schema. */
    k = (l + 1) % NODES;
    tidal_db_close(c.n[k].db);
    c.n[k].db = NULL;
    node_start(&c, k);
    if (c.n[k].db) TT_EQ_INT(c.n[k].db->schema.n_sig, 3);
    /* A config that adds to what the group stored: refused, naming the way to grow. */
    tidal_db_close(c.n[k].db);
    c.n[k].db = NULL;
    {
        char msg[256];
        tidal_config cf = c.n[k].cfg;
        tidal_signal_def more[4];
        memcpy(more, c.sigs, sizeof c.sigs);
        memset(&more[3], 0, sizeof more[3]);
        more[3].name = "save";
        more[3].half_life_s = 60;
        cf.schema.signals = more;
        cf.schema.signal_count = 4;
        TT_EQ_INT(tidal_db_open_msg(&cf, &c.n[k].db, msg, sizeof msg), TIDAL_ERR_SCHEMA);
        TT_CHECKF(strstr(msg, "tidal_db_schema_append on the leader") != NULL, "message: %s", msg);
    }
    node_start(&c, k);
    /* The leader fails: the next one writes share, and it replicates. */
    tidal_sim_net_set_down(c.net, c.refs[l], 1);
    tidal_sim_disk_crash(c.n[l].disk);
    tidal_db_close(c.n[l].db);
    c.n[l].db = NULL;
    cluster_run(&c, c.now + 3000 * MS);
    k = leader_of(&c);
    TT_CHECK(k >= 0 && k != l);
    if (k >= 0) write_some(c.n[k].db, 100, 3, c.now);
    tidal_sim_disk_restart(c.n[l].disk);
    node_start(&c, l); /* the old leader, old config: recovers the grown schema */
    cluster_run(&c, c.now + 3000 * MS);
    TT_CHECK(caught_up(&c));
    check_converged(&c, 3);
out:
    cluster_free(&c);
}

/* A member that lost its disk and comes back with the old config gets the state by
   transfer (the log holding the schema event is retired): the transfer carries the
   schema, so it learns share before installing state that uses it. */
static void t_schema_group_state_transfer(void) {
    cluster c;
    tidal_schema grown;
    tidal_node_status st;
    int i;
    cluster_init_seg(&c, tt_seed(), 4096);
    write_some(c.n[0].db, 300, 2, c.now);
    cluster_run(&c, c.now + 1000 * MS);
    grown = c.n[0].cfg.schema;
    grown.signal_count = 3;
    TT_EQ_INT(tidal_db_schema_append(c.n[0].db, &grown), TIDAL_OK);
    for (i = 0; i < 3; i++) { /* snapshots retire the segments below, the schema event's too */
        write_some(c.n[0].db, 200, 3, c.now);
        cluster_run(&c, c.now + 500 * MS);
        TT_EQ_INT(tidal_db_snapshot(c.n[0].db), TIDAL_OK);
    }
    tidal_sim_disk_crash(c.n[2].disk); /* region 2 loses everything */
    tidal_sim_net_set_down(c.net, c.refs[2], 1);
    tidal_db_close(c.n[2].db);
    c.n[2].db = NULL;
    tidal_sim_disk_wipe(c.n[2].disk);
    if (tidal_sim_disk_is_down(c.n[2].disk)) tidal_sim_disk_restart(c.n[2].disk);
    node_start(&c, 2); /* a new disk, the old config */
    write_some(c.n[0].db, 100, 3, c.now);
    cluster_run(&c, c.now + 3000 * MS);
    TT_EQ_INT(tidal_node_status_get(c.n[0].db, &st), TIDAL_OK);
    TT_CHECK(st.needs_snapshot); /* the log was gone: the state went instead */
    TT_CHECK(caught_up(&c));
    check_converged(&c, 3);
    if (c.n[2].db) { /* what it learned survives its restart, old config again */
        uint8_t a[32], b[32];
        digest(c.n[2].db, a);
        tidal_db_close(c.n[2].db);
        c.n[2].db = NULL;
        node_start(&c, 2);
        if (c.n[2].db) {
            digest(c.n[2].db, b);
            TT_CHECK(!memcmp(a, b, 32));
            TT_EQ_INT(c.n[2].db->schema.n_sig, 3);
        }
    }
    cluster_free(&c);
}

static int digests_equal(cluster *c) {
    uint8_t d0[32], d[32];
    int i;
    for (i = 0; i < NODES; i++) {
        if (!c->n[i].db) return 0;
        digest(c->n[i].db, i ? d : d0);
        if (i && memcmp(d, d0, 32)) return 0;
    }
    return 1;
}

/* Writes count signals of the types db has; stops at the first refusal (a deposed leader). */
static void try_writes(tidal_db *db, int count, int64_t now) {
    tidal_signal s;
    int i;
    for (i = 0; i < count; i++) {
        memset(&s, 0, sizeof s);
        s.item = 1 + tt_below(30);
        s.type = (uint32_t)tt_below(db->schema.n_sig);
        s.weight = 1.0 + (double)tt_below(3);
        s.time_ns = now - (int64_t)tt_below(3600) * TIDAL_NS_PER_S;
        if (tidal_signal_write(db, &s, NULL) != TIDAL_OK) return;
    }
}

/* Random group histories on a lossy network: writes of every type the leader has, schema
   appends on whoever leads, members crashing, restarting with the old config, one losing
   its disk, leaders snapshotting (so lagging members get state transfers). Healed, every
   member holds the same state and the same grown schema. */
static void t_schema_group_property(void) {
    long cases = 12 * tt_scale(), k;
    for (k = 0; k < cases && TT_OK(); k++) {
        cluster c;
        uint64_t seed = tt_rand();
        int step, i, l, wiped = 0;
        tidal_result r;
        uint32_t want = 2;
        cluster_init_seg(&c, seed, 2048u << tt_below(4));
        tidal_sim_net_set_faults(c.net, 20000, 10000, 30000);
        for (step = 0; step < 40 && TT_OK(); step++) {
            uint64_t op = tt_below(100);
            int v = (int)tt_below(NODES), up = 0;
            for (i = 0; i < NODES; i++) up += c.n[i].db != NULL;
            l = leader_of(&c);
            if (op < 40 && l >= 0) {
                try_writes(c.n[l].db, 1 + (int)tt_below(30), c.now);
            } else if (op < 52 && l >= 0 && c.n[l].db->schema.n_sig < 4) {
                tidal_schema grown = c.n[l].cfg.schema;
                grown.signal_count = c.n[l].db->schema.n_sig + 1;
                r = tidal_db_schema_append(c.n[l].db, &grown);
                if (r == TIDAL_OK && grown.signal_count > want) want = grown.signal_count;
            } else if (op < 62 && c.n[v].db && up == NODES) { /* at most one member down */
                tidal_sim_net_set_down(c.net, c.refs[v], 1);
                tidal_sim_disk_crash(c.n[v].disk);
                tidal_db_close(c.n[v].db);
                c.n[v].db = NULL;
                if (!wiped && v != l && tt_below(2) == 0) { /* one lost disk: two would lose data */
                    tidal_sim_disk_wipe(c.n[v].disk);
                    wiped = 1;
                }
            } else if (op < 75 && !c.n[v].db) {
                if (tidal_sim_disk_is_down(c.n[v].disk)) tidal_sim_disk_restart(c.n[v].disk);
                node_start(&c, v); /* the old config: it adopts or learns the grown schema */
            } else if (op < 82 && l >= 0) {
                (void)tidal_db_snapshot(c.n[l].db);
            }
            cluster_run(&c, c.now + (20 + (int64_t)tt_below(400)) * MS);
        }
        for (i = 0; i < NODES; i++)
            if (!c.n[i].db) {
                if (tidal_sim_disk_is_down(c.n[i].disk)) tidal_sim_disk_restart(c.n[i].disk);
                node_start(&c, i);
            }
        tidal_sim_net_set_faults(c.net, 0, 0, 0);
        l = leader_of(&c);
        if (l >= 0) try_writes(c.n[l].db, 5, c.now); /* every member must take the newest */
        /* Caught up with the leader's log, and the leader with what a deposed leader wrote
           alone (its pushes follow once it rejoins): at most 60 s simulated. */
        for (i = 0; i < 120 && !(caught_up(&c) && digests_equal(&c)); i++)
            cluster_run(&c, c.now + 500 * MS);
        TT_CHECK(caught_up(&c));
        l = leader_of(&c);
        if (l >= 0) {
            TT_CHECKF(c.n[l].db->schema.n_sig >= want, "an append was lost: %u types, %u appended",
                      c.n[l].db->schema.n_sig, want);
            check_converged(&c, c.n[l].db->schema.n_sig);
        }
        if (!TT_OK())
            printf("  failing history %ld (cluster seed %llu)\n", k, (unsigned long long)seed);
        cluster_free(&c);
    }
}

/* A member never applies a batch under a schema it lacks: a leader's batch of share
   signals, offered before the schema event, is refused whole with a message that says
   so; the schema event's batch teaches it, and then the same batch is taken. */
static void t_schema_batch_needs_schema(void) {
    node a, b;
    tidal_schema grown;
    uint8_t *log = NULL;
    size_t len = 0, off = 0, use = 0;
    const uint8_t *batches[8];
    size_t sizes[8];
    uint32_t nb = 0;
    const char *why;
    node_init(&a, tt_seed());
    node_init(&b, tt_seed() + 1);
    TT_EQ_INT(node_open(&a), TIDAL_OK);
    TT_EQ_INT(node_open(&b), TIDAL_OK);
    if (!a.db || !b.db) goto out;
    write_some(a.db, 5, 3, T0);
    grown = a.cfg.schema;
    grown.signal_count = 4;
    TT_EQ_INT(tidal_db_schema_append(a.db, &grown), TIDAL_OK);
    write_some(a.db, 5, 4, T0);
    TT_EQ_INT(tidal_sim_disk_read(a.disk, "db/wal-0000-0000-0000000000000001.log", &log, &len),
              TIDAL_OK);
    while (log && off < len && nb < 8) { /* the log's batches, one per write */
        tidal__batch_hdr h;
        TT_CHECK(tidal__batch_check(a.db, log + off, len - off, &h) == NULL);
        batches[nb] = log + off;
        sizes[nb++] = TIDAL__WAL_HDR + h.payload_len;
        off += TIDAL__WAL_HDR + h.payload_len;
    }
    TT_EQ_INT(nb, 8); /* 5 writes, the schema event alone, 2 more (the rest in segment 2) */
    if (nb < 8) goto out;
    why = tidal__payload_check(b.db, batches[6], sizes[6], &use);
    TT_CHECKF(why && strstr(why, "a schema this member lacks"), "%s", why ? why : "accepted");
    why = tidal__payload_check(b.db, batches[5], sizes[5] + sizes[6], &use);
    TT_CHECK(why == NULL);
    TT_EQ_INT(use, sizes[5]); /* what comes after the schema event waits for it */
out:
    free(log);
    node_free(&a);
    node_free(&b);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_schema_append_reopen),
    TT_CASE(t_schema_change_refused),
    TT_CASE(t_schema_get_adopt),
    TT_CASE(t_schema_survives_retirement),
    TT_CASE(t_schema_legacy_database),
    TT_CASE(t_schema_append_runtime),
    TT_CASE(t_schema_append_ephemeral),
    TT_CASE(t_schema_event_decoder),
    TT_CASE(t_schema_crash_property),
    TT_CASE(t_schema_group_append),
    TT_CASE(t_schema_group_state_transfer),
    TT_CASE(t_schema_group_property),
    TT_CASE(t_schema_batch_needs_schema),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
