/* The implementation compiles in any C dialect and as C++ (see the Makefile's matrix). */
#define TIDAL_IMPLEMENTATION
#include "../../tidal.h"

int main(void) { return tidal_strerror(TIDAL_OK)[0] == 'o' ? 0 : 1; }
