#include "common/interval_parse.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

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
  std::string_view s = text;
  while (!s.empty() && absl::ascii_isspace(s.front())) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(s.back())) s.remove_suffix(1);
  uint64_t value = 0;
  size_t i = 0;
  for (; i < s.size() && absl::ascii_isdigit(s[i]); ++i) {
    uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (value > (UINT64_MAX - digit) / 10)
      return absl::InvalidArgumentError(absl::StrFormat("interval '%s' is too long", shown));
    value = value * 10 + digit;
  }
  if (i == 0 || i + 1 != s.size()) return bad();
  if (value == 0)
    return absl::InvalidArgumentError(absl::StrFormat("interval '%s' must be positive", shown));
  const char letter = absl::ascii_tolower(s[i]);
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
