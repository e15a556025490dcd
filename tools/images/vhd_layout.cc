// VHD (Virtual Hard Disk v1) metadata: the 512-byte footer at the end of the
// file, and for dynamic and differencing disks the dynamic header, the block
// allocation table (BAT) and each block's sector bitmap. All big-endian.
#include "tools/images/vhd_layout.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/store.h"
#include "tools/images/image_file.h"
#include "tools/images/image_link.h"

namespace layerdisk {
namespace {

constexpr uint64_t kFooterSize = 512;
constexpr uint64_t kDynamicHeaderSize = 1024;
constexpr uint64_t kSector = 512;
constexpr uint32_t kUnallocated = 0xffffffffu;
constexpr uint32_t kDiskFixed = 2, kDiskDynamic = 3, kDiskDifferencing = 4;

// Footer and dynamic header carry the one's complement of the sum of their
// bytes, the checksum field counted as zero.
bool ChecksumOk(const std::string& b, size_t checksum_at) {
  uint32_t sum = 0;
  for (size_t i = 0; i < b.size(); ++i)
    if (i < checksum_at || i >= checksum_at + 4) sum += static_cast<uint8_t>(b[i]);
  return ~sum == Be32(b, checksum_at);
}

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrFormat("%s: %s", path, what));
}

}  // namespace

std::string GuidFromBytes(const std::string& b, size_t at, bool mixed_endian) {
  static const int kWindowsOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    int src = mixed_endian ? kWindowsOrder[i] : i;
    out += absl::StrFormat("%02x", static_cast<uint8_t>(b[at + src]));
  }
  return out;
}

absl::Status CheckNoSharedSpace(std::vector<PlacedBlock> placed, const std::string& path) {
  std::sort(placed.begin(), placed.end(), [](const PlacedBlock& a, const PlacedBlock& b) {
    return a.file_offset < b.file_offset;
  });
  for (size_t k = 1; k < placed.size(); ++k)
    if (placed[k].file_offset < placed[k - 1].file_offset + placed[k - 1].length) {
      auto [first, second] = std::minmax(placed[k - 1].entry, placed[k].entry);
      return Corrupt(path, absl::StrFormat("BAT entries %d and %d overlap in the file", first,
                                           second));
    }
  return absl::OkStatus();
}

absl::Status CheckLayoutPieces(const VhdLayout& layout, const std::string& path) {
  if (layout.allocation.size() + layout.file_runs.size() <= kMaxLayoutPieces)
    return absl::OkStatus();
  return Corrupt(path, absl::StrFormat("its sector bitmaps cut the disk into more than %d "
                                       "pieces (damaged or hostile)", kMaxLayoutPieces));
}

std::string Utf16ToAscii(const std::string& b, size_t at, size_t bytes, bool big_endian) {
  std::string out;
  for (size_t i = 0; i + 1 < bytes && at + i + 1 < b.size(); i += 2) {
    uint16_t c = big_endian ? static_cast<uint16_t>((static_cast<uint8_t>(b[at + i]) << 8) |
                                                    static_cast<uint8_t>(b[at + i + 1]))
                            : Le16(b, at + i);
    if (c == 0) break;
    out += c < 0x80 ? static_cast<char>(c) : '?';
  }
  return out;
}

absl::StatusOr<VhdLayout> ReadVhdLayout(const std::string& path) {
  ASSIGN_OR_RETURN(ImageFile file, ImageFile::Open(path));
  if (file.size() < kFooterSize) return Corrupt(path, "too short to hold a VHD footer");
  ASSIGN_OR_RETURN(std::string footer, file.Read(file.size() - kFooterSize, kFooterSize, "footer"));
  if (footer.compare(0, 8, "conectix") != 0) {
    // A dynamic disk whose end was cut off still has the footer's copy at 0.
    ASSIGN_OR_RETURN(std::string head, file.Read(0, kFooterSize, "footer copy"));
    if (head.compare(0, 8, "conectix") == 0)
      return Corrupt(path, "the footer at the end of the file is missing (truncated VHD)");
    return Corrupt(path, "no VHD footer (cookie 'conectix') at the end of the file");
  }
  if (!ChecksumOk(footer, 64)) return Corrupt(path, "the VHD footer has a wrong checksum");
  VhdLayout out;
  out.size = Be64(footer, 48);
  const uint32_t type = Be32(footer, 60);
  out.identifier = GuidFromBytes(footer, 68, false);
  if (out.size == 0) return Corrupt(path, "the VHD footer gives a disk size of 0");
  if (out.size > kMaxVolumeSize)
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the VHD disk size %d is larger than the largest supported (8 TiB)", path, out.size));
  if (type == kDiskFixed) {
    if (file.size() - kFooterSize < out.size)
      return Corrupt(path, absl::StrFormat("the fixed VHD holds %d bytes of its %d-byte disk "
                                           "(truncated)", file.size() - kFooterSize, out.size));
    out.allocation.push_back({0, out.size, false, false});
    out.file_runs.push_back({0, out.size, 0});
    return out;
  }
  if (type != kDiskDynamic && type != kDiskDifferencing)
    return Corrupt(path, absl::StrFormat("unknown VHD disk type %d", type));
  out.differencing = type == kDiskDifferencing;

  ASSIGN_OR_RETURN(std::string dyn, file.Read(Be64(footer, 16), kDynamicHeaderSize, "dynamic header"));
  if (dyn.compare(0, 8, "cxsparse") != 0) return Corrupt(path, "the VHD dynamic header has a bad cookie");
  if (!ChecksumOk(dyn, 36)) return Corrupt(path, "the VHD dynamic header has a wrong checksum");
  const uint64_t table_offset = Be64(dyn, 16);
  const uint64_t entries = Be32(dyn, 28);
  const uint64_t block = Be32(dyn, 32);
  if (block < kSector || block > (256u << 20) || (block & (block - 1)) != 0)
    return Corrupt(path, absl::StrFormat("VHD block size %d is not a power of two from 512 "
                                         "bytes to 256 MiB", block));
  const uint64_t blocks = (out.size + block - 1) / block;
  if (entries < blocks)
    return Corrupt(path, absl::StrFormat("the BAT has %d entries, the disk needs %d", entries, blocks));
  if (out.differencing) {
    out.parent_identifier = GuidFromBytes(dyn, 40, false);
    out.parent_name = Utf16ToAscii(dyn, 64, 512, /*big_endian=*/true);
  }
  ASSIGN_OR_RETURN(std::string bat, file.Read(table_offset, blocks * 4, "block allocation table"));
  const uint64_t bitmap_bytes = ((block / kSector + 7) / 8 + kSector - 1) / kSector * kSector;
  const uint64_t data_end = file.size() - kFooterSize;
  std::vector<PlacedBlock> placed;
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint32_t entry = Be32(bat, i * 4);
    if (entry == kUnallocated) continue;
    const uint64_t at = static_cast<uint64_t>(entry) * kSector;
    const uint64_t length = std::min(block, out.size - i * block);
    if (at > data_end || bitmap_bytes + length > data_end - at)
      return Corrupt(path, absl::StrFormat("BAT entry %d points past the end of the file "
                                           "(sector %d)", i, entry));
    placed.push_back({at, bitmap_bytes + block, i});
  }
  RETURN_IF_ERROR(CheckNoSharedSpace(std::move(placed), path));
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t start = i * block, length = std::min(block, out.size - start);
    const uint32_t entry = Be32(bat, i * 4);
    if (entry == kUnallocated) {
      AppendUnallocated(&out.allocation, start, length, out.differencing);
      continue;
    }
    const uint64_t at = static_cast<uint64_t>(entry) * kSector;
    // A block holds only the sectors its bitmap marks (most significant bit
    // first); the rest shows the parent, or in a whole disk reads as zeroes
    // (never written, as the format says and libvhdi reads them).
    ASSIGN_OR_RETURN(std::string bitmap, file.Read(at, bitmap_bytes, "sector bitmap"));
    for (uint64_t s = 0; s < length / kSector; ++s) {
      bool set = (static_cast<uint8_t>(bitmap[s / 8]) >> (7 - s % 8)) & 1;
      if (set) {
        AppendExtent(&out.allocation, start + s * kSector, kSector, false, false);
        AppendFileRun(&out.file_runs, start + s * kSector, kSector,
                      at + bitmap_bytes + s * kSector);
      } else {
        AppendUnallocated(&out.allocation, start + s * kSector, kSector, out.differencing);
      }
    }
    RETURN_IF_ERROR(CheckLayoutPieces(out, path));
  }
  return out;
}

}  // namespace layerdisk
