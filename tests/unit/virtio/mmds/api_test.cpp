// The API side of MMDS: body validation, routes, the pre-boot rules and GET /vm/config.
#include <gtest/gtest.h>

#include "api/config_json.h"
#include "api/mmds_json.h"
#include "api/preboot_controller.h"
#include "api/router.h"
#include "tests/unit/api/fake_controller.h"
#include "vmm/base/error.h"

namespace hearth::api {
namespace {

using nlohmann::json;

std::string error_of(const json& body) {
  try {
    parse_mmds_config(body, "mmds/config");
  } catch (const Error& e) {
    return e.what();
  }
  return "<accepted>";
}

TEST(MmdsApi, ConfigDefaultsAndFields) {
  MmdsConfigSpec c = parse_mmds_config(json::parse(R"({"network_interfaces": ["eth0", "eth0", "eth1"]})"));
  EXPECT_EQ(c.version, "V1");
  EXPECT_EQ(c.ipv4_address, "169.254.169.254");
  EXPECT_EQ(c.network_interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_FALSE(c.imds_compat);
  c = parse_mmds_config(json::parse(
      R"({"version": "V2", "network_interfaces": ["e"], "ipv4_address": "169.254.1.0", "imds_compat": true})"));
  EXPECT_EQ(c.version, "V2");
  EXPECT_EQ(c.ipv4_address, "169.254.1.0");
  EXPECT_TRUE(c.imds_compat);
  EXPECT_EQ(to_json(c), json::parse(R"({"version": "V2", "network_interfaces": ["e"], "ipv4_address": "169.254.1.0",
                                        "imds_compat": true})"));
}

TEST(MmdsApi, ConfigErrorsNameTheField) {
  EXPECT_EQ(error_of(json::object()), "mmds/config: missing required field 'network_interfaces'");
  EXPECT_NE(error_of(json::parse(R"({"network_interfaces": []})")).find("mmds/config.network_interfaces: "),
            std::string::npos);
  EXPECT_EQ(error_of(json::parse(R"({"network_interfaces": [1]})")),
            "mmds/config.network_interfaces[0]: expected a string, got unsigned integer");
  EXPECT_NE(error_of(json::parse(R"({"network_interfaces": ["e"], "version": "V3"})")).find("mmds/config.version"),
            std::string::npos);
  for (const char* ip : {"169.254.0.1", "169.254.255.1", "10.0.0.1", "169.254.1", "169.254.1.256", "169.254.01.1",
                         "169.254.1.1 ", "x"}) {
    EXPECT_NE(error_of(json{{"network_interfaces", {"e"}}, {"ipv4_address", ip}}).find("mmds/config.ipv4_address"),
              std::string::npos)
        << ip;
  }
  EXPECT_NE(error_of(json{{"network_interfaces", {"e"}}, {"ipv4_address", "169.254.0.1"}}).find("not link local"),
            std::string::npos);
  EXPECT_EQ(error_of(json::parse(R"({"network_interfaces": ["e"], "bogus": 1})")), "mmds/config: unknown field 'bogus'");
}

TEST(MmdsApi, ContentsMustBeAnObject) {
  EXPECT_EQ(parse_mmds_contents(R"({"a": {"b": "c"}})"), json::parse(R"({"a": {"b": "c"}})"));
  EXPECT_THROW(parse_mmds_contents("[1]"), Error);
  EXPECT_THROW(parse_mmds_contents("\"s\""), Error);
  EXPECT_THROW(parse_mmds_contents("{"), Error);
}

struct MmdsFake : testing::FakeController {
  std::optional<json> put, patch;
  std::optional<MmdsConfigSpec> config;
  Result<> put_mmds(const json& d) override { put = d; return done("put_mmds"); }
  Result<> patch_mmds(const json& d) override { patch = d; return done("patch_mmds"); }
  Result<json> get_mmds() override { return value("get_mmds", json{{"k", "v"}}); }
  Result<> put_mmds_config(const MmdsConfigSpec& c) override { config = c; return done("put_mmds_config"); }
};

class MmdsRouter : public ::testing::Test {
 protected:
  HttpResponse send(std::string method, std::string path, std::optional<std::string> body = std::nullopt) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    return router.handle(r);
  }
  MmdsFake fake;
  metrics::Registry registry;
  Router router{Router::direct(fake), registry};
};

TEST_F(MmdsRouter, Routes) {
  EXPECT_EQ(send("PUT", "/mmds", R"({"a": 1})").status, 204);
  EXPECT_EQ(*fake.put, json::parse(R"({"a": 1})"));
  EXPECT_EQ(send("PATCH", "/mmds", R"({"a": null})").status, 204);
  EXPECT_EQ(*fake.patch, json::parse(R"({"a": null})"));
  HttpResponse r = send("GET", "/mmds");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"k": "v"})"));
  EXPECT_EQ(send("PUT", "/mmds/config", R"({"network_interfaces": ["eth0"], "version": "V2"})").status, 204);
  EXPECT_EQ(fake.config->version, "V2");
  EXPECT_EQ(fake.calls, (std::vector<std::string>{"put_mmds", "patch_mmds", "get_mmds", "put_mmds_config"}));
  EXPECT_EQ(registry.counter("api.put_mmds.count").get(), 2u);
}

TEST_F(MmdsRouter, BadRequests) {
  EXPECT_EQ(send("PUT", "/mmds", "[1]").status, 400);
  EXPECT_EQ(send("PUT", "/mmds", "{").status, 400);
  EXPECT_EQ(send("PUT", "/mmds/config", R"({"network_interfaces": []})").status, 400);
  HttpResponse r = send("DELETE", "/mmds");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.body.find("Allowed methods: GET, PUT, PATCH."), std::string::npos);
  EXPECT_EQ(send("GET", "/mmds/config").status, 405);
  EXPECT_EQ(send("GET", "/mmds/other").status, 404);
  EXPECT_TRUE(fake.calls.empty());
  // A controller's fault (413 for a store over its limit) passes through.
  fake.fail = Fault{413, "The MMDS patch request doesn't fit."};
  r = send("PUT", "/mmds", R"({"a": 1})");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json::parse(r.body)["fault_message"], "The MMDS patch request doesn't fit.");
}

class Preboot : public PrebootConfigController {
 public:
  using PrebootConfigController::PrebootConfigController;

 protected:
  Result<> start_vm(const VmConfig&) override { return {}; }
  Result<> pause_vm() override { return {}; }
  Result<> resume_vm() override { return {}; }
  Result<> ctrl_alt_del() override { return {}; }
};

VmConfig with_interfaces() {
  VmConfig c;
  c.boot_source = BootSourceConfig{};
  c.boot_source->kernel_image_path = "/k";
  c.device_sections["network-interfaces"] = json::parse(R"([{"iface_id": "eth0", "host_dev_name": "tap0"}])");
  return c;
}

TEST(MmdsPreboot, ConfigNeedsTheInterfacesAndShowsInVmConfig) {
  Preboot controller("0.1", with_interfaces());
  MmdsConfigSpec spec;
  spec.network_interfaces = {"eth1"};
  Result<> r = controller.put_mmds_config(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.fault().message,
            "mmds/config.network_interfaces: no network interface with iface_id 'eth1' (PUT /network-interfaces/eth1 first)");
  EXPECT_FALSE(controller.config().mmds.has_value());
  spec.network_interfaces = {"eth0"};
  spec.version = "V2";
  ASSERT_TRUE(controller.put_mmds_config(spec).ok());
  json shown = to_json(controller.get_vm_config().value());
  EXPECT_EQ(shown["mmds-config"], json::parse(R"({"version": "V2", "network_interfaces": ["eth0"],
                                                 "ipv4_address": "169.254.169.254", "imds_compat": false})"));
  // Pre-boot only.
  ASSERT_TRUE(controller.instance_start().ok());
  r = controller.put_mmds_config(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.fault().status, 400);
}

TEST(MmdsConfigFile, SectionNeedsTheInterfaces) {
  try {
    parse_config(json::parse(R"({"boot-source": {"kernel_image_path": "/k"},
                                 "mmds-config": {"network_interfaces": ["eth0"]}})"));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "mmds-config.network_interfaces: no network interface with iface_id 'eth0' (PUT /network-interfaces/eth0 first)");
  }
  try {
    parse_config(json::parse(R"({"boot-source": {"kernel_image_path": "/k"}, "mmds-config": {"version": "V2"}})"));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "mmds-config: missing required field 'network_interfaces'");
  }
  // Firecracker's files carry a null section.
  EXPECT_FALSE(parse_config(json::parse(R"({"boot-source": {"kernel_image_path": "/k"}, "mmds-config": null})"))
                   .mmds.has_value());
}

}  // namespace
}  // namespace hearth::api
