// shim_stackcache_cxx.cc - C++ exceptions unwinding through frames whose
// stacks the shim caches: objects allocated at each level, exceptions
// thrown from different depths and caught at others, then allocation from
// the same depths again. Built with -O2; run by shim_stackcache.sh with
// TRACEMEM_VERIFY_STACKS=1.
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static volatile unsigned long sink;

struct Node {
    std::string name;
    std::vector<int> v;
    explicit Node(int i) : name(32 + (i & 15), 'x'), v(static_cast<size_t>(i & 31) + 1, i) {}
};

__attribute__((noinline)) static std::unique_ptr<Node> make(int i)
{
    return std::make_unique<Node>(i);
}

__attribute__((noinline)) static int dive(int d, int throw_at, std::vector<std::unique_ptr<Node>> &keep)
{
    auto n = make(d * 7 + throw_at);
    if (d == throw_at) {
        if (d & 1)
            throw std::runtime_error(std::string(40 + d, 'e'));
        throw d;
    }
    int r = d ? dive(d - 1, throw_at, keep) : 0;
    if ((d & 3) == 0)
        keep.push_back(std::move(n));
    return r + static_cast<int>(n ? n->v.size() : 0);
}

static long run(int rounds)
{
    long caught = 0;
    std::vector<std::unique_ptr<Node>> keep;
    for (int r = 0; r < rounds; r++) {
        for (int t = -1; t < 12; t++) {
            try {
                sink += static_cast<unsigned long>(dive(11, t, keep));
            } catch (const std::runtime_error &e) {
                caught += static_cast<long>(e.what()[0] == 'e');
            } catch (int) {
                caught++;
            }
            auto again = make(t + 100);
            sink += again->v.size();
            if (keep.size() > 64)
                keep.clear();
        }
    }
    return caught;
}

int main()
{
    long c = run(300);
    long ct[2] = {0, 0};
    std::thread a([&] { ct[0] = run(100); }), b([&] { ct[1] = run(100); });
    a.join();
    b.join();
    std::printf("caught %ld %ld %ld\n", c, ct[0], ct[1]);
    return 0;
}
