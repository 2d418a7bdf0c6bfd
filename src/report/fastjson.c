/* fastjson.c - the large arrays of a snapshot read without a JSON tree
 * (see fastjson.h). Every reader here either accepts its input whole or
 * returns 0 having allocated nothing, so the loader can always fall back
 * to jansson for the exact error message.
 */
#include "config.h"

#include "report/fastjson.h"
#include "report/infile.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct cur {
    const char *p, *end;
    const char *rel; /* the text before this is given back (NULL: kept) */
} cur;

/* Gives back to the system the whole pages of the text read since the last
 * call (a lean load: the text is not needed again), every few MB and at
 * the end ('all'). The pages read as zeroes afterwards. */
static void release(cur *c, int all)
{
    static uintptr_t page;

    if (!c->rel || (!all && c->p - c->rel < (4 << 20)))
        return;
    if (!page)
        page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)c->rel + page - 1) & ~(page - 1);
    uintptr_t b = (uintptr_t)c->p & ~(page - 1);

    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
    c->rel = c->p;
}

static inline void ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static inline int eat(cur *c, char ch)
{
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* --- skipping a value (syntax checked, content not) --- */

static int skip_string(cur *c)
{
    c->p++; /* the opening quote */
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;

        if (ch == '"')
            return 0;
        if (ch < 0x20)
            return -1;
        if (ch == '\\') {
            if (c->p >= c->end)
                return -1;
            ch = (unsigned char)*c->p++;
            if (ch == 'u') {
                for (int i = 0; i < 4; i++, c->p++)
                    if (c->p >= c->end || !strchr("0123456789abcdefABCDEF", *c->p) || !*c->p)
                        return -1;
            } else if (!strchr("\"\\/bfnrt", ch) || !ch) {
                return -1;
            }
        }
    }
    return -1;
}

static int digits(cur *c)
{
    const char *s = c->p;

    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
    return c->p > s ? 0 : -1;
}

static int skip_number(cur *c)
{
    if (*c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0')
        c->p++;
    else if (digits(c))
        return -1;
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (digits(c))
            return -1;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (digits(c))
            return -1;
    }
    return 0;
}

static int skip_word(cur *c, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
        return -1;
    c->p += n;
    return 0;
}

static int skip_value(cur *c, int depth)
{
    ws(c);
    if (c->p >= c->end || depth > 1000)
        return -1;
    switch (*c->p) {
    case '"':
        return skip_string(c);
    case '{':
    case '[': {
        char close = *c->p == '{' ? '}' : ']';
        int obj = close == '}';

        c->p++;
        if (eat(c, close))
            return 0;
        do {
            if (obj) {
                ws(c);
                if (c->p >= c->end || *c->p != '"' || skip_string(c) || !eat(c, ':'))
                    return -1;
            }
            if (skip_value(c, depth + 1))
                return -1;
        } while (eat(c, ','));
        return eat(c, close) ? 0 : -1;
    }
    case 't':
        return skip_word(c, "true");
    case 'f':
        return skip_word(c, "false");
    case 'n':
        return skip_word(c, "null");
    default:
        if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
            return skip_number(c);
        return -1;
    }
}

/* The end of the value at c->p, found by brackets and quotes alone: its
 * content is checked by whoever reads it (jansson, or a reader below,
 * which takes only valid JSON), and a document whose every member is
 * valid is valid as a whole, so this needs to check nothing. */
/* The bytes match_value() stops at: quotes, brackets, and the NUL that
 * ends the text (tm_snapshot_from_text() has one after the last byte). */
static const unsigned char stop[256] = {
    [0] = 1, ['"'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1, ['}'] = 1,
};

static int match_value(cur *c)
{
    int depth = 0;

    if (c->p >= c->end)
        return -1;
    if (*c->p != '[' && *c->p != '{' && *c->p != '"') {
        while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ' ' && *c->p != '\n' &&
               *c->p != '\r' && *c->p != '\t')
            c->p++;
        return 0;
    }
    do {
        const char *q = c->p;

        while (!stop[(unsigned char)*q]) /* a table: most of a snapshot is skipped here */
            q++;
        if (q >= c->end || !*q)
            return -1;
        switch (*q++) {
        case '"':
            for (;;) {
                while (q < c->end && *q != '"' && *q != '\\')
                    q++;
                if (q >= c->end)
                    return -1;
                if (*q == '"')
                    break;
                q += 2; /* an escape */
            }
            q++;
            break;
        case '[':
        case '{':
            if (++depth > 1000)
                return -1; /* jansson's limit is on the whole document */
            break;
        default:
            depth--;
        }
        c->p = q;
    } while (depth > 0 && c->p < c->end);
    return depth == 0 ? 0 : -1;
}

long tm__json_members(const char *text, size_t len, tm_json_span *out, size_t max)
{
    cur c = {text, text + len, NULL};
    size_t n = 0;

    if (!eat(&c, '{'))
        return -1;
    if (eat(&c, '}'))
        goto end;
    do {
        tm_json_span *m = &out[n];

        ws(&c);
        if (n == max || c.p >= c.end || *c.p != '"')
            return -1;
        m->key = ++c.p;
        while (c.p < c.end && *c.p != '"') {
            unsigned char ch = (unsigned char)*c.p++;

            if (ch < 0x20 || ch >= 0x7f || ch == '\\')
                return -1; /* jansson decides about such keys */
        }
        if (c.p >= c.end)
            return -1;
        m->keylen = (size_t)(c.p++ - m->key);
        for (size_t i = 0; i < n; i++)
            if (out[i].keylen == m->keylen && !memcmp(out[i].key, m->key, m->keylen))
                return -1; /* a duplicate: jansson's message */
        if (!eat(&c, ':'))
            return -1;
        ws(&c);
        m->value = c.p;
        if (match_value(&c))
            return -1;
        m->len = (size_t)(c.p - m->value);
        n++;
    } while (eat(&c, ','));
    if (!eat(&c, '}'))
        return -1;
end:
    ws(&c);
    return c.p == c.end ? (long)n : -1;
}

/* --- the plain form of the arrays --- */

/* A non-negative integer of at most 18 digits, not followed by a
 * fraction or an exponent. */
static inline __attribute__((always_inline)) int read_uint(cur *c, uint64_t *out)
{
    const char *s;
    uint64_t v = 0;

    ws(c);
    s = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        v = v * 10 + (uint64_t)(*c->p++ - '0');
    if (c->p == s || c->p - s > 18 || (*s == '0' && c->p - s > 1))
        return -1;
    if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
        return -1;
    *out = v;
    return 0;
}

/* 1 when the 'n' bytes at 's' are the string 'name'. */
static inline int name_is(const char *name, const char *s, size_t n)
{
    size_t i = 0;

    for (; i < n; i++)
        if (!name[i] || name[i] != s[i])
            return 0;
    return name[i] == '\0';
}

/* A key among 'names' not in '*seen' (a bit per index, set here); its
 * index, or -1 (unknown, or a duplicate: both left to jansson). */
static int key(cur *c, const char *const *names, int nnames, unsigned *seen)
{
    const char *s;

    ws(c);
    if (c->p >= c->end || *c->p != '"')
        return -1;
    s = ++c->p;
    while (c->p < c->end && *c->p != '"' && *c->p != '\\')
        c->p++;
    if (c->p >= c->end || *c->p != '"')
        return -1;
    size_t n = (size_t)(c->p++ - s);
    for (int i = 0; i < nnames; i++)
        if (name_is(names[i], s, n)) {
            if ((*seen & (1u << i)) || !eat(c, ':'))
                return -1;
            *seen |= 1u << i;
            return i;
        }
    return -1;
}

/* Grows '*arr' of '*cap' elements of 'size' to hold 'need'. */
static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 1024;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int tm__fast_stacks(const char *text, size_t len, size_t nframes, int lean, tm_stack **out, size_t *nout,
                    uint32_t **pool)
{
    static const char *const names[] = {"frames", "depth"};
    cur c = {text, text + len, lean ? text : NULL};
    tm_stack *st = NULL;
    size_t n = 0, cap = 0, fcap = 0, nf = 0;
    uint32_t *fr = NULL;
    int rc = 0;

    if (!eat(&c, '['))
        return 0;
    if (!pool) { /* checked, not kept */
        fcap = SIZE_MAX;
        goto parse;
    }
    /* room for every frame at once (a realloc of a growing array held
     * twice the frames' memory at its peak): an index takes a digit and
     * a comma or bracket at least. Only the pages written are memory; the
     * rest is given back by the realloc at the end (counting the commas
     * first cost a pass over the text) */
    fcap = len / 2 + 1;
    if (!(fr = malloc(fcap * sizeof *fr)))
        return -ENOMEM;
    tm__huge_pages(fr, fcap * sizeof *fr);
parse:
    if (eat(&c, ']'))
        goto done;
    do {
        unsigned seen = 0;
        size_t first = nf;
        uint64_t depth = 0, v;

        if (pool && (rc = grow((void **)&st, &cap, n + 1, sizeof *st)))
            goto fail;
        if (!eat(&c, '{'))
            goto plain_not;
        do {
            int k = key(&c, names, 2, &seen);

            if (k < 0)
                goto plain_not;
            if (k == 1) {
                if (read_uint(&c, &depth))
                    goto plain_not;
                continue;
            }
            if (!eat(&c, '['))
                goto plain_not;
            if (eat(&c, ']'))
                continue;
            do {
                if (read_uint(&c, &v) || v >= nframes || nf == fcap)
                    goto plain_not;
                if (fr)
                    fr[nf] = (uint32_t)v;
                nf++;
            } while (eat(&c, ','));
            if (!eat(&c, ']'))
                goto plain_not;
        } while (eat(&c, ','));
        if (!eat(&c, '}') || !(seen & 1))
            goto plain_not;
        if (!pool) {
            n++;
            continue;
        }

        tm_stack *s = &st[n++];
        memset(s, 0, sizeof *s);
        s->frames = (uint32_t *)(uintptr_t)first; /* an offset until the pool is final */
        s->nframes = nf - first;
        s->depth = depth;
        s->borrowed = 1;
        /* as load_stack(): depth 0 with one frame is a caller-only stack */
        s->caller_only = depth == 0 && s->nframes == 1;
        if (s->depth < s->nframes)
            s->depth = s->nframes;
        release(&c, 0);
    } while (eat(&c, ','));
    if (!eat(&c, ']'))
        goto plain_not;
done:
    ws(&c);
    if (c.p != c.end)
        goto plain_not;
    release(&c, 1);
    if (!pool) {
        *out = NULL;
        *nout = n;
        return 1;
    }
    /* exact sizes: the arrays stay for the snapshot's life */
    {
        uint32_t *f = realloc(fr, (nf ? nf : 1) * sizeof *fr);
        tm_stack *t = realloc(st, (n ? n : 1) * sizeof *st);

        if (f)
            fr = f;
        if (t)
            st = t;
        if (!fr && !(fr = malloc(sizeof *fr)))
            goto nomem;
        if (!st && !(st = calloc(1, sizeof *st)))
            goto nomem;
    }
    for (size_t i = 0; i < n; i++)
        st[i].frames = fr + (uintptr_t)st[i].frames;
    *out = st;
    *nout = n;
    *pool = fr;
    return 1;
nomem:
    rc = -ENOMEM;
    goto fail;
plain_not:
    rc = 0;
fail:
    free(fr);
    free(st);
    return rc;
}

int tm__fast_traces(const char *text, size_t len, size_t nstacks, int peak, int lean, tm_trace **out,
                    size_t *nout)
{
    static const char *const names[] = {"stack", "domain", "size", "count",
                                        "allocated_size", "allocated_count", "temporary"};
    cur c = {text, text + len, lean ? text : NULL};
    tm_trace *tr = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    if (!eat(&c, '['))
        return 0;
    if (eat(&c, ']'))
        goto done;
    do {
        unsigned seen = 0;
        uint64_t v[7] = {0};

        if (out && (rc = grow((void **)&tr, &cap, n + 1, sizeof *tr)))
            goto fail;
        if (!eat(&c, '{'))
            goto plain_not;
        do {
            int k = key(&c, names, peak ? 4 : 7, &seen);

            if (k < 0 || read_uint(&c, &v[k]))
                goto plain_not;
        } while (eat(&c, ','));
        /* stack, size and count are required; the stack in range */
        if (!eat(&c, '}') || (seen & 0xd) != 0xd || v[0] >= nstacks)
            goto plain_not;
        if (!out) {
            n++;
            continue;
        }
        tm_trace *t = &tr[n++];
        t->stack = (size_t)v[0];
        t->domain = v[1];
        t->size = v[2];
        t->count = v[3];
        t->allocated_size = v[4];
        t->allocated_count = v[5];
        t->temporary = v[6];
        release(&c, 0);
    } while (eat(&c, ','));
    if (!eat(&c, ']'))
        goto plain_not;
done:
    ws(&c);
    if (c.p != c.end)
        goto plain_not;
    release(&c, 1);
    if (!out) {
        *nout = n;
        return 1;
    }
    if (!tr && !(tr = calloc(1, sizeof *tr)))
        return -ENOMEM;
    *out = tr;
    *nout = n;
    return 1;
plain_not:
    rc = 0;
fail:
    free(tr);
    return rc;
}

int tm__fast_peak(const char *text, size_t len, size_t nstacks, int lean, uint64_t *current, tm_trace **out,
                  size_t *n)
{
    static const char *const names[] = {"current", "traces"};
    cur c = {text, text + len, NULL};
    unsigned seen = 0;
    tm_trace *tr = NULL;
    size_t ntr = 0;
    int rc;

    *current = 0;
    if (!eat(&c, '{'))
        return 0;
    if (!eat(&c, '}')) {
        do {
            int k = key(&c, names, 2, &seen);

            if (k < 0)
                goto plain_not;
            if (k == 0) {
                if (read_uint(&c, current))
                    goto plain_not;
                continue;
            }
            ws(&c);
            const char *a = c.p;
            if (skip_value(&c, 1))
                goto plain_not;
            if ((rc = tm__fast_traces(a, (size_t)(c.p - a), nstacks, 1, lean, out ? &tr : NULL, &ntr)) <= 0)
                return rc;
        } while (eat(&c, ','));
        if (!eat(&c, '}'))
            goto plain_not;
    }
    ws(&c);
    if (c.p != c.end)
        goto plain_not;
    if (out)
        *out = tr;
    *n = ntr;
    return 1;
plain_not:
    free(tr);
    return 0;
}
