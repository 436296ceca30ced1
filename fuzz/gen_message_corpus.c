/* gen_message_corpus.c - writes the seed corpus of fuzz_message from real traffic: a
   three-node replica group (the harness of tests/test_replication.c, with fuzz_message's
   schema and config) on simulated disks and a simulated network runs a varied workload on
   the leader (signals with cohort tags, attributes, hides and unhides, a mute, sessions
   with signals and notes, an idempotency key, a schema append and a signal of the appended
   type), and the messages popped from the network are saved with fuzz_message's mode byte
   in front: appends (first batch, a multi-batch
   resend, later single batches), heartbeats, acks and any other message type seen, among
   them whatever an election produces once the leader goes silent. Every seed is then fed
   to the target once as a self-check and its results printed.
   Usage: gen_message_corpus   (run from the repository root; writes fuzz/corpus/message) */
#include "fuzz_message.c"

#define GM_MS INT64_C(1000000)
#define GM_FILE_MAX 65536
#define GM_SEEDS_MAX 32

typedef struct gm_node {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_config cfg;
    tidal_db *db;
} gm_node;

typedef struct gm_cluster {
    tidal_sim_net *net;
    gm_node n[FM_NODES];
    int64_t now, next_tick;
} gm_cluster;

/* One captured message: who it went to and its bytes. */
typedef struct gm_msg {
    int to;
    uint32_t type;
    size_t len, batches;
    uint8_t *bytes;
} gm_msg;

static gm_msg gm_cap[4096];
static int gm_n_cap;
static char gm_names[GM_SEEDS_MAX][64];
static int gm_n_seeds;

static size_t gm_count_batches(const uint8_t *p, size_t n) {
    size_t off = 0, k = 0;
    while (n - off >= TIDAL__WAL_HDR) {
        tidal__batch_hdr h;
        tidal__batch_hdr_get(p + off, &h);
        if (h.payload_len > n - off - TIDAL__WAL_HDR) break;
        off += TIDAL__WAL_HDR + h.payload_len;
        k++;
    }
    return k;
}

static void gm_capture(const tidal_sim_msg *m) {
    gm_msg *c;
    if (gm_n_cap >= (int)(sizeof gm_cap / sizeof gm_cap[0]) || m->len < TIDAL__MSG_HDR) return;
    c = &gm_cap[gm_n_cap++];
    c->to = m->to.region;
    c->type = (uint32_t)m->bytes[8] | (uint32_t)m->bytes[9] << 8;
    c->len = m->len;
    c->batches = gm_count_batches(m->bytes + TIDAL__MSG_HDR, m->len - TIDAL__MSG_HDR);
    c->bytes = (uint8_t *)malloc(m->len);
    fm_require(c->bytes != NULL, "malloc");
    memcpy(c->bytes, m->bytes, m->len);
}

static void gm_start(gm_cluster *c, int i) {
    char msg[256];
    tidal_result r = tidal_db_open_msg(&c->n[i].cfg, &c->n[i].db, msg, sizeof msg);
    if (r != TIDAL_OK) fprintf(stderr, "node %d open: %s %s\n", i, tidal_strerror(r), msg);
    fm_require(r == TIDAL_OK, "open a cluster node");
}

static void gm_init(gm_cluster *c, uint64_t seed) {
    int i;
    memset(c, 0, sizeof *c);
    c->net = tidal_sim_net_new(seed);
    c->now = FM_NOW;
    for (i = 0; i < FM_NODES; i++) {
        gm_node *n = &c->n[i];
        n->disk = tidal_sim_disk_new(seed * 31 + (uint64_t)i);
        tidal_sim_env_init(&n->env, n->disk, c->now, seed * 17 + (uint64_t)i);
        tidal_sim_env_attach_net(&n->env, c->net, fm_refs[i]);
        fm_config(&n->cfg, &n->env, (uint32_t)i);
        gm_start(c, i);
    }
    c->next_tick = c->now + 10 * GM_MS;
}

static void gm_free(gm_cluster *c) {
    int i;
    for (i = 0; i < FM_NODES; i++) {
        if (c->n[i].db) tidal_db_close(c->n[i].db);
        tidal_sim_disk_free(c->n[i].disk);
    }
    tidal_sim_net_free(c->net);
}

static void gm_set_time(gm_cluster *c, int64_t t) {
    int i;
    int64_t dt = t - c->now;
    c->now = t;
    for (i = 0; i < FM_NODES; i++) {
        c->n[i].env.now_ns += dt;
        c->n[i].env.mono_ns += dt;
    }
}

/* Runs the cluster until virtual time until, capturing every delivered message. */
static void gm_run(gm_cluster *c, int64_t until) {
    for (;;) {
        int64_t next = tidal_sim_net_next_ns(c->net);
        tidal_sim_msg m;
        int i;
        if (c->next_tick < next) next = c->next_tick;
        if (next > until) break;
        if (next > c->now) gm_set_time(c, next);
        while (tidal_sim_net_pop(c->net, c->now, &m)) {
            gm_capture(&m);
            for (i = 0; i < FM_NODES; i++)
                if (fm_refs[i].region == m.to.region && c->n[i].db)
                    (void)tidal_node_receive(c->n[i].db, m.from, m.bytes, m.len);
            tidal_sim_msg_free(&m);
        }
        if (c->now >= c->next_tick) {
            for (i = 0; i < FM_NODES; i++)
                if (c->n[i].db) fm_require(tidal_db_tick(c->n[i].db, 0) == TIDAL_OK, "tick");
            c->next_tick += 10 * GM_MS;
        }
    }
    if (until > c->now) gm_set_time(c, until);
}

static void gm_ok(tidal_result r, const char *what) {
    if (r != TIDAL_OK) fprintf(stderr, "%s: %s\n", what, tidal_strerror(r));
    fm_require(r == TIDAL_OK, what);
}

/* The first batch: every kind of event in one commit. */
static void gm_rich_batch(tidal_db *db, int64_t now) {
    tidal_signal s;
    tidal_tag tag[2];
    tidal_id sid = 0;
    int i;
    memset(&s, 0, sizeof s);
    tag[0].key = "locale";
    tag[0].value = "EU";
    tag[1].key = "tier";
    tag[1].value = "gold";
    gm_ok(tidal_db_batch_begin(db), "batch begin");
    gm_ok(tidal_attr_set(db, 0, 9, "locale", "US", NULL), "attr");
    gm_ok(tidal_attr_set(db, 0, 3, "creator", "77", NULL), "attr");
    gm_ok(tidal_attr_set(db, 0, 3, "gone", NULL, NULL), "attr delete");
    for (i = 0; i < 6; i++) {
        s.item = 1 + (uint64_t)i % 4;
        s.type = (uint32_t)i % 3;
        s.weight = i % 5 ? 1.5 : -2;
        s.time_ns = now - (int64_t)i * 3600 * TIDAL_NS_PER_S;
        s.user = i % 2 ? 9 : 0;
        s.cohort = i % 3 ? tag : NULL;
        s.cohort_count = i % 3 ? 2u - (uint32_t)(i % 2) : 0;
        gm_ok(tidal_signal_write(db, &s, NULL), "signal");
    }
    gm_ok(tidal_negative_add(db, 0, 9, TIDAL_HIDE, 2, NULL), "hide");
    gm_ok(tidal_negative_remove(db, 0, 9, TIDAL_HIDE, 2, NULL), "unhide");
    gm_ok(tidal_session_start(db, 0, 9, 60 * TIDAL_NS_PER_S, &sid), "session");
    s.user = 0;
    s.cohort = tag; /* a keyed write carries its cohort tags: none */
    s.cohort_count = 0;
    gm_ok(tidal_session_signal(db, sid, 0, &s, NULL), "session signal");
    gm_ok(tidal_session_note(db, 0, sid, 0, "a note", NULL), "note");
    gm_ok(tidal_session_end(db, 0, sid), "end");
    gm_ok(tidal_item_delete(db, 0, 4, NULL), "item delete");
    gm_ok(tidal_user_forget(db, 0, 9, NULL), "user forget");
    gm_ok(tidal_db_commit(db), "commit");
}

/* Later writes, one commit each: a tenant, an idempotency key, a mute, a second session. */
static void gm_single_writes(tidal_db *db, int64_t now, int round) {
    static const tidal_tag s_none = {"locale", "none"};
    tidal_signal s;
    tidal_id sid = 0;
    memset(&s, 0, sizeof s);
    s.tenant = (uint32_t)round;
    s.item = 40 + (uint64_t)round;
    s.type = 1;
    s.weight = 2.5;
    s.time_ns = now - TIDAL_NS_PER_S;
    s.user = 12;
    s.cohort = &s_none;
    s.cohort_count = 0;
    s.idem.key = round ? "retry-b" : "retry-a";
    s.idem.key_len = 7;
    s.idem.seq = 4;
    gm_ok(tidal_signal_write(db, &s, NULL), "idem signal");
    gm_ok(tidal_negative_add(db, (uint32_t)round, 12, TIDAL_MUTE, 77, NULL), "mute");
    gm_ok(tidal_attr_set(db, (uint32_t)round, s.item, "format", round ? "video" : "text", NULL), "attr");
    gm_ok(tidal_session_start(db, (uint32_t)round, 12, 30 * TIDAL_NS_PER_S, &sid), "session");
    s.idem.key = NULL;
    s.idem.key_len = 0;
    s.idem.seq = 0;
    gm_ok(tidal_session_signal(db, sid, 1, &s, NULL), "session signal");
}

/* The schema grows by a fourth signal type, share (a schema event alone in its batch),
   and one share signal follows in the next batch. */
static void gm_schema_append(tidal_db *db, int64_t now) {
    tidal_schema cur, grown;
    tidal_signal_def sigs[4];
    tidal_signal s;
    gm_ok(tidal_db_schema_get(db, &cur), "schema get");
    memcpy(sigs, cur.signals, sizeof(tidal_signal_def) * 3);
    memset(&sigs[3], 0, sizeof sigs[3]);
    sigs[3].name = "share";
    sigs[3].half_life_s = 7200;
    grown = cur;
    grown.signals = sigs;
    grown.signal_count = 4;
    gm_ok(tidal_db_schema_append(db, &grown), "schema append");
    memset(&s, 0, sizeof s);
    s.item = 2;
    s.type = 3;
    s.weight = 1;
    s.time_ns = now - TIDAL_NS_PER_S;
    gm_ok(tidal_signal_write(db, &s, NULL), "share signal");
}

static void gm_save(const char *name, uint8_t mode, const uint8_t *pre, size_t npre, const uint8_t *a,
                    size_t na, const uint8_t *b, size_t nb) {
    char path[256];
    FILE *f;
    if (1 + npre + na + nb > GM_FILE_MAX) {
        fprintf(stderr, "skipped %s: %zu bytes\n", name, 1 + npre + na + nb);
        return;
    }
    snprintf(path, sizeof path, "fuzz/corpus/message/%s", name);
    f = fopen(path, "wb");
    fm_require(f != NULL, path);
    fputc(mode, f);
    if (npre) fwrite(pre, 1, npre, f);
    if (na) fwrite(a, 1, na, f);
    if (nb) fwrite(b, 1, nb, f);
    fm_require(fclose(f) == 0, path);
    if (gm_n_seeds < GM_SEEDS_MAX) snprintf(gm_names[gm_n_seeds++], sizeof gm_names[0], "%s", name);
}

static void gm_save1(const char *name, uint8_t mode, const gm_msg *m) {
    if (m) gm_save(name, mode, NULL, 0, m->bytes, m->len, NULL, 0);
}

/* Two messages, split where the first ends (mode bit 2). */
static void gm_save2(const char *name, uint8_t mode, const gm_msg *a, const gm_msg *b) {
    uint8_t pre[2];
    if (!a || !b || a->len > 0xFFFF) return;
    pre[0] = (uint8_t)a->len;
    pre[1] = (uint8_t)(a->len >> 8);
    gm_save(name, (uint8_t)(mode | 4), pre, 2, a->bytes, a->len, b->bytes, b->len);
}

/* The first captured message at or after index from matching to / type / batches
   (batches: -1 any, 0 none, 1 exactly one, 2 more than one). */
static const gm_msg *gm_find(int from, int to, uint32_t type, int batches) {
    int i;
    for (i = from; i < gm_n_cap; i++) {
        const gm_msg *m = &gm_cap[i];
        if ((to >= 0 && m->to != to) || m->type != type) continue;
        if (batches == 0 && m->batches) continue;
        if (batches == 1 && m->batches != 1) continue;
        if (batches == 2 && m->batches < 2) continue;
        return m;
    }
    return NULL;
}

/* An ack node region sent the leader (its region byte picks the sender when repaired). */
static const gm_msg *gm_find_ack(int region) {
    int i;
    for (i = 0; i < gm_n_cap; i++)
        if (gm_cap[i].type == 2 && gm_cap[i].to == 0 && gm_cap[i].bytes[14] == region) return &gm_cap[i];
    return NULL;
}

static void gm_put(uint8_t *w, uint64_t v, int bytes) {
    int i;
    for (i = 0; i < bytes; i++) w[i] = (uint8_t)(v >> (8 * i));
}

/* Mode 1|2|4|8, 2.5 s ticks: a granted vote for epoch 2 from node 2, then base's bytes as
   a message of type from region sender with b = b (b 0 keeps an ack's payload empty). */
static void gm_election_seed(const char *name, const gm_msg *base, uint32_t type, uint8_t sender, uint64_t b) {
    uint8_t vote[TIDAL__MSG_HDR], *second, pre[3];
    size_t len = type == TIDAL__MSG_ACK ? TIDAL__MSG_HDR : base->len;
    memset(vote, 0, sizeof vote);
    gm_put(vote + 8, TIDAL__MSG_VOTE, 2);
    vote[14] = 2;              /* from (2, 0) */
    gm_put(vote + 24, 2, 8);   /* epoch */
    gm_put(vote + 32, 1, 8);   /* granted */
    second = (uint8_t *)malloc(len);
    fm_require(second != NULL, "malloc");
    memcpy(second, base->bytes, len);
    gm_put(second + 8, type, 2);
    second[14] = sender;
    gm_put(second + 24, 2, 8);
    gm_put(second + 40, b, 8);
    pre[0] = (uint8_t)sizeof vote;
    pre[1] = 0;
    pre[2] = 50;
    gm_save(name, 1 | 2 | 4 | 8, pre, 3, vote, sizeof vote, second, len);
    free(second);
}

static const char *gm_type_name(uint32_t t) {
    switch (t) {
    case 1: return "append";
    case 2: return "ack";
    case 3: return "vote_req";
    case 4: return "vote";
    case 5: return "push";
    case 6: return "push_ack";
    default: return "type";
    }
}

int main(void) {
    gm_cluster c;
    const gm_msg *multi, *next, *first2;
    int phase_next, phase_election, i;
    uint32_t t;
    gm_init(&c, 20260501);

    /* Phase 1: node 1 cannot hear the leader while the rich batch, four single commits and
       a schema append (then a share signal) happen; node 2 gets them one by one. Healed,
       the leader resends node 1 everything from lsn 1 in one multi-batch append. */
    {
        uint32_t cut = tidal_sim_net_partition_regions(c.net, 0, 1, 1);
        gm_rich_batch(c.n[0].db, c.now);
        for (i = 0; i < 2; i++) gm_single_writes(c.n[0].db, c.now, i);
        gm_schema_append(c.n[0].db, c.now);
        gm_run(&c, c.now + 300 * GM_MS);
        tidal_sim_net_heal(c.net, cut);
        gm_run(&c, c.now + 1500 * GM_MS);
    }
    /* Phase 2: node 1 is caught up; each write ships alone. Then quiet: heartbeats. */
    phase_next = gm_n_cap;
    gm_single_writes(c.n[0].db, c.now, 2);
    gm_run(&c, c.now + 400 * GM_MS);
    /* Phase 3: the leader goes silent; whatever election traffic exists is captured. */
    phase_election = gm_n_cap;
    tidal_sim_net_set_down(c.net, fm_refs[0], 1);
    gm_run(&c, c.now + 5000 * GM_MS);
    tidal_sim_net_set_down(c.net, fm_refs[0], 0);
    gm_run(&c, c.now + 2000 * GM_MS);
    printf("captured %d messages\n", gm_n_cap);

    multi = gm_find(0, 1, 1, 2);
    next = gm_find(phase_next, 1, 1, 1);
    first2 = gm_find(0, 2, 1, 1);
    gm_save1("append_resend_multi_batch", 0, multi);
    gm_save1("append_resend_multi_batch_repaired", 1, multi);
    gm_save1("append_resend_multi_batch_repaired_batches", 3, multi);
    gm_save1("append_next_single_gap", 0, next);
    gm_save2("append_multi_then_next", 0, multi, next);
    gm_save2("append_multi_then_next_repaired_batches", 3, multi, next);
    gm_save2("append_multi_twice_overlap", 3 | 16, multi, multi);
    gm_save1("append_first_batch_to_node2_repaired", 1, first2);
    gm_save1("heartbeat", 0, gm_find(phase_next, 1, 1, 0));
    gm_save1("ack_from_node1_raw", 0, gm_find_ack(1));
    gm_save1("ack_from_node2_repaired", 1, gm_find_ack(2));
    /* Ticks first (mode bit 3): 100 ms, then 2.5 s of silence, past the election timeout,
       so the append from epoch 1 arrives at a candidate of epoch 2. */
    if (multi) {
        uint8_t pre = 2;
        gm_save("append_multi_after_short_tick", 8, &pre, 1, multi->bytes, multi->len, NULL, 0);
        pre = 50;
        gm_save("append_multi_after_election_timeout", 8, &pre, 1, multi->bytes, multi->len, NULL, 0);
    }
    /* Every other type seen: raw when it was sent to node 1, else repaired (to node 1) and
       from node 2 (node 1 never accepts its own messages). */
    for (t = 3; t <= 16; t++) {
        const gm_msg *m = gm_find(phase_election, 1, t, -1);
        char name[64];
        if (!m) m = gm_find(0, 1, t, -1);
        snprintf(name, sizeof name, "%s_%u%s", gm_type_name(t), t, m ? "" : "_repaired");
        if (m) {
            gm_save1(name, 0, m);
        } else if ((m = gm_find(0, -1, t, -1)) != NULL) {
            gm_msg copy = *m;
            copy.bytes = (uint8_t *)malloc(m->len);
            fm_require(copy.bytes != NULL, "malloc");
            memcpy(copy.bytes, m->bytes, m->len);
            copy.bytes[14] = 2;
            gm_save1(name, 1, &copy);
            free(copy.bytes);
        }
    }
    /* Node 1 times out and runs for epoch 2 (tick), node 2 grants its vote, node 1 leads;
       then a push of node 2's log, an ack from node 2, or an append from node 0 claiming
       the same epoch: the leader-side handlers, from a follower's start. */
    if (multi) {
        gm_election_seed("election_won_then_push", multi, TIDAL__MSG_PUSH, 2, 1000);
        gm_election_seed("election_won_then_ack", multi, TIDAL__MSG_ACK, 2, 0);
        gm_election_seed("election_won_then_append_same_epoch", multi, TIDAL__MSG_APPEND, 0, 0);
    }

    for (i = 0; i < gm_n_cap; i++) free(gm_cap[i].bytes);
    gm_free(&c);

    /* Self-check: every seed through the target, with what it did. */
    for (i = 0; i < gm_n_seeds; i++) {
        char path[256];
        FILE *f;
        uint8_t *buf = (uint8_t *)malloc(GM_FILE_MAX);
        size_t n;
        int k;
        snprintf(path, sizeof path, "fuzz/corpus/message/%s", gm_names[i]);
        f = fopen(path, "rb");
        fm_require(f != NULL && buf != NULL, path);
        n = fread(buf, 1, GM_FILE_MAX, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        printf("%-46s %6zu bytes:", gm_names[i], n);
        for (k = 0; k < fm_last.n; k++)
            printf(" [%s%s%s%s]", tidal_strerror(fm_last.r[k]), fm_last.changed[k] ? ", state changed" : "",
                   fm_last.r[k] ? ": " : "", fm_last.why[k]);
        printf(" role %d epoch %llu leader_lsn %llu\n", (int)fm_last.st.role, (unsigned long long)fm_last.st.epoch,
               (unsigned long long)fm_last.st.leader_lsn);
        free(buf);
    }
    return 0;
}
