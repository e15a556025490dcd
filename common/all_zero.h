// AllZero: whether every byte of a buffer is zero (import and export skip
// such blocks; they read as holes).
#ifndef LAYERDISK_COMMON_ALL_ZERO_H_
#define LAYERDISK_COMMON_ALL_ZERO_H_

#include <cstring>
#include <string_view>

namespace layerdisk {

inline bool AllZero(std::string_view bytes) {
  // Compare against itself shifted by one: the library memcmp is vectorized.
  return bytes.empty() ||
         (bytes[0] == 0 && std::memcmp(bytes.data(), bytes.data() + 1, bytes.size() - 1) == 0);
}

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_ALL_ZERO_H_
