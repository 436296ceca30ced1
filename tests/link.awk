# tests/link.awk - splits a single-header library (tidal.h, tidal_sim.h) into what the link
# builds of the tests use (tests/link.sh runs it; POSIX awk, mawk included):
#   HDR  the header with every column-0 function definition's body replaced by ";" (a
#        prototype) and file-scope data made an extern declaration without its initializer;
#        private ("static") functions and data become external; "static inline" functions
#        and every type, macro and #if stay as they are.
#   IMPL the implementation: the header with "static" dropped from the non-inline functions
#        and file-scope data, each function preceded by its prototype (-Wmissing-prototypes),
#        compiled once per flavour. "#line" keeps diagnostics and debug info on the
#        original file's lines.
# It relies on the header's layout (STYLE.md): a definition starts at column 0, a function
# body opens with "{" at the end of its signature (or on a line of its own) and closes with
# "}" alone at column 0; file-scope data and types close on a column-0 line starting with
# "}". Anything else at column 0 outside a body is an error here, not a silent mistake.
# Variables: hdr, impl (output paths), name (the file name for #line).
# Also prints "functions N inline N data N" to stderr for tests/link.sh's check.

function fail(msg) {
    printf "link.awk: %s:%d: %s\n", name, NR, msg > "/dev/stderr"
    failed = 1
    exit 1
}
# The text without its comments (newlines kept), string and character literals blanked
# unless keep (the blanked text is for classification only). inc: whether s starts inside
# a block comment; SC_INC is set to whether it ends inside one.
function scan(s, inc, keep,    out, i, n, ch, nx, st) {
    out = ""; n = length(s); st = inc ? "c" : ""
    for (i = 1; i <= n; i++) {
        ch = substr(s, i, 1); nx = substr(s, i + 1, 1)
        if (st == "c") {
            if (ch == "*" && nx == "/") { st = ""; i++; out = out " " }
            else if (ch == "\n") out = out ch
        } else if (st == "l") {
            if (ch == "\n") { st = ""; out = out ch }
        } else if (st == "s" || st == "q") {
            if (keep) out = out ch
            if (ch == "\\") { i++; if (keep) out = out nx }
            else if ((st == "s" && ch == "\"") || (st == "q" && ch == "'")) {
                st = ""
                if (!keep) out = out ch ch
            } else if (ch == "\n") st = ""
        } else if (ch == "/" && nx == "*") { st = "c"; i++ }
        else if (ch == "/" && nx == "/") { st = "l"; i++ }
        else if (ch == "\"") { st = "s"; if (keep) out = out ch }
        else if (ch == "'") { st = "q"; if (keep) out = out ch }
        else out = out ch
    }
    SC_INC = (st == "c")
    sub(/[ \t\n]+$/, "", out)
    return out
}
function bare(s) { return scan(s, 0, 0) }
function nocomment(s) { return scan(s, 0, 1) }
function count(s, ch,    n, i) {
    n = 0
    for (i = 1; i <= length(s); i++) if (substr(s, i, 1) == ch) n++
    return n
}
function has_word(s, w) {
    return s ~ ("(^|[^A-Za-z0-9_])" w "([^A-Za-z0-9_]|$)")
}
# s with its first "static" keyword replaced by rep ("" or "extern ").
function unstatic(s, rep,    i) {
    if (match(s, /(^|[^A-Za-z0-9_])static[ \t\n]+/)) {
        i = RSTART
        if (substr(s, i, 6) != "static") i++
        return substr(s, 1, i - 1) rep substr(s, RSTART + RLENGTH)
    }
    return s
}
function both(s) { print s > hdr; print s > impl }
function sync_hdr(n) { printf "#line %d \"%s\"\n", n, name > hdr }
function sync_impl(n) { printf "#line %d \"%s\"\n", n, name > impl }

# A complete column-0 statement that ends with ";" (a declaration, data with an initializer
# on its line(s), a static assertion).
function statement(    b, head) {
    b = bare(acc)
    if (!has_word(b, "static") || has_word(b, "inline")) { both(acc); return }
    print unstatic(acc, "") > impl
    if (b ~ /=/) {
        head = nocomment(acc)
        sub(/[ \t\n]*=.*$/, "", head)
        print unstatic(head, "extern ") ";" > hdr
        n_data++
    } else {
        print unstatic(nocomment(acc), "extern ") > hdr
    }
    sync_hdr(NR + 1)
}

# A column-0 statement whose last line opened a body with "{".
function opened(    b, head, sig, text) {
    b = bare(acc)
    head = b
    sub(/\{[^{]*$/, "", head)
    sub(/[ \t\n]+$/, "", head)
    if (index(head, "{") > 0) fail("a '{' before the body's")
    # the same, comments dropped but strings kept (target("avx2")): what is printed
    text = nocomment(acc)
    sub(/\{[^{]*$/, "", text)
    sub(/[ \t\n]+$/, "", text)
    if (head ~ /=/) {
        # file-scope data with an initializer
        if (has_word(head, "static")) print unstatic(acc, "") > impl
        else print acc > impl
        sub(/[ \t\n]*=.*$/, "", text)
        if (has_word(head, "static")) print unstatic(text, "extern ") ";" > hdr
        else if (!has_word(head, "extern")) print "extern " text ";" > hdr
        else print text ";" > hdr
        n_data++
        mode = "data"; depth = 1; bodyinc = 0
        return
    }
    if (head ~ /^(typedef|struct|union|enum)([^A-Za-z0-9_]|$)/ && index(head, "(") == 0) {
        both(acc)
        mode = "type"; depth = 1; bodyinc = 0
        return
    }
    if (index(head, "(") == 0 || index(head, ")") == 0) fail("a body that is neither a function, data nor a type")
    if (has_word(head, "inline")) {
        both(acc)
        n_inline++
        mode = "inline"
        return
    }
    sig = unstatic(text, "")
    print sig ";" > hdr
    print sig ";" > impl
    sync_impl(start)
    print unstatic(acc, "") > impl
    n_func++
    mode = "func"
}

# A whole function on one line: "static int f(void) { return 1; }".
function oneliner(    b, head, sig, text) {
    b = bare(acc)
    head = b
    sub(/[ \t]*\{.*$/, "", head)
    if (head ~ /=/ || index(head, "(") == 0) fail("a one-line body that is not a function")
    if (has_word(head, "inline")) { both(acc); n_inline++; return }
    text = nocomment(acc)
    sub(/[ \t]*\{.*$/, "", text)
    sig = unstatic(text, "")
    print sig ";" > hdr
    sync_hdr(NR + 1)
    print sig ";" > impl
    sync_impl(start)
    print unstatic(acc, "") > impl
    n_func++
}

BEGIN { mode = "out"; incomment = 0; cont = 0; n_func = 0; n_inline = 0; n_data = 0 }

mode == "func" || mode == "inline" {
    if (mode == "inline") print > hdr
    print > impl
    if ($0 ~ /^}[ \t]*$/) {
        if (mode == "func") sync_hdr(NR + 1)
        mode = "out"
    } else if ($0 ~ /^}/) fail("a function body that does not end with '}' alone")
    next
}
mode == "data" || mode == "type" {
    if (mode == "type") print > hdr
    print > impl
    b = scan($0, bodyinc, 0)
    bodyinc = SC_INC
    depth += count(b, "{") - count(b, "}")
    if (depth < 0) fail("more '}' than '{' in a data or type body")
    if (depth == 0) {
        if (b !~ /;$/) fail("a data or type body that does not end with ';'")
        if (mode == "data") sync_hdr(NR + 1)
        mode = "out"
    }
    next
}
mode == "acc" {
    acc = acc "\n" $0
}
mode == "out" {
    if (cont) { both($0); cont = ($0 ~ /\\$/); next }
    if (incomment || $0 !~ /^[A-Za-z_]/) {
        both($0)
        scan($0, incomment, 0)
        incomment = SC_INC
        if (!incomment && $0 ~ /^[ \t]*#/) cont = ($0 ~ /\\$/)
        next
    }
    if ($0 ~ /^extern "C"/) { both($0); next }
    # A macro invocation that is a whole declaration list: TIDAL_RESULTS(CHECK)
    if ($0 ~ /^[A-Z_][A-Z0-9_]*\([A-Za-z0-9_, ]*\)[ \t]*$/) { both($0); next }
    acc = $0
    start = NR
    mode = "acc"
}
mode == "acc" {
    b = bare(acc)
    o = count(b, "{"); c = count(b, "}")
    last = substr(b, length(b), 1)
    if (last == ";" && o == c) { statement(); mode = "out"; next }
    if (last == "{" && o == c + 1) { opened(); next }
    if (last == "}" && o == c && o > 0) { oneliner(); mode = "out"; next }
    if (NR - start > 40) fail("a column-0 statement of more than 40 lines: not understood")
    next
}
END {
    if (failed) exit 1
    if (mode != "out") { NR++; fail("the file ends inside a " mode) }
    printf "functions %d inline %d data %d\n", n_func, n_inline, n_data > "/dev/stderr"
}
