#include "engine/device_names.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/size_parse.h"
#include "common/status_macros.h"

namespace layerdisk {
namespace {

std::string VolumeDescription(const VolumeInfo& v) {
  return absl::StrCat("volume, ", FormatSize(v.size), ", layers ",
                      v.layers.empty() ? "(none)" : absl::StrJoin(v.layers, ","));
}
std::string SnapshotDescription(const std::string& volume) {
  return absl::StrCat("snapshot of ", volume);
}
std::string LayerDescription(const LayerInfo& l) {
  return absl::StrCat("layer, ", FormatSize(l.size));
}

}  // namespace

absl::StatusOr<std::vector<NamedDevice>> ListNamedDevices(Store& store) {
  std::vector<NamedDevice> out;
  ASSIGN_OR_RETURN(std::vector<VolumeInfo> volumes, store.ListVolumes());
  for (const VolumeInfo& v : volumes) {
    out.push_back({v.name, false, VolumeDescription(v), DeviceKind::kVolume, v.name, v.name, v.size, v.created_unix * 1000});
    ASSIGN_OR_RETURN(std::vector<SnapshotInfo> snaps, store.ListSnapshots(v.name));
    // A snapshot has its volume's size: volumes are never resized.
    for (const SnapshotInfo& s : snaps)
      out.push_back({v.name + "@" + s.name, true, SnapshotDescription(v.name),
                     DeviceKind::kSnapshot, v.name, s.name, v.size, s.created_unix_ms});
  }
  ASSIGN_OR_RETURN(std::vector<LayerInfo> layers, store.ListLayers());
  for (const LayerInfo& l : layers)
    out.push_back({kLayerDevicePrefix + l.name, true, LayerDescription(l), DeviceKind::kLayer, "",
                   l.name, l.size, l.created_unix * 1000});
  return out;
}

absl::StatusOr<std::shared_ptr<BlockDevice>> OpenNamedDevice(Store& store,
                                                             const std::string& name) {
  if (name.rfind(kLayerDevicePrefix, 0) == 0)
    return store.OpenLayer(name.substr(sizeof(kLayerDevicePrefix) - 1));
  size_t at = name.find('@');
  if (at != std::string::npos)
    return store.OpenSnapshot(name.substr(0, at), name.substr(at + 1));
  return store.OpenVolume(name);
}

absl::StatusOr<std::string> DescribeNamedDevice(Store& store, const std::string& name) {
  if (name.rfind(kLayerDevicePrefix, 0) == 0) {
    ASSIGN_OR_RETURN(LayerInfo l, store.GetLayer(name.substr(sizeof(kLayerDevicePrefix) - 1)));
    return LayerDescription(l);
  }
  size_t at = name.find('@');
  if (at != std::string::npos) return SnapshotDescription(name.substr(0, at));
  ASSIGN_OR_RETURN(VolumeInfo v, store.GetVolume(name));
  return VolumeDescription(v);
}

}  // namespace layerdisk
