#include "api/http_parser.h"

#include <gtest/gtest.h>

namespace hearth::api {
namespace {

using State = HttpRequestParser::State;

TEST(HttpParser, GetWithoutBody) {
  HttpRequestParser p(100);
  ASSERT_EQ(p.feed("GET /machine-config?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n"), State::kComplete);
  HttpRequest r = p.take();
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/machine-config");
  EXPECT_FALSE(r.body);
  EXPECT_TRUE(r.keep_alive);
  ASSERT_NE(r.header("host"), nullptr);
  EXPECT_EQ(*r.header("host"), "localhost");
  EXPECT_FALSE(p.mid_request());
}

TEST(HttpParser, BodyFedByteByByte) {
  std::string req = "PUT /boot-source HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  HttpRequestParser p(100);
  for (size_t i = 0; i + 1 < req.size(); ++i) {
    ASSERT_EQ(p.feed(req.substr(i, 1)), State::kNeedMore) << i;
    EXPECT_TRUE(p.mid_request());
  }
  ASSERT_EQ(p.feed(req.substr(req.size() - 1)), State::kComplete);
  EXPECT_EQ(p.take().body, "hello");
}

TEST(HttpParser, Pipelined) {
  HttpRequestParser p(100);
  ASSERT_EQ(p.feed("PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nxyGET /b HTTP/1.1\r\n\r\nGET"),
            State::kComplete);
  EXPECT_EQ(p.take().body, "xy");
  ASSERT_EQ(p.feed(""), State::kComplete);
  EXPECT_EQ(p.take().path, "/b");
  EXPECT_EQ(p.feed(""), State::kNeedMore);
  EXPECT_TRUE(p.mid_request());
}

TEST(HttpParser, ConnectionHandling) {
  HttpRequestParser p(100);
  ASSERT_EQ(p.feed("GET / HTTP/1.0\r\n\r\n"), State::kComplete);
  EXPECT_FALSE(p.take().keep_alive);
  ASSERT_EQ(p.feed("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"), State::kComplete);
  EXPECT_FALSE(p.take().keep_alive);
  ASSERT_EQ(p.feed("GET http://localhost/vm/config HTTP/1.1\r\n\r\n"), State::kComplete);
  EXPECT_EQ(p.take().path, "/vm/config");
}

TEST(HttpParser, ExpectContinue) {
  HttpRequestParser p(100);
  EXPECT_EQ(p.feed("PUT /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"),
            State::kNeedMore);
  EXPECT_TRUE(p.take_continue());
  EXPECT_FALSE(p.take_continue());
  EXPECT_EQ(p.feed("x"), State::kComplete);
}

struct BadCase {
  const char* input;
  int status;
};

TEST(HttpParser, Errors) {
  const BadCase cases[] = {
      {"GET /\r\n\r\n", 400},
      {"GET / HTTP/1.1 extra\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET nopath HTTP/1.1\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
      {"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"PUT / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413},
      {"PUT / HTTP/1.1\r\nExpect: something\r\n\r\n", 400},
  };
  for (const BadCase& c : cases) {
    HttpRequestParser p(100);
    ASSERT_EQ(p.feed(c.input), State::kError) << c.input;
    EXPECT_EQ(p.error().status, c.status) << c.input;
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n"), State::kError);  // stays failed
  }
  HttpRequestParser p(100);
  p.feed("PUT / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
  EXPECT_EQ(p.error().body,
            R"({"fault_message":"Request payload with size 101 is larger than the limit of 100 allowed by server."})");
}

TEST(HttpParser, HeaderTooLarge) {
  HttpRequestParser p(100);
  std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(HttpRequestParser::kMaxHeaderBytes, 'a');
  ASSERT_EQ(p.feed(huge), State::kError);
  EXPECT_EQ(p.error().status, 431);
}

TEST(HttpParser, Serialize) {
  EXPECT_EQ(serialize(HttpResponse{204, ""}, true),
            "HTTP/1.1 204 No Content\r\nServer: Hearth API\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(serialize(HttpResponse{400, "{}"}, false),
            "HTTP/1.1 400 Bad Request\r\nServer: Hearth API\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
}

}  // namespace
}  // namespace hearth::api
