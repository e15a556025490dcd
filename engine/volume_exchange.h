// VolumeExchange: what `replicate push-volume` / `pull-volume` need from a
// local store (docs/replication.md, "Volumes"): a volume described as its
// snapshots, and a volume with its snapshots committed from such a
// description once every layer's chunks are here.
//
// A snapshot is a stack: the volume's named base layers, then anonymous
// layers (frozen heads, sealed). Anonymous layers have no name, so on the
// wire each is named after its content: "anon-" + the hex of its chained
// identity, ManifestIdentity over the identity of the layer below it in the
// stack (for the lowest, VolumeBaseIdentity of the base layers). A name thus
// stands for the whole stack up to that layer, and a receiver verifies a
// received layer by recomputing the identity its name claims.
//
// Only a store opened in this process offers it. Thread-safe.
#ifndef LAYERDISK_ENGINE_VOLUME_EXCHANGE_H_
#define LAYERDISK_ENGINE_VOLUME_EXCHANGE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/layer_exchange.h"
#include "engine/store.h"

namespace layerdisk {

struct VolumeSnapshotManifest {
  std::string name;
  uint64_t created_unix_ms = 0;
  uint64_t changed_bytes = 0;
  bool scheduled = false;
  // The anonymous layers above the base, lowest first, by wire name.
  std::vector<std::string> layers;
};

struct VolumeManifest {
  std::string name;
  uint64_t size = 0;
  std::vector<std::string> base_layers;      // named, lowest first
  std::vector<std::string> base_identities;  // their identities (LayerManifest::identity)
  std::vector<VolumeSnapshotManifest> snapshots;  // oldest first
};

// A volume as its sender holds it: the description and the manifests of
// its anonymous layers (named by wire name, `parent` the wire name of the
// layer below or empty for the lowest), each listed after the one below it.
struct VolumeExport {
  VolumeManifest volume;
  std::vector<LayerManifest> layers;
};

// What a store holds of a volume about to be received.
struct VolumePlan {
  bool up_to_date = false;          // every snapshot is here already
  std::vector<std::string> held;    // wire names of the anonymous layers here
};

struct VolumeCommitResult {
  VolumeInfo volume;
  std::vector<std::string> snapshots_created;  // oldest first
  bool up_to_date = false;  // the volume already held every snapshot
};

// The root of a volume's identity chain: SHA-256 over its size and its base
// layers' identities, in order.
std::string VolumeBaseIdentity(const VolumeManifest& m);
// "anon-" + the 64 hex digits of `identity`.
std::string AnonymousLayerName(const std::string& identity);
// The identity an anonymous layer's wire name claims; InvalidArgument when
// `name` is not such a name.
absl::StatusOr<std::string> IdentityOfAnonymousLayer(const std::string& name);
// Shape checks of a received description: valid names, base names and
// identities paired, at least one snapshot, distinct snapshot names, every
// stack's layers anonymous-layer names, each layer always over the same one.
absl::Status ValidateVolumeManifest(const VolumeManifest& m);

class VolumeExchange {
 public:
  virtual ~VolumeExchange() = default;

  // `volume` as its snapshots. NotFound when there is no such volume;
  // FailedPrecondition while one of its snapshot layers is not sealed yet
  // (Store::WaitForBackgroundWork seals them).
  virtual absl::StatusOr<VolumeExport> ExportVolume(const std::string& volume) = 0;

  // What the store holds of volume `as` for receiving `m` (see
  // CommitVolume for when it is refused): checked before any transfer, so a
  // diverged volume is refused before anything moves.
  virtual absl::StatusOr<VolumePlan> PlanVolume(const std::string& as,
                                                const VolumeManifest& m) = 0;

  // Makes volume `as` hold `m`'s snapshots, in one atomic commit once every
  // new layer's map is written (a failure leaves nothing visible).
  // `new_layers` are the anonymous layers of `m` the store does not hold
  // yet, each after the one below it; each is checked against the identity
  // its name claims. The base layers must be here with the identities `m`
  // names. If volume `as` exists, its base must be the same, its snapshots
  // (names and content) a prefix of `m`'s, its head empty and the volume not
  // open: otherwise FailedPrecondition, nothing changed. The volume's head
  // then starts empty over the latest snapshot. DataLoss when a chunk a
  // layer names is not stored. `origin` becomes the layers' source
  // "replicate:ORIGIN".
  virtual absl::StatusOr<VolumeCommitResult> CommitVolume(
      const std::string& as, const VolumeManifest& m,
      const std::vector<LayerManifest>& new_layers, const std::string& origin) = 0;
};

// The volume exchange of a store opened in this process; null for a remote
// store. It must not outlive `store`.
std::unique_ptr<VolumeExchange> GetVolumeExchange(Store* store);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_VOLUME_EXCHANGE_H_
