/* shim_fds.c - the program's descriptors are its own under the shim.
 *
 * Prints the number open() returns first and the descriptors open before
 * main (as a preloaded library must leave them: 0 1 2 only). Then it
 * closes every descriptor from 3 up, as daemons and shells do, makes a
 * pipe that takes the lowest numbers, and allocates through a function
 * without unwind information while bytes sit in the pipe: the unwinder
 * then falls back to the frame-pointer chain and checks each address
 * before reading it, which libunwind does with a pipe of its own. The
 * bytes must come back intact and the pipe must still be open. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
/* A frame with no CFI (no FDE covers it): DWARF unwinding stops here. */
void *nocfi_malloc(size_t n);
__asm__(".text\n"
        ".globl nocfi_malloc\n"
        ".type nocfi_malloc, @function\n"
        "nocfi_malloc:\n"
        "    push %rbp\n"
        "    mov %rsp, %rbp\n"
        "    call malloc@PLT\n"
        "    pop %rbp\n"
        "    ret\n"
        ".size nocfi_malloc, .-nocfi_malloc\n");
#else
static void *nocfi_malloc(size_t n)
{
    return malloc(n);
}
#endif

static void list_fds(const char *when)
{
    DIR *d = opendir("/proc/self/fd");
    int self = d ? dirfd(d) : -1;
    struct dirent *e;
    printf("%s:", when);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.' && atoi(e->d_name) != self)
            printf(" %s", e->d_name);
    }
    printf("\n");
    if (d)
        closedir(d);
}

int main(void)
{
    list_fds("open at start");
    int fd = open("/dev/null", O_RDONLY);
    printf("first open: %d\n", fd);
    fflush(stdout);
    for (int i = 3; i < 1024; i++)
        close(i);

    int p[2];
    if (pipe(p) != 0)
        return 1;
    printf("pipe: %d %d\n", p[0], p[1]);
    const char msg[] = "the program's own bytes";
    if (write(p[1], msg, sizeof msg) != (ssize_t)sizeof msg)
        return 2;
    void *keep[64];
    for (int i = 0; i < 64; i++)
        keep[i] = nocfi_malloc(16 + (size_t)i);
    char back[64] = {0};
    ssize_t n = read(p[0], back, sizeof back);
    printf("read back: %zd '%s'\n", n, back);
    if (write(p[1], "x", 1) != 1)
        printf("pipe write end lost\n");
    else if (read(p[0], back, 1) != 1 || back[0] != 'x')
        printf("pipe read end lost\n");
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    list_fds("open at end");
    return 0;
}
