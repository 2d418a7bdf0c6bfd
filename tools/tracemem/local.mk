# tools/tracemem: the tracemem command (git-style builtin table), its man
# pages and integration tests.
bin_PROGRAMS += tracemem
tracemem_SOURCES = \
	tools/tracemem/main.c tools/tracemem/builtin.h tools/tracemem/cli.c \
	tools/tracemem/cmd_run.c tools/tracemem/cmd_symbolize.c \
	tools/tracemem/cmd_top.c tools/tracemem/cmd_diff.c
tracemem_CPPFLAGS = $(AM_CPPFLAGS) -DTM_LIBDIR=\"$(libdir)\"
tracemem_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(LIBDW_CFLAGS)
tracemem_LDADD = libtmreport.la $(JANSSON_LIBS) $(LIBDW_LIBS)

# Test programs: -O0 and frame pointers so that line numbers are exact.
TM_PROG_CFLAGS = -g -O0 -fno-omit-frame-pointer
check_PROGRAMS += tests/progs/tm_allocs
tests_progs_tm_allocs_CFLAGS = $(TM_PROG_CFLAGS)
