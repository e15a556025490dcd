// Process-kill crash test: runs crash_writer against a store, SIGKILLs it at a
// random moment, and checks the store it leaves behind: Fsck is clean, every
// sector reads as its last durable content or a later write of the writer's
// log, snapshots read exactly as the volume did when they were taken, and
// every completed import reads as its source (imports commit around the WAL:
// one killed midway, or one that failed and was being removed, leaves no
// layer and a clean store). Each round continues from the
// store the previous one left, with a new seed.
//
// Replay with LAYERDISK_TEST_SEED=<seed>.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/store.h"
#include "gtest/gtest.h"
#include "tests/engine/crash_workload.h"
#include "tests/engine/test_util.h"

#ifndef CRASH_WRITER_PATH
#error "CRASH_WRITER_PATH must name the crash_writer binary"
#endif

namespace layerdisk {
namespace {

using namespace crash_workload;
using testing_util::AnnounceSeed;
using testing_util::FillPattern;
using testing_util::MemDevice;
using testing_util::Mix;
using testing_util::Rng;
using testing_util::ScopedTempDir;

#define RETURN_IF_FATAL(stmt)                       \
  do {                                              \
    stmt;                                           \
    if (::testing::Test::HasFatalFailure()) return; \
  } while (0)

constexpr uint64_t kBaseId = 0;
constexpr uint64_t kZeroId = 1;
uint64_t WriteId(int round, uint64_t i) {
  return (static_cast<uint64_t>(round + 1) << 32) | i;
}

struct SectorHistory {
  uint64_t durable = kBaseId;
  std::vector<uint64_t> later;
};

struct WriterLog {
  std::vector<std::string> lines;
  bool opened = false;
  std::optional<uint64_t> last_begun, last_flushed;
  std::vector<std::string> imported, deleted_layers;
  int exit_status = 0;
  bool killed = false;
};

class Kill9Run {
 public:
  explicit Kill9Run(uint64_t seed) : seed_(seed), rng_(seed), dir_("kill9") {}

  void Run(const std::vector<std::string>& modes) {
    RETURN_IF_FATAL(Setup());
    for (round_ = 0; round_ < static_cast<int>(modes.size()); ++round_) {
      mode_ = modes[round_];
      round_seeds_.push_back(Mix(seed_, round_));
      WriterLog log;
      RETURN_IF_FATAL(RunWriter(&log));
      RETURN_IF_FATAL(Verify(log));
    }
  }

 private:
  void Setup() {
    base_.assign(kVolumeSize, '\0');
    std::vector<bool> holes(kVolumeSize / 4096);
    for (uint64_t g = 0; g < holes.size(); ++g) {
      if (rng_.OneIn(3)) holes[g] = true;
      else FillPattern(seed_ ^ 0xba5e, g * 4096, base_.data() + g * 4096, 4096);
    }
    MemDevice dev(base_, 4096);
    for (uint64_t g = 0; g < holes.size(); ++g)
      if (holes[g]) dev.SetHole(g);
    StoreOptions options;
    auto store = Store::Open(dir_.path(), options);
    ASSERT_TRUE(store.ok()) << store.status();
    auto imp = (*store)->ImportLayer("base", dev, "memory", nullptr);
    ASSERT_TRUE(imp.ok()) << imp.status();
    auto vol = (*store)->CreateVolume(kVolume, {"base"}, std::nullopt);
    ASSERT_TRUE(vol.ok()) << vol.status();
    ASSERT_EQ(vol->size, kVolumeSize);
    sectors_.assign(kSectors, SectorHistory{});
  }

  // Starts crash_writer, lets it run for 50-500 ms after it has opened the
  // store, then SIGKILLs it.
  void RunWriter(WriterLog* log) {
    const uint64_t run_ms = rng_.Range(50, 500);
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const std::string seed_arg = std::to_string(round_seeds_.back());
    const std::string round_arg = std::to_string(round_);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::execl(CRASH_WRITER_PATH, CRASH_WRITER_PATH, dir_.path().c_str(),
              mode_.c_str(), seed_arg.c_str(), round_arg.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string out;
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    std::optional<Clock::time_point> deadline;
    bool eof = false;
    while (!eof) {
      auto now = Clock::now();
      if (!deadline && out.find("opened\n") != std::string::npos)
        deadline = now + std::chrono::milliseconds(run_ms);
      if (deadline && now >= *deadline) break;
      if (!deadline && now - start > std::chrono::seconds(20)) break;
      struct pollfd p = {fds[0], POLLIN, 0};
      ::poll(&p, 1, 5);
      if (p.revents & (POLLIN | POLLHUP)) {
        char buf[65536];
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) eof = true;
        else out.append(buf, n);
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (;;) {
      char buf[65536];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, n);
    }
    ::close(fds[0]);
    log->killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    log->exit_status = status;
    // Only complete lines count: a line cut by the kill was never "said".
    size_t end = out.rfind('\n');
    out = end == std::string::npos ? "" : out.substr(0, end);
    for (absl::string_view line : absl::StrSplit(out, '\n')) {
      std::vector<std::string> w = absl::StrSplit(line, ' ');
      uint64_t n = 0;
      if (w[0] == "opened") log->opened = true;
      if (w[0] == "begin" && w.size() == 2 && absl::SimpleAtoi(w[1], &n))
        log->last_begun = n;
      if (w[0] == "flushed" && w.size() == 2 && absl::SimpleAtoi(w[1], &n))
        log->last_flushed = n;
      if ((w[0] == "imported" || w[0] == "sealed") && w.size() == 2)
        log->imported.push_back(w[1]);
      if (w[0] == "deleted-layer" && w.size() == 2)
        log->deleted_layers.push_back(w[1]);
      log->lines.emplace_back(line);
    }
    std::cout << absl::StrFormat(
                     "round %d (%s, seed %d): killed after %d ms; begun %s, "
                     "flushed %s, %d log lines",
                     round_, mode_, round_seeds_.back(), run_ms,
                     log->last_begun ? std::to_string(*log->last_begun) : "-",
                     log->last_flushed ? std::to_string(*log->last_flushed)
                                       : "-",
                     log->lines.size())
              << std::endl;
    ASSERT_TRUE(log->opened) << "crash_writer never opened the store; log:\n"
                             << absl::StrJoin(log->lines, "\n") << Context();
    ASSERT_TRUE(log->killed)
        << "crash_writer exited by itself (status " << status
        << ") before the kill; last lines:\n"
        << absl::StrJoin(log->lines.size() > 10 ? log->lines.end() - 10
                                                : log->lines.begin(),
                         log->lines.end(), "\n")
        << Context();
  }

  void Fill(uint64_t id, uint64_t sector, char* out) const {
    if (id == kZeroId) {
      std::memset(out, 0, kSector);
    } else if (id == kBaseId) {
      std::memcpy(out, base_.data() + sector * kSector, kSector);
    } else {
      int round = static_cast<int>(id >> 32) - 1;
      uint64_t i = id & 0xffffffffull;
      FillPattern(DataKey(round_seeds_[round], i), sector * kSector, out,
                  kSector);
    }
  }

  void Verify(const WriterLog& log) {
    const uint64_t seed = round_seeds_.back();
    // What the volume held when this round started (exact: the previous
    // verification resolved every sector).
    std::vector<uint64_t> at_start(kSectors);
    for (uint64_t s = 0; s < kSectors; ++s) at_start[s] = sectors_[s].durable;
    std::set<uint64_t> snapshot_points;
    std::map<std::string, std::vector<uint64_t>> new_snapshots;

    StoreOptions options;
    options.create_if_missing = false;
    auto store_or = Store::Open(dir_.path(), options);
    ASSERT_TRUE(store_or.ok()) << "reopen after kill: " << store_or.status()
                               << Context();
    auto store = std::move(store_or).value();
    auto report = store->Fsck(nullptr);
    ASSERT_TRUE(report.ok()) << report.status() << Context();
    ASSERT_TRUE(report->ok()) << "fsck after kill -9:\n  "
                              << absl::StrJoin(report->problems, "\n  ")
                              << Context();

    auto snaps = store->ListSnapshots(kVolume);
    ASSERT_TRUE(snaps.ok()) << snaps.status() << Context();
    for (const auto& s : *snaps) {
      if (expected_snapshots_.count(s.name)) continue;
      int r = -1;
      uint64_t i = 0;
      ASSERT_EQ(std::sscanf(s.name.c_str(), "r%d-i%lu", &r,
                            reinterpret_cast<unsigned long*>(&i)),
                2)
          << "unexpected snapshot " << s.name << Context();
      ASSERT_EQ(r, round_) << "snapshot " << s.name
                           << " reappeared after being deleted" << Context();
      snapshot_points.insert(i);
      new_snapshots[s.name];
    }

    // Replay this round's writes.
    if (mode_ != "import" && log.last_begun) {
      std::vector<uint64_t> cur = at_start;
      for (uint64_t i = 0; i <= *log.last_begun; ++i) {
        WriteOp op = OpFor(seed, i);
        uint64_t id = op.zero ? kZeroId : WriteId(round_, i);
        bool durable = (log.last_flushed && i <= *log.last_flushed) ||
                       (op.fua && i < *log.last_begun);
        for (uint64_t s = op.first; s < op.first + op.count; ++s) {
          cur[s] = id;
          if (durable) {
            sectors_[s].durable = id;
            sectors_[s].later.clear();
          } else {
            // The last begun write may not have returned; as on any disk, a
            // write in flight at the crash may land.
            sectors_[s].later.push_back(id);
          }
        }
        if (snapshot_points.count(i)) new_snapshots[SnapshotName(round_, i)] = cur;
      }
    }
    for (auto& [name, ids] : new_snapshots) {
      ASSERT_EQ(ids.size(), kSectors)
          << "snapshot " << name << " names a write the log never began"
          << Context();
      expected_snapshots_[name] = std::move(ids);
    }

    // The volume.
    {
      auto dev_or = store->OpenVolume(kVolume);
      ASSERT_TRUE(dev_or.ok()) << dev_or.status() << Context();
      auto dev = std::move(dev_or).value();
      std::string image(kVolumeSize, '\0');
      absl::Status st = dev->Read(0, absl::MakeSpan(image));
      ASSERT_TRUE(st.ok()) << st << Context();
      std::string want(kSector, '\0');
      uint64_t bad = 0;
      std::string first_bad;
      for (uint64_t s = 0; s < kSectors; ++s) {
        const char* got = image.data() + s * kSector;
        SectorHistory& h = sectors_[s];
        std::optional<uint64_t> match;
        Fill(h.durable, s, want.data());
        if (std::memcmp(got, want.data(), kSector) == 0) match = h.durable;
        for (auto it = h.later.rbegin(); !match && it != h.later.rend(); ++it) {
          Fill(*it, s, want.data());
          if (std::memcmp(got, want.data(), kSector) == 0) match = *it;
        }
        if (!match) {
          if (bad++ == 0)
            first_bad = absl::StrFormat(
                "sector %d (4K block %d): durable id %x, %d later ids, reads "
                "as %s",
                s, s / 8, h.durable, h.later.size(),
                std::all_of(got, got + kSector, [](char c) { return c == 0; })
                    ? "zeroes"
                    : "other bytes");
          continue;
        }
        h.durable = *match;
        h.later.clear();
      }
      ASSERT_EQ(bad, 0u) << bad << " sectors read as neither their last "
                         << "durable content nor a later write; first: "
                         << first_bad << Context();
    }

    // Snapshots: each reads exactly as the volume did when it was taken.
    std::set<std::string> listed;
    for (const auto& s : *snaps) listed.insert(s.name);
    for (auto it = expected_snapshots_.begin(); it != expected_snapshots_.end();) {
      if (!listed.count(it->first)) {
        it = expected_snapshots_.erase(it);  // deleted by the writer
        continue;
      }
      auto dev = store->OpenSnapshot(kVolume, it->first);
      ASSERT_TRUE(dev.ok()) << dev.status() << Context();
      std::string image(kVolumeSize, '\0');
      absl::Status st = (*dev)->Read(0, absl::MakeSpan(image));
      ASSERT_TRUE(st.ok()) << st << Context();
      std::string want(kSector, '\0');
      for (uint64_t s = 0; s < kSectors; ++s) {
        Fill(it->second[s], s, want.data());
        ASSERT_TRUE(std::memcmp(image.data() + s * kSector, want.data(),
                                kSector) == 0)
            << "snapshot " << it->first << " sector " << s
            << " differs from the volume at the time of the snapshot"
            << Context();
      }
      ++it;
    }

    // Imports: complete ones read as their source; deleted ones are gone;
    // the one in progress at the kill is either complete or absent.
    auto layers = store->ListLayers();
    ASSERT_TRUE(layers.ok()) << layers.status() << Context();
    std::set<std::string> present;
    round_start_.push_back(at_start);
    for (const auto& l : *layers) {
      if (l.name.rfind("seal-", 0) == 0) {
        present.insert(l.name);
        RETURN_IF_FATAL(VerifySealedLayer(*store, l.name));
        continue;
      }
      // A failing import leaves nothing, whenever the kill came.
      ASSERT_NE(l.name.rfind("bad-", 0), 0u)
          << "layer " << l.name << " of a failing import is present" << Context();
      if (l.name.rfind("imp-", 0) != 0) continue;
      present.insert(l.name);
      int r = -1;
      uint64_t n = 0;
      ASSERT_EQ(std::sscanf(l.name.c_str(), "imp-%d-%lu", &r,
                            reinterpret_cast<unsigned long*>(&n)),
                2);
      auto dev = store->OpenLayer(l.name);
      ASSERT_TRUE(dev.ok()) << dev.status() << Context();
      std::string want = ImportImage(round_seeds_[r], n);
      ASSERT_EQ((*dev)->size(), want.size()) << l.name << Context();
      std::string got(want.size(), '\0');
      absl::Status st = (*dev)->Read(0, absl::MakeSpan(got));
      ASSERT_TRUE(st.ok()) << st << Context();
      ASSERT_TRUE(got == want)
          << "layer " << l.name << " does not read as its source: "
          << testing_util::FirstDifference(want.data(), got.data(),
                                           want.size(), 0)
          << Context();
    }
    for (const auto& name : log.imported) completed_imports_.insert(name);
    for (const auto& name : log.deleted_layers) {
      completed_imports_.erase(name);
      EXPECT_FALSE(present.count(name))
          << "layer " << name << " is back after DeleteLayer returned OK"
          << Context();
    }
    // The writer deletes the oldest import right after each import; a kill
    // between "imported" and "deleted-layer" may take one more away.
    int may_vanish = 0;
    for (auto it = log.lines.rbegin(); it != log.lines.rend(); ++it) {
      if (it->rfind("imported ", 0) == 0 || it->rfind("sealed ", 0) == 0) {
        may_vanish = 1;
        break;
      }
      if (it->rfind("deleted-layer ", 0) == 0 ||
          it->rfind("begin-import ", 0) == 0 ||
          it->rfind("begin-failing-import ", 0) == 0 ||
          it->rfind("begin-seal ", 0) == 0)
        break;
    }
    std::vector<std::string> missing;
    for (const auto& name : completed_imports_)
      if (!present.count(name)) missing.push_back(name);
    EXPECT_LE(static_cast<int>(missing.size()), may_vanish)
        << "completed imports missing after the kill: "
        << absl::StrJoin(missing, ", ") << Context();
    for (auto it = completed_imports_.begin(); it != completed_imports_.end();)
      it = present.count(*it) ? std::next(it) : completed_imports_.erase(it);
    std::cout << absl::StrFormat(
                     "  verified: fsck clean, %d sectors, %d snapshots, %d "
                     "imported or sealed layers",
                     kSectors, expected_snapshots_.size(), present.size())
              << std::endl;
  }

  // base + a layer sealed in round r compose to the volume as it was during
  // round r (seal rounds do not write).
  void VerifySealedLayer(Store& store, const std::string& name) {
    int r = -1;
    uint64_t n = 0;
    ASSERT_EQ(std::sscanf(name.c_str(), "seal-%d-%lu", &r,
                          reinterpret_cast<unsigned long*>(&n)),
              2);
    ASSERT_LT(r, static_cast<int>(round_start_.size()));
    const std::string check = "check-" + name;
    auto vol = store.CreateVolume(check, {"base", name}, kVolumeSize);
    ASSERT_TRUE(vol.ok()) << vol.status() << Context();
    {
      auto dev = store.OpenVolume(check);
      ASSERT_TRUE(dev.ok()) << dev.status() << Context();
      std::string image(kVolumeSize, '\0'), want(kSector, '\0');
      absl::Status st = (*dev)->Read(0, absl::MakeSpan(image));
      ASSERT_TRUE(st.ok()) << st << Context();
      for (uint64_t s = 0; s < kSectors; ++s) {
        Fill(round_start_[r][s], s, want.data());
        ASSERT_TRUE(std::memcmp(image.data() + s * kSector, want.data(),
                                kSector) == 0)
            << "base + sealed layer " << name << " differs from the volume "
            << "it was sealed from at sector " << s << Context();
      }
    }
    absl::Status st = store.DeleteVolume(check, /*force=*/false);
    ASSERT_TRUE(st.ok()) << st << Context();
  }

  std::string Context() const {
    return absl::StrFormat("\n  seed %d, round %d (%s), store %s", seed_,
                           round_, mode_, dir_.path());
  }

  const uint64_t seed_;
  Rng rng_;
  ScopedTempDir dir_;
  std::string base_;
  std::vector<uint64_t> round_seeds_;
  std::vector<SectorHistory> sectors_;
  std::map<std::string, std::vector<uint64_t>> expected_snapshots_;
  std::set<std::string> completed_imports_;
  std::vector<std::vector<uint64_t>> round_start_;  // volume ids per round
  int round_ = 0;
  std::string mode_;
};

TEST(Kill9Test, WritesSurviveSigkill) {
  for (uint64_t seed : testing_util::TestSeeds({21})) {
    AnnounceSeed(seed);
    Kill9Run run(seed);
    run.Run(std::vector<std::string>(10, "writes"));
    if (HasFatalFailure()) return;
  }
}

TEST(Kill9Test, SnapshotsSurviveSigkill) {
  for (uint64_t seed : testing_util::TestSeeds({22})) {
    AnnounceSeed(seed);
    Kill9Run run(seed);
    run.Run({"snapshots", "snapshots", "writes", "snapshots", "snapshots",
             "snapshots"});
    if (HasFatalFailure()) return;
  }
}

TEST(Kill9Test, SealsSurviveSigkill) {
  for (uint64_t seed : testing_util::TestSeeds({24})) {
    AnnounceSeed(seed);
    Kill9Run run(seed);
    run.Run({"writes", "seal", "seal", "snapshots", "seal", "writes", "seal"});
    if (HasFatalFailure()) return;
  }
}

TEST(Kill9Test, ImportsSurviveSigkill) {
  for (uint64_t seed : testing_util::TestSeeds({23})) {
    AnnounceSeed(seed);
    Kill9Run run(seed);
    run.Run({"import", "writes", "import", "import", "snapshots", "import"});
    if (HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace layerdisk
