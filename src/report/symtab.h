/* symtab.h - a module's ELF symbol table, sorted once, answering "which
 * symbol names this address" in O(log n) with exactly the answer of
 * libdwfl's dwfl_module_addrinfo() (elfutils 0.158 and later), which scans
 * every symbol for every address.
 *
 * The answer of dwfl_module_addrinfo() depends on the symbols' order in
 * the table (ties between symbols at one address go to the first, or by
 * binding and size) and on two passes (global symbols, then the local ones
 * only when no global symbol covers the address), so the table keeps each
 * symbol's position and the two passes apart; symtab.c's head comment
 * shows why the lookup is the same function.
 */
#ifndef TM_REPORT_SYMTAB_H
#define TM_REPORT_SYMTAB_H

#include <elfutils/libdwfl.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tm_symtab tm_symtab;

/* Reads the symbol table of 'mod' (the one libdwfl would search: .symtab,
 * else .dynsym, with the mini-debuginfo table). Names are borrowed from
 * libdwfl: the table must be freed before the module's Dwfl is ended.
 * Returns a new table (free with tm_symtab_free()), or NULL with errno
 * ENOMEM. A module without symbols gives an empty table. */
tm_symtab *tm_symtab_new(Dwfl_Module *mod);

/* The name dwfl_module_addrinfo('mod', 'addr', ...) returns for the
 * module the table was made from, or NULL. Not thread-safe for one table
 * (it may ask libdwfl which section an address is in). */
const char *tm_symtab_lookup(tm_symtab *tab, GElf_Addr addr);

/* Number of symbols kept (for tests). */
size_t tm_symtab_size(const tm_symtab *tab);

void tm_symtab_free(tm_symtab *tab);

#ifdef __cplusplus
}
#endif

#endif /* TM_REPORT_SYMTAB_H */
