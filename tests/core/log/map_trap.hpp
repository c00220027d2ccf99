// MapTrap: makes "something read the memory map while it moved" a certain crash instead of a rare
// one.
//
// When LMDB resizes the map (grow_map -> mdb_env_set_mapsize) it unmaps data.mdb and maps it
// again; a thread of this process that reads the environment meanwhile (mdb_env_info reads the
// meta pages in the map) faults, or reads freed memory. The window is a few microseconds, so a
// test that merely races appends against such a reader almost never hits it. The trap holds it
// open: armed, it makes grow_map (through the test seam detail::testing::before_grow, with the map
// lock held exclusively) turn the log's mapping of data.mdb unreadable (PROT_NONE), and keep it so
// until some thread is seen waiting for the map lock, then restore it and let the resize go on.
// Code that reads the map under the lock waits, and is counted; code that reads it without the
// lock gets SIGSEGV at once.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "environment.hpp"

namespace portico::test {

class MapTrap {
 public:
  // Traps the growths of the log whose data file is `data_file`. `opened` runs each time the
  // window opens (the map unreadable, the lock held), on the growing thread; it answers whether a
  // reader is coming (false closes the window at once, uncounted). Without it, one always is.
  explicit MapTrap(const std::filesystem::path& data_file, std::function<bool()> opened = {},
                   std::chrono::milliseconds patience = std::chrono::seconds(10))
      : file_(std::filesystem::canonical(data_file).string()),
        opened_(std::move(opened)),
        patience_(patience) {
    active_ = this;
    portico::log::detail::testing::before_grow = &before_grow;
  }
  ~MapTrap() {
    portico::log::detail::testing::before_grow = nullptr;
    active_ = nullptr;
  }
  MapTrap(const MapTrap&) = delete;
  MapTrap& operator=(const MapTrap&) = delete;

  // Growths during which the map was unreadable (and the bytes made so, over all of them).
  int windows() const { return windows_; }
  std::uint64_t trapped_bytes() const { return trapped_bytes_; }
  // Windows that ended because a thread waited for the map lock.
  int caught() const { return caught_; }
  // Windows in which a reader was expected and none waited within the patience.
  int missed() const { return missed_; }

 private:
  struct Mapping {
    void* start;
    std::size_t size;
    int prot;
  };

  // The ranges where this process maps `file`, from /proc/self/maps.
  static std::vector<Mapping> mappings_of(const std::string& file) {
    std::vector<Mapping> out;
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
      std::istringstream in(line);
      std::string range, perms, offset, dev, inode, path;
      in >> range >> perms >> offset >> dev >> inode;
      std::getline(in >> std::ws, path);
      if (path != file) continue;
      const std::size_t dash = range.find('-');
      const auto start = std::stoull(range.substr(0, dash), nullptr, 16);
      const auto end = std::stoull(range.substr(dash + 1), nullptr, 16);
      const int prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                       (perms[2] == 'x' ? PROT_EXEC : 0);
      out.push_back({reinterpret_cast<void*>(start), static_cast<std::size_t>(end - start), prot});
    }
    return out;
  }

  static void before_grow(const portico::log::detail::Environment& env) {
    MapTrap* self = active_;
    if (!self) return;
    const std::vector<Mapping> maps = mappings_of(self->file_);
    for (const Mapping& m : maps) {
      ::mprotect(m.start, m.size, PROT_NONE);
      self->trapped_bytes_ += m.size;
    }
    ++self->windows_;
    if (!self->opened_ || self->opened_()) {
      const auto deadline = std::chrono::steady_clock::now() + self->patience_;
      while (env.waiting_readers() == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      if (env.waiting_readers() > 0) {
        ++self->caught_;
      } else {
        ++self->missed_;
      }
    }
    for (const Mapping& m : maps) ::mprotect(m.start, m.size, m.prot);
  }

  static inline std::atomic<MapTrap*> active_{nullptr};

  std::string file_;
  std::function<bool()> opened_;
  std::chrono::milliseconds patience_;
  std::atomic<int> windows_{0}, caught_{0}, missed_{0};
  std::atomic<std::uint64_t> trapped_bytes_{0};
};

}  // namespace portico::test
