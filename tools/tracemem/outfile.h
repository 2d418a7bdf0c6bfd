/* outfile.h - the output files of the tracemem command, with their errors
 * printed: a thin layer over report/outfile.h, which decides how each kind
 * of name (regular file, symlink, device, FIFO, "-") is written.
 */
#ifndef TM_TOOLS_OUTFILE_H
#define TM_TOOLS_OUTFILE_H

#include <stdio.h>

#include "report/outfile.h"

/* Opens 'path' for writing (tm_outfile_open()). On failure prints
 * "tracemem: PATH: why" and returns -1; else 0. */
int tm__outfile_open(tm_outfile *out, const char *path);

/* Finishes the file (tm_outfile_close()): with 'ok' commits it, without
 * discards it. Prints "tracemem: PATH: write error: ..." when writing
 * failed. Returns 0 when 'ok' and everything was written, else -1. */
int tm__outfile_close(tm_outfile *out, int ok);

/* Flushes stdout; when anything written to it failed, prints
 * "tracemem: <stdout>: write error: ..." and returns TM_EXIT_USAGE (2);
 * else returns 'rc'. Commands that print their result on stdout end
 * with it. */
int tm__stdout_done(int rc);

#endif /* TM_TOOLS_OUTFILE_H */
