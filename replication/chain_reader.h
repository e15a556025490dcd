// ChainReader: the sending side of one transfer, whichever way it runs (a
// server answering a pull, a client answering a push's requests): it serves
// the manifests and chunk records of one layer and of the layers below it,
// and nothing else. A chunk name outside that chain is PermissionDenied even
// when the store holds the chunk: knowing a name is not permission to read.
//
// Not thread-safe; one per transfer.
#ifndef LAYERDISK_REPLICATION_CHAIN_READER_H_
#define LAYERDISK_REPLICATION_CHAIN_READER_H_

#include <functional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "engine/layer_exchange.h"
#include "proto/replication.pb.h"

namespace layerdisk {

class ChainReader {
 public:
  // Sends one message; false when the peer has gone.
  using ManifestWriter = std::function<bool(const replication::ManifestPart&)>;
  using ReplyWriter = std::function<bool(const replication::FetchReply&)>;

  // `may_read` (null: every layer) decides whether a layer may be read at
  // all; a layer it refuses is NotFound, as if absent.
  ChainReader(LayerExchange* exchange, std::function<bool(const std::string&)> may_read)
      : exchange_(exchange), may_read_(std::move(may_read)) {}

  // Binds the reader to `layer` and its chain; chunk reads are served only
  // for chunks that chain maps.
  absl::Status Open(const std::string& layer);
  // Sends the manifest `req` asks for (its layer must be `top` or below it
  // once Open was called), header first, then its segments unless
  // header_only; relative to req.base when this store has that layer with
  // req.base_identity and it may be read.
  absl::Status SendManifest(const replication::ManifestRequest& req,
                            const ManifestWriter& write);
  // Sends the records of `names` in replies of about 1 MiB, the last one
  // marked batch_end.
  absl::Status SendChunks(const google::protobuf::RepeatedPtrField<std::string>& names,
                          const ReplyWriter& write);

 private:
  absl::StatusOr<LayerManifest> Readable(const std::string& layer);

  LayerExchange* const exchange_;
  const std::function<bool(const std::string&)> may_read_;
  std::string top_;
  absl::flat_hash_set<std::string> chain_;    // layer names of the chain
  absl::flat_hash_set<ChunkName> allowed_;    // chunks the chain maps
};

}  // namespace layerdisk

#endif  // LAYERDISK_REPLICATION_CHAIN_READER_H_
