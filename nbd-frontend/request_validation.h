// Checks a transmission-phase request before any device sees it: command,
// flags, read-only, range. The only place these rules live, as in nbdkit.
#ifndef LAYERDISK_NBD_FRONTEND_REQUEST_VALIDATION_H_
#define LAYERDISK_NBD_FRONTEND_REQUEST_VALIDATION_H_

#include <cstdint>

#include "nbd-frontend/nbd_protocol.h"

namespace layerdisk::nbd {

// What was negotiated for the connection.
struct ExportState {
  uint64_t size = 0;
  bool read_only = false;
  bool structured_replies = false;
  bool base_allocation = false;  // base:allocation selected
  bool layer_context = false;    // layerdisk:layer selected
};

// Returns 0 if the request may run, else the NBD error to reply with.
uint32_t ValidateRequest(const RequestHeader& request, const ExportState& state);

inline bool IsWriteCommand(uint16_t type) {
  return type == kCmdWrite || type == kCmdTrim || type == kCmdWriteZeroes;
}

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_REQUEST_VALIDATION_H_
