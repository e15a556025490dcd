#include "tools/control/control_service.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/byte_stream.h"
#include "common/status_macros.h"
#include "engine/device_names.h"
#include "tools/control/grpc_status.h"
#include "tools/control/proto_convert.h"

namespace layerdisk {
namespace {

constexpr uint64_t kMaxTransfer = 32ull << 20;

// The next message of an import call. A call that ends before the
// client's end marker was cut off: what arrived must not become a layer.
absl::Status NextImportMessage(grpc::ServerReader<v1::ImportChunk>* reader,
                               v1::ImportChunk* msg) {
  if (!reader->Read(msg))
    return absl::AbortedError("the import was cut off before all of the image arrived");
  if (msg->data().size() > kMaxTransfer)
    return absl::InvalidArgumentError("an import message is too large");
  return absl::OkStatus();
}

// The image of an import, arriving over the stream: the client sends a
// header with its data extents, then their bytes in ascending order. The
// engine reads ascending too, so each message is consumed once.
class StreamSource final : public BlockDevice {
 public:
  StreamSource(grpc::ServerReader<v1::ImportChunk>* reader, const v1::ImportChunk& header)
      : reader_(reader), size_(header.size()) {
    for (const auto& e : header.extents()) extents_.push_back({e.offset(), e.length(), false, false});
  }
  uint64_t size() const override { return size_; }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 512; }
  absl::Status Write(uint64_t, absl::Span<const char>, bool) override { return ReadOnly(); }
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override { return ReadOnly(); }
  absl::Status Trim(uint64_t, uint64_t, bool) override { return ReadOnly(); }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t, uint64_t) override {
    for (const DeviceExtent& e : extents_)
      if (e.offset > size_ || e.length > size_ - e.offset)
        return absl::InvalidArgumentError("an import extent lies beyond the image");
    return extents_;
  }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    std::memset(out.data(), 0, out.size());
    const uint64_t end = offset + out.size();
    while (true) {
      if (!have_) {
        if (ended_) return absl::OkStatus();  // the rest is holes
        RETURN_IF_ERROR(NextImportMessage(reader_, &msg_));
        if (msg_.end()) {
          ended_ = true;
          continue;
        }
        have_ = true;
      }
      uint64_t m_off = msg_.offset(), m_end = m_off + msg_.data().size();
      if (m_off >= end) return absl::OkStatus();  // for a later read
      uint64_t from = std::max(m_off, offset), to = std::min(m_end, end);
      if (from < to)
        std::memcpy(out.data() + (from - offset), msg_.data().data() + (from - m_off), to - from);
      if (m_end > end) return absl::OkStatus();
      have_ = false;
    }
  }

 private:
  static absl::Status ReadOnly() { return absl::PermissionDeniedError("read-only"); }
  grpc::ServerReader<v1::ImportChunk>* const reader_;
  const uint64_t size_;
  std::vector<DeviceExtent> extents_;
  v1::ImportChunk msg_;
  bool have_ = false;
  bool ended_ = false;  // the client said it sent everything
};

// A raw stream's bytes arriving over the import call, one message after
// another (ImportChunk::stream).
class ImportStreamBytes final : public ByteStream {
 public:
  explicit ImportStreamBytes(grpc::ServerReader<v1::ImportChunk>* reader) : reader_(reader) {}

  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    size_t got = 0;
    while (got < out.size() && !ended_) {
      if (used_ == msg_.data().size()) {
        RETURN_IF_ERROR(NextImportMessage(reader_, &msg_));
        used_ = 0;
        if (msg_.end()) {
          ended_ = true;
          break;
        }
        if (msg_.offset() != position_)
          return absl::InvalidArgumentError(absl::StrFormat(
              "an import stream's message is at offset %d where %d was due", msg_.offset(),
              position_));
        position_ += msg_.data().size();
      }
      size_t n = std::min(out.size() - got, msg_.data().size() - used_);
      std::memcpy(out.data() + got, msg_.data().data() + used_, n);
      used_ += n;
      got += n;
    }
    return got;
  }

 private:
  grpc::ServerReader<v1::ImportChunk>* const reader_;
  v1::ImportChunk msg_;
  size_t used_ = 0;        // bytes of msg_ already handed out
  uint64_t position_ = 0;  // stream offset after the messages received
  bool ended_ = false;
};

template <typename T>
grpc::Status Reply(const absl::StatusOr<T>& result,
                   const std::function<void(const T&)>& fill) {
  if (!result.ok()) return ToGrpc(result.status());
  fill(*result);
  return grpc::Status::OK;
}

}  // namespace

std::string ControlSocketPath(const std::string& store_dir) {
  return store_dir + "/control.sock";
}

absl::StatusOr<std::shared_ptr<BlockDevice>> ControlService::Device(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = devices_.find(name);
  if (it != devices_.end()) return it->second;
  ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> dev, OpenNamedDevice(*store_, name));
  devices_[name] = dev;
  return dev;
}

void ControlService::Forget(const std::string& name) {
  std::vector<std::shared_ptr<BlockDevice>> closing;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = devices_.begin(); it != devices_.end();) {
      const std::string& n = it->first;
      bool match = n == name || n.rfind(name + "@", 0) == 0;
      if (match) {
        closing.push_back(std::move(it->second));
        it = devices_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& dev : closing) (void)dev->Flush();  // keep acknowledged writes
}

void ControlService::DisconnectForForce(const std::string& volume, bool and_snapshots) {
  if (!disconnect_) return;
  const std::string snapshot_prefix = volume + "@";
  disconnect_([&](std::string_view name) {
    return name == volume || (and_snapshots && name.rfind(snapshot_prefix, 0) == 0);
  });
}

grpc::Status ControlService::ImportLayer(grpc::ServerContext*,
                                         grpc::ServerReader<v1::ImportChunk>* reader,
                                         v1::ImportResult* out) {
  v1::ImportChunk header;
  if (!reader->Read(&header))
    return ToGrpc(absl::InvalidArgumentError("an import needs a header"));
  const ImportOptions options{header.origin(), header.parent(), header.image_id(),
                              header.description(), header.sha256()};
  auto reply = [out](const ImportResult& r) { ToProto(r, out); };
  if (header.stream()) {
    ImportStreamBytes stream(reader);
    return Reply<ImportResult>(store_->ImportStream(header.name(), stream, options, nullptr),
                               reply);
  }
  StreamSource source(reader, header);
  return Reply<ImportResult>(store_->ImportImage(header.name(), source, options, nullptr),
                             reply);
}

grpc::Status ControlService::ListLayers(grpc::ServerContext*, const v1::Empty*, v1::LayerList* out) {
  return Reply<std::vector<LayerInfo>>(store_->ListLayers(), [&](const auto& v) {
    for (const auto& l : v) ToProto(l, out->add_layers());
  });
}

grpc::Status ControlService::GetLayer(grpc::ServerContext*, const v1::NameRequest* in,
                                      v1::LayerInfo* out) {
  return Reply<LayerInfo>(store_->GetLayer(in->name()), [&](const auto& l) { ToProto(l, out); });
}

grpc::Status ControlService::DeleteLayer(grpc::ServerContext*, const v1::NameRequest* in, v1::Empty*) {
  Forget(kLayerDevicePrefix + in->name());
  return ToGrpc(store_->DeleteLayer(in->name()));
}

grpc::Status ControlService::SealVolume(grpc::ServerContext*, const v1::SealRequest* in,
                                        v1::LayerInfo* out) {
  return Reply<LayerInfo>(store_->SealVolume(in->volume(), in->layer(), in->description()),
                          [&](const auto& l) { ToProto(l, out); });
}

grpc::Status ControlService::MergeLayers(grpc::ServerContext*, const v1::MergeRequest* in,
                                         v1::LayerInfo* out) {
  std::vector<std::string> layers(in->layers().begin(), in->layers().end());
  return Reply<LayerInfo>(store_->MergeLayers(in->name(), layers, in->description()),
                          [&](const auto& l) { ToProto(l, out); });
}

grpc::Status ControlService::FlattenVolume(grpc::ServerContext*, const v1::FlattenRequest* in,
                                           v1::LayerInfo* out) {
  std::optional<std::string> snap;
  if (in->has_snapshot()) snap = in->snapshot();
  return Reply<LayerInfo>(store_->FlattenVolume(in->name(), in->volume(), snap, in->description()),
                          [&](const auto& l) { ToProto(l, out); });
}

grpc::Status ControlService::SetLayerDescription(grpc::ServerContext*,
                                                 const v1::DescribeRequest* in,
                                                 v1::LayerInfo* out) {
  return Reply<LayerInfo>(store_->SetLayerDescription(in->name(), in->description()),
                          [&](const auto& l) { ToProto(l, out); });
}

// A rebased volume's open object (devices_ holds the store's one live
// Volume) reads the new stack at once: nothing to forget here.
grpc::Status ControlService::RebaseVolume(grpc::ServerContext*, const v1::RebaseRequest* in,
                                          v1::RebaseReport* out) {
  std::vector<std::string> layers(in->layers().begin(), in->layers().end());
  return Reply<RebaseReport>(store_->RebaseVolume(in->volume(), layers, in->dry_run()),
                             [&](const auto& r) { ToProto(r, out); });
}

grpc::Status ControlService::RebaseAll(grpc::ServerContext*, const v1::RebaseAllRequest* in,
                                       v1::RebaseReportList* out) {
  return Reply<std::vector<RebaseReport>>(
      store_->RebaseAll(in->from(), in->to(), in->dry_run()), [&](const auto& reports) {
        for (const auto& r : reports) ToProto(r, out->add_reports());
      });
}

grpc::Status ControlService::CreateVolume(grpc::ServerContext*, const v1::CreateVolumeRequest* in,
                                          v1::VolumeInfo* out) {
  std::vector<std::string> layers(in->layers().begin(), in->layers().end());
  std::optional<uint64_t> size;
  if (in->has_size()) size = in->size();
  return Reply<VolumeInfo>(store_->CreateVolume(in->name(), layers, size),
                           [&](const auto& v) { ToProto(v, out); });
}

grpc::Status ControlService::ListVolumes(grpc::ServerContext*, const v1::Empty*, v1::VolumeList* out) {
  return Reply<std::vector<VolumeInfo>>(store_->ListVolumes(), [&](const auto& v) {
    for (const auto& x : v) ToProto(x, out->add_volumes());
  });
}

grpc::Status ControlService::GetVolume(grpc::ServerContext*, const v1::NameRequest* in,
                                       v1::VolumeInfo* out) {
  return Reply<VolumeInfo>(store_->GetVolume(in->name()), [&](const auto& v) { ToProto(v, out); });
}

grpc::Status ControlService::DeleteVolume(grpc::ServerContext*, const v1::DeleteRequest* in, v1::Empty*) {
  if (in->force()) DisconnectForForce(in->name(), /*and_snapshots=*/true);
  Forget(in->name());
  return ToGrpc(store_->DeleteVolume(in->name(), in->force()));
}

grpc::Status ControlService::CloneVolume(grpc::ServerContext*, const v1::CloneRequest* in,
                                         v1::VolumeInfo* out) {
  std::optional<std::string> snap;
  if (in->has_snapshot()) snap = in->snapshot();
  return Reply<VolumeInfo>(store_->CloneVolume(in->source(), snap, in->target()),
                           [&](const auto& v) { ToProto(v, out); });
}

grpc::Status ControlService::CreateSnapshot(grpc::ServerContext*, const v1::SnapshotRequest* in,
                                            v1::SnapshotInfo* out) {
  return Reply<SnapshotInfo>(store_->CreateSnapshot(in->volume(), in->name()),
                             [&](const auto& s) { ToProto(s, out); });
}

grpc::Status ControlService::ListSnapshots(grpc::ServerContext*, const v1::NameRequest* in,
                                           v1::SnapshotList* out) {
  return Reply<std::vector<SnapshotInfo>>(store_->ListSnapshots(in->name()), [&](const auto& v) {
    for (const auto& s : v) ToProto(s, out->add_snapshots());
  });
}

grpc::Status ControlService::RollbackSnapshot(grpc::ServerContext*, const v1::SnapshotRequest* in,
                                              v1::Empty*) {
  if (in->force()) DisconnectForForce(in->volume(), /*and_snapshots=*/false);
  Forget(in->volume());
  return ToGrpc(store_->RollbackSnapshot(in->volume(), in->name(), in->force()));
}

grpc::Status ControlService::DeleteSnapshot(grpc::ServerContext*, const v1::SnapshotRequest* in,
                                            v1::Empty*) {
  const std::string device = in->volume() + "@" + in->name();
  if (in->force() && disconnect_)
    disconnect_([&](std::string_view name) { return name == device; });
  Forget(device);
  return ToGrpc(store_->DeleteSnapshot(in->volume(), in->name(), in->force()));
}

grpc::Status ControlService::SetSnapshotSchedule(grpc::ServerContext*,
                                                 const v1::SnapshotSchedule* in,
                                                 v1::SnapshotSchedule* out) {
  absl::StatusOr<SnapshotSchedule> set = store_->SetSnapshotSchedule(FromProto(*in));
  if (set.ok() && schedules_changed_) schedules_changed_();
  return Reply<SnapshotSchedule>(set, [&](const auto& s) { ToProto(s, out); });
}

grpc::Status ControlService::RemoveSnapshotSchedule(grpc::ServerContext*,
                                                    const v1::NameRequest* in, v1::Empty*) {
  absl::Status removed = store_->RemoveSnapshotSchedule(in->name());
  if (removed.ok() && schedules_changed_) schedules_changed_();
  return ToGrpc(removed);
}

grpc::Status ControlService::ListSnapshotSchedules(grpc::ServerContext*, const v1::Empty*,
                                                   v1::ScheduleList* out) {
  return Reply<std::vector<SnapshotSchedule>>(store_->ListSnapshotSchedules(),
                                              [&](const auto& v) {
    for (const auto& s : v) ToProto(s, out->add_schedules());
  });
}

grpc::Status ControlService::CreateScheduledSnapshot(grpc::ServerContext*,
                                                     const v1::ScheduledSnapshotRequest* in,
                                                     v1::SnapshotInfo* out) {
  return Reply<SnapshotInfo>(
      store_->CreateScheduledSnapshot(in->volume(), in->name(), in->due_unix(),
                                      in->next_due_unix()),
      [&](const auto& s) { ToProto(s, out); });
}

grpc::Status ControlService::Stats(grpc::ServerContext*, const v1::Empty*, v1::StoreStats* out) {
  return Reply<StoreStats>(store_->Stats(), [&](const auto& s) { ToProto(s, out); });
}

grpc::Status ControlService::ListPoolStores(grpc::ServerContext*, const v1::Empty*,
                                            v1::PoolStoreList* out) {
  return Reply<std::vector<PoolStore>>(store_->ListPoolStores(), [&](const auto& stores) {
    for (const PoolStore& s : stores) {
      v1::PoolStoreInfo* p = out->add_stores();
      p->set_id(s.id);
      p->set_where(s.where);
      p->set_self(s.self);
    }
  });
}

grpc::Status ControlService::ForgetPoolStore(grpc::ServerContext*,
                                             const v1::ForgetPoolStoreRequest* in,
                                             v1::ForgetPoolStoreResult* out) {
  return Reply<PoolForgetResult>(store_->ForgetPoolStore(in->id()), [&](const auto& r) {
    out->set_was_registered(r.was_registered);
    out->set_references_dropped(r.references_dropped);
    out->set_chunks_removed(r.chunks_removed);
  });
}

grpc::Status ControlService::ListPoolLayers(grpc::ServerContext*, const v1::Empty*,
                                            v1::PoolLayerList* out) {
  return Reply<std::vector<PoolLayerInfo>>(store_->ListPoolLayers(), [&](const auto& layers) {
    for (const PoolLayerInfo& l : layers) {
      v1::PoolLayerInfo* p = out->add_layers();
      p->set_name(l.name);
      p->set_published_by(l.published_by);
      p->set_here(l.here);
    }
  });
}

grpc::Status ControlService::Gc(grpc::ServerContext*, const v1::Empty*, v1::GcResult* out) {
  return Reply<GcResult>(store_->Gc(), [&](const auto& g) { ToProto(g, out); });
}

grpc::Status ControlService::Fsck(grpc::ServerContext*, const v1::Empty*, v1::FsckReport* out) {
  return Reply<FsckReport>(store_->Fsck(nullptr), [&](const auto& r) { ToProto(r, out); });
}

grpc::Status ControlService::WaitForBackgroundWork(grpc::ServerContext*, const v1::Empty*, v1::Empty*) {
  return ToGrpc(store_->WaitForBackgroundWork());
}

grpc::Status ControlService::GetFormat(grpc::ServerContext*, const v1::Empty*, v1::DeviceInfo* out) {
  out->set_block_size(store_->chunk_size());
  return grpc::Status::OK;
}

grpc::Status ControlService::OpenDevice(grpc::ServerContext*, const v1::DeviceRequest* in,
                                        v1::DeviceInfo* out) {
  return Reply<std::shared_ptr<BlockDevice>>(Device(in->device()), [&](const auto& d) {
    out->set_size(d->size());
    out->set_read_only(d->read_only());
    out->set_block_size(d->block_size());
  });
}

grpc::Status ControlService::Read(grpc::ServerContext*, const v1::ReadRequest* in, v1::ReadReply* out) {
  if (in->length() > kMaxTransfer)
    return ToGrpc(absl::InvalidArgumentError("a read may be at most 32 MiB"));
  absl::StatusOr<std::shared_ptr<BlockDevice>> dev = Device(in->device());
  if (!dev.ok()) return ToGrpc(dev.status());
  std::string* data = out->mutable_data();
  data->resize(in->length());
  return ToGrpc((*dev)->Read(in->offset(), absl::MakeSpan(*data)));
}

grpc::Status ControlService::Write(grpc::ServerContext*, const v1::WriteRequest* in, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<BlockDevice>> dev = Device(in->device());
  if (!dev.ok()) return ToGrpc(dev.status());
  return ToGrpc((*dev)->Write(in->offset(), in->data(), in->fua()));
}

grpc::Status ControlService::Zero(grpc::ServerContext*, const v1::ZeroRequest* in, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<BlockDevice>> dev = Device(in->device());
  if (!dev.ok()) return ToGrpc(dev.status());
  return ToGrpc(in->trim() ? (*dev)->Trim(in->offset(), in->length(), in->fua())
                           : (*dev)->WriteZeroes(in->offset(), in->length(), in->fua()));
}

grpc::Status ControlService::Flush(grpc::ServerContext*, const v1::DeviceRequest* in, v1::Empty*) {
  absl::StatusOr<std::shared_ptr<BlockDevice>> dev = Device(in->device());
  if (!dev.ok()) return ToGrpc(dev.status());
  return ToGrpc((*dev)->Flush());
}

grpc::Status ControlService::Map(grpc::ServerContext*, const v1::MapRequest* in, v1::MapReply* out) {
  absl::StatusOr<std::shared_ptr<BlockDevice>> dev = Device(in->device());
  if (!dev.ok()) return ToGrpc(dev.status());
  return Reply<std::vector<DeviceExtent>>((*dev)->Map(in->offset(), in->length()),
                                          [&](const auto& extents) {
    for (const DeviceExtent& e : extents) {
      v1::DeviceExtent* p = out->add_extents();
      p->set_offset(e.offset);
      p->set_length(e.length);
      p->set_hole(e.hole);
      p->set_zero(e.zero);
    }
  });
}

grpc::Status ControlService::PullLayer(grpc::ServerContext*, const v1::PullRequest* in,
                                       v1::PullReply* out) {
  if (!pull_)
    return ToGrpc(absl::FailedPreconditionError(
        "the store's server has no upstream to pull from (run it with --upstream "
        "HOST:PORT), so stop the server first to pull into the store directly"));
  return ToGrpc(pull_(*in, out));
}

}  // namespace layerdisk
