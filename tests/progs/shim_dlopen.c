/* shim_dlopen.c - allocations made inside dlopen()ed libraries.
 *
 * usage: shim_dlopen LIB_A LIB_B
 * Loads LIB_A, keeps a 4444-byte block it allocates, unloads it (dlclose),
 * loads LIB_B (inside A's old address range: A spans 8 MiB) and keeps a
 * 5555-byte block from it. A frame must stay attributed to the object that
 * held it when the stack was taken. */
#pragma GCC optimize("O0")
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *load(const char *path, void **base)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        exit(2);
    }
    void *fn = dlsym(h, "plugin_alloc");
    Dl_info di;
    *base = fn && dladdr(fn, &di) ? di.dli_fbase : NULL;
    return h;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 100;
    void *base_a, *base_b;
    void *h = load(argv[1], &base_a);
    void *(*alloc)(size_t) = (void *(*)(size_t))dlsym(h, "plugin_alloc");
    void *a = alloc(4444);
    printf("a: %s\n", (char *)a);
    if (dlclose(h) != 0)
        return 3;
    h = load(argv[2], &base_b);
    alloc = (void *(*)(size_t))dlsym(h, "plugin_alloc");
    void *b = alloc(5555);
    printf("b: %s\n", (char *)b);
    /* stderr: not compared with an untraced run (addresses differ) */
    fprintf(stderr, "same base: %d\n", base_a == base_b);
    fprintf(stderr, "B inside A's old range: %d\n",
            (char *)base_b >= (char *)base_a && (char *)base_b < (char *)base_a + (8 << 20));
    return 0;
}
