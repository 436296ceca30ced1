/* tidal_sim.h builds with tidal.h in any dialect of the matrix (C99, C11, C++11). */
#define TIDAL_IMPLEMENTATION
#include "../../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../../tidal_sim.h"

int main(void) {
    tidal_sim_disk *d = tidal_sim_disk_new(1);
    int ok = d != 0 && tidal_sim_disk_ops(d) == 0;
    tidal_sim_disk_free(d);
    return ok ? 0 : 1;
}
