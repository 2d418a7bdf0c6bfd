/* inject.h - loading libtracemem.so into a running process with ptrace and
 * calling its functions there (tracemem attach). x86-64 only. */
#ifndef TM_TOOLS_INJECT_H
#define TM_TOOLS_INJECT_H

#include <stddef.h>
#include <sys/types.h>

/* What tm__inject_probe() found out about the process. */
typedef struct tm_inject_probe {
    int dynamic;     /* a dynamic linker and a C library are mapped */
    int has_shim;    /* libtracemem.so is mapped */
    int shim_late;   /* ... loaded by an earlier attach, not preloaded */
    int shim_active; /* ... and an attach is tracing now */
    int stopped;     /* the process is stopped (state T) */
    int denied;      /* its memory map cannot be read: not ours to trace */
    char exe[256];   /* its executable's base name */
} tm_inject_probe;

/* Reads /proc/PID: -ESRCH when there is no such process, else 0. */
int tm__inject_probe(pid_t pid, tm_inject_probe *p);

/* What it takes to be allowed to trace a process (Yama's ptrace_scope,
 * CAP_SYS_PTRACE), in 'buf'. */
const char *tm__inject_advice(char *buf, size_t cap);

/* Makes a thread of 'pid' dlopen() 'shim' and call tm__attach_start(conf).
 * 0, or -1 with one line (no "tracemem:" prefix) in 'err'; -2 when the
 * process is gone. */
int tm__inject_start(pid_t pid, const char *shim, const char *conf, char *err, size_t cap);
/* Makes a thread call tm__attach_stop(); its result in '*rc'. 0, -1 with
 * 'err', -2 when the process is gone. */
int tm__inject_stop(pid_t pid, int *rc, char *err, size_t cap);

#endif
