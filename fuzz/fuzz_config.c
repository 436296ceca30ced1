/* fuzz_config.c - libFuzzer target for the schema and config loader: every field and every
   bound of tidal_schema (signal definitions, cohort keys, profiles and their terms) and
   tidal_config as tidal_db_open validates them, tidal_db_schema_append, and
   tidal_tenant_set's tidal_tenant_config.

   The input is read as choices (bytes past the end read 0): each field takes a value from a
   list that holds both sides of every documented bound (names of 1, 64 and 65 bytes, a bad
   character, a repeat, NULL; half-lives at TIDAL_HALF_LIFE_MIN_S and _MAX_S and just past
   them, 0 with and without permanent, NaN, infinities; window bits with an unknown one;
   counts 0, the maximum and one over; NULL arrays with a count; unknown and NULL profile
   signals, non-finite weights; config durations of -1, 0 and 1; limits at and over their
   ceilings; a replica group that lacks the node, repeats one, has no path or too many
   members; an env of a bad version or without a clock or random method; paths "" and of
   TIDAL_PATH_MAX + 1 bytes) or, rarely, raw bytes. With a path the database lives on a
   tidal_sim.h disk in memory.

   The harness's own reading of the contract in tidal.h (fc_expect) says what open must do,
   and in which order the loader reports: every tidal_config violation is TIDAL_ERR_INVALID
   with a message naming config; otherwise the first schema violation in declaration order is
   TIDAL_ERR_SCHEMA with a message naming that field and index (e.g. "signals[3].half_life_s",
   "profiles[1].terms[0]").

   Properties (a violation prints the law and aborts, which libFuzzer reports as a crash):
     1. no crash, no sanitizer report, no leak;
     2. open returns exactly what the contract says: TIDAL_OK for a valid config, else the
        code above with a message (tidal_db_open_msg) naming the field, and no handle;
     3. an opened schema round-trips: tidal_db_schema_get gives back every signal (name,
        half-life bit for bit, windows as kept: the all-time bit set, 0 = all; permanent and
        negative), cohort key and profile (name, terms with signal and weight); a second
        database opened with that schema reads back the same; with a path, a reopen that
        adopts the stored schema (signal_count 0) reads back the same;
     4. tidal_db_schema_append of the current schema plus appended signals, keys and profiles
        (themselves fuzzed) does what the contract says: TIDAL_OK exactly when the whole
        schema is valid, then schema_get is the new one; TIDAL_ERR_SCHEMA otherwise, and
        also when it changes a half-life or window set or drops the last signal, naming a
        field; a refused append leaves schema_get as it was; appending the current schema
        again is a no-op (TIDAL_OK);
     5. tidal_tenant_set refuses a negative, non-finite or over 1e12 rate or burst and a
        state above TIDAL_TENANT_SEALED (TIDAL_ERR_INVALID), an older config_version than
        the one in force (TIDAL_ERR_STALE_CONFIG), and otherwise sets it: usage reads back
        with no entities and a full bucket (burst, else the rate, at least 1) for a new
        tenant; a refused set changes what usage reads nothing. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include "fuzz_alloc.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FC_NOW (INT64_C(1790000000) * TIDAL_NS_PER_S)
#define FC_SIGS (TIDAL_SIGNAL_TYPES_MAX + 2)
#define FC_KEYS (TIDAL_COHORT_KEYS_MAX + 2)
#define FC_PROFS (TIDAL_PROFILES_MAX + 2)
#define FC_TERMS (TIDAL_PROFILE_TERMS_MAX + 2)
#define FC_NAME 80 /* room for TIDAL_NAME_MAX + 1 and a NUL */

static void fc_require(int ok, const char *what) {
    if (ok) return;
    fprintf(stderr, "fuzz property failed: %s\n", what);
    abort();
}

typedef struct fc_in {
    const uint8_t *p;
    size_t n, pos;
} fc_in;

static uint8_t fc_u8(fc_in *in) { return in->pos < in->n ? in->p[in->pos++] : 0; }

static uint64_t fc_u64(fc_in *in) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v |= (uint64_t)fc_u8(in) << (8 * i);
    return v;
}

static double fc_raw_f64(fc_in *in) {
    uint64_t u = fc_u64(in);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* The schema and config under construction: owns every string and array it points to. */
typedef struct fc_build {
    char sig_name[FC_SIGS][FC_NAME], key_name[FC_KEYS][FC_NAME], prof_name[FC_PROFS][FC_NAME];
    char term_sig[FC_PROFS][FC_TERMS][FC_NAME];
    tidal_signal_def sigs[FC_SIGS];
    const char *keys[FC_KEYS];
    tidal_profile_term terms[FC_PROFS][FC_TERMS];
    tidal_profile_def profs[FC_PROFS];
    tidal_schema schema;
    tidal_node_ref reps[TIDAL_REPLICAS_MAX + 1];
    char path[TIDAL_PATH_MAX + 2];
} fc_build;

/* A name into out, or NULL: valid ones, the longest valid, one byte too long, empty, a bad
   character, or a repeat of prev[k] (an earlier name of the same list). */
static const char *fc_name(fc_in *in, char *out, char prev[][FC_NAME], uint32_t n_prev,
                           const char *stem, uint32_t i) {
    uint8_t c = fc_u8(in);
    switch (c % 16) {
    case 0: return NULL;
    case 1: out[0] = 0; break;
    case 2: memset(out, 'n', TIDAL_NAME_MAX), out[TIDAL_NAME_MAX] = 0; break;
    case 3: memset(out, 'x', TIDAL_NAME_MAX + 1), out[TIDAL_NAME_MAX + 1] = 0; break;
    case 4: snprintf(out, FC_NAME, "%s %u", stem, (unsigned)i); break;
    case 5: snprintf(out, FC_NAME, "%s/%u", stem, (unsigned)i); break;
    case 6: snprintf(out, FC_NAME, "caf\xc3\xa9%u", (unsigned)i); break;
    case 7:
        if (n_prev) {
            snprintf(out, FC_NAME, "%s", prev[(c >> 4) % n_prev]);
            break;
        }
        /* fall through */
    case 8: snprintf(out, FC_NAME, "A-z_0.9-%u", (unsigned)i); break;
    default: snprintf(out, FC_NAME, "%s%u", stem, (unsigned)i); break;
    }
    return out;
}

static double fc_half_life(fc_in *in) {
    static const double v[16] = {3600.0, 86400.0, 1.0, TIDAL_HALF_LIFE_MIN_S, TIDAL_HALF_LIFE_MAX_S,
                                 0.0, -1.0, 1e-10, 3.2000001e8, 0.5e-9, 1e300, 3600.5,
                                 0.0, 0.0, 0.0, 0.0};
    uint8_t c = fc_u8(in);
    if (c % 16 == 12) return NAN;
    if (c % 16 == 13) return INFINITY;
    if (c % 16 == 14) return -INFINITY;
    if (c % 16 == 15) return fc_raw_f64(in);
    return v[c % 16];
}

static double fc_weight(fc_in *in) {
    static const double v[8] = {1.0, -1.0, 0.25, 0.0, 1e300, -1e-300, 7.0, 2.0};
    uint8_t c = fc_u8(in);
    if (c % 16 == 8) return NAN;
    if (c % 16 == 9) return INFINITY;
    if (c % 16 == 10) return -INFINITY;
    if (c % 16 == 11) return fc_raw_f64(in);
    return v[c % 8];
}

/* A count for a list of at most max: mostly small, sometimes max, max + 1 or 0. */
static uint32_t fc_count(fc_in *in, uint32_t max, uint32_t usual) {
    uint8_t c = fc_u8(in);
    switch (c % 8) {
    case 0: return 0;
    case 1: return max;
    case 2: return max + 1;
    default: return 1 + (uint32_t)(c >> 3) % usual;
    }
}

/* Signals [from, to) of b->sigs, names distinct from the earlier ones unless the input
   repeats one. */
static void fc_signals(fc_in *in, fc_build *b, uint32_t from, uint32_t to) {
    uint32_t i;
    for (i = from; i < to && i < FC_SIGS; i++) {
        tidal_signal_def *d = &b->sigs[i];
        uint8_t f = fc_u8(in);
        d->name = fc_name(in, b->sig_name[i], b->sig_name, i, "sig", i);
        d->half_life_s = fc_half_life(in);
        d->windows = f & 64 ? (uint32_t)fc_u64(in) : (uint32_t)(f & 0x3F) & (f & 128 ? 0x3F : 0x1F);
        d->permanent = f & 1 ? (f & 2 ? 1 : -7) : 0;
        d->negative = f & 4 ? 1 : 0;
        if ((f & 0x18) == 0x18) d->half_life_s = 0.0, d->permanent = 1; /* often valid */
    }
}

static void fc_keys(fc_in *in, fc_build *b, uint32_t from, uint32_t to) {
    uint32_t i;
    for (i = from; i < to && i < FC_KEYS; i++)
        b->keys[i] = fc_name(in, b->key_name[i], b->key_name, i, "key", i);
}

static void fc_profiles(fc_in *in, fc_build *b, uint32_t from, uint32_t to) {
    uint32_t i, j;
    for (i = from; i < to && i < FC_PROFS; i++) {
        tidal_profile_def *p = &b->profs[i];
        uint8_t f = fc_u8(in);
        p->name = fc_name(in, b->prof_name[i], b->prof_name, i, "prof", i);
        p->term_count = fc_count(in, TIDAL_PROFILE_TERMS_MAX, 3);
        p->terms = f & 1 ? NULL : b->terms[i];
        for (j = 0; j < p->term_count && j < FC_TERMS; j++) {
            uint8_t c = fc_u8(in);
            uint32_t n = b->schema.signal_count < FC_SIGS ? b->schema.signal_count : FC_SIGS;
            if (c % 8 == 0) b->terms[i][j].signal = NULL;
            else if (c % 8 == 1 || !n || !b->sigs[(c >> 3) % n].name)
                snprintf(b->term_sig[i][j], FC_NAME, "nosuch%u", (unsigned)j),
                    b->terms[i][j].signal = b->term_sig[i][j];
            else
                snprintf(b->term_sig[i][j], FC_NAME, "%s", b->sigs[(c >> 3) % n].name),
                    b->terms[i][j].signal = b->term_sig[i][j];
            b->terms[i][j].weight = fc_weight(in);
        }
    }
}

/* ---- The contract, as the harness reads tidal.h -------------------------------------------- */

static int fc_name_ok(const char *s) {
    size_t n;
    if (!s) return 0;
    for (n = 0; s[n]; n++) {
        char c = s[n];
        if (n >= TIDAL_NAME_MAX) return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* The first schema violation in the loader's order, as the start of the message it gives
   ("" when the schema is valid). */
static void fc_schema_why(const tidal_schema *s, char *why, size_t cap) {
    uint32_t i, j, k;
    why[0] = 0;
    if (!s->signals || !s->signal_count || s->signal_count > TIDAL_SIGNAL_TYPES_MAX) {
        snprintf(why, cap, "signal_count"); /* 0 with a path: "signal_count 0 adopts..." */
        return;
    }
    for (i = 0; i < s->signal_count; i++) {
        const tidal_signal_def *d = &s->signals[i];
        if (!fc_name_ok(d->name)) {
            snprintf(why, cap, "signals[%u].name", i);
            return;
        }
        if (d->permanent ? d->half_life_s != 0.0
                         : !(d->half_life_s >= TIDAL_HALF_LIFE_MIN_S &&
                             d->half_life_s <= TIDAL_HALF_LIFE_MAX_S)) {
            snprintf(why, cap, "signals[%u].half_life_s", i);
            return;
        }
        if (d->windows & ~(uint32_t)0x1F) {
            snprintf(why, cap, "signals[%u].windows", i);
            return;
        }
        for (j = 0; j < i; j++)
            if (!strcmp(s->signals[j].name, d->name)) {
                snprintf(why, cap, "signals[%u].name", i);
                return;
            }
    }
    if (s->cohort_key_count > TIDAL_COHORT_KEYS_MAX || (s->cohort_key_count && !s->cohort_keys)) {
        snprintf(why, cap, "schema.cohort_key_count");
        return;
    }
    for (i = 0; i < s->cohort_key_count; i++) {
        if (!fc_name_ok(s->cohort_keys[i])) {
            snprintf(why, cap, "cohort_keys[%u]", i);
            return;
        }
        for (j = 0; j < i; j++)
            if (!strcmp(s->cohort_keys[j], s->cohort_keys[i])) {
                snprintf(why, cap, "cohort_keys[%u]", i);
                return;
            }
    }
    if (s->profile_count > TIDAL_PROFILES_MAX || (s->profile_count && !s->profiles)) {
        snprintf(why, cap, "schema.profile_count");
        return;
    }
    for (i = 0; i < s->profile_count; i++) {
        const tidal_profile_def *p = &s->profiles[i];
        if (!fc_name_ok(p->name)) {
            snprintf(why, cap, "profiles[%u].name", i);
            return;
        }
        for (j = 0; j < i; j++)
            if (!strcmp(s->profiles[j].name, p->name)) {
                snprintf(why, cap, "profiles[%u].name", i);
                return;
            }
        if (!p->terms || !p->term_count || p->term_count > TIDAL_PROFILE_TERMS_MAX) {
            snprintf(why, cap, "profiles[%u].term_count", i);
            return;
        }
        for (j = 0; j < p->term_count; j++) {
            for (k = 0; k < s->signal_count; k++)
                if (p->terms[j].signal && !strcmp(p->terms[j].signal, s->signals[k].name)) break;
            if (k == s->signal_count || !isfinite(p->terms[j].weight)) {
                snprintf(why, cap, "profiles[%u].terms[%u]", i, j);
                return;
            }
        }
    }
}

/* 1 when a tidal_config field (not the schema) breaks the contract. */
static int fc_config_bad(const tidal_config *c) {
    uint32_t i, j, self = 0;
    if (c->path && (!c->path[0] || strlen(c->path) > TIDAL_PATH_MAX)) return 1;
    if (c->fsync_policy > TIDAL_FSYNC_NONE || c->batch_delay_ns < 0 ||
        c->batch_events_max > TIDAL_BATCH_EVENTS_MAX)
        return 1;
    if (c->group > 0xFF) return 1;
    if (c->replica_count > TIDAL_REPLICAS_MAX || (c->replica_count && (!c->replicas || !c->path)))
        return 1;
    if (c->heartbeat_ns < 0 || c->retransmit_ns < 0 || c->quorum_wait_ns < 0 ||
        c->clock_ahead_max_ns < 0 || c->future_bound_ns < 0 || c->idempotency_window_ns < 0)
        return 1;
    for (i = 0; i < c->replica_count; i++) {
        for (j = 0; j < i; j++)
            if (c->replicas[j].region == c->replicas[i].region &&
                c->replicas[j].shard == c->replicas[i].shard)
                return 1;
        if (c->replicas[i].region == c->node.region && c->replicas[i].shard == c->node.shard)
            self = 1;
    }
    if (c->replica_count && !self) return 1;
    if (c->retrieve_limit_max > TIDAL_LIMIT_MAX || c->session_events_max > TIDAL_SESSION_EVENTS_MAX)
        return 1;
    if (c->env && (c->env->version < 1 || c->env->version > TIDAL_ENV_VERSION ||
                   !c->env->clock_wall_ns || !c->env->random_fill))
        return 1;
    if (c->env && c->path && c->env->version >= 2 && (!c->env->dir_lock || !c->env->dir_unlock))
        return 1;
    return 0;
}

/* ---- Checks ----------------------------------------------------------------------------- */

/* schema_get's answer equals s (as kept: windows with the all-time bit, 0 = all). */
static void fc_same_schema(const tidal_schema *s, const tidal_schema *g, const char *what) {
    uint32_t i, j;
    fc_require(g->signal_count == s->signal_count && g->cohort_key_count == s->cohort_key_count &&
                   g->profile_count == s->profile_count,
               what);
    for (i = 0; i < s->signal_count; i++) {
        const tidal_signal_def *a = &s->signals[i], *b = &g->signals[i];
        uint32_t w = a->windows ? a->windows | TIDAL_WINDOW_ALL : 0x1F;
        fc_require(!strcmp(a->name, b->name) && !memcmp(&a->half_life_s, &b->half_life_s, 8) &&
                       b->windows == w && !a->permanent == !b->permanent &&
                       !a->negative == !b->negative,
                   what);
    }
    for (i = 0; i < s->cohort_key_count; i++)
        fc_require(!strcmp(s->cohort_keys[i], g->cohort_keys[i]), what);
    for (i = 0; i < s->profile_count; i++) {
        const tidal_profile_def *a = &s->profiles[i], *b = &g->profiles[i];
        fc_require(!strcmp(a->name, b->name) && a->term_count == b->term_count, what);
        for (j = 0; j < a->term_count; j++)
            fc_require(!strcmp(a->terms[j].signal, b->terms[j].signal) &&
                           !memcmp(&a->terms[j].weight, &b->terms[j].weight, 8),
                       what);
    }
}

/* A deep copy of a schema_get answer (it lives only until the next call on the handle) into
   o's schema; o's path and replicas, which a config may point to, stay. */
static void fc_copy(fc_build *o, const tidal_schema *s) {
    uint32_t i, j;
    memset(o, 0, offsetof(fc_build, reps));
    fc_require(s->signal_count <= FC_SIGS && s->cohort_key_count <= FC_KEYS &&
                   s->profile_count <= FC_PROFS,
               "schema_get counts within bounds");
    for (i = 0; i < s->signal_count; i++) {
        o->sigs[i] = s->signals[i];
        snprintf(o->sig_name[i], FC_NAME, "%s", s->signals[i].name);
        o->sigs[i].name = o->sig_name[i];
    }
    for (i = 0; i < s->cohort_key_count; i++) {
        snprintf(o->key_name[i], FC_NAME, "%s", s->cohort_keys[i]);
        o->keys[i] = o->key_name[i];
    }
    for (i = 0; i < s->profile_count; i++) {
        fc_require(s->profiles[i].term_count <= FC_TERMS, "schema_get term count within bounds");
        snprintf(o->prof_name[i], FC_NAME, "%s", s->profiles[i].name);
        o->profs[i].name = o->prof_name[i];
        o->profs[i].term_count = s->profiles[i].term_count;
        o->profs[i].terms = o->terms[i];
        for (j = 0; j < s->profiles[i].term_count; j++) {
            snprintf(o->term_sig[i][j], FC_NAME, "%s", s->profiles[i].terms[j].signal);
            o->terms[i][j].signal = o->term_sig[i][j];
            o->terms[i][j].weight = s->profiles[i].terms[j].weight;
        }
    }
    o->schema.signals = o->sigs;
    o->schema.signal_count = s->signal_count;
    o->schema.cohort_keys = o->keys;
    o->schema.cohort_key_count = s->cohort_key_count;
    o->schema.profiles = o->profs;
    o->schema.profile_count = s->profile_count;
}

static void fc_msg_names(const char *msg, const char *want, const char *what) {
    if (strstr(msg, want)) return;
    fprintf(stderr, "message \"%s\" does not name \"%s\"\n", msg, want);
    fc_require(0, what);
}

/* ---- Per input ---------------------------------------------------------------------------- */

typedef struct fc_envs {
    tidal_sim_disk *disk;
    tidal_sim_env sim;
    tidal_env bad;
} fc_envs;

static uint64_t fc_rng;
static void fc_random(void *user, void *buf, size_t len) {
    size_t i;
    (void)user;
    for (i = 0; i < len; i++) ((uint8_t *)buf)[i] = (uint8_t)(tidal__mix64(++fc_rng) >> 7);
}
static int64_t fc_clock(void *user) {
    (void)user;
    return FC_NOW;
}

/* The config's non-schema fields from the input. */
static void fc_config(fc_in *in, fc_build *b, fc_envs *v, tidal_config *cfg) {
    static const int64_t dur[4] = {0, 1, -1, 250 * 1000 * 1000};
    uint8_t f = fc_u8(in), g = fc_u8(in), h = fc_u8(in), k = fc_u8(in);
    uint32_t i;
    memset(cfg, 0, sizeof *cfg);
    cfg->allocator = &fz_allocator;
    cfg->schema = b->schema;
    /* Environment: the simulated disk's (with a path), or an env that breaks a rule. */
    v->bad = v->sim.env;
    cfg->env = &v->sim.env;
    switch (f % 16) {
    case 0: v->bad.version = 0, cfg->env = &v->bad; break;
    case 1: v->bad.version = TIDAL_ENV_VERSION + 1, cfg->env = &v->bad; break;
    case 2: v->bad.clock_wall_ns = NULL, cfg->env = &v->bad; break;
    case 3: v->bad.random_fill = NULL, cfg->env = &v->bad; break;
    case 4: v->bad.dir_lock = NULL, cfg->env = &v->bad; break;
    case 5: /* version 1: no lock methods, and none needed */
        v->bad.version = 1, v->bad.dir_lock = NULL, v->bad.dir_unlock = NULL, cfg->env = &v->bad;
        break;
    default: break;
    }
    /* Path: none (ephemeral), "db", "", or one byte too long. */
    switch ((f >> 4) % 8) {
    case 0: case 1: case 2: cfg->path = NULL; break;
    case 3: b->path[0] = 0, cfg->path = b->path; break;
    case 4:
        memset(b->path, 'p', TIDAL_PATH_MAX + 1), b->path[TIDAL_PATH_MAX + 1] = 0;
        cfg->path = b->path;
        break;
    default: snprintf(b->path, sizeof b->path, "db"), cfg->path = b->path; break;
    }
    cfg->node.region = (uint16_t)(g % 3);
    cfg->node.shard = 0;
    /* Replicas: none mostly; a group with or without this node, a repeat, too many. */
    if (g & 8) {
        uint32_t n = (g >> 4) % (TIDAL_REPLICAS_MAX + 2); /* 0 .. one too many */
        for (i = 0; i < n; i++) {
            b->reps[i].region = (uint16_t)i;
            b->reps[i].shard = 0;
        }
        if ((g & 4) && n > 1) b->reps[n - 1] = b->reps[0];
        cfg->replicas = (g & 2) && n ? NULL : b->reps;
        cfg->replica_count = n;
        cfg->group_bootstrap = 1;
    }
    cfg->fsync_policy = h % 4;
    cfg->batch_delay_ns = dur[(h >> 2) % 4];
    cfg->batch_events_max = (h >> 4) % 4 == 1 ? TIDAL_BATCH_EVENTS_MAX
                          : (h >> 4) % 4 == 2 ? TIDAL_BATCH_EVENTS_MAX + 1 : (h >> 4) % 4;
    cfg->group = h & 64 ? (h & 128 ? 256u : 255u) : 0;
    cfg->heartbeat_ns = k % 16 == 1 ? -1 : 0;
    cfg->retransmit_ns = k % 16 == 2 ? -1 : 0;
    cfg->quorum_wait_ns = k % 16 == 3 ? -1 : 0;
    cfg->clock_ahead_max_ns = k % 16 == 4 ? -1 : 0;
    cfg->future_bound_ns = k % 16 == 5 ? -1 : dur[(k >> 4) % 2];
    cfg->idempotency_window_ns = k % 16 == 6 ? -1 : dur[(k >> 5) % 2];
    cfg->election_timeout_ns = k % 16 == 7 ? -1 : 0; /* no bound: <= 0 means the default */
    cfg->retrieve_limit_max = k % 16 == 8 ? TIDAL_LIMIT_MAX : k % 16 == 9 ? TIDAL_LIMIT_MAX + 1 : 0;
    cfg->session_events_max = k % 16 == 10 ? TIDAL_SESSION_EVENTS_MAX
                            : k % 16 == 11 ? TIDAL_SESSION_EVENTS_MAX + 1 : 0;
    cfg->time_min_ns = k % 16 == 12 ? -1 : 0;
    cfg->segment_bytes_max = k % 16 == 13 ? 1 : 0;
    cfg->snapshot_log_bytes = k % 16 == 14 ? TIDAL_SNAPSHOT_LOG_BYTES_OFF : 0;
}

/* Open with the expectation fc_expect gives; returns the handle or NULL. */
static tidal_db *fc_open(const tidal_config *cfg, const char *what) {
    char msg[512], why[64];
    tidal_db *db = NULL;
    tidal_result r, want;
    fc_schema_why(&cfg->schema, why, sizeof why);
    if (fc_config_bad(cfg)) want = TIDAL_ERR_INVALID;
    else if (!cfg->schema.signal_count && cfg->path && !cfg->schema.cohort_key_count &&
             !cfg->schema.profile_count)
        want = TIDAL_OK; /* adopts the stored schema: the caller knows whether there is one */
    else want = why[0] || !cfg->schema.signal_count ? TIDAL_ERR_SCHEMA : TIDAL_OK;
    msg[0] = 0;
    r = tidal_db_open_msg(cfg, &db, msg, sizeof msg);
#ifdef FC_TRACE /* -DFC_TRACE: what each open did, for checking the seeds */
    fprintf(stderr, "%s: %s %s\n", what, tidal_strerror(r), msg);
#endif
    if (r != want) {
        fprintf(stderr, "%s: open: %s (%s), the contract says %s (%s)\n", what, tidal_strerror(r),
                msg, tidal_strerror(want), why);
        fc_require(0, "open returns what the contract says");
    }
    if (r != TIDAL_OK) {
        fc_require(db == NULL, "a refused open hands out no handle");
        fc_require(msg[0] != 0, "a refused open says why");
        if (r == TIDAL_ERR_INVALID) fc_msg_names(msg, "config", "a config refusal names config");
        else if (why[0]) fc_msg_names(msg, why, "a schema refusal names the field and index");
        else fc_msg_names(msg, "schema", "a schema refusal names the schema");
    }
    return db;
}

static void fc_tenants(fc_in *in, tidal_db *db) {
    static const double vals[12] = {0.0, 1.0, 0.5, 100.0, 1e12, 1e12 * 1.0000001, -1.0, -0.0,
                                    3.0, 1e-300, 0.0, 0.0};
    uint32_t n = fc_u8(in) % 5, i;
    for (i = 0; i < n; i++) {
        tidal_tenant_config t;
        uint8_t a = fc_u8(in), b = fc_u8(in), c = fc_u8(in);
        uint64_t e0 = 0, e1 = 0;
        double k0 = 0, k1 = 0, want;
        tidal_result u0, u1, r;
        int bad;
        memset(&t, 0, sizeof t);
        t.tenant = a % 3;
        t.rate_per_s = b % 16 == 10 ? NAN : b % 16 == 11 ? INFINITY : vals[b % 12];
        t.burst = c % 16 == 10 ? NAN : c % 16 == 11 ? -INFINITY : vals[c % 12];
        t.config_version = (a >> 2) % 4;
        t.state = (a >> 4) % 4;
        t.entity_quota = (a >> 6) % 2 ? 5 : 0;
        t.placement = b >> 4;
        u0 = tidal_tenant_usage(db, t.tenant, &e0, &k0);
        r = tidal_tenant_set(db, &t);
        u1 = tidal_tenant_usage(db, t.tenant, &e1, &k1);
        bad = !(t.rate_per_s >= 0) || !(t.burst >= 0) || t.rate_per_s > 1e12 || t.burst > 1e12 ||
              t.state > TIDAL_TENANT_SEALED;
        if (bad) fc_require(r == TIDAL_ERR_INVALID, "a bad tenant config is TIDAL_ERR_INVALID");
        else if (r == TIDAL_ERR_STALE_CONFIG)
            fc_require(u0 == TIDAL_OK, "only a tenant with a config can be stale");
        else fc_require(r == TIDAL_OK, "a valid tenant config is set");
        if (r != TIDAL_OK) {
            fc_require(u1 == u0 && e1 == e0 && !memcmp(&k0, &k1, sizeof k0),
                       "a refused tenant config changes nothing");
            continue;
        }
        want = t.burst > 0 ? t.burst : t.rate_per_s;
        if (want < 1.0) want = 1.0;
        fc_require(u1 == TIDAL_OK && e1 == 0, "a set tenant config reads back");
        if (u0 != TIDAL_OK) fc_require(k1 == want, "a new tenant's bucket starts full");
        else fc_require(k1 <= want, "a bucket holds at most its size");
    }
}

/* Appends to db's schema (fuzzed additions, or a change that must be refused). */
static void fc_append(fc_in *in, tidal_db *db, fc_build *b) {
    tidal_schema cur;
    uint8_t f = fc_u8(in);
    uint32_t ns, nk, np;
    char why[64], msg[512];
    tidal_result r, want;
    int changes = 0;
    tidal_node_status st;
    fc_require(tidal_node_status_get(db, &st) == TIDAL_OK, "status");
    fc_require(tidal_db_schema_get(db, &cur) == TIDAL_OK, "schema_get");
    fc_copy(b, &cur);
    if (st.role == TIDAL_ROLE_FOLLOWER) { /* the schema grows on the leader */
        fc_require(tidal_db_schema_append(db, &b->schema) == TIDAL_ERR_READ_ONLY,
                   "a follower refuses an append: TIDAL_ERR_READ_ONLY");
        return;
    }
    fc_require(tidal_db_schema_append(db, &b->schema) == TIDAL_OK, "appending nothing is a no-op");
    ns = b->schema.signal_count + fc_u8(in) % 3;
    nk = b->schema.cohort_key_count + fc_u8(in) % 3;
    np = b->schema.profile_count + fc_u8(in) % 3;
    if (ns > FC_SIGS) ns = FC_SIGS;
    if (nk > FC_KEYS) nk = FC_KEYS;
    if (np > FC_PROFS) np = FC_PROFS;
    fc_signals(in, b, b->schema.signal_count, ns);
    b->schema.signal_count = ns;
    fc_keys(in, b, b->schema.cohort_key_count, nk);
    b->schema.cohort_key_count = nk;
    fc_profiles(in, b, b->schema.profile_count, np);
    b->schema.profile_count = np;
    switch (f % 8) { /* a change to what exists: never allowed */
    case 1:
        b->sigs[0].half_life_s = b->sigs[0].permanent ? 0.0 : b->sigs[0].half_life_s * 2;
        if (b->sigs[0].half_life_s > TIDAL_HALF_LIFE_MAX_S) b->sigs[0].half_life_s /= 4;
        changes = !b->sigs[0].permanent;
        break;
    case 2:
        b->sigs[0].windows = cur.signals[0].windows == 0x1F ? TIDAL_WINDOW_1H : 0;
        changes = 1;
        break;
    case 3:
        if (ns == cur.signal_count && cur.signal_count > 1) b->schema.signal_count--, changes = 1;
        break;
    default: break;
    }
    fc_schema_why(&b->schema, why, sizeof why);
    want = why[0] || changes ? TIDAL_ERR_SCHEMA : TIDAL_OK;
    r = tidal_db_schema_append(db, &b->schema);
    snprintf(msg, sizeof msg, "%s", tidal_errmsg(db));
    if (r != want) {
        fprintf(stderr, "append: %s (%s), the contract says %s (%s%s)\n", tidal_strerror(r), msg,
                tidal_strerror(want), why, changes ? " and a change" : "");
        fc_require(0, "schema_append returns what the contract says");
    }
    if (r == TIDAL_OK) {
        fc_require(tidal_db_schema_get(db, &cur) == TIDAL_OK, "schema_get");
        fc_same_schema(&b->schema, &cur, "an appended schema reads back");
        return;
    }
    fc_require(msg[0] != 0, "a refused append says why");
    if (why[0]) fc_msg_names(msg, why, "a refused append names the field and index");
    else fc_msg_names(msg, "signal", "a refused change names the signal");
    {
        fc_build *old = (fc_build *)malloc(sizeof *old);
        fc_require(old != NULL, "out of memory in the harness");
        fc_require(tidal_db_schema_get(db, &cur) == TIDAL_OK, "schema_get");
        fc_copy(old, &cur);
        b->schema.signal_count = old->schema.signal_count;
        b->schema.cohort_key_count = old->schema.cohort_key_count;
        b->schema.profile_count = old->schema.profile_count;
        if (f % 8 == 1 || f % 8 == 2) b->sigs[0] = old->sigs[0], b->sigs[0].name = b->sig_name[0];
        fc_same_schema(&old->schema, &b->schema, "a refused append changes nothing");
        free(old);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fc_build *b = (fc_build *)calloc(1, sizeof *b), *c;
    fc_envs v;
    fc_in in;
    tidal_config cfg;
    tidal_schema got;
    tidal_db *db;
    fc_require(b != NULL, "out of memory in the harness");
    in.p = data;
    in.n = size;
    in.pos = 0;
    fc_rng = 1;
    v.disk = tidal_sim_disk_new(3);
    tidal_sim_env_init(&v.sim, v.disk, FC_NOW, 5);
    v.sim.env.random_fill = fc_random;
    v.sim.env.clock_wall_ns = fc_clock;
    b->schema.signal_count = fc_count(&in, TIDAL_SIGNAL_TYPES_MAX, 4);
    b->schema.signals = fc_u8(&in) == 0xFF ? NULL : b->sigs;
    fc_signals(&in, b, 0, b->schema.signal_count);
    b->schema.cohort_key_count = fc_count(&in, TIDAL_COHORT_KEYS_MAX, 3);
    b->schema.cohort_keys = fc_u8(&in) == 0xFF ? NULL : b->keys;
    fc_keys(&in, b, 0, b->schema.cohort_key_count);
    b->schema.profile_count = fc_count(&in, TIDAL_PROFILES_MAX, 3);
    b->schema.profiles = fc_u8(&in) == 0xFF ? NULL : b->profs;
    fc_profiles(&in, b, 0, b->schema.profile_count);
    fc_config(&in, b, &v, &cfg);
    if (!cfg.schema.signal_count && cfg.path && !cfg.schema.cohort_key_count &&
        !cfg.schema.profile_count) {
        /* Adopting a stored schema on a fresh disk: there is none, TIDAL_ERR_SCHEMA. */
        char msg[256];
        tidal_result r;
        db = NULL;
        msg[0] = 0;
        r = tidal_db_open_msg(&cfg, &db, msg, sizeof msg);
        fc_require(r == (fc_config_bad(&cfg) ? TIDAL_ERR_INVALID : TIDAL_ERR_SCHEMA) && !db &&
                       msg[0],
                   "adopting a schema where none is stored is refused, saying why");
    } else {
        db = fc_open(&cfg, "first open");
    }
    if (db) {
        c = (fc_build *)malloc(sizeof *c);
        fc_require(c != NULL, "out of memory in the harness");
        fc_require(tidal_db_schema_get(db, &got) == TIDAL_OK, "schema_get");
        fc_same_schema(&b->schema, &got, "an opened schema reads back");
        fc_copy(c, &got);
        { /* the schema read back opens a second (ephemeral) database alike */
            tidal_config c2 = cfg;
            tidal_db *db2;
            c2.path = NULL;
            c2.replicas = NULL;
            c2.replica_count = 0;
            c2.env = &v.sim.env;
            c2.schema = c->schema;
            db2 = fc_open(&c2, "the schema read back");
            fc_require(db2 != NULL, "the schema read back opens");
            fc_require(tidal_db_schema_get(db2, &got) == TIDAL_OK, "schema_get");
            fc_same_schema(&c->schema, &got, "the schema read back reads back alike");
            tidal_db_close(db2);
        }
        fc_tenants(&in, db);
        fc_append(&in, db, b);
        if (cfg.path) { /* reopen adopting the stored schema */
            fc_require(tidal_db_schema_get(db, &got) == TIDAL_OK, "schema_get");
            fc_copy(c, &got);
            tidal_db_close(db);
            cfg.schema.signal_count = 0;
            cfg.schema.cohort_key_count = 0;
            cfg.schema.profile_count = 0;
            cfg.group_bootstrap = 0;
            db = fc_open(&cfg, "reopen adopting the stored schema");
            fc_require(db != NULL, "a reopen adopts the stored schema");
            fc_require(tidal_db_schema_get(db, &got) == TIDAL_OK, "schema_get");
            fc_same_schema(&c->schema, &got, "the stored schema reads back after a reopen");
        }
        free(c);
        tidal_db_close(db);
    }
    tidal_sim_disk_free(v.disk);
    free(b);
    return 0;
}
