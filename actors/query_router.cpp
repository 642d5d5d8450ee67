#include "actors/query_router.hpp"

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include "actors/route_compiler.hpp"

namespace roamd::actors {

namespace {

void rebuild(query_router_ptr self) {
  auto& st = self->state;
  st.current = compile_routes(st.config, st.learned, ++st.generation);
  auto table = to_table(st.current, st.config, *st.registry);
  spdlog::debug("query_router: routing generation {} with {} routes", st.generation, st.current.routes_size());
  if (st.publish)
    st.publish(std::move(table));
}

} // namespace

query_router_actor::behavior_type query_router(query_router_ptr self, proto::Config config,
                                               std::shared_ptr<net::upstream_registry> registry, publish_fn publish) {
  self->state.config = std::move(config);
  self->state.registry = std::move(registry);
  self->state.publish = std::move(publish);
  rebuild(self);
  return {
    [self](const proto::RouteUpdate& update) {
      auto& learned = self->state.learned;
      if (update.routes_size() == 0)
        learned.erase(update.source());
      else
        learned[update.source()] = update;
      rebuild(self);
    },
    [self](caf::get_atom, routes_atom) -> proto::RoutingSnapshot { return self->state.current; },
  };
}

} // namespace roamd::actors
