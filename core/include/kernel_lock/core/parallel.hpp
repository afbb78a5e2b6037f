// parallel_for: run job(i) for i in [0, count) on a few threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace kernel_lock {

// Threads for `jobs` jobs: `requested`, or all cores when 0; never more than jobs, at least 1.
inline unsigned worker_count(unsigned requested, std::size_t jobs) {
  unsigned n = requested != 0 ? requested : std::max(1U, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::min<std::size_t>(n, std::max<std::size_t>(jobs, 1)));
}

// Runs job(i) for i in [0, count) on `threads` workers (0: all cores), the
// calling thread among them. Once a job throws, no further job starts; after
// every worker finished, the exception of the lowest failing index is rethrown
// (deterministic errors).
template <class Job>
void parallel_for(std::size_t count, unsigned threads, Job&& job) {
  const unsigned workers = worker_count(threads, count);
  if (workers <= 1) {
    for (std::size_t i = 0; i < count; ++i) job(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::exception_ptr> errors(count);
  std::atomic<bool> failed{false};
  auto run = [&] {
    for (;;) {
      std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= count) return;
      if (failed.load(std::memory_order_relaxed)) {
        continue;  // drain: do no more work once something failed
      }
      try {
        job(i);
      } catch (...) {
        errors[i] = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
  };
  std::vector<std::jthread> pool;
  pool.reserve(workers - 1);
  for (unsigned w = 1; w < workers; ++w) pool.emplace_back(run);
  run();
  pool.clear();  // joins
  for (auto& error : errors)
    if (error) std::rethrow_exception(error);
}

}  // namespace kernel_lock
