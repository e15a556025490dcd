// Volume: a BlockDevice composed of a Stack of read-only layers and, for a
// writable volume, a Head on top. Snapshots and single layers are served by
// the same class without a head (read-only).
//
// Read path: head state, else the stack's merged index, then one layer read.
// Write path: whole blocks go straight to the head; a partial block is read
// through the composed view, patched and written whole (read-modify-write on
// first touch), under a striped lock so concurrent partial writes to one
// block do not lose each other's bytes.
//
// Thread-safe. The store pauses I/O (Exclusive) to freeze or replace the
// head for snapshots, clones and rollbacks.
#ifndef LAYERDISK_ENGINE_VOLUME_H_
#define LAYERDISK_ENGINE_VOLUME_H_

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/block_device.h"
#include "common/layer_map.h"
#include "engine/composition.h"
#include "layers/head.h"
#include "layers/merged_index.h"

namespace layerdisk {

class Volume final : public BlockDevice, public LayeredDevice {
 public:
  // `head` null makes a read-only view of `stack`.
  Volume(std::string name, uint64_t size, uint32_t block_size,
         std::shared_ptr<const Stack> stack, std::shared_ptr<Head> head);
  // Flushes: acknowledged writes survive the last handle being dropped
  // without a flush (a client that disconnects without NBD_CMD_FLUSH).
  ~Volume() override;

  uint64_t size() const override { return size_; }
  bool read_only() const override { return read_only_; }
  uint32_t block_size() const override { return block_size_; }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override;
  absl::Status Write(uint64_t offset, absl::Span<const char> data,
                     bool fua) override;
  absl::Status WriteZeroes(uint64_t offset, uint64_t length, bool fua) override;
  absl::Status Trim(uint64_t offset, uint64_t length, bool fua) override;
  absl::Status Flush() override;
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset,
                                                uint64_t length) override;

  const std::string& name() const { return name_; }

  // What the volume reads from now (engine/composition.h).
  Composition composition() const;
  // Provenance (common/layer_map.h), in volume_layers.cc.
  absl::StatusOr<LayerMap> MapLayers(uint64_t offset, uint64_t length) override;

  // Runs `fn` with no I/O in flight and none starting until it returns.
  absl::Status Exclusive(const std::function<absl::Status()>& fn);
  // REQUIRES: inside Exclusive(). Replaces what the volume reads and writes.
  void Install(std::shared_ptr<const Stack> stack, std::shared_ptr<Head> head);
  // REQUIRES: inside Exclusive().
  const std::shared_ptr<Head>& head_locked() const { return head_; }
  const std::shared_ptr<const Stack>& stack_locked() const { return stack_; }
  // Fails all further I/O with Aborted (the volume was deleted or rolled
  // back by force under its clients).
  void Detach(const std::string& why);

 private:
  absl::Status CheckRange(uint64_t offset, uint64_t length) const;
  absl::Status CheckAttached() const;
  // Reads whole blocks through head and stack. REQUIRES: mu_ held shared.
  absl::Status ReadBlocks(uint64_t first, absl::Span<char> out);
  // Whether `layer` (of the stack) ends inside `block`, so the block's
  // bytes past the layer's end come from the layers below.
  bool EndsInside(const LayerView* layer, uint64_t block) const;
  // Reads such a block, layer by layer. REQUIRES: mu_ held shared.
  absl::Status ComposeBlock(uint64_t block, absl::Span<char> out);
  // Writes [offset, offset+data.size()), read-modify-writing partial blocks.
  // `data` null writes zeroes. REQUIRES: mu_ held shared, stripes locked.
  absl::Status WriteRange(uint64_t offset, uint64_t length, const char* data);
  absl::Status ZeroRange(uint64_t offset, uint64_t length, bool fua);
  // Locks the stripes covering [first, last] in ascending order.
  class StripeLock;

  const std::string name_;
  const uint64_t size_;
  const uint32_t block_size_;
  const bool read_only_;
  mutable absl::Mutex mu_;  // shared for I/O, exclusive to swap head/stack
  std::shared_ptr<const Stack> stack_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Head> head_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> detached_{false};
  std::string detached_why_;
  static constexpr size_t kStripes = 64;
  std::array<absl::Mutex, kStripes> stripes_;
};

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_VOLUME_H_
