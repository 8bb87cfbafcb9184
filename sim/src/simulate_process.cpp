// One simulation per child process: fork, simulate in the child, send the serialized result through a pipe.
// The parent never starts SimGrid, so any number of simulations can run from one process (the CLI, a sweep,
// a Python kernel), and each starts from a clean clock.
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "headroom/sim/engine.hpp"

namespace headroom {

namespace {

// The child's outcome: 'R' + the work's bytes, or 'E' + an error message (an input error seen only there).
[[noreturn]] void child_main(int fd, const std::function<std::string()>& work) {
    std::string payload;
    try {
        const std::string bytes = work();
        payload.reserve(bytes.size() + 1);
        payload.push_back('R');
        payload.append(bytes);
    } catch (const std::exception& e) {
        payload.push_back('E');
        payload.append(e.what());
    }
    const char* p = payload.data();
    size_t left = payload.size();
    while (left > 0) {
        const ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(3);
        p += n;
        left -= static_cast<size_t>(n);
    }
    close(fd);
    _exit(0);
}

// One simulation's work in the child: the result with the child's peak memory, as bytes.
std::string simulation_bytes(const Scenario& sc, const SimulationOptions& options) {
    SimulationResult r = simulate_in_this_process(sc, options);
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0) r.peak_rss_bytes = static_cast<double>(usage.ru_maxrss) * 1024.0;
    return serialize_result(r);
}

struct Child {
    pid_t pid = -1;
    int fd = -1;
    size_t index = 0;
    std::string bytes;
};

Child start(const std::function<std::string()>& work, size_t index) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], work);
    }
    close(fds[1]);
    return Child{pid, fds[0], index, {}};
}

// The child's bytes once it has exited; its error, or how it died, as an exception.
std::string finish(Child& c, const std::string& name) {
    int status = 0;
    while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || c.bytes.empty()) {
        throw std::runtime_error(fmt::format("simulation of {} failed in its child process ({})", name,
                                             WIFSIGNALED(status) ? fmt::format("signal {}", WTERMSIG(status))
                                                                 : fmt::format("exit {}", WEXITSTATUS(status))));
    }
    if (c.bytes[0] == 'E') throw std::runtime_error(c.bytes.substr(1));
    return c.bytes.substr(1);
}

// Per thread: a check set by one caller (a Python call waiting for Ctrl-C) is never consulted by a simulation
// another thread runs (a Dask worker's threads, a notebook's background thread).
std::function<bool()>& interrupt_check() {
    thread_local std::function<bool()> check;
    return check;
}

// Kills and reaps the children still running (an interrupted run leaves no process behind).
void stop_all(std::vector<Child>& running) {
    for (Child& c : running) kill(c.pid, SIGKILL);
    for (Child& c : running) {
        close(c.fd);
        int status = 0;
        while (waitpid(c.pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    running.clear();
}

}  // namespace

void set_interrupt_check(std::function<bool()> check) { interrupt_check() = std::move(check); }

SimulationResult simulate(const Scenario& sc, const SimulationOptions& options) {
    try {
        return std::move(simulate_many({sc}, options, 1)[0]);
    } catch (...) {
        if (options.requests_sink) options.requests_sink->abandon();  // a child that died left its file behind
        throw;
    }
}

std::vector<SimulationResult> simulate_many(const std::vector<Scenario>& scenarios, const SimulationOptions& options,
                                            int jobs, const std::function<void(size_t)>& on_done) {
    std::vector<SimulationResult> results(scenarios.size());
    std::vector<Child> running;
    size_t next = 0, finished = 0;
    jobs = std::max(1, jobs);
    std::string error;
    while (finished < scenarios.size()) {
        while (error.empty() && next < scenarios.size() && static_cast<int>(running.size()) < jobs) {
            const Scenario& sc = scenarios[next];
            running.push_back(start([&sc, &options] { return simulation_bytes(sc, options); }, next));
            ++next;
        }
        if (running.empty()) break;
        std::vector<pollfd> fds;
        for (const Child& c : running) fds.push_back({c.fd, POLLIN, 0});
        const bool checked = static_cast<bool>(interrupt_check());
        const int ready = poll(fds.data(), fds.size(), checked ? 100 : -1);
        if (checked && interrupt_check()()) {
            stop_all(running);
            throw Interrupted{};
        }
        if (ready < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(fmt::format("poll: {}", std::strerror(errno)));
        }
        for (size_t i = 0; i < running.size();) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ++i;
                continue;
            }
            char buf[1 << 16];
            const ssize_t n = read(running[i].fd, buf, sizeof buf);
            if (n > 0) {
                running[i].bytes.append(buf, static_cast<size_t>(n));
                ++i;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            close(running[i].fd);
            try {
                results[running[i].index] = deserialize_result(finish(running[i], scenarios[running[i].index].name));
            } catch (const std::exception& e) {
                if (error.empty()) error = e.what();
            }
            ++finished;
            if (on_done) on_done(finished);
            running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
            fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i));
        }
        if (!error.empty() && running.empty()) break;
    }
    if (!error.empty()) throw std::runtime_error(error);
    return results;
}

std::string run_in_child(const std::function<std::string()>& work, const std::string& name) {
    Child c = start(work, 0);
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = read(c.fd, buf, sizeof buf);
        if (n > 0) {
            c.bytes.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
    close(c.fd);
    return finish(c, name);
}

}  // namespace headroom
