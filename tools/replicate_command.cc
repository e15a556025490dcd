// `layerdisk replicate pull|push`: copy a sealed layer (and the layers below
// it the receiver lacks) between stores over gRPC, sending only the chunks
// the receiver does not hold (docs/replication.md).
//
// Both directions open the local store in this process (replication moves
// chunk records, which the control socket does not carry), so the local
// store must not be owned by a running `layerdisk serve` (which holds the
// RocksDB lock); the command says so instead of half-working. A served store
// takes part as the other side: it is pulled from, or pushed to
// (serve --grpc-accept-push).
#include <memory>

#include "absl/strings/str_format.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/layer_exchange.h"
#include "replication/grpc_chunk_source.h"
#include "replication/peer_link.h"
#include "replication/pusher.h"
#include "replication/receiver.h"
#include "tools/cli_context.h"
#include "tools/control/store_connect.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace layerdisk {
namespace {

struct ReplicateFlags {
  std::string layer;
  std::string peer;  // HOST:PORT
  PeerSecurity security;
  std::string bwlimit;  // a size per second, "4M"; empty: no limit
};

void Report(const CliContext& ctx, const std::string& layer, const std::string& peer,
            const ReplicateResult& r) {
  nlohmann::json doc = {{"layer", layer},
                        {"peer", peer},
                        {"layers_created", r.layers_created},
                        {"up_to_date", r.up_to_date},
                        {"logical_bytes", r.logical_bytes},
                        {"wire_bytes", r.wire_bytes},
                        {"chunks_fetched", r.chunks_fetched},
                        {"record_bytes", r.record_bytes},
                        {"seconds", r.seconds}};
  std::string text =
      r.up_to_date
          ? absl::StrFormat("layer %s is already here with the same content\n", layer)
          : absl::StrFormat("replicated %s (%d layer%s)\n", layer, r.layers_created.size(),
                            r.layers_created.size() == 1 ? "" : "s");
  text += absl::StrFormat("logical %s, on the wire %s (%d chunks), %.2f s\n",
                          FormatSize(r.logical_bytes), FormatSize(r.wire_bytes),
                          r.chunks_fetched, r.seconds);
  Emit(ctx.json, doc, text);
}

// The local store opened in this process: replication reads and writes
// chunk records directly, which the control socket does not carry.
absl::Status OpenLocal(const CliContext& ctx, const std::string& why,
                       std::unique_ptr<Store>* store, std::unique_ptr<LayerExchange>* local) {
  if (ServerAnswers(ctx.store_dir))
    return absl::FailedPreconditionError(absl::StrFormat(
        "store %s is owned by a running `layerdisk serve`; %s, so stop the server first",
        ctx.store_dir, why));
  ASSIGN_OR_RETURN(*store, ctx.OpenStore());
  *local = GetLayerExchange(store->get());
  if (!*local)
    return absl::FailedPreconditionError("the store was taken over by a server; run again");
  return absl::OkStatus();
}

absl::Status Push(const CliContext& ctx, const ReplicateFlags& flags) {
  std::unique_ptr<Store> store;
  std::unique_ptr<LayerExchange> local;
  RETURN_IF_ERROR(OpenLocal(ctx, "a push reads chunk records from the store directly",
                            &store, &local));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   ConnectPeer(flags.peer, flags.security));
  ASSIGN_OR_RETURN(PushOutcome out, PushLayer(*local, channel, flags.peer, flags.layer));
  ReplicateResult r;
  r.layers_created = out.layers_created;
  r.up_to_date = out.layers_created.empty();
  r.logical_bytes = out.logical_bytes;
  r.chunks_fetched = out.chunks_sent;
  r.record_bytes = out.record_bytes;
  r.wire_bytes = out.wire_bytes;
  r.seconds = out.seconds;
  Report(ctx, flags.layer, flags.peer, r);
  return absl::OkStatus();
}

absl::Status Pull(const CliContext& ctx, const ReplicateFlags& flags) {
  std::unique_ptr<Store> store;
  std::unique_ptr<LayerExchange> local;
  RETURN_IF_ERROR(OpenLocal(
      ctx, "a pull writes to the store directly (or push to it from upstream)", &store,
      &local));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   ConnectPeer(flags.peer, flags.security));
  GrpcChunkSource source(channel, flags.peer);
  ProgressBar bar("pull " + flags.layer);
  ReplicateOptions options;
  options.origin = flags.peer + "/" + flags.layer;
  options.progress = bar.Callback();
  if (!flags.bwlimit.empty()) {
    ASSIGN_OR_RETURN(options.max_bytes_per_second, ParseSize(flags.bwlimit));
    if (options.max_bytes_per_second == 0)
      return absl::InvalidArgumentError("--bwlimit must be more than 0 bytes per second");
  }
  ASSIGN_OR_RETURN(ReplicateResult result,
                   ReplicateLayer(source, *local, flags.layer, options));
  Report(ctx, flags.layer, flags.peer, result);
  return absl::OkStatus();
}

void AddSecurityFlags(CLI::App* cmd, ReplicateFlags* flags) {
  cmd->add_flag("--insecure", flags->security.insecure,
                "Talk to the peer without TLS (a trusted network, loopback tests)");
  cmd->add_option("--tls-cert", flags->security.cert_file, "Our certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", flags->security.key_file, "Our private key (PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-ca", flags->security.ca_file,
                  "CA bundle (PEM) the peer's certificate must chain to")
      ->check(CLI::ExistingFile);
}

}  // namespace

void RegisterReplicateCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand(
      "replicate", "Copy sealed layers between stores, sending only missing chunks");
  group->require_subcommand(1);

  auto pull_flags = std::make_shared<ReplicateFlags>();
  CLI::App* pull = group->add_subcommand(
      "pull", "Copy LAYER (and the layers below it this store lacks) from a peer's "
              "`layerdisk serve --grpc`");
  pull->add_option("LAYER", pull_flags->layer, "Layer to copy")->required();
  pull->add_option("--from", pull_flags->peer, "The peer's replication address HOST:PORT")
      ->required();
  AddSecurityFlags(pull, pull_flags.get());
  pull->add_option("--bwlimit", pull_flags->bwlimit,
                   "Average bytes per second on the wire at most (e.g. 20M)");
  ctx.Bind(pull, [&ctx, pull_flags] { return Pull(ctx, *pull_flags); });

  auto push_flags = std::make_shared<ReplicateFlags>();
  CLI::App* push = group->add_subcommand(
      "push", "Copy LAYER (and the layers below it the peer lacks) to a peer's "
              "`layerdisk serve --grpc --grpc-accept-push`");
  push->add_option("LAYER", push_flags->layer, "Layer to copy")->required();
  push->add_option("--to", push_flags->peer, "The peer's replication address HOST:PORT")
      ->required();
  AddSecurityFlags(push, push_flags.get());
  ctx.Bind(push, [&ctx, push_flags] { return Push(ctx, *push_flags); });
}

}  // namespace layerdisk
