/* tidal_sim.h - v0.1.0 - the deterministic simulator for tidal.h: a crash-capable in-memory
   disk, a lossy simulated network and a per-node simulated env (a whole simulated cluster
   will follow).
   License: MIT, see tidal.h.

   QUICK START
       In exactly one C or C++ file (tests only: it allocates with malloc):
           #define TIDAL_IMPLEMENTATION
           #include "tidal.h"
           #define TIDAL_SIM_IMPLEMENTATION
           #include "tidal_sim.h"

       tidal_sim_disk *disk = tidal_sim_disk_new(seed);        // empty disk, seeded fate
       tidal_sim_env e;                                        // do not move it after init
       tidal_sim_env_init(&e, disk, T0, seed);
       cfg.env = &e.env; cfg.path = "db";                      // the db sees only the env
       ... open, write, commit ...
       tidal_sim_disk_crash(disk);                             // power loss: see FAULT MODEL
       tidal_sim_disk_restart(disk);                           // back up, durable state only
       ... reopen with the same env and check what survived ...
       tidal_sim_disk_free(disk);

       tidal_sim_net *net = tidal_sim_net_new(seed);          // one network for all nodes
       tidal_sim_env_attach_net(&e, net, self);               // e's message_send -> net
       ... nodes send; the test loop moves time to tidal_sim_net_next_ns(net) ...
       while (tidal_sim_net_pop(net, now, &m)) { deliver m.bytes to m.to; tidal_sim_msg_free(&m); }
       tidal_sim_net_free(net);

   TABLE OF CONTENTS (grep for the markers)
       >>sim_api        public declarations (this half)
         limits, disk lifecycle, faults, inspection and tampering, stats, network, env
       >>sim_net_api    the network's declarations (part of this half)
       >>sim_cluster_api  the simulated cluster's declarations (part of this half)
       >>sim_check_api  the oracle's and the checker's declarations (part of this half)
       >>sim_util       allocation, the splitmix64 stream, byte images, paths
       >>sim_namespace  sorted path -> inode maps and the ordered metadata journal
       >>sim_disk       inodes, handles, garbage collection, lifecycle and clone
       >>sim_crash      fates of unsynced data, crash, restart, wipe, injected faults
       >>sim_inspect    reading and tampering with the image from tests
       >>sim_net        the network: links, latency, faults, partitions, the delivery heap
       >>sim_env        the tidal_env methods of one simulated node
       >>sim_cluster    regions x shards nodes, each a tidal_peer; the observer, ground
                        truth, health; tenants and moves as control records through a peer
       >>sim_check      the oracle of client operations and the checks of DESIGN 6 over
                        tidal_db handles (acked by id, known events, counts and scores,
                        hidden items, digests)

   COMPILE-TIME OPTIONS
       TIDAL_SIM_ASSERT(x)   implementation only: assertion macro (default assert()).
       TIDAL_SIM_*_MAX       implementation only: the limits below may be overridden before
                             the implementation is included (see >>sim_api).
       tidal.h's TIDAL_STATIC applies here too: every public function is TIDAL_API.

   FAULT MODEL (exactly what the simulated disk, F1-F8, and network, N1-N9, do; tests may
   rely on every sentence)
   F1. Namespace. Files are inodes; a namespace maps paths to inodes and to directories. A
       path's directory is everything before its last '/' ("a/b/c" lives in "a/b"); "" and
       "/" are roots that always exist ("." means ""; trailing slashes of a directory are
       ignored). The disk keeps two namespaces: the CURRENT one that every call sees and
       the DURABLE one that a crash falls back to.
   F2. Data. Every inode has a durable image and a current image (bytes and length).
       Reads see the current image. file_write and file_truncate change the current image
       at once (a write or a truncate past the end zero-fills the gap) and are appended to
       the inode's list of unsynced operations. file_sync makes the whole current image,
       length included, durable and empties the list. A synced inode is durable data
       whether or not any durable name points at it (see F4).
   F3. Metadata. Creating a file (file_open with TIDAL_OPEN_CREATE of a name that does not
       exist), dir_create, file_rename and file_remove change the current namespace at
       once and are appended to ONE ordered metadata journal. A rename is one entry, so
       after any crash its target names the old or the new inode, never nothing; renaming
       onto an existing file replaces it. dir_sync(dir) commits the journal up to and
       including the LAST uncommitted entry that touches dir (an entry touches the
       directory its path lives in; a rename touches both directories); the entries
       before that one commit too, because the journal is ordered. Hence a new file needs
       a dir_sync of its directory and a new directory a dir_sync of its PARENT (unless
       a dir_sync commits a later entry, which carries every earlier one); a dir_sync of
       a directory with no pending entries commits nothing, even when others have some.
   F4. Crash (tidal_sim_disk_crash, or an armed crash_at). The disk draws from its own
       seeded stream in a fixed order: live inodes by index, each inode's unsynced
       operations oldest first, then the journal.
       - Each unsynced operation independently gets one fate: KEPT (keep_pct of the time),
         DROPPED (drop_pct) or TORN (the rest; default 40/30/30). The kept ones, and the
         surviving parts of torn ones, are replayed oldest first onto the durable image;
         dropped ones vanish. A torn write is cut at 512-byte sector boundaries of the
         file (absolute offsets) and each piece is replayed or not by its own coin; a torn
         truncate is kept or dropped by one coin. A replayed piece extends the file the
         way the write did; bytes it skipped keep their old durable value, or read as
         zeros beyond the old durable end.
         Consequence: when one unsynced write covers a synced region, each sector piece
         of it reads after the crash as exactly the old bytes (zeros or absent past the
         old end) or exactly the new bytes - never anything else.
       - Of the uncommitted journal entries a uniformly random PREFIX (none to all)
         commits and the rest are lost, so the namespace after a crash is one that the
         current namespace really passed through since the last commit.
       Then every current image becomes its new durable image, the current namespace
       becomes the durable one, inodes no durable name points at are freed (a file whose
       create did not survive is gone, even if its data was synced), every handle becomes
       invalid, every directory lock is dropped (dir_lock), and the disk is DOWN.
       Nothing else is lost: synced data under a durable name always survives bit for
       bit.
   F5. Down and restart. While down every file operation fails and changes nothing:
       reads (file_open without CREATE, file_read, file_size, dir_list) with
       TIDAL_ERR_IO_READ; writes (file_open with CREATE, file_write, file_truncate,
       file_rename, file_remove, dir_create) with TIDAL_ERR_IO_WRITE; syncs (file_sync,
       dir_sync) with TIDAL_ERR_IO_FSYNC. file_close is always safe (a no-op on a stale
       handle). tidal_sim_disk_restart brings the disk up with exactly the durable state;
       handles from before it are invalid for good (operations on them fail with the
       codes above, whatever the handle's slot is reused for). Restarting a disk that is
       up models a PROCESS restart: handles die but the data, unsynced data included
       (the OS still holds it), stays.
   F6. Injected faults. Every env file call except file_close is one operation and is
       counted, down or not (tidal_sim_disk_ops). fail_at(n, code) makes the n-th
       operation from now (1 = the next) return code once and change nothing.
       crash_at(n) crashes the disk just before the n-th operation from now, which then
       fails as in F5. A crash wins over a fail_at aimed at the same operation.
   F7. Limits. A file holds at most TIDAL_SIM_FILE_BYTES_MAX bytes and the disk at most
       TIDAL_SIM_FILES_MAX inodes and TIDAL_SIM_ENTRIES_MAX names: beyond them writes,
       truncates and creates fail with TIDAL_ERR_IO_NOSPACE. When an inode already has
       TIDAL_SIM_UNSYNCED_MAX unsynced operations the oldest is written back (made
       durable, as a kernel's writeback would); when the journal already holds
       TIDAL_SIM_JOURNAL_MAX uncommitted entries the oldest commits. More than
       TIDAL_SIM_HANDLES_MAX open handles: TIDAL_ERR_LIMIT. Paths longer than
       TIDAL_SIM_PATH_MAX or names longer than TIDAL_SIM_NAME_MAX: TIDAL_ERR_LIMIT.
   F8. Not modelled: reads never fail and bits never rot on their own (use fail_at,
       tidal_sim_disk_flip_bit and tidal_sim_disk_truncate_file); no hard links, no
       rmdir, directories cannot be renamed or removed; time does not pass on the disk.
   N1. Messages. tidal_sim_net_send copies the bytes and returns at once; the copy is
       delivered by tidal_sim_net_pop at or after its delivery time, or dropped. A node is
       a tidal_node_ref; a link is an ordered pair (from, to) - a node may send to itself.
       Links are datagram links, NOT streams: two messages on one link are delivered in
       the order of their delivery times, so independent latencies already reorder them;
       the protocol above must cope with reordering, loss and duplication.
   N2. Latency. Each copy of each message draws its latency uniformly from [min, max]
       (inclusive, whole nanoseconds) of its link's kind: same region (this includes a
       node sending to itself) 0.1-2 ms, different regions 20-150 ms unless
       tidal_sim_net_set_latency changed them. delivery time = send's now_ns + latency
       (+ the reorder delay, N3).
   N3. At send, in this order, with the settings in force at the call:
       - len > TIDAL_SIM_MSG_BYTES_MAX: TIDAL_ERR_LIMIT, and nothing happened (no seq is
         taken, nothing is counted). Every other call returns TIDAL_OK whatever becomes of
         the message (the network is lossy; the sender cannot tell), takes the next send
         sequence number seq (1, 2, ...) and counts as sent.
       - A sender that is down sends nothing: dropped_down.
       - A link cut by a partition at send time: dropped_partition.
       - Loss: dropped with probability loss_ppm / 1e6: dropped_loss.
       - Duplication: with probability dup_ppm / 1e6 a second copy is made (duplicated);
         it has the same seq and bytes but its own latency, reorder and corruption draws
         and is limited, dropped and delivered independently of the original.
       - Reorder: each copy, with probability reorder_ppm / 1e6, gets an extra delay drawn
         uniformly from [0, max] of its link kind, so later messages may overtake it.
       - Limits: a copy that would make its link hold more than TIDAL_SIM_LINK_QUEUE_MAX
         copies in flight, the whole network more than TIDAL_SIM_NET_MSGS_MAX copies or
         more than TIDAL_SIM_NET_BYTES_MAX bytes is dropped: dropped_overflow.
   N4. Delivery. tidal_sim_net_pop(now) takes the copy with the smallest (delivery time,
       seq, copy: original before duplicate) among those due at or before now, then checks
       again with the state at the pop call: a link cut by a partition drops it
       (dropped_partition; so a partition that starts while a message is in flight drops
       it - the stricter model - and one that starts and heals entirely between send and
       delivery does not), then a receiver that is down drops it (dropped_down); the next
       due copy is tried. A copy that survives is delivered; with probability
       corrupt_ppm / 1e6 (the setting at the pop) exactly one of its bits, uniformly
       chosen, is flipped first (corrupted; an empty message is never corrupted).
       tidal_sim_net_next_ns is the delivery time of the first copy in flight, which may
       still be dropped when popped. A simulator that always pops at next_ns gets the
       exact delivery-time semantics; popping later checks a later state.
   N5. Partitions. Each partition is a handle (1, 2, ... never reused) that cuts links
       until tidal_sim_net_heal releases it; a link is cut while ANY partition in force
       cuts it (overlapping partitions heal independently). partition_nodes(A, B) cuts
       every a -> b (a in A, b in B) and, unless one_way, every b -> a;
       partition_regions(ra, rb) cuts every node of ra -> every node of rb and, unless
       one_way, the reverse (ra != rb); isolate_region(r) cuts every link with exactly one
       end in r, both ways. Links inside a side stay up. tidal_sim_net_reachable reports
       exactly this (partitions only, not down nodes).
   N6. Down nodes. tidal_sim_net_set_down(n, 1) until (n, 0). A down node sends nothing
       (N3) and messages that reach it while it is down are dropped (N4); messages it sent
       before going down are already on the wire and are delivered; messages sent to it
       while it was down are delivered if it is up again when they arrive.
   N7. Bytes. Only corruption (N4) changes bytes: never truncation, never padding.
   N8. Randomness. The net's randomness is its own: splitmix64 streams derived from the
       seed given to tidal_sim_net_new, one per purpose (latency, loss, duplication,
       reorder, reorder delay, corruption, corrupted bit), each read at position
       2 * seq + copy. So every choice about one copy depends only on the seed, the
       purpose and (seq, copy): turning loss, duplication or corruption on or off changes
       no latency, and the disk's fate stream, the env's random_fill stream and the net
       never draw from one another (DESIGN 6: per-component streams).
   N9. Not modelled: bandwidth and congestion (only the queue limits), connections, MTUs
       and fragmentation; time passes only when the caller says so (now_ns).

   ENV SEMANTICS (tidal_sim_env; the same as tidal_env_posix() unless noted)
       file_open without CREATE of a missing file, or of any path in a missing directory:
       TIDAL_ERR_NOT_FOUND. CREATE never truncates. A handle is readable; writable only
       with TIDAL_OPEN_WRITE (write/truncate on a read-only handle: TIDAL_ERR_IO_WRITE).
       Opening a directory: TIDAL_ERR_IO_READ. file_read returns *got < len at the end
       of the file (not an error). file_remove of a missing file: TIDAL_ERR_NOT_FOUND; of
       a directory: TIDAL_ERR_IO_WRITE. dir_create of an existing directory: TIDAL_OK.
       dir_list of a missing directory: TIDAL_ERR_NOT_FOUND. Renaming onto a directory,
       or a directory at all: TIDAL_ERR_IO_WRITE. Where the POSIX env maps ENOENT to a
       TIDAL_ERR_IO_* code, this env says TIDAL_ERR_NOT_FOUND: file_rename of a missing
       source or into a missing directory, dir_create in a missing parent, dir_sync of a
       missing directory. dir_create over an existing FILE is TIDAL_ERR_IO_WRITE here
       (the POSIX env says the same since it checks what has the name).
       file_close(NULL) is a no-op.
       dir_list calls fn once per name (not "." or "..") of the CURRENT namespace in
       strcmp order, from a copy, so fn may change the directory.
       Handles are opaque non-NULL values (slot and generation). message_send hands the
       message to the attached network as tidal_sim_net_send(net, self, to, bytes, len,
       now_ns) (tidal_sim_env_attach_net) and returns what that returns; with no network
       attached it returns TIDAL_ERR_UNAVAILABLE. Clocks read now_ns / mono_ns, which only
       the test moves; random_fill draws from the env's own splitmix64 stream.
       dir_lock (version 2) keeps the disk's lock table, one lock per directory (the
       normalized path: "db", "db/" and "./db"... name one directory only as far as
       dir_create does): it is a counted operation (F6: fail_at and crash_at reach it; a
       down disk fails it with TIDAL_ERR_IO_WRITE), needs the directory to exist
       (TIDAL_ERR_NOT_FOUND), takes no name in the namespace (no LOCK file: listings and
       images are unchanged), and fails with TIDAL_ERR_LOCKED (holder 0: the simulated
       process has no pid) while any env over the SAME disk holds that directory. More
       than TIDAL_SIM_LOCKS_MAX locks: TIDAL_ERR_LIMIT. Locks belong to the simulated
       process: a crash (F4) and a restart (F5, a process restart too) drop every lock,
       as the kernel drops flock locks of a process that dies; a lock value from before
       is stale for good, so a late dir_unlock of it is a no-op and never releases a
       newer holder. dir_unlock is not counted and always safe, like file_close. A clone
       (tidal_sim_disk_clone) starts with no locks: no process holds its directories.
       error_text gives "simulated disk is down" after a call that failed because the
       disk was down, "injected fault" after a fail_at, and "" otherwise (tidal then
       uses the result's own text).

   DETERMINISM
       Same seed and same sequence of calls give the same bytes, fates, handles, listings
       and delivery traces: no clock, no global state, no address-dependent order
       anywhere. Each disk, each env and the network has its own stream (N8).

   THREADING
       None. A disk, a network and the envs over them belong to one thread.
*/
#ifndef TIDAL_SIM_H
#define TIDAL_SIM_H

#if !defined(TIDAL_VERSION_NUMBER)
#error "tidal_sim.h needs tidal.h: include tidal.h first"
#elif TIDAL_VERSION_NUMBER < 100
#error "tidal_sim.h needs tidal.h 0.1.0 or later"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// >>sim_api

#define TIDAL_SIM_VERSION_STRING "0.1.0"

/* ---- Limits (each may be overridden before including the implementation) -------------- */

#define TIDAL_SIM_SECTOR_BYTES 512 /* unit of a torn write; fixed by the fault model */

#ifndef TIDAL_SIM_PATH_MAX
#define TIDAL_SIM_PATH_MAX 400 /* bytes of a path, excluding the terminating NUL */
#endif
#ifndef TIDAL_SIM_NAME_MAX
#define TIDAL_SIM_NAME_MAX 127 /* bytes of one name (after the last '/'); see disk_list */
#endif
#ifndef TIDAL_SIM_FILE_BYTES_MAX
#define TIDAL_SIM_FILE_BYTES_MAX (256u << 20) /* bytes of one file */
#endif
#ifndef TIDAL_SIM_FILES_MAX
#define TIDAL_SIM_FILES_MAX 65536u /* live inodes of one disk */
#endif
#ifndef TIDAL_SIM_ENTRIES_MAX
#define TIDAL_SIM_ENTRIES_MAX 65536u /* names (files and directories) of one namespace */
#endif
#ifndef TIDAL_SIM_UNSYNCED_MAX
#define TIDAL_SIM_UNSYNCED_MAX 65536u /* unsynced operations of one inode */
#endif
#ifndef TIDAL_SIM_JOURNAL_MAX
#define TIDAL_SIM_JOURNAL_MAX 65536u /* uncommitted metadata journal entries */
#endif
#ifndef TIDAL_SIM_HANDLES_MAX
#define TIDAL_SIM_HANDLES_MAX 1024u /* open handles of one disk */
#endif
#ifndef TIDAL_SIM_FAULTS_MAX
#define TIDAL_SIM_FAULTS_MAX 64u /* armed fail_at faults */
#endif
#ifndef TIDAL_SIM_LOCKS_MAX
#define TIDAL_SIM_LOCKS_MAX 256u /* directory locks held at once on one disk */
#endif
/* The network's limits (FAULT MODEL N3, N5, N6). */
#ifndef TIDAL_SIM_MSG_BYTES_MAX
#define TIDAL_SIM_MSG_BYTES_MAX (16u << 20) /* bytes of one message; more: TIDAL_ERR_LIMIT */
#endif
#ifndef TIDAL_SIM_LINK_QUEUE_MAX
#define TIDAL_SIM_LINK_QUEUE_MAX 4096u /* copies in flight on one directed link */
#endif
#ifndef TIDAL_SIM_NET_MSGS_MAX
#define TIDAL_SIM_NET_MSGS_MAX (1u << 20) /* copies in flight on the whole network */
#endif
#ifndef TIDAL_SIM_NET_BYTES_MAX
#define TIDAL_SIM_NET_BYTES_MAX (256u << 20) /* bytes in flight on the whole network */
#endif
#ifndef TIDAL_SIM_LATENCY_NS_MAX
#define TIDAL_SIM_LATENCY_NS_MAX (3600 * TIDAL_NS_PER_S) /* largest settable latency */
#endif
#ifndef TIDAL_SIM_PARTITIONS_MAX
#define TIDAL_SIM_PARTITIONS_MAX 1024u /* partitions in force at once */
#endif
#ifndef TIDAL_SIM_PARTITION_NODES_MAX
#define TIDAL_SIM_PARTITION_NODES_MAX 4096u /* nodes on one side of partition_nodes */
#endif
#ifndef TIDAL_SIM_DOWN_MAX
#define TIDAL_SIM_DOWN_MAX 4096u /* nodes down at once */
#endif

/* ---- The disk ------------------------------------------------------------------------- */

typedef struct tidal_sim_disk tidal_sim_disk;

/* tidal_sim_disk_new: an empty disk (only the roots "" and "/" exist), up, with fates
 * 40/30/30 and no faults armed.
 *   seed: seeds the disk's own stream, which decides every fate at a crash.
 * Returns the disk (never NULL: running out of memory aborts). Free with _free. */
TIDAL_API tidal_sim_disk *tidal_sim_disk_new(uint64_t seed);

/* tidal_sim_disk_free: frees the disk and everything on it. d may be NULL. Envs over it
 * must not be used afterwards. */
TIDAL_API void tidal_sim_disk_free(tidal_sim_disk *d);

/* tidal_sim_disk_clone: a deep, independent copy: durable and current images, unsynced
 * operations, both namespaces, the journal, open handles (the same handle values are
 * valid on the copy), armed faults, the operation counter, stats and the fate stream's
 * state, so the copy crashes exactly as the original would. Never NULL. */
TIDAL_API tidal_sim_disk *tidal_sim_disk_clone(const tidal_sim_disk *d);

/* ---- Faults (FAULT MODEL F4-F6) ------------------------------------------------------- */

/* tidal_sim_disk_fail_at: the op-th file operation from now (1 = the next) fails with
 * code, once, changing nothing. code: TIDAL_ERR_IO_READ, _IO_WRITE, _IO_FSYNC or
 * _IO_NOSPACE (asserted). Up to TIDAL_SIM_FAULTS_MAX may be armed at once (asserted). */
TIDAL_API void tidal_sim_disk_fail_at(tidal_sim_disk *d, uint64_t op, tidal_result code);

/* tidal_sim_disk_crash_at: the disk crashes just before the op-th file operation from now
 * (1 = the next) executes; that operation fails as on a down disk. op 0 disarms. A later
 * call replaces an earlier one. */
TIDAL_API void tidal_sim_disk_crash_at(tidal_sim_disk *d, uint64_t op);

/* tidal_sim_disk_crash: power loss now (F4): fates of unsynced data and of uncommitted
 * metadata are drawn, handles die, an armed crash_at is disarmed, and the disk is down
 * until restart. No-op if down. */
TIDAL_API void tidal_sim_disk_crash(tidal_sim_disk *d);

/* tidal_sim_disk_restart: brings the disk up with exactly its durable state; every handle
 * from before is invalid. On a disk that is up: a process restart (F5). */
TIDAL_API void tidal_sim_disk_restart(tidal_sim_disk *d);

/* tidal_sim_disk_wipe: destroys every file, directory and pending operation, durable or
 * not (a node that comes back with an empty disk). Handles die; down/up state, armed
 * faults, counters and the fate stream are kept. */
TIDAL_API void tidal_sim_disk_wipe(tidal_sim_disk *d);

/* 1 while the disk is down (after a crash, before restart), else 0. */
TIDAL_API int tidal_sim_disk_is_down(const tidal_sim_disk *d);

/* File operations counted so far (every env file call but file_close; F6). */
TIDAL_API uint64_t tidal_sim_disk_ops(const tidal_sim_disk *d);

/* tidal_sim_disk_set_fates: percentages of unsynced operations kept and dropped at a
 * crash; the rest are torn. keep_pct + drop_pct <= 100 (asserted). Default 40/30. */
TIDAL_API void tidal_sim_disk_set_fates(tidal_sim_disk *d, unsigned keep_pct,
                                        unsigned drop_pct);

/* ---- Inspection and tampering (no operation is counted; work while down) -------------- */

/* tidal_sim_disk_read: the current contents of the file at path (after a crash, that is
 * the durable contents). *data receives a malloc'd copy (never NULL on success; the
 * caller frees it with free()), *len its length.
 * Errors: TIDAL_ERR_NOT_FOUND (no such file, or a directory). */
TIDAL_API tidal_result tidal_sim_disk_read(const tidal_sim_disk *d, const char *path,
                                           uint8_t **data, size_t *len);

/* tidal_sim_disk_flip_bit: flips bit (byte bit / 8, bit bit % 8, LSB first) of the file
 * in its current image and, where the durable image is that long, in the durable image.
 * Errors: TIDAL_ERR_NOT_FOUND, TIDAL_ERR_INVALID (bit past the current end). */
TIDAL_API tidal_result tidal_sim_disk_flip_bit(tidal_sim_disk *d, const char *path,
                                               uint64_t bit);

/* tidal_sim_disk_truncate_file: sets the length of the file's current AND durable images
 * (zero-filling when it grows). Unsynced operations stay pending.
 * Errors: TIDAL_ERR_NOT_FOUND, TIDAL_ERR_INVALID (len > TIDAL_SIM_FILE_BYTES_MAX). */
TIDAL_API tidal_result tidal_sim_disk_truncate_file(tidal_sim_disk *d, const char *path,
                                                    uint64_t len);

/* tidal_sim_disk_list: names (files and directories) directly in dir in the current
 * namespace, in strcmp order. Copies the first min(total, cap) into names; returns the
 * total (0 for a missing directory). names may be NULL when cap is 0. */
TIDAL_API uint32_t tidal_sim_disk_list(const tidal_sim_disk *d, const char *dir,
                                       char names[][128], uint32_t cap);

/* Counters and gauges of one disk, for tests and the cluster simulator. */
typedef struct tidal_sim_disk_stats {
    uint64_t ops;             /* counted file operations (= tidal_sim_disk_ops) */
    uint64_t faults_fired;    /* fail_at faults that fired */
    uint64_t crashes, restarts, wipes;
    uint64_t fates_kept;      /* unsynced operations kept at crashes, all crashes together */
    uint64_t fates_dropped;
    uint64_t fates_torn;
    uint64_t journal_kept;    /* uncommitted journal entries that survived crashes */
    uint64_t journal_lost;    /* ... and that were lost */
    uint64_t writebacks;      /* operations made durable by the F7 writeback */
    uint32_t files;           /* live inodes now */
    uint32_t dirs;            /* directories in the current namespace now (roots excluded) */
    uint32_t unsynced_ops;    /* pending unsynced operations now, all inodes */
    uint32_t journal_pending; /* uncommitted journal entries now */
    uint32_t handles_open;
} tidal_sim_disk_stats;

TIDAL_API void tidal_sim_disk_stats_get(const tidal_sim_disk *d, tidal_sim_disk_stats *out);

/* tidal_sim_disk_check: asserts every internal invariant (sorted namespaces, live inodes
 * behind every name and handle, durable namespace + journal == current namespace). Slow;
 * for tests. */
TIDAL_API void tidal_sim_disk_check(const tidal_sim_disk *d);

// >>sim_net_api
/* ---- The network (FAULT MODEL N1-N9) -------------------------------------------------- */

typedef struct tidal_sim_net tidal_sim_net;

/* One delivered message. After tidal_sim_net_pop the caller owns bytes and frees it with
 * tidal_sim_msg_free. */
typedef struct tidal_sim_msg {
    tidal_node_ref from, to;
    int64_t sent_ns;    /* the now_ns the send was made at */
    int64_t deliver_ns; /* when it became due (pop may be called later) */
    uint64_t seq;       /* the send's number, 1, 2, ...; a duplicate carries its original's */
    uint8_t *bytes;     /* never NULL after a pop, even when len is 0 */
    size_t len;
} tidal_sim_msg;

/* Counters and gauges of one network. Invariant (tidal_sim_net_check asserts it):
 * sent + duplicated == delivered + every dropped_* + in_flight. */
typedef struct tidal_sim_net_stats {
    uint64_t sent;              /* send calls that returned TIDAL_OK (each took a seq) */
    uint64_t delivered;         /* copies handed out by pop */
    uint64_t dropped_loss;      /* N3 loss */
    uint64_t dropped_partition; /* cut at send or at delivery (N3, N4) */
    uint64_t dropped_down;      /* down sender at send, down receiver at delivery */
    uint64_t dropped_overflow;  /* a queue or byte limit was full (N3) */
    uint64_t duplicated;        /* second copies made */
    uint64_t corrupted;         /* delivered copies with one bit flipped */
    uint64_t in_flight;         /* copies queued now */
    uint64_t in_flight_bytes;   /* their bytes */
} tidal_sim_net_stats;

/* tidal_sim_net_new: an empty network: default latencies (N2), no faults, no partitions,
 * no node down.
 *   seed: derives the net's own streams (N8); independent of any disk or env stream.
 * Returns the net (never NULL: running out of memory aborts). Free with _free. */
TIDAL_API tidal_sim_net *tidal_sim_net_new(uint64_t seed);

/* tidal_sim_net_free: frees the net and every message in flight. net may be NULL. Envs
 * attached to it must be detached or not used afterwards. */
TIDAL_API void tidal_sim_net_free(tidal_sim_net *net);

/* tidal_sim_net_set_latency: the latency ranges (N2) of sends from now on, inclusive.
 * 0 <= min <= max <= TIDAL_SIM_LATENCY_NS_MAX for both kinds (asserted); min == max
 * gives a fixed latency. Messages already in flight keep their delivery times. */
TIDAL_API void tidal_sim_net_set_latency(tidal_sim_net *net, int64_t intra_min_ns,
                                         int64_t intra_max_ns, int64_t inter_min_ns,
                                         int64_t inter_max_ns);

/* tidal_sim_net_set_faults: probabilities in parts per million (each <= 1000000,
 * asserted) of loss, duplication and extra reorder delay for sends from now on (N3).
 * Default 0, 0, 0. */
TIDAL_API void tidal_sim_net_set_faults(tidal_sim_net *net, uint32_t loss_ppm,
                                        uint32_t dup_ppm, uint32_t reorder_ppm);

/* tidal_sim_net_set_corrupt: probability in ppm (<= 1000000, asserted) that a delivered
 * copy has one bit flipped (N4), for pops from now on. Default 0. For checksum tests. */
TIDAL_API void tidal_sim_net_set_corrupt(tidal_sim_net *net, uint32_t corrupt_ppm);

/* tidal_sim_net_partition_nodes: cuts every link a[i] -> b[j] and, unless one_way, every
 * b[j] -> a[i] until healed (N5). Duplicates in a list are harmless. na, nb <=
 * TIDAL_SIM_PARTITION_NODES_MAX and at most TIDAL_SIM_PARTITIONS_MAX partitions in force
 * (asserted). Returns the handle (never 0). */
TIDAL_API uint32_t tidal_sim_net_partition_nodes(tidal_sim_net *net, const tidal_node_ref *a,
                                                 uint32_t na, const tidal_node_ref *b,
                                                 uint32_t nb, int one_way);

/* tidal_sim_net_partition_regions: cuts every link from region ra to region rb and, unless
 * one_way, from rb to ra (ra != rb, asserted). Returns the handle (never 0). */
TIDAL_API uint32_t tidal_sim_net_partition_regions(tidal_sim_net *net, uint16_t ra,
                                                   uint16_t rb, int one_way);

/* tidal_sim_net_isolate_region: cuts region r from every other region, both ways; links
 * inside r stay up. Returns the handle (never 0). */
TIDAL_API uint32_t tidal_sim_net_isolate_region(tidal_sim_net *net, uint16_t r);

/* tidal_sim_net_heal: releases a partition handle. handle must have been returned by this
 * net (asserted); healing it again is a no-op. */
TIDAL_API void tidal_sim_net_heal(tidal_sim_net *net, uint32_t handle);

/* 1 when no partition in force cuts from -> to, else 0. Down nodes are not considered. */
TIDAL_API int tidal_sim_net_reachable(const tidal_sim_net *net, tidal_node_ref from,
                                      tidal_node_ref to);

/* tidal_sim_net_set_down: marks node n down (down != 0) or up (N6). Idempotent. At most
 * TIDAL_SIM_DOWN_MAX nodes down at once (asserted). */
TIDAL_API void tidal_sim_net_set_down(tidal_sim_net *net, tidal_node_ref n, int down);

/* 1 while node n is down, else 0. */
TIDAL_API int tidal_sim_net_is_down(const tidal_sim_net *net, tidal_node_ref n);

/* tidal_sim_net_send: puts a copy of bytes[0, len) on the link from -> to at now_ns.
 *   bytes: may be NULL only when len is 0; the caller keeps it.
 *   now_ns: the sender's current time; at most INT64_MAX - 2 * TIDAL_SIM_LATENCY_NS_MAX
 *           (asserted) so a delivery time cannot overflow.
 * Returns TIDAL_OK whether or not the message will arrive (N3): loss, partitions, down
 * nodes and full queues are counted in the stats, never reported to the sender.
 * Errors: TIDAL_ERR_LIMIT (len > TIDAL_SIM_MSG_BYTES_MAX; nothing happened). */
TIDAL_API tidal_result tidal_sim_net_send(tidal_sim_net *net, tidal_node_ref from,
                                          tidal_node_ref to, const void *bytes, size_t len,
                                          int64_t now_ns);

/* The delivery time of the first copy in flight (it may still be dropped when popped,
 * N4), or INT64_MAX when nothing is in flight. */
TIDAL_API int64_t tidal_sim_net_next_ns(const tidal_sim_net *net);

/* tidal_sim_net_pop: delivers the first copy due at or before now_ns in (deliver_ns, seq,
 * copy) order, dropping the due copies a partition or a down receiver stops on the way
 * (N4). Returns 1 and fills *out (the caller then owns out->bytes), or 0 when nothing
 * due survives (out untouched). */
TIDAL_API int tidal_sim_net_pop(tidal_sim_net *net, int64_t now_ns, tidal_sim_msg *out);

/* Frees m->bytes and zeroes m. m->bytes may be NULL (a zeroed or freed message). */
TIDAL_API void tidal_sim_msg_free(tidal_sim_msg *m);

TIDAL_API void tidal_sim_net_stats_get(const tidal_sim_net *net, tidal_sim_net_stats *out);

/* tidal_sim_net_check: asserts every internal invariant (heap order, per-link counts,
 * bytes in flight, the stats identity, sorted partition and down tables). Slow; for
 * tests. */
TIDAL_API void tidal_sim_net_check(const tidal_sim_net *net);

/* ---- The env of one simulated node ---------------------------------------------------- */

/* A simulated env: virtual clocks, its own random stream, the files of one disk.
 * Do not move or copy a tidal_sim_env after init: env.user points at the struct itself. */
typedef struct tidal_sim_env {
    tidal_env env;        /* pass &e.env in tidal_config.env; env.user points at this struct */
    tidal_sim_disk *disk; /* the node's disk (several envs may share one, as one machine) */
    int64_t now_ns;       /* virtual wall clock; tests move it */
    int64_t mono_ns;      /* virtual monotonic clock; starts at 1 s so 0 can mean "never" */
    uint64_t rng;         /* randomness stream state (splitmix64) */
    tidal_sim_net *net;   /* where message_send goes; NULL (the default): TIDAL_ERR_UNAVAILABLE */
    tidal_node_ref self;  /* this node's address on net: the from of what it sends */
    int64_t skew_ns;      /* how far now_ns is off true time: the network runs on true time */
} tidal_sim_env;

/* tidal_sim_env_init: fills e (every env method, version TIDAL_ENV_VERSION, env.user = e).
 *   disk:   the node's disk, not NULL; it must outlive e's use.
 *   now_ns: the initial wall clock; seed: the initial randomness state. */
TIDAL_API void tidal_sim_env_init(tidal_sim_env *e, tidal_sim_disk *disk, int64_t now_ns,
                                  uint64_t seed);

/* Moves both virtual clocks forward by dt_ns (>= 0, asserted). */
TIDAL_API void tidal_sim_env_advance(tidal_sim_env *e, int64_t dt_ns);

/* tidal_sim_env_attach_net: routes e's message_send to net as node self, sent at e's wall
 * clock now_ns (see ENV SEMANTICS), so the net's time is the envs' now_ns: a simulator
 * that skews a node's wall clock must keep the network's time separate from it. net NULL
 * detaches (message_send then returns TIDAL_ERR_UNAVAILABLE again). net must outlive its
 * use through e. */
TIDAL_API void tidal_sim_env_attach_net(tidal_sim_env *e, tidal_sim_net *net,
                                        tidal_node_ref self);

// >>sim_cluster_api
/* A whole cluster in one process: regions x shards nodes, each with its own simulated disk
   and env on one simulated network, each running one tidal_peer (tidal.h's node: its
   replica members, its control-plane member, routing, the migration coordinator, gather
   and health) opened through the public API in directory "node" (members in "node/g<id>",
   the control member in "node/control"); shard s's replica group is the nodes (r, s) for
   every region r. Time is virtual and jumps to the next message delivery or tick; every
   message is delivered through tidal_peer_receive, every tick is a tidal_peer_tick. */

#ifndef TIDAL_SIM_NODES_MAX
#define TIDAL_SIM_NODES_MAX 64 /* regions * shards */
#endif

typedef struct tidal_sim_cluster_config {
    uint16_t regions;          /* 1..TIDAL_REPLICAS_MAX; default 3 */
    uint16_t shards;           /* default 1 */
    uint64_t seed;             /* drives every random choice (per-component streams) */
    tidal_schema schema;       /* required */
    int64_t start_ns;          /* initial wall clock; default 2026-09-21 (fixed) */
    int64_t tick_ns;           /* how often each node is ticked; default 10 ms */
    int64_t heartbeat_ns;      /* passed to every node; 0 = library default */
    int64_t election_timeout_ns;
    uint64_t segment_bytes_max;
    int availability_mode;     /* passed to every node (DESIGN 5.4) */
    int64_t quorum_wait_ns;    /* passed to every node; 0 = library default */
    uint64_t snapshot_log_bytes; /* passed to every node (automatic snapshots); 0 = library
                                    default */
    const uint32_t *placements; /* replica groups besides group 0 (every region), one per
                                   distinct placement (bit r = region r), ids 2, 3, ... in
                                   this order: every node's peer runs them from the start
                                   (tidal_sim_cluster_group_add names them) */
    uint32_t placement_count;   /* at most TIDAL_SIM_GROUPS_MAX - 1 */
    int64_t peer_heartbeat_ns;  /* tidal_peer_config.heartbeat_ns; 0 = library default */
} tidal_sim_cluster_config;

typedef struct tidal_sim_cluster tidal_sim_cluster;

/* Where a node keeps its member of group 0 on its disk (group g: "node/g<g>"). */
#define TIDAL_SIM_DB_DIR "node/g0"

/* Builds and opens every node. NULL if the config is invalid or a node fails to open. */
TIDAL_API tidal_sim_cluster *tidal_sim_cluster_new(const tidal_sim_cluster_config *cfg);
TIDAL_API void tidal_sim_cluster_free(tidal_sim_cluster *c);

/* The node's peer and its member of group 0 (NULL while it is down: tidal_peer_member, so
   tests may call tidal_db functions on it; the peer owns it), its disk, its env, and the
   network. */
TIDAL_API tidal_peer *tidal_sim_cluster_peer(const tidal_sim_cluster *c, uint16_t region,
                                             uint16_t shard);
TIDAL_API tidal_db *tidal_sim_cluster_db(const tidal_sim_cluster *c, uint16_t region, uint16_t shard);
TIDAL_API tidal_sim_disk *tidal_sim_cluster_disk(const tidal_sim_cluster *c, uint16_t region,
                                                 uint16_t shard);
TIDAL_API tidal_sim_env *tidal_sim_cluster_env(tidal_sim_cluster *c, uint16_t region, uint16_t shard);
TIDAL_API tidal_sim_net *tidal_sim_cluster_net(const tidal_sim_cluster *c);
TIDAL_API int64_t tidal_sim_cluster_now(const tidal_sim_cluster *c);

/* Runs until virtual time until_ns: delivers messages in (time, seq) order, ticks every
   live node every tick_ns. An optional observer sees every step (for invariant checks). */
TIDAL_API void tidal_sim_cluster_run(tidal_sim_cluster *c, int64_t until_ns);
TIDAL_API void tidal_sim_cluster_set_observer(tidal_sim_cluster *c,
                                              void (*fn)(void *ctx, tidal_sim_cluster *c),
                                              void *ctx);
/* Runs the cluster until node (region, shard)'s peer completes ticket (a call the caller
   made on tidal_sim_cluster_peer: the harness polls every peer and keeps the last 64
   completions), at most timeout_ns. 1 with *out set, 0 on timeout or when the node went
   down. */
TIDAL_API int tidal_sim_cluster_await(tidal_sim_cluster *c, uint16_t region, uint16_t shard,
                                      uint64_t ticket, int64_t timeout_ns,
                                      tidal_peer_completion *out);
/* A scatter-gather through messages issued on node (region, shard): tidal_peer_gather(text,
   wait_ns) on its peer (tidal.h >>node_gather: the library picks the replica per shard,
   moves on after gather_try_ns, and decides what is missing), then the cluster runs
   (tidal_sim_cluster_await) until that gather's completion, which *out receives whatever
   its outcome (OK, possibly degraded; FAILED). The library completes a gather by its
   deadline (wait_ns from the call; 0: the peer's config.gather_wait_ns, 1 s by default), so
   the run stops there (at the first tick after it); it allows that plus 10 s. Only
   completions the node's peer gives after the call count (a restarted peer numbers its
   tickets anew). TIDAL_ERR_UNAVAILABLE when the node is down, or it went down or the
   gather did not complete in that time; else tidal_peer_gather's own refusal (its
   message: tidal_peer_errmsg on the node's peer). */
TIDAL_API tidal_result tidal_sim_cluster_gather(tidal_sim_cluster *c, uint16_t region,
                                                uint16_t shard, const char *text, int64_t wait_ns,
                                                tidal_peer_completion *out);

/* Faults on one node. crash: unsynced writes meet their fates, memory is lost, the node
   leaves the network. restart: reopens from the disk (recovery). wipe: the disk is
   destroyed; the next restart starts empty (a new incarnation). skew: added to its wall
   clock from now on (its monotonic clock is unaffected). */
TIDAL_API void tidal_sim_cluster_crash(tidal_sim_cluster *c, uint16_t region, uint16_t shard);
TIDAL_API tidal_result tidal_sim_cluster_restart(tidal_sim_cluster *c, uint16_t region,
                                                 uint16_t shard);
TIDAL_API void tidal_sim_cluster_wipe(tidal_sim_cluster *c, uint16_t region, uint16_t shard);
/* Why node (region, shard)'s last restart failed (tidal_peer_open's message), "" if it
   did not. */
TIDAL_API const char *tidal_sim_cluster_errmsg(const tidal_sim_cluster *c, uint16_t region,
                                              uint16_t shard);
TIDAL_API void tidal_sim_cluster_skew(tidal_sim_cluster *c, uint16_t region, uint16_t shard,
                                      int64_t skew_ns);

/* The region leading shard's highest epoch, or -1 during an election. */
TIDAL_API int tidal_sim_cluster_leader(const tidal_sim_cluster *c, uint16_t shard);

/* BLAKE3 over everything delivered so far (time, from, to, bytes): equal traces mean the
   same run. */
TIDAL_API void tidal_sim_cluster_trace(const tidal_sim_cluster *c, uint8_t out[32]);

/* Ground truth (DESIGN 6). The cluster records every event any node writes itself (the
   event hook of every peer, tidal_peer_config.event_hook, in every life), once per id,
   with the group of the member that wrote it (a node runs one member per group its region
   is in: the epoch marker a one-region group's member writes when it leads again after a
   restart belongs to that group, not to the data group's shard of the same node).
   tidal_sim_cluster_truth opens a fresh ephemeral node (the cluster's schema, clock at the
   cluster's now) that imports
   the recorded events keep() accepts (keep NULL: all of them; a checker passes one that
   drops events whose writer crashed before they were durable and that no replica holds),
   so every replica can be compared with a single node that applied the union. The caller
   closes *out with tidal_db_close. */
TIDAL_API uint32_t tidal_sim_cluster_events(const tidal_sim_cluster *c);
/* The recorded events written by members of group (a data group's id). */
TIDAL_API uint32_t tidal_sim_cluster_group_events(const tidal_sim_cluster *c, uint32_t group);

/* Health snapshot, as one node's peer sees it (tidal_peer_health_get on the control
   leader's node, else the first live one): per shard of group 0 its leader and epoch, per
   region healthy, degraded (the peer says so: a node silent, a member cut off or lagging;
   or a member lagging by more than lag_threshold_ns) or offline (no node of it heard);
   the other groups' leaders, the control plane and the tenants' records. Writes a
   NUL-terminated text table into buf (truncated to cap) and returns the number of regions
   not healthy. */
TIDAL_API uint32_t tidal_sim_cluster_health(const tidal_sim_cluster *c, int64_t lag_threshold_ns,
                                            char *buf, size_t cap);
TIDAL_API tidal_result tidal_sim_cluster_truth(tidal_sim_cluster *c,
                                               int (*keep)(void *ctx, tidal_event_id id),
                                               void *ctx, tidal_db **out);
/* tidal_sim_cluster_truth of the events members of group wrote (keep() sees only those):
   what every member of that group's shards must hold between them. */
TIDAL_API tidal_result tidal_sim_cluster_group_truth(tidal_sim_cluster *c, uint32_t group,
                                                     int (*keep)(void *ctx, tidal_event_id id),
                                                     void *ctx, tidal_db **out);

/* ---- Replica groups and the control plane (DESIGN 5.1, 5.7, 5.9) ------------------------
   Group 0 is every region on every shard (the cluster's data group); the others are the
   config's placements. A node's peer runs one member per group its region is in - one
   group per distinct placement, not per tenant - each a tidal_db of its own in its own
   directory on the node's disk, told apart on the wire by config.group; a crash takes all
   of a node's members down together. Group id 1 names the control plane (the peers'
   control members: shard 0 of every region votes, the other nodes learn): its leader
   region is tidal_sim_cluster_group_leader(c, 1, 0); it has no tidal_db. */

#ifndef TIDAL_SIM_GROUPS_MAX
#define TIDAL_SIM_GROUPS_MAX 8
#endif
#ifndef TIDAL_SIM_TENANTS_MAX
#define TIDAL_SIM_TENANTS_MAX 16 /* tenants the control plane keeps records of */
#endif
#define TIDAL_SIM_CONTROL_GROUP 1u

/* The id of the group of placement (bit r = region r; every region: 0), or -1 when no
   declared group has it (tidal_sim_cluster_config.placements: groups are declared when
   the cluster is built, each node's peer runs them from its first open). */
TIDAL_API int tidal_sim_cluster_group_add(tidal_sim_cluster *c, uint32_t placement);
TIDAL_API uint32_t tidal_sim_cluster_group_placement(const tidal_sim_cluster *c, uint32_t group);
/* Node (region, shard)'s member of group (NULL when it has none or the node is down). */
TIDAL_API tidal_db *tidal_sim_cluster_group_db(const tidal_sim_cluster *c, uint32_t group,
                                               uint16_t region, uint16_t shard);
/* The region leading group's shard at the highest epoch, or -1. */
TIDAL_API int tidal_sim_cluster_group_leader(const tidal_sim_cluster *c, uint32_t group,
                                             uint16_t shard);

typedef enum tidal_sim_move_phase {
    TIDAL_SIM_MOVE_NONE = 0,
    TIDAL_SIM_MOVE_COPY = 1,   /* the target catches up (snapshot + forwarded log) */
    TIDAL_SIM_MOVE_SEAL = 2,   /* the source refuses local writes; copies compared */
    TIDAL_SIM_MOVE_SWITCH = 3, /* the target owns it; the source drops it */
    TIDAL_SIM_MOVE_DONE = 4    /* the source's copy is collected everywhere */
} tidal_sim_move_phase;

/* A tenant as the live peer that applied the most control records sees it
   (tidal_peer_tenant_get), with what the harness observed of its moves. */
typedef struct tidal_sim_tenant_info {
    uint32_t group;       /* the owning group (routing follows it) */
    uint32_t placement;   /* that group's regions */
    uint64_t version;     /* the highest log index of a record naming it (seen so far) */
    int phase;            /* tidal_sim_move_phase of its last migration (= the library's
                             TIDAL_CONTROL_PHASE_*) */
    uint32_t target;      /* moving: the group it moves to; after SWITCH the old one */
    int64_t start_ns, switch_ns, done_ns; /* of the last migration (cluster time): the
                             tidal_sim_cluster_migrate call, the first tick after which a
                             peer had applied SWITCH, DONE; 0 = not yet */
    uint64_t copies;      /* installs run by target leaders (all tenants, all lives) */
    uint64_t forwarded;   /* events forwarded to targets (all tenants, all lives) */
    uint32_t coordinator_restarts; /* control leader changes seen while a move was in
                                      flight (the coordinator runs beside that leader) */
} tidal_sim_tenant_info;

/* Registers or updates a tenant with the control plane: the first call proposes the
   TOPOLOGY record; a tenant without placement gets a PLACEMENT record (cfg->placement,
   0 = every region: a declared group's); then a TENANT record (limits, cfg->state). Each
   is proposed through a live peer (tidal_peer_propose) and the cluster runs until it
   committed and every live peer applied it; the peers push it to their members and
   enforce it after restarts from their own disks. A registered tenant's placement
   changes only by tidal_sim_cluster_migrate. TIDAL_ERR_LIMIT when TIDAL_SIM_TENANTS_MAX
   are registered; TIDAL_ERR_UNAVAILABLE when the placement is not declared or no record
   committed within 30 s of simulated time; a refusal of the control plane as it is. */
TIDAL_API tidal_result tidal_sim_cluster_tenant_set(tidal_sim_cluster *c,
                                                    const tidal_tenant_config *cfg);
/* Starts moving tenant to placement's group: tidal_peer_move through a live peer, the
   cluster running until its COPY record committed; the library's coordinator does the
   rest as the cluster runs (tidal.h >>node_move). TIDAL_ERR_LIMIT when a migration of it
   is under way, TIDAL_ERR_UNAVAILABLE when placement is not declared or no leader took it
   within 30 s, TIDAL_ERR_NOT_FOUND for an unregistered tenant. */
TIDAL_API tidal_result tidal_sim_cluster_migrate(tidal_sim_cluster *c, uint32_t tenant,
                                                 uint32_t placement);
TIDAL_API tidal_result tidal_sim_cluster_tenant(const tidal_sim_cluster *c, uint32_t tenant,
                                                tidal_sim_tenant_info *out);
/* The routing table (tidal_peer_tenant_get, as for tidal_sim_cluster_tenant): the
   tenant's owning group (0 for unregistered tenants), its member on (region, shard), and
   the region leading it on shard. */
TIDAL_API uint32_t tidal_sim_cluster_tenant_group(const tidal_sim_cluster *c, uint32_t tenant);
TIDAL_API tidal_db *tidal_sim_cluster_tenant_db(const tidal_sim_cluster *c, uint32_t tenant,
                                                uint16_t region, uint16_t shard);
TIDAL_API int tidal_sim_cluster_tenant_leader(const tidal_sim_cluster *c, uint32_t tenant,
                                              uint16_t shard);

/* ---- The planning notes' harness calls (seeds/002: leader, follower_in,
   await_full_convergence, read_decay_score, heal_all_partitions), on the data group
   (group 0). A test reads like the notes: build, write to the leader, await convergence,
   read the score in each region. */

/* The handle of shard's leader (the region tidal_sim_cluster_leader names), or NULL during
   an election. */
TIDAL_API tidal_db *tidal_sim_cluster_leader_db(const tidal_sim_cluster *c, uint16_t shard);

/* A follower of shard in region: node (region, shard)'s handle when it is up and does not
   lead shard (tidal_sim_cluster_leader), else NULL. */
TIDAL_API tidal_db *tidal_sim_cluster_follower_in(const tidal_sim_cluster *c, uint16_t region,
                                                  uint16_t shard);

/* 1 when the data group has converged now, else 0: every shard has a leader; every member
   is up, in the leader's epoch, hears it (not cut off), and lags it by nothing (events and
   time); and every member of a shard holds as many distinct events as the leader with the
   same state digest (all tenants). It cannot tell events no replica holds (a writer's
   unsynced tail lost in a crash): compare with tidal_sim_cluster_truth for that. */
TIDAL_API int tidal_sim_cluster_converged(tidal_sim_cluster *c);

/* Runs the cluster (in steps of its tick) until tidal_sim_cluster_converged or until
   timeout_ns of simulated time have passed, whichever comes first; never longer. Returns 1
   converged, 0 timed out. *waited_ns (may be NULL) receives the simulated time it ran. */
TIDAL_API int tidal_sim_cluster_await_convergence(tidal_sim_cluster *c, int64_t timeout_ns,
                                                  int64_t *waited_ns);

/* The decayed score of (tenant, item, signal type) at t_ns (0 = the node's now) read in
   region: on node (region, tidal_route(tenant, item, shards)), as tidal_signal_read (no
   cohort). TIDAL_ERR_UNAVAILABLE while that node is down; else tidal_signal_read's result
   (*score is written only on TIDAL_OK). */
TIDAL_API tidal_result tidal_sim_cluster_decay_score(const tidal_sim_cluster *c, uint16_t region,
                                                     uint32_t tenant, tidal_id item,
                                                     uint32_t type, int64_t t_ns, double *score);

/* Heals every partition in force on the cluster's network, whoever made it (handles from
   tidal_sim_net_* on tidal_sim_cluster_net). Returns how many it healed. */
TIDAL_API uint32_t tidal_sim_cluster_heal_all(tidal_sim_cluster *c);

// >>sim_check_api
/* ---- The oracle and the checker (DESIGN 6) ------------------------------------------------
   One record of every client operation a test or property program invokes on the cluster
   (what was asked, where, its outcome, the event id its receipt named), the ground-truth
   event set they define, and the checks of DESIGN 6 over tidal_db handles: the checker
   never looks into a cluster, only at the members (tidal_db handles) the caller names.

   Outcomes: an operation is PENDING while the client waits, OK once the call returned
   TIDAL_OK (level: the ack level known to hold, TIDAL_ACK_LOCAL at first; a program that
   learns QUORUM settles it again with TIDAL_ACK_QUORUM), FAILED when it was refused (it
   made no event) and UNKNOWN when the client cannot tell (a crash, a lost connection).
   Records with the same event id (an idempotent retry, a session seq written twice) are one
   event: the first is its ORIGIN (tidal_sim_op.orig), and every check counts events, not
   records. The GROUND TRUTH is the set of events whose origin record has truth set (every
   OK record by default; a program may set or clear it, e.g. to keep events a replica holds
   or drop those whose writers lost their disks).

   Budgets (tidal_sim_oracle_within_budget): an OK event at LOCAL is promised while the
   node that took it keeps its disk; at QUORUM while fewer than a majority of its shard's
   nodes (one per region) lost theirs since (tidal_sim_oracle_wipe). Every check returns
   the number of failures it found (0: it held) and reports each, up to
   TIDAL_SIM_CHECK_REPORT_MAX per call and then one line with the total, through the
   oracle's report function as (check name, one line naming the node (region, shard),
   group, tenant, item and event id where they apply). */

#ifndef TIDAL_SIM_CHECK_REPORT_MAX
#define TIDAL_SIM_CHECK_REPORT_MAX 5 /* failures one check call describes one by one */
#endif

typedef enum tidal_sim_op_kind {
    TIDAL_SIM_OP_SIGNAL = 0, /* tidal_signal_write, session signals: entity = item */
    TIDAL_SIM_OP_HIDE = 1,   /* tidal_negative_add(TIDAL_HIDE): entity = item, user */
    TIDAL_SIM_OP_UNHIDE = 2, /* tidal_negative_remove(TIDAL_HIDE) */
    TIDAL_SIM_OP_FORGET = 3, /* tidal_user_forget: drops every hide of user */
    TIDAL_SIM_OP_OTHER = 4   /* any other write (attributes, session starts...): counted as
                                an event, no content checked */
} tidal_sim_op_kind;

typedef enum tidal_sim_outcome {
    TIDAL_SIM_PENDING = 0,
    TIDAL_SIM_OK = 1,
    TIDAL_SIM_FAILED = 2,
    TIDAL_SIM_UNKNOWN = 3
} tidal_sim_outcome;

/* One client operation. Fill what applies and pass it to tidal_sim_oracle_record. */
typedef struct tidal_sim_op {
    tidal_event_id id;    /* the id its receipt named ({0, 0}: none yet, or none) */
    uint32_t kind;        /* tidal_sim_op_kind */
    uint32_t outcome;     /* tidal_sim_outcome */
    uint32_t level;       /* with TIDAL_SIM_OK: TIDAL_ACK_LOCAL or TIDAL_ACK_QUORUM */
    uint32_t tenant;
    uint32_t group;       /* the replica group of the node that took it */
    uint16_t region, shard; /* that node; shard: where its entity routes */
    tidal_id entity;      /* a signal's or hide's item */
    tidal_id user;        /* a signal's user, a hide's or forget's user */
    uint32_t type;        /* a signal's type */
    uint32_t mark;        /* the caller's bits, e.g. 1 = its user is in a cohort (the
                             cohort scores of tidal_sim_check_signals count these) */
    double weight;        /* a signal's weight */
    int64_t time_ns;      /* a signal's event time */
    /* set by the oracle */
    uint32_t orig;        /* index of the first record of this event id (itself if first) */
    uint32_t truth;       /* 1: in the ground truth (read at the origin record) */
    uint64_t wipe_seq;    /* wipes recorded before it (budgets) */
} tidal_sim_op;

/* What a check looks at; {0} = every record. by_tenant: only tenant's; by_shard: only
   those routed to shard; keep (may be NULL): only records it returns 1 for. */
typedef struct tidal_sim_scope {
    int by_tenant;
    uint32_t tenant;
    int by_shard;
    uint16_t shard;
    int (*keep)(void *ctx, const tidal_sim_op *op);
    void *ctx;
} tidal_sim_scope;

/* A replica a check reads: its handle (NULL = down: a check that needs it fails) and the
   names its messages use. */
typedef struct tidal_sim_member {
    tidal_db *db;
    uint16_t region, shard;
    uint32_t group;
} tidal_sim_member;

typedef struct tidal_sim_oracle tidal_sim_oracle;

/* An empty oracle for a cluster of regions x shards (budgets) whose schema gives the
   half-lives of the analytic scores (schema->signals is copied). Never NULL. */
TIDAL_API tidal_sim_oracle *tidal_sim_oracle_new(const tidal_schema *schema, uint16_t regions,
                                                 uint16_t shards);
TIDAL_API void tidal_sim_oracle_free(tidal_sim_oracle *o);
/* Where failures go: fn(ctx, check, message); NULL: nowhere (the checks still count). */
TIDAL_API void tidal_sim_oracle_set_report(tidal_sim_oracle *o,
                                           void (*fn)(void *ctx, const char *check,
                                                      const char *msg),
                                           void *ctx);

/* Records one operation (a copy of *op; orig, truth and wipe_seq are set here: truth = 1
   for an OK record). Returns its index (0, 1, ...). */
TIDAL_API uint32_t tidal_sim_oracle_record(tidal_sim_oracle *o, const tidal_sim_op *op);
/* Its outcome learned later: outcome, level (OK only) and, when id is not NULL, the id its
   receipt named (a record's id is set at most once). truth follows: 1 when OK. */
TIDAL_API void tidal_sim_oracle_settle(tidal_sim_oracle *o, uint32_t i, uint32_t outcome,
                                       uint32_t level, const tidal_event_id *id);
/* Record i (valid until the next record), and how many there are. A program may change
   truth and mark; the rest is the oracle's. */
TIDAL_API tidal_sim_op *tidal_sim_oracle_op(tidal_sim_oracle *o, uint32_t i);
TIDAL_API uint32_t tidal_sim_oracle_count(const tidal_sim_oracle *o);
/* The origin record of id, or -1 when no record named it. */
TIDAL_API int64_t tidal_sim_oracle_find(const tidal_sim_oracle *o, tidal_event_id id);
/* Node (region, shard) lost its disk now (budgets of every event recorded before). */
TIDAL_API void tidal_sim_oracle_wipe(tidal_sim_oracle *o, uint16_t region, uint16_t shard);
/* Nodes of record i's shard that lost their disk since its origin was recorded, and
   whether i (an OK record) is still promised: see Budgets above. */
TIDAL_API uint32_t tidal_sim_oracle_wiped_since(const tidal_sim_oracle *o, uint32_t i);
/* Whether node (region, shard) lost its disk since record i was recorded. */
TIDAL_API int tidal_sim_oracle_node_wiped(const tidal_sim_oracle *o, uint32_t i, uint16_t region,
                                          uint16_t shard);
TIDAL_API int tidal_sim_oracle_within_budget(const tidal_sim_oracle *o, uint32_t i);
/* Events (distinct ids) of the ground truth in scope, and of those the signals. */
TIDAL_API uint64_t tidal_sim_oracle_events(tidal_sim_oracle *o, const tidal_sim_scope *sc,
                                           uint64_t *signals);
/* The analytic decayed score of (tenant, item, type) at t_ns over the ground truth (only
   signals with mark bits when mark is not 0): sum of weight * 2^(-(t - t_i) / half-life),
   in long double; *count (may be NULL) receives the events summed. */
TIDAL_API long double tidal_sim_oracle_score(tidal_sim_oracle *o, uint32_t tenant, tidal_id item,
                                             uint32_t type, uint32_t mark, int64_t t_ns,
                                             uint64_t *count);
/* The ground truth's signals of (tenant, item, type) (with mark bits when mark is not 0). */
TIDAL_API uint64_t tidal_sim_oracle_signals(tidal_sim_oracle *o, uint32_t tenant, tidal_id item,
                                            uint32_t type, uint32_t mark);
/* Whether a hide of (tenant, user, item) is lifted on db: an unhide of it or a forget of
   user that the oracle recorded is applied there. */
TIDAL_API int tidal_sim_oracle_hide_lifted(tidal_sim_oracle *o, tidal_db *db, uint32_t tenant,
                                           tidal_id user, tidal_id item);

/* acked ("quorum_lost" / "local_lost"): every OK event in scope at min_level or above
   (TIDAL_ACK_LOCAL: all) and within its budget is applied on m, by id
   (tidal_event_is_applied). */
TIDAL_API uint32_t tidal_sim_check_acked(tidal_sim_oracle *o, const tidal_sim_member *m,
                                         const tidal_sim_scope *sc, uint32_t min_level);
/* known ("events_applied"): m applied no event the oracle did not see invoked: its
   events_applied minus epoch markers (events_internal) minus extra (events the caller
   accounts for: installs, drops) equals the events in scope (any outcome, by id) it has
   applied. Also no double: an event applied once is one event. */
TIDAL_API uint32_t tidal_sim_check_known(tidal_sim_oracle *o, const tidal_sim_member *m,
                                         const tidal_sim_scope *sc, uint64_t extra);

#define TIDAL_SIM_COUNT_TRUTH 0   /* expect the ground truth's events */
#define TIDAL_SIM_COUNT_APPLIED 1 /* expect the events applied on the member, by id */
#define TIDAL_SIM_COUNT_ONLY 2    /* flag: compare counts, not scores */

/* signals ("count" / "score"): for every (tenant, item, type) the oracle has signals of in
   scope, and every item of also[0..n_also) of each tenant in scope routed to m's shard
   (tidal_route over the oracle's shards; expected 0 when it has none), m's all-time count
   equals the events counted (TIDAL_SIM_COUNT_TRUTH: those of the ground truth;
   TIDAL_SIM_COUNT_APPLIED: those applied on m) - so none counted twice - and its decayed
   score at t_ns (tidal_signal_read) equals their analytic sum to 6 decimals (absolute
   1e-6). With cohort, also the score of cohort against the sum over the events with
   cohort_mark bits. */
TIDAL_API uint32_t tidal_sim_check_signals(tidal_sim_oracle *o, const tidal_sim_member *m,
                                           const tidal_sim_scope *sc, int64_t t_ns, int mode,
                                           const tidal_tag *cohort, uint32_t cohort_mark,
                                           const tidal_id *also, uint32_t n_also);
/* hidden ("hide_lost" / "suppressed_returned"): every hide in scope routed to m's shard and
   applied on m (by id, any outcome) whose (user, item) no unhide or forget applied there
   lifted is in force
   (tidal_negative_check); and for every user with a hide in scope, RETRIEVE ... SIGNAL t
   FOR USER (the types asked, the tenants in scope, limit) returns no item that m
   suppresses for that user, nor one of those hides. types: bit t asks type t (0: every
   type of the schema); with TIDAL_SIM_HIDDEN_READS_ONLY, the reads alone (the in-force
   check of each hide is skipped: a cheaper look for an observer that runs at every step
   and checks hides in force less often). */
#define TIDAL_SIM_HIDDEN_READS_ONLY (1u << 31)
TIDAL_API uint32_t tidal_sim_check_hidden(tidal_sim_oracle *o, const tidal_sim_member *m,
                                          const tidal_sim_scope *sc, uint32_t types,
                                          uint32_t limit);
/* digest ("digest"): every member's tidal_db_digest of each of tenants[0..n_tenants)
   (TIDAL_ALL_TENANTS: the whole db; n_tenants 0: the whole db alone) equals ref's (ref
   NULL: members[0]'s), and with events, so does its count of distinct events applied. */
TIDAL_API uint32_t tidal_sim_check_digests(tidal_sim_oracle *o, const tidal_sim_member *ref,
                                           const tidal_sim_member *members, uint32_t n,
                                           const uint64_t *tenants, uint32_t n_tenants,
                                           int events);

#ifdef __cplusplus
}
#endif

#endif /* TIDAL_SIM_H */

/* =========================================================================================
   Implementation
   ========================================================================================= */

#ifdef TIDAL_SIM_IMPLEMENTATION
#ifndef TIDAL_SIM_IMPLEMENTATION_ONCE
#define TIDAL_SIM_IMPLEMENTATION_ONCE

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TIDAL_SIM_ASSERT
#ifdef NDEBUG
#define TIDAL_SIM_ASSERT(x) ((void)sizeof(!(x))) /* off, but its operands still count as used */
#else
#include <assert.h>
#define TIDAL_SIM_ASSERT(x) assert(x)
#endif
#endif

#if TIDAL_ENV_VERSION != 2
#error "tidal_sim.h implements tidal_env version 2: add the new methods to >>sim_env"
#endif
#if TIDAL_SIM_NAME_MAX > 127
#error "TIDAL_SIM_NAME_MAX must fit tidal_sim_disk_list's char[128] names"
#endif
#if TIDAL_SIM_NAME_MAX >= TIDAL_SIM_PATH_MAX
#error "TIDAL_SIM_PATH_MAX must exceed TIDAL_SIM_NAME_MAX"
#endif
#if defined(TIDAL_PATH_MAX) && TIDAL_SIM_PATH_MAX < TIDAL_PATH_MAX + 1 + TIDAL_SIM_NAME_MAX
#error "TIDAL_SIM_PATH_MAX must hold a database directory (TIDAL_PATH_MAX), '/' and a name"
#endif
#if TIDAL_SIM_HANDLES_MAX >= 65535u
#error "TIDAL_SIM_HANDLES_MAX must fit the 16 slot bits of a handle"
#endif
#if TIDAL_SIM_MSG_BYTES_MAX < TIDAL_MSG_BYTES_MAX
#error "TIDAL_SIM_MSG_BYTES_MAX must carry any message tidal.h sends (TIDAL_MSG_BYTES_MAX)"
#endif
#if TIDAL_SIM_NET_BYTES_MAX < TIDAL_SIM_MSG_BYTES_MAX
#error "TIDAL_SIM_NET_BYTES_MAX must hold at least one largest message"
#endif
#if TIDAL_SIM_NET_MSGS_MAX < TIDAL_SIM_LINK_QUEUE_MAX || TIDAL_SIM_NET_MSGS_MAX >= UINT32_MAX / 2
#error "TIDAL_SIM_NET_MSGS_MAX must hold one full link and fit the uint32_t heap indices"
#endif
#if TIDAL_SIM_LATENCY_NS_MAX > INT64_MAX / 4
#error "TIDAL_SIM_LATENCY_NS_MAX must leave room for delivery times (send time + 2 latencies)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

// >>sim_util
// Allocation (malloc; running out of memory is a test-environment failure and aborts
// through TIDAL_SIM_ASSERT), the splitmix64 stream behind fates and env randomness,
// growable byte images that zero-fill whenever they grow, and path parsing. Limits:
// an image is at most TIDAL_SIM_FILE_BYTES_MAX bytes, a path TIDAL_SIM_PATH_MAX.

#define TIDAL_SIM__DIR UINT32_MAX /* namespace entry that is a directory, not an inode */
#define TIDAL_SIM__SLOT_BITS 16
#define TIDAL_SIM__SLOT_MASK ((uintptr_t)0xFFFF)

static void *tidal_sim__alloc(size_t n) {
    void *p = malloc(n ? n : 1);
    TIDAL_SIM_ASSERT(p != NULL); /* the simulator runs in tests: no memory is fatal */
    return p;
}

static void *tidal_sim__realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    TIDAL_SIM_ASSERT(q != NULL);
    return q;
}

/* Grows an array of *cap elements of size elem so it holds at least need elements. */
static void *tidal_sim__reserve(void *p, uint32_t *cap, uint32_t need, size_t elem) {
    uint32_t c = *cap ? *cap : 8;
    if (need <= *cap) return p;
    while (c < need) c *= 2;
    *cap = c;
    return tidal_sim__realloc(p, (size_t)c * elem);
}

static uint64_t tidal_sim__next(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

typedef struct tidal_sim__bytes {
    uint8_t *p;
    size_t len; /* bytes in the image */
    size_t cap; /* bytes allocated; [len, cap) is garbage until the image grows over it */
} tidal_sim__bytes;

/* Sets the length; bytes that become part of the image read as zero. */
static void tidal_sim__bytes_resize(tidal_sim__bytes *b, size_t len) {
    TIDAL_SIM_ASSERT(len <= (size_t)TIDAL_SIM_FILE_BYTES_MAX);
    if (len > b->cap) {
        size_t c = b->cap ? b->cap : 512;
        while (c < len) c *= 2;
        b->p = (uint8_t *)tidal_sim__realloc(b->p, c);
        b->cap = c;
    }
    if (len > b->len) memset(b->p + b->len, 0, len - b->len);
    b->len = len;
}

static void tidal_sim__bytes_write(tidal_sim__bytes *b, size_t off, const void *src, size_t n) {
    TIDAL_SIM_ASSERT(n > 0 && off + n <= (size_t)TIDAL_SIM_FILE_BYTES_MAX);
    if (off + n > b->len) tidal_sim__bytes_resize(b, off + n);
    memcpy(b->p + off, src, n);
}

static void tidal_sim__bytes_set(tidal_sim__bytes *dst, const tidal_sim__bytes *src) {
    tidal_sim__bytes_resize(dst, 0);
    if (src->len) tidal_sim__bytes_write(dst, 0, src->p, src->len);
    TIDAL_SIM_ASSERT(dst->len == src->len);
}

static void tidal_sim__bytes_free(tidal_sim__bytes *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Copies the directory of path (F1) into dir, which holds TIDAL_SIM_PATH_MAX + 1 bytes. */
static void tidal_sim__parent(const char *path, char *dir) {
    const char *slash = strrchr(path, '/');
    size_t n;
    if (!slash) {
        dir[0] = 0;
        return;
    }
    n = slash == path ? 1 : (size_t)(slash - path); /* "/x" lives in the root "/" */
    TIDAL_SIM_ASSERT(n <= TIDAL_SIM_PATH_MAX);
    memcpy(dir, path, n);
    dir[n] = 0;
}

static int tidal_sim__parent_is(const char *path, const char *dir) {
    char p[TIDAL_SIM_PATH_MAX + 1];
    tidal_sim__parent(path, p);
    return strcmp(p, dir) == 0;
}

static const char *tidal_sim__basename(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int tidal_sim__is_root(const char *dir) { return dir[0] == 0 || !strcmp(dir, "/"); }

/* Checks a file or directory path (not a root): TIDAL_OK, TIDAL_ERR_INVALID for an empty
   name or "." / "..", TIDAL_ERR_LIMIT for a path or name that is too long. */
static tidal_result tidal_sim__path_check(const char *path) {
    const char *name;
    size_t n = strlen(path);
    if (n > TIDAL_SIM_PATH_MAX) return TIDAL_ERR_LIMIT;
    name = tidal_sim__basename(path);
    if (!name[0] || !strcmp(name, ".") || !strcmp(name, "..")) return TIDAL_ERR_INVALID;
    if (strlen(name) > TIDAL_SIM_NAME_MAX) return TIDAL_ERR_LIMIT;
    return TIDAL_OK;
}

/* Copies a directory argument into out with "." as "" and trailing slashes dropped. */
static tidal_result tidal_sim__dir_norm(const char *dir, char *out) {
    size_t n = strlen(dir);
    if (n > TIDAL_SIM_PATH_MAX) return TIDAL_ERR_LIMIT;
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 1 && dir[0] == '.') n = 0;
    memcpy(out, dir, n);
    out[n] = 0;
    return TIDAL_OK;
}

// >>sim_namespace
// A namespace is an array of (path, inode) entries sorted by strcmp, so lookups are
// binary searches and listings come out sorted. The metadata journal is an ordered list
// of entries (link, mkdir, unlink, rename); invariant: the durable namespace with every
// uncommitted entry applied in order IS the current namespace, which is why any prefix
// of the journal replays cleanly onto the durable namespace after a crash.

typedef struct tidal_sim__entry {
    char path[TIDAL_SIM_PATH_MAX + 1];
    uint32_t inode; /* TIDAL_SIM__DIR for a directory */
} tidal_sim__entry;

typedef struct tidal_sim__ns {
    tidal_sim__entry *e;
    uint32_t n, cap;
} tidal_sim__ns;

enum { TIDAL_SIM__J_LINK = 1, TIDAL_SIM__J_MKDIR, TIDAL_SIM__J_UNLINK, TIDAL_SIM__J_RENAME };

typedef struct tidal_sim__jentry {
    uint32_t kind;
    uint32_t inode; /* link, rename: the inode named */
    char path[TIDAL_SIM_PATH_MAX + 1];  /* the name created, removed or renamed */
    char path2[TIDAL_SIM_PATH_MAX + 1]; /* rename: the new name */
} tidal_sim__jentry;

/* Returns 1 and the index if path is present, else 0 and where it would go. */
static int tidal_sim__ns_find(const tidal_sim__ns *ns, const char *path, uint32_t *pos) {
    uint32_t lo = 0, hi = ns->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ns->e[mid].path, path);
        if (c == 0) {
            *pos = mid;
            return 1;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *pos = lo;
    return 0;
}

/* The entry's inode, or UINT32_MAX - 1 when path is not in the namespace. */
#define TIDAL_SIM__NONE (UINT32_MAX - 1)
static uint32_t tidal_sim__ns_get(const tidal_sim__ns *ns, const char *path) {
    uint32_t pos;
    return tidal_sim__ns_find(ns, path, &pos) ? ns->e[pos].inode : TIDAL_SIM__NONE;
}

static void tidal_sim__ns_set(tidal_sim__ns *ns, const char *path, uint32_t inode) {
    uint32_t pos;
    size_t n = strlen(path);
    TIDAL_SIM_ASSERT(n > 0 && n <= TIDAL_SIM_PATH_MAX);
    if (!tidal_sim__ns_find(ns, path, &pos)) {
        ns->e = (tidal_sim__entry *)tidal_sim__reserve(ns->e, &ns->cap, ns->n + 1,
                                                       sizeof *ns->e);
        memmove(&ns->e[pos + 1], &ns->e[pos], (size_t)(ns->n - pos) * sizeof *ns->e);
        ns->n++;
        memcpy(ns->e[pos].path, path, n + 1);
    }
    ns->e[pos].inode = inode;
}

static void tidal_sim__ns_del(tidal_sim__ns *ns, const char *path) {
    uint32_t pos;
    int found = tidal_sim__ns_find(ns, path, &pos);
    TIDAL_SIM_ASSERT(found); /* journal entries only remove names that exist (invariant) */
    if (!found) return;
    memmove(&ns->e[pos], &ns->e[pos + 1], (size_t)(ns->n - pos - 1) * sizeof *ns->e);
    ns->n--;
}

static void tidal_sim__ns_copy(tidal_sim__ns *dst, const tidal_sim__ns *src) {
    dst->n = 0;
    dst->e = (tidal_sim__entry *)tidal_sim__reserve(dst->e, &dst->cap, src->n, sizeof *dst->e);
    if (src->n) memcpy(dst->e, src->e, (size_t)src->n * sizeof *src->e);
    dst->n = src->n;
}

static int tidal_sim__ns_dir_exists(const tidal_sim__ns *ns, const char *dir) {
    return tidal_sim__is_root(dir) || tidal_sim__ns_get(ns, dir) == TIDAL_SIM__DIR;
}

/* Applies one journal entry. Preconditions hold by the journal invariant: a link or
   mkdir names a free path, an unlink or rename source exists (asserted). */
static void tidal_sim__jentry_apply(tidal_sim__ns *ns, const tidal_sim__jentry *j) {
    switch (j->kind) {
    case TIDAL_SIM__J_LINK:
    case TIDAL_SIM__J_MKDIR:
        TIDAL_SIM_ASSERT(tidal_sim__ns_get(ns, j->path) == TIDAL_SIM__NONE);
        tidal_sim__ns_set(ns, j->path, j->kind == TIDAL_SIM__J_LINK ? j->inode : TIDAL_SIM__DIR);
        break;
    case TIDAL_SIM__J_UNLINK: tidal_sim__ns_del(ns, j->path); break;
    case TIDAL_SIM__J_RENAME:
        TIDAL_SIM_ASSERT(tidal_sim__ns_get(ns, j->path) == j->inode);
        tidal_sim__ns_del(ns, j->path);
        tidal_sim__ns_set(ns, j->path2, j->inode);
        break;
    default: TIDAL_SIM_ASSERT(0 && "unknown journal entry");
    }
}

static int tidal_sim__jentry_touches(const tidal_sim__jentry *j, const char *dir) {
    if (tidal_sim__parent_is(j->path, dir)) return 1;
    return j->kind == TIDAL_SIM__J_RENAME && tidal_sim__parent_is(j->path2, dir);
}

/* Copies the names directly in dir into a malloc'd array of char[128]; returns the count. */
static uint32_t tidal_sim__ns_children(const tidal_sim__ns *ns, const char *dir,
                                       char (**out)[128]) {
    uint32_t i, n = 0;
    char(*names)[128] = NULL;
    for (i = 0; i < ns->n; i++) n += (uint32_t)tidal_sim__parent_is(ns->e[i].path, dir);
    names = (char(*)[128])tidal_sim__alloc((size_t)n * 128);
    n = 0;
    for (i = 0; i < ns->n; i++) { /* sorted by full path = sorted by name within a dir */
        const char *name = tidal_sim__basename(ns->e[i].path);
        if (!tidal_sim__parent_is(ns->e[i].path, dir)) continue;
        TIDAL_SIM_ASSERT(strlen(name) <= TIDAL_SIM_NAME_MAX);
        memcpy(names[n++], name, strlen(name) + 1);
    }
    *out = names;
    return n;
}

// >>sim_disk
// Inodes (two images each plus the unsynced operation list), handles, and the disk
// lifecycle. Inodes live in a table and are reused lowest index first; one is freed
// once no current name, durable name, journal entry or open handle refers to it.
// A handle is (generation << 16 | slot + 1): never NULL, and a handle whose slot was
// closed or reused no longer matches the slot's tag, so stale handles fail cleanly.

enum { TIDAL_SIM__OP_WRITE = 1, TIDAL_SIM__OP_TRUNCATE = 2 };

typedef struct tidal_sim__op {
    uint32_t kind;
    uint64_t off;  /* write: offset; truncate: the new length */
    uint8_t *data; /* write: a private copy of the bytes */
    size_t len;    /* write: bytes (> 0) */
} tidal_sim__op;

typedef struct tidal_sim__inode {
    int live;
    tidal_sim__bytes durable, current;
    tidal_sim__op *ops; /* unsynced operations, oldest first */
    uint32_t n_ops, cap_ops;
} tidal_sim__inode;

typedef struct tidal_sim__handle {
    uintptr_t tag; /* the handle value handed out; 0 = slot closed */
    uint32_t inode;
    uint32_t flags; /* TIDAL_OPEN_* */
} tidal_sim__handle;

typedef struct tidal_sim__fault {
    uint64_t op; /* absolute operation number */
    tidal_result code;
} tidal_sim__fault;

/* A directory lock (dir_lock): the normalized directory and the value handed out. */
typedef struct tidal_sim__lock {
    uintptr_t tag; /* never 0: (generation << 1) | 1 */
    char dir[TIDAL_SIM_PATH_MAX + 1];
} tidal_sim__lock;

struct tidal_sim_disk {
    uint64_t rng;                /* the fate stream */
    uint64_t ops;                /* counted operations so far */
    uint64_t crash_op;           /* absolute operation number to crash before; 0 = none */
    unsigned keep_pct, drop_pct; /* F4 */
    int down;
    tidal_sim__fault faults[TIDAL_SIM_FAULTS_MAX];
    uint32_t n_faults;
    tidal_sim__inode *inodes;
    uint32_t n_inodes, cap_inodes; /* n_inodes: table length, live or not */
    tidal_sim__ns cur, dur;
    tidal_sim__jentry *journal; /* uncommitted entries, oldest first */
    uint32_t n_journal, cap_journal;
    tidal_sim__handle *handles;
    uint32_t n_handles, cap_handles;
    uint64_t handle_gen;
    tidal_sim__lock *locks; /* held directory locks, any order */
    uint32_t n_locks, cap_locks;
    uint64_t lock_gen;
    const char *why;            /* error_text of the last failed operation, or NULL */
    tidal_sim_disk_stats stats; /* counters only; gauges are computed by stats_get */
};

static void tidal_sim__op_free(tidal_sim__op *op) {
    free(op->data);
    op->data = NULL;
}

static void tidal_sim__inode_clear_ops(tidal_sim__inode *ino) {
    uint32_t i;
    for (i = 0; i < ino->n_ops; i++) tidal_sim__op_free(&ino->ops[i]);
    ino->n_ops = 0;
}

static void tidal_sim__inode_free(tidal_sim__inode *ino) {
    tidal_sim__inode_clear_ops(ino);
    free(ino->ops);
    tidal_sim__bytes_free(&ino->durable);
    tidal_sim__bytes_free(&ino->current);
    memset(ino, 0, sizeof *ino);
}

/* A new empty inode, lowest free index first; TIDAL_SIM__NONE when the table is full. */
static uint32_t tidal_sim__inode_new(tidal_sim_disk *d) {
    uint32_t i, live = 0;
    for (i = 0; i < d->n_inodes; i++) {
        if (!d->inodes[i].live) break;
        live++;
    }
    if (i == d->n_inodes) {
        if (live >= TIDAL_SIM_FILES_MAX) return TIDAL_SIM__NONE;
        d->inodes = (tidal_sim__inode *)tidal_sim__reserve(d->inodes, &d->cap_inodes,
                                                           d->n_inodes + 1, sizeof *d->inodes);
        d->n_inodes++;
    }
    memset(&d->inodes[i], 0, sizeof d->inodes[i]);
    d->inodes[i].live = 1;
    return i;
}

/* Applies an operation fully to an image (a kept fate, or writeback). */
static void tidal_sim__op_replay(tidal_sim__bytes *img, const tidal_sim__op *op) {
    if (op->kind == TIDAL_SIM__OP_WRITE) tidal_sim__bytes_write(img, (size_t)op->off, op->data,
                                                                op->len);
    else tidal_sim__bytes_resize(img, (size_t)op->off);
}

/* Appends an unsynced operation, writing the oldest back when the list is full (F7). */
static void tidal_sim__op_push(tidal_sim_disk *d, uint32_t inode, uint32_t kind, uint64_t off,
                               const void *data, size_t len) {
    tidal_sim__inode *ino = &d->inodes[inode];
    tidal_sim__op *op;
    TIDAL_SIM_ASSERT(ino->live && (kind == TIDAL_SIM__OP_TRUNCATE || len > 0));
    if (ino->n_ops == TIDAL_SIM_UNSYNCED_MAX) {
        tidal_sim__op_replay(&ino->durable, &ino->ops[0]);
        tidal_sim__op_free(&ino->ops[0]);
        memmove(&ino->ops[0], &ino->ops[1], (size_t)(ino->n_ops - 1) * sizeof *ino->ops);
        ino->n_ops--;
        d->stats.writebacks++;
    }
    ino->ops = (tidal_sim__op *)tidal_sim__reserve(ino->ops, &ino->cap_ops, ino->n_ops + 1,
                                                   sizeof *ino->ops);
    op = &ino->ops[ino->n_ops++];
    op->kind = kind;
    op->off = off;
    op->len = len;
    op->data = NULL;
    if (kind == TIDAL_SIM__OP_WRITE) {
        op->data = (uint8_t *)tidal_sim__alloc(len);
        memcpy(op->data, data, len);
    }
}

/* Frees every inode nothing refers to any more (see the section comment). */
static void tidal_sim__gc(tidal_sim_disk *d) {
    uint8_t *ref;
    uint32_t i;
    if (d->n_inodes == 0) return;
    ref = (uint8_t *)tidal_sim__alloc(d->n_inodes);
    memset(ref, 0, d->n_inodes);
    for (i = 0; i < d->cur.n; i++)
        if (d->cur.e[i].inode != TIDAL_SIM__DIR) ref[d->cur.e[i].inode] = 1;
    for (i = 0; i < d->dur.n; i++)
        if (d->dur.e[i].inode != TIDAL_SIM__DIR) ref[d->dur.e[i].inode] = 1;
    for (i = 0; i < d->n_journal; i++) {
        uint32_t k = d->journal[i].kind;
        if (k == TIDAL_SIM__J_LINK || k == TIDAL_SIM__J_RENAME) ref[d->journal[i].inode] = 1;
    }
    for (i = 0; i < d->n_handles; i++)
        if (d->handles[i].tag) ref[d->handles[i].inode] = 1;
    for (i = 0; i < d->n_inodes; i++) {
        TIDAL_SIM_ASSERT(!ref[i] || d->inodes[i].live);
        if (d->inodes[i].live && !ref[i]) tidal_sim__inode_free(&d->inodes[i]);
    }
    while (d->n_inodes > 0 && !d->inodes[d->n_inodes - 1].live) d->n_inodes--;
    free(ref);
}

static void tidal_sim__handles_close_all(tidal_sim_disk *d) {
    uint32_t i;
    for (i = 0; i < d->n_handles; i++) d->handles[i].tag = 0;
}

/* The open slot behind a handle value, or NULL for a stale (closed, reused, pre-restart)
   handle. */
static tidal_sim__handle *tidal_sim__handle_get(const tidal_sim_disk *d, void *file) {
    uintptr_t v = (uintptr_t)file;
    uintptr_t slot = v & TIDAL_SIM__SLOT_MASK;
    tidal_sim__handle *h;
    TIDAL_SIM_ASSERT(file != NULL); /* a NULL handle is a programmer error, not a fault */
    if (slot == 0 || slot > d->n_handles) return NULL;
    h = &d->handles[slot - 1];
    if (h->tag != v) return NULL;
    TIDAL_SIM_ASSERT(h->inode < d->n_inodes && d->inodes[h->inode].live);
    return h;
}

static tidal_result tidal_sim__handle_new(tidal_sim_disk *d, uint32_t inode, uint32_t flags,
                                          void **file) {
    uint32_t i;
    uintptr_t tag;
    for (i = 0; i < d->n_handles; i++)
        if (!d->handles[i].tag) break;
    if (i == d->n_handles) {
        if (d->n_handles >= TIDAL_SIM_HANDLES_MAX) return TIDAL_ERR_LIMIT;
        d->handles = (tidal_sim__handle *)tidal_sim__reserve(d->handles, &d->cap_handles,
                                                             d->n_handles + 1,
                                                             sizeof *d->handles);
        d->n_handles++;
    }
    tag = ((uintptr_t)++d->handle_gen << TIDAL_SIM__SLOT_BITS) | (uintptr_t)(i + 1);
    d->handles[i].tag = tag;
    d->handles[i].inode = inode;
    d->handles[i].flags = flags;
    *file = (void *)tag;
    return TIDAL_OK;
}

/* Appends a journal entry and applies it to the current namespace (F3); commits the
   oldest entry first when the journal is full (F7). */
static void tidal_sim__journal_commit(tidal_sim_disk *d, uint32_t n);
static void tidal_sim__journal_add(tidal_sim_disk *d, uint32_t kind, const char *path,
                                   const char *path2, uint32_t inode) {
    tidal_sim__jentry *j;
    if (d->n_journal == TIDAL_SIM_JOURNAL_MAX) tidal_sim__journal_commit(d, 1);
    d->journal = (tidal_sim__jentry *)tidal_sim__reserve(d->journal, &d->cap_journal,
                                                         d->n_journal + 1, sizeof *d->journal);
    j = &d->journal[d->n_journal++];
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->inode = inode;
    TIDAL_SIM_ASSERT(strlen(path) <= TIDAL_SIM_PATH_MAX);
    strcpy(j->path, path);
    if (path2) {
        TIDAL_SIM_ASSERT(strlen(path2) <= TIDAL_SIM_PATH_MAX);
        strcpy(j->path2, path2);
    }
    tidal_sim__jentry_apply(&d->cur, j);
}

/* Commits the n oldest journal entries: they move into the durable namespace. */
static void tidal_sim__journal_commit(tidal_sim_disk *d, uint32_t n) {
    uint32_t i;
    TIDAL_SIM_ASSERT(n <= d->n_journal);
    if (n == 0) return; /* also: the journal array may not exist yet */
    for (i = 0; i < n; i++) tidal_sim__jentry_apply(&d->dur, &d->journal[i]);
    memmove(&d->journal[0], &d->journal[n], (size_t)(d->n_journal - n) * sizeof *d->journal);
    d->n_journal -= n;
}

TIDAL_API tidal_sim_disk *tidal_sim_disk_new(uint64_t seed) {
    tidal_sim_disk *d = (tidal_sim_disk *)tidal_sim__alloc(sizeof *d);
    memset(d, 0, sizeof *d);
    d->rng = seed;
    d->keep_pct = 40;
    d->drop_pct = 30;
    return d;
}

static void tidal_sim__disk_clear(tidal_sim_disk *d) {
    uint32_t i;
    for (i = 0; i < d->n_inodes; i++)
        if (d->inodes[i].live) tidal_sim__inode_free(&d->inodes[i]);
    d->n_inodes = 0;
    d->cur.n = d->dur.n = 0;
    d->n_journal = 0;
    tidal_sim__handles_close_all(d);
    d->n_locks = 0; /* the directories are gone */
}

TIDAL_API void tidal_sim_disk_free(tidal_sim_disk *d) {
    if (!d) return;
    tidal_sim__disk_clear(d);
    free(d->inodes);
    free(d->cur.e);
    free(d->dur.e);
    free(d->journal);
    free(d->handles);
    free(d->locks);
    free(d);
}

static void tidal_sim__inode_copy(tidal_sim__inode *dst, const tidal_sim__inode *src) {
    uint32_t i;
    memset(dst, 0, sizeof *dst);
    dst->live = src->live;
    if (!src->live) return;
    tidal_sim__bytes_set(&dst->durable, &src->durable);
    tidal_sim__bytes_set(&dst->current, &src->current);
    dst->ops = (tidal_sim__op *)tidal_sim__reserve(NULL, &dst->cap_ops, src->n_ops,
                                                   sizeof *dst->ops);
    for (i = 0; i < src->n_ops; i++) {
        dst->ops[i] = src->ops[i];
        if (src->ops[i].data) {
            dst->ops[i].data = (uint8_t *)tidal_sim__alloc(src->ops[i].len);
            memcpy(dst->ops[i].data, src->ops[i].data, src->ops[i].len);
        }
    }
    dst->n_ops = src->n_ops;
}

TIDAL_API tidal_sim_disk *tidal_sim_disk_clone(const tidal_sim_disk *d) {
    tidal_sim_disk *c = (tidal_sim_disk *)tidal_sim__alloc(sizeof *c);
    uint32_t i;
    TIDAL_SIM_ASSERT(d != NULL);
    *c = *d; /* scalars, faults, stats; every pointer is replaced below */
    c->inodes = NULL;
    c->cap_inodes = 0;
    c->inodes = (tidal_sim__inode *)tidal_sim__reserve(NULL, &c->cap_inodes, d->n_inodes,
                                                       sizeof *c->inodes);
    for (i = 0; i < d->n_inodes; i++) tidal_sim__inode_copy(&c->inodes[i], &d->inodes[i]);
    memset(&c->cur, 0, sizeof c->cur);
    memset(&c->dur, 0, sizeof c->dur);
    tidal_sim__ns_copy(&c->cur, &d->cur);
    tidal_sim__ns_copy(&c->dur, &d->dur);
    c->cap_journal = 0;
    c->journal = (tidal_sim__jentry *)tidal_sim__reserve(NULL, &c->cap_journal, d->n_journal,
                                                         sizeof *c->journal);
    if (d->n_journal) memcpy(c->journal, d->journal, (size_t)d->n_journal * sizeof *d->journal);
    c->cap_handles = 0;
    c->handles = (tidal_sim__handle *)tidal_sim__reserve(NULL, &c->cap_handles, d->n_handles,
                                                         sizeof *c->handles);
    if (d->n_handles) memcpy(c->handles, d->handles, (size_t)d->n_handles * sizeof *d->handles);
    c->locks = NULL; /* no process holds the clone's directories */
    c->n_locks = c->cap_locks = 0;
    return c;
}

// >>sim_crash
// Power loss and the other injected faults (FAULT MODEL F4-F6). The fate stream is
// consumed in a fixed order (inodes by index, operations oldest first, then the journal)
// so a seed replays exactly. Invariants after a crash: no unsynced operations, an empty
// journal, current == durable for every image and for the namespace, no open handles.

/* Decides the fate of one unsynced operation and replays what survives onto durable. */
static void tidal_sim__op_fate(tidal_sim_disk *d, tidal_sim__inode *ino, const tidal_sim__op *op) {
    uint64_t r = tidal_sim__next(&d->rng) % 100;
    uint64_t at, end;
    if (r < d->keep_pct) {
        d->stats.fates_kept++;
        tidal_sim__op_replay(&ino->durable, op);
        return;
    }
    if (r < (uint64_t)d->keep_pct + d->drop_pct) {
        d->stats.fates_dropped++;
        return;
    }
    d->stats.fates_torn++;
    if (op->kind == TIDAL_SIM__OP_TRUNCATE) {
        if (tidal_sim__next(&d->rng) & 1) tidal_sim__op_replay(&ino->durable, op);
        return;
    }
    for (at = op->off, end = op->off + op->len; at < end;) { /* one coin per sector piece */
        uint64_t piece_end = (at / TIDAL_SIM_SECTOR_BYTES + 1) * TIDAL_SIM_SECTOR_BYTES;
        if (piece_end > end) piece_end = end;
        if (tidal_sim__next(&d->rng) & 1)
            tidal_sim__bytes_write(&ino->durable, (size_t)at, op->data + (at - op->off),
                                   (size_t)(piece_end - at));
        at = piece_end;
    }
}

TIDAL_API void tidal_sim_disk_crash(tidal_sim_disk *d) {
    uint32_t i, j, keep;
    TIDAL_SIM_ASSERT(d != NULL);
    if (d->down) return;
    for (i = 0; i < d->n_inodes; i++) {
        tidal_sim__inode *ino = &d->inodes[i];
        if (!ino->live) continue;
        for (j = 0; j < ino->n_ops; j++) tidal_sim__op_fate(d, ino, &ino->ops[j]);
        tidal_sim__inode_clear_ops(ino);
        tidal_sim__bytes_set(&ino->current, &ino->durable);
    }
    keep = (uint32_t)(tidal_sim__next(&d->rng) % ((uint64_t)d->n_journal + 1));
    d->stats.journal_kept += keep;
    d->stats.journal_lost += d->n_journal - keep;
    tidal_sim__journal_commit(d, keep);
    d->n_journal = 0; /* the rest is lost */
    tidal_sim__ns_copy(&d->cur, &d->dur);
    tidal_sim__handles_close_all(d);
    d->n_locks = 0; /* the process died: the kernel drops its locks */
    tidal_sim__gc(d);
    d->crash_op = 0;
    d->down = 1;
    d->stats.crashes++;
}

TIDAL_API void tidal_sim_disk_restart(tidal_sim_disk *d) {
    TIDAL_SIM_ASSERT(d != NULL);
    d->down = 0; /* after a crash current == durable already; else a process restart */
    tidal_sim__handles_close_all(d);
    d->n_locks = 0; /* a restart is a new process: the old one's locks went with it */
    tidal_sim__gc(d);
    d->stats.restarts++;
}

TIDAL_API void tidal_sim_disk_wipe(tidal_sim_disk *d) {
    TIDAL_SIM_ASSERT(d != NULL);
    tidal_sim__disk_clear(d);
    d->stats.wipes++;
}

TIDAL_API int tidal_sim_disk_is_down(const tidal_sim_disk *d) { return d->down; }

TIDAL_API uint64_t tidal_sim_disk_ops(const tidal_sim_disk *d) { return d->ops; }

TIDAL_API void tidal_sim_disk_set_fates(tidal_sim_disk *d, unsigned keep_pct,
                                        unsigned drop_pct) {
    TIDAL_SIM_ASSERT(keep_pct <= 100 && drop_pct <= 100 - keep_pct);
    d->keep_pct = keep_pct;
    d->drop_pct = drop_pct;
}

TIDAL_API void tidal_sim_disk_fail_at(tidal_sim_disk *d, uint64_t op, tidal_result code) {
    TIDAL_SIM_ASSERT(op >= 1 && op <= UINT64_MAX - d->ops);
    TIDAL_SIM_ASSERT(code == TIDAL_ERR_IO_READ || code == TIDAL_ERR_IO_WRITE ||
                     code == TIDAL_ERR_IO_FSYNC || code == TIDAL_ERR_IO_NOSPACE);
    TIDAL_SIM_ASSERT(d->n_faults < TIDAL_SIM_FAULTS_MAX);
    d->faults[d->n_faults].op = d->ops + op;
    d->faults[d->n_faults].code = code;
    d->n_faults++;
}

TIDAL_API void tidal_sim_disk_crash_at(tidal_sim_disk *d, uint64_t op) {
    TIDAL_SIM_ASSERT(op <= UINT64_MAX - d->ops);
    d->crash_op = op ? d->ops + op : 0;
}

/* Counts one operation and applies what is armed for it (F6). Returns TIDAL_OK when the
   operation may run, else the code it fails with (down_code on a down disk). */
static tidal_result tidal_sim__op_begin(tidal_sim_disk *d, tidal_result down_code) {
    uint64_t n = ++d->ops;
    tidal_result fired = TIDAL_OK;
    uint32_t i, kept = 0;
    d->why = NULL;
    if (d->crash_op == n) tidal_sim_disk_crash(d);
    for (i = 0; i < d->n_faults; i++) { /* fire the first fault due; drop passed ones */
        if (d->faults[i].op == n && fired == TIDAL_OK) fired = d->faults[i].code;
        else if (d->faults[i].op > n) d->faults[kept++] = d->faults[i];
    }
    d->n_faults = kept;
    if (d->down) {
        d->why = "simulated disk is down";
        return down_code;
    }
    if (fired != TIDAL_OK) {
        d->stats.faults_fired++;
        d->why = "injected fault";
    }
    return fired;
}

// >>sim_inspect
// What tests use to look at and damage the image directly: reads of the current state,
// bit flips and truncation applied to both images (so they survive a crash), sorted
// listings, stats and the invariant check. None of these counts as an operation or
// consumes the fate stream, so inspecting never changes what a seed does.

static tidal_sim__inode *tidal_sim__file(const tidal_sim_disk *d, const char *path) {
    uint32_t ino;
    TIDAL_SIM_ASSERT(d != NULL && path != NULL);
    ino = tidal_sim__ns_get(&d->cur, path);
    if (ino == TIDAL_SIM__NONE || ino == TIDAL_SIM__DIR) return NULL;
    TIDAL_SIM_ASSERT(ino < d->n_inodes && d->inodes[ino].live);
    return &d->inodes[ino];
}

TIDAL_API tidal_result tidal_sim_disk_read(const tidal_sim_disk *d, const char *path,
                                           uint8_t **data, size_t *len) {
    const tidal_sim__inode *ino = tidal_sim__file(d, path);
    TIDAL_SIM_ASSERT(data != NULL && len != NULL);
    if (!ino) return TIDAL_ERR_NOT_FOUND;
    *data = (uint8_t *)tidal_sim__alloc(ino->current.len);
    if (ino->current.len) memcpy(*data, ino->current.p, ino->current.len);
    *len = ino->current.len;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_sim_disk_flip_bit(tidal_sim_disk *d, const char *path,
                                               uint64_t bit) {
    tidal_sim__inode *ino = tidal_sim__file(d, path);
    uint64_t byte = bit / 8;
    uint8_t mask = (uint8_t)(1u << (bit % 8));
    if (!ino) return TIDAL_ERR_NOT_FOUND;
    if (byte >= ino->current.len) return TIDAL_ERR_INVALID;
    ino->current.p[byte] ^= mask;
    if (byte < ino->durable.len) ino->durable.p[byte] ^= mask;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_sim_disk_truncate_file(tidal_sim_disk *d, const char *path,
                                                    uint64_t len) {
    tidal_sim__inode *ino = tidal_sim__file(d, path);
    if (!ino) return TIDAL_ERR_NOT_FOUND;
    if (len > TIDAL_SIM_FILE_BYTES_MAX) return TIDAL_ERR_INVALID;
    tidal_sim__bytes_resize(&ino->current, (size_t)len);
    tidal_sim__bytes_resize(&ino->durable, (size_t)len);
    return TIDAL_OK;
}

TIDAL_API uint32_t tidal_sim_disk_list(const tidal_sim_disk *d, const char *dir,
                                       char names[][128], uint32_t cap) {
    char nd[TIDAL_SIM_PATH_MAX + 1];
    char(*all)[128];
    uint32_t n, i;
    TIDAL_SIM_ASSERT(d != NULL && dir != NULL && (names != NULL || cap == 0));
    if (tidal_sim__dir_norm(dir, nd) != TIDAL_OK) return 0;
    if (!tidal_sim__ns_dir_exists(&d->cur, nd)) return 0;
    n = tidal_sim__ns_children(&d->cur, nd, &all);
    for (i = 0; i < n && i < cap; i++) memcpy(names[i], all[i], 128);
    free(all);
    return n;
}

TIDAL_API void tidal_sim_disk_stats_get(const tidal_sim_disk *d, tidal_sim_disk_stats *out) {
    uint32_t i;
    TIDAL_SIM_ASSERT(d != NULL && out != NULL);
    *out = d->stats;
    out->ops = d->ops;
    out->files = out->dirs = out->unsynced_ops = out->handles_open = 0;
    for (i = 0; i < d->n_inodes; i++) {
        out->files += (uint32_t)(d->inodes[i].live != 0);
        out->unsynced_ops += d->inodes[i].n_ops;
    }
    for (i = 0; i < d->cur.n; i++) out->dirs += (uint32_t)(d->cur.e[i].inode == TIDAL_SIM__DIR);
    for (i = 0; i < d->n_handles; i++) out->handles_open += (uint32_t)(d->handles[i].tag != 0);
    out->journal_pending = d->n_journal;
}

static void tidal_sim__ns_check(const tidal_sim_disk *d, const tidal_sim__ns *ns) {
    uint32_t i;
    for (i = 0; i < ns->n; i++) {
        char parent[TIDAL_SIM_PATH_MAX + 1];
        uint32_t ino = ns->e[i].inode;
        TIDAL_SIM_ASSERT(i == 0 || strcmp(ns->e[i - 1].path, ns->e[i].path) < 0);
        TIDAL_SIM_ASSERT(tidal_sim__path_check(ns->e[i].path) == TIDAL_OK);
        TIDAL_SIM_ASSERT(ino == TIDAL_SIM__DIR || (ino < d->n_inodes && d->inodes[ino].live));
        tidal_sim__parent(ns->e[i].path, parent);
        TIDAL_SIM_ASSERT(tidal_sim__ns_dir_exists(ns, parent)); /* no orphaned names */
    }
}

TIDAL_API void tidal_sim_disk_check(const tidal_sim_disk *d) {
    tidal_sim__ns replay;
    uint32_t i;
    TIDAL_SIM_ASSERT(d != NULL && d->keep_pct + d->drop_pct <= 100);
    tidal_sim__ns_check(d, &d->cur);
    tidal_sim__ns_check(d, &d->dur);
    memset(&replay, 0, sizeof replay);
    tidal_sim__ns_copy(&replay, &d->dur);
    for (i = 0; i < d->n_journal; i++) tidal_sim__jentry_apply(&replay, &d->journal[i]);
    TIDAL_SIM_ASSERT(replay.n == d->cur.n);
    for (i = 0; i < replay.n && i < d->cur.n; i++) {
        TIDAL_SIM_ASSERT(!strcmp(replay.e[i].path, d->cur.e[i].path));
        TIDAL_SIM_ASSERT(replay.e[i].inode == d->cur.e[i].inode);
    }
    free(replay.e);
    for (i = 0; i < d->n_inodes; i++) {
        const tidal_sim__inode *ino = &d->inodes[i];
        TIDAL_SIM_ASSERT(ino->live || (ino->n_ops == 0 && ino->current.len == 0));
        TIDAL_SIM_ASSERT(ino->n_ops <= TIDAL_SIM_UNSYNCED_MAX);
        TIDAL_SIM_ASSERT(!d->down || ino->n_ops == 0);
    }
    for (i = 0; i < d->n_handles; i++) {
        if (!d->handles[i].tag) continue;
        TIDAL_SIM_ASSERT((d->handles[i].tag & TIDAL_SIM__SLOT_MASK) == i + 1);
        TIDAL_SIM_ASSERT(d->handles[i].inode < d->n_inodes);
        TIDAL_SIM_ASSERT(d->inodes[d->handles[i].inode].live);
    }
    TIDAL_SIM_ASSERT(!d->down || d->n_journal == 0);
    TIDAL_SIM_ASSERT(d->n_locks <= TIDAL_SIM_LOCKS_MAX && (!d->down || d->n_locks == 0));
    for (i = 0; i < d->n_locks; i++) { /* one holder per directory, tags odd and unique */
        uint32_t j;
        TIDAL_SIM_ASSERT(d->locks[i].tag & 1u);
        for (j = 0; j < i; j++)
            TIDAL_SIM_ASSERT(strcmp(d->locks[i].dir, d->locks[j].dir) &&
                             d->locks[i].tag != d->locks[j].tag);
    }
}

// >>sim_net
// The network (FAULT MODEL N1-N9). Copies in flight live in one binary min-heap keyed by
// (deliver_ns, seq, copy), a total order, so delivery never depends on addresses or on
// heap internals. Per-link counts sit in a table sorted by link key that holds only links
// with copies in flight; partitions and down nodes are small sorted tables. Limits:
// TIDAL_SIM_LINK_QUEUE_MAX per link, TIDAL_SIM_NET_MSGS_MAX / _BYTES_MAX in all. Every
// random choice is a pure function of (seed, purpose, seq, copy) (N8). Invariants are
// spelled out in tidal_sim_net_check.

/* The purposes of the net's streams (N8); each has its own splitmix64 stream. */
enum {
    TIDAL_SIM__NS_LATENCY,
    TIDAL_SIM__NS_LOSS,
    TIDAL_SIM__NS_DUP,
    TIDAL_SIM__NS_REORDER,
    TIDAL_SIM__NS_REORDER_DELAY,
    TIDAL_SIM__NS_CORRUPT,
    TIDAL_SIM__NS_CORRUPT_BIT,
    TIDAL_SIM__NS_COUNT
};

enum { TIDAL_SIM__CUT_NODES = 1, TIDAL_SIM__CUT_REGIONS, TIDAL_SIM__CUT_ISOLATE };

#define TIDAL_SIM__PPM 1000000u
/* Salts the seed so a net and a disk given the same seed still draw unrelated numbers. */
#define TIDAL_SIM__NET_SALT UINT64_C(0x6E65742D73747265)
/* The latest send time whose delivery time (at most two latencies later) fits int64_t. */
#define TIDAL_SIM__NET_NOW_MAX (INT64_MAX - 2 * (int64_t)TIDAL_SIM_LATENCY_NS_MAX)

typedef struct tidal_sim__flight {
    int64_t deliver_ns;
    uint64_t seq;
    uint32_t copy; /* 0 the original, 1 the duplicate */
    tidal_node_ref from, to;
    int64_t sent_ns;
    uint8_t *bytes; /* a private copy, never NULL */
    size_t len;
} tidal_sim__flight;

typedef struct tidal_sim__link {
    uint64_t key;       /* from key << 32 | to key */
    uint32_t in_flight; /* > 0: a link whose count drops to 0 leaves the table */
} tidal_sim__link;

typedef struct tidal_sim__cut {
    uint32_t handle;
    uint32_t kind;       /* TIDAL_SIM__CUT_* */
    int one_way;         /* nodes and regions: only a -> b (ra -> rb) */
    uint16_t ra, rb;     /* regions: the two regions; isolate: ra */
    uint32_t *a, *b;     /* nodes: sorted, distinct node keys */
    uint32_t na, nb;
} tidal_sim__cut;

struct tidal_sim_net {
    uint64_t stream[TIDAL_SIM__NS_COUNT]; /* the base of each purpose's stream (N8) */
    uint64_t seq;                         /* the last send's number */
    int64_t lat_min_ns[2], lat_max_ns[2]; /* [0] same region, [1] different regions */
    uint32_t loss_ppm, dup_ppm, reorder_ppm, corrupt_ppm;
    tidal_sim__flight *heap;
    uint32_t n_heap, cap_heap;
    tidal_sim__link *links; /* sorted by key */
    uint32_t n_links, cap_links;
    uint64_t bytes_in_flight;
    tidal_sim__cut *cuts; /* in force, sorted by handle */
    uint32_t n_cuts, cap_cuts;
    uint32_t last_handle; /* handles are 1, 2, ...: never reused */
    uint32_t *down;       /* sorted node keys */
    uint32_t n_down, cap_down;
    tidal_sim_net_stats stats; /* counters only; the gauges are computed by stats_get */
};

static uint32_t tidal_sim__node_key(tidal_node_ref n) {
    return (uint32_t)n.region << 16 | (uint32_t)n.shard;
}

static uint64_t tidal_sim__link_key(tidal_node_ref from, tidal_node_ref to) {
    return (uint64_t)tidal_sim__node_key(from) << 32 | tidal_sim__node_key(to);
}

/* Value number 2 * seq + copy of a purpose's stream: splitmix64 addressed by position, so
   no choice shifts another (N8). */
static uint64_t tidal_sim__net_draw(const tidal_sim_net *net, unsigned purpose, uint64_t seq,
                                    uint32_t copy) {
    uint64_t s;
    TIDAL_SIM_ASSERT(purpose < TIDAL_SIM__NS_COUNT && copy <= 1);
    s = net->stream[purpose] + (2 * seq + copy) * UINT64_C(0x9E3779B97F4A7C15);
    return tidal_sim__next(&s);
}

static int tidal_sim__net_coin(const tidal_sim_net *net, unsigned purpose, uint64_t seq,
                               uint32_t copy, uint32_t ppm) {
    TIDAL_SIM_ASSERT(ppm <= TIDAL_SIM__PPM);
    return tidal_sim__net_draw(net, purpose, seq, copy) % TIDAL_SIM__PPM < ppm;
}

/* Binary search in a sorted uint32_t table: 1 and the index if present, else 0 and the
   insertion point. */
static int tidal_sim__u32_find(const uint32_t *v, uint32_t n, uint32_t key, uint32_t *pos) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (v[mid] == key) {
            *pos = mid;
            return 1;
        }
        if (v[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    *pos = lo;
    return 0;
}

static int tidal_sim__u32_has(const uint32_t *v, uint32_t n, uint32_t key) {
    uint32_t pos;
    return tidal_sim__u32_find(v, n, key, &pos);
}

/* ---- The delivery heap ---------------------------------------------------------------- */

/* The heap's total order: earlier delivery first, then earlier send, original first. */
static int tidal_sim__flight_before(const tidal_sim__flight *x, const tidal_sim__flight *y) {
    if (x->deliver_ns != y->deliver_ns) return x->deliver_ns < y->deliver_ns;
    if (x->seq != y->seq) return x->seq < y->seq;
    TIDAL_SIM_ASSERT(x->copy != y->copy); /* (seq, copy) names one copy */
    return x->copy < y->copy;
}

static void tidal_sim__heap_swap(tidal_sim__flight *h, uint32_t i, uint32_t j) {
    tidal_sim__flight t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void tidal_sim__heap_push(tidal_sim_net *net, const tidal_sim__flight *f) {
    uint32_t i = net->n_heap;
    TIDAL_SIM_ASSERT(net->n_heap < TIDAL_SIM_NET_MSGS_MAX);
    net->heap = (tidal_sim__flight *)tidal_sim__reserve(net->heap, &net->cap_heap,
                                                        net->n_heap + 1, sizeof *net->heap);
    net->heap[net->n_heap++] = *f;
    while (i > 0 && tidal_sim__flight_before(&net->heap[i], &net->heap[(i - 1) / 2])) {
        tidal_sim__heap_swap(net->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/* Removes the first copy into *f. The heap must not be empty. */
static void tidal_sim__heap_pop(tidal_sim_net *net, tidal_sim__flight *f) {
    tidal_sim__flight *h = net->heap;
    uint32_t i = 0, n;
    TIDAL_SIM_ASSERT(net->n_heap > 0);
    *f = h[0];
    n = --net->n_heap;
    h[0] = h[n];
    for (;;) { /* sift down: swap with the earlier child while it is before us */
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && tidal_sim__flight_before(&h[l], &h[m])) m = l;
        if (r < n && tidal_sim__flight_before(&h[r], &h[m])) m = r;
        if (m == i) break;
        tidal_sim__heap_swap(h, i, m);
        i = m;
    }
}

/* ---- Per-link counts ------------------------------------------------------------------ */

static int tidal_sim__link_find(const tidal_sim_net *net, uint64_t key, uint32_t *pos) {
    uint32_t lo = 0, hi = net->n_links;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (net->links[mid].key == key) {
            *pos = mid;
            return 1;
        }
        if (net->links[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    *pos = lo;
    return 0;
}

static uint32_t tidal_sim__link_count(const tidal_sim_net *net, uint64_t key) {
    uint32_t pos;
    return tidal_sim__link_find(net, key, &pos) ? net->links[pos].in_flight : 0;
}

static void tidal_sim__link_add(tidal_sim_net *net, uint64_t key) {
    uint32_t pos;
    if (tidal_sim__link_find(net, key, &pos)) {
        net->links[pos].in_flight++;
        return;
    }
    net->links = (tidal_sim__link *)tidal_sim__reserve(net->links, &net->cap_links,
                                                       net->n_links + 1, sizeof *net->links);
    memmove(&net->links[pos + 1], &net->links[pos],
            (size_t)(net->n_links - pos) * sizeof *net->links);
    net->n_links++;
    net->links[pos].key = key;
    net->links[pos].in_flight = 1;
}

static void tidal_sim__link_sub(tidal_sim_net *net, uint64_t key) {
    uint32_t pos;
    int found = tidal_sim__link_find(net, key, &pos);
    TIDAL_SIM_ASSERT(found && net->links[pos].in_flight > 0); /* every copy was counted */
    if (!found) return;
    if (--net->links[pos].in_flight > 0) return;
    memmove(&net->links[pos], &net->links[pos + 1],
            (size_t)(net->n_links - pos - 1) * sizeof *net->links);
    net->n_links--;
}

/* ---- Lifecycle and settings ----------------------------------------------------------- */

TIDAL_API tidal_sim_net *tidal_sim_net_new(uint64_t seed) {
    tidal_sim_net *net = (tidal_sim_net *)tidal_sim__alloc(sizeof *net);
    uint64_t s = seed ^ TIDAL_SIM__NET_SALT;
    unsigned p;
    memset(net, 0, sizeof *net);
    for (p = 0; p < TIDAL_SIM__NS_COUNT; p++) net->stream[p] = tidal_sim__next(&s);
    net->lat_min_ns[0] = 100 * 1000;           /* 0.1 ms: one hop inside a data centre */
    net->lat_max_ns[0] = 2 * 1000 * 1000;      /* 2 ms */
    net->lat_min_ns[1] = 20 * 1000 * 1000;     /* 20 ms: neighbouring regions */
    net->lat_max_ns[1] = 150 * 1000 * 1000;    /* 150 ms: across an ocean */
    return net;
}

static void tidal_sim__cut_free(tidal_sim__cut *c) {
    free(c->a);
    free(c->b);
    c->a = c->b = NULL;
}

TIDAL_API void tidal_sim_net_free(tidal_sim_net *net) {
    uint32_t i;
    if (!net) return;
    for (i = 0; i < net->n_heap; i++) free(net->heap[i].bytes);
    for (i = 0; i < net->n_cuts; i++) tidal_sim__cut_free(&net->cuts[i]);
    free(net->heap);
    free(net->links);
    free(net->cuts);
    free(net->down);
    free(net);
}

TIDAL_API void tidal_sim_net_set_latency(tidal_sim_net *net, int64_t intra_min_ns,
                                         int64_t intra_max_ns, int64_t inter_min_ns,
                                         int64_t inter_max_ns) {
    const int64_t lim = (int64_t)TIDAL_SIM_LATENCY_NS_MAX;
    TIDAL_SIM_ASSERT(net != NULL);
    TIDAL_SIM_ASSERT(0 <= intra_min_ns && intra_min_ns <= intra_max_ns && intra_max_ns <= lim);
    TIDAL_SIM_ASSERT(0 <= inter_min_ns && inter_min_ns <= inter_max_ns && inter_max_ns <= lim);
    net->lat_min_ns[0] = intra_min_ns;
    net->lat_max_ns[0] = intra_max_ns;
    net->lat_min_ns[1] = inter_min_ns;
    net->lat_max_ns[1] = inter_max_ns;
}

TIDAL_API void tidal_sim_net_set_faults(tidal_sim_net *net, uint32_t loss_ppm,
                                        uint32_t dup_ppm, uint32_t reorder_ppm) {
    TIDAL_SIM_ASSERT(net != NULL);
    TIDAL_SIM_ASSERT(loss_ppm <= TIDAL_SIM__PPM && dup_ppm <= TIDAL_SIM__PPM);
    TIDAL_SIM_ASSERT(reorder_ppm <= TIDAL_SIM__PPM);
    net->loss_ppm = loss_ppm;
    net->dup_ppm = dup_ppm;
    net->reorder_ppm = reorder_ppm;
}

TIDAL_API void tidal_sim_net_set_corrupt(tidal_sim_net *net, uint32_t corrupt_ppm) {
    TIDAL_SIM_ASSERT(net != NULL && corrupt_ppm <= TIDAL_SIM__PPM);
    net->corrupt_ppm = corrupt_ppm;
}

/* ---- Partitions and down nodes (N5, N6) ----------------------------------------------- */

static int tidal_sim__u32_cmp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* A sorted, duplicate-free copy of a node list's keys; *out_n receives its length. Keys
   are distinct after deduplication, so qsort's instability cannot show. */
static uint32_t *tidal_sim__node_set(const tidal_node_ref *v, uint32_t n, uint32_t *out_n) {
    uint32_t *keys = (uint32_t *)tidal_sim__alloc((size_t)n * sizeof *keys);
    uint32_t i, m = 0;
    TIDAL_SIM_ASSERT(v != NULL || n == 0);
    TIDAL_SIM_ASSERT(n <= TIDAL_SIM_PARTITION_NODES_MAX);
    for (i = 0; i < n; i++) keys[i] = tidal_sim__node_key(v[i]);
    if (n > 1) qsort(keys, n, sizeof *keys, tidal_sim__u32_cmp);
    for (i = 0; i < n; i++)
        if (m == 0 || keys[m - 1] != keys[i]) keys[m++] = keys[i];
    *out_n = m;
    return keys;
}

/* Appends a partition (handles grow, so the table stays sorted by handle). */
static uint32_t tidal_sim__cut_add(tidal_sim_net *net, const tidal_sim__cut *c) {
    tidal_sim__cut *slot;
    TIDAL_SIM_ASSERT(net->n_cuts < TIDAL_SIM_PARTITIONS_MAX);
    TIDAL_SIM_ASSERT(net->last_handle < UINT32_MAX); /* handles are never reused */
    net->cuts = (tidal_sim__cut *)tidal_sim__reserve(net->cuts, &net->cap_cuts,
                                                     net->n_cuts + 1, sizeof *net->cuts);
    slot = &net->cuts[net->n_cuts++];
    *slot = *c;
    slot->handle = ++net->last_handle;
    return slot->handle;
}

TIDAL_API uint32_t tidal_sim_net_partition_nodes(tidal_sim_net *net, const tidal_node_ref *a,
                                                 uint32_t na, const tidal_node_ref *b,
                                                 uint32_t nb, int one_way) {
    tidal_sim__cut c;
    TIDAL_SIM_ASSERT(net != NULL);
    memset(&c, 0, sizeof c);
    c.kind = TIDAL_SIM__CUT_NODES;
    c.one_way = one_way != 0;
    c.a = tidal_sim__node_set(a, na, &c.na);
    c.b = tidal_sim__node_set(b, nb, &c.nb);
    return tidal_sim__cut_add(net, &c);
}

TIDAL_API uint32_t tidal_sim_net_partition_regions(tidal_sim_net *net, uint16_t ra,
                                                   uint16_t rb, int one_way) {
    tidal_sim__cut c;
    TIDAL_SIM_ASSERT(net != NULL);
    TIDAL_SIM_ASSERT(ra != rb); /* cutting a region from itself: use partition_nodes */
    memset(&c, 0, sizeof c);
    c.kind = TIDAL_SIM__CUT_REGIONS;
    c.one_way = one_way != 0;
    c.ra = ra;
    c.rb = rb;
    return tidal_sim__cut_add(net, &c);
}

TIDAL_API uint32_t tidal_sim_net_isolate_region(tidal_sim_net *net, uint16_t r) {
    tidal_sim__cut c;
    TIDAL_SIM_ASSERT(net != NULL);
    memset(&c, 0, sizeof c);
    c.kind = TIDAL_SIM__CUT_ISOLATE;
    c.ra = r;
    return tidal_sim__cut_add(net, &c);
}

TIDAL_API void tidal_sim_net_heal(tidal_sim_net *net, uint32_t handle) {
    uint32_t i;
    TIDAL_SIM_ASSERT(net != NULL && handle >= 1 && handle <= net->last_handle);
    for (i = 0; i < net->n_cuts; i++) {
        if (net->cuts[i].handle != handle) continue;
        tidal_sim__cut_free(&net->cuts[i]);
        memmove(&net->cuts[i], &net->cuts[i + 1],
                (size_t)(net->n_cuts - i - 1) * sizeof *net->cuts);
        net->n_cuts--;
        return;
    }
    /* not in force: healed already, which is harmless */
}

static int tidal_sim__cut_blocks(const tidal_sim__cut *c, tidal_node_ref from,
                                 tidal_node_ref to) {
    uint32_t f = tidal_sim__node_key(from), t = tidal_sim__node_key(to);
    switch (c->kind) {
    case TIDAL_SIM__CUT_NODES:
        if (tidal_sim__u32_has(c->a, c->na, f) && tidal_sim__u32_has(c->b, c->nb, t)) return 1;
        return !c->one_way && tidal_sim__u32_has(c->b, c->nb, f) &&
               tidal_sim__u32_has(c->a, c->na, t);
    case TIDAL_SIM__CUT_REGIONS:
        if (from.region == c->ra && to.region == c->rb) return 1;
        return !c->one_way && from.region == c->rb && to.region == c->ra;
    case TIDAL_SIM__CUT_ISOLATE: return (from.region == c->ra) != (to.region == c->ra);
    default: TIDAL_SIM_ASSERT(0 && "unknown partition kind"); return 0;
    }
}

TIDAL_API int tidal_sim_net_reachable(const tidal_sim_net *net, tidal_node_ref from,
                                      tidal_node_ref to) {
    uint32_t i;
    TIDAL_SIM_ASSERT(net != NULL);
    for (i = 0; i < net->n_cuts; i++)
        if (tidal_sim__cut_blocks(&net->cuts[i], from, to)) return 0;
    return 1;
}

TIDAL_API void tidal_sim_net_set_down(tidal_sim_net *net, tidal_node_ref n, int down) {
    uint32_t key = tidal_sim__node_key(n), pos;
    int found;
    TIDAL_SIM_ASSERT(net != NULL);
    found = tidal_sim__u32_find(net->down, net->n_down, key, &pos);
    if (down && !found) {
        TIDAL_SIM_ASSERT(net->n_down < TIDAL_SIM_DOWN_MAX);
        net->down = (uint32_t *)tidal_sim__reserve(net->down, &net->cap_down, net->n_down + 1,
                                                   sizeof *net->down);
        memmove(&net->down[pos + 1], &net->down[pos],
                (size_t)(net->n_down - pos) * sizeof *net->down);
        net->down[pos] = key;
        net->n_down++;
    } else if (!down && found) {
        memmove(&net->down[pos], &net->down[pos + 1],
                (size_t)(net->n_down - pos - 1) * sizeof *net->down);
        net->n_down--;
    }
}

TIDAL_API int tidal_sim_net_is_down(const tidal_sim_net *net, tidal_node_ref n) {
    TIDAL_SIM_ASSERT(net != NULL);
    return tidal_sim__u32_has(net->down, net->n_down, tidal_sim__node_key(n));
}

/* ---- Sending and delivery (N3, N4) ---------------------------------------------------- */

/* Queues copy `copy` of send seq, or drops it when a limit is full (N3). */
static void tidal_sim__net_enqueue(tidal_sim_net *net, tidal_node_ref from, tidal_node_ref to,
                                   const void *bytes, size_t len, int64_t now_ns, uint64_t seq,
                                   uint32_t copy) {
    int inter = from.region != to.region;
    int64_t lo = net->lat_min_ns[inter], hi = net->lat_max_ns[inter], delay;
    uint64_t key = tidal_sim__link_key(from, to);
    tidal_sim__flight f;
    TIDAL_SIM_ASSERT(0 <= lo && lo <= hi && hi <= (int64_t)TIDAL_SIM_LATENCY_NS_MAX);
    /* The draws are pure functions of (seq, copy) (N8): a copy dropped below consumes
       nothing that another copy would have used. */
    delay = lo + (int64_t)(tidal_sim__net_draw(net, TIDAL_SIM__NS_LATENCY, seq, copy) %
                           (uint64_t)(hi - lo + 1));
    if (tidal_sim__net_coin(net, TIDAL_SIM__NS_REORDER, seq, copy, net->reorder_ppm))
        delay += (int64_t)(tidal_sim__net_draw(net, TIDAL_SIM__NS_REORDER_DELAY, seq, copy) %
                           (uint64_t)(hi + 1));
    if (tidal_sim__link_count(net, key) >= TIDAL_SIM_LINK_QUEUE_MAX ||
        net->n_heap >= TIDAL_SIM_NET_MSGS_MAX ||
        net->bytes_in_flight + len > (uint64_t)TIDAL_SIM_NET_BYTES_MAX) {
        net->stats.dropped_overflow++;
        return;
    }
    memset(&f, 0, sizeof f);
    f.deliver_ns = now_ns + delay;
    f.seq = seq;
    f.copy = copy;
    f.from = from;
    f.to = to;
    f.sent_ns = now_ns;
    f.bytes = (uint8_t *)tidal_sim__alloc(len);
    if (len) memcpy(f.bytes, bytes, len);
    f.len = len;
    TIDAL_SIM_ASSERT(f.deliver_ns >= now_ns && delay <= 2 * hi);
    tidal_sim__heap_push(net, &f);
    tidal_sim__link_add(net, key);
    net->bytes_in_flight += len;
}

TIDAL_API tidal_result tidal_sim_net_send(tidal_sim_net *net, tidal_node_ref from,
                                          tidal_node_ref to, const void *bytes, size_t len,
                                          int64_t now_ns) {
    uint64_t seq;
    int dup;
    TIDAL_SIM_ASSERT(net != NULL && (bytes != NULL || len == 0));
    TIDAL_SIM_ASSERT(now_ns <= TIDAL_SIM__NET_NOW_MAX);
    if (len > (size_t)TIDAL_SIM_MSG_BYTES_MAX) return TIDAL_ERR_LIMIT;
    seq = ++net->seq;
    net->stats.sent++;
    if (tidal_sim_net_is_down(net, from)) {
        net->stats.dropped_down++;
        return TIDAL_OK;
    }
    if (!tidal_sim_net_reachable(net, from, to)) {
        net->stats.dropped_partition++;
        return TIDAL_OK;
    }
    if (tidal_sim__net_coin(net, TIDAL_SIM__NS_LOSS, seq, 0, net->loss_ppm)) {
        net->stats.dropped_loss++;
        return TIDAL_OK;
    }
    dup = tidal_sim__net_coin(net, TIDAL_SIM__NS_DUP, seq, 0, net->dup_ppm);
    tidal_sim__net_enqueue(net, from, to, bytes, len, now_ns, seq, 0);
    if (dup) {
        net->stats.duplicated++;
        tidal_sim__net_enqueue(net, from, to, bytes, len, now_ns, seq, 1);
    }
    return TIDAL_OK;
}

TIDAL_API int64_t tidal_sim_net_next_ns(const tidal_sim_net *net) {
    TIDAL_SIM_ASSERT(net != NULL);
    return net->n_heap ? net->heap[0].deliver_ns : INT64_MAX;
}

TIDAL_API int tidal_sim_net_pop(tidal_sim_net *net, int64_t now_ns, tidal_sim_msg *out) {
    tidal_sim__flight f;
    int cut;
    TIDAL_SIM_ASSERT(net != NULL && out != NULL);
    while (net->n_heap > 0 && net->heap[0].deliver_ns <= now_ns) {
        tidal_sim__heap_pop(net, &f);
        tidal_sim__link_sub(net, tidal_sim__link_key(f.from, f.to));
        TIDAL_SIM_ASSERT(net->bytes_in_flight >= f.len);
        net->bytes_in_flight -= f.len;
        cut = !tidal_sim_net_reachable(net, f.from, f.to); /* checked again at delivery */
        if (cut || tidal_sim_net_is_down(net, f.to)) {
            if (cut) net->stats.dropped_partition++;
            else net->stats.dropped_down++;
            free(f.bytes);
            continue;
        }
        if (f.len > 0 &&
            tidal_sim__net_coin(net, TIDAL_SIM__NS_CORRUPT, f.seq, f.copy, net->corrupt_ppm)) {
            uint64_t bit = tidal_sim__net_draw(net, TIDAL_SIM__NS_CORRUPT_BIT, f.seq, f.copy) %
                           ((uint64_t)f.len * 8);
            f.bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            net->stats.corrupted++;
        }
        net->stats.delivered++;
        out->from = f.from;
        out->to = f.to;
        out->sent_ns = f.sent_ns;
        out->deliver_ns = f.deliver_ns;
        out->seq = f.seq;
        out->bytes = f.bytes;
        out->len = f.len;
        return 1;
    }
    return 0;
}

TIDAL_API void tidal_sim_msg_free(tidal_sim_msg *m) {
    TIDAL_SIM_ASSERT(m != NULL);
    free(m->bytes);
    memset(m, 0, sizeof *m);
}

/* ---- Stats and checks ----------------------------------------------------------------- */

TIDAL_API void tidal_sim_net_stats_get(const tidal_sim_net *net, tidal_sim_net_stats *out) {
    TIDAL_SIM_ASSERT(net != NULL && out != NULL);
    *out = net->stats;
    out->in_flight = net->n_heap;
    out->in_flight_bytes = net->bytes_in_flight;
}

TIDAL_API void tidal_sim_net_check(const tidal_sim_net *net) {
    const tidal_sim_net_stats *s = &net->stats;
    uint64_t bytes = 0, links = 0;
    uint32_t i, k;
    TIDAL_SIM_ASSERT(net != NULL && net->n_heap <= TIDAL_SIM_NET_MSGS_MAX);
    for (i = 0; i < net->n_heap; i++) {
        const tidal_sim__flight *f = &net->heap[i];
        TIDAL_SIM_ASSERT(i == 0 || !tidal_sim__flight_before(f, &net->heap[(i - 1) / 2]));
        TIDAL_SIM_ASSERT(f->bytes != NULL && f->len <= TIDAL_SIM_MSG_BYTES_MAX);
        TIDAL_SIM_ASSERT(f->seq >= 1 && f->seq <= net->seq && f->copy <= 1);
        TIDAL_SIM_ASSERT(f->deliver_ns >= f->sent_ns);
        TIDAL_SIM_ASSERT(tidal_sim__link_count(net, tidal_sim__link_key(f->from, f->to)) > 0);
        bytes += f->len;
    }
    TIDAL_SIM_ASSERT(bytes == net->bytes_in_flight && bytes <= TIDAL_SIM_NET_BYTES_MAX);
    for (i = 0; i < net->n_links; i++) {
        TIDAL_SIM_ASSERT(i == 0 || net->links[i - 1].key < net->links[i].key);
        TIDAL_SIM_ASSERT(net->links[i].in_flight >= 1);
        TIDAL_SIM_ASSERT(net->links[i].in_flight <= TIDAL_SIM_LINK_QUEUE_MAX);
        links += net->links[i].in_flight;
    }
    TIDAL_SIM_ASSERT(links == net->n_heap);
    for (i = 0; i < net->n_cuts; i++) {
        const tidal_sim__cut *c = &net->cuts[i];
        TIDAL_SIM_ASSERT(c->handle >= 1 && c->handle <= net->last_handle);
        TIDAL_SIM_ASSERT(i == 0 || net->cuts[i - 1].handle < c->handle);
        for (k = 1; k < c->na; k++) TIDAL_SIM_ASSERT(c->a[k - 1] < c->a[k]);
        for (k = 1; k < c->nb; k++) TIDAL_SIM_ASSERT(c->b[k - 1] < c->b[k]);
    }
    for (i = 1; i < net->n_down; i++) TIDAL_SIM_ASSERT(net->down[i - 1] < net->down[i]);
    TIDAL_SIM_ASSERT(s->sent == net->seq);
    TIDAL_SIM_ASSERT(s->sent + s->duplicated == s->delivered + s->dropped_loss +
                                                    s->dropped_partition + s->dropped_down +
                                                    s->dropped_overflow + net->n_heap);
    TIDAL_SIM_ASSERT(s->corrupted <= s->delivered && s->duplicated <= s->sent);
}

// >>sim_env
// The tidal_env methods of one node. Each file method counts one operation and checks
// faults first (tidal_sim__op_begin), then validates, then acts; a call that fails
// changes nothing. Semantics follow tidal_env_posix() except where the ENV SEMANTICS
// list at the top says otherwise. env.user is the tidal_sim_env itself.

static tidal_sim_disk *tidal_sim__env_disk(void *user) {
    tidal_sim_env *e = (tidal_sim_env *)user;
    TIDAL_SIM_ASSERT(e != NULL && e->env.user == (void *)e && e->disk != NULL);
    return e->disk;
}

static int64_t tidal_sim__env_wall(void *user) { return ((tidal_sim_env *)user)->now_ns; }
static int64_t tidal_sim__env_mono(void *user) { return ((tidal_sim_env *)user)->mono_ns; }

static void tidal_sim__env_random(void *user, void *buf, size_t len) {
    tidal_sim_env *e = (tidal_sim_env *)user;
    uint8_t *p = (uint8_t *)buf;
    size_t i = 0;
    TIDAL_SIM_ASSERT(buf != NULL || len == 0);
    while (i < len) { /* eight bytes per draw, little-endian */
        uint64_t x = tidal_sim__next(&e->rng);
        size_t k;
        for (k = 0; k < 8 && i < len; k++, i++) p[i] = (uint8_t)(x >> (8 * k));
    }
}

static tidal_result tidal_sim__env_open(void *user, const char *path, uint32_t flags,
                                        void **file) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    int create = (flags & TIDAL_OPEN_CREATE) != 0;
    tidal_result r = tidal_sim__op_begin(d, create ? TIDAL_ERR_IO_WRITE : TIDAL_ERR_IO_READ);
    char dir[TIDAL_SIM_PATH_MAX + 1];
    uint32_t ino, i, free_slot = 0;
    TIDAL_SIM_ASSERT(path != NULL && file != NULL);
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__path_check(path)) != TIDAL_OK) return r;
    tidal_sim__parent(path, dir);
    if (!tidal_sim__ns_dir_exists(&d->cur, dir)) return TIDAL_ERR_NOT_FOUND;
    ino = tidal_sim__ns_get(&d->cur, path);
    if (ino == TIDAL_SIM__DIR) return TIDAL_ERR_IO_READ;
    for (i = 0; i < d->n_handles; i++) free_slot |= d->handles[i].tag == 0;
    if (!free_slot && d->n_handles >= TIDAL_SIM_HANDLES_MAX) return TIDAL_ERR_LIMIT;
    if (ino == TIDAL_SIM__NONE) {
        if (!create) return TIDAL_ERR_NOT_FOUND;
        if (d->cur.n >= TIDAL_SIM_ENTRIES_MAX) return TIDAL_ERR_IO_NOSPACE;
        if ((ino = tidal_sim__inode_new(d)) == TIDAL_SIM__NONE) return TIDAL_ERR_IO_NOSPACE;
        tidal_sim__journal_add(d, TIDAL_SIM__J_LINK, path, NULL, ino);
    }
    r = tidal_sim__handle_new(d, ino, flags, file);
    TIDAL_SIM_ASSERT(r == TIDAL_OK); /* room was checked before anything changed */
    return r;
}

static tidal_result tidal_sim__env_read(void *user, void *file, uint64_t off, void *buf,
                                        size_t len, size_t *got) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_READ);
    const tidal_sim__handle *h;
    const tidal_sim__bytes *img;
    size_t n = 0;
    TIDAL_SIM_ASSERT(got != NULL && (buf != NULL || len == 0));
    *got = 0;
    if (r != TIDAL_OK) return r;
    if (!(h = tidal_sim__handle_get(d, file))) return TIDAL_ERR_IO_READ;
    img = &d->inodes[h->inode].current;
    if (off < img->len && len > 0) {
        n = img->len - (size_t)off;
        if (n > len) n = len;
        memcpy(buf, img->p + off, n);
    }
    *got = n;
    return TIDAL_OK;
}

/* The writable handle behind file for a write or truncate ending at end, or an error. */
static tidal_result tidal_sim__writable(tidal_sim_disk *d, void *file, uint64_t end,
                                        uint32_t *inode) {
    const tidal_sim__handle *h = tidal_sim__handle_get(d, file);
    if (!h || !(h->flags & TIDAL_OPEN_WRITE)) return TIDAL_ERR_IO_WRITE;
    if (end > TIDAL_SIM_FILE_BYTES_MAX) return TIDAL_ERR_IO_NOSPACE;
    *inode = h->inode;
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_write(void *user, void *file, uint64_t off, const void *buf,
                                         size_t len) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_WRITE);
    uint64_t end = off + (uint64_t)len;
    uint32_t ino;
    TIDAL_SIM_ASSERT(buf != NULL || len == 0);
    if (r != TIDAL_OK) return r;
    if (end < off) end = UINT64_MAX; /* overflow: certainly past the limit */
    if ((r = tidal_sim__writable(d, file, end, &ino)) != TIDAL_OK) return r;
    if (len == 0) return TIDAL_OK; /* pwrite of nothing does not extend the file */
    tidal_sim__bytes_write(&d->inodes[ino].current, (size_t)off, buf, len);
    tidal_sim__op_push(d, ino, TIDAL_SIM__OP_WRITE, off, buf, len);
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_sync(void *user, void *file) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_FSYNC);
    const tidal_sim__handle *h;
    tidal_sim__inode *ino;
    if (r != TIDAL_OK) return r;
    if (!(h = tidal_sim__handle_get(d, file))) return TIDAL_ERR_IO_FSYNC;
    ino = &d->inodes[h->inode];
    { /* replay the unsynced operations onto the durable image: durable + ops == current,
         and copying only what changed keeps a log's fsyncs linear, not quadratic */
        uint32_t i;
        for (i = 0; i < ino->n_ops; i++) tidal_sim__op_replay(&ino->durable, &ino->ops[i]);
    }
    TIDAL_SIM_ASSERT(ino->durable.len == ino->current.len);
    tidal_sim__inode_clear_ops(ino);
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_size(void *user, void *file, uint64_t *size) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_READ);
    const tidal_sim__handle *h;
    TIDAL_SIM_ASSERT(size != NULL);
    if (r != TIDAL_OK) return r;
    if (!(h = tidal_sim__handle_get(d, file))) return TIDAL_ERR_IO_READ;
    *size = d->inodes[h->inode].current.len;
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_truncate(void *user, void *file, uint64_t size) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_WRITE);
    uint32_t ino;
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__writable(d, file, size, &ino)) != TIDAL_OK) return r;
    tidal_sim__bytes_resize(&d->inodes[ino].current, (size_t)size);
    tidal_sim__op_push(d, ino, TIDAL_SIM__OP_TRUNCATE, size, NULL, 0);
    return TIDAL_OK;
}

static void tidal_sim__env_close(void *user, void *file) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_sim__handle *h;
    if (!file) return; /* like close(-1) under the POSIX env: harmless */
    h = tidal_sim__handle_get(d, file);
    if (!h) return; /* stale or closed already: always safe */
    h->tag = 0;
    tidal_sim__gc(d); /* an unlinked file dies with its last handle */
}

static tidal_result tidal_sim__env_rename(void *user, const char *from, const char *to) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_WRITE);
    char dir[TIDAL_SIM_PATH_MAX + 1];
    uint32_t ino, target;
    TIDAL_SIM_ASSERT(from != NULL && to != NULL);
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__path_check(from)) != TIDAL_OK) return r;
    if ((r = tidal_sim__path_check(to)) != TIDAL_OK) return r;
    ino = tidal_sim__ns_get(&d->cur, from);
    if (ino == TIDAL_SIM__NONE) return TIDAL_ERR_NOT_FOUND;
    if (ino == TIDAL_SIM__DIR) return TIDAL_ERR_IO_WRITE; /* directories do not move (F8) */
    tidal_sim__parent(to, dir);
    if (!tidal_sim__ns_dir_exists(&d->cur, dir)) return TIDAL_ERR_NOT_FOUND;
    target = tidal_sim__ns_get(&d->cur, to);
    if (target == TIDAL_SIM__DIR) return TIDAL_ERR_IO_WRITE;
    if (target == ino) return TIDAL_OK; /* POSIX: renaming a file onto itself does nothing */
    tidal_sim__journal_add(d, TIDAL_SIM__J_RENAME, from, to, ino);
    tidal_sim__gc(d);
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_remove(void *user, const char *path) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_WRITE);
    uint32_t ino;
    TIDAL_SIM_ASSERT(path != NULL);
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__path_check(path)) != TIDAL_OK) return r;
    ino = tidal_sim__ns_get(&d->cur, path);
    if (ino == TIDAL_SIM__NONE) return TIDAL_ERR_NOT_FOUND;
    if (ino == TIDAL_SIM__DIR) return TIDAL_ERR_IO_WRITE; /* unlink(2) of a directory */
    tidal_sim__journal_add(d, TIDAL_SIM__J_UNLINK, path, NULL, ino);
    tidal_sim__gc(d);
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_mkdir(void *user, const char *path) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_WRITE);
    char nd[TIDAL_SIM_PATH_MAX + 1], parent[TIDAL_SIM_PATH_MAX + 1];
    uint32_t ino;
    TIDAL_SIM_ASSERT(path != NULL);
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__dir_norm(path, nd)) != TIDAL_OK) return r;
    if (tidal_sim__is_root(nd)) return TIDAL_OK;
    if ((r = tidal_sim__path_check(nd)) != TIDAL_OK) return r;
    ino = tidal_sim__ns_get(&d->cur, nd);
    if (ino == TIDAL_SIM__DIR) return TIDAL_OK;
    if (ino != TIDAL_SIM__NONE) return TIDAL_ERR_IO_WRITE; /* a file has the name */
    tidal_sim__parent(nd, parent);
    if (!tidal_sim__ns_dir_exists(&d->cur, parent)) return TIDAL_ERR_NOT_FOUND;
    if (d->cur.n >= TIDAL_SIM_ENTRIES_MAX) return TIDAL_ERR_IO_NOSPACE;
    tidal_sim__journal_add(d, TIDAL_SIM__J_MKDIR, nd, NULL, TIDAL_SIM__DIR);
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_dirsync(void *user, const char *path) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_FSYNC);
    char nd[TIDAL_SIM_PATH_MAX + 1];
    uint32_t i, upto = 0;
    TIDAL_SIM_ASSERT(path != NULL);
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__dir_norm(path, nd)) != TIDAL_OK) return r;
    if (!tidal_sim__ns_dir_exists(&d->cur, nd)) return TIDAL_ERR_NOT_FOUND;
    for (i = 0; i < d->n_journal; i++) /* through the last entry touching nd (F3) */
        if (tidal_sim__jentry_touches(&d->journal[i], nd)) upto = i + 1;
    tidal_sim__journal_commit(d, upto);
    tidal_sim__gc(d);
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_list(void *user, const char *path,
                                        void (*fn)(void *ctx, const char *name), void *ctx) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_READ);
    char nd[TIDAL_SIM_PATH_MAX + 1];
    char(*names)[128];
    uint32_t i, n;
    TIDAL_SIM_ASSERT(path != NULL && fn != NULL);
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__dir_norm(path, nd)) != TIDAL_OK) return r;
    if (!tidal_sim__ns_dir_exists(&d->cur, nd)) return TIDAL_ERR_NOT_FOUND;
    n = tidal_sim__ns_children(&d->cur, nd, &names); /* a copy: fn may change the dir */
    for (i = 0; i < n; i++) fn(ctx, names[i]);
    free(names);
    return TIDAL_OK;
}

static tidal_result tidal_sim__env_send(void *user, tidal_node_ref to, const void *bytes,
                                        size_t len) {
    tidal_sim_env *e = (tidal_sim_env *)user;
    TIDAL_SIM_ASSERT(e != NULL && e->env.user == (void *)e);
    if (!e->net) return TIDAL_ERR_UNAVAILABLE; /* a lone node: nobody to talk to */
    /* A skewed clock must not change when messages arrive: send at true time. */
    return tidal_sim_net_send(e->net, e->self, to, bytes, len, e->now_ns - e->skew_ns);
}

static tidal_result tidal_sim__env_lock(void *user, const char *path, void **lock,
                                        uint64_t *holder) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    tidal_result r = tidal_sim__op_begin(d, TIDAL_ERR_IO_WRITE);
    char nd[TIDAL_SIM_PATH_MAX + 1];
    uint32_t i;
    TIDAL_SIM_ASSERT(path != NULL && lock != NULL && holder != NULL);
    *holder = 0; /* a simulated process has no pid */
    if (r != TIDAL_OK) return r;
    if ((r = tidal_sim__dir_norm(path, nd)) != TIDAL_OK) return r;
    if (!tidal_sim__ns_dir_exists(&d->cur, nd)) return TIDAL_ERR_NOT_FOUND;
    for (i = 0; i < d->n_locks; i++)
        if (!strcmp(d->locks[i].dir, nd)) return TIDAL_ERR_LOCKED;
    if (d->n_locks >= TIDAL_SIM_LOCKS_MAX) return TIDAL_ERR_LIMIT;
    d->locks = (tidal_sim__lock *)tidal_sim__reserve(d->locks, &d->cap_locks, d->n_locks + 1,
                                                     sizeof *d->locks);
    d->locks[d->n_locks].tag = (uintptr_t)(++d->lock_gen << 1) | 1u;
    strcpy(d->locks[d->n_locks].dir, nd);
    *lock = (void *)d->locks[d->n_locks].tag;
    d->n_locks++;
    return TIDAL_OK;
}

static void tidal_sim__env_unlock(void *user, void *lock) {
    tidal_sim_disk *d = tidal_sim__env_disk(user);
    uint32_t i;
    if (!lock) return;
    for (i = 0; i < d->n_locks; i++)
        if (d->locks[i].tag == (uintptr_t)lock) { /* stale (crash, restart): not found */
            d->locks[i] = d->locks[--d->n_locks];
            return;
        }
}

static void tidal_sim__env_error_text(void *user, char *buf, size_t cap) {
    const tidal_sim_disk *d = tidal_sim__env_disk(user);
    TIDAL_SIM_ASSERT(buf != NULL && cap > 0);
    snprintf(buf, cap, "%s", d->why ? d->why : "");
}

TIDAL_API void tidal_sim_env_init(tidal_sim_env *e, tidal_sim_disk *disk, int64_t now_ns,
                                  uint64_t seed) {
    TIDAL_SIM_ASSERT(e != NULL && disk != NULL);
    memset(e, 0, sizeof *e); /* methods appended to tidal_env later start NULL */
    e->env.version = TIDAL_ENV_VERSION;
    e->env.user = e;
    e->env.clock_wall_ns = tidal_sim__env_wall;
    e->env.clock_mono_ns = tidal_sim__env_mono;
    e->env.random_fill = tidal_sim__env_random;
    e->env.file_open = tidal_sim__env_open;
    e->env.file_read = tidal_sim__env_read;
    e->env.file_write = tidal_sim__env_write;
    e->env.file_sync = tidal_sim__env_sync;
    e->env.file_size = tidal_sim__env_size;
    e->env.file_truncate = tidal_sim__env_truncate;
    e->env.file_close = tidal_sim__env_close;
    e->env.file_rename = tidal_sim__env_rename;
    e->env.file_remove = tidal_sim__env_remove;
    e->env.dir_create = tidal_sim__env_mkdir;
    e->env.dir_sync = tidal_sim__env_dirsync;
    e->env.dir_list = tidal_sim__env_list;
    e->env.message_send = tidal_sim__env_send;
    e->env.dir_lock = tidal_sim__env_lock;
    e->env.dir_unlock = tidal_sim__env_unlock;
    e->env.error_text = tidal_sim__env_error_text;
    e->disk = disk;
    e->now_ns = now_ns;
    e->mono_ns = TIDAL_NS_PER_S;
    e->rng = seed;
}

TIDAL_API void tidal_sim_env_advance(tidal_sim_env *e, int64_t dt_ns) {
    TIDAL_SIM_ASSERT(e != NULL && dt_ns >= 0);
    e->now_ns += dt_ns;
    e->mono_ns += dt_ns;
}

TIDAL_API void tidal_sim_env_attach_net(tidal_sim_env *e, tidal_sim_net *net,
                                        tidal_node_ref self) {
    TIDAL_SIM_ASSERT(e != NULL && e->env.user == (void *)e); /* initialised, not moved */
    e->net = net;
    e->self = self;
}

// >>sim_cluster
// The cluster harness: one env, disk and tidal_peer per node on one network, a loop that
// jumps virtual time to the next delivery or tick, and node-level faults. Node (r, s) is
// index r * shards + s. The harness keeps no protocol: every message goes to
// tidal_peer_receive, time to tidal_peer_tick; tenants, placements and moves are control
// records proposed through a peer (tidal.h's >>node and >>node_move run them). What it
// keeps besides: the ground truth (every event written), the trace, the completions of the
// calls it made, and what it observed of moves (when a phase was first seen, control
// leader changes during a move). Every random choice comes from the seed: disks, envs and
// the network each get their own stream, so turning one fault class off does not shift
// the others.

static uint64_t tidal_sim__mix(uint64_t x) { return tidal_sim__next(&x); }

static void tidal_sim__put64(uint8_t *w, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++) w[i] = (uint8_t)(v >> (8 * i));
}

#define TIDAL_SIM__DONE_MAX 64u                        /* completions kept (a ring) */
#define TIDAL_SIM__WAIT_NS (30 * TIDAL_NS_PER_S)       /* a proposal's patience */
#define TIDAL_SIM__MS (TIDAL_NS_PER_S / 1000)

/* What the harness observed of one registered tenant's moves (cluster time). */
/* The event hook's context: the node whose peer it is (the writing member is found there). */
typedef struct tidal_sim__writer {
    tidal_sim_cluster *c;
    uint32_t node;
} tidal_sim__writer;

/* An event's writer group before the node's peer is open to ask (resolved right after). */
#define TIDAL_SIM__GROUP_PENDING 0xFFFFFFFEu
#define TIDAL_SIM__GROUP_NONE 0xFFFFFFFFu /* no member of its node held it (a finding) */

typedef struct tidal_sim__ten {
    uint32_t tenant;
    uint64_t move;            /* the generation of the move observed last, 0 = none */
    uint64_t version;         /* the highest record index seen naming it */
    int64_t start_ns, switch_ns, done_ns;
    tidal_peer_tenant seen;   /* the routing table of the most advanced peer seen... */
    uint64_t seen_at;         /* ...which had applied the records up to this index */
} tidal_sim__ten;

struct tidal_sim_cluster {
    tidal_sim_cluster_config cfg;
    tidal_sim_net *net;
    uint32_t n;
    int64_t now, next_tick;
    struct {
        tidal_sim_disk *disk;
        tidal_sim_env env;
        int64_t skew_ns;
        uint32_t life;        /* opens so far (1 after the first) */
        tidal_peer *peer;     /* NULL while down */
        char why[256];        /* why its last open failed ("" if it did not) */
        tidal_sim__writer writer; /* its peer's event hook context */
    } node[TIDAL_SIM_NODES_MAX];
    tidal_peer_group groups[TIDAL_SIM_GROUPS_MAX]; /* every group, declared at creation */
    uint32_t n_groups;
    struct {
        uint32_t node;
        tidal_peer_completion c;
    } done[TIDAL_SIM__DONE_MAX];
    uint64_t n_done;          /* completions seen; the last TIDAL_SIM__DONE_MAX are kept */
    struct tidal_blake3 trace;
    void (*observer)(void *ctx, tidal_sim_cluster *c);
    void *observer_ctx;
    /* ground truth: recorded events (bytes back to back), their ids, an id set */
    uint8_t *ev_bytes;
    size_t ev_len, ev_cap;
    uint64_t *ev_at;           /* per event: offset, length */
    uint32_t *ev_group;        /* per event: the group of the member that wrote it */
    uint32_t n_ev, cap_ev, cap_evg, n_pending;
    uint64_t *ev_set;          /* open addressing on (hi, lo) pairs; (0, 0) = empty */
    uint32_t set_cap;
    tidal_sim_disk *truth_disk;
    tidal_sim_env truth_env;
    /* tenants registered through the harness, and the control plane as observed */
    int topology;              /* the TOPOLOGY record committed */
    uint32_t n_ten;
    tidal_sim__ten ten[TIDAL_SIM_TENANTS_MAX];
    int ctl_node;              /* the node whose control member leads (-1 unknown)... */
    uint32_t ctl_life;         /* ...in that life */
    uint32_t ctl_restarts;     /* leadership changes seen while a move was in flight */
    uint64_t copies_closed, forwarded_closed; /* counters of peers closed since */
};

static uint64_t tidal_sim__get64(const uint8_t *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The group of node i's member that holds event id: the one that just wrote it (the hook
   runs once the event is folded in; the data groups are asked in declared order). PENDING
   while the node's peer is still opening. */
static uint32_t tidal_sim__writer_group(const tidal_sim_cluster *c, uint32_t i,
                                        tidal_event_id id) {
    uint32_t k;
    TIDAL_SIM_ASSERT(i < c->n);
    if (!c->node[i].peer) return TIDAL_SIM__GROUP_PENDING;
    for (k = 0; k < c->n_groups; k++) {
        tidal_db *db;
        if (c->groups[k].id == TIDAL_SIM_CONTROL_GROUP) continue;
        db = tidal_peer_member(c->node[i].peer, c->groups[k].id);
        if (db && tidal_event_is_applied(db, id)) return c->groups[k].id;
    }
    return TIDAL_SIM__GROUP_NONE;
}

static tidal_event_id tidal_sim__ev_id(const tidal_sim_cluster *c, uint32_t k) {
    const uint8_t *p = c->ev_bytes + c->ev_at[2 * k];
    tidal_event_id id;
    id.hi = tidal_sim__get64(p + 5);
    id.lo = tidal_sim__get64(p + 13);
    return id;
}

/* Every peer's event hook (tidal_peer_config.event_hook, ctx its node's writer): an
   encoded event starts with kind u8, tenant u32, id hi u64, id lo u64. Records it and its
   writer's group unless its id is already known. */
static void tidal_sim__record(void *ctx, const void *event, size_t len) {
    tidal_sim__writer *wr = (tidal_sim__writer *)ctx;
    tidal_sim_cluster *c = wr->c;
    const uint8_t *p = (const uint8_t *)event;
    uint64_t hi, lo;
    uint32_t k, mask;
    tidal_event_id id;
    TIDAL_SIM_ASSERT(c != NULL && len >= 21);
    hi = tidal_sim__get64(p + 5);
    lo = tidal_sim__get64(p + 13);
    if ((c->n_ev + 1) * 2 > c->set_cap) { /* grow the id set to keep it half empty */
        uint32_t old = c->set_cap, i;
        uint64_t *prev = c->ev_set;
        c->set_cap = old ? old * 2 : 1024;
        c->ev_set = (uint64_t *)calloc((size_t)c->set_cap * 2, sizeof(uint64_t));
        TIDAL_SIM_ASSERT(c->ev_set != NULL);
        for (i = 0; i < old; i++) {
            uint64_t h = prev[2 * i], l = prev[2 * i + 1];
            if (!h && !l) continue;
            for (k = (uint32_t)tidal_sim__mix(h ^ l) & (c->set_cap - 1);
                 c->ev_set[2 * k] || c->ev_set[2 * k + 1]; k = (k + 1) & (c->set_cap - 1)) {}
            c->ev_set[2 * k] = h;
            c->ev_set[2 * k + 1] = l;
        }
        free(prev);
    }
    mask = c->set_cap - 1;
    for (k = (uint32_t)tidal_sim__mix(hi ^ lo) & mask; c->ev_set[2 * k] || c->ev_set[2 * k + 1];
         k = (k + 1) & mask)
        if (c->ev_set[2 * k] == hi && c->ev_set[2 * k + 1] == lo) return;
    c->ev_set[2 * k] = hi;
    c->ev_set[2 * k + 1] = lo;
    c->ev_at = (uint64_t *)tidal_sim__reserve(c->ev_at, &c->cap_ev, c->n_ev + 1,
                                              2 * sizeof(uint64_t));
    c->ev_group = (uint32_t *)tidal_sim__reserve(c->ev_group, &c->cap_evg, c->n_ev + 1,
                                                 sizeof(uint32_t));
    id.hi = hi;
    id.lo = lo;
    c->ev_group[c->n_ev] = tidal_sim__writer_group(c, wr->node, id);
    c->n_pending += c->ev_group[c->n_ev] == TIDAL_SIM__GROUP_PENDING;
    while (c->ev_len + len > c->ev_cap) {
        c->ev_cap = c->ev_cap ? c->ev_cap * 2 : 65536;
        c->ev_bytes = (uint8_t *)tidal_sim__realloc(c->ev_bytes, c->ev_cap);
    }
    memcpy(c->ev_bytes + c->ev_len, p, len);
    c->ev_at[2 * c->n_ev] = c->ev_len;
    c->ev_at[2 * c->n_ev + 1] = len;
    c->n_ev++;
    c->ev_len += len;
}

static uint32_t tidal_sim__ci(const tidal_sim_cluster *c, uint16_t region, uint16_t shard) {
    TIDAL_SIM_ASSERT(region < c->cfg.regions && shard < c->cfg.shards);
    return (uint32_t)region * c->cfg.shards + shard;
}

static uint32_t tidal_sim__all(const tidal_sim_cluster *c) {
    return (1u << c->cfg.regions) - 1;
}

/* Opens node i's peer from its disk: every declared group, the event hook; the members
   of a brand-new cluster (the node's first open) know their groups are new. */
static tidal_result tidal_sim__peer_open(tidal_sim_cluster *c, uint32_t i) {
    tidal_peer_config pc;
    tidal_result r;
    TIDAL_SIM_ASSERT(i < c->n && c->node[i].peer == NULL);
    memset(&pc, 0, sizeof pc);
    pc.env = &c->node[i].env.env;
    pc.path = "node";
    pc.self.region = (uint16_t)(i / c->cfg.shards);
    pc.self.shard = (uint16_t)(i % c->cfg.shards);
    pc.regions = c->cfg.regions;
    pc.shards = c->cfg.shards;
    pc.groups = c->groups;
    pc.group_count = c->n_groups;
    pc.member.schema = c->cfg.schema;
    pc.member.segment_bytes_max = c->cfg.segment_bytes_max;
    pc.member.heartbeat_ns = c->cfg.heartbeat_ns;
    pc.member.election_timeout_ns = c->cfg.election_timeout_ns;
    pc.member.availability_mode = c->cfg.availability_mode;
    pc.member.quorum_wait_ns = c->cfg.quorum_wait_ns;
    pc.member.snapshot_log_bytes = c->cfg.snapshot_log_bytes;
    pc.member.group_bootstrap = c->node[i].life == 0; /* (0, s) leads epoch 1 */
    pc.heartbeat_ns = c->cfg.peer_heartbeat_ns;
    c->node[i].writer.c = c;
    c->node[i].writer.node = i;
    pc.event_hook = tidal_sim__record;
    pc.event_hook_ctx = &c->node[i].writer;
    c->node[i].why[0] = 0;
    r = tidal_peer_open(&pc, &c->node[i].peer, c->node[i].why, sizeof c->node[i].why);
    if (r != TIDAL_OK && !c->node[i].why[0])
        snprintf(c->node[i].why, sizeof c->node[i].why, "%s", tidal_strerror(r));
    if (c->n_pending) { /* its members wrote while it opened (nothing else runs meanwhile) */
        uint32_t k;
        for (k = 0; k < c->n_ev; k++) {
            if (c->ev_group[k] != TIDAL_SIM__GROUP_PENDING) continue;
            c->ev_group[k] = c->node[i].peer ? tidal_sim__writer_group(c, i, tidal_sim__ev_id(c, k))
                                             : TIDAL_SIM__GROUP_NONE; /* its open failed */
            c->n_pending--;
        }
    }
    c->node[i].life++;
    TIDAL_SIM_ASSERT(r != TIDAL_OK || c->node[i].peer != NULL);
    return r;
}

/* Closes node i's peer (its counters are kept for tidal_sim_cluster_tenant). */
static void tidal_sim__peer_close(tidal_sim_cluster *c, uint32_t i) {
    tidal_peer_move_info mi;
    if (!c->node[i].peer) return;
    if (c->n_ten && tidal_peer_move_status(c->node[i].peer, c->ten[0].tenant, &mi) == TIDAL_OK) {
        c->copies_closed += mi.copies;
        c->forwarded_closed += mi.events_forwarded;
    }
    tidal_peer_close(c->node[i].peer);
    c->node[i].peer = NULL;
}

TIDAL_API tidal_sim_cluster *tidal_sim_cluster_new(const tidal_sim_cluster_config *cfg) {
    tidal_sim_cluster *c;
    uint32_t r, s, k, g;
    if (!cfg || !cfg->schema.signals) return NULL;
    c = (tidal_sim_cluster *)calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cfg = *cfg;
    if (!c->cfg.regions) c->cfg.regions = 3;
    if (!c->cfg.shards) c->cfg.shards = 1;
    if (!c->cfg.start_ns) c->cfg.start_ns = INT64_C(1790000000) * TIDAL_NS_PER_S;
    if (!c->cfg.tick_ns) c->cfg.tick_ns = 10 * 1000 * 1000;
    c->n = (uint32_t)c->cfg.regions * c->cfg.shards;
    if (c->cfg.regions > TIDAL_REPLICAS_MAX || c->n > TIDAL_SIM_NODES_MAX ||
        (cfg->placement_count && !cfg->placements)) {
        free(c);
        return NULL;
    }
    /* Group 0: every region; then one per distinct declared placement, ids from 2 on (1
       names the control plane in this API). */
    c->groups[0].id = 0;
    c->groups[0].placement = tidal_sim__all(c);
    c->n_groups = 1;
    for (k = 0; k < cfg->placement_count; k++) {
        uint32_t pl = cfg->placements[k];
        if (!pl || pl >> c->cfg.regions || c->n_groups == TIDAL_SIM_GROUPS_MAX) {
            free(c);
            return NULL;
        }
        for (g = 0; g < c->n_groups && c->groups[g].placement != pl; g++) {}
        if (g < c->n_groups) continue;
        c->groups[c->n_groups].id = c->n_groups + 1;
        c->groups[c->n_groups++].placement = pl;
    }
    c->net = tidal_sim_net_new(tidal_sim__mix(cfg->seed ^ UINT64_C(0x6e6574)));
    c->now = c->cfg.start_ns;
    c->next_tick = c->now + c->cfg.tick_ns;
    c->ctl_node = -1;
    tidal_blake3_init(&c->trace);
    for (r = 0; r < c->cfg.regions; r++)
        for (s = 0; s < c->cfg.shards; s++) {
            uint32_t i = r * c->cfg.shards + s;
            tidal_node_ref self;
            self.region = (uint16_t)r;
            self.shard = (uint16_t)s;
            c->node[i].disk =
                tidal_sim_disk_new(tidal_sim__mix(cfg->seed ^ (UINT64_C(0xd15c) << 16) ^ i));
            tidal_sim_env_init(&c->node[i].env, c->node[i].disk, c->now,
                               tidal_sim__mix(cfg->seed ^ (UINT64_C(0xe4f) << 20) ^ i));
            tidal_sim_env_attach_net(&c->node[i].env, c->net, self);
        }
    for (r = 0; r < c->cfg.regions; r++)
        for (s = 0; s < c->cfg.shards; s++)
            if (tidal_sim_cluster_restart(c, (uint16_t)r, (uint16_t)s) != TIDAL_OK) {
                tidal_sim_cluster_free(c);
                return NULL;
            }
    return c;
}

TIDAL_API void tidal_sim_cluster_free(tidal_sim_cluster *c) {
    uint32_t i;
    tidal_sim_msg m;
    if (!c) return;
    for (i = 0; i < c->n; i++) {
        tidal_sim__peer_close(c, i);
        tidal_sim_disk_free(c->node[i].disk);
    }
    while (tidal_sim_net_pop(c->net, INT64_MAX, &m)) tidal_sim_msg_free(&m);
    tidal_sim_net_free(c->net);
    if (c->truth_disk) tidal_sim_disk_free(c->truth_disk);
    free(c->ev_bytes);
    free(c->ev_at);
    free(c->ev_group);
    free(c->ev_set);
    free(c);
}

/* The index in c->groups of group id g, or -1. */
static int tidal_sim__gi(const tidal_sim_cluster *c, uint32_t g) {
    uint32_t k;
    for (k = 0; k < c->n_groups; k++)
        if (c->groups[k].id == g) return (int)k;
    return -1;
}

TIDAL_API tidal_peer *tidal_sim_cluster_peer(const tidal_sim_cluster *c, uint16_t region,
                                             uint16_t shard) {
    return c->node[tidal_sim__ci(c, region, shard)].peer;
}
TIDAL_API tidal_db *tidal_sim_cluster_db(const tidal_sim_cluster *c, uint16_t region, uint16_t shard) {
    return tidal_sim_cluster_group_db(c, 0, region, shard);
}
TIDAL_API tidal_db *tidal_sim_cluster_group_db(const tidal_sim_cluster *c, uint32_t group,
                                               uint16_t region, uint16_t shard) {
    tidal_peer *p = c->node[tidal_sim__ci(c, region, shard)].peer;
    return p && group != TIDAL_SIM_CONTROL_GROUP ? tidal_peer_member(p, group) : NULL;
}
TIDAL_API uint32_t tidal_sim_cluster_group_placement(const tidal_sim_cluster *c, uint32_t group) {
    int k = tidal_sim__gi(c, group);
    return k < 0 ? 0 : c->groups[k].placement;
}
TIDAL_API tidal_sim_disk *tidal_sim_cluster_disk(const tidal_sim_cluster *c, uint16_t region,
                                                 uint16_t shard) {
    return c->node[tidal_sim__ci(c, region, shard)].disk;
}
TIDAL_API tidal_sim_env *tidal_sim_cluster_env(tidal_sim_cluster *c, uint16_t region, uint16_t shard) {
    return &c->node[tidal_sim__ci(c, region, shard)].env;
}
TIDAL_API tidal_sim_net *tidal_sim_cluster_net(const tidal_sim_cluster *c) { return c->net; }
TIDAL_API int64_t tidal_sim_cluster_now(const tidal_sim_cluster *c) { return c->now; }

TIDAL_API void tidal_sim_cluster_set_observer(tidal_sim_cluster *c,
                                              void (*fn)(void *ctx, tidal_sim_cluster *c),
                                              void *ctx) {
    c->observer = fn;
    c->observer_ctx = ctx;
}

TIDAL_API int tidal_sim_cluster_group_add(tidal_sim_cluster *c, uint32_t placement) {
    uint32_t g;
    if (!placement || placement >> c->cfg.regions) return -1;
    for (g = 0; g < c->n_groups; g++)
        if (c->groups[g].placement == placement) return (int)c->groups[g].id;
    return -1; /* not declared in tidal_sim_cluster_config.placements */
}

static void tidal_sim__cluster_clock(tidal_sim_cluster *c, int64_t t) {
    uint32_t i;
    TIDAL_SIM_ASSERT(t >= c->now);
    for (i = 0; i < c->n; i++) {
        c->node[i].env.now_ns = t + c->node[i].skew_ns;
        c->node[i].env.mono_ns += t - c->now;
    }
    c->now = t;
}

static void tidal_sim__cluster_deliver(tidal_sim_cluster *c, const tidal_sim_msg *m) {
    uint8_t w[32];
    uint32_t i = tidal_sim__ci(c, m->to.region, m->to.shard);
    tidal_sim__put64(w, (uint64_t)m->deliver_ns);
    tidal_sim__put64(w + 8, (uint64_t)m->from.region << 16 | m->from.shard);
    tidal_sim__put64(w + 16, (uint64_t)m->to.region << 16 | m->to.shard);
    tidal_sim__put64(w + 24, (uint64_t)m->len);
    tidal_blake3_update(&c->trace, w, 32);
    tidal_blake3_update(&c->trace, m->bytes, m->len);
    if (c->node[i].peer) (void)tidal_peer_receive(c->node[i].peer, m->from, m->bytes, m->len);
}

/* The node whose control member leads at the highest term, or -1. */
static int tidal_sim__ctl_leader(const tidal_sim_cluster *c) {
    uint32_t i;
    uint64_t term = 0;
    int best = -1;
    for (i = 0; i < c->n; i++) {
        tidal_control_status st;
        if (!c->node[i].peer ||
            tidal_control_status_get(tidal_peer_control(c->node[i].peer), &st) != TIDAL_OK)
            continue;
        if (st.role == TIDAL_ROLE_LEADER && st.term >= term) best = (int)i, term = st.term;
    }
    return best;
}

/* The live node that applied the most control records: the harness's view of them. */
static int tidal_sim__view_node(const tidal_sim_cluster *c, uint64_t *applied) {
    uint32_t i;
    uint64_t best_index = 0;
    int best = -1;
    for (i = 0; i < c->n; i++) {
        tidal_peer_status st;
        if (!c->node[i].peer || tidal_peer_status_get(c->node[i].peer, &st) != TIDAL_OK) continue;
        if (best < 0 || st.applied_index > best_index) best = (int)i, best_index = st.applied_index;
    }
    *applied = best_index;
    return best;
}

static int tidal_sim__ten_find(const tidal_sim_cluster *c, uint32_t tenant) {
    uint32_t k;
    for (k = 0; k < c->n_ten; k++)
        if (c->ten[k].tenant == tenant) return (int)k;
    return -1;
}

/* The routing table's entry of tenant on the live node that applied the most records;
   for a registered tenant, what the harness saw last when that node lags it (the node
   that was ahead crashed: the view does not go back). */
static tidal_result tidal_sim__view_at(const tidal_sim_cluster *c, uint32_t tenant,
                                       tidal_peer_tenant *out, uint64_t *at) {
    uint64_t applied = 0;
    int v = tidal_sim__view_node(c, &applied), k = tidal_sim__ten_find(c, tenant);
    tidal_result r;
    memset(out, 0, sizeof *out);
    *at = applied;
    if (k >= 0 && c->ten[k].seen_at && (v < 0 || applied < c->ten[k].seen_at)) {
        *out = c->ten[k].seen;
        *at = c->ten[k].seen_at;
        return TIDAL_OK;
    }
    if (v < 0) return TIDAL_ERR_UNAVAILABLE;
    r = tidal_peer_tenant_get(c->node[v].peer, tenant, out);
    TIDAL_SIM_ASSERT(r == TIDAL_OK || r == TIDAL_ERR_NOT_FOUND);
    return r;
}

static tidal_result tidal_sim__view(const tidal_sim_cluster *c, uint32_t tenant,
                                    tidal_peer_tenant *out) {
    uint64_t at;
    return tidal_sim__view_at(c, tenant, out, &at);
}

/* After a tick: moves' phases first seen, control leadership changes during a move. */
static void tidal_sim__observe(tidal_sim_cluster *c) {
    int l = tidal_sim__ctl_leader(c), moving = 0;
    uint32_t k;
    for (k = 0; k < c->n_ten; k++) {
        tidal_sim__ten *t = &c->ten[k];
        tidal_peer_tenant v;
        uint64_t ver, at;
        if (tidal_sim__view_at(c, t->tenant, &v, &at) != TIDAL_OK) continue;
        t->seen = v;
        t->seen_at = at;
        ver = v.config_index > v.placement_index ? v.config_index : v.placement_index;
        if (v.move_phase_index > ver) ver = v.move_phase_index;
        if (ver > t->version) t->version = ver;
        if (!v.move_index) continue;
        if (v.move_index != t->move) { /* a move the harness did not start: from now */
            t->move = v.move_index;
            t->start_ns = c->now;
            t->switch_ns = t->done_ns = 0;
        }
        moving |= v.move_phase != TIDAL_CONTROL_PHASE_DONE;
        if (v.move_phase >= TIDAL_CONTROL_PHASE_SWITCH && !t->switch_ns) t->switch_ns = c->now;
        if (v.move_phase == TIDAL_CONTROL_PHASE_DONE && !t->done_ns) t->done_ns = c->now;
    }
    if (l < 0) return; /* an election: wait for its outcome */
    if (c->ctl_node >= 0 && moving &&
        (l != c->ctl_node || c->node[l].life != c->ctl_life))
        c->ctl_restarts++;
    c->ctl_node = l;
    c->ctl_life = c->node[l].life;
}

/* Takes every completion the live peers have. */
static void tidal_sim__collect(tidal_sim_cluster *c) {
    uint32_t i;
    for (i = 0; i < c->n; i++) {
        tidal_peer_completion d;
        while (c->node[i].peer && tidal_peer_poll(c->node[i].peer, &d) == TIDAL_OK) {
            uint32_t at = (uint32_t)(c->n_done++ % TIDAL_SIM__DONE_MAX);
            c->done[at].node = i;
            c->done[at].c = d;
        }
    }
}

TIDAL_API void tidal_sim_cluster_run(tidal_sim_cluster *c, int64_t until_ns) {
    for (;;) {
        int64_t next = tidal_sim_net_next_ns(c->net);
        tidal_sim_msg m;
        uint32_t i;
        if (c->next_tick < next) next = c->next_tick;
        if (next > until_ns) break;
        if (next > c->now) tidal_sim__cluster_clock(c, next);
        while (tidal_sim_net_pop(c->net, c->now, &m)) {
            tidal_sim__cluster_deliver(c, &m);
            tidal_sim_msg_free(&m);
            if (c->observer) c->observer(c->observer_ctx, c);
        }
        if (c->now >= c->next_tick) {
            for (i = 0; i < c->n; i++)
                if (c->node[i].peer) (void)tidal_peer_tick(c->node[i].peer);
            tidal_sim__collect(c);
            tidal_sim__observe(c);
            c->next_tick += c->cfg.tick_ns;
            if (c->observer) c->observer(c->observer_ctx, c);
        }
    }
    if (until_ns > c->now) tidal_sim__cluster_clock(c, until_ns);
}

TIDAL_API int tidal_sim_cluster_await(tidal_sim_cluster *c, uint16_t region, uint16_t shard,
                                      uint64_t ticket, int64_t timeout_ns,
                                      tidal_peer_completion *out) {
    uint32_t i = tidal_sim__ci(c, region, shard);
    int64_t end = c->now + timeout_ns;
    TIDAL_SIM_ASSERT(out != NULL && timeout_ns >= 0);
    for (;;) {
        uint64_t k;
        tidal_sim__collect(c);
        for (k = c->n_done; k > 0 && c->n_done - k < TIDAL_SIM__DONE_MAX; k--) {
            uint32_t at = (uint32_t)((k - 1) % TIDAL_SIM__DONE_MAX);
            if (c->done[at].node == i && c->done[at].c.ticket == ticket) {
                *out = c->done[at].c;
                return 1;
            }
        }
        if (c->now >= end || !c->node[i].peer) return 0;
        tidal_sim_cluster_run(c, c->now + c->cfg.tick_ns < end ? c->now + c->cfg.tick_ns : end);
    }
}

TIDAL_API tidal_result tidal_sim_cluster_gather(tidal_sim_cluster *c, uint16_t region,
                                                uint16_t shard, const char *text, int64_t wait_ns,
                                                tidal_peer_completion *out) {
    uint32_t i = tidal_sim__ci(c, region, shard);
    uint64_t ticket = 0, first;
    tidal_peer *peer = c->node[i].peer;
    uint32_t life = c->node[i].life; /* this life of the node only */
    /* the deadline is the library's; 10 s on top only bounds a gather that never ends */
    int64_t end = c->now + (wait_ns ? wait_ns : TIDAL_NS_PER_S) + 10 * TIDAL_NS_PER_S;
    tidal_result r;
    TIDAL_SIM_ASSERT(out != NULL && text != NULL && wait_ns >= 0);
    memset(out, 0, sizeof *out);
    if (!peer) return TIDAL_ERR_UNAVAILABLE;
    tidal_sim__collect(c);
    first = c->n_done; /* only completions from here on: a ticket of an earlier life of the
                          node's peer may have the same number */
    r = tidal_peer_gather(peer, text, wait_ns, &ticket);
    if (r != TIDAL_OK) return r;
    TIDAL_SIM_ASSERT(ticket != 0);
    for (;;) {
        uint64_t k;
        tidal_sim__collect(c);
        for (k = first; k < c->n_done; k++) {
            uint32_t at = (uint32_t)(k % TIDAL_SIM__DONE_MAX);
            if (c->n_done - k <= TIDAL_SIM__DONE_MAX && c->done[at].node == i &&
                c->done[at].c.ticket == ticket) {
                *out = c->done[at].c;
                return TIDAL_OK;
            }
        }
        if (c->now >= end || !c->node[i].peer || c->node[i].life != life)
            return TIDAL_ERR_UNAVAILABLE;
        tidal_sim_cluster_run(c, c->now + c->cfg.tick_ns < end ? c->now + c->cfg.tick_ns : end);
    }
}

TIDAL_API void tidal_sim_cluster_crash(tidal_sim_cluster *c, uint16_t region, uint16_t shard) {
    uint32_t i = tidal_sim__ci(c, region, shard);
    tidal_node_ref ref;
    ref.region = region;
    ref.shard = shard;
    if (!c->node[i].peer) return;
    tidal_sim_disk_crash(c->node[i].disk); /* first: the closes below must not write */
    tidal_sim__peer_close(c, i);
    tidal_sim_net_set_down(c->net, ref, 1);
}

TIDAL_API tidal_result tidal_sim_cluster_restart(tidal_sim_cluster *c, uint16_t region,
                                                 uint16_t shard) {
    uint32_t i = tidal_sim__ci(c, region, shard);
    tidal_node_ref ref;
    tidal_result r;
    ref.region = region;
    ref.shard = shard;
    if (c->node[i].peer) return TIDAL_OK;
    if (tidal_sim_disk_is_down(c->node[i].disk)) tidal_sim_disk_restart(c->node[i].disk);
    r = tidal_sim__peer_open(c, i); /* it enforces its tenants from its own disk (P1) */
    if (r != TIDAL_OK) return r;
    tidal_sim_net_set_down(c->net, ref, 0);
    return TIDAL_OK;
}

TIDAL_API const char *tidal_sim_cluster_errmsg(const tidal_sim_cluster *c, uint16_t region,
                                              uint16_t shard) {
    return c->node[tidal_sim__ci(c, region, shard)].why;
}

TIDAL_API void tidal_sim_cluster_wipe(tidal_sim_cluster *c, uint16_t region, uint16_t shard) {
    uint32_t i = tidal_sim__ci(c, region, shard);
    tidal_sim_cluster_crash(c, region, shard);
    tidal_sim_disk_wipe(c->node[i].disk);
}

TIDAL_API void tidal_sim_cluster_skew(tidal_sim_cluster *c, uint16_t region, uint16_t shard,
                                      int64_t skew_ns) {
    uint32_t i = tidal_sim__ci(c, region, shard);
    c->node[i].env.now_ns += skew_ns - c->node[i].skew_ns;
    c->node[i].env.skew_ns = skew_ns;
    c->node[i].skew_ns = skew_ns;
}

TIDAL_API int tidal_sim_cluster_group_leader(const tidal_sim_cluster *c, uint32_t group,
                                             uint16_t shard) {
    int best = -1;
    uint64_t epoch = 0;
    uint16_t r;
    if (group == TIDAL_SIM_CONTROL_GROUP) {
        int l = tidal_sim__ctl_leader(c);
        return l < 0 ? -1 : (int)((uint32_t)l / c->cfg.shards);
    }
    for (r = 0; r < c->cfg.regions; r++) {
        tidal_node_status st;
        tidal_db *db = tidal_sim_cluster_group_db(c, group, r, shard);
        if (!db || tidal_node_status_get(db, &st) != TIDAL_OK) continue;
        if (st.role == TIDAL_ROLE_LEADER && st.epoch >= epoch) {
            best = r;
            epoch = st.epoch;
        }
    }
    return best;
}

TIDAL_API int tidal_sim_cluster_leader(const tidal_sim_cluster *c, uint16_t shard) {
    return tidal_sim_cluster_group_leader(c, 0, shard);
}

TIDAL_API void tidal_sim_cluster_trace(const tidal_sim_cluster *c, uint8_t out[32]) {
    tidal_blake3_final(&c->trace, out, 32);
}

TIDAL_API uint32_t tidal_sim_cluster_events(const tidal_sim_cluster *c) { return c->n_ev; }

TIDAL_API uint32_t tidal_sim_cluster_group_events(const tidal_sim_cluster *c, uint32_t group) {
    uint32_t k, n = 0;
    for (k = 0; k < c->n_ev; k++) n += c->ev_group[k] == group;
    return n;
}

/* The health snapshot of one node's peer (tidal_peer_health_get): the control leader's
   node, else the first live one. */
TIDAL_API uint32_t tidal_sim_cluster_health(const tidal_sim_cluster *c, int64_t lag_threshold_ns,
                                            char *buf, size_t cap) {
    static const char *const phase[5] = {"-", "copy", "seal", "switch", "done"};
    tidal_peer_health h;
    tidal_peer_health_leader *ld;
    tidal_peer_health_member *mb;
    size_t at = 0;
    uint32_t r, k, g, bad = 0, nl = c->n_groups * c->cfg.shards, nm = nl * c->cfg.regions;
    int v = tidal_sim__ctl_leader(c);
#define TIDAL_SIM__PUT(...)                                                                   \
    do {                                                                                      \
        int w_ = cap > at ? snprintf(buf + at, cap - at, __VA_ARGS__) : 0;                    \
        if (w_ > 0) at += (size_t)w_ < cap - at ? (size_t)w_ : cap - at - 1;                  \
    } while (0)
    TIDAL_SIM_ASSERT(c != NULL && (buf != NULL || !cap));
    if (cap) buf[0] = 0;
    for (k = 0; v < 0 && k < c->n; k++)
        if (c->node[k].peer) v = (int)k;
    if (v < 0) {
        TIDAL_SIM__PUT("every node is down\n");
        return c->cfg.regions;
    }
    ld = (tidal_peer_health_leader *)calloc(nl, sizeof *ld);
    mb = (tidal_peer_health_member *)calloc(nm, sizeof *mb);
    TIDAL_SIM_ASSERT(ld != NULL && mb != NULL);
    memset(&h, 0, sizeof h);
    h.leaders = ld, h.leaders_cap = nl, h.members = mb, h.members_cap = nm;
    if (tidal_peer_health_get(c->node[v].peer, &h) != TIDAL_OK) h.leader_count = 0;
    TIDAL_SIM__PUT("seen from node %u/%u\n", (uint32_t)v / c->cfg.shards,
                   (uint32_t)v % c->cfg.shards);
    for (k = 0; k < h.leader_count && k < nl; k++) {
        if (ld[k].group != 0) continue;
        if (ld[k].has_leader)
            TIDAL_SIM__PUT("shard %u: leader region %u, epoch %llu\n", ld[k].shard,
                           ld[k].leader.region, (unsigned long long)ld[k].epoch);
        else TIDAL_SIM__PUT("shard %u: no leader (election under way)\n", ld[k].shard);
    }
    for (r = 0; r < c->cfg.regions && r < h.regions; r++) {
        uint32_t lagging = 0;
        int64_t worst = 0;
        for (k = 0; k < h.member_count && k < nm; k++)
            if (mb[k].known && mb[k].node.region == r) {
                if (mb[k].lag_ns > lag_threshold_ns) lagging++;
                if (mb[k].lag_ns > worst) worst = mb[k].lag_ns;
            }
        if (h.region[r] == TIDAL_PEER_REGION_OFFLINE) {
            TIDAL_SIM__PUT("region %u: offline (%s)\n", r, h.region_why[r]);
            bad++;
        } else if (h.region[r] == TIDAL_PEER_REGION_DEGRADED || lagging) {
            TIDAL_SIM__PUT("region %u: degraded (%s%s%u lagging; worst lag %lld ms)\n", r,
                           h.region_why[r], h.region_why[r][0] ? "; " : "", lagging,
                           (long long)(worst / 1000000));
            bad++;
        } else {
            TIDAL_SIM__PUT("region %u: healthy (worst lag %lld ms)\n", r,
                           (long long)(worst / 1000000));
        }
    }
    for (g = 1; g < c->n_groups; g++) { /* groups of other placements */
        TIDAL_SIM__PUT("group %u (regions", c->groups[g].id);
        for (r = 0; r < c->cfg.regions; r++)
            if (c->groups[g].placement >> r & 1u) TIDAL_SIM__PUT(" %u", r);
        TIDAL_SIM__PUT("): leaders");
        for (k = 0; k < h.leader_count && k < nl; k++)
            if (ld[k].group == c->groups[g].id)
                TIDAL_SIM__PUT(" %d", ld[k].has_leader ? (int)ld[k].leader.region : -1);
        TIDAL_SIM__PUT("\n");
    }
    TIDAL_SIM__PUT("control plane: leader region %d, term %llu, commit %llu",
                   h.control_has_leader ? (int)h.control_leader.region : -1,
                   (unsigned long long)h.control_term,
                   (unsigned long long)h.control_commit_index);
    for (k = 0; k < c->n_ten; k++) {
        tidal_peer_tenant t;
        if (tidal_peer_tenant_get(c->node[v].peer, c->ten[k].tenant, &t) != TIDAL_OK) continue;
        TIDAL_SIM__PUT("%s tenant %u: group %u v%llu%s%s", k ? "," : ";", c->ten[k].tenant,
                       t.group, (unsigned long long)c->ten[k].version,
                       t.move_phase ? " moved:" : "",
                       t.move_phase && t.move_phase <= 4 ? phase[t.move_phase] : "");
    }
    TIDAL_SIM__PUT("\n");
#undef TIDAL_SIM__PUT
    free(ld);
    free(mb);
    return bad;
}

/* The planning notes' harness calls (>>sim_cluster_api). */

TIDAL_API tidal_db *tidal_sim_cluster_leader_db(const tidal_sim_cluster *c, uint16_t shard) {
    int l;
    TIDAL_SIM_ASSERT(c != NULL && shard < c->cfg.shards);
    l = tidal_sim_cluster_leader(c, shard);
    return l < 0 ? NULL : tidal_sim_cluster_db(c, (uint16_t)l, shard);
}

TIDAL_API tidal_db *tidal_sim_cluster_follower_in(const tidal_sim_cluster *c, uint16_t region,
                                                  uint16_t shard) {
    TIDAL_SIM_ASSERT(c != NULL && region < c->cfg.regions && shard < c->cfg.shards);
    if (tidal_sim_cluster_leader(c, shard) == (int)region) return NULL;
    return tidal_sim_cluster_db(c, region, shard);
}

/* Is shard's group converged now (see tidal_sim_cluster_converged)? */
static int tidal_sim__shard_converged(tidal_sim_cluster *c, uint16_t shard) {
    int l = tidal_sim_cluster_leader(c, shard);
    tidal_db *ldb;
    tidal_node_status sl;
    tidal_db_stats s0;
    uint8_t d0[32], d[32];
    uint16_t r;
    if (l < 0) return 0;
    ldb = tidal_sim_cluster_db(c, (uint16_t)l, shard);
    TIDAL_SIM_ASSERT(ldb != NULL); /* a leader is a live node */
    if (tidal_node_status_get(ldb, &sl) != TIDAL_OK) return 0;
    tidal_db_stats_get(ldb, &s0);
    for (r = 0; r < c->cfg.regions; r++) {
        tidal_db *db = tidal_sim_cluster_db(c, r, shard);
        tidal_node_status st;
        tidal_db_stats sr;
        if (!db || tidal_node_status_get(db, &st) != TIDAL_OK) return 0;
        if (st.epoch != sl.epoch || !st.has_leader || st.cut_off) return 0;
        if ((int)r != l && (st.lag_events || st.lag_ns)) return 0;
        tidal_db_stats_get(db, &sr);
        if (sr.events_applied != s0.events_applied) return 0;
    }
    /* The cheap conditions hold: now the state itself. */
    if (tidal_db_digest(ldb, TIDAL_ALL_TENANTS, d0) != TIDAL_OK) return 0;
    for (r = 0; r < c->cfg.regions; r++) {
        if ((int)r == l) continue;
        if (tidal_db_digest(tidal_sim_cluster_db(c, r, shard), TIDAL_ALL_TENANTS, d) != TIDAL_OK ||
            memcmp(d, d0, 32))
            return 0;
    }
    return 1;
}

TIDAL_API int tidal_sim_cluster_converged(tidal_sim_cluster *c) {
    uint16_t s;
    TIDAL_SIM_ASSERT(c != NULL);
    for (s = 0; s < c->cfg.shards; s++)
        if (!tidal_sim__shard_converged(c, s)) return 0;
    return 1;
}

TIDAL_API int tidal_sim_cluster_await_convergence(tidal_sim_cluster *c, int64_t timeout_ns,
                                                  int64_t *waited_ns) {
    int64_t t0, end;
    int ok;
    TIDAL_SIM_ASSERT(c != NULL && timeout_ns >= 0);
    t0 = c->now;
    end = timeout_ns > INT64_MAX - t0 ? INT64_MAX : t0 + timeout_ns;
    while (!(ok = tidal_sim_cluster_converged(c)) && c->now < end) {
        int64_t next = c->now + c->cfg.tick_ns;
        tidal_sim_cluster_run(c, next < end ? next : end);
    }
    if (waited_ns) *waited_ns = c->now - t0;
    return ok;
}

TIDAL_API tidal_result tidal_sim_cluster_decay_score(const tidal_sim_cluster *c, uint16_t region,
                                                     uint32_t tenant, tidal_id item,
                                                     uint32_t type, int64_t t_ns, double *score) {
    tidal_signal_stats st;
    tidal_db *db;
    tidal_result r;
    TIDAL_SIM_ASSERT(c != NULL && score != NULL && region < c->cfg.regions);
    db = tidal_sim_cluster_db(c, region, (uint16_t)tidal_route(tenant, item, c->cfg.shards));
    if (!db) return TIDAL_ERR_UNAVAILABLE;
    r = tidal_signal_read(db, tenant, item, type, NULL, t_ns, &st);
    if (r == TIDAL_OK) *score = st.score;
    return r;
}

TIDAL_API uint32_t tidal_sim_cluster_heal_all(tidal_sim_cluster *c) {
    uint32_t n = 0;
    TIDAL_SIM_ASSERT(c != NULL && c->net != NULL);
    while (c->net->n_cuts) { /* each heal removes the first cut in force */
        tidal_sim_net_heal(c->net, c->net->cuts[0].handle);
        n++;
    }
    TIDAL_SIM_ASSERT(c->net->n_cuts == 0);
    return n;
}

/* ---- Tenants and moves: control records through a peer ---- */

/* Runs until every live peer applied the control records up to index (at most 2 s). */
static void tidal_sim__await_applied(tidal_sim_cluster *c, uint64_t index) {
    int64_t end = c->now + 2 * TIDAL_NS_PER_S;
    for (;;) {
        uint32_t i, behind = 0;
        for (i = 0; i < c->n; i++) {
            tidal_peer_status st;
            behind += c->node[i].peer && tidal_peer_status_get(c->node[i].peer, &st) == TIDAL_OK &&
                      st.applied_index < index;
        }
        if (!behind || c->now >= end) return;
        tidal_sim_cluster_run(c, c->now + c->cfg.tick_ns);
    }
}

/* The node to propose through: the control leader's, else the first live voter (shard
   0), else the first live node; -1 when every node is down. */
static int tidal_sim__proposer(const tidal_sim_cluster *c) {
    int l = tidal_sim__ctl_leader(c);
    uint32_t i;
    if (l >= 0) return l;
    for (i = 0; i < c->n; i += c->cfg.shards)
        if (c->node[i].peer) return (int)i;
    for (i = 0; i < c->n; i++)
        if (c->node[i].peer) return (int)i;
    return -1;
}

/* Proposes rec (or, with rec NULL, a move of tenant to group target) through a live peer
   and runs the cluster until it committed: its index in *index. Failures that may pass
   (no leader, a timeout, the proposer crashed) are tried again for up to
   TIDAL_SIM__WAIT_NS; a refusal (FAILED) is returned as it is. */
static tidal_result tidal_sim__propose(tidal_sim_cluster *c, const tidal_control_record *rec,
                                       uint32_t tenant, uint32_t target, uint64_t *index) {
    int64_t end = c->now + TIDAL_SIM__WAIT_NS;
    tidal_peer_tenant before;
    int unsure = 0; /* an earlier try may have been taken (UNKNOWN, or the proposer died) */
    TIDAL_SIM_ASSERT(index != NULL);
    (void)tidal_sim__view(c, tenant, &before);
    while (c->now < end) {
        int i = tidal_sim__proposer(c);
        tidal_peer_completion d;
        uint64_t t = 0;
        tidal_result r;
        if (i < 0) {
            tidal_sim_cluster_run(c, c->now + 100 * TIDAL_SIM__MS);
            continue;
        }
        r = rec ? tidal_peer_propose(c->node[i].peer, rec, &t)
                : tidal_peer_move(c->node[i].peer, tenant, target, &t);
        if (r != TIDAL_OK) return r;
        if (!tidal_sim_cluster_await(c, (uint16_t)((uint32_t)i / c->cfg.shards),
                                     (uint16_t)((uint32_t)i % c->cfg.shards), t,
                                     5 * TIDAL_NS_PER_S, &d)) {
            unsure = 1;
            continue; /* the proposer went down: again elsewhere */
        }
        if (d.outcome == TIDAL_PEER_DONE_OK) {
            *index = d.index;
            tidal_sim__await_applied(c, d.index);
            return TIDAL_OK;
        }
        if (!rec && d.outcome == TIDAL_PEER_DONE_FAILED && d.result == TIDAL_ERR_LIMIT && unsure) {
            tidal_peer_tenant now; /* an earlier try that timed out may have started it */
            if (tidal_sim__view(c, tenant, &now) == TIDAL_OK && now.move_index &&
                now.move_index != before.move_index && now.move_target == target) {
                *index = now.move_index;
                tidal_sim__await_applied(c, now.move_index);
                return TIDAL_OK;
            }
            tidal_sim_cluster_run(c, c->now + 100 * TIDAL_SIM__MS); /* not committed yet */
            continue;
        }
        unsure |= d.outcome == TIDAL_PEER_DONE_UNKNOWN;
        /* NOT_FOUND for a proposal: it can never commit (superseded by a new leader's log):
           propose again; for a move too when it says so (else the tenant has no placement) */
        if (d.outcome == TIDAL_PEER_DONE_FAILED && d.result != TIDAL_ERR_UNAVAILABLE &&
            !(d.result == TIDAL_ERR_NOT_FOUND && (rec || strstr(d.message, "superseded"))))
            return d.result;
        tidal_sim_cluster_run(c, c->now + 100 * TIDAL_SIM__MS); /* no leader yet: wait */
    }
    return TIDAL_ERR_UNAVAILABLE;
}

TIDAL_API tidal_result tidal_sim_cluster_tenant_set(tidal_sim_cluster *c,
                                                    const tidal_tenant_config *cfg) {
    tidal_control_record rec;
    tidal_peer_tenant v;
    uint64_t index = 0;
    tidal_result r;
    int k, g;
    if (!cfg) return TIDAL_ERR_INVALID;
    k = tidal_sim__ten_find(c, cfg->tenant);
    if (k < 0 && c->n_ten == TIDAL_SIM_TENANTS_MAX) return TIDAL_ERR_LIMIT;
    if (!c->topology) {
        memset(&rec, 0, sizeof rec);
        rec.kind = TIDAL_CONTROL_TOPOLOGY;
        rec.regions = c->cfg.regions;
        rec.shards = c->cfg.shards;
        if ((r = tidal_sim__propose(c, &rec, 0, 0, &index)) != TIDAL_OK) return r;
        c->topology = 1;
    }
    if (tidal_sim__view(c, cfg->tenant, &v) != TIDAL_OK || !v.has_placement) {
        g = tidal_sim_cluster_group_add(c, cfg->placement ? cfg->placement : tidal_sim__all(c));
        if (g < 0) return TIDAL_ERR_UNAVAILABLE;
        memset(&rec, 0, sizeof rec);
        rec.kind = TIDAL_CONTROL_PLACEMENT;
        rec.tenant = cfg->tenant;
        rec.group = (uint32_t)g;
        rec.placement = tidal_sim_cluster_group_placement(c, (uint32_t)g);
        if ((r = tidal_sim__propose(c, &rec, 0, 0, &index)) != TIDAL_OK) return r;
        v.group = rec.group;
        v.placement = rec.placement;
    }
    memset(&rec, 0, sizeof rec);
    rec.kind = TIDAL_CONTROL_TENANT;
    rec.tenant = cfg->tenant;
    rec.placement = v.placement;
    rec.state = cfg->state;
    rec.rate_per_s = cfg->rate_per_s;
    rec.burst = cfg->burst;
    rec.entity_quota = cfg->entity_quota;
    if ((r = tidal_sim__propose(c, &rec, 0, 0, &index)) != TIDAL_OK) return r;
    if (k < 0) {
        k = (int)c->n_ten++;
        memset(&c->ten[k], 0, sizeof c->ten[k]);
        c->ten[k].tenant = cfg->tenant;
    }
    if (index > c->ten[k].version) c->ten[k].version = index;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_sim_cluster_migrate(tidal_sim_cluster *c, uint32_t tenant,
                                                 uint32_t placement) {
    int k = tidal_sim__ten_find(c, tenant), g;
    tidal_peer_tenant v;
    int64_t start = c->now;
    uint64_t index = 0;
    tidal_result r;
    if (k < 0 || tidal_sim__view(c, tenant, &v) != TIDAL_OK || !v.has_placement)
        return TIDAL_ERR_NOT_FOUND;
    if (v.move_phase && v.move_phase != TIDAL_CONTROL_PHASE_DONE) return TIDAL_ERR_LIMIT;
    if ((g = tidal_sim_cluster_group_add(c, placement)) < 0) return TIDAL_ERR_UNAVAILABLE;
    if ((uint32_t)g == v.group) return TIDAL_OK;
    r = tidal_sim__propose(c, NULL, tenant, (uint32_t)g, &index);
    if (r != TIDAL_OK) return r;
    if (c->ten[k].move != index) {
        c->ten[k].move = index;
        c->ten[k].switch_ns = c->ten[k].done_ns = 0;
    }
    c->ten[k].start_ns = start;
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_sim_cluster_tenant(const tidal_sim_cluster *c, uint32_t tenant,
                                                tidal_sim_tenant_info *out) {
    int k = tidal_sim__ten_find(c, tenant);
    tidal_peer_tenant v;
    uint32_t i;
    if (!out) return TIDAL_ERR_INVALID;
    memset(out, 0, sizeof *out);
    if (k < 0) return TIDAL_ERR_NOT_FOUND;
    if (tidal_sim__view(c, tenant, &v) != TIDAL_OK) return TIDAL_ERR_UNAVAILABLE;
    out->group = v.group;
    out->placement = v.placement;
    out->version = c->ten[k].version;
    out->phase = (int)v.move_phase;
    out->target = v.move_phase >= TIDAL_CONTROL_PHASE_SWITCH ? v.move_source : v.move_target;
    out->start_ns = c->ten[k].start_ns;
    out->switch_ns = c->ten[k].switch_ns;
    out->done_ns = c->ten[k].done_ns;
    out->copies = c->copies_closed;
    out->forwarded = c->forwarded_closed;
    for (i = 0; i < c->n; i++) {
        tidal_peer_move_info mi;
        if (c->node[i].peer && tidal_peer_move_status(c->node[i].peer, tenant, &mi) == TIDAL_OK) {
            out->copies += mi.copies;
            out->forwarded += mi.events_forwarded;
        }
    }
    out->coordinator_restarts = c->ctl_restarts;
    return TIDAL_OK;
}

TIDAL_API uint32_t tidal_sim_cluster_tenant_group(const tidal_sim_cluster *c, uint32_t tenant) {
    tidal_peer_tenant v;
    return tidal_sim__view(c, tenant, &v) == TIDAL_OK && v.has_placement ? v.group : 0;
}

TIDAL_API tidal_db *tidal_sim_cluster_tenant_db(const tidal_sim_cluster *c, uint32_t tenant,
                                                uint16_t region, uint16_t shard) {
    return tidal_sim_cluster_group_db(c, tidal_sim_cluster_tenant_group(c, tenant), region, shard);
}

TIDAL_API int tidal_sim_cluster_tenant_leader(const tidal_sim_cluster *c, uint32_t tenant,
                                              uint16_t shard) {
    return tidal_sim_cluster_group_leader(c, tidal_sim_cluster_tenant_group(c, tenant), shard);
}

static tidal_result tidal_sim__truth(tidal_sim_cluster *c, uint32_t group,
                                     int (*keep)(void *ctx, tidal_event_id id), void *ctx,
                                     tidal_db **out) {
    tidal_config cfg;
    tidal_result r;
    uint32_t k;
    TIDAL_SIM_ASSERT(out != NULL && c->n_pending == 0);
    *out = NULL;
    if (!c->truth_disk) {
        c->truth_disk = tidal_sim_disk_new(tidal_sim__mix(c->cfg.seed ^ UINT64_C(0x7275746800)));
        tidal_sim_env_init(&c->truth_env, c->truth_disk, c->now, tidal_sim__mix(c->cfg.seed ^ 0x7472));
    }
    c->truth_env.now_ns = c->now;
    memset(&cfg, 0, sizeof cfg);
    cfg.env = &c->truth_env.env;
    cfg.schema = c->cfg.schema;
    cfg.node.region = 0xFFFF; /* not a cluster node */
    if ((r = tidal_db_open(&cfg, out)) != TIDAL_OK) return r;
    for (k = 0; k < c->n_ev; k++) {
        const uint8_t *p = c->ev_bytes + c->ev_at[2 * k];
        size_t len = (size_t)c->ev_at[2 * k + 1];
        tidal_event_id id;
        if (group != TIDAL_SIM__GROUP_NONE && c->ev_group[k] != group) continue;
        id.hi = tidal_sim__get64(p + 5);
        id.lo = tidal_sim__get64(p + 13);
        if (keep && !keep(ctx, id)) continue;
        if ((r = tidal_event_import(*out, p, len, NULL)) != TIDAL_OK) {
            tidal_db_close(*out);
            *out = NULL;
            return r;
        }
    }
    return TIDAL_OK;
}

TIDAL_API tidal_result tidal_sim_cluster_truth(tidal_sim_cluster *c,
                                               int (*keep)(void *ctx, tidal_event_id id),
                                               void *ctx, tidal_db **out) {
    return tidal_sim__truth(c, TIDAL_SIM__GROUP_NONE, keep, ctx, out); /* every group */
}

TIDAL_API tidal_result tidal_sim_cluster_group_truth(tidal_sim_cluster *c, uint32_t group,
                                                     int (*keep)(void *ctx, tidal_event_id id),
                                                     void *ctx, tidal_db **out) {
    TIDAL_SIM_ASSERT(group != TIDAL_SIM_CONTROL_GROUP);
    return tidal_sim__truth(c, group, keep, ctx, out);
}


// >>sim_check
// The oracle (DESIGN 6): records in one growing array, an open-addressed map from event id
// to origin record, a sorted index of signal origins by (tenant, item, type) rebuilt when
// records were added since, and the list of hide/unhide/forget origins. The checks read
// tidal_db handles only (public calls: tidal_event_is_applied, tidal_signal_read,
// tidal_negative_check, tidal_retrieve, tidal_db_digest, tidal_db_stats_get).

typedef struct tidal_sim__okey {
    uint32_t tenant, type, idx;
    uint16_t shard; /* the record's (a scope by shard skips others without reading them) */
    tidal_id entity;
} tidal_sim__okey;

typedef struct tidal_sim__oslot {
    uint64_t hi, lo;
    uint32_t idx; /* UINT32_MAX: empty */
} tidal_sim__oslot;

struct tidal_sim_oracle {
    tidal_sim_op *ops;
    uint32_t n, cap;
    uint16_t regions, shards;
    uint32_t n_types;
    double half_life_s[TIDAL_SIGNAL_TYPES_MAX];
    tidal_sim__oslot *map;
    uint32_t map_cap, map_n;
    tidal_sim__okey *keys; /* signal origins sorted by (tenant, entity, type, idx) */
    uint32_t n_keys, cap_keys;
    uint32_t keys_upto;   /* records looked at by the last rebuild */
    uint32_t *negs;       /* hide, unhide and forget origins */
    uint32_t n_negs, cap_negs;
    uint32_t *lifts;      /* of those, the unhides and forgets */
    uint32_t n_lifts, cap_lifts;
    uint32_t **by_shard;  /* per shard: its records with an id, in order */
    uint32_t *n_by_shard, *cap_by_shard;
    struct tidal_sim__hkey *hides; /* hide origins by (tenant, user, item) */
    uint32_t n_hides, cap_hides;
    uint32_t hides_upto;  /* negs looked at by the last rebuild */
    uint64_t wipe_seq;
    uint64_t *last_wipe;  /* per node (region * shards + shard): wipe_seq of its last wipe */
    void (*report)(void *ctx, const char *check, const char *msg);
    void *report_ctx;
};

static uint32_t tidal_sim__oid_hash(tidal_event_id id, uint32_t cap) {
    uint64_t s = id.hi ^ (id.lo * UINT64_C(0x9E3779B97F4A7C15));
    return (uint32_t)(tidal_sim__next(&s) & (uint64_t)(cap - 1));
}

static int tidal_sim__oid_none(tidal_event_id id) { return id.hi == 0 && id.lo == 0; }

static int64_t tidal_sim__omap_get(const tidal_sim_oracle *o, tidal_event_id id) {
    uint32_t h;
    if (!o->map_cap || tidal_sim__oid_none(id)) return -1;
    for (h = tidal_sim__oid_hash(id, o->map_cap);; h = (h + 1) & (o->map_cap - 1)) {
        const tidal_sim__oslot *s = &o->map[h];
        if (s->idx == UINT32_MAX) return -1;
        if (s->hi == id.hi && s->lo == id.lo) return (int64_t)s->idx;
    }
}

static void tidal_sim__omap_put(tidal_sim_oracle *o, tidal_event_id id, uint32_t idx) {
    uint32_t h, i;
    TIDAL_SIM_ASSERT(!tidal_sim__oid_none(id));
    if ((o->map_n + 1) * 2 > o->map_cap) { /* grow: at most half full */
        tidal_sim__oslot *old = o->map;
        uint32_t old_cap = o->map_cap;
        o->map_cap = old_cap ? old_cap * 2 : 1024;
        o->map = (tidal_sim__oslot *)tidal_sim__alloc(o->map_cap * sizeof *o->map);
        for (i = 0; i < o->map_cap; i++) o->map[i].idx = UINT32_MAX;
        o->map_n = 0;
        for (i = 0; i < old_cap; i++)
            if (old[i].idx != UINT32_MAX) {
                tidal_event_id k;
                k.hi = old[i].hi;
                k.lo = old[i].lo;
                tidal_sim__omap_put(o, k, old[i].idx);
            }
        free(old);
    }
    for (h = tidal_sim__oid_hash(id, o->map_cap); o->map[h].idx != UINT32_MAX;
         h = (h + 1) & (o->map_cap - 1))
        TIDAL_SIM_ASSERT(o->map[h].hi != id.hi || o->map[h].lo != id.lo);
    o->map[h].hi = id.hi;
    o->map[h].lo = id.lo;
    o->map[h].idx = idx;
    o->map_n++;
}

TIDAL_API tidal_sim_oracle *tidal_sim_oracle_new(const tidal_schema *schema, uint16_t regions,
                                                 uint16_t shards) {
    tidal_sim_oracle *o = (tidal_sim_oracle *)tidal_sim__alloc(sizeof *o);
    uint32_t t;
    TIDAL_SIM_ASSERT(schema && schema->signal_count <= TIDAL_SIGNAL_TYPES_MAX);
    TIDAL_SIM_ASSERT(regions > 0 && shards > 0);
    memset(o, 0, sizeof *o);
    o->regions = regions;
    o->shards = shards;
    o->n_types = schema->signal_count;
    for (t = 0; t < o->n_types; t++) o->half_life_s[t] = schema->signals[t].half_life_s;
    o->last_wipe = (uint64_t *)tidal_sim__alloc((size_t)regions * shards * sizeof(uint64_t));
    memset(o->last_wipe, 0, (size_t)regions * shards * sizeof(uint64_t));
    o->by_shard = (uint32_t **)tidal_sim__alloc(shards * sizeof *o->by_shard);
    o->n_by_shard = (uint32_t *)tidal_sim__alloc(shards * sizeof(uint32_t));
    o->cap_by_shard = (uint32_t *)tidal_sim__alloc(shards * sizeof(uint32_t));
    for (t = 0; t < shards; t++) {
        o->by_shard[t] = NULL;
        o->n_by_shard[t] = o->cap_by_shard[t] = 0;
    }
    return o;
}

TIDAL_API void tidal_sim_oracle_free(tidal_sim_oracle *o) {
    uint32_t k;
    if (!o) return;
    free(o->ops);
    free(o->map);
    free(o->keys);
    free(o->negs);
    free(o->lifts);
    free(o->hides);
    free(o->last_wipe);
    for (k = 0; k < o->shards; k++) free(o->by_shard[k]);
    free(o->by_shard);
    free(o->n_by_shard);
    free(o->cap_by_shard);
    free(o);
}

TIDAL_API void tidal_sim_oracle_set_report(tidal_sim_oracle *o,
                                           void (*fn)(void *ctx, const char *check,
                                                      const char *msg),
                                           void *ctx) {
    TIDAL_SIM_ASSERT(o != NULL);
    o->report = fn;
    o->report_ctx = ctx;
}

/* Gives record i's id an origin: itself when new, else the first record of the id. */
static void tidal_sim__oracle_index(tidal_sim_oracle *o, uint32_t i) {
    tidal_sim_op *op = &o->ops[i];
    int64_t f;
    TIDAL_SIM_ASSERT(i < o->n);
    op->orig = i;
    if (tidal_sim__oid_none(op->id)) return;
    {
        uint16_t sh = op->shard;
        o->by_shard[sh] = (uint32_t *)tidal_sim__reserve(o->by_shard[sh], &o->cap_by_shard[sh],
                                                         o->n_by_shard[sh] + 1, sizeof(uint32_t));
        o->by_shard[sh][o->n_by_shard[sh]++] = i; /* records get an id once: in index order */
    }
    f = tidal_sim__omap_get(o, op->id);
    if (f >= 0) {
        op->orig = (uint32_t)f;
        return;
    }
    tidal_sim__omap_put(o, op->id, i);
    if (op->kind == TIDAL_SIM_OP_HIDE || op->kind == TIDAL_SIM_OP_UNHIDE ||
        op->kind == TIDAL_SIM_OP_FORGET) {
        o->negs = (uint32_t *)tidal_sim__reserve(o->negs, &o->cap_negs, o->n_negs + 1,
                                                 sizeof *o->negs);
        o->negs[o->n_negs++] = i;
        if (op->kind != TIDAL_SIM_OP_HIDE) {
            o->lifts = (uint32_t *)tidal_sim__reserve(o->lifts, &o->cap_lifts, o->n_lifts + 1,
                                                      sizeof *o->lifts);
            o->lifts[o->n_lifts++] = i;
        }
    }
}

TIDAL_API uint32_t tidal_sim_oracle_record(tidal_sim_oracle *o, const tidal_sim_op *op) {
    tidal_sim_op *r;
    TIDAL_SIM_ASSERT(o != NULL && op != NULL && op->kind <= TIDAL_SIM_OP_OTHER);
    TIDAL_SIM_ASSERT(op->outcome <= TIDAL_SIM_UNKNOWN && op->shard < o->shards);
    o->ops = (tidal_sim_op *)tidal_sim__reserve(o->ops, &o->cap, o->n + 1, sizeof *o->ops);
    r = &o->ops[o->n++];
    *r = *op;
    if (r->outcome == TIDAL_SIM_OK && r->level == 0) r->level = TIDAL_ACK_LOCAL;
    r->wipe_seq = o->wipe_seq;
    r->truth = 0;
    tidal_sim__oracle_index(o, o->n - 1);
    if (r->outcome == TIDAL_SIM_OK) {
        r->truth = 1;
        o->ops[r->orig].truth = 1;
    }
    return o->n - 1;
}

TIDAL_API void tidal_sim_oracle_settle(tidal_sim_oracle *o, uint32_t i, uint32_t outcome,
                                       uint32_t level, const tidal_event_id *id) {
    tidal_sim_op *r;
    TIDAL_SIM_ASSERT(o != NULL && i < o->n && outcome <= TIDAL_SIM_UNKNOWN);
    r = &o->ops[i];
    if (id && !tidal_sim__oid_none(*id) && tidal_sim__oid_none(r->id)) {
        r->id = *id;
        tidal_sim__oracle_index(o, i);
        o->keys_upto = o->keys_upto < i ? o->keys_upto : 0; /* a new origin: re-index */
    }
    TIDAL_SIM_ASSERT(!id || tidal_sim__oid_none(*id) || (id->hi == r->id.hi && id->lo == r->id.lo));
    r->outcome = outcome;
    if (outcome == TIDAL_SIM_OK) {
        r->level = level ? level : TIDAL_ACK_LOCAL;
        r->truth = 1;
        o->ops[r->orig].truth = 1;
    }
}

TIDAL_API tidal_sim_op *tidal_sim_oracle_op(tidal_sim_oracle *o, uint32_t i) {
    TIDAL_SIM_ASSERT(o != NULL && i < o->n);
    return &o->ops[i];
}

TIDAL_API uint32_t tidal_sim_oracle_count(const tidal_sim_oracle *o) { return o ? o->n : 0; }

TIDAL_API int64_t tidal_sim_oracle_find(const tidal_sim_oracle *o, tidal_event_id id) {
    TIDAL_SIM_ASSERT(o != NULL);
    return tidal_sim__omap_get(o, id);
}

TIDAL_API void tidal_sim_oracle_wipe(tidal_sim_oracle *o, uint16_t region, uint16_t shard) {
    TIDAL_SIM_ASSERT(o != NULL && region < o->regions && shard < o->shards);
    o->last_wipe[(uint32_t)region * o->shards + shard] = ++o->wipe_seq;
}

TIDAL_API uint32_t tidal_sim_oracle_wiped_since(const tidal_sim_oracle *o, uint32_t i) {
    const tidal_sim_op *f;
    uint32_t r, k = 0;
    TIDAL_SIM_ASSERT(o != NULL && i < o->n);
    f = &o->ops[o->ops[i].orig];
    for (r = 0; r < o->regions; r++) k += o->last_wipe[r * o->shards + f->shard] > f->wipe_seq;
    return k;
}

TIDAL_API int tidal_sim_oracle_node_wiped(const tidal_sim_oracle *o, uint32_t i, uint16_t region,
                                          uint16_t shard) {
    TIDAL_SIM_ASSERT(o != NULL && i < o->n);
    TIDAL_SIM_ASSERT(region < o->regions && shard < o->shards);
    return o->last_wipe[(uint32_t)region * o->shards + shard] > o->ops[i].wipe_seq;
}

TIDAL_API int tidal_sim_oracle_within_budget(const tidal_sim_oracle *o, uint32_t i) {
    const tidal_sim_op *op;
    TIDAL_SIM_ASSERT(o != NULL && i < o->n);
    op = &o->ops[i];
    if (op->outcome != TIDAL_SIM_OK) return 0;
    if (op->level == TIDAL_ACK_QUORUM && tidal_sim_oracle_wiped_since(o, i) * 2 < o->regions)
        return 1;
    return o->last_wipe[(uint32_t)op->region * o->shards + op->shard] <= op->wipe_seq;
}

static int tidal_sim__in_scope(const tidal_sim_scope *sc, const tidal_sim_op *op) {
    if (!sc) return 1;
    if (sc->by_tenant && op->tenant != sc->tenant) return 0;
    if (sc->by_shard && op->shard != sc->shard) return 0;
    return !sc->keep || sc->keep(sc->ctx, op);
}

static int tidal_sim__okey_cmp(const void *a, const void *b) {
    const tidal_sim__okey *x = (const tidal_sim__okey *)a, *y = (const tidal_sim__okey *)b;
    if (x->tenant != y->tenant) return x->tenant < y->tenant ? -1 : 1;
    if (x->entity != y->entity) return x->entity < y->entity ? -1 : 1;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The index of signal origins, brought up to date. */
static void tidal_sim__oracle_keys(tidal_sim_oracle *o) {
    uint32_t i, start = o->n_keys;
    TIDAL_SIM_ASSERT(o->keys_upto <= o->n);
    if (o->keys_upto == o->n) return;
    if (o->keys_upto == 0) start = o->n_keys = 0;
    for (i = o->keys_upto; i < o->n; i++) {
        const tidal_sim_op *op = &o->ops[i];
        tidal_sim__okey *k;
        if (op->kind != TIDAL_SIM_OP_SIGNAL || op->orig != i) continue;
        o->keys = (tidal_sim__okey *)tidal_sim__reserve(o->keys, &o->cap_keys, o->n_keys + 1,
                                                        sizeof *o->keys);
        k = &o->keys[o->n_keys++];
        k->tenant = op->tenant;
        k->entity = op->entity;
        k->type = op->type;
        k->shard = op->shard;
        k->idx = i;
    }
    /* sorted already up to start: sort the new ones, then merge the two runs */
    if (o->n_keys > start) {
        uint32_t a = 0, b = start, w = 0, n_new = o->n_keys - start;
        tidal_sim__okey *tmp;
        qsort(o->keys + start, n_new, sizeof *o->keys, tidal_sim__okey_cmp);
        if (start && tidal_sim__okey_cmp(&o->keys[start - 1], &o->keys[start]) > 0) {
            tmp = (tidal_sim__okey *)tidal_sim__alloc((size_t)o->n_keys * sizeof *tmp);
            while (a < start || b < o->n_keys)
                tmp[w++] = b == o->n_keys ||
                                   (a < start && tidal_sim__okey_cmp(&o->keys[a], &o->keys[b]) < 0)
                               ? o->keys[a++]
                               : o->keys[b++];
            memcpy(o->keys, tmp, (size_t)o->n_keys * sizeof *tmp);
            free(tmp);
        }
    }
    TIDAL_SIM_ASSERT(o->n_keys <= o->n);
    o->keys_upto = o->n;
}

/* The first key of (tenant, entity, type) or later. */
static uint32_t tidal_sim__okey_lower(const tidal_sim_oracle *o, uint32_t tenant, tidal_id entity,
                                      uint32_t type) {
    uint32_t lo = 0, hi = o->n_keys;
    tidal_sim__okey k;
    k.tenant = tenant;
    k.entity = entity;
    k.type = type;
    k.idx = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tidal_sim__okey_cmp(&o->keys[mid], &k) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static long double tidal_sim__decayed(const tidal_sim_oracle *o, const tidal_sim_op *op,
                                      int64_t t_ns) {
    long double h = (long double)o->half_life_s[op->type < o->n_types ? op->type : 0] * 1e9L;
    return (long double)op->weight * exp2l(-(long double)(t_ns - op->time_ns) / h);
}

TIDAL_API uint64_t tidal_sim_oracle_events(tidal_sim_oracle *o, const tidal_sim_scope *sc,
                                           uint64_t *signals) {
    uint64_t n = 0, s = 0;
    uint32_t i;
    TIDAL_SIM_ASSERT(o != NULL);
    for (i = 0; i < o->n; i++) {
        const tidal_sim_op *op = &o->ops[i];
        if (op->orig != i || !op->truth || tidal_sim__oid_none(op->id) ||
            !tidal_sim__in_scope(sc, op))
            continue;
        n++;
        s += op->kind == TIDAL_SIM_OP_SIGNAL;
    }
    if (signals) *signals = s;
    return n;
}

TIDAL_API long double tidal_sim_oracle_score(tidal_sim_oracle *o, uint32_t tenant, tidal_id item,
                                             uint32_t type, uint32_t mark, int64_t t_ns,
                                             uint64_t *count) {
    long double sum = 0;
    uint64_t c = 0;
    uint32_t k;
    TIDAL_SIM_ASSERT(o != NULL);
    tidal_sim__oracle_keys(o);
    for (k = tidal_sim__okey_lower(o, tenant, item, type);
         k < o->n_keys && o->keys[k].tenant == tenant && o->keys[k].entity == item &&
         o->keys[k].type == type;
         k++) {
        const tidal_sim_op *op = &o->ops[o->keys[k].idx];
        if (!op->truth || (mark && !(op->mark & mark))) continue;
        sum += tidal_sim__decayed(o, op, t_ns);
        c++;
    }
    if (count) *count = c;
    return sum;
}

TIDAL_API uint64_t tidal_sim_oracle_signals(tidal_sim_oracle *o, uint32_t tenant, tidal_id item,
                                            uint32_t type, uint32_t mark) {
    uint64_t c = 0;
    uint32_t k;
    TIDAL_SIM_ASSERT(o != NULL);
    tidal_sim__oracle_keys(o);
    for (k = tidal_sim__okey_lower(o, tenant, item, type);
         k < o->n_keys && o->keys[k].tenant == tenant && o->keys[k].entity == item &&
         o->keys[k].type == type;
         k++) {
        const tidal_sim_op *op = &o->ops[o->keys[k].idx];
        c += op->truth && (!mark || (op->mark & mark));
    }
    return c;
}

TIDAL_API int tidal_sim_oracle_hide_lifted(tidal_sim_oracle *o, tidal_db *db, uint32_t tenant,
                                           tidal_id user, tidal_id item) {
    uint32_t k;
    TIDAL_SIM_ASSERT(o != NULL);
    for (k = 0; k < o->n_lifts; k++) {
        const tidal_sim_op *op = &o->ops[o->lifts[k]];
        if (op->tenant != tenant || op->user != user) continue;
        if (op->kind != TIDAL_SIM_OP_FORGET && op->entity != item) continue; /* an unhide */
        if (tidal_event_is_applied(db, op->id)) return 1;
    }
    return 0;
}

/* ---- reporting ---- */

typedef struct tidal_sim__rep {
    tidal_sim_oracle *o;
    const char *check; /* of the first failure (the summary's) */
    uint32_t n;
    char who[64];      /* how messages name the member checked */
} tidal_sim__rep;

/* How messages name a member: "node (region, shard) group g", or the ground truth (region
   0xFFFF: not a cluster node). */
static void tidal_sim__who(const tidal_sim_member *m, char *buf, size_t cap) {
    TIDAL_SIM_ASSERT(m != NULL && cap >= 16);
    if (m->region == 0xFFFF) snprintf(buf, cap, "the ground truth (shard %u)", (unsigned)m->shard);
    else
        snprintf(buf, cap, "node (%u, %u) group %u", (unsigned)m->region, (unsigned)m->shard,
                 m->group);
}

static void tidal_sim__rep_init(tidal_sim__rep *rp, tidal_sim_oracle *o,
                                const tidal_sim_member *m) {
    TIDAL_SIM_ASSERT(rp != NULL && o != NULL);
    rp->o = o;
    rp->check = "";
    rp->n = 0;
    rp->who[0] = 0;
    if (m) tidal_sim__who(m, rp->who, sizeof rp->who);
}

static void tidal_sim__fail(tidal_sim__rep *rp, const char *check, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void tidal_sim__fail(tidal_sim__rep *rp, const char *check, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    if (!rp->n) rp->check = check;
    if (rp->n++ >= TIDAL_SIM_CHECK_REPORT_MAX || !rp->o->report) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp->o->report(rp->o->report_ctx, check, msg);
}

/* The closing line when more failed than were described. */
static uint32_t tidal_sim__rep_end(tidal_sim__rep *rp) {
    char msg[200];
    if (rp->n > TIDAL_SIM_CHECK_REPORT_MAX && rp->o->report) {
        snprintf(msg, sizeof msg, "%s: %u failures in all (%u described)", rp->who, rp->n,
                 (unsigned)TIDAL_SIM_CHECK_REPORT_MAX);
        rp->o->report(rp->o->report_ctx, rp->check, msg);
    }
    return rp->n;
}

static const char *tidal_sim__kind_name(uint32_t kind) {
    static const char *const names[5] = {"signal", "hide", "unhide", "forget", "write"};
    return kind < 5 ? names[kind] : "?";
}

static const char *tidal_sim__ack_name(uint32_t level) {
    return level == TIDAL_ACK_QUORUM ? "QUORUM" : "LOCAL";
}

/* ---- the checks ---- */

/* The records a scoped check walks: those of the scope's shard (by_shard) or all. */
static uint32_t tidal_sim__scan_n(const tidal_sim_oracle *o, const tidal_sim_scope *sc) {
    return sc && sc->by_shard ? o->n_by_shard[sc->shard] : o->n;
}
static uint32_t tidal_sim__scan_at(const tidal_sim_oracle *o, const tidal_sim_scope *sc,
                                   uint32_t j) {
    TIDAL_SIM_ASSERT(j < tidal_sim__scan_n(o, sc));
    return sc && sc->by_shard ? o->by_shard[sc->shard][j] : j;
}

TIDAL_API uint32_t tidal_sim_check_acked(tidal_sim_oracle *o, const tidal_sim_member *m,
                                         const tidal_sim_scope *sc, uint32_t min_level) {
    tidal_sim__rep rp;
    uint32_t j;
    TIDAL_SIM_ASSERT(o != NULL && m != NULL);
    TIDAL_SIM_ASSERT(min_level == TIDAL_ACK_LOCAL || min_level == TIDAL_ACK_QUORUM);
    tidal_sim__rep_init(&rp, o, m);
    for (j = 0; j < tidal_sim__scan_n(o, sc); j++) {
        uint32_t i = tidal_sim__scan_at(o, sc, j);
        const tidal_sim_op *op = &o->ops[i];
        int quorum;
        if (op->outcome != TIDAL_SIM_OK || tidal_sim__oid_none(op->id)) continue;
        if (min_level == TIDAL_ACK_QUORUM && op->level != TIDAL_ACK_QUORUM) continue;
        if (!tidal_sim__in_scope(sc, op) || !tidal_sim_oracle_within_budget(o, i)) continue;
        if (m->db && tidal_event_is_applied(m->db, op->id)) continue;
        quorum = op->level == TIDAL_ACK_QUORUM &&
                 tidal_sim_oracle_wiped_since(o, i) * 2 < o->regions;
        tidal_sim__fail(&rp, quorum ? "quorum_lost" : "local_lost",
                        "%s lacks event %016llx:%016llx (a %s: tenant %u, item %llu, user "
                        "%llu), %s-acknowledged by node (%u, %u) group %u%s",
                        rp.who, (unsigned long long)op->id.hi, (unsigned long long)op->id.lo,
                        tidal_sim__kind_name(op->kind), op->tenant,
                        (unsigned long long)op->entity, (unsigned long long)op->user,
                        tidal_sim__ack_name(op->level), (unsigned)op->region,
                        (unsigned)op->shard, op->group, m->db ? "" : ": the node is down");
    }
    return tidal_sim__rep_end(&rp);
}

TIDAL_API uint32_t tidal_sim_check_known(tidal_sim_oracle *o, const tidal_sim_member *m,
                                         const tidal_sim_scope *sc, uint64_t extra) {
    tidal_sim__rep rp;
    tidal_db_stats st;
    uint64_t known = 0, own;
    uint32_t j;
    TIDAL_SIM_ASSERT(o != NULL && m != NULL);
    tidal_sim__rep_init(&rp, o, m);
    if (!m->db) {
        tidal_sim__fail(&rp, "events_applied", "%s is down", rp.who);
        return rp.n;
    }
    for (j = 0; j < tidal_sim__scan_n(o, sc); j++) {
        uint32_t i = tidal_sim__scan_at(o, sc, j);
        const tidal_sim_op *op = &o->ops[i];
        if (op->orig != i || tidal_sim__oid_none(op->id) || !tidal_sim__in_scope(sc, op)) continue;
        known += (uint64_t)tidal_event_is_applied(m->db, op->id);
    }
    tidal_db_stats_get(m->db, &st);
    TIDAL_SIM_ASSERT(st.events_internal <= st.events_applied);
    own = st.events_applied - st.events_internal;
    if (own != known + extra)
        tidal_sim__fail(&rp, "events_applied",
                        "%s applied %llu events (+ %llu epoch markers), the "
                        "oracle knows %llu of them (+ %llu accounted by the caller): %s",
                        rp.who, (unsigned long long)own,
                        (unsigned long long)st.events_internal, (unsigned long long)known,
                        (unsigned long long)extra,
                        own > known + extra ? "events nobody invoked, or one applied twice"
                                            : "the count misses events it holds");
    return rp.n;
}

/* One (tenant, item, type) on m: keys [k0, k1) of the index (none: expect nothing). */
static void tidal_sim__check_one(tidal_sim_oracle *o, const tidal_sim_member *m,
                                 const tidal_sim_scope *sc, int64_t t_ns, int mode,
                                 const tidal_tag *cohort, uint32_t cohort_mark, uint32_t tenant,
                                 tidal_id item, uint32_t type, uint32_t k0, uint32_t k1,
                                 tidal_sim__rep *rp) {
    long double sum = 0, sum_c = 0;
    uint64_t want = 0, ids = 0;
    tidal_signal_stats st;
    tidal_result r;
    uint32_t k;
    const char *first = "";
    char idbuf[48];
    TIDAL_SIM_ASSERT(k0 <= k1 && k1 <= o->n_keys);
    TIDAL_SIM_ASSERT(m->db != NULL && type < o->n_types);
    for (k = k0; k < k1; k++) {
        const tidal_sim_op *op = &o->ops[o->keys[k].idx];
        int counted;
        if (!tidal_sim__in_scope(sc, op)) continue;
        ids++;
        counted = (mode & 1) == TIDAL_SIM_COUNT_APPLIED ? tidal_event_is_applied(m->db, op->id)
                                                        : (int)op->truth;
        if (!counted) continue;
        want++;
        if (!(mode & TIDAL_SIM_COUNT_ONLY)) {
            long double v = tidal_sim__decayed(o, op, t_ns);
            sum += v;
            if (op->mark & cohort_mark) sum_c += v;
        }
    }
    if (k0 < k1) {
        const tidal_sim_op *op = &o->ops[o->keys[k0].idx];
        snprintf(idbuf, sizeof idbuf, "%016llx:%016llx", (unsigned long long)op->id.hi,
                 (unsigned long long)op->id.lo);
        first = idbuf;
    }
    if (k0 < k1 && !ids) return; /* out of scope */
    r = tidal_signal_read(m->db, tenant, item, type, NULL, t_ns, &st);
    if (r != TIDAL_OK) {
        tidal_sim__fail(rp, "count", "%s tenant %u item %llu type %u: "
                        "tidal_signal_read: %s", rp->who,
                        tenant, (unsigned long long)item, type, tidal_strerror(r));
        return;
    }
    if (st.count[TIDAL_W_ALL] != want) {
        tidal_sim__fail(rp, "count", "%s tenant %u item %llu type %u: "
                        "all-time count %llu, %llu distinct events %s (of %llu recorded; first "
                        "event %s)", rp->who, tenant,
                        (unsigned long long)item, type, (unsigned long long)st.count[TIDAL_W_ALL],
                        (unsigned long long)want,
                        (mode & 1) == TIDAL_SIM_COUNT_APPLIED ? "applied there"
                                                              : "in the ground truth",
                        (unsigned long long)ids, first[0] ? first : "none");
        return;
    }
    if (mode & TIDAL_SIM_COUNT_ONLY) return;
    if (!(fabsl((long double)st.score - sum) <= 1e-6L)) {
        tidal_sim__fail(rp, "score", "%s tenant %u item %llu type %u: "
                        "score %.9f, analytic %.9Lf over %llu events (first %s)",
                        rp->who, tenant,
                        (unsigned long long)item, type, st.score, sum, (unsigned long long)want,
                        first[0] ? first : "none");
        return;
    }
    if (!cohort) return;
    r = tidal_signal_read(m->db, tenant, item, type, cohort, t_ns, &st);
    if (r != TIDAL_OK || !(fabsl((long double)st.score - sum_c) <= 1e-6L))
        tidal_sim__fail(rp, "score", "%s tenant %u item %llu type %u: cohort %s:%s score %.9f "
                        "(%s), analytic %.9Lf", rp->who, tenant, (unsigned long long)item, type,
                        cohort->key, cohort->value, r == TIDAL_OK ? st.score : 0.0,
                        tidal_strerror(r), sum_c);
}

TIDAL_API uint32_t tidal_sim_check_signals(tidal_sim_oracle *o, const tidal_sim_member *m,
                                           const tidal_sim_scope *sc, int64_t t_ns, int mode,
                                           const tidal_tag *cohort, uint32_t cohort_mark,
                                           const tidal_id *also, uint32_t n_also) {
    tidal_sim__rep rp;
    uint32_t k = 0, tenants[64], n_ten = 0, i, j, type;
    TIDAL_SIM_ASSERT(o != NULL && m != NULL);
    TIDAL_SIM_ASSERT(mode >= 0 && mode <= (TIDAL_SIM_COUNT_APPLIED | TIDAL_SIM_COUNT_ONLY));
    tidal_sim__rep_init(&rp, o, m);
    if (!m->db) {
        tidal_sim__fail(&rp, "count", "%s is down", rp.who);
        return rp.n;
    }
    tidal_sim__oracle_keys(o);
    while (k < o->n_keys) { /* each (tenant, item, type) the oracle has signals of */
        uint32_t k1 = k + 1;
        const tidal_sim__okey *a = &o->keys[k];
        while (k1 < o->n_keys && o->keys[k1].tenant == a->tenant &&
               o->keys[k1].entity == a->entity && o->keys[k1].type == a->type)
            k1++;
        int in = !sc || !sc->by_tenant || a->tenant == sc->tenant;
        uint32_t kk;
        if (in && sc && sc->by_shard) /* from the index alone: no record of the group read */
            for (in = 0, kk = k; kk < k1 && !in; kk++) in = o->keys[kk].shard == sc->shard;
        if (in)
            tidal_sim__check_one(o, m, sc, t_ns, mode, cohort, cohort_mark, a->tenant, a->entity,
                                 a->type, k, k1, &rp);
        if ((!n_ten || tenants[n_ten - 1] != a->tenant) && n_ten < 64) tenants[n_ten++] = a->tenant;
        k = k1;
    }
    if (sc && sc->by_tenant) {
        tenants[0] = sc->tenant;
        n_ten = 1;
    }
    for (i = 0; i < n_ten; i++) /* the items nobody wrote: nothing */
        for (j = 0; j < n_also; j++) {
            if (tidal_route(tenants[i], also[j], o->shards) != m->shard) continue;
            for (type = 0; type < o->n_types; type++) {
                uint32_t lo = tidal_sim__okey_lower(o, tenants[i], also[j], type);
                if (lo < o->n_keys && o->keys[lo].tenant == tenants[i] &&
                    o->keys[lo].entity == also[j] && o->keys[lo].type == type)
                    continue; /* checked above */
                tidal_sim__check_one(o, m, sc, t_ns, mode, cohort, cohort_mark, tenants[i],
                                     also[j], type, 0, 0, &rp);
            }
        }
    return tidal_sim__rep_end(&rp);
}

/* Whether lifts (unhide and forget records applied on a member) lift a hide record. */
static int tidal_sim__lifted(const tidal_sim_oracle *o, const uint32_t *lifts, uint32_t n,
                             const tidal_sim_op *hide) {
    uint32_t k;
    for (k = 0; k < n; k++) {
        const tidal_sim_op *l = &o->ops[lifts[k]];
        if (l->tenant == hide->tenant && l->user == hide->user &&
            (l->kind == TIDAL_SIM_OP_FORGET || l->entity == hide->entity))
            return 1;
    }
    return 0;
}

/* Hide origins by (tenant, user, item, record); the caller's o sorts the index (qsort has
   no context argument: the keys are copied in). */
typedef struct tidal_sim__hkey {
    uint32_t tenant, idx;
    tidal_id user, item;
    tidal_event_id id;
    uint16_t shard;
} tidal_sim__hkey;

/* tidal_sim__in_scope from the index entry: the record is read only for a keep callback. */
static int tidal_sim__hkey_in(const tidal_sim_oracle *o, const tidal_sim_scope *sc,
                              const tidal_sim__hkey *h) {
    if (!sc) return 1;
    if (sc->by_tenant && h->tenant != sc->tenant) return 0;
    if (sc->by_shard && h->shard != sc->shard) return 0;
    return !sc->keep || sc->keep(sc->ctx, &o->ops[h->idx]);
}

static int tidal_sim__hkey_cmp(const void *a, const void *b) {
    const tidal_sim__hkey *x = (const tidal_sim__hkey *)a, *y = (const tidal_sim__hkey *)b;
    if (x->tenant != y->tenant) return x->tenant < y->tenant ? -1 : 1;
    if (x->user != y->user) return x->user < y->user ? -1 : 1;
    if (x->item != y->item) return x->item < y->item ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The sorted index of hide origins, rebuilt when hides were recorded since. */
static void tidal_sim__oracle_hides(tidal_sim_oracle *o) {
    uint32_t k;
    TIDAL_SIM_ASSERT(o->hides_upto <= o->n_negs && o->n_negs <= o->n);
    if (o->hides_upto == o->n_negs) return;
    o->n_hides = 0;
    for (k = 0; k < o->n_negs; k++) {
        const tidal_sim_op *op = &o->ops[o->negs[k]];
        tidal_sim__hkey *h;
        if (op->kind != TIDAL_SIM_OP_HIDE) continue;
        o->hides = (tidal_sim__hkey *)tidal_sim__reserve(o->hides, &o->cap_hides, o->n_hides + 1,
                                                         sizeof *o->hides);
        h = &o->hides[o->n_hides++];
        h->tenant = op->tenant;
        h->user = op->user;
        h->item = op->entity;
        h->shard = op->shard;
        h->id = op->id;
        h->idx = o->negs[k];
    }
    if (o->n_hides) qsort(o->hides, o->n_hides, sizeof *o->hides, tidal_sim__hkey_cmp);
    TIDAL_SIM_ASSERT(o->n_hides <= o->n_negs);
    o->hides_upto = o->n_negs;
}

TIDAL_API uint32_t tidal_sim_check_hidden(tidal_sim_oracle *o, const tidal_sim_member *m,
                                          const tidal_sim_scope *sc, uint32_t types,
                                          uint32_t limit) {
    tidal_sim__rep rp;
    tidal_hit *hits;
    uint8_t *req; /* per index entry: in scope (1), and must be in force here (3) */
    uint32_t k, g0, g1, n_lifts = 0, cap_lifts = 0, *lifts = NULL;
    TIDAL_SIM_ASSERT(o != NULL && m != NULL);
    TIDAL_SIM_ASSERT(limit > 0 && limit <= 100000);
    tidal_sim__rep_init(&rp, o, m);
    if (!m->db) {
        tidal_sim__fail(&rp, "suppressed_returned", "%s is down",
                        rp.who);
        return rp.n;
    }
    tidal_sim__oracle_hides(o);
    for (k = 0; k < o->n_lifts; k++) { /* the unhides and forgets applied here */
        const tidal_sim_op *op = &o->ops[o->lifts[k]];
        if (!tidal_event_is_applied(m->db, op->id)) continue;
        lifts = (uint32_t *)tidal_sim__reserve(lifts, &cap_lifts, n_lifts + 1, sizeof *lifts);
        lifts[n_lifts++] = o->lifts[k];
    }
    req = (uint8_t *)tidal_sim__alloc(o->n_hides + 1);
    hits = (tidal_hit *)tidal_sim__alloc(limit * sizeof *hits);
    for (g0 = 0; g0 < o->n_hides; g0 = g1) { /* one (tenant, user) at a time */
        uint32_t type, any = 0;
        for (g1 = g0; g1 < o->n_hides && o->hides[g1].tenant == o->hides[g0].tenant &&
                      o->hides[g1].user == o->hides[g0].user;
             g1++) { /* every hide applied here and not lifted is in force */
            const tidal_sim__hkey *hk = &o->hides[g1];
            const tidal_sim_op *op;
            int sup = 0;
            req[g1] = 0;
            if (hk->shard != m->shard) { /* held elsewhere: only its user matters */
                if (!any) any = tidal_sim__hkey_in(o, sc, hk);
                continue;
            }
            if (!tidal_sim__hkey_in(o, sc, hk)) continue;
            any = 1;
            if ((types & TIDAL_SIM_HIDDEN_READS_ONLY) || !tidal_event_is_applied(m->db, hk->id))
                continue;
            op = &o->ops[hk->idx];
            if (n_lifts && tidal_sim__lifted(o, lifts, n_lifts, op)) continue;
            req[g1] = 3;
            if (tidal_negative_check(m->db, hk->tenant, hk->user, hk->item, &sup) == TIDAL_OK &&
                sup)
                continue;
            tidal_sim__fail(&rp, "hide_lost", "%s tenant %u: the hide of item "
                            "%llu by user %llu (event %016llx:%016llx) is applied there but not in "
                            "force", rp.who, op->tenant,
                            (unsigned long long)op->entity, (unsigned long long)op->user,
                            (unsigned long long)op->id.hi, (unsigned long long)op->id.lo);
        }
        for (type = 0; any && type < o->n_types; type++) { /* RETRIEVE FOR USER: none of them */
            const tidal_sim__hkey *u = &o->hides[g0];
            tidal_query q;
            uint32_t got = 0, h;
            tidal_result r;
            if ((types & ~TIDAL_SIM_HIDDEN_READS_ONLY) && !(types >> type & 1u)) continue;
            memset(&q, 0, sizeof q);
            q.tenant = u->tenant;
            q.rank_kind = TIDAL_QUERY_SIGNAL;
            q.rank_index = type;
            q.for_user = u->user;
            q.limit = limit;
            r = tidal_retrieve(m->db, &q, hits, limit, &got, NULL);
            if (r != TIDAL_OK) {
                tidal_sim__fail(&rp, "suppressed_returned", "%s tenant %u: "
                                "RETRIEVE FOR USER %llu failed: %s", rp.who, u->tenant,
                                (unsigned long long)u->user, tidal_strerror(r));
                continue;
            }
            for (h = 0; h < got; h++) {
                uint32_t lo = g0, hi = g1;
                int sup = 0;
                (void)tidal_negative_check(m->db, u->tenant, u->user, hits[h].item, &sup);
                while (lo < hi) { /* the first hide of the item in the group */
                    uint32_t mid = lo + (hi - lo) / 2;
                    if (o->hides[mid].item < hits[h].item) lo = mid + 1;
                    else hi = mid;
                }
                for (; !sup && lo < g1 && o->hides[lo].item == hits[h].item; lo++)
                    sup = req[lo] == 3;
                if (sup)
                    tidal_sim__fail(&rp, "suppressed_returned",
                                    "%s tenant %u: RETRIEVE SIGNAL %u FOR USER "
                                    "%llu returned item %llu, which is hidden for that user there",
                                    rp.who, u->tenant,
                                    type, (unsigned long long)u->user,
                                    (unsigned long long)hits[h].item);
            }
        }
    }
    free(hits);
    free(req);
    free(lifts);
    return tidal_sim__rep_end(&rp);
}

TIDAL_API uint32_t tidal_sim_check_digests(tidal_sim_oracle *o, const tidal_sim_member *ref,
                                           const tidal_sim_member *members, uint32_t n,
                                           const uint64_t *tenants, uint32_t n_tenants,
                                           int events) {
    static const uint64_t whole = TIDAL_ALL_TENANTS;
    tidal_sim__rep rp;
    char rw[64]; /* how messages name ref */
    uint8_t *rd;
    uint32_t i, t;
    TIDAL_SIM_ASSERT(o != NULL && (members || !n));
    TIDAL_SIM_ASSERT(tenants || !n_tenants);
    if (!n_tenants) {
        tenants = &whole;
        n_tenants = 1;
    }
    if (!ref && n) ref = &members[0];
    tidal_sim__rep_init(&rp, o, ref);
    if (!ref || !ref->db) {
        if (ref) tidal_sim__fail(&rp, "digest", "%s (the reference) is down", rp.who);
        return rp.n;
    }
    memcpy(rw, rp.who, sizeof rw);
    rd = (uint8_t *)tidal_sim__alloc((size_t)n_tenants * 33); /* ref's digests, once */
    for (t = 0; t < n_tenants; t++)
        rd[33 * t + 32] = (uint8_t)(tidal_db_digest(ref->db, tenants[t], rd + 33 * t) == TIDAL_OK);
    for (i = 0; i < n; i++) {
        const tidal_sim_member *m = &members[i];
        tidal_db_stats sr, sm;
        if (m == ref) continue;
        tidal_sim__who(m, rp.who, sizeof rp.who);
        if (!m->db) {
            tidal_sim__fail(&rp, "digest", "%s is down", rp.who);
            continue;
        }
        for (t = 0; t < n_tenants; t++) {
            uint8_t b[32];
            int ok1 = rd[33 * t + 32], ok2 = tidal_db_digest(m->db, tenants[t], b) == TIDAL_OK;
            char tn[32];
            if (ok1 && ok2 && !memcmp(rd + 33 * t, b, 32)) continue;
            if (tenants[t] != TIDAL_ALL_TENANTS)
                snprintf(tn, sizeof tn, "tenant %llu", (unsigned long long)tenants[t]);
            else snprintf(tn, sizeof tn, "all tenants");
            tidal_sim__fail(&rp, "digest", "%s: digest of %s differs from %s's%s", rp.who, tn, rw,
                            !ok1 || !ok2 ? " (a digest failed)" : "");
            break;
        }
        if (!events) continue;
        tidal_db_stats_get(ref->db, &sr);
        tidal_db_stats_get(m->db, &sm);
        if (sr.events_applied != sm.events_applied)
            tidal_sim__fail(&rp, "digest", "%s applied %llu distinct events, %s %llu", rp.who,
                            (unsigned long long)sm.events_applied, rw,
                            (unsigned long long)sr.events_applied);
    }
    free(rd);
    memcpy(rp.who, rw, sizeof rw);
    return tidal_sim__rep_end(&rp);
}

#ifdef __cplusplus
}
#endif

#endif /* TIDAL_SIM_IMPLEMENTATION_ONCE */
#endif /* TIDAL_SIM_IMPLEMENTATION */
