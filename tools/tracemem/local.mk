# tools/tracemem: the tracemem command (git-style builtin table), its man
# pages and integration tests.
bin_PROGRAMS += tracemem
tracemem_SOURCES = \
	tools/tracemem/main.c tools/tracemem/builtin.h tools/tracemem/cli.c \
	tools/tracemem/cmd_run.c tools/tracemem/cmd_symbolize.c \
	tools/tracemem/cmd_top.c tools/tracemem/cmd_diff.c \
	tools/tracemem/supervise.c tools/tracemem/supervise.h \
	tools/tracemem/python.c
tracemem_CPPFLAGS = $(AM_CPPFLAGS) -DTM_LIBDIR=\"$(libdir)\"
tracemem_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LIBDW_CFLAGS)
tracemem_LDADD = libtmreport.la $(JANSSON_LIBS) $(LIBDW_LIBS)

# Test programs: -O0 and frame pointers so that line numbers are exact.
TM_PROG_CFLAGS = -g -O0 -fno-omit-frame-pointer
check_PROGRAMS += tests/progs/tm_allocs
tests_progs_tm_allocs_CFLAGS = $(TM_PROG_CFLAGS)
# optimized, as real programs are: its inline functions are laid out for real
check_PROGRAMS += tests/progs/tm_inline
tests_progs_tm_inline_CFLAGS = -g -O2

# Integration tests (tests/integration/lib.sh) and their golden data.
TM_CLI_TESTS = \
	tests/integration/cli_golden.sh tests/integration/cli_bad_input.sh \
	tests/integration/cli_top.sh tests/integration/cli_diff.sh \
	tests/integration/cli_run.sh tests/integration/cli_real.sh \
	tests/integration/cli_symbolize.sh tests/integration/cli_python.sh tests/integration/cli_pyframes.sh \
	tests/integration/cli_output.sh tests/integration/cli_inputs.sh \
	tests/integration/cli_crash.sh tests/integration/cli_quote.sh \
	tests/integration/cli_cxx.sh tests/integration/cli_fold.sh \
	tests/integration/cli_temporary.sh \
	tests/integration/cli_gzip.sh tests/integration/cli_inline.sh \
	tests/integration/run_gzip_level.sh
TESTS += $(TM_CLI_TESTS)
EXTRA_DIST += $(TM_CLI_TESTS)

dist_man_MANS += man/tracemem.1 man/tracemem-run.1 man/tracemem-top.1 \
	man/tracemem-diff.1 man/tracemem-symbolize.1
# tracemem leaks and tracemem check (the leak gate)
tracemem_SOURCES += tools/tracemem/cmd_leaks.c tools/tracemem/cmd_check.c
check_PROGRAMS += tests/progs/tm_cxx
tests_progs_tm_cxx_SOURCES = tests/progs/tm_cxx.cc
tests_progs_tm_cxx_CXXFLAGS = $(TM_PROG_CFLAGS)
# tracemem flamegraph, export and trend
tracemem_SOURCES += tools/tracemem/cmd_flamegraph.c \
	tools/tracemem/cmd_export.c tools/tracemem/cmd_trend.c \
	tools/tracemem/outfile.c tools/tracemem/outfile.h
# the same sites in a non-PIE executable (load bias 0)
check_PROGRAMS += tests/progs/tm_allocs_nopie
tests_progs_tm_allocs_nopie_SOURCES = tests/progs/tm_allocs.c
tests_progs_tm_allocs_nopie_CFLAGS = $(TM_PROG_CFLAGS) -fno-pie
tests_progs_tm_allocs_nopie_LDFLAGS = -no-pie
check_PROGRAMS += tests/progs/gate_leaks
tests_progs_gate_leaks_CFLAGS = $(TM_PROG_CFLAGS)
tracemem_SOURCES += tools/tracemem/cmd_gc.c tools/tracemem/cmd_rss.c
tracemem_SOURCES += tools/tracemem/cmd_stats.c
check_PROGRAMS += tests/progs/tm_grow
tests_progs_tm_grow_CFLAGS = $(TM_PROG_CFLAGS)
# the timeline, the size histogram, stats and the run summary's chart
check_PROGRAMS += tests/progs/tm_timeline
tests_progs_tm_timeline_CFLAGS = $(TM_PROG_CFLAGS)
TM_TIMELINE_TESTS = tests/integration/cli_timeline.sh
TESTS += $(TM_TIMELINE_TESTS)
EXTRA_DIST += $(TM_TIMELINE_TESTS)
TM_FLAME_TESTS = tests/integration/cli_trend.sh \
	tests/integration/cli_flamegraph.sh tests/integration/cli_export.sh \
	tests/integration/cli_flame_golden.sh tests/integration/cli_flame_browser.sh
TESTS += $(TM_FLAME_TESTS)
CLEANFILES += tests/work/cli_flame_browser.png
EXTRA_DIST += $(TM_FLAME_TESTS)
dist_man_MANS += man/tracemem-flamegraph.1 man/tracemem-export.1 \
	man/tracemem-trend.1 man/tracemem-rss.1
TM_GATE_TESTS = \
	tests/integration/gate_golden.sh tests/integration/gate_exit.sh \
	tests/integration/gate_run.sh tests/integration/gate_formats.sh \
	tests/integration/gate_baseline.sh tests/integration/gate_sarif_schema.sh
TESTS += $(TM_GATE_TESTS)
EXTRA_DIST += $(TM_GATE_TESTS)
dist_man_MANS += man/tracemem-leaks.1 man/tracemem-check.1 \
	man/tracemem-suppressions.5
# tracemem run and check as the program's parent: signals forwarded,
# descendants waited for, bad option values and programs refused
check_PROGRAMS += tests/progs/tm_signals
tests_progs_tm_signals_CFLAGS = $(TM_PROG_CFLAGS)
TM_RUN_TESTS = tests/integration/run_children.sh tests/integration/run_many.sh \
	tests/integration/run_signals.sh tests/integration/run_options.sh \
	tests/integration/rss.sh
TESTS += $(TM_RUN_TESTS)
EXTRA_DIST += $(TM_RUN_TESTS)
# tracemem report: the HTML page of a run
tracemem_SOURCES += tools/tracemem/cmd_report.c
dist_man_MANS += man/tracemem-report.1
TM_REPORT_TESTS = tests/integration/report_browser.sh tests/integration/cli_report.sh
TESTS += $(TM_REPORT_TESTS)
EXTRA_DIST += $(TM_REPORT_TESTS)
CLEANFILES += tests/work/report_browser-timeline.png tests/work/report_browser-range.png \
	tests/work/report_browser-run.png tests/work/report_browser-interval.png
# tracemem attach: libtracemem.so loaded into a running process (inject.c,
# src/shim/attach.c); the tests attach to programs of their own and to
# python3 and sqlite3.
tracemem_SOURCES += tools/tracemem/cmd_attach.c tools/tracemem/inject.c tools/tracemem/inject.h
dist_man_MANS += man/tracemem-attach.1
check_PROGRAMS += tests/progs/attach_server tests/progs/attach_loop
tests_progs_attach_server_CFLAGS = $(TM_PROG_CFLAGS)
tests_progs_attach_server_LDADD = -lpthread
tests_progs_attach_loop_CFLAGS = $(TM_PROG_CFLAGS)
tests_progs_attach_loop_LDADD = -ldl
TM_ATTACH_TESTS = tests/integration/attach.sh tests/integration/attach_real.sh \
	tests/integration/attach_refuse.sh
TESTS += $(TM_ATTACH_TESTS)
EXTRA_DIST += $(TM_ATTACH_TESTS)
