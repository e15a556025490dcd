#include "engine/layer_compare.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "common/status_macros.h"
#include "dedupe/chunk_name.h"

namespace layerdisk {
namespace {

// Segments holding any block of `layer`, plus the one of its partial last
// block, which shows the layers below past its end.
void AddSegments(const LayerView& layer, std::set<uint64_t>* out) {
  layer.ForEachSegment([out](uint64_t segment, const BlockStates&) { out->insert(segment); });
  if (layer.size() % layer.block_size() != 0)
    out->insert(layer.size() / layer.block_size() / kSegmentBlocks);
}

// Reads block `block` of `device` into `out` (one block), zeroes past its end.
absl::Status ReadBlock(BlockDevice& device, uint64_t block, absl::Span<char> out,
                       uint64_t* bytes_read) {
  std::memset(out.data(), 0, out.size());
  const uint64_t start = block * out.size();
  if (start >= device.size()) return absl::OkStatus();
  uint64_t n = std::min<uint64_t>(out.size(), device.size() - start);
  *bytes_read += n;
  return device.Read(start, out.subspan(0, n));
}

class BlockComparer {
 public:
  BlockComparer(const Composition& from, BlockDevice& from_device, const Composition& to,
                BlockDevice& to_device)
      : from_(from), to_(to), from_device_(from_device), to_device_(to_device),
        bs_(from.block_size),
        shorter_(std::min(from.size, to.size)),
        zero_name_(NameChunk(std::string(bs_, '\0'))),
        a_(bs_, '\0'), b_(bs_, '\0') {}

  absl::StatusOr<bool> Same(uint64_t block, uint64_t* bytes_read) {
    // A block past (or across) the shorter device's end: only bytes tell.
    if ((block + 1) * bs_ > shorter_) return SameBytes(block, bytes_read);
    ResolvedBlock ra = from_.Resolve(block), rb = to_.Resolve(block);
    if (ra.composed || rb.composed) return SameBytes(block, bytes_read);
    // One layer (the same id: sealing and compaction keep an id's content)
    // serving both sides in the same way.
    if (ra.layer != nullptr && rb.layer != nullptr && ra.layer->id() == rb.layer->id() &&
        ra.kind == rb.kind)
      return true;
    // An opaque layer's unmapped block (found only as a partial tail, which
    // `composed` caught) and zero markers read as zeroes, like holes.
    const bool za = ra.layer == nullptr || ra.kind != BlockKind::kData;
    const bool zb = rb.layer == nullptr || rb.kind != BlockKind::kData;
    if (za && zb) return true;
    const ChunkName* na = za ? &zero_name_ : ChunkNameOf(ra.layer, block);
    const ChunkName* nb = zb ? &zero_name_ : ChunkNameOf(rb.layer, block);
    if (na != nullptr && nb != nullptr) return *na == *nb;
    return SameBytes(block, bytes_read);
  }

 private:
  absl::StatusOr<bool> SameBytes(uint64_t block, uint64_t* bytes_read) {
    RETURN_IF_ERROR(ReadBlock(from_device_, block, absl::MakeSpan(a_), bytes_read));
    RETURN_IF_ERROR(ReadBlock(to_device_, block, absl::MakeSpan(b_), bytes_read));
    return a_ == b_;
  }

  const Composition& from_;
  const Composition& to_;
  BlockDevice& from_device_;
  BlockDevice& to_device_;
  const uint64_t bs_;
  const uint64_t shorter_;
  const ChunkName zero_name_;
  std::string a_, b_;
};

}  // namespace

void AppendRange(std::vector<ByteRange>* ranges, uint64_t offset, uint64_t length) {
  if (length == 0) return;
  if (!ranges->empty() && ranges->back().offset + ranges->back().length == offset) {
    ranges->back().length += length;
  } else {
    ranges->push_back({offset, length});
  }
}

absl::Status DiffCompositions(const Composition& from, BlockDevice& from_device,
                              const Composition& to, BlockDevice& to_device,
                              DiffReport* report) {
  const uint64_t bs = from.block_size;
  report->size = std::max(from.size, to.size);
  // Layers both stacks share from the bottom read the same on both sides,
  // so only segments the others touch can differ: unless an opaque layer
  // above them hides them on one side only, or the sizes differ (then a
  // shared layer's blocks past the shorter end differ from its zeroes).
  std::vector<const LayerView*> la = from.Layers(), lb = to.Layers();
  size_t shared = 0;
  while (shared < la.size() && shared < lb.size() && la[shared]->id() == lb[shared]->id())
    ++shared;
  auto opaque = [](const LayerView* l) { return l->opaque(); };
  if (from.size != to.size || std::any_of(la.begin() + shared, la.end(), opaque) ||
      std::any_of(lb.begin() + shared, lb.end(), opaque))
    shared = 0;
  std::set<uint64_t> segments;
  for (size_t i = shared; i < la.size(); ++i) AddSegments(*la[i], &segments);
  for (size_t i = shared; i < lb.size(); ++i) AddSegments(*lb[i], &segments);

  BlockComparer comparer(from, from_device, to, to_device);
  const uint64_t blocks = (report->size + bs - 1) / bs;
  for (uint64_t segment : segments) {
    uint64_t first = segment * kSegmentBlocks;
    uint64_t end = std::min<uint64_t>(blocks, first + kSegmentBlocks);
    for (uint64_t b = first; b < end; ++b) {
      ASSIGN_OR_RETURN(bool same, comparer.Same(b, &report->bytes_read));
      if (same) continue;
      uint64_t n = std::min<uint64_t>(bs, report->size - b * bs);
      AppendRange(&report->ranges, b * bs, n);
      report->changed_bytes += n;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ByteRange>> ConflictingBytes(const LayerView& first,
                                                        const LayerView& second,
                                                        BlockDevice* base) {
  const uint64_t bs = first.block_size();
  const uint64_t limit = std::min(first.size(), second.size());
  std::map<uint64_t, BlockStates> mine;
  first.ForEachSegment([&](uint64_t s, const BlockStates& st) { mine.emplace(s, st); });
  std::vector<std::pair<uint64_t, BlockStates>> both;
  second.ForEachSegment([&](uint64_t s, const BlockStates& st) {
    if (mine.count(s)) both.emplace_back(s, st);
  });
  std::vector<ByteRange> out;
  std::string a(bs, '\0'), b(bs, '\0'), under(bs, '\0');
  uint64_t unused = 0;
  for (const auto& [segment, theirs] : both) {
    const BlockStates& ours = mine[segment];
    for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
      const uint64_t block = segment * kSegmentBlocks + i;
      const BlockKind ka = ours.Get(i), kb = theirs.Get(i);
      if (ka == BlockKind::kAbsent || kb == BlockKind::kAbsent) continue;
      if (block * bs >= limit) continue;
      if (ka == BlockKind::kZero && kb == BlockKind::kZero) continue;
      if (ka == BlockKind::kData && kb == BlockKind::kData) {
        const ChunkName* na = ChunkNameOf(&first, block);
        const ChunkName* nb = ChunkNameOf(&second, block);
        if (na != nullptr && nb != nullptr && *na == *nb) continue;
      }
      std::memset(a.data(), 0, bs);
      std::memset(b.data(), 0, bs);
      if (ka == BlockKind::kData) RETURN_IF_ERROR(first.ReadData(block, absl::MakeSpan(a)));
      if (kb == BlockKind::kData) RETURN_IF_ERROR(second.ReadData(block, absl::MakeSpan(b)));
      if (base != nullptr) {
        RETURN_IF_ERROR(ReadBlock(*base, block, absl::MakeSpan(under), &unused));
      } else {
        std::memset(under.data(), 0, bs);
      }
      const uint64_t n = std::min<uint64_t>(bs, limit - block * bs);
      for (uint64_t j = 0; j < n; ++j) {
        if (a[j] != under[j] && b[j] != under[j] && a[j] != b[j])
          AppendRange(&out, block * bs + j, 1);
      }
    }
  }
  return out;
}

uint64_t OverlappingBlocks(const LayerView& lower, const LayerView& upper) {
  std::map<uint64_t, BlockStates> below;
  lower.ForEachSegment([&](uint64_t s, const BlockStates& st) { below.emplace(s, st); });
  uint64_t count = 0;
  upper.ForEachSegment([&](uint64_t segment, const BlockStates& above) {
    auto it = below.find(segment);
    if (it == below.end()) return;
    for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
      const BlockKind kl = it->second.Get(i), ku = above.Get(i);
      if (kl == BlockKind::kAbsent || ku == BlockKind::kAbsent) continue;
      if (kl == BlockKind::kZero && ku == BlockKind::kZero) continue;
      if (kl == BlockKind::kData && ku == BlockKind::kData) {
        const uint64_t block = segment * kSegmentBlocks + i;
        const ChunkName* nl = ChunkNameOf(&lower, block);
        const ChunkName* nu = ChunkNameOf(&upper, block);
        if (nl != nullptr && nu != nullptr && *nl == *nu) continue;
      }
      ++count;
    }
  });
  return count;
}

}  // namespace layerdisk
