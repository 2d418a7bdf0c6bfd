/* check_pyframes.c - the location table decoder of pyframes.c (tm__py_line):
 * hand-made entries of each 3.11 form (short, one-line, no-column, long,
 * no-location), varints of several bytes, malformed tables, and a table
 * taken from CPython 3.11 with the lines its co_positions() gives. */
#include "shim/shim.h"
#include "suite_main.h"

#include <check.h>
#include <stdlib.h>

/* the first byte of an entry: 1, the form's code, the length - 1 in code units */
#define ENTRY(code, units) (unsigned char)(0x80 | (code) << 3 | ((units) - 1))

START_TEST(test_py_line_short_form)
{
    /* codes 0..9: two bytes, the line unchanged; 2 and 3 code units */
    const unsigned char t[] = {ENTRY(0, 2), 0x12, ENTRY(9, 3), 0x7f};
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 40, 0), 40);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 40, 2), 40);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 40, 4), 40);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 40, 8), 40);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 40, 10), -1); /* past the table */
}
END_TEST

START_TEST(test_py_line_one_line_form)
{
    /* codes 10..12: the line + 0, 1, 2, then the two column bytes */
    const unsigned char t[] = {ENTRY(11, 1), 4, 9, ENTRY(12, 2), 0, 5, ENTRY(10, 1), 1, 2, ENTRY(12, 8), 3, 4};
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 7, 0), 8);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 7, 2), 10);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 7, 4), 10);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 7, 6), 10);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 7, 8), 12);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 7, 22), 12);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 7, 24), -1);
}
END_TEST

START_TEST(test_py_line_no_column_form)
{
    /* code 13: a signed varint line delta (zigzag: 2n, or 2n+1 for -n) */
    const unsigned char t[] = {ENTRY(13, 1), 10, ENTRY(13, 1), 7, ENTRY(13, 2), 0};
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 100, 0), 105);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 100, 2), 102);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 100, 4), 102);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 100, 6), 102);
}
END_TEST

START_TEST(test_py_line_long_form)
{
    /* code 14: line delta, end line delta, column, end column, each a
     * varint of 6-bit chunks (bit 6: more); 300 = 600 zigzagged = 0x58
     * 0x09 (24 | 64, 9); -70 = 141 = 0x4d 0x02 */
    const unsigned char t[] = {ENTRY(14, 2), 0x58, 0x09, 2, 0x41, 0x01, 5,
                               ENTRY(14, 1), 0x4d, 0x02, 0, 3, 4,
                               ENTRY(0, 1), 0x00};
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 1, 0), 301);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 1, 2), 301);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 1, 4), 231);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 1, 6), 231); /* a short form after it */
}
END_TEST

START_TEST(test_py_line_no_location)
{
    /* code 15: no location (an artificial instruction); the line goes on
     * unchanged for the entries after it */
    const unsigned char t[] = {ENTRY(11, 1), 0, 1, ENTRY(15, 2), ENTRY(10, 1), 0, 1};
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 20, 0), 21);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 20, 2), -1);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 20, 4), -1);
    ck_assert_int_eq(tm__py_line(t, sizeof(t), 20, 6), 21);
}
END_TEST

START_TEST(test_py_line_malformed)
{
    /* not an entry start, an empty table, a varint cut short */
    const unsigned char bad[] = {0x12, 0x80}, cut[] = {ENTRY(13, 1), 0x41};
    ck_assert_int_eq(tm__py_line(bad, sizeof(bad), 3, 0), -1);
    ck_assert_int_eq(tm__py_line(bad, 0, 3, 0), -1);
    ck_assert_int_eq(tm__py_line(cut, sizeof(cut), 3, 0), 3); /* 0x41: 1, more, then nothing: delta -0 */
    ck_assert_int_eq(tm__py_line(cut, sizeof(cut), 3, 2), -1);
}
END_TEST

/* co_linetable of this function under CPython 3.11.2 (first line 1):
 *   def f(a, b):
 *       x = [a,
 *            b]
 *
 *       y = {"k": x}  # comment
 *
 *
 *
 *
 *       if a:
 *           return None
 *       z = (a +
 *            b * 2 +
 *            len(y))
 *       return [i for i in range(z)]
 * and the line of each instruction from f.__code__.co_positions(). */
static const unsigned char real_table[] = {
    0x80, 0x00, 0xd8, 0x09, 0x0a, 0xd8, 0x09, 0x0a, 0xf0, 0x03, 0x01, 0x09, 0x0c, 0x80, 0x41, 0xf0, 0x06, 0x00, 0x0a,
    0x0d, 0x88, 0x61, 0x88, 0x08, 0x80, 0x41, 0xf0, 0x0a, 0x00, 0x08, 0x09, 0xf0, 0x00, 0x01, 0x05, 0x14, 0xd8, 0x0f,
    0x13, 0x88, 0x74, 0xd8, 0x09, 0x0a, 0xd8, 0x09, 0x0a, 0x88, 0x51, 0x89, 0x15, 0xf1, 0x03, 0x01, 0x0a, 0x0f, 0xe5,
    0x09, 0x0c, 0x88, 0x51, 0x89, 0x16, 0x8c, 0x16, 0xf1, 0x05, 0x02, 0x0a, 0x10, 0x80, 0x41, 0xf0, 0x06, 0x00, 0x0c,
    0x21, 0xd0, 0x0b, 0x20, 0x95, 0x75, 0x98, 0x51, 0x91, 0x78, 0x94, 0x78, 0xd0, 0x0b, 0x20, 0xd1, 0x0b, 0x20, 0xd4,
    0x0b, 0x20, 0xd0, 0x04, 0x20};
static const int real_lines[] = {1,  2,  3,  2,  2,  5,  5,  5,  5,  10, 10, 11, 11, 12, 13, 13, 13, 13, 12, 12, 14,
                                 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14, 12, 12, 12, 15, 15, 15, 15, 15,
                                 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15};

START_TEST(test_py_line_cpython_table)
{
    int n = (int)(sizeof(real_lines) / sizeof(real_lines[0]));
    for (int i = 0; i < n; i++)
        ck_assert_msg(tm__py_line(real_table, sizeof(real_table), 1, 2 * i) == real_lines[i],
                      "instruction %d: line %d, expected %d", i, tm__py_line(real_table, sizeof(real_table), 1, 2 * i),
                      real_lines[i]);
    ck_assert_int_eq(tm__py_line(real_table, sizeof(real_table), 1, 2 * n), -1);
    /* the same table for a function two lines lower */
    ck_assert_int_eq(tm__py_line(real_table, sizeof(real_table), 3, 2 * 13), 14);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pyframes");
    TCase *tc = tcase_create("line table");
    tcase_add_test(tc, test_py_line_short_form);
    tcase_add_test(tc, test_py_line_one_line_form);
    tcase_add_test(tc, test_py_line_no_column_form);
    tcase_add_test(tc, test_py_line_long_form);
    tcase_add_test(tc, test_py_line_no_location);
    tcase_add_test(tc, test_py_line_malformed);
    tcase_add_test(tc, test_py_line_cpython_table);
    suite_add_tcase(s, tc);
    return check_main(s);
}
