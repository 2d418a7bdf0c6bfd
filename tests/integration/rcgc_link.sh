#!/bin/sh
# rcgc_link.sh - -lrcgc through the linker script installed as librcgc.so
# (src/rcgc/librcgc.so.in, pointed at the build tree here): the program
# gets librcgc_nonshared.a's copy of the collector's passes, which is the
# one its collections run; linked with librcgc.so.0 alone it runs the
# library's own. Both collect the same garbage. A plugin linked with
# -lrcgc brings its copy while it is loaded and takes it away at dlclose.
. "$top_srcdir/tests/integration/lib.sh"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler"
LIBS=$top_builddir/.libs
[ -e "$LIBS/librcgc.so.0" ] || fail "librcgc.so.0 is not built"
[ -e "$top_builddir/librcgc_nonshared.a" ] || fail "librcgc_nonshared.a is not built"

# the script as installed, with the build tree for libdir
mkdir "$WORK/lib"
ln -s "$LIBS/librcgc.so.0" "$top_builddir/librcgc_nonshared.a" "$WORK/lib/"
sed "s|@libdir@|$WORK/lib|g" "$top_srcdir/src/rcgc/librcgc.so.in" >"$WORK/lib/librcgc.so"

# passes.h: rcgc__passes_use takes a copy only when none is in use, so a
# copy of the right ABI is refused exactly when one is registered
cat >"$WORK/ring.h" <<'C'
#include <stdio.h>
#include "rcgc.h"
#include "rcgc/passes.h"

typedef struct pair { void *a, *b; } pair;
static int pair_traverse(void *self, rcgc_visit_fn visit, void *arg)
{
    pair *p = self;
    int r = p->a ? visit(p->a, arg) : 0;
    return r ? r : p->b ? visit(p->b, arg) : 0;
}
static void pair_clear(void *self)
{
    pair *p = self;
    void *a = p->a, *b = p->b;
    p->a = p->b = NULL;
    if (a) rcgc_decref(a);
    if (b) rcgc_decref(b);
}
static const rcgc_type pair_type = {"pair", pair_traverse, pair_clear, NULL, NULL, NULL};

/* "program" when a copy of the passes is registered, else "library" */
static const char *passes_in_use(void)
{
    static const gcpasses probe = {GC_PASSES_ABI, NULL, NULL, NULL};
    if (!rcgc__passes_use(&probe))
        return "program";
    rcgc__passes_drop(&probe);
    return "library";
}

/* a ring of 1000 collected while held, then dropped and collected:
 * "alive freed" */
static void ring(char *out, size_t n)
{
    rcgc_disable();
    pair *first = NULL, *prev = NULL;
    for (int i = 0; i < 1000; i++) {
        pair *p = rcgc_new(&pair_type, sizeof *p);
        if (prev) prev->a = p; else first = p;
        prev = p;
    }
    prev->a = first;
    rcgc_incref(first); /* the ring's reference; we keep rcgc_new's */
    long alive = rcgc_collect(2);
    rcgc_decref(first);
    snprintf(out, n, "%ld %ld", alive, rcgc_collect(2));
}
C
cat >"$WORK/prog.c" <<'C'
#include "ring.h"
int main(void)
{
    char r[64];
    const char *who = passes_in_use();
    ring(r, sizeof r);
    printf("%s %s\n", who, r);
    return 0;
}
C
# a plugin linked with -lrcgc, loaded and unloaded by a program that
# linked librcgc.so.0 alone: its copy is used while it is loaded, and
# given up at dlclose (a dangling copy would crash the last collection)
cat >"$WORK/plugin.c" <<'C'
#include "ring.h"
const char *plugin_ring(void)
{
    static char r[64];
    ring(r, sizeof r);
    return r;
}
C
cat >"$WORK/host.c" <<'C'
#include <dlfcn.h>
#include "ring.h"
int main(int argc, char **argv)
{
    char r[64];
    (void)argc;
    printf("%s", passes_in_use());
    void *dl = dlopen(argv[1], RTLD_NOW);
    if (!dl) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    const char *(*plugin_ring)(void) = (const char *(*)(void))dlsym(dl, "plugin_ring");
    printf(" %s", passes_in_use());
    printf(" %s", plugin_ring());
    dlclose(dl);
    ring(r, sizeof r);
    printf(" %s %s\n", passes_in_use(), r);
    return 0;
}
C
set -- -I"$top_srcdir/include" -I"$top_srcdir/src" -I"$top_builddir" -I"$WORK"
"$CC" -O2 -o "$WORK/with" "$@" "$WORK/prog.c" -L"$WORK/lib" -lrcgc ||
    fail "cannot link with -lrcgc (the script)"
"$CC" -O2 -o "$WORK/without" "$@" "$WORK/prog.c" "$WORK/lib/librcgc.so.0" ||
    fail "cannot link with librcgc.so.0"
"$CC" -O2 -fPIC -shared -o "$WORK/libplugin.so" "$@" "$WORK/plugin.c" -L"$WORK/lib" -lrcgc ||
    fail "cannot link a shared object with -lrcgc"
"$CC" -O2 -o "$WORK/host" "$@" "$WORK/host.c" "$WORK/lib/librcgc.so.0" -ldl ||
    fail "cannot link the host program"

assert_eq "-lrcgc links the archive member" 1 \
    "$(nm "$WORK/with" | grep -c ' rcgc__nonshared_passes$')"
assert_eq "librcgc.so.0 alone does not" 0 \
    "$(nm "$WORK/without" | grep -c ' rcgc__nonshared_passes$')"
assert_eq "needed libraries" "librcgc.so.0" \
    "$(readelf -d "$WORK/with" | sed -n 's/.*NEEDED.*\[\(librcgc[^]]*\)\]/\1/p')"
assert_eq "collections with the program's passes" "program 0 1000" \
    "$(LD_LIBRARY_PATH=$LIBS "$WORK/with")"
assert_eq "collections with the library's passes" "library 0 1000" \
    "$(LD_LIBRARY_PATH=$LIBS "$WORK/without")"
assert_eq "the plugin links the archive member" 1 \
    "$(nm "$WORK/libplugin.so" | grep -c ' rcgc__nonshared_passes$')"
assert_eq "plugin's passes while loaded, the library's after dlclose" \
    "library program 0 1000 library 0 1000" \
    "$(LD_LIBRARY_PATH=$LIBS "$WORK/host" "$WORK/libplugin.so")"
