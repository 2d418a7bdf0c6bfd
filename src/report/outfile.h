/* outfile.h - every output file of the tracemem command (symbolize,
 * flamegraph, export, check -o, --update-baseline) goes through here.
 *
 * What is replaced and how depends on what the name is:
 *
 *   "-"                      stdout, written through;
 *   a regular file, or none  a temporary file in the same directory,
 *                            renamed over it when complete, so a failed or
 *                            interrupted command never leaves it
 *                            half-written (the mode of a replaced file is
 *                            kept, a new file gets 0666 & ~umask);
 *   a symbolic link          followed: the file it resolves to is treated
 *                            as above (a dangling link creates its
 *                            target); links through /proc (/dev/stdout,
 *                            /dev/fd/N) are written through;
 *   anything else            (character device, FIFO, socket) written
 *                            through: /dev/null stays /dev/null;
 *   a directory              an error.
 *
 * Every write error is kept (the first errno of any write(2)) and
 * reported by tm_outfile_close(); the stream itself never sees an error
 * (ferror() stays 0), so writers finish and the close tells. Nothing here prints: errors come back in
 * a tm_error without the file name ("write error: No space left on
 * device"); the caller prints "tracemem: NAME: what" with the name from
 * tm_outfile_name().
 */
#ifndef TM_REPORT_OUTFILE_H
#define TM_REPORT_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tm_outfile {
    const char *path; /* borrowed: what the user named */
    char *target;     /* owned: the file renamed over; NULL when written through */
    char *tmp;        /* owned: the temporary file; NULL when written through */
    FILE *fp;         /* the stream to write to */
    int fd;           /* its descriptor (1 for stdout) */
    int error;        /* the first errno of a failed write, 0 if none */
} tm_outfile;

/* Opens 'path' for writing as described above. Returns 0 and 'out' ready,
 * or a negative errno code with 'err' filled ("cannot create: ..."). */
int tm_outfile_open(tm_outfile *out, const char *path, tm_error *err);

/* Finishes 'out': with 'commit', flushes (and for a temporary file
 * fsyncs, closes and renames it into place); without, discards the
 * temporary file. Returns 0 when 'commit' and every byte was written;
 * else a negative errno code with 'err' filled ("write error: ...") when
 * writing failed, or -ECANCELED when not 'commit'. 'out' is released
 * in every case. */
int tm_outfile_close(tm_outfile *out, int commit, tm_error *err);

/* The name to print for 'path': "<stdout>" for "-", else 'path'. */
const char *tm_outfile_name(const char *path);

/* Writes 'len' bytes of 'data' to 'path' as tm_outfile_open() would.
 * Returns 0 or a negative errno code with 'err' filled (without the
 * file name). */
int tm_outfile_write(const char *path, const void *data, size_t len, tm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_OUTFILE_H */
