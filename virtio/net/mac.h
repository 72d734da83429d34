#pragma once
// Ethernet MAC addresses as the API writes them ("06:00:ac:10:00:02").
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::virtio::net {

using MacAddr = std::array<uint8_t, 6>;

// Six two-digit hex groups separated by ':'; nullopt otherwise.
std::optional<MacAddr> parse_mac(std::string_view text);
std::string format_mac(const MacAddr& mac);

}  // namespace hearth::virtio::net
