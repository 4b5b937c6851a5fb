#include "microstudio/jobs/worker_process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "microstudio/core/error.hpp"
#include "microstudio/jobs/worker_protocol.hpp"

extern char** environ;

namespace ms::jobs {

namespace {
void closeIfOpen(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// write() to a pipe whose reader may be gone, without SIGPIPE ending the
// process and without changing how the process handles SIGPIPE: the signal
// is blocked for this thread during the write, and one the write raised is
// taken back before unblocking; the write fails with EPIPE instead.
ssize_t writeWithoutSigpipe(int fd, const char* data, std::size_t size) {
    sigset_t pipeOnly, previous, pending;
    sigemptyset(&pipeOnly);
    sigaddset(&pipeOnly, SIGPIPE);
    sigpending(&pending);
    const bool pendingBefore = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipeOnly, &previous);
    const ssize_t n = ::write(fd, data, size);
    const int error = errno;
    if (n < 0 && error == EPIPE && !pendingBefore) {
        const timespec now{0, 0};
        while (sigtimedwait(&pipeOnly, nullptr, &now) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    errno = error;
    return n;
}
}  // namespace

WorkerProcess::WorkerProcess(const std::string& executable) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0)
        throw Error("cannot create a pipe for the ML worker: " + std::string(std::strerror(errno)));
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(in[0]), ::close(in[1]);
        throw Error("cannot create a pipe for the ML worker: " + std::string(std::strerror(errno)));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<char*> argv{const_cast<char*>(executable.c_str()), const_cast<char*>("serve"), nullptr};
    const int failed = ::posix_spawn(&pid_, executable.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    toWorker_ = in[1];
    fromWorker_ = out[0];
    if (failed) {
        closeIfOpen(toWorker_);
        closeIfOpen(fromWorker_);
        throw Error(executable + ": cannot start the ML worker: " + std::strerror(failed));
    }
}

WorkerProcess::~WorkerProcess() {
    try {
        wait();
    } catch (...) {}
}

void WorkerProcess::send(const Json& message) {
    const std::string line = workerLine(message);
    for (std::size_t done = 0; done < line.size();) {
        const ssize_t n = writeWithoutSigpipe(toWorker_, line.data() + done, line.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw Error("the ML worker stopped reading: " + std::string(std::strerror(errno)));
        done += std::size_t(n);
    }
}

std::optional<Json> WorkerProcess::request(const Json& message, const std::function<void(const Json&)>& onEvent) {
    const std::int64_t id = messageId(message);
    try {
        send(message);
    } catch (const Error&) {
        return std::nullopt;  // its input is closed: it died
    }
    while (auto event = next()) {
        if (messageId(*event) != id) continue;
        const std::string kind = (*event)["event"].get<std::string>();
        if (kind == "done" || kind == "error") return event;
        if (onEvent) onEvent(*event);
    }
    return std::nullopt;
}

std::optional<Json> WorkerProcess::next() {
    for (;;) {
        if (const auto end = buffer_.find('\n'); end != std::string::npos) {
            const std::string line = buffer_.substr(0, end);
            buffer_.erase(0, end + 1);
            return parseWorkerLine(line);
        }
        char chunk[65536];
        const ssize_t n = ::read(fromWorker_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return std::nullopt;
        buffer_.append(chunk, std::size_t(n));
    }
}

int WorkerProcess::wait() {
    if (status_) return *status_;
    closeIfOpen(toWorker_);
    int raw = 0;
    while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {}
    closeIfOpen(fromWorker_);
    status_ = WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : WEXITSTATUS(raw);
    return *status_;
}

}  // namespace ms::jobs
