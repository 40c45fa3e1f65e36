#include "net/curl_multi.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <sys/socket.h>
#include <unistd.h>

namespace herald::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// One request in flight: owns the easy handle and what libcurl points into.
struct CurlMulti::Transfer {
  CURL* easy = nullptr;  // from the pool; back to it when the transfer ends
  curl_slist* headers = nullptr;
  curl_slist* recipients = nullptr;  // SMTP envelope: libcurl does not copy the list
  size_t uploaded = 0;               // SMTP: how much of request.body libcurl has read
  HttpRequest request;
  HttpResponse response;
  Done done;
  char error[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (easy) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_slist_free_all(recipients);
  }

  static size_t write(char* p, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    // A provider's answer is a few hundred bytes: one that runs on is cut off (libcurl
    // ends the transfer with CURLE_WRITE_ERROR) instead of filling heraldd's memory.
    if (t->response.body.size() + size * n > kMaxResponseBytes) return 0;
    t->response.body.append(p, size * n);
    return size * n;
  }

  static size_t read(char* p, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    const std::string& body = t->request.body;
    size_t len = std::min(size * n, body.size() - t->uploaded);
    body.copy(p, len, t->uploaded);
    t->uploaded += len;
    return len;
  }
};

CurlMulti::CurlMulti(asio::io_context& io, long max_host_connections)
    : io_(io), timer_(io), multi_(curl_multi_init()) {
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, max_host_connections);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, max_host_connections * 4);
}

CURL* CurlMulti::acquire_easy() {
  if (idle_.empty()) return curl_easy_init();
  CURL* e = idle_.back();
  idle_.pop_back();
  curl_easy_reset(e);  // options back to defaults; the multi keeps connections and DNS
  return e;
}

void CurlMulti::release_easy(CURL* e) {
  // An easy handle is several kilobytes of state: allocating and freeing one per request
  // was a large share of the send path's time.
  constexpr size_t kMaxIdle = 512;
  if (idle_.size() < kMaxIdle) idle_.push_back(e);
  else curl_easy_cleanup(e);
}

CurlMulti::~CurlMulti() {
  timer_.cancel();
  // Abandon what is still in flight; their completions never run.
  for (Transfer* t : live_) {
    curl_multi_remove_handle(multi_, t->easy);
    delete t;
  }
  curl_multi_cleanup(multi_);
  for (CURL* e : idle_) curl_easy_cleanup(e);
  sockets_.clear();
}

void CurlMulti::perform(HttpRequest request, Done done) {
  auto* t = new Transfer;
  t->easy = acquire_easy();
  t->request = std::move(request);
  t->done = std::move(done);
  CURL* e = t->easy;
  const HttpRequest& r = t->request;
  curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(kMaxResponseBytes));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r.timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, r.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlMulti::on_open);
  curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::on_close);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  for (const auto& h : r.headers) t->headers = curl_slist_append(t->headers, h.c_str());
  if (t->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  if (r.method == "SMTP") {
    // An upload: MAIL FROM, RCPT TO for each recipient, then DATA with the body.
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &Transfer::read);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, r.mail_from.c_str());
    for (const auto& rcpt : r.mail_rcpt) t->recipients = curl_slist_append(t->recipients, rcpt.c_str());
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->recipients);
  } else if (r.method == "POST" || r.method == "PUT") {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    if (r.method == "PUT") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
  } else if (r.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  if (r.customize) r.customize(e);
  live_.insert(t);
  if (CURLMcode rc = curl_multi_add_handle(multi_, e); rc != CURLM_OK) {
    live_.erase(t);
    t->response.result = CURLE_FAILED_INIT;
    t->response.error = curl_multi_strerror(rc);
    asio::post(io_, [t] {
      std::unique_ptr<Transfer> owned(t);
      owned->done(std::move(owned->response));
    });
  }
  // libcurl now asks for a timeout through on_timer, which starts the transfer.
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* p) {
  auto* self = static_cast<CurlMulti*>(p);
  // -1 (no timeout wanted): a wake-up already armed is left to fire, harmlessly.
  if (timeout_ms < 0) return 0;
  // Never re-enter libcurl from its own callback: even "now" goes through the loop.
  if (timeout_ms == 0) {
    if (!self->timeout_posted_) {
      self->timeout_posted_ = true;
      asio::post(self->io_, [self] {
        self->timeout_posted_ = false;
        self->action(CURL_SOCKET_TIMEOUT, 0);
      });
    }
    return 0;
  }
  const auto at = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (self->timer_armed_ && self->timer_at_ <= at) return 0;  // fires first; libcurl asks again then
  self->timer_armed_ = true;
  self->timer_at_ = at;
  self->timer_.expires_at(at);
  self->timer_.async_wait([self](const boost::system::error_code& ec) {
    if (ec) return;  // moved earlier, or cancelled
    self->timer_armed_ = false;
    self->action(CURL_SOCKET_TIMEOUT, 0);
  });
  return 0;
}

curl_socket_t CurlMulti::on_open(void* p, curlsocktype purpose, curl_sockaddr* addr) {
  auto* self = static_cast<CurlMulti*>(p);
  if (purpose != CURLSOCKTYPE_IPCXN || (addr->family != AF_INET && addr->family != AF_INET6))
    return CURL_SOCKET_BAD;
  auto sock = std::make_unique<tcp::socket>(self->io_);
  boost::system::error_code ec;
  sock->open(addr->family == AF_INET ? tcp::v4() : tcp::v6(), ec);
  if (ec) return CURL_SOCKET_BAD;
  curl_socket_t fd = sock->native_handle();
  self->sockets_[fd].socket = std::move(sock);
  return fd;
}

int CurlMulti::on_close(void* p, curl_socket_t fd) {
  auto* self = static_cast<CurlMulti*>(p);
  auto it = self->sockets_.find(fd);
  if (it == self->sockets_.end()) return ::close(fd);
  boost::system::error_code ec;
  it->second.socket->cancel(ec);  // pending waits complete with operation_aborted
  it->second.socket->close(ec);
  self->sockets_.erase(it);
  return 0;
}

int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* p, void*) {
  auto* self = static_cast<CurlMulti*>(p);
  auto it = self->sockets_.find(fd);
  if (it == self->sockets_.end()) return 0;
  it->second.want = what == CURL_POLL_REMOVE ? 0 : what;
  self->arm(fd);
  return 0;
}

void CurlMulti::arm(curl_socket_t fd) {
  auto it = sockets_.find(fd);
  if (it == sockets_.end()) return;
  Socket& s = it->second;
  tcp::socket* sock = s.socket.get();
  if ((s.want & CURL_POLL_IN) && !s.reading) {
    s.reading = true;
    sock->async_wait(tcp::socket::wait_read, [this, fd, sock](const boost::system::error_code& ec) {
      auto it = sockets_.find(fd);
      if (ec == asio::error::operation_aborted || it == sockets_.end() || it->second.socket.get() != sock)
        return;
      it->second.reading = false;
      if (it->second.want & CURL_POLL_IN) action(fd, ec ? CURL_CSELECT_ERR : CURL_CSELECT_IN);
      arm(fd);
    });
  }
  if ((s.want & CURL_POLL_OUT) && !s.writing) {
    s.writing = true;
    sock->async_wait(tcp::socket::wait_write, [this, fd, sock](const boost::system::error_code& ec) {
      auto it = sockets_.find(fd);
      if (ec == asio::error::operation_aborted || it == sockets_.end() || it->second.socket.get() != sock)
        return;
      it->second.writing = false;
      if (it->second.want & CURL_POLL_OUT) action(fd, ec ? CURL_CSELECT_ERR : CURL_CSELECT_OUT);
      arm(fd);
    });
  }
}

void CurlMulti::action(curl_socket_t fd, int flags) {
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  collect_finished();
}

void CurlMulti::collect_finished() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
    CURLcode result = msg->data.result;
    curl_multi_remove_handle(multi_, msg->easy_handle);
    std::unique_ptr<Transfer> owned(t);
    owned->response.result = result;
    curl_easy_getinfo(owned->easy, CURLINFO_RESPONSE_CODE, &owned->response.status);
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(owned->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
      owned->response.retry_after_ms = std::min<curl_off_t>(retry_after, 86400) * 1000;
    if (result != CURLE_OK)
      owned->response.error = owned->error[0] ? owned->error : curl_easy_strerror(result);
    live_.erase(t);
    release_easy(owned->easy);
    owned->easy = nullptr;
    // Completion runs outside libcurl's call stack.
    asio::post(io_, [t = owned.release()] {
      std::unique_ptr<Transfer> done(t);
      done->done(std::move(done->response));
    });
  }
}

}  // namespace herald::net
