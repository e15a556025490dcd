// `layerdisk layer import`: an image, or a differencing/backing chain of
// images, into layers; or a raw image piped into standard input.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/byte_stream.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/image_digest.h"
#include "engine/raw_image.h"
#include "tools/image_transfer.h"
#include "tools/images/image_chain.h"
#include "tools/output.h"
#include "tools/progress.h"

namespace layerdisk {
namespace {

struct Imported {
  ImportResult result;
  std::string format;
  bool reused = false;  // an existing layer stood for this link
};

// Layers made by one import command, deleted again unless it succeeds.
class ImportTransaction {
 public:
  explicit ImportTransaction(Store& store) : store_(store) {}
  ~ImportTransaction() {
    if (committed_) return;
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) (void)store_.DeleteLayer(*it);
  }
  void Made(const std::string& layer) { made_.push_back(layer); }
  void Commit() { committed_ = true; }

 private:
  Store& store_;
  std::vector<std::string> made_;
  bool committed_ = false;
};

absl::StatusOr<Imported> ImportLink(Store& store, const ImageLink& link, const std::string& name,
                                    const std::string& parent, bool sha256,
                                    const std::string& description = "") {
  ASSIGN_OR_RETURN(std::unique_ptr<BlockDevice> image, link.open());
  ImportOptions options{link.path, link.differencing ? parent : std::string(), link.identifier,
                        description, sha256};
  Imported out;
  out.format = link.format;
  ProgressBar bar("import " + name);
  ASSIGN_OR_RETURN(out.result, store.ImportImage(name, *image, options, bar.Callback()));
  return out;
}

// The layer already holding the image with VHD/VHDX identifier `id`.
absl::StatusOr<std::optional<LayerInfo>> LayerWithImageId(Store& store, const std::string& id) {
  if (id.empty()) return std::nullopt;
  ASSIGN_OR_RETURN(std::vector<LayerInfo> layers, store.ListLayers());
  for (const LayerInfo& l : layers)
    if (l.image_id == id) return l;
  return std::nullopt;
}

// A named parent must be the image the child names, when the format says.
absl::Status CheckParentLayer(Store& store, const ImageLink& child, const std::string& parent) {
  ASSIGN_OR_RETURN(LayerInfo layer, store.GetLayer(parent));
  if (child.parent_identifier.empty()) return absl::OkStatus();  // qcow2, VMDK: no identity
  if (layer.image_id.empty())
    return absl::FailedPreconditionError(absl::StrFormat(
        "layer '%s' records no VHD/VHDX identifier, so it cannot be checked as the parent "
        "(%s) of %s", parent, child.parent_identifier, child.path));
  if (layer.image_id != child.parent_identifier)
    return absl::InvalidArgumentError(absl::StrFormat(
        "parent mismatch: %s names parent %s, but layer '%s' is image %s", child.path,
        child.parent_identifier, parent, layer.image_id));
  return absl::OkStatus();
}

// Standard input as an import reads it: its first sector read ahead, so
// that an image file piped in by mistake is told by its magic before
// anything is stored, and its last kept (a fixed VHD's footer).
class SniffedInput final : public ByteStream {
 public:
  SniffedInput() : input_(NewFdStream(STDIN_FILENO, kInputName)) {}

  static constexpr char kInputName[] = "standard input";
  static constexpr size_t kSector = 512;

  absl::Status ReadHead() {
    head_.resize(kSector);
    ASSIGN_OR_RETURN(size_t n, input_->Read(absl::MakeSpan(head_)));
    head_.resize(n);
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(absl::Span<char> out) override {
    // The head first, then the rest; short only where the input ends.
    size_t n = std::min(out.size(), head_.size() - replayed_);
    std::memcpy(out.data(), head_.data() + replayed_, n);
    replayed_ += n;
    if (n < out.size() && replayed_ == kSector) {
      ASSIGN_OR_RETURN(size_t more, input_->Read(out.subspan(n)));
      n += more;
    }
    std::string_view got(out.data(), n);
    tail_.append(got.substr(n - std::min(n, kSector)));
    if (tail_.size() > kSector) tail_.erase(0, tail_.size() - kSector);
    return n;
  }

  // With --format auto, an image file piped in is refused rather than
  // stored as a disk of its tables and blocks.
  absl::Status CheckRaw(const std::string& format) const {
    const std::string found = FormatByMagic(head_, tail_);
    if (format != "auto" || found == "raw") return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrFormat(
        "standard input holds a %s image, not a raw disk; import it from a file (or pass "
        "--format raw to store its bytes as they are)", found));
  }

 private:
  std::unique_ptr<ByteStream> input_;
  std::string head_, tail_;
  size_t replayed_ = 0;  // bytes of head_ handed out
};

// `layer import NAME -`: a raw disk piped in (e.g. from zstdcat), read once
// to its end. Other formats need a file: their tables point backwards and
// forwards.
absl::StatusOr<Imported> ImportStandardInput(CliContext& ctx, const ImportArgs& args) {
  if (args.format != "auto" && args.format != "raw")
    return absl::InvalidArgumentError(absl::StrFormat(
        "only raw images can be read from standard input; give a file name for %s",
        args.format));
  if (!args.parent.empty())
    return absl::InvalidArgumentError(
        "standard input imports as a whole disk; --parent applies only to differencing "
        "images and overlays");
  if (::isatty(STDIN_FILENO))
    return absl::InvalidArgumentError(
        "standard input is a terminal; pipe or redirect a raw disk image into it");
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  SniffedInput input;
  RETURN_IF_ERROR(input.ReadHead());
  RETURN_IF_ERROR(input.CheckRaw(args.format));
  ImportTransaction transaction(*store);
  ImportOptions options{SniffedInput::kInputName, "", "", args.description, args.sha256};
  Imported out;
  out.format = "raw";
  {
    ProgressBar bar("import " + args.name);
    ASSIGN_OR_RETURN(out.result, store->ImportStream(args.name, input, options, bar.Callback()));
  }  // the bar is erased before the report
  transaction.Made(args.name);
  // A fixed VHD shows itself only by its last sector: its layer goes again.
  RETURN_IF_ERROR(input.CheckRaw(args.format));
  transaction.Commit();
  return out;
}

// Prints what an import made: each layer of the stack, bottom first.
void ReportImports(CliContext& ctx, const std::vector<Imported>& imported) {
  uint64_t bytes_read = 0, new_chunks = 0, new_bytes = 0;
  double seconds = 0;
  nlohmann::json stack = nlohmann::json::array();
  std::vector<std::string> names;
  std::string text;
  for (const Imported& i : imported) {
    const ImportResult& r = i.result;
    bytes_read += r.bytes_read;
    new_chunks += r.new_chunks;
    new_bytes += r.new_stored_bytes;
    seconds += r.seconds;
    names.push_back(r.layer.name);
    nlohmann::json layer = ToJson(r.layer);
    layer["reused"] = i.reused;
    stack.push_back(layer);
    if (i.reused) {
      text += absl::StrFormat("reused layer %s (already holds %s)\n", r.layer.name, r.layer.source);
    } else {
      text += absl::StrFormat(
          "imported layer %s from %s (%s %s, %s)\n"
          "  read %s of data in %.2f s: %s; %d new chunks, %s newly stored\n"
          "  digest %s\n",
          r.layer.name, r.layer.source.substr(std::string("import:").size()), i.format,
          r.layer.parent.empty() ? "whole disk" : "delta over " + r.layer.parent,
          FormatSize(r.layer.size), FormatSize(r.bytes_read), r.seconds,
          FormatRate(r.bytes_read, r.seconds), r.new_chunks, FormatSize(r.new_stored_bytes),
          r.layer.content_digest);
      if (!r.layer.content_sha256.empty())
        text += absl::StrFormat("  sha256 %s\n", r.layer.content_sha256);
    }
  }
  if (names.size() > 1)
    text += absl::StrFormat("compose it with: layerdisk volume create VOLUME --layers %s\n",
                            absl::StrJoin(names, ","));
  const ImportResult& r = imported.back().result;
  nlohmann::json doc = {{"layer", ToJson(r.layer)},
                        {"format", imported.back().format},
                        {"stack", stack},
                        {"bytes_read", bytes_read},
                        {"new_chunks", new_chunks},
                        {"new_stored_bytes", new_bytes},
                        {"seconds", seconds},
                        {"mb_per_s", MegabytesPerSecond(bytes_read, seconds)}};
  Emit(ctx.json, doc, text);
}

}  // namespace

absl::Status ImportImageFile(CliContext& ctx, const ImportArgs& args) {
  RETURN_IF_ERROR(ValidateName("layer", args.name));
  RETURN_IF_ERROR(ValidateDescription(args.description));
  if (args.file == kStandardStream) {
    ASSIGN_OR_RETURN(Imported one, ImportStandardInput(ctx, args));
    ReportImports(ctx, {one});
    return absl::OkStatus();
  }
  // Read the image (and its chain) before touching the store: a typo or a
  // broken image costs nothing.
  ASSIGN_OR_RETURN(std::vector<ImageLink> chain, OpenImageChain(args.file, args.format));
  for (const ImageLink& link : chain)
    if (link.size > kMaxVolumeSize)
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: its virtual size %d is larger than the largest supported (8 TiB)", link.path,
          link.size));
  const ImageLink& top = chain.back();
  if (!args.parent.empty() && !top.differencing)
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is not a differencing image or overlay; --parent applies only to those", args.file));
  ASSIGN_OR_RETURN(std::unique_ptr<Store> store, ctx.OpenStore());
  ImportTransaction transaction(*store);
  std::vector<Imported> imported;
  std::string below;  // the layer the next link goes on
  if (!args.parent.empty()) {
    RETURN_IF_ERROR(CheckParentLayer(*store, top, args.parent));
    below = args.parent;
  } else {
    // Ancestors first, nearest parent named NAME.1, its parent NAME.2, ...
    for (size_t i = 0; i + 1 < chain.size(); ++i) {
      const ImageLink& link = chain[i];
      ASSIGN_OR_RETURN(std::optional<LayerInfo> existing, LayerWithImageId(*store, link.identifier));
      if (existing) {
        Imported reuse;
        reuse.result.layer = *existing;
        reuse.format = link.format;
        reuse.reused = true;
        imported.push_back(reuse);
        below = existing->name;
        continue;
      }
      std::string name = absl::StrFormat("%s.%d", args.name, chain.size() - 1 - i);
      ASSIGN_OR_RETURN(Imported one, ImportLink(*store, link, name, below, args.sha256));
      transaction.Made(name);
      imported.push_back(one);
      below = name;
    }
  }
  ASSIGN_OR_RETURN(Imported last, ImportLink(*store, top, args.name, below, args.sha256, args.description));
  transaction.Made(args.name);
  imported.push_back(last);
  transaction.Commit();

  ReportImports(ctx, imported);
  return absl::OkStatus();
}

absl::Status DigestImageFile(CliContext& ctx, const DigestArgs& args) {
  ASSIGN_OR_RETURN(uint64_t parsed, ParseSize(args.block_size));
  const uint32_t block_size = static_cast<uint32_t>(std::min<uint64_t>(parsed, UINT32_MAX));
  RETURN_IF_ERROR(CheckChunkSize(block_size));
  // The digest starts with the image's size, which a stream tells only at
  // its end; an import of it finds the digest from the layer's map instead.
  if (args.file == kStandardStream)
    return absl::InvalidArgumentError(
        "layer digest needs a file: a stream's size, which the digest starts with, is known "
        "only at its end (layer import NAME - records the stream's digest)");
  ASSIGN_OR_RETURN(std::vector<ImageLink> chain, OpenImageChain(args.file, args.format));
  const ImageLink& top = chain.back();
  ASSIGN_OR_RETURN(std::unique_ptr<BlockDevice> image, top.open());
  ProgressBar bar("digest " + args.file);
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(ImageDigest digest,
                   DigestImage(*image, block_size, top.differencing, args.sha256));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json doc = {{"file", args.file},
                        {"format", top.format},
                        {"delta", top.differencing},
                        {"content_digest", digest.content_digest},
                        {"content_sha256", digest.content_sha256},
                        {"bytes_read", digest.bytes_read},
                        {"seconds", seconds}};
  std::string text = absl::StrFormat("%s  %s%s\n", digest.content_digest, args.file,
                                     top.differencing ? " (its own blocks only)" : "");
  if (args.sha256) text += absl::StrFormat("sha256:%s  %s\n", digest.content_sha256, args.file);
  Emit(ctx.json, doc, text);
  return absl::OkStatus();
}

}  // namespace layerdisk
