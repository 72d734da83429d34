#pragma once
// PUT /migration/send and /migration/receive bodies and GET /migration (a Hearth extension).
#include <string_view>

#include <nlohmann/json.hpp>

#include "vmm/config/migration.h"

namespace hearth::api {

// "unix:/path" or "tcp:HOST:PORT"; throws Error naming `where` otherwise.
void check_migration_url(const std::string& url, std::string_view where);
// Throw Error naming the field ("migration/send.max_rounds: ...").
MigrationSendRequest parse_migration_send(const nlohmann::json& j);
MigrationReceiveRequest parse_migration_receive(const nlohmann::json& j);
nlohmann::json to_json(const MigrationStatus& status);

}  // namespace hearth::api
