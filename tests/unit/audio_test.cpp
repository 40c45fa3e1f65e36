// Loudspeaker audio: real synthesis with espeak-ng's Vietnamese voices, real MP3 encoding
// with LAME, checked from the outside with sox (which must be installed: libsox-fmt-mp3)
// and coreutils' sha1sum/sha256sum.
#include <sys/stat.h>

#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "loudspeaker/audio.hpp"

namespace herald::loudspeaker {
namespace {

namespace fs = std::filesystem;

// Point 3 of directive 158-CV/HU (Huyện ủy Châu Thành, Sóc Trăng, 12/7/2021).
constexpr const char* kSentence =
    "Các đồng chí Ủy viên Ban Thường vụ, Huyện ủy viên tăng cường trách nhiệm chỉ đạo, thường "
    "xuyên bám sát địa bàn, kiểm tra công tác phòng, chống dịch Covid-19 đối với đơn vị cấp xã "
    "được phân công theo dõi.";

/// A fresh folder under the system temp folder, removed with its contents afterwards.
class TempDir {
 public:
  TempDir() {
    std::mt19937_64 rng(std::random_device{}());
    std::ostringstream name;
    name << "herald-audio-test-" << std::hex << rng();
    path_ = fs::temp_directory_path() / name.str();
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

struct CommandResult {
  int status = -1;  // exit status, -1 if it did not exit normally
  std::string output;  // stdout and stderr
};

/// Runs a shell command, collecting stdout and stderr.
CommandResult run(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int rc = ::pclose(p);
  if (rc != -1 && WIFEXITED(rc)) r.status = WEXITSTATUS(rc);
  return r;
}

std::string shell_quote(const std::string& path) { return "'" + path + "'"; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string digest(const EVP_MD* md, const std::string& data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr), 1);
  std::string hex;
  char two[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", out[i]);
    hex += two;
  }
  return hex;
}

size_t word_count(const std::string& text) {
  std::istringstream in(text);
  size_t n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

/// The number sox prints after `label` (e.g. "RMS     amplitude:"), or -1.
double sox_stat(const std::string& output, const std::string& label) {
  size_t at = output.find(label);
  if (at == std::string::npos) return -1;
  return std::stod(output.substr(at + label.size()));
}

void require_sox() {
  CommandResult r = run("command -v sox");
  ASSERT_EQ(r.status, 0) << "sox is required by these tests (apt-get install sox libsox-fmt-mp3)";
}

bool starts_like_mp3(const std::string& data) {
  if (data.size() >= 3 && data.compare(0, 3, "ID3") == 0) return true;
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0xFF &&
         (static_cast<unsigned char>(data[1]) & 0xE0) == 0xE0;
}

int64_t mtime_ns(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

TEST(AudioVoices, ParseAndNames) {
  for (Voice v : {Voice::northern, Voice::central, Voice::southern}) {
    EXPECT_EQ(parse_voice(voice_name(v)), v);
  }
  EXPECT_EQ(parse_voice("Southern"), std::nullopt);
  EXPECT_EQ(parse_voice(""), std::nullopt);
  EXPECT_EQ(espeak_voice_name(Voice::northern), "vi");
  EXPECT_EQ(espeak_voice_name(Voice::central), "vi-vn-x-central");
  EXPECT_EQ(espeak_voice_name(Voice::southern), "vi-vn-x-south");
}

TEST(AudioKey, DependsOnTextVoiceAndAudibleOptions) {
  AudioOptions o;
  const std::string k = AudioCache::key_for(kSentence, Voice::southern, o);
  EXPECT_EQ(k.size(), 32u);
  EXPECT_EQ(k.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(k, AudioCache::key_for(kSentence, Voice::southern, o));
  EXPECT_NE(k, AudioCache::key_for(kSentence, Voice::northern, o));
  EXPECT_NE(k, AudioCache::key_for(std::string(kSentence) + " ", Voice::southern, o));
  AudioOptions slower = o;
  slower.words_per_minute = 130;
  EXPECT_NE(k, AudioCache::key_for(kSentence, Voice::southern, slower));
  AudioOptions richer = o;
  richer.bitrate_kbps = 64;
  EXPECT_NE(k, AudioCache::key_for(kSentence, Voice::southern, richer));
  AudioOptions pauses = o;
  pauses.sentence_pause_ms = 500;
  EXPECT_NE(k, AudioCache::key_for(kSentence, Voice::southern, pauses));
}

TEST(AudioRender, RejectsEmptyTextAndBadOptions) {
  TempDir dir;
  AudioOptions o;
  EXPECT_THROW(render_mp3("", Voice::northern, o, dir.str()), std::runtime_error);
  EXPECT_THROW(render_mp3(" \n\t\xC2\xA0 ", Voice::northern, o, dir.str()), std::runtime_error);
  AudioOptions bad = o;
  bad.words_per_minute = 20;
  EXPECT_THROW(render_mp3("Xin chào.", Voice::northern, bad, dir.str()), std::runtime_error);
  EXPECT_TRUE(fs::is_empty(dir.str()));
}

TEST(AudioRender, MissingEspeakDataIsAnError) {
  TempDir dir;
  for (const std::string& data : {dir.file("no-such-folder"), dir.str()}) {
    AudioOptions o;
    o.espeak_data = data;
    try {
      render_mp3("Xin chào.", Voice::northern, o, dir.file("out"));
      ADD_FAILURE() << "rendered with espeak-ng data " << data;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("phontab"), std::string::npos) << e.what();
    }
  }
  EXPECT_FALSE(fs::exists(dir.file("out")) && !fs::is_empty(dir.file("out")));
  // The default data still works afterwards.
  AudioFile f = render_mp3("Xin chào.", Voice::northern, AudioOptions{}, dir.str());
  EXPECT_GT(f.bytes, 0);
}

// 1. The southern voice speaks a sentence of the directive into a real MP3 whose length
// sox agrees with and which is plausible for the number of words.
TEST(AudioRender, SouthernSentenceHasPlausibleDuration) {
  ASSERT_NO_FATAL_FAILURE(require_sox());
  TempDir dir;
  AudioOptions o;
  auto t0 = std::chrono::steady_clock::now();
  AudioFile f = render_mp3(kSentence, Voice::southern, o, dir.str());
  auto render_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();

  EXPECT_EQ(f.key, AudioCache::key_for(kSentence, Voice::southern, o));
  EXPECT_EQ(f.path, dir.file(f.key + ".mp3"));
  EXPECT_EQ(f.voice, Voice::southern);
  EXPECT_EQ(AudioFile::mime, "audio/mpeg");
  ASSERT_TRUE(fs::is_regular_file(f.path));
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(f.path)), f.bytes);
  std::string data = read_bytes(f.path);
  EXPECT_TRUE(starts_like_mp3(data)) << "first bytes are not an MP3 frame sync or ID3";

  CommandResult info = run("sox --i -D " + shell_quote(f.path));
  ASSERT_EQ(info.status, 0) << info.output;
  const double sox_seconds = std::stod(info.output);
  const double seconds = static_cast<double>(f.duration_ms) / 1000.0;
  EXPECT_NEAR(sox_seconds, seconds, seconds * 0.10) << "sox says " << info.output;

  const size_t words = word_count(kSentence);
  const double words_per_second = static_cast<double>(words) / seconds;
  EXPECT_GE(words_per_second, 1.0);
  EXPECT_LE(words_per_second, 5.0);
  // Mono CBR 48 kbps: 6000 bytes a second, give or take the last frame.
  EXPECT_NEAR(static_cast<double>(f.bytes), seconds * 6000.0, 6000.0 * 0.1 + 2000.0);

  std::cout << "[ figures  ] " << words << " words, rendered in " << render_ms << " ms, " << f.bytes
            << " bytes, " << f.duration_ms << " ms (sox " << sox_seconds << " s), " << words_per_second
            << " words/s\n";
}

// 2. The whole file decodes, and it is speech, not silence.
TEST(AudioRender, DecodesWithoutErrorAndIsNotSilent) {
  ASSERT_NO_FATAL_FAILURE(require_sox());
  TempDir dir;
  AudioFile f = render_mp3(kSentence, Voice::southern, AudioOptions{}, dir.str());
  CommandResult stat = run("sox " + shell_quote(f.path) + " -n stat");
  ASSERT_EQ(stat.status, 0) << stat.output;
  EXPECT_EQ(stat.output.find("FAIL"), std::string::npos) << stat.output;
  const double rms = sox_stat(stat.output, "RMS     amplitude:");
  const double length = sox_stat(stat.output, "Length (seconds):");
  EXPECT_GT(rms, 0.02) << stat.output;
  EXPECT_NEAR(length, static_cast<double>(f.duration_ms) / 1000.0, f.duration_ms / 1000.0 * 0.10)
      << stat.output;
  std::cout << "[ figures  ] RMS amplitude " << rms << ", decoded length " << length << " s\n";
}

// 3. Northern and southern voices are different audio under different keys.
TEST(AudioRender, NorthernAndSouthernDiffer) {
  TempDir dir;
  AudioOptions o;
  AudioFile north = render_mp3(kSentence, Voice::northern, o, dir.str());
  AudioFile south = render_mp3(kSentence, Voice::southern, o, dir.str());
  EXPECT_NE(north.key, south.key);
  EXPECT_NE(north.path, south.path);
  EXPECT_NE(north.sha256_hex, south.sha256_hex);
  EXPECT_TRUE(fs::is_regular_file(north.path));
  EXPECT_TRUE(fs::is_regular_file(south.path));
  EXPECT_EQ(north.voice, Voice::northern);
}

// The options reach espeak-ng and LAME: rate, the pause between sentences, the bitrate.
TEST(AudioRender, OptionsChangeTheAudio) {
  ASSERT_NO_FATAL_FAILURE(require_sox());
  TempDir dir;
  AudioOptions slow;
  slow.words_per_minute = 120;
  AudioOptions fast;
  fast.words_per_minute = 200;
  AudioFile s = render_mp3(kSentence, Voice::northern, slow, dir.str());
  AudioFile f = render_mp3(kSentence, Voice::northern, fast, dir.str());
  EXPECT_GT(s.duration_ms, f.duration_ms * 13 / 10) << s.duration_ms << " vs " << f.duration_ms;

  const std::string two = "Xin chào bà con. Hôm nay có thông báo mới.";
  AudioOptions no_pause;
  no_pause.sentence_pause_ms = 0;
  AudioOptions long_pause;
  long_pause.sentence_pause_ms = 1000;
  AudioFile a = render_mp3(two, Voice::northern, no_pause, dir.str());
  AudioFile b = render_mp3(two, Voice::northern, long_pause, dir.str());
  // espeak-ng carries state from one text to the next (the same text can come out a few
  // samples to a few milliseconds different), hence the tolerance.
  EXPECT_NEAR(static_cast<double>(b.duration_ms - a.duration_ms), 1000.0, 50.0);

  // 64 kbps frames hold LAME's Info tag, written into the first frame after encoding.
  AudioOptions rich;
  rich.bitrate_kbps = 64;
  AudioFile r = render_mp3(kSentence, Voice::northern, rich, dir.str());
  const std::string data = read_bytes(r.path);
  EXPECT_TRUE(starts_like_mp3(data));
  EXPECT_EQ(data.substr(13, 4), "Info") << "no Info tag after the MPEG-2 mono side info";
  CommandResult info = run("sox --i -D " + shell_quote(r.path));
  ASSERT_EQ(info.status, 0) << info.output;
  EXPECT_NEAR(std::stod(info.output), r.duration_ms / 1000.0, r.duration_ms / 1000.0 * 0.10);

  AudioOptions impossible;
  impossible.bitrate_kbps = 192;  // MPEG-2 (22050 Hz) stops at 160
  EXPECT_THROW(render_mp3(kSentence, Voice::northern, impossible, dir.str()), std::runtime_error);
}

// 5. The digests describe the bytes on disk: OpenSSL in the test, and coreutils.
TEST(AudioRender, DigestsMatchTheFile) {
  TempDir dir;
  AudioFile f = render_mp3(kSentence, Voice::central, AudioOptions{}, dir.str());
  const std::string data = read_bytes(f.path);
  EXPECT_EQ(f.sha1_hex, digest(EVP_sha1(), data));
  EXPECT_EQ(f.sha256_hex, digest(EVP_sha256(), data));
  EXPECT_EQ(f.sha1_hex.size(), 40u);
  EXPECT_EQ(f.sha256_hex.size(), 64u);

  CommandResult sha1 = run("sha1sum " + shell_quote(f.path));
  ASSERT_EQ(sha1.status, 0) << sha1.output;
  EXPECT_EQ(sha1.output.substr(0, 40), f.sha1_hex);
  CommandResult sha256 = run("sha256sum " + shell_quote(f.path));
  ASSERT_EQ(sha256.status, 0) << sha256.output;
  EXPECT_EQ(sha256.output.substr(0, 64), f.sha256_hex);
}

struct Answer {
  std::optional<AudioFile> file;
  std::string error;
};

// 4. The cache renders a text once however often it is asked, finds it again after a
// restart from the sidecar, and answers empty text with an error.
TEST(AudioCacheTest, RendersOnceAndSurvivesRestart) {
  TempDir dir;
  const std::string cache_dir = dir.file("audio");  // created by the cache
  AudioOptions o;
  const std::string key = AudioCache::key_for(kSentence, Voice::southern, o);
  boost::asio::io_context io;
  std::vector<Answer> answers;
  auto collect = [&](std::optional<AudioFile> f, std::string error) {
    answers.push_back({std::move(f), std::move(error)});
  };

  std::string mp3;
  int64_t rendered_at = 0;
  {
    AudioCache cache(io, cache_dir, o);
    EXPECT_EQ(cache.dir(), cache_dir);
    EXPECT_TRUE(fs::is_directory(cache_dir));
    EXPECT_EQ(cache.find(key), std::nullopt);

    // Two requests for the same text before either is answered.
    cache.ensure(kSentence, Voice::southern, collect);
    cache.ensure(kSentence, Voice::southern, collect);
    io.run();  // returns once both answers ran: the cache holds io's work until then
    ASSERT_EQ(answers.size(), 2u);
    for (const Answer& a : answers) {
      ASSERT_TRUE(a.file) << a.error;
      EXPECT_EQ(a.error, "");
    }
    EXPECT_EQ(cache.renders(), 1u);
    EXPECT_EQ(answers[0].file->key, key);
    EXPECT_EQ(answers[0].file->path, answers[1].file->path);
    EXPECT_EQ(answers[0].file->sha256_hex, answers[1].file->sha256_hex);
    mp3 = answers[0].file->path;
    rendered_at = mtime_ns(mp3);
    ASSERT_GT(rendered_at, 0);
    EXPECT_TRUE(fs::is_regular_file(fs::path(cache_dir) / (key + ".json")));

    // Asked again later: answered from memory.
    answers.clear();
    io.restart();
    cache.ensure(kSentence, Voice::southern, collect);
    io.run();
    ASSERT_EQ(answers.size(), 1u);
    ASSERT_TRUE(answers[0].file) << answers[0].error;
    EXPECT_EQ(answers[0].file->sha256_hex, digest(EVP_sha256(), read_bytes(mp3)));
    EXPECT_EQ(mtime_ns(mp3), rendered_at);
    EXPECT_EQ(cache.renders(), 1u);

    std::optional<AudioFile> found = cache.find(key);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->path, mp3);
    EXPECT_EQ(found->sha1_hex, answers[0].file->sha1_hex);
    EXPECT_EQ(cache.find("not-a-key"), std::nullopt);
    EXPECT_EQ(cache.find("../../etc/passwd"), std::nullopt);
  }

  // A restart: a new cache on the same folder knows the file from its sidecar.
  {
    AudioCache cache(io, cache_dir, o);
    std::optional<AudioFile> found = cache.find(key);
    ASSERT_TRUE(found);
    EXPECT_EQ(found->path, mp3);
    EXPECT_EQ(found->voice, Voice::southern);
    EXPECT_EQ(found->bytes, static_cast<int64_t>(fs::file_size(mp3)));
    EXPECT_EQ(found->sha256_hex, digest(EVP_sha256(), read_bytes(mp3)));
    EXPECT_GT(found->duration_ms, 0);

    answers.clear();
    io.restart();
    cache.ensure(kSentence, Voice::southern, collect);
    cache.ensure("   \n", Voice::southern, collect);
    io.run();
    ASSERT_EQ(answers.size(), 2u);
    // Answers come in the order they are ready: the empty text's at once.
    const Answer& empty = answers[0].file ? answers[1] : answers[0];
    const Answer& cached = answers[0].file ? answers[0] : answers[1];
    EXPECT_FALSE(empty.file);
    EXPECT_NE(empty.error.find("empty"), std::string::npos) << empty.error;
    ASSERT_TRUE(cached.file) << cached.error;
    EXPECT_EQ(cached.file->sha256_hex, found->sha256_hex);
    EXPECT_EQ(cache.renders(), 0u);
    EXPECT_EQ(mtime_ns(mp3), rendered_at);
  }

  // A sidecar whose MP3 was altered is not a hit.
  {
    std::string altered = read_bytes(mp3);
    altered[altered.size() / 2] = static_cast<char>(altered[altered.size() / 2] ^ 0x55);
    std::ofstream(mp3, std::ios::binary | std::ios::trunc) << altered;
    AudioCache cache(io, cache_dir, o);
    EXPECT_EQ(cache.find(key), std::nullopt);
  }

  // Nor is a sidecar whose MP3 is gone: the file is rendered again.
  fs::remove(mp3);
  {
    AudioCache cache(io, cache_dir, o);
    EXPECT_EQ(cache.find(key), std::nullopt);
    answers.clear();
    io.restart();
    cache.ensure(kSentence, Voice::southern, collect);
    io.run();
    ASSERT_EQ(answers.size(), 1u);
    ASSERT_TRUE(answers[0].file) << answers[0].error;
    EXPECT_EQ(cache.renders(), 1u);
    EXPECT_TRUE(fs::is_regular_file(mp3));
  }

  // No temporary files are left behind.
  for (const auto& entry : fs::directory_iterator(cache_dir)) {
    EXPECT_NE(entry.path().filename().string().front(), '.') << entry.path();
  }
}

// Requests still waiting when the cache goes away are answered, not dropped.
TEST(AudioCacheTest, StoppingAnswersWaitingRequests) {
  TempDir dir;
  boost::asio::io_context io;
  std::vector<Answer> answers;
  auto collect = [&](std::optional<AudioFile> f, std::string error) {
    answers.push_back({std::move(f), std::move(error)});
  };
  {
    AudioCache cache(io, dir.str(), AudioOptions{});
    cache.ensure(kSentence, Voice::northern, collect);
    cache.ensure(kSentence, Voice::central, collect);
    cache.ensure(kSentence, Voice::southern, collect);
  }  // destroyed at once: at most the first is rendered
  io.run();
  ASSERT_EQ(answers.size(), 3u);
  for (const Answer& a : answers) {
    EXPECT_TRUE(a.file || !a.error.empty());
  }
}

}  // namespace
}  // namespace herald::loudspeaker
