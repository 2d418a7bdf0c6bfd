/* snapshot.c - what a snapshot contains, and writing it atomically.
 *
 * A snapshot is taken in two passes under the snapshot mutex: first the
 * trace rows, the peak record and the leak result are copied into mapped
 * arrays (so the figures written agree with each other even while other
 * threads allocate: memory.current is the sum of the trace sizes written),
 * and the frames of every stack referenced are resolved to (module, offset)
 * and deduplicated; then the JSON is streamed to a temporary file in the
 * target directory, created with O_EXCL|O_NOFOLLOW, and renamed over the
 * target. A failed write removes the temporary file. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"
#include "shim/writer.h"
#include "tracemem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h> /* rename() only: the shim never uses stdio streams */
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t snap_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned snap_seq;
static atomic_int reported_failure;

/* --- extra sections --- */

#define MAX_SECTIONS 32

struct section {
    char name[64];
    tracemem_section_fn fn;
    void *arg;
};

static pthread_mutex_t sections_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct section sections[MAX_SECTIONS];
static int nsections;

static const char *const reserved[] = {"format", "version", "process", "snapshot", "memory", "stack_cache", "modules",
                                       "frames", "stacks", "traces", "peak", "leaks", "symbolized", "python",
                                       "timeline", "sizes"};

int tm__section_add(const char *name, tracemem_section_fn fn, void *arg)
{
    size_t n = name ? strlen(name) : 0;
    if (!n || n >= sizeof(sections[0].name) || !fn)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return -EINVAL;
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(name, reserved[i]) == 0)
            return -EINVAL;
    int rc = 0;
    tm__mutex_lock(&sections_mutex);
    int i;
    for (i = 0; i < nsections; i++)
        if (strcmp(sections[i].name, name) == 0)
            break;
    if (i == MAX_SECTIONS) {
        rc = -ENOMEM;
    } else {
        memcpy(sections[i].name, name, n + 1);
        sections[i].fn = fn;
        sections[i].arg = arg;
        if (i == nsections)
            nsections++;
    }
    tm__mutex_unlock(&sections_mutex);
    return rc;
}

void tm__sections_lock(void)
{
    tm__mutex_lock(&sections_mutex);
}

void tm__sections_unlock(void)
{
    tm__mutex_unlock(&sections_mutex);
}

/* --- pass 1: what goes in --- */

struct grow_array {
    void *p;
    size_t n, cap, elem;
};

static void *grow_push(struct grow_array *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4096;
        void *q = a->p ? tm__remap(a->p, a->cap * a->elem, cap * a->elem) : tm__map(cap * a->elem);
        if (!q)
            return NULL;
        a->p = q;
        a->cap = cap;
    }
    return (char *)a->p + a->elem * a->n++;
}

static void grow_release(struct grow_array *a)
{
    if (a->p)
        tm__unmap(a->p, a->cap * a->elem);
    a->p = NULL;
}

struct frame {
    int32_t module; /* PY_MODULE: a Python frame, 'offset' its tagged value */
    uint64_t offset;
};

#define PY_MODULE (-2)

struct content {
    struct tm__rss rss;
    struct grow_array traces; /* struct tm__trace_row */
    struct grow_array peak;   /* struct tm__trace_row */
    int64_t peak_current;
    uint32_t *index;          /* stack id -> 1 + position in stacks, 0 = not written */
    size_t index_size;
    struct grow_array stacks; /* uint32_t stack ids in output order */
    struct grow_array frames; /* struct frame */
    uint64_t *fkeys;          /* frame dedup: key+1, 0 empty */
    uint32_t *fvals;
    size_t fcap;
    int failed;
};

static void push_row(const struct tm__trace_row *r, void *arg)
{
    struct grow_array *a = arg;
    struct tm__trace_row *slot = grow_push(a);
    if (slot)
        *slot = *r;
}

/* The frame dedup table: linear probing, load below 1/2. It starts small
 * and doubles: its size follows the distinct frames (python3 importing
 * its standard library: 29 000 among 16 million), not the frames of all
 * stacks, so the table stays in the cache and its pages are few. */
#define FRAMES_INITIAL 4096

static inline uint64_t frame_key(int32_t module, uint64_t offset)
{
    return ((uint64_t)(uint32_t)(module + 1) << 48) ^ offset;
}

/* The slot of 'key' in a table of 'cap' slots, or the empty slot where it
 * would go. */
static inline size_t frame_probe(const uint64_t *keys, size_t cap, uint64_t key)
{
    uint64_t h = (key + 1) * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 20) & (cap - 1);
    while (keys[i] && keys[i] != key + 1)
        i = (i + 1) & (cap - 1);
    return i;
}

static int frames_grow(struct content *c)
{
    size_t cap = c->fcap ? c->fcap * 2 : FRAMES_INITIAL;
    uint64_t *keys = tm__map(cap * sizeof(*keys));
    uint32_t *vals = tm__map(cap * sizeof(*vals));
    if (!keys || !vals) {
        tm__unmap(keys, cap * sizeof(*keys));
        tm__unmap(vals, cap * sizeof(*vals));
        return -1;
    }
    for (size_t i = 0; i < c->fcap; i++) {
        if (!c->fkeys[i])
            continue;
        size_t j = frame_probe(keys, cap, c->fkeys[i] - 1);
        keys[j] = c->fkeys[i];
        vals[j] = c->fvals[i];
    }
    if (c->fkeys) {
        tm__unmap(c->fkeys, c->fcap * sizeof(*c->fkeys));
        tm__unmap(c->fvals, c->fcap * sizeof(*c->fvals));
    }
    c->fkeys = keys;
    c->fvals = vals;
    c->fcap = cap;
    return 0;
}

static uint32_t frame_index(struct content *c, int32_t module, uint64_t offset)
{
    uint64_t key = frame_key(module, offset);
    size_t i = frame_probe(c->fkeys, c->fcap, key);
    if (c->fkeys[i])
        return c->fvals[i];
    if ((c->frames.n + 1) * 2 > c->fcap) {
        if (frames_grow(c) < 0) {
            c->failed = 1;
            return 0;
        }
        i = frame_probe(c->fkeys, c->fcap, key);
    }
    struct frame *f = grow_push(&c->frames);
    if (!f) {
        c->failed = 1;
        return 0;
    }
    f->module = module;
    f->offset = offset;
    c->fkeys[i] = key + 1;
    c->fvals[i] = (uint32_t)(c->frames.n - 1);
    return c->fvals[i];
}

static void want_stack(struct content *c, uint32_t id)
{
    if (id == 0 || id >= c->index_size || c->index[id])
        return;
    uint32_t *slot = grow_push(&c->stacks);
    if (!slot) {
        c->failed = 1;
        return;
    }
    *slot = id;
    c->index[id] = (uint32_t)c->stacks.n;
}

/* Frame k of stack 's' as (module, offset) ('hint': the module of the
 * frame before). The same in both passes: a stack's frames are found
 * among the modules valid at its epoch, which a later load or unload
 * does not change. */
static void stack_frame_key(const struct tm__stack *s, int k, int *hint, int32_t *module, uint64_t *offset)
{
    int m = tm__pc_is_py(s->pcs[k]) ? PY_MODULE : tm__module_find_near(s->pcs[k], s->epoch, hint);
    *module = m;
    *offset = m >= 0 ? s->pcs[k] - tm__module_get((size_t)m)->bias : s->pcs[k];
}

/* Pass 2: the index pass 1 gave that frame (it listed every frame of every
 * stack written, so a lookup always finds it). */
static uint32_t stack_frame_index(const struct content *c, const struct tm__stack *s, int k, int *hint)
{
    int32_t m;
    uint64_t off;
    stack_frame_key(s, k, hint, &m, &off);
    size_t i = frame_probe(c->fkeys, c->fcap, frame_key(m, off));
    return c->fkeys[i] ? c->fvals[i] : 0; /* 0: not reached */
}

/* Pass 1 lists the frames the stacks use; the stacks are written in pass
 * 2 from the same lookups (not kept: python3's standard library makes
 * 16 million frame references, 29 000 frames). */
static void resolve_frames(struct content *c)
{
    uint32_t *ids = c->stacks.p;
    if (frames_grow(c) < 0) {
        c->failed = 1;
        return;
    }
    int hint = -1; /* consecutive frames are mostly in one module */
    for (size_t i = 0; i < c->stacks.n && !c->failed; i++) {
        const struct tm__stack *s = tm__stack_get(ids[i]);
        for (int k = 0; k < s->nframes; k++) {
            int32_t m;
            uint64_t off;
            stack_frame_key(s, k, &hint, &m, &off);
            frame_index(c, m, off);
        }
    }
}

static void want_timeline_stack(uint32_t id, void *arg)
{
    want_stack(arg, id);
}

static int gather(struct content *c, const struct tm__leak_result *leaks, int malloc_ok, enum tm__reason reason)
{
    memset(c, 0, sizeof(*c));
    tm__rss_measure(&c->rss, malloc_ok);
    c->traces.elem = c->peak.elem = sizeof(struct tm__trace_row);
    c->stacks.elem = sizeof(uint32_t);
    c->frames.elem = sizeof(struct frame);
    tm__traces_foreach(push_row, &c->traces);
    c->peak_current = tm__peak_foreach(push_row, &c->peak);
    c->index_size = tm__stack_limit();
    c->index = tm__map(c->index_size * sizeof(uint32_t));
    if (!c->index)
        return -ENOMEM;
    struct tm__trace_row *rows = c->traces.p;
    for (size_t i = 0; i < c->traces.n; i++)
        want_stack(c, rows[i].stack);
    rows = c->peak.p;
    for (size_t i = 0; i < c->peak.n; i++)
        want_stack(c, rows[i].stack);
    for (size_t i = 0; leaks && leaks->checked && i < leaks->nstacks; i++)
        want_stack(c, leaks->stacks[i].stack);
    tm__timeline_gather(reason, want_timeline_stack, c);
    resolve_frames(c);
    return c->failed ? -ENOMEM : 0;
}

static void content_release(struct content *c)
{
    grow_release(&c->traces);
    grow_release(&c->peak);
    grow_release(&c->stacks);
    grow_release(&c->frames);
    if (c->index)
        tm__unmap(c->index, c->index_size * sizeof(uint32_t));
    if (c->fkeys)
        tm__unmap(c->fkeys, c->fcap * sizeof(*c->fkeys));
    if (c->fvals)
        tm__unmap(c->fvals, c->fcap * sizeof(*c->fvals));
}

/* --- pass 2: the JSON --- */

static void write_time(struct tm__out *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t days = ts.tv_sec / 86400, secs = ts.tv_sec % 86400;
    /* civil date from days since 1970-01-01 (Howard Hinnant's algorithm) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    char buf[40];
    int ms = (int)(ts.tv_nsec / 1000000);
    tm__snprintf(buf, sizeof(buf), "\"%ld-%c%c-%c%c", (long)y, (char)('0' + m / 10), (char)('0' + m % 10),
                 (char)('0' + d / 10), (char)('0' + d % 10));
    tm__out_lit(o, buf);
    tm__snprintf(buf, sizeof(buf), "T%c%c:%c%c:%c%c.%c%c%cZ\"", (char)('0' + secs / 36000),
                 (char)('0' + secs / 3600 % 10), (char)('0' + secs % 3600 / 600), (char)('0' + secs % 600 / 60),
                 (char)('0' + secs % 60 / 10), (char)('0' + secs % 10), (char)('0' + ms / 100),
                 (char)('0' + ms / 10 % 10), (char)('0' + ms % 10));
    tm__out_lit(o, buf);
}

static void write_argv(struct tm__out *o)
{
    tm__out_lit(o, "[");
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    size_t cap = 64 * 1024, len = 0;
    char *buf = fd >= 0 ? tm__map(cap) : NULL;
    while (buf && len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    for (size_t i = 0, start = 0; buf && i < len; i++) {
        if (buf[i] == '\0') {
            if (start)
                tm__out_lit(o, ",");
            tm__out_strn(o, buf + start, i - start);
            start = i + 1;
        }
    }
    if (buf)
        tm__unmap(buf, cap);
    if (fd >= 0)
        close(fd);
    tm__out_lit(o, "]");
}

static void write_process(struct tm__out *o)
{
    struct utsname un;
    tm__out_lit(o, "{\"pid\":");
    tm__out_i64(o, getpid());
    tm__out_lit(o, ",\"ppid\":");
    tm__out_i64(o, getppid());
    tm__out_lit(o, ",\"exe\":");
    tm__out_str(o, tm__exe_path());
    tm__out_lit(o, ",\"argv\":");
    write_argv(o);
    tm__out_lit(o, ",\"hostname\":");
    tm__out_str(o, uname(&un) == 0 ? un.nodename : "");
    tm__out_lit(o, "}");
}

static const char *const reason_names[] = {"exit", "api", "signal", "interval", "leak-check"};

static void write_row(struct tm__out *o, const struct content *c, const struct tm__trace_row *r, int full)
{
    tm__out_lit(o, "{\"stack\":");
    tm__out_u64(o, c->index[r->stack] - 1);
    tm__out_lit(o, ",\"domain\":");
    tm__out_u64(o, r->domain);
    tm__out_lit(o, ",\"size\":");
    tm__out_i64(o, r->size);
    tm__out_lit(o, ",\"count\":");
    tm__out_i64(o, r->count);
    if (full) {
        tm__out_lit(o, ",\"allocated_size\":");
        tm__out_i64(o, r->alloc_size);
        tm__out_lit(o, ",\"allocated_count\":");
        tm__out_i64(o, r->alloc_count);
        if (r->temporary) {
            tm__out_lit(o, ",\"temporary\":");
            tm__out_i64(o, r->temporary);
        }
    }
    tm__out_lit(o, "}");
}

static void write_modules(struct tm__out *o)
{
    tm__out_lit(o, "[");
    for (size_t i = 0; i < tm__module_count(); i++) {
        const struct tm__module *m = tm__module_get(i);
        char hex[2 * sizeof(m->build_id) + 1];
        for (int k = 0; k < m->build_id_len; k++) {
            hex[2 * k] = "0123456789abcdef"[m->build_id[k] >> 4];
            hex[2 * k + 1] = "0123456789abcdef"[m->build_id[k] & 15];
        }
        hex[2 * m->build_id_len] = '\0';
        tm__out_lit(o, i ? ",{\"path\":" : "{\"path\":");
        tm__out_str(o, m->path);
        tm__out_lit(o, ",\"build_id\":");
        tm__out_str(o, hex);
        tm__out_lit(o, ",\"base\":");
        tm__out_u64(o, m->bias);
        tm__out_lit(o, ",\"size\":");
        tm__out_u64(o, m->hi - m->lo);
        tm__out_lit(o, "}");
    }
    tm__out_lit(o, "]");
}

/* A Python frame: keyed by file, function and line, in no module (readers
 * that do not know "kind" see a frame already symbolized). */
static void write_pyframe(struct tm__out *o, uint64_t pc, int first)
{
    const struct tm__pyframe *p = tm__pyframe_get((uintptr_t)pc);
    tm__out_lit(o, first ? "{\"module\":-1,\"offset\":0,\"kind\":\"python\",\"function\":"
                         : ",{\"module\":-1,\"offset\":0,\"kind\":\"python\",\"function\":");
    tm__out_str(o, p ? p->function : "?");
    tm__out_lit(o, ",\"file\":");
    tm__out_str(o, p ? p->file : "?");
    tm__out_lit(o, ",\"line\":");
    tm__out_i64(o, p ? p->line : 0);
    tm__out_lit(o, "}");
}

/* "python": the interpreter found in the process (tracemem-snapshot(5)). */
static void write_python(struct tm__out *o)
{
    unsigned long v;
    uintptr_t rt;
    int s = tm__py_info(&v, &rt);
    if (!s)
        return;
    tm__out_key(o, "python", 0);
    char buf[64];
    tm__snprintf(buf, sizeof(buf), "%lu.%lu.%lu", v >> 24, v >> 16 & 255, v >> 8 & 255);
    tm__out_lit(o, "{\"version\":");
    tm__out_str(o, v ? buf : "");
    tm__out_lit(o, ",\"module\":");
    tm__out_i64(o, tm__module_find(rt, atomic_load(&tm__epoch)));
    tm__out_lit(o, s > 0 ? ",\"frames\":true}" : ",\"frames\":false}");
}

static void write_frames_and_stacks(struct tm__out *o, const struct content *c)
{
    const struct frame *f = c->frames.p;
    tm__out_key(o, "frames", 0);
    tm__out_lit(o, "[");
    for (size_t i = 0; i < c->frames.n; i++) {
        if (f[i].module == PY_MODULE) {
            write_pyframe(o, f[i].offset, i == 0);
            continue;
        }
        tm__out_lit(o, i ? ",{\"module\":" : "{\"module\":");
        tm__out_i64(o, f[i].module);
        tm__out_lit(o, ",\"offset\":");
        tm__out_u64(o, f[i].offset);
        tm__out_lit(o, "}");
    }
    tm__out_lit(o, "]");
    tm__out_key(o, "stacks", 0);
    tm__out_lit(o, "[");
    const uint32_t *ids = c->stacks.p;
    int hint = -1;
    for (size_t i = 0; i < c->stacks.n; i++) {
        const struct tm__stack *s = tm__stack_get(ids[i]);
        tm__out_lit(o, i ? ",{\"frames\":[" : "{\"frames\":[");
        for (int k = 0; k < s->nframes; k++) {
            if (k)
                tm__out_lit(o, ",");
            tm__out_u64(o, stack_frame_index(c, s, k, &hint));
        }
        tm__out_lit(o, "],\"depth\":");
        tm__out_u64(o, s->depth);
        tm__out_lit(o, "}");
    }
    tm__out_lit(o, "]");
}

static const char *const kind_names[] = {"definite", "indirect", "possible", "reachable"};

static void write_leaks(struct tm__out *o, const struct content *c, const struct tm__leak_result *l)
{
    int checked = l && l->checked;
    tm__out_key(o, "leaks", 0);
    tm__out_lit(o, checked ? "{\"checked\":true,\"summary\":{" : "{\"checked\":false,\"summary\":{");
    for (int k = 0; k < TM_LEAK_KINDS; k++) {
        tm__out_key(o, kind_names[k], k == 0);
        tm__out_lit(o, "{\"bytes\":");
        tm__out_u64(o, checked ? l->bytes[k] : 0);
        tm__out_lit(o, ",\"blocks\":");
        tm__out_u64(o, checked ? l->blocks[k] : 0);
        tm__out_lit(o, "}");
    }
    tm__out_lit(o, "},\"stacks\":[");
    int first = 1;
    for (size_t i = 0; checked && i < l->nstacks; i++) {
        const struct tm__leak_stack *s = &l->stacks[i];
        if (!s->stack || s->stack >= c->index_size || !c->index[s->stack])
            continue;
        tm__out_lit(o, first ? "{\"stack\":" : ",{\"stack\":");
        first = 0;
        tm__out_u64(o, c->index[s->stack] - 1);
        tm__out_lit(o, ",\"kind\":\"");
        tm__out_lit(o, kind_names[s->kind < TM_LEAK_KINDS ? s->kind : 0]);
        tm__out_lit(o, "\",\"bytes\":");
        tm__out_u64(o, s->bytes);
        tm__out_lit(o, ",\"blocks\":");
        tm__out_u64(o, s->blocks);
        tm__out_lit(o, "}");
    }
    tm__out_lit(o, "]");
    if (checked && l->unstopped) {
        tm__out_lit(o, ",\"partial\":true,\"threads_not_stopped\":");
        tm__out_u64(o, (uint64_t)l->unstopped);
    }
    tm__out_lit(o, "}");
}

static void write_sections(struct tm__out *o)
{
    size_t cap = 64 * 1024;
    char *buf = NULL;
    tm__mutex_lock(&sections_mutex);
    for (int i = 0; i < nsections; i++) {
        if (!buf && !(buf = tm__map(cap)))
            break;
        size_t n = sections[i].fn(buf, cap, sections[i].arg);
        if (n >= cap) {
            char *bigger = tm__remap(buf, cap, n + 1);
            if (bigger) {
                buf = bigger;
                cap = n + 1;
                n = sections[i].fn(buf, cap, sections[i].arg);
            }
        }
        tm__out_key(o, sections[i].name, 0);
        if (n == 0 || n >= cap)
            tm__out_lit(o, "null");
        else
            tm__out_raw(o, buf, n);
    }
    tm__mutex_unlock(&sections_mutex);
    if (buf)
        tm__unmap(buf, cap);
}

static void write_all(struct tm__out *o, const struct content *c, unsigned seq, enum tm__reason reason,
                      const struct tm__leak_result *leaks)
{
    const struct tm__trace_row *rows = c->traces.p;
    int64_t current = 0, blocks = 0, heap_live = 0;
    for (size_t i = 0; i < c->traces.n; i++) {
        if (rows[i].domain == TM_DOMAIN_MMAP)
            continue; /* mapped memory is in the rss section, not the heap's figures */
        if (rows[i].domain == 0)
            heap_live += rows[i].size;
        current += rows[i].size;
        blocks += rows[i].count;
    }
    int64_t peak = atomic_load(&tm__peak);
    if (peak < current)
        peak = current;
    /* The peak record is one moment (trace.c), but its tracemem_track rows
     * may hold a block whose bytes were not yet added to 'current' then:
     * its sum may pass the atomic peak by that. */
    if (tm__cfg.peak_inaccuracy > 0 && peak < c->peak_current)
        peak = c->peak_current;

    tm__out_lit(o, "{\"format\":\"tracemem-snapshot\",\"version\":1,\"process\":");
    write_process(o);
    tm__out_lit(o, ",\"snapshot\":{\"seq\":");
    tm__out_u64(o, seq);
    tm__out_lit(o, ",\"time\":");
    write_time(o);
    tm__out_lit(o, ",\"reason\":\"");
    tm__out_lit(o, reason_names[reason]);
    if (reason == TM_REASON_EXIT && tm__fatal_signo) {
        tm__out_lit(o, "\",\"exit_signal\":");
        tm__out_i64(o, tm__fatal_signo);
        tm__out_lit(o, ",\"nframes\":");
    } else {
        tm__out_lit(o, "\",\"nframes\":");
    }
    tm__out_i64(o, atomic_load(&tm__nframes));
    tm__out_lit(o, ",\"sampling_bytes\":");
    tm__out_u64(o, tm__cfg.sample_bytes);
    if (tm__attached_at) { /* attach.c: figures cover what came after */
        tm__out_lit(o, ",\"attached_at\":");
        tm__out_u64(o, tm__attached_at);
    }
    tm__out_lit(o, "},\"memory\":{\"current\":");
    tm__out_i64(o, current);
    tm__out_lit(o, ",\"peak\":");
    tm__out_i64(o, peak);
    tm__out_lit(o, ",\"blocks\":");
    tm__out_i64(o, blocks);
    tm__out_lit(o, ",\"overhead\":");
    tm__out_u64(o, atomic_load(&tm__mapped_bytes));
    tm__out_lit(o, ",\"lost_records\":");
    tm__out_u64(o, atomic_load(&tm__lost));
    tm__out_lit(o, "},\"stack_cache\":{\"hits\":");
    {
        uint64_t sc[5];
        tm__stack_cache_stats(sc);
        tm__out_u64(o, sc[0]);
        tm__out_lit(o, ",\"misses\":");
        tm__out_u64(o, sc[1]);
        tm__out_lit(o, ",\"partial\":");
        tm__out_u64(o, sc[4]);
        tm__out_lit(o, ",\"uncached\":");
        tm__out_u64(o, sc[3]);
        tm__out_lit(o, ",\"verified\":");
        tm__out_lit(o, tm__verify_stacks ? "true" : "false");
        tm__out_lit(o, ",\"mismatches\":");
        tm__out_u64(o, sc[2]);
    }
    tm__out_lit(o, "},\"modules\":");
    write_modules(o);
    write_frames_and_stacks(o, c);
    tm__out_key(o, "traces", 0);
    tm__out_lit(o, "[");
    for (size_t i = 0; i < c->traces.n; i++) {
        if (i)
            tm__out_lit(o, ",");
        write_row(o, c, &rows[i], 1);
    }
    tm__out_lit(o, "]");
    if (tm__cfg.peak_inaccuracy > 0) {
        tm__out_lit(o, ",\"peak\":{\"current\":");
        tm__out_i64(o, c->peak_current);
        tm__out_lit(o, ",\"traces\":[");
        const struct tm__trace_row *prow = c->peak.p;
        for (size_t i = 0; i < c->peak.n; i++) {
            if (i)
                tm__out_lit(o, ",");
            write_row(o, c, &prow[i], 0);
        }
        tm__out_lit(o, "]}");
    }
    write_leaks(o, c, leaks);
    write_python(o);
    tm__rss_write(o, &c->rss, heap_live);
    write_sections(o);
    tm__timeline_write(o, c->index, c->index_size);
    tm__sizes_write(o);
    tm__out_lit(o, ",\"symbolized\":false}\n");
}

/* Creates the temporary file next to 'path'; never follows a symlink. */
static int open_temp(const char *path, char *tmp, size_t cap)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        tm__snprintf(tmp, cap, "%s.tmp-%d-%d", path, (int)getpid(), attempt);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            return fd;
        unlink(tmp); /* a stale one from a process with our pid */
    }
    return -1;
}

static int stream_out(int fd, const char *path, const struct content *c, unsigned seq, enum tm__reason reason,
                      const struct tm__leak_result *leaks)
{
    struct tm__out o;
    int rc = tm__out_open(&o, fd);
    if (rc == 0 && tm__out_is_gz(path) && (rc = tm__out_gzip(&o)) < 0)
        tm__out_close(&o);
    if (rc == 0) {
        write_all(&o, c, seq, reason, leaks);
        rc = tm__out_close(&o);
    }
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* A FIFO or device named as the output (TRACEMEM_OUTPUT=/dev/stdout, a pipe
 * a reader waits on) is a stream: it is written in place, never replaced by
 * a rename. A FIFO without a reader fails at once instead of blocking the
 * program. */
static int write_special(const char *path, const struct content *c, unsigned seq, enum tm__reason reason,
                         const struct tm__leak_result *leaks)
{
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return stream_out(fd, path, c, seq, reason, leaks);
}

static int write_file_unguarded(const char *path, const struct content *c, unsigned seq, enum tm__reason reason,
                                const struct tm__leak_result *leaks)
{
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return S_ISDIR(st.st_mode) ? -EISDIR : write_special(path, c, seq, reason, leaks);
    static char tmp[PATH_MAX + 32]; /* under snap_mutex; small stacks */
    int fd = open_temp(path, tmp, sizeof(tmp));
    if (fd < 0)
        return -errno;
    int rc = stream_out(fd, path, c, seq, reason, leaks);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* A snapshot too big for RLIMIT_FSIZE, or streamed into a FIFO whose
 * reader left, is a failed write, not a killed program (tm__quiet). */
static int write_file(const char *path, const struct content *c, unsigned seq, enum tm__reason reason,
                      const struct tm__leak_result *leaks)
{
    struct tm__quiet q;
    tm__quiet_enter(&q);
    int rc = write_file_unguarded(path, c, seq, reason, leaks);
    tm__quiet_leave(&q);
    return rc;
}

int tm__snapshot_write(const char *path, enum tm__reason reason, const struct tm__leak_result *leaks)
{
    int saved_errno = errno;
    int saved_guard = tm__in_hook;
    tm__in_hook = 1;
    tm__mutex_lock(&snap_mutex);
    unsigned seq = snap_seq++;
    static char target[PATH_MAX]; /* under snap_mutex; small stacks */
    int rc = 0;
    if (!path) {
        int force = tm__cfg.interval > 0 || tm__cfg.signo != 0;
        rc = tm__output_path(target, sizeof(target), tm__cfg.output, seq, force);
        path = target;
    }
    struct content c;
    if (rc == 0) {
        tm__modules_refresh();
        tm__peak_refresh();
        /* mallinfo2() takes malloc's locks: not from a signal handler, a
         * fatal signal or an exit from a handler */
        int malloc_ok = reason != TM_REASON_SIGNAL && !tm__fatal_signo && !tm__lock_rescue && !tm__exit_async;
        rc = gather(&c, leaks, malloc_ok, reason);
        if (rc == 0)
            rc = write_file(path, &c, seq, reason, leaks);
        content_release(&c);
    }
    if (rc < 0 && !atomic_exchange(&reported_failure, 1))
        tm__warn("cannot write snapshot %s: %s", path, tm__strerror(-rc));
    tm__mutex_unlock(&snap_mutex);
    tm__in_hook = saved_guard;
    errno = saved_errno;
    return rc;
}

void tm__snapshot_lock(void)
{
    tm__mutex_lock(&snap_mutex);
}

void tm__snapshot_unlock(void)
{
    tm__mutex_unlock(&snap_mutex);
}

void tm__snapshot_after_fork_child(void)
{
    snap_seq = 0;
    atomic_store(&reported_failure, 0);
}
