#include "vmm/migration/endpoint.h"

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/unit/error_of.h"

namespace hearth::migration {
namespace {

using test::error_of;
using namespace std::chrono_literals;

std::string temp_dir() {
  char tmpl[] = "/tmp/hearth-endpoint-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "/tmp";
}

TEST(MigrationEndpoint, ParsesUnixAndTcp) {
  Endpoint e = parse_endpoint("unix:/p");
  EXPECT_TRUE(e.is_unix);
  EXPECT_EQ(e.path, "/p");
  EXPECT_EQ(e.url, "unix:/p");
  e = parse_endpoint("tcp:127.0.0.1:80");
  EXPECT_FALSE(e.is_unix);
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, "80");
  e = parse_endpoint("tcp:[::1]:80");
  EXPECT_FALSE(e.is_unix);
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, "80");
}

TEST(MigrationEndpoint, RefusesOtherUrls) {
  for (const char* url : {"", "unix:", "tcp:", "tcp:host", "tcp::80", "tcp:host:", "http://h:1", "/path", "UNIX:/p"}) {
    const std::string err = error_of([&] { parse_endpoint(url); });
    EXPECT_NE(err.find(fmt::format("url '{}' must be", url)), std::string::npos) << url << ": " << err;
  }
}

void exchange(UniqueFd listener, const Endpoint& e) {
  UniqueFd client;
  std::thread t([&] { client = connect_to(e, 2s); });
  UniqueFd cancel(::eventfd(0, EFD_CLOEXEC));
  UniqueFd server = accept_one(listener.get(), cancel.get());
  t.join();
  ASSERT_TRUE(server);
  ASSERT_TRUE(client);
  ASSERT_EQ(::write(client.get(), "ping", 4), 4);
  char buf[4];
  ASSERT_EQ(::recv(server.get(), buf, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
}

TEST(MigrationEndpoint, ListensAndConnectsOverUnix) {
  const std::string dir = temp_dir();
  const Endpoint e = parse_endpoint("unix:" + dir + "/m.sock");
  {
    UniqueFd stale = listen_on(e);  // leaves a socket file behind: a stale one is replaced
  }
  exchange(listen_on(e), e);
  ::unlink((dir + "/m.sock").c_str());
  ::rmdir(dir.c_str());
}

TEST(MigrationEndpoint, ListensAndConnectsOverTcp) {
  UniqueFd listener = listen_on(parse_endpoint("tcp:127.0.0.1:0"));
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const Endpoint e = parse_endpoint(fmt::format("tcp:127.0.0.1:{}", ntohs(addr.sin_port)));
  exchange(std::move(listener), e);
}

TEST(MigrationEndpoint, AcceptReturnsEmptyWhenCancelled) {
  UniqueFd listener = listen_on(parse_endpoint("tcp:127.0.0.1:0"));
  UniqueFd cancel(::eventfd(0, EFD_CLOEXEC));
  const uint64_t one = 1;
  ASSERT_EQ(::write(cancel.get(), &one, sizeof(one)), 8);
  EXPECT_FALSE(accept_one(listener.get(), cancel.get()));
}

TEST(MigrationEndpoint, ListenRefusesARegularFileAndKeepsIt) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/file";
  std::ofstream(path) << "keep me";
  const std::string err = error_of([&] { listen_on(parse_endpoint("unix:" + path)); });
  EXPECT_NE(err.find("exists and is not a socket"), std::string::npos) << err;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_size, 7);
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
}

TEST(MigrationEndpoint, ConnectToNothingFails) {
  const std::string dir = temp_dir();
  const std::string err = error_of([&] { connect_to(parse_endpoint("unix:" + dir + "/none"), 200ms); });
  EXPECT_NE(err.find("cannot connect"), std::string::npos) << err;
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace hearth::migration
