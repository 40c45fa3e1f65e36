// directory: the example directory's groups, transitive membership, and how the
// "Kính gửi" / "Nơi nhận" lines of a real dispatch resolve to groups.
#include "directory/directory.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "support.hpp"

namespace herald {
namespace {

const std::vector<std::string> kCommunes{"an-hiep",  "an-ninh",  "ho-dac-kien",
                                         "phu-tam",  "phu-tan",  "thi-tran-chau-thanh",
                                         "thien-my", "thuan-hoa"};

std::vector<std::string> ids(const std::vector<const Person*>& people) {
  std::vector<std::string> out;
  for (const Person* p : people) out.push_back(p->id);
  return out;
}

TEST(Directory, CommuneCommitteesAreTheSixteenUbndPeople) {
  auto dir = test::example_directory();
  std::vector<std::string> expected;
  for (const auto& c : kCommunes) {
    expected.push_back("ct-ubnd-" + c);  // chairman
    expected.push_back("vp-ubnd-" + c);  // office
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids(dir->members("ubnd-xa-thi-tran")), expected);
}

TEST(Directory, IncludesAreTransitive) {
  auto dir = test::example_directory();
  // huyen-uy-vien includes ban-thuong-vu, whose members are not listed in huyen-uy-vien.
  auto members = ids(dir->members("huyen-uy-vien"));
  for (const char* id : {"bt-huyen-uy", "pbt-huyen-uy", "ct-ubnd-huyen", "cvp-huyen-uy",
                         "bt-dang-uy-an-ninh", "tt-cong-an-huyen"})
    EXPECT_NE(std::find(members.begin(), members.end(), id), members.end()) << id;
  EXPECT_EQ(members.size(), 15u);
  // chi-bo-dang-bo-truc-thuoc = the 8 commune party committees + the district agencies' cells.
  auto cells = ids(dir->members("chi-bo-dang-bo-truc-thuoc"));
  EXPECT_EQ(cells, (std::vector<std::string>{
                       "bt-dang-uy-an-hiep", "bt-dang-uy-an-ninh", "bt-dang-uy-ho-dac-kien",
                       "bt-dang-uy-phu-tam", "bt-dang-uy-phu-tan",
                       "bt-dang-uy-thi-tran-chau-thanh", "bt-dang-uy-thien-my",
                       "bt-dang-uy-thuan-hoa", "tt-ban-dan-van", "tt-ban-to-chuc",
                       "tt-ban-tuyen-giao", "tt-ubkt-huyen-uy"}));
  EXPECT_TRUE(dir->members("no-such-group").empty());
}

TEST(Directory, MembersAreUniqueAndSortedInEveryGroup) {
  auto dir = test::example_directory();
  for (const auto& [gid, g] : dir->groups()) {
    auto m = ids(dir->members(gid));
    EXPECT_TRUE(std::is_sorted(m.begin(), m.end())) << gid;
    EXPECT_EQ(std::set<std::string>(m.begin(), m.end()).size(), m.size()) << gid;
  }
}

std::optional<Directory> load_inline(const std::string& yaml, Diagnostics& diag) {
  return Directory::from_yaml(YAML::Load(yaml), diag);
}

TEST(Directory, PersonInTwoIncludedGroupsAppearsOnce) {
  Diagnostics diag("inline");
  auto dir = load_inline(R"(
groups:
  - {id: top, name: "Tất cả", includes: [a, b]}
  - {id: a, name: "Nhóm A", includes: [shared]}
  - {id: b, name: "Nhóm B", includes: [shared]}
  - {id: shared, name: "Nhóm chung"}
people:
  - {id: p-both, name: "Hai nhóm", groups: [a, b], contacts: {phone: "0912 000 001"}}
  - {id: p-shared, name: "Chung", groups: [shared], contacts: {phone: "0912 000 002"}}
  - {id: p-a, name: "Chỉ A", groups: [a, top], contacts: {phone: "0912 000 003"}}
)", diag);
  for (const auto& e : diag.errors()) ADD_FAILURE() << e.str();
  ASSERT_TRUE(dir.has_value());
  EXPECT_EQ(ids(dir->members("top")), (std::vector<std::string>{"p-a", "p-both", "p-shared"}));
  EXPECT_EQ(ids(dir->members("a")), (std::vector<std::string>{"p-a", "p-both", "p-shared"}));
  EXPECT_EQ(ids(dir->members("shared")), (std::vector<std::string>{"p-shared"}));
}

TEST(Directory, LongIncludeChainIsWalkedWithoutRecursion) {
  // g0 includes g1 includes ... g1999, whose one person is then in every group. The walk
  // keeps its path in a vector, not in call frames (it used to recurse once per group).
  constexpr int kGroups = 2000;
  std::string yaml = "groups:\n";
  for (int i = 0; i < kGroups; ++i) {
    yaml += "  - {id: g" + std::to_string(i) + ", name: \"Nhóm " + std::to_string(i) + "\"";
    if (i + 1 < kGroups) yaml += ", includes: [g" + std::to_string(i + 1) + "]";
    yaml += "}\n";
  }
  yaml += "people:\n  - {id: p, name: \"Cuối\", groups: [g" + std::to_string(kGroups - 1) +
          "], contacts: {phone: \"0912 000 001\"}}\n";
  Diagnostics diag("inline");
  auto dir = load_inline(yaml, diag);
  for (const auto& e : diag.errors()) ADD_FAILURE() << e.str();
  ASSERT_TRUE(dir.has_value());
  EXPECT_EQ(ids(dir->members("g0")), std::vector<std::string>{"p"});
  EXPECT_EQ(ids(dir->members("g1000")), std::vector<std::string>{"p"});
}

TEST(Directory, DefaultChannelsFollowContacts) {
  Diagnostics diag("inline");
  auto dir = load_inline(R"(
groups: [{id: g, name: "Nhóm"}]
people:
  - {id: all, name: "Đủ", groups: [g], contacts: {email: "a@x.example", phone: "0912 000 001", zalo_user_id: "42"}}
  - {id: mail, name: "Thư", groups: [g], contacts: {email: "b@x.example"}}
  - {id: none, name: "Không", groups: [g]}
)", diag);
  for (const auto& e : diag.errors()) ADD_FAILURE() << e.str();
  ASSERT_TRUE(dir.has_value());
  EXPECT_EQ(dir->person("all")->channels,
            (std::vector<Channel>{Channel::zalo, Channel::sms, Channel::email}));
  EXPECT_EQ(dir->person("mail")->channels, std::vector<Channel>{Channel::email});
  EXPECT_TRUE(dir->person("none")->channels.empty());
}

TEST(Directory, ContactsAreNormalised) {
  auto dir = test::example_directory();
  const Person* chair = dir->person("ct-ubnd-an-hiep");
  ASSERT_NE(chair, nullptr);
  EXPECT_EQ(chair->name, "Lê Văn Phước (giả định)");
  EXPECT_EQ(chair->contacts.phone, "+84912000126");  // written "0912.000.126"
  EXPECT_EQ(chair->contacts.zalo_user_id, "1000000000000013");
  EXPECT_EQ(chair->contacts.email, "ubnd.an-hiep@chauthanh.example");
  EXPECT_EQ(chair->channels, (std::vector<Channel>{Channel::sms, Channel::zalo}));
  EXPECT_EQ(chair->superior, "ct-ubnd-huyen");
  EXPECT_EQ(dir->person("cvp-huyen-uy")->contacts.phone, "+84912000104");  // "84912000104"
  EXPECT_EQ(dir->person("tt-ban-tuyen-giao")->contacts.phone, "+84912000106");  // "+84 912 000 106"
  EXPECT_EQ(dir->person("dtt-an-hiep")->contacts.loudspeaker_zone, "an-hiep");
  for (const auto& [id, p] : dir->people())
    if (!p.contacts.phone.empty()) {
      EXPECT_EQ(p.contacts.phone.rfind("+84912000", 0), 0u) << id;
    }
  ASSERT_NE(dir->zone("ho-dac-kien"), nullptr);
  EXPECT_EQ(dir->zone("ho-dac-kien")->name, "Xã Hồ Đắc Kiện");
  EXPECT_EQ(dir->zone("ho-dac-kien")->voice, "southern");
  EXPECT_EQ(dir->person("nobody"), nullptr);
  EXPECT_EQ(dir->zone("nowhere"), nullptr);
}

struct MatchCase {
  const char* name;
  std::string line;
  const char* group;  // nullptr: no group
};

void PrintTo(const MatchCase& c, std::ostream* os) { *os << c.name; }

class DirectoryMatchTest : public ::testing::TestWithParam<MatchCase> {};

TEST_P(DirectoryMatchTest, ResolvesLine) {
  const Group* g = test::example_directory()->match(GetParam().line);
  if (!GetParam().group) {
    EXPECT_EQ(g, nullptr) << "matched " << g->id;
  } else {
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->id, GetParam().group);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Seed158, DirectoryMatchTest,
    ::testing::Values(
        // "Kính gửi" of 158-CV/HU
        MatchCase{"KinhGuiChiBo", "- Chi bộ, đảng bộ trực thuộc Huyện ủy,", "chi-bo-dang-bo-truc-thuoc"},
        MatchCase{"KinhGuiUbnd", "- Ủy ban nhân dân các xã, thị trấn,", "ubnd-xa-thi-tran"},
        MatchCase{"KinhGuiBanNganh",
                  "- Các ban, ngành, đoàn thể huyện và các cơ quan Trung ương đóng tại địa phương,",
                  "ban-nganh-doan-the-huyen"},
        // "Nơi nhận"
        MatchCase{"NoiNhanHuyenUyVien", "- Các đồng chí Huyện ủy viên,", "huyen-uy-vien"},
        MatchCase{"NoiNhanLuu", "- Lưu Văn phòng Huyện ủy.", "van-phong-huyen-uy"},
        // Other spellings offices use
        MatchCase{"AliasUppercase", "UBND CÁC XÃ, THỊ TRẤN", "ubnd-xa-thi-tran"},
        MatchCase{"AliasUnaccented", "uy ban nhan dan xa an hiep", "ubnd-an-hiep"},
        MatchCase{"AliasAbbreviation", "- Lưu VPHU", "van-phong-huyen-uy"},
        MatchCase{"Unknown", "- Các sở, ban, ngành tỉnh,", nullptr},
        MatchCase{"Partial", "- Ủy ban nhân dân", nullptr},
        MatchCase{"Empty", "", nullptr}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Directory, AliasUsedByTwoGroupsIsRefused) {
  Diagnostics diag("inline");
  auto dir = load_inline(R"(
groups:
  - {id: a, name: "Văn phòng"}
  - {id: b, name: "Nhóm B", aliases: ["VĂN PHÒNG"]}
)", diag);
  EXPECT_FALSE(dir.has_value());
  ASSERT_EQ(diag.errors().size(), 1u);
  // Columns count bytes, as yaml-cpp does: "Nhóm" before the alias list is 5 bytes.
  EXPECT_EQ(diag.errors()[0].str(),
            "inline:4:39: name or alias \"VĂN PHÒNG\" of group \"b\" is already used by group \"a\"");
}

// A large directory's people come from a CSV table beside the YAML (people_csv).
class PeopleCsvTest : public ::testing::Test {
 protected:
  std::optional<Directory> load(const std::string& csv, Diagnostics& diag) {
    test::write_file(tmp_.file("people.csv"), csv);
    const std::string yaml = R"(
zones:
  - {id: an-hiep, name: "Xã An Hiệp"}
groups:
  - {id: ubnd, name: "UBND các xã"}
  - {id: huyen, name: "Huyện", includes: [ubnd]}
people:
  - {id: ct-huyen, name: "Chủ tịch huyện", contacts: {phone: "0912 000 001"}}
people_csv: people.csv
)";
    test::write_file(tmp_.file("directory.yaml"), yaml);
    return Directory::from_yaml(YAML::LoadFile(tmp_.file("directory.yaml")), diag);
  }
  std::vector<std::string> errors(const Diagnostics& diag) {
    std::vector<std::string> out;
    for (const auto& e : diag.errors()) out.push_back(e.str().substr(tmp_.file("").size()));
    return out;
  }
  test::TempDir tmp_;
};

TEST_F(PeopleCsvTest, RowsBecomePeopleWithTheSameRulesAsYamlEntries) {
  Diagnostics diag(tmp_.file("directory.yaml"));
  auto dir = load(
      "\xEF\xBB\xBFid,name,title,groups,phone,zalo_user_id,email,loudspeaker_zone,channels,superior\r\n"
      "ct-an-hiep,\"Trần Văn Ba, (giả định)\",Chủ tịch,ubnd; huyen,0912 000 101,1000000000000101,ba@an-hiep.example,,"
      "zalo;sms,ct-huyen\r\n"
      "\r\n"
      "vp-an-hiep,\"Văn phòng \"\"UBND\"\"\nxã An Hiệp\",,ubnd,+84 912 000 102,,,an-hiep,,\n",
      diag);
  ASSERT_TRUE(dir.has_value()) << (diag.errors().empty() ? "" : diag.errors()[0].str());
  EXPECT_EQ(dir->people().size(), 3u);
  const Person* ba = dir->person("ct-an-hiep");
  ASSERT_NE(ba, nullptr);
  EXPECT_EQ(ba->name, "Trần Văn Ba, (giả định)");
  EXPECT_EQ(ba->title, "Chủ tịch");
  EXPECT_EQ(ba->groups, (std::vector<std::string>{"ubnd", "huyen"}));
  EXPECT_EQ(ba->contacts.phone, "+84912000101");
  EXPECT_EQ(ba->contacts.email, "ba@an-hiep.example");
  EXPECT_EQ(ba->channels, (std::vector<Channel>{Channel::zalo, Channel::sms}));
  EXPECT_EQ(ba->superior, "ct-huyen");
  const Person* vp = dir->person("vp-an-hiep");
  ASSERT_NE(vp, nullptr);
  EXPECT_EQ(vp->name, "Văn phòng \"UBND\"\nxã An Hiệp");  // a quoted line break is part of the field
  EXPECT_EQ(vp->contacts.loudspeaker_zone, "an-hiep");
  EXPECT_EQ(vp->channels, (std::vector<Channel>{Channel::sms}));  // from the contacts
  EXPECT_EQ(ids(dir->members("huyen")), (std::vector<std::string>{"ct-an-hiep", "vp-an-hiep"}));
  EXPECT_EQ(dir->person_by_phone("+84912000102"), vp);
  EXPECT_EQ(dir->person_by_zalo("1000000000000101"), ba);
}

TEST_F(PeopleCsvTest, EveryBadCellIsReportedWithItsLineAndColumn) {
  Diagnostics diag(tmp_.file("directory.yaml"));
  auto dir = load(
      "id,name,groups,phone,email,channels,superior\n"
      "a1,Người A,ubnd;no-such,0912 000 201,a1@x.example,sms,\n"
      "a2,Người B,ubnd,12345,not-an-email,email,\n"
      "a3,Người C,ubnd,0912 000 203,,zalo;fax,nobody\n"
      "a1,Người D,ubnd,0912 000 204,,,\n"
      "Bad Id,Người E,,,,,\n"
      "a6,Người F,ubnd,0912 000 206,,,,extra\n",
      diag);
  EXPECT_FALSE(dir.has_value());
  EXPECT_EQ(errors(diag), (std::vector<std::string>{
                              // Columns count bytes, as for YAML: "Người A" is 10.
                              "people.csv:2:15: unknown group \"no-such\"",
                              "people.csv:3:20: phone number \"12345\": write it as 0xxx xxx xxx or +84 xxx xxx xxx",
                              "people.csv:3:26: bad email address \"not-an-email\"",
                              "people.csv:4:34: unknown channel \"fax\" (sms, zalo, email, loudspeaker)",
                              "people.csv:5:1: duplicate person id \"a1\"",
                              "people.csv:6:1: person id \"Bad Id\" must be lowercase a-z, 0-9, - _ .",
                              "people.csv:7:36: more fields than the header names",
                              "people.csv:4:43: unknown person \"nobody\" as superior",
                          }));
}

TEST_F(PeopleCsvTest, AMalformedTableOrHeaderIsRefused) {
  {
    Diagnostics diag(tmp_.file("directory.yaml"));
    EXPECT_FALSE(load("id,name,phone_number\n", diag).has_value());
    EXPECT_EQ(errors(diag), (std::vector<std::string>{
                                "people.csv:1:9: unknown column \"phone_number\" (id, name, title, groups, phone, "
                                "zalo_user_id, email, loudspeaker_zone, channels, superior)"}));
  }
  {
    Diagnostics diag(tmp_.file("directory.yaml"));
    EXPECT_FALSE(load("id,phone\n", diag).has_value());
    EXPECT_EQ(errors(diag), (std::vector<std::string>{"people.csv:1:1: the header has no \"name\" column"}));
  }
  {
    Diagnostics diag(tmp_.file("directory.yaml"));
    EXPECT_FALSE(load("id,name\nb1,\"Người \"B\n", diag).has_value());
    EXPECT_EQ(errors(diag), (std::vector<std::string>{"people.csv:2:15: unexpected character after a quoted field"}));
  }
  {
    Diagnostics diag(tmp_.file("directory.yaml"));
    EXPECT_FALSE(load("id,name\nb1,\"Người B\nb2,Người C\n", diag).has_value());
    EXPECT_EQ(errors(diag), (std::vector<std::string>{"people.csv:2:4: unterminated quoted field"}));
  }
  {
    Diagnostics diag(tmp_.file("directory.yaml"));
    EXPECT_FALSE(load("id,name\nb1,Người \"B\"\n", diag).has_value());
    EXPECT_EQ(errors(diag), (std::vector<std::string>{"people.csv:2:4: a quote inside an unquoted field"}));
  }
  {
    Diagnostics diag(tmp_.file("directory.yaml"));
    std::remove(tmp_.file("people.csv").c_str());
    test::write_file(tmp_.file("directory.yaml"), "groups: []\npeople_csv: missing.csv\n");
    EXPECT_FALSE(Directory::from_yaml(YAML::LoadFile(tmp_.file("directory.yaml")), diag).has_value());
    EXPECT_EQ(errors(diag), (std::vector<std::string>{"missing.csv:1:1: cannot read the people table " +
                                                      tmp_.file("missing.csv")}));
  }
}

}  // namespace
}  // namespace herald
