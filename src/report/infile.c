/* infile.c - regular files only, read up to a limit (infile.h); gzip'd
 * content is inflated, with the limit on the inflated size. */
#include "config.h"

#include "report/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static int read_plain(int fd, uint64_t max, char **data, size_t *len, tm_error *err);

/* gzip input: all in memory ('fd' < 0), or read from 'fd' a chunk at a
 * time (no buffer of the whole compressed file: its pages cost as much
 * as inflating stored blocks) */
#define GZ_CHUNK ((size_t)1 << 20)

typedef struct gzin {
    const unsigned char *p; /* unread input */
    size_t len;
    int fd;
    int eof;
    unsigned char *chunk; /* fd: GZ_CHUNK bytes */
    uint64_t total;       /* fd: bytes read */
    uint64_t max;
} gzin;

/* Makes input available when none is left (fd only); 0 or an error. */
static int gz_fill(gzin *s, tm_error *err)
{
    ssize_t got;

    if (s->len || s->fd < 0 || s->eof)
        return 0;
    do
        got = read(s->fd, s->chunk, GZ_CHUNK);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return tm__error_set(err, -errno, "cannot read: %s", strerror(errno));
    if (got == 0)
        s->eof = 1;
    s->p = s->chunk;
    s->len = (size_t)got;
    s->total += (uint64_t)got;
    return s->total > s->max ? too_large(s->max, err) : 0;
}

static uint64_t le32(const unsigned char *b)
{
    return (uint64_t)b[0] | (uint64_t)b[1] << 8 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 24;
}

/* The first size of the buffer the gzip data of 'in' ('inlen' bytes, not
 * read yet) is inflated into: the size the (last) member's trailer gives
 * modulo 2^32, when it can be right for one member (deflate inflates to
 * at most 1032 times its size, stored blocks are a little smaller than
 * the data), with room for a NUL and one byte more; a guess otherwise (or
 * when the data is too short to have a trailer). Too small, the buffer
 * grows. */
static size_t first_size(const gzin *in, size_t inlen)
{
    unsigned char b[4];

    if (inlen < 20)
        return 65536;
    if (in->fd < 0)
        memcpy(b, in->p + inlen - 4, 4);
    else if (pread(in->fd, b, 4, (off_t)(inlen - 4)) != 4)
        return 65536;
    uint64_t isize = le32(b);
    if (isize + 64 >= inlen / 2 && isize / 1032 <= inlen)
        return (size_t)isize + 2;
    return inlen * 4 + 65536;
}

void tm__huge_pages(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, e = ((uintptr_t)p + n) & ~(uintptr_t)4095;

    if (n >= ((size_t)8 << 20) && e > a)
        madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

/* Inflates the gzip data of 's' (one or more members, as gzip writes and
 * reads them; 'first' bytes to start with) into a new NUL-terminated
 * buffer of at most 'max' bytes. */
static int gunzip(gzin *s, size_t first, uint64_t max, char **data, size_t *len, tm_error *err)
{
    z_stream z;
    size_t cap = 0, n = 0;
    char *buf = NULL;
    int zrc, rc = 0;

    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 32) != Z_OK) /* +32: a gzip (or zlib) header */
        return tm__error_set(err, -ENOMEM, "out of memory");
    for (;;) {
        if (n + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : first;
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
            tm__huge_pages(buf, cap);
        }
        if ((rc = gz_fill(s, err)))
            goto out_end;
        z.next_in = (Bytef *)s->p;
        z.avail_in = (uInt)(s->len > UINT32_MAX ? UINT32_MAX : s->len);
        z.next_out = (Bytef *)buf + n;
        z.avail_out = (uInt)(cap - n - 1 > UINT32_MAX ? UINT32_MAX : cap - n - 1);
        zrc = inflate(&z, Z_NO_FLUSH);
        n = (size_t)((char *)z.next_out - buf);
        s->len -= (size_t)((const unsigned char *)z.next_in - s->p);
        s->p = z.next_in;
        if (n > max) {
            rc = too_large(max, err);
            goto out_end;
        }
        if (zrc == Z_STREAM_END) {
            /* another member follows, as gzip reads them; anything else
             * after the last one is ignored, as gzip does */
            if ((rc = gz_fill(s, err)))
                goto out_end;
            if (!s->len || s->p[0] != 0x1f)
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
        if (!s->len && (s->fd < 0 || s->eof) && z.avail_out > 0) {
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
    gzin in = {.p = (const unsigned char *)data, .len = len, .fd = -1, .max = max};
    rc = gunzip(&in, first_size(&in, len), max, out, outlen, err);
    return rc ? rc : 1;
}

/* A regular file that starts with gzip's magic bytes: inflated as it is
 * read. 1 when it is not gzip (nothing read), else 0 or an error. */
static int read_gzip(int fd, uint64_t max, char **data, size_t *len, tm_error *err)
{
    unsigned char b[2];
    struct stat st;
    gzin in = {.fd = fd, .max = max};
    int rc;

    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < 2 || pread(fd, b, 2, 0) != 2 || b[0] != 0x1f ||
        b[1] != 0x8b)
        return 1;
    if ((uint64_t)st.st_size > max)
        return too_large(max, err);
    if (!(in.chunk = malloc(GZ_CHUNK)))
        return tm__error_set(err, -ENOMEM, "out of memory");
    rc = gunzip(&in, first_size(&in, (size_t)st.st_size), max, data, len, err);
    free(in.chunk);
    return rc;
}

int tm_infile_read(const char *path, int allow_stdin, uint64_t max, char **data, size_t *len, tm_error *err)
{
    int rc;
    char *text;
    size_t n;

    *data = NULL;
    *len = 0;
    if (!(allow_stdin && strcmp(path, "-") == 0)) {
        int fd = tm_infile_open(path, 0, err);

        if (fd < 0)
            return fd;
        if ((rc = read_gzip(fd, max, data, len, err)) > 0)
            rc = read_plain(fd, max, data, len, err);
        close(fd);
        return rc;
    }
    rc = read_plain(0, max, data, len, err);
    if (rc || (rc = tm_infile_gunzip(*data, *len, max, &text, &n, err)) == 0)
        return rc;
    free(*data);
    *data = rc > 0 ? text : NULL;
    *len = rc > 0 ? n : 0;
    return rc > 0 ? 0 : rc;
}

/* All of 'fd' (stdin, or a regular file), plain. */
static int read_plain(int fd, uint64_t max, char **data, size_t *len, tm_error *err)
{
    size_t cap = 0, n = 0;
    struct stat st;
    char *buf = NULL;
    int rc = 0;

    *data = NULL;
    *len = 0;
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
    return rc;
}
