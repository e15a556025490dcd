#include "dedupe/content_digest.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/coding.h"

namespace layerdisk {
namespace {

constexpr char kHeader[] = "layerdisk content digest 1";
constexpr char kDataTag = 'D';
constexpr char kZeroTag = 'Z';

}  // namespace

ContentDigest::ContentDigest(uint64_t image_size, uint32_t block_size)
    : total_blocks_((WholeSectors(image_size) + block_size - 1) / block_size),
      block_size_(block_size) {
  std::string header(kHeader, sizeof(kHeader) - 1);
  PutFixed64(&header, WholeSectors(image_size));
  PutFixed32(&header, block_size);
  hasher_.Update(header);
}

void ContentDigest::EndZeroRun() {
  if (zero_run_ == 0) return;
  std::string entry(1, kZeroTag);
  PutFixed64(&entry, zero_run_);
  hasher_.Update(entry);
  zero_run_ = 0;
}

void ContentDigest::AddBlock(const ChunkName& name) {
  EndZeroRun();
  char entry[1 + kChunkNameSize];
  entry[0] = kDataTag;
  std::memcpy(entry + 1, name.bytes.data(), kChunkNameSize);
  hasher_.Update(std::string_view(entry, sizeof(entry)));
  ++blocks_;
}

void ContentDigest::AddZeroBlocks(uint64_t count) {
  zero_run_ += count;
  blocks_ += count;
}

bool IsContentDigestText(std::string_view text) {
  constexpr std::string_view kPrefix = "blocks-";
  const size_t colon = text.find(':');
  if (text.substr(0, kPrefix.size()) != kPrefix || colon == std::string_view::npos) return false;
  const std::string_view size = text.substr(kPrefix.size(), colon - kPrefix.size());
  // A block size in canonical decimal: 1 to 10 digits, no leading zero.
  if (size.empty() || size.size() > 10 || size[0] == '0' ||
      size.find_first_not_of("0123456789") != std::string_view::npos)
    return false;
  return ChunkName::FromHex(text.substr(colon + 1)).has_value();
}

std::string ContentDigest::Text() {
  if (blocks_ < total_blocks_) AddZeroBlocks(total_blocks_ - blocks_);
  EndZeroRun();
  return absl::StrCat("blocks-", block_size_, ":", hasher_.HexDigest());
}

}  // namespace layerdisk
