#include "dedupe/chunk_name.h"

#include <openssl/sha.h>

namespace layerdisk {

std::string ChunkName::Hex() const {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * kChunkNameSize);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::optional<ChunkName> ChunkName::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kChunkNameSize) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  ChunkName name;
  for (size_t i = 0; i < kChunkNameSize; ++i) {
    int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    name.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return name;
}

ChunkName NameChunk(std::string_view data) {
  ChunkName name;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         name.bytes.data());
  return name;
}

}  // namespace layerdisk
