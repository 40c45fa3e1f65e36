#pragma once
// The recipient directory: groups (with the Vietnamese names documents use), people,
// their contacts and channel preferences, and loudspeaker zones.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "settings/diagnostics.hpp"
#include "core/channel.hpp"

namespace YAML { class Node; }

namespace herald {

struct Contacts {
  std::string phone;           // E.164
  std::string zalo_user_id;    // Zalo OA follower id
  std::string email;
  std::string loudspeaker_zone;  // the zone this person operates, if any
};

/// Channels to try one after another: the next only when the previous one failed, or
/// got no receipt within `after_ms` (0: wait for failure only). Never in addition to a
/// success.
struct FallbackChain {
  std::vector<Channel> chain;
  int64_t after_ms = 0;
  bool empty() const { return chain.empty(); }
};

struct Person {
  std::string id;
  std::string name;
  std::string title;
  std::vector<std::string> groups;
  Contacts contacts;
  std::vector<Channel> channels;  // preference order
  std::string superior;           // person id, for escalation
  FallbackChain fallback;         // own, else the first of its groups' (in `groups` order)
};

struct Group {
  std::string id;
  std::string name;
  std::vector<std::string> aliases;
  std::vector<std::string> includes;  // member groups
  FallbackChain fallback;
};

struct Zone {
  std::string id;
  std::string name;
  std::string voice;    // northern | central | southern; empty: the configured default
  std::string geocode;  // administrative unit code
};

/// Immutable after loading; lookups by id and by alias. Moved, never copied (its indexes
/// point into itself).
class Directory {
 public:
  Directory() = default;
  Directory(Directory&&) = default;
  Directory& operator=(Directory&&) = default;
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  const Group* group(const std::string& id) const;
  const Person* person(const std::string& id) const;
  const Zone* zone(const std::string& id) const;
  /// Who has this E.164 phone number or Zalo user id (replies come from these).
  const Person* person_by_phone(const std::string& e164) const;
  const Person* person_by_zalo(const std::string& user_id) const;

  /// Everyone in the group and its included groups, each once, ordered by id.
  std::vector<const Person*> members(const std::string& group_id) const;

  /// The group whose name or alias matches this text (case, diacritics and punctuation
  /// ignored): how "Kính gửi" and "Nơi nhận" lines are resolved.
  const Group* match(std::string_view text) const;

  const std::map<std::string, Group>& groups() const { return groups_; }
  const std::map<std::string, Person>& people() const { return people_; }
  const std::map<std::string, Zone>& zones() const { return zones_; }

  /// Reads a directory document; every problem goes to `diag`.
  static std::optional<Directory> from_yaml(const YAML::Node& root, Diagnostics& diag);

 private:
  friend class DirectoryReader;  // directory.cpp: from_yaml's steps
  std::map<std::string, Group> groups_;
  std::map<std::string, Person> people_;
  std::map<std::string, Zone> zones_;
  // Pointers into people_ (std::map nodes never move, also when the map is moved).
  std::map<std::string, std::vector<const Person*>> members_;  // group -> people, by id
  std::map<std::string, std::string> alias_index_;             // match key -> group id
  // Views of the people's own strings: a national directory has millions of entries.
  std::unordered_map<std::string_view, const Person*> phone_index_;  // E.164 -> person (null: shared)
  std::unordered_map<std::string_view, const Person*> zalo_index_;   // Zalo user id -> person
};

}  // namespace herald
