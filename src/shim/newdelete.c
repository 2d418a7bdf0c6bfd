/* newdelete.c - C++ operator new, so that C++ allocations are attributed to
 * the caller of new rather than to libstdc++.
 *
 * Only the new operators are replaced: the library's delete operators call
 * free(), which the shim sees anyway, and a program that replaces new and
 * delete itself keeps both (its definitions come first in symbol lookup).
 * Behaviour is the standard one: on failure, call the new_handler until it
 * gives up, then throw std::bad_alloc (nothrow forms return NULL). The
 * handler and the throw come from libstdc++, looked up only on failure. */
#define _GNU_SOURCE
#include "shim/shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

#if __SIZEOF_SIZE_T__ == 8

typedef void (*new_handler_fn)(void);

static void *new_loop(size_t size, size_t align, int nothrow)
{
    if (size == 0)
        size = 1;
    for (;;) {
        void *p = NULL;
        if (align <= 16) {
            p = malloc(size);
        } else if (posix_memalign(&p, align, size) != 0) {
            p = NULL;
        }
        if (p)
            return p;
        tm__early_pc = 0; /* the handler or the exception may not come back */
        new_handler_fn (*get)(void) = (new_handler_fn(*)(void))dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv");
        new_handler_fn handler = get ? get() : NULL;
        if (handler) {
            handler();
            continue;
        }
        if (nothrow)
            return NULL;
        void (*throw_bad_alloc)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "_ZSt17__throw_bad_allocv");
        if (throw_bad_alloc)
            throw_bad_alloc();
        abort();
    }
}

/* Inlined into each operator, so that the return address is the caller
 * of operator new (noted for malloc when there is no unwinder yet). */
static inline __attribute__((always_inline)) void *new_impl(size_t size, size_t align, int nothrow)
{
    int noted = tm__note_caller(__builtin_return_address(0));
    uintptr_t outer = tm__hook_ra;
    tm__hook_ra = (uintptr_t)__builtin_return_address(0);
    void *p = new_loop(size, align, nothrow);
    tm__hook_ra = outer;
    if (TM_UNLIKELY(noted))
        tm__early_pc = 0;
    return p;
}

TM_EXPORT void *_Znwm(size_t size);
TM_EXPORT void *_Znam(size_t size);
TM_EXPORT void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag);
TM_EXPORT void *_ZnamRKSt9nothrow_t(size_t size, const void *tag);
TM_EXPORT void *_ZnwmSt11align_val_t(size_t size, size_t align);
TM_EXPORT void *_ZnamSt11align_val_t(size_t size, size_t align);
TM_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag);
TM_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag);

void *_Znwm(size_t size)
{
    return new_impl(size, 0, 0);
}

void *_Znam(size_t size)
{
    return new_impl(size, 0, 0);
}

void *_ZnwmRKSt9nothrow_t(size_t size, const void *tag)
{
    (void)tag;
    return new_impl(size, 0, 1);
}

void *_ZnamRKSt9nothrow_t(size_t size, const void *tag)
{
    (void)tag;
    return new_impl(size, 0, 1);
}

void *_ZnwmSt11align_val_t(size_t size, size_t align)
{
    return new_impl(size, align, 0);
}

void *_ZnamSt11align_val_t(size_t size, size_t align)
{
    return new_impl(size, align, 0);
}

void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag)
{
    (void)tag;
    return new_impl(size, align, 1);
}

void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *tag)
{
    (void)tag;
    return new_impl(size, align, 1);
}

#endif
