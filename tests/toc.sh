#!/bin/sh
# tests/toc.sh FILE - checks that the table of contents at the top of FILE (default tidal.h)
# lists every `// >>name` section marker of the file, in file order, and nothing else, so
# `grep -n '^// >>' FILE` and the table of contents never drift apart. make test runs it
# (tests/run.sh) on tidal.h and tidal_sim.h; it prints what differs and fails when they disagree.
f=${1:-tidal.h}
t=$(mktemp -d) || exit 1
awk '/TABLE OF CONTENTS/ { t = 1; next } t && /^[ \t]*$/ { exit } t' "$f" |
    sed -n 's/^[ \t]*>>\([a-z_0-9]*\).*/\1/p' > "$t/toc"
sed -n 's|^// >>\([a-z_0-9]*\).*|\1|p' "$f" > "$t/markers"
if [ ! -s "$t/markers" ] || ! cmp -s "$t/toc" "$t/markers"; then
    echo "$f: the table of contents and the // >> markers differ (< contents, > markers):"
    diff "$t/toc" "$t/markers"
    rm -rf "$t"
    exit 1
fi
echo "$f: the table of contents lists all $(wc -l < "$t/markers") sections in order"
rm -rf "$t"
