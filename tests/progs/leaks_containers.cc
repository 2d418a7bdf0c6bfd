// leaks_containers.cc - 20 rounds of leaked C++ containers (a list of
// strings, a map of strings, an unordered_map of strings to vectors, an
// object with two bases holding a string and a vector, kept through its
// second base), with malloc churn between the rounds so that glibc hands
// out chunks it merged and cut again. Every round leaks 4 structures:
// Valgrind calls their 4 heads definite and the other 213 blocks of the
// round indirect. A rule that takes a program's pointer for one of glibc's
// old words splits a structure and makes more than 80 definite (a
// std::string's unused inline buffer holds old words of glibc's next to
// the program's pointers); old words glibc left that join two structures
// make fewer.
#pragma GCC optimize("O0")

#include <cstdlib>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

struct A {
    virtual ~A() {}
    long a[3];
};
struct B {
    virtual ~B() {}
    long b[5];
};
struct C : A, B {
    std::string name;
    std::vector<int> v;
};

static void *volatile sink;

static void __attribute__((noinline)) round(int r)
{
    auto *l = new std::list<std::string>;
    for (int i = 0; i < 30; i++)
        l->push_back(std::string(40 + i, 'x'));
    auto *m = new std::map<int, std::string>;
    for (int i = 0; i < 30; i++)
        (*m)[i * 3] = std::string(50, 'y');
    auto *u = new std::unordered_map<std::string, std::vector<long>>;
    for (int i = 0; i < 30; i++)
        (*u)[std::to_string(i) + std::string(30, 'k')] = std::vector<long>(i + 1);
    B *b = new C;
    static_cast<C *>(b)->name = std::string(100, 'n');
    static_cast<C *>(b)->v.resize(50);
    sink = l;
    sink = m;
    sink = u;
    sink = b;
    sink = nullptr;
    std::vector<void *> t;
    for (int i = 0; i < 2000; i++) {
        t.push_back(malloc(16 + (i * 37 + r) % 3000));
        if (i % 3 == 0) {
            free(t[i / 2]);
            t[i / 2] = nullptr;
        }
    }
    for (void *p : t)
        free(p);
}

static void __attribute__((noinline)) scrub(void)
{
    volatile char pad[16384];
    for (unsigned i = 0; i < sizeof(pad); i++)
        pad[i] = 0;
}

int main()
{
    for (int r = 0; r < 20; r++)
        round(r);
    scrub();
    return 0;
}
