/* matrix_alarm.c - leaves by exit() from a SIGALRM handler.
 *
 * The main loop does nothing but malloc and free, so the signal nearly
 * always lands inside the allocator (or inside whatever a preloaded library
 * does around it); the handler then calls exit(), which runs atexit
 * handlers and destructors from there. Must print two lines and exit 7,
 * never hang. exit() is not async-signal-safe, but programs do this and
 * glibc's malloc does not hold a lock exit() needs. */
#pragma GCC optimize("O0")
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    static const char msg[] = "alarm: leaving by exit()\n";
    (void)sig;
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(2);
    exit(7);
}

int main(void)
{
    static const char msg[] = "looping on malloc/free\n";
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 100000}};
    void *keep[64] = {0};

    if (write(1, msg, sizeof msg - 1) < 0)
        return 2;
    signal(SIGALRM, on_alarm);
    setitimer(ITIMER_REAL, &it, NULL);
    for (unsigned long i = 0;; i++) {
        size_t k = i % 64;
        free(keep[k]);
        keep[k] = malloc(16 + (i * 37) % 4000);
        memset(keep[k], 1, 16);
    }
}
