/* symtab.c - sorted symbol tables with dwfl_module_addrinfo()'s answers.
 *
 * What libdwfl does for one address A (libdwfl/dwfl_module_addrsym.c):
 * it keeps the symbols that have a name, are defined, are not section,
 * file or TLS symbols and start at or below A ("candidates"), in table
 * order, first the global ones [first_global, n), then - only when no
 * global symbol with a size covers A and no global sizeless symbol sits
 * exactly at A - the local ones [1, first_global). For each candidate:
 *
 *   min_label = max(min_label, value + size)
 *   a sized symbol covering A replaces the best one found so far when
 *   none was found, or it starts later, or it binds stronger; at the same
 *   start a smaller or stronger one replaces it;
 *   a sizeless symbol is remembered while no sized one was found, when
 *   value >= min_label and A is in the same section.
 *
 * The answer is the best sized symbol; without one, the remembered
 * sizeless symbol if its value >= the final min_label.
 *
 * Why the lookup below gives the same answer:
 * - Only sized symbols covering A change "the best one", so running the
 *   same replacement rule over just those, in table order, picks the same
 *   symbol. They are found by walking the value-sorted table down from
 *   the last value <= A while the prefix maximum of value + size still
 *   exceeds A (nothing below can cover A).
 * - Without a covering symbol every candidate ends at or below A, so the
 *   final min_label is M = max(value + size) over the candidates of the
 *   passes run, and a remembered sizeless symbol is used only when its
 *   value >= M, i.e. == M. Every sizeless candidate at M in A's section is
 *   remembered when it is reached (min_label is then <= M = its value),
 *   and one remembered later must also be at M: the answer is the last
 *   one, in table order, of the sizeless candidates at value M in A's
 *   section - or none.
 * - The global sizeless symbol "exactly at A" that skips the local pass
 *   is remembered whenever it exists (same address, same section).
 *
 * "Same section" is libdwfl's own test (the section index of A and of the
 * value, both looked up by address), asked through
 * dwfl_module_address_section(), and only for the few symbols at M.
 *
 * Not covered: architectures where libdwfl resolves function descriptors
 * (ppc64 ELFv1) try a second value per symbol; x86-64 and aarch64 have
 * none.
 */
#include "config.h"

#include "report/symtab.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sym {
    GElf_Addr value;
    GElf_Xword size;
    const char *name;
    uint32_t order;       /* index in libdwfl's table: ties go by it */
    unsigned char bind;   /* libdwfl's binding_value(): higher is preferred */
    unsigned char special; /* section index >= SHN_LORESERVE: matches only exactly */
} sym;

/* One pass's candidates sorted by (value, order). maxend[i] is the
 * largest value + size among v[0..i]. */
typedef struct pass {
    sym *v;
    GElf_Addr *maxend;
    size_t n, cap;
} pass;

struct tm_symtab {
    Dwfl_Module *mod;
    pass global, local; /* local stays empty when libdwfl runs one pass */
};

static int binding_value(unsigned char info)
{
    switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
        return 3;
    case STB_WEAK:
        return 2;
    case STB_LOCAL:
        return 1;
    default:
        return 0;
    }
}

static int push(pass *p, const sym *s)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? 2 * p->cap : 256;
        sym *nv = realloc(p->v, ncap * sizeof *nv);

        if (!nv)
            return -1;
        p->v = nv;
        p->cap = ncap;
    }
    p->v[p->n++] = *s;
    return 0;
}

static int cmp_sym(const void *pa, const void *pb)
{
    const sym *a = pa, *b = pb;

    if (a->value != b->value)
        return a->value < b->value ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static GElf_Addr end_of(const sym *s)
{
    GElf_Addr e = s->value + s->size;

    return e < s->value ? UINT64_MAX : e;
}

static int finish(pass *p)
{
    if (!p->n)
        return 0;
    qsort(p->v, p->n, sizeof *p->v, cmp_sym);
    if (!(p->maxend = malloc(p->n * sizeof *p->maxend)))
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        GElf_Addr e = end_of(&p->v[i]);

        p->maxend[i] = i && p->maxend[i - 1] > e ? p->maxend[i - 1] : e;
    }
    return 0;
}

tm_symtab *tm_symtab_new(Dwfl_Module *mod)
{
    tm_symtab *t = calloc(1, sizeof *t);
    int n, fg;

    if (!t)
        return NULL;
    t->mod = mod;
    n = dwfl_module_getsymtab(mod);
    fg = n > 0 ? dwfl_module_getsymtab_first_global(mod) : -1;
    if (fg < 0)
        return t; /* libdwfl finds nothing either */
    for (int i = 1; i < n; i++) {
        GElf_Sym es;
        GElf_Addr value;
        GElf_Word shndx;
        Elf *elf;
        Dwarf_Addr bias;
        const char *name = dwfl_module_getsym_info(mod, i, &es, &value, &shndx, &elf, &bias);
        int type = GELF_ST_TYPE(es.st_info);
        sym s;

        if (!name || !name[0] || es.st_shndx == SHN_UNDEF || type == STT_SECTION || type == STT_FILE ||
            type == STT_TLS)
            continue;
        s.value = value;
        s.size = es.st_size;
        s.name = name;
        s.order = (uint32_t)i;
        s.bind = (unsigned char)binding_value(es.st_info);
        s.special = shndx >= SHN_LORESERVE;
        if (push(i >= (fg == 0 ? 1 : fg) ? &t->global : &t->local, &s))
            goto out_nomem;
    }
    if (finish(&t->global) || finish(&t->local))
        goto out_nomem;
    return t;
out_nomem:
    tm_symtab_free(t);
    errno = ENOMEM;
    return NULL;
}

size_t tm_symtab_size(const tm_symtab *t)
{
    return t->global.n + t->local.n;
}

void tm_symtab_free(tm_symtab *t)
{
    if (!t)
        return;
    free(t->global.v);
    free(t->global.maxend);
    free(t->local.v);
    free(t->local.maxend);
    free(t);
}

/* Number of candidates of 'p' with value <= 'addr'. */
static size_t upto(const pass *p, GElf_Addr addr)
{
    size_t lo = 0, hi = p->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (p->v[mid].value <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* libdwfl's replacement rule for a sized symbol covering the address. */
static int better(const sym *best, const sym *s)
{
    if (!best || best->value < s->value || best->bind < s->bind)
        return 1;
    return best->value == s->value && ((best->size > s->size && best->bind <= s->bind) ||
                                       (best->size >= s->size && best->bind < s->bind));
}

/* The best sized symbol of 'p' covering 'addr' ('k' = upto()), or NULL:
 * the covering symbols are collected, then replayed in table order. */
static const sym *covering(const pass *p, size_t k, GElf_Addr addr)
{
    const sym *local[32], **found = local, *best = NULL;
    size_t n = 0, cap = sizeof local / sizeof *local;

    for (size_t j = k; j-- > 0 && p->maxend[j] > addr;) {
        const sym *s = &p->v[j];

        if (s->size == 0 || addr - s->value >= s->size)
            continue;
        if (n == cap) {
            const sym **nf = malloc(2 * cap * sizeof *nf);

            if (!nf)
                break; /* out of memory: the ones found so far */
            memcpy(nf, found, n * sizeof *nf);
            if (found != local)
                free(found);
            found = nf;
            cap *= 2;
        }
        found[n++] = s;
    }
    for (size_t done = 0; done < n; done++) {
        size_t m = done;

        for (size_t i = done + 1; i < n; i++)
            if (found[i]->order < found[m]->order)
                m = i;
        const sym *s = found[m];

        found[m] = found[done];
        found[done] = s;
        if (better(best, s))
            best = s;
    }
    if (found != local)
        free(found);
    return best;
}

static int same_section(tm_symtab *t, const sym *s, GElf_Addr addr)
{
    Dwarf_Addr a = addr, v = s->value, bias;

    if (s->special)
        return s->value == addr;
    return dwfl_module_address_section(t->mod, &a, &bias) == dwfl_module_address_section(t->mod, &v, &bias);
}

/* The last sizeless candidate of 'p' (table order) at value 'm' in the
 * section of 'addr', among the first 'k'; NULL when none. */
static const sym *sizeless_at(tm_symtab *t, const pass *p, size_t k, GElf_Addr m, GElf_Addr addr)
{
    const sym *best = NULL;

    for (size_t j = k; j-- > 0 && p->v[j].value >= m;)
        if (p->v[j].value == m && p->v[j].size == 0 && (!best || p->v[j].order > best->order) &&
            same_section(t, &p->v[j], addr))
            best = &p->v[j];
    return best;
}

static int sizeless_exactly(const pass *p, size_t k, GElf_Addr addr)
{
    for (size_t j = k; j-- > 0 && p->v[j].value == addr;)
        if (p->v[j].size == 0)
            return 1;
    return 0;
}

const char *tm_symtab_lookup(tm_symtab *t, GElf_Addr addr)
{
    const pass *g = &t->global, *l = &t->local;
    size_t kg = upto(g, addr), kl = 0;
    GElf_Addr m = kg ? g->maxend[kg - 1] : 0;
    const sym *s;
    int two = l->n > 0 && !sizeless_exactly(g, kg, addr);

    if ((s = covering(g, kg, addr)))
        return s->name;
    if (two) {
        kl = upto(l, addr);
        if ((s = covering(l, kl, addr)))
            return s->name;
        if (kl && l->maxend[kl - 1] > m)
            m = l->maxend[kl - 1];
        if ((s = sizeless_at(t, l, kl, m, addr)))
            return s->name;
    }
    s = sizeless_at(t, g, kg, m, addr);
    return s ? s->name : NULL;
}
