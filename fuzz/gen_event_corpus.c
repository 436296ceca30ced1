/* gen_event_corpus.c - writes the seed corpus of fuzz_event: the events a database's hook
   reports for every kind of client write (signals with cohort tags, a user, an idempotency
   key, a session; attribute sets and deletes; hide, mute, block and their removes; session
   start, note, end; user forget; item delete), each alone, a dependent sequence (a session
   and its writes), the fill's own events again (duplicates), and damaged copies (truncated,
   a trailing byte, an unknown kind, a zero id, a migration kind, an empty record). Each
   seed is fed to the target once as a self-check (a broken property aborts).
   Deterministic: rerunning rewrites the same bytes.

   Regenerate (from the repository root): make corpus, or
       cc -std=c99 -O1 -g -o build/gen_event_corpus fuzz/gen_event_corpus.c -lm
       build/gen_event_corpus            (writes fuzz/corpus/event/<name>) */
#include "fuzz_event.c"

#include <errno.h>
#include <sys/stat.h>

#define GV_EVENTS 64

typedef struct gv_rec {
    uint8_t *p[GV_EVENTS];
    size_t n[GV_EVENTS];
    uint32_t count;
} gv_rec;

static void gv_hook(void *ctx, const void *ev, size_t len) {
    gv_rec *g = (gv_rec *)ctx;
    fz_require(g->count < GV_EVENTS, "too many events");
    g->p[g->count] = (uint8_t *)malloc(len);
    fz_require(g->p[g->count] != NULL, "out of memory");
    memcpy(g->p[g->count], ev, len);
    g->n[g->count++] = len;
}

/* The writes whose events become seeds, on a database of region 5 (other ids than the
   target's twins). */
static void gv_writes(tidal_db *db) {
    static const tidal_tag two[2] = {{"tier", "gold"}, {"locale", "fr"}};
    tidal_signal s;
    tidal_id sid = 0;
    memset(&s, 0, sizeof s);
    s.tenant = 0;
    s.item = 5;
    s.type = 1;
    s.weight = 2.5;
    s.time_ns = FZ_NOW - 60 * TIDAL_NS_PER_S;
    s.user = 100;
    s.cohort = two;
    s.cohort_count = 2;
    fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "signal");
    s.idem.key = "order-17";
    s.idem.key_len = 8;
    s.idem.seq = 3;
    s.type = 2;
    s.tenant = 7;
    fz_require(tidal_signal_write(db, &s, NULL) == TIDAL_OK, "keyed signal");
    fz_require(tidal_attr_set(db, 0, 5, "creator", "202", NULL) == TIDAL_OK, "attr");
    fz_require(tidal_attr_set(db, 0, 5, "creator", NULL, NULL) == TIDAL_OK, "attr delete");
    fz_require(tidal_negative_add(db, 0, 100, TIDAL_HIDE, 1, NULL) == TIDAL_OK, "hide");
    fz_require(tidal_negative_add(db, 0, 100, TIDAL_MUTE, 201, NULL) == TIDAL_OK, "mute");
    fz_require(tidal_negative_add(db, 0, 101, TIDAL_BLOCK, 202, NULL) == TIDAL_OK, "block");
    fz_require(tidal_negative_remove(db, 0, 100, TIDAL_HIDE, 1, NULL) == TIDAL_OK, "unhide");
    fz_require(tidal_session_start(db, 0, 102, 600 * TIDAL_NS_PER_S, &sid) == TIDAL_OK, "session");
    memset(&s, 0, sizeof s);
    s.item = 2;
    s.type = 0;
    s.weight = 1.0;
    s.time_ns = FZ_NOW;
    s.cohort = two;
    s.cohort_count = 1;
    fz_require(tidal_session_signal(db, sid, 0, &s, NULL) == TIDAL_OK, "session signal");
    fz_require(tidal_session_note(db, 0, sid, 0, "a note", NULL) == TIDAL_OK, "note");
    fz_require(tidal_session_end(db, 0, sid) == TIDAL_OK, "session end");
    fz_require(tidal_user_forget(db, 0, 100, NULL) == TIDAL_OK, "forget");
    fz_require(tidal_item_delete(db, 0, 5, NULL) == TIDAL_OK, "item delete");
}

typedef struct gv_buf {
    uint8_t b[1 << 16];
    size_t n;
} gv_buf;

static void gv_put(gv_buf *g, const uint8_t *p, size_t n, size_t claimed) {
    fz_require(g->n + 2 + n <= sizeof g->b, "seed too large");
    g->b[g->n++] = (uint8_t)claimed;
    g->b[g->n++] = (uint8_t)(claimed >> 8);
    memcpy(g->b + g->n, p, n);
    g->n += n;
}

static void gv_write(const char *name, const gv_buf *g) {
    char path[256];
    FILE *f;
    snprintf(path, sizeof path, "fuzz/corpus/event/%s", name);
    f = fopen(path, "wb");
    if (!f || fwrite(g->b, 1, g->n, f) != g->n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    LLVMFuzzerTestOneInput(g->b, g->n); /* self-check */
    printf("%-40s %5zu bytes\n", path, g->n);
}

int main(void) {
    static const char *const names[] = {"signal_cohort_user", "signal_keyed_tenant7", "attr_set",
                                        "attr_delete", "hide", "mute", "block", "unhide",
                                        "session_start", "session_signal", "session_note",
                                        "session_end", "user_forget", "item_delete"};
    fz_env e;
    tidal_db *db;
    gv_rec rec;
    gv_buf *g = (gv_buf *)calloc(1, sizeof *g);
    uint8_t tmp[4096];
    uint32_t i;
    fz_require(g != NULL, "out of memory");
    if (mkdir("fuzz/corpus/event", 0777) != 0 && errno != EEXIST) {
        perror("fuzz/corpus/event (run from the repository root)");
        return 1;
    }
    memset(&rec, 0, sizeof rec);
    db = fz_open_at(&e, 5);
    tidal_db_set_event_hook(db, gv_hook, &rec);
    gv_writes(db);
    tidal_db_close(db);
    fz_require(rec.count == sizeof names / sizeof names[0], "one event per write");
    for (i = 0; i < rec.count; i++) {
        g->n = 0;
        gv_put(g, rec.p[i], rec.n[i], rec.n[i]);
        gv_write(names[i], g);
    }
    g->n = 0; /* a session and what depends on it, in order, each twice */
    for (i = 8; i < 12; i++) gv_put(g, rec.p[i], rec.n[i], rec.n[i]);
    for (i = 8; i < 12; i++) gv_put(g, rec.p[i], rec.n[i], rec.n[i]);
    gv_write("seq_session", g);
    g->n = 0; /* dependents before what they depend on */
    for (i = 11; i >= 8; i--) gv_put(g, rec.p[i], rec.n[i], rec.n[i]);
    gv_write("seq_session_reversed", g);
    g->n = 0; /* the fill's events, recorded from a twin: all duplicates */
    {
        fz_env ef;
        tidal_db *f;
        gv_rec fr;
        memset(&fr, 0, sizeof fr);
        f = fz_open_at(&ef, 0);
        tidal_db_set_event_hook(f, gv_hook, &fr);
        fv_fill(f);
        tidal_db_close(f);
        for (i = 0; i < fr.count && i < FV_RECORDS; i++) gv_put(g, fr.p[i], fr.n[i], fr.n[i]);
        gv_write("fill_duplicates", g);
        for (i = 0; i < fr.count; i++) free(fr.p[i]);
    }
    g->n = 0;
    gv_put(g, rec.p[0], rec.n[0] - 1, rec.n[0] - 1);
    gv_write("bad_truncated", g);
    g->n = 0;
    memcpy(tmp, rec.p[0], rec.n[0]);
    tmp[rec.n[0]] = 0x5A;
    gv_put(g, tmp, rec.n[0] + 1, rec.n[0] + 1);
    gv_write("bad_trailing_byte", g);
    g->n = 0;
    tmp[0] = 99;
    gv_put(g, tmp, rec.n[0], rec.n[0]);
    gv_write("bad_kind", g);
    g->n = 0;
    memcpy(tmp, rec.p[2], rec.n[2]);
    memset(tmp + 5, 0, 16);
    gv_put(g, tmp, rec.n[2], rec.n[2]);
    gv_write("bad_zero_id", g);
    g->n = 0;
    memcpy(tmp, rec.p[12], rec.n[12]);
    tmp[0] = TIDAL__EV_DROP;
    gv_put(g, tmp, rec.n[12], rec.n[12]);
    gv_write("bad_migration_kind", g);
    g->n = 0;
    gv_put(g, tmp, 0, 0);
    gv_put(g, rec.p[4], rec.n[4], rec.n[4] + 7); /* claims more than there is */
    gv_write("empty_then_short_claim", g);
    for (i = 0; i < rec.count; i++) free(rec.p[i]);
    free(g);
    return 0;
}
