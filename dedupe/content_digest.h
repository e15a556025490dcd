// ContentDigest: an image's identity at the cost of its data, not of its
// virtual size. A plain SHA-256 of a sparse 100 GiB gold image hashes every
// byte of its holes (~50 s of a core) where the import itself reads only the
// data; this digest instead hashes, block by block in order, each data
// block's chunk name (the SHA-256 the import computes anyway) or the length
// of each run of all-zero blocks. Still collision-resistant: equal digests
// mean equal bytes (docs/format-store.md, "Content digest").
//
// Spelled "blocks-<block size>:<64 hex digits>": digests with different
// block sizes differ for the same bytes, and say so.
//
// Not thread-safe.
#ifndef LAYERDISK_DEDUPE_CONTENT_DIGEST_H_
#define LAYERDISK_DEDUPE_CONTENT_DIGEST_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "dedupe/chunk_name.h"
#include "dedupe/content_hash.h"

namespace layerdisk {

// `bytes` rounded up to whole 512-byte sectors: the size of the layer an
// image of `bytes` bytes becomes.
inline uint64_t WholeSectors(uint64_t bytes) { return (bytes + 511) / 512 * 512; }

class ContentDigest {
 public:
  // An image of `image_size` bytes in blocks of `block_size`. The size
  // counts whole 512-byte sectors and the last block is zero-padded, as the
  // layer made from the image reads: a layer's digest follows from its map
  // and size alone (layers/map_digest.h).
  ContentDigest(uint64_t image_size, uint32_t block_size);

  // The next block holds data named `name`.
  void AddBlock(const ChunkName& name);
  // The next `count` blocks read as zeroes (holes or zero bytes alike).
  void AddZeroBlocks(uint64_t count);
  // Adds zero blocks up to block `block` (blocks an import did not read).
  void ZeroUpTo(uint64_t block) {
    if (block > blocks_) AddZeroBlocks(block - blocks_);
  }
  // Blocks added so far, and the image's blocks in all.
  uint64_t blocks() const { return blocks_; }
  uint64_t total_blocks() const { return total_blocks_; }
  // The digest, with the blocks not added counted as zeroes. Ends it.
  std::string Text();

 private:
  void EndZeroRun();

  const uint64_t total_blocks_;
  const uint32_t block_size_;
  ContentHasher hasher_;
  uint64_t blocks_ = 0;
  uint64_t zero_run_ = 0;  // zero blocks not yet hashed
};

// Whether `text` is spelled as ContentDigest::Text spells a digest.
bool IsContentDigestText(std::string_view text);

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_CONTENT_DIGEST_H_
