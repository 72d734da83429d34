#pragma once
// A small AML (ACPI Machine Language) encoder: just the terms a microVM's DSDT needs.
// Each function returns the encoded bytes of one term; compose them by nesting.
// Inputs come from the VMM, not the guest; a malformed one throws Error (a host bug).
#include <cstdint>
#include <string_view>
#include <vector>

#include "vmm/acpi/bytes.h"

namespace hearth::acpi::aml {

// PkgLength for a body of `body_len` bytes. The encoded value counts the PkgLength bytes
// themselves, so the 1..4 byte form is the smallest that fits body + its own size.
Bytes pkg_length(size_t body_len);

// NameString: "_HID", "COM1", "\\_SB_", "\\_SB_.COM1", "^PARN". Segments shorter than four
// characters are padded with '_' as iasl does.
Bytes name_string(std::string_view path);

// Integers. integer() picks the shortest form (ZeroOp, OneOp, Byte/Word/DWord/QWord prefix);
// the fixed-width ones always use their prefix.
Bytes integer(uint64_t value);
Bytes byte_const(uint8_t value);
Bytes word_const(uint16_t value);
Bytes dword_const(uint32_t value);
Bytes qword_const(uint64_t value);

// String constant: ASCII without NUL, encoded with StringPrefix and a NUL terminator.
Bytes string(std::string_view ascii);

// EisaId("PNP0501") compressed to its 32-bit form (0x0105d041), and as a DWordConst.
uint32_t eisa_id_value(std::string_view id);
Bytes eisa_id(std::string_view id);

// Name(name, value)
Bytes name(std::string_view path, const Bytes& value);
// Package() { elements... }; at most 255 elements (the NumElements byte).
Bytes package(const std::vector<Bytes>& elements);
// Buffer() { bytes } with a literal size.
Bytes buffer(std::span<const uint8_t> data);
// Scope(path) { terms }, Device(path) { terms }
Bytes scope(std::string_view path, const std::vector<Bytes>& terms);
Bytes device(std::string_view path, const std::vector<Bytes>& terms);
// Method(name, arg_count, Serialized|NotSerialized) { terms }; arg_count 0..7.
Bytes method(std::string_view name, uint8_t arg_count, bool serialized, const std::vector<Bytes>& terms);
// Return(value)
Bytes return_value(const Bytes& value);

}  // namespace hearth::acpi::aml
