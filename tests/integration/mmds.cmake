# MMDS end to end (included by tests/integration/CMakeLists.txt): the REST side, then the test guest's
# net-mmds self-test against Hearth's MMDS inside a network namespace.
hearth_integration_test(integration_mmds mmds_test.cpp api_client.cpp)
target_link_libraries(integration_mmds PRIVATE hearth_test_netns)
