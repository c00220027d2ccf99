#include <portico/projections/outbox.hpp>
#include <portico/projections/register.hpp>
#include <portico/projections/views.hpp>

namespace portico::projections {

void register_all(log::Options& options) {
  options.projections.push_back(Views::projection());
  options.async_projections.push_back(Outbox::projection());
}

}  // namespace portico::projections
