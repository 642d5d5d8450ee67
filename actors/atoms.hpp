#pragma once

#include <caf/atom.hpp>

/// Every atom roamd's actors use, in one place. CAF predefines get_atom, ok_atom, tick_atom and others; ours
/// must not collide with them (see ../shared/notes/caf-0.17.md).
namespace roamd::actors {

using routes_atom = caf::atom_constant<caf::atom("routes")>;
using health_atom = caf::atom_constant<caf::atom("health")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using totals_atom = caf::atom_constant<caf::atom("totals")>;
using take_atom = caf::atom_constant<caf::atom("take")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using canary_atom = caf::atom_constant<caf::atom("canary")>;
using adapters_atom = caf::atom_constant<caf::atom("adapters")>;
using reassert_atom = caf::atom_constant<caf::atom("reassert")>;
using rebase_atom = caf::atom_constant<caf::atom("rebase")>;
using settings_atom = caf::atom_constant<caf::atom("settings")>;
using intercept_atom = caf::atom_constant<caf::atom("intercept")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using decide_atom = caf::atom_constant<caf::atom("decide")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using respawn_atom = caf::atom_constant<caf::atom("respawn")>;
using children_atom = caf::atom_constant<caf::atom("children")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;
using beat_atom = caf::atom_constant<caf::atom("beat")>;
using http_atom = caf::atom_constant<caf::atom("http")>;
using guard_atom = caf::atom_constant<caf::atom("guard")>;
using policy_atom = caf::atom_constant<caf::atom("policy")>;
using network_atom = caf::atom_constant<caf::atom("network")>;
using round_atom = caf::atom_constant<caf::atom("round")>;
using result_atom = caf::atom_constant<caf::atom("result")>;
using links_atom = caf::atom_constant<caf::atom("links")>;
using bridge_atom = caf::atom_constant<caf::atom("bridge")>;

} // namespace roamd::actors
