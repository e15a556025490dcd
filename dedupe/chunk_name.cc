#include "dedupe/chunk_name.h"

#include <openssl/evp.h>

namespace layerdisk {
namespace {

// OpenSSL 3's one-shot SHA256() fetches the algorithm and allocates a
// context on every call, which costs more than hashing a 4 KiB chunk with
// SHA-NI. The algorithm is fetched once and each thread reuses one context.
const EVP_MD* Sha256Algorithm() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~DigestContext() { EVP_MD_CTX_free(ctx); }
};

}  // namespace

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
  thread_local DigestContext context;
  ChunkName name;
  unsigned int length = 0;
  EVP_DigestInit_ex2(context.ctx, Sha256Algorithm(), nullptr);
  EVP_DigestUpdate(context.ctx, data.data(), data.size());
  EVP_DigestFinal_ex(context.ctx, name.bytes.data(), &length);
  return name;
}

}  // namespace layerdisk
