#include "virtio/net/mmds/data_store.h"

#include <gtest/gtest.h>

namespace hearth::virtio::net::mmds {
namespace {

using nlohmann::json;

DataStore filled() {
  DataStore store(51200);
  store.put(json::parse(R"({"latest":{"meta-data":{"ami-id":"ami-1","tags":{"a":"b"}},"user-data":"hello"},
                            "age":43,"list":["x","y"]})"));
  return store;
}

TEST(MmdsDataStore, PutReplacesAndPatchMerges) {
  DataStore store = filled();
  store.put(json::parse(R"({"a":{"b":1,"c":2},"d":"e"})"));
  store.patch(json::parse(R"({"a":{"b":null,"x":[1]},"d":{"f":"g"}})"));
  EXPECT_EQ(store.value(), json::parse(R"({"a":{"c":2,"x":[1]},"d":{"f":"g"}})"));
  store.patch(json::parse(R"("scalar")"));  // RFC 7396: a non-object patch replaces the target
  EXPECT_EQ(store.value(), json("scalar"));
}

TEST(MmdsDataStore, PatchBeforePutIsRefused) {
  DataStore store(100);
  try {
    store.patch(json::object());
    FAIL();
  } catch (const DataStoreError& e) {
    EXPECT_EQ(e.kind(), DataStoreError::Kind::NotInitialized);
  }
}

TEST(MmdsDataStore, SizeLimitOnCompactSerialization) {
  DataStore store(20);
  store.put(json::parse(R"({"k":"0123456789a"})"));  // {"k":"0123456789a"} is 19 bytes
  EXPECT_THROW(store.put(json::parse(R"({"k":"0123456789ab2"})")), DataStoreError);
  EXPECT_EQ(store.value(), json::parse(R"({"k":"0123456789a"})"));  // a refused PUT changes nothing
  try {
    store.patch(json::parse(R"({"more":"x"})"));
    FAIL();
  } catch (const DataStoreError& e) {
    EXPECT_EQ(e.kind(), DataStoreError::Kind::TooLarge);
    EXPECT_STREQ(e.what(), "The MMDS patch request doesn't fit.");
  }
  EXPECT_EQ(store.value(), json::parse(R"({"k":"0123456789a"})"));
}

TEST(MmdsDataStore, ImdsFormat) {
  DataStore store = filled();
  auto r = store.lookup("/latest", OutputFormat::Imds);
  EXPECT_EQ(r.status, Lookup::Status::Ok);
  EXPECT_EQ(r.body, "meta-data/\nuser-data");
  EXPECT_EQ(store.lookup("/latest/user-data", OutputFormat::Imds).body, "hello");
  EXPECT_EQ(store.lookup("//latest///meta-data/", OutputFormat::Imds).body, "ami-id\ntags/");
  EXPECT_EQ(store.lookup("/", OutputFormat::Imds).body, "age\nlatest/\nlist");
  EXPECT_EQ(store.lookup("/age", OutputFormat::Imds).status, Lookup::Status::UnsupportedType);
  EXPECT_EQ(store.lookup("/list/1", OutputFormat::Imds).body, "y");
  EXPECT_EQ(store.lookup("/nope", OutputFormat::Imds).status, Lookup::Status::NotFound);
  EXPECT_EQ(store.lookup("/list/7", OutputFormat::Imds).status, Lookup::Status::NotFound);
  EXPECT_EQ(store.lookup("/list/x", OutputFormat::Imds).status, Lookup::Status::NotFound);
  EXPECT_EQ(store.lookup("/latest/user-data/deeper", OutputFormat::Imds).status, Lookup::Status::NotFound);
}

TEST(MmdsDataStore, JsonFormat) {
  DataStore store = filled();
  EXPECT_EQ(store.lookup("/latest/meta-data/tags", OutputFormat::Json).body, R"({"a":"b"})");
  EXPECT_EQ(store.lookup("/latest/user-data", OutputFormat::Json).body, R"("hello")");
  EXPECT_EQ(store.lookup("/age", OutputFormat::Json).body, "43");
  EXPECT_EQ(store.lookup("/list/", OutputFormat::Json).body, R"(["x","y"])");
}

}  // namespace
}  // namespace hearth::virtio::net::mmds
