#include "tools/images/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"

extern char** environ;

namespace layerdisk {
namespace {

}  // namespace

std::string LastLine(const std::string& text) {
  std::string last;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view t = absl::StripAsciiWhitespace(line);
    if (!t.empty()) last = std::string(t);
  }
  return last;
}

namespace {

// Drains both pipes without deadlocking on a child that fills one of them.
void DrainPipes(int out_fd, int err_fd, std::string* out, std::string* err) {
  char buf[65536];
  int fds[2] = {out_fd, err_fd};
  std::string* dst[2] = {out, err};
  bool open[2] = {true, true};
  while (open[0] || open[1]) {
    fd_set set;
    FD_ZERO(&set);
    int maxfd = -1;
    for (int i = 0; i < 2; ++i)
      if (open[i]) {
        FD_SET(fds[i], &set);
        maxfd = std::max(maxfd, fds[i]);
      }
    if (::select(maxfd + 1, &set, nullptr, nullptr, nullptr) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (!open[i] || !FD_ISSET(fds[i], &set)) continue;
      ssize_t n = ::read(fds[i], buf, sizeof buf);
      if (n > 0) dst[i]->append(buf, static_cast<size_t>(n));
      else if (n == 0 || errno != EINTR) open[i] = false;
    }
  }
}

}  // namespace

absl::StatusOr<RunResult> Run(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot run %s (%s): install qemu-utils", argv[0], std::strerror(rc)));
  }
  RunResult result;
  DrainPipes(out_pipe[0], err_pipe[0], &result.out, &result.err);
  ::close(out_pipe[0]);
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

absl::StatusOr<std::string> RunCapture(const std::vector<std::string>& argv) {
  ASSIGN_OR_RETURN(RunResult r, Run(argv));
  if (r.exit_code == 0) return std::move(r.out);
  std::string why = LastLine(r.err);
  if (why.empty()) why = absl::StrFormat("exit status %d", r.exit_code);
  // qemu-img prefixes its messages with its own name; keep one.
  std::string prefix = argv[0] + ": ";
  if (absl::StartsWith(why, prefix)) why = why.substr(prefix.size());
  return absl::DataLossError(absl::StrFormat("%s: %s", argv[0], why));
}

}  // namespace layerdisk
