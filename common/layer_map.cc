#include "common/layer_map.h"

namespace layerdisk {

const char* ExtentKindName(ExtentKind kind) {
  switch (kind) {
    case ExtentKind::kData:
      return "data";
    case ExtentKind::kZero:
      return "zero";
    case ExtentKind::kHole:
      break;
  }
  return "hole";
}

}  // namespace layerdisk
