/* timeline.c - memory over time, recorded by the program's own threads.
 *
 * No thread of the shim's: the first traced allocation past each deadline
 * takes the sample. Each thread counts its allocations down in its sizes
 * slab (sizes.c) and reads CLOCK_MONOTONIC_COARSE when the count runs out
 * (every allocation for a thread that allocates rarely, down to one in 16
 * for a busy one); in sampled mode it counts bytes instead, in the hooks'
 * sampling countdown (4 to 64 KiB: tm__timeline_budget). When a sample is
 * due it sets tm__deferred, and the hook takes the sample as it leaves,
 * after its locks (control.c's tm__run_deferred). Hooks thus pay nothing
 * more than a decrement between samples.
 * A sample is the heap's current bytes, the process's resident bytes
 * (/proc/self/statm, read with raw system calls into a static buffer), the
 * bytes the program mapped (domain TM_DOMAIN_MMAP) and the live heap
 * blocks. Per-stack figures are read through tm__traces_foreach() (heap
 * rows), compared with the values last written for each stack, and a row
 * is kept only for the stacks that changed.
 *
 * Size is bounded: when the sample array is full, every two samples are
 * merged into the later one and the resolution doubles; rows of a merged
 * pair that name the same stack keep the later values. When the row array
 * is full the samples are merged until it is at most three quarters full;
 * rows that still do not fit are dropped and counted. A walk over many
 * stacks is spread out: after a walk that took w ns the next one waits
 * 256 * w / resolution samples (at most 63), so the walks take at most
 * about 1/256 of the run's time however many stacks the program has.
 *
 * Invariants (under tl_lock): samples[0..nsamples) have strictly increasing
 * t; rows[0..nrows) have non-decreasing 'sample' < nsamples; last[id] holds
 * the values of stack id's newest row (0, 0 if none). All memory is
 * tm__map()ed once and never moved, except 'last', which only the sampler
 * reads. A snapshot copies the whole state (tm__timeline_gather) and writes
 * the copy, so it never holds the lock while it writes. A forked child
 * starts its own timeline. */
#define _GNU_SOURCE
#include "config.h"
#include "shim/shim.h"
#include "shim/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TL_SAMPLES 2048
#define TL_ROWS 32768
#define TL_EVENTS 256
#define TL_DEFAULT_NS 10000000 /* 10 ms */

struct tl_sample {
    int64_t t, heap, rss, mapped, blocks;
};

struct tl_row {
    uint32_t sample, stack;
    int64_t live, alloc;
};

struct tl_event {
    int64_t t;
    char kind[12];
    char label[20];
};

struct tl_last {
    int64_t live, alloc;
    uint32_t mark_sample, mark_pos; /* merge scratch: row of this stack in merged sample mark_sample-1 */
};

struct tl_state {
    struct tl_sample *samples;
    struct tl_row *rows;
    struct tl_event events[TL_EVENTS];
    size_t nsamples, nrows, nevents;
    uint64_t dropped_rows, dropped_events;
    int64_t start_ns, res_ns;
    int64_t peak_seen, peak_t; /* tm__peak at the last sample, and when it last rose */
};

atomic_int tm__deferred; /* shim.h; control.c's, set here when a sample is due */

static tm__lock tl_lock;
static struct tl_state tl;          /* under tl_lock */
static struct tl_last *last;        /* under tl_lock */
static size_t nlast;
static unsigned walk_countdown;     /* samples until the next stack walk */
static size_t futile_until;         /* no merge for rows below this many samples */
static int64_t base_res_ns = TL_DEFAULT_NS; /* 0: off */
static atomic_int_least64_t next_due;
static atomic_int_least64_t cur_res; /* tl.res_ns, for control.c */
static int ready;                   /* arrays mapped */

/* The copy a snapshot writes (under the snapshot mutex). */
static struct tl_state copy;

static int64_t clock_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* --- configuration --- */

int64_t tm__timeline_resolution(void)
{
    return atomic_load_explicit(&cur_res, memory_order_relaxed);
}

static void reset_unlocked(void)
{
    tl.nsamples = tl.nrows = tl.nevents = 0;
    tl.dropped_rows = tl.dropped_events = 0;
    tl.start_ns = clock_ns(CLOCK_MONOTONIC);
    tl.res_ns = base_res_ns;
    tl.peak_seen = tl.peak_t = 0;
    if (last)
        memset(last, 0, nlast * sizeof(*last));
    walk_countdown = 0;
    futile_until = 0;
    atomic_store(&cur_res, base_res_ns);
    atomic_store(&next_due, clock_ns(CLOCK_MONOTONIC_COARSE) + base_res_ns);
}

/* TRACEMEM_TIMELINE: seconds between samples at the start (decimals), 0 off. */
void tm__timeline_init(void)
{
    const char *v = getenv("TRACEMEM_TIMELINE");
    if (v) {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || !(d == 0 || (d >= 0.001 && d <= 3600)))
            tm__warn("TRACEMEM_TIMELINE=%s is not 0 or a number of seconds from 0.001 to 3600; using 0.01", v);
        else
            base_res_ns = (int64_t)(d * 1e9 + 0.5);
    }
    if (base_res_ns <= 0) {
        base_res_ns = 0;
        return;
    }
    tl.samples = tm__map(TL_SAMPLES * sizeof(*tl.samples));
    tl.rows = tm__map(TL_ROWS * sizeof(*tl.rows));
    if (!tl.samples || !tl.rows) {
        base_res_ns = 0;
        atomic_fetch_add(&tm__lost, 1);
        return;
    }
    reset_unlocked();
    ready = 1;
}

int tm__timeline_enabled(void)
{
    return ready;
}

/* --- coarsening --- */

static int grow_last(uint32_t limit)
{
    if (limit <= nlast)
        return 0;
    size_t n = nlast ? nlast : 1024;
    while (n < limit)
        n *= 2;
    struct tl_last *fresh = last ? tm__remap(last, nlast * sizeof(*last), n * sizeof(*last))
                                 : tm__map(n * sizeof(*last));
    if (!fresh)
        return -1;
    last = fresh;
    nlast = n;
    return 0;
}

/* Merges samples 2i and 2i+1 into i (keeping the later one) and their rows. */
static void merge_pairs_unlocked(void)
{
    size_t n = tl.nsamples;
    for (size_t i = 0; 2 * i < n; i++)
        tl.samples[i] = tl.samples[2 * i + 1 < n ? 2 * i + 1 : 2 * i];
    tl.nsamples = (n + 1) / 2;
    size_t w = 0;
    for (size_t r = 0; r < tl.nrows; r++) {
        struct tl_row row = tl.rows[r];
        row.sample /= 2;
        struct tl_last *m = row.stack < nlast ? &last[row.stack] : NULL;
        if (m && m->mark_sample == row.sample + 1 && m->mark_pos < w) {
            tl.rows[m->mark_pos] = row; /* the later values of the pair win */
            continue;
        }
        if (m) {
            m->mark_sample = row.sample + 1;
            m->mark_pos = (uint32_t)w;
        }
        tl.rows[w++] = row;
    }
    tl.nrows = w;
    for (size_t i = 0; i < nlast; i++)
        last[i].mark_sample = 0;
    /* the spacing doubles, but never past the time the samples span (a
     * run whose walks fill the rows merges at every snapshot: doubling
     * each time took the resolution past INT64_MAX, to 0, in 57) */
    int64_t span = tl.nsamples ? tl.samples[tl.nsamples - 1].t : 0;
    int64_t res = tl.res_ns <= INT64_MAX / 2 ? 2 * tl.res_ns : INT64_MAX;
    int64_t cap = span > base_res_ns ? span : base_res_ns;
    tl.res_ns = res < cap ? res : (tl.res_ns > cap ? tl.res_ns : cap);
    atomic_store(&cur_res, tl.res_ns);
}

/* --- sampling --- */

static int64_t read_rss(void)
{
    static char buf[128]; /* under tl_lock */
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    long n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = buf;
    while (*p && *p != ' ')
        p++; /* size */
    while (*p == ' ')
        p++;
    int64_t pages = 0;
    while (*p >= '0' && *p <= '9')
        pages = pages * 10 + (*p++ - '0');
    static long page;
    if (!page)
        page = sysconf(_SC_PAGESIZE);
    return pages * page;
}

static void add_range(uintptr_t lo, uintptr_t hi, void *arg)
{
    *(int64_t *)arg += (int64_t)(hi - lo);
}

static void stack_row(const struct tm__trace_row *r, void *arg)
{
    uint32_t sample = *(uint32_t *)arg;
    if (r->domain != 0 || r->stack >= nlast)
        return;
    struct tl_last *l = &last[r->stack];
    if (l->live == r->size && l->alloc == r->alloc_size)
        return;
    if (tl.nrows == TL_ROWS) {
        tl.dropped_rows++;
        return; /* 'last' unchanged: retried at the next walk */
    }
    tl.rows[tl.nrows++] = (struct tl_row){sample, r->stack, r->size, r->alloc_size};
    l->live = r->size;
    l->alloc = r->alloc_size;
}

static int walk_due(void)
{
    if (walk_countdown) {
        walk_countdown--;
        return 0;
    }
    return 1;
}

/* After a walk that took 'ns': the next one waits enough samples that the
 * walks take at most 1/256 of the time (and at least one per 64 samples). */
static void walk_took(int64_t ns)
{
    int64_t every = tl.res_ns > 0 ? ns * 256 / tl.res_ns : 0;
    walk_countdown = (unsigned)(every > 63 ? 63 : every);
}

/* One sample at 'now' (CLOCK_MONOTONIC ns); 'walk': read the stacks too. */
static void sample_unlocked(int64_t now, int walk)
{
    int64_t t = now - tl.start_ns;
    if (tl.nsamples && t <= tl.samples[tl.nsamples - 1].t)
        t = tl.samples[tl.nsamples - 1].t + 1;
    if (tl.nsamples == TL_SAMPLES)
        merge_pairs_unlocked();
    /* rows nearly full: coarser time, as long as that frees rows. When a
     * merge freed less than a tenth (one walk's rows fill the array), none
     * is tried again until the samples have doubled since: a snapshot
     * every few samples would otherwise coarsen the whole timeline each
     * time for nothing. */
    while (walk && tl.nrows > TL_ROWS - TL_ROWS / 4 && tl.nsamples > 2 && tl.nsamples >= futile_until) {
        size_t before = tl.nrows;
        merge_pairs_unlocked();
        if (tl.nrows > before - before / 10) {
            futile_until = 2 * tl.nsamples + 2 < TL_SAMPLES - 1 ? 2 * tl.nsamples + 2 : TL_SAMPLES - 1;
            break;
        }
    }
    struct tl_sample *s = &tl.samples[tl.nsamples];
    s->t = t;
    s->heap = tm__figures_current();
    s->rss = read_rss();
    s->mapped = 0;
    tm__domain_lock();
    tm__maps_foreach_unlocked(add_range, &s->mapped);
    tm__domain_unlock();
    s->blocks = (int64_t)tm__live_count();
    uint32_t index = (uint32_t)tl.nsamples++;
    int64_t peak = atomic_load(&tm__peak);
    if (peak > tl.peak_seen) {
        tl.peak_seen = peak;
        tl.peak_t = t;
    }
    if (walk && grow_last(tm__stack_limit()) == 0) {
        int64_t t0 = clock_ns(CLOCK_MONOTONIC);
        tm__traces_foreach(stack_row, &index);
        walk_took(clock_ns(CLOCK_MONOTONIC) - t0);
    }
}

/* The countdown ran out: the same doubling skip as TRACEMEM_INTERVAL's
 * (control.c), against 1/64 of the resolution. Sets tm__deferred when a
 * sample is due; the hook takes it as it leaves (tm__run_deferred). */
void tm__timeline_tick(struct tm__tick *t)
{
    if (!ready) {
        if (t && base_res_ns == 0)
            t->skip = UINT32_MAX; /* off: come back in 4 billion allocations */
        return;
    }
    int64_t now = clock_ns(CLOCK_MONOTONIC_COARSE);
    if (t) {
        int64_t res = atomic_load_explicit(&cur_res, memory_order_relaxed);
        t->level = now - t->last < res / 64 ? (t->level < 15 ? 2 * t->level + 1 : 15) : 0;
        t->skip = t->level;
        t->last = now;
    }
    if (now >= atomic_load_explicit(&next_due, memory_order_relaxed) &&
        !atomic_load_explicit(&tm__deferred, memory_order_relaxed))
        atomic_store_explicit(&tm__deferred, 1, memory_order_relaxed);
}

int64_t tm__timeline_budget(const struct tm__tick *t)
{
    if (!ready)
        return base_res_ns == 0 ? INT64_MAX : 4096;
    /* level 0, 1, 3, 7, 15: 4, 8, 16, 32, 64 KiB */
    return (int64_t)4096 << __builtin_popcount(t->level);
}

int tm__timeline_due(int64_t coarse_now)
{
    return ready && coarse_now >= atomic_load_explicit(&next_due, memory_order_relaxed);
}

/* From tm__run_deferred, with tm__in_hook set and no lock held. */
void tm__timeline_sample(int64_t coarse_now)
{
    if (!ready || !tm__lock_try(&tl_lock))
        return; /* another thread is taking it */
    int64_t due = atomic_load(&next_due);
    if (coarse_now >= due) {
        sample_unlocked(clock_ns(CLOCK_MONOTONIC), walk_due());
        atomic_store(&next_due, coarse_now + tl.res_ns);
    }
    tm__lock_release(&tl_lock);
}

static void add_event_unlocked(int64_t t, const char *kind, const char *label)
{
    if (tl.nevents == TL_EVENTS) {
        tl.dropped_events++;
        return;
    }
    struct tl_event *e = &tl.events[tl.nevents++];
    e->t = t;
    tm__snprintf(e->kind, sizeof(e->kind), "%s", kind);
    tm__snprintf(e->label, sizeof(e->label), "%s", label);
}

/* --- snapshots --- */

/* Takes a sample now, notes the snapshot, and copies the timeline for the
 * writer; calls 'want' with every stack id its rows name. Under the
 * snapshot mutex. Returns 1 when there is a timeline to write. */
int tm__timeline_gather(int reason, void (*want)(uint32_t id, void *arg), void *arg)
{
    static const char *const names[] = {"exit", "api", "signal", "interval", "leak-check"};
    if (!ready)
        return 0;
    if (!copy.samples && !(copy.samples = tm__map(TL_SAMPLES * sizeof(*copy.samples))))
        return 0;
    tm__lock_acquire(&tl_lock);
    walk_countdown = 0;
    sample_unlocked(clock_ns(CLOCK_MONOTONIC), 1);
    add_event_unlocked(tl.samples[tl.nsamples - 1].t, "snapshot",
                       reason >= 0 && reason < 5 ? names[reason] : "");
    /* rows: the copy grows with the timeline (only the writer reads it) */
    static size_t copy_cap;
    size_t need = tl.nrows ? tl.nrows : 1;
    if (need > copy_cap) {
        size_t cap = copy_cap ? copy_cap : 1024;
        while (cap < need)
            cap *= 2;
        struct tl_row *fresh = copy.rows ? tm__remap(copy.rows, copy_cap * sizeof(*copy.rows), cap * sizeof(*copy.rows))
                                         : tm__map(cap * sizeof(*copy.rows));
        if (fresh) {
            copy.rows = fresh;
            copy_cap = cap;
        }
    }
    struct tl_sample *ss = copy.samples;
    struct tl_row *rr = copy.rows;
    copy = tl;
    copy.samples = ss;
    copy.rows = rr;
    if (copy.nrows > copy_cap) {
        copy.dropped_rows += copy.nrows - copy_cap;
        copy.nrows = copy_cap;
    }
    memcpy(copy.samples, tl.samples, tl.nsamples * sizeof(*tl.samples));
    if (copy.nrows)
        memcpy(copy.rows, tl.rows, copy.nrows * sizeof(*tl.rows));
    tm__lock_release(&tl_lock);
    for (size_t i = 0; i < copy.nrows; i++)
        want(copy.rows[i].stack, arg);
    return 1;
}

/* Writes ,"timeline":{...} from the copy; 'index' maps a stack id to 1 +
 * its position in the snapshot's stacks (0: not written). */
void tm__timeline_write(struct tm__out *o, const uint32_t *index, size_t index_size)
{
    if (!ready || !copy.samples || !copy.nsamples)
        return;
    tm__out_key(o, "timeline", 0);
    tm__out_lit(o, "{\"resolution_ns\":");
    tm__out_i64(o, copy.res_ns);
    tm__out_lit(o, ",\"start_ns\":");
    tm__out_i64(o, copy.start_ns);
    tm__out_lit(o, ",\"samples\":[");
    for (size_t i = 0; i < copy.nsamples; i++) {
        const struct tl_sample *s = &copy.samples[i];
        tm__out_lit(o, i ? ",[" : "[");
        tm__out_i64(o, s->t);
        tm__out_lit(o, ",");
        tm__out_i64(o, s->heap);
        tm__out_lit(o, ",");
        tm__out_i64(o, s->rss);
        tm__out_lit(o, ",");
        tm__out_i64(o, s->mapped);
        tm__out_lit(o, ",");
        tm__out_i64(o, s->blocks);
        tm__out_lit(o, "]");
    }
    tm__out_lit(o, "],\"stacks\":[");
    int first = 1;
    for (size_t i = 0; i < copy.nrows; i++) {
        const struct tl_row *r = &copy.rows[i];
        if (r->stack >= index_size || !index[r->stack])
            continue;
        tm__out_lit(o, first ? "[" : ",[");
        first = 0;
        tm__out_u64(o, r->sample);
        tm__out_lit(o, ",");
        tm__out_u64(o, index[r->stack] - 1);
        tm__out_lit(o, ",");
        tm__out_i64(o, r->live);
        tm__out_lit(o, ",");
        tm__out_i64(o, r->alloc);
        tm__out_lit(o, "]");
    }
    tm__out_lit(o, "],\"events\":[");
    first = 1;
    int peak_due = copy.peak_seen > 0;
    for (size_t i = 0; i <= copy.nevents; i++) {
        if (peak_due && (i == copy.nevents || copy.events[i].t > copy.peak_t)) {
            char label[32];
            tm__snprintf(label, sizeof(label), "%llu", (unsigned long long)copy.peak_seen);
            tm__out_lit(o, first ? "[" : ",[");
            first = 0;
            tm__out_i64(o, copy.peak_t);
            tm__out_lit(o, ",\"peak\",");
            tm__out_str(o, label);
            tm__out_lit(o, "]");
            peak_due = 0;
        }
        if (i == copy.nevents)
            break;
        tm__out_lit(o, first ? "[" : ",[");
        first = 0;
        tm__out_i64(o, copy.events[i].t);
        tm__out_lit(o, ",");
        tm__out_str(o, copy.events[i].kind);
        tm__out_lit(o, ",");
        tm__out_str(o, copy.events[i].label);
        tm__out_lit(o, "]");
    }
    tm__out_lit(o, "],\"dropped_rows\":");
    tm__out_u64(o, copy.dropped_rows);
    tm__out_lit(o, "}");
}

/* tracemem_stop() and tracemem_clear_traces(): the rows name stacks whose
 * figures were just cleared; a new timeline starts. */
void tm__timeline_clear(void)
{
    if (!ready)
        return;
    tm__lock_acquire(&tl_lock);
    reset_unlocked();
    tm__lock_release(&tl_lock);
}

/* In a forked child (fork handler, other threads gone): a timeline of its own. */
void tm__timeline_after_fork_child(void)
{
    atomic_store(&tl_lock.held, 0);
    if (ready)
        reset_unlocked();
}
