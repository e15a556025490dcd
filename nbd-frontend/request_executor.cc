#include "nbd-frontend/request_executor.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "nbd-frontend/nbd_errors.h"

namespace layerdisk::nbd {
namespace {

// Zero runs shorter than this are sent as data: a hole chunk header costs
// 32 bytes and the client has to reassemble around it.
constexpr uint64_t kMinHoleChunk = 4096;
// A block status reply past this many descriptors is cut short (the spec
// lets a server describe less than was asked).
constexpr size_t kMaxDescriptors = 256 * 1024;

}  // namespace

void RequestExecutor::ReplyStatus(const RequestHeader& r,
                                  const absl::Status& status,
                                  PendingReply* reply) {
  if (status.ok()) {
    writer_->SendOk(reply, r.handle);
    return;
  }
  if (status.code() == absl::StatusCode::kAborted &&
      !device_gone_.exchange(true, std::memory_order_relaxed) && on_device_gone_)
    on_device_gone_();
  writer_->SendError(reply, r.handle, ErrorFromStatus(status, IsWriteCommand(r.type)),
                     std::string_view(status.message().data(),
                                      status.message().size()));
}

void RequestExecutor::Execute(const RequestHeader& r, char* buffer,
                              PendingReply* reply) {
  const bool fua = (r.flags & kCmdFlagFua) != 0;
  switch (r.type) {
    case kCmdRead:
      Read(r, buffer, reply);
      return;
    case kCmdWrite:
      wrote_.store(true, std::memory_order_relaxed);
      ReplyStatus(r, device_->Write(r.offset, absl::Span<const char>(buffer, r.length), fua), reply);
      return;
    case kCmdFlush:
      ReplyStatus(r, device_->Flush(), reply);
      return;
    case kCmdTrim:
      wrote_.store(true, std::memory_order_relaxed);
      ReplyStatus(r, device_->Trim(r.offset, r.length, fua), reply);
      return;
    case kCmdWriteZeroes:
      // BlockDevice::WriteZeroes records zeroes without writing data, so it
      // is always the fast path FAST_ZERO asks for. NO_HOLE is a hint about
      // allocation that a thin device is free to decline: the range reads
      // as zeroes either way, which is all the spec requires.
      wrote_.store(true, std::memory_order_relaxed);
      ReplyStatus(r, device_->WriteZeroes(r.offset, r.length, fua), reply);
      return;
    case kCmdBlockStatus:
      BlockStatus(r, reply);
      return;
    default:
      // ValidateRequest lets no other command through.
      writer_->SendError(reply, r.handle, kEinval, "unknown command");
      return;
  }
}

void RequestExecutor::Read(const RequestHeader& r, char* buffer,
                           PendingReply* reply) {
  if (state_.structured_replies && r.length >= min_read_for_holes_ &&
      (r.flags & kCmdFlagDf) == 0 && ReadSparse(r, buffer, reply)) {
    return;
  }
  absl::Status status = device_->Read(r.offset, absl::Span<char>(buffer, r.length));
  if (!status.ok()) {
    ReplyStatus(r, status, reply);
    return;
  }
  writer_->SendReadData(reply, r.handle, r.offset, buffer, r.length);
}

bool RequestExecutor::ReadSparse(const RequestHeader& r, char* buffer,
                                 PendingReply* reply) {
  absl::StatusOr<std::vector<DeviceExtent>> map = device_->Map(r.offset, r.length);
  if (!map.ok()) return false;
  const uint64_t end = r.offset + r.length;
  std::vector<ReadChunk> chunks;
  uint64_t pos = r.offset;
  auto add = [&](uint64_t from, uint64_t to, bool hole) {
    if (!chunks.empty()) {
      ReadChunk& last = chunks.back();
      if ((last.data == nullptr) == hole && last.offset + last.length == from) {
        last.length += static_cast<uint32_t>(to - from);
        return;
      }
    }
    chunks.push_back({from, static_cast<uint32_t>(to - from),
                      hole ? nullptr : buffer + (from - r.offset)});
  };
  for (const DeviceExtent& e : *map) {
    uint64_t from = std::max(e.offset, pos);
    uint64_t to = std::min(e.offset + e.length, end);
    if (to <= from) continue;
    if (from > pos) add(pos, from, false);  // a gap in the map: read it
    add(from, to, e.zero && to - from >= kMinHoleChunk);
    pos = to;
  }
  if (pos < end) add(pos, end, false);
  if (chunks.size() == 1 && chunks[0].data != nullptr) return false;

  for (const ReadChunk& c : chunks) {
    if (c.data == nullptr) continue;
    absl::Status status = device_->Read(
        c.offset, absl::Span<char>(buffer + (c.offset - r.offset), c.length));
    if (!status.ok()) {
      ReplyStatus(r, status, reply);
      return true;
    }
  }
  writer_->SendReadChunks(reply, r.handle, chunks);
  return true;
}

namespace {

// Descriptors for [offset, offset + length) from runs that cover it in
// order, merged where flags repeat; with `one`, only the first. Stops at a
// gap rather than guess.
template <typename Run>
std::vector<StatusDescriptor> Describe(const std::vector<Run>& runs, uint64_t offset,
                                       uint64_t length, bool one,
                                       uint32_t (*flags_of)(const Run&)) {
  const uint64_t end = offset + length;
  std::vector<StatusDescriptor> descriptors;
  uint64_t pos = offset;
  for (const Run& e : runs) {
    uint64_t from = std::max(e.offset, pos);
    uint64_t to = std::min(e.offset + e.length, end);
    if (to <= from) continue;
    if (from != pos) break;
    uint32_t flags = flags_of(e);
    if (!descriptors.empty() && descriptors.back().flags == flags) {
      descriptors.back().length += static_cast<uint32_t>(to - from);
    } else {
      if (one && !descriptors.empty()) break;
      if (descriptors.size() == kMaxDescriptors) break;
      descriptors.push_back({static_cast<uint32_t>(to - from), flags});
    }
    pos = to;
  }
  return descriptors;
}

uint32_t AllocationFlags(const DeviceExtent& e) {
  return (e.hole ? kStateHole : 0) | (e.zero ? kStateZero : 0);
}

// A device that is not layered is one layer: position 1 wherever it is not
// a hole.
uint32_t SingleLayerFlags(const DeviceExtent& e) { return e.hole ? 0 : 1; }

uint32_t LayerFlags(const LayerExtent& e) { return e.layer; }

}  // namespace

void RequestExecutor::BlockStatus(const RequestHeader& r, PendingReply* reply) {
  const bool one = (r.flags & kCmdFlagReqOne) != 0;
  std::vector<ContextStatus> contexts;
  std::optional<std::vector<DeviceExtent>> map;
  if (state_.base_allocation || !layered()) {
    absl::StatusOr<std::vector<DeviceExtent>> m = device_->Map(r.offset, r.length);
    if (!m.ok()) {
      ReplyStatus(r, m.status(), reply);
      return;
    }
    map = *std::move(m);
  }
  if (state_.base_allocation)
    contexts.push_back({kBaseAllocationContextId,
                        Describe<DeviceExtent>(*map, r.offset, r.length, one, AllocationFlags)});
  if (state_.layer_context) {
    std::vector<StatusDescriptor> descriptors;
    if (LayeredDevice* layered_device = layered()) {
      absl::StatusOr<LayerMap> layers = layered_device->MapLayers(r.offset, r.length);
      if (!layers.ok()) {
        ReplyStatus(r, layers.status(), reply);
        return;
      }
      descriptors = Describe<LayerExtent>(layers->extents, r.offset, r.length, one, LayerFlags);
    } else {
      descriptors = Describe<DeviceExtent>(*map, r.offset, r.length, one, SingleLayerFlags);
    }
    contexts.push_back({kLayerContextId, std::move(descriptors)});
  }
  // Maps cover what they are asked for; should one not reach the start of
  // the range, a descriptor with flags 0 ("allocated, contents unknown";
  // "no layer" for layerdisk:layer) keeps the reply well-formed.
  for (ContextStatus& c : contexts)
    if (c.descriptors.empty()) c.descriptors.push_back({r.length, 0});
  writer_->SendBlockStatus(reply, r.handle, contexts);
}

}  // namespace layerdisk::nbd
