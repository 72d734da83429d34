// The state file's bytes: round trip, the documented layout, and every way a file can be damaged.
#include "vmm/snapshot/state_file.h"

#include <fstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/error_of.h"
#include "tests/unit/snapshot/sample_state.h"

namespace hearth::snapshot {
namespace {

using ::hearth::test::error_of;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using test::sample_state;
using test::TempDir;

uint64_t load_le(const std::vector<uint8_t>& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | b[at + static_cast<size_t>(i)];
  return v;
}

void store_le(std::vector<uint8_t>& b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

// Recomputes the trailer so a test can change one field and reach the check after the CRC.
void reseal(std::vector<uint8_t>& b) {
  store_le(b, b.size() - 8, crc64(std::span(b).first(b.size() - 8)), 8);
}

// A well-framed file around any body text, built independently of encode_state_file.
std::vector<uint8_t> frame(const std::string& body, uint32_t version = kFormatVersion) {
  std::vector<uint8_t> b(24 + body.size() + 8);
  std::memcpy(b.data(), "HEARTHSN", 8);
  store_le(b, 8, version, 4);
  store_le(b, 16, body.size(), 8);
  std::memcpy(b.data() + 24, body.data(), body.size());
  reseal(b);
  return b;
}

nlohmann::json sample_body() {
  const std::vector<uint8_t> file = encode_state_file(sample_state());
  return nlohmann::json::parse(file.begin() + 24, file.end() - 8);
}

std::string decode_error(const nlohmann::json& body) {
  return error_of([&] { decode_state_file(frame(body.dump())); });
}

TEST(StateFile, Crc64IsCrc64XzWithItsCheckValue) {
  const std::string check = "123456789";
  EXPECT_EQ(crc64(std::span(reinterpret_cast<const uint8_t*>(check.data()), check.size())), 0x995DC9BBDF1939FAull);
  EXPECT_EQ(crc64({}), 0u);
}

TEST(StateFile, RoundTripKeepsEveryField) {
  const StateFile in = sample_state();
  const StateFile out = decode_state_file(encode_state_file(in));
  EXPECT_EQ(out.format_version, kFormatVersion);
  EXPECT_EQ(out.hearth_version, in.hearth_version);
  EXPECT_EQ(out.type, SnapshotType::kDiff);
  EXPECT_EQ(out.created_unix_ms, in.created_unix_ms);
  EXPECT_EQ(out.vm_config, in.vm_config);
  ASSERT_EQ(out.memory.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out.memory[i].guest_addr, in.memory[i].guest_addr);
    EXPECT_EQ(out.memory[i].size, in.memory[i].size);
    EXPECT_EQ(out.memory[i].file_offset, in.memory[i].file_offset);
  }
  ASSERT_EQ(out.drives.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(out.drives[i].drive_id, in.drives[i].drive_id);
    EXPECT_EQ(out.drives[i].path_on_host, in.drives[i].path_on_host);
    EXPECT_EQ(out.drives[i].size_bytes, in.drives[i].size_bytes);
  }
  EXPECT_EQ(out.machine, in.machine);
  ASSERT_EQ(out.devices.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.devices[i].kind, in.devices[i].kind);
    EXPECT_EQ(out.devices[i].id, in.devices[i].id);
    EXPECT_EQ(out.devices[i].version, in.devices[i].version);
    EXPECT_EQ(out.devices[i].data, in.devices[i].data);
  }
  StateFile full = in;
  full.type = SnapshotType::kFull;
  EXPECT_EQ(decode_state_file(encode_state_file(full)).type, SnapshotType::kFull);
  EXPECT_EQ(to_string(SnapshotType::kFull), "Full");
  EXPECT_EQ(to_string(SnapshotType::kDiff), "Diff");
}

TEST(StateFile, BytesAreLaidOutAsDocumented) {
  const std::vector<uint8_t> b = encode_state_file(sample_state());
  ASSERT_GE(b.size(), 32u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "HEARTHSN");
  EXPECT_EQ(load_le(b, 8, 4), kFormatVersion);
  EXPECT_EQ(load_le(b, 12, 4), 0u);
  EXPECT_EQ(load_le(b, 16, 8), b.size() - 32);
  EXPECT_EQ(load_le(b, b.size() - 8, 8), crc64(std::span(b).first(b.size() - 8)));
  const nlohmann::json body = nlohmann::json::parse(b.begin() + 24, b.end() - 8);
  EXPECT_EQ(body["snapshot_type"], "Diff");
  EXPECT_EQ(body["memory"][1]["file_offset"], 0x8000000);
  EXPECT_EQ(body["devices"][1]["kind"], "virtio-blk");

  const StateFileHeader h = read_state_file_header(b);
  EXPECT_EQ(h.format_version, kFormatVersion);
  EXPECT_EQ(h.flags, 0u);
  EXPECT_EQ(h.body_bytes, b.size() - 32);
  EXPECT_TRUE(h.crc_ok());
}

TEST(StateFile, EveryFlippedByteIsRefusedNamingWhatBroke) {
  const std::vector<uint8_t> good = encode_state_file(sample_state());
  for (size_t i = 0; i < good.size(); ++i) {
    std::vector<uint8_t> bad = good;
    bad[i] ^= 0x20;
    const std::string error = error_of([&] { decode_state_file(bad); });
    SCOPED_TRACE(fmt::format("byte {} of {}", i, good.size()));
    if (i < 8) {
      EXPECT_THAT(error, StartsWith("not a Hearth snapshot state file (magic"));
    } else if (i < 12) {
      EXPECT_THAT(error, HasSubstr(fmt::format("format version {} is not supported", load_le(bad, 8, 4))));
    } else if (i < 16) {
      EXPECT_THAT(error, HasSubstr("header flags"));
    } else if (i < 24) {
      EXPECT_THAT(error, HasSubstr(fmt::format("the header gives a body of {} bytes", load_le(bad, 16, 8))));
    } else {
      const StateFileHeader h = read_state_file_header(bad);
      EXPECT_EQ(error, fmt::format("CRC mismatch: stored 0x{:016x}, computed 0x{:016x} (the file is corrupt)",
                                   h.stored_crc, h.computed_crc));
      EXPECT_FALSE(h.crc_ok());
    }
  }
}

TEST(StateFile, EveryTruncationIsAClearError) {
  const std::vector<uint8_t> good = encode_state_file(sample_state());
  for (size_t len = 0; len < good.size(); ++len) {
    const std::span<const uint8_t> cut = std::span(good).first(len);
    const std::string error = error_of([&] { decode_state_file(cut); });
    SCOPED_TRACE(fmt::format("{} bytes", len));
    if (len < 32) {
      EXPECT_EQ(error, fmt::format("truncated: {} bytes, a state file has at least 32", len));
      EXPECT_EQ(error_of([&] { read_state_file_header(cut); }), error);
    } else {
      EXPECT_EQ(error, fmt::format("truncated: the header gives a body of {} bytes, but the file of {} bytes holds "
                                   "at most {}",
                                   good.size() - 32, len, len - 32));
    }
  }
}

TEST(StateFile, TrailingBytesAreRefused) {
  std::vector<uint8_t> b = encode_state_file(sample_state());
  const size_t size = b.size();
  b.resize(size + 3);
  EXPECT_EQ(error_of([&] { decode_state_file(b); }),
            fmt::format("3 unexpected bytes: the header gives a body of {} bytes, so the file should be {} bytes, "
                        "not {}",
                        size - 32, size, size + 3));
}

TEST(StateFile, WrongMagicIsNamed) {
  std::string json(64, ' ');
  json.replace(0, 9, "{\"a\": 1}\n");
  const std::vector<uint8_t> b(json.begin(), json.end());
  EXPECT_EQ(error_of([&] { decode_state_file(b); }),
            "not a Hearth snapshot state file (magic \"{\"a\": 1}\", expected \"HEARTHSN\")");
  std::vector<uint8_t> binary(40, 0);
  binary[0] = 0x7f;
  EXPECT_EQ(error_of([&] { decode_state_file(binary); }),
            "not a Hearth snapshot state file (magic 0x7f00000000000000, expected \"HEARTHSN\")");
}

TEST(StateFile, NewerAndZeroVersionsAreRefusedNamingBoth) {
  for (uint32_t version : {kFormatVersion + 1, 0u, 0xffffffffu}) {
    std::vector<uint8_t> b = encode_state_file(sample_state());
    store_le(b, 8, version, 4);
    reseal(b);
    EXPECT_EQ(read_state_file_header(b).format_version, version);
    EXPECT_TRUE(read_state_file_header(b).crc_ok());
    EXPECT_EQ(error_of([&] { decode_state_file(b); }),
              fmt::format("format version {} is not supported (this build reads versions {} to {})", version,
                          kOldestReadableVersion, kFormatVersion));
  }
}

TEST(StateFile, UnknownFlagsAreRefused) {
  std::vector<uint8_t> b = encode_state_file(sample_state());
  store_le(b, 12, 4, 4);
  reseal(b);
  EXPECT_EQ(error_of([&] { decode_state_file(b); }),
            "header flags 0x00000004 are not understood (version 1 defines none)");
}

TEST(StateFile, BadJsonIsNamedWithItsPosition) {
  EXPECT_THAT(error_of([&] { decode_state_file(frame("{\"hearth_version\": ")); }),
              StartsWith("state file body: invalid JSON at line 1 column"));
  EXPECT_THAT(error_of([&] { decode_state_file(frame("[1, 2]")); }), "state: expected an object, got array");
  EXPECT_THAT(error_of([&] { decode_state_file(frame("\"\xff\"")); }), StartsWith("state file body: invalid JSON"));
}

TEST(StateFile, EachMissingFieldIsNamed) {
  for (const char* key : {"hearth_version", "snapshot_type", "created_unix_ms", "vm_config", "memory", "drives",
                          "machine", "devices"}) {
    nlohmann::json body = sample_body();
    body.erase(key);
    EXPECT_EQ(decode_error(body), fmt::format("state: missing required field '{}'", key));
  }
  for (const char* key : {"guest_addr", "size", "file_offset"}) {
    nlohmann::json body = sample_body();
    body["memory"][1].erase(key);
    EXPECT_EQ(decode_error(body), fmt::format("state.memory[1]: missing required field '{}'", key));
  }
  for (const char* key : {"drive_id", "path_on_host", "size_bytes"}) {
    nlohmann::json body = sample_body();
    body["drives"][0].erase(key);
    EXPECT_EQ(decode_error(body), fmt::format("state.drives[0]: missing required field '{}'", key));
  }
  for (const char* key : {"kind", "id", "version", "data"}) {
    nlohmann::json body = sample_body();
    body["devices"][2].erase(key);
    EXPECT_EQ(decode_error(body), fmt::format("state.devices[2]: missing required field '{}'", key));
  }
}

TEST(StateFile, MistypedAndUnknownFieldsAreNamed) {
  auto with = [](auto change) {
    nlohmann::json body = sample_body();
    change(body);
    return decode_error(body);
  };
  EXPECT_EQ(with([](auto& b) { b["memory"][0]["size"] = "128M"; }),
            "state.memory[0].size: expected an unsigned integer, got string");
  EXPECT_EQ(with([](auto& b) { b["created_unix_ms"] = -1; }),
            "state.created_unix_ms: expected an unsigned integer, got negative integer");
  EXPECT_EQ(with([](auto& b) { b["memory"] = nlohmann::json::object(); }),
            "state.memory: expected an array, got object");
  EXPECT_EQ(with([](auto& b) { b["vm_config"] = "x"; }), "state.vm_config: expected an object, got string");
  EXPECT_EQ(with([](auto& b) { b["machine"] = nlohmann::json::array(); }),
            "state.machine: expected an object, got array");
  EXPECT_EQ(with([](auto& b) { b["hearth_version"] = 7; }),
            "state.hearth_version: expected a string, got unsigned integer");
  EXPECT_EQ(with([](auto& b) { b["snapshot_type"] = "Partial"; }),
            "state.snapshot_type: must be \"Full\" or \"Diff\", got \"Partial\"");
  EXPECT_EQ(with([](auto& b) { b["extra"] = 1; }), "state: unknown field 'extra'");
  EXPECT_EQ(with([](auto& b) { b["drives"][1]["read_only"] = true; }), "state.drives[1]: unknown field 'read_only'");
  EXPECT_EQ(with([](auto& b) { b["drives"][1]["drive_id"] = "rootfs"; }),
            "state.drives[1].drive_id: 'rootfs' appears twice");
  EXPECT_EQ(with([](auto& b) { b["devices"][0]["version"] = 1ull << 32; }),
            "state.devices[0].version: must be between 0 and 4294967295, got 4294967296");
  EXPECT_EQ(with([](auto& b) { b["devices"][0] = 5; }), "state.devices[0]: expected an object, got unsigned integer");
}

TEST(StateFile, MemoryRegionsMustBeAlignedAndDisjoint) {
  auto with = [](auto change) {
    nlohmann::json body = sample_body();
    change(body);
    return decode_error(body);
  };
  EXPECT_EQ(with([](auto& b) { b["memory"][1]["size"] = 0; }),
            "state.memory[1].size: must be between 1 and 18446744073709551615, got 0");
  EXPECT_EQ(with([](auto& b) { b["memory"][1]["file_offset"] = 0x8000100; }),
            "state.memory[1].file_offset: 0x8000100 is not a multiple of 4096");
  EXPECT_EQ(with([](auto& b) { b["memory"][1]["guest_addr"] = 0xfffffffffffff000ull; }),
            "state.memory[1].size: guest_addr + size overflows 64 bits");
  EXPECT_EQ(with([](auto& b) { b["memory"][1]["file_offset"] = 0x7fff000; }),
            "state.memory[1]: its file_offset 0x7fff000 overlaps state.memory[0], which ends at 0x8000000");
  EXPECT_EQ(with([](auto& b) { b["memory"][0]["guest_addr"] = 0x100000000 + 0x1000; }),
            "state.memory[0]: its guest_addr 0x100001000 overlaps state.memory[1], which ends at 0x100200000");
}

TEST(StateFile, ReadStateFileNamesWhatAndPath) {
  TempDir dir;
  const std::string path = dir / "vm.snap";
  const std::vector<uint8_t> good = encode_state_file(sample_state());
  write_file_atomically(path, good, "snapshot_path");
  EXPECT_EQ(read_state_file(path, "snapshot_path").devices.size(), 3u);

  std::vector<uint8_t> bad = good;
  bad[40] ^= 1;
  write_file_atomically(path, bad, "snapshot_path");
  EXPECT_THAT(error_of([&] { read_state_file(path, "snapshot_path"); }),
              StartsWith(fmt::format("snapshot_path: '{}': CRC mismatch: stored 0x", path)));
  EXPECT_THAT(error_of([&] { read_state_file(dir / "missing", "snapshot_path"); }),
              StartsWith(fmt::format("snapshot_path: cannot open '{}'", dir / "missing")));
  EXPECT_THAT(error_of([&] { read_state_file(dir.path(), "snapshot_path"); }), HasSubstr("is a directory"));
}

}  // namespace
}  // namespace hearth::snapshot
