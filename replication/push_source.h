// PushStreamSource: the ChunkSource of a push, run by the receiving server:
// it asks the pushing client for manifests and chunk batches on the Push
// stream and reads the answers.
#ifndef LAYERDISK_REPLICATION_PUSH_SOURCE_H_
#define LAYERDISK_REPLICATION_PUSH_SOURCE_H_

#include <grpcpp/grpcpp.h>

#include "proto/replication.grpc.pb.h"
#include "replication/chunk_source.h"

namespace layerdisk {

class PushStreamSource final : public ChunkSource {
 public:
  using Stream = grpc::ServerReaderWriter<replication::PushDown, replication::PushUp>;
  explicit PushStreamSource(Stream* stream) : stream_(stream) {}

  absl::StatusOr<LayerManifest> GetManifest(const std::string& layer, bool header_only,
                                            const LayerManifest* base) override;
  absl::Status Fetch(const std::string& layer, absl::Span<const ChunkName> names,
                     size_t batch, const RecordSink& sink) override;
  uint64_t wire_bytes() const override { return wire_bytes_; }

 private:
  // The next message from the pusher; an error when it ended or gave up.
  absl::StatusOr<replication::PushUp> Next();

  Stream* const stream_;
  uint64_t wire_bytes_ = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_PUSH_SOURCE_H_
