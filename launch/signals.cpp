#include "launch/signals.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>

#include "comm/watchdog.hpp"

namespace lockstep::launch {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
std::atomic<const comm::Watchdog*> g_watchdog{nullptr};

void write_text(const char* text) {  // async-signal-safe
  size_t n = 0;
  while (text[n]) ++n;
  [[maybe_unused]] const ssize_t written = write(2, text, n);
}

extern "C" void on_stop_signal(int signal) {
  if (g_stop_signal != 0) {  // asked twice: stop now
    std::signal(signal, SIG_DFL);
    std::raise(signal);
    return;
  }
  g_stop_signal = signal;
  write_text(signal == SIGTERM
                 ? "lockstep: SIGTERM received: stopping at the next step boundary\n"
                 : "lockstep: SIGUSR1 received: stopping at the next step boundary\n");
  if (const comm::Watchdog* w = g_watchdog.load()) w->write_position(2);
}

}  // namespace

void install_stop_handlers(const comm::Watchdog* watchdog) {
  g_watchdog = watchdog;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // system calls in progress go on
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

int pending_stop_signal() {
  return g_stop_signal;
}

}  // namespace lockstep::launch
