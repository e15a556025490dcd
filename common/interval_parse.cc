#include "common/interval_parse.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/size_parse.h"

namespace layerdisk {
namespace {

struct Unit {
  char letter;
  uint64_t seconds;
};
// Largest first, for FormatInterval.
constexpr Unit kUnits[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

}  // namespace

absl::StatusOr<uint64_t> ParseInterval(std::string_view text) {
  const std::string shown(text);
  auto bad = [&shown] {
    return absl::InvalidArgumentError(absl::StrFormat(
        "'%s' is not an interval (expected e.g. 30s, 15m, 1h, 1d)", shown));
  };
  const LeadingCount n = SplitLeadingCount(text);
  if (n.overflow)
    return absl::InvalidArgumentError(absl::StrFormat("interval '%s' is too long", shown));
  if (!n.has_digits || n.unit.size() != 1) return bad();
  const uint64_t value = n.count;
  if (value == 0)
    return absl::InvalidArgumentError(absl::StrFormat("interval '%s' must be positive", shown));
  const char letter = absl::ascii_tolower(n.unit[0]);
  for (const Unit& unit : kUnits) {
    if (unit.letter != letter) continue;
    if (value > UINT64_MAX / unit.seconds)
      return absl::InvalidArgumentError(absl::StrFormat("interval '%s' is too long", shown));
    return value * unit.seconds;
  }
  return bad();
}

std::string FormatInterval(uint64_t seconds) {
  for (const Unit& unit : kUnits)
    if (seconds != 0 && seconds % unit.seconds == 0)
      return absl::StrFormat("%d%c", seconds / unit.seconds, unit.letter);
  return absl::StrFormat("%ds", seconds);
}

}  // namespace layerdisk
