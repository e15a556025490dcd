// Human time intervals for the command line: "30s", "15m", "1h", "1d".
#ifndef LAYERDISK_COMMON_INTERVAL_PARSE_H_
#define LAYERDISK_COMMON_INTERVAL_PARSE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerdisk {

// Parses a positive whole number followed by one unit, s (seconds),
// m (minutes), h (hours) or d (days), into seconds. Rejects zero, a missing
// unit, overflow and junk.
absl::StatusOr<uint64_t> ParseInterval(std::string_view text);
// Formats seconds in the largest unit that divides them: "1d", "90m", "45s".
std::string FormatInterval(uint64_t seconds);

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_INTERVAL_PARSE_H_
