// BlockDevice: the one interface every frontend (NBD, FUSE) serves and every
// engine volume, snapshot and layer implements.
#ifndef LAYERDISK_COMMON_BLOCK_DEVICE_H_
#define LAYERDISK_COMMON_BLOCK_DEVICE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace layerdisk {

// One run of a device's allocation map, as NBD's base:allocation reports it.
struct DeviceExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool hole = false;  // not allocated in any layer (thin)
  bool zero = false;  // guaranteed to read as zeroes
};

// A virtual disk of `size()` bytes addressed by byte offset.
//
// Thread-safe: every method may be called concurrently from many threads.
// Offsets and lengths may be arbitrary bytes; implementations handle
// unaligned heads and tails. Errors: InvalidArgument for out-of-range,
// PermissionDenied for writes to a read-only device, DataLoss for corrupt
// stored data, ResourceExhausted for a full disk.
class BlockDevice {
 public:
  virtual ~BlockDevice() = default;

  virtual uint64_t size() const = 0;
  virtual bool read_only() const = 0;
  // The granularity below which writes cost a read-modify-write.
  virtual uint32_t block_size() const = 0;

  virtual absl::Status Read(uint64_t offset, absl::Span<char> out) = 0;
  // fua: the write is durable when this returns.
  virtual absl::Status Write(uint64_t offset, absl::Span<const char> data,
                             bool fua) = 0;
  // Makes [offset, offset+length) read as zeroes without storing data.
  virtual absl::Status WriteZeroes(uint64_t offset, uint64_t length,
                                   bool fua) = 0;
  // Discards [offset, offset+length): it reads as zeroes afterwards (the
  // range masks lower layers, so a trim never resurrects old data).
  virtual absl::Status Trim(uint64_t offset, uint64_t length, bool fua) = 0;
  // Every write acknowledged before Flush() was called is durable when it
  // returns OK, whichever connection or thread made it.
  virtual absl::Status Flush() = 0;
  // Allocation map of [offset, offset+length), in order, coalesced, covering
  // the range exactly (clipped to size()).
  virtual absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset,
                                                        uint64_t length) = 0;
};

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_BLOCK_DEVICE_H_
