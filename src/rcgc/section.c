/* section.c - the "gc" section of tracemem snapshots (SPEC section 8).
 *
 * The shim may call tm__gc_section on any of the program's threads while
 * the others run, even from a signal handler that interrupted this very
 * library (TRACEMEM_SIGNAL), so it reads only published values: relaxed
 * atomic loads of the
 * counters, the type registry list (append-only, acquire), and the totals
 * and the event ring through the seqlock. It writes into the given buffer
 * like snprintf and never allocates.
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "tracemem.h"
#include "rcgc/internal.h"

typedef struct out {
    char *buf;
    size_t cap, len;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->buf + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void put_char(out *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len] = c;
    o->len++;
    if (o->len < o->cap)
        o->buf[o->len] = '\0';
}

static void put_string(out *o, const char *s)
{
    put_char(o, '"');
    for (const unsigned char *p = (const unsigned char *)(s ? s : "?"); *p; p++) {
        if (*p == '"' || *p == '\\')
            put(o, "\\%c", *p);
        else if (*p < 0x20)
            put(o, "\\u%04x", *p);
        else
            put_char(o, (char)*p);
    }
    put_char(o, '"');
}

typedef struct totals {
    uint64_t collections[NUM_GENERATIONS], collected[NUM_GENERATIONS],
        uncollectable[NUM_GENERATIONS], ns[NUM_GENERATIONS];
    gc_event events[EVENT_RING];
    uint64_t nevents;
    pause_hist pauses[NUM_GENERATIONS];
} totals;

/* Seqlock read side; gives up consistency after many retries rather than
 * spin forever against a writer that stopped mid-update: a signal handler
 * on the writer's own thread waits for a writer that cannot go on. */
static void read_totals(totals *t)
{
    for (int tries = 0; tries < 1000; tries++) {
        unsigned s1 = __atomic_load_n(&tm__gc.seq, __ATOMIC_ACQUIRE);
        if (s1 & 1)
            continue;
        for (int i = 0; i < NUM_GENERATIONS; i++) {
            t->collections[i] = PUB_GET(tm__gc.collections[i]);
            t->collected[i] = PUB_GET(tm__gc.collected[i]);
            t->uncollectable[i] = PUB_GET(tm__gc.uncollectable[i]);
            t->ns[i] = PUB_GET(tm__gc.ns[i]);
        }
        for (int i = 0; i < EVENT_RING; i++) {
            gc_event *e = &tm__gc.events[i];
            t->events[i].generation = PUB_GET(e->generation);
            t->events[i].collected = PUB_GET(e->collected);
            t->events[i].uncollectable = PUB_GET(e->uncollectable);
            t->events[i].ns = PUB_GET(e->ns);
            __atomic_load(&e->time, &t->events[i].time, __ATOMIC_RELAXED);
        }
        t->nevents = PUB_GET(tm__gc.nevents);
        for (int i = 0; i < NUM_GENERATIONS; i++) {
            const pause_hist *p = &tm__gc.pauses[i];
            pause_hist *q = &t->pauses[i];
            q->count = PUB_GET(p->count);
            q->total_ns = PUB_GET(p->total_ns);
            q->max_ns = PUB_GET(p->max_ns);
            for (unsigned b = 0; b < PAUSE_BUCKETS; b++)
                q->bucket[b] = PUB_GET(p->bucket[b]);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&tm__gc.seq, __ATOMIC_RELAXED) == s1)
            return;
    }
}

static void put_types(out *o)
{
    int first = 1;
    put(o, "\"types\":[");
    for (typerec *r = __atomic_load_n(&tm__gc.types, __ATOMIC_ACQUIRE); r; r = r->next) {
        size_t count = PUB_GET(r->count), bytes = PUB_GET(r->bytes);
        if (!count)
            continue;
        put(o, "%s{\"name\":", first ? "" : ",");
        put_string(o, r->t.name);
        put(o, ",\"count\":%zu,\"bytes\":%zu}", count, bytes);
        first = 0;
    }
    put(o, "]");
}

static void put_events(out *o, const totals *t)
{
    uint64_t n = t->nevents, first = n > EVENT_RING ? n - EVENT_RING : 0;
    put(o, "\"events\":[");
    for (uint64_t i = first; i < n; i++) {
        const gc_event *e = &t->events[i % EVENT_RING];
        put(o, "%s{\"generation\":%d,\"collected\":%ld,\"uncollectable\":%ld,"
               "\"seconds\":%.9f,\"time\":%.6f}",
            i == first ? "" : ",", e->generation, e->collected, e->uncollectable,
            e->ns / 1e9, e->time);
    }
    put(o, "]");
}

/* Per generation: the pause figures and the histogram's non-empty
 * buckets, each with its upper bound 'le' (exclusive) in seconds. */
static void put_pauses(out *o, const totals *t)
{
    put(o, "\"pauses\":[");
    for (int i = 0; i < NUM_GENERATIONS; i++) {
        const pause_hist *p = &t->pauses[i];
        put(o, "%s{\"count\":%llu,\"seconds\":%.9f,\"p50\":%.9f,\"p90\":%.9f,\"p99\":%.9f,"
               "\"max\":%.9f,\"histogram\":[",
            i ? "," : "", (unsigned long long)p->count, p->total_ns / 1e9,
            tm__gc_pause_percentile(p, 0.50), tm__gc_pause_percentile(p, 0.90),
            tm__gc_pause_percentile(p, 0.99), p->max_ns / 1e9);
        int first = 1;
        for (unsigned b = 0; b < PAUSE_BUCKETS; b++) {
            if (!p->bucket[b])
                continue;
            put(o, "%s{\"le\":%.9f,\"count\":%llu}", first ? "" : ",",
                tm__gc_pause_bound(b) / 1e9, (unsigned long long)p->bucket[b]);
            first = 0;
        }
        put(o, "]}");
    }
    put(o, "]");
}

size_t tm__gc_section(char *buf, size_t cap, void *arg)
{
    (void)arg;
    out o = {buf, cap, 0};
    totals t;
    memset(&t, 0, sizeof t);
    read_totals(&t);
    if (cap)
        buf[0] = '\0';
    put(&o, "{\"enabled\":%s,\"thresholds\":[%ld,%ld,%ld],\"counts\":[%ld,%ld,%ld],",
        PUB_GET(tm__gc.enabled) ? "true" : "false", PUB_GET(tm__gc.gens[0].threshold),
        PUB_GET(tm__gc.gens[1].threshold), PUB_GET(tm__gc.gens[2].threshold),
        PUB_GET(tm__gc.gens[0].count), PUB_GET(tm__gc.gens[1].count),
        PUB_GET(tm__gc.gens[2].count));
    put(&o, "\"generations\":[");
    for (int i = 0; i < NUM_GENERATIONS; i++)
        put(&o, "%s{\"collections\":%llu,\"collected\":%llu,\"uncollectable\":%llu,"
                "\"seconds\":%.9f}",
            i ? "," : "", (unsigned long long)t.collections[i],
            (unsigned long long)t.collected[i], (unsigned long long)t.uncollectable[i],
            t.ns[i] / 1e9);
    put(&o, "],\"garbage\":%zu,\"frozen\":%zu,", PUB_GET(tm__gc.ngarbage),
        PUB_GET(tm__gc.frozen));
    put(&o, "\"incremental\":%s,\"old_scans\":%llu,",
        PUB_GET(tm__gc.incremental) ? "true" : "false",
        (unsigned long long)PUB_GET(tm__gc.old_scans));
    put_pauses(&o, &t);
    put_char(&o, ',');
    put_types(&o);
    put_char(&o, ',');
    put_events(&o, &t);
    put_char(&o, '}');
    return o.len;
}

void tm__gc_register_section(void)
{
    tracemem_add_section("gc", tm__gc_section, NULL);
}
