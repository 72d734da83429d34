# Included by tests/integration/CMakeLists.txt. The netns helper is a library of its own so the netdev and
# mmds test lists (net_hostile.cmake, mmds.cmake) link it too.
add_library(hearth_test_netns STATIC ${CMAKE_CURRENT_LIST_DIR}/netns.cpp)
target_link_libraries(hearth_test_netns PUBLIC hearth_flags)

hearth_integration_test(integration_net net_test.cpp api_client.cpp)
target_link_libraries(integration_net PRIVATE hearth_test_netns)
