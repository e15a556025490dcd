#include "tools/serve_exports.h"

#include <cstdio>

#include "common/status_macros.h"
#include "engine/device_names.h"

namespace layerdisk {

std::vector<ExportInfo> StoreExports::ListExports() {
  std::vector<ExportInfo> out;
  absl::StatusOr<std::vector<NamedDevice>> devices = ListNamedDevices(*store_);
  if (!devices.ok()) {
    std::fprintf(stderr, "layerdisk: listing exports failed: %s\n",
                 std::string(devices.status().message()).c_str());
    return out;
  }
  for (const NamedDevice& d : *devices) out.push_back({d.name, d.description, d.read_only});
  return out;
}

absl::StatusOr<ExportInfo> StoreExports::GetExport(const std::string& name) {
  // Opening is what proves an export exists; it is cheap for volumes (the
  // store keeps one object per open volume) and the server opens it next.
  absl::StatusOr<std::shared_ptr<BlockDevice>> dev = OpenNamedDevice(*store_, name);
  if (!dev.ok()) return dev.status();
  // A description is a courtesy: a store that cannot give one still serves.
  absl::StatusOr<std::string> description = DescribeNamedDevice(*store_, name);
  return ExportInfo{name, description.ok() ? *description : "", (*dev)->read_only()};
}

absl::StatusOr<std::shared_ptr<BlockDevice>> StoreExports::OpenExport(const std::string& name) {
  return OpenNamedDevice(*store_, name);
}

absl::StatusOr<std::vector<ImageEntry>> StoreImages::ListImages() {
  ASSIGN_OR_RETURN(std::vector<NamedDevice> devices, ListNamedDevices(*store_));
  std::vector<ImageEntry> out;
  for (NamedDevice& d : devices) {
    ImageKind kind = d.kind == DeviceKind::kVolume     ? ImageKind::kVolume
                     : d.kind == DeviceKind::kSnapshot ? ImageKind::kSnapshot
                                                       : ImageKind::kLayer;
    out.push_back({kind, std::move(d.volume), std::move(d.object), std::move(d.name), d.size,
                   d.created_unix_ms, d.read_only});
  }
  return out;
}

absl::StatusOr<std::shared_ptr<BlockDevice>> StoreImages::OpenImage(
    const std::string& device_name) {
  return OpenNamedDevice(*store_, device_name);
}

}  // namespace layerdisk
