/* flame.h - folded stacks and flame graphs (tracemem flamegraph, and the
 * folded/speedscope exports).
 *
 * A folded stack is Brendan Gregg's one-line form of a call stack: the
 * logical frames from the outermost (main, or the thread's start routine)
 * to the innermost (the caller of malloc) joined by ';'. A frame is named
 * by its function, or "MODULE+0xOFFSET" when the function is unknown
 * ("0xADDRESS" outside any module), and inlined calls are expanded into
 * frames of their own, so "main;parse;read_config" may be three frames of
 * one return address. ';' inside a name becomes ':' and control
 * characters become ' ' so a line can always be split again.
 *
 * Each metric weighs a stack by bytes:
 *
 *   live         traces[].size, the blocks live when the snapshot was taken
 *   peak         peak.traces[].size, the live set at the peak record
 *   allocations  traces[].allocated_size, everything ever allocated
 *   leaked       leaks.stacks[].bytes of the kinds asked for (definite and
 *                indirect by default)
 *
 * The flame graph is our own SVG: one <g> per frame holding a <title>
 * tooltip (name, bytes, share, and "at FILE:LINE" when the folded stacks
 * have locations), a <rect> whose width is proportional to the frame's
 * bytes and a <text> label, colours from a hash of the function name (the
 * same function has the same colour in every graph), frames narrower than
 * 0.1 pixel left out of an SVG. The HTML variant embeds the same SVG with
 * every frame and the inline script tm_flame_script (zoom, search, icicle
 * view, width following the window, boxes too narrow at the current zoom
 * hidden); neither loads anything from outside. A differential graph
 * sizes each path by the larger of NEW and OLD (so vanished paths are
 * drawn) and colours it by NEW minus OLD: red for growth, blue for
 * shrink, deeper for bigger changes on a logarithmic scale.
 */
#ifndef TM_REPORT_FLAME_H
#define TM_REPORT_FLAME_H

#include <stdio.h>

#include "report/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- metrics --- */

typedef enum tm_metric {
    TM_METRIC_LIVE,
    TM_METRIC_PEAK,
    TM_METRIC_ALLOCATIONS,
    TM_METRIC_LEAKED,
    TM_METRIC_TEMPORARY, /* a count: allocations freed before the thread's next */
} tm_metric;

/* "live", "peak", "allocations", "leaked", "temporary" <-> the enum;
 * parse returns -1 for an unknown name. */
int tm_metric_parse(const char *name);
const char *tm_metric_name(tm_metric metric);

/* Bit (1u << kind) for each leak kind counted by TM_METRIC_LEAKED. */
#define TM_FLAME_DEFAULT_KINDS ((1u << TM_LEAK_DEFINITE) | (1u << TM_LEAK_INDIRECT))

/* One weighed stack: 'stack' indexes snap->stacks; 'value' is bytes and
 * 'count' blocks under the metric. */
typedef struct tm_weight {
    size_t stack;
    uint64_t value;
    uint64_t count;
} tm_weight;

/* The stacks of 'snap' weighed by 'metric' ('kinds' is a TM_LEAK_* bit
 * set, used by TM_METRIC_LEAKED only), in file order, entries with no
 * bytes left out. Stores a new array in '*out' (free()) and its length in
 * '*n'. Returns 0; -EINVAL with 'err' filled when the snapshot has no
 * such data (no peak record; leaks not checked); -ENOMEM. */
int tm_metric_weights(const tm_snapshot *snap, tm_metric metric, unsigned kinds, tm_weight **out, size_t *n,
                      tm_error *err);

/* --- folding --- */

/* The folded name of logical frame 'loc' (-1: the frame's own location,
 * else inlined[loc]) of 'frame' into 'buf' (always terminated). Returns
 * 'buf'. */
char *tm_fold_name(const tm_snapshot *snap, const tm_frame *frame, int loc, char *buf, size_t len);

/* The folded line of 'stack' ("[no frames]" for an empty stack). Returns
 * a new string (free()) or NULL with errno ENOMEM. */
char *tm_fold_stack(const tm_snapshot *snap, const tm_stack *stack);

typedef struct tm_fold {
    char *path; /* owned */
    uint64_t value;
    uint64_t count;
    char *locs; /* owned, NULL when not asked for: the source location of
                   each frame of 'path', ';'-separated in the same order
                   ("FILE:LINE", "" when unknown); a location that differed
                   between the stacks merged into this path starts with '*' */
} tm_fold;

/* Folded stacks, sorted by path (strcmp), each path once: stacks that
 * differ only in what folding drops (line numbers, domains) are summed. */
typedef struct tm_folded {
    size_t n;
    tm_fold *v;
    uint64_t total;
} tm_folded;

/* Folds 'snap' under 'metric' (and 'kinds', see tm_metric_weights()) into
 * 'out' (free with tm_folded_free()). Returns 0, -EINVAL with 'err' filled
 * or -ENOMEM. */
int tm_folded_compute(const tm_snapshot *snap, tm_metric metric, unsigned kinds, tm_folded *out,
                      tm_error *err);
void tm_folded_free(tm_folded *folded);

/* Flags of tm_folded_compute_ex(). */
#define TM_FOLD_LOCS 0x1       /* fill tm_fold.locs */
#define TM_FOLD_CALL_SITES 0x2 /* name each frame "FUNCTION FILE:LINE" (the
                                  file's base name), so that the calls of a
                                  function from different lines stay apart */

/* The folded line of 'stack' under 'flags' (TM_FOLD_CALL_SITES) into
 * '*path' and, when 'locs' is not NULL, its locations (as tm_fold.locs)
 * into '*locs': new strings (free()). Returns 0 or -ENOMEM. */
int tm_fold_stack_ex(const tm_snapshot *snap, const tm_stack *stack, unsigned flags, char **path, char **locs);

/* tm_folded_compute() with 'flags' (TM_FOLD_*). */
int tm_folded_compute_ex(const tm_snapshot *snap, tm_metric metric, unsigned kinds, unsigned flags,
                         tm_folded *out, tm_error *err);

/* The location of logical frame 'loc' of 'frame' as folded locations write
 * it ("FILE:LINE", 'base': the file's base name; "" when unknown) into
 * 'buf'. Returns 'buf'. */
char *tm_fold_loc(const tm_frame *frame, int loc, int base, char *buf, size_t len);

/* Writes "PATH VALUE\n" for each entry: the input format of
 * flamegraph.pl, inferno and speedscope. Returns 0 or -EIO. */
int tm_folded_write(const tm_folded *folded, FILE *fp);

/* --- flame graphs --- */

typedef struct tm_flame_opts {
    const char *title;    /* borrowed; NULL: "Flame graph" */
    const char *subtitle; /* borrowed; NULL: none */
    const char *unit;     /* "bytes" when NULL */
    int html;             /* HTML page with zoom and search */
    double width;         /* pixels; 0: 1200 */
    double min_width;     /* frames narrower are left out; 0: 0.1 in an SVG,
                             none in HTML (its script hides what is too
                             narrow at the current zoom) */
} tm_flame_opts;

/* Writes the flame graph of 'folded' to 'fp'. With 'old' (may be NULL) it
 * is a differential graph: colours from the difference to 'old' per frame
 * path, widths from the larger of the two per path (so a path that
 * vanished is drawn, in blue, as wide as it was). Tooltips give the
 * frame's file:line when 'folded' has locations. Returns 0, -EIO or
 * -ENOMEM. */
int tm_flame_write(const tm_folded *folded, const tm_folded *old, const tm_flame_opts *opts, FILE *fp);

/* The colour of a frame named 'name' in a plain flame graph: a warm
 * "#rrggbb" that depends only on the name. Writes into 'buf' (8 bytes). */
char *tm_flame_color(const char *name, char buf[8]);

/* The colour of a frame that changed by 'delta' when the largest change
 * of any frame is 'maxabs' (> 0): red for growth, blue for shrink, light
 * grey for none, deeper on a logarithmic scale (log(1+|delta|) /
 * log(1+maxabs)), so a change of 11 KiB still shows next to one of
 * 2.3 MiB. Writes into 'buf' (8 bytes). */
char *tm_flame_diff_color(int64_t delta, uint64_t maxabs, char buf[8]);

/* The page script of the HTML flame graph (zoom, search, width following
 * the window, icicle view, file:line labels): defines tmFlame(svg) that
 * binds it to an SVG drawn by tm_flame_write(); the report page reuses it. */
extern const char tm_flame_script[];

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_FLAME_H */
