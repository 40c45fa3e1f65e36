#include "loudspeaker/audio.hpp"
#include "core/thread_name.hpp"
#include "text/whitespace.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lame/lame.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>

namespace herald::loudspeaker {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

// Bumped whenever rendering changes in a way the options do not show, so old files are
// not mistaken for new ones.
constexpr std::string_view kRenderVersion = "herald.loudspeaker.audio/1";
constexpr size_t kKeyLength = 32;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error(message); }

std::string errno_text(int err) { return std::system_category().message(err); }

// ---- text ----------------------------------------------------------------------------

// Speech is one text: a line break is a space like any other.
constexpr LineBreaks kSpeech = LineBreaks::are_space;

/// Sentences, each spoken by its own espeak_Synth call with sentence_pause_ms of silence
/// between them: a piece ends after . ! ? followed by white space, and at every line break
/// (directives put each numbered point on its own line). Blank pieces are dropped.
std::vector<std::string> sentences(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  auto cut = [&](size_t end) {
    std::string_view piece = trim(text.substr(start, end - start), kSpeech);
    if (!piece.empty() && !blank(piece, kSpeech)) out.emplace_back(piece);
    start = end;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      cut(i + 1);
    } else if ((c == '.' || c == '!' || c == '?') && i + 1 < text.size()) {
      if (space_width(text, i + 1, kSpeech) != 0) cut(i + 1);
    }
  }
  cut(text.size());
  return out;
}

// ---- hashing ---------------------------------------------------------------------------

std::string hex(const unsigned char* data, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xF];
  }
  return out;
}

std::string digest_hex(const EVP_MD* md, const void* data, size_t size) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int len = 0;
  if (EVP_Digest(data, size, out.data(), &len, md, nullptr) != 1) fail("OpenSSL digest failed");
  return hex(out.data(), len);
}

bool valid_key(std::string_view key) {
  if (key.size() != kKeyLength) return false;
  for (char c : key) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// ---- files ---------------------------------------------------------------------------

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  /// Closes now, reporting close()'s error (which can carry a deferred write error).
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

void make_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail("cannot create audio folder " + dir + ": " + ec.message());
}

/// Writes `data` to `<dir>/<name>` atomically: a temporary name in the same folder, fsync,
/// rename, fsync of the folder.
void write_atomic(const std::string& dir, const std::string& name, std::string_view data) {
  static std::atomic<uint64_t> counter{0};
  const std::string final_path = (fs::path(dir) / name).string();
  const std::string tmp_path = (fs::path(dir) / ("." + name + ".tmp." + std::to_string(::getpid()) +
                                                 "." + std::to_string(++counter)))
                                   .string();
  auto failed = [&](const std::string& what, int err) {
    ::unlink(tmp_path.c_str());
    fail("cannot write " + final_path + ": " + what + ": " + errno_text(err));
  };
  Fd fd(::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) fail("cannot write " + final_path + ": open " + tmp_path + ": " + errno_text(errno));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed("write", errno);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) failed("fsync", errno);
  if (fd.close() != 0) failed("close", errno);
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) failed("rename", errno);
  // The rename is durable once the folder is synced (some file systems cannot: EINVAL).
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || (::fsync(dir_fd.get()) != 0 && errno != EINVAL)) {
    fail("cannot sync folder " + dir + ": " + errno_text(errno));
  }
}

std::optional<std::string> read_file(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > limit) return std::nullopt;
  }
  if (in.bad()) return std::nullopt;
  return data;
}

std::optional<int64_t> file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<int64_t>(st.st_size);
}

std::string mp3_path(const std::string& dir, const std::string& key) {
  return (fs::path(dir) / (key + ".mp3")).string();
}
std::string sidecar_path(const std::string& dir, const std::string& key) {
  return (fs::path(dir) / (key + ".json")).string();
}

// ---- espeak-ng -------------------------------------------------------------------------

/// espeak-ng's process-wide state. espeak-ng 1.51 cannot be initialised again after
/// espeak_Terminate (the second espeak_Terminate deadlocks on its internal fifo thread),
/// so it is initialised once, on first use, and terminated once, at process exit. Every
/// use holds `mu`.
struct SpeechEngine {
  std::mutex mu;
  bool started = false;  // espeak_ng_Initialize succeeded: its fifo thread runs
  bool ready = false;    // and the output is set up: synthesis can run
  std::string broken;    // why a started engine is not ready
  int sample_rate = 0;
  std::string data;      // the espeak-ng-data folder it was initialised with ("" = default)
  std::string resolved;  // the folder espeak-ng actually uses

  SpeechEngine() = default;
  SpeechEngine(const SpeechEngine&) = delete;
  SpeechEngine& operator=(const SpeechEngine&) = delete;
  ~SpeechEngine() {
    std::lock_guard lock(mu);
    if (started) espeak_Terminate();
    started = ready = false;
  }
};

SpeechEngine& engine() {
  static SpeechEngine e;
  return e;
}

/// What one espeak_Synth call collects; reaches the callback as the events' user_data.
struct Synthesis {
  std::vector<short> pcm;
  const std::atomic<bool>* cancel = nullptr;
  bool cancelled = false;
};

int on_samples(short* wav, int numsamples, espeak_EVENT* events) {
  auto* s = events ? static_cast<Synthesis*>(events[0].user_data) : nullptr;
  if (s == nullptr) return 0;
  if (wav != nullptr && numsamples > 0) s->pcm.insert(s->pcm.end(), wav, wav + numsamples);
  if (s->cancel != nullptr && s->cancel->load()) {
    s->cancelled = true;
    return 1;  // abort synthesis
  }
  return 0;
}

std::string espeak_status(espeak_ng_STATUS status) {
  std::array<char, 512> text{};
  espeak_ng_GetStatusCodeMessage(status, text.data(), text.size());
  return text.data();
}

/// Call with e.mu held. Uses espeak-ng's own initialisation calls rather than
/// espeak_Initialize, which reports a failure only on stderr and then returns the sample
/// rate as if all were well.
void initialise(SpeechEngine& e, const std::string& data) {
  const std::string shown = data.empty() ? std::string("(default)") : data;
  if (!data.empty()) {
    // A folder that does not exist makes espeak-ng fall back to its default without a word.
    std::error_code ec;
    if (!fs::is_regular_file(fs::path(data) / "phontab", ec)) {
      fail("espeak-ng data folder " + data + " has no phontab; is it an espeak-ng-data folder?");
    }
  }
  if (e.ready) {
    std::error_code ec;
    if (e.data != data && (data.empty() || !fs::equivalent(data, e.resolved, ec))) {
      fail("espeak-ng is already initialised with data folder " +
           (e.data.empty() ? std::string("(default)") : e.data) + ", cannot switch to " + shown +
           " (one data folder per process)");
    }
    return;
  }
  if (e.started) fail(e.broken);  // half set up, and espeak-ng cannot start over
  espeak_ng_InitializePath(data.empty() ? nullptr : data.c_str());
  espeak_ng_ERROR_CONTEXT context = nullptr;
  espeak_ng_STATUS status = espeak_ng_Initialize(&context);
  espeak_ng_ClearErrorContext(&context);
  if (status != ENS_OK) {
    fail("espeak-ng failed to initialise with data folder " + shown + ": " + espeak_status(status) +
         " (is espeak-ng-data installed?)");
  }
  // From here on espeak-ng runs its fifo thread and must be terminated at exit.
  e.started = true;
  status = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, nullptr);
  if (status != ENS_OK) {
    e.broken = "espeak-ng output setup failed: " + espeak_status(status);
    fail(e.broken);
  }
  espeak_SetSynthCallback(on_samples);
  e.sample_rate = espeak_ng_GetSampleRate();
  if (e.sample_rate <= 0) {
    e.broken = "espeak-ng reports sample rate " + std::to_string(e.sample_rate);
    fail(e.broken);
  }
  const char* path = nullptr;
  espeak_Info(&path);
  e.resolved = path != nullptr ? path : "";
  e.data = data;
  e.ready = true;
}

struct Pcm {
  std::vector<short> samples;
  int sample_rate = 0;
};

Pcm synthesise(const std::string& text, Voice voice, const AudioOptions& opts,
               const std::atomic<bool>* cancel) {
  SpeechEngine& e = engine();
  std::lock_guard lock(e.mu);
  initialise(e, opts.espeak_data);
  const std::string voice_id(espeak_voice_name(voice));
  if (espeak_SetVoiceByName(voice_id.c_str()) != EE_OK) {
    fail("espeak-ng voice " + voice_id + " (" + std::string(voice_name(voice)) +
         ") not found; is espeak-ng-data installed?");
  }
  if (espeak_SetParameter(espeakRATE, opts.words_per_minute, 0) != EE_OK) {
    fail("espeak-ng refused rate " + std::to_string(opts.words_per_minute));
  }
  Synthesis s;
  s.cancel = cancel;
  const size_t pause =
      static_cast<size_t>(opts.sentence_pause_ms) * static_cast<size_t>(e.sample_rate) / 1000;
  bool first = true;
  for (const std::string& sentence : sentences(text)) {
    if (!first) s.pcm.insert(s.pcm.end(), pause, 0);
    first = false;
    espeak_ERROR rc = espeak_Synth(sentence.c_str(), sentence.size() + 1, 0, POS_CHARACTER, 0,
                                   espeakCHARS_UTF8, nullptr, &s);
    if (s.cancelled || (cancel != nullptr && cancel->load())) fail("speech synthesis cancelled");
    if (rc != EE_OK) fail("espeak-ng synthesis failed (error " + std::to_string(rc) + ")");
  }
  if (s.pcm.empty()) fail("espeak-ng produced no audio for the text");
  return {std::move(s.pcm), e.sample_rate};
}

// ---- LAME ------------------------------------------------------------------------------

struct LameClose {
  void operator()(lame_global_flags* g) const { lame_close(g); }
};
using Lame = std::unique_ptr<lame_global_flags, LameClose>;

std::string encode_mp3(const Pcm& pcm, int bitrate_kbps) {
  Lame lame(lame_init());
  if (!lame) fail("LAME: lame_init failed");
  lame_set_num_channels(lame.get(), 1);
  lame_set_mode(lame.get(), MONO);
  lame_set_in_samplerate(lame.get(), pcm.sample_rate);
  lame_set_out_samplerate(lame.get(), pcm.sample_rate);  // no resampling
  lame_set_VBR(lame.get(), vbr_off);
  lame_set_brate(lame.get(), bitrate_kbps);
  lame_set_quality(lame.get(), 5);
  lame_set_bWriteVbrTag(lame.get(), 1);  // the Info frame: exact length and encoder delay
  if (lame_init_params(lame.get()) < 0) {
    fail("LAME rejected the settings (" + std::to_string(bitrate_kbps) + " kbps mono at " +
         std::to_string(pcm.sample_rate) + " Hz)");
  }
  if (lame_get_brate(lame.get()) != bitrate_kbps) {
    fail("LAME cannot encode " + std::to_string(bitrate_kbps) + " kbps at " +
         std::to_string(pcm.sample_rate) + " Hz");
  }

  std::string mp3;
  std::vector<unsigned char> buf;
  constexpr size_t kChunk = 16384;
  for (size_t at = 0; at < pcm.samples.size(); at += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, pcm.samples.size() - at));
    buf.resize(static_cast<size_t>(n) * 5 / 4 + 7200);
    const short* in = pcm.samples.data() + at;
    // Mono: LAME reads only the left buffer.
    int got = lame_encode_buffer(lame.get(), in, in, n, buf.data(), static_cast<int>(buf.size()));
    if (got < 0) fail("LAME encoding failed (error " + std::to_string(got) + ")");
    mp3.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(got));
  }
  buf.resize(7200);
  int got = lame_encode_flush(lame.get(), buf.data(), static_cast<int>(buf.size()));
  if (got < 0) fail("LAME flush failed (error " + std::to_string(got) + ")");
  mp3.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(got));

  // When LAME can fit an Info (LAME) tag in one frame it leaves the first frame empty for
  // it, to be filled in now: exact length and encoder delay for players. At 22050 Hz the
  // frames of 48 kbps and less are too small for the tag and LAME writes none (returns 0).
  buf.resize(2880);  // larger than any Layer III frame
  size_t tag = lame_get_lametag_frame(lame.get(), buf.data(), buf.size());
  if (tag > 0 && tag <= buf.size() && tag <= mp3.size()) {
    std::memcpy(mp3.data(), buf.data(), tag);
  }
  return mp3;
}

void check_options(const AudioOptions& opts) {
  if (opts.bitrate_kbps < 8 || opts.bitrate_kbps > 320) {
    fail("audio bitrate " + std::to_string(opts.bitrate_kbps) + " kbps is out of range 8..320");
  }
  if (opts.words_per_minute < espeakRATE_MINIMUM || opts.words_per_minute > espeakRATE_MAXIMUM) {
    fail("speech rate " + std::to_string(opts.words_per_minute) + " words per minute is out of range " +
         std::to_string(espeakRATE_MINIMUM) + ".." + std::to_string(espeakRATE_MAXIMUM));
  }
  if (opts.sentence_pause_ms < 0 || opts.sentence_pause_ms > 5000) {
    fail("sentence pause " + std::to_string(opts.sentence_pause_ms) + " ms is out of range 0..5000");
  }
}

}  // namespace

// ---- voices ----------------------------------------------------------------------------

std::optional<Voice> parse_voice(std::string_view name) {
  if (name == "northern") return Voice::northern;
  if (name == "central") return Voice::central;
  if (name == "southern") return Voice::southern;
  return std::nullopt;
}

std::string_view voice_name(Voice voice) {
  switch (voice) {
    case Voice::northern: return "northern";
    case Voice::central: return "central";
    case Voice::southern: return "southern";
  }
  return "?";
}

std::string_view espeak_voice_name(Voice voice) {
  switch (voice) {
    case Voice::northern: return "vi";
    case Voice::central: return "vi-vn-x-central";
    case Voice::southern: return "vi-vn-x-south";
  }
  return "vi";
}

// ---- rendering -------------------------------------------------------------------------

std::string audio_key(std::string_view text, Voice voice, const AudioOptions& opts) {
  // Length-prefixed fields: no two inputs serialise alike.
  std::string material;
  auto field = [&](std::string_view v) {
    material += std::to_string(v.size());
    material += ':';
    material += v;
  };
  field(kRenderVersion);
  field(espeak_voice_name(voice));
  field(std::to_string(opts.bitrate_kbps));
  field(std::to_string(opts.words_per_minute));
  field(std::to_string(opts.sentence_pause_ms));
  field(opts.espeak_data);
  field(text);
  return digest_hex(EVP_sha256(), material.data(), material.size()).substr(0, kKeyLength);
}

AudioFile render_mp3(const std::string& text, Voice voice, const AudioOptions& opts,
                     const std::string& dir, const std::atomic<bool>* cancel) {
  if (blank(text, kSpeech)) fail("nothing to say: the text is empty");
  check_options(opts);
  make_dir(dir);
  Pcm pcm = synthesise(text, voice, opts, cancel);
  std::string mp3 = encode_mp3(pcm, opts.bitrate_kbps);

  AudioFile f;
  f.key = audio_key(text, voice, opts);
  f.path = mp3_path(dir, f.key);
  f.bytes = static_cast<int64_t>(mp3.size());
  f.duration_ms = static_cast<int64_t>(pcm.samples.size()) * 1000 / pcm.sample_rate;
  f.sha1_hex = digest_hex(EVP_sha1(), mp3.data(), mp3.size());
  f.sha256_hex = digest_hex(EVP_sha256(), mp3.data(), mp3.size());
  f.voice = voice;
  write_atomic(dir, f.key + ".mp3", mp3);
  return f;
}

// ---- AudioCache ------------------------------------------------------------------------

AudioCache::AudioCache(boost::asio::io_context& io, std::string dir, AudioOptions opts)
    : io_(io), dir_(std::move(dir)), opts_(std::move(opts)) {
  make_dir(dir_);
  worker_ = std::thread([this] {
    name_this_thread("herald-audio");
    run();
  });
}

AudioCache::~AudioCache() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  std::map<std::string, Waiting> left;
  {
    std::lock_guard lock(mu_);
    left.swap(waiting_);
  }
  for (auto& [key, w] : left) {
    for (auto& done : w.callbacks) {
      boost::asio::post(io_, [done = std::move(done)] { done(std::nullopt, "audio cache stopped"); });
    }
  }
}

std::optional<AudioFile> AudioCache::find(const std::string& key) const {
  if (!valid_key(key)) return std::nullopt;
  {
    std::lock_guard lock(mu_);
    if (auto it = files_.find(key); it != files_.end()) {
      // Still there? Someone may have cleaned the folder.
      if (file_size(it->second.path) == it->second.bytes) return it->second;
      files_.erase(it);
    }
  }
  std::optional<AudioFile> f = load_sidecar(key);
  if (f) {
    std::lock_guard lock(mu_);
    files_[key] = *f;
  }
  return f;
}

void AudioCache::ensure(std::string text, Voice voice, Done done) {
  auto reply = [this](Done d, std::optional<AudioFile> file, std::string error) {
    boost::asio::post(io_, [d = std::move(d), file = std::move(file), error = std::move(error)] {
      d(file, error);
    });
  };
  if (blank(text, kSpeech)) {
    reply(std::move(done), std::nullopt, "nothing to say: the text is empty");
    return;
  }
  std::string key = key_for(text, voice, opts_);
  std::optional<AudioFile> hit;
  {
    std::lock_guard lock(mu_);
    if (auto it = files_.find(key); it != files_.end() && file_size(it->second.path) == it->second.bytes) {
      hit = it->second;
    } else if (!stopping_) {
      auto [w, inserted] = waiting_.try_emplace(key, Waiting{{}, boost::asio::make_work_guard(io_)});
      w->second.callbacks.push_back(std::move(done));
      if (inserted) {
        queue_.push_back(Job{key, std::move(text), voice});
        cv_.notify_one();
      }
      return;
    }
  }
  if (hit) {
    reply(std::move(done), std::move(hit), "");
  } else {
    reply(std::move(done), std::nullopt, "audio cache stopped");
  }
}

void AudioCache::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    std::optional<AudioFile> file;
    std::string error;
    try {
      file = load_sidecar(job.key);  // rendered by an earlier run?
      if (!file) {
        ++renders_;
        file = render_mp3(job.text, job.voice, opts_, dir_, &stopping_);
        write_sidecar(*file);
      }
    } catch (const std::exception& e) {
      file.reset();
      error = e.what();
    }
    if (file) {
      std::lock_guard lock(mu_);
      files_[job.key] = *file;
    }
    answer(job.key, file, error);
  }
}

void AudioCache::answer(const std::string& key, const std::optional<AudioFile>& file,
                        const std::string& error) {
  std::optional<Waiting> w;
  {
    std::lock_guard lock(mu_);
    auto it = waiting_.find(key);
    if (it == waiting_.end()) return;
    w.emplace(std::move(it->second));
    waiting_.erase(it);
  }
  for (auto& done : w->callbacks) {
    boost::asio::post(io_, [done = std::move(done), file, error] { done(file, error); });
  }
  // w's work guard goes here, after the posts: io never runs dry in between.
}

void AudioCache::write_sidecar(const AudioFile& f) const {
  json::object o;
  o["key"] = f.key;
  o["voice"] = voice_name(f.voice);
  o["mime"] = AudioFile::mime;
  o["bytes"] = f.bytes;
  o["duration_ms"] = f.duration_ms;
  o["sha1"] = f.sha1_hex;
  o["sha256"] = f.sha256_hex;
  write_atomic(dir_, f.key + ".json", json::serialize(o) + "\n");
}

std::optional<AudioFile> AudioCache::load_sidecar(const std::string& key) const {
  std::optional<std::string> text = read_file(sidecar_path(dir_, key), 64 * 1024);
  if (!text) return std::nullopt;
  json::error_code ec;
  json::value v = json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  auto str = [&](std::string_view name) -> std::optional<std::string> {
    const json::value* x = o.if_contains(name);
    if (x == nullptr || !x->is_string()) return std::nullopt;
    return std::string(x->get_string());
  };
  auto num = [&](std::string_view name) -> std::optional<int64_t> {
    const json::value* x = o.if_contains(name);
    if (x == nullptr || !x->is_int64() || x->get_int64() < 0) return std::nullopt;
    return x->get_int64();
  };
  auto k = str("key");
  auto voice = str("voice");
  auto bytes = num("bytes");
  auto duration = num("duration_ms");
  auto sha1 = str("sha1");
  auto sha256 = str("sha256");
  if (!k || *k != key || !voice || !bytes || !duration || !sha1 || sha1->size() != 40 || !sha256 ||
      sha256->size() != 64) {
    return std::nullopt;
  }
  std::optional<Voice> parsed = parse_voice(*voice);
  if (!parsed) return std::nullopt;
  AudioFile f;
  f.key = key;
  f.path = mp3_path(dir_, key);
  // The MP3 must be the one recorded: gone, truncated or replaced, it is rendered again.
  if (file_size(f.path) != *bytes) return std::nullopt;
  std::optional<std::string> mp3 = read_file(f.path, static_cast<size_t>(*bytes));
  if (!mp3 || digest_hex(EVP_sha256(), mp3->data(), mp3->size()) != *sha256 ||
      digest_hex(EVP_sha1(), mp3->data(), mp3->size()) != *sha1) {
    return std::nullopt;
  }
  f.bytes = *bytes;
  f.duration_ms = *duration;
  f.sha1_hex = std::move(*sha1);
  f.sha256_hex = std::move(*sha256);
  f.voice = *parsed;
  return f;
}

}  // namespace herald::loudspeaker
