/* shim_plugin.c - a test library that allocates, built twice (PLUGIN=1 and
 * PLUGIN=2, libshimplug_a/b) so that two different objects with different
 * build-ids can be loaded one after the other in the same address range. */
#pragma GCC optimize("O0")
#include <stdlib.h>
#include <string.h>

/* A wide span: when A is unloaded, B fits nowhere else than A's old range
 * (whatever the shim maps meanwhile takes only the top of that hole). */
__attribute__((visibility("default"))) char plugin_pad[8 << 20];

#if PLUGIN == 1
const char plugin_name[] = "plugin a";
#else
const char plugin_name[] = "plugin b, a little longer";
#endif

__attribute__((visibility("default"))) void *plugin_alloc(size_t n)
{
    char *p = malloc(n); /* SITE_PLUGIN */
    if (p)
        memcpy(p, plugin_name, sizeof(plugin_name) < n ? sizeof(plugin_name) : n);
    return p;
}
