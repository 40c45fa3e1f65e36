#include "directory/directory.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <yaml-cpp/yaml.h>

#include "settings/yaml_reader.hpp"
#include "directory/csv.hpp"
#include "directory/phone.hpp"
#include "text/vietnamese.hpp"

namespace herald {

namespace {

bool valid_id(const std::string& id) {
  if (id.empty() || id.size() > 100) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

bool valid_email(const std::string& e) {
  auto at = e.find('@');
  if (at == std::string::npos || at == 0 || e.find('@', at + 1) != std::string::npos)
    return false;
  auto dot = e.find('.', at);
  if (dot == std::string::npos || dot == at + 1 || dot + 1 >= e.size() || e.back() == '.')
    return false;
  return std::none_of(e.begin(), e.end(),
                      [](char c) { return c == ' ' || c == '<' || c == '>' || c == ','; });
}

// Whether `c` can reach someone with these contacts (a preferred channel needs one).
bool reachable(const Contacts& k, Channel c) {
  switch (c) {
    case Channel::sms: return !k.phone.empty();
    case Channel::zalo: return !k.zalo_user_id.empty() || !k.phone.empty();
    case Channel::email: return !k.email.empty();
    case Channel::loudspeaker: return !k.loudspeaker_zone.empty();
  }
  return false;
}

// Without `channels`: Zalo (if a user id), SMS (if a phone), email, in that order.
std::vector<Channel> default_channels(const Contacts& k) {
  std::vector<Channel> out;
  if (!k.zalo_user_id.empty()) out.push_back(Channel::zalo);
  if (!k.phone.empty()) out.push_back(Channel::sms);
  if (!k.email.empty()) out.push_back(Channel::email);
  return out;
}

// A list of maps under `key`, each handed to `each` with its own reader.
template <typename Fn>
void for_each_entry(MapReader& root, const std::string& key, Fn each) {
  YAML::Node list = root.child(key);
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    root.diag().error(list.Mark(), key + " must be a list");
    return;
  }
  for (size_t i = 0; i < list.size(); ++i) {
    MapReader r(list[i], root.diag(), key + "[" + std::to_string(i) + "]");
    if (r.is_map()) each(r);
  }
}

// A string list whose items must name something known; errors point at the bad item.
std::vector<std::string> references(MapReader& r, const std::string& key,
                                    const std::function<bool(const std::string&)>& known,
                                    const std::string& kind) {
  std::vector<std::string> out;
  YAML::Node n = r.child(key);
  if (!n.IsDefined()) return out;
  if (!n.IsSequence()) {
    r.diag().error(n.Mark(), key + " must be a list of " + kind + " ids");
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    auto s = scalar_string(n[i], r.diag(), key + "[" + std::to_string(i) + "]");
    if (!s) continue;
    if (!known(*s)) r.diag().error(n[i].Mark(), "unknown " + kind + " \"" + *s + "\"");
    else out.push_back(*s);
  }
  return out;
}

// `fallback: {chain: [zalo, sms], after: 30m}`
FallbackChain read_fallback(MapReader& r) {
  FallbackChain f;
  YAML::Node n = r.child("fallback");
  if (!n.IsDefined()) return f;
  MapReader fr(n, r.diag(), "fallback", r.mark("fallback"));
  if (!fr.is_map()) return f;
  if (YAML::Node chain = fr.child("chain", true); chain.IsDefined()) {
    if (!chain.IsSequence()) {
      r.diag().error(chain.Mark(), "fallback.chain must be a list such as [zalo, sms]");
    } else {
      size_t errors_before = r.diag().errors().size();
      for (const auto& item : chain) {
        auto name = scalar_string(item, r.diag(), "fallback.chain item");
        if (!name) continue;
        auto c = parse_channel(*name);
        if (!c || *c == Channel::loudspeaker)
          r.diag().error(item.Mark(), "fallback channel must be sms, zalo or email, not \"" + *name + "\"");
        else if (std::find(f.chain.begin(), f.chain.end(), *c) != f.chain.end())
          r.diag().error(item.Mark(), "channel \"" + *name + "\" appears twice in the fallback chain");
        else
          f.chain.push_back(*c);
      }
      if (f.chain.size() == 1 && r.diag().errors().size() == errors_before)
        r.diag().error(chain.Mark(), "a fallback chain needs at least two channels");
    }
  }
  if (auto after = fr.duration_ms("after")) f.after_ms = *after;
  fr.finish();
  return f;
}

// The people table of a large directory: `people_csv: people.csv` beside the YAML. One
// row per person, the same fields and checks as a YAML entry; lists (groups, channels) are
// separated by ";". Read one row at a time.
constexpr const char* kCsvColumns[] = {"id", "name", "title", "groups", "phone", "zalo_user_id",
                                       "email", "loudspeaker_zone", "channels", "superior"};

std::vector<std::string> split_list(const std::string& cell) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= cell.size()) {
    size_t end = cell.find(';', start);
    if (end == std::string::npos) end = cell.size();
    std::string item = cell.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

struct CsvSuperior {
  std::string person, superior;
  int line, column;
};

void read_people_csv(const std::string& path, Diagnostics& diag, const std::map<std::string, Zone>& zones,
                     const std::function<bool(const std::string&)>& group_known,
                     const std::function<void(Person&&, int line, int column)>& add,
                     std::vector<CsvSuperior>& superiors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag.error(1, 1, "cannot read the people table " + path);
    return;
  }
  std::vector<int> column_of(std::size(kCsvColumns), -1);  // our column -> index in the row
  bool header = true;
  size_t header_size = 0;
  std::string malformed = csv::read(in, [&](std::vector<csv::Field>& row, int line) {
    if (header) {
      header = false;
      header_size = row.size();
      for (size_t i = 0; i < row.size(); ++i) {
        auto it = std::find(std::begin(kCsvColumns), std::end(kCsvColumns), row[i].value);
        if (it == std::end(kCsvColumns))
          diag.error(row[i].line, row[i].column, "unknown column \"" + row[i].value + "\" (id, name, title, groups, "
                     "phone, zalo_user_id, email, loudspeaker_zone, channels, superior)");
        else if (column_of[it - std::begin(kCsvColumns)] >= 0)
          diag.error(row[i].line, row[i].column, "column \"" + row[i].value + "\" appears twice");
        else
          column_of[it - std::begin(kCsvColumns)] = static_cast<int>(i);
      }
      for (const char* required : {"id", "name"})
        if (column_of[std::find(std::begin(kCsvColumns), std::end(kCsvColumns), std::string(required)) -
                      std::begin(kCsvColumns)] < 0)
          diag.error(line, 1, std::string("the header has no \"") + required + "\" column");
      return diag.ok();
    }
    if (row.size() > header_size) {
      diag.error(line, row.back().column, "more fields than the header names");
      return true;
    }
    static const csv::Field kEmpty{};
    auto cell = [&](int col) -> const csv::Field& {
      int i = column_of[col];
      return i >= 0 && static_cast<size_t>(i) < row.size() ? row[static_cast<size_t>(i)] : kEmpty;
    };
    auto at = [&](const csv::Field& f, const std::string& msg) {
      diag.error(f.line ? f.line : line, f.column ? f.column : 1, msg);
    };
    Person p;
    const csv::Field& id = cell(0);
    const size_t errors_before = diag.errors().size();
    if (!valid_id(id.value)) {
      at(id, "person id \"" + id.value + "\" must be lowercase a-z, 0-9, - _ .");
      return true;
    }
    p.id = id.value;
    p.name = cell(1).value;
    if (p.name.empty()) at(cell(1), "person \"" + p.id + "\" has no name");
    p.title = cell(2).value;
    for (auto& g : split_list(cell(3).value)) {
      if (!group_known(g)) at(cell(3), "unknown group \"" + g + "\"");
      else p.groups.push_back(std::move(g));
    }
    if (!cell(4).value.empty()) {
      auto res = normalize_phone(cell(4).value);
      if (res.e164) p.contacts.phone = *res.e164;
      else at(cell(4), res.error);
    }
    if (const std::string& z = cell(5).value; !z.empty()) {
      if (!std::all_of(z.begin(), z.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        at(cell(5), "zalo_user_id must be the digits of a Zalo user id");
      else
        p.contacts.zalo_user_id = z;
    }
    if (const std::string& e = cell(6).value; !e.empty()) {
      if (!valid_email(e)) at(cell(6), "bad email address \"" + e + "\"");
      else p.contacts.email = e;
    }
    if (const std::string& z = cell(7).value; !z.empty()) {
      if (!zones.count(z)) at(cell(7), "unknown zone \"" + z + "\"");
      else p.contacts.loudspeaker_zone = z;
    }
    const bool contacts_ok = diag.errors().size() == errors_before;
    if (column_of[8] >= 0 && !cell(8).value.empty()) {
      for (const auto& name : split_list(cell(8).value)) {
        auto c = parse_channel(name);
        if (!c) {
          at(cell(8), "unknown channel \"" + name + "\" (sms, zalo, email, loudspeaker)");
          continue;
        }
        if (!reachable(p.contacts, *c)) {
          if (contacts_ok) at(cell(8), "prefers " + name + " but has no contact for it");
        } else if (std::find(p.channels.begin(), p.channels.end(), *c) == p.channels.end()) {
          p.channels.push_back(*c);
        }
      }
    } else {
      p.channels = default_channels(p.contacts);
    }
    if (!cell(9).value.empty()) superiors.push_back({p.id, cell(9).value, cell(9).line, cell(9).column});
    add(std::move(p), id.line, id.column);
    return true;
  });
  if (!malformed.empty()) {
    int l = std::atoi(malformed.c_str());
    auto c1 = malformed.find(':');
    int c = std::atoi(malformed.c_str() + c1 + 1);
    diag.error(l, c, malformed.substr(malformed.find(':', c1 + 1) + 2));
  }
}

}  // namespace

const Group* Directory::group(const std::string& id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : &it->second;
}

const Person* Directory::person(const std::string& id) const {
  auto it = people_.find(id);
  return it == people_.end() ? nullptr : &it->second;
}

const Person* Directory::person_by_phone(const std::string& e164) const {
  auto it = phone_index_.find(e164);
  return it == phone_index_.end() ? nullptr : it->second;
}

const Person* Directory::person_by_zalo(const std::string& user_id) const {
  auto it = zalo_index_.find(user_id);
  return it == zalo_index_.end() ? nullptr : it->second;
}

const Zone* Directory::zone(const std::string& id) const {
  auto it = zones_.find(id);
  return it == zones_.end() ? nullptr : &it->second;
}

std::vector<const Person*> Directory::members(const std::string& group_id) const {
  auto it = members_.find(group_id);
  return it == members_.end() ? std::vector<const Person*>{} : it->second;
}

const Group* Directory::match(std::string_view text) const {
  auto it = alias_index_.find(match_key(text));
  return it == alias_index_.end() ? nullptr : group(it->second);
}

/// Reads a directory document into `dir_`, in named steps: zones and group ids first (people
/// and includes may name them in any order), then groups, people (from YAML and from the
/// people table), fallback chains taken from groups, memberships closed over includes
/// (refusing cycles), and the indexes replies are looked up by.
class DirectoryReader {
 public:
  DirectoryReader(Directory& dir, const YAML::Node& root, Diagnostics& diag)
      : dir_(dir), root_(root), diag_(diag), top_(root, diag, "directory") {}

  bool read() {
    if (!top_.is_map()) return false;
    const size_t errors_before = diag_.errors().size();
    read_zones();
    index_group_ids();
    read_groups();
    index_person_ids();
    for_each_entry(top_, "people", [&](MapReader& r) { read_person(r); });
    read_people_table();
    top_.finish();
    inherit_fallbacks();
    close_memberships();
    if (diag_.errors().size() != errors_before) return false;
    index_contacts();
    return true;
  }

 private:
  bool group_known(const std::string& id) const { return group_nodes_.count(id) > 0; }

  void read_zones() {
    for_each_entry(top_, "zones", [&](MapReader& r) {
      Zone z;
      auto id = r.string("id", true);
      z.name = r.string("name", true).value_or("");
      z.voice = r.string("voice").value_or("");  // empty: channels.loudspeaker.voice
      z.geocode = r.string("geocode").value_or("");
      if (!z.voice.empty() && z.voice != "northern" && z.voice != "central" && z.voice != "southern")
        diag_.error(r.child("voice").Mark(), "voice must be northern, central or southern");
      r.finish();
      if (!id) return;
      if (!valid_id(*id)) {
        diag_.error(r.child("id").Mark(), "zone id \"" + *id + "\" must be lowercase a-z, 0-9, - _ .");
        return;
      }
      z.id = *id;
      if (!dir_.zones_.emplace(z.id, z).second) diag_.error(r.child("id").Mark(), "duplicate zone id \"" + z.id + "\"");
    });
  }

  void index_group_ids() {
    YAML::Node list = top_.child("groups");
    if (list.IsSequence())
      for (const auto& g : list)
        if (g.IsMap() && g["id"] && g["id"].IsScalar()) group_nodes_.emplace(g["id"].Scalar(), g);
  }

  void read_groups() {
    auto known = [&](const std::string& id) { return group_known(id); };
    for_each_entry(top_, "groups", [&](MapReader& r) {
      Group g;
      auto id = r.string("id", true);
      g.name = r.string("name", true).value_or("");
      g.aliases = r.string_list("aliases").value_or(std::vector<std::string>{});
      g.includes = references(r, "includes", known, "group");
      g.fallback = read_fallback(r);
      r.finish();
      if (!id) return;
      if (!valid_id(*id)) {
        diag_.error(r.child("id").Mark(), "group id \"" + *id + "\" must be lowercase a-z, 0-9, - _ .");
        return;
      }
      g.id = *id;
      if (dir_.groups_.count(g.id)) {
        diag_.error(r.child("id").Mark(), "duplicate group id \"" + g.id + "\"");
        return;
      }
      std::vector<std::string> names = g.aliases;
      names.push_back(g.name);
      YAML::Node alias_node = r.child("aliases");
      for (const auto& n : names) {
        std::string key = match_key(n);
        if (key.empty()) continue;
        auto [it, inserted] = dir_.alias_index_.emplace(key, g.id);
        if (!inserted && it->second != g.id)
          diag_.error(alias_node.IsDefined() ? alias_node.Mark() : r.node().Mark(),
                      "name or alias \"" + n + "\" of group \"" + g.id + "\" is already used by group \"" +
                          it->second + "\"");
      }
      dir_.groups_.emplace(g.id, std::move(g));
    });
  }

  void index_person_ids() {
    YAML::Node list = top_.child("people");
    if (list.IsSequence())
      for (const auto& p : list)
        if (p.IsMap() && p["id"] && p["id"].IsScalar()) person_ids_.insert(p["id"].Scalar());
  }

  void read_person(MapReader& r) {
    Person p;
    auto id = r.string("id", true);
    p.name = r.string("name", true).value_or("");
    p.title = r.string("title").value_or("");
    p.groups = references(r, "groups", [&](const std::string& g) { return group_known(g); }, "group");
    p.fallback = read_fallback(r);
    if (auto sup = r.string("superior")) {
      if (!person_ids_.count(*sup))
        diag_.error(r.child("superior").Mark(), "unknown person \"" + *sup + "\" as superior");
      else
        p.superior = *sup;
    }
    // A contact refused here already explains why a preferred channel has no address.
    const size_t errors_before_contacts = diag_.errors().size();
    read_contacts(r, p.contacts);
    read_channels(r, p, diag_.errors().size() == errors_before_contacts);
    r.finish();
    if (!id) return;
    if (!valid_id(*id)) {
      diag_.error(r.child("id").Mark(), "person id \"" + *id + "\" must be lowercase a-z, 0-9, - _ .");
      return;
    }
    p.id = *id;
    if (dir_.groups_.count(p.id) || dir_.zones_.count(p.id))
      diag_.error(r.child("id").Mark(), "person id \"" + p.id + "\" is also a group or zone id");
    if (!dir_.people_.emplace(p.id, p).second) diag_.error(r.child("id").Mark(), "duplicate person id \"" + p.id + "\"");
  }

  void read_contacts(MapReader& r, Contacts& contacts) {
    YAML::Node node = r.child("contacts");
    if (!node.IsDefined()) return;
    MapReader c(node, diag_, r.what() + ".contacts", r.mark("contacts"));
    if (auto phone = c.string("phone")) {
      auto res = normalize_phone(*phone);
      if (res.e164) contacts.phone = *res.e164;
      else diag_.error(c.child("phone").Mark(), res.error);
    }
    if (auto z = c.string("zalo_user_id")) {
      if (z->empty() || !std::all_of(z->begin(), z->end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        diag_.error(c.child("zalo_user_id").Mark(), "zalo_user_id must be the digits of a Zalo user id");
      else
        contacts.zalo_user_id = *z;
    }
    if (auto e = c.string("email")) {
      if (!valid_email(*e)) diag_.error(c.child("email").Mark(), "bad email address \"" + *e + "\"");
      else contacts.email = *e;
    }
    if (auto z = c.string("loudspeaker_zone")) {
      if (!dir_.zones_.count(*z)) diag_.error(c.child("loudspeaker_zone").Mark(), "unknown zone \"" + *z + "\"");
      else contacts.loudspeaker_zone = *z;
    }
    c.finish();
  }

  // `channels: [zalo, sms]`, each one the person has a contact for; without it, the
  // channels their contacts allow.
  void read_channels(MapReader& r, Person& p, bool contacts_ok) {
    YAML::Node ch = r.child("channels");
    if (!ch.IsDefined()) {
      p.channels = default_channels(p.contacts);
      return;
    }
    if (!ch.IsSequence()) {
      diag_.error(ch.Mark(), "channels must be a list such as [zalo, sms]");
      return;
    }
    for (const auto& item : ch) {
      auto name = scalar_string(item, diag_, "channels item");
      if (!name) continue;
      auto c = parse_channel(*name);
      if (!c) {
        diag_.error(item.Mark(), "unknown channel \"" + *name + "\" (sms, zalo, email, loudspeaker)");
        continue;
      }
      if (!reachable(p.contacts, *c)) {
        if (contacts_ok) diag_.error(item.Mark(), "prefers " + *name + " but has no contact for it");
      } else if (std::find(p.channels.begin(), p.channels.end(), *c) == p.channels.end()) {
        p.channels.push_back(*c);
      }
    }
  }

  // `people_csv: people.csv`, relative to the file the directory is in.
  void read_people_table() {
    auto csv_file = top_.string("people_csv");
    if (!csv_file) return;
    std::filesystem::path path(*csv_file);
    if (path.is_relative()) path = std::filesystem::path(diag_.file()).parent_path() / path;
    Diagnostics csv_diag(path.string());
    std::vector<CsvSuperior> superiors;
    read_people_csv(path.string(), csv_diag, dir_.zones_, [&](const std::string& g) { return group_known(g); },
                    [&](Person&& p, int line, int column) {
                      if (dir_.groups_.count(p.id) || dir_.zones_.count(p.id))
                        csv_diag.error(line, column, "person id \"" + p.id + "\" is also a group or zone id");
                      std::string id = p.id;
                      if (!dir_.people_.emplace(id, std::move(p)).second)
                        csv_diag.error(line, column, "duplicate person id \"" + id + "\"");
                    },
                    superiors);
    for (auto& s : superiors) {
      auto it = dir_.people_.find(s.person);
      if (!dir_.people_.count(s.superior))
        csv_diag.error(s.line, s.column, "unknown person \"" + s.superior + "\" as superior");
      else if (it != dir_.people_.end())
        it->second.superior = std::move(s.superior);
    }
    diag_.absorb(csv_diag);
  }

  // A person without a chain of their own takes the first one among their groups.
  void inherit_fallbacks() {
    for (auto& [pid, p] : dir_.people_) {
      if (!p.fallback.empty()) continue;
      for (const auto& g : p.groups)
        if (auto it = dir_.groups_.find(g); it != dir_.groups_.end() && !it->second.fallback.empty()) {
          p.fallback = it->second.fallback;
          break;
        }
    }
  }

  // Each group's members through its includes, each once, by id; include cycles refused.
  void close_memberships() {
    std::map<std::string, std::vector<const Person*>> direct;
    for (const auto& [pid, p] : dir_.people_)
      for (const auto& g : p.groups) direct[g].push_back(&p);
    for (const auto& entry : dir_.groups_) {
      const std::string& gid = entry.first;
      // Each group reports only the cycle back to itself, with the path, so a group that
      // merely includes a cyclic group is not blamed for it.
      std::vector<const Person*> people;
      std::set<std::string> visited;
      std::string cycle;
      // Depth first with an explicit stack (the path from gid, and the next include of
      // each group on it): a chain of includes as long as the file allows cannot overflow
      // the call stack.
      std::vector<std::pair<const std::string*, size_t>> path;
      auto enter = [&](const std::string& id) {
        if (!visited.insert(id).second) {
          if (id == gid && cycle.empty()) {  // the first way back is enough to show
            for (const auto& step : path) cycle += *step.first + " -> ";
            cycle += id;
          }
          return;
        }
        if (auto d = direct.find(id); d != direct.end()) people.insert(people.end(), d->second.begin(), d->second.end());
        path.emplace_back(&id, 0);
      };
      enter(gid);
      while (!path.empty()) {
        auto it = dir_.groups_.find(*path.back().first);
        size_t& next = path.back().second;
        if (it == dir_.groups_.end() || next >= it->second.includes.size()) {
          path.pop_back();
          continue;
        }
        enter(it->second.includes[next++]);
      }
      if (!cycle.empty()) {
        diag_.error(group_nodes_.count(gid) ? group_nodes_[gid].Mark() : root_.Mark(),
                    "group \"" + gid + "\" includes itself: " + cycle);
        continue;
      }
      std::sort(people.begin(), people.end(), [](auto* a, auto* b) { return a->id < b->id; });
      people.erase(std::unique(people.begin(), people.end()), people.end());
      people.shrink_to_fit();
      dir_.members_[gid] = std::move(people);
    }
  }

  // Who a reply comes from. A number shared by two people (a shared office phone) names
  // neither: a reply from it cannot say who read the directive.
  void index_contacts() {
    dir_.phone_index_.reserve(dir_.people_.size());
    for (const auto& [id, p] : dir_.people_) {
      if (!p.contacts.phone.empty() && !dir_.phone_index_.emplace(p.contacts.phone, &p).second)
        dir_.phone_index_[p.contacts.phone] = nullptr;
      if (!p.contacts.zalo_user_id.empty()) dir_.zalo_index_.emplace(p.contacts.zalo_user_id, &p);
    }
  }

  Directory& dir_;
  const YAML::Node& root_;
  Diagnostics& diag_;
  MapReader top_;
  std::map<std::string, YAML::Node> group_nodes_;
  std::set<std::string> person_ids_;
};

std::optional<Directory> Directory::from_yaml(const YAML::Node& root, Diagnostics& diag) {
  Directory dir;
  if (!DirectoryReader(dir, root, diag).read()) return std::nullopt;
  return dir;
}

}  // namespace herald
