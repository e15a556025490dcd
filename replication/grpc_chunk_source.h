// GrpcChunkSource: a ChunkSource reading from an upstream store's
// Replication service (a pull).
#ifndef LAYERDISK_REPLICATION_GRPC_CHUNK_SOURCE_H_
#define LAYERDISK_REPLICATION_GRPC_CHUNK_SOURCE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "proto/replication.grpc.pb.h"
#include "replication/chunk_source.h"

namespace layerdisk {

class GrpcChunkSource final : public ChunkSource {
 public:
  // `peer` names the upstream in error messages.
  GrpcChunkSource(std::shared_ptr<grpc::Channel> channel, std::string peer)
      : stub_(replication::Replication::NewStub(std::move(channel))), peer_(std::move(peer)) {}

  absl::StatusOr<LayerManifest> GetManifest(const std::string& layer, bool header_only,
                                            const LayerManifest* base) override;
  absl::Status Fetch(const std::string& layer, absl::Span<const ChunkName> names,
                     size_t batch, const RecordSink& sink) override;
  uint64_t wire_bytes() const override { return wire_bytes_; }
  // Reads the layers of this volume of the peer's (anonymous ones by their
  // "anon-" wire names, docs/replication.md "Volumes") from now on.
  void set_volume(std::string volume) { volume_ = std::move(volume); }
  // Every call from now on fails with DEADLINE_EXCEEDED (Unavailable) when
  // it takes longer than `timeout`; zero (the default): no deadline. For
  // reads a guest waits on, so a hung upstream fails them instead of
  // hanging them; never for long streams such as a prefetch.
  void set_call_timeout(std::chrono::milliseconds timeout) { call_timeout_ = timeout; }

 private:
  std::unique_ptr<replication::Replication::Stub> stub_;
  const std::string peer_;
  std::string volume_;
  std::chrono::milliseconds call_timeout_{0};
  // Sets the deadline of `ctx` from call_timeout_.
  void ApplyTimeout(grpc::ClientContext* ctx) const;
  std::atomic<uint64_t> wire_bytes_{0};
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_GRPC_CHUNK_SOURCE_H_
