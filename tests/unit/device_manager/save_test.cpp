// A device that cannot save its state makes the whole save fail naming that device, so a snapshot is
// refused instead of written without it.
#include <gtest/gtest.h>

#include <optional>

#include "tests/unit/error_of.h"
#include "vmm/base/error.h"
#include "vmm/base/event_loop.h"
#include "vmm/device_manager/device_manager.h"
#include "vmm/kvm/kvm.h"

namespace hearth {
namespace {

class ScriptedDevice : public Device {
 public:
  ScriptedDevice(std::string kind, std::string id, bool can_save)
      : kind_(std::move(kind)), id_(std::move(id)), can_save_(can_save) {}
  std::string_view kind() const override { return kind_; }
  std::string id() const override { return id_; }
  DeviceState save() const override {
    if (!can_save_) throw Error("a request is still in flight");
    return DeviceState{kind_, id_, 1, nlohmann::json::object()};
  }
  void restore(const DeviceState&) override {}

 private:
  std::string kind_, id_;
  bool can_save_;
};

TEST(DeviceManagerSave, ADeviceThatCannotSaveFailsTheSaveNamingIt) {
  std::optional<kvm::Kvm> kvm;
  try {
    kvm.emplace();
  } catch (const Error& e) {
    GTEST_SKIP() << "KVM unavailable here: " << e.what();
  }
  kvm::Vm vm = kvm->create_vm();
  GuestMemory memory = GuestMemory::create_anonymous({{0, 0x100000}});
  Bus mmio("mmio");
  EventLoop loop;
  DeviceManager devices(vm, memory, mmio, loop);
  devices.add_legacy(std::make_shared<ScriptedDevice>("serial", "", true));
  devices.add_legacy(std::make_shared<ScriptedDevice>("widget", "w0", true));
  ASSERT_EQ(devices.save_all().size(), 2u);
  devices.add_legacy(std::make_shared<ScriptedDevice>("widget", "w1", false));
  EXPECT_EQ(test::error_of([&] { devices.save_all(); }), "cannot save widget 'w1': a request is still in flight");
}

}  // namespace
}  // namespace hearth
