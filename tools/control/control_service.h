// ControlService: the gRPC control API (proto/control.proto) over a Store.
// `layerdisk serve` runs it on a unix socket in the store directory so that
// management commands keep working while the server owns the store.
//
// Thread-safe (gRPC calls handlers from many threads).
#ifndef LAYERDISK_TOOLS_CONTROL_CONTROL_SERVICE_H_
#define LAYERDISK_TOOLS_CONTROL_CONTROL_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/synchronization/mutex.h"
#include "engine/store.h"
#include "proto/control.grpc.pb.h"

namespace layerdisk {

// The control socket of the store in `store_dir`.
std::string ControlSocketPath(const std::string& store_dir);

// Cuts off the frontends' clients of every export `match` accepts and
// returns once they are gone.
using DisconnectClientsFn =
    std::function<void(const std::function<bool(std::string_view)>& match)>;

class ControlService final : public v1::Control::Service {
 public:
  // `store` must outlive the service. `disconnect`, if set, is called
  // before a forced delete or rollback so that connected clients are
  // disconnected first rather than left failing every request.
  // `schedules_changed`, if set, is called after a snapshot schedule was set
  // or removed (to wake the snapshot scheduler).
  explicit ControlService(Store* store, DisconnectClientsFn disconnect = nullptr,
                          std::function<void()> schedules_changed = nullptr)
      : store_(store),
        disconnect_(std::move(disconnect)),
        schedules_changed_(std::move(schedules_changed)) {}

  grpc::Status ImportLayer(grpc::ServerContext*, grpc::ServerReader<v1::ImportChunk>* reader,
                           v1::ImportResult* out) override;
  grpc::Status ListLayers(grpc::ServerContext*, const v1::Empty*, v1::LayerList* out) override;
  grpc::Status GetLayer(grpc::ServerContext*, const v1::NameRequest* in, v1::LayerInfo* out) override;
  grpc::Status DeleteLayer(grpc::ServerContext*, const v1::NameRequest* in, v1::Empty*) override;
  grpc::Status SealVolume(grpc::ServerContext*, const v1::SealRequest* in, v1::LayerInfo* out) override;
  grpc::Status MergeLayers(grpc::ServerContext*, const v1::MergeRequest* in, v1::LayerInfo* out) override;
  grpc::Status FlattenVolume(grpc::ServerContext*, const v1::FlattenRequest* in,
                             v1::LayerInfo* out) override;
  grpc::Status SetLayerDescription(grpc::ServerContext*, const v1::DescribeRequest* in,
                                   v1::LayerInfo* out) override;
  grpc::Status RebaseVolume(grpc::ServerContext*, const v1::RebaseRequest* in,
                            v1::RebaseReport* out) override;
  grpc::Status RebaseAll(grpc::ServerContext*, const v1::RebaseAllRequest* in,
                         v1::RebaseReportList* out) override;
  grpc::Status CreateVolume(grpc::ServerContext*, const v1::CreateVolumeRequest* in,
                            v1::VolumeInfo* out) override;
  grpc::Status ListVolumes(grpc::ServerContext*, const v1::Empty*, v1::VolumeList* out) override;
  grpc::Status GetVolume(grpc::ServerContext*, const v1::NameRequest* in, v1::VolumeInfo* out) override;
  grpc::Status DeleteVolume(grpc::ServerContext*, const v1::DeleteRequest* in, v1::Empty*) override;
  grpc::Status CloneVolume(grpc::ServerContext*, const v1::CloneRequest* in, v1::VolumeInfo* out) override;
  grpc::Status CreateSnapshot(grpc::ServerContext*, const v1::SnapshotRequest* in,
                              v1::SnapshotInfo* out) override;
  grpc::Status ListSnapshots(grpc::ServerContext*, const v1::NameRequest* in,
                             v1::SnapshotList* out) override;
  grpc::Status RollbackSnapshot(grpc::ServerContext*, const v1::SnapshotRequest* in, v1::Empty*) override;
  grpc::Status DeleteSnapshot(grpc::ServerContext*, const v1::SnapshotRequest* in, v1::Empty*) override;
  grpc::Status SetSnapshotSchedule(grpc::ServerContext*, const v1::SnapshotSchedule* in,
                                   v1::SnapshotSchedule* out) override;
  grpc::Status RemoveSnapshotSchedule(grpc::ServerContext*, const v1::NameRequest* in,
                                      v1::Empty*) override;
  grpc::Status ListSnapshotSchedules(grpc::ServerContext*, const v1::Empty*,
                                     v1::ScheduleList* out) override;
  grpc::Status CreateScheduledSnapshot(grpc::ServerContext*,
                                       const v1::ScheduledSnapshotRequest* in,
                                       v1::SnapshotInfo* out) override;
  grpc::Status Stats(grpc::ServerContext*, const v1::Empty*, v1::StoreStats* out) override;
  grpc::Status ListPoolStores(grpc::ServerContext*, const v1::Empty*,
                              v1::PoolStoreList* out) override;
  grpc::Status ForgetPoolStore(grpc::ServerContext*, const v1::ForgetPoolStoreRequest* in,
                               v1::ForgetPoolStoreResult* out) override;
  grpc::Status ListPoolLayers(grpc::ServerContext*, const v1::Empty*,
                              v1::PoolLayerList* out) override;
  grpc::Status Gc(grpc::ServerContext*, const v1::Empty*, v1::GcResult* out) override;
  grpc::Status Fsck(grpc::ServerContext*, const v1::Empty*, v1::FsckReport* out) override;
  grpc::Status WaitForBackgroundWork(grpc::ServerContext*, const v1::Empty*, v1::Empty*) override;
  grpc::Status GetFormat(grpc::ServerContext*, const v1::Empty*, v1::DeviceInfo* out) override;
  grpc::Status OpenDevice(grpc::ServerContext*, const v1::DeviceRequest* in, v1::DeviceInfo* out) override;
  grpc::Status Read(grpc::ServerContext*, const v1::ReadRequest* in, v1::ReadReply* out) override;
  grpc::Status Write(grpc::ServerContext*, const v1::WriteRequest* in, v1::Empty*) override;
  grpc::Status Zero(grpc::ServerContext*, const v1::ZeroRequest* in, v1::Empty*) override;
  grpc::Status Flush(grpc::ServerContext*, const v1::DeviceRequest* in, v1::Empty*) override;
  grpc::Status Map(grpc::ServerContext*, const v1::MapRequest* in, v1::MapReply* out) override;
  // Comparing (control_compare.cc).
  grpc::Status DiffDevices(grpc::ServerContext*, const v1::DiffRequest* in,
                           v1::DiffReport* out) override;
  grpc::Status LayerConflicts(grpc::ServerContext*, const v1::ConflictsRequest* in,
                              v1::ConflictReport* out) override;
  grpc::Status StackConflicts(grpc::ServerContext*, const v1::StackConflictsRequest* in,
                              v1::StackConflictList* out) override;
  grpc::Status MapLayers(grpc::ServerContext*, const v1::DeviceRequest* in,
                         v1::ProvenanceMap* out) override;
  grpc::Status PullLayer(grpc::ServerContext*, const v1::PullRequest* in,
                         v1::PullReply* out) override;

  // Branch cache mode: how the server runs a lazy pull (serve --upstream).
  // Set before the service is started; unset, PullLayer is refused.
  using PullFn = std::function<absl::Status(const v1::PullRequest&, v1::PullReply*)>;
  void SetPullHandler(PullFn pull) { pull_ = std::move(pull); }

 private:
  // Devices opened through this API stay open (a volume's writes stay
  // buffered between requests) until a change to what they name.
  absl::StatusOr<std::shared_ptr<BlockDevice>> Device(const std::string& name);
  // Closes (flushing) every cached device whose name starts with `volume`
  // as a volume or snapshot name, or equals `name`.
  void Forget(const std::string& volume_or_device);

  // Before a forced change to `volume`: disconnects clients of the volume,
  // and with `and_snapshots` those of its snapshots too.
  void DisconnectForForce(const std::string& volume, bool and_snapshots);

  Store* const store_;
  const DisconnectClientsFn disconnect_;
  const std::function<void()> schedules_changed_;
  PullFn pull_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<BlockDevice>> devices_ ABSL_GUARDED_BY(mu_);
};

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_CONTROL_CONTROL_SERVICE_H_
