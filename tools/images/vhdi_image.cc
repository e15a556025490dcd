#include "tools/images/vhdi_image.h"

#include <libvhdi.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "engine/raw_image.h"
#include "tools/images/image_file.h"
#include "tools/images/vhd_layout.h"

namespace layerdisk {
namespace {

constexpr int kMaxChainDepth = 64;

// libvhdi's error as one line (it keeps a backtrace of several).
std::string TakeError(libvhdi_error_t** error) {
  if (error == nullptr || *error == nullptr) return "unknown libvhdi error";
  char buf[1024] = {0};
  libvhdi_error_sprint(*error, buf, sizeof buf);
  libvhdi_error_free(error);
  std::string s = absl::StrReplaceAll(buf, {{"\n", "; "}});
  while (!s.empty() && (s.back() == ' ' || s.back() == ';')) s.pop_back();
  return s;
}

// Opens a whole disk with libvhdi, which checks its metadata too, and
// requires the size it reads to be the one our layout parsed. The bytes are
// read by RunImage, at the offsets the layout gives: libvhdi (20210425)
// reads a dynamic VHD at ~110 MB/s, reads sectors a bitmap leaves clear
// when a run ends inside a bitmap byte, and is not sanitizer-instrumented.
absl::Status CheckWithLibvhdi(const std::string& path, uint64_t size) {
  libvhdi_file_t* file = nullptr;
  libvhdi_error_t* error = nullptr;
  if (libvhdi_file_initialize(&file, &error) != 1) return absl::InternalError(TakeError(&error));
  absl::Cleanup free_file = [&file] { libvhdi_file_free(&file, nullptr); };
  if (libvhdi_file_open(file, path.c_str(), libvhdi_get_access_flags_read(), &error) != 1)
    return absl::DataLossError(
        absl::StrFormat("%s: libvhdi cannot open it: %s", path, TakeError(&error)));
  absl::Cleanup close_file = [&file] { libvhdi_file_close(file, nullptr); };
  size64_t media = 0;
  if (libvhdi_file_get_media_size(file, &media, &error) != 1)
    return absl::DataLossError(absl::StrFormat("%s: %s", path, TakeError(&error)));
  if (media != size)
    return absl::DataLossError(absl::StrFormat(
        "%s: libvhdi reads a disk of %d bytes, its metadata says %d", path, media, size));
  return absl::OkStatus();
}

// An image read from its file at the runs its layout found: a whole VHD or
// VHDX, or a differencing child composed over its parent (the parent's
// bytes, then the child's own runs over them). Without a parent what no run
// covers reads as zeroes.
class RunImage final : public ImageDevice {
 public:
  RunImage(uint64_t size, std::shared_ptr<const std::vector<DeviceExtent>> allocation,
           ImageFile file,
           std::unique_ptr<BlockDevice> parent, std::shared_ptr<const std::vector<FileRun>> runs)
      : ImageDevice(size, std::move(allocation)), file_(std::move(file)),
        parent_(std::move(parent)), runs_(std::move(runs)) {}

  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    RETURN_IF_ERROR(CheckRange(offset, out.size()));
    const uint64_t end = offset + out.size();
    const auto first = FirstAtOrBefore(*runs_, offset);
    // What the runs leave uncovered is the parent's (an import reads a
    // child's own blocks, mostly covered whole: no parent read for those).
    if (!Covered(first, offset, end)) {
      // A child larger than its parent: past the parent's end it reads zero.
      const uint64_t parent_size = parent_ ? parent_->size() : 0;
      const uint64_t from_parent =
          offset < parent_size ? std::min(end, parent_size) - offset : 0;
      if (from_parent > 0) RETURN_IF_ERROR(parent_->Read(offset, out.subspan(0, from_parent)));
      std::memset(out.data() + from_parent, 0, out.size() - from_parent);
    }
    for (auto it = first; it != runs_->end() && it->offset < end; ++it) {
      uint64_t lo = std::max(offset, it->offset), hi = std::min(end, it->offset + it->length);
      if (lo >= hi) continue;
      char* dst = out.data() + (lo - offset);
      if (it->file_offset == kZeroRun) {
        std::memset(dst, 0, hi - lo);
        continue;
      }
      RETURN_IF_ERROR(file_.ReadInto(it->file_offset + (lo - it->offset),
                                     absl::MakeSpan(dst, hi - lo), "data block"));
    }
    return absl::OkStatus();
  }

 private:
  // Whether the runs from `it` on cover [offset, end) without a gap.
  bool Covered(std::vector<FileRun>::const_iterator it, uint64_t offset, uint64_t end) const {
    uint64_t covered = offset;
    for (; it != runs_->end() && it->offset <= covered && covered < end; ++it)
      covered = std::max(covered, it->offset + it->length);
    return covered >= end;
  }

  ImageFile file_;
  std::unique_ptr<BlockDevice> parent_;  // null: a whole disk
  const std::shared_ptr<const std::vector<FileRun>> runs_;
};

// Where the parent named `name` (often a Windows path) lies: an existing
// path as given, else its file name beside the child.
std::string FindParent(const std::string& child, const std::string& name) {
  std::string unixish = absl::StrReplaceAll(name, {{"\\", "/"}});
  std::filesystem::path dir = std::filesystem::path(child).parent_path();
  std::error_code ec;
  std::filesystem::path as_given = unixish;
  if (as_given.is_relative()) as_given = dir / as_given;
  if (!unixish.empty() && std::filesystem::is_regular_file(as_given, ec)) return as_given.lexically_normal();
  return (dir / std::filesystem::path(unixish).filename()).lexically_normal();
}

absl::StatusOr<VhdLayout> ReadLayout(const std::string& path, const std::string& format) {
  return format == "vhdx" ? ReadVhdxLayout(path) : ReadVhdLayout(path);
}

}  // namespace

absl::StatusOr<std::vector<ImageLink>> VhdImageChain(const std::string& path,
                                                     const std::string& format) {
  struct Found {
    std::string path, format;
    VhdLayout layout;
  };
  // Walk from the child up to the base.
  std::vector<Found> top_first;
  std::set<std::string> seen_paths, seen_ids;
  std::string current = std::filesystem::absolute(path).lexically_normal();
  std::string current_format = format;
  while (true) {
    if (static_cast<int>(top_first.size()) >= kMaxChainDepth)
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the differencing chain is deeper than %d images", path, kMaxChainDepth));
    std::error_code ec;
    std::string canonical = std::filesystem::weakly_canonical(current, ec).string();
    if (ec) canonical = current;
    ASSIGN_OR_RETURN(VhdLayout layout, ReadLayout(current, current_format));
    if (!seen_paths.insert(canonical).second || !seen_ids.insert(layout.identifier).second)
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: the differencing chain loops back to %s", path, current));
    if (!top_first.empty() && top_first.back().layout.parent_identifier != layout.identifier)
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: parent %s has identifier %s, but the child names parent %s",
          top_first.back().path, current, layout.identifier,
          top_first.back().layout.parent_identifier));
    const bool differencing = layout.differencing;
    const std::string parent_name = layout.parent_name;
    top_first.push_back({current, current_format, std::move(layout)});
    if (!differencing) break;
    std::string parent = FindParent(current, parent_name);
    if (!std::filesystem::is_regular_file(parent, ec))
      return absl::NotFoundError(absl::StrFormat(
          "%s: its parent '%s' is not at %s (put the parent beside its child)", current,
          parent_name, parent));
    ASSIGN_OR_RETURN(std::string parent_format, DetectImageFormat(parent));
    if (parent_format != "vhd" && parent_format != "vhdx")
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: its parent %s is a %s image, not VHD or VHDX", current, parent, parent_format));
    current = parent;
    current_format = parent_format;
  }

  std::vector<ImageLink> links;
  for (auto it = top_first.rbegin(); it != top_first.rend(); ++it) {
    ImageLink link;
    link.path = it->path;
    link.format = it->format;
    link.size = it->layout.size;
    link.identifier = it->layout.identifier;
    link.parent_identifier = it->layout.parent_identifier;
    link.differencing = it->layout.differencing;
    auto allocation =
        std::make_shared<const std::vector<DeviceExtent>>(std::move(it->layout.allocation));
    auto runs = std::make_shared<const std::vector<FileRun>>(std::move(it->layout.file_runs));
    std::function<absl::StatusOr<std::unique_ptr<BlockDevice>>()> open_parent;
    if (link.differencing) open_parent = links.back().open;
    link.open = [path = link.path, allocation, runs, size = link.size, open_parent]()
        -> absl::StatusOr<std::unique_ptr<BlockDevice>> {
      std::unique_ptr<BlockDevice> parent;
      if (open_parent) {
        ASSIGN_OR_RETURN(parent, open_parent());
      } else {
        RETURN_IF_ERROR(CheckWithLibvhdi(path, size));
      }
      ASSIGN_OR_RETURN(ImageFile file, ImageFile::Open(path));
      return std::unique_ptr<BlockDevice>(std::make_unique<RunImage>(
          size, allocation, std::move(file), std::move(parent), runs));
    };
    links.push_back(std::move(link));
  }
  return links;
}

}  // namespace layerdisk
