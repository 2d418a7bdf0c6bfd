/* outfile.h - output files of flamegraph and export: written to a
 * temporary file next to OUT and renamed over it when complete, so a
 * failed or interrupted command never leaves a half-written OUT ("-" is
 * stdout, written directly).
 */
#ifndef TM_TOOLS_OUTFILE_H
#define TM_TOOLS_OUTFILE_H

#include <stdio.h>

typedef struct tm_outfile {
    const char *path; /* borrowed: what the user named */
    char *tmp;        /* the temporary file (owned); NULL for stdout */
    FILE *fp;
} tm_outfile;

/* Opens 'path' for writing. On failure prints "tracemem: PATH: why" and
 * returns -1; else 0. */
int tm__outfile_open(tm_outfile *out, const char *path);

/* Finishes the file: with 'ok' flushes, closes and renames it into place;
 * without, removes the temporary file. Prints "tracemem: PATH: why" when
 * writing fails. Returns 0 when 'ok' and everything was written, else -1. */
int tm__outfile_close(tm_outfile *out, int ok);

#endif /* TM_TOOLS_OUTFILE_H */
