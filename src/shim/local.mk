# src/shim: libtracemem.so, preloaded into the program under test.
# Links libc only; libunwind is dlopen()ed privately at start (unwind.c).
#
# The modules that hold no hooks (tables, writer, figures) form a convenience
# library so the Check suites can test them without preloading anything.
SHIM_CFLAGS = $(AM_CFLAGS) -O2 -funwind-tables -fno-builtin-malloc \
	-fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -ftls-model=initial-exec \
	$(SHIM_ALIGN_CFLAGS) $(SHIM_LTO_CFLAGS)
noinst_LTLIBRARIES += libtmshimcore.la
libtmshimcore_la_SOURCES = \
	src/shim/shim.h src/shim/writer.h \
	src/shim/brk.c src/shim/live.c src/shim/mmaps.c src/shim/modules.c src/shim/outpath.c src/shim/pyframes.c src/shim/stacks.c \
	src/shim/stale.c src/shim/trace.c src/shim/util.c src/shim/writer.c src/shim/sizes.c src/shim/timeline.c
libtmshimcore_la_CPPFLAGS = $(AM_CPPFLAGS) $(LIBUNWIND_CFLAGS)
libtmshimcore_la_CFLAGS = $(SHIM_CFLAGS)
libtmshimcore_la_LIBADD = libtmcommon.la

include_HEADERS += include/tracemem.h
lib_LTLIBRARIES += libtracemem.la
libtracemem_la_SOURCES = \
	src/shim/api.c src/shim/attach.c src/shim/bootstrap.c src/shim/control.c src/shim/fatal.c src/shim/hooks.c \
	src/shim/leakscan.c src/shim/leakscan.h src/shim/newdelete.c src/shim/snapshot.c \
	src/shim/rss.c src/shim/stopthreads.c src/shim/unwfd.c src/shim/unwind.c src/shim/worker.c
libtracemem_la_CPPFLAGS = $(AM_CPPFLAGS) $(LIBUNWIND_CFLAGS)
libtracemem_la_CFLAGS = $(SHIM_CFLAGS)
libtracemem_la_LDFLAGS = -module -avoid-version -shared -Wl,-z,nodelete -Wl,-z,now -Wl,--no-undefined
libtracemem_la_LIBADD = libtmshimcore.la -ldl -lpthread

# Unit suites for the shim's tables, figures and writer (never preloaded).
SHIM_CHECK_LDADD = libtmshimcore.la $(CHECK_LIBS) -ldl -lpthread
SHIM_CHECK_CPPFLAGS = $(AM_CPPFLAGS) $(CHECK_CFLAGS)
check_PROGRAMS += tests/unit/check_live tests/unit/check_stacks tests/unit/check_writer \
	tests/unit/check_trace tests/unit/check_pyframes tests/unit/check_stale tests/unit/check_live_kpage
TESTS += tests/unit/check_live tests/unit/check_stacks tests/unit/check_writer \
	tests/unit/check_trace tests/unit/check_pyframes tests/unit/check_stale tests/unit/check_live_kpage
tests_unit_check_stale_SOURCES = tests/unit/check_stale.c tests/unit/shim_stubs.c tests/unit/shim_stubs.h
tests_unit_check_stale_CPPFLAGS = $(SHIM_CHECK_CPPFLAGS)
tests_unit_check_stale_LDADD = $(SHIM_CHECK_LDADD)
tests_unit_check_live_SOURCES = tests/unit/check_live.c
tests_unit_check_live_CPPFLAGS = $(SHIM_CHECK_CPPFLAGS)
tests_unit_check_live_LDADD = $(SHIM_CHECK_LDADD)
tests_unit_check_live_kpage_SOURCES = tests/unit/check_live_kpage.c
tests_unit_check_live_kpage_CPPFLAGS = $(SHIM_CHECK_CPPFLAGS)
tests_unit_check_live_kpage_LDADD = $(SHIM_CHECK_LDADD)
tests_unit_check_stacks_SOURCES = tests/unit/check_stacks.c tests/unit/shim_stubs.c tests/unit/shim_stubs.h
tests_unit_check_stacks_CPPFLAGS = $(SHIM_CHECK_CPPFLAGS)
tests_unit_check_stacks_LDADD = $(SHIM_CHECK_LDADD)
tests_unit_check_writer_SOURCES = tests/unit/check_writer.c tests/unit/shim_stubs.c tests/unit/shim_stubs.h
tests_unit_check_writer_CPPFLAGS = $(SHIM_CHECK_CPPFLAGS) $(ZLIB_CFLAGS)
tests_unit_check_writer_LDADD = $(SHIM_CHECK_LDADD) $(ZLIB_LIBS)
tests_unit_check_trace_SOURCES = tests/unit/check_trace.c tests/unit/shim_stubs.c tests/unit/shim_stubs.h
tests_unit_check_trace_CPPFLAGS = $(SHIM_CHECK_CPPFLAGS)
tests_unit_check_trace_LDADD = $(SHIM_CHECK_LDADD)
tests_unit_check_pyframes_SOURCES = tests/unit/check_pyframes.c tests/unit/shim_stubs.c tests/unit/shim_stubs.h
tests_unit_check_pyframes_CPPFLAGS = $(SHIM_CHECK_CPPFLAGS)
tests_unit_check_pyframes_LDADD = $(SHIM_CHECK_LDADD)

# Leak scan: programs with known answers and the tests that run them (and
# Valgrind, where installed, on the same programs).
LEAK_PROG_CFLAGS = -g -O0 -fno-omit-frame-pointer -I$(top_srcdir)/include
check_PROGRAMS += tests/progs/leaks_kinds tests/progs/leaks_threads tests/progs/leaks_cxx tests/progs/leaks_containers \
	tests/progs/leaks_classes tests/progs/leaks_graph
tests_progs_leaks_graph_CFLAGS = $(LEAK_PROG_CFLAGS)
tests_progs_leaks_classes_CFLAGS = $(LEAK_PROG_CFLAGS)
tests_progs_leaks_classes_LDADD = -lpthread
# the same programs with the heap low (glibc's mangled links land in it)
check_PROGRAMS += tests/progs/leaks_classes_nopie
tests_progs_leaks_classes_nopie_SOURCES = tests/progs/leaks_classes.c
tests_progs_leaks_classes_nopie_CFLAGS = $(LEAK_PROG_CFLAGS) -fno-pie
tests_progs_leaks_classes_nopie_LDFLAGS = -no-pie
tests_progs_leaks_classes_nopie_LDADD = -lpthread
tests_progs_leaks_kinds_CFLAGS = $(LEAK_PROG_CFLAGS)
tests_progs_leaks_kinds_LDADD = -lpthread
tests_progs_leaks_threads_CFLAGS = $(LEAK_PROG_CFLAGS)
tests_progs_leaks_threads_LDADD = -lpthread
tests_progs_leaks_cxx_SOURCES = tests/progs/leaks_cxx.cc
tests_progs_leaks_cxx_CXXFLAGS = $(LEAK_PROG_CFLAGS) -std=c++17 -pthread
tests_progs_leaks_cxx_LDFLAGS = -pthread
tests_progs_leaks_containers_SOURCES = tests/progs/leaks_containers.cc
tests_progs_leaks_containers_CXXFLAGS = $(LEAK_PROG_CFLAGS) -std=c++17
TESTS += tests/integration/leaks_kinds.sh tests/integration/leaks_check.sh \
	tests/integration/leaks_threads.sh tests/integration/leaks_real.sh \
	tests/integration/leaks_classes.sh tests/integration/leaks_graph.sh
EXTRA_DIST += tests/unit/suite_main.h
EXTRA_DIST += tests/integration/leaks_common.sh

# The leak scan's speed on a large heap (bench/leakscan.md). noinst: built
# with the library; bench/local.mk owns EXTRA_PROGRAMS.
noinst_PROGRAMS += bench/leakscan
bench_leakscan_SOURCES = bench/leakscan.c
bench_leakscan_CFLAGS = -O2 -g -I$(top_srcdir)/include
