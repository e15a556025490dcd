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

enum class DeviceKind { kVolume, kSnapshot, kLayer };

struct NamedDevice {
  std::string name;
  bool read_only = false;
  std::string description;  // e.g. "volume, 20.0 GiB, layers os,office"
  // What the name is made of, for frontends that lay devices out by kind
  // (FUSE: volumes/V.raw, snapshots/V/S.raw, layers/L.raw).
  DeviceKind kind = DeviceKind::kVolume;
  std::string volume;  // the volume (kVolume, kSnapshot); empty for layers
  std::string object;  // the volume, snapshot or layer name alone
  uint64_t size = 0;
  // Tells apart an object deleted and re-created under the same name.
  uint64_t created_unix_ms = 0;
};

// Every device the store can serve, volumes first.
absl::StatusOr<std::vector<NamedDevice>> ListNamedDevices(Store& store);
absl::StatusOr<std::shared_ptr<BlockDevice>> OpenNamedDevice(Store& store,
                                                             const std::string& name);
// The description ListNamedDevices gives `name` (which must exist).
absl::StatusOr<std::string> DescribeNamedDevice(Store& store, const std::string& name);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_DEVICE_NAMES_H_
