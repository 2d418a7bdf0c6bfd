/* rcgc_graph.c - a tour of librcgc: object graphs with cycles, a cache of
 * weak references, a finalizer, and what tracemem shows of them.
 *
 * Run it alone, or under tracemem to see the collector's "gc" section:
 *     tracemem run -o graph.%n.json ./rcgc_graph
 *     tracemem gc graph.1.json
 *     tracemem diff graph.1.json graph.2.json
 *
 * Phase 1 builds a document of trees whose nodes point back to their parent
 * (every parent/child pair is a reference cycle) and snapshots. Phase 2
 * drops half of the documents, fills a weak cache, makes a cycle that holds
 * a resource with a finalizer, and snapshots again. Phase 3 lets the
 * collector reclaim everything.
 */
#include <stdio.h>
#include <string.h>

#include <rcgc.h>
#include <tracemem.h>

/* --- a tree node: children are owned, the parent link too (a cycle) --- */

#define MAX_CHILDREN 4
typedef struct node {
    struct node *parent;
    struct node *child[MAX_CHILDREN];
    struct resource *res;
    int id;
} node;

static int node_traverse(void *self, rcgc_visit_fn visit, void *arg)
{
    node *n = self;
    int r = 0;
    if (n->parent && (r = visit(n->parent, arg)))
        return r;
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (n->child[i] && (r = visit(n->child[i], arg)))
            return r;
    if (n->res && (r = visit(n->res, arg)))
        return r;
    return 0;
}

/* drop every owned reference: what breaks a cycle */
static void node_clear(void *self)
{
    node *n = self;
    void *p = n->parent, *res = n->res;
    n->parent = NULL;
    n->res = NULL;
    rcgc_decref(p);
    rcgc_decref(res);
    for (int i = 0; i < MAX_CHILDREN; i++) {
        p = n->child[i];
        n->child[i] = NULL;
        rcgc_decref(p);
    }
}

static const rcgc_type node_type = {
    .name = "Node", .traverse = node_traverse, .clear = node_clear};

/* --- a resource with a PEP 442 finalizer, owned by a node and owning it --- */

typedef struct resource {
    node *owner;
    int handle;
} resource;

static int resources_closed;

static int resource_traverse(void *self, rcgc_visit_fn visit, void *arg)
{
    resource *r = self;
    return r->owner ? visit(r->owner, arg) : 0;
}

static void resource_clear(void *self)
{
    resource *r = self;
    void *o = r->owner;
    r->owner = NULL;
    rcgc_decref(o);
}

/* runs once, before the cycle is broken: the owner is still intact here */
static void resource_finalize(void *self)
{
    resource *r = self;
    printf("  finalizer: closing handle %d of node %d\n", r->handle,
           r->owner ? r->owner->id : -1);
    resources_closed++;
}

static const rcgc_type resource_type = {.name = "Resource",
                                        .traverse = resource_traverse,
                                        .clear = resource_clear,
                                        .finalize = resource_finalize};

/* --- a document: a tree of depth 'depth' with parent back-links --- */

static int next_id;

static node *tree(node *parent, int depth)
{
    node *n = rcgc_new(&node_type, sizeof *n);
    if (!n)
        return NULL;
    n->id = next_id++;
    if (parent) {
        rcgc_incref(parent);
        n->parent = parent;
    }
    for (int i = 0; depth > 0 && i < MAX_CHILDREN; i++)
        n->child[i] = tree(n, depth - 1);
    return n;
}

/* --- a weak cache: entries vanish when their object dies --- */

#define CACHE_SIZE 8
static struct entry {
    int key;
    rcgc_weakref *ref;
} cache[CACHE_SIZE];
static int cache_evictions;

static void cache_evict(rcgc_weakref *ref, void *arg)
{
    struct entry *e = arg;
    (void)ref;
    cache_evictions++;
    e->ref = NULL;
    rcgc_decref(ref); /* the cache's own reference to the weakref */
}

static void cache_put(int slot, node *n)
{
    cache[slot].key = n->id;
    cache[slot].ref = rcgc_weakref_new(n, cache_evict, &cache[slot]);
}

static int cache_alive(void)
{
    int alive = 0;
    for (int i = 0; i < CACHE_SIZE; i++) {
        node *n = cache[i].ref ? rcgc_weakref_get(cache[i].ref) : NULL;
        if (n) {
            alive++;
            rcgc_decref(n);
        }
    }
    return alive;
}

static void report(const char *what)
{
    long c[3];
    rcgc_gen_stats s[3];
    rcgc_get_count(c);
    rcgc_get_stats(s);
    printf("%s: counts %ld %ld %ld, full collections %llu, collected %llu\n", what, c[0],
           c[1], c[2], (unsigned long long)s[2].collections,
           (unsigned long long)(s[0].collected + s[1].collected + s[2].collected));
}

int main(void)
{
    enum { DOCS = 40, DEPTH = 4 }; /* 341 nodes per document */
    static node *docs[DOCS];

    printf("phase 1: %d documents of %d nodes, each parent/child pair a cycle\n", DOCS,
           (1 + 4 + 16 + 64 + 256));
    for (int i = 0; i < DOCS; i++)
        docs[i] = tree(NULL, DEPTH);
    report("  built");
    if (tracemem_available())
        tracemem_take_snapshot(NULL);

    printf("phase 2: drop half of the documents; refcounting alone frees nothing\n");
    for (int i = 0; i < DOCS / 2; i++) {
        rcgc_decref(docs[i]);
        docs[i] = NULL;
    }
    for (int i = 0; i < CACHE_SIZE; i++)
        cache_put(i, i % 2 ? docs[DOCS / 2 + i]->child[0] : docs[DOCS / 2 + i]);
    /* a node and a resource that own each other, then forgotten */
    node *holder = tree(NULL, 0);
    resource *res = rcgc_new(&resource_type, sizeof *res);
    res->handle = 42;
    res->owner = holder;
    holder->res = res;
    long found = rcgc_collect(2);
    printf("  rcgc_collect(2) found %ld unreachable objects\n", found);
    report("  after collect");
    printf("  weak cache: %d of %d entries alive\n", cache_alive(), CACHE_SIZE);
    if (tracemem_available())
        tracemem_take_snapshot(NULL);

    printf("phase 3: drop everything\n");
    for (int i = DOCS / 2; i < DOCS; i++)
        rcgc_decref(docs[i]);
    found = rcgc_collect(2);
    printf("  rcgc_collect(2) found %ld unreachable objects, %d resources closed\n", found,
           resources_closed);
    printf("  weak cache: %d alive, %d evicted by callbacks\n", cache_alive(), cache_evictions);
    report("  done");
    return resources_closed == 1 && cache_evictions == CACHE_SIZE ? 0 : 1;
}
