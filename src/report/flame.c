/* flame.c - folded stacks and SVG/HTML flame graphs (see flame.h).
 *
 * The graph is drawn from a tree built out of the sorted folded paths:
 * node i's 'value' is the sum of every path through it, so a node is
 * never narrower than its children together, and 'old' is the same sum
 * over OLD's paths in a differential graph. Because the paths are sorted,
 * every path with a given prefix is contiguous, so a path only ever
 * continues at the last child of a node: building the tree needs no
 * lookups. Children are drawn in that order (by name, like flamegraph.pl).
 */
#include "config.h"

#include "report/flame.h"
#include "report/quote.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"

/* --- metrics --- */

static const char *const metric_names[] = {"live", "peak", "allocations", "leaked", "temporary"};

int tm_metric_parse(const char *name)
{
    for (size_t i = 0; i < sizeof metric_names / sizeof *metric_names; i++)
        if (strcmp(name, metric_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *tm_metric_name(tm_metric metric)
{
    return (unsigned)metric < sizeof metric_names / sizeof *metric_names ? metric_names[metric] : NULL;
}

static int push_weight(tm_weight **v, size_t *n, size_t *cap, size_t stack, uint64_t value, uint64_t count)
{
    if (value == 0)
        return 0;
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 64;
        tm_weight *nv = realloc(*v, ncap * sizeof *nv);

        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = (tm_weight){stack, value, count};
    return 0;
}

int tm_metric_weights(const tm_snapshot *snap, tm_metric metric, unsigned kinds, tm_weight **out, size_t *n,
                      tm_error *err)
{
    tm_weight *v = NULL;
    size_t nv = 0, cap = 0;
    int rc = 0;

    *out = NULL;
    *n = 0;
    if (metric == TM_METRIC_PEAK && !snap->has_peak)
        return tm__error_set(err, -EINVAL, "no peak record in this snapshot");
    if (metric == TM_METRIC_LEAKED && !snap->leaks_checked)
        return tm__error_set(err, -EINVAL,
                             "no leak check in this snapshot (leaks.checked "
                             "is not true)");
    switch (metric) {
    case TM_METRIC_LIVE:
    case TM_METRIC_ALLOCATIONS:
        for (size_t i = 0; i < snap->ntraces && !rc; i++) {
            const tm_trace *t = &snap->traces[i];

            if (t->domain == TM_DOMAIN_MMAP)
                continue; /* mapped memory: tracemem rss */
            rc = metric == TM_METRIC_LIVE
                     ? push_weight(&v, &nv, &cap, t->stack, t->size, t->count)
                     : push_weight(&v, &nv, &cap, t->stack, t->allocated_size, t->allocated_count);
        }
        break;
    case TM_METRIC_TEMPORARY: /* weighed by the count: no bytes are kept */
        for (size_t i = 0; i < snap->ntraces && !rc; i++)
            if (snap->traces[i].temporary && snap->traces[i].domain != TM_DOMAIN_MMAP)
                rc = push_weight(&v, &nv, &cap, snap->traces[i].stack, snap->traces[i].temporary,
                                 snap->traces[i].temporary);
        break;
    case TM_METRIC_PEAK:
        for (size_t i = 0; i < snap->npeak_traces && !rc; i++) {
            const tm_trace *t = &snap->peak_traces[i];

            if (t->domain == TM_DOMAIN_MMAP)
                continue;
            rc = push_weight(&v, &nv, &cap, t->stack, t->size, t->count);
        }
        break;
    case TM_METRIC_LEAKED:
        for (size_t i = 0; i < snap->nleak_stacks && !rc; i++) {
            const tm_leak_stack *l = &snap->leak_stacks[i];

            if (kinds & (1u << l->kind))
                rc = push_weight(&v, &nv, &cap, l->stack, l->bytes, l->blocks);
        }
        break;
    default:
        return tm__error_set(err, -EINVAL, "unknown metric");
    }
    if (rc) {
        free(v);
        return tm__error_set(err, rc, "out of memory");
    }
    *out = v;
    *n = nv;
    return 0;
}

/* --- folding --- */

char *tm_fold_name(const tm_snapshot *snap, const tm_frame *frame, int loc, char *buf, size_t len)
{
    tm_location_key(snap, frame, loc, TM_BY_FUNCTION, buf, len);
    for (char *p = buf; *p; p++) {
        if (*p == ';')
            *p = ':';
        else if ((unsigned char)*p < ' ')
            *p = ' ';
    }
    return buf;
}

char *tm_fold_loc(const tm_frame *frame, int loc, int base, char *buf, size_t len)
{
    const tm_location *l = tm_frame_loc(frame, loc);
    const char *file = l->file, *slash;

    buf[0] = '\0';
    if (!file || l->line <= 0)
        return buf;
    if (base && (slash = strrchr(file, '/')) && slash[1])
        file = slash + 1;
    snprintf(buf, len, "%s:%" PRId64, file, l->line);
    for (char *p = buf; *p; p++) {
        if (*p == ';')
            *p = ':';
        else if ((unsigned char)*p < ' ')
            *p = ' ';
    }
    return buf;
}

int tm_fold_stack_ex(const tm_snapshot *snap, const tm_stack *stack, unsigned flags, char **path, char **locs)
{
    char name[1024], where[1024];
    char *out = NULL, *lout = NULL;
    size_t outlen = 0, loutlen = 0;
    FILE *fp = open_memstream(&out, &outlen), *lfp = NULL;
    int first = 1, rc = 0;

    if (!fp)
        return -ENOMEM;
    if (locs && !(lfp = open_memstream(&lout, &loutlen))) {
        fclose(fp);
        free(out);
        return -ENOMEM;
    }
    if (stack->nframes == 0)
        fputs("[no frames]", fp);
    for (size_t i = stack->nframes; i-- > 0;) {
        const tm_frame *f = tm_stack_frame(snap, stack, i);

        for (int l = (int)f->ninlined - 1; l >= -1; l--) {
            fprintf(fp, "%s%s", first ? "" : ";", tm_fold_name(snap, f, l, name, sizeof name));
            if (flags & TM_FOLD_CALL_SITES && *tm_fold_loc(f, l, 1, where, sizeof where))
                fprintf(fp, " %s", where);
            if (lfp)
                fprintf(lfp, "%s%s", first ? "" : ";", tm_fold_loc(f, l, 0, where, sizeof where));
            first = 0;
        }
    }
    if (fclose(fp))
        rc = -ENOMEM;
    if (lfp && fclose(lfp))
        rc = -ENOMEM;
    if (rc) {
        free(out);
        free(lout);
        return rc;
    }
    *path = out;
    if (locs)
        *locs = lout;
    return 0;
}

char *tm_fold_stack(const tm_snapshot *snap, const tm_stack *stack)
{
    char *out;

    if (tm_fold_stack_ex(snap, stack, 0, &out, NULL)) {
        errno = ENOMEM;
        return NULL;
    }
    return out;
}

static int fold_cmp(const void *a, const void *b)
{
    return strcmp(((const tm_fold *)a)->path, ((const tm_fold *)b)->path);
}

/* Frame by frame, 'a''s locations with those that differ in 'b' marked
 * '*' (both have as many frames: their paths are equal). Returns 0 or
 * -ENOMEM ('a' unchanged). */
static int merge_locs(char **a, const char *b)
{
    size_t n = strlen(*a) + strlen(b) + 2, o = 0;
    char *m = malloc(2 * n), *p = *a;

    if (!m)
        return -ENOMEM;
    for (;;) {
        size_t la = strcspn(p, ";"), lb = strcspn(b, ";");
        int star = *p == '*';

        if (!star && (la != lb || memcmp(p, b, la) != 0))
            m[o++] = '*';
        memcpy(m + o, p, la);
        o += la;
        if (!p[la] || !b[lb])
            break;
        m[o++] = ';';
        p += la + 1;
        b += lb + 1;
    }
    m[o] = '\0';
    free(*a);
    *a = m;
    return 0;
}

/* Sorts 'f' and sums entries with equal paths. */
static int fold_merge(tm_folded *f)
{
    size_t j = 0;
    int rc = 0;

    qsort(f->v, f->n, sizeof *f->v, fold_cmp);
    for (size_t i = 0; i < f->n; i++) {
        if (j > 0 && strcmp(f->v[j - 1].path, f->v[i].path) == 0) {
            f->v[j - 1].value += f->v[i].value;
            f->v[j - 1].count += f->v[i].count;
            if (f->v[j - 1].locs && f->v[i].locs && !rc)
                rc = merge_locs(&f->v[j - 1].locs, f->v[i].locs);
            free(f->v[i].path);
            free(f->v[i].locs);
            continue;
        }
        f->v[j++] = f->v[i];
    }
    f->n = j;
    return rc;
}

int tm_folded_compute(const tm_snapshot *snap, tm_metric metric, unsigned kinds, tm_folded *out,
                      tm_error *err)
{
    return tm_folded_compute_ex(snap, metric, kinds, 0, out, err);
}

int tm_folded_compute_ex(const tm_snapshot *snap, tm_metric metric, unsigned kinds, unsigned flags,
                         tm_folded *out, tm_error *err)
{
    tm_weight *w;
    size_t nw;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = tm_metric_weights(snap, metric, kinds, &w, &nw, err)))
        return rc;
    out->v = calloc(nw ? nw : 1, sizeof *out->v);
    if (!out->v) {
        rc = tm__error_set(err, -ENOMEM, "out of memory");
        goto out_weights;
    }
    for (size_t i = 0; i < nw; i++) {
        tm_fold *f = &out->v[out->n];

        if (tm_fold_stack_ex(snap, &snap->stacks[w[i].stack], flags, &f->path,
                       flags & TM_FOLD_LOCS ? &f->locs : NULL)) {
            tm_folded_free(out);
            rc = tm__error_set(err, -ENOMEM, "out of memory");
            goto out_weights;
        }
        f->value = w[i].value;
        f->count = w[i].count;
        out->total += f->value;
        out->n++;
    }
    if (fold_merge(out)) {
        tm_folded_free(out);
        rc = tm__error_set(err, -ENOMEM, "out of memory");
    }
out_weights:
    free(w);
    return rc;
}

void tm_folded_free(tm_folded *folded)
{
    if (!folded)
        return;
    for (size_t i = 0; i < folded->n; i++) {
        free(folded->v[i].path);
        free(folded->v[i].locs);
    }
    free(folded->v);
    memset(folded, 0, sizeof *folded);
}

int tm_folded_write(const tm_folded *folded, FILE *fp)
{
    for (size_t i = 0; i < folded->n; i++)
        fprintf(fp, "%s %" PRIu64 "\n", folded->v[i].path, folded->v[i].value);
    return ferror(fp) ? -EIO : 0;
}

/* --- colours --- */

/* FNV-1a: stable across runs and machines, unlike a seeded hash. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

char *tm_flame_color(const char *name, char buf[8])
{
    uint32_t h = name_hash(name);

    /* flamegraph.pl's "hot" palette: red 205-254, green 0-229, blue 0-54 */
    snprintf(buf, 8, "#%02x%02x%02x", 205 + (unsigned)(h % 50), (unsigned)((h >> 8) % 230),
             (unsigned)((h >> 20) % 55));
    return buf;
}

char *tm_flame_diff_color(int64_t delta, uint64_t maxabs, char buf[8])
{
    double r = maxabs ? log1p(fabs((double)delta)) / log1p((double)maxabs) : 0;
    unsigned c = (unsigned)lround(220 - 190 * (r > 1 ? 1 : r));

    if (delta > 0)
        snprintf(buf, 8, "#ff%02x%02x", c, c);
    else if (delta < 0)
        snprintf(buf, 8, "#%02x%02xff", c, c);
    else
        snprintf(buf, 8, "#e6e6e6");
    return buf;
}

/* --- the tree --- */

#define NONE SIZE_MAX

typedef struct node {
    const char *name; /* points into a path; 'len' bytes, not terminated */
    size_t len;
    uint64_t value;
    uint64_t old;
    int multi;        /* locations differ between the paths through it */
    uint64_t wt;      /* drawn width: value, or max(value, old) per path in a
                         differential graph */
    const char *loc;  /* points into a path's locations, 'loclen' bytes; NULL:
                         none; starts with '*' when several differ */
    size_t loclen;
    size_t child, last, next;
} node;

typedef struct tree {
    node *v;
    size_t n, cap;
} tree;

static size_t new_node(tree *t, const char *name, size_t len)
{
    if (t->n == t->cap) {
        size_t ncap = t->cap ? 2 * t->cap : 256;
        node *nv = realloc(t->v, ncap * sizeof *nv);

        if (!nv)
            return NONE;
        t->v = nv;
        t->cap = ncap;
    }
    t->v[t->n] = (node){name, len, 0, 0, 0, 0, NULL, 0, NONE, NONE, NONE};
    return t->n++;
}

/* Adds one path ('value' bytes now, 'old' before, 'locs' its locations or
 * NULL) under the root. */
static int tree_add(tree *t, const char *path, const char *locs, uint64_t value, uint64_t old, int diff)
{
    size_t cur = 0;
    uint64_t wt = diff && old > value ? old : value;

    t->v[0].value += value;
    t->v[0].old += old;
    t->v[0].wt += wt;
    for (const char *p = path;;) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t last = t->v[cur].last;

        if (last == NONE || t->v[last].len != len || memcmp(t->v[last].name, p, len) != 0) {
            size_t k = new_node(t, p, len);

            if (k == NONE)
                return -ENOMEM;
            if (last == NONE)
                t->v[cur].child = k;
            else
                t->v[last].next = k;
            t->v[cur].last = k;
            last = k;
        }
        cur = last;
        t->v[cur].value += value;
        t->v[cur].old += old;
        t->v[cur].wt += wt;
        if (locs) {
            size_t ll = strcspn(locs, ";");
            node *k = &t->v[cur];

            if (!k->loc) {
                k->loc = locs;
                k->loclen = ll;
                if (ll && *locs == '*') {
                    k->multi = 1;
                    k->loc++;
                    k->loclen--;
                }
            } else if (!k->multi && (ll != k->loclen || memcmp(locs, k->loc, ll) != 0)) {
                k->multi = 1;
            }
            locs = locs[ll] ? locs + ll + 1 : NULL;
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

/* Builds the tree of 'now' and, when given, 'old' (both sorted by path):
 * a merge of the two sorted lists, so the combined input stays sorted. */
static int tree_build(tree *t, const tm_folded *now, const tm_folded *old)
{
    size_t i = 0, j = 0, nold = old ? old->n : 0;

    if (new_node(t, "all", 3) == NONE)
        return -ENOMEM;
    while (i < now->n || j < nold) {
        int c = i == now->n ? 1 : j == nold ? -1 : strcmp(now->v[i].path, old->v[j].path);
        int rc;

        if (c < 0) {
            rc = tree_add(t, now->v[i].path, now->v[i].locs, now->v[i].value, 0, old != NULL);
            i++;
        } else if (c > 0) {
            rc = tree_add(t, old->v[j].path, old->v[j].locs, 0, old->v[j].value, 1);
            j++;
        } else {
            rc = tree_add(t, now->v[i].path, now->v[i].locs, now->v[i].value, old->v[j].value, 1);
            i++, j++;
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* --- drawing --- */

#define FRAME_H 16
#define FONT_SIZE 12
#define CHAR_W 7.0 /* average glyph width at FONT_SIZE, monospace */
#define PAD_X 10
#define TOP 64
#define BOTTOM 24

typedef struct draw {
    const tree *t;
    const tm_flame_opts *o;
    int diff;
    double width; /* drawing width, without the side pads */
    double min_width;
    uint64_t total;  /* the root's width */
    uint64_t vtotal; /* the root's bytes */
    uint64_t maxabs;
    size_t maxdepth;
    double height;
    FILE *fp;
} draw;

/* value - old, clamped to int64_t */
static int64_t delta(const node *n)
{
    uint64_t a = n->value >= n->old ? n->value - n->old : n->old - n->value;
    int64_t m = a > INT64_MAX ? INT64_MAX : (int64_t)a;

    return n->value >= n->old ? m : -m;
}

static double px(const draw *d, uint64_t v)
{
    return d->total ? (double)v / (double)d->total * d->width : 0;
}

/* |value - old| without overflow (llabs(INT64_MIN) is undefined). */
static uint64_t abs_delta(const node *n)
{
    return n->value >= n->old ? n->value - n->old : n->old - n->value;
}

/* 1 when node 'k' is drawn: it has bytes and is wide enough (the root
 * always is). */
static int shown(const draw *d, size_t k)
{
    const node *n = &d->t->v[k];

    return n->wt != 0 && (k == 0 || px(d, n->wt) >= d->min_width);
}

/* A frame of the walk: node 'k' at 'depth', its next child to visit and
 * where that child starts. Stacks of tens of thousands of frames are
 * real (deep recursion in the traced program): the walk keeps its own
 * stack instead of recursing on the C stack. */
typedef struct walk_frame {
    size_t k, depth, child;
    uint64_t x;
} walk_frame;

/* Calls 'visit' on every shown node, parents before children, children
 * left to right, with the node's depth and its x (in value units).
 * Returns 0 or -ENOMEM. */
static int walk(draw *d, void (*visit)(draw *d, size_t k, size_t depth, uint64_t x))
{
    walk_frame *st = NULL, *nst;
    size_t n = 0, cap = 0;

    if (!shown(d, 0))
        return 0;
    visit(d, 0, 0, 0);
    if (!(st = malloc(64 * sizeof *st)))
        return -ENOMEM;
    cap = 64;
    st[n++] = (walk_frame){0, 0, d->t->v[0].child, 0};
    while (n) {
        walk_frame *top = &st[n - 1];
        size_t c = top->child, depth = top->depth + 1;
        uint64_t x = top->x;

        if (c == NONE) {
            n--;
            continue;
        }
        top->child = d->t->v[c].next;
        top->x += d->t->v[c].wt;
        if (!shown(d, c))
            continue;
        visit(d, c, depth, x);
        if (n == cap) {
            if (!(nst = realloc(st, 2 * cap * sizeof *st))) {
                free(st);
                return -ENOMEM;
            }
            st = nst;
            cap *= 2;
        }
        st[n++] = (walk_frame){c, depth, d->t->v[c].child, x};
    }
    free(st);
    return 0;
}

/* Depth and largest change among the frames that will be drawn. */
static void measure(draw *d, size_t k, size_t depth, uint64_t x)
{
    uint64_t a = abs_delta(&d->t->v[k]);

    (void)x;
    if (depth > d->maxdepth)
        d->maxdepth = depth;
    if (a > d->maxabs)
        d->maxabs = a;
}

static void put_escaped(FILE *fp, const char *s, size_t len)
{
    for (size_t i = 0; i < len && s[i]; i++) {
        switch (s[i]) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        case '\'':
            fputs("&apos;", fp);
            break;
        default:
            if (tm_is_control((unsigned char)s[i]))
                tm_fputn_quoted(s + i, 1, fp); /* not valid XML 1.0, nor readable */
            else
                fputc(s[i], fp);
        }
    }
}

/* 1234567 -> "1,234,567" */
static char *grouped(char *buf, size_t len, uint64_t v)
{
    char digits[32];
    size_t n = (size_t)snprintf(digits, sizeof digits, "%" PRIu64, v), o = 0;

    for (size_t i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static void draw_node(draw *d, size_t k, size_t depth, uint64_t x)
{
    const node *n = &d->t->v[k];
    const char *unit = d->o->unit ? d->o->unit : "bytes";
    double w = px(d, n->wt), fx = PAD_X + px(d, x);
    double y = TOP + (double)(d->maxdepth - depth) * FRAME_H;
    size_t fit = w > 6 ? (size_t)((w - 6) / CHAR_W) : 0;
    char num[40], col[8];
    FILE *fp = d->fp;

    if (d->diff) {
        tm_flame_diff_color(delta(n), d->maxabs, col);
    } else {
        char name[256];

        snprintf(name, sizeof name, "%.*s", (int)(n->len < 255 ? n->len : 255), n->name);
        tm_flame_color(name, col);
    }
    fprintf(fp, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%zu\"",
            d->total ? (double)x / (double)d->total : 0, d->total ? (double)n->wt / (double)d->total : 0, depth);
    if (n->loc && n->loclen) {
        fputs(" data-l=\"", fp);
        put_escaped(fp, n->loc, n->loclen);
        fputs(n->multi ? "+\"" : "\"", fp);
    }
    fputs("><title>", fp);
    put_escaped(fp, n->name, n->len);
    fprintf(fp, " (%s %s, %.2f%%", grouped(num, sizeof num, n->value), unit,
            d->vtotal ? 100.0 * (double)n->value / (double)d->vtotal : 0);
    if (d->diff) {
        int64_t dl = delta(n);

        fprintf(fp, "; %c%s %s", dl < 0 ? '-' : '+', grouped(num, sizeof num, abs_delta(n)), unit);
    }
    fputc(')', fp);
    if (d->diff && n->value == 0)
        fputs(" gone", fp);
    if (n->loc && n->loclen) {
        fputs("\nat ", fp);
        put_escaped(fp, n->loc, n->loclen);
        if (n->multi)
            fputs(" and other lines", fp);
    }
    fprintf(fp,
            "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
            "height=\"%d\" fill=\"%s\" rx=\"2\" ry=\"2\"%s/>"
            "<text x=\"%.2f\" y=\"%.1f\">",
            fx, y, w, FRAME_H - 1, col, d->diff && n->value == 0 ? " stroke=\"#00c\" stroke-dasharray=\"3,2\"" : "",
            fx + 3, y + FRAME_H - 4.5);
    if (fit >= 3) {
        if (n->len <= fit)
            put_escaped(fp, n->name, n->len);
        else {
            size_t cut = fit - 2;

            /* never split a UTF-8 sequence: the SVG must stay valid XML */
            while (cut > 0 && ((unsigned char)n->name[cut] & 0xc0) == 0x80)
                cut--;
            put_escaped(fp, n->name, cut);
            fputs("..", fp);
        }
    }
    fputs("</text></g>\n", fp);
}

static void svg_open(const draw *d)
{
    double full = d->width + 2 * PAD_X;
    const char *title = d->o->title ? d->o->title : "Flame graph";

    fprintf(d->fp,
            "<svg version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" "
            "xmlns=\"http://www.w3.org/2000/svg\">\n",
            full, d->height, full, d->height);
    fprintf(d->fp,
            "<style>text { font-family: monospace; font-size: %dpx; "
            "fill: #000; } .f text { pointer-events: none; } "
            ".f:hover rect { stroke: #000; stroke-width: 0.5; }"
            "</style>\n",
            FONT_SIZE);
    fprintf(d->fp,
            "<rect id=\"bg\" x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" "
            "fill=\"#f8f8f0\"/>\n",
            full, d->height);
    fprintf(d->fp,
            "<text id=\"title\" x=\"%.1f\" y=\"24\" "
            "text-anchor=\"middle\" style=\"font-size: 17px\">",
            full / 2);
    put_escaped(d->fp, title, strlen(title));
    fputs("</text>\n", d->fp);
    if (d->o->subtitle) {
        fprintf(d->fp,
                "<text id=\"subtitle\" x=\"%.1f\" y=\"44\" "
                "text-anchor=\"middle\" style=\"fill: #666\">",
                full / 2);
        put_escaped(d->fp, d->o->subtitle, strlen(d->o->subtitle));
        fputs("</text>\n", d->fp);
    }
    fprintf(d->fp, "<text id=\"details\" x=\"%d\" y=\"%.0f\"> </text>\n", PAD_X, d->height - 8);
}

/* The page's script: see tm_flame_script in flame.h. */
const char tm_flame_script[] =
    "/* tmFlame(svg): binds zoom, search, the icicle view, file:line labels and\n"
    " * a width that follows the window to a flame graph drawn by tracemem\n"
    " * (frames are g.f with data-x, data-w as fractions of the whole, data-d\n"
    " * the depth, data-l the file:line). Called again after the frames were\n"
    " * redrawn (the report's time range), it rebinds to the new ones. */\n"
    "function tmFlame(svg) {\n"
    "  var S = tmFlame.s, PAD = 10, CW = 7, FH = 16, TOP = 64, MIN = 0.1;\n"
    "  if (!S) S = tmFlame.s = { inverted: false, lines: false, bound: false };\n"
    "  S.svg = svg; S.zoomed = null; S.maxd = 0;\n"
    "  S.frames = Array.prototype.slice.call(svg.querySelectorAll('g.f'));\n"
    "  S.W = +svg.getAttribute('width') - 2 * PAD;\n"
    "  var details = document.getElementById('details');\n"
    "  function num(f, a) { return +f.getAttribute('data-' + a); }\n"
    "  function name(f) {\n"
    "    var t = f.querySelector('title').textContent, i = t.lastIndexOf(' (');\n"
    "    return i < 0 ? t : t.slice(0, i);\n"
    "  }\n"
    "  function label(f) {\n"
    "    var l = S.lines && f.getAttribute('data-l');\n"
    "    return l ? name(f) + ' ' + l.replace(/\\+$/, '..') : name(f);\n"
    "  }\n"
    "  S.frames.forEach(function (f) { if (num(f, 'd') > S.maxd) S.maxd = num(f, 'd'); });\n"
    "  function place(f, x, w, d) {\n"
    "    var r = f.querySelector('rect'), t = f.querySelector('text'), W = S.W;\n"
    "    var n = label(f), fit = Math.floor((w * W - 6) / CW);\n"
    "    var y = TOP + (S.inverted ? d : S.maxd - d) * FH;\n"
    "    f.style.display = w * W < MIN ? 'none' : '';\n"
    "    r.setAttribute('x', PAD + x * W); r.setAttribute('width', w * W);\n"
    "    r.setAttribute('y', y); t.setAttribute('y', y + FH - 4.5);\n"
    "    t.setAttribute('x', PAD + x * W + 3);\n"
    "    t.textContent = fit < 3 ? '' : n.length <= fit ? n : n.slice(0, fit - 2) + '..';\n"
    "  }\n"
    "  function zoom(g) {\n"
    "    var x0 = num(g, 'x'), w0 = num(g, 'w'), d0 = num(g, 'd'), e = 1e-9;\n"
    "    S.zoomed = g;\n"
    "    S.frames.forEach(function (f) {\n"
    "      var x = num(f, 'x'), w = num(f, 'w'), d = num(f, 'd');\n"
    "      if (d < d0 && x <= x0 + e && x + w >= x0 + w0 - e) {\n"
    "        place(f, 0, 1, d); f.style.opacity = 0.6;\n"
    "      } else if (d >= d0 && x >= x0 - e && x + w <= x0 + w0 + e) {\n"
    "        place(f, (x - x0) / w0, w / w0, d); f.style.opacity = '';\n"
    "      } else {\n"
    "        f.style.display = 'none';\n"
    "      }\n"
    "    });\n"
    "  }\n"
    "  S.redraw = function () { if (S.frames.length) zoom(S.zoomed || S.frames[0]); };\n"
    "  S.frames.forEach(function (f) {\n"
    "    f.addEventListener('click', function () { zoom(f); });\n"
    "    f.addEventListener('mouseover', function () {\n"
    "      details.textContent = f.querySelector('title').textContent;\n"
    "    });\n"
    "  });\n"
    "  // the width of what holds the graph, less the page's margins\n"
    "  S.fit = function () {\n"
    "    if (typeof window === 'undefined' || !S.svg.parentNode) return;\n"
    "    var full = Math.max(300, S.svg.parentNode.clientWidth || 0), h = S.svg.getAttribute('height');\n"
    "    if (Math.abs(full - 2 * PAD - S.W) < 0.5) return;\n"
    "    S.W = full - 2 * PAD;\n"
    "    S.svg.setAttribute('width', full);\n"
    "    S.svg.setAttribute('viewBox', '0 0 ' + full + ' ' + h);\n"
    "    ['bg', 'title', 'subtitle'].forEach(function (id) {\n"
    "      var e = S.svg.querySelector('#' + id);\n"
    "      if (!e) return;\n"
    "      if (id === 'bg') e.setAttribute('width', full); else e.setAttribute('x', full / 2);\n"
    "    });\n"
    "    S.redraw();\n"
    "  };\n"
    "  function search(ev) {\n"
    "    var re = null, spans = [], sum = 0, end = -1, bad = document.getElementById('searcherr');\n"
    "    // an invalid expression (often one half typed) is said next to the\n"
    "    // box and leaves the graph as it was, rather than clearing it\n"
    "    try { re = ev.target.value ? new RegExp(ev.target.value) : null; }\n"
    "    catch (e) {\n"
    "      bad.textContent = 'invalid regular expression: ' +\n"
    "        String(e.message).replace(/^invalid regular expression: */i, '');\n"
    "      bad.hidden = false; ev.target.setAttribute('aria-invalid', 'true');\n"
    "      return;\n"
    "    }\n"
    "    bad.textContent = ''; bad.hidden = true;\n"
    "    ev.target.removeAttribute('aria-invalid');\n"
    "    S.frames.forEach(function (f) {\n"
    "      var r = f.querySelector('rect'), hit = re && re.test(name(f));\n"
    "      r.style.fill = hit ? '#e040e0' : '';\n"
    "      if (hit) spans.push([num(f, 'x'), num(f, 'x') + num(f, 'w')]);\n"
    "    });\n"
    "    spans.sort(function (a, b) { return a[0] - b[0]; });\n"
    "    spans.forEach(function (s) {\n"
    "      if (s[0] >= end) { sum += s[1] - s[0]; end = s[1]; }\n"
    "      else if (s[1] > end) { sum += s[1] - end; end = s[1]; }\n"
    "    });\n"
    "    document.getElementById('matched').textContent =\n"
    "      re ? 'matched: ' + (100 * sum).toFixed(2) + '%' : '';\n"
    "  }\n"
    "  if (!S.bound) {\n"
    "    S.bound = true;\n"
    "    document.getElementById('reset').addEventListener('click', function () {\n"
    "      S.zoomed = null; S.redraw();\n"
    "    });\n"
    "    var box = document.getElementById('search');\n"
    "    box.addEventListener('input', search);\n"
    "    S.research = function () { if (box.value !== undefined) search({ target: box }); };\n"
    "    var inv = document.getElementById('invert'), lines = document.getElementById('lines');\n"
    "    if (inv) inv.addEventListener('click', function () {\n"
    "      S.inverted = !S.inverted;\n"
    "      inv.textContent = S.inverted ? 'Flame view' : 'Icicle view';\n"
    "      S.redraw();\n"
    "    });\n"
    "    if (lines) lines.addEventListener('change', function () { S.lines = lines.checked; S.redraw(); });\n"
    "    if (typeof window !== 'undefined') window.addEventListener('resize', function () { S.fit(); });\n"
    "  } else if (S.research) {\n"
    "    S.research();\n"
    "  }\n"
    "  if (S.inverted || S.lines) S.redraw();\n"
    "  S.fit();\n"
    "}\n";

static void html_open(const draw *d)
{
    const char *title = d->o->title ? d->o->title : "Flame graph";

    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\">\n<title>",
          d->fp);
    put_escaped(d->fp, title, strlen(title));
    fputs("</title>\n<style>body { margin: 8px; font-family: sans-serif; } "
          "#bar { margin-bottom: 6px; } .f { cursor: pointer; } "
          "#searcherr { color: #c00; font-weight: bold; }</style>\n"
          "</head>\n<body>\n<div id=\"bar\">"
          "<button id=\"reset\" type=\"button\">Reset zoom</button> "
          "<input id=\"search\" type=\"search\" size=\"30\" "
          "placeholder=\"search (regular expression)\"> "
          "<button id=\"invert\" type=\"button\">Icicle view</button> "
          "<label><input id=\"lines\" type=\"checkbox\"> file:line in labels</label> "
          "<span id=\"matched\"></span> "
          "<span id=\"searcherr\" role=\"alert\" hidden></span></div>\n",
          d->fp);
}

int tm_flame_write(const tm_folded *folded, const tm_folded *old, const tm_flame_opts *opts, FILE *fp)
{
    static const tm_flame_opts defaults = {0};
    tree t = {0};
    draw d = {0};
    int rc;

    d.o = opts ? opts : &defaults;
    if ((rc = tree_build(&t, folded, old)))
        goto out_tree;
    d.t = &t;
    d.diff = old != NULL;
    d.width = (d.o->width > 0 ? d.o->width : 1200) - 2 * PAD_X;
    d.min_width = d.o->min_width > 0 ? d.o->min_width : d.o->html ? 0 : 0.1;
    d.total = t.v[0].wt;
    d.vtotal = t.v[0].value;
    d.fp = fp;
    if ((rc = walk(&d, measure)))
        goto out_tree;
    d.height = TOP + (double)(d.maxdepth + 1) * FRAME_H + BOTTOM;
    if (d.o->html)
        html_open(&d);
    else
        fputs("<?xml version=\"1.0\" standalone=\"no\"?>\n", fp);
    svg_open(&d);
    if (d.total == 0)
        fprintf(fp,
                "<text x=\"%d\" y=\"%d\">no bytes to show under this "
                "metric</text>\n",
                PAD_X, TOP + FRAME_H - 4);
    fputs("<g id=\"frames\">\n", fp);
    if ((rc = walk(&d, draw_node)))
        goto out_tree;
    fputs("</g>\n</svg>\n", fp);
    if (d.o->html)
        fprintf(fp, "<script>\n%stmFlame(document.querySelector('svg'));\n</script>\n</body>\n</html>\n",
                tm_flame_script);
    rc = ferror(fp) ? -EIO : 0;
out_tree:
    free(t.v);
    return rc;
}
