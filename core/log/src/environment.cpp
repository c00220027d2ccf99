// Environment: opening the LMDB environment, the map lock, and every call that reads or resizes the
// map (environment.hpp says why they belong together).
#include "environment.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <set>

namespace portico::log::detail {
namespace {

// LMDB forbids opening one environment twice in a process; this set remembers which directories
// (by device and inode) this process has open.
std::mutex g_open_mu;
std::set<std::pair<dev_t, ino_t>> g_open_dirs;

bool is_disk_full(int rc) { return rc == ENOSPC || rc == EFBIG || rc == EDQUOT; }

}  // namespace

LogError error_from(const lmdb::Status& s) {
  if (s.rc == MDB_CORRUPTED) return {Errc::corrupt, s.message(), std::nullopt, 0};
  if (s.rc == MDB_MAP_FULL || is_disk_full(s.rc)) {
    return {Errc::storage_full, s.message(), std::nullopt, 0};
  }
  return {Errc::io_error, s.message(), std::nullopt, 0};
}

RwLock::RwLock() {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&lock_, &attr);
  pthread_rwlockattr_destroy(&attr);
}

RwLock::~RwLock() { pthread_rwlock_destroy(&lock_); }

Environment::~Environment() {
  if (env_) mdb_env_close(env_);
  if (registered_) {
    std::lock_guard lock(g_open_mu);
    g_open_dirs.erase(dir_key_);
  }
}

LogResult<void> Environment::open(const std::filesystem::path& dir, const Options& options,
                                  unsigned max_dbs) {
  read_only_ = options.read_only;
  max_map_size_ = options.max_map_size;
  std::error_code ec;
  // The log holds password hashes, addresses and every message: a directory it makes is the
  // owner's alone (0700), and so are its files (0600, below); an existing one keeps its mode.
  if (options.create && !options.read_only && std::filesystem::create_directories(dir, ec)) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return log_error(Errc::invalid_argument, fmt::format("{} is not a directory", dir.string()));
  }
  if ((options.read_only || !options.create) && !std::filesystem::exists(dir / "data.mdb", ec)) {
    return log_error(Errc::invalid_argument, fmt::format("no log in {}", dir.string()));
  }
  dir_key_ = {st.st_dev, st.st_ino};
  {
    std::lock_guard lock(g_open_mu);
    if (!g_open_dirs.insert(dir_key_).second) {
      return log_error(Errc::already_open,
                       fmt::format("{} is already open in this process", dir.string()));
    }
    registered_ = true;
  }

  auto fail = [&](int rc, const char* origin) {
    return Unexpected(error_from(lmdb::Status{rc, origin}));
  };
  if (int rc = mdb_env_create(&env_); rc) return fail(rc, "mdb_env_create");
  mdb_env_set_maxdbs(env_, static_cast<MDB_dbi>(max_dbs));
  mdb_env_set_maxreaders(env_, 1024);
  const unsigned flags = MDB_NOTLS | (options.read_only ? MDB_RDONLY : 0u);
  const bool fresh = !std::filesystem::exists(dir / "data.mdb", ec);
  if (int rc = mdb_env_open(env_, dir.c_str(), flags, 0600); rc) return fail(rc, "mdb_env_open");
  if (fresh) {
    // The new files' directory entries must be durable before the first append is acknowledged.
    if (int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  // Reader slots left behind by processes that died (kill -9) would pin old pages for ever.
  int dead = 0;
  mdb_reader_check(env_, &dead);

  // No other thread has the environment yet: no lock needed.
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  if (!options.read_only && info.me_mapsize < options.initial_map_size) {
    if (int rc = mdb_env_set_mapsize(env_, options.initial_map_size); rc) {
      return fail(rc, "mdb_env_set_mapsize");
    }
    mdb_env_info(env_, &info);
  }
  map_size_ = info.me_mapsize;
  return {};
}

lmdb::Status Environment::begin(unsigned flags, std::shared_lock<RwLock>& lock, lmdb::Txn& txn) {
  for (;;) {
    lock = std::shared_lock(mu_);
    lmdb::Status s = lmdb::Txn::begin(env_, flags, txn);
    if (s.rc != MDB_MAP_RESIZED) return s;
    lock.unlock();
    adopt_map();
  }
}

void Environment::adopt_map() {
  std::unique_lock lock(mu_);
  mdb_env_set_mapsize(env_, 0);  // 0: take the size another process set
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  map_size_ = info.me_mapsize;
}

LogResult<void> Environment::grow_map() {
  std::unique_lock lock(mu_);
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  if (info.me_mapsize >= max_map_size_) {
    return log_error(Errc::storage_full,
                     fmt::format("mdb_put: MDB_MAP_FULL: the log reached its maximum size of {} "
                                 "bytes (Options::max_map_size)",
                                 max_map_size_));
  }
  const std::uint64_t next = std::min<std::uint64_t>(info.me_mapsize * 2, max_map_size_);
  if (auto* hook = testing::before_grow.load()) hook(*this);
  if (int rc = mdb_env_set_mapsize(env_, next); rc) {
    return Unexpected(error_from(lmdb::Status{rc, "mdb_env_set_mapsize"}));
  }
  ++map_grows_;
  map_size_ = next;
  return {};
}

EnvInfo Environment::info() const {
  std::shared_lock lock(mu_);
  MDB_envinfo info{};
  MDB_stat st{};
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &st);
  return {info.me_mapsize, (info.me_last_pgno + 1) * std::uint64_t{st.ms_psize},
          info.me_last_txnid};
}

void Environment::reserve_room(std::uint64_t bytes) {
  if (read_only_) return;
  std::unique_lock lock(mu_);
  MDB_envinfo now{};
  mdb_env_info(env_, &now);
  const std::uint64_t want = std::min(max_map_size_, bytes);
  if (now.me_mapsize < want && mdb_env_set_mapsize(env_, want) == 0) map_size_ = want;
}

lmdb::Status Environment::copy_compact(const std::filesystem::path& dest) {
  for (;;) {
    int rc;
    {
      std::shared_lock lock(mu_);
      rc = mdb_env_copy2(env_, dest.c_str(), MDB_CP_COMPACT);
    }
    if (rc != MDB_MAP_RESIZED) return {rc, "mdb_env_copy2"};
    std::error_code ec;
    std::filesystem::remove(dest / "data.mdb", ec);
    adopt_map();  // another process grew the map: adopt its size and copy again
  }
}

}  // namespace portico::log::detail
