/* tracemem.h - in-program API of the tracemem memory profiler (libtracemem.so).
 *
 * The functions mirror Python's tracemalloc module. They live in the preloaded
 * shim, libtracemem.so, and are declared weak here, so a program that uses them
 * links and runs unchanged without the shim: each name below is also a macro
 * that calls the function only when the shim is present and otherwise yields
 * the documented "no shim" result (tracemem_available() is then 0). To reach
 * the function itself, e.g. to take its address, write (tracemem_start).
 *
 * Thread safety: every function may be called from any thread at any time.
 */
#ifndef TRACEMEM_H
#define TRACEMEM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRACEMEM_VERSION_MAJOR 0
#define TRACEMEM_VERSION_MINOR 1
#define TRACEMEM_VERSION_MICRO 0

/* Snapshot format written by the shim (tracemem-snapshot(5)). */
#define TRACEMEM_SNAPSHOT_VERSION 1
#define TRACEMEM_MAX_NFRAMES 256

#if defined(TRACEMEM_BUILDING_SHIM)
#define TRACEMEM_API __attribute__((visibility("default")))
#else
#define TRACEMEM_API __attribute__((weak))
#endif

/* Writes one JSON value (object, array, number ...) into 'buf', at most 'cap'
 * bytes, and returns its full length like snprintf; when that is more than
 * 'cap' the shim calls it again with a larger buffer. It runs on whichever
 * of the program's threads writes the snapshot (the caller of the API, a
 * thread that allocates when an interval snapshot is due, or the shim's
 * TRACEMEM_SIGNAL handler on an interrupted thread), so what it reads must
 * be safe to read from another thread and from a signal handler: no lock
 * the program may hold, no malloc. Allocations it makes are not traced. */
typedef size_t (*tracemem_section_fn)(char *buf, size_t cap, void *arg);

/* --- presence and tracing state --- */

/* 1 when libtracemem.so is loaded into this process (0 without it). */
TRACEMEM_API int tracemem_available(void);

/* Starts tracing with 'nframe' frames kept per stack (1..256). Returns 0;
 * -EINVAL when 'nframe' is out of range; when already tracing nothing
 * changes and 0 is returned. Without the shim: -ENOSYS. */
TRACEMEM_API int tracemem_start(int nframe);

/* Stops tracing and clears every trace, like tracemalloc.stop(). */
TRACEMEM_API void tracemem_stop(void);

/* 1 while tracing, else 0. */
TRACEMEM_API int tracemem_is_tracing(void);

/* Forgets every traced block and zeroes current and peak. */
TRACEMEM_API void tracemem_clear_traces(void);

/* The number of frames kept per stack. */
TRACEMEM_API int tracemem_get_traceback_limit(void);

/* --- figures --- */

/* Stores the traced bytes live now and at their peak since tracing started
 * (or since tracemem_reset_peak()/tracemem_clear_traces()). Either pointer may
 * be NULL. Without the shim both are 0. */
TRACEMEM_API void tracemem_get_traced_memory(size_t *current, size_t *peak);

/* Sets the peak to the current traced size. */
TRACEMEM_API void tracemem_reset_peak(void);

/* Bytes the shim itself has mapped for its bookkeeping. */
TRACEMEM_API size_t tracemem_get_overhead_memory(void);

/* --- snapshots --- */

/* Writes a snapshot (reason "api") to 'path', or to the TRACEMEM_OUTPUT
 * template when 'path' is NULL. The file appears atomically. Returns 0, or
 * -errno when it could not be written, -ENOTSUP when not tracing. */
TRACEMEM_API int tracemem_take_snapshot(const char *path);

/* Copies the stack that allocated the traced block 'ptr' (innermost frame
 * first, return addresses) into 'frames', at most 'max'. Returns the number
 * stored, or -1 when 'ptr' is not the start of a traced block. */
TRACEMEM_API int tracemem_get_object_traceback(const void *ptr, void **frames, int max);

/* --- custom allocators --- */

/* The domain of the program's anonymous mmap() and brk()/sbrk() memory,
 * which the shim records by stack itself; reserved (tracemem_track refuses
 * it). Not part of the heap's figures (tracemem_get_traced_memory). */
#define TRACEMEM_DOMAIN_MMAP 65535u

/* Records a block of 'size' bytes at 'ptr' in 'domain' (0 is the heap; other
 * numbers are the program's own pools, arenas, GPU buffers), attributed to the
 * caller's stack; a block already tracked at 'ptr' in 'domain' is replaced.
 * Returns 0, -ENOMEM when the shim could not record it, -ENOTSUP when not
 * tracing, -EINVAL for TRACEMEM_DOMAIN_MMAP. */
TRACEMEM_API int tracemem_track(unsigned domain, uintptr_t ptr, size_t size);

/* Forgets the block at 'ptr' in 'domain'. Returns 0, -ENOENT when no such
 * block is tracked, -ENOTSUP when not tracing. */
TRACEMEM_API int tracemem_untrack(unsigned domain, uintptr_t ptr);

/* --- leaks --- */

/* Runs a leak check now (other threads are stopped for the scan), writes its
 * result as a snapshot with reason "leak-check" to 'path' (NULL: the
 * TRACEMEM_OUTPUT template) and returns the number of definitely plus
 * indirectly leaked blocks, or -errno. The program goes on unchanged. */
TRACEMEM_API int tracemem_leak_check(const char *path);

/* --- extra snapshot sections --- */

/* Adds a section "name": <value> to every later snapshot, the value written by
 * 'fn' (see tracemem_section_fn) with 'arg'. 'name' is copied; a second call
 * with the same name replaces the provider. Returns 0, -EINVAL for a bad name
 * (empty, reserved or not [A-Za-z0-9_-]), -ENOMEM when the table is full. */
TRACEMEM_API int tracemem_add_section(const char *name, tracemem_section_fn fn, void *arg);

#undef TRACEMEM_API

#if !defined(TRACEMEM_BUILDING_SHIM)
/* Calls that are safe without the shim: each forwards when the weak symbol
 * resolved and otherwise gives the "no shim" answer. */
static inline void tracemem__no_memory(size_t *current, size_t *peak)
{
    if (current)
        *current = 0;
    if (peak)
        *peak = 0;
}
#define tracemem_available() ((tracemem_available) ? (tracemem_available)() : 0)
#define tracemem_start(n) ((tracemem_start) ? (tracemem_start)(n) : -ENOSYS)
#define tracemem_stop() ((tracemem_stop) ? (tracemem_stop)() : (void)0)
#define tracemem_is_tracing() ((tracemem_is_tracing) ? (tracemem_is_tracing)() : 0)
#define tracemem_clear_traces() ((tracemem_clear_traces) ? (tracemem_clear_traces)() : (void)0)
#define tracemem_get_traceback_limit() \
    ((tracemem_get_traceback_limit) ? (tracemem_get_traceback_limit)() : 0)
#define tracemem_get_traced_memory(c, p) \
    ((tracemem_get_traced_memory) ? (tracemem_get_traced_memory)(c, p) : tracemem__no_memory(c, p))
#define tracemem_reset_peak() ((tracemem_reset_peak) ? (tracemem_reset_peak)() : (void)0)
#define tracemem_get_overhead_memory() \
    ((tracemem_get_overhead_memory) ? (tracemem_get_overhead_memory)() : (size_t)0)
#define tracemem_take_snapshot(path) \
    ((tracemem_take_snapshot) ? (tracemem_take_snapshot)(path) : -ENOSYS)
#define tracemem_get_object_traceback(p, f, m) \
    ((tracemem_get_object_traceback) ? (tracemem_get_object_traceback)(p, f, m) : -1)
#define tracemem_track(d, p, s) ((tracemem_track) ? (tracemem_track)(d, p, s) : -ENOSYS)
#define tracemem_untrack(d, p) ((tracemem_untrack) ? (tracemem_untrack)(d, p) : -ENOSYS)
#define tracemem_leak_check(path) ((tracemem_leak_check) ? (tracemem_leak_check)(path) : -ENOSYS)
#define tracemem_add_section(n, f, a) \
    ((tracemem_add_section) ? (tracemem_add_section)(n, f, a) : -ENOSYS)
#endif

#ifdef __cplusplus
}
#endif

#endif /* TRACEMEM_H */
