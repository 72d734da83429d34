#include "virtio/net/mmds/service.h"

#include <gtest/gtest.h>

namespace hearth::virtio::net::mmds {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

HttpRequest request(std::string method, std::string path, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.version = "HTTP/1.1";
  r.headers = std::move(headers);
  return r;
}

std::shared_ptr<Service> service(Version version) {
  auto s = std::make_shared<Service>();
  MmdsConfig config;
  config.version = version;
  config.network_interfaces = {"eth0"};
  s->set_config(config);
  s->put(json::parse(R"({"latest":{"meta-data":{"id":"i-1","net":{}}},"n":1})"));
  return s;
}

const auto t0 = Clock::time_point{} + 100s;

TEST(MmdsService, V1GetImdsAndJson) {
  auto s = service(Version::V1);
  auto r = s->handle(request("GET", "/latest/meta-data"), t0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "id\nnet/");
  EXPECT_EQ(r.content_type, "text/plain");
  r = s->handle(request("GET", "/latest/meta-data", {{"Accept", "application/json"}}), t0);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"id":"i-1","net":{}})");
  EXPECT_EQ(r.content_type, "application/json");
  // V1 takes a token header or none.
  EXPECT_EQ(s->handle(request("GET", "/latest/meta-data/id", {{"X-metadata-token", "junk"}}), t0).body, "i-1");
  EXPECT_EQ(s->handle(request("GET", "/missing"), t0).status, 404);
  EXPECT_EQ(s->handle(request("GET", "/missing"), t0).body, "Resource not found: /missing.");
  EXPECT_EQ(s->handle(request("GET", "/n"), t0).status, 501);
  r = s->handle(request("PUT", "/latest/api/token", {{"X-metadata-token-ttl-seconds", "60"}}), t0);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET");
}

TEST(MmdsService, ImdsCompatIgnoresAccept) {
  auto s = service(Version::V1);
  MmdsConfig config = s->config();
  config.imds_compat = true;
  s->set_config(config);
  EXPECT_EQ(s->handle(request("GET", "/latest/meta-data", {{"Accept", "application/json"}}), t0).body, "id\nnet/");
}

TEST(MmdsService, V2TokenFlow) {
  auto s = service(Version::V2);
  auto r = s->handle(request("GET", "/latest/meta-data/id"), t0);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(s->handle(request("GET", "/latest/meta-data/id", {{"X-metadata-token", "wrong"}}), t0).status, 401);
  r = s->handle(request("PUT", "/latest/api/token", {{"X-metadata-token-ttl-seconds", "10"}}), t0);
  ASSERT_EQ(r.status, 200);
  const std::string token = r.body;
  r = s->handle(request("GET", "/latest/meta-data/id", {{"x-metadata-token", token}}), t0 + 9s);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "i-1");
  EXPECT_EQ(s->handle(request("GET", "/latest/meta-data/id", {{"X-metadata-token", token}}), t0 + 10s).status, 401);
  // The EC2 header names work too.
  r = s->handle(request("PUT", "//latest//api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "5"}}), t0);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(s->handle(request("GET", "/n", {{"X-aws-ec2-metadata-token", r.body}, {"Accept", "application/json"}}), t0).body,
            "1");
}

TEST(MmdsService, V2TokenRequestErrors) {
  auto s = service(Version::V2);
  EXPECT_EQ(s->handle(request("PUT", "/latest/api/token"), t0).status, 400);
  for (const char* ttl : {"0", "21601", "abc", "-1", ""})
    EXPECT_EQ(s->handle(request("PUT", "/latest/api/token", {{"X-metadata-token-ttl-seconds", ttl}}), t0).status, 400)
        << ttl;
  EXPECT_EQ(s->handle(request("PUT", "/latest/api/token", {{"X-metadata-token-ttl-seconds", "21600"}}), t0).status, 200);
  EXPECT_EQ(s->handle(request("PUT", "/latest/api/token",
                              {{"X-metadata-token-ttl-seconds", "5"}, {"X-Forwarded-For", "1.2.3.4"}}),
                      t0)
                .status,
            400);
  EXPECT_EQ(s->handle(request("PUT", "/other", {{"X-metadata-token-ttl-seconds", "5"}}), t0).status, 404);
  auto r = s->handle(request("POST", "/"), t0);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET, PUT");
  EXPECT_EQ(s->handle(request("GET", ""), t0).status, 400);
}

TEST(MmdsService, StacksOnlyForConfiguredInterfaces) {
  auto s = service(Version::V1);
  EXPECT_NE(s->make_stack("eth0", {}), nullptr);
  EXPECT_EQ(s->make_stack("eth1", {}), nullptr);
  auto unconfigured = std::make_shared<Service>();
  EXPECT_EQ(unconfigured->make_stack("eth0", {}), nullptr);
}

TEST(MmdsService, ConnectionCloseFollowsTheRequest) {
  auto s = service(Version::V1);
  HttpRequest r = request("GET", "/n");
  r.version = "HTTP/1.0";
  auto response = s->handle(r, t0);
  EXPECT_EQ(response.version, "HTTP/1.0");
  EXPECT_TRUE(response.close);
  EXPECT_FALSE(s->handle(request("GET", "/n"), t0).close);
}

}  // namespace
}  // namespace hearth::virtio::net::mmds

namespace hearth::virtio::net::mmds {
namespace {

TEST(MmdsService, ConfigFromTheApiForm) {
  MmdsConfigSpec spec;
  spec.version = "V2";
  spec.network_interfaces = {"eth0", "eth1"};
  spec.ipv4_address = "169.254.12.3";
  spec.imds_compat = true;
  MmdsConfig c = mmds_config_from(spec);
  EXPECT_EQ(c.version, Version::V2);
  EXPECT_EQ(c.network_interfaces, spec.network_interfaces);
  EXPECT_EQ(c.ipv4_address, (Ipv4{169, 254, 12, 3}));
  EXPECT_TRUE(c.imds_compat);
  EXPECT_EQ(mmds_config_from(MmdsConfigSpec{}).version, Version::V1);
  EXPECT_EQ(mmds_config_from(MmdsConfigSpec{}).ipv4_address, (Ipv4{169, 254, 169, 254}));
}

}  // namespace
}  // namespace hearth::virtio::net::mmds
