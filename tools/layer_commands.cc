// `layerdisk layer ...`: import, list, show, delete, seal.
#include <filesystem>
#include <memory>

#include "absl/strings/str_format.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/raw_image.h"
#include "tools/cli_context.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace layerdisk {
namespace {

std::string DescribeLayerText(const LayerInfo& l) {
  return absl::StrFormat(
      "layer %s\n"
      "  id        %d\n"
      "  size      %s (%d bytes)\n"
      "  data      %s\n"
      "  sealed    %s\n"
      "  source    %s\n"
      "  created   %s\n",
      l.name, l.id, FormatSize(l.size), l.size, FormatSize(l.logical_bytes),
      l.sealed ? "yes" : "no (sealing)", l.source, FormatUnixTime(l.created_unix));
}

struct ImportArgs {
  std::string name;
  std::string file;
  std::string format = "auto";
};

absl::Status Import(CliContext& ctx, const ImportArgs& args) {
  // Check the image before touching the store: a typo costs nothing.
  std::string format = args.format;
  if (format == "auto") {
    ASSIGN_OR_RETURN(format, DetectImageFormat(args.file));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<BlockDevice> image, OpenImage(args.file, format));
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  absl::StatusOr<ImportResult> imported;
  {
    ProgressBar bar("import " + args.name);
    // The layer records where it came from; a relative path would not say.
    std::error_code ec;
    std::string origin = std::filesystem::absolute(args.file, ec).string();
    if (ec) origin = args.file;
    imported = store->ImportLayer(args.name, *image, origin, bar.Callback());
  }
  if (!imported.ok()) return imported.status();
  const ImportResult& r = *imported;
  const double rate = MegabytesPerSecond(r.bytes_read, r.seconds);
  nlohmann::json doc = {{"layer", ToJson(r.layer)},
                        {"format", format},
                        {"bytes_read", r.bytes_read},
                        {"new_chunks", r.new_chunks},
                        {"new_stored_bytes", r.new_stored_bytes},
                        {"seconds", r.seconds},
                        {"mb_per_s", rate}};
  Emit(ctx.json, doc,
       absl::StrFormat(
           "imported layer %s from %s (%s image, %s)\n"
           "  read %s of data in %.2f s: %s\n"
           "  %d new chunks, %s newly stored\n",
           r.layer.name, args.file, format, FormatSize(r.layer.size),
           FormatSize(r.bytes_read), r.seconds, FormatRate(r.bytes_read, r.seconds),
           r.new_chunks, FormatSize(r.new_stored_bytes)));
  return absl::OkStatus();
}

absl::Status List(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(std::vector<LayerInfo> layers, store->ListLayers());
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SIZE", "DATA", "CREATED", "SOURCE"}};
  for (const LayerInfo& l : layers) {
    doc.push_back(ToJson(l));
    rows.push_back({l.name, FormatSize(l.size), FormatSize(l.logical_bytes),
                    FormatUnixTime(l.created_unix), l.source});
  }
  Emit(ctx.json, {{"layers", doc}},
       layers.empty() ? "no layers" : FormatTable(rows));
  return absl::OkStatus();
}

absl::Status Show(CliContext& ctx, const std::string& name) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(LayerInfo layer, store->GetLayer(name));
  Emit(ctx.json, ToJson(layer), DescribeLayerText(layer));
  return absl::OkStatus();
}

absl::Status Delete(CliContext& ctx, const std::string& name) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  RETURN_IF_ERROR(store->DeleteLayer(name));
  Emit(ctx.json, {{"deleted", name}},
       absl::StrFormat("deleted layer %s (run `layerdisk gc` to reclaim its chunks)",
                       name));
  return absl::OkStatus();
}

absl::Status Seal(CliContext& ctx, const std::string& volume,
                  const std::string& layer) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(LayerInfo sealed, store->SealVolume(volume, layer));
  Emit(ctx.json, ToJson(sealed),
       absl::StrFormat("sealed what volume %s holds above its base layers as "
                       "layer %s (%s of data)",
                       volume, sealed.name, FormatSize(sealed.logical_bytes)));
  return absl::OkStatus();
}

}  // namespace

void RegisterLayerCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("layer", "Import, inspect and delete layers");
  group->require_subcommand(1);

  auto import = std::make_shared<ImportArgs>();
  CLI::App* cmd = group->add_subcommand("import", "Import a disk image as a sealed layer");
  cmd->add_option("NAME", import->name, "Name of the new layer")->required();
  cmd->add_option("FILE", import->file, "Image file or block device")->required();
  cmd->add_option("--format", import->format, "Image format: auto or raw")
      ->capture_default_str();
  ctx.Bind(cmd, [&ctx, import] { return Import(ctx, *import); });

  ctx.Bind(group->add_subcommand("list", "List layers"), [&ctx] { return List(ctx); });

  auto name = std::make_shared<std::string>();
  cmd = group->add_subcommand("show", "Show one layer");
  cmd->add_option("NAME", *name, "Layer name")->required();
  ctx.Bind(cmd, [&ctx, name] { return Show(ctx, *name); });

  cmd = group->add_subcommand("delete", "Delete a layer no volume or snapshot uses");
  cmd->add_option("NAME", *name, "Layer name")->required();
  ctx.Bind(cmd, [&ctx, name] { return Delete(ctx, *name); });

  auto volume = std::make_shared<std::string>();
  cmd = group->add_subcommand(
      "seal", "Seal what a volume holds above its base layers as a new layer");
  cmd->add_option("VOLUME", *volume, "Volume to seal")->required();
  cmd->add_option("NEWLAYER", *name, "Name of the new layer")->required();
  ctx.Bind(cmd, [&ctx, volume, name] { return Seal(ctx, *volume, *name); });
}

}  // namespace layerdisk
