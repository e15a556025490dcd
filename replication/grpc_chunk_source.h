// GrpcChunkSource: a ChunkSource reading from an upstream store's
// Replication service (a pull).
#ifndef LAYERDISK_REPLICATION_GRPC_CHUNK_SOURCE_H_
#define LAYERDISK_REPLICATION_GRPC_CHUNK_SOURCE_H_

#include <atomic>
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

 private:
  std::unique_ptr<replication::Replication::Stub> stub_;
  const std::string peer_;
  std::string volume_;
  std::atomic<uint64_t> wire_bytes_{0};
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_GRPC_CHUNK_SOURCE_H_
