# The virtio-net hostile-host test (netdev); the netns helper library comes from net.cmake.
hearth_integration_test(integration_net_hostile net_hostile_test.cpp)
target_link_libraries(integration_net_hostile PRIVATE hearth_test_netns)
hearth_integration_test(integration_net_snapshot net_snapshot_test.cpp api_client.cpp)
target_link_libraries(integration_net_snapshot PRIVATE hearth_test_netns)
