/* test_node.c - tidal_peer (tidal.h >>node): a 3-region x 2-shard cluster of peers over the
   simulated network and disks, driven by a loop in the test (pop every message due,
   deliver it through tidal_peer_receive, tick every peer). Control records committed and
   applied on every peer, voters and learners alike; client calls forwarded to the leader
   of their shard and completed through tidal_peer_poll at QUORUM; a SEALED tenant refused
   on every path and, after a restart, from the node's own disk before any message; a call
   forwarded to a partitioned leader completing UNKNOWN after the timeout; malformed peer
   messages refused without any change. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include "peer_world.h"

/* ---- Cases ---- */

/* Every record commits and is applied on every peer, learners included; each tenant's
   config reaches exactly the members of its owning group. */
static void t_records_applied(void) {
    world w;
    int i;
    setup(&w);
    for (i = 0; i < N; i++) {
        tidal_peer_status st;
        tidal_peer_tenant t1, t2;
        tidal_control_status cs;
        uint64_t ents;
        double tok;
        tidal_peer_status_get(w.nd[i].peer, &st);
        tidal_control_status_get(tidal_peer_control(w.nd[i].peer), &cs);
        TT_CHECKF(st.applied_index == cs.commit_index && st.applied_index >= 6,
                  "peer %d applied %llu, commit %llu", i, (unsigned long long)st.applied_index,
                  (unsigned long long)cs.commit_index);
        TT_CHECK(cs.learner == (ref(i).shard != 0));
        TT_CHECK(st.regions == REGIONS && st.shards == SHARDS && !st.topology_mismatch);
        TT_CHECK(st.members == (ref(i).region < 2 ? 2u : 1u));
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[i].peer, 1, &t1), TIDAL_OK);
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[i].peer, 2, &t2), TIDAL_OK);
        TT_CHECK(t1.has_placement && t1.group == 0 && t1.has_config && t1.rate_per_s == 1000);
        TT_CHECK(t2.has_placement && t2.group == 3 && t2.placement == 3 && t2.has_config);
        TT_EQ_INT(tidal_tenant_usage(tidal_peer_member(w.nd[i].peer, 0), 1, &ents, &tok), TIDAL_OK);
        TT_EQ_INT(tidal_tenant_usage(tidal_peer_member(w.nd[i].peer, 0), 2, &ents, &tok),
                  TIDAL_OK); /* not its owner: held SEALED there (t_stray_member_sealed) */
        if (ref(i).region < 2)
            TT_EQ_INT(tidal_tenant_usage(tidal_peer_member(w.nd[i].peer, 3), 2, &ents, &tok),
                      TIDAL_OK);
        else
            TT_CHECK(tidal_peer_member(w.nd[i].peer, 3) == NULL);
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[i].peer, 9, &t1), TIDAL_ERR_NOT_FOUND);
    }
    world_free(&w);
}

/* A write on a node that does not lead the item's shard is forwarded, completes OK at
   QUORUM and is readable on the leader and, once shipped, on its followers; a RETRIEVE from
   a third node finds it; a write on the leader runs locally. */
static void t_forwarded_write(void) {
    world w;
    int l, i, k;
    tidal_id it = item_on(1, 0, 100);
    const tidal_peer_completion *c;
    tidal_peer_status before, after;
    uint64_t t;
    setup(&w);
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    i = ix((ref(l).region + 1) % REGIONS, 1); /* another region, the other shard */
    t = write_on(&w, i, 1, it);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECK(c != NULL);
    if (!c) goto out;
    TT_CHECKF(c->outcome == TIDAL_PEER_DONE_OK && c->acked == TIDAL_ACK_QUORUM, "%u %s %s",
              c->outcome, tidal_strerror(c->result), c->message);
    TT_CHECK(c->executed_by.region == ref(l).region && c->executed_by.shard == 0);
    TT_CHECK(c->id.hi != 0 || c->id.lo != 0);
    TT_EQ_INT((int)views(&w, l, 0, 1, it), 1);
    run(&w, 500 * MS);
    for (k = 0; k < REGIONS; k++) TT_EQ_INT((int)views(&w, ix(k, 0), 0, 1, it), 1);
    /* RETRIEVE of shard 0 from yet another node: the hit comes back in the completion. */
    {
        int j = ix((ref(l).region + 2) % REGIONS, 1);
        TT_EQ_INT(tidal_peer_retrieve(w.nd[j].peer, "RETRIEVE items SIGNAL view TENANT 1 LIMIT 5",
                                      0, &t), TIDAL_OK);
        c = await(&w, j, t, 3000 * MS);
        TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK && c->hit_count == 1 &&
                 c->hits[0].item == it);
        TT_EQ_INT(tidal_peer_retrieve(w.nd[j].peer, "RETRIEVE items SIGNAL view LIMIT 500", 0, &t),
                  TIDAL_ERR_INVALID); /* more hits than a completion carries */
    }
    /* On the leader itself: executed locally, nothing forwarded. */
    tidal_peer_status_get(w.nd[l].peer, &before);
    t = write_on(&w, l, 1, it);
    c = await(&w, l, t, 3000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK && c->acked == TIDAL_ACK_QUORUM);
    tidal_peer_status_get(w.nd[l].peer, &after);
    TT_CHECK(after.forwarded == before.forwarded && after.executed == before.executed + 1);
    TT_EQ_INT((int)views(&w, l, 0, 1, it), 2);
    /* Hide, attribute and session signal through a forwarding node, on group 3. */
    {
        tidal_id it2 = item_on(2, 1, 500);
        int l3 = group_leader(&w, 3, 1), j = ix(2, 0), supp = 0;
        char val[TIDAL_VALUE_MAX + 1];
        tidal_signal s;
        TT_CHECK(l3 >= 0);
        TT_EQ_INT(tidal_peer_attr_set(w.nd[j].peer, 2, it2, "color", "red", 0, &t), TIDAL_OK);
        c = await(&w, j, t, 3000 * MS);
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "%s", c ? c->message : "none");
        TT_EQ_INT(tidal_peer_negative_add(w.nd[j].peer, 2, 77, TIDAL_HIDE, it2, 0, &t), TIDAL_OK);
        c = await(&w, j, t, 3000 * MS);
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "%s", c ? c->message : "none");
        memset(&s, 0, sizeof s);
        s.tenant = 2;
        s.item = it2;
        s.weight = 1;
        s.time_ns = w.now;
        s.cohort = NULL;
        TT_EQ_INT(tidal_peer_session_signal(w.nd[j].peer, 0x51, 1, &s, 0, &t), TIDAL_OK);
        c = await(&w, j, t, 3000 * MS);
        /* The session was never started: the leader refuses it, and the refusal travels. */
        TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result != TIDAL_OK &&
                 c->message[0]);
        if (l3 >= 0) {
            tidal_db *db = tidal_peer_member(w.nd[l3].peer, 3);
            TT_EQ_INT(tidal_attr_get(db, 2, it2, "color", val, sizeof val), TIDAL_OK);
            TT_CHECK(!strcmp(val, "red"));
            TT_EQ_INT(tidal_negative_check(db, 2, 77, it2, &supp), TIDAL_OK);
            TT_CHECK(supp == 1);
        }
    }
    /* A tenant without a placement: NOT_FOUND through the completion. */
    t = write_on(&w, 0, 42, 5);
    c = await(&w, 0, t, 10 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_NOT_FOUND);
out:
    world_free(&w);
}

/* tidal_peer_step_down (issue 13): the node leading shard 0 of group 0 hands every
   leadership it holds over; within the election timeout it leads nothing, another node
   leads in a newer epoch, and a QUORUM write through the old leader's node completes,
   executed by the new one. A node that leads nothing starts nothing. */
static void t_step_down(void) {
    world w;
    tidal_node_status st;
    const tidal_peer_completion *c;
    uint32_t leading = 0, started = 0, handed;
    uint64_t epoch, t;
    int l, l2 = -1, i;
    int64_t end, t0;
    setup(&w);
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    TT_EQ_INT(tidal_node_status_get(tidal_peer_member(w.nd[l].peer, 0), &st), TIDAL_OK);
    epoch = st.epoch;
    for (i = 0; i < N; i++) { /* a follower everywhere: nothing to hand over */
        tidal_node_status s2;
        uint32_t k, lead_here = 0;
        for (k = 0; k < 4; k++) {
            tidal_db *db = tidal_peer_member(w.nd[i].peer, k);
            lead_here += db && tidal_node_status_get(db, &s2) == TIDAL_OK &&
                         s2.role == TIDAL_ROLE_LEADER;
        }
        if (lead_here || i == control_leader(&w)) continue;
        TT_EQ_INT(tidal_peer_step_down(w.nd[i].peer, &leading, &started), TIDAL_OK);
        TT_CHECK(leading == 0 && started == 0);
        break;
    }
    TT_EQ_INT(tidal_peer_step_down(w.nd[l].peer, &leading, &started), TIDAL_OK);
    TT_CHECKF(leading >= 1 && started >= 1, "leading %u, started %u", leading, started);
    t0 = w.now;
    handed = started;
    end = w.now + 3000 * MS;
    while (leading && w.now < end && TT_OK()) {
        run(&w, 10 * MS);
        TT_EQ_INT(tidal_peer_step_down(w.nd[l].peer, &leading, &started), TIDAL_OK);
    }
    TT_CHECKF(leading == 0, "node %d still leads %u groups after 3 s", l, leading);
    while (((l2 = group_leader(&w, 0, 0)) < 0 || l2 == l) && w.now < end && TT_OK())
        run(&w, 10 * MS); /* the target's election, under way */
    TT_CHECKF(l2 >= 0 && l2 != l, "shard 0 of group 0: leader %d (was %d)", l2, l);
    if (l2 < 0) goto out;
    TT_EQ_INT(tidal_node_status_get(tidal_peer_member(w.nd[l2].peer, 0), &st), TIDAL_OK);
    TT_CHECK(st.epoch > epoch);
    printf("    node %d handed %u group(s) over; %d leads shard 0 of group 0 %lld ms after the "
           "call\n", l, handed, l2, (long long)((w.now - t0) / MS));
    do /* the old leader hears of the new one (its first append or heartbeat) */
        run(&w, 10 * MS);
    while (tidal_node_status_get(tidal_peer_member(w.nd[l].peer, 0), &st) == TIDAL_OK &&
           !st.has_leader && w.now < end + 1000 * MS && TT_OK());
    TT_CHECK(st.has_leader && st.leader.region == ref(l2).region);
    t = write_on(&w, l, 1, item_on(1, 0, 300));
    c = await(&w, l, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK && c->acked == TIDAL_ACK_QUORUM &&
                  c->executed_by.region == ref(l2).region,
              "write after the step-down: %s", c ? c->message : "no completion");
    TT_EQ_INT(tidal_peer_step_down(NULL, &leading, &started), TIDAL_ERR_INVALID);
    /* The control plane's leader hands over too (issue 13, rule C8), and the new one
       commits a proposal made through another node. */
    {
        int cl = control_leader(&w), cl2;
        tidal_control_status cs;
        tidal_control_record r = rec_tenant(1, 0, TIDAL_TENANT_ACTIVE);
        uint64_t term;
        TT_CHECK(cl >= 0);
        if (cl < 0) goto out;
        TT_EQ_INT(tidal_control_status_get(tidal_peer_control(w.nd[cl].peer), &cs), TIDAL_OK);
        term = cs.term;
        TT_EQ_INT(tidal_peer_step_down(w.nd[cl].peer, &leading, &started), TIDAL_OK);
        TT_CHECKF(leading >= 1 && started >= 1, "control leader %d: leading %u, started %u", cl,
                  leading, started);
        TT_EQ_INT(tidal_control_status_get(tidal_peer_control(w.nd[cl].peer), &cs), TIDAL_OK);
        TT_CHECK(cs.transfer_in_flight);
        t0 = w.now;
        end = w.now + 3000 * MS;
        while (((cl2 = control_leader(&w)) < 0 || cl2 == cl) && w.now < end && TT_OK())
            run(&w, 10 * MS);
        TT_CHECKF(cl2 >= 0 && cl2 != cl, "control leader %d (was %d) 3 s after the step-down",
                  cl2, cl);
        if (cl2 < 0) goto out;
        TT_EQ_INT(tidal_control_status_get(tidal_peer_control(w.nd[cl2].peer), &cs), TIDAL_OK);
        TT_CHECK(cs.term == term + 1);
        printf("    control plane handed from node %d to node %d in %lld ms\n", cl, cl2,
               (long long)((w.now - t0) / MS));
        do /* the old leader hears of the new one, then forwards to it */
            run(&w, 10 * MS);
        while (tidal_control_status_get(tidal_peer_control(w.nd[cl].peer), &cs) == TIDAL_OK &&
               !cs.has_leader && w.now < end + 1000 * MS && TT_OK());
        propose(&w, cl, &r);
    }
out:
    world_free(&w);
}

/* SEALED: refused with TIDAL_ERR_MOVED on the leader and through a forwarding node, and
   nothing is applied anywhere. */
static void t_sealed_refused(void) {
    world w;
    int l, i, k;
    tidal_id it = item_on(1, 0, 300);
    const tidal_peer_completion *c;
    tidal_control_record r = rec_tenant(1, 0, TIDAL_TENANT_SEALED);
    uint64_t t;
    setup(&w);
    propose(&w, ix(1, 1), &r);
    run(&w, 300 * MS);
    for (k = 0; k < N; k++) {
        tidal_peer_tenant pt;
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[k].peer, 1, &pt), TIDAL_OK);
        TT_CHECK(pt.state == TIDAL_TENANT_SEALED);
    }
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    t = write_on(&w, l, 1, it); /* local */
    c = await(&w, l, t, 1000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_MOVED &&
             c->acked == 0);
    i = ix((ref(l).region + 1) % REGIONS, 1); /* forwarded */
    t = write_on(&w, i, 1, it);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_MOVED,
              "%s", c ? c->message : "none");
    TT_CHECK(c && c->executed_by.region == ref(l).region);
    {
        tidal_peer_status st;
        tidal_peer_status_get(w.nd[i].peer, &st);
        TT_CHECK(st.forwarded >= 1);
    }
    /* Hide through the forwarding node: refused the same way. */
    TT_EQ_INT(tidal_peer_negative_add(w.nd[i].peer, 1, 9, TIDAL_HIDE, it, 0, &t), TIDAL_OK);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_MOVED);
    run(&w, 300 * MS);
    for (k = 0; k < REGIONS; k++) TT_EQ_INT((int)views(&w, ix(k, 0), 0, 1, it), 0);
    /* ACTIVE again: the same write goes through. */
    r = rec_tenant(1, 0, TIDAL_TENANT_ACTIVE);
    propose(&w, ix(2, 1), &r);
    run(&w, 300 * MS);
    t = write_on(&w, i, 1, it);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK);
out:
    world_free(&w);
}

/* A write that reaches a member of a group that does not own the tenant directly (a
   host or client with a stale routing table) is refused with TIDAL_ERR_MOVED and changes
   nothing: every peer holds its tenants SEALED on the groups that do not own them (tenant
   1 lives in group 0, tenant 2 in group 3). */
static void t_stray_member_sealed(void) {
    world w;
    int k, refused = 0;
    setup(&w);
    for (k = 0; k < N; k++) { /* the leaders (a follower refuses any write: READ_ONLY) */
        int l3 = group_leader(&w, 3, ref(k).shard), l0 = group_leader(&w, 0, ref(k).shard);
        tidal_db *g3 = l3 == k ? tidal_peer_member(w.nd[k].peer, 3) : NULL;
        tidal_db *g0 = l0 == k ? tidal_peer_member(w.nd[k].peer, 0) : NULL;
        tidal_signal s;
        tidal_receipt rc;
        uint8_t d0[32], d1[32];
        memset(&s, 0, sizeof s);
        s.weight = 1;
        if (g3) { /* tenant 1 on group 3's member: not its owner */
            s.tenant = 1;
            s.item = item_on(1, ref(k).shard, 900);
            TT_EQ_INT(tidal_db_digest(g3, 1, d0), TIDAL_OK);
            TT_EQ_INT(tidal_signal_write(g3, &s, &rc), TIDAL_ERR_MOVED);
            TT_EQ_INT(tidal_db_digest(g3, 1, d1), TIDAL_OK);
            TT_CHECK(!memcmp(d0, d1, 32));
            refused++;
        }
        if (g0) { /* tenant 2 on group 0's member: not its owner */
            s.tenant = 2;
            s.item = item_on(2, ref(k).shard, 900);
            TT_EQ_INT(tidal_signal_write(g0, &s, &rc), TIDAL_ERR_MOVED);
            refused++;
        }
    }
    TT_EQ_INT(refused, 2 * SHARDS); /* every shard's leader of both groups was tried */
    world_free(&w);
}

/* A node restarted from its disk (power loss included) enforces SEALED from what it
   persisted, before any message reaches it. */
static void t_restart_enforces_sealed(void) {
    world w;
    int i = ix(1, 0), k;
    tidal_id it = item_on(1, 0, 700);
    tidal_control_record r = rec_tenant(1, 0, TIDAL_TENANT_SEALED);
    tidal_peer_tenant pt;
    setup(&w);
    propose(&w, ix(0, 1), &r);
    run(&w, 500 * MS);
    tidal_peer_close(w.nd[i].peer);
    w.nd[i].peer = NULL;
    w.nd[i].up = 0;
    tidal_sim_net_set_down(w.net, ref(i), 1);
    tidal_sim_disk_crash(w.nd[i].disk);
    tidal_sim_disk_restart(w.nd[i].disk);
    run(&w, 100 * MS); /* the others go on; nothing reaches the down node */
    peer_open(&w, i, 0);
    if (!w.nd[i].up) goto out;
    /* No message delivered yet: what it knows comes from its own disk. */
    TT_EQ_INT(tidal_peer_tenant_get(w.nd[i].peer, 1, &pt), TIDAL_OK);
    TT_CHECK(pt.state == TIDAL_TENANT_SEALED && pt.has_placement && pt.group == 0);
    TT_EQ_INT(tidal_peer_tenant_get(w.nd[i].peer, 2, &pt), TIDAL_OK);
    TT_CHECK(pt.state == TIDAL_TENANT_ACTIVE && pt.group == 3);
    /* Its member of group 0 holds the SEALED state in its own file too: a write through
       this node, once it runs again, is refused wherever it lands. */
    {
        uint64_t t;
        const tidal_peer_completion *c;
        run(&w, 1000 * MS);
        t = write_on(&w, i, 1, it);
        c = await(&w, i, t, 3000 * MS);
        TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_MOVED);
    }
    run(&w, 1000 * MS);
    for (k = 0; k < REGIONS; k++) TT_EQ_INT((int)views(&w, ix(k, 0), 0, 1, it), 0);
out:
    world_free(&w);
}

/* A call forwarded where no answer can come back completes UNKNOWN after the timeout (2 s
   by default), not before; with only the leader unreachable from the origin, a call goes
   through the origin region's member of the shard and its answer comes back the same way. */
static void t_partitioned_leader_unknown(void) {
    world w;
    int l, i, k;
    tidal_id it = item_on(1, 0, 900);
    const tidal_peer_completion *c;
    tidal_node_ref a[1], b[REGIONS];
    uint32_t cut;
    uint64_t t;
    setup(&w);
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    i = ix((ref(l).region + 1) % REGIONS, 1);
    t = write_on(&w, i, 1, it);
    c = await(&w, i, t, 3000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK);
    a[0] = ref(i);
    for (k = 0; k < REGIONS; k++) b[k] = ref(ix(k, 0));
    cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, REGIONS, 0);
    t = write_on(&w, i, 1, item_on(1, 0, it + 1));
    c = await(&w, i, t, 1900 * MS);
    TT_CHECK(c == NULL); /* not before the timeout */
    c = await(&w, i, t, 300 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_UNKNOWN && c->result == TIDAL_ERR_UNAVAILABLE &&
              c->acked == 0, "%s", c ? c->message : "none");
    {
        tidal_peer_status st;
        tidal_peer_status_get(w.nd[i].peer, &st);
        TT_CHECK(st.timeouts == 1 && st.calls_pending == 0);
    }
    tidal_sim_net_heal(w.net, cut);
    a[0] = ref(l);
    b[0] = ref(i);
    cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, 1, 0);
    for (k = 0; k < 3; k++) {
        t = write_on(&w, i, 1, item_on(1, 0, it + 2 + (tidal_id)k));
        c = await(&w, i, t, 3000 * MS);
        TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK && c->executed_by.region == ref(l).region,
                  "call %d: %s", k, c ? c->message : "none");
    }
out:
    world_free(&w);
}

/* The group's leader crashes (kill -9) right after a member of its shard forwarded a write
   to it: the call ends as UNKNOWN as soon as that member hears of the new leader (a newer
   epoch), naming it, well before the forward timeout (2 s), so the client's retry goes to
   the new leader at once; the retry with the same key is acknowledged there. On the base
   the call waited out the whole timeout. Simulated time only. */
/* A forwarded call whose leader is killed ends UNKNOWN, naming the new leader, as soon as
   the origin sees the newer epoch: through its own member of the shard (far 0), or, on a
   node that runs no member of that shard, through the heartbeats of the shard's members
   (far 1), instead of waiting out the 2 s forward timeout; the keyed retry applies once. */
static void forward_leader_killed(int far) {
    world w;
    int l, i, l2;
    tidal_id it = item_on(1, 0, 700);
    const tidal_peer_completion *c;
    tidal_signal s;
    int64_t t_kill;
    uint64_t t;
    setup(&w);
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    /* a follower member of the same shard, or a node of shard 1 in another region */
    i = ix((ref(l).region + 1) % REGIONS, far ? 1 : 0);
    w.nd[l].up = 0;                            /* kill -9: nothing it holds answers */
    tidal_sim_net_set_down(w.net, ref(l), 1);
    t_kill = w.now;
    memset(&s, 0, sizeof s);
    s.tenant = 1, s.item = it, s.weight = 1, s.time_ns = T0;
    s.idem.key = far ? "k-forwarf" : "k-forward", s.idem.key_len = 9, s.idem.seq = 1;
    TT_EQ_INT(tidal_peer_signal_write(w.nd[i].peer, &s, TIDAL_ACK_QUORUM, &t), TIDAL_OK);
    c = await(&w, i, t, 1900 * MS);
    TT_CHECKF(c != NULL, "no completion 1.9 s after the kill (the forward timeout is 2 s)");
    if (!c) goto out;
    l2 = group_leader(&w, 0, 0);
    TT_CHECKF(l2 >= 0 && l2 != l, "leader %d after the kill of %d", l2, l);
    TT_CHECKF(c->outcome == TIDAL_PEER_DONE_UNKNOWN && c->result == TIDAL_ERR_UNAVAILABLE &&
                  c->acked == 0 && strstr(c->message, "the leader is now") &&
                  c->has_redirect && l2 >= 0 && c->redirect.region == ref(l2).region,
              "%u %s %s", c->outcome, tidal_strerror(c->result), c->message);
    printf("    leader %d killed: the forwarded call ended after %lld ms: %s\n", l,
           (long long)((w.now - t_kill) / MS), c->message);
    TT_EQ_INT(tidal_peer_signal_write(w.nd[i].peer, &s, TIDAL_ACK_QUORUM, &t), TIDAL_OK);
    c = await(&w, i, t, 1000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK && c->acked == TIDAL_ACK_QUORUM,
              "the retry: %s", c ? c->message : "no completion");
    TT_EQ_INT((int)views(&w, far ? l2 : i, 0, 1, it), 1); /* far: node i holds no shard 0 */
out:
    world_free(&w);
}

static void t_forward_leader_killed(void) { forward_leader_killed(0); }
static void t_forward_leader_killed_far(void) { forward_leader_killed(1); }

/* Loss, duplication, reordering and corruption on every link: every call completes exactly
   once; an OK write is applied exactly once, a FAILED one never, an UNKNOWN one at most
   once (a call duplicated by the network runs once). */
static void t_faulty_network(void) {
    world w;
    enum { CALLS = 40 };
    uint64_t ticket[CALLS];
    int node[CALLS], seen[CALLS], k, j, r, ok = 0;
    tidal_id item[CALLS];
    setup(&w);
    tidal_sim_net_set_faults(w.net, 50000, 100000, 100000);
    tidal_sim_net_set_corrupt(w.net, 20000);
    w.faulty = 1;
    for (k = 0; k < CALLS; k++) {
        node[k] = (int)tt_below(N);
        item[k] = 5000 + (tidal_id)k;
        ticket[k] = write_on(&w, node[k], 1, item[k]);
        seen[k] = 0;
        run(&w, (int64_t)tt_below(40) * MS);
    }
    run(&w, 6000 * MS);
    tidal_sim_net_set_faults(w.net, 0, 0, 0);
    tidal_sim_net_set_corrupt(w.net, 0);
    run(&w, 3000 * MS); /* the groups converge */
    for (j = 0; j < w.n_got; j++)
        for (k = 0; k < CALLS; k++)
            if (w.got[j].node == node[k] && w.got[j].c.ticket == ticket[k]) seen[k]++;
    for (k = 0; k < CALLS; k++) {
        const tidal_peer_completion *c = NULL;
        uint32_t shard = tidal_route(1, item[k], SHARDS);
        uint64_t most = 0, least = UINT64_MAX;
        TT_CHECKF(seen[k] == 1, "call %d completed %d times", k, seen[k]);
        for (j = 0; j < w.n_got; j++)
            if (w.got[j].node == node[k] && w.got[j].c.ticket == ticket[k]) c = &w.got[j].c;
        for (r = 0; r < REGIONS; r++) {
            uint64_t v = views(&w, ix(r, (int)shard), 0, 1, item[k]);
            if (v > most) most = v;
            if (v < least) least = v;
        }
        TT_CHECKF(most <= 1, "call %d applied %llu times", k, (unsigned long long)most);
        if (!c) continue;
        if (c->outcome == TIDAL_PEER_DONE_OK) {
            ok++;
            TT_CHECKF(least == 1, "OK call %d missing on a replica", k);
        }
        if (c->outcome == TIDAL_PEER_DONE_FAILED)
            TT_CHECKF(most == 0, "FAILED call %d applied (%s)", k, c->message);
    }
    TT_CHECKF(ok >= CALLS / 2, "only %d of %d calls OK", ok, CALLS);
    world_free(&w);
}

/* A TOPOLOGY record that disagrees with a node's config: every node flags it and refuses
   client calls (STALE_CONFIG through the completion) instead of routing by a wrong map. */
static void t_topology_mismatch(void) {
    world w;
    int i;
    tidal_control_record r = rec_topology();
    const tidal_peer_completion *c;
    uint64_t t = 0;
    setup(&w);
    r.shards = SHARDS + 1;
    TT_EQ_INT(tidal_peer_propose(w.nd[ix(1, 1)].peer, &r, &t), TIDAL_OK);
    run(&w, 1000 * MS); /* ticks report STALE_CONFIG once: tolerated by run() below */
    for (i = 0; i < N; i++) {
        tidal_peer_status st;
        tidal_peer_status_get(w.nd[i].peer, &st);
        TT_CHECK(st.topology_mismatch && st.shards == SHARDS + 1);
    }
    t = write_on(&w, ix(0, 0), 1, 77);
    c = await(&w, ix(0, 0), t, 10 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_FAILED && c->result == TIDAL_ERR_STALE_CONFIG);
    world_free(&w);
}

/* ---- Malformed peer messages ---- */

static void put32(uint8_t *b, tidal_node_ref r) {
    uint32_t v = (uint32_t)r.region << 16 | r.shard;
    b[0] = (uint8_t)v, b[1] = (uint8_t)(v >> 8), b[2] = (uint8_t)(v >> 16), b[3] = (uint8_t)(v >> 24);
}

/* A relay that takes the origin for the leader passes the origin's own call back to it.
   The call still completes exactly once: the copy that comes back finds the call already
   answered and is dropped (it neither runs again nor hands out a second completion). The
   fuzzer found the second completion (fuzz/corpus/peer/crash-own-call-passed-back). */
static void t_own_call_passed_back(void) {
    world w;
    int l, i, via, k, n = 0;
    uint8_t b[4096];
    const tidal_peer_completion *c;
    tidal_peer_status s0, s1;
    uint64_t t;
    setup(&w);
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    i = ix((ref(l).region + 1) % REGIONS, 1);
    w.keep_type = TIDAL_PEER_MSG_FORWARD;
    t = write_on(&w, i, 1, item_on(1, 0, 4321));
    c = await(&w, i, t, 3000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK && w.kept_len > 120 &&
             w.kept_from.region == ref(i).region && w.kept_from.shard == ref(i).shard);
    if (!w.kept_len || !TT_OK()) goto out;
    via = ix(w.kept_to.region, w.kept_to.shard);
    memcpy(b, w.kept, w.kept_len);
    put32(b + 12, ref(via)); /* from the node it was passed to ... */
    put32(b + 16, ref(i));   /* ... back to its origin, passed on once */
    b[24] = 1, b[25] = b[26] = b[27] = 0;
    reseal(b, w.kept_len);
    tidal_peer_status_get(w.nd[i].peer, &s0);
    TT_EQ_INT(tidal_peer_receive(w.nd[i].peer, ref(via), b, w.kept_len), TIDAL_OK);
    run(&w, 3000 * MS); /* past the forward timeout */
    for (k = 0; k < w.n_got; k++) n += w.got[k].node == i && w.got[k].c.ticket == t;
    TT_EQ_INT(n, 1);
    tidal_peer_status_get(w.nd[i].peer, &s1);
    TT_CHECK(s1.calls_pending == 0 && s1.forwarded == s0.forwarded && s1.executed == s0.executed);
out:
    world_free(&w);
}

static void t_malformed_refused(void) {
    world w;
    int l, i;
    uint8_t b[4096];
    size_t len, k;
    tidal_peer_message m;
    char why[200];
    const tidal_peer_completion *c;
    uint64_t t;
    setup(&w);
    l = group_leader(&w, 0, 0);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    i = ix((ref(l).region + 1) % REGIONS, 1);
    w.keep_type = TIDAL_PEER_MSG_FORWARD;
    t = write_on(&w, i, 1, item_on(1, 0, 1234));
    c = await(&w, i, t, 3000 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK && w.kept_len > 120);
    if (!w.kept_len) goto out;
    len = w.kept_len;
    TT_EQ_INT(tidal_peer_message_decode(w.kept, len, &m, why, sizeof why), TIDAL_OK);
    TT_CHECK(m.type == TIDAL_PEER_MSG_FORWARD && m.op == TIDAL_PEER_OP_SIGNAL && m.tenant == 1);
    /* Truncated: at every length below the whole. */
    for (k = 0; k < len; k += k < 130 ? 1 : 7) {
        TT_CHECK(tidal_peer_message_decode(w.kept, k, &m, why, sizeof why) == TIDAL_ERR_CORRUPT);
        if (k == 0 || k == 119 || k == 121 || k == len - 1)
            expect_refused(&w, w.kept, k, "truncated");
    }
    /* A flipped bit anywhere: the checksum (or the envelope) refuses it. */
    for (k = 0; k < len * 8; k += 13) {
        memcpy(b, w.kept, len);
        b[k / 8] ^= (uint8_t)(1u << (k % 8));
        TT_CHECK(tidal_peer_message_decode(b, len, &m, why, sizeof why) == TIDAL_ERR_CORRUPT);
        if (k % 104 == 0) expect_refused(&w, b, len, "flipped bit");
    }
    /* Resealed with a bad type, a bad op, an unknown level, trailing bytes, hops over the
       limit: the decoder names each. */
    {
        const peer_bad_byte bad[] = {
            {8, 99, "unknown message type"}, {120, 99, "unknown op"}, {121, 7, "level"},
            {123, 0xF0, "flag"}, {24, 3, "hops"}, {40, 1, "reserved header byte"},
        };
        expect_bad_bytes(&w, bad, sizeof bad / sizeof bad[0]);
    }
    /* The wrong group: another group id (resealed: a db message for a group it runs no
       member of) and the control group (the control member refuses it). */
    memcpy(b, w.kept, len);
    b[10] = 0x07, b[11] = 0;
    reseal(b, len);
    expect_refused(&w, b, len, "group 7");
    memcpy(b, w.kept, len);
    b[10] = 0xFF, b[11] = 0xFF;
    reseal(b, len);
    TT_EQ_INT(tidal_peer_receive(w.nd[ix(w.kept_to.region, w.kept_to.shard)].peer, w.kept_from, b,
                                 len), TIDAL_ERR_CORRUPT);
    /* Intact, but addressed to another node, or delivered from someone else. */
    memcpy(b, w.kept, len);
    b[16] ^= 1;
    reseal(b, len);
    expect_refused(&w, b, len, "addressed elsewhere");
    {
        tidal_node_ref from = w.kept_from;
        memcpy(b, w.kept, len);
        w.kept_from.region = (uint16_t)((w.kept_from.region + 1) % REGIONS);
        expect_refused(&w, b, len, "wrong sender");
        w.kept_from = from;
    }
    /* The intact message again (the network duplicated it): taken, but the call runs once. */
    {
        int to = ix(w.kept_to.region, w.kept_to.shard);
        snap s0, s1;
        take(&w, to, &s0);
        TT_EQ_INT(tidal_peer_receive(w.nd[to].peer, w.kept_from, w.kept, len), TIDAL_OK);
        take(&w, to, &s1);
        TT_CHECK(s1.st.duplicates == s0.st.duplicates + 1 && s1.st.executed == s0.st.executed);
        TT_CHECK(!memcmp(s0.digest, s1.digest, 32) && s1.sent == s0.sent);
    }
out:
    world_free(&w);
}

/* The config is checked, field by field. */
static void t_config_refused(void) {
    world w;
    tidal_peer_config cfg;
    tidal_peer *p = NULL;
    char msg[200];
    tidal_peer_group g[2] = {{0, 0}, {0, 1}};
    memset(&w, 0, sizeof w);
    w.nd[0].disk = tidal_sim_disk_new(1);
    tidal_sim_env_init(&w.nd[0].env, w.nd[0].disk, T0, 1);
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &w.nd[0].env.env;
    cfg.path = "node";
    cfg.regions = 2;
    cfg.shards = 2;
    cfg.groups = g;
    cfg.group_count = 2;
    TT_EQ_INT(tidal_peer_open(&cfg, &p, msg, sizeof msg), TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "duplicate id") != NULL, "%s", msg);
    cfg.group_count = 1;
    cfg.self.region = 2;
    TT_EQ_INT(tidal_peer_open(&cfg, &p, msg, sizeof msg), TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "self") != NULL, "%s", msg);
    cfg.self.region = 0;
    g[0].placement = 4;
    TT_EQ_INT(tidal_peer_open(&cfg, &p, msg, sizeof msg), TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "placement") != NULL, "%s", msg);
    TT_CHECK(p == NULL);
    tidal_sim_disk_free(w.nd[0].disk);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_config_refused),
    TT_CASE(t_records_applied),
    TT_CASE(t_forwarded_write),
    TT_CASE(t_sealed_refused),
    TT_CASE(t_restart_enforces_sealed),
    TT_CASE(t_stray_member_sealed),
    TT_CASE(t_partitioned_leader_unknown),
    TT_CASE(t_forward_leader_killed),
    TT_CASE(t_forward_leader_killed_far),
    TT_CASE(t_malformed_refused),
    TT_CASE(t_faulty_network),
    TT_CASE(t_topology_mismatch),
    TT_CASE(t_own_call_passed_back),
    TT_CASE(t_step_down),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
