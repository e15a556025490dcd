// `layerdisk layer ...`: import, list, show, delete, seal.
#include <algorithm>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "tools/cli_context.h"
#include "tools/image_transfer.h"
#include "tools/images/image_chain.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace layerdisk {
namespace {

// "complete", or the progress of a lazy replication.
std::string FetchState(const LayerInfo& l) {
  if (!l.fetching) return "complete";
  return absl::StrFormat("fetching (%d of %d chunks here)", l.fetched_chunks, l.fetch_chunks);
}

// One of an imported layer's hashes as `layer show` prints it, or why it has
// none: `missing` for an imported layer, "not imported" for others.
std::string HashText(const LayerInfo& l, const std::string& hash, const char* missing) {
  if (!hash.empty()) return hash;
  const bool imported = absl::StartsWith(l.source, "import:") || !l.content_digest.empty() ||
                        !l.content_sha256.empty();
  return imported ? missing : "- (not imported)";
}

std::string DescribeLayerText(const LayerInfo& l) {
  return absl::StrFormat(
      "layer %s\n"
      "  id        %d\n"
      "  size      %s (%d bytes)\n"
      "  data      %s\n"
      "  sealed    %s\n"
      "  source    %s\n"
      "  parent    %s\n"
      "  image id  %s\n"
      "  chunks    %s\n"
      "  digest    %s\n"
      "  sha256    %s\n"
      "  base      %s\n"
      "  created   %s\n"
      "  description %s\n",
      l.name, l.id, FormatSize(l.size), l.size, FormatSize(l.logical_bytes),
      l.sealed ? "yes" : "no (sealing)", l.source,
      l.parent.empty() ? "none (a whole disk)" : l.parent,
      l.image_id.empty() ? "-" : l.image_id, FetchState(l),
      HashText(l, l.content_digest, "- (imported before content digests)"),
      HashText(l, l.content_sha256, "- (import with --sha256)"),
      l.base.empty() ? "-" : absl::StrJoin(l.base, ", "), FormatUnixTime(l.created_unix),
      l.description.empty() ? "-" : l.description);
}

absl::Status List(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(std::vector<LayerInfo> layers, store->ListLayers());
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SIZE", "DATA", "PARENT", "CREATED", "SOURCE"}};
  // The CHUNKS column appears only while some layer is still fetching.
  const bool any_fetching = std::any_of(layers.begin(), layers.end(),
                                        [](const LayerInfo& l) { return l.fetching; });
  if (any_fetching) rows[0].push_back("CHUNKS");
  for (const LayerInfo& l : layers) {
    doc.push_back(ToJson(l));
    rows.push_back({l.name, FormatSize(l.size), FormatSize(l.logical_bytes),
                    l.parent.empty() ? "-" : l.parent, FormatUnixTime(l.created_unix),
                    l.source});
    if (any_fetching) rows.back().push_back(FetchState(l));
  }
  // A store sharing a RADOS pool also lists what other stores published:
  // the first volume that names such a layer adopts it.
  ASSIGN_OR_RETURN(std::vector<PoolLayerInfo> pooled, store->ListPoolLayers());
  nlohmann::json pool_doc = nlohmann::json::array();
  for (const PoolLayerInfo& p : pooled) {
    pool_doc.push_back({{"name", p.name}, {"published_by", p.published_by}, {"here", p.here}});
    if (p.here) continue;
    rows.push_back({p.name, "-", "-", "-", "-", "pool:" + p.published_by});
    if (any_fetching) rows.back().push_back("-");
  }
  nlohmann::json out = {{"layers", doc}};
  if (!pooled.empty()) out["pool_layers"] = pool_doc;
  Emit(ctx.json, out, rows.size() == 1 ? "no layers" : FormatTable(rows));
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
  // The map goes in the background; a command that exits first would leave
  // it to the next one, whose stats would not count the layer's chunks as
  // unreferenced yet.
  RETURN_IF_ERROR(store->WaitForBackgroundWork());
  Emit(ctx.json, {{"deleted", name}},
       absl::StrFormat("deleted layer %s (run `layerdisk gc` to reclaim its chunks)",
                       name));
  return absl::OkStatus();
}

absl::Status Seal(CliContext& ctx, const std::string& volume,
                  const std::string& layer, const std::string& description) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(LayerInfo sealed, store->SealVolume(volume, layer, description));
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
  CLI::App* cmd = group->add_subcommand(
      "import", "Import a disk image (raw, VHD, VHDX, qcow2, VMDK) as a sealed layer");
  cmd->add_option("NAME", import->name, "Name of the new layer")->required();
  cmd->add_option("FILE", import->file,
                  "Image file or block device; - reads a raw image from standard input")
      ->required();
  cmd->add_option("--format", import->format,
                  "Image format: " + absl::StrJoin(ImportFormats(), ", ") + " (auto: by magic)")
      ->capture_default_str();
  cmd->add_option("--parent", import->parent,
                  "For a differencing VHD/VHDX or qcow2 overlay: the layer of its parent "
                  "(default: import the parent chain too)");
  cmd->add_option("--description", import->description, "Free text describing the layer");
  cmd->add_flag("--sha256", import->sha256,
                "Also record the SHA-256 of the image's bytes (sha256sum of its raw form): "
                "hashes every byte, holes included, at ~2 GB/s of virtual size");
  ctx.Bind(cmd, [&ctx, import] { return ImportImageFile(ctx, *import); });

  auto digest = std::make_shared<DigestArgs>();
  cmd = group->add_subcommand(
      "digest", "Print the content digest an import of an image records, storing nothing");
  cmd->add_option("FILE", digest->file, "Image file or block device")->required();
  cmd->add_option("--format", digest->format,
                  "Image format: " + absl::StrJoin(ImportFormats(), ", ") + " (auto: by magic)")
      ->capture_default_str();
  cmd->add_option("--block-size", digest->block_size,
                  "The chunk size of the store to compare with (layerdisk stats)")
      ->capture_default_str();
  cmd->add_flag("--sha256", digest->sha256, "Also print the SHA-256 of the image's bytes");
  ctx.Bind(cmd, [&ctx, digest] { return DigestImageFile(ctx, *digest); });

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
  auto description = std::make_shared<std::string>();
  cmd->add_option("--description", *description, "Free text describing the layer");
  ctx.Bind(cmd, [&ctx, volume, name, description] {
    return Seal(ctx, *volume, *name, *description);
  });
}

}  // namespace layerdisk
