#include "dedupe/content_hash.h"

#include <openssl/evp.h>

#include <algorithm>

#include "dedupe/chunk_name.h"

namespace layerdisk {

// EVP rather than SHA256_Init: the low-level calls are deprecated in
// OpenSSL 3.
struct ContentHasher::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

ContentHasher::ContentHasher() : state_(std::make_unique<State>()) {
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}

ContentHasher::~ContentHasher() = default;

void ContentHasher::Update(std::string_view data) {
  EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

void ContentHasher::UpdateZeroes(uint64_t count) {
  static const char kZeroes[64 << 10] = {};
  while (count > 0) {
    uint64_t n = std::min<uint64_t>(count, sizeof(kZeroes));
    EVP_DigestUpdate(state_->ctx, kZeroes, n);
    count -= n;
  }
}

std::string ContentHasher::HexDigest() {
  ChunkName digest;  // a SHA-256 like any other; its Hex() spells it
  EVP_DigestFinal_ex(state_->ctx, digest.bytes.data(), nullptr);
  return digest.Hex();
}

}  // namespace layerdisk
