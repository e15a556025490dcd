// `layerdisk export --format`: raw natively; VHD, VHDX, qcow2 and VMDK by
// qemu-img convert from a sparse raw file, so qemu-img writes formats it
// knows best and we write only raw.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <filesystem>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/env.h"
#include "common/status_macros.h"
#include "engine/export_raw.h"
#include "tools/image_transfer.h"
#include "tools/images/subprocess.h"

namespace layerdisk {
namespace {

struct ExportFormat {
  const char* name;
  const char* qemu_format;  // null: raw, written natively
  const char* options;      // qemu-img create options
};

// VHD: force_size keeps the exact size instead of rounding to a CHS
// geometry; dynamic subformats keep unallocated ranges out of the file.
constexpr ExportFormat kExportFormats[] = {
    {"raw", nullptr, nullptr},
    {"vhd", "vpc", "subformat=dynamic,force_size=on"},
    {"vhdx", "vhdx", "subformat=dynamic"},
    {"qcow2", "qcow2", nullptr},
    {"vmdk", "vmdk", nullptr},
};

// Removes a path when it goes out of scope unless released.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(std::string path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove(path_, ec);
  }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

}  // namespace

const std::vector<std::string>& ExportFormats() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const ExportFormat& f : kExportFormats) out.push_back(f.name);
    return out;
  }();
  return names;
}

absl::Status ExportImageFile(BlockDevice& device, const std::string& file,
                             const std::string& format, const ProgressFn& progress) {
  const ExportFormat* chosen = nullptr;
  for (const ExportFormat& f : kExportFormats)
    if (format == f.name) chosen = &f;
  if (chosen == nullptr)
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown export format '%s' (expected %s)", format, absl::StrJoin(ExportFormats(), ", ")));
  if (file == kStandardStream) {
    // qemu-img writes its formats into files it can seek in; a stream is raw.
    if (chosen->qemu_format != nullptr)
      return absl::InvalidArgumentError(absl::StrFormat(
          "only raw can be written to standard output; give a file name for %s", format));
    if (::isatty(STDOUT_FILENO))
      return absl::InvalidArgumentError(
          "standard output is a terminal; redirect it or pipe it to write a disk image");
    // A reader that goes away is a write error to report, not a silent death.
    ::signal(SIGPIPE, SIG_IGN);
    return ExportRawStream(device, STDOUT_FILENO, "standard output", progress);
  }
  if (chosen->qemu_format == nullptr) return ExportRaw(device, file, progress);
  // Both temporaries sit beside `file`: same file system, so the final
  // rename is atomic, and the sparse raw costs only the data.
  // Absolute, so that no name reaches qemu-img looking like an option.
  std::error_code ec;
  const std::string target = std::filesystem::absolute(file, ec).string();
  if (ec) return absl::InvalidArgumentError(absl::StrFormat("bad output path %s", file));
  const std::string stem = absl::StrFormat("%s.layerdisk-%d", target, ::getpid());
  const std::string raw = stem + ".raw", converted = stem + "." + format;
  RemoveOnExit remove_raw(raw), remove_converted(converted);
  RETURN_IF_ERROR(ExportRaw(device, raw, progress));
  std::vector<std::string> argv = {"qemu-img", "convert", "-q", "-f", "raw", "-O",
                                   chosen->qemu_format};
  if (chosen->options != nullptr) {
    argv.push_back("-o");
    argv.push_back(chosen->options);
  }
  argv.push_back(raw);
  argv.push_back(converted);
  absl::StatusOr<std::string> ran = RunCapture(argv);
  if (!ran.ok())
    return absl::InternalError(absl::StrFormat("converting to %s failed: %s", format,
                                               ran.status().message()));
  // Durable before it appears under its name, as ExportRaw does for raw.
  int fd = ::open(converted.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) ::close(fd);
    return IOError("sync", converted, e);
  }
  ::close(fd);
  std::filesystem::rename(converted, target, ec);
  if (ec)
    return absl::InternalError(absl::StrFormat("cannot rename %s to %s: %s", converted, file,
                                               ec.message()));
  remove_converted.Release();
  return absl::OkStatus();
}

}  // namespace layerdisk
