#include "store/pg.hpp"

#include <cstdlib>
#include <cstring>

#include "text/vietnamese.hpp"

namespace herald::pg {

namespace {

constexpr Oid kInt8 = 20;
constexpr Oid kText = 25;

// SQLSTATE classes that say the server cannot take work now, whatever the statement:
// connection exceptions, insufficient resources (disk full, too many connections),
// operator intervention (shutdown), system errors; and a read-only standby.
bool unavailable_state(std::string_view state) {
  if (state.size() != 5) return true;  // no SQLSTATE: libpq's own failure (connection lost)
  const std::string_view cls = state.substr(0, 2);
  return cls == "08" || cls == "53" || cls == "57" || cls == "58" || state == "25006";
}

class PgCursor final : public sql::Cursor {
 public:
  PgCursor(Connection& c, std::string sql) : c_(c), sql_(std::move(sql)) {}
  ~PgCursor() override { PQclear(res_); }

  void bind(int i, std::string_view v) override {
    slot(i);
    // PostgreSQL text refuses NUL and invalid UTF-8 (sqlite.cpp cleans the same way).
    if (valid_utf8(v) && v.find('\0') == std::string_view::npos) values_[i - 1] = std::string(v);
    else values_[i - 1] = utf8_clean(v);
    null_[i - 1] = false;
    types_[i - 1] = kText;
  }
  void bind(int i, int64_t v) override {
    slot(i);
    values_[i - 1] = std::to_string(v);
    null_[i - 1] = false;
    types_[i - 1] = kInt8;
  }
  void bind_null(int i) override {
    slot(i);
    null_[i - 1] = true;
    types_[i - 1] = 0;  // the server infers it
  }
  bool step() override {
    if (!res_) {
      std::vector<const char*> ptrs(values_.size());
      for (size_t i = 0; i < values_.size(); ++i) ptrs[i] = null_[i] ? nullptr : values_[i].c_str();
      res_ = c_.run(sql_, types_, ptrs);
      rows_ = PQntuples(res_);
      row_ = -1;
    }
    return ++row_ < rows_;
  }
  void reset() override {
    PQclear(res_);
    res_ = nullptr;
    values_.clear();
    null_.clear();
    types_.clear();
  }
  int64_t int64(int col) const override {
    const char* v = PQgetvalue(res_, row_, col);
    if (v[0] == 't' && v[1] == '\0') return 1;
    if (v[0] == 'f' && v[1] == '\0') return 0;
    return std::strtoll(v, nullptr, 10);
  }
  bool is_null(int col) const override { return PQgetisnull(res_, row_, col) != 0; }
  std::string text(int col) const override {
    return std::string(PQgetvalue(res_, row_, col), static_cast<size_t>(PQgetlength(res_, row_, col)));
  }

 private:
  void slot(int i) {
    const size_t n = static_cast<size_t>(i);
    if (values_.size() < n) {
      values_.resize(n);
      null_.resize(n, true);
      types_.resize(n, 0);
    }
  }
  Connection& c_;
  std::string sql_;
  std::vector<std::string> values_;
  std::vector<bool> null_;
  std::vector<Oid> types_;
  PGresult* res_ = nullptr;
  int rows_ = 0, row_ = -1;
};

}  // namespace

std::string rewrite_params(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?') {
      c = '$';
    }
    out += c;
  }
  return out;
}

Connection::Connection(const std::string& conninfo) : conninfo_(conninfo) {
  conn_ = PQconnectdb(conninfo_.c_str());
  if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = conn_ ? PQerrorMessage(conn_) : "out of memory";
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    PQfinish(conn_);
    conn_ = nullptr;
    throw StoreError("cannot connect to PostgreSQL: " + msg, true);
  }
  exec("SET client_min_messages = warning");
}

Connection::~Connection() { PQfinish(conn_); }

std::unique_ptr<sql::Cursor> Connection::cursor(std::string_view sql) {
  return std::make_unique<PgCursor>(*this, rewrite_params(sql));
}

bool Connection::in_transaction() const {
  const auto st = PQtransactionStatus(conn_);
  return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

bool Connection::transaction_failed() const {
  return PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) == PQTRANS_INERROR;
}

void Connection::ensure_connected() {
  if (PQstatus(conn_) == CONNECTION_OK && !reset_) return;
  reset_ = false;
  PQreset(conn_);
  prepared_.clear();  // they died with the old session
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(conn_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw StoreError("PostgreSQL connection lost: " + msg, true);
  }
  exec("SET client_min_messages = warning");
}

void Connection::fail(PGresult* res, std::string_view what) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = res ? PQresultErrorMessage(res) : "";
  if (msg.empty()) msg = PQerrorMessage(conn_);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  const bool down = PQstatus(conn_) != CONNECTION_OK || unavailable_state(state ? state : "");
  PQclear(res);
  std::string text = std::string(what) + ": " + msg + (state ? " (SQLSTATE " + std::string(state) + ")" : "");
  // A deadlock victim, a serialization failure: the same work run again succeeds.
  if (state && (std::string_view(state) == "40P01" || std::string_view(state) == "40001"))
    throw StoreError::conflicting(text);
  // A server that became a read-only standby (a failover): connect again, and libpq's
  // target_session_attrs=read-write finds the new primary.
  if (state && std::string_view(state) == "25006") reset_ = true;
  throw StoreError(text, down);
}

void Connection::exec(const std::string& sql) {
  if (!in_transaction()) ensure_connected();
  PGresult* res = PQexec(conn_, sql.c_str());
  const auto st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(res, "postgres");
  const char* n = PQcmdTuples(res);
  changes_ = n && *n ? std::strtoll(n, nullptr, 10) : 0;
  PQclear(res);
}

PGresult* Connection::run(const std::string& sql, const std::vector<Oid>& types,
                          const std::vector<const char*>& values) {
  if (!in_transaction()) ensure_connected();
  std::string key = sql;
  key.push_back('\0');
  for (Oid t : types) key += std::to_string(t) + ",";
  auto it = prepared_.find(key);
  if (it == prepared_.end()) {
    std::string name = "h" + std::to_string(prepared_.size() + 1);
    PGresult* res = PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(types.size()),
                              types.empty() ? nullptr : types.data());
    if (PQresultStatus(res) != PGRES_COMMAND_OK) fail(res, "prepare");
    PQclear(res);
    it = prepared_.emplace(std::move(key), std::move(name)).first;
  }
  PGresult* res = PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()),
                                 values.empty() ? nullptr : values.data(), nullptr, nullptr, 0);
  const auto st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) fail(res, "postgres");
  const char* n = PQcmdTuples(res);
  changes_ = n && *n ? std::strtoll(n, nullptr, 10) : 0;
  return res;
}

}  // namespace herald::pg
