// absl::Status <-> grpc::Status. The codes are the same canonical codes.
#ifndef LAYERDISK_TOOLS_CONTROL_GRPC_STATUS_H_
#define LAYERDISK_TOOLS_CONTROL_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace layerdisk {

inline grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

inline absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE)
    return absl::UnavailableError("the layerdisk server is not answering: " + s.error_message());
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_CONTROL_GRPC_STATUS_H_
