// leaky.cc - a leak through standard containers and a cache that only grows.
// Build: g++ -g -O0 -fno-omit-frame-pointer -o leaky leaky.cc
#include <cstdlib>
#include <map>
#include <string>
#include <vector>
#include <unistd.h>

struct Session {
    std::vector<char> buffer;
    std::string name;
};

static std::map<int, std::string> cache;    // never evicted

static Session *open_session(int id)
{
    Session *s = new Session;
    s->buffer.resize(4096);
    s->name = "session " + std::to_string(id) + " of the leaky example";
    return s;
}

static void handle_request(int id)
{
    Session *s = open_session(id);
    if (id % 10 == 0)
        return;                              // bug: this path forgets the delete
    delete s;
}

static void remember(int id)
{
    cache[id] = std::string(1000, 'x');      // bug: the cache has no bound
}

int main(int argc, char **argv)
{
    int requests = argc > 1 ? atoi(argv[1]) : 50;
    for (int id = 0; id < requests; id++) {
        handle_request(id);
        remember(id);
        usleep(20000);                       // 20 ms per request
    }
    return 0;
}
