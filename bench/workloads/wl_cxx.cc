// wl_cxx.cc - C++ container churn: std::map, std::string, std::vector.
//
// Resembles an indexer: words (std::string, most longer than the 15-byte
// small-string buffer, so they allocate) are counted in a std::map of
// postings (std::vector<uint32_t>) that grow by push_back; every few rounds
// the least recently touched half of the index is erased. All allocations
// come through operator new / delete.
//
// Usage: wl_cxx [ROUNDS]   (default 40)
// Prints a checksum of the index.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

uint64_t rng = 0x243f6a8885a308d3ull;

uint64_t next()
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

struct Entry {
    std::vector<uint32_t> postings;
    uint32_t last_round = 0;
};

using Index = std::map<std::string, Entry>;

__attribute__((noinline)) std::string make_word()
{
    // A vocabulary of ~20000 words, 8..40 characters.
    uint64_t id = next() % 20000;
    std::string w = "w";
    uint64_t v = id * 0x9e3779b97f4a7c15ull;
    size_t len = 8 + id % 33;
    while (w.size() < len) {
        w += static_cast<char>('a' + v % 26);
        v = v / 26 + id;
    }
    return w;
}

__attribute__((noinline)) void add_document(Index &index, uint32_t doc, uint32_t round)
{
    int words = 50 + static_cast<int>(next() % 100);
    for (int i = 0; i < words; i++) {
        Entry &e = index[make_word()];
        e.postings.push_back(doc);
        e.last_round = round;
    }
}

__attribute__((noinline)) uint64_t prune(Index &index, uint32_t round)
{
    uint64_t sum = 0;
    for (auto it = index.begin(); it != index.end();) {
        if (it->second.last_round + 2 < round) {
            sum += it->first.size() + it->second.postings.size();
            it = index.erase(it);
        } else {
            ++it;
        }
    }
    return sum;
}

} // namespace

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? std::atol(argv[1]) : 40;
    Index index;
    uint64_t checksum = 0;
    uint32_t doc = 0;
    for (long r = 1; r <= rounds; r++) {
        for (int d = 0; d < 400; d++)
            add_document(index, doc++, static_cast<uint32_t>(r));
        if (r % 3 == 0)
            checksum += prune(index, static_cast<uint32_t>(r));
    }
    for (const auto &kv : index)
        checksum += kv.first.size() * 3 + kv.second.postings.size();
    std::printf("wl_cxx %ld %zu %llu\n", rounds, index.size(), static_cast<unsigned long long>(checksum));
    return 0;
}
