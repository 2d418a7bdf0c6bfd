# src/report: libtmreport.la, the noinst library behind the tracemem command:
# snapshot model and loader, symbolizer, statistics, diff, renderers.
noinst_LTLIBRARIES += libtmreport.la
libtmreport_la_SOURCES = \
	src/report/snapshot.c src/report/snapshot.h \
	src/report/fastjson.c src/report/fastjson.h \
	src/report/stats.c src/report/stats.h \
	src/report/render.c src/report/render.h \
	src/report/symbolize.c src/report/symbolize.h \
	src/report/symtab.c src/report/symtab.h \
	src/report/scopetab.c src/report/scopetab.h \
	src/report/outfile.c src/report/outfile.h \
	src/report/infile.c src/report/infile.h \
	src/report/pgzip.c src/report/pgzip.h \
	src/report/quote.c src/report/quote.h \
	src/report/fold.c src/report/fold.h \
	src/report/hints.c src/report/hints.h \
	src/report/rss.c src/report/rss.h \
	src/report/timeline.c src/report/timeline.h \
	src/report/chart.c src/report/chart.h
libtmreport_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LIBDW_CFLAGS)
libtmreport_la_LIBADD = $(JANSSON_LIBS) $(LIBDW_LIBS)

# Unit suites: Check programs linking the library; data from tests/data.
TM_REPORT_CHECK_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(JANSSON_CFLAGS) \
	-DTM_TEST_DATA=\"$(abs_top_srcdir)/tests/data\"
TM_REPORT_CHECK_LIBS = libtmreport.la $(CHECK_LIBS) $(JANSSON_LIBS)
check_PROGRAMS += tests/unit/check_stats
TESTS += tests/unit/check_stats
tests_unit_check_stats_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_stats_LDADD = $(TM_REPORT_CHECK_LIBS)
check_PROGRAMS += tests/unit/check_snapshot
TESTS += tests/unit/check_snapshot
tests_unit_check_snapshot_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_snapshot_LDADD = $(TM_REPORT_CHECK_LIBS)
check_PROGRAMS += tests/unit/check_symbolize
TESTS += tests/unit/check_symbolize
tests_unit_check_symbolize_CFLAGS = $(TM_REPORT_CHECK_CFLAGS) \
	-g -O0 -fno-omit-frame-pointer
tests_unit_check_symbolize_LDADD = $(TM_REPORT_CHECK_LIBS)
check_PROGRAMS += tests/unit/check_symtab
TESTS += tests/unit/check_symtab
tests_unit_check_symtab_CFLAGS = $(TM_REPORT_CHECK_CFLAGS) $(LIBDW_CFLAGS)
tests_unit_check_symtab_LDADD = $(TM_REPORT_CHECK_LIBS) $(LIBDW_LIBS)
check_PROGRAMS += tests/unit/check_scopetab
TESTS += tests/unit/check_scopetab
tests_unit_check_scopetab_CFLAGS = $(TM_REPORT_CHECK_CFLAGS) $(LIBDW_CFLAGS) -g -O2
tests_unit_check_scopetab_LDADD = $(TM_REPORT_CHECK_LIBS) $(LIBDW_LIBS)
check_PROGRAMS += tests/unit/check_render
TESTS += tests/unit/check_render
tests_unit_check_render_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_render_LDADD = $(TM_REPORT_CHECK_LIBS)
check_PROGRAMS += tests/unit/check_fold
TESTS += tests/unit/check_fold
tests_unit_check_fold_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_fold_LDADD = $(TM_REPORT_CHECK_LIBS)
# leaks, suppressions and the leak gate (tracemem leaks / tracemem check)
libtmreport_la_SOURCES += src/report/suppress.c src/report/suppress.h src/report/defsupp.c \
	src/report/leaks.c src/report/leaks.h \
	src/report/gate.c src/report/gate.h src/report/gate_render.c
# flamegraph, export, trend: folding, SVG/HTML flame graphs, speedscope and
# pprof (own protobuf encoder, zlib), growth fits over snapshot series.
libtmreport_la_SOURCES += \
	src/report/flame.c src/report/flame.h \
	src/report/export.c src/report/export.h \
	src/report/protobuf.c src/report/protobuf.h \
	src/report/trend.c src/report/trend.h
libtmreport_la_CFLAGS += $(ZLIB_CFLAGS)
libtmreport_la_LIBADD += $(ZLIB_LIBS) -lm
check_PROGRAMS += tests/unit/check_suppress
TESTS += tests/unit/check_suppress
tests_unit_check_suppress_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_suppress_LDADD = $(TM_REPORT_CHECK_LIBS)
check_PROGRAMS += tests/unit/check_gate
TESTS += tests/unit/check_gate
tests_unit_check_gate_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_gate_LDADD = $(TM_REPORT_CHECK_LIBS)
check_PROGRAMS += tests/unit/check_flame tests/unit/check_export \
	tests/unit/check_trend
TESTS += tests/unit/check_flame tests/unit/check_export tests/unit/check_trend
tests_unit_check_flame_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_flame_LDADD = $(TM_REPORT_CHECK_LIBS)
tests_unit_check_export_CFLAGS = $(TM_REPORT_CHECK_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_check_export_LDADD = $(TM_REPORT_CHECK_LIBS) $(ZLIB_LIBS)
tests_unit_check_trend_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_trend_LDADD = $(TM_REPORT_CHECK_LIBS) -lm
libtmreport_la_SOURCES += src/report/gc.c src/report/gc.h
EXTRA_DIST += tests/unit/test_data.h
check_PROGRAMS += tests/unit/check_outfile
TESTS += tests/unit/check_outfile
tests_unit_check_outfile_CFLAGS = $(TM_REPORT_CHECK_CFLAGS) $(ZLIB_CFLAGS)
tests_unit_check_outfile_LDADD = $(TM_REPORT_CHECK_LIBS) $(ZLIB_LIBS)
# tracemem report: the data and the page
libtmreport_la_SOURCES += src/report/report.c src/report/report.h src/report/report_page.c
check_PROGRAMS += tests/unit/check_report
TESTS += tests/unit/check_report
tests_unit_check_report_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_report_LDADD = $(TM_REPORT_CHECK_LIBS)
check_PROGRAMS += tests/unit/check_timeline
TESTS += tests/unit/check_timeline
tests_unit_check_timeline_CFLAGS = $(TM_REPORT_CHECK_CFLAGS)
tests_unit_check_timeline_LDADD = $(TM_REPORT_CHECK_LIBS)
