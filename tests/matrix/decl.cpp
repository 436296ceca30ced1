// The public half of tidal.h compiles as C++11 (no implementation here).
#include "../../tidal.h"

int main() {
    tidal_config cfg = tidal_config();
    tidal_query q = tidal_query();
    (void)cfg;
    (void)q;
    return (cfg.path == 0 && q.limit == 0) ? 0 : 1;
}
