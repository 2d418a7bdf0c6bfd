/* leakscan.c - reachability scan: not written yet; results stay unchecked. */
#include "shim/shim.h"

#include <errno.h>
#include <string.h>

int tm__leak_scan(struct tm__leak_result *res)
{
    memset(res, 0, sizeof(*res));
    return -ENOSYS;
}

void tm__leak_result_release(struct tm__leak_result *res)
{
    if (res->stacks)
        tm__unmap(res->stacks, res->mapped);
    memset(res, 0, sizeof(*res));
}
