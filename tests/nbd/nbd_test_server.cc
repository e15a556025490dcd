// nbd_test_server: serves plain sparse files through the real NbdServer, so
// the NBD suite can run against real clients before the engine is ready.
//
//   nbd_test_server --listen unix:PATH --listen tcp:127.0.0.1:0
//       --export NAME=FILE[:ro][:slow][:detachable] [--handshake-timeout SECONDS]
//       [--max-connections N] [--workers N]
//       [--tls-cert PEM --tls-key PEM] [--tls-ca PEM] [--tls-psk FILE]
//       [--tls-require yes]
//
// Prints "listening on ADDRESS" for each address once serving, then runs
// until SIGINT or SIGTERM. ":slow" makes reads that touch the first 4 KiB
// take a second, to show that other requests overtake them. SIGUSR1
// detaches every ":detachable" export, as a forced volume delete detaches a
// store's volume: each request on it then fails Aborted (the server prints
// "detached" once it has); the server ends its connections and lives on.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/block_device.h"
#include "common/env.h"
#include "common/status_macros.h"
#include "nbd-frontend/nbd_server.h"
#include "nbd-frontend/tls.h"

namespace layerdisk {
namespace {

class FileDevice final : public BlockDevice {
 public:
  FileDevice(int fd, uint64_t size, bool read_only, bool slow)
      : fd_(fd), size_(size), read_only_(read_only), slow_(slow) {}
  ~FileDevice() override { close(fd_); }

  // From now on every request fails Aborted, as on a detached Volume.
  void Detach() { detached_.store(true); }

  uint64_t size() const override { return size_; }
  bool read_only() const override { return read_only_; }
  uint32_t block_size() const override { return 4096; }

  absl::Status Read(uint64_t offset, absl::Span<char> out) override {
    RETURN_IF_ERROR(CheckRange(offset, out.size(), false));
    if (slow_ && offset < 4096) std::this_thread::sleep_for(std::chrono::seconds(1));
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = pread(fd_, out.data() + done, out.size() - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IOError("pread", path(), errno);
      if (n == 0) {  // past EOF reads as zeroes
        memset(out.data() + done, 0, out.size() - done);
        break;
      }
      done += n;
    }
    return absl::OkStatus();
  }

  absl::Status Write(uint64_t offset, absl::Span<const char> data, bool fua) override {
    RETURN_IF_ERROR(CheckRange(offset, data.size(), true));
    size_t done = 0;
    while (done < data.size()) {
      struct iovec iov = {const_cast<char*>(data.data()) + done, data.size() - done};
      ssize_t n = pwritev2(fd_, &iov, 1, offset + done, fua ? RWF_DSYNC : 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return IOError("pwrite", path(), errno);
      done += n;
    }
    return absl::OkStatus();
  }

  absl::Status WriteZeroes(uint64_t offset, uint64_t length, bool fua) override {
    RETURN_IF_ERROR(CheckRange(offset, length, true));
    if (fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) != 0)
      return IOError("fallocate", path(), errno);
    return fua ? Flush() : absl::OkStatus();
  }

  absl::Status Trim(uint64_t offset, uint64_t length, bool fua) override {
    return WriteZeroes(offset, length, fua);
  }

  absl::Status Flush() override {
    RETURN_IF_ERROR(CheckAttached());
    if (fdatasync(fd_) != 0) return IOError("fdatasync", path(), errno);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<DeviceExtent>> Map(uint64_t offset, uint64_t length) override {
    RETURN_IF_ERROR(CheckRange(offset, length, false));
    std::vector<DeviceExtent> out;
    const uint64_t end = offset + length;
    uint64_t pos = offset;
    while (pos < end) {
      off_t data = lseek(fd_, pos, SEEK_DATA);
      if (data < 0 && errno != ENXIO) return IOError("lseek", path(), errno);
      uint64_t data_start = data < 0 ? end : std::min<uint64_t>(data, end);
      if (data_start > pos) {
        out.push_back({pos, data_start - pos, true, true});
        pos = data_start;
        continue;
      }
      off_t hole = lseek(fd_, pos, SEEK_HOLE);
      if (hole < 0) return IOError("lseek", path(), errno);
      uint64_t data_end = std::min<uint64_t>(hole, end);
      out.push_back({pos, data_end - pos, false, false});
      pos = data_end;
    }
    return out;
  }

 private:
  absl::Status CheckAttached() const {
    if (detached_.load()) return absl::AbortedError("the export was detached (SIGUSR1)");
    return absl::OkStatus();
  }
  absl::Status CheckRange(uint64_t offset, uint64_t length, bool write) {
    RETURN_IF_ERROR(CheckAttached());
    if (write && read_only_) return absl::PermissionDeniedError("read-only");
    if (offset > size_ || length > size_ - offset)
      return absl::InvalidArgumentError("out of range");
    return absl::OkStatus();
  }
  std::string path() const { return absl::StrCat("fd ", fd_); }

  const int fd_;
  const uint64_t size_;
  const bool read_only_;
  const bool slow_;
  std::atomic<bool> detached_{false};
};

struct ExportSpec {
  std::string path;
  bool read_only = false;
  bool slow = false;
  bool detachable = false;
};

class FileExports final : public ExportProvider {
 public:
  explicit FileExports(std::map<std::string, ExportSpec> specs)
      : specs_(std::move(specs)) {}

  std::vector<ExportInfo> ListExports() override {
    std::vector<ExportInfo> out;
    for (const auto& [name, spec] : specs_)
      out.push_back({name, "file " + spec.path, spec.read_only});
    return out;
  }

  absl::StatusOr<ExportInfo> GetExport(const std::string& name) override {
    auto it = specs_.find(name);
    if (it == specs_.end()) return absl::NotFoundError("no export " + name);
    return ExportInfo{name, "file " + it->second.path, it->second.read_only};
  }

  absl::StatusOr<std::shared_ptr<BlockDevice>> OpenExport(const std::string& name) override {
    auto it = specs_.find(name);
    if (it == specs_.end()) return absl::NotFoundError("no export " + name);
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<FileDevice>& device = open_[name];
    if (device == nullptr) {
      const ExportSpec& spec = it->second;
      int fd = open(spec.path.c_str(), (spec.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
      if (fd < 0) return IOError("open", spec.path, errno);
      struct stat st;
      fstat(fd, &st);
      device = std::make_shared<FileDevice>(fd, st.st_size, spec.read_only, spec.slow);
      if (spec.detachable && detached_) device->Detach();
    }
    return device;
  }

  // Detaches the ":detachable" exports, open or opened later.
  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    detached_ = true;
    for (auto& [name, device] : open_)
      if (specs_.at(name).detachable) device->Detach();
  }

 private:
  const std::map<std::string, ExportSpec> specs_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileDevice>> open_;  // guarded by mu_
  bool detached_ = false;                                    // guarded by mu_
};

int Usage(const char* why) {
  fprintf(stderr,
          "nbd_test_server: %s\nusage: nbd_test_server --listen unix:PATH|tcp:HOST:PORT ... "
          "--export NAME=FILE[:ro][:slow][:detachable] ... [--handshake-timeout SECONDS] "
          "[--max-connections N] [--workers N] [--tls-cert PEM --tls-key PEM] "
          "[--tls-ca PEM] [--tls-psk FILE] [--tls-require yes]\n",
          why);
  return 2;
}

int Main(int argc, char** argv) {
  NbdServerOptions options;
  TlsOptions tls_options;
  bool tls = false;
  std::map<std::string, ExportSpec> specs;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (i + 1 >= argc) return Usage(("missing value for " + arg).c_str());
    std::string value = argv[++i];
    if (arg == "--listen") {
      options.listen.push_back(value);
    } else if (arg == "--export") {
      size_t eq = value.find('=');
      if (eq == std::string::npos) return Usage("--export wants NAME=FILE");
      std::vector<std::string> parts = absl::StrSplit(value.substr(eq + 1), ':');
      ExportSpec spec;
      spec.path = parts[0];
      for (size_t p = 1; p < parts.size(); ++p) {
        if (parts[p] == "ro") spec.read_only = true;
        else if (parts[p] == "slow") spec.slow = true;
        else if (parts[p] == "detachable") spec.detachable = true;
        else return Usage(("unknown export flag " + parts[p]).c_str());
      }
      specs[value.substr(0, eq)] = spec;
    } else if (arg == "--handshake-timeout") {
      double seconds;
      if (!absl::SimpleAtod(value, &seconds)) return Usage("bad timeout");
      options.handshake_timeout = absl::Seconds(seconds);
    } else if (arg == "--max-connections") {
      if (!absl::SimpleAtoi(value, &options.max_connections)) return Usage("bad count");
    } else if (arg == "--workers") {
      if (!absl::SimpleAtoi(value, &options.worker_threads)) return Usage("bad count");
    } else if (arg == "--tls-cert") {
      tls_options.cert_file = value, tls = true;
    } else if (arg == "--tls-key") {
      tls_options.key_file = value, tls = true;
    } else if (arg == "--tls-ca") {
      tls_options.ca_file = value, tls = true;
    } else if (arg == "--tls-psk") {
      tls_options.psk_file = value, tls = true;
    } else if (arg == "--tls-require") {
      tls_options.required = value == "yes";
    } else {
      return Usage(("unknown option " + arg).c_str());
    }
  }
  if (specs.empty()) return Usage("no --export");

  // Block the signals before any thread starts so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<TlsProvider> tls_provider;
  if (tls) {
    absl::StatusOr<std::unique_ptr<TlsProvider>> provider = NewTlsProvider(tls_options);
    if (!provider.ok()) {
      fprintf(stderr, "nbd_test_server: %s\n", provider.status().ToString().c_str());
      return 1;
    }
    tls_provider = *std::move(provider);
    options.tls = tls_provider.get();
  }
  FileExports exports(std::move(specs));
  absl::StatusOr<std::unique_ptr<NbdServer>> server = NbdServer::Start(&exports, options);
  if (!server.ok()) {
    fprintf(stderr, "nbd_test_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  for (const std::string& address : (*server)->addresses())
    printf("listening on %s\n", address.c_str());
  fflush(stdout);
  int sig;
  while (sigwait(&signals, &sig) == 0 && sig == SIGUSR1) {
    exports.Detach();
    printf("detached\n");
    fflush(stdout);
  }
  (*server)->Stop();
  return 0;
}

}  // namespace
}  // namespace layerdisk

int main(int argc, char** argv) { return layerdisk::Main(argc, argv); }
