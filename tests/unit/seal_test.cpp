// Secrets at rest: the store's gateway state sealed with AES-256-GCM under a key the store
// does not hold (store/seal.hpp), bound to its place, refused under another key.
#include <fstream>

#include <gtest/gtest.h>

#include "raw_db.hpp"
#include "store/seal.hpp"
#include "store/store.hpp"
#include "support.hpp"

namespace herald {
namespace {

const std::string kKey(32, 'k');

TEST(SecretSeal, OpensWhatItSealedAtItsPlaceOnly) {
  SecretSeal seal(kKey);
  const std::string s = seal.seal("zalo-refresh-token-0123", "zalo-oa.refresh_token");
  EXPECT_TRUE(SecretSeal::is_sealed(s));
  EXPECT_EQ(s.find("zalo-refresh"), std::string::npos);
  EXPECT_EQ(seal.open(s, "zalo-oa.refresh_token"), "zalo-refresh-token-0123");
  EXPECT_NE(seal.seal("same", "a.b"), seal.seal("same", "a.b"));  // a fresh nonce each time
  EXPECT_FALSE(seal.open(s, "zalo-oa.access_token"));             // moved to another key
  EXPECT_FALSE(SecretSeal(std::string(32, 'x')).open(s, "zalo-oa.refresh_token"));  // another store key
  std::string tampered = s;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(seal.open(tampered, "zalo-oa.refresh_token"));
  EXPECT_FALSE(seal.open("sealed:v1:!!", "a.b"));
  EXPECT_EQ(seal.open(seal.seal("", "a.b"), "a.b"), "");
}

TEST(SecretSeal, KeyFileIsSixtyFourHexDigits) {
  test::TempDir tmp;
  std::string error;
  {
    std::ofstream(tmp.file("good")) << std::string(64, 'a') << "\n";
  }
  EXPECT_TRUE(SecretSeal::from_file(tmp.file("good"), error)) << error;
  {
    std::ofstream(tmp.file("short")) << "abcd\n";
  }
  EXPECT_FALSE(SecretSeal::from_file(tmp.file("short"), error));
  EXPECT_NE(error.find("64 hexadecimal digits"), std::string::npos);
  EXPECT_FALSE(SecretSeal::from_file(tmp.file("missing"), error));
}

TEST(SealedStore, GatewayStateIsSealedAtRestAndNeedsTheKey) {
  if (test::postgres_mode()) GTEST_SKIP() << "reads the SQLite file (the store code is the same on PostgreSQL)";
  test::TempDir tmp;
  const std::string path = tmp.file("herald.db");
  {
    auto store = test::open_store(path);
    store->put_gateway_state("zalo-oa", {{"access_token", "plain-access-token-before"}});
    // Sealing starts: what was plain is sealed now.
    EXPECT_EQ(store->seal_gateway_state(std::make_shared<const SecretSeal>(kKey)), 1u);
    store->put_gateway_state("zalo-oa", {{"refresh_token", "refresh-token-after-sealing"}});
    EXPECT_EQ(store->keep_first_gateway_state("acks", "link_secret", "ack-link-secret-0123456789"),
              "ack-link-secret-0123456789");
    auto state = store->gateway_state("zalo-oa");
    EXPECT_EQ(state["access_token"], "plain-access-token-before");
    EXPECT_EQ(state["refresh_token"], "refresh-token-after-sealing");
  }
  test::RawDb raw(path);
  for (const char* secret : {"plain-access-token-before", "refresh-token-after-sealing", "ack-link-secret"})
    EXPECT_EQ(raw.scalar(std::string("SELECT COUNT(*) FROM gateway_state WHERE value LIKE '%") + secret + "%'"), 0)
        << secret;
  // Opened again without the key: a clear error, not a wrong secret.
  auto without = test::open_store(path);
  try {
    without->gateway_state("zalo-oa");
    ADD_FAILURE() << "a sealed value read without the key";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("store-key"), std::string::npos) << e.what();
  }
  // With another key: refused too.
  auto other = test::open_store(path);
  other->seal_gateway_state(std::make_shared<const SecretSeal>(std::string(32, 'z')));
  EXPECT_THROW(other->keep_first_gateway_state("acks", "link_secret", "x"), StoreError);
}

}  // namespace
}  // namespace herald
