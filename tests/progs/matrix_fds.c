/* matrix_fds.c - a program that owns every descriptor number above 2.
 *
 * Like a daemon or a shell that closes what it inherited: prints the number
 * open("/dev/null") gives (3 when nothing else is open) and how many entries
 * /proc/self/fd lists, closes every descriptor from 3 to 1023, then opens
 * files and pipes, which get the low numbers again, and checks that what it
 * writes through them comes back intact, allocating between every write and
 * read (a preloaded allocator that still wrote to a descriptor it owned
 * before would now write into this program's files). Exit 0 when all came
 * back intact, 1 otherwise. */
#pragma GCC optimize("O0")
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* Allocation churn between I/O: every malloc/free is a chance for a
 * preloaded library to do its own I/O. */
static void churn(int n)
{
    for (int i = 0; i < n; i++) {
        char *p = malloc(16 + (size_t)i * 8);
        memset(p, i & 0xff, 16);
        free(p);
    }
}

static int check_pipe(int round)
{
    int fd[2];
    char want[64], got[64] = {0};

    if (pipe(fd) != 0)
        return 0;
    snprintf(want, sizeof want, "pipe round %d says hello", round);
    printf("pipe %d: fds %d %d\n", round, fd[0], fd[1]);
    churn(50);
    if (write(fd[1], want, strlen(want)) != (ssize_t)strlen(want))
        return 0;
    churn(50);
    close(fd[1]);
    churn(50);
    ssize_t n = read(fd[0], got, sizeof got - 1);
    close(fd[0]);
    return n == (ssize_t)strlen(want) && memcmp(got, want, (size_t)n) == 0;
}

static int check_file(int round)
{
    char name[32], want[4096], got[4200];
    int fd, ok;
    ssize_t n;

    snprintf(name, sizeof name, "fds-%d.dat", round);
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (char)('a' + (i + (size_t)round) % 26);
    fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    printf("file %d: fd %d\n", round, fd);
    if (fd < 0)
        return 0;
    for (size_t off = 0; off < sizeof want; off += 512) {
        churn(20);
        if (write(fd, want + off, 512) != 512)
            return 0;
    }
    churn(50);
    close(fd);
    fd = open(name, O_RDONLY);
    n = read(fd, got, sizeof got);
    close(fd);
    ok = n == (ssize_t)sizeof want && memcmp(got, want, sizeof want) == 0;
    if (!ok)
        printf("file %d: read back %zd bytes, %d expected\n", round, n, (int)sizeof want);
    return ok;
}

int main(void)
{
    int fd = open("/dev/null", O_RDONLY), bad = 0;

    printf("open /dev/null: %d\n", fd);
    printf("open descriptors: %d\n", count_fds());
    fflush(stdout);
    for (int i = 3; i < 1024; i++)
        close(i);
    printf("after closing 3..1023: %d open\n", count_fds());
    for (int round = 0; round < 4; round++) {
        if (!check_pipe(round)) {
            printf("pipe %d: data changed\n", round);
            bad = 1;
        }
        if (!check_file(round)) {
            printf("file %d: data changed\n", round);
            bad = 1;
        }
    }
    printf("%s\n", bad ? "corrupted" : "intact");
    return bad;
}
