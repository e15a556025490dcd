// Comparing: device diff, layer conflicts, stack conflicts, provenance maps.
// The catalog is read under mu_; the comparisons run on loaded layers
// without it (engine/layer_compare.h).
#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/device_names.h"
#include "engine/layer_compare.h"
#include "engine/store_impl.h"

namespace layerdisk {

absl::StatusOr<std::shared_ptr<Volume>> StoreImpl::OpenComposed(const std::string& device) {
  ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> dev, OpenNamedDevice(*this, device));
  auto volume = std::dynamic_pointer_cast<Volume>(dev);
  if (!volume) return absl::InternalError("device '" + device + "' is not a volume");
  return volume;
}

absl::StatusOr<DiffReport> StoreImpl::DiffDevices(const std::string& from,
                                                  const std::string& to) {
  ASSIGN_OR_RETURN(std::shared_ptr<Volume> a, OpenComposed(from));
  ASSIGN_OR_RETURN(std::shared_ptr<Volume> b, OpenComposed(to));
  // Flushing is not needed: the live head's in-memory map is what it reads.
  DiffReport report;
  report.from = from;
  report.to = to;
  RETURN_IF_ERROR(DiffCompositions(a->composition(), *a, b->composition(), *b, &report));
  return report;
}

absl::StatusOr<std::vector<uint64_t>> StoreImpl::RecordedBase(const LayerRecord& rec) {
  // A layer sealed, merged or flattened from a volume records the base it
  // was captured on; a delta import, its parent chain.
  if (!rec.base.empty()) {
    for (uint64_t id : rec.base) {
      absl::StatusOr<LayerRecord> base = catalog().Layer(id);
      if (!base.ok() || base->state != LayerState::kLive)
        return absl::FailedPreconditionError(absl::StrFormat(
            "layer '%s' was captured on layer #%d, which is deleted; give --base", rec.name,
            id));
    }
    return rec.base;
  }
  std::vector<uint64_t> chain;
  for (uint64_t id = rec.parent; id != 0;) {
    if (chain.size() >= kMaxStackDepth)
      return absl::DataLossError(absl::StrFormat(
          "the parent chain of layer '%s' does not end (a cycle?)", rec.name));
    chain.push_back(id);
    ASSIGN_OR_RETURN(LayerRecord parent, catalog().Layer(id));
    id = parent.parent;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

absl::StatusOr<ConflictReport> StoreImpl::LayerConflicts(
    const std::string& first, const std::string& second,
    const std::optional<std::vector<std::string>>& base) {
  ConflictReport report;
  report.first = first;
  report.second = second;
  std::shared_ptr<const LayerView> a, b;
  std::shared_ptr<Volume> below;  // the composed base; null for none
  {
    absl::MutexLock lock(&mu_);
    ASSIGN_OR_RETURN(LayerRecord ra, FindNamedLayer(first));
    ASSIGN_OR_RETURN(LayerRecord rb, FindNamedLayer(second));
    if (ra.id == rb.id)
      return absl::InvalidArgumentError(absl::StrFormat(
          "layer '%s' given twice: a layer does not conflict with itself", first));
    std::vector<uint64_t> base_ids;
    if (base) {
      report.base_from = "option";
      for (const std::string& name : *base) {
        ASSIGN_OR_RETURN(LayerRecord rec, FindNamedLayer(name));
        if (rec.id == ra.id || rec.id == rb.id)
          return absl::InvalidArgumentError(absl::StrFormat(
              "layer '%s' cannot be both compared and part of the base", name));
        if (std::count(base_ids.begin(), base_ids.end(), rec.id))
          return absl::InvalidArgumentError(absl::StrFormat(
              "layer '%s' appears twice in the base", name));
        base_ids.push_back(rec.id);
      }
    } else {
      ASSIGN_OR_RETURN(std::vector<uint64_t> base_a, RecordedBase(ra));
      ASSIGN_OR_RETURN(std::vector<uint64_t> base_b, RecordedBase(rb));
      if (!base_a.empty() && !base_b.empty() && base_a != base_b)
        return absl::FailedPreconditionError(absl::StrFormat(
            "layers '%s' and '%s' were captured on different bases; give --base",
            first, second));
      base_ids = base_a.empty() ? base_b : base_a;
      report.base_from = base_ids.empty() ? "none" : "metadata";
      if (std::count(base_ids.begin(), base_ids.end(), ra.id) ||
          std::count(base_ids.begin(), base_ids.end(), rb.id))
        return absl::FailedPreconditionError(absl::StrFormat(
            "one of layers '%s' and '%s' was captured on the other; give --base", first,
            second));
    }
    uint64_t base_size = 0;
    for (uint64_t id : base_ids) {
      ASSIGN_OR_RETURN(LayerRecord rec, catalog().Layer(id));
      report.base.push_back(rec.name.empty() ? absl::StrFormat("#%d", id) : rec.name);
      base_size = std::max(base_size, rec.size);
    }
    ASSIGN_OR_RETURN(a, LoadLayer(ra.id));
    ASSIGN_OR_RETURN(b, LoadLayer(rb.id));
    if (!base_ids.empty()) {
      ASSIGN_OR_RETURN(auto stack, BuildStack(base_ids));
      below = std::make_shared<Volume>("base of " + first, base_size, chunk_size(),
                                       std::move(stack), nullptr);
    }
  }
  ASSIGN_OR_RETURN(report.ranges, ConflictingBytes(*a, *b, below.get()));
  for (const ByteRange& r : report.ranges) report.conflicting_bytes += r.length;
  return report;
}

absl::StatusOr<std::vector<StackConflict>> StoreImpl::StackConflicts(
    const std::vector<std::string>& layers) {
  std::vector<std::pair<std::string, std::shared_ptr<const LayerView>>> views;
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& name : layers) {
      ASSIGN_OR_RETURN(LayerRecord rec, FindNamedLayer(name));
      // An opaque layer (a whole disk) replaces everything below it: it
      // overrides by design, not by accident.
      if (rec.opaque) continue;
      ASSIGN_OR_RETURN(auto view, LoadLayer(rec.id));
      views.emplace_back(name, std::move(view));
    }
  }
  std::vector<StackConflict> out;
  for (size_t i = 0; i < views.size(); ++i) {
    for (size_t j = i + 1; j < views.size(); ++j) {
      uint64_t blocks = OverlappingBlocks(*views[i].second, *views[j].second);
      if (blocks == 0) continue;
      out.push_back({views[i].first, views[j].first, blocks, blocks * chunk_size()});
    }
  }
  return out;
}

std::string StoreImpl::ProvenanceName(uint64_t id, const std::string& device) {
  absl::StatusOr<LayerRecord> rec = catalog().Layer(id);
  if (rec.ok() && !rec->name.empty()) return rec->name;
  const std::string volume = device.substr(0, device.find('@'));
  absl::StatusOr<VolumeRecord> vol = catalog().Volume(volume);
  if (vol.ok() && vol->head == id) return "(head)";
  // A frozen head is the top layer of the snapshot that froze it.
  absl::StatusOr<std::vector<SnapshotRecord>> snaps = catalog().Snapshots(std::nullopt);
  if (snaps.ok()) {
    for (const SnapshotRecord& s : *snaps) {
      if (s.stack.empty() || s.stack.back() != id) continue;
      return s.volume == volume ? "(snapshot " + s.name + ")"
                                : "(snapshot " + s.volume + "@" + s.name + ")";
    }
  }
  return absl::StrFormat("(frozen #%d)", id);
}

absl::StatusOr<ProvenanceMap> StoreImpl::MapLayers(const std::string& device) {
  ASSIGN_OR_RETURN(std::shared_ptr<Volume> volume, OpenComposed(device));
  ProvenanceMap map;
  map.device = device;
  map.size = volume->size();
  ASSIGN_OR_RETURN(LayerMap layers, volume->MapLayers(0, volume->size()));
  map.extents = std::move(layers.extents);
  absl::MutexLock lock(&mu_);
  for (uint64_t id : layers.layer_ids) map.layers.push_back(ProvenanceName(id, device));
  return map;
}

}  // namespace layerdisk
