// Loudspeaker controller gateway: the job a controller gets for one zone (priority from
// urgency, text, audio, repeat, start time), its playback reports, and the configuration
// the factory refuses. Cases are data in testdata/ next to this file.
#include "adapters/loudspeaker/controller/controller.hpp"

#include <cstdlib>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "core/time.hpp"
#include "directive/directive.hpp"
#include "gateway_support.hpp"

namespace json = boost::json;

namespace herald {
namespace {

constexpr const char* kApiKey = "loa-key-9f2e17";

std::string testdata(const std::string& relative) {
  return test::source_path("adapters/loudspeaker/controller/testdata/" + relative);
}

std::shared_ptr<Gateway> gateway(const std::string& file) {
  setenv("HERALD_TEST_LOA_KEY", kApiKey, 1);
  auto g = test::gateway_from_yaml("loa", test::read_file(testdata(file)));
  unsetenv("HERALD_TEST_LOA_KEY");
  return g;
}

const Directive& seed() {
  static const Directive d = [] {
    Directive d = *parse_directive(test::seed_json()).directive;
    d.loudspeaker = LoudspeakerRequest{{"an-hiep", "an-ninh"}, "", 3};
    return d;
  }();
  return d;
}

OutboundMessage message(const Directive& d, const std::string& zone = "an-hiep") {
  OutboundMessage m;
  m.delivery_id = 31;
  m.token = "00112233445566778899aabbccddeeff";
  m.channel = Channel::loudspeaker;
  m.address = zone;
  m.recipient_name = "Xã An Hiệp";
  m.receipt_url = "http://127.0.0.1:8080/hooks/loudspeaker/loa/00112233445566778899aabbccddeeff";
  m.directive = &d;
  Announcement a;
  a.title = d.number + ": " + d.subject;
  a.script = "Thông báo của Huyện ủy Châu Thành.";
  a.audio_url = "http://127.0.0.1:8080/feeds/audio/0123456789abcdef0123456789abcdef.mp3";
  a.audio_mime = "audio/mpeg";
  a.audio_bytes = 123456;
  a.audio_duration_ms = 20570;
  a.audio_sha256 = std::string(64, 'a');
  a.voice = "southern";
  m.announcement = a;
  return m;
}

TEST(LoudspeakerController, DefaultJobCarriesEverythingAControllerNeeds) {
  auto g = gateway("minimal.yaml");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->channel(), Channel::loudspeaker);
  Directive d = seed();
  d.urgency = Urgency::hoa_toc;
  const OutboundMessage m = message(d);
  ASSERT_FALSE(g->refuse(m).has_value());
  const int64_t before = now_ms();
  const net::HttpRequest req = g->build(m);
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "http://127.0.0.1:18099/api/jobs");
  json::error_code ec;
  json::value body = json::parse(req.body, ec);
  ASSERT_FALSE(ec) << req.body;
  const json::object& o = body.as_object();
  EXPECT_EQ(o.at("job_id"), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(o.at("zones"), json::array{"an-hiep"});
  EXPECT_EQ(o.at("zone_name"), "Xã An Hiệp");
  EXPECT_EQ(o.at("priority"), "emergency");
  EXPECT_EQ(o.at("text"), "Thông báo của Huyện ủy Châu Thành.");
  EXPECT_EQ(o.at("title"), json::value(m.announcement->title));
  const json::object& audio = o.at("audio").as_object();
  EXPECT_EQ(audio.at("url"), json::value(m.announcement->audio_url));
  EXPECT_EQ(audio.at("mime_type"), "audio/mpeg");
  EXPECT_EQ(audio.at("bytes").to_number<int64_t>(), 123456);
  EXPECT_DOUBLE_EQ(audio.at("duration_s").to_number<double>(), 20.6);
  EXPECT_EQ(audio.at("voice"), "southern");
  EXPECT_EQ(o.at("repeat").to_number<int>(), 3);  // the directive's own repeat count
  EXPECT_EQ(o.at("schedule").at("mode"), "immediate");
  auto start = parse_rfc3339(o.at("schedule").at("start").as_string());
  ASSERT_TRUE(start.has_value());
  EXPECT_GE(*start, before - 1000);
  EXPECT_EQ(o.at("callback_url"), json::value(m.receipt_url));
  EXPECT_EQ(o.at("directive").at("number"), "158-CV/HU");
  EXPECT_EQ(o.at("directive").at("urgency"), "hoa_toc");
}

TEST(LoudspeakerController, PriorityFollowsUrgencyByDefault) {
  auto g = gateway("minimal.yaml");
  const std::pair<Urgency, const char*> cases[] = {{Urgency::normal, "normal"},
                                                   {Urgency::khan, "priority"},
                                                   {Urgency::thuong_khan, "priority"},
                                                   {Urgency::hoa_toc, "emergency"}};
  for (const auto& [u, expected] : cases) {
    Directive d = seed();
    d.urgency = u;
    json::value body = json::parse(g->build(message(d)).body);
    EXPECT_EQ(body.at("priority"), expected) << to_string(u);
    // No broadcast slots configured: everything starts at once.
    EXPECT_EQ(body.at("schedule").at("mode"), "immediate");
  }
}

TEST(LoudspeakerController, ConfiguredVocabularyZoneCodesAndAuth) {
  auto g = gateway("gateway.yaml");
  ASSERT_NE(g, nullptr);
  Directive d = seed();
  d.urgency = Urgency::hoa_toc;
  d.loudspeaker->repeat = 1;
  net::HttpRequest req = g->build(message(d));
  EXPECT_EQ(req.url, "https://loa.chauthanh.example/api/v2/broadcasts");
  EXPECT_EQ(req.timeout_ms, 8000);
  EXPECT_EQ(req.headers[0], std::string("Authorization: Bearer ") + kApiKey);
  EXPECT_EQ(req.headers[1], "Idempotency-Key: 00112233445566778899aabbccddeeff");
  json::value body = json::parse(req.body);
  EXPECT_EQ(body.at("zones"), json::array{"AH-01"});  // the controller's code for an-hiep
  EXPECT_EQ(body.at("priority"), "khan-cap");
  EXPECT_EQ(body.at("schedule").at("mode"), "immediate");
  // A zone without a code goes by its Herald id.
  body = json::parse(g->build(message(d, "an-ninh")).body);
  EXPECT_EQ(body.at("zones"), json::array{"an-ninh"});
  // Khẩn is not immediate here: it waits for the next broadcast slot (06:00 or 17:00).
  d.urgency = Urgency::khan;
  body = json::parse(g->build(message(d)).body);
  EXPECT_EQ(body.at("priority"), "uu-tien");
  EXPECT_EQ(body.at("schedule").at("mode"), "slot");
  const std::string start(body.at("schedule").at("start").as_string());
  EXPECT_TRUE(start.find("T06:00:00+07:00") != std::string::npos ||
              start.find("T17:00:00+07:00") != std::string::npos)
      << start;
}

TEST(LoudspeakerController, NextSlotAcrossMidnight) {
  auto g = gateway("gateway.yaml");
  auto* c = dynamic_cast<LoudspeakerControllerGateway*>(g.get());
  ASSERT_NE(c, nullptr);
  auto at = [](const char* s) { return *parse_rfc3339(s); };
  // 12:00 local -> 17:00 the same day; 17:00 exactly -> 17:00; 20:00 -> 06:00 next day.
  EXPECT_EQ(c->start_at_ms(Urgency::normal, at("2021-07-12T12:00:00+07:00")), at("2021-07-12T17:00:00+07:00"));
  EXPECT_EQ(c->start_at_ms(Urgency::normal, at("2021-07-12T17:00:00+07:00")), at("2021-07-12T17:00:00+07:00"));
  EXPECT_EQ(c->start_at_ms(Urgency::khan, at("2021-07-12T20:00:00+07:00")), at("2021-07-13T06:00:00+07:00"));
  // 23:30 UTC is 06:30 local the next day: the next slot is 17:00 that day.
  EXPECT_EQ(c->start_at_ms(Urgency::normal, at("2021-07-12T23:30:00Z")), at("2021-07-13T17:00:00+07:00"));
  EXPECT_EQ(c->start_at_ms(Urgency::hoa_toc, at("2021-07-12T20:00:00+07:00")), at("2021-07-12T20:00:00+07:00"));
}

TEST(LoudspeakerController, RefusesAJobWithNothingToRead) {
  auto g = gateway("minimal.yaml");
  OutboundMessage m = message(seed());
  m.announcement.reset();
  ASSERT_TRUE(g->refuse(m).has_value());
  EXPECT_EQ(g->refuse(m)->code, "no_announcement");
  // Audio that could not be rendered still leaves a valid job: the controller reads the text.
  m = message(seed());
  m.announcement->audio_url.clear();
  m.announcement->audio_bytes = 0;
  json::error_code ec;
  json::parse(g->build(m).body, ec);
  EXPECT_FALSE(ec);
}

TEST(LoudspeakerController, MapsTheControllerAnswer) {
  auto g = gateway("minimal.yaml");
  net::HttpResponse ok;
  ok.status = 201;
  ok.body = R"({"job_id": "ctl-42", "status": "scheduled"})";
  SendResult r = g->parse(ok);
  EXPECT_TRUE(r.error.ok());
  EXPECT_EQ(r.provider_ref, "ctl-42");
  net::HttpResponse busy;
  busy.status = 503;
  EXPECT_EQ(g->parse(busy).error.kind, SendErrorKind::server_error);
  net::HttpResponse unknown_zone;
  unknown_zone.status = 422;
  EXPECT_EQ(g->parse(unknown_zone).error.kind, SendErrorKind::bad_request);
}

}  // namespace
}  // namespace herald
