/* test_flat_spill.c - test_flat with the 32-bit bucket count limit lowered to 3: most
   buckets of the pinned workloads then go wide, and the pinned digests, stats and RETRIEVE
   answers must still be exactly those of the old layout. */
#define TIDAL__COUNT32_MAX 3u
#include "test_flat.c"
