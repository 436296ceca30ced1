/* query_format.h - canonical text form of a parsed tidal_query_text, for round-trip checks.
   Shared by fuzz/fuzz_query.c and tests/parse_check.h. Test-only: not part of the library.

   Include AFTER the tidal public declarations (tidal.h): it needs tidal_query_text.
   All functions are static; unused ones do not warn (GNU attribute).

     query_text_format(q, buf, cap)  writes the canonical query, returns its length
     query_text_equal(a, b)          field-wise equality of two parsed queries

   The canonical form emits only non-default clauses, in grammar order, with every value
   quoted ('"' and '\\' escaped). Parsing it yields a struct equal to q, for any q the
   parser can produce (LIMIT, USER and AT are never 0 after a successful parse).
*/
#ifndef TIDAL_QUERY_FORMAT_H
#define TIDAL_QUERY_FORMAT_H

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifdef __GNUC__
#define QUERY_FORMAT_UNUSED_ __attribute__((unused))
#else
#define QUERY_FORMAT_UNUSED_
#endif

/* Upper bound of query_text_format's result: 8 WHERE conditions of a 64-byte key and a
   256-byte value that escapes to 512 bytes, plus the other clauses, fit easily. */
#define QUERY_TEXT_FORMAT_MAX 8192

typedef struct query_format_out_ {
    char *buf;
    size_t cap;
    size_t len; /* bytes the full text needs, even past cap (snprintf-style) */
} query_format_out_;

static void query_format_put_(query_format_out_ *o, const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++, o->len++)
        if (o->len + 1 < o->cap) o->buf[o->len] = s[i]; /* keep room for the NUL */
}

static void query_format_str_(query_format_out_ *o, const char *s) {
    query_format_put_(o, s, strlen(s));
}

static void query_format_quoted_(query_format_out_ *o, const char *v) {
    query_format_put_(o, "\"", 1);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\') query_format_put_(o, "\\", 1);
        query_format_put_(o, v, 1);
    }
    query_format_put_(o, "\"", 1);
}

static void query_format_u64_(query_format_out_ *o, const char *kw, uint64_t v) {
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, v);
    query_format_str_(o, kw);
    query_format_str_(o, num);
}

/* Writes the canonical text of q into buf (NUL-terminated when cap > 0, truncated if it
   does not fit) and returns the length of the full text, like snprintf. */
static QUERY_FORMAT_UNUSED_ size_t query_text_format(const tidal_query_text *q, char *buf,
                                                     size_t cap) {
    query_format_out_ o;
    uint32_t i;
    o.buf = buf;
    o.cap = cap;
    o.len = 0;
    query_format_str_(&o, q->is_profile ? "RETRIEVE items PROFILE " : "RETRIEVE items SIGNAL ");
    query_format_str_(&o, q->rank_name);
    if (q->tenant) query_format_u64_(&o, " TENANT ", q->tenant);
    if (q->for_user) {
        query_format_u64_(&o, " FOR USER ", q->for_user);
        if (q->exclude_seen) query_format_str_(&o, " UNSEEN");
    }
    if (q->has_cohort) {
        query_format_str_(&o, " COHORT ");
        query_format_str_(&o, q->cohort_key);
        query_format_str_(&o, ":");
        query_format_quoted_(&o, q->cohort_value);
    }
    for (i = 0; i < q->where_count && i < 8; i++) {
        query_format_str_(&o, i ? " AND " : " WHERE ");
        query_format_str_(&o, q->where_key[i]);
        query_format_str_(&o, "=");
        query_format_quoted_(&o, q->where_value[i]);
    }
    if (q->limit) query_format_u64_(&o, " LIMIT ", q->limit);
    if (q->time_ns) query_format_u64_(&o, " AT ", (uint64_t)q->time_ns);
    if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}

/* 1 when a and b describe the same query (strings compared up to their NUL). */
static QUERY_FORMAT_UNUSED_ int query_text_equal(const tidal_query_text *a,
                                                 const tidal_query_text *b) {
    uint32_t i;
    if (a->tenant != b->tenant || a->is_profile != b->is_profile ||
        a->for_user != b->for_user || a->exclude_seen != b->exclude_seen ||
        a->has_cohort != b->has_cohort || a->where_count != b->where_count ||
        a->limit != b->limit || a->time_ns != b->time_ns || a->where_count > 8)
        return 0;
    if (strcmp(a->rank_name, b->rank_name) || strcmp(a->cohort_key, b->cohort_key) ||
        strcmp(a->cohort_value, b->cohort_value))
        return 0;
    for (i = 0; i < a->where_count; i++)
        if (strcmp(a->where_key[i], b->where_key[i]) ||
            strcmp(a->where_value[i], b->where_value[i]))
            return 0;
    return 1;
}

#endif /* TIDAL_QUERY_FORMAT_H */
