# tests: sources and tests of this part
#
# Integration tests of the recording shim (tests/integration/shim_*.sh) and
# the programs they run under it. The programs never link the shim: the
# tests preload it. -O0 -g and frame pointers keep every call a frame and
# its line exact.
SHIM_PROG_CFLAGS = -g -O0 -fno-omit-frame-pointer
EXTRA_DIST += tests/integration/lib.sh tests/integration/shim_check.py

check_PROGRAMS += tests/progs/shim_allocfns
tests_progs_shim_allocfns_CFLAGS = $(SHIM_PROG_CFLAGS)
TESTS += tests/integration/shim_allocfns.sh

# Whole-product checks (lead): snapshot schema validation.
TESTS += tests/integration/schema.sh
EXTRA_DIST += tests/integration/schema.sh doc

check_PROGRAMS += tests/progs/shim_api
tests_progs_shim_api_CFLAGS = $(SHIM_PROG_CFLAGS) -I$(top_srcdir)/include
tests_progs_shim_api_LDFLAGS = -rdynamic
tests_progs_shim_api_LDADD = -ldl
TESTS += tests/integration/shim_api.sh
