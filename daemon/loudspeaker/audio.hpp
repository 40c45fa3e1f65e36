#pragma once
// Spoken audio for commune loudspeakers: the directive's text is synthesised by espeak-ng
// (Vietnamese voices), encoded to mono CBR MP3 by LAME and kept on disk, named by a hash
// of what was said and how, so each text is rendered once and survives restarts.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace herald::loudspeaker {

/// The three Vietnamese voices espeak-ng ships (Debian's espeak-ng-data).
enum class Voice { northern, central, southern };

/// "northern" | "central" | "southern"; anything else is nullopt.
std::optional<Voice> parse_voice(std::string_view name);
/// The inverse of parse_voice: "northern", "central", "southern".
std::string_view voice_name(Voice voice);
/// espeak-ng's name for it: "vi", "vi-vn-x-central", "vi-vn-x-south".
std::string_view espeak_voice_name(Voice voice);

struct AudioOptions {
  int bitrate_kbps = 48;       // CBR MP3, mono; MPEG-2 at 22050 Hz allows 8..160
  int words_per_minute = 150;  // espeak-ng rate (80..450); loudspeakers need slower than 175
  /// Silence added between sentences (after . ! ? and at line breaks), on top of the
  /// short pause espeak-ng makes itself; open-air loudspeakers echo. 0..5000.
  int sentence_pause_ms = 300;
  std::string espeak_data;  // espeak-ng-data folder; empty: the library default
};

/// One rendered file.
struct AudioFile {
  std::string key;          // content hash: 32 hex chars, names the file
  std::string path;         // <dir>/<key>.mp3
  int64_t bytes = 0;
  int64_t duration_ms = 0;  // from the PCM sample count
  std::string sha1_hex;     // CAP 1.2's <digest> is the SHA-1 of the resource
  std::string sha256_hex;
  Voice voice = Voice::northern;
  static constexpr std::string_view mime = "audio/mpeg";
};

/// The cache key for (text, voice, options): the first 32 hex digits of a SHA-256 over
/// the text, the voice and every option that changes the audio.
std::string audio_key(std::string_view text, Voice voice, const AudioOptions& opts);

/// Synthesises `text` and writes `<dir>/<audio_key(...)>.mp3` (atomically; `dir` is
/// created if missing). Synchronous. espeak-ng keeps global state: calls are serialised
/// process-wide by an internal lock; espeak-ng is initialised on first use, by the calling
/// thread, with that call's espeak_data (later calls must name the same folder), and
/// terminated at process exit. Throws std::runtime_error with a clear message on failure
/// (empty text, bad options, voice or espeak-ng data missing, LAME failure, disk error).
/// When `cancel` is given and becomes true, synthesis stops and this throws.
AudioFile render_mp3(const std::string& text, Voice voice, const AudioOptions& opts,
                     const std::string& dir, const std::atomic<bool>* cancel = nullptr);

/// Renders each (text, voice) once, on one worker thread, and keeps the files in `dir`
/// (created if missing) with a JSON sidecar `<key>.json` (bytes, duration_ms, sha1, sha256,
/// voice) so a restart finds them again without re-rendering. Every file is written to a
/// temporary name in `dir`, fsynced and renamed; the sidecar is written after the MP3, so
/// a sidecar always describes a complete file.
class AudioCache {
 public:
  using Done = std::function<void(std::optional<AudioFile>, std::string error)>;

  /// Throws std::runtime_error if `dir` cannot be created.
  AudioCache(boost::asio::io_context& io, std::string dir, AudioOptions opts);
  /// Stops the worker (a render in progress is cancelled; requests not yet answered get
  /// the error "audio cache stopped", posted to io) and joins it.
  ~AudioCache();
  AudioCache(const AudioCache&) = delete;
  AudioCache& operator=(const AudioCache&) = delete;

  static std::string key_for(std::string_view text, Voice voice, const AudioOptions& opts) {
    return audio_key(text, voice, opts);
  }

  /// Already rendered (memory, else the sidecar on disk)? A file found on disk is checked
  /// against its sidecar's size and digests once, then remembered; a file that has gone
  /// from disk since is forgotten. Callable from any thread (the io thread included: the
  /// first look at a key reads and hashes one MP3, a few ms at most).
  std::optional<AudioFile> find(const std::string& key) const;

  /// Renders unless cached; `done` is posted to io with the file, or with nullopt and an
  /// error text. Concurrent requests for the same key render once and all get the answer.
  /// While a request is outstanding the cache keeps io from running out of work.
  void ensure(std::string text, Voice voice, Done done);

  const std::string& dir() const { return dir_; }
  const AudioOptions& options() const { return opts_; }
  /// How many times this cache called render_mp3 (cache misses), for metrics and tests.
  uint64_t renders() const { return renders_; }

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  struct Job {
    std::string key;
    std::string text;
    Voice voice;
  };
  struct Waiting {
    std::vector<Done> callbacks;
    WorkGuard guard;
  };

  void run();
  /// Posts the answer to everyone waiting for `key`.
  void answer(const std::string& key, const std::optional<AudioFile>& file, const std::string& error);
  std::optional<AudioFile> load_sidecar(const std::string& key) const;
  void write_sidecar(const AudioFile& file) const;

  boost::asio::io_context& io_;
  const std::string dir_;
  const AudioOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;                        // guarded by mu_
  std::map<std::string, Waiting> waiting_;       // guarded by mu_; by key
  mutable std::map<std::string, AudioFile> files_;  // guarded by mu_; by key
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> renders_{0};
  std::thread worker_;
};

}  // namespace herald::loudspeaker
