/* scopetab.c - per-unit tables of the DIEs with address ranges, answering
 * what dwarf_getscopes() and dwarf_getscopes_die() would (scopetab.h).
 *
 * What libdw does for 'pc' in a unit (libdw/dwarf_getscopes.c and
 * libdw_visit_scopes.c, elfutils 0.170 to 0.19x):
 *
 * - It visits the unit's children in order (the children of an imported
 *   partial unit spliced in where the DW_TAG_imported_unit stands), and
 *   a DIE is pruned unless dwarf_haspc(DIE, pc) is true; a DIE that is not
 *   pruned, has children and may have scopes (lexical blocks, functions,
 *   namespaces, classes ...) is descended into. The innermost DIE found,
 *   D, is the first one not pruned whose children are all pruned: so at
 *   every level the first child (in DIE order) containing pc is taken.
 *   An error from dwarf_haspc (other than a missing range section) makes
 *   the answer -1.
 * - When a DW_TAG_inlined_subroutine is on the path to D, the deepest one
 *   I decides: its DW_AT_abstract_origin must resolve (else -1) and the
 *   origin must be found by a second, unpruned walk of the origin's unit
 *   (else 0: no scopes at all).
 * - symbolize.c then takes the innermost function DIE F on the path and
 *   asks dwarf_getscopes_die(F), an unpruned walk of F's unit for the
 *   path to F: the same path, as F's parents all contain pc.
 *
 * So one unpruned walk of a unit, in libdw's order, gives everything: the
 * tree of the DIEs that have ranges and whose parents all have ranges
 * (only those can be on the path for some pc), each node's children's
 * ranges sorted by start with a running maximum of their ends (the
 * children containing pc are found by binary search, and the first of
 * them in DIE order is the one with the smallest node index, as nodes are
 * numbered in walk order), and the set of DW_TAG_subprogram DIEs the walk
 * visits (where an origin is looked for). The table answers "unknown"
 * rather than risk a different answer when the unit has code (ranges)
 * inside an imported unit (dwarf_getscopes_die() would walk the partial
 * unit instead), when any dwarf_ranges() or walk step fails (libdw's
 * answer then depends on where), and when an origin is not a subprogram.
 */
#include "config.h"

#include "report/scopetab.h"

#include <dwarf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A DIE with ranges. nodes[0] stands for the unit itself. */
typedef struct node {
    Dwarf_Die die;
    uint32_t parent;      /* node index; the unit's own is 0 */
    uint32_t kids, nkids; /* its children's ranges: ivls[kids, kids + nkids) */
    int tag;
} node;

/* One range of a node, in its parent's segment of ivls, sorted by start
 * (then node); maxhi is the largest end up to here in the segment. */
typedef struct ivl {
    Dwarf_Addr lo, hi, maxhi;
    uint32_t node, parent;
} ivl;

typedef struct unit {
    const void *key; /* the unit DIE's address in the debug data */
    int broken;      /* ask libdw for every address of this unit */
    node *nodes;
    size_t nnodes, capnodes;
    ivl *ivls;
    size_t nivls, capivls;
    const void **subs; /* visited DW_TAG_subprogram DIEs' addresses, sorted */
    size_t nsubs, capsubs;
} unit;

struct tm_scopetab {
    unit **slots; /* open addressing by key */
    size_t nslots, nunits;
};

#define OUTSIDE UINT32_MAX /* children of a DIE without ranges */

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
    size_t ncap;
    void *nv;

    if (n < *cap)
        return 0;
    ncap = *cap ? 2 * *cap : 64;
    if (!(nv = realloc(*v, ncap * size)))
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* --- building a unit's table --- */

/* libdw_visit_scopes.c's may_have_scopes() */
static int may_have_scopes(int tag)
{
    switch (tag) {
    case DW_TAG_compile_unit:
    case DW_TAG_module:
    case DW_TAG_lexical_block:
    case DW_TAG_with_stmt:
    case DW_TAG_catch_block:
    case DW_TAG_try_block:
    case DW_TAG_entry_point:
    case DW_TAG_inlined_subroutine:
    case DW_TAG_subprogram:
    case DW_TAG_namespace:
    case DW_TAG_class_type:
    case DW_TAG_structure_type:
        return 1;
    default:
        return 0;
    }
}

typedef struct import_link {
    const void *addr; /* a DW_TAG_imported_unit DIE being walked through */
    const struct import_link *up;
} import_link;

typedef struct walker {
    unit *u;
    int nomem;
} walker;

/* Adds 'die' as a node under 'parent' when it has a non-empty range;
 * '*self' is its index, or OUTSIDE. -1 when a range cannot be read. */
static int add_node(walker *w, Dwarf_Die *die, uint32_t parent, int tag, uint32_t *self)
{
    unit *u = w->u;
    size_t first = u->nivls;
    uint32_t id = (uint32_t)u->nnodes;
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;

    *self = OUTSIDE;
    while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
        if (lo >= hi)
            continue; /* dwarf_haspc() never matches it */
        if (grow((void **)&u->ivls, &u->capivls, u->nivls, sizeof *u->ivls)) {
            w->nomem = 1;
            return -1;
        }
        u->ivls[u->nivls++] = (ivl){.lo = lo, .hi = hi, .node = id, .parent = parent};
    }
    if (off < 0) {
        u->nivls = first;
        return -1;
    }
    if (u->nivls == first)
        return 0;
    if (grow((void **)&u->nodes, &u->capnodes, u->nnodes, sizeof *u->nodes)) {
        w->nomem = 1;
        return -1;
    }
    u->nodes[u->nnodes++] = (node){.die = *die, .parent = parent, .tag = tag};
    *self = id;
    return 0;
}

static int walk_children(walker *w, Dwarf_Die *child, uint32_t parent, int imported,
                         const import_link *imports);

/* One DIE of the walk, and its children as libdw would walk them. */
static int visit(walker *w, Dwarf_Die *die, uint32_t parent, int imported, const import_link *imports)
{
    unit *u = w->u;
    int tag = dwarf_tag(die);
    uint32_t self = OUTSIDE;
    Dwarf_Die kid;
    int rc;

    if (tag == DW_TAG_subprogram) {
        if (grow((void **)&u->subs, &u->capsubs, u->nsubs, sizeof *u->subs)) {
            w->nomem = 1;
            return -1;
        }
        u->subs[u->nsubs++] = die->addr;
    }
    if (parent != OUTSIDE && add_node(w, die, parent, tag, &self))
        return -1;
    if (self != OUTSIDE && imported)
        return -1; /* code in a partial unit: see the head comment */
    if (!may_have_scopes(tag) || !dwarf_haschildren(die))
        return 0;
    if ((rc = dwarf_child(die, &kid)) != 0)
        return rc < 0 ? -1 : 0;
    return walk_children(w, &kid, self, imported, imports);
}

/* libdw_visit_scopes.c's walk_children(), from the first child 'child'. */
static int walk_children(walker *w, Dwarf_Die *child, uint32_t parent, int imported,
                         const import_link *imports)
{
    int ret;

    do {
        while (dwarf_tag(child) == DW_TAG_imported_unit) {
            Dwarf_Die orig = *child;
            Dwarf_Attribute attr;

            if (dwarf_formref_die(dwarf_attr(child, DW_AT_import, &attr), child) &&
                dwarf_tag(child) != DW_TAG_compile_unit && dwarf_child(child, child) == 0) {
                import_link link = {orig.addr, imports};

                for (const import_link *l = imports; l; l = l->up)
                    if (l->addr == orig.addr)
                        return -1; /* a cycle */
                if (walk_children(w, child, parent, 1, &link))
                    return -1;
            }
            if ((ret = dwarf_siblingof(&orig, child)) != 0)
                return ret < 0 ? -1 : 0;
        }
        if (visit(w, child, parent, imported, imports))
            return -1;
    } while ((ret = dwarf_siblingof(child, child)) == 0);
    return ret < 0 ? -1 : 0;
}

static int cmp_ivl(const void *pa, const void *pb)
{
    const ivl *a = pa, *b = pb;

    if (a->parent != b->parent)
        return a->parent < b->parent ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return a->node < b->node ? -1 : a->node > b->node;
}

static int cmp_ptr(const void *pa, const void *pb)
{
    uintptr_t a = (uintptr_t) * (const void *const *)pa, b = (uintptr_t) * (const void *const *)pb;

    return a < b ? -1 : a > b;
}

/* 'v' of 'n' elements given back its room beyond them (kept when the
 * smaller block cannot be had). */
static void *shrink(void *v, size_t n, size_t size)
{
    void *nv = n ? realloc(v, n * size) : NULL;

    if (!n)
        free(v);
    return n && !nv ? v : nv;
}

/* Sorts the ranges into their parents' segments, with running maxima;
 * the arrays lose their spare room: a table lives as long as its module. */
static void finish(unit *u)
{
    u->nodes = shrink(u->nodes, u->nnodes, sizeof *u->nodes);
    u->ivls = shrink(u->ivls, u->nivls, sizeof *u->ivls);
    u->subs = shrink(u->subs, u->nsubs, sizeof *u->subs);
    u->capnodes = u->nnodes;
    u->capivls = u->nivls;
    u->capsubs = u->nsubs;
    qsort(u->ivls, u->nivls, sizeof *u->ivls, cmp_ivl);
    for (size_t i = 0; i < u->nivls; i++) {
        ivl *v = &u->ivls[i];
        node *p = &u->nodes[v->parent];

        if (!p->nkids++) {
            p->kids = (uint32_t)i;
            v->maxhi = v->hi;
        } else {
            v->maxhi = v[-1].maxhi > v->hi ? v[-1].maxhi : v->hi;
        }
    }
    qsort(u->subs, u->nsubs, sizeof *u->subs, cmp_ptr);
}

static void unit_free(unit *u)
{
    if (!u)
        return;
    free(u->nodes);
    free(u->ivls);
    free(u->subs);
    free(u);
}

/* The table of the unit whose DIE is 'udie', NULL on ENOMEM. */
static unit *unit_build(Dwarf_Die *udie)
{
    unit *u = calloc(1, sizeof *u);
    walker w = {u, 0};
    Dwarf_Die kid;
    int rc;

    if (!u || !(u->nodes = malloc(64 * sizeof *u->nodes))) {
        free(u);
        return NULL;
    }
    u->capnodes = 64;
    u->key = udie->addr;
    u->nodes[u->nnodes++] = (node){.die = *udie, .tag = dwarf_tag(udie)};
    if ((rc = dwarf_child(udie, &kid)) < 0 || (rc == 0 && walk_children(&w, &kid, 0, 0, NULL)))
        u->broken = 1;
    if (w.nomem) {
        unit_free(u);
        return NULL;
    }
    if (u->broken) { /* nothing else is asked of it */
        u->nnodes = u->nivls = u->nsubs = 0;
        return u;
    }
    finish(u);
    return u;
}

/* --- the set of tables --- */

tm_scopetab *tm_scopetab_new(void)
{
    return calloc(1, sizeof(tm_scopetab));
}

void tm_scopetab_free(tm_scopetab *tab)
{
    if (!tab)
        return;
    for (size_t i = 0; i < tab->nslots; i++)
        unit_free(tab->slots[i]);
    free(tab->slots);
    free(tab);
}

static size_t hash_ptr(const void *p)
{
    return tm_mix64((uintptr_t)p);
}

static int grow_slots(tm_scopetab *tab)
{
    size_t n = tab->nslots ? 2 * tab->nslots : 64;
    unit **slots = calloc(n, sizeof *slots);

    if (!slots)
        return -1;
    for (size_t i = 0; i < tab->nslots; i++) {
        size_t h;

        if (!tab->slots[i])
            continue;
        for (h = hash_ptr(tab->slots[i]->key) & (n - 1); slots[h]; h = (h + 1) & (n - 1))
            ;
        slots[h] = tab->slots[i];
    }
    free(tab->slots);
    tab->slots = slots;
    tab->nslots = n;
    return 0;
}

/* The table of unit 'udie', built when new; NULL on ENOMEM. */
static unit *unit_of(tm_scopetab *tab, Dwarf_Die *udie)
{
    size_t h;

    if (2 * (tab->nunits + 1) > tab->nslots && grow_slots(tab))
        return NULL;
    for (h = hash_ptr(udie->addr) & (tab->nslots - 1); tab->slots[h]; h = (h + 1) & (tab->nslots - 1))
        if (tab->slots[h]->key == udie->addr)
            return tab->slots[h];
    if (!(tab->slots[h] = unit_build(udie)))
        return NULL;
    tab->nunits++;
    return tab->slots[h];
}

/* --- lookups --- */

/* The first child of 'p' in DIE order whose ranges hold 'pc', or 0. */
static uint32_t child_at(const unit *u, const node *p, Dwarf_Addr pc)
{
    const ivl *v = u->ivls + p->kids;
    size_t lo = 0, hi = p->nkids;
    uint32_t best = 0;

    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;

        if (v[m].lo <= pc)
            lo = m + 1;
        else
            hi = m;
    }
    /* v[0, lo) start at or below pc; none before i reaches pc once the
     * running maximum of their ends does not */
    for (size_t i = lo; i-- > 0 && v[i].maxhi > pc;)
        if (v[i].hi > pc && (!best || v[i].node < best))
            best = v[i].node;
    return best;
}

static int is_function(int tag)
{
    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

static int has_sub(const unit *u, const void *addr)
{
    size_t lo = 0, hi = u->nsubs;

    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;

        if ((uintptr_t)u->subs[m] < (uintptr_t)addr)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < u->nsubs && u->subs[lo] == addr;
}

/* Whether dwarf_getscopes() finds the abstract origin of the inlined
 * subroutine 'inl': 1, 0, TM_SCOPES_UNKNOWN or -1 (ENOMEM). */
static int origin_found(tm_scopetab *tab, Dwarf_Die *inl)
{
    Dwarf_Attribute attr;
    Dwarf_Die origin, udie;
    unit *ou;

    if (!dwarf_formref_die(dwarf_attr(inl, DW_AT_abstract_origin, &attr), &origin))
        return 0;
    if (!dwarf_diecu(&origin, &udie, NULL, NULL) || dwarf_tag(&origin) != DW_TAG_subprogram)
        return TM_SCOPES_UNKNOWN;
    if (!(ou = unit_of(tab, &udie)))
        return -1;
    if (ou->broken)
        return TM_SCOPES_UNKNOWN;
    return has_sub(ou, origin.addr);
}

int tm_scopetab_lookup(tm_scopetab *tab, Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die **out)
{
    unit *u = unit_of(tab, cudie);
    uint32_t d = 0, c, f, i;
    int n = 0, rc;
    Dwarf_Die *v;

    *out = NULL;
    if (!u)
        return -1;
    if (u->broken)
        return TM_SCOPES_UNKNOWN;
    while ((c = child_at(u, &u->nodes[d], pc)))
        d = c;
    if (!d)
        return 0; /* nothing holds pc: dwarf_getscopes() finds no scope */
    for (i = d; i && u->nodes[i].tag != DW_TAG_inlined_subroutine; i = u->nodes[i].parent)
        ;
    if (i && (rc = origin_found(tab, &u->nodes[i].die)) != 1)
        return rc;
    for (f = d; f && !is_function(u->nodes[f].tag); f = u->nodes[f].parent)
        ;
    for (i = f; i; i = u->nodes[i].parent)
        n += is_function(u->nodes[i].tag);
    if (!n)
        return 0;
    if (!(v = malloc(n * sizeof *v)))
        return -1;
    n = 0;
    for (i = f; i; i = u->nodes[i].parent)
        if (is_function(u->nodes[i].tag))
            v[n++] = u->nodes[i].die;
    *out = v;
    return n;
}

int tm_scopes_libdw(Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die **out)
{
    Dwarf_Die *scopes = NULL, fn;
    int n = dwarf_getscopes(cudie, pc, &scopes), i = 0, k = 0;

    *out = NULL;
    while (i < n && !is_function(dwarf_tag(&scopes[i])))
        i++;
    if (i >= n) {
        free(scopes);
        return 0;
    }
    fn = scopes[i];
    free(scopes);
    if ((n = dwarf_getscopes_die(&fn, out)) <= 0)
        return 0;
    for (i = 0; i < n; i++)
        if (is_function(dwarf_tag(&(*out)[i])))
            (*out)[k++] = (*out)[i];
    return k;
}
