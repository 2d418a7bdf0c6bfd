/* writer.c - streaming JSON to a file without allocating.
 *
 * The host's allocator may be in any state when a snapshot is written (and
 * jansson would call it), so the shim formats JSON itself into a mapped
 * buffer and writes it out in large chunks. Errors are sticky: after the
 * first failed write nothing more is written and close reports it.
 *
 * A name ending in ".gz" is written gzip-compressed: each full buffer goes
 * through zlib's deflate, whose memory comes from tm__map() through the
 * z_stream's zalloc/zfree (zlib allocates nothing else). zlib is loaded
 * with dlopen(RTLD_LOCAL) when the shim starts, like libunwind: the shim
 * links libc only and adds no symbol to the host's scope; without it a
 * ".gz" snapshot is written plain (readers go by the content). The level
 * is tm__gz_level: 3, or TRACEMEM_GZIP_LEVEL; 0 writes stored blocks, a
 * valid gzip file of the snapshot's size that costs a copy and a CRC. */
#define _GNU_SOURCE
#include "shim/writer.h"
#include "shim/shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static struct {
    int (*init2)(z_streamp, int, int, int, int, int, const char *, int);
    int (*deflate)(z_streamp, int);
    int (*end)(z_streamp);
} zl;

void tm__zlib_init(void)
{
    void *h = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);

    if (!h)
        return;
    zl.deflate = (int (*)(z_streamp, int))dlsym(h, "deflate");
    zl.end = (int (*)(z_streamp))dlsym(h, "deflateEnd");
    if (zl.deflate && zl.end)
        __atomic_store_n(&zl.init2,
                         (int (*)(z_streamp, int, int, int, int, int, const char *, int))dlsym(h, "deflateInit2_"),
                         __ATOMIC_RELEASE);
}

#define OUT_BUF (256 * 1024)
#define ZOUT_BUF (128 * 1024)
/* deflate's speed matters more than the last percent: the snapshot is
 * written while the program exits. TRACEMEM_GZIP_LEVEL sets another
 * (control.c); tracemem run sets 0, stored blocks: no deflate time in the
 * program, and the command reads them back with a copy. */
#define GZ_LEVEL 3
int tm__gz_level = GZ_LEVEL;

struct gz {
    z_stream strm;
    unsigned char out[ZOUT_BUF];
};

int tm__out_open(struct tm__out *o, int fd)
{
    o->fd = fd;
    o->err = 0;
    o->len = 0;
    o->cap = OUT_BUF;
    o->z = NULL;
    o->buf = tm__map(OUT_BUF);
    return o->buf ? 0 : -ENOMEM;
}

int tm__out_is_gz(const char *path)
{
    size_t n = strlen(path);

    return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

/* zlib's allocations: the size is kept in front, for tm__unmap() */
static voidpf zalloc_raw(voidpf opaque, uInt items, uInt size)
{
    size_t n = (size_t)items * size + 16;
    char *p;

    (void)opaque;
    if (size && n / size < items)
        return Z_NULL;
    if (!(p = tm__map(n)))
        return Z_NULL;
    memcpy(p, &n, sizeof n);
    return p + 16;
}

static void zfree_raw(voidpf opaque, voidpf addr)
{
    char *p = (char *)addr - 16;
    size_t n;

    (void)opaque;
    if (!addr)
        return;
    memcpy(&n, p, sizeof n);
    tm__unmap(p, n);
}

int tm__out_gzip(struct tm__out *o)
{
    int (*init2)(z_streamp, int, int, int, int, int, const char *, int) =
        __atomic_load_n(&zl.init2, __ATOMIC_ACQUIRE);
    struct gz *g;

    if (!init2)
        return 0; /* no zlib: plain */
    if (!(g = tm__map(sizeof *g)))
        return -ENOMEM;
    g->strm.zalloc = zalloc_raw;
    g->strm.zfree = zfree_raw;
    g->strm.opaque = Z_NULL;
    /* windowBits 15 + 16: a gzip header and trailer */
    if (init2(&g->strm, tm__gz_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, (int)sizeof g->strm) !=
        Z_OK) {
        tm__unmap(g, sizeof *g);
        return -ENOMEM;
    }
    o->z = g;
    return 0;
}

static void write_all(struct tm__out *o, const char *p, size_t len)
{
    size_t off = 0;
    while (!o->err && off < len) {
        ssize_t n = write(o->fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            o->err = n < 0 ? errno : EIO;
        else
            off += (size_t)n;
    }
}

/* Compresses the buffer ('finish': and ends the gzip stream). */
static void deflate_buf(struct tm__out *o, int finish)
{
    struct gz *g = o->z;
    int rc;

    g->strm.next_in = (Bytef *)o->buf;
    g->strm.avail_in = (uInt)o->len;
    do {
        g->strm.next_out = g->out;
        g->strm.avail_out = sizeof g->out;
        rc = zl.deflate(&g->strm, finish ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_STREAM_ERROR) {
            o->err = EIO;
            return;
        }
        write_all(o, (const char *)g->out, sizeof g->out - g->strm.avail_out);
    } while (!o->err && (g->strm.avail_out == 0 || (finish && rc != Z_STREAM_END)));
}

static void flush(struct tm__out *o)
{
    if (o->z)
        deflate_buf(o, 0);
    else
        write_all(o, o->buf, o->len);
    o->len = 0;
}

int tm__out_close(struct tm__out *o)
{
    if (o->z) {
        struct gz *g = o->z;

        if (!o->err)
            deflate_buf(o, 1);
        zl.end(&g->strm);
        tm__unmap(g, sizeof *g);
        o->z = NULL;
    } else {
        flush(o);
    }
    o->len = 0;
    tm__unmap(o->buf, o->cap);
    o->buf = NULL;
    return o->err ? -o->err : 0;
}

void tm__out_raw(struct tm__out *o, const char *s, size_t n)
{
    while (n) {
        if (o->len == o->cap)
            flush(o);
        size_t room = o->cap - o->len;
        size_t k = n < room ? n : room;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

void tm__out_lit(struct tm__out *o, const char *s)
{
    tm__out_raw(o, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at 's' (at most 'n' bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (!len || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

void tm__out_strn(struct tm__out *o, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    char esc[8];
    tm__out_raw(o, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            tm__out_raw(o, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            tm__snprintf(esc, sizeof(esc), "\\u00%c%c", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
            tm__out_raw(o, esc, 6);
            i++;
        } else if (c < 0x80) {
            tm__out_raw(o, (const char *)s + i, 1);
            i++;
        } else {
            size_t len = utf8_len(s + i, n - i);
            if (len) {
                tm__out_raw(o, (const char *)s + i, len);
                i += len;
            } else { /* not UTF-8: keep the byte readable as U+00XX */
                tm__snprintf(esc, sizeof(esc), "\\u00%c%c", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
                tm__out_raw(o, esc, 6);
                i++;
            }
        }
    }
    tm__out_raw(o, "\"", 1);
}

void tm__out_str(struct tm__out *o, const char *s)
{
    tm__out_strn(o, s, strlen(s));
}

void tm__out_u64(struct tm__out *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tm__out_raw(o, tmp + sizeof(tmp) - n, (size_t)n);
}

void tm__out_i64(struct tm__out *o, int64_t v)
{
    if (v < 0) {
        tm__out_raw(o, "-", 1);
        tm__out_u64(o, -(uint64_t)v);
    } else {
        tm__out_u64(o, (uint64_t)v);
    }
}

void tm__out_key(struct tm__out *o, const char *key, int first)
{
    if (!first)
        tm__out_raw(o, ",", 1);
    tm__out_str(o, key);
    tm__out_raw(o, ":", 1);
}
