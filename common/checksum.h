// XXH3-64: the fast checksum stored beside every on-disk record and chunk.
#ifndef LAYERDISK_COMMON_CHECKSUM_H_
#define LAYERDISK_COMMON_CHECKSUM_H_

#include <cstdint>
#include <string_view>

namespace layerdisk {

uint64_t Checksum64(std::string_view bytes, uint64_t seed = 0);

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_CHECKSUM_H_
