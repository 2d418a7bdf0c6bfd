/* outfile.c - output files: atomic replacement of regular files, writing
 * through to everything else, and every write error kept (outfile.h).
 *
 * The stream is a fopencookie() stream over a descriptor of our own, so
 * that the errno of the first failed write(2) is known when the file is
 * closed, however much was buffered and retried in between.
 */
#include "config.h"

#include "report/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LINKS 40

const char *tm_outfile_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdout>" : path;
}

/* --- the stream --- */

/* Writes all of 'buf'. After the first failure nothing more is written,
 * and the failure is kept for tm_outfile_close() to report; the stream is
 * told every write succeeded: glibc's fopencookie() streams do not cope
 * with a write function that fails for a large fwrite() (its buffer
 * bookkeeping goes wrong and memcpy() runs past the buffer), and the
 * writer has nothing better to do than to finish anyway. */
static ssize_t cookie_write(void *cookie, const char *buf, size_t len)
{
    tm_outfile *out = cookie;
    size_t done = 0;

    while (!out->error && done < len) {
        ssize_t n = write(out->fd, buf + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            out->error = n < 0 ? errno : EIO;
        else
            done += (size_t)n;
    }
    return (ssize_t)len;
}

static int cookie_close(void *cookie)
{
    (void)cookie; /* the descriptor is closed by tm_outfile_close() */
    return 0;
}

static int make_stream(tm_outfile *out, tm_error *err)
{
    static const cookie_io_functions_t io = {.write = cookie_write, .close = cookie_close};

    if (!(out->fp = fopencookie(out, "w", io)))
        return tm__error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* --- what to replace --- */

/* The descriptor N named by /dev/stdout, /dev/stderr, /dev/fd/N or
 * /proc/self/fd/N, or -1. Such names are written through a dup() of N
 * (as a shell does), not by opening the file again: that would truncate
 * a file opened for appending, and fails for a socket. */
static int fd_name(const char *path)
{
    const char *n = NULL;
    char *end;
    long v;

    if (strcmp(path, "/dev/stdout") == 0)
        return 1;
    if (strcmp(path, "/dev/stderr") == 0)
        return 2;
    if (strncmp(path, "/dev/fd/", 8) == 0)
        n = path + 8;
    else if (strncmp(path, "/proc/self/fd/", 14) == 0)
        n = path + 14;
    if (!n || !*n)
        return -1;
    errno = 0;
    v = strtol(n, &end, 10);
    return errno || *end || v < 0 || v > INT_MAX ? -1 : (int)v;
}

/* The directory part of 'path', canonical (new string), or NULL. */
static char *real_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir, *real;

    if (!slash)
        return realpath(".", NULL);
    if (!(dir = strndup(path, slash == path ? 1 : (size_t)(slash - path))))
        return NULL;
    real = realpath(dir, NULL);
    free(dir);
    return real;
}

/* Follows the symbolic links from 'path'. Returns 1 with '*target' (a
 * new string) when the result is a regular file or does not exist: it is
 * replaced atomically; 0 when 'path' is written through (device, FIFO,
 * socket, or a link through /proc); or a negative errno code. */
static int resolve(const char *path, char **target, struct stat *st)
{
    char *cur = strdup(path), *dir = NULL, *link = NULL, *next;
    int rc = -ENOMEM;

    for (int hops = 0; cur; hops++) {
        if (lstat(cur, st)) {
            if (errno != ENOENT) {
                rc = -errno;
                break;
            }
            st->st_mode = 0;
            *target = cur;
            return 1;
        }
        if (S_ISREG(st->st_mode)) {
            *target = cur;
            return 1;
        }
        if (S_ISDIR(st->st_mode)) {
            rc = -EISDIR;
            break;
        }
        if (!S_ISLNK(st->st_mode)) {
            rc = 0;
            break;
        }
        if (hops == MAX_LINKS) {
            rc = -ELOOP;
            break;
        }
        if (!(dir = real_dir(cur))) {
            rc = -errno;
            break;
        }
        if (strcmp(dir, "/proc") == 0 || strncmp(dir, "/proc/", 6) == 0) {
            rc = 0; /* a magic link of /proc: not a name to rename over */
            break;
        }
        if (!(link = malloc(PATH_MAX))) {
            rc = -ENOMEM;
            break;
        }
        ssize_t n = readlink(cur, link, PATH_MAX - 1);

        if (n < 0) {
            rc = -errno;
            break;
        }
        link[n] = '\0';
        if (link[0] == '/')
            next = strdup(link);
        else if (asprintf(&next, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, link) < 0)
            next = NULL;
        free(cur);
        free(dir);
        free(link);
        dir = link = NULL;
        cur = next;
    }
    free(cur);
    free(dir);
    free(link);
    return rc;
}

static int open_through(tm_outfile *out, tm_error *err)
{
    int n = fd_name(out->path);

    if (strcmp(out->path, "-") == 0)
        n = 1;
    if (n == 1)
        fflush(stdout); /* what the command printed before comes first */
    if (n >= 0)
        out->fd = fcntl(n, F_DUPFD_CLOEXEC, 3);
    else
        out->fd = open(out->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666);
    if (out->fd < 0)
        return tm__error_set(err, -errno, "cannot open: %s", strerror(errno));
    return make_stream(out, err);
}

static int open_atomic(tm_outfile *out, const struct stat *st, tm_error *err)
{
    mode_t mask = umask(0);

    umask(mask);
    if (asprintf(&out->tmp, "%s.tmpXXXXXX", out->target) < 0) {
        out->tmp = NULL;
        return tm__error_set(err, -ENOMEM, "out of memory");
    }
    if ((out->fd = mkostemp(out->tmp, O_CLOEXEC)) < 0) {
        int e = errno;

        free(out->tmp);
        out->tmp = NULL;
        return tm__error_set(err, -e, "cannot create: %s", strerror(e));
    }
    /* mkstemp() creates 0600: keep the mode of the file replaced, else
     * make it as readable as any new file */
    fchmod(out->fd, S_ISREG(st->st_mode) ? st->st_mode & 07777 : 0666 & ~mask);
    return make_stream(out, err);
}

int tm_outfile_open(tm_outfile *out, const char *path, tm_error *err)
{
    struct stat st;
    int rc;

    memset(out, 0, sizeof *out);
    out->path = path;
    out->fd = -1;
    if (strcmp(path, "-") == 0 || fd_name(path) >= 0)
        rc = 0;
    else if ((rc = resolve(path, &out->target, &st)) < 0)
        return tm__error_set(err, rc, "cannot write: %s", strerror(-rc));
    rc = rc ? open_atomic(out, &st, err) : open_through(out, err);
    if (rc)
        tm_outfile_close(out, 0, NULL);
    return rc;
}

int tm_outfile_close(tm_outfile *out, int commit, tm_error *err)
{
    int rc = commit ? 0 : -ECANCELED;

    if (out->fp && fclose(out->fp) && !out->error)
        out->error = errno ? errno : EIO;
    out->fp = NULL;
    if (commit && !out->error && out->tmp && fsync(out->fd))
        out->error = errno;
    if (out->fd >= 0 && close(out->fd) && !out->error && errno != EINTR)
        out->error = errno;
    out->fd = -1;
    if (commit && out->error)
        rc = tm__error_set(err, -out->error, "write error: %s", strerror(out->error));
    if (out->tmp) {
        if (rc == 0 && rename(out->tmp, out->target))
            rc = tm__error_set(err, -errno, "cannot rename %s to it: %s", out->tmp, strerror(errno));
        if (rc)
            unlink(out->tmp);
    }
    free(out->tmp);
    free(out->target);
    out->tmp = out->target = NULL;
    return rc;
}

int tm_outfile_write(const char *path, const void *data, size_t len, tm_error *err)
{
    tm_outfile out;
    int rc;

    if ((rc = tm_outfile_open(&out, path, err)))
        return rc;
    if (len)
        fwrite(data, 1, len, out.fp);
    return tm_outfile_close(&out, 1, err);
}
