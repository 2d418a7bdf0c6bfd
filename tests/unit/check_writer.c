/* check_writer.c - the shim's allocation-free JSON writer (plain and
 * gzip), its formatter and the output path template. */
#define _GNU_SOURCE
#include "shim/shim.h"
#include "shim/writer.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

/* Runs 'emit' into a memfd and returns what was written (static buffer). */
static const char *capture(void (*emit)(struct tm__out *o), int *rc)
{
    static char text[1 << 22];
    int fd = memfd_create("out", 0);
    struct tm__out o;
    ck_assert_int_eq(tm__out_open(&o, fd), 0);
    emit(&o);
    *rc = tm__out_close(&o);
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    close(fd);
    return text;
}

static void emit_strings(struct tm__out *o)
{
    tm__out_str(o, "plain");
    tm__out_lit(o, " ");
    tm__out_str(o, "q\"b\\n\n\t\x01\x7f");
    tm__out_lit(o, " ");
    tm__out_str(o, "caf\xc3\xa9 \xe2\x82\xac");
    tm__out_lit(o, " ");
    tm__out_str(o, "bad\xff\xc3");
}

START_TEST(test_writer_escapes_strings)
{
    int rc;
    const char *t = capture(emit_strings, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(t, "\"plain\" \"q\\\"b\\\\n\\u000a\\u0009\\u0001\\u007f\" "
                        "\"caf\xc3\xa9 \xe2\x82\xac\" \"bad\\u00ff\\u00c3\"");
}
END_TEST

static void emit_numbers(struct tm__out *o)
{
    tm__out_u64(o, 0);
    tm__out_lit(o, ",");
    tm__out_u64(o, UINT64_MAX);
    tm__out_lit(o, ",");
    tm__out_i64(o, -1);
    tm__out_lit(o, ",");
    tm__out_i64(o, INT64_MIN);
    tm__out_lit(o, ",");
    tm__out_i64(o, 1234567);
    tm__out_key(o, "k", 0);
    tm__out_key(o, "first", 1);
}

START_TEST(test_writer_numbers_and_keys)
{
    int rc;
    const char *t = capture(emit_numbers, &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(t, "0,18446744073709551615,-1,-9223372036854775808,1234567,\"k\":\"first\":");
}
END_TEST

static void emit_large(struct tm__out *o)
{
    for (int i = 0; i < 200000; i++) {
        tm__out_u64(o, (uint64_t)i);
        tm__out_lit(o, "\n");
    }
}

START_TEST(test_writer_flushes_large_output)
{
    int rc;
    const char *t = capture(emit_large, &rc);
    ck_assert_int_eq(rc, 0);
    size_t lines = 0;
    for (const char *p = t; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, 200000);
    ck_assert_str_eq(t + strlen(t) - 7, "199999\n");
}
END_TEST

START_TEST(test_writer_error_is_sticky)
{
    int fd = open("/dev/null", O_RDONLY);
    struct tm__out o;
    ck_assert_int_eq(tm__out_open(&o, fd), 0);
    for (int i = 0; i < 100000; i++)
        tm__out_lit(&o, "0123456789");
    ck_assert_int_eq(tm__out_close(&o), -EBADF);
    close(fd);
}
END_TEST

START_TEST(test_writer_snprintf_subset)
{
    char buf[64];
    ck_assert_int_eq(tm__snprintf(buf, sizeof(buf), "%s=%d %u %ld %lu %zu %x %c %%", "a", -5, 7u, -9L,
                                  10UL, (size_t)11, 255u, 'z'), 22);
    ck_assert_str_eq(buf, "a=-5 7 -9 10 11 ff z %");
    ck_assert_int_eq(tm__snprintf(buf, 4, "%s", "abcdef"), 6);
    ck_assert_str_eq(buf, "abc");
}
END_TEST

START_TEST(test_outpath_template)
{
    char out[256], want[256];
    ck_assert_int_eq(tm__output_path(out, sizeof(out), "/tmp/x.%p.json", 0, 0), 0);
    snprintf(want, sizeof(want), "/tmp/x.%d.json", (int)getpid());
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(tm__output_path(out, sizeof(out), "/tmp/x.%p.json", 2, 0), 0);
    snprintf(want, sizeof(want), "/tmp/x.%d.2.json", (int)getpid());
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(tm__output_path(out, sizeof(out), "snap-%n.json", 3, 1), 0);
    ck_assert_str_eq(out, "snap-3.json");
    ck_assert_int_eq(tm__output_path(out, sizeof(out), "a%%b%q", 0, 1), 0);
    ck_assert_str_eq(out, "a%b%q.0");
    ck_assert_int_eq(tm__output_path(out, sizeof(out), "%e.json", 0, 0), 0);
    ck_assert_str_eq(out, "check_writer.json");
    ck_assert_int_eq(tm__output_path(out, 8, "long-name-%p.json", 0, 0), -ENAMETOOLONG);
}
END_TEST

/* 600 000 numbers: several buffers of output, compressible */
static void emit_many(struct tm__out *o)
{
    for (uint64_t i = 0; i < 600000; i++) {
        tm__out_key(o, "n", i == 0);
        tm__out_u64(o, i % 1000);
    }
}

/* Inflates the gzip file 'fd' into 'out' (at most 'cap' bytes); its length. */
static size_t gunzip_fd(int fd, char *out, size_t cap)
{
    static unsigned char in[1 << 22];
    ssize_t n = pread(fd, in, sizeof in, 0);
    z_stream z;

    memset(&z, 0, sizeof z);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0);
    inflateEnd(&z);
    return cap - z.avail_out;
}

START_TEST(test_writer_gzip_inflates_to_the_plain_output)
{
    static char plain[1 << 24], inflated[1 << 24];
    int fd = memfd_create("plain", 0), gz = memfd_create("gz", 0);
    size_t before = atomic_load(&tm__mapped_bytes), np, ng;
    struct tm__out o;

    tm__zlib_init();
    ck_assert_int_eq(tm__out_open(&o, fd), 0);
    emit_many(&o);
    ck_assert_int_eq(tm__out_close(&o), 0);
    np = (size_t)pread(fd, plain, sizeof plain, 0);
    ck_assert_uint_gt(np, 2 * 256 * 1024); /* more than one buffer */

    ck_assert_int_eq(tm__out_open(&o, gz), 0);
    ck_assert_int_eq(tm__out_gzip(&o), 0);
    ck_assert_ptr_nonnull(o.z);
    emit_many(&o);
    ck_assert_int_eq(tm__out_close(&o), 0);
    ck_assert_uint_lt((size_t)lseek(gz, 0, SEEK_END), np / 3);
    ng = gunzip_fd(gz, inflated, sizeof inflated);
    ck_assert_uint_eq(ng, np);
    ck_assert_int_eq(memcmp(plain, inflated, np), 0);
    /* zlib's memory came from tm__map() and went back */
    ck_assert_uint_eq(atomic_load(&tm__mapped_bytes), before);
    close(fd);
    close(gz);
}
END_TEST

START_TEST(test_writer_gz_names)
{
    char out[256], want[256];

    ck_assert_int_eq(tm__out_is_gz("a.json.gz"), 1);
    ck_assert_int_eq(tm__out_is_gz(".gz"), 1);
    ck_assert_int_eq(tm__out_is_gz("a.json"), 0);
    ck_assert_int_eq(tm__out_is_gz("gz"), 0);
    ck_assert_int_eq(tm__out_is_gz("a.gzip"), 0);
    /* the sequence number goes before .json.gz */
    ck_assert_int_eq(tm__output_path(out, sizeof(out), "/tmp/x.%p.json.gz", 2, 0), 0);
    snprintf(want, sizeof(want), "/tmp/x.%d.2.json.gz", (int)getpid());
    ck_assert_str_eq(out, want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("writer");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_writer_escapes_strings);
    tcase_add_test(tc, test_writer_numbers_and_keys);
    tcase_add_test(tc, test_writer_flushes_large_output);
    tcase_add_test(tc, test_writer_error_is_sticky);
    tcase_add_test(tc, test_writer_gzip_inflates_to_the_plain_output);
    tcase_add_test(tc, test_writer_gz_names);
    suite_add_tcase(s, tc);
    TCase *fmt = tcase_create("format");
    tcase_add_test(fmt, test_writer_snprintf_subset);
    tcase_add_test(fmt, test_outpath_template);
    suite_add_tcase(s, fmt);
    return check_main(s);
}
