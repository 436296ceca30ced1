/* tests/parse_check.h - tests of the RETRIEVE text parser (tidal_query_parse), public API only.

   Include AFTER tidal.h and tests/tidal_test.h. Provides three cases:
       static const tt_case tt_cases[] = { TT_CASE(t_parse_valid), TT_CASE(t_parse_malformed),
                                           TT_CASE(t_parse_random_mutations), ... };
   t_parse_valid             every clause, case-insensitivity, whitespace, quoting, boundaries,
                             and a format -> parse round trip of each valid query
   t_parse_malformed         each error with its exact position and message, NULL arguments,
                             embedded NUL, and every prefix of every valid query
   t_parse_random_mutations  random byte mutations of valid queries (budget x tt_scale())

   Every parse goes through pc_parse_checked(): the text is copied into a heap block of exactly
   len bytes (so ASan reports any read past len) and *out is pre-filled with 0xAB, so "out is
   unchanged on error" is a byte comparison. Helpers are static; unused ones do not warn.
*/
#ifndef TIDAL_PARSE_CHECK_H
#define TIDAL_PARSE_CHECK_H

#include "../fuzz/query_format.h"

#ifdef __GNUC__
#define PARSE_CHECK_UNUSED_ __attribute__((unused))
#else
#define PARSE_CHECK_UNUSED_
#endif

#ifdef TIDAL_LIMIT_MAX
#define PC_LIMIT_MAX ((uint64_t)TIDAL_LIMIT_MAX)
#else
#define PC_LIMIT_MAX ((uint64_t)100000) /* the library default */
#endif

#define PC_BUF 4096 /* room for any query the tests build or mutate */

/* Valid queries: prefixes and mutations start from these; each must parse and round trip. */
static const char *const pc_valid[] = {
    "RETRIEVE items SIGNAL view",
    "RETRIEVE items SIGNAL view FOR USER 42 COHORT locale:EU WHERE format=video LIMIT 50",
    "RETRIEVE items PROFILE trending TENANT 7 FOR USER 9 UNSEEN COHORT locale:\"en-US\" "
    "WHERE format=video AND lang=\"fr\" LIMIT 100 AT 1700000000000000000;",
    "retrieve ITEMS profile Hot.v2 at 5 limit 1 where a=1 and b_c=\"x y\" AND d=- "
    "cohort k:v for user 18446744073709551615 unseen tenant 4294967295 ;\r\n",
    " \t\r\nReTrIeVe\tItEmS\nSiGnAl\r\nlike  COHORT  k  :  \"\"  WHERE  a  =  b  ;  \n",
    "RETRIEVE items SIGNAL v COHORT k:\"x\"WHERE a=\"q \\\"t\\\" \\\\ z\"AND c=d;",
    "RETRIEVE items SIGNAL limit WHERE where=and AND and=AND AND x=\"a:b=c;d\te\nf\xc3\xa9\"",
    "RETRIEVE items SIGNAL s WHERE a=1 AND b=2 AND c=3 AND d=4 AND e=5 AND f=6 AND g=7 AND h=8",
    "RETRIEVE items SIGNAL s TENANT 0 LIMIT 0007 AT 9223372036854775807",
};
#define PC_VALID_COUNT (sizeof pc_valid / sizeof pc_valid[0])

/* Printable rendering of (part of) a query for failure messages. Not reentrant. */
static const char *pc_show(const char *s, size_t len) {
    static char out[256];
    size_t i, o = 0;
    for (i = 0; i < len && o + 8 < sizeof out; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 32 && c < 127 && c != '\\') out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* A parsed query is well formed: strings NUL-terminated inside their arrays, names
   non-empty, counts within limits, dependent flags consistent. */
static void pc_check_sane(const tidal_query_text *q, const char *src, size_t len) {
    uint32_t i;
    int ok = memchr(q->rank_name, 0, sizeof q->rank_name) && q->rank_name[0] &&
             memchr(q->cohort_key, 0, sizeof q->cohort_key) &&
             memchr(q->cohort_value, 0, sizeof q->cohort_value) && q->where_count <= 8 &&
             (q->is_profile == 0 || q->is_profile == 1) && (!q->exclude_seen || q->for_user) &&
             (q->has_cohort ? q->cohort_key[0] != 0 : !q->cohort_key[0] && !q->cohort_value[0]) &&
             q->limit <= PC_LIMIT_MAX && q->time_ns >= 0;
    for (i = 0; ok && i < q->where_count; i++)
        ok = memchr(q->where_key[i], 0, sizeof q->where_key[i]) && q->where_key[i][0] &&
             memchr(q->where_value[i], 0, sizeof q->where_value[i]);
    TT_CHECKF(ok, "parsed query is not well formed: %s", pc_show(src, len));
}

/* format -> parse gives an equal struct, and formatting that again gives the same text. */
static void pc_check_round_trip(const tidal_query_text *q, const char *src, size_t len) {
    static char text[QUERY_TEXT_FORMAT_MAX], again[QUERY_TEXT_FORMAT_MAX];
    tidal_query_text q2;
    tidal_parse_error e2;
    size_t n = query_text_format(q, text, sizeof text), n2;
    tidal_result r;
    TT_CHECKF(n < sizeof text, "formatted query too long (%zu): %s", n, pc_show(src, len));
    if (n >= sizeof text) return;
    memset(&e2, 0, sizeof e2);
    r = tidal_query_parse(text, n, &q2, &e2);
    TT_CHECKF(r == TIDAL_OK, "canonical form does not parse (%u: %s): %s", e2.position,
              e2.message, pc_show(text, n));
    if (r != TIDAL_OK) return;
    TT_CHECKF(query_text_equal(q, &q2), "round trip changed %s", pc_show(src, len));
    n2 = query_text_format(&q2, again, sizeof again);
    TT_CHECKF(n2 == n && !memcmp(text, again, n), "canonical form unstable: %s",
              pc_show(text, n));
}

/* Parses text[0, len) from an exact-size heap copy into *out (pre-filled with 0xAB) and
   checks the invariants every call must keep; on success also the round trip. */
static tidal_result pc_parse_checked(const char *text, size_t len, tidal_query_text *out,
                                     tidal_parse_error *e) {
    tidal_query_text pattern;
    char *copy = (char *)malloc(len ? len : 1);
    tidal_result r;
    TT_CHECK(copy != NULL);
    if (!copy) return TIDAL_ERR_NOMEM;
    if (len) memcpy(copy, text, len);
    memset(&pattern, 0xAB, sizeof pattern);
    memcpy(out, &pattern, sizeof pattern);
    memset(e, 0xCD, sizeof *e);
    r = tidal_query_parse(copy, len, out, e);
    free(copy);
    if (r == TIDAL_OK) {
        TT_CHECKF(e->message[0] == '\0', "message set on success: %s", pc_show(text, len));
        pc_check_sane(out, text, len);
        pc_check_round_trip(out, text, len);
        return r;
    }
    TT_CHECKF(r == TIDAL_ERR_PARSE, "result %d for %s", (int)r, pc_show(text, len));
    TT_CHECKF(!memcmp(out, &pattern, sizeof pattern), "out changed on error: %s",
              pc_show(text, len));
    TT_CHECKF(e->position <= len, "position %u > len %zu: %s", e->position, len,
              pc_show(text, len));
    TT_CHECKF(memchr(e->message, 0, sizeof e->message) && e->message[0],
              "bad error message for %s", pc_show(text, len));
    return r;
}

static tidal_result pc_parse(const char *s, tidal_query_text *q, tidal_parse_error *e) {
    return pc_parse_checked(s, strlen(s), q, e);
}

/* Expects text[0, len) to fail at pos with exactly msg. */
static void pc_expect_error_n(const char *text, size_t len, size_t pos, const char *msg) {
    tidal_query_text q;
    tidal_parse_error e;
    tidal_result r = pc_parse_checked(text, len, &q, &e);
    TT_CHECKF(r == TIDAL_ERR_PARSE, "parsed but should fail: %s", pc_show(text, len));
    if (r != TIDAL_ERR_PARSE) return;
    TT_CHECKF(e.position == pos && !strcmp(e.message, msg),
              "got %u \"%s\", want %zu \"%s\" for %s", e.position, e.message, pos, msg,
              pc_show(text, len));
}

/* Error case written as (query, suffix of the query starting at the error, message): the
   suffix makes the expected position readable and is checked to really be a suffix. */
typedef struct pc_error_case {
    const char *query;
    const char *at;
    const char *message;
} pc_error_case;

#define PC_V "RETRIEVE items SIGNAL view"
static const pc_error_case pc_errors[] = {
    {"", "", "empty query"},
    {" \t\r\n", "", "empty query"},
    {"RETRIEVES items SIGNAL view", "RETRIEVES items SIGNAL view", "expected RETRIEVE"},
    {"SELECT * FROM items", "SELECT * FROM items", "expected RETRIEVE"},
    {";", ";", "expected RETRIEVE"},
    {"\f" PC_V, "\f" PC_V, "expected RETRIEVE"}, /* form feed is not whitespace */
    {"RETRIEVE", "", "expected items"},
    {"RETRIEVE users SIGNAL view", "users SIGNAL view", "expected items"},
    {"RETRIEVE itemsSIGNAL view", "itemsSIGNAL view", "expected items"},
    {"RETRIEVE items", "", "expected SIGNAL or PROFILE"},
    {"RETRIEVE items RANK view", "RANK view", "expected SIGNAL or PROFILE"},
    {"RETRIEVE items SIGNAL", "", "expected name"},
    {"RETRIEVE items SIGNAL \"view\"", "\"view\"", "expected name"},
    {"RETRIEVE items PROFILE ;", ";", "expected name"},
    {PC_V " extra", "extra", "expected clause or end of query"},
    {PC_V " @", "@", "expected clause or end of query"},
    {"RETRIEVE items SIGNAL vi@ew", "@ew", "expected clause or end of query"},
    {PC_V " UNSEEN", "UNSEEN", "expected clause or end of query"},
    {PC_V " AND a=b", "AND a=b", "expected clause or end of query"},
    {PC_V "; LIMIT 5", "LIMIT 5", "expected end of query"},
    {PC_V ";;", ";", "expected end of query"},
    /* TENANT */
    {PC_V " TENANT", "", "expected number"},
    {PC_V " TENANT x", "x", "expected number"},
    {PC_V " TENANT -1", "-1", "expected number"},
    {PC_V " TENANT +1", "+1", "expected number"},
    {PC_V " TENANT 12abc", "12abc", "expected number"},
    {PC_V " TENANT 4294967296", "4294967296", "tenant out of range"},
    {PC_V " TENANT 99999999999999999999999", "99999999999999999999999", "tenant out of range"},
    {PC_V " TENANT 1 TENANT 2", "TENANT 2", "duplicate TENANT clause"},
    /* FOR USER [UNSEEN] */
    {PC_V " FOR", "", "expected USER"},
    {PC_V " FOR 42", "42", "expected USER"},
    {PC_V " FOR USERS 42", "USERS 42", "expected USER"},
    {PC_V " FOR USER", "", "expected number"},
    {PC_V " FOR USER UNSEEN", "UNSEEN", "expected number"},
    {PC_V " FOR USER 0", "0", "user out of range"},
    {PC_V " FOR USER 18446744073709551616", "18446744073709551616", "user out of range"},
    {PC_V " FOR USER 1 for user 2", "for user 2", "duplicate FOR clause"},
    {PC_V " FOR USER 1 UNSEEN UNSEEN", "UNSEEN", "expected clause or end of query"},
    /* COHORT */
    {PC_V " COHORT", "", "expected name"},
    {PC_V " COHORT :EU", ":EU", "expected name"},
    {PC_V " COHORT locale", "", "expected ':'"},
    {PC_V " COHORT locale=EU", "=EU", "expected ':'"},
    {PC_V " COHORT locale:", "", "expected value"},
    {PC_V " COHORT locale: ;", ";", "expected value"},
    {PC_V " COHORT locale:\"EU", "\"EU", "unterminated string"},
    {PC_V " COHORT a:b COHORT c:d", "COHORT c:d", "duplicate COHORT clause"},
    /* WHERE */
    {PC_V " WHERE", "", "expected name"},
    {PC_V " WHERE format", "", "expected '='"},
    {PC_V " WHERE format:video", ":video", "expected '='"},
    {PC_V " WHERE format=", "", "expected value"},
    {PC_V " WHERE format=video AND", "", "expected name"},
    {PC_V " WHERE format=video AND AND a=b", "a=b", "expected '='"}, /* "AND" is a name */
    {PC_V " WHERE a=\"x\\n\"", "\\n\"", "invalid escape"},
    {PC_V " WHERE a=\"x\\", "\"x\\", "unterminated string"},
    {PC_V " WHERE a=\"x\\\"", "\"x\\\"", "unterminated string"},
    {PC_V " WHERE a=b c=d", "c=d", "expected clause or end of query"},
    {PC_V " WHERE a=\"b\"c", "c", "expected clause or end of query"},
    {PC_V " WHERE a=b WHERE c=d", "WHERE c=d", "duplicate WHERE clause"},
    {PC_V " WHERE a=1 AND b=2 AND c=3 AND d=4 AND e=5 AND f=6 AND g=7 AND h=8 AND i=9", "i=9",
     "too many WHERE conditions"},
    /* LIMIT */
    {PC_V " LIMIT 0", "0", "limit out of range"},
    {PC_V " LIMIT 99999999999999999999", "99999999999999999999", "limit out of range"},
    {PC_V " LIMIT", "", "expected number"},
    {PC_V " LIMIT ten", "ten", "expected number"},
    {PC_V " LIMIT 5.0", "5.0", "expected number"},
    {PC_V " LIMIT \xef\xbc\x95", "\xef\xbc\x95", "expected number"},
    {PC_V " limit 5 LIMIT 6", "LIMIT 6", "duplicate LIMIT clause"},
    /* AT */
    {PC_V " AT 0", "0", "time out of range"},
    {PC_V " AT 9223372036854775808", "9223372036854775808", "time out of range"},
    {PC_V " AT -5", "-5", "expected number"},
    {PC_V " AT 1 at 2", "at 2", "duplicate AT clause"},
};
#define PC_ERROR_COUNT (sizeof pc_errors / sizeof pc_errors[0])

/* Builds PC_V + prefix + n copies of c + suffix into buf; returns the offset where the
   repeated run starts (the position of an error about it). */
static size_t pc_build(char *buf, const char *prefix, char c, size_t n, const char *suffix) {
    size_t at;
    TT_CHECK(strlen(PC_V) + strlen(prefix) + n + strlen(suffix) < PC_BUF);
    strcpy(buf, PC_V);
    strcat(buf, prefix);
    at = strlen(buf);
    memset(buf + at, c, n);
    strcpy(buf + at + n, suffix);
    return at;
}

static void pc_valid_fields(void) {
    tidal_query_text q;
    tidal_parse_error e;
    char text[QUERY_TEXT_FORMAT_MAX];
    /* The README example, field by field, and its canonical form. */
    TT_EQ_INT(pc_parse(pc_valid[1], &q, &e), TIDAL_OK);
    TT_EQ_INT(q.is_profile, 0);
    TT_CHECK(!strcmp(q.rank_name, "view"));
    TT_EQ_INT(q.tenant, 0);
    TT_CHECK(q.for_user == 42 && q.exclude_seen == 0);
    TT_CHECK(q.has_cohort == 1 && !strcmp(q.cohort_key, "locale"));
    TT_CHECK(!strcmp(q.cohort_value, "EU"));
    TT_EQ_INT(q.where_count, 1);
    TT_CHECK(!strcmp(q.where_key[0], "format") && !strcmp(q.where_value[0], "video"));
    TT_EQ_INT(q.limit, 50);
    TT_EQ_INT(q.time_ns, 0);
    TT_EQ_INT(e.position, 0);
    query_text_format(&q, text, sizeof text);
    TT_CHECK(!strcmp(text, "RETRIEVE items SIGNAL view FOR USER 42 COHORT locale:\"EU\" "
                           "WHERE format=\"video\" LIMIT 50"));
    /* Defaults when every clause is absent. */
    TT_EQ_INT(pc_parse(pc_valid[0], &q, &e), TIDAL_OK);
    TT_CHECK(q.tenant == 0 && q.for_user == 0 && q.exclude_seen == 0 && q.has_cohort == 0);
    TT_CHECK(q.where_count == 0 && q.limit == 0 && q.time_ns == 0 && q.is_profile == 0);
    TT_CHECK(!strcmp(q.rank_name, "view") && !q.cohort_key[0] && !q.cohort_value[0]);
    /* Every clause, in another order, lower case, trailing ';' and CRLF. */
    TT_EQ_INT(pc_parse(pc_valid[3], &q, &e), TIDAL_OK);
    TT_CHECK(q.is_profile == 1 && !strcmp(q.rank_name, "Hot.v2"));
    TT_CHECK(q.time_ns == 5 && q.limit == 1 && q.tenant == UINT32_MAX);
    TT_CHECK(q.for_user == UINT64_MAX && q.exclude_seen == 1);
    TT_CHECK(q.has_cohort && !strcmp(q.cohort_key, "k") && !strcmp(q.cohort_value, "v"));
    TT_EQ_INT(q.where_count, 3);
    TT_CHECK(!strcmp(q.where_key[1], "b_c") && !strcmp(q.where_value[1], "x y"));
    TT_CHECK(!strcmp(q.where_key[2], "d") && !strcmp(q.where_value[2], "-"));
    /* Mixed-case keywords, odd whitespace, spaces around ':' and '=', empty quoted value. */
    TT_EQ_INT(pc_parse(pc_valid[4], &q, &e), TIDAL_OK);
    TT_CHECK(!strcmp(q.rank_name, "like") && q.has_cohort && q.cohort_value[0] == '\0');
    TT_CHECK(q.where_count == 1 && !strcmp(q.where_value[0], "b"));
    /* Escapes; quoted values need no whitespace after them. */
    TT_EQ_INT(pc_parse(pc_valid[5], &q, &e), TIDAL_OK);
    TT_CHECK(!strcmp(q.cohort_value, "x") && q.where_count == 2);
    TT_CHECK(!strcmp(q.where_value[0], "q \"t\" \\ z") && !strcmp(q.where_value[1], "d"));
    /* Keywords are fine as names; quoted values carry any byte but '"' and NUL. */
    TT_EQ_INT(pc_parse(pc_valid[6], &q, &e), TIDAL_OK);
    TT_CHECK(!strcmp(q.rank_name, "limit") && q.where_count == 3);
    TT_CHECK(!strcmp(q.where_key[0], "where") && !strcmp(q.where_value[0], "and"));
    TT_CHECK(!strcmp(q.where_key[1], "and") && !strcmp(q.where_value[1], "AND"));
    TT_CHECK(!strcmp(q.where_value[2], "a:b=c;d\te\nf\xc3\xa9"));
    /* Numeric boundaries and leading zeros. */
    TT_EQ_INT(pc_parse(pc_valid[8], &q, &e), TIDAL_OK);
    TT_CHECK(q.tenant == 0 && q.limit == 7 && q.time_ns == INT64_MAX);
}

static void pc_valid_limits(void) {
    static char buf[PC_BUF];
    tidal_query_text q;
    tidal_parse_error e;
    size_t at;
    /* Only len bytes count: the final '0' of "LIMIT 50" is outside. */
    TT_EQ_INT(pc_parse_checked(pc_valid[1], strlen(pc_valid[1]) - 1, &q, &e), TIDAL_OK);
    TT_EQ_INT(q.limit, 5);
    /* err may be NULL. */
    TT_EQ_INT(tidal_query_parse(pc_valid[2], strlen(pc_valid[2]), &q, NULL), TIDAL_OK);
    TT_EQ_INT(q.where_count, 2);
    /* Largest LIMIT, 8 WHERE conditions. */
    snprintf(buf, sizeof buf, PC_V " LIMIT %llu AT 1", (unsigned long long)PC_LIMIT_MAX);
    TT_EQ_INT(pc_parse(buf, &q, &e), TIDAL_OK);
    TT_CHECK(q.limit == PC_LIMIT_MAX && q.time_ns == 1);
    TT_EQ_INT(pc_parse(pc_valid[7], &q, &e), TIDAL_OK);
    TT_CHECK(q.where_count == 8 && !strcmp(q.where_key[7], "h"));
    /* 64-byte names everywhere, 256-byte values bare and quoted. */
    pc_build(buf, " WHERE ", 'n', 64, "=x");
    TT_EQ_INT(pc_parse(buf, &q, &e), TIDAL_OK);
    TT_EQ_INT(strlen(q.where_key[0]), 64);
    pc_build(buf, " COHORT k:", 'v', 256, "");
    TT_EQ_INT(pc_parse(buf, &q, &e), TIDAL_OK);
    TT_EQ_INT(strlen(q.cohort_value), 256);
    pc_build(buf, " COHORT k:\"", 'v', 256, "\"");
    TT_EQ_INT(pc_parse(buf, &q, &e), TIDAL_OK);
    TT_EQ_INT(strlen(q.cohort_value), 256);
    snprintf(buf, PC_BUF, "RETRIEVE items SIGNAL %064d", 0); /* 64 zeros: a valid name */
    TT_EQ_INT(pc_parse(buf, &q, &e), TIDAL_OK);
    TT_EQ_INT(strlen(q.rank_name), 64);
    /* 256 bytes that are all escapes: 512 source bytes, 256 after unescaping. */
    strcpy(buf, PC_V " WHERE k=\"");
    at = strlen(buf);
    for (; at < strlen(PC_V " WHERE k=\"") + 512; at += 2) memcpy(buf + at, "\\\"", 2);
    strcpy(buf + at, "\"");
    TT_EQ_INT(pc_parse(buf, &q, &e), TIDAL_OK);
    TT_EQ_INT(strlen(q.where_value[0]), 256);
    TT_CHECK(q.where_value[0][0] == '"' && q.where_value[0][255] == '"');
}

static PARSE_CHECK_UNUSED_ void t_parse_valid(void) {
    tidal_query_text q;
    tidal_parse_error e;
    size_t i;
    for (i = 0; i < PC_VALID_COUNT; i++) {
        tidal_result r = pc_parse(pc_valid[i], &q, &e); /* also checks the round trip */
        TT_CHECKF(r == TIDAL_OK, "valid query %zu failed at %u (%s): %s", i, e.position,
                  e.message, pc_show(pc_valid[i], strlen(pc_valid[i])));
    }
    pc_valid_fields();
    pc_valid_limits();
}

/* Over-long names and values, out-of-range LIMIT, embedded NUL, NULL arguments. */
static void pc_malformed_built(void) {
    static const char nul_in_string[] = PC_V " WHERE a=\"x\0y\"";
    static char buf[PC_BUF];
    tidal_query_text q, pattern;
    tidal_parse_error e;
    size_t at, len;
    at = pc_build(buf, " WHERE ", 'n', 65, "=x");
    pc_expect_error_n(buf, strlen(buf), at, "name too long");
    at = pc_build(buf, " COHORT ", 'n', 65, ":x");
    pc_expect_error_n(buf, strlen(buf), at, "name too long");
    at = pc_build(buf, " WHERE k=", 'v', 257, "");
    pc_expect_error_n(buf, strlen(buf), at, "value too long");
    at = pc_build(buf, " COHORT k:\"", 'v', 257, "\"");
    pc_expect_error_n(buf, strlen(buf), at - 1, "value too long"); /* at the opening quote */
    at = pc_build(buf, " COHORT k:\"", 'v', 256, "\\\\\"");      /* 256 + one escape */
    pc_expect_error_n(buf, strlen(buf), at - 1, "value too long");
    snprintf(buf, PC_BUF, "RETRIEVE items SIGNAL %065d", 0);
    pc_expect_error_n(buf, strlen(buf), 22, "name too long");
    snprintf(buf, PC_BUF, PC_V " LIMIT %llu", (unsigned long long)PC_LIMIT_MAX + 1);
    pc_expect_error_n(buf, strlen(buf), strlen(PC_V " LIMIT "), "limit out of range");
    /* Embedded NUL: reported at its position, wherever it is. */
    strcpy(buf, pc_valid[1]);
    len = strlen(buf);
    buf[14] = '\0';
    pc_expect_error_n(buf, len, 14, "unexpected nul byte");
    pc_expect_error_n(nul_in_string, sizeof nul_in_string - 1, strlen(PC_V " WHERE a=\"x"),
                      "unexpected nul byte");
    pc_expect_error_n("RETRIEVE items SIGNAL view\0", strlen(PC_V) + 1, strlen(PC_V),
                      "unexpected nul byte");
    pc_expect_error_n("RETRIEVE xyz\0", 13, 12, "unexpected nul byte");
    /* NULL arguments. */
    memset(&pattern, 0xAB, sizeof pattern);
    memcpy(&q, &pattern, sizeof q);
    TT_EQ_INT(tidal_query_parse(pc_valid[0], strlen(pc_valid[0]), NULL, &e), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_query_parse(NULL, 5, &q, &e), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_query_parse(NULL, 5, &q, NULL), TIDAL_ERR_INVALID);
    TT_EQ_INT(tidal_query_parse(NULL, 0, &q, &e), TIDAL_ERR_PARSE);
    TT_CHECK(e.position == 0 && !strcmp(e.message, "empty query"));
    TT_EQ_INT(tidal_query_parse("RETRIEVE", 8, &q, NULL), TIDAL_ERR_PARSE);
    TT_CHECK(!memcmp(&q, &pattern, sizeof q));
}

/* Every prefix of every valid query parses or fails inside the prefix, out unchanged. */
static void pc_malformed_prefixes(void) {
    tidal_query_text q;
    tidal_parse_error e;
    size_t i, k, ok = 0, failed = 0;
    for (i = 0; i < PC_VALID_COUNT && TT_OK(); i++) {
        size_t len = strlen(pc_valid[i]);
        for (k = 0; k <= len && TT_OK(); k++) {
            if (pc_parse_checked(pc_valid[i], k, &q, &e) == TIDAL_OK) ok++;
            else failed++;
        }
    }
    TT_CHECK(ok > PC_VALID_COUNT && failed > 100); /* both outcomes really happened */
}

static PARSE_CHECK_UNUSED_ void t_parse_malformed(void) {
    size_t i;
    for (i = 0; i < PC_ERROR_COUNT; i++) {
        const pc_error_case *c = &pc_errors[i];
        size_t len = strlen(c->query), at = strlen(c->at);
        TT_CHECKF(at <= len && !strcmp(c->query + len - at, c->at), "bad case %zu", i);
        if (at <= len) pc_expect_error_n(c->query, len, len - at, c->message);
    }
    pc_malformed_built();
    pc_malformed_prefixes();
}

/* Bytes that matter to the grammar, plus NUL and non-ASCII. */
static const char pc_interesting[] = " \t\r\n\"\\:=;aZ09_.-@\x80\xff";
static const char *const pc_splices[] = {
    " LIMIT 5", " AND x=1", " TENANT 1", " FOR USER 0", " UNSEEN", " WHERE a=b", " AT 1",
    " COHORT k:v", "\"", "\\", ";", "99999999999999999999", "4294967296", " ", "=", ":"};

/* Applies one random edit to buf[0, *len) (capacity PC_BUF). */
static void pc_mutate(char *buf, size_t *len) {
    size_t n = *len, at = (size_t)tt_below(n + 1), k;
    const char *s;
    switch (tt_below(8)) {
    case 0: /* random byte */
        if (at < n) buf[at] = (char)tt_below(256);
        break;
    case 1: /* grammar byte (sizeof - 1 leaves out the terminator; case 0 covers NUL) */
        if (at < n) buf[at] = pc_interesting[tt_below(sizeof pc_interesting - 1)];
        break;
    case 2: /* insert a grammar byte */
        if (n + 1 >= PC_BUF) break;
        memmove(buf + at + 1, buf + at, n - at);
        buf[at] = pc_interesting[tt_below(sizeof pc_interesting - 1)];
        *len = n + 1;
        break;
    case 3: /* delete a run */
        k = (size_t)tt_below(4) + 1;
        if (at + k > n) break;
        memmove(buf + at, buf + at + k, n - at - k);
        *len = n - k;
        break;
    case 4: /* duplicate a slice: repeated clauses, over-long names and values */
        k = (size_t)tt_below(n - at + 1);
        if (n + k >= PC_BUF) break;
        memmove(buf + at + k, buf + at, n - at);
        *len = n + k;
        break;
    case 5: /* truncate */
        *len = at;
        break;
    case 6: /* flip the case of a letter */
        if (at < n && ((buf[at] | 32) >= 'a' && (buf[at] | 32) <= 'z')) buf[at] ^= 32;
        break;
    default: /* splice in a grammar fragment */
        s = pc_splices[tt_below(sizeof pc_splices / sizeof pc_splices[0])];
        k = strlen(s);
        if (n + k >= PC_BUF) break;
        memmove(buf + at + k, buf + at, n - at);
        memcpy(buf + at, s, k);
        *len = n + k;
        break;
    }
}

/* Base query i: the valid table, then two built at the name/value limits. */
static size_t pc_base(size_t i, char *buf) {
    if (i < PC_VALID_COUNT) {
        strcpy(buf, pc_valid[i]);
        return strlen(buf);
    }
    if (i == PC_VALID_COUNT) {
        pc_build(buf, " COHORT k:\"", 'v', 255, "\\\\\" WHERE a=b");
        return strlen(buf);
    }
    pc_build(buf, " FOR USER 3 WHERE ", 'n', 64, "=x AND y=\"\" LIMIT 10");
    return strlen(buf);
}

static PARSE_CHECK_UNUSED_ void t_parse_random_mutations(void) {
    static char buf[PC_BUF];
    static char seen_msgs[32][128];
    tidal_query_text q;
    tidal_parse_error e;
    long iter, budget = 20000 * tt_scale();
    long ok = 0, failed = 0;
    size_t distinct = 0, i;
    for (iter = 0; iter < budget && TT_OK(); iter++) {
        size_t len = pc_base((size_t)tt_below(PC_VALID_COUNT + 2), buf);
        long edits = (long)tt_below(4) + 1;
        while (edits--) pc_mutate(buf, &len);
        if (pc_parse_checked(buf, len, &q, &e) == TIDAL_OK) {
            ok++;
            continue;
        }
        failed++;
        for (i = 0; i < distinct && strcmp(seen_msgs[i], e.message); i++) continue;
        if (i == distinct && distinct < 32) memcpy(seen_msgs[distinct++], e.message, 128);
    }
    /* The mutator must reach both outcomes and most of the error paths. */
    TT_CHECKF(ok > budget / 20 && failed > budget / 5, "ok %ld failed %ld", ok, failed);
    TT_CHECKF(distinct >= 15, "only %zu distinct error messages", distinct);
}

#endif /* TIDAL_PARSE_CHECK_H */
