#include "core/threads.hpp"

#include <cblas.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace lockstep {
namespace {

// 0 until set: the first cpu_threads() then adopts OpenBLAS's own count (from
// OPENBLAS_NUM_THREADS or the cores) and sets OpenBLAS to one thread.
std::atomic<int> g_threads{0};
thread_local bool t_in_part = false;  // nested parallel_for runs serially

// Worker threads for parallel_for, started on first use and kept until exit.
// One job at a time (the caller holds run_mutex_ for the whole job); worker w
// runs part w + 1. Workers block on a condition variable between jobs.
class Pool {
 public:
  static Pool& get() {
    static Pool pool;
    return pool;
  }

  void run(int parts, int64_t n, const std::function<void(int, int64_t, int64_t)>& f) {
    std::lock_guard<std::mutex> job_lock(run_mutex_);
    grow(parts - 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &f;
      n_ = n;
      parts_ = parts;
      pending_ = parts - 1;
      error_ = nullptr;
      ++generation_;
    }
    start_.notify_all();
    run_part(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    job_ = nullptr;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    start_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

 private:
  Pool() = default;

  // Called before the job is posted: a new worker waits for the next generation.
  void grow(int workers) {
    uint64_t current = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current = generation_;
    }
    while (static_cast<int>(workers_.size()) < workers) {
      const int index = static_cast<int>(workers_.size());
      workers_.emplace_back([this, index, current] { loop(index, current); });
    }
  }

  void loop(int index, uint64_t seen) {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        start_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (index + 1 >= parts_) continue;  // this job needs fewer workers
      }
      run_part(index + 1);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  void run_part(int part) {
    const int64_t begin = part * n_ / parts_, end = (part + 1) * n_ / parts_;
    t_in_part = true;
    try {
      (*job_)(part, begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    t_in_part = false;
  }

  std::mutex run_mutex_;  // one job at a time
  std::mutex mutex_;      // guards everything below
  std::condition_variable start_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0;
  int parts_ = 0;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace

void set_cpu_threads(int threads) {
  LOCKSTEP_CHECK(threads >= 1, "CPU threads: expected >= 1, got " << threads);
  g_threads = threads;
  // Our pool is the parallelism; OpenBLAS's own threads would spin next to it.
  openblas_set_num_threads(1);
}

int cpu_threads() {
  if (g_threads == 0) set_cpu_threads(std::max(1, openblas_get_num_threads()));  // env's count
  return g_threads;
}

int available_cpus() {
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) return std::max(1, CPU_COUNT(&mask));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

namespace {

int host_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// The cores of the host divided among its ranks (at least 1).
int host_share(int local_ranks) { return std::max(1, host_cores() / std::max(1, local_ranks)); }

}  // namespace

void configure_cpu_threads(int requested, int local_ranks) {
  if (requested > 0) {
    set_cpu_threads(requested);
    return;
  }
  if (std::getenv("OPENBLAS_NUM_THREADS") || std::getenv("OMP_NUM_THREADS")) return;  // the user's
  // A rank bound to some cores (mpirun --bind-to core, srun --cpus-per-task)
  // uses those; an unbound rank shares the host's cores with its local peers.
  const int allowed = available_cpus();
  set_cpu_threads(allowed < host_cores() ? allowed : host_share(local_ranks));
}

std::string cpu_binding_note(int local_ranks) {
  const int allowed = available_cpus();
  if (allowed >= host_share(local_ranks)) return "";
  return " (rank 0 is bound to " + std::to_string(allowed) + " of " + std::to_string(host_cores()) +
         " CPUs; with mpirun, --bind-to none lifts that)";
}

int parallel_parts(int64_t n, int64_t min_per_part) {
  if (t_in_part || n <= 0) return 1;
  const int64_t by_size = n / std::max<int64_t>(min_per_part, 1);
  return static_cast<int>(std::clamp<int64_t>(by_size, 1, cpu_threads()));
}

void parallel_for(int64_t n, int64_t min_per_part,
                  const std::function<void(int part, int64_t begin, int64_t end)>& f) {
  const int parts = parallel_parts(n, min_per_part);
  if (parts <= 1) {
    if (n > 0) f(0, 0, n);
    return;
  }
  Pool::get().run(parts, n, f);
}

}  // namespace lockstep
