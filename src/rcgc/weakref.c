/* weakref.c - weak references, and their handling by the collector.
 *
 * A weak reference is an rcgc object of the internal type "weakref". The
 * weak references to an object form a doubly linked list whose head is
 * found in a hash table keyed by the object's address; the object carries
 * PREV_WEAKREFS while the list is not empty, so the table is consulted only
 * for objects that have weak references.
 *
 * Invariant: wr->obj != NULL exactly when 'wr' is linked in obj's list.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "rcgc/internal.h"

struct rcgc_weakref {
    void *obj;
    rcgc_weakref_fn callback;
    void *arg;
    rcgc_weakref *prev, *next;  /* in the referent's list */
    rcgc_weakref *pending;      /* callbacks waiting to run */
};

typedef struct wslot {
    const void *key;
    rcgc_weakref *head;
} wslot;

static wslot *table;
static size_t table_cap, table_n;

static size_t slot_of(const void *key, size_t cap)
{
    uintptr_t x = (uintptr_t)key;
    x ^= x >> 21;
    x *= UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(x >> 11) & (cap - 1);
}

static wslot *lookup(const void *key)
{
    if (!table_cap)
        return NULL;
    for (size_t j = slot_of(key, table_cap);; j = (j + 1) & (table_cap - 1)) {
        if (table[j].key == key)
            return &table[j];
        if (!table[j].key)
            return NULL;
    }
}

static int grow(void)
{
    size_t cap = table_cap ? table_cap * 2 : 64;
    wslot *t = calloc(cap, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < table_cap; i++) {
        if (!table[i].key)
            continue;
        size_t j = slot_of(table[i].key, cap);
        while (t[j].key)
            j = (j + 1) & (cap - 1);
        t[j] = table[i];
    }
    free(table);
    table = t;
    table_cap = cap;
    return 0;
}

static wslot *insert(const void *key)
{
    if ((table_n + 1) * 2 > table_cap && grow() < 0)
        return NULL;
    size_t j = slot_of(key, table_cap);
    while (table[j].key)
        j = (j + 1) & (table_cap - 1);
    table[j].key = key;
    table[j].head = NULL;
    table_n++;
    return &table[j];
}

/* Linear-probing deletion by backward shift: no tombstones. */
static void erase(wslot *s)
{
    size_t i = (size_t)(s - table);
    for (size_t j = (i + 1) & (table_cap - 1); table[j].key; j = (j + 1) & (table_cap - 1)) {
        size_t home = slot_of(table[j].key, table_cap);
        /* move j back to i when i lies cyclically in [home, j) */
        if (((j - home) & (table_cap - 1)) >= ((j - i) & (table_cap - 1))) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i].key = NULL;
    table[i].head = NULL;
    table_n--;
}

/* Removes 'wr' from its referent's list and clears it. */
static void unlink_ref(rcgc_weakref *wr)
{
    if (!wr->obj)
        return;
    if (wr->prev) {
        wr->prev->next = wr->next;
    } else {
        wslot *s = lookup(wr->obj);
        s->head = wr->next;
        if (!s->head) {
            erase(s);
            AS_HEAD(wr->obj)->prev &= ~PREV_WEAKREFS;
        }
    }
    if (wr->next)
        wr->next->prev = wr->prev;
    wr->obj = NULL;
    wr->prev = wr->next = NULL;
}

static int wr_traverse(void *self, rcgc_visit_fn visit, void *arg)
{
    (void)self, (void)visit, (void)arg;
    return 0;
}

static void wr_destroy(void *self)
{
    unlink_ref(self);
}

const rcgc_type tm__gc_weakref_type = {
    .name = "weakref",
    .traverse = wr_traverse,
    .destroy = wr_destroy,
};

int tm__gc_is_weakref(const gchead *h)
{
    return gc_rec(h)->type == &tm__gc_weakref_type;
}

rcgc_weakref *rcgc_weakref_new(void *obj, rcgc_weakref_fn callback, void *arg)
{
    if (!obj) {
        errno = EINVAL;
        return NULL;
    }
    rcgc_weakref *wr = rcgc_new(&tm__gc_weakref_type, sizeof *wr);
    if (!wr)
        return NULL;
    wslot *s = lookup(obj);
    if (!s && !(s = insert(obj))) {
        rcgc_decref(wr);
        errno = ENOMEM;
        return NULL;
    }
    wr->obj = obj;
    wr->callback = callback;
    wr->arg = arg;
    wr->next = s->head;
    if (wr->next)
        wr->next->prev = wr;
    s->head = wr;
    AS_HEAD(obj)->prev |= PREV_WEAKREFS;
    return wr;
}

void *rcgc_weakref_get(rcgc_weakref *ref)
{
    void *obj = ref->obj;
    if (!obj || AS_HEAD(obj)->refcnt == 0)
        return NULL;
    rcgc_incref(obj);
    return obj;
}

size_t rcgc_weakref_count(const void *obj)
{
    size_t n = 0;
    if (!(AS_HEAD(obj)->prev & PREV_WEAKREFS))
        return 0;
    wslot *s = lookup(obj);
    for (rcgc_weakref *wr = s ? s->head : NULL; wr; wr = wr->next)
        n++;
    return n;
}

/* Clears every weak reference to the object 'h' and queues (with a
 * reference) those whose callback must run; returns the queue. Weak
 * references that are themselves garbage ('skip_collecting') get no call. */
static rcgc_weakref *clear_all(gchead *h, int skip_collecting, rcgc_weakref *queue)
{
    wslot *s = lookup(AS_OBJ(h));
    rcgc_weakref *wr = s ? s->head : NULL;
    if (s)
        erase(s);
    h->prev &= ~PREV_WEAKREFS;
    while (wr) {
        rcgc_weakref *next = wr->next;
        wr->obj = NULL;
        wr->prev = wr->next = NULL;
        int garbage = skip_collecting && (AS_HEAD(wr)->prev & PREV_COLLECTING);
        if (wr->callback && !garbage) {
            rcgc_incref(wr);
            wr->pending = queue;
            queue = wr;
        }
        wr = next;
    }
    return queue;
}

/* Runs the queued callbacks; returns how many weak references they freed. */
static size_t run_callbacks(rcgc_weakref *queue)
{
    size_t freed = 0;
    while (queue) {
        rcgc_weakref *wr = queue;
        queue = wr->pending;
        wr->pending = NULL;
        wr->callback(wr, wr->arg);
        if (AS_HEAD(wr)->refcnt == 1)
            freed++;
        rcgc_decref(wr);
    }
    return freed;
}

/* Refcount death: callbacks see the reference already cleared. */
void tm__gc_clear_weakrefs_dead(gchead *h)
{
    run_callbacks(clear_all(h, 0, NULL));
}

/* The collector's pass over 'unreachable': weak references that are
 * garbage themselves are cleared first (their callbacks must never run, as
 * they could see cleared objects); then every weak reference to garbage is
 * cleared, and the callbacks of those that are not garbage run. Returns the
 * number of weak references freed by running callbacks. */
size_t tm__gc_handle_weakrefs(gchead *unreachable)
{
    rcgc_weakref *queue = NULL;
    for (gchead *h = gc_next(unreachable); h != unreachable; h = gc_next(h))
        if (tm__gc_is_weakref(h))
            unlink_ref(AS_OBJ(h));
    for (gchead *h = gc_next(unreachable); h != unreachable; h = gc_next(h))
        if (h->prev & PREV_WEAKREFS)
            queue = clear_all(h, 1, queue);
    return run_callbacks(queue);
}
