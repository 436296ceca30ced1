/* tidal.h - v0.1.0 - embeddable signals database for personalized ranking.
   License: MIT (full text at the end of this file).

   QUICK START
       In exactly one C or C++ file:
           #define TIDAL_IMPLEMENTATION
           #include "tidal.h"
       Everywhere else just #include "tidal.h".

       tidal_signal_def sigs[2] = {{"view", 3600.0, 0, 0, 0}, {"like", 86400.0, 0, 0, 0}};
       tidal_config cfg; memset(&cfg, 0, sizeof cfg);          // {0} means defaults
       cfg.schema.signals = sigs; cfg.schema.signal_count = 2;
       tidal_db *db; tidal_db_open(&cfg, &db);                  // no path: ephemeral
       tidal_signal s; memset(&s, 0, sizeof s);
       s.item = 7; s.type = 0; s.weight = 1.0;
       tidal_signal_write(db, &s, NULL);
       tidal_hit hits[20]; uint32_t n;
       tidal_retrieve_text(db, "RETRIEVE items SIGNAL view LIMIT 20", hits, 20, &n, NULL);
       tidal_db_close(db);

   TABLE OF CONTENTS (grep -n '// >>' tidal.h; in file order)
       >>api          public declarations (this half): results, ids, env, allocator,
                      schema, config, db, writes, hard negatives, sessions, reads,
                      RETRIEVE, digest, durability, replication, blake3, control plane,
                      node (tidal_peer), node heartbeats, health and scatter-gather
       >>internal     private types and limits
       >>util         allocation, errors, strings, fixed point, deterministic exp2
       >>tables       hash maps, u64 sets, interning
       >>blake3       BLAKE3 from its specification
       >>env_posix    the only code that talks to the operating system
       >>hlc          hybrid logical clock
       >>events       event ids and the applied-event index
       >>signals      forward-decayed scores, windows, totals
       >>topk         the incremental leaderboard behind RETRIEVE
       >>entities     the entity table, LWW attributes
       >>negatives    observed-remove hide/mute/block
       >>sessions     session journals with sequence high-water marks
       >>apply        the fold: every event goes through tidal__apply
       >>codec        event encoding and validation (log and wire)
       >>query        RETRIEVE execution
       >>digest       canonical encoding and state digest
       >>wal          write-ahead log batches, group commit, segments
       >>snapshot     snapshots: canonical state + applied-event index
       >>recovery     open with a path: snapshot, replay, torn tails, corruption
       >>query_parse  the RETRIEVE text parser
       >>db_schema    the schema: loading, fingerprints of every prefix, encoding, diff
       >>db_schema_file  the stored schema file, its growth by an event, learning it
       >>db_open      open and close, the handle's parts set up and freed
       >>db_tenant    tenant limits and states (persisted), admission, routing, gather
       >>db_write     the one way into the state (tidal__event_take), write entry
                      points, batches, the event hook and import
       >>db_read      point reads: negatives, signals, profiles, RETRIEVE text
       >>db_session   session entry points and tidal_db_tick
       >>migration    moving a tenant: move events, their fold, footprint, export
       >>migration_install  install chunks and drop
       >>collect      a dropped tenant's files retired
       >>repl_wire    replication overview; message header, checksum, sending
       >>repl_epoch   persisted epoch and vote, adopting a leader, quorum, kept batches
       >>repl_vv      version vectors, log slices, the group-stable log
       >>repl_ship    pipelined shipping, pushes up, taking a received payload
       >>repl_append  appends (in and out of order), acks, pushes, a lost disk relearning
       >>repl_elect   pre-votes, votes, becoming leader
       >>repl_xfer    state transfer
       >>repl_entry   tidal_node_receive, the tick, member open, ack levels, status
       >>control      the control plane: a replicated log with Raft's rules, its file, its
                      messages and records
       >>node         tidal_peer: one process's members, control records applied, routing,
                      forwarding, fan-out calls (every shard) and completions
       >>node_gather  heartbeats between peers, health as a query (and as text),
                      scatter-gather through messages
       >>node_move    the migration coordinator: COPY, SEAL, SWITCH, DONE through messages

   COMPILE-TIME OPTIONS
       TIDAL_STATIC          global: every public function becomes static.
       TIDAL_ASSERT(x)       implementation only: assertion macro (default assert()).
       TIDAL_MALLOC/TIDAL_REALLOC/TIDAL_FREE
                             implementation only: all three or none (default stdlib).
                             A runtime allocator in tidal_config wins over these.
       TIDAL_*_MAX           implementation only: the named limits below may be
                             overridden before the implementation is included.
       TIDAL_BLAKE3_SCALAR   implementation only: pure C99 BLAKE3 (by default gcc and
                             clang hash four chunks at once with GNU vector types).
       TIDAL_BLAKE3_NO_AVX2  implementation only: no 8-chunk AVX2 path (x86-64 gcc and
                             clang use it when the CPU has AVX2, checked at run time).
       TIDAL_NO_HUGE_PAGES   implementation only: the default allocator does not ask
                             Linux for transparent huge pages on blocks of 4 MiB or more.
       TIDAL_REPLAY_CHUNK_BYTES  implementation only: bytes of log read per replay step.

   MANUAL
   1. Concepts. A database holds tenants; a tenant holds entities (items, users,
      creators share one u64 id space; 0 is invalid). Items receive signals of the
      types declared in the schema (view, like, skip...). Every change is an event with
      a unique 128-bit id; all state is a fold over the SET of events applied, so the
      order events arrive in never changes the result. tidal_db_digest() hashes the
      canonical encoding of that state: two databases that applied the same events
      have the same digest.
   2. Decay. score(t) = sum_i w_i * 2^(-(t - t_i) / half_life), with the half-life
      exactly as the schema gives it (seconds, TIDAL_HALF_LIFE_MIN_S..MAX_S; fractional
      nanoseconds are kept, within 1e-9 relative). Internally each event's contribution
      is computed against a landmark (forward decay) and added into a 128-bit
      fixed-point accumulator, so sums are exact and independent of arrival order.
      Landmarks are 16 half-lives apart (15 to 16 for a half-life that is not a whole
      number of ns); the newest landmark of an (item, signal) and the four before it
      are kept, so an event older than that (more than 60 half-lives before the newest
      event, decayed to under 2^-60 of its weight) no longer contributes to the decayed
      score; it still counts in windows and totals.
   3. Windows. Counts and weight sums are kept in absolute event-time buckets: minute
      buckets for 1h, hour buckets for 24h and 7d, day buckets for 30d. A window W read
      at time t covers the W/B buckets ending with the bucket that contains t:
      bucket k is counted iff floor(t/B) - W/B < k <= floor(t/B). Velocity is the
      window count divided by the window length in seconds.
      Reads at any t (AT, t_ns). Times are ns since the epoch; a time below
      config.time_min_ns (default 2000-01-01) is refused as a likely unit mistake. At t
      at or after the newest event of an aggregate, every window follows the rule above
      exactly. At t before it: the score is the formula at t over every event, those
      stamped after t included at their formula value (so it is not "the score as it
      was at t"); each level keeps only the buckets a read at the newest event needs
      (60 minutes, 24 or 168 hours, 30 days back from it), so a window reaching further
      back answers from the buckets still kept and is flagged in
      tidal_signal_stats.windows_partial; unflagged windows are exact. A result that
      does not fit a double (a score read many half-lives before its events) is
      TIDAL_ERR_RANGE: no read returns inf or NaN.
   4. Hard negatives. hide (item), mute and block (creator) are observed-remove
      sets: the inverse removes exactly the tags the writer had observed, so a hide
      concurrent with an unhide stays hidden ("hide wins"). RETRIEVE ... FOR USER u
      never returns an item u has hidden or whose creator u muted or blocked.
   5. Sessions. A session's writes carry a sequence number; each (session, seq) is
      applied exactly once whatever order or how often it arrives. A retry of a seq the
      journal holds answers duplicate = 1 even after the session ended or expired.
   6. Idempotency. A write that carries a client key and sequence number gets an
      event id derived from (tenant, key, seq): a retry is a no-op within the
      idempotency window (default 24 h of event time).
   7. Env. Every clock read, random draw, file operation and the directory lock goes
      through the tidal_env vtable given at open (default: POSIX). The simulator swaps
      it. One handle per database directory: open takes an exclusive lock on it (POSIX:
      flock on <path>/LOCK, dropped by the kernel if the process dies) and a second open,
      from this process or another, fails with TIDAL_ERR_LOCKED naming the path and the
      holder's pid.
   8. Errors. Every function returns tidal_result (0 = TIDAL_OK, errors < 0);
      tidal_strerror() names the code, tidal_errmsg(db) gives the detail of the last
      error on that handle (never empty after an error return on a handle); an I/O
      error's detail names the operation, the file and the OS's reason ("fsync
      db/wal-0000-0000-0000000000000001.log: Input/output error"). A rejected call
      changes nothing.
   9. Threading. A tidal_db has no internal threads and no locks. Calls on one handle
      must be serialized by the host (wrap it in your own mutex); distinct handles
      are independent.
  10. Limits. Every table and buffer has a named limit; exceeding one returns
      TIDAL_ERR_LIMIT, never undefined behaviour. See TIDAL_*_MAX below.
  11. Durability. With config.path, every write is in a checksummed write-ahead log
      before it is acknowledged (one fdatasync per batch; see tidal_db_batch_begin);
      open recovers from the newest valid snapshot plus the log, cuts a torn last batch,
      and refuses (TIDAL_ERR_CORRUPT, naming file and offset) anything else invalid,
      including a log that ends below the snapshot it continues. Snapshots are taken
      automatically every config.snapshot_log_bytes of log (default 64 MiB), which keeps
      the files within about two snapshots and two thresholds of log.
  12. Replication. config.replicas makes the node a member of a replica group: the host
      delivers messages (tidal_node_receive) and time (tidal_db_tick); the library sends
      through env->message_send. Formats: the log, snapshots and messages each carry their
      own version (TIDAL_WAL_FORMAT_VERSION, _SNAPSHOT_, _WIRE_). A host process that runs
      one node of a cluster opens a tidal_peer instead (>>node): it owns the node's replica
      members and its control-plane member, applies the control plane's records, and
      routes and forwards client calls, all through the same messages.
  13. Forgetting. tidal_user_forget and tidal_item_delete are events that remove a
      user's own state or an item's state; after the next snapshot no file holds the
      id. They are the exception to "order never matters" (point 1): they remove what
      was applied before them, and later events recreate. Aggregates a forgotten user's
      signals went into are not rewritten. See tidal_user_forget.
  14. Schema. A durable database stores its schema beside its log (schema-RRRR-SSSS.dat):
      tidal_db_schema_get reads it back, and an open with schema.signal_count 0 adopts it.
      A schema only grows: signal types, cohort keys and profiles appended at the ends on
      reopen, or with tidal_db_schema_append (in a replica group, on the leader: an event
      in the log, so every member and every recovery sees it at the same point). Data
      written before keeps its meaning and digest; a change or removal of anything that
      exists is TIDAL_ERR_SCHEMA naming the field and both values.
  Comments citing "DESIGN n.m" refer to DESIGN.md, the project's contract, which ships
  beside this header in the tidal repository.
*/
#ifndef TIDAL_H
#define TIDAL_H

/* The POSIX env needs clock_gettime, pread and fdatasync. Under -std=c99 they are hidden
   unless _POSIX_C_SOURCE is set before the first system header: include tidal.h first in
   the implementation file, or build it with -D_POSIX_C_SOURCE=200809L. */
#if defined(TIDAL_IMPLEMENTATION) && !defined(_POSIX_C_SOURCE) && !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdint.h>

#define TIDAL_VERSION_MAJOR 0
#define TIDAL_VERSION_MINOR 1
#define TIDAL_VERSION_PATCH 0
#define TIDAL_VERSION_NUMBER (TIDAL_VERSION_MAJOR * 10000 + TIDAL_VERSION_MINOR * 100 + \
                              TIDAL_VERSION_PATCH)
#define TIDAL_VERSION_STRING "0.1.0"

#ifndef TIDAL_API
#if defined(TIDAL_STATIC) && defined(__GNUC__)
#define TIDAL_API static __attribute__((unused)) /* a unit need not call everything */
#elif defined(TIDAL_STATIC)
#define TIDAL_API static
#else
#define TIDAL_API extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

// >>api

/* ---- Results -------------------------------------------------------------------------- */

/* One list makes both the enum and tidal_strerror(). Errors are negative. */
#define TIDAL_RESULTS(X)                                                                   \
    X(TIDAL_OK, 0, "ok")                                                                   \
    X(TIDAL_ERR_INVALID, -1, "invalid argument")                                           \
    X(TIDAL_ERR_NOT_FOUND, -2, "not found")                                                \
    X(TIDAL_ERR_LIMIT, -3, "limit exceeded")                                               \
    X(TIDAL_ERR_NOMEM, -4, "out of memory")                                                \
    X(TIDAL_ERR_SCHEMA, -5, "invalid schema")                                              \
    X(TIDAL_ERR_PARSE, -6, "query parse error")                                            \
    X(TIDAL_ERR_CORRUPT, -7, "corruption detected")                                        \
    X(TIDAL_ERR_IO_READ, -8, "i/o error: read")                                            \
    X(TIDAL_ERR_IO_WRITE, -9, "i/o error: write")                                          \
    X(TIDAL_ERR_IO_FSYNC, -10, "i/o error: fsync")                                         \
    X(TIDAL_ERR_IO_NOSPACE, -11, "i/o error: no space")                                    \
    X(TIDAL_ERR_READ_ONLY, -12, "read-only: not the leader")                               \
    X(TIDAL_ERR_UNAVAILABLE, -13, "unavailable: no quorum")                                \
    X(TIDAL_ERR_STALE_CONFIG, -14, "stale config version")                                 \
    X(TIDAL_ERR_FENCED, -15, "fenced: lower epoch")                                        \
    X(TIDAL_ERR_QUOTA, -16, "tenant quota exceeded")                                       \
    X(TIDAL_ERR_RATE_LIMITED, -17, "tenant rate limit exceeded")                           \
    X(TIDAL_ERR_FATAL, -18, "handle failed; reopen required")                              \
    X(TIDAL_ERR_FUTURE, -19, "event time too far in the future")                           \
    X(TIDAL_ERR_SESSION_ENDED, -20, "session has ended")                                \
    X(TIDAL_ERR_MOVED, -21, "tenant moved or moving: refresh its placement")              \
    X(TIDAL_ERR_LOCKED, -22, "database directory is held by another open handle")       \
    X(TIDAL_ERR_RANGE, -23, "result out of range: it does not fit a double")             \
    X(TIDAL_PENDING, 1, "pending: not yet acknowledged at that level")

/* TIDAL_RESULT_MIN_ is derived from the list: minus the number of error codes. That is the
   lowest code exactly when the errors are -1..-N without a gap, which the implementation
   checks at compile time (every code >= TIDAL_RESULT_MIN_, and tidal_strerror's switch
   refuses duplicates), so adding a code can never leave it stale. */
#define TIDAL__RESULT_NEG(name, value, text) +((value) < 0)
typedef enum tidal_result {
#define TIDAL__RESULT_ENUM(name, value, text) name = value,
    TIDAL_RESULTS(TIDAL__RESULT_ENUM)
#undef TIDAL__RESULT_ENUM
    TIDAL_RESULT_MIN_ = -(0 TIDAL_RESULTS(TIDAL__RESULT_NEG))
} tidal_result;

/* Returns a static, human-readable name for a result code ("unknown result" if none). */
TIDAL_API const char *tidal_strerror(tidal_result r);

/* ---- Identity and time ---------------------------------------------------------------- */

typedef uint64_t tidal_id; /* entity id: items, users, creators share the space; 0 invalid */

/* 128-bit globally unique event id. Origin ids: hi = region<<48 | shard<<32 | incarnation,
   lo = origin sequence number. Ids derived from an idempotency key have bit 63 of hi set. */
typedef struct tidal_event_id {
    uint64_t hi;
    uint64_t lo;
} tidal_event_id;

/* Hybrid logical clock timestamp, ordered by (wall_ns, logical, node). */
typedef struct tidal_hlc {
    int64_t wall_ns;
    uint32_t logical;
    uint32_t node; /* region << 16 | shard */
} tidal_hlc;

/* A node is (region, shard): shard ids repeat in every region. */
typedef struct tidal_node_ref {
    uint16_t region;
    uint16_t shard;
} tidal_node_ref;

#define TIDAL_NS_PER_S INT64_C(1000000000)

/* ---- Env: every side effect goes through this vtable ---------------------------------- */

/* Version 2 appended dir_lock, dir_unlock and error_text. An env of version 1 (built against
   an older tidal.h, so its struct ends at message_send) is still accepted: its directory is
   NOT locked (the host must then keep to one handle per directory itself) and I/O error
   messages carry tidal_strerror()'s text instead of the OS's. From version 2 on, dir_lock
   and dir_unlock are required for a database with a path; error_text may be NULL. */
#define TIDAL_ENV_VERSION 2u

/* File open flags. */
#define TIDAL_OPEN_READ 1u
#define TIDAL_OPEN_WRITE 2u
#define TIDAL_OPEN_CREATE 4u

typedef struct tidal_env {
    uint32_t version; /* TIDAL_ENV_VERSION; methods are only ever appended */
    void *user;       /* passed to every method */
    int64_t (*clock_wall_ns)(void *user);
    int64_t (*clock_mono_ns)(void *user);
    void (*random_fill)(void *user, void *buf, size_t len);
    /* Files. Methods return TIDAL_OK or a TIDAL_ERR_IO_* code. Offsets are absolute. */
    tidal_result (*file_open)(void *user, const char *path, uint32_t flags, void **file);
    tidal_result (*file_read)(void *user, void *file, uint64_t offset, void *buf, size_t len,
                              size_t *got);
    tidal_result (*file_write)(void *user, void *file, uint64_t offset, const void *buf,
                               size_t len);
    tidal_result (*file_sync)(void *user, void *file); /* data sync (fdatasync) */
    tidal_result (*file_size)(void *user, void *file, uint64_t *size);
    tidal_result (*file_truncate)(void *user, void *file, uint64_t size);
    void (*file_close)(void *user, void *file);
    tidal_result (*file_rename)(void *user, const char *from, const char *to);
    tidal_result (*file_remove)(void *user, const char *path);
    tidal_result (*dir_create)(void *user, const char *path);
    tidal_result (*dir_sync)(void *user, const char *path);
    /* Calls fn once per entry name (not "." or ".."), in no particular order. */
    tidal_result (*dir_list)(void *user, const char *path,
                             void (*fn)(void *ctx, const char *name), void *ctx);
    /* Messages to another node; the env delivers them (or not) later. */
    tidal_result (*message_send)(void *user, tidal_node_ref to, const void *bytes,
                                 size_t len);
    /* ---- version 2 ---- */
    /* Takes an exclusive lock on the existing directory path for one open database; it
       holds until dir_unlock(*lock) or until the holding process dies. A second dir_lock of
       the same directory, from this process or another, fails with TIDAL_ERR_LOCKED and
       sets *holder to the holder's process id when known, else 0. Other failures: a
       TIDAL_ERR_IO_* code. *lock is never NULL on TIDAL_OK. */
    tidal_result (*dir_lock)(void *user, const char *path, void **lock, uint64_t *holder);
    /* Releases a lock from dir_lock. Always safe; a no-op on a lock that is gone already
       (e.g. dropped by a simulated crash). */
    void (*dir_unlock)(void *user, void *lock);
    /* Writes into buf (cap > 0 bytes, always NUL-terminated) the OS's text for why the
       LAST env call that failed on this thread failed (POSIX: strerror(errno)), or "" when
       there is none. tidal calls it right after the failing call, before any other env
       call, so the env only has to keep that one error (errno) intact until then. */
    void (*error_text)(void *user, char *buf, size_t cap);
} tidal_env;

/* The POSIX env: real clocks, /dev/urandom, files; message_send fails. dir_lock is flock()
   on a file named LOCK in the directory (created, holding the holder's pid in decimal):
   flock locks belong to one open file description, so two handles in one process conflict
   too, and the kernel drops the lock when the holder dies (kill -9 included). A child
   forked while a handle is open shares that descriptor (and so the lock) until it exits
   or execs (the descriptor is close-on-exec). Local file systems only: flock over NFS may
   not exclude another machine. Never NULL. */
TIDAL_API const tidal_env *tidal_env_posix(void);

/* Runtime allocator: wins over TIDAL_MALLOC & co. free/realloc get the old size. */
typedef struct tidal_allocator {
    void *user;
    void *(*alloc)(void *user, size_t size);
    void *(*realloc)(void *user, void *ptr, size_t old_size, size_t new_size);
    void (*free)(void *user, void *ptr, size_t size);
} tidal_allocator;

/* ---- Schema and config ---------------------------------------------------------------- */

/* Window bits. A signal's windows field of 0 means all of them. */
#define TIDAL_WINDOW_1H 1u
#define TIDAL_WINDOW_24H 2u
#define TIDAL_WINDOW_7D 4u
#define TIDAL_WINDOW_30D 8u
#define TIDAL_WINDOW_ALL 16u /* all-time totals: always kept; the bit is accepted */
#define TIDAL_WINDOWS_COUNT 5

typedef enum tidal_window {
    TIDAL_W_1H = 0,
    TIDAL_W_24H = 1,
    TIDAL_W_7D = 2,
    TIDAL_W_30D = 3,
    TIDAL_W_ALL = 4
} tidal_window;

/* Accepted half-lives, in seconds (inclusive). Any h in the range is kept exactly (not
   rounded to whole nanoseconds): scores equal the analytic sum within 1e-9 relative error
   for every accepted h. The lower bound keeps a decay epoch (a whole number of ns, about
   16 half-lives) at 15 half-lives or more; the upper, about ten years, keeps an epoch
   within the int64 range of nanoseconds. */
#define TIDAL_HALF_LIFE_MIN_S 1e-9
#define TIDAL_HALF_LIFE_MAX_S 3.2e8

typedef struct tidal_signal_def {
    const char *name;   /* [A-Za-z0-9_.-], 1..TIDAL_NAME_MAX bytes, unique */
    double half_life_s; /* seconds, in [TIDAL_HALF_LIFE_MIN_S, TIDAL_HALF_LIFE_MAX_S], unless
                           permanent; fractional nanoseconds are kept */
    uint32_t windows;   /* TIDAL_WINDOW_* bits; 0 = all */
    int permanent;      /* nonzero: no decay (score = sum of weights); half_life_s must be 0 */
    int negative;       /* nonzero: a negative signal type (skip, dislike). Schema metadata
                           only: it changes no score, count, window, ranking or check, and
                           it is not in the schema fingerprint. tidal keeps it with the
                           schema so a tool that reads the schema back can tell negative
                           types apart; what a skip means for ranking is the host's to say
                           (e.g. a profile term with a negative weight). */
} tidal_signal_def;

typedef struct tidal_profile_term {
    const char *signal; /* a signal name of the schema */
    double weight;      /* finite */
} tidal_profile_term;

/* A named ranking profile: score = sum of weight * decayed score of each signal. */
typedef struct tidal_profile_def {
    const char *name;
    const tidal_profile_term *terms;
    uint32_t term_count; /* 1..TIDAL_PROFILE_TERMS_MAX */
} tidal_profile_def;

/* Signal types, cohort keys and profiles, in order. A stored schema only grows: later
   opens and tidal_db_schema_append may add at the ends, never change what exists. */
typedef struct tidal_schema {
    const tidal_signal_def *signals;
    uint32_t signal_count;          /* 1..TIDAL_SIGNAL_TYPES_MAX (0 at open: adopt the stored
                                       schema, see tidal_db_open) */
    const char *const *cohort_keys; /* user attribute keys cohorts group by, e.g. "locale" */
    uint32_t cohort_key_count;      /* 0..TIDAL_COHORT_KEYS_MAX */
    const tidal_profile_def *profiles;
    uint32_t profile_count; /* 0..TIDAL_PROFILES_MAX */
} tidal_schema;

typedef struct tidal_config {
    const char *path;                  /* NULL: ephemeral (memory only); default NULL */
    const tidal_env *env;              /* NULL: tidal_env_posix() */
    const tidal_allocator *allocator;  /* NULL: TIDAL_MALLOC & co. */
    tidal_schema schema;               /* required for a new database; with a path,
                                          signal_count 0 adopts the stored schema (see
                                          tidal_db_schema_get) */
    tidal_node_ref node;               /* this node's identity; default (0, 0) */
    int64_t future_bound_ns;           /* writes stamped further ahead of the clock are
                                          rejected; default 60 s */
    int64_t idempotency_window_ns;     /* event-time window of idempotency keys; default 24 h */
    uint32_t retrieve_limit_max;       /* largest LIMIT; default 1000, max TIDAL_LIMIT_MAX */
    uint32_t session_events_max;       /* events per session journal; default 4096 */
    /* Durability (used when path is set). */
    uint32_t fsync_policy;             /* TIDAL_FSYNC_*; default: every batch */
    uint32_t batch_events_max;         /* events per WAL batch; default 4096 */
    int64_t batch_delay_ns;            /* 0 (default): a write outside tidal_db_batch_begin()
                                          commits before it returns. > 0: writes gather in a
                                          batch for up to this long; tidal_db_tick() or
                                          tidal_db_commit() makes them durable, and the host
                                          acknowledges a write once its lsn <=
                                          tidal_db_durable_lsn() */
    uint64_t segment_bytes_max;        /* WAL segment size before a new one; default 64 MiB */
    /* Replication (needs path). The replica group lists every member, this node included,
       in the same order on every member. A new group starts with its first member leading
       epoch 1; after that leaders are elected (one vote per epoch, persisted). */
    const tidal_node_ref *replicas;    /* NULL: not replicated */
    uint32_t replica_count;            /* 0, or 1..TIDAL_REPLICAS_MAX */
    int64_t heartbeat_ns;              /* leader heartbeat period; default 100 ms */
    int64_t retransmit_ns;             /* resend what a follower has not acknowledged after
                                          this long; default 400 ms */
    int64_t election_timeout_ns;       /* a follower that hears no leader for about t (plus a
                                          stagger by group position and jitter) runs for
                                          election; default 1 s */
    int group_bootstrap;               /* nonzero only when creating a brand-new group: its
                                          first member then leads epoch 1 at once. Leave 0
                                          on every later open: a node whose disk was lost must
                                          not take itself for new (it waits to hear a leader,
                                          and neither votes nor runs until it has caught up) */
    int availability_mode;             /* nonzero (DESIGN 5.4): a member cut off from its
                                          leader (none heard for the election timeout) takes
                                          writes as its own origin, acknowledged LOCAL; they
                                          merge into the group when it rejoins. 0 (default):
                                          such a member refuses writes (TIDAL_ERR_READ_ONLY) */
    int64_t quorum_wait_ns;            /* how long tidal_write_status() reports a write
                                          PENDING at QUORUM before giving up with
                                          TIDAL_ERR_UNAVAILABLE; default 2 election timeouts */
    uint32_t group;                    /* the replica group this handle is a member of, when a
                                          host runs several on one node (one per distinct
                                          placement, DESIGN 5.1): 0..255, carried in every
                                          message; a message for another group is refused
                                          (the host demultiplexes with tidal_message_group);
                                          default 0 */
    uint32_t config_version;           /* the control plane's topology/placement version this
                                          node runs (DESIGN 5.1): every message carries it, and
                                          a node refuses messages from another version (see
                                          tidal_db_set_config_version); default 0 */
    int64_t clock_ahead_max_ns;        /* a peer whose hybrid clock runs further ahead of
                                          ours is not followed (its stamps are kept, our
                                          clock is not pulled forward) and is counted in
                                          tidal_node_status; default 10 s */
    int64_t time_min_ns;               /* the earliest plausible time, ns since the epoch:
                                          an event time or query time (AT, t_ns) given
                                          below it is refused with TIDAL_ERR_INVALID, whose
                                          message names the unit the value looks like
                                          (seconds, milliseconds, microseconds). 0 = default
                                          2000-01-01T00:00:00Z (946684800 s); negative = no
                                          minimum (synthetic clocks that start near 0).
                                          Events that arrive by replication or
                                          tidal_event_import were checked where they were
                                          written and are not refused here */
    uint64_t snapshot_log_bytes;       /* bounded disk (needs path): after this many bytes of
                                          log since the last snapshot, one is taken at the
                                          next commit or tick, and the log below the older
                                          of the two kept snapshots is retired (as
                                          tidal_db_snapshot does); default 64 MiB;
                                          TIDAL_SNAPSHOT_LOG_BYTES_OFF: never automatically */
} tidal_config;

/* config.time_min_ns's default: 2000-01-01T00:00:00Z in ns since the epoch. */
#define TIDAL_TIME_MIN_DEFAULT_NS (INT64_C(946684800) * TIDAL_NS_PER_S)

/* config.snapshot_log_bytes: no automatic snapshots (the host calls tidal_db_snapshot). */
#define TIDAL_SNAPSHOT_LOG_BYTES_OFF UINT64_MAX

#define TIDAL_FSYNC_DEFAULT 0u     /* = TIDAL_FSYNC_BATCH */
#define TIDAL_FSYNC_BATCH 1u       /* one fdatasync per batch: acknowledged = durable */
#define TIDAL_FSYNC_NONE 2u        /* never sync: for tests and throwaway data only */

/* On-disk and wire formats carry their own versions, independent of the library's. */
#define TIDAL_WAL_FORMAT_VERSION 1u
#define TIDAL_SNAPSHOT_FORMAT_VERSION 4u /* 4: compact (varints, deltas); 3 still read */

typedef struct tidal_db tidal_db;

/* Opens a database. cfg is copied (strings included); *out receives the handle.
   With a path, open first takes the env's exclusive lock on the directory (DESIGN 4.3: one
   handle per database directory; two writers on one log lose data), held until
   tidal_db_close(). Ephemeral databases (no path) take no lock.
   Schema (DESIGN 4.3): a database with a path stores the schema it was created with, and
   every append, in schema-RRRR-SSSS.dat beside its log. Opening it with
   - schema.signal_count 0 (and no cohort keys or profiles) adopts the stored schema, so a
     tool can open a database it knows nothing about (a new database needs a schema);
   - the stored schema opens it as is;
   - the stored schema with signal types, cohort keys or profiles appended at the ends
     stores that as a new generation: data written before keeps its meaning and its state
     digest, and new writes may use what was added. In a replica group this is refused:
     there the schema grows with tidal_db_schema_append on the leader; a member opened with
     a prefix of the stored schema (an older config) adopts the stored one. Every member's
     config must be a prefix of the group's schema (a member with an empty disk configured
     with more would write under a schema the others refuse to apply);
   - anything else (a name, half-life, windows, permanent or negative flag changed, an
     order changed, a cohort key or profile changed, something removed) is
     TIDAL_ERR_SCHEMA naming the field and both values, e.g. "signal 1 (like): half_life_s
     3600 stored, 7200 given". A database written before tidal stored its schema opens
     with the schema it was written under or that schema with appends.
   Errors: TIDAL_ERR_INVALID (NULL args), TIDAL_ERR_SCHEMA (bad schema, or one that does
   not agree with the stored one; the message names the field), TIDAL_ERR_NOMEM,
   TIDAL_ERR_LOCKED (another handle, in this process or another, has the directory open:
   the message names the path and the holder's pid when the env knows it), TIDAL_ERR_IO_*
   (the message names the operation, the file and the OS's error text, e.g. "open
   db/wal-0000-0000-0000000000000001.log: Permission denied"). On error *out is NULL. */
TIDAL_API tidal_result tidal_db_open(const tidal_config *cfg, tidal_db **out);

/* Like tidal_db_open; on failure also writes the detail into msg (cap bytes, NUL-ended),
   e.g. "db/wal-0000-0000-0000000000000001.log: offset 4096: checksum mismatch". With a
   path, open recovers: newest valid snapshot, then the log; a torn last batch is cut off;
   anything else invalid fails with TIDAL_ERR_CORRUPT rather than serving wrong data. */
TIDAL_API tidal_result tidal_db_open_msg(const tidal_config *cfg, tidal_db **out, char *msg,
                                         size_t cap);

/* Commits a pending batch (best effort: call tidal_db_commit() first to learn whether it
   became durable), closes files, releases the directory lock (a failed handle holds it
   until closed: close it before reopening) and frees everything the handle owns. NULL is
   a no-op. */
TIDAL_API void tidal_db_close(tidal_db *db);

/* The handle's schema (for a database with a path, the stored one): signal types with
   their half-life, windows (as kept: the all-time bit always set), permanent and negative
   flags; cohort keys; profiles with their terms. *out and every string and array it points
   to belong to the handle and stay valid until the next call on it (any call) or close.
   Errors: TIDAL_ERR_INVALID (NULL argument), TIDAL_ERR_NOMEM. Not thread-safe. */
TIDAL_API tidal_result tidal_db_schema_get(tidal_db *db, tidal_schema *out);

/* Grows the schema of an open handle to schema, which must be the whole current schema
   with signal types, cohort keys or profiles appended at the ends (a schema equal to the
   current one is a no-op: a retry is safe). The append is an event in the log, alone in
   its batch and durable when this returns: every member of a replica group and every
   recovery sees it at the same point, and a member that lacks the schema a batch was
   written under learns it from that event and never applies a batch before it. The
   stored schema is saved before the event is logged. In a replica group call it on the
   leader; members opened later with an older config adopt the grown schema. Ephemeral
   handles grow in memory only.
   Errors: TIDAL_ERR_SCHEMA (invalid, or changes or removes what exists: the message names
   the field and both values), TIDAL_ERR_READ_ONLY (a follower), TIDAL_ERR_INVALID (NULL),
   TIDAL_ERR_NOMEM, TIDAL_ERR_FATAL and the I/O errors of a commit. Not thread-safe. */
TIDAL_API tidal_result tidal_db_schema_append(tidal_db *db, const tidal_schema *schema);

/* Detail of the last error on this handle ("" if none). Valid until the next call. */
TIDAL_API const char *tidal_errmsg(const tidal_db *db);

/* Advances time: expires sessions whose TTL passed (an expiry event each), with
   batch_delay_ns > 0 commits a batch whose first write waited that long, and takes an
   automatic snapshot when config.snapshot_log_bytes of log are due (returning its error,
   if any). now_ns of 0 means the env's wall clock; otherwise ns since the epoch, at or
   after config.time_min_ns (TIDAL_ERR_INVALID below it). */
TIDAL_API tidal_result tidal_db_tick(tidal_db *db, int64_t now_ns);

/* Group commit. Between batch_begin and commit, writes are applied and logged but not yet
   durable; tidal_db_commit() writes the batch with one fdatasync and returns its result,
   which is the acknowledgment of every write in it. Also commits a pending delayed batch.
   A batch is a unit of durability, not of atomicity: one that reaches batch_events_max
   events, or the bytes one network message carries (TIDAL_MSG_BYTES_MAX less headers,
   so that it ships whole), is written early and the batch goes on in a new one.
   Errors: TIDAL_ERR_IO_* (the handle is then failed: TIDAL_ERR_FATAL from every write;
   reopen to recover from the log). Both are no-ops (TIDAL_OK) for ephemeral databases. */
TIDAL_API tidal_result tidal_db_batch_begin(tidal_db *db);
TIDAL_API tidal_result tidal_db_commit(tidal_db *db);

/* Highest log position known durable (every lsn <= it survives a crash); 0 if none. */
TIDAL_API uint64_t tidal_db_durable_lsn(const tidal_db *db);

/* ---- Replication ----------------------------------------------------------------------- */

/* Ack levels: LOCAL = fsynced on the accepting node (the write call's own promise);
   QUORUM = fsynced on a majority of the replica group. */
#define TIDAL_ACK_LOCAL 1u
#define TIDAL_ACK_QUORUM 2u
#define TIDAL_WIRE_FORMAT_VERSION 5u

/* Feeds a message another node sent (the host's transport delivers bytes; the library
   sends through env->message_send). Every message is checksummed and versioned; a corrupt
   or foreign one is dropped and counted (TIDAL_ERR_CORRUPT), one from a lower epoch is
   fenced (TIDAL_ERR_FENCED); neither changes state. */
TIDAL_API tidal_result tidal_node_receive(tidal_db *db, tidal_node_ref from, const void *bytes,
                                          size_t len);

/* The replica group a message is for (config.group of its sender and receiver), read from
   its header without checking the rest: a host running several groups on one node hands
   the bytes to that group's handle, which checks everything. TIDAL_ERR_CORRUPT when the
   bytes are not a tidal message of this wire version; TIDAL_ERR_INVALID for NULL args. */
TIDAL_API tidal_result tidal_message_group(const void *bytes, size_t len, uint32_t *group);

/* 1 when the write at lsn (from its receipt) is acknowledged at level, else 0. Drive it
   with tidal_db_tick() and tidal_node_receive(); a host answers its client once it is 1. */
TIDAL_API int tidal_write_acked(const tidal_db *db, uint64_t lsn, uint32_t level);

typedef enum tidal_role {
    TIDAL_ROLE_NONE = 0,     /* not replicated */
    TIDAL_ROLE_FOLLOWER = 1,
    TIDAL_ROLE_LEADER = 2
} tidal_role;

typedef struct tidal_node_status {
    tidal_role role;
    uint64_t epoch;
    tidal_node_ref leader;
    uint64_t durable_lsn;     /* this node's log */
    uint64_t quorum_lsn;      /* leader: highest lsn durable on a majority */
    uint64_t leader_lsn;      /* follower: leader log position applied here */
    uint64_t lag_events;      /* follower: leader's durable position minus leader_lsn */
    int64_t lag_ns;           /* follower: how long it has been behind (0 when caught up) */
    uint64_t msgs_sent, msgs_received, msgs_corrupt, msgs_fenced;
    uint64_t msgs_stale;      /* refused: sent under another config version */
    uint32_t config_version;
    int needs_snapshot;       /* leader: some follower needed log the leader no longer had
                                 (and got a state transfer) */
    int has_leader;           /* 0 while an election is under way */
    int cut_off;              /* no leader heard for the election timeout (in availability
                                 mode this node then takes writes as its own origin) */
    tidal_hlc hlc;            /* this node's hybrid clock (its last stamp) */
    uint64_t clock_ahead;     /* peer stamps further ahead than config.clock_ahead_max_ns */
    tidal_node_ref clock_ahead_node; /* the last peer that did so */
    int64_t clock_ahead_ns;   /* how far ahead it was */
    uint32_t version_vector_origins; /* origins (node, incarnation) in this node's vector */
} tidal_node_status;

TIDAL_API tidal_result tidal_node_status_get(const tidal_db *db, tidal_node_status *out);

/* Moves this node to a newer control-plane config version (the host calls it when the
   control plane publishes one). Messages carry the sender's version; a message from a
   newer version is refused with TIDAL_ERR_STALE_CONFIG ("refresh": this node must load the
   new config first) and one from an older version likewise (the sender must refresh):
   nothing is ever applied under a stale config. A version older than the one in force is
   TIDAL_ERR_STALE_CONFIG. */
TIDAL_API tidal_result tidal_db_set_config_version(tidal_db *db, uint32_t version);

/* Writes a snapshot of the whole state (temp file, fsync, rename, directory fsync), then
   deletes log segments that the older of the two newest snapshots covers (in a replica
   group, only what every member holds). Also taken automatically, at the next commit or
   tick after config.snapshot_log_bytes of log. Errors: TIDAL_ERR_INVALID for an ephemeral
   database, TIDAL_ERR_IO_* (handle failed). */
TIDAL_API tidal_result tidal_db_snapshot(tidal_db *db);

/* Index of a signal type / profile by name, for the typed API (tidal_query.rank_index,
   tidal_profile_read). TIDAL_ERR_NOT_FOUND for a name the schema lacks; TIDAL_ERR_INVALID
   for NULL arguments. */
TIDAL_API tidal_result tidal_signal_type(const tidal_db *db, const char *name, uint32_t *type);
TIDAL_API tidal_result tidal_profile_index(const tidal_db *db, const char *name,
                                           uint32_t *profile);

/* ---- Writes --------------------------------------------------------------------------- */

/* A key=value string pair (attributes, cohort tags, filters). */
typedef struct tidal_tag {
    const char *key;   /* 1..TIDAL_NAME_MAX bytes */
    const char *value; /* 0..TIDAL_VALUE_MAX bytes */
} tidal_tag;

/* Optional idempotency: a write with a client key gets an event id derived from
   (tenant, key, seq), identical in every region, applied once. Because replicas keep the
   first copy of an id they see, the write must carry everything a node would otherwise
   fill in: its event time (time_ns nonzero) and, with a user and cohort keys in the
   schema, its cohort tags (cohort non-NULL; count 0 for none). TIDAL_ERR_INVALID
   otherwise. */
typedef struct tidal_idem {
    const void *key; /* NULL: none */
    uint32_t key_len; /* 1..TIDAL_IDEM_KEY_MAX */
    uint64_t seq;
} tidal_idem;

typedef struct tidal_signal {
    uint32_t tenant;
    tidal_id item;          /* nonzero */
    uint32_t type;          /* index into schema.signals */
    double weight;          /* finite, |weight| <= TIDAL_WEIGHT_MAX */
    int64_t time_ns;        /* event time, ns since the epoch (>= config.time_min_ns);
                               0 = now */
    tidal_id user;          /* optional */
    const tidal_tag *cohort; /* cohort tags; NULL = looked up from the user's attributes */
    uint32_t cohort_count;
    tidal_idem idem;
} tidal_signal;

/* What a write produced: its event id, and whether it was a duplicate (no-op). */
typedef struct tidal_receipt {
    tidal_event_id id;
    int duplicate;
    uint64_t lsn;        /* local log position; 0 when ephemeral */
    int64_t accepted_ns; /* the node's monotonic clock when it took the write */
} tidal_receipt;

/* Where the write of receipt stands at level: TIDAL_OK acknowledged; TIDAL_PENDING not
   yet (keep driving the node); TIDAL_ERR_UNAVAILABLE when QUORUM was not reached within
   config.quorum_wait_ns of acceptance (this node cannot reach a majority: a minority side
   of a partition, or a member taking writes in availability mode). An UNAVAILABLE write is
   still LOCAL-durable and merges into the group once the partition heals: retry it with
   the same idempotency key (in any region) and it is applied once. A duplicate write is
   acknowledged at LOCAL at once. TIDAL_ERR_INVALID for a NULL db or receipt or a bad
   level. */
TIDAL_API tidal_result tidal_write_status(tidal_db *db, const tidal_receipt *receipt,
                                          uint32_t level);

/* Writes one signal. receipt may be NULL. Errors: TIDAL_ERR_INVALID (zero item, unknown
   type, non-finite or too large weight, bad cohort tags, a time_ns below
   config.time_min_ns: the message says which unit it looks like, e.g. "1733500000 looks
   like seconds; tidal takes nanoseconds since the epoch"), TIDAL_ERR_FUTURE, TIDAL_ERR_LIMIT,
   TIDAL_ERR_NOMEM. A duplicate idempotent write returns TIDAL_OK with duplicate = 1. */
TIDAL_API tidal_result tidal_signal_write(tidal_db *db, const tidal_signal *s,
                                          tidal_receipt *receipt);

/* Sets (value != NULL) or deletes (value == NULL) an attribute of an entity; last writer
   wins by HLC. The item attribute "creator" (decimal entity id) drives mute/block: its
   value must be a nonzero u64 in plain decimal digits ("42"; not "alice", "0", "042",
   "+42" or " 42"), else TIDAL_ERR_INVALID. */
TIDAL_API tidal_result tidal_attr_set(tidal_db *db, uint32_t tenant, tidal_id entity,
                                      const char *key, const char *value,
                                      tidal_receipt *receipt);

/* Reads an attribute into buf (NUL-terminated). TIDAL_ERR_NOT_FOUND when unset or
   deleted; TIDAL_ERR_LIMIT when cap is too small (nothing written). */
TIDAL_API tidal_result tidal_attr_get(tidal_db *db, uint32_t tenant, tidal_id entity,
                                      const char *key, char *buf, size_t cap);

/* Forgets a user of tenant: its attributes, its hard negatives (hide/mute/block it
   wrote), its seen set (what FOR USER ... UNSEEN excludes) and its sessions with their
   journals. A replicated event like any write (logged, shipped, applied once everywhere);
   receipt may be NULL. After the next tidal_db_snapshot (which then retires every older
   snapshot and every log segment it covers; in a replica group, once every member holds
   that log) no file of the database holds the user's id, with the exceptions below.
   What stays, by design:
   - aggregates the user's signals were folded into are not rewritten (a sum does not
     remember who added to it): item scores and counts keep those signals;
   - other users' mutes and blocks that name this id as a creator belong to those users;
   - key-derived ids of the user's session writes stay in the idempotency window as
     hashes (they never hold the id), so a late retry is still recognised;
   - the id's item side (its aggregates as an item) stays: ids are shared by users and
     items; tidal_item_delete removes it.
   Order (the one place where the fold depends on order, manual point 1): a forget
   removes what was applied before it on this node; an event for the user applied after
   it (a later write, a replay of an older one, a late merge) recreates state from that
   event on. In a replica group every member applies the log in the same order, so every
   member (and every recovery from snapshot plus log) holds the same state and digest.
   A write that reaches the group's log only later - taken by a member cut off from the
   leader (availability mode) or by a leader a partition deposed, and merged when the
   partition heals - is folded before a concurrent forget on the member that took it and
   after it elsewhere, so the group can differ on that user afterwards: forget again once
   the partition has healed and every member is equal again. The same holds between
   regions that exchange events with tidal_event_import. Errors:
   TIDAL_ERR_INVALID for a zero id, and the errors of any write (READ_ONLY, MOVED, ...). */
TIDAL_API tidal_result tidal_user_forget(tidal_db *db, uint32_t tenant, tidal_id user,
                                         tidal_receipt *receipt);

/* Deletes an item of tenant: its attributes and every aggregate (all signal types, every
   cohort aggregate, its top-K index entries), so RETRIEVE, tidal_signal_read and
   tidal_attr_get show nothing for it; and the references to it: it leaves every user's
   seen set, hides of it are dropped, and session journal entries that name it keep their
   seq (exactly-once still holds) with item 0. A replicated event; the same file and order
   rules as tidal_user_forget: a later signal for the item recreates it from that signal
   alone. Costs a pass over the tenant's users and sessions. Errors as tidal_user_forget. */
TIDAL_API tidal_result tidal_item_delete(tidal_db *db, uint32_t tenant, tidal_id item,
                                         tidal_receipt *receipt);

/* ---- Hard negatives ------------------------------------------------------------------- */

typedef enum tidal_negative {
    TIDAL_NEG_DEFAULT_ = 0, /* reserved */
    TIDAL_HIDE = 1,         /* target is an item */
    TIDAL_MUTE = 2,         /* target is a creator */
    TIDAL_BLOCK = 3         /* target is a creator */
} tidal_negative;

/* Adds a hide/mute/block of target by user. */
TIDAL_API tidal_result tidal_negative_add(tidal_db *db, uint32_t tenant, tidal_id user,
                                          tidal_negative kind, tidal_id target,
                                          tidal_receipt *receipt);
/* Removes it: unhide/unmute/unblock. Removes exactly the tags this node has observed;
   a concurrent add elsewhere survives (hide wins). */
TIDAL_API tidal_result tidal_negative_remove(tidal_db *db, uint32_t tenant, tidal_id user,
                                             tidal_negative kind, tidal_id target,
                                             tidal_receipt *receipt);
/* *suppressed = 1 if the item is hidden by user or its creator muted/blocked by user. */
TIDAL_API tidal_result tidal_negative_check(tidal_db *db, uint32_t tenant, tidal_id user,
                                            tidal_id item, int *suppressed);

/* ---- Sessions ------------------------------------------------------------------------- */

/* Starts a session for user. ttl_ns 0 = no TTL. *session receives a new id, unique across
   regions (drawn from the env's randomness). */
TIDAL_API tidal_result tidal_session_start(tidal_db *db, uint32_t tenant, tidal_id user,
                                           int64_t ttl_ns, tidal_id *session);

/* Starts (or joins) a session with a caller-chosen id: used when a session roams to
   another region that has not yet seen its start. Idempotent. start_ns (nonzero), user and
   ttl_ns must be the session's own (tidal_session_get where it started): every region
   must write the same start event. start_ns below config.time_min_ns is TIDAL_ERR_INVALID
   (a unit mistake). */
TIDAL_API tidal_result tidal_session_open(tidal_db *db, uint32_t tenant, tidal_id session,
                                          tidal_id user, int64_t start_ns, int64_t ttl_ns);

/* Writes a signal within a session. seq is the session sequence number chosen by the
   writer (1, 2, 3...; 0 = next after the highest this node has seen). The write is
   exactly-once per (session, seq): a retry must repeat its seq, in any region. The signal
   also counts as an ordinary signal; its user is the session's user. Like any keyed write
   it must carry its event time (s->time_ns) and, when the schema has cohort keys, its
   cohort tags (s->cohort non-NULL): TIDAL_ERR_INVALID otherwise. */
TIDAL_API tidal_result tidal_session_signal(tidal_db *db, tidal_id session, uint64_t seq,
                                            const tidal_signal *s, tidal_receipt *receipt);
/* Appends a note (opaque text) to the session journal, exactly-once per (session, seq). */
TIDAL_API tidal_result tidal_session_note(tidal_db *db, uint32_t tenant, tidal_id session,
                                          uint64_t seq, const char *note,
                                          tidal_receipt *receipt);
/* Ends the session (an event). A later write of a new seq fails with
   TIDAL_ERR_SESSION_ENDED; a retry of a seq the journal holds answers TIDAL_OK with
   duplicate = 1, after an end or a TTL expiry alike (exactly-once outlives the session's
   end). A forgotten user's sessions are gone: writes to them fail with NOT_FOUND. */
TIDAL_API tidal_result tidal_session_end(tidal_db *db, uint32_t tenant, tidal_id session);

typedef enum tidal_session_entry_kind {
    TIDAL_SESSION_ENTRY_DEFAULT_ = 0,
    TIDAL_SESSION_SIGNAL = 1,
    TIDAL_SESSION_NOTE = 2
} tidal_session_entry_kind;

typedef struct tidal_session_entry {
    uint64_t seq;
    tidal_session_entry_kind kind;
    tidal_id item;    /* signal */
    uint32_t type;    /* signal */
    double weight;    /* signal */
    int64_t time_ns;  /* signal: event time */
    const char *note; /* note: valid until the next write to the db */
} tidal_session_entry;

typedef struct tidal_session_info {
    tidal_id user;
    int64_t start_ns;
    int64_t ttl_ns;
    int ended;          /* 1 ended by a call, 2 expired by TTL */
    uint64_t hwm;       /* all of 1..hwm applied */
    uint32_t entries;   /* journal length */
} tidal_session_info;

TIDAL_API tidal_result tidal_session_get(tidal_db *db, uint32_t tenant, tidal_id session,
                                         tidal_session_info *info);
/* Copies journal entries [first, first + cap) in seq order into out; *count receives how
   many were copied. */
TIDAL_API tidal_result tidal_session_entries(tidal_db *db, uint32_t tenant, tidal_id session,
                                             uint32_t first, tidal_session_entry *out,
                                             uint32_t cap, uint32_t *count);

/* ---- Signal reads --------------------------------------------------------------------- */

typedef struct tidal_signal_stats {
    double score;                            /* decayed score at t */
    uint64_t count[TIDAL_WINDOWS_COUNT];     /* events per window (W_ALL = all-time) */
    double weight[TIDAL_WINDOWS_COUNT];      /* weight sum per window */
    double velocity[TIDAL_WINDOWS_COUNT];    /* count / window seconds (0 for W_ALL) */
    uint64_t count_pos, count_neg;           /* all-time events with weight >= 0 / < 0 */
    double weight_pos, weight_neg;           /* all-time sums (weight_neg <= 0) */
    uint32_t windows_partial;                /* TIDAL_WINDOW_* bits of the windows whose
                                                count, weight and velocity may leave events
                                                out: read at t before the newest event, they
                                                are the part of the window whose buckets are
                                                still kept (manual 3). 0 for every read at
                                                or after the newest event */
} tidal_signal_stats;

/* Reads the aggregates of (tenant, item, type) at time t_ns (0 = now; else nanoseconds
   since the epoch, at or after config.time_min_ns). cohort, if not NULL, restricts to
   signals tagged with that cohort key=value. An item with no signals reads as zeros
   (TIDAL_OK). Windows not enabled for the type read as 0. t_ns may be before events the
   item holds (manual 3: the score counts them at their formula value; a window whose old
   buckets were retired is flagged in windows_partial). Errors: TIDAL_ERR_INVALID (unknown
   type, bad cohort, a time below config.time_min_ns: the message says which unit it looks
   like), TIDAL_ERR_RANGE (the score at t_ns does not fit a double: t_ns is that many
   half-lives before the item's events; nothing is written to out). Never inf or NaN. */
TIDAL_API tidal_result tidal_signal_read(tidal_db *db, uint32_t tenant, tidal_id item,
                                         uint32_t type, const tidal_tag *cohort,
                                         int64_t t_ns, tidal_signal_stats *out);

/* One item's profile score at t_ns (0 = now), the score RETRIEVE ... PROFILE ranks it by:
   the sum over the profile's terms of weight * the decayed score of that signal type
   (tidal_signal_read's score). cohort, if not NULL, restricts every term to signals tagged
   with that cohort key=value, as RETRIEVE's COHORT does. parts, if not NULL, receives each
   term's weighted score in the profile's term order (room for the profile's term_count,
   at most TIDAL_PROFILE_TERMS_MAX); *score is their sum. An item with none of the terms'
   signals reads 0 (TIDAL_OK). Errors: TIDAL_ERR_INVALID (NULL score, zero item, unknown
   profile, bad cohort, a time below config.time_min_ns), TIDAL_ERR_RANGE (a term or the
   sum does not fit a double; nothing written). Reads only; not thread-safe with writes on
   the same handle. */
TIDAL_API tidal_result tidal_profile_read(tidal_db *db, uint32_t tenant, tidal_id item,
                                          uint32_t profile, const tidal_tag *cohort,
                                          int64_t t_ns, double *score, double *parts);

/* ---- RETRIEVE ------------------------------------------------------------------------- */

#define TIDAL_QUERY_SIGNAL 0u  /* rank by one signal type */
#define TIDAL_QUERY_PROFILE 1u /* rank by a schema profile */

typedef struct tidal_query {
    uint32_t tenant;
    uint32_t rank_kind;    /* TIDAL_QUERY_SIGNAL or TIDAL_QUERY_PROFILE */
    uint32_t rank_index;   /* signal type or profile index */
    tidal_id for_user;     /* 0 = none; else excludes the user's suppressed items */
    int exclude_seen;      /* with for_user: also exclude items the user signalled */
    const char *cohort_key; /* NULL = all signals */
    const char *cohort_value;
    const tidal_tag *where; /* item attribute equality filters, all must hold */
    uint32_t where_count;   /* 0..TIDAL_WHERE_MAX */
    uint32_t limit;         /* 0 = 20 */
    int64_t time_ns;        /* 0 = now; else ns since the epoch, >= config.time_min_ns
                               (manual 3: what a read at t before newer events means) */
} tidal_query;

typedef struct tidal_hit {
    tidal_id item;
    double score;
} tidal_hit;

typedef struct tidal_query_stats {
    uint32_t shards_asked;
    uint32_t shards_answered;
    uint64_t items_considered;
    int degraded;             /* 1 when some shard did not answer or a replica lags */
    char degraded_reason[96]; /* e.g. "shard 3 unreachable" */
    int64_t staleness_ns;     /* upper bound on how old the answer's data may be */
    int used_index;           /* 1 when the incremental index answered, 0 for a scan */
    uint32_t profile_scan_fallback; /* a PROFILE query that scanned: why (TIDAL_PROFILE_SCAN_*);
                                       0 when it walked the index or ranked by a SIGNAL */
} tidal_query_stats;

/* Why a RETRIEVE ... PROFILE scanned every item instead of walking the per-type top-K lists
   with a bound on what items not met yet can score (see tidal_retrieve). */
#define TIDAL_PROFILE_SCAN_NEGATIVE 1u  /* a term with a negative weight over a list that
                                           evicted members: its lowest scores are unknown */
#define TIDAL_PROFILE_SCAN_EXHAUSTED 2u /* the walk read a list that evicted members to its
                                           end before it could prove the answer (filters
                                           refused most items met, or few items score
                                           above the evicted ones); low lists are rebuilt */
#define TIDAL_PROFILE_SCAN_RANGE 3u     /* t so far before now (or a weight so large) that a
                                           score at t might not fit a double: only the scan
                                           can say which item (TIDAL_ERR_RANGE) */
#define TIDAL_PROFILE_SCAN_NOMEM 4u     /* the walk's set of items met could not grow */

/* Runs a RETRIEVE. Results: highest score first, ties by ascending item id; items with
   no signal of the ranked type(s) are not returned. A SIGNAL query is answered from its
   top-K list when that can prove the answer; a PROFILE query walks its terms' lists with a
   bound on what items not met yet can score (the same answer as a scan, scores and ties
   included); either scans otherwise (stats->used_index 0; a profile says why in
   stats->profile_scan_fallback). out has room for cap hits; *count
   receives min(limit, matches). stats may be NULL. Errors: TIDAL_ERR_INVALID (bad query,
   a time below config.time_min_ns), TIDAL_ERR_LIMIT, TIDAL_ERR_RANGE (the score of an
   item at time_ns does not fit a double - time_ns is too many half-lives before its
   events; *count is 0). */
TIDAL_API tidal_result tidal_retrieve(tidal_db *db, const tidal_query *q, tidal_hit *out,
                                      uint32_t cap, uint32_t *count, tidal_query_stats *stats);

/* A parsed text query: names are copied into the struct. */
typedef struct tidal_query_text {
    uint32_t tenant;
    int is_profile;
    char rank_name[64 + 1];
    tidal_id for_user;
    int exclude_seen;
    int has_cohort;
    char cohort_key[64 + 1];
    char cohort_value[256 + 1];
    uint32_t where_count;
    char where_key[8][64 + 1];
    char where_value[8][256 + 1];
    uint32_t limit;
    int64_t time_ns;
} tidal_query_text;

typedef struct tidal_parse_error {
    uint32_t position;   /* byte offset of the offending token */
    char message[128];
} tidal_parse_error;

/* Parses the text form:
     RETRIEVE items (SIGNAL name | PROFILE name) [TENANT n] [FOR USER n [UNSEEN]]
       [COHORT key:value] [WHERE key=value (AND key=value)*] [LIMIT n] [AT ns]
   Keywords are case-insensitive; names are [A-Za-z0-9_.-]+, values may be "quoted".
   AT is nanoseconds since the epoch; running the query (tidal_retrieve_text) refuses one
   below config.time_min_ns as a likely unit mistake.
   Errors: TIDAL_ERR_PARSE with err->position and err->message. err may be NULL. */
TIDAL_API tidal_result tidal_query_parse(const char *text, size_t len, tidal_query_text *out,
                                         tidal_parse_error *err);

/* Parses and runs a text query (names resolved against the schema). */
TIDAL_API tidal_result tidal_retrieve_text(tidal_db *db, const char *text, tidal_hit *out,
                                           uint32_t cap, uint32_t *count,
                                           tidal_query_stats *stats);

/* ---- Digest --------------------------------------------------------------------------- */

#define TIDAL_ALL_TENANTS UINT64_C(0xFFFFFFFFFFFFFFFF)

/* BLAKE3 of the canonical encoding of the state (all tenants, or one tenant given as a
   uint32 value). Equal for any two databases that applied the same set of events. */
TIDAL_API tidal_result tidal_db_digest(tidal_db *db, uint64_t tenant, uint8_t out[32]);

/* Counters for tests and monitoring. */
typedef struct tidal_db_stats {
    uint64_t events_applied;    /* distinct events folded into state */
    uint64_t events_duplicate;  /* deliveries ignored as already applied */
    uint64_t entities;
    uint64_t bytes_state;       /* bytes allocated for state */
    uint64_t wal_batches;       /* batches committed by this handle */
    uint64_t wal_bytes;         /* bytes appended to the log by this handle */
    uint64_t wal_syncs;         /* fdatasync calls on log segments */
    uint64_t recovered_events;  /* events replayed from the log at open */
    uint64_t recovered_truncated_bytes; /* torn tail cut off at open */
    uint64_t snapshot_lsn;      /* log position of the snapshot loaded or last written */
    uint64_t events_internal;   /* of events_applied: epoch-start markers leaders write */
    uint64_t recovered_ns;      /* wall time of the log replay at open (env monotonic clock) */
    uint64_t recovered_apply_ns; /* of which folding the events into state; the rest is
                                    reading, verifying and decoding the log */
} tidal_db_stats;

TIDAL_API void tidal_db_stats_get(const tidal_db *db, tidal_db_stats *out);

/* ---- Raw events --------------------------------------------------------------------------
   One event as bytes, in the log's encoding: what a hook sees and what import takes. For
   backfills, a host's own transport, and checking replicas against one node that applied
   the union of every event written anywhere (tidal_sim.h's ground truth). */

typedef void (*tidal_event_hook)(void *ctx, const void *event, size_t len);

/* Calls fn for every event this handle writes itself (not for events it receives from
   other replicas), once the event is folded in, before the write call returns; the bytes
   are valid during the call only. fn NULL removes the hook. */
TIDAL_API void tidal_db_set_event_hook(tidal_db *db, tidal_event_hook fn, void *ctx);

/* Applies one encoded event under its own id (a duplicate is a no-op: receipt->duplicate),
   through the same path as every write (log, fold, ack). Errors: TIDAL_ERR_CORRUPT (the
   bytes are not exactly one valid event for this schema; nothing changes), and those of any
   write (TIDAL_ERR_READ_ONLY on a follower...). receipt may be NULL. */
TIDAL_API tidal_result tidal_event_import(tidal_db *db, const void *event, size_t len,
                                          tidal_receipt *receipt);

/* Whether the event with this id is folded into db's state: 1 applied here, 0 not (or db
   NULL). Exact for origin ids (a receipt's id of a write without an idempotency key);
   for ids derived from a key (keyed writes, session writes) it answers within the
   idempotency window only, like the deduplication it reads. For checkers: is every
   acknowledged write on the new leader, by id. */
TIDAL_API int tidal_event_is_applied(tidal_db *db, tidal_event_id id);

/* ---- Sharding, tenants, scatter-gather (DESIGN 5.1, 5.7, 5.8) --------------------------
   R regions x S shards: node (r, s) holds shard s of every tenant placed in region r, and
   the nodes (r, s) of the placement's regions are shard s's replica group. The host routes
   each write to the leader of its entity's shard and fans queries out to the shards. */

/* The shard of an entity: jump consistent hash (Lamping and Veach, 2014) of a 64-bit mix
   of (tenant, entity) over shards buckets (0 when shards is 0). Deterministic and total,
   the same in every process, platform and version (integer arithmetic and exactly
   representable doubles); when shards grows from n to n + 1 about 1/(n + 1) of the
   entities move, all to the new shard. Route by the entity the write is about: a signal,
   an item attribute and a hide by the item; a session by its id; user attributes, mutes
   and blocks are needed on every shard holding the user's items: write them to each. */
TIDAL_API uint32_t tidal_route(uint32_t tenant, tidal_id entity, uint32_t shards);

typedef struct tidal_tenant_config {
    uint32_t tenant;
    uint32_t placement;        /* bit r set: region r holds the tenant; 0 = every region */
    double rate_per_s;         /* signal writes per second (token bucket); 0 = no limit */
    double burst;              /* bucket size in signals; 0 = one second of rate_per_s; at
                                  least 1 either way */
    uint64_t entity_quota;     /* entities (items, users, creators) it may hold; 0 = none */
    uint64_t config_version;   /* the control plane's version of this setting */
    uint32_t state;            /* TIDAL_TENANT_*: where a migration stands on this node */
} tidal_tenant_config;

/* Tenant states during a migration (DESIGN 5.7). A node refuses local writes of a tenant
   that is not ACTIVE with TIDAL_ERR_MOVED (nothing changes; the client refreshes its
   placement and retries where the control plane now routes it); replicated and imported
   events are applied whatever the state, so no replica ever diverges over it. */
#define TIDAL_TENANT_ACTIVE 0u   /* this node's group owns the tenant */
#define TIDAL_TENANT_INCOMING 1u /* a copy is being installed here: not yet the owner */
#define TIDAL_TENANT_SEALED 2u   /* moving away: the final copy is being taken */

/* Sets (or replaces) a tenant's limits on this node, as the control plane pushes them.
   Writes accepted here are then checked: a signal over the rate fails with
   TIDAL_ERR_RATE_LIMITED, a write that would create an entity beyond the quota with
   TIDAL_ERR_QUOTA; neither changes anything. Events replicated from other nodes are never
   refused (the accepting node decided). An older config_version than the one in force is
   refused with TIDAL_ERR_STALE_CONFIG. At most TIDAL_TENANTS_CONFIG_MAX tenants. A database
   with a path stores its tenant configs (file "tenants-RRRR-SSSS.cfg", fsynced before this
   returns) and enforces them again after a reopen, states included, before any host
   pushes them; setting a config identical to the one in force writes nothing. Errors also:
   TIDAL_ERR_IO_* (the config is then not changed), TIDAL_ERR_CORRUPT at open for a stored
   file that does not check out. */
TIDAL_API tidal_result tidal_tenant_set(tidal_db *db, const tidal_tenant_config *cfg);

/* The tenant's entity count and the tokens left in its bucket. TIDAL_ERR_NOT_FOUND when no
   config was set for it. */
TIDAL_API tidal_result tidal_tenant_usage(tidal_db *db, uint32_t tenant, uint64_t *entities,
                                          double *tokens);

/* What one tenant occupies here, config or not: entities and sessions with content, and
   the bytes of its canonical encoding (what its digest hashes). All three are 0 once a
   migration dropped it. */
TIDAL_API tidal_result tidal_tenant_footprint(tidal_db *db, uint32_t tenant, uint64_t *entities,
                                              uint64_t *sessions, uint64_t *bytes);

/* ---- Tenant migration (DESIGN 5.7) -----------------------------------------------------
   A tenant moves between replica groups (placements) by copying state, since folded
   aggregates cannot be turned back into events:
   1. the source exports the tenant: tidal_tenant_export (its canonical state and the
      source's applied-event index, checksummed);
   2. the target group's leader installs it: tidal_tenant_install writes install events
      (chunks of at most TIDAL_INSTALL_CHUNK_BYTES) through the log, so every member of the
      target group applies them like any event, and a crash anywhere recovers them. The
      first chunk replaces whatever the target held of the tenant (an earlier attempt), so
      an install can always be retried;
   3. events the source takes after the export are imported on the target
      (tidal_event_import, e.g. from the event hook): the copied index drops the ones the
      copy already holds, so none counts twice;
   4. once the source is sealed (TIDAL_TENANT_SEALED on every member) and converged, equal
      tenant digests on both sides prove the target holds everything (else install again);
      the host switches routing, and tidal_tenant_drop removes the tenant from the source
      group (a replicated event: every member frees it, and then removes the files that
      still hold it: tidal_tenant_collected says when none is left).
   tidal_sim.h's control plane runs these steps and survives a crash at any of them. */

#ifndef TIDAL_INSTALL_CHUNK_BYTES
#define TIDAL_INSTALL_CHUNK_BYTES (256u << 10)
#endif

/* Exports tenant into buf (cap bytes); *len receives the size. TIDAL_ERR_LIMIT when cap is
   too small (nothing written, *len says how much is needed; buf may then be NULL). */
TIDAL_API tidal_result tidal_tenant_export(tidal_db *db, uint32_t tenant, void *buf, size_t cap,
                                           size_t *len);

/* Writes an export as install events under migration: nonzero, chosen by the control
   plane, and increasing over a tenant's installs and drops (it is their generation: one
   not newer than the newest applied here - unless it retries that very call - is refused
   with TIDAL_ERR_STALE_CONFIG, and when it
   arrives by replication - written by a leader that was cut off - it is folded as a
   no-op, so a stale copy never clears newer state). The same migration and export give
   the same events, so a retry is a no-op.
   receipt (may be NULL) is the last chunk's: the install is acknowledged at a level once
   it is. *chunks (may be NULL) receives the number of events written. Errors:
   TIDAL_ERR_CORRUPT (not a valid export for this schema; nothing written), TIDAL_ERR_LIMIT
   (a single row, or one origin's out-of-order marks, larger than one message; nothing
   written; the applied-event index itself is cut across chunks, any size), those of any
   write (TIDAL_ERR_READ_ONLY on a follower...). */
TIDAL_API tidal_result tidal_tenant_install(tidal_db *db, const void *blob, size_t len,
                                            uint64_t migration, uint32_t *chunks,
                                            tidal_receipt *receipt);

/* 1 when every chunk of migration's install of tenant has been applied here and nothing
   newer (install or drop) since, else 0. */
TIDAL_API int tidal_tenant_installed(tidal_db *db, uint32_t tenant, uint64_t migration);

/* The newest install or drop applied here for tenant: its migration (*gen, 0 for none)
   and whether it is an install with every chunk applied (*complete). */
TIDAL_API tidal_result tidal_tenant_generation(tidal_db *db, uint32_t tenant, uint64_t *gen,
                                               int *complete);

/* Removes every entity and session of tenant from this replica group: an event, logged
   and replicated, that every member applies. migration orders it with installs (see
   above: older than the newest here is TIDAL_ERR_STALE_CONFIG, or a no-op when
   replicated). The same migration gives the same event. receipt may be NULL. Errors:
   those of any write. */
TIDAL_API tidal_result tidal_tenant_drop(tidal_db *db, uint32_t tenant, uint64_t migration,
                                         tidal_receipt *receipt);

/* Collection (DESIGN 5.9): a drop frees the tenant from memory at once; its files follow.
   Every member that applies a drop (through its log, replay included, or a state
   transfer that carries one) records the tenant as pending collection in a small file
   beside its log (collect-RRRR-SSSS.dat, so a crash does not forget it), takes a snapshot
   without it, seals the active log segment at that snapshot, and then removes every older
   snapshot and every segment at or below it - as soon as it may: a member removes only
   log that every member of its group holds (a lagging member still catches up from it),
   so one that is away holds collection back until it returns. Until then the tenant's old
   events stay in those files; segments are never rewritten (see >>migration). tidal_db_tick
   (and the drop itself, and an open) advance it; the last old file gone, the pending list
   is cleared. *done receives 1 when no file of this database may still hold anything the
   tenant held before a drop applied here (also for a tenant never dropped here, and for an
   ephemeral database), 0 while collection is pending; tenant TIDAL_ALL_TENANTS asks about
   every tenant at once. Only the newest snapshot is kept when it completes (as after a
   forget). Errors: TIDAL_ERR_INVALID (NULL db or done, a tenant above UINT32_MAX that is not
   TIDAL_ALL_TENANTS). */
TIDAL_API tidal_result tidal_tenant_collected(tidal_db *db, uint64_t tenant, int *done);

/* Scatter-gather RETRIEVE over one replica per shard, as reached by the host: shards[k] is
   the handle of a replica of shard k, or NULL when no replica of it was reachable. Each
   reachable shard answers q; the hits merge by score (ties by item id) into out. When some
   shard is missing the query still succeeds from the others, stats->degraded is 1 and
   stats->degraded_reason names the first missing shard ("shard 3 unreachable"); also when a
   replica answering is cut off from its leader, and when regions_unreachable (bit r: the
   host cannot reach region r of the tenant's placement) is nonzero: writes taken there in
   availability mode may be missing ("region 2 unreachable"). stats->staleness_ns is the
   largest staleness of a replica that answered (0 for leaders). Errors as tidal_retrieve;
   TIDAL_ERR_UNAVAILABLE when no shard was reachable. */
TIDAL_API tidal_result tidal_retrieve_gather(tidal_db *const *shards, uint32_t n_shards,
                                             uint32_t regions_unreachable, const tidal_query *q,
                                             tidal_hit *out, uint32_t cap, uint32_t *n,
                                             tidal_query_stats *stats);

/* ---- Limits (each may be overridden before including the implementation) -------------- */

#ifndef TIDAL_TENANTS_CONFIG_MAX
#define TIDAL_TENANTS_CONFIG_MAX 1024 /* tenants with limits set on one node */
#endif
#ifndef TIDAL_NAME_MAX
#define TIDAL_NAME_MAX 64 /* signal, profile, attribute and cohort key names, bytes */
#endif
#ifndef TIDAL_VALUE_MAX
#define TIDAL_VALUE_MAX 256 /* attribute and cohort values, bytes */
#endif
#ifndef TIDAL_SIGNAL_TYPES_MAX
#define TIDAL_SIGNAL_TYPES_MAX 32
#endif
#ifndef TIDAL_COHORT_KEYS_MAX
#define TIDAL_COHORT_KEYS_MAX 8
#endif
#ifndef TIDAL_PROFILES_MAX
#define TIDAL_PROFILES_MAX 16
#endif
#ifndef TIDAL_PROFILE_TERMS_MAX
#define TIDAL_PROFILE_TERMS_MAX 8
#endif
#ifndef TIDAL_WHERE_MAX
#define TIDAL_WHERE_MAX 8 /* attribute filters per query */
#endif
#ifndef TIDAL_LIMIT_MAX
#define TIDAL_LIMIT_MAX 100000 /* largest LIMIT a config may allow */
#endif
#ifndef TIDAL_IDEM_KEY_MAX
#define TIDAL_IDEM_KEY_MAX 256 /* idempotency key bytes */
#endif
#ifndef TIDAL_WEIGHT_MAX
#define TIDAL_WEIGHT_MAX 1e6 /* |weight| of one signal */
#endif
#ifndef TIDAL_ATTRS_MAX
#define TIDAL_ATTRS_MAX 64 /* attributes (incl. tombstones) per entity */
#endif
#ifndef TIDAL_NOTE_MAX
#define TIDAL_NOTE_MAX 4096 /* session note bytes */
#endif
#ifndef TIDAL_NEG_TAGS_MAX
#define TIDAL_NEG_TAGS_MAX 64 /* live tags of one (user, kind, target) pair */
#endif
#ifndef TIDAL_NEGATIVES_MAX
#define TIDAL_NEGATIVES_MAX 65536 /* hide/mute/block pairs per user */
#endif
#ifndef TIDAL_ENTITIES_MAX
#define TIDAL_ENTITIES_MAX (1u << 28) /* entities per database */
#endif
#ifndef TIDAL_SESSIONS_MAX
#define TIDAL_SESSIONS_MAX (1u << 22) /* sessions per database */
#endif
#ifndef TIDAL_SESSION_EVENTS_MAX
#define TIDAL_SESSION_EVENTS_MAX 65536 /* ceiling for config.session_events_max */
#endif
#ifndef TIDAL_PATH_MAX
#define TIDAL_PATH_MAX 200 /* database directory path bytes */
#endif
#ifndef TIDAL_BATCH_BYTES_MAX
#define TIDAL_BATCH_BYTES_MAX (64u << 20) /* payload bytes of one WAL batch */
#endif
#ifndef TIDAL_BATCH_EVENTS_MAX
#define TIDAL_BATCH_EVENTS_MAX 65536 /* ceiling for config.batch_events_max */
#endif
#ifndef TIDAL_SEGMENTS_MAX
#define TIDAL_SEGMENTS_MAX 100000 /* live WAL segment files */
#endif
#ifndef TIDAL_REPLICAS_MAX
#define TIDAL_REPLICAS_MAX 7 /* members of one replica group */
#endif
#ifndef TIDAL_MSG_BYTES_MAX
#define TIDAL_MSG_BYTES_MAX (4u << 20) /* one network message */
#endif
#ifndef TIDAL_SHIP_BYTES_MAX
#define TIDAL_SHIP_BYTES_MAX (64u << 20) /* recent batches a leader keeps in memory to ship */
#endif
#ifndef TIDAL_COHORT_SIGS_MAX
#define TIDAL_COHORT_SIGS_MAX 256 /* (type, cohort key, value) aggregates per item */
#endif

/* ---- BLAKE3 ---------------------------------------------------------------------------- */

/* Incremental BLAKE3 hasher. Zero-copy, no allocation; about 1.8 KB.
 * All fields are private; use the functions below. A hasher may be copied
 * with memcpy/assignment to fork a partial hash.
 * NOTE: the struct tag is `struct tidal_blake3`, and the type name to declare
 * one with is tidal_blake3_hasher (`tidal_blake3_hasher h;`, in C and C++).
 * A typedef named tidal_blake3 would clash with the one-shot function
 * tidal_blake3() below (same ordinary-identifier namespace), and in C++ the
 * function hides the bare tag, so `tidal_blake3 h;` does not compile there;
 * `struct tidal_blake3 h;` works in both, like POSIX's `struct stat`. */
struct tidal_blake3 {
    uint32_t key[8];             /* key words (IV unless keyed/derive mode) */
    uint32_t cv[8];              /* chaining value of the current chunk */
    uint32_t cv_stack[54 * 8];   /* subtree chaining values, one per level */
    uint64_t chunk_counter;      /* index of the current chunk */
    uint8_t  block[64];          /* pending (not yet compressed) block bytes */
    uint8_t  block_len;          /* bytes in block, 0..64 */
    uint8_t  blocks_compressed;  /* blocks of the current chunk done, 0..15 */
    uint8_t  cv_stack_len;       /* entries in cv_stack, 0..54 */
    uint8_t  pad_;
    uint32_t flags;              /* mode flags (keyed / derive-key) */
};
typedef struct tidal_blake3 tidal_blake3_hasher; /* the hasher's type name, C and C++ */

/* tidal_blake3_init: start a plain (unkeyed) BLAKE3 hash.
 *   h: hasher to initialise (must not be NULL); any previous state is lost.
 * Reentrant; a hasher must not be shared between threads without a lock. */
TIDAL_API void tidal_blake3_init(struct tidal_blake3 *h);

/* tidal_blake3_init_keyed: start a keyed BLAKE3 hash (MAC / PRF mode).
 *   h:   hasher to initialise (must not be NULL).
 *   key: exactly 32 key bytes (must not be NULL); copied, not retained.
 * Reentrant; a hasher must not be shared between threads without a lock. */
TIDAL_API void tidal_blake3_init_keyed(struct tidal_blake3 *h, const uint8_t key[32]);

/* tidal_blake3_init_derive_key: start a BLAKE3 key derivation; the data
 * passed to update is the key material, the output the derived key.
 *   h:       hasher to initialise (must not be NULL).
 *   context: NUL-terminated, hard-coded, globally unique context string
 *            (must not be NULL); hashed immediately, not retained.
 * Reentrant; a hasher must not be shared between threads without a lock. */
TIDAL_API void tidal_blake3_init_derive_key(struct tidal_blake3 *h, const char *context);

/* tidal_blake3_update: absorb len bytes at data. May be called any number
 * of times; the split of the input does not change the result.
 *   h:    initialised hasher (must not be NULL).
 *   data: input bytes; may be NULL only when len == 0. Read, not retained.
 *   len:  number of bytes (total input is limited to 2^64 - 1 bytes).
 * Reentrant; a hasher must not be shared between threads without a lock. */
TIDAL_API void tidal_blake3_update(struct tidal_blake3 *h, const void *data, size_t len);

/* tidal_blake3_final: write out_len bytes of output (extendable output:
 * any length; the first 32 bytes are the standard digest, and a shorter
 * output is a prefix of a longer one). Does not modify the hasher, so
 * more data may be added and final called again.
 *   h:       hasher (must not be NULL).
 *   out:     destination; may be NULL only when out_len == 0.
 *   out_len: number of output bytes wanted.
 * Reentrant; concurrent final calls on one unmodified hasher are safe, but
 * not concurrently with update/init on it. */
TIDAL_API void tidal_blake3_final(const struct tidal_blake3 *h, uint8_t *out, size_t out_len); /* any out_len (XOF), hasher unchanged */

/* tidal_blake3: one-shot plain BLAKE3 of len bytes at data (data may be
 * NULL only when len == 0) into the 32-byte digest out (must not be NULL).
 * Reentrant and thread-safe (uses only the caller's stack). */
TIDAL_API void tidal_blake3(const void *data, size_t len, uint8_t out[32]); /* one-shot */

/* ---- Control plane (>>control) ---------------------------------------------------------- */

/* The control plane (DESIGN 5.7, 5.9) is a replicated log with Raft's rules: one leader per
   term, elected by a majority among members whose log is at least as up to date; a record
   is committed once a majority holds it AND the leader's own term has an entry committed
   at or after it (an older term's entry never commits by counting replicas alone); every
   member hands committed records to its host in log order, the same records at the same
   indexes on every member. A member persists its term, its vote and its log (through the
   env, fsynced) before it answers any message, so a crash never makes it forget a vote or
   an acknowledged entry. Sans-IO like tidal_db: the host feeds messages
   (tidal_control_receive) and time (tidal_control_tick); the member sends through
   env->message_send. Not built yet: log compaction (the file and memory hold the whole
   log: records are a few dozen bytes each) and membership changes (a fixed member list).
   Learners (config.learners) follow the log without voting: the rest of a cluster's nodes
   learn every committed record while a few voters (e.g. one per region) decide. */

/* The replica-group id in the header of every control-plane message: the shared envelope
   (magic, wire version, header size, type, group) is that of tidal_db's messages, so
   tidal_message_group() reads this id from a control message and a host demultiplexes both
   kinds by it (tidal_db's config.group is 0..255, so they never collide). */
#define TIDAL_CONTROL_GROUP 0xFFFFu
#define TIDAL_CONTROL_FORMAT_VERSION 1u   /* the control file's format */
#define TIDAL_CONTROL_RECORD_BYTES_MAX 64 /* one encoded record (the largest is 34 bytes) */

/* Record kinds. 0 is never a valid kind. */
#define TIDAL_CONTROL_NOOP 1u      /* a new leader's first entry in its term; no content */
#define TIDAL_CONTROL_TOPOLOGY 2u  /* regions x shards of the cluster */
#define TIDAL_CONTROL_PLACEMENT 3u /* a tenant's placement and owning replica group */
#define TIDAL_CONTROL_TENANT 4u    /* a tenant's limits and its state on its members */
#define TIDAL_CONTROL_MIGRATION 5u /* a migration's phase */
#define TIDAL_CONTROL_KIND_MAX 5u

/* Migration phases (DESIGN 5.7; the coordinator: tidal_peer_move). */
#define TIDAL_CONTROL_PHASE_COPY 1u
#define TIDAL_CONTROL_PHASE_SEAL 2u
#define TIDAL_CONTROL_PHASE_SWITCH 3u
#define TIDAL_CONTROL_PHASE_DONE 4u

/* One control-plane record. Each field has one meaning; the kinds that use it are named,
   and every other kind must leave it 0 (encoding refuses a nonzero field a kind does not
   carry, so a record decodes to exactly what was encoded). Its version is its log index. */
typedef struct tidal_control_record {
    uint32_t kind;          /* TIDAL_CONTROL_* */
    uint32_t regions;       /* TOPOLOGY: regions, 1..65535 */
    uint32_t shards;        /* TOPOLOGY: shards per region, 1..65535 */
    uint32_t tenant;        /* PLACEMENT, TENANT, MIGRATION: the tenant */
    uint32_t placement;     /* PLACEMENT, TENANT: bit r set = region r holds it; 0 = all */
    uint32_t group;         /* PLACEMENT: the owning replica group; MIGRATION: the source */
    uint32_t target;        /* MIGRATION: the group it moves to (never the source) */
    uint32_t phase;         /* MIGRATION: TIDAL_CONTROL_PHASE_* */
    uint32_t state;         /* TENANT: TIDAL_TENANT_* on its members */
    double rate_per_s;      /* TENANT: as tidal_tenant_config (0..1e12) */
    double burst;           /* TENANT: as tidal_tenant_config (0..1e12) */
    uint64_t entity_quota;  /* TENANT: as tidal_tenant_config */
} tidal_control_record;

/* Encodes rec into buf (cap bytes; TIDAL_CONTROL_RECORD_BYTES_MAX always suffices) and sets
   *len. Errors: TIDAL_ERR_INVALID for NULL arguments, an unknown kind, a field out of range
   or set for a kind that does not carry it (msg, when not NULL, names it), TIDAL_ERR_LIMIT
   when cap is too small. */
TIDAL_API tidal_result tidal_control_record_encode(const tidal_control_record *rec, void *buf,
                                                   size_t cap, size_t *len, char *msg,
                                                   size_t msg_cap);

/* Decodes exactly len bytes into *rec. TIDAL_ERR_CORRUPT (msg names what and at which
   byte) for an unknown kind, a short or long encoding, or a field out of range;
   TIDAL_ERR_INVALID for NULL arguments. */
TIDAL_API tidal_result tidal_control_record_decode(const void *bytes, size_t len,
                                                   tidal_control_record *rec, char *msg,
                                                   size_t msg_cap);

/* Control-plane message types (distinct from tidal_db's, so a message routed to the wrong
   kind of handle is refused as an unknown type). */
#define TIDAL_CONTROL_MSG_VOTE_REQ 64u   /* candidate -> all: log_index/log_term = its last */
#define TIDAL_CONTROL_MSG_VOTE 65u       /* granted = 1 when the vote is given */
#define TIDAL_CONTROL_MSG_APPEND 66u     /* leader -> follower: entries after log_index */
#define TIDAL_CONTROL_MSG_APPEND_ACK 67u /* follower -> leader: see log_index */
/* Appended (issue 12): the pre-vote round (Raft thesis 9.6) before a real election. */
#define TIDAL_CONTROL_MSG_PRE_VOTE_REQ 68u /* would-be candidate -> voters: would you vote
                                              for me in term + 1? log_index/log_term = its
                                              last, like VOTE_REQ */
#define TIDAL_CONTROL_MSG_PRE_VOTE 69u     /* granted = 1 yes, with log_term = the term asked
                                              about (the request's term + 1); 0 no, log_term 0 */
#define TIDAL_CONTROL_MSG_HEADER_BYTES 120u

/* A decoded control-plane message. The header is 120 bytes: magic u32 "TDLM", wire version
   u16, header bytes u16, type u16, group u16 (TIDAL_CONTROL_GROUP), from u32, to u32 (node
   words region << 16 | shard), term u64, log_index u64, log_term u64, commit_index u64,
   granted u32, entry_count u32, payload bytes u32, 24 zero bytes, BLAKE3 u8[32] of (the
   header with this field zeroed) || payload. The payload (APPEND only) is entry_count
   entries, each term u64, record bytes u16, the record (tidal_control_record_encode). */
typedef struct tidal_control_message {
    uint32_t type;          /* TIDAL_CONTROL_MSG_* */
    tidal_node_ref from, to;
    uint64_t term;          /* the sender's current term */
    uint64_t log_index;     /* (PRE_)VOTE_REQ: the candidate's last index; APPEND: the index just
                               before the entries; APPEND_ACK: granted, the last index the
                               follower holds matching the leader (prev + entries), else
                               the highest index the leader should try next (a hint) */
    uint64_t log_term;      /* (PRE_)VOTE_REQ: term of the candidate's last entry; APPEND: term of
                               the entry at log_index (0 when log_index is 0); PRE_VOTE: the
                               term asked about when granted, else 0 */
    uint64_t commit_index;  /* APPEND: the leader's commit index */
    uint32_t granted;       /* (PRE_)VOTE, APPEND_ACK: 1 yes, 0 no */
    uint32_t entry_count;   /* APPEND: entries in the payload */
    const uint8_t *payload; /* APPEND: the encoded entries (decode: points into the bytes) */
    size_t payload_len;
} tidal_control_message;

/* Encodes m (payload copied verbatim: the encoder checks the header fields, not the
   entries) into buf. TIDAL_ERR_INVALID for an unknown type, a payload on a type that has
   none, a granted other than 0/1, or NULL arguments; TIDAL_ERR_LIMIT when cap is short or
   the message would exceed TIDAL_MSG_BYTES_MAX. */
TIDAL_API tidal_result tidal_control_message_encode(const tidal_control_message *m, void *buf,
                                                    size_t cap, size_t *len);

/* Decodes and checks a whole message: envelope, checksum, type, per-type fields, and for
   APPEND every entry (terms ascending, none above the message's term, each record
   decodable, nothing after the last). TIDAL_ERR_CORRUPT with msg naming what is wrong and
   at which byte; TIDAL_ERR_INVALID for NULL arguments. */
TIDAL_API tidal_result tidal_control_message_decode(const void *bytes, size_t len,
                                                    tidal_control_message *m, char *msg,
                                                    size_t msg_cap);

typedef struct tidal_control tidal_control;

typedef struct tidal_control_config {
    const tidal_env *env;              /* NULL: tidal_env_posix() (which cannot send) */
    const tidal_allocator *allocator;  /* NULL: TIDAL_MALLOC & co. */
    const char *path;                  /* directory of the control file (required; created
                                          if missing); file "control-RRRR-SSSS.log" */
    tidal_node_ref self;               /* this member */
    const tidal_node_ref *members;     /* every member, self included, 1..TIDAL_REPLICAS_MAX,
                                          the same list in the same order on every member */
    uint32_t member_count;
    int64_t election_timeout_ns;       /* 0: 300 ms; each wait is drawn from [t, 2t) */
    int64_t heartbeat_ns;              /* 0: election timeout / 5 */
    uint32_t append_entries_max;       /* entries per APPEND message; 0: 64 */
    const tidal_node_ref *learners;    /* NULL: none. Nodes that receive the log like a
                                          member (APPENDs, the commit index), persist it
                                          and poll it, but never vote, never run for
                                          election and never count toward a majority;
                                          self may be one of them instead of a member.
                                          The same list on every member and learner, none
                                          of them a member too */
    uint32_t learner_count;            /* 0..TIDAL_CONTROL_LEARNERS_MAX */
    /* Appended (issue 12); 0 = the default: */
    int no_pre_vote;                   /* 1: run for a term as soon as the wait ends. 0 (the
                                          default): first ask the voters whether they would
                                          vote (PRE_VOTE_REQ, nothing persisted, no term
                                          changes); a voter that heard from a leader within
                                          the election timeout says no, so a voter cut off
                                          from the leader alone (a partial partition) can
                                          neither depose it nor inflate the term; it runs
                                          once a majority says yes. A voter that says yes
                                          restarts its own wait, and two asking at once
                                          are told apart (the longer log, then the lower
                                          member index), so the votes rarely split even
                                          when delays are near the election timeout */
} tidal_control_config;

/* Learners of one control plane (every node of the cluster that is not a voter). */
#define TIDAL_CONTROL_LEARNERS_MAX 1024

/* Opens a control-plane member: reads the control file (a torn tail from a crash is cut
   off and the file synced), or creates it (file and directory fsynced). Starts as a
   follower; the first election timeout starts at the first tick. Errors: TIDAL_ERR_INVALID
   (msg names the field), TIDAL_ERR_CORRUPT (an intact record that contradicts the log:
   msg names it and its offset), TIDAL_ERR_NOMEM, TIDAL_ERR_IO_*. msg may be NULL. */
TIDAL_API tidal_result tidal_control_open(const tidal_control_config *cfg, tidal_control **out,
                                          char *msg, size_t msg_cap);

/* Closes the file and frees the member. NULL is a no-op. */
TIDAL_API void tidal_control_close(tidal_control *c);

/* Moves time to the env's monotonic clock: a follower or candidate whose election timeout
   passed runs for the next term; a leader sends heartbeats (with any entries a follower
   lacks). TIDAL_ERR_FATAL once a file write or sync failed (reopen the member). */
TIDAL_API tidal_result tidal_control_tick(tidal_control *c);

/* Feeds a message another member sent. TIDAL_ERR_CORRUPT (counted; tidal_control_errmsg
   says why) for anything tidal_control_message_decode refuses, a sender that is not a
   member or a message addressed to another node; nothing changes then. TIDAL_ERR_FATAL as
   for tick. Everything it persists is fsynced before any answer is sent. */
TIDAL_API tidal_result tidal_control_receive(tidal_control *c, tidal_node_ref from,
                                             const void *bytes, size_t len);

/* Appends rec to the log (leader only), persists it and sends it to the followers. *index
   and *term (either may be NULL) identify the proposal for tidal_control_proposal_status.
   Errors: TIDAL_ERR_READ_ONLY when this member is not the leader (errmsg names the leader
   when one is known: tidal_control_status_get), TIDAL_ERR_INVALID for a record that does
   not encode (or a NOOP), TIDAL_ERR_NOMEM, TIDAL_ERR_FATAL. */
TIDAL_API tidal_result tidal_control_propose(tidal_control *c, const tidal_control_record *rec,
                                             uint64_t *index, uint64_t *term);

/* Where a proposal stands on this member: TIDAL_OK committed (the entry at index has that
   term and index <= the commit index); TIDAL_PENDING not known either way yet; TIDAL_ERR_
   NOT_FOUND when it can never commit (the committed log holds another entry at index, or
   an entry of a later term before it: the proposer retries). TIDAL_ERR_INVALID for a NULL
   handle or index 0; TIDAL_ERR_FATAL on a failed member. */
TIDAL_API tidal_result tidal_control_proposal_status(const tidal_control *c, uint64_t index,
                                                     uint64_t term);

/* The next committed record this host has not taken yet, in log order (NOOP entries are
   skipped). TIDAL_OK with *index and *rec set, or TIDAL_ERR_NOT_FOUND when none is
   waiting. After a reopen the host takes every committed record again from index 1 (the
   records known committed before the crash at once, the rest as the leader confirms). */
TIDAL_API tidal_result tidal_control_poll(tidal_control *c, uint64_t *index,
                                          tidal_control_record *rec);

/* The entry at index (1..last index) of this member's log, committed or not: its term and
   record. TIDAL_ERR_NOT_FOUND beyond the log. For tests and inspection. */
TIDAL_API tidal_result tidal_control_entry(const tidal_control *c, uint64_t index,
                                           uint64_t *term, tidal_control_record *rec);

typedef struct tidal_control_status {
    tidal_role role;          /* FOLLOWER (a candidate too) or LEADER */
    int candidate;            /* 1 while running for term */
    uint64_t term;
    int has_leader;           /* a leader of this term is known */
    tidal_node_ref leader;
    uint64_t last_index, last_term;
    uint64_t commit_index;    /* highest index known committed */
    uint64_t polled_index;    /* highest index tidal_control_poll has handed out */
    uint64_t elections;       /* elections this member started since open */
    uint64_t msgs_sent, msgs_received, msgs_corrupt;
    uint64_t syncs;           /* file syncs since open */
    int failed;               /* a write or sync failed: reopen */
    int learner;              /* 1: this node is a learner (never votes nor runs) */
} tidal_control_status;

TIDAL_API tidal_result tidal_control_status_get(const tidal_control *c,
                                                tidal_control_status *out);

/* The last error message of this handle ("" when none). Never NULL for a non-NULL c. */
TIDAL_API const char *tidal_control_errmsg(const tidal_control *c);

/* ---- Node: a host process's members, routing and forwarding (>>node) -------------------- */

/* A tidal_peer is what one host process runs (DESIGN 5.9 calls it the node; tidal_node_*
   names a replica member's status and receive already): node (region, shard) of an R x S
   cluster. It owns one tidal_db per replica group whose placement includes its region
   (directory <path>/g<id>) and one control-plane member (<path>/control; a voter or a
   learner). Sans-IO like its parts: the host delivers every message it receives to
   tidal_peer_receive, moves time with tidal_peer_tick, and the peer sends through
   env->message_send. Rules the peer keeps:
   P1. Control records take effect only once committed, in log order, on every node:
       TENANT sets the tenant's limits and state (TIDAL_TENANT_*) on this node's member of
       the owning group (tidal_tenant_set, config_version = the record's log index), and
       SEALED on its members of every group that neither owns the tenant nor takes part in
       its move (a write reaching one directly is refused with TIDAL_ERR_MOVED);
       PLACEMENT sets the tenant's owning group and placement in the routing table;
       TOPOLOGY must match this node's config (else every client call fails with
       TIDAL_ERR_STALE_CONFIG until the host reopens it with the right one); MIGRATION
       moves a tenant between groups (phases and states: tidal_peer_move). A reopened
       peer applies what its own disk holds (the control file, the tenant config files)
       before it returns from open.
   P2. A client call goes to the leader of the entity's shard (tidal_route over the
       topology's shards) in the tenant's owning group: executed here when this node's
       member is that leader, else forwarded as a message to the leader this node knows
       (from its own member's status, or the node whose answer last came back; after a
       timeout, or before any answer, the node of that shard in this region, or in the
       placement's lowest region), which passes it on to the leader it knows (at most 2
       hops). The answer goes back the way the call came (relayed once), so it reaches the
       origin wherever the call could go. A call that arrives twice (the network
       duplicates) runs once. Every outcome, local or remote, comes back the same way:
       tidal_peer_poll hands out one tidal_peer_completion per ticket.
   P3. Outcomes: TIDAL_PEER_DONE_OK (applied and acknowledged at the level asked for;
       a RETRIEVE's hits are in the completion), TIDAL_PEER_DONE_FAILED (nothing was
       applied - a fan-out call: not on the shard named, see tidal_peer_negative_write -
       result and message say why, redirect names the leader when known) and
       TIDAL_PEER_DONE_UNKNOWN (no answer within config.forward_timeout_ns, or the write
       was taken but its level could not be reached: the caller cannot know whether it
       applies; retry with the same idempotency key to be sure it applies once).
   P4. Peer messages share the envelope of every tidal message (magic, wire version,
       header bytes, type, group = TIDAL_PEER_GROUP, BLAKE3 checksum); anything that does
       not decode, or is addressed to another node, is refused (TIDAL_ERR_CORRUPT,
       counted) and changes nothing.
   Threading: like tidal_db, no threads and no locks inside: the host serializes every
   call on one peer (and does not call its members directly while another call runs). */

#define TIDAL_PEER_GROUP 0xFFFEu        /* the group id of peer messages */
#define TIDAL_PEER_MSG_FORWARD 80u      /* a client call, to the node that should run it */
#define TIDAL_PEER_MSG_REPLY 81u        /* its outcome, from where it ran to its origin */
#define TIDAL_PEER_MSG_PROPOSE 82u      /* a control record, to the control-plane leader */
#define TIDAL_PEER_GROUPS_MAX 16        /* replica groups of one cluster */
#define TIDAL_PEER_HITS_MAX 100         /* hits a RETRIEVE completion carries */
#define TIDAL_PEER_TEXT_MAX 1024        /* bytes of a RETRIEVE text */
#define TIDAL_PEER_CALLS_MAX 65536      /* calls in flight on one peer */
#define TIDAL_PEER_MISSING_MAX 8u       /* missing shards a gather completion names */

/* Client operations (the op of a forwarded call). */
#define TIDAL_PEER_OP_SIGNAL 1u
#define TIDAL_PEER_OP_NEGATIVE_ADD 2u
#define TIDAL_PEER_OP_ATTR_SET 3u
#define TIDAL_PEER_OP_SESSION_SIGNAL 4u
#define TIDAL_PEER_OP_RETRIEVE 5u
#define TIDAL_PEER_OP_PROPOSE 6u
/* Appended (issue 12): every other client entry point. The ops marked "fan-out" run on the
   leader of every shard of the owning group (the state they change belongs on every shard
   that holds the user's items); the others go to the one shard their id routes to. */
#define TIDAL_PEER_OP_NEGATIVE_REMOVE 7u /* unhide (by item) / unmute, unblock (fan-out) */
#define TIDAL_PEER_OP_SESSION_OPEN 8u    /* tidal_peer_session_start / _open, by session */
#define TIDAL_PEER_OP_SESSION_NOTE 9u    /* by session */
#define TIDAL_PEER_OP_SESSION_END 10u    /* by session */
#define TIDAL_PEER_OP_ITEM_DELETE 11u    /* by item */
#define TIDAL_PEER_OP_USER_FORGET 12u    /* fan-out */

/* Completion outcomes (P3). */
#define TIDAL_PEER_DONE_OK 1u
#define TIDAL_PEER_DONE_FAILED 2u
#define TIDAL_PEER_DONE_UNKNOWN 3u

typedef struct tidal_peer tidal_peer;

/* One replica group of the cluster: it runs on every shard, its members for shard s being
   the nodes (r, s) of the regions r in placement, in ascending region order. */
typedef struct tidal_peer_group {
    uint32_t id;        /* tidal_config.group: 0..255, unique in the cluster */
    uint32_t placement; /* bit r set: region r runs it; 0 = every region */
} tidal_peer_group;

typedef struct tidal_peer_config {
    const tidal_env *env;              /* NULL: tidal_env_posix() (which cannot send) */
    const tidal_allocator *allocator;  /* NULL: TIDAL_MALLOC & co. */
    const char *path;                  /* data directory (required; created if missing) */
    tidal_node_ref self;               /* this node */
    uint32_t regions;                  /* the topology: regions, 1..TIDAL_REPLICAS_MAX... */
    uint32_t shards;                   /* ...and shards per region, 1..65535 */
    const tidal_peer_group *groups;    /* every replica group of the cluster, the same list
                                          on every node; 1..TIDAL_PEER_GROUPS_MAX */
    uint32_t group_count;
    const tidal_node_ref *voters;      /* the control plane's voters; NULL: shard 0 of every
                                          region. Every other node is a learner */
    uint32_t voter_count;
    tidal_config member;               /* template of every member's config (schema,
                                          timeouts, availability mode, group_bootstrap on
                                          a brand-new cluster's first open...); the peer sets
                                          path, env, allocator, node, replicas,
                                          replica_count and group */
    int64_t control_election_timeout_ns; /* 0: as tidal_control_config (300 ms) */
    int64_t control_heartbeat_ns;      /* 0: as tidal_control_config */
    int64_t forward_timeout_ns;        /* a forwarded call with no answer after this long
                                          completes UNKNOWN; default 2 s */
    /* Heartbeats, health and gather (>>node_gather); 0 = the default of each. */
    int64_t heartbeat_ns;              /* a HEARTBEAT to every other node this often;
                                          default 100 ms */
    int64_t silent_ns;                 /* a node not heard from for this long is silent
                                          (its region degraded; every node of it silent:
                                          offline); default 1 s */
    int64_t lag_degraded_ns;           /* a member lagging its leader by more than this
                                          makes its region degraded; default 1 s */
    int64_t gather_wait_ns;            /* tidal_peer_gather's deadline when its wait_ns is 0;
                                          default 1 s */
    int64_t gather_try_ns;             /* a replica asked by a gather that has not answered
                                          after this long: ask the next one; default 400 ms */
    int64_t move_retry_ns;             /* the migration coordinator: a request with no
                                          answer after this long is sent again (and a
                                          check round repeats; a COPY after 5 times
                                          this); 0: 200 ms (>>node_move) */
    uint32_t move_chunk_bytes;         /* bytes of an export per INSTALL message, a
                                          multiple of 4096 up to 1 MiB; 0: 1 MiB */
} tidal_peer_config;

/* What tidal_peer_poll hands back for one ticket. */
typedef struct tidal_peer_completion {
    uint64_t ticket;
    uint32_t outcome;         /* TIDAL_PEER_DONE_* */
    tidal_result result;      /* TIDAL_OK, the refusal (FAILED), or why it is unknown */
    uint32_t acked;           /* level reached: 0, TIDAL_ACK_LOCAL or TIDAL_ACK_QUORUM */
    int has_redirect;         /* redirect names the group leader (or control leader) */
    tidal_node_ref redirect;
    tidal_node_ref executed_by; /* the node that ran it (OK and FAILED there) */
    tidal_event_id id;        /* a write's event id */
    int duplicate;            /* a write that was a no-op retry */
    uint64_t index;           /* propose: the record's log index (its version) */
    uint32_t hit_count;       /* RETRIEVE: hits[0, hit_count) */
    tidal_hit hits[TIDAL_PEER_HITS_MAX];
    char message[128];        /* FAILED / UNKNOWN: why, "" otherwise */
    /* tidal_peer_gather (>>node_gather): */
    int degraded;             /* some shard gave no answer, some region of the placement
                                 is unreachable, or an answering replica is cut off */
    uint32_t shards_asked;    /* the owning group's shards */
    uint32_t shards_answered;
    uint32_t missing_count;   /* shards without an answer... */
    uint32_t missing[TIDAL_PEER_MISSING_MAX]; /* ...the first of them, ascending */
    uint32_t regions_missing; /* bit r: see tidal_peer_gather */
    int64_t staleness_ns;     /* the largest staleness of a replica that answered */
    uint64_t staleness_events; /* the largest lag in events of a replica that answered */
    char degraded_reason[96]; /* "" when not degraded, else the first thing missing */
} tidal_peer_completion;

/* Opens (or creates) this node's members and control member, then applies the committed
   control records its disk holds (P1). Errors: TIDAL_ERR_INVALID (msg names the field),
   and those of tidal_db_open and tidal_control_open (msg names the member). */
TIDAL_API tidal_result tidal_peer_open(const tidal_peer_config *cfg, tidal_peer **out, char *msg,
                                       size_t msg_cap);

/* Closes every member; calls in flight are dropped without completion. NULL: no-op. */
TIDAL_API void tidal_peer_close(tidal_peer *p);

/* Feeds a message another node sent, whatever it is for: by tidal_message_group, the
   control member, a replica member, or the peer itself (TIDAL_PEER_GROUP). Returns the
   result of whoever took it; TIDAL_ERR_CORRUPT (counted, nothing changes) for bytes that
   are no tidal message, a group this node runs no member of, or a peer message that does
   not decode or is addressed to another node (tidal_peer_errmsg says which and where). */
TIDAL_API tidal_result tidal_peer_receive(tidal_peer *p, tidal_node_ref from, const void *bytes,
                                          size_t len);

/* Moves time (the env's clocks) for every member, applies newly committed control records,
   completes what reached its level and times out forwarded calls. Returns the first
   error of a member (the others still ran). */
TIDAL_API tidal_result tidal_peer_tick(tidal_peer *p);

/* Client calls (P2). Each returns TIDAL_OK with *ticket set when the call was taken:
   its outcome then comes from tidal_peer_poll, refusals included (TIDAL_ERR_MOVED for a
   tenant that is not ACTIVE on the owning group, TIDAL_ERR_NOT_FOUND for a tenant without
   a placement, ...). level: TIDAL_ACK_LOCAL or TIDAL_ACK_QUORUM (0 = QUORUM). The call
   itself fails only with TIDAL_ERR_INVALID (arguments: msg in tidal_peer_errmsg),
   TIDAL_ERR_LIMIT (TIDAL_PEER_CALLS_MAX in flight) or TIDAL_ERR_NOMEM. */
TIDAL_API tidal_result tidal_peer_signal_write(tidal_peer *p, const tidal_signal *s,
                                               uint32_t level, uint64_t *ticket);
/* A hide, routed by the hidden item; a mute or block (target: the creator) fans out to the
   leader of every shard of the owning group (see tidal_peer_negative_write). */
TIDAL_API tidal_result tidal_peer_negative_add(tidal_peer *p, uint32_t tenant, tidal_id user,
                                               tidal_negative kind, tidal_id target,
                                               uint32_t level, uint64_t *ticket);
/* An attribute set (value non-NULL) or delete (NULL), routed by entity. */
TIDAL_API tidal_result tidal_peer_attr_set(tidal_peer *p, uint32_t tenant, tidal_id entity,
                                           const char *key, const char *value, uint32_t level,
                                           uint64_t *ticket);
/* A session signal (tidal_session_signal), routed by the session id. */
TIDAL_API tidal_result tidal_peer_session_signal(tidal_peer *p, tidal_id session, uint64_t seq,
                                                 const tidal_signal *s, uint32_t level,
                                                 uint64_t *ticket);
/* A RETRIEVE (text form, TENANT clause included) answered by the leader of one shard; at
   most TIDAL_PEER_HITS_MAX hits come back (a larger LIMIT is cut to it). */
TIDAL_API tidal_result tidal_peer_retrieve(tidal_peer *p, const char *text, uint32_t shard,
                                           uint64_t *ticket);
/* ---- Every other client entry point (appended; P2, P3) ----
   Fan-out calls (mutes and blocks, their removal, user attributes, user forget) go to the
   leader of every shard of the tenant's owning group, each shard as its own forwarded call;
   the one ticket completes once every shard did: OK when every shard applied it (acked:
   the lowest level reached; id: shard 0's event; duplicate when every shard had it
   already), else FAILED with the lowest refusing shard's result, redirect and message
   ("shard S: ...", how many shards applied it; the others may have), else UNKNOWN (some
   shard gave no answer in time, named in the message). Nothing is undone on the shards
   that applied it: retry the same call. Given an idempotency key (idem non-NULL, as
   tidal_signal's), a negative or an attribute set takes a key-derived event id on every
   shard, so a retry with the same key applies once (completes OK, duplicate set, on the
   shards that had it); forgets and deletes need none (applying one twice changes nothing
   more). Sessions are routed by the session id (every tidal_peer_session_* call of one
   session reaches the same shard, tidal_peer_session_signal's too); their writes are keyed
   by (session, seq) like tidal_session_*, so retries apply once. Each returns as
   tidal_peer_signal_write. */

/* A negative (hide / mute / block) added, or removed when remove is nonzero (unhide /
   unmute / unblock: removes the tags the executing leader has observed). A hide is routed
   by its item (target); a mute or block fans out. idem: NULL, or a key as above. */
TIDAL_API tidal_result tidal_peer_negative_write(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                 tidal_negative kind, tidal_id target,
                                                 int remove, const tidal_idem *idem,
                                                 uint32_t level, uint64_t *ticket);
/* tidal_peer_negative_write with remove = 1 and no key. */
TIDAL_API tidal_result tidal_peer_negative_remove(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                  tidal_negative kind, tidal_id target,
                                                  uint32_t level, uint64_t *ticket);
/* A user's attribute set (value non-NULL) or delete (NULL) on every shard (fan-out), so
   cohort tags drawn from it are the same wherever the user's signals land. */
TIDAL_API tidal_result tidal_peer_user_attr_set(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                const char *key, const char *value,
                                                const tidal_idem *idem, uint32_t level,
                                                uint64_t *ticket);
/* Starts a session of user: *session receives its id at once (drawn here, nonzero, below
   2^63) and its start is this node's wall clock; then as tidal_peer_session_open. */
TIDAL_API tidal_result tidal_peer_session_start(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                int64_t ttl_ns, uint32_t level,
                                                tidal_id *session, uint64_t *ticket);
/* Opens (or joins) a session with its own id, user, start and ttl (tidal_session_open: a
   session that roams to another region). Idempotent. */
TIDAL_API tidal_result tidal_peer_session_open(tidal_peer *p, uint32_t tenant, tidal_id session,
                                               tidal_id user, int64_t start_ns, int64_t ttl_ns,
                                               uint32_t level, uint64_t *ticket);
/* A note of at most TIDAL_PEER_TEXT_MAX bytes (tidal_session_note; seq 0: the next). */
TIDAL_API tidal_result tidal_peer_session_note(tidal_peer *p, uint32_t tenant, tidal_id session,
                                               uint64_t seq, const char *note, uint32_t level,
                                               uint64_t *ticket);
/* Ends a session (tidal_session_end). */
TIDAL_API tidal_result tidal_peer_session_end(tidal_peer *p, uint32_t tenant, tidal_id session,
                                              uint32_t level, uint64_t *ticket);
/* Deletes an item (tidal_item_delete), routed by the item. */
TIDAL_API tidal_result tidal_peer_item_delete(tidal_peer *p, uint32_t tenant, tidal_id item,
                                              uint32_t level, uint64_t *ticket);
/* Forgets a user (tidal_user_forget) on every shard (fan-out). */
TIDAL_API tidal_result tidal_peer_user_forget(tidal_peer *p, uint32_t tenant, tidal_id user,
                                              uint32_t level, uint64_t *ticket);

/* Proposes a control record through the control-plane leader (forwarded to it when this
   node is not it); completes OK once committed (completion.index is its log index), FAILED
   when it can never commit or no leader is known, UNKNOWN on timeout. */
TIDAL_API tidal_result tidal_peer_propose(tidal_peer *p, const tidal_control_record *rec,
                                          uint64_t *ticket);

/* The next completion, oldest first: TIDAL_OK with *out set, TIDAL_ERR_NOT_FOUND when none
   is waiting. Every ticket completes exactly once (unless the peer closes first). */
TIDAL_API tidal_result tidal_peer_poll(tidal_peer *p, tidal_peer_completion *out);

/* What this node's routing table knows of a tenant (from committed records). */
typedef struct tidal_peer_tenant {
    int has_placement;        /* a PLACEMENT record was applied */
    uint32_t group;           /* its owning group */
    uint32_t placement;
    uint64_t placement_index; /* the record's log index */
    int has_config;           /* a TENANT record was applied */
    uint32_t state;           /* TIDAL_TENANT_* */
    double rate_per_s, burst;
    uint64_t entity_quota;
    uint64_t config_index;
    uint32_t move_phase;      /* the last MIGRATION record applied: TIDAL_CONTROL_PHASE_*,
                                 0 when it never moved (see tidal_peer_move) */
    uint32_t move_source, move_target; /* that move's groups */
    uint64_t move_index;      /* its COPY record's log index: the move's generation */
    uint64_t move_phase_index; /* the last MIGRATION record's log index */
} tidal_peer_tenant;

/* TIDAL_ERR_NOT_FOUND when no record named the tenant. */
TIDAL_API tidal_result tidal_peer_tenant_get(const tidal_peer *p, uint32_t tenant,
                                             tidal_peer_tenant *out);

typedef struct tidal_peer_status {
    uint64_t applied_index;   /* the last control record applied */
    uint32_t regions, shards; /* the TOPOLOGY record applied (0 before one) */
    int topology_mismatch;    /* it disagrees with the config: client calls fail */
    uint32_t members;         /* replica members this node runs */
    uint32_t calls_pending;   /* in flight (waiting for a level, an answer or a commit) */
    uint64_t msgs_corrupt;    /* messages refused by tidal_peer_receive */
    uint64_t forwarded;       /* calls sent on to another node */
    uint64_t executed;        /* calls run on a member here */
    uint64_t timeouts;        /* forwarded calls completed UNKNOWN for want of an answer */
    uint64_t replies_late;    /* answers that came after their call timed out */
    uint64_t duplicates;      /* calls that arrived again (dropped: each runs once) */
} tidal_peer_status;

TIDAL_API tidal_result tidal_peer_status_get(const tidal_peer *p, tidal_peer_status *out);

/* This node's member of group (NULL when it runs none) and its control member: for reads
   and inspection; the peer owns them (do not close them). */
TIDAL_API tidal_db *tidal_peer_member(tidal_peer *p, uint32_t group);
TIDAL_API tidal_control *tidal_peer_control(tidal_peer *p);

/* The last error message of this handle ("" when none). */
TIDAL_API const char *tidal_peer_errmsg(const tidal_peer *p);

/* A decoded peer message. Header (120 bytes, the shared envelope): magic u32 "TDLM", wire
   version u16, header bytes u16, type u16, group u16 (TIDAL_PEER_GROUP), from u32, to u32,
   origin u32 (node words region << 16 | shard), hops u32, ticket u64, payload bytes u32,
   48 zero bytes, BLAKE3 u8[32] of (the header with this field zeroed) || payload.
   FORWARD payload: op u8, level u8, kind u8, flags u8 (bit 0 a value is set, bit 1 cohort
   tags given), tenant u32, group u32, shard u32, type u32, item u64, user u64, session
   u64, seq u64, weight f64, time_ns i64, idem seq u64, idem key bytes u16 + bytes, cohort
   count u8 + (key bytes u8 + key, value bytes u16 + value) each, name bytes u8 + name
   (ATTR_SET's key), text bytes u16 + text (ATTR_SET's value, RETRIEVE's query,
   SESSION_NOTE's note). Per op: NEGATIVE_ADD / _REMOVE kind 1..3, user, item (the target),
   an idempotency key; ATTR_SET an idempotency key; SESSION_OPEN session, user, time_ns (its
   start, > 0), seq (its ttl_ns, <= INT64_MAX - start); SESSION_NOTE session, seq, text;
   SESSION_END session; ITEM_DELETE item; USER_FORGET user; every other field zero. REPLY:
   outcome u8, acked u8, flags u8 (bit 0 redirect set, bit 1 duplicate),
   zero u8, result i32, redirect u32, executed_by u32, event id hi u64 + lo u64, index u64,
   hit count u32 + (item u64, score f64) each, message bytes u8 + message. PROPOSE: record
   bytes u8 + tidal_control_record_encode's bytes. Strings hold no NUL byte. */
typedef struct tidal_peer_message {
    uint32_t type;            /* TIDAL_PEER_MSG_* */
    tidal_node_ref from, to, origin;
    uint32_t hops;            /* FORWARD: times it was passed on (<= 2); REPLY: 1 when a
                                 node relays it to the origin (the executor sends 0) */
    uint64_t ticket;          /* the origin's ticket */
    uint32_t op;              /* FORWARD: TIDAL_PEER_OP_*; PROPOSE: TIDAL_PEER_OP_PROPOSE */
    uint32_t tenant, group, shard; /* FORWARD: where the origin routed it */
    uint32_t outcome;         /* REPLY */
    tidal_result result;      /* REPLY */
    uint32_t hit_count;       /* REPLY */
    size_t payload_len;
    /* The migration coordinator's messages (TIDAL_PEER_MSG_MOVE..): tenant and shard
       above, and (each zero where its type does not carry it, see tidal_peer_move) */
    uint32_t source, target;  /* the move's groups (MOVE: target only) */
    uint64_t move;            /* the move's generation (its COPY record's log index) */
    uint64_t gen;             /* an install's or a drop's generation; DIGEST: the member's */
    uint32_t phase;           /* DIGEST, FOOTPRINT: the move's phase applied by the sender */
    uint32_t flags;           /* per type */
    uint64_t offset, total;   /* INSTALL: where the chunk goes, the export's bytes */
    size_t data_len;          /* INSTALL: the chunk; EVENT: the event */
} tidal_peer_message;

/* Decodes and checks a whole peer message (envelope, checksum, type, every payload field).
   TIDAL_ERR_CORRUPT with msg naming what is wrong and at which byte; TIDAL_ERR_INVALID for
   NULL arguments. */
TIDAL_API tidal_result tidal_peer_message_decode(const void *bytes, size_t len,
                                                 tidal_peer_message *m, char *msg,
                                                 size_t msg_cap);

/* ---- Node: heartbeats, health and scatter-gather (>>node_gather) -----------------------
   Heartbeats. Every node sends every other node a HEARTBEAT each config.heartbeat_ns
   saying what it knows of itself: per member its group, role, epoch, leader, applied
   position and lag; its control member's leader, term and indexes. A node not heard from
   for config.silent_ns is silent (a node just opened counts its peers heard at open).
   Health (tidal_peer_health) puts this node's own members and what it heard together.
   Gather (tidal_peer_gather) runs a RETRIEVE over every shard of a tenant's owning group
   through GATHER_Q / GATHER_A messages and itself decides what is missing (DESIGN 5.8).
   Message payloads (the envelope of P4; hops 0; origin = the sender, except GATHER_A
   whose origin is the gathering node it answers):
   HEARTBEAT (ticket: the sender's heartbeat count, from 1): control flags u8 (bit 0 a
   leader is known, bit 1 this node leads), 3 zero bytes, control leader u32 (node word; 0
   without bit 0), term u64, commit index u64, applied index u64 (<= commit), log last
   index u64, member count u8 (<= TIDAL_PEER_GROUPS_MAX), then per member: group u8, role
   u8 (1 follower, 2 leader), flags u8 (bit 0 a leader is known, bit 1 cut off from it),
   zero u8, leader u32 (0 without bit 0; a node of the sender's shard), epoch u64, applied
   u64 (a leader's durable lsn, a follower's leader lsn applied), lag events u64, lag ns
   u64 (signed, >= 0; both 0 on a leader). Groups are distinct, known to the receiver and
   placed in the sender's region.
   GATHER_Q (ticket: the gather's): group u32 (<= 255), shard u32 (the receiver's),
   tenant u32, try u32 (1 for the first replica asked, counting up), text bytes u16 + text
   (a RETRIEVE that parses, TENANT clause equal to tenant, LIMIT <= TIDAL_PEER_HITS_MAX).
   GATHER_A (ticket: the gather's): group u32, shard u32, try u32 (the query's), result
   i32, flags u8 (bit 0 degraded: the replica is cut off from its leader, bit 1 answered
   by the shard's leader), 3 zero bytes, epoch u64, staleness ns u64 (signed, >= 0), lag
   events u64, hit count u32 (<= TIDAL_PEER_HITS_MAX, 0 unless result is TIDAL_OK) +
   (item u64 nonzero, score f64 not NaN) each in result order (score descending, ties by
   ascending item), message bytes u8 + message (<= 127 bytes, no NUL). */

#define TIDAL_PEER_MSG_HEARTBEAT 96u    /* what a node knows of itself, to every other node */
#define TIDAL_PEER_MSG_GATHER_Q 97u     /* a gather's query for one shard, to a replica */
#define TIDAL_PEER_MSG_GATHER_A 98u     /* its answer, from the replica to the gatherer */

/* Runs a RETRIEVE (text form; its tenant is the TENANT clause's, 0 without one, and its
   owning group comes from the routing table) over every shard of that group. Each shard
   is answered by this node's own member when it holds that shard, else asked of one
   replica at a time: first
   the replicas of regions heard from within config.silent_ns (this node's region first,
   then ascending), then the others; a replica that has not answered after
   config.gather_try_ns leaves the shard to the next. Followers answer from local state
   with their staleness. A text without AT is run AT this node's wall clock at the call,
   so every shard scores at the same instant. The call completes (tidal_peer_poll, its
   ticket) when every shard answered or every replica of the unanswered ones was tried,
   or at the deadline: wait_ns from now (0: config.gather_wait_ns). The completion: hits
   merged by score (ties by item id), at most LIMIT (default 20); shards_asked and
   shards_answered; degraded with degraded_reason when a shard gave no answer (named in
   missing_count / missing[], ascending), some region is in regions_missing, or an
   answering replica is cut off from its leader. regions_missing, bit r: a region of the
   placement of which a replica was asked and gave no answer, or every replica of a shard
   without an answer, or no node at all was heard from within config.silent_ns (writes
   taken there in availability mode may be missing). staleness_ns / staleness_events: the
   largest of the replicas that answered (0 for leaders). Outcome OK when some shard
   answered; FAILED with TIDAL_ERR_UNAVAILABLE when none did, with TIDAL_ERR_NOT_FOUND for
   a tenant without placement, or with the query's own error (TIDAL_ERR_NOT_FOUND for an
   unknown signal, TIDAL_ERR_RANGE...) as a replica reports it. The call itself fails only
   with TIDAL_ERR_INVALID (text not 1..TIDAL_PEER_TEXT_MAX - 32 bytes, not a RETRIEVE,
   LIMIT above TIDAL_PEER_HITS_MAX, wait_ns negative), TIDAL_ERR_LIMIT or TIDAL_ERR_NOMEM. */
TIDAL_API tidal_result tidal_peer_gather(tidal_peer *p, const char *text, int64_t wait_ns,
                                         uint64_t *ticket);

/* Region states in tidal_peer_health. */
#define TIDAL_PEER_REGION_HEALTHY 0u
#define TIDAL_PEER_REGION_DEGRADED 1u /* a node of it silent, or a member lagging by more
                                         than config.lag_degraded_ns or cut off */
#define TIDAL_PEER_REGION_OFFLINE 2u  /* no node of it heard within config.silent_ns */

/* One (group, shard): its leader and epoch as best known - the highest epoch any member
   (this node's own, or one heard from) reports, a member that leads it first. */
typedef struct tidal_peer_health_leader {
    uint32_t group, shard;
    int has_leader;
    tidal_node_ref leader;
    uint64_t epoch;
} tidal_peer_health_leader;

/* One member: node (region, shard) of a group's placement. */
typedef struct tidal_peer_health_member {
    uint32_t group;
    tidal_node_ref node;
    int known;                /* 0: not heard from since open (the rest is 0) */
    int64_t age_ns;           /* how old the rest is (0 for this node's own members) */
    tidal_role role;
    uint64_t epoch;
    int has_leader;
    tidal_node_ref leader;
    int cut_off;              /* no leader heard for its election timeout */
    uint64_t applied;         /* a leader's durable lsn, a follower's leader lsn applied */
    uint64_t lag_events;
    int64_t lag_ns;
} tidal_peer_health_member;

typedef struct tidal_peer_health_node {
    tidal_node_ref node;
    int heard;                /* a heartbeat came from it since open (1 for this node) */
    int64_t age_ns;           /* since its last heartbeat, or since open when none came */
    int silent;               /* age_ns above config.silent_ns */
} tidal_peer_health_node;

/* One move in flight (a tenant whose last MIGRATION record applied here is not DONE), as
   tidal_peer_move_status reports it on this node. */
typedef struct tidal_peer_health_move {
    uint32_t tenant;
    uint32_t phase;           /* TIDAL_CONTROL_PHASE_COPY..SWITCH */
    uint32_t source, target;
    uint64_t generation, phase_index;
    int coordinating;         /* this node runs its coordinator now (the rest is known here) */
    uint32_t shards_ready;
    int64_t waiting_ns;       /* how long the coordinator has waited for what follows */
    char waiting[192];        /* what for and why it cannot progress ("" when not blocked) */
} tidal_peer_health_move;

/* The health snapshot. The caller sets the three lists (each may be NULL with cap 0);
   each count receives its whole list's length, of which the first cap entries are
   written: leaders per (group, shard) in config group order, then shard; members per
   (group, shard, region) likewise; nodes per (region, shard). */
typedef struct tidal_peer_health {
    tidal_peer_health_leader *leaders; /* in */
    uint32_t leaders_cap;              /* in */
    uint32_t leader_count;             /* out */
    tidal_peer_health_member *members; /* in */
    uint32_t members_cap;              /* in */
    uint32_t member_count;             /* out */
    tidal_peer_health_node *nodes;     /* in */
    uint32_t nodes_cap;                /* in */
    uint32_t node_count;               /* out */
    /* Out: */
    uint32_t regions;
    uint32_t region[TIDAL_REPLICAS_MAX];     /* TIDAL_PEER_REGION_* */
    char region_why[TIDAL_REPLICAS_MAX][96]; /* what made it degraded or offline ("" if
                                                healthy) */
    int control_has_leader;                  /* this node's control member's view, or the
                                                highest term heard when it knows none */
    tidal_node_ref control_leader;
    uint64_t control_term;
    uint64_t control_commit_index;
    uint64_t control_applied_index;          /* the last record this node applied (P1) */
    uint64_t control_log_records;            /* entries in its control log, NOOPs included */
    uint32_t tenants;                        /* in its routing table */
    uint64_t heartbeats_sent, heartbeats_received;
    uint64_t gathers_pending;                /* gathers in flight here */
    uint64_t gather_answers_late;            /* answers after their gather completed */
    /* Appended (issue 12). Moves in flight, a fourth list like the three above (in:
       moves, moves_cap; out: move_count), in routing-table order: */
    tidal_peer_health_move *moves;           /* in */
    uint32_t moves_cap;                      /* in */
    uint32_t move_count;                     /* out */
    uint64_t control_records;                /* records this node applied (its disk's at open
                                                included; NOOPs are no records): a count, not
                                                a log index */
    uint64_t control_failed;                 /* committed records that failed to apply here
                                                (the node goes on with the next) */
    uint64_t control_failed_index;           /* the last of them (0: none)... */
    char control_failed_why[160];            /* ...and why (e.g. a tenant limit refused) */
    /* Counters a host graphs, since open (tidal_peer_status has them too): */
    uint64_t calls_forwarded;                /* calls sent on to another node */
    uint64_t calls_executed;                 /* calls run on a member here */
    uint64_t calls_timed_out;                /* forwarded calls completed UNKNOWN */
    uint64_t calls_fanned_out;               /* fan-out calls started here */
    uint64_t msgs_refused;                   /* messages tidal_peer_receive refused */
    uint64_t replies_late, duplicates;       /* as tidal_peer_status */
} tidal_peer_health;

/* Fills *out (see above; the list pointers and caps are read from it). Errors:
   TIDAL_ERR_INVALID (NULL p or out, a list NULL with a nonzero cap). */
TIDAL_API tidal_result tidal_peer_health_get(const tidal_peer *p, tidal_peer_health *out);

/* The health snapshot as text a host can print or serve: one line per part, each
   "key value..." words separated by spaces, ending in '\n':
     node R/S control leader R/S|none term T commit C applied A records N failed F [...]
     counters forwarded F executed E timeouts T fanouts O refused R late L duplicates D
     region R healthy|degraded|offline [why]
     group G shard S leader R/S|none epoch E
     move tenant T phase copy|seal|switch source G target G gen N [coordinating ready K
          waiting MS ms: why]
   Writes at most cap bytes, NUL included. TIDAL_ERR_LIMIT when the whole text does not
   fit (buf then holds the whole lines that fit); TIDAL_ERR_INVALID (NULL p or buf, cap 0);
   TIDAL_ERR_NOMEM. */
TIDAL_API tidal_result tidal_peer_health_text(const tidal_peer *p, char *buf, size_t cap);
/* ---- Moving a tenant between replica groups (>>node_move; DESIGN 5.7, 5.9) -------------
   A move is four MIGRATION control records (group = the source, target = the target, the
   same two in each), each committed before its work starts, applied by every peer (P1):
     COPY    the move's generation is this record's log index. The owner stays the source
             (members ACTIVE); target members INCOMING. Per shard the coordinator asks
             the source leader to export the tenant; it sends the export in INSTALL
             chunks straight to the target leader, which installs it under the generation
             (tidal_tenant_install), waits for QUORUM and tells the coordinator. From the
             moment a source member applied COPY, every event it writes for the tenant is
             forwarded (EVENT) to the target leader, which imports it (lost ones are
             repaired below).
     SEAL    source members SEALED (local writes refused with TIDAL_ERR_MOVED). Per shard
             the coordinator asks every source and target member for the tenant's digest:
             once every source member applied SEAL and they agree, and every target
             member holds the same complete generation with that same digest, the shard is
             ready. A target that still differs after 3 rounds gets a fresh install from
             the sealed source under the SEAL record's index.
     SWITCH  the owner becomes the target on every peer (routing follows it); target
             members ACTIVE, source members stay SEALED. The coordinator sends DROP (the
             SWITCH record's index as the drop's generation) to every source member (the
             leader drops: a replicated event) and asks each for its footprint.
     DONE    proposed once every source member holds nothing of the tenant (footprint 0)
             and tidal_tenant_collected says none of its files does.
   A record that does not follow its predecessor (another move in flight, a SEAL without
   COPY...) is ignored by every peer alike. The coordinator runs on the node whose control
   member leads, once that leader has committed an entry of its own term and applied every
   committed record; its memory (answers, requests in flight) is lost when leadership
   moves or the node restarts: the next leader resumes every move from its last committed
   phase (every request is idempotent: installs and drops are keyed by their generation,
   digests and footprints are asked again). Requests that get no answer are sent again
   after config.move_retry_ns. Peer messages (the envelope of P4; origin = the coordinator
   or the caller; ticket = the caller's ticket or the coordinator's request id): */
#define TIDAL_PEER_MSG_MOVE 83u        /* caller -> control leader: start a move (REPLY) */
#define TIDAL_PEER_MSG_COPY 84u        /* coordinator -> source leader: export and send */
#define TIDAL_PEER_MSG_INSTALL 85u     /* source leader -> target leader: one chunk */
#define TIDAL_PEER_MSG_COPIED 86u      /* source or target -> coordinator: how it went */
#define TIDAL_PEER_MSG_EVENT 87u       /* source member -> target leader: a forwarded event */
#define TIDAL_PEER_MSG_DIGEST_Q 88u    /* coordinator -> a member: its digest, please */
#define TIDAL_PEER_MSG_DIGEST 89u      /* member -> coordinator */
#define TIDAL_PEER_MSG_DROP 90u        /* coordinator -> source member (its leader drops) */
#define TIDAL_PEER_MSG_FOOTPRINT_Q 91u /* coordinator -> source member */
#define TIDAL_PEER_MSG_FOOTPRINT 92u   /* member -> coordinator */
/* Payload of every type 83..92 (124 bytes + data): tenant u32, source u32, target u32,
   shard u32, move u64, gen u64, node u32 (a node word + 1, 0 = none: COPY the target
   leader to send to, COPIED/DIGEST/FOOTPRINT the leader the sender knows), result i32
   (COPIED, DIGEST, FOOTPRINT: TIDAL_OK or why not), flags u32 (DIGEST_Q, DIGEST: bit 0
   the target's member; DIGEST: bit 1 the sender leads, bit 2 its generation is
   complete; FOOTPRINT: bit 1 the sender leads, bit 3 its files are collected), phase
   u32, offset u64, total u64, digest u8[32] (DIGEST), entities u64, sessions u64, bytes
   u64 (FOOTPRINT), data bytes u32 + data (INSTALL: 1..1 MiB of the export; EVENT: one
   event). Every field a type does not carry is zero; groups are 0..255 and differ (MOVE:
   source 0); INSTALL offsets are multiples of 4096 inside total; hops is 0, or 1 for
   INSTALL and EVENT relayed by a target member to its leader. */
#define TIDAL_PEER_MOVE_CHUNK_MAX (1u << 20)

/* Starts moving tenant to group target_group: travels to the control-plane leader like
   tidal_peer_propose and completes (tidal_peer_poll) OK once its COPY record committed
   (completion.index is the move's generation; the move then runs on its own: watch
   tidal_peer_move_status until phase is DONE), FAILED (result and message say why: a
   tenant without placement TIDAL_ERR_NOT_FOUND, a target that is the owner already or no
   group of the topology TIDAL_ERR_INVALID, a move of the tenant in flight TIDAL_ERR_LIMIT,
   no leader known or one still catching up TIDAL_ERR_UNAVAILABLE), UNKNOWN when no answer
   came within config.forward_timeout_ns (the move may have started: look at the status).
   Returns as tidal_peer_propose. */
TIDAL_API tidal_result tidal_peer_move(tidal_peer *p, uint32_t tenant, uint32_t target_group,
                                       uint64_t *ticket);

typedef struct tidal_peer_move_info {
    uint32_t phase;           /* TIDAL_CONTROL_PHASE_* as applied here; 0: never moved */
    uint32_t source, target;  /* the move's groups */
    uint64_t generation;      /* its COPY record's log index */
    uint64_t phase_index;     /* the log index of the phase record applied here */
    int coordinating;         /* this node runs the move's coordinator now */
    uint32_t shards_ready;    /* coordinator: shards whose work for this phase is done */
    int64_t waiting_ns;       /* coordinator: how long it has waited for what follows */
    char waiting[192];        /* coordinator, while a phase cannot finish: what for, e.g.
                                 "shard 1: no answer from 1/1 (target member) for 2.4 s" */
    uint64_t copies;          /* this node: installs it ran as a target leader */
    uint64_t events_forwarded, events_imported; /* this node, every move */
    uint64_t reinstalls;      /* this node as coordinator: fresh copies SEAL ordered because
                                 a target leader still differed from the sealed source */
} tidal_peer_move_info;

/* Where tenant's last move stands on this node (its routing table), and on the node that
   coordinates it why it does not progress. TIDAL_ERR_NOT_FOUND when no record named the
   tenant; phase 0 when it never moved. */
TIDAL_API tidal_result tidal_peer_move_status(const tidal_peer *p, uint32_t tenant,
                                              tidal_peer_move_info *out);

#ifdef __cplusplus
}
#endif

#endif /* TIDAL_H */

#ifdef TIDAL_IMPLEMENTATION
#ifndef TIDAL_IMPLEMENTATION_ONCE
#define TIDAL_IMPLEMENTATION_ONCE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TIDAL_ASSERT
#ifdef NDEBUG
#define TIDAL_ASSERT(x) ((void)sizeof(!(x))) /* off, but its operands still count as used */
#else
#include <assert.h>
#define TIDAL_ASSERT(x) assert(x)
#endif
#endif

#if defined(TIDAL_MALLOC) && defined(TIDAL_REALLOC) && defined(TIDAL_FREE)
#elif !defined(TIDAL_MALLOC) && !defined(TIDAL_REALLOC) && !defined(TIDAL_FREE)
#define TIDAL_MALLOC(sz) malloc(sz)
#define TIDAL_REALLOC(p, sz) realloc(p, sz)
#define TIDAL_FREE(p) free(p)
#else
#error "define all of TIDAL_MALLOC, TIDAL_REALLOC and TIDAL_FREE, or none of them"
#endif

/* Marks private helpers that only tests and fuzzers call. */
#if defined(__GNUC__)
#define TIDAL__TESTING __attribute__((unused))
#else
#define TIDAL__TESTING
#endif

#define TIDAL__STATIC_ASSERT(name, cond) typedef char tidal__static_assert_##name[(cond) ? 1 : -1]

TIDAL__STATIC_ASSERT(name_fits_query_text, TIDAL_NAME_MAX <= 64);
TIDAL__STATIC_ASSERT(value_fits_query_text, TIDAL_VALUE_MAX <= 256);
TIDAL__STATIC_ASSERT(where_fits_query_text, TIDAL_WHERE_MAX <= 8);
TIDAL__STATIC_ASSERT(cohorts_fit_event, TIDAL_COHORT_KEYS_MAX <= 16);
TIDAL__STATIC_ASSERT(event_id_size, sizeof(tidal_event_id) == 16);
TIDAL__STATIC_ASSERT(note_fits_encoder, TIDAL_NOTE_MAX < 16384);
TIDAL__STATIC_ASSERT(cohort_key_fits_byte, TIDAL_COHORT_KEYS_MAX <= 255);
TIDAL__STATIC_ASSERT(signal_type_fits_byte, TIDAL_SIGNAL_TYPES_MAX <= 255);
TIDAL__STATIC_ASSERT(value_fits_u16, TIDAL_VALUE_MAX <= 65535 && TIDAL_NOTE_MAX <= 65535);
TIDAL__STATIC_ASSERT(name_fits_byte, TIDAL_NAME_MAX <= 255);

// >>internal
// Private types shared by every section. An entity is one row of the entity table; items
// keep one aggregate (tidal__sig) per signal type plus one per (type, cohort key, value);
// users keep their hard negatives and the set of items they signalled. Aggregates, their
// epoch and bucket arrays, and items' per-type and cohort arrays live in the arena (>>util),
// whose chunks never move: pointers to sigs stay valid for the top-K index.

#define TIDAL__MIN_NS (60 * TIDAL_NS_PER_S)
#define TIDAL__HOUR_NS (3600 * TIDAL_NS_PER_S)
#define TIDAL__DAY_NS (86400 * TIDAL_NS_PER_S)
#define TIDAL__EPOCH_HALF_LIVES 16    /* an epoch spans 16 half-lives */
#define TIDAL__EPOCHS_KEPT 5          /* newest epoch and the 4 before it */
#define TIDAL__FX_FRAC_BITS 40        /* fixed point: units of 2^-40 */
#define TIDAL__LB_CAP 1024            /* top-K index members per list */
#define TIDAL__IDEM_BIT (UINT64_C(1) << 63)
#ifndef TIDAL__COUNT32_MAX
#define TIDAL__COUNT32_MAX UINT32_MAX /* a bucket count's low part; tests may lower it */
#endif
#define TIDAL__ARENA_CLASSES 20
#define TIDAL__ARENA_BLOCK ((size_t)64 << 10)
#define TIDAL__ARENA_MAX 8192         /* larger chunks are allocations of their own */

/* Size-classed memory for small state arrays and aggregate records: blocks of 64 KiB
   carved by bumping, freed chunks kept on a list per class. Chunks never move. */
typedef struct tidal__arena {
    void *free[TIDAL__ARENA_CLASSES]; /* a free chunk's first word links the next */
    char *cur, *end;                  /* bump room in the newest block */
    void *blocks;                     /* chain through each block's first word */
    uint64_t chunks;                  /* chunks handed out and not returned */
} tidal__arena;

/* Signed 128-bit fixed point in units of 2^-40, two's complement over (hi, lo). Addition
   is exact and associative, which is what makes sums independent of arrival order. */
typedef struct tidal__fx {
    uint64_t lo;
    uint64_t hi;
} tidal__fx;

typedef struct tidal__epoch {
    int64_t e;
    tidal__fx acc;
} tidal__epoch;

/* A window bucket, 16 bytes. key fits 32 bits for any int64 time (|t| / 60 s < 2^28).
   count holds the low part of the bucket's event count, 0..TIDAL__COUNT32_MAX, and w the
   low 64 bits of its weight sum (a tidal__fx); on a narrow level every bucket's sum fits
   an int64 (w sign-extends to the 128 bits). A level where a count would pass its limit
   or a sum leave the int64 range goes wide (tidal__bvec.wide) and keeps both high parts
   beside its buckets, so sums stay exact while the common case stays narrow. */
typedef struct tidal__bucket {
    int32_t key;    /* absolute bucket number: floor(t / bucket_ns) */
    uint32_t count; /* low part (see tidal__bk_count) */
    uint64_t w;     /* low part (see tidal__bk_w) */
} tidal__bucket;
typedef char tidal__bucket_is_16[sizeof(tidal__bucket) == 16 ? 1 : -1];

/* A level's buckets: cap of them in one arena chunk (>>util: arena), then, when wide, cap
   uint64_t high parts of their weight sums and cap uint32_t high parts of their counts. */
typedef struct tidal__bvec {
    tidal__bucket *b;
    uint16_t n, cap;
    uint16_t wide;
    uint16_t pad_;
} tidal__bvec;

enum { TIDAL__LVL_MIN = 0, TIDAL__LVL_HOUR = 1, TIDAL__LVL_DAY = 2, TIDAL__LVLS = 3 };

/* One aggregate: a fixed-size record (128 bytes, two cache lines: the arena aligns it to
   64) whose chunk never moves (the top-K index points at records). A one-epoch aggregate
   keeps its epoch inline (cap_epochs 1); a second epoch moves the epochs out to an arena
   chunk (TIDAL__EPS). The levels are kept split (pointers, counts, capacities) so that
   none pads; tidal__lvl gives a level as a tidal__bvec and tidal__lvl_set stores one. */
typedef struct tidal__sig {
    uint64_t count_pos, count_neg;
    tidal__fx w_pos, w_neg;
    int64_t t_max;          /* newest event time: drives bucket and epoch retention */
    union {
        tidal__epoch in;    /* cap_epochs <= 1 */
        tidal__epoch *out;  /* cap_epochs > 1: an arena chunk */
    } ep;                   /* ascending e, at most TIDAL__EPOCHS_KEPT */
    tidal__bucket *bk[TIDAL__LVLS]; /* each level's buckets (tidal__bvec.b) */
    uint32_t ent;           /* owning entity index */
    uint32_t lb;            /* index of its top-K list */
    uint16_t bn[TIDAL__LVLS];   /* tidal__bvec.n */
    uint16_t bcap[TIDAL__LVLS]; /* tidal__bvec.cap, and TIDAL__BCAP_WIDE when wide */
    uint8_t n_epochs, cap_epochs;
    int16_t lb_slot;        /* position in its top-K list, -1 when not a member */
} tidal__sig;
#define TIDAL__EPS(g) ((g)->cap_epochs > 1 ? (g)->ep.out : &(g)->ep.in)
#define TIDAL__BCAP_WIDE 0x8000u /* the wide bit of tidal__sig.bcap; the rest is the cap */
typedef char tidal__sig_is_128[sizeof(tidal__sig) == 128 ? 1 : -1]; /* an arena class */
typedef char tidal__lb_slot_fits[TIDAL__LB_CAP <= INT16_MAX ? 1 : -1];

typedef struct tidal__csig {
    uint32_t type;
    uint32_t ckey;  /* cohort key index */
    uint32_t cval;  /* interned value */
    tidal__sig *sig;
} tidal__csig;

typedef struct tidal__attr {
    uint32_t key;   /* interned */
    uint32_t value; /* interned; UINT32_MAX = tombstone */
    tidal_hlc hlc;
} tidal__attr;

typedef struct tidal__idvec {
    tidal_event_id *v;
    uint32_t n, cap;
} tidal__idvec;

typedef struct tidal__neg {
    uint32_t kind;
    tidal_id target;
    tidal__idvec adds;  /* live tags */
    tidal__idvec tombs; /* removed tags whose add has not arrived yet */
} tidal__neg;

typedef struct tidal__u64set {
    uint64_t *slot; /* 0 = empty */
    uint32_t n, cap;
} tidal__u64set;

typedef struct tidal__user {
    tidal__neg *negs; /* sorted by (kind, target) */
    uint32_t n_negs, cap_negs;
    uint32_t n_live;  /* pairs with at least one live tag */
    tidal__u64set seen;
} tidal__user;

typedef struct tidal__entity {
    tidal_id id;
    uint32_t tenant;
    uint32_t n_attrs, cap_attrs, n_csigs, cap_csigs;
    tidal_id creator;     /* cached winning "creator" attribute */
    tidal__sig **sigs;    /* [signal_count] or NULL */
    tidal__csig *csigs;
    tidal__attr *attrs;   /* sorted by key string */
    tidal__user *user;
} tidal__entity;

typedef struct tidal__jentry {
    uint64_t seq;
    uint32_t kind; /* tidal_session_entry_kind */
    uint32_t type;
    tidal_id item;
    double weight;
    int64_t time_ns;
    uint32_t note; /* interned note text */
} tidal__jentry;

typedef struct tidal__session {
    uint32_t tenant;
    tidal_id id;
    tidal_id user;
    int64_t start_ns, ttl_ns;
    uint32_t ended;     /* bit 0: ended by call, bit 1: expired */
    int has_start;
    uint64_t hwm;
    tidal__jentry *j;   /* sorted by seq */
    uint32_t n_j, cap_j;
} tidal__session;

/* A time-invariant rank key (see >>topk): compares like the decayed score at any t. */
typedef struct tidal__key {
    int s;    /* sign of the score: -1, 0, +1 */
    double k; /* log2 |score| + epoch_hl * (newest epoch - the type's reference epoch);
                 epoch_hl is 16 half-lives per epoch (15..16 for a fractional half-life) */
} tidal__key;

typedef struct tidal__lb_entry {
    tidal__key key;
    tidal_id item;
    tidal__sig *sig;
} tidal__lb_entry;

/* One top-K list: (tenant, type, cohort key + 1 or 0, cohort value). */
typedef struct tidal__lb {
    uint32_t tenant, type, ckey1, cval;
    tidal__lb_entry *m;
    uint32_t n, cap;
    tidal__key thr; /* every non-member's key is <= thr (when has_thr) */
    int has_thr;    /* 0: nothing was ever evicted, members are the whole list */
    int sorted;
} tidal__lb;

typedef struct tidal__tenant {
    uint32_t id;
    uint32_t *items; /* entity indices that have at least one sig */
    uint32_t n_items, cap_items;
} tidal__tenant;

/* A generic open-addressing map from a 128-bit key to a u32 value. Keys and value share
   one slot so a lookup touches one cache line. */
typedef struct tidal__slot {
    uint64_t k0, k1;
    uint32_t v; /* UINT32_MAX = empty */
    uint32_t pad_;
} tidal__slot;

typedef struct tidal__map {
    tidal__slot *s;
    uint32_t n, cap;
} tidal__map;

/* The entity index (>>entities): open addressing over 8-byte slots, a row index and 32
   bits of the (tenant, id) hash; the row holds the id itself. A third of the generic
   map's 24-byte slot, so the table is small enough to stay in cache longer. */
typedef struct tidal__eslot {
    uint32_t tag; /* the hash's high 32 bits */
    uint32_t v;   /* row index; UINT32_MAX = empty */
} tidal__eslot;

typedef struct tidal__emap {
    tidal__eslot *s;
    uint32_t n, cap; /* load <= 1/2, cap a power of two */
} tidal__emap;

typedef struct tidal__str {
    char *s;
    uint32_t len;
    uint32_t next; /* next id with the same hash, UINT32_MAX = end of chain */
} tidal__str;

typedef struct tidal__sigdef {
    char name[TIDAL_NAME_MAX + 1];
    double half_life_s;
    int64_t half_life_ns; /* rounded: what the schema fingerprint has always hashed */
    double hl_ns;         /* the half-life in ns, exact (a double: fractional ns kept) */
    int64_t epoch_ns;     /* whole ns: 16 half-lives, or floor(16 h) when h is fractional */
    double epoch_hl;      /* epoch_ns / hl_ns: exactly 16 for a whole-ns half-life */
    int whole_ns;         /* hl_ns is a whole number of ns (the fold is as it always was) */
    int64_t e_ref;    /* reference epoch for rank keys: the first one seen (INT64_MIN) */
    uint32_t windows;
    int permanent, negative;
} tidal__sigdef;

typedef struct tidal__profdef {
    char name[TIDAL_NAME_MAX + 1];
    uint32_t n;
    uint32_t type[TIDAL_PROFILE_TERMS_MAX];
    double weight[TIDAL_PROFILE_TERMS_MAX];
} tidal__profdef;

/* A whole schema as tidal keeps it (>>db_schema). The stored schema, a schema event's
   payload and the handle's own schema all use it; an append only ever adds at the ends. */
typedef struct tidal__schemadef {
    uint32_t n_sig, n_ckey, n_prof;
    tidal__sigdef sig[TIDAL_SIGNAL_TYPES_MAX];
    char ckey[TIDAL_COHORT_KEYS_MAX][TIDAL_NAME_MAX + 1];
    tidal__profdef prof[TIDAL_PROFILES_MAX];
} tidal__schemadef;

/* One generation of the stored schema: how many of each it had, and its fingerprint. An
   append adds at least one element, so generations are bounded by the schema limits. */
#define TIDAL__SCHEMA_GENS_MAX                                                               \
    (TIDAL_SIGNAL_TYPES_MAX + TIDAL_COHORT_KEYS_MAX + TIDAL_PROFILES_MAX + 1)
typedef struct tidal__schemagen {
    uint32_t n_sig, n_ckey, n_prof;
    uint64_t fp;
} tidal__schemagen;

/* The decoded form of every event. Strings point into caller or db memory. */
enum {
    TIDAL__EV_SIGNAL = 1,
    TIDAL__EV_ATTR = 2,
    TIDAL__EV_NEG_ADD = 3,
    TIDAL__EV_NEG_REMOVE = 4,
    TIDAL__EV_SESSION_START = 5,
    TIDAL__EV_SESSION_NOTE = 6,
    TIDAL__EV_SESSION_END = 7,
    TIDAL__EV_EPOCH = 8, /* a new leader's first event: marks where its epoch starts */
    TIDAL__EV_INSTALL = 9, /* >>migration: a chunk of a tenant's copied state */
    TIDAL__EV_DROP = 10,   /* >>migration: the tenant leaves this group */
    TIDAL__EV_SCHEMA = 11, /* >>db_schema_file: the schema grows (the whole new schema, alone in a batch) */
    TIDAL__EV_USER_FORGET = 12, /* >>entities: a user's own state goes (tidal_user_forget) */
    TIDAL__EV_ITEM_DELETE = 13, /* >>entities: an item's state goes (tidal_item_delete) */
    TIDAL__EV_KIND_MAX = 13
};

/* Install and drop copy or remove a whole tenant (>>migration), and a schema event grows
   the schema (tidal_db_schema_append): they are not client writes (no hook, no import, a
   refusal carries its own message). */
#define TIDAL__EV_MIGRATION(kind) ((kind) == TIDAL__EV_INSTALL || (kind) == TIDAL__EV_DROP)
#define TIDAL__EV_NOT_CLIENT(kind) (TIDAL__EV_MIGRATION(kind) || (kind) == TIDAL__EV_SCHEMA)

typedef struct tidal__event {
    uint32_t kind;
    uint32_t tenant;
    tidal_event_id id;
    tidal_hlc hlc;
    int64_t time_ns;
    tidal_id entity;  /* signal: item; attr: entity; neg: user; session: session id */
    tidal_id other;   /* signal: user; neg: target; session start: user */
    uint32_t type;    /* signal type; neg kind; session end: 1 call, 2 expiry */
    double weight;
    tidal_id session; /* signal within a session */
    uint64_t seq;     /* session sequence number */
    int64_t ttl_ns;
    const char *key, *value; /* attr (value NULL: tombstone); note text in value */
    uint32_t key_len, value_len;
    uint32_t n_cohort;
    uint32_t cohort_key[TIDAL_COHORT_KEYS_MAX]; /* ascending cohort key index */
    const char *cohort_val[TIDAL_COHORT_KEYS_MAX];
    uint32_t cohort_len[TIDAL_COHORT_KEYS_MAX];
    uint32_t n_tags;
    const tidal_event_id *tags; /* neg remove: the observed tags */
} tidal__event;

/* Applied-event ids: per origin a contiguous high-water mark plus the set above it, and
   for key-derived ids a set with the event time (collected after the window). */
typedef struct tidal__origin {
    uint64_t origin; /* event id hi */
    uint64_t hwm;
    tidal__u64set above;
} tidal__origin;

/* The newest install or drop applied for a tenant (>>migration): older ones are stale. */
typedef struct tidal__tgen {
    uint32_t tenant;
    uint32_t complete; /* every chunk of install gen applied */
    uint64_t gen;
} tidal__tgen;

/* A tenant's limits on this node and what it has used (>>db_tenant). */
typedef struct tidal__tcfg {
    tidal_tenant_config cfg;
    double tokens;
    int64_t refill_ns;
    uint64_t entities;
} tidal__tcfg;

/* A peer's version vector (>>repl_vv), to skip the batches it holds. */
typedef struct tidal__vv {
    uint64_t *w;          /* pairs (origin hi, contiguous hwm), sorted by origin */
    uint32_t n, cap;
    uint32_t incarnation; /* of the peer when it sent it */
    uint64_t until;       /* filter our log up to here (our durable lsn then) */
    int valid;
} tidal__vv;

/* Pipelined shipping (>>repl_ship): a leader keeps up to TIDAL__SHIP_WINDOW data messages
   (and TIDAL__SHIP_WINDOW_BYTES of payload) in flight to each follower without waiting for
   acks; a follower keeps appends that arrive before the ones they follow (the network
   reorders) until the gap fills, up to the same bounds. */
#define TIDAL__SHIP_WINDOW 256u
#define TIDAL__SHIP_WINDOW_BYTES ((size_t)16 << 20)

typedef struct tidal__fly { /* leader: data messages in flight to one follower, oldest first */
    uint32_t n;
    uint64_t end[TIDAL__SHIP_WINDOW];  /* the last leader lsn each covers */
    int64_t at_ns[TIDAL__SHIP_WINDOW]; /* when each was sent (the oldest arms the resend) */
    uint32_t len[TIDAL__SHIP_WINDOW];  /* its payload bytes */
    size_t bytes;                      /* payload bytes in flight */
    uint64_t rewound;                  /* a gap ack rewound shipping to here ... */
    int64_t rewound_ns;                /* ... at this time: its twins are not acted on again */
} tidal__fly;

typedef struct tidal__ooo { /* follower: an append held until the one before it arrives */
    uint64_t epoch, a, b, c, d;
    uint32_t incarnation, to_incarnation;
    uint8_t *p; /* a copy of its payload, checked (tidal__payload_check) when it came */
    size_t len, use; /* use: the bytes of its first piece, as the check cut them */
} tidal__ooo;

/* ---- the parts of a tidal_db ---------------------------------------------------------
   A handle is a few owned parts plus what every part reads (env, allocator, identity,
   clock, errors). Each part has one owner: its fields are written by its owner's sections
   and read elsewhere through the owner's functions or, for hot paths, directly but never
   written. Every event enters the state through tidal__event_take (>>db_write). */

/* The schema (owner >>db_schema): the signal types, cohort keys and profiles the handle
   interprets events under, and their history. Invariants: it only grows (a type, key or
   profile is never changed or removed); n_prefix_fps fingerprints are exactly those of the
   prefixes of today's schema; schema_fp is the fingerprint of the whole of it. */
typedef struct tidal__schema_part {
    uint32_t n_sig, n_ckey, n_prof;
    tidal__sigdef sig[TIDAL_SIGNAL_TYPES_MAX];
    char ckey[TIDAL_COHORT_KEYS_MAX][TIDAL_NAME_MAX + 1];
    tidal__profdef prof[TIDAL_PROFILES_MAX];
    /* the generations the stored schema went through, and the fingerprint of every prefix
       of today's schema (what a batch may be written under) */
    uint32_t n_gen, n_prefix_fps;
    tidal__schemagen gen[TIDAL__SCHEMA_GENS_MAX];
    uint64_t prefix_fps[TIDAL_SIGNAL_TYPES_MAX * (TIDAL_COHORT_KEYS_MAX + 1)];
    uint64_t schema_fp;
    int schema_adopt, schema_dirty;  /* open: take the stored schema; save it after recovery */
    struct tidal__schemaview *schema_view; /* tidal_db_schema_get's answer (NULL until asked) */
} tidal__schema_part;

/* The state (owner >>apply and the sections it calls: >>entities, >>negatives,
   >>sessions, >>signals, >>topk, >>events): the fold over the set of events applied.
   Invariants: it changes event by event only inside tidal__apply, called only from
   tidal__event_take, and wholesale only when a snapshot is loaded (>>snapshot, at open), a
   state transfer installed (>>repl_xfer) or the handle closed; so it always equals the
   fold of exactly the events the applied-event index (origins, idem) holds. Tables and
   their maps agree (every row is in its map once). next_expiry_ns is only a hint. */
typedef struct tidal__state {
    tidal__arena arena;       /* >>util: aggregates and small state arrays */
    tidal__entity *ents;
    uint32_t n_ents, cap_ents;
    tidal__emap ent_map;      /* (tenant, id) -> entity index (>>entities) */
    tidal__tenant *tenants;
    uint32_t n_tenants, cap_tenants;
    tidal__map tenant_map;    /* tenant -> index */
    tidal__session *sess;
    uint32_t n_sess, cap_sess;
    tidal__map sess_map;      /* (tenant, session) -> index */
    int64_t next_expiry_ns;
    tidal__lb *lbs;
    uint32_t n_lbs, cap_lbs;
    tidal__map lb_map;        /* (tenant, type, ckey1, cval) -> index */
    tidal__str *strs;
    uint32_t n_strs, cap_strs;
    tidal__map str_map;       /* hash of bytes -> chain head (see >>tables) */
    /* the applied-event index (>>events): per origin a contiguous high-water mark and the
       ids above it; key-derived ids by time for the idempotency window */
    tidal__origin *origins;
    uint32_t n_origins, cap_origins;
    uint64_t local_seq;       /* the last sequence this node's own origin gave out */
    tidal__map idem_map;      /* key-derived event id -> slot in idem_time */
    int64_t *idem_time;
    uint32_t n_idem, cap_idem;
    int64_t idem_gc_at;
    tidal__tgen *tgen;        /* >>migration: per tenant, the newest install or drop */
    uint32_t n_tgen, cap_tgen;
    int forgot;               /* a forget/delete applied since the last snapshot */
} tidal__state;

/* The log (owner >>wal, >>snapshot, >>recovery, >>collect): the write-ahead log writer,
   its segments, the snapshots, durability positions and the collection of dropped
   tenants' files. Invariants: durable_lsn <= next_lsn - 1; the pending batch holds
   batch_count events of lsns [durable_lsn + 1, next_lsn) (half-open) and nothing else;
   segs ascends and the active segment is the last; snaps[0] >= snaps[1]. */
typedef struct tidal__log {
    void *dir_lock; /* the env's lock on path while open; NULL: none (no path, or a v1 env) */
    int wal_on, in_batch;
    int replaying;                   /* recovery is replaying the log */
    uint32_t fsync_policy, batch_events_max;
    int64_t batch_delay_ns, batch_start_ns;
    uint64_t segment_bytes_max;
    uint64_t next_lsn, durable_lsn;
    uint8_t *batch;                  /* TIDAL__WAL_HDR bytes of header room, then payload */
    size_t batch_len, batch_cap;
    uint32_t batch_count;
    void *seg;                       /* open active segment, NULL before the first commit */
    uint64_t seg_size;
    uint64_t *segs;                  /* first lsn of each live segment, ascending */
    uint32_t n_segs, cap_segs;
    uint64_t snaps[2];               /* lsns of the kept snapshots, newest first; 0 = none */
    uint64_t snap_log_bytes;         /* config.snapshot_log_bytes (resolved) */
    uint64_t log_since_snap;         /* log bytes written (or replayed) since the last one */
    struct tidal__event *dec;        /* a batch's events, decoded once (tidal__batch_decode) */
    uint32_t n_dec, cap_dec;
    uint32_t *collect;               /* >>collect: dropped tenants old files may still hold */
    uint32_t n_collect, cap_collect;
    int collect_saved;               /* the collect file lists every one of them */
    int collect_snaps;               /* snapshots older than collect_lsn may remain */
    uint64_t collect_lsn;            /* the snapshot collection retires below (0: not yet) */
} tidal__log;

/* The replication member (owner the >>repl_* sections): role, epoch and votes, what each
   peer holds and what is in flight to it, the recent batches kept for shipping, elections
   and the state transfer. Invariants: n_rep == 0 (a lone node) or self_rep < n_rep; a
   leader's leader_idx is self_rep (tidal__rep_leading asserts both); peer[self_rep] and
   fly[self_rep] are unused. */
typedef struct tidal__member {
    uint32_t n_rep, self_rep;
    tidal_node_ref member[TIDAL_REPLICAS_MAX];
    uint64_t epoch;
    int64_t heartbeat_ns, retransmit_ns;
    struct {
        uint64_t acked, sent;   /* sent > acked: data messages are in flight (fly[]) */
        int64_t sent_ns, hb_ns; /* last data message, last message of any kind */
        uint64_t pushed;        /* its own log, applied here (while leading) */
        int xfer;               /* a state transfer to it is under way */
        uint64_t xfer_off;      /* bytes of it the follower holds */
        int64_t xfer_retry_ns;  /* a refused transfer is offered again after this */
        uint32_t inc;           /* its incarnation, as its messages say */
        int greeted;            /* it answered since we took the lead: its vector is in */
        int resync;             /* a new life of it: its next ack says where it is */
    } peer[TIDAL_REPLICAS_MAX];
    int64_t lead_since_ns;
    int vv_to_leader;                /* follower: send our vector with acks (until data) */
    int64_t follow_since_ns;         /* follower: when it took its current leader */
    uint8_t *xfer;                   /* leader: the state being transferred: lsn u64, body */
    size_t xfer_len, xfer_cap;
    uint64_t xfer_lsn;
    uint8_t *xin;                    /* follower: the transfer being received */
    size_t xin_len, xin_cap;
    int role, leader_idx;            /* tidal_role or TIDAL__CANDIDATE; -1 = leader unknown */
    int bootstrap, amnesiac;         /* amnesiac: lost its disk; no votes until caught up */
    uint32_t leader_inc;             /* incarnation of the leader whose log pos_epoch tracks */
    uint64_t epoch_start_lsn;        /* leader: its epoch-start batch; quorum counts from it */
    uint64_t voted_epoch, pos_epoch, log_epoch;
    uint64_t log_pos;                /* how far into log_epoch's leader log our log goes */
    uint32_t voted_for, votes;       /* node word + 1 (0 = none); bitmask of granted votes */
    int64_t election_timeout_ns, election_due_ns;
    uint64_t up_acked, up_sent;      /* follower: own log pushed to / applied by the leader */
    int64_t up_sent_ns;
    uint8_t *out;                    /* scratch for outgoing payloads */
    size_t out_len, out_cap;
    uint64_t quorum_lsn;
    uint8_t *ship;                   /* recent committed batches, verbatim */
    size_t ship_len, ship_cap;
    uint64_t ship_first;             /* first lsn in ship (0: empty) */
    size_t ship_hint_off;            /* a batch boundary in ship: the batch starting at */
    uint64_t ship_hint_lsn;          /* ship_hint_lsn (0: no hint), where the last slice ended */
    uint64_t leader_pos, leader_durable; /* follower: leader lsn applied / known durable */
    uint64_t recv_epoch;             /* epoch of the batch being ingested (stamped on it) */
    int64_t behind_since_ns;
    int needs_snapshot;
    uint64_t msgs_sent, msgs_received, msgs_corrupt, msgs_fenced, msgs_stale;
    uint32_t config_version;         /* control-plane config in force here */
    uint32_t group;                  /* config.group */
    int availability;                /* config.availability_mode */
    int64_t quorum_wait_ns, clock_ahead_max_ns;
    int64_t leader_heard_ns;         /* follower: last message from the leader */
    uint32_t prevotes;               /* bitmask of pre-votes for our next epoch (0: none asked) */
    uint32_t amn_heard;              /* amnesiac: members heard from since it came back */
    uint64_t clock_ahead;            /* peer stamps too far ahead (not followed) */
    uint32_t clock_ahead_node;
    int64_t clock_ahead_ns;
    int ingesting;                   /* committing a batch taken from the leader */
    /* version vectors (anti-entropy): the peer's applied origins, to skip what it holds */
    tidal__vv vv_peer[TIDAL_REPLICAS_MAX];
    /* group-stable log: what every member holds may be retired */
    uint64_t stable_lsn;             /* follower: own log <= it is held by every member */
    uint64_t stable_q[32][2];        /* follower: (own lsn pushed, leader lsn holding it) */
    uint32_t n_stable_q;
    int peer_amnesiac[TIDAL_REPLICAS_MAX]; /* leader: the peer said it lost its disk */
    tidal__fly fly[TIDAL_REPLICAS_MAX];    /* leader: pipelined shipping, per follower */
    tidal__ooo ooo[TIDAL__SHIP_WINDOW];    /* follower: appends that came early */
    uint32_t n_ooo;
    size_t ooo_bytes;
} tidal__member;

/* Tenant limits (owner >>db_tenant): each tenant's config on this node and what it used.
   Invariant: at most one row per tenant; a tenant without a row has no limits. */
typedef struct tidal__tenants {
    tidal__tcfg *tcfg;
    uint32_t n_tcfg, cap_tcfg;
} tidal__tenants;

struct tidal_db {
    tidal_allocator alloc;
    const tidal_env *env;
    tidal_node_ref node;
    uint32_t incarnation;
    char path[TIDAL_PATH_MAX + 1];   /* the directory; "" without one */
    tidal_hlc hlc;
    int64_t hlc_bound;               /* replicated: persisted; no stamp reaches it (>>hlc) */
    /* config, resolved at open */
    int64_t future_bound_ns, idem_window_ns;
    int64_t time_min_ns;             /* config.time_min_ns resolved: 0 when there is none */
    uint32_t limit_max, session_events_max;
    /* the parts */
    tidal__schema_part schema;       /* what events mean */
    tidal__state st;                 /* the fold */
    tidal__log log;                  /* the files */
    tidal__member rep;               /* this handle as a member of its replica group */
    tidal__tenants ten;              /* tenant configs and limits */
    /* scratch: tags of a decoded event (>>codec) */
    tidal_event_id *scratch_tags;
    uint32_t cap_scratch_tags;
    /* observers: the host's hook, and white-box tests' tap on every locally written event
       (NULL in normal use) */
    tidal_event_hook hook;
    void *hook_ctx;
    uint8_t *hook_buf;
    size_t hook_cap;
    void (*tap)(void *ctx, const struct tidal__event *ev);
    void *tap_ctx;
    /* >>node: the id the next local client event takes instead of an origin id (a peer
       call's idempotency key, derived there); (0, 0) in normal use, reset after the call */
    tidal_event_id id_next;
    /* errors and counters */
    int fatal;                       /* an I/O failure left the log unknown: reopen */
    tidal_db_stats stats;
    char errmsg[512]; /* room for a context, an operation, a full path and the OS's text */
};

// >>util
// Allocation through the runtime allocator, error messages, small helpers. All allocation
// goes through tidal__alloc/tidal__realloc/tidal__free so the simulator can count and fail
// it per node; bytes_state tracks what state holds.

/* Allocations of at least this many bytes by the default allocator are offered to the OS
   for transparent huge pages (tidal__mem_hint, >>env_posix): building a large state (a
   snapshot load or a replay fills hundreds of MiB) otherwise takes one page fault per
   4 KiB, and on virtual machines a fault costs microseconds. A runtime allocator (the
   simulator's) is never hinted. */
#define TIDAL__HUGE_MIN ((size_t)4 << 20)
static void tidal__mem_hint(void *p, size_t size);

static void *tidal__default_alloc(void *user, size_t size) {
    void *p = TIDAL_MALLOC(size);
    (void)user;
    if (p && size >= TIDAL__HUGE_MIN) tidal__mem_hint(p, size);
    return p;
}
static void *tidal__default_realloc(void *user, void *p, size_t old_size, size_t new_size) {
    void *q = TIDAL_REALLOC(p, new_size);
    (void)user;
    if (q && new_size >= TIDAL__HUGE_MIN && new_size > old_size) tidal__mem_hint(q, new_size);
    return q;
}
static void tidal__default_free(void *user, void *p, size_t size) {
    (void)user;
    (void)size;
    TIDAL_FREE(p);
}

static void *tidal__alloc(tidal_db *db, size_t size) {
    void *p;
    TIDAL_ASSERT(size > 0);
    p = db->alloc.alloc(db->alloc.user, size);
    if (p) db->stats.bytes_state += size;
    return p;
}

static void *tidal__zalloc(tidal_db *db, size_t size) {
    void *p = tidal__alloc(db, size);
    if (p) memset(p, 0, size);
    return p;
}

static void *tidal__realloc(tidal_db *db, void *p, size_t old_size, size_t new_size) {
    void *q;
    TIDAL_ASSERT(new_size > 0);
    if (!p) return tidal__alloc(db, new_size);
    q = db->alloc.realloc(db->alloc.user, p, old_size, new_size);
    if (q) db->stats.bytes_state += new_size - old_size;
    return q;
}

static void tidal__free(tidal_db *db, void *p, size_t size) {
    if (!p) return;
    db->alloc.free(db->alloc.user, p, size);
    db->stats.bytes_state -= size;
}

/* Grows *arr (of elem bytes each) so it holds at least need elements. */
static int tidal__grow(tidal_db *db, void **arr, uint32_t *cap, uint32_t need, size_t elem) {
    uint32_t c = *cap ? *cap : 1;
    void *p;
    if (need <= *cap) return 1;
    while (c < need) {
        if (c > UINT32_MAX / 2) return 0;
        c *= 2;
    }
    if ((size_t)c > SIZE_MAX / elem) return 0;
    p = tidal__realloc(db, *arr, (size_t)*cap * elem, (size_t)c * elem);
    if (!p) return 0;
    *arr = p;
    *cap = c;
    return 1;
}
#define TIDAL__GROW(db, arr, cap, need) \
    tidal__grow((db), (void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* Under AddressSanitizer a free chunk (but its link word) is poisoned, so a use after
   free inside the arena is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define TIDAL__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TIDAL__ASAN 1
#endif
#endif
#ifdef TIDAL__ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define TIDAL__POISON(p, n) __asan_poison_memory_region((p), (n))
#define TIDAL__UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define TIDAL__POISON(p, n) ((void)(p), (void)(n))
#define TIDAL__UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A hint that p will be read soon: the write path starts the independent chains of
   misses (the item's and the user's) together instead of one after the other. */
#if defined(__GNUC__) || defined(__clang__)
#define TIDAL__PREFETCH(p) __builtin_prefetch((const void *)(p))
#else
#define TIDAL__PREFETCH(p) ((void)(p))
#endif

/* The arena (struct tidal__arena): chunk sizes by class. Aggregate records are 128. */
static const uint16_t tidal__arena_size[TIDAL__ARENA_CLASSES] = {
    16, 24, 32, 48, 64, 96, 128, 144, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072,
    4096, 6144, 8192};

static int tidal__arena_class(size_t size) {
    /* classes by 8-byte steps up to 144 (every aggregate and small array), then a walk */
    static const uint8_t small[19] = {0, 0, 0, 1, 2, 3, 3, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7};
    int c = 8;
    TIDAL_ASSERT(size > 0 && size <= TIDAL__ARENA_MAX);
    if (size <= 144) return small[(size + 7) >> 3];
    while (tidal__arena_size[c] < size) c++;
    return c;
}

/* Arena blocks start at TIDAL__ARENA_BLOCK and double up to this size, so a small state
   stays small and a large one is carved from few large blocks (huge pages where the OS
   gives them: tidal__mem_hint). A block's first 16 bytes hold the link and its size. */
#define TIDAL__ARENA_BLOCK_MAX ((size_t)32 << 20)

static size_t tidal__arena_block_size(const void *blk) {
    uint64_t n;
    memcpy(&n, (const char *)blk + sizeof(void *), sizeof n);
    TIDAL_ASSERT(n >= TIDAL__ARENA_BLOCK && n <= TIDAL__ARENA_BLOCK_MAX);
    return (size_t)n;
}

/* A new bump block, the old block's tail going to the free lists. 0 when out of memory. */
static int tidal__arena_grow(tidal_db *db, tidal__arena *a) {
    size_t size = a->blocks ? 2 * tidal__arena_block_size(a->blocks) : TIDAL__ARENA_BLOCK;
    uint64_t n;
    char *blk;
    if (size > TIDAL__ARENA_BLOCK_MAX) size = TIDAL__ARENA_BLOCK_MAX;
    if (!(blk = (char *)tidal__alloc(db, size))) return 0;
    while (a->cur && a->end - a->cur >= 16) { /* the old block's tail: to free lists */
        int k = TIDAL__ARENA_CLASSES - 1;
        while (tidal__arena_size[k] > (size_t)(a->end - a->cur)) k--;
        memcpy(a->cur, &a->free[k], sizeof(void *));
        a->free[k] = a->cur;
        a->cur += tidal__arena_size[k];
    }
    n = size;
    memcpy(blk, &a->blocks, sizeof(void *));
    memcpy(blk + sizeof(void *), &n, sizeof n);
    a->blocks = blk;
    a->cur = blk + 16; /* the link and size, and 16-byte alignment for what follows */
    a->end = blk + size;
    TIDAL_ASSERT(sizeof(void *) + sizeof n <= 16);
    return 1;
}

/* A chunk of at least size bytes (the class size when size <= TIDAL__ARENA_MAX, which
   the caller may use whole: tidal__arena_room). NULL when out of memory. */
static void *tidal__arena_alloc(tidal_db *db, size_t size) {
    tidal__arena *a = &db->st.arena;
    int c;
    void *p;
    if (size > TIDAL__ARENA_MAX) return tidal__alloc(db, size);
    c = tidal__arena_class(size);
    if (a->free[c]) {
        p = a->free[c];
        TIDAL__UNPOISON(p, tidal__arena_size[c]);
        memcpy(&a->free[c], p, sizeof(void *));
    } else {
        size_t gap = tidal__arena_size[c] % 64 ? 0 : (size_t)(-(uintptr_t)a->cur & 63);
        if (!a->cur || (size_t)(a->end - a->cur) < tidal__arena_size[c] + gap) {
            if (!tidal__arena_grow(db, a)) return NULL;
            gap = tidal__arena_size[c] % 64 ? 0 : (size_t)(-(uintptr_t)a->cur & 63);
        }
        /* A chunk of a multiple of 64 bytes (a record) starts a cache line: the gap before
           it (8..56 bytes) goes to the free lists, but for a last 8 that no class takes. */
        TIDAL_ASSERT(gap < 64 && gap % 8 == 0);
        while (gap >= 16) {
            int k = gap >= 48 ? 3 : gap >= 32 ? 2 : gap >= 24 ? 1 : 0;
            memcpy(a->cur, &a->free[k], sizeof(void *));
            a->free[k] = a->cur;
            a->cur += tidal__arena_size[k];
            gap -= tidal__arena_size[k];
        }
        a->cur += gap;
        p = a->cur;
        a->cur += tidal__arena_size[c];
    }
    a->chunks++;
    return p;
}

/* The bytes a chunk asked for with size really has. */
static size_t tidal__arena_room(size_t size) {
    return size > TIDAL__ARENA_MAX ? size : tidal__arena_size[tidal__arena_class(size)];
}

static void tidal__arena_free(tidal_db *db, void *p, size_t size) {
    tidal__arena *a = &db->st.arena;
    int c;
    if (!p) return;
    if (size > TIDAL__ARENA_MAX) {
        tidal__free(db, p, size);
        return;
    }
    TIDAL_ASSERT(a->chunks > 0);
    c = tidal__arena_class(size);
    memcpy(p, &a->free[c], sizeof(void *));
    a->free[c] = p;
    a->chunks--;
    TIDAL__POISON((char *)p + sizeof(void *), tidal__arena_size[c] - sizeof(void *));
}

/* Returns every block (state_free: nothing in the arena is referenced any more). */
static void tidal__arena_release(tidal_db *db) {
    tidal__arena *a = &db->st.arena;
    while (a->blocks) {
        void *next;
        size_t size = tidal__arena_block_size(a->blocks);
        memcpy(&next, a->blocks, sizeof(void *));
        TIDAL__UNPOISON(a->blocks, size);
        tidal__free(db, a->blocks, size);
        a->blocks = next;
    }
    memset(a, 0, sizeof *a);
}

/* tidal__grow in the arena: *cap becomes what the chunk holds (need or more). */
static int tidal__agrow(tidal_db *db, void **arr, uint32_t *cap, uint32_t need, size_t elem) {
    uint32_t c = *cap ? *cap : 1;
    void *p;
    size_t room;
    if (need <= *cap) return 1;
    while (c < need) {
        if (c > UINT32_MAX / 2) return 0;
        c *= 2;
    }
    if ((size_t)c > SIZE_MAX / elem) return 0;
    if ((size_t)need * elem <= TIDAL__ARENA_MAX) c = need; /* the class rounds it up */
    room = tidal__arena_room((size_t)c * elem);
    if (!(p = tidal__arena_alloc(db, (size_t)c * elem))) return 0;
    c = (uint32_t)(room / elem);
    if (*cap) memcpy(p, *arr, (size_t)*cap * elem);
    tidal__arena_free(db, *arr, (size_t)*cap * elem);
    *arr = p;
    *cap = c;
    return 1;
}
#define TIDAL__AGROW(db, arr, cap, need) \
    tidal__agrow((db), (void **)&(arr), &(cap), (need), sizeof(*(arr)))

static tidal_result tidal__err(tidal_db *db, tidal_result r, const char *fmt, ...) {
    va_list ap;
    if (!db) return r;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    return r;
}

static void tidal__ok(tidal_db *db) {
    if (db) db->errmsg[0] = 0;
}

/* tidal__err for entry points that take a const handle: the message is the one thing they
   change (the handle itself is never a const object: tidal_db_open allocated it). */
static tidal_result tidal__err_const(const tidal_db *cdb, tidal_result r, const char *fmt, ...) {
    tidal_db *db = (tidal_db *)(uintptr_t)cdb;
    va_list ap;
    TIDAL_ASSERT(db && fmt);
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    return r;
}

/* Every result code is >= TIDAL_RESULT_MIN_ (the header derives it from the list). */
#define TIDAL__RESULT_MIN_CHECK(name, value, text) \
    TIDAL__STATIC_ASSERT(result_min_##name, (value) >= TIDAL_RESULT_MIN_);
TIDAL_RESULTS(TIDAL__RESULT_MIN_CHECK)
#undef TIDAL__RESULT_MIN_CHECK

/* The env's text for why the env call that just failed failed (the OS's errno text under
   POSIX), or "" when the env has none (a version-1 env, or no error_text method). */
static void tidal__os_text(const tidal_db *db, char *buf, size_t cap) {
    const tidal_env *env = db->env;
    TIDAL_ASSERT(buf && cap > 0);
    buf[0] = 0;
    if (env && env->version >= 2 && env->error_text) env->error_text(env->user, buf, cap);
    buf[cap - 1] = 0;
}

/* Records a failed env call as "<op> <path>: <OS text>" (tidal_strerror(r) when the env
   gives no text), e.g. "open db/wal-0000-0000-0000000000000001.log: Permission denied".
   Call it right after the failing call, before any other env call, so the OS text is this
   failure's. Returns r. */
static tidal_result tidal__io_err(tidal_db *db, tidal_result r, const char *op, const char *path) {
    char os[160];
    TIDAL_ASSERT(db && op && path);
    TIDAL_ASSERT(r != TIDAL_OK);
    tidal__os_text(db, os, sizeof os);
    return tidal__err(db, r, "%s %s: %s", op, path, os[0] ? os : tidal_strerror(r));
}

/* Puts a context before the message already recorded: "<context>: <message>" ("<context>
   (<result text>)" when none was), cut at the end if it does not fit. Returns r. */
static tidal_result tidal__err_wrap(tidal_db *db, tidal_result r, const char *fmt, ...) {
    char was[sizeof db->errmsg], ctx[sizeof db->errmsg];
    va_list ap;
    TIDAL_ASSERT(db && fmt);
    memcpy(was, db->errmsg, sizeof was);
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    if (!was[0]) return tidal__err(db, r, "%s (%s)", ctx, tidal_strerror(r));
    return tidal__err(db, r, "%s: %s", ctx, was);
}

/* Refuses a caller's time (an event time or a query time; what names it) below
   config.time_min_ns: by its magnitude it is most likely seconds, milliseconds or
   microseconds since the epoch, which tidal would read as a date in 1970. */
static tidal_result tidal__time_check(tidal_db *db, int64_t t, const char *what) {
    const char *unit;
    TIDAL_ASSERT(db && what);
    if (t >= db->time_min_ns) return TIDAL_OK;
    if (t < 0)
        return tidal__err(db, TIDAL_ERR_INVALID, "%s %lld is negative; tidal takes nanoseconds "
                          "since the epoch", what, (long long)t);
    unit = t < INT64_C(100000000000) ? "seconds" : t < INT64_C(100000000000000) ? "milliseconds"
         : t < INT64_C(100000000000000000) ? "microseconds" : NULL;
    if (unit)
        return tidal__err(db, TIDAL_ERR_INVALID, "%s %lld looks like %s; tidal takes nanoseconds "
                          "since the epoch (config.time_min_ns %lld)", what, (long long)t, unit,
                          (long long)db->time_min_ns);
    return tidal__err(db, TIDAL_ERR_INVALID, "%s %lld ns is before config.time_min_ns %lld "
                      "(default 2000-01-01; negative for no minimum)", what, (long long)t,
                      (long long)db->time_min_ns);
}

TIDAL_API const char *tidal_strerror(tidal_result r) {
    switch (r) {
#define TIDAL__RESULT_CASE(name, value, text) \
    case name: return text;
        TIDAL_RESULTS(TIDAL__RESULT_CASE)
#undef TIDAL__RESULT_CASE
    default: return "unknown result";
    }
}

TIDAL_API const char *tidal_errmsg(const tidal_db *db) { return db ? db->errmsg : "no handle"; }

static int tidal__name_ok(const char *s, size_t max) {
    size_t n = 0;
    if (!s) return 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= max) return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0;
}

/* Bounded strlen: returns max + 1 when s is longer than max. */
static size_t tidal__strnlen(const char *s, size_t max) {
    size_t n = 0;
    while (n <= max && s[n]) n++;
    return n;
}

static uint64_t tidal__mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t tidal__hash_bytes(const void *p, size_t n) {
    const uint8_t *b = (const uint8_t *)p;
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ n;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return tidal__mix64(h);
}

static int64_t tidal__floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static int tidal__id_cmp(tidal_event_id a, tidal_event_id b) {
    if (a.hi != b.hi) return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo) return a.lo < b.lo ? -1 : 1;
    return 0;
}

static int tidal__hlc_cmp(tidal_hlc a, tidal_hlc b) {
    if (a.wall_ns != b.wall_ns) return a.wall_ns < b.wall_ns ? -1 : 1;
    if (a.logical != b.logical) return a.logical < b.logical ? -1 : 1;
    if (a.node != b.node) return a.node < b.node ? -1 : 1;
    return 0;
}

/* ---- fixed point ---- */

static tidal__fx tidal__fx_add(tidal__fx a, tidal__fx b) {
    tidal__fx r;
    r.lo = a.lo + b.lo;
    r.hi = a.hi + b.hi + (r.lo < a.lo);
    return r;
}

#define TIDAL__TWO40 1099511627776.0                /* 2^40, exact */
#define TIDAL__TWO_M40 (1.0 / 1099511627776.0)       /* 2^-40, exact */
#define TIDAL__TWO64 18446744073709551616.0          /* 2^64, exact */
#define TIDAL__TWO_M64 (1.0 / 18446744073709551616.0) /* 2^-64, exact */

/* Exact conversion of x * 2^40 rounded to nearest (ties to even). |x| < 2^80 assumed.
   Scaling by exact powers of two is exact, so no libm call is needed on this hot path. */
static tidal__fx tidal__fx_from_double(double x) {
    tidal__fx r;
    double v = x * TIDAL__TWO40, hi, lo;
    int neg = v < 0;
    TIDAL_ASSERT(isfinite(x) && fabs(v) < 1.2e38);
    if (neg) v = -v;
    if (v < 9007199254740992.0) v = rint(v);
    if (v < TIDAL__TWO64) { /* the common case: fits the low word */
        r.hi = 0;
        r.lo = (uint64_t)v;
    } else {
        hi = floor(v * TIDAL__TWO_M64);
        lo = v - hi * TIDAL__TWO64; /* exact: v and hi*2^64 share the exponent range */
        r.hi = (uint64_t)hi;
        r.lo = (uint64_t)lo;
    }
    if (neg) { /* two's complement negate */
        r.lo = ~r.lo + 1;
        r.hi = ~r.hi + (r.lo == 0);
    }
    return r;
}

static double tidal__fx_to_double(tidal__fx a) {
    int neg = (a.hi >> 63) != 0;
    double v;
    if (neg) {
        a.lo = ~a.lo + 1;
        a.hi = ~a.hi + (a.lo == 0);
    }
    v = (double)a.hi * TIDAL__TWO64 + (double)a.lo;
    v *= TIDAL__TWO_M40;
    return neg ? -v : v;
}

/* 2^x for x in [0, 64), from +, *, / only so every node computes the same bits (libm's
   exp2 may differ between platforms, and these values feed the state digest). */
static double tidal__exp2_det(double x) {
    /* 1/k! for k = 1..13: Horner's rule below uses only * and +, with no fused multiply-add
       (each product is its own statement), so every IEEE-754 platform gets the same bits. */
    static const double inv_fact[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120,
                                        1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880,
                                        1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
                                        1.0 / 6227020800.0};
    double n = floor(x), r = (x - n) * (0.693147180559945309417232121458 / 16.0), sum, p;
    int i;
    TIDAL_ASSERT(x >= 0.0 && x < 64.0);
    sum = inv_fact[13];
    for (i = 12; i >= 0; i--) { /* exp(r), |r| < 0.044: 13 terms reach 1 ulp */
        p = sum * r;
        sum = p + inv_fact[i];
    }
    sum *= sum; sum *= sum; sum *= sum; sum *= sum; /* ^16 */
    return ldexp(sum, (int)n);
}

// >>tables
// Open-addressing hash map from a 128-bit key to a u32, linear probing, power-of-two
// capacity, load <= 1/2, deletion by backward shift (no tombstones). u64 sets use 0 as the
// empty slot. Iteration order is never used for anything observable (principle 13).

static uint64_t tidal__map_hash(uint64_t k0, uint64_t k1) {
    return tidal__mix64(k0 * UINT64_C(0x9E3779B97F4A7C15) ^ tidal__mix64(k1));
}

static uint32_t tidal__map_get(const tidal__map *m, uint64_t k0, uint64_t k1) {
    uint32_t i, mask;
    if (!m->cap) return UINT32_MAX;
    mask = m->cap - 1;
    for (i = (uint32_t)tidal__map_hash(k0, k1) & mask; m->s[i].v != UINT32_MAX; i = (i + 1) & mask)
        if (m->s[i].k0 == k0 && m->s[i].k1 == k1) return m->s[i].v;
    return UINT32_MAX;
}

static void tidal__map_free(tidal_db *db, tidal__map *m) {
    tidal__free(db, m->s, sizeof(tidal__slot) * m->cap);
    memset(m, 0, sizeof *m);
}

static void tidal__map_place(tidal__map *m, uint64_t k0, uint64_t k1, uint32_t v) {
    uint32_t mask = m->cap - 1, i = (uint32_t)tidal__map_hash(k0, k1) & mask;
    while (m->s[i].v != UINT32_MAX) i = (i + 1) & mask;
    m->s[i].k0 = k0;
    m->s[i].k1 = k1;
    m->s[i].v = v;
}

static int tidal__map_reserve(tidal_db *db, tidal__map *m, uint32_t need) {
    tidal__map old = *m;
    uint32_t cap = m->cap ? m->cap : 16, i;
    if ((uint64_t)need * 2 <= m->cap) return 1;
    while ((uint64_t)need * 2 > cap) {
        if (cap >= (1u << 31)) return 0;
        cap *= 2;
    }
    m->s = (tidal__slot *)tidal__alloc(db, sizeof(tidal__slot) * cap);
    if (!m->s) {
        *m = old;
        return 0;
    }
    for (i = 0; i < cap; i++) {
        m->s[i].v = UINT32_MAX;
        m->s[i].pad_ = 0;
    }
    m->cap = cap;
    m->n = old.n;
    for (i = 0; i < old.cap; i++)
        if (old.s[i].v != UINT32_MAX) tidal__map_place(m, old.s[i].k0, old.s[i].k1, old.s[i].v);
    tidal__map_free(db, &old);
    return 1;
}

/* Inserts a key that is not present. Returns 0 on allocation failure (map unchanged). */
static int tidal__map_put(tidal_db *db, tidal__map *m, uint64_t k0, uint64_t k1, uint32_t v) {
    TIDAL_ASSERT(v != UINT32_MAX);
    TIDAL_ASSERT(tidal__map_get(m, k0, k1) == UINT32_MAX);
    if (!tidal__map_reserve(db, m, m->n + 1)) return 0;
    tidal__map_place(m, k0, k1, v);
    m->n++;
    return 1;
}

static int tidal__set_has(const tidal__u64set *s, uint64_t x) {
    uint32_t i, mask;
    TIDAL_ASSERT(x != 0);
    if (!s->cap) return 0;
    mask = s->cap - 1;
    for (i = (uint32_t)tidal__mix64(x) & mask; s->slot[i]; i = (i + 1) & mask)
        if (s->slot[i] == x) return 1;
    return 0;
}

static void tidal__set_place(tidal__u64set *s, uint64_t x) {
    uint32_t mask = s->cap - 1, i = (uint32_t)tidal__mix64(x) & mask;
    while (s->slot[i]) i = (i + 1) & mask;
    s->slot[i] = x;
}

/* Adds x (nonzero). Returns 1 if added, 0 if present, -1 on allocation failure. */
static int tidal__set_add(tidal_db *db, tidal__u64set *s, uint64_t x) {
    if (tidal__set_has(s, x)) return 0;
    if ((uint64_t)(s->n + 1) * 2 > s->cap) {
        tidal__u64set old = *s;
        uint32_t cap = s->cap ? s->cap * 2 : 8, i;
        s->slot = (uint64_t *)tidal__arena_alloc(db, (size_t)cap * 8); /* a power of 2 */
        if (!s->slot) {
            *s = old;
            return -1;
        }
        memset(s->slot, 0, (size_t)cap * 8);
        s->cap = cap;
        for (i = 0; i < old.cap; i++)
            if (old.slot[i]) tidal__set_place(s, old.slot[i]);
        tidal__arena_free(db, old.slot, (size_t)old.cap * 8);
    }
    tidal__set_place(s, x);
    s->n++;
    return 1;
}

static void tidal__set_del(tidal__u64set *s, uint64_t x) {
    uint32_t mask, i, j;
    if (!s->cap) return;
    mask = s->cap - 1;
    for (i = (uint32_t)tidal__mix64(x) & mask; s->slot[i]; i = (i + 1) & mask)
        if (s->slot[i] == x) break;
    if (!s->slot[i]) return;
    s->slot[i] = 0;
    s->n--;
    for (j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)tidal__mix64(s->slot[j]) & mask;
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            s->slot[i] = s->slot[j];
            s->slot[j] = 0;
            i = j;
        }
    }
}

static void tidal__set_free(tidal_db *db, tidal__u64set *s) {
    tidal__arena_free(db, s->slot, (size_t)s->cap * 8);
    memset(s, 0, sizeof *s);
}

static int tidal__u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Interned strings: equal bytes get one id. Ids are private; nothing observable
   (digests, encodings) uses them, since they depend on arrival order. */
static uint32_t tidal__str_find(const tidal_db *db, const char *s, uint32_t len) {
    uint64_t h = tidal__hash_bytes(s, len);
    uint32_t i = tidal__map_get(&db->st.str_map, h, 0);
    for (; i != UINT32_MAX; i = db->st.strs[i].next)
        if (db->st.strs[i].len == len && !memcmp(db->st.strs[i].s, s, len)) return i;
    return UINT32_MAX;
}

static uint32_t tidal__str_intern(tidal_db *db, const char *s, uint32_t len) {
    uint32_t id = tidal__str_find(db, s, len), head;
    uint64_t h;
    char *copy;
    if (id != UINT32_MAX) return id;
    if (db->st.n_strs == UINT32_MAX - 1) return UINT32_MAX;
    if (!TIDAL__GROW(db, db->st.strs, db->st.cap_strs, db->st.n_strs + 1)) return UINT32_MAX;
    copy = (char *)tidal__alloc(db, (size_t)len + 1);
    if (!copy) return UINT32_MAX;
    memcpy(copy, s, len);
    copy[len] = 0;
    h = tidal__hash_bytes(s, len);
    head = tidal__map_get(&db->st.str_map, h, 0);
    if (head == UINT32_MAX) {
        if (!tidal__map_put(db, &db->st.str_map, h, 0, db->st.n_strs)) {
            tidal__free(db, copy, (size_t)len + 1);
            return UINT32_MAX;
        }
    } else {
        /* Chain: the map keeps the first id; str_next links the rest. */
        uint32_t i = head;
        while (db->st.strs[i].next != UINT32_MAX) i = db->st.strs[i].next;
        db->st.strs[i].next = db->st.n_strs;
    }
    db->st.strs[db->st.n_strs].s = copy;
    db->st.strs[db->st.n_strs].len = len;
    db->st.strs[db->st.n_strs].next = UINT32_MAX;
    return db->st.n_strs++;
}
// >>blake3
// BLAKE3 hash / keyed_hash / derive_key with any-length (XOF) output, written
// from the spec: portable C99, no allocation, no globals. Whole chunks/blocks are
// hashed straight from the caller's buffer: 8 chunks at once with AVX2 on x86-64
// when the CPU has it (checked at run time), else 4 via GNU C vector types, unless
// TIDAL_BLAKE3_SCALAR. Invariant: a buffered block or finished chunk is
// compressed/merged only once more input follows. Input < 2^64 B.

#define TIDAL__BLAKE3_CHUNK_START 1u
#define TIDAL__BLAKE3_CHUNK_END   2u
#define TIDAL__BLAKE3_PARENT      4u
#define TIDAL__BLAKE3_ROOT        8u
#define TIDAL__BLAKE3_KEYED       16u
#define TIDAL__BLAKE3_DKCONTEXT   32u
#define TIDAL__BLAKE3_DKMATERIAL  64u
#define TIDAL__BLAKE3_MAX_DEPTH   54

static const uint32_t tidal__blake3_iv[8] = {
    0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
    0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u
};

/* Little-endian load/store by bytes: portable, alignment-free, and folded
 * into single mov instructions by gcc/clang at -O2. */
static uint32_t tidal__blake3_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
           ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void tidal__blake3_store32(uint8_t *p, uint32_t w)
{
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

static void tidal__blake3_load_block(uint32_t m[16], const uint8_t *p)
{
    int i;
    for (i = 0; i < 16; i++) m[i] = tidal__blake3_load32(p + 4 * i);
}

#define TIDAL__BLAKE3_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define TIDAL__BLAKE3_G(a, b, c, d, x, y) do {                  \
        a = a + b + (x); d = TIDAL__BLAKE3_ROTR(d ^ a, 16);     \
        c = c + d;       b = TIDAL__BLAKE3_ROTR(b ^ c, 12);     \
        a = a + b + (y); d = TIDAL__BLAKE3_ROTR(d ^ a, 8);      \
        c = c + d;       b = TIDAL__BLAKE3_ROTR(b ^ c, 7);      \
    } while (0)
/* One round; s0..s15 is that round's message schedule (the spec's
 * permutation applied r times to 0..15). */
#define TIDAL__BLAKE3_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10,  \
                            s11, s12, s13, s14, s15) do {                 \
        TIDAL__BLAKE3_G(v0, v4, v8,  v12, m[s0],  m[s1]);                 \
        TIDAL__BLAKE3_G(v1, v5, v9,  v13, m[s2],  m[s3]);                 \
        TIDAL__BLAKE3_G(v2, v6, v10, v14, m[s4],  m[s5]);                 \
        TIDAL__BLAKE3_G(v3, v7, v11, v15, m[s6],  m[s7]);                 \
        TIDAL__BLAKE3_G(v0, v5, v10, v15, m[s8],  m[s9]);                 \
        TIDAL__BLAKE3_G(v1, v6, v11, v12, m[s10], m[s11]);                \
        TIDAL__BLAKE3_G(v2, v7, v8,  v13, m[s12], m[s13]);                \
        TIDAL__BLAKE3_G(v3, v4, v9,  v14, m[s14], m[s15]);                \
    } while (0)
/* All 7 rounds on v0..v15 with message words m[0..15] (scalar or vector). */
#define TIDAL__BLAKE3_ROUNDS do {                                              \
    TIDAL__BLAKE3_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); \
    TIDAL__BLAKE3_ROUND(2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8); \
    TIDAL__BLAKE3_ROUND(3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1); \
    TIDAL__BLAKE3_ROUND(10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6); \
    TIDAL__BLAKE3_ROUND(12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4); \
    TIDAL__BLAKE3_ROUND(9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7); \
    TIDAL__BLAKE3_ROUND(11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13); \
    } while (0)
/* Declares scalar v0..v15 from cv/IV/counter/len/flags, runs the rounds. */
#define TIDAL__BLAKE3_PERMUTE(cv, m, counter, block_len, flags)                \
    uint32_t v0 = cv[0], v1 = cv[1], v2 = cv[2], v3 = cv[3];                   \
    uint32_t v4 = cv[4], v5 = cv[5], v6 = cv[6], v7 = cv[7];                   \
    uint32_t v8 = tidal__blake3_iv[0], v9 = tidal__blake3_iv[1];               \
    uint32_t v10 = tidal__blake3_iv[2], v11 = tidal__blake3_iv[3];             \
    uint32_t v12 = (uint32_t)(counter), v13 = (uint32_t)((counter) >> 32);     \
    uint32_t v14 = (block_len), v15 = (flags);                                 \
    TIDAL__BLAKE3_ROUNDS

/* Compression, keeping only the new chaining value: cv = first 8 words. */
static void tidal__blake3_compress(uint32_t cv[8], const uint32_t m[16],
                                   uint64_t counter, uint32_t block_len,
                                   uint32_t flags)
{
    TIDAL__BLAKE3_PERMUTE(cv, m, counter, block_len, flags);
    cv[0] = v0 ^ v8;  cv[1] = v1 ^ v9;  cv[2] = v2 ^ v10; cv[3] = v3 ^ v11;
    cv[4] = v4 ^ v12; cv[5] = v5 ^ v13; cv[6] = v6 ^ v14; cv[7] = v7 ^ v15;
}

/* Full 64-byte compression output (root / XOF blocks), little-endian. */
static void tidal__blake3_compress_xof(const uint32_t cv[8], const uint32_t m[16],
                                       uint64_t counter, uint32_t block_len,
                                       uint32_t flags, uint8_t out[64])
{
    TIDAL__BLAKE3_PERMUTE(cv, m, counter, block_len, flags);
    tidal__blake3_store32(out +  0, v0 ^ v8);
    tidal__blake3_store32(out +  4, v1 ^ v9);
    tidal__blake3_store32(out +  8, v2 ^ v10);
    tidal__blake3_store32(out + 12, v3 ^ v11);
    tidal__blake3_store32(out + 16, v4 ^ v12);
    tidal__blake3_store32(out + 20, v5 ^ v13);
    tidal__blake3_store32(out + 24, v6 ^ v14);
    tidal__blake3_store32(out + 28, v7 ^ v15);
    tidal__blake3_store32(out + 32, v8 ^ cv[0]);
    tidal__blake3_store32(out + 36, v9 ^ cv[1]);
    tidal__blake3_store32(out + 40, v10 ^ cv[2]);
    tidal__blake3_store32(out + 44, v11 ^ cv[3]);
    tidal__blake3_store32(out + 48, v12 ^ cv[4]);
    tidal__blake3_store32(out + 52, v13 ^ cv[5]);
    tidal__blake3_store32(out + 56, v14 ^ cv[6]);
    tidal__blake3_store32(out + 60, v15 ^ cv[7]);
}

/* Optional 4-way path: CVs of 4 consecutive whole chunks computed in
 * parallel lanes with GNU C vector types (SSE2 on x86-64, NEON on arm64,
 * plain scalar code elsewhere; no intrinsics). About 2x faster on large
 * inputs. Define TIDAL_BLAKE3_SCALAR to use only the portable C99 path. */
#if !defined(TIDAL_BLAKE3_SCALAR) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
#define TIDAL__BLAKE3_X4 1   /* stays defined: lets tests see the path */
typedef uint32_t tidal__blake3_u32x4 __attribute__((vector_size(16)));

static void tidal__blake3_chunks_x4(const struct tidal_blake3 *h, const uint8_t *p,
                                    uint32_t out[4][8])
{
    tidal__blake3_u32x4 cv[8], m[16];
    const uint64_t c = h->chunk_counter;
    const uint32_t i0 = tidal__blake3_iv[0], i1 = tidal__blake3_iv[1];
    const uint32_t i2 = tidal__blake3_iv[2], i3 = tidal__blake3_iv[3];
    const tidal__blake3_u32x4 iv0 = {i0, i0, i0, i0}, iv1 = {i1, i1, i1, i1};
    const tidal__blake3_u32x4 iv2 = {i2, i2, i2, i2}, iv3 = {i3, i3, i3, i3};
    const tidal__blake3_u32x4 ctr_lo = {(uint32_t)c, (uint32_t)(c + 1),
                                        (uint32_t)(c + 2), (uint32_t)(c + 3)};
    const tidal__blake3_u32x4 ctr_hi = {(uint32_t)(c >> 32), (uint32_t)((c + 1) >> 32),
                                        (uint32_t)((c + 2) >> 32), (uint32_t)((c + 3) >> 32)};
    const tidal__blake3_u32x4 len64 = {64, 64, 64, 64};
    int b, i, k;
    memset(m, 0, sizeof m);         /* lanes are written one by one below */
    for (i = 0; i < 8; i++) {
        const uint32_t w = h->key[i];
        const tidal__blake3_u32x4 t = {w, w, w, w};
        cv[i] = t;
    }
    for (b = 0; b < 16; b++) {
        const uint8_t *q = p + 64 * b;
        const uint32_t f = h->flags | (b == 0 ? TIDAL__BLAKE3_CHUNK_START : 0u) |
                           (b == 15 ? TIDAL__BLAKE3_CHUNK_END : 0u);
        for (i = 0; i < 16; i++)      /* transpose: lane k = chunk k */
            for (k = 0; k < 4; k++) m[i][k] = tidal__blake3_load32(q + 1024 * k + 4 * i);
        {
            tidal__blake3_u32x4 v0 = cv[0], v1 = cv[1], v2 = cv[2], v3 = cv[3];
            tidal__blake3_u32x4 v4 = cv[4], v5 = cv[5], v6 = cv[6], v7 = cv[7];
            tidal__blake3_u32x4 v8 = iv0, v9 = iv1, v10 = iv2, v11 = iv3;
            tidal__blake3_u32x4 v12 = ctr_lo, v13 = ctr_hi, v14 = len64;
            tidal__blake3_u32x4 v15 = {f, f, f, f};
            TIDAL__BLAKE3_ROUNDS;
            cv[0] = v0 ^ v8;  cv[1] = v1 ^ v9;  cv[2] = v2 ^ v10; cv[3] = v3 ^ v11;
            cv[4] = v4 ^ v12; cv[5] = v5 ^ v13; cv[6] = v6 ^ v14; cv[7] = v7 ^ v15;
        }
    }
    for (k = 0; k < 4; k++)
        for (i = 0; i < 8; i++) out[k][i] = cv[i][k];
}

/* 8 lanes with AVX2 on x86-64 (gcc, clang), chosen at run time when the CPU has it
   (tidal__blake3_avx2): the same rounds on 256-bit GNU vectors, compiled for AVX2 by a
   target attribute so the rest of the build stays baseline. Message words are loaded
   32 bytes at a time and transposed in registers (8x8 words per half block). About 2x
   the 4-lane path. Define TIDAL_BLAKE3_NO_AVX2 to leave it out. */
#if defined(__x86_64__) && !defined(TIDAL_BLAKE3_NO_AVX2) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 6))
#include <immintrin.h>
#define TIDAL__BLAKE3_X8 1 /* stays defined: lets tests see the path */
typedef uint32_t tidal__blake3_u32x8 __attribute__((vector_size(32)));

static int tidal__blake3_avx2(void) { return __builtin_cpu_supports("avx2") != 0; }

/* rows[k] = 8 words of lane k; afterwards rows[i] = word i of lanes 0..7. */
__attribute__((target("avx2"))) static void tidal__blake3_transpose8(__m256i r[8]) {
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* x rotated right by n; by 16 and 8 a byte shuffle (one instruction, not three). */
__attribute__((target("avx2"), always_inline)) static inline tidal__blake3_u32x8
tidal__blake3_rotr_x8(tidal__blake3_u32x8 x, int n) {
    if (n == 16)
        return (tidal__blake3_u32x8)_mm256_shuffle_epi8((__m256i)x, _mm256_setr_epi8(
            2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
            2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
    if (n == 8)
        return (tidal__blake3_u32x8)_mm256_shuffle_epi8((__m256i)x, _mm256_setr_epi8(
            1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
            1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12));
    return (x >> n) | (x << (32 - n));
}
#undef TIDAL__BLAKE3_ROTR /* for the 8-lane rounds below; restored after them */
#define TIDAL__BLAKE3_ROTR(x, n) tidal__blake3_rotr_x8((x), (n))

/* CVs of the 8 consecutive whole chunks at p (chunk counters h->chunk_counter + 0..7).
   Little-endian only (x86-64): words are loaded as they lie in memory. */
__attribute__((target("avx2"))) static void
tidal__blake3_chunks_x8(const struct tidal_blake3 *h, const uint8_t *p, uint32_t out[8][8]) {
    tidal__blake3_u32x8 cv[8], m[16];
    __m256i rows[8];
    uint32_t lanes[8][8];
    const uint64_t c = h->chunk_counter;
    tidal__blake3_u32x8 ctr_lo, ctr_hi, iv[4];
    int b, i, k;
    for (k = 0; k < 8; k++) {
        ctr_lo[k] = (uint32_t)(c + (uint64_t)k);
        ctr_hi[k] = (uint32_t)((c + (uint64_t)k) >> 32);
    }
    for (i = 0; i < 8; i++)
        for (k = 0; k < 8; k++) cv[i][k] = h->key[i];
    for (i = 0; i < 4; i++)
        for (k = 0; k < 8; k++) iv[i][k] = tidal__blake3_iv[i];
    for (b = 0; b < 16; b++) {
        const uint8_t *q = p + 64 * b;
        const uint32_t f = h->flags | (b == 0 ? TIDAL__BLAKE3_CHUNK_START : 0u) |
                           (b == 15 ? TIDAL__BLAKE3_CHUNK_END : 0u);
        int half;
        for (k = 0; k < 8; k++) /* eight streams 1 KiB apart: fetch ahead of need */
            _mm_prefetch((const char *)(q + 1024 * k + 64 * 4), _MM_HINT_T0);
        for (half = 0; half < 2; half++) { /* words 0..7, then 8..15, of every lane */
            for (k = 0; k < 8; k++) {
                const void *w = q + 1024 * k + 32 * half;
                rows[k] = _mm256_loadu_si256((const __m256i *)w);
            }
            tidal__blake3_transpose8(rows);
            for (i = 0; i < 8; i++) m[8 * half + i] = (tidal__blake3_u32x8)rows[i];
        }
        {
            tidal__blake3_u32x8 v0 = cv[0], v1 = cv[1], v2 = cv[2], v3 = cv[3];
            tidal__blake3_u32x8 v4 = cv[4], v5 = cv[5], v6 = cv[6], v7 = cv[7];
            tidal__blake3_u32x8 v8 = iv[0], v9 = iv[1], v10 = iv[2], v11 = iv[3];
            tidal__blake3_u32x8 v12 = ctr_lo, v13 = ctr_hi, v14, v15;
            for (k = 0; k < 8; k++) {
                v14[k] = 64;
                v15[k] = f;
            }
            TIDAL__BLAKE3_ROUNDS;
            cv[0] = v0 ^ v8;  cv[1] = v1 ^ v9;  cv[2] = v2 ^ v10; cv[3] = v3 ^ v11;
            cv[4] = v4 ^ v12; cv[5] = v5 ^ v13; cv[6] = v6 ^ v14; cv[7] = v7 ^ v15;
        }
    }
    memcpy(lanes, cv, sizeof lanes); /* lanes[i][k]: word i of chunk k */
    for (k = 0; k < 8; k++)
        for (i = 0; i < 8; i++) out[k][i] = lanes[i][k];
}
#undef TIDAL__BLAKE3_ROTR
#define TIDAL__BLAKE3_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#endif
#endif

#undef TIDAL__BLAKE3_PERMUTE
#undef TIDAL__BLAKE3_ROUNDS
#undef TIDAL__BLAKE3_ROUND
#undef TIDAL__BLAKE3_G
#undef TIDAL__BLAKE3_ROTR

/* Push the CV of a finished chunk that is known NOT to be the last one, first
 * merging every completed subtree: while the chunk total is even, the top
 * stack entry is a left sibling of the same size. */
static void tidal__blake3_push_chunk_cv(struct tidal_blake3 *h, const uint32_t chunk_cv[8])
{
    uint32_t cv[8], m[16];
    uint64_t total = h->chunk_counter; /* already counts this chunk; >= 1 */
    memcpy(cv, chunk_cv, sizeof cv);
    while ((total & 1u) == 0) {
        TIDAL_ASSERT(h->cv_stack_len > 0);
        h->cv_stack_len--;
        memcpy(m, h->cv_stack + 8 * h->cv_stack_len, 8 * sizeof(uint32_t));
        memcpy(m + 8, cv, 8 * sizeof(uint32_t));
        memcpy(cv, h->key, sizeof cv);
        tidal__blake3_compress(cv, m, 0, 64, h->flags | TIDAL__BLAKE3_PARENT);
        total >>= 1;
    }
    TIDAL_ASSERT(h->cv_stack_len < TIDAL__BLAKE3_MAX_DEPTH);
    memcpy(h->cv_stack + 8 * h->cv_stack_len, cv, sizeof cv);
    h->cv_stack_len++;
}

/* Compress one full block p of the current chunk; the caller guarantees more
 * input follows it. Finishes and pushes the chunk after its 16th block. */
static void tidal__blake3_absorb_block(struct tidal_blake3 *h, const uint8_t *p)
{
    uint32_t m[16];
    uint32_t flags = h->flags;
    tidal__blake3_load_block(m, p);
    if (h->blocks_compressed == 0) flags |= TIDAL__BLAKE3_CHUNK_START;
    if (h->blocks_compressed == 15) flags |= TIDAL__BLAKE3_CHUNK_END;
    tidal__blake3_compress(h->cv, m, h->chunk_counter, 64, flags);
    if (h->blocks_compressed == 15) {
        h->chunk_counter++;
        tidal__blake3_push_chunk_cv(h, h->cv);
        memcpy(h->cv, h->key, sizeof h->cv);
        h->blocks_compressed = 0;
    } else {
        h->blocks_compressed++;
    }
}

/* Chaining value of one whole 1024-byte chunk read directly from p. */
static void tidal__blake3_chunk_cv(const struct tidal_blake3 *h, const uint8_t *p,
                                   uint32_t cv[8])
{
    uint32_t m[16];
    int i;
    memcpy(cv, h->key, 8 * sizeof(uint32_t));
    tidal__blake3_load_block(m, p);
    tidal__blake3_compress(cv, m, h->chunk_counter, 64,
                           h->flags | TIDAL__BLAKE3_CHUNK_START);
    for (i = 1; i < 15; i++) {
        tidal__blake3_load_block(m, p + 64 * i);
        tidal__blake3_compress(cv, m, h->chunk_counter, 64, h->flags);
    }
    tidal__blake3_load_block(m, p + 64 * 15);
    tidal__blake3_compress(cv, m, h->chunk_counter, 64,
                           h->flags | TIDAL__BLAKE3_CHUNK_END);
}

static void tidal__blake3_init_words(struct tidal_blake3 *h, const uint32_t key[8],
                                     uint32_t flags)
{
    TIDAL_ASSERT(h != NULL);
    memcpy(h->key, key, sizeof h->key);
    memcpy(h->cv, key, sizeof h->cv);
    memset(h->block, 0, sizeof h->block);
    h->chunk_counter = 0;
    h->block_len = 0;
    h->blocks_compressed = 0;
    h->cv_stack_len = 0;
    h->pad_ = 0;
    h->flags = flags;
}

TIDAL_API void tidal_blake3_init(struct tidal_blake3 *h)
{
    tidal__blake3_init_words(h, tidal__blake3_iv, 0);
}

TIDAL_API void tidal_blake3_init_keyed(struct tidal_blake3 *h, const uint8_t key[32])
{
    uint32_t k[8];
    int i;
    TIDAL_ASSERT(key != NULL);
    for (i = 0; i < 8; i++) k[i] = tidal__blake3_load32(key + 4 * i);
    tidal__blake3_init_words(h, k, TIDAL__BLAKE3_KEYED);
}

TIDAL_API void tidal_blake3_init_derive_key(struct tidal_blake3 *h, const char *context)
{
    struct tidal_blake3 ctx;
    uint8_t ckey[32];
    uint32_t k[8];
    int i;
    TIDAL_ASSERT(context != NULL);
    tidal__blake3_init_words(&ctx, tidal__blake3_iv, TIDAL__BLAKE3_DKCONTEXT);
    tidal_blake3_update(&ctx, context, strlen(context));
    tidal_blake3_final(&ctx, ckey, sizeof ckey);
    for (i = 0; i < 8; i++) k[i] = tidal__blake3_load32(ckey + 4 * i);
    tidal__blake3_init_words(h, k, TIDAL__BLAKE3_DKMATERIAL);
}

TIDAL_API void tidal_blake3_update(struct tidal_blake3 *h, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    TIDAL_ASSERT(h != NULL);
    TIDAL_ASSERT(data != NULL || len == 0);
    TIDAL_ASSERT(h->block_len <= 64 && h->blocks_compressed < 16);
    if (len == 0) return;
    if (h->block_len > 0) {
        size_t take = 64u - h->block_len;
        if (take > len) take = len;
        memcpy(h->block + h->block_len, p, take);
        h->block_len = (uint8_t)(h->block_len + take);
        p += take;
        len -= take;
        if (len == 0) return;        /* keep the block: it may be the last */
        tidal__blake3_absorb_block(h, h->block);
        h->block_len = 0;
    }
    /* Buffer empty. Compress from the input while more than one block (or,
     * at a chunk boundary, more than one chunk) remains after it. */
    while (len > 64) {
        if (h->blocks_compressed == 0 && len > 1024) {
            uint32_t cv[8];
#ifdef TIDAL__BLAKE3_X8
            if (len > 8 * 1024 && tidal__blake3_avx2()) {
                while (len > 8 * 1024) {
                    uint32_t cvs[8][8];
                    int k;
                    tidal__blake3_chunks_x8(h, p, cvs);
                    for (k = 0; k < 8; k++) {
                        h->chunk_counter++;
                        tidal__blake3_push_chunk_cv(h, cvs[k]);
                    }
                    p += 8 * 1024;
                    len -= 8 * 1024;
                }
            }
#endif
#ifdef TIDAL__BLAKE3_X4
            while (len > 4 * 1024) {
                uint32_t cvs[4][8];
                int k;
                tidal__blake3_chunks_x4(h, p, cvs);
                for (k = 0; k < 4; k++) {
                    h->chunk_counter++;
                    tidal__blake3_push_chunk_cv(h, cvs[k]);
                }
                p += 4 * 1024;
                len -= 4 * 1024;
            }
#endif
            while (len > 1024) {
                tidal__blake3_chunk_cv(h, p, cv);
                h->chunk_counter++;
                tidal__blake3_push_chunk_cv(h, cv);
                p += 1024;
                len -= 1024;
            }
            continue;
        }
        tidal__blake3_absorb_block(h, p);
        p += 64;
        len -= 64;
    }
    memcpy(h->block, p, len);        /* 1..64 bytes */
    h->block_len = (uint8_t)len;
}

TIDAL_API void tidal_blake3_final(const struct tidal_blake3 *h, uint8_t *out, size_t out_len)
{
    uint32_t cv[8], m[16];
    uint8_t block[64];
    uint64_t counter, ctr;
    uint32_t block_len, flags;
    size_t i;
    TIDAL_ASSERT(h != NULL);
    TIDAL_ASSERT(out != NULL || out_len == 0);
    TIDAL_ASSERT(h->block_len <= 64 && h->cv_stack_len <= TIDAL__BLAKE3_MAX_DEPTH);
    /* Output node of the current (last) chunk. */
    memset(block, 0, sizeof block);
    memcpy(block, h->block, h->block_len);
    tidal__blake3_load_block(m, block);
    memcpy(cv, h->cv, sizeof cv);
    counter = h->chunk_counter;
    block_len = h->block_len;
    flags = h->flags | TIDAL__BLAKE3_CHUNK_END;
    if (h->blocks_compressed == 0) flags |= TIDAL__BLAKE3_CHUNK_START;
    /* Fold the subtree stack, right to left, into parent nodes. */
    for (i = h->cv_stack_len; i-- > 0;) {
        tidal__blake3_compress(cv, m, counter, block_len, flags);
        memcpy(m, h->cv_stack + 8 * i, 8 * sizeof(uint32_t));
        memcpy(m + 8, cv, 8 * sizeof(uint32_t));
        memcpy(cv, h->key, sizeof cv);
        counter = 0;
        block_len = 64;
        flags = h->flags | TIDAL__BLAKE3_PARENT;
    }
    /* Root node: output block ctr is the root compression with counter ctr. */
    flags |= TIDAL__BLAKE3_ROOT;
    for (ctr = 0; out_len > 0; ctr++) {
        if (out_len >= 64) {
            tidal__blake3_compress_xof(cv, m, ctr, block_len, flags, out);
            out += 64;
            out_len -= 64;
        } else {
            tidal__blake3_compress_xof(cv, m, ctr, block_len, flags, block);
            memcpy(out, block, out_len);
            out_len = 0;
        }
    }
}

TIDAL_API void tidal_blake3(const void *data, size_t len, uint8_t out[32])
{
    struct tidal_blake3 h;
    TIDAL_ASSERT(out != NULL);
    tidal_blake3_init(&h);
    tidal_blake3_update(&h, data, len);
    tidal_blake3_final(&h, out, 32);
}

#undef TIDAL__BLAKE3_CHUNK_START
#undef TIDAL__BLAKE3_CHUNK_END
#undef TIDAL__BLAKE3_PARENT
#undef TIDAL__BLAKE3_ROOT
#undef TIDAL__BLAKE3_KEYED
#undef TIDAL__BLAKE3_DKCONTEXT
#undef TIDAL__BLAKE3_DKMATERIAL
#undef TIDAL__BLAKE3_MAX_DEPTH

// >>env_posix
// The only section that calls the operating system: clocks, /dev/urandom, files with
// pread/pwrite/fdatasync, directories, the directory lock (flock). Every other section
// reaches these through the tidal_env vtable, so the simulator can replace all of them at
// once. A failing method returns with errno still set by the call that failed (cleanup
// calls save and restore it), so error_text reports the real cause.

/* Transparent huge pages for a large allocation of the default allocator (>>util): the
   2 MiB-aligned part of [p, p + size) is marked MADV_HUGEPAGE, so filling it takes one
   fault per 2 MiB instead of per 4 KiB (and fewer TLB misses after). A hint only: nothing
   reads its outcome, and errno is left as it was. Linux only; elsewhere a no-op; define
   TIDAL_NO_HUGE_PAGES (implementation only) to leave it out, e.g. where the kernel's THP
   defrag policy makes a first touch stall on compaction. Strict POSIX (-std=c99 with
   _POSIX_C_SOURCE) hides madvise's declaration; its prototype and MADV_HUGEPAGE (14 on
   every Linux architecture) are stable ABI, so C declares them. */
#if defined(__linux__) && !defined(TIDAL_NO_HUGE_PAGES)
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#if defined(MADV_HUGEPAGE)
#define TIDAL__MADV_HUGEPAGE MADV_HUGEPAGE
#elif !defined(__cplusplus)
int madvise(void *addr, size_t len, int advice);
#define TIDAL__MADV_HUGEPAGE 14
#endif
#endif

static void tidal__mem_hint(void *p, size_t size) {
#if defined(TIDAL__MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + size) & ~(huge - 1);
    TIDAL_ASSERT(p != NULL);
    if (hi > lo) {
        int saved = errno;
        (void)madvise((void *)lo, (size_t)(hi - lo), TIDAL__MADV_HUGEPAGE);
        errno = saved;
    }
#else
    (void)p;
    (void)size;
#endif
}

#if !defined(_WIN32)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t tidal__posix_clock(clockid_t id) {
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0;
    return (int64_t)ts.tv_sec * TIDAL_NS_PER_S + ts.tv_nsec;
}
static int64_t tidal__posix_wall(void *user) {
    (void)user;
    return tidal__posix_clock(CLOCK_REALTIME);
}
static int64_t tidal__posix_mono(void *user) {
    (void)user;
    return tidal__posix_clock(CLOCK_MONOTONIC);
}

static void tidal__posix_random(void *user, void *buf, size_t len) {
    int fd = open("/dev/urandom", O_RDONLY);
    size_t got = 0;
    (void)user;
    while (fd >= 0 && got < len) {
        ssize_t r = read(fd, (char *)buf + got, len - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (fd >= 0) close(fd);
    if (got < len) { /* no urandom: fall back to a clock-seeded mix, never to nothing */
        uint64_t x = (uint64_t)tidal__posix_clock(CLOCK_MONOTONIC) ^ (uint64_t)getpid();
        for (; got < len; got++) {
            x = tidal__mix64(x + UINT64_C(0x9E3779B97F4A7C15));
            ((uint8_t *)buf)[got] = (uint8_t)x;
        }
    }
}

static tidal_result tidal__posix_errno(int e, tidal_result dflt) {
    return e == ENOSPC || e == EDQUOT ? TIDAL_ERR_IO_NOSPACE : dflt;
}

static tidal_result tidal__posix_open(void *user, const char *path, uint32_t flags,
                                      void **file) {
    int oflags = (flags & TIDAL_OPEN_WRITE) ? O_RDWR : O_RDONLY, fd;
    (void)user;
    if (flags & TIDAL_OPEN_CREATE) oflags |= O_CREAT;
    fd = open(path, oflags | O_CLOEXEC, 0644);
    if (fd < 0) return errno == ENOENT ? TIDAL_ERR_NOT_FOUND : tidal__posix_errno(errno, TIDAL_ERR_IO_READ);
    *file = (void *)(intptr_t)(fd + 1); /* +1 so a valid handle is never NULL */
    return TIDAL_OK;
}

static int tidal__posix_fd(void *file) { return (int)(intptr_t)file - 1; }

static tidal_result tidal__posix_read(void *user, void *file, uint64_t off, void *buf,
                                      size_t len, size_t *got) {
    size_t n = 0;
    (void)user;
    while (n < len) {
        ssize_t r = pread(tidal__posix_fd(file), (char *)buf + n, len - n, (off_t)(off + n));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return TIDAL_ERR_IO_READ;
        if (r == 0) break;
        n += (size_t)r;
    }
    *got = n;
    return TIDAL_OK;
}

static tidal_result tidal__posix_write(void *user, void *file, uint64_t off, const void *buf,
                                       size_t len) {
    size_t n = 0;
    (void)user;
    while (n < len) {
        ssize_t r = pwrite(tidal__posix_fd(file), (const char *)buf + n, len - n,
                           (off_t)(off + n));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) errno = EIO; /* no progress and no error: do not report a stale errno */
        if (r <= 0) return tidal__posix_errno(errno, TIDAL_ERR_IO_WRITE);
        n += (size_t)r;
    }
    return TIDAL_OK;
}

static tidal_result tidal__posix_sync(void *user, void *file) {
    (void)user;
    return fdatasync(tidal__posix_fd(file)) == 0 ? TIDAL_OK : TIDAL_ERR_IO_FSYNC;
}

static tidal_result tidal__posix_size(void *user, void *file, uint64_t *size) {
    struct stat st;
    (void)user;
    if (fstat(tidal__posix_fd(file), &st) != 0) return TIDAL_ERR_IO_READ;
    *size = (uint64_t)st.st_size;
    return TIDAL_OK;
}

static tidal_result tidal__posix_truncate(void *user, void *file, uint64_t size) {
    (void)user;
    return ftruncate(tidal__posix_fd(file), (off_t)size) == 0
               ? TIDAL_OK
               : tidal__posix_errno(errno, TIDAL_ERR_IO_WRITE);
}

static void tidal__posix_close(void *user, void *file) {
    (void)user;
    close(tidal__posix_fd(file));
}

static tidal_result tidal__posix_rename(void *user, const char *from, const char *to) {
    (void)user;
    return rename(from, to) == 0 ? TIDAL_OK : tidal__posix_errno(errno, TIDAL_ERR_IO_WRITE);
}

static tidal_result tidal__posix_remove(void *user, const char *path) {
    (void)user;
    if (unlink(path) == 0) return TIDAL_OK;
    return errno == ENOENT ? TIDAL_ERR_NOT_FOUND : TIDAL_ERR_IO_WRITE;
}

static tidal_result tidal__posix_mkdir(void *user, const char *path) {
    struct stat st;
    (void)user;
    if (mkdir(path, 0755) == 0) return TIDAL_OK;
    if (errno != EEXIST) return tidal__posix_errno(errno, TIDAL_ERR_IO_WRITE);
    if (stat(path, &st) != 0) return TIDAL_ERR_IO_WRITE;
    if (S_ISDIR(st.st_mode)) return TIDAL_OK;
    errno = ENOTDIR; /* a file (or something else) has the name */
    return TIDAL_ERR_IO_WRITE;
}

static tidal_result tidal__posix_dirsync(void *user, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC), r, e;
    (void)user;
    if (fd < 0) return TIDAL_ERR_IO_FSYNC;
    r = fsync(fd);
    e = errno;
    close(fd);
    errno = e;
    return r == 0 ? TIDAL_OK : TIDAL_ERR_IO_FSYNC;
}

static tidal_result tidal__posix_list(void *user, const char *path,
                                      void (*fn)(void *ctx, const char *name), void *ctx) {
    DIR *d = opendir(path);
    struct dirent *e;
    (void)user;
    if (!d) return errno == ENOENT ? TIDAL_ERR_NOT_FOUND : TIDAL_ERR_IO_READ;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        fn(ctx, e->d_name);
    }
    closedir(d);
    return TIDAL_OK;
}

static tidal_result tidal__posix_send(void *user, tidal_node_ref to, const void *bytes,
                                      size_t len) {
    (void)user;
    (void)to;
    (void)bytes;
    (void)len;
    return TIDAL_ERR_UNAVAILABLE; /* a POSIX host sends messages itself */
}

/* The lock file: "<dir>/LOCK". 0 if the name does not fit. */
static int tidal__posix_lock_name(const char *dir, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/LOCK", dir);
    return n > 0 && (size_t)n < cap;
}

/* flock(LOCK_EX | LOCK_NB) on <dir>/LOCK, then the holder's pid written into it. flock
   locks belong to the open file description: a second open of the file, even in this
   process, does not share the lock, and the kernel drops it when the last descriptor
   closes, which process death (kill -9 included) does. Never blocks. */
static tidal_result tidal__posix_lock(void *user, const char *path, void **lock,
                                      uint64_t *holder) {
    char name[4096], text[32];
    int fd, e, n;
    (void)user;
    *holder = 0;
    if (!tidal__posix_lock_name(path, name, sizeof name)) {
        errno = ENAMETOOLONG;
        return TIDAL_ERR_IO_WRITE;
    }
    fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return tidal__posix_errno(errno, TIDAL_ERR_IO_WRITE);
    while ((n = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {}
    if (n != 0) {
        e = errno;
        if (e == EWOULDBLOCK || e == EAGAIN) { /* held: name the holder if it wrote its pid */
            ssize_t got = pread(fd, text, sizeof text - 1, 0);
            text[got > 0 ? got : 0] = 0;
            *holder = (uint64_t)strtoull(text, NULL, 10);
        }
        close(fd);
        errno = e;
        return e == EWOULDBLOCK || e == EAGAIN ? TIDAL_ERR_LOCKED : TIDAL_ERR_IO_WRITE;
    }
    n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != (ssize_t)n) {
        e = errno;
        close(fd); /* releases the lock: a holder that cannot say who it is does not hold */
        errno = e;
        return tidal__posix_errno(e, TIDAL_ERR_IO_WRITE);
    }
    *lock = (void *)(intptr_t)(fd + 1); /* +1 so a valid lock is never NULL */
    return TIDAL_OK;
}

/* Empties the pid first, so a later contender never names a process that let go. */
static void tidal__posix_unlock(void *user, void *lock) {
    int fd = tidal__posix_fd(lock);
    (void)user;
    if (!lock) return;
    if (ftruncate(fd, 0) != 0) { /* best effort: the pid is advice, the flock is the lock */
    }
    close(fd);
}

static void tidal__posix_error_text(void *user, char *buf, size_t cap) {
    int e = errno;
    (void)user;
    if (cap == 0) return;
    snprintf(buf, cap, "%s", e ? strerror(e) : "");
    errno = e;
}

TIDAL_API const tidal_env *tidal_env_posix(void) {
    static const tidal_env env = {
        TIDAL_ENV_VERSION,     NULL,
        tidal__posix_wall,     tidal__posix_mono,   tidal__posix_random,
        tidal__posix_open,     tidal__posix_read,   tidal__posix_write,
        tidal__posix_sync,     tidal__posix_size,   tidal__posix_truncate,
        tidal__posix_close,    tidal__posix_rename, tidal__posix_remove,
        tidal__posix_mkdir,    tidal__posix_dirsync, tidal__posix_list,
        tidal__posix_send,     tidal__posix_lock,   tidal__posix_unlock,
        tidal__posix_error_text};
    return &env;
}
#endif /* !_WIN32 */

// >>hlc
// Hybrid logical clock (Kulkarni et al.): wall time when it moves forward, else the last
// wall time with the logical counter bumped, so stamps are strictly increasing per node
// even when the wall clock jumps back. The counter is bounded: at UINT32_MAX the wall
// part is advanced by 1 ns instead.

static uint32_t tidal__node_word(tidal_node_ref n) { return (uint32_t)n.region << 16 | n.shard; }

static tidal_result tidal__meta_save(tidal_db *db);

/* A replicated node's stamps also go out in messages, which are not logged: so that a
   restart never issues a stamp below one already sent, the node persists a bound a second
   ahead of its clock (with its epoch record) and the next life starts there. One extra
   fsync per second of clock progress at most. A failed save fails the handle. */
static void tidal__hlc_guard(tidal_db *db) {
    if (!db->rep.n_rep || !db->log.wal_on || db->fatal || db->hlc.wall_ns < db->hlc_bound) return;
    db->hlc_bound = db->hlc.wall_ns + TIDAL_NS_PER_S;
    (void)tidal__meta_save(db);
}

static tidal_hlc tidal__hlc_now(tidal_db *db) {
    int64_t w = db->env->clock_wall_ns(db->env->user);
    if (w > db->hlc.wall_ns) {
        db->hlc.wall_ns = w;
        db->hlc.logical = 0;
    } else if (db->hlc.logical == UINT32_MAX) {
        db->hlc.wall_ns++;
        db->hlc.logical = 0;
    } else {
        db->hlc.logical++;
    }
    db->hlc.node = tidal__node_word(db->node);
    tidal__hlc_guard(db);
    return db->hlc;
}

/* The receive rule: a stamp from elsewhere (a message, an event) pulls our clock up to
   it, so our next stamp orders after everything we have seen. A stamp further ahead of
   our wall clock than clock_ahead_max_ns is not followed (a peer with a runaway clock
   must not drag every node's stamps into the future); it is counted and reported. */
static void tidal__hlc_recv(tidal_db *db, tidal_hlc m) {
    int64_t pt = db->env->clock_wall_ns(db->env->user);
    if (m.wall_ns > pt && m.wall_ns - pt > db->rep.clock_ahead_max_ns) {
        db->rep.clock_ahead++;
        db->rep.clock_ahead_node = m.node;
        db->rep.clock_ahead_ns = m.wall_ns - pt;
        return;
    }
    if (m.wall_ns > db->hlc.wall_ns || (m.wall_ns == db->hlc.wall_ns && m.logical > db->hlc.logical)) {
        db->hlc.wall_ns = m.wall_ns;
        db->hlc.logical = m.logical;
        tidal__hlc_guard(db);
    }
}

// >>events
// Event ids and the applied-id index. Origin ids are (node, incarnation, seq); ids derived
// from an idempotency key are BLAKE3(derive-key) of (domain, tenant, key, seq) with bit 63
// of hi set, so the same retry yields the same id on any node. The index answers "was this
// id applied?" exactly for origin ids and within the idempotency window for derived ids.

static tidal_event_id tidal__derived_id(uint32_t tenant, char domain, const void *key,
                                        uint32_t key_len, uint64_t seq) {
    struct tidal_blake3 h;
    uint8_t buf[16], out[16];
    tidal_event_id id;
    int i;
    tidal_blake3_init_derive_key(&h, "tidal 2026-11 event id v1");
    buf[0] = (uint8_t)domain;
    for (i = 0; i < 4; i++) buf[1 + i] = (uint8_t)(tenant >> (8 * i));
    for (i = 0; i < 4; i++) buf[5 + i] = (uint8_t)(key_len >> (8 * i));
    tidal_blake3_update(&h, buf, 9);
    tidal_blake3_update(&h, key, key_len);
    for (i = 0; i < 8; i++) buf[i] = (uint8_t)(seq >> (8 * i));
    tidal_blake3_update(&h, buf, 8);
    tidal_blake3_final(&h, out, 16);
    id.hi = id.lo = 0;
    for (i = 0; i < 8; i++) {
        id.hi |= (uint64_t)out[i] << (8 * i);
        id.lo |= (uint64_t)out[8 + i] << (8 * i);
    }
    id.hi |= TIDAL__IDEM_BIT;
    return id;
}

static tidal_event_id tidal__session_id(uint32_t tenant, tidal_id session, uint64_t seq) {
    uint8_t k[8];
    int i;
    for (i = 0; i < 8; i++) k[i] = (uint8_t)(session >> (8 * i));
    return tidal__derived_id(tenant, 's', k, 8, seq);
}

static tidal_event_id tidal__origin_id(tidal_db *db) {
    tidal_event_id id;
    id.hi = (uint64_t)db->node.region << 48 | (uint64_t)db->node.shard << 32 | db->incarnation;
    id.lo = ++db->st.local_seq;
    TIDAL_ASSERT((id.hi & TIDAL__IDEM_BIT) == 0);
    return id;
}

static tidal__origin *tidal__origin_find(tidal_db *db, uint64_t origin) {
    uint32_t i;
    for (i = 0; i < db->st.n_origins; i++)
        if (db->st.origins[i].origin == origin) return &db->st.origins[i];
    return NULL;
}

static int tidal__event_applied(tidal_db *db, tidal_event_id id) {
    tidal__origin *o;
    if (id.hi & TIDAL__IDEM_BIT)
        return tidal__map_get(&db->st.idem_map, id.hi, id.lo) != UINT32_MAX;
    o = tidal__origin_find(db, id.hi);
    if (!o) return 0;
    return id.lo <= o->hwm || tidal__set_has(&o->above, id.lo);
}

/* Drops key-derived ids whose event time left the window, rebuilding the map in place.
   Runs when the newest time has moved a quarter window since the last pass, so its O(n)
   cost is amortized. Skipped (kept for later) if the scratch allocation fails. */
static void tidal__idem_gc(tidal_db *db, int64_t newest) {
    uint32_t i, kept = 0, n = db->st.n_idem;
    int64_t horizon = newest - db->idem_window_ns;
    uint64_t *tmp;
    if (newest < db->st.idem_gc_at || n == 0) return;
    db->st.idem_gc_at = newest + db->idem_window_ns / 4;
    tmp = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * 3 * n);
    if (!tmp) return;
    for (i = 0; i < db->st.idem_map.cap; i++) {
        uint32_t v = db->st.idem_map.s[i].v;
        if (v == UINT32_MAX || db->st.idem_time[v] < horizon) continue;
        tmp[3 * kept] = db->st.idem_map.s[i].k0;
        tmp[3 * kept + 1] = db->st.idem_map.s[i].k1;
        tmp[3 * kept + 2] = (uint64_t)db->st.idem_time[v];
        kept++;
    }
    for (i = 0; i < db->st.idem_map.cap; i++) db->st.idem_map.s[i].v = UINT32_MAX;
    db->st.idem_map.n = 0;
    for (i = 0; i < kept; i++) {
        tidal__map_place(&db->st.idem_map, tmp[3 * i], tmp[3 * i + 1], i);
        db->st.idem_map.n++;
        db->st.idem_time[i] = (int64_t)tmp[3 * i + 2];
    }
    db->st.n_idem = kept;
    tidal__free(db, tmp, sizeof(uint64_t) * 3 * n);
}

/* Records id as applied. Returns 0 on allocation failure (nothing recorded). */
static int tidal__event_mark(tidal_db *db, tidal_event_id id, int64_t time_ns) {
    tidal__origin *o;
    if (id.hi & TIDAL__IDEM_BIT) {
        if (!TIDAL__GROW(db, db->st.idem_time, db->st.cap_idem, db->st.n_idem + 1)) return 0;
        if (!tidal__map_put(db, &db->st.idem_map, id.hi, id.lo, db->st.n_idem)) return 0;
        db->st.idem_time[db->st.n_idem++] = time_ns;
        return 1;
    }
    o = tidal__origin_find(db, id.hi);
    if (!o) {
        if (!TIDAL__GROW(db, db->st.origins, db->st.cap_origins, db->st.n_origins + 1)) return 0;
        o = &db->st.origins[db->st.n_origins++];
        memset(o, 0, sizeof *o);
        o->origin = id.hi;
    }
    if (id.lo == o->hwm + 1) {
        o->hwm++;
        while (o->above.n && tidal__set_has(&o->above, o->hwm + 1)) {
            tidal__set_del(&o->above, o->hwm + 1);
            o->hwm++;
        }
        return 1;
    }
    TIDAL_ASSERT(id.lo > o->hwm);
    return tidal__set_add(db, &o->above, id.lo) >= 0;
}

// >>signals
// Per (item, type) and per (item, type, cohort value) aggregates. Decay is forward decay
// against epoch landmarks L_e = e * epoch_ns (16 half-lives, or just under for a fractional
// half-life; h itself is exact, a double in ns): each event adds w * 2^((t - L_e)/h) into
// its epoch's 128-bit fixed-point accumulator (exact, order-free). The newest epoch and the
// four before it are kept. Windows keep absolute-time buckets (minute, hour, day), each
// level retained relative to the newest event time of the aggregate; both retention rules
// depend only on the set of events, so the state stays a fold over that set.
// A read at t before the newest event (manual 3): the score is the formula at t over every
// event held, later ones included at their formula value (> their weight); each window is
// the bucket rule over the buckets still held, and tidal__sig_window says when buckets it
// needs were retired (stats.windows_partial). A score that does not fit a double is
// TIDAL_ERR_RANGE, never inf or NaN.

static const int64_t tidal__lvl_ns[TIDAL__LVLS] = {TIDAL__MIN_NS, TIDAL__HOUR_NS, TIDAL__DAY_NS};

/* Buckets kept per level, from the enabled windows. */
static int64_t tidal__lvl_keep(uint32_t windows, int lvl) {
    if (lvl == TIDAL__LVL_MIN) return (windows & TIDAL_WINDOW_1H) ? 60 : 0;
    if (lvl == TIDAL__LVL_HOUR)
        return (windows & TIDAL_WINDOW_7D) ? 168 : (windows & TIDAL_WINDOW_24H) ? 24 : 0;
    return (windows & TIDAL_WINDOW_30D) ? 30 : 0;
}

/* What one event adds, computed once and added to every aggregate it touches. */
typedef struct tidal__contrib {
    int64_t t;
    double w;
    tidal__fx wf;  /* weight in fixed point */
    int64_t e;     /* epoch */
    tidal__fx c;   /* forward-decayed contribution at the epoch landmark */
} tidal__contrib;

static void tidal__contrib_make(const tidal__sigdef *d, int64_t t, double w, tidal__contrib *c) {
    c->t = t;
    c->w = w;
    c->wf = tidal__fx_from_double(w);
    if (d->permanent) {
        c->e = 0;
        c->c = c->wf;
    } else {
        int64_t e = tidal__floor_div(t, d->epoch_ns);
        double x = (double)(t - e * d->epoch_ns) / d->hl_ns; /* in [0, epoch_hl] */
        if (x >= d->epoch_hl) x = nextafter(d->epoch_hl, 0);
        c->e = e;
        c->c = tidal__fx_from_double(w * tidal__exp2_det(x));
    }
}

/* A wide level's high parts, after its cap buckets in the same chunk: cap uint64_t for
   the weight sums (8-byte aligned: buckets are 16 bytes), then cap uint32_t for the counts. */
static uint64_t *tidal__bk_whi(const tidal__bvec *v) {
    TIDAL_ASSERT(v->wide);
    return (uint64_t *)(void *)(v->b + v->cap);
}

static uint32_t *tidal__bk_hi(const tidal__bvec *v) {
    TIDAL_ASSERT(v->wide);
    return (uint32_t *)(void *)(tidal__bk_whi(v) + v->cap);
}

/* a fits the narrow form: its high word is the sign extension of its low word. */
static int tidal__fx_fits64(tidal__fx a) {
    return a.hi == ((a.lo >> 63) ? UINT64_MAX : 0);
}

/* A bucket's weight sum: the low part sign-extended, or with a wide level's high part. */
static tidal__fx tidal__bk_w(const tidal__bvec *v, uint32_t i) {
    tidal__fx r;
    TIDAL_ASSERT(i < v->n);
    r.lo = v->b[i].w;
    r.hi = v->wide ? tidal__bk_whi(v)[i] : (r.lo >> 63) ? UINT64_MAX : 0;
    return r;
}

/* Whether a bucket holding count events of weight sum w needs a wide level. */
static int tidal__bk_needs_wide(uint64_t count, tidal__fx w) {
    return count > TIDAL__COUNT32_MAX || !tidal__fx_fits64(w);
}

/* Sets bucket i of a level made wide when tidal__bk_needs_wide says so (a decoded state). */
static void tidal__bk_set(tidal__bvec *v, uint32_t i, int64_t key, uint64_t count, tidal__fx w) {
    TIDAL_ASSERT(i < v->cap && key >= INT32_MIN && key <= INT32_MAX);
    TIDAL_ASSERT(v->wide || !tidal__bk_needs_wide(count, w));
    v->b[i].key = (int32_t)key;
    v->b[i].count = (uint32_t)(count % ((uint64_t)TIDAL__COUNT32_MAX + 1));
    v->b[i].w = w.lo;
    if (!v->wide) return;
    tidal__bk_hi(v)[i] = (uint32_t)(count / ((uint64_t)TIDAL__COUNT32_MAX + 1));
    tidal__bk_whi(v)[i] = w.hi;
}

static uint64_t tidal__bk_count(const tidal__bvec *v, uint32_t i) {
    TIDAL_ASSERT(i < v->n);
    if (!v->wide) return v->b[i].count;
    return (uint64_t)tidal__bk_hi(v)[i] * ((uint64_t)TIDAL__COUNT32_MAX + 1) + v->b[i].count;
}

/* Level l of g as a tidal__bvec (a copy: tidal__lvl_set stores it back after a change). */
static tidal__bvec tidal__lvl(const tidal__sig *g, int l) {
    tidal__bvec v;
    TIDAL_ASSERT(l >= 0 && l < TIDAL__LVLS);
    v.b = g->bk[l];
    v.n = g->bn[l];
    v.cap = (uint16_t)(g->bcap[l] & ~TIDAL__BCAP_WIDE);
    v.wide = (uint16_t)((g->bcap[l] & TIDAL__BCAP_WIDE) != 0);
    v.pad_ = 0;
    return v;
}

static void tidal__lvl_set(tidal__sig *g, int l, const tidal__bvec *v) {
    TIDAL_ASSERT(l >= 0 && l < TIDAL__LVLS);
    TIDAL_ASSERT(v->n <= v->cap && v->cap < TIDAL__BCAP_WIDE);
    g->bk[l] = v->b;
    g->bn[l] = v->n;
    g->bcap[l] = (uint16_t)(v->cap | (v->wide ? TIDAL__BCAP_WIDE : 0));
}

#define TIDAL__BK_WIDE_BYTES (sizeof(uint64_t) + sizeof(uint32_t)) /* high parts of one */

static size_t tidal__bvec_bytes(uint32_t cap, int wide) {
    return (size_t)cap * (sizeof(tidal__bucket) + (wide ? TIDAL__BK_WIDE_BYTES : 0));
}

/* Moves v to a chunk with room for need buckets, wide or not (a level only ever widens). */
static int tidal__bvec_grow(tidal_db *db, tidal__bvec *v, uint32_t need, int wide) {
    size_t elem = sizeof(tidal__bucket) + (wide ? TIDAL__BK_WIDE_BYTES : 0);
    uint32_t cap;
    tidal__bvec nv;
    TIDAL_ASSERT(need >= v->n && need <= UINT16_MAX && (wide || !v->wide));
    if (need > v->cap && need < v->cap + v->cap / 2u) need = v->cap + v->cap / 2u; /* geometric */
    if (!(nv.b = (tidal__bucket *)tidal__arena_alloc(db, (size_t)need * elem))) return 0;
    cap = (uint32_t)(tidal__arena_room((size_t)need * elem) / elem);
    nv.n = v->n;
    nv.cap = (uint16_t)(cap >= TIDAL__BCAP_WIDE ? TIDAL__BCAP_WIDE - 1 : cap);
    nv.wide = (uint16_t)(wide != 0);
    nv.pad_ = 0;
    if (v->n) memcpy(nv.b, v->b, sizeof(tidal__bucket) * v->n);
    if (wide && v->wide) {
        memcpy(tidal__bk_whi(&nv), tidal__bk_whi(v), sizeof(uint64_t) * v->n);
        memcpy(tidal__bk_hi(&nv), tidal__bk_hi(v), sizeof(uint32_t) * v->n);
    } else if (wide) { /* widening: the high parts the narrow form implied */
        uint32_t i;
        for (i = 0; i < v->n; i++) tidal__bk_whi(&nv)[i] = (v->b[i].w >> 63) ? UINT64_MAX : 0;
        memset(tidal__bk_hi(&nv), 0, sizeof(uint32_t) * v->n);
    }
    tidal__arena_free(db, v->b, tidal__bvec_bytes(v->cap, v->wide));
    *v = nv;
    return 1;
}

/* Room for need epochs: beyond one, the epochs live in an arena chunk. */
static int tidal__sig_grow_epochs(tidal_db *db, tidal__sig *g, uint32_t need) {
    tidal__epoch *p;
    size_t room;
    if (need <= g->cap_epochs || need <= 1) return 1;
    TIDAL_ASSERT(need <= TIDAL__EPOCHS_KEPT + 1);
    if (!(p = (tidal__epoch *)tidal__arena_alloc(db, sizeof(tidal__epoch) * need))) return 0;
    room = tidal__arena_room(sizeof(tidal__epoch) * need);
    if (g->n_epochs) memcpy(p, TIDAL__EPS(g), sizeof(tidal__epoch) * g->n_epochs);
    if (g->cap_epochs > 1) tidal__arena_free(db, g->ep.out, sizeof(tidal__epoch) * g->cap_epochs);
    g->ep.out = p;
    g->cap_epochs = (uint8_t)(room / sizeof(tidal__epoch) > 255 ? 255 : room / sizeof(tidal__epoch));
    return 1;
}

/* The index of level v's bucket with key k, or -1 - the index it would be inserted at.
   kmax is the newest key as the record's t_max gives it (floor(t_max / bucket_ns)): the
   newest bucket always holds the newest event, so with consecutive keys bucket k sits
   kmax - k back from the end and one read of it answers (not two: the newest bucket is
   another cache line). Only when that read misses (a gap, a new bucket, or a state that
   breaks the rule) does a binary search run: a wrong kmax costs time, never an answer. */
static int32_t tidal__bk_find(const tidal__bvec *v, int64_t k, int64_t kmax) {
    uint32_t lo = 0, hi = v->n;
    int64_t back = kmax - k;
    if (back >= 0 && back < (int64_t)v->n && v->b[v->n - 1 - back].key == k)
        return (int32_t)(v->n - 1 - back);
    if (back < 0 && (!v->n || v->b[v->n - 1].key < k)) return -1 - (int32_t)v->n; /* newest */
    while (lo < hi) { /* first bucket with key >= k */
        uint32_t mid = (lo + hi) / 2;
        if (v->b[mid].key < k) lo = mid + 1;
        else hi = mid;
    }
    TIDAL_ASSERT(lo <= v->n && v->n <= v->cap);
    return lo < v->n && v->b[lo].key == k ? (int32_t)lo : -1 - (int32_t)lo;
}

/* Starts loading what sig_add of c will touch in g, beyond the record itself: on each
   enabled level the bucket tidal__bk_find reads first (kmax - k back from the newest, or the
   newest when c opens a new one), and the epochs when they live out of the record. The
   levels are separate chunks whose addresses the record holds, so their misses can all be
   in flight at once instead of one after the other (the write path issues them for every
   aggregate an event touches before it reserves in any). A hint only: no answer depends
   on it. */
static void tidal__sig_prefetch(const tidal__sig *g, const tidal__sigdef *d, int64_t t) {
    int l;
    TIDAL_ASSERT(g != NULL && d != NULL);
    if (g->cap_epochs > 1) TIDAL__PREFETCH(g->ep.out);
    for (l = 0; l < TIDAL__LVLS; l++) {
        int64_t back;
        uint32_t n = g->bn[l];
        if (!n || !tidal__lvl_keep(d->windows, l)) continue;
        TIDAL_ASSERT(g->bk[l] != NULL);
        back = tidal__floor_div(g->t_max, tidal__lvl_ns[l]) -
               tidal__floor_div(t, tidal__lvl_ns[l]);
        TIDAL__PREFETCH(&g->bk[l][back >= 0 && back < (int64_t)n ? n - 1 - (uint32_t)back
                                                                 : n - 1]);
    }
}

/* Reserves room so that sig_add of c cannot fail halfway: an epoch slot when c opens a
   new epoch, a bucket on each enabled level where c opens a new one (buckets that retire
   first are not counted: room to spare), and a wide level where c's bucket is at the
   count limit. Only what c needs: an array never grows for an event that lands in a slot
   it already has. */
static int tidal__sig_reserve(tidal_db *db, tidal__sig *g, const tidal__sigdef *d,
                              const tidal__contrib *c) {
    const tidal__epoch *ep = TIDAL__EPS(g);
    uint32_t n = g->n_epochs, i;
    int64_t t_max = g->t_max > c->t ? g->t_max : c->t;
    int l;
    for (i = n; i > 0 && ep[i - 1].e > c->e; i--) {}
    if (!(n && c->e < ep[n - 1].e - (TIDAL__EPOCHS_KEPT - 1)) && !(i > 0 && ep[i - 1].e == c->e))
        if (!tidal__sig_grow_epochs(db, g, n + 1)) return 0;
    for (l = 0; l < TIDAL__LVLS; l++) {
        tidal__bvec lv = tidal__lvl(g, l), *v = &lv;
        int64_t keep = tidal__lvl_keep(d->windows, l), k;
        int wide = v->wide;
        int32_t at;
        if (!keep) continue;
        k = tidal__floor_div(c->t, tidal__lvl_ns[l]);
        if (k <= tidal__floor_div(t_max, tidal__lvl_ns[l]) - keep) continue; /* not kept */
        at = tidal__bk_find(v, k, tidal__floor_div(g->t_max, tidal__lvl_ns[l]));
        if (at >= 0 ? v->b[at].count == TIDAL__COUNT32_MAX ||
                          !tidal__fx_fits64(tidal__fx_add(tidal__bk_w(v, (uint32_t)at), c->wf))
                    : !tidal__fx_fits64(c->wf))
            wide = 1;
        if ((uint32_t)v->n + (at < 0) > v->cap || wide != v->wide) {
            if (!tidal__bvec_grow(db, v, (uint32_t)v->n + (at < 0), wide)) return 0;
            tidal__lvl_set(g, l, v);
        }
    }
    return 1;
}

static void tidal__sig_add_epoch(tidal__sig *g, const tidal__contrib *c) {
    tidal__epoch *ep = TIDAL__EPS(g);
    uint32_t i, n = g->n_epochs;
    int64_t emax = n ? ep[n - 1].e : INT64_MIN;
    if (n && c->e < emax - (TIDAL__EPOCHS_KEPT - 1)) return; /* decayed below 2^-64 */
    for (i = n; i > 0 && ep[i - 1].e > c->e; i--) {} /* from the newest: usually it */
    if (i > 0 && ep[i - 1].e == c->e) {
        ep[i - 1].acc = tidal__fx_add(ep[i - 1].acc, c->c);
        return;
    }
    TIDAL_ASSERT(n < g->cap_epochs);
    memmove(&ep[i + 1], &ep[i], sizeof(tidal__epoch) * (n - i));
    ep[i].e = c->e;
    ep[i].acc = c->c;
    g->n_epochs = (uint8_t)++n;
    if (i == n - 1) { /* a new newest epoch: drop the ones now out of range */
        uint32_t drop = 0;
        while (ep[drop].e < c->e - (TIDAL__EPOCHS_KEPT - 1)) drop++;
        memmove(ep, ep + drop, sizeof(tidal__epoch) * (n - drop));
        g->n_epochs = (uint8_t)(n - drop);
    }
}

/* One more event in bucket i: the count's low part carries into the high part at the
   limit, and a sum that leaves the int64 range keeps its high word (the reserve made the
   level wide before either can happen). */
static void tidal__bk_inc(tidal__bvec *v, uint32_t i, const tidal__contrib *c) {
    tidal__bucket *b = &v->b[i];
    tidal__fx w = tidal__fx_add(tidal__bk_w(v, i), c->wf);
    if (b->count == TIDAL__COUNT32_MAX) {
        TIDAL_ASSERT(v->wide);
        b->count = 0;
        tidal__bk_hi(v)[i]++;
    } else {
        b->count++;
    }
    b->w = w.lo;
    if (v->wide) tidal__bk_whi(v)[i] = w.hi;
    else TIDAL_ASSERT(tidal__fx_fits64(w));
}

static void tidal__sig_add_bucket(tidal__bvec *v, int64_t bucket_ns, int64_t keep,
                                  int64_t t_was, int64_t t_max, const tidal__contrib *c) {
    int64_t k = tidal__floor_div(c->t, bucket_ns), kmax = tidal__floor_div(t_max, bucket_ns);
    int64_t kwas = tidal__floor_div(t_was, bucket_ns);
    uint32_t lo, drop = 0;
    int32_t at;
    /* Buckets at or below kmax - keep go. They can only appear when kmax moves (t_was is
       the record's t_max before this event): while it stays, there is nothing to drop,
       and neither the oldest nor the newest bucket (other cache lines) is read. */
    if (kmax != kwas) {
        while (drop < v->n && v->b[drop].key <= kmax - keep) drop++;
        if (drop) {
            memmove(v->b, v->b + drop, sizeof(tidal__bucket) * (v->n - drop));
            if (v->wide) {
                uint64_t *wh = tidal__bk_whi(v);
                uint32_t *h = tidal__bk_hi(v);
                memmove(wh, wh + drop, sizeof(uint64_t) * (v->n - drop));
                memmove(h, h + drop, sizeof(uint32_t) * (v->n - drop));
            }
            v->n = (uint16_t)(v->n - drop);
        }
    }
    if (k <= kmax - keep) return; /* older than this level keeps */
    TIDAL_ASSERT(k >= INT32_MIN && k <= INT32_MAX); /* |t| / 60 s < 2^28 */
    /* The newest bucket left is kwas's (a drop takes it only when it takes every bucket). */
    if ((at = tidal__bk_find(v, k, kwas)) >= 0) {
        tidal__bk_inc(v, (uint32_t)at, c);
        return;
    }
    lo = (uint32_t)(-1 - at);
    TIDAL_ASSERT(v->n < v->cap && (lo == v->n || v->b[lo].key > k));
    memmove(&v->b[lo + 1], &v->b[lo], sizeof(tidal__bucket) * (v->n - lo));
    memset(&v->b[lo], 0, sizeof v->b[lo]);
    if (v->wide) {
        uint64_t *wh = tidal__bk_whi(v);
        uint32_t *h = tidal__bk_hi(v);
        memmove(&wh[lo + 1], &wh[lo], sizeof(uint64_t) * (v->n - lo));
        memmove(&h[lo + 1], &h[lo], sizeof(uint32_t) * (v->n - lo));
        wh[lo] = 0;
        h[lo] = 0;
    }
    v->b[lo].key = (int32_t)k;
    v->n++;
    tidal__bk_inc(v, lo, c);
}

/* Adds one event. The caller reserved room (tidal__sig_reserve), so this cannot fail. */
static void tidal__sig_add(tidal__sig *g, const tidal__sigdef *d, const tidal__contrib *c) {
    int64_t t_was = g->t_max;
    int l;
    if (c->w >= 0) {
        g->count_pos++;
        g->w_pos = tidal__fx_add(g->w_pos, c->wf);
    } else {
        g->count_neg++;
        g->w_neg = tidal__fx_add(g->w_neg, c->wf);
    }
    if (c->t > g->t_max) g->t_max = c->t;
    tidal__sig_add_epoch(g, c);
    for (l = 0; l < TIDAL__LVLS; l++) {
        int64_t keep = tidal__lvl_keep(d->windows, l);
        tidal__bvec v;
        if (!keep) continue;
        v = tidal__lvl(g, l);
        tidal__sig_add_bucket(&v, tidal__lvl_ns[l], keep, t_was, g->t_max, c);
        tidal__lvl_set(g, l, &v);
    }
}

/* a - b in ns as a double; exact (as before) unless the difference leaves the int64 range,
   which only a landmark from a crafted snapshot far below 0 could make it do. */
static double tidal__ns_diff(int64_t a, int64_t b) {
    if ((b < 0 && a > INT64_MAX + b) || (b > 0 && a < INT64_MIN + b)) return (double)a - (double)b;
    return (double)(a - b);
}

/* a * 2^x. Up to x = 1000 it is the one product (the same bits as always); beyond, 2^x
   alone may overflow where the product does not (|a| >= 2^-40), so the exponent is split;
   the result is +-inf only when the product does not fit a double. */
static double tidal__scale_exp2(double a, double x) {
    double n;
    if (a == 0.0) return 0.0; /* also keeps 0 * inf from making a NaN */
    if (x < 1000.0) return a * exp2(x);
    if (x > 1200.0) return a > 0 ? HUGE_VAL : -HUGE_VAL;
    n = floor(x);
    return ldexp(a * exp2(x - n), (int)n);
}

/* The decayed score at t: sum of w_i 2^(-(t - t_i)/h) over the events the epochs hold, at
   any t, before or after the newest event (a later event contributes its formula value,
   2^((t_i - t)/h) > 1). Not finite when it does not fit a double: callers refuse that
   with TIDAL_ERR_RANGE rather than return it (tidal__score_range). */
static double tidal__sig_score(const tidal__sig *g, const tidal__sigdef *d, int64_t t) {
    const tidal__epoch *ep;
    double s = 0;
    uint32_t i;
    if (!g) return 0;
    ep = TIDAL__EPS(g);
    for (i = 0; i < g->n_epochs; i++) {
        double a = tidal__fx_to_double(ep[i].acc);
        if (d->permanent) s += a;
        else s += tidal__scale_exp2(a, -tidal__ns_diff(t, ep[i].e * d->epoch_ns) / d->hl_ns);
    }
    return s;
}

/* Window w at t by the bucket rule, from the buckets the level holds. Returns 1 when the
   answer may leave events out: a level keeps only the buckets above floor(t_max / B) -
   keep (t_max: the newest event), every event in those buckets and none below, so a
   window whose first bucket is at or below that line misses the events below it - if
   there are any: the level's buckets then hold fewer events than the all-time count. That
   only happens at t before the newest event (at or after it every window's buckets are
   kept). What is returned is then the part of the window still held. */
static int tidal__sig_window(const tidal__sig *g, const tidal__sigdef *d, int w, int64_t t,
                             uint64_t *count, double *weight) {
    static const int lvl_of[4] = {TIDAL__LVL_MIN, TIDAL__LVL_HOUR, TIDAL__LVL_HOUR,
                                  TIDAL__LVL_DAY};
    static const int64_t n_of[4] = {60, 24, 168, 30};
    static const uint32_t bit_of[4] = {TIDAL_WINDOW_1H, TIDAL_WINDOW_24H, TIDAL_WINDOW_7D,
                                       TIDAL_WINDOW_30D};
    tidal__bvec lv;
    const tidal__bvec *v = &lv;
    int64_t kt, floor_key;
    tidal__fx sum;
    uint64_t held = 0;
    uint32_t i;
    *count = 0;
    *weight = 0;
    if (!g || !(d->windows & bit_of[w])) return 0;
    lv = tidal__lvl(g, lvl_of[w]);
    kt = tidal__floor_div(t, tidal__lvl_ns[lvl_of[w]]);
    floor_key = tidal__floor_div(g->t_max, tidal__lvl_ns[lvl_of[w]]) -
                tidal__lvl_keep(d->windows, lvl_of[w]);
    memset(&sum, 0, sizeof sum);
    TIDAL_ASSERT(w >= 0 && w < 4 && n_of[w] <= tidal__lvl_keep(d->windows, lvl_of[w]));
    for (i = 0; i < v->n; i++) {
        uint64_t n = tidal__bk_count(v, i);
        held += n;
        if (v->b[i].key > kt - n_of[w] && v->b[i].key <= kt) {
            *count += n;
            sum = tidal__fx_add(sum, tidal__bk_w(v, i));
        }
    }
    *weight = tidal__fx_to_double(sum);
    return kt - n_of[w] < floor_key && held != g->count_pos + g->count_neg;
}

static void tidal__sig_stats(const tidal__sig *g, const tidal__sigdef *d, int64_t t,
                             tidal_signal_stats *o) {
    static const double secs[4] = {3600.0, 86400.0, 604800.0, 2592000.0};
    int w;
    memset(o, 0, sizeof *o);
    if (!g) return;
    o->score = tidal__sig_score(g, d, t);
    for (w = 0; w < 4; w++) {
        if (tidal__sig_window(g, d, w, t, &o->count[w], &o->weight[w]))
            o->windows_partial |= 1u << w; /* TIDAL_WINDOW_1H << w */
        o->velocity[w] = (double)o->count[w] / secs[w];
    }
    o->count_pos = g->count_pos;
    o->count_neg = g->count_neg;
    o->weight_pos = tidal__fx_to_double(g->w_pos);
    o->weight_neg = tidal__fx_to_double(g->w_neg);
    o->count[TIDAL_W_ALL] = g->count_pos + g->count_neg;
    o->weight[TIDAL_W_ALL] = tidal__fx_to_double(tidal__fx_add(g->w_pos, g->w_neg));
}

/* TIDAL_ERR_RANGE for a score at t that does not fit a double (what names the read). */
static tidal_result tidal__score_range(tidal_db *db, const char *what, tidal_id item,
                                       const tidal__sig *g, const tidal__sigdef *d, int64_t t) {
    TIDAL_ASSERT(db && g && d);
    if (d->permanent || tidal__ns_diff(g->t_max, t) < 1000.0 * d->hl_ns)
        return tidal__err(db, TIDAL_ERR_RANGE, "%s: the score of item %llu at %lld (a sum "
                          "weighted by the profile) does not fit a double", what,
                          (unsigned long long)item, (long long)t);
    return tidal__err(db, TIDAL_ERR_RANGE, "%s: the %s score of item %llu at %lld does not fit a "
                      "double: t is %.4g half-lives before its newest event", what, d->name,
                      (unsigned long long)item, (long long)t,
                      tidal__ns_diff(g->t_max, t) / d->hl_ns);
}

/* Returns the bucket chunks of every level of g (the record keeps stale pointers). */
static void tidal__sig_free_levels(tidal_db *db, tidal__sig *g) {
    int l;
    for (l = 0; l < TIDAL__LVLS; l++) {
        tidal__bvec v = tidal__lvl(g, l);
        tidal__arena_free(db, v.b, tidal__bvec_bytes(v.cap, v.wide));
    }
}

static void tidal__sig_free(tidal_db *db, tidal__sig *g) {
    if (!g) return;
    if (g->cap_epochs > 1) tidal__arena_free(db, g->ep.out, sizeof(tidal__epoch) * g->cap_epochs);
    tidal__sig_free_levels(db, g);
    tidal__arena_free(db, g, sizeof *g);
}

// >>topk
// The incremental index behind RETRIEVE. Every item of one signal type decays by the same
// factor, so the order of items by decayed score changes only when events arrive. Each
// aggregate carries a time-invariant key (sign, log2|v| + 16 * (e_max - e_ref), with the
// type's exact half-lives per epoch in place of 16 when its half-life is fractional) and each
// list keeps the members whose key is above a threshold: every non-member's key is <= thr.
// Members above thr answer a query; when they run out, the query scans and rebuilds.

static int tidal__key_cmp(tidal__key a, tidal__key b) {
    if (a.s != b.s) return a.s < b.s ? -1 : 1;
    if (a.s == 0 || a.k == b.k) return 0;
    return ((a.k < b.k) == (a.s > 0)) ? -1 : 1;
}

/* a is above b by more than rounding can explain (keys carry ~1e-12 relative error). */
static int tidal__key_clearly_above(tidal__key a, tidal__key b) {
    if (tidal__key_cmp(a, b) <= 0) return 0;
    if (a.s != b.s) return 1;
    return fabs(a.k - b.k) > 1e-9 * (1.0 + fabs(a.k));
}

static tidal__key tidal__sig_key(const tidal__sig *g, tidal__sigdef *d) {
    const tidal__epoch *ep = TIDAL__EPS(g);
    tidal__key key;
    double v = 0;
    uint32_t i;
    key.s = 0;
    key.k = 0;
    if (!g->n_epochs) return key;
    v = tidal__fx_to_double(ep[g->n_epochs - 1].acc);
    for (i = 0; i + 1 < g->n_epochs; i++) {
        int64_t back = ep[i].e - ep[g->n_epochs - 1].e; /* -4..-1 */
        double a = tidal__fx_to_double(ep[i].acc);
        if (d->permanent || d->whole_ns) v += ldexp(a, (int)(TIDAL__EPOCH_HALF_LIVES * back));
        else v += a * exp2(d->epoch_hl * (double)back);
    }
    if (v == 0) return key;
    key.s = v > 0 ? 1 : -1;
    if (d->permanent) key.k = log2(fabs(v));
    else {
        int64_t e = ep[g->n_epochs - 1].e;
        if (d->e_ref == INT64_MIN) d->e_ref = e;
        key.k = log2(fabs(v)) + d->epoch_hl * (double)(e - d->e_ref);
    }
    return key;
}


static tidal__lb *tidal__lb_get(tidal_db *db, uint32_t tenant, uint32_t type, uint32_t ckey1,
                               uint32_t cval) {
    uint32_t i = tidal__map_get(&db->st.lb_map, (uint64_t)tenant << 32 | type,
                                (uint64_t)ckey1 << 32 | cval);
    return i == UINT32_MAX ? NULL : &db->st.lbs[i];
}

/* Finds or creates a list; returns its index or UINT32_MAX on allocation failure. */
static uint32_t tidal__lb_make(tidal_db *db, uint32_t tenant, uint32_t type, uint32_t ckey1,
                               uint32_t cval) {
    uint64_t k0 = (uint64_t)tenant << 32 | type, k1 = (uint64_t)ckey1 << 32 | cval;
    uint32_t i = tidal__map_get(&db->st.lb_map, k0, k1);
    tidal__lb *lb;
    if (i != UINT32_MAX) return i;
    if (!TIDAL__GROW(db, db->st.lbs, db->st.cap_lbs, db->st.n_lbs + 1)) return UINT32_MAX;
    if (!tidal__map_put(db, &db->st.lb_map, k0, k1, db->st.n_lbs)) return UINT32_MAX;
    lb = &db->st.lbs[db->st.n_lbs];
    memset(lb, 0, sizeof *lb);
    lb->tenant = tenant;
    lb->type = type;
    lb->ckey1 = ckey1;
    lb->cval = cval;
    return db->st.n_lbs++;
}

static void tidal__lb_remove(tidal__lb *lb, uint32_t slot) {
    TIDAL_ASSERT(slot < lb->n);
    lb->m[slot].sig->lb_slot = -1;
    lb->m[slot] = lb->m[--lb->n];
    if (slot < lb->n) lb->m[slot].sig->lb_slot = (int32_t)slot;
    lb->sorted = 0;
}

/* Members in rank order: key descending, then item id ascending. */
static int tidal__lb_entry_cmp(const void *a, const void *b) {
    const tidal__lb_entry *x = (const tidal__lb_entry *)a, *y = (const tidal__lb_entry *)b;
    int c = tidal__key_cmp(y->key, x->key);
    if (c) return c;
    return x->item < y->item ? -1 : x->item > y->item;
}

static void tidal__lb_sort(tidal__lb *lb) {
    uint32_t i;
    if (lb->sorted) return;
    qsort(lb->m, lb->n, sizeof *lb->m, tidal__lb_entry_cmp);
    for (i = 0; i < lb->n; i++) lb->m[i].sig->lb_slot = (int32_t)i;
    lb->sorted = 1;
}

/* Keeps the top half when the list is full; the best evicted key becomes the threshold. */
static void tidal__lb_compact(tidal__lb *lb) {
    uint32_t keep = TIDAL__LB_CAP / 2, i;
    tidal__lb_sort(lb);
    TIDAL_ASSERT(lb->n > keep);
    lb->thr = lb->m[keep].key;
    lb->has_thr = 1;
    for (i = keep; i < lb->n; i++) lb->m[i].sig->lb_slot = -1;
    lb->n = keep;
}

/* Called after an aggregate changed: keeps "non-members <= thr" true. */
static void tidal__lb_update(tidal_db *db, tidal__sig *g) {
    tidal__lb *lb = &db->st.lbs[g->lb];
    tidal__key key = tidal__sig_key(g, &db->schema.sig[lb->type]);
    int above = !lb->has_thr || tidal__key_cmp(key, lb->thr) > 0;
    if (g->lb_slot >= 0) {
        if (!above) {
            tidal__lb_remove(lb, (uint32_t)g->lb_slot);
            return;
        }
        lb->m[g->lb_slot].key = key;
        lb->sorted = 0;
        return;
    }
    if (!above) return;
    if (lb->n == lb->cap) {
        if (lb->n >= TIDAL__LB_CAP) {
            tidal__lb_compact(lb);
            if (tidal__key_cmp(key, lb->thr) <= 0) return; /* thr rose past it */
        } else if (!TIDAL__GROW(db, lb->m, lb->cap, lb->n + 1)) {
            /* No room: raise the threshold to this key instead of losing the invariant. */
            if (!lb->has_thr || tidal__key_cmp(key, lb->thr) > 0) lb->thr = key;
            lb->has_thr = 1;
            return;
        }
    }
    lb->m[lb->n].key = key;
    lb->m[lb->n].item = db->st.ents[g->ent].id;
    lb->m[lb->n].sig = g;
    g->lb_slot = (int32_t)lb->n++;
    lb->sorted = 0;
}

/* Read access for the profile walk (>>query), which needs only these four: the number of
   members, the member at a rank once sorted (tidal__lb_sort), the threshold, and a key
   read back as a bound on the score at t. */
static uint32_t tidal__lb_size(const tidal__lb *lb) { return lb->n; }

/* The member at rank r (key descending, then item id): its entity index, and its key. */
static uint32_t tidal__lb_rank(const tidal__lb *lb, uint32_t r, tidal__key *key) {
    TIDAL_ASSERT(lb->sorted && r < lb->n);
    TIDAL_ASSERT(lb->m[r].sig->lb_slot == (int32_t)r);
    *key = lb->m[r].key;
    return lb->m[r].sig->ent;
}

/* 1 and *thr when members were ever evicted (every non-member's key is <= *thr); 0 when
   the members are every aggregate of the list. */
static int tidal__lb_threshold(const tidal__lb *lb, tidal__key *thr) {
    TIDAL_ASSERT(lb->n <= lb->cap);
    *thr = lb->thr;
    return lb->has_thr;
}

/* A key read back as a score at t: the score is s * 2^(k - (t - e_ref * epoch) / h) (2^k
   when permanent). up = 1 gives an upper bound on the score at t of every aggregate whose
   key is <= key; up = 0 a lower bound for keys >= key. Keys carry ~1e-12 relative error
   in k (see tidal__key_clearly_above); the exponent is widened by 1e-9 (1 + |k| + |x|),
   far more. The result may be +-inf (a bound beyond the double range), never NaN. */
static double tidal__key_bound(tidal__key key, const tidal__sigdef *d, int64_t t, int up) {
    double x = 0, slack;
    if (key.s == 0) return 0.0;
    TIDAL_ASSERT(d->permanent || d->e_ref != INT64_MIN); /* set by the first nonzero key */
    if (!d->permanent) x = tidal__ns_diff(t, d->e_ref * d->epoch_ns) / d->hl_ns;
    slack = 1e-9 * (1.0 + fabs(key.k) + fabs(x));
    if (key.s > 0) return exp2(key.k - x + (up ? slack : -slack));
    return -exp2(key.k - x + (up ? -slack : slack));
}

// >>entities
// The entity table: (tenant, id) -> row. Rows are created only by applying events, so a
// lookup never changes state. Tenants keep the list of their items for scans.

/* The entity index (struct tidal__emap): a slot's tag filters, the row confirms. */
static uint32_t tidal__emap_get(const tidal_db *db, uint32_t tenant, tidal_id id) {
    const tidal__emap *m = &db->st.ent_map;
    uint64_t h = tidal__map_hash(tenant, id);
    uint32_t i, mask, tag = (uint32_t)(h >> 32);
    if (!m->cap) return UINT32_MAX;
    mask = m->cap - 1;
    for (i = (uint32_t)h & mask; m->s[i].v != UINT32_MAX; i = (i + 1) & mask) {
        const tidal__entity *e;
        if (m->s[i].tag != tag) continue;
        e = &db->st.ents[m->s[i].v];
        if (e->id == id && e->tenant == tenant) return m->s[i].v;
    }
    return UINT32_MAX;
}

/* Starts loading the index slot where (tenant, id)'s probe begins. */
static void tidal__emap_prefetch(const tidal_db *db, uint32_t tenant, tidal_id id) {
    const tidal__emap *m = &db->st.ent_map;
    if (m->cap) TIDAL__PREFETCH(&m->s[(uint32_t)tidal__map_hash(tenant, id) & (m->cap - 1)]);
}

static void tidal__emap_place(tidal__emap *m, uint64_t h, uint32_t v) {
    uint32_t mask = m->cap - 1, i = (uint32_t)h & mask;
    TIDAL_ASSERT(m->n < m->cap);
    while (m->s[i].v != UINT32_MAX) i = (i + 1) & mask;
    m->s[i].tag = (uint32_t)(h >> 32);
    m->s[i].v = v;
}

/* Room for need entries (the rows being indexed are db->st.ents[0 .. m->n), their ids and
   tenants rehash on growth). 0 on allocation failure, the index unchanged. */
static int tidal__emap_reserve(tidal_db *db, tidal__emap *m, uint32_t need) {
    tidal__emap old = *m;
    uint32_t cap = m->cap ? m->cap : 16, i;
    TIDAL_ASSERT(m == &db->st.ent_map && m->n <= db->st.n_ents);
    if ((uint64_t)need * 2 <= m->cap) return 1;
    while ((uint64_t)need * 2 > cap) {
        if (cap >= (1u << 31)) return 0;
        cap *= 2;
    }
    if (!(m->s = (tidal__eslot *)tidal__alloc(db, sizeof(tidal__eslot) * cap))) {
        *m = old;
        return 0;
    }
    for (i = 0; i < cap; i++) {
        m->s[i].tag = 0;
        m->s[i].v = UINT32_MAX;
    }
    m->cap = cap;
    for (i = 0; i < old.cap; i++) {
        const tidal__entity *e;
        if (old.s[i].v == UINT32_MAX) continue;
        e = &db->st.ents[old.s[i].v];
        tidal__emap_place(m, tidal__map_hash(e->tenant, e->id), old.s[i].v);
    }
    tidal__free(db, old.s, sizeof(tidal__eslot) * old.cap);
    return 1;
}

static void tidal__emap_free(tidal_db *db, tidal__emap *m) {
    tidal__free(db, m->s, sizeof(tidal__eslot) * m->cap);
    memset(m, 0, sizeof *m);
}

static tidal__entity *tidal__ent_find(const tidal_db *db, uint32_t tenant, tidal_id id) {
    uint32_t i = tidal__emap_get(db, tenant, id);
    return i == UINT32_MAX ? NULL : &db->st.ents[i];
}

static tidal__entity *tidal__ent_make(tidal_db *db, uint32_t tenant, tidal_id id) {
    tidal__entity *e = tidal__ent_find(db, tenant, id);
    if (e) return e;
    if (db->st.n_ents >= TIDAL_ENTITIES_MAX) return NULL;
    if (!TIDAL__GROW(db, db->st.ents, db->st.cap_ents, db->st.n_ents + 1)) return NULL;
    if (!tidal__emap_reserve(db, &db->st.ent_map, db->st.ent_map.n + 1)) return NULL;
    e = &db->st.ents[db->st.n_ents];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->tenant = tenant;
    tidal__emap_place(&db->st.ent_map, tidal__map_hash(tenant, id), db->st.n_ents++);
    db->st.ent_map.n++;
    db->stats.entities++;
    if (db->ten.n_tcfg) {
        uint32_t k;
        for (k = 0; k < db->ten.n_tcfg; k++)
            if (db->ten.tcfg[k].cfg.tenant == tenant) db->ten.tcfg[k].entities++;
    }
    return e;
}

static tidal__tenant *tidal__tenant_find(const tidal_db *db, uint32_t tenant) {
    uint32_t i = tidal__map_get(&db->st.tenant_map, tenant, 0);
    return i == UINT32_MAX ? NULL : &db->st.tenants[i];
}

static tidal__tenant *tidal__tenant_make(tidal_db *db, uint32_t tenant) {
    tidal__tenant *t = tidal__tenant_find(db, tenant);
    if (t) return t;
    if (!TIDAL__GROW(db, db->st.tenants, db->st.cap_tenants, db->st.n_tenants + 1)) return NULL;
    if (!tidal__map_put(db, &db->st.tenant_map, tenant, 0, db->st.n_tenants)) return NULL;
    t = &db->st.tenants[db->st.n_tenants++];
    memset(t, 0, sizeof *t);
    t->id = tenant;
    return t;
}

static uint32_t tidal__ent_index(const tidal_db *db, const tidal__entity *e) {
    return (uint32_t)(e - db->st.ents);
}

/* tidal__ent_make_sigs with e's tenant row t already found (a snapshot load finds it once
   per tenant and reserves its item list for every row it will read). */
static int tidal__ent_make_sigs_in(tidal_db *db, tidal__entity *e, tidal__tenant *t) {
    TIDAL_ASSERT(!e->sigs && t->id == e->tenant);
    if (!TIDAL__GROW(db, t->items, t->cap_items, t->n_items + 1)) return 0;
    e->sigs = (tidal__sig **)tidal__arena_alloc(db, sizeof(tidal__sig *) * db->schema.n_sig);
    if (!e->sigs) return 0;
    memset(e->sigs, 0, sizeof(tidal__sig *) * db->schema.n_sig);
    t->items[t->n_items++] = tidal__ent_index(db, e);
    return 1;
}

/* Makes the item's per-type sig array and lists it in its tenant. */
static int tidal__ent_make_sigs(tidal_db *db, tidal__entity *e) {
    tidal__tenant *t;
    if (e->sigs) return 1;
    t = tidal__tenant_make(db, e->tenant);
    return t && tidal__ent_make_sigs_in(db, e, t);
}

static tidal__sig *tidal__sig_new(tidal_db *db, uint32_t ent, uint32_t lb) {
    tidal__sig *g = (tidal__sig *)tidal__arena_alloc(db, sizeof *g);
    if (!g) return NULL;
    memset(g, 0, sizeof *g);
    g->cap_epochs = 1; /* ep.in */
    g->t_max = INT64_MIN;
    g->lb_slot = -1;
    g->ent = ent;
    g->lb = lb;
    return g;
}

static const tidal__attr *tidal__attr_find(const tidal_db *db, const tidal__entity *e,
                                           uint32_t key) {
    uint32_t i;
    (void)db;
    for (i = 0; i < e->n_attrs; i++)
        if (e->attrs[i].key == key) return &e->attrs[i];
    return NULL;
}

static tidal_id tidal__parse_id(const char *s, uint32_t len) {
    uint64_t v = 0;
    uint32_t i;
    if (len == 0 || len > 20) return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v;
}

/* A value the "creator" attribute may take: a decimal entity id, 1..UINT64_MAX, digits
   only (no sign, space or leading zero), which tidal__parse_id reads back exactly. */
static int tidal__creator_ok(const char *s, size_t len) {
    TIDAL_ASSERT(s != NULL);
    if (len == 0 || s[0] == '0') return 0;
    return tidal__parse_id(s, (uint32_t)len) != 0;
}

/* LWW register per (entity, key): the higher HLC wins; a tombstone is a value too. */
static tidal_result tidal__apply_attr(tidal_db *db, const tidal__event *ev) {
    uint32_t key = tidal__str_intern(db, ev->key, ev->key_len), val = UINT32_MAX, i;
    tidal__entity *e;
    if (key == UINT32_MAX) return TIDAL_ERR_NOMEM;
    if (ev->value) {
        val = tidal__str_intern(db, ev->value, ev->value_len);
        if (val == UINT32_MAX) return TIDAL_ERR_NOMEM;
    }
    e = tidal__ent_make(db, ev->tenant, ev->entity);
    if (!e) return TIDAL_ERR_NOMEM;
    for (i = 0; i < e->n_attrs && e->attrs[i].key != key; i++) {}
    if (i == e->n_attrs) {
        if (!TIDAL__GROW(db, e->attrs, e->cap_attrs, e->n_attrs + 1)) return TIDAL_ERR_NOMEM;
        e->attrs[i].key = key;
        e->attrs[i].value = val;
        e->attrs[i].hlc = ev->hlc;
        e->n_attrs++;
    } else if (tidal__hlc_cmp(ev->hlc, e->attrs[i].hlc) > 0) {
        e->attrs[i].value = val;
        e->attrs[i].hlc = ev->hlc;
    } else {
        return TIDAL_OK; /* an older write: it lost */
    }
    if (ev->key_len == 7 && !memcmp(ev->key, "creator", 7))
        e->creator =
            val == UINT32_MAX ? 0 : tidal__parse_id(db->st.strs[val].s, db->st.strs[val].len);
    return TIDAL_OK;
}

/* Removal (tidal_user_forget, tidal_item_delete). The row itself stays (its index is
   referenced by the maps); a row without content is skipped by the canonical encoding,
   so it is indistinguishable from an absent one in digests and snapshots. Nothing here
   allocates: a removal cannot fail halfway. */
static void tidal__ent_drop_attrs(tidal_db *db, tidal__entity *e) {
    tidal__free(db, e->attrs, sizeof(tidal__attr) * e->cap_attrs);
    e->attrs = NULL;
    e->n_attrs = e->cap_attrs = 0;
    e->creator = 0;
    TIDAL_ASSERT(!e->attrs && !e->n_attrs);
}

static void tidal__ent_drop_sig(tidal_db *db, tidal__sig *g) {
    if (!g) return;
    if (g->lb_slot >= 0) tidal__lb_remove(&db->st.lbs[g->lb], (uint32_t)g->lb_slot);
    TIDAL_ASSERT(g->lb_slot == -1);
    tidal__sig_free(db, g);
}

/* Every aggregate of the item (each type, each cohort) leaves the top-K lists and is
   freed, and the item leaves its tenant's item list (kept in order), so a later signal
   makes it anew through tidal__ent_make_sigs. */
static void tidal__ent_drop_sigs(tidal_db *db, tidal__entity *e) {
    uint32_t i, idx = tidal__ent_index(db, e);
    tidal__tenant *t = tidal__tenant_find(db, e->tenant);
    for (i = 0; e->sigs && i < db->schema.n_sig; i++) tidal__ent_drop_sig(db, e->sigs[i]);
    for (i = 0; i < e->n_csigs; i++) tidal__ent_drop_sig(db, e->csigs[i].sig);
    if (e->sigs) {
        tidal__arena_free(db, e->sigs, sizeof(tidal__sig *) * db->schema.n_sig);
        TIDAL_ASSERT(t != NULL); /* an item with sigs is listed in its tenant */
        for (i = 0; i < t->n_items && t->items[i] != idx; i++) {}
        TIDAL_ASSERT(i < t->n_items);
        memmove(&t->items[i], &t->items[i + 1], sizeof(uint32_t) * (t->n_items - i - 1));
        t->n_items--;
    }
    tidal__arena_free(db, e->csigs, sizeof(tidal__csig) * e->cap_csigs);
    e->sigs = NULL;
    e->csigs = NULL;
    e->n_csigs = e->cap_csigs = 0;
}

/* tidal__ent_make for a row the caller knows is absent, in room it reserved (cap_ents),
   and NOT entered in ent_map: a snapshot load (>>snapshot) adds a tenant's rows, then all
   their map entries at once (tidal__sd_ent_map). Until then ent_find misses them. */
static tidal__entity *tidal__ent_append(tidal_db *db, uint32_t tenant, tidal_id id) {
    tidal__entity *e;
    uint32_t k;
    TIDAL_ASSERT(db->st.n_ents < db->st.cap_ents && db->st.n_ents < TIDAL_ENTITIES_MAX);
    TIDAL_ASSERT(db->st.ent_map.cap >= 2 * (db->st.ent_map.n + 1));
    e = &db->st.ents[db->st.n_ents++];
    memset(e, 0, sizeof *e);
    e->id = id;
    e->tenant = tenant;
    db->stats.entities++;
    for (k = 0; k < db->ten.n_tcfg; k++)
        if (db->ten.tcfg[k].cfg.tenant == tenant) db->ten.tcfg[k].entities++;
    return e;
}

// >>negatives
// Observed-remove sets per (user, kind, target). An add inserts its tag (event id); a
// remove deletes the tags its writer observed, and remembers ("tombs") any it has not seen
// added yet, so the add is cancelled whenever it arrives. Suppressed <=> a live tag exists.
// Both vectors stay sorted; an entry with no tags and no tombs is removed (canonical).

static int tidal__idvec_find(const tidal__idvec *v, tidal_event_id id, uint32_t *pos) {
    uint32_t lo = 0, hi = v->n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (tidal__id_cmp(v->v[mid], id) < 0) lo = mid + 1;
        else hi = mid;
    }
    *pos = lo;
    return lo < v->n && tidal__id_cmp(v->v[lo], id) == 0;
}

static int tidal__idvec_insert(tidal_db *db, tidal__idvec *v, uint32_t pos, tidal_event_id id) {
    if (!TIDAL__GROW(db, v->v, v->cap, v->n + 1)) return 0;
    memmove(&v->v[pos + 1], &v->v[pos], sizeof(tidal_event_id) * (v->n - pos));
    v->v[pos] = id;
    v->n++;
    return 1;
}

static void tidal__idvec_erase(tidal__idvec *v, uint32_t pos) {
    memmove(&v->v[pos], &v->v[pos + 1], sizeof(tidal_event_id) * (v->n - pos - 1));
    v->n--;
}

static int tidal__neg_cmp(uint32_t k1, tidal_id t1, uint32_t k2, tidal_id t2) {
    if (k1 != k2) return k1 < k2 ? -1 : 1;
    return t1 < t2 ? -1 : t1 > t2;
}

static tidal__neg *tidal__neg_find(const tidal__user *u, uint32_t kind, tidal_id target,
                                   uint32_t *pos) {
    uint32_t lo = 0, hi = u ? u->n_negs : 0;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (tidal__neg_cmp(u->negs[mid].kind, u->negs[mid].target, kind, target) < 0) lo = mid + 1;
        else hi = mid;
    }
    if (pos) *pos = lo;
    if (u && lo < u->n_negs && u->negs[lo].kind == kind && u->negs[lo].target == target)
        return &u->negs[lo];
    return NULL;
}

static int tidal__neg_live(const tidal__user *u, uint32_t kind, tidal_id target) {
    const tidal__neg *n = tidal__neg_find(u, kind, target, NULL);
    return n && n->adds.n > 0;
}

static int tidal__suppressed(const tidal__user *u, const tidal__entity *item) {
    if (!u || !u->n_live) return 0;
    if (tidal__neg_live(u, TIDAL_HIDE, item->id)) return 1;
    if (item->creator && (tidal__neg_live(u, TIDAL_MUTE, item->creator) ||
                          tidal__neg_live(u, TIDAL_BLOCK, item->creator)))
        return 1;
    return 0;
}

static tidal__user *tidal__user_make(tidal_db *db, tidal__entity *e) {
    if (!e->user && (e->user = (tidal__user *)tidal__arena_alloc(db, sizeof(tidal__user))))
        memset(e->user, 0, sizeof(tidal__user));
    return e->user;
}

static tidal__neg *tidal__neg_make(tidal_db *db, tidal__user *u, uint32_t kind,
                                   tidal_id target) {
    uint32_t pos;
    tidal__neg *n = tidal__neg_find(u, kind, target, &pos);
    if (n) return n;
    if (u->n_negs >= TIDAL_NEGATIVES_MAX) return NULL;
    if (!TIDAL__GROW(db, u->negs, u->cap_negs, u->n_negs + 1)) return NULL;
    memmove(&u->negs[pos + 1], &u->negs[pos], sizeof(tidal__neg) * (u->n_negs - pos));
    n = &u->negs[pos];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->target = target;
    u->n_negs++;
    return n;
}

static void tidal__neg_settle(tidal_db *db, tidal__user *u, tidal__neg *n, int was_live) {
    int live = n->adds.n > 0;
    if (live && !was_live) u->n_live++;
    if (!live && was_live) u->n_live--;
    if (!n->adds.n && !n->tombs.n) {
        uint32_t pos = (uint32_t)(n - u->negs);
        tidal__free(db, n->adds.v, sizeof(tidal_event_id) * n->adds.cap);
        tidal__free(db, n->tombs.v, sizeof(tidal_event_id) * n->tombs.cap);
        memmove(&u->negs[pos], &u->negs[pos + 1], sizeof(tidal__neg) * (u->n_negs - pos - 1));
        u->n_negs--;
    }
}

static void tidal__neg_free(tidal_db *db, tidal__neg *n) {
    tidal__free(db, n->adds.v, sizeof(tidal_event_id) * n->adds.cap);
    tidal__free(db, n->tombs.v, sizeof(tidal_event_id) * n->tombs.cap);
}

/* tidal_user_forget: the user's whole side (negatives with their tags and tombstones, the
   seen set) goes. A later remove naming a tag applied before the forget leaves no
   tombstone (the tag is in the applied index), so nothing comes back from it. */
static void tidal__user_drop(tidal_db *db, tidal__entity *e) {
    uint32_t i;
    if (!e->user) return;
    for (i = 0; i < e->user->n_negs; i++) tidal__neg_free(db, &e->user->negs[i]);
    tidal__free(db, e->user->negs, sizeof(tidal__neg) * e->user->cap_negs);
    tidal__set_free(db, &e->user->seen);
    tidal__arena_free(db, e->user, sizeof(tidal__user));
    e->user = NULL;
}

/* tidal_item_delete: every user of the tenant forgets having seen the item, and hides of
   it are dropped (mutes and blocks name creators, not items, and stay). */
static void tidal__negs_drop_item(tidal_db *db, uint32_t tenant, tidal_id item) {
    uint32_t i;
    for (i = 0; i < db->st.n_ents; i++) {
        tidal__entity *e = &db->st.ents[i];
        tidal__neg *n;
        if (e->tenant != tenant || !e->user) continue;
        tidal__set_del(&e->user->seen, item);
        if ((n = tidal__neg_find(e->user, TIDAL_HIDE, item, NULL)) != NULL) {
            uint32_t pos = (uint32_t)(n - e->user->negs);
            if (n->adds.n) e->user->n_live--;
            tidal__neg_free(db, n);
            memmove(n, n + 1, sizeof(tidal__neg) * (e->user->n_negs - pos - 1));
            e->user->n_negs--;
        }
        TIDAL_ASSERT(e->user->n_live <= e->user->n_negs);
    }
}

static tidal_result tidal__apply_neg(tidal_db *db, const tidal__event *ev) {
    tidal__entity *e = tidal__ent_make(db, ev->tenant, ev->entity);
    tidal__user *u = e ? tidal__user_make(db, e) : NULL;
    tidal__neg *n = u ? tidal__neg_make(db, u, ev->type, ev->other) : NULL;
    uint32_t i, pos;
    int was_live;
    if (!n) return TIDAL_ERR_NOMEM;
    was_live = n->adds.n > 0;
    if (ev->kind == TIDAL__EV_NEG_ADD) {
        if (tidal__idvec_find(&n->tombs, ev->id, &pos)) tidal__idvec_erase(&n->tombs, pos);
        else if (!tidal__idvec_find(&n->adds, ev->id, &pos) &&
                 !tidal__idvec_insert(db, &n->adds, pos, ev->id))
            return TIDAL_ERR_NOMEM;
    } else {
        for (i = 0; i < ev->n_tags; i++) {
            /* A tombstone only for an add not applied yet (a remove that overtook it): a
               second remove of an add already gone must leave nothing behind, or the state
               would depend on the order removes and add arrived in. */
            if (tidal__idvec_find(&n->adds, ev->tags[i], &pos)) tidal__idvec_erase(&n->adds, pos);
            else if (!tidal__event_applied(db, ev->tags[i]) && !tidal__idvec_find(&n->tombs, ev->tags[i], &pos) &&
                     !tidal__idvec_insert(db, &n->tombs, pos, ev->tags[i]))
                return TIDAL_ERR_NOMEM;
        }
    }
    tidal__neg_settle(db, u, n, was_live);
    return TIDAL_OK;
}

// >>sessions
// A session's journal is kept sorted by sequence number; hwm is the largest n such that
// 1..n are all present, and the entries above it are "the set above the mark". Events for
// a session that has not been seen starting create a placeholder the start then fills.
// Apply never refuses an event for an ended session (that would depend on arrival order);
// only the local write API does.

static tidal__session *tidal__sess_find(const tidal_db *db, uint32_t tenant, tidal_id id) {
    uint32_t i = tidal__map_get(&db->st.sess_map, tenant, id);
    return i == UINT32_MAX ? NULL : &db->st.sess[i];
}

static tidal__session *tidal__sess_make(tidal_db *db, uint32_t tenant, tidal_id id) {
    tidal__session *s = tidal__sess_find(db, tenant, id);
    if (s) return s;
    if (db->st.n_sess >= TIDAL_SESSIONS_MAX) return NULL;
    if (!TIDAL__GROW(db, db->st.sess, db->st.cap_sess, db->st.n_sess + 1)) return NULL;
    if (!tidal__map_put(db, &db->st.sess_map, tenant, id, db->st.n_sess)) return NULL;
    s = &db->st.sess[db->st.n_sess++];
    memset(s, 0, sizeof *s);
    s->tenant = tenant;
    s->id = id;
    return s;
}

static int tidal__sess_has(const tidal__session *s, uint64_t seq, uint32_t *pos) {
    uint32_t lo = 0, hi = s->n_j;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->j[mid].seq < seq) lo = mid + 1;
        else hi = mid;
    }
    if (pos) *pos = lo;
    return lo < s->n_j && s->j[lo].seq == seq;
}

/* Adds a journal entry; a (session, seq) already present is a no-op (returns 0). */
static int tidal__sess_journal(tidal_db *db, tidal__session *s, const tidal__jentry *je) {
    uint32_t pos;
    if (tidal__sess_has(s, je->seq, &pos)) return 0;
    if (!TIDAL__GROW(db, s->j, s->cap_j, s->n_j + 1)) return -1;
    memmove(&s->j[pos + 1], &s->j[pos], sizeof(tidal__jentry) * (s->n_j - pos));
    s->j[pos] = *je;
    s->n_j++;
    while (tidal__sess_has(s, s->hwm + 1, NULL)) s->hwm++;
    return 1;
}

static int tidal__sess_empty(const tidal__session *s); /* >>digest */

/* tidal_user_forget: the user's sessions lose everything (start, journal, end), which
   leaves rows the canonical encoding skips and reads report as not found. */
static void tidal__sess_drop_user(tidal_db *db, uint32_t tenant, tidal_id user) {
    uint32_t i;
    for (i = 0; i < db->st.n_sess; i++) {
        tidal__session *s = &db->st.sess[i];
        if (s->tenant != tenant || s->user != user) continue;
        tidal__free(db, s->j, sizeof(tidal__jentry) * s->cap_j);
        s->j = NULL;
        s->n_j = s->cap_j = 0;
        s->hwm = 0;
        s->user = 0;
        s->start_ns = s->ttl_ns = 0;
        s->ended = 0;
        s->has_start = 0;
        TIDAL_ASSERT(tidal__sess_empty(s));
    }
}

/* tidal_item_delete: journal entries that name the item keep their seq (so a retry is
   still a duplicate) and lose the item id. */
static void tidal__sess_scrub_item(tidal_db *db, uint32_t tenant, tidal_id item) {
    uint32_t i, k;
    TIDAL_ASSERT(item != 0);
    for (i = 0; i < db->st.n_sess; i++) {
        tidal__session *s = &db->st.sess[i];
        if (s->tenant != tenant) continue;
        for (k = 0; k < s->n_j; k++)
            if (s->j[k].kind == TIDAL_SESSION_SIGNAL && s->j[k].item == item) s->j[k].item = 0;
    }
}

static tidal_result tidal__apply_session(tidal_db *db, const tidal__event *ev) {
    tidal__session *s = tidal__sess_make(db, ev->tenant, ev->entity);
    if (!s) return TIDAL_ERR_NOMEM;
    if (ev->kind == TIDAL__EV_SESSION_START) {
        if (!s->has_start) {
            s->has_start = 1;
            s->user = ev->other;
            s->start_ns = ev->time_ns;
            s->ttl_ns = ev->ttl_ns;
            if (s->ttl_ns && s->start_ns + s->ttl_ns < db->st.next_expiry_ns)
                db->st.next_expiry_ns = s->start_ns + s->ttl_ns;
        }
    } else if (ev->kind == TIDAL__EV_SESSION_END) {
        s->ended |= ev->type == 2 ? 2u : 1u;
    } else {
        tidal__jentry je;
        memset(&je, 0, sizeof je);
        je.seq = ev->seq;
        je.kind = TIDAL_SESSION_NOTE;
        je.note = tidal__str_intern(db, ev->value, ev->value_len);
        if (je.note == UINT32_MAX) return TIDAL_ERR_NOMEM;
        if (tidal__sess_journal(db, s, &je) < 0) return TIDAL_ERR_NOMEM;
    }
    return TIDAL_OK;
}

// >>apply
// The fold: tidal__apply takes one decoded event, drops it if its id was applied before,
// and folds it into state. Every write path (local calls, imports, replicated batches, the
// log replayed at open) reaches it through tidal__event_take (>>db_write) and nothing else,
// so exactly-once and order-independence are decided in one place.
// Rules it keeps:
// 1. An event applied before is a no-op: its id is in the applied index, or (session
//    writes) its (session, seq) is in the session's journal, which outlives the window.
// 2. Every kind but forget/delete folds order-independently (sums, LWW, OR-sets).
// 3. A user forget or item delete removes what was applied before it on this node and
//    nothing else: later events recreate. Members of a group apply one log in one order,
//    so they stay equal; see tidal_user_forget for writes merged after a partition.
// 4. Reserve, then commit: a refusal changes nothing (forget/delete only free memory).

static tidal__csig *tidal__csig_find(const tidal__entity *e, uint32_t type, uint32_t ckey,
                                     uint32_t cval) {
    uint32_t i;
    for (i = 0; i < e->n_csigs; i++)
        if (e->csigs[i].type == type && e->csigs[i].ckey == ckey && e->csigs[i].cval == cval)
            return &e->csigs[i];
    return NULL;
}

/* Finds or creates the aggregate for (entity, type, cohort); the caller reserves in it. */
static tidal__sig *tidal__sig_for(tidal_db *db, tidal__entity *e, uint32_t type, int cohort,
                                  uint32_t ckey, uint32_t cval) {
    uint32_t ent = tidal__ent_index(db, e), lb;
    tidal__sig *g;
    TIDAL_ASSERT(e->sigs != NULL && type < db->schema.n_sig);
    if (!cohort) {
        g = e->sigs[type];
        if (!g) {
            lb = tidal__lb_make(db, e->tenant, type, 0, 0);
            if (lb == UINT32_MAX || !(g = tidal__sig_new(db, ent, lb))) return NULL;
            e->sigs[type] = g;
        }
    } else {
        tidal__csig *c = tidal__csig_find(e, type, ckey, cval);
        if (!c) {
            if (e->n_csigs >= TIDAL_COHORT_SIGS_MAX) return NULL;
            if (!TIDAL__AGROW(db, e->csigs, e->cap_csigs, e->n_csigs + 1)) return NULL;
            lb = tidal__lb_make(db, e->tenant, type, ckey + 1, cval);
            if (lb == UINT32_MAX || !(g = tidal__sig_new(db, ent, lb))) return NULL;
            c = &e->csigs[e->n_csigs++];
            c->type = type;
            c->ckey = ckey;
            c->cval = cval;
            c->sig = g;
        }
        g = c->sig;
    }
    TIDAL_ASSERT(g->ent == ent);
    TIDAL__PREFETCH(g); /* the record's two lines (the arena aligns it to 64) */
    TIDAL__PREFETCH((const char *)g + 64);
    return g;
}

static void tidal__sig_fold(tidal_db *db, tidal__sig *g, const tidal__sigdef *d,
                            const tidal__contrib *c) {
    tidal__sig_add(g, d, c);
    tidal__lb_update(db, g);
}

static tidal_result tidal__apply_signal(tidal_db *db, const tidal__event *ev) {
    const tidal__sigdef *d = &db->schema.sig[ev->type];
    tidal__sig *g[1 + TIDAL_COHORT_KEYS_MAX];
    tidal__contrib c;
    tidal__entity *e;
    const tidal__user *uu = NULL;
    uint32_t i, n = 1, ui = UINT32_MAX;
    if (ev->other) tidal__emap_prefetch(db, ev->tenant, ev->other); /* in parallel with: */
    if (!(e = tidal__ent_make(db, ev->tenant, ev->entity)) || !tidal__ent_make_sigs(db, e))
        return TIDAL_ERR_NOMEM;
    /* The row's two arrays are independent misses: start both before reading either. */
    TIDAL__PREFETCH(&e->sigs[ev->type]);
    if (ev->n_cohort && e->n_csigs) TIDAL__PREFETCH(e->csigs);
    if (ev->other && (ui = tidal__emap_get(db, ev->tenant, ev->other)) != UINT32_MAX)
        TIDAL__PREFETCH(&db->st.ents[ui].user); /* the user's row, while the item's work runs */
    tidal__contrib_make(d, ev->time_ns, ev->weight, &c); /* pure: the reserves need it */
    if (!(g[0] = tidal__sig_for(db, e, ev->type, 0, 0, 0))) return TIDAL_ERR_NOMEM;
    if (ui != UINT32_MAX && (uu = db->st.ents[ui].user) != NULL)
        TIDAL__PREFETCH(uu); /* the user's chain one step on: its seen set's header */
    for (i = 0; i < ev->n_cohort; i++) {
        uint32_t v = tidal__str_intern(db, ev->cohort_val[i], ev->cohort_len[i]);
        if (v == UINT32_MAX) return TIDAL_ERR_NOMEM;
        e = &db->st.ents[g[0]->ent]; /* interning cannot move ents, but stay explicit */
        if (!(g[n++] = tidal__sig_for(db, e, ev->type, 1, ev->cohort_key[i], v)))
            return TIDAL_ERR_NOMEM;
    }
    /* Every aggregate's buckets in flight at once (and the slot of the user's seen set
       where the item's probe starts), then the reserves that read them. */
    if (uu && uu->seen.cap)
        TIDAL__PREFETCH(&uu->seen.slot[(uint32_t)tidal__mix64(ev->entity) & (uu->seen.cap - 1)]);
    for (i = 0; i < n; i++) tidal__sig_prefetch(g[i], d, c.t);
    for (i = 0; i < n; i++)
        if (!tidal__sig_reserve(db, g[i], d, &c)) return TIDAL_ERR_NOMEM;
    if (ev->other) { /* the user: remember what they signalled (FOR USER ... UNSEEN) */
        tidal__entity *u = tidal__ent_make(db, ev->tenant, ev->other);
        if (!u || !tidal__user_make(db, u)) return TIDAL_ERR_NOMEM;
        if (tidal__set_add(db, &u->user->seen, ev->entity) < 0) return TIDAL_ERR_NOMEM;
    }
    if (ev->session) {
        tidal__session *s = tidal__sess_make(db, ev->tenant, ev->session);
        tidal__jentry je;
        if (!s) return TIDAL_ERR_NOMEM;
        memset(&je, 0, sizeof je);
        je.seq = ev->seq;
        je.kind = TIDAL_SESSION_SIGNAL;
        je.type = ev->type;
        je.item = ev->entity;
        je.weight = ev->weight;
        je.time_ns = ev->time_ns;
        if (tidal__sess_journal(db, s, &je) < 0) return TIDAL_ERR_NOMEM;
    }
    /* Everything is reserved; from here on nothing can fail. */
    for (i = 0; i < n; i++) tidal__sig_fold(db, g[i], d, &c);
    return TIDAL_OK;
}

static tidal_result tidal__apply_move(tidal_db *db, const tidal__event *ev); /* >>migration */
static tidal_result tidal__apply_schema(tidal_db *db, const tidal__event *ev); /* >>db_schema_file */

/* Forget and delete: remove what this node applied before them (see tidal_user_forget
   for the order rule). They only free memory, so they cannot fail once begun. */
static tidal_result tidal__apply_forget(tidal_db *db, const tidal__event *ev) {
    tidal__entity *e = tidal__ent_find(db, ev->tenant, ev->entity);
    TIDAL_ASSERT(ev->kind == TIDAL__EV_USER_FORGET || ev->kind == TIDAL__EV_ITEM_DELETE);
    if (ev->kind == TIDAL__EV_USER_FORGET) {
        if (e) {
            tidal__ent_drop_attrs(db, e);
            tidal__user_drop(db, e);
        }
        tidal__sess_drop_user(db, ev->tenant, ev->entity);
    } else {
        if (e) {
            tidal__ent_drop_attrs(db, e);
            tidal__ent_drop_sigs(db, e);
        }
        tidal__negs_drop_item(db, ev->tenant, ev->entity);
        tidal__sess_scrub_item(db, ev->tenant, ev->entity);
    }
    TIDAL_ASSERT(!e || !e->n_attrs);
    db->st.forgot = 1; /* the next snapshot retires every file that may hold the id */
    return TIDAL_OK;
}

/* Whether ev was applied before: its id is in the applied index, or it is a session write
   whose (session, seq) is in the journal. The journal is exact for as long as the session
   lives, where key-derived ids leave the index after the idempotency window: a retry of
   a session write days later is still a no-op, ended or expired session or not. */
static int tidal__event_seen(tidal_db *db, const tidal__event *ev) {
    const tidal__session *s;
    tidal_id session = ev->kind == TIDAL__EV_SESSION_NOTE ? ev->entity
                       : ev->kind == TIDAL__EV_SIGNAL      ? ev->session
                                                           : 0;
    if (tidal__event_applied(db, ev->id)) return 1;
    if (!session || !ev->seq) return 0;
    s = tidal__sess_find(db, ev->tenant, session);
    return s && tidal__sess_has(s, ev->seq, NULL);
}

/* Folds one event. Returns TIDAL_OK, or TIDAL_OK with *dup = 1 when it was applied before.
   Called from tidal__event_take only (>>db_write): the one way into the state. */
static tidal_result tidal__apply(tidal_db *db, const tidal__event *ev, int *dup) {
    tidal_result r;
    *dup = 0;
    TIDAL_ASSERT(ev->kind >= 1 && ev->kind <= TIDAL__EV_KIND_MAX);
    if (tidal__event_seen(db, ev)) {
        *dup = 1;
        db->stats.events_duplicate++;
        return TIDAL_OK;
    }
    switch (ev->kind) {
    case TIDAL__EV_SIGNAL: r = tidal__apply_signal(db, ev); break;
    case TIDAL__EV_ATTR: r = tidal__apply_attr(db, ev); break;
    case TIDAL__EV_NEG_ADD:
    case TIDAL__EV_NEG_REMOVE: r = tidal__apply_neg(db, ev); break;
    case TIDAL__EV_EPOCH: /* no state: it only marks the log */
        r = TIDAL_OK;
        db->stats.events_internal++;
        break;
    case TIDAL__EV_INSTALL:
    case TIDAL__EV_DROP: r = tidal__apply_move(db, ev); break;
    case TIDAL__EV_USER_FORGET:
    case TIDAL__EV_ITEM_DELETE: r = tidal__apply_forget(db, ev); break;
    case TIDAL__EV_SCHEMA: r = tidal__apply_schema(db, ev); break;
    default: r = tidal__apply_session(db, ev); break;
    }
    if (r != TIDAL_OK) return r;
    if (!tidal__event_mark(db, ev->id, ev->time_ns)) return TIDAL_ERR_NOMEM;
    if (ev->id.hi & TIDAL__IDEM_BIT) tidal__idem_gc(db, ev->time_ns);
    db->stats.events_applied++;
    return TIDAL_OK;
}

/* Where an event comes from: it decides what tidal__event_take (>>db_write, the one way
   into the state) does with it. */
typedef enum tidal__from {
    TIDAL__FROM_LOCAL = 1, /* written on this node: a client call, an install chunk, a drop,
                              a schema append, a new leader's epoch event */
    TIDAL__FROM_IMPORT,    /* tidal_event_import: an event written elsewhere, with its id */
    TIDAL__FROM_REPLICA,   /* in a batch from another member (the leader's log, or a push) */
    TIDAL__FROM_REPLAY     /* in this node's own log, read back at open */
} tidal__from;

static tidal_result tidal__event_take(tidal_db *db, tidal__event *ev, tidal__from from,
                                      tidal_receipt *receipt);

// >>codec
// Little-endian byte codecs for events, used by the WAL (and later the wire). The writer
// reserves an upper bound first so puts cannot fail; the reader checks every length
// against the bytes left and records the first failure instead of reading past the end.
// A decoded event is validated as strictly as the write API validates its arguments.

typedef struct tidal__rd {
    const uint8_t *p;
    size_t n, pos;
    int bad;
} tidal__rd;

static void tidal__rd_init(tidal__rd *r, const uint8_t *p, size_t n) {
    r->p = p;
    r->n = n;
    r->pos = 0;
    r->bad = 0;
}

static uint64_t tidal__rd_le(tidal__rd *r, int bytes) {
    uint64_t v = 0;
    int i;
    if (r->bad || r->n - r->pos < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    for (i = 0; i < bytes; i++) v |= (uint64_t)r->p[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)bytes;
    return v;
}
static uint8_t tidal__rd_u8(tidal__rd *r) { return (uint8_t)tidal__rd_le(r, 1); }
static uint32_t tidal__rd_u32(tidal__rd *r) { return (uint32_t)tidal__rd_le(r, 4); }
static uint64_t tidal__rd_u64(tidal__rd *r) { return tidal__rd_le(r, 8); }
/* Little-endian words at p (bounds already checked). */
static uint64_t tidal__rd_le_at(const uint8_t *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint32_t tidal__rd_le_at4(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static double tidal__rd_f64(tidal__rd *r) {
    uint64_t u = tidal__rd_u64(r);
    double d;
    memcpy(&d, &u, 8);
    return d;
}
/* Borrows len bytes in place; NULL (and bad) if they are not all there. */
static const char *tidal__rd_bytes(tidal__rd *r, size_t len) {
    const char *s;
    if (r->bad || r->n - r->pos < len) {
        r->bad = 1;
        return NULL;
    }
    s = (const char *)r->p + r->pos;
    r->pos += len;
    return s;
}

static uint8_t *tidal__wr_le(uint8_t *w, uint64_t v, int bytes) {
    int i;
    for (i = 0; i < bytes; i++) w[i] = (uint8_t)(v >> (8 * i));
    return w + bytes;
}
static uint8_t *tidal__wr_f64(uint8_t *w, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return tidal__wr_le(w, u, 8);
}
static uint8_t *tidal__wr_bytes(uint8_t *w, const void *p, size_t len) {
    if (len) memcpy(w, p, len);
    return w + len;
}

#define TIDAL__EV_FIXED 57 /* kind, tenant, id, hlc, time */
#define TIDAL__SCHEMA_EV_MAX 8192 /* a schema event's bytes (>>db_schema: TIDAL__SCHEMA_ENC_MAX) */
#define TIDAL__INSTALL_VALUE_MAX (TIDAL_MSG_BYTES_MAX - 4096) /* one install chunk ships in one message */

/* Upper bound of an event's encoded size. */
static size_t tidal__event_size(const tidal__event *ev) {
    size_t n = TIDAL__EV_FIXED + 64, i;
    switch (ev->kind) {
    case TIDAL__EV_SIGNAL:
        for (i = 0; i < ev->n_cohort; i++) n += 3 + ev->cohort_len[i];
        return n;
    case TIDAL__EV_ATTR: return n + ev->key_len + ev->value_len;
    case TIDAL__EV_NEG_REMOVE: return n + 16 * (size_t)ev->n_tags;
    case TIDAL__EV_SESSION_NOTE: return n + ev->value_len;
    case TIDAL__EV_INSTALL:
    case TIDAL__EV_SCHEMA: return n + ev->value_len;
    default: return n;
    }
}

/* Encodes ev at w (room for tidal__event_size(ev) bytes); returns the end. */
static uint8_t *tidal__event_put(uint8_t *w, const tidal__event *ev) {
    uint32_t i;
    w = tidal__wr_le(w, ev->kind, 1);
    w = tidal__wr_le(w, ev->tenant, 4);
    w = tidal__wr_le(w, ev->id.hi, 8);
    w = tidal__wr_le(w, ev->id.lo, 8);
    w = tidal__wr_le(w, (uint64_t)ev->hlc.wall_ns, 8);
    w = tidal__wr_le(w, ev->hlc.logical, 4);
    w = tidal__wr_le(w, ev->hlc.node, 4);
    w = tidal__wr_le(w, (uint64_t)ev->time_ns, 8);
    w = tidal__wr_le(w, ev->entity, 8);
    switch (ev->kind) {
    case TIDAL__EV_SIGNAL:
        w = tidal__wr_le(w, ev->other, 8);
        w = tidal__wr_le(w, ev->type, 1);
        w = tidal__wr_f64(w, ev->weight);
        w = tidal__wr_le(w, ev->session, 8);
        w = tidal__wr_le(w, ev->seq, 8);
        w = tidal__wr_le(w, ev->n_cohort, 1);
        for (i = 0; i < ev->n_cohort; i++) {
            w = tidal__wr_le(w, ev->cohort_key[i], 1);
            w = tidal__wr_le(w, ev->cohort_len[i], 2);
            w = tidal__wr_bytes(w, ev->cohort_val[i], ev->cohort_len[i]);
        }
        return w;
    case TIDAL__EV_ATTR:
        w = tidal__wr_le(w, ev->key_len, 1);
        w = tidal__wr_bytes(w, ev->key, ev->key_len);
        w = tidal__wr_le(w, ev->value != NULL, 1);
        w = tidal__wr_le(w, ev->value_len, 2);
        return tidal__wr_bytes(w, ev->value, ev->value_len);
    case TIDAL__EV_NEG_ADD:
    case TIDAL__EV_NEG_REMOVE:
        w = tidal__wr_le(w, ev->other, 8);
        w = tidal__wr_le(w, ev->type, 1);
        if (ev->kind == TIDAL__EV_NEG_ADD) return w;
        w = tidal__wr_le(w, ev->n_tags, 4);
        for (i = 0; i < ev->n_tags; i++) {
            w = tidal__wr_le(w, ev->tags[i].hi, 8);
            w = tidal__wr_le(w, ev->tags[i].lo, 8);
        }
        return w;
    case TIDAL__EV_SESSION_START:
        w = tidal__wr_le(w, ev->other, 8);
        return tidal__wr_le(w, (uint64_t)ev->ttl_ns, 8);
    case TIDAL__EV_SESSION_NOTE:
        w = tidal__wr_le(w, ev->seq, 8);
        w = tidal__wr_le(w, ev->value_len, 2);
        return tidal__wr_bytes(w, ev->value, ev->value_len);
    case TIDAL__EV_EPOCH: return w;
    case TIDAL__EV_INSTALL:
        w = tidal__wr_le(w, ev->seq, 8);
        w = tidal__wr_le(w, ev->value_len, 4);
        return tidal__wr_bytes(w, ev->value, ev->value_len);
    case TIDAL__EV_DROP: return w;
    case TIDAL__EV_USER_FORGET:
    case TIDAL__EV_ITEM_DELETE: return w; /* the entity field names whom or what */
    case TIDAL__EV_SCHEMA: /* the whole new schema (>>db_schema: tidal__schema_put) */
        w = tidal__wr_le(w, ev->value_len, 4);
        return tidal__wr_bytes(w, ev->value, ev->value_len);
    default:
        TIDAL_ASSERT(ev->kind == TIDAL__EV_SESSION_END);
        return tidal__wr_le(w, ev->type, 1);
    }
}

static int tidal__bytes_ok(const char *s, uint32_t len) {
    return len == 0 || memchr(s, 0, len) == NULL; /* strings stay C strings */
}

static int tidal__name_bytes_ok(const char *s, uint32_t len) {
    uint32_t i;
    if (len == 0 || len > TIDAL_NAME_MAX) return 0;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* >>db_schema */
static const char *tidal__schema_event_invalid(const tidal_db *db, const tidal__event *ev);
static tidal_result tidal__schema_learn(tidal_db *db, const uint8_t *p, size_t len);

/* Checks a decoded event against the schema and the limits; NULL if valid. */
static const char *tidal__event_invalid(const tidal_db *db, const tidal__event *ev) {
    uint32_t i;
    if (ev->time_ns < 0) return "negative time";
    if (!ev->entity) return "zero entity";
    if (!(ev->id.hi & TIDAL__IDEM_BIT) && ev->id.lo == 0) return "origin sequence 0"; /* from 1 */
    switch (ev->kind) {
    case TIDAL__EV_SIGNAL:
        if (ev->type >= db->schema.n_sig) return "unknown signal type";
        if (!isfinite(ev->weight) || fabs(ev->weight) > TIDAL_WEIGHT_MAX) return "bad weight";
        if (ev->session ? (ev->seq == 0 || ev->seq >= UINT64_MAX - 2) : ev->seq != 0)
            return "bad session seq";
        if (ev->n_cohort > db->schema.n_ckey) return "too many cohort tags";
        for (i = 0; i < ev->n_cohort; i++) {
            if (ev->cohort_key[i] >= db->schema.n_ckey || (i && ev->cohort_key[i] <= ev->cohort_key[i - 1]))
                return "cohort keys out of order";
            if (ev->cohort_len[i] > TIDAL_VALUE_MAX || !tidal__bytes_ok(ev->cohort_val[i], ev->cohort_len[i]))
                return "bad cohort value";
        }
        return NULL;
    case TIDAL__EV_ATTR:
        if (!tidal__name_bytes_ok(ev->key, ev->key_len)) return "bad attribute key";
        if (ev->value_len > TIDAL_VALUE_MAX || (!ev->value && ev->value_len) ||
            (ev->value && !tidal__bytes_ok(ev->value, ev->value_len)))
            return "bad attribute value";
        return NULL;
    case TIDAL__EV_NEG_ADD:
    case TIDAL__EV_NEG_REMOVE:
        if (!ev->other || ev->type < TIDAL_HIDE || ev->type > TIDAL_BLOCK) return "bad negative";
        return NULL;
    case TIDAL__EV_SESSION_START:
        return (!ev->other || ev->ttl_ns < 0 || ev->ttl_ns > INT64_MAX - ev->time_ns) ? "bad session start" : NULL;
    case TIDAL__EV_SESSION_NOTE:
        if (ev->seq == 0 || ev->seq >= UINT64_MAX - 2) return "bad session seq";
        if (ev->value_len > TIDAL_NOTE_MAX || !tidal__bytes_ok(ev->value, ev->value_len)) return "bad note";
        return NULL;
    case TIDAL__EV_SESSION_END:
        return (ev->type == 1 || ev->type == 2) ? NULL : "bad session end";
    case TIDAL__EV_EPOCH: return NULL;
    case TIDAL__EV_INSTALL:
        if (!(ev->id.hi & TIDAL__IDEM_BIT) || ev->value_len < 1 || ev->value_len > TIDAL__INSTALL_VALUE_MAX)
            return "bad install chunk";
        return NULL;
    case TIDAL__EV_DROP: return (ev->id.hi & TIDAL__IDEM_BIT) ? NULL : "bad drop";
    case TIDAL__EV_USER_FORGET: /* written with an origin id only (tidal_user_forget) */
        return (ev->id.hi & TIDAL__IDEM_BIT) ? "user forget with a key-derived id" : NULL;
    case TIDAL__EV_ITEM_DELETE:
        return (ev->id.hi & TIDAL__IDEM_BIT) ? "item delete with a key-derived id" : NULL;
    case TIDAL__EV_SCHEMA: return tidal__schema_event_invalid(db, ev);
    default:
        return "unknown event kind";
    }
}

/* Decodes one event. Tags of a remove are copied into tags (room for tags_cap). Returns
   NULL on success or a message; on failure *ev is unspecified. */
static const char *tidal__event_get(const tidal_db *db, tidal__rd *r, tidal__event *ev,
                                    tidal_event_id *tags, uint32_t tags_cap) {
    uint32_t i;
    memset(ev, 0, sizeof *ev);
    ev->kind = tidal__rd_u8(r);
    ev->tenant = tidal__rd_u32(r);
    ev->id.hi = tidal__rd_u64(r);
    ev->id.lo = tidal__rd_u64(r);
    ev->hlc.wall_ns = (int64_t)tidal__rd_u64(r);
    ev->hlc.logical = tidal__rd_u32(r);
    ev->hlc.node = tidal__rd_u32(r);
    ev->time_ns = (int64_t)tidal__rd_u64(r);
    ev->entity = tidal__rd_u64(r);
    switch (ev->kind) {
    case TIDAL__EV_SIGNAL:
        ev->other = tidal__rd_u64(r);
        ev->type = tidal__rd_u8(r);
        ev->weight = tidal__rd_f64(r);
        ev->session = tidal__rd_u64(r);
        ev->seq = tidal__rd_u64(r);
        ev->n_cohort = tidal__rd_u8(r);
        if (ev->n_cohort > TIDAL_COHORT_KEYS_MAX) return "too many cohort tags";
        for (i = 0; i < ev->n_cohort; i++) {
            ev->cohort_key[i] = tidal__rd_u8(r);
            ev->cohort_len[i] = (uint32_t)tidal__rd_le(r, 2);
            ev->cohort_val[i] = tidal__rd_bytes(r, ev->cohort_len[i]);
        }
        break;
    case TIDAL__EV_ATTR:
        ev->key_len = tidal__rd_u8(r);
        ev->key = tidal__rd_bytes(r, ev->key_len);
        i = tidal__rd_u8(r);
        ev->value_len = (uint32_t)tidal__rd_le(r, 2);
        ev->value = tidal__rd_bytes(r, ev->value_len);
        if (i > 1 || (!i && ev->value_len)) return "bad attribute value flag";
        if (!i) ev->value = NULL;
        break;
    case TIDAL__EV_NEG_ADD:
    case TIDAL__EV_NEG_REMOVE:
        ev->other = tidal__rd_u64(r);
        ev->type = tidal__rd_u8(r);
        if (ev->kind == TIDAL__EV_NEG_ADD) break;
        ev->n_tags = tidal__rd_u32(r);
        if (ev->n_tags > tags_cap || ev->n_tags > (r->n - r->pos) / 16) return "too many tags";
        for (i = 0; i < ev->n_tags; i++) {
            tags[i].hi = tidal__rd_u64(r);
            tags[i].lo = tidal__rd_u64(r);
        }
        ev->tags = tags;
        break;
    case TIDAL__EV_SESSION_START:
        ev->other = tidal__rd_u64(r);
        ev->ttl_ns = (int64_t)tidal__rd_u64(r);
        break;
    case TIDAL__EV_SESSION_NOTE:
        ev->seq = tidal__rd_u64(r);
        ev->value_len = (uint32_t)tidal__rd_le(r, 2);
        ev->value = tidal__rd_bytes(r, ev->value_len);
        break;
    case TIDAL__EV_SESSION_END:
        ev->type = tidal__rd_u8(r);
        break;
    case TIDAL__EV_EPOCH: break;
    case TIDAL__EV_INSTALL:
        ev->seq = tidal__rd_u64(r);
        ev->value_len = tidal__rd_u32(r);
        if (ev->value_len > TIDAL__INSTALL_VALUE_MAX) return "install chunk too large";
        ev->value = tidal__rd_bytes(r, ev->value_len);
        break;
    case TIDAL__EV_DROP: break;
    case TIDAL__EV_USER_FORGET:
    case TIDAL__EV_ITEM_DELETE: break; /* no payload: the fixed part says it all */
    case TIDAL__EV_SCHEMA:
        ev->value_len = tidal__rd_u32(r);
        if (ev->value_len > TIDAL__SCHEMA_EV_MAX) return "schema event too large";
        ev->value = tidal__rd_bytes(r, ev->value_len);
        break;
    default:
        return "unknown event kind";
    }
    if (r->bad) return "event truncated";
    return tidal__event_invalid(db, ev);
}

// >>query
// RETRIEVE: resolve names, then answer from the top-K list of (type, cohort) when its
// members above the threshold suffice; a profile walks the lists of its terms together
// with a bound on what items not met yet can score (tidal__profile_walk); otherwise scan
// the tenant's items (stats say why a profile scanned) and rebuild a list that ran low.
// Results are ordered by exact score at t, then item id.

typedef struct tidal__qctx {
    tidal_db *db;
    const tidal_query *q;
    int64_t t;
    uint32_t limit;
    int cohort;               /* 1 if a cohort restriction is active */
    uint32_t ckey, cval;
    uint32_t wkey[TIDAL_WHERE_MAX], wval[TIDAL_WHERE_MAX];
    const tidal__user *user;
    const tidal__u64set *seen;
    uint64_t considered;
    const tidal__entity *bad; /* an item whose score at t does not fit a double */
    uint32_t bad_type;        /* and the type whose score overflowed */
} tidal__qctx;

static int tidal__hit_better(const tidal_hit *a, const tidal_hit *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->item < b->item;
}

/* Bounded result heap: worst hit at the root. */
static void tidal__heap_push(tidal_hit *h, uint32_t *n, uint32_t cap, tidal_hit x) {
    uint32_t i;
    if (*n == cap) {
        if (!cap || !tidal__hit_better(&x, &h[0])) return;
        h[0] = x;
        i = 0;
        for (;;) { /* sift down: children that are worse move up */
            uint32_t l = 2 * i + 1, r = l + 1, w = i;
            if (l < *n && tidal__hit_better(&h[w], &h[l])) w = l;
            if (r < *n && tidal__hit_better(&h[w], &h[r])) w = r;
            if (w == i) break;
            x = h[i]; h[i] = h[w]; h[w] = x;
            i = w;
        }
        return;
    }
    i = (*n)++;
    h[i] = x;
    while (i && tidal__hit_better(&h[(i - 1) / 2], &h[i])) {
        uint32_t p = (i - 1) / 2;
        x = h[i]; h[i] = h[p]; h[p] = x;
        i = p;
    }
}

static int tidal__hit_cmp(const void *a, const void *b) {
    const tidal_hit *x = (const tidal_hit *)a, *y = (const tidal_hit *)b;
    if (tidal__hit_better(x, y)) return -1;
    if (tidal__hit_better(y, x)) return 1;
    return 0;
}

static int tidal__item_passes(const tidal__qctx *c, const tidal__entity *e) {
    uint32_t i;
    for (i = 0; i < c->q->where_count; i++) {
        const tidal__attr *a = tidal__attr_find(c->db, e, c->wkey[i]);
        if (!a || a->value != c->wval[i]) return 0;
    }
    if (c->user && tidal__suppressed(c->user, e)) return 0;
    if (c->seen && tidal__set_has(c->seen, e->id)) return 0;
    return 1;
}

static const tidal__sig *tidal__item_sig(const tidal__qctx *c, const tidal__entity *e,
                                         uint32_t type) {
    const tidal__csig *cs;
    if (!e->sigs) return NULL;
    if (!c->cohort) return e->sigs[type];
    cs = tidal__csig_find(e, type, c->ckey, c->cval);
    return cs ? cs->sig : NULL;
}

/* Notes an item whose score at t is not finite: the query then fails with
   TIDAL_ERR_RANGE (tidal_retrieve), so neither inf nor NaN is ever ranked or returned. */
static void tidal__score_bad(tidal__qctx *c, const tidal__entity *e, uint32_t type) {
    TIDAL_ASSERT(type < c->db->schema.n_sig);
    if (!c->bad) {
        c->bad = e;
        c->bad_type = type;
    }
}

/* Score of an item for the query; returns 0 if it has no signal of the ranked type(s). */
static int tidal__item_score(tidal__qctx *c, const tidal__entity *e, double *score) {
    tidal_db *db = c->db;
    const tidal__profdef *p;
    const tidal__sig *g;
    int any = 0;
    uint32_t i, worst = 0;
    double worst_v = 0;
    *score = 0;
    if (c->q->rank_kind == TIDAL_QUERY_SIGNAL) {
        g = tidal__item_sig(c, e, c->q->rank_index);
        if (!g) return 0;
        *score = tidal__sig_score(g, &db->schema.sig[c->q->rank_index], c->t);
        if (!isfinite(*score)) tidal__score_bad(c, e, c->q->rank_index);
        return 1;
    }
    p = &db->schema.prof[c->q->rank_index];
    for (i = 0; i < p->n; i++) {
        uint32_t type = p->type[i];
        double v;
        g = tidal__item_sig(c, e, type);
        if (!g) continue;
        v = p->weight[i] * tidal__sig_score(g, &db->schema.sig[type], c->t);
        if (!any || (!isfinite(v) && isfinite(worst_v))) { /* the term to name if it fails */
            worst = type;
            worst_v = v;
        }
        any = 1;
        *score += v;
    }
    if (any && !isfinite(*score)) tidal__score_bad(c, e, worst);
    return any;
}

/* Rebuilds a list from a full pass: the best TIDAL__LB_CAP / 2 keys become members. */
static void tidal__lb_rebuild(tidal_db *db, tidal__lb *lb, const tidal__qctx *c,
                              const tidal__tenant *t) {
    uint32_t i;
    for (i = 0; i < lb->n; i++) lb->m[i].sig->lb_slot = -1;
    lb->n = 0;
    lb->has_thr = 0;
    lb->sorted = 0;
    for (i = 0; i < t->n_items; i++) {
        const tidal__entity *e = &db->st.ents[t->items[i]];
        tidal__sig *g = (tidal__sig *)tidal__item_sig(c, e, lb->type);
        if (g) tidal__lb_update(db, g);
    }
}

static uint32_t tidal__scan(tidal__qctx *c, const tidal__tenant *t, tidal_hit *heap) {
    tidal_db *db = c->db;
    uint32_t i, n = 0;
    for (i = 0; t && i < t->n_items; i++) {
        const tidal__entity *e = &db->st.ents[t->items[i]];
        tidal_hit h;
        if (!tidal__item_score(c, e, &h.score)) continue;
        c->considered++;
        if (!tidal__item_passes(c, e)) continue;
        h.item = e->id;
        tidal__heap_push(heap, &n, c->limit, h);
    }
    return n;
}

/* Answers from the list's members; returns 0 when they cannot prove the answer. */
static int tidal__from_index(tidal__qctx *c, tidal__lb *lb, tidal_hit *heap, uint32_t *n) {
    tidal_db *db = c->db;
    uint32_t i, got = 0;
    tidal__key kth;
    kth.s = 0;
    kth.k = 0;
    tidal__lb_sort(lb);
    *n = 0;
    for (i = 0; i < lb->n; i++) {
        const tidal__lb_entry *m = &lb->m[i];
        const tidal__entity *e;
        tidal_hit h;
        if (lb->has_thr && !tidal__key_clearly_above(m->key, lb->thr)) return 0;
        if (got >= c->limit && tidal__key_clearly_above(kth, m->key)) return 1;
        e = &db->st.ents[m->sig->ent];
        c->considered++;
        if (!tidal__item_passes(c, e)) continue;
        h.item = e->id;
        h.score = tidal__sig_score(m->sig, &db->schema.sig[lb->type], c->t);
        if (!isfinite(h.score)) tidal__score_bad(c, e, lb->type);
        tidal__heap_push(heap, n, c->limit, h);
        if (++got == c->limit) kth = m->key;
    }
    return !lb->has_thr; /* walked every member: complete only if none was ever evicted */
}

/* ---- profiles from the index ------------------------------------------------------------
   A profile ranks by sum_i w_i s_i(t). Every item of one type decays by the same factor, so
   each term's list, in key order, is in score order at any t, and the walk (Fagin's
   threshold algorithm) reads the lists in parallel. Rules it keeps:
   1. A term with w >= 0 is read from the top of its list, one with w < 0 from the bottom.
      Every item met is scored in full and filtered by the scan's own functions
      (tidal__item_score, tidal__item_passes), so scores, order and ties are the scan's.
   2. Per term, b_i = w_i * the bound of its list at the cursor (tidal__key_bound, widened
      far beyond rounding; the list's threshold when that is higher) bounds the term of an
      item not met that has an aggregate in the list. An item without one adds exactly 0.
      A list is open while it may hold an item not met: not read to its end, or evicted.
      An item not met has an aggregate in some open list j (it has a signal of the
      profile), so it scores at most sum_i max(0, b_i) + max over open j of min(0, b_j).
      The walk stops once k items are held and the worst of them scores above that; or
      when no list is open (every item with a signal of the profile was met).
   3. It scans instead (the reason goes to stats.profile_scan_fallback) when a sound bound
      is not to be had: a negative weight over a list that evicted (its lowest scores are
      unknown), a list that evicted read to its end before the proof, or a t so far before
      now that some score might not fit a double (the scan then refuses with
      TIDAL_ERR_RANGE, naming the item; the walk meets only some items). That last test
      takes events to be at most the future bound ahead of now; one imported or replicated
      from a node whose clock was further ahead is outside it. */

#define TIDAL__PSET_LOCAL 1024 /* items met held on the stack before the set moves to the heap */

/* The items the walk met: entity index + 1 in an open-addressed table, 0 = empty. */
typedef struct tidal__pset {
    tidal_db *db;
    uint32_t *slot;
    uint32_t n, cap; /* cap: a power of two */
    uint32_t local[TIDAL__PSET_LOCAL];
} tidal__pset;

static void tidal__pset_init(tidal__pset *s, tidal_db *db) {
    s->db = db;
    s->slot = s->local;
    s->n = 0;
    s->cap = TIDAL__PSET_LOCAL;
    memset(s->local, 0, sizeof s->local);
}

static void tidal__pset_free(tidal__pset *s) {
    if (s->slot != s->local) tidal__free(s->db, s->slot, sizeof(uint32_t) * s->cap);
}

static uint32_t *tidal__pset_find(uint32_t *slot, uint32_t cap, uint32_t ent) {
    uint32_t i = (uint32_t)((ent * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (cap - 1);
    while (slot[i] && slot[i] != ent + 1) i = (i + 1) & (cap - 1);
    return &slot[i];
}

/* Adds ent: 1 if it is new, 0 if it was met before, -1 when the set cannot grow. */
static int tidal__pset_add(tidal__pset *s, uint32_t ent) {
    uint32_t *p = tidal__pset_find(s->slot, s->cap, ent), i;
    TIDAL_ASSERT(ent != UINT32_MAX && s->n < s->cap / 2 + 1);
    if (*p) return 0;
    if (2 * (s->n + 1) > s->cap) {
        uint32_t cap = 2 * s->cap, *slot;
        if (cap > (UINT32_MAX >> 3)) return -1;
        slot = (uint32_t *)tidal__zalloc(s->db, sizeof(uint32_t) * cap);
        if (!slot) return -1;
        for (i = 0; i < s->cap; i++)
            if (s->slot[i]) *tidal__pset_find(slot, cap, s->slot[i] - 1) = s->slot[i];
        tidal__pset_free(s);
        s->slot = slot;
        s->cap = cap;
        p = tidal__pset_find(s->slot, s->cap, ent);
    }
    *p = ent + 1;
    s->n++;
    return 1;
}

/* One term of the walk over its list. */
typedef struct tidal__pterm {
    tidal__lb *lb;          /* NULL: no item has the type (in the cohort) */
    const tidal__sigdef *d;
    double w;
    uint32_t pos, n;        /* members read, members */
    int down;               /* read from the bottom (w < 0) */
    int has_thr;
    tidal__key thr;         /* with has_thr: every non-member's key is <= thr */
    int open;               /* the list may hold an item not met yet (rule 2) */
    double b;               /* with open: the most the term adds to such an item */
} tidal__pterm;

static void tidal__pterm_bound(const tidal__qctx *c, tidal__pterm *pt) {
    tidal__key key;
    pt->open = pt->lb && (pt->pos < pt->n || pt->has_thr);
    pt->b = 0;
    if (!pt->open || pt->w == 0) return;
    if (pt->pos == pt->n) {
        key = pt->thr;
    } else {
        (void)tidal__lb_rank(pt->lb, pt->down ? pt->n - 1 - pt->pos : pt->pos, &key);
        if (pt->has_thr && tidal__key_cmp(pt->thr, key) > 0) key = pt->thr;
    }
    TIDAL_ASSERT(!pt->down || !pt->has_thr);
    pt->b = pt->w * tidal__key_bound(key, pt->d, c->t, !pt->down); /* never NaN: w != 0 */
}

/* Rule 3's last test: can every term of every item stay below 2^1020 at t? An epoch's
   accumulator is below 2^87 (and an aggregate holds at most 5), an event at most the future
   bound after now, so |w s(t)| < |w| 2^90 2^((now + bound - t) / h). */
static int tidal__profile_in_range(const tidal__qctx *c, const tidal__profdef *p) {
    tidal_db *db = c->db;
    int64_t now = db->env->clock_wall_ns(db->env->user);
    double ahead = tidal__ns_diff(now, c->t) + (double)db->future_bound_ns;
    uint32_t i;
    TIDAL_ASSERT(p->n >= 1 && p->n <= TIDAL_PROFILE_TERMS_MAX);
    for (i = 0; i < p->n; i++) {
        const tidal__sigdef *d = &db->schema.sig[p->type[i]];
        double lw = p->weight[i] == 0 ? 0 : log2(fabs(p->weight[i]));
        double halves = d->permanent || ahead <= 0 ? 0 : ahead / d->hl_ns;
        if (!(lw + 90.0 + halves < 1020.0)) return 0;
    }
    return 1;
}

/* Sets up the terms (rule 1); returns a TIDAL_PROFILE_SCAN_* reason to scan, or 0. */
static uint32_t tidal__pterms_make(tidal__qctx *c, const tidal__profdef *p, tidal__pterm *pt) {
    uint32_t i;
    if (!tidal__profile_in_range(c, p)) return TIDAL_PROFILE_SCAN_RANGE;
    for (i = 0; i < p->n; i++) {
        memset(&pt[i], 0, sizeof pt[i]);
        pt[i].d = &c->db->schema.sig[p->type[i]];
        pt[i].w = p->weight[i];
        pt[i].down = pt[i].w < 0;
        pt[i].lb = tidal__lb_get(c->db, c->q->tenant, p->type[i], c->cohort ? c->ckey + 1 : 0,
                                 c->cohort ? c->cval : 0);
        if (!pt[i].lb) continue;
        pt[i].has_thr = tidal__lb_threshold(pt[i].lb, &pt[i].thr);
        if (pt[i].down && pt[i].has_thr) return TIDAL_PROFILE_SCAN_NEGATIVE;
        tidal__lb_sort(pt[i].lb);
        pt[i].n = tidal__lb_size(pt[i].lb);
        tidal__pterm_bound(c, &pt[i]);
    }
    return 0;
}

/* Reads the next member of term pt; scores and keeps the item if it is new. Returns 0, or
   TIDAL_PROFILE_SCAN_NOMEM. */
static uint32_t tidal__pterm_step(tidal__qctx *c, tidal__pterm *pt, tidal__pset *met,
                                  tidal_hit *heap, uint32_t *n) {
    tidal__key key;
    uint32_t ent;
    int fresh;
    tidal_hit h;
    TIDAL_ASSERT(pt->lb && pt->pos < pt->n);
    ent = tidal__lb_rank(pt->lb, pt->down ? pt->n - 1 - pt->pos : pt->pos, &key);
    pt->pos++;
    fresh = tidal__pset_add(met, ent);
    if (fresh < 0) return TIDAL_PROFILE_SCAN_NOMEM;
    if (fresh) {
        const tidal__entity *e = &c->db->st.ents[ent];
        TIDAL_ASSERT(ent < c->db->st.n_ents && e->tenant == c->q->tenant);
        if (tidal__item_score(c, e, &h.score)) {
            c->considered++;
            if (tidal__item_passes(c, e)) {
                h.item = e->id;
                tidal__heap_push(heap, n, c->limit, h);
            }
        }
    }
    tidal__pterm_bound(c, pt);
    return 0;
}

/* Answers a profile from its terms' lists (rules above). Returns 0 when the heap holds the
   answer (or c->bad is set: the query fails as the scan's would), else why to scan. */
static uint32_t tidal__profile_walk(tidal__qctx *c, tidal_hit *heap, uint32_t *n) {
    const tidal__profdef *p = &c->db->schema.prof[c->q->rank_index];
    tidal__pterm pt[TIDAL_PROFILE_TERMS_MAX];
    tidal__pset met;
    uint32_t i, why;
    *n = 0;
    if ((why = tidal__pterms_make(c, p, pt)) != 0) return why;
    tidal__pset_init(&met, c->db);
    while (!c->bad) {
        double pos = 0, neg = -HUGE_VAL;
        uint32_t pick = UINT32_MAX, open = 0;
        for (i = 0; i < p->n; i++) {
            if (pt[i].b > 0) pos += pt[i].b;
            if (!pt[i].open) continue;
            open++;
            if ((pt[i].b < 0 ? pt[i].b : 0.0) > neg) neg = pt[i].b < 0 ? pt[i].b : 0.0;
            if (pt[i].pos < pt[i].n && (pick == UINT32_MAX || pt[i].b > pt[pick].b))
                pick = i; /* the list with the highest bound first */
        }
        if (!open) break; /* every item with a signal of the profile was met */
        if (*n == c->limit && heap[0].score > pos * (1.0 + 1e-9) + neg * (1.0 - 1e-9))
            break; /* proven: nothing not met can score above the worst held */
        if (pick == UINT32_MAX) { /* open lists read to their ends, evicted items unmet */
            why = TIDAL_PROFILE_SCAN_EXHAUSTED;
            break;
        }
        if ((why = tidal__pterm_step(c, &pt[pick], &met, heap, n)) != 0) break;
    }
    tidal__pset_free(&met);
    return why;
}

/* After a walk ran out of members: rebuilds the profile's lists that ran low (as a signal
   query does for its own), so the next query can walk again. */
static void tidal__profile_rebuild(tidal__qctx *c, const tidal__tenant *t) {
    const tidal__profdef *p = &c->db->schema.prof[c->q->rank_index];
    uint32_t i;
    TIDAL_ASSERT(c->q->rank_kind == TIDAL_QUERY_PROFILE && t);
    for (i = 0; i < p->n; i++) {
        tidal__lb *lb = tidal__lb_get(c->db, c->q->tenant, p->type[i],
                                      c->cohort ? c->ckey + 1 : 0, c->cohort ? c->cval : 0);
        tidal__key thr;
        if (lb && tidal__lb_threshold(lb, &thr) && tidal__lb_size(lb) < TIDAL__LB_CAP / 4)
            tidal__lb_rebuild(c->db, lb, c, t);
    }
}

static tidal_result tidal__query_check(tidal_db *db, const tidal_query *q) {
    uint32_t i;
    if (q->rank_kind == TIDAL_QUERY_SIGNAL) {
        if (q->rank_index >= db->schema.n_sig)
            return tidal__err(db, TIDAL_ERR_INVALID, "unknown signal type %u", q->rank_index);
    } else if (q->rank_kind == TIDAL_QUERY_PROFILE) {
        if (q->rank_index >= db->schema.n_prof)
            return tidal__err(db, TIDAL_ERR_INVALID, "unknown profile %u", q->rank_index);
    } else {
        return tidal__err(db, TIDAL_ERR_INVALID, "rank_kind must be SIGNAL or PROFILE");
    }
    if (q->limit > db->limit_max)
        return tidal__err(db, TIDAL_ERR_LIMIT, "limit %u above the maximum %u", q->limit,
                          db->limit_max);
    if (q->where_count > TIDAL_WHERE_MAX || (q->where_count && !q->where))
        return tidal__err(db, TIDAL_ERR_INVALID, "where: at most %d filters", TIDAL_WHERE_MAX);
    for (i = 0; i < q->where_count; i++)
        if (!tidal__name_ok(q->where[i].key, TIDAL_NAME_MAX) || !q->where[i].value ||
            tidal__strnlen(q->where[i].value, TIDAL_VALUE_MAX) > TIDAL_VALUE_MAX)
            return tidal__err(db, TIDAL_ERR_INVALID, "where filter %u: bad key or value", i);
    if ((q->cohort_key == NULL) != (q->cohort_value == NULL))
        return tidal__err(db, TIDAL_ERR_INVALID, "cohort needs both key and value");
    if (q->exclude_seen && !q->for_user)
        return tidal__err(db, TIDAL_ERR_INVALID, "exclude_seen needs for_user");
    if (q->time_ns < 0) return tidal__err(db, TIDAL_ERR_INVALID, "negative time");
    if (q->time_ns && tidal__time_check(db, q->time_ns, "query time (AT, time_ns)") != TIDAL_OK)
        return TIDAL_ERR_INVALID;
    return TIDAL_OK;
}

/* Resolves strings to interned ids; *empty = 1 when some name was never stored, which
   means no item can match. */
static tidal_result tidal__query_resolve(tidal__qctx *c, int *empty) {
    tidal_db *db = c->db;
    const tidal_query *q = c->q;
    const tidal__entity *u;
    uint32_t i;
    *empty = 0;
    if (q->cohort_key) {
        size_t vl = tidal__strnlen(q->cohort_value, TIDAL_VALUE_MAX);
        for (i = 0; i < db->schema.n_ckey && strcmp(db->schema.ckey[i], q->cohort_key); i++) {}
        if (i == db->schema.n_ckey)
            return tidal__err(db, TIDAL_ERR_INVALID, "'%.64s' is not a cohort key", q->cohort_key);
        if (vl > TIDAL_VALUE_MAX) return tidal__err(db, TIDAL_ERR_INVALID, "cohort value too long");
        c->cohort = 1;
        c->ckey = i;
        c->cval = tidal__str_find(db, q->cohort_value, (uint32_t)vl);
        if (c->cval == UINT32_MAX) *empty = 1;
    }
    for (i = 0; i < q->where_count; i++) {
        c->wkey[i] = tidal__str_find(db, q->where[i].key, (uint32_t)strlen(q->where[i].key));
        c->wval[i] = tidal__str_find(db, q->where[i].value, (uint32_t)strlen(q->where[i].value));
        if (c->wkey[i] == UINT32_MAX || c->wval[i] == UINT32_MAX) *empty = 1;
    }
    if (q->for_user && (u = tidal__ent_find(db, q->tenant, q->for_user)) && u->user) {
        c->user = u->user;
        if (q->exclude_seen) c->seen = &u->user->seen;
    }
    return TIDAL_OK;
}

static int tidal__cut_off(const tidal_db *db);

/* A follower's answer may be behind its leader: by how long it has been behind (lag), or,
   cut off from any leader, since it last heard one (then the answer is also degraded). */
static void tidal__staleness(tidal_db *db, tidal_query_stats *st) {
    int64_t now;
    if (!db->rep.n_rep || db->rep.role == TIDAL_ROLE_LEADER) return;
    now = db->env->clock_mono_ns(db->env->user);
    if (db->rep.behind_since_ns) st->staleness_ns = now - db->rep.behind_since_ns;
    if (tidal__cut_off(db)) {
        st->staleness_ns = now - db->rep.leader_heard_ns;
        st->degraded = 1;
        snprintf(st->degraded_reason, sizeof st->degraded_reason, "replica cut off from its leader for %lld ms",
                 (long long)(st->staleness_ns / 1000000));
    }
}

TIDAL_API tidal_result tidal_retrieve(tidal_db *db, const tidal_query *q, tidal_hit *out,
                                      uint32_t cap, uint32_t *count, tidal_query_stats *stats) {
    tidal__qctx c;
    tidal_query_stats st;
    const tidal__tenant *t;
    tidal__lb *lb = NULL;
    tidal_result r;
    uint32_t n = 0;
    int empty;
    if (!db) return TIDAL_ERR_INVALID;
    if (!q || !count || (!out && cap)) return tidal__err(db, TIDAL_ERR_INVALID, "NULL argument");
    if ((r = tidal__query_check(db, q)) != TIDAL_OK) return r;
    memset(&c, 0, sizeof c);
    memset(&st, 0, sizeof st);
    c.db = db;
    c.q = q;
    c.t = q->time_ns ? q->time_ns : db->env->clock_wall_ns(db->env->user);
    c.limit = q->limit ? q->limit : 20;
    if (c.limit > cap) return tidal__err(db, TIDAL_ERR_LIMIT, "out has room for %u hits, limit %u", cap, c.limit);
    if ((r = tidal__query_resolve(&c, &empty)) != TIDAL_OK) return r;
    st.shards_asked = st.shards_answered = 1;
    t = tidal__tenant_find(db, q->tenant);
    if (!empty && t) {
        if (q->rank_kind == TIDAL_QUERY_SIGNAL)
            lb = tidal__lb_get(db, q->tenant, q->rank_index, c.cohort ? c.ckey + 1 : 0,
                               c.cohort ? c.cval : 0);
        if (q->rank_kind == TIDAL_QUERY_PROFILE) {
            st.profile_scan_fallback = tidal__profile_walk(&c, out, &n);
            st.used_index = !st.profile_scan_fallback;
        } else if (lb && tidal__from_index(&c, lb, out, &n)) {
            st.used_index = 1;
        }
        if (!st.used_index) {
            c.considered = 0;
            n = tidal__scan(&c, t, out);
            /* Rebuild only a list whose members ran low; when filters alone exhausted a
               full list, it is still right and the next query may well use it. */
            if (lb && lb->has_thr && lb->n < TIDAL__LB_CAP / 4) tidal__lb_rebuild(db, lb, &c, t);
            if (st.profile_scan_fallback == TIDAL_PROFILE_SCAN_EXHAUSTED)
                tidal__profile_rebuild(&c, t);
        }
    }
    if (c.bad) { /* a score does not fit a double: no ranking or score can be trusted */
        *count = 0;
        return tidal__score_range(db, "RETRIEVE", c.bad->id, tidal__item_sig(&c, c.bad, c.bad_type),
                                  &db->schema.sig[c.bad_type], c.t);
    }
    qsort(out, n, sizeof *out, tidal__hit_cmp);
    st.items_considered = c.considered;
    tidal__staleness(db, &st);
    *count = n;
    if (stats) *stats = st;
    tidal__ok(db);
    return TIDAL_OK;
}

// >>digest
// The canonical encoding of state, streamed into BLAKE3. Everything is emitted in an order
// that depends only on content (tenants, entities, keys, tags, sessions sorted by value,
// strings as bytes, never interned ids), little-endian, so equal event sets give equal
// bytes on every node. Encoding order is part of the digest format (version 1).

/* Streams into the hasher and, when file is set, to the file at off (snapshots). */
typedef struct tidal__enc {
    struct tidal_blake3 h;
    uint32_t n;
    tidal_db *db;
    void *file;
    uint64_t off;
    tidal_result err;
    int to_mem;     /* collect the bytes in mem instead (tests and fuzzers) */
    int index_only; /* the applied-event index without the replication position */
    int compact;    /* snapshot format 4 (>>snapshot): varints and deltas; 0 = canonical */
    int64_t t_prev; /* compact: the last time written, which the next is relative to */
    uint8_t *mem;
    size_t mem_cap;
    uint8_t buf[16384]; /* last: tidal__enc_init zeroes the fields before it, not the 16 KB */
} tidal__enc;

/* Zeroes every field but buf (bytes up to n are written before they are read): a digest
   is taken often (fuzzers, checks) and states are usually far smaller than the buffer. */
static void tidal__enc_init(tidal__enc *x) {
    memset(x, 0, offsetof(tidal__enc, buf));
    TIDAL_ASSERT(x->n == 0 && x->err == TIDAL_OK);
}

static void tidal__enc_flush(tidal__enc *x) {
    tidal_blake3_update(&x->h, x->buf, x->n);
    if (x->file && x->err == TIDAL_OK)
        x->err = x->db->env->file_write(x->db->env->user, x->file, x->off, x->buf, x->n);
    if (x->to_mem && x->err == TIDAL_OK) {
        if (x->off + x->n > x->mem_cap) {
            size_t cap = x->mem_cap ? x->mem_cap : 4096;
            uint8_t *p;
            while (cap < x->off + x->n) cap *= 2;
            p = (uint8_t *)tidal__realloc(x->db, x->mem, x->mem_cap, cap);
            if (!p) x->err = TIDAL_ERR_NOMEM;
            else x->mem = p, x->mem_cap = cap;
        }
        if (x->err == TIDAL_OK) memcpy(x->mem + x->off, x->buf, x->n);
    }
    x->off += x->n;
    x->n = 0;
}
static void tidal__enc_bytes(tidal__enc *x, const void *p, size_t len) {
    if (x->n + len > sizeof x->buf) tidal__enc_flush(x);
    TIDAL_ASSERT(len <= sizeof x->buf); /* strings are bounded by TIDAL_NOTE_MAX */
    memcpy(x->buf + x->n, p, len);
    x->n += (uint32_t)len;
}
/* Straight into buf: one room check a word (the canonical encoding is mostly words). */
static void tidal__enc_u64(tidal__enc *x, uint64_t v) {
    uint8_t *w;
    if (x->n > sizeof x->buf - 8) tidal__enc_flush(x);
    w = x->buf + x->n;
    w[0] = (uint8_t)v;
    w[1] = (uint8_t)(v >> 8);
    w[2] = (uint8_t)(v >> 16);
    w[3] = (uint8_t)(v >> 24);
    w[4] = (uint8_t)(v >> 32);
    w[5] = (uint8_t)(v >> 40);
    w[6] = (uint8_t)(v >> 48);
    w[7] = (uint8_t)(v >> 56);
    x->n += 8;
}
static void tidal__enc_fx(tidal__enc *x, tidal__fx f) {
    tidal__enc_u64(x, f.lo);
    tidal__enc_u64(x, f.hi);
}
static void tidal__enc_f64(tidal__enc *x, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    tidal__enc_u64(x, u);
}

/* The compact primitives of snapshot format 4. Each writes the canonical u64 (or fx)
   unless x->compact, so one encoder serves the digest and both formats and the digest's
   bytes never depend on them. uv: LEB128 (7 bits a byte, low first, at most 10 bytes).
   sv: v - base (mod 2^64) zigzagged, then uv: small either way for deltas. fxd: f - base
   (mod 2^128) as magnitude m * 2^tz with m odd: uv128(m), then one byte tz << 1 | sign;
   zero is the single byte 0. Round weights (1.0 = 2^40) and sums that equal count * 1.0
   cost a byte or two. */
static void tidal__enc_uv(tidal__enc *x, uint64_t v) {
    uint8_t b[10];
    uint32_t n = 0;
    if (!x->compact) {
        tidal__enc_u64(x, v);
        return;
    }
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    TIDAL_ASSERT(n <= 10);
    tidal__enc_bytes(x, b, n);
}
static uint64_t tidal__zz(uint64_t d) { return d << 1 ^ (0 - (d >> 63)); }
static uint64_t tidal__unzz(uint64_t z) { return z >> 1 ^ (0 - (z & 1)); }
static void tidal__enc_sv(tidal__enc *x, uint64_t v, uint64_t base) {
    if (!x->compact) tidal__enc_u64(x, v);
    else tidal__enc_uv(x, tidal__zz(v - base));
}
/* A time, relative to the last one written (compact), which it then becomes. */
static void tidal__enc_time(tidal__enc *x, int64_t t) {
    tidal__enc_sv(x, (uint64_t)t, (uint64_t)x->t_prev);
    x->t_prev = t;
}
static tidal__fx tidal__fx_sub(tidal__fx a, tidal__fx b) {
    tidal__fx r;
    r.lo = a.lo - b.lo;
    r.hi = a.hi - b.hi - (a.lo < b.lo);
    return r;
}
/* count * 1.0 in fixed point, negated when neg: the base of a sum of count weights. */
static tidal__fx tidal__fx_units(uint64_t count, int neg) {
    tidal__fx r, z = {0, 0};
    r.lo = count << TIDAL__FX_FRAC_BITS;
    r.hi = count >> (64 - TIDAL__FX_FRAC_BITS);
    return neg ? tidal__fx_sub(z, r) : r;
}
static void tidal__enc_fxd(tidal__enc *x, tidal__fx f, tidal__fx base) {
    uint8_t b[20];
    uint32_t n = 0, tz = 0, sign;
    tidal__fx d, z = {0, 0};
    if (!x->compact) {
        tidal__enc_fx(x, f);
        return;
    }
    d = tidal__fx_sub(f, base);
    sign = (uint32_t)(d.hi >> 63);
    if (sign) d = tidal__fx_sub(z, d); /* -2^127 stays 2^127: right as a magnitude */
    if (!d.lo && !d.hi) {
        b[0] = 0;
        tidal__enc_bytes(x, b, 1);
        return;
    }
    while (!(d.lo & 1)) { /* strip trailing zeros: m odd */
        d.lo = d.lo >> 1 | d.hi << 63;
        d.hi >>= 1;
        tz++;
    }
    while (d.hi || d.lo >= 0x80) {
        b[n++] = (uint8_t)(d.lo | 0x80);
        d.lo = d.lo >> 7 | d.hi << 57;
        d.hi >>= 7;
    }
    b[n++] = (uint8_t)d.lo;
    b[n++] = (uint8_t)(tz << 1 | sign);
    TIDAL_ASSERT(tz < 128 && n <= 20);
    tidal__enc_bytes(x, b, n);
}

static void tidal__enc_str(tidal__enc *x, const tidal_db *db, uint32_t id) {
    if (x->compact) { /* length + 1, 0 = absent */
        tidal__enc_uv(x, id == UINT32_MAX ? 0 : (uint64_t)db->st.strs[id].len + 1);
        if (id != UINT32_MAX) tidal__enc_bytes(x, db->st.strs[id].s, db->st.strs[id].len);
        return;
    }
    if (id == UINT32_MAX) {
        tidal__enc_u64(x, UINT64_MAX);
        return;
    }
    tidal__enc_u64(x, db->st.strs[id].len);
    tidal__enc_bytes(x, db->st.strs[id].s, db->st.strs[id].len);
}

static int tidal__str_cmp(const tidal_db *db, uint32_t a, uint32_t b) {
    const tidal__str *x = &db->st.strs[a], *y = &db->st.strs[b];
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Where a compact aggregate's epoch deltas start: the epoch of its newest event. */
static int64_t tidal__epoch_ref(const tidal__sigdef *def, int64_t t_max) {
    return def->permanent ? 0 : tidal__floor_div(t_max, def->epoch_ns);
}

/* Canonical: every field as it is. Compact: counts as varints, weight sums relative to
   count * 1.0, t_max relative to the previous time, epochs relative to t_max's epoch and
   then to each other, bucket keys relative to t_max's bucket (the newest) and then to
   each other, bucket weights relative to count * 1.0. */
static void tidal__enc_sig(tidal__enc *x, const tidal__sig *g, const tidal__sigdef *def) {
    static const tidal__fx zero = {0, 0};
    const tidal__epoch *ep;
    uint64_t prev;
    uint32_t i;
    int l;
    tidal__enc_uv(x, g->count_pos);
    tidal__enc_uv(x, g->count_neg);
    tidal__enc_fxd(x, g->w_pos, tidal__fx_units(g->count_pos, 0));
    tidal__enc_fxd(x, g->w_neg, tidal__fx_units(g->count_neg, 1));
    tidal__enc_time(x, g->t_max);
    tidal__enc_uv(x, g->n_epochs);
    ep = TIDAL__EPS(g);
    prev = (uint64_t)tidal__epoch_ref(def, g->t_max);
    for (i = 0; i < g->n_epochs; i++) {
        tidal__enc_sv(x, (uint64_t)ep[i].e, prev);
        tidal__enc_fxd(x, ep[i].acc, zero);
        prev = (uint64_t)ep[i].e;
    }
    for (l = 0; l < TIDAL__LVLS; l++) {
        tidal__bvec lv = tidal__lvl(g, l);
        const tidal__bvec *v = &lv;
        tidal__enc_uv(x, v->n);
        prev = (uint64_t)tidal__floor_div(g->t_max, tidal__lvl_ns[l]);
        for (i = 0; i < v->n; i++) {
            uint64_t n = tidal__bk_count(v, i);
            tidal__enc_sv(x, (uint64_t)(int64_t)v->b[i].key, prev);
            tidal__enc_uv(x, n);
            tidal__enc_fxd(x, tidal__bk_w(v, i), tidal__fx_units(n, 0));
            prev = (uint64_t)(int64_t)v->b[i].key;
        }
    }
}

/* Small insertion sorts keep the encoder allocation-free; the arrays are per entity. */
static void tidal__sort_attrs(const tidal_db *db, tidal__attr *a, uint32_t n) {
    uint32_t i, j;
    for (i = 1; i < n; i++) {
        tidal__attr t = a[i];
        for (j = i; j > 0 && tidal__str_cmp(db, a[j - 1].key, t.key) > 0; j--) a[j] = a[j - 1];
        a[j] = t;
    }
}

static int tidal__csig_less(const tidal_db *db, const tidal__csig *a, const tidal__csig *b) {
    if (a->type != b->type) return a->type < b->type;
    if (a->ckey != b->ckey) return a->ckey < b->ckey;
    return tidal__str_cmp(db, a->cval, b->cval) < 0;
}

static void tidal__sort_csigs(const tidal_db *db, tidal__csig *a, uint32_t n) {
    uint32_t i, j;
    for (i = 1; i < n; i++) {
        tidal__csig t = a[i];
        for (j = i; j > 0 && tidal__csig_less(db, &t, &a[j - 1]); j--) a[j] = a[j - 1];
        a[j] = t;
    }
}

/* Tag ids (origin, sequence), each relative to the one before (compact). */
static void tidal__enc_idvec(tidal__enc *x, const tidal__idvec *v) {
    uint64_t hi = 0, lo = 0;
    uint32_t j;
    tidal__enc_uv(x, v->n);
    for (j = 0; j < v->n; j++) {
        tidal__enc_sv(x, v->v[j].hi, hi);
        tidal__enc_sv(x, v->v[j].lo, hi == v->v[j].hi ? lo : 0);
        hi = v->v[j].hi;
        lo = v->v[j].lo;
    }
}

/* A user's negatives and seen set, behind the count of negatives (compact: count + 1, as
   0 marks "no user" there). */
static void tidal__enc_user(tidal__enc *x, tidal__user *u, uint64_t *seen) {
    uint32_t i, n = 0;
    uint64_t prev = 0;
    tidal__enc_uv(x, (uint64_t)u->n_negs + (x->compact != 0));
    for (i = 0; i < u->n_negs; i++) {
        const tidal__neg *g = &u->negs[i];
        tidal__enc_uv(x, g->kind);
        tidal__enc_sv(x, g->target, prev);
        prev = g->target;
        tidal__enc_idvec(x, &g->adds);
        tidal__enc_idvec(x, &g->tombs);
    }
    tidal__enc_uv(x, u->seen.n);
    if (!u->seen.n) return;
    for (i = 0; i < u->seen.cap; i++)
        if (u->seen.slot[i]) seen[n++] = u->seen.slot[i];
    qsort(seen, n, sizeof *seen, tidal__u64_cmp);
    for (i = 0, prev = 0; i < n; i++) {
        tidal__enc_sv(x, seen[i], prev);
        prev = seen[i];
    }
}

static int tidal__sig_empty(const tidal__sig *g) {
    return !g || (g->count_pos == 0 && g->count_neg == 0);
}

/* An entity with no content: rows left behind by an apply that failed for lack of memory
   (no event was folded) and users whose negatives all cancelled. Digests skip them, so
   they are indistinguishable from absent rows. */
static int tidal__ent_empty(const tidal_db *db, const tidal__entity *e) {
    uint32_t i;
    if (e->n_attrs) return 0;
    for (i = 0; e->sigs && i < db->schema.n_sig; i++)
        if (!tidal__sig_empty(e->sigs[i])) return 0;
    for (i = 0; i < e->n_csigs; i++)
        if (!tidal__sig_empty(e->csigs[i].sig)) return 0;
    return !e->user || (!e->user->n_negs && !e->user->seen.n);
}

/* One entity; prev is the id of the one before it in the tenant (compact: ids are deltas).
   The signal list ends with UINT64_MAX (compact: types are written + 1, and 0 ends it);
   "no user" is UINT64_MAX (compact: 0). */
static void tidal__enc_entity(tidal__enc *x, tidal_db *db, tidal__entity *e, uint64_t *seen,
                              tidal_id prev) {
    uint32_t i, n = 0;
    tidal__enc_sv(x, e->id, prev);
    tidal__sort_attrs(db, e->attrs, e->n_attrs);
    tidal__enc_uv(x, e->n_attrs);
    for (i = 0; i < e->n_attrs; i++) {
        tidal__enc_str(x, db, e->attrs[i].key);
        tidal__enc_str(x, db, e->attrs[i].value);
        tidal__enc_time(x, e->attrs[i].hlc.wall_ns);
        tidal__enc_uv(x, (uint64_t)e->attrs[i].hlc.logical << 32 | e->attrs[i].hlc.node);
    }
    for (i = 0; e->sigs && i < db->schema.n_sig; i++) {
        if (tidal__sig_empty(e->sigs[i])) continue;
        tidal__enc_uv(x, (uint64_t)i + (x->compact != 0));
        tidal__enc_sig(x, e->sigs[i], &db->schema.sig[i]);
    }
    tidal__enc_uv(x, x->compact ? 0 : UINT64_MAX);
    tidal__sort_csigs(db, e->csigs, e->n_csigs);
    for (i = 0; i < e->n_csigs; i++) n += !tidal__sig_empty(e->csigs[i].sig);
    tidal__enc_uv(x, n);
    for (i = 0; i < e->n_csigs; i++) {
        if (tidal__sig_empty(e->csigs[i].sig)) continue;
        tidal__enc_uv(x, (uint64_t)e->csigs[i].type << 32 | e->csigs[i].ckey);
        tidal__enc_str(x, db, e->csigs[i].cval);
        tidal__enc_sig(x, e->csigs[i].sig, &db->schema.sig[e->csigs[i].type]);
    }
    if (e->user && (e->user->n_negs || e->user->seen.n)) tidal__enc_user(x, e->user, seen);
    else tidal__enc_uv(x, x->compact ? 0 : UINT64_MAX);
}

static void tidal__enc_session(tidal__enc *x, const tidal_db *db, const tidal__session *s,
                               tidal_id prev) {
    uint32_t i;
    uint64_t seq = 0;
    tidal__enc_sv(x, s->id, prev);
    tidal__enc_uv(x, s->user);
    tidal__enc_time(x, s->start_ns);
    tidal__enc_uv(x, (uint64_t)s->ttl_ns);
    tidal__enc_uv(x, (uint64_t)s->ended << 1 | (uint64_t)(s->has_start != 0));
    tidal__enc_uv(x, s->hwm);
    tidal__enc_uv(x, s->n_j);
    for (i = 0; i < s->n_j; i++) {
        const tidal__jentry *j = &s->j[i];
        tidal__enc_sv(x, j->seq, seq);
        seq = j->seq;
        tidal__enc_uv(x, (uint64_t)j->kind << 32 | j->type);
        tidal__enc_uv(x, j->item);
        tidal__enc_f64(x, j->weight);
        tidal__enc_time(x, j->time_ns);
        if (j->kind == TIDAL_SESSION_NOTE) tidal__enc_str(x, db, j->note);
    }
}

static int tidal__sess_empty(const tidal__session *s) {
    return !s->has_start && !s->n_j && !s->ended;
}

typedef struct tidal__sortkey {
    uint64_t key;
    uint32_t idx;
} tidal__sortkey;

static int tidal__sortkey_cmp(const void *a, const void *b) {
    const tidal__sortkey *x = (const tidal__sortkey *)a, *y = (const tidal__sortkey *)b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Emits one tenant: its entities by id, then its sessions by id. */
static void tidal__enc_tenant(tidal__enc *x, tidal_db *db, uint32_t tenant,
                              tidal__sortkey *tmp, uint64_t *seen) {
    uint32_t i, n = 0;
    tidal__enc_uv(x, tenant);
    for (i = 0; i < db->st.n_ents; i++)
        if (db->st.ents[i].tenant == tenant && !tidal__ent_empty(db, &db->st.ents[i])) {
            tmp[n].key = db->st.ents[i].id;
            tmp[n++].idx = i;
        }
    qsort(tmp, n, sizeof *tmp, tidal__sortkey_cmp);
    tidal__enc_uv(x, n);
    for (i = 0; i < n; i++)
        tidal__enc_entity(x, db, &db->st.ents[tmp[i].idx], seen, i ? tmp[i - 1].key : 0);
    n = 0;
    for (i = 0; i < db->st.n_sess; i++)
        if (db->st.sess[i].tenant == tenant && !tidal__sess_empty(&db->st.sess[i])) {
            tmp[n].key = db->st.sess[i].id;
            tmp[n++].idx = i;
        }
    qsort(tmp, n, sizeof *tmp, tidal__sortkey_cmp);
    tidal__enc_uv(x, n);
    for (i = 0; i < n; i++)
        tidal__enc_session(x, db, &db->st.sess[tmp[i].idx], i ? tmp[i - 1].key : 0);
}

/* Tenants with content in entities or sessions, ascending, into tids; returns the count. */
static uint32_t tidal__digest_tenants(const tidal_db *db, uint32_t *tids, uint32_t cap) {
    uint32_t i, k, nt = 0;
    for (i = 0; i < db->st.n_ents + db->st.n_sess; i++) {
        uint32_t t =
            i < db->st.n_ents ? db->st.ents[i].tenant : db->st.sess[i - db->st.n_ents].tenant;
        if (i < db->st.n_ents ? tidal__ent_empty(db, &db->st.ents[i])
                           : tidal__sess_empty(&db->st.sess[i - db->st.n_ents]))
            continue;
        for (k = 0; k < nt && tids[k] != t; k++) {}
        if (k == nt && nt < cap) tids[nt++] = t;
    }
    for (i = 1; i < nt; i++) { /* insertion sort: tenants are few */
        uint32_t v = tids[i];
        for (k = i; k > 0 && tids[k - 1] > v; k--) tids[k] = tids[k - 1];
        tids[k] = v;
    }
    return nt;
}

/* Scratch rows a digest keeps on the stack (sort keys, tenants, one user's seen set); a
   bigger state allocates them. Small states are digested often (checks, fuzzers). */
#define TIDAL__DIGEST_STACK 256

TIDAL_API tidal_result tidal_db_digest(tidal_db *db, uint64_t tenant, uint8_t out[32]) {
    tidal__enc x;
    tidal__sortkey tmp_s[TIDAL__DIGEST_STACK], *tmp = tmp_s;
    uint64_t seen_s[TIDAL__DIGEST_STACK], *seen = seen_s;
    uint32_t tids_s[TIDAL__DIGEST_STACK], *tids = tids_s, i, nt, n, max_seen = 1, ntc;
    int ok;
    if (!db) return TIDAL_ERR_INVALID;
    if (!out) return tidal__err(db, TIDAL_ERR_INVALID, "out is NULL");
    if (tenant != TIDAL_ALL_TENANTS && tenant > UINT32_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "tenant out of range");
    n = (db->st.n_ents > db->st.n_sess ? db->st.n_ents : db->st.n_sess) + 1;
    ntc = db->st.n_ents + db->st.n_sess + 1; /* every tenant with content, whatever it holds */
    for (i = 0; i < db->st.n_ents; i++)
        if (db->st.ents[i].user && db->st.ents[i].user->seen.n > max_seen)
            max_seen = db->st.ents[i].user->seen.n;
    if (n > TIDAL__DIGEST_STACK)
        tmp = (tidal__sortkey *)tidal__alloc(db, sizeof(tidal__sortkey) * n);
    if (ntc > TIDAL__DIGEST_STACK) tids = (uint32_t *)tidal__alloc(db, sizeof(uint32_t) * ntc);
    if (max_seen > TIDAL__DIGEST_STACK)
        seen = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * max_seen);
    ok = tmp && tids && seen;
    if (ok) {
        tidal__enc_init(&x);
        tidal_blake3_init_derive_key(&x.h, "tidal 2026-11 state digest v1");
        if (tenant != TIDAL_ALL_TENANTS) {
            tidal__enc_tenant(&x, db, (uint32_t)tenant, tmp, seen);
        } else {
            nt = tidal__digest_tenants(db, tids, ntc);
            tidal__enc_u64(&x, nt);
            for (i = 0; i < nt; i++) tidal__enc_tenant(&x, db, tids[i], tmp, seen);
        }
        tidal__enc_flush(&x);
        TIDAL_ASSERT(x.err == TIDAL_OK); /* no file, no memory: hashing cannot fail */
        tidal_blake3_final(&x.h, out, 32);
    }
    if (tmp != tmp_s) tidal__free(db, tmp, sizeof(tidal__sortkey) * n);
    if (tids != tids_s) tidal__free(db, tids, sizeof(uint32_t) * ntc);
    if (seen != seen_s) tidal__free(db, seen, sizeof(uint64_t) * max_seen);
    if (!ok) return tidal__err(db, TIDAL_ERR_NOMEM, "digest scratch");
    tidal__ok(db);
    return TIDAL_OK;
}
// >>wal
// The write-ahead log: the source of truth. Events are encoded into the pending batch as
// they are applied; a commit writes header + payload with one write and one fdatasync, and
// only then are its writes acknowledged. Segments are files "wal-RRRR-SSSS-<lsn>.log"
// (node, first lsn in hex) of bounded size; a directory fsync follows every create or
// remove. Recovery replays batches in lsn order: a torn tail of the newest segment is cut
// off (and the cut synced), anything else invalid is corruption named by file and offset.

#define TIDAL__WAL_MAGIC UINT32_C(0x574C4454) /* "TDLW" */
#define TIDAL__WAL_HDR 112
/* Bytes of one WAL batch, header included: it must ship whole in one network message
   (whose own header is TIDAL__MSG_HDR = 120 bytes). */
#define TIDAL__BATCH_SHIP_MAX (TIDAL_MSG_BYTES_MAX - 128)
TIDAL__STATIC_ASSERT(install_fits_batch, TIDAL__WAL_HDR + TIDAL__EV_FIXED + 64 + TIDAL__INSTALL_VALUE_MAX <= TIDAL__BATCH_SHIP_MAX);
#define TIDAL__SNAP_MAGIC UINT32_C(0x534C4454) /* "TDLS" */

typedef struct tidal__batch_hdr {
    uint32_t magic, version, node, incarnation;
    uint64_t epoch, first_lsn, last_lsn, schema_fp;
    uint64_t source_lsn; /* follower batches: the leader lsn this batch brings it up to */
    uint32_t count, payload_len;
    tidal_hlc hlc;
    uint8_t sum[32];
} tidal__batch_hdr;

/* Header layout (little-endian): magic u32, version u16, header bytes u16, node u32,
   incarnation u32, epoch u64, first lsn u64, last lsn u64, schema fingerprint u64, event
   count u32, payload bytes u32, hlc wall i64, hlc logical u32, hlc node u32, source lsn u64
   (a follower's batch: the leader position it completes; else 0), BLAKE3 u8[32] of (header
   with this field zeroed) || payload. 112 bytes. */
static void tidal__batch_hdr_put(uint8_t *w, const tidal__batch_hdr *h) {
    uint8_t *start = w;
    w = tidal__wr_le(w, h->magic, 4);
    w = tidal__wr_le(w, h->version, 2);
    w = tidal__wr_le(w, TIDAL__WAL_HDR, 2);
    w = tidal__wr_le(w, h->node, 4);
    w = tidal__wr_le(w, h->incarnation, 4);
    w = tidal__wr_le(w, h->epoch, 8);
    w = tidal__wr_le(w, h->first_lsn, 8);
    w = tidal__wr_le(w, h->last_lsn, 8);
    w = tidal__wr_le(w, h->schema_fp, 8);
    w = tidal__wr_le(w, h->count, 4);
    w = tidal__wr_le(w, h->payload_len, 4);
    w = tidal__wr_le(w, (uint64_t)h->hlc.wall_ns, 8);
    w = tidal__wr_le(w, h->hlc.logical, 4);
    w = tidal__wr_le(w, h->hlc.node, 4);
    w = tidal__wr_le(w, h->source_lsn, 8);
    memcpy(w, h->sum, 32);
    TIDAL_ASSERT(w + 32 - start == TIDAL__WAL_HDR);
}

static void tidal__batch_hdr_get(const uint8_t *p, tidal__batch_hdr *h) {
    tidal__rd r;
    tidal__rd_init(&r, p, TIDAL__WAL_HDR);
    h->magic = tidal__rd_u32(&r);
    h->version = (uint32_t)tidal__rd_le(&r, 2);
    (void)tidal__rd_le(&r, 2);
    h->node = tidal__rd_u32(&r);
    h->incarnation = tidal__rd_u32(&r);
    h->epoch = tidal__rd_u64(&r);
    h->first_lsn = tidal__rd_u64(&r);
    h->last_lsn = tidal__rd_u64(&r);
    h->schema_fp = tidal__rd_u64(&r);
    h->count = tidal__rd_u32(&r);
    h->payload_len = tidal__rd_u32(&r);
    h->hlc.wall_ns = (int64_t)tidal__rd_u64(&r);
    h->hlc.logical = tidal__rd_u32(&r);
    h->hlc.node = tidal__rd_u32(&r);
    h->source_lsn = tidal__rd_u64(&r);
    memcpy(h->sum, p + 80, 32);
    TIDAL_ASSERT(!r.bad && r.pos == 80);
}

/* BLAKE3 of the header with its checksum field zeroed, then the payload. */
static void tidal__batch_sum(const uint8_t *hdr, const uint8_t *payload, size_t len,
                             uint8_t out[32]) {
    struct tidal_blake3 h;
    static const uint8_t zeros[32] = {0};
    tidal_blake3_init(&h);
    tidal_blake3_update(&h, hdr, 80);
    tidal_blake3_update(&h, zeros, 32);
    tidal_blake3_update(&h, payload, len);
    tidal_blake3_final(&h, out, 32);
}

/* Checks a batch in place: header fields, lengths, checksum. NULL if valid. */
static const char *tidal__batch_check(const tidal_db *db, const uint8_t *p, size_t avail,
                                      tidal__batch_hdr *h) {
    uint8_t sum[32];
    if (avail < TIDAL__WAL_HDR) return "truncated header";
    tidal__batch_hdr_get(p, h);
    if (h->magic != TIDAL__WAL_MAGIC) return "bad magic";
    if (h->version != TIDAL_WAL_FORMAT_VERSION) return "unknown format version";
    if (h->payload_len > TIDAL_BATCH_BYTES_MAX || h->payload_len > avail - TIDAL__WAL_HDR)
        return "truncated payload";
    if (h->count == 0 || h->last_lsn < h->first_lsn || h->last_lsn - h->first_lsn + 1 != h->count)
        return "bad lsn range";
    tidal__batch_sum(p, p + TIDAL__WAL_HDR, h->payload_len, sum);
    if (memcmp(sum, h->sum, 32)) return "checksum mismatch";
    (void)db;
    return NULL;
}

static const char tidal__schema_mismatch[] = "written under a schema this database does not have "
                                            "(neither its stored schema nor a prefix of it)";
/* >>db_schema. Whether a batch or snapshot under fp may be read here (a prefix of the
   schema, or a lone schema event that teaches it); reading and saving the stored schema. */
static int tidal__schema_fp_ok(tidal_db *db, uint64_t fp);
static int tidal__schema_batch_teaches(tidal_db *db, const uint8_t *p, uint64_t fp, uint32_t count,
                                       uint32_t payload_len);
static tidal_result tidal__schema_open(tidal_db *db, int has_data);
static tidal_result tidal__schema_save(tidal_db *db);

static void tidal__seg_name(const tidal_db *db, uint64_t lsn, const char *ext, char *out,
                            size_t cap) {
    snprintf(out, cap, "%s/%s-%04x-%04x-%016llx.%s", db->path, ext[0] == 'l' ? "wal" : "snap",
             db->node.region, db->node.shard, (unsigned long long)lsn, ext);
}

static void tidal__rep_committed(tidal_db *db, const uint8_t *batch, size_t len);

/* Appends the pending batch to the active segment and syncs it. Any failure fails the
   handle: the in-memory state now holds events the log may not. */
/* Where our log stands in leader terms, for votes (Raft's last term and index): the newest
   epoch whose leader log we hold, and how far into that leader's log. A leader's own
   batches count at their own lsns, a follower's at the leader position they complete;
   writes taken while cut off from any leader (epoch 0) are in no leader's log and do not
   count, so they cannot outvote a member holding QUORUM-acknowledged events. */
static void tidal__log_note(tidal_db *db, uint64_t epoch, uint64_t pos) {
    if (!epoch) return;
    if (epoch > db->rep.log_epoch) {
        db->rep.log_epoch = epoch;
        db->rep.log_pos = pos;
    } else if (epoch == db->rep.log_epoch && pos > db->rep.log_pos) {
        db->rep.log_pos = pos;
    }
}

static tidal_result tidal__commit(tidal_db *db) {
    const tidal_env *env = db->env;
    tidal__batch_hdr h;
    size_t len = db->log.batch_len;
    tidal_result r;
    char name[TIDAL_PATH_MAX + 64];
    if (!db->log.wal_on || db->log.batch_count == 0) return TIDAL_OK;
    if (db->fatal) return tidal__err(db, TIDAL_ERR_FATAL, "handle failed earlier; reopen");
    if (!db->log.seg ||
        (db->log.seg_size > 0 && db->log.seg_size + len > db->log.segment_bytes_max)) {
        uint64_t first = db->log.next_lsn - db->log.batch_count;
        if (db->log.n_segs >= TIDAL_SEGMENTS_MAX || !TIDAL__GROW(db, db->log.segs, db->log.cap_segs, db->log.n_segs + 1))
            return tidal__err(db, TIDAL_ERR_LIMIT, "too many log segments; snapshot to truncate");
        /* A sealed segment is synced even without per-batch syncs: a snapshot may rely on
           it (>>recovery refuses a log that ends below its snapshot). */
        if (db->log.seg && db->log.fsync_policy == TIDAL_FSYNC_NONE &&
            (r = env->file_sync(env->user, db->log.seg)) != TIDAL_OK)
            goto fail;
        if (db->log.seg) env->file_close(env->user, db->log.seg);
        db->log.seg = NULL;
        tidal__seg_name(db, first, "log", name, sizeof name);
        r = env->file_open(env->user, name, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE, &db->log.seg);
        if (r != TIDAL_OK) r = tidal__io_err(db, r, "open", name);
        else if ((r = env->file_truncate(env->user, db->log.seg, 0)) != TIDAL_OK)
            r = tidal__io_err(db, r, "truncate", name);
        else if ((r = env->dir_sync(env->user, db->path)) != TIDAL_OK)
            r = tidal__io_err(db, r, "sync directory", db->path);
        if (r != TIDAL_OK) goto fail;
        db->log.segs[db->log.n_segs++] = first;
        db->log.seg_size = 0;
    }
    memset(&h, 0, sizeof h);
    h.magic = TIDAL__WAL_MAGIC;
    h.version = TIDAL_WAL_FORMAT_VERSION;
    h.node = tidal__node_word(db->node);
    h.incarnation = db->incarnation;
    h.first_lsn = db->log.next_lsn - db->log.batch_count;
    h.last_lsn = db->log.next_lsn - 1;
    h.schema_fp = db->schema.schema_fp;
    h.count = db->log.batch_count;
    h.payload_len = (uint32_t)(len - TIDAL__WAL_HDR);
    h.hlc = db->hlc;
    /* A batch from the leader carries the leader position it completes; our own batches
       carry the epoch we lead, or (writes taken while cut off, availability mode) the
       newest epoch already in our log: a member's failed elections while cut off must not
       make its log look newer than the group's in a vote. */
    h.source_lsn = db->rep.ingesting ? db->rep.leader_pos : 0;
    h.epoch = 0;
    if (db->rep.ingesting || !db->rep.n_rep || db->rep.role == TIDAL_ROLE_LEADER)
        h.epoch = db->rep.epoch;
    tidal__log_note(db, h.epoch, h.source_lsn ? h.source_lsn : h.last_lsn);
    tidal__batch_hdr_put(db->log.batch, &h);
    tidal__batch_sum(db->log.batch, db->log.batch + TIDAL__WAL_HDR, h.payload_len, h.sum);
    memcpy(db->log.batch + 80, h.sum, 32);
    r = env->file_write(env->user, db->log.seg, db->log.seg_size, db->log.batch, len);
    if (r != TIDAL_OK) {
        tidal__seg_name(db, db->log.segs[db->log.n_segs - 1], "log", name, sizeof name);
        r = tidal__io_err(db, r, "write", name);
    } else if (db->log.fsync_policy != TIDAL_FSYNC_NONE) {
        r = env->file_sync(env->user, db->log.seg);
        db->stats.wal_syncs++;
        if (r != TIDAL_OK) {
            tidal__seg_name(db, db->log.segs[db->log.n_segs - 1], "log", name, sizeof name);
            r = tidal__io_err(db, r, "fsync", name);
        }
    }
    if (r != TIDAL_OK) goto fail;
    db->log.seg_size += len;
    db->log.log_since_snap += len;
    db->log.durable_lsn = h.last_lsn;
    db->stats.wal_batches++;
    db->stats.wal_bytes += len;
    db->log.batch_len = TIDAL__WAL_HDR; /* empty before shipping: shipping may look at it */
    db->log.batch_count = 0;
    if (db->rep.n_rep) tidal__rep_committed(db, db->log.batch, len); /* the bytes are still there */
    return TIDAL_OK;
fail:
    db->fatal = 1;
    TIDAL_ASSERT(db->errmsg[0]); /* the failing call named itself above */
    return tidal__err_wrap(db, r, "log commit failed, the handle must be reopened");
}

/* Appends ev to the pending batch; returns 0 if the batch cannot take it. */
static int tidal__batch_add(tidal_db *db, const tidal__event *ev) {
    size_t need = tidal__event_size(ev);
    /* a new batch needs room for its header too */
    size_t base = db->log.batch_len ? db->log.batch_len : TIDAL__WAL_HDR;
    uint8_t *end;
    if (base + need > db->log.batch_cap) {
        size_t cap = db->log.batch_cap ? db->log.batch_cap : 4096;
        uint8_t *p;
        while (cap < base + need) cap *= 2;
        p = (uint8_t *)tidal__realloc(db, db->log.batch, db->log.batch_cap, cap);
        if (!p) return 0;
        db->log.batch = p;
        db->log.batch_cap = cap;
    }
    if (db->log.batch_len == 0) db->log.batch_len = TIDAL__WAL_HDR;
    end = tidal__event_put(db->log.batch + db->log.batch_len, ev);
    TIDAL_ASSERT((size_t)(end - db->log.batch) <= db->log.batch_len + need);
    db->log.batch_len = (size_t)(end - db->log.batch);
    if (db->log.batch_count++ == 0) db->log.batch_start_ns = db->env->clock_mono_ns(db->env->user);
    db->log.next_lsn++;
    return 1;
}

/* ---- recovery ---- */

typedef struct tidal__dirscan {
    tidal_db *db;
    uint64_t *segs, *snaps;
    uint32_t n_segs, n_snaps, cap;
    int foreign, overflow;
    char tmp[4][TIDAL_PATH_MAX + 64];
    uint32_t n_tmp;
} tidal__dirscan;

/* Parses "<prefix>-RRRR-SSSS-<16 hex>.<ext>"; returns 1 and the lsn if it matches. */
static int tidal__parse_name(const char *name, const char *prefix, const char *ext,
                             uint32_t *node, uint64_t *lsn) {
    size_t pl = strlen(prefix), el = strlen(ext), n = strlen(name), i;
    uint64_t v = 0, nd = 0;
    if (n != pl + 1 + 4 + 1 + 4 + 1 + 16 + 1 + el || memcmp(name, prefix, pl) || name[pl] != '-')
        return 0;
    if (name[pl + 5] != '-' || name[pl + 10] != '-' || name[pl + 27] != '.' || strcmp(name + pl + 28, ext))
        return 0;
    for (i = 0; i < 26; i++) {
        char c = name[pl + 1 + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (i == 4 || i == 9) continue;
        if (d < 0) return 0;
        if (i < 9) nd = nd << 4 | (uint64_t)d;
        else v = v << 4 | (uint64_t)d;
    }
    *node = (uint32_t)nd;
    *lsn = v;
    return 1;
}

static void tidal__dirscan_fn(void *ctx, const char *name) {
    tidal__dirscan *d = (tidal__dirscan *)ctx;
    uint32_t node;
    uint64_t lsn;
    int seg = tidal__parse_name(name, "wal", "log", &node, &lsn);
    int snap = !seg && tidal__parse_name(name, "snap", "snap", &node, &lsn);
    if (!seg && !snap) {
        if (tidal__parse_name(name, "snap", "tmp", &node, &lsn) && d->n_tmp < 4)
            snprintf(d->tmp[d->n_tmp++], sizeof d->tmp[0], "%s/%s", d->db->path, name);
        return;
    }
    if (node != tidal__node_word(d->db->node)) {
        d->foreign = 1;
        return;
    }
    if (seg && d->n_segs < d->cap) d->segs[d->n_segs++] = lsn;
    else if (snap && d->n_snaps < d->cap) d->snaps[d->n_snaps++] = lsn;
    else d->overflow = 1;
}

/* Reads a whole file into a fresh buffer. On failure the message names the operation, the
   file and why ("open db/x: No such file or directory"). */
static tidal_result tidal__read_file(tidal_db *db, const char *name, uint8_t **out, size_t *len) {
    const tidal_env *env = db->env;
    void *f = NULL;
    uint64_t size = 0;
    size_t got = 0;
    tidal_result r = env->file_open(env->user, name, TIDAL_OPEN_READ, &f);
    *out = NULL;
    *len = 0;
    if (r != TIDAL_OK) return tidal__io_err(db, r, "open", name);
    r = env->file_size(env->user, f, &size);
    if (r != TIDAL_OK) r = tidal__io_err(db, r, "size of", name);
    if (r == TIDAL_OK && size > (uint64_t)SIZE_MAX / 2)
        r = tidal__err(db, TIDAL_ERR_LIMIT, "read %s: %llu bytes do not fit in memory", name,
                       (unsigned long long)size);
    if (r == TIDAL_OK && size > 0) {
        *out = (uint8_t *)tidal__alloc(db, (size_t)size);
        if (!*out) r = tidal__err(db, TIDAL_ERR_NOMEM, "read %s: no memory for %llu bytes", name,
                                  (unsigned long long)size);
        else if ((r = env->file_read(env->user, f, 0, *out, (size_t)size, &got)) != TIDAL_OK)
            r = tidal__io_err(db, r, "read", name);
        else if (got != size)
            r = tidal__err(db, TIDAL_ERR_IO_READ, "read %s: %llu of %llu bytes (the file shrank)",
                           name, (unsigned long long)got, (unsigned long long)size);
        if (r != TIDAL_OK) {
            tidal__free(db, *out, (size_t)size);
            *out = NULL;
        }
    }
    env->file_close(env->user, f);
    if (r == TIDAL_OK) *len = (size_t)size;
    return r;
}

/* Is there a valid batch anywhere in [from, n)? Decides torn tail vs corruption. */
static int tidal__valid_batch_after(const tidal_db *db, const uint8_t *p, size_t n, size_t from) {
    size_t i;
    tidal__batch_hdr h;
    for (i = from; i + TIDAL__WAL_HDR <= n; i++) {
        if (p[i] != 0x54 || p[i + 1] != 0x44 || p[i + 2] != 0x4C || p[i + 3] != 0x57) continue;
        if (!tidal__batch_check(db, p + i, n - i, &h)) return 1;
    }
    return 0;
}

/* Decodes every event of a checked batch; with apply == 0 it only validates, so a batch
   is either applied whole or not at all. */
static tidal_result tidal__batch_events(tidal_db *db, const uint8_t *payload,
                                        const tidal__batch_hdr *h, int apply, const char **why) {
    tidal__rd r;
    uint32_t i, cap = h->payload_len / 16 + 1;
    tidal__rd_init(&r, payload, h->payload_len);
    if (!TIDAL__GROW(db, db->scratch_tags, db->cap_scratch_tags, cap)) return TIDAL_ERR_NOMEM;
    for (i = 0; i < h->count; i++) {
        tidal__event ev;
        tidal_result ar;
        *why = tidal__event_get(db, &r, &ev, db->scratch_tags, db->cap_scratch_tags);
        if (*why) return TIDAL_ERR_CORRUPT;
        if (!apply) continue;
        if ((ar = tidal__event_take(db, &ev, TIDAL__FROM_REPLAY, NULL)) != TIDAL_OK) return ar;
        /* The clock comes back from batch headers (our own stamps at commit), not from
           event stamps: a peer's runaway stamp was never followed and is not now. */
    }
    if (r.pos != r.n) {
        *why = "payload longer than its events";
        return TIDAL_ERR_CORRUPT;
    }
    return TIDAL_OK;
}

/* Batches of up to this many events are decoded once into db->log.dec and applied from
   there; a larger one (bounded by TIDAL_BATCH_BYTES_MAX only) is decoded twice, first to
   check it whole, so the array stays small. */
#define TIDAL__DEC_EVENTS_MAX 16384u

/* Decodes every event of a checked batch into db->log.dec (n_dec of them), so that a batch is
   either applied whole or not at all without decoding it twice. Tags of removes share
   db->scratch_tags. TIDAL_ERR_CORRUPT and *why when an event is invalid; TIDAL_ERR_LIMIT
   when the batch is too large for the array (the caller decodes twice). */
static tidal_result tidal__batch_decode(tidal_db *db, const uint8_t *payload, const tidal__batch_hdr *h,
                                        const char **why) {
    tidal__rd r;
    uint32_t i, tags = 0, cap = h->payload_len / 16 + 1;
    db->log.n_dec = 0;
    *why = NULL;
    if (h->count > TIDAL__DEC_EVENTS_MAX) return TIDAL_ERR_LIMIT;
    if (!TIDAL__GROW(db, db->log.dec, db->log.cap_dec, h->count) ||
        !TIDAL__GROW(db, db->scratch_tags, db->cap_scratch_tags, cap))
        return TIDAL_ERR_NOMEM;
    tidal__rd_init(&r, payload, h->payload_len);
    for (i = 0; i < h->count; i++) {
        tidal__event *ev = &db->log.dec[i];
        *why = tidal__event_get(db, &r, ev, db->scratch_tags + tags, cap - tags);
        if (*why) return TIDAL_ERR_CORRUPT;
        tags += ev->n_tags; /* tags are 16 bytes of payload each: they fit in cap */
        TIDAL_ASSERT(tags <= cap);
    }
    if (r.pos != r.n) {
        *why = "payload longer than its events";
        return TIDAL_ERR_CORRUPT;
    }
    db->log.n_dec = h->count;
    return TIDAL_OK;
}

/* Checks and applies one batch at p; NULL and *used on success, else why it is invalid
   (nothing applied). An apply failure (out of memory) comes back in *r. */
static const char *tidal__batch_replay(tidal_db *db, const uint8_t *p, size_t avail,
                                       uint64_t expect_lsn, size_t *used, tidal_result *r,
                                       int *hard) {
    tidal__batch_hdr h;
    const char *why = tidal__batch_check(db, p, avail, &h);
    *r = TIDAL_OK;
    *hard = why == NULL; /* a batch whose checksum holds was written whole: never torn */
    if (!why && !tidal__schema_fp_ok(db, h.schema_fp) &&
        !tidal__schema_batch_teaches(db, p + TIDAL__WAL_HDR, h.schema_fp, h.count, h.payload_len))
        why = tidal__schema_mismatch;
    if (!why && db->incarnation && h.incarnation != db->incarnation) why = "incarnation changed";
    if (!why && h.first_lsn != expect_lsn) why = "lsn out of sequence";
    /* A batch the snapshot covers is not applied: its checksum is all that is checked (it
       is not decoded). Others are decoded once, whole, before anything is applied. */
    if (!why && h.last_lsn > db->stats.snapshot_lsn) {
        *r = tidal__batch_decode(db, p + TIDAL__WAL_HDR, &h, &why);
        if (*r == TIDAL_ERR_LIMIT) *r = tidal__batch_events(db, p + TIDAL__WAL_HDR, &h, 0, &why);
    }
    if (why) return why;
    if (*r != TIDAL_OK) return NULL;
    db->incarnation = h.incarnation;
    if (h.epoch > db->rep.epoch) db->rep.epoch = h.epoch;
    tidal__log_note(db, h.epoch, h.source_lsn ? h.source_lsn : h.last_lsn);
    if (h.epoch > db->rep.pos_epoch) {
        db->rep.pos_epoch = h.epoch;
        db->rep.leader_pos = 0;
    }
    if (h.source_lsn && h.epoch == db->rep.pos_epoch && h.source_lsn > db->rep.leader_pos) db->rep.leader_pos = h.source_lsn;
    if (h.last_lsn > db->stats.snapshot_lsn) {
        if (db->log.n_dec == h.count) {
            uint32_t i;
            int64_t t0 = db->env->clock_mono_ns(db->env->user);
            for (i = 0; i < db->log.n_dec && *r == TIDAL_OK; i++)
                *r = tidal__event_take(db, &db->log.dec[i], TIDAL__FROM_REPLAY, NULL);
            db->stats.recovered_apply_ns += (uint64_t)(db->env->clock_mono_ns(db->env->user) - t0);
        } else {
            *r = tidal__batch_events(db, p + TIDAL__WAL_HDR, &h, 1, &why);
        }
        db->log.n_dec = 0;
        db->log.log_since_snap += TIDAL__WAL_HDR + h.payload_len; /* counts toward the next one */
    }
    if (tidal__hlc_cmp(h.hlc, db->hlc) > 0) db->hlc = h.hlc;
    *used = TIDAL__WAL_HDR + h.payload_len;
    return NULL;
}

/* Scans one segment's bytes (p: the file from offset base on). last says whether it is the
   newest segment, the only place a torn tail may be. *expect_lsn advances; *valid_end receives where good
   data ends. Errors name the file and offset. */
static tidal_result tidal__scan_segment_at(tidal_db *db, const char *name, const uint8_t *p,
                                           size_t n, uint64_t base, int last, uint64_t *expect_lsn,
                                           uint64_t *valid_end) {
    size_t off = 0;
    tidal_result r = TIDAL_OK;
    while (off < n) {
        size_t used = 0;
        int hard = 0;
        const char *why = tidal__batch_replay(db, p + off, n - off, *expect_lsn, &used, &r, &hard);
        if (r != TIDAL_OK) {
            r = tidal__err(db, r, "%s: offset %llu: replay: %s", name, (unsigned long long)(base + off),
                           tidal_strerror(r));
            break;
        }
        if (why) {
            if (last && !hard && !tidal__valid_batch_after(db, p, n, off + 1)) break; /* torn tail */
            r = tidal__err(db, why == tidal__schema_mismatch ? TIDAL_ERR_SCHEMA : TIDAL_ERR_CORRUPT,
                           "%s: offset %llu: %s", name, (unsigned long long)(base + off), why);
            break;
        }
        {
            tidal__batch_hdr h;
            tidal__batch_hdr_get(p + off, &h);
            *expect_lsn = h.last_lsn + 1;
        }
        off += used;
    }
    *valid_end = base + off;
    if (r == TIDAL_OK && off < n) db->stats.recovered_truncated_bytes += n - off;
    return r;
}

/* A whole segment's bytes (offsets from its start); white-box tests and fuzz_wal call it. */
#define tidal__scan_segment(db, name, p, n, last, expect_lsn, valid_end) \
    tidal__scan_segment_at(db, name, p, n, 0, last, expect_lsn, valid_end)

/* Segments are read in chunks of this size (grown for a larger batch), into one buffer
   that is reused: the bytes are verified and decoded while they are in cache, and a large
   log costs no fresh pages per segment. Tests set it small to cross chunk edges often. */
#ifndef TIDAL_REPLAY_CHUNK_BYTES
#define TIDAL_REPLAY_CHUNK_BYTES (4u << 20)
#endif
#define TIDAL__REPLAY_CHUNK ((size_t)TIDAL_REPLAY_CHUNK_BYTES)

/* Reads len bytes of f at off into buf; an error names the file. */
static tidal_result tidal__read_at(tidal_db *db, void *f, const char *name, uint64_t off, uint8_t *buf,
                                   size_t len) {
    size_t got = 0;
    tidal_result r = db->env->file_read(db->env->user, f, off, buf, len, &got);
    if (r != TIDAL_OK) return tidal__io_err(db, r, "read", name);
    if (got != len)
        return tidal__err(db, TIDAL_ERR_IO_READ, "read %s: %llu of %llu bytes at offset %llu (the file shrank)",
                          name, (unsigned long long)got, (unsigned long long)len, (unsigned long long)off);
    return TIDAL_OK;
}

/* Replays a segment chunk by chunk: whole batches that check out are applied as they come.
   At the first batch that does not (or a read that cannot be chunked), the rest of the file
   is read whole and tidal__scan_segment decides from there, with the whole tail in view, as
   it always has: a torn tail is cut, anything else is corruption named by file and offset. */
static tidal_result tidal__replay_segment(tidal_db *db, const char *name, uint64_t first,
                                          int last, uint64_t *expect_lsn, uint64_t *valid_end) {
    const tidal_env *env = db->env;
    void *f = NULL;
    uint64_t size = 0, done = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    tidal_result r = env->file_open(env->user, name, TIDAL_OPEN_READ, &f);
    if (r != TIDAL_OK) return tidal__io_err(db, r, "open", name);
    if ((r = env->file_size(env->user, f, &size)) != TIDAL_OK) r = tidal__io_err(db, r, "size of", name);
    if (r == TIDAL_OK && first != *expect_lsn && !(size == 0 && last))
        r = tidal__err(db, TIDAL_ERR_CORRUPT, "%s: offset 0: starts at lsn %llu, expected %llu (gap)",
                       name, (unsigned long long)first, (unsigned long long)*expect_lsn);
    cap = size < TIDAL__REPLAY_CHUNK ? (size_t)size : TIDAL__REPLAY_CHUNK;
    if (r == TIDAL_OK && cap && !(buf = (uint8_t *)tidal__alloc(db, cap)))
        r = tidal__err(db, TIDAL_ERR_NOMEM, "read %s: no memory for %llu bytes", name, (unsigned long long)cap);
    while (r == TIDAL_OK && done < size) {
        size_t want = size - done < cap ? (size_t)(size - done) : cap, off = 0;
        int odd = 0; /* a batch the chunked path leaves to tidal__scan_segment */
        if ((r = tidal__read_at(db, f, name, done, buf, want)) != TIDAL_OK) break;
        while (off + TIDAL__WAL_HDR <= want) {
            tidal__batch_hdr h;
            size_t used = 0;
            int hard = 0;
            const char *why;
            tidal__batch_hdr_get(buf + off, &h);
            if (h.magic != TIDAL__WAL_MAGIC || h.payload_len > TIDAL_BATCH_BYTES_MAX ||
                TIDAL__WAL_HDR + (uint64_t)h.payload_len > size - done - off) {
                odd = 1; /* not a batch that fits the file: decided below */
                break;
            }
            if (off + TIDAL__WAL_HDR + h.payload_len > want) {
                if (off) break; /* continues in the next chunk */
                /* one batch larger than the buffer: grow it to hold the batch */
                want = TIDAL__WAL_HDR + h.payload_len;
                {
                    uint8_t *q = (uint8_t *)tidal__realloc(db, buf, cap, want);
                    if (!q) {
                        odd = 1;
                        break;
                    }
                    buf = q;
                    cap = want;
                }
                if ((r = tidal__read_at(db, f, name, done, buf, want)) != TIDAL_OK) break;
            }
            why = tidal__batch_replay(db, buf + off, want - off, *expect_lsn, &used, &r, &hard);
            if (r != TIDAL_OK) {
                r = tidal__err(db, r, "%s: offset %llu: replay: %s", name, (unsigned long long)(done + off),
                               tidal_strerror(r));
                break;
            }
            if (why) { /* nothing applied: decided below */
                odd = 1;
                break;
            }
            *expect_lsn = h.last_lsn + 1;
            off += used;
        }
        if (r != TIDAL_OK) break;
        done += off;
        if (odd || off == 0) goto whole; /* off == 0: a header cut by the end of the file */
    }
    if (r == TIDAL_OK) *valid_end = done;
    goto out;
whole:
    if (r == TIDAL_OK) { /* the rest of the file in one piece, as before */
        size_t n = (size_t)(size - done);
        uint8_t *p = (uint8_t *)tidal__alloc(db, n);
        if (!p) r = tidal__err(db, TIDAL_ERR_NOMEM, "read %s: no memory for %llu bytes", name, (unsigned long long)n);
        else if ((r = tidal__read_at(db, f, name, done, p, n)) == TIDAL_OK)
            r = tidal__scan_segment_at(db, name, p, n, done, last, expect_lsn, valid_end);
        tidal__free(db, p, n);
    }
out:
    tidal__free(db, buf, cap);
    env->file_close(env->user, f);
    return r;
}

// >>snapshot
// A snapshot is the state in the digest's field order (format 3: its canonical bytes;
// format 4, written now: the compact form of the same fields, see tidal__enc_uv) followed
// by the applied-event index (per-origin high-water marks and the key-derived ids still in
// their window), behind a checksummed header. It is written to a temp file, synced,
// renamed, and the directory synced; the decoder (both formats) validates every count,
// order, range and varint before it builds anything, names what failed and at which
// offset, and a failed load leaves an empty state. A load streams the file through a small
// window, hashing as it reads, and compares the checksum once the decode is done: a file
// that fails it leaves nothing (tidal__snap_read). Automatic snapshots: tidal__snap_auto.

#define TIDAL__SNAP_HDR 96

/* Snapshot header (little-endian): magic u32, version u16, header bytes u16, node u32,
   incarnation u32, lsn u64, body bytes u64, schema fingerprint u64, hlc wall i64, hlc
   logical u32, hlc node u32, BLAKE3 u8[32] of body || header-with-zeroed-checksum, 8 zero
   bytes. 96 bytes. Version 3: canonical body; 4: compact body (same header). */
typedef struct tidal__snap_hdr {
    uint32_t magic, version, node, incarnation;
    uint64_t lsn, body_len, schema_fp;
    tidal_hlc hlc;
    uint8_t sum[32];
} tidal__snap_hdr;

static void tidal__snap_hdr_put(uint8_t *w, const tidal__snap_hdr *h) {
    w = tidal__wr_le(w, h->magic, 4);
    w = tidal__wr_le(w, h->version, 2);
    w = tidal__wr_le(w, TIDAL__SNAP_HDR, 2);
    w = tidal__wr_le(w, h->node, 4);
    w = tidal__wr_le(w, h->incarnation, 4);
    w = tidal__wr_le(w, h->lsn, 8);
    w = tidal__wr_le(w, h->body_len, 8);
    w = tidal__wr_le(w, h->schema_fp, 8);
    w = tidal__wr_le(w, (uint64_t)h->hlc.wall_ns, 8);
    w = tidal__wr_le(w, h->hlc.logical, 4);
    w = tidal__wr_le(w, h->hlc.node, 4);
    memcpy(w, h->sum, 32);
    memset(w + 32, 0, 8);
}

static void tidal__snap_hdr_get(const uint8_t *p, tidal__snap_hdr *h) {
    tidal__rd r;
    tidal__rd_init(&r, p, TIDAL__SNAP_HDR);
    h->magic = tidal__rd_u32(&r);
    h->version = (uint32_t)tidal__rd_le(&r, 2);
    (void)tidal__rd_le(&r, 2);
    h->node = tidal__rd_u32(&r);
    h->incarnation = tidal__rd_u32(&r);
    h->lsn = tidal__rd_u64(&r);
    h->body_len = tidal__rd_u64(&r);
    h->schema_fp = tidal__rd_u64(&r);
    h->hlc.wall_ns = (int64_t)tidal__rd_u64(&r);
    h->hlc.logical = tidal__rd_u32(&r);
    h->hlc.node = tidal__rd_u32(&r);
    memcpy(h->sum, p + 56, 32);
}

/* The checksum of a whole image (fuzzers and tests forge files; a load hashes as it reads,
   tidal__snap_read). */
TIDAL__TESTING static void tidal__snap_sum(const uint8_t *body, size_t len, const uint8_t *hdr,
                                           uint8_t out[32]) {
    struct tidal_blake3 h;
    uint8_t tmp[TIDAL__SNAP_HDR];
    memcpy(tmp, hdr, TIDAL__SNAP_HDR);
    memset(tmp + 56, 0, 32);
    tidal_blake3_init(&h);
    tidal_blake3_update(&h, body, len);
    tidal_blake3_update(&h, tmp, TIDAL__SNAP_HDR);
    tidal_blake3_final(&h, out, 32);
}

static int tidal__idem_entry_cmp(const void *a, const void *b) {
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* The applied-event index, sorted so the bytes depend only on content. */
static tidal_result tidal__enc_index(tidal__enc *x, tidal_db *db) {
    uint32_t i, j, n;
    uint64_t *tmp;
    size_t cap = db->st.n_idem;
    for (i = 0; i < db->st.n_origins; i++)
        if (db->st.origins[i].above.n > cap) cap = db->st.origins[i].above.n;
    cap = 3 * (cap + 1) + db->st.n_origins; /* origins, then one origin's marks or the idem set */
    tmp = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * cap);
    if (!tmp) return TIDAL_ERR_NOMEM;
    for (i = 0; i < db->st.n_origins; i++) tmp[i] = db->st.origins[i].origin;
    qsort(tmp, db->st.n_origins, sizeof *tmp, tidal__u64_cmp);
    tidal__enc_uv(x, db->st.n_origins);
    for (i = 0; i < db->st.n_origins; i++) { /* compact: origins and marks as deltas */
        const tidal__origin *o = tidal__origin_find(db, tmp[i]);
        uint64_t *above = tmp + db->st.n_origins;
        TIDAL_ASSERT(o != NULL);
        tidal__enc_sv(x, o->origin, i ? tmp[i - 1] : 0);
        tidal__enc_uv(x, o->hwm);
        for (j = 0, n = 0; j < o->above.cap; j++)
            if (o->above.slot[j]) above[n++] = o->above.slot[j];
        qsort(above, n, sizeof *above, tidal__u64_cmp);
        tidal__enc_uv(x, n);
        for (j = 0; j < n; j++) tidal__enc_sv(x, above[j], j ? above[j - 1] : o->hwm);
    }
    for (i = 0, n = 0; i < db->st.idem_map.cap; i++) {
        uint32_t v = db->st.idem_map.s[i].v;
        if (v == UINT32_MAX) continue;
        tmp[3 * n] = db->st.idem_map.s[i].k0;
        tmp[3 * n + 1] = db->st.idem_map.s[i].k1;
        tmp[3 * n + 2] = (uint64_t)db->st.idem_time[v];
        n++;
    }
    qsort(tmp, n, 3 * sizeof *tmp, tidal__idem_entry_cmp);
    tidal__enc_uv(x, n);
    for (i = 0; i < n; i++) { /* key ids are hashes: 8 bytes in either format */
        tidal__enc_u64(x, tmp[3 * i]);
        tidal__enc_u64(x, tmp[3 * i + 1]);
        tidal__enc_time(x, (int64_t)tmp[3 * i + 2]);
    }
    if ((x->file || x->to_mem) && !x->index_only) { /* snapshots only: install generations, */
        tidal__enc_uv(x, db->st.n_tgen);     /* sorted by tenant (kept so) */
        for (i = 0; i < db->st.n_tgen; i++) {
            tidal__enc_uv(x, (uint64_t)db->st.tgen[i].tenant << 32 | db->st.tgen[i].complete);
            tidal__enc_uv(x, db->st.tgen[i].gen);
        }
    }
    if ((x->file || x->to_mem) && !x->index_only) { /* snapshots only, not the digest: replication position, */
        tidal__enc_uv(x, db->rep.epoch); /* and the counters of what the state folded */
        tidal__enc_uv(x, db->rep.log_epoch); /* the newest epoch in the log and how far into */
        tidal__enc_uv(x, db->rep.log_pos);   /* its leader's log ours goes: what votes compare */
        tidal__enc_uv(x, db->rep.pos_epoch);
        tidal__enc_uv(x, db->rep.leader_pos);
        tidal__enc_uv(x, db->stats.events_applied);
        tidal__enc_uv(x, db->stats.events_internal);
    }
    tidal__free(db, tmp, sizeof(uint64_t) * cap);
    return TIDAL_OK;
}

/* ---- decoding ---- */

/* A snapshot's body read through a window (tidal__snap_read): a file's through
   TIDAL__SNAP_CHUNK bytes, reused, hashed as they arrive, so an open never holds (allocates,
   zeroes, copies) the file's image; an image in memory (tidal__snap_parse) through the
   smallest window, so its decode crosses window edges as a file's does. The window always
   fits the longest piece the decoder reads whole (a note) and a fixed-point value. */
#define TIDAL__SNAP_CHUNK ((size_t)1 << 20)
#define TIDAL__SNAP_CHUNK_MIN ((size_t)TIDAL_NOTE_MAX + 64)

typedef struct tidal__sdsrc {
    const tidal_env *env; /* a file (env, file, name), or */
    void *file;
    const char *name;
    const uint8_t *mem;   /* an image in memory */
    uint64_t off;         /* the next byte to read, from the start of the file */
    uint64_t left;        /* body bytes not yet read */
    uint8_t *buf;         /* the window, cap bytes */
    size_t cap;
    struct tidal_blake3 h; /* of the body bytes read so far */
    tidal_result io;      /* a read that failed (named by tidal__io_err) */
} tidal__sdsrc;

typedef struct tidal__sd {
    tidal_db *db;
    tidal__rd r;
    const char *why;
    size_t at;      /* body offset where why was found */
    tidal__sdsrc *src; /* the body streams through r (tidal__sd_more); NULL: r holds it all */
    size_t base;    /* body offset of r.p[0] */
    int compact;    /* snapshot format 4 (see tidal__enc_uv); 0 = canonical */
    int bulk;       /* a whole body into a state with no entity: tidal__sd_tenant appends */
    int64_t t_prev; /* compact: the last time read */
    /* bulk, per tenant (tidal__sd_tenant): its row in db->st.tenants once made, the
       entities still to read (room reserved in its item list), and per signal type the
       index of its top-K list (UINT32_MAX until made): one lookup per tenant, not per row */
    uint32_t ten, ents_left;
    uint32_t lb_of[TIDAL_SIGNAL_TYPES_MAX];
    /* per signal type (tidal__sd_epoch_ref): INT64_MAX / 4 / epoch_ns (0: not yet), and
       the epoch found last, [ep_lo, ep_lo + epoch_ns) when ep_ok */
    int64_t ep_lim[TIDAL_SIGNAL_TYPES_MAX], ep_at[TIDAL_SIGNAL_TYPES_MAX];
    int64_t ep_lo[TIDAL_SIGNAL_TYPES_MAX];
    uint8_t ep_ok[TIDAL_SIGNAL_TYPES_MAX];
} tidal__sd;

static int tidal__sd_fail(tidal__sd *d, const char *why) {
    if (!d->why) {
        d->why = why;
        d->at = d->base + d->r.pos;
    }
    return 0;
}

/* Reads len bytes of s at s->off into dst, hashing them when they are body bytes (hash). */
static tidal_result tidal__sdsrc_read(tidal_db *db, tidal__sdsrc *s, uint8_t *dst, size_t len,
                                      int hash) {
    size_t done = 0, got;
    tidal_result r = TIDAL_OK;
    TIDAL_ASSERT(s->mem || (s->env && s->file));
    if (s->mem) memcpy(dst, s->mem + s->off, len);
    while (!s->mem && done < len && r == TIDAL_OK) {
        got = 0;
        r = s->env->file_read(s->env->user, s->file, s->off + done, dst + done, len - done, &got);
        if (r != TIDAL_OK) r = tidal__io_err(db, r, "read", s->name);
        else if (!got)
            r = tidal__err(db, TIDAL_ERR_IO_READ, "read %s: offset %llu: the file shrank", s->name,
                           (unsigned long long)(s->off + done));
        done += got;
    }
    if (r != TIDAL_OK) return s->io = r;
    if (hash) tidal_blake3_update(&s->h, dst, len);
    s->off += len;
    return TIDAL_OK;
}

/* Makes at least need bytes (or every body byte left, if fewer) readable in d->r: the
   unread rest of the window moves to its front and the file fills the remainder. A read
   that fails fails the decode ("unreadable"; d->src->io says how). */
static void tidal__sd_more(tidal__sd *d, size_t need) {
    tidal__sdsrc *s = d->src;
    size_t keep, want;
    if (!s || !s->left || d->r.bad || d->r.n - d->r.pos >= need) return;
    keep = d->r.n - d->r.pos;
    TIDAL_ASSERT((need <= s->cap || keep + s->left <= s->cap) && keep < s->cap);
    if (keep) memmove(s->buf, s->buf + d->r.pos, keep);
    d->base += d->r.pos;
    want = s->cap - keep;
    if (want > s->left) want = (size_t)s->left;
    d->r.p = s->buf;
    d->r.pos = 0;
    d->r.n = keep;
    if (tidal__sdsrc_read(d->db, s, s->buf + keep, want, 1) != TIDAL_OK) {
        tidal__sd_fail(d, "unreadable");
        d->r.bad = 1;
        return;
    }
    s->left -= want;
    d->r.n = keep + want;
}

/* Whether n more items of canon bytes each (in the canonical encoding) can still be in
   the body: bounds a count before anything is allocated for it. A compact item takes at
   least a byte per canonical word. */
static int tidal__sd_room(const tidal__sd *d, uint64_t n, uint32_t canon) {
    uint32_t per = d->compact ? (canon >= 16 ? canon / 8 : 1) : canon;
    uint64_t left = (uint64_t)(d->r.n - d->r.pos) + (d->src ? d->src->left : 0);
    TIDAL_ASSERT(d->r.pos <= d->r.n && canon > 0);
    return n <= left / per;
}

/* The compact primitives' readers (see tidal__enc_uv); canonical mode reads the u64 (or
   fx). A varint longer than it must be (a last byte of 0) or than its type is refused,
   so every value has one encoding. A malformed value fails the decode with its offset. */
static uint64_t tidal__sd_uv_slow(tidal__sd *d) {
    uint64_t v = 0;
    uint32_t i;
    tidal__sd_more(d, 10);
    if (!d->compact) return tidal__rd_u64(&d->r);
    for (i = 0; i < 10 && !d->r.bad && d->r.pos < d->r.n; i++) {
        uint8_t b = d->r.p[d->r.pos++];
        if ((i == 9 && b > 1) || (i > 0 && b == 0)) {
            tidal__sd_fail(d, "bad varint"); /* overlong, or beyond 64 bits */
            break;
        }
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) return v;
    }
    d->r.bad = 1; /* else truncated: the caller names what was cut */
    return 0;
}
/* The fast path: with 10 bytes left, a well-formed varint needs no bounds check per byte
   (a snapshot load reads tens of millions). Anything else, malformed included, goes to
   the careful reader above, which accepts and refuses exactly what this accepts and
   refuses, and names the fault. */
static inline uint64_t tidal__sd_uv(tidal__sd *d) {
    if (d->compact && !d->r.bad && d->r.n - d->r.pos >= 10) {
        const uint8_t *p = d->r.p + d->r.pos;
        uint64_t v = p[0], b;
        uint32_t i;
        if (v < 0x80) {
            d->r.pos++;
            return v;
        }
        v &= 0x7F;
        for (i = 1; i < 10; i++) {
            b = p[i];
            v |= (b & 0x7F) << (7 * i);
            if (b < 0x80) {
                if (b == 0 || (i == 9 && b > 1)) break; /* overlong or too wide: named below */
                d->r.pos += i + 1;
                return v;
            }
        }
    }
    TIDAL_ASSERT(d->r.pos <= d->r.n);
    return tidal__sd_uv_slow(d);
}
static inline uint64_t tidal__sd_sv(tidal__sd *d, uint64_t base) {
    if (!d->compact) return tidal__rd_u64(&d->r);
    return base + tidal__unzz(tidal__sd_uv(d));
}
static int64_t tidal__sd_time(tidal__sd *d) {
    int64_t t = (int64_t)tidal__sd_sv(d, (uint64_t)d->t_prev);
    d->t_prev = t;
    return t;
}
static tidal__fx tidal__sd_fx(tidal__sd *d) {
    tidal__fx f;
    f.lo = tidal__rd_u64(&d->r);
    f.hi = tidal__rd_u64(&d->r);
    return f;
}
/* Bits of x (0 for 0), by halving: a snapshot load reads millions of fixed-point values. */
static uint32_t tidal__u64_bits(uint64_t x) {
    uint32_t n = 0, s;
    for (s = 32; s > 0; s >>= 1)
        if (x >> s) {
            n += s;
            x >>= s;
        }
    TIDAL_ASSERT(x <= 1);
    return n + (uint32_t)x;
}
/* Bits of m (0 for 0). */
static uint32_t tidal__fx_bits(tidal__fx m) {
    return m.hi ? 64 + tidal__u64_bits(m.hi) : tidal__u64_bits(m.lo);
}
/* m * 2^tz, negated when sign, added to base: the value a compact fixed point encodes
   (tidal__enc_fxd), once its reader checked that it fits. */
static tidal__fx tidal__sd_fx_make(tidal__fx base, tidal__fx m, uint32_t tz, uint32_t sign) {
    tidal__fx z = {0, 0};
    TIDAL_ASSERT(tz < 128 && (m.lo & 1));
    if (tz >= 64) { /* m << tz, which fits (bits + tz <= 128, checked by the caller) */
        m.hi = m.lo << (tz - 64);
        m.lo = 0;
    } else if (tz) {
        m.hi = m.hi << tz | m.lo >> (64 - tz);
        m.lo <<= tz;
    }
    return tidal__fx_add(base, sign ? tidal__fx_sub(z, m) : m);
}

static tidal__fx tidal__sd_fxd_slow(tidal__sd *d, tidal__fx base);

/* A compact fixed-point value (see tidal__enc_fxd). The fast path takes what is common,
   with 20 bytes left: zero (base itself) and magnitudes under 2^63 that fit; the careful
   reader below takes the rest and refuses, by name, whatever is malformed. */
static inline tidal__fx tidal__sd_fxd(tidal__sd *d, tidal__fx base) {
    if (d->compact && !d->r.bad && d->r.n - d->r.pos >= 20) {
        const uint8_t *p = d->r.p + d->r.pos;
        uint64_t m = 0, b;
        uint32_t i, tz;
        if (p[0] == 0) {
            d->r.pos++;
            return base;
        }
        for (i = 0; i < 9; i++) {
            b = p[i];
            m |= (b & 0x7F) << (7 * i);
            if (b < 0x80) break;
        }
        /* ended within 9 bytes, not overlong, odd, and m * 2^tz below 2^127 */
        tz = i < 9 ? (uint32_t)p[i + 1] >> 1 : 128;
        if (i < 9 && (i == 0 || p[i]) && (m & 1) && tidal__u64_bits(m) + tz < 128) {
            tidal__fx f;
            f.lo = m;
            f.hi = 0;
            d->r.pos += i + 2;
            return tidal__sd_fx_make(base, f, tz, p[i + 1] & 1u);
        }
    }
    return tidal__sd_fxd_slow(d, base);
}

static tidal__fx tidal__sd_fxd_slow(tidal__sd *d, tidal__fx base) {
    tidal__fx m = {0, 0}, z = {0, 0};
    uint32_t i, tz, sign, bits;
    uint8_t b = 0x80;
    tidal__sd_more(d, 20); /* canonical: 16 bytes; compact: at most 19 and a shift byte */
    if (!d->compact) return tidal__sd_fx(d);
    for (i = 0; i < 19 && (b & 0x80) && !d->r.bad && d->r.pos < d->r.n; i++) {
        uint64_t pay;
        uint32_t sh = 7 * i;
        b = d->r.p[d->r.pos++];
        pay = b & 0x7F;
        if ((i > 0 && b == 0) || (i == 18 && pay > 3)) { /* overlong, or beyond 128 bits */
            tidal__sd_fail(d, "bad fixed-point value");
            b = 0x80;
            break;
        }
        if (sh < 64) {
            m.lo |= pay << sh;
            if (sh > 57) m.hi |= pay >> (64 - sh);
        } else {
            m.hi |= pay << (sh - 64);
        }
    }
    if ((b & 0x80) && i == 19) tidal__sd_fail(d, "bad fixed-point value"); /* 19 bytes, unended */
    if (b & 0x80) { /* truncated or malformed (named above) */
        d->r.bad = 1;
        return z;
    }
    if (!m.lo && !m.hi) return base;
    b = (uint8_t)tidal__rd_le(&d->r, 1);
    tz = (uint32_t)b >> 1;
    sign = b & 1u;
    bits = tidal__fx_bits(m);
    if (d->r.bad) return z;
    if (!(m.lo & 1) || bits + tz > 128 || (bits + tz == 128 && !(sign && bits == 1))) {
        tidal__sd_fail(d, "bad fixed-point value");
        d->r.bad = 1;
        return z;
    }
    return tidal__sd_fx_make(base, m, tz, sign);
}

/* A length-prefixed string: interned; UINT32_MAX + *is_null for the absent marker. */
static int tidal__sd_str(tidal__sd *d, uint32_t max, uint32_t *id, int allow_null) {
    uint64_t len = tidal__sd_uv(d);
    const char *s;
    if (d->compact && !d->r.bad) len = len ? len - 1 : UINT64_MAX; /* length + 1; 0 = absent */
    if (allow_null && len == UINT64_MAX && !d->r.bad) {
        *id = UINT32_MAX;
        return 1;
    }
    if (d->r.bad || len > max) return tidal__sd_fail(d, "bad string length");
    tidal__sd_more(d, (size_t)len);
    s = tidal__rd_bytes(&d->r, (size_t)len);
    if (!s || !tidal__bytes_ok(s, (uint32_t)len)) return tidal__sd_fail(d, "bad string");
    *id = tidal__str_intern(d->db, s, (uint32_t)len);
    return *id != UINT32_MAX ? 1 : tidal__sd_fail(d, "out of memory");
}

/* A decoded aggregate before it becomes a record: wide counts, every array at its most. */
typedef struct tidal__sdbk {
    int64_t key;
    uint64_t count;
    tidal__fx w;
} tidal__sdbk;

/* The most buckets a level keeps (tidal__lvl_keep with every window on), all levels. */
#define TIDAL__SD_BUCKETS (60 + 168 + 30)

typedef struct tidal__sdsig {
    uint64_t count_pos, count_neg;
    tidal__fx w_pos, w_neg;
    int64_t t_max;
    uint32_t n_epochs;
    tidal__epoch ep[TIDAL__EPOCHS_KEPT];
    uint32_t n[TIDAL__LVLS];
    tidal__sdbk b[TIDAL__SD_BUCKETS]; /* level l's from b + tidal__sd_lvl_at(l) */
} tidal__sdsig;

static uint32_t tidal__sd_lvl_at(int l) {
    static const uint32_t at[TIDAL__LVLS] = {0, 60, 60 + 168};
    TIDAL_ASSERT(l >= 0 && l < TIDAL__LVLS);
    return at[l];
}

/* floor(t / the level's bucket width), dividing by constants (a division by a variable
   costs tens of cycles, and a load computes three per aggregate). */
static int64_t tidal__sd_lvl_key(int64_t t, int l) {
    int64_t w = l == 0 ? TIDAL__MIN_NS : l == 1 ? TIDAL__HOUR_NS : TIDAL__DAY_NS;
    int64_t q = l == 0 ? t / TIDAL__MIN_NS : l == 1 ? t / TIDAL__HOUR_NS : t / TIDAL__DAY_NS;
    TIDAL_ASSERT(l >= 0 && l < TIDAL__LVLS && w == tidal__lvl_ns[l]);
    return q * w > t ? q - 1 : q; /* truncation rounded a negative t up */
}

/* tidal__epoch_ref of t for def, and in *lim the most an epoch index may be (a quarter of
   the int64 range of time), both remembered per type: a load's aggregates mostly share
   their newest epoch, and a division costs tens of cycles. */
static int64_t tidal__sd_epoch_ref(tidal__sd *d, const tidal__sigdef *def, int64_t t,
                                   int64_t *lim) {
    uint32_t k = (uint32_t)(def - d->db->schema.sig);
    TIDAL_ASSERT(k < d->db->schema.n_sig && k < TIDAL_SIGNAL_TYPES_MAX);
    *lim = 0;
    if (def->permanent) return 0;
    TIDAL_ASSERT(def->epoch_ns > 0);
    if (!d->ep_lim[k]) d->ep_lim[k] = INT64_MAX / 4 / def->epoch_ns;
    *lim = d->ep_lim[k];
    if (!d->ep_ok[k] || t < d->ep_lo[k] ||
        (uint64_t)t - (uint64_t)d->ep_lo[k] >= (uint64_t)def->epoch_ns) {
        d->ep_at[k] = tidal__floor_div(t, def->epoch_ns);
        d->ep_ok[k] = t >= 0; /* then ep_at * epoch_ns cannot overflow */
        if (d->ep_ok[k]) d->ep_lo[k] = d->ep_at[k] * def->epoch_ns;
    }
    TIDAL_ASSERT(d->ep_at[k] == tidal__epoch_ref(def, t));
    return d->ep_at[k];
}

static int tidal__sd_sig(tidal__sd *d, tidal__sdsig *g, const tidal__sigdef *def) {
    static const tidal__fx zero = {0, 0};
    uint64_t n, prev;
    int64_t lim;
    uint32_t i;
    int l;
    g->count_pos = tidal__sd_uv(d);
    g->count_neg = tidal__sd_uv(d);
    g->w_pos = tidal__sd_fxd(d, tidal__fx_units(g->count_pos, 0));
    g->w_neg = tidal__sd_fxd(d, tidal__fx_units(g->count_neg, 1));
    g->t_max = tidal__sd_time(d);
    n = tidal__sd_uv(d);
    if (d->r.bad || n == 0 || n > TIDAL__EPOCHS_KEPT || g->count_pos + g->count_neg == 0)
        return tidal__sd_fail(d, "bad aggregate");
    prev = (uint64_t)tidal__sd_epoch_ref(d, def, g->t_max, &lim);
    for (i = 0; i < n; i++) {
        g->ep[i].e = (int64_t)tidal__sd_sv(d, prev);
        g->ep[i].acc = tidal__sd_fxd(d, zero);
        prev = (uint64_t)g->ep[i].e;
        if (i && g->ep[i].e <= g->ep[i - 1].e) return tidal__sd_fail(d, "epochs out of order");
        /* e * epoch_ns is a time: within a quarter of the int64 range, like any event's */
        if (def->permanent ? g->ep[i].e != 0 : (g->ep[i].e > lim || g->ep[i].e < -lim))
            return tidal__sd_fail(d, "epoch out of range");
    }
    g->n_epochs = (uint32_t)n;
    if (g->ep[n - 1].e - g->ep[0].e > TIDAL__EPOCHS_KEPT - 1 || (def->permanent && g->ep[0].e))
        return tidal__sd_fail(d, "epoch out of range");
    for (l = 0; l < TIDAL__LVLS; l++) {
        tidal__sdbk *b = g->b + tidal__sd_lvl_at(l);
        n = tidal__sd_uv(d);
        if (d->r.bad || n > (uint64_t)tidal__lvl_keep(def->windows, l)) return tidal__sd_fail(d, "bad bucket count");
        prev = (uint64_t)tidal__sd_lvl_key(g->t_max, l);
        for (i = 0; i < n; i++) {
            b[i].key = (int64_t)tidal__sd_sv(d, prev);
            b[i].count = tidal__sd_uv(d);
            b[i].w = tidal__sd_fxd(d, tidal__fx_units(b[i].count, 0));
            prev = (uint64_t)b[i].key;
            if (i && b[i].key <= b[i - 1].key) return tidal__sd_fail(d, "buckets out of order");
            /* a bucket of an event time: |t| / bucket_ns fits 32 bits with room to spare */
            if (b[i].key < INT32_MIN || b[i].key > INT32_MAX) return tidal__sd_fail(d, "bucket key out of range");
        }
        g->n[l] = (uint32_t)n;
    }
    return d->r.bad ? tidal__sd_fail(d, "truncated aggregate") : 1;
}

/* A decoded aggregate (src) into record g, its arrays sized to what it holds. The new
   arrays are all allocated before g changes: on failure g is as it was. g may be fresh
   (tidal__sig_new) or one the state already holds (an install chunk may repeat an item
   another chunk of it made). */
static int tidal__sd_sig_into(tidal_db *db, tidal__sig *g, const tidal__sdsig *src) {
    tidal__bvec nv[TIDAL__LVLS];
    tidal__epoch *ep = NULL;
    uint32_t i, cap_ep = 1;
    int l, ok = 1;
    memset(nv, 0, sizeof nv);
    TIDAL_ASSERT(src->n_epochs >= 1 && src->n_epochs <= TIDAL__EPOCHS_KEPT);
    if (src->n_epochs > 1) {
        ok = (ep = (tidal__epoch *)tidal__arena_alloc(db, sizeof(tidal__epoch) * src->n_epochs)) != NULL;
        cap_ep = (uint32_t)(tidal__arena_room(sizeof(tidal__epoch) * src->n_epochs) / sizeof(tidal__epoch));
    }
    for (l = 0; ok && l < TIDAL__LVLS; l++) { /* each level's chunk at its exact size */
        const tidal__sdbk *b = src->b + tidal__sd_lvl_at(l);
        size_t elem = sizeof(tidal__bucket), room;
        int wide = 0;
        if (!src->n[l]) continue;
        for (i = 0; i < src->n[l]; i++) wide |= tidal__bk_needs_wide(b[i].count, b[i].w);
        if (wide) elem += TIDAL__BK_WIDE_BYTES;
        if (!(nv[l].b = (tidal__bucket *)tidal__arena_alloc(db, elem * src->n[l]))) {
            ok = 0;
            break;
        }
        room = tidal__arena_room(elem * src->n[l]) / elem;
        nv[l].cap = (uint16_t)(room >= TIDAL__BCAP_WIDE ? TIDAL__BCAP_WIDE - 1 : room);
        nv[l].wide = (uint16_t)wide;
    }
    if (!ok) {
        if (ep) tidal__arena_free(db, ep, sizeof(tidal__epoch) * src->n_epochs);
        for (l = 0; l < TIDAL__LVLS; l++) tidal__arena_free(db, nv[l].b, tidal__bvec_bytes(nv[l].cap, nv[l].wide));
        return 0;
    }
    if (g->cap_epochs > 1) tidal__arena_free(db, g->ep.out, sizeof(tidal__epoch) * g->cap_epochs);
    if (g->bcap[0] | g->bcap[1] | g->bcap[2]) tidal__sig_free_levels(db, g); /* fresh: none */
    g->count_pos = src->count_pos;
    g->count_neg = src->count_neg;
    g->w_pos = src->w_pos;
    g->w_neg = src->w_neg;
    g->t_max = src->t_max;
    g->cap_epochs = (uint8_t)cap_ep;
    if (ep) g->ep.out = ep;
    memcpy(TIDAL__EPS(g), src->ep, sizeof(tidal__epoch) * src->n_epochs);
    g->n_epochs = (uint8_t)src->n_epochs;
    for (l = 0; l < TIDAL__LVLS; l++) {
        const tidal__sdbk *b = src->b + tidal__sd_lvl_at(l);
        tidal__bvec *v = &nv[l];
        for (i = 0; i < src->n[l]; i++) tidal__bk_set(v, i, b[i].key, b[i].count, b[i].w);
        v->n = (uint16_t)src->n[l];
        tidal__lvl_set(g, l, v);
    }
    return 1;
}

/* A decoded aggregate src as a new record: one arena chunk for the record and one per
   array it holds, at exactly its decoded size. The lines the next records will take are
   fetched first: the arena's block is fresh memory the OS zeroed a while ago, out of the
   nearest caches, and a load writes hundreds of megabytes of it. */
static tidal__sig *tidal__sd_sig_pack(tidal_db *db, const tidal__sdsig *src, uint32_t ent, uint32_t lb) {
    const char *ahead = db->st.arena.cur;
    tidal__sig *g;
    if (ahead && db->st.arena.end - ahead >= 512) {
        TIDAL__PREFETCH(ahead + 256);
        TIDAL__PREFETCH(ahead + 320);
        TIDAL__PREFETCH(ahead + 384);
        TIDAL__PREFETCH(ahead + 448);
    }
    g = tidal__sig_new(db, ent, lb);
    if (!g) return NULL;
    if (!tidal__sd_sig_into(db, g, src)) {
        tidal__sig_free(db, g);
        return NULL;
    }
    TIDAL_ASSERT(g->lb_slot == -1 && g->ent == ent);
    return g;
}

/* tidal__sig_for for a decoded aggregate src: its arrays are allocated once at their
   decoded size (tidal__sd_sig_pack). Every later fold still reserves (tidal__sig_reserve
   in tidal__apply_signal). */
static tidal__sig *tidal__sd_sig_make(tidal__sd *d, tidal__entity *e, uint32_t type, int cohort,
                                      uint32_t ckey, uint32_t cval, const tidal__sdsig *src) {
    tidal_db *db = d->db;
    uint32_t ent = tidal__ent_index(db, e), lb;
    tidal__sig *g;
    tidal__csig *c;
    TIDAL_ASSERT(e->sigs && type < db->schema.n_sig && type < TIDAL_SIGNAL_TYPES_MAX);
    if (!cohort) {
        if (e->sigs[type]) return tidal__sd_sig_into(db, e->sigs[type], src) ? e->sigs[type] : NULL;
        lb = d->bulk ? d->lb_of[type] : UINT32_MAX; /* bulk: found once per tenant */
        if (lb == UINT32_MAX) lb = tidal__lb_make(db, e->tenant, type, 0, 0);
        if (d->bulk) d->lb_of[type] = lb;
        if (lb == UINT32_MAX || !(g = tidal__sd_sig_pack(db, src, ent, lb))) return NULL;
        return e->sigs[type] = g;
    }
    TIDAL_ASSERT(!tidal__csig_find(e, type, ckey, cval));
    if (e->n_csigs >= TIDAL_COHORT_SIGS_MAX || !TIDAL__AGROW(db, e->csigs, e->cap_csigs, e->n_csigs + 1))
        return NULL;
    lb = tidal__lb_make(db, e->tenant, type, ckey + 1, cval);
    if (lb == UINT32_MAX || !(g = tidal__sd_sig_pack(db, src, ent, lb))) return NULL;
    c = &e->csigs[e->n_csigs++];
    c->type = type;
    c->ckey = ckey;
    c->cval = cval;
    c->sig = g;
    return g;
}

static int tidal__sd_attrs(tidal__sd *d, tidal__entity *e) {
    uint64_t n = tidal__sd_uv(d), i;
    if (d->r.bad || n > TIDAL_ATTRS_MAX * 4) return tidal__sd_fail(d, "bad attribute count");
    if (n && !TIDAL__GROW(d->db, e->attrs, e->cap_attrs, (uint32_t)n)) return tidal__sd_fail(d, "out of memory");
    for (i = 0; i < n; i++) {
        tidal__attr *a = &e->attrs[i];
        uint64_t lw;
        if (!tidal__sd_str(d, TIDAL_NAME_MAX, &a->key, 0) || !tidal__sd_str(d, TIDAL_VALUE_MAX, &a->value, 1))
            return 0;
        if (!tidal__name_bytes_ok(d->db->st.strs[a->key].s, d->db->st.strs[a->key].len)) return tidal__sd_fail(d, "bad attribute key");
        if (i && tidal__str_cmp(d->db, e->attrs[i - 1].key, a->key) >= 0) return tidal__sd_fail(d, "attributes out of order");
        a->hlc.wall_ns = tidal__sd_time(d);
        lw = tidal__sd_uv(d);
        a->hlc.logical = (uint32_t)(lw >> 32);
        a->hlc.node = (uint32_t)lw;
        e->n_attrs = (uint32_t)i + 1;
        if (d->db->st.strs[a->key].len == 7 && !memcmp(d->db->st.strs[a->key].s, "creator", 7))
            e->creator = a->value == UINT32_MAX ? 0 : tidal__parse_id(d->db->st.strs[a->value].s, d->db->st.strs[a->value].len);
    }
    return 1;
}

/* tidal__ent_make_sigs; bulk: the tenant's row is found (made) once, and its item list
   reserved for every row still to read (tidal__sd_tenant). */
static int tidal__sd_make_sigs(tidal__sd *d, tidal__entity *e) {
    tidal_db *db = d->db;
    tidal__tenant *t;
    if (e->sigs) return 1;
    if (!d->bulk) return tidal__ent_make_sigs(db, e);
    if (d->ten == UINT32_MAX) {
        if (!(t = tidal__tenant_make(db, e->tenant))) return 0;
        d->ten = (uint32_t)(t - db->st.tenants);
        if (!TIDAL__GROW(db, t->items, t->cap_items, t->n_items + d->ents_left)) return 0;
    }
    TIDAL_ASSERT(d->ten < db->st.n_tenants && d->ents_left > 0);
    return tidal__ent_make_sigs_in(db, e, &db->st.tenants[d->ten]);
}

static int tidal__sd_sigs(tidal__sd *d, tidal__entity *e) {
    tidal_db *db = d->db;
    uint64_t t, n, i, prev = 0;
    tidal__sdsig tmp;
    for (;;) {
        tidal__sig *g;
        t = tidal__sd_uv(d);
        if (d->r.bad) return tidal__sd_fail(d, "truncated entity");
        if (t == (d->compact ? 0 : UINT64_MAX)) break;
        t -= d->compact != 0; /* compact: type + 1 */
        if (t >= db->schema.n_sig || (e->sigs && t < prev))
            return tidal__sd_fail(d, "bad signal type");
        prev = t + 1;
        if (!tidal__sd_sig(d, &tmp, &db->schema.sig[t])) return 0;
        if (!tidal__sd_make_sigs(d, e) || !(g = tidal__sd_sig_make(d, e, (uint32_t)t, 0, 0, 0, &tmp)))
            return tidal__sd_fail(d, "out of memory");
        tidal__lb_update(db, g);
    }
    n = tidal__sd_uv(d);
    if (d->r.bad || n > TIDAL_COHORT_SIGS_MAX) return tidal__sd_fail(d, "bad cohort count");
    for (i = 0; i < n; i++) {
        uint64_t tk = tidal__sd_uv(d);
        uint32_t type = (uint32_t)(tk >> 32), ckey = (uint32_t)tk, cval;
        tidal__sig *g;
        if (d->r.bad || type >= db->schema.n_sig || ckey >= db->schema.n_ckey)
            return tidal__sd_fail(d, "bad cohort aggregate");
        if (!tidal__sd_str(d, TIDAL_VALUE_MAX, &cval, 0)) return 0;
        if (tidal__csig_find(e, type, ckey, cval)) return tidal__sd_fail(d, "repeated cohort aggregate");
        if (!tidal__sd_sig(d, &tmp, &db->schema.sig[type])) return 0;
        if (!tidal__sd_make_sigs(d, e) || !(g = tidal__sd_sig_make(d, e, type, 1, ckey, cval, &tmp)))
            return tidal__sd_fail(d, "out of memory");
        tidal__lb_update(db, g);
    }
    return 1;
}

static int tidal__sd_idvec(tidal__sd *d, tidal__idvec *v) {
    uint64_t n = tidal__sd_uv(d), i, hi = 0, lo = 0;
    if (d->r.bad || !tidal__sd_room(d, n, 16)) return tidal__sd_fail(d, "bad tag count");
    if (n && !TIDAL__GROW(d->db, v->v, v->cap, (uint32_t)n)) return tidal__sd_fail(d, "out of memory");
    for (i = 0; i < n; i++) {
        v->v[i].hi = tidal__sd_sv(d, hi);
        v->v[i].lo = tidal__sd_sv(d, v->v[i].hi == hi ? lo : 0);
        hi = v->v[i].hi;
        lo = v->v[i].lo;
        if (d->r.bad) return tidal__sd_fail(d, "truncated tags");
        if (i && tidal__id_cmp(v->v[i - 1], v->v[i]) >= 0) return tidal__sd_fail(d, "tags out of order");
    }
    v->n = (uint32_t)n;
    return 1;
}

static int tidal__sd_user(tidal__sd *d, tidal__entity *e) {
    uint64_t n = tidal__sd_uv(d), i, prev = 0;
    tidal__user *u;
    if (d->r.bad) return tidal__sd_fail(d, "truncated user");
    if (n == (d->compact ? 0 : UINT64_MAX)) return 1;
    n -= d->compact != 0; /* compact: count + 1 */
    if (n > TIDAL_NEGATIVES_MAX * 4) return tidal__sd_fail(d, "bad negative count");
    if (!(u = tidal__user_make(d->db, e))) return tidal__sd_fail(d, "out of memory");
    for (i = 0; i < n; i++) {
        uint64_t kind = tidal__sd_uv(d);
        tidal_id target = tidal__sd_sv(d, prev);
        tidal__neg *g;
        prev = target;
        if (d->r.bad || kind < TIDAL_HIDE || kind > TIDAL_BLOCK || !target) return tidal__sd_fail(d, "bad negative");
        if (u->n_negs && tidal__neg_cmp(u->negs[u->n_negs - 1].kind, u->negs[u->n_negs - 1].target, (uint32_t)kind, target) >= 0)
            return tidal__sd_fail(d, "negatives out of order");
        if (!(g = tidal__neg_make(d->db, u, (uint32_t)kind, target))) return tidal__sd_fail(d, "out of memory");
        if (!tidal__sd_idvec(d, &g->adds) || !tidal__sd_idvec(d, &g->tombs)) return 0;
        if (!g->adds.n && !g->tombs.n) return tidal__sd_fail(d, "empty negative");
        u->n_live += g->adds.n > 0;
    }
    n = tidal__sd_uv(d);
    if (d->r.bad || !tidal__sd_room(d, n, 8)) return tidal__sd_fail(d, "bad seen count");
    for (i = 0, prev = 0; i < n; i++) {
        uint64_t it = tidal__sd_sv(d, prev);
        if (d->r.bad || !it || (i && it <= prev)) return tidal__sd_fail(d, "seen out of order");
        if (tidal__set_add(d->db, &u->seen, it) < 0) return tidal__sd_fail(d, "out of memory");
        prev = it;
    }
    return 1;
}

static int tidal__sd_session(tidal__sd *d, uint32_t tenant, tidal_id prev) {
    tidal_db *db = d->db;
    tidal_id id = tidal__sd_sv(d, prev);
    tidal__session *s;
    uint64_t flags, n, i, seq = 0;
    if (d->r.bad || !id || id <= prev) return tidal__sd_fail(d, "sessions out of order");
    if (!(s = tidal__sess_make(db, tenant, id))) return tidal__sd_fail(d, "out of memory");
    s->user = tidal__sd_uv(d);
    s->start_ns = tidal__sd_time(d);
    s->ttl_ns = (int64_t)tidal__sd_uv(d);
    flags = tidal__sd_uv(d);
    s->hwm = tidal__sd_uv(d);
    n = tidal__sd_uv(d);
    if (d->r.bad || flags > 7 || s->ttl_ns < 0 || s->start_ns < 0 || s->ttl_ns > INT64_MAX - s->start_ns ||
        !tidal__sd_room(d, n, 40))
        return tidal__sd_fail(d, "bad session");
    s->has_start = (int)(flags & 1);
    s->ended = (uint32_t)(flags >> 1);
    if (s->has_start && s->ttl_ns && s->start_ns + s->ttl_ns < db->st.next_expiry_ns && !(s->ended & 2))
        db->st.next_expiry_ns = s->start_ns + s->ttl_ns;
    if (n && !TIDAL__GROW(db, s->j, s->cap_j, (uint32_t)n)) return tidal__sd_fail(d, "out of memory");
    for (i = 0; i < n; i++) {
        tidal__jentry *j = &s->j[i];
        uint64_t kt;
        memset(j, 0, sizeof *j);
        j->seq = seq = tidal__sd_sv(d, seq);
        kt = tidal__sd_uv(d);
        j->kind = (uint32_t)(kt >> 32);
        j->type = (uint32_t)kt;
        j->item = tidal__sd_uv(d);
        tidal__sd_more(d, 8);
        j->weight = tidal__rd_f64(&d->r);
        j->time_ns = tidal__sd_time(d);
        if (j->kind == TIDAL_SESSION_NOTE && !tidal__sd_str(d, TIDAL_NOTE_MAX, &j->note, 0)) return 0;
        if (d->r.bad || !j->seq || (i && j->seq <= s->j[i - 1].seq) ||
            (j->kind != TIDAL_SESSION_NOTE && (j->kind != TIDAL_SESSION_SIGNAL || j->type >= db->schema.n_sig)))
            return tidal__sd_fail(d, "bad journal entry");
        s->n_j = (uint32_t)i + 1;
    }
    for (i = 0; i < s->n_j && s->j[i].seq <= s->hwm; i++) {}
    if (i != s->hwm || (i < s->n_j && s->j[i].seq == s->hwm + 1)) return tidal__sd_fail(d, "bad high-water mark");
    return 1;
}

/* Enters rows [from, db->st.n_ents) (tidal__ent_append) in ent_map, which has room. Their
   keys are distinct and absent (ascending ids of one tenant, into a state that held none
   of that tenant's), so each is placed without a lookup; the slot TIDAL__SD_AHEAD rows
   ahead is prefetched, because a million random slots otherwise cost a cache miss each, one at
   a time. */
#define TIDAL__SD_AHEAD 32 /* slots in flight: a probe is a few ns, a miss ~100 */
static void tidal__sd_ent_map(tidal_db *db, uint32_t from) {
    tidal__emap *m = &db->st.ent_map;
    uint32_t i, n = db->st.n_ents;
    uint64_t h[TIDAL__SD_AHEAD]; /* row i's hash at i % TIDAL__SD_AHEAD, made when fetched */
    TIDAL_ASSERT(from <= n && (uint64_t)(m->n + (n - from)) * 2 <= m->cap);
    for (i = from; i < n && i < from + TIDAL__SD_AHEAD; i++) {
        h[i % TIDAL__SD_AHEAD] = tidal__map_hash(db->st.ents[i].tenant, db->st.ents[i].id);
        TIDAL__PREFETCH(&m->s[(uint32_t)h[i % TIDAL__SD_AHEAD] & (m->cap - 1)]);
    }
    for (i = from; i < n; i++) {
        uint64_t hi = h[i % TIDAL__SD_AHEAD];
        if (i + TIDAL__SD_AHEAD < n) {
            const tidal__entity *a = &db->st.ents[i + TIDAL__SD_AHEAD];
            h[i % TIDAL__SD_AHEAD] = tidal__map_hash(a->tenant, a->id);
            TIDAL__PREFETCH(&m->s[(uint32_t)h[i % TIDAL__SD_AHEAD] & (m->cap - 1)]);
        }
        tidal__emap_place(m, hi, i);
        m->n++;
    }
    TIDAL_ASSERT(n == from ||
                 tidal__emap_get(db, db->st.ents[n - 1].tenant, db->st.ents[n - 1].id) == n - 1);
}

static int tidal__sd_tenant(tidal__sd *d, uint32_t tenant) {
    tidal_db *db = d->db;
    uint64_t n = tidal__sd_uv(d), i;
    uint32_t from = db->st.n_ents;
    tidal_id prev = 0;
    int ok = 1;
    /* An entity takes at least five words (id, attribute count, end of signals, cohort
       count, user marker): bounded so, the table and its map are sized once up front. */
    if (d->r.bad || !tidal__sd_room(d, n, 40) || n > TIDAL_ENTITIES_MAX - db->st.n_ents)
        return tidal__sd_fail(d, "bad entity count");
    if (n && (!TIDAL__GROW(db, db->st.ents, db->st.cap_ents, db->st.n_ents + (uint32_t)n) ||
              !tidal__emap_reserve(db, &db->st.ent_map, db->st.ent_map.n + (uint32_t)n)))
        return tidal__sd_fail(d, "out of memory");
    d->ten = UINT32_MAX; /* bulk: this tenant's row and lists, found when first needed */
    memset(d->lb_of, 0xFF, sizeof d->lb_of);
    for (i = 0; ok && i < n; i++) {
        tidal_id id = tidal__sd_sv(d, prev);
        tidal__entity *e;
        d->ents_left = (uint32_t)(n - i);
        if (d->r.bad || !id || id <= prev) {
            ok = tidal__sd_fail(d, "entities out of order");
            break;
        }
        /* bulk (a whole snapshot into an empty state): the rows go into the map after */
        e = d->bulk ? tidal__ent_append(db, tenant, id) : tidal__ent_make(db, tenant, id);
        if (!e) ok = tidal__sd_fail(d, "out of memory");
        else ok = tidal__sd_attrs(d, e) && tidal__sd_sigs(d, e) && tidal__sd_user(d, e);
        prev = id;
    }
    if (d->bulk) tidal__sd_ent_map(db, from); /* even on failure: the state stays consistent */
    if (!ok) return 0;
    n = tidal__sd_uv(d);
    if (d->r.bad || !tidal__sd_room(d, n, 8)) return tidal__sd_fail(d, "bad session count");
    for (i = 0, prev = 0; i < n; i++) {
        if (!tidal__sd_session(d, tenant, prev)) return 0;
        prev = db->st.sess[db->st.n_sess - 1].id;
    }
    return 1;
}

/* Reads an applied-event index into db's, as the union of both (a snapshot's into an empty
   state; an install's into a live one, >>migration). strict (TIDAL__INDEX_STRICT): a key id
   db already holds is a corrupt encoding (a snapshot lists each once), not a duplicate to
   skip. TIDAL__INDEX_FOREIGN: another group's index, whose entries for this group's own
   origins are left out (see below). */
#define TIDAL__INDEX_UNION 0
#define TIDAL__INDEX_STRICT 1
#define TIDAL__INDEX_FOREIGN 2

/* The replica group an origin belongs to: its incarnation's top byte (tidal__incarnation). */
static uint32_t tidal__origin_group(uint64_t origin) { return (uint32_t)(origin >> 24) & 0xFFu; }

/* A new life's incarnation: 24 random bits under the group id, so an event id names the
   group that wrote it (a node runs one member per group; >>migration needs to tell them
   apart). Never 0. */
static uint32_t tidal__incarnation(const tidal_db *db, uint32_t random) {
    uint32_t low = random & 0xFFFFFFu;
    return (db->rep.group & 0xFFu) << 24 | (low ? low : 1u);
}
static int tidal__sd_index(tidal__sd *d, int strict) {
    tidal_db *db = d->db;
    uint64_t n = tidal__sd_uv(d), i, j, m, prev = 0;
    if (d->r.bad || !tidal__sd_room(d, n, 24)) return tidal__sd_fail(d, "bad origin count");
    for (i = 0; i < n; i++) {
        tidal__origin *o;
        uint64_t origin = tidal__sd_sv(d, prev), hwm = tidal__sd_uv(d), last, k;
        if (d->r.bad || (origin & TIDAL__IDEM_BIT) || (i && origin <= prev)) return tidal__sd_fail(d, "origins out of order");
        prev = origin;
        if (strict == TIDAL__INDEX_FOREIGN && tidal__origin_group(origin) == db->rep.group) {
            /* An origin of this replica group: its events reach us natively, and an index
               from another group may list ones that have not yet (forwarded there for
               another tenant's move): marking them would drop them when they arrive. */
            m = tidal__sd_uv(d);
            if (d->r.bad || !tidal__sd_room(d, m, 8)) return tidal__sd_fail(d, "bad origin marks");
            for (j = 0; j < m; j++) (void)tidal__sd_uv(d); /* canonical or compact: a word each */
            if (d->r.bad) return tidal__sd_fail(d, "bad origin marks");
            continue;
        }
        if (!(o = tidal__origin_find(db, origin))) {
            if (!TIDAL__GROW(db, db->st.origins, db->st.cap_origins, db->st.n_origins + 1)) return tidal__sd_fail(d, "out of memory");
            o = &db->st.origins[db->st.n_origins++];
            memset(o, 0, sizeof *o);
            o->origin = origin;
        }
        if (hwm > o->hwm) { /* the contiguous prefix grows: marks it now covers go */
            for (k = 0; k < o->above.cap; k++)
                if (o->above.slot[k] && o->above.slot[k] <= hwm) {
                    tidal__set_del(&o->above, o->above.slot[k]);
                    k = (uint64_t)-1; /* deletion may move entries: rescan */
                }
            o->hwm = hwm;
        }
        m = tidal__sd_uv(d);
        if (d->r.bad || !tidal__sd_room(d, m, 8)) return tidal__sd_fail(d, "bad origin marks");
        for (j = 0, last = hwm; j < m; j++) {
            uint64_t s = tidal__sd_sv(d, last);
            if (d->r.bad || s <= last + (j == 0)) return tidal__sd_fail(d, "origin marks out of order");
            last = s;
            if (s > o->hwm && tidal__set_add(db, &o->above, s) < 0) return tidal__sd_fail(d, "out of memory");
        }
        while (o->above.n && tidal__set_has(&o->above, o->hwm + 1)) {
            tidal__set_del(&o->above, o->hwm + 1);
            o->hwm++;
        }
    }
    n = tidal__sd_uv(d);
    if (d->r.bad || !tidal__sd_room(d, n, 24)) return tidal__sd_fail(d, "bad key count");
    for (i = 0; i < n; i++) {
        tidal_event_id id;
        int64_t t;
        tidal__sd_more(d, 16);
        id.hi = tidal__rd_u64(&d->r); /* hashes: fixed 8 bytes in both formats */
        id.lo = tidal__rd_u64(&d->r);
        t = tidal__sd_time(d);
        if (d->r.bad || !(id.hi & TIDAL__IDEM_BIT) || (strict == TIDAL__INDEX_STRICT && tidal__event_applied(db, id)))
            return tidal__sd_fail(d, "bad key id");
        if (!tidal__event_applied(db, id) && !tidal__event_mark(db, id, t)) return tidal__sd_fail(d, "out of memory");
    }
    return 1;
}

/* Per tenant, the newest install or drop (>>migration), ascending by tenant. */
static int tidal__sd_tgen(tidal__sd *d) {
    tidal_db *db = d->db;
    uint64_t n = tidal__sd_uv(d), i;
    if (d->r.bad || !tidal__sd_room(d, n, 16)) return tidal__sd_fail(d, "bad generation count");
    if (n && !TIDAL__GROW(db, db->st.tgen, db->st.cap_tgen, (uint32_t)n)) return tidal__sd_fail(d, "out of memory");
    for (i = 0; i < n; i++) {
        uint64_t tc = tidal__sd_uv(d);
        tidal__tgen *g = &db->st.tgen[i];
        g->tenant = (uint32_t)(tc >> 32);
        g->complete = (uint32_t)tc;
        g->gen = tidal__sd_uv(d);
        if (d->r.bad || g->complete > 1 || !g->gen || (i && g->tenant <= db->st.tgen[i - 1].tenant))
            return tidal__sd_fail(d, "install generations out of order");
        db->st.n_tgen = (uint32_t)i + 1;
    }
    return 1;
}

/* The body of a snapshot, after the tenants: the index, install generations, replication
   position. */
static const char *tidal__snap_decode_tail(tidal__sd *d) {
    tidal_db *db = d->db;
    if (!tidal__sd_index(d, TIDAL__INDEX_STRICT)) return d->why ? d->why : "bad index";
    if (!tidal__sd_tgen(d)) return d->why ? d->why : "bad install generations";
    db->rep.epoch = tidal__sd_uv(d);
    db->rep.log_epoch = tidal__sd_uv(d);
    db->rep.log_pos = tidal__sd_uv(d);
    db->rep.pos_epoch = tidal__sd_uv(d);
    db->rep.leader_pos = tidal__sd_uv(d);
    db->stats.events_applied = tidal__sd_uv(d);
    db->stats.events_internal = tidal__sd_uv(d);
    if (d->r.bad) return d->why ? d->why : "truncated replication position";
    return d->r.pos != d->r.n || (d->src && d->src->left) ? "trailing bytes" : NULL;
}

/* Decodes the body d reads (d->r, and d->src if it streams) into the state: NULL on
   success, else why, and *at the body offset where it was found. */
static const char *tidal__snap_decode_sd(tidal__sd *d, size_t *at) {
    uint64_t nt, i, prev = 0;
    const char *why = NULL;
    tidal_db *db = d->db;
    d->bulk = db->st.n_ents == 0; /* tenants ascend, and ids in each: no row can repeat */
    nt = tidal__sd_uv(d);
    if (d->r.bad || !tidal__sd_room(d, nt, 8)) {
        tidal__sd_fail(d, "bad tenant count");
        why = d->why;
    }
    for (i = 0; !why && i < nt; i++) {
        uint64_t t = tidal__sd_uv(d);
        if (d->r.bad || t > UINT32_MAX || (i && t <= prev)) {
            tidal__sd_fail(d, "tenants out of order");
            why = d->why;
        } else if (!tidal__sd_tenant(d, (uint32_t)t)) {
            why = d->why ? d->why : "bad tenant";
        }
        prev = t;
    }
    if (!why) why = tidal__snap_decode_tail(d);
    *at = d->why ? d->at : d->base + d->r.pos;
    TIDAL_ASSERT(d->r.pos <= d->r.n);
    return why;
}

/* Decodes a snapshot body in memory (canonical for format 3, compact for 4) into the
   (empty) state. NULL on success, else why, and *at the body offset where it was found. */
static const char *tidal__snap_decode_fmt(tidal_db *db, const uint8_t *body, size_t len,
                                          int compact, size_t *at) {
    tidal__sd d;
    const char *why;
    memset(&d, 0, sizeof d);
    d.db = db;
    d.r.p = body;
    d.r.n = len;
    d.compact = compact;
    why = tidal__snap_decode_sd(&d, at);
    TIDAL_ASSERT(*at <= len);
    return why;
}

/* A canonical body (state transfers and >>migration use it): NULL on success, else why. */
static const char *tidal__snap_decode(tidal_db *db, const uint8_t *body, size_t len) {
    size_t at;
    return tidal__snap_decode_fmt(db, body, len, 0, &at);
}

/* ---- writing ---- */

/* Streams the body (state, then the applied-event index) through x. */
static tidal_result tidal__snap_body(tidal_db *db, tidal__enc *x, tidal__sortkey *keys,
                                     uint32_t *tids, uint32_t ntc, uint64_t *seen, uint64_t skip) {
    uint32_t nt, i, k;
    tidal_result r;
    tidal_blake3_init(&x->h);
    nt = tidal__digest_tenants(db, tids, ntc);
    for (i = k = 0; i < nt; i++) /* skip: a tenant to leave out (>>migration), or none */
        if (tids[i] != skip) tids[k++] = tids[i];
    nt = k;
    tidal__enc_uv(x, nt);
    for (i = 0; i < nt; i++) tidal__enc_tenant(x, db, tids[i], keys, seen);
    r = tidal__enc_index(x, db);
    tidal__enc_flush(x);
    return r != TIDAL_OK ? r : x->err;
}

/* The body in memory, leaving tenant skip out (TIDAL_ALL_TENANTS: none); compact: format
   4's encoding, else the canonical one (state transfers, >>migration). */
static tidal_result tidal__snap_body_fmt(tidal_db *db, uint64_t skip, int compact, uint8_t **out,
                                         size_t *len, size_t *cap) {
    uint32_t i, n = (db->st.n_ents > db->st.n_sess ? db->st.n_ents : db->st.n_sess) + 1;
    uint32_t ntc = db->st.n_ents + db->st.n_sess + 1, max_seen = 1;
    tidal__sortkey *keys;
    uint32_t *tids;
    uint64_t *seen;
    tidal__enc *x = (tidal__enc *)tidal__zalloc(db, sizeof(tidal__enc));
    tidal_result r = TIDAL_ERR_NOMEM;
    for (i = 0; i < db->st.n_ents; i++)
        if (db->st.ents[i].user && db->st.ents[i].user->seen.n > max_seen) max_seen = db->st.ents[i].user->seen.n;
    keys = (tidal__sortkey *)tidal__alloc(db, sizeof(tidal__sortkey) * n);
    tids = (uint32_t *)tidal__alloc(db, sizeof(uint32_t) * ntc);
    seen = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * max_seen);
    *out = NULL;
    *len = *cap = 0;
    if (x && keys && tids && seen) {
        x->db = db;
        x->to_mem = 1;
        x->compact = compact;
        r = tidal__snap_body(db, x, keys, tids, ntc, seen, skip);
        if (r == TIDAL_OK) {
            *out = x->mem;
            *len = (size_t)x->off;
            *cap = x->mem_cap;
        } else {
            tidal__free(db, x->mem, x->mem_cap);
        }
    }
    tidal__free(db, keys, sizeof(tidal__sortkey) * n);
    tidal__free(db, tids, sizeof(uint32_t) * ntc);
    tidal__free(db, seen, sizeof(uint64_t) * max_seen);
    tidal__free(db, x, sizeof(tidal__enc));
    return r;
}

static tidal_result tidal__snap_body_skip(tidal_db *db, uint64_t skip, uint8_t **out, size_t *len,
                                          size_t *cap) {
    return tidal__snap_body_fmt(db, skip, 0, out, len, cap);
}

/* The canonical body in memory (fuzzers and tests compare encodings). *out is
   db-allocated with *cap bytes; free with tidal__free(db, *out, *cap). */
TIDAL__TESTING static tidal_result tidal__snap_body_mem(tidal_db *db, uint8_t **out, size_t *len, size_t *cap) {
    return tidal__snap_body_fmt(db, TIDAL_ALL_TENANTS, 0, out, len, cap);
}

static void tidal__snap_retire(tidal_db *db);
static tidal_result tidal__collect_save(tidal_db *db); /* >>migration */
static int tidal__rep_leading(const tidal__member *rm);
static uint64_t tidal__group_stable(const tidal_db *db);

TIDAL_API tidal_result tidal_db_snapshot(tidal_db *db) {
    const tidal_env *env;
    tidal__enc x;
    tidal__snap_hdr h;
    uint8_t hdr[TIDAL__SNAP_HDR];
    char tmp[TIDAL_PATH_MAX + 64], fin[TIDAL_PATH_MAX + 64];
    tidal_result r;
    uint32_t i, n, ntc, max_seen = 1;
    tidal__sortkey *keys = NULL;
    uint32_t *tids = NULL;
    uint64_t *seen = NULL;
    if (!db) return TIDAL_ERR_INVALID;
    if (!db->log.wal_on) return tidal__err(db, TIDAL_ERR_INVALID, "snapshot needs a durable database (config.path)");
    if (db->fatal) return tidal__err(db, TIDAL_ERR_FATAL, "handle failed earlier; reopen");
    if ((r = tidal__commit(db)) != TIDAL_OK) return r;
    /* A drop this snapshot covers is not replayed after it: the tenants it leaves to
       collect are on disk first (>>migration). */
    if (db->log.n_collect && !db->log.collect_saved && (r = tidal__collect_save(db)) != TIDAL_OK)
        return r;
    env = db->env;
    /* Recovery relies on the log reaching every snapshot's lsn (>>recovery): without
       per-batch syncs, sync the active segment now (older ones were synced when sealed). */
    if (db->log.seg && db->log.fsync_policy == TIDAL_FSYNC_NONE &&
        (r = env->file_sync(env->user, db->log.seg)) != TIDAL_OK) {
        db->fatal = 1;
        return tidal__err(db, r, "snapshot: log sync failed (%s); the handle must be reopened",
                          tidal_strerror(r));
    }
    tidal__seg_name(db, db->log.durable_lsn, "tmp", tmp, sizeof tmp);
    tidal__seg_name(db, db->log.durable_lsn, "snap", fin, sizeof fin);
    n = (db->st.n_ents > db->st.n_sess ? db->st.n_ents : db->st.n_sess) + 1;
    ntc = db->st.n_ents + db->st.n_sess + 1; /* every tenant with content, whatever it holds */
    for (i = 0; i < db->st.n_ents; i++)
        if (db->st.ents[i].user && db->st.ents[i].user->seen.n > max_seen) max_seen = db->st.ents[i].user->seen.n;
    keys = (tidal__sortkey *)tidal__alloc(db, sizeof(tidal__sortkey) * n);
    tids = (uint32_t *)tidal__alloc(db, sizeof(uint32_t) * ntc);
    seen = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * max_seen);
    memset(&x, 0, sizeof x);
    x.db = db;
    x.compact = TIDAL_SNAPSHOT_FORMAT_VERSION >= 4;
    r = (keys && tids && seen) ? env->file_open(env->user, tmp, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE, &x.file)
                               : TIDAL_ERR_NOMEM;
    if (r != TIDAL_OK && r != TIDAL_ERR_NOMEM) r = tidal__io_err(db, r, "open", tmp);
    if (r == TIDAL_OK && (r = env->file_truncate(env->user, x.file, 0)) != TIDAL_OK)
        r = tidal__io_err(db, r, "truncate", tmp);
    if (r == TIDAL_OK) {
        x.off = TIDAL__SNAP_HDR;
        r = tidal__snap_body(db, &x, keys, tids, ntc, seen, TIDAL_ALL_TENANTS);
        if (r != TIDAL_OK && r == x.err) r = tidal__io_err(db, r, "write", tmp); /* the file's */
    }
    if (r == TIDAL_OK) {
        uint8_t tmphdr[TIDAL__SNAP_HDR];
        memset(&h, 0, sizeof h);
        h.magic = TIDAL__SNAP_MAGIC;
        h.version = TIDAL_SNAPSHOT_FORMAT_VERSION;
        h.node = tidal__node_word(db->node);
        h.incarnation = db->incarnation;
        h.lsn = db->log.durable_lsn;
        h.body_len = x.off - TIDAL__SNAP_HDR;
        h.schema_fp = db->schema.schema_fp;
        h.hlc = db->hlc;
        tidal__snap_hdr_put(tmphdr, &h);
        tidal_blake3_update(&x.h, tmphdr, TIDAL__SNAP_HDR); /* body || zeroed header */
        tidal_blake3_final(&x.h, h.sum, 32);
        tidal__snap_hdr_put(hdr, &h);
        r = env->file_write(env->user, x.file, 0, hdr, TIDAL__SNAP_HDR);
        if (r != TIDAL_OK) r = tidal__io_err(db, r, "write", tmp);
    }
    if (r == TIDAL_OK && (r = env->file_sync(env->user, x.file)) != TIDAL_OK)
        r = tidal__io_err(db, r, "fsync", tmp);
    if (x.file) env->file_close(env->user, x.file);
    if (r == TIDAL_OK && (r = env->file_rename(env->user, tmp, fin)) != TIDAL_OK)
        r = tidal__io_err(db, r, "rename", tmp);
    if (r == TIDAL_OK && (r = env->dir_sync(env->user, db->path)) != TIDAL_OK)
        r = tidal__io_err(db, r, "sync directory", db->path);
    tidal__free(db, keys, sizeof(tidal__sortkey) * n);
    tidal__free(db, tids, sizeof(uint32_t) * ntc);
    tidal__free(db, seen, sizeof(uint64_t) * max_seen);
    if (r == TIDAL_ERR_NOMEM) return tidal__err(db, r, "snapshot scratch");
    if (r != TIDAL_OK) {
        db->fatal = 1;
        return tidal__err_wrap(db, r, "snapshot failed, the handle must be reopened");
    }
    if (db->log.snaps[0] != h.lsn) {
        db->log.snaps[1] = db->log.snaps[0];
        db->log.snaps[0] = h.lsn;
    }
    db->stats.snapshot_lsn = h.lsn;
    db->log.log_since_snap = 0;
    tidal__snap_retire(db);
    if (db->fatal) return TIDAL_ERR_FATAL; /* retire said which file and why */
    tidal__ok(db);
    return TIDAL_OK;
}

/* Bounded disk (DESIGN 4.3): once config.snapshot_log_bytes of log were written (or
   replayed at open) since the last snapshot, takes one, which retires the log below the
   older kept snapshot as tidal_db_snapshot does (a leader still keeps what the group has
   not acknowledged; a member what not every member holds). Only where the state equals
   the durable log: no batch pending or open, not while recovering (nor after an import: tidal__event_take). A failure
   is the snapshot's (an I/O error fails the handle); the writes that triggered it are
   already durable. */
static tidal_result tidal__snap_auto(tidal_db *db) {
    if (!db->log.wal_on || db->fatal || db->log.replaying || db->log.in_batch ||
        db->log.batch_count || db->log.log_since_snap < db->log.snap_log_bytes)
        return TIDAL_OK;
    TIDAL_ASSERT(db->log.snap_log_bytes > 0 && db->log.durable_lsn + 1 == db->log.next_lsn);
    return tidal_db_snapshot(db);
}

static void tidal__retire_fn(void *ctx, const char *name) {
    tidal__dirscan *d = (tidal__dirscan *)ctx;
    uint32_t node;
    uint64_t lsn;
    if (tidal__parse_name(name, "snap", "snap", &node, &lsn) &&
        node == tidal__node_word(d->db->node) && lsn != d->db->log.snaps[0] &&
        (d->db->st.forgot || lsn != d->db->log.snaps[1]) && d->n_snaps < d->cap)
        d->snaps[d->n_snaps++] = lsn;
}

/* After a forget: the active segment goes too when the newest snapshot covers every batch
   in it (nothing is pending and every member holds it), and the forget is then complete
   in the files (db->st.forgot cleared, only the newest snapshot left); else it stays set and
   the next snapshot tries again. */
static tidal_result tidal__snap_retire_active(tidal_db *db, uint64_t keep_from, uint32_t *drop) {
    const tidal_env *env = db->env;
    char name[TIDAL_PATH_MAX + 64];
    tidal_result r = TIDAL_OK;
    TIDAL_ASSERT(db->st.forgot);
    if (keep_from < db->log.snaps[0] || db->log.snaps[0] != db->log.durable_lsn ||
        db->log.batch_count)
        return TIDAL_OK;
    if (db->log.n_segs == 1 && db->log.segs[0] <= keep_from + 1) {
        if (db->log.seg) env->file_close(env->user, db->log.seg);
        db->log.seg = NULL;
        db->log.seg_size = 0;
        tidal__seg_name(db, db->log.segs[0], "log", name, sizeof name);
        r = env->file_remove(env->user, name);
        if (r == TIDAL_ERR_NOT_FOUND) r = TIDAL_OK;
        if (r != TIDAL_OK) return tidal__io_err(db, r, "remove", name);
        db->log.n_segs = 0;
        (*drop)++;
    }
    if (db->log.n_segs == 0) {
        db->log.snaps[1] = 0; /* the older snapshot was removed with the rest */
        db->st.forgot = 0;
    }
    return r;
}

/* Keeps the two newest snapshots and deletes log segments wholly below the older one, so
   a damaged newest snapshot can always fall back to the older one plus the log. After a
   forget or delete (db->st.forgot) the files that may still hold the id go instead: every
   older snapshot and every segment the newest one covers, the active one too when the
   snapshot covers all of it (the next commit starts a new segment). */
static void tidal__snap_retire(tidal_db *db) {
    const tidal_env *env = db->env;
    char name[TIDAL_PATH_MAX + 64];
    uint64_t old[16], keep_from = db->st.forgot ? db->log.snaps[0] : db->log.snaps[1];
    /* A leader keeps what its followers have not acknowledged yet; a follower whose
       needed log is gone anyway gets the state instead (>>repl_xfer). */
    if (db->rep.n_rep && db->rep.role == TIDAL_ROLE_LEADER) {
        uint64_t g = tidal__group_stable(db);
        if (g < keep_from) keep_from = g;
    } else if (db->rep.n_rep && db->rep.stable_lsn < keep_from) {
        keep_from = db->rep.stable_lsn; /* a member retires only what every member holds */
    }
    tidal__dirscan d;
    uint32_t i, drop = 0;
    tidal_result r = TIDAL_OK;
    memset(&d, 0, sizeof d);
    d.db = db;
    d.snaps = old;
    d.cap = 16;
    if (env->dir_list(env->user, db->path, tidal__retire_fn, &d) != TIDAL_OK) return;
    for (i = 0; i < d.n_snaps && r == TIDAL_OK; i++) {
        tidal__seg_name(db, old[i], "snap", name, sizeof name);
        if ((r = env->file_remove(env->user, name)) != TIDAL_OK && r != TIDAL_ERR_NOT_FOUND)
            r = tidal__io_err(db, r, "remove", name);
    }
    /* Segment i covers [segs[i], segs[i+1]); removable when that range ends at or below
       the older snapshot. The active segment is never removed. */
    while (keep_from && r == TIDAL_OK && drop + 1 < db->log.n_segs && db->log.segs[drop + 1] <= keep_from + 1) {
        tidal__seg_name(db, db->log.segs[drop], "log", name, sizeof name);
        r = env->file_remove(env->user, name);
        if (r == TIDAL_OK || r == TIDAL_ERR_NOT_FOUND) drop++, r = TIDAL_OK;
        else r = tidal__io_err(db, r, "remove", name);
    }
    if (drop) {
        memmove(db->log.segs, db->log.segs + drop, sizeof(uint64_t) * (db->log.n_segs - drop));
        db->log.n_segs -= drop;
    }
    if (db->st.forgot && r == TIDAL_OK) r = tidal__snap_retire_active(db, keep_from, &drop);
    if (r == TIDAL_OK && (drop || d.n_snaps) && (r = env->dir_sync(env->user, db->path)))
        r = tidal__io_err(db, r, "sync directory", db->path);
    if (r != TIDAL_OK && r != TIDAL_ERR_NOT_FOUND) {
        db->fatal = 1;
        tidal__err_wrap(db, r, "snapshot written, but removing old files failed, the handle "
                        "must be reopened");
    }
}

/* Reads and hashes the rest of s's body (nothing decodes it). */
static tidal_result tidal__snap_drain(tidal_db *db, tidal__sdsrc *s) {
    while (s->left) {
        size_t n = s->left < s->cap ? (size_t)s->left : s->cap;
        TIDAL_ASSERT(n > 0);
        if (tidal__sdsrc_read(db, s, s->buf, n, 1) != TIDAL_OK) return s->io;
        s->left -= n;
    }
    return TIDAL_OK;
}

/* Checks and decodes a snapshot (format 3 or 4) of n bytes that s reads, into the empty
   state, through a window of s->cap bytes (allocated here). The body is decoded as it is
   read and hashed, and only then is the checksum compared: a file that fails it is
   refused as "checksum mismatch" (offset 0), whatever its decode said, and whatever the
   decode built must be discarded (the caller frees the state; the replication position
   and counters the body sets are put back here). The checks therefore fail in the order
   they did when the whole file was checked first: header, checksum, schema, body.
   NULL on success; else why, *at the file offset where it was found. An unreadable file:
   "unreadable", s->io set and named. */
static const char *tidal__snap_read(tidal_db *db, uint64_t lsn, tidal__sdsrc *s, uint64_t n,
                                    size_t *at) {
    uint8_t hdr[TIDAL__SNAP_HDR], sum[32];
    uint64_t keep[7];
    tidal__snap_hdr h;
    tidal__sd d;
    const char *why = NULL, *bad = NULL;
    size_t off = 0;
    TIDAL_ASSERT(s->cap >= TIDAL__SNAP_CHUNK_MIN && !s->buf);
    *at = 0;
    if (n < TIDAL__SNAP_HDR) return "truncated header";
    if ((uint64_t)(size_t)n != n) return "length mismatch"; /* no such body fits in memory */
    s->off = 0;
    if (tidal__sdsrc_read(db, s, hdr, TIDAL__SNAP_HDR, 0) != TIDAL_OK) return "unreadable";
    tidal__snap_hdr_get(hdr, &h);
    if (h.magic != TIDAL__SNAP_MAGIC) return "bad magic";
    if (h.version != 3 && h.version != TIDAL_SNAPSHOT_FORMAT_VERSION)
        return "unknown format version";
    if (h.body_len != n - TIDAL__SNAP_HDR) return "length mismatch";
    if (h.lsn != lsn || h.node != tidal__node_word(db->node)) return "name does not match header";
    if (s->cap > h.body_len + 1) s->cap = (size_t)h.body_len + 1; /* a small file: its size */
    if (!(s->buf = (uint8_t *)tidal__alloc(db, s->cap))) {
        s->io = tidal__err(db, TIDAL_ERR_NOMEM, "read %s: no memory for %llu bytes",
                           s->name ? s->name : "snapshot", (unsigned long long)s->cap);
        return "unreadable";
    }
    tidal_blake3_init(&s->h);
    s->left = h.body_len;
    keep[0] = db->rep.epoch;
    keep[1] = db->rep.log_epoch;
    keep[2] = db->rep.log_pos;
    keep[3] = db->rep.pos_epoch;
    keep[4] = db->rep.leader_pos;
    keep[5] = db->stats.events_applied;
    keep[6] = db->stats.events_internal;
    if (!tidal__schema_fp_ok(db, h.schema_fp)) {
        bad = tidal__schema_mismatch; /* after the checksum, as before: damage comes first */
    } else {
        memset(&d, 0, sizeof d);
        d.db = db;
        d.src = s;
        d.r.p = s->buf;
        d.compact = h.version >= 4;
        bad = tidal__snap_decode_sd(&d, &off);
        if (bad && s->io != TIDAL_OK) why = "unreadable";
        else if (bad) off += TIDAL__SNAP_HDR;
    }
    if (!why && tidal__snap_drain(db, s) != TIDAL_OK) why = "unreadable";
    if (!why) {
        uint8_t tmp[TIDAL__SNAP_HDR];
        memcpy(tmp, hdr, TIDAL__SNAP_HDR);
        memset(tmp + 56, 0, 32); /* body || header with the checksum zeroed (tidal__snap_sum) */
        tidal_blake3_update(&s->h, tmp, TIDAL__SNAP_HDR);
        tidal_blake3_final(&s->h, sum, 32);
        if (memcmp(sum, h.sum, 32)) {
            why = "checksum mismatch";
        } else if (bad) {
            why = bad;
            *at = off;
        }
    }
    tidal__free(db, s->buf, s->cap);
    s->buf = NULL;
    if (why) {
        db->rep.epoch = keep[0];
        db->rep.log_epoch = keep[1];
        db->rep.log_pos = keep[2];
        db->rep.pos_epoch = keep[3];
        db->rep.leader_pos = keep[4];
        db->stats.events_applied = keep[5];
        db->stats.events_internal = keep[6];
        return why;
    }
    db->incarnation = h.incarnation;
    db->hlc = h.hlc;
    db->stats.snapshot_lsn = lsn;
    return NULL;
}

/* Checks and decodes a whole snapshot file image (format 3 or 4) in memory into the empty
   state, as a file is (tidal__snap_read, through the smallest window). NULL on success;
   else why, *at the file offset where it was found, and the state may be partly built
   (the caller frees it). */
TIDAL__TESTING static const char *tidal__snap_parse(tidal_db *db, uint64_t lsn, const uint8_t *p,
                                                   size_t n, size_t *at) {
    tidal__sdsrc s;
    const char *why;
    memset(&s, 0, sizeof s);
    s.mem = p;
    s.cap = TIDAL__SNAP_CHUNK_MIN;
    why = tidal__snap_read(db, lsn, &s, n, at);
    TIDAL_ASSERT(why != NULL || *at == 0);
    return why;
}

/* Loads one snapshot file into the empty state, streaming it (tidal__snap_read). NULL on
   success, else why it is bad and *at where; "unreadable" with *io set (and named) when
   it could not be read. */
static const char *tidal__snap_load(tidal_db *db, uint64_t lsn, tidal_result *io, size_t *at) {
    const tidal_env *env = db->env;
    char name[TIDAL_PATH_MAX + 64];
    tidal__sdsrc s;
    uint64_t n = 0;
    const char *why = "unreadable";
    tidal_result r;
    tidal__seg_name(db, lsn, "snap", name, sizeof name);
    *at = 0;
    memset(&s, 0, sizeof s);
    s.env = env;
    s.name = name;
    s.cap = TIDAL__SNAP_CHUNK;
    r = env->file_open(env->user, name, TIDAL_OPEN_READ, &s.file);
    if (r != TIDAL_OK) r = tidal__io_err(db, r, "open", name);
    else if ((r = env->file_size(env->user, s.file, &n)) != TIDAL_OK)
        r = tidal__io_err(db, r, "size of", name);
    if (r == TIDAL_OK) {
        why = tidal__snap_read(db, lsn, &s, n, at);
        r = s.io;
    }
    if (s.file) env->file_close(env->user, s.file);
    *io = r;
    TIDAL_ASSERT(r == TIDAL_OK || why != NULL);
    return why;
}

// >>recovery
// Open with a path: list the directory, load the newest snapshot that verifies (falling
// back to the older one), then replay the log from the segment that holds the first lsn
// after it. Leftover snapshot temp files are removed. A torn tail is cut and the cut made
// durable before anything new is appended. A log that ends below the snapshot is refused
// before any file is touched (see tidal__recover_log for why it is not continued).

static void tidal__state_free(tidal_db *db);

static int tidal__u64_desc(const void *a, const void *b) { return -tidal__u64_cmp(a, b); }

static tidal_result tidal__recover_snapshot(tidal_db *db, tidal__dirscan *d) {
    uint32_t i;
    qsort(d->snaps, d->n_snaps, sizeof(uint64_t), tidal__u64_desc);
    for (i = 0; i < d->n_snaps && i < 2; i++) {
        tidal_result io;
        size_t at;
        const char *why = tidal__snap_load(db, d->snaps[i], &io, &at);
        char name[TIDAL_PATH_MAX + 64];
        if (!why) {
            db->log.snaps[0] = d->snaps[i];
            db->log.snaps[1] = i + 1 < d->n_snaps ? d->snaps[i + 1] : 0;
            return TIDAL_OK;
        }
        tidal__state_free(db);
        tidal__seg_name(db, d->snaps[i], "snap", name, sizeof name);
        if (io != TIDAL_OK) return io; /* tidal__snap_load named the operation, file and why */
        if (why == tidal__schema_mismatch) /* not damage: the caller opened with another schema */
            return tidal__err(db, TIDAL_ERR_SCHEMA, "%s: %s", name, why);
        if (i + 1 >= d->n_snaps || i + 1 >= 2)
            return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: offset %llu: %s, and no older valid snapshot", name,
                              (unsigned long long)at, why);
    }
    return TIDAL_OK;
}

static tidal_result tidal__recover_log(tidal_db *db, tidal__dirscan *d) {
    const tidal_env *env = db->env;
    uint64_t snap = db->stats.snapshot_lsn, expect, end = 0;
    uint32_t i, start = 0;
    char name[TIDAL_PATH_MAX + 64];
    tidal_result r = TIDAL_OK;
    qsort(d->segs, d->n_segs, sizeof(uint64_t), tidal__u64_cmp);
    for (i = 0; i < d->n_segs; i++)
        if (d->segs[i] <= snap + 1) start = i;
    expect = d->n_segs ? d->segs[start] : snap + 1;
    if (d->n_segs && expect > snap + 1) {
        tidal__seg_name(db, expect, "log", name, sizeof name);
        return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: offset 0: log starts at lsn %llu but the state needs %llu",
                          name, (unsigned long long)expect, (unsigned long long)snap + 1);
    }
    for (i = start; i < d->n_segs && r == TIDAL_OK; i++) {
        tidal__seg_name(db, d->segs[i], "log", name, sizeof name);
        r = tidal__replay_segment(db, name, d->segs[i], i + 1 == d->n_segs, &expect, &end);
    }
    if (r != TIDAL_OK) return r;
    /* The log ends below the snapshot it must continue. A snapshot is written only after
       the log up to its lsn is synced (tidal_db_snapshot syncs the active segment even
       under TIDAL_FSYNC_NONE), so this is damage to synced data, never a crash: batches
       between the log's end and the snapshot are gone, and so may be acknowledged writes
       after the snapshot. Continuing would hand out those lsns again for other events,
       and a follower that holds the lost batches would then hold different events under
       the same positions, beyond repair by shipping. A careful database refuses, at the
       first open and before touching any file, naming where the log ends; the operator
       decides (restore the segment, or move it and the snapshot away). A log with no
       segment at all is not this case: no lsn after the snapshot was ever written to a
       file that still exists, and the state continues from the snapshot. */
    if (d->n_segs && expect <= snap)
        return tidal__err(db, TIDAL_ERR_CORRUPT,
                          "%s: offset %llu: the log ends at lsn %llu, below the snapshot at lsn %llu "
                          "(synced log data is missing)",
                          name, (unsigned long long)end, (unsigned long long)expect - 1,
                          (unsigned long long)snap);
    if (expect < snap + 1) expect = snap + 1;
    db->log.next_lsn = expect;
    db->log.durable_lsn = expect - 1;
    for (i = 0; i < d->n_segs; i++) { /* all of them: shipping may read below the snapshot */
        if (!TIDAL__GROW(db, db->log.segs, db->log.cap_segs, db->log.n_segs + 1))
            return TIDAL_ERR_NOMEM;
        db->log.segs[db->log.n_segs++] = d->segs[i];
    }
    if (d->n_segs) { /* reopen the newest segment for appends, cutting any torn tail */
        uint64_t size = 0;
        r = env->file_open(env->user, name, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE, &db->log.seg);
        if (r != TIDAL_OK) r = tidal__io_err(db, r, "open", name);
        else if ((r = env->file_size(env->user, db->log.seg, &size)) != TIDAL_OK)
            r = tidal__io_err(db, r, "size of", name);
        if (r == TIDAL_OK && size != end) {
            if ((r = env->file_truncate(env->user, db->log.seg, end)) != TIDAL_OK)
                r = tidal__io_err(db, r, "truncate", name);
            else if ((r = env->file_sync(env->user, db->log.seg)) != TIDAL_OK)
                r = tidal__io_err(db, r, "fsync", name);
        }
        if (r != TIDAL_OK) return tidal__err_wrap(db, r, "cannot reopen the log for append");
        db->log.seg_size = end;
    }
    return TIDAL_OK;
}

static tidal_result tidal__recover(tidal_db *db) {
    const tidal_env *env = db->env;
    tidal__dirscan d;
    tidal_result r;
    uint32_t i;
    memset(&d, 0, sizeof d);
    d.db = db;
    d.cap = TIDAL_SEGMENTS_MAX;
    r = env->dir_create(env->user, db->path);
    if (r != TIDAL_OK) return tidal__io_err(db, r, "create directory", db->path);
    d.segs = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * d.cap);
    d.snaps = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * d.cap);
    if (!d.segs || !d.snaps)
        r = tidal__err(db, TIDAL_ERR_NOMEM, "open %s: no memory to list it", db->path);
    if (r == TIDAL_OK && (r = env->dir_list(env->user, db->path, tidal__dirscan_fn, &d)))
        r = tidal__io_err(db, r, "list directory", db->path);
    if (r == TIDAL_OK && d.foreign)
        r = tidal__err(db, TIDAL_ERR_INVALID, "%s holds files of another node", db->path);
    if (r == TIDAL_OK && d.overflow) r = tidal__err(db, TIDAL_ERR_LIMIT, "%s: too many files", db->path);
    for (i = 0; r == TIDAL_OK && i < d.n_tmp; i++)
        if ((r = env->file_remove(env->user, d.tmp[i])) != TIDAL_OK)
            r = tidal__io_err(db, r, "remove", d.tmp[i]);
    if (r == TIDAL_OK && d.n_tmp && (r = env->dir_sync(env->user, db->path)) != TIDAL_OK)
        r = tidal__io_err(db, r, "sync directory", db->path);
    if (r == TIDAL_OK) r = tidal__schema_open(db, d.n_segs || d.n_snaps);
    if (r == TIDAL_OK) r = tidal__recover_snapshot(db, &d);
    if (r == TIDAL_OK) {
        int64_t t0 = env->clock_mono_ns(env->user);
        db->log.replaying = 1;
        r = tidal__recover_log(db, &d);
        db->log.replaying = 0;
        db->stats.recovered_ns = (uint64_t)(env->clock_mono_ns(env->user) - t0);
    }
    if (r == TIDAL_OK && db->schema.schema_dirty) r = tidal__schema_save(db);
    if (r == TIDAL_OK && !d.n_segs && !d.n_snaps) {
        db->env->random_fill(db->env->user, &db->incarnation, sizeof db->incarnation);
        db->incarnation = tidal__incarnation(db, db->incarnation);
    }
    if (r == TIDAL_OK) {
        tidal_event_id own;
        const tidal__origin *o;
        own.hi = (uint64_t)db->node.region << 48 | (uint64_t)db->node.shard << 32 | db->incarnation;
        o = tidal__origin_find(db, own.hi);
        db->st.local_seq = o ? o->hwm : 0;
        if (o && o->above.n) { /* never reuse a sequence number seen above the mark */
            uint32_t k;
            for (k = 0; k < o->above.cap; k++)
                if (o->above.slot[k] > db->st.local_seq) db->st.local_seq = o->above.slot[k];
        }
    }
    tidal__free(db, d.segs, sizeof(uint64_t) * d.cap);
    tidal__free(db, d.snaps, sizeof(uint64_t) * d.cap);
    return r;
}

// >>query_parse
// RETRIEVE text parser: turns "RETRIEVE items SIGNAL view FOR USER 42 ..." into a
// tidal_query_text in one left-to-right pass over exactly len bytes; no allocation, no recursion.
// Limits: names 1..TIDAL__QNAME_MAX bytes, values 0..TIDAL__QVALUE_MAX bytes after unescaping,
// at most TIDAL__QWHERE_MAX WHERE conditions, LIMIT 1..TIDAL_LIMIT_MAX, each clause once.
// Invariants: the cursor never passes len; *out is written only on success (we parse into a
// zeroed local and copy it); every error sets a position <= len and a non-empty message.

/* Private limits of the text form. They mirror the array sizes of tidal_query_text, which
   the typedef below checks at compile time (a negative array size fails the build). */
#define TIDAL__QNAME_MAX 64   /* signal/profile names, cohort and WHERE keys, bytes */
#define TIDAL__QVALUE_MAX 256 /* cohort and WHERE values, bytes after unescaping */
#define TIDAL__QWHERE_MAX 8   /* WHERE conditions per query */
#ifndef TIDAL_LIMIT_MAX
#define TIDAL_LIMIT_MAX 100000 /* largest LIMIT the text form accepts */
#endif

#define TIDAL__QP_FIELD_SIZE(f) sizeof(((tidal_query_text *)0)->f)
typedef char tidal__qp_sizes_match_struct[
    (TIDAL__QP_FIELD_SIZE(rank_name) == TIDAL__QNAME_MAX + 1 &&
     TIDAL__QP_FIELD_SIZE(cohort_key) == TIDAL__QNAME_MAX + 1 &&
     TIDAL__QP_FIELD_SIZE(cohort_value) == TIDAL__QVALUE_MAX + 1 &&
     TIDAL__QP_FIELD_SIZE(where_key[0]) == TIDAL__QNAME_MAX + 1 &&
     TIDAL__QP_FIELD_SIZE(where_value[0]) == TIDAL__QVALUE_MAX + 1 &&
     TIDAL__QP_FIELD_SIZE(where_key) == TIDAL__QWHERE_MAX * (TIDAL__QNAME_MAX + 1) &&
     TIDAL__QP_FIELD_SIZE(where_value) == TIDAL__QWHERE_MAX * (TIDAL__QVALUE_MAX + 1))
        ? 1 : -1];

/* One bit per clause, so "each clause at most once" is a mask test. */
#define TIDAL__QP_TENANT 1u
#define TIDAL__QP_FOR 2u
#define TIDAL__QP_COHORT 4u
#define TIDAL__QP_WHERE 8u
#define TIDAL__QP_LIMIT 16u
#define TIDAL__QP_AT 32u

/* Parser cursor. tok is the start of the token last looked at: errors about it point there. */
typedef struct tidal__qp {
    const char *s;
    size_t len;
    size_t pos;
    size_t tok;
    tidal_parse_error *err;
} tidal__qp;

/* Records an error (when the caller asked for one) and returns TIDAL_ERR_PARSE, so every
   failure site is a single `return tidal__qp_fail(...)`. */
static tidal_result tidal__qp_fail(tidal__qp *p, size_t pos, const char *msg) {
    TIDAL_ASSERT(pos <= p->len && msg && msg[0]);
    if (p->err) {
        p->err->position = (uint32_t)pos; /* len <= UINT32_MAX was checked on entry */
        snprintf(p->err->message, sizeof p->err->message, "%s", msg);
    }
    return TIDAL_ERR_PARSE;
}

/* Explicit ranges rather than <ctype.h>: the grammar must not depend on the C locale, and
   isalnum() on a negative char is undefined. */
static int tidal__qp_is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

static void tidal__qp_skip_ws(tidal__qp *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
        p->pos++;
    }
}

/* Skips whitespace and returns the length of the run of name bytes at the cursor without
   consuming it (keywords, names and numbers are all such runs). 0: the next token is not a
   word, or the input ended. Sets p->tok to the token start. */
static size_t tidal__qp_peek_word(tidal__qp *p) {
    size_t n = 0;
    tidal__qp_skip_ws(p);
    p->tok = p->pos;
    while (p->pos + n < p->len && tidal__qp_is_name_char(p->s[p->pos + n])) n++;
    return n;
}

/* Case-insensitive match of the n-byte word at the cursor against an upper-case keyword. */
static int tidal__qp_is_kw(const tidal__qp *p, size_t n, const char *kw) {
    size_t i;
    for (i = 0; i < n; i++) {
        char c = p->s[p->pos + i];
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if (kw[i] == '\0' || c != kw[i]) return 0; /* kw[i] is read only while i < strlen */
    }
    return kw[n] == '\0';
}

/* Consumes the keyword kw or fails with msg at the offending token. */
static tidal_result tidal__qp_expect_kw(tidal__qp *p, const char *kw, const char *msg) {
    size_t n = tidal__qp_peek_word(p);
    if (!tidal__qp_is_kw(p, n, kw)) return tidal__qp_fail(p, p->tok, msg);
    p->pos += n;
    return TIDAL_OK;
}

/* Consumes the punctuation byte c (whitespace allowed before it) or fails with msg. */
static tidal_result tidal__qp_expect_char(tidal__qp *p, char c, const char *msg) {
    tidal__qp_skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != c) return tidal__qp_fail(p, p->pos, msg);
    p->pos++;
    return TIDAL_OK;
}

/* name := [A-Za-z0-9_.-]+ of 1..TIDAL__QNAME_MAX bytes, copied NUL-terminated into dst
   (which has TIDAL__QNAME_MAX + 1 bytes). */
static tidal_result tidal__qp_name(tidal__qp *p, char *dst) {
    size_t n = tidal__qp_peek_word(p);
    if (n == 0) return tidal__qp_fail(p, p->tok, "expected name");
    if (n > TIDAL__QNAME_MAX) return tidal__qp_fail(p, p->tok, "name too long");
    memcpy(dst, p->s + p->pos, n);
    dst[n] = '\0';
    p->pos += n;
    return TIDAL_OK;
}

/* A quoted value; the cursor is on the opening quote. Only \" and \\ are escapes. Any other
   backslash is an error rather than a literal, so a backslash never has two meanings and
   escapes such as \n can be added later without changing what existing queries mean.
   Errors about the whole string (too long, unterminated) point at its opening quote. NUL
   cannot occur (rejected on entry), so dst ends up a proper C string. */
static tidal_result tidal__qp_quoted(tidal__qp *p, char *dst) {
    size_t open = p->pos, i = p->pos + 1, n = 0;
    TIDAL_ASSERT(open < p->len && p->s[open] == '"');
    while (i < p->len && p->s[i] != '"') {
        char c = p->s[i];
        if (c == '\\') {
            if (i + 1 >= p->len) return tidal__qp_fail(p, open, "unterminated string");
            c = p->s[i + 1];
            if (c != '"' && c != '\\') return tidal__qp_fail(p, i, "invalid escape");
            i++;
        }
        if (n == TIDAL__QVALUE_MAX) return tidal__qp_fail(p, open, "value too long");
        dst[n++] = c;
        i++;
    }
    if (i >= p->len) return tidal__qp_fail(p, open, "unterminated string");
    dst[n] = '\0';
    p->pos = i + 1;
    return TIDAL_OK;
}

/* value := bare word (non-empty) | quoted string; dst has TIDAL__QVALUE_MAX + 1 bytes. */
static tidal_result tidal__qp_value(tidal__qp *p, char *dst) {
    size_t n = tidal__qp_peek_word(p);
    if (n == 0 && p->pos < p->len && p->s[p->pos] == '"') return tidal__qp_quoted(p, dst);
    if (n == 0) return tidal__qp_fail(p, p->tok, "expected value");
    if (n > TIDAL__QVALUE_MAX) return tidal__qp_fail(p, p->tok, "value too long");
    memcpy(dst, p->s + p->pos, n);
    dst[n] = '\0';
    p->pos += n;
    return TIDAL_OK;
}

/* An unsigned decimal in [min, max]. The whole word must be digits (so "12abc" and "-1" are
   "expected number", not a number followed by junk); anything outside the range, including
   uint64 overflow, fails with range_msg at the number. */
static tidal_result tidal__qp_number(tidal__qp *p, uint64_t min, uint64_t max,
                                     const char *range_msg, uint64_t *out) {
    size_t n = tidal__qp_peek_word(p), i;
    uint64_t v = 0;
    if (n == 0) return tidal__qp_fail(p, p->tok, "expected number");
    for (i = 0; i < n; i++) {
        char c = p->s[p->pos + i];
        if (c < '0' || c > '9') return tidal__qp_fail(p, p->tok, "expected number");
    }
    for (i = 0; i < n; i++) {
        uint64_t d = (uint64_t)(p->s[p->pos + i] - '0');
        /* v * 10 + d <= max without computing it: the check can itself never overflow. */
        if (d > max || v > (max - d) / 10) return tidal__qp_fail(p, p->tok, range_msg);
        v = v * 10 + d;
    }
    if (v < min) return tidal__qp_fail(p, p->tok, range_msg);
    p->pos += n;
    *out = v;
    return TIDAL_OK;
}

/* FOR USER n [UNSEEN] */
static tidal_result tidal__qp_for_user(tidal__qp *p, tidal_query_text *q) {
    uint64_t v;
    size_t n;
    tidal_result r = tidal__qp_expect_kw(p, "USER", "expected USER");
    if (r == TIDAL_OK) r = tidal__qp_number(p, 1, UINT64_MAX, "user out of range", &v);
    if (r != TIDAL_OK) return r;
    q->for_user = (tidal_id)v;
    n = tidal__qp_peek_word(p);
    if (tidal__qp_is_kw(p, n, "UNSEEN")) {
        q->exclude_seen = 1;
        p->pos += n;
    }
    return TIDAL_OK;
}

/* WHERE name '=' value (AND name '=' value)* */
static tidal_result tidal__qp_where(tidal__qp *p, tidal_query_text *q) {
    for (;;) {
        tidal_result r;
        size_t n;
        if (q->where_count == TIDAL__QWHERE_MAX) {
            tidal__qp_skip_ws(p); /* point at the condition that does not fit */
            return tidal__qp_fail(p, p->pos, "too many WHERE conditions");
        }
        r = tidal__qp_name(p, q->where_key[q->where_count]);
        if (r == TIDAL_OK) r = tidal__qp_expect_char(p, '=', "expected '='");
        if (r == TIDAL_OK) r = tidal__qp_value(p, q->where_value[q->where_count]);
        if (r != TIDAL_OK) return r;
        q->where_count++;
        n = tidal__qp_peek_word(p);
        if (!tidal__qp_is_kw(p, n, "AND")) return TIDAL_OK;
        p->pos += n;
    }
}

/* Names of the clauses, indexed like their bits (1 << i). */
static const char *const tidal__qp_clause_names[6] = {"TENANT", "FOR",   "COHORT",
                                                      "WHERE",  "LIMIT", "AT"};

/* One clause; the cursor is on its n-byte keyword. *seen holds the clauses parsed so far. */
static tidal_result tidal__qp_clause(tidal__qp *p, size_t n, tidal_query_text *q,
                                     unsigned *seen) {
    char msg[64];
    unsigned bit, i;
    uint64_t v = 0;
    tidal_result r;
    for (i = 0; i < 6; i++)
        if (tidal__qp_is_kw(p, n, tidal__qp_clause_names[i])) break;
    if (i == 6) return tidal__qp_fail(p, p->tok, "expected clause or end of query");
    bit = 1u << i;
    if (*seen & bit) {
        snprintf(msg, sizeof msg, "duplicate %s clause", tidal__qp_clause_names[i]);
        return tidal__qp_fail(p, p->tok, msg);
    }
    *seen |= bit;
    p->pos += n;
    switch (bit) {
    case TIDAL__QP_TENANT:
        r = tidal__qp_number(p, 0, UINT32_MAX, "tenant out of range", &v);
        q->tenant = (uint32_t)v;
        return r;
    case TIDAL__QP_FOR:
        return tidal__qp_for_user(p, q);
    case TIDAL__QP_COHORT:
        r = tidal__qp_name(p, q->cohort_key);
        if (r == TIDAL_OK) r = tidal__qp_expect_char(p, ':', "expected ':'");
        if (r == TIDAL_OK) r = tidal__qp_value(p, q->cohort_value);
        q->has_cohort = 1; /* harmless on error: q is the caller's scratch copy */
        return r;
    case TIDAL__QP_WHERE:
        return tidal__qp_where(p, q);
    case TIDAL__QP_LIMIT:
        r = tidal__qp_number(p, 1, TIDAL_LIMIT_MAX, "limit out of range", &v);
        q->limit = (uint32_t)v;
        return r;
    default:
        TIDAL_ASSERT(bit == TIDAL__QP_AT);
        r = tidal__qp_number(p, 1, (uint64_t)INT64_MAX, "time out of range", &v);
        q->time_ns = (int64_t)v;
        return r;
    }
}

/* RETRIEVE items (SIGNAL | PROFILE) name */
static tidal_result tidal__qp_head(tidal__qp *p, tidal_query_text *q) {
    tidal_result r;
    size_t n = tidal__qp_peek_word(p);
    if (p->pos == p->len) return tidal__qp_fail(p, p->len, "empty query");
    if (!tidal__qp_is_kw(p, n, "RETRIEVE")) return tidal__qp_fail(p, p->tok, "expected RETRIEVE");
    p->pos += n;
    r = tidal__qp_expect_kw(p, "ITEMS", "expected items");
    if (r != TIDAL_OK) return r;
    n = tidal__qp_peek_word(p);
    if (tidal__qp_is_kw(p, n, "PROFILE")) q->is_profile = 1;
    else if (!tidal__qp_is_kw(p, n, "SIGNAL"))
        return tidal__qp_fail(p, p->tok, "expected SIGNAL or PROFILE");
    p->pos += n;
    return tidal__qp_name(p, q->rank_name);
}

/* clause* [;] EOF. Every iteration consumes at least the clause keyword or fails, so the
   loop ends. */
static tidal_result tidal__qp_tail(tidal__qp *p, tidal_query_text *q) {
    unsigned seen = 0;
    for (;;) {
        size_t before, n = tidal__qp_peek_word(p);
        tidal_result r;
        if (p->pos == p->len) return TIDAL_OK;
        if (n == 0 && p->s[p->pos] == ';') {
            p->pos++;
            tidal__qp_skip_ws(p);
            if (p->pos != p->len) return tidal__qp_fail(p, p->pos, "expected end of query");
            return TIDAL_OK;
        }
        before = p->pos;
        r = tidal__qp_clause(p, n, q, &seen);
        if (r != TIDAL_OK) return r;
        TIDAL_ASSERT(p->pos > before && p->pos <= p->len);
    }
}

static tidal_result tidal__qp_invalid(tidal_parse_error *err, const char *msg) {
    if (err) {
        err->position = 0;
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return TIDAL_ERR_INVALID;
}

TIDAL_API tidal_result tidal_query_parse(const char *text, size_t len, tidal_query_text *out,
                                         tidal_parse_error *err) {
    tidal__qp p;
    tidal_query_text q;
    tidal_result r;
    if (!out) return tidal__qp_invalid(err, "null output");
    if (!text && len) return tidal__qp_invalid(err, "null text");
    p.s = text;
    p.len = len;
    p.pos = 0;
    p.tok = 0;
    p.err = err;
    /* Positions are 32-bit in tidal_parse_error; a query this large is never meaningful. */
    if ((uint64_t)len > UINT32_MAX) return tidal__qp_fail(&p, 0, "query too long");
    /* Rejecting NUL up front means every later copy yields a proper C string, and the
       caller learns that it passed a length past the end of its string. */
    if (len) {
        const char *nul = (const char *)memchr(text, '\0', len);
        if (nul) return tidal__qp_fail(&p, (size_t)(nul - text), "unexpected nul byte");
    }
    /* Zeroed scratch copy: absent clauses read as 0 and *out stays untouched on error. */
    memset(&q, 0, sizeof q);
    r = tidal__qp_head(&p, &q);
    if (r == TIDAL_OK) r = tidal__qp_tail(&p, &q);
    if (r != TIDAL_OK) return r;
    TIDAL_ASSERT(p.pos == p.len && q.where_count <= TIDAL__QWHERE_MAX);
    memcpy(out, &q, sizeof q);
    if (err) {
        err->position = 0;
        err->message[0] = '\0';
    }
    return TIDAL_OK;
}

// >>db_schema
// The >>db_* sections are the handle: its schema, open and close, tenants, the one way in
// for writes, reads and sessions. This one: loading a configured schema, its fingerprints
// (of every prefix: what a batch may be written under), its encoding, and comparing and
// merging two schemas. Its rules are below; the stored file and its growth by an event are
// in >>db_schema_file.

/* The half-life is kept exact: h in ns as a double for every exponent, while epochs stay
   integer (landmarks e * epoch_ns, so t - landmark is exact). A half-life that is a whole
   number of ns to within the rounding of half_life_s * 1e9 takes that integer, so its
   epochs, accumulators and digests are bit for bit what they were when h was rounded to
   whole ns; a fractional one gets epoch_ns = floor(16 h) (epoch_hl slightly under 16). */
static void tidal__half_life_load(tidal__sigdef *o, double half_life_s) {
    double h = half_life_s * 1e9, r = rint(h);
    TIDAL_ASSERT(h >= TIDAL_HALF_LIFE_MIN_S * 1e9 * 0.999 && h < 4e17);
    o->whole_ns = r >= 1.0 && fabs(h - r) <= r * 8.8817841970012523e-16; /* 2^-50 */
    if (o->whole_ns) {
        o->hl_ns = r;
        o->epoch_ns = (int64_t)r * TIDAL__EPOCH_HALF_LIVES;
    } else {
        o->hl_ns = h;
        o->epoch_ns = (int64_t)floor(h * TIDAL__EPOCH_HALF_LIVES);
    }
    o->half_life_ns = (int64_t)llround(h);
    o->epoch_hl = (double)o->epoch_ns / o->hl_ns;
    TIDAL_ASSERT(o->epoch_ns >= 16 && o->epoch_hl >= 15.0 && o->epoch_hl <= 16.0);
}

/* ---- schema ----
   The rules this part keeps (DESIGN 4.3, schema evolution):
   1. A schema only grows: signal types, cohort keys and profiles are appended at the ends.
      Everything that exists keeps its name, half-life, windows, flags, position and (for a
      profile) its terms; a change or removal is TIDAL_ERR_SCHEMA naming the field and both
      values.
   2. The stored schema is the file schema-RRRR-SSSS.dat beside the log (checksummed,
      written tmp + fsync + rename + directory fsync), holding the whole schema and the
      generations it went through. It is written before any batch under a new fingerprint,
      so every batch and snapshot on disk was written under a prefix of it.
   3. A batch or snapshot is accepted when written under the fingerprint of any prefix of
      today's schema (its first i signal types and first j cohort keys): such data means the
      same under the longer schema. Profiles are query-time only and not fingerprinted.
   4. In a replica group the schema grows by an event (TIDAL__EV_SCHEMA, carrying the whole
      new schema) that is alone in its batch, stamped with the new fingerprint: a member
      that lacks that fingerprint learns it from the batch itself, and refuses every other
      batch under a fingerprint it lacks. */

#define TIDAL__SCHEMA_ENC_MAX                                                                \
    (3 + TIDAL_SIGNAL_TYPES_MAX * (1 + TIDAL_NAME_MAX + 8 + 2) +                             \
     TIDAL_COHORT_KEYS_MAX * (1 + TIDAL_NAME_MAX) +                                          \
     TIDAL_PROFILES_MAX * (2 + TIDAL_NAME_MAX + 9 * TIDAL_PROFILE_TERMS_MAX))
#define TIDAL__SCHEMA_FILE_MAX (12 + TIDAL__SCHEMA_ENC_MAX + 4 + 20 * TIDAL__SCHEMA_GENS_MAX + 32)
#define TIDAL__SCHEMA_MAGIC 0x43534454u /* "TDSC" */
#define TIDAL__SCHEMA_VERSION 1u
TIDAL__STATIC_ASSERT(schema_counts_fit_bytes, TIDAL_SIGNAL_TYPES_MAX <= 255 &&
                                                  TIDAL_COHORT_KEYS_MAX <= 255 &&
                                                  TIDAL_PROFILES_MAX <= 255);
TIDAL__STATIC_ASSERT(schema_event_fits_message,
                     TIDAL__SCHEMA_ENC_MAX <= TIDAL__SCHEMA_EV_MAX &&
                         TIDAL__SCHEMA_EV_MAX < TIDAL__INSTALL_VALUE_MAX);

/* Fills one signal type from its declaration; NULL, or what is wrong with which field. */
static const char *tidal__sigdef_set(tidal__sigdef *o, const tidal_signal_def *d) {
    if (!tidal__name_ok(d->name, TIDAL_NAME_MAX)) return "name: 1..64 of [A-Za-z0-9_.-]";
    if (d->permanent ? d->half_life_s != 0.0
                     : !(d->half_life_s >= TIDAL_HALF_LIFE_MIN_S &&
                         d->half_life_s <= TIDAL_HALF_LIFE_MAX_S))
        return "half_life_s: [1e-09, 3.2e+08] seconds (TIDAL_HALF_LIFE_MIN_S.._MAX_S), or 0 "
               "when permanent";
    if (d->windows & ~(uint32_t)0x1F) return "windows: unknown bits";
    memset(o, 0, sizeof *o);
    strcpy(o->name, d->name);
    o->half_life_s = d->half_life_s;
    if (!d->permanent) tidal__half_life_load(o, d->half_life_s);
    o->e_ref = INT64_MIN;
    o->windows = d->windows ? d->windows | TIDAL_WINDOW_ALL : 0x1F;
    o->permanent = d->permanent != 0;
    o->negative = d->negative != 0;
    return NULL;
}

/* Validates a declared schema into o; the message names the field. */
static tidal_result tidal__schema_load(tidal_db *db, const tidal_schema *s, tidal__schemadef *o) {
    uint32_t i, j;
    const char *why;
    memset(o, 0, sizeof *o);
    if (!s->signals || s->signal_count == 0 || s->signal_count > TIDAL_SIGNAL_TYPES_MAX)
        return tidal__err(db, TIDAL_ERR_SCHEMA, "schema.signal_count must be 1..%d",
                          TIDAL_SIGNAL_TYPES_MAX);
    for (i = 0; i < s->signal_count; i++) {
        if ((why = tidal__sigdef_set(&o->sig[i], &s->signals[i])) != NULL)
            return tidal__err(db, TIDAL_ERR_SCHEMA, "signals[%u].%s", i, why);
        for (j = 0; j < i; j++)
            if (!strcmp(o->sig[j].name, o->sig[i].name))
                return tidal__err(db, TIDAL_ERR_SCHEMA, "signals[%u].name '%s' repeats", i,
                                  o->sig[i].name);
    }
    o->n_sig = s->signal_count;
    if (s->cohort_key_count > TIDAL_COHORT_KEYS_MAX || (s->cohort_key_count && !s->cohort_keys))
        return tidal__err(db, TIDAL_ERR_SCHEMA, "schema.cohort_key_count must be 0..%d",
                          TIDAL_COHORT_KEYS_MAX);
    for (i = 0; i < s->cohort_key_count; i++) {
        if (!tidal__name_ok(s->cohort_keys[i], TIDAL_NAME_MAX))
            return tidal__err(db, TIDAL_ERR_SCHEMA, "cohort_keys[%u]: bad name", i);
        for (j = 0; j < i; j++)
            if (!strcmp(o->ckey[j], s->cohort_keys[i]))
                return tidal__err(db, TIDAL_ERR_SCHEMA, "cohort_keys[%u] repeats", i);
        strcpy(o->ckey[i], s->cohort_keys[i]);
    }
    o->n_ckey = s->cohort_key_count;
    return TIDAL_OK;
}

static tidal_result tidal__profiles_load(tidal_db *db, const tidal_schema *s, tidal__schemadef *o) {
    uint32_t i, j, k;
    if (s->profile_count > TIDAL_PROFILES_MAX || (s->profile_count && !s->profiles))
        return tidal__err(db, TIDAL_ERR_SCHEMA, "schema.profile_count must be 0..%d",
                          TIDAL_PROFILES_MAX);
    for (i = 0; i < s->profile_count; i++) {
        const tidal_profile_def *p = &s->profiles[i];
        tidal__profdef *d = &o->prof[i];
        if (!tidal__name_ok(p->name, TIDAL_NAME_MAX))
            return tidal__err(db, TIDAL_ERR_SCHEMA, "profiles[%u].name: bad name", i);
        for (j = 0; j < i; j++)
            if (!strcmp(o->prof[j].name, p->name))
                return tidal__err(db, TIDAL_ERR_SCHEMA, "profiles[%u].name repeats", i);
        if (!p->terms || p->term_count == 0 || p->term_count > TIDAL_PROFILE_TERMS_MAX)
            return tidal__err(db, TIDAL_ERR_SCHEMA, "profiles[%u].term_count must be 1..%d", i,
                              TIDAL_PROFILE_TERMS_MAX);
        for (j = 0; j < p->term_count; j++) {
            for (k = 0; k < o->n_sig; k++)
                if (p->terms[j].signal && !strcmp(p->terms[j].signal, o->sig[k].name)) break;
            if (k == o->n_sig)
                return tidal__err(db, TIDAL_ERR_SCHEMA, "profiles[%u].terms[%u]: unknown signal", i, j);
            if (!isfinite(p->terms[j].weight))
                return tidal__err(db, TIDAL_ERR_SCHEMA, "profiles[%u].terms[%u]: weight not finite", i, j);
            d->type[j] = k;
            d->weight[j] = p->terms[j].weight;
        }
        strcpy(d->name, p->name);
        d->n = p->term_count;
    }
    o->n_prof = s->profile_count;
    return TIDAL_OK;
}

/* The handle's schema as a schemadef (signal reference epochs are state, not schema). */
static void tidal__schema_of(const tidal_db *db, tidal__schemadef *o) {
    uint32_t i;
    memset(o, 0, sizeof *o);
    o->n_sig = db->schema.n_sig;
    o->n_ckey = db->schema.n_ckey;
    o->n_prof = db->schema.n_prof;
    memcpy(o->sig, db->schema.sig, sizeof o->sig);
    for (i = 0; i < o->n_sig; i++) o->sig[i].e_ref = INT64_MIN;
    memcpy(o->ckey, db->schema.ckey, sizeof o->ckey);
    memcpy(o->prof, db->schema.prof, sizeof o->prof);
}

/* What the log and snapshots depend on: the first n_sig signal types (name, decay,
   windows) and the first n_ckey cohort keys, in order. Profiles are query-time only.
   The hash of the whole schema is unchanged from format 1, so older logs still match. */
static void tidal__schema_fp_start(struct tidal_blake3 *h) {
    tidal_blake3_init_derive_key(h, "tidal 2026-11 schema fingerprint v1");
}
static void tidal__schema_fp_sig(struct tidal_blake3 *h, const tidal__sigdef *d) {
    uint8_t b[8];
    tidal_blake3_update(h, d->name, strlen(d->name) + 1);
    tidal__wr_le(b, (uint64_t)d->half_life_ns, 8);
    tidal_blake3_update(h, b, 8);
    tidal__wr_le(b, (uint64_t)d->windows | (uint64_t)d->permanent << 32 |
                        (uint64_t)(!d->permanent && !d->whole_ns) << 33, 8);
    tidal_blake3_update(h, b, 8);
    if (!d->permanent && !d->whole_ns) { /* a fractional half-life: its exact bits (whole-ns */
        double hl = d->hl_ns;            /* types hash as they always did) */
        uint64_t bits;
        memcpy(&bits, &hl, 8);
        tidal__wr_le(b, bits, 8);
        tidal_blake3_update(h, b, 8);
    }
}
static uint64_t tidal__schema_fp_end(const struct tidal_blake3 *h) {
    uint8_t out[8];
    tidal_blake3_final(h, out, 8);
    return tidal__rd_le_at(out);
}
static uint64_t tidal__schema_fp(const tidal__schemadef *s, uint32_t n_sig, uint32_t n_ckey) {
    struct tidal_blake3 h;
    uint32_t i;
    TIDAL_ASSERT(n_sig <= s->n_sig && n_ckey <= s->n_ckey);
    tidal__schema_fp_start(&h);
    for (i = 0; i < n_sig; i++) tidal__schema_fp_sig(&h, &s->sig[i]);
    for (i = 0; i < n_ckey; i++) tidal_blake3_update(&h, s->ckey[i], strlen(s->ckey[i]) + 1);
    return tidal__schema_fp_end(&h);
}

/* Is fp that of a prefix of today's schema (rule 3)? The table of every prefix is built
   on the first miss after a change (about 300 small hashes), so a steady log pays one
   compare per batch. */
static int tidal__schema_fp_ok(tidal_db *db, uint64_t fp) {
    uint32_t i, j;
    if (fp == db->schema.schema_fp) return 1;
    if (!db->schema.n_prefix_fps) {
        struct tidal_blake3 h, g;
        tidal__schema_fp_start(&h);
        for (i = 0; i < db->schema.n_sig; i++) {
            tidal__schema_fp_sig(&h, &db->schema.sig[i]);
            g = h;
            db->schema.prefix_fps[db->schema.n_prefix_fps++] = tidal__schema_fp_end(&g);
            for (j = 0; j < db->schema.n_ckey; j++) {
                tidal_blake3_update(&g, db->schema.ckey[j], strlen(db->schema.ckey[j]) + 1);
                db->schema.prefix_fps[db->schema.n_prefix_fps++] = tidal__schema_fp_end(&g);
            }
        }
        TIDAL_ASSERT(db->schema.n_prefix_fps == db->schema.n_sig * (db->schema.n_ckey + 1));
    }
    for (i = 0; i < db->schema.n_prefix_fps; i++)
        if (db->schema.prefix_fps[i] == fp) return 1;
    return 0;
}

/* Encoding of a whole schema (the stored file and the schema event): counts u8 x3; per
   signal: name length u8, name, half_life_s f64, windows u8, flags u8 (1 permanent,
   2 negative); per cohort key: length u8, name; per profile: name length u8, name, term
   count u8, then per term: signal index u8, weight f64. */
static uint8_t *tidal__schema_put(uint8_t *w, const tidal__schemadef *s) {
    uint32_t i, j;
    w = tidal__wr_le(w, s->n_sig, 1);
    w = tidal__wr_le(w, s->n_ckey, 1);
    w = tidal__wr_le(w, s->n_prof, 1);
    for (i = 0; i < s->n_sig; i++) {
        size_t n = strlen(s->sig[i].name);
        w = tidal__wr_le(w, n, 1);
        w = tidal__wr_bytes(w, s->sig[i].name, n);
        w = tidal__wr_f64(w, s->sig[i].half_life_s);
        w = tidal__wr_le(w, s->sig[i].windows, 1);
        w = tidal__wr_le(w, (uint64_t)(s->sig[i].permanent ? 1 : 0) | (s->sig[i].negative ? 2 : 0),
                         1);
    }
    for (i = 0; i < s->n_ckey; i++) {
        size_t n = strlen(s->ckey[i]);
        w = tidal__wr_le(w, n, 1);
        w = tidal__wr_bytes(w, s->ckey[i], n);
    }
    for (i = 0; i < s->n_prof; i++) {
        size_t n = strlen(s->prof[i].name);
        w = tidal__wr_le(w, n, 1);
        w = tidal__wr_bytes(w, s->prof[i].name, n);
        w = tidal__wr_le(w, s->prof[i].n, 1);
        for (j = 0; j < s->prof[i].n; j++) {
            w = tidal__wr_le(w, s->prof[i].type[j], 1);
            w = tidal__wr_f64(w, s->prof[i].weight[j]);
        }
    }
    return w;
}

/* Reads a name of 1..TIDAL_NAME_MAX allowed bytes into out; 0 if bad. */
static int tidal__schema_name_get(tidal__rd *r, char *out) {
    uint32_t n = tidal__rd_u8(r);
    const char *p = tidal__rd_bytes(r, n);
    if (!p || !tidal__name_bytes_ok(p, n)) return 0;
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}

/* Decodes and validates a whole schema (as tidal__schema_load would); NULL, or what is
   wrong. Never reads past the reader's end. */
static const char *tidal__schema_get(tidal__rd *r, tidal__schemadef *o) {
    uint32_t i, j;
    memset(o, 0, sizeof *o);
    o->n_sig = tidal__rd_u8(r);
    o->n_ckey = tidal__rd_u8(r);
    o->n_prof = tidal__rd_u8(r);
    if (r->bad) return "schema truncated";
    if (o->n_sig < 1 || o->n_sig > TIDAL_SIGNAL_TYPES_MAX)
        return "schema: signal count out of range";
    if (o->n_ckey > TIDAL_COHORT_KEYS_MAX) return "schema: cohort key count out of range";
    if (o->n_prof > TIDAL_PROFILES_MAX) return "schema: profile count out of range";
    for (i = 0; i < o->n_sig; i++) {
        tidal_signal_def d;
        char name[TIDAL_NAME_MAX + 1];
        uint32_t flags;
        if (!tidal__schema_name_get(r, name))
            return r->bad ? "schema truncated" : "schema: bad signal name";
        d.name = name;
        d.half_life_s = tidal__rd_f64(r);
        d.windows = tidal__rd_u8(r);
        flags = tidal__rd_u8(r);
        if (r->bad) return "schema truncated";
        if (flags > 3) return "schema: unknown signal flags";
        d.permanent = (int)(flags & 1);
        d.negative = (int)(flags >> 1);
        if (tidal__sigdef_set(&o->sig[i], &d)) return "schema: bad signal half-life or windows";
        for (j = 0; j < i; j++)
            if (!strcmp(o->sig[j].name, name)) return "schema: repeated signal name";
    }
    for (i = 0; i < o->n_ckey; i++) {
        if (!tidal__schema_name_get(r, o->ckey[i]))
            return r->bad ? "schema truncated" : "schema: bad cohort key";
        for (j = 0; j < i; j++)
            if (!strcmp(o->ckey[j], o->ckey[i])) return "schema: repeated cohort key";
    }
    for (i = 0; i < o->n_prof; i++) {
        tidal__profdef *p = &o->prof[i];
        if (!tidal__schema_name_get(r, p->name))
            return r->bad ? "schema truncated" : "schema: bad profile name";
        for (j = 0; j < i; j++)
            if (!strcmp(o->prof[j].name, p->name)) return "schema: repeated profile name";
        p->n = tidal__rd_u8(r);
        if (!r->bad && (p->n < 1 || p->n > TIDAL_PROFILE_TERMS_MAX))
            return "schema: profile term count out of range";
        for (j = 0; j < p->n && !r->bad; j++) {
            p->type[j] = tidal__rd_u8(r);
            p->weight[j] = tidal__rd_f64(r);
            if (!r->bad && p->type[j] >= o->n_sig) return "schema: profile term names no signal";
            if (!r->bad && !isfinite(p->weight[j])) return "schema: profile weight not finite";
        }
        if (r->bad) return "schema truncated";
    }
    return NULL;
}

/* Compares a given schema with the stored one (rule 1). Returns 0 and the first
   difference in msg (the field and both values) when they disagree on something both
   have; else 1, with *grows set when given adds something and *lacks when stored has
   something given does not. */
static int tidal__schema_diff(const tidal__schemadef *st, const tidal__schemadef *gv, char *msg,
                              size_t cap, int *grows, int *lacks) {
    uint32_t i, j, n;
    *grows = gv->n_sig > st->n_sig || gv->n_ckey > st->n_ckey || gv->n_prof > st->n_prof;
    *lacks = gv->n_sig < st->n_sig || gv->n_ckey < st->n_ckey || gv->n_prof < st->n_prof;
    n = st->n_sig < gv->n_sig ? st->n_sig : gv->n_sig;
    for (i = 0; i < n; i++) {
        const tidal__sigdef *a = &st->sig[i], *b = &gv->sig[i];
        if (strcmp(a->name, b->name))
            snprintf(msg, cap, "signal %u: name '%s' stored, '%s' given", i, a->name, b->name);
        else if (a->permanent != b->permanent)
            snprintf(msg, cap, "signal %u (%s): permanent %d stored, %d given", i, a->name,
                     a->permanent, b->permanent);
        else if (a->half_life_s != b->half_life_s)
            snprintf(msg, cap, "signal %u (%s): half_life_s %.17g stored, %.17g given", i,
                     a->name, a->half_life_s, b->half_life_s);
        else if (a->windows != b->windows)
            snprintf(msg, cap, "signal %u (%s): windows 0x%x stored, 0x%x given", i, a->name,
                     a->windows, b->windows);
        else if (a->negative != b->negative)
            snprintf(msg, cap, "signal %u (%s): negative %d stored, %d given", i, a->name,
                     a->negative, b->negative);
        else
            continue;
        return 0;
    }
    n = st->n_ckey < gv->n_ckey ? st->n_ckey : gv->n_ckey;
    for (i = 0; i < n; i++) {
        if (!strcmp(st->ckey[i], gv->ckey[i])) continue;
        snprintf(msg, cap, "cohort key %u: '%s' stored, '%s' given", i, st->ckey[i], gv->ckey[i]);
        return 0;
    }
    n = st->n_prof < gv->n_prof ? st->n_prof : gv->n_prof;
    for (i = 0; i < n; i++) {
        const tidal__profdef *a = &st->prof[i], *b = &gv->prof[i];
        if (strcmp(a->name, b->name)) {
            snprintf(msg, cap, "profile %u: name '%s' stored, '%s' given", i, a->name, b->name);
            return 0;
        }
        if (a->n != b->n) {
            snprintf(msg, cap, "profile %u (%s): %u terms stored, %u given", i, a->name, a->n,
                     b->n);
            return 0;
        }
        for (j = 0; j < a->n; j++) {
            if (a->type[j] == b->type[j] && a->weight[j] == b->weight[j]) continue;
            snprintf(msg, cap, "profile %u (%s): terms[%u] %s*%.17g stored, %s*%.17g given", i,
                     a->name, j, st->sig[a->type[j]].name, a->weight[j],
                     b->type[j] < gv->n_sig ? gv->sig[b->type[j]].name : "?", b->weight[j]);
            return 0;
        }
    }
    return 1;
}

/* Names the first thing stored has that given lacks (an error under rule 1). */
static void tidal__schema_lack_msg(const tidal__schemadef *st, const tidal__schemadef *gv,
                                   char *msg, size_t cap) {
    if (gv->n_sig < st->n_sig)
        snprintf(msg, cap, "signal %u (%s): stored, not given (signal_count %u stored, %u given)",
                 gv->n_sig, st->sig[gv->n_sig].name, st->n_sig, gv->n_sig);
    else if (gv->n_ckey < st->n_ckey)
        snprintf(msg, cap,
                 "cohort key %u (%s): stored, not given (cohort_key_count %u stored, %u given)",
                 gv->n_ckey, st->ckey[gv->n_ckey], st->n_ckey, gv->n_ckey);
    else
        snprintf(msg, cap, "profile %u (%s): stored, not given (profile_count %u stored, %u given)",
                 gv->n_prof, st->prof[gv->n_prof].name, st->n_prof, gv->n_prof);
}

/* The union of two schemas that agree on what both have (rule 1): each part from the
   longer one. */
static void tidal__schema_union(tidal__schemadef *out, const tidal__schemadef *a,
                                const tidal__schemadef *b) {
    const tidal__schemadef *s = a->n_sig >= b->n_sig ? a : b, *c = a->n_ckey >= b->n_ckey ? a : b,
                           *p = a->n_prof >= b->n_prof ? a : b;
    if (out != s) memcpy(out->sig, s->sig, sizeof out->sig);
    if (out != c) memcpy(out->ckey, c->ckey, sizeof out->ckey);
    if (out != p) memcpy(out->prof, p->prof, sizeof out->prof);
    out->n_sig = s->n_sig;
    out->n_ckey = c->n_ckey;
    out->n_prof = p->n_prof;
}

/* Makes s the handle's schema (signal types keep their reference epochs) and records it
   as the newest generation when it differs from the last one. */
static void tidal__schema_set(tidal_db *db, const tidal__schemadef *s) {
    uint32_t i;
    tidal__schemagen *g;
    TIDAL_ASSERT(s->n_sig >= db->schema.n_sig && s->n_sig <= TIDAL_SIGNAL_TYPES_MAX);
    for (i = 0; i < s->n_sig; i++) {
        int64_t e_ref = i < db->schema.n_sig ? db->schema.sig[i].e_ref : INT64_MIN;
        db->schema.sig[i] = s->sig[i];
        db->schema.sig[i].e_ref = e_ref;
    }
    memcpy(db->schema.ckey, s->ckey, sizeof db->schema.ckey);
    memcpy(db->schema.prof, s->prof, sizeof db->schema.prof);
    db->schema.n_sig = s->n_sig;
    db->schema.n_ckey = s->n_ckey;
    db->schema.n_prof = s->n_prof;
    db->schema.schema_fp = tidal__schema_fp(s, s->n_sig, s->n_ckey);
    db->schema.n_prefix_fps = 0;
    g = db->schema.n_gen ? &db->schema.gen[db->schema.n_gen - 1] : NULL;
    if (g && g->n_sig == s->n_sig && g->n_ckey == s->n_ckey && g->n_prof == s->n_prof) return;
    TIDAL_ASSERT(db->schema.n_gen < TIDAL__SCHEMA_GENS_MAX);
    g = &db->schema.gen[db->schema.n_gen++];
    g->n_sig = s->n_sig;
    g->n_ckey = s->n_ckey;
    g->n_prof = s->n_prof;
    g->fp = db->schema.schema_fp;
}

// >>db_schema_file
// The stored schema (schema-RRRR-SSSS.dat, rule 2 of >>db_schema): its file, reconciling it
// with the configured schema at open, growing it by a schema event alone in its batch (rule
// 4), learning a schema from a batch or a state transfer, and tidal_db_schema_get / _append.
// Invariant: the file is written before any batch under a new fingerprint.

static void tidal__schema_name(const tidal_db *db, char *out, size_t cap, int tmp) {
    snprintf(out, cap, "%s/schema-%04x-%04x.%s", db->path, db->node.region, db->node.shard,
             tmp ? "tmp" : "dat");
}

/* Writes the stored schema (rule 2). Layout: magic u32, version u32, schema bytes u32, the
   schema (tidal__schema_put), generation count u32, per generation: signals u8, cohort
   keys u8, profiles u8, 0 u8, fingerprint u64, then BLAKE3 u8[32] of all that. A failure
   fails the handle: a batch under the new fingerprint may not follow. */
/* Replaces the small file fin with the len bytes at b, atomically and durably: written to
   tmp, fsynced, renamed over fin, and the directory fsynced. Each failure is recorded right
   after the failing call, while the env's OS text is still that call's (tidal__io_err). */
static tidal_result tidal__file_replace(tidal_db *db, const char *tmp, const char *fin,
                                        const void *b, size_t len) {
    const tidal_env *env = db->env;
    void *f = NULL;
    tidal_result r;
    TIDAL_ASSERT(tmp && fin && b && len > 0);
    r = env->file_open(env->user, tmp, TIDAL_OPEN_READ | TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE, &f);
    if (r != TIDAL_OK) r = tidal__io_err(db, r, "open", tmp);
    if (r == TIDAL_OK && (r = env->file_truncate(env->user, f, 0)) != TIDAL_OK)
        r = tidal__io_err(db, r, "truncate", tmp);
    if (r == TIDAL_OK && (r = env->file_write(env->user, f, 0, b, len)) != TIDAL_OK)
        r = tidal__io_err(db, r, "write", tmp);
    if (r == TIDAL_OK && (r = env->file_sync(env->user, f)) != TIDAL_OK)
        r = tidal__io_err(db, r, "fsync", tmp);
    if (f) env->file_close(env->user, f);
    if (r == TIDAL_OK && (r = env->file_rename(env->user, tmp, fin)) != TIDAL_OK)
        r = tidal__io_err(db, r, "rename", tmp);
    if (r == TIDAL_OK && (r = env->dir_sync(env->user, db->path)) != TIDAL_OK)
        r = tidal__io_err(db, r, "sync directory", db->path);
    return r;
}

static tidal_result tidal__schema_save(tidal_db *db) {
    tidal__schemadef s;
    uint8_t *b = (uint8_t *)tidal__alloc(db, TIDAL__SCHEMA_FILE_MAX), *w, *len_at;
    char tmp[TIDAL_PATH_MAX + 64], fin[TIDAL_PATH_MAX + 64];
    uint32_t i;
    tidal_result r;
    if (!b) return tidal__err(db, TIDAL_ERR_NOMEM, "schema file buffer");
    tidal__schema_of(db, &s);
    w = tidal__wr_le(b, TIDAL__SCHEMA_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL__SCHEMA_VERSION, 4);
    len_at = w;
    w = tidal__schema_put(w + 4, &s);
    tidal__wr_le(len_at, (uint64_t)(w - len_at - 4), 4);
    w = tidal__wr_le(w, db->schema.n_gen, 4);
    for (i = 0; i < db->schema.n_gen; i++) {
        const tidal__schemagen *g = &db->schema.gen[i];
        w = tidal__wr_le(w, g->n_sig | g->n_ckey << 8 | g->n_prof << 16, 4);
        w = tidal__wr_le(w, g->fp, 8);
    }
    tidal_blake3(b, (size_t)(w - b), w);
    w += 32;
    TIDAL_ASSERT((size_t)(w - b) <= TIDAL__SCHEMA_FILE_MAX);
    tidal__schema_name(db, tmp, sizeof tmp, 1);
    tidal__schema_name(db, fin, sizeof fin, 0);
    r = tidal__file_replace(db, tmp, fin, b, (size_t)(w - b));
    tidal__free(db, b, TIDAL__SCHEMA_FILE_MAX);
    if (r != TIDAL_OK) {
        db->fatal = 1;
        return tidal__err_wrap(db, r, "%s: saving the schema failed, the handle must be reopened",
                               fin);
    }
    db->schema.schema_dirty = 0;
    return TIDAL_OK;
}

/* Parses a stored schema file image into s and the handle's generations; NULL or why. */
static const char *tidal__schema_parse(tidal_db *db, const uint8_t *p, size_t n,
                                       tidal__schemadef *s, size_t *at) {
    tidal__rd r;
    uint8_t sum[32];
    uint32_t len, i;
    const char *why;
    *at = 0;
    if (n < 12 + 4 + 32) return "truncated";
    tidal_blake3(p, n - 32, sum);
    if (memcmp(sum, p + n - 32, 32)) return "checksum mismatch";
    tidal__rd_init(&r, p, n - 32);
    if (tidal__rd_u32(&r) != TIDAL__SCHEMA_MAGIC) return "bad magic";
    if (tidal__rd_u32(&r) != TIDAL__SCHEMA_VERSION) return "unknown format version";
    len = tidal__rd_u32(&r);
    *at = r.pos;
    if (len > n - 32 - r.pos) return "schema length beyond the file";
    {
        tidal__rd q;
        tidal__rd_init(&q, p + r.pos, len);
        if ((why = tidal__schema_get(&q, s)) != NULL) return *at += q.pos, why;
        if (q.pos != len) return *at += q.pos, "schema longer than its contents";
        r.pos += len;
    }
    *at = r.pos;
    db->schema.n_gen = tidal__rd_u32(&r);
    if (r.bad || db->schema.n_gen < 1 || db->schema.n_gen > TIDAL__SCHEMA_GENS_MAX)
        return "bad generation count";
    for (i = 0; i < db->schema.n_gen; i++) {
        tidal__schemagen *g = &db->schema.gen[i], *prev = i ? &db->schema.gen[i - 1] : NULL;
        uint32_t c;
        *at = r.pos;
        c = tidal__rd_u32(&r);
        g->n_sig = c & 0xFF;
        g->n_ckey = c >> 8 & 0xFF;
        g->n_prof = c >> 16 & 0xFF;
        g->fp = tidal__rd_u64(&r);
        if (r.bad) return "generations truncated";
        if ((c >> 24) || g->n_sig < 1 || g->n_sig > s->n_sig || g->n_ckey > s->n_ckey ||
            g->n_prof > s->n_prof)
            return "generation larger than the schema";
        if (prev &&
            (g->n_sig < prev->n_sig || g->n_ckey < prev->n_ckey || g->n_prof < prev->n_prof ||
             g->n_sig + g->n_ckey + g->n_prof == prev->n_sig + prev->n_ckey + prev->n_prof))
            return "generation does not grow";
        if (g->fp != tidal__schema_fp(s, g->n_sig, g->n_ckey))
            return "generation fingerprint mismatch";
    }
    if (db->schema.gen[db->schema.n_gen - 1].n_sig != s->n_sig ||
        db->schema.gen[db->schema.n_gen - 1].n_ckey != s->n_ckey ||
        db->schema.gen[db->schema.n_gen - 1].n_prof != s->n_prof)
        return "newest generation is not the schema";
    if (r.pos != r.n) return "bytes after the generations";
    return NULL;
}

/* Open, before recovery (has_data: the directory holds a log or a snapshot). Reads the
   stored schema and reconciles the configured one with it: none given adopts it; one
   that agrees and adds is a new generation (saved after recovery); a disagreement is
   TIDAL_ERR_SCHEMA naming the field and both values. Without a stored schema (a new
   database, or one written before tidal stored its schema) the configured one is it, and
   a log written under a prefix of it still opens (rule 3). In a replica group a config
   that lags the stored schema adopts it (the log taught it); one that adds to it is
   refused: there the schema grows by tidal_db_schema_append on the leader. */
static tidal_result tidal__schema_open(tidal_db *db, int has_data) {
    char name[TIDAL_PATH_MAX + 64], msg[200];
    tidal__schemadef *st, *given;
    uint8_t *p;
    size_t n, at;
    const char *why;
    int grows, lacks;
    tidal_result io;
    tidal__schema_name(db, name, sizeof name, 0);
    io = tidal__read_file(db, name, &p, &n);
    if (io == TIDAL_ERR_NOT_FOUND) {
        if (db->schema.schema_adopt)
            return tidal__err(db, TIDAL_ERR_SCHEMA,
                              has_data ? "%s: no stored schema (written before tidal stored "
                                         "one): open with the schema it was written under"
                                       : "%s: a new database needs a "
                                         "schema (schema.signal_count 0 only adopts a stored one)",
                              name);
        db->schema.schema_dirty = 1; /* the configured schema, already the handle's, is stored */
        return TIDAL_OK;
    }
    if (io != TIDAL_OK) return io; /* tidal__read_file named the operation, file and cause */
    st = (tidal__schemadef *)tidal__alloc(db, sizeof *st * 2);
    given = st + 1;
    why = st ? tidal__schema_parse(db, p, n, st, &at) : NULL;
    tidal__free(db, p, n);
    if (!st) return tidal__err(db, TIDAL_ERR_NOMEM, "stored schema");
    tidal__schema_of(db, given);
    if (why) {
        tidal__free(db, st, sizeof *st * 2);
        return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: offset %llu: %s", name,
                          (unsigned long long)at, why);
    }
    grows = lacks = 0;
    if (!db->schema.schema_adopt &&
        !tidal__schema_diff(st, given, msg, sizeof msg, &grows, &lacks)) {
        tidal__free(db, st, sizeof *st * 2);
        return tidal__err(db, TIDAL_ERR_SCHEMA, "%s: %s", name, msg);
    }
    if (lacks && !db->rep.n_rep) {
        tidal__schema_lack_msg(st, given, msg, sizeof msg);
        tidal__free(db, st, sizeof *st * 2);
        return tidal__err(db, TIDAL_ERR_SCHEMA, "%s: %s; a schema only grows", name, msg);
    }
    if (grows && db->rep.n_rep && has_data) {
        tidal__free(db, st, sizeof *st * 2);
        return tidal__err(db, TIDAL_ERR_SCHEMA,
                          "%s: the configured schema adds to the stored one; in a "
                          "replica group it grows by tidal_db_schema_append on the leader",
                          name);
    }
    /* tidal__schema_set fills them again */
    db->schema.n_sig = db->schema.n_ckey = db->schema.n_prof = 0;
    {
        uint32_t g = db->schema.n_gen;
        tidal__schema_set(db, st); /* the stored generations stay as read */
        TIDAL_ASSERT(db->schema.n_gen == g);
    }
    if (grows) {
        tidal__schema_union(st, st, given);
        tidal__schema_set(db, st);
        db->schema.schema_dirty = 1;
    }
    tidal__free(db, st, sizeof *st * 2);
    return TIDAL_OK;
}

/* A schema event: tenant 0, entity = its signal count, an origin id, and the whole new
   schema, which agrees with this database's on everything both have (rule 1). */
static const char *tidal__schema_event_invalid(const tidal_db *db, const tidal__event *ev) {
    tidal__schemadef s, cur;
    tidal__rd r;
    const char *why;
    char msg[8];
    int grows, lacks;
    if (ev->tenant || (ev->id.hi & TIDAL__IDEM_BIT)) return "schema event: bad tenant or id";
    if (!ev->value || ev->value_len < 3) return "schema event: no schema";
    tidal__rd_init(&r, (const uint8_t *)ev->value, ev->value_len);
    if ((why = tidal__schema_get(&r, &s)) != NULL) return why;
    if (r.pos != r.n) return "schema event: bytes after the schema";
    if (ev->entity != s.n_sig) return "schema event: entity is not its signal count";
    tidal__schema_of(db, &cur);
    if (!tidal__schema_diff(&cur, &s, msg, sizeof msg, &grows, &lacks))
        return "schema event: changes what this database's schema has (a schema only grows)";
    return NULL;
}

/* The fingerprint a batch payload teaches (rule 4): that of the schema in its one event
   when that is a valid schema event, else 0. */
static uint64_t tidal__schema_batch_fp(const tidal_db *db, const uint8_t *p, uint32_t count,
                                       uint32_t payload_len) {
    tidal__rd r, q;
    tidal__event ev;
    tidal__schemadef s;
    if (count != 1 || payload_len < 1 || p[0] != TIDAL__EV_SCHEMA) return 0;
    tidal__rd_init(&r, p, payload_len);
    if (tidal__event_get(db, &r, &ev, NULL, 0) || r.pos != r.n) return 0;
    tidal__rd_init(&q, (const uint8_t *)ev.value, ev.value_len);
    if (tidal__schema_get(&q, &s)) return 0;
    return tidal__schema_fp(&s, s.n_sig, s.n_ckey);
}

static int tidal__schema_batch_teaches(tidal_db *db, const uint8_t *p, uint64_t fp, uint32_t count,
                                       uint32_t payload_len) {
    return fp && tidal__schema_batch_fp(db, p, count, payload_len) == fp;
}

/* Makes u (a union of ours and another, rule 1) the schema: every item's aggregate table
   grows first (reserve, nothing changed on failure); then the schema is set and, outside
   recovery, saved before a batch under the new fingerprint can be committed. */
static tidal_result tidal__schema_grow(tidal_db *db, const tidal__schemadef *u) {
    tidal__sig ***grown = NULL;
    uint32_t i, old_n = db->schema.n_sig;
    TIDAL_ASSERT(u->n_sig >= db->schema.n_sig && u->n_ckey >= db->schema.n_ckey &&
                 u->n_prof >= db->schema.n_prof);
    if (u->n_sig == db->schema.n_sig && u->n_ckey == db->schema.n_ckey &&
        u->n_prof == db->schema.n_prof)
        return TIDAL_OK;
    if (u->n_sig > old_n && db->st.n_ents) {
        grown = (tidal__sig ***)tidal__zalloc(db, sizeof *grown * db->st.n_ents);
        for (i = 0; grown && i < db->st.n_ents; i++) {
            if (!db->st.ents[i].sigs) continue;
            grown[i] = (tidal__sig **)tidal__arena_alloc(db, sizeof(tidal__sig *) * u->n_sig);
            if (!grown[i]) break;
            memset(grown[i], 0, sizeof(tidal__sig *) * u->n_sig);
            memcpy(grown[i], db->st.ents[i].sigs, sizeof(tidal__sig *) * old_n);
        }
        if (!grown || i < db->st.n_ents) {
            while (grown && i-- > 0)
                if (grown[i]) tidal__arena_free(db, grown[i], sizeof(tidal__sig *) * u->n_sig);
            if (grown) tidal__free(db, grown, sizeof *grown * db->st.n_ents);
            return TIDAL_ERR_NOMEM;
        }
        for (i = 0; i < db->st.n_ents; i++) { /* nothing fails from here on */
            if (!grown[i]) continue;
            tidal__arena_free(db, db->st.ents[i].sigs, sizeof(tidal__sig *) * old_n);
            db->st.ents[i].sigs = grown[i];
        }
        tidal__free(db, grown, sizeof *grown * db->st.n_ents);
    }
    tidal__schema_set(db, u);
    TIDAL_ASSERT(db->schema.n_sig >= old_n);
    if (db->log.wal_on && db->log.replaying) {
        db->schema.schema_dirty = 1; /* saved once recovery is done */
        return TIDAL_OK;
    }
    return db->log.wal_on ? tidal__schema_save(db) : TIDAL_OK; /* a failure fails the handle */
}

/* Folds a schema event: the schema becomes the union of ours and its (a no-op when we
   have it all, as on replay after the stored schema was saved). */
static tidal_result tidal__apply_schema(tidal_db *db, const tidal__event *ev) {
    tidal__schemadef *s = (tidal__schemadef *)tidal__alloc(db, sizeof *s * 2);
    tidal__rd r;
    const char *why;
    tidal_result res;
    if (!s) return TIDAL_ERR_NOMEM;
    tidal__rd_init(&r, (const uint8_t *)ev->value, ev->value_len);
    why = tidal__schema_get(&r, s);
    TIDAL_ASSERT(!why); /* decoded events were validated, local ones built valid */
    tidal__schema_of(db, s + 1);
    tidal__schema_union(s + 1, s + 1, s);
    res = tidal__schema_grow(db, s + 1);
    if (res == TIDAL_OK) db->stats.events_internal++;
    tidal__free(db, s, sizeof *s * 2);
    return res;
}

/* A state transfer's schema (>>repl_xfer): learned before the state is replaced, and
   refused, changing nothing, if it disagrees with ours. */
static tidal_result tidal__schema_learn(tidal_db *db, const uint8_t *p, size_t len) {
    tidal__schemadef *s = (tidal__schemadef *)tidal__alloc(db, sizeof *s * 2);
    tidal__rd r;
    const char *why;
    char msg[200];
    int grows, lacks;
    tidal_result res = TIDAL_OK;
    if (!s) return tidal__err(db, TIDAL_ERR_NOMEM, "state transfer: schema");
    tidal__rd_init(&r, p, len);
    why = tidal__schema_get(&r, s);
    if (!why && r.pos != r.n) why = "bytes after the schema";
    tidal__schema_of(db, s + 1);
    if (why) res = tidal__err(db, TIDAL_ERR_CORRUPT, "state transfer: offset 12: %s", why);
    else if (!tidal__schema_diff(s + 1, s, msg, sizeof msg, &grows, &lacks))
        res = tidal__err(db, TIDAL_ERR_SCHEMA,
                         "state transfer: the leader's schema disagrees with ours: %s "
                         "(ours is the stored one)",
                         msg);
    else {
        tidal__schema_union(s + 1, s + 1, s);
        res = tidal__schema_grow(db, s + 1);
        if (res == TIDAL_ERR_NOMEM) tidal__err(db, res, "state transfer: growing the schema");
    }
    tidal__free(db, s, sizeof *s * 2);
    return res;
}

/* What tidal_db_schema_get hands out: views of the handle's own names. */
struct tidal__schemaview {
    tidal_signal_def sigs[TIDAL_SIGNAL_TYPES_MAX];
    const char *ckeys[TIDAL_COHORT_KEYS_MAX];
    tidal_profile_def profs[TIDAL_PROFILES_MAX];
    tidal_profile_term terms[TIDAL_PROFILES_MAX][TIDAL_PROFILE_TERMS_MAX];
};

TIDAL_API tidal_result tidal_db_schema_get(tidal_db *db, tidal_schema *out) {
    struct tidal__schemaview *v;
    uint32_t i, j;
    if (!db || !out) return tidal__err(db, TIDAL_ERR_INVALID, "tidal_db_schema_get: NULL argument");
    if (!db->schema.schema_view) {
        db->schema.schema_view =
            (struct tidal__schemaview *)tidal__alloc(db, sizeof *db->schema.schema_view);
        if (!db->schema.schema_view)
            return tidal__err(db, TIDAL_ERR_NOMEM, "tidal_db_schema_get: no memory");
    }
    v = db->schema.schema_view;
    memset(v, 0, sizeof *v);
    TIDAL_ASSERT(db->schema.n_sig >= 1 && db->schema.n_sig <= TIDAL_SIGNAL_TYPES_MAX);
    for (i = 0; i < db->schema.n_sig; i++) {
        v->sigs[i].name = db->schema.sig[i].name;
        v->sigs[i].half_life_s = db->schema.sig[i].half_life_s;
        v->sigs[i].windows = db->schema.sig[i].windows;
        v->sigs[i].permanent = db->schema.sig[i].permanent;
        v->sigs[i].negative = db->schema.sig[i].negative;
    }
    for (i = 0; i < db->schema.n_ckey; i++) v->ckeys[i] = db->schema.ckey[i];
    for (i = 0; i < db->schema.n_prof; i++) {
        TIDAL_ASSERT(db->schema.prof[i].n >= 1 && db->schema.prof[i].n <= TIDAL_PROFILE_TERMS_MAX);
        for (j = 0; j < db->schema.prof[i].n; j++) {
            v->terms[i][j].signal = db->schema.sig[db->schema.prof[i].type[j]].name;
            v->terms[i][j].weight = db->schema.prof[i].weight[j];
        }
        v->profs[i].name = db->schema.prof[i].name;
        v->profs[i].terms = v->terms[i];
        v->profs[i].term_count = db->schema.prof[i].n;
    }
    memset(out, 0, sizeof *out);
    out->signals = v->sigs;
    out->signal_count = db->schema.n_sig;
    out->cohort_keys = db->schema.n_ckey ? v->ckeys : NULL;
    out->cohort_key_count = db->schema.n_ckey;
    out->profiles = db->schema.n_prof ? v->profs : NULL;
    out->profile_count = db->schema.n_prof;
    tidal__ok(db);
    return TIDAL_OK;
}


TIDAL_API tidal_result tidal_db_schema_append(tidal_db *db, const tidal_schema *schema) {
    tidal__schemadef *s, *cur;
    tidal__event ev;
    tidal_receipt rc;
    uint8_t *buf;
    char msg[200];
    int grows = 0, lacks = 0;
    tidal_result r;
    if (!db || !schema)
        return tidal__err(db, TIDAL_ERR_INVALID, "tidal_db_schema_append: NULL argument");
    if (db->fatal) return tidal__err(db, TIDAL_ERR_FATAL, "handle failed earlier; reopen");
    /* not even cut off in availability mode */
    if (db->rep.n_rep && db->rep.role != TIDAL_ROLE_LEADER) {
        if (db->rep.leader_idx < 0)
            return tidal__err(db, TIDAL_ERR_READ_ONLY, "read-only: the schema grows on the leader "
                                                       "(none known now)");
        return tidal__err(db, TIDAL_ERR_READ_ONLY, "read-only: the schema grows on the leader: the "
                          "leader is region %u shard %u", db->rep.member[db->rep.leader_idx].region,
                          db->rep.member[db->rep.leader_idx].shard);
    }
    s = (tidal__schemadef *)tidal__alloc(db, sizeof *s * 2);
    buf = (uint8_t *)tidal__alloc(db, TIDAL__SCHEMA_ENC_MAX);
    if (!s || !buf) {
        r = tidal__err(db, TIDAL_ERR_NOMEM, "tidal_db_schema_append: no memory");
        goto out;
    }
    cur = s + 1;
    r = tidal__schema_load(db, schema, s);
    if (r == TIDAL_OK) r = tidal__profiles_load(db, schema, s);
    if (r != TIDAL_OK) goto out;
    tidal__schema_of(db, cur);
    if (!tidal__schema_diff(cur, s, msg, sizeof msg, &grows, &lacks)) {
        r = tidal__err(db, TIDAL_ERR_SCHEMA, "%s (the current schema is the stored one)", msg);
        goto out;
    }
    if (lacks) {
        tidal__schema_lack_msg(cur, s, msg, sizeof msg);
        r = tidal__err(db, TIDAL_ERR_SCHEMA, "%s; give the whole schema, appended at the ends",
                       msg);
        goto out;
    }
    if (!grows) { /* a retry of an append that took: nothing to do */
        tidal__ok(db);
        goto out;
    }
    /* Alone in its batch (rule 4): what is pending commits first, the event right after. */
    if ((r = tidal__commit(db)) != TIDAL_OK) goto out;
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_SCHEMA;
    ev.entity = s->n_sig;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    ev.value = (const char *)buf;
    ev.value_len = (uint32_t)(tidal__schema_put(buf, s) - buf);
    TIDAL_ASSERT(ev.value_len <= TIDAL__SCHEMA_ENC_MAX);
    r = tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, &rc); /* commits it alone */
out:
    tidal__free(db, buf, TIDAL__SCHEMA_ENC_MAX);
    tidal__free(db, s, sizeof *s * 2);
    return r;
}

// >>db_open
// Open and close: the configuration resolved into the handle's parts, the directory lock,
// recovery and the replica member started in order, and everything freed again. A failed
// open frees what it built and says why; close never fails. Also the name lookups
// (tidal_signal_type, tidal_profile_index) that need nothing but the schema.

/* The configured schema becomes the handle's (tidal__schema_open reconciles it with the
   stored one); signal_count 0 asks to adopt the stored schema. */
static tidal_result tidal__config_schema(tidal_db *db, const tidal_schema *s) {
    tidal__schemadef *d;
    tidal_result r;
    if (s->signal_count == 0) {
        if (!db->log.wal_on)
            return tidal__err(db, TIDAL_ERR_SCHEMA,
                              "schema.signal_count must be 1..%d (0 adopts a stored "
                              "schema, and a database without a path has none)",
                              TIDAL_SIGNAL_TYPES_MAX);
        if (s->cohort_key_count || s->profile_count)
            return tidal__err(db, TIDAL_ERR_SCHEMA,
                              "schema: signal_count 0 adopts the stored schema; "
                              "cohort_key_count and profile_count must be 0 too");
        db->schema.schema_adopt = 1;
        return TIDAL_OK;
    }
    d = (tidal__schemadef *)tidal__alloc(db, sizeof *d);
    if (!d) return tidal__err(db, TIDAL_ERR_NOMEM, "schema");
    r = tidal__schema_load(db, s, d);
    if (r == TIDAL_OK) r = tidal__profiles_load(db, s, d);
    if (r == TIDAL_OK) tidal__schema_set(db, d);
    tidal__free(db, d, sizeof *d);
    return r;
}

static tidal_result tidal__config_load(tidal_db *db, const tidal_config *cfg) {
    if (cfg->path && (!cfg->path[0] || strlen(cfg->path) > TIDAL_PATH_MAX))
        return tidal__err(db, TIDAL_ERR_INVALID, "config.path: 1..%d bytes", TIDAL_PATH_MAX);
    if (cfg->fsync_policy > TIDAL_FSYNC_NONE || cfg->batch_delay_ns < 0 ||
        cfg->batch_events_max > TIDAL_BATCH_EVENTS_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "config: bad fsync_policy, batch_delay_ns or batch_events_max");
    if (cfg->group > 0xFF) return tidal__err(db, TIDAL_ERR_INVALID, "config.group: 0..255");
    if (cfg->replica_count > TIDAL_REPLICAS_MAX || (cfg->replica_count && (!cfg->replicas || !cfg->path)) ||
        cfg->heartbeat_ns < 0 || cfg->retransmit_ns < 0 || cfg->quorum_wait_ns < 0 ||
        cfg->clock_ahead_max_ns < 0)
        return tidal__err(db, TIDAL_ERR_INVALID, "config: replicas need a path and 1..%d members",
                          TIDAL_REPLICAS_MAX);
    if (cfg->replica_count) {
        uint32_t i, j, self = UINT32_MAX;
        for (i = 0; i < cfg->replica_count; i++) {
            for (j = 0; j < i; j++)
                if (tidal__node_word(cfg->replicas[j]) == tidal__node_word(cfg->replicas[i]))
                    return tidal__err(db, TIDAL_ERR_INVALID, "config.replicas[%u] repeats", i);
            if (tidal__node_word(cfg->replicas[i]) == tidal__node_word(cfg->node)) self = i;
            db->rep.member[i] = cfg->replicas[i];
        }
        if (self == UINT32_MAX) return tidal__err(db, TIDAL_ERR_INVALID, "config.replicas lacks config.node");
        db->rep.n_rep = cfg->replica_count;
        db->rep.self_rep = self;
    }
    db->rep.heartbeat_ns = cfg->heartbeat_ns ? cfg->heartbeat_ns : 100 * 1000 * 1000;
    db->rep.election_timeout_ns = cfg->election_timeout_ns > 0 ? cfg->election_timeout_ns : TIDAL_NS_PER_S;
    db->rep.bootstrap = cfg->group_bootstrap != 0;
    db->rep.leader_idx = -1;
    db->rep.retransmit_ns = cfg->retransmit_ns ? cfg->retransmit_ns : 400 * 1000 * 1000;
    db->rep.availability = cfg->availability_mode != 0;
    db->rep.config_version = cfg->config_version;
    db->rep.group = cfg->group;
    db->rep.quorum_wait_ns =
        cfg->quorum_wait_ns ? cfg->quorum_wait_ns : 2 * db->rep.election_timeout_ns;
    db->rep.clock_ahead_max_ns = cfg->clock_ahead_max_ns ? cfg->clock_ahead_max_ns : 10 * TIDAL_NS_PER_S;
    if (cfg->path) strcpy(db->path, cfg->path);
    db->log.wal_on = cfg->path != NULL;
    db->log.fsync_policy = cfg->fsync_policy ? cfg->fsync_policy : TIDAL_FSYNC_BATCH;
    db->log.batch_events_max = cfg->batch_events_max ? cfg->batch_events_max : 4096;
    db->log.batch_delay_ns = cfg->batch_delay_ns;
    db->log.segment_bytes_max = cfg->segment_bytes_max ? cfg->segment_bytes_max : (64u << 20);
    db->log.snap_log_bytes = cfg->snapshot_log_bytes ? cfg->snapshot_log_bytes : (64u << 20);
    db->log.next_lsn = 1;
    if (cfg->future_bound_ns < 0 || cfg->idempotency_window_ns < 0)
        return tidal__err(db, TIDAL_ERR_INVALID, "config: negative duration");
    if (cfg->retrieve_limit_max > TIDAL_LIMIT_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "config.retrieve_limit_max above %d", TIDAL_LIMIT_MAX);
    if (cfg->session_events_max > TIDAL_SESSION_EVENTS_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "config.session_events_max above %d",
                          TIDAL_SESSION_EVENTS_MAX);
    if (cfg->env && (cfg->env->version < 1 || cfg->env->version > TIDAL_ENV_VERSION ||
                     !cfg->env->clock_wall_ns || !cfg->env->random_fill))
        return tidal__err(db, TIDAL_ERR_INVALID, "config.env: version %u (1..%u taken) or a "
                          "clock or random method missing", cfg->env->version, TIDAL_ENV_VERSION);
    if (cfg->env && cfg->path && cfg->env->version >= 2 &&
        (!cfg->env->dir_lock || !cfg->env->dir_unlock))
        return tidal__err(db, TIDAL_ERR_INVALID, "config.env: version %u needs dir_lock and "
                          "dir_unlock for a database with a path", cfg->env->version);
    db->env = cfg->env ? cfg->env : tidal_env_posix();
    db->node = cfg->node;
    db->future_bound_ns = cfg->future_bound_ns ? cfg->future_bound_ns : 60 * TIDAL_NS_PER_S;
    db->time_min_ns = cfg->time_min_ns > 0 ? cfg->time_min_ns
                    : cfg->time_min_ns == 0 ? TIDAL_TIME_MIN_DEFAULT_NS : 0;
    db->idem_window_ns = cfg->idempotency_window_ns ? cfg->idempotency_window_ns : TIDAL__DAY_NS;
    db->limit_max = cfg->retrieve_limit_max ? cfg->retrieve_limit_max : 1000;
    db->session_events_max = cfg->session_events_max ? cfg->session_events_max : 4096;
    db->st.next_expiry_ns = INT64_MAX;
    db->st.idem_gc_at = INT64_MIN;
    return tidal__config_schema(db, &cfg->schema);
}

static void tidal__db_free(tidal_db *db);
static tidal_result tidal__collect_load(tidal_db *db); /* >>migration */
static tidal_result tidal__collect_step(tidal_db *db);
static tidal_result tidal__rep_open(tidal_db *db);

/* Takes the env's exclusive lock on the database directory, creating the directory first
   (DESIGN 4.3: one handle per directory; two writers on one log lose acknowledged writes).
   The lock holds until tidal__db_free. A version-1 env has no lock method: no lock, as
   documented at TIDAL_ENV_VERSION. */
static tidal_result tidal__db_lock(tidal_db *db) {
    const tidal_env *env = db->env;
    uint64_t holder = 0;
    tidal_result r;
    TIDAL_ASSERT(db->log.wal_on && db->path[0] && !db->log.dir_lock);
    if (env->version < 2) return TIDAL_OK;
    r = env->dir_create(env->user, db->path);
    if (r != TIDAL_OK) return tidal__io_err(db, r, "create directory", db->path);
    r = env->dir_lock(env->user, db->path, &db->log.dir_lock, &holder);
    if (r == TIDAL_ERR_LOCKED && holder)
        return tidal__err(db, r, "%s: the database is open in another handle (pid %llu holds "
                          "its lock); one handle per database directory", db->path,
                          (unsigned long long)holder);
    if (r == TIDAL_ERR_LOCKED)
        return tidal__err(db, r, "%s: the database is open in another handle; one handle per "
                          "database directory", db->path);
    if (r != TIDAL_OK) {
        db->log.dir_lock = NULL;
        return tidal__io_err(db, r, "lock", db->path);
    }
    TIDAL_ASSERT(db->log.dir_lock != NULL);
    return TIDAL_OK;
}

/* Open's failures before a handle exists: the message goes to msg alone. */
static tidal_result tidal__open_fail(char *msg, size_t cap, tidal_result r, const char *why) {
    TIDAL_ASSERT(r != TIDAL_OK && why && why[0]);
    if (msg && cap) snprintf(msg, cap, "%s", why);
    return r;
}

static tidal_result tidal__tenants_load(tidal_db *db); /* below, with tidal_tenant_set */

TIDAL_API tidal_result tidal_db_open_msg(const tidal_config *cfg, tidal_db **out, char *msg,
                                         size_t cap) {
    tidal_allocator a;
    tidal_db *db;
    tidal_result r;
    if (!out) return tidal__open_fail(msg, cap, TIDAL_ERR_INVALID, "open: out is NULL");
    *out = NULL;
    if (!cfg) return tidal__open_fail(msg, cap, TIDAL_ERR_INVALID, "open: config is NULL");
    if (cfg->allocator) {
        if (!cfg->allocator->alloc || !cfg->allocator->realloc || !cfg->allocator->free)
            return tidal__open_fail(msg, cap, TIDAL_ERR_INVALID,
                                    "config.allocator: alloc, realloc and free are all needed");
        a = *cfg->allocator;
    } else {
        a.user = NULL;
        a.alloc = tidal__default_alloc;
        a.realloc = tidal__default_realloc;
        a.free = tidal__default_free;
    }
    db = (tidal_db *)a.alloc(a.user, sizeof *db);
    if (!db) return tidal__open_fail(msg, cap, TIDAL_ERR_NOMEM, "open: no memory for the handle");
    memset(db, 0, sizeof *db);
    db->alloc = a;
    if ((r = tidal__config_load(db, cfg)) != TIDAL_OK) {
        if (msg && cap) snprintf(msg, cap, "%s", db->errmsg);
        a.free(a.user, db, sizeof *db);
        return r;
    }
    if (db->log.wal_on) {
        r = tidal__db_lock(db);
        if (r == TIDAL_OK) r = tidal__tenants_load(db); /* before the state: entities count */
        if (r == TIDAL_OK) r = tidal__recover(db);
        if (r == TIDAL_OK) r = tidal__collect_load(db); /* after the replay: its drops too */
        if (r == TIDAL_OK && db->rep.n_rep) r = tidal__rep_open(db);
        if (r == TIDAL_OK && !db->rep.n_rep)
            r = tidal__collect_step(db); /* a group's waits: ticks */
        if (r != TIDAL_OK) {
            if (!db->errmsg[0]) /* a path that set none (out of memory): say where at least */
                tidal__err(db, r, "open %s: %s", db->path, tidal_strerror(r));
            if (msg && cap) snprintf(msg, cap, "%s", db->errmsg); /* names file and offset */
            tidal__db_free(db);
            return r;
        }
    } else {
        db->env->random_fill(db->env->user, &db->incarnation, sizeof db->incarnation);
        db->incarnation = tidal__incarnation(db, db->incarnation);
    }
    tidal__ok(db); /* expected misses on the way (no epoch file yet) are not errors */
    *out = db;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_db_open(const tidal_config *cfg, tidal_db **out) {
    return tidal_db_open_msg(cfg, out, NULL, 0);
}

static void tidal__ent_free(tidal_db *db, tidal__entity *e) {
    uint32_t i;
    if (e->sigs) {
        for (i = 0; i < db->schema.n_sig; i++) tidal__sig_free(db, e->sigs[i]);
        tidal__arena_free(db, e->sigs, sizeof(tidal__sig *) * db->schema.n_sig);
    }
    for (i = 0; i < e->n_csigs; i++) tidal__sig_free(db, e->csigs[i].sig);
    tidal__arena_free(db, e->csigs, sizeof(tidal__csig) * e->cap_csigs);
    tidal__free(db, e->attrs, sizeof(tidal__attr) * e->cap_attrs);
    if (e->user) {
        for (i = 0; i < e->user->n_negs; i++) {
            tidal__free(db, e->user->negs[i].adds.v, sizeof(tidal_event_id) * e->user->negs[i].adds.cap);
            tidal__free(db, e->user->negs[i].tombs.v, sizeof(tidal_event_id) * e->user->negs[i].tombs.cap);
        }
        tidal__free(db, e->user->negs, sizeof(tidal__neg) * e->user->cap_negs);
        tidal__set_free(db, &e->user->seen);
        tidal__arena_free(db, e->user, sizeof(tidal__user));
    }
}

/* Frees every state structure and leaves an empty state (used by close, and by recovery
   when a snapshot fails to load halfway). Config, env and log position stay. */
static void tidal__state_free(tidal_db *db) {
    uint32_t i;
    for (i = 0; i < db->ten.n_tcfg; i++)
        db->ten.tcfg[i].entities = 0; /* recounted as state returns */
    for (i = 0; i < db->st.n_ents; i++) tidal__ent_free(db, &db->st.ents[i]);
    tidal__free(db, db->st.ents, sizeof(tidal__entity) * db->st.cap_ents);
    for (i = 0; i < db->st.n_tenants; i++)
        tidal__free(db, db->st.tenants[i].items, sizeof(uint32_t) * db->st.tenants[i].cap_items);
    tidal__free(db, db->st.tenants, sizeof(tidal__tenant) * db->st.cap_tenants);
    for (i = 0; i < db->st.n_sess; i++) tidal__free(db, db->st.sess[i].j, sizeof(tidal__jentry) * db->st.sess[i].cap_j);
    tidal__free(db, db->st.sess, sizeof(tidal__session) * db->st.cap_sess);
    for (i = 0; i < db->st.n_lbs; i++) tidal__free(db, db->st.lbs[i].m, sizeof(tidal__lb_entry) * db->st.lbs[i].cap);
    tidal__free(db, db->st.lbs, sizeof(tidal__lb) * db->st.cap_lbs);
    for (i = 0; i < db->st.n_strs; i++)
        tidal__free(db, db->st.strs[i].s, (size_t)db->st.strs[i].len + 1);
    tidal__free(db, db->st.strs, sizeof(tidal__str) * db->st.cap_strs);
    for (i = 0; i < db->st.n_origins; i++) tidal__set_free(db, &db->st.origins[i].above);
    TIDAL_ASSERT(db->st.arena.chunks == 0); /* every aggregate, array and set went back */
    tidal__arena_release(db);
    tidal__free(db, db->st.origins, sizeof(tidal__origin) * db->st.cap_origins);
    tidal__free(db, db->st.idem_time, sizeof(int64_t) * db->st.cap_idem);
    tidal__free(db, db->st.tgen, sizeof(tidal__tgen) * db->st.cap_tgen);
    db->st.tgen = NULL;
    db->st.n_tgen = db->st.cap_tgen = 0;
    tidal__emap_free(db, &db->st.ent_map);
    tidal__map_free(db, &db->st.tenant_map);
    tidal__map_free(db, &db->st.sess_map);
    tidal__map_free(db, &db->st.lb_map);
    tidal__map_free(db, &db->st.str_map);
    tidal__map_free(db, &db->st.idem_map);
    db->st.ents = NULL;
    db->st.n_ents = db->st.cap_ents = 0;
    db->st.tenants = NULL;
    db->st.n_tenants = db->st.cap_tenants = 0;
    db->st.sess = NULL;
    db->st.n_sess = db->st.cap_sess = 0;
    db->st.lbs = NULL;
    db->st.n_lbs = db->st.cap_lbs = 0;
    db->st.strs = NULL;
    db->st.n_strs = db->st.cap_strs = 0;
    db->st.origins = NULL;
    db->st.n_origins = db->st.cap_origins = 0;
    db->st.idem_time = NULL;
    db->st.n_idem = db->st.cap_idem = 0;
    db->st.next_expiry_ns = INT64_MAX;
    db->st.idem_gc_at = INT64_MIN;
    db->stats.entities = db->stats.events_applied = 0;
    for (i = 0; i < db->schema.n_sig; i++) db->schema.sig[i].e_ref = INT64_MIN;
}

/* Frees everything the handle holds but the handle itself (and its directory lock): what
   close frees, so the handle's own memory is all that is left (bytes_state 0). */
static void tidal__db_release(tidal_db *db) {
    if (db->log.seg) db->env->file_close(db->env->user, db->log.seg);
    tidal__state_free(db);
    tidal__free(db, db->scratch_tags, sizeof(tidal_event_id) * db->cap_scratch_tags);
    tidal__free(db, db->log.dec, sizeof(tidal__event) * db->log.cap_dec);
    tidal__free(db, db->log.batch, db->log.batch_cap);
    tidal__free(db, db->log.segs, sizeof(uint64_t) * db->log.cap_segs);
    tidal__free(db, db->rep.ship, db->rep.ship_cap);
    tidal__free(db, db->rep.out, db->rep.out_cap);
    tidal__free(db, db->rep.xfer, db->rep.xfer_cap);
    tidal__free(db, db->rep.xin, db->rep.xin_cap);
    tidal__free(db, db->hook_buf, db->hook_cap);
    while (db->rep.n_ooo) {
        db->rep.n_ooo--;
        tidal__free(db, db->rep.ooo[db->rep.n_ooo].p, db->rep.ooo[db->rep.n_ooo].len);
    }
    tidal__free(db, db->ten.tcfg, sizeof *db->ten.tcfg * db->ten.cap_tcfg);
    tidal__free(db, db->log.collect, sizeof(uint32_t) * db->log.cap_collect);
    tidal__free(db, db->schema.schema_view, sizeof *db->schema.schema_view);
    {
        uint32_t i;
        for (i = 0; i < TIDAL_REPLICAS_MAX; i++)
            tidal__free(db, db->rep.vv_peer[i].w, sizeof(uint64_t) * db->rep.vv_peer[i].cap);
    }
    TIDAL_ASSERT(db->stats.bytes_state == 0); /* every allocation was returned */
}

static void tidal__db_free(tidal_db *db) {
    tidal_allocator a = db->alloc;
    tidal__db_release(db);
    if (db->log.dir_lock)
        db->env->dir_unlock(db->env->user, db->log.dir_lock); /* files closed first */
    a.free(a.user, db, sizeof *db);
}

TIDAL_API void tidal_db_close(tidal_db *db) {
    if (!db) return;
    if (!db->fatal) (void)tidal__commit(db); /* best effort; call tidal_db_commit to know */
    tidal__db_free(db);
}

/* Closes an ephemeral handle and opens it again as it was right after its open, in place:
   fresh is a byte copy of the handle taken then (tidal_db_open of the same config, nothing
   done since; it holds no allocation, so the copy owns nothing), and the env it points to
   must be set back by the caller too (a random stream it drew from). Everything close does
   but freeing the handle, then the copy's bytes: the handle is the one a new open with that
   config and env would give, without the open's work (the handle's 69 KB zeroed, the
   schema checked and fingerprinted). For fuzz targets that open many short-lived handles
   of one config per input (fuzz_merge). */
TIDAL__TESTING static void tidal__db_renew(tidal_db *db, const tidal_db *fresh) {
    TIDAL_ASSERT(db && fresh && db != fresh && !db->log.wal_on && !db->rep.n_rep);
    TIDAL_ASSERT(fresh->stats.bytes_state == 0 && !fresh->log.wal_on);
    if (!db->fatal) (void)tidal__commit(db); /* as close does: a hook may see the batch */
    tidal__db_release(db);
    memcpy(db, fresh, sizeof *db);
}

TIDAL_API void tidal_db_stats_get(const tidal_db *db, tidal_db_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (db) *out = db->stats;
}

TIDAL_API tidal_result tidal_signal_type(const tidal_db *db, const char *name, uint32_t *type) {
    uint32_t i;
    if (!db) return TIDAL_ERR_INVALID;
    if (!name || !type)
        return tidal__err_const(db, TIDAL_ERR_INVALID, "signal type: %s is NULL",
                                name ? "type" : "name");
    for (i = 0; i < db->schema.n_sig; i++)
        if (!strcmp(db->schema.sig[i].name, name)) {
            *type = i;
            return TIDAL_OK;
        }
    return tidal__err_const(db, TIDAL_ERR_NOT_FOUND, "signal type '%.64s' is not in the schema",
                            name);
}

TIDAL_API tidal_result tidal_profile_index(const tidal_db *db, const char *name,
                                           uint32_t *profile) {
    uint32_t i;
    if (!db || !name || !profile) return TIDAL_ERR_INVALID;
    for (i = 0; i < db->schema.n_prof; i++)
        if (!strcmp(db->schema.prof[i].name, name)) {
            *profile = i;
            return TIDAL_OK;
        }
    return TIDAL_ERR_NOT_FOUND;
}

// >>db_tenant
// Tenants on this node: their limits (entity quota, token-bucket write rate) and migration
// state, persisted beside the log so a restart enforces them from its own disk; the admission check every local write passes (tidal__take_refuse);
// and routing (tidal_route) with the scatter-gather merge over shard handles.

static int64_t tidal__now(tidal_db *db) { return db->env->clock_wall_ns(db->env->user); }

/* A member that has heard no leader for the election timeout: it cannot tell a dead leader
   from a partition, and in availability mode it then takes writes as its own origin. Not a
   member that lost its disk and has not caught up yet: it knows nothing of the group. */
static int tidal__cut_off(const tidal_db *db) {
    return db->rep.n_rep && db->rep.role != TIDAL_ROLE_LEADER && !db->rep.amnesiac &&
           db->env->clock_mono_ns(db->env->user) - db->rep.leader_heard_ns >=
               db->rep.election_timeout_ns;
}

static tidal__tcfg *tidal__tcfg_find(tidal_db *db, uint32_t tenant) {
    uint32_t k;
    for (k = 0; k < db->ten.n_tcfg; k++)
        if (db->ten.tcfg[k].cfg.tenant == tenant) return &db->ten.tcfg[k];
    return NULL;
}

/* The token bucket's size: burst, or one second of the rate, and never under one signal
   (a bucket that cannot hold a whole token would refuse every signal forever: a rate of
   0.5/s must let one through every 2 s). */
static double tidal__tokens_max(const tidal_tenant_config *cfg) {
    double b = cfg->burst > 0 ? cfg->burst : cfg->rate_per_s;
    return b < 1.0 ? 1.0 : b;
}

/* A tenant's limits on a write this node accepts: the token bucket for signals (refilled
   by the monotonic clock), the entity quota for entities the event would create. */
static tidal_result tidal__tenant_admit(tidal_db *db, const tidal__event *ev) {
    tidal__tcfg *t = tidal__tcfg_find(db, ev->tenant);
    if (!t) return TIDAL_OK;
    if (t->cfg.state != TIDAL_TENANT_ACTIVE && !TIDAL__EV_NOT_CLIENT(ev->kind))
        return tidal__err(db, TIDAL_ERR_MOVED, "tenant %u is %s this replica group: refresh its placement",
                          ev->tenant, t->cfg.state == TIDAL_TENANT_SEALED ? "moving out of" : "not yet owned by");
    if (t->cfg.entity_quota) {
        uint64_t fresh = !tidal__ent_find(db, ev->tenant, ev->entity);
        if (ev->kind == TIDAL__EV_SIGNAL && ev->other && ev->other != ev->entity)
            fresh += !tidal__ent_find(db, ev->tenant, ev->other);
        if (ev->kind >= TIDAL__EV_SESSION_START && ev->kind != TIDAL__EV_SIGNAL) fresh = 0;
        if (fresh && t->entities + fresh > t->cfg.entity_quota)
            return tidal__err(db, TIDAL_ERR_QUOTA, "tenant %u holds %llu of its %llu entities", ev->tenant,
                              (unsigned long long)t->entities, (unsigned long long)t->cfg.entity_quota);
    }
    if (t->cfg.rate_per_s > 0 && ev->kind == TIDAL__EV_SIGNAL) {
        int64_t now = db->env->clock_mono_ns(db->env->user);
        double burst = tidal__tokens_max(&t->cfg);
        if (now > t->refill_ns) {
            t->tokens += (double)(now - t->refill_ns) * 1e-9 * t->cfg.rate_per_s;
            if (t->tokens > burst) t->tokens = burst;
            t->refill_ns = now;
        }
        if (t->tokens < 1.0)
            return tidal__err(db, TIDAL_ERR_RATE_LIMITED, "tenant %u is over %g signals/s", ev->tenant,
                              t->cfg.rate_per_s);
        t->tokens -= 1.0;
    }
    return TIDAL_OK;
}

/* Tenant configs on disk (DESIGN 5.9: a restarted node enforces its tenants' states from
   its own disk, with no host re-pushing them): "tenants-RRRR-SSSS.cfg" in the database
   directory, rewritten whole (temp file, fsync, rename, directory fsync) whenever a config
   changes. Layout: magic u32 "TDLN", format version u32 (1), count u32, count entries of
   tenant u32, placement u32, rate_per_s f64, burst f64, entity_quota u64, config_version
   u64, state u8 (41 bytes), then BLAKE3 u8[32] of everything before it. */
#define TIDAL__TENANTS_MAGIC UINT32_C(0x4E4C4454) /* "TDLN" */
#define TIDAL__TENANTS_VERSION 1u
#define TIDAL__TENANT_BYTES 41

static int tidal__tcfg_same(const tidal_tenant_config *a, const tidal_tenant_config *b) {
    return a->tenant == b->tenant && a->placement == b->placement &&
           a->rate_per_s == b->rate_per_s && a->burst == b->burst &&
           a->entity_quota == b->entity_quota && a->config_version == b->config_version &&
           a->state == b->state;
}

static void tidal__tenants_name(const tidal_db *db, char *out, size_t cap, int tmp) {
    snprintf(out, cap, "%s/tenants-%04x-%04x.%s", db->path, db->node.region, db->node.shard,
             tmp ? "tmp" : "cfg");
}

static tidal_result tidal__tenants_save(tidal_db *db) {
    char tmp[TIDAL_PATH_MAX + 64], fin[TIDAL_PATH_MAX + 64];
    size_t len = 12 + (size_t)db->ten.n_tcfg * TIDAL__TENANT_BYTES + 32;
    uint8_t *b = (uint8_t *)tidal__alloc(db, len), *w;
    uint32_t k;
    tidal_result r;
    if (!b) return tidal__err(db, TIDAL_ERR_NOMEM, "tenant config file buffer");
    w = tidal__wr_le(b, TIDAL__TENANTS_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL__TENANTS_VERSION, 4);
    w = tidal__wr_le(w, db->ten.n_tcfg, 4);
    for (k = 0; k < db->ten.n_tcfg; k++) {
        const tidal_tenant_config *c = &db->ten.tcfg[k].cfg;
        TIDAL_ASSERT(c->state <= TIDAL_TENANT_SEALED);
        w = tidal__wr_le(tidal__wr_le(w, c->tenant, 4), c->placement, 4);
        w = tidal__wr_f64(tidal__wr_f64(w, c->rate_per_s), c->burst);
        w = tidal__wr_le(tidal__wr_le(w, c->entity_quota, 8), c->config_version, 8);
        w = tidal__wr_le(w, c->state, 1);
    }
    tidal_blake3(b, (size_t)(w - b), w);
    TIDAL_ASSERT((size_t)(w + 32 - b) == len);
    tidal__tenants_name(db, tmp, sizeof tmp, 1);
    tidal__tenants_name(db, fin, sizeof fin, 0);
    r = tidal__file_replace(db, tmp, fin, b, len);
    tidal__free(db, b, len);
    return r;
}

/* Loads the stored tenant configs (at open, before the state returns: entity counts are
   made as entities come back). No file: none stored. */
static tidal_result tidal__tenants_load(tidal_db *db) {
    char name[TIDAL_PATH_MAX + 64];
    uint8_t *p, sum[32];
    size_t n;
    uint32_t k, count;
    tidal__rd r;
    const char *why = NULL;
    tidal_result io;
    tidal__tenants_name(db, name, sizeof name, 0);
    io = tidal__read_file(db, name, &p, &n);
    if (io == TIDAL_ERR_NOT_FOUND) return TIDAL_OK;
    if (io != TIDAL_OK) return io; /* tidal__read_file named the operation, file and cause */
    tidal__rd_init(&r, p, n);
    count = n >= 12 ? tidal__rd_le_at4(p + 8) : 0;
    if (n < 44) why = "shorter than a header and checksum";
    else if (tidal__rd_le_at4(p) != TIDAL__TENANTS_MAGIC) why = "bad magic at byte 0";
    else if (tidal__rd_le_at4(p + 4) != TIDAL__TENANTS_VERSION) why = "unknown version at byte 4";
    else if (count > TIDAL_TENANTS_CONFIG_MAX) why = "more than TIDAL_TENANTS_CONFIG_MAX at byte 8";
    else if (n != 12 + (size_t)count * TIDAL__TENANT_BYTES + 32)
        why = "length does not match count";
    if (!why) tidal_blake3(p, n - 32, sum);
    if (!why && memcmp(sum, p + n - 32, 32)) why = "checksum mismatch";
    if (!why && !TIDAL__GROW(db, db->ten.tcfg, db->ten.cap_tcfg, count ? count : 1)) {
        tidal__free(db, p, n);
        return tidal__err(db, TIDAL_ERR_NOMEM, "%s: no memory for %u configs", name, count);
    }
    r.pos = 12;
    for (k = 0; !why && k < count; k++) {
        tidal__tcfg *t = &db->ten.tcfg[k];
        memset(t, 0, sizeof *t);
        t->cfg.tenant = tidal__rd_u32(&r);
        t->cfg.placement = tidal__rd_u32(&r);
        t->cfg.rate_per_s = tidal__rd_f64(&r);
        t->cfg.burst = tidal__rd_f64(&r);
        t->cfg.entity_quota = tidal__rd_u64(&r);
        t->cfg.config_version = tidal__rd_u64(&r);
        t->cfg.state = tidal__rd_u8(&r);
        if (!(t->cfg.rate_per_s >= 0 && t->cfg.rate_per_s <= 1e12) ||
            !(t->cfg.burst >= 0 && t->cfg.burst <= 1e12) || t->cfg.state > TIDAL_TENANT_SEALED)
            why = "an entry out of range";
        db->ten.n_tcfg = k; /* the lookup sees the entries before this one only */
        if (tidal__tcfg_find(db, t->cfg.tenant) != NULL) why = "a tenant twice";
        t->refill_ns = db->env->clock_mono_ns(db->env->user);
        t->tokens = tidal__tokens_max(&t->cfg);
    }
    tidal__free(db, p, n);
    if (why) {
        db->ten.n_tcfg = 0;
        if (!k) return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: %s", name, why);
        return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: %s in the entry at byte %llu", name, why,
                          (unsigned long long)(12 + (k - 1) * TIDAL__TENANT_BYTES));
    }
    db->ten.n_tcfg = count;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_tenant_set(tidal_db *db, const tidal_tenant_config *cfg) {
    tidal__tcfg *t;
    tidal_tenant_config old;
    tidal_result r;
    uint32_t i;
    int fresh = 0;
    if (!db) return TIDAL_ERR_INVALID;
    if (!cfg || !(cfg->rate_per_s >= 0) || !(cfg->burst >= 0) || cfg->rate_per_s > 1e12 || cfg->burst > 1e12 ||
        cfg->state > TIDAL_TENANT_SEALED)
        return tidal__err(db, TIDAL_ERR_INVALID, "tenant config: NULL, a negative or non-finite rate or burst, or a bad state");
    t = tidal__tcfg_find(db, cfg->tenant);
    if (t && cfg->config_version < t->cfg.config_version)
        return tidal__err(db, TIDAL_ERR_STALE_CONFIG, "tenant %u: config version %llu is older than %llu in force",
                          cfg->tenant, (unsigned long long)cfg->config_version,
                          (unsigned long long)t->cfg.config_version);
    if (t && tidal__tcfg_same(&t->cfg, cfg)) { /* the same config again: nothing to do */
        tidal__ok(db);
        return TIDAL_OK;
    }
    if (!t) {
        if (db->ten.n_tcfg >= TIDAL_TENANTS_CONFIG_MAX)
            return tidal__err(db, TIDAL_ERR_LIMIT, "more than %d tenant configs", TIDAL_TENANTS_CONFIG_MAX);
        if (!TIDAL__GROW(db, db->ten.tcfg, db->ten.cap_tcfg, db->ten.n_tcfg + 1))
            return tidal__err(db, TIDAL_ERR_NOMEM, "tenant config");
        t = &db->ten.tcfg[db->ten.n_tcfg++];
        memset(t, 0, sizeof *t);
        for (i = 0; i < db->st.n_ents; i++) t->entities += db->st.ents[i].tenant == cfg->tenant;
        t->refill_ns = db->env->clock_mono_ns(db->env->user);
        t->tokens = tidal__tokens_max(cfg);
        t->cfg = *cfg;
        fresh = 1;
    }
    old = t->cfg;
    t->cfg = *cfg;
    /* refused: nothing changed */
    if (db->log.wal_on && (r = tidal__tenants_save(db)) != TIDAL_OK) {
        if (fresh) db->ten.n_tcfg--;
        else t->cfg = old;
        return r;
    }
    if (t->tokens > tidal__tokens_max(cfg)) t->tokens = tidal__tokens_max(cfg);
    tidal__ok(db);
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_tenant_usage(tidal_db *db, uint32_t tenant, uint64_t *entities, double *tokens) {
    tidal__tcfg *t;
    if (!db) return TIDAL_ERR_INVALID;
    if (!(t = tidal__tcfg_find(db, tenant))) return tidal__err(db, TIDAL_ERR_NOT_FOUND, "no config for tenant %u", tenant);
    if (entities) *entities = t->entities;
    if (tokens) *tokens = t->tokens;
    return TIDAL_OK;
}

TIDAL_API uint32_t tidal_route(uint32_t tenant, tidal_id entity, uint32_t shards) {
    uint64_t key = entity ^ ((uint64_t)tenant << 32 | tenant) * UINT64_C(0x9E3779B97F4A7C15);
    int64_t b = -1, j = 0;
    if (shards == 0) return 0;
    key ^= key >> 30; /* a full 64-bit mix first: ids are often small and sequential */
    key *= UINT64_C(0xBF58476D1CE4E5B9);
    key ^= key >> 27;
    key *= UINT64_C(0x94D049BB133111EB);
    key ^= key >> 31;
    while (j < (int64_t)shards) { /* jump: the next bucket this key would move to */
        b = j;
        key = key * UINT64_C(2862933555777941757) + 1;
        j = (int64_t)((double)(b + 1) * (2147483648.0 / (double)((key >> 33) + 1)));
    }
    return (uint32_t)b;
}

static int tidal__hit_order(const void *a, const void *b) {
    const tidal_hit *x = (const tidal_hit *)a, *y = (const tidal_hit *)b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

TIDAL_API tidal_result tidal_retrieve_gather(tidal_db *const *shards, uint32_t n_shards,
                                             uint32_t regions_unreachable, const tidal_query *q,
                                             tidal_hit *out, uint32_t cap, uint32_t *n,
                                             tidal_query_stats *stats) {
    tidal_query_stats st, one;
    tidal_hit *all = NULL;
    uint32_t k, total = 0, limit, first_missing = UINT32_MAX;
    size_t bytes;
    tidal_db *any = NULL;
    if (n) *n = 0;
    if (!shards || !q || !out || !n || n_shards == 0 || n_shards > 65536) return TIDAL_ERR_INVALID;
    for (k = 0; k < n_shards && !any; k++) any = shards[k];
    if (!any) return TIDAL_ERR_UNAVAILABLE;
    limit = q->limit ? q->limit : 20;
    if (limit > cap) limit = cap;
    bytes = sizeof(tidal_hit) * (size_t)limit * n_shards;
    all = (tidal_hit *)tidal__alloc(any, bytes ? bytes : 1);
    if (!all) return tidal__err(any, TIDAL_ERR_NOMEM, "gather buffer");
    memset(&st, 0, sizeof st);
    st.used_index = 1;
    for (k = 0; k < n_shards; k++) {
        uint32_t got = 0;
        tidal_result r;
        st.shards_asked++;
        if (!shards[k]) {
            if (first_missing == UINT32_MAX) first_missing = k;
            continue;
        }
        r = tidal_retrieve(shards[k], q, all + total, limit, &got, &one);
        if (r != TIDAL_OK) {
            tidal__free(any, all, bytes ? bytes : 1);
            return r;
        }
        total += got;
        st.shards_answered++;
        st.items_considered += one.items_considered;
        st.used_index &= one.used_index;
        if (!st.profile_scan_fallback) st.profile_scan_fallback = one.profile_scan_fallback;
        if (one.staleness_ns > st.staleness_ns) st.staleness_ns = one.staleness_ns;
        if (one.degraded && !st.degraded) {
            st.degraded = 1;
            snprintf(st.degraded_reason, sizeof st.degraded_reason, "shard %u: %.80s", k, one.degraded_reason);
        }
    }
    if (first_missing != UINT32_MAX) {
        st.degraded = 1;
        snprintf(st.degraded_reason, sizeof st.degraded_reason, "shard %u unreachable (%u of %u answered)",
                 first_missing, st.shards_answered, st.shards_asked);
    } else if (regions_unreachable) {
        for (k = 0; !(regions_unreachable >> k & 1u); k++) {}
        st.degraded = 1;
        snprintf(st.degraded_reason, sizeof st.degraded_reason,
                 "region %u unreachable: writes taken there may be missing", k);
    }
    qsort(all, total, sizeof *all, tidal__hit_order);
    *n = total < limit ? total : limit;
    memcpy(out, all, sizeof *all * *n);
    tidal__free(any, all, bytes ? bytes : 1);
    if (stats) *stats = st;
    return TIDAL_OK;
}

// >>db_write
// Local writes: the one way into the state (tidal__event_take, its rules below), explicit
// batches, and the write entry points, each of which validates every argument before
// touching state and builds one event (a rejected call changes nothing). Raw events too:
// the hook that sees each written event and tidal_event_import that takes one.

/* Hands the hook the event's encoding (a failed scratch allocation skips the call: the
   hook is an observer, it cannot fail a write that is already folded and logged). */
static void tidal__hook_call(tidal_db *db, const tidal__event *ev) {
    size_t need = tidal__event_size(ev);
    uint8_t *end;
    if (need > db->hook_cap) {
        uint8_t *p = (uint8_t *)tidal__realloc(db, db->hook_buf, db->hook_cap, need);
        if (!p) return;
        db->hook_buf = p;
        db->hook_cap = need;
    }
    end = tidal__event_put(db->hook_buf, ev);
    db->hook(db->hook_ctx, db->hook_buf, (size_t)(end - db->hook_buf));
}

/* ---- the one way in: tidal__event_take ------------------------------------------------
   Every event enters the state here, wherever it comes from (tidal__from), and the
   log / fold / acknowledge sequence is written once, in these rules:
   1. Refuse (local and import): a failed handle; a follower, unless it is cut off in
      availability mode; a tenant over its limits (local only: an imported event was
      admitted where it was written; epoch and schema events belong to no tenant).
   2. Drop a duplicate: an event the applied-event index (or a session journal) holds is
      neither logged nor folded again. A local duplicate answers with the position of
      everything this node holds; a replicated one is skipped silently (a resend, or our
      own event coming back from the leader).
   3. Log, then fold: the event goes into the pending batch (a replayed one is in the log
      already and is only folded), then tidal__apply folds it. A fold that fails takes the
      event back out of the batch, so the log never holds an event the state lacks.
   4. Acknowledge (local and import): the tap and the hook see it; the batch commits by the
      group-commit policy (unless a batch is open or delayed), and an event that must be
      alone in its batch (schema, epoch, install, drop: rule 4 of >>db_schema, and one
      chunk per message) commits at once; the receipt names its lsn; a client event may
      then take the automatic snapshot (never an import: the state may be mid-backfill).
      A replicated batch is committed by its caller, one leader batch per follower batch
      (tidal__payload_apply), so the follower's batch carries the leader position.
   tidal__apply (the fold) is called from nowhere else. */

/* Rule 1: whether this node takes a write at all (TIDAL_OK), else why not. */
static tidal_result tidal__take_refuse(tidal_db *db, const tidal__event *ev, tidal__from from) {
    const tidal__member *m = &db->rep;
    TIDAL_ASSERT(from == TIDAL__FROM_LOCAL || from == TIDAL__FROM_IMPORT);
    if (db->fatal) return tidal__err(db, TIDAL_ERR_FATAL, "handle failed earlier; reopen");
    if (m->n_rep && m->role != TIDAL_ROLE_LEADER && !(m->availability && tidal__cut_off(db))) {
        if (m->amnesiac)
            return tidal__err(db, TIDAL_ERR_READ_ONLY,
                              "read-only: this node lost its disk and is catching up");
        if (m->leader_idx < 0)
            return tidal__err(db, TIDAL_ERR_READ_ONLY,
                              "read-only: no leader known (election under way)");
        return tidal__err(db, TIDAL_ERR_READ_ONLY,
                          "read-only follower: the leader is region %u shard %u",
                          m->member[m->leader_idx].region, m->member[m->leader_idx].shard);
    }
    if (db->ten.n_tcfg && from == TIDAL__FROM_LOCAL && ev->kind != TIDAL__EV_EPOCH &&
        ev->kind != TIDAL__EV_SCHEMA && !tidal__event_seen(db, ev))
        return tidal__tenant_admit(db, ev);
    return TIDAL_OK;
}

/* Rule 3: logs (log != 0) and folds one event not applied before. A failure changes
   nothing; *nobuf says it was the pending batch's memory, not the fold. */
static tidal_result tidal__take_fold(tidal_db *db, const tidal__event *ev, int log, int *dup,
                                     int *nobuf) {
    tidal__log *lg = &db->log;
    size_t mark = lg->batch_len;
    tidal_result r;
    *nobuf = 0;
    if (log && !tidal__batch_add(db, ev)) {
        *nobuf = 1;
        return TIDAL_ERR_NOMEM;
    }
    r = tidal__apply(db, ev, dup);
    if (r != TIDAL_OK && log) { /* take it back out of the batch: it was not applied */
        TIDAL_ASSERT(lg->batch_count > 0 && lg->batch_len > mark);
        lg->batch_len = mark;
        lg->batch_count--;
        lg->next_lsn--;
    }
    return r;
}

/* Rule 4 for local writes and imports: observers, commit, receipt, automatic snapshot. */
static tidal_result tidal__take_ack(tidal_db *db, const tidal__event *ev, tidal__from from,
                                    int dup, uint64_t lsn, tidal_receipt *receipt) {
    const tidal__log *lg = &db->log;
    tidal_result r;
    int alone = TIDAL__EV_NOT_CLIENT(ev->kind) || ev->kind == TIDAL__EV_EPOCH;
    TIDAL_ASSERT(from == TIDAL__FROM_LOCAL || from == TIDAL__FROM_IMPORT);
    TIDAL_ASSERT(dup || !lg->wal_on || lsn + 1 == lg->next_lsn); /* it is the newest event */
    if (!dup) {
        if (db->tap) db->tap(db->tap_ctx, ev);
        if (db->hook && !TIDAL__EV_NOT_CLIENT(ev->kind)) tidal__hook_call(db, ev); /* not copies */
    }
    /* A full batch commits now, even inside batch_begin/commit (the explicit commit still
       acknowledges): batch_events_max events, or the bytes one message can ship. */
    if (lg->wal_on && ((!lg->in_batch && lg->batch_delay_ns == 0) || alone ||
                       lg->batch_count >= lg->batch_events_max ||
                       lg->batch_len >= TIDAL__BATCH_SHIP_MAX)) {
        r = tidal__commit(db);
        if (r != TIDAL_OK) return r;
        TIDAL_ASSERT(lg->batch_count == 0 && lg->durable_lsn + 1 == lg->next_lsn);
    }
    if (receipt) {
        receipt->id = ev->id;
        receipt->duplicate = dup;
        receipt->lsn = lsn;
        receipt->accepted_ns = db->env->clock_mono_ns(db->env->user);
    }
    /* A client write just made durable may be the one that passes the snapshot threshold.
       The write stands (it is durable); a failed snapshot leaves its message here. */
    if (from == TIDAL__FROM_LOCAL && ev->kind < TIDAL__EV_EPOCH && tidal__snap_auto(db) != TIDAL_OK)
        return TIDAL_OK;
    tidal__ok(db);
    return TIDAL_OK;
}

static tidal_result tidal__event_take(tidal_db *db, tidal__event *ev, tidal__from from,
                                      tidal_receipt *receipt) {
    int dup = 0, nobuf;
    uint64_t lsn = 0;
    tidal_result r;
    TIDAL_ASSERT(from >= TIDAL__FROM_LOCAL && from <= TIDAL__FROM_REPLAY);
    TIDAL_ASSERT(!receipt || from <= TIDAL__FROM_IMPORT);
    if (from == TIDAL__FROM_REPLAY) { /* rule 3: in the log already, folded only */
        r = tidal__apply(db, ev, &dup);
        db->stats.recovered_events += r == TIDAL_OK;
        return r;
    }
    if (from == TIDAL__FROM_REPLICA) { /* checked whole by tidal__payload_check */
        if (tidal__event_applied(db, ev->id)) return TIDAL_OK; /* rule 2 */
        r = tidal__take_fold(db, ev, 1, &dup, &nobuf);
        tidal__hlc_recv(db, ev->hlc);
        return r;
    }
    if ((r = tidal__take_refuse(db, ev, from)) != TIDAL_OK) return r;
    if (!ev->id.hi && !ev->id.lo) /* (0, 0): assign now (a peer's keyed call: its id) */
        ev->id = db->id_next.hi ? db->id_next : tidal__origin_id(db);
    TIDAL_ASSERT(!tidal__event_invalid(db, ev)); /* the entry points validated it */
    if (tidal__event_seen(db, ev)) {
        db->stats.events_duplicate++;
        dup = 1;
        /* Its status is that of everything this node holds now (the original may still
           be in the open batch). */
        lsn = db->log.wal_on ? db->log.next_lsn - 1 : 0;
    } else {
        /* A batch ships whole in one message: one that this event would push past that
           commits first (an explicit batch is still acknowledged by its commit). */
        if (db->log.wal_on && db->log.batch_count &&
            db->log.batch_len + tidal__event_size(ev) > TIDAL__BATCH_SHIP_MAX &&
            (r = tidal__commit(db)) != TIDAL_OK)
            return r;
        r = tidal__take_fold(db, ev, db->log.wal_on, &dup, &nobuf);
        if (nobuf) return tidal__err(db, TIDAL_ERR_NOMEM, "log batch buffer");
        if (r != TIDAL_OK && TIDAL__EV_NOT_CLIENT(ev->kind)) return r; /* its message says why */
        if (r != TIDAL_OK) return tidal__err(db, r, "apply failed: %s", tidal_strerror(r));
        if (db->log.wal_on) lsn = db->log.next_lsn - 1;
    }
    return tidal__take_ack(db, ev, from, dup, lsn, receipt);
}

TIDAL_API tidal_result tidal_db_batch_begin(tidal_db *db) {
    if (!db) return TIDAL_ERR_INVALID;
    if (db->fatal) return tidal__err(db, TIDAL_ERR_FATAL, "handle failed earlier; reopen");
    db->log.in_batch = 1;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_db_commit(tidal_db *db) {
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    db->log.in_batch = 0;
    r = tidal__commit(db);
    if (r == TIDAL_OK) (void)tidal__snap_auto(db); /* the batch stands; see tidal__event_take */
    return r;
}

TIDAL_API uint64_t tidal_db_durable_lsn(const tidal_db *db) { return db ? db->log.durable_lsn : 0; }

/* Resolves cohort tags: the caller's, or the user's current attribute values. */
static tidal_result tidal__cohort_tags(tidal_db *db, const tidal_signal *s, tidal__event *ev) {
    uint32_t i, k;
    ev->n_cohort = 0;
    if (s->cohort) {
        if (s->cohort_count > db->schema.n_ckey)
            return tidal__err(db, TIDAL_ERR_INVALID, "more cohort tags than cohort keys");
        for (k = 0; k < db->schema.n_ckey; k++) { /* emit in cohort key order: canonical */
            for (i = 0; i < s->cohort_count; i++) {
                if (!s->cohort[i].key || !s->cohort[i].value)
                    return tidal__err(db, TIDAL_ERR_INVALID, "cohort[%u]: NULL key or value", i);
                if (strcmp(s->cohort[i].key, db->schema.ckey[k])) continue;
                if (ev->n_cohort && ev->cohort_key[ev->n_cohort - 1] == k)
                    return tidal__err(db, TIDAL_ERR_INVALID, "cohort key '%s' repeats", db->schema.ckey[k]);
                ev->cohort_len[ev->n_cohort] = (uint32_t)tidal__strnlen(s->cohort[i].value, TIDAL_VALUE_MAX);
                if (ev->cohort_len[ev->n_cohort] > TIDAL_VALUE_MAX)
                    return tidal__err(db, TIDAL_ERR_INVALID, "cohort[%u]: value too long", i);
                ev->cohort_key[ev->n_cohort] = k;
                ev->cohort_val[ev->n_cohort++] = s->cohort[i].value;
            }
        }
        if (ev->n_cohort != s->cohort_count)
            return tidal__err(db, TIDAL_ERR_INVALID, "cohort tag key is not a schema cohort key");
        return TIDAL_OK;
    }
    if (s->cohort_count) return tidal__err(db, TIDAL_ERR_INVALID, "cohort_count without cohort");
    if (s->user) {
        const tidal__entity *u = tidal__ent_find(db, s->tenant, s->user);
        for (k = 0; u && k < db->schema.n_ckey; k++) {
            uint32_t key =
                tidal__str_find(db, db->schema.ckey[k], (uint32_t)strlen(db->schema.ckey[k]));
            const tidal__attr *a = key == UINT32_MAX ? NULL : tidal__attr_find(db, u, key);
            if (!a || a->value == UINT32_MAX) continue;
            ev->cohort_key[ev->n_cohort] = k;
            ev->cohort_val[ev->n_cohort] = db->st.strs[a->value].s;
            ev->cohort_len[ev->n_cohort++] = db->st.strs[a->value].len;
        }
    }
    return TIDAL_OK;
}

/* Validates a signal and fills ev (kind, tenant, item, type, weight, time, user, cohort). */
/* An event whose id comes from a key (idempotency key, session seq) must be the same event
   wherever it is written: a retry in another region yields the same id, and replicas keep
   whichever copy they applied first. So its content may not depend on the accepting node:
   the caller gives the event time, and (when the schema has cohort keys and there is a
   user) the cohort tags, since the user's attributes may differ between regions. */
static tidal_result tidal__keyed_content(tidal_db *db, const tidal_signal *s, tidal_id user, const char *what) {
    if (!s->time_ns)
        return tidal__err(db, TIDAL_ERR_INVALID,
                          "%s must carry its event time (time_ns): a retry elsewhere must be the same event", what);
    if (user && db->schema.n_ckey && !s->cohort)
        return tidal__err(db, TIDAL_ERR_INVALID,
                          "%s must carry its cohort tags (cohort non-NULL, count 0 for none): the user's "
                          "attributes may differ where a retry lands", what);
    return TIDAL_OK;
}

static tidal_result tidal__signal_event(tidal_db *db, const tidal_signal *s, tidal__event *ev) {
    int64_t now;
    if (!s) return tidal__err(db, TIDAL_ERR_INVALID, "signal is NULL");
    if (s->item == 0) return tidal__err(db, TIDAL_ERR_INVALID, "item id 0 is invalid");
    if (s->type >= db->schema.n_sig) return tidal__err(db, TIDAL_ERR_INVALID, "unknown signal type %u", s->type);
    if (!isfinite(s->weight) || fabs(s->weight) > TIDAL_WEIGHT_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "weight must be finite with |w| <= %g", TIDAL_WEIGHT_MAX);
    if (s->time_ns < 0) return tidal__err(db, TIDAL_ERR_INVALID, "negative event time");
    if (s->time_ns && tidal__time_check(db, s->time_ns, "signal time_ns") != TIDAL_OK)
        return TIDAL_ERR_INVALID;
    if (s->idem.key ? (s->idem.key_len == 0 || s->idem.key_len > TIDAL_IDEM_KEY_MAX) : s->idem.key_len != 0)
        return tidal__err(db, TIDAL_ERR_INVALID, "idempotency key must be 1..%d bytes", TIDAL_IDEM_KEY_MAX);
    now = tidal__now(db);
    memset(ev, 0, sizeof *ev);
    ev->kind = TIDAL__EV_SIGNAL;
    ev->tenant = s->tenant;
    ev->entity = s->item;
    ev->other = s->user;
    ev->type = s->type;
    ev->weight = s->weight;
    ev->time_ns = s->time_ns ? s->time_ns : now;
    if (ev->time_ns > now + db->future_bound_ns)
        return tidal__err(db, TIDAL_ERR_FUTURE, "event time %lld is more than %lld ns ahead of now",
                          (long long)ev->time_ns, (long long)db->future_bound_ns);
    return tidal__cohort_tags(db, s, ev);
}

TIDAL_API tidal_result tidal_signal_write(tidal_db *db, const tidal_signal *s,
                                          tidal_receipt *receipt) {
    tidal__event ev;
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    if (s && s->idem.key && (r = tidal__keyed_content(db, s, s->user, "a write with an idempotency key")) != TIDAL_OK)
        return r;
    if ((r = tidal__signal_event(db, s, &ev)) != TIDAL_OK) return r;
    ev.hlc = tidal__hlc_now(db);
    /* No key: the id stays (0, 0) and tidal__event_take assigns the next origin id once it
       knows the write is accepted, so rejected writes never burn sequence numbers. */
    if (s->idem.key) ev.id = tidal__derived_id(s->tenant, 'c', s->idem.key, s->idem.key_len, s->idem.seq);
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt);
}

TIDAL_API tidal_result tidal_attr_set(tidal_db *db, uint32_t tenant, tidal_id entity,
                                      const char *key, const char *value,
                                      tidal_receipt *receipt) {
    tidal__event ev;
    size_t vl = 0;
    if (!db) return TIDAL_ERR_INVALID;
    if (!entity) return tidal__err(db, TIDAL_ERR_INVALID, "entity id 0 is invalid");
    if (!tidal__name_ok(key, TIDAL_NAME_MAX))
        return tidal__err(db, TIDAL_ERR_INVALID, "attribute key: 1..%d of [A-Za-z0-9_.-]", TIDAL_NAME_MAX);
    if (value && (vl = tidal__strnlen(value, TIDAL_VALUE_MAX)) > TIDAL_VALUE_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "attribute value longer than %d", TIDAL_VALUE_MAX);
    if (value && !strcmp(key, "creator") && !tidal__creator_ok(value, vl))
        return tidal__err(db, TIDAL_ERR_INVALID, "attribute creator: '%.40s' is not an entity id "
                          "(a nonzero decimal u64 such as \"42\")", value);
    {
        const tidal__entity *e = tidal__ent_find(db, tenant, entity);
        uint32_t k = tidal__str_find(db, key, (uint32_t)strlen(key));
        if (e && e->n_attrs >= TIDAL_ATTRS_MAX && (k == UINT32_MAX || !tidal__attr_find(db, e, k)))
            return tidal__err(db, TIDAL_ERR_LIMIT, "entity has %d attributes", TIDAL_ATTRS_MAX);
    }
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_ATTR;
    ev.tenant = tenant;
    ev.entity = entity;
    ev.key = key;
    ev.key_len = (uint32_t)strlen(key);
    ev.value = value;
    ev.value_len = (uint32_t)vl;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt);
}

TIDAL_API tidal_result tidal_attr_get(tidal_db *db, uint32_t tenant, tidal_id entity,
                                      const char *key, char *buf, size_t cap) {
    const tidal__entity *e;
    const tidal__attr *a;
    uint32_t k;
    if (!db) return TIDAL_ERR_INVALID;
    if (!entity || !tidal__name_ok(key, TIDAL_NAME_MAX) || !buf)
        return tidal__err(db, TIDAL_ERR_INVALID, "attr_get: bad entity, key or buffer");
    e = tidal__ent_find(db, tenant, entity);
    k = tidal__str_find(db, key, (uint32_t)strlen(key));
    a = (e && k != UINT32_MAX) ? tidal__attr_find(db, e, k) : NULL;
    if (!a || a->value == UINT32_MAX) return tidal__err(db, TIDAL_ERR_NOT_FOUND, "attribute '%s' not set", key);
    if (cap < (size_t)db->st.strs[a->value].len + 1)
        return tidal__err(db, TIDAL_ERR_LIMIT, "buffer needs %u bytes",
                          db->st.strs[a->value].len + 1);
    memcpy(buf, db->st.strs[a->value].s, db->st.strs[a->value].len + 1);
    tidal__ok(db);
    return TIDAL_OK;
}

static tidal_result tidal__forget_write(tidal_db *db, uint32_t kind, uint32_t tenant, tidal_id id,
                                        tidal_receipt *receipt) {
    tidal__event ev;
    TIDAL_ASSERT(kind == TIDAL__EV_USER_FORGET || kind == TIDAL__EV_ITEM_DELETE);
    if (!id)
        return tidal__err(db, TIDAL_ERR_INVALID, "%s id 0 is invalid",
                          kind == TIDAL__EV_USER_FORGET ? "user" : "item");
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.tenant = tenant;
    ev.entity = id;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    TIDAL_ASSERT(ev.id.hi == 0 && ev.id.lo == 0); /* tidal__event_take assigns an origin id */
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt);
}

TIDAL_API tidal_result tidal_user_forget(tidal_db *db, uint32_t tenant, tidal_id user,
                                         tidal_receipt *receipt) {
    if (!db) return TIDAL_ERR_INVALID;
    return tidal__forget_write(db, TIDAL__EV_USER_FORGET, tenant, user, receipt);
}

TIDAL_API tidal_result tidal_item_delete(tidal_db *db, uint32_t tenant, tidal_id item,
                                         tidal_receipt *receipt) {
    if (!db) return TIDAL_ERR_INVALID;
    return tidal__forget_write(db, TIDAL__EV_ITEM_DELETE, tenant, item, receipt);
}

static tidal_result tidal__neg_check_args(tidal_db *db, tidal_id user, tidal_negative kind,
                                          tidal_id target) {
    if (!user || !target) return tidal__err(db, TIDAL_ERR_INVALID, "user and target must be nonzero");
    if (kind != TIDAL_HIDE && kind != TIDAL_MUTE && kind != TIDAL_BLOCK)
        return tidal__err(db, TIDAL_ERR_INVALID, "kind must be HIDE, MUTE or BLOCK");
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_negative_add(tidal_db *db, uint32_t tenant, tidal_id user,
                                          tidal_negative kind, tidal_id target,
                                          tidal_receipt *receipt) {
    tidal__event ev;
    const tidal__entity *e;
    const tidal__neg *n;
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    if ((r = tidal__neg_check_args(db, user, kind, target)) != TIDAL_OK) return r;
    e = tidal__ent_find(db, tenant, user);
    n = e ? tidal__neg_find(e->user, (uint32_t)kind, target, NULL) : NULL;
    if (n && n->adds.n >= TIDAL_NEG_TAGS_MAX)
        return tidal__err(db, TIDAL_ERR_LIMIT, "%d live tags on this pair", TIDAL_NEG_TAGS_MAX);
    if (!n && e && e->user && e->user->n_negs >= TIDAL_NEGATIVES_MAX)
        return tidal__err(db, TIDAL_ERR_LIMIT, "user has %d negatives", TIDAL_NEGATIVES_MAX);
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_NEG_ADD;
    ev.tenant = tenant;
    ev.entity = user;
    ev.other = target;
    ev.type = (uint32_t)kind;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt);
}

TIDAL_API tidal_result tidal_negative_remove(tidal_db *db, uint32_t tenant, tidal_id user,
                                             tidal_negative kind, tidal_id target,
                                             tidal_receipt *receipt) {
    tidal__event ev;
    const tidal__entity *e;
    const tidal__neg *n;
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    if ((r = tidal__neg_check_args(db, user, kind, target)) != TIDAL_OK) return r;
    e = tidal__ent_find(db, tenant, user);
    n = e ? tidal__neg_find(e->user, (uint32_t)kind, target, NULL) : NULL;
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_NEG_REMOVE;
    ev.tenant = tenant;
    ev.entity = user;
    ev.other = target;
    ev.type = (uint32_t)kind;
    if (n && n->adds.n) { /* copy: apply edits the live vector */
        if (!TIDAL__GROW(db, db->scratch_tags, db->cap_scratch_tags, n->adds.n))
            return tidal__err(db, TIDAL_ERR_NOMEM, "tags scratch");
        memcpy(db->scratch_tags, n->adds.v, sizeof(tidal_event_id) * n->adds.n);
        ev.tags = db->scratch_tags;
        ev.n_tags = n->adds.n;
    }
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt);
}

TIDAL_API void tidal_db_set_event_hook(tidal_db *db, tidal_event_hook fn, void *ctx) {
    if (!db) return;
    db->hook = fn;
    db->hook_ctx = ctx;
}

TIDAL_API tidal_result tidal_event_import(tidal_db *db, const void *event, size_t len,
                                          tidal_receipt *receipt) {
    tidal__rd r;
    tidal__event ev;
    const char *why;
    if (!db) return TIDAL_ERR_INVALID;
    if (!event || !len) return tidal__err(db, TIDAL_ERR_INVALID, "event import: no bytes");
    if (!TIDAL__GROW(db, db->scratch_tags, db->cap_scratch_tags, len / 16 + 1))
        return tidal__err(db, TIDAL_ERR_NOMEM, "event import: scratch");
    tidal__rd_init(&r, (const uint8_t *)event, len);
    why = tidal__event_get(db, &r, &ev, db->scratch_tags, db->cap_scratch_tags);
    if (!why && r.pos != len) why = "bytes after the event";
    if (!why && !ev.id.hi && !ev.id.lo) why = "zero event id";
    if (!why && TIDAL__EV_NOT_CLIENT(ev.kind))
        why = "install, drop and schema events are not imported (tidal_tenant_install, "
              "tidal_db_schema_append)";
    if (why) /* what, and where: the byte the decoder stopped at (the end, once whole) */
        return tidal__err(db, TIDAL_ERR_CORRUPT, "event import: byte %llu of %llu (kind %u): %s",
                          (unsigned long long)r.pos, (unsigned long long)len,
                          (unsigned)((const uint8_t *)event)[0], why);
    tidal__hlc_recv(db, ev.hlc);
    return tidal__event_take(db, &ev, TIDAL__FROM_IMPORT, receipt);
}

// >>db_read
// Point reads: hard negatives, a signal's scores and windows, a profile's score, RETRIEVE
// from text, and whether an event was applied. Reads never change the state; a read at a
// time before an aggregate's newest event follows the rules of manual point 3.

TIDAL_API tidal_result tidal_negative_check(tidal_db *db, uint32_t tenant, tidal_id user,
                                            tidal_id item, int *suppressed) {
    const tidal__entity *u, *it;
    if (!db) return TIDAL_ERR_INVALID;
    if (!user || !item || !suppressed)
        return tidal__err(db, TIDAL_ERR_INVALID, "user, item and out must be set");
    u = tidal__ent_find(db, tenant, user);
    it = tidal__ent_find(db, tenant, item);
    *suppressed = 0;
    if (u && u->user) {
        if (it) *suppressed = tidal__suppressed(u->user, it);
        else *suppressed = tidal__neg_live(u->user, TIDAL_HIDE, item);
    }
    tidal__ok(db);
    return TIDAL_OK;
}

/* Checks a read's cohort (NULL: none) and resolves it: *k the cohort key, *v the interned
   value (UINT32_MAX when never stored: nothing matches). */
static tidal_result tidal__read_cohort(tidal_db *db, const tidal_tag *cohort, uint32_t *k,
                                       uint32_t *v) {
    TIDAL_ASSERT(k && v);
    *k = *v = UINT32_MAX;
    if (!cohort) return TIDAL_OK;
    if (!cohort->key || !cohort->value)
        return tidal__err(db, TIDAL_ERR_INVALID, "cohort: NULL key or value");
    for (*k = 0; *k < db->schema.n_ckey && strcmp(db->schema.ckey[*k], cohort->key); (*k)++) {}
    if (*k == db->schema.n_ckey) return tidal__err(db, TIDAL_ERR_INVALID, "not a cohort key");
    if (tidal__strnlen(cohort->value, TIDAL_VALUE_MAX) > TIDAL_VALUE_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "cohort value too long");
    *v = tidal__str_find(db, cohort->value, (uint32_t)strlen(cohort->value));
    return TIDAL_OK;
}

/* The aggregate a read of (e, type) under a resolved cohort sees (NULL: none). */
static const tidal__sig *tidal__read_sig(const tidal__entity *e, uint32_t type, int cohort,
                                         uint32_t k, uint32_t v) {
    const tidal__csig *c;
    if (!e) return NULL;
    if (!cohort) return e->sigs ? e->sigs[type] : NULL;
    if (v == UINT32_MAX) return NULL;
    c = tidal__csig_find(e, type, k, v);
    return c ? c->sig : NULL;
}

TIDAL_API tidal_result tidal_signal_read(tidal_db *db, uint32_t tenant, tidal_id item,
                                         uint32_t type, const tidal_tag *cohort,
                                         int64_t t_ns, tidal_signal_stats *out) {
    const tidal__sig *g;
    tidal_signal_stats st;
    tidal_result r;
    uint32_t k, v;
    if (!db) return TIDAL_ERR_INVALID;
    if (!out || !item || type >= db->schema.n_sig || t_ns < 0)
        return tidal__err(db, TIDAL_ERR_INVALID, "signal_read: bad out, item, type or time");
    if (t_ns && tidal__time_check(db, t_ns, "signal_read t_ns") != TIDAL_OK)
        return TIDAL_ERR_INVALID;
    if (!t_ns) t_ns = tidal__now(db);
    if ((r = tidal__read_cohort(db, cohort, &k, &v)) != TIDAL_OK) return r;
    g = tidal__read_sig(tidal__ent_find(db, tenant, item), type, cohort != NULL, k, v);
    tidal__sig_stats(g, &db->schema.sig[type], t_ns, &st);
    if (!isfinite(st.score))
        return tidal__score_range(db, "signal_read", item, g, &db->schema.sig[type], t_ns);
    *out = st;
    tidal__ok(db);
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_profile_read(tidal_db *db, uint32_t tenant, tidal_id item,
                                          uint32_t profile, const tidal_tag *cohort,
                                          int64_t t_ns, double *score, double *parts) {
    double part[TIDAL_PROFILE_TERMS_MAX], sum = 0;
    const tidal__entity *e;
    const tidal__profdef *p;
    tidal_result r;
    uint32_t i, k, v;
    if (!db) return TIDAL_ERR_INVALID;
    if (!score || !item || profile >= db->schema.n_prof || t_ns < 0)
        return tidal__err(db, TIDAL_ERR_INVALID, "profile_read: bad score, item, profile or time");
    if (t_ns && tidal__time_check(db, t_ns, "profile_read t_ns") != TIDAL_OK)
        return TIDAL_ERR_INVALID;
    if (!t_ns) t_ns = tidal__now(db);
    if ((r = tidal__read_cohort(db, cohort, &k, &v)) != TIDAL_OK) return r;
    e = tidal__ent_find(db, tenant, item);
    p = &db->schema.prof[profile];
    TIDAL_ASSERT(p->n >= 1 && p->n <= TIDAL_PROFILE_TERMS_MAX);
    for (i = 0; i < p->n; i++) { /* the same sum, in the same order, as tidal__item_score */
        const tidal__sig *g = tidal__read_sig(e, p->type[i], cohort != NULL, k, v);
        part[i] = g ? p->weight[i] * tidal__sig_score(g, &db->schema.sig[p->type[i]], t_ns) : 0.0;
        sum += part[i];
        if (!isfinite(part[i]) || !isfinite(sum))
            return tidal__score_range(db, "profile_read", item, g, &db->schema.sig[p->type[i]],
                                      t_ns);
    }
    *score = sum;
    if (parts) memcpy(parts, part, sizeof(double) * p->n);
    tidal__ok(db);
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_retrieve_text(tidal_db *db, const char *text, tidal_hit *out,
                                           uint32_t cap, uint32_t *count,
                                           tidal_query_stats *stats) {
    tidal_query_text qt;
    tidal_parse_error pe;
    tidal_query q;
    tidal_tag where[TIDAL_WHERE_MAX];
    uint32_t i;
    if (!db) return TIDAL_ERR_INVALID;
    if (!text) return tidal__err(db, TIDAL_ERR_INVALID, "text is NULL");
    if (tidal_query_parse(text, strlen(text), &qt, &pe) != TIDAL_OK)
        return tidal__err(db, TIDAL_ERR_PARSE, "at %u: %s", pe.position, pe.message);
    memset(&q, 0, sizeof q);
    q.tenant = qt.tenant;
    q.rank_kind = qt.is_profile ? TIDAL_QUERY_PROFILE : TIDAL_QUERY_SIGNAL;
    if (qt.is_profile) {
        for (i = 0; i < db->schema.n_prof && strcmp(db->schema.prof[i].name, qt.rank_name); i++) {}
        if (i == db->schema.n_prof) return tidal__err(db, TIDAL_ERR_INVALID, "unknown profile '%s'", qt.rank_name);
    } else {
        for (i = 0; i < db->schema.n_sig && strcmp(db->schema.sig[i].name, qt.rank_name); i++) {}
        if (i == db->schema.n_sig) return tidal__err(db, TIDAL_ERR_INVALID, "unknown signal '%s'", qt.rank_name);
    }
    q.rank_index = i;
    q.for_user = qt.for_user;
    q.exclude_seen = qt.exclude_seen;
    if (qt.has_cohort) {
        q.cohort_key = qt.cohort_key;
        q.cohort_value = qt.cohort_value;
    }
    if (qt.where_count > TIDAL_WHERE_MAX) return tidal__err(db, TIDAL_ERR_LIMIT, "too many filters");
    for (i = 0; i < qt.where_count; i++) {
        where[i].key = qt.where_key[i];
        where[i].value = qt.where_value[i];
    }
    q.where = where;
    q.where_count = qt.where_count;
    q.limit = qt.limit;
    q.time_ns = qt.time_ns;
    return tidal_retrieve(db, &q, out, cap, count, stats);
}

TIDAL_API int tidal_event_is_applied(tidal_db *db, tidal_event_id id) {
    if (!db) return 0;
    TIDAL_ASSERT(db->st.n_origins <= db->st.cap_origins);
    return tidal__event_applied(db, id);
}

// >>db_session
// Session entry points (open, start, signal, note, end, get, entries) and tidal_db_tick,
// which expires sessions (on the leader only), drives the replica member, and steps the
// collection of dropped tenants. A session write carries its sequence number, so each
// (session, seq) is applied exactly once (>>sessions).

/* The session a write of seq goes to. An ended or expired session refuses a new seq but
   takes a retry of a seq it holds (the write then answers OK with duplicate = 1), so a
   client that lost an acknowledgement can always tell "applied" from "refused". */
static tidal__session *tidal__sess_writable(tidal_db *db, uint32_t tenant, tidal_id session,
                                            uint64_t seq, tidal_result *r) {
    tidal__session *s = tidal__sess_find(db, tenant, session);
    *r = TIDAL_OK;
    if (!session) *r = tidal__err(db, TIDAL_ERR_INVALID, "session id 0 is invalid");
    else if (!s || !s->has_start)
        *r = tidal__err(db, TIDAL_ERR_NOT_FOUND, "session %llu not started here (open it first)",
                        (unsigned long long)session);
    else if (s->ended && !(seq && tidal__sess_has(s, seq, NULL)))
        *r = tidal__err(db, TIDAL_ERR_SESSION_ENDED,
                        "session %llu has %s; seq %llu is not in its journal",
                        (unsigned long long)session, (s->ended & 2) ? "expired" : "ended",
                        (unsigned long long)seq);
    return *r == TIDAL_OK ? s : NULL;
}

static tidal_result tidal__sess_seq(tidal_db *db, const tidal__session *s, uint64_t *seq) {
    if (*seq == 0) *seq = s->n_j ? s->j[s->n_j - 1].seq + 1 : 1;
    if (*seq >= UINT64_MAX - 2) return tidal__err(db, TIDAL_ERR_INVALID, "session seq out of range");
    if (!tidal__sess_has(s, *seq, NULL) && s->n_j >= db->session_events_max)
        return tidal__err(db, TIDAL_ERR_LIMIT, "session journal holds %u events", db->session_events_max);
    return TIDAL_OK;
}

static tidal_result tidal__session_open(tidal_db *db, uint32_t tenant, tidal_id session,
                                        tidal_id user, int64_t start_ns, int64_t ttl_ns) {
    tidal__event ev;
    TIDAL_ASSERT(db);
    if (!session || !user || start_ns <= 0 || ttl_ns < 0 || ttl_ns > INT64_MAX - start_ns)
        return tidal__err(db, TIDAL_ERR_INVALID, "session_open: session, user and start_ns nonzero (the "
                                                 "session's start, the same in every region), 0 <= ttl, "
                                                 "start + ttl within int64");
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_SESSION_START;
    ev.tenant = tenant;
    ev.entity = session;
    ev.other = user;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = start_ns;
    ev.ttl_ns = ttl_ns;
    ev.id = tidal__session_id(tenant, session, 0);
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, NULL);
}

TIDAL_API tidal_result tidal_session_open(tidal_db *db, uint32_t tenant, tidal_id session,
                                          tidal_id user, int64_t start_ns, int64_t ttl_ns) {
    if (!db) return TIDAL_ERR_INVALID;
    if (start_ns > 0 && tidal__time_check(db, start_ns, "session_open start_ns") != TIDAL_OK)
        return TIDAL_ERR_INVALID;
    return tidal__session_open(db, tenant, session, user, start_ns, ttl_ns);
}

TIDAL_API tidal_result tidal_session_start(tidal_db *db, uint32_t tenant, tidal_id user,
                                           int64_t ttl_ns, tidal_id *session) {
    tidal_id id = 0;
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    if (!session || !user || ttl_ns < 0 || ttl_ns > INT64_MAX - tidal__now(db))
        return tidal__err(db, TIDAL_ERR_INVALID, "session_start: user nonzero, 0 <= ttl (now + ttl within "
                                                 "int64), out set");
    while (id == 0 || tidal__sess_find(db, tenant, id)) {
        db->env->random_fill(db->env->user, &id, sizeof id);
        id &= UINT64_C(0x7FFFFFFFFFFFFFFF);
    }
    r = tidal__session_open(db, tenant, id, user, tidal__now(db), ttl_ns); /* the env's now */
    if (r == TIDAL_OK) *session = id;
    return r;
}

TIDAL_API tidal_result tidal_session_signal(tidal_db *db, tidal_id session, uint64_t seq,
                                            const tidal_signal *s, tidal_receipt *receipt) {
    tidal__session *ss;
    tidal__event ev;
    tidal_signal copy;
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    if (!s) return tidal__err(db, TIDAL_ERR_INVALID, "signal is NULL");
    if (s->idem.key) return tidal__err(db, TIDAL_ERR_INVALID, "session writes derive their own key");
    if (!(ss = tidal__sess_writable(db, s->tenant, session, seq, &r))) return r;
    if ((r = tidal__keyed_content(db, s, ss->user, "a session write")) != TIDAL_OK) return r;
    if ((r = tidal__sess_seq(db, ss, &seq)) != TIDAL_OK) return r;
    copy = *s;
    copy.user = ss->user;
    if ((r = tidal__signal_event(db, &copy, &ev)) != TIDAL_OK) return r;
    ev.session = session;
    ev.seq = seq;
    ev.hlc = tidal__hlc_now(db);
    ev.id = tidal__session_id(s->tenant, session, seq);
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt);
}

TIDAL_API tidal_result tidal_session_note(tidal_db *db, uint32_t tenant, tidal_id session,
                                          uint64_t seq, const char *note,
                                          tidal_receipt *receipt) {
    tidal__session *ss;
    tidal__event ev;
    tidal_result r;
    size_t len;
    if (!db) return TIDAL_ERR_INVALID;
    if (!note || (len = tidal__strnlen(note, TIDAL_NOTE_MAX)) > TIDAL_NOTE_MAX)
        return tidal__err(db, TIDAL_ERR_INVALID, "note: NULL or longer than %d", TIDAL_NOTE_MAX);
    if (!(ss = tidal__sess_writable(db, tenant, session, seq, &r))) return r;
    if ((r = tidal__sess_seq(db, ss, &seq)) != TIDAL_OK) return r;
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_SESSION_NOTE;
    ev.tenant = tenant;
    ev.entity = session;
    ev.seq = seq;
    ev.value = note;
    ev.value_len = (uint32_t)len;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    ev.id = tidal__session_id(tenant, session, seq);
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt);
}

static tidal_result tidal__session_end_event(tidal_db *db, uint32_t tenant, tidal_id session,
                                             uint32_t how) {
    tidal__event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_SESSION_END;
    ev.tenant = tenant;
    ev.entity = session;
    ev.type = how;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    ev.id = tidal__session_id(tenant, session, UINT64_MAX - 2 + how);
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, NULL);
}

TIDAL_API tidal_result tidal_session_end(tidal_db *db, uint32_t tenant, tidal_id session) {
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    if (!tidal__sess_writable(db, tenant, session, 0, &r)) return r;
    return tidal__session_end_event(db, tenant, session, 1);
}

static void tidal__rep_tick(tidal_db *db);

TIDAL_API tidal_result tidal_db_tick(tidal_db *db, int64_t now_ns) {
    uint32_t i;
    int64_t next = INT64_MAX;
    if (!db) return TIDAL_ERR_INVALID;
    if (now_ns < 0) return tidal__err(db, TIDAL_ERR_INVALID, "negative time");
    if (now_ns && tidal__time_check(db, now_ns, "tick now_ns") != TIDAL_OK)
        return TIDAL_ERR_INVALID;
    if (!now_ns) now_ns = tidal__now(db);
    if (db->rep.n_rep) tidal__rep_tick(db);
    if (db->log.n_collect) { /* a dropped tenant's old files */
        tidal_result r = tidal__collect_step(db);
        if (r != TIDAL_OK) return r;
    }
    if (db->rep.n_rep && db->rep.role != TIDAL_ROLE_LEADER) /* expiry: the leader's job */
        return tidal__snap_auto(db); /* a follower's log grows too */
    if (db->log.wal_on && db->log.batch_count && !db->log.in_batch && db->log.batch_delay_ns &&
        db->env->clock_mono_ns(db->env->user) - db->log.batch_start_ns >= db->log.batch_delay_ns) {
        tidal_result r = tidal__commit(db);
        if (r != TIDAL_OK) return r;
    }
    {
        tidal_result r = tidal__snap_auto(db);
        if (r != TIDAL_OK) return r;
    }
    if (now_ns < db->st.next_expiry_ns) return TIDAL_OK;
    for (i = 0; i < db->st.n_sess; i++) {
        tidal__session *s = &db->st.sess[i];
        int64_t due;
        if (!s->has_start || !s->ttl_ns || (s->ended & 2)) continue;
        due = s->start_ns + s->ttl_ns;
        if (due <= now_ns) {
            tidal_result r = tidal__session_end_event(db, s->tenant, s->id, 2);
            if (r != TIDAL_OK) return r;
        } else if (due < next) {
            next = due;
        }
    }
    db->st.next_expiry_ns = next;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_session_get(tidal_db *db, uint32_t tenant, tidal_id session,
                                         tidal_session_info *info) {
    const tidal__session *s;
    if (!db) return TIDAL_ERR_INVALID;
    if (!session || !info) return tidal__err(db, TIDAL_ERR_INVALID, "session and info must be set");
    s = tidal__sess_find(db, tenant, session);
    if (!s || tidal__sess_empty(s)) return tidal__err(db, TIDAL_ERR_NOT_FOUND, "no such session");
    info->user = s->user;
    info->start_ns = s->start_ns;
    info->ttl_ns = s->ttl_ns;
    info->ended = (s->ended & 2) ? 2 : (s->ended & 1) ? 1 : 0;
    info->hwm = s->hwm;
    info->entries = s->n_j;
    tidal__ok(db);
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_session_entries(tidal_db *db, uint32_t tenant, tidal_id session,
                                             uint32_t first, tidal_session_entry *out,
                                             uint32_t cap, uint32_t *count) {
    const tidal__session *s;
    uint32_t i;
    if (!db) return TIDAL_ERR_INVALID;
    if (!session || !count || (!out && cap))
        return tidal__err(db, TIDAL_ERR_INVALID, "session, count and out must be set");
    s = tidal__sess_find(db, tenant, session);
    if (!s || tidal__sess_empty(s)) return tidal__err(db, TIDAL_ERR_NOT_FOUND, "no such session");
    for (i = 0; i < cap && first + i < s->n_j && first <= s->n_j; i++) {
        const tidal__jentry *j = &s->j[first + i];
        memset(&out[i], 0, sizeof out[i]);
        out[i].seq = j->seq;
        out[i].kind = (tidal_session_entry_kind)j->kind;
        out[i].item = j->item;
        out[i].type = j->type;
        out[i].weight = j->weight;
        out[i].time_ns = j->time_ns;
        out[i].note = j->kind == TIDAL_SESSION_NOTE ? db->st.strs[j->note].s : NULL;
    }
    *count = i;
    tidal__ok(db);
    return TIDAL_OK;
}

// >>migration
// Moving a tenant between replica groups (DESIGN 5.7; the steps are in the API section).
// An export is the tenant's canonical encoding (the bytes its digest hashes) after the
// source's applied-event index, behind a header and a BLAKE3 sum. An install re-encodes it
// as chunks, each a self-contained run of entities or sessions in the snapshot format, so a
// chunk applies on its own and no state spans two batches: the first chunk also carries the
// index and first frees whatever the group held of the tenant (an earlier attempt). A drop
// frees the tenant. Freeing rebuilds the state without the tenant through the snapshot
// codec (encode the rest, free, decode): O(state), and the same path state transfers use.
// Install and drop events have ids derived from (tenant, migration, chunk), so a retried
// call writes nothing new; they are internal (events_internal) and never reach the hook.
// Collection (at the end): after a drop, every member removes the files that may still hold
// the tenant (older snapshots, log up to a fresh snapshot) once its group allows.

#define TIDAL__EXPORT_MAGIC UINT32_C(0x58444C54) /* "TLDX" */
#define TIDAL__EXPORT_VERSION 1u
#define TIDAL__EXPORT_HDR 32 /* magic u32, version u32, schema fp u64, tenant u32, 0 u32, body u64 */
#define TIDAL__INSTALL_FIRST 1u
#define TIDAL__INSTALL_LAST 2u
#define TIDAL__INSTALL_INDEX 4u /* a later part of the applied-event index (tidal__ixcut) */
#define TIDAL__INSTALL_FLAGS (TIDAL__INSTALL_FIRST | TIDAL__INSTALL_LAST | TIDAL__INSTALL_INDEX)
#define TIDAL__INSTALL_LAST_SEQ UINT64_C(0xFFFFFFFF)

/* Flags no encoder writes: unknown bits, or a first chunk also marked as a later index part. */
static int tidal__install_flags_bad(uint32_t flags) {
    return (flags & ~TIDAL__INSTALL_FLAGS) || ((flags & TIDAL__INSTALL_FIRST) && (flags & TIDAL__INSTALL_INDEX));
}

static tidal_event_id tidal__move_id(uint32_t tenant, char domain, uint64_t migration, uint64_t seq) {
    uint8_t k[8];
    int i;
    for (i = 0; i < 8; i++) k[i] = (uint8_t)(migration >> (8 * i));
    return tidal__derived_id(tenant, domain, k, 8, seq);
}

/* Scratch an encoder of one tenant needs (as the digest's), db-allocated. */
typedef struct tidal__tscratch {
    tidal__sortkey *keys;
    uint64_t *seen;
    uint32_t n_keys, n_seen;
} tidal__tscratch;

static int tidal__tscratch_get(tidal_db *db, tidal__tscratch *s) {
    uint32_t i;
    s->n_keys = db->st.n_ents + db->st.n_sess + 1; /* tidal__tenant_rows lists both */
    s->n_seen = 1;
    for (i = 0; i < db->st.n_ents; i++)
        if (db->st.ents[i].user && db->st.ents[i].user->seen.n > s->n_seen) s->n_seen = db->st.ents[i].user->seen.n;
    s->keys = (tidal__sortkey *)tidal__alloc(db, sizeof(tidal__sortkey) * s->n_keys);
    s->seen = (uint64_t *)tidal__alloc(db, sizeof(uint64_t) * s->n_seen);
    return s->keys && s->seen;
}
static void tidal__tscratch_put(tidal_db *db, tidal__tscratch *s) {
    tidal__free(db, s->keys, sizeof(tidal__sortkey) * s->n_keys);
    tidal__free(db, s->seen, sizeof(uint64_t) * s->n_seen);
}

/* Rebuilds the state without tenant (drop, and the first chunk of an install). */
static tidal_result tidal__tenant_clear(tidal_db *db, uint32_t tenant) {
    uint8_t *body;
    size_t len, cap;
    const char *why;
    tidal_result r = tidal__snap_body_skip(db, tenant, &body, &len, &cap);
    if (r != TIDAL_OK) return r;
    tidal__state_free(db);
    why = tidal__snap_decode(db, body, len);
    tidal__free(db, body, cap);
    if (why) { /* only memory can fail here: the bytes were just encoded */
        db->fatal = 1;
        return tidal__err(db, TIDAL_ERR_NOMEM, "tenant %u: rebuilding the state: %s; reopen", tenant, why);
    }
    return TIDAL_OK;
}


/* A throwaway ephemeral handle with db's signal types and cohort keys (profiles do not
   shape state): install chunks are decoded into it first, so a bad one changes nothing. */
static tidal_result tidal__scratch_open(tidal_db *db, tidal_db **out) {
    tidal_signal_def sigs[TIDAL_SIGNAL_TYPES_MAX];
    const char *ckeys[TIDAL_COHORT_KEYS_MAX];
    tidal_config c;
    uint32_t i;
    memset(&c, 0, sizeof c);
    memset(sigs, 0, sizeof sigs);
    for (i = 0; i < db->schema.n_sig; i++) {
        sigs[i].name = db->schema.sig[i].name;
        sigs[i].half_life_s = db->schema.sig[i].half_life_s;
        sigs[i].windows = db->schema.sig[i].windows;
        sigs[i].permanent = db->schema.sig[i].permanent;
        sigs[i].negative = db->schema.sig[i].negative;
    }
    for (i = 0; i < db->schema.n_ckey; i++) ckeys[i] = db->schema.ckey[i];
    c.env = db->env;
    c.allocator = &db->alloc;
    c.schema.signals = sigs;
    c.schema.signal_count = db->schema.n_sig;
    c.schema.cohort_keys = ckeys;
    c.schema.cohort_key_count = db->schema.n_ckey;
    c.node = db->node;
    return tidal_db_open(&c, out);
}

/* Restores a state image into db, a freshly opened handle without a path that has applied
   nothing: body is a canonical snapshot body (tidal__snap_body_mem of a handle with the same
   schema) - entities, sessions, the applied-event index, generations and counters - and db's
   own origin resumes after the highest sequence the index holds of it, as recovery does
   (tidal__recover), so a write on the copy never reuses an id of the image. A cheap clone
   for tests and fuzz targets that start every case from one fixed state: decoding the image
   instead of replaying the events that built it. NULL on success, else why (the image does
   not decode). */
TIDAL__TESTING static const char *tidal__db_restore(tidal_db *db, const uint8_t *body, size_t len) {
    const tidal__origin *o;
    const char *why;
    uint64_t own;
    uint32_t k;
    TIDAL_ASSERT(db && !db->log.wal_on && !db->st.n_ents && !db->st.n_sess && !db->st.n_origins);
    if ((why = tidal__snap_decode(db, body, len)) != NULL) return why;
    own = (uint64_t)db->node.region << 48 | (uint64_t)db->node.shard << 32 | db->incarnation;
    o = tidal__origin_find(db, own);
    db->st.local_seq = o ? o->hwm : 0;
    for (k = 0; o && o->above.n && k < o->above.cap; k++)
        if (o->above.slot[k] > db->st.local_seq) db->st.local_seq = o->above.slot[k];
    TIDAL_ASSERT(!o || db->st.local_seq >= o->hwm);
    return NULL;
}

/* Decodes a chunk (after its flags byte) into d->db: the index when first, then a run of
   entities and sessions of tenant. */
static int tidal__sd_chunk(tidal__sd *d, uint32_t tenant, uint32_t flags, int index_mode) {
    if ((flags & (TIDAL__INSTALL_FIRST | TIDAL__INSTALL_INDEX)) && !tidal__sd_index(d, index_mode)) return 0;
    if (!tidal__sd_tenant(d, tenant)) return 0;
    return d->r.pos == d->r.n ? 1 : tidal__sd_fail(d, "trailing bytes");
}

/* NULL when the install chunk ev decodes and adds nothing db already holds (a first
   chunk replaces the tenant, so it only has to decode). */
static const char *tidal__install_check(tidal_db *db, const tidal__event *ev) {
    tidal_db *s;
    tidal__sd d;
    uint32_t flags, i;
    const char *why = NULL;
    if (tidal__scratch_open(db, &s) != TIDAL_OK) return "out of memory";
    flags = (uint8_t)ev->value[0];
    memset(&d, 0, sizeof d);
    d.db = s;
    tidal__rd_init(&d.r, (const uint8_t *)ev->value + 1, ev->value_len - 1);
    if (tidal__install_flags_bad(flags))
        why = "bad install flags";
    else if (!tidal__sd_chunk(&d, ev->tenant, flags, TIDAL__INDEX_UNION)) why = d.why ? d.why : "bad install chunk";
    else if (ev->id.hi != tidal__move_id(ev->tenant, 'i', ev->entity, ev->seq).hi ||
             ev->seq != ((flags & TIDAL__INSTALL_LAST) ? TIDAL__INSTALL_LAST_SEQ : ev->seq) ||
             ((flags & TIDAL__INSTALL_FIRST) && ev->seq && !(flags & TIDAL__INSTALL_LAST)))
        why = "install chunk id does not match its migration and position";
    if (!why && (flags & (TIDAL__INSTALL_FIRST | TIDAL__INSTALL_INDEX)) && !db->log.replaying) { /* checked when taken */
        /* This node's own origin can come back in an index (a tenant moving back), but
           never with events it has not written: that would be another group's member on
           this node that drew the same incarnation, and merging it would drop our next
           events as duplicates. */
        uint64_t own = (uint64_t)db->node.region << 48 | (uint64_t)db->node.shard << 32 | db->incarnation;
        tidal__origin *o = tidal__origin_find(s, own);
        uint64_t k;
        if (o && o->hwm > db->st.local_seq)
            why = "the index claims events of this node's own origin";
        for (k = 0; o && !why && k < o->above.cap; k++)
            if (o->above.slot[k] > db->st.local_seq) why = "the index claims events of this node's own origin";
    }
    if (!why && !(flags & TIDAL__INSTALL_FIRST)) {
        for (i = 0; i < s->st.n_ents && !why; i++)
            if (tidal__ent_find(db, ev->tenant, s->st.ents[i].id)) why = "install chunk repeats an entity";
        for (i = 0; i < s->st.n_sess && !why; i++)
            if (tidal__sess_find(db, ev->tenant, s->st.sess[i].id)) why = "install chunk repeats a session";
    }
    tidal_db_close(s);
    return why;
}

/* The tenant's newest install or drop here (NULL: none). */
static tidal__tgen *tidal__tgen_find(tidal_db *db, uint32_t tenant) {
    uint32_t i;
    for (i = 0; i < db->st.n_tgen; i++)
        if (db->st.tgen[i].tenant == tenant) return &db->st.tgen[i];
    return NULL;
}

/* Sets it, keeping the table sorted by tenant (snapshots list it in that order). */
static int tidal__tgen_set(tidal_db *db, uint32_t tenant, uint64_t gen, uint32_t complete) {
    tidal__tgen *g = tidal__tgen_find(db, tenant);
    uint32_t i;
    if (!g) {
        if (!TIDAL__GROW(db, db->st.tgen, db->st.cap_tgen, db->st.n_tgen + 1)) return 0;
        for (i = db->st.n_tgen; i > 0 && db->st.tgen[i - 1].tenant > tenant; i--) db->st.tgen[i] = db->st.tgen[i - 1];
        g = &db->st.tgen[i];
        g->tenant = tenant;
        db->st.n_tgen++;
    }
    g->gen = gen;
    g->complete = complete;
    return 1;
}

/* A dropped tenant's old files go too (collection, tidal_tenant_collected): it joins the
   pending list, persisted before any snapshot covers the drop (tidal_db_snapshot saves
   it), so a crash between that snapshot and the last old file's removal forgets nothing;
   a drop still in the replayed log adds it again at open. A new one restarts the step
   (a new snapshot without it). 0 when out of memory. */
static int tidal__collect_add(tidal_db *db, uint32_t tenant) {
    uint32_t i;
    if (!db->log.wal_on) return 1; /* no files */
    for (i = 0; i < db->log.n_collect; i++)
        if (db->log.collect[i] == tenant) break;
    if (i == db->log.n_collect) {
        if (!TIDAL__GROW(db, db->log.collect, db->log.cap_collect, db->log.n_collect + 1)) return 0;
        db->log.collect[db->log.n_collect++] = tenant;
        db->log.collect_saved = 0;
    }
    db->log.collect_lsn = 0;
    TIDAL_ASSERT(db->log.n_collect > 0);
    return 1;
}

/* Installs and drops are ordered by their generation (the migration argument, which a
   control plane must keep increasing for a tenant): one older than the newest applied
   here is stale - an install or drop written by a leader that was cut off and never
   acknowledged, merging back after a heal - and is folded as a no-op, so it cannot clear
   what newer ones and the writes since put there, whatever order replicas see them in. */
static tidal_result tidal__apply_move(tidal_db *db, const tidal__event *ev) {
    tidal__sd d;
    uint32_t flags;
    const char *why;
    tidal_result r;
    tidal__tgen *g = tidal__tgen_find(db, ev->tenant);
    uint64_t gen = ev->entity, cur = g ? g->gen : 0;
    db->stats.events_internal++;
    if (ev->kind == TIDAL__EV_DROP) {
        if (gen <= cur) return TIDAL_OK; /* stale */
        if (!tidal__collect_add(db, ev->tenant)) return TIDAL_ERR_NOMEM; /* nothing changed */
        if ((r = tidal__tenant_clear(db, ev->tenant)) != TIDAL_OK) return r;
        return tidal__tgen_set(db, ev->tenant, gen, 0) ? TIDAL_OK : TIDAL_ERR_NOMEM;
    }
    flags = (uint8_t)ev->value[0];
    if (tidal__install_flags_bad(flags)) {
        /* even a stale one must be well formed */
        db->stats.events_internal--;
        return tidal__err(db, TIDAL_ERR_CORRUPT, "tenant %u install: bad install flags", ev->tenant);
    }
    if ((flags & TIDAL__INSTALL_FIRST) ? gen <= cur : gen != cur || (g && g->complete)) return TIDAL_OK;
    if ((why = tidal__install_check(db, ev)) != NULL) {
        db->stats.events_internal--;
        return tidal__err(db, TIDAL_ERR_CORRUPT, "tenant %u install: %s", ev->tenant, why);
    }
    if (flags & TIDAL__INSTALL_FIRST) {
        if ((r = tidal__tenant_clear(db, ev->tenant)) != TIDAL_OK) return r;
        if (!tidal__tgen_set(db, ev->tenant, gen, 0)) return TIDAL_ERR_NOMEM;
    }
    memset(&d, 0, sizeof d);
    d.db = db;
    tidal__rd_init(&d.r, (const uint8_t *)ev->value + 1, ev->value_len - 1);
    if (!tidal__sd_chunk(&d, ev->tenant, flags, TIDAL__INDEX_FOREIGN)) { /* checked above: only memory is left */
        db->fatal = 1;
        return tidal__err(db, TIDAL_ERR_NOMEM, "tenant %u install: %s; reopen", ev->tenant, d.why ? d.why : "?");
    }
    if (flags & TIDAL__INSTALL_LAST) tidal__tgen_find(db, ev->tenant)->complete = 1;
    return TIDAL_OK;
}

/* Entities and sessions of tenant with content, sorted by id into s->keys: entities first
   (*ne of them), then sessions (*ns). */
static void tidal__tenant_rows(tidal_db *db, uint32_t tenant, tidal__tscratch *s, uint32_t *ne, uint32_t *ns) {
    uint32_t i, n = 0;
    for (i = 0; i < db->st.n_ents; i++)
        if (db->st.ents[i].tenant == tenant && !tidal__ent_empty(db, &db->st.ents[i])) {
            s->keys[n].key = db->st.ents[i].id;
            s->keys[n++].idx = i;
        }
    qsort(s->keys, n, sizeof *s->keys, tidal__sortkey_cmp);
    *ne = n;
    for (i = 0; i < db->st.n_sess; i++)
        if (db->st.sess[i].tenant == tenant && !tidal__sess_empty(&db->st.sess[i])) {
            s->keys[n].key = db->st.sess[i].id;
            s->keys[n++].idx = i;
        }
    qsort(s->keys + *ne, n - *ne, sizeof *s->keys, tidal__sortkey_cmp);
    *ns = n - *ne;
}

TIDAL_API tidal_result tidal_tenant_footprint(tidal_db *db, uint32_t tenant, uint64_t *entities,
                                              uint64_t *sessions, uint64_t *bytes) {
    tidal__tscratch s;
    tidal__enc x;
    uint32_t ne = 0, ns = 0;
    if (!db) return TIDAL_ERR_INVALID;
    if (!tidal__tscratch_get(db, &s)) {
        tidal__tscratch_put(db, &s);
        return tidal__err(db, TIDAL_ERR_NOMEM, "footprint scratch");
    }
    tidal__enc_init(&x); /* not the 16 KB buffer: only the count is read */
    x.db = db;
    tidal_blake3_init(&x.h);
    tidal__enc_tenant(&x, db, tenant, s.keys, s.seen);
    tidal__tenant_rows(db, tenant, &s, &ne, &ns);
    tidal__tscratch_put(db, &s);
    if (entities) *entities = ne;
    if (sessions) *sessions = ns;
    if (bytes) *bytes = ne + ns ? x.off + x.n : 0; /* the three counts' framing aside */
    tidal__ok(db);
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_tenant_export(tidal_db *db, uint32_t tenant, void *buf, size_t cap,
                                           size_t *len) {
    tidal__tscratch s;
    tidal__enc *x;
    tidal_result r = TIDAL_ERR_NOMEM;
    if (!db) return TIDAL_ERR_INVALID;
    if (!len || (cap && !buf)) return tidal__err(db, TIDAL_ERR_INVALID, "export: NULL len or buf");
    x = (tidal__enc *)tidal__alloc(db, sizeof(tidal__enc));
    if (x) tidal__enc_init(x); /* its fields; the buffer is written before it is read */
    if (x && tidal__tscratch_get(db, &s)) {
        uint8_t hdr[TIDAL__EXPORT_HDR], *w = hdr;
        x->db = db;
        x->to_mem = 1;
        x->index_only = 1;
        w = tidal__wr_le(w, TIDAL__EXPORT_MAGIC, 4);
        w = tidal__wr_le(w, TIDAL__EXPORT_VERSION, 4);
        w = tidal__wr_le(w, db->schema.schema_fp, 8);
        w = tidal__wr_le(w, tenant, 4);
        w = tidal__wr_le(w, 0, 4);
        w = tidal__wr_le(w, 0, 8); /* the body's length, patched below */
        tidal__enc_bytes(x, hdr, sizeof hdr);
        r = tidal__enc_index(x, db);
        tidal__enc_tenant(x, db, tenant, s.keys, s.seen);
        tidal__enc_flush(x);
        if (r == TIDAL_OK) r = x->err;
        if (r == TIDAL_OK) {
            size_t n = (size_t)x->off;
            *len = n + 32;
            if (cap < n + 32) {
                r = tidal__err(db, TIDAL_ERR_LIMIT, "export: %zu bytes needed", n + 32);
            } else {
                (void)tidal__wr_le(x->mem + 24, n - TIDAL__EXPORT_HDR, 8);
                memcpy(buf, x->mem, n);
                tidal_blake3(x->mem, n, (uint8_t *)buf + n);
                tidal__ok(db);
            }
        }
    }
    if (x) {
        tidal__tscratch_put(db, &s);
        tidal__free(db, x->mem, x->mem_cap);
        tidal__free(db, x, sizeof(tidal__enc));
    }
    return r == TIDAL_ERR_NOMEM ? tidal__err(db, r, "export: out of memory") : r;
}

// >>migration_install
// Installing an export: cutting it into chunks that each fit one message and apply alone
// (entity rows, session rows, and the applied-event index split by origin), then writing
// them as install events in order, the last one completing the generation; and the drop
// that ends a tenant's life in this group. Both go through tidal__event_take as local
// writes, each alone in its batch.

/* The applied-event index an install carries, cut into parts that each fit a chunk: its
   encoding (tidal__enc_index: origin count, origins, key count, keys) is sliced at entry
   boundaries, so every part is itself an index and the union of the parts is the whole.
   The first chunk carries the first part; later ones flagged TIDAL__INSTALL_INDEX the
   rest, so a source with more idempotency keys than one message holds still moves. */
typedef struct tidal__ixcut {
    const uint8_t *p;           /* the whole encoding (written here, so well formed) */
    size_t o_at, k_at;          /* the next origin entry, the next key entry */
    uint64_t o_left, k_left;    /* entries not yet in a part */
} tidal__ixcut;

static void tidal__ixcut_init(tidal__ixcut *c, const uint8_t *p) {
    uint64_t i;
    size_t at = 8;
    c->p = p;
    c->o_left = tidal__rd_le_at(p);
    c->o_at = 8;
    for (i = 0; i < c->o_left; i++) at += 24 + 8 * (size_t)tidal__rd_le_at(p + at + 16);
    c->k_left = tidal__rd_le_at(p + at);
    c->k_at = at + 8;
}

static int tidal__ixcut_done(const tidal__ixcut *c) { return !c->o_left && !c->k_left; }

/* Appends the next part to x: whole entries while the chunk stays under the budget (at
   least one when the chunk is empty, so every chunk makes progress). */
static void tidal__ixcut_put(tidal__ixcut *c, tidal__enc *x, int empty, uint64_t at[2], uint64_t n[2]) {
    at[0] = x->off + x->n, n[0] = n[1] = 0;
    tidal__enc_u64(x, 0);
    while (c->o_left) {
        size_t len = 24 + 8 * (size_t)tidal__rd_le_at(c->p + c->o_at + 16);
        if (!(empty && !n[0]) && x->off + x->n + len > TIDAL_INSTALL_CHUNK_BYTES) break;
        tidal__enc_bytes(x, c->p + c->o_at, len);
        c->o_at += len, c->o_left--, n[0]++;
    }
    at[1] = x->off + x->n;
    tidal__enc_u64(x, 0);
    while (c->k_left && !c->o_left) {
        if (!(empty && !n[0] && !n[1]) && x->off + x->n + 24 > TIDAL_INSTALL_CHUNK_BYTES) break;
        tidal__enc_bytes(x, c->p + c->k_at, 24);
        c->k_at += 24, c->k_left--, n[1]++;
    }
}

/* One install chunk of s's copy of tenant into a to_mem encoder: the next part of the
   index while any is left, then rows [*k, ...) of ts while under the chunk budget (at
   least one part or row). Returns 0 on allocation failure. */
static int tidal__install_chunk(tidal_db *s, tidal__ixcut *ic, tidal__tscratch *ts, uint32_t ne,
                                uint32_t nrows, uint32_t *k, int first, tidal__enc *x) {
    uint32_t ce = 0, cs = 0;
    uint64_t at_e, at_s, ix_at[2] = {0, 0}, ix_n[2] = {0, 0};
    uint8_t flags = first ? TIDAL__INSTALL_FIRST : !tidal__ixcut_done(ic) ? TIDAL__INSTALL_INDEX : 0;
    int empty = 1;
    tidal__enc_init(x); /* a chunk of 4 KiB need not zero the 16 KB buffer first */
    x->db = s;
    x->to_mem = 1;
    x->index_only = 1;
    tidal__enc_bytes(x, &flags, 1);
    if (flags) {
        tidal__ixcut_put(ic, x, 1, ix_at, ix_n);
        empty = 0;
    }
    at_e = x->off + x->n;
    tidal__enc_u64(x, 0);
    while (tidal__ixcut_done(ic) && *k < ne && ((empty && !ce) || x->off + x->n < TIDAL_INSTALL_CHUNK_BYTES)) {
        tidal__enc_entity(x, s, &s->st.ents[ts->keys[*k].idx], ts->seen, 0); /* canonical */
        ++*k, ++ce;
    }
    at_s = x->off + x->n;
    tidal__enc_u64(x, 0);
    while (tidal__ixcut_done(ic) && *k >= ne && *k < nrows &&
           ((empty && !ce && !cs) || x->off + x->n < TIDAL_INSTALL_CHUNK_BYTES)) {
        tidal__enc_session(x, s, &s->st.sess[ts->keys[*k].idx], 0);
        ++*k, ++cs;
    }
    tidal__enc_flush(x);
    if (x->err != TIDAL_OK) return 0;
    if (*k == nrows && tidal__ixcut_done(ic)) x->mem[0] |= TIDAL__INSTALL_LAST;
    if (flags) {
        (void)tidal__wr_le(x->mem + ix_at[0], ix_n[0], 8);
        (void)tidal__wr_le(x->mem + ix_at[1], ix_n[1], 8);
    }
    (void)tidal__wr_le(x->mem + at_e, ce, 8);
    (void)tidal__wr_le(x->mem + at_s, cs, 8);
    return 1;
}

/* Parses and checks an export into the scratch handle s. NULL on success, else why. */
static const char *tidal__export_load(tidal_db *db, tidal_db *s, const uint8_t *p, size_t len, uint32_t *tenant) {
    tidal__rd r;
    tidal__sd d;
    uint8_t sum[32];
    uint64_t body;
    if (len < TIDAL__EXPORT_HDR + 32) return "truncated";
    tidal__rd_init(&r, p, len);
    if (tidal__rd_u32(&r) != TIDAL__EXPORT_MAGIC) return "bad magic";
    if (tidal__rd_u32(&r) != TIDAL__EXPORT_VERSION) return "unknown export version";
    if (!tidal__schema_fp_ok(db, tidal__rd_u64(&r))) return "exported under another schema";
    *tenant = tidal__rd_u32(&r);
    if (tidal__rd_u32(&r) != 0) return "bad header";
    body = tidal__rd_u64(&r);
    if (body != len - TIDAL__EXPORT_HDR - 32) return "length mismatch";
    tidal_blake3(p, len - 32, sum);
    if (memcmp(sum, p + len - 32, 32)) return "checksum mismatch";
    memset(&d, 0, sizeof d);
    d.db = s;
    tidal__rd_init(&d.r, p + TIDAL__EXPORT_HDR, (size_t)body);
    if (!tidal__sd_index(&d, TIDAL__INDEX_UNION)) return d.why ? d.why : "bad index";
    if (tidal__rd_u64(&d.r) != *tenant || d.r.bad) return "tenant mismatch";
    if (!tidal__sd_tenant(&d, *tenant)) return d.why ? d.why : "bad tenant state";
    return d.r.pos == d.r.n ? NULL : "trailing bytes";
}

/* Install chunks, each one encoded event value. */
typedef struct tidal__chunks {
    struct tidal__chunk {
        uint8_t *mem;
        size_t len, cap;
    } *c;
    uint32_t n, cap;
} tidal__chunks;

static void tidal__chunks_free(tidal_db *s, tidal__chunks *cs) {
    uint32_t i;
    for (i = 0; i < cs->n; i++) tidal__free(s, cs->c[i].mem, cs->c[i].cap);
    tidal__free(s, cs->c, sizeof *cs->c * cs->cap);
    memset(cs, 0, sizeof *cs);
}

/* Cuts the copy of tenant held by the scratch handle s (tidal__export_load) into install
   chunks: the index in parts, then the rows. TIDAL_ERR_LIMIT when one chunk would not fit
   a message (one origin's marks, or one row, over TIDAL__INSTALL_VALUE_MAX); nothing is
   kept on an error. */
static tidal_result tidal__install_cut(tidal_db *s, uint32_t tenant, tidal__chunks *cs) {
    tidal__tscratch ts;
    tidal__enc *x = (tidal__enc *)tidal__alloc(s, sizeof(tidal__enc));
    tidal__enc *xi = (tidal__enc *)tidal__alloc(s, sizeof(tidal__enc));
    tidal_result r = TIDAL_ERR_NOMEM;
    uint32_t ne = 0, ns = 0, k = 0;
    memset(cs, 0, sizeof *cs);
    memset(&ts, 0, sizeof ts);
    if (x) tidal__enc_init(x); /* fields only (tidal__install_chunk starts each chunk so) */
    if (xi) tidal__enc_init(xi);
    if (x && xi && tidal__tscratch_get(s, &ts)) {
        xi->db = s;
        xi->to_mem = 1;
        xi->index_only = 1;
        if ((r = tidal__enc_index(xi, s)) == TIDAL_OK) {
            tidal__enc_flush(xi);
            r = xi->err;
        }
    }
    if (r == TIDAL_OK) {
        tidal__ixcut ic;
        tidal__ixcut_init(&ic, xi->mem);
        tidal__tenant_rows(s, tenant, &ts, &ne, &ns);
        do {
            if (!TIDAL__GROW(s, cs->c, cs->cap, cs->n + 1) || !tidal__install_chunk(s, &ic, &ts, ne, ne + ns, &k, cs->n == 0, x)) {
                tidal__free(s, x->mem, x->mem_cap);
                r = TIDAL_ERR_NOMEM;
                break;
            }
            cs->c[cs->n].mem = x->mem;
            cs->c[cs->n].len = (size_t)x->off;
            cs->c[cs->n++].cap = x->mem_cap;
            if (x->off > TIDAL__INSTALL_VALUE_MAX) r = TIDAL_ERR_LIMIT;
        } while (r == TIDAL_OK && (k < ne + ns || !tidal__ixcut_done(&ic)));
    }
    if (xi) tidal__free(s, xi->mem, xi->mem_cap);
    tidal__free(s, xi, sizeof(tidal__enc));
    tidal__free(s, x, sizeof(tidal__enc));
    tidal__tscratch_put(s, &ts);
    if (r != TIDAL_OK) tidal__chunks_free(s, cs);
    return r;
}

TIDAL_API tidal_result tidal_tenant_install(tidal_db *db, const void *blob, size_t len,
                                            uint64_t migration, uint32_t *chunks,
                                            tidal_receipt *receipt) {
    tidal_db *s = NULL;
    tidal__chunks cs;
    uint32_t tenant = 0, i;
    const char *why;
    tidal_result r;
    if (chunks) *chunks = 0;
    if (!db) return TIDAL_ERR_INVALID;
    if (!blob || !migration) return tidal__err(db, TIDAL_ERR_INVALID, "install: NULL export or zero migration");
    if ((r = tidal__scratch_open(db, &s)) != TIDAL_OK) return tidal__err(db, r, "install: scratch handle");
    if ((why = tidal__export_load(db, s, (const uint8_t *)blob, len, &tenant)) != NULL) {
        tidal_db_close(s);
        return tidal__err(db, TIDAL_ERR_CORRUPT, "install: %s", why);
    }
    {
        tidal__tgen *g = tidal__tgen_find(db, tenant);
        int retry = tidal__event_applied(db, tidal__move_id(tenant, 'i', migration, 0)) ||
                    tidal__event_applied(db, tidal__move_id(tenant, 'i', migration, TIDAL__INSTALL_LAST_SEQ));
        if (g && (migration < g->gen || (migration == g->gen && !retry))) {
            tidal_db_close(s);
            return tidal__err(db, TIDAL_ERR_STALE_CONFIG, "install: migration %llu is not newer than %llu applied for tenant %u",
                              (unsigned long long)migration, (unsigned long long)g->gen, tenant);
        }
    }
    /* Every chunk is encoded first: an export that cannot be cut into messages writes nothing. */
    r = tidal__install_cut(s, tenant, &cs);
    for (i = 0; r == TIDAL_OK && i < cs.n; i++) {
        tidal__event ev;
        int last = i + 1 == cs.n;
        memset(&ev, 0, sizeof ev);
        ev.kind = TIDAL__EV_INSTALL;
        ev.tenant = tenant;
        ev.seq = last ? TIDAL__INSTALL_LAST_SEQ : i;
        ev.id = tidal__move_id(tenant, 'i', migration, ev.seq);
        ev.entity = migration;
        ev.value = (const char *)cs.c[i].mem;
        ev.value_len = (uint32_t)cs.c[i].len;
        ev.hlc = tidal__hlc_now(db);
        ev.time_ns = ev.hlc.wall_ns;
        /* a chunk per batch (tidal__event_take commits it alone): every batch ships in
           one message */
        r = tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, last ? receipt : NULL);
    }
    if (r == TIDAL_OK && chunks) *chunks = cs.n;
    tidal__chunks_free(s, &cs);
    tidal_db_close(s);
    if (r == TIDAL_ERR_LIMIT)
        return tidal__err(db, r, "install: a chunk of tenant %u (one origin of the applied-event index, or one row) is larger than one message", tenant);
    if (r == TIDAL_ERR_NOMEM) return tidal__err(db, r, "install: out of memory");
    if (r == TIDAL_OK) tidal__ok(db);
    return r;
}

TIDAL_API tidal_result tidal_tenant_generation(tidal_db *db, uint32_t tenant, uint64_t *gen,
                                               int *complete) {
    tidal__tgen *g;
    if (!db) return TIDAL_ERR_INVALID;
    g = tidal__tgen_find(db, tenant);
    if (gen) *gen = g ? g->gen : 0;
    if (complete) *complete = g && g->complete;
    return TIDAL_OK;
}

TIDAL_API int tidal_tenant_installed(tidal_db *db, uint32_t tenant, uint64_t migration) {
    tidal__tgen *g = db ? tidal__tgen_find(db, tenant) : NULL;
    return g && migration && g->gen == migration && g->complete;
}

TIDAL_API tidal_result tidal_tenant_drop(tidal_db *db, uint32_t tenant, uint64_t migration,
                                         tidal_receipt *receipt) {
    tidal__event ev;
    tidal_result r;
    if (!db) return TIDAL_ERR_INVALID;
    if (!migration) return tidal__err(db, TIDAL_ERR_INVALID, "drop: zero migration");
    {
        tidal__tgen *g = tidal__tgen_find(db, tenant);
        if (g && (migration < g->gen || (migration == g->gen && !tidal__event_applied(db, tidal__move_id(tenant, 'x', migration, 0)))))
            return tidal__err(db, TIDAL_ERR_STALE_CONFIG, "drop: migration %llu is not newer than %llu applied for tenant %u",
                              (unsigned long long)migration, (unsigned long long)g->gen, tenant);
    }
    memset(&ev, 0, sizeof ev);
    ev.kind = TIDAL__EV_DROP;
    ev.tenant = tenant;
    ev.id = tidal__move_id(tenant, 'x', migration, 0);
    ev.entity = migration;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    r = tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, receipt); /* commits it alone */
    /* The drop is durable and stands; a failed collection step leaves its message (and an
       I/O error fails the handle, as a failed snapshot does). */
    if (r == TIDAL_OK && db->log.n_collect) (void)tidal__collect_step(db);
    return r;
}

// >>collect
// Collection of a dropped tenant's files: the snapshot that no longer holds it, the old
// snapshots and log segments retired once the group may, and the collect file that lists
// the tenants still pending across restarts. Its rules follow.

/* ---- collection: a dropped tenant's files --------------------------------------------
   After a drop (DESIGN 5.9) the files that may hold the tenant are every snapshot taken
   before it and every log segment up to it. tidal__collect_step (from the drop call, each
   tick, and an open without replicas) takes one snapshot at the durable end of the log -
   the state no longer holds the tenant - and seals the active segment there (the next
   commit starts a new one), so each file is wholly old or wholly new; collect_lsn is that
   snapshot's lsn. It then removes every snapshot below collect_lsn and, oldest first,
   every segment that starts at or below it, but only those the group may retire (as
   tidal__snap_retire: a leader what every follower acknowledged, a follower what the
   leader says every member holds): a member that lags still catches up from the log,
   never finds a gap, and needs no state transfer. With no old file left the pending list
   is emptied and its file removed.
   Why segments are retired and never rewritten: a batch is the unit of shipping and of
   replica positions (its lsn range, its count, its checksum, compared and shipped
   verbatim); taking the tenant's events out would need a filler event in the log format
   and a second writer of sealed files, and the segments held back are exactly those a
   lagging member still needs, including the tenant's events it must apply before the
   drop. A member away for long holds every tenant's log back anyway (bounded disk waits
   for it the same way); collection is then pending, which tidal_tenant_collected shows,
   and a control plane waits for it (tidal_sim.h's DONE does) or replaces the member.
   Other files: the tenant config file is config, not data; sessions live in the state
   (and so in the snapshot); an export or install is a buffer of the caller's, and installs
   on the target are that group's own data. The collect file lists tenant ids only:
   magic u32, version u32, count u32, tenant u32 x count, BLAKE3 u8[32] of what precedes. */

#define TIDAL__COLLECT_MAGIC UINT32_C(0x434C4454) /* "TDLC" */
#define TIDAL__COLLECT_VERSION 1u

static void tidal__collect_name(const tidal_db *db, char *out, size_t cap, int tmp) {
    snprintf(out, cap, "%s/collect-%04x-%04x.%s", db->path, db->node.region, db->node.shard,
             tmp ? "tmp" : "dat");
}

/* Writes the pending list durably (temp file, fsync, rename, directory fsync); an empty
   list removes the file. A failure fails the handle: a snapshot must not cover a drop the
   disk does not remember. */
static tidal_result tidal__collect_save(tidal_db *db) {
    const tidal_env *env = db->env;
    char tmp[TIDAL_PATH_MAX + 64], fin[TIDAL_PATH_MAX + 64];
    size_t len = 12 + (size_t)db->log.n_collect * 4 + 32;
    uint8_t *b = NULL, *w;
    uint32_t k;
    tidal_result r = TIDAL_OK;
    TIDAL_ASSERT(db->log.wal_on);
    tidal__collect_name(db, tmp, sizeof tmp, 1);
    tidal__collect_name(db, fin, sizeof fin, 0);
    if (!db->log.n_collect) {
        r = env->file_remove(env->user, fin);
        if (r == TIDAL_ERR_NOT_FOUND) r = TIDAL_OK;
        else if (r != TIDAL_OK) r = tidal__io_err(db, r, "remove", fin);
        else if ((r = env->dir_sync(env->user, db->path)) != TIDAL_OK)
            r = tidal__io_err(db, r, "sync directory", db->path);
        goto out;
    }
    if (!(b = (uint8_t *)tidal__alloc(db, len)))
        return tidal__err(db, TIDAL_ERR_NOMEM, "collect file buffer");
    w = tidal__wr_le(b, TIDAL__COLLECT_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL__COLLECT_VERSION, 4);
    w = tidal__wr_le(w, db->log.n_collect, 4);
    for (k = 0; k < db->log.n_collect; k++) w = tidal__wr_le(w, db->log.collect[k], 4);
    tidal_blake3(b, (size_t)(w - b), w);
    TIDAL_ASSERT((size_t)(w + 32 - b) == len);
    r = tidal__file_replace(db, tmp, fin, b, len);
    tidal__free(db, b, len);
out:
    if (r != TIDAL_OK) {
        db->fatal = 1;
        return tidal__err_wrap(db, r, "%s: saving the tenants to collect failed, the handle must "
                               "be reopened", fin);
    }
    db->log.collect_saved = 1;
    return TIDAL_OK;
}

/* At open, after the replay (whose drops are in the list already): the tenants a crash
   interrupted the collection of. No file: none. A leftover temp file is removed. */
static tidal_result tidal__collect_load(tidal_db *db) {
    const tidal_env *env = db->env;
    char name[TIDAL_PATH_MAX + 64];
    uint8_t *p, sum[32];
    size_t n;
    uint32_t k, count = 0;
    const char *why = NULL;
    tidal_result r;
    tidal__collect_name(db, name, sizeof name, 1);
    r = env->file_remove(env->user, name);
    if (r != TIDAL_OK && r != TIDAL_ERR_NOT_FOUND) return tidal__io_err(db, r, "remove", name);
    tidal__collect_name(db, name, sizeof name, 0);
    r = tidal__read_file(db, name, &p, &n);
    if (r == TIDAL_ERR_NOT_FOUND) {
        db->log.collect_saved = db->log.n_collect == 0;
        return TIDAL_OK;
    }
    if (r != TIDAL_OK) return r; /* tidal__read_file named the operation, file and cause */
    if (n >= 12) count = tidal__rd_le_at4(p + 8);
    if (n < 44) why = "shorter than a header and checksum";
    else if (tidal__rd_le_at4(p) != TIDAL__COLLECT_MAGIC) why = "bad magic at byte 0";
    else if (tidal__rd_le_at4(p + 4) != TIDAL__COLLECT_VERSION) why = "unknown version at byte 4";
    else if (count == 0 || (size_t)count > (n - 44) / 4 || n != 12 + (size_t)count * 4 + 32)
        why = "length does not match the count at byte 8";
    if (!why) {
        tidal_blake3(p, n - 32, sum);
        if (memcmp(sum, p + n - 32, 32)) why = "checksum mismatch";
    }
    for (k = 0; !why && k < count; k++) {
        uint32_t t = tidal__rd_le_at4(p + 12 + 4 * (size_t)k), j;
        for (j = 0; j < k && !why; j++)
            if (tidal__rd_le_at4(p + 12 + 4 * (size_t)j) == t) why = "a tenant listed twice";
        if (why) {
            tidal__free(db, p, n);
            return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: %s, at byte %llu", name, why,
                              (unsigned long long)(12 + 4 * (uint64_t)k));
        }
        if (!tidal__collect_add(db, t)) {
            tidal__free(db, p, n);
            return tidal__err(db, TIDAL_ERR_NOMEM, "%s: no memory for %u tenants", name, count);
        }
    }
    tidal__free(db, p, n);
    if (why) return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: %s", name, why);
    /* The file holds what it held; tenants the replay added beyond it are not saved yet. */
    db->log.collect_saved = db->log.n_collect == count;
    TIDAL_ASSERT(db->log.n_collect >= count);
    return TIDAL_OK;
}

/* How far this member may retire its log (as tidal__snap_retire). */
static uint64_t tidal__collect_bound(const tidal_db *db) {
    if (!db->rep.n_rep) return db->log.durable_lsn;
    if (db->rep.role == TIDAL_ROLE_LEADER) return tidal__group_stable(db);
    return db->rep.stable_lsn;
}

/* Removes every snapshot below collect_lsn. */
static void tidal__collect_snap_fn(void *ctx, const char *name) {
    tidal__dirscan *d = (tidal__dirscan *)ctx;
    uint32_t node;
    uint64_t lsn;
    if (tidal__parse_name(name, "snap", "snap", &node, &lsn) &&
        node == tidal__node_word(d->db->node) && lsn < d->db->log.collect_lsn) {
        if (d->n_snaps < d->cap) d->snaps[d->n_snaps++] = lsn;
        else d->overflow = 1;
    }
}

static tidal_result tidal__collect_snaps(tidal_db *db, uint32_t *removed) {
    const tidal_env *env = db->env;
    char name[TIDAL_PATH_MAX + 64];
    uint64_t old[16];
    tidal__dirscan d;
    uint32_t i;
    tidal_result r;
    memset(&d, 0, sizeof d);
    d.db = db;
    d.snaps = old;
    d.cap = 16;
    if ((r = env->dir_list(env->user, db->path, tidal__collect_snap_fn, &d)) != TIDAL_OK)
        return tidal__io_err(db, r, "list directory", db->path);
    for (i = 0; i < d.n_snaps; i++) {
        tidal__seg_name(db, old[i], "snap", name, sizeof name);
        if ((r = env->file_remove(env->user, name)) != TIDAL_OK && r != TIDAL_ERR_NOT_FOUND)
            return tidal__io_err(db, r, "remove", name);
        if (db->log.snaps[1] == old[i]) db->log.snaps[1] = 0;
        ++*removed;
    }
    TIDAL_ASSERT(db->log.snaps[0] >= db->log.collect_lsn);
    if (!d.overflow) db->log.collect_snaps = 0; /* else the next step lists again */
    return TIDAL_OK;
}

static tidal_result tidal__collect_step(tidal_db *db) {
    const tidal_env *env = db->env;
    char name[TIDAL_PATH_MAX + 64];
    uint64_t bound;
    uint32_t drop = 0, removed = 0;
    tidal_result r = TIDAL_OK;
    if (!db->log.n_collect || !db->log.wal_on || db->fatal || db->log.replaying ||
        db->log.in_batch)
        return TIDAL_OK;
    if (!db->log.collect_lsn && !db->log.durable_lsn && !db->log.batch_count) {
        db->log.n_collect = 0; /* no log yet (a state transfer to an empty member): no old file */
        return tidal__collect_save(db);
    }
    if (!db->log.collect_lsn) {
        /* The snapshot saves the pending list first (tidal_db_snapshot). */
        if ((r = tidal_db_snapshot(db)) != TIDAL_OK) return r;
        TIDAL_ASSERT(db->log.snaps[0] == db->log.durable_lsn && !db->log.batch_count);
        if (db->log.seg && db->log.seg_size) { /* sealed here: synced by the snapshot */
            env->file_close(env->user, db->log.seg);
            db->log.seg = NULL;
            db->log.seg_size = 0;
        }
        db->log.collect_lsn = db->log.snaps[0];
        db->log.collect_snaps = 1;
    }
    if (db->log.collect_snaps && (r = tidal__collect_snaps(db, &removed)) != TIDAL_OK) goto fail;
    bound = tidal__collect_bound(db);
    /* Segment i holds [segs[i], segs[i+1]); the last one, sealed, ends at the durable end.
       One still open for appends holds nothing below collect_lsn (sealed above, or empty). */
    while (drop < db->log.n_segs && db->log.segs[drop] <= db->log.collect_lsn) {
        uint64_t end = drop + 1 < db->log.n_segs ? db->log.segs[drop + 1] - 1 : db->log.durable_lsn;
        if (end > bound || (drop + 1 == db->log.n_segs && db->log.seg)) break;
        tidal__seg_name(db, db->log.segs[drop], "log", name, sizeof name);
        r = env->file_remove(env->user, name);
        if (r != TIDAL_OK && r != TIDAL_ERR_NOT_FOUND) {
            r = tidal__io_err(db, r, "remove", name);
            break;
        }
        r = TIDAL_OK;
        drop++;
    }
    if (drop) {
        memmove(db->log.segs, db->log.segs + drop, sizeof(uint64_t) * (db->log.n_segs - drop));
        db->log.n_segs -= drop;
    }
    if (r != TIDAL_OK) goto fail;
    if ((drop || removed) && (r = env->dir_sync(env->user, db->path)) != TIDAL_OK) {
        r = tidal__io_err(db, r, "sync directory", db->path);
        goto fail;
    }
    if (db->log.collect_snaps || (db->log.n_segs && db->log.segs[0] <= db->log.collect_lsn))
        return TIDAL_OK; /* a later step */
    db->log.n_collect = 0; /* no file below collect_lsn is left: every one of them is collected */
    db->log.collect_lsn = 0;
    return tidal__collect_save(db); /* removes the file */
fail:
    db->fatal = 1;
    return tidal__err_wrap(db, r, "collecting dropped tenants' files failed, the handle must be "
                           "reopened");
}

TIDAL_API tidal_result tidal_tenant_collected(tidal_db *db, uint64_t tenant, int *done) {
    uint32_t i;
    if (!db) return TIDAL_ERR_INVALID;
    if (!done || (tenant > UINT32_MAX && tenant != TIDAL_ALL_TENANTS))
        return tidal__err(db, TIDAL_ERR_INVALID, "collected: NULL done, or tenant %llu out of "
                          "range", (unsigned long long)tenant);
    *done = 1;
    for (i = 0; i < db->log.n_collect; i++)
        if (tenant == TIDAL_ALL_TENANTS || db->log.collect[i] == tenant) *done = 0;
    tidal__ok(db);
    return TIDAL_OK;
}

// >>repl_wire
// Replica groups (DESIGN 5.2-5.5). One leader per epoch takes writes and ships each log
// batch verbatim as soon as it is durable; followers fold the events (deduplicated by id)
// into their own log, stamped with the leader position, and acknowledge after their fsync.
// Followers also push their own log to the leader, skipping what came from that leader, so
// events a deposed leader acknowledged LOCAL merge back instead of being lost. Elections:
// a follower that hears nothing for its randomized timeout runs for epoch + 1; a node votes
// once per epoch (persisted before it answers) for a candidate at least as up to date.
// Messages from a lower epoch are fenced. A follower whose needed log is gone gets the
// leader's state instead (state transfer, after it has pushed everything it holds).
// Multi-region (DESIGN 5.4-5.6): in availability mode a member cut off from any leader
// takes writes as its own origin (epoch 0: in no leader's log) and pushes them when it
// rejoins. On (re)connection both sides exchange version vectors and skip what the other
// holds; a log prefix is retired only once every member holds it; votes compare (epoch,
// position in that epoch's leader log); a member silent for two timeouts asks for pre-votes
// first; a member that lost its disk relearns the group's epochs before it acknowledges.
//
// The >>repl_* sections, in order: the wire (this one: message header, checksum,
// sending), the persisted epoch and vote, version vectors, pipelined shipping, appends
// and pushes, elections, state transfer, and the member's entry points.

#define TIDAL__MSG_MAGIC UINT32_C(0x4D4C4454) /* "TDLM" */
#define TIDAL__MSG_HDR 120
TIDAL__STATIC_ASSERT(batch_ships_whole, TIDAL__BATCH_SHIP_MAX + TIDAL__MSG_HDR <= TIDAL_MSG_BYTES_MAX);
TIDAL__STATIC_ASSERT(batch_is_readable, TIDAL__BATCH_SHIP_MAX <= TIDAL_BATCH_BYTES_MAX);
#define TIDAL__MSG_SUM_AT 88 /* offset of the checksum in the header */
#define TIDAL__META_BYTES 88  /* the epoch record, version 3 */
#define TIDAL__META_SUMMED 56 /* bytes the checksum covers */
#define TIDAL__META_V2_BYTES 72 /* version 2 (no log position): still read */
#define TIDAL__META_V2_SUMMED 40

enum {
    TIDAL__MSG_APPEND = 1,   /* leader -> follower: a = lsn before the batches, b = durable lsn */
    TIDAL__MSG_ACK = 2,      /* follower -> leader: a = leader lsn applied, b = 1 gap, 2 stale */
    TIDAL__MSG_VOTE_REQ = 3, /* candidate: a = how far into b's leader log, b = newest epoch in its log */
    TIDAL__MSG_VOTE = 4,     /* a = 1 granted */
    TIDAL__MSG_PUSH = 5,     /* follower -> leader: a = own lsn before, b = own lsn covered */
    TIDAL__MSG_PUSH_ACK = 6, /* leader -> follower: a = follower lsn applied, b = 1 gap */
    TIDAL__MSG_SNAP = 7,     /* leader -> follower: state transfer chunk at a of b bytes */
    TIDAL__MSG_SNAP_ACK = 8, /* a = bytes held; b = 1 refused (unpushed log), 2 installed */
    TIDAL__MSG_VV = 9,       /* either way on (re)connection: payload = version vector */
    TIDAL__MSG_PREVOTE_REQ = 10, /* as VOTE_REQ, for epoch + 1, before running: changes nothing */
    TIDAL__MSG_PREVOTE = 11,     /* a = 1 granted */
    TIDAL__MSG_TYPE_MAX = 11
};

enum { TIDAL__CANDIDATE = 3 }; /* internal role beside tidal_role's FOLLOWER and LEADER */

typedef struct tidal__msg_hdr {
    uint32_t magic, version, type, group, from, to, incarnation;
    uint64_t epoch, a, b, c, d; /* per type, see the enum above and the handlers */
    uint32_t to_incarnation;    /* the receiver's life the sender meant (0 = any): an
                                   append filtered by a version vector fits only it */
    uint32_t config_version;    /* the sender's control-plane config version */
    tidal_hlc hlc;              /* the sender's clock (node = from) */
    uint32_t payload_len;
    uint8_t sum[32];
} tidal__msg_hdr;

/* Header layout: magic u32, version u16, header bytes u16, type u16, group u16, from
   node u32, to node u32, sender incarnation u32, epoch u64, a u64, b u64, c u64, d u64,
   sender HLC wall ns u64 and logical u32, payload bytes u32, receiver incarnation u32,
   config version u32, BLAKE3 u8[32] of (header with this field zeroed) || payload. An
   append's or a push's payload is whole log batches, each with its own BLAKE3 over its
   header and events: there (wire version 5) the message checksum covers the header and
   the batches' checksums in order, not their bytes again, and each batch's checksum is
   checked against its bytes before anything is applied (tidal__payload_check), so every
   byte is hashed once on each side. */
static void tidal__msg_hdr_put(uint8_t *w, const tidal__msg_hdr *h) {
    w = tidal__wr_le(w, h->magic, 4);
    w = tidal__wr_le(w, h->version, 2);
    w = tidal__wr_le(w, TIDAL__MSG_HDR, 2);
    w = tidal__wr_le(w, h->type, 2);
    w = tidal__wr_le(w, h->group, 2);
    w = tidal__wr_le(w, h->from, 4);
    w = tidal__wr_le(w, h->to, 4);
    w = tidal__wr_le(w, h->incarnation, 4);
    w = tidal__wr_le(w, h->epoch, 8);
    w = tidal__wr_le(w, h->a, 8);
    w = tidal__wr_le(w, h->b, 8);
    w = tidal__wr_le(w, h->c, 8);
    w = tidal__wr_le(w, h->d, 8);
    w = tidal__wr_le(w, (uint64_t)h->hlc.wall_ns, 8);
    w = tidal__wr_le(w, h->hlc.logical, 4);
    w = tidal__wr_le(w, h->payload_len, 4);
    w = tidal__wr_le(w, h->to_incarnation, 4);
    w = tidal__wr_le(w, h->config_version, 4);
    memcpy(w, h->sum, 32);
}

/* The message checksum (see the layout above). For an append or a push, the payload's
   batches are walked by their headers' lengths; NULL, or why they are not whole batches
   (then out is unspecified). */
static const char *tidal__msg_sum(const uint8_t *hdr, const uint8_t *payload, size_t len, uint8_t out[32]) {
    struct tidal_blake3 h;
    static const uint8_t zeros[32] = {0};
    uint32_t type = (uint32_t)(hdr[8] | hdr[9] << 8);
    tidal_blake3_init(&h);
    tidal_blake3_update(&h, hdr, TIDAL__MSG_SUM_AT);
    tidal_blake3_update(&h, zeros, 32);
    if (type == TIDAL__MSG_APPEND || type == TIDAL__MSG_PUSH) {
        size_t off = 0;
        while (off < len) {
            uint64_t blen;
            if (len - off < TIDAL__WAL_HDR) return "payload: a batch header cut short";
            blen = TIDAL__WAL_HDR + (uint64_t)tidal__rd_le_at4(payload + off + 52);
            if (blen > len - off) return "payload: a batch runs past the end of the message";
            tidal_blake3_update(&h, payload + off + 80, 32);
            off += (size_t)blen;
        }
    } else {
        tidal_blake3_update(&h, payload, len);
    }
    tidal_blake3_final(&h, out, 32);
    return NULL;
}

/* Checks the envelope; NULL if it is intact and addressed to this node. */
static const char *tidal__msg_check(const tidal_db *db, const uint8_t *p, size_t len,
                                    tidal__msg_hdr *h) {
    tidal__rd r;
    uint8_t sum[32];
    const char *why;
    if (len < TIDAL__MSG_HDR) return "truncated header";
    if (len > TIDAL_MSG_BYTES_MAX) return "longer than TIDAL_MSG_BYTES_MAX";
    tidal__rd_init(&r, p, len);
    h->magic = tidal__rd_u32(&r);
    h->version = (uint32_t)tidal__rd_le(&r, 2);
    if ((uint32_t)tidal__rd_le(&r, 2) != TIDAL__MSG_HDR) return "bad header size";
    h->type = (uint32_t)tidal__rd_le(&r, 2);
    h->group = (uint32_t)tidal__rd_le(&r, 2);
    h->from = tidal__rd_u32(&r);
    h->to = tidal__rd_u32(&r);
    h->incarnation = tidal__rd_u32(&r);
    h->epoch = tidal__rd_u64(&r);
    h->a = tidal__rd_u64(&r);
    h->b = tidal__rd_u64(&r);
    h->c = tidal__rd_u64(&r);
    h->d = tidal__rd_u64(&r);
    h->hlc.wall_ns = (int64_t)tidal__rd_u64(&r);
    h->hlc.logical = tidal__rd_u32(&r);
    h->hlc.node = h->from;
    h->payload_len = tidal__rd_u32(&r);
    h->to_incarnation = tidal__rd_u32(&r);
    h->config_version = tidal__rd_u32(&r);
    memcpy(h->sum, p + TIDAL__MSG_SUM_AT, 32);
    if (h->magic != TIDAL__MSG_MAGIC) return "bad magic";
    if (h->version != TIDAL_WIRE_FORMAT_VERSION) return "unknown wire version";
    if (h->payload_len != len - TIDAL__MSG_HDR) return "length mismatch";
    if ((why = tidal__msg_sum(p, p + TIDAL__MSG_HDR, h->payload_len, sum)) != NULL) return why;
    if (memcmp(sum, h->sum, 32)) return "checksum mismatch";
    if (h->type < TIDAL__MSG_APPEND || h->type > TIDAL__MSG_TYPE_MAX) return "unknown message type";
    if (h->to != tidal__node_word(db->node)) return "addressed to another node";
    if (h->group != db->rep.group) return "addressed to another replica group";
    return NULL;
}

TIDAL_API tidal_result tidal_message_group(const void *bytes, size_t len, uint32_t *group) {
    tidal__rd r;
    if (!bytes || !group) return TIDAL_ERR_INVALID;
    if (len < TIDAL__MSG_HDR) return TIDAL_ERR_CORRUPT;
    tidal__rd_init(&r, (const uint8_t *)bytes, len);
    if (tidal__rd_u32(&r) != TIDAL__MSG_MAGIC || tidal__rd_le(&r, 2) != TIDAL_WIRE_FORMAT_VERSION ||
        tidal__rd_le(&r, 2) != TIDAL__MSG_HDR)
        return TIDAL_ERR_CORRUPT;
    (void)tidal__rd_le(&r, 2);
    *group = (uint32_t)tidal__rd_le(&r, 2);
    return TIDAL_OK;
}

static int tidal__rep_index(const tidal__member *rm, uint32_t node) {
    uint32_t i;
    for (i = 0; i < rm->n_rep; i++)
        if (tidal__node_word(rm->member[i]) == node) return (int)i;
    return -1;
}

/* Sends header + payload to replica i. The network may lose it; the protocol resends. */
static void tidal__rep_send5(tidal_db *db, uint32_t i, uint32_t type, uint64_t a, uint64_t b,
                             uint64_t c, uint64_t d, uint32_t to_inc, const uint8_t *payload, size_t len) {
    tidal__msg_hdr h;
    uint8_t *m = (uint8_t *)tidal__alloc(db, TIDAL__MSG_HDR + len);
    if (!m) return; /* a lost message: the resend timer covers it */
    memset(&h, 0, sizeof h);
    h.magic = TIDAL__MSG_MAGIC;
    h.version = TIDAL_WIRE_FORMAT_VERSION;
    h.type = type;
    h.group = db->rep.group;
    h.from = tidal__node_word(db->node);
    h.to = tidal__node_word(db->rep.member[i]);
    h.incarnation = db->incarnation;
    h.epoch = db->rep.epoch;
    h.a = a;
    h.b = b;
    h.c = c;
    h.d = d;
    h.to_incarnation = to_inc;
    h.config_version = db->rep.config_version;
    h.hlc = tidal__hlc_now(db); /* every message carries a fresh stamp */
    h.payload_len = (uint32_t)len;
    tidal__msg_hdr_put(m, &h);
    if (len) memcpy(m + TIDAL__MSG_HDR, payload, len);
    {
        const char *bad = tidal__msg_sum(m, m + TIDAL__MSG_HDR, len, h.sum);
        TIDAL_ASSERT(!bad); /* appends and pushes carry whole batches */
        (void)bad;
    }
    memcpy(m + TIDAL__MSG_SUM_AT, h.sum, 32);
    (void)db->env->message_send(db->env->user, db->rep.member[i], m, TIDAL__MSG_HDR + len);
    db->rep.msgs_sent++;
    tidal__free(db, m, TIDAL__MSG_HDR + len);
}

static void tidal__rep_send4(tidal_db *db, uint32_t i, uint32_t type, uint64_t a, uint64_t b,
                             uint64_t c, uint64_t d, const uint8_t *payload, size_t len) {
    tidal__rep_send5(db, i, type, a, b, c, d, 0, payload, len);
}

static void tidal__rep_send(tidal_db *db, uint32_t i, uint32_t type, uint64_t a, uint64_t b,
                            const uint8_t *payload, size_t len) {
    tidal__rep_send5(db, i, type, a, b, 0, 0, 0, payload, len);
}

static int tidal__rep_leading(const tidal__member *rm) {
    TIDAL_ASSERT(!rm->n_rep || rm->self_rep < rm->n_rep);
    TIDAL_ASSERT(rm->role != TIDAL_ROLE_LEADER || rm->leader_idx == (int)rm->self_rep);
    return rm->n_rep && rm->role == TIDAL_ROLE_LEADER;
}

static int64_t tidal__mono(tidal_db *db) { return db->env->clock_mono_ns(db->env->user); }

/* A fresh election deadline: timeout, plus a stagger by the node's place in the group
   (timeout / n apart: more than an inter-region message, the jitter and the spread of the
   leader's last heartbeat take together, so two followers seldom run at once and split
   the vote), plus up to timeout / 20 of jitter. A candidate that did not win retries
   after half of that: a split vote costs half a timeout, not a whole one. */
static void tidal__rep_arm_election(tidal_db *db) {
    uint64_t r = 0;
    int64_t t = db->rep.election_timeout_ns, step = t / (int64_t)db->rep.n_rep;
    if (db->rep.role == TIDAL__CANDIDATE) {
        t /= 2;
        step /= 2;
    }
    db->env->random_fill(db->env->user, &r, sizeof r);
    db->rep.election_due_ns = tidal__mono(db) + t + step * (int64_t)db->rep.self_rep +
                          (int64_t)(r % (uint64_t)(t / 20 + 1));
}

// >>repl_epoch
// The member's durable facts and positions: the persisted epoch, vote and log position
// (meta-RRRR-SSSS.dat, written before any answer that depends on it), taking a new epoch
// or leader, the quorum position, and the recent batches kept verbatim for shipping.
// Invariant: a vote is on disk before the answer that grants it.

static void tidal__meta_name(const tidal_db *db, char *out, size_t cap, int tmp) {
    snprintf(out, cap, "%s/meta-%04x-%04x.%s", db->path, db->node.region, db->node.shard,
             tmp ? "tmp" : "dat");
}

/* Writes (epoch, vote) durably before the node acts on them: temp file, fsync, rename,
   directory fsync. Layout: magic u32, version u32, epoch u64, voted epoch u64, voted for
   u32 (node word + 1; 0 none), flags u32 (bit 0: lost its disk and has not caught up with
   a leader since: no votes, no writes, even after a restart with some log), HLC bound i64
   (no stamp of this life reaches it: the next life starts its clock there), then (version
   3) log epoch u64 and log position u64 (tidal__log_cover), BLAKE3 u8[32] of the first 56
   bytes. Version 2 (the same without the log position: 40 bytes summed) is still read. */
static tidal_result tidal__meta_save(tidal_db *db) {
    uint8_t b[TIDAL__META_BYTES], *w = b;
    char tmp[TIDAL_PATH_MAX + 64], fin[TIDAL_PATH_MAX + 64];
    tidal_result r;
    memset(b, 0, sizeof b);
    w = tidal__wr_le(w, UINT32_C(0x4D4C4454) ^ 0x01000000, 4);
    w = tidal__wr_le(w, 3, 4);
    w = tidal__wr_le(w, db->rep.epoch, 8);
    w = tidal__wr_le(w, db->rep.voted_epoch, 8);
    w = tidal__wr_le(w, db->rep.voted_for, 4);
    w = tidal__wr_le(w, (uint64_t)(db->rep.amnesiac != 0), 4);
    w = tidal__wr_le(w, (uint64_t)db->hlc_bound, 8);
    w = tidal__wr_le(w, db->rep.log_epoch, 8); /* where our log stands for votes, when we hold */
    w = tidal__wr_le(w, db->rep.log_pos, 8);   /* more of the leader's log than we logged */
    tidal_blake3(b, TIDAL__META_SUMMED, b + TIDAL__META_SUMMED);
    tidal__meta_name(db, tmp, sizeof tmp, 1);
    tidal__meta_name(db, fin, sizeof fin, 0);
    r = tidal__file_replace(db, tmp, fin, b, sizeof b);
    if (r != TIDAL_OK) {
        db->fatal = 1;
        return tidal__err_wrap(db, r, "saving epoch failed, the handle must be reopened");
    }
    return TIDAL_OK;
}

static tidal_result tidal__meta_load(tidal_db *db) {
    char name[TIDAL_PATH_MAX + 64];
    uint8_t *p, sum[32];
    size_t n, summed;
    tidal__rd r;
    tidal_result io;
    tidal__meta_name(db, name, sizeof name, 0);
    io = tidal__read_file(db, name, &p, &n);
    if (io == TIDAL_ERR_NOT_FOUND) return TIDAL_OK;
    if (io != TIDAL_OK) return io; /* tidal__read_file named the operation, file and why */
    summed = n == TIDAL__META_BYTES ? TIDAL__META_SUMMED : TIDAL__META_V2_SUMMED;
    if (n == TIDAL__META_BYTES || n == TIDAL__META_V2_BYTES) tidal_blake3(p, summed, sum);
    if ((n != TIDAL__META_BYTES && n != TIDAL__META_V2_BYTES) || memcmp(sum, p + summed, 32) ||
        p[4] != (n == TIDAL__META_BYTES ? 3 : 2) || p[5] || p[6] || p[7]) {
        tidal__free(db, p, n);
        return tidal__err(db, TIDAL_ERR_CORRUPT, "%s: offset 0: bad epoch record", name);
    }
    memset(&r, 0, sizeof r);
    r.p = p;
    r.n = n;
    (void)tidal__rd_u64(&r);
    {
        uint64_t e = tidal__rd_u64(&r);
        if (e > db->rep.epoch) db->rep.epoch = e;
    }
    db->rep.voted_epoch = tidal__rd_u64(&r);
    db->rep.voted_for = tidal__rd_u32(&r);
    if (tidal__rd_u32(&r) & 1u) db->rep.amnesiac = 1;
    db->hlc_bound = (int64_t)tidal__rd_u64(&r);
    if (n == TIDAL__META_BYTES) { /* a log position noted without a batch (tidal__log_cover) */
        uint64_t le = tidal__rd_u64(&r), lp = tidal__rd_u64(&r);
        if (le > db->rep.log_epoch || (le == db->rep.log_epoch && lp > db->rep.log_pos)) db->rep.log_epoch = le, db->rep.log_pos = lp;
    }
    if (db->hlc.wall_ns < db->hlc_bound) { /* above every stamp the last life may have sent */
        db->hlc.wall_ns = db->hlc_bound;
        db->hlc.logical = 0;
    }
    tidal__free(db, p, n);
    return TIDAL_OK;
}

/* A new leader (or a new life of it): push our log again, filtered by its vector, send
   ours with our acks, and forget positions in the old leader's log. */
static void tidal__ooo_clear(tidal_db *db);

static void tidal__follow_reset(tidal_db *db) {
    tidal__ooo_clear(db); /* appends held from the old leader's log */
    db->rep.up_acked = db->rep.up_sent = 0;
    db->rep.vv_to_leader = 1;
    db->rep.follow_since_ns = tidal__mono(db);
    db->rep.n_stable_q = 0;
    if (db->rep.leader_idx >= 0) db->rep.vv_peer[db->rep.leader_idx].valid = 0;
}

/* Moves to a higher epoch as a follower, persisting it first. */
static tidal_result tidal__rep_adopt(tidal_db *db, uint64_t epoch, int leader) {
    TIDAL_ASSERT(epoch >= db->rep.epoch);
    if (epoch > db->rep.epoch) {
        db->rep.epoch = epoch;
        db->rep.role = TIDAL_ROLE_FOLLOWER;
        db->rep.leader_idx = -1;
        if (tidal__meta_save(db) != TIDAL_OK) return TIDAL_ERR_FATAL;
    }
    if (leader >= 0 && leader != db->rep.leader_idx) {
        db->rep.role = TIDAL_ROLE_FOLLOWER;
        db->rep.leader_idx = leader;
        tidal__follow_reset(db); /* push our log (what it lacks) to the new leader */
    }
    if (db->rep.pos_epoch != db->rep.epoch) { /* a new leader's log: positions start over */
        db->rep.pos_epoch = db->rep.epoch;
        db->rep.leader_pos = db->rep.leader_durable = 0;
        db->rep.n_stable_q = 0;
    }
    return TIDAL_OK;
}

/* The leader's highest lsn durable on a majority (itself included). */
static void tidal__rep_quorum(tidal_db *db) {
    uint64_t v[TIDAL_REPLICAS_MAX];
    uint32_t i, j, n = db->rep.n_rep;
    for (i = 0; i < n; i++)
        v[i] = i == db->rep.self_rep ? db->log.durable_lsn : db->rep.peer[i].acked;
    for (i = 1; i < n; i++) { /* descending insertion sort: n <= 7 */
        uint64_t x = v[i];
        for (j = i; j > 0 && v[j - 1] < x; j--) v[j] = v[j - 1];
        v[j] = x;
    }
    /* Only once the epoch-start batch is on a majority do older batches count as committed
       in this epoch (an old-epoch batch on a majority may still be outvoted otherwise). */
    if (v[n / 2] >= db->rep.epoch_start_lsn && v[n / 2] > db->rep.quorum_lsn)
        db->rep.quorum_lsn = v[n / 2];
}

/* Keeps a committed batch for shipping; drops the oldest past TIDAL_SHIP_BYTES_MAX. */
static void tidal__ship_keep(tidal_db *db, const uint8_t *batch, size_t len) {
    if (len > TIDAL_SHIP_BYTES_MAX) {
        db->rep.ship_len = 0;
        db->rep.ship_first = 0;
        db->rep.ship_hint_lsn = 0;
        return;
    }
    while (db->rep.ship_len + len > TIDAL_SHIP_BYTES_MAX && db->rep.ship_len) {
        tidal__batch_hdr h;
        size_t first = TIDAL__WAL_HDR;
        tidal__batch_hdr_get(db->rep.ship, &h);
        first += h.payload_len;
        memmove(db->rep.ship, db->rep.ship + first, db->rep.ship_len - first);
        db->rep.ship_len -= first;
        db->rep.ship_first = h.last_lsn + 1;
        if (db->rep.ship_hint_off >= first) db->rep.ship_hint_off -= first;
        else db->rep.ship_hint_lsn = 0; /* the hinted batch left */
    }
    if (db->rep.ship_len + len > db->rep.ship_cap) {
        size_t cap = db->rep.ship_cap ? db->rep.ship_cap : 65536;
        uint8_t *p;
        while (cap < db->rep.ship_len + len) cap *= 2;
        p = (uint8_t *)tidal__realloc(db, db->rep.ship, db->rep.ship_cap, cap);
        if (!p) { /* cannot keep it: laggards read it from the log files instead */
            db->rep.ship_len = 0;
            db->rep.ship_first = 0;
            db->rep.ship_hint_lsn = 0;
            return;
        }
        db->rep.ship = p;
        db->rep.ship_cap = cap;
    }
    if (!db->rep.ship_len) {
        tidal__batch_hdr h;
        tidal__batch_hdr_get(batch, &h);
        db->rep.ship_first = h.first_lsn;
    }
    memcpy(db->rep.ship + db->rep.ship_len, batch, len);
    db->rep.ship_len += len;
}

// >>repl_vv
// Version vectors and log slices: what a peer holds, and the batches of our log it lacks
// (from the kept batches or the segments), so a reconnecting member receives and sends
// only what the other side is missing; the group-stable position below which a log may
// be retired.

/* ---- version vectors (anti-entropy) ----
   A version vector lists, per origin (node, incarnation), how many of its events a node
   has applied contiguously. On (re)connection leader and follower each send theirs; each
   side then skips the batches of its log whose every event the other side's vector
   covers, so a reconnecting replica receives, and sends, what the other lacks rather than
   its whole log again (key-derived events are not in vectors: batches holding them go,
   and the receiver's dedupe drops what it had). A vector only ever understates what its
   sender holds: it is built from durable state, and a sender that lost its disk comes
   back as a new incarnation, whose vector replaces the old one. */


/* Encodes this node's vector into db->rep.out: count u32, then (origin u64, hwm u64) pairs in
   ascending origin order, at most what fits one message. Commits a pending batch first
   (the vector describes durable state). Returns 0 if that fails. */
static int tidal__vv_build(tidal_db *db) {
    uint32_t i, j, n = 0, max = (TIDAL_MSG_BYTES_MAX - TIDAL__MSG_HDR - 4) / 16;
    size_t need = 4 + 16 * (size_t)db->st.n_origins;
    if (db->log.batch_count && tidal__commit(db) != TIDAL_OK) return 0;
    if (need > db->rep.out_cap) {
        uint8_t *p = (uint8_t *)tidal__realloc(db, db->rep.out, db->rep.out_cap, need);
        if (!p) return 0;
        db->rep.out = p;
        db->rep.out_cap = need;
    }
    for (i = 0; i < db->st.n_origins && n < max; i++) {
        uint64_t o = db->st.origins[i].origin;
        if (!db->st.origins[i].hwm) continue;
        /* insertion by origin: the table is small and kept in arrival order */
        for (j = n; j > 0 && tidal__rd_le_at(db->rep.out + 4 + 16 * (j - 1)) > o; j--)
            memmove(db->rep.out + 4 + 16 * j, db->rep.out + 4 + 16 * (j - 1), 16);
        tidal__wr_le(tidal__wr_le(db->rep.out + 4 + 16 * j, o, 8), db->st.origins[i].hwm, 8);
        n++;
    }
    tidal__wr_le(db->rep.out, n, 4);
    db->rep.out_len = 4 + 16 * (size_t)n;
    return 1;
}

/* Stores a peer's vector (checked: exact length, origins strictly ascending). Filters
   our log up to our durable position now. Returns why it is bad, or NULL. */
static const char *tidal__vv_take(tidal_db *db, uint32_t i, uint32_t inc, const uint8_t *p, size_t len) {
    tidal__vv *v = &db->rep.vv_peer[i];
    uint32_t n, k;
    if (len < 4) return "version vector: truncated";
    n = (uint32_t)tidal__rd_le_at4(p);
    if ((len - 4) / 16 != n || (len - 4) % 16) return "version vector: length mismatch";
    for (k = 1; k < n; k++)
        if (tidal__rd_le_at(p + 4 + 16 * k) <= tidal__rd_le_at(p + 4 + 16 * (k - 1)))
            return "version vector: origins out of order";
    if (!TIDAL__GROW(db, v->w, v->cap, 2 * n + 1)) return NULL; /* no memory: no filter */
    for (k = 0; k < 2 * n; k++) v->w[k] = tidal__rd_le_at(p + 4 + 8 * k);
    v->n = n;
    v->incarnation = inc;
    v->until = db->log.durable_lsn;
    v->valid = 1;
    return NULL;
}

/* 1 when the peer's vector says it holds every event of the batch at p (checked). */
static int tidal__vv_covers(tidal_db *db, const tidal__vv *v, const uint8_t *p) {
    tidal__batch_hdr h;
    tidal__rd r;
    uint32_t k;
    tidal__batch_hdr_get(p, &h);
    if (!v->valid || h.last_lsn > v->until) return 0;
    if (!TIDAL__GROW(db, db->scratch_tags, db->cap_scratch_tags, h.payload_len / 16 + 1)) return 0;
    tidal__rd_init(&r, p + TIDAL__WAL_HDR, h.payload_len);
    for (k = 0; k < h.count; k++) {
        tidal__event ev;
        uint32_t lo = 0, hi = v->n;
        if (tidal__event_get(db, &r, &ev, db->scratch_tags, db->cap_scratch_tags)) return 0;
        if (ev.id.hi & TIDAL__IDEM_BIT) return 0;
        while (lo < hi) { /* binary search of the origin */
            uint32_t mid = (lo + hi) / 2;
            if (v->w[2 * mid] < ev.id.hi) lo = mid + 1;
            else hi = mid;
        }
        if (lo == v->n || v->w[2 * lo] != ev.id.hi || ev.id.lo > v->w[2 * lo + 1]) return 0;
    }
    return 1;
}

/* Offset of the batch starting at lsn from in buf (whole batches, looked at from the batch
   boundary off on), or SIZE_MAX. */
static size_t tidal__batches_find(const uint8_t *buf, size_t len, uint64_t from, size_t off) {
    while (off + TIDAL__WAL_HDR <= len) {
        tidal__batch_hdr h;
        tidal__batch_hdr_get(buf + off, &h);
        if (h.first_lsn == from) return off;
        if (h.first_lsn > from) break;
        off += TIDAL__WAL_HDR + h.payload_len;
    }
    return SIZE_MAX;
}

/* Collects whole batches of this node's log from lsn from on, up to one message, into
   db->out. skip_leader drops batches that came from the current leader (a push need not
   return them). *covered receives the last lsn looked at. Returns 0 if the log no longer
   holds from (state transfer would be needed). */
static int tidal__log_slice(tidal_db *db, uint64_t from, int skip_leader, const tidal__vv *vv,
                            uint64_t *covered) {
    const uint8_t *src = NULL;
    uint8_t *file = NULL;
    size_t src_len = 0, off = SIZE_MAX, file_len = 0;
    *covered = from - 1;
    db->rep.out_len = 0;
    if (from > db->log.durable_lsn) return 1;
    if (db->rep.ship_first && from >= db->rep.ship_first) {
        src = db->rep.ship;
        src_len = db->rep.ship_len;
        /* Pipelined shipping slices the newest batches at every commit: start where the
           last slice ended rather than at the front of up to TIDAL_SHIP_BYTES_MAX. */
        if (db->rep.ship_hint_lsn && db->rep.ship_hint_lsn <= from &&
            db->rep.ship_hint_off < src_len)
            off = tidal__batches_find(src, src_len, from, db->rep.ship_hint_off);
        if (off == SIZE_MAX) off = tidal__batches_find(src, src_len, from, 0);
    } else {
        uint32_t k;
        char name[TIDAL_PATH_MAX + 64];
        for (k = 0; k + 1 < db->log.n_segs && db->log.segs[k + 1] <= from; k++) {}
        if (db->log.n_segs && db->log.segs[k] <= from) {
            tidal__seg_name(db, db->log.segs[k], "log", name, sizeof name);
            if (tidal__read_file(db, name, &file, &file_len) == TIDAL_OK) {
                src = file;
                src_len = file_len;
                off = tidal__batches_find(src, src_len, from, 0);
            }
        }
    }
    while (off != SIZE_MAX && off + TIDAL__WAL_HDR <= src_len) {
        tidal__batch_hdr h;
        size_t len;
        tidal__batch_hdr_get(src + off, &h);
        len = TIDAL__WAL_HDR + h.payload_len;
        if (off + len > src_len || h.last_lsn > db->log.durable_lsn) break;
        /* A batch too long for any message (written before batches were capped at
           TIDAL__BATCH_SHIP_MAX) is not shippable: the member gets a state transfer. */
        if (db->rep.out_len + len > TIDAL_MSG_BYTES_MAX - TIDAL__MSG_HDR) break;
        if (!(skip_leader && h.source_lsn && h.epoch == db->rep.epoch) && !(vv && tidal__vv_covers(db, vv, src + off))) {
            if (db->rep.out_len + len > db->rep.out_cap) {
                size_t cap = db->rep.out_cap ? db->rep.out_cap : 65536;
                uint8_t *p;
                while (cap < db->rep.out_len + len) cap *= 2;
                p = (uint8_t *)tidal__realloc(db, db->rep.out, db->rep.out_cap, cap);
                if (!p) break;
                db->rep.out = p;
                db->rep.out_cap = cap;
            }
            memcpy(db->rep.out + db->rep.out_len, src + off, len);
            db->rep.out_len += len;
        }
        *covered = h.last_lsn;
        if (src == db->rep.ship) { /* a boundary for the next slice */
            db->rep.ship_hint_off = off;
            db->rep.ship_hint_lsn = h.first_lsn;
        }
        off += len;
    }
    tidal__free(db, file, file_len);
    return *covered >= from || from > db->log.durable_lsn;
}

/* Leader -> follower i: the batches after sent[i], or an empty append as a heartbeat. */
static void tidal__xfer_send(tidal_db *db, uint32_t i, int64_t now);

#define TIDAL__PUSH_SKIP (UINT64_C(1) << 63) /* in a push's or append's a: "resume from here" */

/* The oldest lsn this node's log (files or the in-memory copy) still holds. */
static uint64_t tidal__log_first(const tidal_db *db) {
    uint64_t first = db->log.n_segs ? db->log.segs[0] : db->log.durable_lsn + 1;
    if (db->rep.ship_first && db->rep.ship_first < first) first = db->rep.ship_first;
    return first;
}

/* Leader: the lsn up to which every member holds our log (ourselves included). Only
   that much may be retired: a member's state then never holds an event that exists
   nowhere else, so replacing it by a state transfer loses nothing. */
static uint64_t tidal__group_stable(const tidal_db *db) {
    uint64_t s = db->log.durable_lsn;
    uint32_t k;
    for (k = 0; k < db->rep.n_rep; k++)
        if (k != db->rep.self_rep && db->rep.peer[k].acked < s) s = db->rep.peer[k].acked;
    return s;
}

// >>repl_ship
// Shipping the log: the leader's window of data messages in flight per follower, the
// follower's push of its own log up to the leader, and taking a received payload (checked
// whole first, then applied batch by batch through tidal__event_take). Rules below.

/* ---- pipelined shipping ----
   A leader does not wait for an ack before it ships the next batches: up to
   TIDAL__SHIP_WINDOW data messages (TIDAL__SHIP_WINDOW_BYTES of payload) are in flight to
   each follower, so a batch reaches a follower about one one-way latency after it is
   durable. peer.sent is the last lsn shipped, peer.acked the last the follower confirmed;
   fly lists the messages in between. The oldest one unacknowledged for retransmit_ns, or a
   gap the follower reports, rewinds shipping to the acknowledged point (the follower drops
   what it already holds by its position). */

/* Forgets every message in flight to follower i: shipping resumes after peer.acked. */
static void tidal__fly_rewind(tidal__member *rm, uint32_t i) {
    TIDAL_ASSERT(i < rm->n_rep && i != rm->self_rep);
    rm->fly[i].n = 0;
    rm->fly[i].bytes = 0;
    rm->peer[i].sent = rm->peer[i].acked;
}

/* Follower i holds the leader log up to a: the messages ending there are delivered. */
static void tidal__fly_acked(tidal__member *rm, uint32_t i, uint64_t a) {
    tidal__fly *f = &rm->fly[i];
    uint32_t k = 0;
    while (k < f->n && f->end[k] <= a) f->bytes -= f->len[k++];
    if (!k) return;
    memmove(f->end, f->end + k, sizeof f->end[0] * (f->n - k));
    memmove(f->at_ns, f->at_ns + k, sizeof f->at_ns[0] * (f->n - k));
    memmove(f->len, f->len + k, sizeof f->len[0] * (f->n - k));
    f->n -= k;
    TIDAL_ASSERT(f->n || f->bytes == 0);
}

/* May another data message go to follower i now? */
static int tidal__fly_room(const tidal__member *rm, uint32_t i) {
    return rm->fly[i].n < TIDAL__SHIP_WINDOW && rm->fly[i].bytes < TIDAL__SHIP_WINDOW_BYTES;
}

/* Does follower i need data now: log it lacks and room in its window? */
static int tidal__ship_due(const tidal_db *db, uint32_t i) {
    return db->rep.peer[i].sent < db->log.durable_lsn && tidal__fly_room(&db->rep, i);
}

/* Should tidal__ship_to run for follower i now? A member that has not answered this
   leadership, or is taking a state transfer, hears from us while nothing is in flight
   (a heartbeat, or the transfer's next chunk); the others when their window has room. */
static int tidal__ship_wants(const tidal_db *db, uint32_t i) {
    if (!db->rep.peer[i].greeted || db->rep.peer[i].xfer)
        return db->rep.peer[i].sent == db->rep.peer[i].acked;
    return tidal__ship_due(db, i);
}

static void tidal__ship_to(tidal_db *db, uint32_t i, int64_t now) {
    uint64_t from = db->rep.peer[i].sent + 1, covered = 0, skip = 0;
    const tidal__vv *vv = &db->rep.vv_peer[i];
    if (!vv->valid || vv->incarnation != db->rep.peer[i].inc) vv = NULL;
    int ok;
    if (db->rep.peer[i].xfer) {
        tidal__xfer_send(db, i, now);
        return;
    }
    if (!db->rep.peer[i].greeted || !tidal__ship_due(db, i)) {
        /* A heartbeat. Until it answers (with its version vector), heartbeats only: data to
           a member that has not answered this leadership would be lost or wasted; after its
           answer the log goes out filtered by what it already holds. A heartbeat speaks of
           the acknowledged position, not of what is in flight: a follower that lacks a
           message still on its way is not behind, and one that holds less than it
           acknowledged (another life of it) says so in its answer. */
        tidal__rep_send4(db, i, TIDAL__MSG_APPEND, db->rep.peer[i].acked, db->log.durable_lsn, db->rep.peer[i].acked,
                         tidal__group_stable(db), NULL, 0);
        db->rep.peer[i].hb_ns = now;
        return;
    }
    ok = tidal__log_slice(db, from, 0, vv, &covered);
    if (!ok && db->rep.peer[i].greeted && !db->rep.peer_amnesiac[i] &&
        tidal__log_first(db) > from) {
        /* Retired log is held by every member that kept its disk (we retire only what all
           held): a reconnecting member needs only the tail. */
        db->rep.peer[i].acked = tidal__log_first(db) - 1;
        tidal__fly_rewind(&db->rep, i);
        from = db->rep.peer[i].sent + 1;
        ok = tidal__log_slice(db, from, 0, vv, &covered);
        skip = TIDAL__PUSH_SKIP; /* "you hold what comes before": it moves up to here */
    }
    if (!ok) {
        db->rep.needs_snapshot = 1;
        if (now >= db->rep.peer[i].xfer_retry_ns) { /* the log is gone: send the state instead */
            db->rep.peer[i].xfer = 1;
            db->rep.peer[i].xfer_off = 0;
            tidal__xfer_send(db, i, now);
            return;
        }
    }
    if (covered >= from) {
        tidal__fly *f = &db->rep.fly[i];
        TIDAL_ASSERT(f->n < TIDAL__SHIP_WINDOW);
        db->rep.peer[i].sent = covered;
        db->rep.peer[i].sent_ns = now; /* only data arms the resend timer */
        f->end[f->n] = covered;
        f->at_ns[f->n] = now;
        f->len[f->n] = (uint32_t)db->rep.out_len;
        f->bytes += db->rep.out_len;
        f->n++;
    }
    tidal__rep_send5(db, i, TIDAL__MSG_APPEND, (from - 1) | skip, db->log.durable_lsn,
                     covered >= from ? covered : from - 1, tidal__group_stable(db), vv ? vv->incarnation : 0,
                     db->rep.out, db->rep.out_len);
    db->rep.peer[i].hb_ns = now;
}

/* Follower -> leader: its own log after up_sent, minus what came from this leader. */

static void tidal__push_up(tidal_db *db, int64_t now) {
    uint64_t from = db->rep.up_sent + 1, covered = 0, skip = 0;
    const tidal__vv *vv;
    if (db->rep.leader_idx < 0 || from > db->log.durable_lsn) return;
    vv = db->rep.vv_peer[db->rep.leader_idx].valid ? &db->rep.vv_peer[db->rep.leader_idx] : NULL;
    if (!vv && now - db->rep.follow_since_ns < db->rep.retransmit_ns) return; /* its vector first */
    if (!tidal__log_slice(db, from, 1, vv, &covered)) {
        /* A snapshot retired that part of our log: every member holds what it held (a
           member retires only the group-stable part of its log). Resume from the oldest
           batch we still hold, and say so. */
        uint64_t first = tidal__log_first(db);
        if (first <= from) return;
        db->rep.up_sent = db->rep.up_acked = first - 1;
        from = first;
        skip = TIDAL__PUSH_SKIP;
        if (from > db->log.durable_lsn) {
            tidal__rep_send(db, (uint32_t)db->rep.leader_idx, TIDAL__MSG_PUSH, (from - 1) | skip, from - 1, NULL, 0);
            db->rep.up_sent_ns = now;
            return;
        }
        if (!tidal__log_slice(db, from, 1, vv, &covered)) return;
    }
    if (covered < from) return;
    tidal__rep_send(db, (uint32_t)db->rep.leader_idx, TIDAL__MSG_PUSH, (from - 1) | skip, covered, db->rep.out, db->rep.out_len);
    db->rep.up_sent = covered;
    db->rep.up_sent_ns = now;
}

/* Called after every commit: keep the batch for shipping; a leader ships it at once (on
   durability, not on segment seal) to every follower with room in its window. */
static void tidal__rep_committed(tidal_db *db, const uint8_t *batch, size_t len) {
    uint32_t i;
    int64_t now = tidal__mono(db);
    tidal__ship_keep(db, batch, len);
    if (!tidal__rep_leading(&db->rep)) return;
    tidal__rep_quorum(db);
    for (i = 0; i < db->rep.n_rep; i++)
        if (i != db->rep.self_rep && tidal__ship_wants(db, i)) tidal__ship_to(db, i, now);
}

/* Takes the events of one checked batch (tidal__event_take from a replica: logged in the
   pending batch and folded, duplicates dropped). The caller commits them and sets the
   position the batch brings it to. */
static tidal_result tidal__ingest_batch(tidal_db *db, const uint8_t *p, const tidal__batch_hdr *h) {
    tidal__rd r;
    uint32_t i;
    tidal_result res = TIDAL_OK;
    tidal__rd_init(&r, p + TIDAL__WAL_HDR, h->payload_len);
    if (!TIDAL__GROW(db, db->scratch_tags, db->cap_scratch_tags, h->payload_len / 16 + 1)) return TIDAL_ERR_NOMEM;
    for (i = 0; i < h->count && res == TIDAL_OK; i++) {
        tidal__event ev;
        const char *why = tidal__event_get(db, &r, &ev, db->scratch_tags, db->cap_scratch_tags);
        TIDAL_ASSERT(!why); /* checked whole before */
        if (!why) res = tidal__event_take(db, &ev, TIDAL__FROM_REPLICA, NULL);
    }
    return res;
}

/* Checks every batch of a payload whole before anything is applied. A member never
   applies a batch under a schema it lacks (>>db_schema, rule 4): a batch that teaches one
   (a lone schema event) may come first. A payload is checked and applied in pieces that
   each end at a schema event's batch (*use: the bytes of the first piece), since what
   follows one can only be checked once it is applied; every delivery of the same bytes
   cuts the same pieces, so a resend applies what the first did and nothing more. */
static const char *tidal__payload_check(tidal_db *db, const uint8_t *p, size_t len, size_t *use) {
    size_t off = 0;
    int cut = 0;
    *use = len;
    while (off < len) {
        tidal__batch_hdr h;
        const char *why = tidal__batch_check(db, p + off, len - off, &h);
        if (cut) { /* the previous batch was a schema event: the next piece starts here */
            *use = off;
            return NULL;
        }
        if (!why)
            cut = tidal__schema_batch_fp(db, p + off + TIDAL__WAL_HDR, h.count, h.payload_len) != 0;
        if (!why && !tidal__schema_fp_ok(db, h.schema_fp) &&
            !tidal__schema_batch_teaches(db, p + off + TIDAL__WAL_HDR, h.schema_fp, h.count,
                                         h.payload_len))
            why = "a batch under a schema this member lacks (its schema event has not reached it)";
        if (!why) {
            if (!TIDAL__GROW(db, db->scratch_tags, db->cap_scratch_tags, h.payload_len / 16 + 1))
                return "out of memory";
            if (tidal__batch_events(db, p + off + TIDAL__WAL_HDR, &h, 0, &why) == TIDAL_ERR_NOMEM)
                return "out of memory";
        }
        if (why) return why;
        off += TIDAL__WAL_HDR + h.payload_len;
    }
    return NULL;
}

/* Applies the batches of a checked payload. contiguous (the leader's log; the caller
   checked that the message starts at or before *pos): batches beyond *pos are applied and
   *pos advances, committed batch by batch so each follower batch carries the leader
   position it completes. Otherwise (a push) all are applied. */
static void tidal__payload_apply(tidal_db *db, const uint8_t *p, size_t len, uint64_t *pos,
                                 int contiguous, tidal_result *r) {
    size_t off = 0;
    *r = TIDAL_OK;
    while (off < len && *r == TIDAL_OK) {
        tidal__batch_hdr h;
        tidal__batch_hdr_get(p + off, &h);
        if (!contiguous || h.last_lsn > *pos) {
            /* Our own pending writes (availability mode) go out as our own batch first: a
               batch is either the leader's or ours, never both. */
            if (db->log.batch_count) *r = tidal__commit(db);
            if (*r == TIDAL_OK) *r = tidal__ingest_batch(db, p + off, &h);
            if (contiguous && *r == TIDAL_OK) *pos = h.last_lsn;
            db->rep.ingesting = contiguous;
            if (*r == TIDAL_OK && db->log.batch_count) *r = tidal__commit(db);
            db->rep.ingesting = 0;
        }
        off += TIDAL__WAL_HDR + h.payload_len;
    }
}

/* Applies a checked payload piece by piece (tidal__payload_check: pieces end at schema
   events; use is the first piece's length). A later piece that fails its check is counted
   and left out, and what came before stays applied (it comes again and is a no-op).
   Returns 1 when the whole payload was applied. */
static int tidal__payload_take(tidal_db *db, const uint8_t *p, size_t len, size_t use,
                               uint64_t *pos, int contiguous, tidal_result *r) {
    size_t off = 0;
    const char *why;
    TIDAL_ASSERT(use <= len);
    for (;;) {
        tidal__payload_apply(db, p + off, use, pos, contiguous, r);
        off += use;
        if (*r != TIDAL_OK || off == len) break;
        if ((why = tidal__payload_check(db, p + off, len - off, &use)) != NULL) {
            db->rep.msgs_corrupt++;
            tidal__err(db, TIDAL_ERR_CORRUPT, "%s: after a schema event: %s",
                       contiguous ? "append" : "push", why);
            return 0;
        }
    }
    TIDAL_ASSERT(*r != TIDAL_OK || off == len);
    return *r == TIDAL_OK;
}

// >>repl_append
// The data handlers: a follower takes appends (held when they arrive early, applied when
// the gap fills) and acknowledges after its fsync; the leader takes acks (advancing the
// quorum position and the group-stable log) and pushes (a follower's own writes, merged
// back). A member that lost its disk first relearns the group's epochs.

static void tidal__stable_advance(tidal_db *db, uint64_t stable);

/* A member that lost its disk forgot the epochs it voted in. Before it acknowledges any
   leader it hears from enough others that every elected epoch is known to one of them
   (any majority of the group minus itself meets it): otherwise a deposed leader of an old
   epoch could count it toward a quorum the group's newer leaders never see. */
static int tidal__amn_informed(const tidal__member *rm) {
    uint32_t n = 0, k;
    if (!rm->amnesiac || rm->n_rep < 2) return 1;
    for (k = 0; k < rm->n_rep; k++) n += (rm->amn_heard >> k) & 1u;
    return n >= rm->n_rep - rm->n_rep / 2;
}

/* Follower, before it acknowledges leader position leader_pos: its vote position must say
   it holds the leader's log that far. Batches it applied note that themselves, but the
   ones it was spared (its version vector said it holds them: its own events, pushed to the
   leader and placed in its log) write nothing here. Without a note, a member that made a
   QUORUM with such an acknowledgment compared as behind in the next election and could
   elect a candidate without those events (leader completeness). Noted in the epoch record,
   synced before the acknowledgment: rare (catching up after a partition), one fsync. */
static tidal_result tidal__log_cover(tidal_db *db) {
    if (db->rep.amnesiac || !db->rep.leader_pos || db->rep.pos_epoch != db->rep.epoch ||
        db->rep.log_epoch > db->rep.epoch ||
        (db->rep.log_epoch == db->rep.epoch && db->rep.log_pos >= db->rep.leader_pos))
        return TIDAL_OK;
    tidal__log_note(db, db->rep.epoch, db->rep.leader_pos);
    return db->log.wal_on ? tidal__meta_save(db) : TIDAL_OK;
}

/* ---- follower: appends out of order ----
   The leader pipelines its appends and the network reorders them, so an append may come
   before the one it follows. It is checked as it comes and held (its payload copied)
   until the gap fills, within the shipping window's bounds; beyond them, or if the one
   before never comes, the leader resends from what we acknowledged. A check passed stays
   passed: checksums do not change, and the schema only grows. */

static void tidal__ooo_drop(tidal_db *db, uint32_t k) {
    TIDAL_ASSERT(k < db->rep.n_ooo);
    tidal__free(db, db->rep.ooo[k].p, db->rep.ooo[k].len);
    db->rep.ooo_bytes -= db->rep.ooo[k].len;
    db->rep.ooo[k] = db->rep.ooo[--db->rep.n_ooo];
}

/* Drops every held append (a new leader, or another life of it: another log). */
static void tidal__ooo_clear(tidal_db *db) {
    while (db->rep.n_ooo) tidal__ooo_drop(db, db->rep.n_ooo - 1);
    TIDAL_ASSERT(db->rep.ooo_bytes == 0);
}

/* Holds an append that starts beyond our position; 0 if it cannot be held (the caller
   reports a gap: the leader resends). */
static int tidal__ooo_keep(tidal_db *db, const tidal__msg_hdr *m, const uint8_t *p, size_t use) {
    tidal__ooo *o;
    uint32_t k;
    for (k = 0; k < db->rep.n_ooo; k++) /* a duplicate of one held: nothing to do */
        if (db->rep.ooo[k].a == m->a && db->rep.ooo[k].c == m->c &&
            db->rep.ooo[k].epoch == m->epoch && db->rep.ooo[k].incarnation == m->incarnation)
            return 1;
    if (db->rep.n_ooo == TIDAL__SHIP_WINDOW || db->rep.ooo_bytes + m->payload_len > TIDAL__SHIP_WINDOW_BYTES)
        return 0;
    o = &db->rep.ooo[db->rep.n_ooo];
    if (!(o->p = (uint8_t *)tidal__alloc(db, m->payload_len))) return 0;
    memcpy(o->p, p, m->payload_len);
    o->len = m->payload_len;
    o->use = use;
    o->epoch = m->epoch;
    o->incarnation = m->incarnation;
    o->to_incarnation = m->to_incarnation;
    o->a = m->a;
    o->b = m->b;
    o->c = m->c;
    o->d = m->d;
    db->rep.ooo_bytes += o->len;
    db->rep.n_ooo++;
    return 1;
}

/* Applies one checked append (use: its first piece, tidal__payload_check) if it starts at
   or before our position. *gap says it did not fit our log (it starts beyond our
   position, or was filtered by another life's vector). */
static tidal_result tidal__append_take(tidal_db *db, const tidal__msg_hdr *m, const uint8_t *p, size_t use,
                                       int *gap) {
    tidal_result r = TIDAL_OK;
    /* The message covers the leader's log from a + 1 to c: the batches in it, and those
       our version vector said we hold (left out). */
    if ((m->a & TIDAL__PUSH_SKIP) && !db->rep.amnesiac &&
        (!m->to_incarnation || m->to_incarnation == db->incarnation)) { /* we hold its retired log */
        uint64_t resume = m->a & ~TIDAL__PUSH_SKIP;
        if (resume > db->rep.leader_pos && resume <= m->b) db->rep.leader_pos = resume;
    }
    /* Filtered by the vector of another life of ours (we restarted without our disk before
       the leader heard): what it left out we may not hold. Refuse; it resends whole. */
    *gap = (m->a & ~TIDAL__PUSH_SKIP) > db->rep.leader_pos ||
           (m->to_incarnation && m->to_incarnation != db->incarnation);
    if (!*gap) {
        int whole = tidal__payload_take(db, p, m->payload_len, use, &db->rep.leader_pos, 1, &r);
        if (whole && m->c > db->rep.leader_pos && m->c <= m->b) db->rep.leader_pos = m->c;
        if (m->c > (m->a & ~TIDAL__PUSH_SKIP)) db->rep.vv_to_leader = 0; /* it ships data: it has our vector */
    }
    if (r == TIDAL_OK) tidal__stable_advance(db, m->d);
    return r;
}

/* Takes the held appends our position now reaches, in order; drops the ones it passed. */
static tidal_result tidal__ooo_drain(tidal_db *db) {
    tidal_result r = TIDAL_OK;
    uint32_t k = 0;
    while (r == TIDAL_OK && k < db->rep.n_ooo) {
        tidal__ooo *o = &db->rep.ooo[k];
        tidal__msg_hdr m;
        int gap = 0;
        if (o->epoch != db->rep.epoch || o->incarnation != db->rep.leader_inc ||
            o->c <= db->rep.leader_pos) {
            tidal__ooo_drop(db, k); /* another leader's, or nothing we lack */
            continue;
        }
        if (o->a > db->rep.leader_pos) {
            k++;
            continue;
        }
        memset(&m, 0, sizeof m);
        m.epoch = o->epoch;
        m.incarnation = o->incarnation;
        m.to_incarnation = o->to_incarnation;
        m.a = o->a;
        m.b = o->b;
        m.c = o->c;
        m.d = o->d;
        m.payload_len = (uint32_t)o->len;
        r = tidal__append_take(db, &m, o->p, o->use, &gap);
        TIDAL_ASSERT(r != TIDAL_OK || !gap);
        tidal__ooo_drop(db, k);
        k = 0; /* our position moved: look at every held one again */
    }
    return r;
}

static tidal_result tidal__on_append(tidal_db *db, const tidal__msg_hdr *m, const uint8_t *p,
                                     int from) {
    tidal_result r;
    int gap = 0;
    size_t use;
    const char *why;
    int64_t now = tidal__mono(db);
    if (!tidal__amn_informed(&db->rep)) return TIDAL_OK; /* no ack before it knows the group's epoch */
    if (tidal__rep_leading(&db->rep) && m->epoch == db->rep.epoch)
        return tidal__err(db, TIDAL_ERR_INVALID, "two leaders in epoch %llu", (unsigned long long)m->epoch);
    if ((r = tidal__rep_adopt(db, m->epoch, from)) != TIDAL_OK) return r;
    if (m->incarnation != db->rep.leader_inc) { /* another life of the leader: another log */
        db->rep.leader_inc = m->incarnation;
        db->rep.leader_pos = db->rep.leader_durable = 0;
        tidal__follow_reset(db);
    }
    tidal__rep_arm_election(db); /* the leader is alive */
    db->rep.leader_heard_ns = now;
    if (m->b > db->rep.leader_durable) db->rep.leader_durable = m->b;
    if ((why = tidal__payload_check(db, p, m->payload_len, &use)) != NULL) {
        db->rep.msgs_corrupt++;
        return tidal__err(db, TIDAL_ERR_CORRUPT, "append: %s", why);
    }
    /* Data that starts beyond our position while the one before it is on its way: hold it
       (it is acknowledged when taken). */
    if (!(m->a & TIDAL__PUSH_SKIP) && m->a > db->rep.leader_pos && m->c > m->a && m->payload_len &&
        (!m->to_incarnation || m->to_incarnation == db->incarnation) && tidal__ooo_keep(db, m, p, use))
        return TIDAL_OK;
    r = tidal__append_take(db, m, p, use, &gap);
    if (r == TIDAL_OK && !gap) r = tidal__ooo_drain(db);
    if (db->rep.leader_pos >= db->rep.leader_durable) {
        db->rep.behind_since_ns = 0;
        if (db->rep.amnesiac) { /* caught up with a leader: it knows the group again */
            db->rep.amnesiac = 0;
            if (tidal__meta_save(db) != TIDAL_OK) return TIDAL_ERR_FATAL;
        }
    } else if (!db->rep.behind_since_ns) {
        db->rep.behind_since_ns = now;
    }
    if (r == TIDAL_OK && (r = tidal__log_cover(db)) != TIDAL_OK) return r;
    if (r == TIDAL_OK) {
        int with_vv = db->rep.vv_to_leader && tidal__vv_build(db);
        tidal__rep_send4(db, (uint32_t)from, TIDAL__MSG_ACK, db->rep.leader_pos, (uint64_t)gap, (uint64_t)db->rep.amnesiac,
                         0, with_vv ? db->rep.out : NULL, with_vv ? db->rep.out_len : 0);
    }
    if (r == TIDAL_OK && db->rep.up_sent == db->rep.up_acked) tidal__push_up(db, now);
    return r;
}

/* Follower: the leader says every member holds its log up to stable. What we pushed and
   it placed at or below that, and what we took from it, is then held everywhere: our log
   up to there may be retired. */
static void tidal__stable_advance(tidal_db *db, uint64_t stable) {
    uint32_t k = 0;
    while (k < db->rep.n_stable_q && db->rep.stable_q[k][1] <= stable) {
        if (db->rep.stable_q[k][0] > db->rep.stable_lsn)
            db->rep.stable_lsn = db->rep.stable_q[k][0];
        k++;
    }
    if (k) {
        memmove(db->rep.stable_q, db->rep.stable_q + k,
                sizeof db->rep.stable_q[0] * (db->rep.n_stable_q - k));
        db->rep.n_stable_q -= k;
    }
}

/* Follower: the leader holds our log up to own (what we pushed, and what came from it) at
   its positions up to leader_lsn. A full queue merges into its last entry (later, never
   wrong). */
static void tidal__stable_note(tidal_db *db, uint64_t own, uint64_t leader_lsn) {
    uint32_t k = db->rep.n_stable_q;
    if (k && db->rep.stable_q[k - 1][0] >= own) return;
    if (k == sizeof db->rep.stable_q / sizeof db->rep.stable_q[0]) k--;
    else db->rep.n_stable_q++;
    db->rep.stable_q[k][0] = own;
    db->rep.stable_q[k][1] = leader_lsn;
}

/* An ack says how far the follower's log goes (a), whether it saw a gap (b = 1), whether
   it lost its disk and has not caught up since (c = 1), and may carry its version vector,
   which we answer with ours (it filters its pushes by it). */
static void tidal__on_ack(tidal_db *db, const tidal__msg_hdr *m, const uint8_t *p, int from) {
    uint32_t i = (uint32_t)from;
    if (!tidal__rep_leading(&db->rep) || m->epoch != db->rep.epoch) return;
    db->rep.peer[i].greeted = 1;
    db->rep.peer_amnesiac[i] = m->c == 1;
    if (m->payload_len) {
        if (tidal__vv_take(db, i, m->incarnation, p, m->payload_len)) db->rep.msgs_corrupt++;
        else if (tidal__vv_build(db)) tidal__rep_send(db, i, TIDAL__MSG_VV, 0, 0, db->rep.out, db->rep.out_len);
    }
    if (m->b == 1 && !db->rep.peer[i].resync && m->a == db->rep.fly[i].rewound && m->a == db->rep.peer[i].acked &&
        tidal__mono(db) - db->rep.fly[i].rewound_ns < db->rep.retransmit_ns) {
        /* Another gap report from the same window (each message after a lost one makes
           one): the resend from there is already on its way. */
    } else if (m->b == 1 || db->rep.peer[i].resync) {
        /* The follower has less than we assumed (it saw a gap, or this is a new life of
           it, e.g. after losing its disk): resend from what it has. */
        db->rep.peer[i].acked = m->a <= db->log.durable_lsn ? m->a : 0;
        tidal__fly_rewind(&db->rep, i);
        db->rep.fly[i].rewound = db->rep.peer[i].acked;
        db->rep.fly[i].rewound_ns = tidal__mono(db);
        db->rep.peer[i].resync = 0;
    } else if (m->a < db->rep.peer[i].acked) {
        /* An older ack overtaken by a newer one (the network reorders): what it says is
           already known. Treating it as a gap would resend the whole log from there. */
    } else {
        /* Never above what we wrote: an ack for a log position we do not have comes from
           a follower that knew another life of this node. */
        db->rep.peer[i].acked = m->a <= db->log.durable_lsn ? m->a : 0;
        tidal__fly_acked(&db->rep, i, db->rep.peer[i].acked);
        if (db->rep.peer[i].sent < db->rep.peer[i].acked)
            db->rep.peer[i].sent = db->rep.peer[i].acked;
        if (m->a > db->log.durable_lsn) tidal__fly_rewind(&db->rep, i);
    }
    tidal__rep_quorum(db);
    if (db->rep.peer[i].sent < db->log.durable_lsn && tidal__ship_wants(db, i)) tidal__ship_to(db, i, tidal__mono(db));
}

static tidal_result tidal__on_push(tidal_db *db, const tidal__msg_hdr *m, const uint8_t *p, int from) {
    const char *why;
    size_t use;
    tidal_result r = TIDAL_OK;
    uint32_t i = (uint32_t)from;
    int gap = 0;
    if (!tidal__rep_leading(&db->rep) || m->epoch != db->rep.epoch)
        return TIDAL_OK; /* not ours to take */
    if ((why = tidal__payload_check(db, p, m->payload_len, &use)) != NULL) {
        db->rep.msgs_corrupt++;
        return tidal__err(db, TIDAL_ERR_CORRUPT, "push: %s", why);
    }
    if (m->a & TIDAL__PUSH_SKIP) { /* the follower no longer holds what came before */
        uint64_t resume = m->a & ~TIDAL__PUSH_SKIP;
        if (resume > db->rep.peer[i].pushed) db->rep.peer[i].pushed = resume;
        if (m->b <= db->rep.peer[i].pushed) { /* nothing beyond the resume point: just ack */
            tidal__rep_send4(db, i, TIDAL__MSG_PUSH_ACK, db->rep.peer[i].pushed, 0, db->log.durable_lsn, 0, NULL, 0);
            return TIDAL_OK;
        }
    }
    if ((m->a & ~TIDAL__PUSH_SKIP) > db->rep.peer[i].pushed) gap = 1; /* an earlier push was lost */
    else if (m->b > db->rep.peer[i].pushed) {
        uint64_t unused = 0;
        if (tidal__payload_take(db, p, m->payload_len, use, &unused, 0, &r)) db->rep.peer[i].pushed = m->b;
    }
    if (r == TIDAL_OK)
        tidal__rep_send4(db, i, TIDAL__MSG_PUSH_ACK, db->rep.peer[i].pushed, (uint64_t)gap, db->log.durable_lsn, 0, NULL, 0);
    return r;
}

static void tidal__on_push_ack(tidal_db *db, const tidal__msg_hdr *m, int from) {
    if (from != db->rep.leader_idx || m->epoch != db->rep.epoch) return;
    if (m->a < db->rep.up_acked || m->b == 1) db->rep.up_acked = db->rep.up_sent = m->a;
    else {
        db->rep.up_acked = m->a;
        if (db->rep.up_sent < m->a) db->rep.up_sent = m->a;
        /* our log up to a is at the leader, at its positions up to c */
        if (m->a <= db->log.durable_lsn && m->c) tidal__stable_note(db, m->a, m->c);
    }
    if (db->rep.up_sent == db->rep.up_acked) tidal__push_up(db, tidal__mono(db));
}

// >>repl_elect
// Elections: pre-votes (a member silent for two timeouts first asks whether it could win,
// so one back from a partition does not depose a working leader), votes (once per epoch, persisted before the answer, for a candidate whose log
// goes at least as far), and becoming leader (its epoch event, then shipping). Invariant:
// at most one leader per epoch.

/* The vote rule, shared by votes and pre-votes: a candidate whose log holds a newer epoch,
   or as new an epoch and at least as far into that epoch's leader log (tidal__log_note). */
static int tidal__candidate_fit(const tidal__member *rm, const tidal__msg_hdr *m) {
    return !rm->amnesiac &&
           (m->b > rm->log_epoch || (m->b == rm->log_epoch && m->a >= rm->log_pos));
}

static tidal_result tidal__on_vote_req(tidal_db *db, const tidal__msg_hdr *m, int from) {
    tidal_result r;
    uint32_t cand = tidal__node_word(db->rep.member[from]) + 1;
    int grant;
    if ((r = tidal__rep_adopt(db, m->epoch, -1)) != TIDAL_OK) return r;
    grant = (db->rep.voted_epoch != db->rep.epoch || db->rep.voted_for == cand) && db->rep.role != TIDAL_ROLE_LEADER &&
            tidal__candidate_fit(&db->rep, m);
    if (grant && !(db->rep.voted_epoch == db->rep.epoch && db->rep.voted_for == cand)) {
        db->rep.voted_epoch = db->rep.epoch; /* one vote per epoch, on disk before the answer */
        db->rep.voted_for = cand;
        if ((r = tidal__meta_save(db)) != TIDAL_OK) return r;
    }
    if (grant) tidal__rep_arm_election(db);
    else if (db->rep.role != TIDAL_ROLE_LEADER) {
        /* Someone saw the leader go quiet, but we hold more: run soon ourselves rather than
           wait a whole timeout for the next round. */
        int64_t soon = tidal__mono(db) + db->rep.election_timeout_ns / 20;
        if (soon < db->rep.election_due_ns) db->rep.election_due_ns = soon;
    }
    tidal__rep_send(db, (uint32_t)from, TIDAL__MSG_VOTE, (uint64_t)grant, 0, NULL, 0);
    return TIDAL_OK;
}


/* Leads: an epoch-start event goes first into the log (Raft's no-op: quorum counting
   starts from it, and followers that take it carry the new epoch in their logs, which is
   what the vote compares), then every follower hears from us at once. */
static void tidal__become_leader(tidal_db *db) {
    uint32_t i;
    int64_t now = tidal__mono(db);
    tidal__event ev;
    tidal_receipt rc;
    db->rep.role = TIDAL_ROLE_LEADER;
    db->rep.leader_idx = (int)db->rep.self_rep;
    db->rep.lead_since_ns = now;
    tidal__ooo_clear(db); /* appends held from the leader before us */
    for (i = 0; i < db->rep.n_rep; i++) {
        db->rep.peer[i].acked = db->rep.peer[i].sent = db->rep.peer[i].pushed = 0;
        db->rep.peer[i].sent_ns = now; /* the greeting wait (>>ship_to) runs from here */
        db->rep.peer[i].hb_ns = 0;
        db->rep.peer[i].xfer = 0;
        db->rep.peer[i].xfer_off = 0;
        db->rep.peer[i].xfer_retry_ns = 0;
        db->rep.peer[i].greeted = 0;
        memset(&db->rep.fly[i], 0, sizeof db->rep.fly[i]);
    }
    memset(&ev, 0, sizeof ev);
    memset(&rc, 0, sizeof rc);
    ev.kind = TIDAL__EV_EPOCH;
    ev.entity = db->rep.epoch;
    ev.hlc = tidal__hlc_now(db);
    ev.time_ns = ev.hlc.wall_ns;
    db->rep.epoch_start_lsn = UINT64_MAX; /* nothing counts until it is written */
    if (tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, &rc) == TIDAL_OK) /* commits it alone */
        db->rep.epoch_start_lsn = rc.lsn;
    tidal__rep_quorum(db);
    for (i = 0; i < db->rep.n_rep; i++) {
        if (i == db->rep.self_rep) continue;
        tidal__ship_to(db, i, now); /* announce at once (a heartbeat: data after its ack) */
        if (tidal__vv_build(db))
            tidal__rep_send(db, i, TIDAL__MSG_VV, 0, 0, db->rep.out, db->rep.out_len);
    }
}

/* Follower: the leader's version vector (it filters our pushes). */
static void tidal__on_vv(tidal_db *db, const tidal__msg_hdr *m, const uint8_t *p, int from) {
    if (from != db->rep.leader_idx || m->epoch != db->rep.epoch || tidal__rep_leading(&db->rep)) return;
    if (tidal__vv_take(db, (uint32_t)from, m->incarnation, p, m->payload_len))
        db->rep.msgs_corrupt++;
    else if (db->rep.up_sent == db->rep.up_acked) tidal__push_up(db, tidal__mono(db));
}

static void tidal__on_vote(tidal_db *db, const tidal__msg_hdr *m, int from) {
    uint32_t n = 0, i;
    if (db->rep.role != TIDAL__CANDIDATE || m->epoch != db->rep.epoch || m->a != 1) return;
    db->rep.votes |= 1u << from;
    for (i = 0; i < db->rep.n_rep; i++) n += (db->rep.votes >> i) & 1u;
    if (n > db->rep.n_rep / 2) tidal__become_leader(db);
}

/* Pre-vote (Raft, section 9.6): before a follower moves to epoch + 1 it asks whether a
   majority would vote for it. A member that heard its leader within half an election
   timeout says no, and nothing changes anywhere: a member cut off by a partition keeps
   asking and failing instead of inflating its epoch (it moves at most once or twice), so
   when the partition heals it costs the group at most one election. */
static void tidal__start_prevote(tidal_db *db) {
    uint32_t i;
    db->rep.prevotes = 1u << db->rep.self_rep;
    db->rep.role = TIDAL__CANDIDATE; /* the retry comes after half a timeout */
    tidal__rep_arm_election(db);
    db->rep.role = TIDAL_ROLE_FOLLOWER;
    for (i = 0; i < db->rep.n_rep; i++)
        if (i != db->rep.self_rep)
            tidal__rep_send(db, i, TIDAL__MSG_PREVOTE_REQ, db->rep.log_pos, db->rep.log_epoch,
                            NULL, 0);
}

static void tidal__on_prevote_req(tidal_db *db, const tidal__msg_hdr *m, int from) {
    int64_t now = tidal__mono(db);
    int grant = db->rep.role != TIDAL_ROLE_LEADER && now - db->rep.leader_heard_ns >= db->rep.election_timeout_ns / 2 &&
                tidal__candidate_fit(&db->rep, m);
    if (!grant && db->rep.role != TIDAL_ROLE_LEADER && now - db->rep.leader_heard_ns >= db->rep.election_timeout_ns / 2) {
        int64_t soon = now + db->rep.election_timeout_ns / 20; /* we hold more: run soon */
        if (soon < db->rep.election_due_ns) db->rep.election_due_ns = soon;
    }
    tidal__rep_send(db, (uint32_t)from, TIDAL__MSG_PREVOTE, (uint64_t)grant, 0, NULL, 0);
}

static void tidal__start_election(tidal_db *db);

static void tidal__on_prevote(tidal_db *db, const tidal__msg_hdr *m, int from) {
    uint32_t n = 0, i;
    if (!db->rep.prevotes || tidal__rep_leading(&db->rep) || m->epoch != db->rep.epoch || m->a != 1)
        return;
    db->rep.prevotes |= 1u << from;
    for (i = 0; i < db->rep.n_rep; i++) n += (db->rep.prevotes >> i) & 1u;
    if (n > db->rep.n_rep / 2) {
        db->rep.prevotes = 0;
        tidal__start_election(db);
    }
}

static void tidal__start_election(tidal_db *db) {
    uint32_t i;
    db->rep.prevotes = 0;
    db->rep.epoch++;
    db->rep.role = TIDAL__CANDIDATE;
    db->rep.leader_idx = -1;
    db->rep.voted_epoch = db->rep.epoch;
    db->rep.voted_for = tidal__node_word(db->node) + 1;
    if (tidal__meta_save(db) != TIDAL_OK) return; /* epochs are on disk before use */
    db->rep.votes = 1u << db->rep.self_rep;
    tidal__rep_arm_election(db);
    if (db->rep.n_rep == 1) {
        tidal__become_leader(db);
        return;
    }
    for (i = 0; i < db->rep.n_rep; i++)
        if (i != db->rep.self_rep)
            tidal__rep_send(db, i, TIDAL__MSG_VOTE_REQ, db->rep.log_pos, db->rep.log_epoch,
                            NULL, 0);
}

// >>repl_xfer
// State transfer: a follower whose needed log is gone receives the leader's state (schema,
// snapshot body, position) in chunks it acknowledges, after it has pushed everything it
// holds; it installs the state whole or not at all.

/* Builds the state to transfer once per log position: lsn u64, schema bytes u32, the
   schema the state was built under (tidal__schema_put: the member may lack appends whose
   schema events lie below the transferred position), then the snapshot body (state,
   applied-event index, replication position). */
static int tidal__xfer_build(tidal_db *db) {
    uint8_t *body, *w;
    size_t len, cap, room;
    tidal__schemadef *s;
    if (db->rep.xfer && db->rep.xfer_lsn == db->log.durable_lsn) return 1;
    if (db->log.batch_count) return 0; /* state must equal the durable log: after the commit */
    if (!(s = (tidal__schemadef *)tidal__alloc(db, sizeof *s))) return 0;
    if (tidal__snap_body_mem(db, &body, &len, &cap) != TIDAL_OK) {
        tidal__free(db, s, sizeof *s);
        return 0;
    }
    room = len + 12 + TIDAL__SCHEMA_ENC_MAX;
    if (room > db->rep.xfer_cap) {
        uint8_t *p = (uint8_t *)tidal__realloc(db, db->rep.xfer, db->rep.xfer_cap, room);
        if (!p) {
            tidal__free(db, body, cap);
            tidal__free(db, s, sizeof *s);
            return 0;
        }
        db->rep.xfer = p;
        db->rep.xfer_cap = room;
    }
    tidal__schema_of(db, s);
    tidal__wr_le(db->rep.xfer, db->log.durable_lsn, 8);
    w = tidal__schema_put(db->rep.xfer + 12, s);
    tidal__wr_le(db->rep.xfer + 8, (uint64_t)(w - db->rep.xfer - 12), 4);
    TIDAL_ASSERT((size_t)(w - db->rep.xfer) <= 12 + TIDAL__SCHEMA_ENC_MAX);
    memcpy(w, body, len);
    db->rep.xfer_len = (size_t)(w - db->rep.xfer) + len;
    tidal__free(db, s, sizeof *s);
    db->rep.xfer_lsn = db->log.durable_lsn;
    tidal__free(db, body, cap);
    return 1;
}

/* Sends follower i the next chunk of the state (one message in flight, resent after
   silence like log data). */
static void tidal__xfer_send(tidal_db *db, uint32_t i, int64_t now) {
    size_t off, n;
    if (db->rep.peer[i].xfer_off == 0 && !tidal__xfer_build(db)) return;
    off = (size_t)db->rep.peer[i].xfer_off;
    if (off > db->rep.xfer_len) off = 0;
    n = db->rep.xfer_len - off;
    if (n > TIDAL_MSG_BYTES_MAX - TIDAL__MSG_HDR) n = TIDAL_MSG_BYTES_MAX - TIDAL__MSG_HDR;
    tidal__rep_send(db, i, TIDAL__MSG_SNAP, off, db->rep.xfer_len, db->rep.xfer + off, n);
    db->rep.peer[i].sent_ns = db->rep.peer[i].hb_ns = now;
}

static void tidal__on_snap_ack(tidal_db *db, const tidal__msg_hdr *m, int from) {
    uint32_t i = (uint32_t)from;
    int64_t now = tidal__mono(db);
    if (!tidal__rep_leading(&db->rep) || m->epoch != db->rep.epoch || !db->rep.peer[i].xfer) return;
    if (m->b == 1) { /* it still holds log we have not taken: let it push, offer later */
        db->rep.peer[i].xfer = 0;
        db->rep.peer[i].xfer_retry_ns = now + db->rep.retransmit_ns;
        return;
    }
    if (m->b == 2) { /* installed: ship the log from the transferred position on */
        db->rep.peer[i].xfer = 0;
        db->rep.peer[i].acked = db->rep.xfer_lsn;
        tidal__fly_rewind(&db->rep, i);
        tidal__rep_quorum(db);
        if (db->rep.peer[i].sent < db->log.durable_lsn) tidal__ship_to(db, i, now);
        return;
    }
    db->rep.peer[i].xfer_off = m->a;
    tidal__xfer_send(db, i, now);
}

/* Replaces this follower's state with the leader's and makes it durable here (a local
   snapshot), so a restart recovers what was installed. */
static tidal_result tidal__xfer_install(tidal_db *db) {
    tidal__rd r;
    uint64_t lsn, epoch = db->rep.epoch;
    uint32_t slen, n_old, k;
    tidal__tgen *old = NULL;
    const char *why;
    tidal_result res;
    tidal__rd_init(&r, db->rep.xin, db->rep.xin_len);
    lsn = tidal__rd_u64(&r);
    slen = tidal__rd_u32(&r);
    /* The leader's schema first: refused (nothing changed) if it disagrees with ours. */
    if (r.bad || slen > r.n - r.pos) slen = 0; /* refused below: no schema */
    if ((res = tidal__schema_learn(db, db->rep.xin + 12, slen)) != TIDAL_OK) return res;
    /* The install and drop generations before: a tenant the transfer moved on (dropped,
       or installed anew) may be in our older files, and is collected (>>migration). */
    n_old = db->st.n_tgen;
    if (n_old && !(old = (tidal__tgen *)tidal__alloc(db, sizeof(tidal__tgen) * n_old)))
        return tidal__err(db, TIDAL_ERR_NOMEM, "state transfer: generations");
    if (n_old) memcpy(old, db->st.tgen, sizeof(tidal__tgen) * n_old);
    tidal__state_free(db);
    why = tidal__snap_decode(db, db->rep.xin + 12 + slen, db->rep.xin_len - 12 - slen);
    for (k = 0; !why && k < db->st.n_tgen; k++) {
        uint32_t j = 0;
        while (j < n_old && old[j].tenant != db->st.tgen[k].tenant) j++;
        if ((j == n_old || old[j].gen != db->st.tgen[k].gen) &&
            !tidal__collect_add(db, db->st.tgen[k].tenant))
            why = "out of memory";
    }
    tidal__free(db, old, sizeof(tidal__tgen) * n_old);
    if (why) {
        db->fatal = 1; /* the state is gone and the transfer was bad: recover from disk */
        return tidal__err(db, TIDAL_ERR_CORRUPT, "state transfer: %s; reopen", why);
    }
    db->rep.epoch = db->rep.pos_epoch = epoch > db->rep.epoch ? epoch : db->rep.epoch;
    db->rep.leader_pos = lsn;
    if (lsn > db->rep.leader_durable) db->rep.leader_durable = lsn;
    /* it holds nothing the leader lacks */
    db->rep.up_acked = db->rep.up_sent = db->log.durable_lsn;
    db->rep.xin_len = 0;
    return tidal_db_snapshot(db);
}

static tidal_result tidal__on_snap(tidal_db *db, const tidal__msg_hdr *m, const uint8_t *p, int from) {
    tidal_result r;
    uint64_t total = m->b;
    if (!tidal__amn_informed(&db->rep)) return TIDAL_OK;
    if ((r = tidal__rep_adopt(db, m->epoch, from)) != TIDAL_OK) return r;
    tidal__rep_arm_election(db);
    db->rep.leader_heard_ns = tidal__mono(db);
    if (m->a == 0 && db->rep.up_acked < db->log.durable_lsn) { /* push first: nothing may be lost */
        tidal__rep_send(db, (uint32_t)from, TIDAL__MSG_SNAP_ACK, 0, 1, NULL, 0);
        return TIDAL_OK;
    }
    if (total < 12 || total > SIZE_MAX / 2 || m->a != db->rep.xin_len ||
        m->a + m->payload_len > total) {
        if (m->a == 0) db->rep.xin_len = 0;
        tidal__rep_send(db, (uint32_t)from, TIDAL__MSG_SNAP_ACK, db->rep.xin_len, 0, NULL, 0);
        return TIDAL_OK;
    }
    if (m->payload_len == 0) { /* nothing to add: say where we are */
        tidal__rep_send(db, (uint32_t)from, TIDAL__MSG_SNAP_ACK, db->rep.xin_len, 0, NULL, 0);
        return TIDAL_OK;
    }
    if (db->rep.xin_len + m->payload_len > db->rep.xin_cap) {
        /* Grown as chunks arrive, not to the announced total: a bogus total costs only
           what was actually received. */
        size_t cap = db->rep.xin_cap ? db->rep.xin_cap : 65536;
        uint8_t *q;
        while (cap < db->rep.xin_len + m->payload_len) cap *= 2;
        if (cap > total) cap = (size_t)total;
        q = (uint8_t *)tidal__realloc(db, db->rep.xin, db->rep.xin_cap, cap);
        if (!q) return tidal__err(db, TIDAL_ERR_NOMEM, "state transfer buffer");
        db->rep.xin = q;
        db->rep.xin_cap = cap;
    }
    memcpy(db->rep.xin + db->rep.xin_len, p, m->payload_len);
    db->rep.xin_len += m->payload_len;
    if (db->rep.xin_len < total) {
        tidal__rep_send(db, (uint32_t)from, TIDAL__MSG_SNAP_ACK, db->rep.xin_len, 0, NULL, 0);
        return TIDAL_OK;
    }
    if ((r = tidal__xfer_install(db)) != TIDAL_OK) return r;
    tidal__rep_send(db, (uint32_t)from, TIDAL__MSG_SNAP_ACK, total, 2, NULL, 0);
    return TIDAL_OK;
}

// >>repl_entry
// The member's entry points: tidal_node_receive (check, fence, dispatch to the handlers),
// the tick (resends, heartbeats, elections), starting a member at open, the ack levels a
// write's receipt is checked against (tidal_write_acked, tidal_write_status), the config
// version, and tidal_node_status_get.

TIDAL_API tidal_result tidal_node_receive(tidal_db *db, tidal_node_ref from, const void *bytes,
                                          size_t len) {
    const uint8_t *p = (const uint8_t *)bytes;
    tidal__msg_hdr m;
    const char *why;
    int idx;
    if (!db) return TIDAL_ERR_INVALID;
    if (!bytes || !db->rep.n_rep) return tidal__err(db, TIDAL_ERR_INVALID, "not a replicated node, or no bytes");
    if (db->fatal) return tidal__err(db, TIDAL_ERR_FATAL, "handle failed earlier; reopen");
    db->rep.msgs_received++;
    why = tidal__msg_check(db, p, len, &m);
    idx = why ? -1 : tidal__rep_index(&db->rep, m.from);
    if (!why && (idx < 0 || idx == (int)db->rep.self_rep || m.from != tidal__node_word(from)))
        why = "sender is not another member of the replica group";
    if (why) {
        db->rep.msgs_corrupt++;
        return tidal__err(db, TIDAL_ERR_CORRUPT, "message dropped: %s", why);
    }
    if (m.config_version != db->rep.config_version) { /* never applied under a stale config */
        db->rep.msgs_stale++;
        return tidal__err(db, TIDAL_ERR_STALE_CONFIG, "message under config version %u, this node runs %u: %s",
                          m.config_version, db->rep.config_version,
                          m.config_version > db->rep.config_version ? "refresh this node" : "the sender must refresh");
    }
    tidal__hlc_recv(db, m.hlc);
    if (m.incarnation != db->rep.peer[idx].inc) { /* another life of it: what it held may be gone */
        db->rep.peer[idx].inc = m.incarnation;
        db->rep.vv_peer[idx].valid = 0;
        db->rep.peer[idx].greeted = 0;
        db->rep.peer[idx].resync = 1;
        db->rep.peer[idx].sent_ns = tidal__mono(db);
    }
    if (db->rep.amnesiac) { /* relearning the group: who answered, and the newest epoch they know */
        db->rep.amn_heard |= 1u << idx;
        if (m.epoch > db->rep.epoch && tidal__rep_adopt(db, m.epoch, -1) != TIDAL_OK) return TIDAL_ERR_FATAL;
    }
    if (m.epoch < db->rep.epoch) { /* fencing: tell the sender, apply nothing */
        db->rep.msgs_fenced++;
        tidal__rep_send(db, (uint32_t)idx, TIDAL__MSG_ACK, 0, 2, NULL, 0);
        return tidal__err(db, TIDAL_ERR_FENCED, "message from epoch %llu < %llu", (unsigned long long)m.epoch,
                          (unsigned long long)db->rep.epoch);
    }
    switch (m.type) {
    case TIDAL__MSG_APPEND: return tidal__on_append(db, &m, p + TIDAL__MSG_HDR, idx);
    case TIDAL__MSG_PUSH: return tidal__on_push(db, &m, p + TIDAL__MSG_HDR, idx);
    case TIDAL__MSG_VOTE_REQ: return tidal__on_vote_req(db, &m, idx);
    case TIDAL__MSG_SNAP: return tidal__on_snap(db, &m, p + TIDAL__MSG_HDR, idx);
    case TIDAL__MSG_PREVOTE_REQ: /* answered at our epoch; it moves no one's */
        tidal__on_prevote_req(db, &m, idx);
        return TIDAL_OK;
    default: break;
    }
    if (m.epoch > db->rep.epoch && tidal__rep_adopt(db, m.epoch, -1) != TIDAL_OK) return TIDAL_ERR_FATAL;
    if (m.type == TIDAL__MSG_ACK) tidal__on_ack(db, &m, p + TIDAL__MSG_HDR, idx);
    else if (m.type == TIDAL__MSG_PUSH_ACK) tidal__on_push_ack(db, &m, idx);
    else if (m.type == TIDAL__MSG_SNAP_ACK) tidal__on_snap_ack(db, &m, idx);
    else if (m.type == TIDAL__MSG_VV) tidal__on_vv(db, &m, p + TIDAL__MSG_HDR, idx);
    else if (m.type == TIDAL__MSG_PREVOTE) tidal__on_prevote(db, &m, idx);
    else tidal__on_vote(db, &m, idx);
    return TIDAL_OK;
}

/* Every tick: a leader resends after silence and heartbeats when idle; a follower pushes
   and, when the leader has been silent past its deadline, runs for the next epoch. */
static void tidal__rep_tick(tidal_db *db) {
    int64_t now = tidal__mono(db);
    uint32_t i;
    if (tidal__rep_leading(&db->rep)) {
        for (i = 0; i < db->rep.n_rep; i++) {
            if (i == db->rep.self_rep) continue;
            if (db->rep.peer[i].xfer) { /* a state transfer: resend its chunk after silence */
                if (now - db->rep.peer[i].sent_ns >= db->rep.retransmit_ns)
                    tidal__xfer_send(db, i, now);
                continue;
            }
            if (db->rep.peer[i].sent > db->rep.peer[i].acked &&
                now - (db->rep.fly[i].n ? db->rep.fly[i].at_ns[0] : db->rep.peer[i].sent_ns) >= db->rep.retransmit_ns)
                tidal__fly_rewind(&db->rep, i); /* lost: resend from the acknowledged point */
            if ((db->rep.peer[i].sent < db->log.durable_lsn && tidal__ship_wants(db, i)) ||
                now - db->rep.peer[i].hb_ns >= db->rep.heartbeat_ns)
                tidal__ship_to(db, i, now); /* data if its window has room, else a heartbeat */
        }
        return;
    }
    if (db->rep.up_sent > db->rep.up_acked && now - db->rep.up_sent_ns >= db->rep.retransmit_ns) db->rep.up_sent = db->rep.up_acked;
    if (db->rep.up_sent == db->rep.up_acked) tidal__push_up(db, now);
    if (now >= db->rep.election_due_ns && db->rep.amnesiac) {
        /* Ask every member it has not heard from (a pre-vote request it cannot win: each
           answers, at its own epoch). */
        for (i = 0; i < db->rep.n_rep; i++)
            if (i != db->rep.self_rep && !((db->rep.amn_heard >> i) & 1u))
                tidal__rep_send(db, i, TIDAL__MSG_PREVOTE_REQ, 0, 0, NULL, 0);
        tidal__rep_arm_election(db);
    } else if (now >= db->rep.election_due_ns) {
        /* Right after losing the leader, run at once (a pre-vote round would add a round
           trip to every failover); after two timeouts of silence we are probably the one
           cut off, so ask first and leave the epoch alone until a majority would follow. */
        if (db->rep.n_rep == 1 || now - db->rep.leader_heard_ns < 2 * db->rep.election_timeout_ns) tidal__start_election(db);
        else tidal__start_prevote(db);
    }
}

/* After recovery: load the persisted epoch and vote. A brand-new group (nothing on disk
   anywhere) starts with its first member leading epoch 1, so a fresh cluster needs no
   election; any node that restarts with data comes back as a follower and waits to hear
   from a leader (or elects one). */
static tidal_result tidal__rep_open(tidal_db *db) {
    tidal_result r = tidal__meta_load(db);
    if (r != TIDAL_OK) return r;
    if (db->rep.epoch == 0 && db->log.durable_lsn == 0 && db->rep.bootstrap) {
        db->rep.epoch = db->rep.pos_epoch = 1;
        db->rep.leader_idx = 0;
        db->rep.role = db->rep.self_rep == 0 ? TIDAL_ROLE_LEADER : TIDAL_ROLE_FOLLOWER;
        /* On disk at once: a restart before any data arrives must not look like a lost disk. */
        if ((r = tidal__meta_save(db)) != TIDAL_OK) return r;
    } else {
        db->rep.role = TIDAL_ROLE_FOLLOWER;
        /* Nothing on disk and not a new group: this node lost its disk, and with it the
           epochs it voted in. It must learn the group's state before it votes or runs. */
        if (db->rep.epoch == 0 && db->log.durable_lsn == 0) {
            db->rep.amnesiac = 1;
            if ((r = tidal__meta_save(db)) != TIDAL_OK) return r; /* remembered across restarts */
        }
    }
    db->rep.leader_heard_ns = tidal__mono(db); /* cut off only after a timeout of silence */
    tidal__rep_arm_election(db);
    return TIDAL_OK;
}

TIDAL_API int tidal_write_acked(const tidal_db *db, uint64_t lsn, uint32_t level) {
    if (!db || !lsn) return 0;
    if (level == TIDAL_ACK_LOCAL) return lsn <= db->log.durable_lsn;
    if (level != TIDAL_ACK_QUORUM) return 0;
    if (!db->rep.n_rep) return lsn <= db->log.durable_lsn; /* a group of one */
    return lsn <= db->rep.quorum_lsn; /* computed while leading; facts stay true after */
}

TIDAL_API tidal_result tidal_db_set_config_version(tidal_db *db, uint32_t version) {
    if (!db) return TIDAL_ERR_INVALID;
    if (version < db->rep.config_version)
        return tidal__err(db, TIDAL_ERR_STALE_CONFIG, "config version %u is older than %u in force", version,
                          db->rep.config_version);
    db->rep.config_version = version;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_write_status(tidal_db *db, const tidal_receipt *receipt, uint32_t level) {
    if (!db) return TIDAL_ERR_INVALID;
    if (!receipt || (level != TIDAL_ACK_LOCAL && level != TIDAL_ACK_QUORUM))
        return tidal__err(db, TIDAL_ERR_INVALID, "write status: NULL receipt or unknown ack level");
    if (!db->log.wal_on || tidal_write_acked(db, receipt->lsn, level)) return TIDAL_OK;
    if (db->fatal) return tidal__err(db, TIDAL_ERR_FATAL, "handle failed earlier; reopen");
    if (level == TIDAL_ACK_QUORUM &&
        tidal__mono(db) - receipt->accepted_ns >= db->rep.quorum_wait_ns)
        return tidal__err(db, TIDAL_ERR_UNAVAILABLE,
                          "no majority acknowledged lsn %llu within %lld ms (%s); it is durable here and "
                          "merges when the partition heals",
                          (unsigned long long)receipt->lsn, (long long)(db->rep.quorum_wait_ns / 1000000),
                          db->rep.role == TIDAL_ROLE_LEADER ? "leading without a majority" : "cut off from the leader");
    return TIDAL_PENDING;
}

TIDAL_API tidal_result tidal_node_status_get(const tidal_db *db, tidal_node_status *out) {
    if (!db) return TIDAL_ERR_INVALID;
    if (!out) return tidal__err_const(db, TIDAL_ERR_INVALID, "node status: out is NULL");
    memset(out, 0, sizeof *out);
    out->role = !db->rep.n_rep ? TIDAL_ROLE_NONE : tidal__rep_leading(&db->rep) ? TIDAL_ROLE_LEADER : TIDAL_ROLE_FOLLOWER;
    out->epoch = db->rep.epoch;
    out->has_leader = !db->rep.n_rep || db->rep.leader_idx >= 0;
    out->leader =
        db->rep.n_rep && db->rep.leader_idx >= 0 ? db->rep.member[db->rep.leader_idx] : db->node;
    out->durable_lsn = db->log.durable_lsn;
    out->quorum_lsn = db->rep.n_rep ? db->rep.quorum_lsn : db->log.durable_lsn;
    out->leader_lsn = db->rep.leader_pos;
    if (out->role == TIDAL_ROLE_FOLLOWER && db->rep.leader_durable > db->rep.leader_pos) {
        out->lag_events = db->rep.leader_durable - db->rep.leader_pos;
        out->lag_ns =
            db->rep.behind_since_ns ? tidal__mono((tidal_db *)db) - db->rep.behind_since_ns : 0;
    }
    out->msgs_sent = db->rep.msgs_sent;
    out->msgs_received = db->rep.msgs_received;
    out->msgs_corrupt = db->rep.msgs_corrupt;
    out->msgs_fenced = db->rep.msgs_fenced;
    out->msgs_stale = db->rep.msgs_stale;
    out->config_version = db->rep.config_version;
    out->needs_snapshot = db->rep.needs_snapshot;
    out->cut_off = tidal__cut_off(db);
    out->hlc = db->hlc;
    out->clock_ahead = db->rep.clock_ahead;
    out->clock_ahead_node.region = (uint16_t)(db->rep.clock_ahead_node >> 16);
    out->clock_ahead_node.shard = (uint16_t)(db->rep.clock_ahead_node & 0xFFFF);
    out->clock_ahead_ns = db->rep.clock_ahead_ns;
    out->version_vector_origins = db->st.n_origins;
    return TIDAL_OK;
}

// >>control
// The control plane's replicated log (DESIGN 5.7, 5.9), Raft's rules as numbered promises:
// C1. Terms only grow. A message with a higher term makes the receiver a follower of that
//     term (no vote yet) before anything else; a request from a lower term is refused with
//     the receiver's term; an answer from another term is ignored.
// C2. A member votes at most once per term, only for a candidate whose last entry's (term,
//     index) is at least its own, and persists (term, vote) before the vote leaves.
// C3. A candidate with votes from a majority leads its term; its first entry is a NOOP.
// C4. APPEND carries (log_index, log_term) of the entry before its entries; a follower that
//     lacks that entry answers no; otherwise it drops its own entries only from the first
//     index whose term differs (never a committed one: asserted) and appends the rest.
// C5. The leader commits index N only when a majority holds N and N's term is its own term;
//     earlier entries then commit with it. Nothing is acknowledged before it is fsynced.
// C6. Every reply waits for the fsync of what the handler persisted (the outbox is sent
//     only after the sync; a failed write or sync fails the member).
// C7. (issue 12, imove5) Unless config.no_pre_vote, a voter whose wait ends first asks the
//     voters whether they would vote for it in term + 1 (PRE_VOTE_REQ; nothing persisted,
//     no term changes) and runs only once a majority says yes. A voter says no while a
//     leader is in force for it (it leads, or took its leader's APPEND within the election
//     timeout): a voter cut off from the leader alone cannot depose it. A yes restarts the
//     voter's own wait; of two voters asking at once the more up-to-date log, then the
//     lower member index, gets the yes. Safety rests on C1-C5 alone: this is liveness.
// File: header (magic "TDLC", format version u32, node word u32, 4 zero bytes), then
// frames, one per handler that changed something, each written and fsynced before the next:
// body bytes u32, BLAKE3[0..8) of the body, body = records (kind u8, bytes u8, body). Kinds:
// STATE (term u64, vote node word u32 or 0xFFFFFFFF, commit u64), ENTRY (index u64, term
// u64, record), CUT (index u64: entries from it on are gone). Only the last frame can be
// torn (every earlier one was synced before it was written): a bad frame that ends the file
// is cut off; one with bytes after its end is corruption. A flipped bit in the LAST frame
// is indistinguishable from a torn write and is dropped like one.

#define TIDAL__CTL_FILE_MAGIC UINT32_C(0x434C4454) /* "TDLC" */
#define TIDAL__CTL_FILE_HDR 16
#define TIDAL__CTL_REC_STATE 1u
#define TIDAL__CTL_REC_ENTRY 2u
#define TIDAL__CTL_REC_CUT 3u
#define TIDAL__CTL_REC_BODY_MAX (16 + TIDAL_CONTROL_RECORD_BYTES_MAX)
#define TIDAL__CTL_FRAME_HDR 12
#define TIDAL__CTL_FRAME_MAX (8u << 20) /* bytes of one frame: far above one APPEND's */
#define TIDAL__CTL_NO_VOTE UINT32_C(0xFFFFFFFF)
#define TIDAL__CTL_PAYLOAD_MAX (64u * 1024u) /* entry bytes of one APPEND */
#define TIDAL__CTL_ENTRY_MAX (10 + TIDAL_CONTROL_RECORD_BYTES_MAX)
#define TIDAL__CTL_SUM_AT 88
TIDAL__STATIC_ASSERT(ctl_header_shared, TIDAL_CONTROL_MSG_HEADER_BYTES == TIDAL__MSG_HDR);
TIDAL__STATIC_ASSERT(ctl_sum_shared, TIDAL__CTL_SUM_AT == TIDAL__MSG_SUM_AT);
TIDAL__STATIC_ASSERT(ctl_append_fits,
                     TIDAL__CTL_PAYLOAD_MAX + TIDAL__MSG_HDR <= TIDAL_MSG_BYTES_MAX);
TIDAL__STATIC_ASSERT(ctl_members_fit_mask, TIDAL_REPLICAS_MAX <= 32);
#define TIDAL__CTL_NODES_MAX (TIDAL_REPLICAS_MAX + TIDAL_CONTROL_LEARNERS_MAX)
TIDAL__STATIC_ASSERT(ctl_record_fits_byte, TIDAL__CTL_REC_BODY_MAX <= 255);
TIDAL__STATIC_ASSERT(ctl_append_fits_frame, TIDAL__CTL_PAYLOAD_MAX * 2 <= TIDAL__CTL_FRAME_MAX);

enum { TIDAL__CTL_FOLLOWER = 0, TIDAL__CTL_CANDIDATE = 1, TIDAL__CTL_LEADER = 2 };

typedef struct tidal__ctl_entry {
    uint64_t term;
    tidal_control_record rec;
} tidal__ctl_entry;

typedef struct tidal__ctl_out {
    uint32_t to;  /* member index */
    uint8_t *bytes;
    size_t len;
} tidal__ctl_out;

struct tidal_control {
    tidal_allocator alloc;
    const tidal_env *env;
    char file_name[TIDAL_PATH_MAX + 40];
    char dir[TIDAL_PATH_MAX + 1];
    tidal_node_ref members[TIDAL__CTL_NODES_MAX]; /* voters [0, n), then learners */
    uint32_t n, n_all, me;   /* voters, voters + learners, self's index (a learner: >= n) */
    int64_t election_ns, heartbeat_ns;
    int pre_vote;            /* run a pre-vote round before each election (issue 12) */
    uint32_t append_max;
    /* persistent: term, vote, log (commit is a persisted hint, never needed for safety) */
    uint64_t term;
    int32_t vote;            /* member index voted for in term, -1 none */
    tidal__ctl_entry *log;   /* log[i - 1] is index i */
    uint64_t n_log, cap_log;
    uint64_t commit, polled, commit_saved;
    /* volatile */
    int role;
    int32_t leader;          /* member index of term's leader, -1 unknown */
    uint32_t votes;          /* bit i: member i voted for us (candidate) */
    int64_t deadline_ns;     /* follower/candidate: when to run; 0 = set at the next tick */
    int64_t beat_ns;         /* leader: next heartbeat */
    int pre;                 /* a pre-vote round for term + 1 is under way (issue 12) */
    uint32_t pre_votes;      /* bit i: member i would vote for us in term + 1 */
    int64_t heard_ns;        /* the last APPEND of term's leader taken (0: none) */
    uint64_t next[TIDAL__CTL_NODES_MAX], match[TIDAL__CTL_NODES_MAX];
    /* file and what the current handler persists / sends */
    void *file;
    uint64_t file_end;
    uint8_t *pend;
    size_t n_pend, cap_pend;
    tidal__ctl_out *out;
    uint32_t n_out, cap_out;
    int failed;
    uint64_t elections, msgs_sent, msgs_received, msgs_corrupt, syncs;
    char errmsg[256];
};

static void *tidal__ctl_alloc(tidal_control *c, size_t size) {
    TIDAL_ASSERT(c && size > 0);
    return c->alloc.alloc(c->alloc.user, size);
}

static void tidal__ctl_free(tidal_control *c, void *p, size_t size) {
    if (p) c->alloc.free(c->alloc.user, p, size);
}

/* Grows an array of elem-byte elements to hold need; 0 when out of memory. */
static int tidal__ctl_grow(tidal_control *c, void **arr, uint64_t *cap, uint64_t need,
                           size_t elem) {
    uint64_t n = *cap ? *cap : 8;
    void *p;
    if (need <= *cap) return 1;
    while (n < need) n *= 2;
    if (n > SIZE_MAX / elem) return 0;
    p = c->alloc.realloc(c->alloc.user, *arr, (size_t)*cap * elem, (size_t)n * elem);
    if (!p) return 0;
    *arr = p;
    *cap = n;
    return 1;
}

static tidal_result tidal__ctl_err(tidal_control *c, tidal_result r, const char *fmt, ...) {
    va_list ap;
    TIDAL_ASSERT(c && fmt);
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return r;
}

static void tidal__ctl_why(char *msg, size_t cap, const char *fmt, ...) {
    va_list ap;
    if (!msg || !cap) return;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* ---- Records ---- */

static const char *const tidal__ctl_kind_names[] = {"?", "NOOP", "TOPOLOGY", "PLACEMENT",
                                                    "TENANT", "MIGRATION"};

/* Which fields a kind carries: bit 0 regions/shards, 1 tenant, 2 placement, 3 group,
   4 target/phase, 5 limits (state, rate, burst, quota). */
static uint32_t tidal__ctl_kind_fields(uint32_t kind) {
    static const uint32_t f[] = {0, 0, 1, 2 | 4 | 8, 2 | 4 | 32, 2 | 8 | 16};
    TIDAL_ASSERT(kind >= 1 && kind <= TIDAL_CONTROL_KIND_MAX);
    return f[kind];
}

/* NULL if rec's fields fit its kind, else what is wrong. */
static const char *tidal__ctl_record_check(const tidal_control_record *r) {
    uint32_t f;
    if (r->kind < 1 || r->kind > TIDAL_CONTROL_KIND_MAX) return "unknown kind";
    f = tidal__ctl_kind_fields(r->kind);
    if (!(f & 1) && (r->regions || r->shards)) return "regions/shards set on a kind without";
    if (!(f & 2) && r->tenant) return "tenant set on a kind without";
    if (!(f & 4) && r->placement) return "placement set on a kind without";
    if (!(f & 8) && r->group) return "group set on a kind without";
    if (!(f & 16) && (r->target || r->phase)) return "target/phase set on a kind without";
    if (!(f & 32) && (r->state || r->rate_per_s != 0 || r->burst != 0 || r->entity_quota))
        return "limits set on a kind without";
    if ((f & 1) && (r->regions < 1 || r->regions > 0xFFFF)) return "regions not 1..65535";
    if ((f & 1) && (r->shards < 1 || r->shards > 0xFFFF)) return "shards not 1..65535";
    if ((f & 16) && (r->phase < TIDAL_CONTROL_PHASE_COPY || r->phase > TIDAL_CONTROL_PHASE_DONE))
        return "phase not COPY..DONE";
    if ((f & 16) && r->target == r->group) return "target is the source group";
    if ((f & 32) && r->state > TIDAL_TENANT_SEALED) return "state not a TIDAL_TENANT_*";
    /* the bounds tidal_tenant_set enforces: a committed record every member can apply */
    if ((f & 32) && !(r->rate_per_s >= 0 && r->rate_per_s <= 1e12)) return "rate_per_s not 0..1e12";
    if ((f & 32) && !(r->burst >= 0 && r->burst <= 1e12)) return "burst not 0..1e12";
    return NULL;
}

static size_t tidal__ctl_record_put(const tidal_control_record *r, uint8_t *buf) {
    uint8_t *w = buf;
    uint32_t f = tidal__ctl_kind_fields(r->kind);
    w = tidal__wr_le(w, r->kind, 1);
    if (f & 1) w = tidal__wr_le(tidal__wr_le(w, r->regions, 2), r->shards, 2);
    if (f & 2) w = tidal__wr_le(w, r->tenant, 4);
    if (f & 4) w = tidal__wr_le(w, r->placement, 4);
    if (f & 8) w = tidal__wr_le(w, r->group, 4);
    if (f & 16) w = tidal__wr_le(tidal__wr_le(w, r->target, 4), r->phase, 1);
    if (f & 32) {
        w = tidal__wr_le(w, r->state, 1);
        w = tidal__wr_f64(tidal__wr_f64(w, r->rate_per_s), r->burst);
        w = tidal__wr_le(w, r->entity_quota, 8);
    }
    TIDAL_ASSERT((size_t)(w - buf) <= TIDAL_CONTROL_RECORD_BYTES_MAX);
    return (size_t)(w - buf);
}

TIDAL_API tidal_result tidal_control_record_encode(const tidal_control_record *rec, void *buf,
                                                   size_t cap, size_t *len, char *msg,
                                                   size_t msg_cap) {
    uint8_t tmp[TIDAL_CONTROL_RECORD_BYTES_MAX];
    const char *why;
    size_t n;
    if (!rec || !buf || !len) return TIDAL_ERR_INVALID;
    why = tidal__ctl_record_check(rec);
    if (why) {
        tidal__ctl_why(msg, msg_cap, "control record (kind %u): %s", rec->kind, why);
        return TIDAL_ERR_INVALID;
    }
    n = tidal__ctl_record_put(rec, tmp);
    if (n > cap) {
        tidal__ctl_why(msg, msg_cap, "control record: %zu bytes do not fit %zu", n, cap);
        return TIDAL_ERR_LIMIT;
    }
    memcpy(buf, tmp, n);
    *len = n;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_control_record_decode(const void *bytes, size_t len,
                                                   tidal_control_record *rec, char *msg,
                                                   size_t msg_cap) {
    tidal__rd r;
    uint32_t f;
    const char *why;
    if (!bytes || !rec) return TIDAL_ERR_INVALID;
    memset(rec, 0, sizeof *rec);
    tidal__rd_init(&r, (const uint8_t *)bytes, len);
    rec->kind = tidal__rd_u8(&r);
    if (r.bad || rec->kind < 1 || rec->kind > TIDAL_CONTROL_KIND_MAX) {
        tidal__ctl_why(msg, msg_cap, "control record: unknown kind %u at byte 0", rec->kind);
        return TIDAL_ERR_CORRUPT;
    }
    f = tidal__ctl_kind_fields(rec->kind);
    if (f & 1) rec->regions = (uint32_t)tidal__rd_le(&r, 2);
    if (f & 1) rec->shards = (uint32_t)tidal__rd_le(&r, 2);
    if (f & 2) rec->tenant = tidal__rd_u32(&r);
    if (f & 4) rec->placement = tidal__rd_u32(&r);
    if (f & 8) rec->group = tidal__rd_u32(&r);
    if (f & 16) rec->target = tidal__rd_u32(&r);
    if (f & 16) rec->phase = tidal__rd_u8(&r);
    if (f & 32) {
        rec->state = tidal__rd_u8(&r);
        rec->rate_per_s = tidal__rd_f64(&r);
        rec->burst = tidal__rd_f64(&r);
        rec->entity_quota = tidal__rd_u64(&r);
    }
    if (r.bad || r.pos != len) {
        tidal__ctl_why(msg, msg_cap, "control record %s: %zu bytes, %s",
                       tidal__ctl_kind_names[rec->kind], len,
                       r.bad ? "truncated" : "bytes after the last field");
        return TIDAL_ERR_CORRUPT;
    }
    why = tidal__ctl_record_check(rec);
    if (why) {
        tidal__ctl_why(msg, msg_cap, "control record %s: %s", tidal__ctl_kind_names[rec->kind],
                       why);
        return TIDAL_ERR_CORRUPT;
    }
    return TIDAL_OK;
}

/* ---- Messages ---- */

static void tidal__ctl_ref(uint32_t word, tidal_node_ref *n) {
    n->region = (uint16_t)(word >> 16);
    n->shard = (uint16_t)(word & 0xFFFF);
}

TIDAL_API tidal_result tidal_control_message_encode(const tidal_control_message *m, void *buf,
                                                    size_t cap, size_t *len) {
    uint8_t *w = (uint8_t *)buf, sum[32];
    size_t total;
    if (!m || !buf || !len) return TIDAL_ERR_INVALID;
    if (m->type < TIDAL_CONTROL_MSG_VOTE_REQ || m->type > TIDAL_CONTROL_MSG_PRE_VOTE ||
        m->granted > 1 || (m->payload_len && !m->payload) ||
        (m->type != TIDAL_CONTROL_MSG_APPEND && (m->payload_len || m->entry_count)))
        return TIDAL_ERR_INVALID;
    if (m->payload_len > TIDAL_MSG_BYTES_MAX - TIDAL__MSG_HDR) return TIDAL_ERR_LIMIT;
    total = TIDAL__MSG_HDR + m->payload_len;
    if (cap < total) return TIDAL_ERR_LIMIT;
    memset(w, 0, TIDAL__MSG_HDR);
    w = tidal__wr_le(w, TIDAL__MSG_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL_WIRE_FORMAT_VERSION, 2);
    w = tidal__wr_le(w, TIDAL__MSG_HDR, 2);
    w = tidal__wr_le(w, m->type, 2);
    w = tidal__wr_le(w, TIDAL_CONTROL_GROUP, 2);
    w = tidal__wr_le(w, tidal__node_word(m->from), 4);
    w = tidal__wr_le(w, tidal__node_word(m->to), 4);
    w = tidal__wr_le(w, m->term, 8);
    w = tidal__wr_le(w, m->log_index, 8);
    w = tidal__wr_le(w, m->log_term, 8);
    w = tidal__wr_le(w, m->commit_index, 8);
    w = tidal__wr_le(w, m->granted, 4);
    w = tidal__wr_le(w, m->entry_count, 4);
    w = tidal__wr_le(w, m->payload_len, 4);
    TIDAL_ASSERT(w == (uint8_t *)buf + 64);
    if (m->payload_len) memcpy((uint8_t *)buf + TIDAL__MSG_HDR, m->payload, m->payload_len);
    tidal__msg_sum((const uint8_t *)buf, (const uint8_t *)buf + TIDAL__MSG_HDR, m->payload_len,
                   sum);
    memcpy((uint8_t *)buf + TIDAL__CTL_SUM_AT, sum, 32);
    *len = total;
    return TIDAL_OK;
}

/* Checks the APPEND payload: entry_count entries, terms ascending and <= term. */
static const char *tidal__ctl_entries_check(const tidal_control_message *m, size_t *at) {
    tidal__rd r;
    tidal_control_record rec;
    uint64_t prev = m->log_term, t;
    uint32_t i, n;
    const char *p;
    tidal__rd_init(&r, m->payload, m->payload_len);
    for (i = 0; i < m->entry_count; i++) {
        *at = TIDAL__MSG_HDR + r.pos;
        t = tidal__rd_u64(&r);
        n = (uint32_t)tidal__rd_le(&r, 2);
        p = tidal__rd_bytes(&r, n);
        if (r.bad) return "entry truncated";
        if (t < prev || t > m->term) return "entry term below the previous or above the message's";
        if (!t) return "entry term 0";
        if (tidal_control_record_decode(p, n, &rec, NULL, 0) != TIDAL_OK)
            return "entry record does not decode";
        prev = t;
    }
    *at = TIDAL__MSG_HDR + r.pos;
    return r.pos != m->payload_len ? "bytes after the last entry" : NULL;
}

/* Per type: what the fields may hold. NULL when they fit. */
static const char *tidal__ctl_fields_check(const tidal_control_message *m) {
    if (!m->term && m->type != TIDAL_CONTROL_MSG_PRE_VOTE_REQ &&
        m->type != TIDAL_CONTROL_MSG_PRE_VOTE) /* the pre-vote round of a fresh cluster */
        return "term 0";
    if (m->granted > 1) return "granted not 0 or 1";
    if (m->type != TIDAL_CONTROL_MSG_APPEND && (m->entry_count || m->payload_len))
        return "entries on a message type without";
    if (m->type == TIDAL_CONTROL_MSG_VOTE_REQ || m->type == TIDAL_CONTROL_MSG_APPEND ||
        m->type == TIDAL_CONTROL_MSG_PRE_VOTE_REQ) {
        if (m->granted) return "granted set on a request";
        if (m->log_term > m->term) return "log_term above term";
        if (!m->log_index != !m->log_term) return "log_index and log_term disagree on empty";
    }
    if (m->type != TIDAL_CONTROL_MSG_APPEND && m->commit_index) return "commit_index set";
    if (m->type == TIDAL_CONTROL_MSG_APPEND && m->payload_len > TIDAL__CTL_PAYLOAD_MAX)
        return "payload above the APPEND limit";
    if (m->type == TIDAL_CONTROL_MSG_APPEND && m->commit_index > m->log_index + m->entry_count)
        return "commit_index beyond the entries it covers";
    if (m->type == TIDAL_CONTROL_MSG_APPEND && m->entry_count > TIDAL__CTL_PAYLOAD_MAX / 10)
        return "entry_count above the APPEND limit";
    if ((m->type == TIDAL_CONTROL_MSG_VOTE || m->type == TIDAL_CONTROL_MSG_APPEND_ACK) &&
        m->log_term)
        return "log_term set on an answer";
    if (m->type == TIDAL_CONTROL_MSG_PRE_VOTE && (!m->granted != !m->log_term))
        return "log_term and granted disagree on a pre-vote";
    if ((m->type == TIDAL_CONTROL_MSG_VOTE || m->type == TIDAL_CONTROL_MSG_PRE_VOTE) &&
        m->log_index)
        return "log_index set on a vote";
    return NULL;
}

TIDAL_API tidal_result tidal_control_message_decode(const void *bytes, size_t len,
                                                    tidal_control_message *m, char *msg,
                                                    size_t msg_cap) {
    const uint8_t *p = (const uint8_t *)bytes;
    uint8_t sum[32];
    size_t i, at = 0;
    tidal__rd r;
    const char *why = NULL;
    if (!bytes || !m) return TIDAL_ERR_INVALID;
    memset(m, 0, sizeof *m);
    if (len < TIDAL__MSG_HDR) {
        tidal__ctl_why(msg, msg_cap, "control message: %zu bytes, shorter than the %u-byte header",
                       len, TIDAL__MSG_HDR);
        return TIDAL_ERR_CORRUPT;
    }
    tidal__rd_init(&r, p, len);
    if (tidal__rd_u32(&r) != TIDAL__MSG_MAGIC) why = "bad magic", at = 0;
    else if (tidal__rd_le(&r, 2) != TIDAL_WIRE_FORMAT_VERSION) why = "unknown wire version", at = 4;
    else if (tidal__rd_le(&r, 2) != TIDAL__MSG_HDR) why = "bad header size", at = 6;
    if (!why) {
        m->type = (uint32_t)tidal__rd_le(&r, 2);
        if (tidal__rd_le(&r, 2) != TIDAL_CONTROL_GROUP) why = "not the control group", at = 10;
        tidal__ctl_ref(tidal__rd_u32(&r), &m->from);
        tidal__ctl_ref(tidal__rd_u32(&r), &m->to);
        m->term = tidal__rd_u64(&r);
        m->log_index = tidal__rd_u64(&r);
        m->log_term = tidal__rd_u64(&r);
        m->commit_index = tidal__rd_u64(&r);
        m->granted = tidal__rd_u32(&r);
        m->entry_count = tidal__rd_u32(&r);
        m->payload_len = tidal__rd_u32(&r);
        m->payload = len > TIDAL__MSG_HDR ? p + TIDAL__MSG_HDR : NULL;
    }
    if (!why && m->payload_len != len - TIDAL__MSG_HDR) why = "payload length mismatch", at = 60;
    for (i = 64; !why && i < TIDAL__CTL_SUM_AT; i++)
        if (p[i]) why = "reserved header byte not zero", at = i;
    if (!why) {
        tidal__msg_sum(p, p + TIDAL__MSG_HDR, m->payload_len, sum);
        if (memcmp(sum, p + TIDAL__CTL_SUM_AT, 32))
            why = "checksum mismatch", at = TIDAL__CTL_SUM_AT;
    }
    if (!why && (m->type < TIDAL_CONTROL_MSG_VOTE_REQ || m->type > TIDAL_CONTROL_MSG_PRE_VOTE))
        why = "unknown message type", at = 8;
    if (!why && (why = tidal__ctl_fields_check(m)) != NULL) at = 20;
    if (!why && m->type == TIDAL_CONTROL_MSG_APPEND) why = tidal__ctl_entries_check(m, &at);
    if (why) {
        tidal__ctl_why(msg, msg_cap, "control message (type %u, %zu bytes): %s at byte %zu",
                       m->type, len, why, at);
        memset(m, 0, sizeof *m);
        return TIDAL_ERR_CORRUPT;
    }
    return TIDAL_OK;
}

/* ---- The control file ---- */

/* Queues one file record into the frame this handler writes (tidal__ctl_flush). */
static int tidal__ctl_persist(tidal_control *c, uint32_t kind, const uint8_t *body, size_t n) {
    uint64_t cap = c->cap_pend;
    size_t at = c->n_pend ? c->n_pend : TIDAL__CTL_FRAME_HDR;
    TIDAL_ASSERT(n <= TIDAL__CTL_REC_BODY_MAX && kind >= 1 && kind <= TIDAL__CTL_REC_CUT);
    if (!tidal__ctl_grow(c, (void **)&c->pend, &cap, at + 2 + n, 1)) return 0;
    c->cap_pend = (size_t)cap;
    c->pend[at] = (uint8_t)kind;
    c->pend[at + 1] = (uint8_t)n;
    memcpy(c->pend + at + 2, body, n);
    c->n_pend = at + 2 + n;
    return 1;
}

static int tidal__ctl_persist_state(tidal_control *c) {
    uint8_t b[20], *w = b;
    uint32_t vote = c->vote < 0 ? TIDAL__CTL_NO_VOTE : tidal__node_word(c->members[c->vote]);
    TIDAL_ASSERT(c->vote < (int32_t)c->n);
    w = tidal__wr_le(w, c->term, 8);
    w = tidal__wr_le(w, vote, 4);
    w = tidal__wr_le(w, c->commit, 8);
    TIDAL_ASSERT(w == b + sizeof b);
    c->commit_saved = c->commit;
    return tidal__ctl_persist(c, TIDAL__CTL_REC_STATE, b, sizeof b);
}

static int tidal__ctl_persist_entry(tidal_control *c, uint64_t index) {
    uint8_t b[TIDAL__CTL_REC_BODY_MAX], *w = b;
    const tidal__ctl_entry *e = &c->log[index - 1];
    TIDAL_ASSERT(index >= 1 && index <= c->n_log && e->term >= 1);
    w = tidal__wr_le(w, index, 8);
    w = tidal__wr_le(w, e->term, 8);
    w += tidal__ctl_record_put(&e->rec, w);
    return tidal__ctl_persist(c, TIDAL__CTL_REC_ENTRY, b, (size_t)(w - b));
}

static int tidal__ctl_persist_cut(tidal_control *c, uint64_t index) {
    uint8_t b[8];
    tidal__wr_le(b, index, 8);
    return tidal__ctl_persist(c, TIDAL__CTL_REC_CUT, b, 8);
}

static void tidal__ctl_drop_out(tidal_control *c) {
    uint32_t i;
    for (i = 0; i < c->n_out; i++) tidal__ctl_free(c, c->out[i].bytes, c->out[i].len);
    c->n_out = 0;
}

/* Writes and (for term, vote or log changes) fsyncs what the handler persisted, then sends
   the outbox (C6). A failed write or sync fails the member: its in-memory state may be
   ahead of its disk, so it must not answer anyone again before a reopen. */
static tidal_result tidal__ctl_flush(tidal_control *c) {
    const tidal_env *env = c->env;
    tidal_result r = TIDAL_OK;
    uint32_t i;
    /* The commit index is persisted whenever it grows, before tidal_control_poll can hand
       out what it covers: never needed for Raft's safety, but a host that applied a record
       (a tenant SEALED) finds it applied again from its own disk after a restart (DESIGN
       5.9), not only once a leader confirms it. */
    if (c->commit > c->commit_saved && !tidal__ctl_persist_state(c))
        r = TIDAL_ERR_NOMEM;
    if (c->n_pend && r == TIDAL_OK) {
        uint8_t sum[32];
        size_t body = c->n_pend - TIDAL__CTL_FRAME_HDR;
        TIDAL_ASSERT(c->n_pend > TIDAL__CTL_FRAME_HDR && body <= TIDAL__CTL_FRAME_MAX);
        tidal_blake3(c->pend + TIDAL__CTL_FRAME_HDR, body, sum);
        tidal__wr_le(c->pend, body, 4);
        memcpy(c->pend + 4, sum, 8);
        r = env->file_write(env->user, c->file, c->file_end, c->pend, c->n_pend);
        if (r == TIDAL_OK) r = env->file_sync(env->user, c->file);
        c->syncs++;
        if (r == TIDAL_OK) c->file_end += c->n_pend;
    }
    c->n_pend = 0;
    if (r != TIDAL_OK) {
        c->failed = 1;
        tidal__ctl_drop_out(c);
        return tidal__ctl_err(c, r, "control file %s: write or sync failed (%s); reopen",
                              c->file_name, tidal_strerror(r));
    }
    for (i = 0; i < c->n_out; i++) {
        (void)env->message_send(env->user, c->members[c->out[i].to], c->out[i].bytes,
                                c->out[i].len);
        c->msgs_sent++;
    }
    tidal__ctl_drop_out(c);
    return TIDAL_OK;
}

/* A failed allocation while persisting: the member cannot keep its promises (C2, C6). */
static tidal_result tidal__ctl_nomem(tidal_control *c) {
    c->failed = 1;
    c->n_pend = 0;
    tidal__ctl_drop_out(c);
    return tidal__ctl_err(c, TIDAL_ERR_FATAL, "control: out of memory while persisting; reopen");
}

static int tidal__ctl_push(tidal_control *c, uint64_t term, const tidal_control_record *rec) {
    if (!tidal__ctl_grow(c, (void **)&c->log, &c->cap_log, c->n_log + 1, sizeof *c->log)) return 0;
    c->log[c->n_log].term = term;
    c->log[c->n_log].rec = *rec;
    c->n_log++;
    return 1;
}

/* The index of a voter or learner, -1 for anyone else. */
static int32_t tidal__ctl_member(const tidal_control *c, uint32_t word) {
    uint32_t i;
    for (i = 0; i < c->n_all; i++)
        if (tidal__node_word(c->members[i]) == word) return (int32_t)i;
    return -1;
}

/* Applies one intact file record to the in-memory state. NULL or why it contradicts. */
static const char *tidal__ctl_replay(tidal_control *c, uint32_t kind, const uint8_t *b, size_t n) {
    tidal__rd r;
    tidal_control_record rec;
    uint64_t index, term;
    uint32_t vote;
    tidal__rd_init(&r, b, n);
    if (kind == TIDAL__CTL_REC_STATE) {
        term = tidal__rd_u64(&r);
        vote = tidal__rd_u32(&r);
        index = tidal__rd_u64(&r);
        if (r.bad || r.pos != n) return "STATE record of the wrong size";
        if (term < c->term) return "STATE term goes backwards";
        if (vote != TIDAL__CTL_NO_VOTE && (uint32_t)tidal__ctl_member(c, vote) >= c->n)
            return "vote for a non-member";
        if (term == c->term && c->vote >= 0 && vote != tidal__node_word(c->members[c->vote]))
            return "second vote in one term";
        c->term = term;
        c->vote = vote == TIDAL__CTL_NO_VOTE ? -1 : tidal__ctl_member(c, vote);
        if (index > c->commit) c->commit = index;
        return NULL;
    }
    index = tidal__rd_u64(&r);
    if (kind == TIDAL__CTL_REC_CUT) {
        if (r.bad || r.pos != n) return "CUT record of the wrong size";
        if (index < 1 || index > c->n_log + 1) return "CUT beyond the log";
        c->n_log = index - 1;
        return NULL;
    }
    if (kind != TIDAL__CTL_REC_ENTRY) return "unknown record kind";
    term = tidal__rd_u64(&r);
    if (r.bad || tidal_control_record_decode(b + 16, n - 16, &rec, NULL, 0) != TIDAL_OK)
        return "ENTRY record does not decode";
    if (index != c->n_log + 1) return "ENTRY index is not the next";
    if (!term || term > c->term || (c->n_log && term < c->log[c->n_log - 1].term))
        return "ENTRY term out of order";
    return tidal__ctl_push(c, term, &rec) ? NULL : "out of memory";
}

/* Replays the records of one intact frame. NULL or what contradicts the log. */
static const char *tidal__ctl_replay_frame(tidal_control *c, const uint8_t *p, size_t n) {
    size_t at = 0, len;
    const char *why;
    while (at < n) {
        if (n - at < 2 || (len = p[at + 1]) > n - at - 2) return "record runs past its frame";
        why = tidal__ctl_replay(c, p[at], p + at + 2, len);
        if (why) return why;
        at += 2 + len;
    }
    return n ? NULL : "empty frame";
}

/* Reads the whole file; a torn last frame is cut off and the cut synced. */
static tidal_result tidal__ctl_load(tidal_control *c, uint64_t size) {
    const tidal_env *env = c->env;
    uint8_t hdr[TIDAL__CTL_FRAME_HDR], sum[32], *body = NULL;
    uint64_t at = TIDAL__CTL_FILE_HDR, n = 0;
    size_t got, cap = 0;
    const char *why = NULL;
    tidal_result r = TIDAL_OK;
    while (at < size && r == TIDAL_OK && !why) {
        r = env->file_read(env->user, c->file, at, hdr, sizeof hdr, &got);
        n = got == sizeof hdr ? tidal__rd_le_at4(hdr) : 0;
        if (r != TIDAL_OK || !n || n > TIDAL__CTL_FRAME_MAX || n > size - at - sizeof hdr) break;
        if (n > cap) {
            tidal__ctl_free(c, body, cap);
            body = (uint8_t *)tidal__ctl_alloc(c, (size_t)n);
            cap = body ? (size_t)n : 0;
            if (!body) r = TIDAL_ERR_NOMEM;
        }
        if (r == TIDAL_OK)
            r = env->file_read(env->user, c->file, at + sizeof hdr, body, (size_t)n, &got);
        if (r != TIDAL_OK) break;
        tidal_blake3(body, (size_t)n, sum);
        if (got < n || memcmp(sum, hdr + 4, 8)) {
            if (at + sizeof hdr + n < size) why = "fails its checksum and is not the last frame";
            break;
        }
        why = tidal__ctl_replay_frame(c, body, (size_t)n);
        if (!why) at += sizeof hdr + n;
    }
    tidal__ctl_free(c, body, cap);
    if (r != TIDAL_OK)
        return tidal__ctl_err(c, r, "control file %s: read at byte %llu", c->file_name,
                              (unsigned long long)at);
    if (why)
        return tidal__ctl_err(c, TIDAL_ERR_CORRUPT, "control file %s: frame at byte %llu: %s",
                              c->file_name, (unsigned long long)at, why);
    c->file_end = at;
    if (at < size) { /* a torn tail: what a crash left of the last write */
        r = env->file_truncate(env->user, c->file, at);
        if (r == TIDAL_OK) r = env->file_sync(env->user, c->file);
        if (r != TIDAL_OK)
            return tidal__ctl_err(c, r, "control file %s: cutting the torn tail", c->file_name);
    }
    if (c->commit > c->n_log) c->commit = c->n_log; /* only a hint; never past the log */
    c->commit_saved = c->commit;
    return TIDAL_OK;
}

/* Opens or creates the control file and reads it. */
static tidal_result tidal__ctl_file_open(tidal_control *c, tidal_node_ref self) {
    const tidal_env *env = c->env;
    uint8_t hdr[TIDAL__CTL_FILE_HDR], *w = hdr;
    uint64_t size = 0;
    size_t got = 0;
    tidal_result r = env->dir_create(env->user, c->dir);
    if (r == TIDAL_OK)
        r = env->file_open(env->user, c->file_name,
                           TIDAL_OPEN_READ | TIDAL_OPEN_WRITE | TIDAL_OPEN_CREATE, &c->file);
    if (r == TIDAL_OK) r = env->file_size(env->user, c->file, &size);
    if (r != TIDAL_OK)
        return tidal__ctl_err(c, r, "control file %s: open (%s)", c->file_name, tidal_strerror(r));
    w = tidal__wr_le(w, TIDAL__CTL_FILE_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL_CONTROL_FORMAT_VERSION, 4);
    w = tidal__wr_le(w, tidal__node_word(self), 4);
    w = tidal__wr_le(w, 0, 4);
    TIDAL_ASSERT(w == hdr + sizeof hdr);
    if (size < TIDAL__CTL_FILE_HDR) { /* new, or its creation was torn: nothing was synced */
        r = env->file_truncate(env->user, c->file, 0);
        if (r == TIDAL_OK) r = env->file_write(env->user, c->file, 0, hdr, sizeof hdr);
        if (r == TIDAL_OK) r = env->file_sync(env->user, c->file);
        if (r == TIDAL_OK) r = env->dir_sync(env->user, c->dir);
        if (r != TIDAL_OK)
            return tidal__ctl_err(c, r, "control file %s: create (%s)", c->file_name,
                                  tidal_strerror(r));
        c->file_end = TIDAL__CTL_FILE_HDR;
        return TIDAL_OK;
    }
    {
        uint8_t have[TIDAL__CTL_FILE_HDR];
        r = env->file_read(env->user, c->file, 0, have, sizeof have, &got);
        if (r != TIDAL_OK)
            return tidal__ctl_err(c, r, "control file %s: read header", c->file_name);
        if (tidal__rd_le_at4(have) != TIDAL__CTL_FILE_MAGIC)
            return tidal__ctl_err(c, TIDAL_ERR_CORRUPT, "control file %s: bad magic at byte 0",
                                  c->file_name);
        if (tidal__rd_le_at4(have + 4) != TIDAL_CONTROL_FORMAT_VERSION)
            return tidal__ctl_err(c, TIDAL_ERR_CORRUPT,
                                  "control file %s: unknown format version %u at byte 4",
                                  c->file_name, tidal__rd_le_at4(have + 4));
        if (memcmp(have + 8, hdr + 8, 8))
            return tidal__ctl_err(c, TIDAL_ERR_CORRUPT,
                                  "control file %s: written by another node (byte 8)",
                                  c->file_name);
    }
    return tidal__ctl_load(c, size);
}

/* ---- The protocol ---- */

static uint64_t tidal__ctl_last_term(const tidal_control *c) {
    return c->n_log ? c->log[c->n_log - 1].term : 0;
}

static uint64_t tidal__ctl_term_at(const tidal_control *c, uint64_t index) {
    TIDAL_ASSERT(index <= c->n_log);
    return index ? c->log[index - 1].term : 0;
}

static int64_t tidal__ctl_now(const tidal_control *c) {
    return c->env->clock_mono_ns(c->env->user);
}

/* A fresh randomized election deadline in [now + t, now + 2t). */
static void tidal__ctl_reset_timer(tidal_control *c) {
    uint64_t x = 0;
    c->env->random_fill(c->env->user, &x, sizeof x);
    c->deadline_ns = tidal__ctl_now(c) + c->election_ns + (int64_t)(x % (uint64_t)c->election_ns);
    TIDAL_ASSERT(c->deadline_ns > 0);
}

/* Queues a message to member i (sent by tidal__ctl_flush after the sync). */
static int tidal__ctl_send(tidal_control *c, uint32_t i, tidal_control_message *m) {
    uint64_t cap = c->cap_out;
    uint8_t *b;
    size_t len = 0;
    TIDAL_ASSERT(i < c->n_all && i != c->me);
    m->from = c->members[c->me];
    m->to = c->members[i];
    m->term = c->term;
    b = (uint8_t *)tidal__ctl_alloc(c, TIDAL__MSG_HDR + m->payload_len);
    if (!b) return 0; /* a lost message: the protocol resends */
    if (tidal_control_message_encode(m, b, TIDAL__MSG_HDR + m->payload_len, &len) != TIDAL_OK ||
        !tidal__ctl_grow(c, (void **)&c->out, &cap, c->n_out + 1, sizeof *c->out)) {
        tidal__ctl_free(c, b, TIDAL__MSG_HDR + m->payload_len);
        return 0;
    }
    c->cap_out = (uint32_t)cap;
    c->out[c->n_out].to = i;
    c->out[c->n_out].bytes = b;
    c->out[c->n_out].len = len;
    c->n_out++;
    return 1;
}

/* C1: a higher term makes this member a follower of it, with no vote yet. */
static int tidal__ctl_adopt_term(tidal_control *c, uint64_t term) {
    TIDAL_ASSERT(term > c->term);
    if (c->role != TIDAL__CTL_FOLLOWER) tidal__ctl_reset_timer(c); /* a fresh wait */
    c->term = term;
    c->vote = -1;
    c->role = TIDAL__CTL_FOLLOWER;
    c->leader = -1;
    c->pre = 0;
    return tidal__ctl_persist_state(c);
}

/* The leader's APPEND to member i: entries from next[i], at most append_max of them. */
static void tidal__ctl_send_append(tidal_control *c, uint32_t i) {
    tidal_control_message m;
    uint8_t buf[TIDAL__CTL_PAYLOAD_MAX];
    size_t len = 0;
    uint64_t k, prev;
    TIDAL_ASSERT(c->role == TIDAL__CTL_LEADER && c->next[i] >= 1 && c->next[i] <= c->n_log + 1);
    prev = c->next[i] - 1;
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_APPEND;
    m.log_index = prev;
    m.log_term = tidal__ctl_term_at(c, prev);
    for (k = prev + 1; k <= c->n_log && m.entry_count < c->append_max; k++) {
        uint8_t *w = buf + len;
        if (len + TIDAL__CTL_ENTRY_MAX > sizeof buf) break;
        w = tidal__wr_le(w, c->log[k - 1].term, 8);
        len += 10 + tidal__ctl_record_put(&c->log[k - 1].rec, w + 2);
        tidal__wr_le(w, (uint64_t)(buf + len - (w + 2)), 2);
        m.entry_count++;
    }
    m.commit_index = c->commit < prev + m.entry_count ? c->commit : prev + m.entry_count;
    m.payload = len ? buf : NULL;
    m.payload_len = len;
    (void)tidal__ctl_send(c, i, &m);
}

static void tidal__ctl_broadcast(tidal_control *c) {
    uint32_t i;
    for (i = 0; i < c->n_all; i++)
        if (i != c->me) tidal__ctl_send_append(c, i);
    c->beat_ns = tidal__ctl_now(c) + c->heartbeat_ns;
}

/* C5: the highest index of the leader's own term that a majority holds commits (of the
   voters: learners [n, n_all) never count). */
static void tidal__ctl_advance_commit(tidal_control *c) {
    uint64_t n;
    uint32_t i, count;
    TIDAL_ASSERT(c->role == TIDAL__CTL_LEADER);
    for (n = c->n_log; n > c->commit && c->log[n - 1].term == c->term; n--) {
        for (count = 0, i = 0; i < c->n; i++) count += c->match[i] >= n;
        if (count * 2 > c->n) {
            c->commit = n;
            break;
        }
    }
}

/* C3: a majority voted; lead the term, starting with a NOOP of it. */
static int tidal__ctl_become_leader(tidal_control *c) {
    tidal_control_record noop;
    uint32_t i;
    TIDAL_ASSERT(c->role == TIDAL__CTL_CANDIDATE && c->vote == (int32_t)c->me);
    memset(&noop, 0, sizeof noop);
    noop.kind = TIDAL_CONTROL_NOOP;
    if (!tidal__ctl_push(c, c->term, &noop) || !tidal__ctl_persist_entry(c, c->n_log)) return 0;
    c->role = TIDAL__CTL_LEADER;
    c->leader = (int32_t)c->me;
    c->pre = 0;
    TIDAL_ASSERT(c->me < c->n); /* a learner never runs */
    for (i = 0; i < c->n_all; i++) {
        c->next[i] = c->n_log;  /* the NOOP goes to everyone with the next APPEND */
        c->match[i] = 0;
    }
    c->match[c->me] = c->n_log;
    tidal__ctl_advance_commit(c); /* a group of one commits at once */
    tidal__ctl_broadcast(c);
    return 1;
}

static int tidal__ctl_count_votes_in(const tidal_control *c, uint32_t votes) {
    uint32_t i, n = 0;
    for (i = 0; i < c->n; i++) n += (votes >> i) & 1u;
    return n * 2 > c->n;
}

static int tidal__ctl_count_votes(const tidal_control *c) {
    return tidal__ctl_count_votes_in(c, c->votes);
}

/* Runs for term + 1 (C2: votes for itself, persisted before any request leaves). */
static int tidal__ctl_run(tidal_control *c) {
    tidal_control_message m;
    uint32_t i;
    c->term++;
    c->vote = (int32_t)c->me;
    c->role = TIDAL__CTL_CANDIDATE;
    c->leader = -1;
    c->votes = 1u << c->me;
    c->pre = 0;
    c->elections++;
    tidal__ctl_reset_timer(c);
    if (!tidal__ctl_persist_state(c)) return 0;
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_VOTE_REQ;
    m.log_index = c->n_log;
    m.log_term = tidal__ctl_last_term(c);
    for (i = 0; i < c->n; i++)
        if (i != c->me) (void)tidal__ctl_send(c, i, &m);
    return tidal__ctl_count_votes(c) ? tidal__ctl_become_leader(c) : 1;
}

/* The pre-vote round (issue 12): asks the voters whether they would vote in term + 1;
   nothing persisted, no term changes. A majority saying yes makes it run (tidal__ctl_run). */
static int tidal__ctl_pre_run(tidal_control *c) {
    tidal_control_message m;
    uint32_t i;
    TIDAL_ASSERT(c->me < c->n && c->role != TIDAL__CTL_LEADER);
    c->pre = 1;
    c->pre_votes = 1u << c->me;
    tidal__ctl_reset_timer(c);
    if (tidal__ctl_count_votes_in(c, c->pre_votes)) return tidal__ctl_run(c);
    memset(&m, 0, sizeof m);
    m.type = TIDAL_CONTROL_MSG_PRE_VOTE_REQ;
    m.log_index = c->n_log;
    m.log_term = tidal__ctl_last_term(c);
    for (i = 0; i < c->n; i++)
        if (i != c->me) (void)tidal__ctl_send(c, i, &m);
    return 1;
}

/* Would this member vote for the sender in the sender's term + 1 (C1 made the terms equal,
   or this one is higher: no)? Only when the sender's log is at least as up to date (C2)
   and no leader is in force here: this member leads, or took its leader's APPEND within
   the election timeout. A yes persists nothing; it restarts this member's election wait
   (the asker runs next: waiting keeps this one from splitting the votes) and ends its own
   pre-vote round, which a tie decides: the more up-to-date log, then the lower member
   index, is answered yes. */
static int tidal__ctl_on_pre_vote_req(tidal_control *c, int32_t from,
                                      const tidal_control_message *m) {
    tidal_control_message a;
    uint64_t lt = tidal__ctl_last_term(c);
    int up_to_date = m->log_term > lt || (m->log_term == lt && m->log_index >= c->n_log);
    int led = c->role == TIDAL__CTL_LEADER ||
              (c->leader >= 0 && c->heard_ns &&
               tidal__ctl_now(c) - c->heard_ns < c->election_ns);
    TIDAL_ASSERT((uint32_t)from < c->n);
    memset(&a, 0, sizeof a);
    a.type = TIDAL_CONTROL_MSG_PRE_VOTE;
    a.granted = m->term == c->term && up_to_date && !led;
    if (a.granted && c->pre) /* both ask: the longer log, equal ones the lower index, goes */
        a.granted = m->log_term > lt || m->log_index > c->n_log ||
                    (m->log_index == c->n_log && m->log_term == lt && (uint32_t)from < c->me);
    if (a.granted) { /* it runs once a majority says yes: give it the time to */
        c->pre = 0;
        tidal__ctl_reset_timer(c);
    }
    a.log_term = a.granted ? m->term + 1 : 0; /* the asker matches it to its round */
    (void)tidal__ctl_send(c, (uint32_t)from, &a);
    return 1;
}

static int tidal__ctl_on_pre_vote(tidal_control *c, int32_t from, const tidal_control_message *m) {
    TIDAL_ASSERT((uint32_t)from < c->n);
    if (!c->pre || !m->granted || m->log_term != c->term + 1 || c->role == TIDAL__CTL_LEADER)
        return 1;
    c->pre_votes |= 1u << from;
    return tidal__ctl_count_votes_in(c, c->pre_votes) ? tidal__ctl_run(c) : 1;
}

static int tidal__ctl_on_vote_req(tidal_control *c, int32_t from, const tidal_control_message *m) {
    tidal_control_message a;
    uint64_t lt = tidal__ctl_last_term(c);
    int up_to_date = m->log_term > lt || (m->log_term == lt && m->log_index >= c->n_log);
    memset(&a, 0, sizeof a);
    a.type = TIDAL_CONTROL_MSG_VOTE;
    TIDAL_ASSERT((uint32_t)from < c->n); /* receive refuses a learner's request */
    if (m->term == c->term && c->me < c->n && (c->vote < 0 || c->vote == from) && up_to_date) {
        TIDAL_ASSERT(c->role == TIDAL__CTL_FOLLOWER);
        if (c->vote < 0) {
            c->vote = from;
            if (!tidal__ctl_persist_state(c)) return 0;
        }
        tidal__ctl_reset_timer(c);
        a.granted = 1;
    }
    (void)tidal__ctl_send(c, (uint32_t)from, &a);
    return 1;
}

static int tidal__ctl_on_vote(tidal_control *c, int32_t from, const tidal_control_message *m) {
    TIDAL_ASSERT((uint32_t)from < c->n);
    if (c->role != TIDAL__CTL_CANDIDATE || m->term != c->term || !m->granted) return 1;
    c->votes |= 1u << from;
    return tidal__ctl_count_votes(c) ? tidal__ctl_become_leader(c) : 1;
}

/* C4: a follower takes the leader's entries after a matching (log_index, log_term). */
static int tidal__ctl_on_append(tidal_control *c, int32_t from, const tidal_control_message *m) {
    tidal_control_message a;
    tidal__rd r;
    uint64_t idx = m->log_index, t, last;
    uint32_t k, n;
    memset(&a, 0, sizeof a);
    a.type = TIDAL_CONTROL_MSG_APPEND_ACK;
    if (m->term < c->term) { /* a deposed leader: tell it the term (C1) */
        a.log_index = c->n_log;
        (void)tidal__ctl_send(c, (uint32_t)from, &a);
        return 1;
    }
    TIDAL_ASSERT(m->term == c->term && c->role != TIDAL__CTL_LEADER);
    c->role = TIDAL__CTL_FOLLOWER;
    c->leader = from;
    c->pre = 0;
    c->heard_ns = tidal__ctl_now(c);
    tidal__ctl_reset_timer(c);
    if (idx > c->n_log || tidal__ctl_term_at(c, idx) != m->log_term) {
        /* The hint: the last index this log could share with the leader's. */
        if (idx > c->n_log) a.log_index = c->n_log;
        else {
            t = tidal__ctl_term_at(c, idx);
            while (idx > c->commit && tidal__ctl_term_at(c, idx) == t) idx--;
            a.log_index = idx;
        }
        (void)tidal__ctl_send(c, (uint32_t)from, &a);
        return 1;
    }
    tidal__rd_init(&r, m->payload, m->payload_len);
    for (k = 0; k < m->entry_count; k++) {
        tidal_control_record rec;
        t = tidal__rd_u64(&r);
        n = (uint32_t)tidal__rd_le(&r, 2);
        TIDAL_ASSERT(!r.bad); /* decode checked every entry */
        (void)tidal_control_record_decode(tidal__rd_bytes(&r, n), n, &rec, NULL, 0);
        idx++;
        if (idx <= c->n_log && c->log[idx - 1].term == t) continue; /* already held */
        if (idx <= c->n_log) { /* a conflict: drop this entry and everything after it */
            TIDAL_ASSERT(idx > c->commit); /* a committed entry never conflicts (C5) */
            c->n_log = idx - 1;
            if (c->polled > c->n_log) c->polled = c->n_log;
            if (!tidal__ctl_persist_cut(c, idx)) return 0;
        }
        if (!tidal__ctl_push(c, t, &rec) || !tidal__ctl_persist_entry(c, idx)) return 0;
    }
    last = m->log_index + m->entry_count;
    if (m->commit_index > c->commit && last > c->commit) /* never back: a late APPEND */
        c->commit = m->commit_index < last ? m->commit_index : last;
    TIDAL_ASSERT(c->commit <= c->n_log);
    a.granted = 1;
    a.log_index = last;
    (void)tidal__ctl_send(c, (uint32_t)from, &a);
    return 1;
}

/* An APPEND that contradicts what this member knows (C5: every leader's log holds every
   committed entry; C1: one leader per term) cannot come from an honest leader: a forged or
   corrupted message with a valid checksum. Refused before anything changes (1, why set)
   rather than asserted on. */
static int tidal__ctl_append_check(const tidal_control *c, const tidal_control_message *m,
                                   char *why, size_t cap) {
    tidal__rd r;
    uint64_t idx = m->log_index, t;
    uint32_t k, n;
    if (m->type != TIDAL_CONTROL_MSG_APPEND || m->term < c->term) return 0;
    if (m->term == c->term && c->role == TIDAL__CTL_LEADER) {
        snprintf(why, cap, "control APPEND: from %u/%u for term %llu, which this member leads",
                 m->from.region, m->from.shard, (unsigned long long)m->term);
        return 1;
    }
    if (idx > c->n_log || tidal__ctl_term_at(c, idx) != m->log_term) return 0; /* refused */
    tidal__rd_init(&r, m->payload, m->payload_len);
    for (k = 0; k < m->entry_count; k++) {
        t = tidal__rd_u64(&r);
        n = (uint32_t)tidal__rd_le(&r, 2);
        (void)tidal__rd_bytes(&r, n);
        TIDAL_ASSERT(!r.bad); /* decode checked every entry */
        idx++;
        if (idx <= c->commit && idx <= c->n_log && c->log[idx - 1].term != t) {
            snprintf(why, cap, "control APPEND: entry %u (index %llu, term %llu) conflicts "
                     "with the committed entry of term %llu", k, (unsigned long long)idx,
                     (unsigned long long)t, (unsigned long long)c->log[idx - 1].term);
            return 1;
        }
    }
    return 0;
}

static void tidal__ctl_on_ack(tidal_control *c, int32_t from, const tidal_control_message *m) {
    uint32_t i = (uint32_t)from;
    if (c->role != TIDAL__CTL_LEADER || m->term != c->term) return; /* stale (C1) */
    if (m->granted) {
        if (m->log_index > c->n_log) return; /* cannot be: this term's log only grows */
        if (m->log_index > c->match[i]) c->match[i] = m->log_index;
        if (m->log_index + 1 > c->next[i]) c->next[i] = m->log_index + 1;
        tidal__ctl_advance_commit(c);
        if (c->next[i] <= c->n_log) tidal__ctl_send_append(c, i); /* more to send */
        return;
    }
    /* Refused: step back (never below what it is known to hold), and retry at once. */
    if (c->next[i] > c->match[i] + 1) {
        uint64_t to = m->log_index + 1 < c->next[i] ? m->log_index + 1 : c->next[i] - 1;
        c->next[i] = to > c->match[i] ? to : c->match[i] + 1;
        tidal__ctl_send_append(c, i);
    }
}

/* ---- Public entry points ---- */

static tidal_result tidal__ctl_config_check(const tidal_control_config *cfg, char *msg,
                                            size_t cap) {
    uint32_t i, j, self = 0;
    const char *why = NULL;
    const tidal_env *env = cfg->env;
    if (!cfg->path || !cfg->path[0] || strlen(cfg->path) > TIDAL_PATH_MAX)
        why = "path: 1..TIDAL_PATH_MAX bytes";
    else if (!cfg->members || cfg->member_count < 1 || cfg->member_count > TIDAL_REPLICAS_MAX)
        why = "members: 1..TIDAL_REPLICAS_MAX";
    else if (cfg->election_timeout_ns < 0 || cfg->heartbeat_ns < 0) why = "negative timeout";
    else if ((cfg->learner_count && !cfg->learners) ||
             cfg->learner_count > TIDAL_CONTROL_LEARNERS_MAX)
        why = "learners: 0..TIDAL_CONTROL_LEARNERS_MAX";
    else if (env && (env->version < 1 || !env->clock_mono_ns || !env->random_fill ||
                     !env->file_open || !env->file_write || !env->file_sync ||
                     !env->message_send))
        why = "env: a method is missing";
    for (i = 0; !why && i < cfg->member_count + cfg->learner_count; i++) {
        tidal_node_ref a = i < cfg->member_count ? cfg->members[i]
                                                 : cfg->learners[i - cfg->member_count];
        for (j = 0; j < i; j++) {
            tidal_node_ref b = j < cfg->member_count ? cfg->members[j]
                                                     : cfg->learners[j - cfg->member_count];
            if (tidal__node_word(a) == tidal__node_word(b))
                why = "members and learners: a duplicate";
        }
        self += tidal__node_word(a) == tidal__node_word(cfg->self);
    }
    if (!why && self != 1) why = "members: self is neither a member nor a learner";
    if (!why) return TIDAL_OK;
    tidal__ctl_why(msg, cap, "control config: %s", why);
    return TIDAL_ERR_INVALID;
}

TIDAL_API tidal_result tidal_control_open(const tidal_control_config *cfg, tidal_control **out,
                                          char *msg, size_t msg_cap) {
    tidal_allocator a;
    tidal_control *c;
    tidal_result r;
    if (!cfg || !out) return TIDAL_ERR_INVALID;
    *out = NULL;
    if ((r = tidal__ctl_config_check(cfg, msg, msg_cap)) != TIDAL_OK) return r;
    if (cfg->allocator) a = *cfg->allocator;
    else {
        a.user = NULL;
        a.alloc = tidal__default_alloc;
        a.realloc = tidal__default_realloc;
        a.free = tidal__default_free;
    }
    c = (tidal_control *)a.alloc(a.user, sizeof *c);
    if (!c) return TIDAL_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->alloc = a;
    c->env = cfg->env ? cfg->env : tidal_env_posix();
    c->n = cfg->member_count;
    c->n_all = c->n + cfg->learner_count;
    memcpy(c->members, cfg->members, c->n * sizeof *c->members);
    if (cfg->learner_count)
        memcpy(c->members + c->n, cfg->learners, cfg->learner_count * sizeof *c->members);
    c->me = (uint32_t)tidal__ctl_member(c, tidal__node_word(cfg->self));
    c->election_ns = cfg->election_timeout_ns ? cfg->election_timeout_ns : 300 * 1000 * 1000;
    c->heartbeat_ns = cfg->heartbeat_ns ? cfg->heartbeat_ns : c->election_ns / 5;
    c->pre_vote = !cfg->no_pre_vote;
    c->append_max = cfg->append_entries_max ? cfg->append_entries_max : 64;
    c->vote = -1;
    c->leader = -1;
    snprintf(c->dir, sizeof c->dir, "%s", cfg->path);
    snprintf(c->file_name, sizeof c->file_name, "%s/control-%04x-%04x.log", cfg->path,
             cfg->self.region, cfg->self.shard);
    r = tidal__ctl_file_open(c, cfg->self);
    if (r != TIDAL_OK) {
        tidal__ctl_why(msg, msg_cap, "%s", c->errmsg);
        tidal_control_close(c);
        return r;
    }
    TIDAL_ASSERT(c->me < c->n_all && c->commit <= c->n_log);
    *out = c;
    return TIDAL_OK;
}

TIDAL_API void tidal_control_close(tidal_control *c) {
    if (!c) return;
    if (c->file) c->env->file_close(c->env->user, c->file);
    tidal__ctl_drop_out(c);
    tidal__ctl_free(c, c->out, (size_t)c->cap_out * sizeof *c->out);
    tidal__ctl_free(c, c->pend, c->cap_pend);
    tidal__ctl_free(c, c->log, (size_t)c->cap_log * sizeof *c->log);
    c->alloc.free(c->alloc.user, c, sizeof *c);
}

TIDAL_API tidal_result tidal_control_tick(tidal_control *c) {
    int64_t now;
    int ok = 1;
    if (!c) return TIDAL_ERR_INVALID;
    if (c->failed) return tidal__ctl_err(c, TIDAL_ERR_FATAL, "control: failed earlier; reopen");
    now = tidal__ctl_now(c);
    if (c->role == TIDAL__CTL_LEADER) {
        if (now >= c->beat_ns) tidal__ctl_broadcast(c);
    } else if (c->me >= c->n) {
        /* A learner never runs: it waits for whichever leader the voters elect. */
    } else if (!c->deadline_ns) {
        tidal__ctl_reset_timer(c);
    } else if (now >= c->deadline_ns) {
        ok = c->pre_vote ? tidal__ctl_pre_run(c) : tidal__ctl_run(c);
    }
    return ok ? tidal__ctl_flush(c) : tidal__ctl_nomem(c);
}

TIDAL_API tidal_result tidal_control_receive(tidal_control *c, tidal_node_ref from,
                                             const void *bytes, size_t len) {
    tidal_control_message m;
    char why[160];
    int32_t i;
    int ok = 1;
    if (!c || !bytes) return TIDAL_ERR_INVALID;
    if (c->failed) return tidal__ctl_err(c, TIDAL_ERR_FATAL, "control: failed earlier; reopen");
    c->msgs_received++;
    if (tidal_control_message_decode(bytes, len, &m, why, sizeof why) != TIDAL_OK) {
        c->msgs_corrupt++;
        return tidal__ctl_err(c, TIDAL_ERR_CORRUPT, "%s", why);
    }
    i = tidal__ctl_member(c, tidal__node_word(m.from));
    if (i < 0 || (uint32_t)i == c->me || tidal__node_word(m.from) != tidal__node_word(from) ||
        tidal__node_word(m.to) != tidal__node_word(c->members[c->me])) {
        c->msgs_corrupt++;
        return tidal__ctl_err(c, TIDAL_ERR_CORRUPT, "control message: from %u/%u (delivered from "
                              "%u/%u) to %u/%u: not a member's message to this node", m.from.region,
                              m.from.shard, from.region, from.shard, m.to.region, m.to.shard);
    }
    if (((uint32_t)i >= c->n || c->me >= c->n) && m.type != TIDAL_CONTROL_MSG_APPEND_ACK &&
        m.type != TIDAL_CONTROL_MSG_APPEND) {
        c->msgs_corrupt++; /* votes pass between voters only */
        return tidal__ctl_err(c, TIDAL_ERR_CORRUPT, "control message: a vote or vote request "
                              "from %u/%u to %u/%u: learners take no part in elections",
                              m.from.region, m.from.shard, m.to.region, m.to.shard);
    }
    if ((uint32_t)i >= c->n && m.type == TIDAL_CONTROL_MSG_APPEND) {
        c->msgs_corrupt++; /* only a voter can lead */
        return tidal__ctl_err(c, TIDAL_ERR_CORRUPT, "control APPEND from the learner %u/%u",
                              m.from.region, m.from.shard);
    }
    if (tidal__ctl_append_check(c, &m, why, sizeof why)) {
        c->msgs_corrupt++; /* a message no honest member sends: nothing changes */
        return tidal__ctl_err(c, TIDAL_ERR_CORRUPT, "%s", why);
    }
    if (m.term > c->term) ok = tidal__ctl_adopt_term(c, m.term);
    if (ok && m.type == TIDAL_CONTROL_MSG_PRE_VOTE_REQ) ok = tidal__ctl_on_pre_vote_req(c, i, &m);
    else if (ok && m.type == TIDAL_CONTROL_MSG_PRE_VOTE) ok = tidal__ctl_on_pre_vote(c, i, &m);
    else if (ok && m.type == TIDAL_CONTROL_MSG_VOTE_REQ) ok = tidal__ctl_on_vote_req(c, i, &m);
    else if (ok && m.type == TIDAL_CONTROL_MSG_VOTE) ok = tidal__ctl_on_vote(c, i, &m);
    else if (ok && m.type == TIDAL_CONTROL_MSG_APPEND) ok = tidal__ctl_on_append(c, i, &m);
    else if (ok) tidal__ctl_on_ack(c, i, &m);
    return ok ? tidal__ctl_flush(c) : tidal__ctl_nomem(c);
}

TIDAL_API tidal_result tidal_control_propose(tidal_control *c, const tidal_control_record *rec,
                                             uint64_t *index, uint64_t *term) {
    char why[160];
    uint8_t tmp[TIDAL_CONTROL_RECORD_BYTES_MAX];
    size_t len;
    if (!c || !rec) return TIDAL_ERR_INVALID;
    if (c->failed) return tidal__ctl_err(c, TIDAL_ERR_FATAL, "control: failed earlier; reopen");
    if (tidal_control_record_encode(rec, tmp, sizeof tmp, &len, why, sizeof why) != TIDAL_OK ||
        rec->kind == TIDAL_CONTROL_NOOP)
        return tidal__ctl_err(c, TIDAL_ERR_INVALID, "propose: %s",
                              rec->kind == TIDAL_CONTROL_NOOP ? "a NOOP" : why);
    if (c->role != TIDAL__CTL_LEADER) {
        if (c->leader >= 0)
            return tidal__ctl_err(c, TIDAL_ERR_READ_ONLY,
                                  "propose: not the leader; the leader of term %llu is %u/%u",
                                  (unsigned long long)c->term, c->members[c->leader].region,
                                  c->members[c->leader].shard);
        return tidal__ctl_err(c, TIDAL_ERR_READ_ONLY,
                              "propose: not the leader; none known in term %llu",
                              (unsigned long long)c->term);
    }
    if (!tidal__ctl_push(c, c->term, rec))
        return tidal__ctl_err(c, TIDAL_ERR_NOMEM, "propose: log");
    if (!tidal__ctl_persist_entry(c, c->n_log)) return tidal__ctl_nomem(c);
    c->match[c->me] = c->n_log;
    tidal__ctl_advance_commit(c); /* a group of one */
    tidal__ctl_broadcast(c);
    if (index) *index = c->n_log;
    if (term) *term = c->term;
    return tidal__ctl_flush(c);
}

TIDAL_API tidal_result tidal_control_proposal_status(const tidal_control *c, uint64_t index,
                                                     uint64_t term) {
    uint64_t k;
    if (!c || !index) return TIDAL_ERR_INVALID;
    if (c->failed) return TIDAL_ERR_FATAL;
    /* Terms never decrease along a log, so a committed entry of a later term at or before
       index means no log that holds the committed prefix can hold (index, term). */
    k = index < c->commit ? index : c->commit;
    if (k && (c->log[k - 1].term > term || (k == index && c->log[k - 1].term != term)))
        return TIDAL_ERR_NOT_FOUND;
    if (index > c->commit) return TIDAL_PENDING;
    TIDAL_ASSERT(index <= c->n_log && c->log[index - 1].term == term);
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_control_poll(tidal_control *c, uint64_t *index,
                                          tidal_control_record *rec) {
    if (!c || !index || !rec) return TIDAL_ERR_INVALID;
    TIDAL_ASSERT(c->polled <= c->commit && c->commit <= c->n_log);
    while (c->polled < c->commit) {
        const tidal__ctl_entry *e = &c->log[c->polled++];
        if (e->rec.kind == TIDAL_CONTROL_NOOP) continue;
        *index = c->polled;
        *rec = e->rec;
        return TIDAL_OK;
    }
    return TIDAL_ERR_NOT_FOUND;
}

TIDAL_API tidal_result tidal_control_entry(const tidal_control *c, uint64_t index,
                                           uint64_t *term, tidal_control_record *rec) {
    if (!c) return TIDAL_ERR_INVALID;
    if (!index || index > c->n_log) return TIDAL_ERR_NOT_FOUND;
    if (term) *term = c->log[index - 1].term;
    if (rec) *rec = c->log[index - 1].rec;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_control_status_get(const tidal_control *c,
                                                tidal_control_status *out) {
    if (!c || !out) return TIDAL_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->role = c->role == TIDAL__CTL_LEADER ? TIDAL_ROLE_LEADER : TIDAL_ROLE_FOLLOWER;
    out->candidate = c->role == TIDAL__CTL_CANDIDATE;
    out->term = c->term;
    out->has_leader = c->leader >= 0;
    if (c->leader >= 0) out->leader = c->members[c->leader];
    out->last_index = c->n_log;
    out->last_term = tidal__ctl_last_term(c);
    out->commit_index = c->commit;
    out->polled_index = c->polled;
    out->elections = c->elections;
    out->msgs_sent = c->msgs_sent;
    out->msgs_received = c->msgs_received;
    out->msgs_corrupt = c->msgs_corrupt;
    out->syncs = c->syncs;
    out->failed = c->failed;
    out->learner = c->me >= c->n;
    return TIDAL_OK;
}

TIDAL_API const char *tidal_control_errmsg(const tidal_control *c) {
    return c ? c->errmsg : "invalid handle";
}

// >>node
// tidal_peer (DESIGN 5.9): one process's replica members and control member, the control
// records applied to them (P1 in >>api), routing and forwarding of client calls (P2) and
// their completions (P3). Limits: TIDAL_PEER_GROUPS_MAX groups, TIDAL_PEER_CALLS_MAX calls
// in flight, TIDAL_TENANTS_CONFIG_MAX tenants in the routing table, at most 2 hops per
// forwarded call. Invariants: a call holds exactly one wait (or completes at once) and
// completes exactly once; a record is applied only after tidal_control_poll handed it out.
// A fan-out call is one call per shard (tickets ticket + 1 + shard, each with its own wait)
// whose completions fold into the caller's one (tidal__peer_fan_take). A committed record
// that fails to apply is counted and named for health, and the next one applies.

#define TIDAL__PEER_HOPS_MAX 2u
#define TIDAL__PEER_SEEN_MAX 1024u /* calls remembered to drop a duplicated message */
#define TIDAL__PEER_FIXED 76u /* FORWARD payload before its variable fields */
#define TIDAL__PEER_REPLY_FIXED 45u /* REPLY payload without hits and message text */
#define TIDAL__PEER_MSG_MAX 127u
TIDAL__STATIC_ASSERT(peer_group_distinct, TIDAL_PEER_GROUP != TIDAL_CONTROL_GROUP);
TIDAL__STATIC_ASSERT(peer_hits_fit, TIDAL__MSG_HDR + TIDAL__PEER_REPLY_FIXED + 16 *
                     TIDAL_PEER_HITS_MAX + 1 + TIDAL__PEER_MSG_MAX <= TIDAL_MSG_BYTES_MAX);
TIDAL__STATIC_ASSERT(peer_groups_fit, TIDAL_PEER_GROUPS_MAX <= 256);
TIDAL__STATIC_ASSERT(peer_text_fits_u16, TIDAL_PEER_TEXT_MAX <= 65535 && TIDAL_VALUE_MAX <=
                     TIDAL_PEER_TEXT_MAX);

enum { TIDAL__PEER_WAIT_FORWARD = 1, TIDAL__PEER_WAIT_WRITE = 2, TIDAL__PEER_WAIT_PROPOSAL = 3 };

/* >>node_gather: heartbeats, health and gathers keep their state in their own struct
   (struct tidal__gx, defined there); these are its hooks in this section. */
struct tidal__gx;
#define TIDAL__GX_TYPE(t) ((t) >= TIDAL_PEER_MSG_HEARTBEAT && (t) <= TIDAL_PEER_MSG_GATHER_A)
struct tidal__gx_msg;
static const char *tidal__gx_payload(tidal__rd *r, tidal_peer_message *m,
                                     struct tidal__gx_msg *out);

/* A client call, in a form that travels: the FORWARD payload, decoded with its storage. */
typedef struct tidal__peer_req {
    uint32_t op, level, kind, flags, tenant, group, shard, type;
    tidal_id item, user, session;
    uint64_t seq, idem_seq;
    double weight;
    int64_t time_ns;
    uint32_t idem_len, n_cohort;
    uint8_t idem[TIDAL_IDEM_KEY_MAX];
    char ckey[TIDAL_COHORT_KEYS_MAX][TIDAL_NAME_MAX + 1];
    char cval[TIDAL_COHORT_KEYS_MAX][TIDAL_VALUE_MAX + 1];
    char name[TIDAL_NAME_MAX + 1];
    char text[TIDAL_PEER_TEXT_MAX + 1];
} tidal__peer_req;

typedef struct tidal__peer_member {
    uint32_t id, n_rep;
    tidal_node_ref rep[TIDAL_REPLICAS_MAX];
    char path[TIDAL_PATH_MAX + 1];
    tidal_db *db;
} tidal__peer_member;

typedef struct tidal__peer_tenant {
    uint32_t tenant;
    tidal_peer_tenant t;
} tidal__peer_tenant;

typedef struct tidal__peer_wait {
    uint32_t kind;            /* TIDAL__PEER_WAIT_* */
    uint64_t ticket;          /* the origin's */
    tidal_node_ref origin;    /* self: complete here; else REPLY to it... */
    tidal_node_ref via;       /* ...through the node that passed the call here */
    int64_t deadline_ns;      /* FORWARD, PROPOSAL: when it becomes UNKNOWN */
    uint32_t member, level;   /* WRITE */
    tidal_receipt receipt;    /* WRITE */
    uint64_t index, term;     /* PROPOSAL */
    uint32_t group, shard;    /* FORWARD: whose leader the answer names */
} tidal__peer_wait;

/* >>node_move: the coordinator's state and the hooks >>node calls (defined there). */
typedef struct tidal__peer_move tidal__peer_move;
static int tidal__move_type(uint32_t type);
static const char *tidal__move_get(tidal__rd *r, tidal_peer_message *m);
static tidal_result tidal__move_on_message(tidal_peer *p, tidal_node_ref from, const uint8_t *b,
                                           size_t len);
static tidal_result tidal__move_apply(tidal_peer *p, uint64_t index,
                                      const tidal_control_record *rec);
static tidal_result tidal__move_push(tidal_peer *p, const tidal__peer_tenant *t);
static void tidal__move_step(tidal_peer *p);
static tidal_result tidal__move_open(tidal_peer *p, const tidal_peer_config *cfg);
static void tidal__move_close(tidal_peer *p);

struct tidal_peer {
    tidal_allocator alloc;
    const tidal_env *env;
    tidal_node_ref self;
    uint32_t regions, shards;
    tidal_peer_group groups[TIDAL_PEER_GROUPS_MAX];
    uint32_t n_groups;
    tidal__peer_member m[TIDAL_PEER_GROUPS_MAX];
    uint32_t n_m;
    tidal_control *ctl;
    uint32_t *hint;           /* [group index * shards + shard]: leader node word + 1, 0 unknown */
    tidal__peer_tenant *ten;
    uint64_t n_ten, cap_ten;
    tidal__peer_wait *wait;
    uint64_t n_wait, cap_wait;
    tidal_peer_completion *done;
    uint64_t n_done, head_done, cap_done;
    uint64_t next_ticket, applied_index;
    struct { uint32_t origin; uint64_t ticket; } seen[TIDAL__PEER_SEEN_MAX]; /* a ring */
    uint32_t n_seen;
    int64_t timeout_ns;
    uint32_t topo_regions, topo_shards;
    int topo_bad;
    uint64_t msgs_corrupt, forwarded, executed, timeouts, replies_late, duplicates;
    char errmsg[256];
    struct tidal__gx *gx;     /* >>node_gather's state */
    tidal__peer_move *mv; /* >>node_move */
    /* Fan-out calls in flight (appended, issue 12), and what health reports of P1: */
    struct tidal__peer_fan *fan;
    uint64_t n_fan, cap_fan, fanouts;
    uint64_t records;         /* control records applied since open */
    uint64_t ctl_failed, ctl_failed_index;
    char ctl_failed_why[160];
};

/* >>node_gather's entry points from this section. */
static tidal_result tidal__gx_open(tidal_peer *p, const tidal_peer_config *cfg, char *msg,
                                   size_t cap);
static void tidal__gx_close(tidal_peer *p);
static uint64_t tidal__gx_pending(const tidal_peer *p);
static tidal_result tidal__gx_tick(tidal_peer *p);
static tidal_result tidal__gx_on_message(tidal_peer *p, tidal_node_ref from,
                                         const tidal_peer_message *m, const uint8_t *b);

static tidal_result tidal__peer_err(tidal_peer *p, tidal_result r, const char *fmt, ...) {
    va_list ap;
    TIDAL_ASSERT(p && fmt);
    va_start(ap, fmt);
    vsnprintf(p->errmsg, sizeof p->errmsg, fmt, ap);
    va_end(ap);
    return r;
}

static int tidal__peer_grow(tidal_peer *p, void **arr, uint64_t *cap, uint64_t need, size_t elem) {
    uint64_t n = *cap ? *cap : 8;
    void *q;
    TIDAL_ASSERT(elem > 0);
    if (need <= *cap) return 1;
    while (n < need) n *= 2;
    if (n > SIZE_MAX / elem) return 0;
    q = p->alloc.realloc(p->alloc.user, *arr, (size_t)*cap * elem, (size_t)n * elem);
    if (!q) return 0;
    *arr = q;
    *cap = n;
    return 1;
}

static int64_t tidal__peer_now(const tidal_peer *p) { return p->env->clock_mono_ns(p->env->user); }

static int tidal__peer_is_self(const tidal_peer *p, tidal_node_ref n) {
    return tidal__node_word(n) == tidal__node_word(p->self);
}

static int32_t tidal__peer_group_index(const tidal_peer *p, uint32_t id) {
    uint32_t i;
    for (i = 0; i < p->n_groups; i++)
        if (p->groups[i].id == id) return (int32_t)i;
    return -1;
}

static int32_t tidal__peer_member_index(const tidal_peer *p, uint32_t id) {
    uint32_t i;
    for (i = 0; i < p->n_m; i++)
        if (p->m[i].id == id) return (int32_t)i;
    return -1;
}

static tidal__peer_tenant *tidal__peer_tenant_find(const tidal_peer *p, uint32_t tenant) {
    uint64_t i;
    for (i = 0; i < p->n_ten; i++)
        if (p->ten[i].tenant == tenant) return &p->ten[i];
    return NULL;
}

/* ---- Messages ---- */

static size_t tidal__peer_put_str(uint8_t *w, const char *s, int len_bytes) {
    size_t n = s ? strlen(s) : 0;
    w = tidal__wr_le(w, n, len_bytes);
    (void)tidal__wr_bytes(w, s, n);
    return (size_t)len_bytes + n;
}

/* Encodes q as a FORWARD payload into buf (large enough: see tidal__peer_req_bytes). */
static size_t tidal__peer_req_put(const tidal__peer_req *q, uint8_t *buf) {
    uint8_t *w = buf;
    uint32_t i;
    w = tidal__wr_le(w, q->op, 1);
    w = tidal__wr_le(w, q->level, 1);
    w = tidal__wr_le(w, q->kind, 1);
    w = tidal__wr_le(w, q->flags, 1);
    w = tidal__wr_le(w, q->tenant, 4);
    w = tidal__wr_le(w, q->group, 4);
    w = tidal__wr_le(w, q->shard, 4);
    w = tidal__wr_le(w, q->type, 4);
    w = tidal__wr_le(w, q->item, 8);
    w = tidal__wr_le(w, q->user, 8);
    w = tidal__wr_le(w, q->session, 8);
    w = tidal__wr_le(w, q->seq, 8);
    w = tidal__wr_f64(w, q->weight);
    w = tidal__wr_le(w, (uint64_t)q->time_ns, 8);
    w = tidal__wr_le(w, q->idem_seq, 8);
    TIDAL_ASSERT((size_t)(w - buf) == TIDAL__PEER_FIXED);
    w = tidal__wr_le(w, q->idem_len, 2);
    w = tidal__wr_bytes(w, q->idem, q->idem_len);
    w = tidal__wr_le(w, q->n_cohort, 1);
    for (i = 0; i < q->n_cohort; i++) {
        w += tidal__peer_put_str(w, q->ckey[i], 1);
        w += tidal__peer_put_str(w, q->cval[i], 2);
    }
    w += tidal__peer_put_str(w, q->name, 1);
    w += tidal__peer_put_str(w, q->text, 2);
    return (size_t)(w - buf);
}

#define TIDAL__PEER_REQ_BYTES_MAX (TIDAL__PEER_FIXED + 2 + TIDAL_IDEM_KEY_MAX + 1 + \
    TIDAL_COHORT_KEYS_MAX * (3 + TIDAL_NAME_MAX + TIDAL_VALUE_MAX) + 1 + TIDAL_NAME_MAX + \
    2 + TIDAL_PEER_TEXT_MAX)
TIDAL__STATIC_ASSERT(peer_req_fits, TIDAL__MSG_HDR + TIDAL__PEER_REQ_BYTES_MAX <=
                     TIDAL_MSG_BYTES_MAX);

/* Reads a length-prefixed string with no NUL byte into out (cap - 1 bytes at most). */
static const char *tidal__peer_get_str(tidal__rd *r, int len_bytes, char *out, size_t cap) {
    size_t n = (size_t)tidal__rd_le(r, len_bytes);
    const char *s;
    if (r->bad) return "truncated";
    if (n >= cap) return "a string longer than its limit";
    s = tidal__rd_bytes(r, n);
    if (!s) return "truncated";
    if (n && memchr(s, 0, n)) return "a NUL byte in a string";
    memcpy(out, s, n);
    out[n] = 0;
    return NULL;
}

/* Which ops carry which fields (strictness: a field an op does not carry must be zero). */
static const char *tidal__peer_req_check(const tidal__peer_req *q) {
    uint32_t op = q->op;
    int sig = op == TIDAL_PEER_OP_SIGNAL || op == TIDAL_PEER_OP_SESSION_SIGNAL;
    int neg = op == TIDAL_PEER_OP_NEGATIVE_ADD || op == TIDAL_PEER_OP_NEGATIVE_REMOVE;
    int sess = op == TIDAL_PEER_OP_SESSION_SIGNAL ||
               (op >= TIDAL_PEER_OP_SESSION_OPEN && op <= TIDAL_PEER_OP_SESSION_END);
    int by_item = sig || neg || op == TIDAL_PEER_OP_ATTR_SET || op == TIDAL_PEER_OP_ITEM_DELETE;
    if (op < TIDAL_PEER_OP_SIGNAL || op > TIDAL_PEER_OP_USER_FORGET || op == TIDAL_PEER_OP_PROPOSE)
        return "unknown op";
    if (op == TIDAL_PEER_OP_RETRIEVE
            ? q->level != 0
            : q->level != TIDAL_ACK_LOCAL && q->level != TIDAL_ACK_QUORUM)
        return "level not LOCAL or QUORUM (0 for RETRIEVE)";
    if (neg ? q->kind < TIDAL_HIDE || q->kind > TIDAL_BLOCK : q->kind != 0)
        return "kind not HIDE, MUTE or BLOCK on a negative (0 elsewhere)";
    if (q->flags > 3) return "unknown flag bits";
    if ((q->flags & 1) && op != TIDAL_PEER_OP_ATTR_SET) return "value flag off ATTR_SET";
    if ((q->flags & 2 || q->n_cohort || q->type || q->weight != 0) && !sig)
        return "signal fields on an op without";
    if ((q->idem_len || q->idem_seq) && !sig && !neg && op != TIDAL_PEER_OP_ATTR_SET)
        return "an idempotency key on an op without";
    if (q->time_ns && !sig && op != TIDAL_PEER_OP_SESSION_OPEN)
        return "an event time on an op without";
    if (q->session ? !sess : sess && op != TIDAL_PEER_OP_SESSION_SIGNAL)
        return "session on an op without, or missing on a session op";
    if (q->seq && op != TIDAL_PEER_OP_SESSION_SIGNAL && op != TIDAL_PEER_OP_SESSION_OPEN &&
        op != TIDAL_PEER_OP_SESSION_NOTE)
        return "session fields on an op without";
    if (op == TIDAL_PEER_OP_SESSION_OPEN &&
        (!q->user || q->time_ns <= 0 || q->seq > (uint64_t)(INT64_MAX - q->time_ns)))
        return "session open without user, start or with a ttl past int64";
    if (q->user && (op == TIDAL_PEER_OP_RETRIEVE || op == TIDAL_PEER_OP_ITEM_DELETE ||
                    op == TIDAL_PEER_OP_SESSION_NOTE || op == TIDAL_PEER_OP_SESSION_END))
        return "user on an op without";
    if (!q->user && op == TIDAL_PEER_OP_USER_FORGET) return "user forget of user 0";
    if (q->name[0] && op != TIDAL_PEER_OP_ATTR_SET) return "name on an op without";
    if (q->text[0] && op != TIDAL_PEER_OP_ATTR_SET && op != TIDAL_PEER_OP_RETRIEVE &&
        op != TIDAL_PEER_OP_SESSION_NOTE)
        return "text on an op without";
    if (q->text[0] && op == TIDAL_PEER_OP_ATTR_SET && !(q->flags & 1))
        return "an attribute value without the value flag";
    if (op == TIDAL_PEER_OP_ATTR_SET && strlen(q->text) > TIDAL_VALUE_MAX)
        return "attribute value above TIDAL_VALUE_MAX";
    if (q->n_cohort && !(q->flags & 2)) return "cohort tags without the cohort flag";
    if (by_item ? !q->item : q->item != 0)
        return "item zero on an op routed by item, or set on an op without";
    if (sig && !(q->weight >= -TIDAL_WEIGHT_MAX && q->weight <= TIDAL_WEIGHT_MAX))
        return "weight not finite within TIDAL_WEIGHT_MAX";
    if (q->group > 255) return "group above 255";
    return NULL;
}

static const char *tidal__peer_req_get(tidal__rd *r, tidal__peer_req *q) {
    uint32_t i;
    const char *why;
    memset(q, 0, sizeof *q);
    q->op = tidal__rd_u8(r);
    q->level = tidal__rd_u8(r);
    q->kind = tidal__rd_u8(r);
    q->flags = tidal__rd_u8(r);
    q->tenant = tidal__rd_u32(r);
    q->group = tidal__rd_u32(r);
    q->shard = tidal__rd_u32(r);
    q->type = tidal__rd_u32(r);
    q->item = tidal__rd_u64(r);
    q->user = tidal__rd_u64(r);
    q->session = tidal__rd_u64(r);
    q->seq = tidal__rd_u64(r);
    q->weight = tidal__rd_f64(r);
    q->time_ns = (int64_t)tidal__rd_u64(r);
    q->idem_seq = tidal__rd_u64(r);
    q->idem_len = (uint32_t)tidal__rd_le(r, 2);
    if (r->bad) return "truncated";
    if (q->idem_len > TIDAL_IDEM_KEY_MAX) return "idempotency key above TIDAL_IDEM_KEY_MAX";
    if (!tidal__rd_bytes(r, q->idem_len)) return "truncated idempotency key";
    memcpy(q->idem, r->p + r->pos - q->idem_len, q->idem_len);
    q->n_cohort = tidal__rd_u8(r);
    if (q->n_cohort > TIDAL_COHORT_KEYS_MAX) return "cohort count above TIDAL_COHORT_KEYS_MAX";
    for (i = 0; i < q->n_cohort; i++) {
        if ((why = tidal__peer_get_str(r, 1, q->ckey[i], sizeof q->ckey[i])) != NULL) return why;
        if ((why = tidal__peer_get_str(r, 2, q->cval[i], sizeof q->cval[i])) != NULL) return why;
        if (!q->ckey[i][0]) return "an empty cohort key";
    }
    if ((why = tidal__peer_get_str(r, 1, q->name, sizeof q->name)) != NULL) return why;
    if ((why = tidal__peer_get_str(r, 2, q->text, sizeof q->text)) != NULL) return why;
    if (r->pos != r->n) return "bytes after the last field";
    TIDAL_ASSERT(q->n_cohort <= TIDAL_COHORT_KEYS_MAX && q->idem_len <= TIDAL_IDEM_KEY_MAX);
    return tidal__peer_req_check(q);
}

static size_t tidal__peer_reply_put(const tidal_peer_completion *c, uint8_t *buf) {
    uint8_t *w = buf;
    uint32_t i, flags = (c->has_redirect ? 1u : 0u) | (c->duplicate ? 2u : 0u);
    size_t n = strlen(c->message);
    TIDAL_ASSERT(c->hit_count <= TIDAL_PEER_HITS_MAX);
    if (n > TIDAL__PEER_MSG_MAX) n = TIDAL__PEER_MSG_MAX;
    w = tidal__wr_le(w, c->outcome, 1);
    w = tidal__wr_le(w, c->acked, 1);
    w = tidal__wr_le(w, flags, 1);
    w = tidal__wr_le(w, 0, 1);
    w = tidal__wr_le(w, (uint32_t)(int32_t)c->result, 4);
    w = tidal__wr_le(w, tidal__node_word(c->redirect), 4);
    w = tidal__wr_le(w, tidal__node_word(c->executed_by), 4);
    w = tidal__wr_le(w, c->id.hi, 8);
    w = tidal__wr_le(w, c->id.lo, 8);
    w = tidal__wr_le(w, c->index, 8);
    w = tidal__wr_le(w, c->hit_count, 4);
    TIDAL_ASSERT((size_t)(w - buf) == TIDAL__PEER_REPLY_FIXED - 1);
    for (i = 0; i < c->hit_count; i++) {
        w = tidal__wr_le(w, c->hits[i].item, 8);
        w = tidal__wr_f64(w, c->hits[i].score);
    }
    w = tidal__wr_le(w, n, 1);
    w = tidal__wr_bytes(w, c->message, n);
    return (size_t)(w - buf);
}

static const char *tidal__peer_reply_get(tidal__rd *r, tidal_peer_completion *c) {
    uint32_t flags, i;
    int32_t res;
    const char *why;
    memset(c, 0, sizeof *c);
    c->outcome = tidal__rd_u8(r);
    c->acked = tidal__rd_u8(r);
    flags = tidal__rd_u8(r);
    if (tidal__rd_u8(r) != 0 && !r->bad) return "reserved byte not zero";
    res = (int32_t)tidal__rd_u32(r);
    tidal__ctl_ref(tidal__rd_u32(r), &c->redirect);
    tidal__ctl_ref(tidal__rd_u32(r), &c->executed_by);
    c->id.hi = tidal__rd_u64(r);
    c->id.lo = tidal__rd_u64(r);
    c->index = tidal__rd_u64(r);
    c->hit_count = tidal__rd_u32(r);
    if (r->bad) return "truncated";
    if (c->outcome < TIDAL_PEER_DONE_OK || c->outcome > TIDAL_PEER_DONE_UNKNOWN)
        return "unknown outcome";
    if (c->acked > TIDAL_ACK_QUORUM) return "unknown ack level";
    if (flags > 3) return "unknown flag bits";
    if (res < (int32_t)TIDAL_RESULT_MIN_ || res > (int32_t)TIDAL_PENDING) return "unknown result";
    c->result = (tidal_result)res;
    if ((c->outcome == TIDAL_PEER_DONE_OK) != (c->result == TIDAL_OK))
        return "result and outcome disagree";
    if (c->outcome == TIDAL_PEER_DONE_FAILED && c->acked) return "a failed call acknowledged";
    if (!(flags & 1) && c->redirect.region + c->redirect.shard) return "redirect without its flag";
    if (c->hit_count > TIDAL_PEER_HITS_MAX) return "hit count above TIDAL_PEER_HITS_MAX";
    c->has_redirect = (int)(flags & 1);
    c->duplicate = (int)(flags >> 1 & 1);
    for (i = 0; i < c->hit_count; i++) {
        c->hits[i].item = tidal__rd_u64(r);
        c->hits[i].score = tidal__rd_f64(r);
        if (!r->bad && (!c->hits[i].item || c->hits[i].score != c->hits[i].score))
            return "a hit with item 0 or a NaN score";
    }
    if ((why = tidal__peer_get_str(r, 1, c->message, sizeof c->message)) != NULL) return why;
    TIDAL_ASSERT(c->hit_count <= TIDAL_PEER_HITS_MAX && strlen(c->message) <= TIDAL__PEER_MSG_MAX);
    return r->pos != r->n ? "bytes after the last field" : NULL;
}

/* Encodes a whole message (header + payload) into a fresh buffer; NULL when out of memory. */
static uint8_t *tidal__peer_msg_new(tidal_peer *p, uint32_t type, tidal_node_ref to,
                                    tidal_node_ref origin, uint32_t hops, uint64_t ticket,
                                    const uint8_t *payload, size_t n, size_t *len) {
    uint8_t *b = (uint8_t *)p->alloc.alloc(p->alloc.user, TIDAL__MSG_HDR + n), *w = b, sum[32];
    TIDAL_ASSERT(n <= TIDAL_MSG_BYTES_MAX - TIDAL__MSG_HDR);
    if (!b) return NULL;
    memset(b, 0, TIDAL__MSG_HDR);
    w = tidal__wr_le(w, TIDAL__MSG_MAGIC, 4);
    w = tidal__wr_le(w, TIDAL_WIRE_FORMAT_VERSION, 2);
    w = tidal__wr_le(w, TIDAL__MSG_HDR, 2);
    w = tidal__wr_le(w, type, 2);
    w = tidal__wr_le(w, TIDAL_PEER_GROUP, 2);
    w = tidal__wr_le(w, tidal__node_word(p->self), 4);
    w = tidal__wr_le(w, tidal__node_word(to), 4);
    w = tidal__wr_le(w, tidal__node_word(origin), 4);
    w = tidal__wr_le(w, hops, 4);
    w = tidal__wr_le(w, ticket, 8);
    w = tidal__wr_le(w, n, 4);
    TIDAL_ASSERT(w == b + 40);
    (void)tidal__wr_bytes(b + TIDAL__MSG_HDR, payload, n);
    (void)tidal__msg_sum(b, b + TIDAL__MSG_HDR, n, sum);
    memcpy(b + TIDAL__MSG_SUM_AT, sum, 32);
    *len = TIDAL__MSG_HDR + n;
    return b;
}

static void tidal__peer_send(tidal_peer *p, uint32_t type, tidal_node_ref to, tidal_node_ref origin,
                             uint32_t hops, uint64_t ticket, const uint8_t *payload, size_t n) {
    size_t len = 0;
    uint8_t *b;
    TIDAL_ASSERT(type >= TIDAL_PEER_MSG_FORWARD && type <= TIDAL_PEER_MSG_PROPOSE && ticket);
    b = tidal__peer_msg_new(p, type, to, origin, hops, ticket, payload, n, &len);
    if (!b) return; /* a lost message: the origin's timeout covers it */
    (void)p->env->message_send(p->env->user, to, b, len);
    p->alloc.free(p->alloc.user, b, len);
}

/* Decodes the envelope and the payload: the request (FORWARD), the outcome (REPLY) or the
   record (PROPOSE) into whichever of q, c, rec is given. NULL, or why (*at: the byte). */
static const char *tidal__peer_decode(const uint8_t *b, size_t len, tidal_peer_message *m,
                                      tidal__peer_req *q, tidal_peer_completion *c,
                                      tidal_control_record *rec, size_t *at) {
    tidal__rd r;
    uint8_t sum[32];
    size_t i;
    const char *why;
    memset(m, 0, sizeof *m);
    *at = 0;
    if (len < TIDAL__MSG_HDR) return "shorter than the 120-byte header";
    if (len > TIDAL_MSG_BYTES_MAX) return "longer than TIDAL_MSG_BYTES_MAX";
    tidal__rd_init(&r, b, len);
    if (tidal__rd_u32(&r) != TIDAL__MSG_MAGIC) return "bad magic";
    *at = 4;
    if (tidal__rd_le(&r, 2) != TIDAL_WIRE_FORMAT_VERSION) return "unknown wire version";
    *at = 6;
    if (tidal__rd_le(&r, 2) != TIDAL__MSG_HDR) return "bad header size";
    m->type = (uint32_t)tidal__rd_le(&r, 2);
    *at = 10;
    if (tidal__rd_le(&r, 2) != TIDAL_PEER_GROUP) return "not the peer group";
    tidal__ctl_ref(tidal__rd_u32(&r), &m->from);
    tidal__ctl_ref(tidal__rd_u32(&r), &m->to);
    tidal__ctl_ref(tidal__rd_u32(&r), &m->origin);
    m->hops = tidal__rd_u32(&r);
    m->ticket = tidal__rd_u64(&r);
    m->payload_len = tidal__rd_u32(&r);
    *at = 36;
    if (m->payload_len != len - TIDAL__MSG_HDR) return "payload length mismatch";
    for (i = 40; i < TIDAL__MSG_SUM_AT; i++)
        if (b[i]) return *at = i, "reserved header byte not zero";
    *at = TIDAL__MSG_SUM_AT;
    (void)tidal__msg_sum(b, b + TIDAL__MSG_HDR, m->payload_len, sum);
    if (memcmp(sum, b + TIDAL__MSG_SUM_AT, 32)) return "checksum mismatch";
    *at = 8;
    if ((m->type < TIDAL_PEER_MSG_FORWARD || m->type > TIDAL_PEER_MSG_PROPOSE) &&
        !TIDAL__GX_TYPE(m->type) /* >>node_gather's */ &&
        !tidal__move_type(m->type)) /* >>node_move's types */
        return "unknown message type";
    *at = 24;
    if (m->hops > (m->type == TIDAL_PEER_MSG_FORWARD ? TIDAL__PEER_HOPS_MAX
                   : m->type == TIDAL_PEER_MSG_REPLY || m->type == TIDAL_PEER_MSG_INSTALL ||
                     m->type == TIDAL_PEER_MSG_EVENT ? 1u : 0u))
        return "hops above the limit of its type (FORWARD 2, REPLY, INSTALL and EVENT 1, "
               "others 0)";
    if (!m->ticket) return *at = 28, "ticket 0";
    tidal__rd_init(&r, b + TIDAL__MSG_HDR, m->payload_len);
    if (m->type == TIDAL_PEER_MSG_FORWARD) {
        why = tidal__peer_req_get(&r, q);
        m->op = q->op, m->tenant = q->tenant, m->group = q->group, m->shard = q->shard;
    } else if (m->type == TIDAL_PEER_MSG_REPLY) {
        why = tidal__peer_reply_get(&r, c);
        m->outcome = c->outcome, m->result = c->result, m->hit_count = c->hit_count;
    } else if (TIDAL__GX_TYPE(m->type)) { /* >>node_gather: checked here, taken there */
        why = tidal__gx_payload(&r, m, NULL);
    } else if (tidal__move_type(m->type)) { /* >>node_move */
        why = tidal__move_get(&r, m);
    } else {
        size_t n = tidal__rd_u8(&r);
        const char *rb = tidal__rd_bytes(&r, n);
        m->op = TIDAL_PEER_OP_PROPOSE;
        why = !rb ? "truncated record"
            : r.pos != r.n ? "bytes after the record"
            : tidal_control_record_decode(rb, n, rec, NULL, 0) != TIDAL_OK
                ? "record does not decode"
            : rec->kind == TIDAL_CONTROL_NOOP ? "a NOOP record" : NULL;
    }
    *at = TIDAL__MSG_HDR + r.pos;
    return why;
}

/* The decode scratch: large (a request holds its strings), so kept off the stack. */
typedef struct tidal__peer_scratch {
    tidal__peer_req q;
    tidal_peer_completion c;
    tidal_control_record rec;
} tidal__peer_scratch;

TIDAL_API tidal_result tidal_peer_message_decode(const void *bytes, size_t len,
                                                 tidal_peer_message *m, char *msg,
                                                 size_t msg_cap) {
    tidal__peer_scratch *s;
    size_t at = 0;
    const char *why;
    if (!bytes || !m) return TIDAL_ERR_INVALID;
    s = (tidal__peer_scratch *)tidal__default_alloc(NULL, sizeof *s);
    if (!s) return TIDAL_ERR_NOMEM;
    why = tidal__peer_decode((const uint8_t *)bytes, len, m, &s->q, &s->c, &s->rec, &at);
    tidal__default_free(NULL, s, sizeof *s);
    if (!why) return TIDAL_OK;
    tidal__ctl_why(msg, msg_cap, "peer message (type %u, %zu bytes): %s at byte %zu", m->type,
                   len, why, at);
    memset(m, 0, sizeof *m);
    return TIDAL_ERR_CORRUPT;
}

/* ---- Completions and waits ---- */

/* Room for every completion the calls in flight can still produce, so that completing
   never needs memory (P3: every ticket completes exactly once). */
static int tidal__peer_reserve(tidal_peer *p) {
    if (p->head_done) { /* drop what the host polled already */
        memmove(p->done, p->done + p->head_done,
                (size_t)(p->n_done - p->head_done) * sizeof *p->done);
        p->n_done -= p->head_done;
        p->head_done = 0;
    }
    TIDAL_ASSERT(p->n_done <= p->cap_done && p->n_wait <= p->cap_wait);
    return tidal__peer_grow(p, (void **)&p->done, &p->cap_done,
                            p->n_done + p->n_wait + tidal__gx_pending(p) /* >>node_gather */ + 2,
                            sizeof *p->done) &&
           tidal__peer_grow(p, (void **)&p->wait, &p->cap_wait, p->n_wait + 1, sizeof *p->wait);
}

/* A fan-out call (P2, issue 12): one call per shard of the owning group, their tickets
   ticket + 1 + shard; their completions are taken here and folded into the call's one. */
typedef struct tidal__peer_fan {
    uint64_t ticket;          /* the caller's */
    uint32_t n, left;         /* shards, and those not completed yet */
    uint32_t applied, dups;   /* shards that completed OK, of them duplicates */
    uint32_t acked;           /* the lowest level an OK shard reached */
    uint32_t fail_shard;      /* the lowest refusing shard (UINT32_MAX: none)... */
    tidal_result fail_result;
    int fail_has_redirect;
    tidal_node_ref fail_redirect;
    char fail_msg[100];       /* ...and its message */
    uint32_t unknown, unknown_shard; /* shards without an answer, the lowest of them */
    tidal_event_id id;        /* shard 0's event */
} tidal__peer_fan;

static void tidal__peer_finish(tidal_peer *p, tidal_node_ref origin, tidal_node_ref via,
                               uint64_t ticket, tidal_peer_completion *c);

/* Folds the completion of one shard's call into its fan-out call; 0 when ticket is no
   shard's call. The last shard completes the fan-out call (see tidal_peer_negative_write). */
static int tidal__peer_fan_take(tidal_peer *p, uint64_t ticket, const tidal_peer_completion *c) {
    uint64_t i;
    tidal__peer_fan *f = NULL;
    tidal_peer_completion out;
    uint32_t shard;
    for (i = 0; i < p->n_fan && !f; i++)
        if (ticket > p->fan[i].ticket && ticket - p->fan[i].ticket <= p->fan[i].n) f = &p->fan[i];
    if (!f) return 0;
    shard = (uint32_t)(ticket - f->ticket - 1);
    TIDAL_ASSERT(f->left > 0 && shard < f->n);
    f->left--;
    if (c->outcome == TIDAL_PEER_DONE_OK) {
        f->applied++;
        f->dups += c->duplicate != 0;
        if (c->acked < f->acked) f->acked = c->acked;
        if (shard == 0) f->id = c->id;
    } else if (c->outcome == TIDAL_PEER_DONE_FAILED) {
        if (shard < f->fail_shard) {
            f->fail_shard = shard, f->fail_result = c->result;
            f->fail_has_redirect = c->has_redirect, f->fail_redirect = c->redirect;
            snprintf(f->fail_msg, sizeof f->fail_msg, "%.99s", c->message);
        }
    } else if (f->unknown++ == 0 || shard < f->unknown_shard) {
        f->unknown_shard = shard;
    }
    if (f->left) return 1;
    memset(&out, 0, sizeof out);
    out.executed_by = p->self;
    if (f->fail_shard != UINT32_MAX) {
        out.outcome = TIDAL_PEER_DONE_FAILED;
        out.result = f->fail_result;
        out.has_redirect = f->fail_has_redirect, out.redirect = f->fail_redirect;
        snprintf(out.message, sizeof out.message, "shard %u (%u/%u applied it): %.70s",
                 f->fail_shard, f->applied, f->n, f->fail_msg);
    } else if (f->unknown) {
        out.outcome = TIDAL_PEER_DONE_UNKNOWN;
        out.result = TIDAL_ERR_UNAVAILABLE;
        snprintf(out.message, sizeof out.message, "%u of %u shards gave no answer (shard %u "
                 "first): retry the same call", f->unknown, f->n, f->unknown_shard);
    } else {
        out.outcome = TIDAL_PEER_DONE_OK;
        out.result = TIDAL_OK;
        out.acked = f->acked;
        out.id = f->id;
        out.duplicate = f->dups == f->n;
    }
    ticket = f->ticket;
    *f = p->fan[--p->n_fan];
    tidal__peer_finish(p, p->self, p->self, ticket, &out);
    return 1;
}

/* Hands c to the call's origin: a completion here, else a REPLY back the way the call came
   (via: the node that passed it here, which relays it to the origin when it is not the
   origin itself, so an answer reaches the origin wherever the call could reach). */
static void tidal__peer_finish(tidal_peer *p, tidal_node_ref origin, tidal_node_ref via,
                               uint64_t ticket, tidal_peer_completion *c) {
    TIDAL_ASSERT(ticket && c->outcome >= TIDAL_PEER_DONE_OK &&
                 c->outcome <= TIDAL_PEER_DONE_UNKNOWN);
    c->ticket = ticket;
    if (tidal__peer_is_self(p, origin)) {
        if (p->n_fan && tidal__peer_fan_take(p, ticket, c)) return; /* one shard's of many */
        if (p->head_done == p->n_done) p->head_done = p->n_done = 0;
        TIDAL_ASSERT(p->n_done < p->cap_done); /* reserved when the call was taken */
        p->done[p->n_done++] = *c;
    } else {
        uint8_t *b = (uint8_t *)p->alloc.alloc(p->alloc.user, TIDAL__PEER_REPLY_FIXED +
                                                16 * TIDAL_PEER_HITS_MAX + 1 + TIDAL__PEER_MSG_MAX);
        if (!b) return; /* the origin times out into UNKNOWN */
        tidal__peer_send(p, TIDAL_PEER_MSG_REPLY, via, origin, 0, ticket, b,
                         tidal__peer_reply_put(c, b));
        p->alloc.free(p->alloc.user, b, TIDAL__PEER_REPLY_FIXED + 16 * TIDAL_PEER_HITS_MAX + 1 +
                                            TIDAL__PEER_MSG_MAX);
    }
}

static void tidal__peer_fail(tidal_peer *p, tidal_node_ref origin, tidal_node_ref via,
                             uint64_t ticket,
                             uint32_t outcome, tidal_result r, const tidal_node_ref *redirect,
                             const char *fmt, ...) {
    tidal_peer_completion c;
    va_list ap;
    TIDAL_ASSERT(outcome != TIDAL_PEER_DONE_OK && r != TIDAL_OK);
    memset(&c, 0, sizeof c);
    c.outcome = outcome;
    c.result = r;
    c.executed_by = p->self;
    if (redirect) c.has_redirect = 1, c.redirect = *redirect;
    va_start(ap, fmt);
    vsnprintf(c.message, sizeof c.message, fmt, ap);
    va_end(ap);
    tidal__peer_finish(p, origin, via, ticket, &c);
}

static tidal__peer_wait *tidal__peer_wait_add(tidal_peer *p, uint32_t kind, tidal_node_ref origin,
                                              tidal_node_ref via, uint64_t ticket) {
    tidal__peer_wait *w;
    TIDAL_ASSERT(kind >= TIDAL__PEER_WAIT_FORWARD && kind <= TIDAL__PEER_WAIT_PROPOSAL && ticket);
    if (!tidal__peer_grow(p, (void **)&p->wait, &p->cap_wait, p->n_wait + 1, sizeof *p->wait))
        return NULL;
    w = &p->wait[p->n_wait++];
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->origin = origin;
    w->via = via;
    w->ticket = ticket;
    w->deadline_ns = tidal__peer_now(p) + p->timeout_ns;
    return w;
}

/* Where a wait stands: 1 when it finished (and was handed on), 0 while it waits. */
static int tidal__peer_wait_check(tidal_peer *p, tidal__peer_wait *w, int64_t now) {
    tidal_peer_completion c;
    tidal_result r;
    memset(&c, 0, sizeof c);
    c.executed_by = p->self;
    if (w->kind == TIDAL__PEER_WAIT_FORWARD) {
        if (now < w->deadline_ns) return 0;
        p->timeouts++;
        if (w->group != UINT32_MAX) /* ask the region's own member next time, not the same */
            p->hint[(size_t)w->group * p->shards + w->shard] = 0;
        tidal__peer_fail(p, w->origin, w->via, w->ticket,
                         TIDAL_PEER_DONE_UNKNOWN, TIDAL_ERR_UNAVAILABLE,
                         NULL, "no answer within %lld ms: it may or may not have applied",
                         (long long)(p->timeout_ns / 1000000));
        return 1;
    }
    if (w->kind == TIDAL__PEER_WAIT_PROPOSAL) {
        r = tidal_control_proposal_status(p->ctl, w->index, w->term);
        if (r == TIDAL_PENDING && now < w->deadline_ns) return 0;
        c.index = w->index;
        c.outcome = r == TIDAL_OK ? TIDAL_PEER_DONE_OK : r == TIDAL_ERR_NOT_FOUND
                    ? TIDAL_PEER_DONE_FAILED : TIDAL_PEER_DONE_UNKNOWN;
        c.result = r == TIDAL_PENDING ? TIDAL_ERR_UNAVAILABLE : r;
        c.acked = r == TIDAL_OK ? TIDAL_ACK_QUORUM : 0;
        if (r == TIDAL_ERR_NOT_FOUND)
            snprintf(c.message, sizeof c.message, "proposal %llu of term %llu was superseded: "
                     "propose again", (unsigned long long)w->index, (unsigned long long)w->term);
        else if (r != TIDAL_OK)
            snprintf(c.message, sizeof c.message, "proposal %llu not committed in time",
                     (unsigned long long)w->index);
        tidal__peer_finish(p, w->origin, w->via, w->ticket, &c);
        return 1;
    }
    TIDAL_ASSERT(w->kind == TIDAL__PEER_WAIT_WRITE && w->member < p->n_m);
    r = tidal_write_status(p->m[w->member].db, &w->receipt, w->level);
    if (r == TIDAL_PENDING) return 0;
    c.id = w->receipt.id;
    c.duplicate = w->receipt.duplicate;
    c.has_redirect = 1;
    c.redirect = p->self;
    c.outcome = r == TIDAL_OK ? TIDAL_PEER_DONE_OK : TIDAL_PEER_DONE_UNKNOWN;
    c.result = r;
    c.acked = r == TIDAL_OK ? w->level : TIDAL_ACK_LOCAL;
    if (r != TIDAL_OK)
        snprintf(c.message, sizeof c.message, "taken (LOCAL) but not acknowledged at level %u: "
                 "%s", w->level, tidal_strerror(r));
    tidal__peer_finish(p, w->origin, w->via, w->ticket, &c);
    return 1;
}

/* Checks every wait; finished ones leave the table (in order, so completions come out in
   the order their calls finish, deterministically). */
static void tidal__peer_progress(tidal_peer *p) {
    int64_t now = tidal__peer_now(p);
    uint64_t i, k = 0;
    for (i = 0; i < p->n_wait; i++) {
        tidal__peer_wait w = p->wait[i];
        if (!tidal__peer_wait_check(p, &w, now)) p->wait[k++] = w;
    }
    TIDAL_ASSERT(k <= p->n_wait);
    p->n_wait = k;
}

/* ---- Control records (P1) ---- */

/* isim fix: every member this node runs of a group that neither owns the tenant nor takes
   part in its move (groups a and b) holds it SEALED, so a write that reaches such a member
   directly is refused with TIDAL_ERR_MOVED (before, it had no config there and took the
   write: prop_migration's stray_write; test_node t_stray_member_sealed). */
static tidal_result tidal__peer_seal_others(tidal_peer *p, const tidal__peer_tenant *t,
                                            uint32_t a, uint32_t b, uint64_t version) {
    tidal_result first = TIDAL_OK;
    uint32_t i, g;
    TIDAL_ASSERT(t->t.has_placement && t->t.has_config);
    for (i = 0; i < p->n_m; i++) {
        tidal_tenant_config cfg;
        tidal_result r;
        if (p->m[i].id == a || p->m[i].id == b) continue;
        for (g = 0; g < p->n_groups && p->groups[g].id != p->m[i].id; g++) {}
        TIDAL_ASSERT(g < p->n_groups);
        memset(&cfg, 0, sizeof cfg);
        cfg.tenant = t->tenant;
        cfg.placement = p->groups[g].placement;
        cfg.rate_per_s = t->t.rate_per_s;
        cfg.burst = t->t.burst;
        cfg.entity_quota = t->t.entity_quota;
        cfg.config_version = version;
        cfg.state = TIDAL_TENANT_SEALED;
        r = tidal_tenant_set(p->m[i].db, &cfg);
        if (r != TIDAL_OK && r != TIDAL_ERR_STALE_CONFIG && first == TIDAL_OK)
            first = tidal__peer_err(p, r, "tenant %u on group %u: %s", t->tenant, p->m[i].id,
                                    tidal_errmsg(p->m[i].db));
    }
    return first;
}

/* Pushes a tenant's config to this node's member of its owning group, if both are known
   (and SEALED to its other members: tidal__peer_seal_others). */
static tidal_result tidal__peer_push(tidal_peer *p, const tidal__peer_tenant *t) {
    tidal_tenant_config cfg;
    int32_t mi;
    tidal_result r;
    TIDAL_ASSERT(t->t.state <= TIDAL_TENANT_SEALED); /* a committed record decoded */
    if (!t->t.has_placement || !t->t.has_config) return TIDAL_OK;
    r = tidal__peer_seal_others(p, t, t->t.group, t->t.group, t->t.config_index);
    if (r != TIDAL_OK) return r;
    mi = tidal__peer_member_index(p, t->t.group);
    if (mi < 0) return TIDAL_OK; /* this node runs no member of the owner */
    memset(&cfg, 0, sizeof cfg);
    cfg.tenant = t->tenant;
    cfg.placement = t->t.placement;
    cfg.rate_per_s = t->t.rate_per_s;
    cfg.burst = t->t.burst;
    cfg.entity_quota = t->t.entity_quota;
    cfg.config_version = t->t.config_index;
    cfg.state = t->t.state;
    r = tidal_tenant_set(p->m[mi].db, &cfg);
    /* STALE: the member already holds a newer record's config (a reopen replays the log). */
    if (r == TIDAL_OK || r == TIDAL_ERR_STALE_CONFIG) return TIDAL_OK;
    return tidal__peer_err(p, r, "tenant %u on group %u: %s", t->tenant, t->t.group,
                           tidal_errmsg(p->m[mi].db));
}

static tidal_result tidal__peer_apply_one(tidal_peer *p, uint64_t index,
                                          const tidal_control_record *rec) {
    tidal__peer_tenant *t;
    TIDAL_ASSERT(index > p->applied_index);
    p->applied_index = index;
    if (rec->kind == TIDAL_CONTROL_TOPOLOGY) {
        p->topo_regions = rec->regions;
        p->topo_shards = rec->shards;
        p->topo_bad = rec->regions != p->regions || rec->shards != p->shards;
        if (p->topo_bad)
            return tidal__peer_err(p, TIDAL_ERR_STALE_CONFIG, "control record %llu: topology "
                                   "%u x %u, this node runs %u x %u: reopen it with the new "
                                   "config", (unsigned long long)index, rec->regions,
                                   rec->shards, p->regions, p->shards);
        return TIDAL_OK;
    }
    if (rec->kind == TIDAL_CONTROL_MIGRATION) return tidal__move_apply(p, index, rec);
    if (rec->kind != TIDAL_CONTROL_PLACEMENT && rec->kind != TIDAL_CONTROL_TENANT)
        return TIDAL_OK;
    t = tidal__peer_tenant_find(p, rec->tenant);
    if (!t) {
        if (p->n_ten >= TIDAL_TENANTS_CONFIG_MAX ||
            !tidal__peer_grow(p, (void **)&p->ten, &p->cap_ten, p->n_ten + 1, sizeof *p->ten))
            return tidal__peer_err(p, TIDAL_ERR_LIMIT, "control record %llu: tenant %u does "
                                   "not fit the routing table", (unsigned long long)index,
                                   rec->tenant);
        t = &p->ten[p->n_ten++];
        memset(t, 0, sizeof *t);
        t->tenant = rec->tenant;
    }
    if (rec->kind == TIDAL_CONTROL_PLACEMENT) {
        t->t.has_placement = 1;
        t->t.group = rec->group;
        t->t.placement = rec->placement;
        t->t.placement_index = index;
    } else {
        t->t.has_config = 1;
        t->t.state = rec->state;
        t->t.rate_per_s = rec->rate_per_s;
        t->t.burst = rec->burst;
        t->t.entity_quota = rec->entity_quota;
        t->t.config_index = index;
    }
    if (t->t.move_phase) return tidal__move_push(p, t); /* >>node_move: source and target */
    return tidal__peer_push(p, t);
}

/* Applies every record the control member has committed and not handed out yet. */
static tidal_result tidal__peer_apply(tidal_peer *p) {
    tidal_control_record rec;
    uint64_t index;
    tidal_result r, first = TIDAL_OK;
    while (tidal_control_poll(p->ctl, &index, &rec) == TIDAL_OK) {
        TIDAL_ASSERT(rec.kind >= TIDAL_CONTROL_TOPOLOGY && rec.kind <= TIDAL_CONTROL_KIND_MAX);
        p->records++;
        r = tidal__peer_apply_one(p, index, &rec);
        if (r == TIDAL_OK) continue;
        /* A record this node cannot apply (a member refuses it) is health's to report, not
           every later call's; only a fault of the node itself (memory, its disk) returns. */
        p->ctl_failed++;
        p->ctl_failed_index = index;
        snprintf(p->ctl_failed_why, sizeof p->ctl_failed_why, "record %llu (kind %u): %s: "
                 "%.100s", (unsigned long long)index, rec.kind, tidal_strerror(r), p->errmsg);
        if (first == TIDAL_OK && (r == TIDAL_ERR_NOMEM || r == TIDAL_ERR_FATAL ||
                                  r == TIDAL_ERR_IO_READ || r == TIDAL_ERR_IO_WRITE ||
                                  r == TIDAL_ERR_IO_FSYNC || r == TIDAL_ERR_IO_NOSPACE))
            first = r;
    }
    TIDAL_ASSERT(p->ctl_failed <= p->records && p->records <= p->applied_index);
    return first;
}

/* ---- Routing, forwarding, execution (P2) ---- */

/* A session start (SESSION_OPEN) or end as tidal_session_open / _end write them, with a
   receipt so the call can wait for its level (the public calls take none). */
static tidal_result tidal__peer_session_event(tidal_db *db, const tidal__peer_req *q,
                                              tidal_receipt *rc) {
    tidal__event ev;
    tidal_result r;
    TIDAL_ASSERT(q->op == TIDAL_PEER_OP_SESSION_OPEN || q->op == TIDAL_PEER_OP_SESSION_END);
    memset(&ev, 0, sizeof ev);
    ev.tenant = q->tenant;
    ev.entity = q->session;
    ev.hlc = tidal__hlc_now(db);
    if (q->op == TIDAL_PEER_OP_SESSION_END) {
        if (!tidal__sess_writable(db, q->tenant, q->session, 0, &r)) return r;
        ev.kind = TIDAL__EV_SESSION_END;
        ev.type = 1; /* ended by a call */
        ev.time_ns = ev.hlc.wall_ns;
        ev.id = tidal__session_id(q->tenant, q->session, UINT64_MAX - 1);
    } else {
        if (tidal__time_check(db, q->time_ns, "session_open start_ns") != TIDAL_OK)
            return TIDAL_ERR_INVALID;
        ev.kind = TIDAL__EV_SESSION_START;
        ev.other = q->user;
        ev.time_ns = q->time_ns;
        ev.ttl_ns = (int64_t)q->seq;
        ev.id = tidal__session_id(q->tenant, q->session, 0);
    }
    TIDAL_ASSERT(ev.id.hi & TIDAL__IDEM_BIT);
    return tidal__event_take(db, &ev, TIDAL__FROM_LOCAL, rc);
}

/* Runs the ops other than signals and RETRIEVE on db (its leader). A key given takes a
   key-derived event id (db->id_next), so a retry with the same key is a duplicate. */
static tidal_result tidal__peer_exec_other(tidal_db *db, const tidal__peer_req *q,
                                           tidal_receipt *rc) {
    const char *value = (q->flags & 1) ? q->text : NULL;
    tidal_result r;
    TIDAL_ASSERT(db->id_next.hi == 0 && db->id_next.lo == 0);
    if (q->idem_len)
        db->id_next = tidal__derived_id(q->tenant, q->op == TIDAL_PEER_OP_ATTR_SET ? 'a'
                                        : q->op == TIDAL_PEER_OP_NEGATIVE_ADD ? 'n' : 'r',
                                        q->idem, q->idem_len, q->idem_seq);
    switch (q->op) {
    case TIDAL_PEER_OP_NEGATIVE_ADD:
        r = tidal_negative_add(db, q->tenant, q->user, (tidal_negative)q->kind, q->item, rc);
        break;
    case TIDAL_PEER_OP_NEGATIVE_REMOVE:
        r = tidal_negative_remove(db, q->tenant, q->user, (tidal_negative)q->kind, q->item, rc);
        break;
    case TIDAL_PEER_OP_ATTR_SET:
        r = tidal_attr_set(db, q->tenant, q->item, q->name, value, rc);
        break;
    case TIDAL_PEER_OP_SESSION_OPEN:
    case TIDAL_PEER_OP_SESSION_END: r = tidal__peer_session_event(db, q, rc); break;
    case TIDAL_PEER_OP_SESSION_NOTE:
        r = tidal_session_note(db, q->tenant, q->session, q->seq, q->text, rc);
        break;
    case TIDAL_PEER_OP_ITEM_DELETE: r = tidal_item_delete(db, q->tenant, q->item, rc); break;
    default:
        TIDAL_ASSERT(q->op == TIDAL_PEER_OP_USER_FORGET);
        r = tidal_user_forget(db, q->tenant, q->user, rc);
    }
    db->id_next.hi = db->id_next.lo = 0;
    return r;
}

/* Runs q on member mi (its leader). 1 when it waits for its level (*receipt set), else 0
   with *c filled (a RETRIEVE's answer, or a refusal). */
static int tidal__peer_exec(tidal_peer *p, uint32_t mi, const tidal__peer_req *q,
                            tidal_receipt *rc, tidal_peer_completion *c) {
    tidal_db *db = p->m[mi].db;
    tidal_tag tags[TIDAL_COHORT_KEYS_MAX];
    tidal_signal s;
    tidal_result r;
    uint32_t i, n = 0;
    TIDAL_ASSERT(mi < p->n_m && q->op >= TIDAL_PEER_OP_SIGNAL &&
                 q->op <= TIDAL_PEER_OP_USER_FORGET && q->op != TIDAL_PEER_OP_PROPOSE);
    memset(&s, 0, sizeof s);
    memset(rc, 0, sizeof *rc);
    memset(c, 0, sizeof *c);
    for (i = 0; i < q->n_cohort; i++) tags[i].key = q->ckey[i], tags[i].value = q->cval[i];
    s.tenant = q->tenant, s.item = q->item, s.type = q->type, s.weight = q->weight;
    s.time_ns = q->time_ns, s.user = q->user;
    s.cohort = (q->flags & 2) ? tags : NULL;
    s.cohort_count = q->n_cohort;
    if (q->idem_len) s.idem.key = q->idem, s.idem.key_len = q->idem_len;
    s.idem.seq = q->idem_seq;
    p->executed++;
    if (q->op == TIDAL_PEER_OP_SIGNAL) r = tidal_signal_write(db, &s, rc);
    else if (q->op == TIDAL_PEER_OP_SESSION_SIGNAL)
        r = tidal_session_signal(db, q->session, q->seq, &s, rc);
    else if (q->op == TIDAL_PEER_OP_RETRIEVE)
        r = tidal_retrieve_text(db, q->text, c->hits, TIDAL_PEER_HITS_MAX, &n, NULL);
    else r = tidal__peer_exec_other(db, q, rc);
    c->executed_by = p->self;
    c->has_redirect = 1;
    c->redirect = p->self;
    if (r == TIDAL_OK && q->op != TIDAL_PEER_OP_RETRIEVE) return 1;
    c->outcome = r == TIDAL_OK ? TIDAL_PEER_DONE_OK : TIDAL_PEER_DONE_FAILED;
    c->result = r;
    c->hit_count = r == TIDAL_OK ? n : 0;
    if (r != TIDAL_OK) snprintf(c->message, sizeof c->message, "%.127s", tidal_errmsg(db));
    return 0;
}

/* The node to ask for the leader of (group gi, shard): the last one known, else the node
   of that shard in this region (or the placement's lowest region). */
static tidal_node_ref tidal__peer_guess(const tidal_peer *p, uint32_t gi, uint32_t shard) {
    tidal_node_ref n;
    uint32_t word = p->hint[(size_t)gi * p->shards + shard], r = 0;
    TIDAL_ASSERT(gi < p->n_groups && shard < p->shards);
    if (word) {
        tidal__ctl_ref(word - 1, &n);
        return n;
    }
    if (!(p->groups[gi].placement >> p->self.region & 1u))
        while (!(p->groups[gi].placement >> r & 1u)) r++;
    n.region = (uint16_t)((p->groups[gi].placement >> p->self.region & 1u) ? p->self.region : r);
    n.shard = (uint16_t)shard;
    return n;
}

static void tidal__peer_forward(tidal_peer *p, const tidal__peer_req *q, tidal_node_ref to,
                                tidal_node_ref origin, uint64_t ticket, uint32_t hops) {
    uint8_t *b = (uint8_t *)p->alloc.alloc(p->alloc.user, TIDAL__PEER_REQ_BYTES_MAX);
    TIDAL_ASSERT(hops <= TIDAL__PEER_HOPS_MAX && !tidal__peer_is_self(p, to));
    if (b) {
        tidal__peer_send(p, TIDAL_PEER_MSG_FORWARD, to, origin, hops, ticket, b,
                         tidal__peer_req_put(q, b));
        p->alloc.free(p->alloc.user, b, TIDAL__PEER_REQ_BYTES_MAX);
    }
    p->forwarded++;
}

/* Runs q here when this node's member leads its shard, else passes it on (P2). hops: how
   often it was passed on before (0 at the origin). Always finishes the call or leaves
   exactly one wait for it. */
static void tidal__peer_dispatch(tidal_peer *p, const tidal__peer_req *q, tidal_node_ref origin,
                                 tidal_node_ref via, uint64_t ticket, uint32_t hops) {
    int32_t gi = tidal__peer_group_index(p, q->group), mi = tidal__peer_member_index(p, q->group);
    int at_origin = tidal__peer_is_self(p, origin);
    tidal_node_ref to;
    tidal__peer_wait *w;
    TIDAL_ASSERT(ticket && hops <= TIDAL__PEER_HOPS_MAX);
    TIDAL_ASSERT(q->op >= TIDAL_PEER_OP_SIGNAL && q->op <= TIDAL_PEER_OP_USER_FORGET &&
                 q->op != TIDAL_PEER_OP_PROPOSE);
    if (gi < 0 || q->shard >= p->shards) {
        tidal__peer_fail(p, origin, via, ticket,
                         TIDAL_PEER_DONE_FAILED, TIDAL_ERR_STALE_CONFIG, NULL,
                         "group %u shard %u: not in this node's topology", q->group, q->shard);
        return;
    }
    if (mi >= 0 && q->shard == p->self.shard) {
        tidal_node_status st;
        tidal_receipt rc;
        tidal_peer_completion c;
        (void)tidal_node_status_get(p->m[mi].db, &st);
        if (st.role == TIDAL_ROLE_LEADER) {
            if (!tidal__peer_exec(p, (uint32_t)mi, q, &rc, &c)) {
                tidal__peer_finish(p, origin, via, ticket, &c);
                return;
            }
            w = tidal__peer_wait_add(p, TIDAL__PEER_WAIT_WRITE, origin, via, ticket);
            if (w) {
                w->member = (uint32_t)mi, w->level = q->level, w->receipt = rc;
                return;
            }
            tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_UNKNOWN, TIDAL_ERR_NOMEM, NULL,
                             "taken, but out of memory to wait for its level");
            return;
        }
        if (!st.has_leader || hops >= TIDAL__PEER_HOPS_MAX || tidal__peer_is_self(p, st.leader)) {
            tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_UNAVAILABLE,
                             st.has_leader ? &st.leader : NULL, "group %u shard %u: %s",
                             q->group, q->shard, st.has_leader ? "too many hops to its leader"
                                                               : "no leader known");
            return;
        }
        to = st.leader;
    } else if (!at_origin) {
        tidal__peer_fail(p, origin, via, ticket,
                         TIDAL_PEER_DONE_FAILED, TIDAL_ERR_STALE_CONFIG, NULL,
                         "node %u/%u runs no member of group %u shard %u", p->self.region,
                         p->self.shard, q->group, q->shard);
        return;
    } else {
        to = tidal__peer_guess(p, (uint32_t)gi, q->shard);
    }
    if (at_origin) {
        w = tidal__peer_wait_add(p, TIDAL__PEER_WAIT_FORWARD, origin, via, ticket);
        if (!w) {
            tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_NOMEM, NULL,
                             "out of memory");
            return;
        }
        w->group = (uint32_t)gi, w->shard = q->shard;
    }
    tidal__peer_forward(p, q, to, origin, ticket, at_origin ? 0 : hops + 1);
}

/* Routes a client call from here: finds its group and shard (P2), then dispatches it. */
static tidal_result tidal__peer_call(tidal_peer *p, tidal__peer_req *q, tidal_id entity,
                                     int has_shard, uint64_t *ticket) {
    const tidal__peer_tenant *t;
    uint64_t k;
    if (!ticket) return tidal__peer_err(p, TIDAL_ERR_INVALID, "ticket: NULL");
    if (p->n_wait >= TIDAL_PEER_CALLS_MAX)
        return tidal__peer_err(p, TIDAL_ERR_LIMIT, "TIDAL_PEER_CALLS_MAX calls in flight");
    if (!tidal__peer_reserve(p)) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "completions");
    k = *ticket = ++p->next_ticket;
    t = tidal__peer_tenant_find(p, q->tenant);
    if (p->topo_bad) {
        tidal__peer_fail(p, p->self, p->self, k,
                         TIDAL_PEER_DONE_FAILED, TIDAL_ERR_STALE_CONFIG, NULL,
                         "the control plane's topology is %u x %u, this node's %u x %u",
                         p->topo_regions, p->topo_shards, p->regions, p->shards);
    } else if (!t || !t->t.has_placement) {
        tidal__peer_fail(p, p->self, p->self, k, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_NOT_FOUND, NULL,
                         "tenant %u: no placement known here", q->tenant);
    } else {
        q->group = t->t.group;
        if (!has_shard) q->shard = tidal_route(q->tenant, entity, p->shards);
        TIDAL_ASSERT(q->shard < p->shards); /* tidal_route is total over [0, shards) */
        tidal__peer_dispatch(p, q, p->self, p->self, k, 0);
    }
    return TIDAL_OK;
}

/* Copies a signal's cohort tags and idempotency key into q; NULL or what is wrong. */
static const char *tidal__peer_req_signal(tidal__peer_req *q, const tidal_signal *s) {
    uint32_t i;
    q->tenant = s->tenant, q->item = s->item, q->type = s->type, q->weight = s->weight;
    q->time_ns = s->time_ns, q->user = s->user;
    if (!s->item) return "item 0";
    if (!(s->weight >= -TIDAL_WEIGHT_MAX && s->weight <= TIDAL_WEIGHT_MAX))
        return "weight not finite within TIDAL_WEIGHT_MAX";
    if (s->cohort) q->flags |= 2;
    if (s->cohort_count > TIDAL_COHORT_KEYS_MAX || (s->cohort_count && !s->cohort))
        return "cohort: more than TIDAL_COHORT_KEYS_MAX tags, or a count without tags";
    for (i = 0; i < s->cohort_count; i++) {
        const tidal_tag *g = &s->cohort[i];
        if (!g->key || !g->key[0] || strlen(g->key) > TIDAL_NAME_MAX || !g->value ||
            strlen(g->value) > TIDAL_VALUE_MAX)
            return "cohort: a tag's key or value is missing or too long";
        strcpy(q->ckey[i], g->key);
        strcpy(q->cval[i], g->value);
    }
    q->n_cohort = s->cohort_count;
    if (s->idem.key && (!s->idem.key_len || s->idem.key_len > TIDAL_IDEM_KEY_MAX))
        return "idem.key_len not 1..TIDAL_IDEM_KEY_MAX";
    if (s->idem.key) memcpy(q->idem, s->idem.key, s->idem.key_len), q->idem_len = s->idem.key_len;
    q->idem_seq = s->idem.seq;
    return NULL;
}

static uint32_t tidal__peer_level(uint32_t level) { return level ? level : TIDAL_ACK_QUORUM; }

static tidal_result tidal__peer_signal_call(tidal_peer *p, uint32_t op, tidal_id session,
                                            uint64_t seq, const tidal_signal *s, uint32_t level,
                                            uint64_t *ticket) {
    tidal__peer_req q;
    const char *why;
    if (!p) return TIDAL_ERR_INVALID;
    if (!s || level > TIDAL_ACK_QUORUM) return tidal__peer_err(p, TIDAL_ERR_INVALID, "signal: "
                                                               "NULL, or an unknown level");
    memset(&q, 0, sizeof q);
    q.op = op;
    q.level = tidal__peer_level(level);
    q.session = session, q.seq = seq;
    if ((why = tidal__peer_req_signal(&q, s)) != NULL)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "signal: %s", why);
    if (op == TIDAL_PEER_OP_SESSION_SIGNAL && !session)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "session signal: session 0");
    return tidal__peer_call(p, &q, op == TIDAL_PEER_OP_SESSION_SIGNAL ? session : s->item, 0,
                            ticket);
}

TIDAL_API tidal_result tidal_peer_signal_write(tidal_peer *p, const tidal_signal *s,
                                               uint32_t level, uint64_t *ticket) {
    return tidal__peer_signal_call(p, TIDAL_PEER_OP_SIGNAL, 0, 0, s, level, ticket);
}

TIDAL_API tidal_result tidal_peer_session_signal(tidal_peer *p, tidal_id session, uint64_t seq,
                                                 const tidal_signal *s, uint32_t level,
                                                 uint64_t *ticket) {
    return tidal__peer_signal_call(p, TIDAL_PEER_OP_SESSION_SIGNAL, session, seq, s, level,
                                   ticket);
}

TIDAL_API tidal_result tidal_peer_negative_add(tidal_peer *p, uint32_t tenant, tidal_id user,
                                               tidal_negative kind, tidal_id target,
                                               uint32_t level, uint64_t *ticket) {
    return tidal_peer_negative_write(p, tenant, user, kind, target, 0, NULL, level, ticket);
}

TIDAL_API tidal_result tidal_peer_attr_set(tidal_peer *p, uint32_t tenant, tidal_id entity,
                                           const char *key, const char *value, uint32_t level,
                                           uint64_t *ticket) {
    tidal__peer_req q;
    if (!p) return TIDAL_ERR_INVALID;
    if (!entity || !key || !key[0] || strlen(key) > TIDAL_NAME_MAX ||
        (value && strlen(value) > TIDAL_VALUE_MAX) || level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "attr set: entity 0, a key not "
                               "1..TIDAL_NAME_MAX bytes, a value above TIDAL_VALUE_MAX or an "
                               "unknown level");
    memset(&q, 0, sizeof q);
    q.op = TIDAL_PEER_OP_ATTR_SET;
    q.level = tidal__peer_level(level);
    q.tenant = tenant, q.item = entity;
    strcpy(q.name, key);
    if (value) strcpy(q.text, value), q.flags |= 1;
    return tidal__peer_call(p, &q, entity, 0, ticket);
}

TIDAL_API tidal_result tidal_peer_retrieve(tidal_peer *p, const char *text, uint32_t shard,
                                           uint64_t *ticket) {
    tidal__peer_req q;
    tidal_query_text qt;
    tidal_parse_error pe;
    size_t n;
    if (!p) return TIDAL_ERR_INVALID;
    if (!text || (n = strlen(text)) == 0 || n > TIDAL_PEER_TEXT_MAX || shard >= p->shards)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "retrieve: text not 1..TIDAL_PEER_TEXT_MAX "
                               "bytes, or shard %u not below %u", shard, p->shards);
    if (tidal_query_parse(text, n, &qt, &pe) != TIDAL_OK)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "retrieve: at byte %u: %s", pe.position,
                               pe.message);
    if (qt.limit > TIDAL_PEER_HITS_MAX)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "retrieve: LIMIT %u above "
                               "TIDAL_PEER_HITS_MAX", qt.limit);
    memset(&q, 0, sizeof q);
    q.op = TIDAL_PEER_OP_RETRIEVE;
    q.tenant = qt.tenant;
    q.shard = shard;
    memcpy(q.text, text, n + 1);
    return tidal__peer_call(p, &q, 0, 1, ticket);
}

/* ---- Fan-out calls and the other entry points (appended, issue 12) ---- */

/* Starts q (its tenant and fields set) on the leader of every shard of the owning group. */
static tidal_result tidal__peer_fan_call(tidal_peer *p, tidal__peer_req *q, uint64_t *ticket) {
    const tidal__peer_tenant *t = tidal__peer_tenant_find(p, q->tenant);
    tidal__peer_fan *f;
    tidal__peer_req *qq;
    uint64_t k;
    uint32_t s;
    if (p->topo_bad || !t || !t->t.has_placement) /* refused whole: as any call */
        return tidal__peer_call(p, q, q->user, 0, ticket);
    if (!ticket) return tidal__peer_err(p, TIDAL_ERR_INVALID, "ticket: NULL");
    if (p->n_wait + p->shards > TIDAL_PEER_CALLS_MAX)
        return tidal__peer_err(p, TIDAL_ERR_LIMIT, "TIDAL_PEER_CALLS_MAX calls in flight");
    if (!tidal__peer_reserve(p) ||
        !tidal__peer_grow(p, (void **)&p->fan, &p->cap_fan, p->n_fan + 1, sizeof *p->fan))
        return tidal__peer_err(p, TIDAL_ERR_NOMEM, "completions");
    qq = (tidal__peer_req *)p->alloc.alloc(p->alloc.user, sizeof *qq);
    if (!qq) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "a fan-out call");
    k = *ticket = ++p->next_ticket;
    p->next_ticket += p->shards; /* its shards' calls: k + 1 + shard */
    f = &p->fan[p->n_fan++];
    memset(f, 0, sizeof *f);
    f->ticket = k;
    f->n = f->left = p->shards;
    f->acked = TIDAL_ACK_QUORUM;
    f->fail_shard = f->unknown_shard = UINT32_MAX;
    p->fanouts++;
    for (s = 0; s < p->shards; s++) { /* a shard may complete at once: f is not used here */
        *qq = *q;
        qq->group = t->t.group;
        qq->shard = s;
        tidal__peer_dispatch(p, qq, p->self, p->self, k + 1 + s, 0);
    }
    p->alloc.free(p->alloc.user, qq, sizeof *qq);
    TIDAL_ASSERT(p->next_ticket == k + p->shards);
    return TIDAL_OK;
}

/* The idempotency key of a call into q; NULL or what is wrong. */
static const char *tidal__peer_req_idem(tidal__peer_req *q, const tidal_idem *idem) {
    if (!idem || !idem->key) return idem && idem->seq ? "idem.seq without a key" : NULL;
    if (!idem->key_len || idem->key_len > TIDAL_IDEM_KEY_MAX)
        return "idem.key_len not 1..TIDAL_IDEM_KEY_MAX";
    memcpy(q->idem, idem->key, idem->key_len);
    q->idem_len = idem->key_len;
    q->idem_seq = idem->seq;
    return NULL;
}

TIDAL_API tidal_result tidal_peer_negative_write(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                 tidal_negative kind, tidal_id target,
                                                 int remove, const tidal_idem *idem,
                                                 uint32_t level, uint64_t *ticket) {
    tidal__peer_req *q;
    const char *why;
    tidal_result r;
    if (!p) return TIDAL_ERR_INVALID;
    if (!user || !target || kind < TIDAL_HIDE || kind > TIDAL_BLOCK || level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "negative: user and target nonzero, kind "
                               "HIDE, MUTE or BLOCK, a known level");
    q = (tidal__peer_req *)p->alloc.alloc(p->alloc.user, sizeof *q);
    if (!q) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "a call");
    memset(q, 0, sizeof *q);
    q->op = remove ? TIDAL_PEER_OP_NEGATIVE_REMOVE : TIDAL_PEER_OP_NEGATIVE_ADD;
    q->level = tidal__peer_level(level);
    q->kind = (uint32_t)kind, q->tenant = tenant, q->user = user, q->item = target;
    if ((why = tidal__peer_req_idem(q, idem)) != NULL)
        r = tidal__peer_err(p, TIDAL_ERR_INVALID, "negative: %s", why);
    else if (kind == TIDAL_HIDE) r = tidal__peer_call(p, q, target, 0, ticket);
    else r = tidal__peer_fan_call(p, q, ticket); /* the creator's items are on every shard */
    p->alloc.free(p->alloc.user, q, sizeof *q);
    return r;
}

TIDAL_API tidal_result tidal_peer_negative_remove(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                  tidal_negative kind, tidal_id target,
                                                  uint32_t level, uint64_t *ticket) {
    return tidal_peer_negative_write(p, tenant, user, kind, target, 1, NULL, level, ticket);
}

TIDAL_API tidal_result tidal_peer_user_attr_set(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                const char *key, const char *value,
                                                const tidal_idem *idem, uint32_t level,
                                                uint64_t *ticket) {
    tidal__peer_req *q;
    const char *why;
    tidal_result r;
    if (!p) return TIDAL_ERR_INVALID;
    if (!user || !key || !key[0] || strlen(key) > TIDAL_NAME_MAX ||
        (value && strlen(value) > TIDAL_VALUE_MAX) || level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "user attr set: user 0, a key not "
                               "1..TIDAL_NAME_MAX bytes, a value above TIDAL_VALUE_MAX or an "
                               "unknown level");
    q = (tidal__peer_req *)p->alloc.alloc(p->alloc.user, sizeof *q);
    if (!q) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "a call");
    memset(q, 0, sizeof *q);
    q->op = TIDAL_PEER_OP_ATTR_SET;
    q->level = tidal__peer_level(level);
    q->tenant = tenant, q->item = user;
    strcpy(q->name, key);
    if (value) strcpy(q->text, value), q->flags |= 1;
    if ((why = tidal__peer_req_idem(q, idem)) != NULL)
        r = tidal__peer_err(p, TIDAL_ERR_INVALID, "user attr set: %s", why);
    else r = tidal__peer_fan_call(p, q, ticket);
    p->alloc.free(p->alloc.user, q, sizeof *q);
    return r;
}

/* A session call (op) routed by its session id, or an item delete / user forget. */
static tidal_result tidal__peer_simple(tidal_peer *p, uint32_t op, uint32_t tenant, tidal_id id,
                                       tidal_id user, int64_t start_ns, uint64_t seq,
                                       const char *text, uint32_t level, uint64_t *ticket) {
    tidal__peer_req *q;
    tidal_result r;
    TIDAL_ASSERT(op >= TIDAL_PEER_OP_SESSION_OPEN && op <= TIDAL_PEER_OP_USER_FORGET);
    TIDAL_ASSERT(!text || strlen(text) <= TIDAL_PEER_TEXT_MAX);
    q = (tidal__peer_req *)p->alloc.alloc(p->alloc.user, sizeof *q);
    if (!q) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "a call");
    memset(q, 0, sizeof *q);
    q->op = op;
    q->level = tidal__peer_level(level);
    q->tenant = tenant, q->user = user, q->time_ns = start_ns, q->seq = seq;
    if (text) strcpy(q->text, text);
    if (op == TIDAL_PEER_OP_ITEM_DELETE) q->item = id;
    else if (op != TIDAL_PEER_OP_USER_FORGET) q->session = id;
    r = op == TIDAL_PEER_OP_USER_FORGET ? tidal__peer_fan_call(p, q, ticket)
                                         : tidal__peer_call(p, q, id, 0, ticket);
    p->alloc.free(p->alloc.user, q, sizeof *q);
    return r;
}

TIDAL_API tidal_result tidal_peer_session_start(tidal_peer *p, uint32_t tenant, tidal_id user,
                                                int64_t ttl_ns, uint32_t level,
                                                tidal_id *session, uint64_t *ticket) {
    tidal_id id = 0;
    int64_t now;
    if (!p) return TIDAL_ERR_INVALID;
    now = p->env->clock_wall_ns(p->env->user);
    if (!session || !user || ttl_ns < 0 || now <= 0 || ttl_ns > INT64_MAX - now ||
        level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "session start: session NULL, user 0, a "
                               "ttl not 0..INT64_MAX - now or an unknown level");
    while (!id) {
        p->env->random_fill(p->env->user, &id, sizeof id);
        id &= UINT64_C(0x7FFFFFFFFFFFFFFF);
    }
    *session = id;
    return tidal__peer_simple(p, TIDAL_PEER_OP_SESSION_OPEN, tenant, id, user, now,
                              (uint64_t)ttl_ns, NULL, level, ticket);
}

TIDAL_API tidal_result tidal_peer_session_open(tidal_peer *p, uint32_t tenant, tidal_id session,
                                               tidal_id user, int64_t start_ns, int64_t ttl_ns,
                                               uint32_t level, uint64_t *ticket) {
    if (!p) return TIDAL_ERR_INVALID;
    if (!session || !user || start_ns <= 0 || ttl_ns < 0 || ttl_ns > INT64_MAX - start_ns ||
        level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "session open: session, user and start "
                               "nonzero, 0 <= ttl, start + ttl within int64, a known level");
    return tidal__peer_simple(p, TIDAL_PEER_OP_SESSION_OPEN, tenant, session, user, start_ns,
                              (uint64_t)ttl_ns, NULL, level, ticket);
}

TIDAL_API tidal_result tidal_peer_session_note(tidal_peer *p, uint32_t tenant, tidal_id session,
                                               uint64_t seq, const char *note, uint32_t level,
                                               uint64_t *ticket) {
    if (!p) return TIDAL_ERR_INVALID;
    if (!session || !note || strlen(note) > TIDAL_PEER_TEXT_MAX || seq >= UINT64_MAX - 2 ||
        level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "session note: session 0, a note NULL or "
                               "above TIDAL_PEER_TEXT_MAX bytes, a reserved seq or an unknown "
                               "level");
    return tidal__peer_simple(p, TIDAL_PEER_OP_SESSION_NOTE, tenant, session, 0, 0, seq, note,
                              level, ticket);
}

TIDAL_API tidal_result tidal_peer_session_end(tidal_peer *p, uint32_t tenant, tidal_id session,
                                              uint32_t level, uint64_t *ticket) {
    if (!p) return TIDAL_ERR_INVALID;
    if (!session || level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "session end: session 0 or an unknown "
                               "level");
    return tidal__peer_simple(p, TIDAL_PEER_OP_SESSION_END, tenant, session, 0, 0, 0, NULL,
                              level, ticket);
}

TIDAL_API tidal_result tidal_peer_item_delete(tidal_peer *p, uint32_t tenant, tidal_id item,
                                              uint32_t level, uint64_t *ticket) {
    if (!p) return TIDAL_ERR_INVALID;
    if (!item || level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "item delete: item 0 or an unknown level");
    return tidal__peer_simple(p, TIDAL_PEER_OP_ITEM_DELETE, tenant, item, 0, 0, 0, NULL, level,
                              ticket);
}

TIDAL_API tidal_result tidal_peer_user_forget(tidal_peer *p, uint32_t tenant, tidal_id user,
                                              uint32_t level, uint64_t *ticket) {
    if (!p) return TIDAL_ERR_INVALID;
    if (!user || level > TIDAL_ACK_QUORUM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "user forget: user 0 or an unknown level");
    return tidal__peer_simple(p, TIDAL_PEER_OP_USER_FORGET, tenant, 0, user, 0, 0, NULL, level,
                              ticket);
}

/* ---- Control proposals through the leader ---- */

/* Proposes rec here (this node leads the control plane) for origin's ticket. */
static void tidal__peer_propose_here(tidal_peer *p, const tidal_control_record *rec,
                                     tidal_node_ref origin, tidal_node_ref via,
                                     uint64_t ticket) {
    uint64_t index = 0, term = 0;
    tidal_result r = tidal_control_propose(p->ctl, rec, &index, &term);
    tidal__peer_wait *w;
    if (r != TIDAL_OK) {
        tidal_control_status st;
        (void)tidal_control_status_get(p->ctl, &st);
        tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, r,
                         st.has_leader ? &st.leader : NULL, "%s", tidal_control_errmsg(p->ctl));
        return;
    }
    w = tidal__peer_wait_add(p, TIDAL__PEER_WAIT_PROPOSAL, origin, via, ticket);
    if (!w) {
        tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_UNKNOWN, TIDAL_ERR_NOMEM, NULL,
                         "proposed, but out of memory to wait for its commit");
        return;
    }
    w->index = index, w->term = term;
}

TIDAL_API tidal_result tidal_peer_propose(tidal_peer *p, const tidal_control_record *rec,
                                          uint64_t *ticket) {
    tidal_control_status st;
    uint8_t buf[1 + TIDAL_CONTROL_RECORD_BYTES_MAX];
    size_t n = 0;
    char why[160];
    tidal__peer_wait *w;
    if (!p) return TIDAL_ERR_INVALID;
    if (!rec || !ticket) return tidal__peer_err(p, TIDAL_ERR_INVALID, "propose: NULL argument");
    if (rec->kind == TIDAL_CONTROL_NOOP ||
        tidal_control_record_encode(rec, buf + 1, sizeof buf - 1, &n, why, sizeof why) != TIDAL_OK)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "propose: %s",
                               rec->kind == TIDAL_CONTROL_NOOP ? "a NOOP" : why);
    if (p->n_wait >= TIDAL_PEER_CALLS_MAX)
        return tidal__peer_err(p, TIDAL_ERR_LIMIT, "TIDAL_PEER_CALLS_MAX calls in flight");
    if (!tidal__peer_reserve(p)) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "completions");
    *ticket = ++p->next_ticket;
    (void)tidal_control_status_get(p->ctl, &st);
    if (st.role == TIDAL_ROLE_LEADER) {
        tidal__peer_propose_here(p, rec, p->self, p->self, *ticket);
    } else if (!st.has_leader) {
        tidal__peer_fail(p, p->self, p->self, *ticket,
                         TIDAL_PEER_DONE_FAILED, TIDAL_ERR_UNAVAILABLE,
                         NULL, "no control-plane leader known (term %llu)",
                         (unsigned long long)st.term);
    } else if ((w = tidal__peer_wait_add(p, TIDAL__PEER_WAIT_FORWARD, p->self, p->self,
                                         *ticket)) == NULL) {
        tidal__peer_fail(p, p->self, p->self, *ticket,
                         TIDAL_PEER_DONE_FAILED, TIDAL_ERR_NOMEM, NULL,
                         "out of memory");
    } else {
        w->group = UINT32_MAX; /* the control plane: no group leader to learn */
        buf[0] = (uint8_t)n;
        tidal__peer_send(p, TIDAL_PEER_MSG_PROPOSE, st.leader, p->self, 0, *ticket, buf, n + 1);
        p->forwarded++;
    }
    return TIDAL_OK;
}

/* ---- Messages in ---- */

/* 1 when (origin, ticket) came here before (a duplicated or re-forwarded message), else
   remembers it. Tickets start at a random point per open, so an origin's restart does not
   reuse a remembered one. */
static int tidal__peer_seen(tidal_peer *p, tidal_node_ref origin, uint64_t ticket) {
    uint32_t i, word = tidal__node_word(origin);
    TIDAL_ASSERT(ticket != 0);
    for (i = 0; i < TIDAL__PEER_SEEN_MAX; i++)
        if (p->seen[i].ticket == ticket && p->seen[i].origin == word) return 1;
    p->seen[p->n_seen % TIDAL__PEER_SEEN_MAX].origin = word;
    p->seen[p->n_seen % TIDAL__PEER_SEEN_MAX].ticket = ticket;
    p->n_seen++;
    return 0;
}

/* A REPLY for a call this node forwarded: its completion (or late, after the timeout). */
static void tidal__peer_on_reply(tidal_peer *p, tidal_node_ref from, const tidal_peer_message *m,
                                 tidal_peer_completion *c) {
    uint64_t i;
    tidal_node_ref via = m->hops ? from : c->redirect; /* a relay: the path that worked */
    TIDAL_ASSERT(m->type == TIDAL_PEER_MSG_REPLY && tidal__peer_is_self(p, m->origin));
    for (i = 0; i < p->n_wait; i++) {
        tidal__peer_wait *w = &p->wait[i];
        if (w->kind != TIDAL__PEER_WAIT_FORWARD || w->ticket != m->ticket) continue;
        if ((c->has_redirect || m->hops) && w->group != UINT32_MAX && via.shard == w->shard &&
            via.region < p->regions && !tidal__peer_is_self(p, via))
            p->hint[(size_t)w->group * p->shards + w->shard] = tidal__node_word(via) + 1;
        tidal__peer_finish(p, p->self, p->self, m->ticket, c);
        p->wait[i] = p->wait[--p->n_wait];
        return;
    }
    p->replies_late++; /* timed out already: the caller was told UNKNOWN */
}

/* This node's own call, passed on and passed back to it (a relay took it for the leader):
   takes away the wait the call left here, so the run here is its one completion. 0 when
   no such wait is left (it timed out already, or the ticket was never this node's). */
static int tidal__peer_unwait(tidal_peer *p, uint64_t ticket) {
    uint64_t i;
    for (i = 0; i < p->n_wait; i++) {
        tidal__peer_wait *w = &p->wait[i];
        if (w->kind != TIDAL__PEER_WAIT_FORWARD || w->ticket != ticket ||
            !tidal__peer_is_self(p, w->origin))
            continue;
        memmove(w, w + 1, (size_t)(p->n_wait - i - 1) * sizeof *w); /* keeps their order */
        p->n_wait--;
        return 1;
    }
    return 0;
}

static tidal_result tidal__peer_on_message(tidal_peer *p, tidal_node_ref from, const uint8_t *b,
                                           size_t len) {
    tidal__peer_scratch *s = (tidal__peer_scratch *)p->alloc.alloc(p->alloc.user, sizeof *s);
    tidal_peer_message m;
    tidal_node_ref via;
    const char *why;
    size_t at = 0;
    tidal_result r = TIDAL_OK;
    if (!s) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "peer message: out of memory");
    if (len > 10 && tidal__move_type((uint32_t)b[8] | (uint32_t)b[9] << 8)) { /* >>node_move */
        p->alloc.free(p->alloc.user, s, sizeof *s);
        return tidal__move_on_message(p, from, b, len);
    }
    why = tidal__peer_decode(b, len, &m, &s->q, &s->c, &s->rec, &at);
    via = !why && tidal__peer_is_self(p, m.origin) ? p->self : from; /* ours: completes here */
    TIDAL_ASSERT(why || m.payload_len == len - TIDAL__MSG_HDR);
    if (!why &&
        (!tidal__peer_is_self(p, m.to) || tidal__node_word(m.from) != tidal__node_word(from)))
        why = "addressed to another node, or not from its sender", at = 12;
    if (!why && (m.origin.region >= p->regions || m.origin.shard >= p->shards))
        why = "origin outside the topology", at = 20;
    if (!why && m.type == TIDAL_PEER_MSG_REPLY && m.hops && !tidal__peer_is_self(p, m.origin))
        why = "a relayed reply for a call another node made", at = 20;
    if (!why &&
        (m.type == TIDAL_PEER_MSG_PROPOSE || (m.type == TIDAL_PEER_MSG_FORWARD && !m.hops)) &&
        tidal__node_word(m.origin) != tidal__node_word(from))
        why = "a call not passed on whose origin is not its sender", at = 20;
    if (why) {
        p->msgs_corrupt++;
        r = tidal__peer_err(p, TIDAL_ERR_CORRUPT, "peer message (type %u, %zu bytes) from %u/%u: "
                            "%s at byte %zu", m.type, len, from.region, from.shard, why, at);
    } else if (TIDAL__GX_TYPE(m.type)) { /* >>node_gather: heartbeats, gather messages */
        r = tidal__gx_on_message(p, from, &m, b);
    } else if (m.type == TIDAL_PEER_MSG_REPLY && !tidal__peer_is_self(p, m.origin)) {
        /* An answer to a call this node passed on: relayed once, as it came. */
        tidal__peer_send(p, TIDAL_PEER_MSG_REPLY, m.origin, m.origin, 1, m.ticket,
                         b + TIDAL__MSG_HDR, m.payload_len);
    } else if (m.type == TIDAL_PEER_MSG_REPLY) {
        tidal__peer_on_reply(p, from, &m, &s->c);
    } else if (tidal__peer_seen(p, m.origin, m.ticket)) {
        p->duplicates++; /* the network delivered a call twice: it runs once */
    } else if (!tidal__peer_reserve(p)) {
        r = tidal__peer_err(p, TIDAL_ERR_NOMEM, "peer message: out of memory");
    } else if (tidal__peer_is_self(p, m.origin) && !tidal__peer_unwait(p, m.ticket)) {
        p->replies_late++; /* a call of ours already answered (or never made): no second */
    } else if (p->n_wait >= TIDAL_PEER_CALLS_MAX) {
        tidal__peer_fail(p, m.origin, from, m.ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_LIMIT,
                         NULL, "node %u/%u: TIDAL_PEER_CALLS_MAX calls in flight",
                         p->self.region, p->self.shard);
    } else if (m.type == TIDAL_PEER_MSG_PROPOSE) {
        tidal_control_status st;
        (void)tidal_control_status_get(p->ctl, &st);
        if (st.role == TIDAL_ROLE_LEADER)
            tidal__peer_propose_here(p, &s->rec, m.origin, via, m.ticket);
        else tidal__peer_fail(p, m.origin, via, m.ticket,
                              TIDAL_PEER_DONE_FAILED, TIDAL_ERR_READ_ONLY,
                              st.has_leader ? &st.leader : NULL, "not the control-plane leader");
    } else {
        const tidal__peer_tenant *t = tidal__peer_tenant_find(p, s->q.tenant);
        if (t && t->t.has_placement && t->t.group != s->q.group)
            tidal__peer_fail(p, m.origin, via, m.ticket,
                             TIDAL_PEER_DONE_FAILED, TIDAL_ERR_STALE_CONFIG,
                             NULL, "tenant %u is owned by group %u here, not %u: refresh",
                             s->q.tenant, t->t.group, s->q.group);
        else tidal__peer_dispatch(p, &s->q, m.origin, via, m.ticket, m.hops);
    }
    p->alloc.free(p->alloc.user, s, sizeof *s);
    return r;
}

TIDAL_API tidal_result tidal_peer_receive(tidal_peer *p, tidal_node_ref from, const void *bytes,
                                          size_t len) {
    uint32_t group = 0;
    int32_t mi;
    tidal_result r, a;
    if (!p || !bytes) return TIDAL_ERR_INVALID;
    if (tidal_message_group(bytes, len, &group) != TIDAL_OK) {
        p->msgs_corrupt++;
        return tidal__peer_err(p, TIDAL_ERR_CORRUPT, "message from %u/%u (%zu bytes): not a "
                               "tidal message of wire version %u", from.region, from.shard, len,
                               TIDAL_WIRE_FORMAT_VERSION);
    }
    if (group == TIDAL_PEER_GROUP) {
        r = tidal__peer_on_message(p, from, (const uint8_t *)bytes, len);
    } else if (group == TIDAL_CONTROL_GROUP) {
        r = tidal_control_receive(p->ctl, from, bytes, len);
        if (r != TIDAL_OK) (void)tidal__peer_err(p, r, "%s", tidal_control_errmsg(p->ctl));
    } else if ((mi = tidal__peer_member_index(p, group)) >= 0) {
        r = tidal_node_receive(p->m[mi].db, from, bytes, len);
        if (r != TIDAL_OK) (void)tidal__peer_err(p, r, "group %u: %s", group,
                                                 tidal_errmsg(p->m[mi].db));
    } else {
        p->msgs_corrupt++;
        return tidal__peer_err(p, TIDAL_ERR_CORRUPT, "message from %u/%u for group %u: this "
                               "node runs no member of it", from.region, from.shard, group);
    }
    if (r == TIDAL_ERR_CORRUPT && group != TIDAL_PEER_GROUP)
        p->msgs_corrupt++; /* a member's refusal counts too (fuzz_peer found it uncounted) */
    a = tidal__peer_apply(p);
    tidal__peer_progress(p);
    TIDAL_ASSERT(p->head_done <= p->n_done && p->n_done <= p->cap_done);
    return r != TIDAL_OK ? r : a;
}

TIDAL_API tidal_result tidal_peer_tick(tidal_peer *p) {
    tidal_result r, first;
    uint32_t i;
    if (!p) return TIDAL_ERR_INVALID;
    first = tidal_control_tick(p->ctl);
    if (first != TIDAL_OK) (void)tidal__peer_err(p, first, "%s", tidal_control_errmsg(p->ctl));
    for (i = 0; i < p->n_m; i++) {
        r = tidal_db_tick(p->m[i].db, 0);
        if (r != TIDAL_OK && first == TIDAL_OK)
            first = tidal__peer_err(p, r, "group %u: %s", p->m[i].id, tidal_errmsg(p->m[i].db));
    }
    r = tidal__peer_apply(p);
    if (first == TIDAL_OK) first = r;
    tidal__move_step(p); /* >>node_move: the coordinator (on the control leader), waits */
    tidal__peer_progress(p);
    r = tidal__gx_tick(p); /* >>node_gather: heartbeats due, gathers' tries and deadlines */
    if (first == TIDAL_OK) first = r;
    return first;
}

TIDAL_API tidal_result tidal_peer_poll(tidal_peer *p, tidal_peer_completion *out) {
    if (!p || !out) return TIDAL_ERR_INVALID;
    if (p->head_done >= p->n_done) return TIDAL_ERR_NOT_FOUND;
    *out = p->done[p->head_done++];
    TIDAL_ASSERT(out->ticket && out->ticket <= p->next_ticket);
    return TIDAL_OK;
}

/* ---- Open, close, inspection ---- */

static const char *tidal__peer_config_check(const tidal_peer_config *cfg) {
    uint32_t i, j, all;
    const tidal_env *env = cfg->env;
    if (!cfg->path || !cfg->path[0] || strlen(cfg->path) > TIDAL_PATH_MAX - 12)
        return "path: 1..TIDAL_PATH_MAX - 12 bytes";
    if (cfg->regions < 1 || cfg->regions > TIDAL_REPLICAS_MAX)
        return "regions: 1..TIDAL_REPLICAS_MAX";
    if (cfg->shards < 1 || cfg->shards > 0xFFFF) return "shards: 1..65535";
    if (cfg->self.region >= cfg->regions || cfg->self.shard >= cfg->shards)
        return "self: outside the topology";
    if (!cfg->groups || cfg->group_count < 1 || cfg->group_count > TIDAL_PEER_GROUPS_MAX)
        return "groups: 1..TIDAL_PEER_GROUPS_MAX";
    all = (1u << cfg->regions) - 1;
    for (i = 0; i < cfg->group_count; i++) {
        if (cfg->groups[i].id > 255) return "groups: an id above 255";
        if (cfg->groups[i].placement & ~all) return "groups: a placement outside the regions";
        for (j = 0; j < i; j++)
            if (cfg->groups[j].id == cfg->groups[i].id) return "groups: a duplicate id";
    }
    if (cfg->voters && (cfg->voter_count < 1 || cfg->voter_count > TIDAL_REPLICAS_MAX))
        return "voters: 1..TIDAL_REPLICAS_MAX";
    for (i = 0; cfg->voters && i < cfg->voter_count; i++)
        if (cfg->voters[i].region >= cfg->regions || cfg->voters[i].shard >= cfg->shards)
            return "voters: outside the topology";
    if ((uint64_t)cfg->regions * cfg->shards > TIDAL_CONTROL_LEARNERS_MAX + TIDAL_REPLICAS_MAX)
        return "topology: more nodes than the control plane's voters and learners";
    if (cfg->forward_timeout_ns < 0) return "forward_timeout_ns: negative";
    if (env && (env->version < 1 || !env->clock_mono_ns || !env->random_fill ||
                !env->dir_create || !env->message_send))
        return "env: a method is missing";
    return NULL;
}

static int tidal__peer_is_voter(const tidal_node_ref *v, uint32_t n, tidal_node_ref x) {
    uint32_t i;
    for (i = 0; i < n; i++)
        if (tidal__node_word(v[i]) == tidal__node_word(x)) return 1;
    return 0;
}

/* Opens the control member: the voters, everyone else a learner (in (region, shard)
   order, the same list on every node). */
static tidal_result tidal__peer_open_control(tidal_peer *p, const tidal_peer_config *cfg,
                                             char *msg, size_t cap) {
    tidal_node_ref voters[TIDAL_REPLICAS_MAX], *learners;
    tidal_control_config cc;
    char path[TIDAL_PATH_MAX + 1];
    uint32_t nv = 0, nl = 0, r, s, n = cfg->regions * cfg->shards;
    tidal_result res;
    if (cfg->voters) memcpy(voters, cfg->voters, (nv = cfg->voter_count) * sizeof *voters);
    else
        for (r = 0; r < cfg->regions; r++) voters[nv].region = (uint16_t)r, voters[nv++].shard = 0;
    learners = (tidal_node_ref *)p->alloc.alloc(p->alloc.user, n * sizeof *learners);
    if (!learners) return TIDAL_ERR_NOMEM;
    for (r = 0; r < cfg->regions; r++)
        for (s = 0; s < cfg->shards; s++) {
            tidal_node_ref x;
            x.region = (uint16_t)r, x.shard = (uint16_t)s;
            if (!tidal__peer_is_voter(voters, nv, x)) learners[nl++] = x;
        }
    TIDAL_ASSERT(nv + nl == n);
    snprintf(path, sizeof path, "%s/control", cfg->path);
    memset(&cc, 0, sizeof cc);
    cc.env = p->env;
    cc.allocator = cfg->allocator;
    cc.path = path;
    cc.self = cfg->self;
    cc.members = voters;
    cc.member_count = nv;
    cc.learners = nl ? learners : NULL;
    cc.learner_count = nl;
    cc.election_timeout_ns = cfg->control_election_timeout_ns;
    cc.heartbeat_ns = cfg->control_heartbeat_ns;
    res = tidal_control_open(&cc, &p->ctl, msg, cap);
    p->alloc.free(p->alloc.user, learners, n * sizeof *learners);
    return res;
}

/* Opens this node's member of every group whose placement includes its region. */
static tidal_result tidal__peer_open_members(tidal_peer *p, const tidal_peer_config *cfg,
                                             char *msg, size_t cap) {
    uint32_t g, r;
    tidal_result res;
    for (g = 0; g < p->n_groups; g++) {
        tidal__peer_member *m = &p->m[p->n_m];
        tidal_config dc = cfg->member;
        char why[256];
        if (!(p->groups[g].placement >> p->self.region & 1u)) continue;
        m->id = p->groups[g].id;
        for (r = 0; r < p->regions; r++)
            if (p->groups[g].placement >> r & 1u) {
                m->rep[m->n_rep].region = (uint16_t)r;
                m->rep[m->n_rep++].shard = p->self.shard;
            }
        TIDAL_ASSERT(m->n_rep >= 1 && m->n_rep <= TIDAL_REPLICAS_MAX && m->db == NULL);
        snprintf(m->path, sizeof m->path, "%s/g%u", cfg->path, m->id);
        dc.path = m->path;
        dc.env = p->env;
        dc.allocator = cfg->allocator;
        dc.node = p->self;
        dc.replicas = m->rep;
        dc.replica_count = m->n_rep;
        dc.group = m->id;
        why[0] = 0;
        res = tidal_db_open_msg(&dc, &m->db, why, sizeof why);
        if (res != TIDAL_OK) {
            tidal__ctl_why(msg, cap, "peer: member of group %u: %s", m->id, why);
            return res;
        }
        p->n_m++;
    }
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_peer_open(const tidal_peer_config *cfg, tidal_peer **out, char *msg,
                                       size_t msg_cap) {
    tidal_allocator a;
    tidal_peer *p;
    tidal_result r;
    const char *why;
    uint32_t g;
    if (!cfg || !out) return TIDAL_ERR_INVALID;
    *out = NULL;
    if ((why = tidal__peer_config_check(cfg)) != NULL) {
        tidal__ctl_why(msg, msg_cap, "peer config: %s", why);
        return TIDAL_ERR_INVALID;
    }
    if (cfg->allocator) a = *cfg->allocator;
    else a.user = NULL, a.alloc = tidal__default_alloc, a.realloc = tidal__default_realloc,
         a.free = tidal__default_free;
    p = (tidal_peer *)a.alloc(a.user, sizeof *p);
    if (!p) return TIDAL_ERR_NOMEM;
    memset(p, 0, sizeof *p);
    p->alloc = a;
    p->env = cfg->env ? cfg->env : tidal_env_posix();
    p->self = cfg->self;
    p->regions = cfg->regions;
    p->shards = cfg->shards;
    p->n_groups = cfg->group_count;
    p->timeout_ns = cfg->forward_timeout_ns ? cfg->forward_timeout_ns : 2 * TIDAL_NS_PER_S;
    p->env->random_fill(p->env->user, &p->next_ticket, sizeof p->next_ticket);
    p->next_ticket = (p->next_ticket >> 32) << 32; /* 2^32 calls per open before a wrap */
    for (g = 0; g < p->n_groups; g++) {
        p->groups[g] = cfg->groups[g];
        if (!p->groups[g].placement) p->groups[g].placement = (1u << p->regions) - 1;
    }
    p->hint = (uint32_t *)a.alloc(a.user, (size_t)p->n_groups * p->shards * sizeof *p->hint);
    r = p->hint ? TIDAL_OK : TIDAL_ERR_NOMEM;
    if (r == TIDAL_OK) memset(p->hint, 0, (size_t)p->n_groups * p->shards * sizeof *p->hint);
    if (r == TIDAL_OK && (r = p->env->dir_create(p->env->user, cfg->path)) != TIDAL_OK)
        tidal__ctl_why(msg, msg_cap, "peer: creating %s: %s", cfg->path, tidal_strerror(r));
    if (r == TIDAL_OK) r = tidal__gx_open(p, cfg, msg, msg_cap); /* >>node_gather */
    if (r == TIDAL_OK) r = tidal__peer_open_members(p, cfg, msg, msg_cap);
    if (r == TIDAL_OK && (r = tidal__move_open(p, cfg)) != TIDAL_OK) /* >>node_move */
        tidal__ctl_why(msg, msg_cap, "peer: %s", p->errmsg);
    if (r == TIDAL_OK) r = tidal__peer_open_control(p, cfg, msg, msg_cap);
    if (r == TIDAL_OK && p->env->dir_sync &&
        (r = p->env->dir_sync(p->env->user, cfg->path)) != TIDAL_OK)
        tidal__ctl_why(msg, msg_cap, "peer: syncing %s: %s", cfg->path, tidal_strerror(r));
    /* P1: what this node's own disk says is in force, before it serves anything. A
       topology mismatch is not an open error: the node runs and refuses client calls. */
    if (r == TIDAL_OK && (r = tidal__peer_apply(p)) == TIDAL_ERR_STALE_CONFIG) r = TIDAL_OK;
    if (r != TIDAL_OK) {
        if (msg && msg_cap && !msg[0]) tidal__ctl_why(msg, msg_cap, "peer: %s", p->errmsg);
        tidal_peer_close(p);
        return r;
    }
    TIDAL_ASSERT(p->ctl && p->n_m <= p->n_groups);
    *out = p;
    return TIDAL_OK;
}

TIDAL_API void tidal_peer_close(tidal_peer *p) {
    uint32_t i;
    if (!p) return;
    tidal__move_close(p); /* >>node_move: before the members it hooks */
    for (i = 0; i < p->n_m; i++) tidal_db_close(p->m[i].db);
    tidal_control_close(p->ctl);
    if (p->hint)
        p->alloc.free(p->alloc.user, p->hint, (size_t)p->n_groups * p->shards * sizeof *p->hint);
    if (p->ten) p->alloc.free(p->alloc.user, p->ten, (size_t)p->cap_ten * sizeof *p->ten);
    if (p->wait) p->alloc.free(p->alloc.user, p->wait, (size_t)p->cap_wait * sizeof *p->wait);
    if (p->done) p->alloc.free(p->alloc.user, p->done, (size_t)p->cap_done * sizeof *p->done);
    if (p->fan) p->alloc.free(p->alloc.user, p->fan, (size_t)p->cap_fan * sizeof *p->fan);
    tidal__gx_close(p); /* >>node_gather */
    p->alloc.free(p->alloc.user, p, sizeof *p);
}

TIDAL_API tidal_result tidal_peer_tenant_get(const tidal_peer *p, uint32_t tenant,
                                             tidal_peer_tenant *out) {
    const tidal__peer_tenant *t;
    if (!p || !out) return TIDAL_ERR_INVALID;
    t = tidal__peer_tenant_find(p, tenant);
    if (!t) return TIDAL_ERR_NOT_FOUND;
    *out = t->t;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_peer_status_get(const tidal_peer *p, tidal_peer_status *out) {
    if (!p || !out) return TIDAL_ERR_INVALID;
    memset(out, 0, sizeof *out);
    out->applied_index = p->applied_index;
    out->regions = p->topo_regions;
    out->shards = p->topo_shards;
    out->topology_mismatch = p->topo_bad;
    out->members = p->n_m;
    out->calls_pending = (uint32_t)p->n_wait;
    out->msgs_corrupt = p->msgs_corrupt;
    out->forwarded = p->forwarded;
    out->executed = p->executed;
    out->timeouts = p->timeouts;
    out->replies_late = p->replies_late;
    out->duplicates = p->duplicates;
    return TIDAL_OK;
}

TIDAL_API tidal_db *tidal_peer_member(tidal_peer *p, uint32_t group) {
    int32_t mi = p ? tidal__peer_member_index(p, group) : -1;
    return mi >= 0 ? p->m[mi].db : NULL;
}

TIDAL_API tidal_control *tidal_peer_control(tidal_peer *p) { return p ? p->ctl : NULL; }

TIDAL_API const char *tidal_peer_errmsg(const tidal_peer *p) {
    return p ? p->errmsg : "invalid handle";
}

// >>node_gather
// Heartbeats between peers, health as a library query and scatter-gather through messages
// (DESIGN 5.8, 5.9; API and message formats in >>api "Node: heartbeats, health and
// scatter-gather"). The state is struct tidal__gx on tidal_peer.gx; >>node calls in at
// open, close, tick, message receipt and completion reservation (marked there).
// Invariants: a gather completes exactly once (every shard answered or given up, or its
// deadline), through the peer's completion queue, whose room tidal__peer_reserve keeps for
// every gather in flight; a shard takes its first answer only; a message of these types
// changes nothing unless it decodes whole and fits this node's config. Limits: a
// heartbeat lists at most TIDAL_PEER_GROUPS_MAX members; gathers count against
// TIDAL_PEER_CALLS_MAX with the calls in flight. Heartbeats go to every node: O(nodes^2)
// messages per interval over the cluster.

#define TIDAL__GX_HB_FIXED 41u  /* HEARTBEAT payload before its members (count included) */
#define TIDAL__GX_HB_MEMBER 40u
#define TIDAL__GX_Q_FIXED 18u   /* GATHER_Q payload without its text */
#define TIDAL__GX_A_FIXED 48u   /* GATHER_A payload without its hits and message */
#define TIDAL__GX_MSG_MAX 127u
#define TIDAL__GX_AT_ROOM 32u   /* bytes a gather keeps free in its text for " AT <ns>" */
#define TIDAL__GX_BUF (TIDAL__GX_A_FIXED + 16u * TIDAL_PEER_HITS_MAX + 1u + TIDAL__GX_MSG_MAX)
TIDAL__STATIC_ASSERT(gx_types_reserved, TIDAL_PEER_MSG_HEARTBEAT >= 96 &&
                     TIDAL_PEER_MSG_GATHER_A <= 109);
TIDAL__STATIC_ASSERT(gx_buf_holds_all, TIDAL__GX_BUF >= TIDAL__GX_Q_FIXED + TIDAL_PEER_TEXT_MAX &&
                     TIDAL__GX_BUF >= TIDAL__GX_HB_FIXED + TIDAL__GX_HB_MEMBER *
                     TIDAL_PEER_GROUPS_MAX);
TIDAL__STATIC_ASSERT(gx_answer_fits, TIDAL__MSG_HDR + TIDAL__GX_BUF <= TIDAL_MSG_BYTES_MAX);
TIDAL__STATIC_ASSERT(gx_tries_fit, TIDAL_REPLICAS_MAX <= 32);

/* What a heartbeat says of one member, and of the sender's control member. */
typedef struct tidal__gx_member {
    uint32_t group, role, flags, leader; /* flags: bit 0 has a leader, bit 1 cut off */
    uint64_t epoch, applied, lag_events;
    int64_t lag_ns;
} tidal__gx_member;

typedef struct tidal__gx_hb {
    uint32_t cflags, cleader;            /* cflags: bit 0 has a leader, bit 1 leads */
    uint64_t term, commit, applied, last;
    uint32_t n;
    tidal__gx_member m[TIDAL_PEER_GROUPS_MAX];
} tidal__gx_hb;

typedef struct tidal__gx_q {
    uint32_t group, shard, tenant, try_no, text_len;
    char text[TIDAL_PEER_TEXT_MAX + 1];
} tidal__gx_q;

typedef struct tidal__gx_a {
    uint32_t group, shard, try_no, flags, n; /* flags: bit 0 degraded, bit 1 a leader */
    tidal_result result;
    uint64_t epoch, lag_events;
    int64_t staleness_ns;
    tidal_hit hits[TIDAL_PEER_HITS_MAX];
    char message[TIDAL__GX_MSG_MAX + 1];
} tidal__gx_a;

struct tidal__gx_msg {
    tidal__gx_hb hb;
    tidal__gx_q q;
    tidal__gx_a a;
};

typedef struct tidal__gx_heard {
    int64_t at_ns;            /* the last heartbeat's arrival (mono clock), or the open's */
    int heard;                /* a heartbeat came since open */
    tidal__gx_hb hb;
} tidal__gx_heard;

/* One shard of a gather: the replicas to ask, in order, and where the asking stands. */
typedef struct tidal__gx_shard {
    uint32_t cand[TIDAL_REPLICAS_MAX]; /* node words */
    uint32_t n_cand, next;    /* candidates; how many were asked */
    uint32_t timed_out;       /* bit k: cand[k] was asked and did not answer in its try */
    int answered, done;       /* done: answered, or every candidate tried */
    int64_t try_deadline_ns;
} tidal__gx_shard;

typedef struct tidal__gx_call {
    uint64_t ticket;
    uint32_t group, tenant, placement, limit, n_shards, n_answered, n_done;
    int64_t deadline_ns;
    tidal__gx_shard *sh;      /* [n_shards] */
    tidal_hit hits[TIDAL_PEER_HITS_MAX];
    uint32_t n_hits;
    int64_t staleness_ns;
    uint64_t staleness_events;
    int replica_degraded, failed;
    tidal_result fail_r;
    char why[128];            /* the first replica's degraded reason, or the failure */
    uint32_t text_len;
    char text[TIDAL_PEER_TEXT_MAX + 1];
} tidal__gx_call;

struct tidal__gx {
    int64_t hb_ns, silent_ns, lag_ns, wait_ns, try_ns, next_hb_ns;
    uint64_t hb_seq, hb_sent, hb_received, late;
    uint32_t n_nodes;
    tidal__gx_heard *heard;   /* [region * shards + shard] */
    tidal__gx_call **calls;   /* in flight, oldest first */
    uint64_t n_calls, cap_calls;
    struct tidal__gx_msg msg; /* decode scratch (large: off the stack) */
    tidal__gx_a ans;          /* an answer being built */
    uint8_t buf[TIDAL__GX_BUF];
};

static uint64_t tidal__gx_pending(const tidal_peer *p) { return p->gx ? p->gx->n_calls : 0; }

static uint32_t tidal__gx_index(const tidal_peer *p, tidal_node_ref n) {
    TIDAL_ASSERT(n.region < p->regions && n.shard < p->shards);
    return (uint32_t)n.region * p->shards + n.shard;
}

/* 1 when node n has not been heard from within silent_ns (never this node itself). */
static int tidal__gx_silent(const tidal_peer *p, tidal_node_ref n, int64_t now) {
    const tidal__gx_heard *h = &p->gx->heard[tidal__gx_index(p, n)];
    TIDAL_ASSERT(p->gx->silent_ns > 0);
    return !tidal__peer_is_self(p, n) && now - h->at_ns > p->gx->silent_ns;
}

/* A placement region none of whose nodes was heard within silent_ns. */
static int tidal__gx_region_silent(const tidal_peer *p, uint32_t r, int64_t now) {
    tidal_node_ref n;
    uint32_t s;
    TIDAL_ASSERT(r < p->regions);
    n.region = (uint16_t)r;
    for (s = 0; s < p->shards; s++) {
        n.shard = (uint16_t)s;
        if (!tidal__gx_silent(p, n, now)) return 0;
    }
    return 1;
}

static void tidal__gx_send(tidal_peer *p, uint32_t type, tidal_node_ref to, tidal_node_ref origin,
                           uint64_t ticket, const uint8_t *payload, size_t n) {
    size_t len = 0;
    uint8_t *b;
    TIDAL_ASSERT(TIDAL__GX_TYPE(type) && ticket && n <= TIDAL__GX_BUF);
    b = tidal__peer_msg_new(p, type, to, origin, 0, ticket, payload, n, &len);
    if (!b) return; /* lost like any message: silence, or the gather's next try, covers it */
    (void)p->env->message_send(p->env->user, to, b, len);
    p->alloc.free(p->alloc.user, b, len);
}

/* ---- Decoding (every field checked; out may be NULL: check only) ---- */

static const char *tidal__gx_hb_get(tidal__rd *r, tidal__gx_hb *out) {
    tidal__gx_hb h;
    uint32_t i, j;
    h.cflags = tidal__rd_u8(r);
    if (tidal__rd_u8(r) | tidal__rd_u8(r) | tidal__rd_u8(r)) return "reserved byte not zero";
    h.cleader = tidal__rd_u32(r);
    h.term = tidal__rd_u64(r);
    h.commit = tidal__rd_u64(r);
    h.applied = tidal__rd_u64(r);
    h.last = tidal__rd_u64(r);
    h.n = tidal__rd_u8(r);
    if (r->bad) return "truncated";
    if (h.cflags > 3) return "unknown control flag bits";
    if ((h.cflags & 2) && !(h.cflags & 1)) return "control leads but knows no leader";
    if (!(h.cflags & 1) && h.cleader) return "control leader without its flag";
    if (h.n > TIDAL_PEER_GROUPS_MAX) return "member count above TIDAL_PEER_GROUPS_MAX";
    for (i = 0; i < h.n; i++) {
        tidal__gx_member *m = &h.m[i];
        m->group = tidal__rd_u8(r);
        m->role = tidal__rd_u8(r);
        m->flags = tidal__rd_u8(r);
        if (tidal__rd_u8(r) && !r->bad) return "member reserved byte not zero";
        m->leader = tidal__rd_u32(r);
        m->epoch = tidal__rd_u64(r);
        m->applied = tidal__rd_u64(r);
        m->lag_events = tidal__rd_u64(r);
        m->lag_ns = (int64_t)tidal__rd_u64(r);
        if (r->bad) return "truncated member";
        if (m->role != TIDAL_ROLE_FOLLOWER && m->role != TIDAL_ROLE_LEADER)
            return "member role not follower or leader";
        if (m->flags > 3) return "unknown member flag bits";
        if (!(m->flags & 1) && m->leader) return "member leader without its flag";
        if (m->lag_ns < 0) return "negative lag";
        if (m->role == TIDAL_ROLE_LEADER && (m->lag_ns || m->lag_events)) return "a leader lags";
        for (j = 0; j < i; j++)
            if (h.m[j].group == m->group) return "a group listed twice";
    }
    if (r->pos != r->n) return "bytes after the last field";
    TIDAL_ASSERT(h.n <= TIDAL_PEER_GROUPS_MAX);
    if (out) *out = h;
    return NULL;
}

static const char *tidal__gx_q_get(tidal__rd *r, tidal__gx_q *out) {
    uint32_t group, shard, tenant, try_no;
    size_t n;
    const char *s;
    tidal_query_text *qt;
    tidal_parse_error pe;
    const char *why = NULL;
    group = tidal__rd_u32(r);
    shard = tidal__rd_u32(r);
    tenant = tidal__rd_u32(r);
    try_no = tidal__rd_u32(r);
    n = (size_t)tidal__rd_le(r, 2);
    if (r->bad) return "truncated";
    if (group > 255) return "group above 255";
    if (shard > 0xFFFF) return "shard above 65535";
    if (try_no < 1 || try_no > TIDAL_REPLICAS_MAX) return "try not 1..TIDAL_REPLICAS_MAX";
    if (n < 1 || n > TIDAL_PEER_TEXT_MAX) return "text not 1..TIDAL_PEER_TEXT_MAX bytes";
    if (!(s = tidal__rd_bytes(r, n))) return "truncated text";
    if (memchr(s, 0, n)) return "a NUL byte in the text";
    if (r->pos != r->n) return "bytes after the last field";
    qt = (tidal_query_text *)tidal__default_alloc(NULL, sizeof *qt); /* large: off the stack */
    if (!qt) return "out of memory to check the text";
    if (tidal_query_parse(s, n, qt, &pe) != TIDAL_OK) why = "text is no RETRIEVE";
    else if (qt->tenant != tenant) why = "text's TENANT differs from the tenant field";
    else if (qt->limit > TIDAL_PEER_HITS_MAX) why = "LIMIT above TIDAL_PEER_HITS_MAX";
    tidal__default_free(NULL, qt, sizeof *qt);
    if (why || !out) return why;
    out->group = group, out->shard = shard, out->tenant = tenant, out->try_no = try_no;
    out->text_len = (uint32_t)n;
    memcpy(out->text, s, n);
    out->text[n] = 0;
    TIDAL_ASSERT(n <= TIDAL_PEER_TEXT_MAX);
    return NULL;
}

static const char *tidal__gx_a_get(tidal__rd *r, tidal__gx_a *out) {
    tidal__gx_a a; /* scalars only are read into it when out is NULL */
    uint32_t i;
    int32_t res;
    double prev = 0;
    tidal_id prev_item = 0;
    memset(&a, 0, sizeof a);
    a.group = tidal__rd_u32(r);
    a.shard = tidal__rd_u32(r);
    a.try_no = tidal__rd_u32(r);
    res = (int32_t)tidal__rd_u32(r);
    a.flags = tidal__rd_u8(r);
    if ((tidal__rd_u8(r) | tidal__rd_u8(r) | tidal__rd_u8(r)) && !r->bad)
        return "reserved byte not zero";
    a.epoch = tidal__rd_u64(r);
    a.staleness_ns = (int64_t)tidal__rd_u64(r);
    a.lag_events = tidal__rd_u64(r);
    a.n = tidal__rd_u32(r);
    if (r->bad) return "truncated";
    if (a.group > 255) return "group above 255";
    if (a.shard > 0xFFFF) return "shard above 65535";
    if (a.try_no < 1 || a.try_no > TIDAL_REPLICAS_MAX) return "try not 1..TIDAL_REPLICAS_MAX";
    if (res < (int32_t)TIDAL_RESULT_MIN_ || res >= (int32_t)TIDAL_PENDING) return "unknown result";
    a.result = (tidal_result)res;
    if (a.flags > 3) return "unknown flag bits";
    if (a.staleness_ns < 0) return "negative staleness";
    if (a.n > TIDAL_PEER_HITS_MAX) return "hit count above TIDAL_PEER_HITS_MAX";
    if (a.n && a.result != TIDAL_OK) return "hits with an error result";
    for (i = 0; i < a.n; i++) {
        tidal_id item = tidal__rd_u64(r);
        double score = tidal__rd_f64(r);
        if (r->bad) return "truncated hits";
        if (!item || score != score) return "a hit with item 0 or a NaN score";
        if (i && (score > prev || (score == prev && item <= prev_item)))
            return "hits out of result order";
        prev = score, prev_item = item;
        if (out) out->hits[i].item = item, out->hits[i].score = score;
    }
    {
        size_t n = (size_t)tidal__rd_u8(r);
        const char *s = tidal__rd_bytes(r, n);
        if (r->bad || !s) return "truncated message";
        if (n && memchr(s, 0, n)) return "a NUL byte in the message";
        if (n > TIDAL__GX_MSG_MAX) return "message above 127 bytes";
        if (r->pos != r->n) return "bytes after the last field";
        if (!out) return NULL;
        memcpy(a.message, s, n);
        a.message[n] = 0;
    }
    TIDAL_ASSERT(a.n <= TIDAL_PEER_HITS_MAX);
    memcpy(a.hits, out->hits, sizeof(tidal_hit) * a.n);
    *out = a;
    return NULL;
}

/* The payload of a HEARTBEAT, GATHER_Q or GATHER_A (tidal__peer_decode's envelope checked
   already), into out when given; fills the message's group, shard and tenant. */
static const char *tidal__gx_payload(tidal__rd *r, tidal_peer_message *m,
                                     struct tidal__gx_msg *out) {
    const char *why;
    TIDAL_ASSERT(TIDAL__GX_TYPE(m->type));
    if (m->type == TIDAL_PEER_MSG_HEARTBEAT) return tidal__gx_hb_get(r, out ? &out->hb : NULL);
    if (m->type == TIDAL_PEER_MSG_GATHER_Q) {
        tidal__gx_q *q = out ? &out->q : NULL;
        size_t at = r->pos;
        why = tidal__gx_q_get(r, q);
        if (!why) { /* the fixed fields again, for the decoded message */
            m->group = tidal__rd_le_at4(r->p + at);
            m->shard = tidal__rd_le_at4(r->p + at + 4);
            m->tenant = tidal__rd_le_at4(r->p + at + 8);
        }
        return why;
    }
    TIDAL_ASSERT(m->type == TIDAL_PEER_MSG_GATHER_A);
    {
        size_t at = r->pos;
        why = tidal__gx_a_get(r, out ? &out->a : NULL);
        if (!why) {
            m->group = tidal__rd_le_at4(r->p + at);
            m->shard = tidal__rd_le_at4(r->p + at + 4);
            m->result = (tidal_result)(int32_t)tidal__rd_le_at4(r->p + at + 12);
            m->hit_count = tidal__rd_le_at4(r->p + at + 44);
        }
    }
    return why;
}

/* ---- Heartbeats ---- */

static size_t tidal__gx_hb_put(tidal_peer *p, uint8_t *buf) {
    tidal_control_status cs;
    uint8_t *w = buf;
    uint32_t i;
    (void)tidal_control_status_get(p->ctl, &cs);
    w = tidal__wr_le(w, (cs.has_leader ? 1u : 0u) | (cs.role == TIDAL_ROLE_LEADER ? 2u : 0u), 1);
    w = tidal__wr_le(w, 0, 3);
    w = tidal__wr_le(w, cs.has_leader ? tidal__node_word(cs.leader) : 0, 4);
    w = tidal__wr_le(w, cs.term, 8);
    w = tidal__wr_le(w, cs.commit_index, 8);
    w = tidal__wr_le(w, p->applied_index, 8);
    w = tidal__wr_le(w, cs.last_index, 8);
    w = tidal__wr_le(w, p->n_m, 1);
    TIDAL_ASSERT((size_t)(w - buf) == TIDAL__GX_HB_FIXED);
    for (i = 0; i < p->n_m; i++) {
        tidal_node_status st;
        int lead;
        (void)tidal_node_status_get(p->m[i].db, &st);
        lead = st.role == TIDAL_ROLE_LEADER;
        w = tidal__wr_le(w, p->m[i].id, 1);
        w = tidal__wr_le(w, lead ? TIDAL_ROLE_LEADER : TIDAL_ROLE_FOLLOWER, 1);
        w = tidal__wr_le(w, (st.has_leader ? 1u : 0u) | (st.cut_off ? 2u : 0u), 1);
        w = tidal__wr_le(w, 0, 1);
        w = tidal__wr_le(w, st.has_leader ? tidal__node_word(st.leader) : 0, 4);
        w = tidal__wr_le(w, st.epoch, 8);
        w = tidal__wr_le(w, lead ? st.durable_lsn : st.leader_lsn, 8);
        w = tidal__wr_le(w, lead ? 0 : st.lag_events, 8);
        w = tidal__wr_le(w, lead || st.lag_ns < 0 ? 0 : (uint64_t)st.lag_ns, 8);
    }
    TIDAL_ASSERT((size_t)(w - buf) == TIDAL__GX_HB_FIXED + TIDAL__GX_HB_MEMBER * p->n_m);
    return (size_t)(w - buf);
}

/* Sends this node's heartbeat to every other node when one is due. */
static void tidal__gx_heartbeat(tidal_peer *p, int64_t now) {
    struct tidal__gx *g = p->gx;
    uint32_t r, s;
    size_t n;
    if (now < g->next_hb_ns) return;
    g->next_hb_ns = now + g->hb_ns;
    n = tidal__gx_hb_put(p, g->buf);
    g->hb_seq++;
    for (r = 0; r < p->regions; r++)
        for (s = 0; s < p->shards; s++) {
            tidal_node_ref to;
            to.region = (uint16_t)r, to.shard = (uint16_t)s;
            if (tidal__peer_is_self(p, to)) continue;
            tidal__gx_send(p, TIDAL_PEER_MSG_HEARTBEAT, to, p->self, g->hb_seq, g->buf, n);
            g->hb_sent++;
        }
}

/* Checks a decoded heartbeat against this node's config; NULL, or why (*at: the byte). */
static const char *tidal__gx_hb_fits(const tidal_peer *p, tidal_node_ref from,
                                     const tidal__gx_hb *h, size_t *at) {
    uint32_t i;
    tidal_node_ref n;
    *at = TIDAL__MSG_HDR + 4;
    if (h->cflags & 1) {
        tidal__ctl_ref(h->cleader, &n);
        if (n.region >= p->regions || n.shard >= p->shards)
            return "control leader outside the topology";
        if ((h->cflags & 2) && tidal__node_word(n) != tidal__node_word(from))
            return "leads the control plane but names another leader";
    }
    for (i = 0; i < h->n; i++) {
        int32_t gi = tidal__peer_group_index(p, h->m[i].group);
        *at = TIDAL__MSG_HDR + TIDAL__GX_HB_FIXED + (size_t)i * TIDAL__GX_HB_MEMBER;
        if (gi < 0) return "a member of a group not in this node's config";
        if (!(p->groups[gi].placement >> from.region & 1u))
            return "a member of a group not placed in the sender's region";
        if (h->m[i].flags & 1) {
            tidal__ctl_ref(h->m[i].leader, &n);
            *at += 4;
            if (n.region >= p->regions || n.shard != from.shard ||
                !(p->groups[gi].placement >> n.region & 1u))
                return "a member's leader not a replica of its shard";
        }
    }
    return NULL;
}

/* ---- Gathers ---- */

/* Runs text on member mi, as an answer. */
static void tidal__gx_run(tidal_peer *p, uint32_t mi, const char *text, tidal__gx_a *a) {
    tidal_db *db = p->m[mi].db;
    tidal_query_stats st;
    tidal_node_status ns;
    TIDAL_ASSERT(mi < p->n_m && text);
    memset(a, 0, sizeof *a);
    memset(&st, 0, sizeof st);
    a->group = p->m[mi].id;
    a->shard = p->self.shard;
    a->result = tidal_retrieve_text(db, text, a->hits, TIDAL_PEER_HITS_MAX, &a->n, &st);
    (void)tidal_node_status_get(db, &ns);
    a->epoch = ns.epoch;
    if (ns.role == TIDAL_ROLE_LEADER) a->flags |= 2;
    if (a->result != TIDAL_OK) {
        a->n = 0;
        snprintf(a->message, sizeof a->message, "%.127s", tidal_errmsg(db));
        return;
    }
    a->staleness_ns = st.staleness_ns > 0 ? st.staleness_ns : 0;
    a->lag_events = ns.role == TIDAL_ROLE_LEADER ? 0 : ns.lag_events;
    if (st.degraded) {
        a->flags |= 1;
        snprintf(a->message, sizeof a->message, "%.95s", st.degraded_reason);
    }
    TIDAL_ASSERT(a->n <= TIDAL_PEER_HITS_MAX);
}

static size_t tidal__gx_a_put(const tidal__gx_a *a, uint8_t *buf) {
    uint8_t *w = buf;
    uint32_t i;
    size_t n = strlen(a->message);
    TIDAL_ASSERT(a->n <= TIDAL_PEER_HITS_MAX && n <= TIDAL__GX_MSG_MAX);
    w = tidal__wr_le(w, a->group, 4);
    w = tidal__wr_le(w, a->shard, 4);
    w = tidal__wr_le(w, a->try_no, 4);
    w = tidal__wr_le(w, (uint32_t)(int32_t)a->result, 4);
    w = tidal__wr_le(w, a->flags, 1);
    w = tidal__wr_le(w, 0, 3);
    w = tidal__wr_le(w, a->epoch, 8);
    w = tidal__wr_le(w, (uint64_t)a->staleness_ns, 8);
    w = tidal__wr_le(w, a->lag_events, 8);
    w = tidal__wr_le(w, a->n, 4);
    TIDAL_ASSERT((size_t)(w - buf) == TIDAL__GX_A_FIXED);
    for (i = 0; i < a->n; i++) {
        w = tidal__wr_le(w, a->hits[i].item, 8);
        w = tidal__wr_f64(w, a->hits[i].score);
    }
    w = tidal__wr_le(w, n, 1);
    w = tidal__wr_bytes(w, a->message, n);
    return (size_t)(w - buf);
}

/* Answers a GATHER_Q from this node's member of its group and shard. */
static void tidal__gx_answer(tidal_peer *p, tidal_node_ref from, uint64_t ticket,
                             const tidal__gx_q *q) {
    struct tidal__gx *g = p->gx;
    int32_t mi = tidal__peer_member_index(p, q->group);
    const tidal__peer_tenant *t = tidal__peer_tenant_find(p, q->tenant);
    TIDAL_ASSERT(q->text_len > 0 && ticket);
    if (mi < 0 || q->shard != p->self.shard) {
        memset(&g->ans, 0, sizeof g->ans);
        g->ans.result = TIDAL_ERR_STALE_CONFIG;
        snprintf(g->ans.message, sizeof g->ans.message, "node %u/%u runs no member of group %u "
                 "shard %u", p->self.region, p->self.shard, q->group, q->shard);
    } else if (t && t->t.has_placement && t->t.group != q->group) {
        memset(&g->ans, 0, sizeof g->ans);
        g->ans.result = TIDAL_ERR_STALE_CONFIG;
        snprintf(g->ans.message, sizeof g->ans.message, "tenant %u is owned by group %u here, "
                 "not %u: refresh", q->tenant, t->t.group, q->group);
    } else {
        tidal__gx_run(p, (uint32_t)mi, q->text, &g->ans);
        p->executed++;
    }
    g->ans.group = q->group;
    g->ans.shard = q->shard;
    g->ans.try_no = q->try_no;
    tidal__gx_send(p, TIDAL_PEER_MSG_GATHER_A, from, from, ticket, g->buf,
                   tidal__gx_a_put(&g->ans, g->buf));
}

/* Asks the next candidate replica of shard s. */
static void tidal__gx_ask(tidal_peer *p, tidal__gx_call *c, uint32_t s, int64_t now) {
    tidal__gx_shard *sh = &c->sh[s];
    tidal_node_ref to;
    uint8_t *w = p->gx->buf;
    TIDAL_ASSERT(s < c->n_shards && sh->next < sh->n_cand && !sh->done);
    tidal__ctl_ref(sh->cand[sh->next++], &to);
    sh->try_deadline_ns = now + p->gx->try_ns;
    w = tidal__wr_le(w, c->group, 4);
    w = tidal__wr_le(w, s, 4);
    w = tidal__wr_le(w, c->tenant, 4);
    w = tidal__wr_le(w, sh->next, 4);
    w = tidal__wr_le(w, c->text_len, 2);
    w = tidal__wr_bytes(w, c->text, c->text_len);
    TIDAL_ASSERT((size_t)(w - p->gx->buf) == TIDAL__GX_Q_FIXED + c->text_len);
    tidal__gx_send(p, TIDAL_PEER_MSG_GATHER_Q, to, p->self, c->ticket, p->gx->buf,
                   (size_t)(w - p->gx->buf));
    p->forwarded++;
}

/* The shard's current try ended without an answer: the next replica, or it is done. */
static void tidal__gx_next(tidal_peer *p, tidal__gx_call *c, uint32_t s, int64_t now) {
    tidal__gx_shard *sh = &c->sh[s];
    TIDAL_ASSERT(!sh->answered && !sh->done);
    if (sh->next < sh->n_cand) {
        tidal__gx_ask(p, c, s, now);
        return;
    }
    sh->done = 1;
    c->n_done++;
}

/* 1 for a result that says the query itself is wrong (every replica would say it). */
static int tidal__gx_query_error(tidal_result r) {
    return r == TIDAL_ERR_INVALID || r == TIDAL_ERR_PARSE || r == TIDAL_ERR_NOT_FOUND ||
           r == TIDAL_ERR_RANGE || r == TIDAL_ERR_LIMIT || r == TIDAL_ERR_SCHEMA;
}

/* Takes shard s's answer (k: the candidate that gave it, -1 for this node's member). */
static void tidal__gx_take(tidal_peer *p, tidal__gx_call *c, uint32_t s, int32_t k,
                           const tidal__gx_a *a, int64_t now) {
    tidal__gx_shard *sh = &c->sh[s];
    tidal_hit *all;
    uint32_t total;
    TIDAL_ASSERT(s < c->n_shards && k < (int32_t)sh->n_cand);
    if (sh->answered || c->failed) return; /* the first answer only */
    if (k >= 0) sh->timed_out &= ~(1u << k);
    if (a->result != TIDAL_OK) {
        if (tidal__gx_query_error(a->result)) {
            c->failed = 1;
            c->fail_r = a->result;
            snprintf(c->why, sizeof c->why, "shard %u: %.100s", s, a->message);
            return;
        }
        if (k >= 0) sh->timed_out |= 1u << k; /* it could not answer: counts as none */
        if (!sh->done && (k < 0 || (uint32_t)k + 1 == sh->next)) tidal__gx_next(p, c, s, now);
        return;
    }
    if (sh->done) c->n_done--; /* a late answer after its tries ran out still counts */
    sh->answered = sh->done = 1;
    c->n_done++;
    c->n_answered++;
    if (a->staleness_ns > c->staleness_ns) c->staleness_ns = a->staleness_ns;
    if (a->lag_events > c->staleness_events) c->staleness_events = a->lag_events;
    if ((a->flags & 1) && !c->replica_degraded) {
        c->replica_degraded = 1;
        snprintf(c->why, sizeof c->why, "shard %u: %.100s", s, a->message);
    }
    /* Merge: the running top hits and the answer's, in result order, cut to the limit. */
    total = c->n_hits + a->n;
    all = (tidal_hit *)p->alloc.alloc(p->alloc.user, sizeof(tidal_hit) * (total ? total : 1));
    if (!all) { /* keep what fits without memory: the answer's hits are lost, say so */
        c->failed = 1;
        c->fail_r = TIDAL_ERR_NOMEM;
        snprintf(c->why, sizeof c->why, "out of memory merging shard %u", s);
        return;
    }
    memcpy(all, c->hits, sizeof(tidal_hit) * c->n_hits);
    memcpy(all + c->n_hits, a->hits, sizeof(tidal_hit) * a->n);
    qsort(all, total, sizeof *all, tidal__hit_order);
    c->n_hits = total < c->limit ? total : c->limit;
    memcpy(c->hits, all, sizeof(tidal_hit) * c->n_hits);
    p->alloc.free(p->alloc.user, all, sizeof(tidal_hit) * (total ? total : 1));
    TIDAL_ASSERT(c->n_hits <= TIDAL_PEER_HITS_MAX && c->n_done <= c->n_shards);
}

/* Hands out call i's completion and removes it. */
static void tidal__gx_complete(tidal_peer *p, uint64_t i, int64_t now) {
    struct tidal__gx *g = p->gx;
    tidal__gx_call *c = g->calls[i];
    tidal_peer_completion out;
    uint32_t s, r, k;
    TIDAL_ASSERT(i < g->n_calls && c);
    memset(&out, 0, sizeof out);
    out.executed_by = p->self;
    out.shards_asked = c->n_shards;
    out.shards_answered = c->n_answered;
    for (s = 0; s < c->n_shards; s++) {
        const tidal__gx_shard *sh = &c->sh[s];
        if (!sh->answered) {
            if (out.missing_count < TIDAL_PEER_MISSING_MAX) out.missing[out.missing_count] = s;
            out.missing_count++;
            out.regions_missing |= c->placement; /* no replica of it answered */
            continue;
        }
        for (k = 0; k < sh->n_cand; k++)
            if (sh->timed_out >> k & 1u) out.regions_missing |= 1u << (sh->cand[k] >> 16);
    }
    for (r = 0; r < p->regions; r++)
        if ((c->placement >> r & 1u) && tidal__gx_region_silent(p, r, now))
            out.regions_missing |= 1u << r;
    out.staleness_ns = c->staleness_ns;
    out.staleness_events = c->staleness_events;
    out.degraded = out.missing_count || out.regions_missing || c->replica_degraded;
    if (out.missing_count) {
        snprintf(out.degraded_reason, sizeof out.degraded_reason, "shard %u unreachable (%u of %u "
                 "answered)", out.missing[0], c->n_answered, c->n_shards);
    } else if (out.regions_missing) {
        for (r = 0; !(out.regions_missing >> r & 1u); r++) {}
        snprintf(out.degraded_reason, sizeof out.degraded_reason, "region %u unreachable: writes "
                 "taken there may be missing", r);
    } else if (c->replica_degraded) {
        snprintf(out.degraded_reason, sizeof out.degraded_reason, "%.95s", c->why);
    }
    if (c->failed) {
        out.outcome = TIDAL_PEER_DONE_FAILED;
        out.result = c->fail_r;
        snprintf(out.message, sizeof out.message, "%.127s", c->why);
    } else if (!c->n_answered) {
        out.outcome = TIDAL_PEER_DONE_FAILED;
        out.result = TIDAL_ERR_UNAVAILABLE;
        snprintf(out.message, sizeof out.message, "no shard of group %u answered", c->group);
    } else {
        out.outcome = TIDAL_PEER_DONE_OK;
        out.result = TIDAL_OK;
        out.hit_count = c->n_hits;
        memcpy(out.hits, c->hits, sizeof(tidal_hit) * c->n_hits);
    }
    tidal__peer_finish(p, p->self, p->self, c->ticket, &out);
    p->alloc.free(p->alloc.user, c->sh, sizeof *c->sh * c->n_shards);
    p->alloc.free(p->alloc.user, c, sizeof *c);
    memmove(g->calls + i, g->calls + i + 1, (size_t)(g->n_calls - i - 1) * sizeof *g->calls);
    g->n_calls--;
}

/* Moves every gather on: tries that ran out go to the next replica; a gather whose shards
   are all done, or whose deadline passed, completes. */
static void tidal__gx_progress(tidal_peer *p, int64_t now) {
    struct tidal__gx *g = p->gx;
    uint64_t i = 0;
    while (i < g->n_calls) {
        tidal__gx_call *c = g->calls[i];
        uint32_t s;
        for (s = 0; s < c->n_shards && !c->failed; s++) {
            tidal__gx_shard *sh = &c->sh[s];
            if (sh->done || !sh->next || now < sh->try_deadline_ns) continue;
            sh->timed_out |= 1u << (sh->next - 1);
            tidal__gx_next(p, c, s, now);
        }
        if (c->failed || c->n_done == c->n_shards || now >= c->deadline_ns)
            tidal__gx_complete(p, i, now);
        else i++;
    }
}

/* The replicas of shard s to ask, in order: regions heard from first (this node's own,
   then ascending), then the silent ones likewise; never this node itself. */
static void tidal__gx_candidates(const tidal_peer *p, tidal__gx_call *c, uint32_t s,
                                 int64_t now) {
    tidal__gx_shard *sh = &c->sh[s];
    uint32_t pass, k, r;
    TIDAL_ASSERT(s < p->shards && sh->n_cand == 0);
    for (pass = 0; pass < 2; pass++)
        for (k = 0; k <= p->regions; k++) {
            tidal_node_ref n;
            if (k == 0) r = p->self.region; /* this region first */
            else if ((r = k - 1) == p->self.region) continue;
            if (!(c->placement >> r & 1u)) continue;
            n.region = (uint16_t)r, n.shard = (uint16_t)s;
            if (tidal__peer_is_self(p, n) || tidal__gx_silent(p, n, now) != (int)pass) continue;
            sh->cand[sh->n_cand++] = tidal__node_word(n);
        }
    TIDAL_ASSERT(sh->n_cand <= TIDAL_REPLICAS_MAX);
}

/* Fails a gather before it was taken on (no shard asked). */
static tidal_result tidal__gx_refuse(tidal_peer *p, uint64_t ticket, tidal_result r,
                                     const char *why) {
    tidal__peer_fail(p, p->self, p->self, ticket, TIDAL_PEER_DONE_FAILED, r, NULL, "%s", why);
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_peer_gather(tidal_peer *p, const char *text, int64_t wait_ns,
                                         uint64_t *ticket) {
    struct tidal__gx *g;
    tidal_query_text *qt;
    tidal_parse_error pe;
    const tidal__peer_tenant *t;
    tidal__gx_call *c;
    int64_t now;
    int32_t gi, mi;
    uint32_t s;
    size_t n;
    char why[160];
    if (!p) return TIDAL_ERR_INVALID;
    g = p->gx;
    if (!ticket) return tidal__peer_err(p, TIDAL_ERR_INVALID, "gather: ticket NULL");
    if (!text || (n = strlen(text)) == 0 || n > TIDAL_PEER_TEXT_MAX - TIDAL__GX_AT_ROOM)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "gather: text not 1..TIDAL_PEER_TEXT_MAX - "
                               "%u bytes", TIDAL__GX_AT_ROOM);
    if (wait_ns < 0) return tidal__peer_err(p, TIDAL_ERR_INVALID, "gather: wait_ns negative");
    qt = (tidal_query_text *)p->alloc.alloc(p->alloc.user, sizeof *qt);
    if (!qt) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "gather: query");
    why[0] = 0;
    if (tidal_query_parse(text, n, qt, &pe) != TIDAL_OK)
        snprintf(why, sizeof why, "gather: at byte %u: %s", pe.position, pe.message);
    else if (qt->limit > TIDAL_PEER_HITS_MAX)
        snprintf(why, sizeof why, "gather: LIMIT %u above TIDAL_PEER_HITS_MAX", qt->limit);
    c = why[0] ? NULL : (tidal__gx_call *)p->alloc.alloc(p->alloc.user, sizeof *c);
    if (c) {
        memset(c, 0, sizeof *c);
        c->tenant = qt->tenant;
        c->limit = qt->limit ? qt->limit : 20;
        memcpy(c->text, text, n + 1);
        c->text_len = (uint32_t)n;
        if (!qt->time_ns) /* one instant for every shard: this node's clock now */
            c->text_len += (uint32_t)snprintf(c->text + n, TIDAL__GX_AT_ROOM, " AT %lld",
                                              (long long)p->env->clock_wall_ns(p->env->user));
    }
    p->alloc.free(p->alloc.user, qt, sizeof *qt);
    if (why[0]) return tidal__peer_err(p, TIDAL_ERR_INVALID, "%s", why);
    if (!c) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "gather: call");
    TIDAL_ASSERT(c->text_len <= TIDAL_PEER_TEXT_MAX && g);
    if (p->n_wait + g->n_calls >= TIDAL_PEER_CALLS_MAX || !tidal__peer_reserve(p) ||
        !tidal__peer_grow(p, (void **)&g->calls, &g->cap_calls, g->n_calls + 1, sizeof *g->calls)) {
        int limit = p->n_wait + g->n_calls >= TIDAL_PEER_CALLS_MAX;
        p->alloc.free(p->alloc.user, c, sizeof *c);
        return limit ? tidal__peer_err(p, TIDAL_ERR_LIMIT, "TIDAL_PEER_CALLS_MAX calls in flight")
                     : tidal__peer_err(p, TIDAL_ERR_NOMEM, "gather: completions");
    }
    *ticket = c->ticket = ++p->next_ticket;
    t = tidal__peer_tenant_find(p, c->tenant);
    gi = t && t->t.has_placement ? tidal__peer_group_index(p, t->t.group) : -1;
    if (p->topo_bad || !t || !t->t.has_placement || gi < 0) {
        tidal_result r = p->topo_bad || (t && t->t.has_placement) ? TIDAL_ERR_STALE_CONFIG
                                                                   : TIDAL_ERR_NOT_FOUND;
        snprintf(why, sizeof why, "tenant %u: %s", c->tenant, p->topo_bad
                 ? "the control plane's topology differs from this node's"
                 : r == TIDAL_ERR_NOT_FOUND ? "no placement known here"
                 : "its group is not in this node's config");
        p->alloc.free(p->alloc.user, c, sizeof *c);
        return tidal__gx_refuse(p, *ticket, r, why);
    }
    now = tidal__peer_now(p);
    c->group = t->t.group;
    c->placement = p->groups[gi].placement;
    c->n_shards = p->shards;
    c->deadline_ns = now + (wait_ns ? wait_ns : g->wait_ns);
    c->sh = (tidal__gx_shard *)p->alloc.alloc(p->alloc.user, sizeof *c->sh * c->n_shards);
    if (!c->sh) {
        p->alloc.free(p->alloc.user, c, sizeof *c);
        return tidal__gx_refuse(p, *ticket, TIDAL_ERR_NOMEM, "gather: shards: out of memory");
    }
    memset(c->sh, 0, sizeof *c->sh * c->n_shards);
    g->calls[g->n_calls++] = c;
    mi = tidal__peer_member_index(p, c->group);
    for (s = 0; s < c->n_shards; s++) {
        tidal__gx_candidates(p, c, s, now);
        if (mi >= 0 && s == p->self.shard) { /* this node holds the shard: its own answer */
            tidal__gx_run(p, (uint32_t)mi, c->text, &g->ans);
            p->executed++;
            tidal__gx_take(p, c, s, -1, &g->ans, now);
        } else if (c->sh[s].n_cand) {
            tidal__gx_ask(p, c, s, now);
        } else {
            c->sh[s].done = 1, c->n_done++;
        }
    }
    tidal__gx_progress(p, now); /* complete at once when nothing is left to wait for */
    return TIDAL_OK;
}

/* ---- Messages in ---- */

static tidal_result tidal__gx_refused(tidal_peer *p, tidal_node_ref from,
                                      const tidal_peer_message *m, const char *why, size_t at) {
    p->msgs_corrupt++;
    return tidal__peer_err(p, TIDAL_ERR_CORRUPT, "peer message (type %u, %zu bytes) from %u/%u: %s "
                           "at byte %zu", m->type, m->payload_len + TIDAL__MSG_HDR, from.region,
                           from.shard, why, at);
}

static tidal_result tidal__gx_on_message(tidal_peer *p, tidal_node_ref from,
                                         const tidal_peer_message *m, const uint8_t *b) {
    struct tidal__gx *g = p->gx;
    tidal_peer_message mm = *m;
    tidal__rd r;
    const char *why;
    size_t at = 0;
    uint64_t i;
    int64_t now = tidal__peer_now(p);
    TIDAL_ASSERT(TIDAL__GX_TYPE(m->type) && g);
    tidal__rd_init(&r, b + TIDAL__MSG_HDR, m->payload_len);
    why = tidal__gx_payload(&r, &mm, &g->msg); /* checked already: fails only out of memory */
    if (why) return tidal__gx_refused(p, from, m, why, TIDAL__MSG_HDR + r.pos);
    if (m->type != TIDAL_PEER_MSG_GATHER_A
            ? tidal__node_word(m->origin) != tidal__node_word(from)
            : !tidal__peer_is_self(p, m->origin))
        return tidal__gx_refused(p, from, m, "origin is not the sender (heartbeat, query) or "
                                 "the receiver (answer)", 20);
    if (m->type == TIDAL_PEER_MSG_HEARTBEAT) {
        tidal__gx_heard *h = &g->heard[tidal__gx_index(p, from)];
        if ((why = tidal__gx_hb_fits(p, from, &g->msg.hb, &at)) != NULL)
            return tidal__gx_refused(p, from, m, why, at);
        h->at_ns = now;
        h->heard = 1;
        h->hb = g->msg.hb;
        g->hb_received++;
        return TIDAL_OK;
    }
    if (m->type == TIDAL_PEER_MSG_GATHER_Q) {
        if (g->msg.q.shard >= p->shards)
            return tidal__gx_refused(p, from, m, "shard outside the topology", TIDAL__MSG_HDR + 4);
        tidal__gx_answer(p, from, m->ticket, &g->msg.q);
        return TIDAL_OK;
    }
    for (i = 0; i < g->n_calls; i++) {
        tidal__gx_call *c = g->calls[i];
        const tidal__gx_a *a = &g->msg.a;
        uint32_t k;
        if (c->ticket != m->ticket) continue;
        if (a->group != c->group || a->shard >= c->n_shards)
            return tidal__gx_refused(p, from, m, "an answer for another group or shard",
                                     TIDAL__MSG_HDR);
        k = a->try_no - 1;
        if (k >= c->sh[a->shard].next || c->sh[a->shard].cand[k] != tidal__node_word(from))
            return tidal__gx_refused(p, from, m, "an answer from a replica not asked",
                                     TIDAL__MSG_HDR + 8);
        tidal__gx_take(p, c, a->shard, (int32_t)k, a, now);
        if (c->failed || c->n_done == c->n_shards) tidal__gx_complete(p, i, now);
        return TIDAL_OK;
    }
    g->late++; /* its gather completed already */
    return TIDAL_OK;
}

/* ---- Tick, open, close ---- */

static tidal_result tidal__gx_tick(tidal_peer *p) {
    int64_t now = tidal__peer_now(p);
    TIDAL_ASSERT(p->gx);
    tidal__gx_heartbeat(p, now);
    tidal__gx_progress(p, now);
    return TIDAL_OK;
}

static tidal_result tidal__gx_open(tidal_peer *p, const tidal_peer_config *cfg, char *msg,
                                   size_t cap) {
    struct tidal__gx *g;
    uint32_t i;
    int64_t now;
    const char *bad = cfg->heartbeat_ns < 0 ? "heartbeat_ns" : cfg->silent_ns < 0 ? "silent_ns"
                    : cfg->lag_degraded_ns < 0 ? "lag_degraded_ns"
                    : cfg->gather_wait_ns < 0 ? "gather_wait_ns"
                    : cfg->gather_try_ns < 0 ? "gather_try_ns" : NULL;
    TIDAL_ASSERT(!p->gx && p->regions && p->shards);
    if (bad) {
        tidal__ctl_why(msg, cap, "peer config: %s: negative", bad);
        return TIDAL_ERR_INVALID;
    }
    g = (struct tidal__gx *)p->alloc.alloc(p->alloc.user, sizeof *g);
    if (!g) return TIDAL_ERR_NOMEM;
    memset(g, 0, sizeof *g);
    g->hb_ns = cfg->heartbeat_ns ? cfg->heartbeat_ns : TIDAL_NS_PER_S / 10;
    g->silent_ns = cfg->silent_ns ? cfg->silent_ns : TIDAL_NS_PER_S;
    g->lag_ns = cfg->lag_degraded_ns ? cfg->lag_degraded_ns : TIDAL_NS_PER_S;
    g->wait_ns = cfg->gather_wait_ns ? cfg->gather_wait_ns : TIDAL_NS_PER_S;
    g->try_ns = cfg->gather_try_ns ? cfg->gather_try_ns : TIDAL_NS_PER_S * 2 / 5;
    g->n_nodes = p->regions * p->shards;
    g->heard = (tidal__gx_heard *)p->alloc.alloc(p->alloc.user, sizeof *g->heard * g->n_nodes);
    if (!g->heard) {
        p->alloc.free(p->alloc.user, g, sizeof *g);
        return TIDAL_ERR_NOMEM;
    }
    now = tidal__peer_now(p);
    for (i = 0; i < g->n_nodes; i++) {
        memset(&g->heard[i], 0, sizeof g->heard[i]);
        g->heard[i].at_ns = now; /* every node counts as heard at open */
    }
    p->gx = g;
    return TIDAL_OK;
}

static void tidal__gx_close(tidal_peer *p) {
    struct tidal__gx *g = p->gx;
    uint64_t i;
    if (!g) return;
    for (i = 0; i < g->n_calls; i++) {
        tidal__gx_call *c = g->calls[i];
        p->alloc.free(p->alloc.user, c->sh, sizeof *c->sh * c->n_shards);
        p->alloc.free(p->alloc.user, c, sizeof *c);
    }
    if (g->calls) p->alloc.free(p->alloc.user, g->calls, sizeof *g->calls * g->cap_calls);
    p->alloc.free(p->alloc.user, g->heard, sizeof *g->heard * g->n_nodes);
    p->alloc.free(p->alloc.user, g, sizeof *g);
    p->gx = NULL;
}

/* ---- Health ---- */

/* What is known of member (group gi, node n): this node's own member, or n's heartbeat.
   0 when nothing is. */
static int tidal__gx_member_get(const tidal_peer *p, uint32_t gi, tidal_node_ref n, int64_t now,
                                tidal_peer_health_member *out) {
    const tidal__gx_heard *h;
    uint32_t k;
    memset(out, 0, sizeof *out);
    out->group = p->groups[gi].id;
    out->node = n;
    TIDAL_ASSERT(gi < p->n_groups && n.region < p->regions);
    if (tidal__peer_is_self(p, n)) {
        tidal_node_status st;
        int32_t mi = tidal__peer_member_index(p, p->groups[gi].id);
        if (mi < 0 || tidal_node_status_get(p->m[mi].db, &st) != TIDAL_OK) return 0;
        out->known = 1;
        out->role = st.role == TIDAL_ROLE_LEADER ? TIDAL_ROLE_LEADER : TIDAL_ROLE_FOLLOWER;
        out->epoch = st.epoch;
        out->has_leader = st.has_leader;
        out->leader = st.has_leader ? st.leader : out->leader;
        out->cut_off = st.cut_off;
        out->applied = st.role == TIDAL_ROLE_LEADER ? st.durable_lsn : st.leader_lsn;
        out->lag_events = st.role == TIDAL_ROLE_LEADER ? 0 : st.lag_events;
        out->lag_ns = st.role == TIDAL_ROLE_LEADER || st.lag_ns < 0 ? 0 : st.lag_ns;
        return 1;
    }
    h = &p->gx->heard[tidal__gx_index(p, n)];
    if (!h->heard) return 0;
    for (k = 0; k < h->hb.n && h->hb.m[k].group != p->groups[gi].id; k++) {}
    if (k == h->hb.n) return 0;
    out->known = 1;
    out->age_ns = now - h->at_ns;
    out->role = (tidal_role)h->hb.m[k].role;
    out->epoch = h->hb.m[k].epoch;
    out->has_leader = (int)(h->hb.m[k].flags & 1);
    if (out->has_leader) tidal__ctl_ref(h->hb.m[k].leader, &out->leader);
    out->cut_off = (int)(h->hb.m[k].flags >> 1 & 1);
    out->applied = h->hb.m[k].applied;
    out->lag_events = h->hb.m[k].lag_events;
    out->lag_ns = h->hb.m[k].lag_ns;
    return 1;
}

TIDAL_API tidal_result tidal_peer_health_get(const tidal_peer *p, tidal_peer_health *out) {
    const struct tidal__gx *g;
    tidal_control_status cs;
    int64_t now;
    uint32_t gi, s, r, nl = 0, nm = 0, nn = 0;
    uint64_t i64;
    if (!p || !out) return TIDAL_ERR_INVALID;
    if ((!out->leaders && out->leaders_cap) || (!out->members && out->members_cap) ||
        (!out->nodes && out->nodes_cap) || (!out->moves && out->moves_cap))
        return TIDAL_ERR_INVALID;
    g = p->gx;
    TIDAL_ASSERT(g && p->regions <= TIDAL_REPLICAS_MAX);
    now = tidal__peer_now(p);
    out->regions = p->regions;
    memset(out->region, 0, sizeof out->region);
    memset(out->region_why, 0, sizeof out->region_why);
    /* Nodes, and the regions they leave silent. */
    for (r = 0; r < p->regions; r++) {
        uint32_t silent = 0, first = 0;
        for (s = 0; s < p->shards; s++) {
            tidal_node_ref n;
            const tidal__gx_heard *h;
            n.region = (uint16_t)r, n.shard = (uint16_t)s;
            h = &g->heard[tidal__gx_index(p, n)];
            if (tidal__gx_silent(p, n, now) && !silent++) first = s;
            if (nn < out->nodes_cap) {
                tidal_peer_health_node *o = &out->nodes[nn];
                int me = tidal__peer_is_self(p, n);
                o->node = n;
                o->heard = me || h->heard;
                o->age_ns = me ? 0 : now - h->at_ns;
                o->silent = tidal__gx_silent(p, n, now);
            }
            nn++;
        }
        if (silent == p->shards) {
            out->region[r] = TIDAL_PEER_REGION_OFFLINE;
            snprintf(out->region_why[r], sizeof out->region_why[r], "no node heard for %lld ms",
                     (long long)(g->silent_ns / 1000000));
        } else if (silent) {
            out->region[r] = TIDAL_PEER_REGION_DEGRADED;
            snprintf(out->region_why[r], sizeof out->region_why[r], "node %u/%u silent (%u of %u "
                     "nodes)", r, first, silent, p->shards);
        }
    }
    /* Members and leaders per (group, shard). */
    for (gi = 0; gi < p->n_groups; gi++)
        for (s = 0; s < p->shards; s++) {
            tidal_peer_health_leader best;
            int best_self = 0;
            memset(&best, 0, sizeof best);
            best.group = p->groups[gi].id;
            best.shard = s;
            for (r = 0; r < p->regions; r++) {
                tidal_peer_health_member mb;
                tidal_node_ref n;
                int lead;
                if (!(p->groups[gi].placement >> r & 1u)) continue;
                n.region = (uint16_t)r, n.shard = (uint16_t)s;
                (void)tidal__gx_member_get(p, gi, n, now, &mb);
                if (nm < out->members_cap) out->members[nm] = mb;
                nm++;
                if (!mb.known) continue;
                lead = mb.role == TIDAL_ROLE_LEADER;
                if ((lead || mb.has_leader) &&
                    (!best.has_leader || mb.epoch > best.epoch || (mb.epoch == best.epoch && lead &&
                                                                   !best_self))) {
                    best.has_leader = 1;
                    best.leader = lead ? n : mb.leader;
                    best.epoch = mb.epoch;
                    best_self = lead;
                }
                if (out->region[r] != TIDAL_PEER_REGION_HEALTHY || tidal__gx_silent(p, n, now))
                    continue; /* already not healthy, or only old news of it */
                if (mb.lag_ns > g->lag_ns || mb.cut_off) {
                    out->region[r] = TIDAL_PEER_REGION_DEGRADED;
                    snprintf(out->region_why[r], sizeof out->region_why[r], mb.cut_off
                             ? "group %u shard %u: member cut off from its leader"
                             : "group %u shard %u: member lags %lld ms", best.group, s,
                             (long long)(mb.lag_ns / 1000000));
                }
            }
            if (nl < out->leaders_cap) out->leaders[nl] = best;
            nl++;
        }
    out->leader_count = nl;
    out->member_count = nm;
    out->node_count = nn;
    /* The control plane: this node's member, or the highest term heard. */
    (void)tidal_control_status_get(p->ctl, &cs);
    out->control_has_leader = cs.has_leader;
    out->control_leader = cs.leader;
    out->control_term = cs.term;
    out->control_commit_index = cs.commit_index;
    out->control_applied_index = p->applied_index;
    out->control_log_records = cs.last_index;
    if (!cs.has_leader) {
        uint32_t i;
        for (i = 0; i < g->n_nodes; i++) {
            const tidal__gx_heard *h = &g->heard[i];
            if (!h->heard || !(h->hb.cflags & 1) || h->hb.term < out->control_term) continue;
            if (out->control_has_leader && h->hb.term == out->control_term) continue;
            out->control_has_leader = 1;
            tidal__ctl_ref(h->hb.cleader, &out->control_leader);
            out->control_term = h->hb.term;
        }
    }
    out->tenants = (uint32_t)p->n_ten;
    out->heartbeats_sent = g->hb_sent;
    out->heartbeats_received = g->hb_received;
    out->gathers_pending = g->n_calls;
    out->gather_answers_late = g->late;
    /* Moves in flight (>>node_move's status of every tenant not DONE), P1's record count and
       failures, the counters. */
    out->move_count = 0;
    for (i64 = 0; i64 < p->n_ten; i64++) {
        tidal_peer_move_info mi;
        tidal_peer_health_move *o;
        if (tidal_peer_move_status(p, p->ten[i64].tenant, &mi) != TIDAL_OK || !mi.phase ||
            mi.phase == TIDAL_CONTROL_PHASE_DONE)
            continue;
        if (out->move_count < out->moves_cap) {
            o = &out->moves[out->move_count];
            memset(o, 0, sizeof *o);
            o->tenant = p->ten[i64].tenant;
            o->phase = mi.phase, o->source = mi.source, o->target = mi.target;
            o->generation = mi.generation, o->phase_index = mi.phase_index;
            o->coordinating = mi.coordinating, o->shards_ready = mi.shards_ready;
            o->waiting_ns = mi.waiting_ns;
            memcpy(o->waiting, mi.waiting, sizeof o->waiting);
        }
        out->move_count++;
    }
    out->control_records = p->records;
    out->control_failed = p->ctl_failed;
    out->control_failed_index = p->ctl_failed_index;
    memcpy(out->control_failed_why, p->ctl_failed_why, sizeof out->control_failed_why);
    out->calls_forwarded = p->forwarded;
    out->calls_executed = p->executed;
    out->calls_timed_out = p->timeouts;
    out->calls_fanned_out = p->fanouts;
    out->msgs_refused = p->msgs_corrupt;
    out->replies_late = p->replies_late;
    out->duplicates = p->duplicates;
    TIDAL_ASSERT(nl == p->n_groups * p->shards);
    return TIDAL_OK;
}

/* Appends one formatted line to (buf, cap) at *at when it fits whole; *fit turns 0 at the
   first line that does not (and every later one is dropped, so lines stay whole). */
static void tidal__gx_line(char *buf, size_t cap, size_t *at, int *fit, const char *fmt, ...) {
    char line[512];
    va_list ap;
    size_t n;
    TIDAL_ASSERT(buf && cap && *at < cap);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    n = strlen(line);
    if (!*fit || *at + n + 1 > cap) {
        *fit = 0;
        return;
    }
    memcpy(buf + *at, line, n + 1);
    *at += n;
    TIDAL_ASSERT(buf[*at] == 0);
}

static const char *tidal__gx_phase_name(uint32_t phase) {
    return phase == TIDAL_CONTROL_PHASE_COPY ? "copy" : phase == TIDAL_CONTROL_PHASE_SEAL ? "seal"
         : phase == TIDAL_CONTROL_PHASE_SWITCH ? "switch" : "done";
}

TIDAL_API tidal_result tidal_peer_health_text(const tidal_peer *p, char *buf, size_t cap) {
    tidal_peer_health h;
    size_t at = 0, bytes;
    int fit = 1;
    uint32_t i;
    tidal_result r;
    if (!p || !buf || !cap) return TIDAL_ERR_INVALID;
    buf[0] = 0;
    memset(&h, 0, sizeof h);
    h.leaders_cap = p->n_groups * p->shards;
    h.moves_cap = (uint32_t)p->n_ten;
    bytes = h.moves_cap * sizeof *h.moves + 1;
    h.leaders = (tidal_peer_health_leader *)p->alloc.alloc(p->alloc.user,
                                                          h.leaders_cap * sizeof *h.leaders);
    h.moves = (tidal_peer_health_move *)p->alloc.alloc(p->alloc.user, bytes);
    if (!h.leaders || !h.moves) {
        if (h.leaders) p->alloc.free(p->alloc.user, h.leaders, h.leaders_cap * sizeof *h.leaders);
        if (h.moves) p->alloc.free(p->alloc.user, h.moves, bytes);
        return TIDAL_ERR_NOMEM;
    }
    r = tidal_peer_health_get(p, &h);
    TIDAL_ASSERT(r != TIDAL_OK || (h.leader_count == h.leaders_cap && h.move_count <= h.moves_cap));
    if (r == TIDAL_OK) {
        char cl[16] = "none";
        if (h.control_has_leader)
            snprintf(cl, sizeof cl, "%u/%u", h.control_leader.region, h.control_leader.shard);
        tidal__gx_line(buf, cap, &at, &fit, "node %u/%u control leader %s term %llu commit %llu "
                       "applied %llu records %llu failed %llu%s%s\n", p->self.region,
                       p->self.shard, cl, (unsigned long long)h.control_term,
                       (unsigned long long)h.control_commit_index,
                       (unsigned long long)h.control_applied_index,
                       (unsigned long long)h.control_records,
                       (unsigned long long)h.control_failed, h.control_failed ? " last " : "",
                       h.control_failed_why);
        tidal__gx_line(buf, cap, &at, &fit, "counters forwarded %llu executed %llu timeouts %llu "
                       "fanouts %llu refused %llu late %llu duplicates %llu\n",
                       (unsigned long long)h.calls_forwarded,
                       (unsigned long long)h.calls_executed,
                       (unsigned long long)h.calls_timed_out,
                       (unsigned long long)h.calls_fanned_out,
                       (unsigned long long)h.msgs_refused, (unsigned long long)h.replies_late,
                       (unsigned long long)h.duplicates);
        for (i = 0; i < h.regions; i++)
            tidal__gx_line(buf, cap, &at, &fit, "region %u %s%s%s\n", i,
                           h.region[i] == TIDAL_PEER_REGION_HEALTHY ? "healthy"
                           : h.region[i] == TIDAL_PEER_REGION_DEGRADED ? "degraded" : "offline",
                           h.region_why[i][0] ? " " : "", h.region_why[i]);
        for (i = 0; i < h.leader_count; i++) {
            const tidal_peer_health_leader *l = &h.leaders[i];
            char who[16] = "none";
            if (l->has_leader)
                snprintf(who, sizeof who, "%u/%u", l->leader.region, l->leader.shard);
            tidal__gx_line(buf, cap, &at, &fit, "group %u shard %u leader %s epoch %llu\n",
                           l->group, l->shard, who, (unsigned long long)l->epoch);
        }
        for (i = 0; i < h.move_count; i++) {
            const tidal_peer_health_move *m = &h.moves[i];
            char co[256] = "";
            if (m->coordinating)
                snprintf(co, sizeof co, " coordinating ready %u waiting %lld ms%s%.200s",
                         m->shards_ready, (long long)(m->waiting_ns / 1000000),
                         m->waiting[0] ? ": " : "", m->waiting);
            tidal__gx_line(buf, cap, &at, &fit, "move tenant %u phase %s source %u target %u "
                           "gen %llu%s\n", m->tenant, tidal__gx_phase_name(m->phase), m->source,
                           m->target, (unsigned long long)m->generation, co);
        }
    }
    p->alloc.free(p->alloc.user, h.leaders, h.leaders_cap * sizeof *h.leaders);
    p->alloc.free(p->alloc.user, h.moves, bytes);
    return r != TIDAL_OK ? r : fit ? TIDAL_OK : TIDAL_ERR_LIMIT;
}

// >>node_move
// The migration coordinator (DESIGN 5.7, 5.9; the protocol is described in >>api beside
// tidal_peer_move). Three roles on every peer: (1) it applies MIGRATION records to its
// routing table and to its members' tenant states (tidal__move_apply, tidal__move_push);
// (2) it serves the coordinator's requests for the members it runs (export and send,
// install, import forwarded events, digests, drops, footprints) and forwards the events its
// source members write; (3) on the node whose control member leads, it runs the coordinator
// (tidal__move_step): one job per tenant in flight, whose memory (answers, requests) lasts
// only as long as this leadership. Limits: regions <= TIDAL_REPLICAS_MAX (answers are kept
// per region), an export of at most TIDAL__MOVE_EXPORT_MAX bytes. Invariants: a phase record
// is proposed only by a leader that committed an entry of its own term and applied every
// committed record, and only when this leadership saw the previous phase's work done on
// every shard; every request is idempotent (installs and drops are keyed by generation).

#define TIDAL__MOVE_FIXED 124u      /* the payload before its data */
#define TIDAL__MOVE_BLOCK 4096u     /* INSTALL offsets and chunk sizes are multiples of it */
#define TIDAL__MOVE_MISMATCH_MAX 3u /* rounds a target leader may differ before a reinstall */
#define TIDAL__MOVE_EXPORT_MAX (UINT64_C(1) << 30)
#define TIDAL__MOVE_TYPES 10u       /* TIDAL_PEER_MSG_MOVE .. FOOTPRINT */
TIDAL__STATIC_ASSERT(move_chunk_fits, TIDAL__MSG_HDR + TIDAL__MOVE_FIXED +
                     TIDAL_PEER_MOVE_CHUNK_MAX <= TIDAL_MSG_BYTES_MAX);
TIDAL__STATIC_ASSERT(move_chunk_blocks, TIDAL_PEER_MOVE_CHUNK_MAX % TIDAL__MOVE_BLOCK == 0);

/* Which payload fields each type carries (the rest must be zero). */
enum {
    TIDAL__MF_SRC = 1, TIDAL__MF_TGT = 2, TIDAL__MF_SHARD = 4, TIDAL__MF_MOVE = 8,
    TIDAL__MF_GEN = 16, TIDAL__MF_NODE = 32, TIDAL__MF_RESULT = 64, TIDAL__MF_FLAGS = 128,
    TIDAL__MF_PHASE = 256, TIDAL__MF_OFF = 512, TIDAL__MF_DIGEST = 1024, TIDAL__MF_FOOT = 2048,
    TIDAL__MF_DATA = 4096
};
#define TIDAL__MF_WHO (TIDAL__MF_SRC | TIDAL__MF_TGT | TIDAL__MF_SHARD | TIDAL__MF_MOVE)
static const uint32_t tidal__move_fields[TIDAL__MOVE_TYPES] = {
    TIDAL__MF_TGT,                                                            /* MOVE */
    TIDAL__MF_WHO | TIDAL__MF_GEN | TIDAL__MF_NODE,                           /* COPY */
    TIDAL__MF_WHO | TIDAL__MF_GEN | TIDAL__MF_OFF | TIDAL__MF_DATA,           /* INSTALL */
    TIDAL__MF_WHO | TIDAL__MF_GEN | TIDAL__MF_NODE | TIDAL__MF_RESULT | TIDAL__MF_FLAGS,
    TIDAL__MF_WHO | TIDAL__MF_DATA,                                           /* EVENT */
    TIDAL__MF_WHO | TIDAL__MF_FLAGS,                                          /* DIGEST_Q */
    TIDAL__MF_WHO | TIDAL__MF_GEN | TIDAL__MF_NODE | TIDAL__MF_RESULT | TIDAL__MF_FLAGS |
        TIDAL__MF_PHASE | TIDAL__MF_DIGEST,                                   /* DIGEST */
    TIDAL__MF_WHO | TIDAL__MF_GEN,                                            /* DROP */
    TIDAL__MF_WHO,                                                            /* FOOTPRINT_Q */
    TIDAL__MF_WHO | TIDAL__MF_NODE | TIDAL__MF_RESULT | TIDAL__MF_FLAGS | TIDAL__MF_PHASE |
        TIDAL__MF_FOOT,                                                       /* FOOTPRINT */
};
/* Flag bits each type may set: COPIED bit 0 sent by the target; DIGEST_Q, DIGEST bit 0
   the target's member; DIGEST, FOOTPRINT bit 1 the sender leads; DIGEST bit 2 its
   generation is complete; FOOTPRINT bit 3 its files are collected. */
static const uint32_t tidal__move_flag_bits[TIDAL__MOVE_TYPES] = {0, 0, 0, 1, 0, 1, 7, 0, 0, 10};

/* One coordinator message, decoded (data points into the bytes). */
typedef struct tidal__move_msg {
    uint32_t type, tenant, source, target, shard, node, flags, phase, data_len;
    int32_t result;
    uint64_t move, gen, offset, total, ents, sess, bytes;
    uint8_t digest[32];
    const uint8_t *data;
} tidal__move_msg;

/* A member's latest answer to a DIGEST_Q or FOOTPRINT_Q (coordinator memory). */
typedef struct tidal__move_ans {
    uint64_t req;             /* the request it answers (0: none yet) */
    int32_t result;
    uint32_t flags, phase;
    uint64_t gen, ents, sess;
    uint8_t digest[32];
} tidal__move_ans;

typedef struct tidal__move_shard {
    int64_t next_ns;          /* when this shard's requests go out again */
    uint64_t copy_gen;        /* the install asked for (0: none) ... */
    uint64_t copied_gen;      /* ... and the one acknowledged at QUORUM by the target */
    int64_t copy_asked_ns;    /* the first COPY of copy_gen not acknowledged yet */
    uint64_t valid_from;      /* answers to requests from this id on count */
    uint64_t counted_req;     /* the target leader answer last counted as a mismatch */
    uint32_t mismatches;
    tidal__move_ans src[TIDAL_REPLICAS_MAX], dst[TIDAL_REPLICAS_MAX]; /* by region */
    int64_t asked_ns[2][TIDAL_REPLICAS_MAX]; /* first ask not answered yet (0: none) */
} tidal__move_shard;

typedef struct tidal__move_job {
    uint32_t tenant, phase, source, target, ready;
    uint64_t move, phase_index, prop_index, prop_term;
    int64_t since_ns;         /* this memory of the phase started then */
    int64_t why_since;        /* the wait described in why started then */
    char why[160];
    tidal__move_shard *sh;    /* [p->shards] */
} tidal__move_job;

/* An export being received by a target leader, then installed and waited for. */
typedef struct tidal__move_in {
    uint32_t tenant, source, target, shard, mi;
    tidal_node_ref origin;
    uint64_t move, gen, ticket, total, got;
    uint8_t *buf, *bits;
    int installing;
    tidal_receipt rc;
    int64_t last_ns;
} tidal__move_in;

typedef struct tidal__move_hookctx {
    tidal_peer *p;
    uint32_t mi;
} tidal__move_hookctx;

typedef struct tidal__move_pend {
    uint32_t tenant;
    uint64_t index, term;
} tidal__move_pend;

typedef struct tidal__move_loop {
    uint8_t *b;
    size_t len;
} tidal__move_loop;

/* A forwarded event a target leader holds until its copy of the move is installed (an
   install clears the tenant first: importing before it would lose the event). */
typedef struct tidal__move_ev {
    uint32_t tenant, mi;
    uint64_t move;
    uint8_t *b;
    size_t len;
} tidal__move_ev;
#define TIDAL__MOVE_EV_BYTES_MAX (16u << 20) /* held at once; beyond, SEAL's check repairs */

struct tidal__peer_move {
    tidal__move_hookctx hook[TIDAL_PEER_GROUPS_MAX];
    tidal__move_job *job;
    uint64_t n_job, cap_job;
    tidal__move_in *in;
    uint64_t n_in, cap_in;
    tidal__move_pend *pend;   /* COPY records proposed here, not known committed yet */
    uint64_t n_pend, cap_pend;
    tidal__move_loop *loop;   /* messages to this node itself, handled at the next step */
    uint64_t n_loop, cap_loop;
    tidal__move_ev *ev;       /* forwarded events waiting for their install */
    uint64_t n_ev, cap_ev, ev_bytes;
    uint64_t term;            /* the control term this node coordinates in (0: none) */
    uint64_t next_req;
    int64_t retry_ns;
    uint32_t chunk;
    uint64_t copies, forwarded, imported, reinstalls;
};

static int tidal__move_type(uint32_t type) {
    return type >= TIDAL_PEER_MSG_MOVE && type < TIDAL_PEER_MSG_MOVE + TIDAL__MOVE_TYPES;
}

/* ---- Messages ---- */

static size_t tidal__move_put(const tidal__move_msg *x, uint8_t *buf) {
    uint8_t *w = buf;
    TIDAL_ASSERT(tidal__move_type(x->type) && (x->data_len == 0 || x->data));
    w = tidal__wr_le(w, x->tenant, 4);
    w = tidal__wr_le(w, x->source, 4);
    w = tidal__wr_le(w, x->target, 4);
    w = tidal__wr_le(w, x->shard, 4);
    w = tidal__wr_le(w, x->move, 8);
    w = tidal__wr_le(w, x->gen, 8);
    w = tidal__wr_le(w, x->node, 4);
    w = tidal__wr_le(w, (uint32_t)x->result, 4);
    w = tidal__wr_le(w, x->flags, 4);
    w = tidal__wr_le(w, x->phase, 4);
    w = tidal__wr_le(w, x->offset, 8);
    w = tidal__wr_le(w, x->total, 8);
    w = tidal__wr_bytes(w, x->digest, 32);
    w = tidal__wr_le(w, x->ents, 8);
    w = tidal__wr_le(w, x->sess, 8);
    w = tidal__wr_le(w, x->bytes, 8);
    w = tidal__wr_le(w, x->data_len, 4);
    TIDAL_ASSERT((size_t)(w - buf) == TIDAL__MOVE_FIXED);
    w = tidal__wr_bytes(w, x->data, x->data_len);
    return (size_t)(w - buf);
}

/* Per-type strictness (see the format in >>api). NULL, or what is wrong. */
static const char *tidal__move_check(const tidal__move_msg *x) {
    uint32_t k = x->type - TIDAL_PEER_MSG_MOVE, f = tidal__move_fields[k], i, dz = 1;
    TIDAL_ASSERT(tidal__move_type(x->type));
    for (i = 0; i < 32; i++) dz &= x->digest[i] == 0;
    if ((x->source && !(f & TIDAL__MF_SRC)) || (x->target && !(f & TIDAL__MF_TGT)) ||
        (x->shard && !(f & TIDAL__MF_SHARD)) || (x->move && !(f & TIDAL__MF_MOVE)) ||
        (x->gen && !(f & TIDAL__MF_GEN)) || (x->node && !(f & TIDAL__MF_NODE)) ||
        (x->result && !(f & TIDAL__MF_RESULT)) || (x->flags && !(f & TIDAL__MF_FLAGS)) ||
        (x->phase && !(f & TIDAL__MF_PHASE)) ||
        ((x->offset || x->total) && !(f & TIDAL__MF_OFF)) ||
        (!dz && !(f & TIDAL__MF_DIGEST)) ||
        ((x->ents || x->sess || x->bytes) && !(f & TIDAL__MF_FOOT)) ||
        (x->data_len && !(f & TIDAL__MF_DATA)))
        return "a field its type does not carry is set";
    if (x->source > 255 || x->target > 255) return "a group above 255";
    if (x->shard > 0xFFFF) return "shard above 65535";
    if (x->type != TIDAL_PEER_MSG_MOVE && (x->source == x->target || !x->move))
        return "source equals target, or move 0";
    if ((f & TIDAL__MF_GEN) && !x->gen && x->type != TIDAL_PEER_MSG_DIGEST)
        return "generation 0";
    if (x->flags & ~tidal__move_flag_bits[k]) return "unknown flag bits";
    if (x->phase > TIDAL_CONTROL_PHASE_DONE) return "unknown phase";
    if (x->result < (int32_t)TIDAL_RESULT_MIN_ || x->result > (int32_t)TIDAL_PENDING)
        return "unknown result";
    if (x->node && ((x->node - 1) >> 16) >= TIDAL_REPLICAS_MAX) return "node outside any topology";
    if ((f & TIDAL__MF_DATA) && !x->data_len) return "no data";
    if (x->type == TIDAL_PEER_MSG_INSTALL) {
        if (!x->total || x->total > TIDAL__MOVE_EXPORT_MAX) return "total not 1..2^30 bytes";
        if (x->offset % TIDAL__MOVE_BLOCK || x->offset >= x->total ||
            x->data_len > TIDAL_PEER_MOVE_CHUNK_MAX || x->total - x->offset < x->data_len)
            return "a chunk outside the export, or not at a 4096-byte boundary";
        if (x->offset + x->data_len < x->total && x->data_len % TIDAL__MOVE_BLOCK)
            return "a chunk before the last not a multiple of 4096 bytes";
        if (!x->offset && (x->data_len < 20 || tidal__rd_le_at4(x->data + 16) != x->tenant))
            return "the export's tenant differs from the message's";
    }
    if (x->type == TIDAL_PEER_MSG_EVENT &&
        (x->data_len < 5 || tidal__rd_le_at4(x->data + 1) != x->tenant))
        return "the event's tenant differs from the message's";
    return NULL;
}

static const char *tidal__move_parse(tidal__rd *r, uint32_t type, tidal__move_msg *x) {
    memset(x, 0, sizeof *x);
    x->type = type;
    x->tenant = tidal__rd_u32(r);
    x->source = tidal__rd_u32(r);
    x->target = tidal__rd_u32(r);
    x->shard = tidal__rd_u32(r);
    x->move = tidal__rd_u64(r);
    x->gen = tidal__rd_u64(r);
    x->node = tidal__rd_u32(r);
    x->result = (int32_t)tidal__rd_u32(r);
    x->flags = tidal__rd_u32(r);
    x->phase = tidal__rd_u32(r);
    x->offset = tidal__rd_u64(r);
    x->total = tidal__rd_u64(r);
    if (r->n - r->pos >= 32 && !r->bad) memcpy(x->digest, r->p + r->pos, 32);
    (void)tidal__rd_bytes(r, 32);
    x->ents = tidal__rd_u64(r);
    x->sess = tidal__rd_u64(r);
    x->bytes = tidal__rd_u64(r);
    x->data_len = tidal__rd_u32(r);
    if (r->bad) return "truncated";
    TIDAL_ASSERT(r->pos == TIDAL__MOVE_FIXED);
    x->data = (const uint8_t *)tidal__rd_bytes(r, x->data_len);
    if (!x->data) return "truncated data";
    if (r->pos != r->n) return "bytes after the last field";
    return tidal__move_check(x);
}

/* The payload half of tidal__peer_decode for the coordinator's types. */
static const char *tidal__move_get(tidal__rd *r, tidal_peer_message *m) {
    tidal__move_msg x;
    const char *why = tidal__move_parse(r, m->type, &x);
    if (why) return why;
    m->tenant = x.tenant, m->shard = x.shard, m->source = x.source, m->target = x.target;
    m->move = x.move, m->gen = x.gen, m->phase = x.phase, m->flags = x.flags;
    m->offset = x.offset, m->total = x.total, m->data_len = x.data_len;
    m->result = (tidal_result)x.result;
    return NULL;
}

/* Sends x to node to (a message to this node itself waits in the loop queue for the next
   step: a host need not deliver to itself). A lost message is covered by the retries. */
static void tidal__move_send(tidal_peer *p, const tidal__move_msg *x, tidal_node_ref to,
                             tidal_node_ref origin, uint32_t hops, uint64_t ticket) {
    tidal__peer_move *mv = p->mv;
    size_t n = TIDAL__MOVE_FIXED + x->data_len, len = 0;
    uint8_t *pl = (uint8_t *)p->alloc.alloc(p->alloc.user, n), *b = NULL;
    TIDAL_ASSERT(ticket && hops <= 1);
    if (!pl) return;
    (void)tidal__move_put(x, pl);
    b = tidal__peer_msg_new(p, x->type, to, origin, hops, ticket, pl, n, &len);
    p->alloc.free(p->alloc.user, pl, n);
    if (!b) return;
    if (tidal__peer_is_self(p, to) &&
        tidal__peer_grow(p, (void **)&mv->loop, &mv->cap_loop, mv->n_loop + 1, sizeof *mv->loop)) {
        mv->loop[mv->n_loop].b = b;
        mv->loop[mv->n_loop++].len = len;
        return;
    }
    if (!tidal__peer_is_self(p, to)) (void)p->env->message_send(p->env->user, to, b, len);
    p->alloc.free(p->alloc.user, b, len);
}

/* ---- Records applied (P1) ---- */

static int32_t tidal__move_gi(const tidal_peer *p, uint32_t group) {
    return tidal__peer_group_index(p, group);
}

/* Pushes tenant t's config with the state its move gives each group: the source's
   members ACTIVE (as the TENANT record says) during COPY and SEALED from SEAL on, the
   target's INCOMING until SWITCH and then as the TENANT record says. The version is the
   newest record's index, so a reopen's replay of older records changes nothing. */
static tidal_result tidal__move_push(tidal_peer *p, const tidal__peer_tenant *t) {
    uint32_t side, g;
    tidal_result first = TIDAL_OK;
    TIDAL_ASSERT(t->t.move_phase >= TIDAL_CONTROL_PHASE_COPY &&
                 t->t.move_phase <= TIDAL_CONTROL_PHASE_DONE);
    for (side = 0; side < 2; side++) {
        tidal_tenant_config cfg;
        int32_t mi, gi;
        tidal_result r;
        g = side ? t->t.move_target : t->t.move_source;
        mi = tidal__peer_member_index(p, g);
        gi = tidal__move_gi(p, g);
        if (mi < 0 || gi < 0) continue;
        memset(&cfg, 0, sizeof cfg);
        cfg.tenant = t->tenant;
        cfg.placement = p->groups[gi].placement;
        cfg.rate_per_s = t->t.rate_per_s;
        cfg.burst = t->t.burst;
        cfg.entity_quota = t->t.entity_quota;
        cfg.config_version = t->t.config_index > t->t.move_phase_index ? t->t.config_index
                                                                       : t->t.move_phase_index;
        if (side == 0)
            cfg.state = t->t.move_phase == TIDAL_CONTROL_PHASE_COPY ? t->t.state
                                                                    : TIDAL_TENANT_SEALED;
        else
            cfg.state = t->t.move_phase <= TIDAL_CONTROL_PHASE_SEAL ? TIDAL_TENANT_INCOMING
                                                                    : t->t.state;
        r = tidal_tenant_set(p->m[mi].db, &cfg);
        if (r != TIDAL_OK && r != TIDAL_ERR_STALE_CONFIG && first == TIDAL_OK)
            first = tidal__peer_err(p, r, "tenant %u on group %u: %s", t->tenant, g,
                                    tidal_errmsg(p->m[mi].db));
    }
    if (first == TIDAL_OK && t->t.has_placement && t->t.has_config) /* isim fix */
        first = tidal__peer_seal_others(p, t, t->t.move_source, t->t.move_target,
                                        t->t.config_index > t->t.move_phase_index
                                            ? t->t.config_index : t->t.move_phase_index);
    return first;
}

/* A committed MIGRATION record: taken when it follows the tenant's last one (COPY from the
   owner to another known group with no move in flight, then SEAL, SWITCH, DONE of that
   same move), else ignored - alike on every peer, since all apply the same log. */
static tidal_result tidal__move_apply(tidal_peer *p, uint64_t index,
                                      const tidal_control_record *rec) {
    tidal__peer_tenant *t = tidal__peer_tenant_find(p, rec->tenant);
    uint32_t ph;
    TIDAL_ASSERT(rec->kind == TIDAL_CONTROL_MIGRATION && index == p->applied_index);
    if (!t || !t->t.has_placement) return TIDAL_OK;
    ph = t->t.move_phase;
    if (rec->phase == TIDAL_CONTROL_PHASE_COPY) {
        if ((ph && ph != TIDAL_CONTROL_PHASE_DONE) || rec->group != t->t.group ||
            rec->target == rec->group || tidal__move_gi(p, rec->target) < 0)
            return TIDAL_OK;
        t->t.move_source = rec->group;
        t->t.move_target = rec->target;
        t->t.move_index = index;
    } else if (ph + 1 != rec->phase || rec->group != t->t.move_source ||
               rec->target != t->t.move_target) {
        return TIDAL_OK;
    }
    t->t.move_phase = rec->phase;
    t->t.move_phase_index = index;
    if (rec->phase == TIDAL_CONTROL_PHASE_SWITCH) { /* the one step routing follows */
        t->t.group = rec->target;
        t->t.placement = p->groups[tidal__move_gi(p, rec->target)].placement;
        t->t.placement_index = index;
    }
    return tidal__move_push(p, t);
}

/* The phase of move (a COPY index) as this node applied it: 0 not yet, DONE + 1 when a
   later move superseded it. */
static uint32_t tidal__move_seen(const tidal__peer_tenant *t, uint64_t move) {
    if (!t || t->t.move_index < move) return 0;
    return t->t.move_index > move ? TIDAL_CONTROL_PHASE_DONE + 1 : t->t.move_phase;
}

/* Remembers node word + 1 as the leader of (group index gi, shard) when it names a node of
   that shard in the topology (a message names it: it is checked, not trusted). */
static void tidal__move_hint(tidal_peer *p, int32_t gi, uint32_t shard, uint32_t word1) {
    if (gi < 0 || shard >= p->shards || !word1 || ((word1 - 1) >> 16) >= p->regions ||
        ((word1 - 1) & 0xFFFFu) != shard ||
        !(p->groups[gi].placement >> ((word1 - 1) >> 16) & 1u))
        return;
    p->hint[(size_t)gi * p->shards + shard] = word1;
}

/* ---- Forwarded events (a source member's hook) ---- */

static void tidal__move_hook(void *ctx, const void *event, size_t len) {
    tidal__move_hookctx *h = (tidal__move_hookctx *)ctx;
    tidal_peer *p = h->p;
    const tidal__peer_tenant *t;
    tidal__move_msg x;
    int32_t gi;
    if (len < 5 || len > TIDAL_MSG_BYTES_MAX - TIDAL__MSG_HDR - TIDAL__MOVE_FIXED) return;
    t = tidal__peer_tenant_find(p, tidal__rd_le_at4((const uint8_t *)event + 1)); /* >>codec */
    if (!t || (t->t.move_phase != TIDAL_CONTROL_PHASE_COPY &&
               t->t.move_phase != TIDAL_CONTROL_PHASE_SEAL) ||
        p->m[h->mi].id != t->t.move_source || (gi = tidal__move_gi(p, t->t.move_target)) < 0)
        return;
    memset(&x, 0, sizeof x);
    x.type = TIDAL_PEER_MSG_EVENT;
    x.tenant = t->tenant, x.source = t->t.move_source, x.target = t->t.move_target;
    x.shard = p->self.shard, x.move = t->t.move_index;
    x.data = (const uint8_t *)event, x.data_len = (uint32_t)len;
    tidal__move_send(p, &x, tidal__peer_guess(p, (uint32_t)gi, p->self.shard), p->self, 0,
                     ++p->mv->next_req);
    p->mv->forwarded++;
}

/* ---- Serving the coordinator's requests (any node) ---- */

/* Passes a received message on to node to, unchanged but for sender, addressee and hops. */
static void tidal__move_relay(tidal_peer *p, const uint8_t *b, size_t len, tidal_node_ref to) {
    tidal_node_ref origin;
    size_t n = 0;
    uint8_t *c;
    TIDAL_ASSERT(len >= TIDAL__MSG_HDR && !tidal__peer_is_self(p, to));
    tidal__ctl_ref(tidal__rd_le_at4(b + 20), &origin);
    c = tidal__peer_msg_new(p, (uint32_t)b[8] | (uint32_t)b[9] << 8, to, origin, 1,
                            tidal__rd_le_at(b + 28), b + TIDAL__MSG_HDR, len - TIDAL__MSG_HDR, &n);
    if (!c) return;
    (void)p->env->message_send(p->env->user, to, c, n);
    p->alloc.free(p->alloc.user, c, n);
}

/* This node's member of group, if it runs one; *lead 1 when it leads (else *leader, when
   known, is its leader's node word + 1). */
static int32_t tidal__move_member(tidal_peer *p, uint32_t group, int *lead, uint32_t *leader) {
    int32_t mi = tidal__peer_member_index(p, group);
    tidal_node_status st;
    *lead = 0, *leader = 0;
    if (mi < 0) return -1;
    (void)tidal_node_status_get(p->m[mi].db, &st);
    *lead = st.role == TIDAL_ROLE_LEADER;
    if (!*lead && st.has_leader && !tidal__peer_is_self(p, st.leader))
        *leader = tidal__node_word(st.leader) + 1;
    return mi;
}

/* An answer to the coordinator (the request's origin), about request q. */
static void tidal__move_answer(tidal_peer *p, const tidal__move_msg *q, uint32_t type,
                               tidal__move_msg *a, tidal_node_ref origin, uint64_t ticket) {
    a->type = type;
    a->tenant = q->tenant, a->source = q->source, a->target = q->target;
    a->shard = q->shard, a->move = q->move;
    TIDAL_ASSERT(type == TIDAL_PEER_MSG_COPIED || type == TIDAL_PEER_MSG_DIGEST ||
                 type == TIDAL_PEER_MSG_FOOTPRINT);
    tidal__move_send(p, a, origin, origin, 0, ticket);
}

static void tidal__move_copied(tidal_peer *p, const tidal__move_msg *q, uint64_t gen,
                               int from_target, tidal_result r, uint32_t leader,
                               tidal_node_ref origin, uint64_t ticket) {
    tidal__move_msg a;
    memset(&a, 0, sizeof a);
    a.gen = gen, a.result = (int32_t)r, a.node = leader, a.flags = from_target ? 1u : 0u;
    tidal__move_answer(p, q, TIDAL_PEER_MSG_COPIED, &a, origin, ticket);
}

/* COPY at a source member: its leader exports the tenant and sends it to the target's
   leader in chunks (the install's answer comes from there). */
static void tidal__move_on_copy(tidal_peer *p, const tidal__move_msg *q, tidal_node_ref origin,
                                uint64_t ticket) {
    const tidal__peer_tenant *t = tidal__peer_tenant_find(p, q->tenant);
    uint32_t leader, seen = tidal__move_seen(t, q->move);
    int lead;
    int32_t mi = tidal__move_member(p, q->source, &lead, &leader);
    int32_t gi = tidal__move_gi(p, q->target);
    size_t len = 0, off;
    uint8_t *blob;
    tidal_result r;
    tidal_node_ref to;
    tidal__move_msg x;
    if (mi < 0 || gi < 0 || !lead) {
        tidal__move_copied(p, q, q->gen, 0, mi < 0 || gi < 0 ? TIDAL_ERR_STALE_CONFIG
                           : TIDAL_ERR_READ_ONLY, leader, origin, ticket);
        return;
    }
    if (seen != TIDAL_CONTROL_PHASE_COPY && seen != TIDAL_CONTROL_PHASE_SEAL) {
        tidal__move_copied(p, q, q->gen, 0, seen ? TIDAL_ERR_STALE_CONFIG : TIDAL_ERR_UNAVAILABLE,
                           0, origin, ticket); /* not applied here yet, or moved on */
        return;
    }
    if (q->gen != q->move &&
        !(seen == TIDAL_CONTROL_PHASE_SEAL && q->gen == t->t.move_phase_index)) {
        tidal__move_copied(p, q, q->gen, 0, TIDAL_ERR_STALE_CONFIG, 0, origin, ticket);
        return;
    }
    tidal__move_hint(p, gi, q->shard, q->node); /* the target leader: for EVENTs too */
    if (tidal_tenant_export(p->m[mi].db, q->tenant, NULL, 0, &len) != TIDAL_ERR_LIMIT || !len ||
        len > TIDAL__MOVE_EXPORT_MAX ||
        !(blob = (uint8_t *)p->alloc.alloc(p->alloc.user, len))) {
        tidal__move_copied(p, q, q->gen, 0, TIDAL_ERR_NOMEM, 0, origin, ticket);
        return;
    }
    r = tidal_tenant_export(p->m[mi].db, q->tenant, blob, len, &len);
    to = tidal__peer_guess(p, (uint32_t)gi, q->shard);
    for (off = 0; r == TIDAL_OK && off < len; off += p->mv->chunk) {
        memset(&x, 0, sizeof x);
        x.type = TIDAL_PEER_MSG_INSTALL;
        x.tenant = q->tenant, x.source = q->source, x.target = q->target, x.shard = q->shard;
        x.move = q->move, x.gen = q->gen, x.offset = off, x.total = len;
        x.data = blob + off;
        x.data_len = (uint32_t)(len - off < p->mv->chunk ? len - off : p->mv->chunk);
        tidal__move_send(p, &x, to, origin, 0, ticket);
    }
    if (r != TIDAL_OK) tidal__move_copied(p, q, q->gen, 0, r, 0, origin, ticket);
    p->alloc.free(p->alloc.user, blob, len);
}

/* Imports the events held for (tenant, move) on member mi, now that its copy is there. */
static void tidal__move_ev_flush(tidal_peer *p, uint32_t tenant, uint64_t move, int keep) {
    tidal__peer_move *mv = p->mv;
    uint64_t k = 0;
    while (k < mv->n_ev) {
        tidal__move_ev *e = &mv->ev[k];
        if (e->tenant != tenant || (keep && e->move == move)) {
            k++;
            continue;
        }
        if (e->move == move &&
            tidal_event_import(p->m[e->mi].db, e->b, e->len, NULL) == TIDAL_OK)
            mv->imported++;
        mv->ev_bytes -= e->len;
        p->alloc.free(p->alloc.user, e->b, e->len);
        mv->ev[k] = mv->ev[--mv->n_ev];
    }
}

static void tidal__move_in_free(tidal_peer *p, uint64_t k) {
    tidal__peer_move *mv = p->mv;
    tidal__move_in *e = &mv->in[k];
    TIDAL_ASSERT(k < mv->n_in);
    if (e->buf) p->alloc.free(p->alloc.user, e->buf, (size_t)e->total);
    if (e->bits)
        p->alloc.free(p->alloc.user, e->bits, (size_t)(e->total / TIDAL__MOVE_BLOCK / 8 + 1));
    mv->in[k] = mv->in[--mv->n_in];
}

/* INSTALL at a target member: its leader gathers the chunks and, once whole, installs the
   export under the generation; the answer goes out once QUORUM holds it (tidal__move_in_step). */
static void tidal__move_on_install(tidal_peer *p, const tidal__move_msg *q, const uint8_t *b,
                                   size_t len, uint32_t hops, tidal_node_ref origin,
                                   uint64_t ticket) {
    tidal__peer_move *mv = p->mv;
    const tidal__peer_tenant *t = tidal__peer_tenant_find(p, q->tenant);
    uint32_t leader, seen = tidal__move_seen(t, q->move);
    int lead;
    int32_t mi = tidal__move_member(p, q->target, &lead, &leader);
    tidal__move_in *e = NULL;
    uint64_t k, blk;
    if (mi >= 0 && !lead) { /* relayed once to the leader this member knows */
        tidal_node_ref to;
        if (!hops && leader) {
            tidal__ctl_ref(leader - 1, &to);
            tidal__move_relay(p, b, len, to);
        }
        return;
    }
    if (mi < 0 || (seen != TIDAL_CONTROL_PHASE_COPY && seen != TIDAL_CONTROL_PHASE_SEAL)) {
        if (!q->offset)
            tidal__move_copied(p, q, q->gen, 1, mi >= 0 && !seen ? TIDAL_ERR_UNAVAILABLE
                               : TIDAL_ERR_STALE_CONFIG, 0, origin, ticket);
        return;
    }
    for (k = 0; k < mv->n_in; k++)
        if (mv->in[k].tenant == q->tenant) break;
    if (k < mv->n_in) {
        e = &mv->in[k];
        if (e->gen != q->gen || e->ticket != ticket || e->total != q->total ||
            tidal__node_word(e->origin) != tidal__node_word(origin)) {
            if (e->installing && e->gen == q->gen) return; /* one install at a time */
            tidal__move_in_free(p, k); /* another attempt: this one replaces it */
            e = NULL;
        }
    }
    if (!e) {
        size_t nb = (size_t)(q->total / TIDAL__MOVE_BLOCK / 8 + 1);
        if (!tidal__peer_grow(p, (void **)&mv->in, &mv->cap_in, mv->n_in + 1, sizeof *mv->in))
            return;
        e = &mv->in[mv->n_in];
        memset(e, 0, sizeof *e);
        e->buf = (uint8_t *)p->alloc.alloc(p->alloc.user, (size_t)q->total);
        e->bits = (uint8_t *)p->alloc.alloc(p->alloc.user, nb);
        if (!e->buf || !e->bits) {
            if (e->buf) p->alloc.free(p->alloc.user, e->buf, (size_t)q->total);
            if (e->bits) p->alloc.free(p->alloc.user, e->bits, nb);
            return;
        }
        memset(e->bits, 0, nb);
        e->tenant = q->tenant, e->source = q->source, e->target = q->target;
        e->shard = q->shard, e->mi = (uint32_t)mi, e->origin = origin, e->move = q->move;
        e->gen = q->gen, e->ticket = ticket, e->total = q->total;
        mv->n_in++;
    }
    e->last_ns = tidal__peer_now(p);
    blk = q->offset / TIDAL__MOVE_BLOCK;
    if (e->installing || (e->bits[blk / 8] >> (blk % 8) & 1u)) return; /* a duplicate */
    memcpy(e->buf + q->offset, q->data, q->data_len);
    for (; blk * TIDAL__MOVE_BLOCK < q->offset + q->data_len; blk++)
        e->bits[blk / 8] |= (uint8_t)(1u << (blk % 8));
    e->got += q->data_len;
    TIDAL_ASSERT(e->got <= e->total);
    if (e->got < e->total) return;
    {
        tidal_result r = tidal_tenant_install(p->m[mi].db, e->buf, (size_t)e->total, e->gen, NULL,
                                              &e->rc);
        tidal__move_msg ans = *q;
        p->alloc.free(p->alloc.user, e->buf, (size_t)e->total);
        e->buf = NULL;
        e->installing = 1;
        if (r == TIDAL_OK) tidal__move_ev_flush(p, q->tenant, q->move, 0);
        if (r != TIDAL_OK) {
            tidal__move_copied(p, &ans, e->gen, 1, r, 0, e->origin, e->ticket);
            tidal__move_in_free(p, (uint64_t)(e - mv->in));
        }
    }
}

/* Installs waiting for QUORUM answer once they know; parts of exports that stopped
   arriving are given up (the coordinator asks again). */
static void tidal__move_in_step(tidal_peer *p, int64_t now) {
    tidal__peer_move *mv = p->mv;
    uint64_t k = 0;
    while (k < mv->n_in) {
        tidal__move_in *e = &mv->in[k];
        tidal__move_msg q;
        tidal_result r;
        if (!e->installing) {
            if (now - e->last_ns > 20 * mv->retry_ns) tidal__move_in_free(p, k);
            else k++;
            continue;
        }
        r = tidal_write_status(p->m[e->mi].db, &e->rc, TIDAL_ACK_QUORUM);
        if (r == TIDAL_PENDING && now - e->last_ns <= 20 * mv->retry_ns) {
            k++;
            continue;
        }
        memset(&q, 0, sizeof q);
        q.tenant = e->tenant, q.source = e->source, q.target = e->target;
        q.shard = e->shard, q.move = e->move;
        if (r == TIDAL_OK) mv->copies++;
        tidal__move_copied(p, &q, e->gen, 1, r == TIDAL_PENDING ? TIDAL_ERR_UNAVAILABLE : r, 0,
                           e->origin, e->ticket);
        tidal__move_in_free(p, k);
    }
}

/* Drops the events held for an earlier move of tenant than move. */
static void tidal__move_flush_old(tidal_peer *p, uint32_t tenant, uint64_t move) {
    tidal__peer_move *mv = p->mv;
    uint64_t k;
    for (k = 0; k < mv->n_ev; k++)
        if (mv->ev[k].tenant == tenant && mv->ev[k].move < move) {
            tidal__move_ev_flush(p, tenant, move, 1);
            return;
        }
}

/* EVENT at a target member: its leader imports it (a duplicate is a no-op) once the move's
   copy is installed here, and holds it until then. */
static void tidal__move_on_event(tidal_peer *p, const tidal__move_msg *q, const uint8_t *b,
                                 size_t len, uint32_t hops) {
    const tidal__peer_tenant *t = tidal__peer_tenant_find(p, q->tenant);
    uint32_t leader, seen = tidal__move_seen(t, q->move);
    int lead;
    int32_t mi = tidal__move_member(p, q->target, &lead, &leader);
    if (mi < 0 || seen > TIDAL_CONTROL_PHASE_SEAL) return; /* switched: it was verified */
    if (!lead) {
        tidal_node_ref to;
        if (!hops && leader) {
            tidal__ctl_ref(leader - 1, &to);
            tidal__move_relay(p, b, len, to);
        }
        return;
    }
    {
        tidal__peer_move *mv = p->mv;
        uint64_t gen = 0;
        int complete = 0;
        (void)tidal_tenant_generation(p->m[mi].db, q->tenant, &gen, &complete);
        if (!complete || gen < q->move) { /* no copy of this move yet: held for it */
            uint8_t *c;
            tidal__move_flush_old(p, q->tenant, q->move);
            if (mv->ev_bytes + q->data_len > TIDAL__MOVE_EV_BYTES_MAX ||
                !tidal__peer_grow(p, (void **)&mv->ev, &mv->cap_ev, mv->n_ev + 1, sizeof *mv->ev) ||
                !(c = (uint8_t *)p->alloc.alloc(p->alloc.user, q->data_len)))
                return; /* lost: SEAL's digests find it missing */
            memcpy(c, q->data, q->data_len);
            mv->ev[mv->n_ev].tenant = q->tenant, mv->ev[mv->n_ev].mi = (uint32_t)mi;
            mv->ev[mv->n_ev].move = q->move, mv->ev[mv->n_ev].b = c;
            mv->ev[mv->n_ev++].len = q->data_len;
            mv->ev_bytes += q->data_len;
            return;
        }
    }
    if (tidal_event_import(p->m[mi].db, q->data, q->data_len, NULL) == TIDAL_OK) p->mv->imported++;
}

/* DIGEST_Q, DROP, FOOTPRINT_Q at a member. */
static void tidal__move_on_query(tidal_peer *p, const tidal__move_msg *q, tidal_node_ref origin,
                                 uint64_t ticket) {
    const tidal__peer_tenant *t = tidal__peer_tenant_find(p, q->tenant);
    uint32_t leader, seen = tidal__move_seen(t, q->move);
    int lead, target_side = q->type == TIDAL_PEER_MSG_DIGEST_Q && (q->flags & 1);
    int32_t mi = tidal__move_member(p, target_side ? q->target : q->source, &lead, &leader);
    tidal_db *db = mi >= 0 ? p->m[mi].db : NULL;
    tidal__move_msg a;
    memset(&a, 0, sizeof a);
    a.node = leader;
    a.phase = seen > TIDAL_CONTROL_PHASE_DONE ? TIDAL_CONTROL_PHASE_DONE : seen;
    a.result = (int32_t)(db ? TIDAL_OK : TIDAL_ERR_STALE_CONFIG);
    if (q->type == TIDAL_PEER_MSG_DROP) {
        if (db && lead && seen == TIDAL_CONTROL_PHASE_SWITCH && q->gen == t->t.move_phase_index)
            (void)tidal_tenant_drop(db, q->tenant, q->gen, NULL); /* same generation: a no-op */
        return;
    }
    if (q->type == TIDAL_PEER_MSG_DIGEST_Q) {
        int complete = 0;
        a.flags = (target_side ? 1u : 0u) | (lead ? 2u : 0u);
        if (db && ((tidal_result)(a.result = (int32_t)tidal_tenant_generation(db, q->tenant, &a.gen,
                                                                              &complete)) ==
                       TIDAL_OK))
            a.result = (int32_t)tidal_db_digest(db, q->tenant, a.digest);
        if (complete) a.flags |= 4u;
        tidal__move_answer(p, q, TIDAL_PEER_MSG_DIGEST, &a, origin, ticket);
        return;
    }
    TIDAL_ASSERT(q->type == TIDAL_PEER_MSG_FOOTPRINT_Q);
    a.flags = lead ? 2u : 0u;
    if (db) {
        int done = 0;
        a.result = (int32_t)tidal_tenant_footprint(db, q->tenant, &a.ents, &a.sess, &a.bytes);
        if (a.result == TIDAL_OK) a.result = (int32_t)tidal_tenant_collected(db, q->tenant, &done);
        if (done) a.flags |= 8u;
    }
    tidal__move_answer(p, q, TIDAL_PEER_MSG_FOOTPRINT, &a, origin, ticket);
}

/* ---- The coordinator (on the control-plane leader) ---- */

/* The leader has committed an entry of its own term (so every earlier entry is known
   committed or gone) and applied every committed record: its routing table is the log's. */
static int tidal__move_caught_up(tidal_peer *p, const tidal_control_status *st) {
    uint64_t term = 0;
    return st->role == TIDAL_ROLE_LEADER && st->commit_index &&
           st->polled_index == st->commit_index &&
           tidal_control_entry(p->ctl, st->commit_index, &term, NULL) == TIDAL_OK &&
           term == st->term;
}

static tidal__move_job *tidal__move_job_find(const tidal_peer *p, uint32_t tenant) {
    uint64_t i;
    for (i = 0; i < p->mv->n_job; i++)
        if (p->mv->job[i].tenant == tenant) return &p->mv->job[i];
    return NULL;
}

static void tidal__move_job_drop(tidal_peer *p, uint64_t k) {
    tidal__peer_move *mv = p->mv;
    TIDAL_ASSERT(k < mv->n_job);
    p->alloc.free(p->alloc.user, mv->job[k].sh, (size_t)p->shards * sizeof *mv->job[k].sh);
    mv->job[k] = mv->job[--mv->n_job];
}

/* Forgets the coordinator's memory (leadership moved, or the peer closes). */
static void tidal__move_forget(tidal_peer *p) {
    while (p->mv->n_job) tidal__move_job_drop(p, p->mv->n_job - 1);
    p->mv->n_pend = 0;
}

/* Starts the memory of t's current phase afresh: nothing asked, nothing answered. */
static void tidal__move_job_reset(tidal_peer *p, tidal__move_job *j, const tidal__peer_tenant *t,
                                  int64_t now) {
    uint32_t s;
    TIDAL_ASSERT(j->sh && j->tenant == t->tenant);
    memset(j->sh, 0, (size_t)p->shards * sizeof *j->sh);
    for (s = 0; s < p->shards; s++) j->sh[s].valid_from = p->mv->next_req + 1;
    j->phase = t->t.move_phase;
    j->source = t->t.move_source, j->target = t->t.move_target;
    j->move = t->t.move_index, j->phase_index = t->t.move_phase_index;
    j->prop_index = j->prop_term = 0;
    j->ready = 0;
    j->why[0] = 0;
    j->why_since = j->since_ns = now;
}

static tidal__move_job *tidal__move_job_get(tidal_peer *p, const tidal__peer_tenant *t,
                                            int64_t now) {
    tidal__peer_move *mv = p->mv;
    tidal__move_job *j = tidal__move_job_find(p, t->tenant);
    if (j) return j;
    if (!tidal__peer_grow(p, (void **)&mv->job, &mv->cap_job, mv->n_job + 1, sizeof *mv->job))
        return NULL;
    j = &mv->job[mv->n_job];
    memset(j, 0, sizeof *j);
    j->tenant = t->tenant;
    j->sh = (tidal__move_shard *)p->alloc.alloc(p->alloc.user, (size_t)p->shards * sizeof *j->sh);
    if (!j->sh) return NULL;
    mv->n_job++;
    tidal__move_job_reset(p, j, t, now);
    return j;
}

/* Records why the job's phase cannot finish yet (the first shard that waits says). */
static int tidal__move_why(tidal__move_job *j, int64_t since, const char *fmt, ...) {
    va_list ap;
    TIDAL_ASSERT(fmt);
    if (j->why[0]) return 0;
    va_start(ap, fmt);
    vsnprintf(j->why, sizeof j->why, fmt, ap);
    va_end(ap);
    j->why_since = since;
    return 0;
}

static uint32_t tidal__move_placement(const tidal_peer *p, uint32_t group) {
    int32_t gi = tidal__move_gi(p, group);
    return gi < 0 ? 0 : p->groups[gi].placement;
}

/* Sends one request of the job about shard s to node (region, s). */
static void tidal__move_ask(tidal_peer *p, tidal__move_job *j, uint32_t s, uint32_t type,
                            uint32_t side, uint32_t region, uint64_t gen, int64_t now) {
    tidal__move_shard *sh = &j->sh[s];
    tidal__move_msg x;
    tidal_node_ref to;
    TIDAL_ASSERT(s < p->shards && region < TIDAL_REPLICAS_MAX && side <= 1);
    memset(&x, 0, sizeof x);
    x.type = type;
    x.tenant = j->tenant, x.source = j->source, x.target = j->target, x.shard = s;
    x.move = j->move, x.gen = gen;
    x.flags = type == TIDAL_PEER_MSG_DIGEST_Q ? side : 0;
    to.region = (uint16_t)region, to.shard = (uint16_t)s;
    tidal__move_send(p, &x, to, p->self, 0, ++p->mv->next_req);
    if (type != TIDAL_PEER_MSG_DROP && !sh->asked_ns[side][region])
        sh->asked_ns[side][region] = now;
}

static double tidal__move_s(int64_t ns) { return (double)ns / 1e9; }

/* Shard s's copy under gen: 1 once the target acknowledged it at QUORUM. */
static int tidal__move_copy(tidal_peer *p, tidal__move_job *j, uint32_t s, uint64_t gen,
                            int64_t now) {
    tidal__move_shard *sh = &j->sh[s];
    int32_t gs = tidal__move_gi(p, j->source), gt = tidal__move_gi(p, j->target);
    tidal_node_ref from, to;
    TIDAL_ASSERT(gs >= 0 && gt >= 0 && gen);
    if (sh->copied_gen == gen) return 1;
    if (sh->copy_gen != gen) sh->copy_gen = gen, sh->next_ns = 0, sh->copy_asked_ns = 0;
    from = tidal__peer_guess(p, (uint32_t)gs, s);
    to = tidal__peer_guess(p, (uint32_t)gt, s);
    if (now >= sh->next_ns) {
        tidal__move_msg x;
        memset(&x, 0, sizeof x);
        x.type = TIDAL_PEER_MSG_COPY;
        x.tenant = j->tenant, x.source = j->source, x.target = j->target, x.shard = s;
        x.move = j->move, x.gen = gen, x.node = tidal__node_word(to) + 1;
        tidal__move_send(p, &x, from, p->self, 0, ++p->mv->next_req);
        sh->next_ns = now + 5 * p->mv->retry_ns; /* an export, an install and a QUORUM */
        if (!sh->copy_asked_ns) sh->copy_asked_ns = now;
    }
    return tidal__move_why(j, sh->copy_asked_ns, "shard %u: no answer to COPY (generation %llu) "
                           "from %u/%u (source leader) through %u/%u (target leader)", s,
                           (unsigned long long)gen, from.region, from.shard, to.region, to.shard);
}

/* An answer of the members of group on shard s that is missing or says no: 1 when each
   member answered since the phase's memory started (why is set otherwise). */
static int tidal__move_answered(tidal_peer *p, tidal__move_job *j, uint32_t s, uint32_t side,
                                uint32_t min_phase, int64_t now) {
    tidal__move_shard *sh = &j->sh[s];
    uint32_t r, pl = tidal__move_placement(p, side ? j->target : j->source);
    const char *who = side ? "target member" : "source member";
    for (r = 0; r < p->regions; r++) {
        const tidal__move_ans *a = side ? &sh->dst[r] : &sh->src[r];
        if (!(pl >> r & 1u)) continue;
        if (a->req < sh->valid_from)
            return tidal__move_why(j, sh->asked_ns[side][r] ? sh->asked_ns[side][r] : now,
                                   "shard %u: no answer from %u/%u (%s)", s, r, s, who);
        if (a->result != TIDAL_OK)
            return tidal__move_why(j, j->since_ns, "shard %u: %u/%u (%s): %s", s, r, s, who,
                                   tidal_strerror((tidal_result)a->result));
        if (a->phase < min_phase)
            return tidal__move_why(j, j->since_ns, "shard %u: %u/%u (%s) has not applied "
                                   "phase %u yet", s, r, s, who, min_phase);
    }
    return 1;
}

/* SEAL on shard s: the sealed source members agree, the target leader holds their state,
   and so does every target member (a complete install of the same generation). */
static int tidal__move_seal(tidal_peer *p, tidal__move_job *j, uint32_t s, int64_t now) {
    tidal__move_shard *sh = &j->sh[s];
    uint32_t r, ps = tidal__move_placement(p, j->source), pt = tidal__move_placement(p, j->target);
    const tidal__move_ans *src = NULL, *lead = NULL;
    if (sh->copy_gen && !tidal__move_copy(p, j, s, sh->copy_gen, now)) return 0; /* a reinstall */
    if (now >= sh->next_ns) {
        for (r = 0; r < p->regions; r++) {
            if (ps >> r & 1u) tidal__move_ask(p, j, s, TIDAL_PEER_MSG_DIGEST_Q, 0, r, 0, now);
            if (pt >> r & 1u) tidal__move_ask(p, j, s, TIDAL_PEER_MSG_DIGEST_Q, 1, r, 0, now);
        }
        sh->next_ns = now + p->mv->retry_ns;
    }
    if (!tidal__move_answered(p, j, s, 0, TIDAL_CONTROL_PHASE_SEAL, now) ||
        !tidal__move_answered(p, j, s, 1, 0, now))
        return 0;
    for (r = 0; r < p->regions; r++) {
        if (!(ps >> r & 1u)) continue;
        if (src && memcmp(src->digest, sh->src[r].digest, 32))
            return tidal__move_why(j, j->since_ns, "shard %u: the sealed source members "
                                   "differ (%u/%u not converged yet)", s, r, s);
        src = &sh->src[r];
    }
    for (r = 0; r < p->regions; r++)
        if ((pt >> r & 1u) && (sh->dst[r].flags & 2u)) lead = &sh->dst[r];
    if (!src || !lead)
        return tidal__move_why(j, j->since_ns, "shard %u: no target member leads", s);
    if (memcmp(lead->digest, src->digest, 32) || !(lead->flags & 4u) || lead->gen < j->move) {
        if (lead->req > sh->counted_req) sh->counted_req = lead->req, sh->mismatches++;
        if (sh->mismatches >= TIDAL__MOVE_MISMATCH_MAX) { /* a fresh copy of the sealed state */
            p->mv->reinstalls++;
            sh->copy_gen = j->phase_index;
            sh->copied_gen = 0;
            sh->mismatches = 0;
        }
        return tidal__move_why(j, j->since_ns, "shard %u: the target leader differs from the "
                               "sealed source (round %u of %u before a fresh copy)", s,
                               sh->mismatches, TIDAL__MOVE_MISMATCH_MAX);
    }
    for (r = 0; r < p->regions; r++)
        if ((pt >> r & 1u) && (memcmp(sh->dst[r].digest, src->digest, 32) ||
                               sh->dst[r].gen != lead->gen || !(sh->dst[r].flags & 4u)))
            return tidal__move_why(j, j->since_ns, "shard %u: target member %u/%u has not "
                                   "caught up with its leader", s, r, s);
    return 1;
}

/* SWITCH on shard s: every source member dropped the tenant and collected its files. */
static int tidal__move_switch(tidal_peer *p, tidal__move_job *j, uint32_t s, int64_t now) {
    tidal__move_shard *sh = &j->sh[s];
    uint32_t r, ps = tidal__move_placement(p, j->source);
    if (now >= sh->next_ns) {
        for (r = 0; r < p->regions; r++)
            if (ps >> r & 1u) {
                tidal__move_ask(p, j, s, TIDAL_PEER_MSG_DROP, 0, r, j->phase_index, now);
                tidal__move_ask(p, j, s, TIDAL_PEER_MSG_FOOTPRINT_Q, 0, r, 0, now);
            }
        sh->next_ns = now + p->mv->retry_ns;
    }
    if (!tidal__move_answered(p, j, s, 0, TIDAL_CONTROL_PHASE_SWITCH, now)) return 0;
    for (r = 0; r < p->regions; r++) {
        const tidal__move_ans *a = &sh->src[r];
        if (!(ps >> r & 1u)) continue;
        if (a->ents || a->sess)
            return tidal__move_why(j, j->since_ns, "shard %u: %u/%u (source member) still "
                                   "holds %llu entities and %llu sessions", s, r, s,
                                   (unsigned long long)a->ents, (unsigned long long)a->sess);
        if (!(a->flags & 8u))
            return tidal__move_why(j, j->since_ns, "shard %u: %u/%u (source member) has files "
                                   "that may still hold the tenant", s, r, s);
    }
    return 1;
}

/* A phase that waits: the target members this node has not heard from (heartbeats,
   >>node_gather) go first in why, since whatever it waits for crosses them (issue 12,
   imove5 fix: cut off from the target group, the coordinator said only "no answer to COPY
   from <its own node>" or named a source member, never the target members it cannot reach). */
static void tidal__move_why_silent(tidal_peer *p, tidal__move_job *j, int64_t now) {
    char pre[80];
    size_t n = 0, len;
    uint32_t r, s, pt = tidal__move_placement(p, j->target), k = 0;
    TIDAL_ASSERT(j->ready < p->shards);
    if (!p->gx || !j->why[0]) return;
    for (r = 0; r < p->regions; r++)
        for (s = 0; s < p->shards && n + 36 < sizeof pre; s++) { /* room for the words */
            tidal_node_ref x;
            x.region = (uint16_t)r, x.shard = (uint16_t)s;
            if (!(pt >> r & 1u) || !tidal__gx_silent(p, x, now)) continue;
            n += (size_t)snprintf(pre + n, sizeof pre - n, "%s%u/%u", k++ ? " " : "", r, s);
        }
    if (!k) return;
    len = strlen(j->why);
    n = (size_t)snprintf(pre + n, sizeof pre - n, " (target member%s) silent; ", k > 1 ? "s" : "")
        + n;
    if (n >= sizeof pre) return;
    if (len + n >= sizeof j->why) len = sizeof j->why - n - 1;
    memmove(j->why + n, j->why, len);
    memcpy(j->why, pre, n);
    j->why[n + len] = 0;
}

static void tidal__move_job_step(tidal_peer *p, tidal__move_job *j, const tidal__peer_tenant *t,
                                 int64_t now) {
    tidal_control_record rec;
    uint32_t s, ready = 0;
    int ok;
    if (j->phase_index != t->t.move_phase_index) tidal__move_job_reset(p, j, t, now);
    if (j->prop_index) {
        tidal_result r = tidal_control_proposal_status(p->ctl, j->prop_index, j->prop_term);
        if (r != TIDAL_ERR_NOT_FOUND) return; /* pending, or committed: applied soon */
        j->prop_index = 0;
    }
    j->why[0] = 0;
    for (s = 0; s < p->shards; s++) {
        if (j->phase == TIDAL_CONTROL_PHASE_COPY) ok = tidal__move_copy(p, j, s, j->move, now);
        else if (j->phase == TIDAL_CONTROL_PHASE_SEAL) ok = tidal__move_seal(p, j, s, now);
        else ok = tidal__move_switch(p, j, s, now);
        ready += ok != 0;
    }
    j->ready = ready;
    if (ready < p->shards) {
        tidal__move_why_silent(p, j, now);
        return;
    }
    memset(&rec, 0, sizeof rec);
    rec.kind = TIDAL_CONTROL_MIGRATION;
    rec.tenant = j->tenant, rec.group = j->source, rec.target = j->target;
    rec.phase = j->phase + 1;
    TIDAL_ASSERT(rec.phase <= TIDAL_CONTROL_PHASE_DONE);
    if (tidal_control_propose(p->ctl, &rec, &j->prop_index, &j->prop_term) != TIDAL_OK)
        j->prop_index = 0;
    tidal__move_why(j, now, "phase %u proposed, not committed yet", rec.phase);
}

/* Answers (COPIED, DIGEST, FOOTPRINT) at the coordinator: kept for the job they are about;
   anything else (an earlier phase's, another leadership's) is dropped. */
static void tidal__move_on_answer(tidal_peer *p, tidal_node_ref from, const tidal__move_msg *a,
                                  uint64_t ticket) {
    tidal__move_job *j = tidal__move_job_find(p, a->tenant);
    tidal__move_shard *sh;
    tidal__move_ans *x;
    uint32_t side = a->type == TIDAL_PEER_MSG_FOOTPRINT ? 0 : (a->flags & 1u);
    int32_t gi;
    if (!j || j->move != a->move || j->source != a->source || j->target != a->target ||
        a->shard >= p->shards)
        return;
    sh = &j->sh[a->shard];
    gi = tidal__move_gi(p, side ? j->target : j->source);
    TIDAL_ASSERT(gi >= 0);
    if (a->type == TIDAL_PEER_MSG_COPIED) {
        tidal__move_hint(p, gi, a->shard, a->node);
        if (a->gen != sh->copy_gen) return;
        if (a->result == TIDAL_OK && side) {
            sh->copied_gen = a->gen;
            sh->valid_from = p->mv->next_req + 1; /* digests from now on */
            sh->mismatches = 0;
            sh->copy_asked_ns = 0;
            tidal__move_hint(p, gi, a->shard, tidal__node_word(from) + 1);
        } else if (a->result == TIDAL_ERR_READ_ONLY && a->node) {
            sh->next_ns = 0; /* ask the leader it named at once */
        } else if (a->result != TIDAL_OK) { /* not applied there yet, a lost leadership... */
            int64_t soon = tidal__peer_now(p) + p->mv->retry_ns;
            if (soon < sh->next_ns) sh->next_ns = soon;
        }
        return;
    }
    if (from.shard != a->shard || from.region >= p->regions ||
        !(p->groups[gi].placement >> from.region & 1u) || ticket < sh->valid_from)
        return;
    x = side ? &sh->dst[from.region] : &sh->src[from.region];
    if (ticket < x->req) return; /* an older answer than the one kept */
    x->req = ticket;
    x->result = a->result, x->flags = a->flags, x->phase = a->phase;
    x->gen = a->gen, x->ents = a->ents, x->sess = a->sess;
    memcpy(x->digest, a->digest, 32);
    sh->asked_ns[side][from.region] = 0;
    tidal__move_hint(p, gi, a->shard, (a->flags & 2u) ? tidal__node_word(from) + 1 : a->node);
}

/* A MOVE at the control-plane leader: checked against the routing table, then its COPY
   record proposed for the caller's ticket (completing like tidal_peer_propose's). */
static void tidal__move_request(tidal_peer *p, uint32_t tenant, uint32_t target,
                                tidal_node_ref origin, tidal_node_ref via, uint64_t ticket) {
    tidal__peer_move *mv = p->mv;
    tidal_control_status st;
    tidal_control_record rec;
    const tidal__peer_tenant *t = tidal__peer_tenant_find(p, tenant);
    uint64_t i, before;
    (void)tidal_control_status_get(p->ctl, &st);
    if (st.role != TIDAL_ROLE_LEADER) {
        tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_READ_ONLY,
                         st.has_leader ? &st.leader : NULL, "not the control-plane leader");
        return;
    }
    if (!tidal__move_caught_up(p, &st)) {
        tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_UNAVAILABLE,
                         NULL, "the control-plane leader (term %llu) has not committed an entry "
                         "of its term yet: retry", (unsigned long long)st.term);
        return;
    }
    for (i = 0; i < mv->n_pend && mv->pend[i].tenant != tenant; i++) {}
    if (!t || !t->t.has_placement) {
        tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_NOT_FOUND, NULL,
                         "tenant %u: no placement", tenant);
    } else if (tidal__move_gi(p, target) < 0 || target == t->t.group) {
        tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_INVALID, NULL,
                         target == t->t.group ? "tenant %u is in group %u already"
                                              : "tenant %u: group %u is not in the topology",
                         tenant, target);
    } else if ((t->t.move_phase && t->t.move_phase != TIDAL_CONTROL_PHASE_DONE) ||
               i < mv->n_pend) {
        tidal__peer_fail(p, origin, via, ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_LIMIT, NULL,
                         "tenant %u: a move to group %u is in flight (phase %u)", tenant,
                         t->t.move_target, t->t.move_phase);
    } else {
        memset(&rec, 0, sizeof rec);
        rec.kind = TIDAL_CONTROL_MIGRATION;
        rec.tenant = tenant, rec.group = t->t.group, rec.target = target;
        rec.phase = TIDAL_CONTROL_PHASE_COPY;
        before = st.last_index;
        tidal__peer_propose_here(p, &rec, origin, via, ticket);
        (void)tidal_control_status_get(p->ctl, &st);
        if (st.last_index > before &&
            tidal__peer_grow(p, (void **)&mv->pend, &mv->cap_pend, mv->n_pend + 1,
                             sizeof *mv->pend)) {
            mv->pend[mv->n_pend].tenant = tenant;
            mv->pend[mv->n_pend].index = st.last_index;
            mv->pend[mv->n_pend++].term = st.last_term;
        }
    }
}

/* ---- Messages in, the step, the API ---- */

static tidal_result tidal__move_on_message(tidal_peer *p, tidal_node_ref from, const uint8_t *b,
                                           size_t len) {
    tidal_peer_message m;
    tidal__move_msg x;
    tidal__rd r;
    size_t at = 0;
    const char *why = tidal__peer_decode(b, len, &m, NULL, NULL, NULL, &at);
    int answer = 0;
    memset(&x, 0, sizeof x);
    if (!why) {
        tidal__rd_init(&r, b + TIDAL__MSG_HDR, m.payload_len);
        why = tidal__move_parse(&r, m.type, &x); /* checked by the decode already */
        answer = m.type == TIDAL_PEER_MSG_COPIED || m.type == TIDAL_PEER_MSG_DIGEST ||
                 m.type == TIDAL_PEER_MSG_FOOTPRINT;
        TIDAL_ASSERT(!why);
    }
    if (!why &&
        (!tidal__peer_is_self(p, m.to) || tidal__node_word(m.from) != tidal__node_word(from)))
        why = "addressed to another node, or not from its sender", at = 12;
    if (!why && (m.origin.region >= p->regions || m.origin.shard >= p->shards))
        why = "origin outside the topology", at = 20;
    if (!why && answer && !tidal__peer_is_self(p, m.origin))
        why = "an answer for another coordinator", at = 20;
    if (!why && !answer && m.type != TIDAL_PEER_MSG_INSTALL && !m.hops &&
        tidal__node_word(m.origin) != tidal__node_word(from))
        why = "a request whose origin is not its sender", at = 20;
    if (!why && x.shard >= p->shards) why = "shard outside the topology", at = TIDAL__MSG_HDR + 12;
    if (why) {
        p->msgs_corrupt++;
        return tidal__peer_err(p, TIDAL_ERR_CORRUPT, "peer message (type %u, %zu bytes) from "
                               "%u/%u: %s at byte %zu", m.type, len, from.region, from.shard, why,
                               at);
    }
    switch (m.type) {
    case TIDAL_PEER_MSG_MOVE:
        if (tidal__peer_seen(p, m.origin, m.ticket)) p->duplicates++;
        else if (!tidal__peer_reserve(p))
            return tidal__peer_err(p, TIDAL_ERR_NOMEM, "peer message: out of memory");
        else tidal__move_request(p, x.tenant, x.target, m.origin, from, m.ticket);
        break;
    case TIDAL_PEER_MSG_COPY: tidal__move_on_copy(p, &x, m.origin, m.ticket); break;
    case TIDAL_PEER_MSG_INSTALL:
        tidal__move_on_install(p, &x, b, len, m.hops, m.origin, m.ticket);
        break;
    case TIDAL_PEER_MSG_EVENT: tidal__move_on_event(p, &x, b, len, m.hops); break;
    case TIDAL_PEER_MSG_DIGEST_Q:
    case TIDAL_PEER_MSG_DROP:
    case TIDAL_PEER_MSG_FOOTPRINT_Q: tidal__move_on_query(p, &x, m.origin, m.ticket); break;
    default: tidal__move_on_answer(p, from, &x, m.ticket); break;
    }
    return TIDAL_OK;
}

/* From tidal_peer_tick: messages this node sent itself, installs waiting for their level,
   and on the control-plane leader the coordinator's work for every move in flight. */
static void tidal__move_step(tidal_peer *p) {
    tidal__peer_move *mv = p->mv;
    int64_t now = tidal__peer_now(p);
    tidal_control_status st;
    uint64_t i, n = mv->n_loop;
    for (i = 0; i < n; i++) { /* what these send themselves waits for the next step */
        (void)tidal__move_on_message(p, p->self, mv->loop[i].b, mv->loop[i].len);
        p->alloc.free(p->alloc.user, mv->loop[i].b, mv->loop[i].len);
    }
    if (n) memmove(mv->loop, mv->loop + n, (size_t)(mv->n_loop - n) * sizeof *mv->loop);
    mv->n_loop -= n;
    tidal__move_in_step(p, now);
    for (i = 0; i < mv->n_ev;) { /* held events of a move that went past SEAL: verified */
        const tidal__peer_tenant *t = tidal__peer_tenant_find(p, mv->ev[i].tenant);
        if (tidal__move_seen(t, mv->ev[i].move) <= TIDAL_CONTROL_PHASE_SEAL) {
            i++;
            continue;
        }
        mv->ev_bytes -= mv->ev[i].len;
        p->alloc.free(p->alloc.user, mv->ev[i].b, mv->ev[i].len);
        mv->ev[i] = mv->ev[--mv->n_ev];
    }
    (void)tidal_control_status_get(p->ctl, &st);
    if (st.role != TIDAL_ROLE_LEADER || st.term != mv->term) { /* a new life, or none */
        tidal__move_forget(p);
        mv->term = st.role == TIDAL_ROLE_LEADER ? st.term : 0;
    }
    if (st.role != TIDAL_ROLE_LEADER) return;
    for (i = 0; i < mv->n_pend;)
        if (tidal_control_proposal_status(p->ctl, mv->pend[i].index, mv->pend[i].term) !=
            TIDAL_PENDING)
            mv->pend[i] = mv->pend[--mv->n_pend];
        else i++;
    if (!tidal__move_caught_up(p, &st)) return;
    for (i = 0; i < p->n_ten; i++) {
        const tidal__peer_tenant *t = &p->ten[i];
        tidal__move_job *j;
        if (!t->t.move_phase || t->t.move_phase == TIDAL_CONTROL_PHASE_DONE) continue;
        if ((j = tidal__move_job_get(p, t, now)) != NULL) tidal__move_job_step(p, j, t, now);
    }
    for (i = 0; i < mv->n_job;) { /* moves that finished */
        const tidal__peer_tenant *t = tidal__peer_tenant_find(p, mv->job[i].tenant);
        if (!t || !t->t.move_phase || t->t.move_phase == TIDAL_CONTROL_PHASE_DONE)
            tidal__move_job_drop(p, i);
        else i++;
    }
}

TIDAL_API tidal_result tidal_peer_move(tidal_peer *p, uint32_t tenant, uint32_t target_group,
                                       uint64_t *ticket) {
    tidal_control_status st;
    tidal__peer_wait *w;
    if (!p) return TIDAL_ERR_INVALID;
    if (!ticket || target_group > 255)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "move: NULL ticket, or a group above 255");
    if (p->n_wait >= TIDAL_PEER_CALLS_MAX)
        return tidal__peer_err(p, TIDAL_ERR_LIMIT, "TIDAL_PEER_CALLS_MAX calls in flight");
    if (!tidal__peer_reserve(p)) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "completions");
    *ticket = ++p->next_ticket;
    (void)tidal_control_status_get(p->ctl, &st);
    if (st.role == TIDAL_ROLE_LEADER) {
        tidal__move_request(p, tenant, target_group, p->self, p->self, *ticket);
    } else if (!st.has_leader) {
        tidal__peer_fail(p, p->self, p->self, *ticket, TIDAL_PEER_DONE_FAILED,
                         TIDAL_ERR_UNAVAILABLE, NULL, "no control-plane leader known (term %llu)",
                         (unsigned long long)st.term);
    } else if ((w = tidal__peer_wait_add(p, TIDAL__PEER_WAIT_FORWARD, p->self, p->self,
                                         *ticket)) == NULL) {
        tidal__peer_fail(p, p->self, p->self, *ticket, TIDAL_PEER_DONE_FAILED, TIDAL_ERR_NOMEM,
                         NULL, "out of memory");
    } else {
        tidal__move_msg x;
        w->group = UINT32_MAX; /* the control plane: no group leader to learn */
        memset(&x, 0, sizeof x);
        x.type = TIDAL_PEER_MSG_MOVE;
        x.tenant = tenant, x.target = target_group;
        tidal__move_send(p, &x, st.leader, p->self, 0, *ticket);
        p->forwarded++;
    }
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_peer_move_status(const tidal_peer *p, uint32_t tenant,
                                              tidal_peer_move_info *out) {
    const tidal__peer_tenant *t;
    const tidal__move_job *j;
    if (!p || !out) return TIDAL_ERR_INVALID;
    memset(out, 0, sizeof *out);
    t = tidal__peer_tenant_find(p, tenant);
    if (!t) return TIDAL_ERR_NOT_FOUND;
    out->phase = t->t.move_phase;
    out->source = t->t.move_source, out->target = t->t.move_target;
    out->generation = t->t.move_index, out->phase_index = t->t.move_phase_index;
    out->copies = p->mv->copies;
    out->events_forwarded = p->mv->forwarded, out->events_imported = p->mv->imported;
    out->reinstalls = p->mv->reinstalls;
    j = p->mv->term ? tidal__move_job_find(p, tenant) : NULL;
    if (j && j->phase_index == t->t.move_phase_index) {
        out->coordinating = 1;
        out->shards_ready = j->ready;
        if (j->why[0]) {
            out->waiting_ns = tidal__peer_now(p) - j->why_since;
            snprintf(out->waiting, sizeof out->waiting, "%s for %.1f s", j->why,
                     tidal__move_s(out->waiting_ns));
        }
    }
    return TIDAL_OK;
}

static tidal_result tidal__move_open(tidal_peer *p, const tidal_peer_config *cfg) {
    tidal__peer_move *mv;
    uint32_t i;
    TIDAL_ASSERT(p->mv == NULL && p->n_m <= TIDAL_PEER_GROUPS_MAX);
    if (cfg->move_retry_ns < 0)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "config: move_retry_ns negative");
    if (cfg->move_chunk_bytes % TIDAL__MOVE_BLOCK ||
        cfg->move_chunk_bytes > TIDAL_PEER_MOVE_CHUNK_MAX)
        return tidal__peer_err(p, TIDAL_ERR_INVALID, "config: move_chunk_bytes not a multiple of "
                               "4096 up to TIDAL_PEER_MOVE_CHUNK_MAX");
    mv = (tidal__peer_move *)p->alloc.alloc(p->alloc.user, sizeof *mv);
    if (!mv) return tidal__peer_err(p, TIDAL_ERR_NOMEM, "out of memory");
    memset(mv, 0, sizeof *mv);
    mv->retry_ns = cfg->move_retry_ns ? cfg->move_retry_ns : 200 * (TIDAL_NS_PER_S / 1000);
    mv->chunk = cfg->move_chunk_bytes ? cfg->move_chunk_bytes : TIDAL_PEER_MOVE_CHUNK_MAX;
    p->env->random_fill(p->env->user, &mv->next_req, sizeof mv->next_req);
    mv->next_req = (mv->next_req >> 32) << 32 | 1u;
    p->mv = mv;
    for (i = 0; i < p->n_m; i++) {
        mv->hook[i].p = p;
        mv->hook[i].mi = i;
        tidal_db_set_event_hook(p->m[i].db, tidal__move_hook, &mv->hook[i]);
    }
    return TIDAL_OK;
}

static void tidal__move_close(tidal_peer *p) {
    tidal__peer_move *mv = p->mv;
    uint32_t i;
    if (!mv) return;
    for (i = 0; i < p->n_m; i++) tidal_db_set_event_hook(p->m[i].db, NULL, NULL);
    tidal__move_forget(p);
    while (mv->n_in) tidal__move_in_free(p, mv->n_in - 1);
    for (i = 0; i < mv->n_loop; i++) p->alloc.free(p->alloc.user, mv->loop[i].b, mv->loop[i].len);
    while (mv->n_ev) {
        mv->n_ev--;
        p->alloc.free(p->alloc.user, mv->ev[mv->n_ev].b, mv->ev[mv->n_ev].len);
    }
    if (mv->ev) p->alloc.free(p->alloc.user, mv->ev, (size_t)mv->cap_ev * sizeof *mv->ev);
    if (mv->job) p->alloc.free(p->alloc.user, mv->job, (size_t)mv->cap_job * sizeof *mv->job);
    if (mv->in) p->alloc.free(p->alloc.user, mv->in, (size_t)mv->cap_in * sizeof *mv->in);
    if (mv->pend) p->alloc.free(p->alloc.user, mv->pend, (size_t)mv->cap_pend * sizeof *mv->pend);
    if (mv->loop) p->alloc.free(p->alloc.user, mv->loop, (size_t)mv->cap_loop * sizeof *mv->loop);
    p->alloc.free(p->alloc.user, mv, sizeof *mv);
    p->mv = NULL;
}

#endif /* TIDAL_IMPLEMENTATION_ONCE */
#endif /* TIDAL_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the tidal authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
