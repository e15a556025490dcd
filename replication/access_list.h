// AccessList: which layers each replication peer may read, by the common
// name (CN) of the certificate it authenticated with (mutual TLS).
//
// File format, one rule a line ('#' starts a comment):
//   IDENTITY  LAYER-PATTERN
// IDENTITY is a certificate CN or '*' (any authenticated peer); the pattern
// is a layer name, or a prefix ending in '*' ("os-*"), or '*'. A peer with
// no matching rule sees no layer (every layer is NotFound to it).
#ifndef LAYERDISK_REPLICATION_ACCESS_LIST_H_
#define LAYERDISK_REPLICATION_ACCESS_LIST_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/replication_service.h"

namespace layerdisk {

class AccessList {
 public:
  // InvalidArgument naming the line when the file is malformed.
  static absl::StatusOr<AccessList> Load(const std::string& path);

  bool Allows(const std::string& identity, const std::string& layer) const;
  // A LayerAccessFn checking the peer's certificate CN against this list.
  // The list must outlive it.
  LayerAccessFn AsAccessFn() const;

 private:
  std::vector<std::pair<std::string, std::string>> rules_;  // identity, pattern
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_ACCESS_LIST_H_
