// portico::log::Log and the frame of LogImpl: construction, open (the environment, the log's
// databases, the projections, the commit thread), shutdown, stats, and the Log façade that
// forwards to LogImpl. The parts of LogImpl live beside it (log_impl.hpp lists them): append.cpp
// (validation and group commit), read.cpp, verify.cpp (verify, backup, check_projections),
// projection_host.cpp, subscription.cpp; environment.cpp and layout.cpp are the ground they stand
// on.
#include <fmt/format.h>
#include <lmdb.h>
#include <pthread.h>

#include <cstdlib>
#include <mutex>
#include <portico/clock.hpp>
#include <portico/log/log.hpp>
#include <portico/warning.hpp>
#include <thread>

#include "log_impl.hpp"

namespace portico::log {
namespace detail {

LogImpl::LogImpl(std::filesystem::path dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  if (!options_.clock) options_.clock = system_clock_us;
  if (!options_.on_warning) options_.on_warning = warn_on_stderr;
}

LogImpl::~LogImpl() {
  if (committer_.joinable()) {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_one();
    committer_.join();  // answers everything queued first
  }
  stop_watcher();
}

LogResult<void> LogImpl::open() {
  // The log's five databases and up to 16 tables × 2 slots for each projection.
  const auto max_dbs = static_cast<unsigned>(
      8 + 32 * (options_.projections.size() + options_.async_projections.size()));
  if (auto ok = env_.open(dir_, options_, max_dbs); !ok) return ok;
  auto fail = [&](int rc, const char* origin) {
    return Unexpected(error_from(Status{rc, origin}));
  };
  std::shared_lock<RwLock> lock;
  Txn txn;
  if (Status s = env_.begin(options_.read_only ? MDB_RDONLY : 0u, lock, txn); !s.ok()) {
    return Unexpected(error_from(s));
  }
  const unsigned create = options_.read_only ? 0u : MDB_CREATE;
  struct Db {
    const char* name;
    unsigned flags;
    MDB_dbi* dbi;
  } dbs[] = {{"events", 0, &db_.events},
             {"streams", 0, &db_.streams},
             {"stream_index", MDB_DUPSORT | MDB_DUPFIXED, &db_.stream_index},
             {"event_ids", 0, &db_.event_ids},
             {"meta", 0, &db_.meta}};
  for (const Db& db : dbs) {
    if (int rc = mdb_dbi_open(txn.get(), db.name, db.flags | create, db.dbi); rc) {
      if (rc == MDB_NOTFOUND) {
        return log_error(Errc::corrupt,
                         fmt::format("{} holds an LMDB file but not a Portico log (no '{}')",
                                     dir_.string(), db.name));
      }
      return fail(rc, "mdb_dbi_open");
    }
  }
  Status s;
  auto format = txn.get(db_.meta, "format", s);
  if (!s.ok()) return Unexpected(error_from(s));
  if (!format) {
    if (options_.read_only) return log_error(Errc::corrupt, "log has no format marker");
    const Uuid log_id = new_uuid_v4();
    if (s = txn.put(db_.meta, "format", "1"); !s.ok()) return Unexpected(error_from(s));
    if (s = txn.put(db_.meta, "log_id", uuid_key(log_id)); !s.ok())
      return Unexpected(error_from(s));
  } else if (*format != "1") {
    return log_error(Errc::corrupt,
                     fmt::format("log format {} is not supported by this build", *format));
  }
  if (auto ok = open_projections(txn); !ok) return ok;
  if (s = txn.commit(); !s.ok()) return Unexpected(error_from(s));
  lock.unlock();

  if (auto ok = prepare_projections(); !ok) return ok;
  auto h = head();
  if (!h) return Unexpected(std::move(h).error());
  published_head_ = *h;
  if (!options_.read_only) {
    committer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "portico-commit");  // for top -H, perf and gdb
      commit_loop();
    });
  }
  return {};
}

Stats LogImpl::stats() const {
  Stats s;
  s.appends = stats_.appends;
  s.events = stats_.events;
  s.conflicts = stats_.conflicts;
  s.commits = stats_.commits;
  s.batched_appends = stats_.batched_appends;
  s.max_batch = stats_.max_batch;
  s.commit_ns = stats_.commit_ns;
  s.projection_ns = stats_.projection_ns;
  s.map_grows = env_.map_grows();
  s.map_size = env_.map_size();
  return s;
}

}  // namespace detail

// ---- Log ----

Log::Log(std::unique_ptr<detail::LogImpl> impl) : impl_(std::move(impl)) {}

Log::~Log() {
  if (impl_ && impl_->live_subscriptions() != 0) {
    impl_->warn(fmt::format("a Log was destroyed while {} subscription(s) still used it",
                            impl_->live_subscriptions()));
    std::abort();
  }
}

LogResult<std::unique_ptr<Log>> Log::open(const std::filesystem::path& dir, Options options) {
  auto impl = std::make_unique<detail::LogImpl>(dir, std::move(options));
  if (auto ok = impl->open(); !ok) return Unexpected(std::move(ok).error());
  return std::unique_ptr<Log>(new Log(std::move(impl)));
}

LogResult<AppendResult> Log::append(std::span<const StreamWrite> writes) {
  return impl_->append(writes);
}
LogResult<AppendResult> Log::append(const StreamWrite& write) {
  return impl_->append(std::span<const StreamWrite>(&write, 1));
}
void Log::append_async(std::span<const StreamWrite> writes, AppendCallback done) {
  impl_->append_async(writes, std::move(done));
}
LogResult<std::vector<Record>> Log::read_stream(std::string_view stream, std::uint64_t from_version,
                                                Direction direction, std::size_t max_count) const {
  return impl_->read_stream(stream, from_version, direction, max_count);
}
LogResult<std::vector<Record>> Log::read_all(std::uint64_t from_position,
                                             std::size_t max_count) const {
  return impl_->read_all(from_position, max_count);
}
LogResult<std::uint64_t> Log::stream_version(std::string_view stream) const {
  return impl_->stream_version(stream);
}
LogResult<std::uint64_t> Log::head() const { return impl_->head(); }
LogResult<std::optional<Record>> Log::find(const Uuid& id) const { return impl_->find(id); }
LogResult<VerifyReport> Log::verify(const Progress& progress) const {
  return impl_->verify(progress);
}
LogResult<void> Log::backup(const std::filesystem::path& dest, const Progress& progress) const {
  return impl_->backup(dest, progress);
}
Stats Log::stats() const { return impl_->stats(); }
LogResult<void> Log::read_projection(std::string_view name,
                                     const std::function<void(const TableReader&)>& fn) const {
  return impl_->read_projection(name, fn);
}
LogResult<std::uint64_t> Log::apply_projection(std::string_view name,
                                               std::span<const Record> records) {
  return impl_->apply_projection(name, records);
}
LogResult<void> Log::write_projection(std::string_view name,
                                      const std::function<Result<void>(TableWriter&)>& fn) {
  return impl_->write_projection(name, fn);
}
LogResult<ProjectionInfo> Log::projection_info(std::string_view name) const {
  return impl_->projection_info(name);
}
LogResult<void> Log::rebuild_projections(std::span<const std::string> names,
                                         const Progress& progress) {
  return impl_->rebuild_projections(names, progress);
}
LogResult<std::vector<ProjectionCheck>> Log::check_projections(const Progress& progress) const {
  return impl_->check_projections(progress);
}
const std::filesystem::path& Log::directory() const noexcept { return impl_->directory(); }

Subscription Log::subscribe(std::uint64_t from_position) {
  return Subscription(impl_.get(), from_position);
}

}  // namespace portico::log
