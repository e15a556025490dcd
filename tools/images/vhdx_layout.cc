// VHDX (Virtual Hard Disk v2) metadata, little-endian: two headers (the
// valid one with the higher sequence number wins), the region table that
// locates the BAT and the metadata region, the metadata items we need, and
// the BAT, whose payload entries are interleaved with sector-bitmap entries
// (one after every `chunk ratio` payload blocks). Checksums are CRC-32C.
#include <array>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/store.h"
#include "tools/images/image_file.h"
#include "tools/images/image_link.h"
#include "tools/images/vhd_layout.h"

namespace layerdisk {
namespace {

constexpr uint64_t kHeaderOffsets[2] = {64 << 10, 128 << 10};
constexpr uint64_t kHeaderSize = 4 << 10;
constexpr uint64_t kRegionTableOffset = 192 << 10;
constexpr uint64_t kRegionTableSize = 64 << 10;
constexpr uint64_t kMaxMetadataRegion = 16 << 20;
constexpr uint64_t kMiB = 1 << 20;
// GUIDs as Windows writes them (first three fields little-endian).
constexpr char kBatRegion[] = "2dc27766-f623-4200-9d64-115e9bfd4a08";
constexpr char kMetadataRegion[] = "8b7ca206-4790-4b9a-b8fe-575f050f886e";
constexpr char kFileParameters[] = "caa16737-fa36-4d43-b3b6-33f0aa44e76b";
constexpr char kVirtualDiskSize[] = "2fa54224-cd1b-4876-b211-5dbed83bf4b8";
constexpr char kLogicalSectorSize[] = "8141bf1d-a96f-4709-ba47-f233a8faab5f";
constexpr char kParentLocator[] = "a8d35f2d-b30b-454d-abf7-d3d84834ab0c";
constexpr uint32_t kHasParent = 2;  // file parameters flag
enum PayloadState : uint64_t {
  kNotPresent = 0, kUndefined = 1, kZero = 2, kUnmapped = 3,
  kFullyPresent = 6, kPartiallyPresent = 7,
};

uint32_t Crc32c(const std::string& b, size_t checksum_at) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < b.size(); ++i) {
    uint8_t byte = (i >= checksum_at && i < checksum_at + 4) ? 0 : static_cast<uint8_t>(b[i]);
    crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  }
  return ~crc;
}

absl::Status Corrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrFormat("%s: %s", path, what));
}

struct Item {
  uint64_t offset = 0, length = 0;
  bool found = false;
};

// The parent_linkage and a path from the parent locator's key/value list.
absl::Status ReadParentLocator(const std::string& path, const std::string& loc, VhdLayout* out) {
  if (loc.size() < 20) return Corrupt(path, "the VHDX parent locator is truncated");
  const uint64_t count = Le16(loc, 18);
  if (20 + count * 12 > loc.size()) return Corrupt(path, "the VHDX parent locator is truncated");
  std::string relative, absolute;
  for (uint64_t k = 0; k < count; ++k) {
    const size_t e = 20 + k * 12;
    uint64_t ko = Le32(loc, e), vo = Le32(loc, e + 4), kl = Le16(loc, e + 8), vl = Le16(loc, e + 10);
    if (ko + kl > loc.size() || vo + vl > loc.size())
      return Corrupt(path, "a VHDX parent locator entry points outside the locator");
    std::string key = Utf16ToAscii(loc, ko, kl, false), value = Utf16ToAscii(loc, vo, vl, false);
    if (key == "parent_linkage") {
      std::string id = absl::AsciiStrToLower(value);
      if (id.size() == 38 && id.front() == '{' && id.back() == '}') id = id.substr(1, 36);
      out->parent_identifier = id;
    } else if (key == "relative_path") {
      relative = value;
    } else if (key == "absolute_win32_path") {
      absolute = value;
    }
  }
  if (out->parent_identifier.size() != 36)
    return Corrupt(path, "the VHDX parent locator has no valid parent_linkage");
  out->parent_name = !relative.empty() ? relative : absolute;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VhdLayout> ReadVhdxLayout(const std::string& path) {
  ASSIGN_OR_RETURN(ImageFile file, ImageFile::Open(path));
  ASSIGN_OR_RETURN(std::string ident, file.Read(0, 8, "file identifier"));
  if (ident != "vhdxfile") return Corrupt(path, "no VHDX file identifier ('vhdxfile')");
  std::string header;
  uint64_t best_sequence = 0;
  for (uint64_t at : kHeaderOffsets) {
    ASSIGN_OR_RETURN(std::string h, file.Read(at, kHeaderSize, "header"));
    if (h.compare(0, 4, "head") != 0 || Crc32c(h, 4) != Le32(h, 4)) continue;
    if (header.empty() || Le64(h, 8) > best_sequence) {
      best_sequence = Le64(h, 8);
      header = h;
    }
  }
  if (header.empty()) return Corrupt(path, "neither VHDX header is valid (wrong checksums)");
  if (header.find_first_not_of('\0', 48) < 64)
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s has a VHDX log that was never replayed (the writer did not close it cleanly); "
        "let Hyper-V or `qemu-img check -r all` replay it first", path));
  VhdLayout out;
  out.identifier = GuidFromBytes(header, 32, true);  // DataWriteGuid: what children link to

  ASSIGN_OR_RETURN(std::string regions, file.Read(kRegionTableOffset, kRegionTableSize, "region table"));
  if (regions.compare(0, 4, "regi") != 0 || Crc32c(regions, 4) != Le32(regions, 4))
    return Corrupt(path, "the VHDX region table has a bad signature or a wrong checksum");
  const uint64_t region_count = Le32(regions, 8);
  if (region_count > 2047) return Corrupt(path, "the VHDX region table has too many entries");
  Item bat_region, meta_region;
  for (uint64_t r = 0; r < region_count; ++r) {
    const size_t e = 16 + r * 32;
    std::string id = GuidFromBytes(regions, e, true);
    Item* item = id == kBatRegion ? &bat_region : id == kMetadataRegion ? &meta_region : nullptr;
    if (item == nullptr) {
      if (Le32(regions, e + 28) & 1)
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: the VHDX requires region %s, which layerdisk does not know", path, id));
      continue;
    }
    *item = {Le64(regions, e + 16), Le32(regions, e + 24), true};
  }
  if (!bat_region.found || !meta_region.found)
    return Corrupt(path, "the VHDX region table lacks the BAT or the metadata region");
  if (meta_region.length > kMaxMetadataRegion)
    return Corrupt(path, "the VHDX metadata region is implausibly large");
  ASSIGN_OR_RETURN(std::string meta, file.Read(meta_region.offset, meta_region.length, "metadata region"));
  if (meta.size() < 32 || meta.compare(0, 8, "metadata") != 0)
    return Corrupt(path, "the VHDX metadata table has a bad signature");
  const uint64_t meta_count = Le16(meta, 10);
  if (32 + meta_count * 32 > meta.size()) return Corrupt(path, "the VHDX metadata table is truncated");
  std::map<std::string, Item> items;
  for (uint64_t m = 0; m < meta_count; ++m) {
    const size_t e = 32 + m * 32;
    Item item{Le32(meta, e + 16), Le32(meta, e + 20), true};
    if (item.offset + item.length > meta.size())
      return Corrupt(path, "a VHDX metadata item lies outside the metadata region");
    items[GuidFromBytes(meta, e, true)] = item;
  }
  auto field = [&](const char* id, uint64_t min_length) -> absl::StatusOr<std::string> {
    auto it = items.find(id);
    if (it == items.end() || it->second.length < min_length)
      return Corrupt(path, absl::StrFormat("the VHDX metadata lacks item %s", id));
    return meta.substr(it->second.offset, it->second.length);
  };
  ASSIGN_OR_RETURN(std::string params, field(kFileParameters, 8));
  ASSIGN_OR_RETURN(std::string vsize, field(kVirtualDiskSize, 8));
  ASSIGN_OR_RETURN(std::string lss_item, field(kLogicalSectorSize, 4));
  const uint64_t block = Le32(params, 0), sector = Le32(lss_item, 0);
  out.size = Le64(vsize, 0);
  out.differencing = Le32(params, 4) & kHasParent;
  if (block < kMiB || block > 256 * kMiB || (block & (block - 1)) != 0)
    return Corrupt(path, absl::StrFormat("VHDX block size %d is not a power of two from 1 to "
                                         "256 MiB", block));
  if (sector != 512 && sector != 4096)
    return Corrupt(path, absl::StrFormat("VHDX logical sector size %d is neither 512 nor 4096", sector));
  if (out.size == 0 || out.size % sector != 0) return Corrupt(path, "the VHDX virtual size is invalid");
  if (out.size > kMaxVolumeSize)
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the VHDX disk size %d is larger than the largest supported (8 TiB)", path, out.size));
  if (out.differencing) {
    ASSIGN_OR_RETURN(std::string loc, field(kParentLocator, 20));
    RETURN_IF_ERROR(ReadParentLocator(path, loc, &out));
  }

  const uint64_t chunk_ratio = (uint64_t{1} << 23) * sector / block;
  const uint64_t blocks = (out.size + block - 1) / block;
  const uint64_t entries = out.differencing
      ? (blocks + chunk_ratio - 1) / chunk_ratio * (chunk_ratio + 1)
      : blocks + (blocks - 1) / chunk_ratio;
  if (entries * 8 > bat_region.length)
    return Corrupt(path, absl::StrFormat("the VHDX BAT region holds %d bytes, the disk needs %d",
                                         bat_region.length, entries * 8));
  ASSIGN_OR_RETURN(std::string bat, file.Read(bat_region.offset, entries * 8, "BAT"));
  const uint64_t sectors_per_block = block / sector;
  // An entry's file offset (whole MiB), and block i's state and offset.
  auto file_offset = [](uint64_t entry) { return entry >> 20 << 20; };
  auto state_of = [&](uint64_t i) { return Le64(bat, (i + i / chunk_ratio) * 8) & 7; };
  auto offset_of = [&](uint64_t i) { return file_offset(Le64(bat, (i + i / chunk_ratio) * 8)); };
  // The BAT entry of the sector bitmap for block i's chunk, and its index.
  auto bitmap_of = [&](uint64_t i) {
    const uint64_t index = (i / chunk_ratio + 1) * (chunk_ratio + 1) - 1;
    return std::make_pair(Le64(bat, index * 8), index);
  };
  auto check_inside = [&](uint64_t offset, uint64_t bytes, uint64_t index) -> absl::Status {
    if (offset < kMiB || offset > file.size() || bytes > file.size() - offset)
      return Corrupt(path, absl::StrFormat("BAT entry %d points past the end of the file "
                                           "(offset %d)", index, offset));
    return absl::OkStatus();
  };
  // Every entry checked, and the file space they own, before any bitmap is
  // read (CheckNoSharedSpace).
  std::vector<PlacedBlock> placed;
  uint64_t last_bitmap_placed = ~uint64_t{0};
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t length = std::min(block, out.size - i * block);
    switch (state_of(i)) {
      case kNotPresent:
      case kUndefined:
      case kZero:
      case kUnmapped:
        break;
      case kPartiallyPresent: {
        if (!out.differencing)
          return Corrupt(path, absl::StrFormat("BAT entry %d is partially present in a disk "
                                               "without a parent", i));
        auto [sb, sb_index] = bitmap_of(i);
        if ((sb & 7) != kFullyPresent)
          return Corrupt(path, absl::StrFormat("block %d is partially present but its sector "
                                               "bitmap is missing", i));
        const uint64_t sb_at = file_offset(sb);
        RETURN_IF_ERROR(check_inside(sb_at, kMiB, sb_index));
        if (sb_index != last_bitmap_placed) placed.push_back({sb_at, kMiB, sb_index});
        last_bitmap_placed = sb_index;
        [[fallthrough]];
      }
      case kFullyPresent:
        RETURN_IF_ERROR(check_inside(offset_of(i), length, i));
        placed.push_back({offset_of(i), length, i});
        break;
      default:
        return Corrupt(path, absl::StrFormat("BAT entry %d has invalid state %d", i, state_of(i)));
    }
  }
  RETURN_IF_ERROR(CheckNoSharedSpace(std::move(placed), path));

  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t start = i * block, length = std::min(block, out.size - start);
    const uint64_t state = state_of(i), at = offset_of(i);
    if (state == kFullyPresent) {
      AppendExtent(&out.allocation, start, length, false, false);
      AppendFileRun(&out.file_runs, start, length, at);
    } else if (state == kPartiallyPresent) {
      const uint64_t bitmap_at = file_offset(bitmap_of(i).first);
      const uint64_t first_bit = (i % chunk_ratio) * sectors_per_block;
      ASSIGN_OR_RETURN(std::string bits, file.Read(bitmap_at + first_bit / 8,
                                                   sectors_per_block / 8, "sector bitmap"));
      for (uint64_t s = 0; s < length / sector; ++s) {
        bool set = (static_cast<uint8_t>(bits[s / 8]) >> (s % 8)) & 1;
        if (set) {
          AppendExtent(&out.allocation, start + s * sector, sector, false, false);
          AppendFileRun(&out.file_runs, start + s * sector, sector, at + s * sector);
        } else {
          AppendUnallocated(&out.allocation, start + s * sector, sector, true);
        }
      }
    } else if (!out.differencing || state == kNotPresent) {
      // In a differencing disk only NOT_PRESENT shows the parent; the other
      // unallocated states define the block as zeroes.
      AppendUnallocated(&out.allocation, start, length, out.differencing);
    } else {
      AppendExtent(&out.allocation, start, length, false, false);
      AppendFileRun(&out.file_runs, start, length, kZeroRun);
    }
    RETURN_IF_ERROR(CheckLayoutPieces(out, path));
  }
  return out;
}

}  // namespace layerdisk
