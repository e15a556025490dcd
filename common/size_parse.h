// Human sizes for the command line: "4K", "10GiB", "1T", "512".
#ifndef LAYERDISK_COMMON_SIZE_PARSE_H_
#define LAYERDISK_COMMON_SIZE_PARSE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace layerdisk {

// The front half of parsing a quantity: a decimal count and the unit
// written after it ("10G" -> 10, "G"), spaces around the whole trimmed.
struct LeadingCount {
  bool has_digits = false;
  bool overflow = false;  // more than 64 bits
  uint64_t count = 0;
  std::string_view unit;  // whatever follows the digits; a view into the text
};
LeadingCount SplitLeadingCount(std::string_view text);

// Parses a byte count with an optional binary suffix (K, M, G, T, P; "KiB",
// "KB" and "k" mean the same). Rejects overflow, negatives and junk.
absl::StatusOr<uint64_t> ParseSize(std::string_view text);
// Formats a byte count for people: "4.0 KiB", "2.0 GiB".
std::string FormatSize(uint64_t bytes);

}  // namespace layerdisk

#endif  // LAYERDISK_COMMON_SIZE_PARSE_H_
