// Status propagation macros. Debian 12's abseil has no RETURN_IF_ERROR or
// ASSIGN_OR_RETURN, so they are written once here.
#ifndef LAYERDISK_COMMON_STATUS_MACROS_H_
#define LAYERDISK_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LD_CONCAT_INNER_(a, b) a##b
#define LD_CONCAT_(a, b) LD_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` yields a non-OK status.
#define RETURN_IF_ERROR(expr)                              \
  do {                                                     \
    ::absl::Status ld_status_ = (expr);                    \
    if (!ld_status_.ok()) return ld_status_;               \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F())` evaluates F() (a StatusOr) and either binds
// its value to x or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  LD_ASSIGN_OR_RETURN_IMPL_(LD_CONCAT_(ld_statusor_, __LINE__), lhs, expr)
#define LD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#endif  // LAYERDISK_COMMON_STATUS_MACROS_H_
