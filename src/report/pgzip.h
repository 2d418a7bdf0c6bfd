/* pgzip.h - gzip output compressed on two threads (one gzip member, as
 * pigz writes it), for the snapshots the tracemem command writes.
 *
 * The data is cut into blocks of TM_PGZ_BLOCK bytes; each block is
 * deflated on its own (with the 32 KiB before it as the dictionary, so
 * the size hardly changes) and ended on a byte boundary with a sync
 * flush, the last one with the final block: the concatenation is one
 * deflate stream, and the file one gzip member that every gzip reader
 * reads (zlib, gzip, Python, a browser's DecompressionStream). The
 * compressed bytes are not those of a single deflate() over all of the
 * data; inflated, they are the same. Output up to one block is deflated
 * by the caller's thread alone, and so is all of it on a single CPU.
 */
#ifndef TM_REPORT_PGZIP_H
#define TM_REPORT_PGZIP_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_PGZ_BLOCK ((size_t)1 << 20)

typedef struct tm_pgz tm_pgz;

/* A new compressor writing to 'fp' (borrowed: not closed) at zlib level
 * 'level' (1-9); NULL when out of memory. Used by one thread. */
tm_pgz *tm_pgz_open(FILE *fp, int level);

/* Compresses the 'n' bytes at 'p'. 0, or -1 after an error (a failed
 * write or out of memory); later calls do nothing. */
int tm_pgz_write(tm_pgz *z, const void *p, size_t n);

/* Finishes the stream (last block, gzip trailer), waits for its threads
 * and frees 'z'. 0, or -1 when anything failed. */
int tm_pgz_close(tm_pgz *z);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_PGZIP_H */
