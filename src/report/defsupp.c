/* defsupp.c - the suppressions tracemem leaks and tracemem check apply
 * unless --no-default-suppressions: memory the C runtime keeps for itself
 * and frees (or never needs to free) behind the program's back, which
 * Valgrind's own default suppressions and __libc_freeres hide too. Each
 * pattern names a function of glibc's loader that only the runtime calls;
 * none matches a program's own code. The list is in
 * tracemem-suppressions(5); keep the two the same. */
#include "config.h"

#include "report/suppress.h"

static const char defaults[] =
    "# glibc's dynamic loader: objects loaded with dlopen() (by the program,\n"
    "# or by glibc itself: libgcc_s for pthread_exit() and backtrace()),\n"
    "# their link maps, version tables, dependency lists, search-path cache\n"
    "# entries and _dl_find_object's tables\n"
    "leak:_dl_new_object\n"
    "leak:_dl_check_map_versions\n"
    "leak:_dl_map_object_deps\n"
    "leak:_dl_load_cache_lookup\n"
    "leak:_dl_map_object_from_fd\n"
    "leak:_dlfo_mappings_segment_allocate\n"
    "leak:_dl_find_object_update\n"
    "# thread control: a running thread's dynamic thread vector (glibc keeps\n"
    "# a pointer one entry into it) and its growth for dlopen()ed TLS\n"
    "leak:allocate_dtv\n"
    "leak:_dl_resize_dtv\n"
    "leak:_dl_update_slotinfo\n";

int tm_suppressions_add_defaults(tm_suppressions *supp, tm_error *err)
{
    size_t first = supp->n;
    int rc = tm_suppressions_parse(supp, "default suppressions", defaults, NULL, err);
    for (size_t i = first; rc == 0 && i < supp->n; i++)
        supp->v[i].builtin = 1;
    return rc;
}
