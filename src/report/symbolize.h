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

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_SYMBOLIZE_H */
