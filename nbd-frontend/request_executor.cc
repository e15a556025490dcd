#include "nbd-frontend/request_executor.h"

#include <algorithm>
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
  if (status.code() == absl::StatusCode::kAborted)
    device_gone_.store(true, std::memory_order_relaxed);
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

void RequestExecutor::BlockStatus(const RequestHeader& r, PendingReply* reply) {
  absl::StatusOr<std::vector<DeviceExtent>> map = device_->Map(r.offset, r.length);
  if (!map.ok()) {
    ReplyStatus(r, map.status(), reply);
    return;
  }
  const uint64_t end = r.offset + r.length;
  const bool one = (r.flags & kCmdFlagReqOne) != 0;
  std::vector<StatusDescriptor> descriptors;
  uint64_t pos = r.offset;
  for (const DeviceExtent& e : *map) {
    uint64_t from = std::max(e.offset, pos);
    uint64_t to = std::min(e.offset + e.length, end);
    // Descriptors must be consecutive: stop at a gap rather than guess.
    if (to <= from) continue;
    if (from != pos) break;
    uint32_t flags = (e.hole ? kStateHole : 0) | (e.zero ? kStateZero : 0);
    if (!descriptors.empty() && descriptors.back().flags == flags) {
      descriptors.back().length += static_cast<uint32_t>(to - from);
    } else {
      if (one && !descriptors.empty()) break;
      if (descriptors.size() == kMaxDescriptors) break;
      descriptors.push_back({static_cast<uint32_t>(to - from), flags});
    }
    pos = to;
  }
  // "Allocated, contents unknown" is always a truthful answer.
  if (descriptors.empty()) descriptors.push_back({r.length, 0});
  writer_->SendBlockStatus(reply, r.handle, kBaseAllocationContextId, descriptors);
}

}  // namespace layerdisk::nbd
