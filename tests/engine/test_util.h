// Helpers shared by the engine tests: temp dirs, seeds, deterministic bytes,
// and an in-memory BlockDevice to import layers from.
#ifndef LAYERDISK_TESTS_ENGINE_TEST_UTIL_H_
#define LAYERDISK_TESTS_ENGINE_TEST_UTIL_H_

#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/block_device.h"
#include "gtest/gtest.h"

namespace layerdisk::testing_util {

// A fresh directory under gtest's temp dir, removed when this goes away
// (unless LAYERDISK_KEEP_TEST_DIRS is set, to inspect a failure).
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix) {
    std::string tmpl = ::testing::TempDir();
    if (tmpl.empty() || tmpl.back() != '/') tmpl += '/';
    tmpl += "layerdisk-" + prefix + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
    }
    path_ = buf.data();
  }
  ~ScopedTempDir() {
    if (std::getenv("LAYERDISK_KEEP_TEST_DIRS") != nullptr) {
      std::cout << "[ kept ] " << path_ << std::endl;
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// SplitMix64: small, fast, and the same on every platform (std::mt19937 is
// too, but its distributions are not).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Uniform(uint64_t n) { return Next() % n; }
  // Uniform in [lo, hi].
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Uniform(hi - lo + 1); }
  bool OneIn(uint64_t n) { return Uniform(n) == 0; }

 private:
  uint64_t state_;
};

inline uint64_t Mix(uint64_t a, uint64_t b) {
  Rng r(a * 0x2545f4914f6cdd1dull ^ (b + 0x632be59bd9b4e019ull));
  return r.Next();
}

// Fills `out` with bytes that depend only on (key, absolute byte position), so
// any sub-range of a logical buffer can be regenerated on its own.
inline void FillPattern(uint64_t key, uint64_t position, char* out,
                        size_t len) {
  size_t i = 0;
  while (i < len) {
    uint64_t word_index = (position + i) / 8;
    uint64_t w = Mix(key, word_index);
    size_t in_word = (position + i) % 8;
    size_t n = std::min<size_t>(8 - in_word, len - i);
    std::memcpy(out + i, reinterpret_cast<const char*>(&w) + in_word, n);
    i += n;
  }
}

// The seeds a randomized test runs: LAYERDISK_TEST_SEED=N runs only N,
// LAYERDISK_TEST_SEED=random runs one seed from the clock; otherwise
// `defaults`. Each is printed as "[ seed ] N" so a failure can be replayed.
inline std::vector<uint64_t> TestSeeds(std::vector<uint64_t> defaults) {
  const char* env = std::getenv("LAYERDISK_TEST_SEED");
  if (env != nullptr && *env != '\0') {
    if (std::string(env) == "random") {
      return {static_cast<uint64_t>(
          std::chrono::steady_clock::now().time_since_epoch().count())};
    }
    return {std::strtoull(env, nullptr, 0)};
  }
  return defaults;
}

inline void AnnounceSeed(uint64_t seed) {
  std::cout << "[ seed ] " << seed << "  (replay: LAYERDISK_TEST_SEED=" << seed
            << ")" << std::endl;
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
}

// A read-only (or writable) device held in memory. Blocks of `hole_granule`
// bytes marked as holes read as zeroes and are reported by Map() as holes, as
// a sparse raw image would be.
class MemDevice final : public BlockDevice {
 public:
  MemDevice(std::string data, uint32_t hole_granule = 4096)
      : data_(std::move(data)),
        granule_(hole_granule),
        hole_((data_.size() + granule_ - 1) / granule_, false) {}

  void SetHole(uint64_t granule_index) {
    hole_[granule_index] = true;
    uint64_t off = granule_index * granule_;
    uint64_t n = std::min<uint64_t>(granule_, data_.size() - off);
    std::memset(data_.data() + off, 0, n);
  }
  const std::string& data() const { return data_; }

  uint64_t size() const override { return data_.size(); }
  bool read_only() const override { return true; }
  uint32_t block_size() const override { return 512; }
  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    if (offset > data_.size() || out.size() > data_.size() - offset)
      return absl::InvalidArgumentError("MemDevice: read out of range");
    ++reads_;
    std::memcpy(out.data(), data_.data() + offset, out.size());
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t, absl::Span<const char>, bool) override {
    return absl::PermissionDeniedError("MemDevice is read-only");
  }
  absl::Status WriteZeroes(uint64_t, uint64_t, bool) override {
    return absl::PermissionDeniedError("MemDevice is read-only");
  }
  absl::Status Trim(uint64_t, uint64_t, bool) override {
    return absl::PermissionDeniedError("MemDevice is read-only");
  }
  absl::Status Flush() override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset,
                                                uint64_t length) override {
    if (offset > data_.size() || length > data_.size() - offset)
      return absl::InvalidArgumentError("MemDevice: map out of range");
    std::vector<DeviceExtent> out;
    uint64_t pos = offset, end = offset + length;
    while (pos < end) {
      uint64_t g = pos / granule_;
      uint64_t next = std::min<uint64_t>(end, (g + 1) * granule_);
      bool hole = hole_[g];
      if (!out.empty() && out.back().hole == hole &&
          out.back().offset + out.back().length == pos) {
        out.back().length += next - pos;
      } else {
        out.push_back({pos, next - pos, hole, hole});
      }
      pos = next;
    }
    return out;
  }
  uint64_t reads() const { return reads_; }

 private:
  std::string data_;
  const uint32_t granule_;
  std::vector<bool> hole_;
  std::atomic<uint64_t> reads_{0};
};

// Describes where two equal-length buffers first differ, for failure output.
inline std::string FirstDifference(const char* expected, const char* actual,
                                   size_t len, uint64_t base_offset) {
  for (size_t i = 0; i < len; ++i) {
    if (expected[i] != actual[i]) {
      size_t run = 0;
      while (i + run < len && expected[i + run] != actual[i + run]) ++run;
      bool actual_zero = true;
      for (size_t j = i; j < i + run && j < i + 4096; ++j)
        if (actual[j] != 0) actual_zero = false;
      return absl::StrFormat(
          "first difference at byte %d (sector %d, 4K block %d), %d bytes "
          "differ in a row; expected 0x%02x got 0x%02x%s",
          base_offset + i, (base_offset + i) / 512, (base_offset + i) / 4096,
          run, static_cast<unsigned char>(expected[i]),
          static_cast<unsigned char>(actual[i]),
          actual_zero ? " (actual reads as zeroes)" : "");
    }
  }
  return "equal";
}

}  // namespace layerdisk::testing_util

#define LD_ASSERT_OK(expr)                                   \
  do {                                                       \
    const ::absl::Status ld_st_ = (expr);                    \
    ASSERT_TRUE(ld_st_.ok()) << #expr << ": " << ld_st_;     \
  } while (0)
#define LD_EXPECT_OK(expr)                                   \
  do {                                                       \
    const ::absl::Status ld_st_ = (expr);                    \
    EXPECT_TRUE(ld_st_.ok()) << #expr << ": " << ld_st_;     \
  } while (0)
// `LD_ASSERT_OK_AND_ASSIGN(auto x, F())`
#define LD_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  LD_ASSERT_OK_AND_ASSIGN_IMPL_(LD_TEST_CONCAT_(ld_so_, __LINE__), lhs, expr)
#define LD_TEST_CONCAT_INNER_(a, b) a##b
#define LD_TEST_CONCAT_(a, b) LD_TEST_CONCAT_INNER_(a, b)
#define LD_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)              \
  auto tmp = (expr);                                               \
  ASSERT_TRUE(tmp.ok()) << #expr << ": " << tmp.status();          \
  lhs = std::move(tmp).value()

#endif  // LAYERDISK_TESTS_ENGINE_TEST_UTIL_H_
