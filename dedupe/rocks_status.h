// RocksDB status -> absl::Status, in one place. Corruption is DataLoss, a
// full disk is ResourceExhausted, a held lock is Unavailable.
#ifndef LAYERDISK_DEDUPE_ROCKS_STATUS_H_
#define LAYERDISK_DEDUPE_ROCKS_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/status.h"

namespace layerdisk {

inline absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(std::string(what), ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut())
    return absl::UnavailableError(msg);
  if (s.IsInvalidArgument() || s.IsNotSupported())
    return absl::InvalidArgumentError(msg);
  if (s.IsIOError()) {
    // RocksDB reports a store held by another process as an IOError on LOCK.
    if (s.ToString().find("lock") != std::string::npos)
      return absl::UnavailableError(
          absl::StrCat(msg, " (is another layerdisk process using the store?)"));
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

}  // namespace layerdisk

#endif  // LAYERDISK_DEDUPE_ROCKS_STATUS_H_
