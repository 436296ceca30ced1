/* test_control.c - the control plane's replicated log (tidal.h >>control) over the
   simulated network and disks: 3 and 5 members, elections, commit only by a majority of
   the leader's own term (the Figure 8 scenario of the Raft paper, step by step), crashes
   at random file operations with torn writes, partitions and heals, message loss,
   duplication and reordering, and a randomized history whose invariants are checked after
   every step: election safety (one leader per term), log matching, leader completeness,
   state machine safety (no two members apply different records at one index), commit only
   when a majority holds the entry, a vote never given twice in a term (across crashes),
   a term never going back after a crash. Plus malformed messages, records and files. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#define T0 (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define MS INT64_C(1000000)
#define NMAX 6
#define IDX_MAX 4096  /* entries the oracle tracks */
#define TERMS_MAX 8192

typedef struct cnode {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_control *ctl;
    int up;
    int ticking;                     /* the test ticks it (scenarios pick who runs) */
    uint64_t applied;                /* highest index polled */
    uint64_t max_term_sent;          /* the highest term it ever put on the wire */
    uint64_t voted_term[TERMS_MAX];  /* granted votes: candidate word + 1, by term */
    struct cluster *c;
    int me;
    uint64_t crash_log_n;            /* log at crash, for the majority count while down */
    uint64_t crash_terms[IDX_MAX];
} cnode;

typedef struct committed {
    uint64_t term;
    tidal_control_record rec;
    uint64_t seen_term; /* the observer's term when it was first seen committed */
    int set;
} committed;

typedef struct cluster {
    tidal_sim_net *net;
    int n;
    int voters;                      /* nd[0, voters) vote; the rest are learners */
    tidal_node_ref refs[NMAX];
    cnode nd[NMAX];
    int64_t now;
    uint32_t append_max;
    uint64_t leader_of[TERMS_MAX];   /* member + 1 that led each term */
    committed com[IDX_MAX + 1];
    tidal_control_record applied[IDX_MAX + 1];
    int applied_set[IDX_MAX + 1];
    uint64_t proposals, max_commit;
    /* delivery filter: returns 0 to drop the message */
    int (*filter)(struct cluster *c, const tidal_sim_msg *m, const tidal_control_message *d);
    int filter_arg;
} cluster;

static int rec_eq(const tidal_control_record *a, const tidal_control_record *b) {
    uint8_t x[TIDAL_CONTROL_RECORD_BYTES_MAX], y[TIDAL_CONTROL_RECORD_BYTES_MAX];
    size_t nx = 0, ny = 0;
    if (tidal_control_record_encode(a, x, sizeof x, &nx, NULL, 0) != TIDAL_OK) return 0;
    if (tidal_control_record_encode(b, y, sizeof y, &ny, NULL, 0) != TIDAL_OK) return 0;
    return nx == ny && !memcmp(x, y, nx);
}

/* The env's message_send, wrapped: every message a member sends is decoded and its
   promises recorded (a granted vote, the term) before the network takes it. */
static tidal_result spy_send(void *user, tidal_node_ref to, const void *bytes, size_t len) {
    tidal_sim_env *e = (tidal_sim_env *)user;
    cnode *n = (cnode *)((char *)e - offsetof(cnode, env));
    tidal_control_message m;
    char why[200];
    tidal_result r = tidal_control_message_decode(bytes, len, &m, why, sizeof why);
    TT_CHECKF(r == TIDAL_OK, "member %d sent a message that does not decode: %s", n->me, why);
    if (r == TIDAL_OK) {
        TT_CHECKF(m.term >= n->max_term_sent, "member %d sent term %llu after %llu", n->me,
                  (unsigned long long)m.term, (unsigned long long)n->max_term_sent);
        if (m.term > n->max_term_sent) n->max_term_sent = m.term;
        if (m.type == TIDAL_CONTROL_MSG_VOTE && m.granted && m.term < TERMS_MAX) {
            uint64_t cand = (uint64_t)(to.region << 16 | to.shard) + 1;
            TT_CHECKF(!n->voted_term[m.term] || n->voted_term[m.term] == cand,
                      "member %d voted twice in term %llu", n->me, (unsigned long long)m.term);
            n->voted_term[m.term] = cand;
        }
    }
    return tidal_sim_net_send(e->net, e->self, to, bytes, len, e->now_ns);
}

static void node_open(cluster *c, int i) {
    tidal_control_config cfg;
    char msg[256];
    cnode *n = &c->nd[i];
    tidal_result r;
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &n->env.env;
    cfg.path = "ctl";
    cfg.self = c->refs[i];
    cfg.members = c->refs;
    cfg.member_count = (uint32_t)c->voters;
    cfg.learners = c->voters < c->n ? c->refs + c->voters : NULL;
    cfg.learner_count = (uint32_t)(c->n - c->voters);
    cfg.election_timeout_ns = 300 * MS;
    cfg.heartbeat_ns = 50 * MS;
    cfg.append_entries_max = c->append_max;
    r = tidal_control_open(&cfg, &n->ctl, msg, sizeof msg);
    TT_CHECKF(r == TIDAL_OK, "member %d open: %s %s", i, tidal_strerror(r), msg);
    n->up = r == TIDAL_OK;
    n->applied = 0; /* the host takes every committed record again after a reopen */
    tidal_sim_net_set_down(c->net, c->refs[i], !n->up);
    if (n->up) {
        tidal_control_status st;
        tidal_control_status_get(n->ctl, &st);
        TT_CHECKF(st.term >= n->max_term_sent, "member %d forgot its term: %llu < %llu", i,
                  (unsigned long long)st.term, (unsigned long long)n->max_term_sent);
    }
}

static void cluster_init2(cluster *c, int n, int voters, uint64_t seed, uint32_t append_max) {
    int i;
    memset(c, 0, sizeof *c);
    c->voters = voters;
    c->n = n;
    c->voters = c->voters ? c->voters : n;
    c->append_max = append_max;
    c->net = tidal_sim_net_new(seed);
    c->now = T0;
    for (i = 0; i < n; i++) {
        cnode *nd = &c->nd[i];
        c->refs[i].region = (uint16_t)i; /* one member per region */
        c->refs[i].shard = 0;
        nd->c = c;
        nd->me = i;
        nd->ticking = 1;
        nd->disk = tidal_sim_disk_new(seed * 31 + (uint64_t)i);
        tidal_sim_env_init(&nd->env, nd->disk, c->now, seed * 17 + (uint64_t)i);
        tidal_sim_env_attach_net(&nd->env, c->net, c->refs[i]);
        nd->env.env.message_send = spy_send;
    }
    for (i = 0; i < n; i++) node_open(c, i);
}

static void cluster_init(cluster *c, int n, uint64_t seed, uint32_t append_max) {
    cluster_init2(c, n, n, seed, append_max);
}

static void cluster_free(cluster *c) {
    int i;
    tidal_sim_msg m;
    for (i = 0; i < c->n; i++) {
        tidal_control_close(c->nd[i].ctl);
        tidal_sim_disk_free(c->nd[i].disk);
    }
    while (tidal_sim_net_pop(c->net, INT64_MAX, &m)) tidal_sim_msg_free(&m);
    tidal_sim_net_free(c->net);
}

/* Power loss on member i's machine: unsynced writes get their fates (torn ones too). */
static void node_crash(cluster *c, int i) {
    cnode *n = &c->nd[i];
    uint64_t k;
    if (!n->up) return;
    n->crash_log_n = 0;
    for (k = 1; k <= IDX_MAX; k++) {
        uint64_t t;
        if (tidal_control_entry(n->ctl, k, &t, NULL) != TIDAL_OK) break;
        n->crash_terms[k - 1] = t;
        n->crash_log_n = k;
    }
    tidal_sim_disk_crash(n->disk);
    tidal_control_close(n->ctl);
    n->ctl = NULL;
    n->up = 0;
    tidal_sim_net_set_down(c->net, c->refs[i], 1);
}

static void node_restart(cluster *c, int i) {
    if (c->nd[i].up) return;
    tidal_sim_disk_restart(c->nd[i].disk);
    node_open(c, i);
}

/* Every invariant, over every member that is up (and the logs of those that are down). */
static void check_all(cluster *c) {
    int i, j;
    uint64_t k;
    for (i = 0; i < c->n; i++) {
        tidal_control_status st;
        cnode *n = &c->nd[i];
        tidal_control_record rec;
        uint64_t idx;
        if (!n->up) continue;
        tidal_control_status_get(n->ctl, &st);
        /* Election safety. */
        TT_CHECKF(st.learner == (i >= c->voters), "member %d: learner %d", i, st.learner);
        if (i >= c->voters)
            TT_CHECKF(st.role != TIDAL_ROLE_LEADER && !st.candidate && !st.elections,
                      "learner %d ran for election (role %d, elections %llu)", i, (int)st.role,
                      (unsigned long long)st.elections);
        if (st.role == TIDAL_ROLE_LEADER && st.term < TERMS_MAX) {
            TT_CHECKF(!c->leader_of[st.term] || c->leader_of[st.term] == (uint64_t)i + 1,
                      "two leaders in term %llu: %llu and %d", (unsigned long long)st.term,
                      (unsigned long long)c->leader_of[st.term] - 1, i);
            c->leader_of[st.term] = (uint64_t)i + 1;
        }
        /* Leader completeness: a leader holds every entry committed before its term. */
        if (st.role == TIDAL_ROLE_LEADER)
            for (k = 1; k <= c->max_commit; k++) {
                uint64_t t = 0;
                if (!c->com[k].set || c->com[k].seen_term >= st.term) continue;
                TT_CHECKF(tidal_control_entry(n->ctl, k, &t, &rec) == TIDAL_OK && t == c->com[k].term &&
                          rec_eq(&rec, &c->com[k].rec), "leader %d of term %llu lacks committed index %llu",
                          i, (unsigned long long)st.term, (unsigned long long)k);
            }
        /* Commits: the same entry everywhere, and on a majority when first seen. */
        TT_CHECK(st.commit_index <= st.last_index && st.commit_index < IDX_MAX);
        for (k = 1; k <= st.commit_index && k < IDX_MAX; k++) {
            uint64_t t = 0;
            int holders = 0;
            tidal_control_entry(n->ctl, k, &t, &rec);
            if (c->com[k].set) {
                TT_CHECKF(c->com[k].term == t && rec_eq(&c->com[k].rec, &rec),
                          "member %d committed another entry at index %llu", i, (unsigned long long)k);
                continue;
            }
            for (j = 0; j < c->voters; j++) { /* learners never count (nor are counted) */
                uint64_t tj = 0;
                if (c->nd[j].up) holders += tidal_control_entry(c->nd[j].ctl, k, &tj, NULL) == TIDAL_OK && tj == t;
                else holders += c->nd[j].crash_log_n >= k && c->nd[j].crash_terms[k - 1] == t;
            }
            TT_CHECKF(holders * 2 > c->voters, "index %llu committed on %d of %d voters",
                      (unsigned long long)k, holders, c->voters);
            c->com[k].set = 1;
            c->com[k].term = t;
            c->com[k].rec = rec;
            c->com[k].seen_term = st.term;
            if (k > c->max_commit) c->max_commit = k;
        }
        /* State machine safety: what the host is handed. */
        while (tidal_control_poll(n->ctl, &idx, &rec) == TIDAL_OK) {
            TT_CHECKF(idx > n->applied && idx <= st.commit_index, "member %d polled %llu out of order", i,
                      (unsigned long long)idx);
            n->applied = idx;
            if (idx >= IDX_MAX) continue;
            if (c->applied_set[idx])
                TT_CHECKF(rec_eq(&c->applied[idx], &rec), "member %d applied another record at %llu", i,
                          (unsigned long long)idx);
            c->applied[idx] = rec;
            c->applied_set[idx] = 1;
        }
    }
    /* Log matching: where two logs agree on an index's term, they agree before it. */
    for (i = 0; i < c->n; i++)
        for (j = i + 1; j < c->n; j++) {
            uint64_t top = 0, ti, tj;
            tidal_control_record ri, rj;
            if (!c->nd[i].up || !c->nd[j].up) continue;
            for (k = 1; tidal_control_entry(c->nd[i].ctl, k, &ti, NULL) == TIDAL_OK &&
                        tidal_control_entry(c->nd[j].ctl, k, &tj, NULL) == TIDAL_OK; k++)
                if (ti == tj) top = k;
            for (k = 1; k <= top; k++) {
                tidal_control_entry(c->nd[i].ctl, k, &ti, &ri);
                tidal_control_entry(c->nd[j].ctl, k, &tj, &rj);
                TT_CHECKF(ti == tj && rec_eq(&ri, &rj), "logs of %d and %d differ at %llu below a match at %llu",
                          i, j, (unsigned long long)k, (unsigned long long)top);
            }
        }
}

/* A member's call failed (its disk crashed under it): it is down until restarted. */
static void node_result(cluster *c, int i, tidal_result r) {
    if (r == TIDAL_OK || r == TIDAL_ERR_CORRUPT) return;
    TT_CHECKF(r == TIDAL_ERR_FATAL || r <= TIDAL_ERR_IO_READ, "member %d: %s %s", i,
              tidal_strerror(r), tidal_control_errmsg(c->nd[i].ctl));
    node_crash(c, i);
}

/* Moves time by dt: delivers every message due (through the filter), ticks members. */
static void cluster_run(cluster *c, int64_t dt) {
    int64_t end = c->now + dt;
    int i;
    while (c->now < end && TT_OK()) {
        int64_t next = tidal_sim_net_next_ns(c->net), step = c->now + 5 * MS;
        tidal_sim_msg m;
        if (next > c->now && next < step) step = next;
        if (step > end) step = end;
        for (i = 0; i < c->n; i++) {
            c->nd[i].env.now_ns += step - c->now;
            c->nd[i].env.mono_ns += step - c->now;
        }
        c->now = step;
        while (tidal_sim_net_pop(c->net, c->now, &m)) {
            int to = m.to.region;
            tidal_control_message d;
            if (to < c->n && c->nd[to].up) {
                int keep = 1;
                if (c->filter && tidal_control_message_decode(m.bytes, m.len, &d, NULL, 0) == TIDAL_OK)
                    keep = c->filter(c, &m, &d);
                if (keep) node_result(c, to, tidal_control_receive(c->nd[to].ctl, m.from, m.bytes, m.len));
                check_all(c);
            }
            tidal_sim_msg_free(&m);
        }
        for (i = 0; i < c->n; i++)
            if (c->nd[i].up && c->nd[i].ticking) node_result(c, i, tidal_control_tick(c->nd[i].ctl));
        check_all(c);
    }
}

static int leader_of(cluster *c) {
    int i, found = -1;
    uint64_t best = 0;
    for (i = 0; i < c->n; i++) {
        tidal_control_status st;
        if (!c->nd[i].up) continue;
        tidal_control_status_get(c->nd[i].ctl, &st);
        if (st.role == TIDAL_ROLE_LEADER && st.term >= best) best = st.term, found = i;
    }
    return found;
}

static tidal_control_record tenant_rec(uint32_t tenant, uint64_t quota) {
    tidal_control_record r;
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_TENANT;
    r.tenant = tenant;
    r.placement = 3;
    r.rate_per_s = 100;
    r.entity_quota = quota;
    return r;
}

static uint64_t commit_of(cluster *c, int i) {
    tidal_control_status st;
    if (!c->nd[i].up) return 0;
    tidal_control_status_get(c->nd[i].ctl, &st);
    return st.commit_index;
}

/* ---- Scenarios ---- */

/* Elects a leader, proposes, and every member applies the same records in order. */
static void basic(int n) {
    cluster c;
    int l, i, k;
    uint64_t idx[40], term[40];
    cluster_init(&c, n, tt_seed(), 0);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    for (k = 0; k < 40; k++) {
        tidal_control_record r = tenant_rec((uint32_t)k + 1, (uint64_t)k);
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx[k], &term[k]), TIDAL_OK);
        if (k % 7 == 0) cluster_run(&c, 20 * MS);
    }
    cluster_run(&c, 2000 * MS);
    for (k = 0; k < 40; k++) TT_EQ_INT(tidal_control_proposal_status(c.nd[l].ctl, idx[k], term[k]), TIDAL_OK);
    for (i = 0; i < n; i++) {
        TT_CHECK(c.nd[i].applied == idx[39]);
        TT_CHECK(commit_of(&c, i) == idx[39]);
    }
    for (k = 0; k < 40; k++) TT_CHECK(c.applied_set[idx[k]] && c.applied[idx[k]].tenant == (uint32_t)k + 1);
    /* A follower refuses, naming the leader. */
    {
        tidal_control_record r = tenant_rec(99, 0);
        i = (l + 1) % n;
        TT_EQ_INT(tidal_control_propose(c.nd[i].ctl, &r, NULL, NULL), TIDAL_ERR_READ_ONLY);
        TT_CHECKF(strstr(tidal_control_errmsg(c.nd[i].ctl), "leader of term") != NULL, "%s",
                  tidal_control_errmsg(c.nd[i].ctl));
    }
    /* Every member restarts (a process restart): the committed records come back from disk. */
    for (i = 0; i < n; i++) {
        tidal_control_close(c.nd[i].ctl);
        tidal_sim_disk_restart(c.nd[i].disk);
        node_open(&c, i);
        TT_CHECK(commit_of(&c, i) >= 1); /* the persisted commit hint */
    }
    cluster_run(&c, 2000 * MS);
    for (i = 0; i < n; i++) TT_CHECK(c.nd[i].applied >= idx[39]);
out:
    cluster_free(&c);
}

static void t_basic_3(void) { basic(3); }
static void t_basic_5(void) { basic(5); }

/* A group of one commits at once and survives a crash. */
static void t_single(void) {
    cluster c;
    uint64_t idx, term;
    tidal_control_record r = tenant_rec(7, 1);
    cluster_init(&c, 1, tt_seed(), 0);
    cluster_run(&c, 1000 * MS);
    TT_EQ_INT(leader_of(&c), 0);
    TT_EQ_INT(tidal_control_propose(c.nd[0].ctl, &r, &idx, &term), TIDAL_OK);
    TT_EQ_INT(tidal_control_proposal_status(c.nd[0].ctl, idx, term), TIDAL_OK);
    node_crash(&c, 0);
    node_restart(&c, 0);
    TT_CHECK(commit_of(&c, 0) == idx);
    cluster_run(&c, 10 * MS);
    TT_CHECK(c.applied_set[idx] && c.applied[idx].tenant == 7);
    cluster_free(&c);
}

/* ---- Figure 8 of the Raft paper, members S0..S4 ---- */

/* Filter: drop APPENDs from filter_arg's member that would give anyone but S1 an entry
   after index 2 (so index 2 can reach S2 while index 3 cannot). A probe the receiver
   refuses anyway (it lacks the entry before) still goes through. */
static int fig8_hold_index3(cluster *c, const tidal_sim_msg *m, const tidal_control_message *d) {
    uint64_t t = 0;
    const cnode *to = &c->nd[m->to.region];
    if (d->type != TIDAL_CONTROL_MSG_APPEND || m->from.region != (uint16_t)c->filter_arg) return 1;
    if (m->to.region == 1 || !d->entry_count || d->log_index + d->entry_count < 3) return 1;
    if (tidal_control_entry(to->ctl, d->log_index, &t, NULL) != TIDAL_OK && d->log_index) return 1;
    return d->log_index && t != d->log_term; /* a mismatch: refused, harmless */
}

/* Filter: S4 sends nothing once it leads (its entry at index 2 stays its own). */
static int fig8_mute_s4_leader(cluster *c, const tidal_sim_msg *m, const tidal_control_message *d) {
    (void)c;
    return !(m->from.region == 4 && d->type == TIDAL_CONTROL_MSG_APPEND);
}

static void only_tick(cluster *c, int who) {
    int i;
    for (i = 0; i < c->n; i++) c->nd[i].ticking = i == who;
}

/* Runs until member who leads (only it ticks). */
static void make_leader(cluster *c, int who) {
    int k;
    only_tick(c, who);
    for (k = 0; k < 60 && leader_of(c) != who && TT_OK(); k++) cluster_run(c, 100 * MS);
    TT_EQ_INT(leader_of(c), who);
}

static void figure8(int finish) {
    cluster c;
    uint64_t a_idx = 0, a_term = 0, t;
    tidal_control_record a = tenant_rec(1, 1), rec;
    memset(&rec, 0, sizeof rec);
    int i;
    cluster_init(&c, 5, tt_seed(), 1); /* one entry per APPEND: index 2 travels alone */
    tidal_sim_net_set_latency(c.net, MS, 2 * MS, MS, 2 * MS);
    make_leader(&c, 0);
    cluster_run(&c, 200 * MS);
    for (i = 0; i < 5; i++) TT_EQ_INT(commit_of(&c, i), 1); /* S0's NOOP everywhere */
    /* (a) S0 (term t1) replicates A at index 2 to S1 only. */
    {
        tidal_node_ref s0 = c.refs[0], others[3] = {c.refs[2], c.refs[3], c.refs[4]};
        uint32_t cut = tidal_sim_net_partition_nodes(c.net, &s0, 1, others, 3, 0);
        TT_EQ_INT(tidal_control_propose(c.nd[0].ctl, &a, &a_idx, &a_term), TIDAL_OK);
        TT_EQ_INT(a_idx, 2);
        cluster_run(&c, 100 * MS);
        TT_CHECK(tidal_control_entry(c.nd[1].ctl, 2, &t, NULL) == TIDAL_OK && t == a_term);
        TT_EQ_INT(commit_of(&c, 0), 1); /* 2 of 5 */
        tidal_sim_net_heal(c.net, cut);
    }
    /* (b) S0 crashes; S4 wins with S2, S3 and appends its NOOP at index 2, sending nothing. */
    node_crash(&c, 0);
    c.filter = fig8_mute_s4_leader;
    make_leader(&c, 4);
    node_crash(&c, 4);
    cluster_run(&c, 10 * MS); /* what S4 sent before its crash is still in flight: muted too */
    c.filter = NULL;
    TT_CHECK(tidal_control_entry(c.nd[2].ctl, 2, &t, NULL) == TIDAL_ERR_NOT_FOUND);
    /* (c) S0 restarts and wins a later term; A reaches S2, so S0, S1, S2 (a majority) hold
       index 2 of term t1 - and it must NOT commit: its term is not S0's. */
    node_restart(&c, 0);
    c.filter = fig8_hold_index3;
    c.filter_arg = 0;
    {
        tidal_node_ref s3 = c.refs[3], s0 = c.refs[0];
        make_leader(&c, 0);
        {
            uint32_t cut = tidal_sim_net_partition_nodes(c.net, &s0, 1, &s3, 1, 0);
            cluster_run(&c, 500 * MS);
            TT_CHECK(tidal_control_entry(c.nd[2].ctl, 2, &t, NULL) == TIDAL_OK && t == a_term);
            TT_CHECK(tidal_control_entry(c.nd[1].ctl, 2, &t, NULL) == TIDAL_OK && t == a_term);
            TT_CHECK(tidal_control_entry(c.nd[2].ctl, 3, &t, NULL) == TIDAL_ERR_NOT_FOUND);
            for (i = 0; i < 4; i++) TT_CHECKF(commit_of(&c, i) == 1, "member %d commit %llu", i,
                                              (unsigned long long)commit_of(&c, i));
            TT_EQ_INT(tidal_control_proposal_status(c.nd[0].ctl, a_idx, a_term), TIDAL_PENDING);
            tidal_sim_net_heal(c.net, cut);
        }
    }
    if (finish) {
        /* (e) index 3 (S0's own term) reaches S2: now 2 and 3 commit together, and S4 can
           never win again (its last entry is older than the majority's). */
        c.filter = NULL;
        cluster_run(&c, 300 * MS);
        TT_EQ_INT(tidal_control_proposal_status(c.nd[0].ctl, a_idx, a_term), TIDAL_OK);
        TT_CHECK(commit_of(&c, 0) >= 3);
        node_crash(&c, 0);
        node_restart(&c, 4);
        only_tick(&c, 4);
        cluster_run(&c, 3000 * MS);
        TT_CHECK(leader_of(&c) != 4);
        for (i = 1; i < 5; i++) c.nd[i].ticking = 1;
        cluster_run(&c, 3000 * MS);
        TT_CHECK(tidal_control_entry(c.nd[4].ctl, 2, &t, &rec) == TIDAL_OK && t == a_term);
        TT_CHECK(c.applied_set[2] && rec_eq(&c.applied[2], &a));
    } else {
        /* (d) S0 crashes; S4 restarts and wins with S1, S2, S3 (its last entry, term t2, is
           newer than t1) and overwrites index 2 everywhere: had A been committed in (c), a
           committed record would now be lost. */
        node_crash(&c, 0);
        node_restart(&c, 4);
        make_leader(&c, 4); /* the filter still holds index 3 of S0's APPENDs in flight */
        c.filter = NULL;
        cluster_run(&c, 1000 * MS);
        for (i = 1; i < 5; i++) {
            TT_CHECK(tidal_control_entry(c.nd[i].ctl, 2, &t, &rec) == TIDAL_OK && t != a_term);
            TT_CHECK(rec.kind == TIDAL_CONTROL_NOOP);
            TT_CHECK(commit_of(&c, i) >= 2);
        }
        node_restart(&c, 0);
        cluster_run(&c, 1000 * MS);
        TT_EQ_INT(tidal_control_proposal_status(c.nd[0].ctl, a_idx, a_term), TIDAL_ERR_NOT_FOUND);
        TT_CHECK(!c.applied_set[2] || !rec_eq(&c.applied[2], &a));
    }
    cluster_free(&c);
}

static void t_figure8_old_term_not_committed(void) { figure8(0); }
static void t_figure8_commits_with_current_term(void) { figure8(1); }

/* ---- Randomized histories ---- */

static uint64_t hrand(uint64_t *s) { return tt_next(s); }

static tidal_control_record random_rec(uint64_t *s) {
    tidal_control_record r;
    memset(&r, 0, sizeof r);
    r.kind = 2 + (uint32_t)(hrand(s) % 4);
    if (r.kind == TIDAL_CONTROL_TOPOLOGY) r.regions = 1 + (uint32_t)(hrand(s) % 5), r.shards = 1 + (uint32_t)(hrand(s) % 9);
    if (r.kind == TIDAL_CONTROL_PLACEMENT) r.tenant = (uint32_t)hrand(s), r.placement = 5, r.group = 1;
    if (r.kind == TIDAL_CONTROL_TENANT) r = tenant_rec((uint32_t)hrand(s), hrand(s) % 1000);
    if (r.kind == TIDAL_CONTROL_MIGRATION)
        r.tenant = (uint32_t)hrand(s), r.group = 1, r.target = 2, r.phase = 1 + (uint32_t)(hrand(s) % 4);
    return r;
}

/* One history: proposals, crashes (now, or at a random coming file operation: torn
   writes), restarts, partitions and heals, under loss, duplication and reordering; every
   invariant is checked after every delivery and tick. At the end everything heals and the
   group must elect a leader and commit a last record on every member (liveness). */
static void history(int n, uint64_t seed, int steps) {
    cluster c;
    uint64_t s = seed, idx = 0, term = 0;
    uint32_t parts[8];
    int n_parts = 0, k, i, l;
    tidal_control_record fin = tenant_rec(424242, 1);
    cluster_init(&c, n, seed, 1 + (uint32_t)(seed % 3) * 31);
    tidal_sim_net_set_faults(c.net, 50000, 50000, 100000);
    for (k = 0; k < steps && TT_OK(); k++) {
        uint64_t x = hrand(&s) % 100;
        i = (int)(hrand(&s) % (uint64_t)n);
        if (x < 35) {
            tidal_control_record r = random_rec(&s);
            l = leader_of(&c);
            if (l >= 0) node_result(&c, l, tidal_control_propose(c.nd[l].ctl, &r, NULL, NULL));
        } else if (x < 40) {
            node_crash(&c, i);
        } else if (x < 45) {
            if (c.nd[i].up) tidal_sim_disk_crash_at(c.nd[i].disk, 1 + hrand(&s) % 12);
        } else if (x < 55) {
            node_restart(&c, i);
        } else if (x < 60 && n_parts < 8) {
            tidal_node_ref a[NMAX], b[NMAX];
            uint32_t na = 0, nb = 0, j;
            for (j = 0; j < (uint32_t)n; j++) {
                if (hrand(&s) & 1) a[na++] = c.refs[j];
                else b[nb++] = c.refs[j];
            }
            if (na && nb) parts[n_parts++] = tidal_sim_net_partition_nodes(c.net, a, na, b, nb, (int)(hrand(&s) % 4 == 0));
        } else if (x < 66 && n_parts) {
            tidal_sim_net_heal(c.net, parts[--n_parts]);
        }
        cluster_run(&c, (int64_t)(10 + hrand(&s) % 200) * MS);
    }
    while (n_parts) tidal_sim_net_heal(c.net, parts[--n_parts]);
    tidal_sim_net_set_faults(c.net, 0, 0, 0);
    for (i = 0; i < n; i++) {
        if (c.nd[i].up) tidal_sim_disk_crash_at(c.nd[i].disk, 0);
        node_restart(&c, i);
        c.nd[i].ticking = 1;
    }
    cluster_run(&c, 3000 * MS);
    l = leader_of(&c);
    TT_CHECKF(l >= 0, "no leader after the heal (history seed %llu)", (unsigned long long)seed);
    if (l >= 0) {
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &fin, &idx, &term), TIDAL_OK);
        cluster_run(&c, 2000 * MS);
        for (i = 0; i < n; i++)
            TT_CHECKF(c.nd[i].up && commit_of(&c, i) >= idx && c.nd[i].applied >= idx,
                      "member %d did not commit the last record (history seed %llu)", i,
                      (unsigned long long)seed);
    }
    if (!TT_OK()) printf("  failing history: %d members, seed %llu\n", n, (unsigned long long)seed);
    cluster_free(&c);
}

static void histories(int n) {
    long k, runs = 6 * tt_scale();
    for (k = 0; k < runs && TT_OK(); k++) {
        uint64_t z = tt_seed() + (uint64_t)k * 7919, seed = tt_next(&z);
        printf("  history %ld: %d members, seed %llu\n", k, n, (unsigned long long)seed);
        history(n, seed, 120);
    }
}

static void t_history_3(void) { histories(3); }
static void t_history_5(void) { histories(5); }

/* ---- The file: torn tails, corruption ---- */

/* A group of one: every acknowledged proposal survives any crash point (torn writes
   included), and nothing unacknowledged comes back in its place. */
static void t_torn_tail(void) {
    cluster c;
    uint64_t acked = 0, round;
    tidal_control_record r;
    cluster_init(&c, 1, tt_seed(), 0);
    cluster_run(&c, 1000 * MS);
    for (round = 0; round < 60 && TT_OK(); round++) {
        uint64_t k, idx = 0, t;
        tidal_result res = TIDAL_OK;
        if (!c.nd[0].up) node_restart(&c, 0);
        cluster_run(&c, 1000 * MS);
        TT_EQ_INT(leader_of(&c), 0);
        if (leader_of(&c) != 0) break;
        for (k = 1; k <= acked; k++) { /* everything acknowledged is there */
            TT_CHECK(tidal_control_entry(c.nd[0].ctl, k, &t, &r) == TIDAL_OK);
        }
        TT_CHECK(commit_of(&c, 0) >= acked);
        tidal_sim_disk_crash_at(c.nd[0].disk, 1 + tt_below(6));
        for (k = 0; k < 10 && res == TIDAL_OK; k++) {
            r = tenant_rec((uint32_t)(round * 100 + k + 1), k);
            res = tidal_control_propose(c.nd[0].ctl, &r, &idx, &t);
            if (res == TIDAL_OK) acked = idx;
        }
        TT_CHECK(res != TIDAL_OK);
        node_result(&c, 0, res);
    }
    cluster_free(&c);
}

/* A flipped bit in a synced frame that is not the last is corruption, named with its
   offset; the same bit in the last frame reads as a torn write (cut off). */
static void t_file_corruption(void) {
    cluster c;
    tidal_control_config cfg;
    tidal_control *ctl = NULL;
    char msg[256], path[64];
    uint8_t *img;
    size_t len;
    int k;
    tidal_result r;
    cluster_init(&c, 1, tt_seed(), 0);
    cluster_run(&c, 1000 * MS);
    for (k = 0; k < 5; k++) {
        tidal_control_record rec = tenant_rec((uint32_t)k + 1, 0);
        TT_EQ_INT(tidal_control_propose(c.nd[0].ctl, &rec, NULL, NULL), TIDAL_OK);
    }
    tidal_control_close(c.nd[0].ctl);
    c.nd[0].ctl = NULL;
    c.nd[0].up = 0;
    snprintf(path, sizeof path, "ctl/control-%04x-%04x.log", 0, 0);
    TT_EQ_INT(tidal_sim_disk_read(c.nd[0].disk, path, &img, &len), TIDAL_OK);
    free(img);
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &c.nd[0].env.env;
    cfg.path = "ctl";
    cfg.self = c.refs[0];
    cfg.members = c.refs;
    cfg.member_count = 1;
    TT_EQ_INT(tidal_sim_disk_flip_bit(c.nd[0].disk, path, (16 + 12 + 3) * 8), TIDAL_OK);
    r = tidal_control_open(&cfg, &ctl, msg, sizeof msg);
    TT_EQ_INT(r, TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "frame at byte 16") && strstr(msg, "checksum"), "%s", msg);
    TT_EQ_INT(tidal_sim_disk_flip_bit(c.nd[0].disk, path, (16 + 12 + 3) * 8), TIDAL_OK);
    TT_EQ_INT(tidal_sim_disk_flip_bit(c.nd[0].disk, path, (uint64_t)(len - 1) * 8), TIDAL_OK);
    r = tidal_control_open(&cfg, &ctl, msg, sizeof msg);
    TT_EQ_INT(r, TIDAL_OK);
    if (ctl) {
        tidal_control_status st;
        tidal_control_status_get(ctl, &st);
        TT_CHECK(st.last_index == 5); /* the last frame (the fifth proposal) is gone */
        tidal_control_close(ctl);
    }
    /* A wrong magic, or a file of another node, is refused by name. */
    TT_EQ_INT(tidal_sim_disk_flip_bit(c.nd[0].disk, path, 0), TIDAL_OK);
    r = tidal_control_open(&cfg, &ctl, msg, sizeof msg);
    TT_EQ_INT(r, TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "bad magic at byte 0") != NULL, "%s", msg);
    cluster_free(&c);
}

/* ---- Decoding ---- */

static size_t enc(const tidal_control_message *m, uint8_t *buf, size_t cap) {
    size_t len = 0;
    TT_EQ_INT(tidal_control_message_encode(m, buf, cap, &len), TIDAL_OK);
    return len;
}

/* Re-seals a tampered header (so the checksum is right and the field check is reached). */
static void reseal(uint8_t *b, size_t len) {
    struct tidal_blake3 h;
    static const uint8_t zeros[32] = {0};
    tidal_blake3_init(&h);
    tidal_blake3_update(&h, b, 88);
    tidal_blake3_update(&h, zeros, 32);
    tidal_blake3_update(&h, b + 120, len - 120);
    tidal_blake3_final(&h, b + 88, 32);
}

static void expect_bad(const uint8_t *b, size_t len, const char *what) {
    tidal_control_message m;
    char msg[256];
    msg[0] = 0;
    TT_EQ_INT(tidal_control_message_decode(b, len, &m, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, what) != NULL, "expected \"%s\" in \"%s\"", what, msg);
    TT_CHECKF(strstr(msg, "at byte") != NULL || strstr(msg, "header") != NULL, "no position: %s", msg);
}

static size_t entry_put(uint8_t *w, uint64_t term, const tidal_control_record *r) {
    size_t n = 0;
    TT_EQ_INT(tidal_control_record_encode(r, w + 10, 64, &n, NULL, 0), TIDAL_OK);
    for (int i = 0; i < 8; i++) w[i] = (uint8_t)(term >> (8 * i));
    w[8] = (uint8_t)n;
    w[9] = 0;
    return 10 + n;
}

static void t_decode_malformed(void) {
    uint8_t b[1024], p[512], c2[1024];
    tidal_control_message m, d;
    tidal_control_record r = tenant_rec(5, 9), r2;
    size_t len, pl = 0, bit;
    uint32_t g;
    char msg[256];
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_APPEND;
    m.from.region = 1;
    m.to.region = 2;
    m.term = 7;
    m.log_index = 3;
    m.log_term = 5;
    m.commit_index = 2;
    pl += entry_put(p + pl, 6, &r);
    pl += entry_put(p + pl, 7, &r);
    m.entry_count = 2;
    m.payload = p;
    m.payload_len = pl;
    len = enc(&m, b, sizeof b);
    TT_EQ_INT(tidal_control_message_decode(b, len, &d, msg, sizeof msg), TIDAL_OK);
    TT_CHECK(d.term == 7 && d.log_index == 3 && d.entry_count == 2 && d.payload_len == pl);
    TT_CHECK(d.from.region == 1 && d.to.region == 2);
    /* The shared envelope: tidal_message_group reads the control group. */
    TT_EQ_INT(tidal_message_group(b, len, &g), TIDAL_OK);
    TT_EQ_INT(g, TIDAL_CONTROL_GROUP);
    /* Every single-bit flip is refused. */
    for (bit = 0; bit < len * 8; bit++) {
        memcpy(c2, b, len);
        c2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        TT_CHECKF(tidal_control_message_decode(c2, len, &d, NULL, 0) == TIDAL_ERR_CORRUPT, "bit %zu", bit);
    }
    /* Every truncation is refused. */
    for (bit = 0; bit < len; bit++) TT_CHECK(tidal_control_message_decode(b, bit, &d, NULL, 0) == TIDAL_ERR_CORRUPT);
    expect_bad(b, 50, "shorter than the 120-byte header");
    memcpy(c2, b, len); c2[0] ^= 1; expect_bad(c2, len, "bad magic");
    memcpy(c2, b, len); c2[4] = 99; expect_bad(c2, len, "unknown wire version");
    memcpy(c2, b, len); c2[6] = 100; expect_bad(c2, len, "bad header size");
    memcpy(c2, b, len); c2[10] = 3; c2[11] = 0; expect_bad(c2, len, "not the control group");
    memcpy(c2, b, len); c2[70] = 1; expect_bad(c2, len, "reserved header byte");
    memcpy(c2, b, len); c2[100] ^= 1; expect_bad(c2, len, "checksum mismatch");
    memcpy(c2, b, len); c2[8] = 3; reseal(c2, len); expect_bad(c2, len, "unknown message type");
    memcpy(c2, b, len); memset(c2 + 20, 0, 8); reseal(c2, len); expect_bad(c2, len, "term 0");
    memcpy(c2, b, len); c2[52] = 2; reseal(c2, len); expect_bad(c2, len, "granted not 0 or 1");
    memcpy(c2, b, len); c2[36] = 9; reseal(c2, len); expect_bad(c2, len, "log_term above term");
    memcpy(c2, b, len); c2[56] = 3; reseal(c2, len); expect_bad(c2, len, "entry truncated");
    memcpy(c2, b, len); c2[56] = 1; reseal(c2, len); expect_bad(c2, len, "bytes after the last entry");
    memcpy(c2, b, len); c2[60] ^= 1; expect_bad(c2, len, "payload length mismatch");
    memcpy(c2, b, len); c2[44] = 9; reseal(c2, len); expect_bad(c2, len, "commit_index beyond");
    /* Entries: a term above the message's, terms out of order, an unknown record kind. */
    pl = entry_put(p, 8, &r);
    m.entry_count = 1;
    m.payload_len = pl;
    len = enc(&m, b, sizeof b);
    expect_bad(b, len, "above the message's");
    pl = entry_put(p, 6, &r);
    pl += entry_put(p + pl, 5, &r);
    m.entry_count = 2;
    m.payload_len = pl;
    len = enc(&m, b, sizeof b);
    expect_bad(b, len, "below the previous");
    pl = entry_put(p, 6, &r);
    p[10] = 77; /* the record's kind */
    m.entry_count = 1;
    m.payload_len = pl;
    len = enc(&m, b, sizeof b);
    expect_bad(b, len, "does not decode");
    /* A payload on a vote; the encoder refuses it, so build one by hand. */
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_VOTE;
    m.term = 3;
    m.granted = 1;
    len = enc(&m, b, sizeof b);
    TT_EQ_INT(tidal_control_message_decode(b, len, &d, NULL, 0), TIDAL_OK);
    memcpy(c2, b, len);
    c2[len] = 1;
    c2[60] = 1;
    reseal(c2, len + 1);
    expect_bad(c2, len + 1, "entries on a message type without");
    m.payload = p;
    m.payload_len = 1;
    TT_EQ_INT(tidal_control_message_encode(&m, b, sizeof b, &len), TIDAL_ERR_INVALID);
    /* Records. */
    TT_EQ_INT(tidal_control_record_encode(&r, p, sizeof p, &pl, NULL, 0), TIDAL_OK);
    TT_EQ_INT(tidal_control_record_decode(p, pl, &r2, msg, sizeof msg), TIDAL_OK);
    TT_CHECK(rec_eq(&r, &r2) && r2.entity_quota == 9 && r2.rate_per_s == 100);
    TT_EQ_INT(tidal_control_record_decode(p, pl - 1, &r2, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "TENANT") && strstr(msg, "truncated"), "%s", msg);
    p[pl] = 0;
    TT_EQ_INT(tidal_control_record_decode(p, pl + 1, &r2, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "bytes after the last field") != NULL, "%s", msg);
    p[0] = 0;
    TT_EQ_INT(tidal_control_record_decode(p, pl, &r2, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "unknown kind 0 at byte 0") != NULL, "%s", msg);
    {
        tidal_control_record bad = r;
        bad.rate_per_s = -1;
        TT_EQ_INT(tidal_control_record_encode(&bad, p, sizeof p, &pl, msg, sizeof msg), TIDAL_ERR_INVALID);
        TT_CHECKF(strstr(msg, "rate_per_s") != NULL, "%s", msg);
        /* Above what tidal_tenant_set takes: once committed, no member could apply it
           (fuzz_peer found a PROPOSE of one failing every receive after it). */
        bad.rate_per_s = 2e12;
        TT_EQ_INT(tidal_control_record_encode(&bad, p, sizeof p, &pl, msg, sizeof msg), TIDAL_ERR_INVALID);
        TT_CHECKF(strstr(msg, "rate_per_s") != NULL, "%s", msg);
        bad.rate_per_s = 1e12;
        bad.burst = 1e13;
        TT_EQ_INT(tidal_control_record_encode(&bad, p, sizeof p, &pl, msg, sizeof msg), TIDAL_ERR_INVALID);
        TT_CHECKF(strstr(msg, "burst") != NULL, "%s", msg);
        bad = r;
        bad.target = 3; /* a field TENANT does not carry */
        TT_EQ_INT(tidal_control_record_encode(&bad, p, sizeof p, &pl, msg, sizeof msg), TIDAL_ERR_INVALID);
        TT_CHECKF(strstr(msg, "target/phase set") != NULL, "%s", msg);
        memset(&bad, 0, sizeof bad);
        bad.kind = TIDAL_CONTROL_MIGRATION;
        bad.group = 4;
        bad.target = 4;
        bad.phase = 1;
        TT_EQ_INT(tidal_control_record_encode(&bad, p, sizeof p, &pl, msg, sizeof msg), TIDAL_ERR_INVALID);
        TT_CHECKF(strstr(msg, "target is the source") != NULL, "%s", msg);
        /* An encoded MIGRATION whose phase byte is out of range decodes as corrupt. */
        bad.target = 5;
        TT_EQ_INT(tidal_control_record_encode(&bad, p, sizeof p, &pl, NULL, 0), TIDAL_OK);
        p[pl - 1] = 9;
        TT_EQ_INT(tidal_control_record_decode(p, pl, &r2, msg, sizeof msg), TIDAL_ERR_CORRUPT);
        TT_CHECKF(strstr(msg, "phase") != NULL, "%s", msg);
    }
}

/* A member refuses (and counts) messages that are corrupt, from a non-member, or meant for
   another node, and changes nothing. */
static void t_receive_refuses(void) {
    cluster c;
    uint8_t b[512];
    tidal_control_message m;
    tidal_control_status before, after;
    tidal_node_ref stranger;
    size_t len;
    cluster_init(&c, 3, tt_seed(), 0);
    cluster_run(&c, 1000 * MS);
    tidal_control_status_get(c.nd[0].ctl, &before);
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_VOTE_REQ;
    m.term = before.term + 100;
    stranger.region = 9;
    stranger.shard = 0;
    m.from = stranger;
    m.to = c.refs[0];
    len = enc(&m, b, sizeof b);
    TT_EQ_INT(tidal_control_receive(c.nd[0].ctl, stranger, b, len), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(tidal_control_errmsg(c.nd[0].ctl), "not a member") != NULL, "%s",
              tidal_control_errmsg(c.nd[0].ctl));
    m.from = c.refs[1];
    m.to = c.refs[2];
    len = enc(&m, b, sizeof b);
    TT_EQ_INT(tidal_control_receive(c.nd[0].ctl, c.refs[1], b, len), TIDAL_ERR_CORRUPT);
    m.to = c.refs[0];
    len = enc(&m, b, sizeof b);
    b[30] ^= 4;
    TT_EQ_INT(tidal_control_receive(c.nd[0].ctl, c.refs[1], b, len), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(tidal_control_errmsg(c.nd[0].ctl), "checksum") != NULL, "%s",
              tidal_control_errmsg(c.nd[0].ctl));
    tidal_control_status_get(c.nd[0].ctl, &after);
    TT_CHECK(after.term == before.term && after.last_index == before.last_index);
    TT_EQ_INT(after.msgs_corrupt, before.msgs_corrupt + 3);
    cluster_free(&c);
}

/* A vote survives a power loss right after it was sent: the same term's request from
   another candidate is then refused (C2), and the term is not forgotten. */
static void t_vote_survives_crash(void) {
    cluster c;
    uint8_t b[512];
    tidal_control_message m, d;
    tidal_sim_msg sm;
    size_t len;
    int k, granted = -1;
    cluster_init(&c, 3, tt_seed(), 0);
    for (k = 0; k < 3; k++) c.nd[k].ticking = 0;
    for (k = 1; k <= 2; k++) {
        memset(&m, 0, sizeof m);
        m.type = TIDAL_CONTROL_MSG_VOTE_REQ;
        m.term = 5;
        m.from = c.refs[k];
        m.to = c.refs[0];
        len = enc(&m, b, sizeof b);
        TT_EQ_INT(tidal_control_receive(c.nd[0].ctl, c.refs[k], b, len), TIDAL_OK);
        granted = -1;
        while (tidal_sim_net_pop(c.net, INT64_MAX, &sm)) {
            if (sm.to.region == (uint16_t)k &&
                tidal_control_message_decode(sm.bytes, sm.len, &d, NULL, 0) == TIDAL_OK &&
                d.type == TIDAL_CONTROL_MSG_VOTE && d.term == 5)
                granted = (int)d.granted;
            tidal_sim_msg_free(&sm);
        }
        TT_EQ_INT(granted, k == 1); /* the first candidate gets it, the second does not */
        if (k == 1) {
            node_crash(&c, 0);
            node_restart(&c, 0);
        }
    }
    cluster_free(&c);
}

/* A leader cut off with a minority keeps its term but commits nothing; the majority
   elects another leader and commits; after the heal the old leader's uncommitted entries
   are replaced (its proposals report NOT_FOUND) and every member applies the same. */
static void t_minority_leader(void) {
    cluster c;
    int l, k, i;
    uint64_t idx[5], term[5], good_idx = 0, good_term = 0;
    tidal_node_ref side_a[2], side_b[3];
    uint32_t cut;
    cluster_init(&c, 5, tt_seed(), 0);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    side_a[0] = c.refs[l];
    side_a[1] = c.refs[(l + 1) % 5];
    for (k = 0; k < 3; k++) side_b[k] = c.refs[(l + 2 + k) % 5];
    cut = tidal_sim_net_partition_nodes(c.net, side_a, 2, side_b, 3, 0);
    for (k = 0; k < 5; k++) {
        tidal_control_record r = tenant_rec(100 + (uint32_t)k, 0);
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx[k], &term[k]), TIDAL_OK);
    }
    cluster_run(&c, 3000 * MS);
    for (k = 0; k < 5; k++)
        TT_EQ_INT(tidal_control_proposal_status(c.nd[l].ctl, idx[k], term[k]), TIDAL_PENDING);
    i = leader_of(&c);
    TT_CHECKF(i >= 0 && i != l && i != (l + 1) % 5, "majority leader %d", i);
    if (i >= 0 && i != l) {
        tidal_control_record r = tenant_rec(7, 7);
        TT_EQ_INT(tidal_control_propose(c.nd[i].ctl, &r, &good_idx, &good_term), TIDAL_OK);
        cluster_run(&c, 1000 * MS);
        TT_EQ_INT(tidal_control_proposal_status(c.nd[i].ctl, good_idx, good_term), TIDAL_OK);
    }
    tidal_sim_net_heal(c.net, cut);
    cluster_run(&c, 3000 * MS);
    for (k = 0; k < 5; k++)
        TT_EQ_INT(tidal_control_proposal_status(c.nd[l].ctl, idx[k], term[k]), TIDAL_ERR_NOT_FOUND);
    for (k = 0; k < 5; k++) TT_CHECK(c.nd[k].applied >= good_idx && commit_of(&c, k) >= good_idx);
    TT_CHECK(good_idx && c.applied_set[good_idx] && c.applied[good_idx].tenant == 7);
out:
    cluster_free(&c);
}

/* ---- Tenant configs persisted by tidal_db (a restarted node enforces them itself) ---- */

typedef struct tdb {
    tidal_sim_disk *disk;
    tidal_sim_env env;
    tidal_signal_def sigs[1];
    tidal_config cfg;
    tidal_db *db;
} tdb;

static tidal_result tdb_open(tdb *t, char *msg, size_t cap) {
    memset(&t->cfg, 0, sizeof t->cfg);
    t->sigs[0].name = "view";
    t->sigs[0].half_life_s = 3600;
    t->cfg.schema.signals = t->sigs;
    t->cfg.schema.signal_count = 1;
    t->cfg.env = &t->env.env;
    t->cfg.path = "db";
    return tidal_db_open_msg(&t->cfg, &t->db, msg, cap);
}

static tidal_result tdb_write(tdb *t, uint32_t tenant, tidal_id item) {
    tidal_signal s;
    memset(&s, 0, sizeof s);
    s.tenant = tenant;
    s.item = item;
    s.weight = 1;
    return tidal_signal_write(t->db, &s, NULL);
}

static void t_tenant_config_persists(void) {
    tdb t;
    tidal_tenant_config tc;
    char msg[256];
    uint64_t ents = 0;
    uint8_t *img;
    size_t len;
    int k;
    memset(&t, 0, sizeof t);
    t.disk = tidal_sim_disk_new(tt_seed());
    tidal_sim_env_init(&t.env, t.disk, T0, tt_seed() + 1);
    TT_EQ_INT(tdb_open(&t, msg, sizeof msg), TIDAL_OK);
    memset(&tc, 0, sizeof tc);
    tc.tenant = 5;
    tc.entity_quota = 3;
    tc.config_version = 2;
    TT_EQ_INT(tidal_tenant_set(t.db, &tc), TIDAL_OK);
    tc.tenant = 6;
    tc.entity_quota = 0;
    tc.state = TIDAL_TENANT_SEALED; /* moving away: local writes refused */
    TT_EQ_INT(tidal_tenant_set(t.db, &tc), TIDAL_OK);
    for (k = 1; k <= 3; k++) TT_EQ_INT(tdb_write(&t, 5, (tidal_id)k), TIDAL_OK);
    TT_EQ_INT(tdb_write(&t, 5, 4), TIDAL_ERR_QUOTA);
    TT_EQ_INT(tdb_write(&t, 6, 1), TIDAL_ERR_MOVED);
    /* Power loss, then a reopen with no host pushing anything: both are enforced. */
    tidal_sim_disk_crash(t.disk);
    tidal_db_close(t.db);
    tidal_sim_disk_restart(t.disk);
    TT_EQ_INT(tdb_open(&t, msg, sizeof msg), TIDAL_OK);
    TT_EQ_INT(tdb_write(&t, 6, 1), TIDAL_ERR_MOVED);
    TT_EQ_INT(tidal_tenant_usage(t.db, 5, &ents, NULL), TIDAL_OK);
    TT_EQ_INT(ents, 3); /* counted again as the state came back */
    TT_EQ_INT(tdb_write(&t, 5, 9), TIDAL_ERR_QUOTA);
    TT_EQ_INT(tdb_write(&t, 5, 2), TIDAL_OK);
    /* An older version is still refused after the reopen; a newer one is taken and kept. */
    tc.config_version = 1;
    TT_EQ_INT(tidal_tenant_set(t.db, &tc), TIDAL_ERR_STALE_CONFIG);
    tc.config_version = 3;
    tc.state = TIDAL_TENANT_ACTIVE;
    TT_EQ_INT(tidal_tenant_set(t.db, &tc), TIDAL_OK);
    /* A failed write of the file changes nothing: the old config stays in force. */
    tc.config_version = 4;
    tc.state = TIDAL_TENANT_SEALED;
    tidal_sim_disk_fail_at(t.disk, 3, TIDAL_ERR_IO_WRITE);
    TT_CHECK(tidal_tenant_set(t.db, &tc) == TIDAL_ERR_IO_WRITE);
    TT_EQ_INT(tdb_write(&t, 6, 1), TIDAL_OK);
    tidal_db_close(t.db);
    tidal_sim_disk_restart(t.disk);
    TT_EQ_INT(tdb_open(&t, msg, sizeof msg), TIDAL_OK);
    TT_EQ_INT(tdb_write(&t, 6, 2), TIDAL_OK); /* version 3, ACTIVE */
    tidal_db_close(t.db);
    /* A damaged file is refused by name, not silently dropped. */
    TT_EQ_INT(tidal_sim_disk_read(t.disk, "db/tenants-0000-0000.cfg", &img, &len), TIDAL_OK);
    free(img);
    TT_EQ_INT(tidal_sim_disk_flip_bit(t.disk, "db/tenants-0000-0000.cfg", 14 * 8), TIDAL_OK);
    TT_EQ_INT(tdb_open(&t, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "tenants-0000-0000.cfg") && strstr(msg, "checksum"), "%s", msg);
    tidal_sim_disk_free(t.disk);
}

/* ---- Learners: they follow the log but never vote, run or count ---- */

/* Filter: nothing to or from member filter_arg. */
static int cut_off_one(cluster *c, const tidal_sim_msg *m, const tidal_control_message *d) {
    (void)d;
    return m->to.region != c->filter_arg && m->from.region != c->filter_arg;
}

static tidal_control_status status_of(cluster *c, int i) {
    tidal_control_status st;
    memset(&st, 0, sizeof st);
    if (c->nd[i].up) tidal_control_status_get(c->nd[i].ctl, &st);
    return st;
}

/* Three voters and three learners: every learner gets every committed record, in order
   (check_all compares what each polls with what the others polled at that index). */
static void t_learner_follows(void) {
    cluster c;
    int l, i, k;
    uint64_t idx = 0, term = 0;
    cluster_init2(&c, 6, 3, tt_seed(), 4);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0 && l < 3);
    if (l < 0) goto out;
    for (k = 0; k < 30; k++) {
        tidal_control_record r = tenant_rec((uint32_t)k + 1, (uint64_t)k);
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx, &term), TIDAL_OK);
        if (k % 5 == 0) cluster_run(&c, 30 * MS);
    }
    cluster_run(&c, 1000 * MS);
    for (i = 3; i < 6; i++) {
        tidal_control_status st = status_of(&c, i);
        TT_CHECKF(c.nd[i].applied == idx, "learner %d applied %llu of %llu", i,
                  (unsigned long long)c.nd[i].applied, (unsigned long long)idx);
        TT_CHECK(st.learner && st.has_leader && st.leader.region == (uint16_t)l);
        TT_CHECK(st.commit_index == idx && st.elections == 0);
    }
    for (k = 1; k <= (int)idx; k++) TT_CHECK(c.applied_set[k] || k == 1 || c.com[k].rec.kind == TIDAL_CONTROL_NOOP);
    /* A learner refuses to propose: it never leads. */
    {
        tidal_control_record r = tenant_rec(99, 0);
        TT_EQ_INT(tidal_control_propose(c.nd[4].ctl, &r, NULL, NULL), TIDAL_ERR_READ_ONLY);
    }
out:
    cluster_free(&c);
}

/* Two voters and three learners: with one voter cut off, the learners' acknowledgments do
   not make a majority (nothing commits); a majority of voters commits without any learner
   (learners cut off, three voters). */
static void t_learner_not_counted(void) {
    cluster c;
    int l, i;
    uint64_t idx = 0, term = 0, before;
    tidal_control_record r = tenant_rec(5, 1);
    cluster_init2(&c, 5, 2, tt_seed(), 0);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0 && l < 2);
    if (l < 0) goto out;
    c.filter = cut_off_one;
    c.filter_arg = 1 - l; /* the other voter */
    before = commit_of(&c, l);
    TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx, &term), TIDAL_OK);
    cluster_run(&c, 200 * MS); /* less than an election timeout: l still leads */
    TT_EQ_INT(leader_of(&c), l);
    for (i = 2; i < 5; i++) /* every learner holds the entry... */
        TT_CHECK(tidal_control_entry(c.nd[i].ctl, idx, NULL, NULL) == TIDAL_OK);
    TT_CHECK(commit_of(&c, l) == before); /* ...and it is not committed */
    TT_EQ_INT(tidal_control_proposal_status(c.nd[l].ctl, idx, term), TIDAL_PENDING);
    c.filter = NULL;
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0 && l < 2);
    cluster_free(&c);
    /* Three voters, every learner cut off: the voters commit alone. */
    cluster_init2(&c, 5, 3, tt_seed() + 1, 0);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0 && l < 3);
    if (l < 0) goto out;
    tidal_sim_net_set_down(c.net, c.refs[3], 1);
    tidal_sim_net_set_down(c.net, c.refs[4], 1);
    TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx, &term), TIDAL_OK);
    cluster_run(&c, 200 * MS);
    TT_EQ_INT(tidal_control_proposal_status(c.nd[l].ctl, idx, term), TIDAL_OK);
    TT_CHECK(commit_of(&c, 3) < idx && commit_of(&c, 4) < idx);
    tidal_sim_net_set_down(c.net, c.refs[3], 0);
    tidal_sim_net_set_down(c.net, c.refs[4], 0);
    cluster_run(&c, 1000 * MS);
    TT_CHECK(c.nd[3].applied == idx && c.nd[4].applied == idx);
out:
    cluster_free(&c);
}

/* An isolated learner, and learners with every voter gone, never start an election. */
static void t_learner_never_runs(void) {
    cluster c;
    int i;
    uint64_t t3;
    cluster_init2(&c, 5, 3, tt_seed(), 0);
    cluster_run(&c, 2000 * MS);
    TT_CHECK(leader_of(&c) >= 0);
    t3 = status_of(&c, 3).term;
    c.filter = cut_off_one;
    c.filter_arg = 3;
    cluster_run(&c, 10000 * MS); /* more than 30 election timeouts */
    TT_CHECK(status_of(&c, 3).term == t3 && status_of(&c, 3).elections == 0);
    TT_CHECK(!status_of(&c, 3).candidate && status_of(&c, 3).role == TIDAL_ROLE_FOLLOWER);
    c.filter = NULL;
    for (i = 0; i < 3; i++) node_crash(&c, i);
    cluster_run(&c, 10000 * MS);
    for (i = 3; i < 5; i++) {
        tidal_control_status st = status_of(&c, i);
        TT_CHECK(st.elections == 0 && !st.candidate && st.role == TIDAL_ROLE_FOLLOWER);
    }
    cluster_free(&c);
}

/* A learner that crashes (torn writes and all) misses records and catches up on restart. */
static void t_learner_restart(void) {
    cluster c;
    int l, k;
    uint64_t idx = 0, term = 0;
    cluster_init2(&c, 4, 3, tt_seed(), 4);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0 && l < 3);
    if (l < 0) goto out;
    for (k = 0; k < 5; k++) {
        tidal_control_record r = tenant_rec((uint32_t)k + 1, 0);
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx, &term), TIDAL_OK);
    }
    cluster_run(&c, 2 * MS); /* the learner is mid-way through taking them */
    node_crash(&c, 3);
    for (k = 5; k < 25; k++) {
        tidal_control_record r = tenant_rec((uint32_t)k + 1, 0);
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx, &term), TIDAL_OK);
    }
    cluster_run(&c, 3000 * MS);
    TT_EQ_INT(tidal_control_proposal_status(c.nd[l].ctl, idx, term), TIDAL_OK);
    TT_CHECK(c.nd[3].applied < idx);
    node_restart(&c, 3);
    cluster_run(&c, 3000 * MS);
    TT_CHECKF(c.nd[3].applied == idx, "restarted learner applied %llu of %llu",
              (unsigned long long)c.nd[3].applied, (unsigned long long)idx);
    TT_CHECK(status_of(&c, 3).commit_index == idx && status_of(&c, 3).elections == 0);
out:
    cluster_free(&c);
}

/* A learner's configuration: self in neither list, or in both, is refused. */
static void t_learner_config(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(1);
    tidal_sim_env env;
    tidal_control_config cfg;
    tidal_control *ctl = NULL;
    tidal_node_ref v[2] = {{0, 0}, {1, 0}}, l[2] = {{0, 1}, {1, 0}};
    char msg[200];
    tidal_sim_env_init(&env, d, T0, 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &env.env;
    cfg.path = "ctl";
    cfg.self = l[0];
    cfg.members = v;
    cfg.member_count = 2;
    cfg.learners = l;
    cfg.learner_count = 2; /* (1, 0) is both */
    TT_EQ_INT(tidal_control_open(&cfg, &ctl, msg, sizeof msg), TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "duplicate") != NULL, "%s", msg);
    cfg.learner_count = 1;
    cfg.self.shard = 9;
    TT_EQ_INT(tidal_control_open(&cfg, &ctl, msg, sizeof msg), TIDAL_ERR_INVALID);
    cfg.self = l[0];
    TT_EQ_INT(tidal_control_open(&cfg, &ctl, msg, sizeof msg), TIDAL_OK);
    tidal_control_close(ctl);
    tidal_sim_disk_free(d);
}

/* ---- Leadership transfer (C8, issue 13) ---- */

/* The leader hands over to a chosen voter: proposals are refused while it is under way, the
   target leads the next term about a round trip after it holds the leader's log (links of
   20 ms one way here; with the old leader alive and heartbeating nothing else would ever
   elect anyone), nothing committed is lost. */
static void transfer(int n) {
    cluster c;
    int l, t, k, i;
    int64_t start;
    uint64_t idx = 0, term = 0, old_term;
    tidal_control_status st;
    tidal_node_ref nobody = {9, 0};
    cluster_init(&c, n, tt_seed(), 0);
    tidal_sim_net_set_latency(c.net, MS / 10, 2 * MS, 20 * MS, 20 * MS);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    for (k = 0; k < 12; k++) {
        tidal_control_record r = tenant_rec((uint32_t)k + 1, (uint64_t)k);
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, &idx, &term), TIDAL_OK);
    }
    t = (l + 1) % n;
    old_term = status_of(&c, l).term;
    /* The errors first. */
    TT_EQ_INT(tidal_control_transfer(c.nd[t].ctl, c.refs[l]), TIDAL_ERR_READ_ONLY);
    TT_EQ_INT(tidal_control_transfer(c.nd[l].ctl, c.refs[l]), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_control_transfer(c.nd[l].ctl, nobody), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_control_transfer(NULL, c.refs[t]), TIDAL_ERR_INVALID);
    start = c.now;
    TT_EQ_INT(tidal_control_transfer(c.nd[l].ctl, c.refs[t]), TIDAL_OK);
    st = status_of(&c, l);
    TT_CHECK(st.transfer_in_flight && st.transfer_to.region == c.refs[t].region);
    TT_EQ_INT(tidal_control_transfer(c.nd[l].ctl, c.refs[(l + 2) % n]), TIDAL_ERR_LIMIT);
    {
        tidal_control_record r = tenant_rec(99, 0);
        TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, NULL, NULL), TIDAL_ERR_UNAVAILABLE);
        TT_CHECKF(strstr(tidal_control_errmsg(c.nd[l].ctl), "handed") != NULL, "%s",
                  tidal_control_errmsg(c.nd[l].ctl));
    }
    while (leader_of(&c) != t && c.now - start < 2000 * MS && TT_OK()) cluster_run(&c, 5 * MS);
    TT_EQ_INT(leader_of(&c), t);
    /* catching up (one round trip, 40 ms), TIMEOUT_NOW, VOTE_REQ and VOTE (20 ms each) */
    TT_CHECKF(c.now - start <= 110 * MS, "the handover took %lld ms (about 100 expected)",
              (long long)((c.now - start) / MS));
    printf("  control handover to member %d: %lld ms (simulated)\n", t,
            (long long)((c.now - start) / MS));
    st = status_of(&c, t);
    TT_CHECK(st.term == old_term + 1 && !st.transfer_in_flight);
    /* The new leader commits; everything committed before is still there on every member. */
    {
        tidal_control_record r = tenant_rec(77, 7);
        uint64_t i2 = 0, t2 = 0;
        TT_EQ_INT(tidal_control_propose(c.nd[t].ctl, &r, &i2, &t2), TIDAL_OK);
        cluster_run(&c, 1000 * MS);
        TT_EQ_INT(tidal_control_proposal_status(c.nd[t].ctl, i2, t2), TIDAL_OK);
        TT_EQ_INT(tidal_control_proposal_status(c.nd[t].ctl, idx, term), TIDAL_OK);
        for (i = 0; i < n; i++) TT_CHECK(c.nd[i].applied == i2);
    }
    st = status_of(&c, l);
    TT_CHECK(st.role == TIDAL_ROLE_FOLLOWER && !st.transfer_in_flight);
out:
    cluster_free(&c);
}

static void t_transfer_3(void) { transfer(3); }
static void t_transfer_5(void) { transfer(5); }

/* A target that cannot be reached: after one election timeout the leader takes proposals
   again, in the same term; a learner is no target. */
static void t_transfer_unreachable(void) {
    cluster c;
    int l, t;
    int64_t start;
    uint64_t term;
    tidal_control_record r = tenant_rec(3, 3);
    cluster_init2(&c, 4, 3, tt_seed(), 0);
    cluster_run(&c, 2000 * MS);
    l = leader_of(&c);
    TT_CHECK(l >= 0 && l < 3);
    if (l < 0) goto out;
    TT_EQ_INT(tidal_control_transfer(c.nd[l].ctl, c.refs[3]), TIDAL_ERR_NOT_FOUND); /* learner */
    t = (l + 1) % 3;
    term = status_of(&c, l).term;
    c.filter = cut_off_one;
    c.filter_arg = t;
    start = c.now;
    TT_EQ_INT(tidal_control_transfer(c.nd[l].ctl, c.refs[t]), TIDAL_OK);
    cluster_run(&c, 200 * MS);
    TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, NULL, NULL), TIDAL_ERR_UNAVAILABLE);
    while (status_of(&c, l).transfer_in_flight && c.now - start < 2000 * MS && TT_OK())
        cluster_run(&c, 5 * MS);
    TT_CHECK(c.now - start >= 300 * MS && c.now - start < 400 * MS);
    TT_EQ_INT(leader_of(&c), l);
    TT_CHECK(status_of(&c, l).term == term);
    TT_EQ_INT(tidal_control_propose(c.nd[l].ctl, &r, NULL, NULL), TIDAL_OK);
out:
    cluster_free(&c);
}

/* TIMEOUT_NOW on the wire: a valid one decodes; its bad forms are refused naming why. */
static void t_timeout_now_decode(void) {
    uint8_t b[512], c2[512];
    tidal_control_message m, d;
    size_t len;
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_TIMEOUT_NOW;
    m.from.region = 1;
    m.to.region = 2;
    m.term = 7;
    m.log_index = 12;
    m.log_term = 7;
    len = enc(&m, b, sizeof b);
    TT_EQ_INT(tidal_control_message_decode(b, len, &d, NULL, 0), TIDAL_OK);
    TT_CHECK(d.type == TIDAL_CONTROL_MSG_TIMEOUT_NOW && d.log_index == 12 && d.log_term == 7);
    memcpy(c2, b, len); c2[52] = 1; reseal(c2, len); expect_bad(c2, len, "granted set on a request");
    memcpy(c2, b, len); c2[36] = 9; reseal(c2, len); expect_bad(c2, len, "log_term above term");
    memcpy(c2, b, len); memset(c2 + 36, 0, 8); reseal(c2, len); expect_bad(c2, len, "disagree on empty");
    memcpy(c2, b, len); c2[44] = 1; reseal(c2, len); expect_bad(c2, len, "commit_index set");
    memcpy(c2, b, len); c2[8] = 71; reseal(c2, len); expect_bad(c2, len, "unknown message type");
    m.entry_count = 1;
    TT_EQ_INT(tidal_control_message_encode(&m, b, sizeof b, &len), TIDAL_ERR_INVALID);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_decode_malformed),
    TT_CASE(t_receive_refuses),
    TT_CASE(t_single),
    TT_CASE(t_vote_survives_crash),
    TT_CASE(t_basic_3),
    TT_CASE(t_basic_5),
    TT_CASE(t_figure8_old_term_not_committed),
    TT_CASE(t_figure8_commits_with_current_term),
    TT_CASE(t_minority_leader),
    TT_CASE(t_torn_tail),
    TT_CASE(t_file_corruption),
    TT_CASE(t_tenant_config_persists),
    TT_CASE(t_history_3),
    TT_CASE(t_history_5),
    TT_CASE(t_learner_follows),
    TT_CASE(t_learner_not_counted),
    TT_CASE(t_learner_never_runs),
    TT_CASE(t_learner_restart),
    TT_CASE(t_learner_config),
    TT_CASE(t_transfer_3),
    TT_CASE(t_transfer_5),
    TT_CASE(t_transfer_unreachable),
    TT_CASE(t_timeout_now_decode),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
