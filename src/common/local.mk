# src/common: small pieces shared by the shim and the tools.
noinst_LTLIBRARIES += libtmcommon.la
libtmcommon_la_SOURCES = src/common/rawmem.c src/common/rawmem.h
libtmcommon_la_CFLAGS = $(AM_CFLAGS) -fPIC
