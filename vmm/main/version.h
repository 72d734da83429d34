#pragma once
#include <string_view>

namespace hearth {
inline constexpr std::string_view kVersion = "0.1.0";
inline constexpr std::string_view kAppName = "Hearth";
}  // namespace hearth
