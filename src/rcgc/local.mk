# src/rcgc: librcgc, reference counting with a generational cycle collector
# (SPEC section 8), its Check suite, man pages, example and benchmark.
# The code is a convenience library so that the unit tests can reach the
# internal (hidden) functions; librcgc.la is that library, installed.
noinst_LTLIBRARIES += librcgc_core.la
librcgc_core_la_SOURCES = src/rcgc/internal.h src/rcgc/object.c src/rcgc/collect.c \
	src/rcgc/weakref.c src/rcgc/stats.c src/rcgc/section.c \
	src/rcgc/pool.c src/rcgc/passes.h src/rcgc/passes.c
# calls between the library's own exported functions stay direct
librcgc_core_la_CFLAGS = $(AM_CFLAGS) -fno-semantic-interposition

lib_LTLIBRARIES += librcgc.la
include_HEADERS += include/rcgc.h
librcgc_la_SOURCES =
librcgc_la_LIBADD = librcgc_core.la
librcgc_la_LDFLAGS = -version-info 0:0:0 -no-undefined
# librcgc.a as well, for programs that want the collector in their own
# binary, next to their types' traverse/clear (as CPython's collector is):
# calls between a program and a shared library mapped terabytes away cost
# more (bench/rcgc/README.md). Built with the compiler's default code model
# (PIE on Debian): for executables, not for shared objects.
lib_LIBRARIES = librcgc.a
librcgc_a_SOURCES = $(librcgc_core_la_SOURCES)
librcgc_a_CFLAGS = $(AM_CFLAGS) -fno-semantic-interposition

# librcgc_nonshared.a: a second copy of the collector's per-object passes,
# linked into each program (or shared object) that links -lrcgc, where it
# registers itself, so that a collection runs next to the types' traverse
# (src/rcgc/passes.h says why). The installed librcgc.so is a linker
# script naming librcgc.so.0 and this archive, as glibc's libc.so names
# libc_nonshared.a. Position-independent: shared objects link it too.
lib_LIBRARIES += librcgc_nonshared.a
librcgc_nonshared_a_SOURCES = src/rcgc/internal.h src/rcgc/passes.h src/rcgc/passes.c
librcgc_nonshared_a_CFLAGS = $(AM_CFLAGS) -fPIC -DRCGC_NONSHARED
# what -lrcgc links when it finds the installed script (in the tree the
# programs name the archive and the symbol themselves)
RCGC_PASSES_LINK = -Wl,-u,rcgc__nonshared_passes

install-exec-hook: install-rcgc-script
uninstall-hook: uninstall-rcgc-script
# replaces the development link librcgc.so -> librcgc.so.0.0.0
install-rcgc-script: $(srcdir)/src/rcgc/librcgc.so.in
	rm -f "$(DESTDIR)$(libdir)/librcgc.so"
	sed 's|@libdir[@]|$(libdir)|g' $(srcdir)/src/rcgc/librcgc.so.in >"$(DESTDIR)$(libdir)/librcgc.so"
uninstall-rcgc-script:
	rm -f "$(DESTDIR)$(libdir)/librcgc.so"
.PHONY: install-rcgc-script uninstall-rcgc-script
EXTRA_DIST += src/rcgc/librcgc.so.in

check_PROGRAMS += tests/unit/check_rcgc
TESTS += tests/unit/check_rcgc
tests_unit_check_rcgc_SOURCES = tests/unit/check_rcgc.c
tests_unit_check_rcgc_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
# with the program's copy of the passes, as -lrcgc links it (and the
# library's, which the tests run too)
tests_unit_check_rcgc_LDADD = librcgc_core.la librcgc_nonshared.a $(CHECK_LIBS) $(JANSSON_LIBS)
tests_unit_check_rcgc_LDFLAGS = $(RCGC_PASSES_LINK)
TESTS += tests/integration/rcgc_valgrind.sh

# bench/rcgc: librcgc against CPython's gc.collect() (bench/rcgc/run.sh)
noinst_PROGRAMS += bench/rcgc/bench_rcgc
bench_rcgc_bench_rcgc_SOURCES = bench/rcgc/bench_rcgc.c
bench_rcgc_bench_rcgc_LDADD = librcgc.la librcgc_nonshared.a
bench_rcgc_bench_rcgc_LDFLAGS = -no-install $(RCGC_PASSES_LINK)
# the same program linked with librcgc.a: the collector's indirect calls
# to the types' traverse/clear stay within one binary, as CPython's do
# (bench/rcgc/README.md says why that matters)
noinst_PROGRAMS += bench/rcgc/bench_rcgc_static
bench_rcgc_bench_rcgc_static_SOURCES = bench/rcgc/bench_rcgc.c
bench_rcgc_bench_rcgc_static_LDADD = librcgc.a

# bench/rcgc/pause.sh: pauses on a large heap, librcgc against CPython
noinst_PROGRAMS += bench/rcgc/bench_pause
bench_rcgc_bench_pause_SOURCES = bench/rcgc/bench_pause.c
bench_rcgc_bench_pause_LDADD = librcgc.la librcgc_nonshared.a
bench_rcgc_bench_pause_LDFLAGS = -no-install $(RCGC_PASSES_LINK)
EXTRA_DIST += bench/rcgc/bench_pause.py bench/rcgc/pause.sh

# examples/rcgc_graph: the tour of librcgc walked through in examples/README.md
noinst_PROGRAMS += examples/rcgc_graph
examples_rcgc_graph_SOURCES = examples/rcgc_graph.c
examples_rcgc_graph_LDADD = librcgc.la librcgc_nonshared.a
# no libtool wrapper script: the integration test preloads the shim into it
examples_rcgc_graph_LDFLAGS = -no-install $(RCGC_PASSES_LINK)

dist_man_MANS += man/rcgc.3 man/rcgc_new.3 man/rcgc_collect.3 man/rcgc_garbage_count.3 \
	man/rcgc_callback_add.3 man/rcgc_get_objects.3 man/rcgc_weakref_new.3
TESTS += tests/integration/rcgc_section.sh tests/integration/rcgc_link.sh \
	tests/integration/rcgc_m32.sh
EXTRA_DIST += tests/integration/rcgc_valgrind.sh tests/integration/rcgc_section.sh \
	tests/integration/rcgc_link.sh tests/integration/rcgc_m32.sh

# src/report/gc.c (listed in src/report/local.mk): its Check suite
check_PROGRAMS += tests/unit/check_gc
TESTS += tests/unit/check_gc
tests_unit_check_gc_SOURCES = tests/unit/check_gc.c
tests_unit_check_gc_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_check_gc_LDADD = libtmreport.la $(CHECK_LIBS) $(JANSSON_LIBS)
dist_man_MANS += man/tracemem-gc.1
