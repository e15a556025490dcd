// Chunk names: SHA-256 of a chunk's uncompressed bytes. Cryptographic
// because guests choose the bytes they write: a forgeable hash would let one
// desktop poison blocks that every desktop sharing a base layer reads.
#ifndef LAYERDISK_DEDUPE_CHUNK_NAME_H_
#define LAYERDISK_DEDUPE_CHUNK_NAME_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/hash/hash.h"

namespace layerdisk {

inline constexpr size_t kChunkNameSize = 32;

struct ChunkName {
  std::array<uint8_t, kChunkNameSize> bytes{};

  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  static ChunkName FromBytes(std::string_view b) {  // REQUIRES: b.size()==32
    ChunkName n;
    std::memcpy(n.bytes.data(), b.data(), kChunkNameSize);
    return n;
  }
  std::string Hex() const;
  // The name spelled by 64 lowercase hex digits (Hex), or nullopt.
  static std::optional<ChunkName> FromHex(std::string_view hex);

  friend bool operator==(const ChunkName& a, const ChunkName& b) {
    return a.bytes == b.bytes;
  }
  template <typename H>
  friend H AbslHashValue(H h, const ChunkName& n) {
    // The name is already uniformly distributed: 8 bytes of it are enough.
    uint64_t prefix;
    std::memcpy(&prefix, n.bytes.data(), sizeof(prefix));
    return H::combine(std::move(h), prefix);
  }
};

// SHA-256 of `data`.
ChunkName NameChunk(std::string_view data);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_CHUNK_NAME_H_
