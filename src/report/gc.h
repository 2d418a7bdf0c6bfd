/* gc.h - librcgc's "gc" snapshot section in the report library: what
 * `tracemem gc FILE` prints, and the growth of live objects by type that
 * `tracemem diff` shows next to the growth by stack (the native
 * objgraph.show_growth). The section's keys are those of SPEC section 8.
 */
#ifndef TM_REPORT_GC_H
#define TM_REPORT_GC_H

#include <jansson.h>
#include <stdio.h>

/* Checks that 'gc' is a well-formed gc section. Returns 0, or -EINVAL
 * with a message in 'why' (at most 'cap' bytes). */
int tm_gc_validate(const json_t *gc, char *why, size_t cap);

/* Prints the gc section 'gc' (borrowed): enabled state, thresholds and
 * counts, per-generation statistics, garbage and frozen counts, live
 * objects by type (most numerous first) and the recent collections. With
 * 'as_json', prints the section as indented JSON, types sorted the same
 * way. Returns 0, -EINVAL when 'gc' is not a valid section (nothing is
 * printed), or -EIO when writing failed. */
int tm_gc_print(FILE *out, const json_t *gc, int as_json);

/* Returns a new object {"types": [{type, count, count_diff, bytes,
 * bytes_diff}...], "generations": [{collections_diff, collected_diff,
 * uncollectable_diff} x3], "garbage", "garbage_diff"}: every type found in
 * either section, sorted by |count_diff| (then |bytes_diff|, then name);
 * a type only in 'old_gc' has count 0. Malformed parts count as empty.
 * Never NULL (aborts only if jansson cannot allocate). */
json_t *tm_gc_diff_json(const json_t *old_gc, const json_t *new_gc);

/* Prints tm_gc_diff_json() as a table: type, count, +/-diff, bytes,
 * +/-diff, then the collections in between. */
void tm_gc_diff_print(FILE *out, const json_t *old_gc, const json_t *new_gc);

#endif /* TM_REPORT_GC_H */
