#include "tools/images/qemu_image.h"

#include <libnbd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "tools/images/image_file.h"
#include "tools/images/subprocess.h"

namespace layerdisk {
namespace {

// qemu-nbd refuses requests above 32 MiB.
constexpr uint64_t kMaxNbdRead = 32ull << 20;

std::string NbdError() {
  const char* e = nbd_get_error();
  return e ? e : "unknown libnbd error";
}

// One image served by a qemu-nbd child that libnbd started (systemd socket
// activation: no socket path, no port). The child ends when the handle
// closes. Ranges in `in_file` are read from the file directly instead,
// which spares the copies through qemu-nbd and the socket; the child serves
// the rest (compressed clusters, backing files).
class NbdImage final : public ImageDevice {
 public:
  NbdImage(nbd_handle* nbd, std::string path, uint64_t size,
           std::vector<DeviceExtent> allocation, std::optional<ImageFile> file,
           std::vector<FileRun> in_file)
      : ImageDevice(size, std::move(allocation)),
        nbd_(nbd),
        path_(std::move(path)),
        file_(std::move(file)),
        in_file_(std::move(in_file)) {}
  ~NbdImage() override { nbd_close(nbd_); }

  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    RETURN_IF_ERROR(CheckRange(offset, out.size()));
    const uint64_t end = offset + out.size();
    // The first range in the file ending after `pos`.
    auto range = std::upper_bound(
        in_file_.begin(), in_file_.end(), offset,
        [](uint64_t pos, const FileRun& r) { return pos < r.offset + r.length; });
    for (uint64_t pos = offset; pos < end;) {
      char* to = out.data() + (pos - offset);
      if (range != in_file_.end() && range->offset <= pos) {
        const uint64_t n = std::min(end, range->offset + range->length) - pos;
        RETURN_IF_ERROR(ReadFile(range->file_offset + (pos - range->offset), to, n));
        pos += n;
        ++range;
      } else {
        const uint64_t next = range != in_file_.end() ? std::min(end, range->offset) : end;
        RETURN_IF_ERROR(ReadServed(pos, to, next - pos));
        pos = next;
      }
    }
    return absl::OkStatus();
  }

 private:
  // qemu reads the part of a cluster past the end of the file as zeroes
  // (`qemu-img check` accepts a file ending inside its last cluster): so do
  // we, to read what qemu-img convert makes of the image.
  absl::Status ReadFile(uint64_t host, char* out, uint64_t length) {
    const uint64_t in_file = std::min(length, file_->size() - std::min(file_->size(), host));
    if (in_file > 0) RETURN_IF_ERROR(file_->ReadInto(host, absl::MakeSpan(out, in_file), "data"));
    std::memset(out + in_file, 0, length - in_file);
    return absl::OkStatus();
  }

  absl::Status ReadServed(uint64_t offset, char* out, uint64_t length) {
    for (uint64_t done = 0; done < length;) {
      uint64_t n = std::min<uint64_t>(kMaxNbdRead, length - done);
      if (nbd_pread(nbd_, out + done, n, offset + done, 0) != 0)
        return absl::DataLossError(absl::StrFormat(
            "%s: reading %d bytes at offset %d failed: %s", path_, n, offset + done, NbdError()));
      done += n;
    }
    return absl::OkStatus();
  }

  nbd_handle* const nbd_;
  const std::string path_;
  const std::optional<ImageFile> file_;  // set when in_file_ is not empty
  const std::vector<FileRun> in_file_;  // never kZeroRun
};

absl::StatusOr<nlohmann::json> RunJson(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(std::string out, RunCapture(argv));
  nlohmann::json doc = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded())
    return absl::InternalError(absl::StrFormat("%s printed JSON we cannot parse", argv[0]));
  return doc;
}

uint64_t U64(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}
bool Flag(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

// What `path` allocates: for a whole disk its data (the rest zero); for an
// overlay whatever it defines itself, depth 0 (the rest a hole). With
// `in_file`, also the data ranges qemu-img places in the file itself.
struct QemuMap {
  std::vector<DeviceExtent> allocation;
  std::vector<FileRun> in_file;  // plain qcow2 data in the file itself
};
absl::StatusOr<QemuMap> MapImage(const std::string& path, const std::string& format,
                                 uint64_t size, bool differencing, bool in_file) {
  ASSIGN_OR_RETURN(nlohmann::json map,
                   RunJson({"qemu-img", "map", "--output=json", "-f", format, path}));
  if (!map.is_array()) return absl::InternalError("qemu-img map printed no extent list");
  QemuMap out;
  uint64_t pos = 0;
  for (const nlohmann::json& e : map) {
    uint64_t start = U64(e, "start"), length = U64(e, "length");
    if (start != pos || length > size - std::min(size, start))
      return absl::InternalError(absl::StrFormat(
          "qemu-img map of %s reported an extent out of order at %d", path, start));
    const bool own = U64(e, "depth") == 0;
    bool defined = differencing ? Flag(e, "present") && own : Flag(e, "data");
    if (defined) AppendExtent(&out.allocation, start, length, false, false);
    else AppendUnallocated(&out.allocation, start, length, differencing);
    // An offset at depth > 0 is in a backing file; a zero cluster may keep
    // stale bytes at its offset.
    auto host = e.find("offset");
    if (in_file && own && Flag(e, "data") && !Flag(e, "zero") && host != e.end() &&
        host->is_number_unsigned()) {
      const uint64_t at = host->get<uint64_t>();
      if (at > UINT64_MAX - length)
        return absl::DataLossError(absl::StrFormat(
            "qemu-img map of %s placed data at offset %d, past any file", path, at));
      AppendFileRun(&out.in_file, start, length, at);
    }
    pos = start + length;
  }
  if (pos != size)
    return absl::InternalError(absl::StrFormat("qemu-img map of %s stopped at %d", path, pos));
  return out;
}

// qemu reads past a truncated or damaged table as if it were unallocated;
// `qemu-img check` (metadata only, fast) tells. Formats without checks pass.
absl::Status CheckImage(const std::string& path, const std::string& format) {
  constexpr int kCorrupt = 2, kLeaksOnly = 3, kNoCheck = 63;
  ASSIGN_OR_RETURN(RunResult r, Run({"qemu-img", "check", "-f", format, path}));
  if (r.exit_code == 0 || r.exit_code == kLeaksOnly || r.exit_code == kNoCheck)
    return absl::OkStatus();
  std::string why;
  for (absl::string_view line : absl::StrSplit(r.err + "\n" + r.out, '\n'))
    if (why.empty() && absl::StartsWith(line, "ERROR")) why = std::string(line);
  if (why.empty()) why = LastLine(r.err);
  if (why.empty()) why = LastLine(r.out);
  return absl::DataLossError(absl::StrFormat("%s is %s (qemu-img check): %s", path,
                                             r.exit_code == kCorrupt ? "corrupt" : "unreadable",
                                             why));
}

absl::StatusOr<std::unique_ptr<BlockDevice>> OpenNbd(const std::string& path,
                                                     const std::string& format,
                                                     uint64_t size, bool differencing,
                                                     bool in_file) {
  ASSIGN_OR_RETURN(QemuMap map, MapImage(path, format, size, differencing, in_file));
  std::optional<ImageFile> file;
  if (!map.in_file.empty()) {
    ASSIGN_OR_RETURN(ImageFile opened, ImageFile::Open(path));
    file.emplace(std::move(opened));
  }
  nbd_handle* nbd = nbd_create();
  if (nbd == nullptr) return absl::InternalError(NbdError());
  std::string fmt = "--format=" + format;
  const char* argv[] = {"qemu-nbd", "--read-only", "--persistent", fmt.c_str(),
                        path.c_str(), nullptr};
  if (nbd_connect_systemd_socket_activation(nbd, const_cast<char**>(argv)) != 0) {
    std::string why = NbdError();
    nbd_close(nbd);
    return absl::FailedPreconditionError(
        absl::StrFormat("cannot serve %s with qemu-nbd: %s", path, why));
  }
  int64_t served = nbd_get_size(nbd);
  if (served < 0 || static_cast<uint64_t>(served) != size) {
    nbd_close(nbd);
    return absl::InternalError(absl::StrFormat(
        "qemu-nbd serves %s as %d bytes, qemu-img said %d", path, served, size));
  }
  return std::unique_ptr<BlockDevice>(std::make_unique<NbdImage>(
      nbd, path, size, std::move(map.allocation), std::move(file), std::move(map.in_file)));
}

// Whether qemu-img's map offsets of this image are its guest bytes in the
// file itself: plain qcow2 only. Encrypted clusters hold ciphertext, an
// external data file holds the data elsewhere, and other formats' offsets
// may name another extent file.
bool DataInFile(const nlohmann::json& info) {
  if (info.value("format", std::string()) != "qcow2" || Flag(info, "encrypted")) return false;
  auto specific = info.find("format-specific");
  if (specific == info.end() || !specific->is_object()) return false;
  auto data = specific->find("data");
  return data != specific->end() && data->is_object() && !data->contains("data-file");
}

}  // namespace

absl::StatusOr<std::vector<ImageLink>> QemuImageChain(const std::string& path,
                                                      const std::string& format) {
  // An absolute top path makes qemu-img report every backing file absolute.
  std::error_code ec;
  std::string top = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) top = path;
  ASSIGN_OR_RETURN(nlohmann::json chain,
                   RunJson({"qemu-img", "info", "--backing-chain", "--output=json", "-f",
                            format, top}));
  if (!chain.is_array() || chain.empty())
    return absl::InternalError("qemu-img info printed no image chain");
  std::vector<ImageLink> links;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    ImageLink link;
    link.path = it->value("filename", std::string());
    link.format = it->value("format", std::string());
    link.size = U64(*it, "virtual-size");
    link.differencing = !links.empty();
    if (link.format != "qcow2" && link.format != "vmdk" && link.format != "raw")
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s in the backing chain of %s is a %s image; only qcow2, vmdk and raw "
          "backing files are read", link.path, path, link.format));
    RETURN_IF_ERROR(CheckImage(link.path, link.format));
    if (link.size == 0)
      return absl::InvalidArgumentError(absl::StrFormat("%s has no virtual size", link.path));
    link.open = [p = link.path, f = link.format, s = link.size, d = link.differencing,
                 direct = DataInFile(*it)]() { return OpenNbd(p, f, s, d, direct); };
    links.push_back(std::move(link));
  }
  return links;
}

}  // namespace layerdisk
