// Volumes and snapshots: all O(1) catalog changes plus, for an open volume,
// a head swap with its I/O paused.
#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "engine/store_impl.h"

namespace layerdisk {

absl::StatusOr<VolumeRecord> StoreImpl::FindVolume(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("volume", name));
  absl::StatusOr<VolumeRecord> rec = catalog().Volume(name);
  if (absl::IsNotFound(rec.status()))
    return absl::NotFoundError(absl::StrFormat("volume '%s' does not exist", name));
  return rec;
}

absl::StatusOr<SnapshotRecord> StoreImpl::FindSnapshot(const std::string& volume,
                                                       const std::string& name) {
  RETURN_IF_ERROR(FindVolume(volume).status());
  RETURN_IF_ERROR(ValidateName("snapshot", name));
  absl::StatusOr<SnapshotRecord> rec = catalog().Snapshot(volume, name);
  if (absl::IsNotFound(rec.status()))
    return absl::NotFoundError(absl::StrFormat(
        "volume '%s' has no snapshot '%s'", volume, name));
  return rec;
}

LayerRecord StoreImpl::NewHeadRecord(uint64_t id, const VolumeRecord& v) const {
  LayerRecord head;
  head.id = id;
  head.kind = LayerKind::kHead;
  head.size = v.size;
  head.created_unix = NowUnix();
  head.source = "head:" + v.name;
  return head;
}

std::shared_ptr<Volume> StoreImpl::OpenVolumeObject(const std::string& name) {
  auto it = open_volumes_.find(name);
  if (it == open_volumes_.end()) return nullptr;
  std::shared_ptr<Volume> v = it->second.lock();
  if (!v) open_volumes_.erase(it);
  return v;
}

absl::Status StoreImpl::EvictDevice(DeviceRegistry* registry, const std::string& key,
                                    const std::string& what, bool force,
                                    const std::string& why) {
  auto it = registry->find(key);
  if (it == registry->end()) return absl::OkStatus();
  std::shared_ptr<Volume> v = it->second.lock();
  registry->erase(it);
  if (!v) return absl::OkStatus();
  long users = v.use_count() - 1;  // minus ours
  // A client that is disconnecting right now (a VM that just powered off)
  // lets go within moments: give it that long before calling it "in use".
  for (int i = 0; i < 20 && users > 0 && !force; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
    users = v.use_count() - 1;
  }
  if (users > 0 && !force) {
    (*registry)[key] = v;  // still open: keep handing out this object
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is in use (a connected client or an open file); use --force to "
        "disconnect it", what));
  }
  v->Detach(why);
  return absl::OkStatus();
}

absl::Status StoreImpl::EvictSnapshots(const std::string& volume,
                                       const std::optional<std::string>& name, bool force,
                                       const std::string& why) {
  std::vector<std::string> keys;
  if (name) {
    keys.push_back(volume + "@" + *name);
  } else {
    const std::string prefix = volume + "@";
    for (auto it = open_snapshots_.lower_bound(prefix);
         it != open_snapshots_.end() && it->first.rfind(prefix, 0) == 0; ++it)
      keys.push_back(it->first);
  }
  for (const std::string& key : keys)
    RETURN_IF_ERROR(EvictDevice(&open_snapshots_, key, "snapshot '" + key + "'", force, why));
  return absl::OkStatus();
}

absl::StatusOr<VolumeInfo> StoreImpl::DescribeVolume(const VolumeRecord& rec) {
  VolumeInfo info;
  info.name = rec.name;
  info.size = rec.size;
  info.depth = static_cast<uint32_t>(rec.stack.size() + 1);
  info.created_unix = rec.created_unix;
  for (uint32_t i = 0; i < rec.base_count; ++i) {
    ASSIGN_OR_RETURN(LayerRecord layer, catalog().Layer(rec.stack[i]));
    info.layers.push_back(layer.name);
  }
  std::shared_ptr<Volume> open = OpenVolumeObject(rec.name);
  std::shared_ptr<Head> head;
  if (open) {
    RETURN_IF_ERROR(open->Exclusive([&] {
      head = open->head_locked();
      return absl::OkStatus();
    }));
  } else {
    ASSIGN_OR_RETURN(head, OpenHead(rec.head));
  }
  info.head_bytes = head->data_blocks() * chunk_size();
  ASSIGN_OR_RETURN(auto snaps, catalog().Snapshots(rec.name));
  info.snapshots = static_cast<uint32_t>(snaps.size());
  return info;
}

absl::StatusOr<VolumeInfo> StoreImpl::CreateVolumeHere(
    const std::string& name, const std::vector<std::string>& layers,
    std::optional<uint64_t> size) {
  RETURN_IF_ERROR(ValidateName("volume", name));
  absl::MutexLock lock(&mu_);
  if (catalog().Volume(name).ok())
    return absl::AlreadyExistsError(absl::StrFormat("volume '%s' already exists", name));
  if (layers.size() + 1 > kMaxStackDepth)
    return absl::InvalidArgumentError("too many layers for one volume");
  VolumeRecord rec;
  rec.name = name;
  rec.created_unix = NowUnix();
  uint64_t largest = 0;
  for (const std::string& layer : layers) {
    ASSIGN_OR_RETURN(LayerRecord lr, FindNamedLayer(layer));
    if (std::find(rec.stack.begin(), rec.stack.end(), lr.id) != rec.stack.end())
      return absl::InvalidArgumentError(absl::StrFormat(
          "layer '%s' appears twice in the stack", layer));
    rec.stack.push_back(lr.id);
    largest = std::max(largest, lr.size);
  }
  rec.base_count = static_cast<uint32_t>(rec.stack.size());
  rec.size = size.value_or(largest);
  if (rec.size == 0)
    return absl::InvalidArgumentError(
        "a volume needs a size: give --size or at least one layer");
  if (rec.size > kMaxVolumeSize)
    return absl::InvalidArgumentError(absl::StrFormat(
        "volume size %d is larger than the largest supported (8 TiB)", rec.size));
  if (rec.size % 512 != 0)
    return absl::InvalidArgumentError(absl::StrFormat(
        "volume size %d is not a multiple of 512 bytes", rec.size));
  rocksdb::WriteBatch batch;
  rec.head = AllocateId(&batch);
  batch.Put(LayerKey(rec.head), EncodeLayer(NewHeadRecord(rec.head, rec)));
  batch.Put(VolumeKey(name), EncodeVolume(rec));
  RETURN_IF_ERROR(Commit(&batch));
  return DescribeVolume(rec);
}

absl::StatusOr<std::vector<VolumeInfo>> StoreImpl::ListVolumes() {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> recs, catalog().AllVolumes());
  std::vector<VolumeInfo> out;
  for (const VolumeRecord& rec : recs) {
    ASSIGN_OR_RETURN(VolumeInfo info, DescribeVolume(rec));
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<VolumeInfo> StoreImpl::GetVolume(const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(VolumeRecord rec, FindVolume(name));
  return DescribeVolume(rec);
}

absl::Status StoreImpl::DeleteVolume(const std::string& name, bool force) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(VolumeRecord rec, FindVolume(name));
  const std::string why = "volume '" + name + "' was deleted";
  // Snapshots first: a refusal must leave the volume's own clients alone.
  RETURN_IF_ERROR(EvictSnapshots(name, std::nullopt, force, why));
  RETURN_IF_ERROR(EvictVolume(name, force, why));
  ASSIGN_OR_RETURN(auto snaps, catalog().Snapshots(name));
  rocksdb::WriteBatch batch;
  for (const SnapshotRecord& s : snaps) batch.Delete(SnapshotKey(name, s.name));
  batch.Delete(ScheduleKey(name));  // a no-op for a volume without one
  batch.Delete(VolumeKey(name));
  RETURN_IF_ERROR(Commit(&batch));
  // The head and any layers only this volume used go with the next task.
  return DropUnreferencedLayers();
}

absl::Status StoreImpl::FreezeHead(
    VolumeRecord* rec,
    const std::function<void(rocksdb::WriteBatch*, uint64_t)>& extra) {
  if (rec->stack.size() + 2 > kMaxStackDepth)
    return absl::ResourceExhaustedError(absl::StrFormat(
        "volume '%s' has reached %d layers; seal it into a layer and "
        "recreate it to go further", rec->name, kMaxStackDepth));
  std::shared_ptr<Volume> open = OpenVolumeObject(rec->name);
  auto freeze = [&]() -> absl::Status {
    std::shared_ptr<Head> old_head;
    if (open) {
      old_head = open->head_locked();
      RETURN_IF_ERROR(old_head->Flush());
    } else {
      ASSIGN_OR_RETURN(old_head, OpenHead(rec->head));
    }
    ASSIGN_OR_RETURN(LayerRecord frozen, catalog().Layer(rec->head));
    frozen.frozen = true;
    rocksdb::WriteBatch batch;
    uint64_t new_head = AllocateId(&batch);
    batch.Put(LayerKey(frozen.id), EncodeLayer(frozen));
    VolumeRecord next = *rec;
    next.stack.push_back(rec->head);
    next.head = new_head;
    batch.Put(LayerKey(new_head), EncodeLayer(NewHeadRecord(new_head, next)));
    batch.Put(VolumeKey(next.name), EncodeVolume(next));
    if (extra) extra(&batch, old_head->data_blocks() * chunk_size());
    RETURN_IF_ERROR(Commit(&batch));
    *rec = next;
    layer_cache_[frozen.id] = old_head;
    Enqueue(TaskKind::kSeal, frozen.id);
    if (!open) return absl::OkStatus();
    // Committed: the open volume must now write to the new head. If it
    // cannot be switched, it must not go on writing to the frozen one.
    absl::StatusOr<std::shared_ptr<const Stack>> stack = BuildStack(next.stack);
    absl::StatusOr<std::shared_ptr<Head>> head = OpenHead(new_head);
    if (!stack.ok() || !head.ok()) {
      open_volumes_.erase(next.name);
      return stack.ok() ? head.status() : stack.status();
    }
    open->Install(*std::move(stack), *std::move(head));
    return absl::OkStatus();
  };
  absl::Status s = open ? open->Exclusive(freeze) : freeze();
  if (!s.ok() && open && !open_volumes_.count(rec->name))
    open->Detach("volume '" + rec->name + "' failed to switch heads: " +
                 std::string(s.message()));
  return s;
}

absl::StatusOr<VolumeInfo> StoreImpl::CloneVolume(
    const std::string& source, const std::optional<std::string>& snapshot,
    const std::string& target) {
  RETURN_IF_ERROR(ValidateName("volume", target));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(VolumeRecord src, FindVolume(source));
  if (catalog().Volume(target).ok())
    return absl::AlreadyExistsError(absl::StrFormat("volume '%s' already exists", target));
  VolumeRecord rec;
  rec.name = target;
  rec.size = src.size;
  rec.base_count = src.base_count;
  rec.created_unix = NowUnix();
  if (snapshot) {
    ASSIGN_OR_RETURN(SnapshotRecord snap, FindSnapshot(source, *snapshot));
    rec.stack = snap.stack;
    // The source may have been rebased since onto a base of another depth.
    rec.base_count = snap.base_count.value_or(src.base_count);
  } else {
    // Both volumes share the source's head from now on, frozen.
    RETURN_IF_ERROR(FreezeHead(&src, nullptr));
    rec.stack = src.stack;
  }
  rocksdb::WriteBatch batch;
  rec.head = AllocateId(&batch);
  batch.Put(LayerKey(rec.head), EncodeLayer(NewHeadRecord(rec.head, rec)));
  batch.Put(VolumeKey(target), EncodeVolume(rec));
  RETURN_IF_ERROR(Commit(&batch));
  return DescribeVolume(rec);
}

absl::StatusOr<std::shared_ptr<BlockDevice>> StoreImpl::OpenVolume(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (std::shared_ptr<Volume> open = OpenVolumeObject(name)) return open;
  ASSIGN_OR_RETURN(VolumeRecord rec, FindVolume(name));
  ASSIGN_OR_RETURN(auto stack, BuildStack(rec.stack));
  ASSIGN_OR_RETURN(auto head, OpenHead(rec.head));
  auto volume = std::make_shared<Volume>(name, rec.size, chunk_size(),
                                         std::move(stack), std::move(head));
  open_volumes_[name] = volume;
  return volume;
}

absl::StatusOr<SnapshotInfo> StoreImpl::CreateSnapshot(const std::string& volume,
                                                       const std::string& name) {
  absl::MutexLock lock(&mu_);
  return TakeSnapshot(volume, name, /*scheduled=*/false, nullptr);
}

absl::StatusOr<SnapshotInfo> StoreImpl::TakeSnapshot(
    const std::string& volume, const std::string& name, bool scheduled,
    const std::function<void(rocksdb::WriteBatch*)>& extra) {
  ASSIGN_OR_RETURN(VolumeRecord rec, FindVolume(volume));
  RETURN_IF_ERROR(ValidateName("snapshot", name));
  if (catalog().Snapshot(volume, name).ok())
    return absl::AlreadyExistsError(absl::StrFormat(
        "volume '%s' already has a snapshot '%s'", volume, name));
  SnapshotRecord snap;
  snap.volume = volume;
  snap.name = name;
  snap.created_unix_ms = NowUnixMs();
  snap.scheduled = scheduled;
  RETURN_IF_ERROR(FreezeHead(&rec, [&](rocksdb::WriteBatch* batch, uint64_t changed) {
    snap.stack = rec.stack;
    snap.stack.push_back(rec.head);  // rec is still the pre-freeze record here
    snap.changed_bytes = changed;
    snap.base_count = rec.base_count;
    batch->Put(SnapshotKey(volume, name), EncodeSnapshot(snap));
    if (extra) extra(batch);
  }));
  return SnapshotInfo{volume, name, snap.created_unix_ms, snap.changed_bytes,
                      snap.scheduled};
}

absl::StatusOr<std::vector<SnapshotInfo>> StoreImpl::ListSnapshots(
    const std::string& volume) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FindVolume(volume).status());
  ASSIGN_OR_RETURN(auto snaps, catalog().Snapshots(volume));
  std::vector<SnapshotInfo> out;
  for (const SnapshotRecord& s : snaps)
    out.push_back({s.volume, s.name, s.created_unix_ms, s.changed_bytes, s.scheduled});
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.created_unix_ms < b.created_unix_ms;
  });
  return out;
}

absl::Status StoreImpl::RollbackSnapshot(const std::string& volume,
                                         const std::string& name, bool force) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SnapshotRecord snap, FindSnapshot(volume, name));
  ASSIGN_OR_RETURN(VolumeRecord rec, FindVolume(volume));
  RETURN_IF_ERROR(EvictVolume(volume, force,
                              "volume '" + volume + "' was rolled back to " + name));
  // The current head is discarded; a new empty head goes on the snapshot.
  rocksdb::WriteBatch batch;
  ASSIGN_OR_RETURN(LayerRecord old_head, catalog().Layer(rec.head));
  old_head.state = LayerState::kDeleting;
  batch.Put(LayerKey(old_head.id), EncodeLayer(old_head));
  rec.stack = snap.stack;
  // A snapshot taken before a rebase brings back the base it was taken on.
  rec.base_count = snap.base_count.value_or(rec.base_count);
  rec.head = AllocateId(&batch);
  batch.Put(LayerKey(rec.head), EncodeLayer(NewHeadRecord(rec.head, rec)));
  batch.Put(VolumeKey(volume), EncodeVolume(rec));
  RETURN_IF_ERROR(Commit(&batch));
  Enqueue(TaskKind::kDelete, old_head.id);
  return DropUnreferencedLayers();
}

absl::Status StoreImpl::DeleteSnapshot(const std::string& volume,
                                       const std::string& name, bool force) {
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(FindSnapshot(volume, name).status());
  RETURN_IF_ERROR(EvictSnapshots(volume, name, force,
                                 "snapshot '" + volume + "@" + name + "' was deleted"));
  rocksdb::WriteBatch batch;
  batch.Delete(SnapshotKey(volume, name));
  RETURN_IF_ERROR(Commit(&batch));
  // Layers the snapshot kept apart may now merge.
  Enqueue(TaskKind::kCompact, 0);
  return DropUnreferencedLayers();
}

absl::StatusOr<std::shared_ptr<BlockDevice>> StoreImpl::OpenSnapshot(
    const std::string& volume, const std::string& name) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SnapshotRecord snap, FindSnapshot(volume, name));
  const std::string key = volume + "@" + name;
  std::weak_ptr<Volume>& open = open_snapshots_[key];
  if (std::shared_ptr<Volume> v = open.lock()) return std::shared_ptr<BlockDevice>(v);
  ASSIGN_OR_RETURN(VolumeRecord rec, FindVolume(volume));
  ASSIGN_OR_RETURN(auto stack, BuildStack(snap.stack));
  auto v = std::make_shared<Volume>(key, rec.size, chunk_size(), std::move(stack), nullptr);
  open = v;
  return std::shared_ptr<BlockDevice>(v);
}

}  // namespace layerdisk
