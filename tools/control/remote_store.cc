#include "tools/control/remote_store.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "common/status_macros.h"
#include "proto/control.grpc.pb.h"
#include "tools/control/grpc_status.h"
#include "tools/control/proto_convert.h"

namespace layerdisk {
namespace {

using Stub = v1::Control::Stub;
constexpr uint64_t kTransfer = 4ull << 20;

// Calls a unary RPC and converts its reply.
template <typename Req, typename Rep, typename Method>
absl::StatusOr<Rep> Call(Stub* stub, Method method, const Req& req) {
  grpc::ClientContext ctx;
  Rep rep;
  RETURN_IF_ERROR(FromGrpc((stub->*method)(&ctx, req, &rep)));
  return rep;
}

v1::NameRequest NameReq(const std::string& name) {
  v1::NameRequest r;
  r.set_name(name);
  return r;
}

v1::SnapshotRequest SnapReq(const std::string& volume, const std::string& name, bool force) {
  v1::SnapshotRequest r;
  r.set_volume(volume);
  r.set_name(name);
  r.set_force(force);
  return r;
}

// A device served by the server, read and written through the control API.
class RemoteDevice final : public BlockDevice {
 public:
  RemoteDevice(std::shared_ptr<Stub> stub, std::string name, const v1::DeviceInfo& info)
      : stub_(std::move(stub)), name_(std::move(name)), info_(info) {}
  uint64_t size() const override { return info_.size(); }
  bool read_only() const override { return info_.read_only(); }
  uint32_t block_size() const override { return info_.block_size(); }

  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    for (uint64_t done = 0; done < out.size();) {
      v1::ReadRequest req;
      req.set_device(name_);
      req.set_offset(offset + done);
      req.set_length(std::min<uint64_t>(kTransfer, out.size() - done));
      ASSIGN_OR_RETURN(v1::ReadReply rep, (Call<v1::ReadRequest, v1::ReadReply>(stub_.get(), &Stub::Read, req)));
      if (rep.data().size() != req.length())
        return absl::DataLossError("the server returned a short read");
      std::memcpy(out.data() + done, rep.data().data(), rep.data().size());
      done += req.length();
    }
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua) override {
    for (uint64_t done = 0; done < data.size();) {
      uint64_t n = std::min<uint64_t>(kTransfer, data.size() - done);
      v1::WriteRequest req;
      req.set_device(name_);
      req.set_offset(offset + done);
      req.set_data(data.data() + done, n);
      req.set_fua(fua);
      RETURN_IF_ERROR((Call<v1::WriteRequest, v1::Empty>(stub_.get(), &Stub::Write, req)).status());
      done += n;
    }
    return absl::OkStatus();
  }
  absl::Status WriteZeroes(uint64_t offset, uint64_t length, bool fua) override {
    return Zero(offset, length, /*trim=*/false, fua);
  }
  absl::Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    return Zero(offset, length, /*trim=*/true, fua);
  }
  absl::Status Flush() override {
    v1::DeviceRequest req;
    req.set_device(name_);
    return Call<v1::DeviceRequest, v1::Empty>(stub_.get(), &Stub::Flush, req).status();
  }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset, uint64_t length) override {
    v1::MapRequest req;
    req.set_device(name_);
    req.set_offset(offset);
    req.set_length(length);
    ASSIGN_OR_RETURN(v1::MapReply rep, (Call<v1::MapRequest, v1::MapReply>(stub_.get(), &Stub::Map, req)));
    std::vector<DeviceExtent> out;
    for (const auto& e : rep.extents()) out.push_back({e.offset(), e.length(), e.hole(), e.zero()});
    return out;
  }

 private:
  absl::Status Zero(uint64_t offset, uint64_t length, bool trim, bool fua) {
    v1::ZeroRequest req;
    req.set_device(name_);
    req.set_offset(offset);
    req.set_length(length);
    req.set_trim(trim);
    req.set_fua(fua);
    return Call<v1::ZeroRequest, v1::Empty>(stub_.get(), &Stub::Zero, req).status();
  }

  std::shared_ptr<Stub> stub_;
  const std::string name_;
  const v1::DeviceInfo info_;
};

// `extents` grown to whole blocks of `block` bytes (clipped to `size`),
// merged where they then touch.
std::vector<DeviceExtent> RoundOutToBlocks(const std::vector<DeviceExtent>& extents,
                                           uint64_t block, uint64_t size) {
  std::vector<DeviceExtent> out;
  for (const DeviceExtent& e : extents) {
    uint64_t begin = e.offset / block * block;
    uint64_t end = std::min(size, (e.offset + e.length + block - 1) / block * block);
    if (!out.empty() && out.back().offset + out.back().length >= begin) {
      out.back().length = std::max(out.back().offset + out.back().length, end) - out.back().offset;
    } else {
      out.push_back({begin, end - begin, false, false});
    }
  }
  return out;
}

v1::ImportChunk ImportHeader(const std::string& name, const ImportOptions& options) {
  v1::ImportChunk header;
  header.set_name(name);
  header.set_origin(options.origin);
  header.set_parent(options.parent);
  header.set_image_id(options.image_id);
  header.set_description(options.description);
  header.set_sha256(options.sha256);
  return header;
}

// Ends an import call whose data went out (`open`: the server still took
// messages) with the end marker, and returns the server's answer.
absl::StatusOr<ImportResult> FinishImport(grpc::ClientWriter<v1::ImportChunk>* writer, bool open,
                                          const v1::ImportResult& rep,
                                          std::chrono::steady_clock::time_point start) {
  if (open) {
    v1::ImportChunk end;
    end.set_end(true);
    writer->Write(end);
  }
  writer->WritesDone();
  RETURN_IF_ERROR(FromGrpc(writer->Finish()));
  ImportResult result = FromProto(rep);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

class RemoteStore final : public Store {
 public:
  RemoteStore(std::string dir, std::shared_ptr<Stub> stub, uint32_t chunk_size)
      : dir_(std::move(dir)), stub_(std::move(stub)), chunk_size_(chunk_size) {}

  uint32_t chunk_size() const override { return chunk_size_; }
  const std::string& dir() const override { return dir_; }

  absl::StatusOr<ImportResult> ImportImage(const std::string& name, BlockDevice& source,
                                           const ImportOptions& options,
                                           const ProgressFn& progress) override {
    auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(std::vector<DeviceExtent> extents, source.Map(0, source.size()));
    // What the server must see: a whole disk's data, or everything a delta
    // defines (its zeroes hide the parent, so they travel too).
    const bool delta = !options.parent.empty();
    std::erase_if(extents, [delta](const DeviceExtent& e) { return delta ? e.hole : e.zero; });
    // The server reads a delta's blocks whole, and bytes it is not sent read
    // as zero: send whole blocks, the composed image's parent bytes included.
    if (delta) extents = RoundOutToBlocks(extents, chunk_size_, source.size());
    grpc::ClientContext ctx;
    v1::ImportResult rep;
    std::unique_ptr<grpc::ClientWriter<v1::ImportChunk>> writer(stub_->ImportLayer(&ctx, &rep));
    v1::ImportChunk header = ImportHeader(name, options);
    header.set_size(source.size());
    for (const DeviceExtent& e : extents) {
      v1::Extent* x = header.add_extents();
      x->set_offset(e.offset);
      x->set_length(e.length);
    }
    bool open = writer->Write(header);
    std::string buf;
    for (const DeviceExtent& e : extents) {
      for (uint64_t done = 0; open && done < e.length;) {
        uint64_t n = std::min<uint64_t>(kTransfer, e.length - done);
        buf.resize(n);
        RETURN_IF_ERROR(source.Read(e.offset + done, absl::MakeSpan(buf)));
        v1::ImportChunk chunk;
        chunk.set_offset(e.offset + done);
        chunk.set_data(buf);
        open = writer->Write(chunk);
        done += n;
        if (progress) progress(e.offset + done, source.size());
      }
    }
    return FinishImport(writer.get(), open, rep, start);
  }

  absl::StatusOr<ImportResult> ImportStream(const std::string& name, ByteStream& stream,
                                            const ImportOptions& options,
                                            const ProgressFn& progress) override {
    auto start = std::chrono::steady_clock::now();
    grpc::ClientContext ctx;
    v1::ImportResult rep;
    std::unique_ptr<grpc::ClientWriter<v1::ImportChunk>> writer(stub_->ImportLayer(&ctx, &rep));
    v1::ImportChunk header = ImportHeader(name, options);
    header.set_stream(true);
    bool open = writer->Write(header);
    std::string buf(kTransfer, '\0');
    for (uint64_t sent = 0; open;) {
      // A failed read returns here, which cancels the call before its end
      // marker: the server imports nothing.
      ASSIGN_OR_RETURN(size_t n, stream.Read(absl::MakeSpan(buf)));
      if (n == 0) break;
      v1::ImportChunk chunk;
      chunk.set_offset(sent);
      chunk.set_data(buf.data(), n);
      open = writer->Write(chunk);
      sent += n;
      if (progress) progress(sent, 0);
      if (n < buf.size()) break;  // the stream's end
    }
    return FinishImport(writer.get(), open, rep, start);
  }

  absl::StatusOr<std::vector<LayerInfo>> ListLayers() override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::LayerList>(stub_.get(), &Stub::ListLayers, v1::Empty())));
    std::vector<LayerInfo> out;
    for (const auto& l : rep.layers()) out.push_back(FromProto(l));
    return out;
  }
  absl::StatusOr<LayerInfo> GetLayer(const std::string& name) override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::NameRequest, v1::LayerInfo>(stub_.get(), &Stub::GetLayer, NameReq(name))));
    return FromProto(rep);
  }
  absl::Status DeleteLayer(const std::string& name) override {
    return Call<v1::NameRequest, v1::Empty>(stub_.get(), &Stub::DeleteLayer, NameReq(name)).status();
  }
  using Store::SealVolume;
  absl::StatusOr<LayerInfo> SealVolume(const std::string& volume, const std::string& layer,
                                       const std::string& description) override {
    v1::SealRequest req;
    req.set_volume(volume);
    req.set_layer(layer);
    req.set_description(description);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::SealRequest, v1::LayerInfo>(stub_.get(), &Stub::SealVolume, req)));
    return FromProto(rep);
  }

  absl::StatusOr<LayerInfo> MergeLayers(const std::string& name,
                                        const std::vector<std::string>& layers,
                                        const std::string& description) override {
    v1::MergeRequest req;
    req.set_name(name);
    for (const auto& l : layers) req.add_layers(l);
    req.set_description(description);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::MergeRequest, v1::LayerInfo>(stub_.get(), &Stub::MergeLayers, req)));
    return FromProto(rep);
  }
  absl::StatusOr<LayerInfo> FlattenVolume(const std::string& name, const std::string& volume,
                                          const std::optional<std::string>& snapshot,
                                          const std::string& description) override {
    v1::FlattenRequest req;
    req.set_name(name);
    req.set_volume(volume);
    req.set_has_snapshot(snapshot.has_value());
    req.set_snapshot(snapshot.value_or(""));
    req.set_description(description);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::FlattenRequest, v1::LayerInfo>(stub_.get(), &Stub::FlattenVolume, req)));
    return FromProto(rep);
  }
  absl::StatusOr<LayerInfo> SetLayerDescription(const std::string& name,
                                                const std::string& description) override {
    v1::DescribeRequest req;
    req.set_name(name);
    req.set_description(description);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::DescribeRequest, v1::LayerInfo>(
                                   stub_.get(), &Stub::SetLayerDescription, req)));
    return FromProto(rep);
  }
  absl::StatusOr<RebaseReport> RebaseVolume(const std::string& volume,
                                            const std::vector<std::string>& layers,
                                            bool dry_run) override {
    v1::RebaseRequest req;
    req.set_volume(volume);
    for (const auto& l : layers) req.add_layers(l);
    req.set_dry_run(dry_run);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::RebaseRequest, v1::RebaseReport>(stub_.get(), &Stub::RebaseVolume, req)));
    return FromProto(rep);
  }
  absl::StatusOr<std::vector<RebaseReport>> RebaseAll(const std::string& from, const std::string& to,
                                                      bool dry_run) override {
    v1::RebaseAllRequest req;
    req.set_from(from);
    req.set_to(to);
    req.set_dry_run(dry_run);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::RebaseAllRequest, v1::RebaseReportList>(stub_.get(), &Stub::RebaseAll, req)));
    std::vector<RebaseReport> out;
    for (const auto& r : rep.reports()) out.push_back(FromProto(r));
    return out;
  }
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenLayer(const std::string& name) override {
    return OpenDevice("layer:" + name);
  }

  absl::StatusOr<VolumeInfo> CreateVolume(const std::string& name,
                                          const std::vector<std::string>& layers,
                                          std::optional<uint64_t> size) override {
    v1::CreateVolumeRequest req;
    req.set_name(name);
    for (const auto& l : layers) req.add_layers(l);
    req.set_has_size(size.has_value());
    req.set_size(size.value_or(0));
    ASSIGN_OR_RETURN(auto rep, (Call<v1::CreateVolumeRequest, v1::VolumeInfo>(stub_.get(), &Stub::CreateVolume, req)));
    return FromProto(rep);
  }
  absl::StatusOr<std::vector<VolumeInfo>> ListVolumes() override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::VolumeList>(stub_.get(), &Stub::ListVolumes, v1::Empty())));
    std::vector<VolumeInfo> out;
    for (const auto& v : rep.volumes()) out.push_back(FromProto(v));
    return out;
  }
  absl::StatusOr<VolumeInfo> GetVolume(const std::string& name) override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::NameRequest, v1::VolumeInfo>(stub_.get(), &Stub::GetVolume, NameReq(name))));
    return FromProto(rep);
  }
  absl::Status DeleteVolume(const std::string& name, bool force) override {
    v1::DeleteRequest req;
    req.set_name(name);
    req.set_force(force);
    return Call<v1::DeleteRequest, v1::Empty>(stub_.get(), &Stub::DeleteVolume, req).status();
  }
  absl::StatusOr<VolumeInfo> CloneVolume(const std::string& source,
                                         const std::optional<std::string>& snapshot,
                                         const std::string& target) override {
    v1::CloneRequest req;
    req.set_source(source);
    req.set_has_snapshot(snapshot.has_value());
    req.set_snapshot(snapshot.value_or(""));
    req.set_target(target);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::CloneRequest, v1::VolumeInfo>(stub_.get(), &Stub::CloneVolume, req)));
    return FromProto(rep);
  }
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenVolume(const std::string& name) override {
    return OpenDevice(name);
  }

  absl::StatusOr<SnapshotInfo> CreateSnapshot(const std::string& volume,
                                              const std::string& name) override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::SnapshotRequest, v1::SnapshotInfo>(
                                   stub_.get(), &Stub::CreateSnapshot, SnapReq(volume, name, false))));
    return FromProto(rep);
  }
  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& volume) override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::NameRequest, v1::SnapshotList>(stub_.get(), &Stub::ListSnapshots, NameReq(volume))));
    std::vector<SnapshotInfo> out;
    for (const auto& s : rep.snapshots()) out.push_back(FromProto(s));
    return out;
  }
  absl::Status RollbackSnapshot(const std::string& volume, const std::string& name,
                                bool force) override {
    return Call<v1::SnapshotRequest, v1::Empty>(stub_.get(), &Stub::RollbackSnapshot,
                                               SnapReq(volume, name, force)).status();
  }
  absl::Status DeleteSnapshot(const std::string& volume, const std::string& name,
                              bool force) override {
    return Call<v1::SnapshotRequest, v1::Empty>(stub_.get(), &Stub::DeleteSnapshot,
                                               SnapReq(volume, name, force)).status();
  }
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenSnapshot(const std::string& volume,
                                                            const std::string& name) override {
    return OpenDevice(volume + "@" + name);
  }

  absl::StatusOr<SnapshotSchedule> SetSnapshotSchedule(
      const SnapshotSchedule& schedule) override {
    v1::SnapshotSchedule req;
    ToProto(schedule, &req);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::SnapshotSchedule, v1::SnapshotSchedule>(
                                   stub_.get(), &Stub::SetSnapshotSchedule, req)));
    return FromProto(rep);
  }
  absl::Status RemoveSnapshotSchedule(const std::string& volume) override {
    return Call<v1::NameRequest, v1::Empty>(stub_.get(), &Stub::RemoveSnapshotSchedule,
                                           NameReq(volume)).status();
  }
  absl::StatusOr<std::vector<SnapshotSchedule>> ListSnapshotSchedules() override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::ScheduleList>(
                                   stub_.get(), &Stub::ListSnapshotSchedules, v1::Empty())));
    std::vector<SnapshotSchedule> out;
    for (const auto& s : rep.schedules()) out.push_back(FromProto(s));
    return out;
  }
  absl::StatusOr<SnapshotInfo> CreateScheduledSnapshot(const std::string& volume,
                                                       const std::string& name,
                                                       uint64_t due_unix,
                                                       uint64_t next_due_unix) override {
    v1::ScheduledSnapshotRequest req;
    req.set_volume(volume);
    req.set_name(name);
    req.set_due_unix(due_unix);
    req.set_next_due_unix(next_due_unix);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::ScheduledSnapshotRequest, v1::SnapshotInfo>(
                                   stub_.get(), &Stub::CreateScheduledSnapshot, req)));
    return FromProto(rep);
  }

  absl::StatusOr<StoreStats> Stats() override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::StoreStats>(stub_.get(), &Stub::Stats, v1::Empty())));
    return FromProto(rep);
  }
  absl::StatusOr<std::vector<PoolLayerInfo>> ListPoolLayers() override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::PoolLayerList>(
                                   stub_.get(), &Stub::ListPoolLayers, v1::Empty())));
    std::vector<PoolLayerInfo> out;
    for (const auto& l : rep.layers()) out.push_back({l.name(), l.published_by(), l.here()});
    return out;
  }
  absl::StatusOr<std::vector<PoolStore>> ListPoolStores() override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::PoolStoreList>(
                                   stub_.get(), &Stub::ListPoolStores, v1::Empty())));
    std::vector<PoolStore> out;
    for (const auto& s : rep.stores()) out.push_back({s.id(), s.where(), s.self()});
    return out;
  }
  absl::StatusOr<PoolForgetResult> ForgetPoolStore(const std::string& store_id) override {
    v1::ForgetPoolStoreRequest req;
    req.set_id(store_id);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::ForgetPoolStoreRequest, v1::ForgetPoolStoreResult>(
                                   stub_.get(), &Stub::ForgetPoolStore, req)));
    return PoolForgetResult{rep.was_registered(), rep.references_dropped(), rep.chunks_removed()};
  }
  absl::StatusOr<GcResult> Gc() override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::GcResult>(stub_.get(), &Stub::Gc, v1::Empty())));
    return FromProto(rep);
  }
  absl::StatusOr<FsckReport> Fsck(const ProgressFn&) override {
    ASSIGN_OR_RETURN(auto rep, (Call<v1::Empty, v1::FsckReport>(stub_.get(), &Stub::Fsck, v1::Empty())));
    return FromProto(rep);
  }
  absl::Status WaitForBackgroundWork() override {
    return Call<v1::Empty, v1::Empty>(stub_.get(), &Stub::WaitForBackgroundWork, v1::Empty()).status();
  }

  absl::StatusOr<DiffReport> DiffDevices(const std::string& from, const std::string& to) override {
    v1::DiffRequest req;
    req.set_from(from);
    req.set_to(to);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::DiffRequest, v1::DiffReport>(stub_.get(), &Stub::DiffDevices, req)));
    return FromProto(rep);
  }
  absl::StatusOr<ConflictReport> LayerConflicts(
      const std::string& first, const std::string& second,
      const std::optional<std::vector<std::string>>& base) override {
    v1::ConflictsRequest req;
    req.set_first(first);
    req.set_second(second);
    req.set_has_base(base.has_value());
    if (base)
      for (const std::string& b : *base) req.add_base(b);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::ConflictsRequest, v1::ConflictReport>(
                                   stub_.get(), &Stub::LayerConflicts, req)));
    return FromProto(rep);
  }
  absl::StatusOr<std::vector<StackConflict>> StackConflicts(
      const std::vector<std::string>& layers) override {
    v1::StackConflictsRequest req;
    for (const std::string& l : layers) req.add_layers(l);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::StackConflictsRequest, v1::StackConflictList>(
                                   stub_.get(), &Stub::StackConflicts, req)));
    std::vector<StackConflict> out;
    for (const auto& c : rep.conflicts()) out.push_back(FromProto(c));
    return out;
  }
  absl::StatusOr<ProvenanceMap> MapLayers(const std::string& device) override {
    v1::DeviceRequest req;
    req.set_device(device);
    ASSIGN_OR_RETURN(auto rep, (Call<v1::DeviceRequest, v1::ProvenanceMap>(
                                   stub_.get(), &Stub::MapLayers, req)));
    return FromProto(rep);
  }

 private:
  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenDevice(const std::string& name) {
    v1::DeviceRequest req;
    req.set_device(name);
    ASSIGN_OR_RETURN(auto info, (Call<v1::DeviceRequest, v1::DeviceInfo>(stub_.get(), &Stub::OpenDevice, req)));
    return std::shared_ptr<BlockDevice>(std::make_shared<RemoteDevice>(stub_, name, info));
  }

  const std::string dir_;
  std::shared_ptr<Stub> stub_;
  const uint32_t chunk_size_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> ConnectRemoteStore(const std::string& store_dir,
                                                          const std::string& socket_path,
                                                          int timeout_ms) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel("unix:" + socket_path,
                                           grpc::InsecureChannelCredentials(), args);
  auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (!channel->WaitForConnected(deadline))
    return absl::UnavailableError("no layerdisk server answers on " + socket_path);
  std::shared_ptr<Stub> stub = v1::Control::NewStub(channel);
  ASSIGN_OR_RETURN(v1::DeviceInfo format,
                   (Call<v1::Empty, v1::DeviceInfo>(stub.get(), &Stub::GetFormat, v1::Empty())));
  return std::unique_ptr<Store>(new RemoteStore(store_dir, std::move(stub), format.block_size()));
}

}  // namespace layerdisk
