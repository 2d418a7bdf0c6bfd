/* outpath.c - expanding the TRACEMEM_OUTPUT template.
 *
 * %p pid, %e executable base name, %n snapshot sequence number, %t unix
 * time, %% a percent sign; any other %x is kept as is. A template without %n
 * gets ".N" before a final ".json" or ".json.gz" (or at the end) for every snapshot after
 * the first, and for all of them when several are expected. */
#define _GNU_SOURCE
#include "shim/shim.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void exe_name(char *out, size_t cap)
{
    const char *exe = tm__exe_path();
    const char *base = strrchr(exe, '/');
    tm__snprintf(out, cap, "%s", base ? base + 1 : (exe[0] ? exe : "unknown"));
}

/* Expands the TRACEMEM_OUTPUT template for snapshot 'seq'. */
int tm__output_path(char *out, size_t cap, const char *tmpl, unsigned seq, int force_seq)
{
    size_t len = 0;
    int has_seq = 0;
    char piece[512]; /* one expansion: a number or a file's base name */
    for (const char *t = tmpl; *t; t++) {
        const char *add = piece;
        piece[0] = '\0';
        if (*t != '%' || !t[1]) {
            piece[0] = *t;
            piece[1] = '\0';
        } else {
            switch (*++t) {
            case 'p': tm__snprintf(piece, sizeof(piece), "%d", (int)getpid()); break;
            case 'e': exe_name(piece, sizeof(piece)); break;
            case 'n': tm__snprintf(piece, sizeof(piece), "%u", seq); has_seq = 1; break;
            case 't': tm__snprintf(piece, sizeof(piece), "%ld", (long)time(NULL)); break;
            case '%': add = "%"; break;
            default: tm__snprintf(piece, sizeof(piece), "%%%c", *t);
            }
        }
        size_t n = strlen(add);
        if (len + n >= cap)
            return -ENAMETOOLONG;
        memcpy(out + len, add, n);
        len += n;
    }
    out[len] = '\0';
    if (!has_seq && (seq > 0 || force_seq)) {
        char suffix[24];
        int sn = tm__snprintf(suffix, sizeof(suffix), ".%u", seq);
        size_t at = len >= 5 && strcmp(out + len - 5, ".json") == 0 ? len - 5
                    : len >= 8 && strcmp(out + len - 8, ".json.gz") == 0 ? len - 8
                                                                         : len;
        if (len + (size_t)sn >= cap)
            return -ENAMETOOLONG;
        memmove(out + at + sn, out + at, len - at + 1);
        memcpy(out + at, suffix, (size_t)sn);
    }
    return 0;
}

