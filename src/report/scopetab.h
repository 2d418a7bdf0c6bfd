/* scopetab.h - the function scopes (inlined subroutines and the functions
 * they were inlined into) at an address, from tables built once per
 * compilation unit, with exactly the answer symbolize.c used to get from
 * dwarf_getscopes() plus dwarf_getscopes_die() for every address: both
 * walk the unit's DIE tree from its start, and the first one walks the
 * inline's abstract origin unit too.
 *
 * A unit's table is made the first time an address in it is asked for:
 * one walk of its DIE tree, in __libdw_visit_scopes()'s order, keeping the
 * DIEs with address ranges whose parents all have ranges (the only ones
 * dwarf_getscopes() can reach) as a tree whose children are sorted by
 * address for binary search, and the DW_TAG_subprogram DIEs the walk
 * visits (where an inline's abstract origin must be found). When a unit is
 * out of the ordinary (a walk error, an unreadable range list, code in an
 * imported partial unit, an origin that is not a subprogram) the lookup
 * says so and the caller asks libdw as before; scopetab.c's head comment
 * gives the reasoning.
 */
#ifndef TM_REPORT_SCOPETAB_H
#define TM_REPORT_SCOPETAB_H

#include <elfutils/libdw.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The unit tables of one module's DWARF (or of several: units are told
 * apart by their DIE's address, which is unique across files). */
typedef struct tm_scopetab tm_scopetab;

/* New, empty set of tables, or NULL with errno ENOMEM. */
tm_scopetab *tm_scopetab_new(void);

void tm_scopetab_free(tm_scopetab *tab);

/* Returned by tm_scopetab_lookup() when the table cannot answer. */
#define TM_SCOPES_UNKNOWN (-2)

/* The function DIEs (DW_TAG_subprogram, DW_TAG_inlined_subroutine,
 * DW_TAG_entry_point) at DWARF address 'pc' of the unit 'cudie': the
 * innermost first, then each enclosing function DIE of the concrete
 * nesting outwards - the function DIEs, in order, of what
 * dwarf_getscopes_die() returns for the innermost function DIE that
 * dwarf_getscopes('cudie', 'pc') returns. '*out' is a new array (free()
 * it) when the count returned is > 0. Returns the count; 0 when libdw
 * finds no function scope (or fails, as it would); TM_SCOPES_UNKNOWN when
 * the caller must ask libdw; -1 on ENOMEM. Not thread-safe for one 'tab'.
 * The DIEs stay valid while the Dwarf they come from is open. */
int tm_scopetab_lookup(tm_scopetab *tab, Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die **out);

/* The same answer asked of libdw, for what the tables cannot tell (and as
 * the reference the tables are tested against): dwarf_getscopes() follows
 * an inlined subroutine into its abstract origin, so like eu-addr2line it
 * restarts from the innermost function DIE with dwarf_getscopes_die() and
 * keeps the function DIEs of that concrete nesting. 'pc' is relative to
 * the unit's module, as for tm_scopetab_lookup(). Returns the count (*out
 * malloc'd), or 0. */
int tm_scopes_libdw(Dwarf_Die *cudie, Dwarf_Addr pc, Dwarf_Die **out);

/* A 64-bit finalizer (MurmurHash3's), for the tables' hash indexes. */
static inline size_t tm_mix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_SCOPETAB_H */
