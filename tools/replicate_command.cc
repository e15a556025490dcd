// `layerdisk replicate pull|push`: copy a sealed layer (and the layers below
// it the receiver lacks) between stores over gRPC, sending only the chunks
// the receiver does not hold (docs/replication.md).
//
// Both directions open the local store in this process (replication moves
// chunk records, which the control socket does not carry), so the local
// store must not be owned by a running `layerdisk serve` (which holds the
// RocksDB lock); the command says so instead of half-working. A served store
// takes part as the other side: it is pulled from, or pushed to
// (serve --grpc-accept-push). The exception is a pull into a store whose
// server runs with --upstream (branch cache mode): the server pulls lazily
// itself, asked over the control socket.
#include <chrono>
#include <memory>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/layer_exchange.h"
#include "replication/grpc_chunk_source.h"
#include "replication/peer_link.h"
#include "replication/pusher.h"
#include "replication/receiver.h"
#include "tools/cli_context.h"
#include "tools/control/control_service.h"
#include "tools/control/grpc_status.h"
#include "tools/control/store_connect.h"
#include "tools/output.h"
#include "tools/progress.h"
#include "tools/replicate_common.h"

namespace layerdisk {
namespace {

struct ReplicateFlags {
  std::string layer;
  std::string peer;  // HOST:PORT
  PeerSecurity security;
  std::string bwlimit;  // a size per second, "4M"; empty: no limit
  bool wait = false;    // through a server: wait until the layers are complete
};

// The --bwlimit rate; 0 when unset.
absl::StatusOr<uint64_t> BandwidthLimit(const ReplicateFlags& flags) {
  if (flags.bwlimit.empty()) return 0;
  ASSIGN_OR_RETURN(uint64_t rate, ParseSize(flags.bwlimit));
  if (rate == 0)
    return absl::InvalidArgumentError("--bwlimit must be more than 0 bytes per second");
  return rate;
}

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

// Waits until none of `layers` is fetching any more, drawing their progress.
absl::Status WaitForLayers(const CliContext& ctx, const std::vector<std::string>& layers,
                           const std::string& label) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ProgressBar bar(label);
  while (true) {
    uint64_t done = 0, total = 0;
    bool fetching = false;
    for (const std::string& name : layers) {
      ASSIGN_OR_RETURN(LayerInfo info, store->GetLayer(name));
      fetching |= info.fetching;
      done += info.fetching ? info.fetched_chunks : 1;
      total += info.fetching ? info.fetch_chunks : 1;
    }
    bar.Update(done, total);
    if (!fetching) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Branch cache mode: the server owning the store pulls lazily from its
// upstream; the layers are usable as soon as this returns. The server's
// --upstream-* options secure that link: this command's --tls-* and
// --insecure are not used.
absl::Status PullThroughServer(const CliContext& ctx, const ReplicateFlags& flags) {
  v1::PullRequest req;
  req.set_layer(flags.layer);
  req.set_from(flags.peer);
  ASSIGN_OR_RETURN(uint64_t rate, BandwidthLimit(flags));
  req.set_bwlimit(rate);
  auto channel = grpc::CreateChannel("unix:" + ControlSocketPath(ctx.store_dir),
                                     grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Control::Stub> stub = v1::Control::NewStub(channel);
  grpc::ClientContext call;
  v1::PullReply rep;
  RETURN_IF_ERROR(FromGrpc(stub->PullLayer(&call, req, &rep)));
  ReplicateResult r;
  r.layers_created.assign(rep.layers_created().begin(), rep.layers_created().end());
  r.up_to_date = rep.up_to_date();
  r.logical_bytes = rep.logical_bytes();
  r.wire_bytes = rep.wire_bytes();
  r.seconds = rep.seconds();
  if (flags.wait) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::string> layers = r.layers_created;
    if (layers.empty()) layers.push_back(flags.layer);
    RETURN_IF_ERROR(WaitForLayers(ctx, layers, "fetch " + flags.layer));
    r.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  Report(ctx, flags.layer, rep.upstream(), r);
  return absl::OkStatus();
}

absl::Status Pull(const CliContext& ctx, const ReplicateFlags& flags) {
  if (ServerAnswers(ctx.store_dir)) return PullThroughServer(ctx, flags);
  if (flags.peer.empty())
    return absl::InvalidArgumentError(
        "--from HOST:PORT is needed (or a `layerdisk serve --upstream` owning the store)");
  if (flags.wait)
    return absl::InvalidArgumentError(
        "--wait is for a pull through a server in branch cache mode; a direct pull "
        "always completes before it returns");
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
  ASSIGN_OR_RETURN(options.max_bytes_per_second, BandwidthLimit(flags));
  ASSIGN_OR_RETURN(ReplicateResult result,
                   ReplicateLayer(source, *local, flags.layer, options));
  Report(ctx, flags.layer, flags.peer, result);
  return absl::OkStatus();
}

}  // namespace

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

void AddSecurityFlags(CLI::App* cmd, PeerSecurity* security) {
  cmd->add_flag("--insecure", security->insecure,
                "Talk to the peer without TLS (a trusted network, loopback tests)");
  cmd->add_option("--tls-cert", security->cert_file, "Our certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", security->key_file, "Our private key (PEM)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-ca", security->ca_file,
                  "CA bundle (PEM) the peer's certificate must chain to")
      ->check(CLI::ExistingFile);
}

void RegisterReplicateCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand(
      "replicate", "Copy sealed layers between stores, sending only missing chunks");
  group->require_subcommand(1);

  auto pull_flags = std::make_shared<ReplicateFlags>();
  CLI::App* pull = group->add_subcommand(
      "pull", "Copy LAYER (and the layers below it this store lacks) from a peer's "
              "`layerdisk serve --grpc`");
  pull->add_option("LAYER", pull_flags->layer, "Layer to copy")->required();
  pull->add_option("--from", pull_flags->peer,
                   "The peer's replication address HOST:PORT (through a server run with "
                   "--upstream: optional, and must be that upstream)");
  AddSecurityFlags(pull, &pull_flags->security);
  pull->add_option("--bwlimit", pull_flags->bwlimit,
                   "Average bytes per second on the wire at most (e.g. 20M; through a "
                   "server: the background prefetch's from now on)");
  pull->add_flag("--wait", pull_flags->wait,
                 "Through a server with --upstream: wait until the layers are complete, "
                 "with progress (without: return once they are usable)");
  ctx.Bind(pull, [&ctx, pull_flags] { return Pull(ctx, *pull_flags); });

  auto push_flags = std::make_shared<ReplicateFlags>();
  CLI::App* push = group->add_subcommand(
      "push", "Copy LAYER (and the layers below it the peer lacks) to a peer's "
              "`layerdisk serve --grpc --grpc-accept-push`");
  push->add_option("LAYER", push_flags->layer, "Layer to copy")->required();
  push->add_option("--to", push_flags->peer, "The peer's replication address HOST:PORT")
      ->required();
  AddSecurityFlags(push, &push_flags->security);
  ctx.Bind(push, [&ctx, push_flags] { return Push(ctx, *push_flags); });

  RegisterReplicateVolumeCommands(group, ctx);
}

}  // namespace layerdisk
