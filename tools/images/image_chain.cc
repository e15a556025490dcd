#include "tools/images/image_chain.h"

#include <filesystem>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/raw_image.h"
#include "tools/images/qemu_image.h"
#include "tools/images/vhdi_image.h"

namespace layerdisk {

const std::vector<std::string>& ImportFormats() {
  static const std::vector<std::string> formats = {"auto", "raw", "vhd", "vhdx", "qcow2", "vmdk"};
  return formats;
}

absl::StatusOr<std::vector<ImageLink>> OpenImageChain(const std::string& path,
                                                      const std::string& format) {
  const auto& known = ImportFormats();
  if (std::find(known.begin(), known.end(), format) == known.end())
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown image format '%s' (expected %s)", format, absl::StrJoin(known, ", ")));
  std::string name = format;
  if (name == "auto") {
    ASSIGN_OR_RETURN(name, DetectImageFormat(path));
  }
  if (name == "vhd" || name == "vhdx") return VhdImageChain(path, name);
  if (name == "qcow2" || name == "vmdk") return QemuImageChain(path, name);
  ImageLink link;
  std::error_code ec;
  link.path = std::filesystem::absolute(path, ec).string();
  if (ec) link.path = path;
  link.format = "raw";
  {
    ASSIGN_OR_RETURN(std::unique_ptr<BlockDevice> probe, OpenRawImage(path));
    link.size = probe->size();
  }
  link.open = [path]() { return OpenRawImage(path); };
  return std::vector<ImageLink>{std::move(link)};
}

}  // namespace layerdisk
