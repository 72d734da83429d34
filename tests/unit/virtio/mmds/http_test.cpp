#include "virtio/net/mmds/http.h"

#include <gtest/gtest.h>

namespace hearth::virtio::net::mmds {
namespace {

std::span<const uint8_t> bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

HttpRequestParser::Result parse(std::string_view text, HttpRequest& out, std::string& error) {
  HttpRequestParser parser;
  parser.feed(bytes(text));
  return parser.next(out, error);
}

TEST(MmdsHttp, ParsesRequestLineAndHeaders) {
  HttpRequest r;
  std::string error;
  ASSERT_EQ(parse("GET http://169.254.169.254/latest/meta-data?x=1 HTTP/1.1\r\nAccept:  application/json \r\n"
                  "X-metadata-token: abc\r\n\r\n",
                  r, error),
            HttpRequestParser::Result::Request);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.path, "/latest/meta-data");
  EXPECT_EQ(r.version, "HTTP/1.1");
  ASSERT_NE(r.header("accept"), nullptr);
  EXPECT_EQ(*r.header("ACCEPT"), "application/json");
  EXPECT_EQ(*r.header("x-Metadata-Token"), "abc");
  EXPECT_EQ(r.header("missing"), nullptr);
  EXPECT_TRUE(r.keep_alive());
}

TEST(MmdsHttp, ByteByByteAndPipelined) {
  HttpRequestParser parser;
  const std::string two = "GET /a HTTP/1.0\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzGET";
  HttpRequest r;
  std::string error;
  for (size_t i = 0; i < 18; ++i) {
    parser.feed(bytes(two.substr(i, 1)));
    ASSERT_EQ(parser.next(r, error), HttpRequestParser::Result::NeedMore) << i;
  }
  parser.feed(bytes(two.substr(18)));
  ASSERT_EQ(parser.next(r, error), HttpRequestParser::Result::Request);
  EXPECT_EQ(r.path, "/a");
  EXPECT_FALSE(r.keep_alive());  // HTTP/1.0 without keep-alive
  ASSERT_EQ(parser.next(r, error), HttpRequestParser::Result::Request);
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.path, "/b");
  EXPECT_EQ(parser.next(r, error), HttpRequestParser::Result::NeedMore);
  EXPECT_EQ(parser.buffered(), 3u);  // "GET", the start of a third
}

TEST(MmdsHttp, MalformedRequestsAreErrors) {
  for (std::string_view bad : {"GET\r\n\r\n", "GET /a\r\n\r\n", "GET /a HTTP/2.0\r\n\r\n", "GET /a HTTP/1.1 x\r\n\r\n",
                               "G(T /a HTTP/1.1\r\n\r\n", "GET /a HTTP/1.1\r\nNoColon\r\n\r\n",
                               "GET /a HTTP/1.1\r\n: v\r\n\r\n", "GET /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                               "GET /a HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
                               "GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                               "GET /\x01 HTTP/1.1\r\n\r\n"}) {
    HttpRequest r;
    std::string error;
    EXPECT_EQ(parse(bad, r, error), HttpRequestParser::Result::Error) << bad;
    EXPECT_FALSE(error.empty());
  }
}

TEST(MmdsHttp, BoundedBuffering) {
  HttpRequestParser parser;
  std::string chunk(1000, 'a');
  HttpRequest r;
  std::string error;
  // Exactly full without a complete head is already an error (the window would stay closed).
  HttpRequestParser full;
  full.feed(bytes(std::string(HttpRequestParser::kMaxRequestBytes, 'a')));
  EXPECT_EQ(full.next(r, error), HttpRequestParser::Result::Error);
  for (int i = 0; i < 10; ++i) parser.feed(bytes(chunk));
  EXPECT_LE(parser.buffered(), HttpRequestParser::kMaxRequestBytes);
  EXPECT_EQ(parser.next(r, error), HttpRequestParser::Result::Error);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 40; ++i) many += "A" + std::to_string(i) + ": b\r\n";
  EXPECT_EQ(parse(many + "\r\n", r, error), HttpRequestParser::Result::Error);
}

TEST(MmdsHttp, SerializesResponses) {
  HttpResponse r;
  r.status = 405;
  r.version = "HTTP/1.0";
  r.content_type = "text/plain";
  r.body = "no";
  r.allow = "GET";
  r.close = true;
  EXPECT_EQ(r.serialize(),
            "HTTP/1.0 405 Method Not Allowed\r\nServer: Hearth\r\nAllow: GET\r\nConnection: close\r\n"
            "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nno");
}

}  // namespace
}  // namespace hearth::virtio::net::mmds
