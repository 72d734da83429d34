hearth_unit_test(unit_legacy_devices
  SOURCES uart16550_test.cpp i8042_test.cpp
  DEPS hearth_legacy_devices)
