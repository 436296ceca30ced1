/* test_membership.c - replica-group membership (issue 13, DESIGN 5.10; rules M1-M5 in
   tidal.h >>repl_epoch): a 3-region x 2-shard cluster of tidal_peers over the simulated
   network and disks (tests/peer_world.h). Group 0 shard 1 (nodes (0,1), (1,1), (2,1)) loses
   node (2,1) for good: QUORUM writes go on, but log retirement (files on the survivors
   grow) and a tenant move into group 0 are held back, until the lost member is removed;
   then the files shrink back and the move completes. A fresh node takes its place as a
   learner (its ack is not counted, its vote not given), is promoted, and counts toward
   QUORUM. A removed member that comes back with its old disk is fenced. The MEMBERS
   record's codec, the calls' refusals, and property histories of removals, additions,
   replacements, leadership transfers, moves, keyed writes, crashes and partitions (at most
   one leader per epoch; every acknowledged write on every current member at the end; no
   keyed write applied twice). The forced loss-of-quorum recoveries (rules M6 and C9): a
   replica group that lost two of three members, and a control plane that lost two of
   three voters. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "tidal_test.h"

#include "peer_world.h"

#define LOST 5 /* ix(2, 1) */
#define SEG_BYTES 8192u
#define SNAP_LOG_BYTES 32768u

/* Node i opened with small log segments and frequent snapshots (retirement shows). */
/* Small segments and snapshots, so retirement shows in the files. */
static void mb_tune(tidal_peer_config *cfg) {
    cfg->member.segment_bytes_max = SEG_BYTES;
    cfg->member.snapshot_log_bytes = SNAP_LOG_BYTES;
}

static void mb_open(world *w, int i, int bootstrap) {
    peer_config_tune = mb_tune;
    peer_open(w, i, bootstrap);
}

static void mb_down(world *w, int i) {
    tidal_peer_close(w->nd[i].peer);
    w->nd[i].peer = NULL;
    w->nd[i].up = 0;
    tidal_sim_net_set_down(w->net, ref(i), 1);
}

/* setup() of peer_world.h with mb_tune's members, every record through node (0, 0). */
static void mb_setup(world *w, uint64_t seed) {
    int via[5], k;
    for (k = 0; k < 5; k++) via[k] = ix(0, 0);
    peer_config_tune = mb_tune;
    world_init(w, seed);
    run(w, 2000 * MS);
    setup_records(w, via);
}

/* Bytes of the log files (*.log) of node i's member of group 0. */
static uint64_t dir_bytes(world *w, int i) {
    static char names[256][128];
    uint32_t n, k;
    uint64_t total = 0;
    n = tidal_sim_disk_list(w->nd[i].disk, "node/g0", names, 256);
    TT_CHECK(n > 0 && n <= 256);
    for (k = 0; k < n && k < 256; k++) {
        char path[200];
        uint8_t *data = NULL;
        size_t len = 0;
        size_t nl = strlen(names[k]);
        if (nl < 4 || strcmp(names[k] + nl - 4, ".log")) continue;
        snprintf(path, sizeof path, "node/g0/%.127s", names[k]);
        if (tidal_sim_disk_read(w->nd[i].disk, path, &data, &len) == TIDAL_OK) total += len;
        free(data);
    }
    return total;
}

static tidal_node_status member_status(world *w, int i, uint32_t group) {
    tidal_node_status st;
    memset(&st, 0, sizeof st);
    if (w->nd[i].up)
        TT_EQ_INT(tidal_node_status_get(tidal_peer_member(w->nd[i].peer, group), &st), TIDAL_OK);
    return st;
}

/* n QUORUM writes of tenant 1 on shard 1 through node i, run until each completed; the
   number that completed OK. */
static int burst(world *w, int i, int n, tidal_id *next_item) {
    uint64_t t[64];
    int k, ok = 0, done = 0;
    int64_t end = w->now + 5000 * MS;
    TT_CHECK(n <= 64);
    w->n_got = 0;
    for (k = 0; k < n; k++) {
        *next_item = item_on(1, 1, *next_item + 1);
        t[k] = write_on(w, i, 1, *next_item);
    }
    while (done < n && w->now < end && TT_OK()) {
        int g;
        run(w, 20 * MS);
        for (g = 0; g < w->n_got; g++)
            for (k = 0; k < n; k++)
                if (w->got[g].node == i && w->got[g].c.ticket == t[k]) {
                    done++;
                    ok += w->got[g].c.outcome == TIDAL_PEER_DONE_OK;
                }
        w->n_got = 0;
    }
    return ok;
}

/* A membership change on the leader of group 0 shard 1, retried while the previous one is
   not settled (rule M3: TIDAL_ERR_UNAVAILABLE) or a leader is being elected. */
static void change(world *w, int add, uint32_t region) {
    int tries;
    for (tries = 0; tries < 200 && TT_OK(); tries++) {
        int l = group_leader(w, 0, 1);
        uint64_t t = 0;
        tidal_result r;
        if (l < 0) {
            run(w, 50 * MS);
            continue;
        }
        r = add ? tidal_peer_member_add(w->nd[l].peer, 0, region, &t)
                : tidal_peer_member_remove(w->nd[l].peer, 0, region, &t);
        if (r == TIDAL_OK) {
            const tidal_peer_completion *c = await(w, l, t, 3000 * MS);
            uint64_t index = c ? c->index : 0;
            int k, i, behind = 1;
            TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "%s: %s", add ? "member add" :
                      "member remove", c ? c->message : "no completion");
            w->n_got = 0;
            /* committed: every node up applies it once it hears the commit */
            for (k = 0; k < 200 && behind && TT_OK(); k++) {
                behind = 0;
                for (i = 0; i < N; i++) {
                    tidal_peer_membership ms;
                    if (!w->nd[i].up) continue;
                    TT_EQ_INT(tidal_peer_membership_get(w->nd[i].peer, 0, 1, &ms), TIDAL_OK);
                    behind |= ms.index < index;
                }
                if (behind) run(w, 5 * MS);
            }
            TT_CHECKF(!behind, "membership record %llu not applied everywhere",
                      (unsigned long long)index);
            w->n_got = 0;
            return;
        }
        TT_CHECKF(r == TIDAL_ERR_UNAVAILABLE || r == TIDAL_ERR_LIMIT || r == TIDAL_ERR_READ_ONLY,
                  "member change: %s %s", tidal_strerror(r), tidal_peer_errmsg(w->nd[l].peer));
        run(w, 50 * MS);
    }
    TT_CHECK(!"the membership change was never taken");
}

static int move_done_everywhere(world *w, uint32_t tenant) {
    int i;
    for (i = 0; i < N; i++) {
        tidal_peer_tenant t;
        if (!w->nd[i].up) continue;
        if (tidal_peer_tenant_get(w->nd[i].peer, tenant, &t) != TIDAL_OK ||
            t.move_phase != TIDAL_CONTROL_PHASE_DONE)
            return 0;
    }
    return 1;
}

/* The first scenario. */
static void t_lost_member_replaced(void) {
    world w;
    tidal_id item = 1000;
    uint64_t before0, before1, peak0, peak1, t = 0;
    int k, l, ok, other;
    tidal_peer_membership ms;
    tidal_node_status st;
    uint32_t cut;
    tidal_sim_net_stats ns;
    mb_setup(&w, tt_seed());
    TT_CHECK(burst(&w, ix(0, 1), 20, &item) == 20);
    /* (2, 1)'s disk is destroyed; the node never returns */
    mb_down(&w, LOST);
    tidal_sim_disk_wipe(w.nd[LOST].disk);
    before0 = dir_bytes(&w, ix(0, 1));
    before1 = dir_bytes(&w, ix(1, 1));
    /* QUORUM writes continue; retirement is held back: the survivors' files grow */
    for (k = 0; k < 30 && TT_OK(); k++) {
        l = group_leader(&w, 0, 1);
        TT_CHECK(l >= 0);
        if (l < 0) break;
        ok = burst(&w, l, 40, &item);
        TT_CHECKF(ok == 40, "QUORUM writes with one member lost: %d of 40 ok", ok);
    }
    peak0 = dir_bytes(&w, ix(0, 1));
    peak1 = dir_bytes(&w, ix(1, 1));
    printf("    group 0 shard 1 log files: %llu -> %llu and %llu -> %llu bytes with (2,1) lost\n",
           (unsigned long long)before0, (unsigned long long)peak0, (unsigned long long)before1,
           (unsigned long long)peak1);
    TT_CHECKF(peak0 > before0 + 5 * SNAP_LOG_BYTES && peak1 > before1 + 5 * SNAP_LOG_BYTES,
              "the survivors' files did not grow: %llu %llu", (unsigned long long)peak0,
              (unsigned long long)peak1);
    /* a move into group 0 waits for every member of group 0, the lost one too */
    TT_EQ_INT(tidal_peer_move(w.nd[ix(0, 0)].peer, 2, 0, &t), TIDAL_OK);
    run(&w, 6000 * MS);
    w.n_got = 0;
    TT_CHECK(!move_done_everywhere(&w, 2));
    /* remove it: retirement resumes, the move completes */
    change(&w, 0, 2);
    TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(0, 1)].peer, 0, 1, &ms), TIDAL_OK);
    {
        tidal_peer_health h;
        memset(&h, 0, sizeof h);
        tidal_peer_health_get(w.nd[ix(0, 1)].peer, &h);
        TT_CHECKF(ms.voters == 3u && ms.learners == 0 && ms.index > 0, "voters %x learners %x "
                  "index %llu: %s", ms.voters, ms.learners, (unsigned long long)ms.index,
                  h.control_failed_why);
    }
    TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(0, 0)].peer, 0, 1, &ms), TIDAL_OK);
    TT_CHECK(ms.voters == 3u); /* every node applied it, shard 0's too */
    TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(0, 0)].peer, 0, 0, &ms), TIDAL_OK);
    TT_CHECK(ms.voters == 7u && ms.index == 0); /* group 0 shard 0 keeps its three */
    for (k = 0; k < 400 && !move_done_everywhere(&w, 2) && TT_OK(); k++) {
        l = group_leader(&w, 0, 1);
        if (l >= 0) (void)burst(&w, l, 5, &item);
        else run(&w, 50 * MS);
    }
    if (!move_done_everywhere(&w, 2)) {
        tidal_peer_move_info mi;
        int c = control_leader(&w);
        memset(&mi, 0, sizeof mi);
        if (c >= 0) (void)tidal_peer_move_status(w.nd[c].peer, 2, &mi);
        TT_CHECKF(0, "the move did not complete after the removal: coordinator %d phase %u: %s",
                  c, mi.phase, mi.waiting);
    }
    for (k = 0; k < 10 && TT_OK(); k++) {
        l = group_leader(&w, 0, 1);
        if (l >= 0) TT_CHECK(burst(&w, l, 40, &item) == 40);
        else run(&w, 100 * MS);
    }
    printf("    after the removal: %llu and %llu bytes\n",
           (unsigned long long)dir_bytes(&w, ix(0, 1)),
           (unsigned long long)dir_bytes(&w, ix(1, 1)));
    /* back to what two snapshots' worth of log plus the active segment hold */
    TT_CHECKF(dir_bytes(&w, ix(0, 1)) < 3 * SNAP_LOG_BYTES &&
                  dir_bytes(&w, ix(1, 1)) < 3 * SNAP_LOG_BYTES,
              "retirement did not resume: %llu %llu bytes",
              (unsigned long long)dir_bytes(&w, ix(0, 1)),
              (unsigned long long)dir_bytes(&w, ix(1, 1)));

    /* a fresh node takes (2, 1)'s place and is added: a learner */
    mb_open(&w, LOST, 0);
    change(&w, 1, 2);
    l = group_leader(&w, 0, 1);
    TT_CHECK(l == ix(0, 1) || l == ix(1, 1));
    if (l < 0) goto out;
    other = l == ix(0, 1) ? ix(1, 1) : ix(0, 1);
    {
        tidal_node_ref a[1], b[2];
        a[0] = ref(other), b[0] = ref(l), b[1] = ref(LOST);
        cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, 2, 0);
    }
    /* the learner catches up from the leader alone; its ack does not make a QUORUM */
    for (k = 0; k < 200 && TT_OK(); k++) {
        st = member_status(&w, LOST, 0);
        if (st.learner && !st.lost_disk && st.durable_lsn > 0 &&
            views(&w, LOST, 0, 1, item) == 1)
            break;
        run(&w, 50 * MS);
    }
    st = member_status(&w, LOST, 0);
    TT_CHECKF(st.learner && !st.removed && (st.voters & 4u) == 0,
              "learner %d removed %d voters %x", st.learner, st.removed, st.voters);
    TT_CHECKF(views(&w, LOST, 0, 1, item) == 1, "the learner did not catch up");
    ok = burst(&w, l, 4, &item);
    TT_CHECKF(ok == 0, "a QUORUM write was acknowledged by the leader and a learner (%d)", ok);
    TT_CHECK(views(&w, LOST, 0, 1, item) == 1); /* the learner holds it, but does not count */
    /* nor does it vote: the other voter and the learner alone elect nobody */
    mb_down(&w, l);
    tidal_sim_net_heal(w.net, cut);
    for (k = 0; k < 100 && TT_OK(); k++) {
        st = member_status(&w, LOST, 0);
        TT_CHECK(st.role == TIDAL_ROLE_FOLLOWER);
        TT_CHECKF(group_leader(&w, 0, 1) < 0, "a leader elected with a learner's vote");
        run(&w, 50 * MS);
    }
    /* the leader's node returns: the learner is promoted by a second record */
    mb_open(&w, l, 0);
    for (k = 0; k < 600 && TT_OK(); k++) {
        TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(0, 0)].peer, 0, 1, &ms), TIDAL_OK);
        if (ms.voters == 7u) break;
        run(&w, 50 * MS);
    }
    TT_CHECKF(ms.voters == 7u && ms.learners == 0, "not promoted: voters %x learners %x",
              ms.voters, ms.learners);
    run(&w, 1000 * MS);
    w.n_got = 0;
    st = member_status(&w, LOST, 0);
    TT_CHECK(!st.learner && !st.removed && st.voters == 7u);
    /* QUORUM counts it: one old member cut off, the new one makes the majority */
    l = group_leader(&w, 0, 1);
    TT_CHECK(l >= 0);
    if (l < 0) goto out;
    other = l == ix(0, 1) ? ix(1, 1) : ix(0, 1);
    {
        tidal_node_ref a[1], b[2];
        a[0] = ref(other), b[0] = ref(l), b[1] = ref(LOST);
        cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, 2, 0);
    }
    ok = burst(&w, l, 10, &item);
    TT_CHECKF(ok == 10, "QUORUM with the new member: %d of 10", ok);
    tidal_sim_net_heal(w.net, cut);
    tidal_sim_net_stats_get(w.net, &ns);
out:
    world_free(&w);
}

/* A fresh node in a lost member's place is promoted with no failure to help: it learns
   every voter's epoch while following the leader (rule L2, asked on its own), the leader
   takes a new epoch for it (rule L5), then the promotion record. */
static void t_fresh_member_promoted(void) {
    world w;
    tidal_id item = 7000;
    tidal_peer_membership ms;
    int k, l;
    mb_setup(&w, tt_seed() + 4);
    TT_CHECK(burst(&w, ix(0, 1), 20, &item) == 20);
    mb_down(&w, LOST);
    tidal_sim_disk_wipe(w.nd[LOST].disk);
    change(&w, 0, 2);
    mb_open(&w, LOST, 0);
    change(&w, 1, 2);
    for (k = 0; k < 400 && TT_OK(); k++) {
        TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(1, 0)].peer, 0, 1, &ms), TIDAL_OK);
        if (ms.voters == 7u && !member_status(&w, LOST, 0).learner) break;
        run(&w, 50 * MS);
    }
    TT_CHECKF(ms.voters == 7u && !member_status(&w, LOST, 0).learner, "not promoted in 20 s: "
              "voters %x, lost disk %d", ms.voters, member_status(&w, LOST, 0).lost_disk);
    l = group_leader(&w, 0, 1);
    TT_CHECK(l >= 0 && burst(&w, l, 10, &item) == 10);
    if (views(&w, LOST, 0, 1, item) != 1) run(&w, 500 * MS);
    TT_CHECK(views(&w, LOST, 0, 1, item) == 1); /* it holds what it helped acknowledge */
    world_free(&w);
}

/* A member removed while its node was down comes back with its old disk: fenced. */
static void t_removed_member_fenced(void) {
    world w;
    tidal_id item = 5000;
    int k, l, other, was_leader = 0;
    uint32_t cut;
    tidal_node_status st;
    tidal_signal s;
    tidal_receipt rc;
    mb_setup(&w, tt_seed() + 1);
    TT_CHECK(burst(&w, ix(0, 1), 10, &item) == 10);
    mb_down(&w, LOST); /* its disk stays */
    change(&w, 0, 2);
    l = group_leader(&w, 0, 1);
    TT_CHECK(l >= 0 && burst(&w, l, 10, &item) == 10);
    mb_open(&w, LOST, 0); /* its control log lacks the removal until it catches up */
    for (k = 0; k < 100 && TT_OK(); k++) {
        st = member_status(&w, LOST, 0);
        was_leader |= st.role == TIDAL_ROLE_LEADER;
        l = group_leader(&w, 0, 1);
        TT_CHECK(l != LOST);
        run(&w, 50 * MS);
    }
    TT_CHECK(!was_leader);
    st = member_status(&w, LOST, 0);
    TT_CHECKF(st.removed && !st.learner && (st.voters & 4u) == 0, "removed %d voters %x",
              st.removed, st.voters);
    memset(&s, 0, sizeof s);
    s.tenant = 1, s.item = item_on(1, 1, 9000), s.weight = 1;
    TT_EQ_INT(tidal_signal_write(tidal_peer_member(w.nd[LOST].peer, 0), &s, &rc), TIDAL_ERR_FENCED);
    TT_CHECK(strstr(tidal_errmsg(tidal_peer_member(w.nd[LOST].peer, 0)), "removed") != NULL);
    /* its ack would make a majority of the old three with the leader: it is not counted */
    l = group_leader(&w, 0, 1);
    TT_CHECK(l >= 0);
    if (l >= 0) {
        tidal_node_ref a[1], b[2];
        other = l == ix(0, 1) ? ix(1, 1) : ix(0, 1);
        a[0] = ref(other), b[0] = ref(l), b[1] = ref(LOST);
        cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, 2, 0);
        TT_EQ_INT(burst(&w, l, 4, &item), 0);
        /* nor does it vote: the other voter cut off from the leader, with the removed one */
        mb_down(&w, l);
        tidal_sim_net_heal(w.net, cut);
        for (k = 0; k < 80 && TT_OK(); k++) {
            TT_CHECKF(group_leader(&w, 0, 1) < 0, "a leader elected with a removed vote");
            run(&w, 50 * MS);
        }
        TT_CHECK(member_status(&w, LOST, 0).role != TIDAL_ROLE_LEADER);
    }
    world_free(&w);
}

/* The MEMBERS record's codec and the calls' refusals. */
static void t_membership_refusals(void) {
    world w;
    tidal_control_record r, back;
    uint8_t buf[TIDAL_CONTROL_RECORD_BYTES_MAX];
    size_t n = 0;
    char msg[200];
    uint64_t t = 0;
    int l, f;
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_MEMBERS;
    r.group = 3, r.shard = 1, r.voters = 3, r.learners = 4, r.prev = 17;
    TT_EQ_INT(tidal_control_record_encode(&r, buf, sizeof buf, &n, msg, sizeof msg), TIDAL_OK);
    TT_EQ_INT((int)n, 23);
    TT_EQ_INT(tidal_control_record_decode(buf, n, &back, msg, sizeof msg), TIDAL_OK);
    TT_CHECK(!memcmp(&r, &back, sizeof r));
    TT_EQ_INT(tidal_control_record_decode(buf, n - 1, &back, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "MEMBERS") && strstr(msg, "truncated"), "%s", msg);
    buf[5] = buf[6] = buf[7] = buf[8] = 0; /* voters 0 */
    TT_EQ_INT(tidal_control_record_decode(buf, n, &back, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    TT_CHECKF(strstr(msg, "voters empty") != NULL, "%s", msg);
    back = r, back.learners = 1; /* region 0 both */
    TT_EQ_INT(tidal_control_record_encode(&back, buf, sizeof buf, &n, msg, sizeof msg),
              TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "both voter and learner") != NULL, "%s", msg);
    back = r, back.shard = 70000;
    TT_EQ_INT(tidal_control_record_encode(&back, buf, sizeof buf, &n, msg, sizeof msg),
              TIDAL_ERR_INVALID);
    back = r, back.kind = TIDAL_CONTROL_PLACEMENT, back.voters = 0, back.learners = 0;
    TT_EQ_INT(tidal_control_record_encode(&back, buf, sizeof buf, &n, msg, sizeof msg),
              TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "set on a kind without") != NULL, "%s", msg);
    /* RECOVER (rule M6) and VOTERS (rule C9) */
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_RECOVER;
    r.group = 3, r.shard = 1, r.voters = 1, r.prev = 17, r.epoch = 70000;
    TT_EQ_INT(tidal_control_record_encode(&r, buf, sizeof buf, &n, msg, sizeof msg), TIDAL_OK);
    TT_EQ_INT((int)n, 31);
    TT_EQ_INT(tidal_control_record_decode(buf, n, &back, msg, sizeof msg), TIDAL_OK);
    TT_CHECK(!memcmp(&r, &back, sizeof r));
    TT_EQ_INT(tidal_control_record_decode(buf, n - 8, &back, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    back = r, back.epoch = 0;
    TT_EQ_INT(tidal_control_record_encode(&back, buf, sizeof buf, &n, msg, sizeof msg),
              TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(msg, "epoch 0") != NULL, "%s", msg);
    back = r, back.learners = 2;
    TT_EQ_INT(tidal_control_record_encode(&back, buf, sizeof buf, &n, msg, sizeof msg),
              TIDAL_ERR_INVALID);
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_VOTERS;
    r.voters = 1;
    TT_EQ_INT(tidal_control_record_encode(&r, buf, sizeof buf, &n, msg, sizeof msg), TIDAL_OK);
    TT_EQ_INT((int)n, 5);
    TT_EQ_INT(tidal_control_record_decode(buf, n, &back, msg, sizeof msg), TIDAL_OK);
    TT_CHECK(!memcmp(&r, &back, sizeof r));
    buf[1] = 0; /* voters 0 */
    TT_EQ_INT(tidal_control_record_decode(buf, n, &back, msg, sizeof msg), TIDAL_ERR_CORRUPT);
    back = r, back.group = 2;
    TT_EQ_INT(tidal_control_record_encode(&back, buf, sizeof buf, &n, msg, sizeof msg),
              TIDAL_ERR_INVALID);

    mb_setup(&w, tt_seed() + 2);
    l = group_leader(&w, 0, 1);
    TT_CHECK(l >= 0);
    if (l < 0) {
        world_free(&w);
        return;
    }
    f = l == ix(0, 1) ? ix(1, 1) : ix(0, 1);
    TT_EQ_INT(tidal_peer_member_remove(w.nd[f].peer, 0, 2, &t), TIDAL_ERR_READ_ONLY);
    TT_CHECK(strstr(tidal_peer_errmsg(w.nd[f].peer), "leader is region") != NULL);
    TT_EQ_INT(tidal_peer_member_remove(w.nd[l].peer, 0, (uint32_t)ref(l).region, &t),
              TIDAL_ERR_INVALID);
    TT_CHECK(strstr(tidal_peer_errmsg(w.nd[l].peer), "hand leadership over") != NULL);
    TT_EQ_INT(tidal_peer_member_add(w.nd[l].peer, 0, 2, &t), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_member_remove(w.nd[l].peer, 0, 3, &t), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_peer_member_remove(w.nd[l].peer, 7, 2, &t), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_peer_member_remove(w.nd[l].peer, 0, 2, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_member_remove(NULL, 0, 2, &t), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_member_remove(w.nd[l].peer, 0, 2, &t), TIDAL_OK);
    TT_EQ_INT(tidal_peer_member_add(w.nd[l].peer, 0, 2, &t), TIDAL_ERR_LIMIT); /* in flight */
    run(&w, 1000 * MS);
    w.n_got = 0;
    /* a record that does not follow the membership in force is refused on every node */
    memset(&r, 0, sizeof r);
    r.kind = TIDAL_CONTROL_MEMBERS;
    r.group = 0, r.shard = 1, r.voters = 7, r.prev = 0;
    propose(&w, ix(0, 0), &r);
    run(&w, 500 * MS);
    {
        tidal_peer_membership ms;
        TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(2, 0)].peer, 0, 1, &ms), TIDAL_OK);
        TT_CHECK(ms.voters == 3u);
        TT_CHECK(member_status(&w, LOST, 0).removed);
    }
    world_free(&w);
}

/* ---- Property: random membership changes with crashes and partitions ----
   Histories of 40 steps on group 0 shard 1, each step one op then 700 ms: remove a member,
   add one (a removed node with its disk, or a replaced one with a fresh directory),
   replace one (remove it, destroy its disk, reopen it empty; a later add brings it back as
   a learner), hand leadership to another member (tidal_replica_transfer), crash a node
   (back 2..4 steps later), cut one node off (healed 1..3 steps later), QUORUM writes
   through the leader, keyed writes retried through another node (the reply "lost").
   Checked at every 5 ms: at most one leader per epoch across every membership change, and
   it is a voter of the membership in force on its node. At the end (healed, every node
   back, re-added, run until the current members agree): every QUORUM-acknowledged write
   is on every current member (no quorum formed by members of two configurations lost it,
   and log retirement dropped nothing a current member lacked: a replaced member catches
   up from a snapshot and what the log kept), and every keyed write is applied at most
   once on every member, exactly once when some call for it completed OK. */

#define PR_EPOCHS 4096
#define PR_ACKED 512
#define PR_KEYS 128

typedef struct prop {
    int lead[PR_EPOCHS];      /* epoch -> leading node + 1 (0: none seen) */
    tidal_id acked[PR_ACKED]; /* items whose QUORUM write completed OK */
    int n_acked;
    uint64_t ticket[16];
    tidal_id item[16];
    int node[16], key[16], n_pending; /* key: its keyed write's index, -1 none */
    int down_until[REGIONS];  /* step at which a crashed node restarts (0: up) */
    int fresh[REGIONS];       /* its disk was destroyed: it comes back empty */
    uint32_t cut;             /* a partition in force (0: none) */
    int cut_until;
    int changes, transfers, replaced, moves; /* proposed (accepted by the leader) */
    tidal_id key_item[PR_KEYS];
    int key_ok[PR_KEYS], n_keys;
} prop;

/* Every node of shard 1 up: one leader per epoch, and it is a voter of its membership. */
static void prop_check(world *w, prop *pr) {
    int r;
    for (r = 0; r < REGIONS; r++) {
        int i = ix(r, 1);
        tidal_node_status st;
        if (!w->nd[i].up) continue;
        st = member_status(w, i, 0);
        if (st.role != TIDAL_ROLE_LEADER) continue;
        TT_CHECKF(!st.removed && ((st.voters >> r) & 1u), "node %d leads epoch %llu but is no "
                  "voter (voters %x)", i, (unsigned long long)st.epoch, st.voters);
        TT_CHECK(st.epoch < PR_EPOCHS);
        if (st.epoch >= PR_EPOCHS) continue;
        TT_CHECKF(!pr->lead[st.epoch] || pr->lead[st.epoch] == i + 1, "epoch %llu led by "
                  "nodes %d and %d", (unsigned long long)st.epoch, pr->lead[st.epoch] - 1, i);
        pr->lead[st.epoch] = i + 1;
    }
}

/* Runs dt in 5 ms steps, checking at each; takes the writes' completions. */
static void prop_run(world *w, prop *pr, int64_t dt) {
    int64_t end = w->now + dt;
    while (w->now < end && TT_OK()) {
        int g, k;
        run(w, 5 * MS);
        prop_check(w, pr);
        for (g = 0; g < w->n_got; g++)
            for (k = 0; k < pr->n_pending; k++)
                if (w->got[g].node == pr->node[k] && w->got[g].c.ticket == pr->ticket[k]) {
                    int ok = w->got[g].c.outcome == TIDAL_PEER_DONE_OK;
                    if (pr->key[k] >= 0) pr->key_ok[pr->key[k]] |= ok;
                    else if (ok && pr->n_acked < PR_ACKED) pr->acked[pr->n_acked++] = pr->item[k];
                    pr->n_pending--;
                    pr->ticket[k] = pr->ticket[pr->n_pending];
                    pr->item[k] = pr->item[pr->n_pending];
                    pr->node[k] = pr->node[pr->n_pending];
                    pr->key[k] = pr->key[pr->n_pending];
                    break;
                }
        w->n_got = 0;
    }
}

/* A keyed QUORUM write of item through node i (key index k, the same content each time). */
static void prop_keyed(world *w, prop *pr, int i, int k) {
    tidal_signal s;
    char key[32];
    uint64_t t = 0;
    if (pr->n_pending >= 16) return;
    snprintf(key, sizeof key, "prop-key-%d", k);
    memset(&s, 0, sizeof s);
    s.tenant = 1, s.item = pr->key_item[k], s.weight = 1;
    s.time_ns = T0 + (int64_t)k * 1000 * MS;
    s.idem.key = key, s.idem.key_len = (uint32_t)strlen(key), s.idem.seq = 1;
    if (tidal_peer_signal_write(w->nd[i].peer, &s, TIDAL_ACK_QUORUM, &t) != TIDAL_OK) return;
    pr->item[pr->n_pending] = s.item;
    pr->node[pr->n_pending] = i;
    pr->key[pr->n_pending] = k;
    pr->ticket[pr->n_pending++] = t;
}

/* One world (seed printed): 40 steps of random actions. */
static void prop_world(uint64_t seed) {
    world w;
    prop *pr = (prop *)calloc(1, sizeof *pr);
    tidal_id item = 20000;
    int stepn, k, l, r, n_ok;
    uint64_t rng = seed;
    uint32_t v = 0, lm = 0;
    TT_CHECK(pr != NULL);
    if (!pr) return;
    printf("    world %llu\n", (unsigned long long)seed);
    mb_setup(&w, seed);
    for (stepn = 1; stepn <= 40 && TT_OK(); stepn++) {
        static const int acts[13] = {0, 0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8};
        int act = acts[tt_next(&rng) % 13];
        for (r = 0; r < REGIONS; r++) /* restarts due */
            if (pr->down_until[r] && stepn >= pr->down_until[r]) {
                mb_open(&w, ix(r, 1), 0);
                pr->down_until[r] = 0;
            }
        if (pr->cut && stepn >= pr->cut_until) tidal_sim_net_heal(w.net, pr->cut), pr->cut = 0;
        l = group_leader(&w, 0, 1);
        r = (int)(tt_next(&rng) % REGIONS);
        if ((act == 0 || act == 6) && l >= 0) { /* remove; replace: remove, then lose the disk */
            uint64_t t = 0;
            int i = ix(r, 1);
            if (tidal_peer_member_remove(w.nd[l].peer, 0, (uint32_t)r, &t) == TIDAL_OK) {
                pr->changes++;
                if (act == 6 && w.nd[i].up && !pr->down_until[r]) {
                    prop_run(&w, pr, 300 * MS); /* the removal commits */
                    mb_down(&w, i);
                    tidal_sim_disk_wipe(w.nd[i].disk);
                    pr->fresh[r] = 1;
                    pr->down_until[r] = stepn + 1;
                    pr->replaced++;
                }
            }
            w.n_got = 0;
        } else if (act == 1 && l >= 0) { /* add (a removed node, or a replaced one) */
            uint64_t t = 0;
            if (tidal_peer_member_add(w.nd[l].peer, 0, (uint32_t)r, &t) == TIDAL_OK)
                pr->changes++;
        } else if (act == 2 && w.nd[ix(r, 1)].up) { /* crash one, back in 2..4 steps */
            int down = 0;
            for (k = 0; k < REGIONS; k++) down += !w.nd[ix(k, 1)].up;
            if (!down) {
                mb_down(&w, ix(r, 1));
                tidal_sim_disk_crash(w.nd[ix(r, 1)].disk);
                tidal_sim_disk_restart(w.nd[ix(r, 1)].disk);
                pr->down_until[r] = stepn + 2 + (int)(tt_next(&rng) % 3);
            }
        } else if (act == 3 && !pr->cut) { /* cut one node of shard 1 from the other two */
            tidal_node_ref a[1], b[2];
            a[0] = ref(ix(r, 1)), b[0] = ref(ix((r + 1) % REGIONS, 1));
            b[1] = ref(ix((r + 2) % REGIONS, 1));
            pr->cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, 2, 0);
            pr->cut_until = stepn + 1 + (int)(tt_next(&rng) % 3);
        } else if (act == 5 && l >= 0 && ix(r, 1) != l) { /* hand leadership over */
            if (tidal_replica_transfer(tidal_peer_member(w.nd[l].peer, 0), ref(ix(r, 1))) ==
                TIDAL_OK)
                pr->transfers++;
        } else if (act == 7 && pr->n_keys < PR_KEYS) { /* a keyed write, retried elsewhere */
            int a = ix(r, 1), b = ix((r + 1 + (int)(tt_next(&rng) % 2)) % REGIONS, 1);
            k = pr->n_keys++;
            item = item_on(1, 1, item + 1);
            pr->key_item[k] = item;
            if (w.nd[a].up) prop_keyed(&w, pr, a, k);
            prop_run(&w, pr, 50 * MS);
            if (w.nd[b].up) prop_keyed(&w, pr, b, k);
        } else if (act == 8) { /* move tenant 2 between groups 3 and 0 (one at a time) */
            tidal_peer_tenant t2;
            uint64_t t = 0;
            if (tidal_peer_tenant_get(w.nd[ix(0, 0)].peer, 2, &t2) == TIDAL_OK &&
                (!t2.move_phase || t2.move_phase == TIDAL_CONTROL_PHASE_DONE) &&
                tidal_peer_move(w.nd[ix(0, 0)].peer, 2, t2.group == 0 ? 3 : 0, &t) == TIDAL_OK)
                pr->moves++;
            w.n_got = 0;
        } else if (l >= 0) { /* writes at QUORUM through the leader */
            for (k = 0; k < 4 && pr->n_pending < 16; k++) {
                item = item_on(1, 1, item + 1);
                pr->item[pr->n_pending] = item;
                pr->node[pr->n_pending] = l;
                pr->key[pr->n_pending] = -1;
                pr->ticket[pr->n_pending++] = write_on(&w, l, 1, item);
            }
        }
        prop_run(&w, pr, 700 * MS);
    }
    /* heal, every node back and a member again; then until the current members agree */
    if (pr->cut) tidal_sim_net_heal(w.net, pr->cut);
    for (r = 0; r < REGIONS; r++)
        if (pr->down_until[r]) mb_open(&w, ix(r, 1), 0);
    prop_run(&w, pr, 2000 * MS);
    for (r = 0; r < REGIONS && TT_OK(); r++) {
        tidal_peer_membership ms;
        TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(0, 0)].peer, 0, 1, &ms), TIDAL_OK);
        if (!(((ms.voters | ms.learners) >> r) & 1u)) change(&w, 1, (uint32_t)r);
    }
    for (k = 0; k < 200 && TT_OK(); k++) { /* every member voting again (promoted) */
        tidal_peer_membership ms;
        TT_EQ_INT(tidal_peer_membership_get(w.nd[ix(0, 0)].peer, 0, 1, &ms), TIDAL_OK);
        v = ms.voters, lm = ms.learners;
        if (v == 7u) break;
        prop_run(&w, pr, 50 * MS);
    }
    TT_CHECKF(v == 7u && !lm, "members not all voters again: voters %x learners %x", v, lm);
    l = group_leader(&w, 0, 1);
    TT_CHECKF(l >= 0, "no leader of group 0 shard 1 after the heal");
    {   /* a last write through the leader: every member then holds the whole log */
        tidal_id last = item_on(1, 1, item + 1);
        int n = 0;
        if (l >= 0) {
            pr->item[0] = last, pr->node[0] = l, pr->key[0] = -1;
            pr->ticket[0] = write_on(&w, l, 1, last);
            pr->n_pending = 1;
        }
        for (k = 0; k < 400 && TT_OK(); k++) {
            for (n = 0, r = 0; r < REGIONS; r++) n += views(&w, ix(r, 1), 0, 1, last) == 1;
            if (n == REGIONS && !pr->n_pending) break;
            prop_run(&w, pr, 50 * MS);
        }
        TT_CHECKF(n == REGIONS, "the last write reached %d of %d members", n, REGIONS);
    }
    for (k = 0; k < 400 && !move_done_everywhere(&w, 2) && TT_OK(); k++) {
        tidal_peer_tenant t2;
        if (tidal_peer_tenant_get(w.nd[ix(0, 0)].peer, 2, &t2) == TIDAL_OK && !t2.move_phase)
            break; /* never moved */
        prop_run(&w, pr, 50 * MS);
    }
    {
        tidal_peer_tenant t2;
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[ix(0, 0)].peer, 2, &t2), TIDAL_OK);
        TT_CHECKF(!t2.move_phase || move_done_everywhere(&w, 2), "tenant 2's move stuck at "
                  "phase %u", t2.move_phase);
    }
    for (n_ok = 0, k = 0; k < pr->n_keys; k++) n_ok += pr->key_ok[k];
    printf("    %d membership changes, %d replaced, %d transfers, %d moves proposed; %d writes "
           "and %d of %d keyed writes acknowledged\n", pr->changes, pr->replaced,
           pr->transfers, pr->moves, pr->n_acked, n_ok, pr->n_keys);
    TT_CHECK(pr->n_acked > 0);
    for (r = 0; r < REGIONS && TT_OK(); r++) {
        int i = ix(r, 1);
        for (k = 0; k < pr->n_acked && TT_OK(); k++)
            TT_CHECKF(views(&w, i, 0, 1, pr->acked[k]) == 1, "acknowledged write %d (item "
                      "%llu) on member %d: %llu views", k, (unsigned long long)pr->acked[k], i,
                      (unsigned long long)views(&w, i, 0, 1, pr->acked[k]));
        for (k = 0; k < pr->n_keys && TT_OK(); k++) {
            uint64_t n = views(&w, i, 0, 1, pr->key_item[k]);
            TT_CHECKF(n <= 1 && (n == 1 || !pr->key_ok[k]), "keyed write %d (item %llu, "
                      "acknowledged %d) applied %llu times on member %d", k,
                      (unsigned long long)pr->key_item[k], pr->key_ok[k], (unsigned long long)n,
                      i);
        }
    }
    world_free(&w);
    free(pr);
}

/* Fixed worlds, so every run is the same: the regression worlds first, then worlds 1..12.
   Worlds 3..119 each lost an acknowledged write on a member re-added with its old disk
   before the leader stopped sending a learner only the tail of its log (tidal.h
   >>repl_ship, tidal__ship_to). Worlds 38, 136, 254, 259, 295 and 352 lost one on the
   member re-added at the end before rule X5 (>>repl_xfer): a leader whose own state came
   from a state transfer shipped it only the log written since. World 315 ended with a
   learner never promoted: it refused the leader's state until it had pushed its own log,
   the leader answered each of its acks with a heartbeat, and that ping-pong flooded the
   link and lost the acks of its push (tidal.h >>repl_ship, tidal__ship_to). World 1484
   lost a write while X5's mark lived in memory only: the leader restarted between its
   transfer and shipping to a member re-added after a wipe (the mark is in the epoch
   record now). */
static void t_membership_random(void) {
    static const uint64_t regress[] = {38,  136, 254, 259, 295, 352, 315, 1484, 3,   5,
                                       6,   8,   17,  20,  32,  37,  50,  91,   97,  98,
                                       102, 106, 108, 113, 114, 119};
    uint64_t k;
    for (k = 0; k < sizeof regress / sizeof regress[0] && TT_OK(); k++) prop_world(regress[k]);
    for (k = 1; k <= 12 && TT_OK(); k++) prop_world(k);
}

/* ---- Forced loss-of-quorum recovery (rule M6) ---- */

static uint64_t membership_index(world *w, int i) {
    tidal_peer_membership ms;
    TT_EQ_INT(tidal_peer_membership_get(w->nd[i].peer, 0, 1, &ms), TIDAL_OK);
    return ms.index;
}

/* Group 0 shard 1 loses two of its three members for good: (1, 1)'s disk is destroyed,
   (2, 1) is gone (its disk kept, it comes back later). QUORUM writes fail; the calls that
   would be unsafe or wrong are refused and change nothing; the forced recovery on (0, 1)
   makes it the group: it leads, QUORUM writes succeed, health says what may be lost; the
   old member that comes back with its old disk is fenced, and its writes are never
   acknowledged, even with the other dropped member back beside it. */
static void t_forced_recovery(void) {
    world w;
    tidal_id item = 11000, first;
    const int S = ix(0, 1), WIPED = ix(1, 1), OLD = LOST;
    uint64_t t = 0, idx0, c_index;
    int k, ok, l, led_old = 0;
    const tidal_peer_completion *c;
    tidal_peer_health h;
    tidal_node_status st;
    tidal_signal sg;
    tidal_receipt rc;
    char text[4096];
    mb_setup(&w, tt_seed() + 9);
    TT_CHECK(burst(&w, S, 20, &item) == 20);
    first = item;
    /* a healthy group: refused, nothing proposed */
    idx0 = membership_index(&w, S);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 0, 0, &t), TIDAL_ERR_INVALID);
    TT_CHECKF(strstr(tidal_peer_errmsg(w.nd[S].peer), "quorum") ||
              strstr(tidal_peer_errmsg(w.nd[S].peer), "has a leader"), "%s",
              tidal_peer_errmsg(w.nd[S].peer));
    TT_EQ_INT(tidal_peer_force_recover(w.nd[ix(1, 1)].peer, 0, 0, &t), TIDAL_ERR_INVALID);
    mb_down(&w, WIPED);
    tidal_sim_disk_wipe(w.nd[WIPED].disk);
    mb_down(&w, OLD);
    run(&w, 1500 * MS);
    ok = burst(&w, S, 4, &item);
    TT_CHECKF(ok == 0, "QUORUM writes with two of three members lost: %d of 4 ok", ok);
    /* bad calls: unknown group, a group this node runs no member of, a survivor that is
       not a voter, survivors that are a majority, NULL arguments */
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 7, 0, &t), TIDAL_ERR_NOT_FOUND);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[ix(0, 0)].peer, TIDAL_CONTROL_GROUP, 0, &t),
              TIDAL_ERR_INVALID); /* the control plane is healthy */
    TT_EQ_INT(tidal_peer_force_recover(w.nd[ix(2, 0)].peer, 3, 0, &t), TIDAL_ERR_NOT_FOUND);
    TT_CHECK(strstr(tidal_peer_errmsg(w.nd[ix(2, 0)].peer), "runs no member") != NULL);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 0, 1u | 8u, &t), TIDAL_ERR_NOT_FOUND);
    TT_CHECK(strstr(tidal_peer_errmsg(w.nd[S].peer), "not voters") != NULL);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 0, 3u, &t), TIDAL_ERR_INVALID);
    TT_CHECK(strstr(tidal_peer_errmsg(w.nd[S].peer), "majority") != NULL);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 0, 2u, &t), TIDAL_ERR_INVALID);
    TT_CHECK(strstr(tidal_peer_errmsg(w.nd[S].peer), "leave out") != NULL);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 0, 0, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_force_recover(NULL, 0, 0, &t), TIDAL_ERR_INVALID);
    run(&w, 500 * MS);
    TT_CHECK(membership_index(&w, S) == idx0); /* nothing changed */
    memset(&h, 0, sizeof h);
    TT_EQ_INT(tidal_peer_health_get(w.nd[S].peer, &h), TIDAL_OK);
    TT_CHECK(h.recoveries_forced == 0 && h.recovered_note[0] == 0);
    /* the forced recovery */
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 0, 0, &t), TIDAL_OK);
    c = await(&w, S, t, 3000 * MS);
    TT_CHECKF(c && c->outcome == TIDAL_PEER_DONE_OK, "force recover: %s",
              c ? c->message : "no completion");
    c_index = c ? c->index : 0;
    w.n_got = 0;
    /* S applies it when it hears the commit (the answer may come first), then leads */
    for (k = 0; k < 200 && TT_OK() && (membership_index(&w, S) != c_index ||
                                       group_leader(&w, 0, 1) != S); k++)
        run(&w, 20 * MS);
    TT_CHECK(group_leader(&w, 0, 1) == S && membership_index(&w, S) == c_index);
    st = member_status(&w, S, 0);
    TT_CHECKF(st.voters == 1u && !st.learners && st.epoch > 65536, "voters %x learners %x "
              "epoch %llu", st.voters, st.learners, (unsigned long long)st.epoch);
    ok = burst(&w, S, 10, &item);
    TT_CHECKF(ok == 10, "QUORUM writes after the forced recovery: %d of 10 ok", ok);
    TT_CHECK(views(&w, S, 0, 1, first) == 1 && views(&w, S, 0, 1, item) == 1);
    memset(&h, 0, sizeof h);
    TT_EQ_INT(tidal_peer_health_get(w.nd[S].peer, &h), TIDAL_OK);
    TT_CHECKF(h.recoveries_forced == 1 && h.recovered_here && h.recovered_group == 0 &&
              h.recovered_shard == 1 && h.recovered_voters == 1u && h.recovered_dropped == 6u &&
              h.recovered_known_lsn >= h.recovered_held_lsn && h.recovered_held_lsn > 0 &&
              strstr(h.recovered_note, "may be lost") != NULL, "forced %llu here %d note %s",
              (unsigned long long)h.recoveries_forced, h.recovered_here, h.recovered_note);
    TT_EQ_INT(tidal_peer_health_text(w.nd[S].peer, text, sizeof text), TIDAL_OK);
    TT_CHECKF(strstr(text, "recovered forced 1: group 0 shard 1") != NULL, "%s", text);
    /* every node applies it once it hears the commit (another node's health names it) */
    for (k = 0; k < 100 && membership_index(&w, ix(2, 0)) != c_index && TT_OK(); k++)
        run(&w, 20 * MS);
    memset(&h, 0, sizeof h);
    TT_EQ_INT(tidal_peer_health_get(w.nd[ix(2, 0)].peer, &h), TIDAL_OK);
    TT_CHECKF(h.recoveries_forced == 1 && !h.recovered_here && h.recovered_dropped == 6u,
              "node (2, 0): forced %llu applied %llu failed %s",
              (unsigned long long)h.recoveries_forced,
              (unsigned long long)h.control_applied_index, h.control_failed_why);
    /* a second one is refused: the group has its leader */
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, 0, 0, &t), TIDAL_ERR_INVALID);
    /* the old member comes back with its old disk, the wiped one with a fresh one */
    mb_open(&w, OLD, 0);
    mb_open(&w, WIPED, 0);
    for (k = 0; k < 100 && TT_OK(); k++) {
        st = member_status(&w, OLD, 0);
        led_old |= st.role == TIDAL_ROLE_LEADER;
        st = member_status(&w, WIPED, 0);
        led_old |= st.role == TIDAL_ROLE_LEADER;
        TT_CHECK(group_leader(&w, 0, 1) == S);
        run(&w, 50 * MS);
    }
    TT_CHECK(!led_old);
    st = member_status(&w, OLD, 0);
    memset(&h, 0, sizeof h);
    TT_EQ_INT(tidal_peer_health_get(w.nd[OLD].peer, &h), TIDAL_OK);
    TT_CHECKF(st.removed && st.voters == 1u, "old member: removed %d voters %x; forced %llu "
              "applied %llu failed %s", st.removed, st.voters,
              (unsigned long long)h.recoveries_forced, (unsigned long long)h.control_applied_index,
              h.control_failed_why);
    TT_CHECK(member_status(&w, WIPED, 0).removed);
    memset(&sg, 0, sizeof sg);
    sg.tenant = 1, sg.item = item_on(1, 1, 19000), sg.weight = 1;
    TT_EQ_INT(tidal_signal_write(tidal_peer_member(w.nd[OLD].peer, 0), &sg, &rc), TIDAL_ERR_FENCED);
    /* QUORUM writes still go to the survivor, and the old ones never hold them */
    l = group_leader(&w, 0, 1);
    TT_CHECK(l == S && burst(&w, S, 5, &item) == 5);
    TT_CHECK(views(&w, S, 0, 1, item) == 1 && views(&w, OLD, 0, 1, item) == 0);
    /* the two dropped members, cut off from the survivor, elect nothing */
    {
        tidal_node_ref a[1], b[2];
        uint32_t cut;
        a[0] = ref(S), b[0] = ref(OLD), b[1] = ref(WIPED);
        cut = tidal_sim_net_partition_nodes(w.net, a, 1, b, 2, 0);
        for (k = 0; k < 60 && TT_OK(); k++) {
            TT_CHECK(member_status(&w, OLD, 0).role != TIDAL_ROLE_LEADER &&
                     member_status(&w, WIPED, 0).role != TIDAL_ROLE_LEADER);
            run(&w, 50 * MS);
        }
        tidal_sim_net_heal(w.net, cut);
    }
    world_free(&w);
}

/* A member removed with its disk kept and re-added later catches up with what the group
   wrote meanwhile (enough that the others retired log it lacks), also when a tenant moved
   into and out of the group while it was out (the collection after each move). The
   property histories found the case this scenario does not reach by itself (the leader
   sent such a member only its log's tail); their regression worlds cover it. */
static void t_readded_member_catches_up(void) {
    world w;
    tidal_id item = 30000, first;
    int k, i, n = 0;
    uint64_t t = 0;
    mb_setup(&w, tt_seed() + 11);
    TT_CHECK(burst(&w, ix(0, 1), 10, &item) == 10);
    change(&w, 0, 2); /* region 2 out; its node stays up */
    TT_CHECK(burst(&w, group_leader(&w, 0, 1), 10, &item) == 10);
    first = item;
    for (k = 0; k < 20 && TT_OK(); k++) /* enough log that the others retire some */
        TT_CHECK(burst(&w, group_leader(&w, 0, 1), 40, &item) == 40);
    for (k = 0; k < 2; k++) {
        tidal_peer_tenant t2;
        TT_EQ_INT(tidal_peer_tenant_get(w.nd[ix(0, 0)].peer, 2, &t2), TIDAL_OK);
        TT_EQ_INT(tidal_peer_move(w.nd[ix(0, 0)].peer, 2, t2.group == 0 ? 3 : 0, &t), TIDAL_OK);
        for (i = 0; i < 400 && TT_OK(); i++) {
            if (tidal_peer_tenant_get(w.nd[ix(0, 0)].peer, 2, &t2) == TIDAL_OK &&
                t2.move_phase == TIDAL_CONTROL_PHASE_DONE && move_done_everywhere(&w, 2))
                break;
            run(&w, 50 * MS);
        }
        TT_CHECKF(move_done_everywhere(&w, 2), "move %d not done", k);
        w.n_got = 0;
        TT_CHECK(burst(&w, group_leader(&w, 0, 1), 20, &item) == 20);
    }
    change(&w, 1, 2);
    for (k = 0; k < 400 && TT_OK(); k++) {
        n = views(&w, LOST, 0, 1, first) + views(&w, LOST, 0, 1, item);
        if (n == 2) break;
        run(&w, 50 * MS);
    }
    TT_CHECKF(n == 2, "the re-added member holds %d of the 2 writes", n);
    world_free(&w);
}

/* The control plane's forced recovery (rule C9 in tidal.h >>control): its voters are
   shard 0 of each region; (1, 0) and (2, 0) are lost for good. No record commits (a
   membership change cannot even be proposed); the voter left, (0, 0), recovers alone:
   it leads, records commit and every node up applies them (a membership change of group
   0 shard 1 included); health names the recovery. A dropped voter that comes back with
   its old disk never leads and its messages are refused; the survivor keeps leading. Bad
   calls (a healthy control plane, a learner, survivors beyond this voter) change nothing. */
static void t_control_forced_recovery(void) {
    world w;
    const int S = ix(0, 0), A = ix(1, 0), B = ix(2, 0);
    uint64_t t = 0, idx;
    int k, led = 0;
    const tidal_peer_completion *c;
    tidal_control_record r;
    tidal_control_status cs;
    tidal_peer_health h;
    mb_setup(&w, tt_seed() + 21);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, TIDAL_CONTROL_GROUP, 0, &t),
              TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[ix(0, 1)].peer, TIDAL_CONTROL_GROUP, 0, &t),
              TIDAL_ERR_INVALID); /* a learner */
    mb_down(&w, A);
    tidal_sim_disk_wipe(w.nd[A].disk);
    mb_down(&w, B);
    run(&w, 1500 * MS);
    memset(&r, 0, sizeof r);
    r = rec_tenant(5, 0, TIDAL_TENANT_ACTIVE);
    TT_EQ_INT(tidal_peer_propose(w.nd[S].peer, &r, &t), TIDAL_OK);
    c = await(&w, S, t, 3000 * MS);
    TT_CHECKF(!c || c->outcome != TIDAL_PEER_DONE_OK, "a record committed without a majority");
    w.n_got = 0;
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, TIDAL_CONTROL_GROUP, 6u, &t),
              TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, TIDAL_CONTROL_GROUP, 0, &t), TIDAL_OK);
    c = await(&w, S, t, 100 * MS);
    TT_CHECK(c && c->outcome == TIDAL_PEER_DONE_OK && c->index > 0);
    idx = c ? c->index : 0;
    w.n_got = 0;
    tidal_control_status_get(tidal_peer_control(w.nd[S].peer), &cs);
    TT_CHECKF(cs.role == TIDAL_ROLE_LEADER && cs.term > 65536 && cs.commit_index >= idx,
              "role %d term %llu commit %llu", cs.role, (unsigned long long)cs.term,
              (unsigned long long)cs.commit_index);
    TT_EQ_INT(tidal_peer_force_recover(w.nd[S].peer, TIDAL_CONTROL_GROUP, 0, &t),
              TIDAL_ERR_INVALID); /* alone already */
    (void)propose(&w, S, &r); /* records commit again */
    change(&w, 0, 2);         /* and a replica group's membership changes */
    memset(&h, 0, sizeof h);
    TT_EQ_INT(tidal_peer_health_get(w.nd[ix(1, 1)].peer, &h), TIDAL_OK);
    TT_CHECKF(h.recoveries_forced >= 1 && h.recovered_index == idx &&
              h.recovered_group == TIDAL_CONTROL_GROUP && strstr(h.recovered_note, "forced"),
              "forced %llu index %llu note %s", (unsigned long long)h.recoveries_forced,
              (unsigned long long)h.recovered_index, h.recovered_note);
    /* a dropped voter comes back with its old disk: it never leads again */
    mb_open(&w, B, 0);
    for (k = 0; k < 100 && TT_OK(); k++) {
        tidal_control_status_get(tidal_peer_control(w.nd[B].peer), &cs);
        led |= cs.role == TIDAL_ROLE_LEADER;
        TT_CHECK(control_leader(&w) == S);
        run(&w, 50 * MS);
    }
    TT_CHECK(!led);
    tidal_control_status_get(tidal_peer_control(w.nd[B].peer), &cs);
    TT_CHECKF(cs.commit_index >= idx, "the dropped voter did not take the log: commit %llu",
              (unsigned long long)cs.commit_index);
    r = rec_tenant(6, 0, TIDAL_TENANT_ACTIVE);
    (void)propose(&w, S, &r);
    world_free(&w);
}

static const tt_case tt_cases[] = {
    TT_CASE(t_membership_random),
    TT_CASE(t_membership_refusals),
    TT_CASE(t_removed_member_fenced),
    TT_CASE(t_fresh_member_promoted),
    TT_CASE(t_lost_member_replaced),
    TT_CASE(t_forced_recovery),
    TT_CASE(t_readded_member_catches_up),
    TT_CASE(t_control_forced_recovery),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
