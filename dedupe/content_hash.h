// ContentHasher: SHA-256 of a stream of bytes, such as a disk image as an
// import reads it. Runs of zeroes the reader skipped (holes) can be fed
// without a buffer of them.
//
// Not thread-safe.
#ifndef LAYERDISK_DEDUPE_CONTENT_HASH_H_
#define LAYERDISK_DEDUPE_CONTENT_HASH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace layerdisk {

class ContentHasher {
 public:
  ContentHasher();
  ~ContentHasher();
  ContentHasher(const ContentHasher&) = delete;
  ContentHasher& operator=(const ContentHasher&) = delete;

  void Update(std::string_view data);
  void UpdateZeroes(uint64_t count);
  // The digest as 64 lowercase hex digits. Ends the stream.
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_CONTENT_HASH_H_
