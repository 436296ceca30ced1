/* test_node_calls.c - tidal_peer's client entry points beyond signal writes and health
   (tidal.h >>node, >>node_gather; issue 12 items 1 and 5), on the 3-region x 2-shard
   cluster of peer_world.h. Every call is made on a node that leads neither shard of the
   owning group (so it is forwarded), and its result is checked on every member of the
   shards it belongs on: mutes, blocks and their removal, user attributes and user forget
   on every shard (fan-out); a hide and its removal and an item delete on the item's shard;
   a session's start, note, signal, open in another region and end on the session's shard.
   A fan-out call completes UNKNOWN when a shard gives no answer, FAILED naming the lowest
   refusing shard, and a retry with the same idempotency key applies once. Health reports
   a move in flight with what its coordinator waits for, the control records applied (a
   count) and a record a node cannot apply (without failing every later receive and tick),
   the node's counters, and renders as text. Malformed forms of the new ops are refused.
   The routing table is cut to 8 tenants here (TIDAL_TENANTS_CONFIG_MAX) so that a
   committed record can fail to apply. */
#define TIDAL_TENANTS_CONFIG_MAX 8
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include "peer_world.h"

/* A node whose member of group 0 follows (it leads no shard of group 0); -1 if none. With
   shard >= 0, one of that shard. */
static int follower(world *w, int shard) {
    int i;
    for (i = 0; i < N; i++) {
        tidal_node_status st;
        if (shard >= 0 && ref(i).shard != shard) continue;
        if (tidal_node_status_get(tidal_peer_member(w->nd[i].peer, 0), &st) == TIDAL_OK &&
            st.role != TIDAL_ROLE_LEADER)
            return i;
    }
    return -1;
}

/* The completion of ticket t on node i, which must be OK at QUORUM, run elsewhere. */
static const tidal_peer_completion *ok_on(world *w, int i, uint64_t t, const char *what) {
    const tidal_peer_completion *c = await(w, i, t, 5000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK && c->acked == TIDAL_ACK_QUORUM,
              "%s: %s %s", what, c ? tidal_strerror(c->result) : "no completion",
              c ? c->message : "");
    return c;
}

static int suppressed(world *w, int n, tidal_id user, tidal_id item) {
    int sup = -1;
    TT_EQ_INT(tidal_negative_check(tidal_peer_member(w->nd[n].peer, 0), 1, user, item, &sup),
              TIDAL_OK);
    return sup;
}

static void digest_of(world *w, int n, uint8_t out[32]) {
    TT_EQ_INT(tidal_db_digest(tidal_peer_member(w->nd[n].peer, 0), 1, out), TIDAL_OK);
}

/* Items on both shards with creator 4242; user 77 mutes, then blocks, then unmutes and
   unblocks it, each call made on a follower: every member of both shards agrees. A retry
   of the keyed mute is a duplicate on every shard and changes no member's state. */
static void t_mute_block_fan_out(void) {
    world w;
    tidal_id it[SHARDS];
    uint8_t d0[N][32], d1[32];
    tidal_idem key;
    tidal_peer_health h;
    const tidal_peer_completion *c;
    uint64_t t;
    int i, n, s;
    setup(&w);
    i = follower(&w, -1);
    TT_CHECK(i >= 0);
    if (i < 0) goto out;
    for (s = 0; s < SHARDS; s++) {
        it[s] = item_on(1, (uint32_t)s, 5000);
        TT_EQ_INT(tidal_peer_attr_set(w.nd[i].peer, 1, it[s], "creator", "4242", 0, &t),
                  TIDAL_OK);
        ok_on(&w, i, t, "creator");
    }
    key.key = "mute-77", key.key_len = 7, key.seq = 1;
    TT_EQ_INT(tidal_peer_negative_write(w.nd[i].peer, 1, 77, TIDAL_MUTE, 4242, 0, &key,
                                        TIDAL_ACK_QUORUM, &t), TIDAL_OK);
    c = ok_on(&w, i, t, "mute");
    TT_CHECK(c && !c->duplicate && (c->id.hi || c->id.lo));
    run(&w, 500 * MS);
    for (n = 0; n < N; n++) {
        TT_CHECKF(suppressed(&w, n, 77, it[ref(n).shard]) == 1, "node %d: not muted", n);
        TT_EQ_INT(suppressed(&w, n, 78, it[ref(n).shard]), 0);
        digest_of(&w, n, d0[n]);
    }
    /* The same key again: a duplicate everywhere, no member changes. */
    TT_EQ_INT(tidal_peer_negative_write(w.nd[i].peer, 1, 77, TIDAL_MUTE, 4242, 0, &key,
                                        TIDAL_ACK_QUORUM, &t), TIDAL_OK);
    c = ok_on(&w, i, t, "mute again");
    TT_CHECK(c && c->duplicate);
    run(&w, 500 * MS);
    for (n = 0; n < N; n++) {
        digest_of(&w, n, d1);
        TT_CHECKF(!memcmp(d0[n], d1, 32), "node %d: a retry with the same key changed it", n);
    }
    /* A block (no key) from another follower; then unmute and unblock. */
    TT_EQ_INT(tidal_peer_negative_add(w.nd[i].peer, 1, 79, TIDAL_BLOCK, 4242, 0, &t), TIDAL_OK);
    ok_on(&w, i, t, "block");
    TT_EQ_INT(tidal_peer_negative_remove(w.nd[i].peer, 1, 77, TIDAL_MUTE, 4242, 0, &t),
              TIDAL_OK);
    ok_on(&w, i, t, "unmute");
    run(&w, 500 * MS);
    for (n = 0; n < N; n++) {
        TT_CHECKF(suppressed(&w, n, 77, it[ref(n).shard]) == 0, "node %d: still muted", n);
        TT_CHECKF(suppressed(&w, n, 79, it[ref(n).shard]) == 1, "node %d: not blocked", n);
    }
    TT_EQ_INT(tidal_peer_negative_remove(w.nd[i].peer, 1, 79, TIDAL_BLOCK, 4242, 0, &t),
              TIDAL_OK);
    ok_on(&w, i, t, "unblock");
    run(&w, 500 * MS);
    for (n = 0; n < N; n++)
        TT_CHECKF(suppressed(&w, n, 79, it[ref(n).shard]) == 0, "node %d: still blocked", n);
    memset(&h, 0, sizeof h);
    TT_EQ_INT(tidal_peer_health_get(w.nd[i].peer, &h), TIDAL_OK);
    TT_CHECK(h.calls_fanned_out == 5 && h.calls_forwarded >= 5);
out:
    world_free(&w);
}

/* A user's attribute set on every shard, then the user forgotten on every shard. */
static void t_user_attr_and_forget(void) {
    world w;
    char buf[64];
    uint64_t t;
    int i, n;
    setup(&w);
    i = follower(&w, -1);
    TT_CHECK(i >= 0);
    if (i < 0) goto out;
    TT_EQ_INT(tidal_peer_user_attr_set(w.nd[i].peer, 1, 88, "country", "fr", NULL, 0, &t),
              TIDAL_OK);
    ok_on(&w, i, t, "user attr");
    run(&w, 500 * MS);
    for (n = 0; n < N; n++) {
        TT_EQ_INT(tidal_attr_get(tidal_peer_member(w.nd[n].peer, 0), 1, 88, "country", buf,
                                 sizeof buf), TIDAL_OK);
        TT_CHECKF(!strcmp(buf, "fr"), "node %d: %s", n, buf);
    }
    TT_EQ_INT(tidal_peer_user_forget(w.nd[i].peer, 1, 88, 0, &t), TIDAL_OK);
    ok_on(&w, i, t, "forget");
    run(&w, 500 * MS);
    for (n = 0; n < N; n++)
        TT_CHECKF(tidal_attr_get(tidal_peer_member(w.nd[n].peer, 0), 1, 88, "country", buf,
                                 sizeof buf) == TIDAL_ERR_NOT_FOUND, "node %d: not forgotten", n);
    /* Arguments the call refuses itself. */
    TT_EQ_INT(tidal_peer_user_forget(w.nd[i].peer, 1, 0, 0, &t), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_user_attr_set(w.nd[i].peer, 1, 88, "", "x", NULL, 0, &t),
              TIDAL_ERR_INVALID);
out:
    world_free(&w);
}

/* A hide and its removal on the item's shard; an item delete there. */
static void t_hide_unhide_delete(void) {
    world w;
    tidal_id x = item_on(1, 1, 7000);
    uint64_t t;
    int i, r;
    setup(&w);
    i = follower(&w, 0); /* a node of the other shard: no member of the item's shard */
    TT_CHECK(i >= 0);
    if (i < 0) goto out;
    ok_on(&w, i, write_on(&w, i, 1, x), "signal");
    TT_EQ_INT(tidal_peer_negative_add(w.nd[i].peer, 1, 55, TIDAL_HIDE, x, 0, &t), TIDAL_OK);
    ok_on(&w, i, t, "hide");
    run(&w, 500 * MS);
    for (r = 0; r < REGIONS; r++) {
        TT_CHECKF(suppressed(&w, ix(r, 1), 55, x) == 1, "region %d: not hidden", r);
        TT_EQ_INT((int)views(&w, ix(r, 1), 0, 1, x), 1);
    }
    TT_EQ_INT(tidal_peer_negative_remove(w.nd[i].peer, 1, 55, TIDAL_HIDE, x, 0, &t), TIDAL_OK);
    ok_on(&w, i, t, "unhide");
    TT_EQ_INT(tidal_peer_item_delete(w.nd[i].peer, 1, x, 0, &t), TIDAL_OK);
    ok_on(&w, i, t, "delete");
    run(&w, 500 * MS);
    for (r = 0; r < REGIONS; r++) {
        TT_CHECKF(suppressed(&w, ix(r, 1), 55, x) == 0, "region %d: still hidden", r);
        TT_CHECKF(views(&w, ix(r, 1), 0, 1, x) == 0, "region %d: not deleted", r);
    }
out:
    world_free(&w);
}

/* A session started, noted (a retry of its seq a duplicate), written to, opened again in
   another region, ended; a note after the end refused. The session's shard holds it all
   on every member. */
static void t_sessions(void) {
    world w;
    tidal_id sid = 0;
    tidal_signal s;
    tidal_session_info info;
    const tidal_peer_completion *c;
    uint64_t t;
    int i, j, r, sh, l;
    setup(&w);
    i = follower(&w, -1);
    TT_CHECK(i >= 0);
    if (i < 0) goto out;
    TT_EQ_INT(tidal_peer_session_start(w.nd[i].peer, 1, 99, 0, 0, &sid, &t), TIDAL_OK);
    TT_CHECK(sid != 0);
    c = ok_on(&w, i, t, "start");
    TT_CHECK(c && tidal__node_word(c->executed_by) != tidal__node_word(ref(i)));
    sh = (int)tidal_route(1, sid, SHARDS);
    TT_EQ_INT(tidal_peer_session_note(w.nd[i].peer, 1, sid, 1, "hello", 0, &t), TIDAL_OK);
    c = ok_on(&w, i, t, "note");
    TT_CHECK(c && !c->duplicate);
    TT_EQ_INT(tidal_peer_session_note(w.nd[i].peer, 1, sid, 1, "hello", 0, &t), TIDAL_OK);
    c = ok_on(&w, i, t, "note again");
    TT_CHECK(c && c->duplicate);
    memset(&s, 0, sizeof s);
    s.tenant = 1, s.item = 6000, s.weight = 1, s.time_ns = w.now;
    TT_EQ_INT(tidal_peer_session_signal(w.nd[i].peer, sid, 2, &s, 0, &t), TIDAL_OK);
    ok_on(&w, i, t, "session signal");
    l = group_leader(&w, 0, sh);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    TT_EQ_INT(tidal_session_get(tidal_peer_member(w.nd[l].peer, 0), 1, sid, &info), TIDAL_OK);
    j = ix((ref(i).region + 1) % REGIONS, 1 - ref(i).shard); /* roams to another node */
    TT_EQ_INT(tidal_peer_session_open(w.nd[j].peer, 1, sid, 99, info.start_ns, 0, 0, &t),
              TIDAL_OK);
    c = ok_on(&w, j, t, "open elsewhere");
    TT_CHECK(c && c->duplicate);
    TT_EQ_INT(tidal_peer_session_end(w.nd[j].peer, 1, sid, 0, &t), TIDAL_OK);
    ok_on(&w, j, t, "end");
    run(&w, 500 * MS);
    for (r = 0; r < REGIONS; r++) {
        memset(&info, 0, sizeof info);
        TT_EQ_INT(tidal_session_get(tidal_peer_member(w.nd[ix(r, sh)].peer, 0), 1, sid, &info),
                  TIDAL_OK);
        TT_CHECKF(info.user == 99 && info.ended == 1 && info.entries == 2 && info.hwm == 2,
                  "region %d: user %llu ended %d entries %u hwm %llu", r,
                  (unsigned long long)info.user, info.ended, info.entries,
                  (unsigned long long)info.hwm);
    }
    TT_EQ_INT(tidal_peer_session_note(w.nd[i].peer, 1, sid, 3, "late", 0, &t), TIDAL_OK);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_SESSION_ENDED,
              "%s", c ? c->message : "none");
out:
    world_free(&w);
}

/* A mute while shard 1 cannot be reached from the caller: UNKNOWN naming it, shard 0
   applied; the retry with the same key after the heal applies on shard 1 and is a no-op
   on shard 0. With the tenant SEALED: FAILED with MOVED naming shard 0. */
static void t_fan_out_unknown_failed(void) {
    world w;
    tidal_node_ref a[1], b[REGIONS];
    tidal_id it[SHARDS];
    uint8_t d0[N][32], d1[32];
    tidal_idem key;
    tidal_control_record rec;
    const tidal_peer_completion *c;
    uint64_t t;
    uint32_t cut;
    int i, n, r, s;
    setup(&w);
    i = follower(&w, 0);
    TT_CHECK(i >= 0);
    if (i < 0) goto out;
    for (s = 0; s < SHARDS; s++) {
        it[s] = item_on(1, (uint32_t)s, 9000);
        TT_EQ_INT(tidal_peer_attr_set(w.nd[i].peer, 1, it[s], "creator", "31", 0, &t),
                  TIDAL_OK);
        ok_on(&w, i, t, "creator");
    }
    a[0] = ref(i);
    for (r = 0; r < REGIONS; r++) b[r] = ref(ix(r, 1));
    cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, REGIONS, 0);
    key.key = "m31", key.key_len = 3, key.seq = 7;
    TT_EQ_INT(tidal_peer_negative_write(w.nd[i].peer, 1, 30, TIDAL_MUTE, 31, 0, &key, 0, &t),
              TIDAL_OK);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_UNKNOWN && strstr(c->message, "shard 1"),
              "%s", c ? c->message : "none");
    tidal_sim_net_heal(w.net, cut);
    run(&w, 500 * MS);
    for (r = 0; r < REGIONS; r++) {
        TT_EQ_INT(suppressed(&w, ix(r, 0), 30, it[0]), 1);
        TT_EQ_INT(suppressed(&w, ix(r, 1), 30, it[1]), 0);
    }
    for (n = 0; n < N; n++) digest_of(&w, n, d0[n]);
    TT_EQ_INT(tidal_peer_negative_write(w.nd[i].peer, 1, 30, TIDAL_MUTE, 31, 0, &key, 0, &t),
              TIDAL_OK);
    c = ok_on(&w, i, t, "retry");
    TT_CHECK(c && !c->duplicate); /* new on shard 1 */
    run(&w, 500 * MS);
    for (n = 0; n < N; n++) {
        TT_EQ_INT(suppressed(&w, n, 30, it[ref(n).shard]), 1);
        digest_of(&w, n, d1);
        if (ref(n).shard == 0) TT_CHECKF(!memcmp(d0[n], d1, 32), "node %d applied twice", n);
    }
    rec = rec_tenant(1, 0, TIDAL_TENANT_SEALED);
    propose(&w, ix(1, 1), &rec);
    run(&w, 200 * MS);
    TT_EQ_INT(tidal_peer_negative_add(w.nd[i].peer, 1, 32, TIDAL_MUTE, 31, 0, &t), TIDAL_OK);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_MOVED &&
                  !strncmp(c->message, "shard 0 (0/2", 12),
              "%s", c ? c->message : "none");
out:
    world_free(&w);
}

/* Eight tenants fill the routing table; a ninth's PLACEMENT commits and fails to apply on
   every node: health names it, no receive or tick returns an error for it (run() checks
   each), and the next record applies. The records are counted, not indexed. */
static void t_health_apply_failure(void) {
    world w;
    tidal_control_record rec;
    tidal_peer_health h;
    tidal_peer_tenant tt;
    char text[4096];
    uint64_t bad;
    uint32_t k;
    int n;
    setup(&w);
    for (k = 10; k < 16; k++) {
        rec = rec_placement(k, 0, 0);
        propose(&w, ix(0, 1), &rec);
    }
    rec = rec_placement(16, 0, 0);
    bad = propose(&w, ix(2, 1), &rec);
    rec = rec_tenant(1, 0, TIDAL_TENANT_SEALED);
    propose(&w, ix(1, 0), &rec);
    run(&w, 500 * MS);
    for (n = 0; n < N; n++) {
        memset(&h, 0, sizeof h);
        TT_EQ_INT(tidal_peer_health_get(w.nd[n].peer, &h), TIDAL_OK);
        TT_CHECKF(h.control_failed == 1 && h.control_failed_index == bad &&
                      strstr(h.control_failed_why, "routing table"),
                  "node %d: failed %llu at %llu: %s", n, (unsigned long long)h.control_failed,
                  (unsigned long long)h.control_failed_index, h.control_failed_why);
        TT_CHECKF(h.control_records == 13 && h.control_records < h.control_applied_index,
                  "node %d: %llu records, applied index %llu", n,
                  (unsigned long long)h.control_records,
                  (unsigned long long)h.control_applied_index);
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[n].peer, 1, &tt), TIDAL_OK);
        TT_CHECK(tt.state == TIDAL_TENANT_SEALED);
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[n].peer, 16, &tt), TIDAL_ERR_NOT_FOUND);
    }
    TT_EQ_INT(tidal_peer_health_text(w.nd[0].peer, text, sizeof text), TIDAL_OK);
    TT_CHECKF(strstr(text, "records 13 failed 1") && strstr(text, "routing table") &&
                  strstr(text, "region 2 healthy\n") && strstr(text, "group 3 shard 1 leader "),
              "%s", text);
    TT_EQ_INT(tidal_peer_health_text(w.nd[0].peer, text, 40), TIDAL_ERR_LIMIT);
    TT_CHECK(text[0] == 0); /* the first line alone does not fit: no partial line */
    TT_EQ_INT(tidal_peer_health_text(w.nd[0].peer, NULL, 10), TIDAL_ERR_INVALID);
    world_free(&w);
}

/* A move (tenant 2, group 3 -> 0) whose coordinator cannot reach the shard-1 nodes: the
   coordinator's health names the move, its phase and what it waits for; another node's
   names the move without a coordinator; once healed and DONE, no move is in flight. */
static void t_health_moves(void) {
    world w;
    tidal_node_ref a[1], b[REGIONS];
    tidal_peer_health h;
    tidal_peer_health_move mv[4];
    tidal_peer_move_info mi;
    const tidal_peer_completion *c;
    char text[8192];
    uint64_t t;
    uint32_t cut;
    int co, other, r, n, done = 0;
    setup(&w);
    co = control_leader(&w);
    TT_CHECK(co >= 0);
    if (co < 0) goto out;
    other = ix((ref(co).region + 1) % REGIONS, 0); /* it hears the control leader */
    a[0] = ref(co);
    for (r = 0; r < REGIONS; r++) b[r] = ref(ix(r, 1));
    cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, REGIONS, 0);
    TT_EQ_INT(tidal_peer_move(w.nd[co].peer, 2, 0, &t), TIDAL_OK);
    c = await(&w, co, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "%s", c ? c->message : "none");
    run(&w, 3000 * MS);
    memset(&h, 0, sizeof h);
    h.moves = mv, h.moves_cap = 4;
    TT_EQ_INT(tidal_peer_health_get(w.nd[co].peer, &h), TIDAL_OK);
    TT_CHECKF(h.move_count == 1 && mv[0].tenant == 2 && mv[0].source == 3 && mv[0].target == 0 &&
                  mv[0].phase >= TIDAL_CONTROL_PHASE_COPY &&
                  mv[0].phase < TIDAL_CONTROL_PHASE_DONE && mv[0].coordinating &&
                  strstr(mv[0].waiting, "shard 1") && mv[0].waiting_ns >= 1000 * MS,
              "moves %u: tenant %u phase %u coordinating %d \"%s\"", h.move_count, mv[0].tenant,
              mv[0].phase, mv[0].coordinating, mv[0].waiting);
    TT_EQ_INT(tidal_peer_health_text(w.nd[co].peer, text, sizeof text), TIDAL_OK);
    TT_CHECKF(strstr(text, "move tenant 2 phase ") && strstr(text, " source 3 target 0 gen ") &&
                  strstr(text, "coordinating") && strstr(text, "shard 1"),
              "%s", text);
    memset(&h, 0, sizeof h);
    h.moves = mv, h.moves_cap = 4;
    TT_EQ_INT(tidal_peer_health_get(w.nd[other].peer, &h), TIDAL_OK);
    TT_CHECK(h.move_count == 1 && mv[0].tenant == 2 && !mv[0].coordinating);
    h.moves = NULL; /* a list NULL with a nonzero cap */
    TT_EQ_INT(tidal_peer_health_get(w.nd[other].peer, &h), TIDAL_ERR_INVALID);
    tidal_sim_net_heal(w.net, cut);
    for (r = 0; r < 300 && !done; r++) {
        run(&w, 100 * MS);
        done = 1;
        for (n = 0; n < N; n++)
            done &= tidal_peer_move_status(w.nd[n].peer, 2, &mi) == TIDAL_OK &&
                    mi.phase == TIDAL_CONTROL_PHASE_DONE;
    }
    for (n = 0; n < N && !done; n++) {
        TT_EQ_INT(tidal_peer_move_status(w.nd[n].peer, 2, &mi), TIDAL_OK);
        printf("    node %d: phase %u waiting %s\n", n, mi.phase, mi.waiting);
    }
    TT_CHECK(done);
    for (n = 0; n < N; n++) {
        memset(&h, 0, sizeof h);
        TT_EQ_INT(tidal_peer_health_get(w.nd[n].peer, &h), TIDAL_OK);
        TT_EQ_INT((int)h.move_count, 0);
    }
out:
    world_free(&w);
}

/* ---- Malformed forms of the new ops ---- */

/* A forwarded SESSION_OPEN taken off the wire, changed and resealed: the decoder names
   what is wrong, the receiver refuses it and counts it, nothing runs. */
static void t_malformed_new_ops(void) {
    world w;
    uint8_t b[4096];
    size_t len, k;
    tidal_peer_message m;
    tidal_peer_status s0, s1;
    tidal_id sid = 0;
    char why[200];
    uint64_t t;
    int i, to;
    setup(&w);
    i = follower(&w, -1);
    TT_CHECK(i >= 0);
    if (i < 0) goto out;
    w.keep_type = TIDAL_PEER_MSG_FORWARD;
    TT_EQ_INT(tidal_peer_session_start(w.nd[i].peer, 1, 99, 0, 0, &sid, &t), TIDAL_OK);
    ok_on(&w, i, t, "start");
    TT_CHECK(w.kept_len > 200);
    if (w.kept_len <= 200) goto out;
    len = w.kept_len;
    TT_EQ_INT(tidal_peer_message_decode(w.kept, len, &m, why, sizeof why), TIDAL_OK);
    TT_CHECK(m.op == TIDAL_PEER_OP_SESSION_OPEN);
    {
        struct { size_t at, n; uint8_t v; const char *what; } bad[] = {
            {120, 1, 13, "unknown op"},           {120, 1, 6, "unknown op"},
            {122, 1, 2, "kind"},                  {140, 1, 5, "item"},
            {148, 8, 0, "session open without"},  {156, 8, 0, "session"},
            {180, 8, 0, "session open without"},  {188, 1, 1, "idempotency key"},
        };
        for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            memcpy(b, w.kept, len);
            memset(b + bad[k].at, bad[k].v, bad[k].n);
            reseal(b, len);
            TT_EQ_INT(tidal_peer_message_decode(b, len, &m, why, sizeof why), TIDAL_ERR_CORRUPT);
            TT_CHECKF(strstr(why, bad[k].what) && strstr(why, "at byte"), "%s: %s",
                      bad[k].what, why);
            to = ix(w.kept_to.region, w.kept_to.shard);
            tidal_peer_status_get(w.nd[to].peer, &s0);
            TT_EQ_INT(tidal_peer_receive(w.nd[to].peer, w.kept_from, b, len), TIDAL_ERR_CORRUPT);
            tidal_peer_status_get(w.nd[to].peer, &s1);
            TT_CHECK(s1.msgs_corrupt == s0.msgs_corrupt + 1 && s1.executed == s0.executed &&
                     s1.forwarded == s0.forwarded && s1.calls_pending == s0.calls_pending);
        }
    }
out:
    world_free(&w);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_mute_block_fan_out),
    TT_CASE(t_user_attr_and_forget),
    TT_CASE(t_hide_unhide_delete),
    TT_CASE(t_sessions),
    TT_CASE(t_fan_out_unknown_failed),
    TT_CASE(t_health_apply_failure),
    TT_CASE(t_health_moves),
    TT_CASE(t_malformed_new_ops),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
