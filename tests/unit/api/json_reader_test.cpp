#include "vmm/config/json_reader.h"

#include <gtest/gtest.h>

#include "vmm/base/error.h"
#include "tests/unit/error_of.h"

namespace hearth::api {
namespace {

using hearth::test::error_of;

TEST(JsonReader, InvalidJsonReportsLineAndColumn) {
  EXPECT_EQ(error_of([] { parse_json("{\n  \"a\": 1,\n  \"b\": x\n}", "body"); })
                .substr(0, 40),
            "body: invalid JSON at line 3 column 8: s");
  std::string msg = error_of([] { parse_json("", "body"); });
  EXPECT_EQ(msg.rfind("body: invalid JSON at line 1 column 1: ", 0), 0u) << msg;
}

TEST(JsonReader, NumberOverflowIsAnError) {
  EXPECT_EQ(error_of([] { parse_json("[1e999]", "body"); }),
            "body: invalid JSON: number overflow parsing '1e999'");
}

TEST(JsonReader, TypeNames) {
  EXPECT_EQ(json_type_name(nlohmann::json(-1)), "negative integer");
  EXPECT_EQ(json_type_name(nlohmann::json(1)), "unsigned integer");
  EXPECT_EQ(json_type_name(nlohmann::json(1.5)), "floating-point number");
  EXPECT_EQ(json_type_name(nlohmann::json("x")), "string");
  EXPECT_EQ(json_type_name(nlohmann::json(nullptr)), "null");
}

TEST(JsonReader, ObjectReaderChecks) {
  auto j = nlohmann::json::parse(R"({"a": 5, "s": "x", "b": true, "n": null, "neg": -3})");
  ObjectReader r(j, "ctx", {"a", "s", "b", "n", "neg", "absent"});
  EXPECT_EQ(r.unsigned_int("a", 0, 10), 5u);
  EXPECT_EQ(r.string("s"), "x");
  EXPECT_TRUE(r.boolean("b"));
  EXPECT_FALSE(r.opt_string("n").has_value());
  EXPECT_EQ(error_of([&] { r.string("n"); }), "ctx: missing required field 'n'");
  EXPECT_EQ(error_of([&] { r.unsigned_int("a", 6, 10); }), "ctx.a: must be between 6 and 10, got 5");
  EXPECT_EQ(error_of([&] { r.unsigned_int("neg", 0, 10); }),
            "ctx.neg: expected an unsigned integer, got negative integer");
  EXPECT_EQ(error_of([&] { r.boolean("s"); }), "ctx.s: expected a boolean, got string");
  EXPECT_EQ(error_of([&] { r.string("a"); }), "ctx.a: expected a string, got unsigned integer");
  EXPECT_EQ(error_of([&] { ObjectReader(j, "ctx", {"a"}); }), "ctx: unknown field 'b'");
  EXPECT_EQ(error_of([&] { ObjectReader(j, "ctx", {"a", "b", "n", "neg"}, {{"s", "no way"}}); }),
            "ctx.s: no way");
  EXPECT_EQ(error_of([] { ObjectReader(nlohmann::json::array(), "ctx", {}); }),
            "ctx: expected an object, got array");
}

TEST(JsonReader, NullUnsupportedFieldCountsAsAbsent) {
  auto j = nlohmann::json::parse(R"({"a": 1, "socket": null})");
  ObjectReader r(j, "ctx", {"a"}, {{"socket", "no way"}});
  EXPECT_FALSE(r.has("socket"));
  // A null field that is not known at all is still a typo.
  EXPECT_EQ(error_of([&] { ObjectReader(j, "ctx", {"a"}); }), "ctx: unknown field 'socket'");
}

}  // namespace
}  // namespace hearth::api
