/* snapshot.h - the in-memory model of a tracemem snapshot, and its loader.
 *
 * A snapshot file (tracemem-snapshot(5), SPEC section 5) is parsed with
 * jansson, validated completely (types, ranges, every index) and exposed
 * as flat typed arrays that mirror the file: modules, frames, stacks,
 * traces, the peak record and the leaks section. Indexes stay indexes
 * (tm_trace.stack indexes tm_snapshot.stacks, and so on), so code can walk
 * from a trace to its frames without lookups, and can trust every index.
 *
 * The parsed document is kept as 'root': it is the source of truth. Every
 * string in the model is borrowed from it, and sections this model does
 * not know (gc, written by librcgc; keys added later) are read from it
 * directly. The exception: the largest members, "stacks", "traces" and
 * "peak", are read from the file's text without a tree (fastjson.h) and
 * are in 'root' only after tm_snapshot_expand(). Code that edits 'root' (the symbolizer adds function/file/line
 * to frames) calls tm_snapshot_reindex() afterwards.
 *
 * Nothing here prints or exits: errors are returned as a negative errno
 * code with a one-line description in a tm_error, which the CLI prints as
 * "tracemem: FILE: <what>". None of this is thread-safe; one snapshot
 * belongs to one thread at a time.
 */
#ifndef TM_REPORT_SNAPSHOT_H
#define TM_REPORT_SNAPSHOT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_SNAPSHOT_FORMAT "tracemem-snapshot"

/* The domain of the program's anonymous mmap and brk memory (the shim's
 * TRACEMEM_DOMAIN_MMAP): not heap memory, so the heap's views (top, diff,
 * flamegraph, export, trend) leave it out unless asked for it by number;
 * tracemem rss shows it. */
#define TM_DOMAIN_MMAP 65535u
#define TM_SNAPSHOT_VERSION 1

/* A description of what went wrong, without the file name: "traces[3].stack:
 * index 17 out of range (12 stacks)". */
typedef struct tm_error {
    char what[512];
} tm_error;

/* Fills 'err' (may be NULL) printf-style. Returns 'code' for tail calls. */
int tm__error_set(tm_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- the model --- */

/* One loaded object of the traced process. 'path' is absolute ("[vdso]"
 * for the vdso); 'name' is its base name (points into 'path'); 'build_id'
 * is lowercase hex, "" when the module has none. 'base' is the load bias,
 * 'size' the span of its PT_LOAD segments. */
typedef struct tm_module {
    const char *path;
    const char *name;
    const char *build_id;
    uint64_t base;
    uint64_t size;
} tm_module;

/* A source location. 'function' and 'file' are NULL when unknown, 'line'
 * is 0 when unknown. */
typedef struct tm_location {
    const char *function;
    const char *file;
    int64_t line;
} tm_location;

/* One return address. 'module' indexes tm_snapshot.modules, or is -1 when
 * the address was in no known module (then 'offset' is the absolute
 * address). 'offset' is the return address minus the module's base, i.e.
 * an address in the ELF file's own address space; it is NOT minus one.
 *
 * After symbolization 'loc' is the innermost source location of the code
 * at the call (inside an inlined function when there is one), and
 * 'inlined' lists the enclosing call sites from inner to outer: each
 * element names the function the inlined code was inlined into and the
 * file:line of that inline call, ending with the real (out-of-line)
 * function. So the logical frames of this address are loc, inlined[0],
 * ..., inlined[ninlined - 1], innermost first - what addr2line -i prints. */
typedef struct tm_frame {
    int64_t module;
    uint64_t offset;
    int python; /* a Python frame ("kind": "python"): no address, 'loc' is
                   its file, function and line; module -1 */
    tm_location loc;
    size_t ninlined;
    tm_location *inlined;
} tm_frame;

/* A call stack: 'frames' are indexes into tm_snapshot.frames, innermost
 * first (frames[0] is the return address into the caller of malloc).
 * 'depth' is the true depth before truncation to nframes (>= nframes). */
typedef struct tm_stack {
    size_t nframes;
    uint32_t *frames; /* indexes into tm_snapshot.frames (at most 2^32 - 1 frames) */
    uint64_t depth;
    int caller_only; /* recorded with depth 0: one frame, the caller of the
                        allocation function, and nothing below it known */
    int borrowed;    /* 'frames' points into memory owned elsewhere (the
                        loader's pool, or the raw stack it was folded from) */
} tm_stack;

/* Memory attributed to one stack in one domain. size/count: live blocks
 * now; allocated_*: everything ever allocated from that stack (0 in the
 * peak record, which has no such figures). */
typedef struct tm_trace {
    size_t stack;
    uint64_t domain;
    uint64_t size;
    uint64_t count;
    uint64_t allocated_size;
    uint64_t allocated_count;
    uint64_t temporary; /* allocations freed before the thread allocated
                           again (heaptrack's temporary); 0 when absent */
} tm_trace;

/* The four leak kinds of SPEC section 6, in report order. */
typedef enum tm_leak_kind {
    TM_LEAK_DEFINITE,
    TM_LEAK_INDIRECT,
    TM_LEAK_POSSIBLE,
    TM_LEAK_REACHABLE,
    TM_LEAK_NKINDS
} tm_leak_kind;

typedef struct tm_leak_total {
    uint64_t bytes;
    uint64_t blocks;
} tm_leak_total;

/* Leaked blocks of one kind allocated from one stack. */
typedef struct tm_leak_stack {
    size_t stack;
    tm_leak_kind kind;
    uint64_t bytes;
    uint64_t blocks;
} tm_leak_stack;

/* memory section; missing keys read as 0. */
typedef struct tm_memory {
    uint64_t current;
    uint64_t peak;
    uint64_t blocks;
    uint64_t overhead;
    uint64_t lost_records;
} tm_memory;

typedef struct tm_snapshot {
    char *file;   /* the name it was loaded from (owned) */
    json_t *root; /* the whole document (owned reference) */

    /* process / snapshot sections; NULL or 0 when absent */
    int64_t pid;
    int64_t ppid;
    const char *exe;
    int64_t seq;
    const char *time;
    const char *reason;
    int64_t nframes_limit; /* snapshot.nframes */
    int64_t sampling_bytes;

    tm_memory memory;

    size_t nmodules;
    tm_module *modules;
    size_t nframes;
    tm_frame *frames;
    size_t nstacks;
    tm_stack *stacks;
    size_t ntraces;
    tm_trace *traces;

    int has_peak; /* a peak section was present */
    uint64_t peak_current;
    size_t npeak_traces;
    tm_trace *peak_traces;

    int has_leaks;     /* a leaks section was present */
    int leaks_checked; /* leaks.checked */
    int64_t leaks_threads_not_stopped; /* leaks.threads_not_stopped: > 0 when
                                          leaks.partial (registers unread) */
    tm_leak_total leak_summary[TM_LEAK_NKINDS];
    size_t nleak_stacks;
    tm_leak_stack *leak_stacks;

    int symbolized; /* the top-level "symbolized" flag */

    /* "python": the CPython interpreter of the process; python_module
     * indexes 'modules' (the module holding the interpreter, whose frames
     * inside a Python frame are folded), -1 when absent or unknown */
    const char *python_version;
    int64_t python_module;

    /* The view (report/fold.h), set by tm_snapshot_fold(): when it folded
     * allocation-function frames away, 'stacks' holds the folded stacks
     * (extra frames appended to 'frames') and 'raw_stacks' the stacks as
     * recorded, same indexes; NULL when nothing was folded. 'full_names':
     * text output prints function names unshortened. */
    tm_stack *raw_stacks;
    int full_names;
    size_t name_width; /* > 0: elide names longer than this in text */

    /* The file's text when it was loaded by tm_snapshot_load(): "stacks"
     * and "traces" are read from it directly (report/fastjson.h) and are
     * then not in 'root'; tm_snapshot_write() writes them from it. */
    struct tm__snapshot_text *text;
} tm_snapshot;

/* --- loading --- */

/* Reads and validates the snapshot file 'path' ("-" reads stdin), a
 * regular file of at most TM_SNAPSHOT_MAX_BYTES (report/infile.h). On
 * success stores a new snapshot in '*out' (free with tm_snapshot_free())
 * and returns 0. On failure returns -EINVAL (malformed: not JSON,
 * truncated, wrong format or version, wrong types, indexes out of range),
 * -ENOENT/-EACCES/... (cannot be read), or -ENOMEM, and describes the
 * problem in 'err' (may be NULL). */
int tm_snapshot_load(const char *path, tm_snapshot **out, tm_error *err);

/* Like tm_snapshot_load() for a snapshot that is only read, never written
 * (tm_snapshot_write(), tm_snapshot_expand() and tm_snapshot_reindex()
 * then fail): the file's text is given back to the system as it becomes
 * the model, so the peak memory is about the larger of the two, not their
 * sum. A file not in the plain form the shim writes is loaded again as
 * tm_snapshot_load() does (same result, same errors); "-" (stdin) is read
 * by tm_snapshot_load(). */
int tm_snapshot_load_lean(const char *path, tm_snapshot **out, tm_error *err);

/* Like tm_snapshot_load() for a snapshot that is symbolized and written
 * back (tracemem symbolize): the whole file is checked the same way, but
 * the stacks, traces and peak record are not kept in the model ('stacks'
 * is NULL while 'nstacks' counts them; no traces, no peak traces) - they
 * are written from the file's text. Only the frames and the tree are
 * there to read. */
int tm_snapshot_load_frames(const char *path, tm_snapshot **out, tm_error *err);

/* tm_snapshot_from_text() the lean way; -EAGAIN (nothing kept, 'text'
 * freed) when the text is not in the plain form. For the fuzzer. */
int tm__snapshot_from_text_lean(char *text, size_t len, const char *name, tm_snapshot **out, tm_error *err);

/* Like tm_snapshot_load() for the text of a snapshot, 'len' bytes at
 * 'text' (malloc'd, with a NUL after them), which the function takes over:
 * it is kept by the snapshot or freed. 'name' is the snapshot's file name. */
int tm_snapshot_from_text(char *text, size_t len, const char *name, tm_snapshot **out, tm_error *err);

/* Like tm_snapshot_load() for an already parsed document. 'root' is
 * borrowed (the snapshot takes its own reference); 'name' is stored as
 * the snapshot's file name. */
int tm_snapshot_from_json(json_t *root, const char *name, tm_snapshot **out, tm_error *err);

/* Makes 'root' the whole document. A snapshot read by tm_snapshot_load()
 * keeps its largest members ("stacks", "traces", "peak") as the file's
 * text, read straight into the model, and they are not in 'root'; code
 * that edits those members calls this first. 0, -ENOMEM or -EINVAL. */
int tm_snapshot_expand(tm_snapshot *snap, tm_error *err);

/* Rebuilds the model after 'root' was edited, validating it again. On
 * failure the model is left empty (no traces) and a negative code
 * returned. */
int tm_snapshot_reindex(tm_snapshot *snap, tm_error *err);

/* Like tm_snapshot_reindex() when only the frames of 'root' were edited
 * (the symbolizer adds names to them): reloads the frames alone. */
int tm__snapshot_reload_frames(tm_snapshot *snap, tm_error *err);

/* Frees the model and drops its reference to 'root'. NULL is ignored. */
void tm_snapshot_free(tm_snapshot *snap);

/* Writes 'root' to 'path', compact on one line, as report/outfile.h does: a
 * regular file atomically (temporary file in the same directory, then
 * rename), a symlink followed, a device or FIFO written through. "-"
 * writes to stdout. A 'path' ending in ".gz" is written gzip-compressed. Returns 0 or a negative errno code with 'err' filled
 * ("write error: ..."). */
int tm_snapshot_write(const tm_snapshot *snap, const char *path, tm_error *err);

/* --- helpers --- */

/* "definite", "indirect", "possible", "reachable"; NULL for a bad kind. */
const char *tm_leak_kind_name(tm_leak_kind kind);

/* The kind named 'name', or -1. */
int tm_leak_kind_parse(const char *name);

/* The module of 'frame', or NULL when the frame is in no known module. */
const tm_module *tm_snapshot_frame_module(const tm_snapshot *snap, const tm_frame *frame);

/* The 'i'th frame (innermost first) of 'stack'. 'i' < stack->nframes. */
/* Stack 'i' as recorded, before any folding (what suppressions and
 * baselines match). */
static inline const tm_stack *tm_snapshot_raw_stack(const tm_snapshot *snap, size_t i)
{
    return snap->raw_stacks ? &snap->raw_stacks[i] : &snap->stacks[i];
}

static inline const tm_frame *tm_stack_frame(const tm_snapshot *snap, const tm_stack *stack, size_t i)
{
    return &snap->frames[stack->frames[i]];
}

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_SNAPSHOT_H */
