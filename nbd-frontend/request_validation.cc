#include "nbd-frontend/request_validation.h"

namespace layerdisk::nbd {
namespace {

// Flags each command accepts. FUA is accepted everywhere: the spec makes it
// valid on every command and existing clients set it on reads.
uint16_t AllowedFlags(uint16_t type, bool structured) {
  switch (type) {
    case kCmdRead:
      return kCmdFlagFua | (structured ? kCmdFlagDf : 0);
    case kCmdWrite:
    case kCmdTrim:
    case kCmdFlush:
    case kCmdDisc:
      return kCmdFlagFua;
    case kCmdWriteZeroes:
      return kCmdFlagFua | kCmdFlagNoHole | kCmdFlagFastZero;
    case kCmdBlockStatus:
      return kCmdFlagFua | kCmdFlagReqOne;
    default:
      return 0;
  }
}

bool KnownCommand(uint16_t type) {
  switch (type) {
    case kCmdRead:
    case kCmdWrite:
    case kCmdDisc:
    case kCmdFlush:
    case kCmdTrim:
    case kCmdWriteZeroes:
    case kCmdBlockStatus:
      return true;
    default:
      return false;
  }
}

}  // namespace

uint32_t ValidateRequest(const RequestHeader& r, const ExportState& state) {
  if (!KnownCommand(r.type)) return kEinval;
  if ((r.flags & ~AllowedFlags(r.type, state.structured_replies)) != 0)
    return kEinval;
  if (r.type == kCmdDisc) return 0;
  if (r.type == kCmdFlush) return (r.offset == 0 && r.length == 0) ? 0 : kEinval;
  if (r.type == kCmdBlockStatus &&
      (!state.structured_replies || !(state.base_allocation || state.layer_context)))
    return kEinval;

  const bool is_write = IsWriteCommand(r.type);
  if (is_write && state.read_only) return kEperm;
  if (r.length == 0) return kEinval;
  if ((r.type == kCmdRead || r.type == kCmdWrite) && r.length > kMaxPayload)
    return kEinval;
  // Written so that offset + length cannot overflow.
  if (r.offset > state.size || r.length > state.size - r.offset)
    return is_write ? kEnospc : kEinval;
  return 0;
}

}  // namespace layerdisk::nbd
