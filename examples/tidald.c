/* tidald - a tidal node as a process: one tidal_peer (DESIGN 5.9) with a data directory,
   serving clients over RESP (the Redis protocol: redis-cli and every Redis client library
   work) and its metrics over HTTP in the Prometheus text format.

   Usage:  tidald CONFIG_FILE

   On start it prints "tidald: resp 127.0.0.1:PORT" and, with a metrics address,
   "tidald: metrics 127.0.0.1:PORT" (port 0 in the config binds an ephemeral port: these
   lines say which), then "tidald: ready" once every configured tenant is placed and every
   member knows its leader. SIGTERM or SIGINT: it stops accepting, answers what is in
   flight (up to 5 s), closes the peer (releasing the directory lock) and exits 0.

   Config file: one setting per line, words separated by spaces, '#' starts a comment.
     node R S                  this node's region and shard (required)
     topology REGIONS SHARDS   the cluster's shape (required)
     group ID [PLACEMENT]      a replica group: id 0..255, placement a bit mask of
                               regions (decimal; 0 or absent = every region). 1..16 lines
     data DIR                  the data directory (required; created if missing)
     resp HOST:PORT            the RESP listener (IPv4; default 127.0.0.1:6380)
     metrics HOST:PORT         the HTTP listener serving GET /metrics (optional)
     token TOKEN TENANT|admin  a client token and the tenant it binds (AUTH TOKEN); admin
                               binds no tenant and may MOVE. 1..64 printable bytes
     tenant ID GROUP [rate R] [burst B] [quota Q]
                               a tenant (1..2^32-1), its owning group and limits (rate:
                               signal writes per second, 0 = none)
     signal NAME HALF_LIFE_S|permanent [windows 1h,24h,7d,30d,all] [negative]
                               a signal type, in schema order (1..32 lines)
     cohort KEY                a cohort key (user attribute), in schema order
     profile NAME SIGNAL:WEIGHT...   a ranking profile
     bootstrap yes|no          yes: this node is one of a new cluster's first nodes (give
                               it to every one of them). On its first open (an empty data
                               directory) its members start the new group, and it proposes
                               (through the control-plane leader, wherever elected) the
                               topology and every tenant's placement and config the control
                               plane lacks (the same record twice changes nothing). Set it
                               back to no afterwards: a node that lost its disk and restarts
                               with yes starts a group of its own. Default no
     fsync batch|none          default batch (one fdatasync per group commit)
     transport HOST:PORT       this node's peer transport listener (tidal_tcp_*; required
                               with more than one node)
     peer R S HOST:PORT        another node's transport address (one per other node;
                               every other node of the topology)
     cluster_key HEX           the transport's 32-byte key, 64 hex digits (required with
                               more than one node): every peer message carries a MAC
                               under it, so nothing without the key gets in
   An error names the file, the line and the field. With more than one node the peer
   messages go over the TCP transport (tidal.h >>net_tcp), whose sockets share the main
   loop's poll().

   Commands: see examples/tidald_resp.h (PING, QUIT, AUTH, SIGNAL, HIDE..., ATTR,
   SESSION, RETRIEVE, GATHER, MOVE, HEALTH, STATS, METRICS, CUT, HEAL, DIGEST). Before AUTH
   only PING, QUIT and AUTH are served (-NOAUTH otherwise). A connection bound to a tenant
   touches only that tenant: HEALTH, STATS and DIGEST show it its part alone; MOVE, CUT
   and HEAL (tidal_tcp_block toward one peer: an admin's network cut) need the admin
   token. Errors: "-ERR <what>" (a bad command changes nothing), a refused call
   "-ERR <tidal result>: <why>", an unknown outcome "-UNKNOWN <why>" (retry with the same
   IDEM key), a protocol error "-ERR Protocol error: ..." then the connection closes.
   SIGTERM first hands every leadership this node holds to a caught-up member
   (tidal_peer_step_down, at most the shutdown bound), then stops as above.
   Pipelining: every complete command of one read is started, the members commit once
   (one fdatasync for all of them), the peer ticks, and replies go back in order. */
#define _POSIX_C_SOURCE 200809L
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidald_resp.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TIDALD_TOKENS_MAX 64
#define TIDALD_TENANTS_MAX 64
#define TIDALD_PEERS_MAX 64
#define TIDALD_CONNS_MAX 1024
#define TIDALD_TICK_MS 10                    /* poll timeout: the peer ticks at least this often */
#define TIDALD_OUT_HIGH (16u << 20)          /* reply bytes queued before a client is not read */
#define TIDALD_PENDING_HIGH 65536u           /* commands in flight before it is not read */
#define TIDALD_SHUTDOWN_NS (5 * TIDAL_NS_PER_S) /* answering what is in flight at SIGTERM */

/* ---- Config ---- */

typedef struct tidald_token {
    char token[65];
    uint32_t tenant; /* 0 for admin */
} tidald_token;

typedef struct tidald_tenant {
    uint32_t id, group;
    double rate, burst;
    uint64_t quota;
} tidald_tenant;

typedef struct tidald_peer_addr {
    tidal_node_ref node;
    struct sockaddr_in addr;
} tidald_peer_addr;

typedef struct tidald_config {
    int has_node, has_topology;
    tidal_node_ref self;
    uint32_t regions, shards;
    tidal_peer_group groups[TIDAL_PEER_GROUPS_MAX];
    uint32_t group_count;
    char data[TIDAL_PATH_MAX];
    struct sockaddr_in resp, metrics;
    int has_metrics;
    tidald_token tokens[TIDALD_TOKENS_MAX];
    uint32_t token_count;
    tidald_tenant tenants[TIDALD_TENANTS_MAX];
    uint32_t tenant_count;
    char sig_names[TIDAL_SIGNAL_TYPES_MAX][TIDAL_NAME_MAX + 1];
    const char *sig_name_ptrs[TIDAL_SIGNAL_TYPES_MAX];
    tidal_signal_def sigs[TIDAL_SIGNAL_TYPES_MAX];
    uint32_t sig_count;
    char cohort_names[TIDAL_COHORT_KEYS_MAX][TIDAL_NAME_MAX + 1];
    const char *cohort_ptrs[TIDAL_COHORT_KEYS_MAX];
    uint32_t cohort_count;
    char prof_names[TIDAL_PROFILES_MAX][TIDAL_NAME_MAX + 1];
    char term_names[TIDAL_PROFILES_MAX][TIDAL_PROFILE_TERMS_MAX][TIDAL_NAME_MAX + 1];
    tidal_profile_term terms[TIDAL_PROFILES_MAX][TIDAL_PROFILE_TERMS_MAX];
    tidal_profile_def profiles[TIDAL_PROFILES_MAX];
    uint32_t profile_count;
    int bootstrap;
    uint32_t fsync;
    tidald_peer_addr peers[TIDALD_PEERS_MAX];
    uint32_t peer_count;
    int has_key;
    uint8_t cluster_key[32];
    int has_transport;
    struct sockaddr_in transport;  /* this node's peer transport listener */
} tidald_config;

typedef struct tidald_cfg_line {
    const char *file;
    unsigned line;
    char *w[24];
    int n;
    char *err;
    size_t cap;
} tidald_cfg_line;

#ifdef __GNUC__
__attribute__((format(printf, 3, 4)))
#endif
static int cfg_fail(tidald_cfg_line *l, const char *field, const char *fmt, ...) {
    size_t k = (size_t)snprintf(l->err, l->cap, "%s:%u: %s: ", l->file, l->line, field);
    va_list ap;
    if (k < l->cap) {
        va_start(ap, fmt);
        vsnprintf(l->err + k, l->cap - k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int cfg_u64(const char *s, uint64_t max, uint64_t *v) {
    resp_arg a;
    a.p = s, a.n = strlen(s);
    return resp__u64(&a, v) && *v <= max;
}

static int cfg_num(tidald_cfg_line *l, int i, const char *field, uint64_t max, uint64_t *v) {
    if (i >= l->n) return cfg_fail(l, field, "missing");
    if (!cfg_u64(l->w[i], max, v))
        return cfg_fail(l, field, "'%s' is not a decimal number in 0..%llu", l->w[i],
                        (unsigned long long)max);
    return 0;
}

static int cfg_double(tidald_cfg_line *l, int i, const char *field, double *v) {
    char *end = NULL;
    if (i >= l->n) return cfg_fail(l, field, "missing");
    *v = strtod(l->w[i], &end);
    if (end == l->w[i] || *end || !(*v >= 0 && *v <= 1e12))
        return cfg_fail(l, field, "'%s' is not a number in 0..1e12", l->w[i]);
    return 0;
}

static int cfg_addr(tidald_cfg_line *l, int i, const char *field, int port_zero_ok,
                    struct sockaddr_in *out) {
    char host[64], *colon;
    uint64_t port;
    if (i >= l->n) return cfg_fail(l, field, "missing");
    if (strlen(l->w[i]) >= sizeof host) return cfg_fail(l, field, "too long");
    strcpy(host, l->w[i]);
    colon = strrchr(host, ':');
    if (!colon) return cfg_fail(l, field, "'%s': HOST:PORT expected", l->w[i]);
    *colon = '\0';
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return cfg_fail(l, field, "'%s': not an IPv4 address", host);
    if (!cfg_u64(colon + 1, 65535, &port) || (!port_zero_ok && port == 0))
        return cfg_fail(l, field, "port '%s': not in %d..65535", colon + 1, port_zero_ok ? 0 : 1);
    out->sin_port = htons((uint16_t)port);
    return 0;
}

static int cfg_name(tidald_cfg_line *l, int i, const char *field, char *out) {
    size_t k, n;
    if (i >= l->n) return cfg_fail(l, field, "missing");
    n = strlen(l->w[i]);
    if (n < 1 || n > TIDAL_NAME_MAX) return cfg_fail(l, field, "1..%d bytes", TIDAL_NAME_MAX);
    for (k = 0; k < n; k++) {
        char c = l->w[i][k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return cfg_fail(l, field, "'%s': only [A-Za-z0-9_.-]", l->w[i]);
    }
    memcpy(out, l->w[i], n + 1);
    return 0;
}

static int cfg_signal(tidald_config *c, tidald_cfg_line *l) {
    tidal_signal_def *s = &c->sigs[c->sig_count];
    int i;
    if (c->sig_count == TIDAL_SIGNAL_TYPES_MAX) return cfg_fail(l, "signal", "more than 32");
    memset(s, 0, sizeof *s);
    if (cfg_name(l, 1, "signal name", c->sig_names[c->sig_count])) return -1;
    if (l->n < 3) return cfg_fail(l, "signal half-life", "missing (seconds or permanent)");
    if (!strcmp(l->w[2], "permanent")) {
        s->permanent = 1;
    } else {
        char *end = NULL;
        s->half_life_s = strtod(l->w[2], &end);
        if (end == l->w[2] || *end || !(s->half_life_s >= TIDAL_HALF_LIFE_MIN_S &&
                                         s->half_life_s <= TIDAL_HALF_LIFE_MAX_S))
            return cfg_fail(l, "signal half-life", "'%s': seconds in [1e-9, 3.2e8] or permanent",
                            l->w[2]);
    }
    for (i = 3; i < l->n; i++) {
        if (!strcmp(l->w[i], "negative")) {
            s->negative = 1;
        } else if (!strcmp(l->w[i], "windows") && i + 1 < l->n) {
            char *tok, *save = NULL;
            for (tok = strtok_r(l->w[++i], ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                uint32_t bit = !strcmp(tok, "1h") ? TIDAL_WINDOW_1H : !strcmp(tok, "24h")
                                   ? TIDAL_WINDOW_24H : !strcmp(tok, "7d") ? TIDAL_WINDOW_7D
                                   : !strcmp(tok, "30d") ? TIDAL_WINDOW_30D
                                   : !strcmp(tok, "all") ? TIDAL_WINDOW_ALL : 0;
                if (!bit)
                    return cfg_fail(l, "signal windows", "'%s': 1h, 24h, 7d, 30d or all", tok);
                s->windows |= bit;
            }
        } else {
            return cfg_fail(l, "signal", "unexpected '%s' (windows LIST or negative)", l->w[i]);
        }
    }
    c->sig_name_ptrs[c->sig_count] = c->sig_names[c->sig_count];
    s->name = c->sig_names[c->sig_count++];
    return 0;
}

static int cfg_profile(tidald_config *c, tidald_cfg_line *l) {
    uint32_t p = c->profile_count;
    int i;
    if (p == TIDAL_PROFILES_MAX) return cfg_fail(l, "profile", "more than 16");
    if (cfg_name(l, 1, "profile name", c->prof_names[p])) return -1;
    if (l->n < 3 || l->n - 2 > TIDAL_PROFILE_TERMS_MAX)
        return cfg_fail(l, "profile terms", "1..8 SIGNAL:WEIGHT terms");
    for (i = 2; i < l->n; i++) {
        char *colon = strchr(l->w[i], ':'), *end = NULL;
        tidal_profile_term *t = &c->terms[p][i - 2];
        if (!colon || colon == l->w[i] || (size_t)(colon - l->w[i]) > TIDAL_NAME_MAX)
            return cfg_fail(l, "profile term", "'%s': SIGNAL:WEIGHT expected", l->w[i]);
        memcpy(c->term_names[p][i - 2], l->w[i], (size_t)(colon - l->w[i]));
        c->term_names[p][i - 2][colon - l->w[i]] = '\0';
        t->signal = c->term_names[p][i - 2];
        t->weight = strtod(colon + 1, &end);
        if (end == colon + 1 || *end || !isfinite(t->weight))
            return cfg_fail(l, "profile term weight", "'%s': a finite number", colon + 1);
    }
    c->profiles[p].name = c->prof_names[p];
    c->profiles[p].terms = c->terms[p];
    c->profiles[p].term_count = (uint32_t)(l->n - 2);
    c->profile_count++;
    return 0;
}

static int cfg_tenant(tidald_config *c, tidald_cfg_line *l) {
    tidald_tenant *t = &c->tenants[c->tenant_count];
    uint64_t v;
    uint32_t k;
    int i;
    if (c->tenant_count == TIDALD_TENANTS_MAX) return cfg_fail(l, "tenant", "more than 64");
    memset(t, 0, sizeof *t);
    if (cfg_num(l, 1, "tenant id", UINT32_MAX, &v)) return -1;
    if (v == 0) return cfg_fail(l, "tenant id", "0 (tenants are 1..4294967295)");
    t->id = (uint32_t)v;
    for (k = 0; k < c->tenant_count; k++)
        if (c->tenants[k].id == t->id) return cfg_fail(l, "tenant id", "%u given twice", t->id);
    if (cfg_num(l, 2, "tenant group", 255, &v)) return -1;
    t->group = (uint32_t)v;
    for (i = 3; i < l->n; i += 2) {
        if (i + 1 >= l->n) return cfg_fail(l, "tenant", "'%s' without a value", l->w[i]);
        if (!strcmp(l->w[i], "rate")) {
            if (cfg_double(l, i + 1, "tenant rate", &t->rate)) return -1;
        } else if (!strcmp(l->w[i], "burst")) {
            if (cfg_double(l, i + 1, "tenant burst", &t->burst)) return -1;
        } else if (!strcmp(l->w[i], "quota")) {
            if (cfg_num(l, i + 1, "tenant quota", UINT64_MAX, &t->quota)) return -1;
        } else {
            return cfg_fail(l, "tenant", "unexpected '%s' (rate, burst or quota)", l->w[i]);
        }
    }
    c->tenant_count++;
    return 0;
}

static int cfg_token(tidald_config *c, tidald_cfg_line *l) {
    tidald_token *t = &c->tokens[c->token_count];
    size_t n, k;
    uint64_t v;
    if (c->token_count == TIDALD_TOKENS_MAX) return cfg_fail(l, "token", "more than 64");
    if (l->n != 3) return cfg_fail(l, "token", "TOKEN TENANT|admin expected");
    n = strlen(l->w[1]);
    if (n < 1 || n > 64) return cfg_fail(l, "token", "1..64 bytes");
    for (k = 0; k < c->token_count; k++)
        if (!strcmp(c->tokens[k].token, l->w[1])) return cfg_fail(l, "token", "given twice");
    memcpy(t->token, l->w[1], n + 1);
    if (!strcmp(l->w[2], "admin")) {
        t->tenant = 0;
    } else {
        if (cfg_num(l, 2, "token tenant", UINT32_MAX, &v)) return -1;
        if (v == 0) return cfg_fail(l, "token tenant", "0 (a tenant id or admin)");
        t->tenant = (uint32_t)v;
    }
    c->token_count++;
    return 0;
}

static int cfg_hex_key(tidald_config *c, tidald_cfg_line *l) {
    int i;
    if (l->n != 2 || strlen(l->w[1]) != 64) return cfg_fail(l, "cluster_key", "64 hex digits");
    for (i = 0; i < 64; i++) {
        char ch = l->w[1][i];
        int v = (ch >= '0' && ch <= '9') ? ch - '0' : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10 : -1;
        if (v < 0) return cfg_fail(l, "cluster_key", "'%c' at digit %d is not hex", ch, i + 1);
        c->cluster_key[i / 2] = (uint8_t)(c->cluster_key[i / 2] << 4 | v);
    }
    c->has_key = 1;
    return 0;
}

/* One line's setting. */
static int cfg_setting(tidald_config *c, tidald_cfg_line *l) {
    const char *k = l->w[0];
    uint64_t a, b;
    if (!strcmp(k, "node") || !strcmp(k, "topology")) {
        int node = !strcmp(k, "node");
        if (l->n != 3) return cfg_fail(l, k, node ? "R S expected" : "REGIONS SHARDS expected");
        if (cfg_num(l, 1, node ? "node region" : "topology regions", 65535, &a) ||
            cfg_num(l, 2, node ? "node shard" : "topology shards", 65535, &b))
            return -1;
        if (node) c->self.region = (uint16_t)a, c->self.shard = (uint16_t)b, c->has_node = 1;
        else c->regions = (uint32_t)a, c->shards = (uint32_t)b, c->has_topology = 1;
        if (!node && (a < 1 || a > TIDAL_REPLICAS_MAX || b < 1))
            return cfg_fail(l, "topology", "regions 1..%d, shards 1..65535", TIDAL_REPLICAS_MAX);
        return 0;
    }
    if (!strcmp(k, "group")) {
        tidal_peer_group *g = &c->groups[c->group_count];
        uint32_t i;
        if (c->group_count == TIDAL_PEER_GROUPS_MAX) return cfg_fail(l, "group", "more than 16");
        if (l->n < 2 || l->n > 3) return cfg_fail(l, "group", "ID [PLACEMENT] expected");
        if (cfg_num(l, 1, "group id", 255, &a)) return -1;
        b = 0;
        if (l->n == 3 && cfg_num(l, 2, "group placement", 0xFFFFFFFFu, &b)) return -1;
        for (i = 0; i < c->group_count; i++)
            if (c->groups[i].id == a) return cfg_fail(l, "group id", "%u given twice", (unsigned)a);
        g->id = (uint32_t)a, g->placement = (uint32_t)b;
        c->group_count++;
        return 0;
    }
    if (!strcmp(k, "data")) {
        if (l->n != 2 || strlen(l->w[1]) >= sizeof c->data - 16)
            return cfg_fail(l, "data", "one directory path expected");
        strcpy(c->data, l->w[1]);
        return 0;
    }
    if (!strcmp(k, "resp")) return cfg_addr(l, 1, "resp", 1, &c->resp);
    if (!strcmp(k, "metrics")) {
        c->has_metrics = 1;
        return cfg_addr(l, 1, "metrics", 1, &c->metrics);
    }
    if (!strcmp(k, "token")) return cfg_token(c, l);
    if (!strcmp(k, "tenant")) return cfg_tenant(c, l);
    if (!strcmp(k, "signal")) return cfg_signal(c, l);
    if (!strcmp(k, "profile")) return cfg_profile(c, l);
    if (!strcmp(k, "cohort")) {
        if (c->cohort_count == TIDAL_COHORT_KEYS_MAX) return cfg_fail(l, "cohort", "more than 8");
        if (l->n != 2 || cfg_name(l, 1, "cohort key", c->cohort_names[c->cohort_count])) {
            if (l->n != 2) return cfg_fail(l, "cohort", "one KEY expected");
            return -1;
        }
        c->cohort_ptrs[c->cohort_count] = c->cohort_names[c->cohort_count];
        c->cohort_count++;
        return 0;
    }
    if (!strcmp(k, "bootstrap") || !strcmp(k, "fsync")) {
        int boot = !strcmp(k, "bootstrap");
        const char *yes = boot ? "yes" : "batch", *no = boot ? "no" : "none";
        if (l->n != 2 || (strcmp(l->w[1], yes) && strcmp(l->w[1], no)))
            return cfg_fail(l, k, "%s or %s expected", yes, no);
        if (boot) c->bootstrap = !strcmp(l->w[1], yes);
        else c->fsync = strcmp(l->w[1], yes) ? TIDAL_FSYNC_NONE : TIDAL_FSYNC_BATCH;
        return 0;
    }
    if (!strcmp(k, "peer")) {
        tidald_peer_addr *p = &c->peers[c->peer_count];
        if (c->peer_count == TIDALD_PEERS_MAX) return cfg_fail(l, "peer", "more than 64");
        if (l->n != 4) return cfg_fail(l, "peer", "R S HOST:PORT expected");
        if (cfg_num(l, 1, "peer region", 65535, &a) || cfg_num(l, 2, "peer shard", 65535, &b) ||
            cfg_addr(l, 3, "peer address", 0, &p->addr))
            return -1;
        p->node.region = (uint16_t)a, p->node.shard = (uint16_t)b;
        c->peer_count++;
        return 0;
    }
    if (!strcmp(k, "cluster_key")) return cfg_hex_key(c, l);
    if (!strcmp(k, "transport")) {
        if (l->n != 2) return cfg_fail(l, "transport", "HOST:PORT expected");
        c->has_transport = 1;
        return cfg_addr(l, 1, "transport", 0, &c->transport);
    }
    return cfg_fail(l, k, "unknown setting");
}

/* Checks across lines (the peers against the topology, the tokens against the tenants). */
static int cfg_check(tidald_config *c, const char *file, char *err, size_t cap) {
    uint32_t i, j;
#define CFG_FAIL(...) (snprintf(err, cap, __VA_ARGS__), -1)
    if (!c->has_node) return CFG_FAIL("%s: node: missing", file);
    if (!c->has_topology) return CFG_FAIL("%s: topology: missing", file);
    if (!c->data[0]) return CFG_FAIL("%s: data: missing", file);
    if (!c->group_count) return CFG_FAIL("%s: group: none given", file);
    if (!c->sig_count) return CFG_FAIL("%s: signal: none given", file);
    if (c->self.region >= c->regions || c->self.shard >= c->shards)
        return CFG_FAIL("%s: node: %u/%u is outside the topology %u x %u", file, c->self.region,
                        c->self.shard, c->regions, c->shards);
    for (i = 0; i < c->tenant_count; i++) {
        for (j = 0; j < c->group_count && c->groups[j].id != c->tenants[i].group; j++) {}
        if (j == c->group_count)
            return CFG_FAIL("%s: tenant %u: group %u is not configured", file, c->tenants[i].id,
                            c->tenants[i].group);
    }
    for (i = 0; i < c->token_count; i++) {
        for (j = 0; j < c->tenant_count && c->tenants[j].id != c->tokens[i].tenant; j++) {}
        if (c->tokens[i].tenant && j == c->tenant_count)
            return CFG_FAIL("%s: token %u: tenant %u is not configured", file, i + 1,
                            c->tokens[i].tenant);
    }
    for (i = 0; i < c->peer_count; i++) {
        tidal_node_ref n = c->peers[i].node;
        if (n.region >= c->regions || n.shard >= c->shards)
            return CFG_FAIL("%s: peer %u/%u: outside the topology", file, n.region, n.shard);
        if (n.region == c->self.region && n.shard == c->self.shard)
            return CFG_FAIL("%s: peer %u/%u: this node itself", file, n.region, n.shard);
        for (j = 0; j < i; j++)
            if (c->peers[j].node.region == n.region && c->peers[j].node.shard == n.shard)
                return CFG_FAIL("%s: peer %u/%u: given twice", file, n.region, n.shard);
    }
    if (c->regions * c->shards > 1) { /* a cluster: the transport's settings */
        uint32_t need = c->regions * c->shards - 1;
        if (!c->has_transport) return CFG_FAIL("%s: transport: missing (a topology of %u nodes)",
                                               file, need + 1);
        if (!c->has_key) return CFG_FAIL("%s: cluster_key: missing (a topology of %u nodes)",
                                         file, need + 1);
        if (c->peer_count != need)
            return CFG_FAIL("%s: peer: %u given, the topology %u x %u has %u other nodes", file,
                            c->peer_count, c->regions, c->shards, need);
    }
#undef CFG_FAIL
    return 0;
}

/* Reads the config file (the format at the top). 0, or -1 with err naming file:line: field. */
static int tidald_config_read(const char *file, tidald_config *c, char *err, size_t cap) {
    FILE *f = fopen(file, "r");
    char buf[4096];
    tidald_cfg_line l;
    memset(c, 0, sizeof *c);
    c->resp.sin_family = AF_INET;
    c->resp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->resp.sin_port = htons(6380);
    c->fsync = TIDAL_FSYNC_BATCH;
    if (!f) return snprintf(err, cap, "%s: %s", file, strerror(errno)), -1;
    memset(&l, 0, sizeof l);
    l.file = file, l.err = err, l.cap = cap;
    while (fgets(buf, sizeof buf, f)) {
        char *hash = strchr(buf, '#'), *tok, *save = NULL;
        l.line++;
        if (!strchr(buf, '\n') && !feof(f)) {
            fclose(f);
            return cfg_fail(&l, "line", "longer than %zu bytes", sizeof buf - 2);
        }
        if (hash) *hash = '\0';
        l.n = 0;
        for (tok = strtok_r(buf, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
            if (l.n == (int)(sizeof l.w / sizeof l.w[0])) {
                fclose(f);
                return cfg_fail(&l, "line", "more than 24 words");
            }
            l.w[l.n++] = tok;
        }
        if (l.n && cfg_setting(c, &l)) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return cfg_check(c, file, err, cap);
}

/* ---- Server state ---- */

#define TIDALD_CONN_CLIENT 1
#define TIDALD_CONN_HTTP 2

typedef struct tidald_conn tidald_conn;

/* One command of a connection, in its order: answered (done) or waiting for tickets. */
typedef struct tidald_cmd {
    struct tidald_cmd *next;
    tidald_conn *conn;       /* NULL: the bootstrap's own proposal */
    int op;                  /* RESP_REQ_* */
    int done;
    uint32_t waiting;        /* tickets not yet completed */
    uint32_t limit;          /* RETRIEVE: LIMIT of the merged answer */
    tidal_hit *hits;         /* RETRIEVE: every shard's hits */
    uint32_t n_hits;
    int64_t session;         /* SESSION START */
    int want_id;             /* SIGNAL ... ID: the reply names the event id */
    int failed;              /* a shard's refusal is in reply already */
    resp_out reply;
} tidald_cmd;

struct tidald_conn {
    int fd, kind;
    char *in;
    size_t in_n, in_cap;
    resp_out out;
    size_t out_off;
    tidald_cmd *head, *tail;
    uint32_t pending;        /* commands in the list */
    int authed;
    uint32_t tenant;         /* 0 with authed: admin */
    int closing;             /* read no more; close once flushed and answered */
    int dead;                /* socket closed; freed once nothing is pending */
};

typedef struct tidald_metrics {
    uint64_t conns_total, commands, writes, duplicates;
    uint64_t refused_decode, refused_auth, refused_failed, outcome_unknown, protocol_errors;
    uint64_t commits, commit_ns_sum, commit_ns_max;
    uint64_t elections;
    uint64_t last_epoch[TIDAL_PEER_GROUPS_MAX];
    uint64_t last_term;
} tidald_metrics;

typedef struct tidald {
    tidald_config cfg;
    tidal_peer *peer;
    tidal_tcp *tcp;          /* NULL for a single node */
    resp_schema schema;
    int lfd, mfd;
    tidald_conn *conns[TIDALD_CONNS_MAX];
    uint32_t n_conns;
    /* Commands by ticket: slot[t - base]. A peer's tickets count up from 1. */
    tidald_cmd **slot;
    uint64_t base;           /* the ticket of slot[0] */
    size_t lo, hi, cap_slot; /* slot[lo, hi) holds every command still waiting */
    int in_batch;
    int ready;
    uint64_t boot_ticket;
    tidal_result last_tick;  /* the last tick's result */
    tidald_metrics m;
} tidald;

static volatile sig_atomic_t tidald_stop;

static void tidald_on_signal(int sig) {
    (void)sig;
    tidald_stop = 1;
}

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * TIDAL_NS_PER_S + ts.tv_nsec;
}

static int slot_put(tidald *d, uint64_t ticket, tidald_cmd *c) {
    size_t i;
    if (d->lo == d->hi) d->lo = d->hi = 0, d->base = ticket; /* empty: restart the window */
    TIDAL_ASSERT(ticket >= d->base + d->lo);
    if (d->lo > 4096 && d->lo * 2 > d->hi) { /* the front half completed: slide it out */
        memmove(d->slot, d->slot + d->lo, (d->hi - d->lo) * sizeof *d->slot);
        memset(d->slot + d->hi - d->lo, 0, d->lo * sizeof *d->slot);
        d->base += d->lo, d->hi -= d->lo, d->lo = 0;
    }
    i = (size_t)(ticket - d->base);
    if (i >= d->cap_slot) {
        size_t cap = d->cap_slot ? d->cap_slot : 1024;
        tidald_cmd **s;
        while (cap <= i) cap *= 2;
        s = (tidald_cmd **)realloc(d->slot, cap * sizeof *s);
        if (!s) return -1;
        memset(s + d->cap_slot, 0, (cap - d->cap_slot) * sizeof *s);
        d->slot = s, d->cap_slot = cap;
    }
    d->slot[i] = c;
    if (i + 1 > d->hi) d->hi = i + 1;
    return 0;
}

/* Takes the command of ticket out of the map (NULL when none). */
static tidald_cmd *slot_take(tidald *d, uint64_t ticket) {
    tidald_cmd *c;
    size_t i;
    if (ticket < d->base + d->lo || ticket - d->base >= d->hi) return NULL;
    i = (size_t)(ticket - d->base);
    c = d->slot[i];
    d->slot[i] = NULL;
    while (d->lo < d->hi && !d->slot[d->lo]) d->lo++;
    TIDAL_ASSERT(d->lo <= d->hi);
    return c;
}

/* ---- Starting commands ---- */

/* Opens one group commit over this node's members (once per loop turn, lazily). */
static void tidald_batch(tidald *d) {
    uint32_t i;
    if (d->in_batch) return;
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        if (db) (void)tidal_db_batch_begin(db);
    }
    d->in_batch = 1;
}

/* Commits the turn's batch: one fdatasync per member for every write started. */
static void tidald_commit(tidald *d) {
    uint32_t i;
    if (!d->in_batch) return;
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        int64_t t0;
        uint64_t dt;
        tidal_result r;
        if (!db) continue;
        t0 = mono_ns();
        r = tidal_db_commit(db);
        dt = (uint64_t)(mono_ns() - t0);
        if (r != TIDAL_OK)
            fprintf(stderr, "tidald: group %u commit: %s %s\n", d->cfg.groups[i].id,
                    tidal_strerror(r), tidal_errmsg(db));
        d->m.commits++, d->m.commit_ns_sum += dt;
        if (dt > d->m.commit_ns_max) d->m.commit_ns_max = dt;
    }
    d->in_batch = 0;
}

/* A call refused at once. With tickets of the same command still out (a RETRIEVE's other
   shards), the refusal is its answer once they are back. */
static void cmd_fail_call(tidald *d, tidald_cmd *c, tidal_result r) {
    if (!c->failed) {
        resp_out_free(&c->reply);
        resp_error_reply(&c->reply, "ERR", "%s: %s", tidal_strerror(r),
                         tidal_peer_errmsg(d->peer));
        d->m.refused_failed++;
    }
    c->failed = 1;
    if (!c->waiting) c->done = 1;
}

/* A call that took a ticket: the command waits for it. */
static void cmd_wait(tidald *d, tidald_cmd *c, tidal_result r, uint64_t ticket) {
    if (r != TIDAL_OK) {
        cmd_fail_call(d, c, r);
        return;
    }
    if (slot_put(d, ticket, c)) {
        fprintf(stderr, "tidald: out of memory (ticket map)\n");
        abort(); /* a ticket whose completion could not be routed would hang its client */
    }
    c->waiting++;
}

static void tidald_signal_of(const resp_req *q, uint32_t tenant, tidal_signal *s,
                             tidal_tag *tags) {
    uint32_t i;
    memset(s, 0, sizeof *s);
    s->tenant = tenant, s->item = q->item, s->type = q->type, s->weight = q->weight;
    s->time_ns = q->time_ns, s->user = q->user;
    for (i = 0; i < q->cohort_count; i++) tags[i].key = q->ckey[i], tags[i].value = q->cval[i];
    if (q->has_cohort) s->cohort = tags, s->cohort_count = q->cohort_count;
    if (q->has_idem) s->idem.key = q->idem, s->idem.key_len = q->idem_len;
    s->idem.seq = q->idem_seq;
}

static void tidald_metrics_text(tidald *d, resp_out *o);
static void tidald_stats_text(tidald *d, resp_out *o);
static void tidald_tenant_stats_text(tidald *d, uint32_t tenant, resp_out *o);
static void tidald_health_scope(tidald *d, char *text, uint32_t tenant);
static void tidald_cut(tidald *d, const tidald_conn *cn, const resp_req *q, resp_out *o);
static void tidald_digest(tidald *d, const tidald_conn *cn, const resp_req *q, resp_out *o);
static void tidald_applied(tidald *d, const tidald_conn *cn, const resp_req *q, resp_out *o);

static void cmd_retrieve(tidald *d, tidald_cmd *c, const resp_req *q, uint32_t tenant) {
    char text[RESP_TEXT_MAX + 1], err[256];
    size_t cap = q->op == RESP_REQ_GATHER ? TIDAL_PEER_TEXT_MAX - 32 : TIDAL_PEER_TEXT_MAX;
    tidal_query_text qt;
    uint64_t t = 0;
    uint32_t s;
    if (resp_retrieve_text(q->text, q->text_len, tenant, text, cap + 1, err, sizeof err)) {
        resp_error_reply(&c->reply, "ERR", "%s", err);
        c->done = 1, d->m.refused_decode++;
        return;
    }
    if (q->op == RESP_REQ_GATHER) {
        tidal_result r = tidal_peer_gather(d->peer, text, 0, &t);
        cmd_wait(d, c, r, t);
        return;
    }
    (void)tidal_query_parse(text, strlen(text), &qt, NULL); /* checked just above */
    c->limit = qt.limit ? qt.limit : 20;
    if (c->limit > TIDAL_PEER_HITS_MAX) c->limit = TIDAL_PEER_HITS_MAX;
    c->hits = (tidal_hit *)malloc((size_t)d->cfg.shards * TIDAL_PEER_HITS_MAX * sizeof *c->hits);
    if (!c->hits) {
        resp_error_reply(&c->reply, "ERR", "out of memory");
        c->done = 1;
        return;
    }
    /* One leader read per shard of the topology, merged as they come back. */
    for (s = 0; s < d->cfg.shards && !c->failed; s++) {
        tidal_result r = tidal_peer_retrieve(d->peer, text, s, &t);
        cmd_wait(d, c, r, t);
    }
}

/* Starts a decoded command of a connection bound to tenant (authenticated). */
static void cmd_start_data(tidald *d, tidald_cmd *c, const resp_req *q, uint32_t tenant) {
    tidal_peer *p = d->peer;
    tidal_signal s;
    tidal_tag tags[TIDAL_COHORT_KEYS_MAX];
    tidal_idem idem;
    tidal_id session = 0;
    uint64_t t = 0;
    tidal_result r;
    memset(&idem, 0, sizeof idem);
    idem.key = q->idem, idem.key_len = q->idem_len, idem.seq = q->idem_seq;
    switch (q->op) {
    case RESP_REQ_SIGNAL:
    case RESP_REQ_SESSION_SIGNAL:
        tidald_signal_of(q, tenant, &s, tags);
        tidald_batch(d);
        r = q->op == RESP_REQ_SIGNAL ? tidal_peer_signal_write(p, &s, q->level, &t)
                                     : tidal_peer_session_signal(p, q->session, q->seq, &s,
                                                                 q->level, &t);
        break;
    case RESP_REQ_NEGATIVE:
        tidald_batch(d);
        r = tidal_peer_negative_write(p, tenant, q->user, (tidal_negative)q->kind, q->target,
                                      q->remove, q->has_idem ? &idem : NULL, q->level, &t);
        break;
    case RESP_REQ_ATTR:
        tidald_batch(d);
        r = q->attr_user ? tidal_peer_user_attr_set(p, tenant, q->item, q->key,
                                                    q->remove ? NULL : q->value, NULL, q->level, &t)
                         : tidal_peer_attr_set(p, tenant, q->item, q->key,
                                               q->remove ? NULL : q->value, q->level, &t);
        break;
    case RESP_REQ_SESSION_START:
        tidald_batch(d);
        r = tidal_peer_session_start(p, tenant, q->user, q->ttl_ns, q->level, &session, &t);
        c->session = (int64_t)session;
        break;
    case RESP_REQ_SESSION_NOTE:
        tidald_batch(d);
        r = tidal_peer_session_note(p, tenant, q->session, q->seq, q->text, q->level, &t);
        break;
    case RESP_REQ_SESSION_END:
        tidald_batch(d);
        r = tidal_peer_session_end(p, tenant, q->session, q->level, &t);
        break;
    default:
        TIDAL_ASSERT(q->op == RESP_REQ_RETRIEVE || q->op == RESP_REQ_GATHER);
        cmd_retrieve(d, c, q, tenant);
        return;
    }
    cmd_wait(d, c, r, t);
}

static const tidald_token *token_find(const tidald *d, const char *tok) {
    uint32_t i;
    const tidald_token *hit = NULL;
    size_t n = strlen(tok);
    for (i = 0; i < d->cfg.token_count; i++) /* every token compared: no early exit */
        if (strlen(d->cfg.tokens[i].token) == n && !memcmp(d->cfg.tokens[i].token, tok, n))
            hit = &d->cfg.tokens[i];
    return hit;
}

/* Starts one parsed command of conn: its reply comes now (done) or with its tickets. */
static void cmd_start(tidald *d, tidald_conn *cn, const resp_cmd *rc) {
    static resp_req q; /* large (texts, tags): one at a time, single-threaded */
    tidald_cmd *c;
    char err[320];
    if (rc->argc == 0) return; /* an empty inline line */
    c = (tidald_cmd *)calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "tidald: out of memory\n");
        abort();
    }
    c->conn = cn;
    if (cn->tail) cn->tail->next = c;
    else cn->head = c;
    cn->tail = c, cn->pending++;
    d->m.commands++;
    if (resp_decode(rc, &d->schema, &q, err, sizeof err)) {
        resp_error_reply(&c->reply, "ERR", "%s", err);
        c->done = 1, d->m.refused_decode++;
        return;
    }
    c->op = q.op, c->done = 1; /* the immediate ones; the calls clear it */
    c->want_id = q.want_id;
    if (q.op == RESP_REQ_PING) {
        if (q.text_len) resp_bulk(&c->reply, q.text, q.text_len);
        else resp_simple(&c->reply, "PONG");
    } else if (q.op == RESP_REQ_QUIT) {
        resp_simple(&c->reply, "OK");
        cn->closing = 1;
    } else if (q.op == RESP_REQ_AUTH) {
        const tidald_token *t = token_find(d, q.text);
        if (!t) {
            resp_error_reply(&c->reply, "ERR", "AUTH: unknown token");
            d->m.refused_auth++;
        } else {
            cn->authed = 1, cn->tenant = t->tenant;
            resp_simple(&c->reply, "OK");
        }
    } else if (!cn->authed) {
        resp_error_reply(&c->reply, "NOAUTH", "AUTH <token> first");
        d->m.refused_auth++;
    } else if (q.op == RESP_REQ_HEALTH) {
        char *buf = (char *)malloc(1 << 16);
        tidal_result r = buf ? tidal_peer_health_text(d->peer, buf, 1 << 16) : TIDAL_ERR_NOMEM;
        if (buf && (r == TIDAL_OK || r == TIDAL_ERR_LIMIT)) {
            if (cn->tenant) tidald_health_scope(d, buf, cn->tenant);
            resp_bulk_str(&c->reply, buf);
        } else {
            resp_error_reply(&c->reply, "ERR", "HEALTH: %s", tidal_strerror(r));
        }
        free(buf);
    } else if (q.op == RESP_REQ_STATS) {
        if (cn->tenant) tidald_tenant_stats_text(d, cn->tenant, &c->reply);
        else tidald_stats_text(d, &c->reply);
    } else if (q.op == RESP_REQ_CUT || q.op == RESP_REQ_HEAL) {
        tidald_cut(d, cn, &q, &c->reply);
    } else if (q.op == RESP_REQ_DIGEST) {
        tidald_digest(d, cn, &q, &c->reply);
    } else if (q.op == RESP_REQ_APPLIED) {
        tidald_applied(d, cn, &q, &c->reply);
    } else if (q.op == RESP_REQ_METRICS) {
        tidald_metrics_text(d, &c->reply);
    } else if (q.op == RESP_REQ_MOVE) {
        uint64_t t = 0;
        if (cn->tenant != 0) {
            resp_error_reply(&c->reply, "ERR", "MOVE: needs the admin token");
            d->m.refused_auth++;
        } else {
            tidal_result r = tidal_peer_move(d->peer, q.tenant, q.group, &t);
            c->done = 0;
            cmd_wait(d, c, r, t);
        }
    } else if (cn->tenant == 0) {
        resp_error_reply(&c->reply, "ERR", "the admin token binds no tenant: AUTH with a "
                                           "tenant's token for data commands");
        d->m.refused_auth++;
    } else {
        c->done = 0;
        cmd_start_data(d, c, &q, cn->tenant);
    }
}

/* ---- Completions ---- */

static int hit_order(const void *a, const void *b) {
    const tidal_hit *x = (const tidal_hit *)a, *y = (const tidal_hit *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

static void cmd_failed(tidald *d, tidald_cmd *c, const tidal_peer_completion *pc) {
    char where[48] = "";
    if (c->failed) return; /* the first shard's refusal is the answer */
    c->failed = 1;
    resp_out_free(&c->reply);
    if (pc->has_redirect)
        snprintf(where, sizeof where, " (leader %u/%u)", pc->redirect.region, pc->redirect.shard);
    if (pc->outcome == TIDAL_PEER_DONE_UNKNOWN) {
        resp_error_reply(&c->reply, "UNKNOWN", "%s: %s%s", tidal_strerror(pc->result),
                         pc->message, where);
        d->m.outcome_unknown++;
    } else {
        resp_error_reply(&c->reply, "ERR", "%s: %s%s", tidal_strerror(pc->result), pc->message,
                         where);
        d->m.refused_failed++;
    }
}

static void cmd_gather_reply(resp_out *o, const tidal_peer_completion *pc) {
    resp_array(o, 5);
    resp_hits(o, pc->hits, pc->hit_count);
    resp_int(o, pc->degraded);
    resp_int(o, pc->shards_asked);
    resp_int(o, pc->shards_answered);
    resp_bulk_str(o, pc->degraded_reason);
}

static void cmd_complete(tidald *d, tidald_cmd *c, const tidal_peer_completion *pc) {
    TIDAL_ASSERT(c->waiting > 0);
    c->waiting--;
    if (pc->outcome != TIDAL_PEER_DONE_OK) {
        cmd_failed(d, c, pc);
    } else if (c->op == RESP_REQ_RETRIEVE) {
        memcpy(c->hits + c->n_hits, pc->hits, pc->hit_count * sizeof *c->hits);
        c->n_hits += pc->hit_count;
    } else if (c->op == RESP_REQ_GATHER) {
        cmd_gather_reply(&c->reply, pc);
    } else if (c->op == RESP_REQ_SESSION_START) {
        resp_int(&c->reply, c->session);
        d->m.writes++;
    } else if (c->op == RESP_REQ_MOVE) {
        resp_int(&c->reply, (int64_t)pc->index);
    } else if (c->want_id) {
        char line[64];
        snprintf(line, sizeof line, "%s %016llx%016llx", pc->duplicate ? "DUPLICATE" : "OK",
                 (unsigned long long)pc->id.hi, (unsigned long long)pc->id.lo);
        resp_simple(&c->reply, line);
        d->m.writes++;
        d->m.duplicates += pc->duplicate != 0;
    } else {
        resp_simple(&c->reply, pc->duplicate ? "DUPLICATE" : "OK");
        d->m.writes++;
        d->m.duplicates += pc->duplicate != 0;
    }
    if (c->waiting) return;
    if (c->op == RESP_REQ_RETRIEVE && !c->failed) {
        qsort(c->hits, c->n_hits, sizeof *c->hits, hit_order);
        resp_hits(&c->reply, c->hits, c->n_hits < c->limit ? c->n_hits : c->limit);
    }
    free(c->hits);
    c->hits = NULL;
    c->done = 1;
    TIDAL_ASSERT(c->reply.n > 0 || c->reply.oom);
}

static void tidald_drain(tidald *d) {
    tidal_peer_completion pc;
    while (tidal_peer_poll(d->peer, &pc) == TIDAL_OK) {
        tidald_cmd *c;
        if (pc.ticket == d->boot_ticket) {
            if (pc.outcome != TIDAL_PEER_DONE_OK)
                fprintf(stderr, "tidald: bootstrap proposal: %s %s\n", tidal_strerror(pc.result),
                        pc.message);
            d->boot_ticket = 0;
            continue;
        }
        c = slot_take(d, pc.ticket);
        if (!c) continue; /* a ticket of a command whose call failed before waiting */
        cmd_complete(d, c, &pc);
    }
}

/* ---- Bootstrap and readiness ---- */

static void tidald_boot_propose(tidald *d, const tidal_control_record *rec) {
    tidal_result r = tidal_peer_propose(d->peer, rec, &d->boot_ticket);
    if (r != TIDAL_OK) {
        fprintf(stderr, "tidald: bootstrap proposal: %s %s\n", tidal_strerror(r),
                tidal_peer_errmsg(d->peer));
        d->boot_ticket = 0;
    }
}

/* Proposes, one at a time, what a new cluster's control plane lacks (bootstrap yes: to the
   control-plane leader, wherever a fresh cluster elected it), and
   says "tidald: ready" once every tenant is placed and configured and every member of
   this node knows its leader. */
static void tidald_boot_step(tidald *d) {
    tidal_control_record rec;
    tidal_peer_status st;
    tidal_control_status cs;
    uint32_t i;
    int ready = 1;
    if (d->ready || d->boot_ticket) return;
    tidal_peer_status_get(d->peer, &st);
    tidal_control_status_get(tidal_peer_control(d->peer), &cs);
    memset(&rec, 0, sizeof rec);
    if (st.regions == 0) {
        if (d->cfg.bootstrap && cs.has_leader) { /* proposed through whichever node leads */
            rec.kind = TIDAL_CONTROL_TOPOLOGY;
            rec.regions = d->cfg.regions, rec.shards = d->cfg.shards;
            tidald_boot_propose(d, &rec);
        }
        return;
    }
    for (i = 0; i < d->cfg.tenant_count && ready; i++) {
        const tidald_tenant *t = &d->cfg.tenants[i];
        tidal_peer_tenant pt;
        memset(&pt, 0, sizeof pt);
        (void)tidal_peer_tenant_get(d->peer, t->id, &pt);
        if (pt.has_placement && pt.has_config) continue;
        ready = 0;
        if (!d->cfg.bootstrap || !cs.has_leader) break;
        rec.tenant = t->id;
        if (!pt.has_placement) {
            rec.kind = TIDAL_CONTROL_PLACEMENT, rec.group = t->group;
        } else {
            rec.kind = TIDAL_CONTROL_TENANT, rec.state = TIDAL_TENANT_ACTIVE;
            rec.rate_per_s = t->rate, rec.burst = t->burst, rec.entity_quota = t->quota;
        }
        tidald_boot_propose(d, &rec);
    }
    for (i = 0; i < d->cfg.group_count && ready; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        tidal_node_status ns;
        if (db && (tidal_node_status_get(db, &ns) != TIDAL_OK || !ns.has_leader)) ready = 0;
    }
    if (ready) {
        d->ready = 1;
        printf("tidald: ready\n");
        fflush(stdout);
    }
}

/* Elections seen: every increase of a member's epoch or the control term. */
static void tidald_watch(tidald *d) {
    tidal_control_status cs;
    uint32_t i;
    tidal_control_status_get(tidal_peer_control(d->peer), &cs);
    if (cs.term > d->m.last_term) d->m.elections++, d->m.last_term = cs.term;
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        tidal_node_status ns;
        if (!db || tidal_node_status_get(db, &ns) != TIDAL_OK) continue;
        if (ns.epoch > d->m.last_epoch[i]) d->m.elections++, d->m.last_epoch[i] = ns.epoch;
    }
}

/* ---- Stats and metrics ---- */

#ifdef __GNUC__
__attribute__((format(printf, 2, 3)))
#endif
static void outf(resp_out *o, const char *fmt, ...) {
    char b[512];
    int n;
    va_list ap;
    va_start(ap, fmt);
    n = vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (n > 0) resp_put(o, b, (size_t)n < sizeof b ? (size_t)n : sizeof b - 1);
}

static void metric(resp_out *o, const char *name, const char *type, const char *help) {
    outf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static uint32_t tidald_clients(const tidald *d) {
    uint32_t i, n = 0;
    for (i = 0; i < d->n_conns; i++)
        n += d->conns[i]->kind == TIDALD_CONN_CLIENT && !d->conns[i]->dead;
    return n;
}

/* The peer transport's counters (tidal_tcp_stats_get): traffic, drops by cause (a full
   send queue, a bad MAC, ...), connections. */
static void tidald_metrics_tcp(tidald *d, resp_out *t) {
    tidal_tcp_stats ts;
    struct {
        const char *family, *label;
        uint64_t v;
    } row[21];
    uint32_t i, n = 0;
    tidal_tcp_stats_get(d->tcp, &ts);
#define TIDALD_TCP_ROW(f, l, val) (row[n].family = (f), row[n].label = (l), row[n++].v = (val))
    TIDALD_TCP_ROW("frames", "dir=\"sent\"", ts.frames_sent);
    TIDALD_TCP_ROW("frames", "dir=\"received\"", ts.frames_received);
    TIDALD_TCP_ROW("bytes", "dir=\"sent\"", ts.bytes_sent);
    TIDALD_TCP_ROW("bytes", "dir=\"received\"", ts.bytes_received);
    TIDALD_TCP_ROW("drops", "cause=\"queue_full\"", ts.drops_queue_full);
    TIDALD_TCP_ROW("drops", "cause=\"bad_mac\"", ts.drops_bad_mac);
    TIDALD_TCP_ROW("drops", "cause=\"bad_frame\"", ts.drops_bad_frame);
    TIDALD_TCP_ROW("drops", "cause=\"identity\"", ts.drops_identity);
    TIDALD_TCP_ROW("drops", "cause=\"wrong_cluster\"", ts.drops_wrong_cluster);
    TIDALD_TCP_ROW("drops", "cause=\"blocked\"", ts.drops_blocked);
    TIDALD_TCP_ROW("drops", "cause=\"unknown_peer\"", ts.drops_unknown_peer);
    TIDALD_TCP_ROW("drops", "cause=\"partial\"", ts.drops_partial);
    TIDALD_TCP_ROW("drops", "cause=\"closed\"", ts.drops_closed);
    TIDALD_TCP_ROW("connections", "event=\"dial\"", ts.dials);
    TIDALD_TCP_ROW("connections", "event=\"dial_failure\"", ts.dial_failures);
    TIDALD_TCP_ROW("connections", "event=\"accept\"", ts.accepts);
    TIDALD_TCP_ROW("connections", "event=\"connect\"", ts.connects);
    TIDALD_TCP_ROW("connections", "event=\"reconnect\"", ts.reconnects);
    TIDALD_TCP_ROW("connections", "event=\"disconnect\"", ts.disconnects);
#undef TIDALD_TCP_ROW
    TIDAL_ASSERT(n <= sizeof row / sizeof row[0]);
    for (i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "tidald_peer_%s_total", row[i].family);
        if (i == 0 || strcmp(row[i].family, row[i - 1].family))
            metric(t, name, "counter",
                   !strcmp(row[i].family, "frames") ? "Peer message frames, by direction."
                   : !strcmp(row[i].family, "bytes") ? "Peer socket bytes, by direction."
                   : !strcmp(row[i].family, "drops") ? "Peer messages dropped, by cause (never "
                                                       "delivered; replication resends)."
                                                     : "Peer connections, by event.");
        outf(t, "%s{%s} %llu\n", name, row[i].label, (unsigned long long)row[i].v);
    }
}

/* The Prometheus text format: # HELP and # TYPE before each family, one sample a line. */
static void tidald_metrics_body(tidald *d, resp_out *o) {
    tidal_peer_status st;
    tidal_control_status cs;
    resp_out t;
    uint32_t i;
    memset(&t, 0, sizeof t);
    tidal_peer_status_get(d->peer, &st);
    tidal_control_status_get(tidal_peer_control(d->peer), &cs);
    metric(&t, "tidald_connections", "gauge", "Client connections open now.");
    outf(&t, "tidald_connections %u\n", tidald_clients(d));
    metric(&t, "tidald_connections_total", "counter", "Client connections accepted.");
    outf(&t, "tidald_connections_total %llu\n", (unsigned long long)d->m.conns_total);
    metric(&t, "tidald_commands_total", "counter", "Commands received.");
    outf(&t, "tidald_commands_total %llu\n", (unsigned long long)d->m.commands);
    metric(&t, "tidald_writes_total", "counter", "Writes acknowledged at their level.");
    outf(&t, "tidald_writes_total %llu\n", (unsigned long long)d->m.writes);
    metric(&t, "tidald_write_duplicates_total", "counter", "Acknowledged writes that were keyed "
                                                           "retries (applied once).");
    outf(&t, "tidald_write_duplicates_total %llu\n", (unsigned long long)d->m.duplicates);
    metric(&t, "tidald_refusals_total", "counter", "Commands answered with an error, by cause.");
    outf(&t, "tidald_refusals_total{reason=\"decode\"} %llu\n",
         (unsigned long long)d->m.refused_decode);
    outf(&t, "tidald_refusals_total{reason=\"auth\"} %llu\n",
         (unsigned long long)d->m.refused_auth);
    outf(&t, "tidald_refusals_total{reason=\"refused\"} %llu\n",
         (unsigned long long)d->m.refused_failed);
    outf(&t, "tidald_refusals_total{reason=\"unknown\"} %llu\n",
         (unsigned long long)d->m.outcome_unknown);
    outf(&t, "tidald_refusals_total{reason=\"protocol\"} %llu\n",
         (unsigned long long)d->m.protocol_errors);
    metric(&t, "tidald_commit_seconds", "summary", "Group commits (log write and fdatasync) "
                                                   "of client writes: wall time.");
    outf(&t, "tidald_commit_seconds_sum %.9f\n", (double)d->m.commit_ns_sum / 1e9);
    outf(&t, "tidald_commit_seconds_count %llu\n", (unsigned long long)d->m.commits);
    metric(&t, "tidald_commit_seconds_max", "gauge", "The slowest group commit since start.");
    outf(&t, "tidald_commit_seconds_max %.9f\n", (double)d->m.commit_ns_max / 1e9);
    metric(&t, "tidald_elections_total", "counter", "Member epoch and control term increases "
                                                    "seen since start.");
    outf(&t, "tidald_elections_total %llu\n", (unsigned long long)d->m.elections);
    metric(&t, "tidald_control_term", "gauge", "The control plane's term here.");
    outf(&t, "tidald_control_term %llu\n", (unsigned long long)cs.term);
    metric(&t, "tidald_calls_pending", "gauge", "Client calls in flight on the peer.");
    outf(&t, "tidald_calls_pending %u\n", st.calls_pending);
    metric(&t, "tidald_calls_forwarded_total", "counter", "Calls sent on to another node.");
    outf(&t, "tidald_calls_forwarded_total %llu\n", (unsigned long long)st.forwarded);
    metric(&t, "tidald_calls_timed_out_total", "counter", "Forwarded calls with no answer.");
    outf(&t, "tidald_calls_timed_out_total %llu\n", (unsigned long long)st.timeouts);
    metric(&t, "tidald_messages_refused_total", "counter", "Peer messages refused as corrupt.");
    outf(&t, "tidald_messages_refused_total %llu\n", (unsigned long long)st.msgs_corrupt);
    metric(&t, "tidald_member_epoch", "gauge", "Each member's epoch.");
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        tidal_node_status ns;
        if (db && tidal_node_status_get(db, &ns) == TIDAL_OK)
            outf(&t, "tidald_member_epoch{group=\"%u\"} %llu\n", d->cfg.groups[i].id,
                 (unsigned long long)ns.epoch);
    }
    metric(&t, "tidald_member_leader", "gauge", "1 when this node's member leads its group.");
    metric(&t, "tidald_member_lag_events", "gauge", "Events a follower member is behind.");
    metric(&t, "tidald_member_lag_seconds", "gauge", "How long a follower has been behind.");
    metric(&t, "tidald_wal_syncs_total", "counter", "fdatasync calls on a member's log.");
    metric(&t, "tidald_events_applied_total", "counter", "Events folded into a member's state.");
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        tidal_node_status ns;
        tidal_db_stats ds;
        unsigned g = d->cfg.groups[i].id;
        if (!db || tidal_node_status_get(db, &ns) != TIDAL_OK) continue;
        tidal_db_stats_get(db, &ds);
        outf(&t, "tidald_member_leader{group=\"%u\"} %d\n", g, ns.role == TIDAL_ROLE_LEADER);
        outf(&t, "tidald_member_lag_events{group=\"%u\"} %llu\n", g,
             (unsigned long long)ns.lag_events);
        outf(&t, "tidald_member_lag_seconds{group=\"%u\"} %.9f\n", g, (double)ns.lag_ns / 1e9);
        outf(&t, "tidald_wal_syncs_total{group=\"%u\"} %llu\n", g,
             (unsigned long long)ds.wal_syncs);
        outf(&t, "tidald_events_applied_total{group=\"%u\"} %llu\n", g,
             (unsigned long long)ds.events_applied);
    }
    if (d->tcp) tidald_metrics_tcp(d, &t);
    TIDAL_ASSERT(t.oom || t.n > 0);
    if (t.oom) o->oom = 1;
    else resp_put(o, t.p, t.n);
    resp_out_free(&t);
}

static void tidald_metrics_text(tidald *d, resp_out *o) {
    resp_out t;
    memset(&t, 0, sizeof t);
    tidald_metrics_body(d, &t);
    if (t.oom) resp_error_reply(o, "ERR", "METRICS: out of memory");
    else resp_bulk(o, t.p, t.n);
    resp_out_free(&t);
}

static void tidald_stats_text(tidald *d, resp_out *o) {
    tidal_peer_status st;
    resp_out t;
    uint32_t i;
    memset(&t, 0, sizeof t);
    tidal_peer_status_get(d->peer, &st);
    outf(&t, "node %u/%u topology %u x %u ready %d\n", d->cfg.self.region, d->cfg.self.shard,
         st.regions, st.shards, d->ready);
    outf(&t, "connections %u commands %llu writes %llu commits %llu\n", tidald_clients(d),
         (unsigned long long)d->m.commands, (unsigned long long)d->m.writes,
         (unsigned long long)d->m.commits);
    outf(&t, "calls pending %u forwarded %llu executed %llu timeouts %llu\n", st.calls_pending,
         (unsigned long long)st.forwarded, (unsigned long long)st.executed,
         (unsigned long long)st.timeouts);
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        tidal_db_stats ds;
        if (!db) continue;
        tidal_db_stats_get(db, &ds);
        outf(&t, "group %u events %llu entities %llu batches %llu syncs %llu durable_lsn %llu\n",
             d->cfg.groups[i].id, (unsigned long long)ds.events_applied,
             (unsigned long long)ds.entities, (unsigned long long)ds.wal_batches,
             (unsigned long long)ds.wal_syncs, (unsigned long long)tidal_db_durable_lsn(db));
    }
    for (i = 0; i < d->cfg.tenant_count; i++) { /* where each tenant lives, as applied here */
        tidal_peer_tenant pt;
        memset(&pt, 0, sizeof pt);
        (void)tidal_peer_tenant_get(d->peer, d->cfg.tenants[i].id, &pt);
        outf(&t, "tenant %u group %u placed %d move_phase %u move_target %u\n",
             d->cfg.tenants[i].id, pt.group, pt.has_placement, pt.move_phase, pt.move_target);
    }
    if (t.oom) resp_error_reply(o, "ERR", "out of memory");
    else resp_bulk(o, t.p, t.n);
    resp_out_free(&t);
}

/* STATS on a tenant's connection: this node and what its members hold of that tenant. */
static void tidald_tenant_stats_text(tidald *d, uint32_t tenant, resp_out *o) {
    tidal_peer_tenant pt;
    resp_out t;
    uint32_t i;
    memset(&t, 0, sizeof t);
    memset(&pt, 0, sizeof pt);
    (void)tidal_peer_tenant_get(d->peer, tenant, &pt);
    outf(&t, "node %u/%u ready %d tenant %u group %u state %u\n", d->cfg.self.region,
         d->cfg.self.shard, d->ready, tenant, pt.group, pt.state);
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        uint64_t ents = 0, sess = 0, bytes = 0;
        if (!db || tidal_tenant_footprint(db, tenant, &ents, &sess, &bytes) != TIDAL_OK)
            continue;
        outf(&t, "group %u entities %llu sessions %llu bytes %llu\n", d->cfg.groups[i].id,
             (unsigned long long)ents, (unsigned long long)sess, (unsigned long long)bytes);
    }
    TIDAL_ASSERT(t.oom || t.n > 0);
    if (t.oom) resp_error_reply(o, "ERR", "out of memory");
    else resp_bulk(o, t.p, t.n);
    resp_out_free(&t);
}

/* HEALTH on a tenant's connection: of tidal_peer_health_text's lines only the regions,
   the leaders of the tenant's owning group and the tenant's move (no node counters, no
   other group or tenant). Filters text in place. */
static void tidald_health_scope(tidald *d, char *text, uint32_t tenant) {
    tidal_peer_tenant pt;
    char *r = text, *w = text, pre[48], mv[48];
    memset(&pt, 0, sizeof pt);
    (void)tidal_peer_tenant_get(d->peer, tenant, &pt);
    snprintf(pre, sizeof pre, "group %u shard ", pt.group);
    snprintf(mv, sizeof mv, "move tenant %u phase ", tenant);
    while (*r) {
        char *nl = strchr(r, '\n');
        size_t n = nl ? (size_t)(nl - r) + 1 : strlen(r);
        int keep = !strncmp(r, "region ", 7) || !strncmp(r, mv, strlen(mv)) ||
                   (pt.has_placement && !strncmp(r, pre, strlen(pre)));
        if (keep) memmove(w, r, n), w += n;
        r += n;
    }
    *w = '\0';
    TIDAL_ASSERT(w <= r);
}

/* CUT / HEAL region shard (admin): tidal_tcp_block on the transport toward that node. */
static void tidald_cut(tidald *d, const tidald_conn *cn, const resp_req *q, resp_out *o) {
    const char *what = q->op == RESP_REQ_CUT ? "CUT" : "HEAL";
    tidal_node_ref n;
    tidal_result r;
    TIDAL_ASSERT(q->op == RESP_REQ_CUT || q->op == RESP_REQ_HEAL);
    if (cn->tenant != 0) {
        resp_error_reply(o, "ERR", "%s: needs the admin token", what);
        d->m.refused_auth++;
        return;
    }
    if (!d->tcp) {
        resp_error_reply(o, "ERR", "%s: a single node has no peers", what);
        d->m.refused_decode++;
        return;
    }
    n.region = (uint16_t)q->region, n.shard = (uint16_t)q->shard;
    r = tidal_tcp_block(d->tcp, n, q->op == RESP_REQ_CUT);
    if (r != TIDAL_OK) {
        resp_error_reply(o, "ERR", "%s: node %u/%u: %s", what, q->region, q->shard,
                         r == TIDAL_ERR_NOT_FOUND ? "not a peer of this node"
                                                  : tidal_strerror(r));
        d->m.refused_decode++;
        return;
    }
    printf("tidald: %s %u/%u\n", q->op == RESP_REQ_CUT ? "cut" : "healed", q->region, q->shard);
    fflush(stdout);
    resp_simple(o, "OK");
}

/* DIGEST [tenant]: one line per member, "group G HEX events N" (tidal_db_digest; events:
   the member's events applied). A tenant's connection: its own tenant only. */
static void tidald_digest(tidald *d, const tidald_conn *cn, const resp_req *q, resp_out *o) {
    uint64_t tenant = cn->tenant ? cn->tenant : q->has_tenant ? q->tenant : TIDAL_ALL_TENANTS;
    resp_out t;
    uint32_t i, k;
    if (cn->tenant && q->has_tenant && q->tenant != cn->tenant) {
        resp_error_reply(o, "ERR", "DIGEST: tenant %u is not this connection's tenant",
                         q->tenant);
        d->m.refused_auth++;
        return;
    }
    memset(&t, 0, sizeof t);
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        tidal_db_stats ds;
        uint8_t h[32];
        char hex[65];
        tidal_result r;
        if (!db) continue;
        r = tidal_db_digest(db, tenant, h);
        if (r != TIDAL_OK) {
            resp_out_free(&t);
            resp_error_reply(o, "ERR", "DIGEST: group %u: %s %s", d->cfg.groups[i].id,
                             tidal_strerror(r), tidal_errmsg(db));
            return;
        }
        for (k = 0; k < 32; k++) snprintf(hex + 2 * k, 3, "%02x", h[k]);
        tidal_db_stats_get(db, &ds);
        outf(&t, "group %u %s events %llu\n", d->cfg.groups[i].id, hex,
             (unsigned long long)ds.events_applied);
    }
    if (t.oom) resp_error_reply(o, "ERR", "out of memory");
    else resp_bulk(o, t.p ? t.p : "", t.n);
    resp_out_free(&t);
}

/* APPLIED id (admin): the groups whose member on this node has folded the event in. */
static void tidald_applied(tidald *d, const tidald_conn *cn, const resp_req *q, resp_out *o) {
    uint32_t i, n = 0, hold[TIDAL_PEER_GROUPS_MAX];
    if (cn->tenant) {
        resp_error_reply(o, "ERR", "APPLIED: needs the admin token");
        d->m.refused_auth++;
        return;
    }
    for (i = 0; i < d->cfg.group_count; i++) {
        tidal_db *db = tidal_peer_member(d->peer, d->cfg.groups[i].id);
        if (db && tidal_event_is_applied(db, q->id)) hold[n++] = d->cfg.groups[i].id;
    }
    resp_array(o, n);
    for (i = 0; i < n; i++) resp_int(o, hold[i]);
}

/* ---- Connections ---- */

static int nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int tidald_listen(const struct sockaddr_in *a, const char *what) {
    struct sockaddr_in got;
    socklen_t n = sizeof got;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    char host[INET_ADDRSTRLEN];
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (const struct sockaddr *)a, sizeof *a) || listen(fd, 128) || nonblock(fd) ||
        getsockname(fd, (struct sockaddr *)&got, &n)) {
        fprintf(stderr, "tidald: %s listener: %s\n", what, strerror(errno));
        exit(1);
    }
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    inet_ntop(AF_INET, &got.sin_addr, host, sizeof host);
    printf("tidald: %s %s:%u\n", what, host, (unsigned)ntohs(got.sin_port));
    fflush(stdout);
    return fd;
}

static void conn_accept(tidald *d, int lfd, int kind) {
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        tidald_conn *c;
        if (fd < 0) return; /* EAGAIN, or a connection gone before accept */
        if (d->n_conns == TIDALD_CONNS_MAX || nonblock(fd) ||
            !(c = (tidald_conn *)calloc(1, sizeof *c))) {
            close(fd);
            continue;
        }
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
        c->fd = fd, c->kind = kind;
        d->conns[d->n_conns++] = c;
        if (kind == TIDALD_CONN_CLIENT) d->m.conns_total++;
    }
}

/* Parses and starts every complete command in the input buffer. */
static void conn_commands(tidald *d, tidald_conn *c) {
    size_t at = 0;
    static resp_cmd rc;
    while (!c->closing) {
        size_t used = 0;
        resp_error err;
        int r = resp_parse(c->in + at, c->in_n - at, &rc, &used, &err);
        if (r == RESP_MORE) break;
        if (r == RESP_BAD) {
            tidald_cmd *e = (tidald_cmd *)calloc(1, sizeof *e);
            if (!e) abort();
            resp_error_reply(&e->reply, "ERR", "Protocol error: %s", err.message);
            e->conn = c, e->done = 1;
            if (c->tail) c->tail->next = e;
            else c->head = e;
            c->tail = e, c->pending++;
            d->m.protocol_errors++;
            c->closing = 1;
            at = c->in_n;
            break;
        }
        TIDAL_ASSERT(used > 0 && used <= c->in_n - at);
        cmd_start(d, c, &rc);
        at += used;
    }
    if (c->closing) at = c->in_n;
    memmove(c->in, c->in + at, c->in_n - at);
    c->in_n -= at;
}

static void conn_http(tidald *d, tidald_conn *c) {
    resp_out body;
    char head[160];
    int n, ok;
    size_t k, end = 0;
    for (k = 0; k + 4 <= c->in_n && !end; k++)
        if (!memcmp(c->in + k, "\r\n\r\n", 4)) end = k + 4;
    if (!end && c->in_n < 8192 && !c->closing) return; /* the request is not whole yet */
    ok = c->in_n > 13 && !memcmp(c->in, "GET /metrics ", 13);
    memset(&body, 0, sizeof body);
    if (ok) {
        tidald_metrics_body(d, &body);
    } else {
        resp_put(&body, "not found: GET /metrics\n", 24);
    }
    n = snprintf(head, sizeof head, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 ok ? "200 OK" : "404 Not Found", body.n);
    resp_put(&c->out, head, (size_t)n);
    resp_put(&c->out, body.p ? body.p : "", body.n);
    resp_out_free(&body);
    c->in_n = 0;
    c->closing = 1;
}

static void conn_read(tidald *d, tidald_conn *c) {
    for (;;) {
        ssize_t k;
        if (c->in_cap - c->in_n < 65536) {
            char *p = (char *)realloc(c->in, c->in_cap + 65536);
            if (!p) {
                c->closing = 1;
                return;
            }
            c->in = p, c->in_cap += 65536;
        }
        k = read(c->fd, c->in + c->in_n, c->in_cap - c->in_n);
        if (k > 0) {
            c->in_n += (size_t)k;
            if (c->in_n >= (1u << 20)) break; /* parse what came; read more next turn */
            continue;
        }
        if (k == 0) c->closing = 1; /* end of input: answer what came, then close */
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c->dead = 1;
        break;
    }
    if (c->kind == TIDALD_CONN_HTTP) conn_http(d, c);
    else conn_commands(d, c);
}

/* Moves answered commands, in order, to the output; writes what the socket takes. */
static void conn_flush(tidald_conn *c) {
    while (c->head && c->head->done) {
        tidald_cmd *x = c->head;
        c->head = x->next;
        if (!c->head) c->tail = NULL;
        c->pending--;
        if (!c->dead) resp_put(&c->out, x->reply.p ? x->reply.p : "", x->reply.n);
        resp_out_free(&x->reply);
        free(x->hits);
        free(x);
    }
    while (!c->dead && c->out_off < c->out.n) {
        ssize_t k = send(c->fd, c->out.p + c->out_off, c->out.n - c->out_off, MSG_NOSIGNAL);
        if (k > 0) {
            c->out_off += (size_t)k;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        c->dead = 1;
    }
    if (c->out_off == c->out.n) c->out.n = c->out_off = 0;
    if (c->out.oom) c->dead = 1;
}

/* Frees the connections that are finished: closed by the client or by us once flushed. */
static void conn_reap(tidald *d) {
    uint32_t i = 0;
    while (i < d->n_conns) {
        tidald_conn *c = d->conns[i];
        int flushed = c->out.n == 0 && !c->head;
        if ((c->closing && flushed) || c->dead) {
            if (c->fd >= 0) close(c->fd);
            c->fd = -1, c->dead = 1;
        }
        if (c->dead && !c->head) {
            free(c->in);
            resp_out_free(&c->out);
            free(c);
            d->conns[i] = d->conns[--d->n_conns];
            continue;
        }
        i++;
    }
}

/* ---- Main loop ---- */

static int data_dir_empty(const char *path) {
    DIR *dir = opendir(path);
    struct dirent *e;
    int empty = 1;
    if (!dir) return errno == ENOENT;
    while ((e = readdir(dir)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = 0;
    closedir(dir);
    return empty;
}

static void tidald_open(tidald *d) {
    tidal_peer_config pc;
    char msg[512];
    tidal_result r;
    memset(&pc, 0, sizeof pc);
    pc.env = tidal_env_posix();
    if (d->cfg.regions * d->cfg.shards > 1) {
        static tidal_tcp_peer_addr addrs[TIDALD_PEERS_MAX];
        static char text[TIDALD_PEERS_MAX + 1][64];
        tidal_tcp_config tc;
        uint32_t i;
        memset(&tc, 0, sizeof tc);
        for (i = 0; i <= d->cfg.peer_count; i++) {
            const struct sockaddr_in *a = i < d->cfg.peer_count ? &d->cfg.peers[i].addr
                                                                : &d->cfg.transport;
            char host[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            snprintf(text[i], sizeof text[i], "%s:%u", host, (unsigned)ntohs(a->sin_port));
            if (i < d->cfg.peer_count) addrs[i].node = d->cfg.peers[i].node, addrs[i].addr = text[i];
        }
        tc.self = d->cfg.self;
        tc.listen = text[d->cfg.peer_count];
        tc.peers = addrs;
        tc.peer_count = d->cfg.peer_count;
        memcpy(tc.cluster_key, d->cfg.cluster_key, sizeof tc.cluster_key);
        r = tidal_tcp_open(&tc, &d->tcp, msg, sizeof msg);
        if (r != TIDAL_OK) {
            fprintf(stderr, "tidald: transport %s: %s: %s\n", tc.listen, tidal_strerror(r), msg);
            exit(1);
        }
        pc.env = tidal_tcp_env(d->tcp);
        printf("tidald: transport %s\n", tc.listen);
    }
    pc.path = d->cfg.data;
    pc.self = d->cfg.self;
    pc.regions = d->cfg.regions, pc.shards = d->cfg.shards;
    pc.groups = d->cfg.groups, pc.group_count = d->cfg.group_count;
    pc.member.schema.signals = d->cfg.sigs;
    pc.member.schema.signal_count = d->cfg.sig_count;
    pc.member.schema.cohort_keys = d->cfg.cohort_ptrs;
    pc.member.schema.cohort_key_count = d->cfg.cohort_count;
    pc.member.schema.profiles = d->cfg.profiles;
    pc.member.schema.profile_count = d->cfg.profile_count;
    pc.member.fsync_policy = d->cfg.fsync;
    pc.member.group_bootstrap = d->cfg.bootstrap && data_dir_empty(d->cfg.data);
    r = tidal_peer_open(&pc, &d->peer, msg, sizeof msg);
    if (r != TIDAL_OK) {
        fprintf(stderr, "tidald: open %s: %s: %s\n", d->cfg.data, tidal_strerror(r), msg);
        exit(1);
    }
    d->schema.signals = d->cfg.sig_name_ptrs;
    d->schema.signal_count = d->cfg.sig_count;
}

/* A peer message the transport authenticated: to the node. */
static void tidald_deliver(void *ctx, tidal_node_ref from, const void *bytes, size_t len) {
    tidald *d = (tidald *)ctx;
    (void)tidal_peer_receive(d->peer, from, bytes, len); /* refusals are counted there */
}

/* One turn: poll, accept, read and start every complete command, commit once, tick,
   answer. Returns 0 when a shutdown has finished. */
static int tidald_turn(tidald *d, int stopping, int64_t deadline) {
    static struct pollfd fds[TIDALD_CONNS_MAX + 8 + TIDAL_TCP_POLLFDS_MAX];
    static tidald_conn *who[TIDALD_CONNS_MAX + 8];
    nfds_t n = 0, k, own;
    size_t tn = 0;
    int timeout = TIDALD_TICK_MS;
    uint32_t i;
    int busy = 0;
    if (!stopping) {
        fds[n].fd = d->lfd, fds[n].events = POLLIN, who[n++] = NULL;
        if (d->mfd >= 0) fds[n].fd = d->mfd, fds[n].events = POLLIN, who[n++] = NULL;
    }
    for (i = 0; i < d->n_conns; i++) {
        tidald_conn *c = d->conns[i];
        short ev = 0;
        if (c->dead) continue;
        if (!c->closing && !stopping && c->out.n < TIDALD_OUT_HIGH &&
            c->pending < TIDALD_PENDING_HIGH)
            ev |= POLLIN;
        if (c->out.n > c->out_off) ev |= POLLOUT;
        fds[n].fd = c->fd, fds[n].events = ev, who[n++] = c;
    }
    own = n; /* the transport's sockets follow the node's own */
    if (d->tcp && tidal_tcp_pollfds(d->tcp, fds + n, TIDAL_TCP_POLLFDS_MAX, &tn, &timeout) !=
                      TIDAL_OK)
        tn = 0;
    (void)poll(fds, n + tn, timeout);
    if (d->tcp) (void)tidal_tcp_handle(d->tcp, fds + n, tn, tidald_deliver, d);
    /* Answer what the peers' messages just completed (acknowledgments that made a quorum)
       before this turn's commit blocks in its fdatasync: the clients send their next
       commands meanwhile instead of after it. */
    tidald_drain(d);
    for (i = 0; i < d->n_conns; i++) conn_flush(d->conns[i]);
    for (k = 0; k < own; k++) {
        if (!fds[k].revents) continue;
        if (!who[k]) {
            conn_accept(d, fds[k].fd, fds[k].fd == d->lfd ? TIDALD_CONN_CLIENT : TIDALD_CONN_HTTP);
        } else if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (fds[k].events & POLLIN) conn_read(d, who[k]);
            else if (fds[k].revents & (POLLHUP | POLLERR)) who[k]->dead = 1;
        }
    }
    tidald_commit(d); /* one fdatasync per member for everything started above */
    {
        /* A tick's error is reported once when it starts (it may repeat every turn). */
        tidal_result r = tidal_peer_tick(d->peer);
        if (r != d->last_tick && r != TIDAL_OK && r != TIDAL_ERR_STALE_CONFIG &&
            r != TIDAL_ERR_UNAVAILABLE)
            fprintf(stderr, "tidald: tick: %s %s\n", tidal_strerror(r), tidal_peer_errmsg(d->peer));
        d->last_tick = r;
    }
    tidald_drain(d);
    tidald_boot_step(d);
    tidald_watch(d);
    for (i = 0; i < d->n_conns; i++) {
        conn_flush(d->conns[i]);
        if (d->conns[i]->head || (!d->conns[i]->dead && d->conns[i]->out.n)) busy = 1;
    }
    conn_reap(d);
    return !(stopping && (!busy || mono_ns() > deadline));
}

int main(int argc, char **argv) {
    static tidald d;
    char err[512];
    struct sigaction sa;
    int64_t deadline = 0, handover = 0;
    int stopping = 0;
    uint32_t i, leading = 0, started = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: tidald CONFIG_FILE\n");
        return 2;
    }
    if (tidald_config_read(argv[1], &d.cfg, err, sizeof err)) {
        fprintf(stderr, "tidald: %s\n", err);
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = tidald_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    tidald_open(&d);
    d.lfd = tidald_listen(&d.cfg.resp, "resp");
    d.mfd = d.cfg.has_metrics ? tidald_listen(&d.cfg.metrics, "metrics") : -1;
    for (;;) {
        if (tidald_stop && !stopping && d.tcp) { /* a cluster: hand leadership over first */
            if (!handover) {
                handover = mono_ns() + TIDALD_SHUTDOWN_NS;
                (void)tidal_peer_step_down(d.peer, &leading, &started);
                printf("tidald: stepping down: %u leadership(s), %u handed over\n", leading,
                       started);
                fflush(stdout);
            } else {
                (void)tidal_peer_step_down(d.peer, &leading, &started);
            }
            if (leading && mono_ns() < handover) {
                (void)tidald_turn(&d, 0, 0);
                continue;
            }
        }
        if (tidald_stop && !stopping) {
            /* Stop accepting; answer what is in flight; then close. */
            stopping = 1;
            deadline = mono_ns() + TIDALD_SHUTDOWN_NS;
            close(d.lfd);
            if (d.mfd >= 0) close(d.mfd);
        }
        if (!tidald_turn(&d, stopping, deadline)) break;
    }
    tidald_commit(&d);
    for (i = 0; i < d.n_conns; i++) {
        tidald_conn *c = d.conns[i];
        if (c->fd >= 0) close(c->fd);
        while (c->head) {
            tidald_cmd *x = c->head;
            c->head = x->next;
            resp_out_free(&x->reply);
            free(x->hits);
            free(x);
        }
        free(c->in);
        resp_out_free(&c->out);
        free(c);
    }
    free(d.slot);
    fflush(stdout);
    tidal_peer_close(d.peer);
    tidal_tcp_close(d.tcp);
    printf("tidald: stopped\n");
    return 0;
}
