// The CAP 1.2 feed: every document Herald renders validates against the official OASIS
// schema (xmllint, from Debian's libxml2-utils), a Cancel references the original, the
// Atom index is well-formed; and the store's side of it: cancellation and the listing of
// directives meant for the public.
#include "feeds/cap.hpp"

#include <cstdio>

#include <gtest/gtest.h>

#include "core/time.hpp"
#include "render/announcement.hpp"
#include "planner/planner.hpp"
#include "store/store.hpp"
#include "support.hpp"

namespace herald {
namespace {

const std::string kXsd = test::source_path("tests/data/standards/CAP-v1.2.xsd");

struct Lint {
  int status;
  std::string output;
};

// xmllint's verdict on `xml` (with the CAP schema unless `schema_path` is empty).
Lint xmllint(const std::string& xml, const std::string& schema_path) {
  test::TempDir tmp;
  const std::string file = tmp.file("doc.xml");
  test::write_file(file, xml);
  std::string cmd = "xmllint --noout " + (schema_path.empty() ? "" : "--schema '" + schema_path + "' ") + "'" +
                    file + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return {-1, "cannot run xmllint"};
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

class Cap : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = *parse_directive(test::seed_json()).directive;
    seed_.loudspeaker = LoudspeakerRequest{{"an-hiep", "an-ninh", "ho-dac-kien"}, "", 2};
    cfg_.sender = "vanphong@huyenuy.chauthanh.example";
    cfg_.category = "Health";
    alert_.directive = &seed_;
    alert_.received_at_ms = *parse_rfc3339("2021-07-12T08:05:00+07:00");
    auto text = announcement_text(seed_, LoudspeakerSettings{});
    ASSERT_TRUE(text.has_value());
    alert_.headline = text->title;
    alert_.description = text->spoken;
    alert_.areas = {{"Xã An Hiệp", "31474"}, {"Xã An Ninh", "31477"}, {"Xã Hồ Đắc Kiện", ""}};
    alert_.resources = {{"Bản đọc thông báo (giọng miền Nam)", "audio/mpeg", 123456,
                         "http://127.0.0.1:8080/feeds/audio/0123456789abcdef0123456789abcdef.mp3",
                         "0a4d55a8d778e5022fab701977c5d840bbc486d0"}};
  }

  Directive seed_;
  CapFeedConfig cfg_;
  feeds::CapAlert alert_;
};

TEST_F(Cap, AlertValidatesAgainstTheOfficialSchema) {
  const std::string xml = feeds::render_alert(alert_, cfg_);
  const Lint lint = xmllint(xml, kXsd);
  EXPECT_EQ(lint.status, 0) << lint.output << "\n" << xml;
  EXPECT_NE(xml.find("<identifier>hu-chauthanh/158-CV/HU/2021</identifier>"), std::string::npos);
  EXPECT_NE(xml.find("<sent>2021-07-12T08:00:00+07:00</sent>"), std::string::npos);
  EXPECT_NE(xml.find("<msgType>Alert</msgType>"), std::string::npos);
  EXPECT_NE(xml.find("<scope>Public</scope>"), std::string::npos);
  EXPECT_NE(xml.find("<language>vi-VN</language>"), std::string::npos);
  EXPECT_NE(xml.find("<urgency>Expected</urgency>"), std::string::npos);  // Khẩn
  EXPECT_NE(xml.find("<severity>Moderate</severity>"), std::string::npos);
  EXPECT_NE(xml.find("<certainty>Observed</certainty>"), std::string::npos);
  EXPECT_NE(xml.find("<areaDesc>Xã Hồ Đắc Kiện</areaDesc>"), std::string::npos);
  EXPECT_NE(xml.find("<value>31474</value>"), std::string::npos);
  EXPECT_NE(xml.find("<digest>0a4d55a8d778e5022fab701977c5d840bbc486d0</digest>"), std::string::npos);
}

TEST_F(Cap, TheSchemaCheckCanFail) {
  std::string xml = feeds::render_alert(alert_, cfg_);
  xml.replace(xml.find("<status>Actual</status>"), 23, "<status>Real</status>");
  EXPECT_NE(xmllint(xml, kXsd).status, 0);
  // CAP times must carry an explicit offset, not Z.
  xml = feeds::render_alert(alert_, cfg_);
  xml.replace(xml.find("2021-07-12T08:00:00+07:00"), 25, "2021-07-12T01:00:00Z");
  EXPECT_NE(xmllint(xml, kXsd).status, 0);
}

TEST_F(Cap, HoaTocIsImmediateAndSevere) {
  seed_.urgency = Urgency::hoa_toc;
  const std::string xml = feeds::render_alert(alert_, cfg_);
  EXPECT_NE(xml.find("<urgency>Immediate</urgency>"), std::string::npos);
  EXPECT_NE(xml.find("<severity>Severe</severity>"), std::string::npos);
  EXPECT_EQ(xmllint(xml, kXsd).status, 0);
}

TEST_F(Cap, CancelReferencesTheOriginal) {
  alert_.cancelled_at_ms = *parse_rfc3339("2021-07-12T10:30:00+07:00");
  alert_.cancel_reason = "Đã có thông báo thay thế <số 160> & hướng dẫn mới";
  const std::string xml = feeds::render_cancel(alert_, cfg_);
  const Lint lint = xmllint(xml, kXsd);
  EXPECT_EQ(lint.status, 0) << lint.output << "\n" << xml;
  EXPECT_NE(xml.find("<msgType>Cancel</msgType>"), std::string::npos);
  EXPECT_NE(xml.find("<identifier>hu-chauthanh/158-CV/HU/2021:cancel</identifier>"), std::string::npos);
  EXPECT_NE(xml.find("<sent>2021-07-12T10:30:00+07:00</sent>"), std::string::npos);
  EXPECT_NE(xml.find("<references>vanphong@huyenuy.chauthanh.example,hu-chauthanh/158-CV/HU/2021,"
                     "2021-07-12T08:00:00+07:00</references>"),
            std::string::npos);
  EXPECT_NE(xml.find("&lt;số 160&gt; &amp; hướng dẫn mới"), std::string::npos);
  EXPECT_EQ(xml.find("<resource>"), std::string::npos);  // nothing to play any more
}

TEST_F(Cap, IdentifierAndTextAreMadeSafe) {
  seed_.id = "a b,c<d&e";
  alert_.headline = std::string("tab\tand bell\x07 and <tag>");
  const std::string xml = feeds::render_alert(alert_, cfg_);
  EXPECT_NE(xml.find("<identifier>a_b_c_d_e</identifier>"), std::string::npos);
  EXPECT_NE(xml.find("tab\tand bell and &lt;tag&gt;"), std::string::npos);
  EXPECT_EQ(xmllint(xml, kXsd).status, 0);
}

TEST_F(Cap, AtomIndexIsWellFormed) {
  std::vector<feeds::AtomEntry> entries{
      {"hu-chauthanh/158-CV/HU/2021", "158-CV/HU: V/v <tăng cường> & phòng, chống", "Tóm tắt", "2021-07-12T08:00:00+07:00",
       "http://127.0.0.1:8080/feeds/cap/hu-chauthanh%2F158-CV%2FHU%2F2021.xml", "Alert"}};
  const std::string xml = feeds::render_atom(entries, "http://127.0.0.1:8080/feeds/cap.atom", cfg_, 0);
  const Lint lint = xmllint(xml, "");
  EXPECT_EQ(lint.status, 0) << lint.output << "\n" << xml;
  EXPECT_NE(xml.find("<feed xmlns=\"http://www.w3.org/2005/Atom\">"), std::string::npos);
  EXPECT_NE(xml.find("type=\"application/cap+xml\""), std::string::npos);
  EXPECT_NE(xml.find("<updated>2021-07-12T08:00:00+07:00</updated>"), std::string::npos);
}

TEST(Announcement, ConfidentialIsANoticeOrNothing) {
  Directive d = *parse_directive(test::seed_json()).directive;
  d.confidentiality = Confidentiality::mat;
  LoudspeakerSettings s;
  auto text = announcement_text(d, s);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(text->title, "Thông báo của Huyện ủy Châu Thành");
  EXPECT_EQ(text->spoken.find("Covid"), std::string::npos) << text->spoken;
  EXPECT_EQ(text->spoken.find("158"), std::string::npos) << text->spoken;
  EXPECT_NE(text->spoken.find("Huyện ủy Châu Thành có văn bản"), std::string::npos) << text->spoken;
  s.confidential = LoudspeakerSettings::Confidential::skip;
  EXPECT_FALSE(announcement_text(d, s).has_value());
}

TEST(Announcement, ReadsTheLoudspeakerTextElseTheSummary) {
  Directive d = *parse_directive(test::seed_json()).directive;
  auto text = announcement_text(d, LoudspeakerSettings{});
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(text->spoken.rfind("Thông báo của Huyện ủy Châu Thành. Văn bản số 158-CV/HU ngày 12/7/2021, V/v", 0), 0u)
      << text->spoken;
  EXPECT_NE(text->spoken.find(d.summary), std::string::npos);
  EXPECT_EQ(text->spoken.find(d.body.substr(0, 40)), std::string::npos);
  EXPECT_EQ(text->script.find("158"), std::string::npos) << text->script;  // read as words
  d.loudspeaker = LoudspeakerRequest{{"an-hiep"}, "Bà con lưu ý đeo khẩu trang khi ra đường", 1};
  text = announcement_text(d, LoudspeakerSettings{});
  EXPECT_NE(text->spoken.find("Bà con lưu ý đeo khẩu trang khi ra đường."), std::string::npos);
  EXPECT_EQ(text->spoken.find(d.summary), std::string::npos);
}

class PublicDirectives : public ::testing::Test {
 protected:
  test::TempDir tmp_;
  std::unique_ptr<Store> store_ = test::open_store(tmp_.file("herald.db"));
};

TEST_F(PublicDirectives, ListedByZonesAndCancelledOnce) {
  Directive d = *parse_directive(test::seed_json()).directive;
  auto dir = test::example_directory();
  const Config cfg = test::config_with(dir);
  store_->commit_directive(d, test::seed_json(), plan_deliveries(d, *dir, cfg).deliveries);
  EXPECT_TRUE(store_->public_directives(0, 10).empty());  // no zones: not for the public

  Directive p = d;
  p.id = "hu-chauthanh/160-TB/HU/2021";
  p.loudspeaker = LoudspeakerRequest{{"an-hiep", "an-ninh"}, "", 1};
  Plan plan = plan_deliveries(p, *dir, cfg);
  store_->commit_directive(p, "{}", plan.deliveries);
  auto listed = store_->public_directives(0, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, p.id);
  EXPECT_EQ(listed[0].zones, (std::vector<std::string>{"an-hiep", "an-ninh"}));
  EXPECT_FALSE(listed[0].cancelled_at_ms.has_value());
  EXPECT_TRUE(store_->public_directives(now_ms() + 60000, 10).empty());  // outside the window

  // One delivery already on its way stays as it is; the rest are held back.
  auto rows = store_->deliveries(p.id);
  const int64_t on_its_way = rows[0].id;
  ASSERT_TRUE(store_->transition(on_its_way, {DeliveryState::sending, Cause::send_started, "test", {}, {}, {}, {}, {}}).applied);
  CancelOutcome c = store_->cancel_directive(p.id, "office", "thay thế bằng 161", now_ms());
  EXPECT_TRUE(c.found);
  EXPECT_FALSE(c.already);
  // Marked, its waiting deliveries not yet cancelled (a stop here): none is claimed for
  // sending, and the store knows the cancel is unfinished.
  EXPECT_EQ(store_->unfinished_cancels(), std::vector<std::string>{p.id});
  for (Channel ch : kAllChannels)
    for (const auto& claimed : store_->claim_due(ch, "gw", now_ms() + 1, 1000)) EXPECT_NE(claimed.directive_id, p.id);
  // In batches of 3 until none waits.
  size_t cancelled = 0;
  CancelBatch b;
  int batches = 0;
  do {
    b = store_->cancel_waiting(p.id, b.after, 3, now_ms());
    cancelled += b.cancelled;
    ++batches;
  } while (!b.done && batches < 1000);
  EXPECT_EQ(b.in_flight, 1u);
  EXPECT_EQ(cancelled + 1, rows.size());
  // A batch each three, then one from the start for what became waiting behind the cursor.
  EXPECT_LE(batches, static_cast<int>((rows.size() - 1) / 3 + 2));
  EXPECT_TRUE(store_->unfinished_cancels().empty());
  for (const auto& r : store_->deliveries(p.id))
    EXPECT_EQ(r.state, r.id == on_its_way ? DeliveryState::sending : DeliveryState::cancelled);
  // Nothing cancelled is claimed for sending (the first directive's deliveries are).
  for (Channel ch : kAllChannels)
    for (const auto& c : store_->claim_due(ch, "gw", now_ms() + 1, 1000)) EXPECT_NE(c.directive_id, p.id);
  auto summary = store_->directive(p.id)->summary;
  ASSERT_TRUE(summary.cancelled_at_ms.has_value());
  EXPECT_EQ(summary.cancelled_by, "office");
  EXPECT_EQ(summary.cancel_reason, "thay thế bằng 161");
  // Once only.
  CancelOutcome again = store_->cancel_directive(p.id, "office", "", now_ms());
  EXPECT_TRUE(again.already);
  EXPECT_TRUE(store_->cancel_waiting(p.id, 0, 3, now_ms()).done);
  EXPECT_EQ(again.cancelled_at_ms, *summary.cancelled_at_ms);
  EXPECT_FALSE(store_->cancel_directive("no/such", "office", "", now_ms()).found);
  // The audit trail names the operator.
  bool seen = false;
  for (const auto& e : store_->events(p.id))
    if (e.delivery_id == 0 && e.to_state == "cancelled") {
      seen = true;
      EXPECT_EQ(e.source, "operator:office");
    }
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace herald
