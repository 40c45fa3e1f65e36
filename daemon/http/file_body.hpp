#pragma once
// A Beast body that sends a slice of a file straight from disk, a few kilobytes at a time:
// what the audio feed answers with, so that a request costs one open file and one small
// buffer however large the file is, and a client that stops reading holds no more than
// that (Beast's own file_body sends whole files only, no byte range).
#include <array>
#include <cstdint>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/optional.hpp>
#include <boost/beast/core/file.hpp>
#include <boost/beast/http/message.hpp>

namespace herald::http {

struct FileSliceBody {
  struct value_type {
    boost::beast::file file;
    uint64_t offset = 0;
    uint64_t length = 0;
  };

  static std::uint64_t size(const value_type& v) { return v.length; }

  class writer {
   public:
    using const_buffers_type = boost::asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(boost::beast::http::header<isRequest, Fields>&, value_type& body) : body_(body) {}

    void init(boost::beast::error_code& ec) {
      remain_ = body_.length;
      body_.file.seek(body_.offset, ec);
    }

    boost::optional<std::pair<const_buffers_type, bool>> get(boost::beast::error_code& ec) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(remain_, buf_.size()));
      if (want == 0) {
        ec = {};
        return boost::none;
      }
      const size_t got = body_.file.read(buf_.data(), want, ec);
      if (ec) return boost::none;
      if (got == 0) {  // the file shrank under us
        ec = boost::beast::http::error::short_read;
        return boost::none;
      }
      remain_ -= got;
      return std::pair<const_buffers_type, bool>{boost::asio::const_buffer(buf_.data(), got), remain_ > 0};
    }

   private:
    value_type& body_;
    uint64_t remain_ = 0;
    std::array<char, 8192> buf_;
  };
};

}  // namespace herald::http
