// Engine structs <-> control API messages, each direction written once.
#ifndef LAYERDISK_TOOLS_CONTROL_PROTO_CONVERT_H_
#define LAYERDISK_TOOLS_CONTROL_PROTO_CONVERT_H_

#include "engine/store.h"
#include "proto/control.pb.h"

namespace layerdisk {

void ToProto(const LayerInfo& in, v1::LayerInfo* out);
void ToProto(const VolumeInfo& in, v1::VolumeInfo* out);
void ToProto(const SnapshotInfo& in, v1::SnapshotInfo* out);
void ToProto(const SpaceStats& in, v1::SpaceStats* out);
void ToProto(const StoreStats& in, v1::StoreStats* out);
void ToProto(const ImportResult& in, v1::ImportResult* out);
void ToProto(const GcResult& in, v1::GcResult* out);
void ToProto(const FsckReport& in, v1::FsckReport* out);
void ToProto(const SnapshotSchedule& in, v1::SnapshotSchedule* out);
void ToProto(const DiffReport& in, v1::DiffReport* out);
void ToProto(const ConflictReport& in, v1::ConflictReport* out);
void ToProto(const StackConflict& in, v1::StackConflict* out);
void ToProto(const ProvenanceMap& in, v1::ProvenanceMap* out);
void ToProto(const RebaseReport& in, v1::RebaseReport* out);

LayerInfo FromProto(const v1::LayerInfo& in);
VolumeInfo FromProto(const v1::VolumeInfo& in);
SnapshotInfo FromProto(const v1::SnapshotInfo& in);
SpaceStats FromProto(const v1::SpaceStats& in);
StoreStats FromProto(const v1::StoreStats& in);
ImportResult FromProto(const v1::ImportResult& in);
GcResult FromProto(const v1::GcResult& in);
FsckReport FromProto(const v1::FsckReport& in);
SnapshotSchedule FromProto(const v1::SnapshotSchedule& in);
DiffReport FromProto(const v1::DiffReport& in);
ConflictReport FromProto(const v1::ConflictReport& in);
StackConflict FromProto(const v1::StackConflict& in);
ProvenanceMap FromProto(const v1::ProvenanceMap& in);
RebaseReport FromProto(const v1::RebaseReport& in);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_CONTROL_PROTO_CONVERT_H_
