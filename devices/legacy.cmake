# Legacy PC devices on the PIO bus: the COM1 UART and the i8042 keyboard controller.
hearth_library(hearth_legacy_devices
  SOURCES serial/uart16550.cpp i8042/i8042.cpp
  DEPS hearth_bus hearth_device_model)
