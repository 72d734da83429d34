# MMDS unit tests (paths relative to tests/unit/virtio).
hearth_unit_test(unit_mmds
  SOURCES mmds/data_store_test.cpp mmds/token_test.cpp mmds/http_test.cpp mmds/service_test.cpp
          mmds/stack_test.cpp
  DEPS hearth_mmds)
# The REST side: mmds bodies, routes, pre-boot rules, the config-file section.
hearth_unit_test(unit_mmds_api SOURCES mmds/api_test.cpp DEPS hearth_api hearth_event_loop)
