#include "tools/progress.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "common/size_parse.h"
#include "tools/output.h"

namespace layerdisk {
namespace {

constexpr int kBarWidth = 30;
// Redrawing more often only costs terminal bandwidth.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)),
      enabled_(::isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  absl::MutexLock lock(&mu_);
  if (drawn_) std::fprintf(stderr, "\r\033[K");
}

ProgressFn ProgressBar::Callback() {
  return [this](uint64_t done, uint64_t total) { Update(done, total); };
}

double ProgressBar::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
      .count();
}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  absl::MutexLock lock(&mu_);
  auto now = std::chrono::steady_clock::now();
  // Throttled, except that the final state is drawn once. A total of 0 is
  // unknown (a stream): never final.
  const bool final = total != 0 && done >= total;
  if (drawn_ && (final ? last_done_ == done : now - last_draw_ < kRedrawInterval)) return;
  last_draw_ = now;
  last_done_ = done;
  Draw(done, total);
}

void ProgressBar::Draw(uint64_t done, uint64_t total) {
  if (total == 0) {  // unknown: no bar to fill
    std::fprintf(stderr, "\r\033[K%s  %s  %s", label_.c_str(), FormatSize(done).c_str(),
                 FormatRate(done, Elapsed()).c_str());
    std::fflush(stderr);
    drawn_ = true;
    return;
  }
  double fraction = total ? static_cast<double>(done) / total : 1.0;
  if (fraction > 1) fraction = 1;
  int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar = std::string(filled, '#') + std::string(kBarWidth - filled, '.');
  std::fprintf(stderr, "\r\033[K%s [%s] %3d%%  %s / %s  %s", label_.c_str(),
               bar.c_str(), static_cast<int>(fraction * 100),
               FormatSize(done).c_str(), FormatSize(total).c_str(),
               FormatRate(done, Elapsed()).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace layerdisk
