// VolumeExchange over a StoreImpl (engine/volume_exchange.h): a volume
// exported as its snapshots, and committed from them in one atomic step.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "dedupe/rocks_status.h"
#include "engine/store_impl.h"
#include "engine/volume_exchange.h"
#include "layers/layer_writer.h"
#include "layers/map_digest.h"

namespace layerdisk {

namespace {
constexpr char kBaseIdentityDomain[] = "layerdisk-volume-base-v1";
constexpr char kAnonymousPrefix[] = "anon-";

void AppendLengthPrefixed(std::string* out, std::string_view s) {
  uint64_t n = s.size();
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(n >> (8 * i)));
  out->append(s);
}

// Snapshots oldest first, as Store::ListSnapshots orders them.
void SortSnapshots(std::vector<SnapshotRecord>* snaps) {
  std::stable_sort(snaps->begin(), snaps->end(), [](const auto& a, const auto& b) {
    return a.created_unix_ms < b.created_unix_ms;
  });
}
}  // namespace

std::string VolumeBaseIdentity(const VolumeManifest& m) {
  std::string buf(kBaseIdentityDomain);
  AppendLengthPrefixed(&buf, std::to_string(m.size));
  for (const std::string& id : m.base_identities) AppendLengthPrefixed(&buf, id);
  return std::string(NameChunk(buf).view());
}

std::string AnonymousLayerName(const std::string& identity) {
  return kAnonymousPrefix + absl::BytesToHexString(identity);
}

absl::StatusOr<std::string> IdentityOfAnonymousLayer(const std::string& name) {
  const std::string_view prefix(kAnonymousPrefix);
  std::string_view hex(name);
  bool ok = hex.substr(0, prefix.size()) == prefix && hex.size() == prefix.size() + 64;
  if (ok) hex.remove_prefix(prefix.size());
  for (char c : hex) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (!ok)
    return absl::InvalidArgumentError(
        absl::StrFormat("'%s' is not the name of a volume's anonymous layer", name));
  return absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
}

absl::Status ValidateVolumeManifest(const VolumeManifest& m) {
  RETURN_IF_ERROR(ValidateName("volume", m.name));
  if (m.size == 0 || m.size > kMaxVolumeSize)
    return absl::InvalidArgumentError(
        absl::StrFormat("volume '%s': size %d is out of range", m.name, m.size));
  if (m.base_layers.size() != m.base_identities.size())
    return absl::InvalidArgumentError(absl::StrFormat(
        "volume '%s' names %d base layers but %d identities", m.name, m.base_layers.size(),
        m.base_identities.size()));
  for (const std::string& l : m.base_layers) RETURN_IF_ERROR(ValidateName("layer", l));
  if (m.snapshots.empty())
    return absl::InvalidArgumentError(absl::StrFormat("volume '%s' has no snapshot", m.name));
  std::set<std::string> names;
  std::map<std::string, std::string> below;  // layer -> the layer under it
  for (const VolumeSnapshotManifest& s : m.snapshots) {
    RETURN_IF_ERROR(ValidateName("snapshot", s.name));
    if (!names.insert(s.name).second)
      return absl::InvalidArgumentError(
          absl::StrFormat("volume '%s' lists snapshot '%s' twice", m.name, s.name));
    if (s.layers.empty() || s.layers.size() + m.base_layers.size() + 1 > kMaxStackDepth)
      return absl::InvalidArgumentError(absl::StrFormat(
          "snapshot '%s' of volume '%s' has %d layers", s.name, m.name, s.layers.size()));
    std::string under;
    for (const std::string& l : s.layers) {
      RETURN_IF_ERROR(IdentityOfAnonymousLayer(l).status());
      auto [it, fresh] = below.emplace(l, under);
      if (!fresh && it->second != under)
        return absl::InvalidArgumentError(absl::StrFormat(
            "volume '%s': layer %s lies over different layers in different snapshots",
            m.name, l));
      under = l;
    }
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::ForEachLayerSegment(
    const LayerRecord& rec, const std::function<void(uint64_t, MapSegment)>& fn) {
  std::string begin = MapKey(rec.id, 0), end = MapKey(rec.id + 1, 0);
  rocksdb::Slice upper(end);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, maps_));
  const std::string what = rec.name.empty() ? absl::StrFormat("layer %d", rec.id)
                                            : absl::StrFormat("layer '%s'", rec.name);
  for (it->Seek(begin); it->Valid(); it->Next()) {
    uint64_t layer_id, segment;
    if (!ParseMapKey({it->key().data(), it->key().size()}, &layer_id, &segment))
      return absl::DataLossError(what + ": a map key is damaged (run fsck)");
    absl::StatusOr<MapSegment> seg =
        DecodeMapSegment(rec.id, segment, {it->value().data(), it->value().size()});
    if (!seg.ok())
      return absl::DataLossError(
          absl::StrFormat("%s: %s (run fsck)", what, seg.status().message()));
    if (!seg->states.Empty()) fn(segment, *std::move(seg));
  }
  return FromRocks(it->status(), "scan layer map");
}

absl::StatusOr<std::vector<ManifestSegment>> StoreImpl::ReadLayerSegments(
    const LayerRecord& rec) {
  std::vector<ManifestSegment> out;
  absl::Status s = ForEachLayerSegment(rec, [&out](uint64_t index, MapSegment map) {
    out.push_back({index, std::move(map)});
  });
  if (!s.ok())
    return absl::Status(s.code(), absl::StrCat("cannot replicate ", s.message()));
  return out;
}

absl::StatusOr<std::string> StoreImpl::MapContentDigest(const LayerRecord& rec) {
  MapDigest digest(rec.size, chunk_size());
  RETURN_IF_ERROR(ForEachLayerSegment(
      rec, [&digest](uint64_t index, MapSegment map) { digest.AddSegment(index, map); }));
  return digest.Text();
}

// Friend of StoreImpl: reaches its catalog, maps and chunks.
class StoreVolumeExchange final : public VolumeExchange {
 public:
  explicit StoreVolumeExchange(StoreImpl* store) : s_(store), layers_(GetLayerExchange(store)) {}

  absl::StatusOr<VolumeExport> ExportVolume(const std::string& volume) override;
  absl::StatusOr<VolumePlan> PlanVolume(const std::string& as,
                                        const VolumeManifest& m) override;
  absl::StatusOr<VolumeCommitResult> CommitVolume(const std::string& as,
                                                  const VolumeManifest& m,
                                                  const std::vector<LayerManifest>& new_layers,
                                                  const std::string& origin) override;

 private:
  // What this store holds of volume `as`, checked against the pushed `m`.
  struct Held {
    bool exists = false;
    VolumeRecord record;
    size_t snapshots = 0;                      // m's first `snapshots` are here
    std::map<std::string, uint64_t> layer_id;  // wire name -> layer id
  };

  // Manifests of the anonymous layers of `stacks` (ids above the base),
  // named by wire name, appended to `out` (each after the one below it,
  // once); `names` gets each stack as wire names. REQUIRES: s_->mu_ held.
  absl::Status ChainLayersLocked(const std::string& volume, const std::string& root,
                                 const std::vector<std::vector<uint64_t>>& stacks,
                                 std::vector<LayerManifest>* out,
                                 std::vector<std::vector<std::string>>* names);
  // The named layers `names`' identities; FailedPrecondition for one
  // missing. Takes s_->mu_ itself.
  absl::StatusOr<std::vector<std::string>> BaseIdentities(
      const std::vector<std::string>& names);
  // REQUIRES: s_->mu_ held.
  absl::StatusOr<Held> HeldLocked(const std::string& as, const VolumeManifest& m,
                                  const std::string& root);
  // Marks layers of a failed commit for deletion. REQUIRES: s_->mu_ held.
  void AbandonLocked(std::vector<LayerRecord>& created);

  StoreImpl* const s_;
  const std::unique_ptr<LayerExchange> layers_;
};

absl::Status StoreVolumeExchange::ChainLayersLocked(
    const std::string& volume, const std::string& root,
    const std::vector<std::vector<uint64_t>>& stacks, std::vector<LayerManifest>* out,
    std::vector<std::vector<std::string>>* names) {
  // (layer id, identity below) -> identity: a layer shared by snapshots is read once.
  std::map<std::pair<uint64_t, std::string>, std::string> seen;
  for (const std::vector<uint64_t>& stack : stacks) {
    std::string below = root, below_name;
    names->emplace_back();
    for (uint64_t id : stack) {
      auto key = std::make_pair(id, below);
      auto it = seen.find(key);
      if (it == seen.end()) {
        ASSIGN_OR_RETURN(LayerRecord rec, s_->catalog().Layer(id));
        if (rec.kind != LayerKind::kSealed || rec.state != LayerState::kLive)
          return absl::FailedPreconditionError(absl::StrFormat(
              "a snapshot of volume '%s' is not sealed yet; wait for background sealing",
              volume));
        LayerManifest m;
        m.size = rec.size;
        m.block_size = s_->chunk_size();
        m.opaque = rec.opaque;
        m.data_blocks = rec.data_blocks;
        m.parent = below_name;
        ASSIGN_OR_RETURN(m.segments, s_->ReadLayerSegments(rec));
        m.identity = ManifestIdentity(m, below);
        m.name = AnonymousLayerName(m.identity);
        it = seen.emplace(key, m.identity).first;
        out->push_back(std::move(m));
      }
      below = it->second;
      below_name = AnonymousLayerName(below);
      names->back().push_back(below_name);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> StoreVolumeExchange::BaseIdentities(
    const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    absl::StatusOr<LayerManifest> m = layers_->ExportLayerManifest(name);
    if (absl::IsNotFound(m.status()))
      return absl::FailedPreconditionError(
          absl::StrFormat("base layer '%s' is not in this store", name));
    RETURN_IF_ERROR(m.status());
    out.push_back(m->identity);
  }
  return out;
}

absl::StatusOr<VolumeExport> StoreVolumeExchange::ExportVolume(const std::string& volume) {
  VolumeExport out;
  VolumeManifest& vm = out.volume;
  {
    absl::MutexLock lock(&s_->mu_);
    ASSIGN_OR_RETURN(VolumeRecord rec, s_->FindVolume(volume));
    for (uint32_t i = 0; i < rec.base_count; ++i) {
      ASSIGN_OR_RETURN(LayerRecord layer, s_->catalog().Layer(rec.stack[i]));
      vm.base_layers.push_back(layer.name);
    }
  }
  // Base layers are named and in use by the volume: they cannot change or go.
  ASSIGN_OR_RETURN(vm.base_identities, BaseIdentities(vm.base_layers));
  absl::MutexLock lock(&s_->mu_);
  ASSIGN_OR_RETURN(VolumeRecord rec, s_->FindVolume(volume));
  vm.name = rec.name;
  vm.size = rec.size;
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, s_->catalog().Snapshots(volume));
  SortSnapshots(&snaps);
  std::vector<std::vector<uint64_t>> stacks;
  for (const SnapshotRecord& s : snaps) {
    if (s.stack.size() < rec.base_count ||
        !std::equal(rec.stack.begin(), rec.stack.begin() + rec.base_count, s.stack.begin()))
      return absl::DataLossError(absl::StrFormat(
          "snapshot '%s' of volume '%s' is not over the volume's base layers", s.name, volume));
    stacks.emplace_back(s.stack.begin() + rec.base_count, s.stack.end());
  }
  std::vector<std::vector<std::string>> names;
  RETURN_IF_ERROR(ChainLayersLocked(volume, VolumeBaseIdentity(vm), stacks, &out.layers, &names));
  for (size_t i = 0; i < snaps.size(); ++i)
    vm.snapshots.push_back({snaps[i].name, snaps[i].created_unix_ms, snaps[i].changed_bytes,
                            snaps[i].scheduled, names[i]});
  return out;
}

absl::StatusOr<StoreVolumeExchange::Held> StoreVolumeExchange::HeldLocked(
    const std::string& as, const VolumeManifest& m, const std::string& root) {
  Held held;
  absl::StatusOr<VolumeRecord> rec = s_->catalog().Volume(as);
  if (absl::IsNotFound(rec.status())) return held;
  RETURN_IF_ERROR(rec.status());
  held.exists = true;
  held.record = *rec;
  auto diverged = [&](const std::string& why) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "volume '%s' exists here and has diverged from the one sent: %s", as, why));
  };
  std::vector<std::string> base;
  for (uint32_t i = 0; i < rec->base_count; ++i) {
    ASSIGN_OR_RETURN(LayerRecord layer, s_->catalog().Layer(rec->stack[i]));
    base.push_back(layer.name);
  }
  if (base != m.base_layers || rec->size != m.size)
    return diverged(absl::StrFormat("its base layers are %s, not %s",
                                    absl::StrJoin(base, ","), absl::StrJoin(m.base_layers, ",")));
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, s_->catalog().Snapshots(as));
  SortSnapshots(&snaps);
  std::vector<std::vector<uint64_t>> stacks;
  for (const SnapshotRecord& s : snaps)
    stacks.emplace_back(s.stack.begin() + std::min<size_t>(rec->base_count, s.stack.size()),
                        s.stack.end());
  std::vector<LayerManifest> layers;
  std::vector<std::vector<std::string>> names;
  RETURN_IF_ERROR(ChainLayersLocked(as, root, stacks, &layers, &names));
  for (size_t i = 0; i < snaps.size(); ++i) {
    if (i >= m.snapshots.size() || snaps[i].name != m.snapshots[i].name)
      return diverged(absl::StrFormat("it has snapshot '%s' where the sender has %s",
                                      snaps[i].name,
                                      i < m.snapshots.size() ? "'" + m.snapshots[i].name + "'"
                                                             : "no more snapshots"));
    if (names[i] != m.snapshots[i].layers)
      return diverged(absl::StrFormat("its snapshot '%s' has other content", snaps[i].name));
    for (size_t j = 0; j < names[i].size(); ++j)
      held.layer_id[names[i][j]] = stacks[i][j];
  }
  held.snapshots = snaps.size();
  if (held.snapshots < m.snapshots.size()) {
    // The head will be replaced: it must hold nothing and nobody may use it.
    ASSIGN_OR_RETURN(std::shared_ptr<Head> head, s_->OpenHead(rec->head));
    bool empty = head->data_blocks() == 0;
    const uint64_t segments =
        (rec->size / s_->chunk_size() + kSegmentBlocks) / kSegmentBlocks;
    for (uint64_t i = 0; i < segments && empty; ++i) empty = !head->HasSegment(i);
    if (!empty) return diverged("it was written to since its last snapshot");
  }
  return held;
}

absl::StatusOr<VolumePlan> StoreVolumeExchange::PlanVolume(const std::string& as,
                                                           const VolumeManifest& m) {
  RETURN_IF_ERROR(ValidateName("volume", as));
  RETURN_IF_ERROR(ValidateVolumeManifest(m));
  absl::MutexLock lock(&s_->mu_);
  ASSIGN_OR_RETURN(Held held, HeldLocked(as, m, VolumeBaseIdentity(m)));
  VolumePlan plan;
  plan.up_to_date = held.snapshots == m.snapshots.size();
  for (const auto& [name, id] : held.layer_id) plan.held.push_back(name);
  return plan;
}

void StoreVolumeExchange::AbandonLocked(std::vector<LayerRecord>& created) {
  rocksdb::WriteBatch batch;
  for (LayerRecord& rec : created) {
    rec.state = LayerState::kDeleting;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
  }
  if (s_->Commit(&batch).ok())
    for (const LayerRecord& rec : created) s_->Enqueue(StoreImpl::TaskKind::kDelete, rec.id);
}

absl::StatusOr<VolumeCommitResult> StoreVolumeExchange::CommitVolume(
    const std::string& as, const VolumeManifest& m, const std::vector<LayerManifest>& new_layers,
    const std::string& origin) {
  RETURN_IF_ERROR(ValidateName("volume", as));
  RETURN_IF_ERROR(ValidateVolumeManifest(m));
  for (const LayerManifest& l : new_layers) {
    RETURN_IF_ERROR(ValidateManifest(l));
    if (l.block_size != s_->chunk_size() || l.size != m.size || l.opaque)
      return absl::InvalidArgumentError(absl::StrFormat(
          "layer %s does not fit volume '%s' (size, block size or opacity)", l.name, m.name));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> base_here, BaseIdentities(m.base_layers));
  for (size_t i = 0; i < base_here.size(); ++i)
    if (base_here[i] != m.base_identities[i])
      return absl::FailedPreconditionError(absl::StrFormat(
          "base layer '%s' exists here with other content than the sender's", m.base_layers[i]));
  const std::string root = VolumeBaseIdentity(m);

  VolumeCommitResult result;
  std::vector<LayerRecord> created;
  std::map<std::string, uint64_t> layer_id;
  std::string held_record;
  size_t first_new = 0;  // m's snapshots before it are here already
  {
    absl::MutexLock lock(&s_->mu_);
    ASSIGN_OR_RETURN(Held held, HeldLocked(as, m, root));
    if (held.snapshots == m.snapshots.size()) {
      result.up_to_date = true;
      ASSIGN_OR_RETURN(result.volume, s_->DescribeVolume(held.record));
      return result;
    }
    layer_id = held.layer_id;
    held_record = held.exists ? EncodeVolume(held.record) : "";
    first_new = held.snapshots;
    std::set<std::string> sent;
    for (const LayerManifest& l : new_layers) {
      ASSIGN_OR_RETURN(std::string claimed, IdentityOfAnonymousLayer(l.name));
      if (layer_id.count(l.name) || !sent.insert(l.name).second)
        return absl::InvalidArgumentError(
            absl::StrFormat("layer %s of volume '%s' is here already", l.name, m.name));
      std::string below = root;
      if (!l.parent.empty()) {
        if (!layer_id.count(l.parent) && !sent.count(l.parent))
          return absl::FailedPreconditionError(absl::StrFormat(
              "layer %s of volume '%s' lies over %s, which was never sent", l.name, m.name,
              l.parent));
        ASSIGN_OR_RETURN(below, IdentityOfAnonymousLayer(l.parent));
      }
      if (l.identity != claimed || ManifestIdentity(l, below) != claimed)
        return absl::DataLossError(absl::StrFormat(
            "layer %s of volume '%s' does not match its identity (damaged or forged)", l.name,
            m.name));
    }
    for (size_t i = held.snapshots; i < m.snapshots.size(); ++i)
      for (const std::string& l : m.snapshots[i].layers)
        if (!layer_id.count(l) && !sent.count(l))
          return absl::FailedPreconditionError(absl::StrFormat(
              "snapshot '%s' of volume '%s' refers to layer %s, which was never sent",
              m.snapshots[i].name, m.name, l));
    rocksdb::WriteBatch batch;
    for (const LayerManifest& l : new_layers) {
      LayerRecord rec;
      rec.id = s_->AllocateId(&batch);
      rec.kind = LayerKind::kSealed;
      rec.state = LayerState::kWriting;  // invisible, and undone by a reopen
      rec.size = l.size;
      rec.created_unix = NowUnix();
      rec.source = "replicate:" + origin;
      batch.Put(LayerKey(rec.id), EncodeLayer(rec));
      layer_id[l.name] = rec.id;
      created.push_back(rec);
    }
    RETURN_IF_ERROR(s_->Commit(&batch));
  }

  absl::Status st;
  for (size_t k = 0; k < new_layers.size() && st.ok(); ++k) {
    LayerWriter writer(s_->db_.get(), s_->maps_, s_->chunks_.get(), created[k].id,
                       s_->chunk_size());
    for (const ManifestSegment& seg : new_layers[k].segments) {
      for (uint32_t i = 0; i < kSegmentBlocks && st.ok(); ++i) {
        uint64_t block = seg.index * kSegmentBlocks + i;
        switch (seg.map.states.Get(i)) {
          case BlockKind::kData: st = writer.AddName(block, seg.map.NameOf(i)); break;
          case BlockKind::kZero: st = writer.AddZero(block); break;
          default: break;
        }
      }
      if (!st.ok()) break;
    }
    if (st.ok()) st = writer.Finish(nullptr);
    created[k].data_blocks = writer.data_blocks();
  }

  absl::MutexLock lock(&s_->mu_);
  VolumeRecord vol;
  if (st.ok()) {
    // Nothing may have changed the volume while the maps were written.
    absl::StatusOr<VolumeRecord> now = s_->catalog().Volume(as);
    absl::StatusOr<std::vector<SnapshotRecord>> snaps = s_->catalog().Snapshots(as);
    if (!snaps.ok() || snaps->size() != first_new ||
        (now.ok() ? EncodeVolume(*now) != held_record : !held_record.empty()))
      st = absl::AbortedError(absl::StrFormat(
          "volume '%s' changed here during the transfer; run again", as));
    else if (now.ok())
      st = s_->EvictVolume(as, /*force=*/false, "volume '" + as + "' received new snapshots");
    if (now.ok()) vol = *now;
  }
  if (!st.ok()) {
    AbandonLocked(created);
    return st;
  }
  rocksdb::WriteBatch batch;
  for (LayerRecord& rec : created) {
    rec.state = LayerState::kLive;
    batch.Put(LayerKey(rec.id), EncodeLayer(rec));
  }
  const bool existed = !held_record.empty();
  if (!existed) {
    vol.name = as;
    vol.size = m.size;
    vol.created_unix = NowUnix();
    for (const std::string& base : m.base_layers) {
      absl::StatusOr<LayerRecord> lr = s_->FindNamedLayer(base);
      if (!lr.ok()) {
        AbandonLocked(created);
        return lr.status();
      }
      vol.stack.push_back(lr->id);
    }
    vol.base_count = static_cast<uint32_t>(vol.stack.size());
  } else {
    ASSIGN_OR_RETURN(LayerRecord old_head, s_->catalog().Layer(vol.head));
    old_head.state = LayerState::kDeleting;
    batch.Put(LayerKey(old_head.id), EncodeLayer(old_head));
  }
  std::vector<uint64_t> base(vol.stack.begin(), vol.stack.begin() + vol.base_count);
  for (size_t i = first_new; i < m.snapshots.size(); ++i) {
    const VolumeSnapshotManifest& sm = m.snapshots[i];
    SnapshotRecord snap;
    snap.volume = as;
    snap.name = sm.name;
    snap.created_unix_ms = sm.created_unix_ms;
    snap.changed_bytes = sm.changed_bytes;
    snap.scheduled = sm.scheduled;
    snap.stack = base;
    for (const std::string& l : sm.layers) snap.stack.push_back(layer_id.at(l));
    batch.Put(SnapshotKey(as, sm.name), EncodeSnapshot(snap));
    vol.stack = snap.stack;
    result.snapshots_created.push_back(sm.name);
  }
  const uint64_t old_head = vol.head;
  vol.head = s_->AllocateId(&batch);
  batch.Put(LayerKey(vol.head), EncodeLayer(s_->NewHeadRecord(vol.head, vol)));
  batch.Put(VolumeKey(as), EncodeVolume(vol));
  if (absl::Status c = s_->Commit(&batch); !c.ok()) {
    AbandonLocked(created);
    return c;
  }
  if (existed) s_->Enqueue(StoreImpl::TaskKind::kDelete, old_head);
  ASSIGN_OR_RETURN(result.volume, s_->DescribeVolume(vol));
  return result;
}

std::unique_ptr<VolumeExchange> GetVolumeExchange(Store* store) {
  auto* impl = dynamic_cast<StoreImpl*>(store);
  if (impl == nullptr) return nullptr;
  return std::make_unique<StoreVolumeExchange>(impl);
}

}  // namespace layerdisk
