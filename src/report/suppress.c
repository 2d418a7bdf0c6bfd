/* suppress.c - parsing and matching leak suppressions (see suppress.h).
 *
 * The parser is a small line machine. Outside a block a line is a
 * comment, "leak:PATTERN" or "{"; inside a Valgrind block the lines are,
 * in order, the name, TOOL:KIND, an optional match-leak-kinds line, frame
 * lines and "}". A malformed file is rejected as a whole with the first
 * offending line: a CI gate must not run with half of its suppressions.
 *
 * Valgrind matching is the sequence match of Valgrind's m_seqmatch.c done
 * as a table: ok[i][j] says whether frame lines i.. match logical frames
 * j.. of the stack, where logical frame 0 stands for the allocation
 * function Valgrind shows and tracemem does not record.
 */
#include "config.h"

#include "report/suppress.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/infile.h"
#include "report/stats.h"

/* --- pattern matching --- */

int tm_lsan_match(const char *templ, const char *str)
{
    int start = 0, asterisk = 0;

    if (!str || !*str)
        return 0;
    if (*templ == '^') {
        start = 1;
        templ++;
    }
    while (*templ) {
        const char *spos;
        size_t n;

        if (*templ == '*') {
            templ++;
            start = 0;
            asterisk = 1;
            continue;
        }
        if (*templ == '$')
            return *str == '\0' || asterisk;
        if (!*str)
            return 0;
        n = strcspn(templ, "*$");
        spos = memmem(str, strlen(str), templ, n);
        if (!spos || (start && spos != str))
            return 0;
        str = spos + n;
        templ += n;
        start = asterisk = 0;
    }
    return 1;
}

/* The classic greedy matcher: on a mismatch only the last '*' is
 * retried one character further, which gives the same answers as
 * Valgrind's recursive matcher in O(len(pat) * len(str)) rather than
 * exponential time. */
int tm_glob_match(const char *pat, const char *str)
{
    const char *star = NULL, *resume = NULL;

    while (*str) {
        const char *next = pat + 1;
        int ok;

        if (*pat == '*') {
            while (*pat == '*')
                pat++;
            star = pat;
            resume = str;
            continue;
        }
        if (*pat == '\\') {
            ok = pat[1] && pat[1] == *str;
            next = pat + 2;
        } else {
            ok = *pat && (*pat == '?' || *pat == *str);
        }
        if (ok) {
            pat = next;
            str++;
        } else if (star) {
            pat = star;
            str = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* What Valgrind's replacement allocators are called in its stacks. */
static const char *const alloc_functions[] = {
    "malloc", "calloc", "realloc", "reallocarray", "memalign",
    "posix_memalign", "aligned_alloc", "valloc", "pvalloc",
    "_Znwm", "_Znam", "_Znwj", "_Znaj",
    "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
    "_ZnwjRKSt9nothrow_t", "_ZnajRKSt9nothrow_t",
    "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t",
    "_ZnamSt11align_val_tRKSt9nothrow_t",
    "operator new(unsigned long)", "operator new[](unsigned long)",
    NULL,
};

int tm_is_alloc_function(const char *name)
{
    for (int i = 0; alloc_functions[i]; i++)
        if (strcmp(name, alloc_functions[i]) == 0)
            return 1;
    return 0;
}

static int glob_matches_alloc(const char *pat)
{
    for (int i = 0; alloc_functions[i]; i++)
        if (tm_glob_match(pat, alloc_functions[i]))
            return 1;
    return 0;
}

/* --- matching a stack --- */

/* 1 when LSan suppression 's' names frame 'f': its module, or a
 * function or file of its inline chain. */
static int lsan_frame_matches(const tm_suppression *s, const tm_snapshot *snap, const tm_frame *f)
{
    const tm_module *m = tm_snapshot_frame_module(snap, f);

    if (tm_lsan_match(s->pattern, m ? m->path : "<unknown module>"))
        return 1;
    for (int l = -1; l < (int)f->ninlined; l++) {
        const tm_location *loc = tm_frame_loc(f, l);

        if (tm_lsan_match(s->pattern, loc->function) || tm_lsan_match(s->pattern, loc->file))
            return 1;
    }
    return 0;
}

/* 'row' (may be NULL): what lsan_frame_matches() said of each frame of
 * 'snap' so far, 0 not asked, 1 no, 2 yes (stacks share most frames) */
static int lsan_matches(const tm_suppression *s, const tm_snapshot *snap, const tm_stack *stack,
                        unsigned char *row)
{
    for (size_t i = 0; i < stack->nframes; i++) {
        uint32_t k = stack->frames[i];

        if (!row || k >= snap->nframes) {
            if (lsan_frame_matches(s, snap, tm_stack_frame(snap, stack, i)))
                return 1;
            continue;
        }
        if (!row[k])
            row[k] = lsan_frame_matches(s, snap, tm_stack_frame(snap, stack, i)) ? 2 : 1;
        if (row[k] == 2)
            return 1;
    }
    return 0;
}

typedef struct lframe {
    const tm_frame *f;      /* NULL: the allocation function */
    int loc;
} lframe;

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static int frame_eq(const tm_supp_frame *p, const tm_snapshot *snap,
                    const lframe *x)
{
    const tm_location *l;
    const tm_module *m;

    if (!x->f)
        return p->type == TM_SUPP_FUN && glob_matches_alloc(p->pattern);
    l = tm_frame_loc(x->f, x->loc);
    m = tm_snapshot_frame_module(snap, x->f);
    switch (p->type) {
    case TM_SUPP_FUN:
        return tm_glob_match(p->pattern, l->function ? l->function : "???") ||
               (p->demangled && l->function &&
                strcmp(p->demangled, l->function) == 0) ||
               (p->unclone && l->function &&
                tm_glob_match(p->unclone, l->function));
    case TM_SUPP_OBJ:
        return tm_glob_match(p->pattern, m ? m->path : "???");
    case TM_SUPP_SRC:
        return l->file && (p->line == 0 || p->line == l->line) &&
               (tm_glob_match(p->pattern, l->file) ||
                tm_glob_match(p->pattern, base_name(l->file)));
    case TM_SUPP_DOTS:
        break;
    }
    return 0;
}

/* The logical frames of 'stack' after the allocation function; returns
 * their number + 1, or 0 on ENOMEM. */
static size_t logical_frames(const tm_snapshot *snap, const tm_stack *stack,
                             lframe **out)
{
    size_t n = 1, k = 1;
    lframe *v;

    for (size_t i = 0; i < stack->nframes; i++)
        n += tm_frame_nlocs(tm_stack_frame(snap, stack, i));
    if (!(v = calloc(n, sizeof *v)))
        return 0;
    for (size_t i = 0; i < stack->nframes; i++) {
        const tm_frame *f = tm_stack_frame(snap, stack, i);

        for (int l = -1; l < (int)f->ninlined; l++)
            v[k++] = (lframe){ f, l };
    }
    *out = v;
    return n;
}

static int valgrind_matches(const tm_suppression *s, const tm_snapshot *snap,
                            const tm_stack *stack)
{
    size_t np = s->nframes, nx, w;
    unsigned char *ok;
    lframe *x = NULL;
    int rc = 0;

    if (!(nx = logical_frames(snap, stack, &x)))
        return 0;
    w = nx + 1;
    if (!(ok = calloc((np + 1) * w, 1)))
        goto out_frames;
    for (size_t j = 0; j <= nx; j++)
        ok[np * w + j] = 1;     /* frame lines used up: a match */
    for (size_t i = np; i-- > 0;) {
        const tm_supp_frame *p = &s->frames[i];

        for (size_t j = nx + 1; j-- > 0;) {
            if (p->type == TM_SUPP_DOTS)
                ok[i * w + j] = ok[(i + 1) * w + j] ||
                                (j < nx && ok[i * w + j + 1]);
            else
                ok[i * w + j] = j < nx && ok[(i + 1) * w + j + 1] &&
                                frame_eq(p, snap, &x[j]);
        }
    }
    rc = ok[0] || ok[1];
    free(ok);
out_frames:
    free(x);
    return rc;
}

int tm_suppression_matches(const tm_suppression *s, const tm_snapshot *snap,
                           const tm_stack *stack, tm_leak_kind kind)
{
    if (!(s->kinds & (1u << kind)))
        return 0;
    if (s->format == TM_SUPP_LSAN)
        return lsan_matches(s, snap, stack, NULL);
    return valgrind_matches(s, snap, stack);
}

long tm_suppressions_match(const tm_suppressions *supp,
                           const tm_snapshot *snap, const tm_stack *stack,
                           tm_leak_kind kind)
{
    return tm_suppressions_match_memo(supp, snap, stack, kind, NULL);
}

struct tm_supp_memo {
    const tm_snapshot *snap;
    size_t nsupp;
    unsigned char *v; /* nsupp rows of snap->nframes */
};

tm_supp_memo *tm_supp_memo_new(const tm_suppressions *supp, const tm_snapshot *snap)
{
    tm_supp_memo *m = calloc(1, sizeof *m);

    if (!m || !supp || !supp->n || !snap->nframes ||
        !(m->v = calloc(supp->n, snap->nframes))) {
        free(m);
        return NULL;
    }
    m->snap = snap;
    m->nsupp = supp->n;
    return m;
}

void tm_supp_memo_free(tm_supp_memo *m)
{
    if (m)
        free(m->v);
    free(m);
}

long tm_suppressions_match_memo(const tm_suppressions *supp, const tm_snapshot *snap, const tm_stack *stack,
                                tm_leak_kind kind, tm_supp_memo *memo)
{
    if (memo && (memo->snap != snap || memo->nsupp != (supp ? supp->n : 0)))
        memo = NULL;
    for (size_t i = 0; supp && i < supp->n; i++) {
        const tm_suppression *s = &supp->v[i];

        if (!(s->kinds & (1u << kind)))
            continue;
        if (s->format == TM_SUPP_LSAN ? lsan_matches(s, snap, stack, memo ? memo->v + i * snap->nframes : NULL)
                                      : valgrind_matches(s, snap, stack))
            return (long)i;
    }
    return -1;
}

/* --- parsing --- */

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

/* 'name' demangled with libstdc++'s __cxa_demangle (loaded on first use,
 * so that tracemem needs no C++ runtime); NULL when that is impossible. */
static char *demangle(const char *name)
{
    static demangle_fn fn;
    static int tried;
    int status;
    char *r;

    if (!tried) {
        void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);

        tried = 1;
        if (h)
            fn = (demangle_fn)(uintptr_t)dlsym(h, "__cxa_demangle");
    }
    if (!fn || !(r = fn(name, NULL, NULL, &status)) || status != 0)
        return NULL;
    return r;
}

typedef struct parser {
    const char *name;
    int lineno;
    tm_suppressions out;    /* what this file adds */
    tm_error *err;
} parser;

#define PERR(p, ...) parse_error((p), __VA_ARGS__)

__attribute__((format(printf, 2, 3)))
static int parse_error(parser *p, const char *fmt, ...)
{
    char what[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return tm__error_set(p->err, -EINVAL, "%s:%d: %s", p->name, p->lineno,
                         what);
}

static void suppression_free(tm_suppression *s)
{
    for (size_t i = 0; i < s->nframes; i++) {
        free(s->frames[i].pattern);
        free(s->frames[i].demangled);
        free(s->frames[i].unclone);
    }
    free(s->frames);
    free(s->name);
    free(s->file);
    free(s->pattern);
    memset(s, 0, sizeof *s);
}

void tm_suppressions_free(tm_suppressions *supp)
{
    for (size_t i = 0; i < supp->n; i++)
        suppression_free(&supp->v[i]);
    free(supp->v);
    supp->v = NULL;
    supp->n = 0;
}

/* A new zeroed suppression at the end of p->out, or NULL. */
static tm_suppression *new_suppression(parser *p, tm_supp_format format,
                                       const char *name)
{
    tm_suppression *v = realloc(p->out.v, (p->out.n + 1) * sizeof *v), *s;

    if (!v)
        return NULL;
    p->out.v = v;
    s = memset(&v[p->out.n], 0, sizeof *s);
    s->format = format;
    s->line = p->lineno;
    s->kinds = TM_LEAK_KINDS_ALL;
    if (!(s->name = strdup(name)) || !(s->file = strdup(p->name))) {
        suppression_free(s);
        return NULL;
    }
    p->out.n++;
    return s;
}

/* Trims 'line' in place; returns its start. */
static char *trim(char *line)
{
    char *end;

    while (isspace((unsigned char)*line))
        line++;
    end = line + strlen(line);
    while (end > line && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return line;
}

static int parse_lsan(parser *p, char *line)
{
    char *colon = strchr(line, ':'), *pat;
    tm_suppression *s;

    if (!colon)
        return PERR(p, "expected '{' or leak:PATTERN, got '%s'", line);
    *colon = '\0';
    pat = trim(colon + 1);
    if (strcmp(trim(line), "leak") != 0)
        return PERR(p, "unknown suppression type '%s' (LeakSanitizer "
                    "suppressions are leak:PATTERN)", trim(line));
    if (!*pat)
        return PERR(p, "empty pattern in leak: (it would suppress every "
                    "leak)");
    if (!(s = new_suppression(p, TM_SUPP_LSAN, "leak:")))
        return -ENOMEM;
    free(s->name);
    s->name = NULL;
    if (asprintf(&s->name, "leak:%s", pat) < 0 || !(s->pattern = strdup(pat)))
        return -ENOMEM;
    return 0;
}

/* "Memcheck:Leak", also "Memcheck,Addrcheck:Leak": 1 when it names leaks
 * for Memcheck, 0 for other kinds, -EINVAL when it is not TOOL:KIND. */
static int leak_kind_line(parser *p, const char *line)
{
    const char *colon = strchr(line, ':');
    int memcheck = 0;

    if (!colon || colon == line || !colon[1])
        return PERR(p, "expected TOOL:KIND (for leaks Memcheck:Leak), got "
                    "'%s'", line);
    for (const char *t = line; t < colon;) {
        size_t n = strcspn(t, ",:");

        memcheck |= n == 8 && strncmp(t, "Memcheck", 8) == 0;
        t += n + 1;     /* past the ',' or the ':' */
    }
    return memcheck && strcmp(colon + 1, "Leak") == 0;
}

static int parse_kinds(parser *p, tm_suppression *s, char *list)
{
    unsigned kinds = 0;

    list = trim(list);
    if (strcmp(list, "all") == 0) {
        s->kinds = TM_LEAK_KINDS_ALL;
        return 0;
    }
    if (strcmp(list, "none") == 0) {
        s->kinds = 0;
        return 0;
    }
    for (char *save = NULL, *k = strtok_r(list, ",", &save); k;
         k = strtok_r(NULL, ",", &save)) {
        int kind = tm_leak_kind_parse(trim(k));

        if (kind < 0)
            return PERR(p, "unknown leak kind '%s' in match-leak-kinds "
                        "(definite, indirect, possible, reachable, all, "
                        "none)", trim(k));
        kinds |= 1u << kind;
    }
    if (!kinds)
        return PERR(p, "match-leak-kinds: expected a list of leak kinds");
    s->kinds = kinds;
    return 0;
}

/* 'name' without the suffix GCC gives the clones it makes of a function
 * ("f.constprop.0", "f.isra.0", "f.part.1", "f.cold"), or NULL when it
 * has none. */
static char *unclone(const char *name)
{
    static const char *const suffixes[] = { ".constprop.", ".isra.",
                                            ".part.", ".cold", ".lto_priv.",
                                            ".localalias", NULL };
    const char *cut = NULL;

    for (int i = 0; suffixes[i]; i++) {
        const char *at = strstr(name, suffixes[i]);

        if (at && at > name && (!cut || at < cut))
            cut = at;
    }
    return cut ? strndup(name, (size_t)(cut - name)) : NULL;
}

static int add_frame(parser *p, tm_suppression *s, char *line)
{
    tm_supp_frame f = { TM_SUPP_DOTS, NULL, 0, NULL, NULL };
    tm_supp_frame *v;
    char *pat = line + 4;

    if (strcmp(line, "...") == 0)
        ;
    else if (strncmp(line, "fun:", 4) == 0)
        f.type = TM_SUPP_FUN;
    else if (strncmp(line, "obj:", 4) == 0)
        f.type = TM_SUPP_OBJ;
    else if (strncmp(line, "src:", 4) == 0)
        f.type = TM_SUPP_SRC;
    else
        return PERR(p, "expected fun:, obj:, src:, '...' or '}', got '%s'",
                    line);
    if (s->nframes == TM_SUPP_MAX_FRAMES)
        return PERR(p, "more than %d frame lines in suppression '%s'",
                    TM_SUPP_MAX_FRAMES, s->name);
    if (f.type != TM_SUPP_DOTS) {
        char *colon = strrchr(pat, ':'), *end;

        if (f.type == TM_SUPP_SRC && colon && colon[1]) {
            long n = strtol(colon + 1, &end, 10);

            if (!*end && n > 0) {
                f.line = n;
                *colon = '\0';
            }
        }
        if (!*(pat = trim(pat)))
            return PERR(p, "empty pattern in '%.4s' line", line);
        if (!(f.pattern = strdup(pat)))
            return -ENOMEM;
        if (f.type == TM_SUPP_FUN && strncmp(pat, "_Z", 2) == 0 &&
            !strpbrk(pat, "*?\\"))
            f.demangled = demangle(pat);
        if (f.type == TM_SUPP_FUN)
            f.unclone = unclone(pat);
    }
    if (!(v = realloc(s->frames, (s->nframes + 1) * sizeof *v))) {
        free(f.pattern);
        free(f.demangled);
        free(f.unclone);
        return -ENOMEM;
    }
    s->frames = v;
    v[s->nframes++] = f;
    return 0;
}

enum state { OUTSIDE, NAME, KIND, FIRST, FRAMES, IGNORED };

/* Handles one non-empty, non-comment line in state '*st'. 'start' is the
 * line of the block's "{". */
static int parse_line(parser *p, enum state *st, char *line, int *start)
{
    tm_suppression *s = p->out.n ? &p->out.v[p->out.n - 1] : NULL;
    int rc;

    switch (*st) {
    case OUTSIDE:
        if (strcmp(line, "{") != 0)
            return parse_lsan(p, line);
        *start = p->lineno;
        *st = NAME;
        return 0;
    case NAME:
        if (strcmp(line, "{") == 0 || strcmp(line, "}") == 0)
            return PERR(p, "expected the suppression's name, got '%s'", line);
        if (!(s = new_suppression(p, TM_SUPP_VALGRIND, line)))
            return -ENOMEM;
        s->line = *start;
        *st = KIND;
        return 0;
    case KIND:
        if ((rc = leak_kind_line(p, line)) < 0)
            return rc;
        if (rc == 0) {      /* not a leak suppression: skipped */
            suppression_free(s);
            p->out.n--;
        }
        *st = rc ? FIRST : IGNORED;
        return 0;
    case FIRST:
        *st = FRAMES;
        if (strncmp(line, "match-leak-kinds:", 17) == 0)
            return parse_kinds(p, s, line + 17);
        /* fall through */
    case FRAMES:
        if (strcmp(line, "}") != 0)
            return add_frame(p, s, line);
        if (s->nframes == 0)
            return PERR(p, "suppression '%s' has no frame lines", s->name);
        *st = OUTSIDE;
        return 0;
    case IGNORED:
        if (strcmp(line, "}") == 0)
            *st = OUTSIDE;
        return 0;
    }
    return 0;
}

static int append(tm_suppressions *to, tm_suppressions *from)
{
    tm_suppression *v;

    if (!from->n)
        return 0;
    if (!(v = realloc(to->v, (to->n + from->n) * sizeof *v)))
        return -ENOMEM;
    memcpy(v + to->n, from->v, from->n * sizeof *v);
    to->v = v;
    to->n += from->n;
    free(from->v);
    from->v = NULL;
    from->n = 0;
    return 0;
}

int tm_suppressions_parse(tm_suppressions *supp, const char *name,
                          const char *text, int *line, tm_error *err)
{
    parser p = { name, 0, { 0, NULL }, err };
    enum state st = OUTSIDE;
    char *copy = strdup(text), *save = NULL, *l;
    int rc = 0, start = 0;

    if (!copy)
        return tm__error_set(err, -ENOMEM, "out of memory");
    /* strtok_r would skip empty lines and lose the count */
    for (l = copy; l && rc == 0; l = save) {
        if ((save = strchr(l, '\n')))
            *save++ = '\0';
        p.lineno++;
        l = trim(l);
        if (*l && *l != '#')
            rc = parse_line(&p, &st, l, &start);
    }
    if (rc == 0 && st != OUTSIDE) {
        p.lineno = start;
        rc = PERR(&p, "suppression is not closed with '}'");
    }
    if (rc == -ENOMEM)
        tm__error_set(err, rc, "out of memory");
    if (rc == 0)
        rc = append(supp, &p.out);
    if (line)
        *line = rc ? p.lineno : 0;
    tm_suppressions_free(&p.out);
    free(copy);
    return rc;
}

int tm_suppressions_load(tm_suppressions *supp, const char *path,
                         tm_error *err)
{
    tm_error e = { "" };
    char *text;
    size_t len;
    int rc;

    if ((rc = tm_infile_read(path, 0, TM_SUPPRESSIONS_MAX_BYTES, &text, &len,
                             &e)))
        return tm__error_set(err, rc, "%s: %s", path, e.what);
    for (size_t i = 0; i < len; i++) /* a NUL ends a line, as it always did */
        if (text[i] == '\0')
            text[i] = '\n';
    rc = tm_suppressions_parse(supp, path, text, NULL, err);
    free(text);
    return rc;
}
