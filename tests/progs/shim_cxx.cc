// shim_cxx.cc - C++ allocation under the shim: new/delete, new[]/delete[],
// aligned new, nothrow new, bad_alloc, a new_handler retried until it gives
// up, and exceptions thrown and caught, also by four threads at once
// (the unwinder of the host must keep working with the shim loaded).
//
// Live at exit, each from its own function (the innermost frame must be that
// function, the caller of new): make_big 2468 bytes, make_array 3579 bytes,
// make_aligned 256 bytes aligned to 128, make_vector 4000 bytes (through
// std::allocator, so libstdc++'s frames sit between).
#pragma GCC optimize("O0")
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

struct Big {
    char data[2468];
};

struct alignas(128) Aligned {
    char data[256];
};

// Not static: a static that is only written is dropped by the compiler, and
// the blocks must stay reachable.
Big *keep_big;
char *keep_array;
Aligned *keep_aligned;
std::vector<int> *keep_vector;

__attribute__((noinline)) Big *make_big()
{
    return new Big();
}

__attribute__((noinline)) char *make_array()
{
    return new char[3579];
}

__attribute__((noinline)) Aligned *make_aligned()
{
    return new Aligned();
}

__attribute__((noinline)) void make_vector()
{
    keep_vector = new std::vector<int>(); // 24 bytes, from here too
    keep_vector->reserve(1000);
}

static int handler_calls;

static void new_handler()
{
    // gives up on the third call: new must then throw bad_alloc
    if (++handler_calls == 3)
        std::set_new_handler(nullptr);
}

__attribute__((noinline)) static int thrower(int i)
{
    if (i % 3 == 0)
        throw std::runtime_error("error number " + std::to_string(i));
    if (i % 3 == 1)
        throw i;
    return i;
}

int main()
{
    keep_big = make_big();
    keep_array = make_array();
    keep_aligned = make_aligned();
    make_vector();
    std::printf("aligned: %d\n", (int)(reinterpret_cast<std::uintptr_t>(keep_aligned) % 128 == 0));

    for (int i = 0; i < 1000; i++) {
        Big *b = new Big;
        char *a = new char[100 + i];
        delete b;
        delete[] a;
        Aligned *al = new Aligned[3];
        delete[] al;
    }

    long caught_runtime = 0, caught_int = 0, sum = 0;
    for (int i = 0; i < 3000; i++) {
        try {
            sum += thrower(i);
        } catch (const std::runtime_error &e) {
            caught_runtime += std::string(e.what()).size() > 13;
        } catch (int v) {
            caught_int += v == i;
        }
    }
    std::printf("caught runtime_error %ld, int %ld, sum %ld\n", caught_runtime, caught_int, sum);

    volatile std::size_t huge = SIZE_MAX / 4;
    // four threads throwing at once: allocation hooks and the host's
    // unwinder interleave
    std::atomic<long> caught_threads{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([t, &caught_threads] {
            for (int i = 0; i < 2000; i++) {
                try {
                    if (i % 2)
                        throw std::runtime_error(std::string(40 + t, 'x'));
                    throw i;
                } catch (const std::exception &) {
                    caught_threads++;
                } catch (int) {
                    caught_threads++;
                }
            }
        });
    for (auto &th : threads)
        th.join();
    std::printf("caught in threads %ld\n", caught_threads.load());

    char *nothrow = new (std::nothrow) char[huge];
    std::printf("nothrow huge: %s\n", nothrow ? "ptr" : "nullptr");
    try {
        std::vector<char> v;
        v.reserve(v.max_size());
        std::printf("huge reserve: no exception\n");
    } catch (const std::bad_alloc &) {
        std::printf("huge reserve: bad_alloc\n");
    } catch (const std::length_error &) {
        std::printf("huge reserve: length_error\n");
    }
    try {
        char *p = new char[huge];
        std::printf("huge new: %p\n", (void *)p);
    } catch (const std::bad_alloc &e) {
        std::printf("huge new: bad_alloc\n");
    }
    std::set_new_handler(new_handler);
    try {
        char *p = new char[huge];
        std::printf("new with handler: %p\n", (void *)p);
    } catch (const std::bad_alloc &e) {
        std::printf("new with handler: bad_alloc after %d handler calls\n", handler_calls);
    }
    return 0;
}
