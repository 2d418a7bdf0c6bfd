/* writer.h - streaming JSON output to a file descriptor without malloc. */
#ifndef TM_WRITER_H
#define TM_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct tm__out {
    int fd;
    int err;      /* first errno of a failed write, sticky */
    char *buf;    /* tm__map()ed */
    size_t len, cap;
    void *z;      /* gzip: a z_stream and its output buffer, tm__map()ed; NULL: plain */
};

int tm__out_open(struct tm__out *o, int fd);
/* Makes what is written from now on gzip-compressed (zlib's deflate, its
 * memory from tm__map(), never the host's allocator). 0 or -ENOMEM; 0 and
 * plain output when tm__zlib_init() found no zlib. */
int tm__out_gzip(struct tm__out *o);
/* zlib's level for tm__out_gzip(), 0-9 (0: stored blocks); 3 unless
 * TRACEMEM_GZIP_LEVEL says otherwise (set once, when the shim starts). */
extern int tm__gz_level;
/* Loads zlib for tm__out_gzip() (dlopen, RTLD_LOCAL); from the shim's
 * start, not from a signal handler. */
void tm__zlib_init(void);
/* 1 when 'path' ends in ".gz": snapshots named so are written compressed. */
int tm__out_is_gz(const char *path);
/* Flushes and releases the buffer; returns 0 or -errno of the first failure. */
int tm__out_close(struct tm__out *o);
void tm__out_raw(struct tm__out *o, const char *s, size_t n);
void tm__out_lit(struct tm__out *o, const char *s);
/* A JSON string with escapes; bytes that are not valid UTF-8 become \u00XX. */
void tm__out_str(struct tm__out *o, const char *s);
void tm__out_strn(struct tm__out *o, const char *s, size_t n);
void tm__out_i64(struct tm__out *o, int64_t v);
void tm__out_u64(struct tm__out *o, uint64_t v);
/* ,"key": — 'first' omits the comma. */
void tm__out_key(struct tm__out *o, const char *key, int first);

/* The snapshot's "rss" section (rss.c), with 'heap_live' the bytes of the
 * live heap blocks. Nothing when 'r' was not measured. */
struct tm__rss;
void tm__rss_write(struct tm__out *o, const struct tm__rss *r, int64_t heap_live);

/* ,"timeline" (timeline.c): the copy tm__timeline_gather() made; 'index'
 * maps a stack id to 1 + its position in the snapshot's stacks. */
void tm__timeline_write(struct tm__out *o, const uint32_t *index, size_t index_size);
/* ,"sizes" (sizes.c): live and allocated size histograms. */
void tm__sizes_write(struct tm__out *o);

#endif
