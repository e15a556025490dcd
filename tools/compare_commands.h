// What `volume create` says about a stack whose layers override each other.
#ifndef LAYERDISK_TOOLS_COMPARE_COMMANDS_H_
#define LAYERDISK_TOOLS_COMPARE_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/store.h"

namespace layerdisk {

// One line per pair of `layers` (lowest first) that both map blocks with
// different content, naming the layer that wins; empty when none do.
absl::StatusOr<std::vector<std::string>> StackWarnings(Store& store,
                                                       const std::vector<std::string>& layers);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_COMPARE_COMMANDS_H_
