// Rebase: a volume's base layers swapped under its head (an OS update under
// a user's desktop). A catalog change in one synced batch plus, for an open
// volume, a stack swap with its I/O paused. Before it, a report of where the
// user's own writes cover blocks whose content the new base changes.
//
// Snapshots are frozen points: each keeps the stack it was taken on (and
// records its base depth), so it reads as before, and a rollback to it
// brings back its old base.
#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"
#include "layers/sealed_layer.h"

namespace layerdisk {
namespace {

// How a base stack serves a block: as zeroes, as a named chunk, or only
// knowable by reading (a block composed of several layers, a damaged one).
struct BlockSource {
  enum Kind { kZero, kChunk, kRead } kind = kZero;
  const ChunkName* name = nullptr;
};

BlockSource Resolve(const Stack& stack, uint64_t block, uint64_t volume_size,
                    uint32_t bs) {
  const LayerView* layer = stack.Find(block);
  if (layer == nullptr) return {};
  if (layer->size() < std::min(volume_size, (block + 1) * bs))
    return {BlockSource::kRead};
  // A zero marker, or the hole of an opaque layer: zeroes either way.
  if (layer->Kind(block) != BlockKind::kData) return {};
  const auto* sealed = dynamic_cast<const SealedLayer*>(layer);
  const ChunkName* name = sealed ? sealed->NameOf(block) : nullptr;
  if (name == nullptr) return {BlockSource::kRead};
  return {BlockSource::kChunk, name};
}

void AddBlock(std::vector<ByteRange>* ranges, uint64_t block, uint32_t bs,
              uint64_t size) {
  uint64_t offset = block * bs;
  uint64_t length = std::min<uint64_t>(bs, size - offset);
  if (!ranges->empty() && ranges->back().offset + ranges->back().length == offset) {
    ranges->back().length += length;
  } else {
    ranges->push_back({offset, length});
  }
}

}  // namespace

absl::Status StoreImpl::CheckRebase(const VolumeRecord& rec,
                                    const std::vector<uint64_t>& base) {
  if (base.empty())
    return absl::InvalidArgumentError(absl::StrFormat(
        "rebasing volume '%s' needs at least one layer", rec.name));
  const size_t above = rec.stack.size() - rec.base_count;
  if (base.size() + above + 1 > kMaxStackDepth)
    return absl::InvalidArgumentError(absl::StrFormat(
        "volume '%s' would have more than %d layers", rec.name, kMaxStackDepth));
  std::set<uint64_t> own(rec.stack.begin() + rec.base_count, rec.stack.end());
  own.insert(rec.head);
  std::set<uint64_t> seen;
  uint64_t old_size = 0, new_size = 0;
  std::vector<std::string> names;
  for (uint64_t id : base) {
    ASSIGN_OR_RETURN(LayerRecord layer, catalog().Layer(id));
    if (!seen.insert(id).second)
      return absl::InvalidArgumentError(absl::StrFormat(
          "layer '%s' appears twice in the stack", layer.name));
    if (own.count(id))
      return absl::InvalidArgumentError(absl::StrFormat(
          "layer %d is volume '%s''s own head or snapshot layer; a volume cannot "
          "be based on itself", id, rec.name));
    if (layer.kind != LayerKind::kSealed || layer.state != LayerState::kLive)
      return absl::FailedPreconditionError(absl::StrFormat(
          "layer '%s' is not a live sealed layer", layer.name));
    new_size = std::max(new_size, layer.size);
    names.push_back(layer.name);
  }
  for (uint32_t i = 0; i < rec.base_count; ++i) {
    ASSIGN_OR_RETURN(LayerRecord layer, catalog().Layer(rec.stack[i]));
    old_size = std::max(old_size, layer.size);
  }
  // The disk's size as the guest knows it stays: a base that ends elsewhere
  // would move where the layers stop and the thin tail begins.
  if (rec.base_count > 0 && new_size != old_size)
    return absl::InvalidArgumentError(absl::StrFormat(
        "layers %s span %d bytes but volume '%s' was built on layers spanning %d; "
        "a rebase keeps the virtual size", absl::StrJoin(names, ","), new_size,
        rec.name, old_size));
  if (new_size > rec.size)
    return absl::InvalidArgumentError(absl::StrFormat(
        "layers %s span %d bytes, more than volume '%s' (%d bytes)",
        absl::StrJoin(names, ","), new_size, rec.name, rec.size));
  return absl::OkStatus();
}

absl::StatusOr<RebaseReport> StoreImpl::PlanRebase(const VolumeRecord& rec,
                                                   const std::vector<uint64_t>& base,
                                                   const std::shared_ptr<Head>& head) {
  RebaseReport report;
  report.volume = rec.name;
  std::vector<std::shared_ptr<const LayerView>> old_views, new_views, above;
  for (uint32_t i = 0; i < rec.stack.size(); ++i) {
    ASSIGN_OR_RETURN(auto view, LoadLayer(rec.stack[i]));
    if (i < rec.base_count) {
      ASSIGN_OR_RETURN(LayerRecord layer, catalog().Layer(rec.stack[i]));
      report.old_layers.push_back(layer.name);
      old_views.push_back(std::move(view));
    } else {
      above.push_back(std::move(view));
    }
  }
  above.push_back(head);
  for (uint64_t id : base) {
    ASSIGN_OR_RETURN(LayerRecord layer, catalog().Layer(id));
    report.new_layers.push_back(layer.name);
    ASSIGN_OR_RETURN(auto view, LoadLayer(id));
    new_views.push_back(std::move(view));
  }
  ASSIGN_OR_RETURN(auto old_stack, Stack::Build(old_views));
  ASSIGN_OR_RETURN(auto new_stack, Stack::Build(new_views));
  ASSIGN_OR_RETURN(auto own, Stack::Build(above));
  // Blocks both bases serve from the same chunk (or as zeroes) are the same;
  // anything else is read from both and compared.
  const uint32_t bs = chunk_size();
  Volume old_reader(rec.name + " (old base)", rec.size, bs, old_stack, nullptr);
  Volume new_reader(rec.name + " (new base)", rec.size, bs, new_stack, nullptr);
  std::set<uint64_t> segments;
  for (const auto& view : above)
    view->ForEachSegment([&](uint64_t seg, const BlockStates&) { segments.insert(seg); });
  const uint64_t blocks = (rec.size + bs - 1) / bs;
  std::string a(bs, '\0'), b(bs, '\0');
  for (uint64_t seg : segments) {
    for (uint32_t i = 0; i < kSegmentBlocks; ++i) {
      const uint64_t block = seg * kSegmentBlocks + i;
      if (block >= blocks) break;
      if (own->Find(block) == nullptr) continue;  // the base shows through
      BlockSource x = Resolve(*old_stack, block, rec.size, bs);
      BlockSource y = Resolve(*new_stack, block, rec.size, bs);
      bool same = (x.kind == BlockSource::kZero && y.kind == BlockSource::kZero) ||
                  (x.kind == BlockSource::kChunk && y.kind == BlockSource::kChunk &&
                   *x.name == *y.name);
      if (!same) {
        const uint64_t len = std::min<uint64_t>(bs, rec.size - block * bs);
        RETURN_IF_ERROR(old_reader.Read(block * bs, absl::MakeSpan(a.data(), len)));
        RETURN_IF_ERROR(new_reader.Read(block * bs, absl::MakeSpan(b.data(), len)));
        same = std::memcmp(a.data(), b.data(), len) == 0;
      }
      if (!same) AddBlock(&report.conflicts, block, bs, rec.size);
    }
  }
  return report;
}

absl::StatusOr<RebaseReport> StoreImpl::RebaseLocked(const std::string& volume,
                                                     const std::vector<uint64_t>& base,
                                                     bool dry_run) {
  ASSIGN_OR_RETURN(VolumeRecord rec, FindVolume(volume));
  RETURN_IF_ERROR(CheckRebase(rec, base));
  std::shared_ptr<Volume> open = OpenVolumeObject(volume);
  RebaseReport report;
  // With the volume's I/O paused the report sees the head exactly as the
  // rebase leaves it.
  auto rebase = [&]() -> absl::Status {
    std::shared_ptr<Head> head;
    if (open) {
      head = open->head_locked();
    } else {
      ASSIGN_OR_RETURN(head, OpenHead(rec.head));
    }
    ASSIGN_OR_RETURN(report, PlanRebase(rec, base, head));
    if (dry_run) return absl::OkStatus();
    VolumeRecord next = rec;
    next.stack = base;
    next.stack.insert(next.stack.end(), rec.stack.begin() + rec.base_count, rec.stack.end());
    next.base_count = static_cast<uint32_t>(base.size());
    // Built before the commit, so that a failure changes nothing.
    std::shared_ptr<const Stack> stack;
    if (open) {
      ASSIGN_OR_RETURN(stack, BuildStack(next.stack));
    }
    rocksdb::WriteBatch batch;
    batch.Put(VolumeKey(volume), EncodeVolume(next));
    // Snapshots from before rebases existed learn the base depth they were
    // taken on, which the volume record no longer tells.
    ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, catalog().Snapshots(volume));
    for (SnapshotRecord& snap : snaps) {
      if (snap.base_count) continue;
      snap.base_count = rec.base_count;
      batch.Put(SnapshotKey(volume, snap.name), EncodeSnapshot(snap));
    }
    RETURN_IF_ERROR(Commit(&batch));
    if (open) open->Install(std::move(stack), head);
    report.applied = true;
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(open ? open->Exclusive(rebase) : rebase());
  return report;
}

absl::StatusOr<RebaseReport> StoreImpl::RebaseVolumeHere(const std::string& volume,
                                                     const std::vector<std::string>& layers,
                                                     bool dry_run) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FindVolume(volume).status());
  std::vector<uint64_t> base;
  for (const std::string& name : layers) {
    ASSIGN_OR_RETURN(LayerRecord layer, FindNamedLayer(name));
    base.push_back(layer.id);
  }
  return RebaseLocked(volume, base, dry_run);
}

absl::StatusOr<std::vector<RebaseReport>> StoreImpl::RebaseAllHere(const std::string& from,
                                                               const std::string& to,
                                                               bool dry_run) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(LayerRecord old_layer, FindNamedLayer(from));
  ASSIGN_OR_RETURN(LayerRecord new_layer, FindNamedLayer(to));
  if (old_layer.id == new_layer.id)
    return absl::InvalidArgumentError(absl::StrFormat(
        "rebasing from layer '%s' onto itself changes nothing", from));
  CatalogReader reader = catalog();
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, reader.AllVolumes());
  if (!reader.damaged().empty())
    return absl::DataLossError(
        "the catalog has damaged records (run fsck); refusing to rebase volumes "
        "that one of them might describe");
  // Every volume is checked before any changes.
  std::vector<std::pair<std::string, std::vector<uint64_t>>> plans;
  for (const VolumeRecord& v : volumes) {
    std::vector<uint64_t> base(v.stack.begin(), v.stack.begin() + v.base_count);
    auto it = std::find(base.begin(), base.end(), old_layer.id);
    if (it == base.end()) continue;
    *it = new_layer.id;
    absl::Status s = CheckRebase(v, base);
    if (!s.ok())
      return absl::Status(s.code(), absl::StrFormat("volume '%s': %s", v.name, s.message()));
    plans.emplace_back(v.name, std::move(base));
  }
  std::vector<RebaseReport> reports;
  for (const auto& [volume, base] : plans) {
    ASSIGN_OR_RETURN(RebaseReport report, RebaseLocked(volume, base, dry_run));
    reports.push_back(std::move(report));
  }
  return reports;
}

}  // namespace layerdisk
