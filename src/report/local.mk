# src/report: libtmreport.la, the noinst library behind the tracemem command:
# snapshot model and loader, symbolizer, statistics, diff, renderers.
noinst_LTLIBRARIES += libtmreport.la
libtmreport_la_SOURCES = \
	src/report/snapshot.c src/report/snapshot.h \
	src/report/stats.c src/report/stats.h \
	src/report/render.c src/report/render.h \
	src/report/symbolize.c src/report/symbolize.h
libtmreport_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LIBDW_CFLAGS)
libtmreport_la_LIBADD = $(JANSSON_LIBS) $(LIBDW_LIBS)
