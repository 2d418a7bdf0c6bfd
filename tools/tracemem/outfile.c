/* outfile.c - atomic output files for flamegraph and export (outfile.h). */
#include "config.h"

#include "outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tm__outfile_open(tm_outfile *out, const char *path)
{
    int fd;

    memset(out, 0, sizeof *out);
    out->path = path;
    if (strcmp(path, "-") == 0) {
        out->fp = stdout;
        return 0;
    }
    if (asprintf(&out->tmp, "%s.tmp.XXXXXX", path) < 0) {
        out->tmp = NULL;
        fprintf(stderr, "tracemem: %s: out of memory\n", path);
        return -1;
    }
    if ((fd = mkstemp(out->tmp)) < 0 || !(out->fp = fdopen(fd, "w"))) {
        fprintf(stderr, "tracemem: %s: cannot create: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(out->tmp);
        }
        free(out->tmp);
        out->tmp = NULL;
        return -1;
    }
    /* mkstemp() creates 0600; an output file gets the usual 0666 & ~umask */
    {
        mode_t um = umask(0);

        umask(um);
        fchmod(fd, 0666 & ~um);
    }
    return 0;
}

int tm__outfile_close(tm_outfile *out, int ok)
{
    int rc = 0;

    if (!out->fp)
        return -1;
    if (!out->tmp) {
        if (fflush(out->fp) && ok) {
            fprintf(stderr, "tracemem: %s: write error: %s\n", out->path, strerror(errno));
            rc = -1;
        }
        out->fp = NULL;
        return ok ? rc : -1;
    }
    if (ok && (ferror(out->fp) | fclose(out->fp))) {
        fprintf(stderr, "tracemem: %s: write error: %s\n", out->path, strerror(errno));
        ok = 0;
    } else if (!ok) {
        fclose(out->fp);
    }
    if (ok && rename(out->tmp, out->path)) {
        fprintf(stderr, "tracemem: %s: cannot rename into place: %s\n", out->path, strerror(errno));
        ok = 0;
    }
    if (!ok)
        unlink(out->tmp);
    free(out->tmp);
    out->tmp = NULL;
    out->fp = NULL;
    return ok ? 0 : -1;
}
