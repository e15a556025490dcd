#include "tools/output.h"

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/interval_parse.h"
#include "common/size_parse.h"

namespace layerdisk {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kAlreadyExists:
      return kExitExists;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return kExitRefused;
    case absl::StatusCode::kDataLoss:
      return kExitDamaged;
    case absl::StatusCode::kUnavailable:
      return kExitBusy;
    case absl::StatusCode::kResourceExhausted:
      return kExitNoSpace;
    default:
      return kExitFailure;
  }
}

int ReportError(const absl::Status& status) {
  // One line, whatever the message holds, so `2>&1 | tail -1` finds it.
  std::string message = absl::StrReplaceAll(status.message(), {{"\n", "; "}});
  if (message.empty()) message = absl::StatusCodeToString(status.code());
  std::fprintf(stderr, "layerdisk: error: %s\n", message.c_str());
  return ExitCodeFor(status);
}

void Emit(bool json, const nlohmann::json& doc, const std::string& text, std::ostream& out) {
  if (json) {
    // Names are ASCII, but paths in `source` need not be UTF-8: replace
    // invalid bytes rather than throw.
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    out << text;
    if (!text.empty() && text.back() != '\n') out << "\n";
  }
  out.flush();
}

nlohmann::json ToJson(const LayerInfo& layer) {
  return {{"name", layer.name},
          {"id", layer.id},
          {"size", layer.size},
          {"logical_bytes", layer.logical_bytes},
          {"created_unix", layer.created_unix},
          {"sealed", layer.sealed},
          {"source", layer.source},
          {"parent", layer.parent},
          {"image_id", layer.image_id},
          {"fetching", layer.fetching},
          {"fetch_chunks", layer.fetch_chunks},
          {"fetched_chunks", layer.fetched_chunks},

          {"description", layer.description},
          {"content_digest", layer.content_digest},
          {"content_sha256", layer.content_sha256},
          {"base", layer.base}};
}

nlohmann::json ToJson(const VolumeInfo& volume) {
  return {{"name", volume.name},
          {"size", volume.size},
          {"layers", volume.layers},
          {"depth", volume.depth},
          {"head_bytes", volume.head_bytes},
          {"created_unix", volume.created_unix},
          {"snapshots", volume.snapshots}};
}

nlohmann::json ToJson(const SnapshotInfo& snapshot) {
  return {{"volume", snapshot.volume},
          {"name", snapshot.name},
          {"created_unix_ms", snapshot.created_unix_ms},
          {"changed_bytes", snapshot.changed_bytes},
          {"scheduled", snapshot.scheduled}};
}

nlohmann::json ToJson(const SnapshotSchedule& schedule) {
  return {{"volume", schedule.volume},
          {"every_seconds", schedule.every_seconds},
          {"every", FormatInterval(schedule.every_seconds)},
          {"keep", schedule.keep},
          {"next_due_unix", schedule.next_due_unix}};
}

nlohmann::json ToJson(const RebaseReport& report) {
  nlohmann::json conflicts = nlohmann::json::array();
  uint64_t bytes = 0;
  for (const ByteRange& r : report.conflicts) {
    conflicts.push_back({{"offset", r.offset}, {"length", r.length}});
    bytes += r.length;
  }
  return {{"volume", report.volume},
          {"old_layers", report.old_layers},
          {"new_layers", report.new_layers},
          {"conflicts", conflicts},
          {"conflict_bytes", bytes},
          {"applied", report.applied}};
}

nlohmann::json ToJson(const SpaceStats& space) {
  nlohmann::json doc = {{"logical_bytes", space.logical_bytes},
                        {"unique_bytes", space.unique_bytes},
                        {"stored_bytes", space.stored_bytes},
                        {"dedup_ratio", space.dedup_ratio},
                        {"compression_ratio", space.compression_ratio}};
  if (!space.name.empty()) doc["name"] = space.name;
  return doc;
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string FormatUnixTime(uint64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S",
                          absl::FromUnixSeconds(static_cast<int64_t>(unix_seconds)),
                          absl::LocalTimeZone());
}

std::string FormatRatio(double ratio) { return absl::StrFormat("%.2fx", ratio); }

double MegabytesPerSecond(uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0.0;
}

std::string FormatRate(uint64_t bytes, double seconds) {
  return absl::StrFormat("%.1f MB/s", MegabytesPerSecond(bytes, seconds));
}

}  // namespace layerdisk
