#include "tools/control/proto_convert.h"

#include <algorithm>

namespace layerdisk {

void ToProto(const LayerInfo& in, v1::LayerInfo* out) {
  out->set_name(in.name);
  out->set_id(in.id);
  out->set_size(in.size);
  out->set_logical_bytes(in.logical_bytes);
  out->set_created_unix(in.created_unix);
  out->set_sealed(in.sealed);
  out->set_source(in.source);
  out->set_parent(in.parent);
  out->set_image_id(in.image_id);
  out->set_fetching(in.fetching);
  out->set_fetch_chunks(in.fetch_chunks);
  out->set_fetched_chunks(in.fetched_chunks);
  out->set_description(in.description);
  out->set_content_sha256(in.content_sha256);
  out->set_content_digest(in.content_digest);
  for (const auto& b : in.base) out->add_base(b);
}

LayerInfo FromProto(const v1::LayerInfo& in) {
  LayerInfo l;
  l.name = in.name();
  l.id = in.id();
  l.size = in.size();
  l.logical_bytes = in.logical_bytes();
  l.created_unix = in.created_unix();
  l.sealed = in.sealed();
  l.source = in.source();
  l.parent = in.parent();
  l.image_id = in.image_id();
  l.fetching = in.fetching();
  l.fetch_chunks = in.fetch_chunks();
  l.fetched_chunks = in.fetched_chunks();
  l.description = in.description();
  l.content_sha256 = in.content_sha256();
  l.content_digest = in.content_digest();
  l.base.assign(in.base().begin(), in.base().end());
  return l;
}

void ToProto(const VolumeInfo& in, v1::VolumeInfo* out) {
  out->set_name(in.name);
  out->set_size(in.size);
  for (const auto& l : in.layers) out->add_layers(l);
  out->set_depth(in.depth);
  out->set_head_bytes(in.head_bytes);
  out->set_created_unix(in.created_unix);
  out->set_snapshots(in.snapshots);
}

VolumeInfo FromProto(const v1::VolumeInfo& in) {
  VolumeInfo v;
  v.name = in.name();
  v.size = in.size();
  v.layers.assign(in.layers().begin(), in.layers().end());
  v.depth = in.depth();
  v.head_bytes = in.head_bytes();
  v.created_unix = in.created_unix();
  v.snapshots = in.snapshots();
  return v;
}

void ToProto(const SnapshotInfo& in, v1::SnapshotInfo* out) {
  out->set_volume(in.volume);
  out->set_name(in.name);
  out->set_created_unix_ms(in.created_unix_ms);
  out->set_changed_bytes(in.changed_bytes);
  out->set_scheduled(in.scheduled);
}

SnapshotInfo FromProto(const v1::SnapshotInfo& in) {
  return SnapshotInfo{in.volume(), in.name(), in.created_unix_ms(), in.changed_bytes(),
                      in.scheduled()};
}

void ToProto(const SpaceStats& in, v1::SpaceStats* out) {
  out->set_name(in.name);
  out->set_logical_bytes(in.logical_bytes);
  out->set_unique_bytes(in.unique_bytes);
  out->set_stored_bytes(in.stored_bytes);
  out->set_dedup_ratio(in.dedup_ratio);
  out->set_compression_ratio(in.compression_ratio);
}

SpaceStats FromProto(const v1::SpaceStats& in) {
  return SpaceStats{in.name(), in.logical_bytes(), in.unique_bytes(),
                    in.stored_bytes(), in.dedup_ratio(), in.compression_ratio()};
}

void ToProto(const StoreStats& in, v1::StoreStats* out) {
  ToProto(in.store, out->mutable_store());
  for (const auto& l : in.layers) ToProto(l, out->add_layers());
  out->set_chunks(in.chunks);
  out->set_head_bytes(in.head_bytes);
  out->set_unreferenced_bytes(in.unreferenced_bytes);
  out->set_chunk_file_bytes(in.chunk_file_bytes);
  out->set_chunk_file_garbage_bytes(in.chunk_file_garbage_bytes);
  out->set_compression(static_cast<uint32_t>(in.compression));
  v1::ChunkCacheStats* cache = out->mutable_cache();
  cache->set_hits(in.cache.hits);
  cache->set_misses(in.cache.misses);
  cache->set_bytes(in.cache.bytes);
  cache->set_capacity(in.cache.capacity);
  v1::PoolStats* pool = out->mutable_pool();
  pool->set_name(in.pool.name);
  pool->set_objects(in.pool.objects);
  pool->set_bytes(in.pool.bytes);
  pool->set_stores(in.pool.stores);
  pool->set_layers(in.pool.layers);
}

StoreStats FromProto(const v1::StoreStats& in) {
  StoreStats s;
  s.store = FromProto(in.store());
  for (const auto& l : in.layers()) s.layers.push_back(FromProto(l));
  s.chunks = in.chunks();
  s.head_bytes = in.head_bytes();
  s.unreferenced_bytes = in.unreferenced_bytes();
  s.chunk_file_bytes = in.chunk_file_bytes();
  s.chunk_file_garbage_bytes = in.chunk_file_garbage_bytes();
  // Shown only; a value this client does not know shows as "unknown". One
  // too large for the enum's byte would be undefined: it becomes 255.
  s.compression = static_cast<ChunkCompression>(std::min<uint32_t>(in.compression(), UINT8_MAX));
  s.cache = {in.cache().hits(), in.cache().misses(), in.cache().bytes(), in.cache().capacity()};
  s.pool = {in.pool().name(), in.pool().objects(), in.pool().bytes(), in.pool().stores(),
            in.pool().layers()};
  return s;
}

void ToProto(const ImportResult& in, v1::ImportResult* out) {
  ToProto(in.layer, out->mutable_layer());
  out->set_bytes_read(in.bytes_read);
  out->set_new_chunks(in.new_chunks);
  out->set_new_stored_bytes(in.new_stored_bytes);
  out->set_seconds(in.seconds);
}

ImportResult FromProto(const v1::ImportResult& in) {
  return ImportResult{FromProto(in.layer()), in.bytes_read(), in.new_chunks(),
                      in.new_stored_bytes(), in.seconds()};
}

void ToProto(const GcResult& in, v1::GcResult* out) {
  out->set_layers_removed(in.layers_removed);
  out->set_chunks_removed(in.chunks_removed);
  out->set_bytes_reclaimed(in.bytes_reclaimed);
  out->set_fetching_layers(in.fetching_layers);
  out->set_garbage_bytes_left(in.garbage_bytes_left);
}

GcResult FromProto(const v1::GcResult& in) {
  return GcResult{in.layers_removed(), in.chunks_removed(), in.bytes_reclaimed(),
                  in.fetching_layers(), in.garbage_bytes_left()};
}

void ToProto(const FsckReport& in, v1::FsckReport* out) {
  out->set_layers_checked(in.layers_checked);
  out->set_map_entries_checked(in.map_entries_checked);
  out->set_chunks_checked(in.chunks_checked);
  for (const auto& p : in.problems) out->add_problems(p);
}

FsckReport FromProto(const v1::FsckReport& in) {
  FsckReport r;
  r.layers_checked = in.layers_checked();
  r.map_entries_checked = in.map_entries_checked();
  r.chunks_checked = in.chunks_checked();
  r.problems.assign(in.problems().begin(), in.problems().end());
  return r;
}

void ToProto(const SnapshotSchedule& in, v1::SnapshotSchedule* out) {
  out->set_volume(in.volume);
  out->set_every_seconds(in.every_seconds);
  out->set_keep(in.keep);
  out->set_next_due_unix(in.next_due_unix);
}

SnapshotSchedule FromProto(const v1::SnapshotSchedule& in) {
  return SnapshotSchedule{in.volume(), in.every_seconds(), in.keep(), in.next_due_unix()};
}

// --- Comparing -------------------------------------------------------------

namespace {

void RangesToProto(const std::vector<ByteRange>& in,
                   google::protobuf::RepeatedPtrField<v1::Extent>* out) {
  for (const ByteRange& r : in) {
    v1::Extent* e = out->Add();
    e->set_offset(r.offset);
    e->set_length(r.length);
  }
}

std::vector<ByteRange> RangesFromProto(const google::protobuf::RepeatedPtrField<v1::Extent>& in) {
  std::vector<ByteRange> out;
  for (const v1::Extent& e : in) out.push_back({e.offset(), e.length()});
  return out;
}

}  // namespace

void ToProto(const DiffReport& in, v1::DiffReport* out) {
  out->set_from(in.from);
  out->set_to(in.to);
  out->set_size(in.size);
  RangesToProto(in.ranges, out->mutable_ranges());
  out->set_changed_bytes(in.changed_bytes);
  out->set_bytes_read(in.bytes_read);
}

DiffReport FromProto(const v1::DiffReport& in) {
  DiffReport r;
  r.from = in.from();
  r.to = in.to();
  r.size = in.size();
  r.ranges = RangesFromProto(in.ranges());
  r.changed_bytes = in.changed_bytes();
  r.bytes_read = in.bytes_read();
  return r;
}

void ToProto(const ConflictReport& in, v1::ConflictReport* out) {
  out->set_first(in.first);
  out->set_second(in.second);
  for (const std::string& b : in.base) out->add_base(b);
  out->set_base_from(in.base_from);
  RangesToProto(in.ranges, out->mutable_ranges());
  out->set_conflicting_bytes(in.conflicting_bytes);
}

ConflictReport FromProto(const v1::ConflictReport& in) {
  ConflictReport r;
  r.first = in.first();
  r.second = in.second();
  r.base.assign(in.base().begin(), in.base().end());
  r.base_from = in.base_from();
  r.ranges = RangesFromProto(in.ranges());
  r.conflicting_bytes = in.conflicting_bytes();
  return r;
}

void ToProto(const StackConflict& in, v1::StackConflict* out) {
  out->set_lower(in.lower);
  out->set_upper(in.upper);
  out->set_blocks(in.blocks);
  out->set_bytes(in.bytes);
}

StackConflict FromProto(const v1::StackConflict& in) {
  return StackConflict{in.lower(), in.upper(), in.blocks(), in.bytes()};
}

void ToProto(const ProvenanceMap& in, v1::ProvenanceMap* out) {
  out->set_device(in.device);
  out->set_size(in.size);
  for (const std::string& l : in.layers) out->add_layers(l);
  for (const LayerExtent& e : in.extents) {
    v1::LayerExtent* x = out->add_extents();
    x->set_offset(e.offset);
    x->set_length(e.length);
    x->set_layer(e.layer);
    x->set_kind(static_cast<uint32_t>(e.kind));
  }
}

ProvenanceMap FromProto(const v1::ProvenanceMap& in) {
  ProvenanceMap m;
  m.device = in.device();
  m.size = in.size();
  m.layers.assign(in.layers().begin(), in.layers().end());
  for (const v1::LayerExtent& x : in.extents()) {
    ExtentKind kind = x.kind() == 1   ? ExtentKind::kData
                      : x.kind() == 2 ? ExtentKind::kZero
                                      : ExtentKind::kHole;
    m.extents.push_back({x.offset(), x.length(), x.layer(), kind});
  }
  return m;
}

void ToProto(const RebaseReport& in, v1::RebaseReport* out) {
  out->set_volume(in.volume);
  for (const auto& l : in.old_layers) out->add_old_layers(l);
  for (const auto& l : in.new_layers) out->add_new_layers(l);
  for (const ByteRange& r : in.conflicts) {
    v1::ByteRange* p = out->add_conflicts();
    p->set_offset(r.offset);
    p->set_length(r.length);
  }
  out->set_applied(in.applied);
}

RebaseReport FromProto(const v1::RebaseReport& in) {
  RebaseReport r;
  r.volume = in.volume();
  r.old_layers.assign(in.old_layers().begin(), in.old_layers().end());
  r.new_layers.assign(in.new_layers().begin(), in.new_layers().end());
  for (const auto& c : in.conflicts()) r.conflicts.push_back({c.offset(), c.length()});
  r.applied = in.applied();
  return r;
}

}  // namespace layerdisk
