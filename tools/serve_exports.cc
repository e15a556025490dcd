#include "tools/serve_exports.h"

#include <cstdio>

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
  return ExportInfo{name, "", (*dev)->read_only()};
}

absl::StatusOr<std::shared_ptr<BlockDevice>> StoreExports::OpenExport(const std::string& name) {
  return OpenNamedDevice(*store_, name);
}

}  // namespace layerdisk
