// Store-wide commands: init, stats, gc, fsck.
#include <algorithm>
#include <filesystem>
#include <memory>

#include "absl/strings/str_format.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "tools/cli_context.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace layerdisk {
namespace {

std::string Plural(uint64_t n, const char* noun) {
  return absl::StrFormat("%d %s%s", n, noun, n == 1 ? "" : "s");
}

// How and where `init` puts chunk records: --compression, --chunks and the
// RADOS options.
struct InitChunkFlags {
  std::string compression = "zstd";
  std::string chunks = "rocksdb";
  std::string ceph_conf;
  std::string pool;
  std::string ceph_user;
};

absl::Status ApplyChunkFlags(const InitChunkFlags& flags, StoreOptions* options) {
  ASSIGN_OR_RETURN(options->compression, ParseChunkCompression(flags.compression));
  bool rados_flags = !flags.ceph_conf.empty() || !flags.pool.empty() ||
                     !flags.ceph_user.empty();
  if (flags.chunks == "rocksdb") {
    if (rados_flags)
      return absl::InvalidArgumentError(
          "--ceph-conf, --pool and --ceph-user need --chunks rados");
    return absl::OkStatus();
  }
  if (flags.chunks != "rados")
    return absl::InvalidArgumentError(absl::StrFormat(
        "--chunks '%s' must be rocksdb or rados", flags.chunks));
  if (flags.ceph_conf.empty() || flags.pool.empty())
    return absl::InvalidArgumentError("--chunks rados needs --ceph-conf and --pool");
  options->chunks = ChunkBackend::kRados;
  // The store records the path: absolute, so it opens from any directory.
  options->rados.ceph_conf = std::filesystem::absolute(flags.ceph_conf).string();
  options->rados.pool = flags.pool;
  options->rados.user = flags.ceph_user;
  return absl::OkStatus();
}

absl::Status Init(CliContext& ctx, const std::string& chunk_size_text,
                  const InitChunkFlags& chunk_flags) {
  ASSIGN_OR_RETURN(uint64_t chunk_size, ParseSize(chunk_size_text));
  StoreOptions options;
  RETURN_IF_ERROR(ApplyChunkFlags(chunk_flags, &options));
  options.error_if_exists = true;
  // Out-of-range values become a value the store rejects with its own
  // message (the rule lives in one place, the engine).
  options.chunk_size = static_cast<uint32_t>(std::min<uint64_t>(chunk_size, UINT32_MAX));
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore(options));
  std::string where = options.chunks == ChunkBackend::kRados
                          ? absl::StrFormat(", chunks in RADOS pool %s", options.rados.pool)
                          : "";
  Emit(ctx.json,
       {{"store", store->dir()},
        {"chunk_size", store->chunk_size()},
        {"compression", chunk_flags.compression},
        {"chunks", chunk_flags.chunks},
        {"pool", options.rados.pool}},
       absl::StrFormat("created store %s (chunk size %s, compression %s%s)", store->dir(),
                       FormatSize(store->chunk_size()), chunk_flags.compression, where));
  return absl::OkStatus();
}

absl::Status Stats(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(StoreStats stats, store->Stats());
  nlohmann::json doc = ToJson(stats.store);
  doc["chunks"] = stats.chunks;
  doc["head_bytes"] = stats.head_bytes;
  doc["unreferenced_bytes"] = stats.unreferenced_bytes;
  doc["chunk_file_bytes"] = stats.chunk_file_bytes;
  doc["chunk_file_garbage_bytes"] = stats.chunk_file_garbage_bytes;
  doc["chunk_size"] = store->chunk_size();
  doc["compression"] = ChunkCompressionName(stats.compression);
  doc["layers"] = nlohmann::json::array();
  for (const SpaceStats& l : stats.layers) doc["layers"].push_back(ToJson(l));

  const SpaceStats& s = stats.store;
  std::string text = absl::StrFormat(
      "store %s (chunk size %s, new chunks compressed: %s)\n"
      "  logical data   %s in sealed layers\n"
      "  unique data    %s in %d chunks (dedup %s)\n"
      "  stored         %s (compression %s)\n"
      "  writable heads %s on disk\n",
      store->dir(), FormatSize(store->chunk_size()), ChunkCompressionName(stats.compression),
      FormatSize(s.logical_bytes),
      FormatSize(s.unique_bytes), stats.chunks, FormatRatio(s.dedup_ratio),
      FormatSize(s.stored_bytes), FormatRatio(s.compression_ratio),
      FormatSize(stats.head_bytes));
  // What gc can give back: chunks no layer uses, and deleted chunks still in
  // blob files (returned once the oldest files are a quarter garbage).
  if (stats.chunk_file_bytes > 0)
    text += absl::StrFormat("  chunk files    %s on disk, %s of it deleted chunks\n",
                            FormatSize(stats.chunk_file_bytes),
                            FormatSize(stats.chunk_file_garbage_bytes));
  if (stats.unreferenced_bytes > 0)
    text += absl::StrFormat("  unreferenced   %s of chunks no layer uses (`gc` removes them)\n",
                            FormatSize(stats.unreferenced_bytes));
  const ChunkCacheStats& c = stats.cache;
  doc["cache"] = {{"hits", c.hits}, {"misses", c.misses}, {"bytes", c.bytes},
                  {"capacity", c.capacity}};
  const uint64_t reads = c.hits + c.misses;
  text += absl::StrFormat("  chunk cache    %s of %s, %s hit rate (%d of %d reads)\n",
                          FormatSize(c.bytes), FormatSize(c.capacity),
                          reads == 0 ? std::string("no")
                                     : absl::StrFormat("%.1f%%", 100.0 * c.hits / reads),
                          c.hits, reads);
  if (!stats.pool.name.empty()) {
    const PoolStats& p = stats.pool;
    doc["pool"] = {{"name", p.name}, {"objects", p.objects}, {"bytes", p.bytes},
                   {"stores", p.stores}, {"layers", p.layers}};
    // Ceph's pool statistics come from its manager daemon: a cluster
    // without one reports an empty pool, which would mislead.
    std::string usage = p.objects == 0 && stats.chunks > 0
                            ? std::string("usage not reported by the cluster (no ceph-mgr?)")
                            : absl::StrFormat("%d objects, %s", p.objects, FormatSize(p.bytes));
    text += absl::StrFormat("  RADOS pool     %s: %s; %d stores share it, %d layers published\n",
                            p.name, usage, p.stores, p.layers);
  }
  if (!stats.layers.empty()) {
    std::vector<std::vector<std::string>> rows = {
        {"LAYER", "LOGICAL", "UNIQUE", "STORED", "DEDUP", "COMPRESSION"}};
    for (const SpaceStats& l : stats.layers)
      rows.push_back({l.name, FormatSize(l.logical_bytes), FormatSize(l.unique_bytes),
                      FormatSize(l.stored_bytes), FormatRatio(l.dedup_ratio),
                      FormatRatio(l.compression_ratio)});
    text += "\n" + FormatTable(rows);
  }
  Emit(ctx.json, doc, text);
  return absl::OkStatus();
}

absl::Status Gc(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(GcResult r, store->Gc());
  std::string text = absl::StrFormat("gc: removed %d unreferenced layers and %d chunks (%s)",
                                     r.layers_removed, r.chunks_removed,
                                     FormatSize(r.bytes_reclaimed));
  if (r.garbage_bytes_left > 0)
    text += absl::StrFormat("; %s of deleted chunk data stays on disk until the oldest "
                            "blob files are a quarter garbage",
                            FormatSize(r.garbage_bytes_left));
  if (r.fetching_layers > 0)
    text += absl::StrFormat("; unreferenced chunks kept while %d layers are still fetching",
                            r.fetching_layers);
  Emit(ctx.json,
       {{"layers_removed", r.layers_removed},
        {"chunks_removed", r.chunks_removed},
        {"bytes_reclaimed", r.bytes_reclaimed},
        {"fetching_layers", r.fetching_layers},
        {"garbage_bytes_left", r.garbage_bytes_left}},
       text);
  return absl::OkStatus();
}

absl::Status Fsck(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  absl::StatusOr<FsckReport> report;
  {
    ProgressBar bar("fsck");
    report = store->Fsck(bar.Callback());
  }
  if (!report.ok()) return report.status();
  const FsckReport& r = *report;
  std::string text = absl::StrFormat(
      "fsck: checked %d layers, %d map entries, %d chunks: %s\n", r.layers_checked,
      r.map_entries_checked, r.chunks_checked,
      r.ok() ? "no problems" : Plural(r.problems.size(), "problem"));
  for (const std::string& p : r.problems) text += "  " + p + "\n";
  Emit(ctx.json,
       {{"ok", r.ok()},
        {"layers_checked", r.layers_checked},
        {"map_entries_checked", r.map_entries_checked},
        {"chunks_checked", r.chunks_checked},
        {"problems", r.problems}},
       text);
  if (r.ok()) return absl::OkStatus();
  return absl::DataLossError(absl::StrFormat("fsck found %s in %s; first: %s",
                                             Plural(r.problems.size(), "problem"),
                                             store->dir(), r.problems.front()));
}

}  // namespace

void RegisterMaintenanceCommands(CLI::App& app, CliContext& ctx) {
  auto chunk_size = std::make_shared<std::string>("4K");
  CLI::App* init = app.add_subcommand("init", "Create a new store");
  init->add_option("--chunk-size", *chunk_size,
                   "Dedup granularity: a power of two from 4K to 1M")
      ->capture_default_str();
  auto chunk_flags = std::make_shared<InitChunkFlags>();
  init->add_option("--compression", chunk_flags->compression,
                   "How new chunks are compressed: zstd, zstd-fast (imports ~20% faster, "
                   "~20% more space) or off (~40% faster, nothing compressed)")
      ->capture_default_str();
  init->add_option("--chunks", chunk_flags->chunks,
                   "Where chunk bytes live: rocksdb (in the store) or rados (a Ceph pool)")
      ->capture_default_str();
  init->add_option("--ceph-conf", chunk_flags->ceph_conf,
                   "ceph.conf of the cluster (with --chunks rados)");
  init->add_option("--pool", chunk_flags->pool, "RADOS pool for the chunks (with --chunks rados)");
  init->add_option("--ceph-user", chunk_flags->ceph_user,
                   "Ceph client name without 'client.' (default admin)");
  ctx.Bind(init, [&ctx, chunk_size, chunk_flags] {
    return Init(ctx, *chunk_size, *chunk_flags);
  });

  ctx.Bind(app.add_subcommand("stats", "Space used, dedup and compression ratios"),
           [&ctx] { return Stats(ctx); });
  ctx.Bind(app.add_subcommand("gc", "Remove unreferenced layers and chunks"),
           [&ctx] { return Gc(ctx); });
  ctx.Bind(app.add_subcommand("fsck", "Verify every record and chunk of the store"),
           [&ctx] { return Fsck(ctx); });
}

}  // namespace layerdisk
