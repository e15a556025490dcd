// Running the qemu tools: a child process with captured output, and a
// one-line error when it fails.
#ifndef LAYERDISK_TOOLS_IMAGES_SUBPROCESS_H_
#define LAYERDISK_TOOLS_IMAGES_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace layerdisk {

struct RunResult {
  int exit_code = 0;  // 128 + signal number when killed by one
  std::string out, err;
};

// Runs argv[0] (looked up in PATH) with stdin from /dev/null to its end;
// fails only when it cannot be started (FailedPrecondition naming the
// package to install).
absl::StatusOr<RunResult> Run(const std::vector<std::string>& argv);

// The last non-empty line of `text`, trimmed ("" if none).
std::string LastLine(const std::string& text);

// Runs argv[0] (looked up in PATH) with stdin from /dev/null and returns its
// stdout. A non-zero exit becomes DataLoss (the qemu tools fail on images
// they cannot read) whose message is the command name and the last
// non-empty line of its stderr (qemu-img's reason); a missing
// program is FailedPrecondition naming the package to install.
absl::StatusOr<std::string> RunCapture(const std::vector<std::string>& argv);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_IMAGES_SUBPROCESS_H_
