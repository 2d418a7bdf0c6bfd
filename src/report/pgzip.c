/* pgzip.c - gzip output deflated on two threads (pgzip.h).
 *
 * The writer's thread fills blocks; two workers deflate them; the
 * writer's thread writes them out in order. Blocks live in a ring of
 * NSLOT slots: block number k in slot k % NSLOT. A slot goes FREE ->
 * (filled by the writer) QUEUED -> BUSY (a worker deflates it) -> DONE
 * -> (written by the writer) FREE, all changes under 'lock'. Only the
 * writer fills slots and writes, so blocks come out in their order; the
 * dictionary of a block (the last 32 KiB of the one before) is copied
 * when its slot is started, while the block before is still in its own
 * slot (it is only filled again NSLOT - 1 blocks later).
 */
#include "config.h"

#include "report/pgzip.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define NSLOT 4
#define NWORKERS 2
#define WINDOW 32768

enum { FREE, QUEUED, BUSY, DONE };

typedef struct slot {
    unsigned char *in;
    size_t inlen;
    unsigned char dict[WINDOW];
    size_t dictlen;
    unsigned char *out;
    size_t outcap, outlen;
    uLong crc;
    int last;
    int state;
    int failed;
} slot;

struct tm_pgz {
    FILE *fp;
    int level;
    slot s[NSLOT];
    uint64_t filling; /* the block being filled, in slot filling % NSLOT */
    uint64_t writing; /* the next block to write */
    uLong crc;        /* of the data written so far */
    uint64_t total;   /* bytes of data */
    int error;
    int threads; /* workers started */
    int stop;
    pthread_t th[NWORKERS];
    pthread_mutex_t lock;
    pthread_cond_t work, done;
    z_stream own; /* the writer's, when it deflates itself */
    int own_init;
};

static int stream_init(z_stream *zs, int level)
{
    memset(zs, 0, sizeof *zs);
    return deflateInit2(zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK ? 0 : -1;
}

/* Deflates slot 'b' with 'zs' into its output: a raw deflate stream
 * ended on a byte boundary (sync flush), or with the final block. */
static void deflate_slot(slot *b, z_stream *zs)
{
    size_t need = deflateBound(zs, b->inlen) + 64;
    int flush = b->last ? Z_FINISH : Z_SYNC_FLUSH, rc;

    b->crc = crc32(0L, b->in, (uInt)b->inlen);
    if (deflateReset(zs) != Z_OK ||
        (b->dictlen && deflateSetDictionary(zs, b->dict, (uInt)b->dictlen) != Z_OK))
        goto out_failed;
    if (b->outcap < need) {
        unsigned char *o = realloc(b->out, need);
        if (!o)
            goto out_failed;
        b->out = o;
        b->outcap = need;
    }
    zs->next_in = b->in;
    zs->avail_in = (uInt)b->inlen;
    zs->next_out = b->out;
    zs->avail_out = (uInt)b->outcap;
    for (;;) {
        rc = deflate(zs, flush);
        if (rc == Z_STREAM_ERROR)
            goto out_failed;
        if (b->last ? rc == Z_STREAM_END : zs->avail_in == 0 && zs->avail_out != 0)
            break;
        if (zs->avail_out == 0) { /* more than the bound said: grow */
            size_t used = b->outcap, cap = 2 * b->outcap;
            unsigned char *o = realloc(b->out, cap);
            if (!o)
                goto out_failed;
            b->out = o;
            b->outcap = cap;
            zs->next_out = b->out + used;
            zs->avail_out = (uInt)(cap - used);
        }
    }
    b->outlen = b->outcap - zs->avail_out;
    return;
out_failed:
    b->failed = 1;
    b->outlen = 0;
}

static void *worker(void *arg)
{
    tm_pgz *z = arg;
    z_stream zs;
    int ok = stream_init(&zs, z->level) == 0;

    pthread_mutex_lock(&z->lock);
    for (;;) {
        slot *b = NULL;

        /* the oldest queued block first: the writer waits for it */
        for (uint64_t k = z->writing; k <= z->filling && !b; k++)
            if (z->s[k % NSLOT].state == QUEUED)
                b = &z->s[k % NSLOT];
        if (!b) {
            if (z->stop)
                break;
            pthread_cond_wait(&z->work, &z->lock);
            continue;
        }
        b->state = BUSY;
        pthread_mutex_unlock(&z->lock);
        if (ok)
            deflate_slot(b, &zs);
        else
            b->failed = 1;
        pthread_mutex_lock(&z->lock);
        b->state = DONE;
        pthread_cond_broadcast(&z->done);
    }
    pthread_mutex_unlock(&z->lock);
    if (ok)
        deflateEnd(&zs);
    return NULL;
}

tm_pgz *tm_pgz_open(FILE *fp, int level)
{
    /* gzip's header: no name, no time; the extra flags as zlib sets them */
    unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level == 9 ? 2 : level < 2 ? 4 : 0, 3};
    tm_pgz *z = calloc(1, sizeof *z);

    if (!z)
        return NULL;
    z->fp = fp;
    z->level = level;
    z->crc = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < NSLOT; i++)
        if (!(z->s[i].in = malloc(TM_PGZ_BLOCK)))
            goto out_free;
    pthread_mutex_init(&z->lock, NULL);
    pthread_cond_init(&z->work, NULL);
    pthread_cond_init(&z->done, NULL);
    if (fwrite(head, 1, sizeof head, fp) != sizeof head)
        z->error = 1;
    return z;
out_free:
    for (int i = 0; i < NSLOT; i++)
        free(z->s[i].in);
    free(z);
    return NULL;
}

/* Writes the blocks that are done, in order; with 'all', waits until
 * every block given is written. Called with the lock held. */
static void write_done(tm_pgz *z, int all)
{
    for (;;) {
        slot *b = &z->s[z->writing % NSLOT];

        if (z->writing < z->filling && b->state == DONE) {
            pthread_mutex_unlock(&z->lock);
            if (b->failed || (b->outlen && fwrite(b->out, 1, b->outlen, z->fp) != b->outlen))
                z->error = 1;
            z->crc = crc32_combine(z->crc, b->crc, (z_off_t)b->inlen);
            pthread_mutex_lock(&z->lock);
            b->state = FREE;
            z->writing++;
            continue;
        }
        if (!all || z->writing == z->filling)
            return;
        pthread_cond_wait(&z->done, &z->lock);
    }
}

/* Hands the block being filled over ('last': the final one) and starts
 * the next. */
static void submit(tm_pgz *z, int last)
{
    slot *b = &z->s[z->filling % NSLOT], *next;

    b->last = last;
    if (!z->threads && !last && sysconf(_SC_NPROCESSORS_ONLN) > 1)
        for (; z->threads < NWORKERS; z->threads++)
            if (pthread_create(&z->th[z->threads], NULL, worker, z))
                break;
    if (!z->threads) { /* one CPU, or a single block: deflated here */
        if (!z->own_init && stream_init(&z->own, z->level) == 0)
            z->own_init = 1;
        if (z->own_init)
            deflate_slot(b, &z->own);
        else
            b->failed = 1;
    }
    pthread_mutex_lock(&z->lock);
    b->state = z->threads ? QUEUED : DONE;
    z->filling++;
    pthread_cond_signal(&z->work);
    next = &z->s[z->filling % NSLOT];
    write_done(z, 0);
    while (!last && next->state != FREE) {
        pthread_cond_wait(&z->done, &z->lock);
        write_done(z, 0);
    }
    if (last)
        write_done(z, 1);
    pthread_mutex_unlock(&z->lock);
    if (last)
        return;
    next->dictlen = b->inlen < WINDOW ? b->inlen : WINDOW;
    memcpy(next->dict, b->in + b->inlen - next->dictlen, next->dictlen);
    next->inlen = 0;
    next->failed = 0;
}

int tm_pgz_write(tm_pgz *z, const void *p, size_t n)
{
    const unsigned char *c = p;

    z->total += n;
    while (n) {
        slot *b = &z->s[z->filling % NSLOT];
        size_t k = TM_PGZ_BLOCK - b->inlen < n ? TM_PGZ_BLOCK - b->inlen : n;

        memcpy(b->in + b->inlen, c, k);
        b->inlen += k;
        c += k;
        n -= k;
        if (b->inlen == TM_PGZ_BLOCK)
            submit(z, 0);
    }
    return z->error ? -1 : 0;
}

int tm_pgz_close(tm_pgz *z)
{
    unsigned char tail[8];
    int rc;

    submit(z, 1);
    for (int i = 0; i < 4; i++) {
        tail[i] = (unsigned char)(z->crc >> (8 * i));
        tail[4 + i] = (unsigned char)(z->total >> (8 * i));
    }
    if (fwrite(tail, 1, sizeof tail, z->fp) != sizeof tail)
        z->error = 1;
    pthread_mutex_lock(&z->lock);
    z->stop = 1;
    pthread_cond_broadcast(&z->work);
    pthread_mutex_unlock(&z->lock);
    for (int i = 0; i < z->threads; i++)
        pthread_join(z->th[i], NULL);
    if (z->own_init)
        deflateEnd(&z->own);
    pthread_cond_destroy(&z->work);
    pthread_cond_destroy(&z->done);
    pthread_mutex_destroy(&z->lock);
    for (int i = 0; i < NSLOT; i++) {
        free(z->s[i].in);
        free(z->s[i].out);
    }
    rc = z->error ? -1 : 0;
    free(z);
    return rc;
}
