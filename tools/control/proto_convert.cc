#include "tools/control/proto_convert.h"

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
}

LayerInfo FromProto(const v1::LayerInfo& in) {
  return LayerInfo{in.name(),         in.id(),     in.size(),   in.logical_bytes(),
                   in.created_unix(), in.sealed(), in.source(), in.parent(),
                   in.image_id()};
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
}

StoreStats FromProto(const v1::StoreStats& in) {
  StoreStats s;
  s.store = FromProto(in.store());
  for (const auto& l : in.layers()) s.layers.push_back(FromProto(l));
  s.chunks = in.chunks();
  s.head_bytes = in.head_bytes();
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
}

GcResult FromProto(const v1::GcResult& in) {
  return GcResult{in.layers_removed(), in.chunks_removed(), in.bytes_reclaimed()};
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

}  // namespace layerdisk
