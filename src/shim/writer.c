/* writer.c - streaming JSON to a file without allocating.
 *
 * The host's allocator may be in any state when a snapshot is written (and
 * jansson would call it), so the shim formats JSON itself into a mapped
 * buffer and writes it out in large chunks. Errors are sticky: after the
 * first failed write nothing more is written and close reports it. */
#include "shim/writer.h"
#include "shim/shim.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define OUT_BUF (256 * 1024)

int tm__out_open(struct tm__out *o, int fd)
{
    o->fd = fd;
    o->err = 0;
    o->len = 0;
    o->cap = OUT_BUF;
    o->buf = tm__map(OUT_BUF);
    return o->buf ? 0 : -ENOMEM;
}

static void flush(struct tm__out *o)
{
    size_t off = 0;
    while (!o->err && off < o->len) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            o->err = n < 0 ? errno : EIO;
        else
            off += (size_t)n;
    }
    o->len = 0;
}

int tm__out_close(struct tm__out *o)
{
    flush(o);
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
