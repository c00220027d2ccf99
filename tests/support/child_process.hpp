// Runs a program as a child process with its standard output on a pipe (for tests that need a
// second process: crash safety, multi-process appends).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace portico::test {

class ChildProcess {
 public:
  // `input`, when given, is the child's standard input (small: it must fit in a pipe). With
  // `with_stderr`, standard error goes into the same pipe as standard output.
  explicit ChildProcess(const std::vector<std::string>& argv,
                        const std::optional<std::string>& input = std::nullopt,
                        bool with_stderr = false) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    int in[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    if (with_stderr) posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    if (input) {
      if (::pipe2(in, O_CLOEXEC) != 0) std::abort();
      if (::write(in[1], input->data(), input->size()) != static_cast<ssize_t>(input->size())) {
        std::abort();
      }
      ::close(in[1]);
      posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ) != 0) std::abort();
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (in[0] >= 0) ::close(in[0]);
    out_ = fds[0];
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(SIGKILL);
      wait();
    }
    if (out_ >= 0) ::close(out_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void kill(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  // Waits for the child to end and returns its wait status.
  int wait() {
    int status = 0;
    if (pid_ > 0) {
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    return status;
  }

  // The next line of output (without '\n'), or nullopt at end of output or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  // Everything the child still writes until it closes its output.
  std::string read_rest() {
    std::string all = std::move(buffer_);
    buffer_.clear();
    char chunk[4096];
    ssize_t n;
    while ((n = ::read(out_, chunk, sizeof chunk)) > 0)
      all.append(chunk, static_cast<std::size_t>(n));
    return all;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

// Runs a command to completion; returns its exit code and standard output.
struct Ran {
  int exit_code;
  std::string out;
};
// With `with_stderr`, `out` holds standard error too (what a person sees on the terminal).
inline Ran run(const std::vector<std::string>& argv,
               const std::optional<std::string>& input = std::nullopt, bool with_stderr = false) {
  ChildProcess child(argv, input, with_stderr);
  std::string out = child.read_rest();
  const int status = child.wait();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), std::move(out)};
}

}  // namespace portico::test
