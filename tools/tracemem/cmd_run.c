/* cmd_run.c - tracemem run: runs a program under libtracemem.so, then
 * symbolizes the snapshots it wrote (in place, atomically) and prints a
 * short heaptrack-like summary on stderr (the program owns stdout).
 *
 * The snapshots of the run are found by turning the output template into
 * glob patterns (%p %e %t %n match anything; the shim's ".N" sequence
 * suffix is allowed before ".json") and keeping the matching files that
 * were modified after the program started, load as snapshots and were
 * taken (snapshot.time) after it started: a file of an earlier run that
 * tracemem symbolized in the same clock tick looks recent.
 *
 * supervise.c runs the program: signals, descendants, exec errors.
 */
#include "config.h"

#include "builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report/hints.h"
#include "report/leaks.h"
#include "report/chart.h"
#include "report/render.h"
#include "report/rss.h"
#include "report/symbolize.h"
#include "supervise.h"

#ifndef TM_LIBDIR
#define TM_LIBDIR "/usr/local/lib"
#endif
#define SHIM_NAME "libtracemem.so"
#define DEFAULT_TEMPLATE "tracemem.%e.%p.json.gz"

static const char usage[] = "usage: tracemem run [-o TEMPLATE] [-n NFRAMES] [--signal SIG]\n"
                            "                    [--interval SECONDS] [--sample BYTES]\n"
                            "                    [--no-leak-check] [--no-follow-fork]\n"
                            "                    [--no-follow-exec] [--python] [-q]\n"
                            "                    [--format text|json] [--wait-children SECONDS]\n"
                            "                    [--report OUT.html]\n"
                            "                    " TM_VIEW_USAGE "\n"
                            "                    [--] PROGRAM [ARGS...]\n"
                            "Runs PROGRAM with libtracemem.so preloaded, symbolizes the snapshots it\n"
                            "writes and prints a summary. Exits with PROGRAM's exit status (128+N\n"
                            "when it was killed by signal N). See tracemem-run(1).\n";

typedef struct run_args {
    const char *output;
    int quiet;
    tm_format format;
    double wait_children;
    const char *report; /* --report: the HTML page to write */
} run_args;

/* --- finding the shim --- */

static int readable(const char *path)
{
    return access(path, R_OK) == 0;
}

/* The shim: $TRACEMEM_SHIM, next to this binary in a build tree
 * (.libs/), the installed one, or ../lib next to this binary. Returns a
 * new string. */
char *tm__find_shim(void)
{
    char self[PATH_MAX], *slash, *p = NULL;
    const char *env = getenv("TRACEMEM_SHIM");
    ssize_t n;

    if (env && *env)
        return (p = realpath(env, NULL)) ? p : strdup(env);
    n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        if ((slash = strrchr(self, '/')))
            *slash = '\0';
        if (asprintf(&p, "%s/.libs/" SHIM_NAME, self) > 0 && readable(p))
            return p;
        free(p);
        if (asprintf(&p, "%s/" SHIM_NAME, self) > 0 && readable(p))
            return p; /* running as .libs/lt-tracemem */
        free(p);
    }
    if (readable(TM_LIBDIR "/" SHIM_NAME) || n <= 0)
        return strdup(TM_LIBDIR "/" SHIM_NAME);
    /* an installed tree moved elsewhere (or staged with DESTDIR) */
    if (asprintf(&p, "%s/../lib/" SHIM_NAME, self) > 0 && readable(p))
        return p;
    free(p);
    return strdup(TM_LIBDIR "/" SHIM_NAME);
}

/* --- the child's environment --- */

static int set_env(const char *name, const char *value)
{
    return value ? setenv(name, value, 1) : 0;
}

/* --python: PYTHONMALLOC=malloc, whatever it was. Without it, a CPython
 * interpreter gets it too unless the user set PYTHONMALLOC (python.c). */
static int setup_env(const char *shim, const char *const vars[][2], int python)
{
    const char *old = getenv("LD_PRELOAD");
    char *preload;

    if (asprintf(&preload, "%s%s%s", shim, old && *old ? ":" : "", old && *old ? old : "") < 0)
        return -1;
    setenv("LD_PRELOAD", preload, 1);
    free(preload);
    for (int i = 0; vars[i][0]; i++)
        set_env(vars[i][0], vars[i][1]);
    if (python)
        setenv("PYTHONMALLOC", "malloc", 1);
    return 0;
}

/* --- symbol tables made while the program runs --- */

/* A thread of tracemem reads the program's /proc/PID/maps now and then
 * (20 ms after the start, then every 250 ms) and opens each executable
 * file mapped into the cache symbolizing will use: the debug file, its
 * sections inflated, the sorted symbol table. The program's second CPU
 * does it while the program runs (cc1, python3 are single-threaded),
 * symbolizing after the exit finds them ready. The program sees nothing
 * of it. Not with one CPU, nor when DEBUGINFOD_URLS would make libdw
 * download debug files of modules no frame may need. */
static struct {
    pthread_t th;
    pid_t pid;
    tm_symcache *cache;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int started, stop;
} pre = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* The cache of the files opened (taken by run_jobs()), or NULL. */
static tm_symcache *preloaded;

#define PRELOAD_FIRST_MS 20
#define PRELOAD_EVERY_MS 250
#define PRELOAD_MAX_FILES 1024

/* Waits 'ms' milliseconds unless told to stop; locked. Returns 'stop'. */
static int pre_wait(long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += ms % 1000 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!pre.stop && pthread_cond_timedwait(&pre.cond, &pre.lock, &ts) == 0)
        ;
    return pre.stop;
}

/* Adds the executable files mapped by the program and not in 'seen' to
 * 'seen' (new strings); returns how many 'seen' has. */
static size_t pre_maps(char **seen, size_t n)
{
    char name[64], *line = NULL;
    size_t cap = 0;
    FILE *fp;

    snprintf(name, sizeof name, "/proc/%d/maps", (int)pre.pid);
    if (!(fp = fopen(name, "re")))
        return n;
    while (n < PRELOAD_MAX_FILES && getline(&line, &cap, fp) > 0) {
        char perms[8], *path;
        size_t i, len;

        /* "start-end perms offset dev inode   /path" */
        if (sscanf(line, "%*s %7s", perms) != 1 || strlen(perms) < 3 || perms[2] != 'x' ||
            !(path = strchr(line, '/')))
            continue;
        len = strcspn(path, "\n");
        path[len] = '\0';
        if (len > 10 && strcmp(path + len - 10, " (deleted)") == 0)
            continue;
        for (i = 0; i < n && strcmp(seen[i], path) != 0; i++)
            ;
        if (i == n && (seen[n] = strdup(path)))
            n++;
    }
    free(line);
    fclose(fp);
    return n;
}

static void *pre_main(void *arg)
{
    char **seen = calloc(PRELOAD_MAX_FILES, sizeof *seen);
    size_t n = 0, done = 0;

    (void)arg;
    pthread_mutex_lock(&pre.lock);
    for (long ms = PRELOAD_FIRST_MS; seen && !pre_wait(ms); ms = PRELOAD_EVERY_MS) {
        pthread_mutex_unlock(&pre.lock);
        n = pre_maps(seen, n);
        for (; done < n; done++) {
            pthread_mutex_lock(&pre.lock);
            if (pre.stop)
                goto out; /* locked */
            pthread_mutex_unlock(&pre.lock);
            tm_symcache_preload(pre.cache, seen[done]); /* the one at work is finished */
        }
        pthread_mutex_lock(&pre.lock);
    }
out:
    pthread_mutex_unlock(&pre.lock);
    for (size_t i = 0; i < n; i++)
        free(seen[i]);
    free(seen);
    return NULL;
}

static void pre_start(pid_t pid, void *arg)
{
    const char *urls = getenv("DEBUGINFOD_URLS");

    (void)arg;
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || (urls && *urls) || !(pre.cache = tm_symcache_new()))
        return;
    pre.pid = pid;
    if (pthread_create(&pre.th, NULL, pre_main, NULL) == 0) {
        pre.started = 1;
        return;
    }
    tm_symcache_free(pre.cache);
    pre.cache = NULL;
}

/* Stops the thread (after the file it is opening) and keeps its cache
 * for symbolizing. */
static void pre_finish(void)
{
    if (!pre.started)
        return;
    pthread_mutex_lock(&pre.lock);
    pre.stop = 1;
    pthread_cond_signal(&pre.cond);
    pthread_mutex_unlock(&pre.lock);
    pthread_join(pre.th, NULL);
    pre.started = 0;
    preloaded = pre.cache;
    pre.cache = NULL;
}

/* --- finding what the program wrote --- */

/* Where the shim puts ".N" in a template without %n (outpath.c): before
 * a final ".json" or ".json.gz", else at the end. */
static size_t seq_at(const char *t, size_t tl)
{
    if (tl >= 5 && strcmp(t + tl - 5, ".json") == 0)
        return tl - 5;
    if (tl >= 8 && strcmp(t + tl - 8, ".json.gz") == 0)
        return tl - 8;
    return tl;
}

/* The template as a glob pattern; with 'seq', ".*" is inserted where the
 * shim puts ".N". */
static char *template_glob(const char *t, int seq)
{
    char *out = NULL;
    size_t len = 0, tl = strlen(t), at = seq_at(t, tl);
    FILE *fp = open_memstream(&out, &len);
    int json = at < tl;

    if (!fp)
        return NULL;
    for (size_t i = 0; i < tl; i++) {
        if (seq && json && i == at)
            fputs(".*", fp);
        if (t[i] == '%' && t[i + 1] && strchr("petn", t[i + 1])) {
            fputc('*', fp);
            i++;
        } else if (t[i] == '%' && t[i + 1] == '%') {
            fputc('%', fp);
            i++;
        } else {
            if (strchr("*?[\\", t[i]))
                fputc('\\', fp);
            fputc(t[i], fp);
        }
    }
    if (seq && !json)
        fputs(".*", fp);
    fclose(fp);
    return out;
}

static int newer(const struct stat *st, const struct timespec *start)
{
    if (st->st_mtim.tv_sec != start->tv_sec)
        return st->st_mtim.tv_sec > start->tv_sec;
    return st->st_mtim.tv_nsec >= start->tv_nsec;
}

/* Natural order: x.2.json before x.10.json. */
static int cmp_str(const void *a, const void *b)
{
    return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* Fills 'g' with the sorted, unique files matching the template that
 * were written since 'start'. */
static void find_outputs(const char *tmpl, const struct timespec *start, glob_t *g)
{
    struct stat st;
    size_t n = 0;

    memset(g, 0, sizeof *g);
    for (int seq = 0; seq < 2; seq++) {
        char *pat = template_glob(tmpl, seq);

        if (pat)
            glob(pat, seq || g->gl_pathc ? GLOB_APPEND : 0, NULL, g);
        free(pat);
    }
    if (g->gl_pathc)
        qsort(g->gl_pathv, g->gl_pathc, sizeof *g->gl_pathv, cmp_str);
    for (size_t i = 0; i < g->gl_pathc; i++) {
        char *p = g->gl_pathv[i];

        if ((n && strcmp(g->gl_pathv[n - 1], p) == 0) || stat(p, &st) || !S_ISREG(st.st_mode) ||
            !newer(&st, start)) {
            free(p);
            continue;
        }
        g->gl_pathv[n++] = p;
    }
    if (g->gl_pathv)
        g->gl_pathv[n] = NULL;
    g->gl_pathc = n;
}

/* --- the summary --- */

/* The snapshots of a run: the one to summarize (the main process's
 * latest) and the latest of each other process (children that forked or
 * exec'ed), by pid. */
typedef struct outputs {
    tm_snapshot *main;
    tm_snapshot **other;
    size_t nother;
} outputs;

/* Set by tm__summarize() for attach: the figures are those of the blocks
 * allocated since the attach. */
static int attached_mode;
/* run --report: the page to write after the summary (NULL: none) */
static const char *report_out;

#define SUMMARY_STACKS 3
#define SUMMARY_FRAMES 6

static void print_short_stack(const tm_snapshot *snap, size_t si)
{
    const tm_stack *st = &snap->stacks[si];
    tm_stack head = *st;

    if (head.nframes > SUMMARY_FRAMES)
        head.nframes = SUMMARY_FRAMES;
    tm_print_stack(stderr, snap, &head, "      ");
}

static void print_peak_stacks(const tm_snapshot *snap)
{
    tm_stats_opts o;
    tm_stats st;
    char a[32];

    tm_stats_opts_init(&o);
    o.by = TM_BY_TRACEBACK;
    o.peak = snap->has_peak && snap->npeak_traces > 0;
    o.top = SUMMARY_STACKS;
    if (tm_stats_compute(snap, &o, &st, NULL))
        return;
    if (st.n && o.peak && snap->memory.peak)
        /* the record is the live set when it was last within
         * TRACEMEM_PEAK_INACCURACY of the peak, not the peak itself */
        tm__eprintf("  top stacks at the peak (recorded with %s live, %.1f%% of the peak; "
                    "TRACEMEM_PEAK_INACCURACY):\n",
                    tm_format_size(a, sizeof a, (double)snap->peak_current, 0),
                    100.0 * (double)snap->peak_current / (double)snap->memory.peak);
    else if (st.n)
        tm__eprintf("  top stacks at %s:\n", o.peak ? "the peak" : "exit");
    for (size_t i = 0; i < st.n && i < SUMMARY_STACKS; i++) {
        tm__eprintf("    %s in %" PRIu64 " blocks\n", tm_format_size(a, sizeof a, (double)st.v[i].size, 0),
                    st.v[i].count);
        print_short_stack(snap, st.v[i].stack);
    }
    tm_stats_free(&st);
}

/* The leak report of 'snap' as tracemem leaks and check make it: the
 * default suppressions applied, records of one (folded) stack merged,
 * definite and indirect ones biggest first. 0, or -1 (no leak check, out
 * of memory). */
static int leak_report(const tm_snapshot *snap, tm_leak_report *r, tm_suppressions *supp)
{
    tm_snapshot *s = (tm_snapshot *)snap; /* tm_leak_report_build() only reads it */

    memset(supp, 0, sizeof *supp);
    if (!snap->has_leaks || !snap->leaks_checked || tm_suppressions_add_defaults(supp, NULL) ||
        tm_leak_report_build(r, &s, 1, TM_KINDS_CHECK, supp)) {
        tm_suppressions_free(supp);
        return -1;
    }
    return 0;
}

static void leak_report_free(tm_leak_report *r, tm_suppressions *supp)
{
    tm_leak_report_free(r);
    tm_suppressions_free(supp);
}

static void print_leaks(const tm_snapshot *snap)
{
    tm_suppressions supp;
    tm_leak_report r;
    size_t shown = 0;
    char a[32];

    if (leak_report(snap, &r, &supp)) {
        tm__eprintf("  leaks: not checked\n");
        return;
    }
    if (attached_mode)
        tm__eprintf("  leak classification covers only the blocks allocated since the attach\n");
    tm__eprintf("  leaked%s:", snap->sampling_bytes > 0 ? " (estimates: the run was sampled)" : "");
    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        tm__eprintf("%s %s %s in %" PRIu64 " blocks", k ? "," : "", tm_leak_kind_name((tm_leak_kind)k),
                    tm_format_size(a, sizeof a, (double)r.summary[k].bytes, 0), r.summary[k].blocks);
    if (r.suppressed.blocks)
        tm__eprintf("; suppressed %s in %" PRIu64 " blocks (default suppressions)",
                    tm_format_size(a, sizeof a, (double)r.suppressed.bytes, 0), r.suppressed.blocks);
    fputc('\n', stderr);
    if (snap->leaks_threads_not_stopped > 0)
        tm__eprintf("  partial: %" PRId64 " thread(s) could not be stopped for the leak check; their "
                    "registers were not read\n", snap->leaks_threads_not_stopped);
    for (size_t i = 0; i < r.n && shown < SUMMARY_STACKS; i++) {
        const tm_leak_record *rec = &r.v[i];

        if (rec->suppression >= 0)
            continue;
        if (!shown++)
            tm__eprintf("  top leaks:\n");
        tm__eprintf("    %s in %" PRIu64 " blocks %s lost\n", tm_format_size(a, sizeof a, (double)rec->bytes, 0),
                    rec->blocks, rec->kind == TM_LEAK_DEFINITE ? "definitely" : "indirectly");
        print_short_stack(snap, rec->stack);
    }
    leak_report_free(&r, &supp);
}

/* One line of tracemem rss: the resident total and its biggest parts, and
 * the advice when malloc keeps much more freed memory than is live. */
static void print_rss(const tm_snapshot *s)
{
    const tm_rss_category *v[TM_RSS_MAX_CATEGORIES];
    size_t n = 0;
    char a[32];
    tm_rss r;

    if (tm_rss_get(s, &r, NULL))
        return;
    for (size_t i = 0; i < r.n; i++)
        if (r.v[i].rss)
            v[n++] = &r.v[i];
    for (size_t i = 1; i < n; i++) /* biggest first; a handful of entries */
        for (size_t j = i; j > 0 && v[j]->rss > v[j - 1]->rss; j--) {
            const tm_rss_category *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    tm__eprintf("  resident memory at the end: %s:", tm_format_size(a, sizeof a, (double)r.rss, 0));
    for (size_t i = 0; i < n && i < 4; i++)
        tm__eprintf("%s %s %s", i ? "," : "", v[i]->name, tm_format_size(a, sizeof a, (double)v[i]->rss, 0));
    tm__eprintf("%s (tracemem rss)\n", n > 4 ? ", ..." : "");
    if (tm_rss_advice(&r))
        tm__eprintf("  note: %s\n", tm_rss_advice(&r));
}

static void print_summary(const char *prog, int status, const tm_snapshot *s)
{
    char a[32], b[32], c[32], why[512];

    if (status > 128)
        tm__eprintf("tracemem: %s was killed by signal %d (%s)\n", prog, status - 128,
                    strsignal(status - 128));
    else if (status >= 0)
        tm__eprintf("tracemem: %s exited with status %d\n", prog, status);
    if (!s && status < 0) {
        tm__eprintf("tracemem: no snapshot was written\n");
        return;
    }
    if (!s) {
        tm__why_no_snapshot(prog, status, why, sizeof why);
        tm__eprintf("tracemem: no snapshot was written: %s\n", why);
        return;
    }
    tm__eprintf("  peak heap memory%s: %s; at %s: %s in %" PRIu64 " blocks\n",
                attached_mode ? " since the attach" : "",
                tm_format_size(a, sizeof a, (double)s->memory.peak, 0),
                attached_mode && s->reason && strcmp(s->reason, "exit") != 0 ? "detach" : "exit",
                tm_format_size(b, sizeof b, (double)s->memory.current, 0), s->memory.blocks);
    tm_chart_summary(stderr, s); /* heap over time, when the snapshot has a timeline */
    /* memory.overhead is what the shim mapped (address space), not what
     * of it is resident: do not let it read as RSS */
    tm__eprintf("  tracemem's own tables: %s of address space mapped (only the pages used are resident)\n",
                tm_format_size(c, sizeof c, (double)s->memory.overhead, 0));
    print_rss(s);
    if (s->memory.lost_records)
        tm__eprintf("  warning: %" PRIu64 " allocations could not be "
                    "recorded (tracemem ran out of memory)\n",
                    s->memory.lost_records);
    print_leaks(s);
    print_peak_stacks(s);
}

/* One line per other process (children that forked or exec'ed) of
 * 'o', which are 'total' of them. */
static void print_others(const outputs *o, size_t total)
{
    char a[32], b[32], c[32];

    if (o->nother)
        tm__eprintf("  other processes (%zu):\n", total);
    for (size_t i = 0; i < o->nother; i++) {
        const tm_snapshot *s = o->other[i];
        tm__eprintf("    pid %" PRId64 " (%s): peak %s; at exit %s in %" PRIu64 " blocks; ", s->pid,
                    s->exe && *s->exe ? s->exe : "?", tm_format_size(a, sizeof a, (double)s->memory.peak, 0),
                    tm_format_size(b, sizeof b, (double)s->memory.current, 0), s->memory.blocks);
        if (s->has_leaks && s->leaks_checked)
            tm__eprintf("definitely lost %s in %" PRIu64 " blocks\n",
                        tm_format_size(c, sizeof c, (double)s->leak_summary[TM_LEAK_DEFINITE].bytes, 0),
                        s->leak_summary[TM_LEAK_DEFINITE].blocks);
        else
            tm__eprintf("leaks not checked\n");
    }
}

static json_t *short_stack_json(const tm_snapshot *snap, size_t si);

/* --- across processes: a run of make or a shell script --- */

/* At most this many other processes get a line of their own; the rest
 * are counted (the largest peaks are shown). */
#define SUMMARY_PROCESSES 10
/* At most this many snapshot paths are listed. */
#define SUMMARY_PATHS 20

/* One short stack (its first SUMMARY_FRAMES frames, by name) summed over
 * the processes: 'snap' and 'stack' are where it was seen first, for
 * printing it. */
typedef struct xstack {
    char *key;
    const tm_snapshot *snap;
    size_t stack;
    tm_leak_kind kind;
    uint64_t bytes, blocks;
    size_t nproc;
    int64_t last_pid;
} xstack;

typedef struct xstacks {
    xstack *v;
    size_t n, cap;
    size_t *slots; /* index + 1; 0 is empty */
    size_t nslots;
} xstacks;

/* The text a short stack is known by across processes: function (or
 * module+offset), file and line of each frame. New string or NULL. */
static char *stack_key(const tm_snapshot *snap, size_t si, int kind)
{
    const tm_stack *st = &snap->stacks[si];
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    if (!fp)
        return NULL;
    fprintf(fp, "%d", kind);
    for (size_t i = 0; i < st->nframes && i < SUMMARY_FRAMES; i++) {
        const tm_frame *f = tm_stack_frame(snap, st, i);
        const tm_module *m = tm_snapshot_frame_module(snap, f);

        if (f->loc.function)
            fprintf(fp, "|%s@%s:%" PRId64, f->loc.function, f->loc.file ? f->loc.file : "", f->loc.line);
        else
            fprintf(fp, "|%s+%" PRIx64, m ? m->path : "", f->offset);
    }
    if (fclose(fp))
        return NULL;
    return out;
}

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

static int xs_grow(xstacks *x)
{
    size_t n = x->nslots ? 2 * x->nslots : 1024;
    size_t *slots = calloc(n, sizeof *slots);

    if (!slots)
        return -1;
    for (size_t i = 0; i < x->n; i++) {
        size_t h = hash_str(x->v[i].key) & (n - 1);

        while (slots[h])
            h = (h + 1) & (n - 1);
        slots[h] = i + 1;
    }
    free(x->slots);
    x->slots = slots;
    x->nslots = n;
    return 0;
}

/* Adds 'bytes' in 'blocks' of stack 'si' of 'snap' to its entry. */
static void xs_add(xstacks *x, const tm_snapshot *snap, size_t si, int kind, uint64_t bytes, uint64_t blocks)
{
    char *key = stack_key(snap, si, kind);
    size_t h;
    xstack *e;

    if (!key || (2 * (x->n + 1) > x->nslots && xs_grow(x))) {
        free(key);
        return;
    }
    for (h = hash_str(key) & (x->nslots - 1); x->slots[h]; h = (h + 1) & (x->nslots - 1)) {
        e = &x->v[x->slots[h] - 1];
        if (strcmp(e->key, key) == 0) {
            free(key);
            goto add;
        }
    }
    if (x->n == x->cap) {
        size_t ncap = x->cap ? 2 * x->cap : 256;
        xstack *nv = realloc(x->v, ncap * sizeof *nv);

        if (!nv) {
            free(key);
            return;
        }
        x->v = nv;
        x->cap = ncap;
    }
    e = &x->v[x->n];
    memset(e, 0, sizeof *e);
    e->key = key;
    e->snap = snap;
    e->stack = si;
    e->kind = kind < 0 ? TM_LEAK_DEFINITE : (tm_leak_kind)kind;
    e->last_pid = -1;
    x->slots[h] = ++x->n;
add:
    e->bytes += bytes;
    e->blocks += blocks;
    if (e->last_pid != snap->pid) { /* snapshots come one process at a time */
        e->last_pid = snap->pid;
        e->nproc++;
    }
}

static int cmp_xstack(const void *pa, const void *pb)
{
    const xstack *a = pa, *b = pb;

    if (a->bytes != b->bytes)
        return a->bytes > b->bytes ? -1 : 1;
    return strcmp(a->key, b->key);
}

static void xs_free(xstacks *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->v[i].key);
    free(x->v);
    free(x->slots);
    memset(x, 0, sizeof *x);
}

/* The snapshots of 'o', main first. */
static const tm_snapshot *nth(const outputs *o, size_t i)
{
    return o->main ? (i ? o->other[i - 1] : o->main) : o->other[i];
}

static size_t count(const outputs *o)
{
    return o->nother + (o->main != NULL);
}

/* Leak stacks (definite, indirect) and the live set at each process's
 * peak (or exit), summed by short stack over all processes and sorted. */
static void across(const outputs *o, xstacks *leaks, xstacks *peak)
{
    memset(leaks, 0, sizeof *leaks);
    memset(peak, 0, sizeof *peak);
    for (size_t p = 0; p < count(o); p++) {
        const tm_snapshot *s = nth(o, p);
        int use_peak = s->has_peak && s->npeak_traces > 0;
        const tm_trace *t = use_peak ? s->peak_traces : s->traces;
        size_t nt = use_peak ? s->npeak_traces : s->ntraces;

        for (size_t i = 0; s->has_leaks && s->leaks_checked && i < s->nleak_stacks; i++)
            if (s->leak_stacks[i].kind <= TM_LEAK_INDIRECT)
                xs_add(leaks, s, s->leak_stacks[i].stack, s->leak_stacks[i].kind, s->leak_stacks[i].bytes,
                       s->leak_stacks[i].blocks);
        for (size_t i = 0; i < nt; i++)
            if (t[i].domain == 0)
                xs_add(peak, s, t[i].stack, -1, t[i].size, t[i].count);
    }
    if (leaks->n)
        qsort(leaks->v, leaks->n, sizeof *leaks->v, cmp_xstack);
    if (peak->n)
        qsort(peak->v, peak->n, sizeof *peak->v, cmp_xstack);
}

static int cmp_peak(const void *pa, const void *pb)
{
    const tm_snapshot *a = *(tm_snapshot *const *)pa, *b = *(tm_snapshot *const *)pb;

    if (a->memory.peak != b->memory.peak)
        return a->memory.peak > b->memory.peak ? -1 : 1;
    return (a->pid > b->pid) - (a->pid < b->pid);
}

static void print_xstacks(const xstacks *x, const char *what, int leaks)
{
    char a[32];

    if (x->n)
        tm__eprintf("  %s:\n", what);
    for (size_t i = 0; i < x->n && i < SUMMARY_STACKS; i++) {
        const xstack *e = &x->v[i];

        tm__eprintf("    %s in %" PRIu64 " blocks%s in %zu process%s\n",
                    tm_format_size(a, sizeof a, (double)e->bytes, 0), e->blocks,
                    !leaks ? "" : e->kind == TM_LEAK_DEFINITE ? " definitely lost" : " indirectly lost",
                    e->nproc, e->nproc == 1 ? "" : "es");
        print_short_stack(e->snap, e->stack);
    }
}

/* The other processes of a run: one line each (the largest peaks when
 * there are many), then what all processes together leaked and held at
 * their peaks, by stack. */
static void print_processes(const outputs *o)
{
    tm_snapshot **v;
    xstacks leaks, peak;
    uint64_t sum_peak = 0, lost = 0, lost_blocks = 0;
    size_t n = count(o), shown = o->nother;
    char a[32], b[32];

    if (!o->nother)
        return;
    if (o->nother > SUMMARY_PROCESSES && (v = malloc(o->nother * sizeof *v))) {
        memcpy(v, o->other, o->nother * sizeof *v);
        qsort(v, o->nother, sizeof *v, cmp_peak);
        outputs top = {.other = v, .nother = SUMMARY_PROCESSES};
        print_others(&top, o->nother);
        free(v);
        shown = SUMMARY_PROCESSES;
    } else {
        print_others(o, o->nother);
    }
    if (shown < o->nother)
        tm__eprintf("    ... and %zu more (the %d with the largest peaks are shown; --format json lists "
                    "all)\n",
                    o->nother - shown, SUMMARY_PROCESSES);
    for (size_t i = 0; i < n; i++) {
        const tm_snapshot *s = nth(o, i);

        sum_peak += s->memory.peak;
        if (s->has_leaks && s->leaks_checked) {
            lost += s->leak_summary[TM_LEAK_DEFINITE].bytes;
            lost_blocks += s->leak_summary[TM_LEAK_DEFINITE].blocks;
        }
    }
    tm__eprintf("  all %zu processes: peaks add up to %s; definitely lost %s in %" PRIu64 " blocks\n", n,
                tm_format_size(a, sizeof a, (double)sum_peak, 0), tm_format_size(b, sizeof b, (double)lost, 0),
                lost_blocks);
    across(o, &leaks, &peak);
    print_xstacks(&leaks, "top leaks across processes", 1);
    print_xstacks(&peak, "top stacks at the processes' peaks", 0);
    xs_free(&leaks);
    xs_free(&peak);
}

/* The snapshot paths, all of them unless there are many. */
static void print_paths(const glob_t *g)
{
    size_t n = g->gl_pathc > SUMMARY_PATHS ? SUMMARY_PATHS / 2 : g->gl_pathc;

    for (size_t i = 0; i < n; i++)
        tm__eprintf("%-13s%s\n", i ? "" : "  snapshots:", g->gl_pathv[i]);
    if (n < g->gl_pathc)
        tm__eprintf("%-13s... and %zu more, the last %s\n", "", g->gl_pathc - n, g->gl_pathv[g->gl_pathc - 1]);
}

/* The across-processes part of the JSON summary. */
static json_t *xstacks_json(const xstacks *x, int leaks)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < x->n && i < SUMMARY_STACKS; i++) {
        const xstack *e = &x->v[i];
        json_t *j = json_pack("{s:I, s:I, s:I, s:o}", leaks ? "bytes" : "size", (json_int_t)e->bytes,
                              leaks ? "blocks" : "count", (json_int_t)e->blocks, "processes",
                              (json_int_t)e->nproc, "frames", short_stack_json(e->snap, e->stack));

        if (leaks)
            json_object_set_new(j, "kind", json_string(tm_leak_kind_name(e->kind)));
        json_array_append_new(arr, j);
    }
    return arr;
}

static json_t *across_json(const outputs *o)
{
    xstacks leaks, peak;
    uint64_t sum_peak = 0;
    json_t *j;

    for (size_t i = 0; i < count(o); i++)
        sum_peak += nth(o, i)->memory.peak;
    across(o, &leaks, &peak);
    j = json_pack("{s:I, s:I, s:o, s:o}", "processes", (json_int_t)count(o), "peak_sum", (json_int_t)sum_peak,
                  "leaks", xstacks_json(&leaks, 1), "peak", xstacks_json(&peak, 0));
    xs_free(&leaks);
    xs_free(&peak);
    return j;
}

/* --- the summary as JSON (--format json; tracemem-run(1)) --- */

static json_t *short_stack_json(const tm_snapshot *snap, size_t si)
{
    tm_stack head = snap->stacks[si];

    if (head.nframes > SUMMARY_FRAMES)
        head.nframes = SUMMARY_FRAMES;
    return tm_stack_json(snap, &head);
}

static json_t *peak_json(const tm_snapshot *snap)
{
    json_t *arr = json_array();
    tm_stats_opts o;
    tm_stats st;

    tm_stats_opts_init(&o);
    o.by = TM_BY_TRACEBACK;
    o.peak = snap->has_peak && snap->npeak_traces > 0;
    o.top = SUMMARY_STACKS;
    if (tm_stats_compute(snap, &o, &st, NULL) == 0) {
        for (size_t i = 0; i < st.n && i < SUMMARY_STACKS; i++)
            json_array_append_new(arr, json_pack("{s:I, s:I, s:o}", "size", (json_int_t)st.v[i].size, "count",
                                                 (json_int_t)st.v[i].count, "frames",
                                                 short_stack_json(snap, st.v[i].stack)));
        tm_stats_free(&st);
    }
    return json_pack("{s:b, s:o}", "record", o.peak, "top", arr);
}

static json_t *leaks_json(const tm_snapshot *snap)
{
    json_t *sum = json_object(), *top = json_array();
    tm_suppressions supp;
    tm_leak_report r;
    int checked = leak_report(snap, &r, &supp) == 0;
    size_t shown = 0;

    for (int k = 0; k < TM_LEAK_NKINDS; k++)
        json_object_set_new(sum, tm_leak_kind_name((tm_leak_kind)k),
                            json_pack("{s:I, s:I}", "bytes", (json_int_t)(checked ? r.summary[k].bytes : 0),
                                      "blocks", (json_int_t)(checked ? r.summary[k].blocks : 0)));
    json_object_set_new(sum, "suppressed",
                        json_pack("{s:I, s:I}", "bytes", (json_int_t)(checked ? r.suppressed.bytes : 0),
                                  "blocks", (json_int_t)(checked ? r.suppressed.blocks : 0)));
    for (size_t i = 0; checked && i < r.n && shown < SUMMARY_STACKS; i++) {
        const tm_leak_record *rec = &r.v[i];

        if (rec->suppression >= 0)
            continue;
        shown++;
        json_array_append_new(top, json_pack("{s:s, s:I, s:I, s:o}", "kind", tm_leak_kind_name(rec->kind),
                                             "bytes", (json_int_t)rec->bytes, "blocks", (json_int_t)rec->blocks,
                                             "frames", short_stack_json(snap, rec->stack)));
    }
    if (checked)
        leak_report_free(&r, &supp);
    return json_pack("{s:b, s:o, s:o}", "checked", checked, "summary", sum, "top", top);
}

static json_t *memory_json(const tm_snapshot *s)
{
    tm_rss r;
    json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:I}", "current", (json_int_t)s->memory.current, "peak",
                          (json_int_t)s->memory.peak, "blocks", (json_int_t)s->memory.blocks, "overhead",
                          (json_int_t)s->memory.overhead, "lost_records", (json_int_t)s->memory.lost_records);

    /* the resident total and its categories (tracemem rss) */
    if (j && tm_rss_get(s, &r, NULL) == 0) {
        json_t *cats = json_object();

        for (size_t i = 0; i < r.n; i++)
            json_object_set_new(cats, r.v[i].name, json_integer((json_int_t)r.v[i].rss));
        json_object_set_new(j, "rss", json_pack("{s:I, s:o}", "total", (json_int_t)r.rss, "categories", cats));
    }
    return j;
}

static void print_summary_json(const char *prog, int status, const outputs *o, const glob_t *g, int left)
{
    const tm_snapshot *s = o->main;
    json_t *j =
        json_pack("{s:s, s:i, s:s, s:o, s:o}", "format", "tracemem-run", "version", 1, "program", prog,
                  "status", status >= 0 ? json_integer(status) : json_null(), "signal",
                  status > 128 ? json_integer(status - 128) : json_null());
    json_t *paths = json_array();

    for (size_t i = 0; i < g->gl_pathc; i++)
        json_array_append_new(paths, json_string(g->gl_pathv[i]));
    json_object_set_new(j, "snapshots", paths);
    json_object_set_new(j, "snapshot", s ? json_string(s->file) : json_null());
    if (s) {
        json_object_set_new(j, "memory", memory_json(s));
        json_object_set_new(j, "leaks", leaks_json(s));
        json_object_set_new(j, "peak", peak_json(s));
    }
    json_t *procs = json_array();
    for (size_t i = 0; i < o->nother; i++) {
        const tm_snapshot *c = o->other[i];
        json_array_append_new(procs, json_pack("{s:I, s:s, s:s, s:o, s:o}", "pid", (json_int_t)c->pid,
                                               "exe", c->exe ? c->exe : "", "snapshot", c->file,
                                               "memory", memory_json(c), "leaks", leaks_json(c)));
    }
    json_object_set_new(j, "processes", procs);
    if (o->nother)
        json_object_set_new(j, "across", across_json(o));
    json_object_set_new(j, "not_waited_for", json_integer(left));
    json_dumpf(j, stderr, JSON_INDENT(2));
    fputc('\n', stderr);
    json_decref(j);
}

/* Keeps 's' in 'v' when it is the latest of its process, in place of
 * the one it replaces (when memory is short 's' is not summarized). */
static void keep_latest(tm_snapshot ***v, size_t *n, tm_snapshot *s)
{
    for (size_t i = 0; i < *n; i++) {
        if ((*v)[i]->pid == s->pid) {
            if (s->seq >= (*v)[i]->seq)
                (*v)[i] = s;
            return;
        }
    }
    tm_snapshot **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return;
    nv[(*n)++] = s;
    *v = nv;
}

static int cmp_pid(const void *pa, const void *pb)
{
    const tm_snapshot *a = *(tm_snapshot *const *)pa, *b = *(tm_snapshot *const *)pb;
    return (a->pid > b->pid) - (a->pid < b->pid);
}

/* 1 when 's' was taken before 'start' (milliseconds since the epoch):
 * a file of an earlier run with the same template, whose modification
 * time (that of its symbolization, on a coarse clock) can look recent. */
static int taken_before(const tm_snapshot *s, int64_t start)
{
    struct tm tm = {0};
    int ms = 0, n = 0;

    /* "2026-12-03T12:19:48.991Z" */
    if (!s->time || sscanf(s->time, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                           &tm.tm_min, &tm.tm_sec, &n) != 6)
        return 0;
    if (s->time[n] == '.')
        sscanf(s->time + n + 1, "%3d", &ms);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms < start;
}

/* One output file of the run: loaded and symbolized by one of two
 * threads, then written back by one of two others while the summary is
 * made; what became of it is looked at afterwards, in order. */
typedef struct job {
    char *file;
    tm_snapshot *snap; /* NULL after an error */
    int rc;
    int earlier; /* taken before the run started: not one of its own */
    int raw;     /* it was not symbolized yet (hints are given for it) */
    tm_error err;
    int wrc; /* writing it back */
    tm_error werr;
} job;

typedef struct jobs {
    job *v;
    size_t n;
    size_t next;  /* the next job to take (atomic) */
    size_t wnext; /* the next job to write back (atomic) */
    int64_t start;
    FILE *warn;
    tm_symcache *cache; /* shared: used under 'lock' */
    pthread_mutex_t lock;
    pthread_t th[2]; /* the writers */
    int nth;
} jobs;

static void do_job(jobs *js, job *j)
{
    if ((j->rc = tm_snapshot_load(j->file, &j->snap, &j->err)))
        return;
    if (taken_before(j->snap, js->start)) {
        j->earlier = 1;
        goto out_free;
    }
    j->raw = !j->snap->symbolized;
    /* libdw and the cache serve one thread at a time; reading the JSON,
     * most of the work, goes on in parallel */
    pthread_mutex_lock(&js->lock);
    j->rc = js->cache ? tm_symbolize_cached(j->snap, 0, js->cache, js->warn, NULL, &j->err)
                      : tm_symbolize(j->snap, 0, js->warn, &j->err);
    pthread_mutex_unlock(&js->lock);
    if (!j->rc)
        return;
out_free:
    tm_snapshot_free(j->snap);
    j->snap = NULL;
}

static void *worker(void *arg)
{
    jobs *js = arg;
    size_t i;

    while ((i = __atomic_fetch_add(&js->next, 1, __ATOMIC_RELAXED)) < js->n)
        do_job(js, &js->v[i]);
    return NULL;
}

/* Writes the symbolized snapshots back in place. Only reads them (their
 * JSON tree and text): the summary made meanwhile reads them too, and
 * folds their model, which writing does not use. */
static void *writer(void *arg)
{
    jobs *js = arg;
    size_t i;

    while ((i = __atomic_fetch_add(&js->wnext, 1, __ATOMIC_RELAXED)) < js->n) {
        job *j = &js->v[i];

        if (j->snap)
            j->wrc = tm_snapshot_write(j->snap, j->file, &j->werr);
    }
    return NULL;
}

/* Loads and symbolizes every file of 'g', on two threads when there are
 * two CPUs, and starts writing them back (write_wait() waits for that).
 * Returns the jobs, or NULL. */
static jobs *run_jobs(glob_t *g, int64_t start, int quiet)
{
    jobs *js = calloc(1, sizeof *js);
    pthread_t t;
    int two, cpus = sysconf(_SC_NPROCESSORS_ONLN) > 1;

    if (!js || !(js->v = calloc(g->gl_pathc + 1, sizeof *js->v))) {
        free(js);
        return NULL;
    }
    js->n = g->gl_pathc;
    js->start = start;
    js->warn = quiet ? NULL : stderr;
    for (size_t i = 0; i < js->n; i++)
        js->v[i].file = g->gl_pathv[i];
    /* one for all: every child opens the same libc */
    js->cache = preloaded ? preloaded : tm_symcache_new();
    preloaded = NULL;
    pthread_mutex_init(&js->lock, NULL);
    two = js->n > 1 && cpus && pthread_create(&t, NULL, worker, js) == 0;
    worker(js);
    if (two)
        pthread_join(t, NULL);
    pthread_mutex_destroy(&js->lock);
    tm_symcache_free(js->cache);
    js->cache = NULL;
    /* the writing back goes on while the summary is made (a large
     * snapshot's gzip uses two threads of its own, pgzip.c) */
    for (int k = 0; k < (js->n > 1 && cpus ? 2 : 1); k++)
        if (pthread_create(&js->th[js->nth], NULL, writer, js) == 0)
            js->nth++;
    if (!js->nth)
        writer(js);
    return js;
}

/* Waits for the writing back (once) and says which files failed. */
static void write_wait(jobs *js)
{
    if (!js)
        return;
    for (int k = 0; k < js->nth; k++)
        pthread_join(js->th[k], NULL);
    js->nth = 0;
    for (size_t i = 0; i < js->n; i++) {
        job *j = &js->v[i];

        if (j->wrc) {
            tm__eprintf("tracemem: %s: %s\n", j->file, j->werr.what);
            j->wrc = 0;
        }
    }
}

/* Symbolizes every output in place and sorts them out (see outputs): the
 * main process is the one started, or when it wrote nothing the lowest
 * pid. Outputs of earlier runs are dropped from 'g'. The files are
 * written back meanwhile: write_wait() before reading them again. */
static jobs *process_outputs(glob_t *g, int64_t start, pid_t child, int quiet, int hints, outputs *o)
{
    tm_snapshot **all = NULL;
    tm_hint_memo memo = {0};
    size_t n = 0, kept = 0, nfiles = g->gl_pathc;
    jobs *js = run_jobs(g, start, quiet);
    job *v = js ? js->v : NULL;

    memset(o, 0, sizeof *o);
    if (v && hints) { /* one dpkg-query for the notes of all the snapshots */
        tm_snapshot **ask = calloc(nfiles + 1, sizeof *ask);

        for (size_t i = 0; ask && i < nfiles; i++)
            if (!v[i].earlier && !v[i].rc && v[i].raw)
                ask[i] = v[i].snap;
        if (ask)
            tm_symbol_hints_prepare(&memo, ask, nfiles);
        free(ask);
    }
    for (size_t i = 0; v && i < nfiles; i++) {
        job *j = &v[i];

        if (j->earlier) {
            free(j->file);
            continue;
        }
        g->gl_pathv[kept++] = j->file;
        if (j->rc) {
            tm__eprintf("tracemem: %s: %s\n", j->file, j->err.what);
            continue;
        }
        if (j->raw && hints)
            tm_symbol_hints(j->snap, stderr, &memo);
        tm__apply_view(j->snap); /* written raw; the summary shows the view */
    }
    tm_hint_memo_free(&memo);
    /* the latest snapshot of each process (the others are being written
     * back: nothing is freed, see tm__summarize()) */
    for (size_t i = 0; v && i < nfiles; i++)
        if (v[i].snap)
            keep_latest(&all, &n, v[i].snap);
    if (v) {
        if (g->gl_pathv)
            g->gl_pathv[kept] = NULL;
        g->gl_pathc = kept;
    }
    if (n) /* all is NULL when nothing was written */
        qsort(all, n, sizeof *all, cmp_pid);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i]->pid == child)
            m = i;
    if (n) {
        o->main = all[m];
        memmove(all + m, all + m + 1, (n - m - 1) * sizeof *all);
    }
    o->other = all;
    o->nother = n ? n - 1 : 0;
    return js;
}

/* --- options --- */

enum {
    OPT_SIGNAL = 256,
    OPT_INTERVAL,
    OPT_SAMPLE,
    OPT_NO_LEAK,
    OPT_NO_FORK,
    OPT_NO_EXEC,
    OPT_PYTHON,
    OPT_FORMAT,
    OPT_WAIT,
    OPT_REPORT,
};

/* The values the shim accepts (src/shim/control.c), so that a bad one is
 * a usage error here rather than a warning from every process. */
static int valid_interval(const char *s)
{
    double v = tm__parse_seconds(s);

    return v == 0 || v >= 0.001;
}

/* A signal the shim can catch: a name with or without SIG (HUP ... SYS,
 * RTMIN+N) or a number; KILL and STOP cannot be caught. */
static int valid_signal(const char *s)
{
    static const char *const names[] = {"HUP",    "INT",  "QUIT",  "USR1", "USR2", "PIPE", "ALRM", "TERM",
                                        "CHLD",   "CONT", "TSTP",  "TTIN", "TTOU", "URG",  "XCPU", "XFSZ",
                                        "VTALRM", "PROF", "WINCH", "POLL", "PWR",  "SYS"};
    char *end;
    long n;

    errno = 0;
    n = strtol(s, &end, 10);
    if (end != s && !*end)
        return !errno && n >= 1 && n <= SIGRTMAX && n != SIGKILL && n != SIGSTOP;
    if (strncmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(s, names[i]) == 0)
            return 1;
    if (strncmp(s, "RTMIN+", 6) != 0)
        return 0;
    errno = 0;
    n = strtol(s + 6, &end, 10);
    return !errno && end != s + 6 && !*end && n >= 0 && n <= SIGRTMAX - SIGRTMIN;
}

/* TRACEMEM_* values, in the order of SPEC section 3. */
enum { V_NFRAMES, V_OUTPUT, V_AT_EXIT, V_SIGNAL, V_INTERVAL, V_SAMPLE, V_FORK, V_EXEC, V_END };

static int parse_run(int argc, char **argv, const char *vars[][2], run_args *ra, int *python)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"nframes", required_argument, NULL, 'n'},
        {"signal", required_argument, NULL, OPT_SIGNAL},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"sample", required_argument, NULL, OPT_SAMPLE},
        {"no-leak-check", no_argument, NULL, OPT_NO_LEAK},
        {"no-follow-fork", no_argument, NULL, OPT_NO_FORK},
        {"no-follow-exec", no_argument, NULL, OPT_NO_EXEC},
        {"python", no_argument, NULL, OPT_PYTHON},
        {"quiet", no_argument, NULL, 'q'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"wait-children", required_argument, NULL, OPT_WAIT},
        {"report", required_argument, NULL, OPT_REPORT},
        {"help", no_argument, NULL, 'h'},
        TM_VIEW_LONGOPTS,
        {0},
    };
    long long v;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+o:n:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            vars[V_OUTPUT][1] = ra->output = optarg;
            break;
        case 'n':
            v = tm__parse_count(optarg);
            if (v < 1 || v > 256)
                return tm__usage_error("run",
                                       "-n: '%s' is not a number of "
                                       "frames in 1..256",
                                       optarg);
            vars[V_NFRAMES][1] = optarg;
            break;
        case OPT_SIGNAL:
            if (strcmp(optarg, "none") != 0 && !valid_signal(optarg))
                return tm__usage_error("run",
                                       "--signal: '%s' is not a signal name or number "
                                       "that can be caught (USR1, SIGUSR2, RTMIN+3, 10, none)",
                                       optarg);
            vars[V_SIGNAL][1] = optarg;
            break;
        case OPT_INTERVAL:
            if (!valid_interval(optarg))
                return tm__usage_error("run",
                                       "--interval: '%s' is not a number of "
                                       "seconds (0, or 0.001 to 1e9)",
                                       optarg);
            vars[V_INTERVAL][1] = optarg;
            break;
        case OPT_SAMPLE:
            if (tm__parse_count(optarg) < 0)
                return tm__usage_error("run",
                                       "--sample: '%s' is not a "
                                       "number of bytes",
                                       optarg);
            vars[V_SAMPLE][1] = optarg;
            break;
        case OPT_NO_LEAK:
            vars[V_AT_EXIT][1] = "snapshot";
            break;
        case OPT_NO_FORK:
            vars[V_FORK][1] = "0";
            break;
        case OPT_NO_EXEC:
            vars[V_EXEC][1] = "0";
            break;
        case OPT_PYTHON:
            *python = 1;
            break;
        case 'q':
            ra->quiet = 1;
            break;
        case OPT_FORMAT:
            if ((v = tm__format_parse(optarg)) < 0)
                return tm__usage_error("run", "--format: unknown format '%s' (text, json)", optarg);
            ra->format = (tm_format)v;
            break;
        case OPT_WAIT:
            if ((ra->wait_children = tm__parse_seconds(optarg)) < 0)
                return tm__usage_error("run", "--wait-children: '%s' is not a number of seconds", optarg);
            break;
        case OPT_REPORT:
            ra->report = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            if ((v = tm__view_option("run", opt, optarg)) >= 0) {
                if (v)
                    return (int)v;
                break;
            }
            return tm__usage_error("run", "bad option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return tm__usage_error("run", "expected a PROGRAM to run");
    return 0;
}

int cmd_run(int argc, char **argv)
{
    const char *vars[V_END + 1][2] = {
        [V_NFRAMES] = {"TRACEMEM_NFRAMES"},
        [V_OUTPUT] = {"TRACEMEM_OUTPUT"},
        [V_AT_EXIT] = {"TRACEMEM_AT_EXIT"},
        [V_SIGNAL] = {"TRACEMEM_SIGNAL"},
        [V_INTERVAL] = {"TRACEMEM_INTERVAL"},
        [V_SAMPLE] = {"TRACEMEM_SAMPLE"},
        [V_FORK] = {"TRACEMEM_FOLLOW_FORK"},
        [V_EXEC] = {"TRACEMEM_FOLLOW_EXEC"},
        [V_END] = {NULL},
    };
    run_args ra = {.wait_children = TM_WAIT_CHILDREN_DEFAULT};
    tm_supervise_opts so = {.cmd = "run", .not_seen = "what they write from now on is not summarized"};
    tm_supervise_result sr;
    struct timespec start, now;
    int python = 0, status, rc, gz_level_set = 0;
    char *shim, *output = NULL, cwd[PATH_MAX];

    if ((rc = parse_run(argc, argv, vars, &ra, &python)))
        return rc < 0 ? TM_EXIT_OK : rc;
    if (!ra.output)
        ra.output = getenv("TRACEMEM_OUTPUT") && *getenv("TRACEMEM_OUTPUT") ? getenv("TRACEMEM_OUTPUT")
                                                                            : DEFAULT_TEMPLATE;
    /* Anchor a relative template here: the program may chdir(). */
    if (ra.output[0] != '/' && getcwd(cwd, sizeof cwd) && asprintf(&output, "%s/%s", cwd, ra.output) > 0)
        ra.output = output;
    vars[V_OUTPUT][1] = ra.output;
    if (!(shim = tm__find_shim()) || !readable(shim)) {
        tm__eprintf("tracemem: %s: cannot find the shim (set "
                    "TRACEMEM_SHIM)\n",
                    shim ? shim : SHIM_NAME);
        free(shim);
        free(output);
        return TM_EXIT_USAGE;
    }
    if (!python && !getenv("PYTHONMALLOC") && tm__is_cpython(argv[optind])) {
        python = 1;
        if (!ra.quiet)
            tm__eprintf("tracemem: %s runs on CPython: PYTHONMALLOC=malloc is set so that every Python "
                        "object is traced (set PYTHONMALLOC yourself to choose otherwise)\n",
                        argv[optind]);
    }
    setup_env(shim, vars, python);
    free(shim);
    /* the snapshots are read back, symbolized and compressed here: the
     * program writes stored gzip blocks, no deflate time (tracemem-run(1)) */
    if (!getenv("TRACEMEM_GZIP_LEVEL")) {
        setenv("TRACEMEM_GZIP_LEVEL", "0", 1);
        gz_level_set = 1;
    }
    /* the clock file timestamps are taken from */
    clock_gettime(CLOCK_REALTIME_COARSE, &start);
    clock_gettime(CLOCK_REALTIME, &now); /* what snapshot.time is taken from */
    so.wait_children = ra.wait_children;
    so.quiet = ra.quiet || ra.format == TM_FORMAT_JSON; /* JSON: not_waited_for */
    so.on_start = pre_start;
    status = tm__supervise(argv + optind, &so, &sr);
    pre_finish();
    /* nothing to clean up: a signal from now on may take its course */
    tm__supervise_done();
    unsetenv("LD_PRELOAD");
    if (gz_level_set)
        unsetenv("TRACEMEM_GZIP_LEVEL");
    if (status < 0 || sr.exec_failed) {
        tm_symcache_free(preloaded);
        free(output);
        return status < 0 ? TM_EXIT_USAGE : status;
    }
    report_out = ra.report;
    tm__summarize(ra.output, &start, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, sr.pid, argv[optind],
                  status, sr.left, ra.quiet, ra.format);
    free(output);
    return status;
}

void tm__summarize(const char *tmpl, const struct timespec *start, int64_t start_ms, pid_t pid, const char *prog,
                   int status, int left, int quiet, tm_format format)
{
    outputs out;
    glob_t g;
    jobs *js;
    FILE *err = stderr, *buf = NULL;
    char *text = NULL;
    size_t len = 0;

    attached_mode = status < 0;
    find_outputs(tmpl, start, &g);
    /* the notes about missing symbols go with the text summary only: in
     * JSON mode stderr is the summary's */
    js = process_outputs(&g, start_ms, pid, quiet, !quiet && format == TM_FORMAT_TEXT, &out);
    /* the summary is made while the files are written back, and printed
     * after the lines about files that could not be (glibc's stderr is a
     * variable: everything below prints to it) */
    if (!quiet && (buf = open_memstream(&text, &len)))
        stderr = buf;
    if (!quiet && format == TM_FORMAT_JSON) {
        print_summary_json(prog, status, &out, &g, left);
    } else if (!quiet) {
        print_summary(prog, status, out.main);
        print_processes(&out);
        print_paths(&g);
    }
    stderr = err;
    write_wait(js);
    if (buf && fclose(buf) == 0) {
        fwrite(text, 1, len, stderr);
        fflush(stderr);
    }
    free(text);
    if (report_out) /* after the summary, whose snapshots it reads again */
        tm__run_report(report_out, g.gl_pathv, g.gl_pathc, quiet || format == TM_FORMAT_JSON);
    /* the command exits next (run, attach): the snapshots' memory goes
     * back with the process, at once (freeing python3's 117 MB snapshot
     * took 40 ms); the threads are waited for */
    write_wait(js);
    globfree(&g);
}

/* --- running a program under the shim for other commands (check) --- */

int tm__run_under_shim(char **argv, const char *const vars[][2], const tm_supervise_opts *o,
                       tm_supervise_result *r)
{
    char *shim = tm__find_shim();
    int status;

    if (!shim || !readable(shim)) {
        tm__eprintf("tracemem: %s: cannot find the shim (set "
                    "TRACEMEM_SHIM)\n",
                    shim ? shim : SHIM_NAME);
        free(shim);
        return -1;
    }
    setup_env(shim, vars, 0);
    free(shim);
    status = tm__supervise(argv, o, r);
    unsetenv("LD_PRELOAD");
    return status;
}
