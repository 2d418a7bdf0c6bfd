/* infile.c - regular files only, read up to a limit (infile.h); gzip'd
 * content is inflated, with the limit on the inflated size. */
#include "config.h"

#include "report/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static const char *file_type(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    return "not a file";
}

int tm_infile_open(const char *path, int flags, tm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
    struct stat st;
    int e;

    if (fd < 0)
        return tm__error_set(err, -errno, "%s", strerror(errno));
    if (fstat(fd, &st)) {
        e = errno;
        close(fd);
        return tm__error_set(err, -e, "%s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        if (S_ISDIR(st.st_mode))
            return tm__error_set(err, -EISDIR, "%s", strerror(EISDIR));
        return tm__error_set(err, -EINVAL, "not a regular file (%s)", file_type(st.st_mode));
    }
    if (!(flags & O_NONBLOCK))
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* "64 MiB", "1 GiB": the limits are whole MiB or GiB */
static void limit_text(char *buf, size_t n, uint64_t max)
{
    if (max >= (1u << 30) && max % (1u << 30) == 0)
        snprintf(buf, n, "%llu GiB", (unsigned long long)(max >> 30));
    else if (max >= (1u << 20) && max % (1u << 20) == 0)
        snprintf(buf, n, "%llu MiB", (unsigned long long)(max >> 20));
    else
        snprintf(buf, n, "%llu bytes", (unsigned long long)max);
}

static int too_large(uint64_t max, tm_error *err)
{
    char lim[32];

    limit_text(lim, sizeof lim, max);
    return tm__error_set(err, -EFBIG, "too large: more than %s", lim);
}

static int read_plain(const char *path, int allow_stdin, uint64_t max, char **data, size_t *len, tm_error *err);

/* Inflates the gzip data 'in' (one or more members, as gzip writes and
 * reads them) into a new NUL-terminated buffer of at most 'max' bytes. */
static int gunzip(const unsigned char *in, size_t inlen, uint64_t max, char **data, size_t *len, tm_error *err)
{
    z_stream z;
    size_t cap = 0, n = 0, used;
    char *buf = NULL;
    int zrc, rc = 0;

    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* +32: a gzip (or zlib) header */
        return tm__error_set(err, -ENOMEM, "out of memory");
    z.next_in = (Bytef *)in;
    for (;;) {
        if (n + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : inlen * 4 + 65536;
            char *nb;

            if (ncap > max + 2)
                ncap = (size_t)max + 2; /* room for one byte too many, and the NUL */
            if (ncap <= cap) {
                rc = too_large(max, err);
                goto out_end;
            }
            if (!(nb = realloc(buf, ncap))) {
                rc = tm__error_set(err, -ENOMEM, "out of memory");
                goto out_end;
            }
            buf = nb;
            cap = ncap;
        }
        used = (size_t)((const unsigned char *)z.next_in - in);
        z.avail_in = (uInt)(inlen - used > UINT32_MAX ? UINT32_MAX : inlen - used);
        z.next_out = (Bytef *)buf + n;
        z.avail_out = (uInt)(cap - n - 1 > UINT32_MAX ? UINT32_MAX : cap - n - 1);
        zrc = inflate(&z, Z_NO_FLUSH);
        n = (size_t)((char *)z.next_out - buf);
        used = (size_t)((const unsigned char *)z.next_in - in);
        if (n > max) {
            rc = too_large(max, err);
            goto out_end;
        }
        if (zrc == Z_STREAM_END) {
            /* another member follows, as gzip reads them; anything else
             * after the last one is ignored, as gzip does */
            if (used == inlen || in[used] != 0x1f)
                break;
            inflateReset(&z);
            continue;
        }
        if (zrc == Z_MEM_ERROR) {
            rc = tm__error_set(err, -ENOMEM, "out of memory");
            goto out_end;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = tm__error_set(err, -EINVAL, "not valid gzip data (%s)", z.msg ? z.msg : "corrupt");
            goto out_end;
        }
        if (used == inlen && z.avail_out > 0) {
            rc = tm__error_set(err, -EINVAL, "truncated gzip data (ends after %zu bytes inflated)", n);
            goto out_end;
        }
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
out_end:
    inflateEnd(&z);
    free(buf);
    return rc;
}

int tm_infile_gunzip(const char *data, size_t len, uint64_t max, char **out, size_t *outlen, tm_error *err)
{
    int rc;

    *out = NULL;
    *outlen = 0;
    if (len < 2 || (unsigned char)data[0] != 0x1f || (unsigned char)data[1] != 0x8b)
        return 0;
    rc = gunzip((const unsigned char *)data, len, max, out, outlen, err);
    return rc ? rc : 1;
}

int tm_infile_read(const char *path, int allow_stdin, uint64_t max, char **data, size_t *len, tm_error *err)
{
    int rc = read_plain(path, allow_stdin, max, data, len, err);
    char *text;
    size_t n;

    if (rc || (rc = tm_infile_gunzip(*data, *len, max, &text, &n, err)) == 0)
        return rc;
    free(*data);
    *data = rc > 0 ? text : NULL;
    *len = rc > 0 ? n : 0;
    return rc > 0 ? 0 : rc;
}

static int read_plain(const char *path, int allow_stdin, uint64_t max, char **data, size_t *len, tm_error *err)
{
    int is_stdin = allow_stdin && strcmp(path, "-") == 0;
    int fd = is_stdin ? 0 : tm_infile_open(path, 0, err);
    size_t cap = 0, n = 0;
    struct stat st;
    char *buf = NULL;
    int rc = 0;

    *data = NULL;
    *len = 0;
    if (fd < 0)
        return fd;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > max) {
            rc = too_large(max, err);
            goto out_close;
        }
        /* it may grow while read: the loop copes */
        /* + 2: the NUL, and a byte for the read that finds the end */
        if (!(buf = malloc((size_t)st.st_size + 2))) {
            rc = tm__error_set(err, -ENOMEM, "out of memory");
            goto out_close;
        }
        cap = (size_t)st.st_size + 2;
    }
    for (;;) {
        ssize_t got;

        if (n + 1 >= cap) {
            size_t ncap = cap < 65536 ? 65536 : cap * 2;
            char *nb;

            if (ncap > max + 2)
                ncap = (size_t)max + 2; /* room for one byte too many, and the NUL */
            if (ncap <= cap || !(nb = realloc(buf, ncap))) {
                rc = ncap <= cap ? too_large(max, err) : tm__error_set(err, -ENOMEM, "out of memory");
                goto out_close;
            }
            buf = nb;
            cap = ncap;
        }
        got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = tm__error_set(err, -errno, "cannot read: %s", strerror(errno));
            goto out_close;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            rc = too_large(max, err);
            goto out_close;
        }
    }
    if (!buf && !(buf = malloc(1))) {
        rc = tm__error_set(err, -ENOMEM, "out of memory");
        goto out_close;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    buf = NULL;
out_close:
    free(buf);
    if (!is_stdin)
        close(fd);
    return rc;
}
