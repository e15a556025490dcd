// How the `layerdisk` commands print: a result as text for people or as JSON
// (--json) for scripts, and an error as one line plus an exit code. The JSON
// shape of each engine struct is defined once here.
#ifndef LAYERDISK_TOOLS_OUTPUT_H_
#define LAYERDISK_TOOLS_OUTPUT_H_

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "engine/store.h"

namespace layerdisk {

// Exit codes, so scripts can tell "you typed it wrong" from "it is in use"
// without parsing the message.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,        // anything not listed below
  kExitUsage = 2,          // bad command line, name, size or argument
  kExitNotFound = 3,       // no such layer, volume, snapshot or file
  kExitExists = 4,         // the name is taken
  kExitRefused = 5,        // in use, or not allowed in the current state
  kExitDamaged = 6,        // stored data failed verification (fsck)
  kExitBusy = 7,           // another process owns the store
  kExitNoSpace = 8,        // the disk is full
};

int ExitCodeFor(const absl::Status& status);
// Prints "layerdisk: error: <message>" (one line) to stderr and returns the
// exit code for `status`.
int ReportError(const absl::Status& status);

// Prints `doc` (JSON mode) or `text` (a trailing newline is added if
// missing) to `out`: stdout, or stderr when stdout carries data.
void Emit(bool json, const nlohmann::json& doc, const std::string& text,
          std::ostream& out = std::cout);

nlohmann::json ToJson(const LayerInfo& layer);
nlohmann::json ToJson(const VolumeInfo& volume);
nlohmann::json ToJson(const SnapshotInfo& snapshot);
nlohmann::json ToJson(const SpaceStats& space);
nlohmann::json ToJson(const SnapshotSchedule& schedule);
nlohmann::json ToJson(const RebaseReport& report);

// Left-aligned columns separated by two spaces; the first row is the header.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);
// "2026-11-23 02:22:08" in the local time zone.
std::string FormatUnixTime(uint64_t unix_seconds);
// "2.07x".
std::string FormatRatio(double ratio);
// "123.4 MB/s" (decimal megabytes, as disk benchmarks report).
std::string FormatRate(uint64_t bytes, double seconds);
// Bytes per second in decimal megabytes, 0 when no time passed.
double MegabytesPerSecond(uint64_t bytes, double seconds);

}  // namespace layerdisk

#endif  // LAYERDISK_TOOLS_OUTPUT_H_
