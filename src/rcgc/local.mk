# src/rcgc: librcgc, reference counting with a generational cycle collector
# (SPEC section 8), its Check suite, man pages, example and benchmark.
lib_LTLIBRARIES += librcgc.la
include_HEADERS += include/rcgc.h
librcgc_la_SOURCES = src/rcgc/internal.h src/rcgc/object.c src/rcgc/collect.c \
	src/rcgc/weakref.c src/rcgc/stats.c src/rcgc/section.c
librcgc_la_LDFLAGS = -version-info 0:0:0 -no-undefined
