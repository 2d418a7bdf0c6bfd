// tm_cxx.cc - C++ allocation sites with qualified names, for the tracemem
// CLI tests: top --by function must show demangled, qualified names
// (app::Cache::put(int)), attributed to the caller of operator new.
#pragma GCC optimize("O0")
#include <cstddef>
#include <vector>

namespace app
{

struct Node {
    char payload[48];
};

class Cache
{
  public:
    __attribute__((noinline)) void put(int n)
    {
        for (int i = 0; i < n; i++) {
            Node *node = new Node(); // SITE_NEW
            nodes_.push_back(node);
        }
    }

  private:
    std::vector<Node *> nodes_;
};

template <typename T> __attribute__((noinline)) T *make_array(std::size_t n)
{
    return new T[n]; // SITE_TEMPLATE
}

} // namespace app

static app::Cache *cache;
static int *array;

int main()
{
    cache = new app::Cache();
    cache->put(5);
    array = app::make_array<int>(100);
    return 0;
}
