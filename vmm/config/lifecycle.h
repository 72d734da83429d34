#pragma once
// The microVM lifecycle, in one place: the VMM and the API's pre-boot rules both move through it.
#include <optional>
#include <string_view>

namespace hearth {

enum class VmState { kNotStarted, kRunning, kPaused, kStopped };
enum class VmEvent { kStart, kRestore, kPause, kResume, kStop };

// Where `event` leads from `from`; nullopt when the lifecycle does not allow it.
//   Not started --start--> Running,  Not started --restore--> Paused (built from a snapshot),
//   Running <--pause/resume--> Paused,  any state but Stopped --stop--> Stopped.
constexpr std::optional<VmState> next_state(VmState from, VmEvent event) {
  switch (event) {
    case VmEvent::kStart: return from == VmState::kNotStarted ? std::optional(VmState::kRunning) : std::nullopt;
    case VmEvent::kRestore: return from == VmState::kNotStarted ? std::optional(VmState::kPaused) : std::nullopt;
    case VmEvent::kPause: return from == VmState::kRunning ? std::optional(VmState::kPaused) : std::nullopt;
    case VmEvent::kResume: return from == VmState::kPaused ? std::optional(VmState::kRunning) : std::nullopt;
    case VmEvent::kStop: return from != VmState::kStopped ? std::optional(VmState::kStopped) : std::nullopt;
  }
  return std::nullopt;
}

// Firecracker's InstanceInfo.state wording.
constexpr std::string_view describe(VmState s) {
  switch (s) {
    case VmState::kNotStarted: return "Not started";
    case VmState::kRunning: return "Running";
    case VmState::kPaused: return "Paused";
    case VmState::kStopped: return "Stopped";
  }
  return "Unknown";
}

}  // namespace hearth
