// How frontends name what they serve: "VOLUME" (read-write), "VOLUME@SNAP"
// and "layer:NAME" (read-only). One parser for NBD exports, FUSE files and
// the control API.
#ifndef LAYERDISK_ENGINE_DEVICE_NAMES_H_
#define LAYERDISK_ENGINE_DEVICE_NAMES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/block_device.h"
#include "engine/store.h"

namespace layerdisk {

inline constexpr char kLayerDevicePrefix[] = "layer:";

struct NamedDevice {
  std::string name;
  bool read_only = false;
  std::string description;  // e.g. "volume, 20.0 GiB, layers os,office"
};

// Every device the store can serve, volumes first.
absl::StatusOr<std::vector<NamedDevice>> ListNamedDevices(Store& store);
absl::StatusOr<std::shared_ptr<BlockDevice>> OpenNamedDevice(Store& store,
                                                             const std::string& name);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_DEVICE_NAMES_H_
