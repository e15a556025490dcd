#include "common/size_parse.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace layerdisk {

LeadingCount SplitLeadingCount(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && absl::ascii_isspace(s.front())) s.remove_prefix(1);
  while (!s.empty() && absl::ascii_isspace(s.back())) s.remove_suffix(1);
  LeadingCount out;
  size_t i = 0;
  for (; i < s.size() && absl::ascii_isdigit(s[i]); ++i) {
    uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (out.count > (UINT64_MAX - digit) / 10) {
      out.overflow = true;
      return out;
    }
    out.count = out.count * 10 + digit;
  }
  out.has_digits = i > 0;
  out.unit = s.substr(i);
  return out;
}

absl::StatusOr<uint64_t> ParseSize(std::string_view text) {
  const LeadingCount n = SplitLeadingCount(text);
  if (n.overflow)
    return absl::InvalidArgumentError(
        absl::StrFormat("size '%s' is too large", std::string(text)));
  if (!n.has_digits)
    return absl::InvalidArgumentError(
        absl::StrFormat("'%s' is not a size (expected e.g. 4K, 10G, 512)", std::string(text)));
  const uint64_t value = n.count;
  std::string suffix = absl::AsciiStrToUpper(std::string(n.unit));
  int shift = 0;
  if (suffix.empty() || suffix == "B") shift = 0;
  else if (suffix == "K" || suffix == "KB" || suffix == "KIB") shift = 10;
  else if (suffix == "M" || suffix == "MB" || suffix == "MIB") shift = 20;
  else if (suffix == "G" || suffix == "GB" || suffix == "GIB") shift = 30;
  else if (suffix == "T" || suffix == "TB" || suffix == "TIB") shift = 40;
  else if (suffix == "P" || suffix == "PB" || suffix == "PIB") shift = 50;
  else
    return absl::InvalidArgumentError(
        absl::StrFormat("size '%s' has an unknown unit", std::string(text)));
  if (shift > 0 && value > (UINT64_MAX >> shift))
    return absl::InvalidArgumentError(
        absl::StrFormat("size '%s' is too large", std::string(text)));
  return value << shift;
}

std::string FormatSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024.0 && unit < 6) {
    v /= 1024.0;
    ++unit;
  }
  if (unit == 0) return absl::StrFormat("%d B", bytes);
  return absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

}  // namespace layerdisk
