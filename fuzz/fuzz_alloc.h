/* fuzz_alloc.h - a tidal_allocator for fuzz targets that keeps large freed blocks for the next
   input instead of handing them back. Include after tidal.h; set config.allocator =
   &fz_allocator.

   Why: opening a database with a path allocates two TIDAL_SEGMENTS_MAX-entry arrays (800 KB
   each) to list the directory. Under ASan every block that large is a fresh mmap, page
   faults on first touch, and an munmap with a TLB shootdown on free: most of a
   per-input open's time. Every handle is such a block too (the tidal_db itself is about 69
   KB, its arena's first block 64 KB), and fuzz_merge keeps about a dozen handles open at
   once. Here a block of LARGE bytes or more is kept on free (up to SLOTS of them) and handed
   out again for an allocation of exactly the same size.

   Nothing ASan checks is lost: a kept block is the malloc'd block of exactly the size asked
   for, so ASan's redzone past its end still catches an overflow; while it waits in the
   cache it is poisoned, so a use after free still reports; on reuse its first 4 KB are
   filled with 0xbe as ASan's malloc does. A block the library leaks never reaches the cache,
   so LeakSanitizer still sees it. Small blocks go straight to malloc, realloc and free. */
#ifndef TIDAL_FUZZ_ALLOC_H
#define TIDAL_FUZZ_ALLOC_H

#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define FZA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZA_ASAN 1
#endif
#endif
#ifdef FZA_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define FZA_POISON(p, n) __asan_poison_memory_region((p), (n))
#define FZA_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define FZA_POISON(p, n) ((void)(p), (void)(n))
#define FZA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define FZA_LARGE ((size_t)64 << 10)
#define FZA_SLOTS 64

typedef struct fza_slot {
    void *p;
    size_t size;
} fza_slot;
static fza_slot fza_cache[FZA_SLOTS];

static void *fza_alloc(void *user, size_t size) {
    size_t i;
    (void)user;
    if (size >= FZA_LARGE)
        for (i = 0; i < FZA_SLOTS; i++)
            if (fza_cache[i].p && fza_cache[i].size == size) {
                void *p = fza_cache[i].p;
                fza_cache[i].p = NULL;
                FZA_UNPOISON(p, size);
                memset(p, 0xbe, 4096); /* as ASan's malloc fills a fresh block */
                return p;
            }
    return malloc(size);
}

static void fza_free(void *user, void *p, size_t size) {
    size_t i;
    (void)user;
    if (!p) return;
    if (size >= FZA_LARGE)
        for (i = 0; i < FZA_SLOTS; i++)
            if (!fza_cache[i].p) {
                FZA_POISON(p, size);
                fza_cache[i].p = p;
                fza_cache[i].size = size;
                return;
            }
    free(p);
}

static void *fza_realloc(void *user, void *p, size_t old_size, size_t new_size) {
    void *q;
    if (old_size < FZA_LARGE && new_size < FZA_LARGE) return realloc(p, new_size);
    q = fza_alloc(user, new_size);
    if (!q) return NULL;
    if (p) memcpy(q, p, old_size < new_size ? old_size : new_size);
    fza_free(user, p, old_size);
    return q;
}

TIDAL__TESTING static const tidal_allocator fz_allocator = {NULL, fza_alloc, fza_realloc, fza_free};

/* ASan's defaults for every fuzz target (ASAN_OPTIONS still wins): a 32 MB quarantine
   instead of 256 MB. A freed block stays poisoned until 32 MB more has been freed after it,
   far more than one input of any target frees (merge: about 0.4 MB for a short input; the
   largest export states about 4 MB), so every use after free within an input is still
   reported. What the default costs: with 256 MB in flight nearly every allocation of a
   short run lands on a page never touched before, and the page faults took most of the
   time of the merge and message targets.
   And allocation and free stacks of 5 frames instead of 30 (malloc_context_size): ASan
   records both stacks at every malloc and free (unwinding and storing them was 7% of
   fuzz_merge's time; 5 frames: 3-4% less CPU for merge and export replaying a fixed
   corpus). It changes only what a heap report prints about where the block was allocated
   and freed (the faulting access's own stack is printed whole); what is detected is the
   same. For the full stacks, replay the crashing input with
   ASAN_OPTIONS=quarantine_size_mb=32:malloc_context_size=30. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "quarantine_size_mb=32:malloc_context_size=5"; }

#endif
