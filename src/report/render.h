/* render.h - text and JSON output of statistics and diffs (tracemem top,
 * tracemem diff), and the small formatting helpers the other reports use.
 *
 * Text reads like tracemalloc's ("a.c:12: size=1.2 KiB, count=3,
 * average=410 B"). JSON output is a stable interface, documented in
 * tracemem-top(1) and tracemem-diff(1):
 *
 *   {"format": "tracemem-top", "version": 1, "snapshot": FILE, "by": BY,
 *    "cumulative": BOOL, "peak": BOOL, "sort": SORT, "domain": N|null,
 *    "total": {"size", "count", "allocated_size", "allocated_count"},
 *    "omitted": GROUPS_NOT_SHOWN,
 *    "stats": [{"key", "size", "count", "allocated_size", "allocated_count",
 *               "frames": [FRAME]}]}
 *
 *   {"format": "tracemem-diff", "version": 1, "old": FILE, "new": FILE, ...,
 *    "total": {"size_diff", "count_diff"}, "omitted": N,
 *    "stats": [{"key", "size", "size_diff", "count", "count_diff",
 *               "allocated_count", "allocated_count_diff", "frames"}]}
 *
 *   FRAME = {"function", "file", "line", "module", "offset", "inlined"}
 *   (function/file/module null when unknown, line 0 when unknown, offset
 *   the file-relative address, inlined true for code inlined into the
 *   next frame). "frames" holds the key's frame for lineno and function,
 *   every logical frame of the stack for traceback, and is empty for
 *   filename and module.
 */
#ifndef TM_REPORT_RENDER_H
#define TM_REPORT_RENDER_H

#include <stdio.h>

#include "report/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tracemalloc's _format_size(): "512 B", "12.3 KiB", "2048 KiB", with a
 * sign when 'sign'. Writes into 'buf' and returns it. */
char *tm_format_size(char *buf, size_t len, double size, int sign);

/* One logical frame as a line of a traceback:
 * "FUNCTION at FILE:LINE (MODULE)", "FUNCTION (MODULE+0xOFF)" or
 * "?? (MODULE+0xOFF)"; " [inlined]" is appended to inlined code. */
char *tm_format_location(const tm_snapshot *snap, const tm_frame *frame, int loc, char *buf, size_t len);

/* Prints every logical frame of 'stack', one per line, each prefixed by
 * 'indent'. */
void tm_print_stack(FILE *fp, const tm_snapshot *snap, const tm_stack *stack, const char *indent);

/* The JSON FRAME of logical frame 'loc' of 'frame' (new reference). */
json_t *tm_location_json(const tm_snapshot *snap, const tm_frame *frame, int loc);

/* The JSON frames array of every logical frame of 'stack' (new ref). */
json_t *tm_stack_json(const tm_snapshot *snap, const tm_stack *stack);

/* tracemem top: the first 'limit' groups (0: all). */
void tm_render_top_text(FILE *fp, const tm_stats *stats, size_t limit);
json_t *tm_render_top_json(const tm_stats *stats, size_t limit);

/* tracemem diff: the first 'limit' entries (0: all). */
void tm_render_diff_text(FILE *fp, const tm_diff *diff, const tm_stats *new_stats, size_t limit);
json_t *tm_render_diff_json(const tm_diff *diff, const tm_stats *old_stats, const tm_stats *new_stats,
                            size_t limit);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_RENDER_H */
