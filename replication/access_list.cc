#include "replication/access_list.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"

namespace layerdisk {
namespace {

bool Matches(const std::string& pattern, const std::string& value) {
  if (!pattern.empty() && pattern.back() == '*')
    return value.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  return pattern == value;
}

}  // namespace

absl::StatusOr<AccessList> AccessList::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read the access list " + path);
  AccessList list;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string identity, pattern, extra;
    if (!(words >> identity)) continue;
    if (!(words >> pattern) || (words >> extra))
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s line %d: want 'IDENTITY LAYER-PATTERN'", path, n));
    list.rules_.emplace_back(identity, pattern);
  }
  return list;
}

bool AccessList::Allows(const std::string& identity, const std::string& layer) const {
  for (const auto& [who, pattern] : rules_)
    if ((who == "*" || who == identity) && Matches(pattern, layer)) return true;
  return false;
}

LayerAccessFn AccessList::AsAccessFn() const {
  return [this](const grpc::ServerContext& ctx, const std::string& layer) {
    std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
    if (!auth || !auth->IsPeerAuthenticated()) return false;
    for (const grpc::string_ref& cn : auth->FindPropertyValues("x509_common_name"))
      if (Allows(std::string(cn.data(), cn.size()), layer)) return true;
    return false;
  };
}

}  // namespace layerdisk
