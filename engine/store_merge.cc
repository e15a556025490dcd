// Merge and flatten: a stack of layers collapsed into one sealed layer.
// Sealed layers name their chunks, so the new layer's map reuses those
// names and counts one more reference to each: it costs metadata, not data.
// Blocks still in a head are sealed first (frozen and chunked as any
// snapshot's head is), and a block composed of layers that end inside it is
// the one case whose bytes are read and stored.
#include <algorithm>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"
#include "layers/sealed_layer.h"

namespace layerdisk {
namespace {

// The layer a stack collapses into.
struct ComposedLayer {
  uint64_t size = 0;
  // Whether it hides everything below it within its size (its missing
  // blocks read as zero), as a whole disk does.
  bool opaque = false;
  // For a layer that is not opaque: blocks [0, hidden_blocks) that an opaque
  // layer of the stack hides from what lies below, where no layer has data.
  // They become zero markers.
  uint64_t hidden_blocks = 0;
};

// Writes the map of `target` reading as `stack`, in ascending block order.
absl::Status WriteComposedMap(const std::shared_ptr<const Stack>& stack,
                              const ComposedLayer& target, uint32_t bs,
                              LayerWriter* writer) {
  std::set<uint64_t> segments;
  for (const auto& layer : stack->layers())
    layer->ForEachSegment([&](uint64_t seg, const BlockStates&) { segments.insert(seg); });
  if (!target.opaque)
    for (uint64_t seg = 0; seg * kSegmentBlocks < target.hidden_blocks; ++seg)
      segments.insert(seg);
  Volume reader("composed stack", target.size, bs, stack, nullptr);
  const uint64_t blocks = (target.size + bs - 1) / bs;
  std::string buf;
  for (uint64_t seg : segments) {
    for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
      const uint64_t block = seg * kSegmentBlocks + i;
      if (block >= blocks) break;
      const LayerView* layer = stack->Find(block);
      if (layer == nullptr) {
        if (!target.opaque && block < target.hidden_blocks)
          RETURN_IF_ERROR(writer->AddZero(block));
        continue;
      }
      if (layer->size() < std::min(target.size, (block + 1) * bs)) {
        // The layer ends inside the block: its bytes past that end come from
        // the layers below, so this block's content exists in no chunk yet.
        buf.assign(bs, '\0');
        const uint64_t len = std::min<uint64_t>(bs, target.size - block * bs);
        RETURN_IF_ERROR(reader.Read(block * bs, absl::MakeSpan(buf.data(), len)));
        if (buf.find_first_not_of('\0') != std::string::npos) {
          RETURN_IF_ERROR(writer->AddData(block, buf));
        } else if (!target.opaque) {
          RETURN_IF_ERROR(writer->AddZero(block));
        }
        continue;
      }
      const BlockKind kind = layer->Kind(block);
      if (kind == BlockKind::kData) {
        const auto* sealed = dynamic_cast<const SealedLayer*>(layer);
        const ChunkName* name = sealed ? sealed->NameOf(block) : nullptr;
        if (name == nullptr)
          return absl::DataLossError(absl::StrFormat(
              "block %d of layer %d is damaged; fsck for details", block, layer->id()));
        RETURN_IF_ERROR(writer->AddName(block, *name));
      } else if (!target.opaque && (kind == BlockKind::kZero || layer->opaque())) {
        // A zero marker, or an opaque layer's hole: zeroes that hide below.
        RETURN_IF_ERROR(writer->AddZero(block));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LayerRecord> StoreImpl::BeginNewLayer(const std::string& name,
                                                     uint64_t size,
                                                     const std::string& source,
                                                     const std::string& description) {
  RETURN_IF_ERROR(ValidateName("layer", name));
  RETURN_IF_ERROR(ValidateDescription(description));
  if (catalog().LayerIdByName(name).ok() || importing_.count(name))
    return absl::AlreadyExistsError(absl::StrFormat("layer '%s' already exists", name));
  LayerRecord rec;
  rocksdb::WriteBatch batch;
  rec.id = AllocateId(&batch);
  rec.name = name;
  rec.kind = LayerKind::kSealed;
  rec.state = LayerState::kWriting;
  rec.size = size;
  rec.created_unix = NowUnix();
  rec.source = source;
  rec.description = description;
  batch.Put(LayerKey(rec.id), EncodeLayer(rec));
  RETURN_IF_ERROR(Commit(&batch));
  importing_.insert(name);
  return rec;
}

absl::StatusOr<LayerInfo> StoreImpl::FinishNewLayer(LayerRecord rec, LayerWriter* writer,
                                                    absl::Status status) {
  importing_.erase(rec.name);
  if (status.ok()) {
    rec.state = LayerState::kLive;
    rec.data_blocks = writer->data_blocks();
    status = writer->Finish([&](rocksdb::WriteBatch* batch) {
      batch->Put(LayerKey(rec.id), EncodeLayer(rec));
      batch->Put(LayerNameKey(rec.name), EncodeId(rec.id));
    });
  }
  if (!status.ok()) {
    // Nothing of it stays: its partial map goes in the background (and on
    // the next open if we crash first).
    rec.state = LayerState::kDeleting;
    rocksdb::WriteBatch batch;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
    if (Commit(&batch).ok()) Enqueue(TaskKind::kDelete, rec.id);
    return status;
  }
  return DescribeLayer(rec);
}

absl::StatusOr<LayerInfo> StoreImpl::MergeLayersHere(const std::string& name,
                                                 const std::vector<std::string>& layers,
                                                 const std::string& description) {
  if (layers.empty())
    return absl::InvalidArgumentError(absl::StrFormat(
        "merging into layer '%s' needs at least one layer", name));
  std::shared_ptr<const Stack> stack;
  ComposedLayer target;
  LayerRecord rec;
  {
    absl::MutexLock lock(&mu_);
    std::vector<LayerRecord> recs;
    std::vector<uint64_t> ids;
    for (const std::string& layer : layers) {
      ASSIGN_OR_RETURN(LayerRecord r, FindNamedLayer(layer));
      if (std::count(ids.begin(), ids.end(), r.id))
        return absl::InvalidArgumentError(absl::StrFormat(
            "layer '%s' is listed twice", layer));
      ids.push_back(r.id);
      recs.push_back(std::move(r));
    }
    ASSIGN_OR_RETURN(stack, BuildStack(ids));
    // One store has one chunk size today; layers brought from elsewhere
    // would have to match it, and a map cannot mix granularities.
    const uint32_t bs = chunk_size();
    for (size_t i = 0; i < recs.size(); ++i)
      if (stack->layers()[i]->block_size() != bs)
        return absl::InvalidArgumentError(absl::StrFormat(
            "layer '%s' has %d-byte chunks, not the store's %d; layers of different "
            "chunk sizes cannot merge", recs[i].name, stack->layers()[i]->block_size(), bs));
    for (const LayerRecord& r : recs) target.size = std::max(target.size, r.size);
    for (const LayerRecord& r : recs) {
      // A layer ending inside a block lets the layers under the merged one
      // show through part of it, which one map cannot say.
      if (r.size != target.size && r.size % bs != 0)
        return absl::InvalidArgumentError(absl::StrFormat(
            "layer '%s' (%d bytes) ends inside a %d-byte chunk; layers of different "
            "sizes merge only when each ends on a chunk boundary", r.name, r.size, bs));
      if (!r.opaque) continue;
      target.opaque |= r.size == target.size;
      target.hidden_blocks = std::max(target.hidden_blocks, r.size / bs);
    }
    ASSIGN_OR_RETURN(rec, BeginNewLayer(name, target.size,
                                        "merge:" + absl::StrJoin(layers, ","), description));
    rec.opaque = target.opaque;
    // Captured on what its lowest layers were captured on.
    for (const LayerRecord& r : recs)
      for (uint64_t id : r.base)
        if (!std::count(ids.begin(), ids.end(), id) &&
            !std::count(rec.base.begin(), rec.base.end(), id))
          rec.base.push_back(id);
  }
  LayerWriter writer(db_.get(), maps_, chunks_.get(), rec.id, chunk_size());
  absl::Status s = WriteComposedMap(stack, target, chunk_size(), &writer);
  absl::MutexLock lock(&mu_);
  return FinishNewLayer(std::move(rec), &writer, s);
}

absl::StatusOr<LayerInfo> StoreImpl::FlattenVolumeHere(const std::string& name,
                                                   const std::string& volume,
                                                   const std::optional<std::string>& snapshot,
                                                   const std::string& description) {
  LayerRecord rec;
  ComposedLayer target;
  target.opaque = true;  // a volume reads zeroes wherever no layer has data
  {
    absl::MutexLock lock(&mu_);
    RETURN_IF_ERROR(ValidateName("layer", name));
    RETURN_IF_ERROR(ValidateDescription(description));
    if (catalog().LayerIdByName(name).ok() || importing_.count(name))
      return absl::AlreadyExistsError(absl::StrFormat("layer '%s' already exists", name));
    ASSIGN_OR_RETURN(VolumeRecord vol, FindVolume(volume));
    if (snapshot) {
      RETURN_IF_ERROR(FindSnapshot(volume, *snapshot).status());
    } else {
      // Its head's blocks are chunked by sealing it, as a snapshot's are.
      RETURN_IF_ERROR(FreezeHead(&vol, nullptr));
    }
    target.size = vol.size;
    ASSIGN_OR_RETURN(rec, BeginNewLayer(name, vol.size,
                                        "flatten:" + volume + (snapshot ? "@" + *snapshot : ""),
                                        description));
    rec.opaque = true;
  }
  absl::Status s = WaitForBackgroundWork();
  std::shared_ptr<const Stack> stack;
  if (s.ok()) {
    // Read the stack only now: compaction may have merged its layers while
    // they were sealed. The loaded maps stay valid whatever happens next.
    absl::MutexLock lock(&mu_);
    std::vector<uint64_t> ids;
    if (snapshot) {
      absl::StatusOr<SnapshotRecord> snap = FindSnapshot(volume, *snapshot);
      if (snap.ok()) ids = snap->stack;
      s = snap.status();
    } else {
      absl::StatusOr<VolumeRecord> vol = FindVolume(volume);
      if (vol.ok()) ids = vol->stack;
      s = vol.status();
    }
    absl::StatusOr<std::shared_ptr<const Stack>> built =
        s.ok() ? BuildStack(ids) : absl::StatusOr<std::shared_ptr<const Stack>>(s);
    if (built.ok()) {
      stack = *std::move(built);
      for (const auto& layer : stack->layers())
        if (!dynamic_cast<const SealedLayer*>(layer.get()))
          s = absl::InternalError("a frozen head is still unsealed");
    } else {
      s = built.status();
    }
  }
  LayerWriter writer(db_.get(), maps_, chunks_.get(), rec.id, chunk_size());
  if (s.ok()) s = WriteComposedMap(stack, target, chunk_size(), &writer);
  absl::MutexLock lock(&mu_);
  return FinishNewLayer(std::move(rec), &writer, s);
}

}  // namespace layerdisk
