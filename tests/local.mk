# tests: sources and tests of this part
#
# Integration tests of the recording shim (tests/integration/shim_*.sh) and
# the programs they run under it. The programs never link the shim: the
# tests preload it. -O0 -g and frame pointers keep every call a frame and
# its line exact; configure's CFLAGS (-O2 by default) come after these, so
# each program also says #pragma GCC optimize("O0").
SHIM_PROG_CFLAGS = -g -O0 -fno-omit-frame-pointer
EXTRA_DIST += tests/integration/lib.sh tests/integration/shim_check.py

check_PROGRAMS += tests/progs/shim_allocfns
tests_progs_shim_allocfns_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_allocfns.sh

# Whole-product checks (lead): snapshot schema validation, man pages.
TESTS += tests/integration/schema.sh tests/integration/man_pages.sh
EXTRA_DIST += tests/integration/schema.sh doc

check_PROGRAMS += tests/progs/shim_api
tests_progs_shim_api_CFLAGS = $(SHIM_PROG_CFLAGS) -I$(top_srcdir)/include
tests_progs_shim_api_LDFLAGS = -rdynamic
tests_progs_shim_api_LDADD = -ldl
TESTS += tests/integration/shim_api.sh

check_PROGRAMS += tests/progs/shim_threads
tests_progs_shim_threads_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_shim_threads_LDADD = -lpthread
TESTS += tests/integration/shim_threads.sh

check_PROGRAMS += tests/progs/shim_solo
tests_progs_shim_solo_CFLAGS = $(SHIM_PROG_CFLAGS) -I$(top_srcdir)/include
tests_progs_shim_solo_LDADD = -lpthread
TESTS += tests/integration/shim_solo.sh

check_PROGRAMS += tests/progs/shim_fork tests/progs/shim_child
tests_progs_shim_fork_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_shim_fork_LDADD = -lpthread
tests_progs_shim_child_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_fork.sh

# Two builds of one allocating library, dlopen()ed one after the other.
check_LTLIBRARIES += tests/progs/libshimplug_a.la tests/progs/libshimplug_b.la
tests_progs_libshimplug_a_la_SOURCES = tests/progs/shim_plugin.c
tests_progs_libshimplug_a_la_CFLAGS = $(SHIM_PROG_CFLAGS) -DPLUGIN=1
tests_progs_libshimplug_a_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_progs_libshimplug_b_la_SOURCES = tests/progs/shim_plugin.c
tests_progs_libshimplug_b_la_CFLAGS = $(SHIM_PROG_CFLAGS) -DPLUGIN=2
tests_progs_libshimplug_b_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
check_PROGRAMS += tests/progs/shim_dlopen
tests_progs_shim_dlopen_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_shim_dlopen_LDADD = -ldl
TESTS += tests/integration/shim_dlopen.sh

check_PROGRAMS += tests/progs/shim_cxx
tests_progs_shim_cxx_SOURCES = tests/progs/shim_cxx.cc
tests_progs_shim_cxx_CXXFLAGS = $(SHIM_PROG_CFLAGS) -std=c++17 -pthread
tests_progs_shim_cxx_LDFLAGS = -pthread
TESTS += tests/integration/shim_cxx.sh

check_PROGRAMS += tests/progs/shim_fds
tests_progs_shim_fds_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_fds.sh

check_PROGRAMS += tests/progs/shim_forkrace
tests_progs_shim_forkrace_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_shim_forkrace_LDADD = -lpthread
TESTS += tests/integration/shim_forkrace.sh

check_PROGRAMS += tests/progs/shim_sigexit
tests_progs_shim_sigexit_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_sigexit.sh tests/integration/shim_nothread.sh

check_PROGRAMS += tests/progs/shim_blocked
tests_progs_shim_blocked_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_shim_blocked_LDADD = -lpthread
TESTS += tests/integration/shim_gdb.sh

check_PROGRAMS += tests/progs/shim_sigsafe
tests_progs_shim_sigsafe_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_shim_sigsafe_LDADD = -lpthread
TESTS += tests/integration/shim_sigsafe.sh

check_PROGRAMS += tests/progs/shim_exit
tests_progs_shim_exit_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_exit.sh

check_PROGRAMS += tests/progs/shim_env
tests_progs_shim_env_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_env.sh tests/integration/shim_snapshots.sh

check_PROGRAMS += tests/progs/shim_sampled
tests_progs_shim_sampled_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_shim_sampled_LDADD = -lpthread
TESTS += tests/integration/shim_sampled.sh tests/integration/attach_sampled.sh

TESTS += tests/integration/shim_real.sh

check_PROGRAMS += tests/progs/shim_merge
check_PROGRAMS += tests/progs/tm_manystacks
tests_progs_tm_manystacks_CFLAGS = $(SHIM_PROG_CFLAGS) -I$(top_srcdir)/include
TESTS += tests/integration/shim_tlrows.sh
tests_progs_shim_merge_CFLAGS = $(SHIM_PROG_CFLAGS) -I$(top_srcdir)/include
tests_progs_shim_merge_LDADD = -lpthread
TESTS += tests/integration/shim_merge.sh

check_PROGRAMS += tests/progs/shim_peak
tests_progs_shim_peak_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_peak.sh

check_PROGRAMS += tests/progs/shim_peakrec
tests_progs_shim_peakrec_CFLAGS = $(SHIM_PROG_CFLAGS) -I$(top_srcdir)/include
tests_progs_shim_peakrec_LDADD = -lpthread
TESTS += tests/integration/shim_peakrec.sh

check_PROGRAMS += tests/progs/shim_manyframes
tests_progs_shim_manyframes_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_manyframes.sh

check_PROGRAMS += tests/progs/shim_soloswitch
tests_progs_shim_soloswitch_CFLAGS = $(SHIM_PROG_CFLAGS) -I$(top_srcdir)/include
tests_progs_shim_soloswitch_LDADD = -lpthread
TESTS += tests/integration/shim_soloswitch.sh

# Test scripts are not distributed by automake on their own.
EXTRA_DIST += \
	tests/integration/shim_fds.sh tests/integration/shim_forkrace.sh \
	tests/integration/shim_sigexit.sh tests/integration/shim_nothread.sh \
	tests/integration/shim_gdb.sh tests/integration/shim_sigsafe.sh \
	tests/integration/leaks_classes.sh tests/integration/man_pages.sh \
	tests/integration/leaks_graph.sh \
	tests/integration/shim_allocfns.sh tests/integration/shim_api.sh \
	tests/integration/shim_cxx.sh tests/integration/shim_dlopen.sh \
	tests/integration/shim_env.sh tests/integration/shim_exit.sh tests/integration/shim_sampled.sh \
	tests/integration/attach_sampled.sh \
	tests/integration/shim_fork.sh tests/integration/shim_peak.sh \
	tests/integration/shim_real.sh tests/integration/shim_snapshots.sh \
	tests/integration/shim_threads.sh tests/integration/shim_solo.sh \
	tests/integration/shim_merge.sh tests/integration/shim_peakrec.sh \
	tests/integration/shim_soloswitch.sh tests/integration/shim_manyframes.sh \
	tests/integration/shim_tlrows.sh \
	tests/integration/shim_early.sh \
	tests/integration/leaks_check.sh tests/integration/leaks_kinds.sh \
	tests/integration/leaks_real.sh tests/integration/leaks_threads.sh
TESTS += tests/integration/shim_early.sh

# The stack cache under TRACEMEM_VERIFY_STACKS=1 (rec): built with -O2,
# where frames have rsp-based CFAs and realigned frames exist.
check_PROGRAMS += tests/progs/shim_stackcache tests/progs/shim_stackcache_cxx
tests_progs_shim_stackcache_CFLAGS = -g -O2 -pthread
tests_progs_shim_stackcache_LDFLAGS = -pthread
tests_progs_shim_stackcache_cxx_SOURCES = tests/progs/shim_stackcache_cxx.cc
tests_progs_shim_stackcache_cxx_CXXFLAGS = -g -O2 -std=c++17 -pthread
tests_progs_shim_stackcache_cxx_LDFLAGS = -pthread
TESTS += tests/integration/shim_stackcache.sh
EXTRA_DIST += tests/integration/shim_stackcache.sh

# doc/guide.md's walk-through, run as the guide shows it (needs g++).
TESTS += tests/integration/doc_guide.sh
EXTRA_DIST += tests/integration/doc_guide.sh

# The real-program matrix (tests/integration/matrix.sh): real programs run
# untraced and under the shim, compared byte for byte. Not part of 'make
# check' (minutes, and needs node, gdb, clang ...); run 'make check-matrix'.
# Its programs are EXTRA_PROGRAMS, built only by that target.
MATRIX_PROGS = tests/progs/matrix_fds tests/progs/matrix_alarm tests/progs/matrix_hello
EXTRA_PROGRAMS += $(MATRIX_PROGS)
tests_progs_matrix_fds_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_matrix_alarm_CFLAGS = $(SHIM_PROG_CFLAGS)
tests_progs_matrix_hello_CFLAGS = $(SHIM_PROG_CFLAGS)
CLEANFILES += $(MATRIX_PROGS) check-matrix.log
EXTRA_DIST += tests/integration/matrix.sh tests/integration/matrix_check.py

.PHONY: check-matrix
check-matrix: $(MATRIX_PROGS) libtracemem.la
	@top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	PROGS='$(abs_top_builddir)/tests/progs' \
	MATRIX_LOG='$(abs_top_builddir)/check-matrix.log' \
	bash '$(abs_top_srcdir)/tests/integration/matrix.sh'
