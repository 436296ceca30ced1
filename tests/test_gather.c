/* test_gather.c - tidal.h >>node_gather on the peer world (tests/peer_world.h: 3 regions x
   2 shards, group 0 in every region, group 3 in regions 0 and 1; tenant 1 on group 0,
   tenant 2 on group 3). tidal_peer_gather equals an oracle computed on the members
   directly (tidal_retrieve_text per shard, merged by score then item); with a shard's only
   reachable replicas partitioned away the gather is degraded, names the shard and holds
   only the other shard's items, and is whole again after the heal; a replica that does
   not answer within the try timeout hands its shard to the next; tidal_peer_health_get
   agrees with the members' own status (leaders, epochs, control leader), turns a cut-off
   region offline from the other side after the silence timeout, and a member whose data
   is held back degraded; malformed HEARTBEAT / GATHER_Q / GATHER_A messages are refused
   without any change. Seeds are printed per case (tt_seed). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include "peer_world.h"

#define AT_NS (T0 + 3600 * TIDAL_NS_PER_S) /* every query scores at this instant */
#define TEXT_MAX 200

static void text_for(char *buf, uint32_t tenant, uint32_t limit) {
    snprintf(buf, TEXT_MAX, "RETRIEVE items SIGNAL view TENANT %u LIMIT %u AT %lld", tenant, limit,
             (long long)AT_NS);
}

static int hit_cmp(const void *a, const void *b) {
    const tidal_hit *x = (const tidal_hit *)a, *y = (const tidal_hit *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* The oracle: text run on a member of each shard in shard_mask (group's member on the
   node of that shard in region `region`), merged by score then item, cut to limit. */
static uint32_t oracle(world *w, uint32_t group, int region, uint32_t shard_mask, const char *text,
                       uint32_t limit, tidal_hit *out) {
    tidal_hit all[SHARDS * 100];
    uint32_t total = 0, s;
    for (s = 0; s < SHARDS; s++) {
        uint32_t n = 0;
        tidal_db *db;
        if (!(shard_mask >> s & 1u)) continue;
        db = tidal_peer_member(w->nd[ix(region, (int)s)].peer, group);
        TT_CHECK(db != NULL);
        if (!db) continue;
        TT_EQ_INT(tidal_retrieve_text(db, text, all + total, 100, &n, NULL), TIDAL_OK);
        total += n;
    }
    qsort(all, total, sizeof *all, hit_cmp);
    if (total > limit) total = limit;
    memcpy(out, all, sizeof *all * total);
    return total;
}

static void same_hits(const tidal_peer_completion *c, const tidal_hit *want, uint32_t n,
                      const char *what) {
    uint32_t k;
    TT_CHECKF(c->hit_count == n, "%s: %u hits, oracle %u", what, c->hit_count, n);
    for (k = 0; k < n && k < c->hit_count; k++)
        TT_CHECKF(c->hits[k].item == want[k].item && c->hits[k].score == want[k].score,
                  "%s: hit %u: %llu %.17g, oracle %llu %.17g", what, k,
                  (unsigned long long)c->hits[k].item, c->hits[k].score,
                  (unsigned long long)want[k].item, want[k].score);
}

/* Writes count signals of tenant over items from..from+span-1 (some items twice), from
   random nodes, each awaited OK. */
static void load(world *w, uint32_t tenant, tidal_id from, int span, int count) {
    int k;
    for (k = 0; k < count && TT_OK(); k++) {
        int i = (int)tt_below(N);
        tidal_id it = from + tt_below((uint64_t)span);
        uint64_t t = write_on(w, i, tenant, it);
        const tidal_peer_completion *c = await(w, i, t, 3000 * MS);
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "write %d: %s", k,
                  c ? c->message : "no completion");
    }
    w->n_got = 0;
}

static const tidal_peer_completion *gather(world *w, int i, const char *text, int64_t wait_ns) {
    uint64_t t = 0;
    TT_EQ_INT(tidal_peer_gather(w->nd[i].peer, text, wait_ns, &t), TIDAL_OK);
    return await(w, i, t, 3000 * MS);
}

/* ---- Cases ---- */

/* From every node, for both tenants (tenant 2's group does not run in region 2: its nodes
   ask replicas elsewhere), the gather equals the oracle, hits and scores, and is whole. */
static void t_gather_equals_oracle(void) {
    world w;
    int i;
    uint32_t tenant, n;
    char text[TEXT_MAX];
    tidal_hit want[100];
    setup(&w);
    load(&w, 1, 100, 40, 60);
    load(&w, 2, 500, 30, 45);
    run(&w, 500 * MS); /* every replica holds every write */
    for (tenant = 1; tenant <= 2 && TT_OK(); tenant++) {
        uint32_t group = tenant == 1 ? 0 : 3;
        text_for(text, tenant, 25);
        n = oracle(&w, group, 0, 3, text, 25, want);
        TT_CHECK(n == 25);
        for (i = 0; i < N && TT_OK(); i++) {
            const tidal_peer_completion *c = gather(&w, i, text, 0);
            char what[64];
            snprintf(what, sizeof what, "tenant %u from node %d", tenant, i);
            TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "%s: %s", what, c ? c->message : "-");
            if (!c) continue;
            TT_CHECKF(!c->degraded && c->shards_asked == SHARDS && c->shards_answered == SHARDS &&
                          c->missing_count == 0 && c->regions_missing == 0,
                      "%s: degraded %d (%s) answered %u", what, c->degraded, c->degraded_reason,
                      c->shards_answered);
            same_hits(c, want, n, what);
        }
        w.n_got = 0;
    }
    /* Without AT: every shard scores at the gathering node's clock, LIMIT by default 20. */
    {
        const tidal_peer_completion *c = gather(&w, ix(2, 1), "RETRIEVE items SIGNAL view TENANT 1",
                                                0);
        TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK && c->hit_count == 20 && !c->degraded);
    }
    /* A tenant without placement, an unknown signal, bad arguments. */
    {
        uint64_t t = 0;
        const tidal_peer_completion *c = gather(&w, 0, "RETRIEVE items SIGNAL view TENANT 9", 0);
        TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_NOT_FOUND);
        tidal_hit hb[1];
        uint32_t nb = 0;
        tidal_result direct = tidal_retrieve_text(tidal_peer_member(w.nd[0].peer, 0),
                                                  "RETRIEVE items SIGNAL nope TENANT 1", hb, 1, &nb,
                                                  NULL);
        TT_CHECK(direct != TIDAL_OK);
        c = gather(&w, 0, "RETRIEVE items SIGNAL nope TENANT 1", 0); /* the member's own error */
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == direct &&
                      strstr(c->message, "nope"), "%s", c ? c->message : "-");
        TT_EQ_INT(tidal_peer_gather(w.nd[0].peer, "RETRIEVE nothing", 0, &t), TIDAL_ERR_INVALID);
        TT_EQ_INT(tidal_peer_gather(w.nd[0].peer, "RETRIEVE items SIGNAL view LIMIT 101", 0, &t),
                  TIDAL_ERR_INVALID);
        TT_EQ_INT(tidal_peer_gather(w.nd[0].peer, "RETRIEVE items SIGNAL view", -1, &t),
                  TIDAL_ERR_INVALID);
        TT_EQ_INT(tidal_peer_gather(w.nd[0].peer, "RETRIEVE items SIGNAL view", 0, NULL),
                  TIDAL_ERR_INVALID);
    }
    world_free(&w);
}

/* Tenant 2 (regions 0 and 1) gathered from node 2/0 (region 2 runs none of it). The link
   2/0 - 1/1 is cut, then region 0 is cut off: shard 1's only replica still reachable was
   inside it. The gather answers from shard 0 alone, degraded, shard 1 and region 0 named,
   and every hit is an item of shard 0 (equal to shard 0's oracle). After the heal it is
   whole again. Region 0 cut off also degrades a gather of tenant 1 from region 1 (all its
   shards answer there), naming region 0. */
static void t_gather_partition_degraded(void) {
    world w;
    int a = ix(2, 0);
    uint32_t n, k, h1, h2;
    char text[TEXT_MAX];
    tidal_hit want[100];
    tidal_node_ref x[1], y[1];
    const tidal_peer_completion *c;
    setup(&w);
    load(&w, 2, 900, 30, 40);
    load(&w, 1, 100, 30, 20);
    run(&w, 500 * MS);
    text_for(text, 2, 40);
    x[0] = ref(a), y[0] = ref(ix(1, 1));
    h1 = tidal_sim_net_partition_nodes(w.net, x, 1, y, 1, 0);
    h2 = tidal_sim_net_isolate_region(w.net, 0);
    run(&w, 1500 * MS); /* past the silence timeout: 0/x and 1/1 fall silent for 2/0 */
    n = oracle(&w, 3, 1, 1u, text, 40, want); /* shard 0 alone, from region 1's replica */
    TT_CHECK(n > 0);
    c = gather(&w, a, text, 0);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "%s", c ? c->message : "no completion");
    if (c) {
        TT_CHECKF(c->degraded && c->missing_count == 1 && c->missing[0] == 1 &&
                      c->shards_answered == 1 && (c->regions_missing & 1u),
                  "degraded %d missing %u [%u] regions %x: %s", c->degraded, c->missing_count,
                  c->missing[0], c->regions_missing, c->degraded_reason);
        TT_CHECKF(strstr(c->degraded_reason, "shard 1") != NULL, "%s", c->degraded_reason);
        for (k = 0; k < c->hit_count; k++)
            TT_CHECKF(tidal_route(2, c->hits[k].item, SHARDS) == 0, "item %llu of shard 1",
                      (unsigned long long)c->hits[k].item);
        same_hits(c, want, n, "shard 0 alone");
    }
    /* Tenant 1 from region 1: both shards there, but region 0 of its placement is silent. */
    {
        char t1[TEXT_MAX];
        text_for(t1, 1, 10);
        c = gather(&w, ix(1, 1), t1, 0);
        TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK && c->shards_answered == SHARDS);
        TT_CHECKF(c && c->degraded && c->missing_count == 0 && c->regions_missing == 1u &&
                      strstr(c->degraded_reason, "region 0"),
                  "%s (regions %x)", c ? c->degraded_reason : "-", c ? c->regions_missing : 0);
    }
    w.n_got = 0;
    tidal_sim_net_heal(w.net, h1);
    tidal_sim_net_heal(w.net, h2);
    run(&w, 3000 * MS);
    n = oracle(&w, 3, 1, 3u, text, 40, want);
    c = gather(&w, a, text, 0);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK && !c->degraded && c->shards_answered == SHARDS,
              "after the heal: %s %s", c ? c->message : "-", c ? c->degraded_reason : "");
    if (c) same_hits(c, want, n, "after the heal");
    world_free(&w);
}

/* The replica asked first (0/1: this region, heard a moment ago) is cut off just before
   the gather: after config.gather_try_ns without its answer the next replica (region 1)
   answers. Every shard answered and the hits equal the oracle; region 0 is named as
   having left a query unanswered. The answer took at least one try's time. */
static void t_gather_next_replica(void) {
    world w;
    int a = ix(0, 0);
    uint32_t n, hd;
    int64_t start;
    char text[TEXT_MAX];
    tidal_hit want[100];
    tidal_node_ref x[1], y[1];
    const tidal_peer_completion *c;
    setup(&w);
    load(&w, 1, 100, 30, 30);
    run(&w, 500 * MS);
    text_for(text, 1, 30);
    n = oracle(&w, 0, 1, 3u, text, 30, want);
    x[0] = ref(a), y[0] = ref(ix(0, 1));
    hd = tidal_sim_net_partition_nodes(w.net, x, 1, y, 1, 0);
    start = w.now;
    c = gather(&w, a, text, 0);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK && c->shards_answered == SHARDS &&
                  c->missing_count == 0 && c->regions_missing == 1u && c->degraded &&
                  strstr(c->degraded_reason, "region 0"),
              "%s: answered %u, regions %x, %s", c ? c->message : "-", c ? c->shards_answered : 0,
              c ? c->regions_missing : 0, c ? c->degraded_reason : "");
    TT_CHECK(w.now - start >= 400 * MS);
    if (c) same_hits(c, want, n, "from the next replica");
    tidal_sim_net_heal(w.net, hd);
    world_free(&w);
}

static tidal_peer_health_leader g_leaders[16];
static tidal_peer_health_member g_members[64];
static tidal_peer_health_node g_nodes[N];

static void health(world *w, int i, tidal_peer_health *h) {
    memset(h, 0, sizeof *h);
    h->leaders = g_leaders, h->leaders_cap = 16;
    h->members = g_members, h->members_cap = 64;
    h->nodes = g_nodes, h->nodes_cap = N;
    TT_EQ_INT(tidal_peer_health_get(w->nd[i].peer, h), TIDAL_OK);
}

/* Every node: every region healthy, leaders and epochs per (group, shard) as the leading
   members' own status says, the control leader as the control members say; every member
   known. */
static void check_all_healthy(world *w) {
    int i, r, k;
    for (i = 0; i < N && TT_OK(); i++) {
        tidal_peer_health h;
        int cl = control_leader(w);
        health(w, i, &h);
        TT_EQ_INT(h.regions, REGIONS);
        for (r = 0; r < REGIONS; r++)
            TT_CHECKF(h.region[r] == TIDAL_PEER_REGION_HEALTHY, "node %d: region %d: %u %s", i, r,
                      h.region[r], h.region_why[r]);
        TT_EQ_INT(h.leader_count, 2 * SHARDS);
        TT_EQ_INT(h.member_count, (REGIONS + 2) * SHARDS);
        TT_EQ_INT(h.node_count, N);
        for (k = 0; k < (int)h.leader_count; k++) {
            const tidal_peer_health_leader *l = &g_leaders[k];
            int gl = group_leader(w, l->group, (int)l->shard);
            tidal_node_status st;
            TT_CHECK(l->group == (k < SHARDS ? 0u : 3u) && l->shard == (uint32_t)(k % SHARDS));
            TT_CHECK(gl >= 0);
            if (gl < 0) continue;
            tidal_node_status_get(tidal_peer_member(w->nd[gl].peer, l->group), &st);
            TT_CHECKF(l->has_leader && l->leader.region == ref(gl).region &&
                          l->leader.shard == ref(gl).shard && l->epoch == st.epoch,
                      "node %d: group %u shard %u: leader %u/%u epoch %llu, members say %d epoch "
                      "%llu", i, l->group, l->shard, l->leader.region, l->leader.shard,
                      (unsigned long long)l->epoch, gl, (unsigned long long)st.epoch);
        }
        for (k = 0; k < (int)h.member_count; k++) TT_CHECK(g_members[k].known);
        TT_CHECK(cl >= 0 && h.control_has_leader && h.control_leader.region == ref(cl).region &&
                 h.control_leader.shard == ref(cl).shard && h.control_applied_index >= 5 &&
                 h.control_log_records >= h.control_applied_index && h.tenants == 2);
        TT_CHECK(h.heartbeats_received > 0 && h.heartbeats_sent > 0);
    }
}

/* Healthy, then region 2 cut off: before the silence timeout still healthy, after it
   offline from both sides' view; healthy again after the heal. */
static void t_health_offline(void) {
    world w;
    uint32_t hd;
    tidal_peer_health h;
    setup(&w);
    run(&w, 1000 * MS);
    check_all_healthy(&w);
    hd = tidal_sim_net_isolate_region(w.net, 2);
    run(&w, 500 * MS);
    health(&w, ix(0, 0), &h);
    TT_CHECKF(h.region[2] == TIDAL_PEER_REGION_HEALTHY, "%u %s", h.region[2], h.region_why[2]);
    run(&w, 700 * MS); /* 1.2 s: past the 1 s silence timeout */
    health(&w, ix(0, 0), &h);
    TT_CHECKF(h.region[2] == TIDAL_PEER_REGION_OFFLINE && h.region[0] != TIDAL_PEER_REGION_OFFLINE,
              "%u %s", h.region[2], h.region_why[2]);
    TT_CHECK(g_nodes[ix(2, 0)].silent && g_nodes[ix(2, 1)].silent && !g_nodes[ix(1, 1)].silent);
    health(&w, ix(1, 1), &h);
    TT_CHECK(h.region[2] == TIDAL_PEER_REGION_OFFLINE);
    health(&w, ix(2, 1), &h);
    TT_CHECKF(h.region[0] == TIDAL_PEER_REGION_OFFLINE && h.region[1] == TIDAL_PEER_REGION_OFFLINE,
              "%u %s / %u %s", h.region[0], h.region_why[0], h.region[1], h.region_why[1]);
    TT_CHECK(h.region[2] != TIDAL_PEER_REGION_OFFLINE);
    tidal_sim_net_heal(w.net, hd);
    run(&w, 4000 * MS);
    check_all_healthy(&w);
    world_free(&w);
}

/* ---- A member held back: its group-0 data is dropped, heartbeats pass ---- */

static int g_drop_from = -1, g_drop_to = -1;

/* peer_world's run, but data messages (a payload: longer than the header) of group 0
   from g_drop_from to g_drop_to are lost. */
static void run_drop(world *w, int64_t dt) {
    int64_t end = w->now + dt;
    int i;
    while (w->now < end && TT_OK()) {
        int64_t next = tidal_sim_net_next_ns(w->net), step = w->now + 5 * MS;
        tidal_sim_msg m;
        if (next > w->now && next < step) step = next;
        if (step > end) step = end;
        for (i = 0; i < N; i++) tidal_sim_env_advance(&w->nd[i].env, step - w->now);
        w->now = step;
        while (tidal_sim_net_pop(w->net, w->now, &m)) {
            int to = ix(m.to.region, m.to.shard), from = ix(m.from.region, m.from.shard);
            uint32_t group = 1;
            if (!(from == g_drop_from && to == g_drop_to && m.len > 120 &&
                  tidal_message_group(m.bytes, m.len, &group) == TIDAL_OK && group == 0)) {
                tidal_result r = tidal_peer_receive(w->nd[to].peer, m.from, m.bytes, m.len);
                TT_CHECKF(r == TIDAL_OK || r == TIDAL_ERR_FENCED || r == TIDAL_ERR_STALE_CONFIG,
                          "peer %d receive: %s %s", to, tidal_strerror(r),
                          tidal_peer_errmsg(w->nd[to].peer));
            }
            tidal_sim_msg_free(&m);
        }
        for (i = 0; i < N; i++) {
            tidal_result r = tidal_peer_tick(w->nd[i].peer);
            TT_CHECKF(r == TIDAL_OK, "peer %d tick: %s %s", i, tidal_strerror(r),
                      tidal_peer_errmsg(w->nd[i].peer));
        }
        for (i = 0; i < N; i++) collect(w, i);
    }
}

static void t_health_lagging(void) {
    world w;
    int l, f, k;
    tidal_peer_health h;
    tidal_node_status st;
    setup(&w);
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    f = ix((ref(l).region + 1) % REGIONS, 0);
    g_drop_from = l, g_drop_to = f;
    for (k = 0; k < 3; k++) write_on(&w, l, 1, item_on(1, 0, 40 + (tidal_id)k));
    run_drop(&w, 1800 * MS);
    tidal_node_status_get(tidal_peer_member(w.nd[f].peer, 0), &st);
    TT_CHECKF(st.lag_events > 0 && st.lag_ns > TIDAL_NS_PER_S, "follower lag %llu events %lld ms",
              (unsigned long long)st.lag_events, (long long)(st.lag_ns / 1000000));
    health(&w, l, &h);
    TT_CHECKF(h.region[ref(f).region] == TIDAL_PEER_REGION_DEGRADED &&
                  strstr(h.region_why[ref(f).region], "lags"),
              "region %d: %u %s", ref(f).region, h.region[ref(f).region],
              h.region_why[ref(f).region]);
    TT_CHECK(h.region[ref(l).region] == TIDAL_PEER_REGION_HEALTHY);
    /* The member's lag as heard: at least what it had one heartbeat ago. */
    for (k = 0; k < (int)h.member_count; k++) {
        const tidal_peer_health_member *m = &g_members[k];
        if (m->group == 0 && m->node.region == ref(f).region && m->node.shard == 0)
            TT_CHECK(m->known && m->lag_events > 0 && m->lag_ns > TIDAL_NS_PER_S &&
                     m->role == TIDAL_ROLE_FOLLOWER);
    }
    /* A gather answered by the lagging follower reports its staleness. */
    {
        char text[TEXT_MAX];
        const tidal_peer_completion *c;
        uint64_t t = 0;
        text_for(text, 1, 10);
        TT_EQ_INT(tidal_peer_gather(w.nd[f].peer, text, 0, &t), TIDAL_OK);
        c = NULL;
        for (k = 0; k < 100 && !c; k++) {
            int j;
            for (j = 0; j < w.n_got; j++)
                if (w.got[j].node == f && w.got[j].c.ticket == t) c = &w.got[j].c;
            if (!c) run_drop(&w, 10 * MS);
        }
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK && c->staleness_ns > TIDAL_NS_PER_S &&
                      c->staleness_events > 0,
                  "staleness %lld ns", c ? (long long)c->staleness_ns : -1LL);
    }
    g_drop_from = g_drop_to = -1;
    run(&w, 3000 * MS);
    health(&w, l, &h);
    TT_CHECKF(h.region[ref(f).region] == TIDAL_PEER_REGION_HEALTHY, "after: %s",
              h.region_why[ref(f).region]);
out:
    world_free(&w);
}

/* ---- Malformed messages ---- */

typedef struct bad_field {
    size_t at;      /* byte offset in the message */
    uint32_t len;   /* bytes set to v (little endian) */
    uint64_t v;
    const char *what;
} bad_field;

/* Keeps the first message of type on the wire while fn runs the world. */
static int keep(world *w, uint32_t type, int64_t max) {
    int64_t end = w->now + max;
    w->keep_type = type;
    w->kept_len = 0;
    while (!w->kept_len && w->now < end && TT_OK()) run(w, 5 * MS);
    w->keep_type = 0;
    TT_CHECKF(w->kept_len > 120, "no message of type %u seen", type);
    return w->kept_len > 120;
}

static void put_le(uint8_t *b, uint64_t v, uint32_t len) {
    uint32_t k;
    for (k = 0; k < len; k++) b[k] = (uint8_t)(v >> (8 * k));
}

/* Random resealed mutations of the kept message (1-3 bytes of the payload or of the
   header's type, hops and ticket): each is refused (saying where, counted, nothing sent)
   or taken; never anything else. */
static void mutate_kept(world *w, int rounds) {
    uint8_t b[4200];
    size_t len = w->kept_len;
    int to = ix(w->kept_to.region, w->kept_to.shard), k, j;
    static const size_t hdr[] = {8, 24, 28, 32};
    for (k = 0; k < rounds && TT_OK(); k++) {
        tidal_peer_status s0, s1;
        tidal_sim_net_stats n0, n1;
        tidal_result r;
        int edits = 1 + (int)tt_below(3);
        memcpy(b, w->kept, len);
        for (j = 0; j < edits; j++) {
            size_t at = tt_below(4) == 0 ? hdr[tt_below(4)] : 120 + tt_below(len - 120);
            b[at] = tt_below(2) ? (uint8_t)tt_below(256) : (uint8_t)(b[at] ^ (1u << tt_below(8)));
        }
        reseal(b, len);
        tidal_peer_status_get(w->nd[to].peer, &s0);
        tidal_sim_net_stats_get(w->net, &n0);
        r = tidal_peer_receive(w->nd[to].peer, w->kept_from, b, len);
        tidal_peer_status_get(w->nd[to].peer, &s1);
        tidal_sim_net_stats_get(w->net, &n1);
        TT_CHECKF(r == TIDAL_OK || r == TIDAL_ERR_CORRUPT, "mutation %d: %s", k, tidal_strerror(r));
        if (r == TIDAL_ERR_CORRUPT) {
            TT_CHECKF(strstr(tidal_peer_errmsg(w->nd[to].peer), "at byte") != NULL, "%s",
                      tidal_peer_errmsg(w->nd[to].peer));
            TT_CHECK(s1.msgs_corrupt == s0.msgs_corrupt + 1 && n1.sent == n0.sent &&
                     s1.executed == s0.executed && s1.calls_pending == s0.calls_pending);
        }
    }
    run(w, 200 * MS); /* whatever was taken settles; the world goes on */
    w->n_got = 0;
}

static void check_malformed(world *w, const bad_field *bad, size_t n_bad, uint32_t type,
                            int decoder_refuses) {
    uint8_t b[4200];
    size_t len = w->kept_len, k;
    tidal_peer_message m;
    char why[200];
    TT_EQ_INT(tidal_peer_message_decode(w->kept, len, &m, why, sizeof why), TIDAL_OK);
    TT_EQ_INT(m.type, type);
    for (k = 0; k < len; k += k < 130 ? 1 : 11) { /* truncated */
        TT_CHECK(tidal_peer_message_decode(w->kept, k, &m, why, sizeof why) == TIDAL_ERR_CORRUPT);
        if (k == 119 || k == 121 || k == len - 1) expect_refused(w, w->kept, k, "truncated");
    }
    for (k = 0; k < len * 8; k += 29) { /* a flipped bit */
        memcpy(b, w->kept, len);
        b[k / 8] ^= (uint8_t)(1u << (k % 8));
        TT_CHECK(tidal_peer_message_decode(b, len, &m, why, sizeof why) == TIDAL_ERR_CORRUPT);
        if (k % 290 == 0) expect_refused(w, b, len, "flipped bit");
    }
    for (k = 0; k < n_bad; k++) { /* resealed with a bad field: named */
        tidal_result r;
        memcpy(b, w->kept, len);
        put_le(b + bad[k].at, bad[k].v, bad[k].len);
        reseal(b, len);
        r = tidal_peer_message_decode(b, len, &m, why, sizeof why);
        if (decoder_refuses || r != TIDAL_OK) {
            TT_EQ_INT(r, TIDAL_ERR_CORRUPT);
            TT_CHECKF(strstr(why, bad[k].what) && strstr(why, "at byte"), "%s: %s", bad[k].what,
                      why);
        }
        expect_refused(w, b, len, bad[k].what);
        if (!decoder_refuses && r == TIDAL_OK)
            TT_CHECKF(strstr(tidal_peer_errmsg(w->nd[ix(w->kept_to.region,
                                                        w->kept_to.shard)].peer), bad[k].what),
                      "%s: %s", bad[k].what,
                      tidal_peer_errmsg(w->nd[ix(w->kept_to.region, w->kept_to.shard)].peer));
    }
    memcpy(b, w->kept, len); /* one byte more */
    b[len] = 0;
    put_le(b + 36, len + 1 - 120, 4);
    reseal(b, len + 1);
    TT_EQ_INT(tidal_peer_message_decode(b, len + 1, &m, why, sizeof why), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(why, "after the last field") != NULL, "%s", why);
    expect_refused(w, b, len + 1, "trailing byte");
    memcpy(b, w->kept, len); /* from another node than the one it says */
    {
        tidal_node_ref from = w->kept_from;
        w->kept_from.region = (uint16_t)((w->kept_from.region + 1) % REGIONS);
        expect_refused(w, b, len, "wrong sender");
        w->kept_from = from;
    }
    if (decoder_refuses) mutate_kept(w, 300);
}

static void t_malformed_refused(void) {
    world w;
    char text[TEXT_MAX];
    uint64_t t = 0;
    setup(&w);
    load(&w, 1, 100, 20, 30);
    run(&w, 300 * MS);
    /* HEARTBEAT: the first member starts at 120 + 41. */
    if (keep(&w, TIDAL_PEER_MSG_HEARTBEAT, 500 * MS)) {
        const bad_field hb_bad[] = {
            {120, 1, 0xF0, "unknown control flag bits"},
            {121, 1, 1, "reserved byte not zero"},
            {160, 1, TIDAL_PEER_GROUPS_MAX + 1, "member count above"},
            {162, 1, 7, "member role"},
            {163, 1, 0x80, "unknown member flag bits"},
            {193, 8, UINT64_C(0x8000000000000000), "negative lag"},
            {24, 4, 1, "hops"},
        };
        const bad_field hb_config[] = {
            {161, 1, 9, "not in this node's config"},
        };
        check_malformed(&w, hb_bad, sizeof hb_bad / sizeof hb_bad[0], TIDAL_PEER_MSG_HEARTBEAT,
                        1);
        check_malformed(&w, hb_config, 1, TIDAL_PEER_MSG_HEARTBEAT, 0);
    }
    /* GATHER_Q and GATHER_A of a gather from 0/0 (shard 1 is asked of 0/1). */
    text_for(text, 1, 10);
    w.keep_type = TIDAL_PEER_MSG_GATHER_Q;
    w.kept_len = 0;
    TT_EQ_INT(tidal_peer_gather(w.nd[ix(0, 0)].peer, text, 0, &t), TIDAL_OK);
    TT_CHECK(await(&w, ix(0, 0), t, 3000 * MS) != NULL);
    w.keep_type = 0;
    TT_CHECK(w.kept_len > 120);
    if (w.kept_len > 120) {
        const bad_field q_bad[] = {
            {120, 4, 256, "group above 255"},
            {132, 4, 0, "try not"},
            {128, 4, 5, "TENANT differs"},
            {138, 1, 'X', "no RETRIEVE"},
            {136, 2, 0, "text not"},
        };
        check_malformed(&w, q_bad, sizeof q_bad / sizeof q_bad[0], TIDAL_PEER_MSG_GATHER_Q, 1);
    }
    w.keep_type = TIDAL_PEER_MSG_GATHER_A;
    w.kept_len = 0;
    TT_EQ_INT(tidal_peer_gather(w.nd[ix(0, 0)].peer, text, 0, &t), TIDAL_OK);
    TT_CHECK(await(&w, ix(0, 0), t, 3000 * MS) != NULL);
    w.keep_type = 0;
    TT_CHECK(w.kept_len > 120 + 48 + 32);
    if (w.kept_len > 120 + 48 + 32) {
        uint64_t first = 0, second = 0;
        bad_field a_bad[] = {
            {132, 4, 5, "unknown result"},
            {136, 1, 0xF0, "unknown flag bits"},
            {137, 1, 1, "reserved byte not zero"},
            {148, 8, UINT64_C(0x8000000000000000), "negative staleness"},
            {164, 4, 101, "hit count above"},
            {168, 8, 0, "item 0"},
            {192, 8, 0, "hits out of result order"}, /* set below: a second score above the first */
            {128, 4, 0, "try not"},
        };
        int k;
        double big = 1e300;
        for (k = 0; k < 8; k++) first |= (uint64_t)w.kept[168 + k] << (8 * k);
        for (k = 0; k < 8; k++) second |= (uint64_t)w.kept[184 + k] << (8 * k);
        TT_CHECK(first && second);
        memcpy(&a_bad[6].v, &big, 8);
        check_malformed(&w, a_bad, sizeof a_bad / sizeof a_bad[0], TIDAL_PEER_MSG_GATHER_A, 1);
        /* An intact answer again, after its gather completed: taken as late, nothing else. */
        {
            int to = ix(w.kept_to.region, w.kept_to.shard);
            snap s0, s1;
            take(&w, to, &s0);
            TT_EQ_INT(tidal_peer_receive(w.nd[to].peer, w.kept_from, w.kept, w.kept_len), TIDAL_OK);
            take(&w, to, &s1);
            TT_CHECK(s1.h.gather_answers_late == s0.h.gather_answers_late + 1 &&
                     s1.st.msgs_corrupt == s0.st.msgs_corrupt && s1.sent == s0.sent);
        }
    }
    world_free(&w);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_gather_equals_oracle),
    TT_CASE(t_gather_partition_degraded),
    TT_CASE(t_gather_next_replica),
    TT_CASE(t_health_offline),
    TT_CASE(t_health_lagging),
    TT_CASE(t_malformed_refused),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
