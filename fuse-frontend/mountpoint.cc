#include "fuse-frontend/mountpoint.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace layerdisk {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;

std::string ErrnoText(int err) { return std::strerror(err); }

// The errors a path on a FUSE mount without a server gives.
bool IsDeadFuseError(int err) { return err == ENOTCONN || err == ECONNABORTED; }

}  // namespace

absl::Status DetachMount(const std::string& path) {
  if (::umount2(path.c_str(), MNT_DETACH) == 0) return absl::OkStatus();
  const int umount_errno = errno;
  // Not root: fusermount3 is setuid and unmounts what this user mounted.
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execlp("fusermount3", "fusermount3", "-u", "-z", "-q", path.c_str(),
             static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int wstatus = 0;
  if (pid > 0 && ::waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus) &&
      WEXITSTATUS(wstatus) == 0)
    return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("cannot unmount ", path, ": ",
                                             ErrnoText(umount_errno),
                                             ", and fusermount3 -u -z failed too"));
}

absl::Status PrepareMountpoint(const std::string& path,
                               const std::function<void(std::string_view)>& log) {
  // statfs always reaches the server (stat may be answered from cached
  // attributes for a second after it died).
  struct statfs probe;
  if (::statfs(path.c_str(), &probe) != 0 && IsDeadFuseError(errno)) {
    if (log) log(absl::StrCat("fuse: ", path, " is a stale FUSE mount (",
                              ErrnoText(errno), "): unmounting it"));
    if (absl::Status s = DetachMount(path); !s.ok()) return s;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return absl::FailedPreconditionError(
          absl::StrCat("mount point ", path, ": ", ErrnoText(errno)));
    if (::mkdir(path.c_str(), 0755) != 0)
      return absl::FailedPreconditionError(
          absl::StrCat("cannot make mount point ", path, ": ", ErrnoText(errno)));
    return absl::OkStatus();
  }
  if (!S_ISDIR(st.st_mode))
    return absl::FailedPreconditionError(absl::StrCat("mount point ", path,
                                                      " is not a directory"));
  // A FUSE file system mounted right here (not merely a directory inside
  // one) answered stat: its server is alive.
  struct stat parent;
  struct statfs fs;
  const bool mounted_here =
      ::stat((path + "/..").c_str(), &parent) == 0 && parent.st_dev != st.st_dev;
  if (mounted_here && ::statfs(path.c_str(), &fs) == 0 && fs.f_type == kFuseSuperMagic)
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is already a live FUSE mount (another layerdisk serve?); "
              "unmount it first (fusermount3 -u ", path, ")"));
  return absl::OkStatus();
}

}  // namespace layerdisk
