/* check_scopetab.c - Check suite "scopetab": tm_scopetab_lookup() must
 * give the function DIEs libdw gives through dwarf_getscopes() and
 * dwarf_getscopes_die() (what symbolize asked for every address before
 * the tables), at every address of the line tables, in real modules: this
 * program (built -O2 with nested inline functions below, and the report
 * library linked in), the C library when its debug information is
 * installed (Debian's libc6-dbg), and libpython when the python3 on the
 * PATH has one with DWARF.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/scopetab.h"

/* Inline functions nested four deep, with a lexical block between. */
volatile int tm_sink;

static inline __attribute__((always_inline)) void level4(int i)
{
    tm_sink += i * 7;
}

static inline __attribute__((always_inline)) void level3(int i)
{
    for (int j = 0; j < i; j++) {
        int k = j * tm_sink;

        level4(k);
    }
}

static inline __attribute__((always_inline)) void level2(int i)
{
    level3(i + 1);
    tm_sink ^= i;
}

static inline __attribute__((always_inline)) void level1(int i)
{
    level2(i);
    level2(i * 3);
}

__attribute__((noinline)) void tm_nested_outer(int i);
__attribute__((noinline)) void tm_nested_outer(int i)
{
    level1(i);
}

static const Dwfl_Callbacks callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

typedef struct counts {
    long checked, bad, inlined, deepest, unknown;
} counts;

static void compare_at(tm_scopetab *tab, Dwarf_Die *cudie, Dwarf_Addr pc, counts *c, const char *file)
{
    Dwarf_Die *want, *got;
    int nw = tm_scopes_libdw(cudie, pc, &want), ng = tm_scopetab_lookup(tab, cudie, pc, &got), same;

    if (ng == TM_SCOPES_UNKNOWN) {
        c->unknown++;
        free(want);
        return;
    }
    if (ng < 0)
        ng = 0;
    same = nw == ng;
    for (int i = 0; same && i < nw; i++)
        same = want[i].addr == got[i].addr;
    c->checked++;
    if (nw > 1 && dwarf_tag(&want[0]) == DW_TAG_inlined_subroutine)
        c->inlined++;
    if (nw > c->deepest)
        c->deepest = nw;
    if (!same && ++c->bad <= 10)
        fprintf(stderr, "%s: %#llx: libdw %d function scopes (innermost %s), table %d (innermost %s)\n", file,
                (unsigned long long)pc, nw, nw > 0 ? dwarf_diename(&want[0]) : "-", ng,
                ng > 0 ? dwarf_diename(&got[0]) : "-");
    free(want);
    free(got);
}

/* Compares the answers at line table addresses (and the byte after) of
 * every 'every'th unit of 'file', at most about 'most' of each unit
 * (libdw walks the unit for each). Returns 0, or -1 when the file or its
 * DWARF cannot be read. */
static int compare_module(const char *file, int every, size_t most, counts *c)
{
    Dwfl *dwfl = dwfl_begin(&callbacks);
    Dwfl_Module *mod;
    Dwarf *dw;
    Dwarf_Addr bias;
    Dwarf_Off off = 0, next;
    size_t hsize;
    tm_scopetab *tab;
    int fd = open(file, O_RDONLY | O_CLOEXEC), nth = 0;

    memset(c, 0, sizeof *c);
    if (fd < 0 || !dwfl) {
        if (fd >= 0)
            close(fd);
        dwfl_end(dwfl);
        return -1;
    }
    dwfl_report_begin(dwfl);
    mod = dwfl_report_elf(dwfl, "m", file, fd, 0, true);
    dwfl_report_end(dwfl, NULL, NULL);
    if (!mod || !(dw = dwfl_module_getdwarf(mod, &bias))) {
        dwfl_end(dwfl);
        return -1;
    }
    ck_assert_ptr_nonnull(tab = tm_scopetab_new());
    while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        Dwarf_Die cudie;
        Dwarf_Lines *lines;
        size_t nlines;

        if (nth++ % every == 0 && dwarf_offdie(dw, off + hsize, &cudie) &&
            dwarf_getsrclines(&cudie, &lines, &nlines) == 0) {
            size_t step = nlines > most ? nlines / most : 1;

            for (size_t i = 0; i < nlines; i += step) {
                Dwarf_Addr a;

                if (dwarf_lineaddr(dwarf_onesrcline(lines, i), &a) != 0)
                    continue;
                compare_at(tab, &cudie, a, c, file);
                compare_at(tab, &cudie, a + 1, c, file);
            }
        }
        off = next;
    }
    tm_scopetab_free(tab);
    dwfl_end(dwfl);
    return 0;
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

START_TEST(test_scopetab_matches_libdw_on_this_program)
{
    counts c;

    tm_nested_outer(3);
    ck_assert_int_eq(compare_module("/proc/self/exe", 1, SIZE_MAX, &c), 0);
    fprintf(stderr,
            "this program: %ld addresses, %ld in inlined code, up to %ld functions deep, %ld unknown\n",
            c.checked, c.inlined, c.deepest, c.unknown);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_int_gt(c.checked, 2000);
    ck_assert_int_gt(c.inlined, 500);
    ck_assert_int_ge(c.deepest, 5); /* level4 .. level1 in tm_nested_outer */
    ck_assert_int_eq(c.unknown, 0);
}
END_TEST

START_TEST(test_scopetab_matches_libdw_on_libc)
{
    const char *want[2] = {"libc.so", NULL};
    counts c;
    int rc;

    dl_iterate_phdr(find_lib, want);
    ck_assert_ptr_nonnull(want[1]);
    rc = compare_module(want[1], 5, 200, &c);
    free((char *)want[1]);
    if (rc)
        return; /* no debug information installed for it */
    fprintf(stderr, "libc: %ld addresses, %ld in inlined code, up to %ld functions deep, %ld unknown\n",
            c.checked, c.inlined, c.deepest, c.unknown);
    ck_assert_int_eq(c.bad, 0);
}
END_TEST

START_TEST(test_scopetab_matches_libdw_on_libpython)
{
    FILE *p = popen("python3 -c 'import sysconfig, os; "
                    "print(os.path.join(sysconfig.get_config_var(\"LIBDIR\") or \"\", "
                    "sysconfig.get_config_var(\"INSTSONAME\") or \"\"))' 2>/dev/null",
                    "r");
    char path[4096] = "";
    counts c;

    if (p) {
        if (!fgets(path, sizeof path, p))
            path[0] = '\0';
        pclose(p);
    }
    path[strcspn(path, "\n")] = '\0';
    if (path[0] != '/' || access(path, R_OK) != 0 || !strstr(path, ".so"))
        return; /* a static python3, or none */
    if (compare_module(path, 3, 200, &c))
        return;
    fprintf(stderr, "%s: %ld addresses, %ld in inlined code, up to %ld functions deep, %ld unknown\n", path,
            c.checked, c.inlined, c.deepest, c.unknown);
    ck_assert_int_eq(c.bad, 0);
}
END_TEST

static Suite *scopetab_suite(void)
{
    Suite *s = suite_create("scopetab");
    TCase *tc = tcase_create("same answers as libdw");

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_scopetab_matches_libdw_on_this_program);
    tcase_add_test(tc, test_scopetab_matches_libdw_on_libc);
    tcase_add_test(tc, test_scopetab_matches_libdw_on_libpython);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(scopetab_suite());
}
