// StoreExports: the NBD server's ExportProvider over a Store, and
// StoreImages: the FUSE mount's ImageCatalog over it. Both name and open
// devices as engine/device_names.h does (volumes read-write, "VOLUME@SNAP"
// and "layer:NAME" read-only), so both frontends share one device object
// per open volume.
#ifndef LAYERDISK_TOOLS_SERVE_EXPORTS_H_
#define LAYERDISK_TOOLS_SERVE_EXPORTS_H_

#include "engine/store.h"
#include "fuse-frontend/image_catalog.h"
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

// Thread-safe. `store` must outlive it.
class StoreImages final : public ImageCatalog {
 public:
  explicit StoreImages(Store* store) : store_(store) {}
  absl::StatusOr<std::vector<ImageEntry>> ListImages() override;
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenImage(const std::string& device_name) override;

 private:
  Store* const store_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_SERVE_EXPORTS_H_
