#include "dedupe/byte_spread.h"

#include <cstdint>

namespace layerdisk {

namespace {

constexpr size_t kSamples = 1024;

// The sum over byte values of the squared sample count: for random bytes
// its mean is n + n(n-1)/256 = 5116 and its deviation about 90, and it
// grows with skew (text and code reach 10,000 and more). The bound sits
// six deviations above the mean, so random data is almost never refused
// the shortcut; 16,384 random blocks peaked at 5,582.
constexpr uint32_t kEvenSpreadBound = 5700;

}  // namespace

bool LooksIncompressible(std::string_view data) {
  if (data.size() < 4096) return false;
  const size_t stride = data.size() / kSamples;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  // Four tables, so consecutive samples do not wait on one counter.
  uint16_t counts[4][256] = {};
  for (size_t i = 0; i < kSamples; i += 4) {
    ++counts[0][bytes[i * stride]];
    ++counts[1][bytes[(i + 1) * stride]];
    ++counts[2][bytes[(i + 2) * stride]];
    ++counts[3][bytes[(i + 3) * stride]];
  }
  uint32_t sum_of_squares = 0;
  for (int b = 0; b < 256; ++b) {
    const uint32_t c = counts[0][b] + counts[1][b] + counts[2][b] + counts[3][b];
    sum_of_squares += c * c;
  }
  return sum_of_squares < kEvenSpreadBound;
}

}  // namespace layerdisk
