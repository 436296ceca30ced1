/* test_parse.c - the RETRIEVE text parser: valid forms, malformed input with positions,
   and random mutations (out is never touched on error). */
#define TIDAL_IMPLEMENTATION
#include "../tidal.h"
#include "tidal_test.h"
#include "parse_check.h"

static const tt_case tt_cases[] = {
    TT_CASE(t_parse_valid),
    TT_CASE(t_parse_malformed),
    TT_CASE(t_parse_random_mutations),
};

int main(int argc, char **argv) { return tt_main(argc, argv, tt_cases, TT_COUNT(tt_cases)); }
