// Secrets handed to people: see portico/service/tokens.hpp.
#pragma once

#include <portico/service/tokens.hpp>

namespace portico::http {

using service::new_token;
using service::token_hash;

}  // namespace portico::http
