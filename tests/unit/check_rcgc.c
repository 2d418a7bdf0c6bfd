/* check_rcgc.c - Check suite "rcgc": CPython's Lib/test/test_gc.py,
 * test_finalization.py and the weakref/gc cases ported to librcgc.
 *
 * Each test is named after the CPython test it ports and asserts CPython's
 * numbers, adjusted where CPython counts an instance __dict__ as a second
 * object (librcgc objects have no dict: "2*N" there is "N" here).
 * The fixture leaves no tracked object behind, so a leak shows up as a
 * failing test and under valgrind (tests/integration/rcgc_valgrind.sh).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rcgc.h"
#include "rcgc/internal.h"
#include "rcgc/passes.h"

/* the copy of the collector's passes that librcgc_nonshared.a linked into
 * this program (registered before main) */
extern const gcpasses rcgc__nonshared_passes;

/* --- test object types --- */

#define NREFS 4
typedef struct node {
    void *ref[NREFS];
    int id;
} node;

static int node_traverse(void *self, rcgc_visit_fn visit, void *arg)
{
    node *n = self;
    for (int i = 0; i < NREFS; i++) {
        if (n->ref[i]) {
            int r = visit(n->ref[i], arg);
            if (r)
                return r;
        }
    }
    return 0;
}

static void node_clear(void *self)
{
    node *n = self;
    for (int i = 0; i < NREFS; i++) {
        void *p = n->ref[i];
        n->ref[i] = NULL;
        rcgc_decref(p);
    }
}

static long destroyed;
static void count_destroy(void *self)
{
    (void)self;
    destroyed++;
}

static const rcgc_type list_type = {"list", node_traverse, node_clear, NULL, NULL, count_destroy};
static const rcgc_type tuple_type = {"tuple", node_traverse, node_clear, NULL, NULL, count_destroy};
static const rcgc_type int_type = {"int", NULL, NULL, NULL, NULL, count_destroy};

/* finalizers */
static long finalized;
static void count_finalize(void *self)
{
    (void)self;
    finalized++;
}
static const rcgc_type fin_type = {"SelfCycle", node_traverse, node_clear, count_finalize, NULL,
                                   count_destroy};
static const rcgc_type fin_nongc_type = {"NonGC", NULL, NULL, count_finalize, NULL, count_destroy};

/* a finalizer that resurrects its object into 'storage' */
static void *storage[16];
static int nstorage;
static void resurrect(void *self)
{
    finalized++;
    rcgc_incref(self);
    storage[nstorage++] = self;
}
static const rcgc_type lazarus_type = {"Lazarus", node_traverse, node_clear, resurrect, NULL,
                                       count_destroy};

/* old-style __del__ */
static long legacy_calls;
static void legacy_del(void *self)
{
    (void)self;
    legacy_calls++;
}
static const rcgc_type legacy_type = {"A", node_traverse, node_clear, NULL, legacy_del,
                                      count_destroy};

static node *new_node(const rcgc_type *t)
{
    node *n = rcgc_new(t, sizeof(node));
    ck_assert_ptr_nonnull(n);
    return n;
}

/* n->ref[i] = v, with a new reference */
static void set_ref(node *n, int i, void *v)
{
    rcgc_incref(v);
    void *old = n->ref[i];
    n->ref[i] = v;
    rcgc_decref(old);
}

static node *self_cycle(const rcgc_type *t)
{
    node *n = new_node(t);
    set_ref(n, 0, n);
    return n;
}

/* An unreachable 2-cycle a <-> b (a of type 'ta', b of 'tb'); '*pa' and
 * '*pb', when not NULL, get the objects (no reference). */
static void garbage_pair(const rcgc_type *ta, const rcgc_type *tb, node **pa, node **pb)
{
    node *a = new_node(ta), *b = new_node(tb);
    set_ref(a, 0, b);
    set_ref(b, 0, a);
    rcgc_decref(a);
    rcgc_decref(b);
    if (pa)
        *pa = a;
    if (pb)
        *pb = b;
}

static void count_obj(void *obj, void *arg)
{
    (void)obj;
    (*(long *)arg)++;
}

static long tracked_objects(void)
{
    long n = 0;
    rcgc_get_objects(-1, count_obj, &n);
    return n;
}

/* the mode every test starts in: main() runs the suite in both */
static int incremental_mode = 1;

static void setup(void)
{
    rcgc_set_incremental(incremental_mode);
    tm__gc.inc_limit = RCGC_INCREMENT_LIMIT;
    rcgc_disable();
    rcgc_set_threshold(700, 10, 10);
    rcgc_set_debug(0);
    rcgc_garbage_clear();
    rcgc_collect(2);
    destroyed = finalized = legacy_calls = 0;
    nstorage = 0;
}

static void teardown(void)
{
    rcgc_set_debug(0);
    rcgc_garbage_clear();
    rcgc_unfreeze();
    rcgc_collect(2);
    rcgc_garbage_clear();
    rcgc_collect(2);
    ck_assert_int_eq(tracked_objects(), 0);
    ck_assert_uint_eq(rcgc_garbage_count(), 0);
}

/* Runs fn with stderr redirected; returns what it printed (static). */
static const char *capture_stderr(void (*fn)(void *), void *arg)
{
    static char text[8192];
    fflush(stderr);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(text, 1, sizeof text - 1, tmp);
    text[n] = '\0';
    fclose(tmp);
    return text;
}

/* --- basic cycles (GCTests) --- */

START_TEST(test_gc_list)
{
    node *l = self_cycle(&list_type);
    ck_assert_int_eq(rcgc_collect(2), 0);
    rcgc_decref(l);
    ck_assert_int_eq(rcgc_collect(2), 1);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

START_TEST(test_gc_tuple)
{
    /* tuple t = (l,), l.append(t): a 2-cycle through a tuple */
    node *l = new_node(&list_type);
    node *t = new_node(&tuple_type);
    set_ref(t, 0, l);
    set_ref(l, 0, t);
    rcgc_decref(t);
    rcgc_collect(2);
    rcgc_decref(l);
    ck_assert_int_eq(rcgc_collect(2), 2);
}
END_TEST

START_TEST(test_gc_newinstance)
{
    /* a = A(); a.a = a, plus a longer cycle b -> c -> d -> b */
    node *a = self_cycle(&list_type);
    node *b = new_node(&list_type), *c = new_node(&list_type), *d = new_node(&list_type);
    set_ref(b, 0, c);
    set_ref(c, 0, d);
    set_ref(d, 0, b);
    rcgc_decref(c);
    rcgc_decref(d);
    ck_assert_int_eq(rcgc_collect(2), 0);
    rcgc_decref(a);
    rcgc_decref(b);
    ck_assert_int_eq(rcgc_collect(2), 4);
}
END_TEST

START_TEST(test_gc_legacy_finalizer)
{
    rcgc_gen_stats old[3], now[3];
    node *a = self_cycle(&legacy_type);
    node *b = self_cycle(&list_type);
    rcgc_collect(2);
    rcgc_get_stats(old);
    rcgc_decref(a);
    rcgc_decref(b);
    ck_assert_int_eq(rcgc_collect(2), 2); /* a uncollectable, b collected */
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[2].collected - old[2].collected, 1);
    ck_assert_uint_eq(now[2].uncollectable - old[2].uncollectable, 1);
    ck_assert_uint_eq(rcgc_garbage_count(), 1);
    ck_assert_ptr_eq(rcgc_garbage_get(0), a);
    ck_assert_ptr_eq(a->ref[0], a); /* untouched: clear did not run */
    ck_assert_int_eq(legacy_calls, 0);
    /* del obj.a; gc.garbage.remove(obj) */
    node_clear(a);
    rcgc_garbage_clear();
    ck_assert_int_eq(legacy_calls, 1);
}
END_TEST

START_TEST(test_gc_legacy_finalizer_reachable)
{
    /* objects reachable from a legacy_del object are uncollectable too */
    node *a = self_cycle(&legacy_type);
    node *x = new_node(&list_type);
    set_ref(a, 1, x);
    rcgc_decref(x);
    rcgc_decref(a);
    ck_assert_int_eq(rcgc_collect(2), 2);
    ck_assert_uint_eq(rcgc_garbage_count(), 1); /* only the __del__ object is listed */
    ck_assert_int_eq(destroyed, 0);
    node_clear(a);
    rcgc_garbage_clear();
    ck_assert_int_eq(destroyed, 2);
}
END_TEST

START_TEST(test_gc_saveall)
{
    ck_assert_uint_eq(rcgc_garbage_count(), 0);
    node *l = self_cycle(&list_type);
    unsigned debug = rcgc_get_debug();
    rcgc_set_debug(debug | RCGC_DEBUG_SAVEALL);
    rcgc_decref(l);
    ck_assert_int_eq(rcgc_collect(2), 1);
    rcgc_set_debug(debug);
    ck_assert_uint_eq(rcgc_garbage_count(), 1);
    ck_assert_ptr_eq(rcgc_garbage_get(0), l);
    ck_assert_ptr_eq(l->ref[0], l);
    ck_assert_ptr_null(rcgc_garbage_get(1));
    rcgc_garbage_clear();
    ck_assert_int_eq(rcgc_collect(2), 1);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

/* __del__ methods can trigger collection */
static void allocating_del(void *self)
{
    (void)self;
    legacy_calls++;
    rcgc_decref(new_node(&list_type));
    rcgc_decref(self_cycle(&list_type));
}
static const rcgc_type del_type = {"A", node_traverse, node_clear, NULL, allocating_del, NULL};

START_TEST(test_gc_del)
{
    long t[3];
    rcgc_get_threshold(t);
    rcgc_enable();
    rcgc_set_threshold(1, 10, 10);
    node *a = new_node(&del_type);
    rcgc_decref(a);
    rcgc_disable();
    rcgc_set_threshold(t[0], t[1], t[2]);
    ck_assert_int_eq(legacy_calls, 1);
}
END_TEST

START_TEST(test_gc_get_count)
{
    long c1[3], c2[3];
    rcgc_collect(2);
    rcgc_get_count(c1);
    node *x = new_node(&list_type);
    rcgc_get_count(c2);
    ck_assert_int_eq(c1[1], 0);
    ck_assert_int_eq(c1[2], 0);
    ck_assert_int_eq(c2[1], 0);
    ck_assert_int_eq(c2[2], 0);
    ck_assert_int_eq(c1[0], 0);
    ck_assert_int_eq(c2[0], 1);
    /* untracked types do not count; deallocations do */
    rcgc_decref(rcgc_new(&int_type, 8));
    rcgc_get_count(c2);
    ck_assert_int_eq(c2[0], 1);
    rcgc_decref(x);
    rcgc_get_count(c2);
    ck_assert_int_eq(c2[0], 0);
}
END_TEST

START_TEST(test_gc_collect_generations)
{
    rcgc_set_incremental(0); /* the classic mode's generations */
    long c[3];
    rcgc_collect(2);
    node *x = new_node(&list_type);
    rcgc_collect(0);
    rcgc_get_count(c);
    ck_assert_int_eq(c[1], 1);
    ck_assert_int_eq(c[2], 0);
    rcgc_collect(1);
    rcgc_get_count(c);
    ck_assert_int_eq(c[1], 0);
    ck_assert_int_eq(c[2], 1);
    rcgc_collect(2);
    rcgc_get_count(c);
    ck_assert_int_eq(c[1], 0);
    ck_assert_int_eq(c[2], 0);
    rcgc_decref(x);
}
END_TEST

static void count_if_target(void *obj, void *arg)
{
    void **p = arg;
    if (obj == p[0])
        p[1] = (char *)p[1] + 1;
}

static int in_generation(void *obj, int generation)
{
    void *p[2] = {obj, NULL};
    rcgc_get_objects(generation, count_if_target, p);
    return (int)(uintptr_t)p[1];
}

START_TEST(test_gc_get_objects)
{
    rcgc_set_incremental(0); /* the classic mode's generations */
    rcgc_collect(2);
    node *l = self_cycle(&list_type);
    ck_assert(in_generation(l, 0) && !in_generation(l, 1) && !in_generation(l, 2));
    rcgc_collect(0);
    ck_assert(!in_generation(l, 0) && in_generation(l, 1) && !in_generation(l, 2));
    rcgc_collect(1);
    ck_assert(!in_generation(l, 0) && !in_generation(l, 1) && in_generation(l, 2));
    rcgc_collect(2);
    ck_assert(!in_generation(l, 0) && !in_generation(l, 1) && in_generation(l, 2));
    ck_assert_int_eq(in_generation(l, -1), 1);
    rcgc_decref(l);
    rcgc_collect(2);
    errno = 0;
    ck_assert_int_eq(rcgc_get_objects(3, count_obj, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rcgc_get_objects(-2, count_obj, NULL), -1);
    errno = 0;
    ck_assert_int_eq(rcgc_collect(3), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rcgc_collect(-1), -1);
}
END_TEST

START_TEST(test_gc_get_stats)
{
    rcgc_gen_stats old[3], now[3];
    rcgc_get_stats(old);
    rcgc_collect(0);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[0].collections, old[0].collections + 1);
    ck_assert_uint_eq(now[1].collections, old[1].collections);
    ck_assert_uint_eq(now[2].collections, old[2].collections);
    rcgc_collect(2);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[0].collections, old[0].collections + 1);
    ck_assert_uint_eq(now[1].collections, old[1].collections);
    ck_assert_uint_eq(now[2].collections, old[2].collections + 1);
    ck_assert(now[2].seconds >= old[2].seconds);
}
END_TEST

START_TEST(test_gc_freeze)
{
    node *l = self_cycle(&list_type);
    node *m = self_cycle(&list_type);
    rcgc_freeze();
    ck_assert_uint_eq(rcgc_get_freeze_count(), 2);
    long c[3];
    rcgc_get_count(c);
    ck_assert_int_eq(c[0], 0);
    ck_assert_int_eq(in_generation(l, -1), 0); /* frozen objects are not listed */
    rcgc_decref(l);
    rcgc_decref(m);
    ck_assert_int_eq(rcgc_collect(2), 0); /* never scanned */
    ck_assert_int_eq(destroyed, 0);
    rcgc_unfreeze();
    ck_assert_uint_eq(rcgc_get_freeze_count(), 0);
    ck_assert_int_eq(rcgc_collect(2), 2);
    /* a frozen object that dies leaves the count */
    node *k = new_node(&list_type);
    rcgc_freeze();
    ck_assert_uint_eq(rcgc_get_freeze_count(), 1);
    rcgc_decref(k);
    ck_assert_uint_eq(rcgc_get_freeze_count(), 0);
}
END_TEST

START_TEST(test_gc_is_tracked)
{
    void *i = rcgc_new(&int_type, 8);
    ck_assert_int_eq(rcgc_is_tracked(i), 0);
    rcgc_track(i); /* no traverse: never tracked */
    ck_assert_int_eq(rcgc_is_tracked(i), 0);
    node *l = new_node(&list_type);
    ck_assert_int_eq(rcgc_is_tracked(l), 1);
    rcgc_untrack(l);
    ck_assert_int_eq(rcgc_is_tracked(l), 0);
    rcgc_untrack(l);
    rcgc_track(l);
    rcgc_track(l);
    ck_assert_int_eq(rcgc_is_tracked(l), 1);
    ck_assert_ptr_eq(rcgc_typeof(l), &list_type);
    ck_assert_uint_eq(rcgc_refcount(l), 1);
    rcgc_decref(i);
    rcgc_decref(l);
    rcgc_decref(NULL);
    rcgc_incref(NULL);
    errno = 0;
    ck_assert_ptr_null(rcgc_new(NULL, 8));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_gc_is_finalized)
{
    node *lazarus = new_node(&lazarus_type);
    ck_assert_int_eq(rcgc_is_finalized(lazarus), 0);
    rcgc_decref(lazarus);
    rcgc_collect(2);
    ck_assert_int_eq(nstorage, 1);
    lazarus = storage[--nstorage];
    ck_assert_int_eq(rcgc_is_finalized(lazarus), 1);
    ck_assert_int_eq(finalized, 1);
    rcgc_decref(lazarus); /* finalizer already ran: now it dies */
    ck_assert_int_eq(finalized, 1);
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

static void collect_ptr(void *obj, void *arg)
{
    void **v = arg;
    size_t n = (size_t)(uintptr_t)v[0];
    v[1 + n] = obj;
    v[0] = (void *)(uintptr_t)(n + 1);
}

START_TEST(test_gc_get_referents)
{
    void *v[8] = {0};
    node *a = new_node(&list_type), *b = new_node(&list_type);
    void *i = rcgc_new(&int_type, 8);
    node *l = new_node(&list_type);
    set_ref(l, 0, a);
    set_ref(l, 1, i);
    set_ref(l, 3, b);
    ck_assert_int_eq(rcgc_get_referents(l, collect_ptr, v), 3);
    ck_assert_ptr_eq(v[1], a);
    ck_assert_ptr_eq(v[2], i);
    ck_assert_ptr_eq(v[3], b);
    ck_assert_int_eq(rcgc_get_referents(i, collect_ptr, v), 0);
    /* referrers: l and m refer to a */
    node *m = new_node(&tuple_type);
    set_ref(m, 2, a);
    memset(v, 0, sizeof v);
    ck_assert_int_eq(rcgc_get_referrers(a, collect_ptr, v), 2);
    ck_assert((v[1] == l && v[2] == m) || (v[1] == m && v[2] == l));
    ck_assert_int_eq(rcgc_get_referrers(l, collect_ptr, v), 0);
    rcgc_decref(m);
    rcgc_decref(l);
    rcgc_decref(a);
    rcgc_decref(b);
    rcgc_decref(i);
    ck_assert_int_eq(destroyed, 5);
}
END_TEST

/* header at most 32 bytes (24 here), fields 16-byte aligned like malloc's,
 * small and large objects alike (run again with RCGC_MALLOC=malloc) */
START_TEST(test_gc_object_layout)
{
    void *objs[64];
    ck_assert_uint_le(sizeof(gchead), 32);
    for (int i = 0; i < 64; i++) {
        size_t size = (size_t)i * 13;
        objs[i] = rcgc_new(i % 2 ? &int_type : &list_type, size < sizeof(node) ? sizeof(node) : size);
        ck_assert_ptr_nonnull(objs[i]);
        ck_assert_uint_eq((uintptr_t)objs[i] % 16, 0);
        memset(objs[i], 0xab, size < sizeof(node) ? 0 : size); /* valgrind: writable */
        if (i % 2 == 0)
            memset(objs[i], 0, sizeof(node));
    }
    for (int i = 0; i < 64; i++)
        rcgc_decref(objs[i]);
    ck_assert_int_eq(destroyed, 64);
}
END_TEST

/* --- deep structures (test_trashcan) --- */

#define DEEP 1000000

START_TEST(test_gc_trashcan)
{
    /* a chain of a million objects freed by one decref, no deep recursion */
    node *head = new_node(&list_type), *n = head;
    for (int i = 1; i < DEEP; i++) {
        node *next = new_node(&list_type);
        n->ref[0] = next; /* steals the reference */
        n = next;
    }
    rcgc_decref(head);
    ck_assert_int_eq(destroyed, DEEP);
}
END_TEST

START_TEST(test_gc_trashcan_ring)
{
    /* a ring of a million objects found and freed by the collector */
    node *head = new_node(&list_type), *n = head;
    for (int i = 1; i < DEEP; i++) {
        node *next = new_node(&list_type);
        n->ref[0] = next;
        n = next;
    }
    n->ref[0] = head;
    rcgc_incref(head);
    rcgc_decref(head);
    ck_assert_int_eq(rcgc_collect(2), DEEP);
    ck_assert_int_eq(destroyed, DEEP);
}
END_TEST

/* --- PEP 442 and resurrection --- */

START_TEST(test_gc_resurrection_does_not_block_cleanup_of_other_objects)
{
    enum { N = 100 };
    rcgc_gen_stats s[3];
    uint64_t oldc, oldnc;
    rcgc_collect(2);
    rcgc_get_stats(s);
    oldc = s[2].collected, oldnc = s[2].uncollectable;
    for (int i = 0; i < N; i++)
        rcgc_decref(self_cycle(&list_type));
    ck_assert_int_eq(rcgc_collect(2), N);
    rcgc_get_stats(s);
    ck_assert_uint_eq(s[2].collected - oldc, N);
    ck_assert_uint_eq(s[2].uncollectable - oldnc, 0);

    /* Z() is not collected: it is merely resurrected */
    oldc = s[2].collected, oldnc = s[2].uncollectable;
    rcgc_decref(self_cycle(&lazarus_type));
    ck_assert_int_eq(rcgc_collect(2), 0);
    rcgc_get_stats(s);
    ck_assert_uint_eq(s[2].collected - oldc, 0);
    ck_assert_uint_eq(s[2].uncollectable - oldnc, 0);

    /* Z() does not prevent anything else from being collected */
    oldc = s[2].collected, oldnc = s[2].uncollectable;
    for (int i = 0; i < N; i++)
        rcgc_decref(self_cycle(&list_type));
    rcgc_decref(self_cycle(&lazarus_type));
    ck_assert_int_eq(rcgc_collect(2), N);
    rcgc_get_stats(s);
    ck_assert_uint_eq(s[2].collected - oldc, N);
    ck_assert_uint_eq(s[2].uncollectable - oldnc, 0);

    /* zs.clear(): the two Z, already finalized, now go */
    ck_assert_int_eq(nstorage, 2);
    while (nstorage)
        rcgc_decref(storage[--nstorage]);
    ck_assert_int_eq(rcgc_collect(2), 2);
    ck_assert_int_eq(finalized, 2);
}
END_TEST

/* test_finalization.SelfCycleFinalizationTest.test_simple */
START_TEST(test_finalization_selfcycle_simple)
{
    node *s = self_cycle(&fin_type);
    rcgc_decref(s);
    ck_assert_int_eq(rcgc_collect(2), 1);
    ck_assert_int_eq(finalized, 1);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_uint_eq(rcgc_garbage_count(), 0);
    ck_assert_int_eq(rcgc_collect(2), 0);
    ck_assert_int_eq(finalized, 1);
}
END_TEST

/* test_finalization.SelfCycleFinalizationTest.test_simple_resurrect */
START_TEST(test_finalization_selfcycle_simple_resurrect)
{
    node *s = self_cycle(&lazarus_type);
    rcgc_decref(s);
    ck_assert_int_eq(rcgc_collect(2), 0);
    ck_assert_int_eq(finalized, 1);
    ck_assert_int_eq(nstorage, 1); /* survivor */
    ck_assert_ptr_eq(storage[0], s);
    ck_assert_ptr_eq(s->ref[0], s); /* not cleared */
    rcgc_decref(storage[--nstorage]);
    ck_assert_int_eq(rcgc_collect(2), 1);
    ck_assert_int_eq(finalized, 1); /* called once only */
    ck_assert_int_eq(destroyed, 1);
}
END_TEST

/* test_finalization.SimpleFinalizationTest.test_non_gc / test_non_gc_resurrect */
START_TEST(test_finalization_non_gc)
{
    void *o = rcgc_new(&fin_nongc_type, 16);
    rcgc_decref(o);
    ck_assert_int_eq(finalized, 1);
    ck_assert_int_eq(destroyed, 1);
    node *z = new_node(&lazarus_type);
    rcgc_untrack(z);
    rcgc_decref(z);
    ck_assert_int_eq(finalized, 2);
    ck_assert_int_eq(nstorage, 1);
    ck_assert_int_eq(rcgc_is_finalized(z), 1);
    rcgc_decref(storage[--nstorage]);
    ck_assert_int_eq(finalized, 2);
    ck_assert_int_eq(destroyed, 2);
}
END_TEST

/* test_finalization.CycleChainFinalizationTest: a 3-cycle of finalizers */
START_TEST(test_finalization_cycle_chain)
{
    node *a = new_node(&fin_type), *b = new_node(&fin_type), *c = new_node(&fin_type);
    set_ref(a, 0, b);
    set_ref(b, 0, c);
    set_ref(c, 0, a);
    rcgc_decref(a);
    rcgc_decref(b);
    rcgc_decref(c);
    ck_assert_int_eq(rcgc_collect(2), 3);
    ck_assert_int_eq(finalized, 3);
    ck_assert_int_eq(destroyed, 3);
}
END_TEST

static long nested_result = -99;
static void collecting_finalizer(void *self)
{
    (void)self;
    finalized++;
    nested_result = rcgc_collect(2);
}
static const rcgc_type nested_type = {"Nested", node_traverse, node_clear, collecting_finalizer,
                                      NULL, NULL};

START_TEST(test_gc_nested_collect_returns_zero)
{
    rcgc_decref(self_cycle(&nested_type));
    ck_assert_int_eq(rcgc_collect(2), 1);
    ck_assert_int_eq(finalized, 1);
    ck_assert_int_eq(nested_result, 0);
}
END_TEST

/* --- weak references --- */

typedef struct wrlog {
    int calls;
    int alive_seen; /* referents still reachable during the callback */
    rcgc_weakref **refs;
    int nrefs;
} wrlog;

static void wr_callback(rcgc_weakref *ref, void *arg)
{
    wrlog *w = arg;
    w->calls++;
    for (int i = 0; i < w->nrefs; i++) {
        void *o = rcgc_weakref_get(w->refs[i]);
        if (o) {
            w->alive_seen++;
            rcgc_decref(o);
        }
    }
    void *self = rcgc_weakref_get(ref);
    if (self) {
        w->alive_seen++;
        rcgc_decref(self);
    }
}

/* test_weakref.ReferencesTestCase.test_basic_callback */
START_TEST(test_weakref_basic_callback)
{
    wrlog w = {0};
    node *o = new_node(&list_type);
    rcgc_weakref *r = rcgc_weakref_new(o, wr_callback, &w);
    w.refs = &r;
    w.nrefs = 1;
    ck_assert_uint_eq(rcgc_weakref_count(o), 1);
    void *got = rcgc_weakref_get(r);
    ck_assert_ptr_eq(got, o);
    ck_assert_uint_eq(rcgc_refcount(o), 2);
    rcgc_decref(got);
    rcgc_weakref *r2 = rcgc_weakref_new(o, NULL, NULL);
    ck_assert_uint_eq(rcgc_weakref_count(o), 2);
    rcgc_decref(r2);
    ck_assert_uint_eq(rcgc_weakref_count(o), 1);
    rcgc_decref(o);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(w.alive_seen, 0); /* the callback sees a cleared reference */
    ck_assert_ptr_null(rcgc_weakref_get(r));
    rcgc_decref(r);
    errno = 0;
    ck_assert_ptr_null(rcgc_weakref_new(NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* test_gc.GCTests.test_bug1055820b */
START_TEST(test_gc_bug1055820b)
{
    wrlog w = {0};
    node *cs[2];
    rcgc_weakref *wrs[2];
    for (int i = 0; i < 2; i++) {
        cs[i] = self_cycle(&list_type);
        cs[i]->id = i;
        wrs[i] = rcgc_weakref_new(cs[i], wr_callback, &w);
    }
    w.refs = wrs;
    w.nrefs = 2;
    rcgc_collect(2);
    ck_assert_int_eq(w.calls, 0);
    rcgc_decref(cs[0]);
    rcgc_decref(cs[1]);
    ck_assert_int_eq(rcgc_collect(2), 2);
    ck_assert_int_eq(w.calls, 2);      /* else the callbacks did not run */
    ck_assert_int_eq(w.alive_seen, 0); /* no callback could resurrect garbage */
    rcgc_decref(wrs[0]);
    rcgc_decref(wrs[1]);
}
END_TEST

/* test_weakref: a weak reference that is itself garbage gets no callback */
START_TEST(test_weakref_callback_in_cycle)
{
    wrlog w = {0};
    node *c = self_cycle(&list_type);
    rcgc_weakref *wr = rcgc_weakref_new(c, wr_callback, &w);
    node *holder = self_cycle(&list_type);
    holder->ref[1] = wr; /* the cycle owns the weakref (reference stolen) */
    rcgc_decref(holder);
    rcgc_decref(c);
    ck_assert_int_eq(rcgc_collect(2), 3); /* c, holder and the weakref */
    ck_assert_int_eq(w.calls, 0);
    ck_assert_int_eq(destroyed, 2);
    /* the weakref is garbage, its referent alive: no callback either */
    node *live = new_node(&list_type);
    wr = rcgc_weakref_new(live, wr_callback, &w);
    holder = self_cycle(&list_type);
    holder->ref[1] = wr;
    rcgc_decref(holder);
    ck_assert_int_eq(rcgc_collect(2), 2);
    ck_assert_uint_eq(rcgc_weakref_count(live), 0);
    rcgc_decref(live);
    ck_assert_int_eq(w.calls, 0);
}
END_TEST

/* --- callbacks (GCCallbackTests) --- */

typedef struct visit {
    int who;
    rcgc_phase phase;
    rcgc_info info;
} visit;
static visit visits[64];
static int nvisits;
static int cleanup;

static void cb1(rcgc_phase phase, const rcgc_info *info, void *arg)
{
    (void)arg;
    visits[nvisits++] = (visit){1, phase, *info};
}

static void cb2(rcgc_phase phase, const rcgc_info *info, void *arg)
{
    (void)arg;
    visits[nvisits++] = (visit){2, phase, *info};
    if (phase == RCGC_STOP && cleanup) {
        /* break the Uncollectable cycles and empty gc.garbage */
        for (size_t i = 0; i < rcgc_garbage_count(); i++) {
            node *e = rcgc_garbage_get(i);
            void *p = e->ref[0];
            e->ref[0] = NULL;
            rcgc_decref(p);
        }
        rcgc_garbage_clear();
    }
}

static void callbacks_setup(void)
{
    setup();
    nvisits = 0;
    cleanup = 0;
    ck_assert_int_eq(rcgc_callback_add(cb1, NULL), 0);
    ck_assert_int_eq(rcgc_callback_add(cb2, NULL), 0);
}

static void callbacks_teardown(void)
{
    ck_assert_int_eq(rcgc_callback_remove(cb1, NULL), 0);
    ck_assert_int_eq(rcgc_callback_remove(cb2, NULL), 0);
    ck_assert_int_eq(rcgc_callback_remove(cb2, NULL), -ENOENT);
    teardown();
}

START_TEST(test_gc_callback_collect)
{
    rcgc_collect(2);
    int n1 = 0, n2 = 0, start = 0, stop = 0;
    for (int i = 0; i < nvisits; i++) {
        n1 += visits[i].who == 1;
        n2 += visits[i].who == 2;
        start += visits[i].phase == RCGC_START;
        stop += visits[i].phase == RCGC_STOP;
    }
    ck_assert_int_eq(nvisits, 4);
    ck_assert_int_eq(n1, 2);
    ck_assert_int_eq(n2, 2);
    ck_assert_int_eq(start, 2);
    ck_assert_int_eq(stop, 2);
    ck_assert(visits[0].phase == RCGC_START && visits[3].phase == RCGC_STOP);
}
END_TEST

START_TEST(test_gc_callback_collect_generation)
{
    rcgc_collect(1);
    ck_assert_int_eq(nvisits, 4);
    for (int i = 0; i < nvisits; i++)
        ck_assert_int_eq(visits[i].info.generation, 1);
}
END_TEST

/* Uncollectable(): two __del__ objects referring to each other */
static void uncollectable(void)
{
    garbage_pair(&legacy_type, &legacy_type, NULL, NULL);
}

START_TEST(test_gc_callback_collect_garbage)
{
    uncollectable();
    uncollectable();
    rcgc_decref(self_cycle(&list_type)); /* C1055820(666) */
    rcgc_collect(2);
    int stops = 0;
    for (int i = 0; i < nvisits; i++) {
        if (visits[i].phase != RCGC_STOP)
            continue;
        stops++;
        ck_assert_int_eq(visits[i].info.collected, 1);
        ck_assert_int_eq(visits[i].info.uncollectable, 4);
    }
    ck_assert_int_eq(stops, 2);
    ck_assert_uint_eq(rcgc_garbage_count(), 4);
    for (size_t i = 0; i < rcgc_garbage_count(); i++)
        ck_assert_ptr_eq(rcgc_typeof(rcgc_garbage_get(i)), &legacy_type);

    /* now let the callback handle the Uncollectable instances */
    cleanup = 1;
    nvisits = 0;
    rcgc_garbage_clear();
    rcgc_collect(2);
    for (int i = 0; i < nvisits; i++) {
        if (visits[i].phase != RCGC_STOP)
            continue;
        ck_assert_int_eq(visits[i].info.collected, 0);
        ck_assert_int_eq(visits[i].info.uncollectable, 4);
    }
    ck_assert_uint_eq(rcgc_garbage_count(), 0);
    ck_assert_int_eq(legacy_calls, 4); /* the broken cycles died by refcount */
}
END_TEST

/* --- thresholds and automatic collection --- */

START_TEST(test_gc_threshold_automatic)
{
    rcgc_set_incremental(0); /* the classic mode's generations */
    rcgc_gen_stats old[3], now[3];
    long t[3];
    rcgc_get_threshold(t);
    ck_assert(t[0] == 700 && t[1] == 10 && t[2] == 10);
    ck_assert_int_eq(rcgc_set_threshold(-1, 10, 10), -EINVAL);
    rcgc_set_threshold(10, 10, 10);
    node *keep[11];
    /* disabled: nothing happens */
    rcgc_get_stats(old);
    for (int i = 0; i < 11; i++)
        keep[i] = new_node(&list_type);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[0].collections, old[0].collections);
    for (int i = 0; i < 11; i++)
        rcgc_decref(keep[i]);
    rcgc_collect(2);
    /* enabled: the 11th allocation finds count 11 > 10 and collects gen 0 */
    ck_assert_int_eq(rcgc_enable(), 0);
    ck_assert_int_eq(rcgc_isenabled(), 1);
    rcgc_get_stats(old);
    for (int i = 0; i < 10; i++)
        keep[i] = new_node(&list_type);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[0].collections, old[0].collections);
    keep[10] = new_node(&list_type);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[0].collections, old[0].collections + 1);
    long c[3];
    rcgc_get_count(c);
    ck_assert_int_eq(c[0], 0);
    ck_assert_int_eq(c[1], 1);
    /* t0 == 0 disables automatic collection */
    rcgc_set_threshold(0, 10, 10);
    for (int i = 0; i < 11; i++)
        rcgc_decref(keep[i]);
    rcgc_get_stats(old);
    for (int i = 0; i < 50; i++)
        rcgc_decref(new_node(&list_type));
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[0].collections, old[0].collections);
    ck_assert_int_eq(rcgc_disable(), 1);
    ck_assert_int_eq(rcgc_isenabled(), 0);
}
END_TEST

START_TEST(test_gc_long_lived_pending_rule)
{
    rcgc_set_incremental(0); /* the classic mode's generations */
    enum { LIVE = 1000 };
    static node *live[LIVE], *more[300];
    rcgc_gen_stats old[3], now[3];
    for (int i = 0; i < LIVE; i++)
        live[i] = new_node(&list_type);
    rcgc_collect(2); /* long_lived_total = 1000, pending = 0 */
    rcgc_set_threshold(5, 1, 1);
    rcgc_enable();
    rcgc_get_stats(old);
    /* garbage only: few survivors, so no full collection despite count[2] */
    for (int i = 0; i < 500; i++)
        rcgc_decref(self_cycle(&list_type));
    rcgc_get_stats(now);
    ck_assert_uint_gt(now[1].collections, old[1].collections);
    ck_assert_uint_eq(now[2].collections, old[2].collections);
    /* over 25 % of 1000 new long-lived objects: a full collection comes */
    for (int i = 0; i < 300; i++)
        more[i] = new_node(&list_type);
    for (int i = 0; i < 20; i++)
        rcgc_decref(new_node(&list_type));
    rcgc_get_stats(now);
    ck_assert_uint_gt(now[2].collections, old[2].collections);
    rcgc_disable();
    for (int i = 0; i < LIVE; i++)
        rcgc_decref(live[i]);
    for (int i = 0; i < 300; i++)
        rcgc_decref(more[i]);
}
END_TEST

/* --- debug output and errors --- */

static void collect_noisy(void *arg)
{
    (void)arg;
    rcgc_set_debug(RCGC_DEBUG_STATS | RCGC_DEBUG_COLLECTABLE | RCGC_DEBUG_UNCOLLECTABLE);
    rcgc_collect(2);
    rcgc_set_debug(0);
}

START_TEST(test_gc_debug_output)
{
    node *l = self_cycle(&list_type);
    node *a = self_cycle(&legacy_type);
    char want[128];
    rcgc_decref(l);
    rcgc_decref(a);
    const char *err = capture_stderr(collect_noisy, NULL);
    ck_assert_ptr_nonnull(strstr(err, "gc: collecting generation 2...\n"));
    ck_assert_ptr_nonnull(strstr(err, "gc: objects in each generation: 2 0 0\n"));
    ck_assert_ptr_nonnull(strstr(err, "gc: objects in permanent generation: 0\n"));
    snprintf(want, sizeof want, "gc: collectable <list %p>\n", (void *)l);
    ck_assert_ptr_nonnull(strstr(err, want));
    snprintf(want, sizeof want, "gc: uncollectable <A %p>\n", (void *)a);
    ck_assert_ptr_nonnull(strstr(err, want));
    ck_assert_ptr_nonnull(strstr(err, "gc: done, 2 unreachable, 1 uncollectable, "));
    node_clear(a);
    rcgc_garbage_clear();
}
END_TEST

static void collect_quiet(void *arg)
{
    (void)arg;
    rcgc_collect(2);
}

/* test_gc.GCTests.test_refcount_errors */
START_TEST(test_gc_refcount_errors)
{
    node *a = new_node(&list_type);
    node *b = new_node(&list_type), *d = new_node(&tuple_type);
    set_ref(b, 0, a);
    set_ref(d, 0, a);
    rcgc_collect(2);
    /* simulate a refcount too low for the references held by live data */
    rcgc_decref(a);
    rcgc_decref(a);
    ck_assert_uint_eq(rcgc_refcount(a), 1);
    const char *err = capture_stderr(collect_quiet, NULL);
    ck_assert_ptr_nonnull(strstr(err, "refcount is too small"));
    ck_assert_ptr_nonnull(strstr(err, "object refcount : "));
    ck_assert_ptr_nonnull(strstr(err, "object type name: list"));
    ck_assert_int_eq(destroyed, 0); /* nothing freed that is still referenced */
    ck_assert_ptr_eq(b->ref[0], a);
    /* repair, then a decref of a dead count is reported, not applied */
    rcgc_incref(a);
    rcgc_decref(b);
    rcgc_decref(d);
    ck_assert_int_eq(destroyed, 3);
}
END_TEST

/* --- deleting plain garbage (collect.c's delete_held) ---
 * Not CPython tests: librcgc frees each garbage object when its last
 * reference goes while it clears the garbage, holding a reference of its
 * own on every object meanwhile; these pin down what that must keep. */

/* live objects of 't' in the registry the tracemem section reads */
static size_t live_count(const rcgc_type *t)
{
    for (typerec *r = tm__gc.types; r; r = r->next)
        if (r->type == t)
            return r->count;
    return 0;
}

START_TEST(test_delete_order_and_counts)
{
    /* a ring whose every object is referred to by the one allocated after
     * it: each waits on the stack of objects still referenced until the
     * end of the pass; plus 2-cycles and a self-cycle */
    enum { RING = 1000, PAIRS = 500 };
    node *first = new_node(&list_type), *prev = first;
    for (int i = 1; i < RING; i++) {
        node *n = new_node(&list_type);
        n->ref[0] = prev; /* steals */
        prev = n;
    }
    set_ref(first, 0, prev);
    rcgc_decref(prev);
    for (int i = 0; i < PAIRS; i++) {
        garbage_pair(&tuple_type, &tuple_type, NULL, NULL);
    }
    rcgc_decref(self_cycle(&list_type));
    ck_assert_uint_eq(live_count(&list_type), RING + 1);
    ck_assert_uint_eq(live_count(&tuple_type), 2 * PAIRS);
    rcgc_gen_stats before[3], after[3];
    rcgc_get_stats(before);
    ck_assert_int_eq(rcgc_collect(2), RING + 2 * PAIRS + 1);
    rcgc_get_stats(after);
    ck_assert_int_eq(destroyed, RING + 2 * PAIRS + 1);
    ck_assert_uint_eq(after[2].collected - before[2].collected, RING + 2 * PAIRS + 1);
    ck_assert_uint_eq(live_count(&list_type), 0);
    ck_assert_uint_eq(live_count(&tuple_type), 0);
    long c[3];
    rcgc_get_count(c);
    ck_assert_int_eq(c[0], 0);
    ck_assert_int_eq(tracked_objects(), 0);
}
END_TEST

/* clear() that untracks its object and the other half of its cycle, or
 * tracks it again */
static int retrack;
static void untracking_clear(void *self)
{
    node *n = self;
    void *other = n->ref[0];
    rcgc_untrack(self);
    ck_assert_int_eq(rcgc_is_tracked(self), 0);
    if (other) {
        rcgc_untrack(other);
        ck_assert_int_eq(rcgc_is_tracked(other), 0);
        if (retrack) {
            rcgc_track(other);
            ck_assert_int_eq(rcgc_is_tracked(other), 1);
        }
    }
    node_clear(self);
}
static const rcgc_type untracking_type = {"Untracking", node_traverse, untracking_clear, NULL,
                                          NULL, count_destroy};

START_TEST(test_delete_clear_untracks)
{
    for (retrack = 0; retrack < 2; retrack++) {
        destroyed = 0;
        for (int i = 0; i < 3; i++) {
            garbage_pair(&untracking_type, &untracking_type, NULL, NULL);
        }
        ck_assert_int_eq(rcgc_collect(2), 6);
        ck_assert_int_eq(destroyed, 6);
        ck_assert_int_eq(tracked_objects(), 0);
        ck_assert_uint_eq(live_count(&untracking_type), 0);
    }
}
END_TEST

/* clear() that stores a new reference to its object somewhere live
 * (while 'clear_resurrects' is set) */
static int clear_resurrects;
static void resurrecting_clear(void *self)
{
    node_clear(self);
    if (clear_resurrects) {
        rcgc_incref(self);
        storage[nstorage++] = self;
    }
}
static const rcgc_type clear_lazarus_type = {"ClearLazarus", node_traverse, resurrecting_clear,
                                             NULL, NULL, count_destroy};

START_TEST(test_delete_clear_resurrects)
{
    clear_resurrects = 1;
    node *a, *b;
    garbage_pair(&clear_lazarus_type, &list_type, &a, &b);
    ck_assert_int_eq(rcgc_collect(2), 2);
    /* b died; a, cleared, lives on with the one reference in 'storage',
     * tracked in the oldest generation */
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(nstorage, 1);
    ck_assert_ptr_eq(storage[0], a);
    ck_assert_uint_eq(rcgc_refcount(a), 1);
    ck_assert_ptr_null(a->ref[0]);
    ck_assert_int_eq(rcgc_is_tracked(a), 1);
    long n = 0;
    rcgc_get_objects(2, count_obj, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(live_count(&clear_lazarus_type), 1);
    /* a refcount death (which does not allow resurrection) */
    clear_resurrects = 0;
    nstorage = 0;
    rcgc_decref(a);
    ck_assert_int_eq(destroyed, 2);
    ck_assert_uint_eq(live_count(&clear_lazarus_type), 0);
}
END_TEST

/* clear() that drops one reference too many */
static void overdropping_clear(void *self)
{
    node *n = self;
    void *other = n->ref[0];
    node_clear(self);
    if (other == storage[0])
        rcgc_decref(other);
}
static const rcgc_type overdrop_type = {"Overdrop", node_traverse, overdropping_clear, NULL,
                                        NULL, count_destroy};

static void collect_quiet_2(void *arg)
{
    *(long *)arg = rcgc_collect(2);
}

START_TEST(test_delete_extra_decref)
{
    node *a, *b;
    garbage_pair(&overdrop_type, &tuple_type, &a, &b);
    storage[0] = b;
    long found = 0;
    const char *err = capture_stderr(collect_quiet_2, &found);
    ck_assert_int_eq(found, 2);
    ck_assert_ptr_nonnull(strstr(err, "refcount is too small"));
    ck_assert_ptr_nonnull(strstr(err, "object type name: tuple"));
    /* 'a' died; 'b' lost a reference it did not have: reported and left
     * alone (not freed under whoever still uses it), untracked */
    ck_assert_int_eq(destroyed, 1);
    ck_assert_uint_eq(rcgc_refcount(b), 0);
    ck_assert_int_eq(rcgc_is_tracked(b), 0);
    ck_assert_uint_eq(live_count(&tuple_type), 1);
    /* repaired, it dies normally */
    rcgc_incref(b);
    rcgc_decref(b);
    ck_assert_int_eq(destroyed, 2);
    ck_assert_uint_eq(live_count(&tuple_type), 0);
}
END_TEST

/* clear() that makes a weak reference (kept outside the garbage) to the
 * object it refers to: that object's death runs the callback, which sees
 * the reference cleared */
static rcgc_weakref *made_ref;
static int made_ref_calls;
static void made_ref_callback(rcgc_weakref *ref, void *arg)
{
    (void)arg;
    ck_assert_ptr_eq(ref, made_ref);
    ck_assert_ptr_null(rcgc_weakref_get(ref));
    made_ref_calls++;
}
static void weakref_making_clear(void *self)
{
    node *n = self;
    if (n->ref[0] && !made_ref)
        made_ref = rcgc_weakref_new(n->ref[0], made_ref_callback, NULL);
    node_clear(self);
}
static const rcgc_type weakref_making_type = {"WeakrefMaking", node_traverse,
                                              weakref_making_clear, NULL, NULL, count_destroy};

START_TEST(test_delete_weakref_made_in_clear)
{
    made_ref = NULL;
    made_ref_calls = 0;
    node *a, *b;
    garbage_pair(&weakref_making_type, &list_type, &a, &b);
    ck_assert_int_eq(rcgc_collect(2), 2);
    ck_assert_ptr_nonnull(made_ref);
    ck_assert_int_eq(made_ref_calls, 1);
    ck_assert_int_eq(destroyed, 2);
    rcgc_decref(made_ref);
    made_ref = NULL;
}
END_TEST

/* Random graphs against a reachability computed here: every collection
 * must free exactly the objects no root reaches, in full collections and
 * in young ones where older objects are roots, with plain garbage (the
 * one-pass delete) and with finalizers among it (the careful path), and
 * with objects too far apart for a parent to be recorded. */
#define RG_MAX 400
static int rg_dead[RG_MAX];
static unsigned rg_seed;
static unsigned rg_rand(void)
{
    rg_seed ^= rg_seed << 13;
    rg_seed ^= rg_seed >> 17;
    rg_seed ^= rg_seed << 5;
    return rg_seed;
}
static void rg_destroy(void *self)
{
    rg_dead[((node *)self)->id]++;
}
static void rg_finalize(void *self)
{
    (void)self;
    finalized++;
}
static const rcgc_type rg_type = {"RG", node_traverse, node_clear, NULL, NULL, rg_destroy};
static const rcgc_type rg_fin_type = {"RGFin", node_traverse, node_clear, rg_finalize, NULL,
                                      rg_destroy};

/* Looped: _i 0 runs the program's copy of the passes (librcgc_nonshared.a),
 * 1 the library's own. */
START_TEST(test_delete_random_graphs)
{
    static node *obj[RG_MAX];
    static int adj[RG_MAX][NREFS], root[RG_MAX], reach[RG_MAX], stack[RG_MAX];
    ck_assert_ptr_eq(tm__gc.passes, &rcgc__nonshared_passes);
    if (_i == 1)
        rcgc__passes_drop(&rcgc__nonshared_passes);
    rg_seed = 0x9e3779b9u;
    for (int trial = 0; trial < 300; trial++) {
        int n = 1 + (int)(rg_rand() % RG_MAX);
        int young = trial % 3 == 1; /* collect generation 0 only */
        int fins = trial % 5 == 4;  /* some objects with a finalizer */
        int far = trial % 4 == 3;   /* some objects far from the others */
        int half = young ? n / 2 : 0;
        memset(rg_dead, 0, sizeof rg_dead);
        for (int i = 0; i < n; i++) {
            const rcgc_type *t = fins && rg_rand() % 7 == 0 ? &rg_fin_type : &rg_type;
            if (far && rg_rand() % 16 == 0) {
                /* a big object: malloc maps it terabytes from the pools,
                 * too far for the first pass to record it as a parent */
                obj[i] = rcgc_new(t, 256 * 1024);
                ck_assert_ptr_nonnull(obj[i]);
            } else {
                obj[i] = new_node(t);
            }
            obj[i]->id = i;
            if (young && i + 1 == half)
                ck_assert_int_eq(rcgc_collect(0), 0); /* objects 0..half-1 to generation 1 */
        }
        for (int i = 0; i < n; i++) {
            int k = (int)(rg_rand() % (NREFS + 1));
            for (int j = 0; j < NREFS; j++) {
                /* mostly near targets (lists, trees), some anywhere */
                int t = rg_rand() % 4 ? (i + 1 + (int)(rg_rand() % 8)) % n : (int)(rg_rand() % n);
                adj[i][j] = j < k ? t : -1;
                if (j < k)
                    set_ref(obj[i], j, obj[t]);
            }
            root[i] = rg_rand() % 10 == 0 || i < half; /* older objects are roots */
        }
        /* what the roots reach (the collection under test must not free it) */
        int sp = 0, nreach = 0;
        for (int i = 0; i < n; i++) {
            reach[i] = root[i];
            if (root[i])
                stack[sp++] = i;
        }
        while (sp) {
            int i = stack[--sp];
            for (int j = 0; j < NREFS; j++) {
                int t = adj[i][j];
                if (t >= 0 && !reach[t]) {
                    reach[t] = 1;
                    stack[sp++] = t;
                }
            }
        }
        /* drop the references of all but the roots (old objects are
         * roots: they keep theirs); counting alone frees what is in no
         * cycle, and only unreachable objects */
        int counted = 0;
        for (int i = 0; i < n; i++) {
            nreach += reach[i];
            if (!root[i])
                rcgc_decref(obj[i]);
        }
        for (int i = 0; i < n; i++) {
            ck_assert(rg_dead[i] <= !reach[i]);
            counted += rg_dead[i];
        }
        long found = rcgc_collect(young ? 0 : 2);
        ck_assert_int_eq(found, n - nreach - counted);
        for (int i = 0; i < n; i++) {
            ck_assert_msg(rg_dead[i] == !reach[i], "trial %d object %d of %d: dead %d, reachable %d",
                          trial, i, n, rg_dead[i], reach[i]);
            if (reach[i])
                for (int j = 0; j < NREFS; j++)
                    ck_assert_ptr_eq(obj[i]->ref[j], adj[i][j] >= 0 ? obj[adj[i][j]] : NULL);
        }
        for (int i = 0; i < n; i++)
            if (root[i])
                rcgc_decref(obj[i]);
        rcgc_collect(2);
        for (int i = 0; i < n; i++)
            ck_assert_int_eq(rg_dead[i], 1);
    }
    ck_assert_ptr_eq(tm__gc.passes, _i == 1 ? NULL : &rcgc__nonshared_passes);
    ck_assert_int_eq(rcgc__passes_use(&rcgc__nonshared_passes), _i == 1);
}
END_TEST

/* passes.h: the program's copy of the passes is registered at startup; a
 * second copy, or one of another ABI, is refused; dropping the copy in use
 * falls back to the library's own, dropping another changes nothing. */
START_TEST(test_passes_registration)
{
    ck_assert_ptr_eq(tm__gc.passes, &rcgc__nonshared_passes);
    ck_assert_ptr_ne(&rcgc__nonshared_passes, &tm__gc_builtin_passes);
    ck_assert_int_eq(rcgc__passes_use(&tm__gc_builtin_passes), 0);
    rcgc__passes_drop(&tm__gc_builtin_passes);
    ck_assert_ptr_eq(tm__gc.passes, &rcgc__nonshared_passes);
    garbage_pair(&tuple_type, &tuple_type, NULL, NULL);
    ck_assert_int_eq(rcgc_collect(2), 2);

    rcgc__passes_drop(&rcgc__nonshared_passes);
    ck_assert_ptr_null(tm__gc.passes);
    garbage_pair(&tuple_type, &tuple_type, NULL, NULL);
    ck_assert_int_eq(rcgc_collect(2), 2);

    gcpasses other = rcgc__nonshared_passes;
    other.abi = GC_PASSES_ABI + 1;
    ck_assert_int_eq(rcgc__passes_use(&other), 0);
    ck_assert_ptr_null(tm__gc.passes);
    ck_assert_int_eq(rcgc__passes_use(&rcgc__nonshared_passes), 1);
    ck_assert_ptr_eq(tm__gc.passes, &rcgc__nonshared_passes);
}
END_TEST

/* rcgc.h's inline incref/decref and the library's functions agree */
START_TEST(test_inline_refcount)
{
    node *a = new_node(&tuple_type);
    ck_assert_uint_eq(RCGC_REFCNT(a), 1);
    rcgc_incref(a);
    (rcgc_incref)(a);
    ck_assert_uint_eq(rcgc_refcount(a), 3);
    ck_assert_uint_eq(RCGC_REFCNT(a), 3);
    (rcgc_decref)(a);
    rcgc_decref(a);
    ck_assert_uint_eq(rcgc_refcount(a), 1);
    void (*fn)(void *) = rcgc_decref; /* the function, not the macro */
    fn(a);
    ck_assert_int_eq(destroyed, 1);
    rcgc_incref(NULL);
    rcgc_decref(NULL);
}
END_TEST

/* --- the tracemem section --- */

START_TEST(test_gc_section_json)
{
    node *x = new_node(&list_type), *y = new_node(&list_type), *z = new_node(&list_type);
    rcgc_decref(self_cycle(&list_type));
    rcgc_collect(2);
    rcgc_set_debug(RCGC_DEBUG_SAVEALL);
    rcgc_decref(self_cycle(&tuple_type));
    rcgc_collect(1);
    rcgc_set_debug(0);

    char small[16];
    size_t n = tm__gc_section(small, sizeof small, NULL);
    ck_assert_uint_gt(n, sizeof small);
    ck_assert_uint_eq(strlen(small), sizeof small - 1); /* truncated, terminated */
    char *buf = malloc(n + 1);
    ck_assert_uint_eq(tm__gc_section(buf, n + 1, NULL), n);
    ck_assert_uint_eq(strlen(buf), n);
    json_error_t e;
    json_t *gc = json_loads(buf, 0, &e);
    ck_assert_msg(gc != NULL, "invalid JSON: %s: %s", e.text, buf);
    ck_assert(json_is_false(json_object_get(gc, "enabled")));
    json_t *t = json_object_get(gc, "thresholds");
    ck_assert_int_eq(json_integer_value(json_array_get(t, 0)), 700);
    ck_assert_int_eq(json_integer_value(json_array_get(t, 2)), 10);
    long c[3];
    rcgc_get_count(c);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(gc, "counts"), 2)), c[2]);
    rcgc_gen_stats s[3];
    rcgc_get_stats(s);
    json_t *g = json_array_get(json_object_get(gc, "generations"), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(g, "collections")), (json_int_t)s[2].collections);
    ck_assert_int_eq(json_integer_value(json_object_get(g, "collected")), (json_int_t)s[2].collected);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(gc, "generations") ? json_array_get(json_object_get(gc, "generations"), 1) : NULL, "collected")),
                     (json_int_t)s[1].collected);
    ck_assert_int_eq(json_integer_value(json_object_get(gc, "garbage")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(gc, "frozen")), 0);
    /* the mode and the pause figures, as rcgc_get_pause_stats has them */
    ck_assert(json_is_boolean(json_object_get(gc, "incremental")));
    ck_assert_int_eq(json_is_true(json_object_get(gc, "incremental")), incremental_mode);
    ck_assert_int_eq(json_integer_value(json_object_get(gc, "old_scans")), (json_int_t)tm__gc.old_scans);
    rcgc_pause_stats ps[3];
    rcgc_get_pause_stats(ps);
    json_t *pauses = json_object_get(gc, "pauses");
    ck_assert_uint_eq(json_array_size(pauses), 3);
    for (size_t k = 0; k < 3; k++) {
        json_t *p = json_array_get(pauses, k), *b;
        ck_assert_int_eq(json_integer_value(json_object_get(p, "count")), (json_int_t)ps[k].count);
        ck_assert(fabs(json_real_value(json_object_get(p, "max")) - ps[k].max) < 1e-9);
        ck_assert(fabs(json_real_value(json_object_get(p, "p50")) - ps[k].p50) < 1e-9);
        ck_assert(fabs(json_real_value(json_object_get(p, "p99")) - ps[k].p99) < 1e-9);
        json_int_t sum = 0;
        size_t j;
        json_array_foreach(json_object_get(p, "histogram"), j, b) {
            ck_assert_int_gt(json_integer_value(json_object_get(b, "count")), 0);
            sum += json_integer_value(json_object_get(b, "count"));
        }
        ck_assert_int_eq(sum, (json_int_t)ps[k].count);
    }
    ck_assert_uint_ge(ps[1].count, 1);
    ck_assert_uint_ge(ps[2].count, 1);
    size_t i;
    json_t *v;
    int seen_list = 0, seen_tuple = 0;
    json_array_foreach(json_object_get(gc, "types"), i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        json_int_t count = json_integer_value(json_object_get(v, "count"));
        json_int_t bytes = json_integer_value(json_object_get(v, "bytes"));
        if (!strcmp(name, "list")) {
            seen_list = 1;
            ck_assert_int_eq(count, 3);
            ck_assert_int_eq(bytes, 3 * ((24 + (json_int_t)sizeof(node) + 15) / 16 * 16));
        } else if (!strcmp(name, "tuple")) {
            seen_tuple = 1;
            ck_assert_int_eq(count, 1); /* kept by SAVEALL */
        }
    }
    ck_assert(seen_list && seen_tuple);
    json_t *events = json_object_get(gc, "events");
    ck_assert_uint_ge(json_array_size(events), 2);
    json_t *last = json_array_get(events, json_array_size(events) - 1);
    ck_assert_int_eq(json_integer_value(json_object_get(last, "generation")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(last, "collected")), 1);
    ck_assert(json_real_value(json_object_get(last, "time")) > 1.6e9);
    json_t *prev = json_array_get(events, json_array_size(events) - 2);
    ck_assert_int_eq(json_integer_value(json_object_get(prev, "generation")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(prev, "collected")), 1);
    json_decref(gc);
    free(buf);
    rcgc_decref(x);
    rcgc_decref(y);
    rcgc_decref(z);
}
END_TEST

/* --- the incremental mode --- */

START_TEST(test_inc_mode_switch)
{
    rcgc_set_incremental(1);
    ck_assert_int_eq(rcgc_is_incremental(), 1);
    ck_assert_int_eq(rcgc_set_incremental(0), 1);
    ck_assert_int_eq(rcgc_is_incremental(), 0);
    ck_assert_int_eq(rcgc_set_incremental(5), 0);
    ck_assert_int_eq(rcgc_is_incremental(), 1);
}
END_TEST

/* young survivors go to the half of the old generation scanned already;
 * an increment scans the other half, and the halves swap when it is
 * empty */
START_TEST(test_inc_generations)
{
    rcgc_set_incremental(1);
    rcgc_gen_stats old[3], now[3];
    rcgc_collect(2); /* the whole old generation is scanned: generation 2 */
    node *x = self_cycle(&list_type);
    ck_assert(in_generation(x, 0) && !in_generation(x, 1) && !in_generation(x, 2));
    ck_assert_int_eq(rcgc_collect(0), 0);
    ck_assert(!in_generation(x, 0) && !in_generation(x, 1) && in_generation(x, 2));
    rcgc_get_stats(old);
    uint64_t scans = tm__gc.old_scans;
    long c[3];
    ck_assert_int_eq(rcgc_collect(1), 0); /* a new scan: x is pending, scanned */
    ck_assert_uint_eq(tm__gc.old_scans, scans + 1);
    ck_assert(!in_generation(x, 0) && in_generation(x, 1) && !in_generation(x, 2));
    rcgc_get_count(c);
    ck_assert_int_eq(c[0], 0);
    ck_assert_int_eq(c[1], 1);
    ck_assert_int_eq(c[2], 1);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[1].collections, old[1].collections + 1);
    ck_assert_uint_eq(now[0].collections, old[0].collections);
    ck_assert_uint_eq(now[2].collections, old[2].collections);
    ck_assert_int_eq(rcgc_collect(1), 0);
    ck_assert_uint_eq(tm__gc.old_scans, scans + 2);
    ck_assert(!in_generation(x, 0) && !in_generation(x, 1) && in_generation(x, 2));
    /* garbage in the old generation: found by the next increment that
     * reaches it */
    rcgc_decref(x);
    ck_assert_int_eq(destroyed, 0);
    long found = 0;
    for (int i = 0; i < 2 && !found; i++)
        found = rcgc_collect(1);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(destroyed, 1);
    rcgc_collect(2);
    rcgc_get_count(c);
    ck_assert_int_eq(c[1], 0);
    ck_assert_int_eq(c[2], 0);
}
END_TEST

/* an automatic collection is an increment: generation 1 */
START_TEST(test_inc_threshold_automatic)
{
    rcgc_set_incremental(1);
    static node *keep[11];
    rcgc_gen_stats old[3], now[3];
    rcgc_set_threshold(10, 10, 10);
    rcgc_enable();
    rcgc_get_stats(old);
    for (int i = 0; i < 10; i++)
        keep[i] = new_node(&list_type);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[1].collections, old[1].collections);
    keep[10] = new_node(&list_type);
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[1].collections, old[1].collections + 1);
    ck_assert_uint_eq(now[0].collections, old[0].collections);
    ck_assert_uint_eq(now[2].collections, old[2].collections);
    rcgc_disable();
    for (int i = 0; i < 11; i++)
        rcgc_decref(keep[i]);
}
END_TEST

static long inc_visits, inc_generation1;
static double inc_seconds;
static void inc_cb(rcgc_phase phase, const rcgc_info *info, void *arg)
{
    (void)arg;
    if (phase != RCGC_STOP)
        return;
    inc_visits++;
    inc_generation1 += info->generation == 1;
    inc_seconds += info->seconds;
}

/* each increment is a collection for the callbacks, with its own time;
 * the pause figures count the same collections */
START_TEST(test_inc_callbacks_and_pauses)
{
    rcgc_set_incremental(1);
    rcgc_collect(2);
    rcgc_reset_pause_stats();
    rcgc_pause_stats ps[3];
    rcgc_get_pause_stats(ps);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(ps[i].count, 0);
        ck_assert(ps[i].max == 0 && ps[i].p50 == 0 && ps[i].seconds == 0);
    }
    static node *keep[5000];
    for (int i = 0; i < 5000; i++) {
        keep[i] = new_node(&list_type);
        if (i)
            set_ref(keep[i], 0, keep[i - 1]);
    }
    ck_assert_int_eq(rcgc_callback_add(inc_cb, NULL), 0);
    rcgc_set_threshold(100, 10, 10);
    rcgc_enable();
    inc_visits = inc_generation1 = 0;
    inc_seconds = 0;
    for (int i = 0; i < 3000; i++)
        rcgc_decref(self_cycle(&list_type));
    rcgc_disable();
    ck_assert_int_eq(rcgc_callback_remove(inc_cb, NULL), 0);
    ck_assert_int_ge(inc_visits, 25);
    ck_assert_int_eq(inc_generation1, inc_visits);
    rcgc_get_pause_stats(ps);
    ck_assert_uint_eq(ps[1].count, (uint64_t)inc_visits);
    ck_assert_uint_eq(ps[0].count, 0);
    ck_assert_uint_eq(ps[2].count, 0);
    ck_assert(ps[1].max > 0);
    ck_assert(ps[1].p50 > 0 && ps[1].p50 <= ps[1].p90 && ps[1].p90 <= ps[1].p99 &&
              ps[1].p99 <= ps[1].max);
    ck_assert(ps[1].max <= ps[1].seconds);
    /* the callbacks' seconds are the pauses recorded */
    ck_assert(fabs(ps[1].seconds - inc_seconds) < 1e-6);
    rcgc_collect(2);
    rcgc_get_pause_stats(ps);
    ck_assert_uint_eq(ps[2].count, 1);
    ck_assert(ps[2].max == ps[2].seconds && ps[2].p50 <= ps[2].max);
    for (int i = 4999; i >= 0; i--)
        rcgc_decref(keep[i]);
}
END_TEST

/* The pause histogram's buckets and percentiles. */
START_TEST(test_inc_pause_percentiles)
{
    for (unsigned b = 8 * PAUSE_SUB; b < PAUSE_BUCKETS; b++) /* from 256 ns */
        ck_assert_uint_gt(tm__gc_pause_bound(b), tm__gc_pause_bound(b - 1));
    ck_assert_uint_eq(tm__gc_pause_bound(4 * PAUSE_SUB - 1), 16);
    rcgc_reset_pause_stats();
    /* 100 pauses: 1..100 us */
    for (int i = 1; i <= 100; i++)
        tm__gc_publish(0, 0, 0, (uint64_t)i * 1000);
    rcgc_pause_stats ps[3];
    rcgc_get_pause_stats(ps);
    ck_assert_uint_eq(ps[0].count, 100);
    ck_assert(fabs(ps[0].seconds - 5050e-6) < 1e-9);
    ck_assert(fabs(ps[0].max - 100e-6) < 1e-12);
    /* within a bucket (19 %) above the true value, never below it */
    ck_assert_msg(ps[0].p50 >= 50e-6 && ps[0].p50 <= 50e-6 * 1.19, "p50 %g", ps[0].p50);
    ck_assert_msg(ps[0].p90 >= 90e-6 && ps[0].p90 <= 100e-6, "p90 %g", ps[0].p90);
    ck_assert_msg(ps[0].p99 >= 99e-6 && ps[0].p99 <= 100e-6, "p99 %g", ps[0].p99);
    rcgc_reset_pause_stats();
}
END_TEST

/* Runs increments until 'passes' more passes over the old generation
 * are complete; returns what they found. */
static long increments_for(int passes)
{
    uint64_t scans = tm__gc.old_scans;
    long found = 0;
    for (int i = 0; i < 100000 && tm__gc.old_scans < scans + (uint64_t)passes; i++)
        found += rcgc_collect(1);
    ck_assert_uint_ge(tm__gc.old_scans, scans + (uint64_t)passes);
    return found;
}

static void inc_wr_cb(rcgc_weakref *ref, void *arg)
{
    (void)ref;
    (*(int *)arg)++;
}

static void one_increment(void *arg)
{
    *(long *)arg = rcgc_collect(1);
}

/* Garbage of the old generation found by increments, not by a full
 * collection: PEP 442 finalizers and resurrection, weak references and
 * their callbacks, legacy finalizers and the garbage list, SAVEALL and
 * DEBUG_STATS behave as in a full collection. */
START_TEST(test_inc_semantics_in_increments)
{
    rcgc_set_incremental(1);
    enum { FILL = 3000 };
    static node *fill[FILL];
    for (int i = 0; i < FILL; i++) {
        fill[i] = new_node(&tuple_type);
        if (i)
            set_ref(fill[i], 0, fill[i - 1]);
    }
    rcgc_collect(2);
    rcgc_gen_stats st0[3], st1[3];

    /* resurrection: found, finalized once, not counted, alive */
    node *l = new_node(&lazarus_type), *b = new_node(&list_type);
    set_ref(l, 0, b);
    set_ref(b, 0, l);
    rcgc_collect(0); /* both old */
    rcgc_decref(l);
    rcgc_decref(b);
    ck_assert_int_eq(increments_for(3), 0);
    ck_assert_int_eq(finalized, 1);
    ck_assert_int_eq(nstorage, 1);
    ck_assert_ptr_eq(storage[0], l);
    ck_assert_int_eq(destroyed, 0);
    ck_assert_ptr_eq(l->ref[0], b);
    /* dropped again: the finalizer does not run twice, both are freed */
    nstorage = 0;
    rcgc_decref(l);
    ck_assert_int_eq(increments_for(3), 2);
    ck_assert_int_eq(finalized, 1);
    ck_assert_int_eq(destroyed, 2);

    /* weak references: to garbage, cleared with its callback; one that is
     * garbage itself, cleared without */
    int calls = 0, calls_garbage = 0;
    node *c = self_cycle(&list_type), *d = self_cycle(&list_type);
    rcgc_weakref *w = rcgc_weakref_new(c, inc_wr_cb, &calls);
    rcgc_weakref *wd = rcgc_weakref_new(d, inc_wr_cb, &calls_garbage);
    set_ref(d, 1, wd);
    rcgc_decref(wd);
    rcgc_collect(0);
    rcgc_decref(c);
    rcgc_decref(d);
    ck_assert_int_eq(increments_for(3), 3); /* c, d and d's weak reference */
    ck_assert_ptr_null(rcgc_weakref_get(w));
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(calls_garbage, 0);
    rcgc_decref(w);

    /* a legacy finalizer: uncollectable, to the garbage list, counted in
     * generation 1 */
    rcgc_get_stats(st0);
    node *a1 = new_node(&legacy_type), *a2 = new_node(&list_type);
    set_ref(a1, 0, a2);
    set_ref(a2, 0, a1);
    rcgc_collect(0);
    rcgc_decref(a1);
    rcgc_decref(a2);
    ck_assert_int_eq(increments_for(3), 2);
    ck_assert_uint_eq(rcgc_garbage_count(), 1); /* the object with the legacy_del */
    ck_assert_ptr_eq(rcgc_garbage_get(0), a1);
    ck_assert_int_eq(legacy_calls, 0);
    rcgc_get_stats(st1);
    ck_assert_uint_eq(st1[1].uncollectable, st0[1].uncollectable + 2);
    ck_assert_uint_eq(st1[2].collections, st0[2].collections);
    rcgc_garbage_clear(); /* back to the old generation, still a cycle */
    ck_assert_int_eq(increments_for(3), 2);
    ck_assert_uint_eq(rcgc_garbage_count(), 1);
    ck_assert_ptr_eq(rcgc_garbage_get(0), a1);
    /* broken by hand, then counting frees them */
    set_ref(a1, 0, NULL);
    rcgc_garbage_clear();
    ck_assert_int_eq(legacy_calls, 1); /* a1's __del__ at its death */

    /* SAVEALL: plain garbage goes to the list too */
    rcgc_set_debug(RCGC_DEBUG_SAVEALL);
    node *e = self_cycle(&list_type);
    rcgc_collect(0);
    rcgc_decref(e);
    ck_assert_int_eq(increments_for(3), 1);
    ck_assert_uint_eq(rcgc_garbage_count(), 1);
    ck_assert_ptr_eq(rcgc_garbage_get(0), e);
    rcgc_set_debug(0);
    rcgc_garbage_clear();
    ck_assert_int_eq(increments_for(3), 1);
    ck_assert_uint_eq(rcgc_garbage_count(), 0);

    /* DEBUG_STATS: an increment is a collection of generation 1 */
    rcgc_set_debug(RCGC_DEBUG_STATS);
    long found = -1;
    const char *err = capture_stderr(one_increment, &found);
    rcgc_set_debug(0);
    ck_assert_int_eq(found, 0);
    ck_assert_ptr_nonnull(strstr(err, "gc: collecting generation 1...\n"));
    ck_assert_ptr_nonnull(strstr(err, "gc: done, "));

    for (int i = FILL - 1; i >= 0; i--)
        rcgc_decref(fill[i]);
}
END_TEST

/* An increment cut at inc_limit can miss a cycle larger than that; when
 * the old generation then doubles, a full collection finds it. A steady
 * heap gets no full collection, cuts or not. */
START_TEST(test_inc_cut_falls_back_to_full)
{
    rcgc_set_incremental(1);
    enum { LIVE = 1000, RING = 200, MORE = 1500 };
    static node *live[LIVE], *more[MORE];
    for (int i = 0; i < LIVE; i++) {
        live[i] = new_node(&list_type);
        if (i)
            set_ref(live[i - 1], 0, live[i]);
    }
    node *first = new_node(&list_type), *last = first;
    for (int i = 1; i < RING; i++) {
        node *x = new_node(&list_type);
        set_ref(last, 0, x);
        rcgc_decref(x);
        last = x;
    }
    set_ref(last, 0, first);
    rcgc_collect(2); /* the chain and the ring: 1200 old objects */
    ck_assert_uint_eq(tm__gc.base_pass, LIVE + RING);
    rcgc_decref(first); /* the ring is garbage in the old generation */
    tm__gc.inc_limit = 20;
    rcgc_gen_stats old[3], now[3];
    rcgc_get_stats(old);
    /* increments only: each takes at most 20 old objects, the ring is
     * never whole in one */
    uint64_t scans = tm__gc.old_scans;
    for (int i = 0; i < 300; i++)
        rcgc_collect(1);
    ck_assert_uint_ge(tm__gc.old_scans, scans + 3);
    ck_assert_int_eq(tm__gc.inc_cut, 1);
    ck_assert_int_eq(destroyed, 0);
    ck_assert_uint_eq(tm__gc.last_pass, LIVE + RING);
    /* steady: garbage that dies young, passes of the same size: no full
     * collection */
    rcgc_set_threshold(5, 10, 10);
    rcgc_enable();
    scans = tm__gc.old_scans;
    for (int i = 0; i < 5000; i++)
        rcgc_decref(self_cycle(&list_type));
    ck_assert_uint_ge(tm__gc.old_scans, scans + 2);
    rcgc_collect(0); /* the last ones, still young */
    rcgc_get_stats(now);
    ck_assert_uint_eq(now[2].collections, old[2].collections);
    ck_assert_int_eq(destroyed, 5000);
    /* the old generation doubles: a full collection comes, the ring goes */
    for (int i = 0; i < MORE; i++)
        more[i] = new_node(&list_type);
    rcgc_get_stats(now);
    int iters = 0;
    for (; iters < 50000 && now[2].collections == old[2].collections; iters++) {
        rcgc_decref(self_cycle(&list_type)); /* garbage that dies young */
        rcgc_get_stats(now);
    }
    rcgc_disable();
    rcgc_collect(0);
    ck_assert_uint_eq(now[2].collections, old[2].collections + 1);
    ck_assert_int_eq(destroyed, 5000 + RING + iters);
    ck_assert_int_eq(tm__gc.inc_cut, 0);
    ck_assert_uint_eq(tm__gc.base_pass, LIVE + MORE);
    for (int i = 0; i < LIVE; i++)
        rcgc_decref(live[i]);
    for (int i = 0; i < MORE; i++)
        rcgc_decref(more[i]);
}
END_TEST

/* Random graphs mutated between increments, against a model: after every
 * collection, no object the model reaches is freed (and its references
 * are intact); with no mutation, the increments free all garbage within
 * two scans of the old generation, as much as a full collection frees. */
#define IM 1500
static int im_dead[IM];
static void im_destroy(void *self)
{
    im_dead[((node *)self)->id]++;
}
static const rcgc_type im_type = {"IM", node_traverse, node_clear, NULL, NULL, im_destroy};
static const rcgc_type im_fin_type = {"IMFin", node_traverse, node_clear, rg_finalize, NULL,
                                      im_destroy};

typedef struct im_model {
    node *obj[IM];
    int adj[IM][NREFS], roots[IM], reach[IM], stack[IM];
    int n;
} im_model;

static void im_reach(im_model *m)
{
    int sp = 0;
    for (int i = 0; i < m->n; i++) {
        m->reach[i] = m->roots[i] > 0;
        if (m->reach[i])
            m->stack[sp++] = i;
    }
    while (sp) {
        int i = m->stack[--sp];
        for (int j = 0; j < NREFS; j++) {
            int t = m->adj[i][j];
            if (t >= 0 && !m->reach[t]) {
                m->reach[t] = 1;
                m->stack[sp++] = t;
            }
        }
    }
}

/* a random object the program can reach, or -1 */
static int im_pick(im_model *m, unsigned want_gen)
{
    for (int tries = 0; tries < 50 && m->n; tries++) {
        int i = (int)(rg_rand() % (unsigned)m->n);
        if (m->reach[i] && (want_gen > 3 || gc_gen(AS_HEAD(m->obj[i])) == want_gen))
            return i;
    }
    return -1;
}

static void im_link(im_model *m, int i, int j, int t)
{
    set_ref(m->obj[i], j, t >= 0 ? m->obj[t] : NULL);
    m->adj[i][j] = t;
    im_reach(m);
}

/* (plain tests, not ck_assert: Check writes to its pipe for each
 * assertion, and this runs for every object after every collection) */
static void im_check(im_model *m, int trial, int round)
{
    for (int i = 0; i < m->n; i++) {
        if (im_dead[i] > 1)
            ck_abort_msg("trial %d: object %d freed twice", trial, i);
        if (!m->reach[i])
            continue;
        if (im_dead[i])
            ck_abort_msg("trial %d round %d: live object %d of %d freed", trial, round, i, m->n);
        for (int j = 0; j < NREFS; j++)
            if (m->obj[i]->ref[j] != (m->adj[i][j] >= 0 ? m->obj[m->adj[i][j]] : NULL))
                ck_abort_msg("trial %d round %d: object %d lost reference %d", trial, round, i, j);
    }
}

START_TEST(test_inc_random_mutations)
{
    static im_model m;
    rcgc_set_incremental(1);
    rg_seed = 0x2545f491u;
    static const size_t limits[] = {RCGC_INCREMENT_LIMIT, 3, 20, 200};
    static const long t0s[] = {5, 50, 700};
    int cuts = 0, clean = 0;
    for (int trial = 0; trial < 36; trial++) {
        memset(&m, 0, sizeof m);
        memset(im_dead, 0, sizeof im_dead);
        tm__gc.inc_limit = limits[trial % 4];
        rcgc_set_threshold(t0s[trial % 3], 10, 10);
        rcgc_collect(2);
        tm__gc.inc_cut = 0;
        int fins = trial % 5 == 2;
        for (int round = 0; round < 50; round++) {
            /* new objects: the young generation of the next collection,
             * linked to anything reachable, old or young */
            int k = (int)(rg_rand() % 40);
            for (int c = 0; c < k && m.n < IM; c++) {
                int i = m.n++;
                m.obj[i] = new_node(fins && rg_rand() % 6 == 0 ? &im_fin_type : &im_type);
                m.obj[i]->id = i;
                m.roots[i] = 1;
                for (int j = 0; j < NREFS; j++)
                    m.adj[i][j] = -1;
                im_reach(&m);
                for (int j = 0; j < NREFS; j++)
                    if (rg_rand() % 2)
                        im_link(&m, i, j, im_pick(&m, 9));
            }
            /* cycles between young objects and objects this scan of the
             * old generation has collected already (and those it has not) */
            for (int c = 0; c < 4; c++) {
                int v = im_pick(&m, c % 2 ? tm__gc.visited : NUM_GENERATIONS - tm__gc.visited);
                int y = im_pick(&m, 0);
                if (v >= 0 && y >= 0) {
                    im_link(&m, v, (int)(rg_rand() % NREFS), y);
                    im_link(&m, y, (int)(rg_rand() % NREFS), v);
                }
            }
            /* mutations of reachable objects, roots dropped and taken */
            int muts = (int)(rg_rand() % 30);
            for (int c = 0; c < muts; c++) {
                int i = im_pick(&m, 9);
                if (i < 0)
                    break;
                unsigned what = rg_rand() % 8;
                if (what < 4) {
                    im_link(&m, i, (int)(rg_rand() % NREFS), rg_rand() % 5 ? im_pick(&m, 9) : -1);
                } else if (what < 6) {
                    int r = (int)(rg_rand() % (unsigned)m.n);
                    if (m.roots[r] > 0) {
                        m.roots[r]--;
                        rcgc_decref(m.obj[r]);
                        im_reach(&m);
                    }
                } else if (m.roots[i] < 3) {
                    m.roots[i]++;
                    rcgc_incref(m.obj[i]);
                }
            }
            im_check(&m, trial, round);
            rcgc_collect(rg_rand() % 10 ? 1 : 0);
            im_check(&m, trial, round);
        }
        /* no more mutations: the increments find all garbage within two
         * scans, unless one was cut; then a full collection does */
        uint64_t scans = tm__gc.old_scans;
        for (int i = 0; i < 100000 && tm__gc.old_scans < scans + 3; i++)
            rcgc_collect(1);
        ck_assert_uint_ge(tm__gc.old_scans, scans + 3);
        im_check(&m, trial, -1);
        int cut = tm__gc.inc_cut;
        long full = rcgc_collect(2);
        if (!cut || full == 0) {
            clean++;
            for (int i = 0; i < m.n; i++)
                if (im_dead[i] != !m.reach[i])
                    ck_abort_msg("trial %d: garbage %d not found by the increments", trial, i);
        }
        if (cut) {
            cuts++;
        } else {
            ck_assert_int_eq(full, 0); /* nothing left for the full collection */
        }
        for (int i = 0; i < m.n; i++)
            if (im_dead[i] != !m.reach[i])
                ck_abort_msg("trial %d: object %d: dead %d, reachable %d", trial, i, im_dead[i],
                             m.reach[i]);
        for (int i = 0; i < m.n; i++)
            while (m.roots[i]-- > 0)
                rcgc_decref(m.obj[i]);
        rcgc_collect(2);
        for (int i = 0; i < m.n; i++)
            if (im_dead[i] != 1)
                ck_abort_msg("trial %d: object %d not freed at the end", trial, i);
    }
    /* both kinds of trial ran */
    ck_assert_int_gt(cuts, 0);
    ck_assert_int_gt(clean, 0);
}
END_TEST

static Suite *rcgc_suite(const char *name)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create("gc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_gc_list);
    tcase_add_test(tc, test_gc_tuple);
    tcase_add_test(tc, test_gc_newinstance);
    tcase_add_test(tc, test_gc_legacy_finalizer);
    tcase_add_test(tc, test_gc_legacy_finalizer_reachable);
    tcase_add_test(tc, test_gc_saveall);
    tcase_add_test(tc, test_gc_del);
    tcase_add_test(tc, test_gc_get_count);
    tcase_add_test(tc, test_gc_collect_generations);
    tcase_add_test(tc, test_gc_get_objects);
    tcase_add_test(tc, test_gc_get_stats);
    tcase_add_test(tc, test_gc_freeze);
    tcase_add_test(tc, test_gc_is_tracked);
    tcase_add_test(tc, test_gc_object_layout);
    tcase_add_test(tc, test_gc_is_finalized);
    tcase_add_test(tc, test_gc_get_referents);
    tcase_add_test(tc, test_gc_threshold_automatic);
    tcase_add_test(tc, test_gc_long_lived_pending_rule);
    tcase_add_test(tc, test_gc_debug_output);
    tcase_add_test(tc, test_gc_refcount_errors);
    tcase_add_test(tc, test_gc_nested_collect_returns_zero);
    tcase_add_test(tc, test_gc_section_json);
    suite_add_tcase(s, tc);

    tc = tcase_create("deep");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_gc_trashcan);
    tcase_add_test(tc, test_gc_trashcan_ring);
    suite_add_tcase(s, tc);

    tc = tcase_create("delete");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_delete_order_and_counts);
    tcase_add_test(tc, test_delete_clear_untracks);
    tcase_add_test(tc, test_delete_clear_resurrects);
    tcase_add_test(tc, test_delete_extra_decref);
    tcase_add_test(tc, test_delete_weakref_made_in_clear);
    tcase_add_test(tc, test_inline_refcount);
    tcase_add_loop_test(tc, test_delete_random_graphs, 0, 2);
    tcase_add_test(tc, test_passes_registration);
    suite_add_tcase(s, tc);

    tc = tcase_create("finalization");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_gc_resurrection_does_not_block_cleanup_of_other_objects);
    tcase_add_test(tc, test_finalization_selfcycle_simple);
    tcase_add_test(tc, test_finalization_selfcycle_simple_resurrect);
    tcase_add_test(tc, test_finalization_non_gc);
    tcase_add_test(tc, test_finalization_cycle_chain);
    suite_add_tcase(s, tc);

    tc = tcase_create("weakref");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_weakref_basic_callback);
    tcase_add_test(tc, test_gc_bug1055820b);
    tcase_add_test(tc, test_weakref_callback_in_cycle);
    suite_add_tcase(s, tc);

    tc = tcase_create("incremental");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_inc_mode_switch);
    tcase_add_test(tc, test_inc_generations);
    tcase_add_test(tc, test_inc_threshold_automatic);
    tcase_add_test(tc, test_inc_callbacks_and_pauses);
    tcase_add_test(tc, test_inc_pause_percentiles);
    tcase_add_test(tc, test_inc_semantics_in_increments);
    tcase_add_test(tc, test_inc_cut_falls_back_to_full);
    tcase_add_test(tc, test_inc_random_mutations);
    suite_add_tcase(s, tc);

    tc = tcase_create("callbacks");
    tcase_add_checked_fixture(tc, callbacks_setup, callbacks_teardown);
    tcase_add_test(tc, test_gc_callback_collect);
    tcase_add_test(tc, test_gc_callback_collect_generation);
    tcase_add_test(tc, test_gc_callback_collect_garbage);
    suite_add_tcase(s, tc);
    return s;
}

/* The whole suite twice: in the incremental mode (the default) and in the
 * classic one; each test's setup sets the mode (the tests run in forked
 * children, which inherit incremental_mode). */
int main(void)
{
    int failed = 0;
    for (int mode = 1; mode >= 0; mode--) {
        incremental_mode = mode;
        SRunner *sr = srunner_create(rcgc_suite(mode ? "rcgc (incremental)" : "rcgc (classic)"));
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
