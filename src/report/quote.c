/* quote.c - control characters written as C escapes (quote.h). */
#include "config.h"

#include "report/quote.h"

#include <string.h>

/* The escape of control character 'c' into 'out' (at least 5 bytes);
 * returns its length. */
static size_t escape(unsigned char c, char *out)
{
    switch (c) {
    case '\n':
        memcpy(out, "\\n", 2);
        return 2;
    case '\t':
        memcpy(out, "\\t", 2);
        return 2;
    case '\r':
        memcpy(out, "\\r", 2);
        return 2;
    default:
        snprintf(out, 5, "\\x%02x", c);
        return 4;
    }
}

const char *tm_quote(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    const char *p;

    if (!s)
        return NULL;
    for (p = s; *p && !tm_is_control((unsigned char)*p); p++)
        ;
    if (!*p || cap == 0)
        return *p ? "" : s;
    for (p = s; *p; p++) {
        char e[5];
        size_t n = 1;

        if (tm_is_control((unsigned char)*p))
            n = escape((unsigned char)*p, e);
        else
            e[0] = *p;
        if (o + n >= cap)
            break;
        memcpy(buf + o, e, n);
        o += n;
    }
    buf[o] = '\0';
    return buf;
}

void tm_fputn_quoted(const char *s, size_t len, FILE *fp)
{
    size_t start = 0;

    if (!s)
        return;
    for (size_t i = 0; i < len && s[i]; i++) {
        char e[5];

        if (!tm_is_control((unsigned char)s[i]))
            continue;
        fwrite(s + start, 1, i - start, fp);
        fwrite(e, 1, escape((unsigned char)s[i], e), fp);
        start = i + 1;
    }
    fwrite(s + start, 1, strnlen(s + start, len - start), fp);
}

void tm_fputs_quoted(const char *s, FILE *fp)
{
    if (s)
        tm_fputn_quoted(s, strlen(s), fp);
}
