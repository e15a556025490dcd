// fsck: checks that every record decodes, every reference resolves, every
// chunk holds the bytes its name promises, and every reference count equals
// the number of map entries naming the chunk. Reports; repairs nothing.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "dedupe/chunk_codec.h"
#include "dedupe/rocks_status.h"
#include "engine/store_impl.h"
#include "layers/map_digest.h"

namespace layerdisk {

absl::StatusOr<FsckReport> StoreImpl::Fsck(const ProgressFn& progress) {
  absl::MutexLock work(&work_mu_);  // no background task changes maps meanwhile
  absl::MutexLock lock(&mu_);
  FsckReport report;
  auto problem = [&report](std::string line) { report.problems.push_back(std::move(line)); };

  // 1. Catalog: records decode and refer to things that exist.
  CatalogReader reader = catalog();
  ASSIGN_OR_RETURN(std::vector<LayerRecord> layers, reader.AllLayers());
  ASSIGN_OR_RETURN(std::vector<VolumeRecord> volumes, reader.AllVolumes());
  ASSIGN_OR_RETURN(std::vector<SnapshotRecord> snaps, reader.Snapshots(std::nullopt));
  ASSIGN_OR_RETURN(std::vector<ScheduleRecord> schedules, reader.AllSchedules());
  for (const std::string& d : reader.damaged()) problem(d);
  std::map<uint64_t, const LayerRecord*> by_id;
  for (const LayerRecord& l : layers) by_id[l.id] = &l;
  auto check_stack = [&](const std::string& who, const std::vector<uint64_t>& ids) {
    for (uint64_t id : ids) {
      auto it = by_id.find(id);
      if (it == by_id.end())
        problem(absl::StrFormat("%s uses layer %d, which does not exist", who, id));
      else if (it->second->state != LayerState::kLive)
        problem(absl::StrFormat("%s uses layer %d, which is being deleted", who, id));
    }
  };
  for (const VolumeRecord& v : volumes) {
    check_stack("volume '" + v.name + "'", v.stack);
    check_stack("volume '" + v.name + "' (head)", {v.head});
  }
  for (const SnapshotRecord& s : snaps)
    check_stack("snapshot '" + s.volume + "@" + s.name + "'", s.stack);
  for (const ScheduleRecord& s : schedules)
    if (std::none_of(volumes.begin(), volumes.end(),
                     [&](const VolumeRecord& v) { return v.name == s.volume; }))
      problem(absl::StrFormat("snapshot schedule of volume '%s', which does not exist",
                              s.volume));
  for (const LayerRecord& l : layers) {
    if (l.name.empty() || l.state != LayerState::kLive) continue;
    absl::StatusOr<uint64_t> id = reader.LayerIdByName(l.name);
    if (!id.ok() || *id != l.id)
      problem(absl::StrFormat("layer '%s' (%d) is missing from the name index", l.name, l.id));
  }
  report.layers_checked = layers.size();

  // 2. Maps: every segment decodes; count the references they hold; an
  // imported layer's map spells the content digest its import recorded.
  absl::flat_hash_map<ChunkName, int64_t> expected;
  std::map<uint64_t, MapDigest> digests;  // by layer id
  for (const LayerRecord& l : layers)
    if (!l.content_digest.empty() && l.state == LayerState::kLive)
      digests.try_emplace(l.id, l.size, chunk_size());
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), maps_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t layer, segment;
      if (!ParseMapKey({it->key().data(), it->key().size()}, &layer, &segment)) {
        problem("maps: a key of the wrong length");
        continue;
      }
      if (!by_id.count(layer))
        problem(absl::StrFormat("map segment %d of layer %d belongs to no layer", segment, layer));
      absl::StatusOr<MapSegment> seg =
          DecodeMapSegment(layer, segment, {it->value().data(), it->value().size()});
      if (!seg.ok()) {
        problem(absl::StrFormat("layer %d, blocks %d-%d: %s", layer, segment * kSegmentBlocks,
                                (segment + 1) * kSegmentBlocks - 1, seg.status().message()));
        continue;
      }
      report.map_entries_checked += kSegmentBlocks - seg->states.Count(BlockKind::kAbsent);
      if (auto d = digests.find(layer); d != digests.end()) d->second.AddSegment(segment, *seg);
      // A layer still fetching holds no references yet, and the chunks it
      // names may not be here (docs/replication.md, "Branch cache mode").
      auto owner = by_id.find(layer);
      if (owner != by_id.end() && owner->second->fetching) continue;
      for (const ChunkName& n : seg->names) ++expected[n];
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "scan maps"));
  }
  for (auto& [id, digest] : digests) {
    const LayerRecord& l = *by_id[id];
    if (std::string spelled = digest.Text(); spelled != l.content_digest)
      problem(absl::StrFormat(
          "layer '%s': its map does not read as the image it was imported from (its content "
          "digest is %s, recorded %s)",
          l.name, spelled, l.content_digest));
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), heads_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t layer, page;
      if (!ParseMapKey({it->key().data(), it->key().size()}, &layer, &page)) {
        problem("heads: a key of the wrong length");
        continue;
      }
      auto owner = by_id.find(layer);
      if (owner == by_id.end() || owner->second->kind != LayerKind::kHead)
        problem(absl::StrFormat("head page %d of layer %d belongs to no head", page, layer));
      absl::StatusOr<BlockStates> states =
          DecodeHeadPage(layer, page, {it->value().data(), it->value().size()});
      if (!states.ok()) problem(std::string(states.status().message()));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "scan heads"));
  }

  // 3. Chunks: content matches name; counts match the maps.
  uint64_t total = 0, done = 0;
  RETURN_IF_ERROR(chunks_->ForEachChunk([&](const ChunkName&, const RefRecord&) {
    ++total;
    return true;
  }));
  std::string bytes;
  absl::Status scan = chunks_->ForEachChunk([&](const ChunkName& name, const RefRecord& r) {
    ++report.chunks_checked;
    auto e = expected.find(name);
    int64_t want = e == expected.end() ? 0 : e->second;
    if (e != expected.end()) expected.erase(e);
    if (r.refs != want)
      problem(absl::StrFormat("chunk %s: reference count %d, but %d map entries name it",
                              name.Hex(), r.refs, want));
    absl::StatusOr<std::string> record = chunks_->ReadRecord(name);
    if (!record.ok()) {
      problem(absl::StrFormat("chunk %s: %s", name.Hex(), record.status().message()));
    } else {
      bytes.resize(ChunkRawLength(*record));
      absl::Status decoded = DecodeChunk(*record, absl::MakeSpan(bytes));
      if (!decoded.ok())
        problem(absl::StrFormat("chunk %s: %s", name.Hex(), decoded.message()));
      else if (!(NameChunk(bytes) == name))
        problem(absl::StrFormat("chunk %s: content does not match its name", name.Hex()));
    }
    if (progress && (++done % 4096 == 0 || done == total)) progress(done, total);
    return true;
  });
  RETURN_IF_ERROR(scan);
  for (const auto& [name, count] : expected)
    problem(absl::StrFormat("chunk %s: named by %d map entries but not stored",
                            name.Hex(), count));
  return report;
}

}  // namespace layerdisk
