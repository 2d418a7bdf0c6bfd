/* wl_realloc.c - a growing and shrinking working set built with realloc.
 *
 * Resembles a parser: it reads generated "documents" of words and builds,
 * for each, an array of tokens grown by realloc (x1.5) whose strings are
 * themselves grown by realloc in 8-byte steps as characters arrive. Parsed
 * documents are kept in a window that grows to WINDOW documents and then
 * shrinks back to a few, several times over, so the live set (and the
 * tracer's live table) swings between small and tens of megabytes.
 *
 * Usage: wl_realloc [DOCUMENTS]   (default 15000)
 * Prints a checksum of the tokens kept. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 3000

struct token {
    char *text;
    size_t len, cap;
};

struct doc {
    struct token *tok;
    size_t ntok, cap;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        perror("realloc");
        exit(1);
    }
    return q;
}

__attribute__((noinline)) static void token_putc(struct token *t, char c)
{
    if (t->len + 1 >= t->cap) {
        t->cap += 8;
        t->text = xrealloc(t->text, t->cap);
    }
    t->text[t->len++] = c;
    t->text[t->len] = 0;
}

__attribute__((noinline)) static struct token *doc_new_token(struct doc *d)
{
    if (d->ntok == d->cap) {
        d->cap = d->cap ? d->cap + d->cap / 2 : 4;
        d->tok = xrealloc(d->tok, d->cap * sizeof(*d->tok));
    }
    struct token *t = &d->tok[d->ntok++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* "Parses" one document of 'words' words of 1..40 characters. */
__attribute__((noinline)) static void parse(struct doc *d, int words)
{
    for (int w = 0; w < words; w++) {
        struct token *t = doc_new_token(d);
        int len = 1 + (int)(next() % 40);
        for (int i = 0; i < len; i++)
            token_putc(t, (char)('a' + (next() % 26)));
    }
}

static uint64_t doc_free(struct doc *d)
{
    uint64_t sum = d->ntok;
    for (size_t i = 0; i < d->ntok; i++) {
        sum += (unsigned char)d->tok[i].text[0] + d->tok[i].len;
        free(d->tok[i].text);
    }
    free(d->tok);
    memset(d, 0, sizeof(*d));
    return sum;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 15000;
    static struct doc window[WINDOW];
    size_t live = 0, target = WINDOW;
    uint64_t checksum = 0;
    for (long i = 0; i < n; i++) {
        if (live == target) {
            /* shrink to a few documents, then grow to a new target */
            while (live > 4)
                checksum += doc_free(&window[--live]);
            target = WINDOW / 2 + next() % (WINDOW / 2);
        }
        parse(&window[live++], 20 + (int)(next() % 200));
    }
    while (live > 0)
        checksum += doc_free(&window[--live]);
    printf("wl_realloc %ld %llu\n", n, (unsigned long long)checksum);
    return 0;
}
