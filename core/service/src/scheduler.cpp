#include <chrono>
#include <portico/errc.hpp>
#include <portico/service/scheduler.hpp>

namespace portico::service {
Scheduler::Scheduler(Portal& portal, SchedulerOptions options)
    : portal_(portal),
      clock_(options.clock ? std::move(options.clock) : Clock([&portal] { return portal.now(); })),
      on_warning_(options.on_warning ? std::move(options.on_warning) : warn_on_stderr),
      subscription_(portal.event_log().subscribe(1)) {}

Scheduler::Scheduler(Portal& portal, Clock clock)
    : Scheduler(portal, SchedulerOptions{std::move(clock)}) {}

Scheduler::~Scheduler() { stop(); }

Result<void> Scheduler::refresh(const Key& key) {
  auto it = policies_.find(key.first);
  if (it == policies_.end()) {
    auto p = portal_.project(key.first);
    // Nothing to schedule without a project.
    if (!p && p.error().code == errc::kNotFound) return {};
    if (!p) return Unexpected(p.error());
    it = policies_.emplace(key.first, p->settings.policies).first;
  }
  auto t = portal_.ticket(key.first, key.second);
  if (!t && t.error().code == errc::kNotFound) return {};
  if (!t) return Unexpected(t.error());
  if (auto old = due_of_.find(key); old != due_of_.end()) {
    auto [first, last] = due_.equal_range(old->second);
    for (auto d = first; d != last; ++d) {
      if (d->second == key) {
        due_.erase(d);
        break;
      }
    }
    due_of_.erase(old);
  }
  if (auto next = domain::ticket::next_timer(**t, it->second)) {
    due_.emplace(*next, key);
    due_of_[key] = *next;
  }
  return {};
}

Result<std::size_t> Scheduler::step(std::chrono::milliseconds wait) {
  // 1. What changed: tickets to look at again; a project's new policies move all its timers.
  for (bool first = true;; first = false) {
    auto records = subscription_.next(4096, first ? wait : std::chrono::milliseconds(0));
    if (!records) return fail(errc::kUnavailable, records.error().message);
    if (records->empty()) break;
    for (const log::Record& r : *records) {
      if (auto ref = domain::ticket::parse_stream_id(r.stream)) {
        tickets_[ref->project].insert(ref->number);
        dirty_.insert({std::move(ref->project), ref->number});
      } else if (r.stream.starts_with("project:")) {
        const std::string slug = r.stream.substr(8);
        policies_.erase(slug);
        for (std::uint64_t n : tickets_[slug]) dirty_.insert({slug, n});
      }
    }
  }
  for (auto it = dirty_.begin(); it != dirty_.end(); it = dirty_.erase(it)) {
    if (auto ok = refresh(*it); !ok) return Unexpected(ok.error());
  }
  // 2. Fire what is due. The ticket's own events bring it back through step 1.
  const domain::TimeUs now = clock_();
  std::size_t fired = 0;
  while (!due_.empty() && due_.begin()->first <= now) {
    const auto [due, key] = *due_.begin();
    due_.erase(due_.begin());
    due_of_.erase(key);
    CommandMeta meta;
    meta.actor = domain::system_actor();
    meta.command_id =
        "timers:" + domain::ticket::stream_id(key.first, key.second) + ":" + std::to_string(due);
    auto done = portal_.execute(key.first, key.second, domain::ticket::ApplyTimers{}, meta);
    if (!done && done.error().code != errc::kNotFound) {
      // Storage trouble or a conflict: the timer stays, to be tried again in a second.
      due_.emplace(now + domain::kSecond, key);
      due_of_[key] = now + domain::kSecond;
      if (done.error().code == errc::kUnavailable) return Unexpected(done.error());
      continue;
    }
    ++fired;
    if (done && done->events.empty() && !done->replayed) {
      // Nothing was due by the portal's clock (it lags ours): look again in a second rather than
      // spinning. The ticket's next event, if any, brings it back sooner.
      due_.emplace(now + domain::kSecond, key);
      due_of_[key] = now + domain::kSecond;
    }
  }
  return fired;
}

std::optional<domain::TimeUs> Scheduler::next_due() const {
  if (due_.empty()) return std::nullopt;
  return due_.begin()->first;
}

void Scheduler::start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (!stopping_) {
      // Sleep until the next due time, or a new event, whichever comes first (at most a minute,
      // so a clock that jumps is noticed).
      std::chrono::milliseconds wait(60'000);
      if (auto due = next_due()) {
        const auto left = (*due - clock_()) / 1000;
        wait = std::chrono::milliseconds(std::clamp<std::int64_t>(left, 0, 60'000));
      }
      if (auto ok = step(wait); !ok && !stopping_) {
        on_warning_("scheduler: " + ok.error().message + " (" + ok.error().code +
                    "); trying again in a second");
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
  });
}

void Scheduler::stop() {
  stopping_ = true;
  subscription_.close();
  if (thread_.joinable()) thread_.join();
}

}  // namespace portico::service
