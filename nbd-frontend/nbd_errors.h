// The one place absl::Status codes become NBD error values.
#ifndef LAYERDISK_NBD_FRONTEND_NBD_ERRORS_H_
#define LAYERDISK_NBD_FRONTEND_NBD_ERRORS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace layerdisk::nbd {

// `is_write`: the command writes (WRITE, TRIM, WRITE_ZEROES), where the spec
// asks for ENOSPC rather than EINVAL for a range past the end.
// REQUIRES: !status.ok().
uint32_t ErrorFromStatus(const absl::Status& status, bool is_write);

}  // namespace layerdisk::nbd

#endif  // LAYERDISK_NBD_FRONTEND_NBD_ERRORS_H_
