/* gate_leaks.c - leaks with known answers for the tracemem check tests.
 * The integration tests find the allocation lines by their SITE_*
 * markers, so keep one allocation call per marked line.
 *
 * usage: gate_leaks [none|leak|more] [STATUS]
 *   none  frees everything it leaks in the other modes
 *   leak  one 64-byte block (definite) and a list of 3 nodes of 24 bytes
 *         (its head definite, 2 nodes indirect)
 *   more  as leak, plus one 32-byte calloc block from another line
 *         (definite)
 * A 100-byte block stays reachable from a global in every mode. Exits
 * with STATUS (default 0).
 *
 * The build may add -O2: KEEP() stops the compiler from turning the
 * marked calls into tail calls (which would drop a frame) and from
 * dropping the blocks, and the stack is scrubbed before exit so that no
 * stale copy of a leaked pointer makes it look reachable.
 */
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *next;
    char pad[16];
};

void *gate_reachable;

#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

__attribute__((noinline)) static void *leak_block(size_t n)
{
    void *p = malloc(n); /* SITE_BLOCK */

    KEEP(p);
    return p;
}

__attribute__((noinline)) static void *leak_more(size_t n)
{
    void *p = calloc(1, n); /* SITE_MORE */

    KEEP(p);
    return p;
}

__attribute__((noinline)) static struct node *new_node(struct node *next)
{
    struct node *n = malloc(sizeof *n); /* SITE_NODE */

    n->next = next;
    return n;
}

__attribute__((noinline)) static struct node *make_list(int len)
{
    struct node *head = NULL;

    for (int i = 0; i < len; i++) {
        head = new_node(head);
        KEEP(head);
    }
    return head;
}

__attribute__((noinline)) static void free_list(struct node *n)
{
    while (n) {
        struct node *next = n->next;

        free(n);
        n = next;
    }
}

__attribute__((noinline)) static void run(const char *mode)
{
    void *block = leak_block(64);
    struct node *list = make_list(3);

    if (strcmp(mode, "none") == 0) {
        free(block);
        free_list(list);
    }
    if (strcmp(mode, "more") == 0)
        KEEP(leak_more(32));
}

__attribute__((noinline)) static void scrub(void)
{
    volatile char junk[16384];

    memset((char *)junk, 0, sizeof junk);
    KEEP(junk);
}

int main(int argc, char **argv)
{
    gate_reachable = malloc(100); /* SITE_REACHABLE */
    run(argc > 1 ? argv[1] : "leak");
    scrub();
    return argc > 2 ? atoi(argv[2]) : 0;
}
