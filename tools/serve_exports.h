// StoreExports: the NBD server's ExportProvider over a Store. Exports are
// named as every frontend names devices (engine/device_names.h): volumes
// read-write, "VOLUME@SNAP" and "layer:NAME" read-only.
#ifndef LAYERDISK_TOOLS_SERVE_EXPORTS_H_
#define LAYERDISK_TOOLS_SERVE_EXPORTS_H_

#include "engine/store.h"
#include "nbd-frontend/nbd_server.h"

namespace layerdisk {

// Thread-safe. `store` must outlive it.
class StoreExports final : public ExportProvider {
 public:
  explicit StoreExports(Store* store) : store_(store) {}
  std::vector<ExportInfo> ListExports() override;
  absl::StatusOr<ExportInfo> GetExport(const std::string& name) override;
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenExport(const std::string& name) override;

 private:
  Store* const store_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_SERVE_EXPORTS_H_
