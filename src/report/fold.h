/* fold.h - the view every command shows of a snapshot: allocation-function
 * frames folded away, C++ template arguments shortened.
 *
 * A stack as recorded starts at the caller of malloc or operator new:
 * for a C++ program that is std::__new_allocator<T>::allocate, inlined
 * into allocator_traits, inlined into a container's internals; for a C
 * program it may be xmalloc or g_malloc. Folding removes that leading run
 * of allocation frames, so that the innermost frame every command shows
 * is the first frame of the program's own code (massif's --alloc-fn,
 * memray's hidden frames). It is a view: snapshot files keep the raw
 * frames, suppressions match the raw frames, and --keep-alloc-frames
 * shows them.
 *
 * A logical frame (a return address or one of the calls inlined into it)
 * is an allocation frame when
 *   - its function matches one of the built-in patterns (tm_fold_builtin)
 *     or a --alloc-fn pattern, by fnmatch(3) on the whole demangled name
 *     or on the name without its parameter list; or
 *   - it is code of the C++ standard library: a function of namespace
 *     std or __gnu_cxx (or operator new) whose source file lies in a C++
 *     standard library include directory (".../include/c++/..."), or
 *     that lies in libstdc++/libc++ itself.
 * Only the leading run is removed, up to its last allocation frame: a
 * user comparator called by std::sort stops it; frames without a name
 * inside the run (a stripped allocator's static helpers) are removed when
 * an allocation frame follows them. A stack made only of allocation (and
 * unnamed) frames, or without any allocation frame, is left whole.
 */
#ifndef TM_REPORT_FOLD_H
#define TM_REPORT_FOLD_H

#include "report/snapshot.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tm_view_opts {
    int keep_alloc_frames;         /* --keep-alloc-frames: fold nothing */
    int full_names;                /* --full-names: no template shortening */
    size_t name_width;             /* > 0: text output elides the middle of
                                      longer names (a terminal's width) */
    size_t nalloc_fns;
    const char *const *alloc_fns;  /* --alloc-fn patterns (borrowed) */
} tm_view_opts;

/* Defaults: fold with the built-in patterns, shorten names. */
void tm_view_opts_init(tm_view_opts *o);

/* The built-in function patterns, NULL-terminated (documented in
 * tracemem(1)). */
extern const char *const tm_fold_builtin[];

/* 1 when logical frame 'loc' of 'frame' is an allocation frame by the
 * rule above. */
int tm_fold_is_alloc(const tm_snapshot *snap, const tm_frame *frame, int loc, const tm_view_opts *o);

/* Applies the view to a loaded (and symbolized) snapshot: folds every
 * stack (see snapshot.h, raw_stacks) unless o->keep_alloc_frames, and
 * records o->full_names. Call once, after symbolization and before any
 * report; never before writing the snapshot out. Returns 0 or -ENOMEM
 * (the snapshot is then left unfolded). */
int tm_snapshot_fold(tm_snapshot *snap, const tm_view_opts *o);

/* Writes 's' into 'buf' (size 'len', always terminated) with the
 * argument list of every C++ template shortened to "<>"
 * ("std::map<int, std::string>::find" -> "std::map<>::find"); operator<,
 * operator<<, operator<=> and operator-> are left alone. Returns 'buf'. */
char *tm_shorten_templates(const char *s, char *buf, size_t len);

/* The text form of 'name' for 'snap': unless the view asked for full
 * names, its templates shortened and, past the view's name_width, its
 * middle elided ("..."), into 'buf'; else 'name' itself. */
const char *tm_view_name(const tm_snapshot *snap, const char *name, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_FOLD_H */
