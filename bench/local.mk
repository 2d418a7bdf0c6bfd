# bench: allocation-heavy workloads timed untraced, under tracemem and under
# heaptrack (bench/run.sh). Not part of 'make check'; run 'make bench'.
# The workloads are EXTRA_PROGRAMS: built only by 'make bench', with plain
# -O2 -g like a user's program (not the project's warning flags).
BENCH_PROGS = bench/wl_chain bench/wl_threads bench/wl_realloc bench/wl_cxx bench/wl_churn bench/wl_live
EXTRA_PROGRAMS += $(BENCH_PROGS)
bench_wl_chain_SOURCES = bench/workloads/wl_chain.c
bench_wl_chain_CFLAGS = -O2 -g
bench_wl_threads_SOURCES = bench/workloads/wl_threads.c
bench_wl_threads_CFLAGS = -O2 -g -pthread
bench_wl_threads_LDADD = -lpthread
bench_wl_realloc_SOURCES = bench/workloads/wl_realloc.c
bench_wl_realloc_CFLAGS = -O2 -g
bench_wl_cxx_SOURCES = bench/workloads/wl_cxx.cc
bench_wl_cxx_CXXFLAGS = -O2 -g
bench_wl_churn_SOURCES = bench/workloads/wl_churn.c
bench_wl_churn_CFLAGS = -O2 -g -pthread
bench_wl_churn_LDADD = -lpthread
bench_wl_live_SOURCES = bench/workloads/wl_live.c
bench_wl_live_CFLAGS = -O2 -g
CLEANFILES += $(BENCH_PROGS)

# 'make clean' removes what 'make bench' wrote in its default place
# (bench/run.sh: BUILD_DIR/bench-results; a BENCH_OUT elsewhere is kept).
clean-local: clean-bench
.PHONY: clean-bench
clean-bench:
	-rm -rf '$(abs_top_builddir)/bench-results'

# BENCH_RUNS, BENCH_TIMER, BENCH_ONLY, BENCH_OUT pass through the environment.
.PHONY: bench
bench: $(BENCH_PROGS) libtracemem.la
	$(SHELL) $(top_srcdir)/bench/run.sh '$(abs_top_builddir)'

# The CLI end to end: tracemem run of gcc's cc1 against heaptrack +
# heaptrack_print and untraced (bench/cli.sh). BENCH_RUNS, BENCH_OUT pass
# through the environment.
EXTRA_DIST += bench/cli.sh bench/many.sh bench/workloads/cc1_input.py bench/interleave.sh
# The floor of interposition (bench/floor.sh) and two shims' figures compared (bench/same.sh)
EXTRA_DIST += bench/floor.sh bench/workloads/fwd_shim.c bench/same.sh
# What exact mode's capture and live table cost, from measurement-only builds (bench/decompose.sh)
EXTRA_DIST += bench/decompose.sh
# Python frames in the stacks priced against a shim without them (bench/py.sh)
EXTRA_DIST += bench/py.sh bench/workloads/py_frames.py
.PHONY: bench-cli
bench-cli: tracemem$(EXEEXT) libtracemem.la
	$(SHELL) $(top_srcdir)/bench/cli.sh '$(abs_top_builddir)'
clean-bench-cli:
	-rm -rf '$(abs_top_builddir)/bench-cli'
clean-local: clean-bench-cli
.PHONY: clean-bench-cli
