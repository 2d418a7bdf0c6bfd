/* shim_stubs.h - test control over the stubbed stack capture. */
#ifndef TM_SHIM_STUBS_H
#define TM_SHIM_STUBS_H
#include <stdint.h>
extern uintptr_t stub_pcs[];
extern int stub_npcs;
/* The next captures return the two frames 'a', 'b'. */
void stub_stack(uintptr_t a, uintptr_t b);
/* What tm__boot_range() reports: the boot pool's blocks [lo, hi). */
extern uintptr_t stub_boot_lo, stub_boot_hi;
#endif
