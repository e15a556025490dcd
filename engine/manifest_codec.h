// A layer manifest (engine/layer_exchange.h) as bytes, for the catalog of
// layers published in a shared RADOS pool (docs/ceph.md). Map segments are
// encoded as the `maps` family stores them, each with its checksum.
#ifndef LAYERDISK_ENGINE_MANIFEST_CODEC_H_
#define LAYERDISK_ENGINE_MANIFEST_CODEC_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/layer_exchange.h"

namespace layerdisk {

std::string EncodeManifest(const LayerManifest& m);
// DataLoss when `bytes` is not a whole, intact manifest; the caller still
// checks it with ValidateManifest and its identity.
absl::StatusOr<LayerManifest> DecodeManifest(std::string_view bytes);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_MANIFEST_CODEC_H_
