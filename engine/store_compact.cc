// Stack compaction: every snapshot or clone adds a layer to a volume's
// stack. Two adjacent anonymous sealed layers A, B that appear only
// together (every stack holding A has B right above it, and the other way
// round) are merged into one layer M, replacing "A, B" with "M" in every
// stack. Merging moves chunk names, not data, and a snapshot reads exactly
// as before. Snapshot deletion plus compaction keeps stacks short.
#include <algorithm>
#include <set>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"
#include "layers/layer_writer.h"
#include "layers/sealed_layer.h"

namespace layerdisk {
namespace {

using Stacks = std::vector<std::vector<uint64_t>*>;

// Whether A and B only ever appear as the adjacent pair "A, B".
bool AlwaysTogether(const Stacks& stacks, uint64_t a, uint64_t b) {
  bool seen = false;
  for (const std::vector<uint64_t>* s : stacks) {
    for (size_t i = 0; i < s->size(); ++i) {
      if ((*s)[i] == a && (i + 1 >= s->size() || (*s)[i + 1] != b)) return false;
      if ((*s)[i] == b && (i == 0 || (*s)[i - 1] != a)) return false;
      seen |= (*s)[i] == a;
    }
  }
  return seen;
}

// Replaces "A, B" with "M"; true if it did.
bool ReplacePair(std::vector<uint64_t>* s, uint64_t a, uint64_t b, uint64_t m) {
  for (size_t i = 0; i + 1 < s->size(); ++i) {
    if ((*s)[i] == a && (*s)[i + 1] == b) {
      (*s)[i] = m;
      s->erase(s->begin() + i + 1);
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<bool> StoreImpl::CompactOnePair() {
  uint64_t a = 0, b = 0;
  std::shared_ptr<const SealedLayer> lower, upper;
  LayerRecord merged;
  {
    absl::MutexLock lock(&mu_);
    CatalogReader reader = catalog();
    ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, reader.AllLayers());
    ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, reader.AllVolumes());
    ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, reader.Snapshots(std::nullopt));
    if (!reader.damaged().empty()) return false;  // cannot see every stack
    std::set<uint64_t> mergeable;
    for (const LayerRecord& l : layers)
      if (l.name.empty() && l.kind == LayerKind::kSealed && l.state == LayerState::kLive)
        mergeable.insert(l.id);
    Stacks stacks;
    for (auto& v : volumes) stacks.push_back(&v.stack);
    for (auto& s : snaps) stacks.push_back(&s.stack);
    for (const VolumeRecord& v : volumes) {
      for (size_t i = v.base_count; i + 1 < v.stack.size() && a == 0; ++i) {
        if (mergeable.count(v.stack[i]) && mergeable.count(v.stack[i + 1]) &&
            AlwaysTogether(stacks, v.stack[i], v.stack[i + 1])) {
          a = v.stack[i];
          b = v.stack[i + 1];
          merged.size = v.size;
        }
      }
    }
    if (a == 0) return false;
    ASSIGN_OR_RETURN(auto va, LoadLayer(a));
    ASSIGN_OR_RETURN(auto vb, LoadLayer(b));
    lower = std::dynamic_pointer_cast<const SealedLayer>(va);
    upper = std::dynamic_pointer_cast<const SealedLayer>(vb);
    if (!lower || !upper || !lower->damaged().empty() || !upper->damaged().empty())
      return false;  // fsck reports damage; merging would spread it
    rocksdb::WriteBatch batch;
    merged.id = AllocateId(&batch);
    merged.kind = LayerKind::kSealed;
    merged.state = LayerState::kWriting;
    merged.created_unix = NowUnix();
    merged.source = absl::StrFormat("merge:%d+%d", a, b);
    batch.Put(LayerKey(merged.id), EncodeLayer(merged));
    RETURN_IF_ERROR(Commit(&batch));
  }
  LayerWriter writer(db_.get(), maps_, chunks_.get(), merged.id, chunk_size());
  std::set<uint64_t> segments;
  for (const auto* l : {lower.get(), upper.get()})
    l->ForEachSegment([&](uint64_t seg, const BlockStates&) { segments.insert(seg); });
  absl::Status s;
  for (uint64_t seg : segments) {
    for (uint32_t i = 0; i < kSegmentBlocks && s.ok(); ++i) {
      uint64_t block = seg * kSegmentBlocks + i;
      const SealedLayer* from = upper->Kind(block) != BlockKind::kAbsent ? upper.get() : lower.get();
      BlockKind k = from->Kind(block);
      if (k == BlockKind::kZero) s = writer.AddZero(block);
      if (k == BlockKind::kData) s = writer.AddName(block, *from->NameOf(block));
    }
    if (!s.ok()) break;
  }
  absl::MutexLock lock(&mu_);
  if (s.ok()) {
    // Stacks may have changed while merging: recheck, then swap atomically.
    CatalogReader reader = catalog();
    ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, reader.AllVolumes());
    ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, reader.Snapshots(std::nullopt));
    Stacks stacks;
    for (auto& v : volumes) stacks.push_back(&v.stack);
    for (auto& sn : snaps) stacks.push_back(&sn.stack);
    if (reader.damaged().empty() && AlwaysTogether(stacks, a, b)) {
      merged.state = LayerState::kLive;
      merged.data_blocks = writer.data_blocks();
      s = writer.Finish([&](rocksdb::WriteBatch* batch) {
        batch->Put(LayerKey(merged.id), EncodeLayer(merged));
        for (auto& v : volumes)
          if (ReplacePair(&v.stack, a, b, merged.id)) batch->Put(VolumeKey(v.name), EncodeVolume(v));
        for (auto& sn : snaps)
          if (ReplacePair(&sn.stack, a, b, merged.id))
            batch->Put(SnapshotKey(sn.volume, sn.name), EncodeSnapshot(sn));
      });
      // A and B are now unreferenced; open volumes keep their loaded maps,
      // whose chunks M references too.
      if (s.ok()) RETURN_IF_ERROR(DropUnreferencedLayers());
      if (s.ok()) return true;
    }
  }
  merged.state = LayerState::kDeleting;
  rocksdb::WriteBatch batch;
  batch.Put(LayerKey(merged.id), EncodeLayer(merged));
  if (Commit(&batch).ok()) Enqueue(TaskKind::kDelete, merged.id);
  RETURN_IF_ERROR(s);
  return false;
}

absl::Status StoreImpl::CompactStacks() {
  while (true) {
    ASSIGN_OR_RETURN(bool merged, CompactOnePair());
    if (!merged) return absl::OkStatus();
  }
}

}  // namespace layerdisk
