// Cross-checks our bytes with ACPICA's disassembler (Debian package acpica-tools), when present.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm/acpi/acpi.h"
#include "vmm/acpi/dsdt.h"
#include "vmm/acpi/tables.h"
#include "tests/unit/acpi/test_util.h"

namespace hearth::acpi {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

bool have_iasl() { return std::system("command -v iasl >/dev/null 2>&1") == 0; }

// A private directory removed on scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hearth-acpi-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Writes `table` to <dir>/<stem>.aml, disassembles it and returns the .dsl text ("" on failure).
std::string disassemble(const TempDir& dir, const std::string& stem, const Bytes& table) {
  fs::path aml = dir.path() / (stem + ".aml");
  {
    std::ofstream f(aml, std::ios::binary);
    f.write(reinterpret_cast<const char*>(table.data()), static_cast<std::streamsize>(table.size()));
  }
  std::string cmd = "cd '" + dir.path().string() + "' && iasl -d " + stem + ".aml >" + stem + ".log 2>&1";
  if (std::system(cmd.c_str()) != 0) return "";
  std::ifstream dsl(dir.path() / (stem + ".dsl"));
  std::stringstream ss;
  ss << dsl.rdbuf();
  return ss.str();
}

Description sample() { return test::sample_description(2, 4); }

TEST(Iasl, DisassemblesDsdt) {
  if (!have_iasl()) GTEST_SKIP() << "iasl not installed (Debian package acpica-tools)";
  TempDir dir;
  std::string dsl = disassemble(dir, "dsdt", build_dsdt(sample()));
  ASSERT_FALSE(dsl.empty()) << "iasl -d failed";
  EXPECT_THAT(dsl, Not(HasSubstr("Incorrect checksum")));
  EXPECT_THAT(dsl, HasSubstr("Scope (\\_SB)"));
  EXPECT_THAT(dsl, HasSubstr("Device (COM1)"));
  EXPECT_THAT(dsl, HasSubstr("EisaId (\"PNP0501\")"));
  EXPECT_THAT(dsl, HasSubstr("IO (Decode16,\n                    0x03F8,"));
  EXPECT_THAT(dsl, HasSubstr("IRQNoFlags ()\n                    {4}"));
  EXPECT_THAT(dsl, HasSubstr("EisaId (\"PNP0303\")"));
  EXPECT_THAT(dsl, HasSubstr("Device (V000)"));
  EXPECT_THAT(dsl, HasSubstr("Device (V001)"));
  EXPECT_THAT(dsl, HasSubstr("Name (_HID, \"LNRO0005\")"));
  EXPECT_THAT(dsl, HasSubstr("Memory32Fixed (ReadWrite,\n                    0xD0001000,"));
  EXPECT_THAT(dsl, HasSubstr("Memory32Fixed (ReadWrite,\n                    0xD0002000,"));
  EXPECT_THAT(dsl, HasSubstr("Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )\n"
                             "                {\n                    0x00000006,"));
  // The disassembly compiles back cleanly: the AML was well-formed, not just decodable.
  std::string recompile = "cd '" + dir.path().string() + "' && iasl -p rt dsdt.dsl >rt.log 2>&1";
  EXPECT_EQ(std::system(recompile.c_str()), 0);
}

TEST(Iasl, DisassemblesFixedTables) {
  if (!have_iasl()) GTEST_SKIP() << "iasl not installed (Debian package acpica-tools)";
  TempDir dir;
  std::string madt = disassemble(dir, "apic", build_madt(4, 0xFEE00000, 0xFEC00000));
  ASSERT_FALSE(madt.empty());
  EXPECT_THAT(madt, Not(HasSubstr("Incorrect checksum")));
  EXPECT_THAT(madt, HasSubstr("I/O APIC"));
  EXPECT_THAT(madt, HasSubstr("FEC00000"));
  std::string fadt = disassemble(dir, "facp", build_fadt(0xE0400));
  ASSERT_FALSE(fadt.empty());
  EXPECT_THAT(fadt, Not(HasSubstr("Incorrect checksum")));
  EXPECT_THAT(fadt, HasSubstr("00000000000E0400"));
}

}  // namespace
}  // namespace hearth::acpi
