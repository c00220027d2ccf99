// portico::projections::register_all — every read model of portico::projections, registered on
// a log's options as Portico's programs register them.
//
// log::Options says that every process that appends to a data directory should register the same
// inline projections. portico-server, portico-admin and portico-audit (and an embedding program
// that serves the same directory) call this one function, so the list is written once.
#pragma once

#include <portico/log/log.hpp>

namespace portico::projections {

// Adds Views (inline: kept in each append's transaction) to options.projections and Outbox
// (async: fed by a Runner) to options.async_projections; what the options held stays.
void register_all(log::Options& options);

}  // namespace portico::projections
