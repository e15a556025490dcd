// Human sizes for the command line: "4K", "10GiB", "1T", "512".
#ifndef LAYERDISK_COMMON_SIZE_PARSE_H_
#define LAYERDISK_COMMON_SIZE_PARSE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerdisk {

// Parses a byte count with an optional binary suffix (K, M, G, T, P; "KiB",
// "KB" and "k" mean the same). Rejects overflow, negatives and junk.
absl::StatusOr<uint64_t> ParseSize(std::string_view text);
// Formats a byte count for people: "4.0 KiB", "2.0 GiB".
std::string FormatSize(uint64_t bytes);

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_SIZE_PARSE_H_
