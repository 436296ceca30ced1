#define TIDAL_STATIC
#define TIDAL_IMPLEMENTATION
#include "../../tidal.h"

#include <stdio.h>

int unit_a_strerror_ok(void);

int main(void) {
    uint8_t out[32];
    tidal_blake3("abc", 3, out);
    if (!unit_a_strerror_ok() || out[0] != 0x64) { /* BLAKE3("abc") starts with 0x64 */
        printf("static link: FAILED\n");
        return 1;
    }
    printf("static link: ok\n");
    return 0;
}
