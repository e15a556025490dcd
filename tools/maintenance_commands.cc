// Store-wide commands: init, stats, gc, fsck.
#include <algorithm>
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

absl::Status Init(CliContext& ctx, const std::string& chunk_size_text) {
  ASSIGN_OR_RETURN(uint64_t chunk_size, ParseSize(chunk_size_text));
  StoreOptions options;
  options.error_if_exists = true;
  // Out-of-range values become a value the store rejects with its own
  // message (the rule lives in one place, the engine).
  options.chunk_size = static_cast<uint32_t>(std::min<uint64_t>(chunk_size, UINT32_MAX));
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore(options));
  Emit(ctx.json, {{"store", store->dir()}, {"chunk_size", store->chunk_size()}},
       absl::StrFormat("created store %s (chunk size %s)", store->dir(),
                       FormatSize(store->chunk_size())));
  return absl::OkStatus();
}

absl::Status Stats(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(StoreStats stats, store->Stats());
  nlohmann::json doc = ToJson(stats.store);
  doc["chunks"] = stats.chunks;
  doc["head_bytes"] = stats.head_bytes;
  doc["chunk_size"] = store->chunk_size();
  doc["layers"] = nlohmann::json::array();
  for (const SpaceStats& l : stats.layers) doc["layers"].push_back(ToJson(l));

  const SpaceStats& s = stats.store;
  std::string text = absl::StrFormat(
      "store %s (chunk size %s)\n"
      "  logical data   %s in sealed layers\n"
      "  unique data    %s in %d chunks (dedup %s)\n"
      "  stored         %s (compression %s)\n"
      "  writable heads %s on disk\n",
      store->dir(), FormatSize(store->chunk_size()), FormatSize(s.logical_bytes),
      FormatSize(s.unique_bytes), stats.chunks, FormatRatio(s.dedup_ratio),
      FormatSize(s.stored_bytes), FormatRatio(s.compression_ratio),
      FormatSize(stats.head_bytes));
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
  Emit(ctx.json,
       {{"layers_removed", r.layers_removed},
        {"chunks_removed", r.chunks_removed},
        {"bytes_reclaimed", r.bytes_reclaimed}},
       absl::StrFormat("gc: removed %d unreferenced layers and %d chunks, "
                       "reclaimed %s",
                       r.layers_removed, r.chunks_removed,
                       FormatSize(r.bytes_reclaimed)));
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
  ctx.Bind(init, [&ctx, chunk_size] { return Init(ctx, *chunk_size); });

  ctx.Bind(app.add_subcommand("stats", "Space used, dedup and compression ratios"),
           [&ctx] { return Stats(ctx); });
  ctx.Bind(app.add_subcommand("gc", "Remove unreferenced layers and chunks"),
           [&ctx] { return Gc(ctx); });
  ctx.Bind(app.add_subcommand("fsck", "Verify every record and chunk of the store"),
           [&ctx] { return Fsck(ctx); });
}

}  // namespace layerdisk
