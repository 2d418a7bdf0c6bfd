/* symbolize.h - turning (module, offset) frames into function, file, line
 * and inlined frames with elfutils libdwfl.
 *
 * Each module of the snapshot is opened from its recorded path and checked
 * against its recorded build-id. Debug information is looked up the way
 * gdb does: in the file itself, by build-id under /usr/lib/debug/.build-id
 * (Debian's -dbgsym packages), and through .gnu_debuglink. A module whose
 * file is gone or was rebuilt since the run is looked up by build-id alone
 * (a separate debug file still describes it exactly); failing that its
 * frames stay module+offset and a warning says why - never a wrong name.
 * Every frame is a return address, so lines are looked up at offset - 1.
 *
 * $TRACEMEM_DEBUGINFO_PATH replaces libdwfl's debug search path
 * (":.debug:/usr/lib/debug"; absolute entries hold .build-id trees).
 */
#ifndef TM_REPORT_SYMBOLIZE_H
#define TM_REPORT_SYMBOLIZE_H

#include <stdio.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Symbolizes every frame of 'snap' that has no function and no file yet:
 * adds "function", "file", "line" and "inlined" (when known) to the
 * frames of snap->root, sets "symbolized": true and re-indexes the model.
 * Warnings about modules that cannot be used are printed to 'warn' (NULL:
 * silent), one line each, as "tracemem: SNAPSHOT: module PATH: why".
 * Does nothing for a snapshot that is already symbolized unless 'force'.
 * Returns 0 (also when some frames stay unknown), or a negative errno code
 * with 'err' filled (-ENOMEM, or libdw failing to start). */
int tm_symbolize(tm_snapshot *snap, int force, FILE *warn, tm_error *err);

/* A cache of opened modules (by path and build-id), their sorted symbol
 * tables and the results of every address looked up, for symbolizing
 * many snapshots of one run: every child of a make opens libc once. Not
 * thread-safe; free it with tm_symcache_free() (NULL is ignored). New
 * cache, or NULL with errno ENOMEM. */
typedef struct tm_symcache tm_symcache;
tm_symcache *tm_symcache_new(void);
void tm_symcache_free(tm_symcache *cache);

/* Opens the ELF file 'path' into 'cache' ahead of the snapshots that
 * will need it (tracemem run, while the program runs): its debug file
 * and symbol table are loaded; a snapshot's module of the same build-id
 * uses the entry, whatever its path. 0, or -1 when the file cannot be
 * used (nothing is kept) or memory is short. */
int tm_symcache_preload(tm_symcache *cache, const char *path);

/* tm_symbolize() with the modules and results of 'cache', which may be
 * shared by many snapshots. A warning about a module is said once per
 * cache (naming the first snapshot that needed it). Frames that already
 * have a function or a file are left alone. '*added' (may be NULL) is set
 * to the number of frames that got something: 0 means 'snap' is as it
 * was, apart from "symbolized" being set. */
int tm_symbolize_cached(tm_snapshot *snap, int force, tm_symcache *cache, FILE *warn, size_t *added,
                        tm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_SYMBOLIZE_H */
