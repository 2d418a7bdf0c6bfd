/* hints.c - one line per module that lacks symbols (see hints.h). */
#include "config.h"

#include "report/hints.h"
#include "report/quote.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The Debian package owning 'path' into 'pkg' (architecture qualifier
 * dropped), from dpkg-query -S; 0, or -1 when there is none or no dpkg. */
static int owning_package(const char *path, char *pkg, size_t len)
{
    int fd[2], status;
    ssize_t n = 0, r;
    pid_t pid;

    if (access("/usr/bin/dpkg-query", X_OK) || pipe(fd))
        return -1;
    if ((pid = fork()) < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        int null = open("/dev/null", 1);
        if (null >= 0)
            dup2(null, 2);
        execl("/usr/bin/dpkg-query", "dpkg-query", "-S", "--", path, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    while (n < (ssize_t)len - 1 && (r = read(fd[0], pkg + n, len - 1 - (size_t)n)) > 0)
        n += r;
    close(fd[0]);
    waitpid(pid, &status, 0);
    pkg[n] = '\0';
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n == 0)
        return -1;
    /* "libfoo1:amd64: /usr/lib/x86_64-linux-gnu/libfoo.so.1" */
    pkg[strcspn(pkg, ":, \n")] = '\0';
    return *pkg ? 0 : -1;
}

static void hint(const tm_module *m, size_t unnamed, size_t total, FILE *fp)
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
    if (owning_package(m->path, pkg, sizeof pkg) == 0 ||
        ((strncmp(m->path, "/usr/lib", 8) == 0 || strncmp(m->path, "/usr/bin/", 9) == 0 ||
          strncmp(m->path, "/usr/sbin/", 10) == 0) &&
         owning_package(m->path + 4, pkg, sizeof pkg) == 0)) {
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
    memo->paths = NULL;
    memo->n = 0;
}

/* 1 when 'path' was hinted at already; else remembers it (when it can). */
static int seen(tm_hint_memo *memo, const char *path)
{
    char **v;

    if (!memo)
        return 0;
    for (size_t i = 0; i < memo->n; i++)
        if (strcmp(memo->paths[i], path) == 0)
            return 1;
    if ((v = realloc(memo->paths, (memo->n + 1) * sizeof *v)) && (v[memo->n] = strdup(path)))
        memo->n++;
    if (v)
        memo->paths = v;
    return 0;
}

int tm_symbol_hints(const tm_snapshot *snap, FILE *fp, tm_hint_memo *memo)
{
    size_t *total, *unnamed;
    int lines = 0;

    if (!fp || !snap->nmodules)
        return 0;
    total = calloc(snap->nmodules, sizeof *total);
    unnamed = calloc(snap->nmodules, sizeof *unnamed);
    if (!total || !unnamed)
        goto out;
    for (size_t i = 0; i < snap->nframes; i++) {
        const tm_frame *f = &snap->frames[i];

        if (f->module < 0 || (size_t)f->module >= snap->nmodules)
            continue;
        total[f->module]++;
        unnamed[f->module] += !f->loc.function;
    }
    for (size_t m = 0; m < snap->nmodules; m++) {
        const tm_module *mod = &snap->modules[m];

        if (total[m] < TM_HINT_MIN_FRAMES || 2 * unnamed[m] <= total[m] || mod->path[0] != '/')
            continue; /* few frames, mostly named, or [vdso] */
        if (seen(memo, mod->path))
            continue;
        hint(mod, unnamed[m], total[m], fp);
        lines++;
    }
out:
    free(total);
    free(unnamed);
    return lines;
}
