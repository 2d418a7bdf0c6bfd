/* hints.c - one line per module that lacks symbols (see hints.h). */
#include "config.h"

#include "report/hints.h"
#include "report/quote.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs dpkg-query -S on the 'n' paths 'paths' ('n' >= 1) with its
 * standard output on a pipe (and its errors on /dev/null): a new process
 * (posix_spawn(), which does not copy the page tables of a large process
 * as fork() does), '*fd' the pipe's reading end. 0, or -1 (no dpkg). */
static int spawn_query(const char *const *paths, size_t n, pid_t *pid, int *fd)
{
    posix_spawn_file_actions_t fa;
    char **argv;
    int p[2], rc = -1;

    if (access("/usr/bin/dpkg-query", X_OK) || !(argv = calloc(n + 4, sizeof *argv)))
        return -1;
    argv[0] = "dpkg-query";
    argv[1] = "-S";
    argv[2] = "--";
    for (size_t i = 0; i < n; i++)
        argv[3 + i] = (char *)paths[i];
    if (pipe2(p, O_CLOEXEC))
        goto out_argv;
    if (posix_spawn_file_actions_init(&fa))
        goto out_pipe;
    if (!posix_spawn_file_actions_adddup2(&fa, p[1], 1) &&
        !posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) &&
        posix_spawn(pid, "/usr/bin/dpkg-query", &fa, NULL, argv, environ) == 0) {
        *fd = p[0];
        p[0] = -1;
        rc = 0;
    }
    posix_spawn_file_actions_destroy(&fa);
out_pipe:
    if (p[0] >= 0)
        close(p[0]);
    close(p[1]);
out_argv:
    free(argv);
    return rc;
}

/* The Debian package owning 'path' into 'pkg' (architecture qualifier
 * dropped), from dpkg-query -S; 0, or -1 when there is none or no dpkg. */
static int owning_package(const char *path, char *pkg, size_t len)
{
    int fd, status;
    ssize_t n = 0, r;
    pid_t pid;

    if (spawn_query(&path, 1, &pid, &fd))
        return -1;
    while (n < (ssize_t)len - 1 && (r = read(fd, pkg + n, len - 1 - (size_t)n)) > 0)
        n += r;
    close(fd);
    waitpid(pid, &status, 0);
    pkg[n] = '\0';
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n == 0)
        return -1;
    /* "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" */
    pkg[strcspn(pkg, ":, \n")] = '\0';
    return *pkg ? 0 : -1;
}

/* --- many paths asked at once --- */

/* dpkg-query reads its whole database (thousands of file lists) for
 * every call: asking for the modules of a run one by one took longer
 * than the rest of the summary (25 notes for python3, 0.8 s). Paths are
 * asked in batches; a path with characters that dpkg-query takes for a
 * pattern, or that its output could not be told apart by, is left to
 * owning_package(). */
#define BATCH 256

static int batchable(const char *path)
{
    return path[0] == '/' && !strpbrk(path, "*?[\\\n") && !strstr(path, ": ") && !strstr(path, ", ");
}

/* The cached answer for 'path': 1 with '*pkg' (NULL: no package), or 0
 * when it was not asked. */
static int cached(const tm_hint_memo *memo, const char *path, const char **pkg)
{
    for (size_t i = 0; memo && i < memo->nasked; i++)
        if (strcmp(memo->asked[i], path) == 0) {
            *pkg = memo->owner[i];
            return 1;
        }
    return 0;
}

/* Adds 'path' to the paths to ask (not yet asked nor added). */
static void want(tm_hint_memo *memo, const char *path)
{
    const char *pkg;
    char **a, **o;

    if (!batchable(path) || cached(memo, path, &pkg))
        return;
    if (!(a = realloc(memo->asked, (memo->nasked + 1) * sizeof *a)))
        return;
    memo->asked = a;
    if (!(o = realloc(memo->owner, (memo->nasked + 1) * sizeof *o)))
        return;
    memo->owner = o;
    if (!(a[memo->nasked] = strdup(path)))
        return;
    o[memo->nasked++] = NULL;
}

/* One line of dpkg-query -S, "pkg1, pkg2: /path" (or "diversion by pkg
 * from: /path"): the first line for each path of [from, to) answers it,
 * as the first line of its own query would. */
static void answer(tm_hint_memo *memo, size_t from, size_t to, char *line)
{
    char *path = strstr(line, ": /");

    if (!path)
        return;
    path += 2;
    for (size_t i = from; i < to; i++)
        if (!memo->owner[i] && strcmp(memo->asked[i], path) == 0) {
            line[strcspn(line, ":, \n")] = '\0';
            if (*line)
                memo->owner[i] = strdup(line);
            return;
        }
}

/* Asks dpkg-query about the paths [from, to) of 'memo' (the owners are
 * NULL). */
static void ask(tm_hint_memo *memo, size_t from, size_t to)
{
    char buf[8192], *nl;
    size_t have = 0;
    ssize_t r;
    pid_t pid;
    int fd, status;

    if (spawn_query((const char *const *)memo->asked + from, to - from, &pid, &fd))
        return;
    while ((r = read(fd, buf + have, sizeof buf - 1 - have)) > 0 || (r < 0 && errno == EINTR)) {
        if (r < 0)
            continue;
        have += (size_t)r;
        buf[have] = '\0';
        char *p = buf;
        while ((nl = strchr(p, '\n'))) {
            *nl = '\0';
            answer(memo, from, to, p);
            p = nl + 1;
        }
        have -= (size_t)(p - buf);
        memmove(buf, p, have);
        if (have == sizeof buf - 1)
            have = 0; /* a line longer than any path: not an answer */
    }
    close(fd);
    waitpid(pid, &status, 0);
}

/* The package owning 'path' as owning_package() says, but from the
 * answers asked for already when there are. */
static int owner(const tm_hint_memo *memo, const char *path, char *pkg, size_t len)
{
    const char *c;

    if (!cached(memo, path, &c))
        return owning_package(path, pkg, len);
    if (!c || strlen(c) >= len)
        return -1;
    strcpy(pkg, c);
    return 0;
}

/* The paths asked of dpkg for module 'path': itself and, under merged
 * /usr, the name dpkg may know it by. */
static int usr_merged(const char *path)
{
    return strncmp(path, "/usr/lib", 8) == 0 || strncmp(path, "/usr/bin/", 9) == 0 ||
           strncmp(path, "/usr/sbin/", 10) == 0;
}

static void hint(const tm_module *m, size_t unnamed, size_t total, FILE *fp, const tm_hint_memo *memo)
{
    const char *urls = getenv("DEBUGINFOD_URLS");
    char pkg[256];

    fprintf(fp, "tracemem: note: %zu of %zu frames in ", unnamed, total);
    tm_fputs_quoted(m->path, fp);
    fputs(" have no function name (\"??\"): ", fp);
    if (urls && *urls)
        fputs("neither the file, /usr/lib/debug nor DEBUGINFOD_URLS had its symbols; ", fp);
    else
        fputs("it has no symbols and no debug file was found; ", fp);
    /* merged /usr: dpkg knows many files as /lib/... or /bin/..., the
     * loader and $PATH say /usr/lib/... and /usr/bin/... */
    if (owner(memo, m->path, pkg, sizeof pkg) == 0 ||
        (usr_merged(m->path) && owner(memo, m->path + 4, pkg, sizeof pkg) == 0)) {
        fputs("install ", fp);
        tm_fputs_quoted(pkg, fp);
        fputs("-dbgsym (Debian's debug archive)", fp);
    } else {
        fputs("rebuild it with -g, or install its debug symbols", fp);
    }
    if (!urls || !*urls)
        fputs(", or set DEBUGINFOD_URLS (e.g. https://debuginfod.debian.net) and symbolize again", fp);
    if (m->build_id && *m->build_id) {
        fputs(" (build ID ", fp);
        tm_fputs_quoted(m->build_id, fp);
        fputc(')', fp);
    }
    fputc('\n', fp);
}

void tm_hint_memo_free(tm_hint_memo *memo)
{
    for (size_t i = 0; i < memo->n; i++)
        free(memo->paths[i]);
    free(memo->paths);
    for (size_t i = 0; i < memo->nasked; i++) {
        free(memo->asked[i]);
        free(memo->owner[i]);
    }
    free(memo->asked);
    free(memo->owner);
    memset(memo, 0, sizeof *memo);
}

static int was_seen(const tm_hint_memo *memo, const char *path)
{
    for (size_t i = 0; memo && i < memo->n; i++)
        if (strcmp(memo->paths[i], path) == 0)
            return 1;
    return 0;
}

/* 1 when 'path' was hinted at already; else remembers it (when it can). */
static int seen(tm_hint_memo *memo, const char *path)
{
    char **v;

    if (!memo)
        return 0;
    if (was_seen(memo, path))
        return 1;
    if ((v = realloc(memo->paths, (memo->n + 1) * sizeof *v)) && (v[memo->n] = strdup(path)))
        memo->n++;
    if (v)
        memo->paths = v;
    return 0;
}

/* Counts the frames of each module of 'snap' into 'total' and 'unnamed'
 * (calloc'ed, freed by the caller); 0, or -1 (out of memory). */
static int count_frames(const tm_snapshot *snap, size_t **total, size_t **unnamed)
{
    *total = calloc(snap->nmodules, sizeof **total);
    *unnamed = calloc(snap->nmodules, sizeof **unnamed);
    if (!*total || !*unnamed)
        return -1;
    for (size_t i = 0; i < snap->nframes; i++) {
        const tm_frame *f = &snap->frames[i];

        if (f->module < 0 || (size_t)f->module >= snap->nmodules)
            continue;
        (*total)[f->module]++;
        (*unnamed)[f->module] += !f->loc.function;
    }
    return 0;
}

/* 1 when module 'm' of 'snap' gets a note (unless said already) */
static int wants_hint(const tm_snapshot *snap, size_t m, const size_t *total, const size_t *unnamed)
{
    /* few frames, mostly named, or [vdso]: none */
    return total[m] >= TM_HINT_MIN_FRAMES && 2 * unnamed[m] > total[m] && snap->modules[m].path[0] == '/';
}

void tm_symbol_hints_prepare(tm_hint_memo *memo, tm_snapshot *const *snaps, size_t n)
{
    size_t from = memo->nasked, *total = NULL, *unnamed = NULL;

    for (size_t k = 0; k < n; k++) {
        const tm_snapshot *snap = snaps[k];

        if (!snap || !snap->nmodules)
            continue;
        if (!count_frames(snap, &total, &unnamed))
            for (size_t m = 0; m < snap->nmodules; m++) {
                const char *path = snap->modules[m].path;

                if (!wants_hint(snap, m, total, unnamed) || was_seen(memo, path))
                    continue;
                want(memo, path);
                if (usr_merged(path))
                    want(memo, path + 4);
            }
        free(total);
        free(unnamed);
        total = unnamed = NULL;
    }
    for (size_t i = from; i < memo->nasked; i += BATCH)
        ask(memo, i, memo->nasked - i < BATCH ? memo->nasked : i + BATCH);
}

int tm_symbol_hints(const tm_snapshot *snap, FILE *fp, tm_hint_memo *memo)
{
    size_t *total = NULL, *unnamed = NULL;
    tm_hint_memo own = {0};
    int lines = 0;

    if (!fp || !snap->nmodules)
        return 0;
    if (count_frames(snap, &total, &unnamed))
        goto out;
    if (!memo)
        memo = &own; /* the batch of this snapshot's modules */
    tm_symbol_hints_prepare(memo, (tm_snapshot *const *)&snap, 1);
    for (size_t m = 0; m < snap->nmodules; m++) {
        const tm_module *mod = &snap->modules[m];

        if (!wants_hint(snap, m, total, unnamed) || seen(memo == &own ? NULL : memo, mod->path))
            continue;
        hint(mod, unnamed[m], total[m], fp, memo);
        lines++;
    }
out:
    tm_hint_memo_free(&own);
    free(total);
    free(unnamed);
    return lines;
}
