/* outfile.c - output files with their errors printed (outfile.h). */
#include "config.h"

#include "outfile.h"

#include <errno.h>
#include <string.h>

#include "builtin.h"

int tm__outfile_open(tm_outfile *out, const char *path)
{
    tm_error err = {""};

    if (tm_outfile_open(out, path, &err) == 0)
        return 0;
    tm__eprintf("tracemem: %s: %s\n", tm_outfile_name(path), err.what);
    return -1;
}

int tm__outfile_close(tm_outfile *out, int ok)
{
    const char *path = out->path;
    tm_error err = {""};
    int rc = tm_outfile_close(out, ok, &err);

    if (rc && ok)
        tm__eprintf("tracemem: %s: %s\n", tm_outfile_name(path), err.what);
    return rc ? -1 : 0;
}

int tm__stdout_done(int rc)
{
    /* glibc keeps the unwritten buffer: the last fflush() fails again
     * with the errno of the failure, however early it happened */
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return rc;
    tm__eprintf("tracemem: <stdout>: write error: %s\n", strerror(errno ? errno : EIO));
    clearerr(stdout);
    return TM_EXIT_USAGE;
}
