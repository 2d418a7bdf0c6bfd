/* infile.h - opening and reading the inputs of the tracemem command:
 * snapshots, suppressions files, baselines, and the modules a snapshot
 * names (symbolize.c).
 *
 * Only regular files are read ("-", stdin, where a command allows it): a
 * FIFO would block for ever and a device such as /dev/zero never ends.
 * Files are opened with O_NONBLOCK (opening a FIFO must not block either)
 * and checked with fstat() on the descriptor opened, so what is checked
 * is what is read. Whole-file reads stop at a size limit per kind of
 * input, also for stdin. Nothing here prints; errors come back in a
 * tm_error without the file name.
 */
#ifndef TM_REPORT_INFILE_H
#define TM_REPORT_INFILE_H

#include <stddef.h>
#include <stdint.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest inputs read (tracemem(1) documents them). */
#define TM_SNAPSHOT_MAX_BYTES ((uint64_t)1 << 30)      /* 1 GiB */
#define TM_SUPPRESSIONS_MAX_BYTES ((uint64_t)64 << 20) /* 64 MiB */
#define TM_BASELINE_MAX_BYTES ((uint64_t)256 << 20)    /* 256 MiB */

/* Opens the regular file 'path' for reading; 'flags' are added to
 * O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK (O_NONBLOCK is cleared
 * again unless asked for). Returns the descriptor, or a negative errno
 * code with 'err' (may be NULL) filled: the open(2) error, "Is a
 * directory" (-EISDIR), or "not a regular file (a FIFO)" (-EINVAL). */
int tm_infile_open(const char *path, int flags, tm_error *err);

/* Reads all of 'path' ("-" is stdin when 'allow_stdin') into '*data', a
 * new NUL-terminated buffer of '*len' bytes (free() it). Content that
 * starts with gzip's magic bytes (1f 8b) is inflated; the limit then
 * holds for both sizes. More than 'max' bytes is an error (-EFBIG, "too
 * large: more than 64 MiB"); corrupt or truncated gzip data is -EINVAL
 * ("truncated gzip data ...", "not valid gzip data (...)"). Returns 0 or
 * a negative errno code with 'err' filled. */
int tm_infile_read(const char *path, int allow_stdin, uint64_t max, char **data, size_t *len, tm_error *err);

/* When 'data' ('len' bytes) starts with gzip's magic bytes, inflates it
 * as tm_infile_read() does into '*out' (new, NUL-terminated, '*outlen'
 * bytes) and returns 1; returns 0 (nothing allocated) for other data, or
 * a negative errno code with 'err' filled. */
int tm_infile_gunzip(const char *data, size_t len, uint64_t max, char **out, size_t *outlen, tm_error *err);

/* Asks for transparent huge pages (madvise MADV_HUGEPAGE) for the 'n'
 * bytes at 'p' when they are 8 MiB or more: a large buffer about to be
 * filled (an inflated snapshot, its stacks' frames), whose 4 KiB page
 * faults cost as much as reading it. Nothing else changes. */
void tm__huge_pages(void *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_INFILE_H */
