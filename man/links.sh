#!/bin/sh
# links.sh - one page per name: every function a section-3 page documents
# (the names of its NAME section) gets a page of its own name that sources
# it (".so man3/PAGE.3", as glibc's and the Linux man-pages' links do), so
# that "man tracemem_take_snapshot" and "man rcgc_incref" open the page.
#
#   links.sh list PAGE...              prints "NAME PAGE" for each link
#   links.sh install DIR PAGE...       writes the links into DIR (man3)
#   links.sh uninstall DIR PAGE...     removes them
set -eu

# names PAGE: the names of PAGE's NAME section (mdoc .Nm lines, or the
# comma-separated list of man(7) before "\-").
names() {
    awk '
        /^\.S[Hh] / { in_name = ($2 == "NAME"); next }
        !in_name { next }
        /^\.Nm / { n = $2; sub(/,$/, "", n); print n; next }
        /^\.Nd / { next }
        /^[^.]/ {
            line = $0
            sub(/\\-.*/, "", line)
            gsub(/[ \t]/, "", line)
            k = split(line, parts, ",")
            for (i = 1; i <= k; i++) if (parts[i] != "") print parts[i]
        }
    ' "$1"
}

list() {
    for page in "$@"; do
        base=$(basename "$page" .3)
        for n in $(names "$page"); do
            [ "$n" = "$base" ] || echo "$n $base"
        done
    done
}

cmd=$1
shift
case $cmd in
list)
    list "$@"
    ;;
install)
    dir=$1
    shift
    mkdir -p "$dir"
    list "$@" | while read -r name page; do
        [ -e "$dir/$name.3" ] && [ ! -f "$dir/$name.3" ] && continue
        printf '.so man3/%s.3\n' "$page" >"$dir/$name.3"
    done
    ;;
uninstall)
    dir=$1
    shift
    list "$@" | while read -r name page; do
        rm -f "$dir/$name.3"
    done
    ;;
*)
    echo "usage: links.sh list|install DIR|uninstall DIR PAGE..." >&2
    exit 2
    ;;
esac
