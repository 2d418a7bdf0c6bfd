/* attach_server.c - a threaded server on a local socket, for tracemem
 * attach: four worker threads accept connections; each request is a line
 * "N\n", the answer "N squared is N*N\n", built in a heap buffer
 * (attach_answer) and cached in a list that only grows (attach_remember).
 * Usage: attach_server SOCKET; exits 0 on "quit\n". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int lfd;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
struct node {
    struct node *next;
    char *text;
};
static struct node *cache;
static volatile int quit;

__attribute__((noinline)) static void attach_remember(const char *text)
{
    struct node *n = malloc(sizeof *n); /* LINE-REMEMBER */
    n->text = strdup(text);
    pthread_mutex_lock(&lock);
    n->next = cache;
    cache = n;
    pthread_mutex_unlock(&lock);
}

__attribute__((noinline)) static char *attach_answer(long v)
{
    char *buf = malloc(128); /* LINE-ANSWER */
    snprintf(buf, 128, "%ld squared is %ld\n", v, v * v);
    return buf;
}

static void serve(int fd)
{
    char line[128];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof line - 1 && (r = read(fd, line + n, 1)) == 1 && line[n] != '\n')
        n++;
    line[n] = '\0';
    if (strcmp(line, "quit") == 0) {
        quit = 1;
        shutdown(lfd, SHUT_RDWR);
        close(fd);
        return;
    }
    char *a = attach_answer(strtol(line, NULL, 10));
    attach_remember(a);
    (void)!write(fd, a, strlen(a));
    free(a);
    close(fd);
}

static void *worker(void *arg)
{
    (void)arg;
    while (!quit) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            break;
        serve(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    pthread_t t[4];
    if (argc != 2 || strlen(argv[1]) >= sizeof sa.sun_path)
        return 2;
    strcpy(sa.sun_path, argv[1]);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(argv[1]);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 64))
        return 1;
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    printf("listening\n");
    fflush(stdout);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("bye\n");
    return 0;
}
