# src/report: libtmreport.la, the noinst library behind the tracemem command:
# snapshot model and loader, symbolizer, statistics, diff, renderers.
noinst_LTLIBRARIES += libtmreport.la
libtmreport_la_SOURCES = \
	src/report/snapshot.c src/report/snapshot.h
libtmreport_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LIBDW_CFLAGS)
libtmreport_la_LIBADD = $(JANSSON_LIBS) $(LIBDW_LIBS)
