#pragma once
// A private network namespace for a test: uniquely named (pid + counter), with TAP devices and addresses
// created inside it, deleted with everything in it by the destructor. Traffic never leaves it.
#include <string>
#include <vector>

namespace hearth::test {

class Netns {
 public:
  // Empty when this process can create namespaces and TAPs (root, `ip`, /dev/net/tun); otherwise why not.
  static std::string unavailable_reason();

  // Creates "hearth-<tag>-<pid>-<n>" with loopback up, after deleting any such namespace whose pid is dead
  // (left by a test killed at its timeout). Throws std::runtime_error (with ip's stderr).
  explicit Netns(const std::string& tag);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  const std::string& name() const { return name_; }

  // A persistent TAP `dev` (IFF_TAP|IFF_NO_PI; the VMM adds IFF_VNET_HDR when it opens it) inside the
  // namespace, with `cidr` ("192.168.50.1/24", may be empty) as the host side's address, link up. `mtu` 0
  // keeps the default. Throws on failure.
  void add_tap(const std::string& dev, const std::string& cidr, unsigned mtu = 0);

  // `/path/to/ip netns exec <name> argv...` (argv[0] may be a bare name: ip searches PATH): run a process
  // (hearth, a peer) inside the namespace, e.g. with run_process or BackgroundProcess.
  std::vector<std::string> wrap(const std::vector<std::string>& argv) const;

  // Runs argv inside the namespace and waits; its exit status (-1 if it could not run). Output discarded
  // unless `out` is given (stdout and stderr together).
  int run(const std::vector<std::string>& argv, std::string* out = nullptr) const;

 private:
  std::string name_;
};

// Runs a command (no shell) and waits; exit status, or -1. stdout+stderr into *out when given.
int run_command(const std::vector<std::string>& argv, std::string* out = nullptr);

}  // namespace hearth::test
