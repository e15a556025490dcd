// Writes a BlockDevice (a volume, snapshot or layer) out as a sparse raw
// image file, or as a stream of raw bytes.
#ifndef LAYERDISK_ENGINE_EXPORT_RAW_H_
#define LAYERDISK_ENGINE_EXPORT_RAW_H_

#include <string>

#include "absl/status/status.h"
#include "common/block_device.h"
#include "engine/store.h"

namespace layerdisk {

// Writes every byte of `device` to the regular file `path`, replacing it.
// Zero and hole extents, and all-zero pieces of data extents, stay holes in
// the file, so the export costs disk space only for data. The file appears
// under `path` only once it is complete and durable: a failed export leaves
// `path` as it was and no temporary file behind. `progress` may be empty.
absl::Status ExportRaw(BlockDevice& device, const std::string& path,
                       const ProgressFn& progress);

// Writes every byte of `device` in order to `fd` (a pipe, a terminal
// excepted, or whatever standard output is), zeroes included: a stream has
// no holes. `name` names `fd` in errors; a reader that goes away fails the
// export with Cancelled (callers ignore SIGPIPE). A regular file is synced.
absl::Status ExportRawStream(BlockDevice& device, int fd, const std::string& name,
                             const ProgressFn& progress);

}  // namespace layerdisk

#endif  // LAYERDISK_ENGINE_EXPORT_RAW_H_
