// leaks_cxx.cc - a C++ program with threads for comparing the leak scan
// with Valgrind: std::string/vector/map state in globals, objects with
// multiple inheritance kept through a base pointer (an interior pointer
// that Valgrind's multipleinheritance heuristic accepts), leaked objects
// and containers, a thread_local vector, joined threads, and one detached
// thread still blocked when the program exits.
/* The known answers assume every pointer lives where the source puts it,
 * whatever CFLAGS the build passes after ours. */
#pragma GCC optimize("O0")

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct A {
    virtual ~A() {}
    virtual int a() { return 1; }
    long x = 1;
};
struct B {
    virtual ~B() {}
    virtual int b() { return 2; }
    long y = 2;
};
struct C : A, B {
    int a() override { return 3; }
    int b() override { return 4; }
    std::string name = "a string long enough to live on the heap";
};

std::map<std::string, std::vector<int>> g_table;
B *g_base;                 // points inside a C: reachable through the heuristic
static std::mutex mu;
static std::condition_variable cv;
static bool started;
thread_local std::vector<int> t_vec;

static void worker(int id)
{
    t_vec.assign(100, id);
    std::lock_guard<std::mutex> lock(mu);
    g_table["worker " + std::to_string(id) + " with a long enough key"].assign(50, id);
    new std::vector<int>(10, id); // definitely lost
}

static void blocked()
{
    auto *volatile mine = new std::string(200, 'x'); // kept on this thread's stack
    {
        std::lock_guard<std::mutex> lock(mu);
        started = true;
        cv.notify_all();
    }
    for (;;) // not on the condition variable: exit() destroys it
        std::this_thread::sleep_for(std::chrono::hours(1));
    delete mine;
}

int main()
{
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
        ts.emplace_back(worker, i);
    for (auto &t : ts)
        t.join();
    g_base = new C;
    auto *lost = new std::map<int, std::string>; // 1 definite + nodes indirect
    for (int i = 0; i < 5; i++)
        (*lost)[i] = std::string(40, 'a' + i);
    lost = nullptr;
    std::thread(blocked).detach();
    {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [] { return started; });
    }
    std::exit(0);
}
