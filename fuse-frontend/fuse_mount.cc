#include "fuse-frontend/fuse_mount.h"

#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/status_macros.h"
#include "fuse-frontend/fuse_ops.h"
#include "fuse-frontend/mountpoint.h"

namespace layerdisk {
namespace {

// libfuse prints through one process-wide hook; it goes to the log of the
// mount started last (a process serves one mount).
std::function<void(std::string_view)>* g_libfuse_log = nullptr;

void LibfuseLog(fuse_log_level, const char* fmt, va_list ap) {
  char line[1024];
  std::vsnprintf(line, sizeof line, fmt, ap);
  std::string_view text(line);
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (g_libfuse_log != nullptr && *g_libfuse_log) (*g_libfuse_log)(absl::StrCat("fuse: ", std::string(text)));
}

class FuseMountImpl final : public FuseMount {
 public:
  FuseMountImpl(ImageCatalog* catalog, const FuseMountOptions& options)
      : options_(options),
        fs_(catalog, /*listing_ttl=*/absl::Milliseconds(250), options.log) {
    if (!options_.log)
      options_.log = [](std::string_view line) {
        std::fprintf(stderr, "layerdisk: %.*s\n", static_cast<int>(line.size()), line.data());
      };
    context_.fs = &fs_;
    context_.max_io_bytes = std::min<uint32_t>(options_.max_io_bytes, 1 << 20);
    context_.entry_timeout_seconds = absl::ToDoubleSeconds(options_.entry_timeout);
    context_.log = options_.log;
  }
  ~FuseMountImpl() override {
    Stop();
    if (g_libfuse_log == &options_.log) g_libfuse_log = nullptr;
  }

  absl::Status Mount();
  const std::string& mountpoint() const override { return options_.mountpoint; }
  void Stop() override;

 private:
  // Makes a worker of the loop notice fuse_session_exit: they block in
  // read(2) on /dev/fuse, so one is handed a request (a lookup of a name
  // that never exists) and checks the flag after answering it.
  void WakeLoop();

  FuseMountOptions options_;
  ImageFs fs_;
  FuseContext context_;
  fuse_session* session_ = nullptr;
  std::thread loop_;
  absl::Notification loop_done_;
  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

absl::Status FuseMountImpl::Mount() {
  RETURN_IF_ERROR(PrepareMountpoint(options_.mountpoint, options_.log));
  g_libfuse_log = &options_.log;
  fuse_set_log_func(LibfuseLog);

  std::string mount_options = absl::StrCat("fsname=", options_.fs_name,
                                           ",subtype=layerdisk,default_permissions");
  if (options_.allow_other) mount_options += ",allow_other";
  std::vector<std::string> argv_strings = {"layerdisk", "-o", mount_options};
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  session_ = fuse_session_new(&args, &ImageFsOperations(), sizeof(fuse_lowlevel_ops), &context_);
  fuse_opt_free_args(&args);
  if (session_ == nullptr)
    return absl::InvalidArgumentError("libfuse refused the mount options " + mount_options);
  if (fuse_session_mount(session_, options_.mountpoint.c_str()) != 0) {
    fuse_session_destroy(session_);
    session_ = nullptr;
    return absl::UnavailableError(absl::StrCat(
        "cannot mount FUSE at ", options_.mountpoint,
        " (is /dev/fuse there and usable? see the message above)"));
  }
  loop_ = std::thread([this] {
    fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(config, static_cast<unsigned>(options_.max_threads));
    fuse_loop_cfg_set_idle_threads(config, static_cast<unsigned>(options_.max_threads));
    // One /dev/fuse descriptor per worker: no contention on reading requests.
    fuse_loop_cfg_set_clone_fd(config, 1);
    fuse_session_loop_mt(session_, config);
    fuse_loop_cfg_destroy(config);
    loop_done_.Notify();
  });
  options_.log(absl::StrCat("fuse: mounted ", options_.mountpoint));
  return absl::OkStatus();
}

void FuseMountImpl::WakeLoop() {
  const std::string probe = options_.mountpoint + "/.layerdisk-stopping";
  for (int i = 0; i < 50 && !loop_done_.HasBeenNotified(); ++i) {
    struct stat st;
    ::stat(probe.c_str(), &st);
    loop_done_.WaitForNotificationWithTimeout(absl::Milliseconds(100));
  }
}

void FuseMountImpl::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_ || session_ == nullptr) return;
  stopped_ = true;
  fuse_session_exit(session_);
  WakeLoop();
  if (!loop_done_.HasBeenNotified())
    options_.log("fuse: the request loop did not stop; unmounting under it");
  fs_.FlushAll();
  fuse_session_unmount(session_);
  loop_.join();
  fuse_session_destroy(session_);
  session_ = nullptr;
  options_.log(absl::StrCat("fuse: unmounted ", options_.mountpoint));
}

}  // namespace

absl::StatusOr<std::unique_ptr<FuseMount>> FuseMount::Start(ImageCatalog* catalog,
                                                            const FuseMountOptions& options) {
  auto mount = std::make_unique<FuseMountImpl>(catalog, options);
  RETURN_IF_ERROR(mount->Mount());
  return mount;
}

}  // namespace layerdisk
