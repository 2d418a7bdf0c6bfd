/* chart.c - the text chart of memory over time (chart.h).
 *
 * Column c covers [c, c+1) * span / ncols of the run; its heap figure is
 * the largest sample in it, or the value holding from the sample before
 * when none falls in it (a sample's values hold until the next). The
 * column holding the peak sample is drawn with '#' (ASCII) and marked '^'
 * on the time axis; the resident memory is a dot at its height, when it
 * is at most twice the heap's peak (else the header gives its maximum:
 * drawn to the same scale it would flatten the heap).
 */
#include "config.h"

#include "report/chart.h"
#include "report/render.h"

#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

typedef struct buf {
    char *p;
    size_t n, cap;
    int failed;
} buf;

static void put(buf *b, const char *s)
{
    size_t n = strlen(s);

    if (b->failed)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + n;
        char *p = realloc(b->p, cap);

        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

/* The unit for a top value: divisor and name. */
static double unit_of(double max, const char **name)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double d = 1;
    int i = 0;

    while (max >= 1024 * d && i < 4) {
        d *= 1024;
        i++;
    }
    *name = names[i];
    return d;
}

static void fmt_num(char *out, size_t len, double v)
{
    if (v == 0)
        snprintf(out, len, "0");
    else if (v < 10)
        snprintf(out, len, "%.2f", v);
    else if (v < 100)
        snprintf(out, len, "%.1f", v);
    else
        snprintf(out, len, "%.0f", v);
}

char *tm_chart_render(const tm_timeline *tl, int width, int height, int utf8)
{
    const int label = 8; /* "  12.5 |" */
    int ncols, peak_col = -1;
    double *heap = NULL, *rss = NULL, max = 0, rss_max = 0, div, span;
    int rss_shown;
    uint64_t peak = 0;
    size_t peak_sample = 0;
    const char *unit;
    char num[32], line[64];
    buf b = {0};

    if (!tl || tl->nsamples < 2)
        return NULL;
    if (width < 30)
        width = 30;
    if (height < 3)
        height = 3;
    ncols = width - label - 4;
    heap = calloc((size_t)ncols, sizeof *heap);
    rss = calloc((size_t)ncols, sizeof *rss);
    if (!heap || !rss)
        goto out_free;
    span = (double)(tl->samples[tl->nsamples - 1].t_ns ? tl->samples[tl->nsamples - 1].t_ns : 1);
    for (size_t i = 0; i < tl->nsamples; i++)
        if (tl->samples[i].heap > peak) {
            peak = tl->samples[i].heap;
            peak_sample = i;
        }
    {
        size_t s = 0;
        for (int c = 0; c < ncols; c++) {
            double end = span * (c + 1) / ncols;
            double h = s ? (double)tl->samples[s - 1].heap : 0, r = s ? (double)tl->samples[s - 1].rss : 0;
            int any = 0;

            while (s < tl->nsamples && ((double)tl->samples[s].t_ns < end || c == ncols - 1)) {
                if (!any || (double)tl->samples[s].heap > h)
                    h = (double)tl->samples[s].heap;
                if (!any || (double)tl->samples[s].rss > r)
                    r = (double)tl->samples[s].rss;
                any = 1;
                if (s == peak_sample && peak > 0)
                    peak_col = c;
                s++;
            }
            heap[c] = h;
            rss[c] = r;
            if (h > max)
                max = h;
            if (r > rss_max)
                rss_max = r;
        }
    }
    /* the heap sets the scale; the resident memory joins it when it is at
     * most twice the heap, else it would flatten the heap into one row */
    rss_shown = rss_max > 0 && rss_max <= 2 * max;
    if (rss_shown)
        max = rss_max > max ? rss_max : max;
    if (max <= 0)
        max = 1;
    div = unit_of(max, &unit);

    char peak_txt[32], at[32];
    tm_format_size(peak_txt, sizeof peak_txt, (double)peak, 0);
    snprintf(at, sizeof at, "%.2f", (double)tl->samples[peak_sample].t_ns / 1e9);
    put(&b, "  heap over time: peak ");
    put(&b, peak_txt);
    put(&b, " at ");
    put(&b, at);
    put(&b, " s\n  (");
    put(&b, utf8 ? "\xe2\x96\x88 heap, \xe2\x96\xb2 the peak" : ": heap, # the peak");
    if (rss_shown) {
        put(&b, utf8 ? ", \xc2\xb7 RSS" : ", . RSS");
    } else if (rss_max > 0) {
        char rss_txt[32];
        put(&b, "; RSS up to ");
        put(&b, tm_format_size(rss_txt, sizeof rss_txt, rss_max, 0));
        put(&b, ", off the scale");
    }
    put(&b, ")\n");
    snprintf(line, sizeof line, "  %5s\n", unit);
    put(&b, line);
    for (int row = height - 1; row >= 0; row--) {
        double lo = max * row / height, hi = max * (row + 1) / height;

        if (row == height - 1 || row == (height - 1) / 2) {
            fmt_num(num, sizeof num, hi / div);
            snprintf(line, sizeof line, "  %5s |", num);
        } else {
            snprintf(line, sizeof line, "  %5s |", "");
        }
        put(&b, line);
        for (int c = 0; c < ncols; c++) {
            double h = heap[c], r = rss_shown ? rss[c] : 0;
            const char *cell = " ";

            if (h >= hi || (h > lo && !utf8 && h - lo >= (hi - lo) / 2)) {
                cell = utf8 ? "\xe2\x96\x88" : (c == peak_col ? "#" : ":");
            } else if (h > lo && utf8) {
                static const char *const part[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83",
                                                   "\xe2\x96\x84", "\xe2\x96\x85", "\xe2\x96\x86",
                                                   "\xe2\x96\x87"};
                int k = (int)((h - lo) / (hi - lo) * 8);
                cell = k <= 0 ? " " : part[k > 7 ? 6 : k - 1];
                if (k <= 0 && r > lo && r <= hi)
                    cell = "\xc2\xb7";
            } else if (r > lo && r <= hi && r > h) {
                cell = utf8 ? "\xc2\xb7" : ".";
            }
            put(&b, cell);
        }
        put(&b, "\n");
    }
    put(&b, "      0 +");
    for (int c = 0; c < ncols; c++)
        put(&b, c == peak_col ? (utf8 ? "\xe2\x96\xb2" : "^") : "-");
    put(&b, "> s\n");
    snprintf(num, sizeof num, "%.2f", span / 1e9);
    snprintf(line, sizeof line, "        0");
    put(&b, line);
    for (int c = 1 + (int)strlen(num); c < ncols; c++)
        put(&b, " ");
    put(&b, num);
    put(&b, "\n");
out_free:
    free(heap);
    free(rss);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

void tm_chart_summary(FILE *fp, const tm_snapshot *snap)
{
    tm_timeline tl;
    struct winsize ws;
    int fd = fileno(fp), width = 72, utf8 = 0;
    const char *cols = getenv("COLUMNS");
    char *chart;

    if (!snap || tm_timeline_load(snap, &tl, NULL) || !tl.present)
        return;
    if (fd >= 0 && isatty(fd)) {
        const char *cs;

        if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
            width = ws.ws_col;
        const char *prev = setlocale(LC_CTYPE, NULL);
        char *saved = prev ? strdup(prev) : NULL;

        setlocale(LC_CTYPE, "");
        cs = nl_langinfo(CODESET);
        utf8 = cs && strcmp(cs, "UTF-8") == 0;
        if (saved) /* the caller's locale back: only the answer was wanted */
            setlocale(LC_CTYPE, saved);
        free(saved);
    } else if (cols && atoi(cols) > 0) {
        width = atoi(cols);
    }
    if (width > 100)
        width = 100;
    chart = tm_chart_render(&tl, width, 8, utf8);
    if (chart) {
        fputs(chart, fp);
        free(chart);
    }
    tm_timeline_free(&tl);
}
