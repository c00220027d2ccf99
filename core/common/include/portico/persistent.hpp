// Persistent containers: a copy costs O(1) and shares everything with the original; a change
// makes a new version in O(log32 n), copying only the path to what it changes, and never alters
// what another copy sees. A ticket's folded state holds its thread in them, so that a command on
// a ticket of 2,000 messages copies as little as one on a ticket of two (docs/domain.md).
//
// Versions may be read from any number of threads at once; one version is changed by one thread
// at a time (like a std::vector). The nodes are immutable once shared, so reading a version while
// another thread changes a copy of it is safe.
#pragma once

#include <bit>
#include <boost/container/static_vector.hpp>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>
#include <variant>
#include <vector>

namespace portico {

// A vector as a 32-way trie of shared, immutable nodes (Bagwell's and Hickey's persistent vector,
// without the tail buffer): the element at index i is found by five bits of i per level.
template <class T>
class PersistentVector {
  static constexpr unsigned kBits = 5;
  static constexpr std::size_t kWidth = std::size_t{1} << kBits;
  static constexpr std::size_t kMask = kWidth - 1;

  struct Node;
  using NodePtr = std::shared_ptr<const Node>;
  using ItemPtr = std::shared_ptr<const T>;
  struct Node {
    boost::container::static_vector<NodePtr, kWidth> children;  // inner nodes
    boost::container::static_vector<ItemPtr, kWidth> items;     // leaves
  };

 public:
  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;

    const_iterator() = default;
    reference operator*() const { return (*v_)[i_]; }
    pointer operator->() const { return &(*v_)[i_]; }
    reference operator[](difference_type n) const { return (*v_)[i_ + n]; }
    const_iterator& operator++() { return ++i_, *this; }
    const_iterator operator++(int) { return {v_, i_++}; }
    const_iterator& operator--() { return --i_, *this; }
    const_iterator operator--(int) { return {v_, i_--}; }
    const_iterator& operator+=(difference_type n) { return i_ += n, *this; }
    const_iterator& operator-=(difference_type n) { return i_ -= n, *this; }
    friend const_iterator operator+(const_iterator it, difference_type n) { return it += n; }
    friend const_iterator operator+(difference_type n, const_iterator it) { return it += n; }
    friend const_iterator operator-(const_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const const_iterator& a, const const_iterator& b) {
      return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.i_ == b.i_;
    }
    friend auto operator<=>(const const_iterator& a, const const_iterator& b) {
      return a.i_ <=> b.i_;
    }

   private:
    friend class PersistentVector;
    const_iterator(const PersistentVector* v, std::size_t i) : v_(v), i_(i) {}
    const PersistentVector* v_ = nullptr;
    std::size_t i_ = 0;
  };
  using value_type = T;
  using size_type = std::size_t;
  using iterator = const_iterator;
  using reverse_iterator = std::reverse_iterator<const_iterator>;
  using const_reverse_iterator = reverse_iterator;

  PersistentVector() = default;
  PersistentVector(std::initializer_list<T> items) {
    for (const T& item : items) push_back(item);
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  const T& operator[](std::size_t i) const {
    assert(i < size_);
    const Node* node = root_.get();
    for (unsigned shift = shift_; shift > 0; shift -= kBits) {
      node = node->children[(i >> shift) & kMask].get();
    }
    return *node->items[i & kMask];
  }
  const T& front() const { return (*this)[0]; }
  const T& back() const { return (*this)[size_ - 1]; }

  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }
  reverse_iterator rbegin() const { return reverse_iterator(end()); }
  reverse_iterator rend() const { return reverse_iterator(begin()); }

  void push_back(T item) {
    if (root_ && size_ == (kWidth << shift_)) {  // full: a new root above the old one
      auto grown = std::make_shared<Node>();
      grown->children.push_back(std::move(root_));
      root_ = std::move(grown);
      shift_ += kBits;
    }
    root_ = put(root_.get(), shift_, size_, std::make_shared<const T>(std::move(item)));
    ++size_;
  }

  // Replaces the element at `i` (< size()).
  void set(std::size_t i, T item) {
    assert(i < size_);
    root_ = put(root_.get(), shift_, i, std::make_shared<const T>(std::move(item)));
  }

  friend bool operator==(const PersistentVector& a, const PersistentVector& b) {
    if (a.size_ != b.size_) return false;
    if (a.root_ == b.root_) return true;
    for (std::size_t i = 0; i < a.size_; ++i) {
      if (!(a[i] == b[i])) return false;
    }
    return true;
  }

 private:
  // A copy of `node` (or a new node) with `item` at index `i` below it.
  static NodePtr put(const Node* node, unsigned shift, std::size_t i, ItemPtr item) {
    auto copy = node ? std::make_shared<Node>(*node) : std::make_shared<Node>();
    const std::size_t slot = (i >> shift) & kMask;
    if (shift == 0) {
      if (slot == copy->items.size()) {
        copy->items.push_back(std::move(item));
      } else {
        copy->items[slot] = std::move(item);
      }
    } else {
      const Node* child = slot < copy->children.size() ? copy->children[slot].get() : nullptr;
      NodePtr changed = put(child, shift - kBits, i, std::move(item));
      if (slot == copy->children.size()) {
        copy->children.push_back(std::move(changed));
      } else {
        copy->children[slot] = std::move(changed);
      }
    }
    return copy;
  }

  NodePtr root_;
  std::size_t size_ = 0;
  unsigned shift_ = 0;  // bits of the index above the leaves
};

// A hash map as a hash array mapped trie (Bagwell): five bits of the key's hash per level, each
// node holding only the slots in use (a bitmap says which). Keys whose 64-bit hashes are equal
// share a bucket at the bottom.
template <class K, class V, class Hash = std::hash<K>>
class PersistentHashMap {
  static constexpr unsigned kBits = 5;
  static constexpr unsigned kHashBits = 64;

  struct Node;
  using NodePtr = std::shared_ptr<const Node>;
  struct Entry {
    std::uint64_t hash;
    K key;
    V value;
  };
  using Slot = std::variant<Entry, NodePtr>;
  struct Node {
    std::uint32_t bitmap = 0;
    std::vector<Slot> slots;    // one per bit set in `bitmap`, in bit order
    std::vector<Entry> bucket;  // below the last level: every key of one hash
  };

 public:
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  template <class Key>
  const V* find(const Key& key) const {
    const std::uint64_t h = Hash{}(key);
    const Node* node = root_.get();
    for (unsigned shift = 0; node; shift += kBits) {
      if (shift >= kHashBits) {
        for (const Entry& e : node->bucket) {
          if (e.key == key) return &e.value;
        }
        return nullptr;
      }
      const std::uint32_t bit = std::uint32_t{1} << ((h >> shift) & 31);
      if (!(node->bitmap & bit)) return nullptr;
      const Slot& slot = node->slots[index(node->bitmap, bit)];
      if (const Entry* e = std::get_if<Entry>(&slot)) {
        return e->hash == h && e->key == key ? &e->value : nullptr;
      }
      node = std::get<NodePtr>(slot).get();
    }
    return nullptr;
  }

  // Sets `key` to `value`, adding it when absent.
  void set(K key, V value) {
    const std::uint64_t h = Hash{}(key);
    bool added = false;
    root_ = put(root_.get(), 0, Entry{h, std::move(key), std::move(value)}, added);
    if (added) ++size_;
  }

 private:
  static std::size_t index(std::uint32_t bitmap, std::uint32_t bit) {
    return static_cast<std::size_t>(std::popcount(bitmap & (bit - 1)));
  }

  static NodePtr put(const Node* node, unsigned shift, Entry entry, bool& added) {
    auto copy = node ? std::make_shared<Node>(*node) : std::make_shared<Node>();
    if (shift >= kHashBits) {
      for (Entry& e : copy->bucket) {
        if (e.key == entry.key) {
          e.value = std::move(entry.value);
          return copy;
        }
      }
      copy->bucket.push_back(std::move(entry));
      added = true;
      return copy;
    }
    const std::uint32_t bit = std::uint32_t{1} << ((entry.hash >> shift) & 31);
    const std::size_t at = index(copy->bitmap, bit);
    if (!(copy->bitmap & bit)) {
      copy->bitmap |= bit;
      copy->slots.insert(copy->slots.begin() + static_cast<std::ptrdiff_t>(at),
                         Slot(std::move(entry)));
      added = true;
      return copy;
    }
    Slot& slot = copy->slots[at];
    if (Entry* e = std::get_if<Entry>(&slot)) {
      if (e->hash == entry.hash && e->key == entry.key) {
        e->value = std::move(entry.value);
        return copy;
      }
      // Two keys in one slot: a node below holds both.
      Entry old = std::move(*e);
      bool ignored = false;
      NodePtr below = put(nullptr, shift + kBits, std::move(old), ignored);
      slot = put(below.get(), shift + kBits, std::move(entry), added);
      return copy;
    }
    slot = put(std::get<NodePtr>(slot).get(), shift + kBits, std::move(entry), added);
    return copy;
  }

  NodePtr root_;
  std::size_t size_ = 0;
};

}  // namespace portico
