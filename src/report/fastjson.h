/* fastjson.h - the large arrays of a snapshot read without a JSON tree.
 *
 * "stacks" and "traces" are nine tenths of a snapshot (a python3 that
 * imports its standard library: 32 of 35 MB). Read through jansson they
 * cost a node and a malloc per number, and 14 times the file's size in
 * memory. The loader (snapshot.c) keeps the file's text, cuts the top
 * level into members, and hands these two arrays to the readers below,
 * which write the model's arrays directly.
 *
 * The readers accept only the plain form the shim and this library write
 * (objects of known keys, each once; non-negative integers of up to 18
 * digits; indexes in range). Anything else - an unknown key, a wrong
 * type, an index out of range, bad syntax - makes them return 0, and the
 * loader reads that member with jansson and validates it as before, so
 * every error keeps its exact message.
 */
#ifndef TM_REPORT_FASTJSON_H
#define TM_REPORT_FASTJSON_H

#include "report/snapshot.h"

#include <stddef.h>
#include <stdint.h>

/* One member of the top level: its key (not unescaped: keys with a
 * backslash are never cut out) and the text of its value. */
typedef struct tm_json_span {
    const char *key;
    size_t keylen;
    const char *value;
    size_t len;
} tm_json_span;

/* Cuts the object in text[0, len) into its members. Returns the number
 * stored in 'out' (at most 'max'), or -1 when the text is not one plain
 * JSON object (the caller then parses it whole and reports the error). */
long tm__json_members(const char *text, size_t len, tm_json_span *out, size_t max);

/* The readers below with 'lean' set give the pages of the text they have
 * read back to the system as they go (madvise MADV_DONTNEED: they read as
 * zeroes afterwards), so the text and the model it becomes are not both
 * in memory. The caller then cannot fall back to another reader when one
 * returns 0: it loads the file again without 'lean'. With 'out' (and
 * 'pool') NULL they check the text as they would read it and keep nothing
 * but the count in '*n' (tm_snapshot_load_frames()). */

/* Reads a "stacks" array whose frames index [0, nframes). 1 read: '*out'
 * is malloc'd, and the frames of every stack are in one malloc'd '*pool'
 * (the stacks are 'borrowed'); 0 not in the plain form (nothing
 * allocated), -ENOMEM. */
int tm__fast_stacks(const char *p, size_t len, size_t nframes, int lean, tm_stack **out, size_t *n,
                    uint32_t **pool);

/* Reads a "traces" array ('peak': the peak record's rows, without the
 * allocated_* and temporary figures) whose stacks index [0, nstacks). */
int tm__fast_traces(const char *p, size_t len, size_t nstacks, int peak, int lean, tm_trace **out, size_t *n);

/* Reads a "peak" object: '*current', and its traces ('*out' NULL when it
 * has none). */
int tm__fast_peak(const char *p, size_t len, size_t nstacks, int lean, uint64_t *current, tm_trace **out,
                  size_t *n);

#endif /* TM_REPORT_FASTJSON_H */
