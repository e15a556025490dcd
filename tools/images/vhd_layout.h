// What layerdisk needs from a VHD or VHDX file's metadata: its size, its
// identity and its parent's, and which ranges it allocates. libvhdi reads
// the bytes (vhdi_image.h); it does not tell allocation, so we parse just
// enough ourselves: VHD footer, dynamic header, BAT and sector bitmaps; VHDX
// headers, region table, metadata and BAT. Every field and offset is checked
// before use: these files may be hostile.
#ifndef LAYERDISK_TOOLS_IMAGES_VHD_LAYOUT_H_
#define LAYERDISK_TOOLS_IMAGES_VHD_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/images/image_link.h"

namespace layerdisk {

struct VhdLayout {
  uint64_t size = 0;  // virtual disk size in bytes
  bool differencing = false;
  // Canonical lowercase GUID strings ("8-4-4-4-12"); parent_identifier is
  // empty unless differencing.
  std::string identifier;
  std::string parent_identifier;
  // The parent's file name as the child records it (may be a Windows path).
  std::string parent_name;
  // Data ranges; unallocated ones zero (whole disk) or holes (differencing).
  std::vector<DeviceExtent> allocation;
  // The image's own sectors, in disk order, for the images we read from
  // the file ourselves rather than through libvhdi 20210425: every VHD (its
  // dynamic blocks read at ~110 MB/s through libvhdi, whose sector-range
  // lookup scans every range of a block for each range it reads) and VHDX
  // differencing children (libvhdi reads a run of child sectors that ends
  // inside a sector-bitmap byte through to the byte's end). Empty for a
  // whole-disk VHDX, which libvhdi reads.
  std::vector<FileRun> file_runs;
};

// How many extents and runs a layout may hold: a hostile image could
// otherwise describe billions (a sector bitmap alternating in every block
// of a large disk). 2^24 runs of one sector each are 8 GiB of data in
// pieces no real image is cut into; the lists then take ~1 GiB. As no two
// blocks share file space (CheckNoSharedSpace), only a file of gigabytes
// (or a sparse one) gets that far.
inline constexpr size_t kMaxLayoutPieces = size_t{1} << 24;
// DataLoss naming `path` once `layout` holds more than kMaxLayoutPieces.
absl::Status CheckLayoutPieces(const VhdLayout& layout, const std::string& path);

// File space one BAT entry owns: a data block (a VHD's with its sector
// bitmap), or a VHDX sector-bitmap block.
struct PlacedBlock {
  uint64_t file_offset = 0;
  uint64_t length = 0;
  uint64_t entry = 0;  // its index in the BAT
};
// DataLoss naming `path` and two entries when any of `placed` share file
// space. Checked before a layout reads any sector bitmap: entries sharing
// space would let a small file stand for a huge disk of copies, or for
// kMaxLayoutPieces pieces cut by one bitmap repeated.
absl::Status CheckNoSharedSpace(std::vector<PlacedBlock> placed, const std::string& path);

absl::StatusOr<VhdLayout> ReadVhdLayout(const std::string& path);   // vhd_layout.cc
absl::StatusOr<VhdLayout> ReadVhdxLayout(const std::string& path);  // vhdx_layout.cc

// 16 bytes as a canonical GUID string, in file order (VHD) or with the first
// three fields little-endian (VHDX, as Windows stores GUIDs).
std::string GuidFromBytes(const std::string& b, size_t at, bool mixed_endian);

// The ASCII of a UTF-16 string (other characters become '?'), up to a NUL.
std::string Utf16ToAscii(const std::string& b, size_t at, size_t bytes, bool big_endian);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGES_VHD_LAYOUT_H_
