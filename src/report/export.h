/* export.h - a snapshot in other tools' formats (tracemem export).
 *
 *   folded      Brendan Gregg's "a;b;c 1234" lines (flame.h): flamegraph.pl,
 *               inferno, speedscope, Firefox Profiler
 *   speedscope  speedscope's JSON file format
 *               (https://www.speedscope.app/file-format-schema.json): one
 *               "sampled" profile whose samples are stacks (outermost frame
 *               first) weighed in bytes
 *   pprof       profile.proto, gzip-compressed, for go tool pprof, pprof-rs,
 *               Pyroscope, Parca ...: the four sample types of a Go heap
 *               profile, inuse_space/bytes, inuse_objects/count,
 *               alloc_space/bytes and alloc_objects/count (from traces[]
 *               size, count, allocated_size, allocated_count); one mapping
 *               per module (path, build-id, load address), one location per
 *               frame (absolute address) with a line per logical frame
 *               (inlined ones first, as profile.proto orders them), one
 *               function per name and file. Samples of a domain other than
 *               0 carry a numeric label "domain".
 *
 * Frame names are those of flame.h: the function, or MODULE+0xOFFSET.
 */
#ifndef TM_REPORT_EXPORT_H
#define TM_REPORT_EXPORT_H

#include <stdio.h>

#include "report/flame.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tm_export_format {
    TM_EXPORT_FOLDED,
    TM_EXPORT_SPEEDSCOPE,
    TM_EXPORT_PPROF,
} tm_export_format;

/* "folded", "speedscope", "pprof" -> the enum, or -1. */
int tm_export_format_parse(const char *name);

/* The speedscope document of 'snap' under 'metric' (see flame.h; 'kinds'
 * for TM_METRIC_LEAKED). Returns a new reference, or NULL with 'err'
 * filled (no such data in the snapshot, or out of memory). */
json_t *tm_export_speedscope(const tm_snapshot *snap, tm_metric metric, unsigned kinds, tm_error *err);

/* The uncompressed profile.proto message of 'snap' (live and allocated
 * figures of its traces). Stores a new buffer in '*out' (free()) and its
 * size in '*len'. Returns 0 or -ENOMEM. */
int tm_export_pprof_proto(const tm_snapshot *snap, unsigned char **out, size_t *len, tm_error *err);

/* Writes 'len' bytes of 'data' to 'fp' as one gzip member. Returns 0,
 * -EIO or -ENOMEM with 'err' filled. */
int tm_gzip_write(const void *data, size_t len, FILE *fp, tm_error *err);

/* Writes 'snap' to 'fp' in 'format' ('metric' and 'kinds' apply to folded
 * and speedscope; pprof always carries its four sample types). Returns 0
 * or a negative errno code with 'err' filled. */
int tm_export_write(const tm_snapshot *snap, tm_export_format format, tm_metric metric, unsigned kinds,
                    FILE *fp, tm_error *err);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_EXPORT_H */
