// Hostile VHD and VHDX metadata, at random: a few bytes of a valid image's
// structures (VHDX headers, region tables, metadata and BAT; VHD footer,
// dynamic header, BAT and sector bitmaps) overwritten, with the checksums
// made right again in half the cases so the damage reaches the parsers
// behind them. Every case must end in a clean error or in an image whose
// allocated ranges read without fault (the sanitized build checks the
// memory); the test counts both, so it fails if the mutations stop biting.
// Replay a case with LAYERDISK_TEST_SEED=<seed> (printed as "[ seed ] N").
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/engine/test_util.h"
#include "tools/images/image_chain.h"

namespace layerdisk {
namespace {

using testing_util::ScopedTempDir;

constexpr int kCasesPerImage = 200;
constexpr uint64_t kMaxReadPerCase = 16ull << 20;  // a forged size may be huge

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

uint32_t Crc32c(const char* data, size_t n) {
  uint32_t crc = 0xFFFFFFFF;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint8_t>(data[i]);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78 : 0);
  }
  return ~crc;
}

uint64_t Get(const std::string& b, size_t at, int bytes, bool big_endian) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    uint8_t byte = static_cast<uint8_t>(b[at + (big_endian ? i : bytes - 1 - i)]);
    v = v << 8 | byte;
  }
  return v;
}

void Put(std::string* b, size_t at, uint64_t v, int bytes, bool big_endian) {
  for (int i = 0; i < bytes; ++i) {
    (*b)[at + (big_endian ? bytes - 1 - i : i)] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
}

// A byte range of an image's metadata, and how to make its checksum right.
struct Window {
  uint64_t offset;
  uint64_t length;
};

// VHDX: the headers and region tables (CRC-32C at offset 4 of each), and
// the regions the table names (metadata, BAT).
std::vector<Window> VhdxWindows(const std::string& img) {
  std::vector<Window> w = {{0, 64 << 10}, {64 << 10, 4096}, {128 << 10, 4096},
                           {192 << 10, 64 << 10}, {256 << 10, 64 << 10}};
  const size_t table = 192 << 10;
  const uint32_t entries = static_cast<uint32_t>(Get(img, table + 8, 4, false));
  for (uint32_t i = 0; i < entries && i < 16; ++i) {
    const size_t e = table + 16 + 32 * i;
    uint64_t off = Get(img, e + 16, 8, false), len = Get(img, e + 24, 4, false);
    if (off < img.size()) w.push_back({off, std::min<uint64_t>(len, img.size() - off)});
  }
  return w;
}

void FixVhdx(std::string* img) {
  for (size_t at : {size_t{64} << 10, size_t{128} << 10}) {
    Put(img, at + 4, 0, 4, false);
    Put(img, at + 4, Crc32c(img->data() + at, 4096), 4, false);
  }
  for (size_t at : {size_t{192} << 10, size_t{256} << 10}) {
    Put(img, at + 4, 0, 4, false);
    Put(img, at + 4, Crc32c(img->data() + at, 64 << 10), 4, false);
  }
}

// VHD: the footer (and its copy at 0), the dynamic header, the BAT and the
// sector bitmap of each allocated block.
std::vector<Window> VhdWindows(const std::string& img) {
  const uint64_t end = img.size();
  std::vector<Window> w = {{0, 512}, {512, 1024}, {end - 512, 512}};
  const uint64_t bat = Get(img, 512 + 16, 8, true);
  const uint64_t entries = Get(img, 512 + 28, 4, true);
  if (bat < end) w.push_back({bat, std::min<uint64_t>(entries * 4, end - bat)});
  for (uint64_t i = 0; i < entries && bat + 4 * i + 4 <= end; ++i) {
    uint64_t sector = Get(img, bat + 4 * i, 4, true);
    if (sector != 0xFFFFFFFF && sector * 512 < end)
      w.push_back({sector * 512, std::min<uint64_t>(512, end - sector * 512)});
  }
  return w;
}

void FixVhdChecksum(std::string* img, size_t at, size_t length, size_t field) {
  Put(img, at + field, 0, 4, true);
  uint32_t sum = 0;
  for (size_t i = 0; i < length; ++i) sum += static_cast<uint8_t>((*img)[at + i]);
  Put(img, at + field, ~sum, 4, true);
}

void FixVhd(std::string* img) {
  FixVhdChecksum(img, img->size() - 512, 512, 64);
  FixVhdChecksum(img, 0, 512, 64);
  FixVhdChecksum(img, 512, 1024, 36);
}

// Overwrites 1-4 spots of the windows: single bytes, or a whole 2, 4 or 8
// byte field set to a boundary value.
void Mutate(std::string* img, const std::vector<Window>& windows, std::mt19937_64& rng) {
  const int spots = 1 + static_cast<int>(rng() % 4);
  for (int s = 0; s < spots; ++s) {
    const Window& w = windows[rng() % windows.size()];
    if (w.length == 0) continue;
    uint64_t at = w.offset + rng() % w.length;
    const int width = std::vector<int>{1, 1, 2, 4, 8}[rng() % 5];
    at -= at % width;
    if (at + width > img->size()) continue;
    static const uint64_t kBoundary[] = {0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x80000000,
                                         0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, ~uint64_t{0}};
    const uint64_t v = rng() % 3 == 0 ? rng() : kBoundary[rng() % 10];
    Put(img, at, v, width, rng() % 2 == 0);
  }
}

struct Outcome {
  int refused = 0;
  int read = 0;
};

// Opens `path` as an import would and reads what it says it allocates.
void OpenAndRead(const std::string& path, Outcome* outcome) {
  absl::StatusOr<std::vector<ImageLink>> chain = OpenImageChain(path, "auto");
  if (!chain.ok()) {
    EXPECT_FALSE(chain.status().message().empty());
    ++outcome->refused;
    return;
  }
  uint64_t budget = kMaxReadPerCase;
  for (const ImageLink& link : *chain) {
    absl::StatusOr<std::unique_ptr<BlockDevice>> dev = link.open();
    if (!dev.ok()) {
      EXPECT_FALSE(dev.status().message().empty());
      ++outcome->refused;
      return;
    }
    absl::StatusOr<std::vector<DeviceExtent>> map = (*dev)->Map(0, (*dev)->size());
    if (!map.ok()) {
      ++outcome->refused;
      return;
    }
    std::string buf;
    for (const DeviceExtent& e : *map) {
      if (e.hole || e.zero) continue;
      for (uint64_t pos = e.offset; pos < e.offset + e.length && budget > 0;) {
        uint64_t n = std::min<uint64_t>({e.offset + e.length - pos, 1 << 20, budget});
        buf.resize(n);
        absl::Status s = (*dev)->Read(pos, absl::MakeSpan(buf));
        if (!s.ok()) {
          EXPECT_FALSE(s.message().empty());
          ++outcome->refused;
          return;
        }
        pos += n;
        budget -= n;
      }
    }
  }
  ++outcome->read;
}

class ImageMutationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v qemu-img >/dev/null") != 0)
      GTEST_SKIP() << "qemu-img is not installed (it makes the images mutated here)";
    dir_ = tmp_.path();
    // 8 MiB: half random blocks, half holes; a differencing child over it.
    Run("python3 -c \"import random; r=random.Random(3); f=open('src.raw','wb');"
        "[f.write(r.randbytes(1<<20) if i%2==0 else bytes(1<<20)) for i in range(8)]\"");
    Run("qemu-img convert -f raw -O vhdx -o subformat=dynamic,block_size=1M src.raw base.vhdx");
    Run("qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on src.raw base.vhd");
    for (const char* fmt : {"vhd", "vhdx"})
      Run(std::string("python3 ") + LAYERDISK_SOURCE_DIR + "/tests/images/make_differencing.py " +
          fmt + " base." + fmt + " child." + fmt + " src.raw /dev/null --seed 5 " +
          "4096:8192 1048576:4096 3145728:65536");
  }

  void Run(const std::string& command) {
    ASSERT_EQ(std::system(("cd " + dir_ + " && " + command).c_str()), 0) << command;
  }

  // Mutated copies of `name`, opened and read one by one. The copy is
  // written once; each case writes only the bytes it changes and puts them
  // back after.
  void Fuzz(const std::string& name, bool vhdx) {
    const std::string original = Slurp(dir_ + "/" + name);
    ASSERT_FALSE(original.empty());
    const std::vector<Window> windows = vhdx ? VhdxWindows(original) : VhdWindows(original);
    // A differencing child finds its parent by the name it records: the
    // mutated copy takes the original's place.
    const std::string path = dir_ + "/" + name;
    const int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << path;
    Outcome outcome;
    auto run = [&](uint64_t seed) {
      std::mt19937_64 rng(seed);
      std::string img = original;
      Mutate(&img, windows, rng);
      if (rng() % 2 == 0) vhdx ? FixVhdx(&img) : FixVhd(&img);
      WriteChanges(fd, original, img, windows);
      OpenAndRead(path, &outcome);
      WriteChanges(fd, img, original, windows);
    };
    if (std::getenv("LAYERDISK_TEST_SEED") != nullptr) {
      for (uint64_t seed : testing_util::TestSeeds({})) run(seed);
    } else {
      for (int i = 0; i < kCasesPerImage && !HasFailure(); ++i) {
        const uint64_t seed = std::hash<std::string>()(name) + i;
        run(seed);
        if (HasFailure()) testing_util::AnnounceSeed(seed);
      }
      // Both kinds of outcome occur, or the mutations no longer reach the
      // parsers (or no longer leave anything readable).
      std::cout << name << ": " << outcome.refused << " refused, " << outcome.read
                << " read" << std::endl;
      EXPECT_GT(outcome.refused, kCasesPerImage / 10) << name;
      EXPECT_GT(outcome.read, kCasesPerImage / 10) << name;
    }
    ::close(fd);
    EXPECT_EQ(Slurp(path), original) << "a case left its changes behind";
  }

  // Writes the bytes of the windows where `to` differs from `from`.
  static void WriteChanges(int fd, const std::string& from, const std::string& to,
                           const std::vector<Window>& windows) {
    for (const Window& w : windows) {
      for (uint64_t i = w.offset; i < w.offset + w.length;) {
        if (from[i] == to[i]) {
          ++i;
          continue;
        }
        uint64_t j = i;
        while (j < w.offset + w.length && from[j] != to[j]) ++j;
        ASSERT_EQ(::pwrite(fd, to.data() + i, j - i, static_cast<off_t>(i)),
                  static_cast<ssize_t>(j - i));
        i = j;
      }
    }
  }

  ScopedTempDir tmp_{"image_mutation"};
  std::string dir_;
};

TEST_F(ImageMutationTest, VhdxWholeDisk) { Fuzz("base.vhdx", /*vhdx=*/true); }
TEST_F(ImageMutationTest, VhdxDifferencing) { Fuzz("child.vhdx", /*vhdx=*/true); }
TEST_F(ImageMutationTest, VhdWholeDisk) { Fuzz("base.vhd", /*vhdx=*/false); }
TEST_F(ImageMutationTest, VhdDifferencing) { Fuzz("child.vhd", /*vhdx=*/false); }

}  // namespace
}  // namespace layerdisk
