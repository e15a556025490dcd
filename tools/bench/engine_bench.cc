// engine_bench: throughput of a layerdisk volume beside a plain raw file on
// the same disk doing the same I/O pattern, plus import speed, dedup and
// compression ratios, snapshot latency and peak memory.
//
// Each measurement runs once to warm up, then --repeats times alternating
// engine and plain file; the medians are printed with their ratio. Caches
// stay warm on both sides (no O_DIRECT): the figures show what the engine
// costs over the page cache, not what the disk can do. Nothing here asserts
// on timing.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_format.h"
#include "common/env.h"
#include "common/size_parse.h"
#include "common/status_macros.h"
#include "engine/raw_image.h"
#include "engine/store.h"

namespace layerdisk {
namespace {

constexpr uint64_t kSeqIo = 1ull << 20;
constexpr uint64_t kRandIo = 4096;

struct Config {
  std::string parent_dir;
  uint64_t size_mib = 256;
  int repeats = 5;
  uint64_t random_ops = 16384;
};

double Seconds(const std::function<absl::Status()>& fn, absl::Status* status) {
  auto start = std::chrono::steady_clock::now();
  *status = fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

// The image every volume starts from: like an OS disk, half text that
// compresses and half random bytes that do not, in 64 KiB runs.
std::string ImagePiece(std::mt19937_64& rng, uint64_t offset) {
  std::string piece(kSeqIo, '\0');
  for (uint64_t run = 0; run < kSeqIo; run += 65536) {
    if ((offset + run) / 65536 % 2 == 0) {
      for (uint64_t i = 0; i < 65536; i += 8) {
        uint64_t r = rng();
        std::memcpy(&piece[run + i], &r, 8);
      }
    } else {
      std::string line = absl::StrFormat("block %012d of a generated system file\n",
                                         (offset + run) / 4096);
      for (uint64_t i = 0; i < 65536; ++i) piece[run + i] = line[i % line.size()];
    }
  }
  return piece;
}

// A plain file doing the same I/O: the peer every engine figure is set
// against.
class PlainFile {
 public:
  static absl::StatusOr<std::unique_ptr<PlainFile>> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return IOError("open", path, errno);
    return std::make_unique<PlainFile>(path, fd);
  }
  PlainFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PlainFile() { ::close(fd_); }
  absl::Status Read(uint64_t off, absl::Span<char> out) {
    if (::pread(fd_, out.data(), out.size(), off) != ssize_t(out.size()))
      return IOError("read", path_, errno);
    return absl::OkStatus();
  }
  absl::Status Write(uint64_t off, std::string_view data) {
    if (::pwrite(fd_, data.data(), data.size(), off) != ssize_t(data.size()))
      return IOError("write", path_, errno);
    return absl::OkStatus();
  }
  absl::Status Flush() {
    if (::fdatasync(fd_) != 0) return IOError("sync", path_, errno);
    return absl::OkStatus();
  }

 private:
  std::string path_;
  int fd_;
};

// One I/O interface over both sides.
struct Target {
  std::function<absl::Status(uint64_t, absl::Span<char>)> read;
  std::function<absl::Status(uint64_t, std::string_view)> write;
  std::function<absl::Status()> flush;
};

Target EngineTarget(BlockDevice* d) {
  return {[d](uint64_t o, absl::Span<char> b) { return d->Read(o, b); },
          [d](uint64_t o, std::string_view s) { return d->Write(o, s, false); },
          [d] { return d->Flush(); }};
}

Target PlainTarget(PlainFile* f) {
  return {[f](uint64_t o, absl::Span<char> b) { return f->Read(o, b); },
          [f](uint64_t o, std::string_view s) { return f->Write(o, s); },
          [f] { return f->Flush(); }};
}

enum class Pattern { kSeqRead, kRandRead, kSeqWrite, kRandWrite };

// Runs `pattern` over [0, size) and returns the bytes moved.
absl::StatusOr<uint64_t> RunPattern(const Target& t, Pattern pattern, uint64_t size,
                                    uint64_t random_ops, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string buf(kSeqIo, '\0');
  for (size_t i = 0; i < buf.size(); i += 8) {
    uint64_t r = rng();
    std::memcpy(&buf[i], &r, 8);
  }
  const uint64_t blocks = size / kRandIo;
  switch (pattern) {
    case Pattern::kSeqRead:
      for (uint64_t off = 0; off < size; off += kSeqIo)
        RETURN_IF_ERROR(t.read(off, absl::MakeSpan(buf.data(), kSeqIo)));
      return size;
    case Pattern::kSeqWrite:
      for (uint64_t off = 0; off < size; off += kSeqIo) {
        buf[0] = static_cast<char>(off >> 20);  // no two pieces alike
        RETURN_IF_ERROR(t.write(off, std::string_view(buf.data(), kSeqIo)));
      }
      RETURN_IF_ERROR(t.flush());
      return size;
    case Pattern::kRandRead:
      for (uint64_t i = 0; i < random_ops; ++i)
        RETURN_IF_ERROR(t.read(rng() % blocks * kRandIo, absl::MakeSpan(buf.data(), kRandIo)));
      return random_ops * kRandIo;
    case Pattern::kRandWrite:
      for (uint64_t i = 0; i < random_ops; ++i) {
        uint64_t off = (i * kRandIo) % (kSeqIo - kRandIo);
        RETURN_IF_ERROR(t.write(rng() % blocks * kRandIo,
                                std::string_view(buf.data() + off, kRandIo)));
      }
      RETURN_IF_ERROR(t.flush());
      return random_ops * kRandIo;
  }
  return absl::InternalError("unknown pattern");
}

class Bench {
 public:
  explicit Bench(Config config) : c_(std::move(config)), size_(c_.size_mib << 20) {}

  absl::Status Run() {
    std::string templ = c_.parent_dir + "/layerdisk-bench.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) return IOError("mkdtemp", templ, errno);
    dir_ = templ;
    absl::Status s = RunIn();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    return s;
  }

 private:
  absl::Status RunIn() {
    std::printf("engine_bench: %s workload, %d repeats (medians), in %s\n",
                FormatSize(size_).c_str(), c_.repeats, dir_.c_str());
    RETURN_IF_ERROR(WriteImage(dir_ + "/image.raw", 0));
    RETURN_IF_ERROR(Import());
    RETURN_IF_ERROR(Dedup());
    RETURN_IF_ERROR(VolumeIo());
    RETURN_IF_ERROR(Snapshots());
    struct rusage ru;
    ::getrusage(RUSAGE_SELF, &ru);
    std::printf("\npeak RSS: %s\n", FormatSize(uint64_t(ru.ru_maxrss) * 1024).c_str());
    return absl::OkStatus();
  }

  // The image, with `changed_permille` of its 4 KiB blocks rewritten.
  absl::Status WriteImage(const std::string& path, int changed_permille) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return IOError("create", path, errno);
    std::mt19937_64 rng(1), change_rng(2);
    absl::Status s;
    for (uint64_t off = 0; off < size_ && s.ok(); off += kSeqIo) {
      std::string piece = ImagePiece(rng, off);
      for (uint64_t b = 0; b < kSeqIo; b += kRandIo)
        if (changed_permille && int(change_rng() % 1000) < changed_permille)
          piece[b + change_rng() % kRandIo] ^= 0x5a;
      if (::pwrite(fd, piece.data(), piece.size(), off) != ssize_t(piece.size()))
        s = IOError("write", path, errno);
    }
    if (s.ok() && ::fsync(fd) != 0) s = IOError("sync", path, errno);
    ::close(fd);
    return s;
  }

  void PrintRow(const std::string& what, double engine, double peer,
                const std::string& unit) {
    std::printf("%-34s %12.1f %12.1f %9.2f  %s\n", what.c_str(), engine, peer,
                peer > 0 ? engine / peer : 0.0, unit.c_str());
  }

  void PrintHeader(const std::string& title) {
    std::printf("\n%s\n%-34s %12s %12s %9s\n", title.c_str(), "", "layerdisk",
                "plain file", "ratio");
  }

  // Import into fresh stores vs. copying the image into a plain file.
  absl::Status Import() {
    std::vector<double> engine, peer;
    const std::string image = dir_ + "/image.raw";
    for (int r = -1; r < c_.repeats; ++r) {  // r == -1 warms up
      std::string store_dir = absl::StrFormat("%s/import-%d", dir_, r + 1);
      absl::Status s;
      double t = Seconds([&]() -> absl::Status {
        ASSIGN_OR_RETURN(auto store, Store::Open(store_dir, StoreOptions()));
        ASSIGN_OR_RETURN(auto source, OpenRawImage(image));
        return store->ImportLayer("base", *source, image, nullptr).status();
      }, &s);
      RETURN_IF_ERROR(s);
      std::filesystem::remove_all(store_dir);
      double p = Seconds([&] { return CopyFile(image, dir_ + "/copy.raw"); }, &s);
      RETURN_IF_ERROR(s);
      if (r >= 0) {
        engine.push_back(size_ / t / 1e6);
        peer.push_back(size_ / p / 1e6);
      }
    }
    PrintHeader("import (MB/s of image; peer: copying the image to a file + fsync)");
    PrintRow("import raw image", Median(engine), Median(peer), "MB/s");
    return absl::OkStatus();
  }

  absl::Status CopyFile(const std::string& from, const std::string& to) {
    ASSIGN_OR_RETURN(auto src, OpenRawImage(from));
    int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return IOError("create", to, errno);
    std::string buf(4 * kSeqIo, '\0');
    absl::Status s;
    for (uint64_t off = 0; off < src->size() && s.ok(); off += buf.size()) {
      uint64_t n = std::min<uint64_t>(buf.size(), src->size() - off);
      s = src->Read(off, absl::MakeSpan(buf.data(), n));
      if (s.ok() && ::pwrite(fd, buf.data(), n, off) != ssize_t(n))
        s = IOError("write", to, errno);
    }
    if (s.ok() && ::fsync(fd) != 0) s = IOError("sync", to, errno);
    ::close(fd);
    return s;
  }

  // Store used from here on: the base layer, its twin, and a 1%-changed copy.
  absl::Status Dedup() {
    ASSIGN_OR_RETURN(store_, Store::Open(dir_ + "/store", StoreOptions()));
    const std::string image = dir_ + "/image.raw", changed = dir_ + "/changed.raw";
    RETURN_IF_ERROR(WriteImage(changed, 10));
    uint64_t stored[3];
    const char* names[3] = {"base", "twin", "changed"};
    const std::string* files[3] = {&image, &image, &changed};
    std::printf("\ndedup and compression (store chunk size %s)\n",
                FormatSize(store_->chunk_size()).c_str());
    for (int i = 0; i < 3; ++i) {
      ASSIGN_OR_RETURN(auto source, OpenRawImage(*files[i]));
      ASSIGN_OR_RETURN(ImportResult r, store_->ImportLayer(names[i], *source, *files[i], nullptr));
      stored[i] = r.new_stored_bytes;
      ASSIGN_OR_RETURN(StoreStats st, store_->Stats());
      std::printf("  import %-8s new chunks %8llu  newly stored %10s  store: dedup %.2fx, "
                  "compression %.2fx, %s stored\n",
                  names[i], static_cast<unsigned long long>(r.new_chunks), FormatSize(r.new_stored_bytes).c_str(),
                  st.store.dedup_ratio, st.store.compression_ratio,
                  FormatSize(st.store.stored_bytes).c_str());
    }
    std::printf("  same image twice stores %s more; a 1%%-changed copy stores %.2f%% "
                "of the first import\n",
                FormatSize(stored[1]).c_str(), 100.0 * stored[2] / std::max<uint64_t>(stored[0], 1));
    return CopyFile(image, dir_ + "/peer.raw");
  }

  struct Case {
    std::string name;
    Pattern pattern;
    bool fill_head_first;  // measure in a head already holding every block
  };

  absl::Status VolumeIo() {
    const Case cases[] = {
        {"seq read 1M, sealed layer", Pattern::kSeqRead, false},
        {"rand read 4K, sealed layer", Pattern::kRandRead, false},
        {"seq write 1M, new head", Pattern::kSeqWrite, false},
        {"rand write 4K, new head", Pattern::kRandWrite, false},
        {"seq read 1M, head", Pattern::kSeqRead, true},
        {"rand read 4K, head", Pattern::kRandRead, true},
        {"rand write 4K, head (overwrite)", Pattern::kRandWrite, true},
    };
    ASSIGN_OR_RETURN(auto peer_file, PlainFile::Open(dir_ + "/peer.raw"));
    Target peer = PlainTarget(peer_file.get());
    PrintHeader("volume I/O over layer 'base' (MB/s; peer: a raw file holding the same image)");
    int volume_id = 0;
    for (const Case& c : cases) {
      std::vector<double> engine_rates, peer_rates;
      for (int r = -1; r < c_.repeats; ++r) {
        // A fresh volume per run: "new head" means first writes every time.
        std::string name = absl::StrFormat("v%d", volume_id++);
        ASSIGN_OR_RETURN(VolumeInfo info, store_->CreateVolume(name, {"base"}, std::nullopt));
        ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> vol, store_->OpenVolume(info.name));
        Target engine = EngineTarget(vol.get());
        if (c.fill_head_first)
          RETURN_IF_ERROR(RunPattern(engine, Pattern::kSeqWrite, size_, 0, 7).status());
        absl::StatusOr<uint64_t> engine_bytes, peer_bytes;
        absl::Status es, ps;
        double te = Seconds([&] {
          engine_bytes = RunPattern(engine, c.pattern, size_, c_.random_ops, 100 + r);
          return engine_bytes.status();
        }, &es);
        RETURN_IF_ERROR(es);
        double tp = Seconds([&] {
          peer_bytes = RunPattern(peer, c.pattern, size_, c_.random_ops, 100 + r);
          return peer_bytes.status();
        }, &ps);
        RETURN_IF_ERROR(ps);
        vol.reset();
        RETURN_IF_ERROR(store_->DeleteVolume(name, /*force=*/true));
        if (r >= 0) {
          engine_rates.push_back(*engine_bytes / te / 1e6);
          peer_rates.push_back(*peer_bytes / tp / 1e6);
        }
      }
      PrintRow(c.name, Median(engine_rates), Median(peer_rates), "MB/s");
    }
    return absl::OkStatus();
  }

  // Snapshot latency on a busy volume vs. the naive alternative, a full copy.
  absl::Status Snapshots() {
    ASSIGN_OR_RETURN(VolumeInfo info, store_->CreateVolume("snap", {"base"}, std::nullopt));
    ASSIGN_OR_RETURN(std::shared_ptr<BlockDevice> vol, store_->OpenVolume(info.name));
    Target engine = EngineTarget(vol.get());
    std::vector<double> idle_ms, busy_ms, seal_ms, peer_ms;
    for (int r = -1; r < c_.repeats; ++r) {
      // Idle: writes flushed, the previous snapshot's seal finished.
      RETURN_IF_ERROR(RunPattern(engine, Pattern::kRandWrite, size_, 1024, 500 + r).status());
      absl::Status s;
      double w = Seconds([&] { return store_->WaitForBackgroundWork(); }, &s);
      RETURN_IF_ERROR(s);
      double idle = Seconds([&] {
        return store_->CreateSnapshot("snap", absl::StrFormat("a%d", r + 1)).status();
      }, &s);
      RETURN_IF_ERROR(s);
      // Busy: 4 MiB not yet flushed, and the seal of the snapshot just taken
      // running in the background.
      for (uint64_t i = 0; i < 1024; ++i) {
        std::string block(kRandIo, static_cast<char>(i + r));
        RETURN_IF_ERROR(vol->Write((i * 7919 % (size_ / kRandIo)) * kRandIo, block, false));
      }
      double busy = Seconds([&] {
        return store_->CreateSnapshot("snap", absl::StrFormat("b%d", r + 1)).status();
      }, &s);
      RETURN_IF_ERROR(s);
      double p = Seconds([&] { return CopyFile(dir_ + "/peer.raw", dir_ + "/backup.raw"); }, &s);
      RETURN_IF_ERROR(s);
      if (r >= 0) {
        idle_ms.push_back(idle * 1e3);
        busy_ms.push_back(busy * 1e3);
        seal_ms.push_back(w * 1e3);
        peer_ms.push_back(p * 1e3);
      }
    }
    PrintHeader("snapshot (ms; peer: copying the raw file)");
    PrintRow("snapshot, idle", Median(idle_ms), Median(peer_ms), "ms");
    PrintRow("snapshot, 4M unflushed + sealing", Median(busy_ms), Median(peer_ms), "ms");
    std::printf("%-34s %12.1f %12s %9s  ms\n", "(background seal of 4M of writes)",
                Median(seal_ms), "", "");
    return absl::OkStatus();
  }

  const Config c_;
  const uint64_t size_;
  std::string dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace
}  // namespace layerdisk

int main(int argc, char** argv) {
  layerdisk::Config config;
  const char* tmp = std::getenv("TMPDIR");
  config.parent_dir = tmp ? tmp : "/tmp";
  CLI::App app("engine_bench: layerdisk volume I/O beside a plain file", "engine_bench");
  app.add_option("--dir", config.parent_dir, "Where the temporary store goes (same disk as the peer)")
      ->capture_default_str();
  app.add_option("--size-mib", config.size_mib, "Image and volume size")
      ->check(CLI::Range(4, 1 << 20))
      ->capture_default_str();
  app.add_option("--repeats", config.repeats, "Timed runs per figure (medians need >= 5)")
      ->check(CLI::Range(5, 1000))
      ->capture_default_str();
  app.add_option("--random-ops", config.random_ops, "4 KiB I/Os per random run")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  absl::Status s = layerdisk::Bench(config).Run();
  if (!s.ok()) {
    std::fprintf(stderr, "engine_bench: error: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
