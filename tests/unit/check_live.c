/* check_live.c - the live-block table: insert, find, remove, replace,
 * growth, deletion inside probe runs, iteration, threads; blocks that do not
 * fit a compact slot (sizes >= 1 MiB and >= 4 GiB, sampled counts, odd
 * addresses) and blocks moving between the two tables; notes of first
 * words kept with blocks of both tables. */
#include "shim/shim.h"
#include "suite_main.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>

static struct tm__block blk(uintptr_t ptr, uint64_t size, uint32_t stack)
{
    struct tm__block b = {ptr, size, stack, 1};
    return b;
}

static void setup(void)
{
    tm__live_clear();
}

START_TEST(test_live_insert_find_remove)
{
    struct tm__block b = blk(0x1000, 24, 7), old, out;
    ck_assert_int_eq(tm__live_insert(&b, &old), 0);
    ck_assert_int_eq(tm__live_find(0x1000, &out), 1);
    ck_assert_uint_eq(out.size, 24);
    ck_assert_uint_eq(out.stack, 7);
    ck_assert_int_eq(tm__live_find(0x1010, &out), 0);
    ck_assert_uint_eq(tm__live_count(), 1);
    ck_assert_int_eq(tm__live_remove(0x1000, &out), 1);
    ck_assert_uint_eq(out.size, 24);
    ck_assert_int_eq(tm__live_remove(0x1000, &out), 0);
    ck_assert_uint_eq(tm__live_count(), 0);
}
END_TEST

START_TEST(test_live_replaces_unseen_free)
{
    struct tm__block a = blk(0x2000, 10, 1), b = blk(0x2000, 99, 2), old;
    ck_assert_int_eq(tm__live_insert(&a, &old), 0);
    ck_assert_int_eq(tm__live_insert(&b, &old), 1);
    ck_assert_uint_eq(old.size, 10);
    ck_assert_uint_eq(old.stack, 1);
    struct tm__block out;
    ck_assert_int_eq(tm__live_find(0x2000, &out), 1);
    ck_assert_uint_eq(out.size, 99);
    ck_assert_uint_eq(tm__live_count(), 1);
}
END_TEST

/* 200000 blocks force several resizes; removing every other one exercises
 * backward-shift deletion in long probe runs; the rest must all be found. */
START_TEST(test_live_growth_and_deletion)
{
    const uintptr_t n = 200000;
    struct tm__block old, out;
    for (uintptr_t i = 1; i <= n; i++) {
        struct tm__block b = blk(i * 16, i, (uint32_t)i);
        ck_assert_int_eq(tm__live_insert(&b, &old), 0);
    }
    ck_assert_uint_eq(tm__live_count(), n);
    for (uintptr_t i = 1; i <= n; i += 2)
        ck_assert_int_eq(tm__live_remove(i * 16, &out), 1);
    for (uintptr_t i = 1; i <= n; i++) {
        int found = tm__live_find(i * 16, &out);
        ck_assert_int_eq(found, i % 2 == 0);
        if (found)
            ck_assert_uint_eq(out.size, i);
    }
    ck_assert_uint_eq(tm__live_count(), n / 2);
}
END_TEST

static void sum_sizes(const struct tm__block *b, void *arg)
{
    *(uint64_t *)arg += b->size;
}

START_TEST(test_live_foreach_visits_every_block)
{
    struct tm__block old;
    uint64_t want = 0;
    for (uintptr_t i = 1; i <= 1000; i++) {
        struct tm__block b = blk(i * 32, i * 3, 1);
        tm__live_insert(&b, &old);
        want += i * 3;
    }
    uint64_t got = 0;
    tm__live_lock_all();
    size_t n = tm__live_foreach_unlocked(sum_sizes, &got);
    tm__live_unlock_all();
    ck_assert_uint_eq(n, 1000);
    ck_assert_uint_eq(got, want);
    tm__live_clear();
    ck_assert_uint_eq(tm__live_count(), 0);
    ck_assert_int_eq(tm__live_find(32, &old), 0);
}
END_TEST

static struct tm__block blk_n(uintptr_t ptr, uint64_t size, uint32_t stack, uint32_t count)
{
    struct tm__block b = {ptr, size, stack, count};
    return b;
}

static void expect(uintptr_t ptr, uint64_t size, uint32_t stack, uint32_t count)
{
    struct tm__block out;
    ck_assert_int_eq(tm__live_find(ptr, &out), 1);
    ck_assert_uint_eq(out.ptr, ptr);
    ck_assert_uint_eq(out.size, size);
    ck_assert_uint_eq(out.stack, stack);
    ck_assert_uint_eq(out.count, count);
}

/* Every field survives whatever table holds it: the largest compact size,
 * the first that is not, sizes >= 4 GiB, sampled counts, the largest stack
 * id, addresses not 16-aligned and above 2^48. */
START_TEST(test_live_wide_fields)
{
    static const struct {
        uintptr_t ptr;
        uint64_t size;
        uint32_t stack, count;
    } c[] = {
        {0x10, 0, 0, 1},
        {0x20, (1 << 20) - 1, 0xffffffffu, 1},
        {0x30, 1 << 20, 5, 1},
        {0x40, (uint64_t)5 << 32, 6, 1},
        {0x50, 0xffffffffffffull, 7, 1},
        {0x60, 48, 8, 17},
        {0x70, 1000, 9, 0xffffffffu},
        {0x88, 24, 10, 1},
        {0x99, 24, 11, 1},
        {(uintptr_t)1 << 48, 32, 12, 1},
        {((uintptr_t)1 << 48) - 16, 32, 13, 1},
        {~(uintptr_t)15, 64, 14, 1},
    };
    const int n = sizeof(c) / sizeof(c[0]);
    struct tm__block old, out;
    for (int i = 0; i < n; i++) {
        struct tm__block b = blk_n(c[i].ptr, c[i].size, c[i].stack, c[i].count);
        ck_assert_int_eq(tm__live_insert(&b, &old), 0);
    }
    ck_assert_uint_eq(tm__live_count(), n);
    for (int i = 0; i < n; i++)
        expect(c[i].ptr, c[i].size, c[i].stack, c[i].count);
    uint64_t sum = 0, want = 0;
    for (int i = 0; i < n; i++)
        want += c[i].size;
    tm__live_lock_all();
    ck_assert_uint_eq(tm__live_foreach_unlocked(sum_sizes, &sum), n);
    tm__live_unlock_all();
    ck_assert_uint_eq(sum, want);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(tm__live_remove(c[i].ptr, &out), 1);
        ck_assert_uint_eq(out.size, c[i].size);
        ck_assert_uint_eq(out.count, c[i].count);
        ck_assert_int_eq(tm__live_find(c[i].ptr, &out), 0);
    }
    ck_assert_uint_eq(tm__live_count(), 0);
}
END_TEST

/* A block replaced at the same address by one that belongs in the other
 * table (a sampled block after an unsampled one, a huge one after a small
 * one, and back) is returned once and leaves exactly one record. */
START_TEST(test_live_replace_across_tables)
{
    struct tm__block a = blk_n(0x5000, 32, 1, 1), b = blk_n(0x5000, (uint64_t)6 << 32, 2, 1),
                     c = blk_n(0x5000, 4096, 3, 128), d = blk_n(0x5000, 16, 4, 1), old;
    ck_assert_int_eq(tm__live_insert(&a, &old), 0);
    ck_assert_int_eq(tm__live_insert(&b, &old), 1);
    ck_assert_uint_eq(old.size, 32);
    ck_assert_uint_eq(old.stack, 1);
    ck_assert_uint_eq(tm__live_count(), 1);
    expect(0x5000, (uint64_t)6 << 32, 2, 1);
    ck_assert_int_eq(tm__live_insert(&c, &old), 1);
    ck_assert_uint_eq(old.size, (uint64_t)6 << 32);
    ck_assert_uint_eq(old.count, 1);
    ck_assert_int_eq(tm__live_insert(&d, &old), 1);
    ck_assert_uint_eq(old.size, 4096);
    ck_assert_uint_eq(old.count, 128);
    ck_assert_uint_eq(tm__live_count(), 1);
    expect(0x5000, 16, 4, 1);
    ck_assert_int_eq(tm__live_remove(0x5000, &old), 1);
    ck_assert_int_eq(tm__live_remove(0x5000, &old), 0);
    ck_assert_uint_eq(tm__live_count(), 0);
}
END_TEST

/* 1.5M blocks, one in 16 of them sampled or huge, grow every shard many
 * times; then waves of removal and reinsertion at other addresses (the
 * patterns of a long-running program: probe runs shrink and refill) keep
 * every block findable with its own fields. */
static uint64_t size_of(uintptr_t i)
{
    return i % 16 == 3 ? ((uint64_t)1 << 32) + i : i % 1024;
}

static uint32_t count_of(uintptr_t i)
{
    return i % 16 == 7 ? 1 + (uint32_t)(i % 100) : 1;
}

START_TEST(test_live_many_blocks_delete_reinsert)
{
    const uintptr_t n = 1500000;
    struct tm__block old, out;
    for (uintptr_t i = 1; i <= n; i++) {
        struct tm__block b = blk_n(i * 48, size_of(i), (uint32_t)i, count_of(i));
        ck_assert_int_eq(tm__live_insert(&b, &old), 0);
    }
    ck_assert_uint_eq(tm__live_count(), n);
    for (int wave = 0; wave < 3; wave++) {
        for (uintptr_t i = 1 + wave; i <= n; i += 3)
            ck_assert_int_eq(tm__live_remove(i * 48, &out), 1);
        for (uintptr_t i = 1 + wave; i <= n; i += 3) {
            struct tm__block b = blk_n(i * 48 + 16, size_of(i), (uint32_t)i, count_of(i));
            ck_assert_int_eq(tm__live_insert(&b, &old), 0);
        }
    }
    ck_assert_uint_eq(tm__live_count(), n);
    for (uintptr_t i = 1; i <= n; i++) {
        ck_assert_int_eq(tm__live_find(i * 48, &out), 0);
        ck_assert_int_eq(tm__live_find(i * 48 + 16, &out), 1);
        ck_assert_uint_eq(out.size, size_of(i));
        ck_assert_uint_eq(out.stack, (uint32_t)i);
        ck_assert_uint_eq(out.count, count_of(i));
    }
    uint64_t sum = 0, want = 0;
    for (uintptr_t i = 1; i <= n; i++)
        want += size_of(i);
    tm__live_lock_all();
    ck_assert_uint_eq(tm__live_foreach_unlocked(sum_sizes, &sum), n);
    tm__live_unlock_all();
    ck_assert_uint_eq(sum, want);
    for (uintptr_t i = n; i >= 1; i--)
        ck_assert_int_eq(tm__live_remove(i * 48 + 16, &out), 1);
    ck_assert_uint_eq(tm__live_count(), 0);
}
END_TEST

static void add_bytes(const void *slots, size_t bytes, void *arg)
{
    (void)slots;
    *(size_t *)arg += bytes;
}

/* The tables of 1M live 16-aligned blocks of small sizes take at most 16
 * bytes a block (issue 12), and tm__live_tables_unlocked reports them. */
START_TEST(test_live_bytes_per_block)
{
    const uintptr_t n = 1 << 20;
    struct tm__block old;
    for (uintptr_t i = 1; i <= n; i++) {
        struct tm__block b = blk(0x7f0000000000 + i * 32, 32, 3);
        ck_assert_int_eq(tm__live_insert(&b, &old), 0);
    }
    size_t bytes = 0;
    tm__live_lock_all();
    tm__live_tables_unlocked(add_bytes, &bytes);
    tm__live_unlock_all();
    ck_assert_uint_le(bytes, 16 * n);
}
END_TEST

struct worker {
    uintptr_t base;
    int rounds;
};

static void *churn(void *arg)
{
    struct worker *w = arg;
    struct tm__block old, out;
    for (int r = 0; r < w->rounds; r++) {
        for (uintptr_t i = 0; i < 1000; i++) {
            struct tm__block b = blk(w->base + i * 16, 8, 1);
            if (tm__live_insert(&b, &old) != 0)
                return (void *)1;
        }
        for (uintptr_t i = 0; i < 1000; i++)
            if (tm__live_remove(w->base + i * 16, &out) != 1)
                return (void *)1;
    }
    return NULL;
}

/* Runs 'fn' on four threads at once, the i-th with 'args + i * size';
 * each must return NULL. */
static void on_four_threads(void *(*fn)(void *), void *args, size_t size)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, fn, (char *)args + (size_t)i * size);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        ck_assert_ptr_null(rc);
    }
}

START_TEST(test_live_threads_disjoint_churn)
{
    struct worker w[4];
    for (int i = 0; i < 4; i++)
        w[i] = (struct worker){(uintptr_t)(i + 1) << 32, 50};
    on_four_threads(churn, w, sizeof(w[0]));
    ck_assert_uint_eq(tm__live_count(), 0);
}
END_TEST

/* Large tables grow into the spare array (live.c): kept from an earlier
 * grow, stretched or cut down and zeroed. Four threads fill tables of
 * their own regions at once (the spare is taken and given back under
 * contention), then one region's tables grow past the others' (the spare
 * is then larger than a smaller table's next grow wants), and every block
 * is found with its own figures, none twice. */
struct filler {
    uintptr_t base;
    uintptr_t n;
};

static void *fill(void *arg)
{
    struct filler *f = arg;
    struct tm__block old;
    for (uintptr_t i = 0; i < f->n; i++) {
        struct tm__block b = blk(f->base + i * 48, i % 4000, (uint32_t)(i + 1));
        if (tm__live_insert(&b, &old) != 0)
            return (void *)1;
    }
    return NULL;
}

static int all_there(uintptr_t base, uintptr_t n)
{
    struct tm__block out;
    for (uintptr_t i = 0; i < n; i++)
        if (tm__live_find(base + i * 48, &out) != 1 || out.size != i % 4000 || out.stack != (uint32_t)(i + 1))
            return 0;
    return 1;
}

START_TEST(test_live_growth_through_spare)
{
    struct filler f[4];
    for (int i = 0; i < 4; i++)
        f[i] = (struct filler){(uintptr_t)(i + 1) << 36, 150000};
    on_four_threads(fill, f, sizeof(f[0]));
    /* region 1 grows on alone; then a fresh region's small tables grow */
    struct filler more = {f[0].base + f[0].n * 48, 600000}, fresh = {(uintptr_t)9 << 36, 40000};
    ck_assert_ptr_null(fill(&more));
    ck_assert_ptr_null(fill(&fresh));
    size_t total = 4 * 150000 + more.n + fresh.n;
    ck_assert_uint_eq(tm__live_count(), total);
    for (int i = 1; i < 4; i++)
        ck_assert(all_there(f[i].base, f[i].n));
    ck_assert(all_there(f[0].base, f[0].n));
    struct tm__block out;
    for (uintptr_t i = 0; i < more.n; i++) {
        ck_assert_int_eq(tm__live_find(more.base + i * 48, &out), 1);
        ck_assert_uint_eq(out.stack, (uint32_t)(i + 1));
    }
    ck_assert(all_there(fresh.base, fresh.n));
    uint64_t sum = 0;
    tm__live_lock_all();
    ck_assert_uint_eq(tm__live_foreach_unlocked(sum_sizes, &sum), total);
    tm__live_unlock_all();
    for (int i = 0; i < 4; i++)
        for (uintptr_t k = 0; k < f[i].n; k++)
            ck_assert_int_eq(tm__live_remove(f[i].base + k * 48, &out), 1);
    ck_assert_uint_eq(tm__live_count(), more.n + fresh.n);
}
END_TEST

/* The figures the _fig forms keep live in trace.c, which this test does
 * not link: a stand-in (live.c declares it weak). */
void tm__figures_locked(const struct tm__block *in, const struct tm__block *out, unsigned flags)
{
    (void)in;
    (void)out;
    (void)flags;
}

/* Notes (stale.c's first words) go in and out with their blocks, in both
 * tables (every 5th block is huge: the overflow table), through several
 * resizes of the note table and deletions inside its probe runs; a block
 * replaced by one without a note loses the note. */
static int note_of(uintptr_t i, struct tm__note *n)
{
    n->lo = i * 3 + 1;
    n->hi = ~i;
    return i % 3 == 0;
}

static void count_note(uintptr_t ptr, void *arg)
{
    (void)ptr;
    ++*(size_t *)arg;
}

START_TEST(test_live_notes_follow_blocks)
{
    const uintptr_t n = 30000;
    struct tm__block old, out;
    struct tm__note note, got;
    size_t noted = 0, seen = 0;
    for (uintptr_t i = 1; i <= n; i++) {
        struct tm__block b = blk(i * 4096, i % 5 ? i % 1000 : ((uint64_t)1 << 21) + i, (uint32_t)i);
        int has = note_of(i, &note);
        ck_assert_int_eq(tm__live_insert_note_fig(&b, has ? &note : NULL, &old, 0), 0);
        noted += has;
    }
    ck_assert_uint_eq(tm__live_notes_foreach_unlocked(count_note, &seen), noted);
    ck_assert_uint_eq(seen, noted);
    for (uintptr_t i = 1; i <= n; i++) {
        int has = note_of(i, &note);
        ck_assert_int_eq(tm__live_note_unlocked(i * 4096, &got), has);
        if (has) {
            ck_assert_uint_eq(got.lo, note.lo);
            ck_assert_uint_eq(got.hi, note.hi);
        }
    }
    /* every other block leaves with its note */
    for (uintptr_t i = 2; i <= n; i += 2) {
        int has = note_of(i, &note);
        ck_assert_int_eq(tm__live_remove_note_fig(i * 4096, &out, &got, 0), 1);
        ck_assert_uint_eq(out.stack, (uint32_t)i);
        ck_assert_uint_eq(got.lo, (has ? note.lo : 0));
        ck_assert_uint_eq(got.hi, (has ? note.hi : 0));
        noted -= has;
    }
    /* a noted block replaced by one without a note (its free went unseen) */
    struct tm__block r = blk(3 * 4096, 8, 77);
    ck_assert_int_eq(tm__live_insert_note_fig(&r, NULL, &old, 0), 1);
    ck_assert_uint_eq(old.stack, 3);
    noted--;
    ck_assert_int_eq(tm__live_note_unlocked(3 * 4096, &got), 0);
    seen = 0;
    ck_assert_uint_eq(tm__live_notes_foreach_unlocked(count_note, &seen), noted);
    for (uintptr_t i = 5; i <= n; i += 2) {
        int has = note_of(i, &note);
        ck_assert_int_eq(tm__live_note_unlocked(i * 4096, &got), has);
        if (has)
            ck_assert_uint_eq(got.hi, note.hi);
        ck_assert_int_eq(tm__live_find(i * 4096, &out), 1);
        ck_assert_uint_eq(out.stack, (uint32_t)i);
    }
}
END_TEST

static Suite *live_suite(void)
{
    Suite *s = suite_create("live");
    TCase *basic = tcase_create("basic");
    tcase_add_checked_fixture(basic, setup, NULL);
    tcase_add_test(basic, test_live_insert_find_remove);
    tcase_add_test(basic, test_live_replaces_unseen_free);
    tcase_add_test(basic, test_live_foreach_visits_every_block);
    tcase_add_test(basic, test_live_wide_fields);
    tcase_add_test(basic, test_live_replace_across_tables);
    tcase_add_test(basic, test_live_notes_follow_blocks);
    suite_add_tcase(s, basic);
    TCase *scale = tcase_create("scale");
    tcase_add_checked_fixture(scale, setup, NULL);
    tcase_set_timeout(scale, 60);
    tcase_add_test(scale, test_live_growth_and_deletion);
    tcase_add_test(scale, test_live_threads_disjoint_churn);
    tcase_add_test(scale, test_live_many_blocks_delete_reinsert);
    tcase_add_test(scale, test_live_bytes_per_block);
    tcase_add_test(scale, test_live_growth_through_spare);
    suite_add_tcase(s, scale);
    return s;
}

int main(void)
{
    return check_main(live_suite());
}
