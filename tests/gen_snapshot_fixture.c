/* gen_snapshot_fixture.c - writes the snapshot of tests/snapshot_workload.h's state as a
   file, and prints its lsn and the state digest. tests/data/snapshot_v3.snap was written
   by this program built against tidal.h of commit 8b1f659 (snapshot format 3), so that
   later formats keep reading version 3 (tests/test_snapshot.c):
       mkdir -p /tmp/v3/tests && git show 8b1f659:tidal.h > /tmp/v3/tidal.h
       git show 8b1f659:tidal_sim.h > /tmp/v3/tidal_sim.h
       cp tests/gen_snapshot_fixture.c tests/snapshot_workload.h /tmp/v3/tests/
       cc -std=c99 -O1 -o /tmp/v3/gen /tmp/v3/tests/gen_snapshot_fixture.c -lm
       /tmp/v3/gen tests/data/snapshot_v3.snap
   Built against the current tidal.h it writes the current format. */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#define TIDAL_SIM_IMPLEMENTATION
#include "../tidal_sim.h"
#include <stdio.h>
#include <stdlib.h>
#include "snapshot_workload.h"

int main(int argc, char **argv) {
    tidal_sim_disk *disk = tidal_sim_disk_new(11);
    tidal_sim_env env;
    sw_schema sch;
    tidal_config cfg;
    tidal_db *db = NULL;
    char name[300];
    uint8_t digest[32], *data = NULL;
    size_t len = 0, i;
    uint64_t lsn;
    FILE *f;
    if (argc < 2) return 2;
    tidal_sim_env_init(&env, disk, SW_T0, 12);
    sw_config(&sch, &cfg, &env.env, "db");
    if (tidal_db_open(&cfg, &db) != TIDAL_OK || sw_workload(db, 13, 400) != TIDAL_OK ||
        tidal_db_snapshot(db) != TIDAL_OK || tidal_db_digest(db, TIDAL_ALL_TENANTS, digest) != TIDAL_OK) {
        fprintf(stderr, "gen_snapshot_fixture: %s\n", db ? tidal_errmsg(db) : "open failed");
        return 1;
    }
    lsn = tidal_db_durable_lsn(db);
    snprintf(name, sizeof name, "db/snap-0000-0000-%016llx.snap", (unsigned long long)lsn);
    tidal_db_close(db);
    if (tidal_sim_disk_read(disk, name, &data, &len) != TIDAL_OK) return 1;
    f = fopen(argv[1], "wb");
    if (!f || fwrite(data, 1, len, f) != len) return 1;
    fclose(f);
    printf("lsn %llu, %zu bytes, digest ", (unsigned long long)lsn, len);
    for (i = 0; i < 32; i++) printf("%02x", digest[i]);
    printf("\n");
    free(data);
    tidal_sim_disk_free(disk);
    return 0;
}
