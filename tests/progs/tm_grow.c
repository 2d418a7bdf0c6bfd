/* tm_grow.c - one structure that grows steadily and one that stays flat,
 * for tracemem trend: run with TRACEMEM_INTERVAL, every periodic snapshot
 * finds the list longer by the same number of nodes while the table keeps
 * its size. The integration test finds the lines by their SITE_* markers.
 *
 * usage: tm_grow [STEPS [MS]]   STEPS rounds (40) of MS milliseconds (10);
 * each round adds one 1000-byte node to the list.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#pragma GCC optimize("O0")

struct node {
    struct node *next;
    char payload[1000 - sizeof(struct node *)];
};

static struct node *list;
static char *table;

__attribute__((noinline, noipa)) static void grow_list(void)
{
    struct node *n = malloc(sizeof *n); /* SITE_GROW */

    memset(n, 0, sizeof *n);
    n->next = list;
    list = n;
}

__attribute__((noinline, noipa)) static void make_table(void)
{
    table = calloc(1, 50000); /* SITE_FLAT */
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 40;
    long ms = argc > 2 ? atol(argv[2]) : 10;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    make_table();
    for (int i = 0; i < steps; i++) {
        grow_list();
        nanosleep(&ts, NULL);
    }
    return 0;
}
