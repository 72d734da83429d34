// hearth-snapshot: offline inspection of snapshot files and Firecracker's rebase-snap.
#include <fcntl.h>

#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "vmm/base/error.h"
#include "vmm/base/host_file.h"
#include "vmm/snapshot/memory_file.h"
#include "vmm/snapshot/tool/info.h"

namespace {

void rebase(const std::string& base_path, const std::string& diff_path) {
  using namespace hearth;
  HostFileRules base_rules;
  base_rules.access = O_RDWR;
  HostFile base = open_host_file(base_path, "--base-file", base_rules);
  HostFile diff = open_host_file(diff_path, "--diff-file", HostFileRules{});
  const snapshot::MemoryWriteStats stats = snapshot::rebase_memory(base.fd.get(), diff.fd.get());
  fmt::print("rebased '{}' onto '{}': {} bytes copied\n", diff_path, base_path, stats.bytes_written);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hearth-snapshot: inspect Hearth snapshot files and apply diff snapshots"};
  app.require_subcommand(1);

  std::string state_path;
  CLI::App* info = app.add_subcommand("info", "Print a snapshot state file's header and contents");
  info->add_option("state_file", state_path, "The state file (snapshot_path)")->required();

  std::string base_path;
  std::string diff_path;
  CLI::App* rebase_cmd = app.add_subcommand("rebase", "Apply a diff memory file onto its full base, in place");
  rebase_cmd->add_option("--base-file", base_path, "The full memory file; it is modified")->required();
  rebase_cmd->add_option("--diff-file", diff_path, "The diff memory file taken after the base")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (info->parsed()) hearth::snapshot::print_state_info(state_path, std::cout);
    if (rebase_cmd->parsed()) rebase(base_path, diff_path);
  } catch (const hearth::Error& e) {
    std::cout.flush();
    fmt::print(stderr, "hearth-snapshot: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
