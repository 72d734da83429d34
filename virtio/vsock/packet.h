#pragma once
// Parsing of the packets the guest puts on the tx queue: a header, then header.len payload bytes,
// anywhere across the chain's readable buffers. Everything in it is the guest's word, so checked.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "virtio/queue/descriptor_chain.h"
#include "virtio/vsock/defs.h"
#include "vmm/memory/guest_memory.h"

namespace hearth::virtio::vsock {

// Why a tx packet is malformed (nullptr: it is fine). `available` is the chain's readable length.
const char* check_tx_header(const PacketHeader& header, uint64_t available);

// Header from the first kHeaderSize bytes of `bytes`, which the caller made sure are there.
PacketHeader header_from_bytes(std::span<const uint8_t> bytes);

// Reads one tx packet from `readable`: the header and its payload into `data`. Returns nullptr, or why
// the packet is dropped.
const char* read_tx_packet(const GuestMemory& mem, std::span<const GuestBuffer> readable, uint32_t readable_len,
                           PacketHeader& header, std::vector<uint8_t>& data);

}  // namespace hearth::virtio::vsock
