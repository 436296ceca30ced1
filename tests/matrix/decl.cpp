// The public half of tidal.h compiles as C++11 (no implementation here).
#include "../../tidal.h"

int main() {
    tidal_config cfg = tidal_config();
    tidal_query q = tidal_query();
    tidal_blake3_hasher h; // the hasher's type name: `tidal_blake3 h;` cannot work in C++
    struct tidal_blake3 h2;
    (void)cfg;
    (void)q;
    (void)sizeof h;
    (void)sizeof h2;
    return (cfg.path == 0 && q.limit == 0 && sizeof h == sizeof h2) ? 0 : 1;
}
