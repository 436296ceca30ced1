/* gen_merge_corpus.c - writes the seed corpus of fuzz_merge: small hand-made op sequences,
   together covering every op kind (signals valid and rejected, idempotent retries on every
   replica, attribute sets and deletes, hide/mute/block and their removes, sessions started,
   roamed, written with explicit, repeated and automatic seqs, ended and expired, merges of
   every mode, self-merges) in both tenants. Each seed is fed to the target once as a
   self-check (a broken law aborts) before it is written. Deterministic: no clock, no
   randomness; rerunning rewrites the same bytes.
   Regenerate (from the repository root):
       cc -std=c99 -O1 -g -o build/gen_merge_corpus fuzz/gen_merge_corpus.c -lm
       build/gen_merge_corpus            (writes fuzz/corpus/merge/<name>, replacing them)
   Seeds avoid the two known tidal.h bugs the target reports (see fuzz_merge.c): no tag is
   carried by removes from two replicas, and a database with content in both tenants always
   holds a signal or a session. */
#include "fuzz_merge.c"

#include <errno.h>
#include <sys/stat.h>

typedef struct gm_seed {
    uint8_t b[1024];
    size_t n;
} gm_seed;

static void gm_put(gm_seed *g, int head, int a, int b, int c, int d, int nargs) {
    int v[4], i;
    v[0] = a, v[1] = b, v[2] = c, v[3] = d;
    TIDAL_ASSERT(g->n + 1 + (size_t)nargs <= sizeof g->b);
    g->b[g->n++] = (uint8_t)head;
    for (i = 0; i < nargs; i++) g->b[g->n++] = (uint8_t)v[i];
}

#define GM_HEAD(kind, rep) ((kind) + FM_OP_COUNT * (rep))

/* item 0..8 (0 invalid), type 0..2 (3 invalid), weight and time table indexes (time 250:
   negative), user 0 none or 1..4 (users 100..103), cohort 0..5 as fm_cohort. */
static void gm_sig(gm_seed *g, int rep, int item, int type, int wi, int ti, int tenant, int user,
                   int cohort) {
    int a = item + 9 * (type < 3 ? type : 6);
    gm_put(g, GM_HEAD(FM_OP_SIGNAL, rep), a, wi, ti, (tenant ? 1 : 0) | user << 1 | cohort << 4, 4);
}
/* drop: bit 0 the event time, bit 1 the cohort tags (both refused). */
static void gm_idem(gm_seed *g, int rep, int key, int seq, int tenant, int drop) {
    gm_put(g, GM_HEAD(FM_OP_IDEM, rep), key | seq << 2 | (tenant ? 16 : 0) | drop << 5, 0, 0, 0, 1);
}
/* ent 0..7 items 1..8, 8..11 users 100..103, 12 invalid; key 0..4 (locale, tier, creator,
   name, invalid); val 0 delete, 1 en, 2 fr, 3 gold, 4..6 creators 201..203, 7 "", 8 long. */
static void gm_attr(gm_seed *g, int rep, int ent, int key, int val, int tenant) {
    gm_put(g, GM_HEAD(FM_OP_ATTR, rep), ent, key, val | (tenant ? 128 : 0), 0, 3);
}
/* user 0..3 (100..103); kind 0 invalid, 1 hide (target 0..7: items 1..8), 2 mute, 3 block
   (target 0..2: creators 201..203); target 250 invalid. */
static void gm_neg(gm_seed *g, int rep, int add, int user, int kind, int target, int tenant) {
    int head = GM_HEAD(add ? FM_OP_NEG_ADD : FM_OP_NEG_REMOVE, rep);
    gm_put(g, head, user | kind << 2 | (tenant ? 16 : 0), target, 0, 0, 2);
}
/* user 0..3; ttl 0 none, 1 10 min, 2 1 h. Sessions are numbered in order of creation. */
static void gm_start(gm_seed *g, int rep, int user, int ttl, int tenant) {
    gm_put(g, GM_HEAD(FM_OP_SESS_START, rep), user | ttl << 2 | (tenant ? 16 : 0), 0, 0, 0, 1);
}
static void gm_roam(gm_seed *g, int rep, int sess) {
    gm_put(g, GM_HEAD(FM_OP_SESS_OPEN, rep), sess, 0, 0, 0, 1);
}
/* Caller-chosen session id 5000 + k. */
static void gm_open_id(gm_seed *g, int rep, int k, int tenant) {
    gm_put(g, GM_HEAD(FM_OP_SESS_OPEN, rep), 128 | k | (tenant ? 4 : 0), 0, 0, 0, 1);
}
/* slot 1..7: seq 2 * slot - 1 (signal) or 2 * slot (note); 0 automatic; 248 out of range;
   | 32 drops a signal's event time, | 64 its cohort tags (both refused). */
static void gm_swrite(gm_seed *g, int rep, int note, int sess, int slot) {
    gm_put(g, GM_HEAD(note ? FM_OP_SESS_NOTE : FM_OP_SESS_SIGNAL, rep), sess, slot, 0, 0, 2);
}
static void gm_end(gm_seed *g, int rep, int sess) {
    gm_put(g, GM_HEAD(FM_OP_SESS_END, rep), sess, 0, 0, 0, 1);
}
/* mode 0 all, 1 all reversed, 2 the suffix from lo, 3 every other event from lo (0, 1). */
static void gm_merge(gm_seed *g, int to, int from, int mode, int lo) {
    gm_put(g, GM_HEAD(FM_OP_MERGE, to), from, mode, lo, 0, 3);
}
static void gm_tick(gm_seed *g, int rep, int minutes) {
    gm_put(g, GM_HEAD(FM_OP_TICK, rep), minutes, 0, 0, 0, 1);
}
static void gm_merge_all(gm_seed *g) {
    gm_merge(g, 0, 1, 0, 0);
    gm_merge(g, 0, 2, 0, 0);
    gm_merge(g, 1, 0, 1, 0);
    gm_merge(g, 2, 0, 0, 0);
}

static void gm_signals(gm_seed *g) {
    gm_sig(g, 0, 1, 0, 0, 0, 0, 1, 0);    /* view now, user 100, cohort from attrs */
    gm_sig(g, 1, 1, 0, 3, 4, 0, 2, 2);    /* -1, an hour ago, locale=en */
    gm_sig(g, 2, 1, 0, 4, 1, 0, 0, 3);    /* -3.25, tier=gold locale=fr */
    gm_sig(g, 0, 2, 1, 1, 7, 0, 3, 1);    /* like, 25 h ago, empty cohort list */
    gm_sig(g, 1, 2, 1, 7, 11, 0, 0, 0);   /* 1e6, 29 days */
    gm_sig(g, 2, 3, 2, 8, 12, 0, 4, 2);   /* buy -1e6, 31 days */
    gm_sig(g, 0, 3, 2, 5, 14, 0, 1, 0);   /* weight 0, 30 s ahead */
    gm_sig(g, 1, 4, 0, 10, 13, 0, 2, 3);  /* 400 days ago */
    gm_merge(g, 2, 1, 0, 0);
    gm_sig(g, 2, 4, 0, 9, 9, 0, 0, 0);
    gm_merge_all(g);
}

static void gm_errors(gm_seed *g) {
    gm_sig(g, 0, 5, 0, 0, 0, 0, 0, 0);    /* one good signal first */
    gm_sig(g, 0, 0, 0, 0, 0, 0, 0, 0);    /* item 0 */
    gm_sig(g, 1, 5, 3, 0, 0, 0, 0, 0);    /* unknown type */
    gm_sig(g, 2, 5, 1, 15, 0, 0, 0, 0);   /* NaN */
    gm_sig(g, 0, 5, 1, 14, 0, 0, 0, 0);   /* 2e6 */
    gm_sig(g, 1, 5, 1, 0, 15, 0, 0, 0);   /* 120 s ahead */
    gm_sig(g, 2, 5, 1, 0, 250, 0, 0, 0);  /* negative time */
    gm_sig(g, 0, 5, 1, 0, 0, 0, 1, 4);    /* unknown cohort key */
    gm_sig(g, 1, 5, 1, 0, 0, 0, 1, 5);    /* count without tags */
    gm_attr(g, 2, 12, 0, 1, 0);           /* entity 0 */
    gm_attr(g, 0, 1, 4, 1, 0);            /* bad key */
    gm_attr(g, 1, 1, 0, 8, 0);            /* value too long */
    gm_neg(g, 2, 1, 0, 0, 0, 0);          /* kind 0 */
    gm_neg(g, 0, 1, 0, 1, 250, 0);        /* target 0 */
    gm_swrite(g, 1, 0, 0, 1);             /* no session yet: skipped */
    gm_idem(g, 2, 2, 1, 0, 1);            /* a keyed write without its time */
    gm_idem(g, 0, 1, 0, 0, 2);            /* without its cohort tags (it has a user) */
    gm_start(g, 1, 0, 0, 0);
    gm_swrite(g, 1, 0, 0, 1 | 32);        /* a session signal without its time */
    gm_swrite(g, 1, 0, 0, 2 | 64);        /* without its cohort tags */
    gm_roam(g, 0, 0);
    gm_swrite(g, 0, 0, 0, 1);             /* the valid one */
    gm_merge_all(g);
}

static void gm_attrs(gm_seed *g) {
    gm_sig(g, 0, 1, 0, 0, 0, 0, 1, 0);
    gm_attr(g, 0, 8, 0, 1, 0);            /* user 100 locale=en */
    gm_attr(g, 1, 8, 0, 2, 0);            /* concurrently locale=fr: LWW by HLC */
    gm_attr(g, 2, 8, 0, 0, 0);            /* and a delete */
    gm_attr(g, 0, 0, 2, 4, 0);            /* item 1 creator 201 */
    gm_attr(g, 1, 0, 2, 5, 0);            /* creator 202 */
    gm_attr(g, 2, 1, 3, 7, 0);            /* item 2 name "" */
    gm_attr(g, 0, 9, 1, 3, 0);            /* user 101 tier gold */
    gm_merge(g, 1, 0, 0, 0);
    gm_attr(g, 1, 8, 0, 3, 0);            /* after seeing 0's write: wins */
    gm_sig(g, 1, 1, 1, 0, 0, 0, 1, 0);    /* cohort from user 100's attributes here */
    gm_sig(g, 2, 2, 0, 0, 0, 0, 2, 0);
    gm_merge_all(g);
}

static void gm_negatives(gm_seed *g) {
    gm_sig(g, 0, 1, 0, 0, 0, 0, 1, 0);
    gm_attr(g, 0, 0, 2, 4, 0);            /* item 1 creator 201 */
    gm_neg(g, 0, 1, 0, 1, 0, 0);          /* user 100 hides item 1 */
    gm_neg(g, 1, 1, 0, 1, 0, 0);          /* and again elsewhere: two tags */
    gm_neg(g, 2, 1, 1, 2, 0, 0);          /* user 101 mutes 201 */
    gm_neg(g, 2, 1, 2, 3, 1, 0);          /* user 102 blocks 202 */
    gm_merge(g, 1, 0, 0, 0);
    gm_neg(g, 1, 0, 0, 1, 0, 0);          /* unhide: both tags observed on 1 */
    gm_neg(g, 0, 1, 0, 1, 0, 0);          /* a concurrent hide survives */
    gm_neg(g, 2, 0, 2, 3, 1, 0);          /* unblock */
    gm_neg(g, 0, 0, 3, 1, 4, 0);          /* remove of nothing */
    gm_merge(g, 2, 1, 2, 1);              /* the remove before the adds it removes */
    gm_merge(g, 2, 0, 0, 0);
    gm_merge_all(g);
}

static void gm_sessions(gm_seed *g) {
    gm_start(g, 0, 1, 0, 0);              /* session 0: user 101, no TTL */
    gm_swrite(g, 0, 0, 0, 1);             /* seq 1 */
    gm_swrite(g, 0, 1, 0, 1);             /* note seq 2 */
    gm_roam(g, 1, 0);                     /* opened on 1 before it has the start */
    gm_swrite(g, 1, 0, 0, 2);             /* seq 3 */
    gm_swrite(g, 1, 0, 0, 1);             /* seq 1 again, on 1: same id as 0's */
    gm_swrite(g, 1, 0, 0, 0);             /* automatic: seq 4, a note */
    gm_merge(g, 0, 1, 0, 0);
    gm_swrite(g, 0, 0, 0, 0);             /* automatic: seq 5 */
    gm_swrite(g, 0, 1, 0, 248);           /* seq out of range */
    gm_roam(g, 2, 0);
    gm_end(g, 2, 0);
    gm_swrite(g, 2, 0, 0, 3);             /* ended here: refused */
    gm_swrite(g, 0, 0, 0, 4);             /* not ended on 0 yet */
    gm_merge_all(g);
    gm_swrite(g, 0, 1, 0, 5);             /* now refused on 0 too */
}

static void gm_sessions_ids(gm_seed *g) {
    gm_sig(g, 0, 1, 0, 0, 0, 0, 0, 0);
    gm_open_id(g, 0, 1, 0);               /* 5001: ttl 10 min */
    gm_open_id(g, 1, 1, 0);               /* the same session opened on 1 */
    gm_open_id(g, 2, 2, 1);               /* 5002 in tenant 7 */
    gm_swrite(g, 0, 0, 0, 1);
    gm_swrite(g, 1, 0, 0, 1);             /* same (session, seq) on two replicas */
    gm_swrite(g, 1, 1, 0, 2);
    gm_swrite(g, 2, 0, 1, 3);
    gm_swrite(g, 2, 1, 1, 0);
    gm_tick(g, 0, 11);                    /* 5001 expires on 0 */
    gm_tick(g, 1, 30);                    /* and on 1: the same expiry event */
    gm_merge_all(g);
    gm_end(g, 2, 0);
    gm_merge(g, 1, 2, 0, 0);
}

static void gm_ttl(gm_seed *g) {
    gm_start(g, 1, 2, 1, 0);              /* session 0 on 1: 10 min TTL */
    gm_start(g, 2, 3, 2, 1);              /* session 1 on 2: 1 h, tenant 7 */
    gm_roam(g, 0, 0);
    gm_roam(g, 0, 1);
    gm_swrite(g, 0, 0, 1, 1);
    gm_swrite(g, 2, 1, 1, 1);
    gm_tick(g, 0, 5);                     /* nothing due */
    gm_tick(g, 0, 15);                    /* session 0 expires on 0 */
    gm_tick(g, 2, 61);                    /* session 1 expires on 2 */
    gm_end(g, 1, 0);                      /* ended by a call on 1 as well */
    gm_swrite(g, 0, 0, 0, 2);             /* expired on 0: refused */
    gm_merge_all(g);
    gm_tick(g, 1, 200);
}

static void gm_idem_retries(gm_seed *g) {
    gm_idem(g, 0, 0, 0, 0, 0);
    gm_idem(g, 1, 0, 0, 0, 0);            /* the retry on another replica */
    gm_idem(g, 2, 0, 0, 0, 0);
    gm_idem(g, 0, 0, 0, 0, 0);            /* and on the first again */
    gm_idem(g, 1, 1, 2, 0, 0);
    gm_idem(g, 2, 1, 3, 1, 0);            /* tenant 7 */
    gm_idem(g, 0, 1, 3, 1, 0);
    gm_merge(g, 2, 0, 0, 0);              /* all duplicates */
    gm_idem(g, 2, 3, 1, 0, 0);
    gm_merge_all(g);
    gm_idem(g, 1, 3, 1, 0, 0);            /* a retry after the merge: duplicate */
}

static void gm_merge_modes(gm_seed *g) {
    int i;
    for (i = 0; i < 6; i++) gm_sig(g, i % 3, 1 + i % 4, i % 3, i, i, 0, i % 5, i % 4);
    gm_merge(g, 0, 1, 1, 0);              /* reversed */
    gm_merge(g, 1, 2, 2, 1);              /* a suffix */
    gm_merge(g, 2, 0, 3, 1);              /* every other event */
    gm_merge(g, 0, 0, 0, 0);              /* self: all duplicates */
    for (i = 0; i < 6; i++) gm_sig(g, i % 3, 5 + i % 3, i % 3, 6 + i, 6 + i, 0, 0, 1);
    gm_merge(g, 2, 1, 3, 0);
    gm_merge(g, 1, 0, 1, 0);
    gm_merge(g, 1, 1, 1, 0);
}

static void gm_tenants(gm_seed *g) {
    gm_sig(g, 0, 1, 0, 0, 0, 1, 1, 2);    /* tenant 7 */
    gm_sig(g, 1, 1, 0, 1, 0, 0, 1, 2);    /* tenant 0, same item id */
    gm_sig(g, 2, 2, 2, 2, 0, 1, 0, 0);
    gm_attr(g, 0, 8, 0, 1, 1);            /* tenant 7 user 100 locale=en */
    gm_attr(g, 1, 8, 0, 2, 0);            /* tenant 0 user 100 locale=fr */
    gm_attr(g, 0, 1, 2, 5, 1);            /* tenant 7 item 2 creator 202 */
    gm_neg(g, 0, 1, 1, 3, 1, 1);          /* tenant 7: user 101 blocks 202 */
    gm_neg(g, 1, 1, 1, 1, 1, 0);          /* tenant 0: user 101 hides item 2 */
    gm_sig(g, 0, 3, 0, 0, 0, 1, 1, 0);    /* tenant 7, cohort from attributes */
    gm_merge_all(g);
    gm_neg(g, 2, 0, 1, 3, 1, 1);
}

static void gm_history(gm_seed *g) {
    static const int times[10] = {13, 12, 11, 10, 9, 8, 7, 6, 3, 0};
    int i;
    for (i = 0; i < 10; i++) /* one item and type, times from 400 days ago to now */
        gm_sig(g, i % 3, 6, i % 2, i % 13, times[i], 0, 0, 1 + i % 3);
    gm_merge(g, 0, 1, 1, 0);
    gm_merge(g, 1, 2, 0, 0);
    gm_merge(g, 2, 0, 1, 0);
}

static void gm_mixed(gm_seed *g) {
    gm_start(g, 0, 0, 1, 0);
    gm_sig(g, 1, 7, 1, 2, 2, 0, 1, 0);
    gm_attr(g, 2, 6, 2, 6, 0);            /* item 7 creator 203 */
    gm_neg(g, 0, 1, 0, 2, 2, 0);          /* user 100 mutes 203 */
    gm_idem(g, 1, 2, 1, 0, 0);
    gm_roam(g, 2, 0);
    gm_swrite(g, 2, 0, 0, 1);
    gm_merge(g, 1, 0, 2, 0);
    gm_swrite(g, 1, 1, 0, 0);
    gm_neg(g, 1, 0, 0, 2, 2, 0);          /* unmute on 1 (it saw the mute) */
    gm_idem(g, 0, 2, 1, 0, 0);
    gm_merge(g, 0, 2, 1, 0);
    gm_tick(g, 0, 12);
    gm_merge(g, 2, 1, 3, 1);
    gm_merge_all(g);
}

typedef struct gm_entry {
    const char *name;
    void (*fn)(gm_seed *g);
} gm_entry;

int main(void) {
    static const gm_entry seeds[] = {
        {"signals_weights_times_cohorts", gm_signals}, {"rejected_calls", gm_errors},
        {"attrs_lww_and_deletes", gm_attrs}, {"negatives_add_remove", gm_negatives},
        {"sessions_roam_seqs_end", gm_sessions}, {"sessions_chosen_ids_expiry", gm_sessions_ids},
        {"sessions_ttl_tick", gm_ttl}, {"idempotent_retries", gm_idem_retries},
        {"merge_modes_and_self", gm_merge_modes}, {"two_tenants", gm_tenants},
        {"decay_history_400_days", gm_history}, {"mixed", gm_mixed}, {"empty", NULL}};
    char path[256];
    size_t i;
    if (mkdir("fuzz/corpus/merge", 0777) != 0 && errno != EEXIST) {
        perror("fuzz/corpus/merge (run from the repository root)");
        return 1;
    }
    for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        gm_seed g;
        FILE *f;
        memset(&g, 0, sizeof g);
        if (seeds[i].fn) seeds[i].fn(&g);
        LLVMFuzzerTestOneInput(g.b, g.n); /* self-check: aborts if a law fails */
        snprintf(path, sizeof path, "fuzz/corpus/merge/%s", seeds[i].name);
        if (!(f = fopen(path, "wb")) || fwrite(g.b, 1, g.n, f) != g.n || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        printf("%-40s %4zu bytes\n", path, g.n);
    }
    return 0;
}
