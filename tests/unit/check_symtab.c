/* check_symtab.c - Check suite "symtab": tm_symtab_lookup() must give
 * dwfl_module_addrinfo()'s answer for every address, since symbolize uses
 * it in its place. Compared address by address over real modules: this
 * program (its .symtab has local and global symbols, plus the assembly
 * below: sizeless labels, aliases of one address with different bindings
 * and sizes, an absolute symbol), the C library, libdw, and gcc's cc1
 * when installed (29 000 dynamic symbols).
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/symtab.h"

/* Symbols as hand-written assembly makes them: no size, several names at
 * one address, local and global. */
__asm__(".text\n"
        ".globl tm_asm_sizeless\n"
        "tm_asm_sizeless:\n"
        "    nop; nop; nop; nop\n"
        "tm_asm_local_label:\n"
        "    nop; nop; nop; nop\n"
        ".globl tm_asm_sized\n"
        ".type tm_asm_sized, @function\n"
        ".weak tm_asm_weak_alias\n"
        ".type tm_asm_weak_alias, @function\n"
        "tm_asm_weak_alias:\n"
        "tm_asm_sized:\n"
        "    nop; nop; nop; nop; nop; nop; nop; nop\n"
        ".size tm_asm_sized, 8\n"
        ".size tm_asm_weak_alias, 4\n"
        "tm_asm_local_sized:\n"
        "    nop; nop; nop; nop\n"
        ".size tm_asm_local_sized, 4\n"
        ".globl tm_asm_after\n"
        "tm_asm_after:\n"
        "    nop; nop; nop; nop; ret\n"
        ".globl tm_asm_abs\n"
        ".set tm_asm_abs, 0x40\n");

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

/* Compares the two lookups at 'addr'; counts disagreements. */
static void compare_at(Dwfl_Module *mod, tm_symtab *tab, GElf_Addr addr, long *checked, long *bad,
                       const char *file)
{
    GElf_Off off;
    GElf_Sym sym;
    const char *want = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
    const char *got = tm_symtab_lookup(tab, addr);

    ++*checked;
    if (want == got || (want && got && strcmp(want, got) == 0))
        return;
    if (++*bad <= 10)
        fprintf(stderr, "%s: %#llx: dwfl_module_addrinfo %s, tm_symtab_lookup %s\n", file,
                (unsigned long long)addr, want ? want : "(none)", got ? got : "(none)");
}

/* Compares every 'stride'th address of each allocated section of 'file'
 * and the edges of every symbol. Returns the number of disagreements, or
 * -1 when the file cannot be opened. */
static long compare_module(const char *file, GElf_Addr stride, int edges, long *checked)
{
    Dwfl *dwfl = dwfl_begin(&callbacks);
    Dwfl_Module *mod;
    tm_symtab *tab;
    GElf_Addr bias;
    Elf *elf;
    Elf_Scn *scn = NULL;
    long bad = 0;
    int fd = open(file, O_RDONLY | O_CLOEXEC), n;

    if (fd < 0 || !dwfl) {
        if (fd >= 0)
            close(fd);
        dwfl_end(dwfl);
        return -1;
    }
    dwfl_report_begin(dwfl);
    mod = dwfl_report_elf(dwfl, "m", file, fd, 0, true);
    dwfl_report_end(dwfl, NULL, NULL);
    ck_assert_ptr_nonnull(mod);
    ck_assert_ptr_nonnull(elf = dwfl_module_getelf(mod, &bias));
    ck_assert_ptr_nonnull(tab = tm_symtab_new(mod));
    while ((scn = elf_nextscn(elf, scn))) {
        GElf_Shdr sh;

        if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_ALLOC))
            continue;
        for (GElf_Addr a = sh.sh_addr; a < sh.sh_addr + sh.sh_size + 2; a += stride)
            compare_at(mod, tab, a, checked, &bad, file);
    }
    n = dwfl_module_getsymtab(mod);
    /* the edges of every symbol, or of 'edges' spread over a large table
     * (each libdwfl lookup scans the whole table) */
    for (int i = 1; i < n; i += n > edges ? n / edges : 1) {
        GElf_Sym s;
        GElf_Addr v;

        if (!dwfl_module_getsym_info(mod, i, &s, &v, NULL, NULL, NULL))
            continue;
        for (int d = -1; d <= 1; d++) {
            compare_at(mod, tab, v + d, checked, &bad, file);
            compare_at(mod, tab, v + s.st_size + d, checked, &bad, file);
        }
    }
    tm_symtab_free(tab);
    dwfl_end(dwfl);
    return bad;
}

static int find_lib(struct dl_phdr_info *info, size_t size, void *arg)
{
    const char **want = arg;

    (void)size;
    if (strstr(info->dlpi_name, want[0])) {
        want[1] = strdup(info->dlpi_name);
        return 1;
    }
    return 0;
}

/* The path of the loaded library whose name contains 'part', or NULL. */
static char *loaded(const char *part)
{
    const char *want[2] = {part, NULL};

    dl_iterate_phdr(find_lib, want);
    return (char *)want[1];
}

START_TEST(test_symtab_matches_libdwfl_on_this_program)
{
    long checked = 0, bad = compare_module("/proc/self/exe", 1, 100000, &checked);

    ck_assert_int_eq(bad, 0);
    ck_assert_int_gt(checked, 10000);
}
END_TEST

START_TEST(test_symtab_finds_assembly_labels)
{
    Dwfl *dwfl = dwfl_begin(&callbacks);
    Dwfl_Module *mod;
    tm_symtab *tab;
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    GElf_Addr sized = 0, sizeless = 0, local_sized = 0, bias;
    int n;

    ck_assert_int_ge(fd, 0);
    dwfl_report_begin(dwfl);
    ck_assert_ptr_nonnull(mod = dwfl_report_elf(dwfl, "m", "/proc/self/exe", fd, 0, true));
    dwfl_report_end(dwfl, NULL, NULL);
    ck_assert_ptr_nonnull(dwfl_module_getelf(mod, &bias));
    ck_assert_ptr_nonnull(tab = tm_symtab_new(mod));
    n = dwfl_module_getsymtab(mod);
    for (int i = 1; i < n; i++) {
        GElf_Sym s;
        GElf_Addr v;
        const char *name = dwfl_module_getsym_info(mod, i, &s, &v, NULL, NULL, NULL);

        if (name && strcmp(name, "tm_asm_sized") == 0)
            sized = v;
        if (name && strcmp(name, "tm_asm_sizeless") == 0)
            sizeless = v;
        if (name && strcmp(name, "tm_asm_local_sized") == 0)
            local_sized = v;
    }
    ck_assert_uint_ne(sized, 0);
    ck_assert_uint_eq(sized, sizeless + 8);
    ck_assert_uint_eq(local_sized, sized + 8);
    /* the sizeless global label covers up to the next symbol, the local
     * label between does not (a global one at the address wins first) */
    ck_assert_str_eq(tm_symtab_lookup(tab, sizeless), "tm_asm_sizeless");
    ck_assert_str_eq(tm_symtab_lookup(tab, sizeless + 6), "tm_asm_local_label");
    /* the global of two sized names at one address */
    ck_assert_str_eq(tm_symtab_lookup(tab, sized + 2), "tm_asm_sized");
    ck_assert_str_eq(tm_symtab_lookup(tab, sized + 6), "tm_asm_sized");
    /* a local sized symbol, found in the second pass */
    ck_assert_str_eq(tm_symtab_lookup(tab, local_sized + 1), "tm_asm_local_sized");
    tm_symtab_free(tab);
    dwfl_end(dwfl);
}
END_TEST

START_TEST(test_symtab_matches_libdwfl_on_libc)
{
    char *libc = loaded("libc.so");
    long checked = 0, bad;

    ck_assert_ptr_nonnull(libc);
    bad = compare_module(libc, 257, 1500, &checked);
    free(libc);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_gt(checked, 10000);
}
END_TEST

START_TEST(test_symtab_matches_libdwfl_on_libdw)
{
    char *libdw = loaded("libdw");
    long checked = 0, bad;

    ck_assert_ptr_nonnull(libdw);
    bad = compare_module(libdw, 257, 1000, &checked);
    free(libdw);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_gt(checked, 5000);
}
END_TEST

START_TEST(test_symtab_matches_libdwfl_on_cc1)
{
    FILE *p = popen("gcc -print-prog-name=cc1 2>/dev/null", "r");
    char path[4096] = "";
    long checked = 0, bad;

    if (p) {
        if (!fgets(path, sizeof path, p))
            path[0] = '\0';
        pclose(p);
    }
    path[strcspn(path, "\n")] = '\0';
    if (path[0] != '/' || access(path, R_OK) != 0)
        return; /* no gcc: nothing to compare */
    bad = compare_module(path, 65521, 300, &checked);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_gt(checked, 1000);
}
END_TEST

static Suite *symtab_suite(void)
{
    Suite *s = suite_create("symtab");
    TCase *tc = tcase_create("same answers as libdwfl");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_symtab_matches_libdwfl_on_this_program);
    tcase_add_test(tc, test_symtab_finds_assembly_labels);
    tcase_add_test(tc, test_symtab_matches_libdwfl_on_libc);
    tcase_add_test(tc, test_symtab_matches_libdwfl_on_libdw);
    tcase_add_test(tc, test_symtab_matches_libdwfl_on_cc1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(symtab_suite());
}
