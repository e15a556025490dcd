// `layerdisk volume ...` (create, list, show, delete, clone, write) and
// `layerdisk export`, which reads any volume, snapshot or layer out.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/all_zero.h"
#include "common/env.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/device_names.h"
#include "tools/cli_context.h"
#include "tools/compare_commands.h"
#include "tools/image_transfer.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace layerdisk {
namespace {

// Pieces `volume write` reads and writes; whole chunks for any chunk size.
constexpr size_t kWritePiece = 4u << 20;

std::string DescribeVolumeText(const VolumeInfo& v) {
  return absl::StrFormat(
      "volume %s\n"
      "  size       %s (%d bytes)\n"
      "  layers     %s\n"
      "  depth      %d (layers plus the writable head)\n"
      "  written    %s since the last snapshot\n"
      "  snapshots  %d\n"
      "  created    %s\n",
      v.name, FormatSize(v.size), v.size,
      v.layers.empty() ? "(none)" : absl::StrJoin(v.layers, ", "), v.depth,
      FormatSize(v.head_bytes), v.snapshots, FormatUnixTime(v.created_unix));
}

// Whether a volume already stands on exactly `layers` (same layers, same order).
absl::StatusOr<bool> StackInUse(Store& store, const std::vector<std::string>& layers) {
  if (layers.size() < 2) return false;  // nothing to conflict
  ASSIGN_OR_RETURN(std::vector<VolumeInfo> volumes, store.ListVolumes());
  for (const VolumeInfo& v : volumes)
    if (v.layers == layers) return true;
  return false;
}

struct CreateArgs {
  std::string name;
  std::string layers;
  std::string size;
};

absl::Status Create(CliContext& ctx, const CreateArgs& args) {
  std::vector<std::string> layers;
  if (!args.layers.empty()) layers = absl::StrSplit(args.layers, ',');
  std::optional<uint64_t> size;
  if (!args.size.empty()) {
    ASSIGN_OR_RETURN(size, ParseSize(args.size));
  }
  if (layers.empty() && !size)
    return absl::InvalidArgumentError(
        "a volume needs --layers, --size, or both");
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  // Checked before this volume joins them: a desktop pool is hundreds of
  // creates of one stack, and its conflicts were reported at the first.
  absl::StatusOr<bool> stack_in_use = StackInUse(*store, layers);
  ASSIGN_OR_RETURN(VolumeInfo v, store->CreateVolume(args.name, layers, size));
  // The volume exists now; layers overriding each other are worth a warning,
  // and failing to check is no reason to report the creation as failed.
  std::vector<std::string> warnings;
  if (!stack_in_use.ok() || !*stack_in_use) {
    absl::StatusOr<std::vector<std::string>> checked = StackWarnings(*store, layers);
    if (checked.ok())
      warnings = *std::move(checked);
    else
      warnings.push_back("could not check the stack for conflicting layers: " +
                         std::string(checked.status().message()));
  }
  for (const std::string& w : warnings)
    std::fprintf(stderr, "layerdisk: warning: %s\n", w.c_str());
  nlohmann::json doc = ToJson(v);
  doc["warnings"] = warnings;
  Emit(ctx.json, doc,
       absl::StrFormat("created volume %s (%s) on %s", v.name, FormatSize(v.size),
                       layers.empty() ? "no layers" : absl::StrJoin(layers, ",")));
  return absl::OkStatus();
}

absl::Status List(CliContext& ctx) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(std::vector<VolumeInfo> volumes, store->ListVolumes());
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "SIZE", "LAYERS", "WRITTEN", "SNAPSHOTS", "CREATED"}};
  for (const VolumeInfo& v : volumes) {
    doc.push_back(ToJson(v));
    rows.push_back({v.name, FormatSize(v.size), absl::StrJoin(v.layers, ","),
                    FormatSize(v.head_bytes), absl::StrCat(v.snapshots),
                    FormatUnixTime(v.created_unix)});
  }
  Emit(ctx.json, {{"volumes", doc}},
       volumes.empty() ? "no volumes" : FormatTable(rows));
  return absl::OkStatus();
}

absl::Status Show(CliContext& ctx, const std::string& name) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(VolumeInfo v, store->GetVolume(name));
  Emit(ctx.json, ToJson(v), DescribeVolumeText(v));
  return absl::OkStatus();
}

absl::Status Delete(CliContext& ctx, const std::string& name, bool force) {
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  RETURN_IF_ERROR(store->DeleteVolume(name, force));
  Emit(ctx.json, {{"deleted", name}},
       absl::StrFormat("deleted volume %s and its snapshots", name));
  return absl::OkStatus();
}

absl::Status Clone(CliContext& ctx, const std::string& source,
                   const std::string& target) {
  std::optional<std::string> snapshot;
  std::string volume = source;
  if (size_t at = source.find('@'); at != std::string::npos) {
    volume = source.substr(0, at);
    snapshot = source.substr(at + 1);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(VolumeInfo v, store->CloneVolume(volume, snapshot, target));
  Emit(ctx.json, ToJson(v),
       absl::StrFormat("cloned %s as volume %s (%s)", source, v.name,
                       FormatSize(v.size)));
  return absl::OkStatus();
}

// Streams `fd` into `volume` from `offset`; returns the bytes written.
absl::StatusOr<uint64_t> CopyIntoVolume(int fd, const std::string& file,
                                        BlockDevice& volume, uint64_t offset,
                                        uint64_t total, ProgressBar& bar) {
  std::string buf(kWritePiece, '\0');
  uint64_t written = 0;
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return IOError("read", file, errno);
    }
    if (n == 0) return written;
    std::string_view piece(buf.data(), static_cast<size_t>(n));
    // Zeroes become a zero marker, not stored bytes: the volume stays thin.
    if (AllZero(piece)) {
      RETURN_IF_ERROR(volume.WriteZeroes(offset + written, piece.size(), false));
    } else {
      RETURN_IF_ERROR(volume.Write(offset + written, piece, false));
    }
    written += piece.size();
    bar.Update(written, std::max(total, written));
  }
}

struct WriteArgs {
  std::string volume;
  std::string file;
  std::string offset = "0";
};

absl::Status Write(CliContext& ctx, const WriteArgs& args) {
  ASSIGN_OR_RETURN(uint64_t offset, ParseSize(args.offset));
  const bool from_stdin = args.file == kStandardStream;
  // What messages call the source.
  const std::string source = from_stdin ? "standard input" : args.file;
  int fd = from_stdin ? ::dup(STDIN_FILENO) : ::open(args.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IOError("open", source, errno);
  // Closes the file on every return path.
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  struct stat st;
  if (::fstat(fd, &st) != 0) return IOError("stat", source, errno);
  // A pipe or device has no size to check up front; the volume's range
  // check still stops it at the end.
  const uint64_t total = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;

  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> volume, store->OpenVolume(args.volume));
  if (offset > volume->size() || total > volume->size() - offset)
    return absl::OutOfRangeError(absl::StrFormat(
        "%s (%d bytes) at offset %d does not fit in volume %s (%d bytes)",
        source, total, offset, args.volume, volume->size()));

  uint64_t written = 0;
  double seconds = 0;
  {
    ProgressBar bar("write " + args.volume);
    ASSIGN_OR_RETURN(written, CopyIntoVolume(fd, source, *volume, offset, total, bar));
    RETURN_IF_ERROR(volume->Flush());
    seconds = bar.Elapsed();
  }  // the bar is erased before the result is printed
  Emit(ctx.json,
       {{"volume", args.volume},
        {"offset", offset},
        {"bytes", written},
        {"seconds", seconds},
        {"mb_per_s", MegabytesPerSecond(written, seconds)}},
       absl::StrFormat("wrote %s from %s to volume %s at offset %d in %.2f s (%s), "
                       "flushed",
                       FormatSize(written), source, args.volume, offset, seconds,
                       FormatRate(written, seconds)));
  return absl::OkStatus();
}

absl::Status Export(CliContext& ctx, const std::string& device_name,
                    const std::string& file, const std::string& format) {
  // An export reads each block once: a cache of decompressed chunks would
  // only add a copy, an allocation and an eviction to every read (exports
  // took ~1.5x as long with one). A running server reads with its own.
  StoreOptions options;
  options.chunk_cache_bytes = 0;
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore(options));
  ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> device,
                   OpenNamedDevice(*store, device_name));
  double seconds = 0;
  {
    ProgressBar bar("export " + device_name);
    RETURN_IF_ERROR(ExportImageFile(*device, file, format, bar.Callback()));
    seconds = bar.Elapsed();
  }
  const bool streamed = file == kStandardStream;
  Emit(ctx.json,
       {{"device", device_name},
        {"file", file},
        {"format", format},
        {"size", device->size()},
        {"seconds", seconds},
        {"mb_per_s", MegabytesPerSecond(device->size(), seconds)}},
       absl::StrFormat("exported %s (%s) to %s as a %s image in %.2f s (%s)", device_name,
                       FormatSize(device->size()), streamed ? "standard output" : file,
                       streamed ? "raw" : format == "raw" ? "sparse raw" : format, seconds,
                       FormatRate(device->size(), seconds)),
       streamed ? std::cerr : std::cout);
  return absl::OkStatus();
}

}  // namespace

void RegisterVolumeCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("volume", "Create, inspect and write volumes");
  group->require_subcommand(1);

  auto create = std::make_shared<CreateArgs>();
  CLI::App* cmd = group->add_subcommand("create", "Compose a volume over layers");
  cmd->add_option("NAME", create->name, "Name of the new volume")->required();
  cmd->add_option("--layers", create->layers,
                  "Base layers, lowest first, comma-separated (OS[,APP...])");
  cmd->add_option("--size", create->size,
                  "Virtual size (default: the largest layer's), e.g. 20G");
  ctx.Bind(cmd, [&ctx, create] { return Create(ctx, *create); });

  ctx.Bind(group->add_subcommand("list", "List volumes"), [&ctx] { return List(ctx); });

  auto name = std::make_shared<std::string>();
  cmd = group->add_subcommand("show", "Show one volume");
  cmd->add_option("NAME", *name, "Volume name")->required();
  ctx.Bind(cmd, [&ctx, name] { return Show(ctx, *name); });

  auto force = std::make_shared<bool>(false);
  cmd = group->add_subcommand("delete", "Delete a volume and its snapshots");
  cmd->add_option("NAME", *name, "Volume name")->required();
  cmd->add_flag("--force", *force, "Delete even while the volume is in use");
  ctx.Bind(cmd, [&ctx, name, force] { return Delete(ctx, *name, *force); });

  auto source = std::make_shared<std::string>();
  cmd = group->add_subcommand("clone", "Make a new volume sharing every block of another");
  cmd->add_option("SRC", *source, "VOLUME or VOLUME@SNAPSHOT")->required();
  cmd->add_option("NEW", *name, "Name of the new volume")->required();
  ctx.Bind(cmd, [&ctx, source, name] { return Clone(ctx, *source, *name); });

  auto write = std::make_shared<WriteArgs>();
  cmd = group->add_subcommand("write", "Write a file's bytes into a volume, then flush");
  cmd->add_option("VOLUME", write->volume, "Volume name")->required();
  cmd->add_option("FILE", write->file, "File to copy in; - reads standard input")->required();
  cmd->add_option("--offset", write->offset, "Byte offset in the volume, e.g. 1M")
      ->capture_default_str();
  ctx.Bind(cmd, [&ctx, write] { return Write(ctx, *write); });

  auto file = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("raw");
  cmd = app.add_subcommand("export", "Write a volume, snapshot or layer as a disk image");
  cmd->add_option("DEVICE", *source, "VOLUME, VOLUME@SNAPSHOT or layer:NAME")->required();
  cmd->add_option("FILE", *file, "Image file to write; - streams raw to standard output")
      ->required();
  cmd->add_option("--format", *format,
                  "Image format: " + absl::StrJoin(ExportFormats(), ", ") +
                      " (raw is sparse; the others are made by qemu-img convert)")
      ->capture_default_str();
  ctx.Bind(cmd, [&ctx, source, file, format] { return Export(ctx, *source, *file, *format); });
}

}  // namespace layerdisk
