// The control API's comparing calls: each forwards to the Store.
#include "tools/control/control_service.h"
#include "tools/control/grpc_status.h"
#include "tools/control/proto_convert.h"

namespace layerdisk {

grpc::Status ControlService::DiffDevices(grpc::ServerContext*, const v1::DiffRequest* in,
                                         v1::DiffReport* out) {
  absl::StatusOr<DiffReport> r = store_->DiffDevices(in->from(), in->to());
  if (!r.ok()) return ToGrpc(r.status());
  ToProto(*r, out);
  return grpc::Status::OK;
}

grpc::Status ControlService::LayerConflicts(grpc::ServerContext*,
                                            const v1::ConflictsRequest* in,
                                            v1::ConflictReport* out) {
  std::optional<std::vector<std::string>> base;
  if (in->has_base()) base.emplace(in->base().begin(), in->base().end());
  absl::StatusOr<ConflictReport> r = store_->LayerConflicts(in->first(), in->second(), base);
  if (!r.ok()) return ToGrpc(r.status());
  ToProto(*r, out);
  return grpc::Status::OK;
}

grpc::Status ControlService::StackConflicts(grpc::ServerContext*,
                                            const v1::StackConflictsRequest* in,
                                            v1::StackConflictList* out) {
  absl::StatusOr<std::vector<StackConflict>> r = store_->StackConflicts(
      std::vector<std::string>(in->layers().begin(), in->layers().end()));
  if (!r.ok()) return ToGrpc(r.status());
  for (const StackConflict& c : *r) ToProto(c, out->add_conflicts());
  return grpc::Status::OK;
}

grpc::Status ControlService::MapLayers(grpc::ServerContext*, const v1::DeviceRequest* in,
                                       v1::ProvenanceMap* out) {
  absl::StatusOr<ProvenanceMap> r = store_->MapLayers(in->device());
  if (!r.ok()) return ToGrpc(r.status());
  ToProto(*r, out);
  return grpc::Status::OK;
}

}  // namespace layerdisk
