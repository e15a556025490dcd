// Layer management beyond import and seal: `volume rebase` (swap a volume's
// base layers under its head), `layer merge` and `layer flatten` (collapse a
// stack into one layer) and `layer describe`. Registered into the `layer`
// and `volume` groups the other command files create.
#include <memory>
#include <optional>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "tools/cli_context.h"
#include "tools/output.h"

namespace layerdisk {
namespace {

std::string RebaseText(const RebaseReport& r) {
  uint64_t bytes = 0;
  for (const ByteRange& c : r.conflicts) bytes += c.length;
  std::string out = absl::StrFormat(
      "volume %s: %s %s -> %s\n", r.volume, r.applied ? "rebased" : "would rebase (dry run)",
      absl::StrJoin(r.old_layers, ","), absl::StrJoin(r.new_layers, ","));
  if (r.conflicts.empty()) {
    out += "  no conflicts: its own writes cover no block the new layers change\n";
    return out;
  }
  out += absl::StrFormat(
      "  %d range(s), %s, where its own writes cover blocks the new layers change:\n",
      r.conflicts.size(), FormatSize(bytes));
  std::vector<std::vector<std::string>> rows = {{"    OFFSET", "LENGTH"}};
  for (const ByteRange& c : r.conflicts)
    rows.push_back({absl::StrFormat("    %d", c.offset), absl::StrCat(c.length)});
  return out + FormatTable(rows);
}

struct RebaseArgs {
  std::string volume;
  std::string layers;
  std::string all_on;
  std::string to;
  bool dry_run = false;
};

absl::Status Rebase(CliContext& ctx, const RebaseArgs& args) {
  const bool all = !args.all_on.empty() || !args.to.empty();
  if (all && (args.all_on.empty() || args.to.empty()))
    return absl::InvalidArgumentError("--all-on and --to go together");
  if (all && (!args.volume.empty() || !args.layers.empty()))
    return absl::InvalidArgumentError(
        "give either VOLUME --layers ... or --all-on OLD --to NEW, not both");
  if (!all && (args.volume.empty() || args.layers.empty()))
    return absl::InvalidArgumentError(
        "a rebase needs VOLUME --layers OS[,APP...] or --all-on OLD --to NEW");
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  if (!all) {
    std::vector<std::string> layers = absl::StrSplit(args.layers, ',');
    ASSIGN_OR_RETURN(RebaseReport report,
                     store->RebaseVolume(args.volume, layers, args.dry_run));
    Emit(ctx.json, ToJson(report), RebaseText(report));
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::vector<RebaseReport> reports,
                   store->RebaseAll(args.all_on, args.to, args.dry_run));
  nlohmann::json doc = nlohmann::json::array();
  std::string text;
  for (const RebaseReport& r : reports) {
    doc.push_back(ToJson(r));
    text += RebaseText(r);
  }
  if (reports.empty())
    text = absl::StrFormat("no volume has layer %s in its base", args.all_on);
  Emit(ctx.json, {{"volumes", doc}, {"dry_run", args.dry_run}}, text);
  return absl::OkStatus();
}

std::string NewLayerText(const std::string& verb, const LayerInfo& l) {
  return absl::StrFormat("%s as layer %s (%s, %s of data)", verb, l.name, FormatSize(l.size),
                         FormatSize(l.logical_bytes));
}

absl::Status Merge(CliContext& ctx, const std::string& name,
                   const std::vector<std::string>& layers, const std::string& description) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(LayerInfo merged, store->MergeLayers(name, layers, description));
  Emit(ctx.json, ToJson(merged), NewLayerText("merged " + absl::StrJoin(layers, ","), merged));
  return absl::OkStatus();
}

absl::Status Flatten(CliContext& ctx, const std::string& name, const std::string& from,
                     const std::string& description) {
  std::optional<std::string> snapshot;
  std::string volume = from;
  if (size_t at = from.find('@'); at != std::string::npos) {
    volume = from.substr(0, at);
    snapshot = from.substr(at + 1);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(LayerInfo flat, store->FlattenVolume(name, volume, snapshot, description));
  Emit(ctx.json, ToJson(flat), NewLayerText("flattened " + from, flat));
  return absl::OkStatus();
}

absl::Status Describe(CliContext& ctx, const std::string& name, const std::string& text) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(LayerInfo layer, store->SetLayerDescription(name, text));
  Emit(ctx.json, ToJson(layer),
       absl::StrFormat("layer %s: description %s", layer.name,
                       layer.description.empty() ? "cleared" : "set"));
  return absl::OkStatus();
}

}  // namespace

void RegisterLayerOpsCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* volume = app.get_subcommand("volume");
  CLI::App* layer = app.get_subcommand("layer");

  auto rebase = std::make_shared<RebaseArgs>();
  CLI::App* cmd = volume->add_subcommand(
      "rebase",
      "Swap a volume's base layers and keep its own writes; report where they may conflict");
  cmd->add_option("VOLUME", rebase->volume, "Volume to rebase");
  cmd->add_option("--layers", rebase->layers,
                  "New base layers, lowest first, comma-separated (OS[,APP...])");
  cmd->add_option("--all-on", rebase->all_on,
                  "Rebase every volume whose base holds this layer ...");
  cmd->add_option("--to", rebase->to, "... onto this layer in its place");
  cmd->add_flag("--dry-run", rebase->dry_run, "Only report; change nothing");
  ctx.Bind(cmd, [&ctx, rebase] { return Rebase(ctx, *rebase); });

  auto name = std::make_shared<std::string>();
  auto layers = std::make_shared<std::vector<std::string>>();
  auto description = std::make_shared<std::string>();
  cmd = layer->add_subcommand(
      "merge", "Collapse layers (lowest first) into one new layer, sharing their chunks");
  cmd->add_option("NEW", *name, "Name of the new layer")->required();
  cmd->add_option("LAYERS", *layers, "Layers to merge, lowest first")->required();
  cmd->add_option("--description", *description, "Free text describing the layer");
  ctx.Bind(cmd, [&ctx, name, layers, description] {
    return Merge(ctx, *name, *layers, *description);
  });

  auto from = std::make_shared<std::string>();
  cmd = layer->add_subcommand(
      "flatten", "Make one whole-disk layer reading as a volume or snapshot does now");
  cmd->add_option("NEW", *name, "Name of the new layer")->required();
  cmd->add_option("--from", *from, "VOLUME or VOLUME@SNAPSHOT")->required();
  cmd->add_option("--description", *description, "Free text describing the layer");
  ctx.Bind(cmd, [&ctx, name, from, description] {
    return Flatten(ctx, *name, *from, *description);
  });

  auto text = std::make_shared<std::string>();
  cmd = layer->add_subcommand("describe", "Set (or, with \"\", clear) a layer's description");
  cmd->add_option("NAME", *name, "Layer name")->required();
  cmd->add_option("TEXT", *text, "The description")->required();
  ctx.Bind(cmd, [&ctx, name, text] { return Describe(ctx, *name, *text); });
}

}  // namespace layerdisk
