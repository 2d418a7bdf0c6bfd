/* check_outfile.c - Check suite "outfile": how output files are written
 * (report/outfile.h), how inputs are opened (report/infile.h) and how
 * control characters are quoted (report/quote.h). Files are made in a
 * temporary directory under the build tree's cwd.
 */
#include "config.h"
#include "suite_main.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "report/infile.h"
#include "report/outfile.h"
#include "report/pgzip.h"
#include "report/quote.h"

#include <zlib.h>

static char dir[] = "check_outfile.XXXXXX";

static void setup(void)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chdir(dir), 0);
}

static void teardown(void)
{
    ck_assert_int_eq(chdir(".."), 0);
    /* the names the tests used */
    static const char *const names[] = {"f", "link", "link2", "target", "fifo", "made", "big", "d", "full", "null", NULL};

    for (int i = 0; names[i]; i++) {
        char p[64];

        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (unlink(p))
            rmdir(p);
    }
    rmdir(dir);
    strcpy(dir, "check_outfile.XXXXXX");
}

static char *slurp(const char *path)
{
    static char buf[256];
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);

    if (fd >= 0)
        close(fd);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

START_TEST(test_outfile_replaces_regular_file_atomically)
{
    struct stat before, after;
    tm_error err = {""};

    ck_assert_int_eq(tm_outfile_write("f", "old\n", 4, &err), 0);
    ck_assert_int_eq(chmod("f", 0640), 0);
    ck_assert_int_eq(stat("f", &before), 0);
    ck_assert_int_eq(tm_outfile_write("f", "new\n", 4, &err), 0);
    ck_assert_int_eq(stat("f", &after), 0);
    ck_assert_str_eq(slurp("f"), "new\n");
    ck_assert(before.st_ino != after.st_ino); /* renamed over, not rewritten */
    ck_assert_int_eq(after.st_mode & 07777, 0640);
}
END_TEST

START_TEST(test_outfile_follows_symlinks)
{
    tm_error err = {""};
    struct stat st;

    ck_assert_int_eq(tm_outfile_write("target", "old\n", 4, &err), 0);
    ck_assert_int_eq(symlink("target", "link"), 0);
    ck_assert_int_eq(symlink("link", "link2"), 0);
    ck_assert_int_eq(tm_outfile_write("link2", "new\n", 4, &err), 0);
    ck_assert_int_eq(lstat("link2", &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_eq(lstat("link", &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_str_eq(slurp("target"), "new\n");
    /* a dangling link creates its target */
    ck_assert_int_eq(unlink("link"), 0);
    ck_assert_int_eq(symlink("made", "link"), 0);
    ck_assert_int_eq(tm_outfile_write("link", "made\n", 5, &err), 0);
    ck_assert_str_eq(slurp("made"), "made\n");
}
END_TEST

START_TEST(test_outfile_device_write_error)
{
    /* private nodes of the same devices when we may make them (as root:
     * a broken build must not replace the real /dev/full) */
    const char *full = mknod("full", S_IFCHR | 0666, makedev(1, 7)) == 0 ? "full" : "/dev/full";
    const char *null = mknod("null", S_IFCHR | 0666, makedev(1, 3)) == 0 ? "null" : "/dev/null";
    struct stat st;
    tm_error err = {""};

    if (access(full, W_OK) != 0)
        return;
    ck_assert_int_eq(tm_outfile_write(full, "x", 1, &err), -ENOSPC);
    ck_assert_str_eq(err.what, "write error: No space left on device");
    ck_assert_int_eq(stat(full, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    ck_assert_int_eq(tm_outfile_write(null, "x", 1, &err), 0);
    ck_assert_int_eq(stat(null, &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
}
END_TEST

START_TEST(test_outfile_directory_is_an_error)
{
    tm_error err = {""};

    ck_assert_int_eq(mkdir("d", 0755), 0);
    ck_assert_int_eq(tm_outfile_write("d", "x", 1, &err), -EISDIR);
    ck_assert_str_eq(err.what, "cannot write: Is a directory");
    ck_assert_str_eq(tm_outfile_name("-"), "<stdout>");
    ck_assert_str_eq(tm_outfile_name("d"), "d");
}
END_TEST

START_TEST(test_outfile_infile_refuses_fifo)
{
    tm_error err = {""};
    char *data;
    size_t len;

    ck_assert_int_eq(mkfifo("fifo", 0600), 0);
    ck_assert_int_eq(tm_infile_open("fifo", 0, &err), -EINVAL);
    ck_assert_str_eq(err.what, "not a regular file (a FIFO)");
    ck_assert_int_eq(tm_infile_read("/dev/zero", 0, 100, &data, &len, &err), -EINVAL);
    ck_assert_str_eq(err.what, "not a regular file (a character device)");
}
END_TEST

START_TEST(test_outfile_infile_limit)
{
    tm_error err = {""};
    char *data;
    size_t len;

    ck_assert_int_eq(tm_outfile_write("big", "0123456789", 10, &err), 0);
    ck_assert_int_eq(tm_infile_read("big", 0, 10, &data, &len, &err), 0);
    ck_assert_uint_eq(len, 10);
    ck_assert_str_eq(data, "0123456789");
    free(data);
    ck_assert_int_eq(tm_infile_read("big", 0, 9, &data, &len, &err), -EFBIG);
    ck_assert_str_eq(err.what, "too large: more than 9 bytes");
    ck_assert_int_eq(truncate("big", (off_t)(64 << 20) + 1), 0);
    ck_assert_int_eq(tm_infile_read("big", 0, TM_SUPPRESSIONS_MAX_BYTES, &data, &len, &err), -EFBIG);
    ck_assert_str_eq(err.what, "too large: more than 64 MiB");
}
END_TEST

/* 'n' bytes of text that repeats at distances up to 40 KiB, so that
 * blocks use their dictionary */
static char *some_text(size_t n)
{
    char *t = malloc(n + 1);
    uint32_t x = 12345;

    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        t[i] = i >= 40000 && (x >> 16) % 4 ? t[i - 40000 + (x >> 24) % 8] : (char)('a' + (x >> 16) % 26);
    }
    t[n] = '\0';
    return t;
}

/* One gzip member (inflate ends exactly at the file's end): what readers
 * that take only the first member see is all of it. */
static void assert_one_member(const char *path, const char *want, size_t n)
{
    char *gz, *out = malloc(n + 1);
    size_t len;
    z_stream z = {0};
    tm_error err;

    ck_assert_int_eq(tm_infile_read(path, 0, 1 << 30, &gz, &len, &err), 0); /* inflated */
    ck_assert_uint_eq(len, n);
    ck_assert(memcmp(gz, want, n) == 0);
    free(gz);
    int fd = open(path, O_RDONLY);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    gz = malloc((size_t)st.st_size);
    ck_assert_int_eq(read(fd, gz, (size_t)st.st_size), st.st_size);
    close(fd);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)st.st_size;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)n + 1;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0);
    ck_assert_uint_eq(z.total_out, n);
    inflateEnd(&z);
    free(gz);
    free(out);
}

START_TEST(test_outfile_pgzip_one_member)
{
    /* nothing, less than a block, exactly two blocks (the last one
     * empty), and several blocks and a part */
    const size_t sizes[] = {0, 100, 2 * TM_PGZ_BLOCK, 3 * TM_PGZ_BLOCK + 54321};
    char *text = some_text(sizes[3]);

    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        FILE *fp = fopen("big", "w");
        tm_pgz *z = tm_pgz_open(fp, k == 3 ? 6 : 1);

        ck_assert_ptr_nonnull(z);
        /* in pieces that do not line up with the blocks */
        for (size_t i = 0; i < sizes[k]; i += 70001)
            ck_assert_int_eq(tm_pgz_write(z, text + i, sizes[k] - i < 70001 ? sizes[k] - i : 70001), 0);
        ck_assert_int_eq(tm_pgz_close(z), 0);
        ck_assert_int_eq(fclose(fp), 0);
        assert_one_member("big", text, sizes[k]);
    }
    free(text);
}
END_TEST

START_TEST(test_outfile_pgzip_write_error)
{
    FILE *fp = fopen("/dev/full", "w");
    char *text = some_text(2 * TM_PGZ_BLOCK + 10);
    tm_pgz *z;

    if (!fp) {
        free(text);
        return; /* no /dev/full */
    }
    setvbuf(fp, NULL, _IONBF, 0);
    z = tm_pgz_open(fp, 3);
    ck_assert_ptr_nonnull(z);
    tm_pgz_write(z, text, 2 * TM_PGZ_BLOCK + 10);
    ck_assert_int_eq(tm_pgz_close(z), -1);
    fclose(fp);
    free(text);
}
END_TEST

START_TEST(test_outfile_quote)
{
    char buf[64];
    const char *plain = "a\\b c";

    ck_assert_ptr_eq(tm_quote(plain, buf, sizeof buf), plain); /* untouched */
    ck_assert_str_eq(tm_quote("\033[31mred\n\t\r\177", buf, sizeof buf), "\\x1b[31mred\\n\\t\\r\\x7f");
    ck_assert_str_eq(tm_quote("ab\033", buf, 6), "ab"); /* never half an escape */
    ck_assert_ptr_null(tm_quote(NULL, buf, sizeof buf));
}
END_TEST

static Suite *outfile_suite(void)
{
    Suite *s = suite_create("outfile");
    TCase *tc = tcase_create("output");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_outfile_replaces_regular_file_atomically);
    tcase_add_test(tc, test_outfile_follows_symlinks);
    tcase_add_test(tc, test_outfile_device_write_error);
    tcase_add_test(tc, test_outfile_directory_is_an_error);
    suite_add_tcase(s, tc);
    tc = tcase_create("input");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_outfile_infile_refuses_fifo);
    tcase_add_test(tc, test_outfile_infile_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("gzip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_outfile_pgzip_one_member);
    tcase_add_test(tc, test_outfile_pgzip_write_error);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tc = tcase_create("quote");
    tcase_add_test(tc, test_outfile_quote);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_main(outfile_suite());
}
