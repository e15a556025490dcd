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

ChunkName NameChunk(std::string_view data) {
  ChunkName name;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         name.bytes.data());
  return name;
}

}  // namespace layerdisk
