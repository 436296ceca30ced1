/* gen_corpus.c - writes seed corpora for fuzz_wal and fuzz_snapshot from real files: a
   database with the fuzzers' schema receives every kind of event, commits a few batches,
   writes a snapshot, and the bytes are saved with each target's mode byte in front; a
   second log grows its schema (a schema event, then signals of the appended type). The
   snapshot corpus holds the current format (4, compact) whole and as a body, the same
   state's canonical body as format 3, the v3 fixture of tests/data (same schema), and
   malformed format 4 bodies (cut short, an overlong varint, a changed byte), so the
   replay of the corpus exercises the strict decoder's refusals too.
   Usage: gen_corpus <scratch dir>   (writes into fuzz/corpus/wal and fuzz/corpus/snapshot;
   run from the repository root) */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "fuzz_common.h"

#include <stdio.h>

static void save(const char *dir, const char *name, uint8_t mode, const uint8_t *p, size_t n) {
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "fuzz/corpus/%s/%s", dir, name);
    f = fopen(path, "wb");
    fz_require(f != NULL, path);
    fputc(mode, f);
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long len;
    fz_require(f != NULL, path);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = (uint8_t *)malloc((size_t)len + 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

static void workload(tidal_db *db) {
    tidal_signal s;
    tidal_tag tag[2];
    tidal_id sid = 0;
    int i;
    memset(&s, 0, sizeof s);
    tag[0].key = "locale";
    tag[0].value = "EU";
    tag[1].key = "tier";
    tag[1].value = "gold";
    fz_require(tidal_attr_set(db, 0, 9, "locale", "US", NULL) == TIDAL_OK, "attr");
    fz_require(tidal_attr_set(db, 0, 3, "creator", "77", NULL) == TIDAL_OK, "attr");
    fz_require(tidal_attr_set(db, 0, 3, "gone", NULL, NULL) == TIDAL_OK, "attr delete");
    tidal_db_batch_begin(db);
    for (i = 0; i < 6; i++) {
        s.item = 1 + (uint64_t)i % 4;
        s.type = (uint32_t)i % 3;
        s.weight = i % 5 ? 1.5 : -2;
        s.time_ns = FZ_NOW - (int64_t)i * 3600 * TIDAL_NS_PER_S;
        s.user = i % 2 ? 9 : 0;
        s.cohort = i % 3 ? tag : NULL;
        s.cohort_count = i % 3 ? 2 : 0;
        fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "signal");
    }
    fz_require(tidal_db_commit(db) == TIDAL_OK, "commit");
    s.cohort = tag; /* a keyed write carries its cohort tags: none */
    s.cohort_count = 0;
    s.idem.key = "retry-key";
    s.idem.key_len = 9;
    s.idem.seq = 4;
    fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "idem signal");
    fz_require(tidal_negative_add(db, 0, 9, TIDAL_HIDE, 2, NULL) == TIDAL_OK, "hide");
    fz_require(tidal_negative_add(db, 0, 9, TIDAL_MUTE, 77, NULL) == TIDAL_OK, "mute");
    fz_require(tidal_negative_remove(db, 0, 9, TIDAL_HIDE, 2, NULL) == TIDAL_OK, "unhide");
    fz_require(tidal_session_start(db, 0, 9, 60 * TIDAL_NS_PER_S, &sid) == TIDAL_OK, "session");
    s.idem.key = NULL;
    s.idem.key_len = 0;
    fz_require(tidal_session_signal(db, sid, 0, &s, NULL) == TIDAL_OK, "session signal");
    fz_require(tidal_session_note(db, 0, sid, 0, "a note", NULL) == TIDAL_OK, "note");
    fz_require(tidal_session_end(db, 0, sid) == TIDAL_OK, "end");
    fz_require(tidal_item_delete(db, 0, 4, NULL) == TIDAL_OK, "item delete");
    fz_require(tidal_user_forget(db, 0, 9, NULL) == TIDAL_OK, "user forget");
}

/* Appends a fourth signal type, share, and a cohort key, then writes share signals. */
static void schema_append(tidal_db *db) {
    tidal_schema cur, grown;
    tidal_signal_def sigs[4];
    const char *cohorts[3];
    tidal_signal s;
    tidal_tag tag = {"device", "phone"};
    int i;
    fz_require(tidal_db_schema_get(db, &cur) == TIDAL_OK, "schema get");
    memcpy(sigs, cur.signals, sizeof(tidal_signal_def) * 3);
    memset(&sigs[3], 0, sizeof sigs[3]);
    sigs[3].name = "share";
    sigs[3].half_life_s = 7200;
    sigs[3].negative = 0;
    cohorts[0] = cur.cohort_keys[0];
    cohorts[1] = cur.cohort_keys[1];
    cohorts[2] = "device";
    grown = cur;
    grown.signals = sigs;
    grown.signal_count = 4;
    grown.cohort_keys = cohorts;
    grown.cohort_key_count = 3;
    fz_require(tidal_db_schema_append(db, &grown) == TIDAL_OK, "schema append");
    memset(&s, 0, sizeof s);
    for (i = 0; i < 3; i++) {
        s.item = 1 + (uint64_t)i;
        s.type = 3;
        s.weight = 1;
        s.time_ns = FZ_NOW - (int64_t)i * TIDAL_NS_PER_S;
        s.cohort = &tag;
        s.cohort_count = (uint32_t)(i % 2);
        fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "share signal");
    }
}

int main(int argc, char **argv) {
    fz_env e;
    tidal_db *db;
    char dir[300], name[400];
    uint8_t *p;
    size_t n, nlog;
    uint8_t *wal;
    tidal_config cfg;
    if (argc < 2) return 2;
    snprintf(dir, sizeof dir, "%s", argv[1]);
    db = fz_open(&e);
    wal = NULL;
    nlog = 0;
    /* Reopen the same schema with a path: copy the config from the ephemeral handle. */
    memset(&cfg, 0, sizeof cfg);
    {
        static tidal_signal_def sigs[3];
        static const char *cohorts[2] = {"locale", "tier"};
        uint32_t i;
        for (i = 0; i < 3; i++) {
            static char names[3][TIDAL_NAME_MAX + 1];
            strcpy(names[i], db->schema.sig[i].name); /* db is closed below */
            sigs[i].name = names[i];
            sigs[i].half_life_s = db->schema.sig[i].half_life_s;
            sigs[i].permanent = db->schema.sig[i].permanent;
            sigs[i].windows =
                db->schema.sig[i].windows == 0x1F ? 0 : db->schema.sig[i].windows & 0xF;
        }
        cfg.schema.signals = sigs;
        cfg.schema.signal_count = 3;
        cfg.schema.cohort_keys = cohorts;
        cfg.schema.cohort_key_count = 2;
    }
    tidal_db_close(db);
    cfg.env = &e.env;
    cfg.path = dir;
    fz_require(tidal_db_open(&cfg, &db) == TIDAL_OK, "open durable");
    workload(db);
    fz_require(tidal_db_commit(db) == TIDAL_OK, "commit");
    /* The log is read before the snapshot: after a forget the snapshot retires it. */
    tidal__seg_name(db, 1, "log", name, sizeof name);
    p = slurp(name, &n);
    wal = p;
    nlog = n;
    fz_require(tidal_db_snapshot(db) == TIDAL_OK, "snapshot");
    {
        char snap[400];
        tidal__seg_name(db, db->log.durable_lsn, "snap", snap, sizeof snap);
        tidal_db_close(db);
        p = slurp(snap, &n);
        save("snapshot", "snapshot_file", 0, p, n);
        save("snapshot", "snapshot_body", 1, p + TIDAL__SNAP_HDR, n - TIDAL__SNAP_HDR);
        save("snapshot", "empty_body", 1, p, 0);
        save("snapshot", "malformed_cut", 1, p + TIDAL__SNAP_HDR, (n - TIDAL__SNAP_HDR) / 2);
        {
            uint8_t *q = (uint8_t *)malloc(n + 1);
            size_t m = n - TIDAL__SNAP_HDR;
            memcpy(q, p + TIDAL__SNAP_HDR, m);
            q[m / 3] ^= 0x41; /* a changed byte somewhere in the entities */
            save("snapshot", "malformed_byte", 1, q, m);
            q[0] = 0x81; /* the tenant count as an overlong varint (0x81 0x00) */
            q[1] = 0x00;
            save("snapshot", "malformed_varint", 1, q, m);
            free(q);
        }
        free(p);
    }
    {
        fz_env e3;
        tidal_db *c = fz_open(&e3);
        uint8_t *body;
        size_t len, cap;
        workload(c); /* the same events, ephemeral: its canonical body as format 3 */
        fz_require(tidal__snap_body_mem(c, &body, &len, &cap) == TIDAL_OK, "canonical body");
        save("snapshot", "snapshot_body_v3", 3, body, len);
        tidal__free(c, body, cap);
        tidal_db_close(c);
        p = slurp("tests/data/snapshot_v3.snap", &n);
        save("snapshot", "fixture_v3_body", 3, p + TIDAL__SNAP_HDR, n - TIDAL__SNAP_HDR);
        free(p);
        p = wal;
        n = nlog;
    }
    save("wal", "segment_newest", 2, p, n);
    save("wal", "segment_sealed", 0, p, n);
    save("wal", "segment_repaired", 3, p, n);
    save("wal", "first_batch_only", 0, p, n > 400 ? 400 : n);
    free(p);
    /* A second log whose schema grows mid-way: a schema event alone in its batch (under the
       fingerprint it teaches), then signals of the appended type. */
    snprintf(dir, sizeof dir, "%s_schema", argv[1]);
    cfg.path = dir;
    fz_require(tidal_db_open(&cfg, &db) == TIDAL_OK, "open durable (schema)");
    workload(db);
    schema_append(db);
    tidal__seg_name(db, 1, "log", name, sizeof name);
    tidal_db_close(db);
    p = slurp(name, &n);
    save("wal", "segment_schema_append", 0, p, n);
    save("wal", "segment_schema_append_newest", 2, p, n);
    save("wal", "segment_schema_append_repaired", 3, p, n);
    free(p);
    printf("corpus written\n");
    return 0;
}
