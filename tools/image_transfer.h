// Moving disk images in and out of a store: `layer import` of any supported
// format (with differencing and backing chains as layer stacks) and
// `export --format`.
#ifndef LAYERDISK_TOOLS_IMAGE_TRANSFER_H_
#define LAYERDISK_TOOLS_IMAGE_TRANSFER_H_

#include <string>

#include "absl/status/status.h"
#include "tools/cli_context.h"

namespace layerdisk {

struct ImportArgs {
  std::string name;
  std::string file;
  std::string format = "auto";
  std::string parent;  // the layer a differencing image goes on; empty: import its chain
  std::string description;  // the new layer's (not its imported ancestors')
  bool sha256 = false;      // ImportOptions::sha256, for every layer made
};

// Imports args.file as layer args.name. A differencing image (VHD/VHDX
// child, qcow2 overlay) becomes a delta layer over --parent, or over layers
// made from its chain first (an ancestor already imported with the same
// VHD/VHDX identifier is reused). On failure every layer this call made is
// deleted again.
absl::Status ImportImageFile(CliContext& ctx, const ImportArgs& args);

struct DigestArgs {
  std::string file;
  std::string format = "auto";
  std::string block_size = "4K";  // the store's chunk size
  bool sha256 = false;
};
// Prints the content digest (and with args.sha256 the SHA-256) that
// importing args.file records, storing nothing.
absl::Status DigestImageFile(CliContext& ctx, const DigestArgs& args);

// The formats `export --format` writes, raw first.
const std::vector<std::string>& ExportFormats();
// The FILE that stands for standard output (export) or input (volume write).
inline constexpr char kStandardStream[] = "-";
// Writes `device` to `file` as `format`: raw natively and sparse; others by
// `qemu-img convert` from a sparse raw file beside `file`, removed after.
// Nothing is left at `file` on failure. `file` kStandardStream streams raw
// bytes to standard output (not a terminal).
absl::Status ExportImageFile(BlockDevice& device, const std::string& file,
                             const std::string& format, const ProgressFn& progress);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGE_TRANSFER_H_
