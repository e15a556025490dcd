#include "replication/pusher.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <thread>

#include "common/status_macros.h"
#include "proto/replication.grpc.pb.h"
#include "replication/chain_reader.h"
#include "replication/peer_link.h"
#include "replication/volume_layers.h"

namespace layerdisk {

namespace {

// The sender of one push: the ChainReader answering for a layer the peer asks about.
using ReaderFor = std::function<absl::StatusOr<ChainReader*>(const std::string& layer)>;

// Sends `first`, then answers the peer's requests until it is done.
absl::StatusOr<PushOutcome> RunPush(std::shared_ptr<grpc::Channel> channel,
                                    const std::string& peer, const replication::PushUp& first,
                                    const ReaderFor& reader_for, uint32_t block_size,
                                    const ProgressFn& progress,
                                    uint64_t max_bytes_per_second) {
  auto start = std::chrono::steady_clock::now();
  auto stub = replication::Replication::NewStub(std::move(channel));
  grpc::ClientContext ctx;
  auto stream = stub->Push(&ctx);
  PushOutcome out;
  auto send = [&](const replication::PushUp& up) {
    out.wire_bytes += up.ByteSizeLong();
    bool sent = stream->Write(up);
    if (max_bytes_per_second != 0)  // keep the average wire rate under the limit
      std::this_thread::sleep_until(
          start + std::chrono::duration<double>(static_cast<double>(out.wire_bytes) /
                                                static_cast<double>(max_bytes_per_second)));
    return sent;
  };
  send(first);
  replication::PushDown down;
  absl::Status answer;  // our own failure to answer, if any
  bool done = false;
  while (answer.ok() && !done && stream->Read(&down)) {
    out.wire_bytes += down.ByteSizeLong();
    if (down.has_need_manifest()) {
      absl::StatusOr<ChainReader*> reader = reader_for(down.need_manifest().layer());
      if (!reader.ok()) {
        answer = reader.status();
        break;
      }
      answer = (*reader)->SendManifest(
          down.need_manifest(), [&](const replication::ManifestPart& part) {
            replication::PushUp msg;
            *msg.mutable_manifest() = part;
            return send(msg);
          });
    } else if (down.has_need_chunks()) {
      absl::StatusOr<ChainReader*> reader = reader_for(down.need_chunks().layer());
      if (!reader.ok()) {
        answer = reader.status();
        break;
      }
      answer = (*reader)->SendChunks(down.need_chunks().names(),
                                 [&](const replication::FetchReply& reply) {
                                   replication::PushUp msg;
                                   *msg.mutable_chunks() = reply;
                                   out.chunks_sent += reply.chunks_size();
                                   for (const auto& c : reply.chunks())
                                     out.record_bytes += c.record().size();
                                   if (progress) progress(out.chunks_sent * block_size, 0);
                                   return send(msg);
                                 });
    } else if (down.has_done()) {
      done = true;
      out.logical_bytes = down.done().logical_bytes();
      for (const std::string& l : down.done().layers_created())
        out.layers_created.push_back(l);
      for (const std::string& s : down.done().snapshots_created())
        out.snapshots_created.push_back(s);
    }
  }
  if (!answer.ok()) {
    // Tell the peer why we stopped; its receiver keeps what it verified.
    replication::PushUp err;
    err.set_error(std::string(answer.message()));
    send(err);
  }
  stream->WritesDone();
  grpc::Status finished = stream->Finish();
  if (!finished.ok()) return FromPeerStatus(peer, finished);
  RETURN_IF_ERROR(answer);
  if (!done) return absl::DataLossError("peer " + peer + " ended the push without a result");
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace

absl::StatusOr<PushOutcome> PushLayer(LayerExchange& local,
                                      std::shared_ptr<grpc::Channel> channel,
                                      const std::string& peer, const std::string& layer) {
  ChainReader reader(&local, nullptr);
  RETURN_IF_ERROR(reader.Open(layer));  // unknown layer: refused before connecting
  replication::PushUp first;
  first.set_layer(layer);
  return RunPush(std::move(channel), peer, first,
                 [&](const std::string&) -> absl::StatusOr<ChainReader*> { return &reader; },
                 local.chunk_size(), nullptr, 0);
}

absl::StatusOr<PushOutcome> PushVolume(LayerExchange& local, VolumeExport volume,
                                       std::shared_ptr<grpc::Channel> channel,
                                       const std::string& peer, const std::string& as,
                                       const ProgressFn& progress,
                                       uint64_t max_bytes_per_second) {
  replication::PushUp first;
  *first.mutable_volume()->mutable_manifest() = VolumeManifestToProto(volume.volume);
  first.mutable_volume()->set_as(as);
  uint64_t total = 0;
  for (const LayerManifest& m : volume.layers) total += m.data_blocks * m.block_size;
  ASSIGN_OR_RETURN(std::unique_ptr<VolumeLayerExchange> layers,
                   VolumeLayerExchange::Create(&local, std::move(volume)));
  for (const std::string& base : layers->volume().volume.base_layers) {
    ASSIGN_OR_RETURN(LayerManifest m, local.ExportLayerManifest(base));
    total += m.data_blocks * m.block_size;
  }
  // One reader per layer asked about: each serves that layer's chain only.
  std::map<std::string, std::unique_ptr<ChainReader>> readers;
  auto reader_for = [&](const std::string& layer) -> absl::StatusOr<ChainReader*> {
    std::unique_ptr<ChainReader>& r = readers[layer];
    if (!r) {
      auto fresh = std::make_unique<ChainReader>(layers.get(), nullptr);
      RETURN_IF_ERROR(fresh->Open(layer));
      r = std::move(fresh);
    }
    return r.get();
  };
  ProgressFn report;
  if (progress)
    report = [&](uint64_t done, uint64_t) { progress(std::min(done, total), total); };
  ASSIGN_OR_RETURN(PushOutcome out, RunPush(std::move(channel), peer, first, reader_for,
                                            local.chunk_size(), report,
                                            max_bytes_per_second));
  if (progress) progress(total, total);
  return out;
}

}  // namespace layerdisk
