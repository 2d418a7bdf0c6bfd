/* wl_threads.c - a producer thread allocates, a consumer thread frees.
 *
 * Resembles a pipeline (reader -> worker): the producer malloc()s records and
 * hands them over in batches of BATCH through a bounded queue (mutex and
 * condition variables, so a thread without work sleeps instead of spinning
 * on a busy machine); the consumer reads and free()s every record, so every
 * free lands in the tracer's tables from the other thread. Both threads also
 * make short-lived private allocations of their own.
 *
 * Usage: wl_threads [RECORDS]   (default 3000000)
 * Prints a checksum that does not depend on the interleaving. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 256
#define QUEUE 8 /* batches in flight */

struct batch {
    int n;
    uint64_t *rec[BATCH];
};

static struct batch *queue[QUEUE];
static int q_head, q_len;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t q_not_full = PTHREAD_COND_INITIALIZER;

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        perror("malloc");
        exit(1);
    }
    return p;
}

static void put(struct batch *b)
{
    pthread_mutex_lock(&q_lock);
    while (q_len == QUEUE)
        pthread_cond_wait(&q_not_full, &q_lock);
    queue[(q_head + q_len++) % QUEUE] = b;
    pthread_cond_signal(&q_not_empty);
    pthread_mutex_unlock(&q_lock);
}

static struct batch *take(void)
{
    pthread_mutex_lock(&q_lock);
    while (q_len == 0)
        pthread_cond_wait(&q_not_empty, &q_lock);
    struct batch *b = queue[q_head];
    q_head = (q_head + 1) % QUEUE;
    q_len--;
    pthread_cond_signal(&q_not_full);
    pthread_mutex_unlock(&q_lock);
    return b;
}

/* A short-lived scratch buffer, as formatting or parsing code makes. */
__attribute__((noinline)) static uint64_t scratch(long i)
{
    size_t n = 40 + (size_t)(i & 127);
    unsigned char *tmp = xmalloc(n);
    memset(tmp, (int)i, n);
    uint64_t v = tmp[7] + tmp[n - 1];
    free(tmp);
    return v;
}

__attribute__((noinline)) static uint64_t *make_record(long i)
{
    size_t words = 2 + (size_t)(i * 7 % 30);
    uint64_t *p = xmalloc(words * sizeof(*p));
    p[0] = (uint64_t)i;
    p[1] = words;
    return p;
}

static uint64_t produced_sum;

static void *producer(void *arg)
{
    long n = *(long *)arg;
    struct batch *b = NULL;
    for (long i = 0; i < n; i++) {
        if (!b) {
            b = xmalloc(sizeof(*b));
            b->n = 0;
        }
        b->rec[b->n++] = make_record(i);
        if ((i & 3) == 0)
            produced_sum += scratch(i);
        if (b->n == BATCH || i == n - 1) {
            put(b);
            b = NULL;
        }
    }
    put(NULL); /* end of stream */
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 3000000;
    pthread_t t;
    if (pthread_create(&t, NULL, producer, &n) != 0) {
        perror("pthread_create");
        return 1;
    }
    uint64_t sum = 0, consumed_sum = 0;
    long i = 0;
    struct batch *b;
    while ((b = take()) != NULL) {
        for (int k = 0; k < b->n; k++, i++) {
            sum += b->rec[k][0] * 31 + b->rec[k][1];
            free(b->rec[k]);
            if ((i & 3) == 1)
                consumed_sum += scratch(i);
        }
        free(b);
    }
    pthread_join(t, NULL);
    printf("wl_threads %ld %llu %llu %llu\n", n, (unsigned long long)sum,
           (unsigned long long)produced_sum, (unsigned long long)consumed_sum);
    return 0;
}
