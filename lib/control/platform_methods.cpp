// platform.show|rotate

#include <array>

#include "common/duration.hpp"
#include "control/methods.hpp"
#include "control/views.hpp"
#include "disk/rotation.hpp"

namespace hostcrypt::control {

namespace {

using nlohmann::json;

json show(CallContext& call, Params& params) {
    params.finish();
    disk::Rotation rotation = call.state.rotation();
    const std::set<std::uint32_t> in_use = rotation.platform_versions_in_use();
    json versions = json::array();
    for (const keys::KeyVersionInfo& info : call.state.providers().platform().versions()) {
        versions.push_back({{"version", info.version},
                            {"created", format_utc(info.created)},
                            {"in_use", in_use.contains(info.version)}});
    }
    return versions;
}

// Rotates (unless `if_older_than` is given and the newest version is
// younger), then re-wraps and prunes either way: after a run that left some
// disks behind, the next run of the same timer finishes their re-wrap even
// though the key is young now.
json rotate(CallContext& call, Params& params) {
    const std::optional<std::chrono::seconds> max_age = params.optional_duration("if_older_than");
    params.finish();
    disk::Rotation rotation = call.state.rotation();
    const disk::PlatformRotation outcome = rotation.rotate_platform_key(max_age);
    json result{{"rotated", outcome.added.has_value()},
                {"version", outcome.newest.version},
                {"created", format_utc(outcome.newest.created)},
                {"rewrapped", rewrap_view(outcome.rewrapped)},
                {"removed_versions", outcome.removed}};
    if (max_age) {
        result["if_older_than"] = format_duration(*max_age);
    }
    if (call.daemon != nullptr) {
        call.daemon->keys_changed();
    }
    return result;
}

const std::array table{
    Method{"platform.show", Role::reader, show},
    Method{"platform.rotate", Role::crypto_officer, rotate},
};

}  // namespace

std::span<const Method> platform_methods() {
    return table;
}

}  // namespace hostcrypt::control
