/* matrix_hello.c - a small program for gdb to run to completion: builds a
 * list, prints its sum, frees half of it and exits 3. */
#pragma GCC optimize("O0")
#include <stdio.h>
#include <stdlib.h>

struct node {
    struct node *next;
    long value;
};

int main(void)
{
    struct node *head = NULL;
    long sum = 0;

    for (long i = 1; i <= 1000; i++) {
        struct node *n = malloc(sizeof *n);
        n->value = i;
        n->next = head;
        head = n;
    }
    for (struct node *n = head; n; n = n->next)
        sum += n->value;
    printf("sum %ld\n", sum);
    for (int i = 0; i < 500 && head; i++) {
        struct node *n = head;
        head = n->next;
        free(n);
    }
    return 3;
}
