# src/shim: libtracemem.so, preloaded into the program under test.
# Links libc only; libunwind is dlopen()ed privately at start (unwind.c).
lib_LTLIBRARIES += libtracemem.la
libtracemem_la_SOURCES = \
	src/shim/shim.h src/shim/writer.h \
	src/shim/api.c src/shim/bootstrap.c src/shim/control.c src/shim/hooks.c \
	src/shim/leakscan.c src/shim/live.c src/shim/modules.c src/shim/newdelete.c \
	src/shim/snapshot.c src/shim/stacks.c src/shim/trace.c src/shim/unwind.c \
	src/shim/util.c src/shim/writer.c
libtracemem_la_CPPFLAGS = $(AM_CPPFLAGS) $(LIBUNWIND_CFLAGS)
libtracemem_la_CFLAGS = $(AM_CFLAGS) -O2 -funwind-tables -fno-builtin-malloc \
	-fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc -ftls-model=initial-exec
libtracemem_la_LDFLAGS = -module -avoid-version -shared -Wl,-z,nodelete -Wl,--no-undefined
libtracemem_la_LIBADD = libtmcommon.la -ldl -lpthread
