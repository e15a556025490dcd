// Comparing layers and stacks: `layer diff`, `layer conflicts`,
// `snapshot diff` and `volume map`, added to their command groups.
#include "tools/compare_commands.h"

#include <memory>
#include <optional>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/device_names.h"
#include "tools/cli_context.h"
#include "tools/output.h"

namespace layerdisk {
namespace {

nlohmann::json RangesJson(const std::vector<ByteRange>& ranges) {
  nlohmann::json doc = nlohmann::json::array();
  for (const ByteRange& r : ranges) doc.push_back({{"offset", r.offset}, {"length", r.length}});
  return doc;
}

std::string RangesTable(const std::vector<ByteRange>& ranges) {
  std::vector<std::vector<std::string>> rows = {{"OFFSET", "LENGTH"}};
  for (const ByteRange& r : ranges)
    rows.push_back({absl::StrCat(r.offset), absl::StrCat(r.length)});
  return FormatTable(rows);
}

absl::Status Diff(CliContext& ctx, const std::string& from, const std::string& to) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(DiffReport d, store->DiffDevices(from, to));
  nlohmann::json doc = {{"from", d.from},
                        {"to", d.to},
                        {"size", d.size},
                        {"ranges", RangesJson(d.ranges)},
                        {"changed_bytes", d.changed_bytes},
                        {"bytes_read", d.bytes_read}};
  std::string text =
      d.ranges.empty()
          ? absl::StrFormat("%s and %s read the same", from, to)
          : absl::StrFormat("%s and %s differ in %s (%d bytes, %d ranges):\n%s", from, to,
                            FormatSize(d.changed_bytes), d.changed_bytes, d.ranges.size(),
                            RangesTable(d.ranges));
  Emit(ctx.json, doc, text);
  return absl::OkStatus();
}

struct ConflictArgs {
  std::string first;
  std::string second;
  std::string base;
};

absl::Status Conflicts(CliContext& ctx, const ConflictArgs& args, bool base_given) {
  std::optional<std::vector<std::string>> base;
  if (base_given) base = absl::StrSplit(args.base, ',', absl::SkipEmpty());
  if (base && base->empty())
    return absl::InvalidArgumentError("--base needs at least one layer name");
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(ConflictReport c, store->LayerConflicts(args.first, args.second, base));
  nlohmann::json doc = {{"first", c.first},
                        {"second", c.second},
                        {"base", c.base},
                        {"base_from", c.base_from},
                        {"conflicts", RangesJson(c.ranges)},
                        {"conflicting_bytes", c.conflicting_bytes}};
  std::string over = c.base.empty()
                         ? "an all-zero disk (no base given or recorded)"
                         : absl::StrFormat("base %s", absl::StrJoin(c.base, ","));
  std::string text =
      c.ranges.empty()
          ? absl::StrFormat("no conflicts: %s and %s change no byte of %s differently",
                            c.first, c.second, over)
          : absl::StrFormat("%s and %s both change %d bytes of %s differently (%d ranges):\n%s",
                            c.first, c.second, c.conflicting_bytes, over, c.ranges.size(),
                            RangesTable(c.ranges));
  Emit(ctx.json, doc, text);
  return absl::OkStatus();
}

absl::Status Map(CliContext& ctx, const std::string& device) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(ProvenanceMap m, store->MapLayers(device));
  nlohmann::json extents = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {{"OFFSET", "LENGTH", "KIND", "LAYER"}};
  for (const LayerExtent& e : m.extents) {
    const bool served = e.layer != 0 && e.layer <= m.layers.size();
    const std::string name = served ? m.layers[e.layer - 1] : "-";
    extents.push_back({{"offset", e.offset},
                       {"length", e.length},
                       {"kind", ExtentKindName(e.kind)},
                       {"position", e.layer},
                       {"layer", served ? nlohmann::json(name) : nlohmann::json(nullptr)}});
    rows.push_back({absl::StrCat(e.offset), absl::StrCat(e.length), ExtentKindName(e.kind), name});
  }
  nlohmann::json doc = {
      {"device", m.device}, {"size", m.size}, {"layers", m.layers}, {"extents", extents}};
  Emit(ctx.json, doc,
       absl::StrFormat("%s (%s), layers lowest first: %s\n%s", m.device, FormatSize(m.size),
                       m.layers.empty() ? "(none)" : absl::StrJoin(m.layers, ", "),
                       FormatTable(rows)));
  return absl::OkStatus();
}

CLI::App* Group(CLI::App& app, const std::string& name) {
  return app.get_subcommand(name);  // registered before (main.cc)
}

}  // namespace

absl::StatusOr<std::vector<std::string>> StackWarnings(Store& store,
                                                       const std::vector<std::string>& layers) {
  ASSIGN_OR_RETURN(std::vector<StackConflict> conflicts, store.StackConflicts(layers));
  std::vector<std::string> out;
  for (const StackConflict& c : conflicts)
    out.push_back(absl::StrFormat(
        "layers %s and %s both change %d blocks (%s) differently; %s wins (it is higher)",
        c.lower, c.upper, c.blocks, FormatSize(c.bytes), c.upper));
  return out;
}

void RegisterCompareCommands(CLI::App& app, CliContext& ctx) {
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  CLI::App* cmd = Group(app, "layer")->add_subcommand(
      "diff", "Byte ranges (whole blocks) where two layers read differently");
  cmd->add_option("LAYER1", *from, "Layer name")->required();
  cmd->add_option("LAYER2", *to, "Layer name")->required();
  ctx.Bind(cmd, [&ctx, from, to] {
    return Diff(ctx, kLayerDevicePrefix + *from, kLayerDevicePrefix + *to);
  });

  auto conflict = std::make_shared<ConflictArgs>();
  cmd = Group(app, "layer")->add_subcommand(
      "conflicts",
      "Bytes two layers captured on the same base both change, differently");
  cmd->add_option("APP1", conflict->first, "Layer name")->required();
  cmd->add_option("APP2", conflict->second, "Layer name")->required();
  CLI::Option* base = cmd->add_option(
      "--base", conflict->base,
      "The base they were captured on, layers lowest first, comma-separated "
      "(default: the base recorded with the layers, or their parent chain; none: an "
      "all-zero disk)");
  ctx.Bind(cmd, [&ctx, conflict, base] { return Conflicts(ctx, *conflict, base->count() > 0); });

  auto volume = std::make_shared<std::string>();
  auto second = std::make_shared<std::string>();
  cmd = Group(app, "snapshot")->add_subcommand(
      "diff", "Byte ranges (whole blocks) changed between two snapshots, or a "
              "snapshot and the live volume");
  cmd->add_option("VOLUME", *volume, "Volume name")->required();
  cmd->add_option("SNAP1", *from, "The older snapshot")->required();
  cmd->add_option("SNAP2", *second, "The newer snapshot (default: the live volume)");
  ctx.Bind(cmd, [&ctx, volume, from, second] {
    return Diff(ctx, *volume + "@" + *from,
                second->empty() ? *volume : *volume + "@" + *second);
  });

  auto device = std::make_shared<std::string>();
  cmd = Group(app, "volume")->add_subcommand(
      "map", "Which layer serves each extent of a volume, and whether it is data, zero or a hole");
  cmd->add_option("VOLUME", *device, "VOLUME or VOLUME@SNAPSHOT")->required();
  ctx.Bind(cmd, [&ctx, device] { return Map(ctx, *device); });
}

}  // namespace layerdisk
