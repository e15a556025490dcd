#include "replication/pusher.h"

#include <chrono>

#include "common/status_macros.h"
#include "proto/replication.grpc.pb.h"
#include "replication/chain_reader.h"
#include "replication/peer_link.h"

namespace layerdisk {

absl::StatusOr<PushOutcome> PushLayer(LayerExchange& local,
                                      std::shared_ptr<grpc::Channel> channel,
                                      const std::string& peer, const std::string& layer) {
  auto start = std::chrono::steady_clock::now();
  ChainReader reader(&local, nullptr);
  RETURN_IF_ERROR(reader.Open(layer));  // unknown layer: refused before connecting

  auto stub = replication::Replication::NewStub(std::move(channel));
  grpc::ClientContext ctx;
  auto stream = stub->Push(&ctx);
  PushOutcome out;
  auto send = [&](const replication::PushUp& up) {
    out.wire_bytes += up.ByteSizeLong();
    return stream->Write(up);
  };
  replication::PushUp up;
  up.set_layer(layer);
  send(up);
  replication::PushDown down;
  absl::Status answer;  // our own failure to answer, if any
  bool done = false;
  while (answer.ok() && !done && stream->Read(&down)) {
    out.wire_bytes += down.ByteSizeLong();
    if (down.has_need_manifest()) {
      answer = reader.SendManifest(
          down.need_manifest(), [&](const replication::ManifestPart& part) {
            replication::PushUp msg;
            *msg.mutable_manifest() = part;
            return send(msg);
          });
    } else if (down.has_need_chunks()) {
      answer = reader.SendChunks(down.need_chunks().names(),
                                 [&](const replication::FetchReply& reply) {
                                   replication::PushUp msg;
                                   *msg.mutable_chunks() = reply;
                                   out.chunks_sent += reply.chunks_size();
                                   for (const auto& c : reply.chunks())
                                     out.record_bytes += c.record().size();
                                   return send(msg);
                                 });
    } else if (down.has_done()) {
      done = true;
      out.logical_bytes = down.done().logical_bytes();
      for (const std::string& l : down.done().layers_created())
        out.layers_created.push_back(l);
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

}  // namespace layerdisk
