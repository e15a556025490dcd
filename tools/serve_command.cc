// `layerdisk serve`: owns the store and serves it: every volume, snapshot
// and layer over NBD and/or as files on a FUSE mount, and the control API
// (every management command) on a unix socket in the store directory; takes
// scheduled snapshots. Stops cleanly on SIGINT/SIGTERM, flushing every
// volume and unmounting.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/interval_parse.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/snapshot_scheduler.h"
#include "fuse-frontend/fuse_mount.h"
#include "nbd-frontend/nbd_server.h"
#include "nbd-frontend/tls.h"
#include "replication/access_list.h"
#include "replication/branch_cache.h"
#include "replication/grpc_chunk_source.h"
#include "replication/peer_link.h"
#include "replication/replication_service.h"
#include "tools/cli_context.h"
#include "tools/control/control_service.h"
#include "tools/control/remote_store.h"
#include "tools/control/store_connect.h"
#include "tools/serve_exports.h"

namespace layerdisk {
namespace {

struct ServeFlags {
  std::vector<std::string> nbd;
  int max_connections = 256;
  double handshake_timeout_seconds = 10;
  std::string tls_mode = "off";  // off, on (STARTTLS offered) or require
  TlsOptions tls;
  std::string fuse;  // mount point; empty: no FUSE
  bool fuse_allow_other = false;
  std::string grpc;  // replication service HOST:PORT; empty: none
  PeerSecurity grpc_security;
  bool grpc_accept_push = false;
  std::string grpc_allow;  // access list file; empty: every peer reads every layer
  std::string min_schedule_interval = "1m";
  std::string chunk_cache = "auto";  // a size, or auto: kAutoChunkCacheShare of RAM
  std::string upstream;  // branch cache mode: upstream's replication HOST:PORT
  PeerSecurity upstream_security;
  std::string upstream_bwlimit;  // the prefetch's default rate; empty: none
  // How long a read waits for missing chunks from upstream before failing.
  std::string upstream_timeout = "30s";
  bool upstream_timeout_given = false;
};

// The decompressed-chunk cache is what keeps a boot storm off the
// decompressor and RocksDB: a server whose hot OS blocks fit in it reads
// them at memory speed, as a file server reads from the page cache. By
// default it takes an eighth of the machine's memory, never under the
// library's 256 MiB.
constexpr uint64_t kAutoChunkCacheShare = 8;

absl::StatusOr<uint64_t> ChunkCacheBytes(const std::string& flag) {
  if (flag != "auto") return ParseSize(flag);
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  const uint64_t ram = pages > 0 && page_size > 0 ? uint64_t(pages) * page_size : 0;
  return std::max(StoreOptions().chunk_cache_bytes, ram / kAutoChunkCacheShare);
}

// Branch cache mode (docs/replication.md): the upstream link, the cache
// that fetches through it, and how the control API's PullLayer runs.
struct Upstream {
  std::unique_ptr<GrpcChunkSource> source;
  std::unique_ptr<GrpcChunkSource> reads;  // the same link, with --upstream-timeout
  std::shared_ptr<BranchCache> cache;
};

absl::StatusOr<std::optional<Upstream>> ConnectUpstream(const ServeFlags& flags,
                                                        LayerExchange* exchange,
                                                        ControlService* control) {
  if (flags.upstream.empty()) {
    if (flags.upstream_security.insecure || !flags.upstream_security.cert_file.empty() ||
        !flags.upstream_security.key_file.empty() || !flags.upstream_security.ca_file.empty() ||
        !flags.upstream_bwlimit.empty() || flags.upstream_timeout_given)
      return absl::InvalidArgumentError("the --upstream-* options need --upstream HOST:PORT");
    return std::nullopt;
  }
  uint64_t bwlimit = 0;
  if (!flags.upstream_bwlimit.empty()) {
    ASSIGN_OR_RETURN(bwlimit, ParseSize(flags.upstream_bwlimit));
    if (bwlimit == 0)
      return absl::InvalidArgumentError("--upstream-bwlimit must be more than 0 bytes per second");
  }
  ASSIGN_OR_RETURN(uint64_t timeout_seconds, ParseInterval(flags.upstream_timeout));
  if (timeout_seconds == 0)
    return absl::InvalidArgumentError("--upstream-timeout must be at least 1s");
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   ConnectPeer(flags.upstream, flags.upstream_security));
  Upstream up;
  up.source = std::make_unique<GrpcChunkSource>(channel, flags.upstream);
  up.reads = std::make_unique<GrpcChunkSource>(channel, flags.upstream);
  up.reads->set_call_timeout(std::chrono::seconds(timeout_seconds));
  up.cache = std::make_shared<BranchCache>(exchange, up.source.get(), up.reads.get(),
                                           flags.upstream, bwlimit);
  exchange->SetMissingChunkSource(up.cache);
  BranchCache* cache = up.cache.get();
  GrpcChunkSource* source = up.source.get();
  const std::string upstream = flags.upstream;
  control->SetPullHandler([cache, source, upstream](const v1::PullRequest& in,
                                                     v1::PullReply* out)
                              -> absl::Status {
    if (!in.from().empty() && in.from() != upstream)
      return absl::FailedPreconditionError(absl::StrFormat(
          "this server's upstream is %s, not %s; it pulls only from its upstream", upstream,
          in.from()));
    const uint64_t wire_before = source->wire_bytes();
    absl::StatusOr<ReplicateResult> r = cache->Pull(in.layer(), in.bwlimit());
    if (!r.ok()) return r.status();
    for (const std::string& l : r->layers_created) out->add_layers_created(l);
    out->set_up_to_date(r->up_to_date);
    out->set_logical_bytes(r->logical_bytes);
    out->set_wire_bytes(source->wire_bytes() - wire_before);
    out->set_seconds(r->seconds);
    out->set_upstream(upstream);
    return absl::OkStatus();
  });
  return up;
}

// Null when TLS is off; every inconsistent combination is one clear error.
absl::StatusOr<std::unique_ptr<TlsProvider>> TlsFromFlags(const ServeFlags& flags) {
  const TlsOptions& tls = flags.tls;
  const bool any_file = !tls.cert_file.empty() || !tls.key_file.empty() ||
                        !tls.ca_file.empty() || !tls.psk_file.empty();
  if (flags.tls_mode == "off") {
    if (any_file)
      return absl::InvalidArgumentError(
          "--tls-cert/--tls-key/--tls-ca/--tls-psk need --tls on or --tls require");
    return nullptr;
  }
  if (tls.cert_file.empty() != tls.key_file.empty())
    return absl::InvalidArgumentError("--tls-cert and --tls-key must be given together");
  if (!tls.ca_file.empty() && tls.cert_file.empty())
    return absl::InvalidArgumentError(
        "--tls-ca (client certificate verification) needs --tls-cert and --tls-key");
  if (tls.cert_file.empty() && tls.psk_file.empty())
    return absl::InvalidArgumentError("--tls " + flags.tls_mode +
                                      " needs --tls-cert and --tls-key, or --tls-psk");
  TlsOptions options = tls;
  options.required = flags.tls_mode == "require";
  return NewTlsProvider(options);
}

absl::Status Serve(const CliContext& ctx, const ServeFlags& flags) {
  ASSIGN_OR_RETURN(std::unique_ptr<TlsProvider> tls, TlsFromFlags(flags));
  const std::string control = ControlSocketPath(ctx.store_dir);
  // A running server answers on the control socket; a socket file left by
  // a killed one does not, and is replaced.
  if (ServerAnswers(ctx.store_dir))
    return absl::UnavailableError("store " + ctx.store_dir +
                                  " is already served by another layerdisk process");
  ::unlink(control.c_str());
  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  StoreOptions options;
  ASSIGN_OR_RETURN(options.min_schedule_interval_seconds,
                   ParseInterval(flags.min_schedule_interval));
  ASSIGN_OR_RETURN(options.chunk_cache_bytes, ChunkCacheBytes(flags.chunk_cache));
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, Store::Open(ctx.store_dir, options));

  // A forced delete or rollback disconnects the volume's NBD clients first.
  // The NBD server starts after the control socket, so the hook finds it
  // through an atomic that stays null until then.
  std::atomic<NbdServer*> nbd_server{nullptr};
  // Likewise the snapshot scheduler, woken when a schedule changes.
  std::atomic<SnapshotScheduler*> scheduler{nullptr};
  ControlService control_service(
      store.get(), [&nbd_server](const std::function<bool(std::string_view)>& match) {
        if (NbdServer* server = nbd_server.load())
          server->DisconnectClients(match, "disconnected: the volume was deleted or "
                                           "rolled back with --force");
      },
      [&scheduler] {
        if (SnapshotScheduler* s = scheduler.load()) s->SchedulesChanged();
      });
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + control, grpc::InsecureServerCredentials());
  builder.RegisterService(&control_service);
  // Replication (docs/replication.md) shares the gRPC server, on TCP.
  std::unique_ptr<LayerExchange> exchange = GetLayerExchange(store.get());
  ReplicationServiceOptions replication_options;
  replication_options.accept_push = flags.grpc_accept_push;
  std::unique_ptr<VolumeExchange> volume_exchange = GetVolumeExchange(store.get());
  replication_options.volumes = volume_exchange.get();
  std::optional<AccessList> access;
  if (!flags.grpc_allow.empty()) {
    if (flags.grpc_security.insecure)
      return absl::InvalidArgumentError(
          "--grpc-allow names peers by their TLS certificates; it needs TLS, not "
          "--grpc-insecure");
    ASSIGN_OR_RETURN(access, AccessList::Load(flags.grpc_allow));
    replication_options.may_read = access->AsAccessFn();
  }
  ReplicationService replication_service(exchange.get(), replication_options);
  ASSIGN_OR_RETURN(std::optional<Upstream> upstream,
                   ConnectUpstream(flags, exchange.get(), &control_service));
  int grpc_port = 0;
  if (!flags.grpc.empty()) {
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
                     PeerServerCredentials(flags.grpc_security));
    builder.AddListeningPort(flags.grpc, creds, &grpc_port);
    builder.RegisterService(&replication_service);
  }
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server)
    return absl::UnavailableError("cannot listen on the control socket " + control);
  if (!flags.grpc.empty() && grpc_port == 0) {
    grpc_server->Shutdown();
    ::unlink(control.c_str());
    return absl::UnavailableError("cannot listen for replication on " + flags.grpc);
  }
  // The scheduler is a client of the control API like any command, so a
  // snapshot its retention deletes is forgotten by the control service's
  // open devices exactly as a `snapshot delete` would be.
  absl::StatusOr<std::unique_ptr<Store>> scheduler_store =
      ConnectRemoteStore(ctx.store_dir, control, /*timeout_ms=*/10000);
  if (!scheduler_store.ok()) {
    grpc_server->Shutdown();
    ::unlink(control.c_str());
    return scheduler_store.status();
  }
  std::unique_ptr<SchedulerClock> clock = NewRealSchedulerClock();
  SnapshotScheduler snapshot_scheduler(
      scheduler_store->get(), clock.get(),
      [](const std::string& line) { std::fprintf(stderr, "layerdisk: %s\n", line.c_str()); });
  scheduler.store(&snapshot_scheduler);

  StoreExports exports(store.get());
  NbdServerOptions nbd_options;
  nbd_options.listen = flags.nbd;
  if (nbd_options.listen.empty())
    nbd_options.listen = {"unix:" + ctx.store_dir + "/nbd.sock", "tcp:127.0.0.1:10809"};
  nbd_options.max_connections = flags.max_connections;
  nbd_options.handshake_timeout = absl::Seconds(flags.handshake_timeout_seconds);
  nbd_options.tls = tls.get();
  // --fuse alone serves files only; NBD comes with it when --nbd is given.
  const bool serve_nbd = flags.fuse.empty() || !flags.nbd.empty();
  std::unique_ptr<NbdServer> nbd;
  if (serve_nbd) {
    absl::StatusOr<std::unique_ptr<NbdServer>> started = NbdServer::Start(&exports, nbd_options);
    if (!started.ok()) {
      grpc_server->Shutdown();
      ::unlink(control.c_str());
      return started.status();
    }
    nbd = *std::move(started);
  }
  StoreImages images(store.get());
  std::unique_ptr<FuseMount> fuse;
  if (!flags.fuse.empty()) {
    FuseMountOptions fuse_options;
    fuse_options.mountpoint = flags.fuse;
    fuse_options.fs_name = "layerdisk:" + ctx.store_dir;
    fuse_options.allow_other = flags.fuse_allow_other;
    absl::StatusOr<std::unique_ptr<FuseMount>> mounted = FuseMount::Start(&images, fuse_options);
    if (!mounted.ok()) {
      if (nbd) nbd->Stop();
      grpc_server->Shutdown();
      ::unlink(control.c_str());
      return mounted.status();
    }
    fuse = *std::move(mounted);
  }

  nbd_server.store(nbd.get());
  std::printf("layerdisk: serving %s\n", ctx.store_dir.c_str());
  if (nbd)
    for (const std::string& a : nbd->addresses()) std::printf("  nbd      %s\n", a.c_str());
  if (fuse) std::printf("  fuse     %s\n", fuse->mountpoint().c_str());
  std::printf("  control  unix:%s\n", control.c_str());
  std::printf("  cache    %s of decompressed chunks\n",
              FormatSize(options.chunk_cache_bytes).c_str());
  if (grpc_port != 0)  // the bound port: --grpc HOST:0 picks a free one
    std::printf("  grpc     %s:%d\n", flags.grpc.substr(0, flags.grpc.rfind(':')).c_str(),
                grpc_port);
  if (upstream) std::printf("  upstream %s\n", flags.upstream.c_str());
  std::fflush(stdout);
  snapshot_scheduler.Start();
  if (upstream) upstream->cache->Start();  // resumes layers still fetching

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "layerdisk: %s received, stopping\n", strsignal(signal_number));
  snapshot_scheduler.Stop();  // a snapshot under way completes first
  scheduler.store(nullptr);
  if (fuse) fuse->Stop();  // flushes what was written through files, unmounts
  if (nbd) nbd->Stop();    // flushes every device that was written
  nbd_server.store(nullptr);
  grpc_server->Shutdown();
  if (upstream) {
    upstream->cache->Stop();
    exchange->SetMissingChunkSource(nullptr);
  }
  ::unlink(control.c_str());
  if (serve_nbd)
    for (const std::string& a : nbd_options.listen)
      if (a.rfind("unix:", 0) == 0) ::unlink(a.substr(5).c_str());
  store.reset();  // flushes open volumes, stops background work
  std::fprintf(stderr, "layerdisk: stopped\n");
  return absl::OkStatus();
}

}  // namespace

void RegisterServeCommand(CLI::App& app, CliContext& ctx) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Serve every volume, snapshot and layer over NBD and/or FUSE, with live management");
  serve->add_option("--nbd", flags->nbd,
                    "Listen address, unix:PATH or tcp:HOST:PORT (repeatable; default "
                    "unix:STORE/nbd.sock and tcp:127.0.0.1:10809)");
  serve->add_option("--max-connections", flags->max_connections,
                    "Most NBD connections at once")
      ->capture_default_str();
  serve->add_option("--handshake-timeout", flags->handshake_timeout_seconds,
                    "Seconds a client may take to reach transmission before it is cut off")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            double seconds = 0;
            return CLI::detail::lexical_cast(value, seconds) && seconds > 0
                       ? "" : "must be a positive number of seconds";
          },
          "SECONDS"))
      ->capture_default_str();
  serve->add_option("--tls", flags->tls_mode,
                    "off; on (STARTTLS offered, plaintext allowed); require (TLS only)")
      ->check(CLI::IsMember({"off", "on", "require"}))
      ->capture_default_str();
  serve->add_option("--tls-cert", flags->tls.cert_file, "Server certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", flags->tls.key_file, "Server private key (PEM)")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-ca", flags->tls.ca_file,
                    "CA bundle (PEM); clients must present a certificate it signed")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-psk", flags->tls.psk_file,
                    "Pre-shared keys, lines of IDENTITY:HEXKEY (psktool format)")
      ->check(CLI::ExistingFile);
  serve->add_option("--fuse", flags->fuse,
                    "Mount volumes/, snapshots/ and layers/ as raw image files here (alone: "
                    "FUSE only; with --nbd: both)");
  serve->add_flag("--fuse-allow-other", flags->fuse_allow_other,
                  "Let other users (a hypervisor's own) open the FUSE files");
  serve->add_option("--grpc", flags->grpc,
                    "Serve layer replication (replicate pull/push) on HOST:PORT (port 0: any "
                    "free port, printed)");
  serve->add_flag("--grpc-accept-push", flags->grpc_accept_push,
                  "Let replication peers push layers into this store (replicate push)");
  serve->add_option("--grpc-allow", flags->grpc_allow,
                    "Which layers each peer may pull: lines of CERT-CN LAYER-PATTERN "
                    "(default: every authenticated peer reads every layer)")
      ->check(CLI::ExistingFile);
  serve->add_flag("--grpc-insecure", flags->grpc_security.insecure,
                  "Replication without TLS (a trusted network, loopback tests)");
  serve->add_option("--grpc-tls-cert", flags->grpc_security.cert_file,
                    "Replication server certificate chain (PEM)")
      ->check(CLI::ExistingFile);
  serve->add_option("--grpc-tls-key", flags->grpc_security.key_file,
                    "Replication server private key (PEM)")
      ->check(CLI::ExistingFile);
  serve->add_option("--grpc-tls-ca", flags->grpc_security.ca_file,
                    "CA bundle (PEM); replication peers must present a certificate it signed")
      ->check(CLI::ExistingFile);
  serve->add_option("--min-schedule-interval", flags->min_schedule_interval,
                    "The shortest `snapshot schedule --every` accepted while this server "
                    "runs (shorter than 1m: for tests and demos)")
      ->capture_default_str();
  serve->add_option("--chunk-cache", flags->chunk_cache,
                    "Memory for decompressed chunks, e.g. 4G (auto: an eighth of RAM, at "
                    "least 256 MiB)")
      ->capture_default_str();
  serve->add_option("--upstream", flags->upstream,
                    "Branch cache mode: pull layers lazily from this upstream's replication "
                    "service HOST:PORT (replicate pull returns at once; reads fetch missing "
                    "chunks; a background prefetch completes the copy)");
  serve->add_flag("--upstream-insecure", flags->upstream_security.insecure,
                  "Talk to the upstream without TLS (a trusted network, loopback tests)");
  serve->add_option("--upstream-tls-cert", flags->upstream_security.cert_file,
                    "Our certificate chain (PEM) for the upstream link")
      ->check(CLI::ExistingFile);
  serve->add_option("--upstream-tls-key", flags->upstream_security.key_file,
                    "Our private key (PEM) for the upstream link")
      ->check(CLI::ExistingFile);
  serve->add_option("--upstream-tls-ca", flags->upstream_security.ca_file,
                    "CA bundle (PEM) the upstream's certificate must chain to")
      ->check(CLI::ExistingFile);
  serve->add_option("--upstream-bwlimit", flags->upstream_bwlimit,
                    "The background prefetch's average bytes per second at most (e.g. 20M), "
                    "unless a pull's --bwlimit says otherwise");
  CLI::Option* upstream_timeout = serve->add_option(
      "--upstream-timeout", flags->upstream_timeout,
      "How long a read waits for chunks it lacks from the upstream before it fails "
      "with EIO (a hung upstream must not hang the guests)")->capture_default_str();
  ctx.Bind(serve, [&ctx, flags, upstream_timeout] {
    flags->upstream_timeout_given = upstream_timeout->count() > 0;
    return Serve(ctx, *flags);
  });
}

}  // namespace layerdisk
