/* Two units that each carry a private copy of tidal (TIDAL_STATIC) must link together. */
#define TIDAL_STATIC
#define TIDAL_IMPLEMENTATION
#include "../../tidal.h"

int unit_a_strerror_ok(void);
int unit_a_strerror_ok(void) { return tidal_strerror(TIDAL_OK)[0] == 'o'; }
