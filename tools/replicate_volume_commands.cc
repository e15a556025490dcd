// `layerdisk replicate push-volume | pull-volume`: a user's volume backed up
// upstream as its snapshots, and brought back into a fresh store so a lost
// branch can be rebuilt (docs/replication.md, "Volumes"). Only the snapshots
// the receiver lacks travel, and of their layers only the chunks it lacks.
//
// Like push and pull, both open the local store in this process; the peer
// is a `layerdisk serve --grpc` (with --grpc-accept-push for a push).
#include <algorithm>
#include <memory>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/volume_exchange.h"
#include "replication/grpc_chunk_source.h"
#include "replication/pusher.h"
#include "replication/volume_layers.h"
#include "replication/volume_receiver.h"
#include "tools/output.h"
#include "tools/progress.h"
#include "tools/replicate_common.h"

namespace layerdisk {
namespace {

struct VolumeFlags {
  std::string volume;
  std::string peer;      // HOST:PORT
  std::string as;        // the volume's name at the receiver; empty: the same
  std::string snapshot;  // push-volume: send snapshots up to this one
  std::string bwlimit;   // push-volume: a size per second, "4M"; empty: no limit
  PeerSecurity security;
};

struct VolumeReport {
  std::string volume, as, peer, snapshot;
  std::vector<std::string> snapshots_created, layers_created;
  uint64_t anonymous_layers_created = 0;
  uint64_t logical_bytes = 0, wire_bytes = 0, chunks = 0, record_bytes = 0;
  double seconds = 0;
};

void Report(const CliContext& ctx, const std::string& verb, const VolumeReport& r) {
  const bool up_to_date = r.snapshots_created.empty();
  nlohmann::json doc = {{"volume", r.volume},
                        {"as", r.as},
                        {"peer", r.peer},
                        {"snapshots_created", r.snapshots_created},
                        {"layers_created", r.layers_created},
                        {"anonymous_layers_created", r.anonymous_layers_created},
                        {"up_to_date", up_to_date},
                        {"logical_bytes", r.logical_bytes},
                        {"wire_bytes", r.wire_bytes},
                        {"chunks", r.chunks},
                        {"record_bytes", r.record_bytes},
                        {"seconds", r.seconds}};
  if (!r.snapshot.empty()) doc["snapshot"] = r.snapshot;
  std::string text =
      up_to_date
          ? absl::StrFormat("volume %s at %s already holds every snapshot\n", r.as, r.peer)
          : absl::StrFormat("%s volume %s as %s: %d new snapshot%s (%s)\n", verb, r.volume, r.as,
                            r.snapshots_created.size(),
                            r.snapshots_created.size() == 1 ? "" : "s",
                            r.snapshots_created.back());
  text += absl::StrFormat("logical %s, on the wire %s (%d chunks), %.2f s\n",
                          FormatSize(r.logical_bytes), FormatSize(r.wire_bytes), r.chunks,
                          r.seconds);
  Emit(ctx.json, doc, text);
}

absl::Status PushVolumeCommand(const CliContext& ctx, const VolumeFlags& flags) {
  std::unique_ptr<Store> store;
  std::unique_ptr<LayerExchange> local;
  RETURN_IF_ERROR(OpenLocal(ctx, "a push reads chunk records from the store directly",
                            &store, &local));
  std::unique_ptr<VolumeExchange> volumes = GetVolumeExchange(store.get());
  RETURN_IF_ERROR(store->GetVolume(flags.volume).status());
  std::string point = flags.snapshot;
  if (point.empty()) {
    // A consistent point of the volume as it is now.
    point = "backup-" + absl::FormatTime("%Y%m%dT%H%M%E3SZ", absl::Now(), absl::UTCTimeZone());
    RETURN_IF_ERROR(store->CreateSnapshot(flags.volume, point).status());
  }
  RETURN_IF_ERROR(store->WaitForBackgroundWork());  // snapshots travel sealed
  ASSIGN_OR_RETURN(VolumeExport exported, volumes->ExportVolume(flags.volume));
  auto& snaps = exported.volume.snapshots;
  auto last = std::find_if(snaps.begin(), snaps.end(),
                           [&](const VolumeSnapshotManifest& s) { return s.name == point; });
  if (last == snaps.end())
    return absl::NotFoundError(
        absl::StrFormat("volume '%s' has no snapshot '%s'", flags.volume, point));
  snaps.erase(last + 1, snaps.end());
  // Only the layers of the snapshots sent.
  std::set<std::string> used;
  for (const VolumeSnapshotManifest& s : snaps) used.insert(s.layers.begin(), s.layers.end());
  exported.layers.erase(std::remove_if(exported.layers.begin(), exported.layers.end(),
                                       [&](const LayerManifest& m) {
                                         return !used.count(m.name);
                                       }),
                        exported.layers.end());

  uint64_t rate = 0;
  if (!flags.bwlimit.empty()) {
    ASSIGN_OR_RETURN(rate, ParseSize(flags.bwlimit));
    if (rate == 0)
      return absl::InvalidArgumentError("--bwlimit must be more than 0 bytes per second");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   ConnectPeer(flags.peer, flags.security));
  VolumeReport r;
  r.volume = flags.volume;
  r.as = flags.as.empty() ? flags.volume : flags.as;
  r.peer = flags.peer;
  r.snapshot = point;
  {
    ProgressBar bar("push-volume " + flags.volume);
    ASSIGN_OR_RETURN(PushOutcome out, PushVolume(*local, std::move(exported), channel,
                                                 flags.peer, flags.as, bar.Callback(), rate));
    r.snapshots_created = out.snapshots_created;
    r.layers_created = out.layers_created;
    r.logical_bytes = out.logical_bytes;
    r.wire_bytes = out.wire_bytes;
    r.chunks = out.chunks_sent;
    r.record_bytes = out.record_bytes;
    r.seconds = out.seconds;
  }
  Report(ctx, "pushed", r);
  return absl::OkStatus();
}

absl::Status PullVolumeCommand(const CliContext& ctx, const VolumeFlags& flags) {
  std::unique_ptr<Store> store;
  std::unique_ptr<LayerExchange> local;
  RETURN_IF_ERROR(OpenLocal(
      ctx, "a pull writes to the store directly (or push to it from upstream)", &store,
      &local));
  std::unique_ptr<VolumeExchange> volumes = GetVolumeExchange(store.get());
  RETURN_IF_ERROR(ValidateName("volume", flags.volume));
  if (!flags.as.empty()) RETURN_IF_ERROR(ValidateName("volume", flags.as));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   ConnectPeer(flags.peer, flags.security));
  auto stub = replication::Replication::NewStub(channel);
  grpc::ClientContext rpc;
  replication::VolumeRequest req;
  req.set_volume(flags.volume);
  replication::VolumeManifest reply;
  RETURN_IF_ERROR(FromPeerStatus(flags.peer, stub->GetVolumeManifest(&rpc, req, &reply)));
  VolumeManifest m = VolumeManifestFromProto(reply);
  if (m.name != flags.volume)
    return absl::DataLossError(absl::StrFormat(
        "asked peer %s for volume '%s', it answered with '%s'", flags.peer, flags.volume, m.name));

  GrpcChunkSource source(channel, flags.peer);
  source.set_volume(flags.volume);
  VolumeReport r;
  r.volume = flags.volume;
  r.as = flags.as.empty() ? flags.volume : flags.as;
  r.peer = flags.peer;
  {
    ProgressBar bar("pull-volume " + flags.volume);
    ReplicateOptions options;
    options.origin = flags.peer + "/" + flags.volume;
    options.progress = bar.Callback();
    ASSIGN_OR_RETURN(VolumeReceiveResult got,
                     ReceiveVolume(source, *local, *volumes, m, r.as, options));
    r.snapshots_created = got.snapshots_created;
    r.layers_created = got.transfer.layers_created;
    r.anonymous_layers_created = got.anonymous_layers_created;
    r.logical_bytes = got.transfer.logical_bytes;
    r.wire_bytes = got.transfer.wire_bytes + reply.ByteSizeLong() + req.ByteSizeLong();
    r.chunks = got.transfer.chunks_fetched;
    r.record_bytes = got.transfer.record_bytes;
    r.seconds = got.transfer.seconds;
  }
  Report(ctx, "pulled", r);
  return absl::OkStatus();
}

}  // namespace

void RegisterReplicateVolumeCommands(CLI::App* group, CliContext& ctx) {
  auto push_flags = std::make_shared<VolumeFlags>();
  CLI::App* push = group->add_subcommand(
      "push-volume",
      "Back VOLUME up to a peer's `layerdisk serve --grpc --grpc-accept-push` as its "
      "snapshots (a new one, backup-<UTC time>, unless --snapshot), sending only the "
      "snapshots and chunks the peer lacks");
  push->add_option("VOLUME", push_flags->volume, "Volume to back up")->required();
  push->add_option("--to", push_flags->peer, "The peer's replication address HOST:PORT")
      ->required();
  push->add_option("--as", push_flags->as, "The volume's name at the peer (default: VOLUME)");
  push->add_option("--snapshot", push_flags->snapshot,
                   "Send the snapshots up to this existing one instead of taking a new one");
  push->add_option("--bwlimit", push_flags->bwlimit,
                   "Average bytes per second on the wire at most (e.g. 20M)");
  AddSecurityFlags(push, &push_flags->security);
  ctx.Bind(push, [&ctx, push_flags] { return PushVolumeCommand(ctx, *push_flags); });

  auto pull_flags = std::make_shared<VolumeFlags>();
  CLI::App* pull = group->add_subcommand(
      "pull-volume",
      "Bring VOLUME with its snapshots back from a peer's `layerdisk serve --grpc` (its "
      "head starts at the latest snapshot), fetching only what this store lacks");
  pull->add_option("VOLUME", pull_flags->volume, "Volume at the peer")->required();
  pull->add_option("--from", pull_flags->peer, "The peer's replication address HOST:PORT")
      ->required();
  pull->add_option("--as", pull_flags->as, "The volume's name here (default: VOLUME)");
  AddSecurityFlags(pull, &pull_flags->security);
  ctx.Bind(pull, [&ctx, pull_flags] { return PullVolumeCommand(ctx, *pull_flags); });
}

}  // namespace layerdisk
